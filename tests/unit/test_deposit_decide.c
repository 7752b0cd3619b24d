/* test_deposit_decide.c: the deposit-type decision of paylink-deposit (deposit.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "deposit.h"

/* 2026-11-26 12:00 UTC */
#define NOW ((time_t)1795694400)

static pl_request debit(int64_t amount)
{
    pl_request r;
    memset(&r, 0, sizeof r);
    r.type = PL_REQ_DEBIT;
    r.has_amount = true;
    r.amount = amount;
    return r;
}

static pl_deposit_auth auth(int64_t remaining, const char *date)
{
    pl_deposit_auth a = {
        .found = true, .usable = true, .has_remaining = true, .remaining = remaining};
    snprintf(a.date, sizeof a.date, "%s", date);
    return a;
}

static void test_same_amount_is_a_capture(void **state)
{
    (void)state;
    pl_request r = debit(12000);
    pl_deposit_auth a = auth(12000, "2026-11-25");
    pl_deposit_choice c = pl_deposit_decide(&r, &a, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_CAPTURE);
    assert_string_equal(c.reason, "capture");
    /* Smaller than authorized: still a capture (the rest is voided after). */
    r.amount = 5000;
    assert_int_equal(pl_deposit_decide(&r, &a, NULL, false, 7, NOW).kind, PL_DEP_CAPTURE);
}

/* A paylink authorization whose answer is not known yet may hold the funds: never authorized
 * anew with the capture, whatever card the debit has. */
static void test_unknown_authorization_is_refused(void **state)
{
    (void)state;
    pl_request r = debit(5000);
    pl_deposit_auth a = {.outcome_unknown = true};
    pl_deposit_choice c = pl_deposit_decide(&r, &a, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_REFUSE);
    assert_string_equal(c.reason, "authorization_unknown");
    /* Not found at all (an id paylink never saw): a new authorization, as before. */
    a.outcome_unknown = false;
    c = pl_deposit_decide(&r, &a, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_AUTH_CAPTURE);
    assert_string_equal(c.reason, "no_authorization");
}

static void test_over_authorized_is_auth_capture(void **state)
{
    (void)state;
    pl_request r = debit(12001);
    pl_deposit_auth a = auth(12000, "2026-11-25");
    pl_deposit_choice c = pl_deposit_decide(&r, &a, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_AUTH_CAPTURE);
    assert_string_equal(c.reason, "over_authorized");
    c = pl_deposit_decide(&r, &a, NULL, false, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_REFUSE);
    assert_string_equal(c.reason, "over_authorized_no_card");
    /* A manual authorization without an amount is never "exceeded". */
    a.has_remaining = false;
    assert_int_equal(pl_deposit_decide(&r, &a, NULL, true, 7, NOW).kind, PL_DEP_CAPTURE);
}

static void test_expiry(void **state)
{
    (void)state;
    pl_request r = debit(1000);
    /* Authorized 2026-11-19 + 7 days = 2026-11-26: still usable today; a day older is not. */
    pl_deposit_auth a = auth(1000, "2026-11-19");
    assert_int_equal(pl_deposit_decide(&r, &a, NULL, true, 7, NOW).kind, PL_DEP_CAPTURE);
    snprintf(a.date, sizeof a.date, "%s", "2026-11-18");
    pl_deposit_choice c = pl_deposit_decide(&r, &a, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_AUTH_CAPTURE);
    assert_string_equal(c.reason, "expired");
    /* The pay type's days decide: 30 days keep it alive. */
    assert_int_equal(pl_deposit_decide(&r, &a, NULL, true, 30, NOW).kind, PL_DEP_CAPTURE);
    assert_true(pl_deposit_auth_expired("2020-01-01", 7, NOW));
    assert_false(pl_deposit_auth_expired("", 7, NOW));
    assert_false(pl_deposit_auth_expired("2026-1x-01", 7, NOW));
}

/* A debit naming an authorization fraud screening rejected is refused, with a card or without,
 * installment or not: an auth+capture would charge the card unscreened. */
