/*
 * test_reversal_applies.c: migration 076's paylink_reversal_applies, the one statement of which
 * authorizations a reversal applies to, and the trigger functions that call it instead of their
 * copies of the rule (PAYLINK_DB, migrated).
 *
 * The function's whole truth table (every status the authorization and reversal tables can hold,
 * NULL too, by the vendor responses the rule names and others, by issuer_authorized true, false
 * and NULL) against the rule stated here again in C and against 075's expression in SQL; that it
 * is inlined (IMMUTABLE SQL, not STRICT, no SET) so the statements calling it run what they ran;
 * that no deployed function holds a copy of the rule any more. And, on real rows, each branch of
 * paylink_release_reversal_claim and paylink_late_answer_released that judged the rule (a
 * claimed row approved whole or in part, of amount_authorized or of amount_issuer_held, or
 * refused as already reversed; a timeout reversal approved or refused so; a late answer after
 * either) books every combination of the authorization's status, vendor_response and
 * issuer_authorized as the rule says — as 075's and 074's functions booked them (the same test
 * passes against them). Everything is written in one transaction that is rolled back: no row is
 * committed, so the running system's resolvers never see one.
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
#include <libpq-fe.h>

static PGconn *g_db;

/* Every status of the tables: auth_history's (paylink_history_status, what the rule reads) and
 * the transaction rows' (paylink_txn_status: cc_auth_trans, auth_reversal). The test checks the
 * domains hold no other. */
static const char *const g_statuses[] = {"approved", "declined", "review",   "rejected", "error",
                                         "voided",   "reversed", "received", "sent",     "unknown"};
#define N_STATUSES (sizeof g_statuses / sizeof g_statuses[0])
#define HISTORY_STATUSES 7 /* the first seven: paylink_history_status */

/* The soft declines the rule names (200, 230, 520), a hard decline, CyberSource's already
 * reversed (237), none. */
static const char *const g_vendors[] = {"200", "230", "520", "102", "237", ""};
#define N_VENDORS (sizeof g_vendors / sizeof g_vendors[0])

static int group_setup(void **state)
{
    (void)state;
    const char *conninfo = getenv("PAYLINK_DB");
    if (!conninfo || !*conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return -1;
    }
    g_db = PQconnectdb(conninfo);
    if (PQstatus(g_db) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(g_db));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(g_db);
    return 0;
}

/* Every test that writes starts a transaction here and rolls it back in teardown. */
static int begin(void **state)
{
    (void)state;
    PGresult *r = PQexec(g_db, "BEGIN");
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(r);
    return rc;
}

static int rollback(void **state)
{
    (void)state;
    PQclear(PQexec(g_db, "ROLLBACK"));
    return 0;
}

/* Runs sql with n text parameters (NULL: SQL NULL); fails the test when it fails. The result is
 * the caller's to PQclear. */
static PGresult *run(const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(g_db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s\n  failed: %s", sql, m);
    }
    return r;
}

static void exec_ok(const char *sql, int n, const char *const *params)
{
    PQclear(run(sql, n, params));
}

