/*
 * test_resolver_reask.c: paylink's own reversals asked again after they ended `error` with
 * nothing done at the bureau (migration 069, common/resolver.h pl_resolver_reask_pass), or after
 * paylink-reversal refused them without a call (070), against the real PostgreSQL of PAYLINK_DB;
 * the resolver's step, against the bureau simulator dm_settings names, escalating a reversal
 * whose CyberSource record approves more than its call sent; and an authorization the bureau
 * released booked `reversed` whatever came first, its timeout reversal's approval or its late
 * answer, and when CyberSource refuses a reversal of it as already reversed (073, 074).
 *
 * The rows are the test's own (request ids starting with g_prefix), written as paylink-reversal
 * leaves them (a reversal marked sent, then its outcome stored) and deleted after each test; one
 * test drives paylink-auth's store and paylink-reversal's record, prepare and mark themselves
 * (their statements, prepared on g_db), and the engine's statement storing a refusal. The
 * row the auth_reversal_reask_owed trigger writes with an outcome is held by the test's resolver
 * (its lease, written in the same transaction as the outcome): the running system's
 * paylink-reversal resolvers, which take free or passed leases only, never take it, while the
 * test's resolver takes it as one of its own; so is the row paylink-reversal's store records
 * with a CyberSource 237 after a partial reversal (store_held: the same unit). The row the
 * resolver records with such an outcome, in its own transaction, is held by the test right after
 * (hold_if_owed), the outcome applied in a quiet moment. While the test's resolver passes, the rows
 * of others it could take are held (park) and given back after, so it decides on none of theirs;
 * the one row a refused publish gives back free is given back in a quiet moment (quiet()).
 */
#include <json-c/json.h>
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
#include "db.h"
#include "engine.h"
#include "it_resolver.h"
#include "it_sim_cyb.h"
#include "it_unit.h"
#include "log.h"
#include "money.h"
#include "reply.h"
#include "request.h"
#include "resolver.h"
#include "reversal.h"
#include "reversal_own.h"
#include "services.h"
#include "../unit/job_test_helpers.h"

#define COMPANY "7"
#define FINGERPRINT "encode(sha256(convert_to($1, 'UTF8')), 'hex')"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_prefix[40]; /* every request id of this run starts with it */
static char g_like[48];   /* g_prefix% */
static char g_t0[64];
static int g_seq;
static int g_quiet_ms;
static char g_own[96];          /* the test's resolver, and the lease its rows are held under */
static char g_park[96];         /* the lease others' rows are held under while the test passes */
static pl_db *g_db;             /* paylink-reversal's statements and paylink-auth's */
static pl_services *g_services; /* the bureaus, as paylink-reversal reads them */
static char g_sql_final[512];   /* the engine's pl_final of auth_reversal */

/* The row of reversal $1 in reversal_reask, if any, held by the test's resolver ($2). */
#define IT_REASK_HOLD_SQL                                                                          \
    "UPDATE reversal_reask SET lease_owner = $2, lease_until = now() + interval '1 hour' "         \
    "WHERE request_id = $1"

/* ---- the test's own connection ---------------------------------------------------------- */

static PGresult *sql(const char *q, int n, const char *const *p)
{
    PGresult *r = PQexecParams(g_admin, q, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s\n  failed: %s", q, m);
    }
    return r;
}

static void run(const char *q, int n, const char *const *p)
{
    PQclear(sql(q, n, p));
}

/* The first column of the only row of q, "" when NULL; fails unless there is exactly one. */
static void value_n(char *out, size_t outsize, const char *q, int n, const char *const *p)
{
    PGresult *r = sql(q, n, p);
    if (PQntuples(r) != 1) {
        int rows = PQntuples(r);
        PQclear(r);
        fail_msg("%s ($1 = %s): %d rows, want 1", q, n > 0 ? p[0] : "", rows);
    }
    snprintf(out, outsize, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void assert_value(const char *q, const char *param, const char *want)
{
    char v[1024];
    const char *p[] = {param};
    value_n(v, sizeof v, q, 1, p);
    if (strcmp(v, want) != 0)
        fail_msg("%s ($1 = %s)\n  is   %s\n  want %s", q, param, v, want);
}

static void cleanup(bool strict)
{
    static const char *const deletes[] = {
        "DELETE FROM reversal_reask WHERE request_id LIKE $1",
        "DELETE FROM required_response WHERE request_id LIKE $1",
        "DELETE FROM auth_reversal WHERE request_id LIKE $1",
        "DELETE FROM auth_history WHERE request_id LIKE $1",
        "DELETE FROM cc_deposit_trans WHERE request_id LIKE $1",
        "DELETE FROM cc_auth_trans WHERE request_id LIKE $1",
    };
    const char *p[] = {g_like};
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        if (strict)
            run(deletes[i], 1, p);
        else
            PQclear(PQexecParams(g_admin, deletes[i], 1, NULL, p, NULL, NULL, 0));
    }
}

/* ---- what the resolver publishes and logs ------------------------------------------------ */

typedef struct pubrec {
    bool fail; /* refuse every message */
    int calls;
    char topic[8][64];
    char key[8][64];
    char payload[8][2048];
} pubrec;

static int on_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz)
{
    pubrec *pr = arg;
    int i = pr->calls++;
    assert_true(i < 8);
    snprintf(pr->topic[i], sizeof pr->topic[i], "%s", topic);
    snprintf(pr->key[i], sizeof pr->key[i], "%s", key);
    assert_true(strlen(payload) < sizeof pr->payload[i]);
    snprintf(pr->payload[i], sizeof pr->payload[i], "%s", payload);
    if (pr->fail) {
        snprintf(err, errsz, "it: the broker refused the message");
        return -1;
    }
    return 0;
}

/* A resolver of worker's rows (paylink-auth's: an operator's outcome of an authorization). */
static pl_resolver *resolver_of(const char *worker, pubrec *pr)
{
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = worker,
                              .owner = g_own,
                              .topic_prefix = "it",
                              .ca_file = getenv("PAYLINK_CA_FILE"),
                              .publish = on_publish,
                              .publish_arg = pr};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    return r;
}

static pl_resolver *resolver(pubrec *pr)
{
    return resolver_of("reversal", pr);
}

static FILE *g_log_file;
static char g_log_text[32768];

static void log_capture(void)
{
    g_log_file = tmpfile();
    assert_non_null(g_log_file);
    pl_log_init("it_test_resolver_reask", g_log_file);
    pl_log_set_level(PL_LOG_INFO);
}

static const char *log_captured(void)
{
    pl_log_init("it_test_resolver_reask", NULL);
    pl_log_set_level(PL_LOG_WARN);
    fflush(g_log_file);
    rewind(g_log_file);
    size_t n = fread(g_log_text, 1, sizeof g_log_text - 1, g_log_file);
    g_log_text[n] = '\0';
    fclose(g_log_file);
    g_log_file = NULL;
    return g_log_text;
}

/* Whether log has a line of level (`"level":"error"`...) holding a and b (b may be NULL). */
static bool logged(const char *log, const char *level, const char *a, const char *b)
{
    char lv[32];
    snprintf(lv, sizeof lv, "\"level\":\"%s\"", level);
    for (const char *line = log; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char one[4096];
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), line);
        if (strstr(one, lv) && strstr(one, a) && (!b || strstr(one, b)))
            return true;
        line = end ? end + 1 : NULL;
    }
    return false;
}

/*
 * One pass of the test's resolver over reversal_reask (pl_resolver_reask_pass), its log lines
 * into *log: the rows of others it could take (free, or their lease passed) are held meanwhile
 * under g_park and given back after, so that it takes the test's rows only (held by g_own, or
 * one whose lease a test let pass).
 */
static int pass(pl_resolver *r, const char **log)
{
    const char *p[] = {g_park, g_like};
    run("UPDATE reversal_reask SET lease_owner = $1, lease_until = now() + interval '2 minutes' "
        "WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until < now()) "
        "AND request_id NOT LIKE $2",
        2, p);
    log_capture();
    int n = pl_resolver_reask_pass(r, 50);
    const char *text = log_captured();
    run("UPDATE reversal_reask SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        1, p);
    if (log)
        *log = text;
    return n;
}

/*
 * Waits (at most 6 s) for a moment when every paylink-reversal resolver of the running system
 * has just finished a pass: what the test does in the next g_quiet_ms is unseen by them (as
 * test_resolver.c's quiet()). Without such resolvers it returns at once.
 */
static void quiet(void)
{
    char ms[16];
    snprintf(ms, sizeof ms, "%d", g_quiet_ms);
    const char *p[] = {"paylink-reversal-resolver", g_t0, ms};
    for (int i = 0; i < 1200; i++) {
        PGresult *r = sql("SELECT count(*) = count(*) FILTER (WHERE state = 'idle' AND "
                          "clock_timestamp() - state_change BETWEEN interval '15 milliseconds' "
                          "AND make_interval(secs => $3::int / 1000.0)) "
                          "FROM pg_stat_activity WHERE application_name = $1 "
                          "AND backend_start < $2::timestamptz",
                          3, p);
        bool found = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (found)
            return;
        usleep(5000);
    }
    fprintf(stderr, "note: the reversal resolvers of the running system never paused together\n");
}

/* ---- rows ------------------------------------------------------------------------------- */

/* A new order number and request id base of this run. The number is set off from the prefix's
 * (pid and time: 11 digits and a dash) by a letter: run together, from the tenth on they made 13
 * digits, which pass Luhn one time in ten, and then the log masked the id as a card number and
 * the request decoder refused a request naming it. */
static void fresh(char *order, size_t on, char *base, size_t bn)
{
    int n = ++g_seq;
    int k = snprintf(order, on, "ITQ%05d%04d", (int)(getpid() % 100000), n % 10000);
    assert_true(k > 0 && (size_t)k < on);
    k = snprintf(base, bn, "%sn%d", g_prefix, n);
    assert_true(k > 0 && (size_t)k < bn);
}

/* A CyberSource authorization rid of order (its request, and its answer in auth_history with
 * status and amount_authorized: NULL text for none, as a reject records), its history row's id
 * into hid; transaction id tx. */
static void mk_auth(const char *rid, const char *order, const char *status, const char *authorized,
                    const char *tx, char *hid, size_t n)
{
    const char *p[] = {rid, order, status, authorized, tx};
    run("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, amount, currency, card_token, card_type, "
        "merchant_id, status, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT
        ", 'auth', 'auth', " COMPANY ", $2::text, 1, 'CYB', 120.00, 'USD', 'tok-it-reask', 'VI', "
        "'paylink_demo', CASE WHEN $3::text = 'voided' THEN 'approved' ELSE $3::text END, now(), "
        "'it-reask')",
        3, p);
    value_n(hid, n,
            "INSERT INTO auth_history (request_id, company, order_number, pay_seq, service_bureau, "
            "transaction_type, status, amount_authorized, currency, auth_number, transaction_id) "
            "VALUES ($1::text, " COMPANY ", $2::text, 1, 'CYB', 'auth', $3::text, $4::numeric, "
            "'USD', '123456', $5::text) RETURNING id::text",
            5, p);
}

/* Reversal rid of authorization auth (NULL: a manual one, named inline by tx) of order for
 * amount, as paylink-reversal leaves it marked sent (sent: else still `received`). */
static void mk_reversal(const char *rid, const char *order, const char *auth, const char *hid,
                        const char *tx, const char *amount, bool sent)
{
    const char *p[] = {rid, order, auth, hid, tx, amount, sent ? "t" : "f"};
    run("INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
        "pay_seq, service_bureau, amount, currency, auth_request_id, auth_history_id, "
        "auth_transaction_id, auth_number, auth_date, merchant_id, status, sent_at, sent_by) "
        "VALUES ($1::text, " FINGERPRINT
        ", CASE WHEN $7::boolean THEN 'reversal' ELSE '' END, " COMPANY
        ", $2::text, 1, 'CYB', $6::numeric, 'USD', $3::text, $4::bigint, $5::text, "
        "'654321', '2026-01-02', 'paylink_demo', CASE WHEN $7::boolean THEN 'sent' "
        "ELSE 'received' END, CASE WHEN $7::boolean THEN now() END, 'it-reask')",
        7, p);
}

/* The outcome of reversal rid stored as paylink-reversal stores it (status, decision, vendor
 * response), and the row the trigger writes with it held by the test's resolver in the same
 * transaction. */
static void settle(const char *rid, const char *status, const char *decision, const char *vendor)
{
    const char *p[] = {rid, status, decision, vendor, g_own};
    run("BEGIN", 0, NULL);
    run("UPDATE auth_reversal SET status = $2::text, decision = $3::text, "
        "vendor_response = $4::text, error_text = 'it: no connection after 3 attempts', "
        "reply = jsonb_build_object('request_id', $1::text, 'status', $2::text, 'message', "
        "'it: the payment service failed'), answered_at = now() WHERE request_id = $1",
        4, p);
    run("UPDATE reversal_reask SET lease_owner = $2, lease_until = now() + interval '1 hour' "
        "WHERE request_id = $1",
        2, (const char *const[]){rid, g_own});
    run("COMMIT", 0, NULL);
}

/* Its outcome stored secs ago, due now, held by the test's resolver. */
static void owed_ago(const char *rid, int secs)
{
    char s[16];
    snprintf(s, sizeof s, "%d", secs);
    run("UPDATE reversal_reask SET owed_at = now() - make_interval(secs => $2::int), "
        "due_at = now(), lease_owner = $3, lease_until = now() + interval '1 hour' "
        "WHERE request_id = $1",
        3, (const char *const[]){rid, s, g_own});
}

/* The message paylink publishes to ask reversal `id` of the authorization `of` of order for
 * amount: the bytes every publisher of paylink's reversals writes (pl_reversal_request_json). */
static void want_message(char *out, size_t n, const char *id, const char *order, const char *amount,
                         const pl_reversal_of *of)
{
    const pl_reversal_message m = {.request_id = id,
                                   .company = 7,
                                   .order = order,
                                   .pay_seq = 1,
                                   .service = "CYB",
                                   .amount = amount,
                                   .currency = "USD",
                                   .of = of};
    char *text = pl_reversal_request_json(&m);
    assert_non_null(text);
    snprintf(out, n, "%s", text);
    free(text);
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* Message i of pr is the reversal `id` of authorization auth (by request id) for amount. */
static void assert_asked(const pubrec *pr, int i, const char *id, const char *order,
                         const char *auth, const char *amount)
{
    assert_true(i < pr->calls);
    assert_string_equal(pr->topic[i], "it.reversal.request");
    char key[64];
    snprintf(key, sizeof key, "%s-%s", COMPANY, order);
    assert_string_equal(pr->key[i], key);
    json_object *o = json_tokener_parse(pr->payload[i]);
    assert_non_null(o);
    assert_string_equal(jstr(o, "request_id"), id);
    assert_string_equal(jstr(o, "type"), "reversal");
    assert_string_equal(jstr(o, "amount"), amount);
    json_object *ref;
    assert_true(json_object_object_get_ex(o, "auth_ref", &ref));
    if (auth)
        assert_string_equal(jstr(ref, "request_id"), auth);
    json_object_put(o);
    if (auth) {
        char want[2048];
        const pl_reversal_of of = {.auth_request_id = auth};
        want_message(want, sizeof want, id, order, amount, &of);
        assert_string_equal(pr->payload[i], want);
    }
}

static void assert_done(const char *rid, const char *done)
{
    assert_value("SELECT concat_ws('|', done_at IS NOT NULL, coalesce(done, '-'), "
                 "coalesce(lease_owner, '-')) FROM reversal_reask WHERE request_id = $1",
                 rid, done);
}

/* What the re-ask pass records when it told an operator of paylink's own reversal CyberSource
 * refused as already reversed while the books keep the rest (resolver.c, REASK_DONE_KEPT_REST). */
#define REASK_DONE_KEPT_REST_TEXT                                                                  \
    "refused as already reversed (237) after a reversal approved for part: told to an operator"

/* ---- paylink-reversal's own paths ------------------------------------------------------- */

/* A reversal request paylink-reversal took up (as its engine takes one up: decoded,
 * fingerprinted, a job for its bureau), recorded and prepared by its spec. */
typedef struct taken {
    pl_job job;
    int calls, err, inserted, prepared;
    char msg[256];
} taken;

static void on_taken(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    taken *t = arg;
    t->calls++;
    t->err = err;
    snprintf(t->msg, sizeof t->msg, "%s", errmsg ? errmsg : "");
    if (err)
        return;
    t->inserted = pl_db_unit_ntuples(u, 0);
    /* A new row is prepared at once (the engine's on_recorded). */
    if (t->inserted == 1)
        t->prepared = pl_reversal_spec.prepare(&t->job, u);
}

/* The request `payload` taken up by paylink-reversal, recorded (a new row) and prepared:
 * t->prepared 0 to call the bureau, 1 refused (t->job.reply says why). */
static void take(taken *t, const char *payload)
{
    memset(t, 0, sizeof *t);
    pl_errors errs = {0};
    assert_int_equal(
        pl_request_decode(payload, strlen(payload), "reversal", time(NULL), &t->job.req, &errs), 0);
    assert_int_equal(errs.n, 0);
    static const char key[] = "it-reask-fingerprint-key";
    assert_int_equal(pl_request_fingerprint(&t->job.req, key, sizeof key - 1, t->job.fingerprint,
                                            sizeof t->job.fingerprint),
                     0);
    if (t->job.req.has_amount)
        assert_int_equal(pl_money_format(t->job.req.amount, t->job.amount, sizeof t->job.amount),
                         0);
    t->job.reply = job_test_reply();
    t->job.services = g_services;
    t->job.svc = pl_services_find(g_services, t->job.req.service);
    assert_non_null(t->job.svc);
    pl_db_unit *u = pl_db_unit_new(on_taken, t);
    assert_non_null(u);
    assert_int_equal(pl_reversal_spec.record(&t->job, u), 0);
    pl_db_submit(g_db, u);
    it_drive(g_db);
    assert_int_equal(t->calls, 1);
    if (t->err != 0)
        fail_msg("%s: %s", t->job.req.request_id, t->msg);
    assert_int_equal(t->inserted, 1);
}

static void taken_free(taken *t)
{
    free(t->job.spec_data);
    t->job.spec_data = NULL;
    pl_request_free(&t->job.req);
}

/* The refusal prepare wrote to t's reply stored as the engine stores a final answer that did not
 * come from the bureau (its statement pl_final: finish_final), and the row 070's trigger writes
 * with it held by the test's resolver in the same transaction (the running system's resolvers
 * would decide on it). */
static void store_refusal(taken *t)
{
    char *reply = pl_reply_to_json(&t->job.req, t->job.reply);
    assert_non_null(reply);
    const char *p[] = {t->job.req.request_id,
                       pl_status_name(t->job.reply->status),
                       t->job.reply->vendor_response,
                       "",
                       reply,
                       "",
                       ""};
    run("BEGIN", 0, NULL);
    PGresult *res = sql(g_sql_final, 7, p);
    int n = PQntuples(res);
    PQclear(res);
    run("UPDATE reversal_reask SET lease_owner = $2, lease_until = now() + interval '1 hour' "
        "WHERE request_id = $1",
        2, (const char *const[]){t->job.req.request_id, g_own});
    run("COMMIT", 0, NULL);
    free(reply);
    assert_int_equal(n, 1);
}

/* ---- group ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    if (it_resolver_open("it_test_resolver_reask", "rrk", &g_conninfo, &g_admin, g_prefix,
                         sizeof g_prefix, g_like, sizeof g_like, g_t0, sizeof g_t0,
                         &g_quiet_ms) != 0)
        return -1;
    snprintf(g_own, sizeof g_own, "%sreask/resolver", g_prefix);
    snprintf(g_park, sizeof g_park, "%spark", g_prefix);
    static pl_db_stmt all[64]; /* pl_db keeps the array */
    size_t n = pl_reversal_spec.nstmts + pl_auth_spec.nstmts;
    if (n + 1 > sizeof all / sizeof all[0])
        return -1;
    memcpy(all, pl_reversal_spec.stmts, pl_reversal_spec.nstmts * sizeof all[0]);
    memcpy(all + pl_reversal_spec.nstmts, pl_auth_spec.stmts, pl_auth_spec.nstmts * sizeof all[0]);
    /* The test's own, added to a unit of paylink-reversal's (store_held). */
    all[n++] = (pl_db_stmt){"it_reask_hold", IT_REASK_HOLD_SQL, 2};
    char err[512] = "";
    g_db = pl_db_new(g_conninfo, all, n, err, sizeof err);
    if (!g_db) {
        fprintf(stderr, "pl_db_new: %s\n", err);
        return -1;
    }
    g_services = pl_services_load(g_admin, err, sizeof err);
    if (!g_services) {
        fprintf(stderr, "pl_services_load: %s\n", err);
        return -1;
    }
    snprintf(g_sql_final, sizeof g_sql_final, PL_ENGINE_SQL_FINAL, pl_reversal_spec.table);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_services)
        pl_services_unref(g_services);
    if (g_admin) {
        cleanup(false);
        PQfinish(g_admin);
    }
    curl_global_cleanup();
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    cleanup(true);
    return 0;
}

