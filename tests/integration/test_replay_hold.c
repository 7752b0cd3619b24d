/*
 * test_replay_hold.c: the final reply of a required response waits for the `timeout` replies the
 * workers record (066), against the real PostgreSQL of PAYLINK_DB: the engine's statements that
 * record a `timeout` reply as on Kafka (engine.h PL_ENGINE_SQL_REPLIED, by the job that made the
 * row unknown, whose copy produced within RR_OWNER_WINDOW_S is the one a replay's hold waits
 * for; PL_ENGINE_SQL_REPLAYED, by a redelivery that replayed it) and the resolver's test of them
 * (resolver.c REPLIED_SQL), through an operator's outcome (`wreq resolve`), which publishes the
 * final reply at once when it may; and the engine's look-up of a row (PL_ENGINE_SQL_LOOKUP),
 * which says when a settled row's final reply is still held, so that a redelivery publishes
 * nothing then. Not every copy is covered: one a replay produced on a replica that then stalled
 * with it queued for minutes, or one the network delivers late, is bounded only by the 10
 * minutes after the row opened (README, "A final reply never overtakes").
 *
 * Times are the database's and set in the rows (created_at), never measured: a hold of minutes is
 * asserted as "later than now + most of it", a replay long after its row opened by moving
 * created_at back.
 *
 * Every row is the test's own (request ids starting with g_prefix), inserted as a worker leaves
 * an authorization whose answer never came (status unknown, the timeout reply stored, an
 * escalated required_response row: no resolver queries it), and deleted after each test. The
 * final replies go to the test's callback, never to Kafka. The running system's workers each run
 * a resolver, which would publish the final reply of a resolved row once it may: the operator's
 * outcome is applied in a quiet moment (quiet(), as tests/integration/test_resolver.c does), and
 * a row left waiting is then taken out of every resolver's reach at once.
 */
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

#include "engine.h"
#include "log.h"
#include "it_resolver.h"
#include "resolver.h"

#define COMPANY "7"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_prefix[40]; /* every request id of this run starts with it */
static char g_like[48];   /* g_prefix% */
static char g_t0[64];     /* when the run started (server clock) */
static int g_seq;
static int g_quiet_ms; /* how recently the worker's resolvers must have finished a pass */

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

/* Fails unless q ($1 = param) returns one row whose first column is want. */
static void assert_value(const char *q, const char *param, const char *want)
{
    const char *p[] = {param};
    PGresult *r = sql(q, 1, p);
    if (PQntuples(r) != 1) {
        int rows = PQntuples(r);
        PQclear(r);
        fail_msg("%s ($1 = %s): %d rows, want 1", q, param, rows);
    }
    char v[256];
    snprintf(v, sizeof v, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (strcmp(v, want) != 0)
        fail_msg("%s ($1 = %s)\n  is   %s\n  want %s", q, param, v, want);
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
} trow;

/*
 * An authorization sent to the External Payment Service whose answer never came: its row unknown
 * with the timeout reply stored, and an escalated required_response row (the bureau cannot be
 * asked) that opened `opened_ago` ago and whose `timeout` reply nobody has recorded yet.
 */
static trow mkrow(const char *opened_ago)
{
    trow t;
    memset(&t, 0, sizeof t);
    int n = ++g_seq;
    snprintf(t.rid, sizeof t.rid, "%s%d", g_prefix, n);
    snprintf(t.order, sizeof t.order, "IRH%05d%04d", (int)(getpid() % 100000), n);
    const char *p[] = {t.rid, t.order};
    run("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, amount, currency, card_token, card_type, "
        "merchant_id, status, reply, sent_at, sent_by) VALUES ($1::text, "
        "encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'auth', 'auth', " COMPANY
        ", $2::text, 1, 'EXT', 21.00, 'USD', 'tok-it-replay-hold', 'VI', 'paylink_demo', "
        "'unknown', jsonb_build_object('v', 1, 'request_id', $1::text, 'type', 'auth', "
        "'company', " COMPANY ", 'order', $2::text, 'pay_seq', 1, 'service', 'EXT', "
        "'status', 'timeout', 'amount_requested', '21.00', 'currency', 'USD', "
        "'vendor_response', 'SU', 'message', 'No answer from the payment service in time: the "
        "outcome is unknown.', 'required_response', true, 'processed_at', "
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), "
        "now() - interval '5 seconds', "
        "'it-replay-hold')",
        2, p);
    const char *p2[] = {t.rid, t.order, opened_ago};
    PGresult *r = sql("INSERT INTO required_response (request_id, worker, company, order_number, "
                      "pay_seq, service_bureau, operation, amount, currency, reason, detail, "
                      "status, escalated_at, created_at, worker_replied_at) VALUES ($1::text, "
                      "'auth', " COMPANY ", $2::text, 1, 'EXT', 'auth', 21.00, 'USD', 'timeout', "
                      "'it: no answer within the response time', 'escalated', now(), "
                      "now() - $3::interval, NULL) RETURNING id",
                      3, p2);
    t.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(t.sid, sizeof t.sid, "%lld", (long long)t.id);
    PQclear(r);
    return t;
}

