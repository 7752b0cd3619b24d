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
 * And why the engine declares that key on every unit of a deposit (spec->touch_key), its own
 * `error` answer (pl_final) too: a capture that could not be sent after its mark releases its
 * claim through the table's trigger, and a later capture of the same authorization whose
 * approved answer comes in the same loop turn must settle after that release, not in a merged
 * statement moved ahead of it — else the authorization's remainder is not voided although the
 * bureau voided it.
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
#include "engine.h"
#include "it_unit.h"

enum { N = 6 };

static PGconn *g_admin;
static pl_db *g_db;
static char g_prefix[48];

static char g_sql_final[512];

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_sql_final, sizeof g_sql_final, PL_ENGINE_SQL_FINAL, pl_deposit_spec.table);
    static pl_db_stmt engine[1];
    engine[0] = (pl_db_stmt){"pl_final", g_sql_final, 7};
    return it_open_spec_with(&pl_deposit_spec, engine, 1, "depmany", &g_admin, &g_db, g_prefix,
                             sizeof g_prefix);
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        static const char *const tables[] = {"cc_deposit_history", "auth_history",
                                             "cc_deposit_trans", "card_cit", "cc_auth_trans"};
        it_delete_prefixed(g_admin, g_prefix, tables, sizeof tables / sizeof tables[0]);
        PQfinish(g_admin);
    }
    return 0;
}

/* A unit of one execution of stmt, declaring what a capture on auth_id touches (as the spec
 * does), submitted. */
static void submit(const char *stmt, int n, const char *const *p, const char *auth_id,
                   it_unit_rec *r)
{
    char key[96];
    pl_deposit_touch_key(PL_DEP_CAPTURE, auth_id, NULL, key, sizeof key);
    it_submit(g_db, stmt, n, p, key, r);
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
    it_approved_auth(g_admin, req, order, "0", auth_id, size);
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
    it_unit_rec r;
    submit("dep_insert", 18, p, NULL, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1);
}

/* dep_mark_sent_auth's 10 parameters: sent voiding the remainder, as the demo's CYB has Void
 * auth at deposit (046). */
