/*
 * test_reversal_many.c: paylink-reversal's merged statements (db.h, "NAME:many") against the
 * real schema of PAYLINK_DB. rev_mark_sent:many and rev_store:many leave, for each reversal,
 * the rows rev_mark_sent and rev_store leave run one at a time — auth_reversal column for
 * column and the authorization's auth_history row (claimed whole, marked reversed, the claim
 * released), but the request ids, the ids and the moments — and return a row for the same
 * requests: a claim on an authorization nothing was captured of, not on one with a capture; a
 * manual authorization (nothing to claim); the same attempt again, not another attempt; an
 * answer stored once.
 *
 * And the reason for pl_reversal_touch_key: two reversals of one authorization in one batch do
 * not share a merged statement, so only one claims it, exactly as one at a time.
 *
 * And a CyberSource authorization declined while its ccAuthReply said the issuer authorized it,
 * stored by paylink-auth's store (its statements are prepared here too): claimed, reversed and
 * marked reversed; one the issuer declined is not claimed (migration 060). The same for one
 * answered ERROR 150 while its ccAuthReply said the issuer authorized it (064).
 *
 * And the two copies of a timeout reversal `.tor` an operator's reject of a partial approval
 * leaves (the resolver's, still queued, and the one it publishes again with the final reply),
 * processed in that order by paylink-reversal's record, prepare, mark and store: the first goes
 * for what the issuer holds, the second is the same request (migration 061).
 *
 * And a reversal of such a refused authorization approved for less than the issuer held: the
 * authorization keeps its status and what is still held, which the next reversal claims and
 * goes for (migration 065); of one recording no amount held, what its claim records (the amount
 * asked, when the reversal goes for it). A reversal prepared before another one of the same
 * authorization was approved for less claims nothing for the amount it was prepared with, and
 * goes for what is left once decided again; none is claimed while a timeout reversal of the
 * authorization is in flight. A late answer's partial approval replaces the amount asked such a
 * claim recorded.
 *
 * And paylink's own reversal approved for less: it asks for the rest (`.rest`), which
 * paylink-reversal takes as its own, at most PL_REVERSAL_MAX_RESTS times. The same when its
 * answer never came and an operator resolves it approved for less (`wreq resolve --amount`):
 * the resolver asks for the same rest, the same message (common/reversal_own.h), or tells an
 * operator why none is asked, as paylink-reversal does. And when the resolver's own query (its
 * step, against the bureau simulator that dm_settings names) finds the bureau's record of one
 * approved for less than its call sent.
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
#include <curl/curl.h>
#include <libpq-fe.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "auth.h"
#include "bureau.h"
#include "db.h"
#include "it_sim_cyb.h"
#include "it_unit.h"
#include "log.h"
#include "money.h"
#include "reply.h"
#include "request.h"
#include "resolver.h"
#include "reversal.h"
#include "services.h"
#include "../unit/job_test_helpers.h"

enum { N = 6 };

/* Case 2's authorization has a capture (no reversal claims it); case 5 is a manual one. */
#define CAPTURED 2
#define MANUAL 5

static PGconn *g_admin;
static pl_db *g_db;
static char g_prefix[48];
/* The order of test_operator_approval_asks_no_rest, whose third rest's request id is too long
 * for its suffix (hashed: `rest.<digits>`, without the prefix): its rows are deleted by it. */
static char g_hashed_order[24];

static int group_setup(void **state)
{
    (void)state;
    /* The step's query and the test's calls to the bureau simulator. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    /* paylink-auth's statements beside: its store writes what a reversal then claims. */
    return it_open_spec_with(&pl_reversal_spec, pl_auth_spec.stmts, pl_auth_spec.nstmts, "revmany",
                             &g_admin, &g_db, g_prefix, sizeof g_prefix);
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        static const char *const tables[] = {"auth_reversal", "auth_history", "required_response",
                                             "cc_auth_trans", "cc_deposit_trans"};
        /* First: they name this run's authorizations. */
        if (g_hashed_order[0]) {
            static const char *const hashed[] = {
                "DELETE FROM required_response WHERE order_number = $1 AND request_id LIKE "
                "'rest.%'",
                "DELETE FROM auth_reversal WHERE order_number = $1 AND request_id LIKE 'rest.%'"};
            for (size_t i = 0; i < sizeof hashed / sizeof hashed[0]; i++)
                PQclear(PQexecParams(g_admin, hashed[i], 1, NULL,
                                     (const char *const[]){g_hashed_order}, NULL, NULL, 0));
        }
        it_delete_prefixed(g_admin, g_prefix, tables, sizeof tables / sizeof tables[0]);
        PQfinish(g_admin);
    }
    curl_global_cleanup();
    return 0;
}

/* A unit of one execution of stmt, declaring what a reversal of auth_id touches (as the spec
 * does), submitted. */
static void submit(const char *stmt, int n, const char *const *p, const char *auth_id,
                   it_unit_rec *r)
{
    char key[96];
    pl_reversal_touch_key(false, auth_id, NULL, key, sizeof key);
    it_submit(g_db, stmt, n, p, key, r);
}

static void rid(char *out, size_t outsize, const char *set, const char *what, int i)
{
    snprintf(out, outsize, "%s%s-%s%d", g_prefix, set, what, i);
}

/* An authorization approved for 100.00 (deposited: 25.00 of it captured already). */
static void make_auth(const char *req, const char *order, bool deposited, char *auth_id,
                      size_t size)
{
    it_approved_auth(g_admin, req, order, deposited ? "25.00" : "0", auth_id, size);
}

/* A reversal of auth_req (NULL: a manual authorization), recorded (rev_insert). */
static void record_reversal(const char *req, const char *order, const char *auth_req)
{
    const char *p[14] = {req,
                         "cafe000000000000000000000000000000000000000000000000000000000000",
                         "7",
                         order,
                         "1",
                         "CYB",
                         "CC",
                         "100.00",
                         "USD",
                         auth_req,
                         auth_req ? "" : "7000000000000000000055",
                         "",
                         "123456",
                         "2026-12-03"};
    it_unit_rec r;
    submit("rev_insert", 14, p, NULL, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1);
}

typedef struct setup {
    char auth_req[N][96];
    char auth_id[N][24]; /* "" for the manual authorization */
    char req[N][96];
} setup;

static void prepare(const char *set, setup *s)
{
    for (int i = 0; i < N; i++) {
        char order[24];
        snprintf(order, sizeof order, "IT-RM-%s%d", set, i);
        rid(s->auth_req[i], sizeof s->auth_req[i], set, "auth", i);
        rid(s->req[i], sizeof s->req[i], set, "rev", i);
        if (i == MANUAL) {
            s->auth_id[i][0] = '\0';
            record_reversal(s->req[i], order, NULL);
            continue;
        }
        make_auth(s->auth_req[i], order, i == CAPTURED, s->auth_id[i], sizeof s->auth_id[i]);
        record_reversal(s->req[i], order, s->auth_req[i]);
    }
}

/* rev_mark_sent's 11 parameters (the whole 100.00 sent). */
static void mark_params(const setup *s, int i, const char *sent_by, const char *p[11])
{
    const char *v[11] = {s->req[i],
                         "reversal",
                         "paylink_demo",
                         i == MANUAL ? NULL : s->auth_req[i],
                         i == MANUAL ? NULL : s->auth_id[i],
                         "7000000000000000000001",
                         i == 4 ? "tok\"en\\" : "",
                         "123456",
                         i == 3 ? "VI" : "CC",
                         sent_by,
                         "100.00"};
    memcpy(p, v, sizeof v);
}

/* rev_store's 9 parameters for case i (declined or approved). */
static void store_params(const setup *s, int i, const char *p[9])
{
    const char *v[9] = {s->req[i],
                        i == 1 ? "declined" : "approved",
                        i == 1 ? "REJECT" : "ACCEPT",
                        i == 1 ? "238" : "100",
                        i == 1 ? NULL : "100.00",
                        "7000000000000000000088",
                        "token",
                        i == 1 ? "already captured" : "",
                        "{\"v\":1,\"message\":\"caf\xc3\xa9 \\u00e9\"}"};
    memcpy(p, v, sizeof v);
}

/* What run_all runs: statement stmt for every case of set s (marks: as sent by sent_by). */
typedef struct run {
    const char *stmt;
    setup *s;
    const char *sent_by;
} run;

static void submit_case(void *ctx, int i, it_unit_rec *r)
{
    const run *x = ctx;
    const char *p[11];
    if (strcmp(x->stmt, "rev_mark_sent") == 0) {
        mark_params(x->s, i, x->sent_by, p);
        submit(x->stmt, 11, p, x->s->auth_id[i], r);
    } else {
        store_params(x->s, i, p);
        submit(x->stmt, 9, p, x->s->auth_id[i], r);
    }
}

/* Runs stmt for every case: one unit at a time, or all in one batch. */
static void run_all(const char *stmt, setup *s, bool merged, const char *sent_by, it_unit_rec *r)
{
    run x = {stmt, s, sent_by};
    it_run_cases(g_db, N, merged, submit_case, &x, r);
}

/* What names a set's own rows or moments (it_rows). */
#define DROP                                                                                       \
    "{id,request_id,auth_request_id,auth_history_id,order_number,received_at,sent_at,"             \
    "answered_at,created_at}"

static void expect_same(const char *table, const char *col, const char *a, const char *b)
{
    static char x[16384], y[16384];
    it_rows(g_admin, table, col, a, DROP, x, sizeof x);
    it_rows(g_admin, table, col, b, DROP, y, sizeof y);
    if (strcmp(x, y) != 0)
        fail_msg("%s %s vs %s:\n%s\n%s", table, a, b, x, y);
    if (strcmp(x, "[]") == 0)
        fail_msg("%s: no rows for %s", table, a);
}

static void expect_sets_alike(const setup *one, const setup *many, int i)
{
    expect_same("auth_reversal", "request_id", one->req[i], many->req[i]);
    if (i != MANUAL)
        expect_same("auth_history", "request_id", one->auth_req[i], many->auth_req[i]);
}

static void test_same_rows_either_way(void **state)
{
    (void)state;
    static setup one, many;
    it_unit_rec r1[N], rn[N];
    prepare("one", &one);
    prepare("many", &many);

    /* Marked and claimed; not where a capture was made; a manual one without a claim. */
    run_all("rev_mark_sent", &one, false, "it/1", r1);
    run_all("rev_mark_sent", &many, true, "it/1", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, i == CAPTURED ? 0 : 1);
        assert_int_equal(rn[i].ntuples, i == CAPTURED ? 0 : 1);
        if (i != CAPTURED)
            assert_string_equal(rn[i].key, many.req[i]);
        expect_sets_alike(&one, &many, i);
    }
    /* The same attempt again: returned, claimed once; another attempt: nothing. */
    run_all("rev_mark_sent", &one, false, "it/1", r1);
    run_all("rev_mark_sent", &many, true, "it/1", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rn[i].ntuples, i == CAPTURED ? 0 : 1);
        assert_int_equal(r1[i].ntuples, rn[i].ntuples);
        expect_sets_alike(&one, &many, i);
    }
    run_all("rev_mark_sent", &one, false, "it/2", r1);
    run_all("rev_mark_sent", &many, true, "it/2", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 0);
        assert_int_equal(rn[i].ntuples, 0);
        expect_sets_alike(&one, &many, i);
    }

    /* The answers: an approved reversal marks its authorization reversed; the claim is
     * released either way. */
    run_all("rev_store", &one, false, NULL, r1);
    run_all("rev_store", &many, true, NULL, rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, i == CAPTURED ? 0 : 1);
        assert_int_equal(rn[i].ntuples, i == CAPTURED ? 0 : 1);
        expect_sets_alike(&one, &many, i);
    }
    run_all("rev_store", &one, false, NULL, r1);
    run_all("rev_store", &many, true, NULL, rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 0);
        assert_int_equal(rn[i].ntuples, 0);
        expect_sets_alike(&one, &many, i);
    }
}

/* One approved authorization of order (then changed by `change`, SQL on its auth_history id
 * when not NULL) and two reversals of it recorded, as setup s's cases 0 and 1. */
static void two_reversals(setup *s, const char *tag, const char *order, const char *change)
{
    rid(s->auth_req[0], sizeof s->auth_req[0], tag, "auth", 0);
    make_auth(s->auth_req[0], order, false, s->auth_id[0], sizeof s->auth_id[0]);
    if (change)
        it_exec(g_admin, change, 1, (const char *const[]){s->auth_id[0]});
    for (int k = 0; k < 2; k++) {
        rid(s->req[k], sizeof s->req[k], tag, "rev", k);
        record_reversal(s->req[k], order, s->auth_req[0]);
        if (k > 0) {
            memcpy(s->auth_req[k], s->auth_req[0], sizeof s->auth_req[k]);
            memcpy(s->auth_id[k], s->auth_id[0], sizeof s->auth_id[k]);
        }
    }
}

static void test_two_reversals_of_one_authorization(void **state)
{
    (void)state;
    static setup s;
    two_reversals(&s, "two", "IT-RM-TWO", NULL);
    pl_db_counts before = pl_db_get_counts(g_db);
    it_unit_rec r[2];
    for (int k = 0; k < 2; k++) {
        const char *p[11];
        mark_params(&s, k, "it/1", p);
        submit("rev_mark_sent", 11, p, s.auth_id[k], &r[k]);
    }
    it_drive(g_db);
    pl_db_counts after = pl_db_get_counts(g_db);
    assert_int_equal(after.merged_executions - before.merged_executions, 0);
    assert_int_equal(r[0].err, 0);
    assert_int_equal(r[1].err, 0);
    assert_int_equal(r[0].ntuples + r[1].ntuples, 1);
    assert_int_equal(it_long(g_admin,
                             "SELECT (amount_pending * 100)::bigint FROM auth_history "
                             "WHERE id = $1::bigint",
                             s.auth_id[0]),
                     10000);
    assert_int_equal(it_long(g_admin,
                             "SELECT count(*) FROM auth_reversal WHERE status = 'sent' "
                             "AND auth_history_id = $1::bigint",
                             s.auth_id[0]),
                     1);
}

/* Two reversals of a reject (481, no amount authorized recorded: the issuer holds it all the
 * same): one is marked, its claim a marker, and the other refused while it is in flight (before,
 * both claimed nothing and went to the bureau, which declined one). */
static void test_two_reversals_of_a_reject(void **state)
{
    (void)state;
    static setup s;
    two_reversals(&s, "twor", "IT-RM-TWOR",
                  "UPDATE auth_history SET status = 'rejected', amount_authorized = NULL "
                  "WHERE id = $1::bigint");
    it_unit_rec r[2];
    for (int k = 0; k < 2; k++) {
        const char *p[11];
        mark_params(&s, k, "it/1", p);
        submit("rev_mark_sent", 11, p, s.auth_id[k], &r[k]);
        it_drive(g_db); /* one after the other: the second sees the first's claim */
    }
    assert_int_equal(r[0].ntuples + r[1].ntuples, 1);
    assert_int_equal(it_long(g_admin,
                             "SELECT (amount_pending * 100)::bigint FROM auth_history "
                             "WHERE id = $1::bigint",
                             s.auth_id[0]),
                     1);
}

/* The authorizations the record cases name (test_record_same_either_way), shared by both
 * sets. */
typedef struct refs {
    char auth[96], auth_id[24], captured[96], captured_id[24], foreign[96], unknown[96];
} refs;

enum { R = 5 };

/* Case i's 14 parameters of rev_record, request req of order IT-RM-REC: a reversal of 0 an
 * authorization, 1 one 25.00 of was captured, 2 another order's (refused), 3 one whose outcome
 * is unknown (no answer in auth_history), 4 the authorization of case 0, recorded before
 * (nothing inserted). */
