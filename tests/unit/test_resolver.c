/*
 * test_resolver.c: the pure part of the resolver of unknown outcomes (common/resolver.h): the
 * wait between two bureau queries (pl_resolve_retry_delay_s), the defaults of a protocol and
 * worker without a resolution_policy row (pl_resolve_policy_default, compared with migration
 * 022 itself), and what a CyberSource On-Demand Single Transaction Query answer means for a row
 * (pl_resolver_decide) for every operation: approved, declined, rejected, held for review,
 * failed, not there (believed or not yet), the query failing, the last query.
 *
 * Query results are built by hand (pl_cyb_query_result is a plain struct), as
 * pl_cyb_query_parse would fill them from a Transaction Detail Report: test_cyb_query.c tests
 * the reading, this file what the resolver makes of it. Nothing here touches a database or the
 * network.
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

#include "resolver.h"

#define REF "0070000359700000"
#define RID "4036289939370176056470"

/* ---- building query results ----------------------------------------------------------- */

static pl_cyb_query_record *add_record(pl_cyb_query_result *res, const char *ref, const char *rid)
{
    assert_true(res->nrecs < PL_CYB_QUERY_MAX_RECORDS);
    pl_cyb_query_record *r = &res->recs[res->nrecs++];
    memset(r, 0, sizeof *r);
    snprintf(r->merchant_reference, sizeof r->merchant_reference, "%s", ref);
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    snprintf(r->request_date, sizeof r->request_date, "2024-03-05T14:01:58+00:00");
    snprintf(r->currency, sizeof r->currency, "USD");
    return r;
}

/* An ApplicationReply; rflag and reason may be "" (absent). */
static void add_app(pl_cyb_query_record *r, const char *name, int rcode, const char *rflag,
                    const char *reason)
{
    assert_true(r->napps < PL_CYB_QUERY_MAX_APPS);
    pl_cyb_app_reply *a = &r->apps[r->napps++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->rcode = rcode;
    a->has_rcode = true;
    snprintf(a->rflag, sizeof a->rflag, "%s", rflag);
    snprintf(a->rmsg, sizeof a->rmsg, "%s",
             rcode == 1 ? "Request was processed successfully." : "The request was not processed.");
    snprintf(a->reason_code, sizeof a->reason_code, "%s", reason);
}

static void set_payment(pl_cyb_query_record *r, int64_t amount, const char *auth_code,
                        const char *avs, const char *cvv)
{
    r->has_amount = true;
    r->amount = amount;
    snprintf(r->auth_code, sizeof r->auth_code, "%s", auth_code);
    snprintf(r->avs, sizeof r->avs, "%s", avs);
    snprintf(r->cvv, sizeof r->cvv, "%s", cvv);
}

/* A result holding one record of REF/RID with one application reply. */
static pl_cyb_query_record *one(pl_cyb_query_result *res, const char *app, int rcode,
                                const char *rflag, const char *reason)
{
    memset(res, 0, sizeof *res);
    pl_cyb_query_record *r = add_record(res, REF, RID);
    add_app(r, app, rcode, rflag, reason);
    return r;
}

/* The decision on a first query of a request sent long ago (so "not there" would be believed). */
static pl_resolve_decision decide(const char *op, const pl_cyb_query_result *res)
{
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    return pl_resolver_decide(&p, op, REF, 0, NULL, res, 1, 3600.0);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* An outcome learnt from the bureau's record. */
static void assert_applied(const pl_resolve_decision *d, pl_status status, const char *decision,
                           const char *vendor_response)
{
    if (d->kind != PL_RESOLVE_APPLY)
        fail_msg("kind %d (why: %s), want APPLY", (int)d->kind, d->why);
    assert_int_equal(d->outcome.status, status);
    assert_string_equal(d->outcome.decision, decision);
    assert_string_equal(d->outcome.vendor_response, vendor_response);
    /* The note says what settled it (resolution_note, the reply's message). */
    assert_contains(d->outcome.note, "found the request");
}

static void assert_no_amount(const pl_resolve_decision *d)
{
    assert_false(d->outcome.has_amount);
}

static void assert_amount(const pl_resolve_decision *d, int64_t amount)
{
    assert_true(d->outcome.has_amount);
    assert_int_equal(d->outcome.amount, amount);
}

/* ---- pl_resolve_retry_delay_s ---------------------------------------------------------- */

static void test_delay_backoff_and_cap(void **state)
{
    (void)state;
    pl_resolve_policy p = pl_resolve_policy_default(); /* 30 s, × 2, at most 900 s */
    /* The wait after the first query is retry_after_s; each further one doubles. */
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1), 30);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 2), 60);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 3), 120);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 4), 240);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 5), 480);
    /* 960 is more than max_retry_after_s. */
    assert_int_equal(pl_resolve_retry_delay_s(&p, 6), 900);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 7), 900);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 12), 900);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1000), 900);

    /* A fractional factor: 10, 15, 22.5, 33.75, 50.6..., cut to whole seconds. */
    p.retry_after_s = 10;
    p.backoff_factor = 1.5;
    p.max_retry_after_s = 40;
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1), 10);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 2), 15);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 3), 22);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 4), 33);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 5), 40);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 50), 40);

    /* The cap holds at the first query too (a policy whose first wait exceeds it). */
    p.retry_after_s = 100;
    p.backoff_factor = 2;
    p.max_retry_after_s = 50;
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1), 50);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 3), 50);
}

static void test_delay_factor_one(void **state)
{
    (void)state;
    pl_resolve_policy p = pl_resolve_policy_default();
    p.retry_after_s = 7;
    p.backoff_factor = 1.0;
    p.max_retry_after_s = 900;
    for (int q = 1; q <= 12; q++)
        assert_int_equal(pl_resolve_retry_delay_s(&p, q), 7);
    /* A factor below 1 never shortens the wait. */
    p.backoff_factor = 0.5;
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1), 7);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 5), 7);
}

