/*
 * test_resolver.c: the resolver of unknown outcomes (common/resolver.h) against the real
 * PostgreSQL of PAYLINK_DB and the bureau simulator configured in dm_settings: which rows a pass
 * takes, two resolvers over the same rows, leases (a resolver that died leaves its row to
 * another once the lease has passed), escalation where the bureau cannot be asked, an operator's
 * outcome applied as the worker applies an answer, the final reply published through the
 * caller's callback (and published later when that fails), and `wreq retry`.
 *
 * Every row is the test's own (request ids starting with g_prefix), inserted as a worker leaves
 * a transaction whose answer never came (status unknown, the timeout reply stored, a
 * required_response row) and deleted after each test, in dependency order. No configuration is
 * changed: a CyberSource row the simulator never saw is "not there", and is believed at once
 * because the row says it was sent two days ago (longer than any not_found_after_s).
 *
 * The running system's workers each run a resolver of their own (resolver_run.h: a pass every
 * PAYLINK_RESOLVER_INTERVAL_MS), which would take a row this test makes due before the test's
 * resolver does. tools/dev's test profile delays every first step by a day, so only rows made
 * due explicitly are ever due; and the test makes its rows due, or lets a failed publish leave
 * a row for any resolver, only in a quiet moment (quiet()): right after the worker's resolver
 * finished a pass, while it waits for the next one.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <libxml/parser.h>

#include "engine.h"
#include "log.h"
#include "it_resolver.h"
#include "resolver.h"
#include "reversal.h"
#include "reversal_own.h"

#define COMPANY "7"
#define POLICY_WHY "the bureau cannot be asked what happened (policy)"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_prefix[40]; /* every request id of this run starts with it */
static char g_like[48];   /* g_prefix% */
static char g_t0[64];     /* when the run started (server clock) */
static int g_seq;
static int g_quiet_ms; /* how recently the worker's resolver must have finished a pass */
/* The connections other_conn opened and side_close has not closed: a test that fails while one
 * holds a transaction open leaves it to test_teardown, which closes it (its locks with it)
 * before it deletes the rows. */
static PGconn *g_side[4];

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

/* The first column of the only row of q with n parameters, "" when it is NULL; fails when
 * there is not exactly one row. */
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

static void value(char *out, size_t outsize, const char *q, const char *param)
{
    const char *p[] = {param};
    value_n(out, outsize, q, 1, p);
}

static void assert_value_n(const char *q, int n, const char *const *p, const char *want)
{
    char v[1024];
    value_n(v, sizeof v, q, n, p);
    if (strcmp(v, want) != 0)
        fail_msg("%s ($1 = %s)\n  is   %s\n  want %s", q, n > 0 ? p[0] : "", v, want);
}

static void assert_value(const char *q, const char *param, const char *want)
{
    const char *p[] = {param};
    assert_value_n(q, 1, p, want);
}

/* Runs q with $1 = param. */
static void run1(const char *q, const char *param)
{
    const char *p[] = {param};
    run(q, 1, p);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* ---- rows ------------------------------------------------------------------------------- */

typedef struct trow {
    int64_t id;   /* required_response.id */
    char sid[24]; /* the same, as text */
    char rid[51];
    char order[21];
    char key[32]; /* the reply's Kafka key: <company>-<order> */
    const char *worker;
} trow;

/* The reply a worker stores for a timeout (reply.c pl_reply_to_json), built by PostgreSQL from
 * the parameters of the INSERT: $1 request_id, $2 type, $4 order, $5 service, $6 amount, $8
 * vendor_response. */
#define TIMEOUT_REPLY                                                                              \
    "jsonb_build_object('v', 1, 'request_id', $1::text, 'type', $2::text, 'company', " COMPANY     \
    ", 'order', $4::text, 'pay_seq', 1, 'service', $5::text, 'status', 'timeout', "                \
    "'amount_requested', $6::text, 'currency', 'USD', 'vendor_response', $8::text, "               \
    "'message', 'No answer from the payment service in time: the outcome is unknown.', "           \
    "'required_response', true, 'processed_at', "                                                  \
    "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
#define FINGERPRINT "encode(sha256(convert_to($1, 'UTF8')), 'hex')"

/*
 * A transaction of `worker` (auth, deposit, reversal) sent to `bureau` whose answer never came:
 * its row in status tstatus (normally unknown) with the timeout reply the worker stored, and a
 * required_response row in status rr_status (open or escalated), not due yet (first step a day
 * after creation in the test profile; tests make it due with due()).
 */
static trow mkrow_status(const char *worker, const char *bureau, const char *op, const char *amount,
                         const char *rr_status, const char *tstatus)
{
    trow t;
    memset(&t, 0, sizeof t);
    t.worker = worker;
    int n = ++g_seq;
    snprintf(t.rid, sizeof t.rid, "%s%d", g_prefix, n);
    snprintf(t.order, sizeof t.order, "ITR%05d%04d", (int)(getpid() % 100000), n);
    snprintf(t.key, sizeof t.key, "%s-%s", COMPANY, t.order);
    const char *vendor = strcmp(bureau, "CYB") == 0 ? "150" : "SU";
    const char *q, *type;
    if (strcmp(worker, "auth") == 0) {
        type = strcmp(op, "token") == 0 ? "token" : "auth";
        q = "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
            "order_number, pay_seq, service_bureau, amount, currency, card_token, card_type, "
            "merchant_id, status, reply, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT
            ", $2::text, $3::text, " COMPANY
            ", $4::text, 1, $5::text, $6::numeric, 'USD', 'tok-it-resolver', 'VI', 'paylink_demo', "
            "$7::text, " TIMEOUT_REPLY ", now() - interval '5 seconds', 'it-resolver')";
    } else if (strcmp(worker, "deposit") == 0) {
        type = strcmp(op, "credit") == 0 ? "credit" : "debit";
        q = "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
            "merchant_id, status, deposit_status, reply, sent_at, sent_by) VALUES "
            "($1::text, " FINGERPRINT ", $2::text, $3::text, " COMPANY
            ", $4::text, 1, $5::text, $6::numeric, 'USD', "
            "'tok-it-resolver', 'paylink_demo', $7::text, '*SENT', " TIMEOUT_REPLY ", "
            "now() - interval '5 seconds', 'it-resolver')";
    } else if (strcmp(worker, "svc") == 0) {
        type = "auth";
        q = "INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
            "order_number, pay_seq, service_bureau, amount, currency, card_masked, card_hash, "
            "status, reply, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT ", $2::text, "
            "$3::text, " COMPANY ", $4::text, 1, $5::text, $6::numeric, 'USD', '************0001', "
            "repeat('d', 64), $7::text, " TIMEOUT_REPLY ", now() - interval '5 seconds', "
            "'it-resolver')";
    } else {
        type = "reversal";
        q = "INSERT INTO auth_reversal (request_id, fingerprint, operation, company, "
            "order_number, pay_seq, service_bureau, amount, currency, merchant_id, status, "
            "reply, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT ", $3::text, " COMPANY
            ", $4::text, 1, $5::text, $6::numeric, 'USD', 'paylink_demo', $7::text, " TIMEOUT_REPLY
            ", "
            "now() - interval '5 seconds', 'it-resolver')";
    }
    const char *p[] = {t.rid, type, op, t.order, bureau, amount, tstatus, vendor};
    run(q, 8, p);
    const char *p2[] = {t.rid, worker, t.order, bureau, op, amount, rr_status};
    PGresult *r =
        sql("INSERT INTO required_response (request_id, worker, company, order_number, "
            "pay_seq, service_bureau, operation, amount, currency, reason, detail, "
            "status, escalated_at, worker_replied_at) VALUES ($1::text, $2::text, " COMPANY
            ", $3::text, 1, $4::text, $5::text, "
            "$6::numeric, 'USD', 'timeout', 'it: no answer within the response time', "
            "$7::text, CASE WHEN $7::text = 'escalated' THEN now() END, now()) "
            "RETURNING id",
            7, p2);
    t.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(t.sid, sizeof t.sid, "%lld", (long long)t.id);
    PQclear(r);
    return t;
}

static trow mkrow(const char *worker, const char *bureau, const char *op, const char *amount,
                  const char *rr_status)
{
    return mkrow_status(worker, bureau, op, amount, rr_status, "unknown");
}

/* Due a second ago. */
static void due(const trow *t)
{
    const char *p[] = {t->sid};
    run("UPDATE required_response SET next_query_at = now() - interval '1 second' "
        "WHERE id = $1::bigint",
        1, p);
}

/* Sent two days ago: a CyberSource "not there" is believed (not_found_after_s is at most a
 * day, migration 022). */
static void sent_long_ago(const trow *t)
{
    const char *p[] = {t->rid};
    if (strcmp(t->worker, "auth") == 0)
        run("UPDATE cc_auth_trans SET sent_at = now() - interval '2 days' WHERE request_id = $1", 1,
            p);
    else if (strcmp(t->worker, "deposit") == 0)
        run("UPDATE cc_deposit_trans SET sent_at = now() - interval '2 days' "
            "WHERE request_id = $1",
            1, p);
    else
        run("UPDATE auth_reversal SET sent_at = now() - interval '2 days' WHERE request_id = $1", 1,
            p);
}

/* Held by `owner` for `secs` more seconds (negative: a lease that has passed). */
static void lease(const trow *t, const char *owner, int secs)
{
    char s[16];
    snprintf(s, sizeof s, "%d", secs);
    const char *p[] = {t->sid, owner, s};
    run("UPDATE required_response SET lease_owner = $2, "
        "lease_until = now() + make_interval(secs => $3::int) WHERE id = $1::bigint",
        3, p);
}

static void mark_resolved(const trow *t)
{
    const char *p[] = {t->sid};
    run("UPDATE required_response SET status = 'resolved', resolution = 'error', "
        "resolved_how = 'operator', resolved_by = 'it', resolved_at = now(), "
        "next_query_at = now() - interval '1 second' WHERE id = $1::bigint",
        1, p);
}

/* Deletes every row of this run, in dependency order; strict: a failure fails the test. */
static void cleanup(bool strict)
{
    static const char *const deletes[] = {
        "DELETE FROM replaced_auth_reversal WHERE deposit_request_id LIKE $1",
        "DELETE FROM reversal_reask WHERE request_id LIKE $1",
        "DELETE FROM required_response WHERE request_id LIKE $1",
        "DELETE FROM auth_reversal WHERE request_id LIKE $1",
        "DELETE FROM svc_trans WHERE request_id LIKE $1",
        "DELETE FROM auth_history WHERE request_id LIKE $1 OR deposit_request_id LIKE $1",
        "DELETE FROM cc_deposit_history WHERE request_id LIKE $1",
        "DELETE FROM cc_deposit_trans WHERE request_id LIKE $1",
        "DELETE FROM card_cit WHERE request_id LIKE $1",
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

/* The reversals owed for replaced authorizations (replaced_auth_reversal) that are not this
 * run's and that a pass of paylink-deposit's resolver would take now ($1 g_like): "" when none. */
#define OWED_OF_OTHERS                                                                             \
    "SELECT coalesce(string_agg(deposit_request_id, ', '), '') FROM replaced_auth_reversal "       \
    "WHERE published_at IS NULL AND deposit_request_id NOT LIKE $1 "                               \
    "AND (lease_until IS NULL OR lease_until < now())"

/* Rows of others that a pass of a `worker` resolver would take now (due, or a final reply to
 * publish): the test's passes must never touch them. */
static void assert_nothing_else_due(const char *worker)
{
    const char *p[] = {worker, g_like};
    PGresult *r =
        sql("SELECT coalesce(string_agg(r.id::text || ' ' || r.request_id, ', '), '') "
            "FROM required_response r "
            "LEFT JOIN auth_service s ON s.service_bureau = r.service_bureau "
            "LEFT JOIN resolution_policy p ON p.protocol = s.protocol AND p.worker = r.worker "
            "WHERE r.worker = $1 AND r.request_id NOT LIKE $2 "
            "AND (r.lease_until IS NULL OR r.lease_until < now()) AND (r.reply_pending OR "
            "(r.status = 'open' AND coalesce(r.next_query_at, r.created_at + "
            "make_interval(secs => coalesce(p.first_query_after_s, 10))) <= now()))",
            2, p);
    char rows[512];
    snprintf(rows, sizeof rows, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (rows[0])
        fail_msg("required responses of others are due for the %s resolver (%s): this test "
                 "would take them",
                 worker, rows);
    if (strcmp(worker, "deposit") != 0)
        return;
    /* paylink-deposit's resolver also publishes the reversals owed for replaced authorizations
     * (057): those of others would go to this test's callback, never to Kafka. */
    const char *q[] = {g_like};
    r = sql(OWED_OF_OTHERS, 1, q);
    snprintf(rows, sizeof rows, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (rows[0])
        fail_msg("reversals of others are owed (replaced_auth_reversal: %s): this test's deposit "
                 "resolver would take them (the running paylink-deposit publishes them when it "
                 "has migration 057's resolver)",
                 rows);
}

/*
 * A pass of a `reversal` resolver also decides on the reversals recorded for being asked again
 * (reversal_reask, 069; test_resolver_reask.c): those of others it could take now are held under
 * a lease of the test's while it passes (hold), and given back after (!hold), so that it
 * publishes none of theirs to the test's callback, and takes none from the running system for
 * longer than a moment.
 */
static void reask_park(bool hold)
{
    const char *p[] = {g_prefix};
    run(hold ? "UPDATE reversal_reask SET lease_owner = $1 || 'park', "
               "lease_until = now() + interval '2 minutes' WHERE done_at IS NULL "
               "AND (lease_until IS NULL OR lease_until < now())"
             : "UPDATE reversal_reask SET lease_owner = NULL, lease_until = NULL "
               "WHERE lease_owner = $1 || 'park'",
        1, p);
}

/* Whether reversals owed that are not this run's are due now (OWED_OF_OTHERS). */
static bool others_owed(void)
{
    const char *q[] = {g_like};
    PGresult *r = sql(OWED_OF_OTHERS, 1, q);
    bool some = PQgetvalue(r, 0, 0)[0] != '\0';
    PQclear(r);
    return some;
}

/*
 * Waits (at most 6 s; a few times that while reversals the running system owes wait for its
 * next pass) for a moment when every resolver of `worker` the running system has
 * (application_name paylink-<worker>-resolver, connected before this run) has just finished a
 * pass: it sleeps PAYLINK_RESOLVER_INTERVAL_MS before the next, and what the test does in the
 * next g_quiet_ms is the test's alone. Without such resolvers it returns at once.
 */
static void quiet(const char *worker)
{
    char app[64], ms[16];
    snprintf(app, sizeof app, "paylink-%s-resolver", worker);
    snprintf(ms, sizeof ms, "%d", g_quiet_ms);
    const char *p[] = {app, g_t0, ms};
    bool found = false;
    /* Reversals owed that are not this run's are the running system's own (its auth+captures
     * write them, 057 and 059), which its paylink-deposit resolvers publish at their next pass:
     * seen in a pause, the test waits for the pause after that pass (4 more at most) rather than
     * failing; any still owed then fail it (assert_nothing_else_due), as before. */
    for (int round = 0;
         round < 5 && (round == 0 || (found && strcmp(worker, "deposit") == 0 && others_owed()));
         round++) {
        if (round > 0)
            usleep((useconds_t)g_quiet_ms * 1000 + 20000); /* past this pause */
        found = false;
        for (int i = 0; i < 1200 && !found; i++) {
            PGresult *r = sql("SELECT count(*) = count(*) FILTER (WHERE state = 'idle' AND "
                              "clock_timestamp() - state_change BETWEEN interval '15 milliseconds' "
                              "AND make_interval(secs => $3::int / 1000.0)) "
                              "FROM pg_stat_activity WHERE application_name = $1 "
                              "AND backend_start < $2::timestamptz",
                              3, p);
            found = PQgetvalue(r, 0, 0)[0] == 't';
            PQclear(r);
            if (!found)
                usleep(5000);
        }
    }
    if (!found)
        fprintf(stderr,
                "note: the %s resolvers of the running system never paused together; "
                "going on\n",
                worker);
    assert_nothing_else_due(worker);
}

/* ---- publishing ------------------------------------------------------------------------- */

typedef struct published {
    char topic[64];
    char key[64];
    char *payload;
    bool failed;
} published;

typedef struct pubrec {
    pthread_mutex_t mu;
    bool fail; /* refuse every message */
    int calls;
    published msg[16];
    /* When set: the required response's reversal_request_id|lease_owner as another actor would
     * read them while a message is being published (the publish may outlast the lease). */
    const char *watch_sid;
    char watched[16][128];
} pubrec;

static int on_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz)
{
    pubrec *pr = arg;
    pthread_mutex_lock(&pr->mu);
    int i = pr->calls++;
    bool fail = pr->fail;
    if (i < (int)(sizeof pr->msg / sizeof pr->msg[0])) {
        snprintf(pr->msg[i].topic, sizeof pr->msg[i].topic, "%s", topic);
        snprintf(pr->msg[i].key, sizeof pr->msg[i].key, "%s", key);
        pr->msg[i].payload = strdup(payload);
        pr->msg[i].failed = fail;
    }
    pthread_mutex_unlock(&pr->mu);
    if (pr->watch_sid && i < (int)(sizeof pr->watched / sizeof pr->watched[0])) {
        const char *p[] = {pr->watch_sid};
        PGresult *r = PQexecParams(g_admin,
                                   "SELECT concat_ws('|', coalesce(reversal_request_id, '-'), "
                                   "coalesce(lease_owner, '-')) FROM required_response "
                                   "WHERE id = $1::bigint",
                                   1, NULL, p, NULL, NULL, 0);
        snprintf(pr->watched[i], sizeof pr->watched[i], "%s",
                 PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0)
                                                                           : "(unreadable)");
        PQclear(r);
    }
    if (fail) {
        snprintf(err, errsz, "it: the broker refused the message");
        return -1;
    }
    return 0;
}

static void pub_init(pubrec *pr)
{
    memset(pr, 0, sizeof *pr);
    pthread_mutex_init(&pr->mu, NULL);
}

static void pub_free(pubrec *pr)
{
    int n = pr->calls < 16 ? pr->calls : 16;
    for (int i = 0; i < n; i++)
        free(pr->msg[i].payload);
    pthread_mutex_destroy(&pr->mu);
}

/* The message published for row t (the only one with its key); fails when there is none or
 * more than one. */
static const published *published_for(const pubrec *pr, const trow *t)
{
    const published *m = NULL;
    int n = pr->calls < 16 ? pr->calls : 16;
    for (int i = 0; i < n; i++) {
        if (strcmp(pr->msg[i].key, t->key) != 0)
            continue;
        if (m)
            fail_msg("the final reply of %s was published twice", t->rid);
        m = &pr->msg[i];
    }
    if (!m)
        fail_msg("no final reply of %s was published", t->rid);
    return m;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* A final reply as the upstream system reads it. */
static void assert_final_reply(const published *m, const trow *t, const char *status,
                               const char *resolution)
{
    char topic[64];
    snprintf(topic, sizeof topic, "it.%s.reply", t->worker);
    assert_string_equal(m->topic, topic);
    assert_string_equal(m->key, t->key);
    json_object *o = json_tokener_parse(m->payload);
    if (!o)
        fail_msg("the final reply is not JSON: %s", m->payload);
    assert_string_equal(jstr(o, "request_id"), t->rid);
    assert_string_equal(jstr(o, "status"), status);
    assert_string_equal(jstr(o, "resolution"), resolution);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "resolved", &v) && json_object_get_boolean(v));
    /* Nothing more is required of anyone. */
    assert_false(json_object_object_get_ex(o, "required_response", &v));
    assert_false(json_object_object_get_ex(o, "replayed", &v));
    assert_string_equal(jstr(o, "order"), t->order);
    json_object_put(o);
    /* What was published is what is stored (a redelivery is answered with it). */
    const char *p[] = {t->rid, m->payload};
    const char *q =
        strcmp(t->worker, "auth") == 0
            ? "SELECT (reply = $2::jsonb)::text FROM cc_auth_trans WHERE request_id = $1"
        : strcmp(t->worker, "deposit") == 0
            ? "SELECT (reply = $2::jsonb)::text FROM cc_deposit_trans "
              "WHERE request_id = $1"
            : "SELECT (reply = $2::jsonb)::text FROM auth_reversal WHERE request_id = $1";
    PGresult *r = sql(q, 2, p);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "true");
    PQclear(r);
}

/* ---- resolvers -------------------------------------------------------------------------- */

static const char *owner(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s%s/resolver", g_prefix, name);
    return buf;
}

/* A resolver of worker's rows; its counters in metrics when not NULL. */
static pl_resolver *resolver_m(const char *worker, const char *own, pubrec *pr, pl_metrics *metrics)
{
    const char *ca = getenv("PAYLINK_CA_FILE");
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = worker,
                              .owner = own,
                              .topic_prefix = "it",
                              .ca_file = ca && *ca ? ca : NULL,
                              .publish = on_publish,
                              .publish_arg = pr,
                              .metrics = metrics};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    /* Connected now (asked about a row that does not exist), not in a test's quiet moment. */
    char msg[256];
    assert_int_equal(pl_resolver_retry(r, 0, false, msg, sizeof msg), PL_ERR_NOTFOUND);
    return r;
}

static pl_resolver *resolver(const char *worker, const char *own, pubrec *pr)
{
    return resolver_m(worker, own, pr, NULL);
}

/* status|queries|lease_owner|reply_pending|last_query_result of a required response. */
#define RR_STATE                                                                                   \
    "SELECT concat_ws('|', status, queries, coalesce(lease_owner, '-'), reply_pending, "           \
    "last_query_result) FROM required_response WHERE id = $1::bigint"

