/*
 * test_resolver_reject_held.c: (white box: the resolver's source is included, its static
 * functions in reach) the reversal the resolver publishes with the outcome its bureau query
 * found for an authorization `rejected` while the issuer authorized it — a Decision Manager
 * reject whose reason is not 481 (400: the fraud score over the threshold) with ics_auth's
 * reason 100 — agrees with paylink-auth's for the same answer in time
 * (pl_cybersource_refused_but_authorized): `<request_id>.rev`, for what the issuer holds, with
 * Send reversal. The record read as an answer (record_to_result) carries ics_auth's reason as
 * the service reason an answer's ccAuthReply gives; followup_reversal reads it from the row the
 * query step fills. The same for an auth+capture (paylink-deposit's) refused while ics_auth says
 * the issuer authorized it: `<deposit>.sdr`, as paylink-deposit's pl_deposit_reverses_refusal.
 * Nothing here touches a database or the network (followup_reversal reads the database only for
 * paylink-deposit's approved rows).
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

/* What the query step does with the record of res for a row of operation op asking amount: the
 * decision with the record read as an answer (what the row sent compared, as step does), the
 * outcome (as pl_resolver_decide maps it: 400 and 481 are `rejected`, 102 `declined`, without a
 * vendor response table), and the row's auth_reason, captured and queried (the outcome is the
 * step's: followup_reversal reads no escalation text for it, so no database here). */
static decision_ex query_op(const char *op, const pl_cyb_query_result *res, row *w,
                            pl_resolve_outcome *o)
{
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    decision_ex x = decide(&p, op, REF, 0, NULL, res, 1, 3600.0, w->amount);
    if (x.d.kind != PL_RESOLVE_APPLY)
        fail_msg("kind %d (%s)", (int)x.d.kind, x.d.why);
    assert_true(x.from_answer);
    *o = pl_resolver_decide(&p, op, REF, 0, NULL, res, 1, 3600.0).outcome;
    /* map_answer keeps the record's amount for a refusal (held_amount). */
    if (!o->has_amount && x.res.has_amount)
        o->amount = x.res.amount;
    copy(w->auth_reason, sizeof w->auth_reason, x.res.service_reason_code);
    w->captured = x.res.capture_approved;
    w->queried = true;
    return x;
}