static void test_delay_at_least_one_second(void **state)
{
    (void)state;
    pl_resolve_policy p = pl_resolve_policy_default();
    p.retry_after_s = 0;
    p.backoff_factor = 1;
    p.max_retry_after_s = 0;
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1), 1);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 5), 1);
    p.retry_after_s = -30;
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1), 1);
    /* The shortest policy migration 022 allows. */
    p.retry_after_s = 1;
    p.max_retry_after_s = 1;
    p.backoff_factor = 10;
    assert_int_equal(pl_resolve_retry_delay_s(&p, 1), 1);
    assert_int_equal(pl_resolve_retry_delay_s(&p, 12), 1);
    /* Queries counted from 1: a 0 is the first wait, not less. */
    p = pl_resolve_policy_default();
    assert_int_equal(pl_resolve_retry_delay_s(&p, 0), 30);
}

/* ---- pl_resolve_policy_default = migration 022 ---------------------------------------- */

static char *read_migration(void)
{
    const char *dir = getenv("PAYLINK_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/schema/migrations/022_resolver.sql",
             dir && *dir ? dir : PAYLINK_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    assert_true(n > 0 && n < 65535);
    return buf;
}

/* The DEFAULT of column `col` in the CREATE TABLE resolution_policy of sql, as written. */
static void column_default(const char *sql, const char *col, char *out, size_t outsize)
{
    const char *table = strstr(sql, "CREATE TABLE resolution_policy");
    assert_non_null(table);
    const char *end = strstr(table, ");");
    assert_non_null(end);
    char needle[64];
    snprintf(needle, sizeof needle, "\n    %s ", col);
    const char *line = strstr(table, needle);
    if (!line || line > end)
        fail_msg("no column %s in resolution_policy", col);
    const char *eol = strchr(line + 1, '\n');
    const char *def = strstr(line, "DEFAULT ");
    if (!def || def > eol)
        fail_msg("column %s has no DEFAULT", col);
    def += strlen("DEFAULT ");
    size_t n = strcspn(def, " ,\n");
    if (n >= outsize)
        n = outsize - 1;
    memcpy(out, def, n);
    out[n] = '\0';
}

static int int_default(const char *sql, const char *col)
{
    char v[32];
    column_default(sql, col, v, sizeof v);
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v)
        fail_msg("column %s: DEFAULT %s is not an integer", col, v);
    return (int)n;
}

static void test_policy_default_is_migration_022(void **state)
{
    (void)state;
    char *sql = read_migration();
    pl_resolve_policy p = pl_resolve_policy_default();
    assert_int_equal(p.first_query_after_s, int_default(sql, "first_query_after_s"));
    assert_int_equal(p.retry_after_s, int_default(sql, "retry_after_s"));
    assert_int_equal(p.max_retry_after_s, int_default(sql, "max_retry_after_s"));
    assert_int_equal(p.not_found_after_s, int_default(sql, "not_found_after_s"));
    assert_int_equal(p.max_queries, int_default(sql, "max_queries"));
    assert_int_equal(p.lease_s, int_default(sql, "lease_s"));
    char v[32];
    column_default(sql, "backoff_factor", v, sizeof v);
    assert_true(p.backoff_factor == strtod(v, NULL));
    /* ask_bureau has no DEFAULT: a protocol and worker without a row is never asked. */
    assert_false(p.ask_bureau);
    assert_contains(sql, "A protocol and worker without a row is never asked");
    /* The values themselves, so that a change to both is a decision, not an accident. */
    assert_int_equal(p.first_query_after_s, 10);
    assert_int_equal(p.retry_after_s, 30);
    assert_true(p.backoff_factor == 2.0);
    assert_int_equal(p.max_retry_after_s, 900);
    assert_int_equal(p.not_found_after_s, 120);
    assert_int_equal(p.max_queries, 12);
    assert_int_equal(p.lease_s, 120);
    free(sql);
}

/* ---- found: every operation ------------------------------------------------------------ */

static void test_auth_approved(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "888888", "Y", "M");
    pl_resolve_decision d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 12000);
    assert_string_equal(d.outcome.transaction_id, RID);
    assert_string_equal(d.outcome.auth_number, "888888");
    assert_string_equal(d.outcome.avs, "Y");
    assert_string_equal(d.outcome.cvv, "M");
    assert_string_equal(d.outcome.hold_reason, "");
    assert_contains(d.outcome.note, "processed");

    /* Without a ReasonCode (older report versions) a success is 100. */
    r->apps[0].reason_code[0] = '\0';
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 12000);

    /* A partial approval: the amount the bureau authorized, its reason. */
    r = one(&res, "ics_auth", 1, "SOK", "110");
    set_payment(r, 5000, "123456", "", "");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "110");
    assert_amount(&d, 5000);
    assert_string_equal(d.outcome.auth_number, "123456");

    /* A record without PaymentData/Amount: approved without an amount (the row's applies). */
    r = one(&res, "ics_auth", 1, "SOK", "100");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_no_amount(&d);
}

static void test_token_auth_approved(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_pay_subscription_create", 1, "SOK", "100");
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 4599, "654321", "X", "P");
    pl_resolve_decision d = decide("token_auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 4599);
    assert_string_equal(d.outcome.transaction_id, RID);
    assert_string_equal(d.outcome.auth_number, "654321");
    assert_string_equal(d.outcome.avs, "X");
    assert_string_equal(d.outcome.cvv, "P");

    /* The authorization declined: the authorization's reason. */
    r = one(&res, "ics_pay_subscription_create", 1, "SOK", "100");
    add_app(r, "ics_auth", 0, "DCARDREFUSED", "203");
    d = decide("token_auth", &res);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "203");
    assert_no_amount(&d);
}

static void test_capture_approved(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_bill", 1, "SOK", "100");
    set_payment(r, 7550, "", "", "");
    pl_resolve_decision d = decide("capture", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 7550);
    assert_string_equal(d.outcome.transaction_id, RID);
    assert_string_equal(d.outcome.auth_number, "");

    /* A capture is not found by an authorization of the same merchant reference. */
    one(&res, "ics_auth", 1, "SOK", "100");
    d = decide("capture", &res);
    assert_int_equal(d.kind, PL_RESOLVE_APPLY);
    assert_int_equal(d.outcome.status, PL_ST_ERROR);
    assert_contains(d.outcome.note, "no record");
}