/* ---- the tests -------------------------------------------------------------------------- */

/*
 * A Decision Manager reject's `.rev` (its authorization records no amount authorized: the
 * request's 120.00 goes) ends `error` 150 without an answer (its connection attempts ran out):
 * the decision to ask it again is recorded with the outcome, in the same transaction. Looked at
 * at once it is not due yet (a minute after the error); once due it is asked again as
 * `<auth>.rev.again` of the same authorization for 120.00, the message every publisher of
 * paylink's reversals writes, keyed by its order, and an info line says so; once. The same for a
 * `.dmrev` of an authorization in review answered CyberSource ERROR 150, whose amount authorized
 * the order system's reversal approved for less brought from 100.00 to 70.00 since: it goes for
 * 70.00, what is held then. The same for a `.rev` of an authorization whose id is too long for
 * `.rev.again` (`again.<digits>`), for the `.vdr` of an authorization an auth+capture replaced
 * (named after the deposit, paylink-reversal's voided_by), and for the `.sdr` of a manual
 * authorization a soft-declined auth+capture made (named inline again, with the amount the `.sdr`
 * named). Before, nothing asked any of them again: only a warning was logged, and the hold stayed
 * on the card until the authorization expired.
 */
static void test_own_reversal_error_asked_again(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[5][21], auth[5][64], hid[5][24], rev[5][64], again[5][64];
    const char *log = NULL;
    /* 0: `.rev` of a reject, error without an answer. */
    char base[48];
    fresh(order[0], sizeof order[0], base, sizeof base);
    snprintf(auth[0], sizeof auth[0], "%sa", base);
    mk_auth(auth[0], order[0], "rejected", NULL, "7419661750346782300001", hid[0], sizeof hid[0]);
    pl_job_derived_request_id(auth[0], PL_DM_REVERSAL_SUFFIX, rev[0], sizeof rev[0]);
    mk_reversal(rev[0], order[0], auth[0], hid[0], "7419661750346782300001", "120.00", true);
    settle(rev[0], "error", "", "150");
    /* Recorded with the outcome, nothing decided yet. */
    assert_value("SELECT concat_ws('|', outcome, done_at IS NULL, owed_at = (SELECT answered_at "
                 "FROM auth_reversal WHERE request_id = $1)) FROM reversal_reask "
                 "WHERE request_id = $1",
                 rev[0], "error|t|t");
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    assert_value(
        "SELECT concat_ws('|', done_at IS NULL, due_at >= owed_at + interval '60 seconds', "
        "coalesce(lease_owner, '-')) FROM reversal_reask WHERE request_id = $1",
        rev[0], "t|t|-");
    owed_ago(rev[0], 61);
    assert_int_equal(pass(r, &log), 1);
    assert_int_equal(pub.calls, 1);
    pl_job_derived_request_id(rev[0], PL_REVERSAL_AGAIN_SUFFIX, again[0], sizeof again[0]);
    char want_id[80], done0[128];
    snprintf(want_id, sizeof want_id, "%s.again", rev[0]);
    assert_string_equal(again[0], want_id);
    assert_asked(&pub, 0, again[0], order[0], auth[0], "120.00");
    snprintf(done0, sizeof done0, "t|%s|-", again[0]);
    assert_done(rev[0], done0);
    if (!logged(log, "info", again[0],
                "requested for the 120.00 still held (asked again 1 of at "
                "most 3)")) {
        fprintf(stderr, "%s", log);
        fail_msg("no info line names the reversal asked again");
    }
    /* Once: decided for good. */
    owed_ago(rev[0], 61);
    assert_int_equal(pass(r, NULL), 0);
    assert_int_equal(pub.calls, 1);

    /* 1: `.dmrev` of an authorization in review, answered ERROR 150; held 70.00 since. */
    fresh(order[1], sizeof order[1], base, sizeof base);
    snprintf(auth[1], sizeof auth[1], "%sa", base);
    mk_auth(auth[1], order[1], "review", "100.00", "7419661750346782300002", hid[1], sizeof hid[1]);
    pl_job_derived_request_id(auth[1], "dmrev", rev[1], sizeof rev[1]);
    mk_reversal(rev[1], order[1], auth[1], hid[1], "7419661750346782300002", "100.00", true);
    settle(rev[1], "error", "ERROR", "150");
    run("UPDATE auth_history SET amount_authorized = 70.00 WHERE id = $1::bigint", 1,
        (const char *const[]){hid[1]});
    owed_ago(rev[1], 61);

    /* 2: an authorization id of 46 characters: `.rev` fits, `.rev.again` is hashed. */
    fresh(order[2], sizeof order[2], base, sizeof base);
    snprintf(auth[2], sizeof auth[2], "%sa", base);
    while (strlen(auth[2]) < 46)
        strcat(auth[2], "L");
    mk_auth(auth[2], order[2], "rejected", NULL, "7419661750346782300003", hid[2], sizeof hid[2]);
    pl_job_derived_request_id(auth[2], PL_DM_REVERSAL_SUFFIX, rev[2], sizeof rev[2]);
    assert_int_equal(strlen(rev[2]), 50);
    mk_reversal(rev[2], order[2], auth[2], hid[2], "7419661750346782300003", "45.00", true);
    settle(rev[2], "error", "", "150");
    owed_ago(rev[2], 61);

    /* 3: the `.vdr` of an authorization an auth+capture replaced (voided, nothing captured). */
    char dep[64];
    fresh(order[3], sizeof order[3], base, sizeof base);
    snprintf(auth[3], sizeof auth[3], "%sa", base);
    snprintf(dep, sizeof dep, "%sx", base);
    mk_auth(auth[3], order[3], "voided", "100.00", "7419661750346782300004", hid[3], sizeof hid[3]);
    run("UPDATE auth_history SET voided_by = $2, void_reason = 'auth_capture', "
        "amount_voided = 100.00 WHERE id = $1::bigint",
        2, (const char *const[]){hid[3], dep});
    pl_job_derived_request_id(dep, PL_DEPOSIT_REVERSAL_SUFFIX, rev[3], sizeof rev[3]);
    mk_reversal(rev[3], order[3], auth[3], hid[3], "7419661750346782300004", "100.00", true);
    settle(rev[3], "error", "", "150");
    owed_ago(rev[3], 61);

    /* 4: the `.sdr` of a manual authorization a soft-declined auth+capture made: no history
     * row, named inline by the transaction id the bureau gave the auth+capture. */
    char debit[64];
    fresh(order[4], sizeof order[4], base, sizeof base);
    snprintf(debit, sizeof debit, "%sd", base);
    run("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, amount, currency, card_token, merchant_id, "
        "status, deposit_status, transaction_id, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT
        ", 'debit', 'auth_capture', " COMPANY ", $2::text, 1, 'CYB', 80.00, 'USD', "
        "'tok-it-reask', 'paylink_demo', 'declined', '*RCVD', '7419661750346782300005', now(), "
        "'it-reask')",
        2, (const char *const[]){debit, order[4]});
    pl_job_derived_request_id(debit, PL_SOFT_DECLINE_REVERSAL_SUFFIX, rev[4], sizeof rev[4]);
    mk_reversal(rev[4], order[4], NULL, NULL, "7419661750346782300005", "80.00", true);
    settle(rev[4], "error", "ERROR", "150");
    owed_ago(rev[4], 61);

    pub.calls = 0;
    assert_int_equal(pass(r, &log), 4);
    assert_int_equal(pub.calls, 4);
    for (int k = 1; k < 5; k++)
        pl_job_derived_request_id(rev[k], PL_REVERSAL_AGAIN_SUFFIX, again[k], sizeof again[k]);
    assert_int_equal(strncmp(again[2], "again.", 6), 0);
    /* Published oldest first. */
    assert_asked(&pub, 0, again[1], order[1], auth[1], "70.00");
    assert_asked(&pub, 1, again[2], order[2], auth[2], "45.00");
    assert_asked(&pub, 2, again[3], order[3], auth[3], "100.00");
    assert_asked(&pub, 3, again[4], order[4], NULL, "80.00");
    const pl_reversal_of inline_of = {.transaction_id = "7419661750346782300005",
                                      .request_token = "",
                                      .number = "654321",
                                      .date = "2026-01-02",
                                      .amount = "80.00"};
    char want[2048];
    want_message(want, sizeof want, again[4], order[4], "80.00", &inline_of);
    assert_string_equal(pub.payload[3], want);
    /* paylink-reversal takes each as its own (sent whatever its Send reversal says). */
    assert_int_equal(pl_reversal_own(again[1], auth[1], "", ""), 0);
    assert_int_equal(pl_reversal_own(again[2], auth[2], "", ""), 0);
    assert_int_equal(pl_reversal_own(again[3], auth[3], dep, ""), 0);
    assert_int_equal(pl_reversal_own(again[4], "", "", debit), 0);
    for (int k = 1; k < 5; k++) {
        char done[128];
        snprintf(done, sizeof done, "t|%s|-", again[k]);
        assert_done(rev[k], done);
    }
    assert_null(strstr(log, "\"level\":\"error\""));
    pl_resolver_destroy(r);
}

/*
 * Where paylink's own reversal that ended `error` is not asked again, an error in the log names
 * the authorization and the amount for an operator, once: the third ask of its chain ended
 * `error` too (`.rev.again.again.again`); an answer that may have reversed it (one the worker
 * read otherwise than no answer or ERROR 150); a `.tor` (its required response is escalated);
 * an authorization captured since. Nothing is asked, and nothing said, for the order system's
 * reversal (it reads its reply; an id without a dot is not even recorded), nor for one whose
 * authorization is reversed since. Before, each of these was a warning at most, and the chain
 * had no end to reach.
 */