static void record_params(const refs *x, const char *req, int i, const char *p[14])
{
    const char *v[14] = {
        req,      "cafe000000000000000000000000000000000000000000000000000000000000",
        "7",      "IT-RM-REC",
        "1",      "CYB",
        "CC",     "100.00",
        "USD",    i == 1 ? x->captured : i == 2 ? x->foreign : i == 3 ? x->unknown : x->auth,
        "",       "",
        "123456", "2026-12-03"};
    memcpy(p, v, sizeof v);
}

typedef struct record_run {
    const refs *x;
    const char *set;
} record_run;

static void submit_record(void *ctx, int i, it_unit_rec *r)
{
    const record_run *y = ctx;
    char req[96];
    rid(req, sizeof req, y->set, "rec", i);
    const char *p[14];
    record_params(y->x, req, i, p);
    it_submit(g_db, "rev_record", 14, p, NULL, r);
}

/*
 * rev_record:many records the reversals rev_record records one at a time, with the same rows,
 * and returns for each the authorization it names as rev_record does (as rev_auth looks it up):
 * nothing for a reversal refused or recorded before.
 */
static void test_record_same_either_way(void **state)
{
    (void)state;
    refs x;
    char foreign_id[24];
    rid(x.auth, sizeof x.auth, "rec", "auth", 0);
    make_auth(x.auth, "IT-RM-REC", false, x.auth_id, sizeof x.auth_id);
    rid(x.captured, sizeof x.captured, "rec", "captured", 0);
    make_auth(x.captured, "IT-RM-REC", true, x.captured_id, sizeof x.captured_id);
    rid(x.foreign, sizeof x.foreign, "rec", "foreign", 0);
    make_auth(x.foreign, "IT-RM-RECX", false, foreign_id, sizeof foreign_id);
    rid(x.unknown, sizeof x.unknown, "rec", "unknown", 0);
    it_exec(g_admin,
            "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
            "card_type, status, sent_at) VALUES ($1, repeat('a', 64), 'auth', 'auth', 7, "
            "'IT-RM-REC', 1, 'CYB', 100.00, 'USD', '7000000000000000000009', 'VI', 'unknown', "
            "now())",
            1, (const char *const[]){x.unknown});

    it_unit_rec r1[R], rn[R];
    record_run one = {&x, "recone"}, many = {&x, "recmany"};
    it_record_either_way(g_db, R, 4, 1u << 2 | 1u << 4, submit_record, &one, &many, r1, rn, rid,
                         expect_same, "auth_reversal");
    /* What each found (REV_AUTH_COLUMNS, then whether the outcome is unknown). */
    char want[96];
    snprintf(want, sizeof want, "%s|approved|0.00|7000000000000000000001|", x.auth_id);
    assert_true(strncmp(rn[0].rest, want, strlen(want)) == 0);
    assert_non_null(strstr(rn[0].rest, "|f|"));
    snprintf(want, sizeof want, "%s|approved|25.00|", x.captured_id);
    assert_true(strncmp(rn[1].rest, want, strlen(want)) == 0);
    assert_true(strncmp(rn[3].rest, "\\N|", 3) == 0);
    assert_non_null(strstr(rn[3].rest, "|t|"));
    char refused[96];
    rid(refused, sizeof refused, "recmany", "rec", 2);
    assert_int_equal(
        it_long(g_admin, "SELECT count(*) FROM auth_reversal WHERE request_id = $1", refused), 0);
}

/*
 * A reversal prepared as the timeout reversal of an authorization with no outcome (its request
 * named, p4; no history row, p5 NULL) is not marked once the authorization has one since (the
 * resolver applied it meanwhile): the engine decides again (a claim on it, or a refusal), so it
 * is not sent as a timeout reversal the authorization's required response no longer follows,
 * while the books say approved. One settled `error` (what a timeout reversal is still sent
 * for) is marked.
 */
static void test_timeout_reversal_marked_only_without_outcome(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], req[96];
    rid(auth_req, sizeof auth_req, "tmo", "auth", 0);
    rid(req, sizeof req, "tmo", "rev", 0);
    make_auth(auth_req, "IT-RM-TMO0", false, auth_id, sizeof auth_id);
    record_reversal(req, "IT-RM-TMO0", auth_req);
    const char *p[11] = {req, "reversal", "paylink_demo", auth_req, NULL,    "",
                         "",  "",         "CC",           "it/t",   "100.00"};
    it_unit_rec r;
    submit("rev_mark_sent", 11, p, NULL, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 0); /* approved since: not marked */
    char st[32];
    it_value(g_admin, "SELECT status FROM auth_reversal WHERE request_id = $1", req, NULL, st,
             sizeof st);
    assert_string_equal(st, "received");
    PQclear(PQexecParams(g_admin, "UPDATE auth_history SET status = 'error' WHERE id = $1::bigint",
                         1, NULL, (const char *[]){auth_id}, NULL, NULL, 0));
    submit("rev_mark_sent", 11, p, NULL, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1); /* settled error: the timeout reversal goes */
}

/*
 * The order system's reversal of an authorization whose outcome is unknown, marked while the
 * bureau's late approval is being stored (its transaction holds the required response's row,
 * resolving it, and adds the approved history row). The mark's outcome check reads a snapshot
 * taken before that commit; its registration on the required response waits for the row and
 * then finds it resolved. Not marked: decided again, it reverses the approved authorization
 * by its claim. (Before, it was marked and sent as a timeout reversal, releasing at the bureau
 * an authorization recorded approved and capturable.)
 */
static void test_timeout_reversal_not_marked_past_late_approval(void **state)
{
    (void)state;
    char auth_req[96], req[96];
    rid(auth_req, sizeof auth_req, "late", "auth", 0);
    rid(req, sizeof req, "late", "rev", 0);
    const char *a[] = {auth_req};
    it_exec(g_admin,
            "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
            "order_number, pay_seq, service_bureau, status, amount, currency, card_token, "
            "operation, sent_at, sent_by) VALUES ($1, repeat('a', 64), 'auth', 7, 'IT-RM-LATE', 1, "
            "'CYB', 'unknown', 100.00, 'USD', 'tok-late', 'auth', now(), 'it/late')",
            1, a);
    it_exec(g_admin,
            "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason) VALUES ($1, 'auth', 7, "
            "'IT-RM-LATE', 1, 'CYB', 'auth', 100.00, 'USD', 'timeout')",
            1, a);
    record_reversal(req, "IT-RM-LATE", auth_req);

    /* The late approval, in its own transaction, committing a second after the mark began. */
    const char *conninfo = getenv("PAYLINK_DB");
    PGconn *late = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(late), CONNECTION_OK);
    it_exec(late, "BEGIN", 0, NULL);
    it_exec(late,
            "UPDATE required_response SET status = 'resolved', resolution = 'approved', "
            "resolved_at = now() WHERE worker = 'auth' AND request_id = $1",
            1, a);
    it_exec(late,
            "INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
            "service_bureau, transaction_type, status, amount_authorized, currency, "
            "transaction_id) VALUES ($1, 7, 'IT-RM-LATE', 1, 'CYB', 'auth', 'approved', 100.00, "
            "'USD', 'tx-late')",
            1, a);
    assert_int_equal(PQsendQuery(late, "SELECT pg_sleep(1); COMMIT"), 1);

    const char *p[11] = {req, "reversal", "paylink_demo", auth_req, NULL,    "",
                         "",  "",         "CC",           "it/l",   "100.00"};
    it_unit_rec r;
    submit("rev_mark_sent", 11, p, NULL, &r);
    it_drive(g_db);
    for (PGresult *res; (res = PQgetResult(late));)
        PQclear(res);
    PQfinish(late);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 0);
    char st[32];
    it_value(g_admin, "SELECT status FROM auth_reversal WHERE request_id = $1", req, NULL, st,
             sizeof st);
    assert_string_equal(st, "received");
}

/* Reversal req of the authorization auth_req (auth_history auth_id) of order, recorded and
 * marked sent for `sent` (claiming the authorization): the rows after rev_insert and
 * rev_mark_sent. */
static void record_and_mark(const char *req, const char *order, const char *auth_req,
                            const char *auth_id, const char *sent)
{
    record_reversal(req, order, auth_req);
    const char *p[11] = {
        req, "reversal", "paylink_demo", auth_req, auth_id, "7000000000000000000001",
        "",  "123456",   "CC",           "it/p",   sent};
    it_unit_rec r;
    submit("rev_mark_sent", 11, p, auth_id, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1);
}

/* The External Payment Service's answer `body` to reversal req (sent for `sent`, minor units),
 * read by the EXT adapter, mapped by the spec and stored by it (rev_store, its trigger), as
 * the engine does; the reply as mapped. */
static void answer_ext(const char *req, int64_t sent, const char *body, pl_reply *rep)
{
    static pl_bureau_result res;
    pl_job job;
    memset(&job, 0, sizeof job);
    memset(&res, 0, sizeof res);
    memset(rep, 0, sizeof *rep);
    snprintf(job.req.request_id, sizeof job.req.request_id, "%s", req);
    job.call.req = &job.req;
    job.call.op = PL_OP_AUTH_REVERSAL;
    job.call.amount = sent;
    job.call.ref_request_id = "7000000000000000000001";
    job.res = &res;
    job.reply = rep;
    char err[256] = "";
    if (pl_bureau_external.parse(NULL, &job.call, 200, body, strlen(body), &res, err, sizeof err))
        fail_msg("%s", err);
    pl_reversal_spec.map(&job);
    char json[] = "{\"v\":1}";
    job.reply_json = json;
    assert_int_equal(run_unit(g_db, pl_reversal_spec.store, &job), 1);
}

/* auth_history row auth_id: status|amount_authorized|amount_pending|amount_voided. */
static void expect_auth(const char *auth_id, const char *want)
{
    char got[128];
    it_value(g_admin,
             "SELECT concat_ws('|', status, amount_authorized, amount_pending, amount_voided) "
             "FROM auth_history WHERE id = $1::bigint",
             auth_id, NULL, got, sizeof got);
    assert_string_equal(got, want);
}

/*
 * An External Payment Service reversal ACCEPTed for less than was sent (its answer's amount,
 * schema/ext §8.5): 30.00 of a 100.00 authorization. The reply and auth_reversal say 30.00
 * reversed; the authorization stays approved for the 70.00 the issuer still holds, its claim
 * released (capturable again), and the next reversal of it claims and sends that rest and, whole,
 * marks it reversed (migration 058). Before, the first answer marked it reversed: the 70.00
 * was lost from the books, and a reversal of it was refused (237). A voided authorization (an
 * auth+capture replaced it) reversed in part keeps what is voided within what is held.
 */
static void test_partial_ext_reversal_keeps_the_rest(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], req[96], req2[96];
    rid(auth_req, sizeof auth_req, "part", "auth", 0);
    rid(req, sizeof req, "part", "rev", 0);
    rid(req2, sizeof req2, "part", "rev", 1);
    make_auth(auth_req, "IT-RM-PART", false, auth_id, sizeof auth_id);
    record_and_mark(req, "IT-RM-PART", auth_req, auth_id, "100.00");
    expect_auth(auth_id, "approved|100.00|100.00|0.00");

    pl_reply rep;
    char body[256];
    snprintf(body, sizeof body,
             "{\"messageVersion\":\"3.0\",\"requestID\":\"%s\",\"decision\":\"ACCEPT\","
             "\"transactionID\":\"ext-rev-1\",\"amount\":\"30.00\"}",
             req);
    answer_ext(req, 10000, body, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_int_equal(rep.amount_approved, 3000);
    assert_non_null(strstr(rep.message, "still holds 70.00"));
    char got[64];
    it_value(g_admin,
             "SELECT status || '|' || amount_reversed FROM auth_reversal WHERE request_id = $1",
             req, NULL, got, sizeof got);
    assert_string_equal(got, "approved|30.00");
    expect_auth(auth_id, "approved|70.00|0.00|0.00");

    /* The rest: claimed and reversed whole (an answer without an amount: what was sent). */
    record_and_mark(req2, "IT-RM-PART", auth_req, auth_id, "70.00");
    expect_auth(auth_id, "approved|70.00|70.00|0.00");
    snprintf(body, sizeof body, "{\"decision\":\"ACCEPT\",\"transactionID\":\"ext-rev-2\"}");
    answer_ext(req2, 7000, body, &rep);
    assert_int_equal(rep.amount_approved, 7000);
    assert_string_equal(rep.message, "");
    expect_auth(auth_id, "reversed|70.00|0.00|0.00");

    /* Voided with nothing captured (all of it voided, still held): voided shrinks with it. */
    char vauth_req[96], vauth_id[24], vreq[96];
    rid(vauth_req, sizeof vauth_req, "partv", "auth", 0);
    rid(vreq, sizeof vreq, "partv", "rev", 0);
    make_auth(vauth_req, "IT-RM-PARTV", false, vauth_id, sizeof vauth_id);
    it_exec(g_admin,
            "UPDATE auth_history SET status = 'voided', amount_voided = 100.00, "
            "void_reason = 'auth_capture' WHERE id = $1::bigint",
            1, (const char *const[]){vauth_id});
    record_and_mark(vreq, "IT-RM-PARTV", vauth_req, vauth_id, "100.00");
    snprintf(body, sizeof body,
             "{\"decision\":\"ACCEPT\",\"transactionID\":\"ext-rev-3\","
             "\"amount\":\"25.50\"}");
    answer_ext(vreq, 10000, body, &rep);
    expect_auth(vauth_id, "voided|74.50|0.00|74.50");
}

/*
 * A token+auth of 120.00 (order `order`, request auth_req) answered REJECT 102 for its token
 * (or, error, ERROR 150: a system failure) while its ccAuthReply says auth_reason (100: the
 * issuer authorized it; 203: it declined), stored as paylink-auth stores it (its store unit);
 * its history row's id into auth_id.
 */
static void refused_token_auth(const char *auth_req, const char *order, bool error,
                               const char *auth_reason, int64_t held, char *auth_id, size_t size)
{
    it_exec(g_admin,
            "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
            "card_type, status, sent_at, sent_by) VALUES ($1, repeat('a', 64), 'auth', "
            "'token_auth', 7, $2, 1, 'CYB', 120.00, 'USD', 'tok-it', 'VI', 'sent', now(), 'it/a')",
            2, (const char *const[]){auth_req, order});
    static pl_service cyb;
    memset(&cyb, 0, sizeof cyb);
    snprintf(cyb.code, sizeof cyb.code, "CYB");
    snprintf(cyb.protocol, sizeof cyb.protocol, "CYB");
    static pl_bureau_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.decision, sizeof res.decision, "%s", error ? "ERROR" : "REJECT");
    snprintf(res.reason_code, sizeof res.reason_code, "%s", error ? "150" : "102");
    snprintf(res.service_reason_code, sizeof res.service_reason_code, "%s", auth_reason);
    res.has_amount = true;
    res.amount = held;
    pl_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.req.request_id, sizeof job.req.request_id, "%s", auth_req);
    job.req.type = PL_REQ_AUTH;
    job.req.has_amount = true;
    job.req.amount = 12000;
    job.svc = &cyb;
    job.res = &res;
    job.call.op = PL_OP_TOKEN_AUTH;
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = error ? PL_ST_ERROR : PL_ST_DECLINED;
    snprintf(rep.decision, sizeof rep.decision, "%s", res.decision);
    snprintf(rep.vendor_response, sizeof rep.vendor_response, "%s", res.reason_code);
    snprintf(rep.auth.transaction_id, sizeof rep.auth.transaction_id, "7000000000000000000001");
    job.reply = &rep;
    char json[] = "{\"v\":1}";
    job.reply_json = json;
    assert_int_equal(run_unit(g_db, pl_auth_spec.store, &job), 1);
    it_value(g_admin, "SELECT id FROM auth_history WHERE request_id = $1", auth_req, NULL, auth_id,
             size);
}

static void declined_token_auth(const char *auth_req, const char *order, const char *auth_reason,
                                int64_t held, char *auth_id, size_t size)
{
    refused_token_auth(auth_req, order, false, auth_reason, held, auth_id, size);
}

