/*
 * test_refs.c: the record units of paylink-deposit and paylink-reversal (workers/deposit,
 * workers/reversal) and of paylink-svc's deposits (workers/svc) against the real schema
 * (PAYLINK_DB), run through pl_db as the engine runs them: what their look-ups find and what the
 * specs decide from it, which references to another order they refuse and how the refusal is
 * judged, a redelivery's look-ups, and that PostgreSQL keeps one generic plan for each record
 * statement whatever the requests name (a statement it planned anew for every request cost the
 * backend more than the rest of the unit together).
 *
 * The rows it reads are written under request ids and order numbers of its own (an approved and
 * an unknown authorization and an approved debit of order A, an authorization and a debit of
 * order B, stored value authorizations of both) and deleted at the end with what the units
 * recorded.
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
#include "log.h"
#include "reply.h"
#include "reversal.h"
#include "services.h"
#include "svc.h"
#include "it_unit.h"
#include "../unit/job_test_helpers.h"

static const char *g_conninfo;
static PGconn *g_admin;
static pl_services *g_services;
static char g_p[32]; /* this run's prefix of request ids, orders and transaction ids */

/* The spec's statements and the test's look at the session's plans. */
static pl_db_stmt g_stmts[64];

static void admin_ok(const char *sql, int n, const char *const *params)
{
    it_exec(g_admin, sql, n, params);
}

/* "<prefix><suffix>" in a static ring of buffers (a few are alive at once). */
static const char *id(const char *suffix)
{
    static char ring[8][64];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%s%s", g_p, suffix);
    return s;
}

static void delete_rows(void)
{
    char like[48];
    snprintf(like, sizeof like, "%s%%", g_p);
    const char *p[] = {like};
    admin_ok("DELETE FROM auth_reversal WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM auth_history WHERE request_id LIKE $1 OR deposit_request_id LIKE $1", 1,
             p);
    admin_ok("DELETE FROM cc_deposit_history WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_deposit_trans WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_auth_trans WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM svc_trans WHERE request_id LIKE $1", 1, p);
}

/* An authorization of order `order` in status `status`; with an auth_history answer (100.00,
 * transaction id "<prefix>tx-<rid suffix>") unless it is unknown. */
static void seed_auth(const char *rid_suffix, const char *order_suffix, const char *status)
{
    char rid[64], order[32], tx[64];
    snprintf(rid, sizeof rid, "%s", id(rid_suffix));
    snprintf(order, sizeof order, "%s", id(order_suffix));
    snprintf(tx, sizeof tx, "%stx-%s", g_p, rid_suffix);
    const char *p[] = {rid, order, status, tx};
    admin_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "card_type, status, sent_at) VALUES ($1, repeat('a', 64), 'auth', 'auth', 1, $2, 1, "
             "'CYB', 100.00, 'USD', '7030000000000001234', 'VI', $3, now())",
             3, p);
    if (strcmp(status, "unknown") == 0)
        return;
    admin_ok("INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
             "service_bureau, transaction_type, status, amount_authorized, currency, "
             "auth_number, auth_date, transaction_id, request_token) "
             "VALUES ($1, 1, $2, 1, 'CYB', 'auth', $3, 100.00, 'USD', '831000', "
             "to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), $4, 'Axj/auth-token')",
             4, p);
}

/* Runs sql with $1 "<prefix><rid suffix>", $2 "<prefix><order suffix>" and $3 the transaction
 * id "<prefix><tx_kind>-<rid suffix>". */
static void seed_row(const char *sql, const char *rid_suffix, const char *order_suffix,
                     const char *tx_kind)
{
    char rid[64], order[32], tx[64];
    snprintf(rid, sizeof rid, "%s", id(rid_suffix));
    snprintf(order, sizeof order, "%s", id(order_suffix));
    snprintf(tx, sizeof tx, "%s%s-%s", g_p, tx_kind, rid_suffix);
    const char *p[] = {rid, order, tx};
    admin_ok(sql, 3, p);
}

/* An approved debit of order `order` that captured 60.00 (transaction id
 * "<prefix>tx-<rid suffix>"). */
static void seed_debit(const char *rid_suffix, const char *order_suffix)
{
    seed_row("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, amount_deposited, transaction_id, request_token) "
             "VALUES ($1, repeat('b', 64), 'debit', 'capture', 1, $2, 1, 'CYB', 60.00, 'USD', "
             "'7030000000000005678', 'approved', '*RCVD', 60.00, $3, 'Axj/debit-token')",
             rid_suffix, order_suffix, "tx");
}

/* The hash every stored value request of this test carries for its card. */
#define SV_CARD_HASH "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"

/* An approved stored value authorization of order `order` on RLT: 30.00 USD of the card
 * SV_CARD_HASH, SVATransactionID "<prefix>sv-<rid suffix>". */
static void seed_svc_auth(const char *rid_suffix, const char *order_suffix)
{
    seed_row("INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
             "order_number, pay_seq, service_bureau, amount, currency, card_masked, card_hash, "
             "status, amount_approved, svc_transaction_id, auth_number, sent_at, answered_at) "
             "VALUES ($1, repeat('c', 64), 'auth', 'svc_preauth', 1, $2, 1, 'RLT', 30.00, 'USD', "
             "'************0001', '" SV_CARD_HASH "', 'approved', 30.00, $3, '4471', now(), "
             "now())",
             rid_suffix, order_suffix, "sv");
}