static void mark_params(const char *req, const char *auth_id, const char *sent_by,
                        const char *amount, bool token, const char *p[10])
{
    const char *v[10] = {req,
                         "capture",
                         "paylink_demo",
                         "capture",
                         auth_id,
                         "70000",
                         token ? "7000000000000000000009" : "",
                         sent_by,
                         amount,
                         "true"};
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
    if (strcmp(x->stmt, "dep_mark_sent_auth") == 0) {
        mark_params(x->s->req[i], x->s->auth_id[i], x->sent_by, x->s->amount[i], i == 4, p);
        submit(x->stmt, 10, p, x->s->auth_id[i], r);
    } else {
        store_params(i, x->s->req[i], x->s->amount[i], p);
        submit(x->stmt, 11, p, x->s->auth_id[i], r);
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
    "{id,request_id,auth_history_id,auth_ref_request_id,order_number,voided_by,received_at,"       \
    "sent_at,answered_at,created_at}"

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

/* Every row the two sets' case i left alike. */
static void expect_sets_alike(const setup *one, const setup *many, int i)
{
    expect_same("cc_deposit_trans", "request_id", one->req[i], many->req[i]);
    expect_same("auth_history", "id", one->auth_id[i], many->auth_id[i]);
    char a[96], b[96];
    rid(a, sizeof a, "one", "dep", i);
    rid(b, sizeof b, "many", "dep", i);
    static char x[16384], y[16384];
    it_rows(g_admin, "cc_deposit_history", "request_id", a, DROP, x, sizeof x);
    it_rows(g_admin, "cc_deposit_history", "request_id", b, DROP, y, sizeof y);
    assert_string_equal(x, y);
}

static void test_same_rows_either_way(void **state)
{
    (void)state;
    static setup one, many;
    it_unit_rec r1[N], rn[N];
    prepare("one", &one);
    prepare("many", &many);

    /* Marked and claimed; case 2 asks for more than remains: not marked, nothing claimed. */
    run_all("dep_mark_sent_auth", &one, false, "it/1", r1);
    run_all("dep_mark_sent_auth", &many, true, "it/1", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, i == 2 ? 0 : 1);
        assert_int_equal(rn[i].ntuples, i == 2 ? 0 : 1);
        if (i != 2)
            assert_string_equal(rn[i].key, many.req[i]);
        expect_sets_alike(&one, &many, i);
    }
    /* The same attempt again: returned, claimed once; another attempt: nothing. */
    run_all("dep_mark_sent_auth", &one, false, "it/1", r1);
    run_all("dep_mark_sent_auth", &many, true, "it/1", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rn[i].ntuples, r1[i].ntuples);
        assert_int_equal(rn[i].ntuples, i == 2 ? 0 : 1);
        expect_sets_alike(&one, &many, i);
    }
    run_all("dep_mark_sent_auth", &one, false, "it/2", r1);
    run_all("dep_mark_sent_auth", &many, true, "it/2", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 0);
        assert_int_equal(rn[i].ntuples, 0);
        expect_sets_alike(&one, &many, i);
    }

    /* The answers, with their history rows and the authorizations settled (an approved
     * capture on CYB voids the remainder; a declined one or an error releases the claim). */
    run_all("dep_store", &one, false, NULL, r1);
    run_all("dep_store", &many, true, NULL, rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, i == 2 ? 0 : 1);
        assert_int_equal(rn[i].ntuples, i == 2 ? 0 : 1);
        expect_sets_alike(&one, &many, i);
    }
    /* A row already final takes no second answer, either way. */
    run_all("dep_store", &one, false, NULL, r1);
    run_all("dep_store", &many, true, NULL, rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 0);
        assert_int_equal(rn[i].ntuples, 0);
        expect_sets_alike(&one, &many, i);
    }
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
    it_unit_rec r[2];
    for (int k = 0; k < 2; k++) {
        const char *p[10];
        mark_params(req[k], auth_id, "it/1", "60.00", false, p);
        submit("dep_mark_sent_auth", 10, p, auth_id, &r[k]);
    }
    it_drive_apart(g_db, before, r, 2);
    assert_int_equal(r[0].ntuples + r[1].ntuples, 1);
    assert_int_equal(it_long(g_admin,
                             "SELECT (amount_pending * 100)::bigint FROM auth_history "
                             "WHERE id = $1::bigint",
                             auth_id),
                     6000);
    assert_int_equal(it_long(g_admin,
                             "SELECT count(*) FROM cc_deposit_trans WHERE status = 'sent' "
                             "AND auth_history_id = $1::bigint",
                             auth_id),
                     1);
}

/* Set `set`: authorization A (case 0) with captures w (40.00) and x (30.00) marked, 70.00 of
 * it claimed; authorization B (case 1) with capture u (20.00) marked. */
static void prepare_error_case(const char *set, char a[24], char b[24], char w[96], char x[96],
                               char u[96])
{
    char order_a[24], order_b[24];
    snprintf(order_a, sizeof order_a, "IT-DM-%sA", set);
    snprintf(order_b, sizeof order_b, "IT-DM-%sB", set);
    make_auth(set, 0, order_a, a, 24);
    make_auth(set, 1, order_b, b, 24);
    const struct {
        const char *what, *order, *amount, *auth_id;
        char *req;
    } caps[] = {{"w", order_a, "40.00", a, w},
                {"x", order_a, "30.00", a, x},
                {"u", order_b, "20.00", b, u}};
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        rid(caps[k].req, 96, set, caps[k].what, k == 2 ? 1 : 0);
        record_debit(set, caps[k].what, k == 2 ? 1 : 0, caps[k].order, caps[k].amount);
        const char *p[10];
        it_unit_rec r;
        mark_params(caps[k].req, caps[k].auth_id, "it/1", caps[k].amount, false, p);
        submit("dep_mark_sent_auth", 10, p, caps[k].auth_id, &r);
        it_drive(g_db);
        assert_int_equal(r.ntuples, 1);
    }
    assert_int_equal(it_long(g_admin,
                             "SELECT (amount_pending * 100)::bigint FROM auth_history "
                             "WHERE id = $1::bigint",
                             a),
                     7000);
}