/* auth_history row auth_id: status|issuer_authorized|amount_pending. */
static void expect_declined(const char *auth_id, const char *want)
{
    char got[128];
    it_value(g_admin,
             "SELECT concat_ws('|', status, issuer_authorized, amount_pending) "
             "FROM auth_history WHERE id = $1::bigint",
             auth_id, NULL, got, sizeof got);
    assert_string_equal(got, want);
}

/*
 * A token+auth declined (102, its token refused) while its ccAuthReply said 100: the issuer
 * holds the 120.00. paylink-auth's store records issuer_authorized on its history row (060);
 * paylink-reversal's look-up gives it (column 18), its mark claims the authorization (a marker
 * of 0.01, as for a reject, which records no amount authorized) and, the reversal approved, the
 * trigger marks it reversed with the claim released. The same answer with ccAuthReply 203 (the
 * issuer declined): nothing recorded, the mark claims nothing, the reversal is not sent. Before,
 * neither was claimed: paylink-reversal took no reversal of a declined authorization but a soft
 * decline's, and the issuer's hold stayed until it expired.
 */
static void test_declined_issuer_authorized_reversed(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], req[96];
    rid(auth_req, sizeof auth_req, "dia", "auth", 0);
    rid(req, sizeof req, "dia", "rev", 0);
    declined_token_auth(auth_req, "IT-RM-DIA", "100", 12000, auth_id, sizeof auth_id);
    expect_declined(auth_id, "declined|t|0.00");

    /* The look-up (rev_auth) says so, in its column 18, before what the issuer holds after a
     * partial approval (19, 061: none) and whether a timeout reversal of it is in flight (20:
     * none). */
    it_unit_rec r;
    submit("rev_auth", 1, (const char *const[]){auth_req}, NULL, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_string_equal(r.key, auth_id);
    size_t len = strlen(r.rest);
    assert_true(len >= 5 && strcmp(r.rest + len - 5, "t||f|") == 0);

    record_and_mark(req, "IT-RM-DIA", auth_req, auth_id, "120.00");
    expect_declined(auth_id, "declined|t|0.01");
    const char *p[9] = {req,     "approved", "ACCEPT", "100", "120.00", "7000000000000000000077",
                        "token", "",         "{}"};
    submit("rev_store", 9, p, auth_id, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1);
    expect_declined(auth_id, "reversed|t|0.00");

    /* The issuer declined (ccAuthReply 203): not recorded, not claimed, not marked sent. */
    char dauth_req[96], dauth_id[24], dreq[96];
    rid(dauth_req, sizeof dauth_req, "did", "auth", 0);
    rid(dreq, sizeof dreq, "did", "rev", 0);
    declined_token_auth(dauth_req, "IT-RM-DID", "203", 12000, dauth_id, sizeof dauth_id);
    expect_declined(dauth_id, "declined|f|0.00");
    record_reversal(dreq, "IT-RM-DID", dauth_req);
    const char *m[11] = {
        dreq, "reversal", "paylink_demo", dauth_req, dauth_id, "7000000000000000000001",
        "",   "123456",   "CC",           "it/d",    "120.00"};
    submit("rev_mark_sent", 11, m, dauth_id, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 0);
    expect_declined(dauth_id, "declined|f|0.00");
    char st[32];
    it_value(g_admin, "SELECT status FROM auth_reversal WHERE request_id = $1", dreq, NULL, st,
             sizeof st);
    assert_string_equal(st, "received");

    /* ccAuthReply 110: the issuer authorized 55.00 of the 120.00. paylink-auth's store records
     * that too (amount_issuer_held, 061), and the look-up gives it (column 19): a reversal that
     * comes before the answer's own `.rev` (the order system's, a timeout reversal) goes for
     * it, not for the 120.00 CyberSource would refuse above the partial approval. */
    char pauth_req[96], pauth_id[24], held[32];
    rid(pauth_req, sizeof pauth_req, "dip", "auth", 0);
    declined_token_auth(pauth_req, "IT-RM-DIP", "110", 5500, pauth_id, sizeof pauth_id);
    expect_declined(pauth_id, "declined|t|0.00");
    it_value(g_admin, "SELECT amount_issuer_held FROM auth_history WHERE id = $1::bigint", pauth_id,
             NULL, held, sizeof held);
    assert_string_equal(held, "55.00");
    submit("rev_auth", 1, (const char *const[]){pauth_req}, NULL, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    len = strlen(r.rest);
    assert_true(len >= 10 && strcmp(r.rest + len - 10, "t|55.00|f|") == 0);
}

/*
 * The same token+auth answered ERROR 150 (a system failure) while its ccAuthReply said 100: the
 * order system, told `error`, authorizes again, and the issuer holds the first 120.00.
 * paylink-auth's store records issuer_authorized on its `error` history row, paylink-reversal's
 * mark claims it (a marker of 0.01, as for a declined one) and, the reversal approved, the
 * trigger (064) marks it reversed with the claim released: a second reversal of it is then
 * refused (237) rather than sent. The same answer with ccAuthReply 203: nothing recorded,
 * nothing claimed, the reversal not marked sent. Before, neither was recorded nor claimed, and
 * the first hold stayed until it expired.
 */
static void test_error_issuer_authorized_reversed(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], req[96];
    rid(auth_req, sizeof auth_req, "eia", "auth", 0);
    rid(req, sizeof req, "eia", "rev", 0);
    refused_token_auth(auth_req, "IT-RM-EIA", true, "100", 12000, auth_id, sizeof auth_id);
    expect_declined(auth_id, "error|t|0.00");

    record_and_mark(req, "IT-RM-EIA", auth_req, auth_id, "120.00");
    expect_declined(auth_id, "error|t|0.01");
    it_unit_rec r;
    const char *p[9] = {req,     "approved", "ACCEPT", "100", "120.00", "7000000000000000000078",
                        "token", "",         "{}"};
    submit("rev_store", 9, p, auth_id, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1);
    expect_declined(auth_id, "reversed|t|0.00");

    /* The issuer declined (ccAuthReply 203): not recorded, not claimed, not marked sent. */
    char dauth_req[96], dauth_id[24], dreq[96];
    rid(dauth_req, sizeof dauth_req, "eid", "auth", 0);
    rid(dreq, sizeof dreq, "eid", "rev", 0);
    refused_token_auth(dauth_req, "IT-RM-EID", true, "203", 12000, dauth_id, sizeof dauth_id);
    expect_declined(dauth_id, "error|f|0.00");
    record_reversal(dreq, "IT-RM-EID", dauth_req);
    const char *m[11] = {
        dreq, "reversal", "paylink_demo", dauth_req, dauth_id, "7000000000000000000001",
        "",   "123456",   "CC",           "it/e",    "120.00"};
    submit("rev_mark_sent", 11, m, dauth_id, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 0);
    expect_declined(dauth_id, "error|f|0.00");
    char st[32];
    it_value(g_admin, "SELECT status FROM auth_reversal WHERE request_id = $1", dreq, NULL, st,
             sizeof st);
    assert_string_equal(st, "received");
}

/* ---- a timeout reversal's two copies after an operator's reject (061) ---------------------- */

/* What the resolver publishes (its publish callback): the messages, in order. */
typedef struct sent_msgs {
    int n;
    char topic[4][64];
    char key[4][64];
    char payload[4][2048];
} sent_msgs;

static int on_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz)
{
    (void)err;
    (void)errsz;
    sent_msgs *m = arg;
    assert_true(m->n < 4);
    snprintf(m->topic[m->n], sizeof m->topic[m->n], "%s", topic);
    snprintf(m->key[m->n], sizeof m->key[m->n], "%s", key);
    assert_true(strlen(payload) < sizeof m->payload[m->n]);
    snprintf(m->payload[m->n], sizeof m->payload[m->n], "%s", payload);
    m->n++;
    return 0;
}

/* A message of the reversal request topic taken up as paylink-reversal's engine takes it up:
 * decoded, fingerprinted, a job for the CyberSource bureau. */
typedef struct tor_copy {
    pl_job job;
    char fingerprint[65];
    int calls, err, inserted, prepared;
    char msg[256];
} tor_copy;

static void tor_take(tor_copy *t, const char *payload, pl_services *services)
{
    memset(t, 0, sizeof *t);
    pl_errors errs = {0};
    assert_int_equal(
        pl_request_decode(payload, strlen(payload), "reversal", time(NULL), &t->job.req, &errs), 0);
    assert_int_equal(errs.n, 0);
    static const char key[] = "it-revmany-fingerprint-key";
    assert_int_equal(pl_request_fingerprint(&t->job.req, key, sizeof key - 1, t->fingerprint,
                                            sizeof t->fingerprint),
                     0);
    memcpy(t->job.fingerprint, t->fingerprint, sizeof t->job.fingerprint);
    if (t->job.req.has_amount)
        assert_int_equal(pl_money_format(t->job.req.amount, t->job.amount, sizeof t->job.amount),
                         0);
    t->job.reply = job_test_reply();
    t->job.services = services;
    t->job.svc = pl_services_find(services, t->job.req.service);
    assert_non_null(t->job.svc);
}

static void on_tor_recorded(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    tor_copy *t = arg;
    t->calls++;
    t->err = err;
    snprintf(t->msg, sizeof t->msg, "%s", errmsg ? errmsg : "");
    if (err)
        return;
    t->inserted = pl_db_unit_ntuples(u, 0);
    /* A new row is prepared at once (the engine's on_recorded); a row found is read back. */
    if (t->inserted == 1 && !t->job.read_back)
        t->prepared = pl_reversal_spec.prepare(&t->job, u);
}

/* The record unit of the copy (read_back: the round that finds its row), run to its end. */
static void tor_record(tor_copy *t, bool read_back)
{
    t->calls = 0;
    t->job.read_back = read_back;
    pl_db_unit *u = pl_db_unit_new(on_tor_recorded, t);
    assert_non_null(u);
    assert_int_equal(pl_reversal_spec.record(&t->job, u), 0);
    pl_db_submit(g_db, u);
    it_drive(g_db);
    assert_int_equal(t->calls, 1);
    if (t->err != 0)
        fail_msg("%s: %s", t->job.req.request_id, t->msg);
}

/*
 * An authorization of 100.00 whose answer never came: the resolver asked for its timeout
 * reversal `.tor`, and paylink-reversal is only behind — the resolver's copy (whole request,
 * 100.00) still queued. An operator learns that Decision Manager rejected it after the issuer
 * approved 50.00 of it (`wreq resolve --outcome rejected --amount 50.00`): paylink-reversal has
 * no row of the `.tor`, so the resolver publishes it again with the final reply. Then
 * paylink-reversal takes the stale copy first and the re-sent one after. Before, the re-sent copy
 * named 50.00 and the stale one went first by the authorization's transaction id for 100.00,
 * which CyberSource refuses above the partial approval; the re-sent one, the same request_id with
 * another fingerprint, was refused as an idempotency conflict, and the 50.00 stayed held until
 * it expired. Now the copies are one request (one fingerprint), and the history row says what
 * the issuer holds (amount_issuer_held): the stale copy goes for 50.00, is approved and marks
 * the authorization reversed; the re-sent one finds its row, answered (the engine replays it).
 */
static void test_tor_copies_reverse_what_the_issuer_holds(void **state)
{
    (void)state;
    char auth_req[96], tor[96], order[24], own[96], msg[512], hid[24], got[256];
    rid(auth_req, sizeof auth_req, "tih", "auth", 0);
    pl_job_derived_request_id(auth_req, PL_TIMEOUT_REVERSAL_SUFFIX, tor, sizeof tor);
    snprintf(order, sizeof order, "IT-RM-TIH%ld", (long)getpid() % 100000);
    snprintf(own, sizeof own, "%stih/resolver", g_prefix);
    it_exec(
        g_admin,
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
        "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
        "card_type, merchant_id, status, reply, sent_at, sent_by) VALUES ($1::text, "
        "repeat('a', 64), 'auth', 'auth', 7, $2::text, 1, 'CYB', 100.00, 'USD', 'tok-it', 'VI', "
        "'paylink_demo', 'unknown', jsonb_build_object('v', 1, 'request_id', $1::text, "
        "'type', 'auth', 'company', 7, 'order', $2::text, 'pay_seq', 1, 'service', 'CYB', "
        "'status', 'timeout', 'amount_requested', '100.00', 'currency', 'USD', "
        "'vendor_response', '150', 'required_response', true), "
        "now() - interval '1 hour', 'it/tih')",
        2, (const char *const[]){auth_req, order});
    /* Its required response, escalated (the running system's resolvers leave it to us), its
     * timeout reversal asked for and not recorded by paylink-reversal. */
    PGresult *res = PQexecParams(
        g_admin,
        "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
        "worker_replied_at, reversal_request_id, reversal_requested_at) VALUES ($1, 'auth', 7, "
        "$2, 1, 'CYB', 'auth', 100.00, 'USD', 'timeout', 'it: no answer', 'escalated', now(), "
        "now(), $3, now()) RETURNING id",
        3, NULL, (const char *const[]){auth_req, order, tor}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    int64_t rr = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);

    sent_msgs sent = {0};
    const char *conninfo = getenv("PAYLINK_DB");
    pl_resolver_config cfg = {.conninfo = conninfo,
                              .worker = "auth",
                              .owner = own,
                              .topic_prefix = "it",
                              .publish = on_publish,
                              .publish_arg = &sent};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    /* The resolver's copy: following the reversal, it publishes it (paylink-reversal has no row
     * of it); then the row is held for this test, away from the running system's resolvers. */
    assert_int_equal(pl_resolver_retry(r, rr, true, msg, sizeof msg), 0);
    assert_int_equal(sent.n, 1);
    char rrs[24];
    snprintf(rrs, sizeof rrs, "%lld", (long long)rr);
    it_exec(g_admin,
            "UPDATE required_response SET lease_owner = $2, lease_until = now() + interval "
            "'10 minutes' WHERE id = $1::bigint",
            2, (const char *const[]){rrs, own});
    /* The operator's reject: the issuer holds 50.00. */
    pl_resolve_outcome o = {.status = PL_ST_REJECTED, .amount = 5000};
    snprintf(o.transaction_id, sizeof o.transaction_id, "7000000000000000000061");
    assert_int_equal(pl_resolver_operator(r, rr, &o, "bob", NULL, msg, sizeof msg), 0);
    pl_resolver_destroy(r);
    assert_int_equal(sent.n, 3); /* the `.tor` again, the final reply */
    assert_string_equal(sent.topic[0], "it.reversal.request");
    assert_string_equal(sent.topic[1], "it.reversal.request");
    it_value(g_admin,
             "SELECT concat_ws('|', id, status, amount_authorized IS NULL, amount_issuer_held) "
             "FROM auth_history WHERE request_id = $1",
             auth_req, NULL, got, sizeof got);
    char *bar = strchr(got, '|');
    assert_non_null(bar);
    snprintf(hid, sizeof hid, "%.*s", (int)(bar - got), got);
    assert_string_equal(bar, "|rejected|t|50.00");

    char err2[256] = "";
    pl_services *services = pl_services_load(g_admin, err2, sizeof err2);
    if (!services)
        fail_msg("pl_services_load: %s", err2);
    /* The stale copy first: by the authorization's transaction id, for what the issuer holds. */
    static tor_copy stale, again;
    tor_take(&stale, sent.payload[0], services);
    assert_string_equal(stale.job.req.request_id, tor);
    tor_record(&stale, false);
    assert_int_equal(stale.inserted, 1);
    assert_int_equal(stale.prepared, 0);
    assert_int_equal(stale.job.call.op, PL_OP_AUTH_REVERSAL);
    assert_string_equal(stale.job.call.ref_request_id, "7000000000000000000061");
    assert_null(stale.job.call.timeout_reversal_of);
    assert_int_equal(stale.job.call.amount, 5000);
    snprintf(stale.job.op_name, sizeof stale.job.op_name, "%s",
             pl_bureau_op_name(stale.job.call.op));
    snprintf(stale.job.attempt, sizeof stale.job.attempt, "it/tih-1");
    assert_int_equal(run_unit(g_db, pl_reversal_spec.mark_sent, &stale.job), 1);
    it_value(g_admin,
             "SELECT concat_ws('|', status, amount_pending) FROM auth_history "
             "WHERE id = $1::bigint",
             hid, NULL, got, sizeof got);
    assert_string_equal(got, "rejected|0.01");
    /* CyberSource approves it (its answer names no amount): what was sent was reversed, and the
     * order system is told all of what was held is released. */
    static pl_bureau_result answer;
    memset(&answer, 0, sizeof answer);
    snprintf(answer.decision, sizeof answer.decision, "ACCEPT");
    snprintf(answer.reason_code, sizeof answer.reason_code, "100");
    stale.job.res = &answer;
    memset(stale.job.reply, 0, sizeof *stale.job.reply);
    pl_reversal_spec.map(&stale.job);
    assert_int_equal(stale.job.reply->status, PL_ST_APPROVED);
    assert_int_equal(stale.job.reply->amount_approved, 5000);
    assert_non_null(
        strstr(stale.job.reply->message,
               "all the issuer held, 50.00 (a partial approval), not the 100.00 asked"));
    char json[] = "{\"v\":1}";
    stale.job.reply_json = json;
    assert_int_equal(run_unit(g_db, pl_reversal_spec.store, &stale.job), 1);
    stale.job.reply_json = NULL;
    it_value(g_admin,
             "SELECT concat_ws('|', status, amount_pending, amount_issuer_held) FROM "
             "auth_history WHERE id = $1::bigint",
             hid, NULL, got, sizeof got);
    assert_string_equal(got, "reversed|0.00|50.00");

    /* The re-sent copy after: the same request (fingerprint), so the engine answers it from its
     * row — approved, 50.00 — and no second reversal goes. */
    tor_take(&again, sent.payload[1], services);
    assert_string_equal(again.fingerprint, stale.fingerprint);
    tor_record(&again, false);
    assert_int_equal(again.inserted, 0);
    tor_record(&again, true);
    assert_int_equal(again.inserted, 0);
    it_value(g_admin,
             "SELECT concat_ws('|', count(*), min(fingerprint), min(status), "
             "min(amount_reversed)) FROM auth_reversal WHERE request_id = $1",
             tor, NULL, got, sizeof got);
    char want[160];
    snprintf(want, sizeof want, "1|%s|approved|50.00", stale.fingerprint);
    assert_string_equal(got, want);
    free(stale.job.spec_data);
    free(again.job.spec_data);
    pl_request_free(&stale.job.req);
    pl_request_free(&again.job.req);
    pl_services_unref(services);
}

