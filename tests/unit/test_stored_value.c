/*
 * test_stored_value.c: how a stored value answer becomes a reply (stored_value.h) where the
 * vendor_response table and the card's balance decide, and the Customer Engagement answers
 * that reach the mapping from the adapter (bureau_relate.h) as they come off the wire.
 *
 * pl_stored_value_map's other rules are tested in test_svc_spec.c; the seeded vendor_response
 * rows of the dev database in tests/integration/test_svc_answer_rows.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libxml/parser.h>

#include "bureau.h"
#include "bureau_relate.h"
#include "reply.h"
#include "services.h"
#include "stored_value.h"

/* A readable answer: reason code, SVAAmount (minor units, < 0: none) and balance (< 0: none),
 * with the seed's PreauthorizationResponse transaction fields. */
static pl_bureau_result answer(const char *reason, int64_t amount, int64_t balance)
{
    pl_bureau_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.reason_code, sizeof r.reason_code, "%s", reason);
    snprintf(r.request_id, sizeof r.request_id, "9354");
    snprintf(r.auth_code, sizeof r.auth_code, "0000009354000382");
    snprintf(r.auth_date, sizeof r.auth_date, "2010-08-25T09:20:45-0400");
    if (amount >= 0) {
        r.has_amount = true;
        r.amount = amount;
    }
    if (balance >= 0) {
        r.has_balance = true;
        r.balance = balance;
    }
    return r;
}

/* A vendor_response row of the RLT bureau (kind reason). */
static pl_vendor_response row(const char *code, bool approved, const char *hold,
                              const char *orce_code, const char *relate_response)
{
    pl_vendor_response v;
    memset(&v, 0, sizeof v);
    snprintf(v.service, sizeof v.service, "RLT");
    snprintf(v.code, sizeof v.code, "%s", code);
    snprintf(v.kind, sizeof v.kind, "reason");
    snprintf(v.hold_reason, sizeof v.hold_reason, "%s", hold);
    snprintf(v.orce_code, sizeof v.orce_code, "%s", orce_code);
    snprintf(v.relate_response, sizeof v.relate_response, "%s", relate_response);
    v.approved = approved;
    return v;
}

static pl_service service(const char *code, const char *protocol)
{
    pl_service s;
    memset(&s, 0, sizeof s);
    snprintf(s.code, sizeof s.code, "%s", code);
    snprintf(s.protocol, sizeof s.protocol, "%s", protocol);
    return s;
}

/* The decline of an authorization the card holds nothing for, as J19 gives it for a balance of
 * 0.00 (paylink-svc's svc_next_call): balance 0.00 kept, nothing authorized. */