static void test_auth_capture_approved(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_bill", 1, "SOK", "100");
    set_payment(r, 20000, "777777", "Y", "M");
    pl_resolve_decision d = decide("auth_capture", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 20000);
    assert_string_equal(d.outcome.transaction_id, RID);
    assert_string_equal(d.outcome.auth_number, "777777");

    /* The authorization declined: nothing was captured. */
    r = one(&res, "ics_auth", 0, "DCARDREFUSED", "204");
    d = decide("auth_capture", &res);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "204");
    assert_no_amount(&d);
}

/* An authorization and capture whose authorization succeeded and whose capture did not: the
 * outcome is the capture's, and so is its reason (the authorization's 100 "Successful
 * transaction" beside a decline would contradict the status). */
static void test_auth_capture_capture_failed(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_bill", 0, "DINVALIDDATA", "233");
    set_payment(r, 20000, "777777", "Y", "M");
    pl_resolve_decision d = decide("auth_capture", &res);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "233");
    assert_no_amount(&d);

    r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_bill", -1, "ESYSTEM", "150");
    d = decide("auth_capture", &res);
    assert_applied(&d, PL_ST_ERROR, "ERROR", "150");
    assert_no_amount(&d);
}

static void test_credit_approved(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_credit", 1, "SOK", "100");
    set_payment(r, 1999, "", "", "");
    pl_resolve_decision d = decide("credit", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 1999);
    assert_string_equal(d.outcome.transaction_id, RID);

    one(&res, "ics_credit", -1, "ESYSTEM", "");
    d = decide("credit", &res);
    assert_applied(&d, PL_ST_ERROR, "ERROR", "150");
    assert_no_amount(&d);
}

static void test_reversal(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth_reversal", 1, "SOK", "100");
    set_payment(r, 12000, "", "", "");
    pl_resolve_decision d = decide("reversal", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 12000);
    assert_string_equal(d.outcome.transaction_id, RID);

    /* Already captured (238): declined, not an error. */
    one(&res, "ics_auth_reversal", 0, "DNOAUTH", "238");
    d = decide("reversal", &res);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "238");
    assert_no_amount(&d);

    /* An authorization of the same reference is not a reversal. */
    one(&res, "ics_auth", 1, "SOK", "100");
    d = decide("reversal", &res);
    assert_int_equal(d.kind, PL_RESOLVE_APPLY);
    assert_int_equal(d.outcome.status, PL_ST_ERROR);
    assert_contains(d.outcome.note, "no record");
}

/* ---- found: Decision Manager, declines, errors ----------------------------------------- */

static void test_auth_review(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "DREVIEW", "");
    set_payment(r, 12000, "888888", "Y", "M");
    pl_resolve_decision d = decide("auth", &res);
    assert_applied(&d, PL_ST_REVIEW, "REVIEW", "480");
    assert_string_equal(d.outcome.transaction_id, RID);
    assert_string_equal(d.outcome.auth_number, "888888");

    /* ReasonCode 480 says it without the flag. */
    r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "", "480");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_REVIEW, "REVIEW", "480");

    /* Decision Manager's verdict comes before the authorization in the report too. */
    memset(&res, 0, sizeof res);
    r = add_record(&res, REF, RID);
    add_app(r, "ics_decision", 0, "DREVIEW", "480");
    add_app(r, "ics_auth", 1, "SOK", "100");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_REVIEW, "REVIEW", "480");

    /* Decision Manager accepted: approved. */
    r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 1, "SOK", "100");
    set_payment(r, 12000, "888888", "", "");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 12000);

    /* token_auth goes through Decision Manager too. */
    r = one(&res, "ics_pay_subscription_create", 1, "SOK", "100");
    add_app(r, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "DREVIEW", "480");
    d = decide("token_auth", &res);
    assert_applied(&d, PL_ST_REVIEW, "REVIEW", "480");
}

static void test_auth_rejected(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "DREJECT", "");
    set_payment(r, 12000, "888888", "", "");
    pl_resolve_decision d = decide("auth", &res);
    assert_applied(&d, PL_ST_REJECTED, "REJECT", "481");
    assert_no_amount(&d);

    r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "", "481");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_REJECTED, "REJECT", "481");
    assert_no_amount(&d);

    /* A token_auth or auth_capture Decision Manager rejected: the token or the capture was
     * skipped (not in the report); still the authorization's reject, never an `error` (which
     * nothing would reverse). */
    r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "DREJECT", "481");
    set_payment(r, 12000, "888888", "", "");
    d = decide("token_auth", &res);
    assert_applied(&d, PL_ST_REJECTED, "REJECT", "481");
    assert_string_equal(d.outcome.transaction_id, RID);
    d = decide("auth_capture", &res);
    assert_applied(&d, PL_ST_REJECTED, "REJECT", "481");
}

static void test_auth_declined(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    one(&res, "ics_auth", 0, "DCARDREFUSED", "203");
    pl_resolve_decision d = decide("auth", &res);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "203");
    assert_no_amount(&d);
    assert_string_equal(d.outcome.transaction_id, RID);
    assert_string_equal(d.outcome.auth_number, "");
    assert_contains(d.outcome.note, "declined");

    /* A declined record with an Amount (the amount asked for) still approves nothing. */
    pl_cyb_query_record *r = one(&res, "ics_auth", 0, "DCARDREFUSED", "204");
    set_payment(r, 12000, "", "", "");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "204");
    assert_no_amount(&d);

    /* 400 (fraud score) is a rejection. */
    one(&res, "ics_auth", 0, "DSCORE", "400");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_REJECTED, "REJECT", "400");
    assert_no_amount(&d);
}

