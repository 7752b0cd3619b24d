/*
 * test_auth_many.c: paylink-auth's merged statements (db.h, "NAME:many") against the real
 * schema of PAYLINK_DB. auth_insert_sent:many and auth_store:many leave, for each request, the
 * rows auth_insert_sent and auth_store leave run one at a time — cc_auth_trans column for
 * column and its auth_history row, but the request id, the ids and the moments — and return a
 * row for the same requests: inserted, re-sent by the same attempt (a unit sent again after a
 * lost connection), not for a row another attempt holds; stored, not for a row already final.
 *
 * The statements run through pl_db as the engine runs them: one unit at a time for the single
 * form, all units in one batch for the merged one, under request ids of the test's own,
 * deleted at the end.
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

#include "auth.h"
#include "db.h"
#include "it_unit.h"

enum { N = 6 };

static PGconn *g_admin;
static pl_db *g_db;
static char g_prefix[48];

static int group_setup(void **state)
{
    (void)state;
    return it_open_spec(&pl_auth_spec, "authmany", &g_admin, &g_db, g_prefix, sizeof g_prefix);
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        static const char *const tables[] = {"auth_history", "cc_auth_trans"};
        it_delete_prefixed(g_admin, g_prefix, tables, sizeof tables / sizeof tables[0]);
        PQfinish(g_admin);
    }
    return 0;
}

static void rid(char *out, size_t outsize, const char *form, int i)
{
    snprintf(out, outsize, "%s%s%d", g_prefix, form, i);
}

/* auth_insert_sent's 23 parameters for case i (cases vary the optional columns). */
static void insert_params(int i, const char *request_id, const char *sent_by, const char *p[23])
{
    static char amount[N][16], exp_year[N][12];
    snprintf(amount[i], sizeof amount[i], "%d.%02d", 10 + i * 7, i * 13 % 100);
    snprintf(exp_year[i], sizeof exp_year[i], "%d", 2030 + i);
    const char *v[23] = {
        request_id,
        "5e475e475e475e475e475e475e475e475e475e475e475e475e475e475e475e47",
        "auth",
        "7",
        i % 2 ? "IT-MANY-ODD" : "IT-MANY-EVEN",
        "2",
        "CYB",
        "CC",
        i == 3 ? "batch" : "online",
        amount[i],
        "USD",
        "411111******1111",
        i == 4 ? NULL : "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff",
        i == 4 ? "1796242536945587569656" : "",
        "VI",
        "12",
        exp_year[i],
        i == 5 ? "token_auth" : "auth",
        "paylink_demo",
        sent_by,
        i == 2 ? "CARDHOLDER" : NULL,
        NULL,
        i == 2 ? "it \"quoted\" \\ transaction\tid" : NULL};
    memcpy(p, v, sizeof v);
}

/* auth_store's 16 parameters for case i. */
static void store_params(int i, const char *request_id, const char *p[16])
{
    static char error_text[700];
    memset(error_text, 'e', sizeof error_text - 1);
    error_text[sizeof error_text - 1] = '\0';
    const char *status = i == 1 ? "declined" : i == 3 ? "rejected" : "approved";
    const char *v[16] = {
        request_id,
        status,
        i == 3 ? "REJECT" : "ACCEPT",
        i == 1 ? "204" : "100",
        i == 1 ? NULL : "12.34",
        i == 1 ? "" : "181532",
        "2026-12-02T20:15:36Z",
        "1796242536945587569655",
        "4kkNtmPlSZqTFueOwwPCa2WND0eD4052gP5QCnRkMhO+KhYTCUh6Wm87xjRxiFFl",
        "Y",
        "M",
        i == 4 ? "" : "1796242536945587569656",
        i == 1 ? "AT" : "",
        i == 3 ? "true" : "false",
        i == 5 ? error_text : "",
        "{\"v\":1,\"status\":\"approved\",\"message\":\"caf\xc3\xa9 \\u00e9 \\\"ok\\\"\"}"};
    memcpy(p, v, sizeof v);
}

/* Columns of table's row for b that differ from a's, but the request id, ids and moments. */
static void difference(const char *table, const char *a, const char *b, char *out, size_t outsize)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "WITH x AS (SELECT to_jsonb(t) - 'request_id' - 'id' - 'received_at' - 'sent_at' "
             "- 'answered_at' - 'created_at' AS j FROM %s t WHERE request_id = $1), "
             "y AS (SELECT to_jsonb(t) - 'request_id' - 'id' - 'received_at' - 'sent_at' "
             "- 'answered_at' - 'created_at' AS j FROM %s t WHERE request_id = $2) "
             "SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM y), "
             "(SELECT coalesce(string_agg(k, ',' ORDER BY k), '') FROM x, y, "
             "jsonb_object_keys(x.j || y.j) k WHERE x.j -> k IS DISTINCT FROM y.j -> k)",
             table, table);
    const char *p[] = {a, b};
    PGresult *r = PQexecParams(g_admin, sql, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s", m);
    }
    snprintf(out, outsize, "rows %s/%s differ [%s]", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
             PQgetvalue(r, 0, 2));
    PQclear(r);
}