static int group_setup(void **state)
{
    (void)state;
    g_conninfo = getenv("PAYLINK_DB");
    if (!g_conninfo || !*g_conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return -1;
    }
    g_admin = PQconnectdb(g_conninfo);
    if (PQstatus(g_admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(g_admin));
        return -1;
    }
    char err[512] = "";
    g_services = pl_services_load(g_admin, err, sizeof err);
    if (!g_services) {
        fprintf(stderr, "pl_services_load: %s\n", err);
        return -1;
    }
    snprintf(g_p, sizeof g_p, "itr%ld%ld-", (long)getpid() % 100000, (long)time(NULL) % 100000);
    size_t n = 0;
    if (pl_deposit_spec.nstmts + pl_reversal_spec.nstmts + pl_svc_spec.nstmts + 1 >
        sizeof g_stmts / sizeof g_stmts[0]) {
        fprintf(stderr, "test_refs: g_stmts holds too few statements for the specs'\n");
        return -1;
    }
    for (size_t i = 0; i < pl_deposit_spec.nstmts; i++)
        g_stmts[n++] = pl_deposit_spec.stmts[i];
    for (size_t i = 0; i < pl_reversal_spec.nstmts; i++)
        g_stmts[n++] = pl_reversal_spec.stmts[i];
    for (size_t i = 0; i < pl_svc_spec.nstmts; i++)
        g_stmts[n++] = pl_svc_spec.stmts[i];
    g_stmts[n++] = (pl_db_stmt){
        "it_plans",
        "SELECT coalesce(string_agg(name || ':' || generic_plans || ':' || custom_plans, ' ' "
        "ORDER BY name), '') FROM pg_prepared_statements WHERE name = ANY($1::text[])",
        1};
    seed_auth("a1", "A", "approved");
    seed_auth("u1", "A", "unknown");
    seed_auth("b1", "B", "approved");
    seed_debit("d1", "A");
    seed_debit("e1", "B");
    seed_svc_auth("s1", "A");
    seed_svc_auth("s2", "B");
    seed_svc_auth("s3", "A");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        delete_rows();
        PQfinish(g_admin);
    }
    pl_services_unref(g_services);
    return 0;
}

static pl_db *connect_db(void)
{
    char err[512] = "";
    size_t n = 0;
    while (g_stmts[n].name)
        n++;
    pl_db *db = pl_db_new(g_conninfo, g_stmts, n, err, sizeof err);
    if (!db)
        fail_msg("pl_db_new: %s", err);
    return db;
}

/* A request of this run for the CYB service bureau, company 1, order "<prefix><order>". */
static void job_init(pl_job *j, pl_req_type type, const char *rid_suffix, const char *order,
                     const char *amount, int64_t minor)
{
    memset(j, 0, sizeof *j);
    j->reply = job_test_reply();
    j->services = g_services;
    j->svc = pl_services_find(g_services, "CYB");
    assert_non_null(j->svc);
    pl_request *r = &j->req;
    r->v = 1;
    snprintf(r->request_id, sizeof r->request_id, "%s", id(rid_suffix));
    r->type = type;
    snprintf(r->type_name, sizeof r->type_name, "%s", pl_req_type_name(type));
    r->company = 1;
    snprintf(r->order, sizeof r->order, "%s", id(order));
    r->pay_seq = 1;
    snprintf(r->service, sizeof r->service, "CYB");
    r->has_amount = true;
    r->amount = minor;
    snprintf(j->amount, sizeof j->amount, "%s", amount);
    snprintf(r->currency, sizeof r->currency, "USD");
    r->online = true;
    memset(j->fingerprint, 'f', 64);
}

/* j's references, by suffix (NULL: none): auth_ref by request id and by transaction id,
 * capture_ref by request id. */
static void refer(pl_job *j, const char *auth_rid, const char *auth_tx, const char *capture_rid)
{
    pl_request *r = &j->req;
    r->auth_ref.present = auth_rid || auth_tx;
    snprintf(r->auth_ref.request_id, sizeof r->auth_ref.request_id, "%s",
             auth_rid ? id(auth_rid) : "");
    snprintf(r->auth_ref.transaction_id, sizeof r->auth_ref.transaction_id, "%s",
             auth_tx ? id(auth_tx) : "");
    r->capture_ref.present = capture_rid != NULL;
    snprintf(r->capture_ref.request_id, sizeof r->capture_ref.request_id, "%s",
             capture_rid ? id(capture_rid) : "");
}

/* What one record unit did: inserted (rows of its insert), and prepare's answer on it (the
 * engine's: the row is new, or found 'received' by a redelivery) or judge's errors. */
typedef struct rec {
    const pl_spec *spec;
    pl_job *job;
    bool prepare_found; /* prepare also when the insert found the row (a redelivery) */
    int calls, err, inserted, prepared;
    char msg[256];
    pl_errors errs;
} rec;

static void on_unit(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    rec *r = arg;
    r->calls++;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", errmsg ? errmsg : "");
    r->inserted = err ? 0 : pl_db_unit_ntuples(u, 0);
}

static void on_recorded(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    rec *r = arg;
    r->calls++;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", errmsg ? errmsg : "");
    if (err)
        return;
    r->inserted = pl_db_unit_ntuples(u, 0);
    if (r->inserted == 0 && !r->job->read_back)
        return; /* recorded again with the row read back (record) */
    if (r->inserted == 1 || r->prepare_found) {
        free(r->job->spec_data);
        r->job->spec_data = NULL;
        memset(r->job->reply, 0, sizeof *r->job->reply); /* as the engine does */
        r->prepared = r->spec->prepare(r->job, u);
        if (r->prepared == 0)
            assert_true(job_test_reply_empty(r->job->reply));
    } else if (r->spec->judge) {
        r->spec->judge(r->job, u, &r->errs);
    }
}

static void wait_for(pl_db *db, const int *calls)
{
    pl_db_flush(db);
    for (int i = 0; i < 400 && *calls == 0; i++) {
        struct pollfd p = {.fd = pl_db_fd(db), .events = pl_db_events(db)};
        assert_true(poll(&p, 1, 50) >= 0);
        pl_db_on_ready(db, p.fd >= 0 ? p.revents : 0);
        pl_db_flush(db);
    }
    assert_int_equal(*calls, 1);
}

/* Runs the spec's record unit for j once (read_back: the round that reads the row back). */
static void record_round(pl_db *db, const pl_spec *spec, pl_job *j, bool prepare_found,
                         bool read_back, rec *r)
{
    memset(r, 0, sizeof *r);
    j->read_back = read_back;
    r->spec = spec;
    r->job = j;
    r->prepare_found = prepare_found;
    pl_db_unit *u = pl_db_unit_new(on_recorded, r);
    assert_non_null(u);
    assert_int_equal(spec->record(j, u), 0);
    pl_db_submit(db, u);
    wait_for(db, &r->calls);
    if (r->err != 0)
        fail_msg("%s: %s", j->req.request_id, r->msg);
}

/* Records j as the engine does into r: once, and again reading the row back when that inserted
 * nothing (a row is there, or the insert refused it), whose look-ups prepare (prepare_found) or
 * judge then read. */