/* The one value of a query, "NULL" for SQL NULL. */
static void value(char *out, size_t outsize, const char *sql, int n, const char *const *params)
{
    PGresult *r = run(sql, n, params);
    if (PQntuples(r) != 1 || PQnfields(r) != 1) {
        PQclear(r);
        fail_msg("%s: not one value", sql);
    }
    snprintf(out, outsize, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
}

static long value_long(const char *sql, int n, const char *const *params)
{
    char v[64];
    value(v, sizeof v, sql, n, params);
    return strtol(v, NULL, 10);
}

/* SQL's three values, for the rule below. */
typedef enum { F, T, U } tri;

static tri tri_of(const char *b)
{
    return !b ? U : strcmp(b, "t") == 0 ? T : F;
}

static tri tri_or(tri a, tri b)
{
    return a == T || b == T ? T : a == U || b == U ? U : F;
}

static const char *tri_name(tri v)
{
    return v == T ? "t" : v == F ? "f" : "NULL";
}

/*
 * The rule 052, 060 and 064 wrote (copied on through 075), stated again here: a reversal applies
 * to an authorization approved, review, rejected or voided; to one declined only as a soft
 * decline (200, 230, 520) or when the issuer authorized it; to one in error only when the issuer
 * authorized it; to nothing else. In SQL's logic: NULL where an argument it needs is NULL.
 */
static tri rule(const char *status, const char *vendor, const char *issuer_authorized)
{
    static const char *const holds[] = {"approved", "review", "rejected", "voided"};
    tri ia = tri_of(issuer_authorized);
    if (!status)
        return U; /* NULL IN (...) is NULL, and no other disjunct can be true */
    for (size_t i = 0; i < sizeof holds / sizeof holds[0]; i++)
        if (strcmp(status, holds[i]) == 0)
            return T;
    if (strcmp(status, "declined") == 0) {
        tri soft = !vendor ? U
                   : (strcmp(vendor, "200") == 0 || strcmp(vendor, "230") == 0 ||
                      strcmp(vendor, "520") == 0)
                       ? T
                       : F;
        return tri_or(soft, ia);
    }
    if (strcmp(status, "error") == 0)
        return ia;
    return F;
}

/* The domains of the status columns hold no status the tests below leave out. */
static void assert_statuses_complete(void)
{
    const char *list = "{approved,declined,review,rejected,error,voided,reversed,received,sent,"
                       "unknown}";
    assert_int_equal(value_long("SELECT count(*) FROM pg_constraint c, LATERAL regexp_matches("
                                "pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') m WHERE "
                                "c.contypid IN ('paylink_history_status'::regtype, "
                                "'paylink_txn_status'::regtype) AND m[1] <> ALL ($1::text[])",
                                1, (const char *const[]){list}),
                     0);
    /* Not vacuous: the two domains' CHECKs were read (7 and 8 values). */
    assert_int_equal(value_long("SELECT count(*) FROM pg_constraint c, LATERAL regexp_matches("
                                "pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') m WHERE "
                                "c.contypid IN ('paylink_history_status'::regtype, "
                                "'paylink_txn_status'::regtype)",
                                0, NULL),
                     15);
}

/*
 * The function's truth table: every status (and NULL) by every vendor response (and NULL) by
 * issuer_authorized true, false and NULL, against the rule above; and, in SQL, against the
 * expression 075 wrote five times (and 074 once), over the same inputs, NULLs included.
 */
static void test_truth_table(void **state)
{
    (void)state;
    assert_statuses_complete();
    static const char *const ias[] = {"t", "f", NULL};
    int applies = 0;
    for (size_t s = 0; s <= N_STATUSES; s++) {
        const char *status = s < N_STATUSES ? g_statuses[s] : NULL;
        for (size_t v = 0; v <= N_VENDORS; v++) {
            const char *vendor = v < N_VENDORS ? g_vendors[v] : NULL;
            for (size_t i = 0; i < 3; i++) {
                char got[8];
                value(got, sizeof got, "SELECT paylink_reversal_applies($1, $2, $3::boolean)", 3,
                      (const char *const[]){status, vendor, ias[i]});
                tri want = rule(status, vendor, ias[i]);
                if (strcmp(got, tri_name(want)) != 0)
                    fail_msg("paylink_reversal_applies(%s, %s, %s) = %s, want %s",
                             status ? status : "NULL", vendor ? vendor : "NULL",
                             ias[i] ? ias[i] : "NULL", got, tri_name(want));
                applies += want == T;
            }
        }
    }
    /* 4 statuses always (7 vendors x 3); declined: 3 soft x 3 + 4 others x 1 (t); error: 7. */
    assert_int_equal(applies, 4 * 7 * 3 + 3 * 3 + 4 + 7);

    /* 075's expression, as it stood in paylink_release_reversal_claim and
     * paylink_late_answer_released, against the function: the same three values everywhere. */
    static const char *const grid =
        "FROM unnest($1::text[]) s(status) CROSS JOIN unnest($2::text[]) v(vendor_response) "
        "CROSS JOIN unnest('{t,f,NULL}'::boolean[]) i(issuer_authorized)";
    const char *arrays[] = {"{approved,declined,review,rejected,error,voided,reversed,received,"
                            "sent,unknown,NULL}",
                            "{200,230,520,102,237,\"\",NULL}"};
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) %s", grid);
    assert_int_equal(value_long(sql, 2, arrays), 11 * 7 * 3);
    snprintf(sql, sizeof sql,
             "SELECT count(*) %s WHERE paylink_reversal_applies(status, vendor_response, "
             "issuer_authorized) IS DISTINCT FROM "
             "(status IN ('approved', 'review', 'rejected', 'voided') "
             " OR (status = 'declined' "
             "     AND (vendor_response IN ('200', '230', '520') OR issuer_authorized)) "
             " OR (status = 'error' AND issuer_authorized))",
             grid);
    assert_int_equal(value_long(sql, 2, arrays), 0);
}

