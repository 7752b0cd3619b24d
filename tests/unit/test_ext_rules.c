/* test_ext_rules.c: the External Payment Service's response-code rule (ext_rules.h) without a
 * vendor_response table (every code undefined); the table's part is in
 * tests/integration/test_services.c test_ext_refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ext_rules.h"

static pl_service service(const char *protocol)
{
    pl_service s;
    memset(&s, 0, sizeof s);
    snprintf(s.code, sizeof s.code, "X");
    snprintf(s.protocol, sizeof s.protocol, "%s", protocol);
    return s;
}

static pl_bureau_result answer(const char *decision, const char *reason, const char *text)
{
    pl_bureau_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.decision, sizeof r.decision, "%s", decision);
    snprintf(r.reason_code, sizeof r.reason_code, "%s", reason);
    snprintf(r.error_text, sizeof r.error_text, "%s", text);
    snprintf(r.request_id, sizeof r.request_id, "T-1");
    return r;
}

static void test_refusals_are_declined_on_hold(void **state)
{
    (void)state;
    pl_service ext = service("EXT");
    static const struct {
        const char *decision, *reason, *vendor;
    } cases[] = {
        {"REJECT", "", "SU"}, {"ERROR", "", "SU"}, {"REJECT", "X1", "X1"}, {"ERROR", "X2", "X2"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_bureau_result res = answer(cases[i].decision, cases[i].reason, "Card not accepted");
        pl_reply rep;
        memset(&rep, 0, sizeof rep);
        assert_true(pl_ext_refusal(NULL, &ext, &res, &rep));
        assert_int_equal(rep.status, PL_ST_DECLINED);
        assert_string_equal(rep.vendor_response, cases[i].vendor);
        assert_string_equal(rep.hold_reason, "AT");
        assert_string_equal(rep.decision, cases[i].decision);
        assert_string_equal(rep.message, "Card not accepted"); /* the bureau's text */
        assert_string_equal(rep.auth.transaction_id, "T-1");
    }
    /* A reason with a Siebel message of its own says that instead (204: insufficient funds). */
    pl_bureau_result res = answer("REJECT", "204", "declined");
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_ext_refusal(NULL, &ext, &res, &rep));
    assert_string_equal(rep.message, pl_siebel_message(pl_siebel_message_for_reason("204")));
}

static void test_other_answers_are_untouched(void **state)
{
    (void)state;
    pl_service ext = service("EXT"), cyb = service("CYB"), rlt = service("RLT");
    pl_reply rep, zero;
    memset(&zero, 0, sizeof zero);
    const char *decisions[] = {"ACCEPT", "REVIEW", ""};
    for (size_t i = 0; i < sizeof decisions / sizeof decisions[0]; i++) {
        pl_bureau_result res = answer(decisions[i], "", "");
        memset(&rep, 0, sizeof rep);
        assert_false(pl_ext_refusal(NULL, &ext, &res, &rep));
        assert_memory_equal(&rep, &zero, sizeof rep);
    }
    pl_bureau_result res = answer("REJECT", "", "");
    memset(&rep, 0, sizeof rep);
    assert_false(pl_ext_refusal(NULL, &cyb, &res, &rep));
    assert_false(pl_ext_refusal(NULL, &rlt, &res, &rep));
    assert_false(pl_ext_refusal(NULL, NULL, &res, &rep));
    assert_memory_equal(&rep, &zero, sizeof rep);
}

/* ---- subsequent authorizations (seed external-payment-service.txt) ---- */

typedef struct sub_out {
    char initiator[12], reason[16], transaction[65];
    int64_t original;
} sub_out;

static void subsequent_mit(const pl_request *r, const char *mit, bool resubmission,
                           bool installments, const char *cit, int64_t cit_amount, sub_out *o)
{
    memset(o, 0x55, sizeof *o);
    pl_ext_subsequent(r, mit, resubmission, installments, cit, cit_amount, o->initiator,
                      sizeof o->initiator, o->reason, sizeof o->reason, o->transaction,
                      sizeof o->transaction, &o->original);
}

static void subsequent(const pl_request *r, bool resubmission, bool installments, const char *cit,
                       int64_t cit_amount, sub_out *o)
{
    subsequent_mit(r, NULL, resubmission, installments, cit, cit_amount, o);
}

static void test_subsequent_cardholder(void **state)
{
    (void)state;
    pl_request r;
    memset(&r, 0, sizeof r);
    sub_out o;
    /* No subsequent_auth: the customer placing the order, a CIT; nothing else is sent. */
    subsequent(&r, true, true, "T-CIT", 10000, &o);
    assert_string_equal(o.initiator, "CARDHOLDER");
    assert_string_equal(o.reason, "");
    assert_string_equal(o.transaction, "");
    assert_int_equal(o.original, -1);
}