static void record(pl_db *db, const pl_spec *spec, pl_job *j, bool prepare_found, rec *r)
{
    record_round(db, spec, j, prepare_found, false, r);
    if (r->inserted == 0)
        record_round(db, spec, j, prepare_found, true, r);
}

typedef struct plans {
    int calls;
    char text[512];
} plans;

static void on_plans(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    plans *p = arg;
    p->calls++;
    if (err)
        fail_msg("it_plans: %s", errmsg);
    snprintf(p->text, sizeof p->text, "%s", PQgetvalue(pl_db_unit_result(u, 0), 0, 0));
}

/* Asserts that each statement of `names` ({a,b}) ran more than five times on the session and
 * that PostgreSQL planned it for its parameters only the first five times (its rule before it
 * weighs a generic plan), then kept the generic one. */
static void assert_generic(pl_db *db, const char *names, const char *const *list, size_t n)
{
    plans p = {0};
    pl_db_unit *u = pl_db_unit_new(on_plans, &p);
    assert_non_null(u);
    const char *params[] = {names};
    assert_int_equal(pl_db_unit_add(u, "it_plans", 1, params), 0);
    pl_db_submit(db, u);
    wait_for(db, &p.calls);
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s:", list[i]);
        const char *at = strstr(p.text, want);
        if (!at)
            fail_msg("%s not prepared on the session: %s", list[i], p.text);
        long generic = 0, custom = 0;
        if (sscanf(at + strlen(want), "%ld:%ld", &generic, &custom) != 2)
            fail_msg("unreadable plans: %s", p.text);
        if (custom != 5 || generic < 1)
            fail_msg("%s: %ld generic and %ld custom plans (want 5 custom, then generic): %s",
                     list[i], generic, custom, p.text);
    }
}

/* A request of order A that names (auth_rid, auth_tx, capture_rid) of order B, or of its own
 * order in another currency than its own (cur): refused with the reference (field) and why. */
typedef struct refusal {
    pl_req_type type;
    const char *rid, *cur, *auth_rid, *auth_tx, *capture_rid, *field, *error;
} refusal;

/* A request of order A (as job_init) for the stored value bureau RLT, of the card SV_CARD_HASH:
 * a deposit (paylink-svc) or, of type PL_REQ_REVERSAL, a void (paylink-reversal). */
static void svc_job_init(pl_job *j, pl_req_type type, const char *rid_suffix, const char *amount,
                         int64_t minor)
{
    job_init(j, type, rid_suffix, "A", amount, minor);
    j->svc = pl_services_find(g_services, "RLT");
    assert_non_null(j->svc);
    snprintf(j->req.service, sizeof j->req.service, "RLT");
    snprintf(j->req.pay_type, sizeof j->req.pay_type, "SV");
    j->req.svc.present = true;
    snprintf(j->req.svc.card_number, sizeof j->req.svc.card_number, "7000000000000001");
    snprintf(j->card_hash, sizeof j->card_hash, "%s", SV_CARD_HASH);
    snprintf(j->card_masked, sizeof j->card_masked, "************0001");
}

/* Each case of cases: nothing is recorded, and judge names the reference and why (for the
 * stored value bureau with sv). */
static void assert_refused_on(pl_db *db, const pl_spec *spec, bool sv, const refusal *cases,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const refusal *c = &cases[i];
        pl_job j;
        if (sv)
            svc_job_init(&j, c->type, c->rid, "10.00", 1000);
        else
            job_init(&j, c->type, c->rid, "A", "10.00", 1000);
        snprintf(j.req.currency, sizeof j.req.currency, "%s", c->cur);
        refer(&j, c->auth_rid, c->auth_tx, c->capture_rid);
        rec r;
        record(db, spec, &j, false, &r);
        if (r.inserted != 0 || r.errs.n != 1 || strcmp(r.errs.e[0].field, c->field) != 0 ||
            strcmp(r.errs.e[0].error, c->error) != 0)
            fail_msg("%s: inserted %d, %zu errors, first %s: %s", c->rid, r.inserted, r.errs.n,
                     r.errs.n ? r.errs.e[0].field : "-", r.errs.n ? r.errs.e[0].error : "-");
    }
}

static void assert_refused(pl_db *db, const pl_spec *spec, const refusal *cases, size_t n)
{
    assert_refused_on(db, spec, false, cases, n);
}

/* The record unit recorded j and prepare sends it as op referring to the bureau transaction
 * "<prefix><ref>" with token and authorization code (NULL: none). */
static void assert_call(const pl_job *j, const rec *r, pl_bureau_op op, const char *ref,
                        const char *token, const char *code)
{
    assert_int_equal(r->inserted, 1);
    assert_int_equal(r->prepared, 0);
    assert_int_equal(j->call.op, op);
    assert_string_equal(j->call.ref_request_id, id(ref));
    if (token)
        assert_string_equal(j->call.ref_request_token, token);
    if (code)
        assert_string_equal(j->call.ref_auth_code, code);
}

/* Whether a line of the log written to f (pl_log_init) names request rid and says what. */
static bool log_says(FILE *f, const char *rid, const char *what)
{
    char line[2048];
    bool found = false;
    rewind(f);
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, rid) && strstr(line, what);
    return found;
}

/* The reply message of a deposit refused without a call: the Siebel message n, then why
 * (pl_deposit_refusal_message). */
static const char *refusal_text(int n, const char *why)
{
    static char text[400];
    snprintf(text, sizeof text, "%s %s", pl_siebel_message(n), why);
    return text;
}

static void release(pl_job *j)
{
    free(j->spec_data);
    j->spec_data = NULL;
}

/* Runs one unit a spec function builds for j (mark_sent, store); returns statement 0's rows. */
static int run_spec_unit(pl_db *db, int (*add)(pl_job *, pl_db_unit *), pl_job *j)
{
    rec r;
    memset(&r, 0, sizeof r);
    r.job = j;
    pl_db_unit *u = pl_db_unit_new(on_unit, &r);
    assert_non_null(u);
    assert_int_equal(add(j, u), 0);
    pl_db_submit(db, u);
    wait_for(db, &r.calls);
    if (r.err != 0)
        fail_msg("%s: %s", j->req.request_id, r.msg);
    return r.inserted;
}