static void assert_no_balance_decline(const pl_reply *rep, const char *vendor, const char *hold)
{
    assert_int_equal(rep->status, PL_ST_DECLINED);
    assert_string_equal(rep->vendor_response, vendor);
    assert_string_equal(rep->hold_reason, hold);
    assert_string_equal(rep->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    assert_false(rep->has_amount_approved);
    assert_int_equal(rep->amount_approved, 0);
    assert_string_equal(rep->auth.number, "");
    assert_string_equal(rep->auth.transaction_id, "");
    assert_string_equal(rep->auth.date, "");
    assert_true(rep->svc.has_balance);
    assert_int_equal(rep->svc.balance, 0);
}

/*
 * A PreauthorizationResponse approving 0.00 of what was asked: the card holds nothing. It was
 * `approved` with amount_approved 0.00 (the order told it is paid); it is the decline J19 gives
 * a batch authorization whose balance inquiry found 0.00, by the same function.
 */
static void test_zero_authorization_is_declined(void **state)
{
    (void)state;
    pl_bureau_result res = answer("24", 0, 0);
    pl_vendor_response r24 = row("R24", true, "", "24", "");
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, &r24, PL_OP_SVC_PREAUTH, 1107, &rep);
    /* No snapshot: the ErrorCode a Preauthorization is declined with, as J19's without a row. */
    assert_no_balance_decline(&rep, "INSUFFICIE", "");

    /* Through a snapshot, for both protocols: what J19's decline gives with the same one. */
    static const char *const protocols[] = {"RLT", "EXT"};
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        pl_service svc = service(protocols[i], protocols[i]);
        pl_services *s = pl_services_of(&svc, 1);
        assert_non_null(s);
        const pl_service *in = pl_services_find(s, protocols[i]);
        memset(&rep, 0, sizeof rep);
        if (strcmp(protocols[i], "EXT") == 0)
            snprintf(res.decision, sizeof res.decision, "ACCEPT");
        pl_stored_value_map_answer(s, in, &res, PL_OP_SVC_PREAUTH, 1107, &rep);
        assert_no_balance_decline(&rep, "INSUFFICIE", "");
        pl_reply j19;
        memset(&j19, 0, sizeof j19);
        j19.svc.has_balance = true;
        pl_stored_value_no_balance(s, in, &j19);
        assert_int_equal(j19.status, rep.status);
        assert_string_equal(j19.vendor_response, rep.vendor_response);
        assert_string_equal(j19.hold_reason, rep.hold_reason);
        assert_string_equal(j19.message, rep.message);
        pl_services_unref(s);
        memset(res.decision, 0, sizeof res.decision);
    }

    /* With the row the ErrorCode maps to (the demo's NOFUNDS, hold AT): its code and hold. */
    pl_vendor_response nofunds = row("NOFUNDS", false, "AT", "", PL_STORED_VALUE_NO_BALANCE_CODE);
    memset(&rep, 0x5a, sizeof rep);
    rep.svc.has_balance = true;
    rep.svc.balance = 0;
    pl_stored_value_refuse(&nofunds, PL_STORED_VALUE_NO_BALANCE_CODE,
                           PL_STORED_VALUE_PARTIAL_MESSAGE, &rep);
    assert_no_balance_decline(&rep, "NOFUNDS", "AT");
    assert_string_equal(rep.decision, "");
    assert_string_equal(rep.token, "");
    assert_false(rep.required_response);
    /* No snapshot, no bureau: no row. */
    assert_null(pl_stored_value_refusal_row(NULL, NULL, PL_STORED_VALUE_NO_BALANCE_CODE));

    /* Not a zero authorization: a cent is a partial approval; 0.00 of 0.00 is approved in full;
     * a decline stays the bureau's. */
    res = answer("24", 1, 1);
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, &r24, PL_OP_SVC_PREAUTH, 1107, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_int_equal(rep.amount_approved, 1);
    assert_string_equal(rep.auth.transaction_id, "9354");
    res = answer("24", 0, 0);
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, &r24, PL_OP_SVC_PREAUTH, 0, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_true(rep.has_amount_approved);
    assert_int_equal(rep.amount_approved, 0);
    assert_string_equal(rep.message, "");
    res = answer("", 0, 0);
    snprintf(res.error_code, sizeof res.error_code, "CARD_INACTIVE");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_PREAUTH, 1107, &rep);
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.vendor_response, "CARD_INACT");

    /* A void of 0.00 released what was left: approved (the adapter refuses the 0.00 approvals
     * of loads, redemptions and returns: test_bureau_relate's test_zero_approvals). */
    res = answer("22", 0, 2253);
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_VOID, 4520, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_int_equal(rep.amount_approved, 0);
}

/*
 * seed ("Response codes"): the ORCE response of a vendor response identifies whether the
 * transaction was approved or declined. A row mapping the answer's reason code that says it is
 * not an approval declines it, with its hold reason; the ErrorCode rule stays (an ErrorCode
 * declines whatever its row says), as does the answer of a reason code no row maps.
 */
