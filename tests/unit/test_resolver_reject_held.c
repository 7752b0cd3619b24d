/*
 * test_resolver_reject_held.c: (white box: the resolver's source is included, its static
 * functions in reach) the reversal the resolver publishes with the outcome its bureau query
 * found for an authorization `rejected` while the issuer authorized it — a Decision Manager
 * reject whose reason is not 481 (400: the fraud score over the threshold) with ics_auth's
 * reason 100 — agrees with paylink-auth's for the same answer in time
 * (pl_cybersource_refused_but_authorized): `<request_id>.rev`, for what the issuer holds, with
 * Send reversal. The record read as an answer (record_to_result) carries ics_auth's reason as
 * the service reason an answer's ccAuthReply gives; followup_reversal reads it from the row the
 * query step fills. Nothing here touches a database or the network (followup_reversal reads the
 * database only for paylink-deposit's rows).
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

#include "resolver.c" /* white box: decide, record_to_result, row, followup_reversal */

#define REF "r-auth-0400"
#define TXN "4036289939370176056470"

/* One record of REF with ics_auth (rcode, reason) and ics_decision (rcode, reason; rcode < -1:
 * none), authorizing amount. */
static void one_record(pl_cyb_query_result *res, int auth_rcode, const char *auth_reason,
                       int dm_rcode, const char *dm_reason, int64_t amount)
{
    memset(res, 0, sizeof *res);
    pl_cyb_query_record *r = &res->recs[res->nrecs++];
    snprintf(r->merchant_reference, sizeof r->merchant_reference, "%s", REF);
    snprintf(r->request_id, sizeof r->request_id, "%s", TXN);
    snprintf(r->currency, sizeof r->currency, "USD");
    r->has_amount = true;
    r->amount = amount;
    snprintf(r->auth_code, sizeof r->auth_code, "888888");
    pl_cyb_app_reply *a = &r->apps[r->napps++];
    snprintf(a->name, sizeof a->name, "ics_auth");
    a->has_rcode = true;
    a->rcode = auth_rcode;
    snprintf(a->reason_code, sizeof a->reason_code, "%s", auth_reason);
    if (dm_rcode >= -1) {
        pl_cyb_app_reply *d = &r->apps[r->napps++];
        snprintf(d->name, sizeof d->name, "ics_decision");
        d->has_rcode = true;
        d->rcode = dm_rcode;
        snprintf(d->rflag, sizeof d->rflag, "DREJECT");
        snprintf(d->reason_code, sizeof d->reason_code, "%s", dm_reason);
    }
}

/* What the query step does with the record of res for an `auth` row asking amount: the decision
 * with the record read as an answer, the outcome (as pl_resolver_decide maps it: 400 and 481
 * are `rejected` without a vendor response table), and the row's auth_reason. */
static decision_ex query(const pl_cyb_query_result *res, row *w, pl_resolve_outcome *o)
{
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    decision_ex x = decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0);
    assert_int_equal(x.d.kind, PL_RESOLVE_APPLY);
    assert_true(x.from_answer);
    *o = pl_resolver_decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0).outcome;
    /* map_answer keeps the record's amount for a refusal (held_amount). */
    if (!o->has_amount && x.res.has_amount)
        o->amount = x.res.amount;
    copy(w->auth_reason, sizeof w->auth_reason, x.res.service_reason_code);
    return x;
}

static void auth_row(row *w, bool send_reversal)
{
    memset(w, 0, sizeof *w);
    copy(w->rid, sizeof w->rid, REF);
    copy(w->worker, sizeof w->worker, "auth");
    copy(w->protocol, sizeof w->protocol, "CYB");
    copy(w->op, sizeof w->op, "auth");
    copy(w->amount, sizeof w->amount, "500.00");
    w->send_reversal = send_reversal;
}

/* The reversal followup_reversal gives (1) or none (0). */
static int reversal(const row *w, const pl_resolve_outcome *o, char *rev, char *amount)
{
    char auth[51];
    return followup_reversal(NULL, w, o, auth, sizeof auth, rev, 51, amount, 24);
}

static void test_score_reject_after_auth_100_reversed(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    row w;
    pl_resolve_outcome o;
    char rev[51], amount[24];

    /* ics_auth 100 for 481.00, Decision Manager's reject 400: rejected, reversed for 481.00. */
    auth_row(&w, true);
    one_record(res, 1, "100", 0, "400", 48100);
    decision_ex x = query(res, &w, &o);
    assert_string_equal(x.res.decision, "REJECT");
    assert_string_equal(x.res.reason_code, "400");
    assert_string_equal(x.res.service_reason_code, "100");
    assert_int_equal(o.status, PL_ST_REJECTED);
    assert_string_equal(o.vendor_response, "400");
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(rev, REF ".rev");
    assert_string_equal(amount, "481.00");
    /* Without Send reversal, none (as paylink-auth's). */
    w.send_reversal = false;
    assert_int_equal(reversal(&w, &o, rev, amount), 0);

    /* ics_auth succeeded without a ReasonCode (older reports): its RCode 1 is the 100. */
    auth_row(&w, true);
    one_record(res, 1, "", 0, "400", 48100);
    x = query(res, &w, &o);
    assert_string_equal(x.res.service_reason_code, "100");
    assert_int_equal(reversal(&w, &o, rev, amount), 1);

    /* The 481 as before, whatever ics_auth says. */
    auth_row(&w, true);
    one_record(res, 1, "100", 0, "481", 50000);
    query(res, &w, &o);
    assert_int_equal(o.status, PL_ST_REJECTED);
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(amount, ""); /* all that was asked is held: the transaction's */
    w.auth_reason[0] = '\0';
    assert_int_equal(reversal(&w, &o, rev, amount), 1);

    /* The issuer declined (ics_auth 203): declined, nothing held, no reversal. */
    auth_row(&w, true);
    one_record(res, 0, "203", -2, "", 48100);
    x = query(res, &w, &o);
    assert_string_equal(x.res.service_reason_code, "203");
    assert_int_equal(o.status, PL_ST_DECLINED);
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    /* A 400 outcome with no record behind it (an operator's): no ccAuthReply known, none. */
    auth_row(&w, true);
    o.status = PL_ST_REJECTED;
    copy(o.vendor_response, sizeof o.vendor_response, "400");
    copy(o.transaction_id, sizeof o.transaction_id, TXN);
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_reject_after_auth_100_reversed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
