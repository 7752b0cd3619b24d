/*
 * test_deposit_many.c: paylink-deposit's merged statements (db.h, "NAME:many") against the real
 * schema of PAYLINK_DB. dep_mark_sent_auth:many and dep_store:many leave, for each capture, the
 * rows dep_mark_sent_auth and dep_store leave run one at a time — cc_deposit_trans column for
 * column, its cc_deposit_history rows and the authorization's auth_history row (claimed,
 * settled, its remainder voided), but the request ids, the ids and the moments — and return a
 * row for the same requests: a claim that fits, not one over what remains; the same attempt
 * again (no second claim), not another attempt; an answer stored once.
 *
 * And the reason for pl_deposit_touch_key: two captures on one authorization in one batch do
 * not share a merged statement (an UPDATE changes a row once however many executions join it:
 * both would be marked sent on one claim), so only the one the authorization has room for is
 * marked, exactly as one at a time.
 *
 * The statements run through pl_db as the engine runs them, under request ids of the test's
 * own, deleted at the end.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db.h"
#include "deposit.h"
#include "it_unit.h"

enum { N = 6 };

static const char *g_conninfo;
static PGconn *g_admin;
static pl_db *g_db;
static char g_prefix[48];

static int group_setup(void **state)
{
    (void)state;
    if (!(g_admin = it_admin_connect(&g_conninfo)))
        return -1;
    char err[512] = "";
    g_db = pl_db_new(g_conninfo, pl_deposit_spec.stmts, pl_deposit_spec.nstmts, err, sizeof err);
    if (!g_db) {
        fprintf(stderr, "pl_db_new with the deposit statements: %s\n", err);
        return -1;
    }
    snprintf(g_prefix, sizeof g_prefix, "it-depmany-%ld-%ld-", (long)getpid(),
             (long)time(NULL) % 100000);
    return 0;
}

static void admin(const char *sql, int n, const char *const *p)
{
    it_exec(g_admin, sql, n, p);
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        char like[64];
        snprintf(like, sizeof like, "%s%%", g_prefix);
        const char *p[] = {like};
        static const char *const sql[] = {
            "DELETE FROM cc_deposit_history WHERE request_id LIKE $1",
            "DELETE FROM auth_history WHERE request_id LIKE $1",
            "DELETE FROM cc_deposit_trans WHERE request_id LIKE $1",
            "DELETE FROM cc_auth_trans WHERE request_id LIKE $1",
        };
        for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
            PQclear(PQexecParams(g_admin, sql[i], 1, NULL, p, NULL, NULL, 0));
        PQfinish(g_admin);
    }
    return 0;
}

typedef struct rec {
    int calls, err, ntuples;
    char key[96];
    char msg[512];
} rec;

static void on_unit(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    rec *r = arg;
    r->calls++;
    r->err = err;
    r->ntuples = pl_db_unit_ntuples(u, 0);
    const PGresult *res = pl_db_unit_result(u, 0);
    snprintf(r->key, sizeof r->key, "%s", res && PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    snprintf(r->msg, sizeof r->msg, "%s", errmsg ? errmsg : "");
}

/* A unit of one execution of stmt, declaring what a capture on auth_id touches (as the spec
 * does), submitted. */
static void submit(const char *stmt, int n, const char *const *p, const char *auth_id, rec *r)
{
    memset(r, 0, sizeof *r);
    pl_db_unit *u = pl_db_unit_new(on_unit, r);
    assert_non_null(u);
    assert_int_equal(pl_db_unit_add(u, stmt, n, p), 0);
    char key[96];
    pl_deposit_touch_key(PL_DEP_CAPTURE, auth_id, NULL, key, sizeof key);
    if (key[0])
        assert_int_equal(pl_db_unit_touch(u, key), 0);
    pl_db_submit(g_db, u);
}

/* Turns the loop until every unit is called back (20 s at most). */
static void drive(void)
{
    it_drive(g_db);
}