#define AUTH_STATUS "SELECT status FROM cc_auth_trans WHERE request_id = $1"
#define AUTH_HISTORY                                                                               \
    "SELECT concat_ws('|', count(*), coalesce(min(status), '-'), "                                 \
    "coalesce(min(amount_authorized)::text, '-'), coalesce(min(transaction_type), '-')) "          \
    "FROM auth_history WHERE request_id = $1"

/* Escalated at the first step because the bureau cannot be asked; the transaction untouched. */
static void assert_escalated_by_policy(const trow *t)
{
    char want[256];
    snprintf(want, sizeof want, "escalated|0|-|f|%s", POLICY_WHY);
    assert_value(RR_STATE, t->sid, want);
    assert_value("SELECT concat_ws('|', escalated_at IS NOT NULL, next_query_at IS NULL, "
                 "lease_until IS NULL, last_query_at IS NULL, resolved_at IS NULL) "
                 "FROM required_response WHERE id = $1::bigint",
                 t->sid, "t|t|t|t|t");
}

/* Resolved by the query that found nothing at the bureau, long after the request was sent. */
static void assert_resolved_not_found(const trow *t)
{
    assert_value("SELECT concat_ws('|', status, resolution, resolved_how, resolved_by, queries, "
                 "coalesce(lease_owner, '-'), reply_pending, lease_until IS NULL) "
                 "FROM required_response WHERE id = $1::bigint",
                 t->sid, "resolved|error|query|paylink-auth resolver|1|-|f|t");
    assert_value("SELECT last_query_result FROM required_response WHERE id = $1::bigint", t->sid,
                 "the bureau has no record of this request: it was never processed and nothing "
                 "was charged");
    assert_value("SELECT concat_ws('|', status, reply->>'status', reply->>'resolved', "
                 "reply->>'resolution', reply ? 'required_response') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 t->rid, "error|error|true|query|f");
    assert_value(AUTH_HISTORY, t->rid, "1|error|-|auth");
}

/* ---- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    return it_resolver_open("it_test_resolver", "rsv", &g_conninfo, &g_admin, g_prefix,
                            sizeof g_prefix, g_like, sizeof g_like, g_t0, sizeof g_t0, &g_quiet_ms);
}

static int group_teardown(void **state)
{
    (void)state;
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
    for (size_t i = 0; i < sizeof g_side / sizeof g_side[0]; i++) {
        PQfinish(g_side[i]);
        g_side[i] = NULL;
    }
    cleanup(true);
    return 0;
}

/* ---- (a) a pass takes the due rows of its worker ------------------------------------------ */

static void test_pass_takes_due_rows_of_its_worker(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "a"), &pub);

    trow older = mkrow("auth", "EXT", "auth", "10.00", "open");
    trow newer = mkrow("auth", "EXT", "auth", "11.00", "open");
    trow later = mkrow("auth", "EXT", "auth", "12.00", "open");
    /* A row before its first step (tools/dev's test profile: a day after it was created). */
    char first[16];
    value(first, sizeof first,
          "SELECT (first_query_after_s >= 60)::text FROM resolution_policy "
          "WHERE protocol = 'EXT' AND worker = $1",
          "auth");
    bool has_fresh = strcmp(first, "true") == 0;
    trow fresh = {0};
    if (has_fresh)
        fresh = mkrow("auth", "EXT", "auth", "13.00", "open");
    trow escalated = mkrow("auth", "EXT", "auth", "14.00", "escalated");
    trow resolved = mkrow("auth", "EXT", "auth", "15.00", "open");
    /* Due for paylink-deposit's resolvers (the running system's take it soon). */
    trow deposit = mkrow("deposit", "EXT", "capture", "16.00", "open");
    /* Older rows, not due before due() below: where first_query_after_s is under a minute
     * (tools/dev up's profile), a row created minutes ago is due at once, and the running
     * system's resolver would take it while quiet() waits. */
    run1("UPDATE required_response SET created_at = now() - interval '2 minutes', "
         "next_query_at = now() + interval '1 hour' WHERE id = $1::bigint",
         older.sid);
    run1("UPDATE required_response SET created_at = now() - interval '1 minute', "
         "next_query_at = now() + interval '1 hour' WHERE id = $1::bigint",
         newer.sid);
    /* Not due for another hour; a fresh row waits for first_query_after_s. */
    run1("UPDATE required_response SET next_query_at = now() + interval '1 hour' "
         "WHERE id = $1::bigint",
         later.sid);
    mark_resolved(&resolved);
    due(&escalated);
    quiet("auth");
    due(&older);
    due(&newer);
    due(&deposit);

    /* The oldest first, as many as asked for. */
    assert_int_equal(pl_resolver_pass(r, 1), 1);
    assert_escalated_by_policy(&older);
    assert_value(RR_STATE, newer.sid, "open|0|-|f|");
    assert_int_equal(pl_resolver_pass(r, 10), 1);
    assert_escalated_by_policy(&newer);
    /* Nothing else: not the deposit row, not a row due later, an escalated or a resolved one
     * (had it taken any, the pass would have said so). */
    assert_int_equal(pl_resolver_pass(r, 10), 0);
    assert_value(RR_STATE, later.sid, "open|0|-|f|");
    if (has_fresh)
        assert_value(RR_STATE, fresh.sid, "open|0|-|f|");
    assert_value(RR_STATE, escalated.sid, "escalated|0|-|f|");
    assert_value(RR_STATE, resolved.sid, "resolved|0|-|f|");
    /* Escalating decides nothing: the transactions stay unknown, nothing is published. */
    assert_value(AUTH_STATUS, older.rid, "unknown");
    assert_value(AUTH_STATUS, newer.rid, "unknown");
    assert_int_equal(pub.calls, 0);

    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* ---- (b) two resolvers over the same rows ------------------------------------------------ */

typedef struct racer {
    pl_resolver *r;
    pthread_barrier_t *start;
    int took, errors;
} racer;

/* Passes of one row each until nothing is left, as a worker's resolver thread does. */
static void *race(void *arg)
{
    racer *x = arg;
    pthread_barrier_wait(x->start);
    for (int i = 0; i < 50; i++) {
        int n = pl_resolver_pass(x->r, 1);
        if (n < 0)
            x->errors++;
        if (n <= 0)
            break;
        x->took += n;
    }
    return NULL;
}

static void test_two_resolvers(void **state)
{
    (void)state;
    enum { NEXT = 4, NCYB = 2 };
    pubrec pa, pb;
    pub_init(&pa);
    pub_init(&pb);
    char oa[128], ob[128];
    pl_resolver *ra = resolver("auth", owner(oa, sizeof oa, "A"), &pa);
    pl_resolver *rb = resolver("auth", owner(ob, sizeof ob, "B"), &pb);
    trow ext[NEXT], cyb[NCYB];
    for (int i = 0; i < NEXT; i++)
        ext[i] = mkrow("auth", "EXT", "auth", "21.00", "open");
    for (int i = 0; i < NCYB; i++) {
        cyb[i] = mkrow("auth", "CYB", "auth", "22.00", "open");
        sent_long_ago(&cyb[i]);
    }
    quiet("auth");
    for (int i = 0; i < NEXT; i++)
        due(&ext[i]);
    for (int i = 0; i < NCYB; i++)
        due(&cyb[i]);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    racer a = {.r = ra, .start = &start}, b = {.r = rb, .start = &start};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);

    /* Each row taken by exactly one of them, each step taken once. */
    assert_int_equal(a.errors + b.errors, 0);
    assert_int_equal(a.took + b.took, NEXT + NCYB);
    for (int i = 0; i < NEXT; i++)
        assert_escalated_by_policy(&ext[i]);
    for (int i = 0; i < NCYB; i++)
        assert_resolved_not_found(&cyb[i]);
    /* One final reply per applied row, whoever applied it. */
    assert_int_equal(pa.calls + pb.calls, NCYB);
    for (int i = 0; i < NCYB; i++) {
        int in_a = 0, in_b = 0;
        for (int k = 0; k < pa.calls; k++)
            in_a += strcmp(pa.msg[k].key, cyb[i].key) == 0;
        for (int k = 0; k < pb.calls; k++)
            in_b += strcmp(pb.msg[k].key, cyb[i].key) == 0;
        assert_int_equal(in_a + in_b, 1);
        assert_final_reply(published_for(in_a ? &pa : &pb, &cyb[i]), &cyb[i], "error", "query");
    }
    /* Nothing left for either. */
    assert_int_equal(pl_resolver_pass(ra, 10), 0);
    assert_int_equal(pl_resolver_pass(rb, 10), 0);

    pl_resolver_destroy(ra);
    pl_resolver_destroy(rb);
    pub_free(&pa);
    pub_free(&pb);
}

/* ---- (c) a lease keeps a row; one that has passed does not ------------------------------- */

static void test_lease(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char oa[128], ob[128];
    owner(oa, sizeof oa, "A");
    pl_resolver *rb = resolver("auth", owner(ob, sizeof ob, "B"), &pub);
    trow t = mkrow("auth", "CYB", "auth", "31.00", "open");
    sent_long_ago(&t);
    /* Resolver A took the row and was killed in the middle of its step. */
    lease(&t, oa, 3600);
    quiet("auth");
    due(&t);
    assert_int_equal(pl_resolver_pass(rb, 10), 0);
    char want[256];
    snprintf(want, sizeof want, "open|0|%s|f|", oa);
    assert_value(RR_STATE, t.sid, want);
    assert_value(AUTH_STATUS, t.rid, "unknown");
    assert_int_equal(pub.calls, 0);

    /* A's lease has passed: B takes the row and settles it. */
    quiet("auth");
    lease(&t, oa, -1);
    assert_int_equal(pl_resolver_pass(rb, 10), 1);
    assert_resolved_not_found(&t);
    assert_int_equal(pub.calls, 1);
    assert_final_reply(published_for(&pub, &t), &t, "error", "query");

    pl_resolver_destroy(rb);
    pub_free(&pub);
}

/* ---- (d) where the bureau cannot be asked ------------------------------------------------ */