static void test_not_asked_again(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    enum { N = 7 };
    char order[N][21], auth[N][64], hid[N][24], rev[N][80], base[48];
    for (int k = 0; k < N; k++) {
        fresh(order[k], sizeof order[k], base, sizeof base);
        snprintf(auth[k], sizeof auth[k], "%sa", base);
        mk_auth(auth[k], order[k], "approved", "100.00", "7419661750346782300010", hid[k],
                sizeof hid[k]);
    }
    /* 0: the third ask, ended `error` again. */
    char id[80];
    pl_job_derived_request_id(auth[0], PL_DM_REVERSAL_SUFFIX, id, sizeof id);
    for (int i = 0; i < PL_REVERSAL_MAX_AGAIN; i++) {
        pl_job_derived_request_id(id, PL_REVERSAL_AGAIN_SUFFIX, rev[0], sizeof rev[0]);
        snprintf(id, sizeof id, "%s", rev[0]);
    }
    /* 1: an answer that may have acted. 2: a `.tor`. 3: captured since. 4: reversed since.
     * 5: the order system's (a dot in its id). */
    pl_job_derived_request_id(auth[1], PL_DM_REVERSAL_SUFFIX, rev[1], sizeof rev[1]);
    pl_job_derived_request_id(auth[2], PL_TIMEOUT_REVERSAL_SUFFIX, rev[2], sizeof rev[2]);
    pl_job_derived_request_id(auth[3], PL_DM_REVERSAL_SUFFIX, rev[3], sizeof rev[3]);
    pl_job_derived_request_id(auth[4], PL_DM_REVERSAL_SUFFIX, rev[4], sizeof rev[4]);
    snprintf(rev[5], sizeof rev[5], "%s.cancel", auth[5]);
    /* 6: the order system's, without a dot in its id. */
    snprintf(rev[6], sizeof rev[6], "%sc", auth[6]);
    for (int k = 0; k < N; k++) {
        mk_reversal(rev[k], order[k], auth[k], hid[k], "7419661750346782300010", "100.00", true);
        settle(rev[k], "error", k == 1 ? "SOMETHING" : "", k == 1 ? "999" : "150");
        if (k < 6)
            owed_ago(rev[k], 3600);
    }
    assert_value("SELECT count(*)::text FROM reversal_reask WHERE request_id = $1", rev[6], "0");
    run("UPDATE auth_history SET amount_deposited = 30.00 WHERE id = $1::bigint", 1,
        (const char *const[]){hid[3]});
    run("UPDATE auth_history SET status = 'reversed' WHERE id = $1::bigint", 1,
        (const char *const[]){hid[4]});
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    static const char *const why[] = {"it was asked again 3 times already",
                                      "its answer (SOMETHING 999) may have reversed it",
                                      "a timeout reversal", "its authorization was captured since"};
    for (int k = 0; k < 4; k++) {
        if (!logged(log, "error", auth[k], why[k]) ||
            !logged(log, "error", auth[k],
                    "the 100.00 it was to release may still be held, and "
                    "an operator must see that it is released")) {
            fprintf(stderr, "%s", log);
            fail_msg("no error line names authorization %s and why (%s)", auth[k], why[k]);
        }
        char done[128];
        snprintf(done, sizeof done, "t|%s|-", why[k]);
        if (k == 2)
            assert_value("SELECT concat_ws('|', done_at IS NOT NULL, done LIKE 'a timeout "
                         "reversal%') FROM reversal_reask WHERE request_id = $1",
                         rev[k], "t|t");
        else
            assert_done(rev[k], done);
    }
    assert_done(rev[4], "t|the authorization is reversed|-");
    assert_done(rev[5], "t|not paylink's own reversal: its sender reads its reply|-");
    assert_false(logged(log, "error", auth[4], NULL));
    assert_false(logged(log, "error", auth[5], NULL));
    /* Once: decided for good. */
    assert_int_equal(pass(r, &log), 0);
    assert_false(logged(log, "error", "", NULL));
    pl_resolver_destroy(r);
}

/*
 * While another claim on the authorization is in flight (a capture, or another reversal),
 * paylink-reversal would refuse the reversal asked again: it waits, and goes once the claim has
 * ended. One asked again that paylink-reversal refused without a call all the same (the claim
 * began in between) is recorded as one that ended `error` is (069's trigger: `.again`, declined,
 * never sent) and asked again in turn, after the next delay (5 minutes) — unless its
 * authorization is reversed since (a refusal as already reversed: nothing held, nothing said).
 * The order system's reversal refused is left to its sender.
 */