/*
 * In one loop turn: u's approved answer (on B), w's `error` (not sent after its mark: the
 * engine's pl_final, releasing w's claim) and x's approved answer (on A), in that order. x's
 * dep_store may join u's merged one, but not move ahead of w's release: then x settles with
 * the authorization's last claim on it, and its remainder is voided, as one at a time.
 */
static void submit_error_case(const char *a, const char *b, const char *w, const char *x,
                              const char *u, bool each, it_unit_rec r[3])
{
    const char *p[11];
    store_params(0, u, "20.00", p);
    submit("dep_store", 11, p, b, &r[0]);
    if (each)
        it_drive(g_db);
    const char *f[] = {
        w,      "error", "150", "the call could not be sent", "{\"v\":1,\"status\":\"error\"}",
        "it/1", ""};
    submit("pl_final", 7, f, a, &r[1]);
    if (each)
        it_drive(g_db);
    store_params(0, x, "30.00", p);
    submit("dep_store", 11, p, a, &r[2]);
    it_drive(g_db);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(r[k].err, 0);
        assert_int_equal(r[k].ntuples, 1);
    }
}

static void test_error_answer_not_overtaken(void **state)
{
    (void)state;
    char a1[24], b1[24], w1[96], x1[96], u1[96], an[24], bn[24], wn[96], xn[96], un[96];
    it_unit_rec r[3];
    prepare_error_case("eone", a1, b1, w1, x1, u1);
    prepare_error_case("emany", an, bn, wn, xn, un);
    submit_error_case(a1, b1, w1, x1, u1, true, r);
    submit_error_case(an, bn, wn, xn, un, false, r);
    /* One at a time: w released 40.00, x settled 30.00 with the last claim, 70.00 voided. */
    assert_int_equal(it_long(g_admin,
                             "SELECT (amount_voided * 100)::bigint FROM auth_history "
                             "WHERE id = $1::bigint",
                             a1),
                     7000);
    expect_same("auth_history", "id", a1, an);
    expect_same("auth_history", "id", b1, bn);
    expect_same("cc_deposit_trans", "request_id", x1, xn);
    expect_same("cc_deposit_trans", "request_id", w1, wn);
}

/* What authorization a's history row holds claimed, in cents. */
static long pending_cents(const char *a)
{
    return it_long(g_admin,
                   "SELECT (amount_pending * 100)::bigint FROM auth_history WHERE id = $1::bigint",
                   a);
}

/*
 * The engine's pl_final stores a final `error` on a row 'received' or marked sent by the job
 * itself (its attempt, or its previous call's), never on a row another actor marked sent: a
 * second replica failing before its own mark must not record `error` over a call the first has
 * at the bureau (nor release its claim).
 */
static void test_final_only_on_own_mark(void **state)
{
    (void)state;
    char a[24], req[96], order[24];
    snprintf(order, sizeof order, "IT-DM-finA");
    make_auth("fin", 0, order, a, sizeof a);
    rid(req, sizeof req, "fin", "w", 0);
    record_debit("fin", "w", 0, order, "40.00");
    const char *p[10];
    it_unit_rec r;
    mark_params(req, a, "it/other.1", "40.00", false, p);
    submit("dep_mark_sent_auth", 10, p, a, &r);
    it_drive(g_db);
    assert_int_equal(r.ntuples, 1);
    const char *reply = "{\"v\":1,\"status\":\"error\"}";
    /* Another attempt's mark: nothing written, the claim kept. */
    const char *mine[] = {req, "error", "150", "getToken timed out", reply, "it/mine.2", ""};
    submit("pl_final", 7, mine, a, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 0);
    assert_int_equal(pending_cents(a), 4000);
    assert_int_equal(it_long(g_admin,
                             "SELECT count(*) FROM cc_deposit_trans WHERE request_id = $1 "
                             "AND status = 'sent' AND sent_by = 'it/other.1'",
                             req),
                     1);
    /* The job's own mark (here as its previous call's): written, the claim released. */
    const char *own[] = {req,   "error",     "150",       "the call could not be sent",
                         reply, "it/next.3", "it/other.1"};
    submit("pl_final", 7, own, a, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 1);
    assert_int_equal(pending_cents(a), 0);
}