/* ---- a reversal of a refused authorization approved for less than the issuer held (065) ---- */

/* Reversal req (for `amount`) of the authorization auth_req of order, as an order system sends
 * it, taken up by paylink-reversal (tor_take), recorded and prepared; `services`: the bureaus'
 * settings. */
static void order_reversal(tor_copy *t, const char *req, const char *order, const char *auth_req,
                           const char *amount, pl_services *services)
{
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"v\":1,\"request_id\":\"%s\",\"type\":\"reversal\",\"company\":7,\"order\":\"%s\","
             "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"%s\",\"currency\":\"USD\","
             "\"auth_ref\":{\"request_id\":\"%s\"}}",
             req, order, amount, auth_req);
    tor_take(t, payload, services);
    tor_record(t, false);
    assert_int_equal(t->inserted, 1);
}

/* The same for 120.00, the whole request. */
static void held_reversal(tor_copy *t, const char *req, const char *order, const char *auth_req,
                          pl_services *services)
{
    order_reversal(t, req, order, auth_req, "120.00", services);
}

/* The prepared reversal t's mark by attempt (rev_mark_sent): its rows, 1 when it was marked sent
 * (claiming the authorization it names by a history row), 0 when nothing was marked. */
static int mark(tor_copy *t, const char *attempt)
{
    snprintf(t->job.op_name, sizeof t->job.op_name, "%s", pl_bureau_op_name(t->job.call.op));
    snprintf(t->job.attempt, sizeof t->job.attempt, "%s", attempt);
    return run_unit(g_db, pl_reversal_spec.mark_sent, &t->job);
}

/* CyberSource's answer to the reversal t marked sent, `decision` (ACCEPT reversing `amount`,
 * minor units, 0: the answer names none; REJECT 102), mapped and stored as the engine does; the
 * reply. */
static const pl_reply *answered(tor_copy *t, const char *decision, int64_t amount)
{
    static pl_bureau_result answer;
    memset(&answer, 0, sizeof answer);
    snprintf(answer.decision, sizeof answer.decision, "%s", decision);
    snprintf(answer.reason_code, sizeof answer.reason_code, "%s",
             strcmp(decision, "ACCEPT") == 0 ? "100" : "102");
    answer.has_amount = amount > 0;
    answer.amount = amount;
    t->job.res = &answer;
    memset(t->job.reply, 0, sizeof *t->job.reply);
    pl_reversal_spec.map(&t->job);
    assert_int_equal(t->job.reply->status,
                     strcmp(decision, "ACCEPT") == 0 ? PL_ST_APPROVED : PL_ST_DECLINED);
    char json[] = "{\"v\":1}";
    t->job.reply_json = json;
    assert_int_equal(run_unit(g_db, pl_reversal_spec.store, &t->job), 1);
    t->job.reply_json = NULL;
    return t->job.reply;
}

/* The prepared reversal t marked sent (attempt; its one row says it claimed the authorization,
 * rev_mark_sent marking nothing otherwise), CyberSource's ACCEPT to it (reversing `amount`,
 * minor units; 0: the answer names none) mapped and stored as the engine does; the reply. */
static const pl_reply *held_reversal_answered(tor_copy *t, const char *attempt, int64_t amount)
{
    assert_int_equal(mark(t, attempt), 1);
    return answered(t, "ACCEPT", amount);
}

static void on_decided_again(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    tor_copy *t = arg;
    t->calls++;
    t->err = err;
    snprintf(t->msg, sizeof t->msg, "%s", errmsg ? errmsg : "");
    if (!err)
        t->prepared = pl_reversal_spec.prepare(&t->job, u);
}

/* Reversal t (its row still `received`) decided again, as the engine decides after a mark that
 * marked nothing (on_marked, start_check): its row recorded again and read back (rev_insert and
 * the look-up) and the call prepared anew (t->prepared: 0 to call the bureau, 1 refused). */
static void decide_again(tor_copy *t)
{
    free(t->job.spec_data);
    t->job.spec_data = NULL;
    memset(t->job.reply, 0, sizeof *t->job.reply);
    t->calls = 0;
    t->job.read_back = true;
    pl_db_unit *u = pl_db_unit_new(on_decided_again, t);
    assert_non_null(u);
    assert_int_equal(pl_reversal_spec.record(&t->job, u), 0);
    pl_db_submit(g_db, u);
    it_drive(g_db);
    assert_int_equal(t->calls, 1);
    if (t->err != 0)
        fail_msg("%s: %s", t->job.req.request_id, t->msg);
}

/* auth_history row auth_id: status|amount_pending|amount_authorized|amount_issuer_held. */
static void expect_held(const char *auth_id, const char *want)
{
    char got[128];
    it_value(g_admin,
             "SELECT concat_ws('|', status, amount_pending, coalesce(amount_authorized::text, "
             "'-'), coalesce(amount_issuer_held::text, '-')) FROM auth_history "
             "WHERE id = $1::bigint",
             auth_id, NULL, got, sizeof got);
    assert_string_equal(got, want);
}

/* A Decision Manager reject (481) of 100.00 the issuer approved whole, as paylink-auth stores
 * one (its amount asked in cc_auth_trans; no amount authorized nor held recorded: the issuer
 * holds the amount asked), authorization auth_req of order; its history row's id into auth_id. */
static void dm_reject(const char *auth_req, const char *order, char *auth_id, size_t size)
{
    make_auth(auth_req, order, false, auth_id, size);
    it_exec(g_admin,
            "UPDATE auth_history SET status = 'rejected', vendor_response = '481', "
            "amount_authorized = NULL WHERE id = $1::bigint",
            1, (const char *const[]){auth_id});
}

/*
 * A token+auth of 120.00 refused (REJECT 102 for its token) while its ccAuthReply said 110: the
 * issuer holds 55.00 of it (amount_issuer_held, 061; no amount authorized recorded). An order
 * system's reversal goes for the 55.00 (its claim the marker 0.01), and CyberSource approves it
 * for 20.00 only: the reply says the issuer still holds 35.00, and so does the history row now
 * (065): still `declined`, amount_issuer_held 35.00, the claim released. The next reversal
 * (another order system request for the 120.00) is claimable, goes for those 35.00 and,
 * approved whole, marks the authorization reversed; a third is refused 237. Before, the
 * trigger compared the 20.00 with the NULL amount authorized and marked the authorization
 * `reversed` at once: the 35.00 stayed held until it expired, and a reversal of it was refused
 * (237). CyberSource's answer is made here (the simulator approves a reversal whole); the
 * worker's record, prepare, mark, map and store run as the engine runs them.
 */
static void test_partial_reversal_of_issuer_held_keeps_the_rest(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], req[3][96], order[24];
    rid(auth_req, sizeof auth_req, "pih", "auth", 0);
    for (int i = 0; i < 3; i++)
        rid(req[i], sizeof req[i], "pih", "rev", i);
    snprintf(order, sizeof order, "IT-RM-PIH%ld", (long)getpid() % 100000);
    declined_token_auth(auth_req, order, "110", 5500, auth_id, sizeof auth_id);
    expect_held(auth_id, "declined|0.00|-|55.00");

    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    static tor_copy first, second, third;

    /* The first: for what the issuer holds, approved for 20.00 of it. */
    held_reversal(&first, req[0], order, auth_req, services);
    assert_int_equal(first.prepared, 0);
    assert_int_equal(first.job.call.amount, 5500);
    const pl_reply *rep = held_reversal_answered(&first, "it/pih-1", 2000);
    assert_int_equal(rep->amount_approved, 2000);
    assert_non_null(strstr(rep->message, "the issuer still holds 35.00"));
    expect_held(auth_id, "declined|0.00|-|35.00");

    /* The next: claimable, for the 35.00 still held; approved (its answer names no amount:
     * what was sent), all of it reversed. */
    held_reversal(&second, req[1], order, auth_req, services);
    assert_int_equal(second.prepared, 0);
    assert_int_equal(second.job.call.amount, 3500);
    rep = held_reversal_answered(&second, "it/pih-2", 0);
    assert_int_equal(rep->amount_approved, 3500);
    expect_held(auth_id, "reversed|0.00|-|35.00");

    /* Nothing is left: refused as already reversed, without a bureau call. */
    held_reversal(&third, req[2], order, auth_req, services);
    assert_int_equal(third.prepared, 1);
    assert_string_equal(third.job.reply->vendor_response, "237");

    tor_copy *const copies[] = {&first, &second, &third};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/* The late answer of authorization auth_req (asked 100.00), a Decision Manager reject whose
 * ccAuthReply says 110 for `held` (minor units), stored by paylink-auth's store unit (its
 * auth_store, which finds the row settled already and changes nothing, then
 * auth_issuer_authorized): the rows of its auth_store. */
static int late_partial_reject(const char *auth_req, int64_t held)
{
    static pl_service cyb;
    memset(&cyb, 0, sizeof cyb);
    snprintf(cyb.code, sizeof cyb.code, "CYB");
    snprintf(cyb.protocol, sizeof cyb.protocol, "CYB");
    static pl_bureau_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.decision, sizeof res.decision, "REJECT");
    snprintf(res.reason_code, sizeof res.reason_code, "481");
    snprintf(res.service_reason_code, sizeof res.service_reason_code, "110");
    res.has_amount = true;
    res.amount = held;
    static pl_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.req.request_id, sizeof job.req.request_id, "%s", auth_req);
    job.req.type = PL_REQ_AUTH;
    job.req.has_amount = true;
    job.req.amount = 10000;
    job.svc = &cyb;
    job.res = &res;
    job.call.op = PL_OP_AUTH;
    static pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_REJECTED;
    snprintf(rep.decision, sizeof rep.decision, "REJECT");
    snprintf(rep.vendor_response, sizeof rep.vendor_response, "481");
    snprintf(rep.auth.transaction_id, sizeof rep.auth.transaction_id, "7000000000000000000001");
    job.reply = &rep;
    char json[] = "{\"v\":1}";
    job.reply_json = json;
    return run_unit(g_db, pl_auth_spec.store, &job);
}

/*
 * A Decision Manager reject of 100.00 settled with no amount held known (the resolver's record,
 * an operator's reject without --amount: neither amount_authorized nor amount_issuer_held), and
 * a reversal of it for the amount asked: its claim records the 100.00 as what the issuer holds
 * (amount_issuer_held, for 065's rest rules). CyberSource refuses that reversal, the 100.00 still
 * recorded. Then the authorization's late answer comes, its ccAuthReply 110 for 60.00: paylink-
 * auth's store (auth_issuer_authorized) records the 60.00 in place of the amount asked, and the
 * next reversal goes for it. Before, it wrote only where nothing was recorded: the 100.00 stayed,
 * and every later reversal went for it, refused above the 60.00 the issuer held, the 60.00 held
 * until the authorization expired. A held amount other than the amount asked (the rest a partial
 * reversal left, 065) is kept: a reversal may have gone for it.
 */
static void test_late_partial_approval_replaces_the_amount_asked(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], req[2][96], order[24];
    rid(auth_req, sizeof auth_req, "lpa", "auth", 0);
    for (int i = 0; i < 2; i++)
        rid(req[i], sizeof req[i], "lpa", "rev", i);
    snprintf(order, sizeof order, "IT-RM-LPA%ld", (long)getpid() % 100000);
    dm_reject(auth_req, order, auth_id, sizeof auth_id);
    expect_held(auth_id, "rejected|0.00|-|-");
    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);

    static tor_copy first, second;
    order_reversal(&first, req[0], order, auth_req, "100.00", services);
    assert_int_equal(first.prepared, 0);
    assert_int_equal(first.job.call.amount, 10000);
    assert_int_equal(mark(&first, "it/lpa-1"), 1);
    expect_held(auth_id, "rejected|0.01|-|100.00");
    answered(&first, "REJECT", 0);
    expect_held(auth_id, "rejected|0.00|-|100.00");

    assert_int_equal(late_partial_reject(auth_req, 6000), 0);
    expect_held(auth_id, "rejected|0.00|-|60.00");
    char got[32];
    it_value(g_admin, "SELECT issuer_authorized::text FROM auth_history WHERE id = $1::bigint",
             auth_id, NULL, got, sizeof got);
    assert_string_equal(got, "true");
    order_reversal(&second, req[1], order, auth_req, "100.00", services);
    assert_int_equal(second.prepared, 0);
    assert_int_equal(second.job.call.amount, 6000);

    /* What is held after a partial reversal (not the amount asked): kept. */
    char auth2[96], auth2_id[24];
    rid(auth2, sizeof auth2, "lpa", "auth", 1);
    dm_reject(auth2, order, auth2_id, sizeof auth2_id);
    it_exec(g_admin, "UPDATE auth_history SET amount_issuer_held = 70.00 WHERE id = $1::bigint", 1,
            (const char *const[]){auth2_id});
    assert_int_equal(late_partial_reject(auth2, 6000), 0);
    expect_held(auth2_id, "rejected|0.00|-|70.00");

    tor_copy *const copies[] = {&first, &second};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/*
 * Two order system reversals of one authorization of 100.00, both prepared for all of it (the
 * second's job then waits for a bureau slot, or a token call: rev_prepare has fixed its amount
 * and built its message). The first is approved for 30.00 only (an External Payment Service
 * answer's amount), which leaves 70.00 held (058) and releases the claim. The second's mark, for
 * the 100.00 its call sends, claims nothing and marks nothing; decided again, as the engine
 * decides after a mark that changed nothing, it goes for the 70.00, its claim the same, and
 * approved whole books the authorization reversed. Before, the mark claimed the 70.00 the row
 * said while the call sent 100.00: a reversal of more than was held, refused by the bureau,
 * while the resolver's amount sent said 70.00.
 */