/*
 * What makes the restatement behaviour-neutral, in the catalogue: the function is IMMUTABLE,
 * PARALLEL SAFE, SQL, not STRICT, without SET options and documented, so the planner inlines it
 * (a statement calling it plans the expression itself); the two trigger functions call it where
 * their copies were (five times, once) and keep no SET option; no function but it holds a copy
 * of the rule.
 */
static void test_one_statement_of_the_rule(void **state)
{
    (void)state;
    char got[256];
    value(got, sizeof got,
          "SELECT concat_ws('|', p.provolatile, p.proparallel, p.proisstrict, l.lanname, "
          "p.proconfig IS NULL, pg_get_function_identity_arguments(p.oid), "
          "p.prorettype::regtype, obj_description(p.oid, 'pg_proc') LIKE '%reversal applies%') "
          "FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
          "WHERE p.oid = 'paylink_reversal_applies(text, text, boolean)'::regprocedure",
          0, NULL);
    assert_string_equal(got, "i|s|f|sql|t|status text, vendor_response text, issuer_authorized "
                             "boolean|boolean|t");

    /* Inlined: the plan of a statement calling it names no function, only the expression. */
    PGresult *r = run("EXPLAIN (VERBOSE, COSTS OFF) UPDATE auth_history SET status = 'reversed' "
                      "WHERE id = -1 AND paylink_reversal_applies(status, vendor_response, "
                      "issuer_authorized)",
                      0, NULL);
    bool named = false, expanded = false;
    for (int i = 0; i < PQntuples(r); i++) {
        named |= strstr(PQgetvalue(r, i, 0), "paylink_reversal_applies") != NULL;
        expanded |= strstr(PQgetvalue(r, i, 0), "{200,230,520}") != NULL;
    }
    PQclear(r);
    assert_false(named);
    assert_true(expanded);

    static const struct {
        const char *fn;
        long calls;
    } callers[] = {{"paylink_release_reversal_claim", 5}, {"paylink_late_answer_released", 1}};
    for (size_t i = 0; i < sizeof callers / sizeof callers[0]; i++) {
        const char *p[] = {callers[i].fn};
        long calls = value_long("SELECT (length(prosrc) - length(replace(prosrc, "
                                "'paylink_reversal_applies(', ''))) / "
                                "length('paylink_reversal_applies(') FROM pg_proc "
                                "WHERE proname = $1 AND proconfig IS NULL",
                                1, p);
        if (calls != callers[i].calls)
            fail_msg("%s calls paylink_reversal_applies %ld times, want %ld", callers[i].fn, calls,
                     callers[i].calls);
    }
    value(got, sizeof got,
          "SELECT coalesce(string_agg(p.proname, ', ' ORDER BY p.proname), '') FROM pg_proc p "
          "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
          "AND p.proname <> 'paylink_reversal_applies' "
          "AND (p.prosrc LIKE '%''review'', ''rejected'', ''voided''%' "
          "     OR p.prosrc LIKE '%''200'', ''230'', ''520''%')",
          0, NULL);
    if (*got)
        fail_msg("functions still writing the rule out themselves: %s", got);
}

/* How each case's authorization is reversed (the branch of the trigger functions it takes). */
static const char *const g_branches[] = {
    "whole",     /* its claimed history row, approved naming no amount */
    "part_auth", /* approved for 4.00 of amount_authorized 10.00 (058) */
    "part_held", /* approved for 4.00 of amount_issuer_held 10.00 (065) */
    "claim237",  /* its claimed row, refused by CyberSource as already reversed (074) */
    "tor",       /* a timeout reversal approved after the answer (073) */
    "tor237",    /* a timeout reversal refused as already reversed after it (074) */
    "late",      /* the answer stored after a timeout reversal was approved (074, late answer) */
    "late237",   /* ... after one refused as already reversed */
};
#define N_BRANCHES (sizeof g_branches / sizeof g_branches[0])