/* The references the record cases name (test_record_same_either_way), shared by both sets. */
typedef struct refs {
    char auth[96], auth_id[24], foreign[96], debit[96];
} refs;

/* Case i's 18 parameters of dep_record, request req of order IT-DM-REC: 0 a debit of the
 * authorization, 1 a debit of an inline transaction id paylink does not know, 2 a debit naming
 * another order's authorization (refused), 3 a follow-on credit of the approved debit, 4 a
 * stand-alone credit, 5 a debit like case 0 delivered again (recorded before: nothing inserted). */
/* Parameters of dep_record for case i (p19: an EXT debit, which reads its order payment
 * method's CIT: case 0 only). */
static void record_params(const refs *x, const char *req, int i, const char *p[19])
{
    const char *v[19] = {req,
                         "cafe000000000000000000000000000000000000000000000000000000000000",
                         i == 3 || i == 4 ? "credit" : "debit",
                         "7",
                         "IT-DM-REC",
                         "1",
                         "CYB",
                         "CC",
                         "10.00",
                         "USD",
                         "false",
                         "411111******1111",
                         NULL,
                         "7000000000000000000009",
                         "VI",
                         i == 0 || i == 5 ? x->auth
                         : i == 2         ? x->foreign
                                          : "",
                         i == 1 ? "tx-rec-manual" : "",
                         i == 3 ? x->debit : "",
                         i == 0 ? "true" : "false"};
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
    const char *p[19];
    record_params(y->x, req, i, p);
    char key[96];
    pl_deposit_touch_key(PL_DEP_CREDIT_FOLLOW_ON, NULL, i == 3 ? y->x->debit : "", key, sizeof key);
    it_submit(g_db, "dep_record", 19, p, key, r);
}

/*
 * dep_record:many records the requests dep_record records one at a time, with the same rows,
 * and returns for each what it refers to (the authorization by request id, the debit a credit
 * refunds), as dep_record does: nothing for a request refused or recorded before.
 */
static void test_record_same_either_way(void **state)
{
    (void)state;
    refs x;
    rid(x.auth, sizeof x.auth, "rec", "auth", 0);
    it_approved_auth(g_admin, x.auth, "IT-DM-REC", "0", x.auth_id, sizeof x.auth_id);
    char foreign_id[24];
    rid(x.foreign, sizeof x.foreign, "rec", "foreign", 0);
    it_approved_auth(g_admin, x.foreign, "IT-DM-RECX", "0", foreign_id, sizeof foreign_id);
    rid(x.debit, sizeof x.debit, "rec", "debit", 0);
    it_exec(g_admin,
            "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
            "status, deposit_status, amount_deposited, transaction_id, request_token) "
            "VALUES ($1, repeat('b', 64), 'debit', 'capture', 7, 'IT-DM-REC', 1, 'CYB', 60.00, "
            "'USD', '7000000000000000000009', 'approved', '*RCVD', 60.00, 'tx-rec-debit', "
            "'Axj/debit-token')",
            1, (const char *const[]){x.debit});
    /* The order payment method's CIT (card_cit): read for an EXT debit only (case 0's gate). */
    it_exec(g_admin,
            "INSERT INTO card_cit (company, order_number, pay_seq, service_bureau, transaction_id, "
            "amount, currency, request_id) VALUES (7, 'IT-DM-REC', 1, 'CYB', 'tx-rec-cit', 100.00, "
            "'USD', $1)",
            1, (const char *const[]){x.auth});

    it_unit_rec r1[N], rn[N];
    record_run one = {&x, "recone"}, many = {&x, "recmany"};
    it_record_either_way(g_db, N, 5, 1u << 2 | 1u << 5, submit_record, &one, &many, r1, rn, rid,
                         expect_same, "cc_deposit_trans");
    /* What each found: case 0 the authorization (its auth_history id first), case 3 the
     * approved debit (its status at column 12 of the look-ups), the others neither. */
    char want[64];
    snprintf(want, sizeof want, "%s|approved|100.00|", x.auth_id);
    assert_true(strncmp(rn[0].rest, want, strlen(want)) == 0);
    assert_true(strncmp(rn[1].rest, "\\N|", 3) == 0);
    assert_non_null(strstr(rn[3].rest, "|approved|tx-rec-debit|Axj/debit-token|7|IT-DM-REC|"));
    assert_true(strncmp(rn[4].rest, "\\N|", 3) == 0);
    /* The CIT, for case 0 alone (an EXT debit: its gate; case 4, a credit of the same order
     * payment method, reads none), either way, with the card of the authorization it came from
     * (no hash: it went with its token). */
    for (int k = 0; k < 2; k++) {
        const it_unit_rec *rr = k ? rn : r1;
        size_t n0 = strlen(rr[0].rest), n4 = strlen(rr[4].rest);
        static const char cit[] = "|tx-rec-cit|100.00||7000000000000000000009|",
                          none[] = "|\\N|\\N|\\N|\\N|";
        if (n0 < sizeof cit || strcmp(rr[0].rest + n0 - (sizeof cit - 1), cit) != 0)
            fail_msg("case 0 did not read the CIT: %s", rr[0].rest);
        if (n4 < sizeof none || strcmp(rr[4].rest + n4 - (sizeof none - 1), none) != 0)
            fail_msg("case 4 read a CIT: %s", rr[4].rest);
    }
    char refused[96];
    rid(refused, sizeof refused, "recmany", "rec", 2);
    assert_int_equal(
        it_long(g_admin, "SELECT count(*) FROM cc_deposit_trans WHERE request_id = $1", refused),
        0);
}