/* A record approving more than the request sent is not believed (the step escalates it). */
static void test_record_approves_above_sent(void **state)
{
    (void)state;
    pl_bureau_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.decision, sizeof res.decision, "ACCEPT");
    res.has_amount = true;
    res.amount = 5001;
    assert_true(pl_resolver_approves_above(&res, "50.00"));
    res.amount = 5000;
    assert_false(pl_resolver_approves_above(&res, "50.00"));
    res.amount = 2500; /* a partial approval */
    assert_false(pl_resolver_approves_above(&res, "50.00"));
    res.amount = 5001;
    snprintf(res.decision, sizeof res.decision, "REJECT");
    assert_false(pl_resolver_approves_above(&res, "50.00"));
    /* A review holds its amount as an approval does (the engine refuses one above what was
     * sent in time; applied from a record, the order would count on a hold never asked for). */
    snprintf(res.decision, sizeof res.decision, "REVIEW");
    assert_true(pl_resolver_approves_above(&res, "50.00"));
    snprintf(res.decision, sizeof res.decision, "ACCEPT");
    assert_false(pl_resolver_approves_above(&res, "not an amount"));
}

static void test_auth_error(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    one(&res, "ics_auth", -1, "ESYSTEM", "150");
    pl_resolve_decision d = decide("auth", &res);
    assert_applied(&d, PL_ST_ERROR, "ERROR", "150");
    assert_no_amount(&d);
    assert_string_equal(d.outcome.transaction_id, RID);
    assert_contains(d.outcome.note, "failed");

    /* Without a ReasonCode an error is 150 (General system failure). */
    one(&res, "ics_auth", -1, "ESYSTEM", "");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_ERROR, "ERROR", "150");

    /* Its own reason when it has one. */
    one(&res, "ics_auth", -1, "ESYSTEM", "102");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_ERROR, "ERROR", "102");

    /* 151, 152 and 250 (received, then a time-out) say nothing of what happened: never
     * applied (an error would free the order system to send it again); asked again, then
     * escalated. */
    static const char *const received[] = {"151", "152", "250"};
    static const char *const ops[] = {"auth", "capture"};
    for (size_t i = 0; i < 3; i++) {
        for (size_t k = 0; k < 2; k++) {
            one(&res, strcmp(ops[k], "auth") == 0 ? "ics_auth" : "ics_bill", -1, "ETIMEOUT",
                received[i]);
            d = decide(ops[k], &res);
            assert_int_equal(d.kind, PL_RESOLVE_RETRY);
            assert_contains(d.why, "received, then a time-out");
        }
    }
    /* Also when the report has no ReasonCode and says the time-out by its RFlag alone (it was
     * applied as a final error 150: the order system would send it again, and charge twice
     * if the first was processed). */
    for (size_t k = 0; k < 2; k++) {
        one(&res, strcmp(ops[k], "auth") == 0 ? "ics_auth" : "ics_bill", -1, "ETIMEOUT", "");
        d = decide(ops[k], &res);
        assert_int_equal(d.kind, PL_RESOLVE_RETRY);
        assert_contains(d.why, "151");
    }
}

/* A retried request: several records of one merchant reference; an approval wins whatever
 * the other attempts say (money moved), and its own ids are the ones applied. */
static void test_retried_request_best_record(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    memset(&res, 0, sizeof res);
    pl_cyb_query_record *r = add_record(&res, REF, "1111111111111111111111");
    add_app(r, "ics_auth", -1, "ESYSTEM", "150");
    r = add_record(&res, REF, "2222222222222222222222");
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "222222", "Y", "M");
    r = add_record(&res, REF, "3333333333333333333333");
    add_app(r, "ics_auth", 0, "DCARDREFUSED", "203");
    pl_resolve_decision d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_amount(&d, 12000);
    assert_string_equal(d.outcome.transaction_id, "2222222222222222222222");
    assert_string_equal(d.outcome.auth_number, "222222");

    /* A record of another merchant reference is never taken, however good. */
    memset(&res, 0, sizeof res);
    r = add_record(&res, "another-reference", "9999999999999999999999");
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "999999", "", "");
    r = add_record(&res, REF, "3333333333333333333333");
    add_app(r, "ics_auth", 0, "DCARDREFUSED", "203");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "203");
    assert_string_equal(d.outcome.transaction_id, "3333333333333333333333");
}

/* An authorization approved twice under one request (a retry the bureau received): the first is
 * applied, as before, and the applied row's note names the other, whose hold nothing paylink
 * applies reverses, for an operator to reverse in the Business Center (resolver.c also logs it).
 * Before, the note said nothing of it. */
static void test_retried_auth_approved_twice_noted(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    memset(&res, 0, sizeof res);
    pl_cyb_query_record *r = add_record(&res, REF, "1111111111111111111111");
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "111111", "Y", "M");
    r = add_record(&res, REF, "2222222222222222222222");
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "222222", "Y", "M");
    pl_resolve_decision d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_string_equal(d.outcome.transaction_id, "1111111111111111111111");
    assert_string_equal(d.outcome.auth_number, "111111");
    assert_contains(d.outcome.note, "found the request (processed)");
    assert_contains(d.outcome.note, "reverse in the Business Center: 2222222222222222222222");
}

/* ---- records that cannot be read, and several applied ------------------------------------- */

/* An ApplicationReply without an RCode (as <RCode/> or none at all reads). */
static void add_app_no_rcode(pl_cyb_query_record *r, const char *name, const char *rflag,
                             const char *reason)
{
    add_app(r, name, 0, rflag, reason);
    r->apps[r->napps - 1].has_rcode = false;
}

/* A result holding one record of REF/RID with one application reply without an RCode. */
static pl_cyb_query_record *one_no_rcode(pl_cyb_query_result *res, const char *app,
                                         const char *rflag, const char *reason)
{
    memset(res, 0, sizeof *res);
    pl_cyb_query_record *r = add_record(res, REF, RID);
    add_app_no_rcode(r, app, rflag, reason);
    return r;
}

/* The decision at query `queries` of a request sent long ago. */
static pl_resolve_decision decide_at(const char *op, const pl_cyb_query_result *res, int queries)
{
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    return pl_resolver_decide(&p, op, REF, 0, NULL, res, queries, 3600.0);
}

/* Fails unless d asks again: never applied. */
static void assert_asked_again(const pl_resolve_decision *d, const char *why)
{
    if (d->kind != PL_RESOLVE_RETRY)
        fail_msg("kind %d (why: %s; outcome %d %s %s), want RETRY", (int)d->kind, d->why,
                 (int)d->outcome.status, d->outcome.decision, d->outcome.vendor_response);
    assert_contains(d->why, why);
}