/*
 * On real rows: for every history status the row can hold, vendor response above and
 * issuer_authorized (the column is NOT NULL), each branch books the authorization's history row
 * as the rule says — status `reversed` (or, in part, the amount still held) when it applies,
 * the row as it was otherwise, the claim released either way. The same statements pass against
 * 075's and 074's functions: the restatement changed no booking.
 */
static void test_triggers_book_by_the_rule(void **state)
{
    (void)state;
    char branches[256] = "{", statuses[256] = "{", vendors[64] = "{";
    for (size_t i = 0; i < N_BRANCHES; i++)
        snprintf(branches + strlen(branches), sizeof branches - strlen(branches), "%s%s",
                 i ? "," : "", g_branches[i]);
    for (size_t i = 0; i < HISTORY_STATUSES; i++)
        snprintf(statuses + strlen(statuses), sizeof statuses - strlen(statuses), "%s%s",
                 i ? "," : "", g_statuses[i]);
    for (size_t i = 0; i < N_VENDORS; i++)
        snprintf(vendors + strlen(vendors), sizeof vendors - strlen(vendors), "%s\"%s\"",
                 i ? "," : "", g_vendors[i]);
    strcat(branches, "}");
    strcat(statuses, "}");
    strcat(vendors, "}");

    /* A refusal as already reversed is CyberSource's only: the service bureau the cases name. */
    char protocol[16];
    value(protocol, sizeof protocol,
          "SELECT protocol FROM auth_service WHERE service_bureau = 'CYB'", 0, NULL);
    assert_string_equal(protocol, "CYB");

    /* One case per branch x status x vendor response x issuer_authorized, each its own
     * authorization (request id rid) and reversal (rid-r; no '.', so never one paylink asks
     * again). */
    exec_ok("CREATE TEMP TABLE it_case ON COMMIT DROP AS "
            "SELECT 'it-rapp-' || row_number() OVER () AS rid, b.branch, s.status, "
            "v.vendor_response, i.issuer_authorized "
            "FROM unnest($1::text[]) WITH ORDINALITY b(branch, bn), "
            "unnest($2::text[]) WITH ORDINALITY s(status, sn), "
            "unnest($3::text[]) WITH ORDINALITY v(vendor_response, vn), "
            "unnest('{t,f}'::boolean[]) WITH ORDINALITY i(issuer_authorized, inum) "
            "ORDER BY bn, sn, vn, inum",
            3, (const char *const[]){branches, statuses, vendors});
    assert_int_equal(value_long("SELECT count(*) FROM it_case", 0, NULL),
                     (long)(N_BRANCHES * HISTORY_STATUSES * N_VENDORS * 2));

    /* The authorizations: unknown when the answer comes late, answered otherwise. */
    exec_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
            "order_number, pay_seq, service_bureau, card_token, status) SELECT rid, "
            "repeat('a', 64), 'auth', 1, 'O1', 1, 'CYB', '7030000000000001234', "
            "CASE WHEN branch LIKE 'late%' THEN 'unknown' ELSE 'declined' END FROM it_case",
            0, NULL);
    /* Their answers' history rows, claimed by the claiming branches' reversals (10.00). */
    static const char insert_history[] =
        "INSERT INTO auth_history (request_id, company, order_number, pay_seq, service_bureau, "
        "transaction_type, status, vendor_response, issuer_authorized, amount_authorized, "
        "amount_voided, amount_issuer_held, amount_pending) SELECT rid, 1, 'O1', 1, 'CYB', "
        "'auth', status, vendor_response, issuer_authorized, "
        "CASE WHEN branch = 'part_auth' THEN 10 END, "
        "CASE WHEN branch = 'part_auth' THEN 8 ELSE 0 END, "
        "CASE WHEN branch = 'part_held' THEN 10 END, "
        "CASE WHEN branch IN ('whole', 'part_auth', 'part_held', 'claim237') THEN 10 ELSE 0 END "
        "FROM it_case WHERE (branch LIKE 'late%') = $1::boolean";
    exec_ok(insert_history, 1, (const char *const[]){"f"});
    exec_ok("INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
            "pay_seq, service_bureau, auth_request_id, auth_history_id, claim_amount) "
            "SELECT c.rid || '-r', repeat('a', 64), 'reversal', 1, 'O1', 1, 'CYB', c.rid, h.id, "
            "CASE WHEN h.id IS NOT NULL THEN 10 END FROM it_case c LEFT JOIN auth_history h "
            "ON h.request_id = c.rid AND c.branch IN ('whole', 'part_auth', 'part_held', "
            "'claim237')",
            0, NULL);
    exec_ok("UPDATE auth_reversal SET status = 'sent' WHERE request_id IN "
            "(SELECT rid || '-r' FROM it_case)",
            0, NULL);
    exec_ok("UPDATE auth_reversal r SET status = CASE WHEN c.branch LIKE '%237' THEN 'declined' "
            "ELSE 'approved' END, vendor_response = CASE WHEN c.branch LIKE '%237' THEN '237' "
            "ELSE '100' END, amount_reversed = CASE WHEN c.branch LIKE 'part%' THEN 4 END "
            "FROM it_case c WHERE r.request_id = c.rid || '-r'",
            0, NULL);
    /* The late answers, stored after their timeout reversals, booked at the commit: here. */
    exec_ok(insert_history, 1, (const char *const[]){"t"});
    exec_ok("UPDATE cc_auth_trans SET status = 'declined' WHERE request_id IN "
            "(SELECT rid FROM it_case WHERE branch LIKE 'late%')",
            0, NULL);
    exec_ok("SET CONSTRAINTS cc_auth_trans_late_answer_released IMMEDIATE", 0, NULL);

    PGresult *r = run("SELECT c.branch, c.status, c.vendor_response, c.issuer_authorized, "
                      "concat_ws('|', h.status, h.amount_pending, "
                      "coalesce(h.amount_authorized::text, '-'), h.amount_voided, "
                      "coalesce(h.amount_issuer_held::text, '-')) "
                      "FROM it_case c JOIN auth_history h ON h.request_id = c.rid ORDER BY c.rid",
                      0, NULL);
    assert_int_equal(PQntuples(r), (int)(N_BRANCHES * HISTORY_STATUSES * N_VENDORS * 2));
    int booked = 0, kept = 0;
    for (int k = 0; k < PQntuples(r); k++) {
        const char *branch = PQgetvalue(r, k, 0), *status = PQgetvalue(r, k, 1);
        const char *vendor = PQgetvalue(r, k, 2), *ia = PQgetvalue(r, k, 3);
        bool applies = rule(status, vendor, ia) == T;
        char want[128];
        if (strcmp(branch, "part_auth") == 0)
            snprintf(want, sizeof want, "%s|0.00|%s|%s|-", status, applies ? "6.00" : "10.00",
                     applies ? "6.00" : "8.00");
        else if (strcmp(branch, "part_held") == 0)
            snprintf(want, sizeof want, "%s|0.00|-|0.00|%s", status, applies ? "6.00" : "10.00");
        else
            snprintf(want, sizeof want, "%s|0.00|-|0.00|-", applies ? "reversed" : status);
        if (strcmp(PQgetvalue(r, k, 4), want) != 0) {
            char got[128];
            snprintf(got, sizeof got, "%s", PQgetvalue(r, k, 4));
            PQclear(r);
            fail_msg("%s of a %s answer (vendor_response '%s', issuer_authorized %s): %s, want %s",
                     branch, status, vendor, ia, got, want);
        }
        booked += applies;
        kept += !applies;
    }
    PQclear(r);
    /* Not vacuous: per branch, of 7 x 6 x 2 answers, the rule applies to 63 (approved, review,
     * rejected, voided: 4 x 12; declined: 3 soft x 2, 3 others issuer-authorized; error: 6
     * issuer-authorized), not to the other 21. */
    assert_int_equal(booked, (int)N_BRANCHES * (48 + 6 + 3 + 6));
    assert_int_equal(kept, (int)N_BRANCHES * 21);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truth_table),
        cmocka_unit_test(test_one_statement_of_the_rule),
        cmocka_unit_test_setup_teardown(test_triggers_book_by_the_rule, begin, rollback),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
