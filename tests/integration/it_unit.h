/*
 * it_unit.h: runs one database unit a worker spec builds (record, mark_sent, record_sent, store…)
 * against the real PostgreSQL through common/db.c, as the engine would, and waits for its
 * callback. For the integration tests that check a spec's statements (test_services.c,
 * test_svc_sent.c, test_auth_many.c, test_deposit_many.c); include it after cmocka.h.
 */
#ifndef PL_IT_UNIT_H
#define PL_IT_UNIT_H

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "engine.h"

/* The plain connection to PAYLINK_DB a group setup opens (*conninfo set); NULL, said on
 * stderr, when there is none. */
static inline PGconn *it_admin_connect(const char **conninfo)
{
    *conninfo = getenv("PAYLINK_DB");
    if (!*conninfo || !**conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return NULL;
    }
    PGconn *c = PQconnectdb(*conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/*
 * A group setup's connections: the plain one (*admin) and a pl_db that prepares every
 * statement of spec (so each one is valid against the schema) and the nextra of extra (say
 * the engine's own, PL_ENGINE_SQL_FINAL); prefix gets "it-<tag>-<pid>-<time>-" for the test's
 * request ids. One such pl_db per test program. Returns 0, or -1 said on stderr.
 */
static inline int it_open_spec_with(const pl_spec *spec, const pl_db_stmt *extra, size_t nextra,
                                    const char *tag, PGconn **admin, pl_db **db, char *prefix,
                                    size_t size)
{
    const char *conninfo;
    if (!(*admin = it_admin_connect(&conninfo)))
        return -1;
    char err[512] = "";
    static pl_db_stmt all[64]; /* pl_db keeps the array: it lives as long as the test */
    if (spec->nstmts + nextra > sizeof all / sizeof all[0]) {
        fprintf(stderr, "it_open_spec_with: more than %zu statements\n",
                sizeof all / sizeof all[0]);
        return -1;
    }
    memcpy(all, spec->stmts, spec->nstmts * sizeof all[0]);
    if (nextra > 0)
        memcpy(all + spec->nstmts, extra, nextra * sizeof all[0]);
    *db = pl_db_new(conninfo, all, spec->nstmts + nextra, err, sizeof err);
    if (!*db) {
        fprintf(stderr, "pl_db_new with the %s statements: %s\n", spec->worker, err);
        return -1;
    }
    snprintf(prefix, size, "it-%s-%ld-%ld-", tag, (long)getpid(), (long)time(NULL) % 100000);
    return 0;
}

/* it_open_spec_with the spec's statements alone. */
static inline int it_open_spec(const pl_spec *spec, const char *tag, PGconn **admin, pl_db **db,
                               char *prefix, size_t size)
{
    return it_open_spec_with(spec, NULL, 0, tag, admin, db, prefix, size);
}

/* Runs sql with n text parameters on the plain connection; fails the test when it fails. */
static inline void it_exec(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    PQclear(r);
}

/* Sends what is queued and turns the loop as the engine does until no unit is pending (20 s at
 * most, against a hang). */
static inline void it_drive(pl_db *db)
{
    pl_db_flush(db);
    for (int t = 0; t < 400 && pl_db_pending(db) > 0; t++) {
        struct pollfd p = {.fd = pl_db_fd(db), .events = pl_db_events(db)};
        assert_true(poll(&p, 1, 50) >= 0);
        pl_db_on_ready(db, p.fd >= 0 ? p.revents : 0);
        pl_db_flush(db);
    }
    assert_int_equal(pl_db_pending(db), 0);
}

/*
 * The rows of table whose column col is v, as one JSON array in id order (or the table's order
 * when it has no id), without the keys named in drop (a text[] literal such as
 * "{id,request_id}"): what two runs that made the same rows under other ids left alike.
 */
static inline void it_rows(PGconn *c, const char *table, const char *col, const char *v,
                           const char *drop, char *out, size_t size)
{
    char sql[700];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(jsonb_agg(to_jsonb(t) - $2::text[] ORDER BY "
             "(to_jsonb(t) ->> 'id')::bigint), '[]')::text FROM %s t WHERE %s = $1",
             table, col);
    const char *p[] = {v, drop};
    PGresult *r = PQexecParams(c, sql, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s", m);
    }
    snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

typedef struct it_unit_rec {
    int calls, err, ntuples;
    char key[96];    /* the first field of its statement 0's first row, "" when none */
    char rest[1024]; /* the other fields of that row, each followed by '|' (NULL: "\\N") */
    char msg[512];
} it_unit_rec;

static void it_on_unit(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    it_unit_rec *r = arg;
    r->calls++;
    r->err = err;
    r->ntuples = pl_db_unit_ntuples(u, 0);
    const PGresult *res = pl_db_unit_result(u, 0);
    snprintf(r->key, sizeof r->key, "%s", res && PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    size_t at = 0;
    for (int f = 1; res && PQntuples(res) > 0 && f < PQnfields(res); f++) {
        int w = snprintf(r->rest + at, sizeof r->rest - at, "%s|",
                         PQgetisnull(res, 0, f) ? "\\N" : PQgetvalue(res, 0, f));
        assert_true(w >= 0 && (size_t)w < sizeof r->rest - at);
        at += (size_t)w;
    }
    snprintf(r->msg, sizeof r->msg, "%s", errmsg ? errmsg : "");
}

/* A unit of one execution of stmt, declaring that it touches `touch` too (NULL or "": nothing;
 * db.h, pl_db_unit_touch), submitted; its callback fills r. */
static inline void it_submit(pl_db *db, const char *stmt, int n, const char *const *p,
                             const char *touch, it_unit_rec *r)
{
    memset(r, 0, sizeof *r);
    pl_db_unit *u = pl_db_unit_new(it_on_unit, r);
    assert_non_null(u);
    assert_int_equal(pl_db_unit_add(u, stmt, n, p), 0);
    if (touch && *touch)
        assert_int_equal(pl_db_unit_touch(u, touch), 0);
    pl_db_submit(db, u);
}

/*
 * Drives the n units r submitted since `before`, each touching a row another of them touches:
 * they went as n statements of their own, none merged, and none failed.
 */
static inline void it_drive_apart(pl_db *db, pl_db_counts before, const it_unit_rec *r, int n)
{
    it_drive(db);
    pl_db_counts after = pl_db_get_counts(db);
    assert_int_equal(after.merged_executions - before.merged_executions, 0);
    assert_int_equal(after.statements - before.statements, n);
    for (int k = 0; k < n; k++)
        if (r[k].err != 0)
            fail_msg("unit %d: %s", k, r[k].msg);
}

/*
 * Runs n cases, each one unit that submit_case(ctx, i, &r[i]) builds and submits: one at a time
 * (each driven to its callback before the next is submitted) or, merged, all in one batch as a
 * loop turn sends them. Asserts that every execution went in a merged statement (merged) or
 * none did, and that every unit committed.
 */
static inline void it_run_cases(pl_db *db, int n, bool merged,
                                void (*submit_case)(void *ctx, int i, it_unit_rec *r), void *ctx,
                                it_unit_rec *r)
{
    pl_db_counts before = pl_db_get_counts(db);
    for (int i = 0; i < n; i++) {
        submit_case(ctx, i, &r[i]);
        if (!merged)
            it_drive(db);
    }
    it_drive(db);
    pl_db_counts after = pl_db_get_counts(db);
    assert_int_equal(after.merged_executions - before.merged_executions, merged ? n : 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].calls, 1);
        if (r[i].err != 0)
            fail_msg("case %d: %s", i, r[i].msg);
    }
}

/* How a test names case i's rows of set `set` (rid) and compares two rows of table (expect_same).
 */
typedef void (*it_rid_fn)(char *out, size_t outsize, const char *set, const char *what, int i);
typedef void (*it_same_fn)(const char *table, const char *col, const char *a, const char *b);

/*
 * A record statement and its merged form, run on two sets of n cases, request ids "rec<i>" of
 * sets "recone" and "recmany" (submit_case with ctx one, then many): case `again` of each set
 * recorded first, then every case one at a time (one) and all in one batch (many). Every case
 * but those of not_recorded (a bit each, `again`'s among them) inserted its row of table in
 * both sets, alike but for the request ids (same), and returned its own key and the same
 * columns after it (the look-ups).
 */
static inline void it_record_either_way(pl_db *db, int n, int again, unsigned not_recorded,
                                        void (*submit_case)(void *ctx, int i, it_unit_rec *r),
                                        void *one, void *many, it_unit_rec *r1, it_unit_rec *rn,
                                        it_rid_fn rid, it_same_fn same, const char *table)
{
    submit_case(one, again, &r1[again]);
    submit_case(many, again, &rn[again]);
    it_drive(db);
    assert_int_equal(r1[again].ntuples + rn[again].ntuples, 2);
    it_run_cases(db, n, false, submit_case, one, r1);
    it_run_cases(db, n, true, submit_case, many, rn);
    for (int i = 0; i < n; i++) {
        int recorded = !(not_recorded & (1u << i));
        if (r1[i].ntuples != recorded || rn[i].ntuples != recorded)
            fail_msg("case %d: %d and %d rows", i, r1[i].ntuples, rn[i].ntuples);
        assert_string_equal(r1[i].rest, rn[i].rest);
        if (!recorded)
            continue;
        char a[96], b[96];
        rid(a, sizeof a, "recone", "rec", i);
        rid(b, sizeof b, "recmany", "rec", i);
        assert_string_equal(rn[i].key, b);
        same(table, "request_id", a, b);
    }
}

/* The first field of sql's one row, with up to two text parameters (b NULL: one), as text
 * ("(null)" for NULL); fails the test unless sql returns exactly one row. */
static inline void it_value(PGconn *c, const char *sql, const char *a, const char *b, char *out,
                            size_t outsize)
{
    const char *p[] = {a, b};
    PGresult *r = PQexecParams(c, sql, b ? 2 : 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char m[512];
        snprintf(m, sizeof m, "%s (%d rows)", PQresultErrorMessage(r), PQntuples(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    snprintf(out, outsize, "%s", PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* The first field of sql's first row (one text parameter) as a number. */
static inline long it_long(PGconn *c, const char *sql, const char *v)
{
    const char *p[] = {v};
    PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* Deletes the rows whose request_id starts with prefix from each table, in order (children
 * first). */
static inline void it_delete_prefixed(PGconn *c, const char *prefix, const char *const *tables,
                                      size_t n)
{
    char like[128], sql[160];
    snprintf(like, sizeof like, "%s%%", prefix);
    const char *p[] = {like};
    for (size_t i = 0; i < n; i++) {
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE request_id LIKE $1", tables[i]);
        PQclear(PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0));
    }
}

/* A card authorization req of company 7, order order, approved for 100.00 on CYB (of which
 * `deposited` was captured already) with its auth_history row; *auth_id gets that row's id. */
static inline void it_approved_auth(PGconn *c, const char *req, const char *order,
                                    const char *deposited, char *auth_id, size_t size)
{
    const char *p[] = {req, order, deposited};
    it_exec(c,
            "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
            "order_number, pay_seq, service_bureau, status, amount, currency, card_token) "
            "VALUES ($1, repeat('a', 64), 'auth', 7, $2, 1, 'CYB', 'approved', 100.00, 'USD', "
            "'7000000000000000000009')",
            2, p);
    PGresult *r = PQexecParams(c,
                               "INSERT INTO auth_history (request_id, company, order_number, "
                               "pay_seq, service_bureau, transaction_type, status, "
                               "amount_authorized, amount_deposited, currency, auth_number, "
                               "transaction_id) "
                               "VALUES ($1, 7, $2, 1, 'CYB', 'auth', 'approved', 100.00, "
                               "$3::numeric, 'USD', '123456', '7000000000000000000001') "
                               "RETURNING id",
                               3, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(auth_id, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* Runs one unit built by a spec function to its callback (20 s at most); fails the test when
 * the unit failed; returns the rows of its statement 0. */
static inline int run_unit(pl_db *db, int (*add)(pl_job *, pl_db_unit *), pl_job *j)
{
    it_unit_rec r;
    memset(&r, 0, sizeof r);
    pl_db_unit *u = pl_db_unit_new(it_on_unit, &r);
    assert_non_null(u);
    assert_int_equal(add(j, u), 0);
    pl_db_submit(db, u);
    pl_db_flush(db);
    for (int i = 0; i < 400 && r.calls == 0; i++) {
        struct pollfd p = {.fd = pl_db_fd(db), .events = pl_db_events(db)};
        assert_true(poll(&p, 1, 50) >= 0);
        pl_db_on_ready(db, p.fd >= 0 ? p.revents : 0);
        pl_db_flush(db);
    }
    assert_int_equal(r.calls, 1);
    if (r.err != 0)
        fail_msg("%s: %s", j->req.request_id, r.msg);
    return r.ntuples;
}

/* Runs the units add builds for n jobs in one batch, as the engine sends a loop turn's units
 * (so statements with a merged form go merged, db.h), to their callbacks (20 s at most); fails
 * the test when one failed; rows[i] gets job i's rows of its statement 0. */
static inline void run_units(pl_db *db, int (*add)(pl_job *, pl_db_unit *), pl_job *const *jobs,
                             int n, int *rows)
{
    it_unit_rec r[n];
    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++) {
        pl_db_unit *u = pl_db_unit_new(it_on_unit, &r[i]);
        assert_non_null(u);
        assert_int_equal(add(jobs[i], u), 0);
        pl_db_submit(db, u);
    }
    it_drive(db);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].calls, 1);
        if (r[i].err != 0)
            fail_msg("%s: %s", jobs[i]->req.request_id, r[i].msg);
        rows[i] = r[i].ntuples;
    }
}

#endif