static void rid(char *out, size_t outsize, const char *set, const char *what, int i)
{
    snprintf(out, outsize, "%s%s-%s%d", g_prefix, set, what, i);
}

/* Case i's authorization: approved for 100.00 on CYB (whose captures void the remainder). */
static void make_auth(const char *set, int i, const char *order, char *auth_id, size_t size)
{
    char req[96];
    rid(req, sizeof req, set, "auth", i);
    const char *p[] = {req, order};
    admin("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
          "order_number, pay_seq, service_bureau, status, amount, currency, card_token) "
          "VALUES ($1, repeat('a', 64), 'auth', 7, $2, 1, 'CYB', 'approved', 100.00, 'USD', "
          "'7000000000000000000009')",
          2, p);
    PGresult *r = PQexecParams(g_admin,
                               "INSERT INTO auth_history (request_id, company, order_number, "
                               "pay_seq, service_bureau, transaction_type, status, "
                               "amount_authorized, currency, auth_number, transaction_id) "
                               "VALUES ($1, 7, $2, 1, 'CYB', 'auth', 'approved', 100.00, 'USD', "
                               "'123456', '7000000000000000000001') RETURNING id",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(auth_id, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* A debit of amount on the authorization of case i, recorded (dep_insert). */
static void record_debit(const char *set, const char *what, int i, const char *order,
                         const char *amount)
{
    char req[96], auth[96];
    rid(req, sizeof req, set, what, i);
    rid(auth, sizeof auth, set, "auth", i);
    const char *p[18] = {
        req,     "cafe000000000000000000000000000000000000000000000000000000000000",
        "debit", "7",
        order,   "1",
        "CYB",   "CC",
        amount,  "USD",
        "false", "411111******1111",
        NULL,    "7000000000000000000009",
        "VI",    auth,
        "",      ""};
    rec r;
    submit("dep_insert", 18, p, NULL, &r);
    drive();
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1);
}

/* dep_mark_sent_auth's 9 parameters. */
static void mark_params(const char *req, const char *auth_id, const char *sent_by,
                        const char *amount, bool token, const char *p[9])
{
    const char *v[9] = {req,
                        "capture",
                        "paylink_demo",
                        "capture",
                        auth_id,
                        "70000",
                        token ? "7000000000000000000009" : "",
                        sent_by,
                        amount};
    memcpy(p, v, sizeof v);
}

/* dep_store's 11 parameters for case i (declined, error or approved for amount). */
static void store_params(int i, const char *req, const char *amount, const char *p[11])
{
    const char *status = i == 1 ? "declined" : i == 3 ? "error" : "approved";
    const char *v[11] = {req,
                         status,
                         i == 1   ? "REJECT"
                         : i == 3 ? "ERROR"
                                  : "ACCEPT",
                         i == 1   ? "204"
                         : i == 3 ? "150"
                                  : "100",
                         i == 1 || i == 3 ? NULL : amount,
                         "",
                         "2026-12-03T10:00:00Z",
                         "7000000000000000000077",
                         "tok\"en\\",
                         i == 3 ? "SOAP-ENV:Server: general failure" : "",
                         "{\"v\":1,\"status\":\"x\",\"message\":\"caf\xc3\xa9 \\u00e9\"}"};
    memcpy(p, v, sizeof v);
}

typedef struct setup {
    char auth_id[N][24];
    char amount[N][16];
    char req[N][96];
} setup;

/* One set of cases: their authorizations and recorded debits (case 2 asks for more than the
 * authorization holds). */
static void prepare(const char *set, setup *s)
{
    for (int i = 0; i < N; i++) {
        char order[24];
        snprintf(order, sizeof order, "IT-DM-%s%d", set, i);
        make_auth(set, i, order, s->auth_id[i], sizeof s->auth_id[i]);
        snprintf(s->amount[i], sizeof s->amount[i], i == 2 ? "150.00" : "%d.%02d", 40 + i, i * 7);
        rid(s->req[i], sizeof s->req[i], set, "dep", i);
        record_debit(set, "dep", i, order, s->amount[i]);
    }
}

/* Marks every case's debit as sent by sent_by: one unit at a time, or all in one batch. */
static void mark_all(setup *s, bool merged, const char *sent_by, rec *r)
{
    pl_db_counts before = pl_db_get_counts(g_db);
    for (int i = 0; i < N; i++) {
        const char *p[9];
        mark_params(s->req[i], s->auth_id[i], sent_by, s->amount[i], i == 4, p);
        submit("dep_mark_sent_auth", 9, p, s->auth_id[i], &r[i]);
        if (!merged)
            drive();
    }
    drive();
    pl_db_counts after = pl_db_get_counts(g_db);
    assert_int_equal(after.merged_executions - before.merged_executions, merged ? N : 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].calls, 1);
        if (r[i].err != 0)
            fail_msg("mark %s: %s", s->req[i], r[i].msg);
    }
}