/* query_op for an `auth` row. */
static decision_ex query(const pl_cyb_query_result *res, row *w, pl_resolve_outcome *o)
{
    return query_op("auth", res, w, o);
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

/*
 * The issuer authorized part of the amount (ics_auth 110, the record's amount 55.00 of the
 * 110.00 asked) and Decision Manager rejected the whole (400): rejected, reversed for the 55.00
 * the issuer holds, as paylink-auth's `.rev` of the same answer in time; its history row records
 * issuer_authorized (issuer_authorized_outcome: note_issuer_holds). Before, only ics_auth
 * 100 was taken, and the part stayed held.
 */
static void test_score_reject_after_auth_110_reversed_for_part(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    row w;
    pl_resolve_outcome o;
    char rev[51], amount[24];
    auth_row(&w, true);
    copy(w.amount, sizeof w.amount, "110.00");
    one_record(res, 1, "110", 0, "400", 5500);
    decision_ex x = query(res, &w, &o);
    assert_string_equal(x.res.service_reason_code, "110");
    assert_int_equal(o.status, PL_ST_REJECTED);
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(rev, REF ".rev");
    assert_string_equal(amount, "55.00");
    assert_true(issuer_authorized_outcome(&w, &o));
    /* The issuer authorized nothing (ics_auth 203 with a 400): none, nothing recorded. */
    auth_row(&w, true);
    one_record(res, 0, "203", 0, "400", 11000);
    query(res, &w, &o);
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    assert_false(issuer_authorized_outcome(&w, &o));
    free(res);
}

/*
 * A token+auth the queried record shows authorized by the issuer (ics_auth 100, or 110 for
 * part) while its token failed (ics_pay_subscription_create 102): `declined`, and the issuer
 * holds the amount. The resolver publishes its reversal (`.rev`, for what is held) as
 * paylink-auth does with the same answer in time, and records issuer_authorized on its history
 * row (note_issuer_holds) so that paylink-reversal claims it. Before, a declined one was
 * not reversed: the hold stayed until the authorization expired.
 */
static void test_declined_token_auth_after_auth_100_reversed(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    row w;
    pl_resolve_outcome o;
    char rev[51], amount[24];
    static const struct {
        const char *reason;
        int64_t amount;
        const char *held;
    } cases[] = {{"100", 50000, ""}, {"110", 25000, "250.00"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        auth_row(&w, true);
        copy(w.op, sizeof w.op, "token_auth");
        one_record(res, 1, cases[i].reason, -2, "", cases[i].amount);
        pl_cyb_app_reply *t = &res->recs[0].apps[res->recs[0].napps++];
        snprintf(t->name, sizeof t->name, "ics_pay_subscription_create");
        t->has_rcode = true;
        t->rcode = 0;
        snprintf(t->reason_code, sizeof t->reason_code, "102");
        decision_ex x = query_op("token_auth", res, &w, &o);
        assert_string_equal(x.res.decision, "REJECT");
        assert_string_equal(x.res.reason_code, "102");
        assert_string_equal(x.res.service_reason_code, cases[i].reason);
        assert_int_equal(o.status, PL_ST_DECLINED);
        assert_string_equal(o.transaction_id, TXN);
        assert_int_equal(reversal(&w, &o, rev, amount), 1);
        assert_string_equal(rev, REF ".rev");
        assert_string_equal(amount, cases[i].held); /* "": all of the 500.00 asked */
        assert_true(issuer_authorized_outcome(&w, &o));
        /* Without Send reversal no reversal, but the row still records the fact. */
        w.send_reversal = false;
        assert_int_equal(reversal(&w, &o, rev, amount), 0);
        assert_true(issuer_authorized_outcome(&w, &o));
    }
    /* The issuer declined as well (ics_auth 203): declined, none, nothing recorded. */
    auth_row(&w, true);
    copy(w.op, sizeof w.op, "token_auth");
    one_record(res, 0, "203", -2, "", 50000);
    query_op("token_auth", res, &w, &o);
    assert_int_equal(o.status, PL_ST_DECLINED);
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    assert_false(issuer_authorized_outcome(&w, &o));
    /* A declined outcome an operator gives (no record: no ics_auth known): none. */
    auth_row(&w, true);
    o.status = PL_ST_DECLINED;
    copy(o.vendor_response, sizeof o.vendor_response, "102");
    copy(o.transaction_id, sizeof o.transaction_id, TXN);
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    assert_false(issuer_authorized_outcome(&w, &o));
    free(res);
}

/*
 * An authorization's outcome `error` (an ERROR 150) while the queried record's ics_auth says 100,
 * or 110 for part: the issuer holds the amount while the order system, told `error`, authorizes
 * again. Reversed (`.rev`, for what is held) as paylink-auth does with the same answer in time,
 * and its history row records issuer_authorized (issuer_authorized_outcome: note_issuer_holds,
 * 064) so that paylink-reversal claims it. Before, neither. Without ics_auth 100 or 110 (an
 * operator's error, ics_auth 203): none, nothing recorded.
 */
static void test_error_after_auth_100_reversed(void **state)
{
    (void)state;
    row w;
    pl_resolve_outcome o;
    char rev[51], amount[24];
    static const char *const reasons[] = {"100", "110"};
    for (size_t i = 0; i < 2; i++) {
        auth_row(&w, true);
        copy(w.auth_reason, sizeof w.auth_reason, reasons[i]);
        memset(&o, 0, sizeof o);
        o.status = PL_ST_ERROR;
        copy(o.vendor_response, sizeof o.vendor_response, "150");
        copy(o.transaction_id, sizeof o.transaction_id, TXN);
        assert_int_equal(reversal(&w, &o, rev, amount), 1);
        assert_string_equal(rev, REF ".rev");
        assert_true(issuer_authorized_outcome(&w, &o));
    }
    copy(w.auth_reason, sizeof w.auth_reason, "203");
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    assert_false(issuer_authorized_outcome(&w, &o));
    copy(w.auth_reason, sizeof w.auth_reason, "");
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    assert_false(issuer_authorized_outcome(&w, &o));
}

/* A paylink-deposit row of an auth+capture of 150.00 (REF). */
static void auth_capture_row(row *w, bool send_reversal)
{
    auth_row(w, send_reversal);
    copy(w->worker, sizeof w->worker, "deposit");
    copy(w->op, sizeof w->op, "auth_capture");
    copy(w->amount, sizeof w->amount, "150.00");
}

/* Adds to res's record the application name (rcode, reason) ran. */
static void add_app(pl_cyb_query_result *res, const char *name, int rcode, const char *reason)
{
    pl_cyb_query_record *r = &res->recs[0];
    pl_cyb_app_reply *a = &r->apps[r->napps++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->has_rcode = true;
    a->rcode = rcode;
    snprintf(a->reason_code, sizeof a->reason_code, "%s", reason);
}

/*
 * An auth+capture (paylink-deposit's) the queried record shows authorized by the issuer
 * (ics_auth 100, or 110 for part) while the request was refused: its capture failed
 * (ics_bill 102: `declined`) or Decision Manager rejected it with the capture skipped
 * (ics_decision 400: `rejected`). Nothing was captured and the issuer holds the amount: the
 * resolver publishes the reversal paylink-deposit does with the same answer in time,
 * `<deposit>.sdr` of the authorization it made (by its transaction id; no paylink
 * authorization), for what the issuer holds. w->auth_reason is ics_auth's, not ics_bill's.
 * Before, only a soft decline was reversed: the hold stayed until the authorization expired.
 */
static void test_refused_auth_capture_after_auth_100_reversed(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    row w;
    pl_resolve_outcome o;
    char rev[51], amount[24], auth[51];
    static const struct {
        const char *reason;
        int64_t amount;
        bool dm; /* Decision Manager's 400, the capture skipped; else the capture failed 102 */
        pl_status status;
        const char *vendor, *held;
    } cases[] = {{"100", 15000, false, PL_ST_DECLINED, "102", ""},
                 {"100", 15000, true, PL_ST_REJECTED, "400", ""},
                 {"110", 5500, false, PL_ST_DECLINED, "102", "55.00"},
                 {"110", 5500, true, PL_ST_REJECTED, "400", "55.00"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        auth_capture_row(&w, true);
        one_record(res, 1, cases[i].reason, cases[i].dm ? 0 : -2, "400", cases[i].amount);
        if (!cases[i].dm)
            add_app(res, "ics_bill", 0, "102");
        decision_ex x = query_op("auth_capture", res, &w, &o);
        assert_string_equal(x.res.decision, "REJECT");
        assert_string_equal(x.res.service_reason_code, cases[i].reason);
        assert_string_equal(w.auth_reason, cases[i].reason);
        assert_int_equal(o.status, cases[i].status);
        assert_string_equal(o.vendor_response, cases[i].vendor);
        assert_string_equal(o.transaction_id, TXN);
        auth[0] = 'x';
        assert_int_equal(
            followup_reversal(NULL, &w, &o, auth, sizeof auth, rev, sizeof rev, amount, 24), 1);
        assert_string_equal(auth, ""); /* named by its transaction id, as a manual one */
        assert_string_equal(rev, REF ".sdr");
        assert_string_equal(amount, cases[i].held); /* "": all of the 150.00 asked */
        /* Not an authorization's history row: nothing for note_issuer_holds. */
        assert_false(issuer_authorized_outcome(&w, &o));
        /* Without Send reversal, none. */
        w.send_reversal = false;
        assert_int_equal(reversal(&w, &o, rev, amount), 0);
    }
    /* The issuer declined (ics_auth 203): nothing held, none. */
    auth_capture_row(&w, true);
    one_record(res, 0, "203", -2, "", 15000);
    query_op("auth_capture", res, &w, &o);
    assert_int_equal(o.status, PL_ST_DECLINED);
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    /* The capture failed with an error (ics_bill -1) while ics_auth says 100: `error`, the
     * issuer holding the authorization, reversed as paylink-deposit reverses an ERROR answer
     * (pl_cybersource_refused_but_authorized). */
    auth_capture_row(&w, true);
    one_record(res, 1, "100", -2, "", 15000);
    add_app(res, "ics_bill", -1, "150");
    query_op("auth_capture", res, &w, &o);
    assert_int_equal(o.status, PL_ST_ERROR);
    assert_false(w.captured);
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(rev, REF ".sdr");
    /* Decision Manager's reject (481) of a record whose capture succeeded (ics_bill 1): not
     * applied at all (test_captured_auth_capture_escalated); an outcome applied with the capture
     * recorded gives no reversal either (CyberSource would refuse it, 238). */
    auth_capture_row(&w, true);
    w.captured = true;
    memset(&o, 0, sizeof o);
    o.status = PL_ST_REJECTED;
    copy(o.vendor_response, sizeof o.vendor_response, "481");
    copy(o.transaction_id, sizeof o.transaction_id, TXN);
    copy(w.auth_reason, sizeof w.auth_reason, "100");
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    /* A refusal an operator gives (no record: no ics_auth known): a 400 or 102, none. Its soft
     * decline is reversed unless the row was escalated for being captured, which the database
     * tells (escalated_captured: tests/integration/test_resolver_captured_escalated.c). */
    auth_capture_row(&w, true);
    memset(&o, 0, sizeof o);
    o.status = PL_ST_REJECTED;
    copy(o.vendor_response, sizeof o.vendor_response, "400");
    copy(o.transaction_id, sizeof o.transaction_id, TXN);
    assert_int_equal(reversal(&w, &o, rev, amount), 0);
    /* The step's own soft decline (230, its record without the capture): reversed, `.sdr`,
     * whatever an earlier escalation's text said (not read for it). */
    w.queried = true;
    o.status = PL_ST_DECLINED;
    copy(o.vendor_response, sizeof o.vendor_response, "230");
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(rev, REF ".sdr");
    free(res);
}

/* todo with the record's RequestID (TXN) in place of its placeholder, into out. */
static void named_step(const char *todo, char *out, size_t outsz)
{
    const char *at = strstr(todo, "<RequestID>");
    assert_non_null(at);
    snprintf(out, outsz, "%.*s%s%s", (int)(at - todo), todo, TXN, at + strlen("<RequestID>"));
}

/*
 * why ends with todo (written with the placeholder <RequestID>), whole (not cut), and fits the
 * reason (pl_resolve_decision.why): naming the record's RequestID (TXN) in its place where the
 * reason holds it whole beside the text before it, else with the placeholder — only when the
 * id would not fit (escalation_why: the id, kept on the row, never cuts the text).
 */
static void assert_ends_with(const char *why, const char *todo)
{
    char named[300];
    named_step(todo, named, sizeof named);
    size_t n = strlen(why), t = strlen(named), ph = strlen(todo);
    size_t max = sizeof((pl_resolve_decision *)0)->why;
    if (n < max && n >= t && strcmp(why + n - t, named) == 0)
        return;
    if (n < max && n >= ph && strcmp(why + n - ph, todo) == 0 && n - ph + t >= max)
        return;
    fail_msg("the operator is not told what to do, whole: %s\n  (expected it to end with %s, "
             "or with %s if that does not fit)",
             why, named, todo);
}

/* An escalation of a captured auth+capture tells the operator what to do, whole (not cut): the
 * approval for what was captured with the record's RequestID as --transaction-id, which an
 * approved auth+capture is refused without (pl_resolver_operator): the record's own (TXN) where
 * the reason holds it whole (assert_ends_with). */
static void assert_operator_told(const char *why)
{
    assert_ends_with(why, "; wreq resolve --outcome approved --amount <captured> --transaction-id "
                          "<RequestID>, credit it if not fulfilled (README)");
}

/* An escalation of a partial approval whose part the record cannot tell tells the operator the
 * `wreq resolve` for the part, whole (not cut: it ends the reason), with the record's RequestID
 * (TXN) as --transaction-id (an approval, a review, a reject and a soft decline are refused
 * without one): outcome is "approved|rejected" for an authorization approved or refused after
 * it, "rejected" or "review" for Decision Manager's reject or review of it, "declined
 * --vendor-response 230" (the soft decline) for an auth+capture not captured. */
static void assert_part_todo_as(const char *why, const char *outcome)
{
    char todo[160];
    snprintf(todo, sizeof todo,
             "; wreq resolve --outcome %s --amount <part> --transaction-id <RequestID> (README)",
             outcome);
    assert_ends_with(why, todo);
}

/* assert_part_todo_as for an authorization approved or refused after it (auth_capture false), or
 * an auth+capture not captured. */
static void assert_part_todo(const char *why, bool auth_capture)
{
    assert_part_todo_as(why, auth_capture ? "declined --vendor-response 230" : "approved|rejected");
}

/*
 * An auth+capture whose queried record says it was captured (ics_bill RCode 1) beside a refusal,
 * a review or a failure — Decision Manager's 481, 480 or 400 (ics_decision RCode 0), an ics_auth
 * declined (203) or failed (-1) — is not applied: `rejected`, `declined`, `review` or `error`
 * would free the order system to charge the card again while what was taken is not refunded,
 * and `approved` would fulfil an order Decision Manager refused. It is escalated at once, with
 * the reason (decide: PL_RESOLVE_ESCALATE, which step hands to escalate for a deposit row, never
 * a timeout reversal), as a record approving more than was sent is; so is a partial approval
 * (110) captured without the amount. Before, the 481 was applied `rejected`. A record whose
 * ics_auth says RCode 0 with ReasonCode 110 beside ics_bill RCode 1 is the partial approval the
 * adapter reads in time (ACCEPT 110, for the record's amount): before, `declined`, and the order
 * system charged the card again.
 */
static void test_captured_auth_capture_escalated(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w;
    pl_resolve_outcome o;
    static const struct {
        int auth_rcode;
        const char *auth_reason;
        int dm_rcode; /* < -1: none */
        const char *dm_reason;
        const char *says; /* in why */
    } cases[] = {
        {1, "100", 0, "481", "REJECT 481"}, {1, "100", 0, "480", "REVIEW 480"},
        {1, "100", 0, "400", "REJECT 400"}, {1, "110", 0, "481", "REJECT 481"},
        {0, "203", -2, "", "REJECT 203"},   {-1, "150", -2, "", "ERROR 150"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        auth_capture_row(&w, true);
        one_record(res, cases[i].auth_rcode, cases[i].auth_reason, cases[i].dm_rcode,
                   cases[i].dm_reason, 15000);
        if (strcmp(cases[i].dm_reason, "480") == 0)
            snprintf(res->recs[0].apps[1].rflag, sizeof res->recs[0].apps[1].rflag, "DREVIEW");
        add_app(res, "ics_bill", 1, "100");
        /* Whichever query it is, the first or the last: at once, and never applied. */
        for (int q = 1; q <= p.max_queries; q += p.max_queries - 1) {
            decision_ex x = decide(&p, "auth_capture", REF, 0, NULL, res, q, 3600.0, w.amount);
            if (x.d.kind != PL_RESOLVE_ESCALATE)
                fail_msg("case %zu, query %d: kind %d (%s)", i, q, (int)x.d.kind, x.d.why);
            assert_false(x.from_answer);
            assert_non_null(strstr(x.d.why, "captured (ics_bill)"));
            assert_non_null(strstr(x.d.why, cases[i].says));
            assert_non_null(strstr(x.d.why, "while the record says"));
            assert_null(strstr(x.d.why, "escalated after"));
            assert_operator_told(x.d.why);
            assert_int_equal(
                pl_resolver_decide(&p, "auth_capture", REF, 0, NULL, res, q, 3600.0).kind,
                PL_RESOLVE_ESCALATE);
        }
        /* A deposit row is escalated, not reversed (step: can_reverse). */
        assert_false(can_reverse(&w));
        /* The same record for a capture alone (ics_bill) is the capture it says. */
        decision_ex x = decide(&p, "capture", REF, 0, NULL, res, 1, 3600.0, w.amount);
        assert_int_equal(x.d.kind, PL_RESOLVE_APPLY);
    }

    /* ics_auth RCode 0 with 110 beside ics_bill 1: the partial approval, for the record's 55.00
     * of the 150.00 asked, captured; no `.sdr`. */
    auth_capture_row(&w, true);
    one_record(res, 0, "110", -2, "", 5500);
    add_app(res, "ics_bill", 1, "100");
    decision_ex x = query_op("auth_capture", res, &w, &o);
    assert_string_equal(x.res.decision, "ACCEPT");
    assert_string_equal(x.res.reason_code, "110");
    assert_true(x.res.has_amount);
    assert_int_equal(x.res.amount, 5500);
    assert_string_equal(x.res.service_reason_code, "110");
    assert_int_equal(o.status, PL_ST_APPROVED);
    assert_true(o.has_amount);
    assert_int_equal(o.amount, 5500);
    assert_string_equal(o.vendor_response, "110");
    assert_true(w.captured);
    /* Without an amount (RCode 0 or 1), how much was captured is not known: escalated. */
    for (int rcode = 0; rcode <= 1; rcode++) {
        one_record(res, rcode, "110", -2, "", 0);
        res->recs[0].has_amount = false;
        add_app(res, "ics_bill", 1, "100");
        x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, w.amount);
        assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
        assert_non_null(strstr(x.d.why, "110 captured (ics_bill), without an amount"));
        assert_operator_told(x.d.why);
    }
    /* Its capture failed (235): nothing taken, `declined`, and the 55.00 the issuer holds is
     * reversed, `.sdr`, as before. */
    auth_capture_row(&w, true);
    one_record(res, 0, "110", -2, "", 5500);
    add_app(res, "ics_bill", 0, "235");
    query_op("auth_capture", res, &w, &o);
    assert_int_equal(o.status, PL_ST_DECLINED);
    assert_false(w.captured);
    char rev[51], amount[24];
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(rev, REF ".sdr");
    assert_string_equal(amount, "55.00");

    /* An authorization's record written so, with the amount approved: the partial approval the
     * adapter reads (ACCEPT 110), as ics_auth RCode 1 with 110 is. */
    auth_row(&w, true);
    one_record(res, 0, "110", -2, "", 25000);
    x = query(res, &w, &o);
    assert_string_equal(x.res.decision, "ACCEPT");
    assert_int_equal(o.status, PL_ST_APPROVED);
    assert_int_equal(o.amount, 25000);
    free(res);
}

/*
 * A record read as a partial approval (ics_auth ReasonCode 110, RCode 1 or 0) whose amount is not
 * below what the request sent (the required response's amount), or that has none, is not
 * believed: the record's PaymentData/Amount may be the amount asked (the simulator reports "what
 * was approved, else what was asked"). Escalated at once (decide: PL_RESOLVE_ESCALATE), to an
 * operator told what to do: an auth+capture (captured) resolved for what was captured; an
 * authorization approved for the part or rejected with it — never the timeout reversal where the
 * policy has one (escalation_reverses: x.part_unknown), which goes for the whole amount sent and
 * is refused above the part (before, it went, and its refusal's escalation replaced the reason).
 * Before fbe96e8, an auth+capture of 150.00 whose record said ics_auth 0/110, ics_bill 1, Amount
 * 150.00 was applied `approved` for 150.00 (vendor 110), and so was an authorization's 1/110 (or
 * 0/110) of the whole amount, or 1/110 without an amount (the row's whole amount). Below what was
 * sent it is the part, applied as before.
 */
static void test_partial_approval_not_below_sent(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w;
    pl_resolve_outcome o;
    /* The review's scenario, and one above what was sent, RCode 0 or 1: escalated at once. */
    static const int64_t amounts[] = {15000, 15001};
    for (int rcode = 0; rcode <= 1; rcode++) {
        for (size_t i = 0; i < 2; i++) {
            auth_capture_row(&w, true);
            one_record(res, rcode, "110", -2, "", amounts[i]);
            add_app(res, "ics_bill", 1, "100");
            for (int q = 1; q <= p.max_queries; q += p.max_queries - 1) {
                decision_ex x = decide(&p, "auth_capture", REF, 0, NULL, res, q, 3600.0, w.amount);
                if (x.d.kind != PL_RESOLVE_ESCALATE)
                    fail_msg("rcode %d, amount %lld, query %d: kind %d (%s)", rcode,
                             (long long)amounts[i], q, (int)x.d.kind, x.d.why);
                assert_false(x.from_answer);
                assert_non_null(
                    strstr(x.d.why, "110 captured (ics_bill), no amount below the 150.00 sent; "));
                assert_null(strstr(x.d.why, "escalated after"));
                assert_operator_told(x.d.why);
            }
            assert_false(can_reverse(&w));
        }
        /* 149.99: the part, approved for it and captured. */
        auth_capture_row(&w, true);
        one_record(res, rcode, "110", -2, "", 14999);
        add_app(res, "ics_bill", 1, "100");
        query_op("auth_capture", res, &w, &o);
        assert_int_equal(o.status, PL_ST_APPROVED);
        assert_int_equal(o.amount, 14999);
        assert_true(w.captured);
    }
    /* The amount sent not recorded (""): no part can be told. */
    auth_capture_row(&w, true);
    w.amount[0] = '\0';
    one_record(res, 0, "110", -2, "", 5500);
    add_app(res, "ics_bill", 1, "100");
    decision_ex x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, w.amount);
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_non_null(strstr(x.d.why, "the amount sent not recorded"));

    /* An authorization's (auth, token_auth) of the 500.00 sent, or above it, RCode 0 or 1, or
     * RCode 1 without an amount, approved, held or refused by Decision Manager after: not
     * applied, and not reversed by the step though its policy reverses (can_reverse): escalated
     * with the operator's step. Decision Manager's reject or review of it is said as such, and
     * the step is the reject or review for the part: before, its reason said "partial approval
     * (110)" and told the operator to approve an order Decision Manager refused or held. */
    static const struct {
        const char *op;
        int rcode;
        bool has_amount;
        int64_t amount;
        int dm_rcode;
        const char *dm_reason;
        const char *state; /* what the reason says the record is */
        const char *todo;  /* the outcome the operator is told to give (assert_part_todo_as) */
    } cases[] = {
        {"auth", 1, true, 50000, -2, "", "partial approval (110)", "approved|rejected"},
        {"auth", 0, true, 50000, -2, "", "partial approval (110)", "approved|rejected"},
        {"auth", 1, true, 60000, -2, "", "partial approval (110)", "approved|rejected"},
        {"auth", 1, false, 0, -2, "", "partial approval (110)", "approved|rejected"},
        {"token_auth", 0, true, 50000, -2, "", "partial approval (110)", "approved|rejected"},
        {"token_auth", 1, false, 0, -2, "", "partial approval (110)", "approved|rejected"},
        {"auth", 1, true, 50000, 0, "481", "REJECT 481 after a partial approval (110)", "rejected"},
        {"auth", 1, true, 50000, 0, "480", "REVIEW 480 after a partial approval (110)", "review"},
        {"auth", 0, true, 50000, 0, "400", "REJECT 400 after a partial approval (110)", "rejected"},
        {"token_auth", 1, false, 0, 0, "480", "REVIEW 480 after a partial approval (110)",
         "review"},
        {"auth", 1, true, 0, -2, "", "partial approval (110)", "approved|rejected"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        auth_row(&w, true);
        w.reverse_unconfirmed = true;
        copy(w.op, sizeof w.op, cases[i].op);
        one_record(res, cases[i].rcode, "110", cases[i].dm_rcode, cases[i].dm_reason,
                   cases[i].amount);
        res->recs[0].has_amount = cases[i].has_amount;
        x = decide(&p, cases[i].op, REF, 0, NULL, res, 1, 3600.0, w.amount);
        if (x.d.kind != PL_RESOLVE_ESCALATE)
            fail_msg("case %zu: kind %d (%s)", i, (int)x.d.kind, x.d.why);
        char want[120];
        snprintf(want, sizeof want, "query 1: %s, %s", cases[i].state,
                 cases[i].has_amount ? "no amount below the 500.00 sent" : "without an amount");
        if (strncmp(x.d.why, want, strlen(want)) != 0)
            fail_msg("case %zu: %s\n  does not start with %s", i, x.d.why, want);
        assert_part_todo_as(x.d.why, cases[i].todo);
        assert_null(strstr(x.d.why, "captured")); /* nothing was captured */
        assert_true(x.part_unknown);
        assert_true(can_reverse(&w));
        assert_false(escalation_reverses(&w, &x));
    }
    /* Any other escalation of such a row takes the safe step, as before: a record that says
     * only a time-out, at the last query. */
    auth_row(&w, true);
    w.reverse_unconfirmed = true;
    one_record(res, -1, "151", -2, "", 50000);
    x = decide(&p, "auth", REF, 0, NULL, res, p.max_queries, 3600.0, w.amount);
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_false(x.part_unknown);
    assert_true(escalation_reverses(&w, &x));
    /* Below it: the part, as before (and Decision Manager's reject of it, reversed for it). */
    auth_row(&w, true);
    one_record(res, 1, "110", -2, "", 49999);
    query(res, &w, &o);
    assert_int_equal(o.status, PL_ST_APPROVED);
    assert_int_equal(o.amount, 49999);
    auth_row(&w, true);
    one_record(res, 1, "110", 0, "481", 25000);
    query(res, &w, &o);
    assert_int_equal(o.status, PL_ST_REJECTED);
    char rev[51], amount[24];
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(amount, "250.00");
    /* A 100 is not a part: the step's own check (more than sent) judges its amount. */
    auth_row(&w, true);
    one_record(res, 1, "100", -2, "", 50000);
    query(res, &w, &o);
    assert_int_equal(o.status, PL_ST_APPROVED);
    /* pl_resolver_decide knows no amount sent (its caller compares it): a 110 with an amount is
     * applied, one without is not. */
    one_record(res, 1, "110", -2, "", 50000);
    assert_int_equal(pl_resolver_decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0).kind,
                     PL_RESOLVE_APPLY);
    res->recs[0].has_amount = false;
    assert_int_equal(pl_resolver_decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0).kind,
                     PL_RESOLVE_ESCALATE);
    free(res);
}

/*
 * A record of a partial approval (ics_auth ReasonCode 110, RCode 1 or 0) refused or failed after
 * it — an auth+capture's capture refused (ics_bill 0/102) or not run (no ics_bill: ERROR 110), a
 * token+auth's token refused (0/102), an authorization's 0/110 without an amount (which
 * cyb_query.c reads declined) — whose amount is not below what the request sent, or that has
 * none, is escalated at once (x.part_unknown: no timeout reversal either), its reason telling
 * the operator the `wreq resolve` with the part. Before, it was applied as the refusal it reads,
 * the issuer authorizing it (auth_reason 110), and its reversal went for the whole amount asked
 * (held_amount: the record's 150.00 is not below the 150.00 asked), which CyberSource refuses
 * above the part: the issuer's hold stayed on the card, and nobody read that refusal. Below
 * what was sent the record's amount is the part, reversed for it as before; a refusal the record
 * says only 151 of is asked again, as before.
 */
static void test_refused_partial_not_below_sent(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w;
    pl_resolve_outcome o;
    char rev[51], amount[24], auth[51];
    static const struct {
        const char *op;
        int auth_rcode;
        bool has_amount;
        int64_t amount;
        const char *app; /* the application refused after it (RCode 0, 102), NULL: none */
        const char *state;
        const char *amount_text;
    } cases[] = {
        {"auth_capture", 1, true, 15000, "ics_bill", "REJECT 102", "no amount below the 150.00"},
        {"auth_capture", 0, true, 15000, "ics_bill", "REJECT 110", "no amount below the 150.00"},
        {"auth_capture", 1, true, 15001, "ics_bill", "REJECT 102", "no amount below the 150.00"},
        {"auth_capture", 1, true, 15000, NULL, "ERROR 110", "no amount below the 150.00"},
        {"auth_capture", 1, false, 0, "ics_bill", "REJECT 102", "without an amount"},
        {"auth", 0, false, 0, NULL, "REJECT 110", "without an amount"},
        {"token_auth", 1, true, 15000, "ics_pay_subscription_create", "REJECT 102",
         "no amount below the 150.00"},
        {"token_auth", 0, false, 0, "ics_pay_subscription_create", "REJECT 110",
         "without an amount"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ac = strcmp(cases[i].op, "auth_capture") == 0;
        if (ac)
            auth_capture_row(&w, true);
        else
            auth_row(&w, true);
        w.reverse_unconfirmed = true;
        copy(w.op, sizeof w.op, cases[i].op);
        copy(w.amount, sizeof w.amount, "150.00");
        one_record(res, cases[i].auth_rcode, "110", -2, "", cases[i].amount);
        res->recs[0].has_amount = cases[i].has_amount;
        if (cases[i].app)
            add_app(res, cases[i].app, 0, "102");
        for (int q = 1; q <= p.max_queries; q += p.max_queries - 1) {
            decision_ex x = decide(&p, cases[i].op, REF, 0, NULL, res, q, 3600.0, w.amount);
            if (x.d.kind != PL_RESOLVE_ESCALATE)
                fail_msg("case %zu, query %d: kind %d (%s)", i, q, (int)x.d.kind, x.d.why);
            assert_false(x.from_answer);
            char want[120];
            snprintf(want, sizeof want, "query %d: %s after a partial approval (110), %s", q,
                     cases[i].state, cases[i].amount_text);
            if (!strstr(x.d.why, want))
                fail_msg("case %zu: %s\n  does not say %s", i, x.d.why, want);
            assert_null(strstr(x.d.why, "escalated after"));
            assert_part_todo(x.d.why, ac);
            /* Not an escalation for being captured: an operator's soft decline of it has its
             * `.sdr` (the row is not recorded captured, which escalated_captured reads). */
            assert_null(strstr(x.d.why, CAPTURED_ESCALATION));
            assert_false(x.captured);
            assert_string_equal(x.record_rid, TXN);
            assert_true(x.part_unknown);
            assert_false(escalation_reverses(&w, &x));
        }
        /* pl_resolver_decide, which compares no amount sent: applied when the record has an
         * amount, escalated when it has none. */
        assert_int_equal(pl_resolver_decide(&p, cases[i].op, REF, 0, NULL, res, 1, 3600.0).kind,
                         cases[i].has_amount ? PL_RESOLVE_APPLY : PL_RESOLVE_ESCALATE);
    }

    /* The reason is never cut, whatever the amount sent: the operator's step ends it. */
    auth_capture_row(&w, true);
    copy(w.amount, sizeof w.amount, "99999999999.99");
    one_record(res, 1, "110", -2, "", 9999999999999);
    add_app(res, "ics_bill", 0, "102");
    decision_ex x = decide(&p, "auth_capture", REF, 0, NULL, res, 12, 3600.0, w.amount);
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_part_todo(x.d.why, true);
    /* Nor are the others': captured, and an authorization Decision Manager rejected or held. */
    res->recs[0].apps[1].rcode = 1;
    x = decide(&p, "auth_capture", REF, 0, NULL, res, 12, 3600.0, w.amount);
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_operator_told(x.d.why);
    for (int review = 0; review <= 1; review++) {
        auth_row(&w, true);
        copy(w.amount, sizeof w.amount, "99999999999.99");
        one_record(res, 1, "110", 0, review ? "480" : "481", 9999999999999);
        x = decide(&p, "auth", REF, 0, NULL, res, 12, 3600.0, w.amount);
        assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
        assert_part_todo_as(x.d.why, review ? "review" : "rejected");
    }

    /* Below what was sent: the part the issuer holds, reversed for it (`.sdr` of an
     * auth+capture's, `.rev` of a token+auth's), as before. */
    auth_capture_row(&w, true);
    one_record(res, 1, "110", -2, "", 5500);
    add_app(res, "ics_bill", 0, "102");
    query_op("auth_capture", res, &w, &o);
    assert_int_equal(o.status, PL_ST_DECLINED);
    assert_int_equal(
        followup_reversal(NULL, &w, &o, auth, sizeof auth, rev, sizeof rev, amount, sizeof amount),
        1);
    assert_string_equal(rev, REF ".sdr");
    assert_string_equal(amount, "55.00");
    auth_row(&w, true);
    copy(w.op, sizeof w.op, "token_auth");
    one_record(res, 1, "110", -2, "", 25000);
    add_app(res, "ics_pay_subscription_create", 0, "102");
    query_op("token_auth", res, &w, &o);
    assert_int_equal(o.status, PL_ST_DECLINED);
    assert_int_equal(reversal(&w, &o, rev, amount), 1);
    assert_string_equal(rev, REF ".rev");
    assert_string_equal(amount, "250.00");

    /* A refusal the record says only 151 of (the capture timed out at the bureau: it may yet
     * say whether it happened): asked again, as before, not escalated at once
     * (test_partial_then_timeout_escalated: its last query). */
    auth_capture_row(&w, true);
    one_record(res, 1, "110", -2, "", 15000);
    add_app(res, "ics_bill", -1, "151");
    x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, w.amount);
    assert_int_equal(x.d.kind, PL_RESOLVE_RETRY);
    free(res);
}

/*
 * A partial approval (ics_auth ReasonCode 110) after which the record says only 151, 152 or 250
 * (a token+auth's token, or an auth+capture's capture, received and then timed out at the
 * bureau: FOUND_ERROR, which partial_unreadable leaves to be asked again) is asked again; at the
 * last query it is escalated as a partial approval whose part the record cannot tell
 * (x.part_unknown): never with the timeout reversal where the policy has one
 * (escalation_reverses), which goes for the whole amount sent and is refused above the part, and
 * its reason ends with the operator's step, whole, whatever the number of queries. Before, it
 * was escalated with part_unknown false: the step took the timeout reversal for the whole 500.00
 * (refused above the part, the hold staying), and the reason told the operator nothing to do.
 * A time-out without a partial approval takes the safe step, as before.
 */
static void test_partial_then_timeout_escalated(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w;
    static const struct {
        const char *op;
        int auth_rcode;
        const char *app;    /* the application that timed out after it */
        const char *reason; /* its reason */
        const char *todo;   /* how the reason ends */
    } cases[] = {
        {"token_auth", 1, "ics_pay_subscription_create", "151",
         "; wreq resolve --outcome approved|rejected --amount <part> --transaction-id <RequestID> "
         "(README)"},
        {"token_auth", 1, "ics_pay_subscription_create", "250",
         "; wreq resolve --outcome approved|rejected --amount <part> --transaction-id <RequestID> "
         "(README)"},
        {"auth_capture", 1, "ics_bill", "152",
         "; wreq resolve --transaction-id <RequestID> --outcome approved --amount <captured> if "
         "captured, else declined --vendor-response 230 --amount <part> (README)"},
    };
    /* With a number of queries no policy has, the record's text is cut, never the step. */
    static const int max_queries[] = {12, 999, 999999};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t m = 0; m < sizeof max_queries / sizeof max_queries[0]; m++) {
            p.max_queries = max_queries[m];
            bool ac = strcmp(cases[i].op, "auth_capture") == 0;
            if (ac)
                auth_capture_row(&w, true);
            else
                auth_row(&w, true);
            w.reverse_unconfirmed = true;
            copy(w.op, sizeof w.op, cases[i].op);
            one_record(res, cases[i].auth_rcode, "110", -2, "", 50000);
            add_app(res, cases[i].app, -1, cases[i].reason);
            /* Asked again before the last query. */
            decision_ex x = decide(&p, cases[i].op, REF, 0, NULL, res, 1, 3600.0, w.amount);
            if (x.d.kind != PL_RESOLVE_RETRY)
                fail_msg("case %zu: kind %d (%s)", i, (int)x.d.kind, x.d.why);
            x = decide(&p, cases[i].op, REF, 0, NULL, res, p.max_queries, 3600.0, w.amount);
            assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
            assert_false(x.from_answer);
            assert_true(x.part_unknown);
            assert_false(escalation_reverses(&w, &x));
            char want[sizeof x.d.why + 64];
            if (ac) {
                /* Both commands in full (before, the decline's was "the soft decline", and an
                 * operator's `--outcome declined` had no `.sdr`), and with up to 999 queries the
                 * whole reason: the text before the step is cut only above. */
                snprintf(want, sizeof want, "escalated after %d queries; %s%s", p.max_queries,
                         p.max_queries < 1000 ? "152 after 110" : "152 after 1", cases[i].todo);
                assert_string_equal(x.d.why, want);
                assert_true(strlen(x.d.why) < sizeof x.d.why);
            } else {
                snprintf(want, sizeof want,
                         "escalated after %d queries; query %d: ERROR %s after a partial "
                         "approval%s",
                         p.max_queries, p.max_queries, cases[i].reason,
                         p.max_queries < 1000 ? " (110); " : "");
                if (strncmp(x.d.why, want, strlen(want)) != 0)
                    fail_msg("case %zu: %s\n  does not start with %s", i, x.d.why, want);
            }
            assert_ends_with(x.d.why, cases[i].todo);
            /* Not an escalation for being captured: an operator's soft decline of it has its
             * `.sdr` (the row is not recorded captured, which escalated_captured reads). */
            assert_null(strstr(x.d.why, CAPTURED_ESCALATION));
            assert_false(x.captured);
            assert_string_equal(x.record_rid, TXN);
        }
    }
    /* A time-out without a partial approval (ics_auth 100): the safe step, as before. */
    p.max_queries = 12;
    auth_row(&w, true);
    w.reverse_unconfirmed = true;
    copy(w.op, sizeof w.op, "token_auth");
    one_record(res, 1, "100", -2, "", 50000);
    add_app(res, "ics_pay_subscription_create", -1, "151");
    decision_ex x = decide(&p, "token_auth", REF, 0, NULL, res, 12, 3600.0, w.amount);
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_false(x.part_unknown);
    assert_true(escalation_reverses(&w, &x));
    assert_non_null(strstr(x.d.why, "the bureau's record says 151 (received, then a time-out)"));
    free(res);
}