static void test_fraud_rejected_auth(void **state)
{
    (void)state;
    pl_request r = debit(1000);
    pl_deposit_auth a = auth(5000, "2026-11-25");
    a.usable = false;
    a.fraud_rejected = true;
    for (int installment = 0; installment < 2; installment++) {
        r.installment = installment;
        for (int card = 0; card < 2; card++) {
            pl_deposit_choice c = pl_deposit_decide(&r, &a, NULL, card, 7, NOW);
            assert_int_equal(c.kind, PL_DEP_REFUSE);
            assert_string_equal(c.reason, "authorization_rejected");
        }
    }
    /* A declined (not fraud) authorization is still authorized anew with the card. */
    r.installment = false;
    a.fraud_rejected = false;
    assert_int_equal(pl_deposit_decide(&r, &a, NULL, true, 7, NOW).kind, PL_DEP_AUTH_CAPTURE);
}

static void test_installment_and_missing_auth(void **state)
{
    (void)state;
    pl_request r = debit(1000);
    r.installment = true;
    pl_deposit_auth a = auth(5000, "2026-11-25");
    pl_deposit_choice c = pl_deposit_decide(&r, &a, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_AUTH_CAPTURE);
    assert_string_equal(c.reason, "installment");
    assert_int_equal(pl_deposit_decide(&r, &a, NULL, false, 7, NOW).kind, PL_DEP_REFUSE);

    r.installment = false;
    pl_deposit_auth none = {0};
    c = pl_deposit_decide(&r, &none, NULL, false, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_REFUSE);
    assert_string_equal(c.reason, "authorization_not_found");
    c = pl_deposit_decide(&r, &none, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_AUTH_CAPTURE);
    assert_string_equal(c.reason, "no_authorization");
    a.usable = false; /* voided or declined */
    c = pl_deposit_decide(&r, &a, NULL, false, 7, NOW);
    assert_string_equal(c.reason, "authorization_not_usable");
}

static void test_credits(void **state)
{
    (void)state;
    pl_request r = debit(1000);
    r.type = PL_REQ_CREDIT;
    pl_deposit_choice c = pl_deposit_decide(&r, NULL, NULL, true, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_CREDIT_STAND_ALONE);
    assert_string_equal(c.reason, "stand_alone");
    r.capture_ref.present = true;
    pl_deposit_capture k = {.found = true, .approved = true, .refundable = 1000};
    c = pl_deposit_decide(&r, NULL, &k, false, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_CREDIT_FOLLOW_ON);
    /* Issue 6 B.5: at most what was captured less earlier credits. */
    k.refundable = 999;
    c = pl_deposit_decide(&r, NULL, &k, false, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_REFUSE);
    assert_string_equal(c.reason, "exceeds_refundable");
    k.refundable = 1000;
    k.approved = false;
    c = pl_deposit_decide(&r, NULL, &k, false, 7, NOW);
    assert_int_equal(c.kind, PL_DEP_REFUSE);
    assert_string_equal(c.reason, "capture_not_approved");
    k.found = false;
    assert_string_equal(pl_deposit_decide(&r, NULL, &k, true, 7, NOW).reason, "capture_not_found");
}

static void test_reversal_request_id(void **state)
{
    (void)state;
    char out[64];
    pl_deposit_reversal_request_id("d-1", out, sizeof out);
    assert_string_equal(out, "d-1.vdr");
    char longid[51];
    memset(longid, 'x', 50);
    longid[50] = '\0';
    pl_deposit_reversal_request_id(longid, out, sizeof out);
    assert_int_equal(strlen(out), 50);
    assert_memory_equal(out, "vdr.", 4);
    char again[64];
    pl_deposit_reversal_request_id(longid, again, sizeof again);
    assert_string_equal(out, again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_amount_is_a_capture),
        cmocka_unit_test(test_over_authorized_is_auth_capture),
        cmocka_unit_test(test_unknown_authorization_is_refused),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_installment_and_missing_auth),
        cmocka_unit_test(test_fraud_rejected_auth),
        cmocka_unit_test(test_credits),
        cmocka_unit_test(test_reversal_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