/* The one value of a query about a request id of this run ($1 "<prefix><suffix>"). */
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

/* Marks j sent by attempt `attempt`, as the engine does once prepare chose its call; returns
 * the rows the mark returned (1: marked, 0: another attempt has it or the claim failed). */
static int mark(pl_db *db, pl_job *j, const char *attempt)
{
    snprintf(j->op_name, sizeof j->op_name, "%s", pl_bureau_op_name(j->call.op));
    snprintf(j->attempt, sizeof j->attempt, "%s", attempt);
    return run_spec_unit(db, pl_deposit_spec.mark_sent, j);
}

/* Stores an answer of status st for j (the amount in minor units, the authorization code
 * `code`); returns the rows the store returned (0: the row was answered already). */
static int store(pl_db *db, pl_job *j, pl_status st, int64_t amount, const char *code)
{
    static pl_bureau_result answer; /* the engine's job has one once the bureau answered */
    memset(&answer, 0, sizeof answer);
    j->res = &answer;
    memset(j->reply, 0, sizeof *j->reply);
    j->reply->status = st;
    j->reply->has_amount_approved = st == PL_ST_APPROVED;
    j->reply->amount_approved = amount;
    snprintf(j->reply->auth.number, sizeof j->reply->auth.number, "%s", code);
    snprintf(j->reply->auth.transaction_id, sizeof j->reply->auth.transaction_id, "%s",
             id("tx-answer"));
    char json[64];
    snprintf(json, sizeof json, "{\"status\": \"%s\"}", pl_status_name(st));
    j->reply_json = json;
    int n = run_spec_unit(db, pl_deposit_spec.store, j);
    j->reply_json = NULL;
    return n;
}

/* A deposit's mark claims what it draws on and its store settles it, whatever else looks on:
 * the claim on the authorization or the debit, the same attempt marking again, another attempt
 * finding it taken, a second answer changing nothing, the authorization an answer's new
 * authorization code brings. */