/* One application reply of a record built by record_of: rflag "" unless given. */
typedef struct app_spec {
    const char *name;
    int rcode;
    const char *reason;
    const char *rflag;
} app_spec;

/* One record of REF authorizing amount whose replies are apps (NULL-name terminated, at most
 * 3), in that order; the app timed (its index, or -1) is given RCode -1 instead (its "ERROR
 * twin") and ics_auth RCode 1 when twin is set. */
static void record_of(pl_cyb_query_result *res, int64_t amount, const app_spec *apps, int timed,
                      bool twin)
{
    one_record(res, 1, "", -2, "", amount);
    pl_cyb_query_record *r = &res->recs[0];
    memset(r->apps, 0, sizeof r->apps);
    r->napps = 0;
    for (int i = 0; i < 3 && apps[i].name; i++) {
        int rcode = apps[i].rcode;
        if (twin && i == timed)
            rcode = -1;
        else if (twin && strcmp(apps[i].name, "ics_auth") == 0)
            rcode = 1;
        add_app(res, apps[i].name, rcode, apps[i].reason);
        snprintf(r->apps[i].rflag, sizeof r->apps[i].rflag, "%s",
                 apps[i].rflag ? apps[i].rflag : "");
    }
}

/*
 * A record read as a refusal (FOUND_DECLINED: an application of the operation RCode 0) that says
 * the request was received and then timed out at the bureau (151, 152, 250) after a partial
 * approval (ics_auth ReasonCode 110, RCode 1 or 0) — an auth+capture's capture, a token+auth's
 * token — is treated as its ERROR twin (the timed-out application RCode -1, ics_auth RCode 1:
 * FOUND_ERROR) is: asked again (it may yet tell whether the capture or the token happened), and
 * at the last query escalated as a partial approval whose part the record cannot tell
 * (x.part_unknown: never the timeout reversal for the whole amount sent, which CyberSource
 * refuses above the part), with the same reason and the operator's step, whatever the document
 * order and whether the amount is below what was sent. The answer in time is ERROR 151/152/250,
 * an unknown outcome the resolver asks about (bureau_cybersource.c). Before, it was applied
 * `declined` (or escalated at once as a refusal after the 110 and the soft decline's step):
 * where the record's reason was the 151/152/250, for the whole amount sent (its `.sdr` or `.rev`
 * refused above the part, the hold staying), and the capture may have happened (the order
 * system, told `declined`, charged again).
 */
