/*
 * test_deposit_vdr.c: the reversal `<deposit>.vdr` of the authorization an approved auth+capture
 * replaced, as paylink-deposit's own units leave it (workers/deposit) against the real schema of
 * PAYLINK_DB: recorded, prepared, marked sent and answered through pl_db as the engine runs
 * them. When another capture claimed on the authorization as the auth+capture was prepared, its
 * follow-ups hold no reversal; whether the void then waits for that claim (050, the reversal
 * owed by 057's trigger once it ends) or is carried out at once (the claim ended before the
 * answer was stored: owed by the store, 059), the reversal is owed exactly once
 * (replaced_auth_reversal) — also when the claim ends while the answer is being stored, when
 * the answer is stored again, and never when another actor answered first with the reversal in
 * its follow-ups, when the other capture captured part of it (238), or when the auth+capture saw
 * no claim (its follow-ups hold the reversal, and its store has nothing more to run).
 *
 * The running system's paylink-deposit resolvers publish any owed reversal they find unleased:
 * every statement that may write this test's rows holds them, in the same transaction, under a
 * lease of the test's own (it_owed_hold), which no resolver takes while it lasts. Every row is
 * the test's (request ids and orders starting with its prefix), deleted at the end.
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

#include "deposit.h"
#include "services.h"
#include "it_unit.h"
#include "../unit/job_test_helpers.h"

static const char *g_conninfo;
static PGconn *g_admin;
static PGconn *g_watch; /* sees the store waiting for a lock while g_admin holds it */
static pl_services *g_services;
static pl_db *g_db;
static char g_p[32];       /* this run's prefix of request ids, orders and transaction ids */
static char g_app[64];     /* g_db's application_name */
static int g_seq;          /* each test's rows carry a number of their own */
static char g_case[16][12]; /* "<n>" of each case of a test, by index */

/* Holds the reversal owed for deposit $1 under the test's lease (see the file's header): added
 * after each statement that may write it, in the same unit. */
#define OWED_HOLD                                                                                  \
    "UPDATE replaced_auth_reversal SET lease_owner = 'it-hold', "                                  \
    "lease_until = now() + interval '1 hour' WHERE deposit_request_id = $1"

static pl_db_stmt g_stmts[64];

/* "<prefix><suffix>" in a static ring of buffers (a few are alive at once). */
static const char *id(const char *suffix)
{
    static char ring[8][64];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%s%s", g_p, suffix);
    return s;
}

static void admin_ok(const char *sql, int n, const char *const *params)
{
    it_exec(g_admin, sql, n, params);
}