/*
 * A record in which an application of the operation has no RCode, or one other than 1, 0 or
 * -1, does not say what became of the request: asked again, escalated at the last query, never
 * applied. Before, a capture's ics_bill SOK/100 without an RCode was applied `error` 100 (150
 * without a reason, or with RCode 2), its claim released, and the order system sent the debit
 * again: charged twice. So for every operation.
 */
static void test_unreadable_record_asked_again(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    static const struct {
        const char *app, *op;
    } ops[] = {{"ics_bill", "capture"},
               {"ics_credit", "credit"},
               {"ics_auth_reversal", "reversal"},
               {"ics_auth", "auth"},
               {"ics_pay_subscription_create", "token"}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        pl_cyb_query_record *r = one_no_rcode(&res, ops[i].app, "SOK", "100");
        set_payment(r, 7550, "", "", "");
        pl_resolve_decision d = decide(ops[i].op, &res);
        assert_asked_again(&d, "unreadable");
        char want[64];
        snprintf(want, sizeof want, "%s: no RCode", ops[i].app);
        assert_contains(d.why, want);
        /* At the last query (and past it): escalated. */
        d = decide_at(ops[i].op, &res, 12);
        assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
        assert_contains(d.why, "escalated after 12 queries");
        assert_contains(d.why, want);
        d = decide_at(ops[i].op, &res, 13);
        assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);

        /* Without a reason, or with an RCode outside 1, 0, -1, likewise. */
        one_no_rcode(&res, ops[i].app, "", "");
        d = decide(ops[i].op, &res);
        assert_asked_again(&d, "unreadable");
        one(&res, ops[i].app, 2, "SOK", "100");
        d = decide(ops[i].op, &res);
        assert_asked_again(&d, "unreadable");
        snprintf(want, sizeof want, "%s: RCode 2", ops[i].app);
        assert_contains(d.why, want);
        one(&res, ops[i].app, -2, "ESYSTEM", "150");
        d = decide(ops[i].op, &res);
        assert_asked_again(&d, ": RCode -2");

        /* What says failure clearly is applied as before. */
        one(&res, ops[i].app, -1, "ESYSTEM", "");
        d = decide(ops[i].op, &res);
        assert_applied(&d, PL_ST_ERROR, "ERROR", "150");
    }

    /* An auth+capture whose authorization succeeded and whose capture has no RCode may have
     * captured (before: `error` 100, and an `.sdr`, refused 238 if it had). */
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app_no_rcode(r, "ics_bill", "SOK", "100");
    set_payment(r, 20000, "777777", "Y", "M");
    pl_resolve_decision d = decide("auth_capture", &res);
    assert_asked_again(&d, "ics_bill: no RCode");
    d = decide_at("auth_capture", &res, 12);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);

    /* One whose capture says it was captured beside an authorization without an RCode:
     * escalated at once as captured, with the operator's step. */
    r = one_no_rcode(&res, "ics_auth", "SOK", "100");
    add_app(r, "ics_bill", 1, "SOK", "100");
    set_payment(r, 20000, "777777", "Y", "M");
    d = decide("auth_capture", &res);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_contains(d.why, "query 1: captured (ics_bill), ics_auth: no RCode; ");
    assert_contains(d.why, "--outcome approved --amount <captured> --transaction-id " RID);

    /* After a partial approval (110) whose capture cannot be read: asked again, and at the last
     * query the operator's step for both cases, whole. */
    r = one(&res, "ics_auth", 1, "SOK", "110");
    add_app_no_rcode(r, "ics_bill", "SOK", "100");
    set_payment(r, 5000, "777777", "Y", "M");
    d = decide("auth_capture", &res);
    assert_asked_again(&d, "unreadable");
    d = decide_at("auth_capture", &res, 12);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_contains(d.why, "escalated after 12 queries; 110 unreadable; wreq resolve");
    assert_contains(d.why, "--outcome approved --amount <captured> if captured, else declined "
                           "--vendor-response 230 --amount <part> (README)");
    /* A token+auth's token likewise: the authorization's step for the part. */
    r = one(&res, "ics_auth", 1, "SOK", "110");
    add_app_no_rcode(r, "ics_pay_subscription_create", "SOK", "100");
    set_payment(r, 5000, "777777", "Y", "M");
    d = decide("token_auth", &res);
    assert_asked_again(&d, "ics_pay_subscription_create: no RCode");
    d = decide_at("token_auth", &res, 12);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_contains(d.why, "escalated after 12 queries; query 12: 110, then "
                           "ics_pay_subscription_create: no RCode; wreq resolve --outcome "
                           "approved|rejected --amount <part> --transaction-id " RID " (README)");

    /* Another application without an RCode (ics_score) is not the operation's: the capture's
     * failure is applied with its own reason, not the score's 100. */
    r = one(&res, "ics_bill", -1, "ESYSTEM", "");
    add_app_no_rcode(r, "ics_score", "SOK", "100");
    d = decide("capture", &res);
    assert_applied(&d, PL_ST_ERROR, "ERROR", "150");
}

/*
 * A capture, credit or auth+capture that more than one record of the merchant reference says
 * was applied (a retry the bureau received) is escalated at once, its reason naming how many and
 * their RequestIDs: before, the first was applied and nobody was told of the second charge.
 * One applied beside one that cannot be read likewise (it may be a second). Authorizations keep
 * the first approval.
 */