/* The text of the deposit spec's statement name. */
static const char *stmt_text(const char *name)
{
    for (size_t i = 0; i < pl_deposit_spec.nstmts; i++)
        if (strcmp(pl_deposit_spec.stmts[i].name, name) == 0)
            return pl_deposit_spec.stmts[i].sql;
    fail_msg("no statement %s", name);
    return NULL;
}

/*
 * A batch of debits (no capture_ref) reads nothing of cc_deposit_trans for the check of the
 * debit a follow-on credit names. dep_record:many's generic plan, with hash joins preferred
 * (enable_nestloop off: what PostgreSQL chose while the table was small, a hash anti-join over
 * all of it, read again for every batch), run by EXPLAIN ANALYZE on three debits in a
 * transaction rolled back: the scan of that check (alias d) is never executed, and the three
 * are inserted.
 */
static void test_record_reads_no_debit_for_a_debit(void **state)
{
    (void)state;
    char ids[3][96];
    for (int i = 0; i < 3; i++)
        rid(ids[i], sizeof ids[i], "plan", "debit", i);
    char id_array[400];
    snprintf(id_array, sizeof id_array, "{%s,%s,%s}", ids[0], ids[1], ids[2]);
    /* Each parameter's array: record_params' case 1 (a debit of an inline transaction id, no
     * capture_ref) three times but the request id (p1). */
    refs none;
    memset(&none, 0, sizeof none);
    const char *one[19];
    record_params(&none, NULL, 1, one);
    char sql[4096];
    int len = snprintf(sql, sizeof sql,
                       "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE it_rec(");
    for (int k = 0; k < 19; k++) {
        char arr[400];
        if (k == 0)
            snprintf(arr, sizeof arr, "%s", id_array);
        else if (!one[k])
            snprintf(arr, sizeof arr, "{NULL,NULL,NULL}");
        else
            snprintf(arr, sizeof arr, "{\"%s\",\"%s\",\"%s\"}", one[k], one[k], one[k]);
        char *lit = PQescapeLiteral(g_admin, arr, strlen(arr));
        assert_non_null(lit);
        len += snprintf(sql + len, sizeof sql - (size_t)len, "%s%s", k ? ", " : "", lit);
        PQfreemem(lit);
    }
    snprintf(sql + len, sizeof sql - (size_t)len, ")");

    /* A failure is reported after the ROLLBACK and the DEALLOCATE: failing inside the
     * transaction would leave the admin connection in it, and the tests after this one fail. */
    char failure[1024] = "";
    bool inserted = false;
    it_exec(g_admin, "BEGIN", 0, NULL);
    it_exec(g_admin, "SET LOCAL enable_nestloop = off", 0, NULL);
    it_exec(g_admin, "SET LOCAL plan_cache_mode = force_generic_plan", 0, NULL);
    PGresult *r = PQprepare(g_admin, "it_rec", stmt_text("dep_record:many"), 19, NULL);
    bool prepared = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!prepared)
        snprintf(failure, sizeof failure, "PREPARE: %s", PQresultErrorMessage(r));
    PQclear(r);
    r = prepared ? PQexec(g_admin, sql) : NULL;
    if (r && PQresultStatus(r) != PGRES_TUPLES_OK)
        snprintf(failure, sizeof failure, "%s", PQresultErrorMessage(r));
    for (int i = 0; r && !*failure && i < PQntuples(r); i++) {
        const char *line = PQgetvalue(r, i, 0);
        if (strstr(line, "Insert on cc_deposit_trans") && strstr(line, "actual rows=3"))
            inserted = true;
        /* Its scan, whatever its kind: "Seq Scan on cc_deposit_trans d (actual ...)",
         * "Index Scan using cc_deposit_trans_pkey on cc_deposit_trans d (...)". */
        if (strstr(line, " on cc_deposit_trans d ") && !strstr(line, "never executed"))
            snprintf(failure, sizeof failure, "the debit check read cc_deposit_trans: %s", line);
    }
    PQclear(r);
    it_exec(g_admin, "ROLLBACK", 0, NULL);
    if (prepared)
        it_exec(g_admin, "DEALLOCATE it_rec", 0, NULL);
    if (*failure)
        fail_msg("%s", failure);
    assert_true(inserted);
}