/* The engine's records of the row's `timeout` reply on Kafka: its owner's, a replay's. */
static void owner_replied(const trow *t)
{
    run(PL_ENGINE_SQL_REPLIED, 2, (const char *[]){"auth", t->rid});
}

static void replayed(const trow *t, const char *hold_s)
{
    run(PL_ENGINE_SQL_REPLAYED, 3, (const char *[]){"auth", t->rid, hold_s});
}

/* What the engine's look-up of row t (PL_ENGINE_SQL_LOOKUP, the auth worker's) says: "<status>
 * <final reply held: t or f>", or how many rows and columns it returned instead of 1 of 7. */
static void looked_up(const trow *t, char *out, size_t outsz)
{
    char q[1024];
    snprintf(q, sizeof q, PL_ENGINE_SQL_LOOKUP, "cc_auth_trans");
    PGresult *r = sql(q, 2, (const char *[]){t->rid, "auth"});
    if (PQntuples(r) == 1 && PQnfields(r) == 7)
        snprintf(out, outsz, "%s %s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 6));
    else
        snprintf(out, outsz, "%d rows of %d columns", PQntuples(r), PQnfields(r));
    PQclear(r);
}

static void assert_looked_up(const trow *t, const char *want)
{
    char got[64];
    looked_up(t, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("the look-up of %s\n  is   %s\n  want %s", t->rid, got, want);
}

static void cleanup(bool strict)
{
    static const char *const deletes[] = {
        "DELETE FROM required_response WHERE request_id LIKE $1",
        "DELETE FROM auth_history WHERE request_id LIKE $1",
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

/*
 * Waits (6 s at most) for a moment when every auth resolver of the running system (connected
 * before this run) has just finished a pass and sleeps until its next: what the test does in the
 * next g_quiet_ms is its own. Without such resolvers it returns at once.
 */
static void quiet(void)
{
    char ms[16];
    snprintf(ms, sizeof ms, "%d", g_quiet_ms);
    const char *p[] = {"paylink-auth-resolver", g_t0, ms};
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
    fprintf(stderr, "note: the auth resolvers of the running system never paused together\n");
}

/* ---- the resolver ----------------------------------------------------------------------- */

typedef struct pubrec {
    int calls;
    char key[64]; /* the last one's */
} pubrec;

static int on_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz)
{
    (void)topic;
    (void)payload;
    (void)err;
    (void)errsz;
    pubrec *pr = arg;
    pr->calls++;
    snprintf(pr->key, sizeof pr->key, "%s", key);
    return 0;
}

static pl_resolver *resolver(pubrec *pr)
{
    static char own[96];
    snprintf(own, sizeof own, "%sresolver", g_prefix);
    const char *ca = getenv("PAYLINK_CA_FILE");
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = "auth",
                              .owner = own,
                              .topic_prefix = "it",
                              .ca_file = ca && *ca ? ca : NULL,
                              .publish = on_publish,
                              .publish_arg = pr};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    /* Connected now (asked about a row that does not exist), not in a quiet moment. */
    char msg[256];
    assert_int_equal(pl_resolver_retry(r, 0, false, msg, sizeof msg), PL_ERR_NOTFOUND);
    return r;
}

/* An operator declines row t (`wreq resolve`): applied at once; msg says whether its final reply
 * went out. A reply left waiting is taken out of every resolver's reach (the running system's
 * would publish it to Kafka when it may). */
static void decline(pl_resolver *r, const trow *t, char *msg, size_t msgsz)
{
    pl_resolve_outcome o = {.status = PL_ST_DECLINED};
    quiet();
    int rc = pl_resolver_operator(r, t->id, &o, "it", NULL, msg, msgsz);
    run("UPDATE required_response SET reply_pending = false WHERE id = $1::bigint", 1,
        (const char *[]){t->sid});
    assert_int_equal(rc, 0);
    assert_value("SELECT status FROM cc_auth_trans WHERE request_id = $1", t->rid, "declined");
}

#define WAITS "once the worker's timeout reply is on Kafka"

/* ---- tests ------------------------------------------------------------------------------ */

/*
 * The brief's case: the worker that made the row unknown (its owner) queued its `timeout` reply
 * and stalled; its partition went to another replica, whose redelivery replayed the row's reply
 * and recorded it. Before, that record let the final reply go at once, and the owner's copy,
 * delivered later, told the order system "unknown" after "settled". The replay's record now
 * holds the final reply until the owner's copy must have been delivered or dropped: the hold
 * (the producer's message.timeout.ms and a margin) after the row opened.
 */
static void test_replay_holds_the_final_reply(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char msg[512];
    trow t = mkrow("2 seconds");
    replayed(&t, "330");
    assert_value("SELECT (worker_replied_at > now() + interval '5 minutes')::text "
                 "FROM required_response WHERE id = $1::bigint",
                 t.sid, "true");
    decline(r, &t, msg, sizeof msg);
    assert_contains(msg, WAITS);
    assert_int_equal(pub.calls, 0);

    /* Nothing recorded yet (the owner's copy not acknowledged, no replay): it waits too. */
    trow n = mkrow("2 seconds");
    decline(r, &n, msg, sizeof msg);
    assert_contains(msg, WAITS);
    assert_int_equal(pub.calls, 0);

    /* The owner's own copy acknowledged meanwhile: nothing is left to wait for. */
    trow u = mkrow("2 seconds");
    replayed(&u, "330");
    owner_replied(&u);
    assert_value("SELECT (worker_replied_at <= now())::text FROM required_response "
                 "WHERE id = $1::bigint",
                 u.sid, "true");
    decline(r, &u, msg, sizeof msg);
    assert_contains(msg, "final reply published");
    assert_int_equal(pub.calls, 1);
    pl_resolver_destroy(r);
}

/*
 * The common case stays prompt: a redelivery long after the row opened (the owner crashed, its
 * queued copy gone with it, the partition moved on) lets the final reply go at once; and the
 * owner's record, when it came first, is never pushed later by a replay.
 */
static void test_late_replay_is_prompt(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char msg[512];
    trow t = mkrow("6 minutes");
    replayed(&t, "330");
    decline(r, &t, msg, sizeof msg);
    assert_contains(msg, "final reply published");
    assert_int_equal(pub.calls, 1);

    trow u = mkrow("2 seconds");
    owner_replied(&u);
    replayed(&u, "330");
    assert_value("SELECT (worker_replied_at <= now())::text FROM required_response "
                 "WHERE id = $1::bigint",
                 u.sid, "true");
    decline(r, &u, msg, sizeof msg);
    assert_contains(msg, "final reply published");
    assert_int_equal(pub.calls, 2);

    /* However long the hold, the final reply goes 10 minutes after the row opened, as for a
     * worker that records nothing. */
    trow w = mkrow("11 minutes");
    replayed(&w, "3600");
    decline(r, &w, msg, sizeof msg);
    assert_contains(msg, "final reply published");
    assert_int_equal(pub.calls, 3);
    pl_resolver_destroy(r);
}

/*
 * What the engine's look-up says of a row (PL_ENGINE_SQL_LOOKUP): a settled row's final reply
 * held for the `timeout` reply it settles (reply_pending) is the resolver's to publish, and a
 * redelivery, a duplicate or the owner reading its row again publishes nothing then (engine.c
 * answer_from_row); before, it published the final reply it found at once, ahead of a `timeout`
 * copy the owner may still have queued. Held
 * only while a replay's hold for the owner's copy stands (PL_ENGINE_SQL_REPLY_HELD): once the
 * `timeout` reply is recorded out, 10 minutes after the row opened, or when nothing is recorded
 * (the owner most likely died with its copy unsent), the final reply is replayed although
 * reply_pending is still set. Once published, or when nothing held it, it says so, and the
 * row's final reply is replayed as before.
 */
static void test_lookup_says_the_final_reply_is_held(void **state)
{
    (void)state;
    pubrec pub = {0};
    pl_resolver *r = resolver(&pub);
    char msg[512];
    trow t = mkrow("2 seconds");
    replayed(&t, "330");
    assert_looked_up(&t, "unknown f");
    pl_resolve_outcome o = {.status = PL_ST_DECLINED};
    quiet();
    int rc = pl_resolver_operator(r, t.id, &o, "it", NULL, msg, sizeof msg);
    /* Read at once, then the row is taken out of the resolvers' reach (none may publish its
     * final reply yet, held as it is, but neither the changes below nor a failure may leave it
     * to them): under a lease of the test's own, which no resolver takes over for an hour. */
    char held[64];
    looked_up(&t, held, sizeof held);
    run("UPDATE required_response SET lease_owner = $2, lease_until = now() + interval '1 hour' "
        "WHERE id = $1::bigint",
        2, (const char *[]){t.sid, g_prefix});
    assert_int_equal(rc, 0);
    assert_contains(msg, WAITS);
    assert_int_equal(pub.calls, 0);
    assert_string_equal(held, "declined t");
    /* Its `timeout` reply recorded out since (the replay's hold passed, or the owner's copy
     * acknowledged): nothing left to overtake, replayed with reply_pending still set. */
    run("UPDATE required_response SET worker_replied_at = now() - interval '1 second' "
        "WHERE id = $1::bigint",
        1, (const char *[]){t.sid});
    assert_looked_up(&t, "declined f");
    /* Nothing recorded, the row opened 11 minutes ago: the 10 minutes end every hold. */
    run("UPDATE required_response SET worker_replied_at = NULL, "
        "created_at = now() - interval '11 minutes' WHERE id = $1::bigint",
        1, (const char *[]){t.sid});
    assert_looked_up(&t, "declined f");
    /* Nothing recorded and the row 2 seconds old: not held here (the owner most likely died
     * with its copy unsent; the resolver's own publication still waits for a record). */
    run("UPDATE required_response SET created_at = now() - interval '2 seconds' "
        "WHERE id = $1::bigint",
        1, (const char *[]){t.sid});
    assert_looked_up(&t, "declined f");
    /* A replay's hold again (its copy's time not passed): held. */
    run("UPDATE required_response SET worker_replied_at = now() + interval '5 minutes' "
        "WHERE id = $1::bigint",
        1, (const char *[]){t.sid});
    assert_looked_up(&t, "declined t");
    /* Published (as a resolver does once it may): replayed from the row. */
    run("UPDATE required_response SET reply_pending = false, lease_owner = NULL, "
        "lease_until = NULL WHERE id = $1::bigint",
        1, (const char *[]){t.sid});
    assert_looked_up(&t, "declined f");

    /* Nothing held it (the owner's copy acknowledged): published at once, replayed after. */
    trow u = mkrow("2 seconds");
    owner_replied(&u);
    decline(r, &u, msg, sizeof msg);
    assert_contains(msg, "final reply published");
    assert_int_equal(pub.calls, 1);
    assert_looked_up(&u, "declined f");
    pl_resolver_destroy(r);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    return it_resolver_open("it_test_replay_hold", "rph", &g_conninfo, &g_admin, g_prefix,
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
    cleanup(true);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_replay_holds_the_final_reply, test_teardown),
        cmocka_unit_test_teardown(test_late_replay_is_prompt, test_teardown),
        cmocka_unit_test_teardown(test_lookup_says_the_final_reply_is_held, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