static void test_escalated_when_bureau_cannot_be_asked(void **state)
{
    (void)state;
    struct {
        const char *worker, *bureau, *op;
    } cases[] = {
        {"reversal", "RLT", "reversal"},
        {"auth", "EXT", "auth"},
        {"deposit", "EXT", "capture"},
        {"reversal", "EXT", "reversal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pubrec pub;
        pub_init(&pub);
        char own[128];
        pl_resolver *r = resolver(cases[i].worker, owner(own, sizeof own, "d"), &pub);
        trow t = mkrow(cases[i].worker, cases[i].bureau, cases[i].op, "41.00", "open");
        bool reversal = strcmp(cases[i].worker, "reversal") == 0;
        quiet(cases[i].worker);
        if (reversal)
            reask_park(true);
        due(&t);
        int n = pl_resolver_pass(r, 10);
        if (reversal)
            reask_park(false);
        assert_int_equal(n, 1);
        assert_escalated_by_policy(&t);
        assert_int_equal(pub.calls, 0);
        pl_resolver_destroy(r);
        pub_free(&pub);
    }
    assert_value("SELECT string_agg(DISTINCT t.status, ',') FROM ("
                 "SELECT status FROM cc_auth_trans WHERE request_id LIKE $1 UNION ALL "
                 "SELECT status FROM cc_deposit_trans WHERE request_id LIKE $1 UNION ALL "
                 "SELECT status FROM auth_reversal WHERE request_id LIKE $1) t",
                 g_like, "unknown");
}

/* ---- (e) an operator's outcome ----------------------------------------------------------- */

static void test_operator_approves_auth(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_metrics *metrics = pl_metrics_new("auth");
    assert_non_null(metrics);
    pl_resolver *r = resolver_m("auth", owner(own, sizeof own, "op"), &pub, metrics);
    trow t = mkrow("auth", "CYB", "auth", "12.34", "escalated");
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    /* Approved without the bureau's transaction id, no capture or reversal could name it:
     * refused, nothing changes. */
    assert_int_equal(pl_resolver_operator(r, t.id, &o, "alice", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "needs the bureau's transaction id");
    assert_value("SELECT status FROM cc_auth_trans WHERE request_id = $1", t.rid, "unknown");
    assert_value("SELECT status || '|' || coalesce(lease_owner, '-') FROM required_response "
                 "WHERE id = $1::bigint",
                 t.sid, "escalated|-");
    snprintf(o.transaction_id, sizeof o.transaction_id, "7419661750346782304011");
    assert_int_equal(pl_resolver_operator(r, t.id, &o, "alice",
                                          "confirmed with the bureau by phone", msg, sizeof msg),
                     0);
    assert_contains(msg, "resolved approved by alice");
    assert_contains(msg, "final reply published");
    /* The transaction as if the answer had come in time, with the row's amount. */
    assert_value("SELECT concat_ws('|', status, amount_approved, decision, answered_at IS NOT "
                 "NULL, reply->>'status', reply->>'resolved', reply->>'resolution', "
                 "reply->>'amount_approved', reply ? 'required_response') "
                 "FROM cc_auth_trans WHERE request_id = $1",
                 t.rid, "approved|12.34|ACCEPT|t|approved|true|operator|12.34|f");
    assert_value(AUTH_HISTORY, t.rid, "1|approved|12.34|auth");
    assert_value("SELECT concat_ws('|', status, resolution, resolved_how, resolved_by, "
                 "reply_pending, coalesce(lease_owner, '-'), lease_until IS NULL, "
                 "resolved_at IS NOT NULL, resolution_note) "
                 "FROM required_response WHERE id = $1::bigint",
                 t.sid,
                 "resolved|approved|operator|alice|f|-|t|t|operator alice: confirmed with "
                 "the bureau by phone");
    assert_int_equal(pub.calls, 1);
    const published *m = published_for(&pub, &t);
    assert_final_reply(m, &t, "approved", "operator");
    json_object *j = json_tokener_parse(m->payload);
    assert_string_equal(jstr(j, "amount_approved"), "12.34");
    assert_string_equal(jstr(j, "decision"), "ACCEPT");
    json_object_put(j);

    /* More than the request sent is refused, whoever calls (not only paylinkctl): nothing
     * changes, nothing is published. */
    trow over = mkrow("auth", "CYB", "auth", "50.00", "escalated");
    pl_resolve_outcome oo = {.status = PL_ST_APPROVED, .has_amount = true, .amount = 5001};
    snprintf(oo.transaction_id, sizeof oo.transaction_id, "7419661750346782304012");
    assert_int_equal(pl_resolver_operator(r, over.id, &oo, "alice", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "above the 50.00 the request sent");
    assert_value("SELECT status FROM cc_auth_trans WHERE request_id = $1", over.rid, "unknown");
    assert_int_equal(pub.calls, 1);

    /* An amount of the operator's own (a partial approval). */
    trow part = mkrow("auth", "CYB", "auth", "50.00", "escalated");
    pl_resolve_outcome po = {.status = PL_ST_APPROVED, .has_amount = true, .amount = 1000};
    snprintf(po.auth_number, sizeof po.auth_number, "OK1234");
    snprintf(po.transaction_id, sizeof po.transaction_id, "7419661750346782304013");
    assert_int_equal(pl_resolver_operator(r, part.id, &po, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, amount_approved, auth_number, "
                 "reply->>'amount_approved', reply->'auth'->>'number') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 part.rid, "approved|10.00|OK1234|10.00|OK1234");
    assert_value(AUTH_HISTORY, part.rid, "1|approved|10.00|auth");
    assert_value("SELECT resolution_note FROM required_response WHERE id = $1::bigint", part.sid,
                 "operator alice: outcome confirmed with the bureau");
    assert_int_equal(pub.calls, 2);

    /* Counted by how, with label values as the alerting rules match them
     * (deploy/prometheus/alerts.yaml: result="failed", not result="\"failed\""). */
    char *text = pl_metrics_render(metrics);
    assert_non_null(text);
    assert_contains(text, "paylink_required_responses_resolved_total{worker=\"auth\","
                          "how=\"operator\"} 2\n");
    assert_contains(text, "paylink_required_responses_resolved_total{worker=\"auth\","
                          "how=\"query\"} 0\n");
    assert_contains(text, "paylink_resolver_queries_total{worker=\"auth\",result=\"failed\"} 0\n");
    assert_null(strstr(text, "\\\""));
    free(text);

    /* A cardholder-initiated EXT authorization approved by an operator becomes the CIT of its
     * order payment method, as paylink-auth's store makes it: the split shipments and
     * installments that follow name it (before, none was recorded). */
    trow cit = mkrow("auth", "EXT", "auth", "75.00", "escalated");
    run1("UPDATE cc_auth_trans SET initiator = 'CARDHOLDER' WHERE request_id = $1", cit.rid);
    pl_resolve_outcome co = {.status = PL_ST_APPROVED};
    snprintf(co.transaction_id, sizeof co.transaction_id, "ext-cit-%d", (int)getpid());
    assert_int_equal(pl_resolver_operator(r, cit.id, &co, "alice", NULL, msg, sizeof msg), 0);
    char want[160];
    snprintf(want, sizeof want, "%s|75.00|%s", co.transaction_id, cit.rid);
    assert_value("SELECT concat_ws('|', transaction_id, amount, request_id) FROM card_cit "
                 "WHERE company = " COMPANY " AND order_number = $1 AND pay_seq = 1",
                 cit.order, want);

    pl_resolver_destroy(r);
    pl_metrics_destroy(metrics);
    pub_free(&pub);
}

static void test_operator_declines_and_errors(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);

    trow d = mkrow("auth", "CYB", "auth", "60.00", "escalated");
    pl_resolve_outcome od = {.status = PL_ST_DECLINED};
    snprintf(od.vendor_response, sizeof od.vendor_response, "203");
    assert_int_equal(
        pl_resolver_operator(r, d.id, &od, "bob", "declined per bureau", msg, sizeof msg), 0);
    assert_contains(msg, "resolved declined by bob");
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), decision, "
                 "vendor_response, reply->>'status', reply->>'vendor_response', "
                 "reply ? 'amount_approved') FROM cc_auth_trans WHERE request_id = $1",
                 d.rid, "declined|-|REJECT|203|declined|203|f");
    assert_value(AUTH_HISTORY, d.rid, "1|declined|-|auth");
    assert_value("SELECT concat_ws('|', status, resolution, resolved_how, resolved_by) "
                 "FROM required_response WHERE id = $1::bigint",
                 d.sid, "resolved|declined|operator|bob");
    assert_final_reply(published_for(&pub, &d), &d, "declined", "operator");

    trow e = mkrow("auth", "EXT", "auth", "61.00", "escalated");
    pl_resolve_outcome oe = {.status = PL_ST_ERROR, .has_amount = true, .amount = 6100};
    assert_int_equal(
        pl_resolver_operator(r, e.id, &oe, "bob", "never reached the bureau", msg, sizeof msg), 0);
    assert_contains(msg, "resolved error by bob");
    /* An amount is approved only by an approval. */
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), decision, "
                 "reply->>'status') FROM cc_auth_trans WHERE request_id = $1",
                 e.rid, "error|-|ERROR|error");
    assert_value(AUTH_HISTORY, e.rid, "1|error|-|auth");
    assert_value("SELECT concat_ws('|', status, resolution, resolved_how, resolved_by) "
                 "FROM required_response WHERE id = $1::bigint",
                 e.sid, "resolved|error|operator|bob");
    assert_final_reply(published_for(&pub, &e), &e, "error", "operator");
    assert_int_equal(pub.calls, 2);

    /* Decision Manager's outcomes of a CyberSource authorization: a review holds the amount,
     * held as the vendor response table says for 480 (FS), so a capture can claim on it and a
     * later decision (dmupdate) finds it; a reject (481 after the issuer approved) needs the
     * authorization's transaction id, deactivates the payment and stores its reversal to go
     * with the reply (Send reversal is on for CYB). */
    trow rv = mkrow("auth", "CYB", "auth", "63.00", "escalated");
    pl_resolve_outcome review = {.status = PL_ST_REVIEW};
    snprintf(review.transaction_id, sizeof review.transaction_id, "7419661750346782304098");
    assert_int_equal(
        pl_resolver_operator(r, rv.id, &review, "bob", "held in case management", msg, sizeof msg),
        0);
    assert_contains(msg, "resolved review by bob");
    assert_value("SELECT concat_ws('|', status, amount_approved, decision, vendor_response, "
                 "hold_reason, transaction_id, reply->>'status', reply->>'hold_reason', "
                 "reply->>'amount_approved') FROM cc_auth_trans WHERE request_id = $1",
                 rv.rid, "review|63.00|REVIEW|480|FS|7419661750346782304098|review|FS|63.00");
    assert_final_reply(published_for(&pub, &rv), &rv, "review", "operator");
    trow rj = mkrow("auth", "CYB", "auth", "64.00", "escalated");
    pl_resolve_outcome rejected = {.status = PL_ST_REJECTED};
    assert_int_equal(pl_resolver_operator(r, rj.id, &rejected, "bob", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "needs the authorization's transaction id");
    assert_value(AUTH_STATUS, rj.rid, "unknown");
    snprintf(rejected.transaction_id, sizeof rejected.transaction_id, "7419661750346782304099");
    assert_int_equal(pl_resolver_operator(r, rj.id, &rejected, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), decision, "
                 "vendor_response, hold_reason, payment_deactivated, reply->>'status', "
                 "jsonb_array_length(followups), followups->0->>'topic') "
                 "FROM cc_auth_trans WHERE request_id = $1",
                 rj.rid, "rejected|-|REJECT|481|FS|t|rejected|1|it.reversal.request");
    char rev[80];
    snprintf(rev, sizeof rev, "%s.rev", rj.rid);
    assert_value("SELECT (followups->0->>'payload')::jsonb->>'request_id' FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 rj.rid, rev);
    /* Published: the reversal first, then the final reply (both under the order's key). */
    assert_int_equal(pub.calls, 5);
    assert_string_equal(pub.msg[3].topic, "it.reversal.request");
    assert_string_equal(pub.msg[3].key, rj.key);
    json_object *revj = json_tokener_parse(pub.msg[3].payload);
    assert_non_null(revj);
    assert_string_equal(jstr(revj, "request_id"), rev);
    json_object_put(revj);
    assert_final_reply(&pub.msg[4], &rj, "rejected", "operator");
    /* A reject of a partial approval (the issuer held 37.00 of 74.00): the reversal is for what
     * is held. Mapped as Decision Manager's answer, the amount was dropped and the reversal
     * went for 74.00, which CyberSource refuses above what it authorized (the hold stayed);
     * the resolver's query path maps a record the same way. */
    trow rp = mkrow("auth", "CYB", "auth", "74.00", "escalated");
    pl_resolve_outcome rejp = rejected;
    rejp.amount = 3700;
    assert_int_equal(pl_resolver_operator(r, rp.id, &rejp, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), "
                 "(followups->0->>'payload')::jsonb->>'amount') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 rp.rid, "rejected|-|37.00");

    /* Outcomes an operator cannot give, or without a name: nothing happens. */
    trow x = mkrow("auth", "CYB", "auth", "62.00", "escalated");
    pl_resolve_outcome ok = {.status = PL_ST_APPROVED};
    pl_resolve_outcome canceled = {.status = PL_ST_INVALID};
    assert_int_equal(pl_resolver_operator(r, x.id, &canceled, "bob", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    trow xe = mkrow("auth", "EXT", "auth", "65.00", "escalated");
    assert_int_equal(pl_resolver_operator(r, xe.id, &review, "bob", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "Decision Manager outcomes of a CyberSource authorization");
    assert_value(AUTH_STATUS, xe.rid, "unknown");
    assert_int_equal(pl_resolver_operator(r, x.id, &ok, "", NULL, msg, sizeof msg), PL_ERR_INVALID);
    assert_int_equal(pl_resolver_operator(r, x.id, &ok, NULL, NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_int_equal(pl_resolver_operator(r, x.id, NULL, "bob", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_value(RR_STATE, x.sid, "escalated|0|-|f|");
    assert_value(AUTH_STATUS, x.rid, "unknown");
    /* The review's reply; each reject's reversal and reply. */
    assert_int_equal(pub.calls, 7);

    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* A reject deactivates the payment as the bureau's vendor response row for its code says (the
 * demo's 481 does), as paylink-auth's store does, not by the code alone. */
static void test_reject_deactivates_as_the_table_says(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    trow t = mkrow("auth", "CYB", "auth", "66.00", "escalated");
    pl_resolve_outcome o = {.status = PL_ST_REJECTED};
    snprintf(o.transaction_id, sizeof o.transaction_id, "7419661750346782304096");
    const char *flip = "UPDATE vendor_response SET deactivate_payment = NOT deactivate_payment "
                       "WHERE service_bureau = 'CYB' AND response_kind = 'reason' "
                       "AND response_code = '481'";
    run(flip, 0, NULL);
    int rc = pl_resolver_operator(r, t.id, &o, "erin", NULL, msg, sizeof msg);
    run(flip, 0, NULL);
    assert_int_equal(rc, 0);
    assert_value("SELECT status || '|' || payment_deactivated FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 t.rid, "rejected|false");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* The resolver's line naming the reversal it stored to go with an auth row's final reply is
 * written only once the outcome committed. Before, it was written when the follow-up was stored,
 * so a commit that failed (here a deferred constraint trigger refusing it) left a line naming a
 * reversal that was never stored, nor ever published. */
static void test_reversal_line_after_commit(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    trow t = mkrow("auth", "CYB", "auth", "67.00", "escalated");
    pl_resolve_outcome o = {.status = PL_ST_REJECTED};
    snprintf(o.transaction_id, sizeof o.transaction_id, "7419661750346782304097");
    char fn[96], fdef[300], tdef[400], tdrop[200], fdrop[160];
    snprintf(fn, sizeof fn, "it_refuse_commit_%s", g_prefix);
    for (char *q = fn; *q; q++)
        if (*q == '-' || *q == '.')
            *q = '_';
    snprintf(fdef, sizeof fdef,
             "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS "
             "$f$BEGIN RAISE EXCEPTION 'commit refused by the test'; END$f$",
             fn);
    snprintf(tdef, sizeof tdef,
             "CREATE CONSTRAINT TRIGGER %s AFTER UPDATE ON cc_auth_trans "
             "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
             "WHEN (NEW.request_id = '%s') EXECUTE FUNCTION %s()",
             fn, t.rid, fn);
    snprintf(tdrop, sizeof tdrop, "DROP TRIGGER IF EXISTS %s ON cc_auth_trans", fn);
    snprintf(fdrop, sizeof fdrop, "DROP FUNCTION IF EXISTS %s()", fn);
    run(fdef, 0, NULL);
    run(tdef, 0, NULL);
    FILE *log = tmpfile();
    assert_non_null(log);
    pl_log_set_level(PL_LOG_INFO);
    pl_log_init("it_test_resolver", log);
    int rc = pl_resolver_operator(r, t.id, &o, "erin", NULL, msg, sizeof msg);
    pl_log_init("it_test_resolver", NULL);
    run(tdrop, 0, NULL);
    run(fdrop, 0, NULL);
    assert_true(rc < 0);
    assert_value(AUTH_STATUS, t.rid, "unknown");
    assert_int_equal(pub.calls, 0);
    char text[8192];
    size_t n = (rewind(log), fread(text, 1, sizeof text - 1, log));
    text[n] = '\0';
    assert_null(strstr(text, "to be published with the final reply"));
    assert_non_null(strstr(text, "committing the outcome"));

    /* The same outcome, the commit allowed: stored, published, and its line written. */
    rewind(log);
    assert_int_equal(ftruncate(fileno(log), 0), 0);
    pl_log_init("it_test_resolver", log);
    rc = pl_resolver_operator(r, t.id, &o, "erin", NULL, msg, sizeof msg);
    pl_log_init("it_test_resolver", NULL);
    assert_int_equal(rc, 0);
    assert_value(AUTH_STATUS, t.rid, "rejected");
    pl_log_set_level(PL_LOG_WARN);
    n = (rewind(log), fread(text, 1, sizeof text - 1, log));
    text[n] = '\0';
    char want[160];
    snprintf(want, sizeof want, "reversal %s.rev of authorization", t.rid);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "to be published with the final reply"));
    fclose(log);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* A CyberSource soft decline (200, 230, 520: the issuer approved, CyberSource declined) found
 * for an unknown authorization holds the cardholder's funds: its reversal goes with the final
 * reply, as a reject's does (Send reversal is on for CYB). Any other decline holds nothing. */
static void test_soft_decline_reversed(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    trow sd = mkrow("auth", "CYB", "auth", "67.00", "escalated");
    pl_resolve_outcome soft = {.status = PL_ST_DECLINED};
    snprintf(soft.decision, sizeof soft.decision, "REJECT");
    snprintf(soft.vendor_response, sizeof soft.vendor_response, "230");
    /* Without the authorization's transaction id nothing could reverse it: refused. */
    assert_int_equal(pl_resolver_operator(r, sd.id, &soft, "bob", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "needs the authorization's transaction id");
    assert_value(AUTH_STATUS, sd.rid, "unknown");
    snprintf(soft.transaction_id, sizeof soft.transaction_id, "7419661750346782304095");
    assert_int_equal(pl_resolver_operator(r, sd.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    char rev[80];
    snprintf(rev, sizeof rev, "%s.rev", sd.rid);
    assert_value("SELECT concat_ws('|', status, vendor_response, reply->>'status', "
                 "jsonb_array_length(followups), followups->0->>'topic') "
                 "FROM cc_auth_trans WHERE request_id = $1",
                 sd.rid, "declined|230|declined|1|it.reversal.request");
    assert_value("SELECT (followups->0->>'payload')::jsonb->>'request_id' FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 sd.rid, rev);
    assert_value("SELECT (followups->0->>'payload')::jsonb->>'amount' FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 sd.rid, "67.00");
    /* Published: the reversal, then the final reply. */
    assert_int_equal(pub.calls, 2);
    assert_string_equal(pub.msg[0].topic, "it.reversal.request");
    assert_final_reply(&pub.msg[1], &sd, "declined", "operator");

    /* A hard decline (203) holds nothing: no reversal. */
    trow hd = mkrow("auth", "CYB", "auth", "68.00", "escalated");
    pl_resolve_outcome hard = soft;
    snprintf(hard.vendor_response, sizeof hard.vendor_response, "203");
    assert_int_equal(pl_resolver_operator(r, hd.id, &hard, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, vendor_response, "
                 "coalesce(jsonb_array_length(followups), 0)) FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 hd.rid, "declined|203|0");
    assert_int_equal(pub.calls, 3);
    assert_final_reply(&pub.msg[2], &hd, "declined", "operator");

    /* A soft decline the vendor response table holds for fraud (FS) is `rejected`: reversed
     * too. A card verification (0.00) holds nothing: no reversal (one of nothing would be
     * refused as invalid). */
    trow fs = mkrow("auth", "CYB", "auth", "73.00", "escalated");
    pl_resolve_outcome fsr = soft;
    fsr.status = PL_ST_REJECTED;
    snprintf(fsr.vendor_response, sizeof fsr.vendor_response, "520");
    assert_int_equal(pl_resolver_operator(r, fs.id, &fsr, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, jsonb_array_length(followups), "
                 "(followups->0->>'payload')::jsonb->>'amount') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 fs.rid, "rejected|1|73.00");
    /* The issuer held less than was asked (a partial approval, as the bureau's answer or query
     * says): the reversal is for what it holds. */
    trow pa = mkrow("auth", "CYB", "auth", "74.00", "escalated");
    pl_resolve_outcome partial = soft;
    partial.amount = 3700;
    assert_int_equal(pl_resolver_operator(r, pa.id, &partial, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, jsonb_array_length(followups), "
                 "(followups->0->>'payload')::jsonb->>'amount') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 pa.rid, "declined|1|37.00");
    trow zero = mkrow("auth", "CYB", "auth", "0.00", "escalated");
    assert_int_equal(pl_resolver_operator(r, zero.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, coalesce(jsonb_array_length(followups), 0)) "
                 "FROM cc_auth_trans WHERE request_id = $1",
                 zero.rid, "declined|0");
    assert_int_equal(pub.calls, 8); /* the FS reject's and the partial's reversals and replies,
                                     * the 0.00's reply */

    /* A soft-declined auth+capture (paylink-deposit's): the authorization it made, by its
     * transaction id, for the deposit's amount. */
    pl_resolver *rd = resolver("deposit", owner(own, sizeof own, "op"), &pub);
    trow ac = mkrow("deposit", "CYB", "auth_capture", "71.00", "escalated");
    assert_int_equal(pl_resolver_operator(rd, ac.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    char sdr[80];
    snprintf(sdr, sizeof sdr, "%s.sdr", ac.rid);
    assert_value("SELECT concat_ws('|', status, jsonb_array_length(followups), "
                 "followups->0->>'topic', (followups->0->>'payload')::jsonb->>'amount', "
                 "(followups->0->>'payload')::jsonb->'auth_ref'->>'transaction_id', "
                 "(followups->0->>'payload')::jsonb->'auth_ref'->>'request_id') "
                 "FROM cc_deposit_trans WHERE request_id = $1",
                 ac.rid, "declined|1|it.reversal.request|71.00|7419661750346782304095");
    assert_value("SELECT (followups->0->>'payload')::jsonb->>'request_id' FROM cc_deposit_trans "
                 "WHERE request_id = $1",
                 ac.rid, sdr);
    assert_int_equal(pub.calls, 10); /* its reversal and final reply */
    /* A capture's decline is no authorization: nothing to reverse. */
    trow cp = mkrow("deposit", "CYB", "capture", "72.00", "escalated");
    assert_int_equal(pl_resolver_operator(rd, cp.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT coalesce(jsonb_array_length(followups), 0)::text FROM cc_deposit_trans "
                 "WHERE request_id = $1",
                 cp.rid, "0");
    assert_int_equal(pub.calls, 11);
    pl_resolver_destroy(rd);

    /* On the External Payment Service a 230 is its own code: no reversal. */
    trow xd = mkrow("auth", "EXT", "auth", "69.00", "escalated");
    assert_int_equal(pl_resolver_operator(r, xd.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT coalesce(jsonb_array_length(followups), 0)::text FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 xd.rid, "0");
    assert_int_equal(pub.calls, 12);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/*
 * `paylinkctl wreq resolve --outcome rejected --amount 50.00` of an unknown 100.00 CyberSource
 * authorization: the issuer partially approved 50.00, then Decision Manager rejected it (481),
 * or CyberSource soft-declined it (230). The outcome is the one pl_opsctl_resolve_outcome hands
 * to pl_resolver_operator: the amount the issuer holds, never an amount approved (has_amount
 * false). paylinkctl refused --amount with a reject, and dropped it anyway, so the reversal went
 * for 100.00, which CyberSource refuses above what it authorized: the hold stayed.
 */
static void test_operator_reject_of_partial_approval(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], rev[80];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);

    trow rj = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    pl_resolve_outcome rejected = {.status = PL_ST_REJECTED, .amount = 5000};
    snprintf(rejected.transaction_id, sizeof rejected.transaction_id, "7419661750346782304093");
    assert_int_equal(pl_resolver_operator(r, rj.id, &rejected, "bob", NULL, msg, sizeof msg), 0);
    assert_contains(msg, "resolved rejected by bob");
    snprintf(rev, sizeof rev, "%s.rev", rj.rid);
    /* The reversal, for what is held; nothing reported approved. */
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), "
                 "reply->>'status', reply ? 'amount_approved', jsonb_array_length(followups), "
                 "followups->0->>'topic', (followups->0->>'payload')::jsonb->>'amount') "
                 "FROM cc_auth_trans WHERE request_id = $1",
                 rj.rid, "rejected|-|rejected|f|1|it.reversal.request|50.00");
    assert_value("SELECT (followups->0->>'payload')::jsonb->>'request_id' FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 rj.rid, rev);
    assert_int_equal(pub.calls, 2);
    assert_string_equal(pub.msg[0].topic, "it.reversal.request");
    json_object *revj = json_tokener_parse(pub.msg[0].payload);
    assert_non_null(revj);
    assert_string_equal(jstr(revj, "request_id"), rev);
    assert_string_equal(jstr(revj, "amount"), "50.00");
    json_object_put(revj);
    assert_final_reply(&pub.msg[1], &rj, "rejected", "operator");

    /* A soft decline (230: the issuer approved 50.00, CyberSource declined) likewise. */
    trow sd = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    pl_resolve_outcome soft = {.status = PL_ST_DECLINED, .amount = 5000};
    snprintf(soft.vendor_response, sizeof soft.vendor_response, "230");
    snprintf(soft.transaction_id, sizeof soft.transaction_id, "7419661750346782304092");
    assert_int_equal(pl_resolver_operator(r, sd.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), "
                 "reply ? 'amount_approved', jsonb_array_length(followups), "
                 "(followups->0->>'payload')::jsonb->>'amount') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 sd.rid, "declined|-|f|1|50.00");
    assert_int_equal(pub.calls, 4);

    /* On the External Payment Service a 230 is its own code and holds nothing: no reversal,
     * whatever amount is given (paylinkctl cannot tell the protocol from its arguments). */
    trow xd = mkrow("auth", "EXT", "auth", "100.00", "escalated");
    assert_int_equal(pl_resolver_operator(r, xd.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), "
                 "coalesce(jsonb_array_length(followups), 0)) FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 xd.rid, "declined|-|0");
    assert_int_equal(pub.calls, 5);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

static void test_operator_approves_deposit(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("deposit", owner(own, sizeof own, "op"), &pub);
    trow t = mkrow("deposit", "CYB", "capture", "50.00", "escalated");
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    /* Without the capture's transaction id: refused (a follow-on credit names it). */
    assert_int_equal(
        pl_resolver_operator(r, t.id, &o, "carol", "captured per bureau", msg, sizeof msg),
        PL_ERR_INVALID);
    assert_contains(msg, "an approved capture needs the bureau's transaction id");
    assert_value("SELECT status FROM cc_deposit_trans WHERE request_id = $1", t.rid, "unknown");
    snprintf(o.transaction_id, sizeof o.transaction_id, "7419661750346782304093");
    assert_int_equal(
        pl_resolver_operator(r, t.id, &o, "carol", "captured per bureau", msg, sizeof msg), 0);
    assert_contains(msg, "resolved approved by carol");
    assert_value("SELECT concat_ws('|', status, deposit_status, amount_deposited, decision, "
                 "reply->>'status', reply->>'resolved', reply->>'resolution', transaction_id) "
                 "FROM cc_deposit_trans WHERE request_id = $1",
                 t.rid,
                 "approved|*RCVD|50.00|ACCEPT|approved|true|operator|7419661750346782304093");
    assert_value("SELECT concat_ws('|', count(*), min(event), min(status), min(deposit_status), "
                 "min(operation), min(amount), min(actor), min(note)) FROM cc_deposit_history "
                 "WHERE request_id = $1",
                 t.rid,
                 "1|received|approved|*RCVD|capture|50.00|carol|operator carol: captured per "
                 "bureau");
    /* A capture authorizes nothing anew. */
    assert_value("SELECT count(*) FROM auth_history WHERE deposit_request_id = $1", t.rid, "0");
    assert_value("SELECT concat_ws('|', status, resolution, resolved_how, resolved_by, "
                 "reply_pending) FROM required_response WHERE id = $1::bigint",
                 t.sid, "resolved|approved|operator|carol|f");
    assert_int_equal(pub.calls, 1);
    assert_final_reply(published_for(&pub, &t), &t, "approved", "operator");

    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* ---- (f) what an operator cannot resolve ------------------------------------------------- */

/* Row t's timeout reversal (<request_id>.tor) asked for, and not answered. */
static void timeout_reversal_asked(const trow *t)
{
    char rev[64];
    snprintf(rev, sizeof rev, "%s.tor", t->rid);
    const char *p[] = {t->sid, rev};
    PQclear(sql("UPDATE required_response SET reversal_request_id = $2, "
                "reversal_requested_at = now() WHERE id = $1::bigint",
                2, p));
}

static void test_operator_refused(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], other[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};

    /* Another resolver is working on it. */
    trow held = mkrow("auth", "CYB", "auth", "70.00", "escalated");
    lease(&held, owner(other, sizeof other, "other"), 3600);
    assert_int_equal(pl_resolver_operator(r, held.id, &o, "dave", NULL, msg, sizeof msg),
                     PL_ERR_STATE);
    assert_contains(msg, other);
    char want[256];
    snprintf(want, sizeof want, "escalated|0|%s|f|", other);
    assert_value(RR_STATE, held.sid, want);
    assert_value(AUTH_STATUS, held.rid, "unknown");
    assert_value(AUTH_HISTORY, held.rid, "0|-|-|-");
    assert_int_equal(pl_resolver_retry(r, held.id, false, msg, sizeof msg), PL_ERR_STATE);
    assert_value(RR_STATE, held.sid, want);

    /* A timeout reversal of it asked for (and not refused since): approving it would report an
     * authorization the bureau releases; an error is still taken, and the reversal, which
     * paylink-reversal never recorded (its publish may have failed), goes again with the final
     * reply: resolved, the row is no longer followed and nothing else would send it. */
    trow tor = mkrow("auth", "CYB", "auth", "72.00", "escalated");
    timeout_reversal_asked(&tor);
    assert_int_equal(pl_resolver_operator(r, tor.id, &o, "dave", NULL, msg, sizeof msg),
                     PL_ERR_STATE);
    assert_contains(msg, "is in flight or has released it");
    assert_value(AUTH_STATUS, tor.rid, "unknown");
    pl_resolve_outcome err_out = {.status = PL_ST_ERROR};
    assert_int_equal(pl_resolver_operator(r, tor.id, &err_out, "dave", NULL, msg, sizeof msg), 0);
    assert_value(AUTH_STATUS, tor.rid, "error");
    assert_int_equal(pub.calls, 2);
    char tor_rid[64];
    snprintf(tor_rid, sizeof tor_rid, "%s.tor", tor.rid);
    assert_string_equal(pub.msg[0].topic, "it.reversal.request");
    assert_contains(pub.msg[0].payload, tor_rid);
    assert_contains(pub.msg[0].payload, "\"amount\":\"72.00\"");
    assert_string_equal(pub.msg[1].topic, "it.auth.reply");

    /* A timeout reversal in flight (recorded, not final): the resolver follows it and tells an
     * operator when it fails; resolved now, nobody would. Refused until it has an outcome. */
    trow fl = mkrow("auth", "CYB", "auth", "74.00", "escalated");
    trow fl_rev = mkrow_status("reversal", "CYB", "reversal", "74.00", "open", "sent");
    const char *fp[] = {fl.sid, fl_rev.rid};
    PQclear(sql("UPDATE required_response SET reversal_request_id = $2, "
                "reversal_requested_at = now() WHERE id = $1::bigint",
                2, fp));
    assert_int_equal(pl_resolver_operator(r, fl.id, &err_out, "dave", NULL, msg, sizeof msg),
                     PL_ERR_STATE);
    assert_contains(msg, "is in flight (sent)");
    assert_value(AUTH_STATUS, fl.rid, "unknown");
    assert_int_equal(pub.calls, 2);

    /* The same for a review (it holds the amount too); a reject is recorded, and the timeout
     * reversal releases it: no second reversal (.rev) goes with its reply. A review or a reject
     * without the transaction id is refused. */
    trow tor2 = mkrow("auth", "CYB", "auth", "73.00", "escalated");
    timeout_reversal_asked(&tor2);
    pl_resolve_outcome rv = {.status = PL_ST_REVIEW};
    assert_int_equal(pl_resolver_operator(r, tor2.id, &rv, "dave", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "needs the authorization's transaction id");
    snprintf(rv.transaction_id, sizeof rv.transaction_id, "7419661750346782304097");
    assert_int_equal(pl_resolver_operator(r, tor2.id, &rv, "dave", NULL, msg, sizeof msg),
                     PL_ERR_STATE);
    assert_contains(msg, "is in flight or has released it");
    pl_resolve_outcome rj = {.status = PL_ST_REJECTED};
    snprintf(rj.transaction_id, sizeof rj.transaction_id, "7419661750346782304097");
    assert_int_equal(pl_resolver_operator(r, tor2.id, &rj, "dave", NULL, msg, sizeof msg), 0);
    char tor2_rid[64];
    snprintf(tor2_rid, sizeof tor2_rid, "%s.tor", tor2.rid);
    char tor2_want[80];
    snprintf(tor2_want, sizeof tor2_want, "rejected|%s", tor2_rid);
    assert_value("SELECT status || '|' || ((followups -> 0 ->> 'payload')::jsonb ->> "
                 "'request_id') FROM cc_auth_trans WHERE request_id = $1",
                 tor2.rid, tor2_want);
    assert_int_equal(pub.calls, 4);
    assert_string_equal(pub.msg[2].topic, "it.reversal.request");
    assert_contains(pub.msg[2].payload, tor2_rid);
    assert_string_equal(pub.msg[3].topic, "it.auth.reply");

    /* Already resolved, or no such row. */
    trow done = mkrow("auth", "CYB", "auth", "71.00", "escalated");
    mark_resolved(&done);
    assert_int_equal(pl_resolver_operator(r, done.id, &o, "dave", NULL, msg, sizeof msg),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_resolver_retry(r, done.id, false, msg, sizeof msg), PL_ERR_NOTFOUND);
    assert_value(AUTH_STATUS, done.rid, "unknown");
    char none[32];
    value_n(none, sizeof none,
            "SELECT (coalesce(max(id), 0) + 1000000)::text FROM required_response", 0, NULL);
    assert_int_equal(
        pl_resolver_operator(r, strtoll(none, NULL, 10), &o, "dave", NULL, msg, sizeof msg),
        PL_ERR_NOTFOUND);

    /* The transaction is not unknown (its answer was stored meanwhile): nothing to resolve. */
    trow answered = mkrow_status("auth", "CYB", "auth", "72.00", "escalated", "approved");
    assert_int_equal(pl_resolver_operator(r, answered.id, &o, "dave", NULL, msg, sizeof msg),
                     PL_ERR_STATE);
    assert_contains(msg, "not unknown");
    /* Nothing written, and the lease the call took is given back. */
    assert_value(RR_STATE, answered.sid, "escalated|0|-|f|");
    assert_value(
        "SELECT concat_ws('|', t.status, t.reply->>'status', coalesce(r.resolved_by, '-')) "
        "FROM cc_auth_trans t JOIN required_response r USING (request_id) "
        "WHERE request_id = $1",
        answered.rid, "approved|timeout|-");
    assert_value(AUTH_HISTORY, answered.rid, "0|-|-|-");
    assert_int_equal(pub.calls, 4); /* the timeout-reversed ones' error and reject, above, each
                                       with its reversal */

    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* An authorization's history row: status|amount_issuer_held ("-": none, the amount asked). */
#define ISSUER_HELD                                                                                \
    "SELECT concat_ws('|', status, coalesce(amount_issuer_held::text, '-')) FROM auth_history "    \
    "WHERE request_id = $1"

/* The reversal an operator's reject (or soft decline) publishes, as paylink-reversal reads it:
 * its request_id|amount. Fails unless msg is a reversal request naming authorization t. */
static void assert_reversal_of(const published *m, const trow *t, const char *suffix,
                               const char *amount)
{
    assert_string_equal(m->topic, "it.reversal.request");
    assert_string_equal(m->key, t->key);
    json_object *j = json_tokener_parse(m->payload);
    if (!j)
        fail_msg("the reversal request is not JSON: %s", m->payload);
    char rev[80];
    snprintf(rev, sizeof rev, "%s.%s", t->rid, suffix);
    assert_string_equal(jstr(j, "request_id"), rev);
    assert_string_equal(jstr(j, "amount"), amount);
    json_object *ref;
    assert_true(json_object_object_get_ex(j, "auth_ref", &ref));
    assert_string_equal(jstr(ref, "request_id"), t->rid);
    json_object_put(j);
    /* What was published is what is stored (published again with the reply after a failure). */
    char want[120];
    snprintf(want, sizeof want, "%s|%s", rev, amount);
    assert_value("SELECT concat_ws('|', (followups->0->>'payload')::jsonb->>'request_id', "
                 "(followups->0->>'payload')::jsonb->>'amount') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 t->rid, want);
}

/*
 * `paylinkctl wreq resolve --outcome rejected --amount 50.00` (or a soft decline) of an unknown
 * 100.00 CyberSource authorization whose timeout reversal was asked for: the issuer partially
 * approved 50.00. When paylink-reversal never recorded that reversal (its publish failed, or it
 * has not taken it up yet), the `.tor` is published again with the final reply, as first
 * published (the whole request: the first copy may still be queued, and a copy for another
 * amount is refused as an idempotency conflict, test_operator_reject_tor_again_as_first), and
 * the history row records what the issuer holds (amount_issuer_held, 061), which
 * paylink-reversal sends by the authorization's transaction id for whichever copy comes first
 * (a reject records no amount authorized; test_reversal_many.c). When
 * that reversal ended otherwise (refused, failed), the reject's own `.rev` goes, for what is
 * held, as without a timeout reversal; when it released the authorization, none goes.
 */
static void test_operator_partial_reject_timeout_reversal(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);

    /* Not recorded by paylink-reversal: the `.tor` again, for what is held. */
    trow rj = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    timeout_reversal_asked(&rj);
    pl_resolve_outcome rejected = {.status = PL_ST_REJECTED, .amount = 5000};
    snprintf(rejected.transaction_id, sizeof rejected.transaction_id, "7419661750346782304081");
    assert_int_equal(pl_resolver_operator(r, rj.id, &rejected, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, coalesce(amount_approved::text, '-'), "
                 "reply ? 'amount_approved', jsonb_array_length(followups)) FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 rj.rid, "rejected|-|f|1");
    assert_int_equal(pub.calls, 2);
    assert_reversal_of(&pub.msg[0], &rj, "tor", "100.00");
    assert_final_reply(&pub.msg[1], &rj, "rejected", "operator");
    assert_value(ISSUER_HELD, rj.rid, "rejected|50.00");

    /* A soft decline (230) of a partial approval likewise. */
    trow sd = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    timeout_reversal_asked(&sd);
    pl_resolve_outcome soft = {.status = PL_ST_DECLINED, .amount = 5000};
    snprintf(soft.vendor_response, sizeof soft.vendor_response, "230");
    snprintf(soft.transaction_id, sizeof soft.transaction_id, "7419661750346782304082");
    assert_int_equal(pl_resolver_operator(r, sd.id, &soft, "bob", NULL, msg, sizeof msg), 0);
    assert_value(AUTH_STATUS, sd.rid, "declined");
    assert_int_equal(pub.calls, 4);
    assert_reversal_of(&pub.msg[2], &sd, "tor", "100.00");
    assert_final_reply(&pub.msg[3], &sd, "declined", "operator");
    assert_value(ISSUER_HELD, sd.rid, "declined|50.00");

    /* Without an amount (or with the whole request's): what the request asked for. */
    trow whole = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    timeout_reversal_asked(&whole);
    pl_resolve_outcome all = rejected;
    all.amount = 0;
    assert_int_equal(pl_resolver_operator(r, whole.id, &all, "bob", NULL, msg, sizeof msg), 0);
    assert_int_equal(pub.calls, 6);
    assert_reversal_of(&pub.msg[4], &whole, "tor", "100.00");
    assert_value(ISSUER_HELD, whole.rid, "rejected|-");

    /* Recorded, and refused (declined, neither 237 nor 242): it released nothing, so the
     * reject's own `.rev` goes, for what is held. */
    trow rf = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    trow rf_rev = mkrow_status("reversal", "CYB", "reversal", "100.00", "open", "declined");
    const char *rp[] = {rf.sid, rf_rev.rid};
    run("UPDATE required_response SET reversal_request_id = $2, "
        "reversal_requested_at = now() WHERE id = $1::bigint",
        2, rp);
    assert_int_equal(pl_resolver_operator(r, rf.id, &rejected, "bob", NULL, msg, sizeof msg), 0);
    assert_int_equal(pub.calls, 8);
    assert_reversal_of(&pub.msg[6], &rf, "rev", "50.00");
    assert_value(ISSUER_HELD, rf.rid, "rejected|50.00");
    assert_final_reply(&pub.msg[7], &rf, "rejected", "operator");

    /* Recorded and approved: the timeout reversal released it; no second reversal goes. */
    trow rl = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    trow rl_rev = mkrow_status("reversal", "CYB", "reversal", "100.00", "open", "approved");
    const char *lp[] = {rl.sid, rl_rev.rid};
    run("UPDATE required_response SET reversal_request_id = $2, "
        "reversal_requested_at = now() WHERE id = $1::bigint",
        2, lp);
    assert_int_equal(pl_resolver_operator(r, rl.id, &rejected, "bob", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, coalesce(jsonb_array_length(followups), 0)) "
                 "FROM cc_auth_trans WHERE request_id = $1",
                 rl.rid, "rejected|0");
    assert_int_equal(pub.calls, 9);
    assert_final_reply(&pub.msg[8], &rl, "rejected", "operator");

    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* ---- (g) a final reply that cannot be published ------------------------------------------ */

/* Two resolvers of the auth worker: A publishes through a broker that refuses everything
 * (bad), B through one that takes everything (good). */
typedef struct two_publishers {
    pubrec bad, good;
    char oa[128], ob[128];
    pl_resolver *ra, *rb;
} two_publishers;

static void two_init(two_publishers *tp)
{
    pub_init(&tp->bad);
    pub_init(&tp->good);
    tp->bad.fail = true;
    tp->ra = resolver("auth", owner(tp->oa, sizeof tp->oa, "A"), &tp->bad);
    tp->rb = resolver("auth", owner(tp->ob, sizeof tp->ob, "B"), &tp->good);
}

static void two_free(two_publishers *tp)
{
    pl_resolver_destroy(tp->ra);
    pl_resolver_destroy(tp->rb);
    pub_free(&tp->bad);
    pub_free(&tp->good);
}

/* An operator approves t through A, whose broker refuses: resolved, its final reply still to be
 * published; then A's lease on it passes (as when A went away), so any resolver may publish. */
static void approve_unpublished(two_publishers *tp, const trow *t)
{
    char msg[512];
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    snprintf(o.transaction_id, sizeof o.transaction_id, "7419661750346782304014");
    quiet("auth");
    assert_int_equal(pl_resolver_operator(tp->ra, t->id, &o, "erin", NULL, msg, sizeof msg), 0);
    assert_contains(msg, "could not be published");
    assert_value("SELECT concat_ws('|', status, resolution, resolved_how, reply_pending) "
                 "FROM required_response WHERE id = $1::bigint",
                 t->sid, "resolved|approved|operator|t");
    run1("UPDATE required_response SET lease_until = now() - interval '1 second' "
         "WHERE id = $1::bigint AND lease_until IS NOT NULL",
         t->sid);
}

static void test_publish_failure(void **state)
{
    (void)state;
    two_publishers tp;
    two_init(&tp);
    trow t = mkrow("auth", "CYB", "auth", "80.00", "escalated");

    /* Once the publish has failed, any resolver of the auth worker may publish the reply. */
    approve_unpublished(&tp, &t);
    assert_int_equal(tp.bad.calls, 1);
    assert_true(tp.bad.msg[0].failed);
    assert_string_equal(tp.bad.msg[0].topic, "it.auth.reply");
    assert_string_equal(tp.bad.msg[0].key, t.key);
    /* The final reply stored. */
    assert_value("SELECT concat_ws('|', status, reply->>'status', reply->>'resolved') "
                 "FROM cc_auth_trans WHERE request_id = $1",
                 t.rid, "approved|approved|true");
    assert_value(AUTH_HISTORY, t.rid, "1|approved|80.00|auth");

    /* The next pass of a resolver of the worker publishes it (a step on no row). */
    assert_int_equal(pl_resolver_pass(tp.rb, 10), 0);
    assert_int_equal(tp.good.calls, 1);
    assert_final_reply(published_for(&tp.good, &t), &t, "approved", "operator");
    assert_value("SELECT concat_ws('|', reply_pending, coalesce(lease_owner, '-'), "
                 "lease_until IS NULL) FROM required_response WHERE id = $1::bigint",
                 t.sid, "f|-|t");
    /* Once. */
    assert_int_equal(pl_resolver_pass(tp.rb, 10), 0);
    assert_int_equal(tp.good.calls, 1);
    assert_value(AUTH_HISTORY, t.rid, "1|approved|80.00|auth");

    two_free(&tp);
}

/* Follow-up messages stored with an outcome (the reversal a 481 or an auth+capture calls for)
 * go out before its final reply: a follow-up refused leaves the reply unpublished, and the next
 * pass publishes both, in that order, once. */
static void test_followups_published(void **state)
{
    (void)state;
    two_publishers tp;
    two_init(&tp);
    trow t = mkrow("auth", "CYB", "auth", "81.00", "escalated");
    run1("UPDATE cc_auth_trans SET followups = jsonb_build_array(jsonb_build_object('topic', "
         "'it.reversal.request', 'key', 'it-followup', 'payload', '{\"request_id\": \"fu\"}')) "
         "WHERE request_id = $1",
         t.rid);
    approve_unpublished(&tp, &t);
    assert_int_equal(tp.bad.calls, 1); /* the follow-up, refused; the reply not tried */
    assert_string_equal(tp.bad.msg[0].topic, "it.reversal.request");

    assert_int_equal(pl_resolver_pass(tp.rb, 10), 0);
    assert_int_equal(tp.good.calls, 2);
    assert_string_equal(tp.good.msg[0].topic, "it.reversal.request");
    assert_string_equal(tp.good.msg[0].key, "it-followup");
    assert_string_equal(tp.good.msg[0].payload, "{\"request_id\": \"fu\"}");
    assert_final_reply(&tp.good.msg[1], &t, "approved", "operator");
    assert_int_equal(pl_resolver_pass(tp.rb, 10), 0);
    assert_int_equal(tp.good.calls, 2);

    two_free(&tp);
}

/* A resolver that died between the commit and the publish: its lease keeps the reply from a
 * second publisher until it has passed. */
static void test_publish_after_crash(void **state)
{
    (void)state;
    two_publishers tp;
    two_init(&tp);
    char msg[512];
    trow t = mkrow("auth", "EXT", "auth", "81.00", "escalated");
    pl_resolve_outcome o = {.status = PL_ST_DECLINED};

    quiet("auth");
    assert_int_equal(pl_resolver_operator(tp.ra, t.id, &o, "erin", NULL, msg, sizeof msg), 0);
    /* As A leaves it when it dies right after its commit. */
    lease(&t, tp.oa, 3600);
    assert_int_equal(pl_resolver_pass(tp.rb, 10), 0);
    assert_int_equal(tp.good.calls, 0);
    char want[256];
    snprintf(want, sizeof want, "resolved|0|%s|t|", tp.oa);
    assert_value(RR_STATE, t.sid, want);

    quiet("auth");
    lease(&t, tp.oa, -1);
    assert_int_equal(pl_resolver_pass(tp.rb, 10), 0);
    assert_int_equal(tp.good.calls, 1);
    assert_final_reply(published_for(&tp.good, &t), &t, "declined", "operator");
    assert_value(RR_STATE, t.sid, "resolved|0|-|f|");

    two_free(&tp);
}

/*
 * The final reply waits for the worker's `timeout` reply to be on Kafka (worker_replied_at,
 * 055): a worker that could not reach the reply partition kept its `timeout` queued while a
 * resolver elsewhere published the final reply, and the order system got them in the wrong
 * order. The outcome is applied at once; its reply goes once the worker records it, or 10
 * minutes after the row opened.
 */
static void test_final_reply_waits_for_worker_reply(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "order"), &pub);
    trow t = mkrow("auth", "EXT", "auth", "45.00", "escalated");
    run("UPDATE required_response SET worker_replied_at = NULL WHERE id = $1::bigint", 1,
        (const char *[]){t.sid});
    pl_resolve_outcome o = {.status = PL_ST_DECLINED};
    assert_int_equal(pl_resolver_operator(r, t.id, &o, "fay", NULL, msg, sizeof msg), 0);
    assert_contains(msg, "once the worker's timeout reply is on Kafka");
    /* Applied, not published, given back (no lease) for a later pass. */
    assert_int_equal(pub.calls, 0);
    assert_value(RR_STATE, t.sid, "resolved|0|-|t|");
    assert_value("SELECT status FROM cc_auth_trans WHERE request_id = $1", t.rid, "declined");
    quiet("auth");
    assert_int_equal(pl_resolver_pass(r, 10), 0);
    assert_int_equal(pub.calls, 0);
    /* The worker's `timeout` reply is out (the engine's pl_replied): the next pass publishes. */
    run(PL_ENGINE_SQL_REPLIED, 2, (const char *[]){"auth", t.rid});
    assert_int_equal(pl_resolver_pass(r, 10), 0);
    assert_int_equal(pub.calls, 1);
    assert_final_reply(&pub.msg[0], &t, "declined", "operator");
    assert_value(RR_STATE, t.sid, "resolved|0|-|f|");
    /* A worker that never records it (a version before 055): published 10 minutes on. */
    trow u = mkrow("auth", "EXT", "auth", "46.00", "escalated");
    run("UPDATE required_response SET worker_replied_at = NULL, "
        "created_at = now() - interval '11 minutes' WHERE id = $1::bigint",
        1, (const char *[]){u.sid});
    assert_int_equal(pl_resolver_operator(r, u.id, &o, "fay", NULL, msg, sizeof msg), 0);
    assert_int_equal(pub.calls, 2);
    assert_final_reply(&pub.msg[1], &u, "declined", "operator");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* A late answer: another replica reported the request unknown, then its owner stored the
 * bureau's answer after all (044). The owner's plain reply is not the final one the upstream
 * system waits for: the resolver publishes the stored reply, made final by the trigger. */
static void test_late_answer_published_final(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "late"), &pub);
    trow t = mkrow("auth", "EXT", "auth", "44.00", "escalated");
    const char *p[] = {t.rid};
    /* Just after the environment's own resolver went idle, before the row is pending: its next
     * pass is a resolver interval away (it would publish the row itself). */
    quiet("auth");
    run("UPDATE cc_auth_trans SET status = 'approved', amount_approved = 44.00, "
        "transaction_id = 'EXT-LATE-1', reply = (reply - 'required_response') || "
        "'{\"status\": \"approved\", \"amount_approved\": \"44.00\"}' "
        "WHERE request_id = $1",
        1, p);
    assert_value("SELECT resolved_how || '|' || reply_pending FROM required_response "
                 "WHERE request_id = $1",
                 t.rid, "late_answer|true");
    assert_int_equal(pl_resolver_pass(r, 10), 0);
    assert_int_equal(pub.calls, 1);
    assert_final_reply(published_for(&pub, &t), &t, "approved", "query");
    assert_value(RR_STATE, t.sid, "resolved|0|-|f|");

    /* Once a timeout reversal was asked for, a late approval (or review: both hold the funds) is
     * not the outcome: that reversal releases it. The row stays unknown, what the answer said is
     * noted for an operator, and the reversal's outcome settles it (cancelled once approved).
     * A late decline is still taken. */
    trow tr = mkrow("auth", "CYB", "auth", "45.00", "open");
    timeout_reversal_asked(&tr);
    const char *pt[] = {tr.rid};
    run("UPDATE cc_auth_trans SET status = 'approved', amount_approved = 45.00, "
        "transaction_id = '7419661750346782304111', auth_number = 'A45', reply = (reply - "
        "'required_response') || '{\"status\": \"approved\", \"amount_approved\": \"45.00\"}' "
        "WHERE request_id = $1",
        1, pt);
    assert_value(AUTH_STATUS, tr.rid, "unknown");
    char want[300];
    snprintf(want, sizeof want,
             "open|true|the bureau's late answer approved (transaction id 7419661750346782304111, "
             "authorization code A45) came after the timeout reversal %s.tor was asked for",
             tr.rid);
    assert_value("SELECT status || '|' || (resolved_how IS NULL) || '|' || split_part(detail, "
                 "': not recorded', 1) FROM required_response WHERE request_id = $1",
                 tr.rid, want);
    run("UPDATE cc_auth_trans SET status = 'declined', vendor_response = '203' "
        "WHERE request_id = $1",
        1, pt);
    assert_value(AUTH_STATUS, tr.rid, "declined");
    assert_value("SELECT resolved_how FROM required_response WHERE request_id = $1", tr.rid,
                 "late_answer");

    /* A late approval being written locks its required response when the hold reads it (051),
     * not only at the end of its statement, when the late-answer trigger closes it: the
     * resolver's record of a timeout reversal (an update of that row) cannot slip in between
     * and be published for an authorization reported approved. The worker's statement is held
     * between the two (an advisory lock the other connection holds) while the other connection
     * tries the row. */
    trow tl = mkrow("auth", "CYB", "auth", "46.00", "open");
    PGconn *other = PQconnectdb(g_conninfo);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    PQclear(PQexec(other, "SELECT pg_advisory_lock(7046051)"));
    const char *pl[] = {tl.rid};
    assert_int_equal(PQsendQueryParams(g_admin,
                                       "WITH upd AS (UPDATE cc_auth_trans SET status = 'approved', "
                                       "amount_approved = 46.00, reply = (reply - "
                                       "'required_response') || '{\"status\": \"approved\"}' "
                                       "WHERE request_id = $1 RETURNING 1) "
                                       "SELECT pg_advisory_xact_lock(7046051) FROM upd",
                                       1, NULL, pl, NULL, NULL, 0),
                     1);
    bool waiting = false;
    for (int k = 0; k < 3000 && !waiting; k++) {
        PGresult *w = PQexec(other, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                    "AND NOT granted AND objid = 7046051");
        waiting = PQresultStatus(w) == PGRES_TUPLES_OK && strcmp(PQgetvalue(w, 0, 0), "1") == 0;
        PQclear(w);
        if (!waiting)
            usleep(10000);
    }
    assert_true(waiting);
    const char *po[] = {tl.sid};
    PGresult *locked = PQexecParams(other,
                                    "SELECT 1 FROM required_response WHERE id = $1::bigint "
                                    "FOR UPDATE NOWAIT",
                                    1, NULL, po, NULL, NULL, 0);
    const char *sqlstate = PQresultErrorField(locked, PG_DIAG_SQLSTATE);
    char got[16];
    snprintf(got, sizeof got, "%s", sqlstate ? sqlstate : "not locked");
    PQclear(locked);
    PQclear(PQexec(other, "SELECT pg_advisory_unlock(7046051)"));
    for (PGresult *r; (r = PQgetResult(g_admin)) != NULL;) {
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        PQclear(r);
    }
    PQfinish(other);
    assert_string_equal(got, "55P03"); /* locked by the worker's statement */
    assert_value(AUTH_STATUS, tl.rid, "approved");
    assert_value("SELECT resolved_how FROM required_response WHERE request_id = $1", tl.rid,
                 "late_answer");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* A stored value authorization's required response opened by a redelivery holds the request's
 * amount, not what its PreauthorizationRequest sent (a J19 one sends the card's balance): an
 * approval must say the amount. */
static void test_operator_svc_preauth_amount(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("svc", owner(own, sizeof own, "op"), &pub);
    trow t = mkrow("svc", "RLT", "svc_preauth", "100.00", "escalated");
    const char *p[] = {t.sid};
    run("UPDATE required_response SET reason = 'sent_not_answered' WHERE id = $1::bigint", 1, p);
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    snprintf(o.transaction_id, sizeof o.transaction_id, "SV-1");
    assert_int_equal(pl_resolver_operator(r, t.id, &o, "alice", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "give the amount the bureau approved");
    assert_value("SELECT status FROM svc_trans WHERE request_id = $1", t.rid, "unknown");
    o.has_amount = true;
    o.amount = 3000;
    assert_int_equal(pl_resolver_operator(r, t.id, &o, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT status || '|' || amount_approved FROM svc_trans WHERE request_id = $1",
                 t.rid, "approved|30.00");
    /* Opened by the worker that sent the call, the amount is the call's: the default stands. */
    trow u = mkrow("svc", "RLT", "svc_preauth", "40.00", "escalated");
    pl_resolve_outcome ou = {.status = PL_ST_APPROVED};
    snprintf(ou.transaction_id, sizeof ou.transaction_id, "SV-2");
    assert_int_equal(pl_resolver_operator(r, u.id, &ou, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT status || '|' || amount_approved FROM svc_trans WHERE request_id = $1",
                 u.rid, "approved|40.00");
    /* A generation: its card number came only in the answer paylink never had. Not approved;
     * an error is taken. */
    trow g = mkrow("svc", "RLT", "svc_generate", "25.00", "escalated");
    const char *pg[] = {g.rid};
    run("UPDATE svc_trans SET request_type = 'generate' WHERE request_id = $1", 1, pg);
    pl_resolve_outcome og = {.status = PL_ST_APPROVED};
    snprintf(og.transaction_id, sizeof og.transaction_id, "SV-3");
    assert_int_equal(pl_resolver_operator(r, g.id, &og, "alice", NULL, msg, sizeof msg),
                     PL_ERR_STATE);
    assert_contains(msg, "cannot be approved");
    assert_value("SELECT status FROM svc_trans WHERE request_id = $1", g.rid, "unknown");
    pl_resolve_outcome ge = {.status = PL_ST_ERROR};
    assert_int_equal(pl_resolver_operator(r, g.id, &ge, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT status FROM svc_trans WHERE request_id = $1", g.rid, "error");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* ---- (h) wreq retry ---------------------------------------------------------------------- */

static void test_retry(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);

    /* Without a step: open again and due now; the next pass of a resolver takes it. */
    trow t = mkrow("auth", "EXT", "auth", "90.00", "escalated");
    run1("UPDATE required_response SET escalated_at = now() - interval '1 hour', "
         "last_query_result = 'escalated by the test' WHERE id = $1::bigint",
         t.sid);
    quiet("auth");
    assert_int_equal(pl_resolver_retry(r, t.id, false, msg, sizeof msg), 0);
    assert_contains(msg, "open again and due now");
    assert_value("SELECT concat_ws('|', status, next_query_at <= now(), "
                 "coalesce(lease_owner, '-'), lease_until IS NULL, queries, "
                 "escalated_at < now() - interval '59 minutes') "
                 "FROM required_response WHERE id = $1::bigint",
                 t.sid, "open|t|-|t|0|t");
    assert_value(AUTH_STATUS, t.rid, "unknown");
    assert_int_equal(pl_resolver_pass(r, 10), 1);
    assert_escalated_by_policy(&t);

    /* With a step, where the bureau cannot be asked: escalated again at once. */
    trow s = mkrow("auth", "EXT", "auth", "91.00", "escalated");
    assert_int_equal(pl_resolver_retry(r, s.id, true, msg, sizeof msg), 0);
    assert_contains(msg, "escalated");
    assert_contains(msg, POLICY_WHY);
    assert_escalated_by_policy(&s);

    /* With a step on a CyberSource row: the query settles it. */
    trow c = mkrow("auth", "CYB", "auth", "92.00", "escalated");
    sent_long_ago(&c);
    assert_int_equal(pl_resolver_retry(r, c.id, true, msg, sizeof msg), 0);
    assert_contains(msg, "resolved error");
    assert_resolved_not_found(&c);
    assert_int_equal(pub.calls, 1);
    assert_final_reply(published_for(&pub, &c), &c, "error", "query");

    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* The query's other answers, one step each through `wreq retry` (the call holds the lease: no
 * other resolver can take the row meanwhile). CyberSource deposits: a capture that cannot be
 * confirmed is only ever asked about, whatever the policy, and escalated in the end. */
#define DEPOSIT_STATUS "SELECT status FROM cc_deposit_trans WHERE request_id = $1"

/*
 * An outcome found that cannot be applied (here: the stored reply is no reply object, so the
 * final one cannot be made from it) goes to an operator with why, instead of the row being
 * taken up, queried and failed again each time its lease ends, unseen. And an authorization
 * made unknown before it was marked sent (no operation) can be settled: its history row is an
 * authorization's.
 */
static void test_apply_failure_escalates(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], v[600];
    pl_resolver *r = resolver("deposit", owner(own, sizeof own, "op"), &pub);
    trow t = mkrow("deposit", "CYB", "capture", "95.00", "escalated");
    /* Sent two days ago: the bureau's "no record" is believed (not_found_after_s). */
    run("UPDATE cc_deposit_trans SET reply = '[1]'::jsonb, sent_at = now() - interval '2 days' "
        "WHERE request_id = $1",
        1, (const char *const[]){t.rid});
    (void)pl_resolver_retry(r, t.id, true, msg, sizeof msg);
    value(v, sizeof v,
          "SELECT concat_ws('|', status, coalesce(lease_owner, '-'), last_query_result) "
          "FROM required_response WHERE id = $1::bigint",
          t.sid);
    assert_contains(v, "escalated|-|");
    assert_contains(v, "could not be applied");
    assert_contains(v, "the final reply cannot be made");
    assert_value(DEPOSIT_STATUS, t.rid, "unknown");
    assert_int_equal(pub.calls, 0);

    pl_resolver *ra = resolver("auth", owner(own, sizeof own, "op2"), &pub);
    trow a = mkrow("auth", "CYB", "", "7.00", "escalated");
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    snprintf(o.transaction_id, sizeof o.transaction_id, "7419661750346782304015");
    assert_int_equal(pl_resolver_operator(ra, a.id, &o, "alice", NULL, msg, sizeof msg), 0);
    assert_value(AUTH_HISTORY, a.rid, "1|approved|7.00|auth");
    pl_resolver_destroy(ra);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

static void test_query_not_settled(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], pol[64];
    pl_resolver *r = resolver("deposit", owner(own, sizeof own, "op"), &pub);
    value(pol, sizeof pol,
          "SELECT concat_ws('|', retry_after_s, not_found_after_s, max_queries) "
          "FROM resolution_policy WHERE protocol = 'CYB' AND worker = $1",
          "deposit");
    int retry_after = 0, not_found_after = 0, max_queries = 0;
    assert_int_equal(sscanf(pol, "%d|%d|%d", &retry_after, &not_found_after, &max_queries), 3);

    /* Just sent: the bureau's "not there" is not believed yet; asked again later. */
    if (not_found_after > 30 && max_queries > 1) {
        trow y = mkrow("deposit", "CYB", "capture", "93.00", "escalated");
        assert_int_equal(pl_resolver_retry(r, y.id, true, msg, sizeof msg), 0);
        assert_contains(msg, "open");
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        assert_value_n("SELECT concat_ws('|', status, queries, coalesce(lease_owner, '-'), "
                       "last_query_at IS NOT NULL, "
                       "next_query_at BETWEEN now() + make_interval(secs => $2::int - 10) "
                       "AND now() + make_interval(secs => $2::int + 10)) "
                       "FROM required_response WHERE id = $1::bigint",
                       2, (const char *const[]){y.sid, ra}, "open|1|-|t|t");
        assert_value("SELECT last_query_result LIKE 'query 1: no record at the bureau yet%' "
                     "FROM required_response WHERE id = $1::bigint",
                     y.sid, "t");
        assert_value(DEPOSIT_STATUS, y.rid, "unknown");

        /* At the last query: escalated, the transaction left unknown. */
        trow l = mkrow("deposit", "CYB", "capture", "94.00", "escalated");
        char q[16];
        snprintf(q, sizeof q, "%d", max_queries - 1);
        run("UPDATE required_response SET queries = $2::int WHERE id = $1::bigint", 2,
            (const char *const[]){l.sid, q});
        assert_int_equal(pl_resolver_retry(r, l.id, true, msg, sizeof msg), 0);
        char want[200], v[400];
        snprintf(want, sizeof want, "escalated|%d|-|", max_queries);
        value(v, sizeof v,
              "SELECT concat_ws('|', status, queries, coalesce(lease_owner, '-'), "
              "last_query_result) FROM required_response WHERE id = $1::bigint",
              l.sid);
        assert_contains(v, want);
        assert_contains(v, "no record at the bureau yet");
        snprintf(want, sizeof want, "escalated after %d queries", max_queries);
        assert_contains(v, want);
        assert_value(DEPOSIT_STATUS, l.rid, "unknown");
        assert_value("SELECT count(*) FROM cc_deposit_history WHERE request_id = $1", l.rid, "0");
    } else {
        fprintf(stderr, "note: CYB/deposit policy %s: the not-yet-believed cases are skipped\n",
                pol);
    }

    /* A query that cannot be made (no merchant ID on the row) fails and is made again later. */
    if (max_queries > 1) {
        trow f = mkrow("deposit", "CYB", "capture", "95.00", "escalated");
        sent_long_ago(&f);
        run1("UPDATE cc_deposit_trans SET merchant_id = '' WHERE request_id = $1", f.rid);
        assert_int_equal(pl_resolver_retry(r, f.id, true, msg, sizeof msg), 0);
        assert_value("SELECT concat_ws('|', status, queries, coalesce(lease_owner, '-'), "
                     "next_query_at > now()) FROM required_response WHERE id = $1::bigint",
                     f.sid, "open|1|-|t");
        assert_value("SELECT last_query_result LIKE 'query 1 failed: no query can be made%' "
                     "FROM required_response WHERE id = $1::bigint",
                     f.sid, "t");
        assert_value(DEPOSIT_STATUS, f.rid, "unknown");
    }
    assert_int_equal(pub.calls, 0);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* Copies file from to a new file to, mode 0600. */
static void copy_secret(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    assert_non_null(in);
    assert_non_null(out);
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    assert_int_equal(chmod(to, 0600), 0);
}

/*
 * The report password file (dm_settings.password_ref, here file-env:PAYLINK_DM_PASSWORD_FILE
 * pointed, in this process only, at a copy of the test's own) left unreadable under the same
 * reference (mode 0644): the resolver queries with the password it read before. Before, every
 * query failed until someone fixed the file, and the reversals releasing holds on cards waited.
 */
static void test_query_password_kept(void **state)
{
    (void)state;
    const char *was = getenv("PAYLINK_DM_PASSWORD_FILE");
    char ref[128] = "";
    value(ref, sizeof ref, "SELECT password_ref FROM dm_settings WHERE service_bureau = $1", "CYB");
    if (!was || strcmp(ref, "file-env:PAYLINK_DM_PASSWORD_FILE") != 0) {
        fprintf(stderr, "note: dm_settings.password_ref is %s: skipped\n", ref);
        return;
    }
    char saved[256], dir[] = "/tmp/it_resolver_pw.XXXXXX", path[96], msg[512];
    snprintf(saved, sizeof saved, "%s", was);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/dm.password", dir);
    copy_secret(saved, path);
    setenv("PAYLINK_DM_PASSWORD_FILE", path, 1);
    pubrec pub;
    pub_init(&pub);
    char own[128];
    pl_resolver *r = resolver("deposit", owner(own, sizeof own, "op"), &pub);
    /* Each query's "queried|last_query_result", checked once the process's setting is back
     * (a failure here must not leave the tests after it querying with an unreadable file). */
    char got[2][400];
    for (int i = 0; i < 2; i++) {
        if (i == 1) /* unreadable under the same reference */
            assert_int_equal(chmod(path, 0644), 0);
        trow t = mkrow("deposit", "CYB", "capture", i ? "97.00" : "96.00", "escalated");
        int rc = pl_resolver_retry(r, t.id, true, msg, sizeof msg);
        value(got[i], sizeof got[i],
              "SELECT concat_ws('|', queries, last_query_result) FROM required_response "
              "WHERE id = $1::bigint",
              t.sid);
        if (rc != 0)
            snprintf(got[i], sizeof got[i], "retry failed: %.300s", msg);
    }
    pl_resolver_destroy(r);
    pub_free(&pub);
    setenv("PAYLINK_DM_PASSWORD_FILE", saved, 1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    for (int i = 0; i < 2; i++)
        if (strncmp(got[i], "1|", 2) != 0 || strstr(got[i], "password"))
            fail_msg("query %d: %s", i + 1, got[i]);
}

/*
 * An authorization that cannot be confirmed (its last query failed) is reversed: the timeout
 * reversal is recorded on the row before it is published, while the lease is held, so that a
 * replica taking the row after a publish that outlasted the lease follows that reversal instead
 * of querying and reporting approved an authorization the reversal releases. A publish that
 * fails escalates the row with the reversal recorded; `wreq retry` publishes the same one again.
 */
static void test_timeout_reversal_recorded_first(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], pol[64], want[256], rev[80];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    value(pol, sizeof pol,
          "SELECT concat_ws('|', p.max_queries, p.reverse_unconfirmed, s.send_reversal) "
          "FROM resolution_policy p, auth_service s WHERE p.protocol = 'CYB' "
          "AND p.worker = $1 AND s.service_bureau = 'CYB'",
          "auth");
    int max_queries = 0;
    char reverse[8] = "", send[8] = "";
    assert_int_equal(sscanf(pol, "%d|%7[a-z]|%7[a-z]", &max_queries, reverse, send), 3);
    /* migration 023 and schema/demo.sql: the configuration this test is about */
    assert_string_equal(reverse, "t");
    assert_string_equal(send, "t");

    /* The last query cannot be made (no merchant ID on the row): escalated, so reversed. */
    trow t = mkrow("auth", "CYB", "auth", "97.00", "escalated");
    sent_long_ago(&t);
    char q[16];
    snprintf(q, sizeof q, "%d", max_queries - 1);
    run("UPDATE required_response SET queries = $2::int WHERE id = $1::bigint", 2,
        (const char *const[]){t.sid, q});
    run1("UPDATE cc_auth_trans SET merchant_id = '' WHERE request_id = $1", t.rid);
    snprintf(rev, sizeof rev, "%s.tor", t.rid);
    pub.watch_sid = t.sid;
    assert_int_equal(pl_resolver_retry(r, t.id, true, msg, sizeof msg), 0);
    assert_int_equal(pub.calls, 1);
    assert_string_equal(pub.msg[0].topic, "it.reversal.request");
    assert_string_equal(pub.msg[0].key, t.key);
    assert_contains(pub.msg[0].payload, rev);
    snprintf(want, sizeof want, "%s|%s", rev, own);
    assert_string_equal(pub.watched[0], want);
    snprintf(want, sizeof want, "open|%d|-|f|", max_queries);
    char v[600];
    value(v, sizeof v, RR_STATE, t.sid);
    assert_contains(v, want);
    assert_contains(v, "timeout reversal");
    assert_contains(v, "requested");
    snprintf(want, sizeof want, "%s|t|t", rev);
    assert_value("SELECT concat_ws('|', reversal_request_id, reversal_requested_at IS NOT NULL, "
                 "next_query_at > now()) FROM required_response WHERE id = $1::bigint",
                 t.sid, want);
    assert_value(AUTH_STATUS, t.rid, "unknown");

    /* The broker refuses it: escalated, the reversal recorded (it may still have gone out). */
    trow f = mkrow("auth", "CYB", "auth", "98.00", "escalated");
    sent_long_ago(&f);
    run("UPDATE required_response SET queries = $2::int WHERE id = $1::bigint", 2,
        (const char *const[]){f.sid, q});
    run1("UPDATE cc_auth_trans SET merchant_id = '' WHERE request_id = $1", f.rid);
    snprintf(rev, sizeof rev, "%s.tor", f.rid);
    pub.watch_sid = f.sid;
    pub.fail = true;
    assert_int_equal(pl_resolver_retry(r, f.id, true, msg, sizeof msg), 0);
    assert_int_equal(pub.calls, 2);
    snprintf(want, sizeof want, "%s|%s", rev, own);
    assert_string_equal(pub.watched[1], want);
    value(v, sizeof v, RR_STATE, f.sid);
    snprintf(want, sizeof want, "escalated|%d|-|f|", max_queries);
    assert_contains(v, want);
    snprintf(want, sizeof want,
             "the timeout reversal could not be requested: publishing the timeout reversal %s "
             "failed",
             rev);
    assert_contains(v, want);
    assert_value("SELECT reversal_request_id FROM required_response WHERE id = $1::bigint", f.sid,
                 rev);
    /* An operator cannot approve it while that reversal may be in flight. */
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    assert_int_equal(pl_resolver_operator(r, f.id, &o, "alice", NULL, msg, sizeof msg),
                     PL_ERR_STATE);
    /* Once the broker takes messages again — hours later — a retry publishes the same
     * reversal (requested anew: not escalated for the hours it waited). */
    run1("UPDATE required_response SET reversal_requested_at = now() - interval '7 hours' "
         "WHERE id = $1::bigint",
         f.sid);
    pub.fail = false;
    assert_int_equal(pl_resolver_retry(r, f.id, true, msg, sizeof msg), 0);
    assert_int_equal(pub.calls, 3);
    assert_string_equal(pub.msg[2].topic, "it.reversal.request");
    assert_contains(pub.msg[2].payload, rev);
    value(v, sizeof v, RR_STATE, f.sid);
    assert_contains(v, "open|");
    assert_contains(v, "not recorded yet");
    assert_value(AUTH_STATUS, f.rid, "unknown");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/*
 * A row whose transaction is not unknown is not the resolver's to settle by a query. One whose
 * transaction is final (an answer stored without the late-answer trigger, which fires only on a
 * row leaving unknown) is closed as that trigger closes it (044): resolved late_answer, its reply
 * made the final one and published. Before, it was looked at again every retry_after_s for ever,
 * never counted nor escalated, and `wreq resolve` refuses it (not unknown): the order system,
 * told `timeout`, never got its final reply.
 */
static void test_transaction_not_unknown(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    trow a = mkrow_status("auth", "CYB", "auth", "96.00", "escalated", "approved");
    /* The reply the worker stored with its answer (mkrow_status stores a timeout one). */
    run1("UPDATE cc_auth_trans SET reply = (reply - 'required_response') || "
         "'{\"status\": \"approved\", \"amount_approved\": \"96.00\"}' WHERE request_id = $1",
         a.rid);
    assert_int_equal(pl_resolver_retry(r, a.id, true, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, resolution, resolved_how, resolved_by, queries, "
                 "coalesce(lease_owner, '-'), reply_pending) "
                 "FROM required_response WHERE id = $1::bigint",
                 a.sid, "resolved|approved|late_answer|paylink-auth|0|-|f");
    assert_value("SELECT concat_ws('|', status, reply->>'status', reply->>'resolved', "
                 "reply->>'resolution', reply ? 'required_response') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 a.rid, "approved|approved|true|query|f");
    assert_value(AUTH_HISTORY, a.rid, "0|-|-|-");
    assert_int_equal(pub.calls, 1);
    assert_final_reply(&pub.msg[0], &a, "approved", "query");

    /* Approved while a timeout reversal was asked for (what 049 keeps from happening: that
     * reversal releases it): never published as the final reply; escalated. */
    trow b = mkrow_status("auth", "CYB", "auth", "95.00", "escalated", "approved");
    run1("UPDATE required_response SET reversal_request_id = request_id || '.tor', "
         "reversal_requested_at = now() WHERE id = $1::bigint",
         b.sid);
    assert_int_equal(pl_resolver_retry(r, b.id, true, msg, sizeof msg), 0);
    char want[300];
    snprintf(want, sizeof want,
             "escalated|0|-|f|the transaction is approved while its timeout reversal %s.tor was "
             "asked for: not published as the final reply",
             b.rid);
    assert_value(RR_STATE, b.sid, want);
    assert_value("SELECT reply->>'status' FROM cc_auth_trans WHERE request_id = $1", b.rid,
                 "timeout");
    assert_int_equal(pub.calls, 1);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/*
 * A row whose transaction is neither unknown nor final (received or sent: the engine opens a
 * required response only as it makes the row unknown, so only a hand's edit leaves one so) is
 * looked at again, each look counted as a query, and escalated at the last (max_queries):
 * before, it was looked at for ever, never counted, never seen by an operator.
 */
static void test_transaction_not_unknown_bounded(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], pol[32], q[16], want[256];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    value(pol, sizeof pol,
          "SELECT max_queries::text FROM resolution_policy WHERE protocol = 'CYB' "
          "AND worker = $1",
          "auth");
    int max = atoi(pol);
    assert_true(max > 1);
    trow a = mkrow_status("auth", "CYB", "auth", "96.00", "open", "sent");
    assert_int_equal(pl_resolver_retry(r, a.id, true, msg, sizeof msg), 0);
    snprintf(want, sizeof want, "open|1|-|t|the transaction is sent, not unknown (look 1 of %d)",
             max);
    assert_value("SELECT concat_ws('|', status, queries, coalesce(lease_owner, '-'), "
                 "next_query_at > now(), last_query_result) "
                 "FROM required_response WHERE id = $1::bigint",
                 a.sid, want);
    /* The last look: escalated. */
    snprintf(q, sizeof q, "%d", max - 1);
    const char *pq[] = {a.sid, q};
    run("UPDATE required_response SET queries = $2::int WHERE id = $1::bigint", 2, pq);
    assert_int_equal(pl_resolver_retry(r, a.id, true, msg, sizeof msg), 0);
    snprintf(want, sizeof want,
             "escalated|%d|-|t|t|the transaction is still sent, not unknown, after %d looks: its "
             "row needs an operator (wreq resolve refuses it)",
             max, max);
    assert_value("SELECT concat_ws('|', status, queries, coalesce(lease_owner, '-'), "
                 "next_query_at IS NULL, escalated_at IS NOT NULL, last_query_result) "
                 "FROM required_response WHERE id = $1::bigint",
                 a.sid, want);
    assert_value("SELECT concat_ws('|', status, reply->>'status') FROM cc_auth_trans "
                 "WHERE request_id = $1",
                 a.rid, "sent|timeout");
    assert_int_equal(pub.calls, 0);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* ---- the reversal of an authorization an auth+capture replaced, its void deferred (057) --- */

/* An approved CyberSource authorization rid of 100.00 of order `order`, as paylink-auth leaves
 * it; its auth_history id into hid. */
static void mk_approved_auth(const char *rid, const char *order, char *hid, size_t n)
{
    const char *p[] = {rid, order};
    run("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, amount, currency, card_token, card_type, "
        "merchant_id, status, amount_approved, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT
        ", 'auth', 'auth', " COMPANY ", $2::text, 1, 'CYB', 100.00, 'USD', 'tok-it-resolver', "
        "'VI', 'paylink_demo', 'approved', 100.00, now(), 'it-resolver')",
        2, p);
    value_n(hid, n,
            "INSERT INTO auth_history (request_id, company, order_number, pay_seq, service_bureau, "
            "transaction_type, status, amount_authorized, currency, auth_number, transaction_id) "
            "VALUES ($1::text, " COMPANY ", $2::text, 1, 'CYB', 'auth', 'approved', 100.00, 'USD', "
            "'123456', '7419661750346782309999') RETURNING id::text",
            2, p);
}

/* A debit rid of order `order` on authorization hid, marked sent as paylink-deposit marks it: a
 * capture (op) claiming its amount on the authorization, an auth+capture claiming nothing. */
static void mk_sent_debit(const char *rid, const char *order, const char *bureau, const char *op,
                          const char *amount, const char *hid)
{
    const char *p[] = {rid, order, bureau, op, amount, hid};
    run("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, amount, currency, card_token, merchant_id, "
        "status, deposit_status, auth_history_id, claim_amount, void_remainder, sent_at, "
        "sent_by) VALUES ($1::text, " FINGERPRINT ", 'debit', $4::text, " COMPANY
        ", $2::text, 1, $3::text, $5::numeric, 'USD', 'tok-it-resolver', 'paylink_demo', 'sent', "
        "'*SENT', $6::bigint, CASE WHEN $4::text = 'capture' THEN $5::numeric END, "
        "CASE WHEN $4::text = 'capture' THEN false END, now(), 'it-resolver')",
        6, p);
    if (strcmp(op, "capture") == 0)
        run("UPDATE auth_history SET amount_pending = amount_pending + $2::numeric "
            "WHERE id = $1::bigint",
            2, (const char *const[]){hid, amount});
}

/* The debit's answer stored (status, and what it captured: NULL for none), as dep_store stores
 * it: the settle trigger does the rest. */
static void settle_debit(const char *rid, const char *status, const char *deposited)
{
    run("UPDATE cc_deposit_trans SET status = $2::text, deposit_status = '*RCVD', "
        "amount_deposited = $3::numeric, answered_at = now() WHERE request_id = $1",
        3, (const char *const[]){rid, status, deposited});
}

/* Holds the reversal owed for auth+capture `ac` under a lease of the test's own, which no
 * resolver takes up while it lasts; or frees it of any lease (a resolver's wait too). */
static void owed_hold(const char *ac, bool hold)
{
    run(hold ? "UPDATE replaced_auth_reversal SET lease_owner = 'it-hold', "
               "lease_until = now() + interval '1 hour' WHERE deposit_request_id = $1"
             : "UPDATE replaced_auth_reversal SET lease_owner = NULL, lease_until = NULL "
               "WHERE deposit_request_id = $1",
        1, (const char *const[]){ac});
}

/* The messages published with Kafka key `key`. */
static int calls_for_key(const pubrec *pr, const char *key, const published **last)
{
    int n = pr->calls < 16 ? pr->calls : 16, found = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(pr->msg[i].key, key) == 0) {
            found++;
            if (last)
                *last = &pr->msg[i];
        }
    return found;
}

/*
 * An auth+capture (150.00 over a 100.00 authorization) answered approved while another capture
 * of that authorization still claims 30.00: the void of the authorization it replaced waits
 * (050). Once that capture ends declined — nothing of the authorization captured — the void is
 * carried out and the reversal `<auth+capture>.vdr` of the authorization is owed (057), and
 * paylink-deposit's resolver publishes it once: a publish Kafka refuses leaves it owed for the
 * next pass. None when the other capture was approved (CyberSource refuses to reverse a captured
 * authorization, 238), on a bureau without Send reversal (the demo's EXT), or when the
 * auth+capture's own follow-ups already hold it. Before, no reversal was ever published for a
 * deferred void: the hold stayed on the card until it expired.
 */
static void test_deferred_auth_capture_void_reversed(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128];
    pl_resolver *r = resolver("deposit", owner(own, sizeof own, "vdr"), &pub);
    enum { CASES = 10 };
    /* 0: the other capture declined; 1: approved; 2: the auth+capture on EXT (no Send
     * reversal); 3, 4, 7, 8 and 9: its follow-ups hold the reversal already (owed all the same:
     * the resolver reads what became of that one); 5: its follow-ups hold another reversal only
     * (an `.sdr`, say: not its `.vdr`), which the resolver does not wait for; 6: as 3, its id
     * 50 characters long (its `.vdr` is `vdr.<hash>`, pl_job_derived_request_id). */
    char auth[CASES][64], ac[CASES][64], vdr[CASES][64], key[CASES][32], hid[CASES][24];
    for (int k = 0; k < CASES; k++) {
        char order[21], cap[64], want[256];
        int n = ++g_seq;
        snprintf(order, sizeof order, "ITV%05d%04d", (int)(getpid() % 100000), n);
        snprintf(key[k], sizeof key[k], "%s-%s", COMPANY, order);
        snprintf(auth[k], sizeof auth[k], "%s%da", g_prefix, n);
        snprintf(cap, sizeof cap, "%s%dc", g_prefix, n);
        snprintf(ac[k], sizeof ac[k], "%s%dx", g_prefix, n);
        while (k == 6 && strlen(ac[k]) < 50)
            strcat(ac[k], "L");
        pl_job_derived_request_id(ac[k], PL_DEPOSIT_REVERSAL_SUFFIX, vdr[k], sizeof vdr[k]);
        mk_approved_auth(auth[k], order, hid[k], sizeof hid[k]);
        mk_sent_debit(cap, order, "CYB", "capture", "30.00", hid[k]);
        mk_sent_debit(ac[k], order, k == 2 ? "EXT" : "CYB", "auth_capture", "150.00", hid[k]);
        if (k >= 3) {
            char other[64];
            pl_job_derived_request_id(ac[k], PL_SOFT_DECLINE_REVERSAL_SUFFIX, other, sizeof other);
            run("UPDATE cc_deposit_trans SET followups = jsonb_build_array(jsonb_build_object("
                "'topic', 'it.reversal.request', 'key', $2::text, 'payload', "
                "jsonb_build_object('request_id', $3::text)::text)) WHERE request_id = $1",
                3, (const char *const[]){ac[k], key[k], k == 5 ? other : vdr[k]});
        }
        settle_debit(ac[k], "approved", "150.00");
        snprintf(want, sizeof want, "approved|0.00|%s|auth_capture", ac[k]);
        assert_value("SELECT concat_ws('|', status, amount_voided, void_deferred_by, "
                     "void_deferred_reason) FROM auth_history WHERE id = $1::bigint",
                     hid[k], want);
        assert_value("SELECT count(*)::text FROM replaced_auth_reversal "
                     "WHERE deposit_request_id = $1",
                     ac[k], "0");
        if (k >= 8) {
            /* Cases 8 and 9: paylink-reversal refuses its `.vdr` while the other capture's claim
             * holds the void ("a deposit is in progress"; voided_by still NULL, void_deferred_by
             * set), as the engine stores a refusal (from `received`): migration 070's trigger
             * records it in reversal_reask, held by the test in the same transaction (the
             * running system's paylink-reversal resolvers would decide on it). */
            run("INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, "
                "pay_seq, service_bureau, amount, currency, auth_request_id) SELECT "
                "$1::text, " FINGERPRINT
                ", company, order_number, 1, 'CYB', 100.00, 'USD', request_id FROM cc_auth_trans "
                "WHERE request_id = $2",
                2, (const char *const[]){vdr[k], auth[k]});
            run("BEGIN", 0, NULL);
            run1("UPDATE auth_reversal SET status = 'declined', answered_at = now() "
                 "WHERE request_id = $1",
                 vdr[k]);
            run1("UPDATE reversal_reask SET lease_owner = 'it-hold', "
                 "lease_until = now() + interval '1 hour' WHERE request_id = $1",
                 vdr[k]);
            run("COMMIT", 0, NULL);
            assert_value("SELECT concat_ws('|', outcome, lease_owner) FROM reversal_reask "
                         "WHERE request_id = $1",
                         vdr[k], "declined|it-hold");
        }
        /* The owed row is held by the test from the moment it is written (one transaction): the
         * running system's own paylink-deposit resolvers, every 2 s, would publish it first. */
        run("BEGIN", 0, NULL);
        settle_debit(cap, k == 1 ? "approved" : "declined", k == 1 ? "30.00" : NULL);
        owed_hold(ac[k], true);
        run("COMMIT", 0, NULL);
        snprintf(want, sizeof want, "voided|%s|%s|auth_capture|-", k == 1 ? "70.00" : "100.00",
                 ac[k]);
        assert_value("SELECT concat_ws('|', status, amount_voided, voided_by, void_reason, "
                     "coalesce(void_deferred_by, '-')) FROM auth_history WHERE id = $1::bigint",
                     hid[k], want);
        assert_value("SELECT count(*)::text FROM replaced_auth_reversal "
                     "WHERE deposit_request_id = $1",
                     ac[k], k == 0 || k >= 3 ? "1" : "0");
    }
    char owed[200];
    snprintf(owed, sizeof owed, "%s|%s|100.00|t", hid[0], auth[0]);
    assert_value("SELECT concat_ws('|', auth_history_id, auth_request_id, amount, "
                 "published_at IS NULL) FROM replaced_auth_reversal WHERE deposit_request_id = $1",
                 ac[0], owed);

    /* Kafka refuses it: still owed, given back for the next pass. */
    quiet("deposit");
    owed_hold(ac[0], false);
    pub.fail = true;
    assert_true(pl_resolver_pass(r, 10) >= 0);
    assert_int_equal(calls_for_key(&pub, key[0], NULL), 1);
    assert_value("SELECT concat_ws('|', published_at IS NULL, coalesce(lease_owner, '-')) "
                 "FROM replaced_auth_reversal WHERE deposit_request_id = $1",
                 ac[0], "t|-");
    owed_hold(ac[0], true);
    pub.fail = false;
    quiet("deposit");
    owed_hold(ac[0], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    const published *m = NULL;
    assert_int_equal(calls_for_key(&pub, key[0], &m), 2);
    assert_false(m->failed);
    assert_string_equal(m->topic, "it.reversal.request");
    json_object *o = json_tokener_parse(m->payload);
    assert_non_null(o);
    assert_string_equal(jstr(o, "request_id"), vdr[0]);
    assert_string_equal(jstr(o, "type"), "reversal");
    assert_string_equal(jstr(o, "service"), "CYB");
    assert_string_equal(jstr(o, "amount"), "100.00");
    assert_string_equal(jstr(o, "currency"), "USD");
    json_object *ref;
    assert_true(json_object_object_get_ex(o, "auth_ref", &ref));
    assert_string_equal(jstr(ref, "request_id"), auth[0]);
    json_object_put(o);
    assert_value("SELECT concat_ws('|', published_at IS NOT NULL, coalesce(lease_owner, '-')) "
                 "FROM replaced_auth_reversal WHERE deposit_request_id = $1",
                 ac[0], "t|-");
    /* Published once: the next pass has nothing of it. */
    quiet("deposit");
    assert_true(pl_resolver_pass(r, 10) >= 0);
    assert_int_equal(calls_for_key(&pub, key[0], NULL), 2);

    /* Case 3: the auth+capture's own `.vdr` went with its answer. paylink-reversal has not
     * recorded it yet: the resolver leaves it to arrive, and publishes nothing. */
    assert_int_equal(calls_for_key(&pub, key[3], NULL), 0);
    quiet("deposit");
    owed_hold(ac[3], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    /* Kept under the resolver's lease for a while: the passes in between take the rows after
     * it (a pass takes the oldest first). */
    assert_value_n(
        "SELECT (lease_owner = $2 AND lease_until > now() + interval '20 seconds')::text "
        "FROM replaced_auth_reversal WHERE deposit_request_id = $1",
        2, (const char *const[]){ac[3], own}, "true");
    owed_hold(ac[3], true);
    assert_int_equal(calls_for_key(&pub, key[3], NULL), 0);
    assert_value("SELECT (published_at IS NULL)::text FROM replaced_auth_reversal "
                 "WHERE deposit_request_id = $1",
                 ac[3], "true");
    /* paylink-reversal refused it without a call while the other capture's claim held the void
     * (its fixed id used up): published again, under `.vdr2`. Before, nothing released the hold. */
    run("INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
        "pay_seq, service_bureau, amount, currency, auth_request_id, auth_history_id, status) "
        "SELECT $1::text, " FINGERPRINT ", 'reversal', company, order_number, 1, 'CYB', 100.00, "
        "'USD', request_id, $3::bigint, 'declined' FROM cc_auth_trans WHERE request_id = $2",
        3, (const char *const[]){vdr[3], auth[3], hid[3]});
    quiet("deposit");
    owed_hold(ac[3], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    const published *m3 = NULL;
    assert_int_equal(calls_for_key(&pub, key[3], &m3), 1);
    char vdr2[64];
    pl_job_derived_request_id(ac[3], PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX, vdr2, sizeof vdr2);
    o = json_tokener_parse(m3->payload);
    assert_non_null(o);
    assert_string_equal(jstr(o, "request_id"), vdr2);
    assert_string_equal(jstr(o, "amount"), "100.00");
    json_object_put(o);
    /* Once: the next pass publishes nothing more of it. */
    quiet("deposit");
    assert_true(pl_resolver_pass(r, 10) >= 0);
    assert_int_equal(calls_for_key(&pub, key[3], NULL), 1);

    /* Case 4: its own `.vdr` was sent and ended `error` (the bureau unreachable, or no record of
     * it there): not acted on, so published again under `.vdr2` as well. */
    run("INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
        "pay_seq, service_bureau, amount, currency, auth_request_id, auth_history_id, status, "
        "sent_at) SELECT $1::text, " FINGERPRINT ", 'reversal', company, order_number, 1, 'CYB', "
        "100.00, 'USD', request_id, $3::bigint, 'error', now() - interval '1 minute' "
        "FROM cc_auth_trans WHERE request_id = $2",
        3, (const char *const[]){vdr[4], auth[4], hid[4]});
    quiet("deposit");
    owed_hold(ac[4], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    const published *m4 = NULL;
    assert_int_equal(calls_for_key(&pub, key[4], &m4), 1);
    pl_job_derived_request_id(ac[4], PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX, vdr2, sizeof vdr2);
    o = json_tokener_parse(m4->payload);
    assert_non_null(o);
    assert_string_equal(jstr(o, "request_id"), vdr2);
    json_object_put(o);
    for (int k = 1; k < 3; k++)
        assert_int_equal(calls_for_key(&pub, key[k], NULL), 0);

    /* Case 7: as 4, its `.vdr` ended `error` as paylink-reversal stores it (marked sent, then
     * its outcome): migration 069's trigger records it in reversal_reask with the error, and
     * paylink-reversal's resolver asks it again itself (`.again`, test_resolver_reask.c). This
     * resolver publishes no `.vdr2` beside it (two reversals of one authorization, one refused
     * while the other's claim is in flight, or by the bureau as 237) and counts it done. The
     * recorded row is held by the test in the same transaction: the running system's
     * paylink-reversal resolvers would ask it again. */
    run("INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
        "pay_seq, service_bureau, amount, currency, auth_request_id, auth_history_id, status, "
        "sent_at) SELECT $1::text, " FINGERPRINT ", 'reversal', company, order_number, 1, 'CYB', "
        "100.00, 'USD', request_id, $3::bigint, 'sent', now() - interval '1 minute' "
        "FROM cc_auth_trans WHERE request_id = $2",
        3, (const char *const[]){vdr[7], auth[7], hid[7]});
    run("BEGIN", 0, NULL);
    run1("UPDATE auth_reversal SET status = 'error', vendor_response = '150', "
         "answered_at = now() WHERE request_id = $1",
         vdr[7]);
    run1("UPDATE reversal_reask SET lease_owner = 'it-hold', "
         "lease_until = now() + interval '1 hour' WHERE request_id = $1",
         vdr[7]);
    run("COMMIT", 0, NULL);
    assert_value("SELECT concat_ws('|', outcome, lease_owner) FROM reversal_reask "
                 "WHERE request_id = $1",
                 vdr[7], "error|it-hold");
    quiet("deposit");
    owed_hold(ac[7], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    assert_int_equal(calls_for_key(&pub, key[7], NULL), 0);
    assert_value("SELECT concat_ws('|', published_at IS NOT NULL, coalesce(lease_owner, '-')) "
                 "FROM replaced_auth_reversal WHERE deposit_request_id = $1",
                 ac[7], "t|-");

    /* Case 8: its `.vdr` refused while the void waited (in the loop), its row in
     * reversal_reask still to be decided: paylink-reversal's resolver acts on it (asks it again
     * as `.vdr.again`, or tells an operator), as for case 7. No `.vdr2` beside it. */
    quiet("deposit");
    owed_hold(ac[8], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    assert_int_equal(calls_for_key(&pub, key[8], NULL), 0);
    assert_value("SELECT concat_ws('|', published_at IS NOT NULL, coalesce(lease_owner, '-')) "
                 "FROM replaced_auth_reversal WHERE deposit_request_id = $1",
                 ac[8], "t|-");

    /* Case 9: as 8, but its row in reversal_reask closed without asking it again, as 070's
     * resolver closed it while it read voided_by alone (still NULL while the void waited): "not
     * paylink's own". Nothing else will ask for it: published again as `.vdr2`, once. Before,
     * it counted as done here too, and the 100.00 stayed held until the authorization expired. */
    run1("UPDATE reversal_reask SET done_at = now(), done = 'not paylink''s own reversal: its "
         "sender reads its reply', lease_owner = NULL, lease_until = NULL WHERE request_id = $1",
         vdr[9]);
    quiet("deposit");
    owed_hold(ac[9], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    const published *m9 = NULL;
    assert_int_equal(calls_for_key(&pub, key[9], &m9), 1);
    pl_job_derived_request_id(ac[9], PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX, vdr2, sizeof vdr2);
    o = json_tokener_parse(m9->payload);
    assert_non_null(o);
    assert_string_equal(jstr(o, "request_id"), vdr2);
    assert_string_equal(jstr(o, "amount"), "100.00");
    json_object_put(o);
    quiet("deposit");
    assert_true(pl_resolver_pass(r, 10) >= 0);
    assert_int_equal(calls_for_key(&pub, key[9], NULL), 1);

    /* Case 6: its own `.vdr` under a long id (`vdr.<hash>`) is found in its follow-ups all the
     * same: the resolver waits for it, publishes nothing, and keeps the row under its lease. */
    assert_true(strncmp(vdr[6], "vdr.", 4) == 0);
    quiet("deposit");
    owed_hold(ac[6], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    assert_int_equal(calls_for_key(&pub, key[6], NULL), 0);
    assert_value_n(
        "SELECT (lease_owner = $2 AND lease_until > now() + interval '20 seconds')::text "
        "FROM replaced_auth_reversal WHERE deposit_request_id = $1",
        2, (const char *const[]){ac[6], own}, "true");
    owed_hold(ac[6], true);

    /* Case 5: another reversal in its follow-ups is not its `.vdr`: published at once, not
     * after ten minutes of waiting for a `.vdr` that never went. */
    quiet("deposit");
    owed_hold(ac[5], false);
    assert_true(pl_resolver_pass(r, 10) >= 0);
    const published *m5 = NULL;
    assert_int_equal(calls_for_key(&pub, key[5], &m5), 1);
    o = json_tokener_parse(m5->payload);
    assert_non_null(o);
    assert_string_equal(jstr(o, "request_id"), vdr[5]);
    json_object_put(o);
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* Holds reversal_reask's row of reversal rid under the lease of the test's paylink-reversal
 * resolver `own` (which takes its own lease up as it takes a free one; the running system's
 * resolvers take free or passed ones only); with `ago` >= 0, its outcome stored `ago` seconds
 * ago and due now. */
static void reask_hold(const char *rid, const char *own, int ago)
{
    char s[16];
    snprintf(s, sizeof s, "%d", ago);
    run("UPDATE reversal_reask SET lease_owner = $2, lease_until = now() + interval '1 hour', "
        "owed_at = CASE WHEN $3::int >= 0 THEN now() - make_interval(secs => $3::int) "
        "ELSE owed_at END, due_at = CASE WHEN $3::int >= 0 THEN now() ELSE due_at END "
        "WHERE request_id = $1 AND done_at IS NULL",
        3, (const char *const[]){rid, own, s});
}

/* One pass of paylink-reversal's resolver rr over reversal_reask, the rows of others it could
 * take held meanwhile (reask_park). */
static int reask_pass(pl_resolver *rr)
{
    reask_park(true);
    int n = pl_resolver_reask_pass(rr, 50);
    reask_park(false);
    return n;
}

/*
 * As test_deferred_auth_capture_void_reversed, from start to end with both resolvers deciding:
 * the auth+capture's own `.vdr` (in its follow-ups) is refused by paylink-reversal while the other
 * capture's claim holds the void — the authorization's voided_by still NULL, void_deferred_by
 * naming the auth+capture — and paylink-reversal's look-up reads that auth+capture as the deposit
 * that voided it, so the `.vdr` is paylink's own. paylink-reversal's resolver keeps the refusal
 * while the claim lasts; the claim declined (nothing captured), the void is carried out and the
 * reversal owed (057). Exactly one reversal of the authorization goes for the 100.00 held:
 * `.vdr.again`, from paylink-reversal's resolver, and no `.vdr2` from paylink-deposit's. Before,
 * the look-ups read voided_by alone: the `.vdr` was not paylink's own, its row was closed as the
 * order system's ("not paylink's own"), paylink-deposit's resolver counted the row as handled,
 * and nothing asked for the 100.00 (info lines only) until the authorization expired.
 */
static void test_deferred_void_vdr_refused_asked_once(void **state)
{
    (void)state;
    pubrec dpub, rpub;
    pub_init(&dpub);
    pub_init(&rpub);
    char down[128], rown[128];
    pl_resolver *dr = resolver("deposit", owner(down, sizeof down, "vdrd"), &dpub);
    pl_resolver *rr = resolver("reversal", owner(rown, sizeof rown, "vdrr"), &rpub);
    char order[21], key[32], auth[64], cap[64], ac[64], vdr[64], again[64], hid[24], want[256];
    int n = ++g_seq;
    snprintf(order, sizeof order, "ITW%05d%04d", (int)(getpid() % 100000), n);
    snprintf(key, sizeof key, "%s-%s", COMPANY, order);
    snprintf(auth, sizeof auth, "%s%da", g_prefix, n);
    snprintf(cap, sizeof cap, "%s%dc", g_prefix, n);
    snprintf(ac, sizeof ac, "%s%dx", g_prefix, n);
    pl_job_derived_request_id(ac, PL_DEPOSIT_REVERSAL_SUFFIX, vdr, sizeof vdr);
    pl_job_derived_request_id(vdr, PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    mk_approved_auth(auth, order, hid, sizeof hid);
    mk_sent_debit(cap, order, "CYB", "capture", "30.00", hid);
    mk_sent_debit(ac, order, "CYB", "auth_capture", "150.00", hid);
    run("UPDATE cc_deposit_trans SET followups = jsonb_build_array(jsonb_build_object("
        "'topic', 'it.reversal.request', 'key', $2::text, 'payload', "
        "jsonb_build_object('request_id', $3::text)::text)) WHERE request_id = $1",
        3, (const char *const[]){ac, key, vdr});
    settle_debit(ac, "approved", "150.00");
    snprintf(want, sizeof want, "approved|-|%s|30.00", ac);
    assert_value(
        "SELECT concat_ws('|', status, coalesce(nullif(voided_by, ''), '-'), void_deferred_by, "
        "amount_pending) FROM auth_history WHERE id = $1::bigint",
        hid, want);

    /* paylink-reversal's look-up of the authorization (rev_auth, as its record and prepare read
     * it) names the auth+capture as the deposit that voided it (column 16): the `.vdr` is
     * paylink's own. */
    const char *look = NULL;
    for (size_t i = 0; i < pl_reversal_spec.nstmts; i++)
        if (strcmp(pl_reversal_spec.stmts[i].name, "rev_auth") == 0)
            look = pl_reversal_spec.stmts[i].sql;
    assert_non_null(look);
    PGresult *lr = sql(look, 1, (const char *const[]){auth});
    assert_int_equal(PQntuples(lr), 1);
    assert_true(PQnfields(lr) > 16);
    char voided_by[64];
    snprintf(voided_by, sizeof voided_by, "%s", PQgetvalue(lr, 0, 16));
    PQclear(lr);
    assert_string_equal(voided_by, ac);
    assert_int_equal(pl_reversal_own(vdr, auth, voided_by, ""), 0);

    /* Refused without a call ("a deposit is in progress"), stored as the engine stores a
     * refusal (from `received`); 070's trigger records it, held by the test's paylink-reversal
     * resolver in the same transaction. */
    run("INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "
        "service_bureau, amount, currency, auth_request_id) SELECT $1::text, " FINGERPRINT
        ", company, order_number, 1, 'CYB', 100.00, 'USD', request_id FROM cc_auth_trans "
        "WHERE request_id = $2",
        2, (const char *const[]){vdr, auth});
    run("BEGIN", 0, NULL);
    run1("UPDATE auth_reversal SET status = 'declined', answered_at = now(), reply = "
         "jsonb_build_object('status', 'declined', 'message', 'A deposit or another reversal of "
         "the authorization is in progress or its outcome is unknown; it cannot be reversed "
         "now.') WHERE request_id = $1",
         vdr);
    reask_hold(vdr, rown, -1);
    run("COMMIT", 0, NULL);
    assert_value("SELECT concat_ws('|', outcome, done_at IS NULL) FROM reversal_reask "
                 "WHERE request_id = $1",
                 vdr, "declined|t");

    /* paylink-reversal's resolver decides on it: not due yet; then due while the claim lasts:
     * it waits, still to be decided (before: closed at once as the order system's). */
    assert_true(reask_pass(rr) >= 0);
    reask_hold(vdr, rown, -1);
    assert_value("SELECT concat_ws('|', done_at IS NULL, coalesce(done, '-')) FROM "
                 "reversal_reask WHERE request_id = $1",
                 vdr, "t|-");
    reask_hold(vdr, rown, 61);
    assert_true(reask_pass(rr) >= 0);
    reask_hold(vdr, rown, -1);
    assert_value("SELECT concat_ws('|', done_at IS NULL, due_at > now() + interval '30 seconds') "
                 "FROM reversal_reask WHERE request_id = $1",
                 vdr, "t|t");
    assert_int_equal(rpub.calls, 0);

    /* The other capture declined: the void is carried out and the reversal owed (held by the
     * test from the moment it is written). */
    run("BEGIN", 0, NULL);
    settle_debit(cap, "declined", NULL);
    owed_hold(ac, true);
    run("COMMIT", 0, NULL);
    snprintf(want, sizeof want, "voided|%s|-|100.00", ac);
    assert_value("SELECT concat_ws('|', status, voided_by, coalesce(void_deferred_by, '-'), "
                 "amount_voided) FROM auth_history WHERE id = $1::bigint",
                 hid, want);
    assert_value("SELECT concat_ws('|', amount, published_at IS NULL) FROM "
                 "replaced_auth_reversal WHERE deposit_request_id = $1",
                 ac, "100.00|t");

    /* paylink-reversal's resolver asks it again, for the 100.00 held. */
    reask_hold(vdr, rown, 121);
    assert_int_equal(reask_pass(rr), 1);
    assert_int_equal(rpub.calls, 1);
    assert_string_equal(rpub.msg[0].topic, "it.reversal.request");
    assert_string_equal(rpub.msg[0].key, key);
    json_object *o = json_tokener_parse(rpub.msg[0].payload);
    assert_non_null(o);
    assert_string_equal(jstr(o, "request_id"), again);
    assert_string_equal(jstr(o, "amount"), "100.00");
    json_object *ref;
    assert_true(json_object_object_get_ex(o, "auth_ref", &ref));
    assert_string_equal(jstr(ref, "request_id"), auth);
    json_object_put(o);
    snprintf(want, sizeof want, "t|%s", again);
    assert_value("SELECT concat_ws('|', done_at IS NOT NULL, done) FROM reversal_reask "
                 "WHERE request_id = $1",
                 vdr, want);

    /* paylink-deposit's resolver counts the owed reversal done: no `.vdr2` beside the `.again`. */
    quiet("deposit");
    owed_hold(ac, false);
    assert_true(pl_resolver_pass(dr, 10) >= 0);
    assert_int_equal(calls_for_key(&dpub, key, NULL), 0);
    assert_value("SELECT concat_ws('|', published_at IS NOT NULL, coalesce(lease_owner, '-')) "
                 "FROM replaced_auth_reversal WHERE deposit_request_id = $1",
                 ac, "t|-");
    /* Nothing more from either. */
    assert_int_equal(reask_pass(rr), 0);
    assert_int_equal(rpub.calls, 1);
    quiet("deposit");
    assert_true(pl_resolver_pass(dr, 10) >= 0);
    assert_int_equal(calls_for_key(&dpub, key, NULL), 0);
    pl_resolver_destroy(rr);
    pl_resolver_destroy(dr);
    pub_free(&rpub);
    pub_free(&dpub);
}

/*
 * A reversal of an authorization paylink holds goes for all of it (100.00) whatever the request
 * named (30.00), and claims it. A redelivery that found it sent, its owner gone, opened the
 * required response with the request's amount; an operator's approval then reverses what was
 * claimed, and the authorization is `reversed`. Before, 30.00 was booked, and since 058 that
 * left the authorization `approved` with 70.00 capturable, which the bureau had released.
 */
static void test_operator_redelivered_reversal_whole(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], auth[64], hid[24];
    pl_resolver *r = resolver("reversal", owner(own, sizeof own, "rvw"), &pub);
    trow t = mkrow("reversal", "CYB", "reversal", "30.00", "escalated");
    snprintf(auth, sizeof auth, "%sw", t.rid);
    mk_approved_auth(auth, t.order, hid, sizeof hid);
    run("UPDATE auth_history SET amount_pending = 100.00 WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    run("UPDATE auth_reversal SET auth_history_id = $2::bigint, auth_request_id = $3, "
        "claim_amount = 100.00 WHERE request_id = $1",
        3, (const char *const[]){t.rid, hid, auth});
    run("UPDATE required_response SET reason = 'sent_not_answered' WHERE id = $1::bigint", 1,
        (const char *const[]){t.sid});
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    assert_int_equal(pl_resolver_operator(r, t.id, &o, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, amount_reversed) FROM auth_reversal "
                 "WHERE request_id = $1",
                 t.rid, "approved|100.00");
    assert_value("SELECT concat_ws('|', status, amount_authorized, amount_pending) FROM "
                 "auth_history WHERE id = $1::bigint",
                 hid, "reversed|100.00|0.00");

    /* A stored value void the same way: it claimed what was left of its authorization (100.00)
     * and voided that; the authorization keeps nothing to deposit. */
    trow v = mkrow("reversal", "RLT", "svc_void", "30.00", "escalated");
    char sva[64];
    snprintf(sva, sizeof sva, "%sv", v.rid);
    run("INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, pay_type, amount, currency, card_masked, "
        "card_hash, status, amount_approved, amount_pending, svc_transaction_id, sent_at, "
        "answered_at) VALUES ($1::text, " FINGERPRINT ", 'auth', 'svc_preauth', " COMPANY
        ", $2::text, 1, 'RLT', 'SV', 100.00, 'USD', '************0001', repeat('e', 64), "
        "'approved', 100.00, 100.00, 'sv-it-1', now(), now())",
        2, (const char *const[]){sva, v.order});
    run("UPDATE auth_reversal SET auth_request_id = $2, claim_amount = 100.00 "
        "WHERE request_id = $1",
        2, (const char *const[]){v.rid, sva});
    run("UPDATE required_response SET reason = 'sent_not_answered' WHERE id = $1::bigint", 1,
        (const char *const[]){v.sid});
    assert_int_equal(pl_resolver_operator(r, v.id, &o, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', amount_pending, amount_voided) FROM svc_trans "
                 "WHERE request_id = $1",
                 sva, "0.00|100.00");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* What the call of required response t sent, by the rule paylinkctl and the resolver share. */
static void assert_amount_sent(const trow *t, const char *want)
{
    char sent[32];
    assert_int_equal(pl_resolver_amount_sent(g_admin, t->id, sent, sizeof sent), 0);
    assert_string_equal(sent, want);
}

/*
 * What a reversal sent, read by the one rule paylinkctl's check and line and the resolver's
 * check use (pl_resolver_amount_sent), for required responses a redelivery opened with the
 * request's amount (30.00). A reversal of an approved 100.00 authorization claimed, and sent,
 * all of it: paylinkctl refused an --amount above 30.00 and named 30.00 in its line, while the
 * resolver approved 100.00. A timeout reversal (the order system's reversal of an authorization
 * without an answer, sent as paylink's `.tor` is) went for what the authorization was sent for
 * (100.00), claiming nothing: approved, 30.00 was recorded and told the order system, and an
 * amount above it refused, although the bureau released 100.00. A reject's reversal (its claim
 * the 0.01 marker, sent by transaction id for the amount it names: a `.tor` published again for
 * the held amount) sent the request's; any other row sent its own amount.
 */
static void test_operator_amount_sent(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], auth[64], hid[24];
    pl_resolver *r = resolver("reversal", owner(own, sizeof own, "ams"), &pub);
    pl_resolve_outcome above = {.status = PL_ST_APPROVED, .has_amount = true, .amount = 10001};

    /* The whole reversal's claim; the resolver refuses above it, in its words. */
    trow w = mkrow("reversal", "CYB", "reversal", "30.00", "escalated");
    snprintf(auth, sizeof auth, "%sw", w.rid);
    mk_approved_auth(auth, w.order, hid, sizeof hid);
    run("UPDATE auth_history SET amount_pending = 100.00 WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    run("UPDATE auth_reversal SET auth_history_id = $2::bigint, auth_request_id = $3, "
        "claim_amount = 100.00 WHERE request_id = $1",
        3, (const char *const[]){w.rid, hid, auth});
    run("UPDATE required_response SET reason = 'sent_not_answered' WHERE id = $1::bigint", 1,
        (const char *const[]){w.sid});
    assert_amount_sent(&w, "100.00");
    assert_int_equal(pl_resolver_operator(r, w.id, &above, "alice", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "above the 100.00 the request sent");

    /* A timeout reversal of an authorization (100.00) without an answer: marked sent naming no
     * history row, claiming nothing. Above what was sent is refused; approved, what was sent is
     * reversed and said so; the authorization's books are untouched (its own required response
     * follows the reversal's outcome, 049). */
    trow u = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    trow tr = mkrow("reversal", "CYB", "reversal", "30.00", "escalated");
    run("UPDATE auth_reversal SET auth_request_id = $2 WHERE request_id = $1", 2,
        (const char *const[]){tr.rid, u.rid});
    run("UPDATE required_response SET reason = 'sent_not_answered' WHERE id = $1::bigint", 1,
        (const char *const[]){tr.sid});
    assert_amount_sent(&tr, "100.00");
    assert_int_equal(pl_resolver_operator(r, tr.id, &above, "alice", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "above the 100.00 the request sent");
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    assert_int_equal(pl_resolver_operator(r, tr.id, &o, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, amount_reversed, reply->>'amount_approved') "
                 "FROM auth_reversal WHERE request_id = $1",
                 tr.rid, "approved|100.00|100.00");
    assert_value("SELECT count(*)::text FROM auth_history WHERE request_id = $1", u.rid, "0");
    assert_value(AUTH_STATUS, u.rid, "unknown");

    /* Not a timeout reversal: never marked sent (no call went), or a reject's by its marker. */
    trow ns = mkrow("reversal", "CYB", "reversal", "30.00", "escalated");
    run("UPDATE auth_reversal SET auth_request_id = $2, sent_at = NULL WHERE request_id = $1", 2,
        (const char *const[]){ns.rid, u.rid});
    assert_amount_sent(&ns, "30.00");
    trow rj = mkrow("reversal", "CYB", "reversal", "50.00", "escalated");
    char rja[64], rjh[24];
    snprintf(rja, sizeof rja, "%sj", rj.rid);
    mk_approved_auth(rja, rj.order, rjh, sizeof rjh);
    run("UPDATE auth_history SET status = 'rejected', amount_authorized = NULL, "
        "amount_pending = 0.01 WHERE id = $1::bigint",
        1, (const char *const[]){rjh});
    run("UPDATE auth_reversal SET auth_history_id = $2::bigint, auth_request_id = $3, "
        "claim_amount = 0.01 WHERE request_id = $1",
        3, (const char *const[]){rj.rid, rjh, rja});
    assert_amount_sent(&rj, "50.00");
    assert_amount_sent(&u, "100.00");
    char none[32], sent[32] = "x";
    value_n(none, sizeof none,
            "SELECT (coalesce(max(id), 0) + 1000000)::text FROM required_response", 0, NULL);
    assert_int_equal(pl_resolver_amount_sent(g_admin, strtoll(none, NULL, 10), sent, sizeof sent),
                     PL_ERR_NOTFOUND);
    assert_string_equal(sent, "");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* m is the timeout reversal `.tor` of t for amount. */
static void assert_tor(const published *m, const trow *t, const char *amount)
{
    assert_string_equal(m->topic, "it.reversal.request");
    assert_string_equal(m->key, t->key);
    json_object *j = json_tokener_parse(m->payload);
    if (!j)
        fail_msg("the reversal request is not JSON: %s", m->payload);
    char rev[80];
    snprintf(rev, sizeof rev, "%s.tor", t->rid);
    assert_string_equal(jstr(j, "request_id"), rev);
    assert_string_equal(jstr(j, "amount"), amount);
    json_object_put(j);
}

/*
 * The race a `.tor` published again for the held amount lost (061): the resolver publishes the
 * timeout reversal of a 100.00 authorization it cannot confirm (safe_reverse); paylink-reversal
 * is only behind, that copy still queued. An operator resolves it rejected, or soft-declined,
 * with --amount 50.00 (the issuer approved part of it): paylink-reversal has no row of the
 * `.tor`, so it goes again with the final reply. It went for 50.00: the same request_id with
 * another fingerprint, which paylink-reversal refused as an idempotency conflict after the
 * first copy (100.00) went and was refused above the partial approval — the hold stayed. Now
 * the copy is the first one byte for byte (one fingerprint: whichever comes second is answered
 * from the row), and the history row records the 50.00 paylink-reversal sends for it
 * (test_reversal_many.c: test_tor_copies_reverse_what_the_issuer_holds). A reversal of such an
 * authorization sent (by its marker) and opened again by a redelivery with the request's amount
 * sent what the issuer holds, by the rule paylinkctl and the resolver share.
 */
static void test_operator_reject_tor_again_as_first(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128], msg[512], pol[32], q[16];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    value(pol, sizeof pol,
          "SELECT max_queries::text FROM resolution_policy WHERE protocol = 'CYB' "
          "AND worker = $1",
          "auth");
    snprintf(q, sizeof q, "%d", atoi(pol) - 1);
    pl_resolve_outcome rejected = {.status = PL_ST_REJECTED, .amount = 5000};
    snprintf(rejected.transaction_id, sizeof rejected.transaction_id, "7419661750346782304071");
    pl_resolve_outcome soft = {.status = PL_ST_DECLINED, .amount = 5000};
    snprintf(soft.vendor_response, sizeof soft.vendor_response, "520");
    snprintf(soft.transaction_id, sizeof soft.transaction_id, "7419661750346782304072");
    const pl_resolve_outcome *outcomes[] = {&rejected, &soft};
    trow t[2];
    for (int i = 0; i < 2; i++) {
        /* The last query cannot be made (no merchant ID on the row): reversed. */
        t[i] = mkrow("auth", "CYB", "auth", "100.00", "escalated");
        sent_long_ago(&t[i]);
        run("UPDATE required_response SET queries = $2::int WHERE id = $1::bigint", 2,
            (const char *const[]){t[i].sid, q});
        run1("UPDATE cc_auth_trans SET merchant_id = '' WHERE request_id = $1", t[i].rid);
        int before = pub.calls;
        assert_int_equal(pl_resolver_retry(r, t[i].id, true, msg, sizeof msg), 0);
        /* Held from the running system's resolvers meanwhile (an operator's take is ours). */
        lease(&t[i], own, 600);
        assert_int_equal(pub.calls, before + 1);
        assert_tor(&pub.msg[before], &t[i], "100.00");

        assert_int_equal(
            pl_resolver_operator(r, t[i].id, outcomes[i], "bob", NULL, msg, sizeof msg), 0);
        assert_int_equal(pub.calls, before + 3);
        assert_string_equal(pub.msg[before + 1].topic, "it.reversal.request");
        assert_string_equal(pub.msg[before + 1].key, pub.msg[before].key);
        assert_string_equal(pub.msg[before + 1].payload, pub.msg[before].payload);
        assert_final_reply(&pub.msg[before + 2], &t[i], i == 0 ? "rejected" : "declined",
                           "operator");
        assert_value(ISSUER_HELD, t[i].rid, i == 0 ? "rejected|50.00" : "declined|50.00");
    }
    pl_resolver_destroy(r);

    /* The reject's reversal, sent by its marker for what the issuer holds, opened again by a
     * redelivery with the request's 100.00: it sent 50.00. */
    r = resolver("reversal", owner(own, sizeof own, "ish"), &pub);
    trow rv = mkrow("reversal", "CYB", "reversal", "100.00", "escalated");
    char hid[24];
    value(hid, sizeof hid, "SELECT id::text FROM auth_history WHERE request_id = $1", t[0].rid);
    run("UPDATE auth_history SET amount_pending = 0.01 WHERE id = $1::bigint", 1,
        (const char *const[]){hid});
    run("UPDATE auth_reversal SET auth_history_id = $2::bigint, auth_request_id = $3, "
        "claim_amount = 0.01 WHERE request_id = $1",
        3, (const char *const[]){rv.rid, hid, t[0].rid});
    run("UPDATE required_response SET reason = 'sent_not_answered' WHERE id = $1::bigint", 1,
        (const char *const[]){rv.sid});
    assert_amount_sent(&rv, "50.00");
    pl_resolve_outcome above = {.status = PL_ST_APPROVED, .has_amount = true, .amount = 5001};
    assert_int_equal(pl_resolver_operator(r, rv.id, &above, "alice", NULL, msg, sizeof msg),
                     PL_ERR_INVALID);
    assert_contains(msg, "above the 50.00 the request sent");
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    assert_int_equal(pl_resolver_operator(r, rv.id, &o, "alice", NULL, msg, sizeof msg), 0);
    assert_value("SELECT concat_ws('|', status, amount_reversed) FROM auth_reversal "
                 "WHERE request_id = $1",
                 rv.rid, "approved|50.00");
    assert_value(ISSUER_HELD, t[0].rid, "reversed|50.00");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/* ---- (k) a timeout reversal marked while its authorization is settled ----------------------- */

/* The text of the worker statement `name` of spec (what the worker prepares). */
static const char *spec_sql(const pl_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->nstmts; i++)
        if (strcmp(spec->stmts[i].name, name) == 0)
            return spec->stmts[i].sql;
    fail_msg("the %s spec has no statement %s", spec->worker, name);
    return NULL;
}

/* Another connection to PAYLINK_DB: a worker's, or an operator's, with a transaction of its
 * own; closed with side_close. */
static PGconn *other_conn(void)
{
    PGconn *c = PQconnectdb(g_conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to PAYLINK_DB: %s", PQerrorMessage(c));
    for (size_t i = 0; i < sizeof g_side / sizeof g_side[0]; i++) {
        if (!g_side[i]) {
            g_side[i] = c;
            return c;
        }
    }
    PQfinish(c);
    fail_msg("more than %zu other connections", sizeof g_side / sizeof g_side[0]);
    return NULL;
}

/* Closes c (the server rolls back what it left open). */
static void side_close(PGconn *c)
{
    for (size_t i = 0; i < sizeof g_side / sizeof g_side[0]; i++)
        if (g_side[i] == c)
            g_side[i] = NULL;
    PQfinish(c);
}

/* Runs q on connection c; fails the test when it fails. Returns its rows. */
static int on(PGconn *c, const char *q, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, q, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%.200s\n  failed: %s", q, m);
    }
    int rows = PQntuples(r);
    PQclear(r);
    return rows;
}

/* The rows of the one statement sent with PQsendQueryParams on c (failing the test when it
 * failed). */
static int sent_rows(PGconn *c)
{
    int rows = -1;
    for (PGresult *r; (r = PQgetResult(c)) != NULL;) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            char m[512];
            snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
            PQclear(r);
            fail_msg("the statement sent failed: %s", m);
        }
        rows = PQntuples(r);
        PQclear(r);
    }
    return rows;
}

/* Whether the statement sent on c has finished. */
static bool sent_done(void *arg)
{
    PGconn *c = arg;
    return PQconsumeInput(c) && !PQisBusy(c);
}

/*
 * Waits until a backend waits for a lock that the backend `pid` holds (true), or done(arg) says
 * the other party finished without waiting (false). What it waits for is a state, never a time:
 * the bound (a minute, then false) only keeps a broken build from hanging; the caller closes
 * its connections before it asserts.
 */
static bool wait_blocked_by(int pid, bool (*done)(void *), void *arg)
{
    char p[16];
    snprintf(p, sizeof p, "%d", pid);
    const char *q[] = {p};
    for (int i = 0; i < 6000; i++) {
        PGresult *r = sql("SELECT count(*) > 0 FROM pg_stat_activity "
                          "WHERE $1::int = ANY (pg_blocking_pids(pid))",
                          1, q);
        bool blocked = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (blocked)
            return true;
        if (done(arg))
            return false;
        usleep(10000);
    }
    fprintf(stderr, "note: nothing waited for backend %d, and the other party never finished\n",
            pid);
    return false;
}

/* The reversal <t>.<suffix> of authorization t as paylink-reversal records it (rev_insert:
 * `received`), or marked and answered (status, its vendor response): on connection c. */
static void rev_row(PGconn *c, const trow *t, const char *suffix, const char *status,
                    const char *vendor)
{
    char rev[64];
    snprintf(rev, sizeof rev, "%s.%s", t->rid, suffix);
    const char *p[] = {rev, t->order, t->rid, status, vendor};
    on(c,
       "INSERT INTO auth_reversal (request_id, fingerprint, operation, company, order_number, "
       "pay_seq, service_bureau, amount, currency, auth_request_id, merchant_id, status, "
       "vendor_response, sent_at, sent_by) VALUES ($1::text, " FINGERPRINT ", CASE WHEN "
       "$4::text = 'received' THEN '' ELSE 'reversal' END, " COMPANY ", $2::text, 1, 'CYB', "
       "100.00, 'USD', $3::text, 'paylink_demo', $4::text, $5::text, CASE WHEN $4::text <> "
       "'received' THEN now() END, CASE WHEN $4::text <> 'received' THEN 'it/tor' ELSE '' END)",
       5, p);
}

/* The timeout reversal <t>.tor (rev_row). */
static void tor_row(PGconn *c, const trow *t, const char *status, const char *vendor)
{
    rev_row(c, t, "tor", status, vendor);
}

/* paylink-reversal's mark (rev_mark_sent) of t's `.tor` prepared as the timeout reversal of
 * its unknown authorization (rev_prepare: no history row to claim, p5 NULL), as rev_mark_sent
 * passes its parameters; sent on c (async: PQsendQueryParams) or run there (returns its rows). */
static int tor_mark(PGconn *c, const trow *t, bool async)
{
    char rev[64];
    snprintf(rev, sizeof rev, "%s.tor", t->rid);
    const char *p[] = {rev, "reversal", "paylink_demo", t->rid,  NULL, "", "",
                       "",  "",         "it/mark",      "100.00"};
    const char *q = spec_sql(&pl_reversal_spec, "rev_mark_sent");
    if (!async)
        return on(c, q, 11, p);
    assert_int_equal(PQsendQueryParams(c, q, 11, NULL, p, NULL, NULL, 0), 1);
    return -1;
}

/* The text[] literal of v[0..n-1] (NULL elements for NULL), written to out. */
static void array_literal(char *out, size_t outsize, const char *const *v, int n)
{
    size_t w = (size_t)snprintf(out, outsize, "{");
    for (int i = 0; i < n && w < outsize; i++) {
        const char *sep = i ? "," : "";
        if (!v[i])
            w += (size_t)snprintf(out + w, outsize - w, "%sNULL", sep);
        else /* request ids, names and "": nothing to escape */
            w += (size_t)snprintf(out + w, outsize - w, "%s\"%s\"", sep, v[i]);
    }
    if (w < outsize)
        snprintf(out + w, outsize - w, "}");
    assert_true(w + 1 < outsize);
}

/*
 * paylink-reversal's merged mark (rev_mark_sent:many, as pl_db sends the marks of consecutive
 * units of a batch: db.h, send_batch) of the reversals <ts[i]>.<suffix[i]>, each prepared as
 * the timeout reversal of its unknown authorization (as tor_mark), sent on c (async).
 */
static void many_mark(PGconn *c, const trow *const *ts, const char *const *suffix, int n)
{
    enum { MAX = 4 };
    assert_true(n <= MAX);
    char rev[MAX][64];
    const char *col[11][MAX];
    for (int i = 0; i < n; i++) {
        snprintf(rev[i], sizeof rev[i], "%s.%s", ts[i]->rid, suffix[i]);
        const char *p[] = {rev[i], "reversal", "paylink_demo", ts[i]->rid, NULL, "", "",
                           "",     "",         "it/mark",      "100.00"};
        for (int k = 0; k < 11; k++)
            col[k][i] = p[k];
    }
    char arrays[11][MAX * 72];
    const char *p[11];
    for (int k = 0; k < 11; k++) {
        array_literal(arrays[k], sizeof arrays[k], col[k], n);
        p[k] = arrays[k];
    }
    const char *q = spec_sql(&pl_reversal_spec, "rev_mark_sent:many");
    assert_int_equal(PQsendQueryParams(c, q, 11, NULL, p, NULL, NULL, 0), 1);
}

typedef struct op_call {
    pl_resolver *r;
    int64_t id;
    pl_resolve_outcome o;
    char msg[512];
    int rc;
    pthread_mutex_t mu;
    bool done;
} op_call;

/* `paylinkctl wreq resolve`, on a thread of its own (it may wait for a row lock). */
static void *operate(void *arg)
{
    op_call *x = arg;
    int rc = pl_resolver_operator(x->r, x->id, &x->o, "bob", NULL, x->msg, sizeof x->msg);
    pthread_mutex_lock(&x->mu);
    x->rc = rc;
    x->done = true;
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static bool operated(void *arg)
{
    op_call *x = arg;
    pthread_mutex_lock(&x->mu);
    bool done = x->done;
    pthread_mutex_unlock(&x->mu);
    return done;
}

/*
 * `wreq resolve --outcome rejected --amount 50.00` of a 100.00 authorization whose timeout
 * reversal `.tor` paylink-reversal had not recorded when the operator's call read it, and
 * recorded and marked sent (as a timeout reversal, for the whole request) before the
 * operator's transaction committed. Before, the reject was applied on that first read: the
 * `.tor` went for 100.00 (refused above the partial approval), its copy published with the reply
 * was answered from its row, and nothing released the 50.00 the issuer held — nobody followed the
 * `.tor` any more. Now the mark reads the required response under a share lock, which the
 * operator's update waits for, and the operator reads the `.tor` again once it holds the row:
 * refused (in flight), nothing applied or published. Once the `.tor` has an outcome (refused),
 * the reject goes through with its own `.rev` for the 50.00: the hold is released once.
 * Deterministic: the operator's transaction is held at its first lock (the authorization's row,
 * which another connection holds) until paylink-reversal's mark has run in a transaction of a
 * third connection, which is kept open until the operator's update is seen waiting for it.
 */
static void test_operator_reject_while_tor_marked(void **state)
{
    (void)state;
    pubrec pub;
    pub_init(&pub);
    char own[128];
    pl_resolver *r = resolver("auth", owner(own, sizeof own, "op"), &pub);
    trow t = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    timeout_reversal_asked(&t);

    /* The operator has read the `.tor` (not recorded) and waits for the authorization's row. */
    PGconn *hold = other_conn(), *rev = other_conn();
    on(hold, "BEGIN", 0, NULL);
    const char *pa[] = {t.rid};
    on(hold, "SELECT 1 FROM cc_auth_trans WHERE request_id = $1 FOR UPDATE", 1, pa);
    op_call x = {.r = r, .id = t.id, .o = {.status = PL_ST_REJECTED, .amount = 5000}};
    snprintf(x.o.transaction_id, sizeof x.o.transaction_id, "7419661750346782304091");
    pthread_mutex_init(&x.mu, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, operate, &x), 0);
    bool at_auth = wait_blocked_by(PQbackendPID(hold), operated, &x);
    /* paylink-reversal records the `.tor` and marks it sent, in a transaction kept open. */
    on(rev, "BEGIN", 0, NULL);
    tor_row(rev, &t, "received", "");
    int marked = tor_mark(rev, &t, false);
    on(hold, "COMMIT", 0, NULL);
    bool at_rr = wait_blocked_by(PQbackendPID(rev), operated, &x);
    on(rev, "COMMIT", 0, NULL);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&x.mu);
    side_close(hold);
    side_close(rev);
    assert_true(at_auth);
    assert_int_equal(marked, 1);
    assert_true(at_rr);
    assert_int_equal(x.rc, PL_ERR_STATE);
    assert_contains(x.msg, "was taken up by paylink-reversal meanwhile (sent)");
    assert_value(AUTH_STATUS, t.rid, "unknown");
    assert_value(AUTH_HISTORY, t.rid, "0|-|-|-");
    assert_value(RR_STATE, t.sid, "escalated|0|-|f|");
    assert_int_equal(pub.calls, 0);

    /* The `.tor` refused (above the partial approval): it released nothing, so the reject's own
     * `.rev` goes, for what the issuer holds. */
    char tor[64];
    snprintf(tor, sizeof tor, "%s.tor", t.rid);
    run1("UPDATE auth_reversal SET status = 'declined', vendor_response = '102', "
         "answered_at = now() WHERE request_id = $1",
         tor);
    assert_int_equal(pl_resolver_operator(r, t.id, &x.o, "bob", NULL, x.msg, sizeof x.msg), 0);
    assert_int_equal(pub.calls, 2);
    assert_reversal_of(&pub.msg[0], &t, "rev", "50.00");
    assert_final_reply(&pub.msg[1], &t, "rejected", "operator");
    assert_value(ISSUER_HELD, t.rid, "rejected|50.00");
    pl_resolver_destroy(r);
    pub_free(&pub);
}

/*
 * The other order: the operator's transaction holds the required response (its update, the
 * outcome written) when paylink-reversal marks the `.tor` it had prepared as a timeout
 * reversal. The mark waits for it, and the required response read again after the wait
 * (resolved) does not let the `.tor` go as a timeout reversal: it is decided again (by the
 * authorization's transaction id, for what the issuer holds). Before, the mark read the
 * required response of its snapshot, open, and marked the `.tor` sent for the whole request.
 */
static void test_tor_mark_waits_for_operator(void **state)
{
    (void)state;
    trow t = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    timeout_reversal_asked(&t);
    tor_row(g_admin, &t, "received", "");

    PGconn *op = other_conn(), *rev = other_conn();
    on(op, "BEGIN", 0, NULL);
    const char *p[] = {t.sid};
    on(op,
       "UPDATE required_response SET status = 'resolved', resolution = 'declined', "
       "resolved_how = 'operator', resolved_by = 'it', resolved_at = now() "
       "WHERE id = $1::bigint",
       1, p);
    const char *pa[] = {t.rid};
    on(op,
       "UPDATE cc_auth_trans SET status = 'rejected', vendor_response = '481', "
       "transaction_id = '7419661750346782304092' WHERE request_id = $1",
       1, pa);
    tor_mark(rev, &t, true);
    bool waited = wait_blocked_by(PQbackendPID(op), sent_done, rev);
    on(op, "COMMIT", 0, NULL);
    int marked = sent_rows(rev);
    side_close(op);
    side_close(rev);
    assert_true(waited);
    assert_int_equal(marked, 0);
    char tor[64];
    snprintf(tor, sizeof tor, "%s.tor", t.rid);
    assert_value("SELECT status FROM auth_reversal WHERE request_id = $1", tor, "received");
}

/*
 * The same in paylink-reversal's merged mark (rev_mark_sent:many) of two reversals: another
 * unknown authorization's, whose required response follows no reversal yet (tor registers it:
 * marked), and the `.tor`, whose required response the operator's transaction holds. The
 * `.tor` waits for it as when marked alone and, the row resolved, is not marked. Before, tor's
 * registration of the other one passed for every reversal of the statement (`EXISTS (SELECT 1
 * FROM tor)`): the `.tor` was marked sent without follows' share lock, beside the operator's
 * outcome (or a late answer's), as though it had been marked first.
 */
static void test_tor_mark_many_waits_for_operator(void **state)
{
    (void)state;
    trow a = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    rev_row(g_admin, &a, "rv", "received", "");
    trow t = mkrow("auth", "CYB", "auth", "100.00", "escalated");
    timeout_reversal_asked(&t);
    tor_row(g_admin, &t, "received", "");

    PGconn *op = other_conn(), *rev = other_conn();
    on(op, "BEGIN", 0, NULL);
    const char *p[] = {t.sid};
    on(op,
       "UPDATE required_response SET status = 'resolved', resolution = 'declined', "
       "resolved_how = 'operator', resolved_by = 'it', resolved_at = now() "
       "WHERE id = $1::bigint",
       1, p);
    const char *pa[] = {t.rid};
    on(op,
       "UPDATE cc_auth_trans SET status = 'rejected', vendor_response = '481', "
       "transaction_id = '7419661750346782304094' WHERE request_id = $1",
       1, pa);
    const trow *batch[] = {&a, &t};
    const char *suffix[] = {"rv", "tor"};
    many_mark(rev, batch, suffix, 2);
    bool waited = wait_blocked_by(PQbackendPID(op), sent_done, rev);
    on(op, "COMMIT", 0, NULL);
    int marked = sent_rows(rev);
    side_close(op);
    side_close(rev);
    assert_true(waited);
    assert_int_equal(marked, 1);
    char rv[64], tor[64];
    snprintf(rv, sizeof rv, "%s.rv", a.rid);
    snprintf(tor, sizeof tor, "%s.tor", t.rid);
    assert_value("SELECT status FROM auth_reversal WHERE request_id = $1", rv, "sent");
    assert_value("SELECT reversal_request_id FROM required_response WHERE id = $1::bigint", a.sid,
                 rv);
    assert_value("SELECT status FROM auth_reversal WHERE request_id = $1", tor, "received");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pass_takes_due_rows_of_its_worker, test_teardown),
        cmocka_unit_test_teardown(test_two_resolvers, test_teardown),
        cmocka_unit_test_teardown(test_lease, test_teardown),
        cmocka_unit_test_teardown(test_escalated_when_bureau_cannot_be_asked, test_teardown),
        cmocka_unit_test_teardown(test_operator_approves_auth, test_teardown),
        cmocka_unit_test_teardown(test_operator_declines_and_errors, test_teardown),
        cmocka_unit_test_teardown(test_reject_deactivates_as_the_table_says, test_teardown),
        cmocka_unit_test_teardown(test_reversal_line_after_commit, test_teardown),
        cmocka_unit_test_teardown(test_soft_decline_reversed, test_teardown),
        cmocka_unit_test_teardown(test_operator_reject_of_partial_approval, test_teardown),
        cmocka_unit_test_teardown(test_operator_approves_deposit, test_teardown),
        cmocka_unit_test_teardown(test_operator_refused, test_teardown),
        cmocka_unit_test_teardown(test_operator_redelivered_reversal_whole, test_teardown),
        cmocka_unit_test_teardown(test_operator_amount_sent, test_teardown),
        cmocka_unit_test_teardown(test_operator_partial_reject_timeout_reversal, test_teardown),
        cmocka_unit_test_teardown(test_operator_reject_tor_again_as_first, test_teardown),
        cmocka_unit_test_teardown(test_operator_svc_preauth_amount, test_teardown),
        cmocka_unit_test_teardown(test_publish_failure, test_teardown),
        cmocka_unit_test_teardown(test_followups_published, test_teardown),
        cmocka_unit_test_teardown(test_publish_after_crash, test_teardown),
        cmocka_unit_test_teardown(test_final_reply_waits_for_worker_reply, test_teardown),
        cmocka_unit_test_teardown(test_late_answer_published_final, test_teardown),
        cmocka_unit_test_teardown(test_retry, test_teardown),
        cmocka_unit_test_teardown(test_query_not_settled, test_teardown),
        cmocka_unit_test_teardown(test_query_password_kept, test_teardown),
        cmocka_unit_test_teardown(test_timeout_reversal_recorded_first, test_teardown),
        cmocka_unit_test_teardown(test_apply_failure_escalates, test_teardown),
        cmocka_unit_test_teardown(test_transaction_not_unknown, test_teardown),
        cmocka_unit_test_teardown(test_transaction_not_unknown_bounded, test_teardown),
        cmocka_unit_test_teardown(test_deferred_auth_capture_void_reversed, test_teardown),
        cmocka_unit_test_teardown(test_deferred_void_vdr_refused_asked_once, test_teardown),
        cmocka_unit_test_teardown(test_operator_reject_while_tor_marked, test_teardown),
        cmocka_unit_test_teardown(test_tor_mark_waits_for_operator, test_teardown),
        cmocka_unit_test_teardown(test_tor_mark_many_waits_for_operator, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