static void test_refused_timeout_after_partial_escalated(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w;
    static const struct {
        const char *op;
        app_spec apps[3];
        int timed;          /* the index of the application that timed out */
        const char *reason; /* what it says */
    } cases[] = {
        {"auth_capture", {{"ics_auth", 1, "110", NULL}, {"ics_bill", 0, "152", NULL}}, 1, "152"},
        {"auth_capture", {{"ics_bill", 0, "250", NULL}, {"ics_auth", 0, "110", NULL}}, 0, "250"},
        {"auth_capture", {{"ics_auth", 0, "110", NULL}, {"ics_bill", 0, "250", NULL}}, 1, "250"},
        {"auth_capture", {{"ics_auth", 0, "110", NULL}, {"ics_bill", -1, "151", NULL}}, 1, "151"},
        {"auth_capture",
         {{"ics_auth", 0, "110", NULL}, {"ics_bill", -1, "", "ETIMEOUT"}},
         1,
         "151"},
        {"token_auth",
         {{"ics_auth", 1, "110", NULL}, {"ics_pay_subscription_create", 0, "151", NULL}},
         1,
         "151"},
        {"token_auth",
         {{"ics_pay_subscription_create", 0, "250", NULL}, {"ics_auth", 0, "110", NULL}},
         0,
         "250"},
        {"token_auth",
         {{"ics_auth", 0, "110", NULL}, {"ics_pay_subscription_create", 0, "152", NULL}},
         1,
         "152"},
        {"token_auth",
         {{"ics_auth", 0, "110", NULL}, {"ics_pay_subscription_create", -1, "151", NULL}},
         1,
         "151"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ac = strcmp(cases[i].op, "auth_capture") == 0;
        const char *todo = ac ? PART_TODO_CAPTURE_UNKNOWN : PART_TODO_AUTH;
        /* The amount sent, then a part below it. */
        for (int below = 0; below <= 1; below++) {
            if (ac)
                auth_capture_row(&w, true);
            else
                auth_row(&w, true);
            w.reverse_unconfirmed = true;
            copy(w.op, sizeof w.op, cases[i].op);
            int64_t amount = ac ? (below ? 5500 : 15000) : (below ? 25000 : 50000);
            decision_ex want[2];
            for (int twin = 1; twin >= 0; twin--) {
                record_of(res, amount, cases[i].apps, cases[i].timed, twin);
                decision_ex x = decide(&p, cases[i].op, REF, 0, NULL, res, 1, 3600.0, w.amount);
                if (x.d.kind != PL_RESOLVE_RETRY)
                    fail_msg("case %zu, below %d, twin %d: kind %d (%s)", i, below, twin,
                             (int)x.d.kind, x.d.why);
                assert_false(x.from_answer);
                char says[64];
                snprintf(says, sizeof says, "the bureau's record says %s (received, then",
                         cases[i].reason);
                if (!strstr(x.d.why, says))
                    fail_msg("case %zu: %s\n  does not say %s", i, x.d.why, says);
                assert_int_equal(
                    pl_resolver_decide(&p, cases[i].op, REF, 0, NULL, res, 1, 3600.0).kind,
                    PL_RESOLVE_RETRY);
                x = decide(&p, cases[i].op, REF, 0, NULL, res, p.max_queries, 3600.0, w.amount);
                assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
                assert_false(x.from_answer);
                assert_true(x.part_unknown);
                assert_false(escalation_reverses(&w, &x));
                assert_false(x.captured);
                assert_string_equal(x.record_rid, TXN);
                assert_ends_with(x.d.why, todo);
                char start[120];
                if (ac)
                    snprintf(start, sizeof start, "escalated after 12 queries; %s after 110; ",
                             cases[i].reason);
                else
                    snprintf(start, sizeof start,
                             "escalated after 12 queries; query 12: ERROR %s after a partial "
                             "approval (110); ",
                             cases[i].reason);
                if (strncmp(x.d.why, start, strlen(start)) != 0)
                    fail_msg("case %zu, twin %d: %s\n  does not start with %s", i, twin, x.d.why,
                             start);
                want[twin] = x;
            }
            /* As its ERROR twin, word for word. */
            assert_string_equal(want[0].d.why, want[1].d.why);
        }
    }
    free(res);
}

/*
 * A record read as a refusal (FOUND_DECLINED) whose reason is 151, 152 or 250 without a partial
 * approval — the operation's own application RCode 0 with it, an auth+capture's capture or a
 * token+auth's token after ics_auth 100 — cannot tell whether the request was processed either:
 * treated as its ERROR twin (RCode -1) is, asked again, then escalated at the last query (an
 * authorization the policy reverses when it cannot be confirmed: its timeout reversal, for the
 * whole amount, nothing partial being held). Before, it was applied `declined`: the order system
 * sent the capture, credit or charge again while the first may have been processed, and an
 * auth+capture's `.sdr` went for an authorization perhaps captured. A time-out of an application
 * that is not the operation's (ics_score) beside the issuer's decline leaves that decline, as
 * before.
 */
static void test_refused_timeout_asked_again(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    row w;
    static const struct {
        const char *op;
        app_spec apps[3];
        int timed;
        const char *reason;
    } cases[] = {
        {"auth", {{"ics_auth", 0, "151", NULL}}, 0, "151"},
        {"auth", {{"ics_auth", 0, "152", NULL}}, 0, "152"},
        {"auth", {{"ics_auth", 0, "250", NULL}}, 0, "250"},
        {"capture", {{"ics_bill", 0, "250", NULL}}, 0, "250"},
        {"credit", {{"ics_credit", 0, "151", NULL}}, 0, "151"},
        {"reversal", {{"ics_auth_reversal", 0, "152", NULL}}, 0, "152"},
        {"token", {{"ics_pay_subscription_create", 0, "151", NULL}}, 0, "151"},
        {"auth_capture", {{"ics_auth", 1, "100", NULL}, {"ics_bill", 0, "250", NULL}}, 1, "250"},
        {"token_auth",
         {{"ics_auth", 1, "100", NULL}, {"ics_pay_subscription_create", 0, "151", NULL}},
         1,
         "151"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].op, "auth_capture") == 0)
            auth_capture_row(&w, true);
        else
            auth_row(&w, true);
        w.reverse_unconfirmed = true;
        copy(w.op, sizeof w.op, cases[i].op);
        char want[2][sizeof w.amount + 200];
        for (int twin = 1; twin >= 0; twin--) {
            record_of(res, 50000, cases[i].apps, cases[i].timed, twin);
            decision_ex x = decide(&p, cases[i].op, REF, 0, NULL, res, 1, 3600.0, w.amount);
            if (x.d.kind != PL_RESOLVE_RETRY)
                fail_msg("case %zu, twin %d: kind %d (%s)", i, twin, (int)x.d.kind, x.d.why);
            assert_false(x.from_answer);
            assert_int_equal(pl_resolver_decide(&p, cases[i].op, REF, 0, NULL, res, 1, 3600.0).kind,
                             PL_RESOLVE_RETRY);
            x = decide(&p, cases[i].op, REF, 0, NULL, res, p.max_queries, 3600.0, w.amount);
            assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
            assert_false(x.from_answer);
            assert_false(x.part_unknown);
            assert_int_equal(escalation_reverses(&w, &x), can_reverse(&w));
            snprintf(want[twin], sizeof want[twin],
                     "escalated after 12 queries; query 12: the bureau's record says %s "
                     "(received, then a time-out): it cannot tell whether the request was "
                     "processed",
                     cases[i].reason);
            assert_string_equal(x.d.why, want[twin]);
        }
    }
    /* The issuer's decline beside another application's time-out: declined, as before. */
    static const app_spec score[] = {
        {"ics_auth", 0, "203", NULL}, {"ics_score", -1, "151", NULL}, {NULL, 0, NULL, NULL}};
    record_of(res, 50000, score, -1, false);
    pl_resolve_decision d = pl_resolver_decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0);
    assert_int_equal(d.kind, PL_RESOLVE_APPLY);
    assert_int_equal(d.outcome.status, PL_ST_DECLINED);
    assert_string_equal(d.outcome.vendor_response, "203");
    /* An authorization refused outright keeps its refusal beside a time-out of another
     * application, wherever that stands and whatever its RCode: the fraud score's before it, an
     * auth+capture's capture or a token+auth's token after the refusal (nothing is captured or
     * tokenised after it). Applied `declined` with its reason — a soft decline's 230, whose
     * `.sdr`/`.rev` releases the issuer's hold, among them. (A first reading of the time-out
     * rule asked these again for 12 queries and escalated them without the step.) */
    static const struct {
        const char *op;
        app_spec apps[3];
        const char *reason;
    } refused[] = {
        {"auth", {{"ics_score", 0, "151", NULL}, {"ics_auth", 0, "203", NULL}}, "203"},
        {"auth_capture", {{"ics_auth", 0, "203", NULL}, {"ics_bill", -1, "", "ETIMEOUT"}}, "203"},
        {"auth_capture", {{"ics_bill", 0, "151", NULL}, {"ics_auth", 0, "230", NULL}}, "230"},
        {"auth_capture", {{"ics_auth", 0, "230", NULL}, {"ics_bill", 0, "250", NULL}}, "230"},
        {"token_auth",
         {{"ics_auth", 0, "230", NULL}, {"ics_pay_subscription_create", -1, "", "ETIMEOUT"}},
         "230"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        record_of(res, 50000, refused[i].apps, -1, false);
        d = pl_resolver_decide(&p, refused[i].op, REF, 0, NULL, res, 1, 3600.0);
        if (d.kind != PL_RESOLVE_APPLY || d.outcome.status != PL_ST_DECLINED)
            fail_msg("refused case %zu: kind %d status %d (%s)", i, (int)d.kind,
                     (int)d.outcome.status, d.why);
        assert_string_equal(d.outcome.vendor_response, refused[i].reason);
    }
    free(res);
}