/* The one value of sql with $1 = "<prefix><suffix>". */
static const char *value(const char *sql, const char *suffix)
{
    static char v[256];
    const char *p[] = {id(suffix)};
    PGresult *r = PQexecParams(g_admin, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char m[512];
        snprintf(m, sizeof m, "%s (%d rows)", PQresultErrorMessage(r), PQntuples(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    snprintf(v, sizeof v, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void delete_rows(void)
{
    char like[48];
    snprintf(like, sizeof like, "%s%%", g_p);
    const char *p[] = {like};
    admin_ok("DELETE FROM replaced_auth_reversal WHERE deposit_request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM auth_history WHERE request_id LIKE $1 OR deposit_request_id LIKE $1", 1,
             p);
    admin_ok("DELETE FROM cc_deposit_history WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_deposit_trans WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_auth_trans WHERE request_id LIKE $1", 1, p);
}

static int group_setup(void **state)
{
    (void)state;
    if (!(g_admin = it_admin_connect(&g_conninfo)))
        return -1;
    g_watch = PQconnectdb(g_conninfo);
    if (PQstatus(g_watch) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(g_watch));
        return -1;
    }
    char err[512] = "";
    g_services = pl_services_load(g_admin, err, sizeof err);
    if (!g_services) {
        fprintf(stderr, "pl_services_load: %s\n", err);
        return -1;
    }
    const pl_service *cyb = pl_services_find(g_services, "CYB");
    if (!cyb || !cyb->send_reversal) {
        fprintf(stderr, "test_deposit_vdr: the CYB service bureau must have Send reversal\n");
        return -1;
    }
    snprintf(g_p, sizeof g_p, "itv%ld%ld-", (long)getpid() % 100000, (long)time(NULL) % 100000);
    size_t n = 0;
    if (pl_deposit_spec.nstmts + 2 > sizeof g_stmts / sizeof g_stmts[0]) {
        fprintf(stderr, "test_deposit_vdr: g_stmts holds too few statements for the spec's\n");
        return -1;
    }
    for (size_t i = 0; i < pl_deposit_spec.nstmts; i++)
        g_stmts[n++] = pl_deposit_spec.stmts[i];
    g_stmts[n++] = (pl_db_stmt){"it_owed_hold", OWED_HOLD, 1};
    snprintf(g_app, sizeof g_app, "it-deposit-vdr-%ld", (long)getpid());
    g_db = pl_db_new_named(g_conninfo, g_app, g_stmts, n, err, sizeof err);
    if (!g_db) {
        fprintf(stderr, "pl_db_new with the deposit statements: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        delete_rows();
        PQfinish(g_admin);
    }
    if (g_watch)
        PQfinish(g_watch);
    pl_services_unref(g_services);
    return 0;
}

/* Case k's rows: authorization "<n>a" of order "<n>o" (approved, 100.00, CYB), the other
 * capture "<n>c" and the auth+capture "<n>x", n a number of this run. */
static const char *rid(int k, const char *what)
{
    static char ring[8][64];
    static int next;
    char *s = ring[next++ % 8];
    int w = snprintf(s, sizeof ring[0], "%s%s", g_case[k], what);
    assert_true(w > 0 && (size_t)w < sizeof ring[0]);
    return s;
}

/* An approved CyberSource authorization "<n>a" of 100.00 of order "<n>o", as paylink-auth
 * leaves it (its card's token, an authorization code and date of today). */
static void seed_auth(int k)
{
    snprintf(g_case[k], sizeof g_case[k], "%d", ++g_seq);
    char tx[64];
    snprintf(tx, sizeof tx, "%stx-%s", g_p, rid(k, "a"));
    const char *p[] = {id(rid(k, "a")), id(rid(k, "o")), tx};
    admin_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "card_type, status, amount_approved, sent_at) VALUES ($1, repeat('a', 64), 'auth', "
             "'auth', 1, $2, 1, 'CYB', 100.00, 'USD', '7030000000000001234', 'VI', 'approved', "
             "100.00, now())",
             2, p);
    admin_ok("INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
             "service_bureau, transaction_type, status, amount_authorized, currency, "
             "auth_number, auth_date, transaction_id, request_token) "
             "VALUES ($1, 1, $2, 1, 'CYB', 'auth', 'approved', 100.00, 'USD', '831000', "
             "to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), $3, 'Axj/auth-token')",
             3, p);
}

/* The other capture "<n>c" of 30.00, marked sent as paylink-deposit marks a capture: its claim
 * on the authorization. */
static void seed_claim(int k)
{
    const char *p[] = {id(rid(k, "c")), id(rid(k, "o")), id(rid(k, "a"))};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, auth_history_id, claim_amount, void_remainder, sent_at, "
             "sent_by) SELECT $1, repeat('b', 64), 'debit', 'capture', 1, $2, 1, 'CYB', 30.00, "
             "'USD', '7030000000000001234', 'sent', '*SENT', h.id, 30.00, false, now(), "
             "'it-other' FROM auth_history h WHERE h.request_id = $3",
             3, p);
    admin_ok("UPDATE auth_history SET amount_pending = amount_pending + 30.00 "
             "WHERE request_id = $1",
             1, (const char *const[]){id(rid(k, "a"))});
}

/* The other capture's answer (declined, or approved capturing 30.00) as its store leaves it,
 * on g_admin (in the caller's transaction, if any): the settle trigger releases its claim. */
static void end_claim(int k, bool approved)
{
    admin_ok("UPDATE cc_deposit_trans SET status = $2::text, deposit_status = '*RCVD', "
             "amount_deposited = CASE WHEN $2::text = 'approved' THEN 30.00 END, "
             "answered_at = now() "
             "WHERE request_id = $1",
             2, (const char *const[]){id(rid(k, "c")), approved ? "approved" : "declined"});
}

/* The debit "<n>x" of 150.00 on the authorization (over what remains: an auth+capture). */
static void job_init(pl_job *j, int k)
{
    memset(j, 0, sizeof *j);
    j->reply = job_test_reply();
    j->services = g_services;
    j->svc = pl_services_find(g_services, "CYB");
    assert_non_null(j->svc);
    pl_request *r = &j->req;
    r->v = 1;
    snprintf(r->request_id, sizeof r->request_id, "%s", id(rid(k, "x")));
    r->type = PL_REQ_DEBIT;
    snprintf(r->type_name, sizeof r->type_name, "%s", pl_req_type_name(r->type));
    r->company = 1;
    snprintf(r->order, sizeof r->order, "%s", id(rid(k, "o")));
    r->pay_seq = 1;
    snprintf(r->service, sizeof r->service, "CYB");
    r->has_amount = true;
    r->amount = 15000;
    snprintf(j->amount, sizeof j->amount, "150.00");
    snprintf(r->currency, sizeof r->currency, "USD");
    r->online = true;
    r->auth_ref.present = true;
    snprintf(r->auth_ref.request_id, sizeof r->auth_ref.request_id, "%s", id(rid(k, "a")));
    memset(j->fingerprint, 'f', 64);
}

typedef struct unit_rec {
    pl_job *job;
    bool prepare; /* the record unit: prepare reads its look-ups */
    int calls, err, rows, prepared;
    int statements; /* in the unit as built */
    char msg[256];
} unit_rec;

static void on_unit(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    unit_rec *r = arg;
    r->calls++;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", errmsg ? errmsg : "");
    if (err)
        return;
    r->rows = pl_db_unit_ntuples(u, 0);
    if (r->prepare && r->rows == 1) {
        memset(r->job->reply, 0, sizeof *r->job->reply); /* as the engine does */
        r->prepared = pl_deposit_spec.prepare(r->job, u);
    }
}

static void wait_for(const int *calls)
{
    pl_db_flush(g_db);
    for (int i = 0; i < 400 && *calls == 0; i++) {
        struct pollfd p = {.fd = pl_db_fd(g_db), .events = pl_db_events(g_db)};
        assert_true(poll(&p, 1, 50) >= 0);
        pl_db_on_ready(g_db, p.fd >= 0 ? p.revents : 0);
        pl_db_flush(g_db);
    }
    assert_int_equal(*calls, 1);
}

/* Builds the unit add makes for j, with the test's hold of its owed reversal after it when
 * hold, and submits it (sent, not waited for); prepare: a record unit, whose look-ups prepare
 * reads. */
static void submit(int (*add)(pl_job *, pl_db_unit *), pl_job *j, bool hold, bool prepare,
                   unit_rec *r)
{
    memset(r, 0, sizeof *r);
    r->job = j;
    r->prepare = prepare;
    pl_db_unit *u = pl_db_unit_new(on_unit, r);
    assert_non_null(u);
    assert_int_equal(add(j, u), 0);
    r->statements = pl_db_unit_count(u);
    if (hold)
        assert_int_equal(
            pl_db_unit_add(u, "it_owed_hold", 1, (const char *const[]){j->req.request_id}), 0);
    pl_db_submit(g_db, u);
    pl_db_flush(g_db);
}

static void run_spec(int (*add)(pl_job *, pl_db_unit *), pl_job *j, bool hold, bool prepare,
                     unit_rec *r)
{
    submit(add, j, hold, prepare, r);
    wait_for(&r->calls);
    if (r->err != 0)
        fail_msg("%s: %s", j->req.request_id, r->msg);
}

/* Records and prepares the auth+capture of case k as the engine does, marks it sent. */
static void send_auth_capture(pl_job *j, int k)
{
    job_init(j, k);
    unit_rec r;
    run_spec(pl_deposit_spec.record, j, false, true, &r);
    assert_int_equal(r.rows, 1);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j->call.op, PL_OP_AUTH_CAPTURE);
    snprintf(j->op_name, sizeof j->op_name, "%s", pl_bureau_op_name(j->call.op));
    snprintf(j->attempt, sizeof j->attempt, "it-vdr-%d", k);
    run_spec(pl_deposit_spec.mark_sent, j, false, false, &r);
    assert_int_equal(r.rows, 1);
}

/* The bureau's answer to the auth+capture: approved for 150.00 under a new authorization code. */
static void answer(pl_job *j)
{
    static pl_bureau_result res; /* the engine's job has one once the bureau answered */
    static char json[] = "{\"status\": \"approved\"}";
    memset(&res, 0, sizeof res);
    j->res = &res;
    memset(j->reply, 0, sizeof *j->reply);
    j->reply->status = PL_ST_APPROVED;
    j->reply->has_amount_approved = true;
    j->reply->amount_approved = 15000;
    snprintf(j->reply->auth.number, sizeof j->reply->auth.number, "777000");
    snprintf(j->reply->auth.transaction_id, sizeof j->reply->auth.transaction_id, "%s",
             id("tx-answer"));
    j->reply_json = json;
}

/* Stores the answer (held: hold); returns the unit's statements and the store's rows. */
static void store(pl_job *j, bool hold, unit_rec *r)
{
    answer(j);
    run_spec(pl_deposit_spec.store, j, hold, false, r);
}

static void release(pl_job *j)
{
    free(j->spec_data);
    j->spec_data = NULL;
}

/* status|deposited|voided|voided_by|void_reason|void_deferred_by of the authorization, "x"
 * where a column names the auth+capture, "-" where it is NULL or "". */
#define VOID_STATE                                                                                 \
    "SELECT concat_ws('|', h.status, h.amount_deposited, h.amount_voided, "                        \
    "CASE h.voided_by WHEN x.request_id THEN 'x' ELSE coalesce(nullif(h.voided_by, ''), '-') "     \
    "END, coalesce(nullif(h.void_reason, ''), '-'), CASE h.void_deferred_by WHEN x.request_id "    \
    "THEN 'x' ELSE coalesce(nullif(h.void_deferred_by, ''), '-') END) FROM auth_history h "        \
    "JOIN cc_deposit_trans x ON x.auth_history_id = h.id AND x.operation = 'auth_capture' "        \
    "WHERE h.request_id = $1 AND h.deposit_request_id IS NULL"
/* The reversal owed for deposit $1: of its authorization|by its request id|amount|not published
 * yet|held by; "none". */
#define OWED                                                                                       \
    "SELECT coalesce(string_agg(concat_ws('|', o.auth_history_id = h.id, "                         \
    "o.auth_request_id = h.request_id, o.amount, o.published_at IS NULL, o.lease_owner), ','), "   \
    "'none') FROM replaced_auth_reversal o JOIN auth_history h ON h.id = o.auth_history_id "       \
    "WHERE o.deposit_request_id = $1"

/*
 * The gap 059 closes: the auth+capture saw the other capture's claim when it was prepared (its
 * follow-ups hold no reversal), and that capture was declined before the answer came. The void
 * is carried out at once when the answer is stored, no deferred void's trigger runs: the store
 * records the reversal as owed, once, for the whole authorization; stored again (the unit sent
 * again after a lost connection), nothing more. Before, nothing was owed and no reversal was
 * ever sent: the hold stayed on the card until the authorization expired.
 */
static void test_claim_ended_before_answer(void **state)
{
    (void)state;
    pl_job j;
    unit_rec r;
    seed_auth(0);
    seed_claim(0);
    send_auth_capture(&j, 0);
    end_claim(0, false);
    store(&j, true, &r);
    assert_int_equal(r.rows, 1);
    assert_string_equal(value(VOID_STATE, rid(0, "a")), "voided|0.00|100.00|x|auth_capture|-");
    assert_string_equal(value(OWED, rid(0, "x")), "t|t|100.00|t|it-hold");
    store(&j, true, &r);
    assert_int_equal(r.rows, 0);
    assert_string_equal(value(OWED, rid(0, "x")), "t|t|100.00|t|it-hold");
    release(&j);
}

/*
 * The other capture's claim ends while the answer is being stored: its settle holds the
 * authorization's row when the auth+capture's settle comes to void it, which waits, then voids
 * at once (the claim gone) and records the reversal. Owed once.
 */
static void test_claim_ends_during_store(void **state)
{
    (void)state;
    pl_job j;
    unit_rec r;
    seed_auth(0);
    seed_claim(0);
    send_auth_capture(&j, 0);
    admin_ok("BEGIN", 0, NULL);
    end_claim(0, false);
    answer(&j);
    submit(pl_deposit_spec.store, &j, true, false, &r);
    /* The store is at the authorization's row, waiting for the transaction that ends the
     * claim (60 s at most). */
    bool waiting = false;
    for (int i = 0; i < 1200 && !waiting; i++) {
        PGresult *w = PQexecParams(g_watch,
                                   "SELECT count(*) FROM pg_stat_activity WHERE "
                                   "application_name = $1 AND wait_event_type = 'Lock'",
                                   1, NULL, (const char *const[]){g_app}, NULL, NULL, 0);
        waiting = PQresultStatus(w) == PGRES_TUPLES_OK && strcmp(PQgetvalue(w, 0, 0), "1") == 0;
        PQclear(w);
        if (!waiting)
            usleep(50000);
    }
    admin_ok("COMMIT", 0, NULL);
    assert_true(waiting);
    wait_for(&r.calls);
    if (r.err != 0)
        fail_msg("%s", r.msg);
    assert_int_equal(r.rows, 1);
    assert_string_equal(value(VOID_STATE, rid(0, "a")), "voided|0.00|100.00|x|auth_capture|-");
    assert_string_equal(value(OWED, rid(0, "x")), "t|t|100.00|t|it-hold");
    release(&j);
}

/*
 * The claim is still there when the answer is stored: the void waits (050) and the store owes
 * nothing yet; once the other capture is declined the deferred void's trigger records it (057),
 * and a store of the same answer again adds nothing. Approved, the other capture captured part
 * of the authorization: nothing is owed (238), whether the void waited or not.
 */
static void test_claim_at_answer(void **state)
{
    (void)state;
    pl_job j;
    unit_rec r;
    for (int k = 0; k < 2; k++) {
        seed_auth(k);
        seed_claim(k);
        send_auth_capture(&j, k);
        store(&j, true, &r);
        assert_int_equal(r.rows, 1);
        assert_string_equal(value(VOID_STATE, rid(k, "a")), "approved|0.00|0.00|-|-|x");
        assert_string_equal(value(OWED, rid(k, "x")), "none");
        admin_ok("BEGIN", 0, NULL);
        end_claim(k, k == 1);
        admin_ok(OWED_HOLD, 1, (const char *const[]){id(rid(k, "x"))});
        admin_ok("COMMIT", 0, NULL);
        store(&j, true, &r);
        assert_int_equal(r.rows, 0);
        if (k == 0) {
            assert_string_equal(value(VOID_STATE, rid(k, "a")),
                                "voided|0.00|100.00|x|auth_capture|-");
            assert_string_equal(value(OWED, rid(k, "x")), "t|t|100.00|t|it-hold");
        } else {
            assert_string_equal(value(VOID_STATE, rid(k, "a")),
                                "voided|30.00|70.00|x|auth_capture|-");
            assert_string_equal(value(OWED, rid(k, "x")), "none");
        }
        release(&j);
    }

    /* Captured before the answer came: voided at once, nothing owed either. */
    seed_auth(2);
    seed_claim(2);
    send_auth_capture(&j, 2);
    end_claim(2, true);
    store(&j, true, &r);
    assert_int_equal(r.rows, 1);
    assert_string_equal(value(VOID_STATE, rid(2, "a")), "voided|30.00|70.00|x|auth_capture|-");
    assert_string_equal(value(OWED, rid(2, "x")), "none");
    release(&j);
}

/*
 * Owed by no store: an auth+capture that saw no claim (its follow-ups hold the reversal, and
 * its store is the one statement it always was), and one whose row another actor answered
 * first with the reversal in its follow-ups (the resolver's store_followups, after the same
 * immediate void).
 */
static void test_reversal_in_followups(void **state)
{
    (void)state;
    pl_job j;
    unit_rec r;
    seed_auth(0);
    send_auth_capture(&j, 0);
    store(&j, true, &r);
    assert_int_equal(r.statements, 1);
    assert_int_equal(r.rows, 1);
    assert_string_equal(value(VOID_STATE, rid(0, "a")), "voided|0.00|100.00|x|auth_capture|-");
    assert_string_equal(value(OWED, rid(0, "x")), "none");
    release(&j);

    seed_auth(1);
    seed_claim(1);
    send_auth_capture(&j, 1);
    end_claim(1, false);
    admin_ok("UPDATE cc_deposit_trans SET status = 'approved', deposit_status = '*RCVD', "
             "amount_deposited = 150.00, answered_at = now(), followups = jsonb_build_array("
             "jsonb_build_object('topic', 'it.reversal.request', 'key', '1-' || order_number, "
             "'payload', jsonb_build_object('request_id', request_id || '.vdr')::text)) "
             "WHERE request_id = $1",
             1, (const char *const[]){id(rid(1, "x"))});
    store(&j, true, &r);
    assert_int_equal(r.statements, 2);
    assert_int_equal(r.rows, 0);
    assert_string_equal(value(VOID_STATE, rid(1, "a")), "voided|0.00|100.00|x|auth_capture|-");
    assert_string_equal(value(OWED, rid(1, "x")), "none");
    release(&j);
}

/* A test that failed inside g_admin's transaction leaves none open for the next. */
static int test_teardown(void **state)
{
    (void)state;
    if (PQtransactionStatus(g_admin) != PQTRANS_IDLE)
        PQclear(PQexec(g_admin, "ROLLBACK"));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_claim_ended_before_answer, test_teardown),
        cmocka_unit_test_teardown(test_claim_ends_during_store, test_teardown),
        cmocka_unit_test_teardown(test_claim_at_answer, test_teardown),
        cmocka_unit_test_teardown(test_reversal_in_followups, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