static void store_all(setup *s, bool merged, rec *r)
{
    pl_db_counts before = pl_db_get_counts(g_db);
    for (int i = 0; i < N; i++) {
        const char *p[11];
        store_params(i, s->req[i], s->amount[i], p);
        submit("dep_store", 11, p, s->auth_id[i], &r[i]);
        if (!merged)
            drive();
    }
    drive();
    pl_db_counts after = pl_db_get_counts(g_db);
    assert_int_equal(after.merged_executions - before.merged_executions, merged ? N : 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].calls, 1);
        if (r[i].err != 0)
            fail_msg("store %s: %s", s->req[i], r[i].msg);
    }
}

/* The rows of table whose column col is v, as JSON without the keys that name this set's own
 * rows or moments, in id order. */
static void rows_of(const char *table, const char *col, const char *v, char *out, size_t size)
{
    char sql[600];
    snprintf(
        sql, sizeof sql,
        "SELECT coalesce(jsonb_agg(to_jsonb(t) - '{id,request_id,auth_history_id,"
        "auth_ref_request_id,order_number,voided_by,received_at,sent_at,answered_at,created_at}'"
        "::text[] ORDER BY to_jsonb(t) ->> 'id'), '[]')::text FROM %s t WHERE %s = $1",
        table, col);
    const char *p[] = {v};
    PGresult *r = PQexecParams(g_admin, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s", m);
    }
    snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void expect_same(const char *table, const char *col, const char *a, const char *b)
{
    static char x[16384], y[16384];
    rows_of(table, col, a, x, sizeof x);
    rows_of(table, col, b, y, sizeof y);
    if (strcmp(x, y) != 0)
        fail_msg("%s %s vs %s:\n%s\n%s", table, a, b, x, y);
    if (strcmp(x, "[]") == 0)
        fail_msg("%s: no rows for %s", table, a);
}

/* Every row the two sets' case i left alike. */
static void expect_sets_alike(const setup *one, const setup *many, int i)
{
    expect_same("cc_deposit_trans", "request_id", one->req[i], many->req[i]);
    expect_same("auth_history", "id", one->auth_id[i], many->auth_id[i]);
    char a[96], b[96];
    rid(a, sizeof a, "one", "dep", i);
    rid(b, sizeof b, "many", "dep", i);
    static char x[16384], y[16384];
    rows_of("cc_deposit_history", "request_id", a, x, sizeof x);
    rows_of("cc_deposit_history", "request_id", b, y, sizeof y);
    assert_string_equal(x, y);
}

static void test_same_rows_either_way(void **state)
{
    (void)state;
    static setup one, many;
    rec r1[N], rn[N];
    prepare("one", &one);
    prepare("many", &many);

    /* Marked and claimed; case 2 asks for more than remains: not marked, nothing claimed. */
    mark_all(&one, false, "it/1", r1);
    mark_all(&many, true, "it/1", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, i == 2 ? 0 : 1);
        assert_int_equal(rn[i].ntuples, i == 2 ? 0 : 1);
        if (i != 2)
            assert_string_equal(rn[i].key, many.req[i]);
        expect_sets_alike(&one, &many, i);
    }
    /* The same attempt again: returned, claimed once; another attempt: nothing. */
    mark_all(&one, false, "it/1", r1);
    mark_all(&many, true, "it/1", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rn[i].ntuples, r1[i].ntuples);
        assert_int_equal(rn[i].ntuples, i == 2 ? 0 : 1);
        expect_sets_alike(&one, &many, i);
    }
    mark_all(&one, false, "it/2", r1);
    mark_all(&many, true, "it/2", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 0);
        assert_int_equal(rn[i].ntuples, 0);
        expect_sets_alike(&one, &many, i);
    }

    /* The answers, with their history rows and the authorizations settled (an approved
     * capture on CYB voids the remainder; a declined one or an error releases the claim). */
    store_all(&one, false, r1);
    store_all(&many, true, rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, i == 2 ? 0 : 1);
        assert_int_equal(rn[i].ntuples, i == 2 ? 0 : 1);
        expect_sets_alike(&one, &many, i);
    }
    /* A row already final takes no second answer, either way. */
    store_all(&one, false, r1);
    store_all(&many, true, rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 0);
        assert_int_equal(rn[i].ntuples, 0);
        expect_sets_alike(&one, &many, i);
    }
}