static void test_queued_reversal_goes_for_what_is_left(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], req[2][96], order[24], got[64];
    rid(auth_req, sizeof auth_req, "qd", "auth", 0);
    for (int i = 0; i < 2; i++)
        rid(req[i], sizeof req[i], "qd", "rev", i);
    snprintf(order, sizeof order, "IT-RM-QD%ld", (long)getpid() % 100000);
    make_auth(auth_req, order, false, auth_id, sizeof auth_id);
    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);

    static tor_copy first, second;
    order_reversal(&first, req[0], order, auth_req, "100.00", services);
    order_reversal(&second, req[1], order, auth_req, "100.00", services);
    assert_int_equal(first.prepared, 0);
    assert_int_equal(second.prepared, 0);
    assert_int_equal(first.job.call.amount, 10000);
    assert_int_equal(second.job.call.amount, 10000);
    const pl_reply *rep = held_reversal_answered(&first, "it/qd-1", 3000);
    assert_int_equal(rep->amount_approved, 3000);
    expect_auth(auth_id, "approved|70.00|0.00|0.00");

    /* The second, for the 100.00 it was prepared with: nothing claimed, nothing marked. */
    assert_int_equal(mark(&second, "it/qd-2"), 0);
    expect_auth(auth_id, "approved|70.00|0.00|0.00");
    it_value(g_admin,
             "SELECT concat_ws('|', status, coalesce(claim_amount::text, '-')) FROM auth_reversal "
             "WHERE request_id = $1",
             req[1], NULL, got, sizeof got);
    assert_string_equal(got, "received|-");

    /* Decided again: for what is left, claimed and marked, reversed whole. */
    decide_again(&second);
    assert_int_equal(second.prepared, 0);
    assert_int_equal(second.job.call.amount, 7000);
    assert_int_equal(mark(&second, "it/qd-3"), 1);
    expect_auth(auth_id, "approved|70.00|70.00|0.00");
    it_value(g_admin,
             "SELECT concat_ws('|', status, claim_amount) FROM auth_reversal WHERE request_id = $1",
             req[1], NULL, got, sizeof got);
    assert_string_equal(got, "sent|70.00");
    rep = answered(&second, "ACCEPT", 0);
    assert_int_equal(rep->amount_approved, 7000);
    expect_auth(auth_id, "reversed|70.00|0.00|0.00");

    tor_copy *const copies[] = {&first, &second};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/* ---- paylink's own reversal approved for less asks for the rest ----------------------------- */

/* The reversal request paylink publishes (pl_job_publish_reversal's message) as `req` for
 * `amount`, of the authorization `of` of order, into out. */
static void own_payload(char *out, size_t outsz, const char *req, const char *order,
                        const char *amount, const pl_reversal_of *of)
{
    json_object *ref = json_object_new_object();
    assert_non_null(ref);
    assert_int_equal(pl_reversal_of_json(of, ref), 0);
    int n =
        snprintf(out, outsz,
                 "{\"v\":1,\"request_id\":\"%s\",\"type\":\"reversal\",\"company\":7,"
                 "\"order\":\"%s\",\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"%s\","
                 "\"currency\":\"USD\",\"auth_ref\":%s}",
                 req, order, amount, json_object_to_json_string_ext(ref, JSON_C_TO_STRING_PLAIN));
    assert_true(n > 0 && (size_t)n < outsz);
    json_object_put(ref);
}

/* Message `payload` taken up by paylink-reversal (tor_take) whose settings say Send reversal is
 * not selected for the bureau (*off), recorded and prepared. */
static void own_reversal(tor_copy *t, const char *payload, pl_services *services,
                         const pl_service *off)
{
    tor_take(t, payload, services);
    t->job.svc = off;
    tor_record(t, false);
    assert_int_equal(t->inserted, 1);
}

/* The log lines made between log_capture() and log_captured(): written to a temporary file
 * (pl_log_init), then back on stderr. */
static FILE *g_log_file;
static char g_log_text[16384];

static void log_capture(void)
{
    g_log_file = tmpfile();
    assert_non_null(g_log_file);
    pl_log_init("it_test_reversal_many", g_log_file);
}

static const char *log_captured(void)
{
    pl_log_init("it_test_reversal_many", NULL);
    assert_non_null(g_log_file);
    fflush(g_log_file);
    rewind(g_log_file);
    size_t n = fread(g_log_text, 1, sizeof g_log_text - 1, g_log_file);
    g_log_text[n] = '\0';
    fclose(g_log_file);
    g_log_file = NULL;
    return g_log_text;
}

/* Whether log (log_captured) has a line of level ("error", "warn"...) holding both a and b. */
static bool level_logged(const char *log, const char *level, const char *a, const char *b)
{
    char lv[32];
    snprintf(lv, sizeof lv, "\"level\":\"%s\"", level);
    for (const char *line = log; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char one[2048];
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), line);
        if (strstr(one, lv) && strstr(one, a) && strstr(one, b))
            return true;
        line = end ? end + 1 : NULL;
    }
    return false;
}

/* Whether log (log_captured) has an error line holding both a and b. */
static bool error_logged(const char *log, const char *a, const char *b)
{
    return level_logged(log, "error", a, b);
}

/* The rest t's spec asks for with its reply as the engine renders it (rev_followups). */
static int rest_of(tor_copy *t, pl_reversal_rest_request *rest)
{
    json_object *obj = NULL;
    char *text = pl_reply_to_json_obj(&t->job.req, t->job.reply, &obj);
    assert_non_null(text);
    int k = pl_reversal_rest_of(&t->job, obj, rest);
    json_object_put(obj);
    free(text);
    return k;
}

/*
 * An authorization of 100.00 an auth+capture replaced (voided, nothing captured): its `.vdr`,
 * paylink's own reversal, goes for the 100.00 and the bureau approves it for 30.00 only (the
 * External Payment Service's answer amount, made here: the simulator approves a reversal
 * whole). The authorization keeps 70.00 held (058), and nobody reads the `.vdr`'s reply: its
 * follow-up asks for the rest, `<.vdr>.rest` of the same authorization for 70.00, which
 * paylink-reversal takes as its own (sent although its settings say Send reversal is off), for
 * what is still held. Each rest approved for less asks for the next, smaller each time, until the
 * third: then none (an operator is told), the 35.00 left held. The rest named again (a
 * redelivery of the `.vdr`'s follow-ups) is the same request, answered from its row. The order
 * system's reversal approved for less asks for nothing (it read the reply). And a rest taken
 * while a capture of the authorization is in flight is refused without a bureau call, to be
 * asked again by paylink-reversal's resolver. Before,
 * the `.vdr`'s reply asked for nothing and the 70.00 stayed held until the authorization expired.
 */
static void test_own_reversal_approved_for_less_asks_the_rest(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], dep[96], vdr[64], order[24], payload[1024];
    rid(auth_req, sizeof auth_req, "own", "auth", 0);
    rid(dep, sizeof dep, "own", "d", 0);
    snprintf(order, sizeof order, "IT-RM-OWN%ld", (long)getpid() % 100000);
    make_auth(auth_req, order, false, auth_id, sizeof auth_id);
    it_exec(g_admin,
            "UPDATE auth_history SET status = 'voided', amount_voided = 100.00, "
            "void_reason = 'auth_capture', voided_by = $2 WHERE id = $1::bigint",
            2, (const char *const[]){auth_id, dep});
    pl_job_derived_request_id(dep, PL_DEPOSIT_REVERSAL_SUFFIX, vdr, sizeof vdr);

    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    /* This worker's settings: Send reversal off (paylink-deposit read it on). */
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);
    pl_service off = *cyb;
    off.send_reversal = false;

    static tor_copy steps[4], again;
    const pl_reversal_of of = {.auth_request_id = auth_req};
    own_payload(payload, sizeof payload, vdr, order, "100.00", &of);
    own_reversal(&steps[0], payload, services, &off);
    assert_int_equal(steps[0].prepared, 0);
    assert_int_equal(steps[0].job.call.amount, 10000);
    const pl_reply *rep = held_reversal_answered(&steps[0], "it/own-0", 3000);
    assert_int_equal(rep->amount_approved, 3000);
    expect_auth(auth_id, "voided|70.00|0.00|70.00");

    /* Each answer approved for less: the rest asked, taken, sent for what is still held. */
    static const int64_t approves[] = {2000, 1000, 500};
    static const char *const held[] = {"voided|50.00|0.00|50.00", "voided|40.00|0.00|40.00",
                                       "voided|35.00|0.00|35.00"};
    static const char *const rests[] = {"70.00", "50.00", "40.00"};
    char first_rest[51] = "";
    for (int i = 0; i < 3; i++) {
        pl_reversal_rest_request rest;
        assert_int_equal(rest_of(&steps[i], &rest), 1);
        char want[64];
        pl_job_derived_request_id(steps[i].job.req.request_id, PL_REVERSAL_REST_SUFFIX, want,
                                  sizeof want);
        assert_string_equal(rest.request_id, want);
        assert_int_equal(rest.rests, i);
        assert_string_equal(rest.amount, rests[i]);
        assert_string_equal(rest.of.auth_request_id, auth_req);
        if (i == 0)
            snprintf(first_rest, sizeof first_rest, "%s", rest.request_id);
        own_payload(payload, sizeof payload, rest.request_id, order, rest.amount, &rest.of);
        own_reversal(&steps[i + 1], payload, services, &off);
        assert_int_equal(steps[i + 1].prepared, 0); /* paylink's own: sent */
        int64_t still = 0;
        assert_int_equal(pl_money_parse_decimal(rests[i], &still), 0);
        assert_int_equal(steps[i + 1].job.call.amount, still);
        char attempt[32];
        snprintf(attempt, sizeof attempt, "it/own-%d", i + 1);
        rep = held_reversal_answered(&steps[i + 1], attempt, approves[i]);
        assert_int_equal(rep->amount_approved, approves[i]);
        expect_auth(auth_id, held[i]);
    }
    /* The third rest approved for less: none asked; what is held is an operator's. */
    pl_reversal_rest_request last;
    assert_int_equal(rest_of(&steps[3], &last), -1);
    assert_int_equal(last.rests, PL_REVERSAL_MAX_RESTS);
    assert_string_equal(last.amount, "35.00");
    assert_string_equal(last.request_id, "");
    char got[160];
    it_value(g_admin,
             "SELECT concat_ws('|', count(*), sum(amount_reversed)) FROM auth_reversal "
             "WHERE auth_history_id = $1::bigint AND status = 'approved'",
             auth_id, NULL, got, sizeof got);
    assert_string_equal(got, "4|65.00");

    /* The first rest named again (the `.vdr`'s follow-ups published again on a redelivery): the
     * same request, its row there, answered from it. */
    pl_reversal_rest_request rest;
    assert_int_equal(rest_of(&steps[0], &rest), 1);
    assert_string_equal(rest.request_id, first_rest);
    own_payload(payload, sizeof payload, rest.request_id, order, rest.amount, &rest.of);
    tor_take(&again, payload, services);
    assert_string_equal(again.fingerprint, steps[1].fingerprint);
    tor_record(&again, false);
    assert_int_equal(again.inserted, 0);

    /* The order system's reversal approved for less asks for nothing: it got amount_approved
     * and a message saying what the issuer still holds. */
    static tor_copy upstream, during;
    char auth2[96], auth2_id[24], req[96];
    rid(auth2, sizeof auth2, "own", "auth", 1);
    rid(req, sizeof req, "own", "rev", 1);
    make_auth(auth2, order, false, auth2_id, sizeof auth2_id);
    held_reversal(&upstream, req, order, auth2, services);
    assert_int_equal(upstream.job.call.amount, 10000);
    held_reversal_answered(&upstream, "it/own-up", 4000);
    assert_int_equal(rest_of(&upstream, &rest), 0);
    expect_auth(auth2_id, "approved|60.00|0.00|0.00");

    /* A rest taken while a capture of the authorization is in flight (its claim): refused
     * without a bureau call, as any reversal. */
    char auth3[96], auth3_id[24], dep3[96], vdr3[64];
    rid(auth3, sizeof auth3, "own", "auth", 2);
    rid(dep3, sizeof dep3, "own", "d", 2);
    make_auth(auth3, order, false, auth3_id, sizeof auth3_id);
    pl_job_derived_request_id(dep3, PL_DEPOSIT_REVERSAL_SUFFIX, vdr3, sizeof vdr3);
    it_exec(g_admin,
            "UPDATE auth_history SET status = 'voided', amount_voided = 100.00, "
            "void_reason = 'auth_capture', voided_by = $2 WHERE id = $1::bigint",
            2, (const char *const[]){auth3_id, dep3});
    static tor_copy vdr3_copy;
    const pl_reversal_of of3 = {.auth_request_id = auth3};
    own_payload(payload, sizeof payload, vdr3, order, "100.00", &of3);
    own_reversal(&vdr3_copy, payload, services, &off);
    held_reversal_answered(&vdr3_copy, "it/own-v3", 9000);
    assert_int_equal(rest_of(&vdr3_copy, &rest), 1);
    assert_string_equal(rest.amount, "10.00");
    it_exec(g_admin, "UPDATE auth_history SET amount_pending = 10.00 WHERE id = $1::bigint", 1,
            (const char *const[]){auth3_id});
    own_payload(payload, sizeof payload, rest.request_id, order, rest.amount, &rest.of);
    log_capture();
    own_reversal(&during, payload, services, &off);
    const char *log = log_captured();
    assert_int_equal(during.prepared, 1);
    assert_non_null(strstr(during.job.reply->message, "in progress"));
    /* Refused under its fixed id, the rest is recorded with its refusal (070) and asked again
     * by paylink-reversal's resolver (test_resolver_reask.c): the line says so, naming the
     * authorization and what is still held, and tells nobody it is never asked again (before,
     * an error did, an operator's to release; an info line only before that). */
    if (!level_logged(log, "warn", auth3, "10.00") ||
        !level_logged(log, "warn", auth3, "resolver asks for it again")) {
        fprintf(stderr, "%s", log);
        fail_msg("no line says the rest of %s (10.00) is asked again in the log above", auth3);
    }
    assert_false(error_logged(log, auth3, "not asked for again"));

    tor_copy *const copies[] = {&steps[0], &steps[1], &steps[2], &steps[3],
                                &again,    &upstream, &during,   &vdr3_copy};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/*
 * paylink's own `.rev` of a Decision Manager reject of 100.00 (no amount held recorded: the
 * issuer holds the amount asked) goes for the 100.00; its claim records that as what the issuer
 * holds (auth_history.amount_issuer_held), so an approval for 30.00 keeps the reject with 70.00
 * held (065) and the `.rev` asks for the rest, which goes for the 70.00 and, approved whole,
 * books the authorization reversed. Before, the approval booked it `reversed` at once (065
 * compared the amount reversed with no amount) and no rest was asked, the 70.00 held on the
 * card (an operator was told). A reversal of such a reject the bureau refuses leaves the amount
 * asked recorded, which is what the issuer still holds: the next reversal claims it and goes
 * for it, as before.
 */