static void test_deposit_claims(void **state)
{
    (void)state;
    pl_db *db = connect_db();
    pl_job j;
    rec r;
    static const char pending[] =
        "SELECT concat_ws('|', status, amount_pending, amount_deposited, amount_voided, "
        "void_reason) FROM auth_history WHERE request_id = $1";
    seed_auth("c1", "A", "approved");

    /* A capture of 40.00 of its 100.00. */
    job_init(&j, PL_REQ_DEBIT, "cap1", "A", "40.00", 4000);
    refer(&j, "c1", NULL, NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_call(&j, &r, PL_OP_CAPTURE, "tx-c1", NULL, NULL);
    assert_int_equal(mark(db, &j, "it-1"), 1);
    assert_string_equal(value(pending, "c1"), "approved|40.00|0.00|0.00|");
    assert_int_equal(mark(db, &j, "it-1"), 1); /* its own mark again: nothing claimed twice */
    assert_string_equal(value(pending, "c1"), "approved|40.00|0.00|0.00|");
    assert_int_equal(mark(db, &j, "it-2"), 0); /* another attempt finds it taken */
    assert_string_equal(value("SELECT concat_ws('|', status, deposit_status, operation, "
                              "claim_amount, sent_by, auth_history_id IS NOT NULL) "
                              "FROM cc_deposit_trans WHERE request_id = $1",
                              "cap1"),
                        "sent|*SENT|capture|40.00|it-1|t");
    /* Approved: captured, the claim released, the rest voided (CYB: Void auth at deposit). */
    assert_int_equal(store(db, &j, PL_ST_APPROVED, 4000, ""), 1);
    assert_int_equal(store(db, &j, PL_ST_APPROVED, 4000, ""), 0);
    assert_string_equal(value(pending, "c1"), "voided|0.00|40.00|60.00|void_at_deposit");
    assert_string_equal(value("SELECT concat_ws('|', count(*), min(status), min(amount)) "
                              "FROM cc_deposit_history WHERE request_id = $1",
                              "cap1"),
                        "1|approved|40.00");
    release(&j);

    /* The rest of the authorization is voided now: a further debit is an auth+capture, which
     * claims nothing, and the new authorization code of its answer is an authorization too. */
    job_init(&j, PL_REQ_DEBIT, "cap2", "A", "10.00", 1000);
    refer(&j, "c1", NULL, NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_AUTH_CAPTURE);
    assert_int_equal(mark(db, &j, "it-3"), 1);
    assert_string_equal(value("SELECT concat_ws('|', status, claim_amount IS NULL) "
                              "FROM cc_deposit_trans WHERE request_id = $1",
                              "cap2"),
                        "sent|t");
    assert_int_equal(store(db, &j, PL_ST_APPROVED, 1000, "777000"), 1);
    assert_string_equal(value("SELECT concat_ws('|', count(*), bool_and(request_id LIKE '%-c1'), "
                              "min(transaction_type), min(status), min(amount_authorized), "
                              "min(auth_number)) FROM auth_history WHERE deposit_request_id = $1",
                              "cap2"),
                        "1|t|auth_capture|approved|10.00|777000");
    release(&j);

    /* A follow-on credit claims on the debit; declined, the claim is given back. */
    job_init(&j, PL_REQ_CREDIT, "cred1", "A", "25.00", 2500);
    refer(&j, NULL, NULL, "d1");
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_call(&j, &r, PL_OP_CREDIT, "tx-d1", "Axj/debit-token", NULL);
    assert_int_equal(mark(db, &j, "it-4"), 1);
    static const char credited[] =
        "SELECT amount_credited::text FROM cc_deposit_trans WHERE request_id = $1";
    assert_string_equal(value(credited, "d1"), "25.00");
    assert_int_equal(store(db, &j, PL_ST_DECLINED, 0, ""), 1);
    assert_string_equal(value(credited, "d1"), "0.00");
    release(&j);

    /* More than the debit has left to refund when the claim is made: nothing is marked. */
    job_init(&j, PL_REQ_CREDIT, "cred2", "A", "50.00", 5000);
    refer(&j, NULL, NULL, "d1");
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    admin_ok("UPDATE cc_deposit_trans SET amount_credited = 20.00 WHERE request_id = $1", 1,
             (const char *const[]){id("d1")});
    assert_int_equal(mark(db, &j, "it-5"), 0);
    assert_string_equal(value(credited, "d1"), "20.00");
    admin_ok("UPDATE cc_deposit_trans SET amount_credited = 0 WHERE request_id = $1", 1,
             (const char *const[]){id("d1")});
    release(&j);
    pl_db_destroy(db);
}

static void test_deposit_refs(void **state)
{
    (void)state;
    pl_db *db = connect_db();
    pl_job j;
    rec r;

    /* A debit of order A settling its authorization: a capture of it. */
    job_init(&j, PL_REQ_DEBIT, "dep1", "A", "40.00", 4000);
    refer(&j, "a1", NULL, NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_call(&j, &r, PL_OP_CAPTURE, "tx-a1", "Axj/auth-token", "831000");
    assert_string_equal(j.merchant_id, "paylink_demo");
    /* Redelivered while 'received': the engine reads it back and decides from the same look-up. */
    record(db, &pl_deposit_spec, &j, true, &r);
    assert_int_equal(r.inserted, 0);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_CAPTURE);
    assert_string_equal(j.call.ref_request_id, id("tx-a1"));
    release(&j);

    /* More than the authorization holds: an auth+capture with the authorization's token. */
    job_init(&j, PL_REQ_DEBIT, "dep2", "A", "150.00", 15000);
    refer(&j, "a1", NULL, NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_AUTH_CAPTURE);
    assert_string_equal(j.req.card.token, "7030000000000001234");
    release(&j);

    /* An authorization paylink does not know, no card: refused (seed message 15, and why). */
    job_init(&j, PL_REQ_DEBIT, "dep3", "A", "10.00", 1000);
    refer(&j, "none", NULL, NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.prepared, 1);
    assert_int_equal(j.reply->status, PL_ST_DECLINED);
    assert_string_equal(j.reply->message,
                        refusal_text(15, "auth_ref names no authorization paylink has: send the "
                                         "card or token to authorize anew."));
    release(&j);

    /* A follow-on credit of order A's debit: what it captured less earlier credits remains. */
    job_init(&j, PL_REQ_CREDIT, "dep4", "A", "60.00", 6000);
    refer(&j, NULL, NULL, "d1");
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_CREDIT);
    assert_string_equal(j.call.ref_request_id, id("tx-d1"));
    assert_string_equal(j.call.ref_request_token, "Axj/debit-token");
    release(&j);
    job_init(&j, PL_REQ_CREDIT, "dep5", "A", "60.01", 6001);
    refer(&j, NULL, NULL, "d1");
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.prepared, 1); /* exceeds what is refundable */
    /* The reply says so, and how much the debit has left to refund: before, message 16 alone,
     * as for a debit not found. */
    assert_int_equal(j.reply->status, PL_ST_DECLINED);
    assert_string_equal(j.reply->message,
                        refusal_text(16, "Only 60.00 USD of the debit is left to refund now: "
                                         "credit at most that."));
    release(&j);

    /* A debit of its own order that captured nothing (held for review by Decision Manager: no
     * capture runs with it, README) or has no outcome yet: capture_not_approved, and the reply
     * tells the two apart. */
    seed_row("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, decision, vendor_response, transaction_id) VALUES ($1, "
             "repeat('b', 64), 'debit', 'auth_capture', 1, $2, 1, 'CYB', 60.00, 'USD', "
             "'7030000000000005678', 'review', '*RCVD', 'REVIEW', '480', $3)",
             "dr1", "A", "tx");
    seed_row("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, sent_at, sent_by) VALUES ($1, repeat('b', 64), 'debit', "
             "'capture', 1, $2, 1, 'CYB', 60.00, 'USD', '7030000000000005678', 'unknown', "
             "'*SENT', now(), $3)",
             "du1", "A", "it");
    static const struct {
        const char *rid, *capture_rid, *why;
    } not_approved[] = {
        {"dep20", "dr1",
         "The debit capture_ref names captured nothing: name one that did, or send a "
         "stand-alone credit."},
        {"dep21", "du1",
         "The debit capture_ref names has no outcome yet: send a new credit once it is "
         "approved."},
    };
    for (size_t i = 0; i < sizeof not_approved / sizeof not_approved[0]; i++) {
        job_init(&j, PL_REQ_CREDIT, not_approved[i].rid, "A", "10.00", 1000);
        refer(&j, NULL, NULL, not_approved[i].capture_rid);
        record(db, &pl_deposit_spec, &j, false, &r);
        if (r.inserted != 1 || r.prepared != 1 || j.reply->status != PL_ST_DECLINED)
            fail_msg("%s: inserted %d, prepared %d, status %d", not_approved[i].rid, r.inserted,
                     r.prepared, (int)j.reply->status);
        assert_string_equal(j.reply->message, refusal_text(16, not_approved[i].why));
        release(&j);
    }

    /* A stand-alone credit looks nothing up. */
    job_init(&j, PL_REQ_CREDIT, "dep6", "A", "5.00", 500);
    snprintf(j.req.card.token, sizeof j.req.card.token, "7030000000000009999");
    j.req.card.present = true;
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_CREDIT);
    assert_null(j.call.ref_request_id);
    release(&j);

    /* References to order B from order A: nothing recorded, judged by which reference. And its
     * own order's references in another currency: refused the same way (a capture of 10.00
     * EUR against a USD authorization would charge what nobody authorized). */
    static const refusal dep_cases[] = {
        {PL_REQ_DEBIT, "dep7", "USD", "b1", NULL, NULL, "auth_ref.request_id", PL_FOREIGN_AUTH},
        {PL_REQ_DEBIT, "dep8", "USD", NULL, "tx-b1", NULL, "auth_ref.transaction_id",
         PL_FOREIGN_AUTH},
        {PL_REQ_CREDIT, "dep9", "USD", NULL, NULL, "e1", "capture_ref.request_id",
         "names a debit of another company or order"},
        {PL_REQ_DEBIT, "dep11", "EUR", "a1", NULL, NULL, "auth_ref.request_id", PL_FOREIGN_AUTH},
        {PL_REQ_DEBIT, "dep12", "EUR", NULL, "tx-a1", NULL, "auth_ref.transaction_id",
         PL_FOREIGN_AUTH},
        {PL_REQ_CREDIT, "dep13", "EUR", NULL, NULL, "d1", "capture_ref.request_id",
         "names a debit in another currency"},
        /* A good debit beside another order's authorization: the authorization is named. */
        {PL_REQ_CREDIT, "dep14", "USD", "b1", NULL, "d1", "auth_ref.request_id", PL_FOREIGN_AUTH},
    };
    assert_refused(db, &pl_deposit_spec, dep_cases, sizeof dep_cases / sizeof dep_cases[0]);

    /* A capture_ref naming a CREDIT (approved, stand-alone: "cr1" of order B, "cr2" of order A
     * in USD) is no debit to refund, whatever its order or currency: recorded and declined
     * without a call (capture_not_found), as one naming a credit of its own order and currency
     * always was. Before, the insert's check refused one of another order or currency, and the
     * judge, whose look-up reads debits only, found nothing to name: `error` ("neither recorded
     * nor found") instead of the contract's decline. The reason is paylink's, not a bureau's:
     * the reply carries no vendor_response, the seed's Siebel message 16 (as every credit
     * refused without a call) and then why, and the worker's log line says which (an operator
     * reads capture_not_found there, not capture_not_approved or exceeds_refundable). */
    seed_row("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, amount_deposited, transaction_id) VALUES ($1, "
             "repeat('b', 64), 'credit', 'credit', 1, $2, 1, 'CYB', 20.00, 'USD', "
             "'7030000000000005678', 'approved', '*RCVD', 20.00, $3)",
             "cr1", "B", "tx");
    seed_row("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, amount_deposited, transaction_id) VALUES ($1, "
             "repeat('b', 64), 'credit', 'credit', 1, $2, 1, 'CYB', 20.00, 'USD', "
             "'7030000000000005678', 'approved', '*RCVD', 20.00, $3)",
             "cr2", "A", "tx");
    static const struct {
        const char *rid, *cur, *capture_rid;
    } credit_refs[] = {{"dep17", "USD", "cr1"}, {"dep18", "EUR", "cr2"}, {"dep19", "USD", "cr2"}};
    for (size_t i = 0; i < sizeof credit_refs / sizeof credit_refs[0]; i++) {
        job_init(&j, PL_REQ_CREDIT, credit_refs[i].rid, "A", "10.00", 1000);
        snprintf(j.req.currency, sizeof j.req.currency, "%s", credit_refs[i].cur);
        refer(&j, NULL, NULL, credit_refs[i].capture_rid);
        FILE *log = tmpfile();
        assert_non_null(log);
        pl_log_init("it_test_refs", log);
        record(db, &pl_deposit_spec, &j, false, &r);
        pl_log_init("it_test_refs", NULL);
        if (r.inserted != 1 || r.prepared != 1 || r.errs.n != 0 ||
            j.reply->status != PL_ST_DECLINED)
            fail_msg("%s: inserted %d, prepared %d, %zu errors, status %d", credit_refs[i].rid,
                     r.inserted, r.prepared, r.errs.n, (int)j.reply->status);
        assert_string_equal(j.reply->vendor_response, "");
        assert_string_equal(j.reply->message,
                            refusal_text(16, "capture_ref names no debit paylink has: check it, "
                                             "or send a stand-alone credit with the card."));
        if (!log_says(log, id(credit_refs[i].rid), "deposit refused: capture_not_found"))
            fail_msg("%s: no log line says it was refused capture_not_found", credit_refs[i].rid);
        fclose(log);
        release(&j);
    }

    /* A request without a currency is not compared; nor is a token, which authorized no
     * amount in any currency. */
    job_init(&j, PL_REQ_DEBIT, "dep15", "A", "10.00", 1000);
    j.req.currency[0] = '\0';
    refer(&j, "a1", NULL, NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_call(&j, &r, PL_OP_CAPTURE, "tx-a1", NULL, NULL);
    release(&j);
    admin_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, currency, card_token, card_type, "
             "status, sent_at) VALUES ($1, repeat('a', 64), 'token', 'token', 1, $2, 1, 'CYB', "
             "'USD', '7030000000000004321', 'VI', 'approved', now())",
             2, (const char *const[]){id("t1"), id("A")});
    job_init(&j, PL_REQ_DEBIT, "dep16", "A", "10.00", 1000);
    snprintf(j.req.currency, sizeof j.req.currency, "EUR");
    refer(&j, "t1", NULL, NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.errs.n, 0);
    release(&j);

    /* An inline manual authorization of its own order: recorded, captured by its id. */
    job_init(&j, PL_REQ_DEBIT, "dep10", "A", "10.00", 1000);
    refer(&j, NULL, "tx-a1", NULL);
    record(db, &pl_deposit_spec, &j, false, &r);
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_CAPTURE);
    assert_string_equal(j.call.ref_request_id, id("tx-a1"));
    release(&j);

    /* Every shape above ran on one session: one generic plan each after the first five. */
    static const char *const names[] = {"dep_record", "dep_insert", "dep_refs"};
    assert_generic(db, "{dep_record,dep_insert,dep_refs}", names, 3);
    pl_db_destroy(db);
}