/*
 * A token+auth whose queried record says ics_auth RCode 0 with ReasonCode 110 and the amount
 * approved, and no ics_pay_subscription_create (CyberSource skips the token after a partial
 * approval it writes as a refusal): the partial approval without a token, as the answer in time
 * reads (REJECT 110 with ccAuthReply's amount: ACCEPT 110, no token). `approved` for the record's
 * 250.00 of the 500.00 sent, with its transaction id: the order system captures or reverses that
 * authorization, and nothing else reverses it (no `.rev`, no issuer_authorized record). Before,
 * FOUND_ERROR: applied `error` (the order system authorizing again beside the hold).
 */
static void test_token_auth_partial_without_token(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    row w;
    pl_resolve_outcome o;
    char rev[51], amount[24];
    for (int rcode = 0; rcode <= 1; rcode++) {
        auth_row(&w, true);
        copy(w.op, sizeof w.op, "token_auth");
        one_record(res, rcode, "110", -2, "", 25000);
        decision_ex x = query_op("token_auth", res, &w, &o);
        assert_string_equal(x.res.decision, "ACCEPT");
        assert_string_equal(x.res.reason_code, "110");
        assert_int_equal(o.status, PL_ST_APPROVED);
        assert_true(o.has_amount);
        assert_int_equal(o.amount, 25000);
        assert_string_equal(o.vendor_response, "110");
        assert_string_equal(o.transaction_id, TXN);
        assert_int_equal(reversal(&w, &o, rev, amount), 0);
        assert_false(issuer_authorized_outcome(&w, &o));
    }
    free(res);
}