static void test_subsequent_reasons(void **state)
{
    (void)state;
    pl_request r;
    memset(&r, 0, sizeof r);
    r.subsequent_auth.present = true;
    sub_out o;
    static const struct {
        const char *asked;
        bool resubmission, installments;
        const char *sent;
    } cases[] = {
        {"RESUBMIT", true, false, "RESUBMIT"},       {"RESUBMIT", false, true, "REAUTH"},
        {"INSTALLMENT", false, true, "INSTALLMENT"}, {"INSTALLMENT", true, false, "REAUTH"},
        {"REAUTH", false, false, "REAUTH"},          {"", true, true, "REAUTH"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(r.subsequent_auth.reason, sizeof r.subsequent_auth.reason, "%s", cases[i].asked);
        subsequent(&r, cases[i].resubmission, cases[i].installments, NULL, -1, &o);
        assert_string_equal(o.reason, cases[i].sent);
        /* Merchant-initiated, whatever the request says. */
        assert_string_equal(o.initiator, "MERCHANT");
        assert_string_equal(o.transaction, "");
        assert_int_equal(o.original, -1);
    }
    snprintf(r.subsequent_auth.initiator, sizeof r.subsequent_auth.initiator, "cardholder");
    subsequent(&r, false, false, NULL, -1, &o);
    assert_string_equal(o.initiator, "MERCHANT");
}

static void test_subsequent_cit(void **state)
{
    (void)state;
    pl_request r;
    memset(&r, 0, sizeof r);
    r.subsequent_auth.present = true;
    snprintf(r.subsequent_auth.reason, sizeof r.subsequent_auth.reason, "REAUTH");
    sub_out o;
    /* Split shipment: the stored CIT of the order payment method, with its amount. */
    subsequent(&r, false, false, "T-CIT-1", 10000, &o);
    assert_string_equal(o.transaction, "T-CIT-1");
    assert_int_equal(o.original, 10000);
    /* The request names the CIT (a membership order): that id, the stored amount it found. */
    snprintf(r.subsequent_auth.transaction_id, sizeof r.subsequent_auth.transaction_id, "T-MEM");
    subsequent(&r, false, false, "T-MEM", 2500, &o);
    assert_string_equal(o.transaction, "T-MEM");
    assert_int_equal(o.original, 2500);
    /* Named but not stored here: sent as named, no amount. */
    subsequent(&r, false, false, NULL, -1, &o);
    assert_string_equal(o.transaction, "T-MEM");
    assert_int_equal(o.original, -1);
}

/* paylink-deposit's auth+capture: an authorization the system makes without the customer, for
 * the reason the deposit knows when the request gives none (seed: "a subsequent authorization
 * that is acquired by Order Administration when the initial authorization is expired"). */
static void test_subsequent_merchant_initiated(void **state)
{
    (void)state;
    pl_request r;
    memset(&r, 0, sizeof r);
    sub_out o;
    static const struct {
        const char *known;
        bool resubmission, installments;
        const char *sent;
    } cases[] = {
        {"REAUTH", true, true, "REAUTH"},
        {"INSTALLMENT", false, true, "INSTALLMENT"},
        {"INSTALLMENT", true, false, "REAUTH"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        subsequent_mit(&r, cases[i].known, cases[i].resubmission, cases[i].installments, "T-CIT-2",
                       7500, &o);
        assert_string_equal(o.initiator, "MERCHANT");
        assert_string_equal(o.reason, cases[i].sent);
        assert_string_equal(o.transaction, "T-CIT-2");
        assert_int_equal(o.original, 7500);
    }
    /* No CIT stored: a merchant-initiated REAUTH naming none. */
    subsequent_mit(&r, "REAUTH", false, false, NULL, -1, &o);
    assert_string_equal(o.initiator, "MERCHANT");
    assert_string_equal(o.reason, "REAUTH");
    assert_string_equal(o.transaction, "");
    assert_int_equal(o.original, -1);
    /* What the request says wins over what the deposit knows (a RESUBMIT of a failed
     * deposit, where the bureau supports it). */
    r.subsequent_auth.present = true;
    snprintf(r.subsequent_auth.reason, sizeof r.subsequent_auth.reason, "RESUBMIT");
    subsequent_mit(&r, "INSTALLMENT", true, true, "T-CIT-2", 7500, &o);
    assert_string_equal(o.reason, "RESUBMIT");
    assert_string_equal(o.initiator, "MERCHANT");
}

/* A stored CIT is of the card an authorization goes with only when both name the card the same
 * way and agree: the same hash (under the key the CIT's was made with) or the same token. A CIT
 * of another card, or one that cannot be compared (a request by number beside a CIT recorded by
 * token only, a CIT whose authorization recorded no card), is not. */
static void test_cit_of_card(void **state)
{
    (void)state;
    static const char h_a[] = "aa00000000000000000000000000000000000000000000000000000000000000",
                      h_b[] = "bb00000000000000000000000000000000000000000000000000000000000000";
    /* The same card by number, or by token. */
    assert_true(pl_ext_cit_of_card(h_a, "tok_a", h_a, ""));
    assert_true(pl_ext_cit_of_card(h_a, "tok_a", "", "tok_a"));
    assert_true(pl_ext_cit_of_card("", "tok_a", NULL, "tok_a"));
    assert_true(pl_ext_cit_of_card(h_a, "", h_a, NULL));
    /* Another card. */
    assert_false(pl_ext_cit_of_card(h_a, "tok_a", h_b, ""));
    assert_false(pl_ext_cit_of_card(h_a, "tok_a", "", "tok_b"));
    /* Nothing to compare. */
    assert_false(pl_ext_cit_of_card("", "tok_a", h_a, ""));
    assert_false(pl_ext_cit_of_card(h_a, "", "", "tok_a"));
    assert_false(pl_ext_cit_of_card("", "", "", ""));
    assert_false(pl_ext_cit_of_card(NULL, NULL, h_a, "tok_a"));
    assert_false(pl_ext_cit_of_card(h_a, "tok_a", NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_are_declined_on_hold),
        cmocka_unit_test(test_other_answers_are_untouched),
        cmocka_unit_test(test_subsequent_cardholder),
        cmocka_unit_test(test_subsequent_reasons),
        cmocka_unit_test(test_subsequent_cit),
        cmocka_unit_test(test_subsequent_merchant_initiated),
        cmocka_unit_test(test_cit_of_card),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