static void test_row_decides(void **state)
{
    (void)state;
    static const pl_bureau_op ops[] = {PL_OP_SVC_ACTIVATE, PL_OP_SVC_RECHARGE, PL_OP_SVC_PREAUTH,
                                       PL_OP_SVC_POSTAUTH, PL_OP_SVC_RETURN,   PL_OP_SVC_INQUIRY,
                                       PL_OP_SVC_VOID};
    pl_vendor_response declines = row("R99", false, "AT", "24", "");
    pl_vendor_response approves = row("R24", true, "AT", "24", "");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        pl_bureau_result res = answer("24", 1107, 5000);
        snprintf(res.error_text, sizeof res.error_text, "Card on hold.");
        pl_reply rep;
        memset(&rep, 0, sizeof rep);
        pl_stored_value_map(&res, &declines, ops[i], 1107, &rep);
        if (rep.status != PL_ST_DECLINED)
            fail_msg("%s: %s", pl_bureau_op_name(ops[i]), pl_status_name(rep.status));
        assert_string_equal(rep.vendor_response, "R99");
        assert_string_equal(rep.hold_reason, "AT");
        assert_string_equal(rep.message, "Card on hold.");
        assert_false(rep.has_amount_approved);
        assert_int_equal(rep.svc.balance, 5000);

        memset(&rep, 0, sizeof rep);
        pl_stored_value_map(&res, &approves, ops[i], 1107, &rep);
        assert_int_equal(rep.status, PL_ST_APPROVED);
        assert_string_equal(rep.vendor_response, "R24");
        assert_string_equal(rep.hold_reason, ""); /* an approval puts no hold */

        /* No row: approved, as before. */
        memset(&rep, 0, sizeof rep);
        pl_stored_value_map(&res, NULL, ops[i], 1107, &rep);
        assert_int_equal(rep.status, PL_ST_APPROVED);
        assert_string_equal(rep.vendor_response, "24");
    }
    /* The ErrorCode rule: declined even by a row that says approved; SYSTEM_ERROR an error; a
     * fault an error. */
    pl_vendor_response odd = row("ODD", true, "", "", "NO_FUNDS");
    pl_bureau_result res = answer("", -1, -1);
    snprintf(res.error_code, sizeof res.error_code, "NO_FUNDS");
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, &odd, PL_OP_SVC_PREAUTH, 1107, &rep);
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.vendor_response, "ODD");
    snprintf(res.error_code, sizeof res.error_code, "SYSTEM_ERROR");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, &odd, PL_OP_SVC_PREAUTH, 1107, &rep);
    assert_int_equal(rep.status, PL_ST_ERROR);
    res = answer("24", 1107, -1);
    snprintf(res.fault_code, sizeof res.fault_code, "SOAP-ENV:Client");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, &approves, PL_OP_SVC_PREAUTH, 1107, &rep);
    assert_int_equal(rep.status, PL_ST_ERROR);
    /* A GenerateCard's OK names no reason code: no row maps it, approved. */
    res = answer("", -1, -1);
    snprintf(res.response_code, sizeof res.response_code, "OK");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
}

/* The adapter's result of body (HTTP status) for op, mapped as paylink-svc maps it (no
 * snapshot). Returns the parse's return code; rep is mapped only when the answer is final. */
static int parse_and_map(pl_bureau_op op, long status, const char *body, pl_bureau_result *res,
                         pl_reply *rep)
{
    pl_bureau_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.service, sizeof cfg.service, "RLT");
    snprintf(cfg.protocol, sizeof cfg.protocol, "RLT");
    pl_bureau_call call;
    memset(&call, 0, sizeof call);
    call.op = op;
    call.svc_card_number = "4105138386844793";
    call.order = "3242";
    call.amount = 1107;
    call.now = 1282742456;
    call.currency = "USD";
    call.ref_request_id = op == PL_OP_SVC_POSTAUTH || op == PL_OP_SVC_VOID ? "9354" : NULL;
    char err[256] = "";
    memset(rep, 0, sizeof *rep);
    int rc = pl_bureau_relate.parse(&cfg, &call, status, body, strlen(body), res, err, sizeof err);
    if (rc == 0 && !res->outcome_unknown)
        pl_stored_value_map(res, NULL, op, call.amount, rep);
    return rc;
}

/*
 * Off the wire: a wrong web service password (HTTP 401 or 403 and an HTML page, RLT has no
 * OAuth) is a final `error` (nothing was processed), no longer an unreadable answer with a
 * required response; a PreauthorizationResponse approving 0.00 the no-balance decline.
 */