/* The key itself: the debit a follow-on credit refunds, else the authorization, else none. */
/*
 * A capture settles its authorization's remainder as it was sent (046: the mark records Void
 * auth at deposit as the sending worker read it; an External Payment Service capture sends it as
 * voidRemainder), not as the setting is when its answer is stored: the demo's CYB voids at
 * deposit, and a capture sent without voiding leaves the rest capturable. A row marked before
 * 046 (NULL) goes by the setting.
 */
/* The capture req of amount on authorization a marked sent by sent_by, sent voiding the remainder
 * ("true"), or not ("false"), or marked before 046 (NULL: the setting decides); its one row
 * marked. */
static void mark_capture(const char *req, const char *a, const char *sent_by, const char *amount,
                         const char *voids)
{
    const char *p[10];
    mark_params(req, a, sent_by, amount, false, p);
    p[9] = voids;
    it_unit_rec r;
    submit("dep_mark_sent_auth", 10, p, a, &r);
    it_drive(g_db);
    assert_int_equal(r.ntuples, 1);
}

/* Case i's answer (store_params) to the capture req on authorization a, stored. */
static void store_capture(int i, const char *req, const char *a, const char *amount)
{
    const char *p[11];
    store_params(i, req, amount, p);
    it_unit_rec r;
    submit("dep_store", 11, p, a, &r);
    it_drive(g_db);
    assert_int_equal(r.ntuples, 1);
}

/* What sql (one row, $1 = the authorization's auth_history id) says of authorization a. */
static void assert_auth(const char *sql, const char *a, const char *want)
{
    char v[300];
    it_value(g_admin, sql, a, NULL, v, sizeof v);
    assert_string_equal(v, want);
}

