/*
 * test_resolver_records.c: (white box: the resolver's source is included, its static functions
 * in reach) what the query step keeps beside its decision when a CyberSource record cannot be
 * read (an application of the operation without an RCode, or with one other than 1, 0 or -1:
 * cyb_query.h FOUND_UNREADABLE) or when several records say a capture, credit or auth+capture
 * was applied (FOUND_SEVERAL): whether the row is recorded captured (an operator's refusal of a
 * captured auth+capture publishes no `.sdr`), the RequestID kept for `wreq show`, and whether
 * the escalation at the last query takes the timeout reversal (escalation_reverses: not after a
 * partial approval, whose reversal for the whole amount sent would be refused). test_resolver.c
 * tests the decisions themselves through pl_resolver_decide. Nothing here touches a database or
 * the network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resolver.c" /* white box: decide, decision_ex, row, escalation_reverses */

#define REF "r-unreadable-0001"
#define TXN "4036289939370176056470"
#define TXN2 "4036289939370176056471"

/* A record of REF with request id rid, PaymentData/Amount amount. */
static pl_cyb_query_record *record(pl_cyb_query_result *res, const char *rid, int64_t amount)
{
    assert_true(res->nrecs < PL_CYB_QUERY_MAX_RECORDS);
    pl_cyb_query_record *r = &res->recs[res->nrecs++];
    memset(r, 0, sizeof *r);
    snprintf(r->merchant_reference, sizeof r->merchant_reference, "%s", REF);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    snprintf(r->currency, sizeof r->currency, "USD");
    r->has_amount = true;
    r->amount = amount;
    return r;
}

/* An application reply of r: rcode < -9 leaves the RCode out. */
static void app(pl_cyb_query_record *r, const char *name, int rcode, const char *reason)
{
    assert_true(r->napps < PL_CYB_QUERY_MAX_APPS);
    pl_cyb_app_reply *a = &r->apps[r->napps++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->has_rcode = rcode >= -9;
    a->rcode = a->has_rcode ? rcode : 0;
    snprintf(a->rflag, sizeof a->rflag, "SOK");
    snprintf(a->reason_code, sizeof a->reason_code, "%s", reason);
}

#define NO_RCODE (-100)

/* A CyberSource authorization row whose policy reverses what cannot be confirmed. */
static row auth_row(void)
{
    row w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker, sizeof w.worker, "auth");
    snprintf(w.protocol, sizeof w.protocol, "CYB");
    snprintf(w.op, sizeof w.op, "auth");
    w.reverse_unconfirmed = true;
    w.send_reversal = true;
    return w;
}

/*
 * An auth+capture captured twice (two records, ics_bill RCode 1 each): escalated at once and
 * recorded captured, so an operator's refusal publishes no `.sdr` (nothing of a captured
 * authorization is left to reverse), the first record's RequestID kept. A capture or credit
 * applied twice is not an auth+capture's capture: not recorded captured.
 */