static void test_answers_off_the_wire(void **state)
{
    (void)state;
    pl_bureau_result res;
    pl_reply rep;
    static const long refused[] = {401, 403};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(parse_and_map(PL_OP_SVC_POSTAUTH, refused[i],
                                       "<html><body><h1>Unauthorized</h1></body></html>", &res,
                                       &rep),
                         0);
        assert_false(res.outcome_unknown);
        assert_int_equal(rep.status, PL_ST_ERROR);
        char want[80];
        snprintf(want, sizeof want, "The payment service refused the request (HTTP %ld).",
                 refused[i]);
        assert_string_equal(rep.message, want);
        assert_false(rep.has_amount_approved);
    }
    const char *zero =
        "<PreauthorizationResponse xmlns=\"http://www.nrf-arts.org/IXRetail/namespace/\">"
        "<AccountState><Balance><Amount>0.00</Amount></Balance></AccountState>"
        "<SVATransaction><SVATransactionID>9354</SVATransactionID><Reason><Code>24</Code>"
        "</Reason><SVAAmount><CurrencyID>USD</CurrencyID><Amount>0.00</Amount></SVAAmount>"
        "<AuthNumber>0000009354000382</AuthNumber></SVATransaction></PreauthorizationResponse>";
    assert_int_equal(parse_and_map(PL_OP_SVC_PREAUTH, 200, zero, &res, &rep), 0);
    assert_no_balance_decline(&rep, "INSUFFICIE", "");
}

/*
 * A GenerateCard answered with a ResponseCode other than OK and no ErrorCode ("Failed"): no card
 * was generated. It was `approved` (no ErrorCode, not "Rejected") until paylink-svc found no
 * card number to record; it is a final `error` now, saying so, never an approval — also when
 * the answer carries a card number anyway. "Rejected" and an ErrorCode keep their rules.
 */
static void test_generate_not_ok_is_not_approved(void **state)
{
    (void)state;
    static const char *const codes[] = {"Failed", "Error", "FAILED", "Pending"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "<CardSeriesMaintenance xmlns=\"http://www.nrf-arts.org/IXRetail/namespace/\">"
                 "<DateTime>2010-08-26T10:26:52</DateTime><CardSeries ResponseCode=\"%s\">"
                 "<ErrorCode/></CardSeries></CardSeriesMaintenance>",
                 codes[i]);
        pl_bureau_result res;
        pl_reply rep;
        assert_int_equal(parse_and_map(PL_OP_SVC_GENERATE, 200, body, &res, &rep), 0);
        assert_false(res.outcome_unknown);
        if (rep.status != PL_ST_ERROR)
            fail_msg("ResponseCode %s: %s", codes[i], pl_status_name(rep.status));
        char want[120];
        snprintf(want, sizeof want,
                 "The payment service did not generate a card (ResponseCode %s).", codes[i]);
        assert_string_equal(rep.message, want);
        assert_string_equal(rep.vendor_response, codes[i]);
        assert_false(rep.has_amount_approved);
        assert_string_equal(rep.svc.card_number, "");
    }
    /* With a description, and with a card number the answer should not have carried. */
    const char *failed =
        "<CardSeriesMaintenance><CardSeries ResponseCode=\"Failed\"><CardPrefix>85749"
        "</CardPrefix><CardSeriesSequence>06</CardSeriesSequence><Instrument><CardNumber>"
        "9117230675152172</CardNumber></Instrument><ResponseDescription>Series locked."
        "</ResponseDescription></CardSeries></CardSeriesMaintenance>";
    pl_bureau_result res;
    pl_reply rep;
    assert_int_equal(parse_and_map(PL_OP_SVC_GENERATE, 200, failed, &res, &rep), 0);
    assert_int_equal(rep.status, PL_ST_ERROR);
    assert_string_equal(rep.message,
                        "The payment service did not generate a card (ResponseCode Failed): "
                        "Series locked.");
    /* Through a snapshot (paylink-svc's path) the same. */
    pl_service svc = service("RLT", "RLT");
    pl_services *s = pl_services_of(&svc, 1);
    assert_non_null(s);
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map_answer(s, pl_services_find(s, "RLT"), &res, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_ERROR);
    pl_services_unref(s);
    /* The seed's rules stay: OK approves, Rejected with an ErrorCode declines, SYSTEM_ERROR is
     * an error, an ErrorCode with another ResponseCode declines. */
    res = answer("", -1, -1);
    snprintf(res.response_code, sizeof res.response_code, "ok");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    snprintf(res.response_code, sizeof res.response_code, "Rejected");
    snprintf(res.error_code, sizeof res.error_code, "ALL_CARDS_GENERATED");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_DECLINED);
    snprintf(res.response_code, sizeof res.response_code, "Failed");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_DECLINED);
    snprintf(res.error_code, sizeof res.error_code, "SYSTEM_ERROR");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_ERROR);
    /* An External Payment Service generateGift has no ResponseCode: its own rules. */
    res = answer("", -1, -1);
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
}