static void test_void_remainder_as_sent(void **state)
{
    (void)state;
    const char *want[] = {"approved|0", "voided|6000", "voided|6000"};
    const char *voids[] = {"false", "true", NULL};
    for (int k = 0; k < 3; k++) {
        char set[16], order[32], a[24], req[96];
        snprintf(set, sizeof set, "vr%d", k);
        snprintf(order, sizeof order, "IT-DM-%s", set);
        make_auth(set, 0, order, a, sizeof a);
        rid(req, sizeof req, set, "dep", 0);
        record_debit(set, "dep", 0, order, "40.00");
        mark_capture(req, a, "it/1", "40.00", voids[k]);
        store_capture(0, req, a, "40.00");
        assert_auth("SELECT status || '|' || (amount_voided * 100)::bigint "
                    "FROM auth_history WHERE id = $1::bigint",
                    a, want[k]);
    }
}

/*
 * Two captures of one authorization in flight at once, the first sent voiding the remainder
 * (Void auth at deposit: at the bureau, that releases what the second claimed too). Its answer
 * stored while the second still claims, the void waits (050); once the second ends — declined,
 * the bureau having released its part, or approved, having been taken first — the remainder
 * (authorized less deposited) is voided by the first. Before, the books kept it capturable.
 */
static void test_void_deferred_for_another_claim(void **state)
{
    (void)state;
    static const char *const sql =
        "SELECT concat_ws('|', status, (amount_voided * 100)::bigint, "
        "(amount_pending * 100)::bigint, coalesce(voided_by, '-'), "
        "coalesce(void_deferred_by, '-'), coalesce(void_deferred_reason, '-')) "
        "FROM auth_history WHERE id = $1::bigint";
    const char *want[] = {"voided|7000|0|%s|-|-", "voided|4000|0|%s|-|-"};
    for (int k = 0; k < 2; k++) {
        char set[16], order[32], a[24], first[96], second[96], expect[300];
        snprintf(set, sizeof set, "vd%d", k);
        snprintf(order, sizeof order, "IT-DM-%s", set);
        make_auth(set, 0, order, a, sizeof a);
        rid(first, sizeof first, set, "dep", 0);
        rid(second, sizeof second, set, "dep", 1);
        record_debit(set, "dep", 0, order, "30.00");
        record_debit(set, "dep", 1, order, "30.00");
        mark_capture(first, a, "it/1", "30.00", "true");
        mark_capture(second, a, "it/2", "30.00", "false");
        store_capture(0, first, a, "30.00");
        snprintf(expect, sizeof expect, "approved|0|3000||%s|void_at_deposit", first);
        assert_auth(sql, a, expect);
        store_capture(k == 0 ? 1 : 0, second, a, "30.00"); /* declined, or approved */
        snprintf(expect, sizeof expect, want[k], first);
        assert_auth(sql, a, expect);
    }
}

/*
 * A capture of a review Decision Manager rejected after the debit was prepared (it waited for a
 * bureau slot): its claim fails, so it is decided again (and declined) instead of capturing an
 * order fraud screening rejected. An ACCEPT (or no decision) leaves the claim as before.
 */
static void test_claim_refused_after_a_reject(void **state)
{
    (void)state;
    char a[24], req[96], auth[96], tx[40];
    make_auth("dmr", 0, "IT-DM-DMR", a, sizeof a);
    rid(auth, sizeof auth, "dmr", "auth", 0);
    rid(req, sizeof req, "dmr", "dep", 0);
    snprintf(tx, sizeof tx, "71%018d", (int)getpid());
    const char *pu[] = {a, tx};
    PQclear(PQexecParams(g_admin,
                         "UPDATE auth_history SET status = 'review', transaction_id = $2 "
                         "WHERE id = $1::bigint",
                         2, NULL, pu, NULL, NULL, 0));
    record_debit("dmr", "dep", 0, "IT-DM-DMR", "30.00");
    const char *pd[] = {tx, auth};
    PGresult *ins = PQexecParams(
        g_admin,
        "INSERT INTO dm_decision (company, service_bureau, transaction_id, conversion_date, "
        "original_decision, new_decision, auth_request_id, order_number, pay_seq, action, event) "
        "VALUES (7, 'CYB', $1, '2026-12-06', 'REVIEW', 'REJECT', $2, 'IT-DM-DMR', 1, "
        "'cancel_order', '{}') RETURNING id",
        2, NULL, pd, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(ins), PGRES_TUPLES_OK);
    PQclear(ins);
    const char *p[10];
    mark_params(req, a, "it/1", "30.00", false, p);
    p[9] = "false";
    it_unit_rec r;
    submit("dep_mark_sent_auth", 10, p, a, &r);
    it_drive(g_db);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.ntuples, 0); /* not marked, nothing claimed */
    char v[64];
    it_value(g_admin, "SELECT amount_pending::text FROM auth_history WHERE id = $1::bigint", a,
             NULL, v, sizeof v);
    assert_string_equal(v, "0.00");
    /* The decision changed to ACCEPT: the claim goes. */
    PQclear(PQexecParams(g_admin,
                         "UPDATE dm_decision SET new_decision = 'ACCEPT' WHERE transaction_id = $1",
                         1, NULL, (const char *[]){tx}, NULL, NULL, 0));
    submit("dep_mark_sent_auth", 10, p, a, &r);
    it_drive(g_db);
    assert_int_equal(r.ntuples, 1);
    PQclear(PQexecParams(g_admin, "DELETE FROM dm_decision WHERE transaction_id = $1", 1, NULL,
                         (const char *[]){tx}, NULL, NULL, 0));
}