static void test_own_reversal_of_a_reject_asks_the_rest(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], rev[64], order[24], payload[1024];
    rid(auth_req, sizeof auth_req, "rjr", "auth", 0);
    snprintf(order, sizeof order, "IT-RM-RJR%ld", (long)getpid() % 100000);
    dm_reject(auth_req, order, auth_id, sizeof auth_id);
    pl_job_derived_request_id(auth_req, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);

    static tor_copy dm, rest_copy, refused, next;
    const pl_reversal_of of = {.auth_request_id = auth_req};
    own_payload(payload, sizeof payload, rev, order, "100.00", &of);
    own_reversal(&dm, payload, services, cyb);
    assert_int_equal(dm.prepared, 0);
    assert_int_equal(dm.job.call.amount, 10000);
    assert_int_equal(mark(&dm, "it/rjr-0"), 1);
    expect_held(auth_id, "rejected|0.01|-|100.00");
    answered(&dm, "ACCEPT", 3000);
    expect_held(auth_id, "rejected|0.00|-|70.00");

    pl_reversal_rest_request rest;
    assert_int_equal(rest_of(&dm, &rest), 1);
    assert_false(rest.unrecorded);
    assert_string_equal(rest.amount, "70.00");
    char want[64];
    pl_job_derived_request_id(rev, PL_REVERSAL_REST_SUFFIX, want, sizeof want);
    assert_string_equal(rest.request_id, want);
    own_payload(payload, sizeof payload, rest.request_id, order, rest.amount, &rest.of);
    own_reversal(&rest_copy, payload, services, cyb);
    assert_int_equal(rest_copy.prepared, 0);
    assert_int_equal(rest_copy.job.call.amount, 7000);
    held_reversal_answered(&rest_copy, "it/rjr-1", 0);
    expect_held(auth_id, "reversed|0.00|-|70.00");

    /* Refused by the bureau: what the issuer holds stays recorded, and the next goes for it. */
    char auth2[96], auth2_id[24], req[2][96];
    rid(auth2, sizeof auth2, "rjr", "auth", 1);
    for (int i = 0; i < 2; i++)
        rid(req[i], sizeof req[i], "rjr", "rev", i);
    dm_reject(auth2, order, auth2_id, sizeof auth2_id);
    order_reversal(&refused, req[0], order, auth2, "100.00", services);
    assert_int_equal(mark(&refused, "it/rjr-2"), 1);
    answered(&refused, "REJECT", 0);
    expect_held(auth2_id, "rejected|0.00|-|100.00");
    order_reversal(&next, req[1], order, auth2, "100.00", services);
    assert_int_equal(next.prepared, 0);
    assert_int_equal(next.job.call.amount, 10000);
    assert_int_equal(mark(&next, "it/rjr-3"), 1);
    expect_held(auth2_id, "rejected|0.01|-|100.00");

    tor_copy *const copies[] = {&dm, &rest_copy, &refused, &next};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/*
 * paylink's own reversal of an authorization whose history row records no amount held (a
 * Decision Manager reject, 481: neither amount_authorized nor amount_issuer_held) sent for
 * another amount than the authorization asked (80.00 of 100.00: its claim records nothing, not
 * knowing what the issuer holds) approved for less than it sent: the approval books the
 * authorization `reversed` (migration 065 compares the amount reversed with the amounts it does
 * not have), so a rest would be refused as already reversed (237) without a bureau call, and
 * nobody would be told. None is asked; an error names the authorization and what is left, for
 * an operator. (Before, the `.rest` was published and refused.) A rest of an authorization
 * paylink holds no history row of (a manual one, the `.sdr` of the debit whose soft-declined
 * auth+capture made it: the bureau decides) is still asked.
 */
static void test_own_reversal_of_an_unrecorded_hold_asks_no_rest(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], rev[64], order[24], payload[1024];
    rid(auth_req, sizeof auth_req, "unrec", "auth", 0);
    snprintf(order, sizeof order, "IT-RM-UNR%ld", (long)getpid() % 100000);
    dm_reject(auth_req, order, auth_id, sizeof auth_id);
    pl_job_derived_request_id(auth_req, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);

    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);

    static tor_copy dm, sdr;
    const pl_reversal_of of = {.auth_request_id = auth_req};
    own_payload(payload, sizeof payload, rev, order, "80.00", &of);
    own_reversal(&dm, payload, services, cyb);
    assert_int_equal(dm.prepared, 0);
    assert_int_equal(dm.job.call.amount, 8000);
    assert_int_equal(mark(&dm, "it/unrec-0"), 1);
    expect_held(auth_id, "rejected|0.01|-|-");
    answered(&dm, "ACCEPT", 3000);
    expect_held(auth_id, "reversed|0.00|-|-");

    pl_reversal_rest_request rest;
    assert_int_equal(rest_of(&dm, &rest), -1);
    assert_true(rest.unrecorded);
    assert_string_equal(rest.amount, "50.00");
    assert_string_equal(rest.request_id, "");
    /* The follow-ups publish nothing (the job has no producer here: a publish would fail) and
     * an operator is told. */
    json_object *obj = NULL;
    char *text = pl_reply_to_json_obj(&dm.job.req, dm.job.reply, &obj);
    assert_non_null(text);
    log_capture();
    int rc = pl_reversal_spec.followups(&dm.job, obj);
    const char *log = log_captured();
    json_object_put(obj);
    free(text);
    assert_int_equal(rc, 0);
    if (!error_logged(log, auth_req, "50.00")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line names %s and 50.00 in the log above", auth_req);
    }

    /* A manual authorization (no history row): its `.sdr` approved for less asks the rest. */
    char debit[96], sdr_id[64], tx[64];
    rid(debit, sizeof debit, "unrec", "debit", 0);
    snprintf(tx, sizeof tx, "%stx", g_prefix);
    it_exec(g_admin,
            "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
            "status, transaction_id) VALUES ($1, repeat('b', 64), 'debit', 'auth_capture', 7, "
            "$2, 1, 'CYB', 100.00, 'USD', '7000000000000000000009', 'declined', $3)",
            3, (const char *const[]){debit, order, tx});
    pl_job_derived_request_id(debit, PL_SOFT_DECLINE_REVERSAL_SUFFIX, sdr_id, sizeof sdr_id);
    const pl_reversal_of manual = {.transaction_id = tx,
                                   .request_token = "Axj/manual-token",
                                   .number = "123456",
                                   .date = "2026-12-01",
                                   .amount = "100.00"};
    own_payload(payload, sizeof payload, sdr_id, order, "100.00", &manual);
    own_reversal(&sdr, payload, services, cyb);
    assert_int_equal(sdr.prepared, 0);
    assert_int_equal(sdr.job.call.amount, 10000);
    held_reversal_answered(&sdr, "it/unrec-1", 4000);
    assert_int_equal(rest_of(&sdr, &rest), 1);
    assert_false(rest.unrecorded);
    assert_string_equal(rest.amount, "60.00");
    assert_string_equal(rest.of.transaction_id, tx);

    tor_copy *const copies[] = {&dm, &sdr};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/*
 * CyberSource's timeout reversal `.tor` of an authorization whose answer never came is in flight
 * (marked sent naming no history row: it releases the authorization whole) when the late answer
 * comes, a Decision Manager reject (481) the issuer approved, whose `.rev` paylink-auth
 * publishes. A `.rev` prepared before the `.tor` was marked claims nothing at its mark and is not
 * marked; decided again (the look-up now says a timeout reversal of it is in flight) it is
 * refused without a bureau call. Once the `.tor` has failed (declined otherwise than as already
 * reversed), a reversal of it claims it and goes. Before, the `.rev` went beside the `.tor` and
 * the bureau refused one of them as already reversed.
 */
static void test_no_reversal_beside_a_timeout_reversal(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], rev[64], tor[64], order[24], payload[1024];
    rid(auth_req, sizeof auth_req, "btr", "auth", 0);
    snprintf(order, sizeof order, "IT-RM-BTR%ld", (long)getpid() % 100000);
    dm_reject(auth_req, order, auth_id, sizeof auth_id);
    pl_job_derived_request_id(auth_req, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    pl_job_derived_request_id(auth_req, PL_TIMEOUT_REVERSAL_SUFFIX, tor, sizeof tor);
    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);

    static tor_copy dm;
    const pl_reversal_of of = {.auth_request_id = auth_req};
    own_payload(payload, sizeof payload, rev, order, "100.00", &of);
    own_reversal(&dm, payload, services, cyb);
    assert_int_equal(dm.prepared, 0);
    /* The `.tor`, as rev_mark_sent marks a timeout reversal sent. */
    it_exec(g_admin,
            "INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
            "pay_seq, service_bureau, amount, currency, auth_request_id, merchant_id, status, "
            "sent_at, sent_by) VALUES ($1, repeat('c', 64), 'reversal', 7, $2, 1, 'CYB', 100.00, "
            "'USD', $3, 'paylink_demo', 'sent', now(), 'it/btr')",
            3, (const char *const[]){tor, order, auth_req});

    assert_int_equal(mark(&dm, "it/btr-1"), 0);
    expect_held(auth_id, "rejected|0.00|-|-");
    decide_again(&dm);
    assert_int_equal(dm.prepared, 1);
    assert_int_equal(dm.job.reply->status, PL_ST_DECLINED);
    assert_non_null(strstr(dm.job.reply->message, "timeout reversal"));

    /* Unknown, still in flight; then failed: the `.rev` claims and goes. */
    it_exec(g_admin, "UPDATE auth_reversal SET status = 'unknown' WHERE request_id = $1", 1,
            (const char *const[]){tor});
    decide_again(&dm);
    assert_int_equal(dm.prepared, 1);
    it_exec(g_admin,
            "UPDATE auth_reversal SET status = 'declined', vendor_response = '150' "
            "WHERE request_id = $1",
            1, (const char *const[]){tor});
    decide_again(&dm);
    assert_int_equal(dm.prepared, 0);
    assert_int_equal(mark(&dm, "it/btr-2"), 1);
    expect_held(auth_id, "rejected|0.01|-|100.00");

    free(dm.job.spec_data);
    pl_request_free(&dm.job.req);
    pl_services_unref(services);
}

/* ---- an operator's approval for less of paylink's own reversal left unknown ---------------- */

/*
 * Reversal t (taken up, recorded and prepared by paylink-reversal's spec) marked sent by
 * attempt, then left unknown as the engine leaves one whose answer never came (pl_unknown: its
 * `timeout` reply stored, a required response for what the call sent). The required response is
 * escalated and held by `own` for ten minutes, its worker's `timeout` reply recorded out: the
 * running system's resolvers take only open rows that are due and pending replies nobody holds,
 * so the row is this test's alone, and an operator's outcome publishes its final reply (and
 * follow-ups) at once, to the test's callback. Returns the required response's id.
 */