static void test_several_applied_escalated(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    static const struct {
        const char *app, *op, *what;
    } ops[] = {{"ics_bill", "capture", "charged"}, {"ics_credit", "credit", "refunded"}};
    for (size_t i = 0; i < 2; i++) {
        memset(&res, 0, sizeof res);
        pl_cyb_query_record *r = add_record(&res, REF, "1111111111111111111111");
        add_app(r, ops[i].app, 1, "SOK", "100");
        set_payment(r, 7550, "", "", "");
        r = add_record(&res, REF, "2222222222222222222222");
        add_app(r, ops[i].app, 1, "SOK", "100");
        set_payment(r, 7550, "", "", "");
        pl_resolve_decision d = decide(ops[i].op, &res);
        if (d.kind != PL_RESOLVE_ESCALATE)
            fail_msg("%s: kind %d (%s), want ESCALATE", ops[i].op, (int)d.kind, d.why);
        char want[120];
        snprintf(want, sizeof want, "query 1: %s more than once? 2 %s records: ", ops[i].what,
                 ops[i].op);
        assert_contains(d.why, want);
        assert_contains(d.why, "1111111111111111111111, 2222222222222222222222");
        assert_contains(d.why, "; wreq resolve --outcome approved --transaction-id "
                               "1111111111111111111111, undo the others (README)");

        /* Beside one that cannot be read. */
        r->apps[0].has_rcode = false;
        d = decide(ops[i].op, &res);
        assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
        assert_contains(d.why, "2 ");
        assert_contains(d.why, "records (1 unreadable): ");

        /* Beside a refusal or a failure: the one applied is applied. */
        r->apps[0].has_rcode = true;
        r->apps[0].rcode = -1;
        snprintf(r->apps[0].reason_code, sizeof r->apps[0].reason_code, "150");
        d = decide(ops[i].op, &res);
        assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
        assert_string_equal(d.outcome.transaction_id, "1111111111111111111111");
    }

    /* An auth+capture captured twice, of four records, one of another reference: the count is
     * the merchant reference's; an id that is not one to paste shows as "?". */
    memset(&res, 0, sizeof res);
    for (int k = 0; k < 4; k++) {
        char id[32];
        snprintf(id, sizeof id, k == 2 ? "bad id;%d" : "%d%d%d%d%d%d%d%d%d%d", k, k, k, k, k, k, k,
                 k, k, k);
        pl_cyb_query_record *r = add_record(&res, k == 3 ? "another-reference" : REF, id);
        add_app(r, "ics_auth", 1, "SOK", "100");
        add_app(r, "ics_bill", 1, "SOK", "100");
    }
    pl_resolve_decision d = decide("auth_capture", &res);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_contains(d.why, "charged more than once? 3 auth_capture records: 0000000000, "
                           "1111111111, ?");
    assert_true(strstr(d.why, "3333333333") == NULL);
    assert_true(strstr(d.why, "bad id") == NULL);
    assert_true(strlen(d.why) < sizeof d.why);

    /* Two approved authorizations stay the first approval (a second hold expires; it is not a
     * charge). */
    memset(&res, 0, sizeof res);
    pl_cyb_query_record *r = add_record(&res, REF, "1111111111111111111111");
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "111111", "Y", "M");
    r = add_record(&res, REF, "2222222222222222222222");
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "222222", "Y", "M");
    d = decide("auth", &res);
    assert_applied(&d, PL_ST_APPROVED, "ACCEPT", "100");
    assert_string_equal(d.outcome.transaction_id, "1111111111111111111111");
}

/* ---- not found ------------------------------------------------------------------------- */

/* Three ways of "no record of this request": nothing, other references only, the reference
 * without the operation's application. */
static void not_found_results(pl_cyb_query_result res[3])
{
    memset(res, 0, 3 * sizeof res[0]);
    pl_cyb_query_record *r = add_record(&res[1], "another-reference", RID);
    add_app(r, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "888888", "", "");
    r = add_record(&res[1], REF "0", RID); /* a longer reference is another one */
    add_app(r, "ics_auth", 1, "SOK", "100");
    r = add_record(&res[2], REF, RID);
    add_app(r, "ics_score", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "DREVIEW", "480");
}