static void test_several_keeps_captured(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;

    pl_cyb_query_record *r = record(res, TXN, 15000);
    app(r, "ics_auth", 1, "100");
    app(r, "ics_bill", 1, "100");
    r = record(res, TXN2, 15000);
    app(r, "ics_auth", 1, "100");
    app(r, "ics_bill", 1, "100");
    decision_ex x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_true(x.captured);
    assert_false(x.from_answer);
    assert_string_equal(x.record_rid, TXN);
    assert_non_null(
        strstr(x.d.why, "charged more than once? 2 auth_capture records: " TXN ", " TXN2));

    /* Of which one cannot be read: may be a second capture. */
    res->recs[1].apps[1].has_rcode = false;
    x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_true(x.captured);
    assert_non_null(strstr(x.d.why, "(1 unreadable)"));

    /* Two captures. */
    memset(res, 0, sizeof *res);
    app(record(res, TXN, 15000), "ics_bill", 1, "100");
    app(record(res, TXN2, 15000), "ics_bill", 1, "100");
    x = decide(&p, "capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_false(x.captured);
    assert_string_equal(x.record_rid, TXN);
    free(res);
}

/*
 * A record that cannot be read: an auth+capture whose ics_bill says captured beside an ics_auth
 * without an RCode is escalated at once and recorded captured; one whose ics_bill has no RCode
 * is asked again, and at the last query escalated, not recorded captured (whether it was is what
 * the record cannot tell: the operator's step says both cases).
 */
static void test_unreadable_captured(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;

    pl_cyb_query_record *r = record(res, TXN, 15000);
    app(r, "ics_auth", NO_RCODE, "100");
    app(r, "ics_bill", 1, "100");
    decision_ex x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_true(x.captured);
    assert_false(x.from_answer);
    assert_string_equal(x.record_rid, TXN);

    memset(res, 0, sizeof *res);
    r = record(res, TXN, 15000);
    app(r, "ics_auth", 1, "100");
    app(r, "ics_bill", NO_RCODE, "100");
    x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_RETRY);
    assert_false(x.from_answer);
    x = decide(&p, "auth_capture", REF, 0, NULL, res, p.max_queries, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_false(x.captured);
    assert_false(x.part_unknown);
    assert_string_equal(x.record_rid, TXN);
    free(res);
}

/*
 * An authorization whose record cannot be read is, at the last query, reversed where the policy
 * says so (the safe step, as for a record that says only 151), but not after a partial approval
 * (110): its timeout reversal goes for the whole amount sent, which CyberSource refuses above the
 * part, and the hold would stay.
 */
static void test_unreadable_auth_safe_step(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w = auth_row();
    assert_true(can_reverse(&w));

    app(record(res, TXN, 15000), "ics_auth", 2, "100");
    decision_ex x = decide(&p, "auth", REF, 0, NULL, res, p.max_queries, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_false(x.part_unknown);
    assert_true(escalation_reverses(&w, &x));

    memset(res, 0, sizeof *res);
    app(record(res, TXN, 5000), "ics_auth", NO_RCODE, "110");
    x = decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_RETRY);
    x = decide(&p, "auth", REF, 0, NULL, res, p.max_queries, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_true(x.part_unknown);
    assert_false(escalation_reverses(&w, &x));
    assert_non_null(strstr(x.d.why, "--outcome approved|rejected --amount <part>"));
    free(res);
}

/* A Transaction Detail answer as the simulator writes it (tools/sim/sim_query.c): two Requests
 * of REF (a retry the bureau received), newest first, each an approved authorization. */
#define AUTH_REQUEST(id, apps)                                                                     \
    "<Request MerchantReferenceNumber=\"" REF "\" RequestDate=\"2024-03-05T14:01:58+00:00\" "      \
    "RequestID=\"" id "\" SubscriptionID=\"\" Source=\"SOAP Toolkit API\" User=\"\" "              \
    "TransactionReferenceNumber=\"0001094522\"><PaymentMethod><Card>"                              \
    "<AccountSuffix>1111</AccountSuffix><ExpirationMonth>12</ExpirationMonth>"                     \
    "<ExpirationYear>2027</ExpirationYear><CardType>Visa</CardType></Card></PaymentMethod>"        \
    "<ApplicationReplies>" apps "</ApplicationReplies><PaymentData><PaymentRequestID>" id          \
    "</PaymentRequestID><PaymentProcessor>smartfdc</PaymentProcessor><Amount>120.00</Amount>"      \
    "<CurrencyCode>USD</CurrencyCode><TotalTaxAmount>0.00</TotalTaxAmount>"                        \
    "<AuthorizationCode>888888</AuthorizationCode><AVSResult>Y</AVSResult>"                        \
    "<AVSResultMapped>Y</AVSResultMapped><CVResult>M</CVResult></PaymentData></Request>"
#define APPROVED(name)                                                                             \
    "<ApplicationReply Name=\"" name "\"><RCode>1</RCode><RFlag>SOK</RFlag>"                       \
    "<RMsg>Request was processed successfully.</RMsg><ReasonCode>100</ReasonCode>"                 \
    "</ApplicationReply>"
#define REPORT(requests)                                                                           \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE Report SYSTEM "                         \
    "\"https://ebctest.cybersource.com/ebctest/reports/dtd/tdr_1_7.dtd\">\n<Report "               \
    "xmlns=\"https://ebctest.cybersource.com/ebctest/reports/dtd/tdr_1_7.dtd\" "                   \
    "Name=\"Transaction Detail\" Version=\"1.7\" MerchantID=\"mr\" "                               \
    "ReportStartDate=\"2024-03-05 14:02:11.123+00:00\" "                                           \
    "ReportEndDate=\"2024-03-05 14:02:11.123+00:00\"><Requests>" requests "</Requests></Report>"

static void parse(const char *body, pl_cyb_query_result *res)
{
    char err[256];
    int rc = pl_cyb_query_parse(body, strlen(body), res, err, sizeof err);
    if (rc != 0)
        fail_msg("parse: %s", err);
}

/* What also_authorized_said writes for w and x: the log's lines, malloc'd. */
static char *said(const row *w, const decision_ex *x)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    pl_log_init("auth", f);
    also_authorized_said(w, x);
    pl_log_init("auth", NULL);
    long n = ftell(f);
    assert_true(n >= 0);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static size_t lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/*
 * An authorization the bureau approved twice under one request (a retry it received): the first
 * record is applied, as before (the order has its authorization), and the other's hold, which
 * nothing paylink applies reverses, is told: one ERROR line at the decision naming the request,
 * the order, the bureau, the amounts and the other RequestID, saying to reverse it in the
 * Business Center; the applied row's note (resolution_note, last_query_result) names it too.
 * Before, nobody was told and the hold stayed on the card until it expired. One approval alone
 * says nothing; a token+auth approved twice holds the card twice too; a capture applied twice
 * stays FOUND_SEVERAL's escalation.
 */
static void test_several_auths_told(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w = auth_row();
    snprintf(w.id, sizeof w.id, "4242");
    snprintf(w.rid, sizeof w.rid, "%s", REF);
    snprintf(w.company, sizeof w.company, "7");
    snprintf(w.order, sizeof w.order, "0070000359");
    snprintf(w.bureau, sizeof w.bureau, "CYB1");
    snprintf(w.amount, sizeof w.amount, "120.00");
    snprintf(w.currency, sizeof w.currency, "USD");

    parse(REPORT(AUTH_REQUEST(TXN, APPROVED("ics_auth")) AUTH_REQUEST(TXN2, APPROVED("ics_auth"))),
          res);
    decision_ex x = decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0, "120.00");
    /* The first applied, as before. */
    assert_int_equal(x.d.kind, PL_RESOLVE_APPLY);
    assert_true(x.from_answer);
    assert_string_equal(x.res.decision, "ACCEPT");
    assert_string_equal(x.res.request_id, TXN);
    assert_true(x.res.has_amount);
    assert_int_equal(x.res.amount, 12000);
    /* The other named on the row. */
    assert_int_equal(x.also_n, 1);
    assert_non_null(strstr(x.d.outcome.note, "found the request (processed); 1 more record of it "
                                             "authorized, reverse in the Business Center: " TXN2));
    assert_null(strstr(x.d.outcome.note, TXN ","));
    /* And in one ERROR line. */
    char *text = said(&w, &x);
    assert_int_equal(lines(text), 1);
    if (!strstr(text, "\"level\":\"error\"") || !strstr(text, "\"request_id\":\"" REF "\"") ||
        !strstr(text,
                "required response 4242: the bureau authorized request " REF
                " (order 7/0070000359, bureau CYB1, sent 120.00 USD) 2 times: paylink keeps " TXN
                " for 120.00 USD; the other, " TXN2 " for 120.00 USD, holds the cardholder's "
                "funds: reverse it in the Business Center") ||
        strstr(text, "1111") != NULL)
        fail_msg("the line: %s", text);
    free(text);

    /* A token+auth approved twice: two holds (and two tokens) likewise. */
    parse(REPORT(
              AUTH_REQUEST(TXN, APPROVED("ics_pay_subscription_create") APPROVED("ics_auth"))
                  AUTH_REQUEST(TXN2, APPROVED("ics_pay_subscription_create") APPROVED("ics_auth"))),
          res);
    x = decide(&p, "token_auth", REF, 0, NULL, res, 1, 3600.0, "120.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_APPLY);
    assert_string_equal(x.res.request_id, TXN);
    assert_int_equal(x.also_n, 1);
    assert_non_null(strstr(x.d.outcome.note, "Business Center: " TXN2));

    /* One approval beside a refusal: nothing to tell. */
    parse(REPORT(AUTH_REQUEST(TXN, APPROVED("ics_auth")) AUTH_REQUEST(
              TXN2, "<ApplicationReply Name=\"ics_auth\"><RCode>0</RCode><RFlag>DCARDREFUSED"
                    "</RFlag><RMsg>refused</RMsg><ReasonCode>203</ReasonCode></ApplicationReply>")),
          res);
    x = decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0, "120.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_APPLY);
    assert_int_equal(x.also_n, 0);
    assert_null(strstr(x.d.outcome.note, "Business Center"));
    text = said(&w, &x);
    assert_string_equal(text, "");
    free(text);

    /* Four more, one unreadable: the note names whole ids only, the line all of them. */
    memset(res, 0, sizeof *res);
    static const char *const ids[] = {"4036289939370176056470", "4036289939370176056471",
                                      "4036289939370176056472", "4036289939370176056473",
                                      "4036289939370176056474"};
    for (size_t i = 0; i < 5; i++)
        app(record(res, ids[i], 12000), "ics_auth", i == 3 ? NO_RCODE : 1, "100");
    x = decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0, "120.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_APPLY);
    assert_string_equal(x.res.request_id, ids[0]);
    assert_int_equal(x.also_n, 4);
    assert_int_equal(x.also_unreadable, 1);
    assert_non_null(strstr(x.d.outcome.note, "4 more records of it authorized (1 unreadable)"));
    assert_true(strlen(x.d.outcome.note) < sizeof x.d.outcome.note);
    const char *tail = strrchr(x.d.outcome.note, ' ');
    assert_true(strcmp(tail, " ...") == 0 || strlen(tail + 1) >= 22);
    text = said(&w, &x);
    assert_int_equal(lines(text), 1);
    if (!strstr(text, "5 times: paylink keeps 4036289939370176056470 for 120.00 USD; the others "
                      "(1 unreadable: check them), 4036289939370176056471 for 120.00 USD, "
                      "4036289939370176056472 for 120.00 USD, 4036289939370176056473 "
                      "(unreadable), 4036289939370176056474 for 120.00 USD, hold the "
                      "cardholder's funds: reverse them in the Business Center"))
        fail_msg("the line: %s", text);
    free(text);

    /* A capture applied twice stays FOUND_SEVERAL's escalation, told there. */
    memset(res, 0, sizeof *res);
    app(record(res, TXN, 12000), "ics_bill", 1, "100");
    app(record(res, TXN2, 12000), "ics_bill", 1, "100");
    x = decide(&p, "capture", REF, 0, NULL, res, 1, 3600.0, "120.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_int_equal(x.also_n, 0);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_several_keeps_captured),
        cmocka_unit_test(test_unreadable_captured),
        cmocka_unit_test(test_unreadable_auth_safe_step),
        cmocka_unit_test(test_several_auths_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