static int64_t left_unknown(tor_copy *t, const char *attempt, const char *own)
{
    snprintf(t->job.op_name, sizeof t->job.op_name, "%s", pl_bureau_op_name(t->job.call.op));
    snprintf(t->job.attempt, sizeof t->job.attempt, "%s", attempt);
    assert_int_equal(run_unit(g_db, pl_reversal_spec.mark_sent, &t->job), 1);
    const pl_request *r = &t->job.req;
    char amount[24];
    assert_int_equal(pl_money_format(t->job.call.amount, amount, sizeof amount), 0);
    it_exec(g_admin,
            "UPDATE auth_reversal SET status = 'unknown', answered_at = now(), "
            "reply = jsonb_build_object('v', 1, 'request_id', $1::text, 'type', 'reversal', "
            "'company', 7, 'order', $2::text, 'pay_seq', 1, 'service', 'CYB', 'status', "
            "'timeout', 'amount_requested', $3::text, 'currency', 'USD', 'vendor_response', "
            "'150', 'required_response', true) WHERE request_id = $1 AND status = 'sent'",
            3, (const char *const[]){r->request_id, r->order, amount});
    PGresult *res = PQexecParams(
        g_admin,
        "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
        "worker_replied_at, lease_owner, lease_until) VALUES ($1, 'reversal', 7, $2, 1, 'CYB', "
        "'reversal', $3::numeric, 'USD', 'timeout', 'it: no answer', 'escalated', now(), now(), "
        "$4, now() + interval '10 minutes') RETURNING id",
        4, NULL, (const char *const[]){r->request_id, r->order, amount, own}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

/* paylinkctl's resolver of paylink-reversal's rows, named own, publishing to sent (its step
 * queries the bureau simulator, trusting its CA: PAYLINK_CA_FILE). */
static pl_resolver *operator_resolver(const char *own, sent_msgs *sent)
{
    pl_resolver_config cfg = {.conninfo = getenv("PAYLINK_DB"),
                              .worker = "reversal",
                              .owner = own,
                              .topic_prefix = "it",
                              /* The simulator's CA, for a step's query. */
                              .ca_file = getenv("PAYLINK_CA_FILE"),
                              .publish = on_publish,
                              .publish_arg = sent};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    return r;
}

/* `wreq resolve <rr> --outcome approved --amount <amount>` (minor units; < 0: none) by alice,
 * its log lines kept (log_captured). */
static const char *resolve_approved(pl_resolver *r, int64_t rr, int64_t amount)
{
    pl_resolve_outcome o = {.status = PL_ST_APPROVED, .has_amount = amount >= 0, .amount = amount};
    char msg[512] = "";
    log_capture();
    int rc = pl_resolver_operator(r, rr, &o, "alice", NULL, msg, sizeof msg);
    const char *log = log_captured();
    if (rc != 0) {
        fprintf(stderr, "%s", log);
        fail_msg("wreq resolve %lld: %d %s (log above)", (long long)rr, rc, msg);
    }
    return log;
}

/* The request's stored follow-ups' payloads (auth_reversal.followups), "" when none. */
static void stored_followup(const char *req, char *out, size_t outsz)
{
    it_value(g_admin,
             "SELECT coalesce(string_agg(f->>'payload', ' '), '') FROM auth_reversal "
             "LEFT JOIN LATERAL jsonb_array_elements(followups) f ON true WHERE request_id = $1",
             req, NULL, out, outsz);
}

/*
 * paylink's own `.rev` of an approved authorization of 100.00 is sent for all of it, and its
 * answer never comes. An operator learns that the bureau reversed 30.00 of it and resolves it so
 * (`wreq resolve --outcome approved --amount 30.00`): the authorization keeps 70.00 held (058),
 * and nobody reads the `.rev`'s reply. The resolver asks for the rest as paylink-reversal would
 * have with that answer in time: `<.rev>.rest` of the same authorization for 70.00, the same
 * bytes as paylink-reversal's message (own_payload, pl_job_publish_reversal's; and what its
 * follow-ups ask with the same answer), stored with the row (published again if the publish
 * fails or the resolver dies before it, and replayed on a redelivery) and published before the
 * final reply, keyed as every message of the order; the same info line. paylink-reversal takes
 * it as its own (sent although its settings say Send reversal is off) for the 70.00 still held;
 * a second copy of it is the same request. A second resolve finds nothing to resolve and
 * publishes nothing. The same for a `.tor` of an authorization Decision Manager rejected after
 * the issuer approved 50.00 of it (its history row records what the issuer holds, 061, 065):
 * sent for 50.00, approved for 20.00, the rest asked for 30.00. And for the `.sdr` of a manual
 * authorization (no history row; named inline, its amount the `.sdr`'s): its rest named inline
 * again, as paylink-reversal names it. Before, an operator's resolve asked for no rest, and it
 * stayed held on the card until the authorization expired.
 */
static void test_operator_approval_for_less_asks_the_rest(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], rev[64], rest_id[64], order[24], own[96];
    char payload[1024], want[1024], got[2048];
    rid(auth_req, sizeof auth_req, "opr", "auth", 0);
    snprintf(order, sizeof order, "IT-RM-OPR%ld", (long)getpid() % 100000);
    snprintf(own, sizeof own, "%sopr/resolver", g_prefix);
    make_auth(auth_req, order, false, auth_id, sizeof auth_id);
    pl_job_derived_request_id(auth_req, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    pl_job_derived_request_id(rev, PL_REVERSAL_REST_SUFFIX, rest_id, sizeof rest_id);

    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);
    pl_service off = *cyb;
    off.send_reversal = false;

    static tor_copy revc, restc, again, torc, tor_rest, sdrc, sdr_rest;
    const pl_reversal_of of = {.auth_request_id = auth_req};
    own_payload(payload, sizeof payload, rev, order, "100.00", &of);
    own_reversal(&revc, payload, services, cyb);
    assert_int_equal(revc.prepared, 0);
    assert_int_equal(revc.job.call.amount, 10000);
    int64_t rr = left_unknown(&revc, "it/opr-0", own);
    expect_auth(auth_id, "approved|100.00|100.00|0.00");

    sent_msgs sent = {0};
    pl_resolver *r = operator_resolver(own, &sent);
    const char *log = resolve_approved(r, rr, 3000);
    assert_int_equal(sent.n, 2);
    assert_string_equal(sent.topic[0], "it.reversal.request");
    char key[64];
    snprintf(key, sizeof key, "7-%s", order);
    assert_string_equal(sent.key[0], key);
    own_payload(want, sizeof want, rest_id, order, "70.00", &of);
    assert_string_equal(sent.payload[0], want);
    assert_string_equal(sent.topic[1], "it.reversal.reply");
    expect_auth(auth_id, "approved|70.00|0.00|0.00");
    stored_followup(rev, got, sizeof got);
    assert_string_equal(got, want);
    char line[256];
    snprintf(line, sizeof line,
             "reversal %s requested for the 70.00 authorization %s still holds (rest 1 of at "
             "most 3)",
             rest_id, auth_req);
    if (!strstr(log, line)) {
        fprintf(stderr, "%s", log);
        fail_msg("no line says \"%s\" in the log above", line);
    }
    /* paylink-reversal with that answer in time: the same rest, the same message. */
    revc.job.reply->status = PL_ST_APPROVED;
    revc.job.reply->has_amount_approved = true;
    revc.job.reply->amount_approved = 3000;
    pl_reversal_rest_request worker;
    assert_int_equal(rest_of(&revc, &worker), 1);
    own_payload(payload, sizeof payload, worker.request_id, order, worker.amount, &worker.of);
    assert_string_equal(payload, want);

    /* Resolved: a second resolve finds nothing to resolve, and publishes nothing. */
    pl_resolve_outcome o = {.status = PL_ST_APPROVED, .has_amount = true, .amount = 1000};
    char msg[512];
    assert_int_not_equal(pl_resolver_operator(r, rr, &o, "bob", NULL, msg, sizeof msg), 0);
    assert_int_equal(sent.n, 2);

    /* paylink-reversal takes the rest as its own, for what is still held; a second copy is the
     * same request, answered from its row. */
    own_reversal(&restc, sent.payload[0], services, &off);
    assert_int_equal(restc.prepared, 0);
    assert_int_equal(restc.job.call.amount, 7000);
    tor_take(&again, sent.payload[0], services);
    assert_string_equal(again.fingerprint, restc.fingerprint);
    tor_record(&again, false);
    assert_int_equal(again.inserted, 0);

    /* A `.tor` of an authorization rejected after the issuer approved 50.00 of it. */
    char auth2[96], auth2_id[24], tor[64], tor_rest_id[64];
    rid(auth2, sizeof auth2, "opr", "auth", 1);
    make_auth(auth2, order, false, auth2_id, sizeof auth2_id);
    it_exec(g_admin,
            "UPDATE auth_history SET status = 'rejected', vendor_response = '481', "
            "amount_authorized = NULL, amount_issuer_held = 50.00 WHERE id = $1::bigint",
            1, (const char *const[]){auth2_id});
    pl_job_derived_request_id(auth2, PL_TIMEOUT_REVERSAL_SUFFIX, tor, sizeof tor);
    pl_job_derived_request_id(tor, PL_REVERSAL_REST_SUFFIX, tor_rest_id, sizeof tor_rest_id);
    const pl_reversal_of of2 = {.auth_request_id = auth2};
    own_payload(payload, sizeof payload, tor, order, "100.00", &of2);
    own_reversal(&torc, payload, services, cyb);
    assert_int_equal(torc.prepared, 0);
    assert_int_equal(torc.job.call.amount, 5000);
    rr = left_unknown(&torc, "it/opr-1", own);
    sent.n = 0;
    resolve_approved(r, rr, 2000);
    assert_int_equal(sent.n, 2);
    own_payload(want, sizeof want, tor_rest_id, order, "30.00", &of2);
    assert_string_equal(sent.payload[0], want);
    expect_held(auth2_id, "rejected|0.00|-|30.00");
    own_reversal(&tor_rest, sent.payload[0], services, &off);
    assert_int_equal(tor_rest.prepared, 0);
    assert_int_equal(tor_rest.job.call.amount, 3000);

    /* The `.sdr` of a manual authorization, named inline. */
    char debit[96], sdr[64], sdr_rest_id[64], tx[64];
    rid(debit, sizeof debit, "opr", "debit", 0);
    snprintf(tx, sizeof tx, "%soprtx", g_prefix);
    it_exec(g_admin,
            "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
            "status, transaction_id) VALUES ($1, repeat('b', 64), 'debit', 'auth_capture', 7, "
            "$2, 1, 'CYB', 100.00, 'USD', '7000000000000000000009', 'declined', $3)",
            3, (const char *const[]){debit, order, tx});
    pl_job_derived_request_id(debit, PL_SOFT_DECLINE_REVERSAL_SUFFIX, sdr, sizeof sdr);
    pl_job_derived_request_id(sdr, PL_REVERSAL_REST_SUFFIX, sdr_rest_id, sizeof sdr_rest_id);
    const pl_reversal_of manual = {.transaction_id = tx,
                                   .request_token = "Axj/manual-token",
                                   .number = "123456",
                                   .date = "2026-12-01",
                                   .amount = "100.00"};
    own_payload(payload, sizeof payload, sdr, order, "100.00", &manual);
    own_reversal(&sdrc, payload, services, cyb);
    assert_int_equal(sdrc.prepared, 0);
    rr = left_unknown(&sdrc, "it/opr-2", own);
    sent.n = 0;
    resolve_approved(r, rr, 4000);
    assert_int_equal(sent.n, 2);
    own_payload(want, sizeof want, sdr_rest_id, order, "60.00", &manual);
    assert_string_equal(sent.payload[0], want);
    own_reversal(&sdr_rest, sent.payload[0], services, &off);
    assert_int_equal(sdr_rest.prepared, 0);
    assert_int_equal(sdr_rest.job.call.amount, 6000);
    pl_resolver_destroy(r);

    tor_copy *const copies[] = {&revc, &restc, &again, &torc, &tor_rest, &sdrc, &sdr_rest};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/*
 * paylink's own `.rev` of a Decision Manager reject of 100.00 (no amount held recorded: the
 * issuer holds the amount asked) is sent for the 100.00 and its answer never comes; an operator
 * learns the bureau reversed 30.00 of it (`wreq resolve --outcome approved --amount 30.00`). Its
 * claim recorded the 100.00 as what the issuer holds, so the approval keeps the reject with
 * 70.00 held (065) and the resolver asks for the rest, as paylink-reversal would have with that
 * answer in time: `<.rev>.rest` for 70.00, which paylink-reversal takes and sends for the 70.00.
 * Before, the approval booked the reject `reversed` and no rest was asked (an error told an
 * operator), the 70.00 held on the card until it expired.
 */
static void test_operator_approval_of_a_reject_asks_the_rest(void **state)
{
    (void)state;
    char auth[96], auth_id[24], rev[64], rest_id[64], order[24], own[96];
    char payload[1024], want[1024];
    rid(auth, sizeof auth, "orj", "auth", 0);
    snprintf(order, sizeof order, "IT-RM-ORJ%ld", (long)getpid() % 100000);
    snprintf(own, sizeof own, "%sorj/resolver", g_prefix);
    dm_reject(auth, order, auth_id, sizeof auth_id);
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    pl_job_derived_request_id(rev, PL_REVERSAL_REST_SUFFIX, rest_id, sizeof rest_id);
    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);

    static tor_copy dm, restc;
    const pl_reversal_of of = {.auth_request_id = auth};
    own_payload(payload, sizeof payload, rev, order, "100.00", &of);
    own_reversal(&dm, payload, services, cyb);
    assert_int_equal(dm.prepared, 0);
    assert_int_equal(dm.job.call.amount, 10000);
    int64_t rr = left_unknown(&dm, "it/orj-0", own);
    expect_held(auth_id, "rejected|0.01|-|100.00");

    sent_msgs sent = {0};
    pl_resolver *r = operator_resolver(own, &sent);
    const char *log = resolve_approved(r, rr, 3000);
    assert_int_equal(sent.n, 2);
    assert_string_equal(sent.topic[0], "it.reversal.request");
    own_payload(want, sizeof want, rest_id, order, "70.00", &of);
    assert_string_equal(sent.payload[0], want);
    assert_string_equal(sent.topic[1], "it.reversal.reply");
    assert_null(strstr(log, "\"level\":\"error\""));
    expect_held(auth_id, "rejected|0.00|-|70.00");
    pl_resolver_destroy(r);

    own_reversal(&restc, sent.payload[0], services, cyb);
    assert_int_equal(restc.prepared, 0);
    assert_int_equal(restc.job.call.amount, 7000);

    tor_copy *const copies[] = {&dm, &restc};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/*
 * An operator's approval that asks for no rest: of paylink's own `.rev` whose authorization's
 * history row records no amount held (a Decision Manager reject, the `.rev` sent for another
 * amount than it asked, so that its claim recorded none: the approval for less books it
 * `reversed`, and a rest would be refused 237), or of the third rest already (the limit):
 * nothing but the final reply is published, nothing is stored to publish, and an error names
 * the authorization and what is still held for an operator, in paylink-reversal's words (before,
 * nothing was said). Nor, without a word, for the order system's own reversal approved for less
 * (it reads amount_approved), one approved whole, or CyberSource's timeout reversal of an
 * authorization without an answer (it released the authorization whole).
 */
static void test_operator_approval_asks_no_rest(void **state)
{
    (void)state;
    char order[24], own[96], got[2048];
    snprintf(order, sizeof order, "IT-RM-ONR%ld", (long)getpid() % 100000);
    snprintf(g_hashed_order, sizeof g_hashed_order, "%s", order);
    snprintf(own, sizeof own, "%sonr/resolver", g_prefix);
    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);
    sent_msgs sent = {0};
    pl_resolver *r = operator_resolver(own, &sent);
    static tor_copy dm, third, upstream, whole;
    char payload[1024];

    /* The `.rev` of a reject recording no amount held. */
    char auth[96], auth_id[24], rev[64];
    rid(auth, sizeof auth, "onr", "auth", 0);
    dm_reject(auth, order, auth_id, sizeof auth_id);
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    const pl_reversal_of of = {.auth_request_id = auth};
    own_payload(payload, sizeof payload, rev, order, "80.00", &of);
    own_reversal(&dm, payload, services, cyb);
    assert_int_equal(dm.prepared, 0);
    int64_t rr = left_unknown(&dm, "it/onr-0", own);
    const char *log = resolve_approved(r, rr, 3000);
    assert_int_equal(sent.n, 1);
    assert_string_equal(sent.topic[0], "it.reversal.reply");
    stored_followup(rev, got, sizeof got);
    assert_string_equal(got, "");
    expect_held(auth_id, "reversed|0.00|-|-");
    if (!error_logged(log, auth, "50.00") || !strstr(log, "records no amount held")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line names %s and 50.00 (no amount held) in the log above", auth);
    }

    /* The third rest of an approved authorization. */
    char auth2[96], auth2_id[24], id[64], next[64];
    rid(auth2, sizeof auth2, "onr", "auth", 1);
    make_auth(auth2, order, false, auth2_id, sizeof auth2_id);
    pl_job_derived_request_id(auth2, PL_DM_REVERSAL_SUFFIX, id, sizeof id);
    for (int n = 0; n < PL_REVERSAL_MAX_RESTS; n++) {
        pl_job_derived_request_id(id, PL_REVERSAL_REST_SUFFIX, next, sizeof next);
        memcpy(id, next, sizeof id);
    }
    const pl_reversal_of of2 = {.auth_request_id = auth2};
    own_payload(payload, sizeof payload, id, order, "40.00", &of2);
    own_reversal(&third, payload, services, cyb);
    assert_int_equal(third.prepared, 0);
    assert_int_equal(third.job.call.amount, 10000);
    rr = left_unknown(&third, "it/onr-1", own);
    sent.n = 0;
    log = resolve_approved(r, rr, 2500);
    assert_int_equal(sent.n, 1);
    stored_followup(id, got, sizeof got);
    assert_string_equal(got, "");
    expect_auth(auth2_id, "approved|75.00|0.00|0.00");
    if (!error_logged(log, auth2, "75.00") || !strstr(log, "reached the limit")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line names %s and 75.00 (the limit) in the log above", auth2);
    }

    /* The order system's reversal approved for less; paylink's own approved whole. */
    char auth3[96], auth3_id[24], req[96];
    rid(auth3, sizeof auth3, "onr", "auth", 2);
    rid(req, sizeof req, "onr", "rev", 2);
    make_auth(auth3, order, false, auth3_id, sizeof auth3_id);
    held_reversal(&upstream, req, order, auth3, services);
    rr = left_unknown(&upstream, "it/onr-2", own);
    sent.n = 0;
    log = resolve_approved(r, rr, 3000);
    assert_int_equal(sent.n, 1);
    assert_null(strstr(log, "\"level\":\"error\""));
    expect_auth(auth3_id, "approved|70.00|0.00|0.00");
    char auth4[96], auth4_id[24], rev4[64];
    rid(auth4, sizeof auth4, "onr", "auth", 3);
    make_auth(auth4, order, false, auth4_id, sizeof auth4_id);
    pl_job_derived_request_id(auth4, PL_DM_REVERSAL_SUFFIX, rev4, sizeof rev4);
    const pl_reversal_of of4 = {.auth_request_id = auth4};
    own_payload(payload, sizeof payload, rev4, order, "100.00", &of4);
    own_reversal(&whole, payload, services, cyb);
    rr = left_unknown(&whole, "it/onr-3", own);
    sent.n = 0;
    log = resolve_approved(r, rr, -1);
    assert_int_equal(sent.n, 1);
    assert_null(strstr(log, "\"level\":\"error\""));
    expect_auth(auth4_id, "reversed|100.00|0.00|0.00");

    /* CyberSource's timeout reversal of an authorization without an answer, as paylink-reversal
     * marks one sent (naming no history row, claiming nothing), left unknown. */
    char auth5[96], tor[64];
    rid(auth5, sizeof auth5, "onr", "auth", 4);
    pl_job_derived_request_id(auth5, PL_TIMEOUT_REVERSAL_SUFFIX, tor, sizeof tor);
    it_exec(g_admin,
            "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
            "order_number, pay_seq, service_bureau, status, amount, currency, card_token) "
            "VALUES ($1, repeat('a', 64), 'auth', 7, $2, 1, 'CYB', 'unknown', 100.00, 'USD', "
            "'7000000000000000000009')",
            2, (const char *const[]){auth5, order});
    it_exec(g_admin,
            "INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
            "pay_seq, service_bureau, amount, currency, auth_request_id, merchant_id, status, "
            "reply, sent_at, sent_by) VALUES ($1::text, repeat('c', 64), 'reversal', 7, "
            "$2::text, 1, 'CYB', 100.00, 'USD', $3, 'paylink_demo', 'unknown', "
            "jsonb_build_object('v', 1, "
            "'request_id', $1::text, 'type', 'reversal', 'company', 7, 'order', $2::text, "
            "'pay_seq', 1, 'service', 'CYB', 'status', 'timeout', 'amount_requested', '100.00', "
            "'currency', 'USD', 'required_response', true), now(), 'it/onr-4')",
            3, (const char *const[]){tor, order, auth5});
    PGresult *res = PQexecParams(
        g_admin,
        "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
        "worker_replied_at, lease_owner, lease_until) VALUES ($1, 'reversal', 7, $2, 1, 'CYB', "
        "'reversal', 100.00, 'USD', 'timeout', 'it: no answer', 'escalated', now(), now(), $3, "
        "now() + interval '10 minutes') RETURNING id",
        3, NULL, (const char *const[]){tor, order, own}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    rr = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    sent.n = 0;
    log = resolve_approved(r, rr, 3000);
    assert_int_equal(sent.n, 1);
    assert_null(strstr(log, "\"level\":\"error\""));
    stored_followup(tor, got, sizeof got);
    assert_string_equal(got, "");
    pl_resolver_destroy(r);

    tor_copy *const copies[] = {&dm, &third, &upstream, &whole};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

/* ---- the step's query finds paylink's own reversal approved for less --------------------------
 */

/*
 * Sends the CyberSource bureau (auth_service CYB's test URL: the simulator), as merchant
 * paylink_demo under merchant reference ref, an authorization of amount with the simulator's test
 * card (auth_id NULL), or a reversal of its authorization auth_id for amount (NULL: the request
 * names none), and reads the answer as paylink would (the adapter) into res. The simulator then
 * lists the request in its Single Transaction Query, which the resolver's step asks.
 */
static void sim_call(const char *ref, const char *amount, const char *auth_id,
                     pl_bureau_result *res)
{
    char url[512];
    it_value(g_admin, "SELECT test_url FROM auth_service WHERE service_bureau = $1", "CYB", NULL,
             url, sizeof url);
    xmlDocPtr doc;
    xmlNsPtr ns;
    xmlNodePtr msg = it_sim_cyb_message(&doc, ref, &ns);
    if (amount) {
        xmlNodePtr totals = xmlNewChild(msg, ns, BAD_CAST "purchaseTotals", NULL);
        it_sim_child(totals, ns, "currency", "USD");
        it_sim_child(totals, ns, "grandTotalAmount", amount);
    }
    if (!auth_id) {
        xmlNodePtr card = xmlNewChild(msg, ns, BAD_CAST "card", NULL);
        it_sim_child(card, ns, "accountNumber", "4111111111111111");
        it_sim_child(card, ns, "expirationMonth", "12");
        it_sim_child(card, ns, "expirationYear", "2039");
        xmlNodePtr svc = xmlNewChild(msg, ns, BAD_CAST "ccAuthService", NULL);
        xmlNewProp(svc, BAD_CAST "run", BAD_CAST "true");
    } else {
        xmlNodePtr svc = xmlNewChild(msg, ns, BAD_CAST "ccAuthReversalService", NULL);
        xmlNewProp(svc, BAD_CAST "run", BAD_CAST "true");
        it_sim_child(svc, ns, "authRequestID", auth_id);
    }
    it_sim_cyb_send(url, doc, ref, auth_id ? "reversal" : "authorization",
                    auth_id ? PL_OP_AUTH_REVERSAL : PL_OP_AUTH, res);
    assert_string_equal(res->decision, "ACCEPT");
}

/*
 * An authorization approved for 100.00 (it_approved_auth) that the simulator authorized for
 * `held` (decimal text) under its merchant reference auth_req: its history row names the
 * simulator's transaction id, so that a reversal paylink-reversal prepares of it names that one.
 * The simulator approves a reversal for all the authorization it holds
 * (ccAuthReversalReply/amount, and its record's PaymentData/Amount): a reversal of this one sent
 * for the 100.00 paylink booked is approved for `held`, as a bureau may approve one for less.
 * *auth_id gets the history row's id.
 */
static void sim_held_auth(const char *auth_req, const char *order, const char *held, char *auth_id,
                          size_t size)
{
    make_auth(auth_req, order, false, auth_id, size);
    static pl_bureau_result res;
    sim_call(auth_req, held, NULL, &res);
    assert_true(res.request_id[0]);
    it_exec(g_admin, "UPDATE auth_history SET transaction_id = $2 WHERE id = $1::bigint", 2,
            (const char *const[]){auth_id, res.request_id});
}

/*
 * Reversal t, left unknown (left_unknown: marked sent, its answer never came; its required
 * response held by own), as it went to the bureau (the simulator) under its request id: its
 * answer read and dropped (the one that never came); it must have reversed `reversed` (minor
 * units). The simulator's record of it then says so. Returns the required response's id.
 */
static int64_t sent_and_lost(tor_copy *t, const char *attempt, const char *own, const char *amount,
                             int64_t reversed)
{
    int64_t rr = left_unknown(t, attempt, own);
    char merchant[64];
    it_value(g_admin, "SELECT merchant_id FROM auth_reversal WHERE request_id = $1",
             t->job.req.request_id, NULL, merchant, sizeof merchant);
    assert_string_equal(merchant, "paylink_demo"); /* the query asks as that merchant */
    assert_non_null(t->job.call.ref_request_id);
    static pl_bureau_result res;
    sim_call(t->job.req.request_id, amount, t->job.call.ref_request_id, &res);
    assert_true(res.has_amount);
    assert_int_equal(res.amount, reversed);
    return rr;
}

/* `wreq retry <rr> --now`: the resolver's step on the row (its query of the simulator), by r,
 * its log lines kept (log_captured). */
static const char *step_now(pl_resolver *r, int64_t rr)
{
    char msg[512] = "";
    log_capture();
    int rc = pl_resolver_retry(r, rr, true, msg, sizeof msg);
    const char *log = log_captured();
    if (rc != 0)
        fail_msg("wreq retry %lld --now: %d %s", (long long)rr, rc, msg);
    if (!strstr(msg, "resolved approved")) {
        fprintf(stderr, "%s", log);
        fail_msg("wreq retry %lld --now: %s", (long long)rr, msg);
    }
    return log;
}

/*
 * paylink's own `.rev` of an authorization of 100.00 goes for all of it and its answer never
 * comes; the resolver's step asks CyberSource (the simulator) and its record says the reversal
 * was approved for 30.00 (PaymentData/Amount): applied approved for 30.00, the authorization
 * keeps 70.00 held (058), and nobody reads the `.rev`'s reply. The step asks for the rest as
 * paylink-reversal would have with that answer in time, and as an operator's outcome does:
 * `<.rev>.rest` for 70.00, the same message bytes, stored with the row and published before the
 * final reply, the same info line. Before, the step read nothing of what the call sent (only an
 * operator's outcome did), asked for no rest, and the 70.00 stayed held on the card until the
 * authorization expired. Nothing is asked, and no error said, for a whole reversal (the record's
 * amount the one sent, or no amount: what was sent) nor for the order system's reversal approved
 * for less (it reads amount_approved).
 */
static void test_step_record_approved_for_less_asks_the_rest(void **state)
{
    (void)state;
    char auth_req[96], auth_id[24], rev[64], rest_id[64], order[24], own[96];
    char payload[1024], want[1024], got[2048], line[256];
    rid(auth_req, sizeof auth_req, "sqr", "auth", 0);
    snprintf(order, sizeof order, "IT-RM-SQR%ld", (long)getpid() % 100000);
    snprintf(own, sizeof own, "%ssqr/resolver", g_prefix);
    sim_held_auth(auth_req, order, "30.00", auth_id, sizeof auth_id);
    pl_job_derived_request_id(auth_req, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    pl_job_derived_request_id(rev, PL_REVERSAL_REST_SUFFIX, rest_id, sizeof rest_id);

    char err[256] = "";
    pl_services *services = pl_services_load(g_admin, err, sizeof err);
    if (!services)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(services, "CYB");
    assert_non_null(cyb);
    static tor_copy revc, whole, bare, upstream;
    const pl_reversal_of of = {.auth_request_id = auth_req};
    own_payload(payload, sizeof payload, rev, order, "100.00", &of);
    own_reversal(&revc, payload, services, cyb);
    assert_int_equal(revc.prepared, 0);
    assert_int_equal(revc.job.call.amount, 10000);
    int64_t rr = sent_and_lost(&revc, "it/sqr-0", own, "100.00", 3000);

    sent_msgs sent = {0};
    pl_resolver *r = operator_resolver(own, &sent);
    const char *log = step_now(r, rr);
    char rrs[24];
    snprintf(rrs, sizeof rrs, "%lld", (long long)rr);
    it_value(g_admin,
             "SELECT concat_ws('|', status, resolved_how) FROM required_response "
             "WHERE id = $1::bigint",
             rrs, NULL, got, sizeof got);
    assert_string_equal(got, "resolved|query");
    it_value(g_admin,
             "SELECT concat_ws('|', status, amount_reversed) FROM auth_reversal "
             "WHERE request_id = $1",
             rev, NULL, got, sizeof got);
    assert_string_equal(got, "approved|30.00");
    assert_int_equal(sent.n, 2);
    assert_string_equal(sent.topic[0], "it.reversal.request");
    char key[64];
    snprintf(key, sizeof key, "7-%s", order);
    assert_string_equal(sent.key[0], key);
    own_payload(want, sizeof want, rest_id, order, "70.00", &of);
    assert_string_equal(sent.payload[0], want);
    assert_string_equal(sent.topic[1], "it.reversal.reply");
    expect_auth(auth_id, "approved|70.00|0.00|0.00");
    stored_followup(rev, got, sizeof got);
    assert_string_equal(got, want);
    snprintf(line, sizeof line,
             "reversal %s requested for the 70.00 authorization %s still holds (rest 1 of at "
             "most 3)",
             rest_id, auth_req);
    if (!strstr(log, line)) {
        fprintf(stderr, "%s", log);
        fail_msg("no line says \"%s\" in the log above", line);
    }
    /* paylink-reversal with that answer in time: the same rest, the same message. */
    revc.job.reply->status = PL_ST_APPROVED;
    revc.job.reply->has_amount_approved = true;
    revc.job.reply->amount_approved = 3000;
    pl_reversal_rest_request worker;
    assert_int_equal(rest_of(&revc, &worker), 1);
    own_payload(payload, sizeof payload, worker.request_id, order, worker.amount, &worker.of);
    assert_string_equal(payload, want);

    /* Whole: the record's amount is the one sent. */
    char auth2[96], auth2_id[24], rev2[64];
    rid(auth2, sizeof auth2, "sqr", "auth", 1);
    sim_held_auth(auth2, order, "100.00", auth2_id, sizeof auth2_id);
    pl_job_derived_request_id(auth2, PL_DM_REVERSAL_SUFFIX, rev2, sizeof rev2);
    const pl_reversal_of of2 = {.auth_request_id = auth2};
    own_payload(payload, sizeof payload, rev2, order, "100.00", &of2);
    own_reversal(&whole, payload, services, cyb);
    rr = sent_and_lost(&whole, "it/sqr-1", own, "100.00", 10000);
    sent.n = 0;
    log = step_now(r, rr);
    assert_int_equal(sent.n, 1);
    assert_string_equal(sent.topic[0], "it.reversal.reply");
    assert_null(strstr(log, "\"level\":\"error\""));
    stored_followup(rev2, got, sizeof got);
    assert_string_equal(got, "");
    expect_auth(auth2_id, "reversed|100.00|0.00|0.00");

    /* Whole: the record has no amount (the reversal request named none, nor does its record),
     * so it approved what was sent, although the simulator reversed only the 30.00 it held. */
    char auth3[96], auth3_id[24], rev3[64];
    rid(auth3, sizeof auth3, "sqr", "auth", 2);
    sim_held_auth(auth3, order, "30.00", auth3_id, sizeof auth3_id);
    pl_job_derived_request_id(auth3, PL_DM_REVERSAL_SUFFIX, rev3, sizeof rev3);
    const pl_reversal_of of3 = {.auth_request_id = auth3};
    own_payload(payload, sizeof payload, rev3, order, "100.00", &of3);
    own_reversal(&bare, payload, services, cyb);
    rr = sent_and_lost(&bare, "it/sqr-2", own, NULL, 3000);
    sent.n = 0;
    log = step_now(r, rr);
    assert_int_equal(sent.n, 1);
    assert_null(strstr(log, "\"level\":\"error\""));
    stored_followup(rev3, got, sizeof got);
    assert_string_equal(got, "");
    it_value(g_admin, "SELECT amount_reversed FROM auth_reversal WHERE request_id = $1", rev3, NULL,
             got, sizeof got);
    assert_string_equal(got, "100.00");
    expect_auth(auth3_id, "reversed|100.00|0.00|0.00");

    /* The order system's reversal, approved for less: its sender reads amount_approved. */
    char auth4[96], auth4_id[24], req4[96];
    rid(auth4, sizeof auth4, "sqr", "auth", 3);
    rid(req4, sizeof req4, "sqr", "rev", 3);
    sim_held_auth(auth4, order, "30.00", auth4_id, sizeof auth4_id);
    held_reversal(&upstream, req4, order, auth4, services);
    assert_int_equal(upstream.prepared, 0);
    assert_int_equal(upstream.job.call.amount, 10000);
    rr = sent_and_lost(&upstream, "it/sqr-3", own, "100.00", 3000);
    sent.n = 0;
    log = step_now(r, rr);
    assert_int_equal(sent.n, 1);
    assert_null(strstr(log, "\"level\":\"error\""));
    stored_followup(req4, got, sizeof got);
    assert_string_equal(got, "");
    expect_auth(auth4_id, "approved|70.00|0.00|0.00");
    pl_resolver_destroy(r);

    tor_copy *const copies[] = {&revc, &whole, &bare, &upstream};
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        free(copies[i]->job.spec_data);
        pl_request_free(&copies[i]->job.req);
    }
    pl_services_unref(services);
}

static void test_touch_key(void **state)
{
    (void)state;
    char k[96];
    pl_reversal_touch_key(false, "42", "auth-1", k, sizeof k);
    assert_string_equal(k, "auth_history:42");
    pl_reversal_touch_key(false, "", "auth-1", k, sizeof k);
    assert_string_equal(k, "");
    pl_reversal_touch_key(true, "", "svc-auth-1", k, sizeof k);
    assert_string_equal(k, "svc-auth-1");
    pl_reversal_touch_key(true, "42", NULL, k, sizeof k);
    assert_string_equal(k, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_touch_key),
        cmocka_unit_test(test_same_rows_either_way),
        cmocka_unit_test(test_record_same_either_way),
        cmocka_unit_test(test_two_reversals_of_one_authorization),
        cmocka_unit_test(test_two_reversals_of_a_reject),
        cmocka_unit_test(test_timeout_reversal_marked_only_without_outcome),
        cmocka_unit_test(test_timeout_reversal_not_marked_past_late_approval),
        cmocka_unit_test(test_partial_ext_reversal_keeps_the_rest),
        cmocka_unit_test(test_declined_issuer_authorized_reversed),
        cmocka_unit_test(test_error_issuer_authorized_reversed),
        cmocka_unit_test(test_tor_copies_reverse_what_the_issuer_holds),
        cmocka_unit_test(test_partial_reversal_of_issuer_held_keeps_the_rest),
        cmocka_unit_test(test_queued_reversal_goes_for_what_is_left),
        cmocka_unit_test(test_late_partial_approval_replaces_the_amount_asked),
        cmocka_unit_test(test_no_reversal_beside_a_timeout_reversal),
        cmocka_unit_test(test_own_reversal_approved_for_less_asks_the_rest),
        cmocka_unit_test(test_own_reversal_of_a_reject_asks_the_rest),
        cmocka_unit_test(test_own_reversal_of_an_unrecorded_hold_asks_no_rest),
        cmocka_unit_test(test_operator_approval_for_less_asks_the_rest),
        cmocka_unit_test(test_operator_approval_of_a_reject_asks_the_rest),
        cmocka_unit_test(test_operator_approval_asks_no_rest),
        cmocka_unit_test(test_step_record_approved_for_less_asks_the_rest),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