/*
 * The operator's step in an escalation from a record names the record's RequestID as
 * --transaction-id (before, always the placeholder <RequestID>, which the operator looked up in
 * the Business Center while the resolver had the record in hand), where the reason holds it
 * whole beside the text; else it keeps the placeholder and the text stays whole (the id is on
 * the row: decision_ex.record_rid, required_response.record_request_id, `wreq show`). The
 * decision says too whether the row is to be recorded captured (decision_ex.captured:
 * captured_unappliable, partial_unreadable's captured branch). A RequestID `wreq resolve
 * --transaction-id` would refuse (a space, a card number) is neither named nor kept.
 */
static void test_step_names_record_request_id(void **state)
{
    (void)state;
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;

    /* Captured while Decision Manager rejected it (captured_unappliable). */
    one_record(res, 1, "100", 0, "481", 15000);
    add_app(res, "ics_bill", 1, "100");
    decision_ex x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_string_equal(x.d.why, "query 1: captured (ics_bill) while the record says REJECT 481; "
                                 "wreq resolve --outcome approved --amount <captured> "
                                 "--transaction-id " TXN ", credit it if not fulfilled (README)");
    assert_true(x.captured);
    assert_string_equal(x.record_rid, TXN);
    assert_string_equal(pl_resolver_decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0).why,
                        x.d.why);

    /* A partial approval captured, no amount below what was sent (partial_unreadable's captured
     * branch). */
    one_record(res, 1, "110", -2, "", 15000);
    add_app(res, "ics_bill", 1, "100");
    x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_string_equal(x.d.why, "query 1: 110 captured (ics_bill), no amount below the 150.00 "
                                 "sent; wreq resolve --outcome approved --amount <captured> "
                                 "--transaction-id " TXN ", credit it if not fulfilled (README)");
    assert_true(x.captured);
    assert_string_equal(x.record_rid, TXN);

    /* An authorization's partial approval: not captured. */
    one_record(res, 1, "110", -2, "", 50000);
    x = decide(&p, "auth", REF, 0, NULL, res, 1, 3600.0, "500.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_string_equal(x.d.why, "query 1: partial approval (110), no amount below the 500.00 "
                                 "sent; wreq resolve --outcome approved|rejected --amount <part> "
                                 "--transaction-id " TXN " (README)");
    assert_false(x.captured);
    assert_string_equal(x.record_rid, TXN);

    /* A token+auth whose token timed out after the 110, at the last query (decide's
     * received_timeout branch). */
    one_record(res, 1, "110", -2, "", 50000);
    add_app(res, "ics_pay_subscription_create", -1, "151");
    x = decide(&p, "token_auth", REF, 0, NULL, res, p.max_queries, 3600.0, "500.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_string_equal(x.d.why,
                        "escalated after 12 queries; query 12: ERROR 151 after a partial approval "
                        "(110); wreq resolve --outcome approved|rejected --amount <part> "
                        "--transaction-id " TXN " (README)");
    assert_false(x.captured);
    assert_string_equal(x.record_rid, TXN);

    /* Where the id does not fit beside the text, the placeholder, and the text whole. */
    one_record(res, 1, "110", -2, "", 15000);
    add_app(res, "ics_bill", 0, "102");
    x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
    assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
    assert_string_equal(x.d.why, "query 1: REJECT 102 after a partial approval (110), no amount "
                                 "below the 150.00 sent; wreq resolve --outcome declined "
                                 "--vendor-response 230 --amount <part> --transaction-id "
                                 "<RequestID> (README)");
    assert_false(x.captured);
    assert_string_equal(x.record_rid, TXN); /* kept on the row all the same */

    /* A RequestID `wreq resolve --transaction-id` refuses, or one a shell would read as more
     * than an id: neither named nor kept. */
    static const char *const unusable[] = {"40362 89939370176056470", "4111111111111111",
                                           "4036289939$(id)", "40362899;id", "4036'x"};
    for (size_t i = 0; i < sizeof unusable / sizeof unusable[0]; i++) {
        one_record(res, 1, "100", 0, "481", 15000);
        add_app(res, "ics_bill", 1, "100");
        snprintf(res->recs[0].request_id, sizeof res->recs[0].request_id, "%s", unusable[i]);
        x = decide(&p, "auth_capture", REF, 0, NULL, res, 1, 3600.0, "150.00");
        assert_int_equal(x.d.kind, PL_RESOLVE_ESCALATE);
        assert_string_equal(x.d.why,
                            "query 1: captured (ics_bill) while the record says REJECT 481; wreq "
                            "resolve --outcome approved --amount <captured> --transaction-id "
                            "<RequestID>, credit it if not fulfilled (README)");
        assert_true(x.captured);
        assert_string_equal(x.record_rid, "");
    }
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_reject_after_auth_100_reversed),
        cmocka_unit_test(test_score_reject_after_auth_110_reversed_for_part),
        cmocka_unit_test(test_declined_token_auth_after_auth_100_reversed),
        cmocka_unit_test(test_error_after_auth_100_reversed),
        cmocka_unit_test(test_refused_auth_capture_after_auth_100_reversed),
        cmocka_unit_test(test_captured_auth_capture_escalated),
        cmocka_unit_test(test_partial_approval_not_below_sent),
        cmocka_unit_test(test_refused_partial_not_below_sent),
        cmocka_unit_test(test_partial_then_timeout_escalated),
        cmocka_unit_test(test_refused_timeout_after_partial_escalated),
        cmocka_unit_test(test_refused_timeout_asked_again),
        cmocka_unit_test(test_token_auth_partial_without_token),
        cmocka_unit_test(test_step_names_record_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