/*
 * SOAP 1.2 faults off the wire: a Sender fault is 1.1's Client fault, the message refused before
 * processing: a final `error` naming the code (before, "(no faultcode)" and an unknown outcome
 * with a required response); a Receiver fault on a redemption is 1.1's Server fault, the
 * outcome unknown (the engine's required response, not mapped).
 */
static void test_soap12_faults_mapped(void **state)
{
    (void)state;
    const char *sender =
        "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body><env:Fault>"
        "<env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason><env:Text "
        "xml:lang=\"en\">Invalid message</env:Text></env:Reason></env:Fault></env:Body>"
        "</env:Envelope>";
    pl_bureau_result res;
    pl_reply rep;
    assert_int_equal(parse_and_map(PL_OP_SVC_POSTAUTH, 400, sender, &res, &rep), 0);
    assert_false(res.outcome_unknown);
    assert_int_equal(rep.status, PL_ST_ERROR);
    assert_string_equal(rep.message, "The payment service refused the request (env:Sender).");
    assert_false(rep.has_amount_approved);
    char receiver[512];
    snprintf(receiver, sizeof receiver,
             "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body>"
             "<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason>"
             "<env:Text xml:lang=\"en\">Database unavailable</env:Text></env:Reason></env:Fault>"
             "</env:Body></env:Envelope>");
    assert_int_equal(parse_and_map(PL_OP_SVC_POSTAUTH, 500, receiver, &res, &rep), 0);
    assert_true(res.outcome_unknown);
    assert_string_equal(res.fault_code, "env:Receiver");
    assert_string_equal(res.fault_string, "Database unavailable");
}

/* A load, redemption or return approved for less than it sent (0.00 included) is unreadable,
 * whatever adapter read it; an authorization's or a void's smaller amount, or the whole, is not. */
static void test_whole_only_operations(void **state)
{
    (void)state;
    char err[200] = "";
    static const pl_bureau_op whole[] = {PL_OP_SVC_ACTIVATE, PL_OP_SVC_RECHARGE, PL_OP_SVC_POSTAUTH,
                                         PL_OP_SVC_RETURN};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        assert_true(pl_stored_value_whole_only(whole[i]));
        assert_int_equal(pl_stored_value_check_whole(whole[i], 12000, 11999, "deposit",
                                                     "is accepted for", err, sizeof err),
                         PL_ERR_PARSE);
        assert_string_equal(err, "deposit is accepted for 119.99 of the 120.00 sent (only an "
                                 "authorization is approved for part of its amount)");
        assert_int_equal(
            pl_stored_value_check_whole(whole[i], 12000, 0, "x", "approves", err, sizeof err),
            PL_ERR_PARSE);
        assert_int_equal(
            pl_stored_value_check_whole(whole[i], 12000, 12000, "x", "approves", err, sizeof err),
            0);
    }
    static const pl_bureau_op part[] = {PL_OP_SVC_PREAUTH, PL_OP_SVC_VOID, PL_OP_AUTH};
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
        assert_false(pl_stored_value_whole_only(part[i]));
        assert_int_equal(
            pl_stored_value_check_whole(part[i], 12000, 100, "x", "approves", err, sizeof err), 0);
    }
}

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_authorization_is_declined),
        cmocka_unit_test(test_row_decides),
        cmocka_unit_test(test_answers_off_the_wire),
        cmocka_unit_test(test_generate_not_ok_is_not_approved),
        cmocka_unit_test(test_soap12_faults_mapped),
        cmocka_unit_test(test_whole_only_operations),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