static void test_reversal_refs(void **state)
{
    (void)state;
    pl_db *db = connect_db();
    pl_job j;
    rec r;

    /* Order A's authorization by request id. */
    job_init(&j, PL_REQ_REVERSAL, "rev1", "A", "100.00", 10000);
    refer(&j, "a1", NULL, NULL);
    record(db, &pl_reversal_spec, &j, false, &r);
    assert_call(&j, &r, PL_OP_AUTH_REVERSAL, "tx-a1", "Axj/auth-token", "831000");
    assert_null(j.call.timeout_reversal_of);
    record(db, &pl_reversal_spec, &j, true, &r); /* a redelivery, read back */
    assert_int_equal(r.inserted, 0);
    assert_int_equal(r.prepared, 0);
    assert_string_equal(j.call.ref_request_id, id("tx-a1"));
    release(&j);

    /* By its transaction id only: found all the same. */
    job_init(&j, PL_REQ_REVERSAL, "rev2", "A", "100.00", 10000);
    refer(&j, NULL, "tx-a1", NULL);
    record(db, &pl_reversal_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    assert_string_equal(j.call.ref_request_id, id("tx-a1"));
    assert_string_equal(j.call.ref_auth_code, "831000");
    release(&j);

    /* An authorization whose outcome is unknown: CyberSource's timeout reversal. */
    job_init(&j, PL_REQ_REVERSAL, "rev3", "A", "100.00", 10000);
    refer(&j, "u1", NULL, NULL);
    record(db, &pl_reversal_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    assert_non_null(j.call.timeout_reversal_of);
    assert_string_equal(j.call.timeout_reversal_of, id("u1"));
    release(&j);

    /* A paylink authorization that does not exist: refused; a manual one: the bureau decides. */
    job_init(&j, PL_REQ_REVERSAL, "rev4", "A", "10.00", 1000);
    refer(&j, "none", NULL, NULL);
    record(db, &pl_reversal_spec, &j, false, &r);
    assert_int_equal(r.prepared, 1);
    assert_int_equal(j.reply->status, PL_ST_DECLINED);
    release(&j);
    job_init(&j, PL_REQ_REVERSAL, "rev5", "A", "10.00", 1000);
    refer(&j, NULL, "tx-manual", NULL);
    record(db, &pl_reversal_spec, &j, false, &r);
    assert_int_equal(r.prepared, 0);
    assert_string_equal(j.call.ref_request_id, id("tx-manual"));
    release(&j);

    /* Order B's authorization from order A, by request id and by transaction id; its own
     * order's in another currency. */
    static const refusal rev_cases[] = {
        {PL_REQ_REVERSAL, "rev6", "USD", "b1", NULL, NULL, "auth_ref.request_id", PL_FOREIGN_AUTH},
        {PL_REQ_REVERSAL, "rev7", "USD", NULL, "tx-b1", NULL, "auth_ref.transaction_id",
         PL_FOREIGN_AUTH},
        {PL_REQ_REVERSAL, "rev8", "EUR", "a1", NULL, NULL, "auth_ref.request_id", PL_FOREIGN_AUTH},
        {PL_REQ_REVERSAL, "rev9", "EUR", NULL, "tx-a1", NULL, "auth_ref.transaction_id",
         PL_FOREIGN_AUTH},
    };
    assert_refused(db, &pl_reversal_spec, rev_cases, sizeof rev_cases / sizeof rev_cases[0]);

    /* More of both kinds, so that each statement has run more than five times. */
    for (int i = 0; i < 6; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "revm%d", i);
        job_init(&j, PL_REQ_REVERSAL, rid, "A", "100.00", 10000);
        refer(&j, i % 2 ? "a1" : NULL, i % 2 ? NULL : "tx-a1", NULL);
        record(db, &pl_reversal_spec, &j, false, &r);
        assert_call(&j, &r, PL_OP_AUTH_REVERSAL, "tx-a1", "Axj/auth-token", "831000");
        /* delivered again: read back (rev_insert and rev_auth or rev_auth_tx), the same call */
        record(db, &pl_reversal_spec, &j, true, &r);
        assert_int_equal(r.inserted, 0);
        assert_int_equal(r.prepared, 0);
        assert_string_equal(j.call.ref_request_id, id("tx-a1"));
        release(&j);
    }
    static const char *const names[] = {"rev_record", "rev_insert", "rev_auth", "rev_auth_tx"};
    assert_generic(db, "{rev_record,rev_insert,rev_auth,rev_auth_tx}", names, 4);
    pl_db_destroy(db);
}

/*
 * A stored value deposit or void naming its authorization by SVATransactionID alone: when the
 * authorization is paylink's (its order's, on the bureau), the request is recorded naming it and
 * decided and claimed as if it had named its request id — checked against what remains, its
 * card and currency; an SVATransactionID the order's authorizations do not have is one paylink
 * does not hold, and the bureau decides.
 */
static void test_stored_value_refs(void **state)
{
    (void)state;
    pl_db *db = connect_db();
    pl_job j;
    rec r;
    static const char held[] =
        "SELECT concat_ws('|', amount_pending, amount_deposited, amount_voided) FROM svc_trans "
        "WHERE request_id = $1";

    /* A deposit of 10.00 of s1 (30.00) by its SVATransactionID: s1's, and it claims on it. */
    svc_job_init(&j, PL_REQ_SVC_DEPOSIT, "sd1", "10.00", 1000);
    refer(&j, NULL, "sv-s1", NULL);
    assert_false(pl_svc_spec.prepare_alone(&j));
    record(db, &pl_svc_spec, &j, false, &r);
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_SVC_POSTAUTH);
    assert_string_equal(j.call.ref_request_id, id("sv-s1"));
    assert_string_equal(
        value("SELECT coalesce(ref_request_id, '-') FROM svc_trans WHERE request_id = $1", "sd1"),
        id("s1"));
    snprintf(j.op_name, sizeof j.op_name, "%s", pl_bureau_op_name(j.call.op));
    snprintf(j.attempt, sizeof j.attempt, "it-sv-1");
    assert_int_equal(run_spec_unit(db, pl_svc_spec.mark_sent, &j), 1);
    assert_string_equal(value(held, "s1"), "10.00|0.00|0.00");
    assert_string_equal(
        value("SELECT concat_ws('|', status, claim_amount) FROM svc_trans WHERE request_id = $1",
              "sd1"),
        "sent|10.00");
    /* Redelivered while 'sent' by that attempt: the same look-up from the row it recorded. */
    record(db, &pl_svc_spec, &j, true, &r);
    assert_int_equal(r.inserted, 0);
    assert_int_equal(r.prepared, 0);
    assert_string_equal(j.call.ref_request_id, id("sv-s1"));
    release(&j);

    /* More than remains of s1 (20.00 once that claim counts), named the same way: declined,
     * nothing sent (the old code sent it and claimed nothing). */
    svc_job_init(&j, PL_REQ_SVC_DEPOSIT, "sd2", "20.01", 2001);
    refer(&j, NULL, "sv-s1", NULL);
    record(db, &pl_svc_spec, &j, false, &r);
    assert_int_equal(r.prepared, 1);
    assert_int_equal(j.reply->status, PL_ST_DECLINED);
    assert_non_null(strstr(j.reply->message, "exceeds what remains"));
    release(&j);

    /* Another card's deposit of s1's SVATransactionID: refused as by request id. */
    svc_job_init(&j, PL_REQ_SVC_DEPOSIT, "sd3", "5.00", 500);
    refer(&j, NULL, "sv-s1", NULL);
    memset(j.card_hash, 'a', 64);
    record(db, &pl_svc_spec, &j, false, &r);
    assert_int_equal(r.prepared, 1);
    assert_int_equal(j.reply->status, PL_ST_DECLINED);
    assert_non_null(strstr(j.reply->message, "card"));
    release(&j);

    /* Order B's SVATransactionID from order A: no authorization of A has it, so it is one
     * paylink does not hold; sent as given, recorded naming nothing, nothing claimed. */
    svc_job_init(&j, PL_REQ_SVC_DEPOSIT, "sd4", "5.00", 500);
    refer(&j, NULL, "sv-s2", NULL);
    record(db, &pl_svc_spec, &j, false, &r);
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.prepared, 0);
    assert_string_equal(j.call.ref_request_id, id("sv-s2"));
    assert_string_equal(
        value("SELECT coalesce(ref_request_id, '-') FROM svc_trans WHERE request_id = $1", "sd4"),
        "-");
    snprintf(j.op_name, sizeof j.op_name, "%s", pl_bureau_op_name(j.call.op));
    snprintf(j.attempt, sizeof j.attempt, "it-sv-4");
    assert_int_equal(run_spec_unit(db, pl_svc_spec.mark_sent, &j), 1);
    assert_string_equal(value(held, "s2"), "0.00|0.00|0.00");
    release(&j);

    /* A void of s3 by its SVATransactionID: s3's remainder, claimed, the row naming s3. */
    svc_job_init(&j, PL_REQ_REVERSAL, "sv1", "30.00", 3000);
    refer(&j, NULL, "sv-s3", NULL);
    record(db, &pl_reversal_spec, &j, false, &r);
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.prepared, 0);
    assert_int_equal(j.call.op, PL_OP_SVC_VOID);
    assert_int_equal(j.call.amount, 3000);
    assert_string_equal(j.call.ref_request_id, id("sv-s3"));
    snprintf(j.op_name, sizeof j.op_name, "%s", pl_bureau_op_name(j.call.op));
    snprintf(j.attempt, sizeof j.attempt, "it-sv-5");
    assert_int_equal(run_spec_unit(db, pl_reversal_spec.mark_sent, &j), 1);
    assert_string_equal(value(held, "s3"), "30.00|0.00|0.00");
    char want[96];
    snprintf(want, sizeof want, "sent|%s|30.00", id("s3"));
    assert_string_equal(value("SELECT concat_ws('|', status, auth_request_id, claim_amount) "
                              "FROM auth_reversal WHERE request_id = $1",
                              "sv1"),
                        want);
    release(&j);
    /* s1, with a deposit in flight, cannot be voided by its SVATransactionID either. */
    svc_job_init(&j, PL_REQ_REVERSAL, "sv2", "30.00", 3000);
    refer(&j, NULL, "sv-s1", NULL);
    record(db, &pl_reversal_spec, &j, false, &r);
    assert_int_equal(r.prepared, 1);
    assert_non_null(strstr(j.reply->message, "in progress"));
    release(&j);

    /* Its own order's authorization, by SVATransactionID, in another currency: invalid. */
    static const refusal cases[] = {
        {PL_REQ_SVC_DEPOSIT, "sd5", "EUR", NULL, "sv-s1", NULL, "auth_ref.transaction_id",
         PL_FOREIGN_AUTH},
        {PL_REQ_SVC_DEPOSIT, "sd6", "EUR", "s1", NULL, NULL, "auth_ref.request_id",
         PL_FOREIGN_AUTH},
    };
    assert_refused_on(db, &pl_svc_spec, true, cases, sizeof cases / sizeof cases[0]);
    static const refusal void_cases[] = {
        {PL_REQ_REVERSAL, "sv3", "EUR", NULL, "sv-s3", NULL, "auth_ref.transaction_id",
         PL_FOREIGN_AUTH},
    };
    assert_refused_on(db, &pl_reversal_spec, true, void_cases, 1);

    /* A redelivered void by SVATransactionID: the look-up goes by what its row recorded. */
    svc_job_init(&j, PL_REQ_REVERSAL, "sv1", "30.00", 3000);
    refer(&j, NULL, "sv-s3", NULL);
    record(db, &pl_reversal_spec, &j, true, &r);
    assert_int_equal(r.inserted, 0);
    assert_int_equal(r.prepared, 1); /* s3 is claimed by this very void now */
    assert_non_null(strstr(j.reply->message, "in progress"));
    release(&j);

    /* More of both kinds, so that each statement has run more than five times: one generic
     * plan each, whichever way the authorization is named. */
    for (int i = 0; i < 6; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "sdm%d", i);
        svc_job_init(&j, PL_REQ_SVC_DEPOSIT, rid, "0.01", 1);
        refer(&j, i % 2 ? "s1" : NULL, i % 2 ? NULL : "sv-s1", NULL);
        record(db, &pl_svc_spec, &j, false, &r);
        assert_int_equal(r.prepared, 0);
        record(db, &pl_svc_spec, &j, true, &r); /* delivered again: read back, the same call */
        assert_int_equal(r.inserted, 0);
        assert_int_equal(r.prepared, 0);
        release(&j);
        snprintf(rid, sizeof rid, "svm%d", i);
        svc_job_init(&j, PL_REQ_REVERSAL, rid, "30.00", 3000);
        refer(&j, i % 2 ? "s1" : NULL, i % 2 ? NULL : "sv-s1", NULL);
        record(db, &pl_reversal_spec, &j, false, &r);
        assert_int_equal(r.prepared, 1); /* s1 has a deposit in flight */
        release(&j);
    }
    static const char *const names[] = {"svc_record", "svc_insert", "svc_auth", "rev_svc_insert",
                                        "rev_svc_auth"};
    assert_generic(db, "{svc_record,svc_insert,svc_auth,rev_svc_insert,rev_svc_auth}", names, 5);
    pl_db_destroy(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deposit_refs),
        cmocka_unit_test(test_reversal_refs),
        cmocka_unit_test(test_deposit_claims),
        cmocka_unit_test(test_stored_value_refs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