static long admin_long(const char *sql, const char *v)
{
    const char *p[] = {v};
    PGresult *r = PQexecParams(g_admin, sql, 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static void test_two_captures_on_one_authorization(void **state)
{
    (void)state;
    char auth_id[24], order[] = "IT-DM-TWO";
    make_auth("two", 0, order, auth_id, sizeof auth_id);
    char req[2][96];
    for (int k = 0; k < 2; k++) {
        rid(req[k], sizeof req[k], "two", k ? "second" : "first", 0);
        record_debit("two", k ? "second" : "first", 0, order, "60.00");
    }
    /* In one batch: each fits the authorization alone, not both. */
    pl_db_counts before = pl_db_get_counts(g_db);
    rec r[2];
    for (int k = 0; k < 2; k++) {
        const char *p[9];
        mark_params(req[k], auth_id, "it/1", "60.00", false, p);
        submit("dep_mark_sent_auth", 9, p, auth_id, &r[k]);
    }
    drive();
    pl_db_counts after = pl_db_get_counts(g_db);
    assert_int_equal(after.merged_executions - before.merged_executions, 0);
    assert_int_equal(after.statements - before.statements, 2);
    assert_int_equal(r[0].err, 0);
    assert_int_equal(r[1].err, 0);
    assert_int_equal(r[0].ntuples + r[1].ntuples, 1);
    assert_int_equal(admin_long("SELECT (amount_pending * 100)::bigint FROM auth_history "
                                "WHERE id = $1::bigint",
                                auth_id),
                     6000);
    assert_int_equal(admin_long("SELECT count(*) FROM cc_deposit_trans WHERE status = 'sent' "
                                "AND auth_history_id = $1::bigint",
                                auth_id),
                     1);
}

/* The key itself: the debit a follow-on credit refunds, else the authorization, else none. */
static void test_touch_key(void **state)
{
    (void)state;
    char k[96];
    pl_deposit_touch_key(PL_DEP_CAPTURE, "42", "", k, sizeof k);
    assert_string_equal(k, "auth_history:42");
    pl_deposit_touch_key(PL_DEP_AUTH_CAPTURE, "42", "", k, sizeof k);
    assert_string_equal(k, "auth_history:42");
    pl_deposit_touch_key(PL_DEP_CAPTURE, NULL, "", k, sizeof k);
    assert_string_equal(k, "");
    pl_deposit_touch_key(PL_DEP_CREDIT_FOLLOW_ON, "42", "debit-7", k, sizeof k);
    assert_string_equal(k, "debit-7");
    pl_deposit_touch_key(PL_DEP_CREDIT_STAND_ALONE, "42", "", k, sizeof k);
    assert_string_equal(k, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_touch_key),
        cmocka_unit_test(test_same_rows_either_way),
        cmocka_unit_test(test_two_captures_on_one_authorization),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