static void test_claim_in_flight(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], base[48], auth[64], hid[24], rev[64], again[64], again2[64];
    fresh(order, sizeof order, base, sizeof base);
    snprintf(auth, sizeof auth, "%sa", base);
    mk_auth(auth, order, "approved", "100.00", "7419661750346782300020", hid, sizeof hid);
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    mk_reversal(rev, order, auth, hid, "7419661750346782300020", "100.00", true);
    settle(rev, "error", "", "150");
    owed_ago(rev, 61);
    run("UPDATE auth_history SET amount_pending = 40.00 WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    assert_int_equal(pass(r, NULL), 0);
    assert_int_equal(pub.calls, 0);
    assert_value("SELECT concat_ws('|', done_at IS NULL, due_at >= owed_at + interval '121 "
                 "seconds') FROM reversal_reask WHERE request_id = $1",
                 rev, "t|t");
    /* The claim ended (declined: nothing captured). */
    run("UPDATE auth_history SET amount_pending = 0 WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    owed_ago(rev, 120);
    assert_int_equal(pass(r, NULL), 1);
    pl_job_derived_request_id(rev, PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    assert_asked(&pub, 0, again, order, auth, "100.00");

    /* paylink-reversal refused it without a call (a claim began in between). */
    mk_reversal(again, order, auth, hid, "7419661750346782300020", "100.00", false);
    settle(again, "declined", "", "");
    assert_value("SELECT outcome FROM reversal_reask WHERE request_id = $1", again, "declined");
    owed_ago(again, 290);
    assert_int_equal(pass(r, NULL), 0); /* 5 minutes after the refusal */
    owed_ago(again, 301);
    assert_int_equal(pass(r, NULL), 1);
    pl_job_derived_request_id(again, PL_REVERSAL_AGAIN_SUFFIX, again2, sizeof again2);
    assert_asked(&pub, 1, again2, order, auth, "100.00");
    /* The next refused as already reversed: nothing held. */
    mk_reversal(again2, order, auth, hid, "7419661750346782300020", "100.00", false);
    run("UPDATE auth_history SET status = 'reversed' WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    settle(again2, "declined", "", "237");
    owed_ago(again2, 3600);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 2);
    assert_done(again2, "t|the authorization is reversed|-");
    assert_false(logged(log, "error", auth, NULL));
    /* The order system's reversal refused: recorded (the trigger tells paylink's own by the dot
     * in its id only, 070), and left to its sender. */
    char upstream[64];
    snprintf(upstream, sizeof upstream, "%s.cancel", base);
    mk_reversal(upstream, order, auth, hid, "7419661750346782300020", "100.00", false);
    settle(upstream, "declined", "", "237");
    owed_ago(upstream, 3600);
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 2);
    assert_done(upstream, "t|not paylink's own reversal: its sender reads its reply|-");
    assert_false(logged(log, "error", auth, NULL));
    pl_resolver_destroy(r);
}

/*
 * The decision survives whoever made it: the row written with the outcome is taken up by a
 * resolver after one that took it died before publishing (its lease passed), and a publish
 * Kafka refuses gives it back, still owed, for the next pass; the one asked again found recorded
 * by paylink-reversal already (published before a crash kept the resolver from marking it) is
 * not published a second time.
 */
static void test_decision_survives(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], base[48], auth[64], hid[24], rev[64], again[64];
    fresh(order, sizeof order, base, sizeof base);
    snprintf(auth, sizeof auth, "%sa", base);
    mk_auth(auth, order, "rejected", NULL, "7419661750346782300030", hid, sizeof hid);
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    pl_job_derived_request_id(rev, PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    mk_reversal(rev, order, auth, hid, "7419661750346782300030", "120.00", true);
    settle(rev, "error", "", "150");
    /* A resolver took it and died: its lease passes (in a quiet moment of the running system's
     * resolvers, which would take it up too). Kafka refuses it: given back, owed, and held by
     * the test again at once. */
    pub.fail = true;
    quiet();
    run("UPDATE reversal_reask SET owed_at = now() - interval '2 minutes', due_at = now(), "
        "lease_owner = 'it-dead/resolver', lease_until = now() - interval '1 second' "
        "WHERE request_id = $1",
        1, (const char *const[]){rev});
    assert_int_equal(pass(r, NULL), 0);
    owed_ago(rev, 120);
    assert_int_equal(pub.calls, 1);
    assert_value("SELECT (done_at IS NULL)::text FROM reversal_reask WHERE request_id = $1", rev,
                 "true");
    pub.fail = false;
    assert_int_equal(pass(r, NULL), 1);
    assert_int_equal(pub.calls, 2);
    assert_asked(&pub, 1, again, order, auth, "120.00");
    assert_string_equal(pub.payload[0], pub.payload[1]);
    char done[128];
    snprintf(done, sizeof done, "t|%s|-", again);
    assert_done(rev, done);

    /* Published, then the resolver died before the mark; paylink-reversal recorded it. */
    run("UPDATE reversal_reask SET done_at = NULL, done = NULL WHERE request_id = $1", 1,
        (const char *const[]){rev});
    owed_ago(rev, 120);
    mk_reversal(again, order, auth, hid, "7419661750346782300030", "120.00", true);
    assert_int_equal(pass(r, NULL), 0);
    assert_int_equal(pub.calls, 2);
    assert_done(rev, done);
    pl_resolver_destroy(r);
}

/* ---- a bureau unusable in the resolver's configuration ---------------------------------- */

/* The variable CYB's secret reference names (file-env:NAME or env:NAME), its value before the
 * test changed it, and whether it had one (restore_secret_env puts it back). */
static char g_env_name[256];
static char g_env_saved[1024];
static bool g_env_had, g_env_changed;

static void restore_secret_env(void)
{
    if (!g_env_changed)
        return;
    if (g_env_had)
        setenv(g_env_name, g_env_saved, 1);
    else
        unsetenv(g_env_name);
    memset(g_env_saved, 0, sizeof g_env_saved); /* (an env: reference's value is the secret) */
    g_env_changed = false;
}

static int test_teardown_env(void **state)
{
    restore_secret_env();
    return test_teardown(state);
}

/* Whether CYB is usable in a configuration this process loads now (its secret resolved here,
 * as a resolver's own load resolves it); its secret_error into why. */
static bool cyb_usable_here(char *why, size_t whysz)
{
    char err[256] = "";
    pl_services *s = pl_services_load(g_admin, err, sizeof err);
    if (!s)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(s, "CYB");
    assert_non_null(cyb);
    bool usable = cyb->secret_ok;
    snprintf(why, whysz, "%s", cyb->secret_error);
    pl_services_unref(s);
    return usable;
}

/*
 * paylink's own reversal whose bureau is unusable in the resolver's configuration — its secret
 * unreadable under the reference configured (here the file CYB's reference names, through a
 * variable of this process, points where there is none, as when a refresh brings a changed
 * reference that cannot be read; the External Service flag switched off is alike): paylink-reversal
 * would refuse `.again` unsent, `error`, so the resolver spends none of the three asks on it. It
 * keeps the row, looks again a minute later, and says so once at warn (the bureau, the
 * authorization, the amount), not at every pass; once the bureau can be used again (a resolver
 * whose configuration reads the secret) `.rev.again` is asked at once, the first of three. One
 * whose bureau stayed unusable over 24 hours past its delay is told to an operator with the usual
 * error line and closed. Before, each ask went while the bureau was unusable and was refused;
 * after the third an error was logged and the row closed, the hold left until the authorization
 * expired.
 */
static void test_unusable_bureau_waited_for(void **state)
{
    (void)state;
    char ref[256], why[256];
    value_n(ref, sizeof ref, "SELECT secret_ref FROM auth_service WHERE service_bureau = 'CYB'", 0,
            NULL);
    const char *name = strncmp(ref, "file-env:", 9) == 0 ? ref + 9
                       : strncmp(ref, "env:", 4) == 0    ? ref + 4
                                                         : NULL;
    if (!name || !cyb_usable_here(why, sizeof why)) {
        fprintf(stderr,
                "note: CYB's secret (%s) is not read through a variable of this process, or "
                "cannot be read here (%s): skipped\n",
                ref, name ? why : "");
        skip();
    }
    snprintf(g_env_name, sizeof g_env_name, "%s", name);
    const char *was = getenv(g_env_name);
    g_env_had = was != NULL;
    snprintf(g_env_saved, sizeof g_env_saved, "%s", was ? was : "");
    g_env_changed = true;
    /* A file that is not there (file-env:), or no value at all (env:). */
    if (strncmp(ref, "file-env:", 9) == 0)
        setenv(g_env_name, "/nonexistent/it-reask/cyb.key", 1);
    else
        unsetenv(g_env_name);
    assert_false(cyb_usable_here(why, sizeof why));

    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[2][21], base[48], auth[2][64], hid[2][24], rev[2][64], again[64];
    for (int k = 0; k < 2; k++) {
        fresh(order[k], sizeof order[k], base, sizeof base);
        snprintf(auth[k], sizeof auth[k], "%sa", base);
        mk_auth(auth[k], order[k], "rejected", NULL,
                k ? "7419661750346782300101" : "7419661750346782300100", hid[k], sizeof hid[k]);
        pl_job_derived_request_id(auth[k], PL_DM_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        mk_reversal(rev[k], order[k], auth[k], hid[k],
                    k ? "7419661750346782300101" : "7419661750346782300100", "120.00", true);
        /* As the engine answers one whose bureau is unusable: `error`, no answer. */
        settle(rev[k], "error", "", "");
    }
    /* 0: due now. 1: due since over 24 hours. */
    owed_ago(rev[0], 61);
    owed_ago(rev[1], 61 + 24 * 3600 + 5);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    /* 0 waits, said once at warn, no error. */
    assert_value("SELECT concat_ws('|', done_at IS NULL, due_at > now() + interval '30 seconds', "
                 "coalesce(lease_owner, '-'), done LIKE 'waits for bureau CYB to become usable%') "
                 "FROM reversal_reask WHERE request_id = $1",
                 rev[0], "t|t|-|t");
    if (!logged(log, "warn", auth[0], "bureau CYB is unusable") ||
        !logged(log, "warn", auth[0], "the 120.00 it is to release")) {
        fprintf(stderr, "%s", log);
        fail_msg("no warn line says the reversal of %s waits for CYB", auth[0]);
    }
    assert_false(logged(log, "error", auth[0], NULL));
    /* 1 is told to an operator and closed. */
    if (!logged(log, "error", auth[1], "its bureau CYB stayed unusable over 24 hours") ||
        !logged(log, "error", auth[1],
                "the 120.00 it was to release may still be held, and an operator must see that "
                "it is released")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line tells an operator of the reversal of %s", auth[1]);
    }
    assert_value("SELECT concat_ws('|', done_at IS NOT NULL, done LIKE 'its bureau CYB stayed "
                 "unusable over 24 hours%', coalesce(lease_owner, '-')) FROM reversal_reask "
                 "WHERE request_id = $1",
                 rev[1], "t|t|-");

    /* Looked at again while still unusable: no ask, nothing said again. */
    owed_ago(rev[0], 121);
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    assert_false(logged(log, "warn", auth[0], NULL));
    assert_false(logged(log, "error", auth[0], NULL));
    assert_value("SELECT (done_at IS NULL)::text FROM reversal_reask WHERE request_id = $1", rev[0],
                 "true");
    pl_resolver_destroy(r);

    /* Usable again (a resolver whose configuration reads the secret): asked at once, the first
     * of its three asks. */
    restore_secret_env();
    assert_true(cyb_usable_here(why, sizeof why));
    r = resolver(&pub);
    owed_ago(rev[0], 181);
    assert_int_equal(pass(r, &log), 1);
    assert_int_equal(pub.calls, 1);
    pl_job_derived_request_id(rev[0], PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    assert_asked(&pub, 0, again, order[0], auth[0], "120.00");
    char done[128];
    snprintf(done, sizeof done, "t|%s|-", again);
    assert_done(rev[0], done);
    if (!logged(log, "info", again, "(asked again 1 of at most 3)")) {
        fprintf(stderr, "%s", log);
        fail_msg("no info line names the reversal asked again");
    }
    assert_false(logged(log, "error", auth[0], NULL));
    pl_resolver_destroy(r);
}

/*
 * paylink's own reversal whose bureau is no longer configured (removed from auth_service since it
 * was sent; ITGONE, which the running system does not know) is treated as one whose bureau is
 * unusable: not asked (paylink-reversal would refuse the `.again` as naming an unknown service
 * bureau and record nothing, so the chain ended there, the hold left and nobody told), waiting,
 * said once at warn (the bureau not configured, the authorization, the amount), and told to an
 * operator once it is so a day past its delay. Before, it was asked as `.again` at once.
 * So too one whose answer was CyberSource's ERROR 150 (2), and one of a soft-declined
 * authorization (3): with no bureau configured the facts carry no protocol, and read so by
 * CyberSource's rules the first was closed at once as one whose answer may have reversed it,
 * the second as one of an authorization never approved — the hold left, the line misleading,
 * and nothing asked once the bureau was configured again. Configured again (its code back), both
 * are asked (when CYB can be used here).
 */
static void test_unconfigured_bureau_waited_for(void **state)
{
    (void)state;
    assert_value("SELECT count(*)::text FROM auth_service WHERE service_bureau = $1", "ITGONE",
                 "0");
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[4][21], base[48], auth[4][64], hid[4][24], rev[4][64], tx[4][32];
    for (int k = 0; k < 4; k++) {
        fresh(order[k], sizeof order[k], base, sizeof base);
        snprintf(auth[k], sizeof auth[k], "%sa", base);
        snprintf(tx[k], sizeof tx[k], "741966175034678230011%d", k);
        mk_auth(auth[k], order[k], k == 3 ? "declined" : "rejected", NULL, tx[k], hid[k],
                sizeof hid[k]);
        if (k == 3)
            /* A CyberSource soft decline (230): the issuer holds the amount. */
            run("UPDATE auth_history SET vendor_response = '230' WHERE id = $1::bigint", 1,
                (const char *const[]){hid[k]});
        pl_job_derived_request_id(auth[k], PL_DM_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        mk_reversal(rev[k], order[k], auth[k], hid[k], tx[k], "120.00", true);
        run("UPDATE auth_reversal SET service_bureau = 'ITGONE' WHERE request_id = $1", 1,
            (const char *const[]){rev[k]});
        if (k == 2)
            /* CyberSource's general failure: refused before any processing. */
            settle(rev[k], "error", "ERROR", "150");
        else
            /* Its connection attempts ran out: no answer. */
            settle(rev[k], "error", "", "150");
    }
    /* 0, 2, 3: due now. 1: due since over 24 hours. */
    owed_ago(rev[0], 61);
    owed_ago(rev[1], 61 + 24 * 3600 + 5);
    owed_ago(rev[2], 61);
    owed_ago(rev[3], 61);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    for (int k = 0; k < 4; k++) {
        if (k == 1)
            continue;
        assert_value("SELECT concat_ws('|', done_at IS NULL, due_at > now() + interval '30 "
                     "seconds', coalesce(lease_owner, '-'), done LIKE 'waits for bureau ITGONE to "
                     "become usable: no service bureau ITGONE is configured%') "
                     "FROM reversal_reask WHERE request_id = $1",
                     rev[k], "t|t|-|t");
        if (!logged(log, "warn", auth[k], "its bureau ITGONE is not configured") ||
            !logged(log, "warn", auth[k], "the 120.00 it is to release")) {
            fprintf(stderr, "%s", log);
            fail_msg("no warn line says the reversal of %s waits for ITGONE", auth[k]);
        }
        assert_false(logged(log, "error", auth[k], NULL));
    }
    if (!logged(log, "error", auth[1], "its bureau ITGONE stayed unconfigured over 24 hours") ||
        !logged(log, "error", auth[1],
                "the 120.00 it was to release may still be held, and an operator must see that "
                "it is released")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line tells an operator of the reversal of %s", auth[1]);
    }
    assert_value("SELECT concat_ws('|', done_at IS NOT NULL, done LIKE 'its bureau ITGONE stayed "
                 "unconfigured over 24 hours%', coalesce(lease_owner, '-')) FROM reversal_reask "
                 "WHERE request_id = $1",
                 rev[1], "t|t|-");
    /* Looked at again while still not configured: no ask, nothing said again. */
    owed_ago(rev[0], 121);
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    assert_false(logged(log, "warn", auth[0], NULL));
    assert_false(logged(log, "error", auth[0], NULL));
    assert_value("SELECT (done_at IS NULL)::text FROM reversal_reask WHERE request_id = $1", rev[0],
                 "true");

    /* Its code back (CYB, as configured here): 2 and 3 are asked, the first of their asks. */
    char why[256];
    if (!cyb_usable_here(why, sizeof why)) {
        fprintf(stderr,
                "note: CYB cannot be used here (%s): the asks once configured again are "
                "not checked\n",
                why);
        pl_resolver_destroy(r);
        return;
    }
    for (int k = 2; k < 4; k++) {
        run("UPDATE auth_reversal SET service_bureau = 'CYB' WHERE request_id = $1", 1,
            (const char *const[]){rev[k]});
        owed_ago(rev[k], 121);
    }
    assert_int_equal(pass(r, &log), 2);
    assert_int_equal(pub.calls, 2);
    for (int k = 2; k < 4; k++) {
        char again[64], done[128];
        pl_job_derived_request_id(rev[k], PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
        int i = strstr(pub.payload[0], again) ? 0 : 1;
        assert_asked(&pub, i, again, order[k], auth[k], "120.00");
        snprintf(done, sizeof done, "t|%s|-", again);
        assert_done(rev[k], done);
        assert_false(logged(log, "error", auth[k], NULL));
    }
    pl_resolver_destroy(r);
}

/*
 * A secret file that becomes unreadable after the worker started, its reference unchanged: the
 * engine keeps the secret it read (pl_services_carry) and goes on sending, so the resolver must
 * find the bureau usable too. It reads the settings when it is made (pl_resolver_new), as the
 * worker does at start-up, and carries from those: read first at its first pass, after the file
 * became unreadable, it found CYB unusable and held the reversal for a day.
 */
static void test_secret_lost_after_start_asked(void **state)
{
    (void)state;
    char ref[256], why[256];
    value_n(ref, sizeof ref, "SELECT secret_ref FROM auth_service WHERE service_bureau = 'CYB'", 0,
            NULL);
    const char *name = strncmp(ref, "file-env:", 9) == 0 ? ref + 9 : NULL;
    if (!name || !cyb_usable_here(why, sizeof why)) {
        fprintf(stderr,
                "note: CYB's secret (%s) is not read from a file a variable of this process "
                "names, or cannot be read here: skipped\n",
                ref);
        skip();
    }
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub); /* made while the secret file can be read */
    snprintf(g_env_name, sizeof g_env_name, "%s", name);
    const char *was = getenv(g_env_name);
    g_env_had = was != NULL;
    snprintf(g_env_saved, sizeof g_env_saved, "%s", was ? was : "");
    g_env_changed = true;
    setenv(g_env_name, "/nonexistent/it-reask/cyb.key", 1);
    assert_false(cyb_usable_here(why, sizeof why));

    char order[21], base[48], auth[64], hid[24], rev[64], again[64];
    fresh(order, sizeof order, base, sizeof base);
    snprintf(auth, sizeof auth, "%sa", base);
    mk_auth(auth, order, "rejected", NULL, "7419661750346782300102", hid, sizeof hid);
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    mk_reversal(rev, order, auth, hid, "7419661750346782300102", "120.00", true);
    settle(rev, "error", "", "");
    owed_ago(rev, 61);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 1);
    assert_int_equal(pub.calls, 1);
    pl_job_derived_request_id(rev, PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    assert_asked(&pub, 0, again, order, auth, "120.00");
    if (logged(log, "warn", auth, "bureau CYB is unusable")) {
        fprintf(stderr, "%s", log);
        fail_msg("the reversal of %s waited for CYB, which the engine still uses", auth);
    }
    pl_resolver_destroy(r);
}

/*
 * Authorization auth (fresh, of order) of 100.00 with no answer (its row `unknown`), and its
 * timeout reversal tor as paylink-reversal marks one: sent, naming auth, no history row.
 */
static void unknown_auth_with_tor(char *order, size_t on, char *auth, char *tor)
{
    char base[48];
    fresh(order, on, base, sizeof base);
    snprintf(auth, 64, "%sa", base);
    run("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, amount, currency, card_token, card_type, "
        "merchant_id, status, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT
        ", 'auth', 'auth', " COMPANY ", $2::text, 1, 'CYB', 100.00, 'USD', 'tok-it-reask', 'VI', "
        "'paylink_demo', 'unknown', now() - interval '1 hour', 'it-reask')",
        2, (const char *const[]){auth, order});
    pl_job_derived_request_id(auth, PL_TIMEOUT_REVERSAL_SUFFIX, tor, 64);
    run("INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
        "pay_seq, service_bureau, amount, currency, auth_request_id, merchant_id, status, "
        "sent_at, sent_by) VALUES ($1::text, " FINGERPRINT ", 'reversal', " COMPANY
        ", $2::text, 1, 'CYB', 100.00, 'USD', $3::text, 'paylink_demo', 'sent', now(), "
        "'it-reask')",
        3, (const char *const[]){tor, order, auth});
}

/*
 * The late answer of CyberSource authorization auth (asked 100.00), as paylink-auth's store
 * records it (its statements, in one unit): status with decision, reasonCode vendor and
 * ccAuthReply's reasonCode auth_reason (with its amount held, 0 for none), transaction id tx.
 */
static void store_late_answer(const char *auth, const char *tx, pl_status status,
                              const char *decision, const char *vendor, const char *auth_reason,
                              int64_t held)
{
    static pl_bureau_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.decision, sizeof res.decision, "%s", decision);
    snprintf(res.reason_code, sizeof res.reason_code, "%s", vendor);
    snprintf(res.service_reason_code, sizeof res.service_reason_code, "%s", auth_reason);
    res.has_amount = held > 0;
    res.amount = held;
    static pl_job late;
    memset(&late, 0, sizeof late);
    snprintf(late.req.request_id, sizeof late.req.request_id, "%.50s", auth);
    late.req.type = PL_REQ_AUTH;
    late.req.has_amount = true;
    late.req.amount = 10000;
    late.services = g_services;
    late.svc = pl_services_find(g_services, "CYB");
    assert_non_null(late.svc);
    late.res = &res;
    late.call.op = PL_OP_AUTH;
    static pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = status;
    snprintf(rep.decision, sizeof rep.decision, "%s", decision);
    snprintf(rep.vendor_response, sizeof rep.vendor_response, "%s", vendor);
    snprintf(rep.auth.transaction_id, sizeof rep.auth.transaction_id, "%s", tx);
    late.reply = &rep;
    static char json[] = "{\"v\":1}";
    late.reply_json = json;
    assert_int_equal(run_unit(g_db, pl_auth_spec.store, &late), 1);
}

/*
 * Authorization auth (fresh, of order) of 100.00 had no answer; its timeout reversal tor (as
 * paylink-reversal marks one: sent, naming auth, no history row) is in flight when its late answer
 * comes, a Decision Manager reject of a partial approval (ccAuthReply 110 for 60.00, transaction
 * id tx), which paylink-auth's store records (the issuer holds 60.00). The reject's `.rev` (rev)
 * for the 60.00, taken up by paylink-reversal (t), is refused without a call (a timeout reversal
 * is in flight), its log saying it is asked again, and the engine's store of the refusal records
 * it in reversal_reask (070's trigger), held by the test's resolver.
 */
static void rev_beside_tor(const char *tx, char *order, size_t on, char *auth, char *tor, char *rev,
                           taken *t)
{
    unknown_auth_with_tor(order, on, auth, tor);
    /* The late answer, as paylink-auth stores it. */
    store_late_answer(auth, tx, PL_ST_REJECTED, "REJECT", "481", "110", 6000);
    assert_value("SELECT concat_ws('|', status, issuer_authorized, amount_issuer_held, "
                 "amount_pending) FROM auth_history WHERE request_id = $1",
                 auth, "rejected|t|60.00|0.00");

    /* The reject's `.rev`, as paylink-auth publishes it (for ccAuthReply's amount). */
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, 64);
    char payload[2048];
    const pl_reversal_of of = {.auth_request_id = auth};
    want_message(payload, sizeof payload, rev, order, "60.00", &of);
    log_capture();
    take(t, payload);
    const char *log = log_captured();
    assert_int_equal(t->prepared, 1);
    assert_int_equal(t->job.reply->status, PL_ST_DECLINED);
    assert_non_null(strstr(t->job.reply->message, "timeout reversal"));
    if (!logged(log, "warn", auth, "resolver asks for it again once it can go")) {
        fprintf(stderr, "%s", log);
        fail_msg("no line says the refused %s is asked again", rev);
    }
    assert_false(logged(log, "error", auth, NULL));
    store_refusal(t);
    assert_value("SELECT concat_ws('|', r.status, r.sent_at IS NULL, k.outcome, "
                 "k.done_at IS NULL) FROM auth_reversal r JOIN reversal_reask k "
                 "ON k.request_id = r.request_id WHERE r.request_id = $1",
                 rev, "declined|t|declined|t");
}

/*
 * Authorization A's `A.rev` for the 60.00 the issuer holds, refused beside A's timeout reversal
 * (rev_beside_tor). The resolver waits while the timeout reversal is sent or unknown; once
 * CyberSource has refused that one (above the 60.00 held), it asks `A.rev.again` for the 60.00,
 * which paylink-reversal takes as paylink's own, sends for what the issuer holds, and claims.
 * Before, the `.rev`'s refusal was final (069 recorded a
 * `.again`'s only) and the 60.00 stayed held until the authorization expired; and the resolver
 * waited on claims only, so a `.again` refused beside a timeout reversal was asked again at once,
 * refused each time, its three asks spent while the timeout reversal lasted.
 */
static void test_refused_beside_a_timeout_reversal(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], auth[64], tor[64], rev[64], again[64], got[128];
    static const char tx[] = "7419661750346782300040";
    static taken t, t2;
    rev_beside_tor(tx, order, sizeof order, auth, tor, rev, &t);
    const char *log = NULL;

    /* Not due yet; then due, while the timeout reversal is sent, and unknown: it waits. */
    assert_int_equal(pass(r, NULL), 0);
    owed_ago(rev, 61);
    assert_int_equal(pass(r, NULL), 0);
    assert_int_equal(pub.calls, 0);
    assert_value("SELECT concat_ws('|', done_at IS NULL, due_at > now() + interval '30 seconds') "
                 "FROM reversal_reask WHERE request_id = $1",
                 rev, "t|t");
    run("UPDATE auth_reversal SET status = 'unknown' WHERE request_id = $1", 1,
        (const char *const[]){tor});
    owed_ago(rev, 61);
    assert_int_equal(pass(r, NULL), 0);
    assert_int_equal(pub.calls, 0);

    /* CyberSource refuses the timeout reversal above the 60.00 held, as paylink-reversal stores
     * its answer. */
    it_unit_rec u;
    it_submit(g_db, "rev_store", 9,
              (const char *const[]){tor, "declined", "REJECT", "102", NULL, "", "", "", "{}"}, NULL,
              &u);
    it_drive(g_db);
    assert_int_equal(u.err, 0);
    assert_int_equal(u.ntuples, 1);
    owed_ago(rev, 121);
    assert_int_equal(pass(r, &log), 1);
    assert_int_equal(pub.calls, 1);
    pl_job_derived_request_id(rev, PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    assert_asked(&pub, 0, again, order, auth, "60.00");
    snprintf(got, sizeof got, "t|%s|-", again);
    assert_done(rev, got);
    assert_false(logged(log, "error", auth, NULL));

    /* paylink-reversal takes it as paylink's own, for what the issuer holds, and claims. */
    take(&t2, pub.payload[0]);
    assert_int_equal(t2.prepared, 0);
    assert_int_equal(t2.job.call.op, PL_OP_AUTH_REVERSAL);
    assert_int_equal(t2.job.call.amount, 6000);
    assert_string_equal(t2.job.call.ref_request_id, tx);
    snprintf(t2.job.op_name, sizeof t2.job.op_name, "%s", pl_bureau_op_name(t2.job.call.op));
    snprintf(t2.job.attempt, sizeof t2.job.attempt, "it-reask/1");
    assert_int_equal(run_unit(g_db, pl_reversal_spec.mark_sent, &t2.job), 1);
    assert_value("SELECT concat_ws('|', status, amount_pending, amount_issuer_held) "
                 "FROM auth_history WHERE request_id = $1",
                 auth, "rejected|0.01|60.00");
    taken_free(&t);
    taken_free(&t2);
    pl_resolver_destroy(r);
}

/*
 * A's `A.rev` refused beside A's timeout reversal (rev_beside_tor), and CyberSource approves the
 * timeout reversal, as paylink-reversal stores its answer: it released A whole, and A's history
 * row (the late reject, the issuer holding 60.00) is booked `reversed`, as every approved reversal
 * books its authorization (migration 073). The resolver then finds A reversed and asks nothing,
 * says nothing; a reversal of A taken up by paylink-reversal now is refused as already reversed
 * (237) without a call. Before, a timeout reversal (which claims no history row) booked nothing:
 * the row stayed `rejected`, and `A.rev.again` was asked and sent, for CyberSource to refuse it as
 * already reversed (237), the books saying held what was released.
 */
static void test_timeout_reversal_approved_books_reversed(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], auth[64], tor[64], rev[64], again[64];
    static taken t, t2;
    rev_beside_tor("7419661750346782300045", order, sizeof order, auth, tor, rev, &t);
    it_unit_rec u;
    it_submit(g_db, "rev_store", 9,
              (const char *const[]){tor, "approved", "ACCEPT", "100", "100.00",
                                    "7419661750346782399045", "", "", "{}"},
              NULL, &u);
    it_drive(g_db);
    assert_int_equal(u.err, 0);
    assert_int_equal(u.ntuples, 1);
    assert_value("SELECT concat_ws('|', status, amount_pending, amount_issuer_held) "
                 "FROM auth_history WHERE request_id = $1",
                 auth, "reversed|0.00|60.00");
    owed_ago(rev, 121);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    assert_done(rev, "t|the authorization is reversed|-");
    assert_false(logged(log, "error", auth, NULL));
    /* Asked all the same (a copy published before), it goes nowhere. */
    pl_job_derived_request_id(rev, PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    char payload[2048];
    const pl_reversal_of of = {.auth_request_id = auth};
    want_message(payload, sizeof payload, again, order, "60.00", &of);
    take(&t2, payload);
    assert_int_equal(t2.prepared, 1);
    assert_string_equal(t2.job.reply->vendor_response, "237");
    taken_free(&t);
    taken_free(&t2);
    pl_resolver_destroy(r);
}

/*
 * paylink's own reversals refused without a call otherwise, as the engine leaves them (declined,
 * never sent): one refused while a capture of its authorization was in flight waits for it and,
 * that capture approved, is told to an operator (captured since); one refused each time for a
 * claim in flight that has ended by the time it is decided on (another one began in between, each
 * time) is asked again 1, 5 and 30 minutes after each refusal, three times, and then told to an
 * operator: it never loops. Before, the first refusal of each was final (an info line, the hold
 * left on the card). (One refused for a reason that never changes is told at once:
 * test_refused_for_good_told_at_once.)
 */
static void test_refused_asked_at_most_three_times(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    const char *log = NULL;
    /* Refused while a capture of 40.00 was in flight. */
    char order[21], base[48], auth[64], hid[24], rev[64];
    fresh(order, sizeof order, base, sizeof base);
    snprintf(auth, sizeof auth, "%sa", base);
    mk_auth(auth, order, "approved", "100.00", "7419661750346782300050", hid, sizeof hid);
    run("UPDATE auth_history SET amount_pending = 40.00 WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    mk_reversal(rev, order, auth, NULL, "7419661750346782300050", "100.00", false);
    settle(rev, "declined", "", "");
    owed_ago(rev, 61);
    assert_int_equal(pass(r, NULL), 0);
    assert_value("SELECT (done_at IS NULL)::text FROM reversal_reask WHERE request_id = $1", rev,
                 "true");
    run("UPDATE auth_history SET amount_pending = 0, amount_deposited = 40.00 "
        "WHERE id = $1::bigint",
        1, (const char *const[]){hid});
    owed_ago(rev, 121);
    assert_int_equal(pass(r, &log), 0);
    if (!logged(log, "error", auth, "was refused without a bureau call") ||
        !logged(log, "error", auth, "its authorization was captured since")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line names authorization %s captured since", auth);
    }
    assert_done(rev, "t|its authorization was captured since|-");

    /* Refused each time for a claim that has ended when it is decided on. */
    char order2[21], auth2[64], hid2[24], id[PL_REVERSAL_MAX_AGAIN + 1][64];
    fresh(order2, sizeof order2, base, sizeof base);
    snprintf(auth2, sizeof auth2, "%sa", base);
    mk_auth(auth2, order2, "approved", "100.00", "7419661750346782300051", hid2, sizeof hid2);
    pl_job_derived_request_id(auth2, PL_DM_REVERSAL_SUFFIX, id[0], sizeof id[0]);
    for (int i = 0; i < PL_REVERSAL_MAX_AGAIN; i++)
        pl_job_derived_request_id(id[i], PL_REVERSAL_AGAIN_SUFFIX, id[i + 1], sizeof id[i + 1]);
    static const int delays[PL_REVERSAL_MAX_AGAIN] = {60, 300, 1800};
    for (int i = 0; i <= PL_REVERSAL_MAX_AGAIN; i++) {
        mk_reversal(id[i], order2, auth2, NULL, "7419661750346782300051", "100.00", false);
        settle(id[i], "declined", "", "");
        if (i < PL_REVERSAL_MAX_AGAIN) {
            owed_ago(id[i], delays[i] - 10);
            assert_int_equal(pass(r, NULL), 0);
            owed_ago(id[i], delays[i] + 1);
            assert_int_equal(pass(r, &log), 1);
            assert_int_equal(pub.calls, i + 1);
            assert_asked(&pub, i, id[i + 1], order2, auth2, "100.00");
            assert_false(logged(log, "error", auth2, NULL));
        } else {
            owed_ago(id[i], 3600);
            assert_int_equal(pass(r, &log), 0);
            if (!logged(log, "error", auth2, "it was asked again 3 times already")) {
                fprintf(stderr, "%s", log);
                fail_msg("no error line says %s was asked again 3 times", auth2);
            }
            assert_done(id[i], "t|it was asked again 3 times already|-");
        }
    }
    assert_int_equal(pub.calls, PL_REVERSAL_MAX_AGAIN);
    pl_resolver_destroy(r);
}

/*
 * paylink's own reversals that paylink-reversal refuses for a reason that can never change are
 * told to an operator at once, with the same error line (naming the authorization, what it was to
 * release, and why), and not asked again: a `.rev` of an authorization declined outright (nothing
 * to reverse), or of one without a bureau transaction id. Those refused for a reason that ends
 * are kept to be asked again once due, as before, nothing said: another claim in flight on an
 * approved authorization, on a CyberSource soft decline (200: the issuer holds the amount) and on
 * a decline whose ccAuthReply said the issuer authorized it. Each refusal is paylink-reversal's
 * own (its record and prepare), stored as the engine stores it. Before, the first two were asked
 * again 1, 5 and 30 minutes after each refusal (~36 minutes), refused alike each time, before an
 * operator was told.
 */
static void test_refused_for_good_told_at_once(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    enum { N = 5 };
    static const struct {
        const char *status, *authorized, *tx, *refusal;
    } cases[N] = {
        {"declined", NULL, "7419661750346782300070", "was not approved (declined)"},
        {"approved", "100.00", "", "no bureau transaction id"},
        {"approved", "100.00", "7419661750346782300072", "is in progress"},
        {"declined", NULL, "7419661750346782300073", "is in progress"},
        {"declined", NULL, "7419661750346782300074", "is in progress"},
    };
    static const char *const why[2] = {
        "its authorization was not approved (declined): paylink-reversal refuses it however "
        "often it is asked",
        "its authorization has no bureau transaction id: paylink-reversal refuses it however "
        "often it is asked"};
    static const char *const held[2] = {"120.00", "100.00"};
    char order[N][21], auth[N][64], hid[N][24], rev[N][64], base[48];
    static taken t[N];
    for (int k = 0; k < N; k++) {
        fresh(order[k], sizeof order[k], base, sizeof base);
        snprintf(auth[k], sizeof auth[k], "%sa", base);
        mk_auth(auth[k], order[k], cases[k].status, cases[k].authorized, cases[k].tx, hid[k],
                sizeof hid[k]);
        /* 2: a capture in flight. 3: a soft decline, another reversal of it in flight (the
         * marker). 4: declined while the issuer authorized it, likewise. */
        if (k == 2)
            run("UPDATE auth_history SET amount_pending = 40.00 WHERE id = $1::bigint", 1,
                (const char *const[]){hid[k]});
        if (k == 3)
            run("UPDATE auth_history SET vendor_response = '200', amount_pending = 0.01 "
                "WHERE id = $1::bigint",
                1, (const char *const[]){hid[k]});
        if (k == 4)
            run("UPDATE auth_history SET vendor_response = '102', issuer_authorized = true, "
                "amount_pending = 0.01 WHERE id = $1::bigint",
                1, (const char *const[]){hid[k]});
        pl_job_derived_request_id(auth[k], PL_DM_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        char payload[2048];
        const pl_reversal_of of = {.auth_request_id = auth[k]};
        want_message(payload, sizeof payload, rev[k], order[k], "120.00", &of);
        log_capture();
        take(&t[k], payload);
        const char *taken_log = log_captured();
        assert_int_equal(t[k].prepared, 1);
        assert_int_equal(t[k].job.reply->status, PL_ST_DECLINED);
        if (!strstr(t[k].job.reply->message, cases[k].refusal))
            fail_msg("%s refused: %s, want %s", rev[k], t[k].job.reply->message, cases[k].refusal);
        /* paylink-reversal's line says what comes of it. */
        if (!logged(taken_log, "warn", auth[k],
                    k < 2 ? "it is refused so however often it is asked, and paylink-reversal's "
                            "resolver tells an operator"
                          : "resolver asks for it again once it can go")) {
            fprintf(stderr, "%s", taken_log);
            fail_msg("paylink-reversal's line on %s does not say what comes of it", rev[k]);
        }
        store_refusal(&t[k]);
    }
    /* At once: the refusals were just stored, a minute before the first ask would be due. */
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    for (int k = 0; k < 2; k++) {
        char amount[96];
        snprintf(amount, sizeof amount, "the %s it was to release may still be held", held[k]);
        if (!logged(log, "error", auth[k], "was refused without a bureau call") ||
            !logged(log, "error", auth[k], why[k]) || !logged(log, "error", auth[k], amount) ||
            !logged(log, "error", auth[k], "an operator must see that it is released")) {
            fprintf(stderr, "%s", log);
            fail_msg("no error line tells an operator of %s at once (%s)", auth[k], why[k]);
        }
        char done[256];
        snprintf(done, sizeof done, "t|%s|-", why[k]);
        assert_done(rev[k], done);
    }
    for (int k = 2; k < N; k++) {
        assert_false(logged(log, "error", auth[k], NULL));
        assert_value("SELECT concat_ws('|', done_at IS NULL, due_at > now()) "
                     "FROM reversal_reask WHERE request_id = $1",
                     rev[k], "t|t");
    }
    /* Once due, with the claims ended, those are asked again. */
    for (int k = 2; k < N; k++) {
        run("UPDATE auth_history SET amount_pending = 0 WHERE id = $1::bigint", 1,
            (const char *const[]){hid[k]});
        owed_ago(rev[k], 61);
    }
    assert_int_equal(pass(r, &log), N - 2);
    assert_int_equal(pub.calls, N - 2);
    for (int k = 2; k < N; k++) {
        char again[64];
        pl_job_derived_request_id(rev[k], PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
        assert_asked(&pub, k - 2, again, order[k], auth[k], k == 2 ? "100.00" : "120.00");
    }
    assert_null(strstr(log, "\"level\":\"error\""));
    /* The first two, decided for good, are not looked at again. */
    assert_int_equal(pass(r, &log), 0);
    assert_false(logged(log, "error", auth[0], NULL));
    for (int k = 0; k < N; k++)
        taken_free(&t[k]);
    pl_resolver_destroy(r);
}

/*
 * paylink's own reversal that ended `error` without a live answer of CyberSource's general
 * failure may have been acted on, and is told to an operator rather than asked again: one the
 * resolver settled from the bureau's record (ERROR 150, its reader's default for a record that
 * failed), one an operator settled `error` (no decision), one another bureau answered ERROR
 * (150 too, here: the External Payment Service's codes say nothing of its processor). Before,
 * each was asked again as if nothing had been done.
 */
static void test_settled_otherwise_not_asked_again(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    enum { M = 3 };
    static const char *const how[M] = {"query", "operator", ""};
    static const char *const decision[M] = {"ERROR", "", "ERROR"};
    char order[M][21], auth[M][64], hid[M][24], rev[M][64], base[48];
    for (int k = 0; k < M; k++) {
        fresh(order[k], sizeof order[k], base, sizeof base);
        snprintf(auth[k], sizeof auth[k], "%sa", base);
        mk_auth(auth[k], order[k], "approved", "100.00", "7419661750346782300060", hid[k],
                sizeof hid[k]);
        pl_job_derived_request_id(auth[k], PL_DM_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        mk_reversal(rev[k], order[k], auth[k], hid[k], "7419661750346782300060", "100.00", true);
        if (k == 2)
            run("UPDATE auth_reversal SET service_bureau = 'EXT' WHERE request_id = $1", 1,
                (const char *const[]){rev[k]});
        settle(rev[k], "error", decision[k], "150");
        if (how[k][0])
            run("INSERT INTO required_response (request_id, worker, company, order_number, "
                "pay_seq, service_bureau, operation, amount, currency, reason, status, "
                "resolution, resolved_how, resolved_by, resolved_at) VALUES ($1, "
                "'reversal', " COMPANY
                ", $2, 1, 'CYB', 'reversal', 100.00, 'USD', 'timeout', 'resolved', 'error', $3, "
                "'it', now())",
                3, (const char *const[]){rev[k], order[k], how[k]});
        owed_ago(rev[k], 3600);
    }
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    for (int k = 0; k < M; k++) {
        if (!logged(log, "error", auth[k], "may have reversed it")) {
            fprintf(stderr, "%s", log);
            fail_msg("no error line says the reversal of %s may have acted", auth[k]);
        }
        assert_value("SELECT (done LIKE 'its answer (%) may have reversed it')::text "
                     "FROM reversal_reask WHERE request_id = $1",
                     rev[k], "true");
    }
    pl_resolver_destroy(r);
}

/* ---- the step: a reversal's record approving more than its call sent --------------------- */

/* A CyberSource call to the simulator under merchant reference ref (as test_reversal_many.c's
 * sim_call): an authorization of amount with its test card (auth_id NULL), or a reversal of
 * auth_id for amount; its answer into res, whatever it is. */
static void sim_send(const char *ref, const char *amount, const char *auth_id,
                     pl_bureau_result *res)
{
    char url[512];
    value_n(url, sizeof url, "SELECT test_url FROM auth_service WHERE service_bureau = 'CYB'", 0,
            NULL);
    xmlDocPtr doc;
    xmlNsPtr ns;
    xmlNodePtr msg = it_sim_cyb_message(&doc, ref, &ns);
    xmlNodePtr totals = xmlNewChild(msg, ns, BAD_CAST "purchaseTotals", NULL);
    it_sim_child(totals, ns, "currency", "USD");
    it_sim_child(totals, ns, "grandTotalAmount", amount);
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
}

/* sim_send, accepted. */
static void sim_call(const char *ref, const char *amount, const char *auth_id,
                     pl_bureau_result *res)
{
    sim_send(ref, amount, auth_id, res);
    assert_string_equal(res->decision, "ACCEPT");
}

/*
 * A reversal whose answer never came, of an authorization the simulator holds for `held` while
 * paylink's history row says 30.00 (claimed whole: its call went for 30.00), its required
 * response opened with the 10.00 the request named (a redelivery found it sent): the simulator
 * reverses all it holds and its record says so. Returns the required response's id.
 */
static int64_t lost_reversal(const char *held, char *rev, size_t revsz, char *hid, size_t hidsz)
{
    char order[21], base[48], auth[64];
    fresh(order, sizeof order, base, sizeof base);
    snprintf(auth, sizeof auth, "%sa", base);
    snprintf(rev, revsz, "%s.cancel", base);
    static pl_bureau_result res;
    sim_call(auth, held, NULL, &res);
    assert_true(res.request_id[0]);
    char tx[80];
    snprintf(tx, sizeof tx, "%s", res.request_id);
    mk_auth(auth, order, "approved", "30.00", tx, hid, hidsz);
    run("UPDATE auth_history SET amount_pending = 30.00 WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    mk_reversal(rev, order, auth, hid, tx, "10.00", true);
    run("UPDATE auth_reversal SET status = 'unknown', claim_amount = 30.00, "
        "sent_at = now() - interval '5 seconds', reply = jsonb_build_object('v', 1, "
        "'request_id', $1::text, 'type', 'reversal', 'company', 7, 'order', $2::text, "
        "'pay_seq', 1, 'service', 'CYB', 'status', 'timeout', 'amount_requested', '10.00', "
        "'currency', 'USD', 'vendor_response', '150', 'required_response', true) "
        "WHERE request_id = $1",
        2, (const char *const[]){rev, order});
    char id[24];
    value_n(id, sizeof id,
            "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
            "worker_replied_at, lease_owner, lease_until) VALUES ($1, 'reversal', " COMPANY
            ", $2, 1, 'CYB', 'reversal', 10.00, 'USD', 'timeout', 'it: no answer', 'escalated', "
            "now(), now(), $3, now() + interval '10 minutes') RETURNING id::text",
            3, (const char *const[]){rev, order, g_own});
    sim_call(rev, "30.00", tx, &res);
    return strtoll(id, NULL, 10);
}

/*
 * The resolver's step asks CyberSource (the simulator) about a reversal whose answer never came:
 * a record approving it for more than its call sent (100.00, all the simulator held, where paylink
 * sent the 30.00 its history row holds) is not applied but escalated, as the engine refuses such
 * an answer of any other operation, the reversal left unknown and the authorization claimed; one
 * approving what the call sent (30.00, more than the 10.00 the request named and the required
 * response recorded) is applied. Before, a reversal's record was applied as it read, whatever it
 * approved: the 100.00 was booked reversed.
 */
static void test_step_reversal_record_above_sent(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char rev[64], hid[24], id[24], msg[512] = "";
    int64_t rr = lost_reversal("100.00", rev, sizeof rev, hid, sizeof hid);
    snprintf(id, sizeof id, "%lld", (long long)rr);
    int rc = pl_resolver_retry(r, rr, true, msg, sizeof msg);
    if (rc != 0)
        fail_msg("wreq retry %s --now: %d %s", id, rc, msg);
    assert_value("SELECT concat_ws('|', status, last_query_result LIKE '%approves more than the "
                 "30.00 the call sent: not applied%') FROM required_response "
                 "WHERE id = $1::bigint",
                 id, "escalated|t");
    assert_value("SELECT concat_ws('|', status, coalesce(amount_reversed::text, '-')) "
                 "FROM auth_reversal WHERE request_id = $1",
                 rev, "unknown|-");
    assert_value("SELECT concat_ws('|', status, amount_authorized, amount_pending) "
                 "FROM auth_history WHERE id = $1::bigint",
                 hid, "approved|30.00|30.00");
    assert_int_equal(pub.calls, 0);

    /* What the call sent, approved: applied. */
    char rev2[64], hid2[24];
    rr = lost_reversal("30.00", rev2, sizeof rev2, hid2, sizeof hid2);
    snprintf(id, sizeof id, "%lld", (long long)rr);
    rc = pl_resolver_retry(r, rr, true, msg, sizeof msg);
    if (rc != 0 || !strstr(msg, "resolved approved"))
        fail_msg("wreq retry %s --now: %d %s", id, rc, msg);
    assert_value("SELECT concat_ws('|', status, amount_reversed) FROM auth_reversal "
                 "WHERE request_id = $1",
                 rev2, "approved|30.00");
    assert_value("SELECT concat_ws('|', status, amount_pending) FROM auth_history "
                 "WHERE id = $1::bigint",
                 hid2, "reversed|0.00");
    pl_resolver_destroy(r);
}

/*
 * A's `A.rev` refused beside A's timeout reversal (rev_beside_tor), whose answer never came (its
 * required response open); the resolver's step asks CyberSource (the simulator, which holds A
 * under transaction id tx and has reversed it under the timeout reversal's reference) and applies
 * the approval it finds. A's history row (the late reject) is booked `reversed`, as when
 * paylink-reversal stores the approval itself (migration 073's trigger, for every writer of the
 * outcome), and the resolver's re-ask pass then asks nothing of the `.rev`. Before, the row stayed
 * `rejected` and `A.rev.again` was asked, for CyberSource to refuse (237).
 */
static void test_timeout_reversal_approved_by_query_books_reversed(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], auth[64], tor[64], rev[64], simref[64], tx[80], id[24], msg[512] = "";
    static taken t;
    static pl_bureau_result res;
    snprintf(simref, sizeof simref, "%ssim%d", g_prefix, ++g_seq);
    sim_call(simref, "100.00", NULL, &res);
    assert_true(res.request_id[0]);
    snprintf(tx, sizeof tx, "%s", res.request_id);
    rev_beside_tor(tx, order, sizeof order, auth, tor, rev, &t);
    run("UPDATE auth_reversal SET status = 'unknown', sent_at = now() - interval '5 seconds', "
        "reply = jsonb_build_object('v', 1, 'request_id', $1::text, 'type', 'reversal', "
        "'company', 7, 'order', $2::text, 'pay_seq', 1, 'service', 'CYB', 'status', 'timeout', "
        "'amount_requested', '100.00', 'currency', 'USD', 'vendor_response', '150', "
        "'required_response', true) WHERE request_id = $1",
        2, (const char *const[]){tor, order});
    value_n(id, sizeof id,
            "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
            "worker_replied_at, lease_owner, lease_until) VALUES ($1, 'reversal', " COMPANY
            ", $2, 1, 'CYB', 'reversal', 100.00, 'USD', 'timeout', 'it: no answer', 'escalated', "
            "now(), now(), $3, now() + interval '10 minutes') RETURNING id::text",
            3, (const char *const[]){tor, order, g_own});
    sim_call(tor, "100.00", tx, &res);
    int rc = pl_resolver_retry(r, strtoll(id, NULL, 10), true, msg, sizeof msg);
    if (rc != 0 || !strstr(msg, "resolved approved"))
        fail_msg("wreq retry %s --now: %d %s", id, rc, msg);
    assert_value("SELECT concat_ws('|', status, amount_reversed) FROM auth_reversal "
                 "WHERE request_id = $1",
                 tor, "approved|100.00");
    assert_value("SELECT concat_ws('|', status, amount_pending) FROM auth_history "
                 "WHERE request_id = $1",
                 auth, "reversed|0.00");
    int published = pub.calls; /* the timeout reversal's final reply */
    owed_ago(rev, 121);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, published);
    for (int i = 0; i < pub.calls; i++)
        assert_string_not_equal(pub.topic[i], "it.reversal.request");
    assert_done(rev, "t|the authorization is reversed|-");
    assert_false(logged(log, "error", auth, NULL));
    taken_free(&t);
    pl_resolver_destroy(r);
}

/* The answer of reversal rid stored as paylink-reversal stores it (rev_store): status, decision,
 * reasonCode vendor and the amount reversed (NULL: none named). */
static void store_reversal_answer(const char *rid, const char *status, const char *decision,
                                  const char *vendor, const char *amount)
{
    it_unit_rec u;
    it_submit(g_db, "rev_store", 9,
              (const char *const[]){rid, status, decision, vendor, amount, "", "", "", "{}"}, NULL,
              &u);
    it_drive(g_db);
    assert_int_equal(u.err, 0);
    assert_int_equal(u.ntuples, 1);
}

/*
 * The other order of 073's: A's timeout reversal is approved first (A has no answer yet: nothing
 * to book), then A's late answer comes, a Decision Manager reject of a partial approval
 * (ccAuthReply 110 for 60.00), which paylink-auth's store records. The bureau released A whole:
 * A's history row is booked `reversed` when the store commits (migration 074), with what the
 * answer says the issuer authorized (recorded after the store, in the same unit). The reject's
 * `.rev`, which paylink-auth publishes with its reply, is refused by paylink-reversal as already
 * reversed (237) without a call, and paylink-reversal's resolver closes it as done: nothing asked
 * again, nothing told. Before, the row said `rejected` (the issuer holding 60.00) and the `.rev`
 * went to CyberSource, which refused it as already reversed.
 */
static void test_late_reject_after_timeout_reversal_approved(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], auth[64], tor[64], rev[64];
    static taken t;
    unknown_auth_with_tor(order, sizeof order, auth, tor);
    store_reversal_answer(tor, "approved", "ACCEPT", "100", "100.00");
    assert_value("SELECT count(*)::text FROM auth_history WHERE request_id = $1", auth, "0");
    store_late_answer(auth, "7419661750346782300050", PL_ST_REJECTED, "REJECT", "481", "110", 6000);
    assert_value("SELECT concat_ws('|', h.status, h.issuer_authorized, h.amount_issuer_held, "
                 "h.amount_pending, t.status) FROM auth_history h JOIN cc_auth_trans t "
                 "ON t.request_id = h.request_id WHERE h.request_id = $1",
                 auth, "reversed|t|60.00|0.00|rejected");

    /* The reject's `.rev`, as paylink-auth publishes it (for ccAuthReply's amount). */
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    char payload[2048];
    const pl_reversal_of of = {.auth_request_id = auth};
    want_message(payload, sizeof payload, rev, order, "60.00", &of);
    log_capture();
    take(&t, payload);
    const char *log = log_captured();
    assert_int_equal(t.prepared, 1);
    assert_int_equal(t.job.reply->status, PL_ST_DECLINED);
    assert_string_equal(t.job.reply->vendor_response, "237");
    assert_false(logged(log, "warn", auth, NULL));
    assert_false(logged(log, "error", auth, NULL));
    store_refusal(&t);
    owed_ago(rev, 3600);
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    assert_done(rev, "t|the authorization is reversed|-");
    assert_false(logged(log, "error", auth, NULL));
    taken_free(&t);
    pl_resolver_destroy(r);
}

/*
 * Which late answers a timeout reversal that released the authorization books `reversed` (074):
 * those 065's rule says a reversal applies to — a soft decline, a decline or an error whose
 * ccAuthReply said the issuer authorized it (recorded after the store: the booking waits for the
 * commit), an approval (not held back: no required response names the timeout reversal) — not a
 * hard decline, which holds nothing. A timeout reversal CyberSource refused as already reversed
 * (237) released it as an approved one did; one refused otherwise (102) did not.
 */
static void test_late_answers_after_timeout_reversal(void **state)
{
    (void)state;
    static const struct {
        const char *tor_status, *tor_decision, *tor_vendor;
        pl_status status;
        const char *decision, *vendor, *auth_reason;
        int64_t held;
        const char *want; /* the history row: status|issuer_authorized */
    } cases[] = {
        {"approved", "ACCEPT", "100", PL_ST_DECLINED, "REJECT", "200", "", 0, "reversed|f"},
        {"approved", "ACCEPT", "100", PL_ST_DECLINED, "REJECT", "102", "100", 0, "reversed|t"},
        {"approved", "ACCEPT", "100", PL_ST_ERROR, "ERROR", "150", "100", 0, "reversed|t"},
        {"approved", "ACCEPT", "100", PL_ST_DECLINED, "REJECT", "203", "203", 0, "declined|f"},
        {"approved", "ACCEPT", "100", PL_ST_APPROVED, "ACCEPT", "100", "100", 0, "reversed|f"},
        {"declined", "REJECT", "237", PL_ST_REJECTED, "REJECT", "481", "110", 6000, "reversed|t"},
        {"declined", "REJECT", "102", PL_ST_REJECTED, "REJECT", "481", "110", 6000, "rejected|t"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char order[21], auth[64], tor[64], tx[32];
        snprintf(tx, sizeof tx, "74196617503467823001%02d", (int)k);
        unknown_auth_with_tor(order, sizeof order, auth, tor);
        store_reversal_answer(tor, cases[k].tor_status, cases[k].tor_decision, cases[k].tor_vendor,
                              strcmp(cases[k].tor_status, "approved") == 0 ? "100.00" : NULL);
        store_late_answer(auth, tx, cases[k].status, cases[k].decision, cases[k].vendor,
                          cases[k].auth_reason, cases[k].held);
        char got[128];
        const char *p[] = {auth};
        value_n(got, sizeof got,
                "SELECT concat_ws('|', status, issuer_authorized) FROM auth_history "
                "WHERE request_id = $1",
                1, p);
        if (strcmp(got, cases[k].want) != 0)
            fail_msg("case %zu (timeout reversal %s %s, late answer %s %s): %s, want %s", k,
                     cases[k].tor_status, cases[k].tor_vendor, pl_status_name(cases[k].status),
                     cases[k].vendor, got, cases[k].want);
    }
}

/*
 * An operator records a Decision Manager reject of A (read in case management) after A's timeout
 * reversal was approved: the resolver applies it (no `.rev`: that reversal released A), and A's
 * history row is booked `reversed` at the commit (074), as paylink-auth's late answer is. Before,
 * it said `rejected`, the issuer holding the amount the bureau released. The required response is
 * held by the test's resolver throughout: the running system's resolvers never take it.
 */
static void test_operator_reject_after_timeout_reversal_approved(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver_of("auth", &pub);
    char order[21], auth[64], tor[64], id[24], msg[512] = "";
    unknown_auth_with_tor(order, sizeof order, auth, tor);
    run("UPDATE cc_auth_trans SET reply = jsonb_build_object('v', 1, 'request_id', $1::text, "
        "'type', 'auth', 'company', " COMPANY ", 'order', $2::text, 'pay_seq', 1, 'service', "
        "'CYB', 'status', 'timeout', 'amount_requested', '100.00', 'currency', 'USD', "
        "'vendor_response', '150', 'required_response', true) WHERE request_id = $1",
        2, (const char *const[]){auth, order});
    value_n(id, sizeof id,
            "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
            "worker_replied_at, reversal_request_id, reversal_requested_at, lease_owner, "
            "lease_until) VALUES ($1, 'auth', " COMPANY ", $2, 1, 'CYB', 'auth', 100.00, 'USD', "
            "'timeout', 'it: no answer', 'escalated', now(), now(), $3, now(), $4, "
            "now() + interval '10 minutes') RETURNING id::text",
            4, (const char *const[]){auth, order, tor, g_own});
    store_reversal_answer(tor, "approved", "ACCEPT", "100", "100.00");
    pl_resolve_outcome o = {.status = PL_ST_REJECTED};
    snprintf(o.transaction_id, sizeof o.transaction_id, "7419661750346782300060");
    int rc = pl_resolver_operator(r, strtoll(id, NULL, 10), &o, "it", "rejected in case management",
                                  msg, sizeof msg);
    if (rc != 0)
        fail_msg("wreq resolve %s --status rejected: %d %s", id, rc, msg);
    assert_value("SELECT concat_ws('|', t.status, h.status, q.status) FROM cc_auth_trans t "
                 "JOIN auth_history h ON h.request_id = t.request_id JOIN required_response q "
                 "ON q.request_id = t.request_id AND q.worker = 'auth' WHERE t.request_id = $1",
                 auth, "rejected|reversed|resolved");
    for (int i = 0; i < pub.calls; i++)
        assert_string_not_equal(pub.topic[i], "it.reversal.request");
    pl_resolver_destroy(r);
}

/*
 * CyberSource refusing a reversal as already reversed (237) is its word that the authorization is
 * released: the history row the reversal claimed is booked `reversed` (074) as an approval of all
 * of it books it, its amounts as they were, the claim released — a reject's `.rev` (the marker
 * 0.01), an approval's (100.00). Not another bureau's 237 (the External Payment Service's codes
 * are its own), nor CyberSource's 238 (captured). A reversal the bureau answered is not one to ask
 * again: reversal_reask records none, and a pass asks nothing. Before, the rows stayed `rejected`
 * and `approved`, held in the books.
 */
static void test_reversal_refused_237_books_reversed(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    static const struct {
        const char *bureau, *auth_status, *authorized, *vendor;
        const char *want; /* status|amount_pending|amount_authorized */
    } cases[] = {
        {"CYB", "rejected", NULL, "237", "reversed|0.00|-"},
        {"CYB", "approved", "100.00", "237", "reversed|0.00|100.00"},
        {"EXT", "approved", "100.00", "237", "approved|0.00|100.00"},
        {"CYB", "approved", "100.00", "238", "approved|0.00|100.00"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char order[21], base[48], auth[64], hid[24], rev[64], tx[32];
        fresh(order, sizeof order, base, sizeof base);
        snprintf(auth, sizeof auth, "%sa", base);
        snprintf(tx, sizeof tx, "74196617503467823002%02d", (int)k);
        mk_auth(auth, order, cases[k].auth_status, cases[k].authorized, tx, hid, sizeof hid);
        pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
        mk_reversal(rev, order, auth, hid, tx, cases[k].authorized ? cases[k].authorized : "120.00",
                    true);
        /* Claimed as paylink-reversal's mark claims (all of amount_authorized, else the marker
         * 0.01), of the bureau the case names. */
        const char *p[] = {rev, hid, cases[k].bureau};
        run("WITH claim AS (UPDATE auth_history SET amount_pending = coalesce(amount_authorized, "
            "0.01), service_bureau = $3 WHERE id = $2::bigint RETURNING amount_pending) "
            "UPDATE auth_reversal SET claim_amount = (SELECT amount_pending FROM claim), "
            "service_bureau = $3 WHERE request_id = $1",
            3, p);
        run("UPDATE cc_auth_trans SET service_bureau = $2 WHERE request_id = $1", 2,
            (const char *const[]){auth, cases[k].bureau});
        store_reversal_answer(rev, "declined", "REJECT", cases[k].vendor, NULL);
        char got[128];
        const char *q[] = {hid};
        value_n(got, sizeof got,
                "SELECT concat_ws('|', status, amount_pending, "
                "coalesce(amount_authorized::text, '-')) FROM auth_history WHERE id = $1::bigint",
                1, q);
        if (strcmp(got, cases[k].want) != 0)
            fail_msg("case %zu (%s %s answered %s): %s, want %s", k, cases[k].bureau,
                     cases[k].auth_status, cases[k].vendor, got, cases[k].want);
        assert_value("SELECT count(*)::text FROM reversal_reask WHERE request_id = $1", rev, "0");
    }
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    pl_resolver_destroy(r);
}

/*
 * A's `A.rev` refused beside A's timeout reversal (rev_beside_tor), and CyberSource refuses the
 * timeout reversal as already reversed (237: something released A before it). The bureau's word
 * books A's latest answer (the late reject) `reversed` (074, as an approval does, 073), and
 * paylink-reversal's resolver then closes the `.rev` as done: nothing asked again, nothing told.
 * Before, A stayed `rejected` and `A.rev.again` was asked, for CyberSource to refuse it as already
 * reversed once more.
 */
static void test_timeout_reversal_refused_237_books_reversed(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], auth[64], tor[64], rev[64];
    static taken t;
    rev_beside_tor("7419661750346782300080", order, sizeof order, auth, tor, rev, &t);
    store_reversal_answer(tor, "declined", "REJECT", "237", NULL);
    assert_value("SELECT concat_ws('|', status, amount_pending, amount_issuer_held) "
                 "FROM auth_history WHERE request_id = $1",
                 auth, "reversed|0.00|60.00");
    owed_ago(rev, 121);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    assert_done(rev, "t|the authorization is reversed|-");
    assert_false(logged(log, "error", auth, NULL));
    taken_free(&t);
    pl_resolver_destroy(r);
}

/* Reversal rid claims the history row hid as paylink-reversal's mark claims: all of
 * amount_authorized, else the marker 0.01. */
static void claim_row(const char *rid, const char *hid)
{
    run("WITH claim AS (UPDATE auth_history SET amount_pending = coalesce(amount_authorized, "
        "0.01) WHERE id = $2::bigint RETURNING amount_pending) "
        "UPDATE auth_reversal SET claim_amount = (SELECT amount_pending FROM claim) "
        "WHERE request_id = $1",
        2, (const char *const[]){rid, hid});
}

/*
 * A CyberSource refusal as already reversed (237) after another reversal of the same history row
 * was approved for part of it (058, 065) does not say the rest was released (075): the second
 * reversal's claim is released, the row's status and amounts stay (the rest held, capturable), as
 * for an approval (100.00 authorized, 40.00 reversed: 60.00 left) and for a reject whose issuer
 * held 100.00 (061, 065: amount_issuer_held 60.00 left). An earlier reversal refused (102) released
 * nothing, and the 237 then books the row `reversed` as 074 does. Nothing recorded to ask again.
 * Before, both rows were booked `reversed` with 60.00 still recorded: paylink-deposit could no
 * longer capture what the issuer may still hold.
 */
static void test_237_after_partial_reversal_keeps_rest(void **state)
{
    (void)state;
    static const struct {
        const char *auth_status, *authorized, *issuer_held;
        const char *first_status, *first_vendor, *first_reversed;
        const char *want; /* status|amount_pending|amount_authorized|amount_issuer_held */
    } cases[] = {
        {"approved", "100.00", NULL, "approved", "100", "40.00", "approved|0.00|60.00|-"},
        {"rejected", NULL, "100.00", "approved", "100", "40.00", "rejected|0.00|-|60.00"},
        {"approved", "100.00", NULL, "declined", "102", NULL, "reversed|0.00|100.00|-"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char order[21], base[48], auth[64], hid[24], first[64], second[64], tx[32];
        fresh(order, sizeof order, base, sizeof base);
        snprintf(auth, sizeof auth, "%sa", base);
        snprintf(tx, sizeof tx, "74196617503467823003%02d", (int)k);
        mk_auth(auth, order, cases[k].auth_status, cases[k].authorized, tx, hid, sizeof hid);
        if (cases[k].issuer_held)
            run("UPDATE auth_history SET amount_issuer_held = $2::numeric WHERE id = $1::bigint", 2,
                (const char *const[]){hid, cases[k].issuer_held});
        pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, first, sizeof first);
        mk_reversal(first, order, auth, hid, tx, "100.00", true);
        claim_row(first, hid);
        store_reversal_answer(first, cases[k].first_status,
                              strcmp(cases[k].first_status, "approved") == 0 ? "ACCEPT" : "REJECT",
                              cases[k].first_vendor, cases[k].first_reversed);
        pl_job_derived_request_id(first, PL_REVERSAL_REST_SUFFIX, second, sizeof second);
        mk_reversal(second, order, auth, hid, tx, "60.00", true);
        claim_row(second, hid);
        store_reversal_answer(second, "declined", "REJECT", "237", NULL);
        char got[128];
        value_n(got, sizeof got,
                "SELECT concat_ws('|', status, amount_pending, "
                "coalesce(amount_authorized::text, '-'), coalesce(amount_issuer_held::text, '-')) "
                "FROM auth_history WHERE id = $1::bigint",
                1, (const char *const[]){hid});
        if (strcmp(got, cases[k].want) != 0)
            fail_msg("case %zu (%s, a reversal %s %s, then 237): %s, want %s", k,
                     cases[k].auth_status, cases[k].first_status, cases[k].first_vendor, got,
                     cases[k].want);
        assert_value("SELECT count(*)::text FROM reversal_reask WHERE request_id = $1", second,
                     "0");
    }
}

/* paylink-reversal's store of job j's answer (its unit), and in the same unit the row it may
 * record in reversal_reask held by the test's resolver (IT_REASK_HOLD_SQL): the running system's
 * paylink-reversal resolvers, which take free or passed leases only, never take it. */
static int store_held(pl_job *j, pl_db_unit *u)
{
    int rc = pl_reversal_spec.store(j, u);
    const char *p[] = {j->req.request_id, g_own};
    return rc != 0 ? rc : pl_db_unit_add(u, "it_reask_hold", 2, p);
}

/*
 * Reversal t, taken up by paylink-reversal (take: recorded, prepared to go), marked sent as its
 * mark marks it (claiming its authorization) and answered by CyberSource: refused as already
 * reversed (237), mapped and stored as paylink-reversal stores it (rev_store's unit), the row it
 * may record in reversal_reask held by the test's resolver (store_held). Its log lines into *log.
 */
static void answer_237(taken *t, const char **log)
{
    snprintf(t->job.op_name, sizeof t->job.op_name, "%s", pl_bureau_op_name(t->job.call.op));
    snprintf(t->job.attempt, sizeof t->job.attempt, "it-reask/1");
    assert_int_equal(run_unit(g_db, pl_reversal_spec.mark_sent, &t->job), 1);
    static pl_bureau_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.decision, sizeof res.decision, "REJECT");
    snprintf(res.reason_code, sizeof res.reason_code, "237");
    t->job.res = &res;
    pl_reply *rep = t->job.reply;
    rep->status = PL_ST_DECLINED;
    snprintf(rep->decision, sizeof rep->decision, "REJECT");
    snprintf(rep->vendor_response, sizeof rep->vendor_response, "237");
    snprintf(rep->message, sizeof rep->message, "%s", pl_reversal_reason_text("237"));
    static char json[] = "{\"v\":1}";
    t->job.reply_json = json;
    log_capture();
    int rows = run_unit(g_db, store_held, &t->job);
    const char *text = log_captured();
    assert_int_equal(rows, 1);
    if (log)
        *log = text;
}

/* The error line that tells an operator of a reversal of authorization auth of order refused as
 * already reversed (237) while paylink's books keep `kept` of it. */
static void assert_told_kept(const char *log, const char *auth, const char *order, const char *kept)
{
    char books[96], where[96];
    snprintf(books, sizeof books, "%s stays on paylink's books held and capturable", kept);
    snprintf(where, sizeof where, "(order %s of company %s, bureau CYB)", order, COMPANY);
    if (!logged(log, "error", auth, "as already reversed (237) after another reversal of it") ||
        !logged(log, "error", auth, books) || !logged(log, "error", auth, where) ||
        !logged(log, "error", auth, "must check at the bureau whether the issuer still holds")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line tells an operator of the 237 to the reversal of %s", auth);
    }
}

/* Authorization auth's history row hid claimed and reversed for `reversed` by the order
 * system's reversal `<base>c` (no dot: not one of paylink's own), approved (058: the row keeps
 * what is left). */
static void order_system_reversed(const char *base, const char *order, const char *auth,
                                  const char *hid, const char *tx, const char *amount,
                                  const char *reversed)
{
    char cancel[64];
    snprintf(cancel, sizeof cancel, "%sc", base);
    mk_reversal(cancel, order, auth, hid, tx, amount, true);
    claim_row(cancel, hid);
    store_reversal_answer(cancel, "approved", "ACCEPT", "100", reversed);
}

/*
 * paylink's own `A.rev` of approved A (100.00) is approved for 40.00 (A keeps 60.00), and the
 * `.rest` paylink then asks for the 60.00 is taken up by paylink-reversal (recorded, prepared,
 * claimed as it does) and refused by CyberSource as already reversed (237), stored by its store:
 * A stays approved with 60.00 authorized and nothing claimed (075), so paylink-deposit can capture
 * it. The store records the rest's refusal for paylink-reversal's resolver (in its unit), whose
 * pass tells an operator in one error line (A, its order, the bureau, the 60.00 the books keep,
 * what to check at the bureau; nobody reads the rest's reply) and asks nothing: once. Before,
 * paylink-reversal logged the line itself at the store, and the query's or an operator's 237
 * told nobody (test_own_reversal_237_settled_by_operator).
 */
static void test_rest_refused_237_told_to_operator(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[21], base[48], auth[64], hid[24], rev[64], rest[64];
    const char *tx = "7419661750346782300400";
    static taken t;
    fresh(order, sizeof order, base, sizeof base);
    snprintf(auth, sizeof auth, "%sa", base);
    mk_auth(auth, order, "approved", "100.00", tx, hid, sizeof hid);
    pl_job_derived_request_id(auth, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    mk_reversal(rev, order, auth, hid, tx, "100.00", true);
    claim_row(rev, hid);
    store_reversal_answer(rev, "approved", "ACCEPT", "100", "40.00");
    assert_value("SELECT concat_ws('|', status, amount_pending, amount_authorized) "
                 "FROM auth_history WHERE id = $1::bigint",
                 hid, "approved|0.00|60.00");

    pl_job_derived_request_id(rev, PL_REVERSAL_REST_SUFFIX, rest, sizeof rest);
    char payload[2048];
    const pl_reversal_of of = {.auth_request_id = auth};
    want_message(payload, sizeof payload, rest, order, "60.00", &of);
    take(&t, payload);
    assert_int_equal(t.prepared, 0);
    assert_int_equal(t.job.call.amount, 6000);
    const char *log = NULL;
    answer_237(&t, &log);
    assert_value("SELECT amount_pending::text FROM auth_history WHERE id = $1::bigint", hid,
                 "0.00");
    char got[128];
    value_n(got, sizeof got,
            "SELECT concat_ws('|', h.status, h.amount_pending, h.amount_authorized, "
            "h.amount_authorized - h.amount_deposited - h.amount_pending, v.status, "
            "v.vendor_response) FROM auth_history h JOIN auth_reversal v "
            "ON v.auth_history_id = h.id AND v.request_id = $2 WHERE h.id = $1::bigint",
            2, (const char *const[]){hid, rest});
    assert_string_equal(got, "approved|0.00|60.00|60.00|declined|237");
    assert_value("SELECT concat_ws('|', outcome, done_at IS NULL) FROM reversal_reask "
                 "WHERE request_id = $1",
                 rest, "declined|t");
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    assert_told_kept(log, auth, order, "60.00");
    assert_done(rest, "t|" REASK_DONE_KEPT_REST_TEXT "|-");
    /* Once. */
    owed_ago(rest, 3600);
    assert_int_equal(pass(r, &log), 0);
    assert_false(logged(log, "error", auth, NULL));
    assert_int_equal(pub.calls, 0);
    taken_free(&t);
    pl_resolver_destroy(r);
}

/*
 * paylink's own first reversal of authorization A (100.00) — a Decision Manager reject's `A.rev`,
 * an auth+capture's `.vdr` — goes for the 60.00 left after the order system's own reversal of A
 * was approved for 40.00, and CyberSource refuses it as already reversed (237): A keeps the
 * 60.00 (075), and paylink-reversal's resolver tells an operator (A, its order, CYB, 60.00),
 * asking nothing. Not for the same `A.rev` refused 237 with no reversal of A approved before (074
 * books A `reversed`: released), nor for the order system's own second reversal refused so after
 * the partial approval (its sender reads the reply): nothing recorded, nothing told. Before, only
 * a `.rest` refused so was told of; a first reversal's 237 left the 60.00 held with nobody told.
 */
static void test_first_own_reversal_refused_237_after_partial(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    enum { N = 4 };
    /* 0: `.rev` after a partial approval; 1: `.vdr` after one; 2: `.rev`, none before; 3: the
     * order system's second reversal after one. */
    static const bool partial[N] = {true, true, false, true};
    char order[N][21], base[N][48], auth[N][64], hid[N][24], rev[N][64], tx[N][32];
    char dep[64] = "";
    static taken t[N];
    const char *log = NULL;
    for (int k = 0; k < N; k++) {
        fresh(order[k], sizeof order[k], base[k], sizeof base[k]);
        snprintf(auth[k], sizeof auth[k], "%.47sa", base[k]);
        snprintf(tx[k], sizeof tx[k], "74196617503467823005%02d", k);
        mk_auth(auth[k], order[k], "approved", "100.00", tx[k], hid[k], sizeof hid[k]);
        if (partial[k])
            order_system_reversed(base[k], order[k], auth[k], hid[k], tx[k], "100.00", "40.00");
        if (k == 1) {
            /* Replaced by an auth+capture (voided, nothing captured): its `.vdr`. */
            snprintf(dep, sizeof dep, "%.47sx", base[k]);
            run("UPDATE auth_history SET status = 'voided', voided_by = $2, "
                "void_reason = 'auth_capture', amount_voided = amount_authorized "
                "WHERE id = $1::bigint",
                2, (const char *const[]){hid[k], dep});
            pl_job_derived_request_id(dep, PL_DEPOSIT_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        } else if (k == 3) {
            snprintf(rev[k], sizeof rev[k], "%sd", base[k]);
        } else {
            pl_job_derived_request_id(auth[k], PL_DM_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        }
        char payload[2048];
        const pl_reversal_of of = {.auth_request_id = auth[k]};
        want_message(payload, sizeof payload, rev[k], order[k], partial[k] ? "60.00" : "100.00",
                     &of);
        take(&t[k], payload);
        assert_int_equal(t[k].prepared, 0);
        assert_int_equal(t[k].job.call.amount, partial[k] ? 6000 : 10000);
        answer_237(&t[k], &log);
        assert_false(logged(log, "error", auth[k], NULL));
    }
    assert_int_equal(pl_reversal_own(rev[1], auth[1], dep, ""), 0);
    static const char *const want[N] = {"approved|0.00|60.00", "voided|0.00|60.00",
                                        "reversed|0.00|100.00", "approved|0.00|60.00"};
    for (int k = 0; k < N; k++) {
        assert_value("SELECT concat_ws('|', status, amount_pending, amount_authorized) "
                     "FROM auth_history WHERE id = $1::bigint",
                     hid[k], want[k]);
        assert_value("SELECT count(*)::text FROM reversal_reask WHERE request_id = $1", rev[k],
                     k < 2 ? "1" : "0");
    }
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, 0);
    for (int k = 0; k < N; k++) {
        if (k < 2) {
            assert_told_kept(log, auth[k], order[k], "60.00");
            assert_done(rev[k], "t|" REASK_DONE_KEPT_REST_TEXT "|-");
        } else {
            assert_false(logged(log, "error", auth[k], NULL));
        }
        taken_free(&t[k]);
    }
    pl_resolver_destroy(r);
}

/*
 * The row of reversal rid an outcome the test's resolver applied recorded in reversal_reask,
 * held by the test's resolver and due now unless another resolver decided on it already: true
 * when held. The resolver records it in its own transaction, free: the running system's
 * paylink-reversal resolvers may take it before this (quiet() before the outcome makes that
 * unlikely); what they decide is then checked, not their log.
 */
static bool hold_if_owed(const char *rid)
{
    PGresult *res = sql("UPDATE reversal_reask SET due_at = now(), lease_owner = $2, "
                        "lease_until = now() + interval '1 hour' "
                        "WHERE request_id = $1 AND done_at IS NULL RETURNING 1",
                        2, (const char *const[]){rid, g_own});
    bool held = PQntuples(res) == 1;
    PQclear(res);
    return held;
}

/*
 * An unknown-outcome reversal of paylink's own (`A.rev`, for the 60.00 left after the order
 * system's reversal of A was approved for 40.00) that an operator settles as CyberSource refused
 * it, already reversed (`wreq resolve --outcome declined --vendor-response 237`): the resolver
 * applies it (075: A keeps the 60.00, its claim released), records it in the same transaction,
 * and paylink-reversal's resolver tells an operator as when the answer came in time; the same
 * for the resolver's own query, which finds that record at CyberSource (the simulator, which
 * refuses a second reversal of an authorization it reversed). Before, nothing was said: the
 * 60.00 stayed on the books, perhaps released at the bureau, and nobody was told to look.
 */
static void test_own_reversal_237_settled_by_operator_or_query(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    enum { N = 2 };
    char order[N][21], base[N][48], auth[N][64], hid[N][24], rev[N][64], tx[N][80], id[N][24];
    for (int k = 0; k < N; k++) {
        fresh(order[k], sizeof order[k], base[k], sizeof base[k]);
        snprintf(auth[k], sizeof auth[k], "%sa", base[k]);
        if (k == 1) {
            /* CyberSource (the simulator) holds A, then releases it whole under the order
             * system's reversal. */
            static pl_bureau_result res;
            sim_call(auth[k], "100.00", NULL, &res);
            assert_true(res.request_id[0]);
            snprintf(tx[k], sizeof tx[k], "%s", res.request_id);
            char cancel[64];
            snprintf(cancel, sizeof cancel, "%sc", base[k]);
            sim_call(cancel, "100.00", tx[k], &res);
        } else {
            snprintf(tx[k], sizeof tx[k], "7419661750346782300600");
        }
        mk_auth(auth[k], order[k], "approved", "100.00", tx[k], hid[k], sizeof hid[k]);
        order_system_reversed(base[k], order[k], auth[k], hid[k], tx[k], "100.00", "40.00");
        pl_job_derived_request_id(auth[k], PL_DM_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        mk_reversal(rev[k], order[k], auth[k], hid[k], tx[k], "60.00", true);
        claim_row(rev[k], hid[k]);
        run("UPDATE auth_reversal SET status = 'unknown', sent_at = now() - interval '5 seconds', "
            "reply = jsonb_build_object('v', 1, 'request_id', $1::text, 'type', 'reversal', "
            "'company', 7, 'order', $2::text, 'pay_seq', 1, 'service', 'CYB', 'status', "
            "'timeout', 'amount_requested', '60.00', 'currency', 'USD', 'vendor_response', '150', "
            "'required_response', true) WHERE request_id = $1",
            2, (const char *const[]){rev[k], order[k]});
        value_n(id[k], sizeof id[k],
                "INSERT INTO required_response (request_id, worker, company, order_number, "
                "pay_seq, service_bureau, operation, amount, currency, reason, detail, status, "
                "escalated_at, worker_replied_at, lease_owner, lease_until) VALUES ($1, "
                "'reversal', " COMPANY ", $2, 1, 'CYB', 'reversal', 60.00, 'USD', 'timeout', "
                "'it: no answer', 'escalated', now(), now(), $3, now() + interval '10 minutes') "
                "RETURNING id::text",
                3, (const char *const[]){rev[k], order[k], g_own});
    }
    /* 0: an operator's outcome. */
    char msg[512] = "";
    pl_resolve_outcome o = {.status = PL_ST_DECLINED};
    snprintf(o.vendor_response, sizeof o.vendor_response, "237");
    bool held[N];
    quiet();
    int rc = pl_resolver_operator(r, strtoll(id[0], NULL, 10), &o, "it", "refused at the bureau",
                                  msg, sizeof msg);
    held[0] = hold_if_owed(rev[0]);
    if (rc != 0)
        fail_msg("wreq resolve %s --outcome declined: %d %s", id[0], rc, msg);
    /* 1: the resolver's query finds CyberSource's refusal. */
    static pl_bureau_result res;
    sim_send(rev[1], "60.00", tx[1], &res);
    assert_string_equal(res.decision, "REJECT");
    assert_string_equal(res.reason_code, "237");
    quiet();
    rc = pl_resolver_retry(r, strtoll(id[1], NULL, 10), true, msg, sizeof msg);
    held[1] = hold_if_owed(rev[1]);
    if (rc != 0 || !strstr(msg, "resolved declined"))
        fail_msg("wreq retry %s --now: %d %s", id[1], rc, msg);
    for (int k = 0; k < N; k++) {
        assert_value("SELECT concat_ws('|', h.status, h.amount_pending, h.amount_authorized, "
                     "v.status, v.vendor_response) FROM auth_history h JOIN auth_reversal v "
                     "ON v.auth_history_id = h.id WHERE v.request_id = $1",
                     rev[k], "approved|0.00|60.00|declined|237");
        assert_value("SELECT outcome FROM reversal_reask WHERE request_id = $1", rev[k],
                     "declined");
    }
    int published = pub.calls; /* the final replies */
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 0);
    assert_int_equal(pub.calls, published);
    for (int i = 0; i < pub.calls; i++)
        assert_string_not_equal(pub.topic[i], "it.reversal.request");
    for (int k = 0; k < N; k++) {
        /* Told by the test's pass, or (not held) by a running resolver that took it first. */
        if (held[k])
            assert_told_kept(log, auth[k], order[k], "60.00");
        assert_done(rev[k], "t|" REASK_DONE_KEPT_REST_TEXT "|-");
    }
    pl_resolver_destroy(r);
}

/*
 * The re-ask pass tells CyberSource's refusal from paylink-reversal's by whether the reversal was
 * marked sent, not by its status or reason: `A.rev` refused by CyberSource as already reversed
 * (237, marked sent) after a partial approval, its row recorded for the pass, is told to an
 * operator and not asked again; the same `A.rev` refused by paylink-reversal without a call
 * (never marked sent, recorded by 070's trigger), whatever reason its refusal gave, is asked
 * again for what is held, nothing told. Before, the pass read every `declined` as a refusal
 * without a call: CyberSource's 237 was asked again as `A.rev.again`, for CyberSource to refuse
 * it alike, and nobody was told. So too when its bureau's code was removed from the
 * configuration since (its facts carry no protocol then): told at once, not waited for.
 */
static void test_bureau_237_told_from_own_refusal(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char order[3][21], base[3][48], auth[3][64], hid[3][24], rev[3][64], tx[3][32];
    for (int k = 0; k < 3; k++) {
        fresh(order[k], sizeof order[k], base[k], sizeof base[k]);
        snprintf(auth[k], sizeof auth[k], "%sa", base[k]);
        snprintf(tx[k], sizeof tx[k], "74196617503467823007%02d", k);
        mk_auth(auth[k], order[k], "approved", "100.00", tx[k], hid[k], sizeof hid[k]);
        order_system_reversed(base[k], order[k], auth[k], hid[k], tx[k], "100.00", "40.00");
        pl_job_derived_request_id(auth[k], PL_DM_REVERSAL_SUFFIX, rev[k], sizeof rev[k]);
        mk_reversal(rev[k], order[k], auth[k], hid[k], tx[k], "60.00", k != 1);
    }
    /* 0: CyberSource's 237, recorded as its writers record it. 2: alike, and its bureau's code
     * removed from the configuration since (renamed ITGONE): told at once as well, telling needs
     * no bureau. (Before, its facts had no protocol: taken for an answer that may have reversed
     * it, its line said so.) */
    for (int k = 0; k < 3; k += 2) {
        claim_row(rev[k], hid[k]);
        store_reversal_answer(rev[k], "declined", "REJECT", "237", NULL);
        run("INSERT INTO reversal_reask (request_id, outcome, lease_owner, lease_until) "
            "VALUES ($1, 'declined', $2, now() + interval '1 hour')",
            2, (const char *const[]){rev[k], g_own});
    }
    run("UPDATE auth_reversal SET service_bureau = 'ITGONE' WHERE request_id = $1", 1,
        (const char *const[]){rev[2]});
    /* 1: paylink-reversal's refusal without a call, with the same reason. */
    run("BEGIN", 0, NULL);
    run("UPDATE auth_reversal SET status = 'declined', vendor_response = '237', "
        "reply = jsonb_build_object('request_id', $1::text, 'status', 'declined', 'message', "
        "'it: refused without a call'), answered_at = now() WHERE request_id = $1",
        1, (const char *const[]){rev[1]});
    run("UPDATE reversal_reask SET lease_owner = $2, lease_until = now() + interval '1 hour' "
        "WHERE request_id = $1",
        2, (const char *const[]){rev[1], g_own});
    run("COMMIT", 0, NULL);
    for (int k = 0; k < 3; k++)
        owed_ago(rev[k], 61);
    const char *log = NULL;
    assert_int_equal(pass(r, &log), 1);
    assert_int_equal(pub.calls, 1);
    char again[64], done[128];
    pl_job_derived_request_id(rev[1], PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    assert_asked(&pub, 0, again, order[1], auth[1], "60.00");
    snprintf(done, sizeof done, "t|%s|-", again);
    assert_done(rev[1], done);
    assert_false(logged(log, "error", auth[1], NULL));
    assert_told_kept(log, auth[0], order[0], "60.00");
    assert_done(rev[0], "t|" REASK_DONE_KEPT_REST_TEXT "|-");
    char where[96];
    snprintf(where, sizeof where, "(order %s of company %s, bureau ITGONE)", order[2], COMPANY);
    if (!logged(log, "error", auth[2], "as already reversed (237) after another reversal of it") ||
        !logged(log, "error", auth[2], where) ||
        !logged(log, "error", auth[2], "60.00 stays on paylink's books held and capturable")) {
        fprintf(stderr, "%s", log);
        fail_msg("no error line tells an operator of the 237 to the reversal of %s", auth[2]);
    }
    assert_false(logged(log, "warn", auth[2], NULL));
    assert_done(rev[2], "t|" REASK_DONE_KEPT_REST_TEXT "|-");
    pl_resolver_destroy(r);
}

/* The text of a spec's statement name (its one-execution form). */
static const char *stmt_sql(const pl_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->nstmts; i++)
        if (strcmp(spec->stmts[i].name, name) == 0)
            return spec->stmts[i].sql;
    fail_msg("no statement %s", name);
    return NULL;
}

/*
 * A's timeout reversal approved at the moment A's late answer is being stored, neither
 * committed, the answer committing first: each alone would find nothing to book (the answer's
 * check at its commit does not see the approval, not committed yet; the approval does not see
 * the answer). The approval's trigger takes a share lock of A's row first, so its store waits for
 * the answer's commit, then sees the answer and books it `reversed` (074). Without the lock both
 * committed and A's reject stayed `rejected`. The answer is stored with paylink-auth's statement
 * in an open transaction on the test's connection, the approval with paylink-reversal's in one
 * on another; the test waits until the approval's backend waits for a lock
 * (pg_blocking_pids: the lock manager's word, not the statistics snapshot a transaction keeps) or
 * has finished before it commits the answer.
 */
static void test_timeout_reversal_approved_while_late_answer_stored(void **state)
{
    (void)state;
    char order[21], auth[64], tor[64];
    unknown_auth_with_tor(order, sizeof order, auth, tor);
    PGconn *other = PQconnectdb(g_conninfo);
    assert_int_equal(PQstatus(other), CONNECTION_OK);

    run("BEGIN", 0, NULL);
    const char *a[] = {
        auth, "rejected", "REJECT", "481", NULL, "",      "", "7419661750346782300090",
        "",   "",         "",       "",    "",   "false", "", "{}"};
    PGresult *res = sql(stmt_sql(&pl_auth_spec, "auth_store"), 16, a);
    assert_int_equal(PQntuples(res), 1);
    PQclear(res);

    PQclear(PQexec(other, "BEGIN"));
    const char *v[] = {tor, "approved", "ACCEPT", "100", "100.00", "", "", "", "{}"};
    assert_int_equal(PQsendQueryParams(other, stmt_sql(&pl_reversal_spec, "rev_store"), 9, NULL, v,
                                       NULL, NULL, 0),
                     1);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(other));
    bool waits = false, done = false;
    for (int i = 0; i < 3000 && !waits && !done; i++) {
        char w[8];
        value_n(w, sizeof w, "SELECT (cardinality(pg_blocking_pids($1::int)) > 0)::text", 1,
                (const char *const[]){pid});
        waits = strcmp(w, "true") == 0;
        assert_int_equal(PQconsumeInput(other), 1);
        done = !PQisBusy(other);
        if (!waits && !done)
            usleep(10000);
    }
    assert_true(waits || done);
    run("COMMIT", 0, NULL);
    int rows = -1;
    while ((res = PQgetResult(other)) != NULL) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fail_msg("rev_store: %s", PQresultErrorMessage(res));
        rows = PQntuples(res);
        PQclear(res);
    }
    res = PQexec(other, "COMMIT");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(other);
    assert_int_equal(rows, 1);
    assert_value("SELECT concat_ws('|', h.status, t.status) FROM auth_history h "
                 "JOIN cc_auth_trans t ON t.request_id = h.request_id WHERE h.request_id = $1",
                 auth, "reversed|rejected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_own_reversal_error_asked_again, test_teardown),
        cmocka_unit_test_teardown(test_not_asked_again, test_teardown),
        cmocka_unit_test_teardown(test_claim_in_flight, test_teardown),
        cmocka_unit_test_teardown(test_decision_survives, test_teardown),
        cmocka_unit_test_teardown(test_unusable_bureau_waited_for, test_teardown_env),
        cmocka_unit_test_teardown(test_secret_lost_after_start_asked, test_teardown_env),
        cmocka_unit_test_teardown(test_unconfigured_bureau_waited_for, test_teardown),
        cmocka_unit_test_teardown(test_refused_beside_a_timeout_reversal, test_teardown),
        cmocka_unit_test_teardown(test_timeout_reversal_approved_books_reversed, test_teardown),
        cmocka_unit_test_teardown(test_refused_asked_at_most_three_times, test_teardown),
        cmocka_unit_test_teardown(test_refused_for_good_told_at_once, test_teardown),
        cmocka_unit_test_teardown(test_settled_otherwise_not_asked_again, test_teardown),
        cmocka_unit_test_teardown(test_step_reversal_record_above_sent, test_teardown),
        cmocka_unit_test_teardown(test_timeout_reversal_approved_by_query_books_reversed,
                                  test_teardown),
        cmocka_unit_test_teardown(test_late_reject_after_timeout_reversal_approved, test_teardown),
        cmocka_unit_test_teardown(test_late_answers_after_timeout_reversal, test_teardown),
        cmocka_unit_test_teardown(test_operator_reject_after_timeout_reversal_approved,
                                  test_teardown),
        cmocka_unit_test_teardown(test_reversal_refused_237_books_reversed, test_teardown),
        cmocka_unit_test_teardown(test_timeout_reversal_refused_237_books_reversed, test_teardown),
        cmocka_unit_test_teardown(test_timeout_reversal_approved_while_late_answer_stored,
                                  test_teardown),
        cmocka_unit_test_teardown(test_237_after_partial_reversal_keeps_rest, test_teardown),
        cmocka_unit_test_teardown(test_rest_refused_237_told_to_operator, test_teardown),
        cmocka_unit_test_teardown(test_first_own_reversal_refused_237_after_partial, test_teardown),
        cmocka_unit_test_teardown(test_own_reversal_237_settled_by_operator_or_query,
                                  test_teardown),
        cmocka_unit_test_teardown(test_bureau_237_told_from_own_refusal, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