/*
 * A capture whose answer brought another authorization code adds an authorization row for what
 * it captured (seed step 6, dep_store_new_auth: deposit_request_id set). The authorization it
 * drew on stays the one a later debit of the same auth_ref reads (dep_refs): 40.00 of 100.00
 * deposited, 60.00 still there. Before, the added row (authorized = deposited) was read as the
 * authorization, nothing was left, and the next debit became an auth+capture: a second hold
 * while the first one's 60.00 stayed held.
 */
static void test_new_code_keeps_the_authorization(void **state)
{
    (void)state;
    char a[24], req[96], auth[96];
    const char *order = "IT-DM-nc";
    make_auth("nc", 0, order, a, sizeof a);
    rid(req, sizeof req, "nc", "dep", 0);
    rid(auth, sizeof auth, "nc", "auth", 0);
    record_debit("nc", "dep", 0, order, "40.00");
    mark_capture(req, a, "it/1", "40.00", "false");
    const char *p[13];
    store_params(0, req, "40.00", p);
    p[5] = "999999"; /* not the authorization's code */
    p[11] = auth;
    p[12] = "auth";
    it_unit_rec r;
    submit("dep_store_new_auth", 13, p, a, &r);
    it_drive(g_db);
    assert_int_equal(r.ntuples, 1);
    char n[16];
    it_value(g_admin,
             "SELECT count(*)::text FROM auth_history WHERE request_id = $1 "
             "AND deposit_request_id IS NOT NULL",
             auth, NULL, n, sizeof n);
    assert_string_equal(n, "1"); /* the new code's row is there */
    /* dep_refs of a later debit naming the same authorization. */
    const char *q[] = {auth, NULL, "", "7", order, "1", "false"};
    PGresult *res = PQexecParams(g_admin, stmt_text("dep_refs"), 7, NULL, q, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 1);
    char got[200];
    snprintf(got, sizeof got, "%s|%s|%s|%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
             PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
    char want[200];
    snprintf(want, sizeof want, "%s|approved|100.00|40.00", a);
    assert_string_equal(got, want);
    PQclear(res);
}

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
    /* The engine declares it on every unit of a deposit (spec->touch_key). */
    assert_non_null(pl_deposit_spec.touch_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_code_keeps_the_authorization),
        cmocka_unit_test(test_claim_refused_after_a_reject),
        cmocka_unit_test(test_touch_key),
        cmocka_unit_test(test_same_rows_either_way),
        cmocka_unit_test(test_record_same_either_way),
        cmocka_unit_test(test_record_reads_no_debit_for_a_debit),
        cmocka_unit_test(test_two_captures_on_one_authorization),
        cmocka_unit_test(test_error_answer_not_overtaken),
        cmocka_unit_test(test_final_only_on_own_mark),
        cmocka_unit_test(test_void_remainder_as_sent),
        cmocka_unit_test(test_void_deferred_for_another_claim),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