static void test_not_found_not_believed_yet(void **state)
{
    (void)state;
    pl_cyb_query_result res[3];
    not_found_results(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    for (int i = 0; i < 3; i++) {
        for (int q = 1; q < p.max_queries; q++) {
            pl_resolve_decision d =
                pl_resolver_decide(&p, "auth", REF, 0, NULL, &res[i], q, p.not_found_after_s - 1.0);
            if (d.kind != PL_RESOLVE_RETRY)
                fail_msg("result %d, query %d: kind %d, want RETRY", i, q, (int)d.kind);
            assert_int_equal(d.delay_s, pl_resolve_retry_delay_s(&p, q));
            assert_contains(d.why, "no record");
            char qn[32];
            snprintf(qn, sizeof qn, "query %d", q);
            assert_contains(d.why, qn);
        }
    }
    /* Just sent: the report may lag the payment system. */
    pl_resolve_decision d = pl_resolver_decide(&p, "auth", REF, 0, NULL, &res[0], 1, 0.0);
    assert_int_equal(d.kind, PL_RESOLVE_RETRY);
    assert_int_equal(d.delay_s, 30);
    /* Another policy's waits. */
    p.retry_after_s = 5;
    p.backoff_factor = 3;
    p.max_retry_after_s = 100;
    d = pl_resolver_decide(&p, "capture", REF, 0, NULL, &res[0], 3, 1.0);
    assert_int_equal(d.kind, PL_RESOLVE_RETRY);
    assert_int_equal(d.delay_s, 45);
}

static void test_not_found_believed(void **state)
{
    (void)state;
    pl_cyb_query_result res[3];
    not_found_results(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    const char *ops[] = {"auth", "token_auth", "capture", "auth_capture", "credit", "reversal"};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (int i = 0; i < 3; i++) {
            /* Exactly not_found_after_s, and long after; the first query and the last. */
            double ages[] = {p.not_found_after_s, 86400.0};
            int queries[] = {1, p.max_queries};
            for (int a = 0; a < 2; a++) {
                for (int q = 0; q < 2; q++) {
                    pl_resolve_decision d =
                        pl_resolver_decide(&p, ops[o], REF, 0, NULL, &res[i], queries[q], ages[a]);
                    if (d.kind != PL_RESOLVE_APPLY || d.outcome.status != PL_ST_ERROR)
                        fail_msg("%s, result %d, age %.0f, query %d: kind %d status %d (%s)",
                                 ops[o], i, ages[a], queries[q], (int)d.kind, (int)d.outcome.status,
                                 d.why);
                    /* Nothing happened at the bureau: no decision, no code, no amount. */
                    assert_string_equal(d.outcome.decision, "");
                    assert_string_equal(d.outcome.vendor_response, "");
                    assert_false(d.outcome.has_amount);
                    assert_string_equal(d.outcome.transaction_id, "");
                    assert_string_equal(d.outcome.auth_number, "");
                    assert_contains(d.outcome.note, "no record");
                    assert_contains(d.outcome.note, "nothing was charged");
                }
            }
        }
    }
    /* not_found_after_s 0: the first "not there" is believed. */
    p.not_found_after_s = 0;
    pl_resolve_decision d = pl_resolver_decide(&p, "auth", REF, 0, NULL, &res[0], 1, 0.0);
    assert_int_equal(d.kind, PL_RESOLVE_APPLY);
    assert_int_equal(d.outcome.status, PL_ST_ERROR);
}

static void test_not_found_last_query_escalates(void **state)
{
    (void)state;
    pl_cyb_query_result res[3];
    not_found_results(res);
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    for (int i = 0; i < 3; i++) {
        pl_resolve_decision d =
            pl_resolver_decide(&p, "auth", REF, 0, NULL, &res[i], p.max_queries, 10.0);
        assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
        assert_contains(d.why, "no record");
        assert_contains(d.why, "escalated after 12 queries");
        /* Past the last (an operator's `wreq retry` of an escalated row): escalated again. */
        d = pl_resolver_decide(&p, "auth", REF, 0, NULL, &res[i], p.max_queries + 1, 10.0);
        assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
        assert_contains(d.why, "escalated after 13 queries");
    }
    /* A record found at the last query is applied, not escalated. */
    pl_cyb_query_result found;
    one(&found, "ics_auth", 0, "DCARDREFUSED", "203");
    pl_resolve_decision d =
        pl_resolver_decide(&p, "auth", REF, 0, NULL, &found, p.max_queries, 10.0);
    assert_applied(&d, PL_ST_DECLINED, "REJECT", "203");
    /* max_queries 1: the first query is the last. */
    p.max_queries = 1;
    d = pl_resolver_decide(&p, "auth", REF, 0, NULL, &res[0], 1, 10.0);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_contains(d.why, "escalated after 1 queries");
}

/* ---- the query failed ------------------------------------------------------------------ */

static void test_query_failed_retries(void **state)
{
    (void)state;
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    /* Whatever the result holds, a failed query says nothing about the request. */
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "888888", "", "");
    struct {
        int rc;
        const char *why;
    } fails[] = {
        {PL_ERR_AUTH, "login refused: Invalid login credentials."},
        {PL_ERR_PARSE, "unreadable: not a Transaction Detail Report"},
        {PL_ERR_HTTP, "HTTP 503"},
        {PL_ERR_HTTP, "Couldn't connect to server"},
    };
    for (size_t i = 0; i < sizeof fails / sizeof fails[0]; i++) {
        for (int q = 1; q < p.max_queries; q++) {
            /* Long after sending too: a failure is never "not there". */
            pl_resolve_decision d =
                pl_resolver_decide(&p, "auth", REF, fails[i].rc, fails[i].why, &res, q, 86400.0);
            if (d.kind != PL_RESOLVE_RETRY)
                fail_msg("%s, query %d: kind %d, want RETRY", fails[i].why, q, (int)d.kind);
            assert_int_equal(d.delay_s, pl_resolve_retry_delay_s(&p, q));
            assert_contains(d.why, fails[i].why);
            char qn[32];
            snprintf(qn, sizeof qn, "query %d failed", q);
            assert_contains(d.why, qn);
        }
    }
    /* No text: the error's name says what failed. */
    pl_resolve_decision d = pl_resolver_decide(&p, "capture", REF, PL_ERR_HTTP, NULL, NULL, 2, 5.0);
    assert_int_equal(d.kind, PL_RESOLVE_RETRY);
    assert_int_equal(d.delay_s, 60);
    assert_contains(d.why, "query 2 failed");
    assert_contains(d.why, pl_err_str(PL_ERR_HTTP));
    d = pl_resolver_decide(&p, "auth", REF, PL_ERR_PARSE, "", NULL, 1, 5.0);
    assert_int_equal(d.kind, PL_RESOLVE_RETRY);
    assert_contains(d.why, pl_err_str(PL_ERR_PARSE));
}

static void test_query_failed_last_escalates(void **state)
{
    (void)state;
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    pl_resolve_decision d = pl_resolver_decide(&p, "reversal", REF, PL_ERR_AUTH,
                                               "login refused: Invalid login credentials.", NULL,
                                               p.max_queries, 86400.0);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_contains(d.why, "query 12 failed: login refused: Invalid login credentials.");
    assert_contains(d.why, "escalated after 12 queries");

    p.max_queries = 3;
    d = pl_resolver_decide(&p, "credit", REF, PL_ERR_HTTP, "HTTP 502", NULL, 2, 1.0);
    assert_int_equal(d.kind, PL_RESOLVE_RETRY);
    d = pl_resolver_decide(&p, "credit", REF, PL_ERR_HTTP, "HTTP 502", NULL, 3, 1.0);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_contains(d.why, "HTTP 502");
    assert_contains(d.why, "escalated after 3 queries");
    /* A long reason (query_cyb's "unreadable: " and pl_cyb_query_parse's errstr of up to 200
     * characters) is cut, never the escalation: an operator reading last_query_result must see
     * that the resolver gave up. */
    char longwhy[213] = "unreadable: ";
    memset(longwhy + 12, 'x', sizeof longwhy - 13);
    longwhy[sizeof longwhy - 1] = '\0';
    d = pl_resolver_decide(&p, "credit", REF, PL_ERR_PARSE, longwhy, NULL, 3, 1.0);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    assert_true(strlen(d.why) < sizeof d.why);
    assert_contains(d.why, "query 3 failed: unreadable: xxx");
    assert_contains(d.why, "escalated after 3 queries");
}

/* ---- a caller's mistake is never "not there" ------------------------------------------- */

