/* test_deposit_decide.c: the deposit-type decision of paylink-deposit (deposit.h), and the reply
 * message of a deposit it refuses without a bureau call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* The reply message of a refusal (pl_deposit_refusal_message) for the request r and what the
 * decision saw: the Siebel message n first and unchanged, then `sentence`, in the reply's 199
 * bytes. */
static void assert_refusal(const pl_request *r, const char *reason, const pl_deposit_auth *a,
                           const pl_deposit_capture *k, int n, const char *sentence)
{
    char out[sizeof(((pl_reply *)0)->message)];
    memset(out, 'x', sizeof out);
    pl_deposit_choice c = {PL_DEP_REFUSE, reason};
    pl_deposit_refusal_message(r, c, a, k, out, sizeof out);
    char want[400];
    snprintf(want, sizeof want, "%s%s%s", pl_siebel_message(n), *sentence ? " " : "", sentence);
    if (strcmp(out, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", reason, out, want);
    assert_true(strlen(out) <= 199); /* the schema's maxLength */
}

/*
 * A deposit refused without a bureau call says why after the seed's Siebel message (16 for a
 * credit, 15 for a debit), which stays first and unchanged: before, every credit refusal was
 * message 16 alone, and the order system could not tell a capture_ref naming nothing from a
 * debit not approved or a credit above what is left to refund (how much is, it could not learn:
 * it could have sent a smaller credit). Each reason has its sentence; an amount the code knows
 * is given, and the largest amounts still fit whole.
 */
static void test_refusal_messages(void **state)
{
    (void)state;
    pl_request cr = debit(6001);
    cr.type = PL_REQ_CREDIT;
    cr.capture_ref.present = true;
    snprintf(cr.currency, sizeof cr.currency, "USD");
    pl_deposit_capture none = {0};
    assert_string_equal(pl_deposit_decide(&cr, NULL, &none, false, 7, NOW).reason,
                        "capture_not_found");
    assert_refusal(&cr, "capture_not_found", NULL, &none, 16,
                   "capture_ref names no debit paylink has: check it, or send a stand-alone "
                   "credit with the card.");
    pl_deposit_capture k = {.found = true, .refundable = 6000};
    assert_refusal(&cr, "capture_not_approved", NULL, &k, 16,
                   "The debit capture_ref names captured nothing: name one that did, or send a "
                   "stand-alone credit.");
    k.pending = true;
    assert_refusal(&cr, "capture_not_approved", NULL, &k, 16,
                   "The debit capture_ref names has no outcome yet: send a new credit once it is "
                   "approved.");
    k = (pl_deposit_capture){.found = true, .approved = true, .refundable = 6000};
    assert_string_equal(pl_deposit_decide(&cr, NULL, &k, false, 7, NOW).reason,
                        "exceeds_refundable");
    assert_refusal(&cr, "exceeds_refundable", NULL, &k, 16,
                   "Only 60.00 USD of the debit is left to refund now: credit at most that.");
    k.refundable = 0;
    assert_refusal(&cr, "exceeds_refundable", NULL, &k, 16,
                   "Nothing of the debit is left to refund now: credits approved or in flight "
                   "took all it captured.");
    /* The largest amount (numeric(15,2)) still fits whole; without a currency, the amount. */
    k.refundable = INT64_C(999999999999999);
    assert_refusal(&cr, "exceeds_refundable", NULL, &k, 16,
                   "Only 9999999999999.99 USD of the debit is left to refund now: credit at most "
                   "that.");
    cr.currency[0] = '\0';
    k.refundable = 1;
    assert_refusal(&cr, "exceeds_refundable", NULL, &k, 16,
                   "Only 0.01 of the debit is left to refund now: credit at most that.");
    /* A reason this function does not know: the Siebel message alone, as before. */
    assert_refusal(&cr, "something_new", NULL, &k, 16, "");

    pl_request r = debit(12001);
    snprintf(r.currency, sizeof r.currency, "EUR");
    pl_deposit_auth a = auth(12000, "2026-11-25");
    assert_string_equal(pl_deposit_decide(&r, &a, NULL, false, 7, NOW).reason,
                        "over_authorized_no_card");
    assert_refusal(&r, "over_authorized_no_card", &a, NULL, 15,
                   "The authorization has 120.00 EUR left: debit at most that, or send the card.");
    a.remaining = INT64_C(999999999999999);
    assert_refusal(&r, "over_authorized_no_card", &a, NULL, 15,
                   "The authorization has 9999999999999.99 EUR left: debit at most that, or send "
                   "the card.");
    a.remaining = 0;
    assert_refusal(&r, "over_authorized_no_card", &a, NULL, 15,
                   "Nothing of the authorization is left: send the card or token to authorize "
                   "anew.");
    static const struct {
        const char *reason, *sentence;
    } debits[] = {
        {"authorization_rejected",
         "Fraud screening rejected the authorization auth_ref names: take another form of "
         "payment."},
        {"authorization_not_found",
         "auth_ref names no authorization paylink has: send the card or token to authorize "
         "anew."},
        {"authorization_not_usable",
         "The authorization auth_ref names is declined, voided or reversed: send the card or "
         "token."},
        {"installment_no_card",
         "An installment is authorized anew with its capture: send the card or token."},
        {"expired_no_card",
         "The authorization auth_ref names has expired: send the card or token to authorize "
         "anew."},
        {"not_a_deposit", "Only a debit or a credit is a deposit."},
    };
    for (size_t i = 0; i < sizeof debits / sizeof debits[0]; i++)
        assert_refusal(&r, debits[i].reason, &a, NULL, 15, debits[i].sentence);
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
        cmocka_unit_test(test_refusal_messages),
        cmocka_unit_test(test_reversal_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