static void expect_same(const char *table, const char *a, const char *b, const char *rows)
{
    char got[512], want[64];
    difference(table, a, b, got, sizeof got);
    snprintf(want, sizeof want, "rows %s/%s differ []", rows, rows);
    if (strcmp(got, want) != 0)
        fail_msg("%s %s vs %s: %s", table, a, b, got);
}

/* What run_all runs: statement stmt for every case, its rows named by form. */
typedef struct run {
    const char *stmt, *form, *sent_by;
    char ids[N][96];
} run;

static void submit_case(void *ctx, int i, it_unit_rec *r)
{
    run *x = ctx;
    rid(x->ids[i], sizeof x->ids[i], x->form, i);
    const char *p[23];
    int n = 23;
    if (strcmp(x->stmt, "auth_store") == 0) {
        store_params(i, x->ids[i], p);
        n = 16;
    } else {
        insert_params(i, x->ids[i], x->sent_by, p);
    }
    it_submit(g_db, x->stmt, n, p, NULL, r);
}

/* Runs statement stmt for every case: one unit at a time (merged false) or all in one batch. */
static void run_all(const char *stmt, bool merged, const char *form, const char *sent_by,
                    it_unit_rec *r)
{
    static run x;
    x.stmt = stmt;
    x.form = form;
    x.sent_by = sent_by;
    it_run_cases(g_db, N, merged, submit_case, &x, r);
}

static void test_same_rows_either_way(void **state)
{
    (void)state;
    it_unit_rec one[N], many[N];
    char a[96], b[96];

    /* Recorded as sent: a row each, returned. */
    run_all("auth_insert_sent", false, "one", "it/1", one);
    run_all("auth_insert_sent", true, "many", "it/1", many);
    for (int i = 0; i < N; i++) {
        rid(a, sizeof a, "one", i);
        rid(b, sizeof b, "many", i);
        assert_int_equal(one[i].ntuples, 1);
        assert_int_equal(many[i].ntuples, 1);
        assert_string_equal(one[i].key, a);
        assert_string_equal(many[i].key, b);
        expect_same("cc_auth_trans", a, b, "1");
    }
    /* The same attempt again (its unit re-sent after a lost connection): returned again, and
     * marked sent now, as every mark sent again is (a redelivery elsewhere waits for the owner
     * from sent_at: an old one would give up on it while its call is at the bureau);
     * another attempt: nothing, and nothing changes. */
    char like[64], v[32];
    snprintf(like, sizeof like, "%s%%", g_prefix);
    it_value(g_admin,
             "WITH u AS (UPDATE cc_auth_trans SET sent_at = now() - interval '1 minute' "
             "WHERE request_id LIKE $1 RETURNING 1) SELECT count(*) FROM u",
             like, NULL, v, sizeof v);
    assert_int_equal(atoi(v), 2 * N);
    run_all("auth_insert_sent", false, "one", "it/1", one);
    run_all("auth_insert_sent", true, "many", "it/1", many);
    for (int i = 0; i < N; i++) {
        assert_int_equal(one[i].ntuples, 1);
        assert_int_equal(many[i].ntuples, 1);
    }
    it_value(g_admin,
             "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE $1 "
             "AND sent_at > now() - interval '30 seconds'",
             like, NULL, v, sizeof v);
    assert_int_equal(atoi(v), 2 * N);
    run_all("auth_insert_sent", false, "one", "it/2", one);
    run_all("auth_insert_sent", true, "many", "it/2", many);
    for (int i = 0; i < N; i++) {
        rid(a, sizeof a, "one", i);
        rid(b, sizeof b, "many", i);
        assert_int_equal(one[i].ntuples, 0);
        assert_int_equal(many[i].ntuples, 0);
        expect_same("cc_auth_trans", a, b, "1");
    }

    /* The answers stored, with their history rows. */
    run_all("auth_store", false, "one", NULL, one);
    run_all("auth_store", true, "many", NULL, many);
    for (int i = 0; i < N; i++) {
        rid(a, sizeof a, "one", i);
        rid(b, sizeof b, "many", i);
        assert_int_equal(one[i].ntuples, 1);
        assert_int_equal(many[i].ntuples, 1);
        assert_string_equal(many[i].key, b);
        expect_same("cc_auth_trans", a, b, "1");
        expect_same("auth_history", a, b, "1");
    }
    /* A row already final takes no second answer, either way. */
    run_all("auth_store", false, "one", NULL, one);
    run_all("auth_store", true, "many", NULL, many);
    for (int i = 0; i < N; i++) {
        rid(a, sizeof a, "one", i);
        rid(b, sizeof b, "many", i);
        assert_int_equal(one[i].ntuples, 0);
        assert_int_equal(many[i].ntuples, 0);
        expect_same("auth_history", a, b, "1");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_rows_either_way),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