/* cyb_query.h: an operation pl_cyb_query_outcome does not know, or no result, gives
 * PL_CYB_FOUND_ERROR without a record, "a caller's mistake must never read as 'CyberSource
 * does not have it', which would invite a second charge". The resolver must not apply such a
 * row as `error` ("nothing was charged") when the record of the request is right there. */
static void test_unknown_operation_not_applied_as_not_found(void **state)
{
    (void)state;
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    pl_cyb_query_result res;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    set_payment(r, 12000, "888888", "", "");
    pl_resolve_decision d = pl_resolver_decide(&p, "authorize", REF, 0, NULL, &res, 1, 86400.0);
    if (d.kind == PL_RESOLVE_APPLY && d.outcome.status == PL_ST_ERROR)
        fail_msg("an unknown operation was applied as not found: %s", d.outcome.note);
    d = pl_resolver_decide(&p, "auth", REF, 0, NULL, NULL, 1, 86400.0);
    if (d.kind == PL_RESOLVE_APPLY && d.outcome.status == PL_ST_ERROR)
        fail_msg("no result was applied as not found: %s", d.outcome.note);
}

/* ---- purity ---------------------------------------------------------------------------- */

static void test_decide_is_pure(void **state)
{
    (void)state;
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    pl_resolve_policy p0 = p;
    pl_cyb_query_result res, res0;
    pl_cyb_query_record *r = one(&res, "ics_auth", 1, "SOK", "100");
    add_app(r, "ics_decision", 0, "DREVIEW", "480");
    set_payment(r, 12000, "888888", "Y", "M");
    memcpy(&res0, &res, sizeof res);
    pl_resolve_decision a = pl_resolver_decide(&p, "auth", REF, 0, NULL, &res, 1, 60.0);
    pl_resolve_decision b = pl_resolver_decide(&p, "auth", REF, 0, NULL, &res, 1, 60.0);
    /* Its inputs untouched, the same answer twice. */
    assert_memory_equal(&res, &res0, sizeof res);
    assert_true(p.ask_bureau == p0.ask_bureau && p.retry_after_s == p0.retry_after_s &&
                p.backoff_factor == p0.backoff_factor &&
                p.max_retry_after_s == p0.max_retry_after_s &&
                p.not_found_after_s == p0.not_found_after_s && p.max_queries == p0.max_queries);
    assert_int_equal(a.kind, b.kind);
    assert_int_equal(a.outcome.status, b.outcome.status);
    assert_string_equal(a.outcome.decision, b.outcome.decision);
    assert_string_equal(a.outcome.vendor_response, b.outcome.vendor_response);
    assert_string_equal(a.outcome.note, b.outcome.note);
    /* A RETRY carries no outcome, an APPLY no delay. */
    pl_cyb_query_result none;
    memset(&none, 0, sizeof none);
    pl_resolve_decision c = pl_resolver_decide(&p, "auth", REF, 0, NULL, &none, 1, 1.0);
    assert_int_equal(c.kind, PL_RESOLVE_RETRY);
    assert_string_equal(c.outcome.decision, "");
    assert_false(c.outcome.has_amount);
    assert_int_equal(a.delay_s, 0);
    assert_string_equal(a.why, "");
}

/* A request sent near midnight (UTC) is asked for on the day on the other side too. */
static void test_query_days_near_midnight(void **state)
{
    (void)state;
    int64_t days[2];
    const int64_t midnight = 1796256000; /* 2026-12-03T00:00:00Z */
    assert_int_equal(pl_resolver_query_days(midnight + 12 * 3600, days), 1);
    assert_int_equal(days[0], midnight + 12 * 3600);
    /* 23:59:58: its own day, then the next. */
    assert_int_equal(pl_resolver_query_days(midnight - 2, days), 2);
    assert_int_equal(days[0], midnight - 2);
    assert_int_equal(days[1], midnight - 2 + 86400);
    /* 00:00:03: its own day, then the one before (the clocks may differ). */
    assert_int_equal(pl_resolver_query_days(midnight + 3, days), 2);
    assert_int_equal(days[1], midnight + 3 - 86400);
    /* The margin's edges. */
    assert_int_equal(pl_resolver_query_days(midnight - PL_RESOLVER_DAY_MARGIN_S, days), 2);
    assert_int_equal(pl_resolver_query_days(midnight - PL_RESOLVER_DAY_MARGIN_S - 1, days), 1);
    assert_int_equal(pl_resolver_query_days(midnight + PL_RESOLVER_DAY_MARGIN_S - 1, days), 2);
    assert_int_equal(pl_resolver_query_days(midnight + PL_RESOLVER_DAY_MARGIN_S, days), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_backoff_and_cap),
        cmocka_unit_test(test_query_days_near_midnight),
        cmocka_unit_test(test_delay_factor_one),
        cmocka_unit_test(test_delay_at_least_one_second),
        cmocka_unit_test(test_policy_default_is_migration_022),
        cmocka_unit_test(test_auth_approved),
        cmocka_unit_test(test_token_auth_approved),
        cmocka_unit_test(test_capture_approved),
        cmocka_unit_test(test_auth_capture_approved),
        cmocka_unit_test(test_auth_capture_capture_failed),
        cmocka_unit_test(test_credit_approved),
        cmocka_unit_test(test_reversal),
        cmocka_unit_test(test_auth_review),
        cmocka_unit_test(test_auth_rejected),
        cmocka_unit_test(test_auth_declined),
        cmocka_unit_test(test_auth_error),
        cmocka_unit_test(test_record_approves_above_sent),
        cmocka_unit_test(test_retried_request_best_record),
        cmocka_unit_test(test_unreadable_record_asked_again),
        cmocka_unit_test(test_several_applied_escalated),
        cmocka_unit_test(test_retried_auth_approved_twice_noted),
        cmocka_unit_test(test_not_found_not_believed_yet),
        cmocka_unit_test(test_not_found_believed),
        cmocka_unit_test(test_not_found_last_query_escalates),
        cmocka_unit_test(test_query_failed_retries),
        cmocka_unit_test(test_query_failed_last_escalates),
        cmocka_unit_test(test_unknown_operation_not_applied_as_not_found),
        cmocka_unit_test(test_decide_is_pure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
