/*
 * test_engine.c: the parts of the engine that need no Kafka, database or bureau: the send
 * attempt id a mark-sent statement stores in sent_by and takes as its own, and (white box: the
 * engine's source is included, its static functions in reach) the teardown of jobs left in
 * flight and the requests of a revoked partition given up. The engine itself is exercised through
 * the workers, end to end (tests/e2e/). Three tests (test_stop_commits_on_the_commit_queue,
 * test_unassign_commit_*) run a stop's consumer close against librdkafka's mock cluster, in this
 * process, on loopback.
 */
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "db.h"
#include "http.h"
#include "job_test_helpers.h"
#include "oauth.h"

/*
 * The database units the engine submits, caught while g_catch is set (a test of what a job
 * writes: there is no database here) and handed to pl_db otherwise, as in the workers. The
 * engine's source below calls this in place of pl_db_submit.
 */
#define CAUGHT_MAX 8
static bool g_catch;
static pl_db_unit *g_caught[CAUGHT_MAX];
static int g_ncaught;
static void caught_submit(pl_db *db, pl_db_unit *u)
{
    if (!g_catch) {
        pl_db_submit(db, u);
        return;
    }
    assert_true(g_ncaught < CAUGHT_MAX);
    g_caught[g_ncaught++] = u;
}

/*
 * What the statements of a unit returned, as a test gives them (g_result, for any unit; NULL:
 * the unit's own): the engine's callbacks read a row read back (pl_lookup) or a write's
 * RETURNING with no database here. And the batch time of a connection there is none of.
 */
static PGresult *g_result;
static PGresult *g_result0; /* when set, what the unit's first statement returned instead */
static const PGresult *given_result(const pl_db_unit *u, int i)
{
    if (i == 0 && g_result0)
        return g_result0;
    return g_result ? g_result : pl_db_unit_result(u, i);
}
static int given_ntuples(const pl_db_unit *u, int i)
{
    if (i == 0 && g_result0)
        return PQntuples(g_result0);
    return g_result ? PQntuples(g_result) : pl_db_unit_ntuples(u, i);
}
static double given_batch_ms(const pl_db *db)
{
    return db ? pl_db_last_batch_ms(db) : 0.0;
}

/*
 * Whether the consumer's assignment is lost (librdkafka's rd_kafka_assignment_lost: a session
 * that timed out, its revoke not served yet), as a test says: there is no group here. The
 * engine's source below calls this in place of librdkafka's, with the consumer a test set
 * (g_lost_consumer, which nothing else may touch); a real consumer's (librdkafka's mock
 * cluster: test_stop_commits_on_the_commit_queue) is librdkafka's to say.
 */
static bool g_assignment_lost;
static int g_lost_after; /* when not 0: lost from the call after this many (g_lost_calls) */
static int g_lost_calls;
static char g_lost_consumer_token;
#define g_lost_consumer ((rd_kafka_t *)(void *)&g_lost_consumer_token)
static int given_assignment_lost(rd_kafka_t *rk)
{
    if (rk && rk != g_lost_consumer)
        return rd_kafka_assignment_lost(rk);
    assert_ptr_equal(rk, g_lost_consumer);
    return g_assignment_lost || (g_lost_after && ++g_lost_calls > g_lost_after);
}

/*
 * The bureau calls the engine starts, caught while g_http_catch is set (there is no bureau here:
 * a call caught is at the bureau, and stays there until a test gives its answer to the engine's
 * callback itself, as pl_http would) and handed to pl_http otherwise. The engine's source below
 * calls this in place of pl_http_submit.
 */
static bool g_http_catch;
static int g_http_calls;
static char g_http_url[512]; /* the URL of the last call caught */
static int caught_http_submit(pl_http *h, const pl_http_call *call, pl_http_cb cb, void *arg)
{
    if (!g_http_catch)
        return pl_http_submit(h, call, cb, arg);
    g_http_calls++;
    snprintf(g_http_url, sizeof g_http_url, "%s", call->url);
    return 0;
}

/*
 * Consumer events a test makes (a record librdkafka could not read: rd_kafka_message_t values of
 * its own, whose topic is g_given_rkt's), destroyed by counting them, and the offsets the engine
 * stores when it has no consumer (g_stored_*): there is no Kafka here. Anything else goes to
 * librdkafka. The engine's source below calls these in place of librdkafka's.
 */
static char g_given_rkt_token;
#define g_given_rkt ((rd_kafka_topic_t *)(void *)&g_given_rkt_token)
static const char *g_given_topic = "paylink.auth.request";
static int g_given_destroyed;
static int32_t g_stored_partition = -1;
static int64_t g_stored_offset = -1;
static void given_message_destroy(rd_kafka_message_t *m)
{
    if (m->rkt == g_given_rkt || !m->rkt) {
        g_given_destroyed++;
        return;
    }
    rd_kafka_message_destroy(m);
}
static const char *given_topic_name(const rd_kafka_topic_t *rkt)
{
    return rkt == g_given_rkt ? g_given_topic : rd_kafka_topic_name(rkt);
}
static rd_kafka_resp_err_t given_offsets_store(rd_kafka_t *rk,
                                               rd_kafka_topic_partition_list_t *offsets)
{
    if (rk && rk != g_lost_consumer)
        return rd_kafka_offsets_store(rk, offsets);
    g_stored_partition = offsets->elems[0].partition;
    g_stored_offset = offsets->elems[0].offset;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/*
 * The commits the engine makes with no consumer, or with g_lost_consumer (the consumer a test
 * gives on_rebalance): each explicit one (rd_kafka_commit_queue, or rd_kafka_commit with offsets)
 * kept in g_commits (its offsets copied, and whether it was synchronous), g_ncommitted of them
 * (the last one's first partition in g_committed_*); librdkafka's commit of the stored offsets
 * (rd_kafka_commit without offsets) counted in g_ncommit_stored. The result of an explicit
 * commit to on_committed (commit_explicitly's: the engine gives it its own queue, which an
 * engine here lacks) is a test's to give, as the event loop's poll of that queue would; a
 * synchronous one (no queue, another callback: the revoke's) has its result, g_commit_err for
 * each partition, given to its callback at once, as librdkafka does.
 */
static void on_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque);
#define COMMITS_MAX 16
static struct given_commit {
    rd_kafka_topic_partition_list_t *offsets;
    bool sync;
} g_commits[COMMITS_MAX];
static int g_ncommitted;
static int32_t g_committed_partition = -1;
static int64_t g_committed_offset = -1;
static int g_ncommit_stored;
static rd_kafka_resp_err_t g_commit_err;
static void commits_reset(void)
{
    for (int i = 0; i < g_ncommitted && i < COMMITS_MAX; i++)
        rd_kafka_topic_partition_list_destroy(g_commits[i].offsets);
    g_ncommitted = 0;
    g_ncommit_stored = 0;
    g_commit_err = RD_KAFKA_RESP_ERR_NO_ERROR;
}
static void commit_keep(const rd_kafka_topic_partition_list_t *offsets, bool sync)
{
    if (g_ncommitted < COMMITS_MAX)
        g_commits[g_ncommitted] =
            (struct given_commit){rd_kafka_topic_partition_list_copy(offsets), sync};
    g_ncommitted++;
    g_committed_partition = offsets->elems[0].partition;
    g_committed_offset = offsets->elems[0].offset;
}
/* The offset commit `i` (of g_commits) gave partition p, -1 when it did not list it. */
static int64_t commit_offset(int i, int32_t p)
{
    assert_true(i < g_ncommitted && i < COMMITS_MAX);
    const rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_find(g_commits[i].offsets, "paylink.auth.request", p);
    return tp ? tp->offset : -1;
}
/*
 * A commit queue a test gives the engine (e->commitq = g_commitq): a revoke's commit made on it
 * (on_revoke_committed's) has its result, g_commit_err, given at the next poll of it
 * (given_queue_poll_callback), unless g_commit_hang holds it back (the broker not answering: a
 * test gives it late with commitq_deliver); on_committed's are a test's to give, as above.
 */
static char g_commitq_token;
#define g_commitq ((rd_kafka_queue_t *)(void *)&g_commitq_token)
static bool g_commit_hang;
static int g_commitq_polls;
/* When set: a poll of g_commitq while a revoke's commit is held back (g_commit_hang) asks the
 * engine to stop first (g_stop, as a SIGTERM during the revoke's wait for its answer would). */
static bool g_stop_while_hung;
static volatile sig_atomic_t g_stop; /* engine.c's: the same tentative definition as there */
#define QUEUED_MAX 4
static struct {
    rd_kafka_topic_partition_list_t *res;
    void (*cb)(rd_kafka_t *, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t *, void *);
    void *opaque;
} g_queued[QUEUED_MAX];
static int g_nqueued;
/* Gives the revoke commits' results queued on g_commitq to their callbacks, in order. */
static void commitq_deliver(void)
{
    for (int i = 0; i < g_nqueued; i++) {
        g_queued[i].cb(g_lost_consumer, g_queued[i].res->elems[0].err, g_queued[i].res,
                       g_queued[i].opaque);
        rd_kafka_topic_partition_list_destroy(g_queued[i].res);
    }
    g_nqueued = 0;
}
static int given_queue_poll_callback(rd_kafka_queue_t *q, int timeout_ms)
{
    if (q != g_commitq)
        return rd_kafka_queue_poll_callback(q, timeout_ms);
    g_commitq_polls++;
    if (g_stop_while_hung && g_commit_hang && g_nqueued > 0)
        g_stop = 1;
    int n = g_commit_hang ? 0 : g_nqueued;
    if (n)
        commitq_deliver();
    return n;
}
static rd_kafka_resp_err_t given_commit_queue(
    rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offsets, rd_kafka_queue_t *q,
    void (*cb)(rd_kafka_t *, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t *, void *),
    void *opaque)
{
    if (rk && rk != g_lost_consumer)
        return rd_kafka_commit_queue(rk, offsets, q, cb, opaque);
    bool sync = !q && cb && cb != on_committed;
    commit_keep(offsets, sync);
    if (q == g_commitq && cb != on_committed) {
        assert_true(g_nqueued < QUEUED_MAX);
        rd_kafka_topic_partition_list_t *res = rd_kafka_topic_partition_list_copy(offsets);
        for (int i = 0; i < res->cnt; i++)
            res->elems[i].err = g_commit_err;
        g_queued[g_nqueued].res = res;
        g_queued[g_nqueued].cb = cb;
        g_queued[g_nqueued++].opaque = opaque;
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    if (!sync)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *res = rd_kafka_topic_partition_list_copy(offsets);
    for (int i = 0; i < res->cnt; i++)
        res->elems[i].err = g_commit_err;
    cb(rk, g_commit_err, res, opaque);
    rd_kafka_topic_partition_list_destroy(res);
    return g_commit_err;
}
static rd_kafka_resp_err_t given_commit(rd_kafka_t *rk,
                                        const rd_kafka_topic_partition_list_t *offsets, int async)
{
    if (rk != g_lost_consumer)
        return rd_kafka_commit(rk, offsets, async);
    if (!offsets) {
        g_ncommit_stored++;
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    commit_keep(offsets, !async);
    return g_commit_err;
}

/* The rest of what on_rebalance asks of g_lost_consumer: a cooperative group whose assignments
 * succeed; anything else goes to librdkafka. */
static const char *given_rebalance_protocol(rd_kafka_t *rk)
{
    return rk == g_lost_consumer ? "COOPERATIVE" : rd_kafka_rebalance_protocol(rk);
}
static rd_kafka_error_t *given_incremental_assign(rd_kafka_t *rk,
                                                  const rd_kafka_topic_partition_list_t *parts)
{
    return rk == g_lost_consumer ? NULL : rd_kafka_incremental_assign(rk, parts);
}
static rd_kafka_error_t *given_incremental_unassign(rd_kafka_t *rk,
                                                    const rd_kafka_topic_partition_list_t *parts)
{
    return rk == g_lost_consumer ? NULL : rd_kafka_incremental_unassign(rk, parts);
}
static rd_kafka_resp_err_t given_pause_partitions(rd_kafka_t *rk,
                                                  rd_kafka_topic_partition_list_t *parts)
{
    return rk == g_lost_consumer ? RD_KAFKA_RESP_ERR_NO_ERROR
                                 : rd_kafka_pause_partitions(rk, parts);
}
static rd_kafka_resp_err_t given_resume_partitions(rd_kafka_t *rk,
                                                   rd_kafka_topic_partition_list_t *parts)
{
    return rk == g_lost_consumer ? RD_KAFKA_RESP_ERR_NO_ERROR
                                 : rd_kafka_resume_partitions(rk, parts);
}

/*
 * The messages an engine without a producer (e->producer NULL, not fatal) produces, caught:
 * their topic and value (copied), g_nproduced of them. The engine's source below calls this in
 * place of rd_kafka_producev (only with no producer: anything else fails the test).
 */
#define PRODUCED_MAX 8
static struct {
    char topic[160];
    char *value;
} g_produced[PRODUCED_MAX];
static int g_nproduced;
static rd_kafka_resp_err_t given_producev(rd_kafka_t *rk, ...)
{
    assert_null(rk);
    assert_true(g_nproduced < PRODUCED_MAX);
    va_list ap;
    va_start(ap, rk);
    const char *topic = "";
    const char *value = "";
    size_t len = 0;
    for (int vt; (vt = va_arg(ap, int)) != RD_KAFKA_VTYPE_END;) {
        switch (vt) {
        case RD_KAFKA_VTYPE_TOPIC:
            topic = va_arg(ap, const char *);
            break;
        case RD_KAFKA_VTYPE_KEY:
            (void)va_arg(ap, void *);
            (void)va_arg(ap, size_t);
            break;
        case RD_KAFKA_VTYPE_VALUE:
            value = va_arg(ap, void *);
            len = va_arg(ap, size_t);
            break;
        case RD_KAFKA_VTYPE_MSGFLAGS:
            (void)va_arg(ap, int);
            break;
        case RD_KAFKA_VTYPE_OPAQUE:
            (void)va_arg(ap, void *);
            break;
        default:
            fail_msg("rd_kafka_producev: argument type %d", vt);
        }
    }
    va_end(ap);
    snprintf(g_produced[g_nproduced].topic, sizeof g_produced[0].topic, "%s", topic);
    g_produced[g_nproduced].value = strndup(value, len);
    assert_non_null(g_produced[g_nproduced].value);
    g_nproduced++;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Forgets the messages produced so far. */
static void produced_free(void)
{
    for (int i = 0; i < g_nproduced; i++)
        free(g_produced[i].value);
    g_nproduced = 0;
}

/*
 * The access token requests the engine makes (with_token), caught while g_oauth_catch is set:
 * the settings asked with (the token URL and the password, copied) and how many; the request
 * waits (0) until a test calls on_token itself. Handed to pl_oauth otherwise. The engine's
 * source below calls this in place of pl_oauth_get.
 */
static bool g_oauth_catch;
static int g_oauth_gets;
static char g_oauth_token_url[512];
static char g_oauth_secret[256];
static char g_oauth_client_id[128];
static char g_oauth_key[512];
static int caught_oauth_get(pl_oauth *o, const pl_oauth_client *client, pl_oauth_cb cb, void *arg,
                            char *header, size_t hsize, unsigned *gen)
{
    if (!g_oauth_catch)
        return pl_oauth_get(o, client, cb, arg, header, hsize, gen);
    g_oauth_gets++;
    snprintf(g_oauth_token_url, sizeof g_oauth_token_url, "%s", client->token_url);
    snprintf(g_oauth_secret, sizeof g_oauth_secret, "%s", client->secret);
    snprintf(g_oauth_client_id, sizeof g_oauth_client_id, "%s", client->client_id);
    snprintf(g_oauth_key, sizeof g_oauth_key, "%s", client->key);
    return 0;
}

/* The entry the engine drops (resend_after_401), caught while g_oauth_catch is set: its key and
 * generation. Handed to pl_oauth otherwise. */
static char g_oauth_dropped[512];
static unsigned g_oauth_dropped_gen;
static void caught_oauth_invalidate(pl_oauth *o, const char *key, unsigned gen)
{
    if (!g_oauth_catch) {
        pl_oauth_invalidate(o, key, gen);
        return;
    }
    snprintf(g_oauth_dropped, sizeof g_oauth_dropped, "%s", key);
    g_oauth_dropped_gen = gen;
}

/*
 * What loop_once asks of the database and of the producer, for an engine here with neither
 * (e->db and e->producer NULL): no connection, nothing held, nothing to serve. Given to libpq's
 * pl_db and to librdkafka otherwise. The engine's source below calls these in place of theirs.
 */
static void given_db_flush(pl_db *db)
{
    if (db)
        pl_db_flush(db);
}
static int given_db_timeout_ms(const pl_db *db)
{
    return db ? pl_db_timeout_ms(db) : -1;
}
static int given_db_fd(const pl_db *db)
{
    return db ? pl_db_fd(db) : -1;
}
static short given_db_events(const pl_db *db)
{
    return db ? pl_db_events(db) : 0;
}
static void given_db_on_ready(pl_db *db, short revents)
{
    if (db)
        pl_db_on_ready(db, revents);
}
static bool given_db_connected(const pl_db *db)
{
    return db ? pl_db_connected(db) : false;
}
static pl_db_counts given_db_get_counts(const pl_db *db)
{
    return db ? pl_db_get_counts(db) : (pl_db_counts){0};
}
static int given_poll(rd_kafka_t *rk, int timeout_ms)
{
    return rk ? rd_kafka_poll(rk, timeout_ms) : 0;
}

#define pl_db_submit caught_submit
#define pl_http_submit caught_http_submit
#define pl_oauth_get caught_oauth_get
#define pl_oauth_invalidate caught_oauth_invalidate
#define rd_kafka_producev given_producev
#define rd_kafka_message_destroy given_message_destroy
#define rd_kafka_topic_name given_topic_name
#define rd_kafka_offsets_store given_offsets_store
#define rd_kafka_commit_queue given_commit_queue
#define rd_kafka_commit given_commit
#define rd_kafka_rebalance_protocol given_rebalance_protocol
#define rd_kafka_incremental_assign given_incremental_assign
#define rd_kafka_incremental_unassign given_incremental_unassign
#define rd_kafka_pause_partitions given_pause_partitions
#define rd_kafka_resume_partitions given_resume_partitions
#define pl_db_unit_result given_result
#define pl_db_unit_ntuples given_ntuples
#define pl_db_last_batch_ms given_batch_ms
#define rd_kafka_assignment_lost given_assignment_lost
#define rd_kafka_queue_poll_callback given_queue_poll_callback
#define pl_db_flush given_db_flush
#define pl_db_timeout_ms given_db_timeout_ms
#define pl_db_fd given_db_fd
#define pl_db_events given_db_events
#define pl_db_on_ready given_db_on_ready
#define pl_db_connected given_db_connected
#define pl_db_get_counts given_db_get_counts
#define rd_kafka_poll given_poll
/* A test's hung commit (g_commit_hang) waits no longer; long enough for a loopback call's end
 * served meanwhile under valgrind on a loaded machine (test_revoke_commit_wait_turns_the_loop:
 * about 90 ms there). */
#define REVOKE_COMMIT_WAIT_MS 2000
#include "engine.c" /* white box: job_abandon, the live list, the request id hash */
#undef pl_db_submit
#undef pl_http_submit
#undef pl_oauth_get
#undef pl_db_unit_result
#undef pl_db_unit_ntuples
#undef pl_db_last_batch_ms
#undef rd_kafka_assignment_lost
#undef rd_kafka_queue_poll_callback
#undef pl_db_flush
#undef pl_db_timeout_ms
#undef pl_db_fd
#undef pl_db_events
#undef pl_db_on_ready
#undef pl_db_connected
#undef pl_db_get_counts
#undef rd_kafka_poll
#undef rd_kafka_producev
#undef rd_kafka_message_destroy
#undef rd_kafka_topic_name
#undef rd_kafka_offsets_store
#undef rd_kafka_commit_queue
#undef rd_kafka_commit
#undef rd_kafka_rebalance_protocol
#undef rd_kafka_incremental_assign
#undef rd_kafka_incremental_unassign
#undef rd_kafka_pause_partitions
#undef rd_kafka_resume_partitions

static void test_attempt_id_form(void **state)
{
    (void)state;
    char id[PL_ENGINE_ATTEMPT_MAX + 1];
    assert_int_equal(pl_engine_attempt_id("auth-7f9c", 0x00ab12cdu, 42, id, sizeof id), 0);
    assert_string_equal(id, "auth-7f9c/00ab12cd.42");
}

/* The same instance started again (a container restarted in its pod) draws another nonce: its
 * first attempts are not the dead process's, which its redeliveries would otherwise meet. */
static void test_attempt_id_differs_between_lives(void **state)
{
    (void)state;
    char a[PL_ENGINE_ATTEMPT_MAX + 1], b[PL_ENGINE_ATTEMPT_MAX + 1];
    for (unsigned long long n = 1; n <= 3; n++) {
        assert_int_equal(pl_engine_attempt_id("paylink-auth-0", 0x11111111u, n, a, sizeof a), 0);
        assert_int_equal(pl_engine_attempt_id("paylink-auth-0", 0x22222222u, n, b, sizeof b), 0);
        assert_string_not_equal(a, b);
    }
}

/* The longest instance name with the largest count fits sent_by (varchar(120)); an id that
 * would be cut is refused rather than cut (a cut id could be another attempt's). */
static void test_attempt_id_fits_sent_by(void **state)
{
    (void)state;
    char instance[PL_CONFIG_INSTANCE_MAX + 1];
    memset(instance, 'i', PL_CONFIG_INSTANCE_MAX);
    instance[PL_CONFIG_INSTANCE_MAX] = '\0';
    char id[PL_ENGINE_ATTEMPT_MAX + 1];
    /* 10^15 attempts: thirty years at a million a second. */
    assert_int_equal(pl_engine_attempt_id(instance, UINT32_MAX, 999999999999999ULL, id, sizeof id),
                     0);
    assert_true(strlen(id) <= PL_ENGINE_ATTEMPT_MAX);
    char small[16];
    /* Called through a pointer: inlined here (the engine's source is in this file), the
     * compiler would see the cut at build time and refuse it (-Wformat-truncation). */
    int (*volatile attempt_id)(const char *, uint32_t, unsigned long long, char *, size_t) =
        pl_engine_attempt_id;
    assert_int_equal(attempt_id("auth", 1, 1234567890ULL, small, sizeof small), -1);
}

/* Whether the file at PATH (under the source tree) holds text. */
static bool source_holds(const char *path, const char *text)
{
    const char *dir = getenv("PAYLINK_SOURCE_DIR");
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", dir && *dir ? dir : PAYLINK_SOURCE_DIR, path);
    FILE *f = fopen(full, "rb");
    if (!f)
        fail_msg("cannot open %s", full);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_true(n > 0 && n < sizeof buf - 1);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/*
 * The checks that fail on a lost database unit (tools/dev test's check of the e2e logs, the
 * chaos test's) grep a worker's log for the watchdog's words: they must be the words it writes,
 * or both would pass whatever happened.
 */
static void test_lost_unit_checks_look_for_the_watchdogs_words(void **state)
{
    (void)state;
    char grep[128];
    snprintf(grep, sizeof grep, "'%s'", PL_ENGINE_LOST_UNIT);
    assert_true(source_holds("tools/dev", grep));
    assert_true(source_holds("tools/chaos/chaos.sh", grep));
    /* and overdue_db writes them for a unit the connection does not have */
    assert_true(source_holds("common/engine.c", "place ? place : PL_ENGINE_LOST_UNIT"));
}

/* After a hash key rotation, a stored value authorization recorded under an earlier key is
 * still the same card's: the check compares the job's hash under that key. */
static void test_card_hash_for_a_rotated_key(void **state)
{
    (void)state;
    pl_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.card_hash, sizeof job.card_hash, "%064d", 1);
    snprintf(job.card_hash_prev[0], sizeof job.card_hash_prev[0], "%064d", 2);
    snprintf(job.card_hash_prev[1], sizeof job.card_hash_prev[1], "%064d", 3);
    job.n_card_hash_prev = 2;
    char stored[65];
    snprintf(stored, sizeof stored, "%064d", 3);
    assert_ptr_equal(pl_job_card_hash_for(&job, stored), job.card_hash_prev[1]);
    snprintf(stored, sizeof stored, "%064d", 1);
    assert_ptr_equal(pl_job_card_hash_for(&job, stored), job.card_hash);
    /* Another card's: the current hash, which then does not match. */
    snprintf(stored, sizeof stored, "%064d", 9);
    assert_ptr_equal(pl_job_card_hash_for(&job, stored), job.card_hash);
    assert_ptr_equal(pl_job_card_hash_for(&job, NULL), job.card_hash);
    /* A key dropped from the list no longer matches. */
    job.n_card_hash_prev = 1;
    snprintf(stored, sizeof stored, "%064d", 3);
    assert_ptr_equal(pl_job_card_hash_for(&job, stored), job.card_hash);
}

/* A credit card number is hashed under the earlier keys too (card_hash_prev), as a stored value
 * card's is: an EXT merchant-initiated authorization names a CIT recorded under the old key for
 * the same card (pl_job_card_hash_for finds it), not one of another card. */
static void test_card_number_hashed_under_earlier_keys(void **state)
{
    (void)state;
    pl_config cfg;
    memset(&cfg, 0, sizeof cfg);
    memcpy(cfg.hash_key, "current-key-0001", 16);
    cfg.hash_key_len = 16;
    memcpy(cfg.prev_keys[0], "earlier-key-0001", 16);
    cfg.prev_key_len[0] = 16;
    cfg.n_prev_keys = 1;
    static const char number[] = "4111111111111111", other[] = "5555555555554444";
    pl_job pub;
    memset(&pub, 0, sizeof pub);
    assert_int_equal(
        pl_card_hmac(cfg.hash_key, cfg.hash_key_len, number, pub.card_hash, sizeof pub.card_hash),
        0);
    card_hash_prev(&cfg, number, &pub);
    assert_int_equal(pub.n_card_hash_prev, 1);
    char old[65], old_other[65];
    assert_int_equal(pl_card_hmac(cfg.prev_keys[0], 16, number, old, sizeof old), 0);
    assert_int_equal(pl_card_hmac(cfg.prev_keys[0], 16, other, old_other, sizeof old_other), 0);
    assert_string_equal(pub.card_hash_prev[0], old);
    assert_string_not_equal(old, pub.card_hash);
    assert_string_equal(pl_job_card_hash_for(&pub, old), old);
    assert_string_equal(pl_job_card_hash_for(&pub, old_other), pub.card_hash);
    /* A request with a token has no hash, and none under the earlier keys either. */
    pub.card_hash[0] = '\0';
    card_hash_prev(&cfg, "", &pub);
    assert_int_equal(pub.n_card_hash_prev, 0);
}

/* A redelivery is told from a reused request_id by its fingerprint at any version and under
 * any key: a row written before version 2 (or by a replica still writing version 1 during an
 * upgrade) replays; a request differing in a field only version 2 covers, or unknown to every
 * key, is a conflict. */
static void test_fingerprint_versions(void **state)
{
    (void)state;
    pl_engine e;
    memset(&e, 0, sizeof e);
    memcpy(e.cfg.hash_key, "current-key", 11);
    e.cfg.hash_key_len = 11;
    memcpy(e.cfg.prev_keys[0], "earlier-key", 11);
    e.cfg.prev_key_len[0] = 11;
    e.cfg.n_prev_keys = 1;
    e.cfg.fingerprint_version = PL_FINGERPRINT_VERSION;
    job j;
    memset(&j, 0, sizeof j);
    j.pub.eng = &e;
    pl_request *r = &j.pub.req;
    r->type = PL_REQ_AUTH;
    r->company = 1;
    snprintf(r->order, sizeof r->order, "O1");
    r->pay_seq = 1;
    r->has_amount = true;
    r->amount = 1000;
    r->subsequent_auth.present = true;
    snprintf(r->subsequent_auth.reason, sizeof r->subsequent_auth.reason, "REAUTH");
    assert_int_equal(pl_request_fingerprint_v(r, e.cfg.fingerprint_version, e.cfg.hash_key,
                                              e.cfg.hash_key_len, j.pub.fingerprint,
                                              sizeof j.pub.fingerprint),
                     0);
    char stored_v1[65], stored_v1_old[65], stored_v2_old[65];
    assert_int_equal(pl_request_fingerprint_v(r, 1, "current-key", 11, stored_v1, 65), 0);
    assert_int_equal(pl_request_fingerprint_v(r, 1, "earlier-key", 11, stored_v1_old, 65), 0);
    assert_int_equal(pl_request_fingerprint_v(r, 2, "earlier-key", 11, stored_v2_old, 65), 0);
    assert_true(fingerprint_matches(&j, j.pub.fingerprint));
    assert_true(fingerprint_matches(&j, stored_v1));
    assert_true(fingerprint_matches(&j, stored_v1_old));
    assert_true(fingerprint_matches(&j, stored_v2_old));
    /* Another request's version 2 (it differs in the subsequent authorization only): a
     * conflict, though both versions 1 are alike. */
    char other_v2[65];
    snprintf(r->subsequent_auth.reason, sizeof r->subsequent_auth.reason, "INSTALLMENT");
    assert_int_equal(pl_request_fingerprint_v(r, 2, "current-key", 11, other_v2, 65), 0);
    snprintf(r->subsequent_auth.reason, sizeof r->subsequent_auth.reason, "REAUTH");
    assert_false(fingerprint_matches(&j, other_v2));
    /* Under a key the worker does not have: a conflict. */
    char unknown[65];
    assert_int_equal(pl_request_fingerprint_v(r, 1, "another-key", 11, unknown, 65), 0);
    assert_false(fingerprint_matches(&j, unknown));
    /* A replica writing version 1 (PAYLINK_FINGERPRINT_VERSION=1) still recognises version 2. */
    e.cfg.fingerprint_version = 1;
    memcpy(j.pub.fingerprint, stored_v1, sizeof stored_v1);
    char stored_v2[65];
    assert_int_equal(pl_request_fingerprint_v(r, 2, "current-key", 11, stored_v2, 65), 0);
    assert_true(fingerprint_matches(&j, stored_v2));
}

/* A job that publishes the `timeout` reply of a row left unknown records it once Kafka has it
 * (rr_reply: mark_replied before its offset; 055): a redelivery replaying the row, and a job
 * whose own write of that row committed though its result was lost with the connection (its
 * write's re-send changed no row, so on_written cleared the flag; before, nothing recorded
 * it, and the final reply waited 10 minutes). The engine is fatal here, so nothing is
 * produced: the job is held publishing. */
static void rr_job(pl_engine *e, job *j)
{
    memset(e, 0, sizeof *e);
    e->fatal = true;
    snprintf(e->t_reply, sizeof e->t_reply, "t.reply");
    memset(j, 0, sizeof *j);
    j->pub.eng = e;
    snprintf(j->pub.req.request_id, sizeof j->pub.req.request_id, "rid-rr");
    j->pub.req.company = 1;
    snprintf(j->pub.req.order, sizeof j->pub.req.order, "O1");
}

static void test_timeout_reply_recorded(void **state)
{
    (void)state;
    static const char timeout_reply[] =
        "{\"v\": 1, \"status\": \"timeout\", \"required_response\": true}";
    pl_engine e;
    job j;
    rr_job(&e, &j);
    row_view v = {.status = "unknown",
                  .fingerprint = "",
                  .reply = timeout_reply,
                  .sent_age_s = -1,
                  .sent_by = ""};
    answer_from_row(&j, &v, NULL); /* a replay */
    assert_true(j.rr_reply);
    /* Recorded with the hold for the owner's copy, which may still be queued (066). */
    assert_true(j.rr_hold);
    outmsgs_free(j.out);

    rr_job(&e, &j);
    j.pub.reply_json = strdup(timeout_reply);
    j.own_check = true;   /* and rr_reply false, as on_written left it */
    j.rr_since = now_s(); /* its write of the row sent just now (finish_unknown) */
    answer_from_row(&j, &v, NULL);
    assert_int_equal(j.state, JS_PUBLISHING);
    assert_true(j.rr_reply);
    assert_false(j.rr_hold); /* the owner's own and only copy: recorded as out now */
    free(j.pub.reply_json);
    outmsgs_free(j.out);

    /* A row settled meanwhile: its final reply, nothing to record. */
    rr_job(&e, &j);
    row_view settled = {.status = "approved",
                        .fingerprint = "",
                        .reply = timeout_reply,
                        .sent_age_s = -1,
                        .sent_by = ""};
    answer_from_row(&j, &settled, NULL);
    assert_false(j.rr_reply);
    outmsgs_free(j.out);
}

/*
 * The `timeout` reply of a required response that Kafka refused or timed out is never produced
 * again as it was (066): a replica that replayed the row while this process was stalled made the
 * final reply wait only for the copy produced first, and a copy produced again minutes later
 * reached the order system after the final one. After the usual back-off the job reads its row
 * again (parked, as while it waits for an owner) and answers from it: the final reply when the
 * row was settled meanwhile (nothing while the resolver still holds it), else the `timeout`
 * reply replayed. Any other message is retried as before. The watchdog says what it waits for.
 */
static void test_refused_timeout_reply_is_read_again(void **state)
{
    (void)state;
    static const char reply[] = "{\"v\": 1, \"status\": \"timeout\", \"required_response\": true}";
    pl_engine e;
    job j;
    rr_job(&e, &j);
    e.fatal = false;
    j.rr_reply = true; /* as finish_unknown left it */
    j.state = JS_PUBLISHING;
    j.pending_dr = 1;
    publish_failed(&e, &j, e.t_reply, "1-O1", 4, reply, strlen(reply),
                   RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    assert_null(e.retries); /* not produced again */
    assert_true(j.rr_reread);
    assert_int_equal(j.publish_retries, 1);
    j.pending_dr--; /* its delivery report is over: the job completes, as on_delivery does */
    job_done(&j);
    assert_int_equal(j.state, JS_WAITING);
    assert_true(j.in_timers);
    assert_ptr_equal(e.timers, &j);
    assert_false(j.rr_reply); /* what the row says next decides (answer_from_row) */
    assert_false(j.rr_reread);
    assert_false(j.rr_marked); /* nothing recorded: that copy never reached Kafka */
    /* What the watchdog's line and a SIGUSR1 dump say it waits for: its own row's next read,
     * not another owner (before: "another owner's answer (presumed gone in 0 s)"). */
    char what[256];
    overdue_detail(&j, now_s(), what, sizeof what);
    assert_non_null(strstr(what, "waiting to read its row again"));
    assert_non_null(strstr(what, "timeout reply failed to publish (failures so far: 1)"));
    assert_null(strstr(what, "another owner"));

    /* A reply that is not a required response's `timeout`: retried as it was. */
    rr_job(&e, &j);
    e.fatal = false;
    j.state = JS_PUBLISHING;
    j.pending_dr = 1;
    static const char approved[] = "{\"v\": 1, \"status\": \"approved\"}";
    publish_failed(&e, &j, e.t_reply, "1-O1", 4, approved, strlen(approved),
                   RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    assert_non_null(e.retries);
    assert_ptr_equal(e.retries->j, &j);
    assert_false(j.rr_reread);
    retry *r = e.retries;
    free(r->topic);
    free(r->key);
    free(r->payload);
    free(r);
}

/* A row as pl_lookup reads it back (PL_ENGINE_SQL_LOOKUP's columns); reply NULL for none. */
static PGresult *looked_up(const char *status, const char *reply, bool reply_pending)
{
    static const char *const names[] = {"status",   "fingerprint", "reply",        "followups",
                                        "sent_age", "sent_by",     "reply_pending"};
    PGresAttDesc att[7];
    memset(att, 0, sizeof att);
    for (int i = 0; i < 7; i++) {
        att[i].name = (char *)names[i];
        att[i].typlen = -1;
        att[i].atttypmod = -1;
    }
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    assert_int_equal(PQsetResultAttrs(r, 7, att), 1);
    const char *v[] = {status, "", reply, NULL, NULL, "", reply_pending ? "t" : "f"};
    for (int i = 0; i < 7; i++)
        assert_int_equal(PQsetvalue(r, 0, i, (char *)v[i], v[i] ? (int)strlen(v[i]) : -1), 1);
    return r;
}

/* What a guarded write that changed its row returns (RETURNING request_id). */
static PGresult *written_row(void)
{
    PGresAttDesc att = {.name = "request_id", .typlen = -1, .atttypmod = -1};
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    assert_int_equal(PQsetResultAttrs(r, 1, &att), 1);
    assert_int_equal(PQsetvalue(r, 0, 0, "R", 1), 1);
    return r;
}

/* What a guarded write that changed no row returns (another actor first, or its own write
 * committed and sent again after the connection was lost). */
static PGresult *no_row_written(void)
{
    PGresAttDesc att = {.name = "request_id", .typlen = -1, .atttypmod = -1};
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    assert_int_equal(PQsetResultAttrs(r, 1, &att), 1);
    return r;
}

/* An engine of the auth worker whose producer is gone (fatal): a job that publishes is held
 * publishing, and one that completes leaves the live list. Its units are caught. */
static pl_engine *held_engine(pl_spec *spec)
{
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    *spec = (pl_spec){.worker = "auth", .table = "cc_auth_trans"};
    e->spec = spec;
    e->fatal = true;
    snprintf(e->t_reply, sizeof e->t_reply, "t.reply");
    g_catch = true;
    g_ncaught = 0;
    return e;
}

static job *live_job(pl_engine *e, const char *rid);

static job *held_job(pl_engine *e, const char *rid)
{
    job *j = live_job(e, rid);
    j->pub.req.company = 1;
    snprintf(j->pub.req.order, sizeof j->pub.req.order, "O1");
    return j;
}

static void held_engine_free(pl_engine *e)
{
    for (int i = 0; i < g_ncaught; i++)
        pl_db_unit_free(g_caught[i]);
    g_ncaught = 0;
    g_catch = false;
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/*
 * A row the resolver settled from unknown holds its final reply at once, but the resolver
 * publishes it only once the `timeout` reply it settles is out (required_response.reply_pending
 * until then; 055, 066). A look-up of the row (a duplicate, a redelivery, the owner reading its
 * row again after its `timeout` reply failed to publish) that finds it so publishes nothing:
 * the job completes and the resolver's publication answers the request_id. Before, the engine
 * replayed the final reply at once, and the owner's `timeout` copy, still queued, could reach
 * the order system after it. Once the resolver has published it, a look-up replays it as
 * before. The look-up asks for the worker's required response.
 */
static void test_held_final_reply_left_to_the_resolver(void **state)
{
    (void)state;
    static const char final_reply[] =
        "{\"v\": 1, \"request_id\": \"H-1\", \"status\": "
        "\"approved\", \"resolved\": true, \"resolution\": \"query\"}";
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    job *j = held_job(e, "H-1");
    start_check(j);
    assert_int_equal(g_ncaught, 1);
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 0), "pl_lookup");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 0), "H-1");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 1), "auth");
    g_result = looked_up("approved", final_reply, true);
    on_checked(j, 0, NULL, g_caught[0]);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(e->n_live, 0); /* completed, nothing held publishing */
    assert_int_equal(g_ncaught, 1); /* and nothing recorded */

    /* Published by the resolver: the final reply replayed. */
    j = held_job(e, "H-1");
    g_result = looked_up("approved", final_reply, false);
    on_checked(j, 0, NULL, NULL);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(j->state, JS_PUBLISHING);
    assert_false(j->rr_reply);
    assert_string_equal(j->outcome, "replayed");
    held_engine_free(e);
}

/* Job j's `timeout` reply (`reply`, on e's reply topic) fails to publish: after the back-off it
 * reads its row again (retry_publish, job_done, run_timers), its look-up caught. */
static void timeout_copy_fails(pl_engine *e, job *j, const char *reply)
{
    j->state = JS_PUBLISHING;
    j->pending_dr = 1;
    e->fatal = false;
    publish_failed(e, j, e->t_reply, "1-O1", 4, reply, strlen(reply),
                   RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    e->fatal = true;
    assert_true(j->rr_reread);
    j->pending_dr--; /* its delivery report is over (on_delivery) */
    job_done(j);
    assert_int_equal(j->state, JS_WAITING);
    j->due = 0; /* its back-off is over */
    run_timers(e);
}

/* The look-up job j has caught (g_caught[0], the only one) reads a row of `status` and `reply`,
 * its final reply held or not; the look-up's unit is freed, what the job did next is caught. */
static void reread_finds(job *j, const char *status, const char *reply, bool held)
{
    assert_int_equal(j->state, JS_CHECKING);
    assert_int_equal(g_ncaught, 1);
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 0), "pl_lookup");
    pl_db_unit *lookup = g_caught[0];
    g_ncaught = 0;
    g_result = looked_up(status, reply, held);
    on_checked(j, 0, NULL, lookup);
    PQclear(g_result);
    g_result = NULL;
    pl_db_unit_free(lookup);
}

/*
 * The owner of a row it made unknown reads that row again instead of publishing its `timeout`
 * reply — after its copy failed to publish (retry_publish), or past its window without producing
 * one (on_written) — and finds it settled meanwhile, its final reply held for the resolver until
 * that `timeout` reply is recorded out. Nobody else records it, so the owner does before it
 * completes (mark_replied; on_replied completes it): its failed copy may still have been
 * persisted in flight, so with the hold a replay records (pl_replayed); none produced, as out
 * now, only where nothing is recorded (pl_replied_none: never lowering the later time a replay
 * of another replica's set, whose copy may still be queued; before, pl_replied lowered it). Not
 * when its write making the row unknown changed no row (on_written: its own committed with the
 * result lost, or another replica's first, which it cannot tell apart) and the row was settled
 * before the re-read: nothing is recorded, lest the final reply overtake that other replica's
 * copy; should the re-read find its own `timeout` reply still there, it publishes that,
 * recorded as its own (pl_replied).
 * A replay whose copy failed, like a duplicate or a redelivery, records nothing
 * (test_held_final_reply_left_to_the_resolver); so does an owner whose copy failed and that then
 * replayed the row still unknown, that replay's copy failing too: a copy produced that late is
 * one no record of the owner's first copy covers. (Before, the owner completed without a record
 * and the final reply waited 10 minutes after the row opened.)
 */
static void test_owner_records_a_held_final_reply(void **state)
{
    (void)state;
    static const char timeout_reply[] =
        "{\"v\": 1, \"request_id\": \"O-1\", \"status\": \"timeout\", \"required_response\": true}";
    static const char final_reply[] =
        "{\"v\": 1, \"request_id\": \"O-1\", \"status\": "
        "\"approved\", \"resolved\": true, \"resolution\": \"query\"}";
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    set_rr_hold(e, 300000);
    /* 0: the owner's copy failed; 1: a replay's copy failed; 2: the owner past its window;
     * 3: the owner's copy failed, then its replay's; 4: the owner's write's result lost, the
     * row settled before the re-read; 5: the same, its own reply still there (last: it stays
     * publishing). */
    for (int how = 0; how < 6; how++) {
        job *j = held_job(e, "O-1");
        j->pub.reply_json = strdup(timeout_reply);
        j->rr_reply = true; /* as finish_unknown (or a replay) left it */
        j->rr_hold = how == 1;
        size_t live = e->n_live;
        if (how == 2) {
            j->rr_since = now_s() - RR_OWNER_WINDOW_S - 1.0;
            j->state = JS_STORING;
            g_ncaught = 0;
            g_result = written_row();
            on_written(j, 0, NULL, NULL);
            PQclear(g_result);
            g_result = NULL;
        } else if (how >= 4) {
            j->rr_since = now_s();
            j->state = JS_STORING;
            g_ncaught = 0;
            g_result = no_row_written();
            on_written(j, 0, NULL, NULL);
            PQclear(g_result);
            g_result = NULL;
            if (how == 5) {
                reread_finds(j, "unknown", timeout_reply, false);
                assert_int_equal(j->state, JS_PUBLISHING); /* its own, held publishing */
                assert_true(j->rr_reply);
                assert_false(j->rr_hold);
                assert_int_equal(j->rr_own, RR_OWN_NOT); /* recorded with "pl_replied" */
                assert_int_equal(g_ncaught, 0);
                job_abandon(j);
                continue;
            }
        } else {
            j->rr_since = now_s();
            timeout_copy_fails(e, j, timeout_reply);
        }
        if (how == 3) {
            reread_finds(j, "unknown", timeout_reply, false); /* replayed, held publishing */
            assert_int_equal(j->state, JS_PUBLISHING);
            assert_true(j->rr_reply);
            assert_true(j->rr_hold);
            assert_int_equal(g_ncaught, 0);
            timeout_copy_fails(e, j, timeout_reply);
        }
        reread_finds(j, "approved", final_reply, true);
        if (how == 1 || how == 3 || how == 4) {
            assert_int_equal(e->n_live, live - 1); /* completed, nothing recorded */
            assert_int_equal(g_ncaught, 0);
            continue;
        }
        /* Live until its record's unit answers, nothing published. */
        assert_int_equal(e->n_live, live);
        assert_int_equal(j->state, JS_STORING);
        assert_null(j->out);
        assert_int_equal(g_ncaught, 1);
        pl_db_unit *u = g_caught[0];
        assert_string_equal(pl_db_unit_stmt(u, 0), how == 0 ? "pl_replayed" : "pl_replied_none");
        assert_string_equal(pl_db_unit_param(u, 0, 0), "auth");
        assert_string_equal(pl_db_unit_param(u, 0, 1), "O-1");
        if (how == 0)
            assert_string_equal(pl_db_unit_param(u, 0, 2), "330");
        g_ncaught = 0;
        on_replied(j, 0, NULL, u);
        pl_db_unit_free(u);
        assert_int_equal(e->n_live, live - 1); /* completed now */
        assert_int_equal(g_ncaught, 0);
    }
    held_engine_free(e);
}

/*
 * The owner of a row it made unknown produces its `timeout` reply only within RR_OWNER_WINDOW_S
 * of sending that write (066); later it reads its row again and answers as a redelivery does.
 * But not while its partition is being left: the partition's next owner may replay that reply
 * and have it acknowledged first, and the final reply then waits only for a copy produced within
 * the window, not for one produced now and still queued here. Such a job is given up for the
 * next owner (its offset uncommitted), whether the partition goes as its late write completes
 * or while it reads its row again. Kept, the row is read and its reply replayed with the hold.
 * (Before, the re-read replayed the `timeout` reply whatever became of the partition.)
 */
static void test_late_timeout_reply_not_produced_when_leaving(void **state)
{
    (void)state;
    static const char timeout_reply[] =
        "{\"v\": 1, \"request_id\": \"L-1\", \"status\": \"timeout\", \"required_response\": true}";
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    for (int leave = 0; leave < 3; leave++) {
        job *j = held_job(e, "L-1");
        j->pub.reply_json = strdup(timeout_reply);
        j->rr_reply = true; /* as finish_unknown left it */
        j->rr_since = now_s() - RR_OWNER_WINDOW_S - 1.0;
        j->state = JS_STORING;
        j->leaving = leave == 0; /* 0: left as its write completes; 1: while it reads again */
        size_t live = e->n_live;
        g_ncaught = 0;
        g_result = written_row();
        on_written(j, 0, NULL, NULL);
        PQclear(g_result);
        g_result = NULL;
        if (leave == 0) {
            assert_int_equal(e->n_live, live - 1); /* given up: not read again, nothing out */
            assert_int_equal(g_ncaught, 0);
            continue;
        }
        assert_int_equal(j->state, JS_CHECKING);
        assert_int_equal(g_ncaught, 1);
        assert_string_equal(pl_db_unit_stmt(g_caught[0], 0), "pl_lookup");
        j->leaving = leave == 1;
        g_result = looked_up("unknown", timeout_reply, false);
        on_checked(j, 0, NULL, g_caught[0]);
        PQclear(g_result);
        g_result = NULL;
        pl_db_unit_free(g_caught[0]);
        g_ncaught = 0;
        if (leave == 1) {
            assert_int_equal(e->n_live, live - 1);
            continue;
        }
        /* Its partition kept: replayed, recorded with the hold for the copy it may be. */
        assert_int_equal(j->state, JS_PUBLISHING);
        assert_true(j->rr_reply);
        assert_true(j->rr_hold);
    }
    held_engine_free(e);
}

/*
 * The owner's own write of the unknown row committed, its result lost with the connection, and
 * the unit sent again (db.c) — possibly a minute later: the re-read finds the row holding its
 * own `timeout` reply. Within RR_OWNER_WINDOW_S of sending the write it publishes it as the
 * owner (recorded with pl_replied); past that, as a redelivery would: replayed, recorded with the
 * hold (pl_replayed), or given up while its partition is being left. (Before, it published it
 * as the owner however late, and its acknowledgement let the final reply go at once.)
 */
static void test_own_timeout_reply_past_the_window(void **state)
{
    (void)state;
    static const char timeout_reply[] =
        "{\"v\": 1, \"request_id\": \"W-1\", \"status\": \"timeout\", \"required_response\": true}";
    row_view v = {.status = "unknown",
                  .fingerprint = "",
                  .reply = timeout_reply,
                  .sent_age_s = -1,
                  .sent_by = ""};
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    for (int late = 0; late < 3; late++) {
        job *j = held_job(e, "W-1");
        j->pub.reply_json = strdup(timeout_reply);
        j->own_check = true; /* its write changed no row (on_written) */
        j->rr_since = now_s() - (late ? RR_OWNER_WINDOW_S + 60.0 : 0.0);
        j->leaving = late == 2;
        size_t live = e->n_live;
        answer_from_row(j, &v, NULL);
        if (late == 2) {
            assert_int_equal(e->n_live, live - 1);
            continue;
        }
        assert_int_equal(j->state, JS_PUBLISHING);
        assert_true(j->rr_reply);
        assert_int_equal(j->rr_hold, late == 1);
        assert_true(late ? strcmp(j->outcome, "replayed") == 0 : j->outcome == NULL);
    }
    assert_int_equal(g_ncaught, 0);
    held_engine_free(e);
}

/* How long a replay makes the final reply wait after its row opened (pl_replayed's $3): the
 * producer's message.timeout.ms (rounded up to the second) and the margin; never past the
 * resolver's 10 minutes, which also stand for a timeout without limit (0). */
static void test_replay_hold_follows_message_timeout(void **state)
{
    (void)state;
    pl_engine e;
    memset(&e, 0, sizeof e);
    set_rr_hold(&e, 300000); /* librdkafka's default */
    assert_string_equal(e.rr_hold_s, "330");
    set_rr_hold(&e, 44500);
    assert_string_equal(e.rr_hold_s, "75");
    set_rr_hold(&e, 0);
    assert_string_equal(e.rr_hold_s, "600");
    set_rr_hold(&e, 900000);
    assert_string_equal(e.rr_hold_s, "600");
    /* The producer's setting as librdkafka holds it: its default until one is set (a topic
     * property, which the global configuration does not know until then), under either name. */
    static const char *const names[] = {NULL, "message.timeout.ms", "delivery.timeout.ms"};
    static const int want[] = {300000, 45000, 45000};
    for (size_t i = 0; i < 3; i++) {
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (names[i])
            assert_int_equal(rd_kafka_conf_set(conf, names[i], "45000", err, sizeof err),
                             RD_KAFKA_CONF_OK);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        assert_non_null(rk);
        assert_int_equal(pl_kafka_message_timeout_ms(rk), want[i]);
        rd_kafka_destroy(rk);
    }
}

/* A Decision Manager REVIEW is an approved authorization held for review: its amount is
 * recorded (the bureau's, else the one sent), so a capture can claim on it. */
/* What the issuer holds after a refused authorization: the answer's amount (a partial
 * approval), else the request's; nothing for 0.00 or no amount (no reversal of nothing). */
static void test_held_amount(void **state)
{
    (void)state;
    pl_job job;
    pl_bureau_result res = {0};
    memset(&job, 0, sizeof job);
    char amount[24];
    job.req.has_amount = true;
    job.req.amount = 7400;
    assert_true(pl_job_held_amount(&job, amount, sizeof amount)); /* no answer read */
    assert_string_equal(amount, "74.00");
    job.res = &res;
    res.has_amount = true;
    res.amount = 3700;
    assert_true(pl_job_held_amount(&job, amount, sizeof amount));
    assert_string_equal(amount, "37.00");
    res.has_amount = false;
    assert_true(pl_job_held_amount(&job, amount, sizeof amount));
    assert_string_equal(amount, "74.00");
    job.req.amount = 0;
    assert_false(pl_job_held_amount(&job, amount, sizeof amount));
    res.has_amount = true;
    res.amount = 0;
    job.req.amount = 7400;
    assert_false(pl_job_held_amount(&job, amount, sizeof amount)); /* the answer says 0.00 */
    job.res = NULL;
    job.req.has_amount = false;
    assert_false(pl_job_held_amount(&job, amount, sizeof amount));
}

static void test_review_amount(void **state)
{
    (void)state;
    pl_job job;
    pl_bureau_result res = {0};
    memset(&job, 0, sizeof job);
    job.res = &res;
    job.reply = job_test_reply();
    job.reply->status = PL_ST_REVIEW;
    job.res->has_amount = true;
    job.res->amount = 1234;
    job.req.has_amount = true;
    job.req.amount = 5000;
    pl_job_review_amount(&job);
    assert_true(job.reply->has_amount_approved);
    assert_int_equal(job.reply->amount_approved, 1234);
    memset(job.reply, 0, sizeof *job.reply);
    job.reply->status = PL_ST_REVIEW;
    job.res->has_amount = false;
    pl_job_review_amount(&job);
    assert_int_equal(job.reply->amount_approved, 5000);
    /* Not a review, or no amount known: nothing is made up. */
    memset(job.reply, 0, sizeof *job.reply);
    job.reply->status = PL_ST_DECLINED;
    pl_job_review_amount(&job);
    assert_false(job.reply->has_amount_approved);
    job.reply->status = PL_ST_REVIEW;
    job.req.has_amount = false;
    pl_job_review_amount(&job);
    assert_false(job.reply->has_amount_approved);
}

/* An answer approving more than the call sent is refused (its outcome left unknown by on_http),
 * also more than a 0.00 card verification; as much or less (a partial approval), or no amount
 * approved at all (a decline) is read as the bureau gave it; so is a reversal or a void, which
 * releases what the authorization holds, more than the request may name. */
static void test_approves_more_than_sent(void **state)
{
    (void)state;
    pl_reply rep;
    char detail[200] = "";
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_APPROVED;
    rep.has_amount_approved = true;
    rep.amount_approved = 12001;
    static const pl_bureau_op checked[] = {
        PL_OP_AUTH,         PL_OP_TOKEN_AUTH,   PL_OP_CAPTURE,      PL_OP_CREDIT,
        PL_OP_AUTH_CAPTURE, PL_OP_SVC_ACTIVATE, PL_OP_SVC_RECHARGE, PL_OP_SVC_PREAUTH,
        PL_OP_SVC_POSTAUTH, PL_OP_SVC_RETURN};
    for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
        detail[0] = '\0';
        assert_true(approves_more_than_sent(checked[i], &rep, 12000, 200, detail, sizeof detail));
        assert_string_equal(detail,
                            "HTTP 200: the answer approves 120.01, more than the 120.00 sent");
    }
    static const pl_bureau_op unchecked[] = {PL_OP_AUTH_REVERSAL, PL_OP_SVC_VOID, PL_OP_TOKEN,
                                             PL_OP_SVC_GENERATE, PL_OP_SVC_INQUIRY};
    for (size_t i = 0; i < sizeof unchecked / sizeof unchecked[0]; i++)
        assert_false(
            approves_more_than_sent(unchecked[i], &rep, 12000, 200, detail, sizeof detail));
    rep.amount_approved = 12000;
    assert_false(approves_more_than_sent(PL_OP_AUTH, &rep, 12000, 200, detail, sizeof detail));
    rep.amount_approved = 6000; /* CyberSource's partial approval, 110 */
    assert_false(approves_more_than_sent(PL_OP_AUTH, &rep, 12000, 200, detail, sizeof detail));
    /* A 0.00 authorization (a card verification) approved for 500.00. */
    rep.amount_approved = 50000;
    assert_true(approves_more_than_sent(PL_OP_AUTH, &rep, 0, 200, detail, sizeof detail));
    assert_string_equal(detail, "HTTP 200: the answer approves 500.00, more than the 0.00 sent");
    rep.amount_approved = 0;
    assert_false(approves_more_than_sent(PL_OP_AUTH, &rep, 0, 200, detail, sizeof detail));
    rep.has_amount_approved = false;
    rep.status = PL_ST_DECLINED;
    assert_false(approves_more_than_sent(PL_OP_AUTH, &rep, 100, 200, detail, sizeof detail));
}

/* A job on the live list, newest first, as a consumed message's job is put there. */
static job *live_job(pl_engine *e, const char *rid)
{
    job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    j->pub.eng = e;
    snprintf(j->pub.req.request_id, sizeof j->pub.req.request_id, "%s", rid);
    j->next = e->live;
    if (e->live)
        e->live->prev = j;
    e->live = j;
    e->n_live++;
    return j;
}

/*
 * A store that changed no row while the job holds a generated card number: the row holds this
 * job's own reply when the store had committed and was sent again after the connection was
 * lost (the number is then published after all), another actor's otherwise. The row's copy is
 * jsonb's (its own member order and spacing); another actor's differs in what it generated.
 */
static void test_own_reply(void **state)
{
    (void)state;
    job j;
    memset(&j, 0, sizeof j);
    char mine[] =
        "{\"v\":1,\"request_id\":\"g-1\",\"status\":\"approved\",\"svc\":{\"card_number\":"
        "\"************0001\"},\"processed_at\":\"2026-12-06T14:40:00Z\"}";
    assert_false(own_reply(&j, "{}")); /* no reply rendered */
    j.pub.reply_json = mine;
    assert_true(own_reply(&j, "{\"v\": 1, \"svc\": {\"card_number\": \"************0001\"}, "
                              "\"status\": \"approved\", \"request_id\": \"g-1\", "
                              "\"processed_at\": \"2026-12-06T14:40:00Z\"}"));
    assert_false(own_reply(&j, "{\"v\": 1, \"svc\": {\"card_number\": \"************0002\"}, "
                               "\"status\": \"approved\", \"request_id\": \"g-1\", "
                               "\"processed_at\": \"2026-12-06T14:40:00Z\"}"));
    assert_false(own_reply(&j, "{\"v\": 1, \"svc\": {\"card_number\": \"************0001\"}, "
                               "\"status\": \"approved\", \"request_id\": \"g-1\", "
                               "\"processed_at\": \"2026-12-06T14:40:01Z\"}"));
    assert_false(own_reply(&j, "not json"));
    assert_false(own_reply(&j, NULL));
}

/* The owner of a request id, in the hash (job_admit's first copy). */
static void admit(pl_engine *e, job *j)
{
    unsigned h = hash_rid(j->pub.req.request_id);
    j->hnext = e->hash[h];
    e->hash[h] = j;
    j->admitted = true;
}

/*
 * Teardown with duplicates parked behind their owner (an upstream system sent the request
 * again while the first copy waited for another replica's row, a bureau slot or the broker):
 * the live list is newest first, so teardown reaches the duplicates before their owner. Each
 * job is freed once (valgrind and the sanitizer build run this: a second free of a parked
 * duplicate was a use after free).
 */
static void test_teardown_frees_parked_duplicates(void **state)
{
    (void)state;
    pl_spec spec = {.worker = "auth", .table = "cc_auth_trans"};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    job *owner = live_job(e, "R-1");
    admit(e, owner);
    job *other = live_job(e, "R-2");
    admit(e, other);
    job *dup1 = live_job(e, "R-1");
    job *dup2 = live_job(e, "R-1");
    owner->waiters = dup1;
    dup1->wnext = dup2;
    assert_int_equal(e->n_live, 4);
    while (e->live)
        job_abandon(e->live);
    assert_int_equal(e->n_live, 0);
    assert_null(hash_find(e, "R-1"));
    assert_null(hash_find(e, "R-2"));
    free(e);
}

/* A job of live_job's on partition p, waiting in its bureau's slot queue when queued. */
static job *partition_job(pl_engine *e, const char *rid, int32_t p, const pl_service *svc,
                          bool queued)
{
    job *j = live_job(e, rid);
    j->partition = p;
    j->pub.svc = svc;
    if (queued)
        slot_enqueue(slot_for(e, svc->code), j);
    return j;
}

/* prepare_alone of the spec below: counts the requests that reach record_sent (job_admit). */
static int g_admitted;
static bool counting_prepare_alone(const pl_job *job)
{
    (void)job;
    g_admitted++;
    return true;
}

static int no_record_sent(pl_job *job, pl_db_unit *u)
{
    (void)job;
    (void)u;
    return PL_ERR_INVALID;
}

/*
 * A partition revoked while requests of it wait for their bureau's slot: they are given up for
 * the partition's next owner (their offsets uncommitted), not sent during the revoke drain or
 * after it; one still being recorded is given up when it reaches its slot. The other
 * partitions' requests keep their places. A redelivery of the revoked partition parked behind
 * another copy is given up too, without being admitted, whichever partition its owner is on:
 * admitted, it ran here as well as at the partition's next owner (an invalid one published its
 * invalid reply and dead-letter copy twice), and behind an owner that stays it held the revoke
 * drain. (A redelivery of a kept partition behind an owner given up is admitted, as when its
 * owner finishes: freed with it, its offset would stay pending in the tracker for good.) (The
 * old code started the waiting requests as slots freed, racing the next owner, and during the
 * drain under its deadline.)
 */
static void test_revoked_partition_sends_nothing_more(void **state)
{
    (void)state;
    pl_spec spec = {.worker = "auth",
                    .table = "cc_auth_trans",
                    .prepare_alone = counting_prepare_alone,
                    .record_sent = no_record_sent};
    pl_service cyb = {.code = "CYB", .max_concurrent = 1};
    static const pl_bureau_ops ops;
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    slot_for(e, "CYB")->active = 1; /* the one slot is taken: the others wait */
    job *first = partition_job(e, "R-1", 1, &cyb, true);
    admit(e, first);
    job *dup = partition_job(e, "R-1", 1, &cyb, false); /* parked behind it */
    dup->ops = &ops;
    first->waiters = dup;
    job *kept = partition_job(e, "R-2", 2, &cyb, true);
    admit(e, kept);
    /* A redelivery of the revoked partition behind an owner of a kept one. */
    job *dup_behind_kept = partition_job(e, "R-2", 1, &cyb, false);
    dup_behind_kept->ops = &ops;
    kept->waiters = dup_behind_kept;
    /* Waiting for another owner's 'sent' row (parked for its next re-read), on each partition. */
    park(partition_job(e, "W-1", 1, &cyb, false), 1e12);
    job *waits = partition_job(e, "W-2", 2, &cyb, false);
    park(waits, 1e12);
    partition_job(e, "R-3", 1, &cyb, true);
    job *recording = partition_job(e, "R-4", 1, &cyb, false);
    job *other = partition_job(e, "R-5", 2, &cyb, false);
    assert_int_equal(e->n_live, 9);

    g_admitted = 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "paylink.auth.request", 1);
    leave_partitions(e, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    /* R-1 and R-3 are gone, and both redeliveries of partition 1, neither admitted, and W-1;
     * R-2 waits alone for the slot, nothing parked behind it, W-2 for its owner; R-4 is
     * marked. */
    assert_int_equal(g_admitted, 0);
    assert_null(hash_find(e, "R-1"));
    assert_ptr_equal(hash_find(e, "R-2"), kept);
    assert_null(kept->waiters);
    assert_int_equal(e->n_live, 4);
    assert_ptr_equal(e->timers, waits);
    assert_null(waits->tnext);
    slot *s = slot_for(e, "CYB");
    assert_ptr_equal(s->qhead, kept);
    assert_ptr_equal(s->qtail, kept);
    assert_null(kept->qnext);
    assert_true(recording->leaving);
    assert_false(kept->leaving);
    assert_false(other->leaving);

    /* R-4 recorded now reaches its slot: given up, not queued, not sent. */
    slot_take(recording);
    assert_int_equal(e->n_live, 3);
    assert_ptr_equal(s->qhead, kept);
    assert_int_equal(s->active, 1);
    /* R-5, of a partition still owned, queues as before. */
    slot_take(other);
    assert_ptr_equal(s->qtail, other);
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/* A spec of two calls, as J19's (workers/svc: the balance inquiry, then the
 * PreauthorizationRequest), counting the marks it adds; its bureau answers every call ACCEPT. */
static int g_marks;
static void two_map(pl_job *job)
{
    job->reply->status = PL_ST_APPROVED;
}

static int two_next_call(pl_job *job)
{
    if (job->call.op != PL_OP_SVC_INQUIRY)
        return 0;
    job->call.op = PL_OP_SVC_PREAUTH;
    return 1;
}

static int two_mark_sent(pl_job *job, pl_db_unit *u)
{
    g_marks++;
    const char *p[] = {job->req.request_id, job->attempt, job->prev_attempt};
    return pl_db_unit_add(u, "two_mark_sent", 3, p);
}

static int two_build(const pl_bureau_cfg *cfg, const pl_bureau_call *call, pl_bureau_msg *msg,
                     char *errstr, size_t errstr_size)
{
    (void)cfg;
    (void)call;
    (void)errstr;
    (void)errstr_size;
    msg->body = strdup("<InquiryRequest/>");
    msg->body_len = msg->body ? strlen(msg->body) : 0;
    return msg->body ? 0 : PL_ERR_NOMEM;
}

static int two_parse(const pl_bureau_cfg *cfg, const pl_bureau_call *call, long http_status,
                     const char *body, size_t body_len, pl_bureau_result *res, char *errstr,
                     size_t errstr_size)
{
    (void)cfg;
    (void)call;
    (void)http_status;
    (void)body;
    (void)body_len;
    (void)errstr;
    (void)errstr_size;
    snprintf(res->decision, sizeof res->decision, "ACCEPT");
    return 0;
}

static const pl_bureau_ops two_ops = {.protocol = "RLT", .build = two_build, .parse = two_parse};

/* A job of the two-call spec whose first call (the inquiry, marked sent by attempt "t/1") is at
 * the bureau, holding the bureau's one slot: its partition p. */
static job *first_call_out(pl_engine *e, const pl_service *svc, const char *rid, int32_t p)
{
    job *j = partition_job(e, rid, p, svc, false);
    j->ops = &two_ops;
    j->pub.call.op = PL_OP_SVC_INQUIRY;
    snprintf(j->pub.attempt, sizeof j->pub.attempt, "t/1");
    slot_for(e, svc->code)->active++;
    j->slot_held = true;
    j->calls = 1;
    j->state = JS_CALLING;
    return j;
}

/* The inquiry's answer comes (on_http, as the bureau's answer is read). */
static void inquiry_answered(job *j)
{
    pl_http_response r = {.outcome = PL_HTTP_OK,
                          .status = 200,
                          .body = "<ok/>",
                          .body_len = 5,
                          .error = "",
                          .attempts = 1};
    on_http(j, &r);
}

/*
 * J19's PreauthorizationRequest (a spec's next call, spec->next_call) is not started while the
 * worker stops or gives up the request's partition: the drain's deadline could cut it short and
 * leave its outcome unknown (a hold no row knows of), where the inquiry before it holds nothing.
 * The job's row, 'sent' by the inquiry's attempt, goes back to 'received' (pl_unmark, that
 * attempt's own mark only: a redelivery then runs the request again from its inquiry, rather
 * than waiting for this owner and making the row a required response), its slot is given back,
 * and once that write is done (whatever came of it) the job is given up, its offset left for
 * redelivery. So too when the consumer's assignment is lost (a session timed out) before its
 * revoke is served: the partition's next owner may be running the request already (before, the
 * call went then, as only a revoke served counted). And when a stop is asked (g_stop: a SIGTERM)
 * during a revoke drain, before the loop that sets `stopping` has seen it: the stop's drain that
 * follows ends when the revoke drain would have (before, the call went then, as only `stopping`
 * counted). Without a stop or a revoke the next call is marked as before. (The old code marked
 * and sent the PreauthorizationRequest during the drain.)
 */
static void test_no_next_call_while_stopping_or_revoked(void **state)
{
    (void)state;
    pl_spec spec = {.worker = "svc",
                    .table = "svc_trans",
                    .map = two_map,
                    .next_call = two_next_call,
                    .mark_sent = two_mark_sent};
    pl_service rlt = {.code = "RLT", .protocol = "RLT", .max_concurrent = 1};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    slot *s = slot_for(e, "RLT");
    g_catch = true;

    /* 3: a stop asked during a revoke drain (g_stop, `stopping` not set yet); 2: stopping; 1: its
     * partition revoked; 0: the assignment lost, the revoke not served. */
    for (int why = 3; why >= 0; why--) {
        static const char *const ids[] = {"J19-lost", "J19-revoked", "J19-stop", "J19-asked"};
        g_stop = why == 3;
        e->stopping = why == 2;
        e->consumer = why == 0 ? g_lost_consumer : NULL;
        g_assignment_lost = why == 0;
        job *j = first_call_out(e, &rlt, ids[why], 1);
        j->leaving = why == 1;
        g_marks = g_ncaught = 0;
        inquiry_answered(j);
        assert_int_equal(g_marks, 0);
        assert_int_equal(g_ncaught, 1);
        pl_db_unit *u = g_caught[0];
        assert_int_equal(pl_db_unit_count(u), 1);
        assert_string_equal(pl_db_unit_stmt(u, 0), "pl_unmark");
        assert_string_equal(pl_db_unit_param(u, 0, 0), j->pub.req.request_id);
        assert_string_equal(pl_db_unit_param(u, 0, 1), "t/1");
        assert_int_equal(j->state, JS_UNMARKING);
        assert_false(j->slot_held);
        assert_int_equal(s->active, 0);
        /* Live until the write is done: a drain waits for it. */
        assert_int_equal(e->n_live, 1);
        on_given_back(j, 0, NULL, u); /* (no row changed: given up all the same) */
        pl_db_unit_free(u);
        assert_int_equal(e->n_live, 0);
        assert_null(e->live);
    }
    e->consumer = NULL;
    g_assignment_lost = false;
    g_stop = 0;

    /* A write that failed, or the database going away at the stop's end: given up too. */
    e->stopping = true;
    job *j = first_call_out(e, &rlt, "J19-failed", 1);
    g_ncaught = 0;
    inquiry_answered(j);
    assert_int_equal(g_ncaught, 1);
    on_given_back(j, PL_ERR_DB, "permission denied for table svc_trans", g_caught[0]);
    pl_db_unit_free(g_caught[0]);
    assert_int_equal(e->n_live, 0);
    assert_int_equal(s->active, 0);

    /* Neither (the assignment not lost): the next call is marked sent (a fresh attempt taking
     * over "t/1"), its slot kept. */
    e->stopping = false;
    e->consumer = g_lost_consumer;
    j = first_call_out(e, &rlt, "J19-on", 1);
    g_marks = g_ncaught = 0;
    inquiry_answered(j);
    assert_int_equal(g_marks, 1);
    assert_int_equal(g_ncaught, 1);
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 0), "two_mark_sent");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 2), "t/1");
    assert_string_not_equal(pl_db_unit_param(g_caught[0], 0, 1), "t/1");
    assert_int_equal(j->state, JS_MARKING);
    assert_true(j->slot_held);
    assert_int_equal(s->active, 1);
    pl_db_unit_free(g_caught[0]);
    e->consumer = NULL;
    g_catch = false;
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/* A CyberSource answer fixture (tests/fixtures/cybersource, PAYLINK_SOURCE_DIR) with its first
 * `from` replaced by `to`; malloc'd. */
static char *cyb_fixture_with(const char *name, const char *from, const char *to)
{
    const char *dir = getenv("PAYLINK_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/cybersource/%s", dir && *dir ? dir : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s (PAYLINK_SOURCE_DIR)", path);
    char buf[16384];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *at = strstr(buf, from);
    assert_non_null(at);
    size_t head = (size_t)(at - buf), nf = strlen(from), nt = strlen(to);
    char *out = malloc(len - nf + nt + 1);
    assert_non_null(out);
    memcpy(out, buf, head);
    memcpy(out + head, to, nt);
    memcpy(out + head + nt, at + nf, len - head - nf + 1);
    return out;
}

/*
 * An auth+capture's answer the CyberSource adapter refuses although its ccCaptureReply says 100
 * (captured while refused: REJECT 230 beside the capture, bureau_cybersource.h) leaves the
 * outcome unknown with its required response recorded as captured (pl_unknown's 13th
 * parameter, required_response.captured): an operator's refusal of the row then publishes no
 * `.sdr` of an authorization nothing is left of (resolver.c escalated_captured). Before, the
 * row said it only in its detail's text. Another unreadable answer is not recorded so.
 */
static void test_unknown_outcome_records_capture(void **state)
{
    (void)state;
    pl_spec spec = {.worker = "deposit", .table = "cc_deposit_trans"};
    pl_service cyb = {.code = "CYB", .protocol = "CYB", .max_concurrent = 2};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    g_catch = true;
    char *captured =
        cyb_fixture_with("auth_capture.xml", "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
                         "<c:decision>REJECT</c:decision>\n<c:reasonCode>230");
    char *unreadable = cyb_fixture_with("auth_capture.xml", "<c:decision>ACCEPT</c:decision>", "");
    /* r-debit-0002: the fixture's merchantReferenceCode, the request's request_id. */
    static const struct {
        const char *rid, *want;
        bool captured;
    } cases[] = {{"r-debit-0002", "t", true}, {"r-debit-0002", "f", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        job *j = partition_job(e, cases[i].rid, 1, &cyb, false);
        j->ops = &pl_bureau_cybersource;
        j->pub.call.op = PL_OP_AUTH_CAPTURE;
        j->pub.call.req = &j->pub.req;
        slot_for(e, "CYB")->active++;
        j->slot_held = true;
        j->calls = 1;
        j->state = JS_CALLING;
        const char *body = cases[i].captured ? captured : unreadable;
        pl_http_response r = {.outcome = PL_HTTP_OK,
                              .status = 200,
                              .body = body,
                              .body_len = strlen(body),
                              .error = "",
                              .attempts = 1};
        g_ncaught = 0;
        on_http(j, &r);
        assert_int_equal(g_ncaught, 1);
        pl_db_unit *u = g_caught[0];
        assert_int_equal(pl_db_unit_count(u), 1);
        assert_string_equal(pl_db_unit_stmt(u, 0), "pl_unknown");
        assert_string_equal(pl_db_unit_param(u, 0, 11), "unreadable_answer");
        if (cases[i].captured && !strstr(pl_db_unit_param(u, 0, 2), "(captured)"))
            fail_msg("the detail: %s", pl_db_unit_param(u, 0, 2));
        const char *captured_param = pl_db_unit_param(u, 0, 12);
        assert_non_null(captured_param); /* before, 12 parameters */
        assert_string_equal(captured_param, cases[i].want);
        assert_int_equal(j->state, JS_STORING);
        assert_false(j->slot_held);
        pl_db_unit_free(u);
        g_ncaught = 0;
        job_abandon(j);
    }
    free(captured);
    free(unreadable);
    g_catch = false;
    assert_int_equal(e->n_live, 0);
    free(e);
}

/* A spec whose call is decided from the request alone (prepare_alone): record_sent records it
 * already marked sent and sends it (its unit's statement "rs_mark"). */
static int rs_prepare(pl_job *job, const pl_db_unit *recorded)
{
    (void)recorded;
    job->call.op = PL_OP_SVC_INQUIRY;
    return 0;
}

/* prepare of a spec whose call carries a card number to a bureau that takes tokens only: the
 * getToken call comes first (send_request, needs_tokenizing). */
static int tok_prepare(pl_job *job, const pl_db_unit *recorded)
{
    (void)recorded;
    job->call.op = PL_OP_SVC_INQUIRY;
    job->call.svc_card_number = "6006491234567890";
    return 0;
}

/* build of a bureau that takes tokens only: counts the calls built (a getToken starting). */
static int g_tok_builds;
static int tok_build(const pl_bureau_cfg *cfg, const pl_bureau_call *call, pl_bureau_msg *msg,
                     char *errstr, size_t errstr_size)
{
    (void)cfg;
    (void)call;
    (void)msg;
    g_tok_builds++;
    snprintf(errstr, errstr_size, "not built here");
    return PL_ERR_INVALID;
}
static const pl_bureau_ops tok_ops = {
    .protocol = "RLT", .flags = PL_BUREAU_TOKENS_ONLY, .build = tok_build, .parse = two_parse};

static int rs_record_sent(pl_job *job, pl_db_unit *u)
{
    const char *p[] = {job->req.request_id};
    return pl_db_unit_add(u, "rs_mark", 1, p);
}

/*
 * A stop asked during a revoke drain (g_stop: a SIGTERM while loop_once runs inside
 * on_rebalance, before the loop that sets `stopping` has seen it) starts no bureau call: a
 * request reaching its slot is given up for redelivery (slot_take), one waiting in the slot
 * queue stays there when a slot frees (slot_start_queued; the stop's abandon_queued gives it up),
 * a redelivery admitted behind a finished owner is not recorded as sent (record_sent), and a
 * request whose call needs a getToken first does not start it (send_request), during a stop
 * too, its partition being left or not. The stop's drain that follows ends when the revoke
 * drain would have, and could cut those calls short, leaving their outcomes unknown. (Before,
 * all went, as only `stopping` counted, and the getToken went even while stopping.)
 */
static void test_no_call_starts_once_a_stop_is_asked(void **state)
{
    (void)state;
    pl_spec spec = {.worker = "svc",
                    .table = "svc_trans",
                    .prepare = rs_prepare,
                    .prepare_alone = counting_prepare_alone,
                    .record_sent = rs_record_sent,
                    .mark_sent = two_mark_sent};
    pl_service rlt = {.code = "RLT", .protocol = "RLT", .max_concurrent = 1, .secret_ok = true};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    slot *s = slot_for(e, "RLT");
    g_catch = true;
    g_ncaught = 0;
    g_marks = 0;
    g_stop = 1;

    /* Reaching its slot, the slot free: given up, not marked. */
    job *j = partition_job(e, "A-1", 0, &rlt, false);
    j->ops = &two_ops;
    slot_take(j);
    assert_int_equal(g_marks, 0);
    assert_int_equal(e->n_live, 0);
    assert_int_equal(s->active, 0);
    assert_int_equal(g_ncaught, 0);

    /* Waiting in the queue when the slot frees: stays there, not marked. */
    job *holder = partition_job(e, "A-2", 0, &rlt, false);
    s->active = 1;
    holder->slot_held = true;
    job *queued = partition_job(e, "A-3", 0, &rlt, true);
    queued->ops = &two_ops;
    slot_release(holder);
    assert_int_equal(g_marks, 0);
    assert_int_equal(s->active, 0);
    assert_ptr_equal(s->qhead, queued);
    assert_int_equal(queued->state, JS_QUEUED);
    assert_int_equal(g_ncaught, 0);

    /* A redelivery that would be recorded already marked sent: given up, nothing written. */
    job *r = partition_job(e, "A-4", 0, &rlt, false);
    r->ops = &two_ops;
    size_t live = e->n_live;
    assert_true(record_sent(r));
    assert_int_equal(e->n_live, live - 1);
    assert_int_equal(s->active, 0);
    assert_int_equal(g_ncaught, 0);

    /* A request whose call needs a getToken first: given up for redelivery, nothing built or
     * written; so while stopping, its partition being left or not. */
    pl_spec tok_spec = spec;
    tok_spec.prepare = tok_prepare;
    e->spec = &tok_spec;
    g_tok_builds = 0;
    for (int how = 0; how < 3; how++) {
        g_stop = how == 0;
        e->stopping = how > 0;
        job *t = partition_job(e, how == 0 ? "T-1" : how == 1 ? "T-2" : "T-3", 0, &rlt, false);
        t->ops = &tok_ops;
        t->leaving = how == 2;
        live = e->n_live;
        send_request(t, NULL);
        assert_int_equal(g_tok_builds, 0);
        assert_int_equal(e->n_live, live - 1);
        assert_int_equal(g_ncaught, 0);
    }
    e->stopping = false;
    e->spec = &spec;

    /* No stop asked: the same redelivery is recorded marked sent, its slot taken. */
    g_stop = 0;
    r = partition_job(e, "A-5", 0, &rlt, false);
    r->ops = &two_ops;
    assert_true(record_sent(r));
    assert_int_equal(s->active, 1);
    assert_int_equal(g_ncaught, 1);
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 0), "rs_mark");
    pl_db_unit_free(g_caught[0]);
    g_ncaught = 0;
    g_catch = false;
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/*
 * An assigned partition the statistics show not fetched for PAYLINK_KAFKA_STALL_MS (librdkafka
 * left it without a position after a failed read of its committed offset) makes the consumer
 * leave its group and join it again (subscribed anew, counted once); nothing while none is
 * due, or with the watch off. A subscribe that failed is tried again at the next look. (The
 * fault itself, and the fetch after the rejoin: test_kafka's test_rejoin_when_stalled, on
 * librdkafka's mock cluster.)
 */
static void test_stalled_partition_rejoins(void **state)
{
    (void)state;
    char err[256];
    pl_spec spec = {.worker = "auth", .table = "cc_auth_trans"};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    snprintf(e->t_request, sizeof e->t_request, "paylink.auth.request");
    e->cfg.fetch_stall_ms = 1;
    e->cfg.session_timeout_ms = 6000;
    /* Nothing listens there: the consumer subscribes without joining. */
    snprintf(e->cfg.brokers, sizeof e->cfg.brokers, "127.0.0.1:1");
    snprintf(e->cfg.instance, sizeof e->cfg.instance, "t");
    assert_non_null(e->consumer =
                        pl_kafka_consumer_new(&e->cfg, "g-stall", e, on_rebalance, on_stats,
                                              on_unassign_committed, err, sizeof err));
    assert_non_null(e->stalls = pl_kafka_stalls_new());
    pl_metrics *reg = pl_metrics_new("auth");
    assert_non_null(reg);
    assert_non_null(e->m_refetches = pl_metrics_counter(reg, "t_total", "t", NULL));
    e->assigned = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(e->assigned, "paylink.auth.request", 0);
    rd_kafka_topic_partition_list_add(e->assigned, "paylink.auth.request", 1);

    /* Both fetching: nothing. */
    char fine[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                  "\"0\":{\"partition\":0,\"fetch_state\":\"active\"},"
                  "\"1\":{\"partition\":1,\"fetch_state\":\"active\"}}}},"
                  "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(e->consumer, fine, sizeof fine - 1, e);
    assert_true(e->stats_fresh);
    refetch_stalled(e);
    assert_int_equal(pl_counter_value(e->m_refetches), 0);
    rd_kafka_topic_partition_list_t *subs = NULL;
    assert_int_equal(rd_kafka_subscription(e->consumer, &subs), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(subs->cnt, 0);
    rd_kafka_topic_partition_list_destroy(subs);

    /* Partition 1 never started: past the stall (a millisecond here), the group is joined
     * again, once. */
    char stalled[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                     "\"0\":{\"partition\":0,\"fetch_state\":\"active\"},"
                     "\"1\":{\"partition\":1,\"fetch_state\":\"stopped\"}}}},"
                     "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(e->consumer, stalled, sizeof stalled - 1, e);
    double seen = now_s();
    while (now_s() - seen < 0.002) {
    }
    refetch_stalled(e);
    assert_int_equal(pl_counter_value(e->m_refetches), 1);
    assert_int_equal(rd_kafka_subscription(e->consumer, &subs), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(subs->cnt, 1);
    assert_string_equal(subs->elems[0].topic, "paylink.auth.request");
    rd_kafka_topic_partition_list_destroy(subs);
    assert_false(pl_kafka_stalls_due(e->stalls, 1, now_s(), 0.001)); /* its clock starts over */
    refetch_stalled(e);
    assert_int_equal(pl_counter_value(e->m_refetches), 1);

    /* A subscribe that failed is tried again first. */
    e->resubscribe = true;
    refetch_stalled(e);
    assert_false(e->resubscribe);
    assert_int_equal(pl_counter_value(e->m_refetches), 1);

    /* Turned off (0): nothing, however long it stalls. */
    e->cfg.fetch_stall_ms = 0;
    on_stats(e->consumer, stalled, sizeof stalled - 1, e);
    refetch_stalled(e);
    assert_int_equal(pl_counter_value(e->m_refetches), 1);

    rd_kafka_unsubscribe(e->consumer);
    rd_kafka_destroy_flags(e->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    partition_lists_free(e);
    pl_metrics_destroy(reg);
    free(e);
}

/*
 * A request that finds its bureau's slots all taken waits in the queue without its message's
 * bytes (built again when a slot frees, slot_release): at thousands in flight the waiting
 * requests held a built message each. The job is within its size class (static assert in
 * engine.c), has no answer until one comes and no reply while nothing is in it.
 */
static void test_queued_request_holds_no_message(void **state)
{
    (void)state;
    pl_spec spec = {.worker = "auth", .table = "cc_auth_trans"};
    pl_service cyb = {.code = "CYB", .max_concurrent = 1};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    slot_for(e, "CYB")->active = 1;
    job *j = partition_job(e, "Q-1", 0, &cyb, false);
    pl_bureau_msg *m = job_msg(j);
    m->body = strdup("<requestMessage>4111111111111111</requestMessage>");
    assert_non_null(m->body);
    m->body_len = strlen(m->body);
    job_reply_clear(j); /* as prepare_call leaves it for a call */
    slot_take(j);
    slot *s = slot_for(e, "CYB");
    assert_ptr_equal(s->qhead, j);
    assert_int_equal(j->state, JS_QUEUED);
    assert_null(j->msg); /* (valgrind and the sanitizer build see the body freed, too) */
    assert_null(j->pub.res);
    assert_null(j->pub.reply);
    /* Wherever it goes from the queue, the engine (job_reply) and the specs (job_unit_new, the
     * clears before prepare and map) find an empty reply again. */
    pl_reply *r = job_reply(j);
    assert_non_null(r);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->message, "");

    /* A reply with something in it is kept while its request waits. */
    job *k = partition_job(e, "Q-2", 0, &cyb, false);
    job_reply_clear(k)->status = PL_ST_DECLINED;
    slot_take(k);
    assert_ptr_equal(s->qtail, k);
    assert_non_null(k->pub.reply);
    assert_int_equal(k->pub.reply->status, PL_ST_DECLINED);
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/* A revoke drain waits PAYLINK_DRAIN_TIMEOUT_MS, but during a stop (the consumer's close
 * revokes every partition once the stop's drain is over) no longer than the stop's deadline. */
static void test_revoke_drain_within_the_stop(void **state)
{
    (void)state;
    pl_engine e;
    memset(&e, 0, sizeof e);
    e.cfg.drain_timeout_ms = 30000;
    assert_true(revoke_deadline(&e, 1000.0) == 1030.0);
    e.stopping = true;
    e.stop_deadline = 1002.5; /* the stop's drain began 27.5 s ago */
    assert_true(revoke_deadline(&e, 1000.0) == 1002.5);
    e.stop_deadline = 990.0; /* and is over */
    assert_true(revoke_deadline(&e, 1000.0) == 990.0);
    e.stop_deadline = 1100.0; /* never later than a drain of its own */
    assert_true(revoke_deadline(&e, 1000.0) == 1030.0);
}

/* A stop asked during a revoke drain (SIGTERM during a rolling deploy's rebalance) drains until
 * that drain would have ended, not a whole drain more: both within one drain's time. */
static void test_stop_drain_after_a_revoke_drain(void **state)
{
    (void)state;
    pl_engine e;
    memset(&e, 0, sizeof e);
    e.cfg.drain_timeout_ms = 30000;
    assert_true(stop_drain_deadline(&e, 1000.0) == 1030.0);
    e.stop_drain_from = 990.0; /* the revoke drain began 10 s before the stop's */
    assert_true(stop_drain_deadline(&e, 1000.0) == 1020.0);
    assert_true(stop_drain_deadline(&e, 1025.0) == 1020.0); /* and is over */
}

/*
 * How long a redelivery waits for the owner of a 'sent' row (beyond OWNER_MARGIN_S): as long as
 * that owner may still be trying — its connection attempts (each up to the connection wait)
 * before the call's answer wait, and with OAuth (EXT) a token call, the call, a new token and
 * the call again. The old wait (the answer wait alone) presumed an owner retrying its
 * connection gone, and made its request unknown while the owner could still send it.
 */
static void test_owner_wait_covers_connection_attempts(void **state)
{
    (void)state;
    job j;
    memset(&j, 0, sizeof j);
    pl_engine e;
    memset(&e, 0, sizeof e); /* no configuration loaded: the job's own settings */
    j.pub.eng = &e;
    pl_service cyb = {
        .code = "CYB", .protocol = "CYB", .response_time_ms = 30000, .connect_attempts = 3};
    j.pub.svc = &cyb;
    assert_true(answer_wait_s(&j) == 50.0); /* 2 × 10 s + 30 s */
    cyb.connect_attempts = 1;
    assert_true(answer_wait_s(&j) == 30.0);
    cyb.connect_attempts = 3;
    cyb.response_time_ms = 4000; /* a connection wait never longer than the answer wait */
    assert_true(answer_wait_s(&j) == 12.0);
    pl_service ext = {.code = "EXT",
                      .protocol = "EXT",
                      .response_time_ms = 15000,
                      .response_check_frequency = 2,
                      .connect_attempts = 3};
    j.pub.svc = &ext;
    assert_true(answer_wait_s(&j) == 240.0); /* 4 × (2 × 15 s + 30 s) */
    j.pub.svc = NULL; /* its bureau gone from the configuration: the margin alone */
    assert_true(answer_wait_s(&j) == 0.0);
}

/*
 * A request goes to its bureau by the settings the configuration has now (svc_now): the cap,
 * URL and waits an operator changed while it waited; its own when the bureau left the
 * configuration, changed protocol there or became unusable (a secret not resolved: a call not
 * started yet is answered instead, test_a_refresh_making_a_bureau_unusable_answers_what_waits),
 * and when its secret changed, unless the bureau authenticates by OAuth token (its messages
 * carry no secret). The cap is the bureau's current one whenever the configuration has the
 * bureau (slot_cap: its slots are shared by every request for it). The wait for another owner's
 * call is the longer of both (a call started before the refresh went by the earlier settings).
 */
static void test_a_waiting_request_goes_by_the_current_settings(void **state)
{
    (void)state;
    pl_service own = {.code = "CYB",
                      .protocol = "CYB",
                      .url = "https://primary.example/",
                      .response_time_ms = 30000,
                      .connect_attempts = 1,
                      .max_concurrent = 1,
                      .secret_ok = true};
    pl_service now = own;
    strcpy(now.url, "https://standby.example/");
    now.max_concurrent = 8;
    now.response_time_ms = 5000;
    pl_engine e;
    memset(&e, 0, sizeof e);
    job j;
    memset(&j, 0, sizeof j);
    j.pub.eng = &e;
    j.pub.svc = &own;
    assert_ptr_equal(svc_now(&j), &own);
    assert_int_equal(slot_cap(&j), 1);

    assert_non_null(e.services = pl_services_of(&now, 1));
    assert_string_equal(svc_now(&j)->url, "https://standby.example/");
    assert_int_equal(slot_cap(&j), 8);
    assert_true(answer_wait_s(&j) == 30.0); /* its own 30 s, longer than the 5 s now */
    pl_services_unref(e.services);

    now.response_time_ms = 45000;
    assert_non_null(e.services = pl_services_of(&now, 1));
    assert_true(answer_wait_s(&j) == 45.0); /* the current 45 s, longer than its own */
    pl_services_unref(e.services);

    pl_service other = now;
    strcpy(other.code, "RLT"); /* its bureau gone from the configuration */
    assert_non_null(e.services = pl_services_of(&other, 1));
    assert_ptr_equal(svc_now(&j), &own);
    pl_services_unref(e.services);

    pl_service moved = now;
    strcpy(moved.protocol, "EXT"); /* another protocol under its code */
    assert_non_null(e.services = pl_services_of(&moved, 1));
    assert_ptr_equal(svc_now(&j), &own);
    pl_services_unref(e.services);

    pl_service broken = now;
    broken.secret_ok = false; /* unusable now: a call already under way ends as it began */
    assert_non_null(e.services = pl_services_of(&broken, 1));
    assert_ptr_equal(svc_now(&j), &own);
    assert_int_equal(slot_cap(&j), 8); /* the cap is the bureau's: the current one */
    pl_services_unref(e.services);

    /* Gone live: the production URL with the production key. A request that arrived with the
     * test key goes where that key is valid, never to production with it. */
    strcpy(own.secret, "test-key");
    pl_service live = now;
    strcpy(live.url, "https://production.example/");
    strcpy(live.secret, "production-key");
    assert_non_null(e.services = pl_services_of(&live, 1));
    assert_ptr_equal(svc_now(&j), &own);
    assert_string_equal(svc_now(&j)->url, "https://primary.example/");
    assert_int_equal(slot_cap(&j), 8); /* its key's URL, the bureau's cap */
    pl_services_unref(e.services);
    strcpy(live.secret, "test-key"); /* the URL moved, the key the same: the new URL */
    assert_non_null(e.services = pl_services_of(&live, 1));
    assert_string_equal(svc_now(&j)->url, "https://production.example/");
    pl_services_unref(e.services);

    /* A bureau that authenticates by OAuth token (the External Payment Service): its messages
     * carry no secret, its token request does (with_token), so a changed password goes with the
     * rest of the current settings. Unusable now, or another protocol: its own, as any. */
    static const pl_bureau_ops oauth = {.protocol = "CYB", .flags = PL_BUREAU_OAUTH};
    j.ops = &oauth;
    strcpy(live.secret, "new-password");
    assert_non_null(e.services = pl_services_of(&live, 1));
    assert_ptr_equal(svc_now(&j), pl_services_find(e.services, "CYB"));
    assert_string_equal(svc_now(&j)->secret, "new-password");
    pl_services_unref(e.services);
    live.secret_ok = false;
    assert_non_null(e.services = pl_services_of(&live, 1));
    assert_ptr_equal(svc_now(&j), &own);
    pl_services_unref(e.services);
    live.secret_ok = true;
    strcpy(live.protocol, "EXT");
    assert_non_null(e.services = pl_services_of(&live, 1));
    assert_ptr_equal(svc_now(&j), &own);
    pl_services_unref(e.services);
}

/*
 * A spec with more statements than the engine holds is refused when the engine is set up, naming
 * the worker; before, the ones past the table were dropped silently, and each failed only when a
 * rare path first used it. Every statement of a spec that fits is kept, in order, after the
 * engine's own.
 */
static void test_statements_beyond_the_table_refused(void **state)
{
    (void)state;
    static pl_db_stmt many[40];
    static char names[40][16];
    for (size_t i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "s%zu", i);
        many[i] = (pl_db_stmt){names[i], "SELECT 1", 0};
    }
    pl_spec spec = {.worker = "auth", .table = "cc_auth_trans", .stmts = many, .nstmts = 40};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    char err[256] = "";
    assert_int_equal(build_statements(e, err, sizeof err), PL_ERR_INVALID);
    assert_non_null(strstr(err, "paylink-auth has 40 statements"));
    size_t own = nstatements(e);
    spec.nstmts = sizeof e->stmts / sizeof e->stmts[0] - 1 - own;
    assert_int_equal(build_statements(e, err, sizeof err), 0);
    assert_int_equal(nstatements(e), own + spec.nstmts);
    assert_string_equal(e->stmts[own].name, "s0");
    assert_string_equal(e->stmts[own + spec.nstmts - 1].name, names[spec.nstmts - 1]);
    spec.nstmts++;
    assert_int_equal(build_statements(e, err, sizeof err), PL_ERR_INVALID);
    free(e);
}

/*
 * The watchdog: a request in the worker longer than all its bureau calls may take plus a minute
 * (CYB at 5 s, one connection attempt: 4 × 5 + 60 = 80 s; a request whose bureau is gone: 60 s)
 * is counted and logged once, with what it waits for; the sweep looks every OVERDUE_SWEEP_S,
 * not every turn. Times are given to the sweep, never waited for.
 */
static void test_overdue_requests_are_reported_once(void **state)
{
    (void)state;
    pl_spec spec = {.worker = "auth", .table = "cc_auth_trans"};
    pl_service cyb = {.code = "CYB",
                      .protocol = "CYB",
                      .response_time_ms = 5000,
                      .connect_attempts = 1,
                      .max_concurrent = 1};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    double now = 1000000.0;
    slot_for(e, "CYB")->active = 1;
    job *queued = partition_job(e, "O-1", 0, &cyb, true);
    queued->t_start = now - 81;
    job *young = partition_job(e, "O-2", 0, &cyb, false);
    young->state = JS_RECORDING;
    young->t_start = now - 79;
    job *gone = partition_job(e, "O-3", 0, NULL, false);
    gone->state = JS_RECORDING;
    gone->t_start = now - 61;
    job *waiting = partition_job(e, "O-4", 0, &cyb, false);
    park(waiting, now + 1);
    waiting->owner_deadline = now + 12;
    waiting->t_start = now - 500;

    assert_int_equal(sweep_overdue(e, now), 3);
    assert_int_equal(e->n_overdue, 3);
    assert_true(queued->overdue && gone->overdue && waiting->overdue);
    assert_false(young->overdue);
    char what[512];
    overdue_detail(queued, now, what, sizeof what);
    assert_string_equal(what, "waiting for a slot of bureau CYB (1 of 1 in use)");
    overdue_detail(gone, now, what, sizeof what);
    assert_string_equal(what, "recording it"); /* (no database here to say more) */
    overdue_detail(waiting, now, what, sizeof what);
    assert_string_equal(what, "waiting for another owner's answer (presumed gone in 12 s)");

    /* Not looked at again before OVERDUE_SWEEP_S; then counted again, logged no more, and the
     * one that has since passed its bound is logged. */
    assert_int_equal(sweep_overdue(e, now + 1), 0);
    assert_int_equal(sweep_overdue(e, now + OVERDUE_SWEEP_S), 1);
    assert_int_equal(e->n_overdue, 4);
    assert_true(young->overdue);
    /* A request that finished leaves the count. */
    job_abandon(queued);
    assert_int_equal(sweep_overdue(e, now + 2 * OVERDUE_SWEEP_S), 0);
    assert_int_equal(e->n_overdue, 3);

    /* SIGUSR1's dump: every request in flight, the first to come first, each with what it
     * waits for. */
    FILE *out = tmpfile();
    assert_non_null(out);
    pl_log_init("auth", out);
    e->config_at = now - 42;
    dump_live(e, now);
    pl_log_init("auth", NULL);
    rewind(out);
    char line[1024];
    /* (in the order they came: O-2, O-3, O-4; the times given above are the sweep's test) */
    const char *want[] = {
        "3 request(s) in flight and 0 in the backlog; bureau settings loaded 42 s "
        "ago",
        "\"O-2\"", "\"O-3\"", "\"O-4\""};
    size_t n = 0;
    while (fgets(line, sizeof line, out)) {
        assert_true(n < sizeof want / sizeof want[0]);
        if (!strstr(line, want[n]))
            fail_msg("dump line %zu: %s (wanted %s)", n, line, want[n]);
        n++;
    }
    assert_int_equal(n, 4);
    fclose(out);
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/* The record and store of the spec below: one statement each, caught. */
static int st_record(pl_job *job, pl_db_unit *u)
{
    const char *p[] = {job->req.request_id};
    return pl_db_unit_add(u, "st_record", 1, p);
}

static int st_store(pl_job *job, pl_db_unit *u)
{
    const char *p[] = {job->req.request_id};
    return pl_db_unit_add(u, "st_store", 1, p);
}

/* Caught unit i: its first statement is `stmt`, for request `rid`. */
static void caught_is(int i, const char *stmt, const char *rid)
{
    assert_true(i < g_ncaught);
    assert_string_equal(pl_db_unit_stmt(g_caught[i], 0), stmt);
    assert_string_equal(pl_db_unit_param(g_caught[i], 0, 0), rid);
}

/* Frees the units caught so far. */
static void caught_free(void)
{
    for (int i = 0; i < g_ncaught; i++)
        pl_db_unit_free(g_caught[i]);
    g_ncaught = 0;
}

/* How many lines of the log file hold `what`. */
static int log_lines_with(FILE *log, const char *what)
{
    char line[2048];
    int n = 0;
    rewind(log);
    while (fgets(line, sizeof line, log))
        n += strstr(line, what) != NULL;
    fseek(log, 0, SEEK_END);
    return n;
}

/*
 * One bureau that answers nothing must not hold the worker's other bureaus: the requests
 * waiting for its slots count among those in flight (PAYLINK_MAX_IN_FLIGHT), and behind them
 * every other bureau's requests waited in the backlog. When the first request in a bureau's
 * queue has waited PAYLINK_SLOT_WAIT_MAX_MS and none of the bureau's calls has had an answer
 * meanwhile, the bureau is stalled (slot_check_stalls, slot_stall): its queue is answered at
 * once, final `error` with its outage code (SU here, not CyberSource), nothing sent — on the
 * request's row (pl_final), and one that waited unrecorded is recorded first (its answer is
 * given on its row when it reaches its slot, as any other's) — a request of a partition being
 * left is given up for its next owner instead, and a redelivery parked behind a refused request
 * replays its answer. While it is stalled, a new request that finds a slot free takes it, and
 * one that finds none is answered so at once (slot_take; record_sent records it first), never
 * queued. A call that times out does not end the stall while another still hangs; an answer
 * the adapter reads does (slot_answered), and requests queue again. A bureau whose calls do answer
 * keeps its queue however long its first request waits (a slow bureau, not a hung one), and nothing
 * is judged while a stop is asked (abandon_queued leaves the queue for redelivery) or with the
 * bound off (0). One warning when the bureau stalls, one when it answers again; a counter of the
 * requests so answered. (Before, the queue waited for as long as the bureau's outage lasted.)
 */
static void test_stalled_bureau_answers_its_queue(void **state)
{
    (void)state;
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    spec.map = two_map;
    spec.mark_sent = two_mark_sent;
    spec.record = st_record;
    spec.store = st_store;
    spec.prepare = rs_prepare;
    spec.prepare_alone = counting_prepare_alone;
    spec.record_sent = rs_record_sent;
    pl_metrics *m = pl_metrics_new("auth");
    assert_non_null(m);
    e->metrics = m;
    e->cfg.slot_wait_max_ms = 10000;
    e->cfg.slot_wait_record_ms = 1000;
    FILE *log = tmpfile();
    assert_non_null(log);
    pl_log_init("auth", log);
    pl_service hung = {.code = "RLT", .protocol = "RLT", .max_concurrent = 2, .secret_ok = true};
    pl_service other = {.code = "CYB", .protocol = "CYB", .max_concurrent = 1, .secret_ok = true};
    slot *s = slot_for(e, "RLT"), *o = slot_for(e, "CYB");

    /* RLT: its two slots held by calls that do not answer; behind them, two requests recorded
     * (the first with a redelivery parked behind it), one not recorded yet, one of a partition
     * being left. */
    job *held = first_call_out(e, &hung, "H-0", 0);
    first_call_out(e, &hung, "H-00", 0);
    job *q1 = partition_job(e, "H-1", 0, &hung, true);
    q1->pub.req.company = 1;
    snprintf(q1->pub.req.order, sizeof q1->pub.req.order, "O1");
    admit(e, q1);
    job *dup = partition_job(e, "H-1", 0, &hung, false);
    dup->ops = &two_ops;
    q1->waiters = dup;
    job *q2 = partition_job(e, "H-2", 1, &hung, true);
    admit(e, q2);
    job *q3 = partition_job(e, "H-3", 0, &hung, false);
    q3->ops = &two_ops;
    q3->unrecorded = true;
    e->n_unrecorded++;
    q3->due = 1e12;
    slot_enqueue(s, q3);
    admit(e, q3);
    job *ql = partition_job(e, "H-4", 2, &hung, true);
    ql->leaving = true;
    admit(e, ql);
    /* CYB: its slot held too, a request waiting, but the bureau answered a second ago. */
    first_call_out(e, &other, "C-0", 0);
    job *cq = partition_job(e, "C-1", 0, &other, true);
    admit(e, cq);
    double now = now_s();
    q1->t_queued = now - 11;
    s->answered_at = now - 11; /* (its queue formed then: slot_enqueue) */
    cq->t_queued = now - 60;
    o->answered_at = now - 1;
    assert_int_equal(e->n_queued, 5);

    /* Not yet: the first has waited less than the bound. */
    slot_check_stalls(e, now - 1.5);
    assert_false(s->stalled);
    assert_int_equal(g_ncaught, 0);
    assert_int_equal(e->n_queued, 5);

    slot_check_stalls(e, now);
    assert_true(s->stalled);
    assert_false(o->stalled);
    assert_int_equal(e->n_stalled, 1);
    assert_null(s->qhead);
    assert_null(s->qtail);
    assert_ptr_equal(o->qhead, cq); /* (the bureau that answers keeps its queue) */
    assert_int_equal(e->n_queued, 1);
    assert_int_equal(g_ncaught, 3);
    caught_is(0, "pl_final", "H-1");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 1), "error");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 2), "SU");
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 3),
                           "not sent: bureau RLT stalled, no free connection slot for 11 s"));
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 4),
                           "\"Not sent: bureau RLT has had no free connection slot for 11 s (its "
                           "2 calls in flight have not answered); send it again under a new "
                           "request_id.\""));
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 4), "\"status\":\"error\""));
    assert_int_equal(q1->state, JS_STORING);
    caught_is(1, "pl_final", "H-2");
    assert_int_equal(q2->state, JS_STORING);
    caught_is(2, "st_record", "H-3"); /* recorded first */
    assert_int_equal(q3->state, JS_RECORDING);
    assert_false(q3->unrecorded);
    assert_int_equal(e->n_unrecorded, 0);
    assert_null(hash_find(e, "H-4")); /* left for the partition's next owner */
    assert_int_equal(held->state, JS_CALLING);
    assert_true(held->slot_held);
    assert_int_equal(s->active, 2);
    assert_int_equal(pl_counter_value(s->m_refused), 2);
    assert_int_equal(pl_counter_value(o->m_refused), 0);
    assert_true(pl_gauge_value(s->m_stalled) == 1.0);
    assert_true(pl_gauge_value(o->m_stalled) == 0.0);

    /* H-1's answer written and published: the redelivery parked behind it is admitted, is
     * recorded (not queued: its bureau is stalled), finds H-1's row and replays its answer. */
    pl_db_unit *w = g_caught[0];
    g_caught[0] = NULL;
    caught_free();
    g_result = written_row();
    on_written(q1, 0, NULL, w);
    PQclear(g_result);
    g_result = NULL;
    pl_db_unit_free(w);
    assert_int_equal(q1->state, JS_PUBLISHING);
    char *reply = strdup(q1->pub.reply_json);
    assert_non_null(reply);
    q1->pending_dr--; /* its delivery report (on_delivery) */
    job_done(q1);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "st_record", "H-1");
    assert_int_equal(dup->state, JS_RECORDING);
    assert_false(dup->in_queue);
    w = g_caught[0];
    g_ncaught = 0;
    g_result = no_row_written(); /* the row is there */
    on_recorded(dup, 0, NULL, w);
    PQclear(g_result);
    pl_db_unit_free(w);
    assert_int_equal(g_ncaught, 1);
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 1), "pl_lookup");
    w = g_caught[0];
    g_ncaught = 0;
    g_result = looked_up("error", reply, false);
    on_recorded(dup, 0, NULL, w);
    PQclear(g_result);
    g_result = NULL;
    pl_db_unit_free(w);
    free(reply);
    assert_int_equal(dup->state, JS_PUBLISHING);
    assert_string_equal(dup->outcome, "replayed");
    assert_int_equal(g_ncaught, 0);

    /* While it is stalled: the one recorded first reaches its slot and is answered; a new
     * request finding the slot taken too, at once; one that would be recorded already marked
     * sent is recorded the usual way (no statement yet, not queued). */
    slot_take(q3);
    caught_is(0, "pl_final", "H-3");
    job *n1 = partition_job(e, "N-1", 0, &hung, false);
    n1->ops = &two_ops;
    slot_take(n1);
    caught_is(1, "pl_final", "N-1");
    assert_false(n1->in_queue);
    job *n2 = partition_job(e, "N-2", 0, &hung, false);
    n2->ops = &two_ops;
    assert_false(record_sent(n2));
    assert_false(n2->in_queue);
    assert_int_equal(g_ncaught, 2);
    job_abandon(n2);
    assert_int_equal(pl_counter_value(s->m_refused), 4);
    caught_free();

    /* A held call times out: its slot is free, the bureau still stalled (its other call still
     * hangs). A new request takes the free slot; the next one finds none and is answered. */
    pl_http_response timeout = {.outcome = PL_HTTP_TIMEOUT, .error = "timed out", .attempts = 1};
    on_http(held, &timeout);
    caught_is(0, "pl_unknown", "H-0");
    assert_int_equal(s->active, 1);
    assert_true(s->stalled);
    job *n3 = partition_job(e, "N-3", 0, &hung, false);
    n3->ops = &two_ops;
    n3->pub.call.op = PL_OP_SVC_INQUIRY;
    slot_take(n3);
    caught_is(1, "two_mark_sent", "N-3");
    assert_true(n3->slot_held);
    job *n4 = partition_job(e, "N-4", 0, &hung, false);
    slot_take(n4);
    caught_is(2, "pl_final", "N-4");
    assert_int_equal(pl_counter_value(s->m_refused), 5);
    caught_free();

    /* Its answer comes: the stall is over, and a request finding the slot taken queues again. */
    n3->state = JS_CALLING;
    n3->calls = 1;
    inquiry_answered(n3);
    assert_false(s->stalled);
    assert_int_equal(e->n_stalled, 0);
    assert_true(pl_gauge_value(s->m_stalled) == 0.0);
    caught_is(0, "st_store", "N-3");
    caught_free();
    s->active = 2; /* another call out */
    job *n5 = partition_job(e, "N-5", 0, &hung, false);
    slot_take(n5);
    assert_ptr_equal(s->qhead, n5);
    assert_int_equal(g_ncaught, 0);

    /* Waited past the bound, but a stop is asked (abandon_queued's), or the bound is off:
     * nothing is judged. */
    n5->t_queued = now - 60;
    s->answered_at = 0;
    g_stop = 1;
    slot_check_stalls(e, now);
    g_stop = 0;
    e->cfg.slot_wait_max_ms = 0;
    slot_check_stalls(e, now);
    assert_false(s->stalled);
    assert_ptr_equal(s->qhead, n5);
    assert_int_equal(g_ncaught, 0);

    /* An operator raised the cap (a configuration refresh, which starts the queue at once:
     * refresh_take): a request that can have a slot is started, not refused. */
    e->cfg.slot_wait_max_ms = 10000;
    hung.max_concurrent = 3;
    n5->ops = &two_ops;
    slot_check_stalls(e, now);
    assert_false(s->stalled);
    assert_null(s->qhead);
    assert_int_equal(s->active, 3);
    caught_is(0, "two_mark_sent", "N-5");
    caught_free();

    /* One warning each way, whatever was answered in between. */
    assert_int_equal(log_lines_with(log, "bureau RLT stalled:"), 1);
    assert_int_equal(log_lines_with(log, "bureau RLT answers again"), 1);
    assert_int_equal(log_lines_with(log, "bureau CYB"), 0);
    pl_log_init("auth", NULL);
    fclose(log);
    held_engine_free(e);
    pl_metrics_destroy(m);
}

/* An engine of held_engine's for the breaker's tests (slot_check_stalls): its spec records,
 * marks and stores with one caught statement each; PAYLINK_SLOT_WAIT_MAX_MS 10 s; its log in
 * *log, its metrics in *m. */
static pl_engine *breaker_engine(pl_spec *spec, pl_metrics **m, FILE **log)
{
    pl_engine *e = held_engine(spec);
    spec->map = two_map;
    spec->mark_sent = two_mark_sent;
    spec->record = st_record;
    spec->store = st_store;
    spec->prepare = rs_prepare;
    *m = pl_metrics_new("auth");
    assert_non_null(*m);
    e->metrics = *m;
    e->cfg.slot_wait_max_ms = 10000;
    e->cfg.slot_wait_record_ms = 1000;
    *log = tmpfile();
    assert_non_null(*log);
    pl_log_init("auth", *log);
    return e;
}

static void breaker_engine_free(pl_engine *e, pl_metrics *m, FILE *log)
{
    g_http_catch = false;
    pl_log_init("auth", NULL);
    fclose(log);
    held_engine_free(e);
    pl_metrics_destroy(m);
}

/* on_recorded of job j for its caught unit 0, the unit's statements answering `first` (its
 * insert) and then `rest` (its look-ups and the row read back). */
static void recorded_as(job *j, PGresult *first, PGresult *rest)
{
    pl_db_unit *u = g_caught[0];
    g_caught[0] = NULL;
    g_ncaught = 0;
    g_result0 = first;
    g_result = rest;
    on_recorded(j, 0, NULL, u);
    g_result0 = NULL;
    g_result = NULL;
    PQclear(first);
    PQclear(rest);
    pl_db_unit_free(u);
}

/*
 * A redelivery whose record unit finds its row there reads it back (pl_lookup) last, after the
 * spec's look-ups, each statement with a snapshot of its own. Its row found 'received', it is
 * not decided on those look-ups: they may count a claim its own row held until just before the
 * read (its previous owner gave the call back at a stop, PL_ENGINE_SQL_UNMARK releasing the claim
 * with the row, 078), and a capture decided on them is judged over its authorization, a reversal
 * refused for a claim in flight — final, nothing sent. The look-ups run once more, after that
 * read, and the request is decided on them (marked and sent here), not a third time. A row found
 * 'sent' is waited for on the first read as before.
 */
static void test_received_row_read_back_looks_up_again(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service rlt = {.code = "RLT", .protocol = "RLT", .max_concurrent = 2, .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&rlt, 1));
    g_http_catch = true;
    g_http_calls = 0;
    g_marks = 0;
    job *j = partition_job(e, "G-1", 0, &rlt, false);
    j->ops = &two_ops;
    admit(e, j);
    start_record(j);
    caught_is(0, "st_record", "G-1");

    /* The insert finds the row: recorded again, reading it back. */
    recorded_as(j, no_row_written(), NULL);
    assert_int_equal(g_ncaught, 1);
    assert_int_equal(pl_db_unit_count(g_caught[0]), 2);
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 1), "pl_lookup");

    /* Read back 'received': the look-ups again, nothing decided, marked or sent yet. */
    recorded_as(j, no_row_written(), looked_up("received", NULL, false));
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "st_record", "G-1");
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 1), "pl_lookup");
    assert_int_equal(g_marks, 0);
    assert_int_equal(j->state, JS_RECORDING);

    /* 'received' again: decided on these look-ups, marked sent. */
    recorded_as(j, no_row_written(), looked_up("received", NULL, false));
    assert_int_equal(g_marks, 1);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", "G-1");
    caught_free();

    /* Another redelivery finds its row 'sent' by another owner: waits for it on the first read. */
    job *k = partition_job(e, "G-2", 0, &rlt, false);
    k->ops = &two_ops;
    admit(e, k);
    start_record(k);
    recorded_as(k, no_row_written(), NULL);
    recorded_as(k, no_row_written(), looked_up("sent", NULL, false));
    assert_int_equal(g_marks, 1);
    assert_int_equal(g_ncaught, 0);
    assert_int_not_equal(k->state, JS_RECORDING);

    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/* A recorded request of svc waiting for its slot (two_ops builds its call when it gets one). */
static job *waiting_job(pl_engine *e, const char *rid, const pl_service *svc)
{
    job *j = partition_job(e, rid, 0, svc, true);
    j->ops = &two_ops;
    j->pub.call.op = PL_OP_SVC_INQUIRY;
    admit(e, j);
    return j;
}

/* Whether a unit caught has `stmt` first, for request `rid` (in whatever order they came). */
static bool caught_has(const char *stmt, const char *rid)
{
    for (int i = 0; i < g_ncaught; i++)
        if (strcmp(pl_db_unit_stmt(g_caught[i], 0), stmt) == 0 &&
            strcmp(pl_db_unit_param(g_caught[i], 0, 0), rid) == 0)
            return true;
    return false;
}

/* spec->breaker_exempt of the tests below: a request id with ".rev" stands for paylink's own
 * reversals (paylink-reversal's hook, pl_reversal_own: test_reversal_spec). */
static bool rev_exempt(const pl_job *job)
{
    return strstr(job->req.request_id, ".rev") != NULL;
}

static const pl_http_response timed_out = {
    .outcome = PL_HTTP_TIMEOUT, .error = "timed out", .attempts = 1};

/*
 * A request the spec exempts from the breaker (spec->breaker_exempt: paylink's own reversals,
 * whose `error` nobody reads and which, answered unsent, left the whole hold on the card) is
 * never answered unsent by a stalled bureau: the stall answers the others waiting and leaves it
 * in the queue, in its place; one that comes while the bureau is stalled and finds no slot
 * queues behind it, where another is answered at once; judged again at the next turns, the
 * bureau refuses nothing more and warns no more; when a slot frees, the first of them is sent.
 * (Before, every request in the queue was answered `error 150`, the reversals with them.)
 */
static void test_stall_spares_exempt_requests(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    spec.breaker_exempt = rev_exempt;
    pl_service hung = {.code = "RLT", .protocol = "RLT", .max_concurrent = 1, .secret_ok = true};
    slot *s = slot_for(e, "RLT");
    job *held = first_call_out(e, &hung, "H-0", 0);
    job *x1 = waiting_job(e, "X-1", &hung);
    job *r1 = waiting_job(e, "A-1.rev", &hung);
    job *x2 = waiting_job(e, "X-2", &hung);
    job *r2 = waiting_job(e, "A-2.rev", &hung);
    double now = now_s();
    x1->t_queued = now - 11;
    s->answered_at = now - 11;

    slot_check_stalls(e, now);
    assert_true(s->stalled);
    assert_int_equal(g_ncaught, 2);
    caught_is(0, "pl_final", "X-1");
    caught_is(1, "pl_final", "X-2");
    assert_int_equal(x1->state, JS_STORING);
    assert_int_equal(x2->state, JS_STORING);
    assert_ptr_equal(s->qhead, r1);
    assert_ptr_equal(r1->qnext, r2);
    assert_ptr_equal(s->qtail, r2);
    assert_true(r1->in_queue && r2->in_queue);
    assert_int_equal(r1->state, JS_QUEUED);
    assert_int_equal(e->n_queued, 2);
    assert_int_equal(pl_counter_value(s->m_refused), 2);
    assert_int_equal(log_lines_with(log, "(0 more once recorded; 2 exempt left waiting)"), 1);
    caught_free();

    /* The next turns: nothing more is refused, no second warning. */
    slot_check_stalls(e, now + 30);
    assert_int_equal(g_ncaught, 0);
    assert_ptr_equal(s->qhead, r1);
    assert_int_equal(e->n_queued, 2);

    /* While stalled: an exempt request finding no slot queues behind; another is answered. */
    job *r3 = partition_job(e, "A-3.rev", 0, &hung, false);
    r3->ops = &two_ops;
    slot_take(r3);
    assert_ptr_equal(s->qtail, r3);
    assert_ptr_equal(r2->qnext, r3);
    assert_int_equal(g_ncaught, 0);
    job *x3 = partition_job(e, "X-3", 0, &hung, false);
    x3->ops = &two_ops;
    slot_take(x3);
    caught_is(0, "pl_final", "X-3");
    assert_false(x3->in_queue);
    caught_free();

    /* The hung call times out: the first of them takes its slot and is sent; the others wait,
     * the bureau still stalled (that call may hang too). */
    on_http(held, &timed_out);
    assert_int_equal(g_ncaught, 2);
    assert_true(caught_has("pl_unknown", "H-0"));
    assert_true(caught_has("two_mark_sent", "A-1.rev"));
    assert_true(r1->slot_held);
    assert_ptr_equal(s->qhead, r2);
    assert_true(s->stalled);
    assert_int_equal(pl_counter_value(s->m_refused), 3);
    assert_int_equal(log_lines_with(log, "bureau RLT stalled:"), 1);
    breaker_engine_free(e, m, log);
}

/* parse of a bureau that takes tokens only: its getToken answers ACCEPT with a token. */
static int token_parse(const pl_bureau_cfg *cfg, const pl_bureau_call *call, long http_status,
                       const char *body, size_t body_len, pl_bureau_result *res, char *errstr,
                       size_t errstr_size)
{
    two_parse(cfg, call, http_status, body, body_len, res, errstr, errstr_size);
    snprintf(res->token, sizeof res->token, "tok-1");
    return 0;
}
static const pl_bureau_ops token_ops = {
    .protocol = "RLT", .flags = PL_BUREAU_TOKENS_ONLY, .build = two_build, .parse = token_parse};

/* A request of svc whose call carries a card number (the spec's prepare: tok_prepare) to a bureau
 * that takes tokens only (token_ops: its getToken answers ACCEPT with a token), sent on its way
 * (send_request): its getToken starts on a slot of its bureau (caught: g_http_catch), or it
 * waits for one, or it is answered. */
static job *token_request(pl_engine *e, const char *rid, const pl_service *svc)
{
    job *j = partition_job(e, rid, 0, svc, false);
    j->ops = &token_ops;
    admit(e, j);
    send_request(j, NULL);
    return j;
}

static const pl_http_response answered_ok = {.outcome = PL_HTTP_OK,
                                             .status = 200,
                                             .body = "<ok/>",
                                             .body_len = 5,
                                             .error = "",
                                             .attempts = 1};

/*
 * A getToken (a bureau that takes tokens only, before a request that carries a card number) is a
 * call like any: it takes one of the bureau's slots while it is at the bureau (tokenize). So
 * getTokens that hang fill the slots, the next requests wait for one, and once the first has
 * waited PAYLINK_SLOT_WAIT_MAX_MS with none of the bureau's calls answered the bureau is
 * stalled as for hung payment calls: the waiting request answered `error`, nothing sent; a new
 * request for it answered so at once, no getToken made; another bureau's request served. The
 * getTokens timing out free their slots without an answer: the stall ends with the last of
 * them (nothing in flight, nothing waiting), the bureau still unanswered. (Before, a getToken
 * held no slot: getTokens to a hung External Payment Service formed no queue, each request sat
 * in flight until its getToken's answer wait, PAYLINK_MAX_IN_FLIGHT filled, and every other
 * bureau's requests of the worker waited behind them, the breaker blind.)
 */
static void test_hung_get_tokens_stall_their_bureau(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    spec.prepare = tok_prepare;
    pl_service ext = {.code = "RLT", .protocol = "RLT", .max_concurrent = 2, .secret_ok = true};
    pl_service cyb = {.code = "CYB", .protocol = "CYB", .max_concurrent = 1, .secret_ok = true};
    slot *s = slot_for(e, "RLT"), *o = slot_for(e, "CYB");
    g_http_catch = true;
    g_http_calls = 0;

    /* Two getTokens at the bureau, each on a slot, nothing written (they go before the mark);
     * the third request waits for a slot, its getToken not made. */
    job *t1 = token_request(e, "T-1", &ext);
    job *t2 = token_request(e, "T-2", &ext);
    assert_true(t1->tokenizing && t1->slot_held);
    assert_true(t2->tokenizing && t2->slot_held);
    assert_int_equal(s->active, 2);
    assert_int_equal(g_http_calls, 2);
    job *t3 = token_request(e, "T-3", &ext);
    assert_ptr_equal(s->qhead, t3);
    assert_int_equal(t3->state, JS_QUEUED);
    assert_int_equal(g_http_calls, 2);
    assert_int_equal(g_ncaught, 0);

    /* It waits while the getTokens have time to answer; then the bureau is stalled. */
    double formed = t3->t_queued;
    slot_check_stalls(e, formed + 9.5);
    assert_false(s->stalled);
    assert_ptr_equal(s->qhead, t3);
    slot_check_stalls(e, formed + 11);
    assert_true(s->stalled);
    assert_null(s->qhead);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_final", "T-3");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 1), "error");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 2), "SU");
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 3),
                           "not sent: bureau RLT stalled, no free connection slot for 11 s"));
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 4),
                           "\"Not sent: bureau RLT has had no free connection slot for 11 s (its "
                           "2 calls in flight have not answered); send it again under a new "
                           "request_id.\""));
    caught_free();
    assert_true(pl_gauge_value(s->m_stalled) == 1.0);
    assert_int_equal(log_lines_with(log, "bureau RLT stalled:"), 1);

    /* A new request for it: answered at once, no getToken made; another bureau's is served. */
    job *t4 = token_request(e, "T-4", &ext);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_final", "T-4");
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 3), "not sent: bureau RLT stalled"));
    assert_false(t4->in_queue);
    assert_int_equal(g_http_calls, 2);
    caught_free();
    job *c1 = partition_job(e, "C-1", 0, &cyb, false);
    c1->ops = &two_ops;
    admit(e, c1);
    send_request(c1, NULL);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", "C-1");
    assert_true(c1->slot_held);
    caught_free();
    assert_false(o->stalled);
    assert_int_equal(pl_counter_value(s->m_refused), 2);
    assert_int_equal(pl_counter_value(o->m_refused), 0);

    /* The getTokens time out: `error` (nothing was sent), their slots free without an answer;
     * the stall ends with the last of them, the bureau still unanswered. */
    on_tokenized(t1, &timed_out);
    caught_is(0, "pl_final", "T-1");
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 3), "getToken: timed out"));
    caught_free();
    assert_int_equal(s->active, 1);
    assert_true(s->stalled);
    on_tokenized(t2, &timed_out);
    caught_is(0, "pl_final", "T-2");
    caught_free();
    assert_int_equal(s->active, 0);
    assert_false(s->stalled);
    assert_true(s->unanswered);
    assert_true(pl_gauge_value(s->m_stalled) == 0.0);
    assert_int_equal(pl_counter_value(s->m_refused), 2);
    breaker_engine_free(e, m, log);
}

/*
 * A getToken holds a slot while it is at the bureau, but its answer is no answer of the
 * bureau's (on_tokenized calls no slot_answered): when only the bureau's payment calls hang,
 * getTokens that answer neither restart the breaker's clock (the bureau is judged stalled all
 * the same) nor end a stall. The request whose getToken answered keeps that slot for its own
 * call (marked sent at once, never back in the queue), stalled or not. While the bureau is
 * stalled, a request needing a getToken that finds the slots all taken is answered at once, no
 * getToken made, unless exempt (it waits, in its place); with a slot free, it takes it and its
 * getToken starts. An answer to a payment call ends the stall. (Before, each getToken answer
 * refreshed the clock and ended the stall, so the breaker never held while EXT's getToken
 * answered and its payment calls hung.)
 */
static void test_get_token_is_no_answer_of_the_bureau(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    spec.prepare = tok_prepare;
    spec.breaker_exempt = rev_exempt;
    pl_service ext = {.code = "RLT", .protocol = "RLT", .max_concurrent = 3, .secret_ok = true};
    slot *s = slot_for(e, "RLT");
    g_http_catch = true;
    g_http_calls = 0;

    /* T-1's getToken answers: its call goes on the same slot, marked sent, and hangs. */
    job *t1 = token_request(e, "T-1", &ext);
    on_tokenized(t1, &answered_ok);
    assert_string_equal(t1->pub.card_token, "tok-1");
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", "T-1");
    caught_free();
    assert_true(t1->slot_held);
    assert_int_equal(s->active, 1);
    call_start(t1); /* (its mark written: on_marked) */
    assert_int_equal(g_http_calls, 2);

    /* Two more getTokens on the other slots; the next request waits for one. */
    job *t2 = token_request(e, "T-2", &ext);
    job *t3 = token_request(e, "T-3", &ext);
    job *x1 = token_request(e, "X-1", &ext);
    assert_ptr_equal(s->qhead, x1);
    assert_int_equal(g_http_calls, 4);
    double now = now_s();
    x1->t_queued = now - 11;
    s->answered_at = now - 11; /* (its queue formed then: slot_enqueue) */

    /* T-2's getToken answers while the queue waits: no answer of the bureau's. Its call goes
     * on its slot; X-1 still waits, and the bureau is judged stalled all the same. */
    on_tokenized(t2, &answered_ok);
    assert_true(s->answered_at == now - 11);
    caught_is(0, "two_mark_sent", "T-2");
    caught_free();
    assert_ptr_equal(s->qhead, x1);
    call_start(t2);
    slot_check_stalls(e, now);
    assert_true(s->stalled);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_final", "X-1");
    caught_free();

    /* T-3's answers while the bureau is stalled: the stall goes on; its call goes on its slot. */
    on_tokenized(t3, &answered_ok);
    assert_true(s->stalled);
    assert_true(s->unanswered);
    assert_int_equal(e->n_stalled, 1);
    assert_true(pl_gauge_value(s->m_stalled) == 1.0);
    caught_is(0, "two_mark_sent", "T-3");
    caught_free();
    assert_int_equal(s->active, 3);
    call_start(t3);

    /* A request needing a getToken, the slots all taken: answered at once, no getToken made;
     * an exempt one waits. */
    int calls = g_http_calls;
    token_request(e, "T-4", &ext);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_final", "T-4");
    assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 3), "not sent: bureau RLT stalled"));
    caught_free();
    job *r1 = token_request(e, "A-1.rev", &ext);
    assert_ptr_equal(s->qhead, r1);
    assert_int_equal(g_ncaught, 0);
    assert_int_equal(g_http_calls, calls);
    assert_int_equal(pl_counter_value(s->m_refused), 2);

    /* A payment call answers: the stall is over, and the exempt request takes the slot it
     * frees, its getToken made. */
    on_http(t1, &answered_ok);
    assert_false(s->stalled);
    assert_false(s->unanswered);
    assert_int_equal(e->n_stalled, 0);
    assert_true(pl_gauge_value(s->m_stalled) == 0.0);
    assert_true(caught_has("st_store", "T-1"));
    assert_true(r1->slot_held && r1->tokenizing);
    assert_null(s->qhead);
    assert_int_equal(s->active, 3);
    assert_int_equal(g_http_calls, calls + 1);
    assert_int_equal(pl_counter_value(s->m_refused), 2);
    assert_int_equal(log_lines_with(log, "bureau RLT answers again"), 1);
    breaker_engine_free(e, m, log);
}

/*
 * The breaker's clock starts when a bureau's queue forms (slot_enqueue): a request that waited
 * for a slot a minute ago, and comes back to an empty queue (recorded by record_overdue, or
 * after waiting on another owner's row), counts from now, and so does the answer the bureau
 * gave last, kept from an earlier queue. Its slots busy on calls that answer, it is not judged
 * stalled at the next turn; it is once it has waited the bound with no answer. (Before, its old
 * t_queued and the stale answered_at stalled a healthy bureau at once.)
 */
static void test_stale_answer_does_not_stall_a_healthy_bureau(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service busy = {.code = "RLT", .protocol = "RLT", .max_concurrent = 1, .secret_ok = true};
    slot *s = slot_for(e, "RLT");
    first_call_out(e, &busy, "B-0", 0);
    double before = now_s();
    s->answered_at = before - 120;
    job *p = partition_job(e, "P-1", 0, &busy, false);
    p->ops = &two_ops;
    p->t_queued = before - 60;
    admit(e, p);
    slot_take(p);
    assert_ptr_equal(s->qhead, p);
    slot_check_stalls(e, now_s());
    assert_false(s->stalled);
    assert_ptr_equal(s->qhead, p);
    assert_int_equal(g_ncaught, 0);
    assert_true(p->t_queued >= before);
    assert_true(s->answered_at == p->t_queued);

    /* The bound passes with no answer: stalled. */
    slot_check_stalls(e, p->t_queued + 10.5);
    assert_true(s->stalled);
    caught_is(0, "pl_final", "P-1");
    breaker_engine_free(e, m, log);
}

/*
 * A stall also ends when the bureau has no call in flight and nothing waits for its slots:
 * every call that hung has ended, nothing is known to hang (slot_unstall), logged once, its
 * gauge back to 0; requests then take its free slots, and the next finding them taken queues.
 * That is no answer: the bureau stays `unanswered` (test_hung_bureau_stalls_again_after_its_
 * first_call, test_quiet_bureau_has_its_wait_again). While one of its calls is still in
 * flight, a time-out does not end it. (Before b92ad09, it stayed stalled until traffic came
 * back and one of its calls answered; before 623d028's review, its gauge stayed 1, the alert
 * firing, for as long as the bureau was idle.)
 */
static void test_stall_ends_with_nothing_in_flight(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service hung = {.code = "RLT", .protocol = "RLT", .max_concurrent = 2, .secret_ok = true};
    slot *s = slot_for(e, "RLT");
    job *h0 = first_call_out(e, &hung, "H-0", 0);
    job *h1 = first_call_out(e, &hung, "H-1", 0);
    job *x1 = waiting_job(e, "X-1", &hung);
    double now = now_s();
    x1->t_queued = now - 11;
    s->answered_at = now - 11;
    slot_check_stalls(e, now);
    assert_true(s->stalled);
    caught_free();

    on_http(h0, &timed_out);
    assert_true(s->stalled);
    assert_true(pl_gauge_value(s->m_stalled) == 1.0);
    caught_free();
    on_http(h1, &timed_out);
    assert_false(s->stalled);
    assert_int_equal(e->n_stalled, 0);
    assert_true(s->unanswered);
    assert_true(pl_gauge_value(s->m_stalled) == 0.0);
    assert_int_equal(s->active, 0);
    assert_int_equal(
        log_lines_with(log, "bureau RLT has no call in flight and none waiting: no longer stalled"),
        1);
    caught_free();

    /* Requests take its slots again, and the next queues, not answered. */
    for (int i = 0; i < 3; i++) {
        char rid[8];
        snprintf(rid, sizeof rid, "N-%d", i);
        job *n = partition_job(e, rid, 0, &hung, false);
        n->ops = &two_ops;
        slot_take(n);
        if (i < 2)
            assert_true(n->slot_held);
        else
            assert_ptr_equal(s->qhead, n);
    }
    assert_int_equal(pl_counter_value(s->m_refused), 1);
    assert_int_equal(log_lines_with(log, "no longer stalled"), 1);
    breaker_engine_free(e, m, log);
}

/* A request of svc that asks for a slot now (slot_take). */
static job *taking_job(pl_engine *e, const char *rid, const pl_service *svc)
{
    job *j = partition_job(e, rid, 0, svc, false);
    j->ops = &two_ops;
    j->pub.call.op = PL_OP_SVC_INQUIRY;
    slot_take(j);
    return j;
}

/*
 * A bureau still hung after its stall's idle end (every hung call timed out, nothing waiting,
 * paylink_bureau_stalled back to 0): the next request takes the free slot and hangs, the one
 * after it queues. That queue is judged from that first new call, not from when it formed nor
 * from the bureau's last answer: stalled once PAYLINK_SLOT_WAIT_MAX_MS has passed since the
 * first call with no answer (a queue that forms later in that time stalls it at the next turn),
 * its message counting from that call, the gauge 1 again. A request needing a getToken first,
 * its slots taken, is answered before it then too, but not while the first call still has
 * time to answer. An answer of a call that holds a slot (one warning) makes a queue judged
 * afresh again. (Before 623d028, the queue's clock restarted at each queue that formed; before
 * its review, it was the bureau's last answer, however long before, and a bureau that had
 * recovered while idle was refused at once: test_quiet_bureau_has_its_wait_again.)
 */
static void test_hung_bureau_stalls_again_after_its_first_call(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service hung = {.code = "RLT", .protocol = "RLT", .max_concurrent = 1, .secret_ok = true};
    slot *s = slot_for(e, "RLT");
    job *h0 = first_call_out(e, &hung, "H-0", 0);
    job *x1 = waiting_job(e, "X-1", &hung);
    double now = now_s();
    x1->t_queued = now - 11;
    s->answered_at = now - 11;
    slot_check_stalls(e, now);
    assert_true(s->stalled);
    assert_true(pl_gauge_value(s->m_stalled) == 1.0);
    caught_is(0, "pl_final", "X-1");
    caught_free();

    for (int cycle = 0; cycle < 2; cycle++) {
        /* Its hung call times out: nothing in flight, nothing waiting; the stall ends, but the
         * bureau has not answered. */
        on_http(h0, &timed_out);
        assert_true(caught_has("pl_unknown", cycle == 0 ? "H-0" : "C-0"));
        caught_free();
        assert_false(s->stalled);
        assert_true(s->unanswered);
        assert_true(pl_gauge_value(s->m_stalled) == 0.0);

        /* The next takes the free slot (and hangs); the one after queues... */
        char rid[8];
        snprintf(rid, sizeof rid, "C-%d", cycle);
        double before = now_s();
        h0 = taking_job(e, rid, &hung);
        assert_true(h0->slot_held);
        assert_true(s->probe_at >= before);
        caught_is(0, "two_mark_sent", rid);
        caught_free();
        h0->state = JS_CALLING;
        h0->calls = 1;
        snprintf(rid, sizeof rid, "D-%d", cycle);
        job *d = taking_job(e, rid, &hung);
        assert_ptr_equal(s->qhead, d);
        assert_int_equal(g_ncaught, 0);

        /* ... and waits while the first call has time to answer ... */
        slot_check_stalls(e, s->probe_at + 9.5);
        assert_false(s->stalled);
        assert_ptr_equal(s->qhead, d);
        assert_int_equal(g_ncaught, 0);

        /* ... and is answered once it has had PAYLINK_SLOT_WAIT_MAX_MS, counted from that call
         * (here the queue formed 10.2 s after it: at the next turn). */
        s->probe_at -= 10.2;
        d->t_queued = s->probe_at + 10.2;
        slot_check_stalls(e, now_s());
        assert_true(s->stalled);
        assert_null(s->qhead);
        caught_is(0, "pl_final", rid);
        assert_non_null(strstr(pl_db_unit_param(g_caught[0], 0, 3),
                               "not sent: bureau RLT stalled, no free connection slot for 10 s"));
        caught_free();
        assert_true(pl_gauge_value(s->m_stalled) == 1.0);
    }
    assert_int_equal(pl_counter_value(s->m_refused), 3);
    assert_int_equal(log_lines_with(log, "bureau RLT stalled:"), 1);
    assert_int_equal(log_lines_with(log, "bureau RLT stalled again"), 2);

    /* Its call times out once more; requests needing a getToken while the next hangs in the
     * slot wait for it (a getToken takes a slot as any call: tokenize) while that call has time
     * to answer, and are answered, their getTokens never made, once it has not. */
    on_http(h0, &timed_out);
    caught_free();
    assert_false(s->stalled);
    job *c2 = taking_job(e, "C-2", &hung);
    caught_free();
    c2->state = JS_CALLING;
    c2->calls = 1;
    spec.prepare = tok_prepare;
    g_tok_builds = 0;
    job *t0 = partition_job(e, "T-0", 0, &hung, false);
    t0->ops = &tok_ops;
    send_request(t0, NULL);
    job *t = partition_job(e, "T-1", 0, &hung, false);
    t->ops = &tok_ops;
    send_request(t, NULL);
    assert_ptr_equal(s->qhead, t0);
    assert_ptr_equal(s->qtail, t);
    slot_check_stalls(e, s->probe_at + 9.5);
    assert_false(s->stalled);
    assert_int_equal(g_ncaught, 0);
    s->probe_at -= 10.2;
    slot_check_stalls(e, now_s());
    assert_true(s->stalled);
    assert_int_equal(g_tok_builds, 0);
    caught_is(0, "pl_final", "T-0");
    caught_is(1, "pl_final", "T-1");
    assert_non_null(
        strstr(pl_db_unit_param(g_caught[1], 0, 3), "no free connection slot for 10 s"));
    caught_free();
    assert_int_equal(pl_counter_value(s->m_refused), 5);
    assert_int_equal(log_lines_with(log, "bureau RLT stalled again"), 3);
    spec.prepare = rs_prepare;

    /* It answers: one warning; a queue is judged afresh again. */
    inquiry_answered(c2);
    caught_free();
    assert_false(s->unanswered);
    assert_int_equal(e->n_unanswered, 0);
    assert_true(pl_gauge_value(s->m_stalled) == 0.0);
    assert_int_equal(log_lines_with(log, "bureau RLT answers again"), 1);
    s->active = 1; /* another call out */
    job *f = taking_job(e, "F-1", &hung);
    assert_ptr_equal(s->qhead, f);
    slot_check_stalls(e, now_s());
    assert_false(s->stalled);
    assert_ptr_equal(s->qhead, f);
    assert_int_equal(g_ncaught, 0);
    breaker_engine_free(e, m, log);
}

/*
 * The review's scenario: a bureau stalls at night, its hung calls time out, the stall ends with
 * no traffic (gauge 0), the bureau recovers while idle, and hours later the morning burst
 * comes: the first requests take its free slots, the next queue. They are not refused at the
 * next turn, nor is one needing a getToken refused at once: the bureau has
 * PAYLINK_SLOT_WAIT_MAX_MS from its first new call to answer, and once one answers the queue
 * goes on as for any bureau. (Before, the queue was judged from the bureau's last answer before
 * the outage and refused microseconds after the calls ahead were sent, "no free connection slot
 * for 21600 s", until one of them answered.)
 */
static void test_quiet_bureau_has_its_wait_again(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service ext = {.code = "RLT", .protocol = "RLT", .max_concurrent = 2, .secret_ok = true};
    slot *s = slot_for(e, "RLT");
    job *h0 = first_call_out(e, &ext, "H-0", 0);
    job *h1 = first_call_out(e, &ext, "H-1", 0);
    job *x1 = waiting_job(e, "X-1", &ext);
    double now = now_s();
    x1->t_queued = now - 11;
    s->answered_at = now - 11;
    slot_check_stalls(e, now);
    assert_true(s->stalled);
    caught_free();
    on_http(h0, &timed_out);
    on_http(h1, &timed_out);
    caught_free();
    assert_false(s->stalled);
    assert_true(s->unanswered);
    assert_true(pl_gauge_value(s->m_stalled) == 0.0);

    /* Six hours of nothing. */
    s->answered_at -= 21600;
    s->busy_since -= 21600;

    /* The morning burst: two take the slots, the third queues and waits. */
    job *n0 = taking_job(e, "N-0", &ext);
    job *n1 = taking_job(e, "N-1", &ext);
    assert_true(n0->slot_held);
    assert_true(n1->slot_held);
    caught_free();
    n0->state = n1->state = JS_CALLING;
    n0->calls = n1->calls = 1;
    job *n2 = taking_job(e, "N-2", &ext);
    assert_ptr_equal(s->qhead, n2);
    slot_check_stalls(e, now_s());
    assert_false(s->stalled);
    assert_ptr_equal(s->qhead, n2);
    assert_int_equal(g_ncaught, 0);

    /* One needing a getToken waits for a slot behind it, not refused either. */
    spec.prepare = tok_prepare;
    g_tok_builds = 0;
    job *t = partition_job(e, "T-1", 0, &ext, false);
    t->ops = &tok_ops;
    send_request(t, NULL);
    assert_ptr_equal(s->qtail, t);
    assert_int_equal(g_tok_builds, 0);
    assert_int_equal(g_ncaught, 0);
    spec.prepare = rs_prepare;

    /* The bureau answers: the queued requests take the slots as they free, the one needing a
     * getToken making it on its slot (its build fails here, "not built here": `error`, its
     * slot given back); nothing was refused. */
    inquiry_answered(n0);
    assert_false(s->unanswered);
    assert_int_equal(e->n_unanswered, 0);
    assert_ptr_equal(s->qhead, t);
    assert_true(n2->slot_held);
    caught_free();
    inquiry_answered(n1);
    assert_null(s->qhead);
    assert_int_equal(g_tok_builds, 1);
    assert_true(caught_has("pl_final", "T-1"));
    assert_int_equal(s->active, 1);
    caught_free();
    assert_int_equal(pl_counter_value(s->m_refused), 1); /* X-1, at night */
    assert_int_equal(log_lines_with(log, "stalled again"), 0);
    assert_true(pl_gauge_value(s->m_stalled) == 0.0);
    breaker_engine_free(e, m, log);
}

/* The authorization a reversal paylink publishes names: a paylink one by request id alone; any
 * other as the contract's manual authorization, with the number (always, "" when unknown), the
 * date of an ISO 8601 time and the amount paylink-reversal requires of one. */
static void test_reversal_of_json(void **state)
{
    (void)state;
    json_object *ref = json_object_new_object();
    const pl_reversal_of paylink = {.auth_request_id = "auth-1", .transaction_id = "T"};
    assert_int_equal(pl_reversal_of_json(&paylink, ref), 0);
    assert_string_equal(json_object_to_json_string_ext(ref, JSON_C_TO_STRING_PLAIN),
                        "{\"request_id\":\"auth-1\"}");
    json_object_put(ref);
    ref = json_object_new_object();
    const pl_reversal_of manual = {.transaction_id = "7419661750346782304095",
                                   .request_token = "Ahj",
                                   .number = "123456",
                                   .date = "2026-12-06T16:46:02Z",
                                   .amount = "43.00"};
    assert_int_equal(pl_reversal_of_json(&manual, ref), 0);
    assert_string_equal(json_object_to_json_string_ext(ref, JSON_C_TO_STRING_PLAIN),
                        "{\"transaction_id\":\"7419661750346782304095\",\"request_token\":\"Ahj\","
                        "\"number\":\"123456\",\"date\":\"2026-12-06\",\"amount\":\"43.00\"}");
    json_object_put(ref);
    ref = json_object_new_object();
    const pl_reversal_of bare = {.transaction_id = "T", .date = "2026"};
    assert_int_equal(pl_reversal_of_json(&bare, ref), 0);
    assert_string_equal(json_object_to_json_string_ext(ref, JSON_C_TO_STRING_PLAIN),
                        "{\"transaction_id\":\"T\",\"number\":\"\"}");
    json_object_put(ref);
}

/* A job of live_job's at offset off of partition p, its offset tracked (job_track). */
static job *tracked_job(pl_engine *e, const char *rid, int32_t p, int64_t off)
{
    job *j = live_job(e, rid);
    j->partition = p;
    j->offset = off;
    job_track(e, j);
    return j;
}

/*
 * A request whose offset is not after the last one taken from its partition (within one
 * assignment: the consumer was taken back) runs, its offset tracked in its place. A log
 * truncated by an unclean leader election while the request at 100 waits for its bureau
 * (librdkafka >= 2.1 seeks to where the logs diverge), 101 and 102 done, and the new log has
 * another request at 101: it runs; 100 done commits up to it, and its own completion no further
 * than the consumer has read again (102, not 103). Before, it was dropped, "read again while
 * 100 below it is in flight": 100 done committed 103, and the new request at 101 was never
 * answered. The topic recreated (a new log from 0 under a request of the old one in flight):
 * the commit goes back to 0 at once, stored and committed explicitly (librdkafka commits no
 * stored offset below the committed one), and each of the new log's requests done commits its
 * position; the old one stores nothing ahead of the new log's reading. (Before, the commit held
 * at 103 until the new log passed it: nothing stored for its requests 0..102, and a restart in
 * between resumed at 103, skipping those not done.) A partition's first position is not
 * committed explicitly (on_stats does when librdkafka holds a committed offset above it) unless
 * the consumer was taken back before it (the truncation at 101 here, and partition 4's copy of
 * 201: the group's committed offset may be above it; before, it was only stored); the
 * next one is again after an explicit commit failed. A copy of a request in flight (read twice) is
 * tracked beside it: the commit waits for both. Another partition is not touched; a negative offset
 * has no position to protect: its request runs untracked.
 */
static void test_offset_going_back_is_tracked_in_place(void **state)
{
    (void)state;
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    snprintf(e->t_request, sizeof e->t_request, "paylink.auth.request");
    assert_non_null(e->offsets = pl_offsets_new());
    g_stored_partition = -1;
    g_stored_offset = -1;
    commits_reset();
    job *a100 = tracked_job(e, "A-100", 3, 100);
    job *a101 = tracked_job(e, "A-101", 3, 101);
    job *a102 = tracked_job(e, "A-102", 3, 102);
    job *other = tracked_job(e, "A-other", 4, 200);
    job_done(a101);
    job_done(a102);
    assert_true(g_stored_offset == -1);

    /* The log truncated at 101: another request there. */
    job *b101 = tracked_job(e, "B-101", 3, 101);
    assert_true(b101->tracked);
    assert_true(a100->tracked && other->tracked);
    assert_int_equal(pl_offsets_pending(e->offsets, 3), 4);
    job_done(a100);
    assert_int_equal(g_stored_partition, 3);
    assert_true(g_stored_offset == 101);
    /* The partition's first position, taken back before it: committed explicitly (the group's
     * committed offset may be above it), and that succeeds. */
    assert_int_equal(g_ncommitted, 1);
    assert_int_equal(g_committed_partition, 3);
    assert_true(g_committed_offset == 101);
    rd_kafka_topic_partition_list_t *res = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(res, e->t_request, 3)->offset = 101;
    on_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, res, e);
    job_done(b101);
    assert_true(g_stored_offset == 102);
    job_done(tracked_job(e, "B-102", 3, 102));
    assert_true(g_stored_offset == 103);

    /* The topic recreated while the old log's 103 is in flight: a new log from 0. */
    job *c103 = tracked_job(e, "C-103", 3, 103);
    assert_int_equal(g_ncommitted, 1);
    job *n0 = tracked_job(e, "N-0", 3, 0);
    assert_true(n0->tracked && c103->tracked);
    assert_true(g_stored_offset == 0);
    assert_int_equal(g_ncommitted, 2);
    assert_int_equal(g_committed_partition, 3);
    assert_true(g_committed_offset == 0);
    job_done(n0);
    assert_true(g_stored_offset == 1);
    job_done(c103);
    assert_true(g_stored_offset == 1);
    for (int64_t off = 1; off < 103; off++) {
        job_done(tracked_job(e, "N", 3, off));
        assert_true(g_stored_offset == off + 1);
    }
    assert_true(pl_offsets_position(e->offsets, 3) == 103);
    job_done(tracked_job(e, "N-103", 3, 103));
    assert_true(g_stored_offset == 104);
    assert_int_equal(g_ncommitted, 2); /* librdkafka commits the positions after it itself */

    /* Read twice while 200 is in flight: both copies of 201 hold the commit. */
    job *d1 = tracked_job(e, "D-201", 4, 201);
    job *d2 = tracked_job(e, "D-201", 4, 201);
    assert_true(d1->tracked && d2->tracked);
    job_done(d1);
    assert_true(g_stored_offset == 104);
    job_done(other);
    assert_int_equal(g_stored_partition, 4);
    assert_true(g_stored_offset == 201);
    /* Partition 4's first position, 201 read twice before it (taken back): committed
     * explicitly too. */
    assert_int_equal(g_ncommitted, 3);
    assert_int_equal(g_committed_partition, 4);
    assert_true(g_committed_offset == 201);
    job_done(d2);
    assert_true(g_stored_offset == 202);

    /* The explicit commit of partition 3's 0 failed (its result, on_committed): the partition's
     * next position is committed explicitly again; after one that succeeded, librdkafka commits
     * the next ones. */
    res->elems[0].offset = 0;
    res->elems[0].err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    on_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, res, e);
    job_done(tracked_job(e, "N-104", 3, 104));
    assert_int_equal(g_ncommitted, 4);
    assert_int_equal(g_committed_partition, 3);
    assert_true(g_committed_offset == 105);
    res->elems[0].offset = 105;
    res->elems[0].err = RD_KAFKA_RESP_ERR_NO_ERROR;
    on_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, res, e);
    job_done(tracked_job(e, "N-105", 3, 105));
    assert_true(g_stored_offset == 106);
    assert_int_equal(g_ncommitted, 4);
    rd_kafka_topic_partition_list_destroy(res);
    commits_reset();

    /* A negative offset: untracked, the partition's tracking as it was. */
    job *neg = tracked_job(e, "B-neg", 3, -1);
    assert_false(neg->tracked);
    assert_int_equal(pl_offsets_pending(e->offsets, 3), 0);
    assert_int_equal(pl_offsets_pending(e->offsets, -1), 0);
    pl_offsets_destroy(e->offsets);
    held_engine_free(e);
}

/* A consumer event as librdkafka returns for a record it could not read (err, at partition p,
 * offset off, its words in text, which the engine may wipe), of g_given_rkt's topic. */
static rd_kafka_message_t unreadable_event(rd_kafka_resp_err_t err, int32_t p, int64_t off,
                                           char *text)
{
    rd_kafka_message_t m;
    memset(&m, 0, sizeof m);
    m.err = err;
    m.rkt = g_given_rkt;
    m.partition = p;
    m.offset = off;
    m.payload = text;
    m.len = strlen(text);
    return m;
}

/*
 * A record of the request topic librdkafka could not read (a batch it could not decompress, a
 * CRC mismatch, a record format it does not implement: a consumer error with the offset it was
 * at) is no longer skipped in silence: it takes its turn with the requests (the backlog), is
 * logged as an error and counted (paylink_consumer_unreadable_records_total, and
 * paylink_dead_letters_total), and a dead-letter copy goes with where it was, why, and no
 * payload. Its offset is tracked: a later request done before that copy is delivered commits
 * nothing past it; once delivered, both are committed. The same record fetched again
 * (librdkafka fetches a batch it could not decompress again and again) is not dead-lettered
 * twice. Any
 * other consumer event (a record too large to fetch, which is fetched again; another topic's)
 * is logged and destroyed as before, and one taken while stopping is dropped. (Before, every
 * such record was logged as a warning and destroyed; the next request's completion committed
 * past it: no reply, no dead letter, no metric.)
 */
static void test_unreadable_record_dead_lettered(void **state)
{
    (void)state;
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    e->fatal = false; /* what it produces is caught (given_producev) */
    snprintf(e->t_request, sizeof e->t_request, "paylink.auth.request");
    snprintf(e->t_dlq, sizeof e->t_dlq, "paylink.auth.request.dlq");
    e->cfg.max_in_flight = 8;
    e->max_msg = 1000000;
    g_nproduced = 0;
    assert_non_null(e->offsets = pl_offsets_new());
    pl_metrics *m = pl_metrics_new("auth");
    assert_non_null(m);
    e->m_unreadable = pl_metrics_counter(m, "u_total", "u", NULL);
    e->m_dlq = pl_metrics_counter(m, "d_total", "d", NULL);
    g_given_destroyed = 0;
    g_stored_offset = -1;

    char words[] = "Decompression (codec 0x4) of message at 40 of 120 bytes failed: Local: Invalid "
                   "compressed data";
    rd_kafka_message_t bad = unreadable_event(RD_KAFKA_RESP_ERR__BAD_COMPRESSION, 2, 40, words);
    consumed(e, &bad);
    assert_int_equal(e->b_len, 1); /* in its turn */
    start_backlog(e);
    assert_int_equal(g_given_destroyed, 1);
    assert_int_equal(e->n_live, 1);
    job *j = e->live;
    assert_true(j->tracked);
    assert_int_equal(j->state, JS_PUBLISHING);
    assert_int_equal(j->pending_dr, 1);
    assert_int_equal(pl_counter_value(e->m_unreadable), 1);
    assert_int_equal(pl_counter_value(e->m_dlq), 1);
    /* Its dead letter, and nothing else: where it was, why, no payload. */
    assert_int_equal(g_nproduced, 1);
    assert_string_equal(g_produced[0].topic, "paylink.auth.request.dlq");
    json_object *env = json_tokener_parse(g_produced[0].value), *v;
    assert_non_null(env);
    assert_true(json_object_object_get_ex(env, "kind", &v));
    assert_string_equal(json_object_get_string(v), "unreadable");
    assert_false(json_object_object_get_ex(env, "answered", &v));
    assert_true(json_object_object_get_ex(env, "topic", &v));
    assert_string_equal(json_object_get_string(v), "paylink.auth.request");
    assert_true(json_object_object_get_ex(env, "partition", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_true(json_object_object_get_ex(env, "offset", &v));
    assert_int_equal(json_object_get_int64(v), 40);
    assert_true(json_object_object_get_ex(env, "error", &v));
    assert_non_null(strstr(json_object_get_string(v), "_BAD_COMPRESSION"));
    assert_non_null(strstr(json_object_get_string(v), "Decompression (codec 0x4)"));
    assert_true(json_object_object_get_ex(env, "request", &v));
    assert_string_equal(json_object_get_string(v), "");
    assert_true(json_object_object_get_ex(env, "redacted", &v));
    assert_false(json_object_get_boolean(v));
    json_object_put(env);
    produced_free();

    /* The same record fetched again: logged, not dead-lettered again; and not at each fetch
     * (librdkafka fetches it again and again): at the 1st, 10th and 100th time, with the count.
     * (Before, a warning at each.) */
    FILE *log = tmpfile();
    assert_non_null(log);
    pl_log_init("auth", log);
    for (int k = 0; k < 120; k++) {
        char again_words[] = "Decompression (codec 0x4) of message at 40 failed";
        rd_kafka_message_t again =
            unreadable_event(RD_KAFKA_RESP_ERR__BAD_COMPRESSION, 2, 40, again_words);
        consumed(e, &again);
        start_backlog(e);
    }
    pl_log_init("auth", NULL);
    assert_int_equal(log_lines_with(log, "fetched again"), 3);
    assert_int_equal(log_lines_with(log, "fetched again, 1 time(s)"), 1);
    assert_int_equal(log_lines_with(log, "fetched again, 10 time(s)"), 1);
    assert_int_equal(log_lines_with(log, "fetched again, 100 time(s)"), 1);
    fclose(log);
    assert_int_equal(g_given_destroyed, 121);
    assert_int_equal(g_nproduced, 0);
    assert_int_equal(e->n_live, 1);
    assert_int_equal(pl_counter_value(e->m_unreadable), 1);
    assert_int_equal(pl_counter_value(e->m_dlq), 1);
    /* A later request done first: nothing committed past the record. */
    job *later = live_job(e, "G-41");
    later->partition = 2;
    later->offset = 41;
    job_track(e, later);
    assert_true(later->tracked);
    job_done(later);
    assert_true(g_stored_offset == -1);
    /* Its dead letter delivered (on_delivery): both offsets committed. */
    j->pending_dr--;
    job_done(j);
    assert_int_equal(g_stored_partition, 2);
    assert_true(g_stored_offset == 42);
    assert_int_equal(e->n_live, 0);

    /* A CRC mismatch and an unknown record format are such records too. */
    char crc_words[] = "MessageSet at offset 50 (80 bytes) failed CRC32C check";
    rd_kafka_message_t crc = unreadable_event(RD_KAFKA_RESP_ERR__BAD_MSG, 2, 50, crc_words);
    char magic_words[] = "Unsupported Message(Set) MagicByte 7 at offset 51";
    rd_kafka_message_t magic =
        unreadable_event(RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED, 2, 51, magic_words);
    consumed(e, &crc);
    consumed(e, &magic);
    start_backlog(e);
    assert_int_equal(e->n_live, 2);
    assert_int_equal(pl_counter_value(e->m_unreadable), 3);
    assert_int_equal(g_nproduced, 2);
    produced_free();

    /* Other events: destroyed, nothing started. */
    int destroyed = g_given_destroyed;
    char big_words[] = "Message at offset 60 might be too large to fetch";
    rd_kafka_message_t big =
        unreadable_event(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 2, 60, big_words);
    consumed(e, &big);
    char other_words[] = "failed CRC32C check";
    rd_kafka_message_t other = unreadable_event(RD_KAFKA_RESP_ERR__BAD_MSG, 2, 61, other_words);
    g_given_topic = "another.topic";
    consumed(e, &other);
    g_given_topic = "paylink.auth.request";
    char none_words[] = "at 62";
    rd_kafka_message_t none = unreadable_event(RD_KAFKA_RESP_ERR__BAD_MSG, 2, -1, none_words);
    consumed(e, &none);
    /* Stopping: dropped, to be read again after the restart. */
    e->stopping = true;
    char late_words[] = "failed CRC32C check";
    rd_kafka_message_t late = unreadable_event(RD_KAFKA_RESP_ERR__BAD_MSG, 2, 63, late_words);
    consumed(e, &late);
    e->stopping = false;
    assert_int_equal(g_given_destroyed, destroyed + 4);
    assert_int_equal(e->b_len, 0);
    assert_int_equal(pl_counter_value(e->m_unreadable), 3);
    assert_int_equal(g_nproduced, 0);
    pl_offsets_destroy(e->offsets);
    free(e->backlog);
    held_engine_free(e);
    pl_metrics_destroy(m);
}

/* The dead letter job j produced (the first message produced to the dead-letter topic), as an
 * object the caller puts; its kind and answered (NULL when none) checked. */
static void dead_letter_is(const char *kind, const char *answered)
{
    json_object *env = NULL, *v;
    for (int i = 0; i < g_nproduced && !env; i++)
        if (strcmp(g_produced[i].topic, "t.dlq") == 0)
            env = json_tokener_parse(g_produced[i].value);
    assert_non_null(env);
    assert_true(json_object_object_get_ex(env, "kind", &v));
    assert_string_equal(json_object_get_string(v), kind);
    if (answered) {
        assert_true(json_object_object_get_ex(env, "answered", &v));
        assert_string_equal(json_object_get_string(v), answered);
    } else {
        assert_false(json_object_object_get_ex(env, "answered", &v));
    }
    json_object_put(env);
    produced_free();
}

/*
 * Every dead letter says what it is ("kind") and a request given up how it was answered
 * ("answered": `error`, nothing can have reached the bureau; `timeout`, its outcome unknown),
 * for paylinkctl dlq to read instead of the words of its "error", which may change: refused by
 * validation (invalid), a request_id reused (conflict), a reply that could never be published
 * (unpublished), a request given up (given_up), a record that could not be read (unreadable,
 * test_unreadable_record_dead_lettered).
 */
static void test_dead_letters_say_their_kind(void **state)
{
    (void)state;
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    e->fatal = false;
    snprintf(e->t_dlq, sizeof e->t_dlq, "t.dlq");
    e->max_msg = 1000000;
    g_nproduced = 0;

    job *j = held_job(e, "K-1");
    pl_errors errs = {0};
    pl_errors_add(&errs, "currency", "must be an ISO 4217 alpha-3 code");
    publish_invalid(j, &errs, errs.e[0].error, PL_DLQ_KIND_INVALID);
    dead_letter_is("invalid", NULL);

    j = held_job(e, "K-2");
    conflict(j);
    dead_letter_is("conflict", NULL);

    j = held_job(e, "K-3");
    j->state = JS_PUBLISHING;
    j->pending_dr = 1;
    static const char reply[] = "{\"v\": 1, \"status\": \"approved\"}";
    publish_failed(e, j, e->t_reply, "1-O1", 4, reply, strlen(reply),
                   RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    dead_letter_is("unpublished", NULL);

    /* Given up: `error` when nothing can have reached the bureau, else `timeout`. */
    j = held_job(e, "K-4");
    j->state = JS_RECORDING;
    job_fail(j, "the database refused it", true);
    dead_letter_is("given_up", "error");
    j = held_job(e, "K-5");
    j->state = JS_CALLING;
    j->unknown_tried = true; /* (finish_unknown's write failed too) */
    job_fail(j, "its row never settled", false);
    dead_letter_is("given_up", "timeout");
    held_engine_free(e);
}

/* A bureau with OAuth (as the External Payment Service): its calls go with a bearer token. */
static const pl_bureau_ops oauth_ops = {
    .protocol = "RLT", .flags = PL_BUREAU_OAUTH, .build = two_build, .parse = two_parse};

/* A job of first_call_out's to a bureau with OAuth whose row is marked sent (attempt "t/1") and
 * whose call waits for the bureau's access token (call_start, with_token), holding its slot. */
static job *token_wait_job(pl_engine *e, const pl_service *svc, const char *rid)
{
    job *j = first_call_out(e, svc, rid, 0);
    j->ops = &oauth_ops;
    j->calls = 0;
    assert_int_equal(two_build(NULL, &j->pub.call, job_msg(j), NULL, 0), 0);
    j->bearer = calloc(1, BEARER_MAX);
    assert_non_null(j->bearer);
    j->after_token = call_go;
    j->oauth_waiting = true;
    return j;
}

/* touch_key of a spec whose mark claims on another row (a capture's authorization). */
static void claiming_touch_key(const pl_job *job, char *out, size_t outsize)
{
    (void)job;
    snprintf(out, outsize, "auth:A-1");
}

static const pl_http_response answered_401 = {
    .outcome = PL_HTTP_OK, .status = 401, .body = "", .body_len = 0, .error = "", .attempts = 1};

/* The unit caught last is the job's pl_unmark of attempt "t/1", the job unmarking, its slot
 * free; its write done, the job is given up. */
static void given_back_unsent(pl_engine *e, job *j, const slot *s, int calls_before)
{
    assert_int_equal(g_http_calls, calls_before); /* nothing sent */
    assert_int_equal(g_ncaught, 1);
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 0), "pl_unmark");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 0), j->pub.req.request_id);
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 1), "t/1");
    assert_int_equal(j->state, JS_UNMARKING);
    assert_false(j->slot_held);
    assert_int_equal(s->active, 0);
    size_t live = e->n_live;
    on_given_back(j, 0, NULL, g_caught[0]);
    pl_db_unit_free(g_caught[0]);
    g_ncaught = 0;
    assert_int_equal(e->n_live, live - 1);
}

/*
 * A call that waited for its bureau's access token (OAuth, the External Payment Service), or
 * that the bureau answered 401 (not processed) and that would go again with a new token, does not
 * start once a stop is asked (a SIGTERM, also during a revoke drain) or its partition is being
 * left (revoked, or the assignment lost), as no other call does then: its row, marked 'sent' by
 * the job's attempt, goes back to 'received' (pl_unmark) and the request is given up for
 * redelivery, nothing sent. A getToken waiting so is not made (its row is 'received' still): the
 * request is given up, nothing written. Before, both went, with their whole answer wait ahead:
 * the drain gave up on them, the row left 'sent', a required response for an operator and a hold
 * nobody knew of. So is a call whose mark may have claimed something (spec->touch_key names a
 * row): pl_unmark releases its claim with the row (078). Without a stop or a revoke, the call
 * goes once its token comes.
 */
static void test_no_call_after_a_token_wait_once_stopping(void **state)
{
    (void)state;
    pl_spec spec = {
        .worker = "svc", .table = "svc_trans", .map = two_map, .mark_sent = two_mark_sent};
    pl_service ext = {.code = "RLT", .protocol = "RLT", .max_concurrent = 4, .secret_ok = true};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    slot *s = slot_for(e, "RLT");
    g_catch = true;
    g_http_catch = true;
    g_http_calls = 0;
    g_ncaught = 0;
    static const char bearer[] = "Authorization: Bearer tok";

    /* 2: a stop asked (g_stop, during a revoke drain); 1: stopping; 0: its partition revoked. */
    for (int why = 2; why >= 0; why--) {
        g_stop = why == 2;
        e->stopping = why == 1;
        /* Its token comes. */
        job *j = token_wait_job(e, &ext, "O-token");
        j->leaving = why == 0;
        on_token(j, bearer, 1, NULL, false);
        given_back_unsent(e, j, s, 0);
        /* Its call was answered 401: not sent again. */
        j = token_wait_job(e, &ext, "O-401");
        j->leaving = why == 0;
        j->calls = 1;
        j->state = JS_CALLING;
        on_http(j, &answered_401);
        given_back_unsent(e, j, s, 0);
        /* A getToken waiting for its token: not made, nothing written. */
        j = token_wait_job(e, &ext, "O-gettoken");
        j->leaving = why == 0;
        j->tokenizing = true;
        j->after_token = tokenize_go;
        size_t live = e->n_live;
        on_token(j, bearer, 1, NULL, false);
        assert_int_equal(e->n_live, live - 1);
        assert_int_equal(g_ncaught, 0);
        assert_int_equal(g_http_calls, 0);
        assert_int_equal(s->active, 0);
    }
    g_stop = 0;

    /* The assignment lost, its revoke not served yet: given back too. */
    e->stopping = false;
    e->consumer = g_lost_consumer;
    g_assignment_lost = true;
    job *j = token_wait_job(e, &ext, "O-lost");
    on_token(j, bearer, 1, NULL, false);
    given_back_unsent(e, j, s, 0);
    g_assignment_lost = false;
    e->consumer = NULL;

    /* A mark that may have claimed something (a capture's amount on its authorization): given
     * back as well, after its token wait and after a 401, for pl_unmark releases the claim with
     * the row (078; tests/integration/test_unmark_claims.c). Before, it was sent. */
    e->stopping = true;
    spec.touch_key = claiming_touch_key;
    j = token_wait_job(e, &ext, "O-claim");
    on_token(j, bearer, 1, NULL, false);
    given_back_unsent(e, j, s, 0);
    j = token_wait_job(e, &ext, "O-claim-401");
    j->calls = 1;
    j->state = JS_CALLING;
    on_http(j, &answered_401);
    given_back_unsent(e, j, s, 0);
    spec.touch_key = NULL;
    e->stopping = false;

    /* Neither: the call goes with its token. */
    j = token_wait_job(e, &ext, "O-on");
    on_token(j, bearer, 1, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_int_equal(j->state, JS_CALLING);
    assert_true(j->slot_held);
    assert_string_equal(j->bearer, bearer);
    assert_int_equal(g_ncaught, 0);
    g_http_catch = false;
    g_catch = false;
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/* A row as pl_lookup reads it back, `status` (no reply), marked by attempt sent_by sent_age
 * seconds ago. */
static PGresult *looked_up_sent(const char *status, const char *sent_by, const char *sent_age)
{
    PGresult *r = looked_up(status, NULL, false);
    assert_int_equal(PQsetvalue(r, 0, 4, (char *)sent_age, (int)strlen(sent_age)), 1);
    assert_int_equal(PQsetvalue(r, 0, 5, (char *)sent_by, (int)strlen(sent_by)), 1);
    return r;
}

/*
 * A redelivery that waited for another owner's 'sent' row past that owner's deadline makes the
 * row unknown only while that owner still has it (pl_unknown's 14th parameter, the owner's
 * attempt: PL_ENGINE_SQL_UNKNOWN; tests/integration/test_unmark_claims.c runs it). Should the
 * owner have given its call back between the last read and the write (pl_unmark at a stop, a
 * revoke, a token wait, a 401: the row 'received', never sent), the write changes nothing, the
 * row is read again and the request recorded and sent as any never sent, a failure of it still
 * left to the resolver (unknown_tried cleared). Before, the write took any open row: a call that
 * never went became a required response and the order system was told `timeout`; and
 * paylink_required_responses_total counted it, as it counted any such write that changed
 * nothing (it counts a write that opened one). A job's own call that timed out, and a request
 * given up (job_fail), make any open row unknown, as before.
 */
static void test_unknown_only_while_the_owner_still_has_it(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    assert_non_null(e->m_required = pl_metrics_counter(m, "r_total", "r", NULL));
    pl_service own = {.code = "RLT",
                      .protocol = "RLT",
                      .response_time_ms = 1000,
                      .connect_attempts = 1,
                      .max_concurrent = 2,
                      .secret_ok = true};
    g_http_catch = true;
    g_http_calls = 0;
    g_marks = 0;
    job *j = partition_job(e, "G-1", 0, &own, false);
    j->ops = &two_ops;
    size_t live = e->n_live;

    /* Its owner (attempt "other/1") marked it an hour ago: presumed gone. */
    j->state = JS_CHECKING;
    g_result = looked_up_sent("sent", "other/1", "3600");
    on_checked(j, 0, NULL, NULL);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_unknown", "G-1");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 11), "sent_not_answered");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 13), "other/1");
    caught_free();

    /* The owner gave its call back first: the write changed nothing, the row is read again. */
    g_result = no_row_written();
    on_written(j, 0, NULL, NULL);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_lookup", "G-1");
    caught_free();
    assert_int_equal(pl_counter_value(e->m_required), 0);
    /* Found 'received': recorded again (the spec's look-ups, the row read back), not failed,
     * nothing published. */
    g_result = looked_up("received", NULL, false);
    on_checked(j, 0, NULL, NULL);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "st_record", "G-1");
    assert_string_equal(pl_db_unit_stmt(g_caught[0], 1), "pl_lookup");
    assert_int_equal(j->state, JS_RECORDING);
    assert_int_equal(j->rounds, 1);
    assert_false(j->unknown_tried);
    assert_int_equal(e->n_live, live);
    /* Still 'received' as that unit reads it: marked and sent under an attempt of its own. */
    recorded_as(j, no_row_written(), looked_up("received", NULL, false));
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", "G-1");
    assert_int_equal(g_marks, 1);
    assert_int_equal(j->state, JS_MARKING);
    caught_free();

    /* Its own call's timeout: any open row (its bytes may have left: never sent again). */
    job *c = first_call_out(e, &own, "G-2", 0);
    pl_http_response timeout = {.outcome = PL_HTTP_TIMEOUT, .error = "timed out", .attempts = 1};
    on_http(c, &timeout);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_unknown", "G-2");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 11), "timeout");
    assert_null(pl_db_unit_param(g_caught[0], 0, 13));
    caught_free();
    /* Its write changed the row: a required response opened, counted (its reply then left to a
     * re-read: the write took past the owner's window). */
    c->rr_since = now_s() - RR_OWNER_WINDOW_S - 1.0;
    g_result = written_row();
    on_written(c, 0, NULL, NULL);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(pl_counter_value(e->m_required), 1);
    caught_free();
    /* A request given up: any open row. */
    job *f = held_job(e, "G-3");
    f->state = JS_CALLING;
    job_fail(f, "its row never settled", false);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_unknown", "G-3");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 11), "not_finished");
    assert_null(pl_db_unit_param(g_caught[0], 0, 13));
    breaker_engine_free(e, m, log);
}

/*
 * A job waiting for its bureau's access token (OAuth) when a stop is asked, or its partition is
 * being left, is given back at once (token_waits_given_back: a call's row, 'sent' by its
 * attempt, back to 'received' with pl_unmark; a getToken's not made, nothing written), while
 * the database units still run; and a call marked as the stop came starts no token wait
 * (with_token). Before, it waited for its token through the drain, and one still waiting at
 * teardown had its wait cancelled (on_token) and was abandoned with its row 'sent': its
 * redelivery made a call never sent a required response. Jobs of partitions kept wait on.
 */
static void test_token_waits_given_back_at_a_stop(void **state)
{
    (void)state;
    pl_spec spec = {
        .worker = "svc", .table = "svc_trans", .map = two_map, .mark_sent = two_mark_sent};
    pl_service ext = {.code = "RLT", .protocol = "RLT", .max_concurrent = 8, .secret_ok = true};
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->spec = &spec;
    slot *s = slot_for(e, "RLT");
    g_catch = true;
    g_http_catch = true;
    g_oauth_catch = true;
    g_http_calls = 0;
    g_ncaught = 0;

    /* A stop: the call waiting is given back, the getToken waiting given up. */
    job *call = token_wait_job(e, &ext, "T-call");
    job *gettoken = token_wait_job(e, &ext, "T-gettoken");
    gettoken->tokenizing = true;
    gettoken->after_token = tokenize_go;
    e->stopping = true;
    size_t live = e->n_live;
    token_waits_given_back(e, NULL);
    assert_int_equal(e->n_live, live - 1); /* the getToken's job */
    assert_false(call->oauth_waiting);
    given_back_unsent(e, call, s, 0);
    assert_int_equal(e->n_live, 0);

    /* A call marked as the stop came (on_marked, call_start): no token wait starts. */
    job *late = token_wait_job(e, &ext, "T-late");
    late->oauth_waiting = false;
    int gets = g_oauth_gets;
    call_start(late);
    assert_int_equal(g_oauth_gets, gets + 1); /* (its token not cached) */
    assert_false(late->oauth_waiting);
    given_back_unsent(e, late, s, 0);
    e->stopping = false;

    /* A revoke: the waits of its partitions' jobs given back, the others wait on. */
    job *left = token_wait_job(e, &ext, "T-left");
    left->partition = 1;
    job *kept = token_wait_job(e, &ext, "T-kept");
    kept->partition = 2;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "paylink.auth.request", 1);
    leave_partitions(e, parts);
    token_waits_given_back(e, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    assert_true(kept->oauth_waiting);
    assert_int_equal(kept->state, JS_CALLING);
    assert_true(kept->slot_held);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_unmark", "T-left");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 1), "t/1");
    assert_int_equal(left->state, JS_UNMARKING);
    assert_false(left->slot_held);
    assert_int_equal(s->active, 1);
    caught_free();
    assert_int_equal(g_http_calls, 0);
    g_oauth_catch = false;
    g_http_catch = false;
    g_catch = false;
    kept->oauth_waiting = false; /* (its wait is the test's: no token cache here) */
    while (e->live)
        job_abandon(e->live);
    free(e);
}

/* The configuration a refresh brings (refresh_take, as the refresher thread leaves it): rows. */
static void refreshed_to(pl_engine *e, const pl_service *rows, size_t n)
{
    e->ref.rr_open = -1; /* (no required responses counted: no gauge to set) */
    assert_non_null(e->ref.fresh = pl_services_of(rows, n));
    refresh_take(e);
    assert_null(e->ref.fresh);
}

/* Caught unit i is the pl_final of request rid: `error`, SU, nothing sent, for `why`. */
static void answered_error(int i, const char *rid, const char *why)
{
    caught_is(i, "pl_final", rid);
    assert_string_equal(pl_db_unit_param(g_caught[i], 0, 1), "error");
    assert_string_equal(pl_db_unit_param(g_caught[i], 0, 2), "SU");
    assert_string_equal(pl_db_unit_param(g_caught[i], 0, 3), why);
}

/*
 * A configuration refresh that makes a bureau unusable (its External Service flag switched off,
 * its secret unreadable under a changed reference: secret_ok false) answers the requests that
 * have not left for it as a new request is answered — `error`, the bureau's outage code, the
 * current reason, nothing sent — wherever their calls would start: waiting for a slot (at the
 * refresh itself, though the slots are all taken; one waiting unrecorded is recorded first and
 * answered on its row), being recorded (prepare_call), its getToken answered (slot_take), its
 * getToken waiting for an access token (tokenize_go). A call already marked sent is left to
 * finish, and the next call of a request whose first call went still goes, by its own settings.
 * (Before, every request admitted before the refresh was still sent, with the old address and
 * credentials: the operator who switched a bureau off watched its backlog go out for minutes.)
 */
static void test_a_refresh_making_a_bureau_unusable_answers_what_waits(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    spec.next_call = two_next_call;
    pl_service own = {.code = "RLT",
                      .protocol = "RLT",
                      .url = "https://old.example/",
                      .max_concurrent = 3,
                      .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&own, 1));
    slot *s = slot_for(e, "RLT");
    g_http_catch = true;
    g_http_calls = 0;
    g_marks = 0;
    static const char bearer[] = "Authorization: Bearer tok";

    /* The three slots taken: a call marked sent (the first of two), a getToken at the bureau, a
     * getToken waiting for its access token. Three requests wait, one of them unrecorded. */
    job *sent = first_call_out(e, &own, "S-1", 0);
    spec.prepare = tok_prepare;
    job *tok = token_request(e, "T-1", &own);
    assert_true(tok->tokenizing && tok->slot_held);
    assert_int_equal(g_http_calls, 1);
    job *oauth = token_wait_job(e, &own, "A-1");
    oauth->tokenizing = true;
    oauth->after_token = tokenize_go;
    assert_int_equal(s->active, 3);
    waiting_job(e, "W-1", &own);
    waiting_job(e, "W-2", &own);
    job *unrec = waiting_job(e, "U-1", &own);
    unrec->unrecorded = true;
    e->n_unrecorded++;
    unrec->due = now_s() + 1;
    assert_int_equal(e->n_queued, 3);
    assert_int_equal(g_ncaught, 0);

    /* The operator switches it off. */
    pl_service off = own;
    off.secret_ok = false;
    snprintf(off.secret_error, sizeof off.secret_error,
             "RLT: the External Service flag is off (external_service.enabled)");
    const char *why = "bureau secret unavailable: RLT: the External Service flag is off "
                      "(external_service.enabled)";
    refreshed_to(e, &off, 1);
    assert_int_equal(g_ncaught, 3);
    answered_error(0, "W-1", why);
    answered_error(1, "W-2", why);
    caught_is(2, "st_record", "U-1");
    assert_null(s->qhead);
    assert_int_equal(e->n_queued, 0);
    assert_int_equal(e->n_unrecorded, 0);
    assert_int_equal(s->active, 3);
    assert_int_equal(g_marks, 0);
    assert_int_equal(g_http_calls, 1);
    assert_int_equal(log_lines_with(log, "bureau RLT is unusable, its requests are refused"), 1);

    /* The unrecorded one, recorded ('received'), is answered on its row. */
    spec.prepare = rs_prepare;
    g_result = written_row();
    pl_db_unit *recorded = g_caught[2];
    g_caught[2] = NULL;
    g_ncaught = 2;
    caught_free();
    on_recorded(unrec, 0, NULL, recorded);
    pl_db_unit_free(recorded);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(g_ncaught, 1);
    answered_error(0, "U-1", why);
    caught_free();

    /* The getToken answers: its call is not marked nor sent; its slot is free. */
    on_tokenized(tok, &answered_ok);
    assert_int_equal(g_ncaught, 1);
    answered_error(0, "T-1", why);
    caught_free();
    assert_false(tok->slot_held);
    assert_int_equal(s->active, 2);
    /* The access token comes for the other getToken: not made. */
    on_token(oauth, bearer, 1, NULL, false);
    assert_int_equal(g_ncaught, 1);
    answered_error(0, "A-1", why);
    caught_free();
    assert_false(oauth->slot_held);
    assert_int_equal(s->active, 1);
    assert_int_equal(g_marks, 0);
    assert_int_equal(g_http_calls, 1);

    /* A request consumed before the refresh and admitted after it (it waited behind another
     * copy, or in the backlog), a slot free: not recorded already marked sent (record_sent),
     * but recorded and answered on its row (prepare_call). */
    spec.prepare_alone = counting_prepare_alone;
    spec.record_sent = rs_record_sent;
    job *late = partition_job(e, "L-1", 0, &own, false);
    late->ops = &two_ops;
    job_admit(e, late);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "st_record", "L-1");
    g_result = written_row();
    recorded = g_caught[0];
    g_ncaught = 0;
    on_recorded(late, 0, NULL, recorded);
    pl_db_unit_free(recorded);
    PQclear(g_result);
    g_result = NULL;
    assert_int_equal(g_ncaught, 1);
    answered_error(0, "L-1", why);
    caught_free();
    assert_int_equal(s->active, 1);

    /* The call already sent is answered; its request's next call goes, where the first went. */
    inquiry_answered(sent);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", "S-1");
    g_result = written_row();
    on_marked(sent, 0, NULL, g_caught[0]);
    PQclear(g_result);
    g_result = NULL;
    caught_free();
    assert_int_equal(g_http_calls, 2);
    assert_string_equal(g_http_url, "https://old.example/");
    assert_int_equal(sent->state, JS_CALLING);
    assert_true(sent->slot_held);

    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/*
 * A request of a bureau that authenticates by OAuth token (the External Payment Service) that
 * waits for a slot while the bureau's password changes (the provider revoked the old one, the
 * operator set the new one's reference) asks for its access token with the new password: its
 * message carries no secret, only the token request does. (Before, it kept the password it
 * arrived with: every waiting request asked with the revoked one and was answered `error`, "no
 * OAuth access token", and each of those token requests threw away the cached token made with
 * the new one.)
 */
static void test_a_waiting_oauth_request_takes_the_new_password(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service own = {.code = "EXT",
                      .protocol = "EXT",
                      .url = "https://ext.example/",
                      .ext_token_url = "https://ext.example/oauth/token",
                      .ext_auth_user = "paylink",
                      .secret = "0ld-Pass!word",
                      .max_concurrent = 1,
                      .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&own, 1));
    slot *s = slot_for(e, "EXT");
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;

    job *held = first_call_out(e, &own, "H-1", 0);
    job *w = waiting_job(e, "W-1", &own);
    w->ops = &oauth_ops;
    pl_service now = own;
    snprintf(now.secret, sizeof now.secret, "N3w-Pass!word");
    refreshed_to(e, &now, 1);
    assert_ptr_equal(s->qhead, w); /* still waiting: its slot is taken */
    assert_int_equal(g_ncaught, 0);

    /* The call before it ends: it is marked sent, then asks for its access token. */
    slot_release(held);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", "W-1");
    g_result = written_row();
    on_marked(w, 0, NULL, g_caught[0]);
    PQclear(g_result);
    g_result = NULL;
    caught_free();
    assert_int_equal(g_oauth_gets, 1);
    assert_string_equal(g_oauth_secret, "N3w-Pass!word");
    assert_string_equal(g_oauth_token_url, "https://ext.example/oauth/token");
    assert_true(w->oauth_waiting);

    /* Its token comes: the call goes. */
    on_token(w, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_int_equal(w->state, JS_CALLING);

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/* A recorded request of bureau `code` of the configuration e holds now, waiting for its slot
 * (waiting_job), with ops, its merchant ID resolved (pl_job_resolve_call, company 1, entity
 * "E1", pay type "VI") and then, when `follow` is not NULL, set to the one of the transaction it
 * follows (pl_job_follow_merchant). */
static job *merchant_job(pl_engine *e, const char *rid, const char *code, const pl_bureau_ops *ops,
                         const char *follow)
{
    const pl_service *svc = pl_services_find(e->services, code);
    assert_non_null(svc);
    job *j = waiting_job(e, rid, svc);
    j->ops = ops;
    j->pub.services = pl_services_ref(e->services);
    j->pub.req.company = 1;
    snprintf(j->pub.req.entity, sizeof j->pub.req.entity, "E1");
    pl_job_resolve_call(&j->pub, "VI");
    if (follow)
        pl_job_follow_merchant(&j->pub, follow);
    return j;
}

/* The call before job w (first_call_out's `held`) ends: w takes the slot, its row is marked
 * sent, and it asks for its access token (OAuth) or is sent. */
static void slot_passes_to(job *held, job *w)
{
    slot_release(held);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", w->pub.req.request_id);
    g_result = written_row();
    on_marked(w, 0, NULL, g_caught[0]);
    PQclear(g_result);
    g_result = NULL;
    caught_free();
}

/*
 * An operator takes the External Payment Service live (OAuth: its URL, token URL, client,
 * password and merchant ID in one change) while requests wait for a slot. A waiting request
 * says the merchant ID it arrived with; it goes with the settings that merchant ID is of, all
 * of them: its URL, its token URL, its client and password, and a token cache entry of their
 * own, not the bureau code's (whose token is the live client's). A request that arrives after
 * the change goes live, all of it. A password change alone (the merchant ID the same) is taken
 * by the waiting requests (test_a_waiting_oauth_request_takes_the_new_password). Before, the
 * waiting request asked the live client's token and went to the live URL with the test merchant
 * ID: a merchant ID of one environment or merchant with another's credentials.
 */
static void test_a_refresh_moving_the_merchant_keeps_a_waiting_request_on_one_account(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service test = {.code = "EXT",
                       .protocol = "EXT",
                       .merchant_id = "test-merchant",
                       .url = "https://test.ext.example/",
                       .ext_token_url = "https://test.ext.example/oauth/token",
                       .ext_auth_user = "paylink-test",
                       .secret = "T3st-Pass!word",
                       .max_concurrent = 1,
                       .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&test, 1));
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;

    job *held = first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    job *w = merchant_job(e, "W-1", "EXT", &oauth_ops, NULL);
    assert_string_equal(w->pub.merchant_id, "test-merchant");
    pl_service live = test;
    snprintf(live.merchant_id, sizeof live.merchant_id, "live-merchant");
    snprintf(live.url, sizeof live.url, "https://live.ext.example/");
    snprintf(live.ext_token_url, sizeof live.ext_token_url, "https://live.ext.example/oauth/token");
    snprintf(live.ext_auth_user, sizeof live.ext_auth_user, "paylink-live");
    snprintf(live.secret, sizeof live.secret, "L1ve-Pass!word");
    refreshed_to(e, &live, 1);
    assert_int_equal(g_ncaught, 0);

    /* Its slot comes: the test merchant's token, from the test client, cached apart. */
    slot_passes_to(held, w);
    assert_int_equal(g_oauth_gets, 1);
    assert_string_equal(g_oauth_token_url, "https://test.ext.example/oauth/token");
    assert_string_equal(g_oauth_client_id, "paylink-test");
    assert_string_equal(g_oauth_secret, "T3st-Pass!word");
    assert_string_not_equal(g_oauth_key, "EXT");
    /* A refresh while it waits for its token changes nothing of that. */
    refreshed_to(e, &live, 1);
    on_token(w, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_string_equal(g_http_url, "https://test.ext.example/");
    assert_string_equal(w->pub.call.merchant_id, "test-merchant");

    /* A request that arrives after the change: live, all of it, under the bureau code. */
    job *n = merchant_job(e, "N-1", "EXT", &oauth_ops, NULL);
    assert_string_equal(n->pub.merchant_id, "live-merchant");
    slot_passes_to(w, n);
    assert_int_equal(g_oauth_gets, 2);
    assert_string_equal(g_oauth_token_url, "https://live.ext.example/oauth/token");
    assert_string_equal(g_oauth_client_id, "paylink-live");
    assert_string_equal(g_oauth_secret, "L1ve-Pass!word");
    assert_string_equal(g_oauth_key, "EXT");
    on_token(n, "Authorization: Bearer tok2", 2, NULL, false);
    assert_int_equal(g_http_calls, 2);
    assert_string_equal(g_http_url, "https://live.ext.example/");
    assert_string_equal(n->pub.call.merchant_id, "live-merchant");

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/*
 * A call on a transaction already sent (the reversal or capture of an authorization:
 * pl_job_follow_merchant) says the merchant ID that transaction was sent with, whatever a
 * refresh did meanwhile, and goes with the settings of that merchant: a bureau with OAuth whose
 * merchant ID a refresh moved to another client, with its URL, sends a waiting reversal of an
 * authorization of the old merchant to the old URL, under that merchant, with the old client's
 * token; so does one of a merchant ID the old settings have for another entity only (a reversal
 * paylink publishes itself names none; before, it went by the new settings). One whose
 * transaction's merchant ID neither the old nor the new settings have (the change is older than
 * the request) goes by the current settings, whose client is not known to have that merchant ID:
 * said once at warn (merchant_foreign), and sent. Before merchant_moved the first went to the
 * new URL with the new client's token under the old merchant ID.
 */
static void test_a_follow_on_keeps_its_transactions_merchant_across_a_refresh(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service was = {.code = "EXT",
                      .protocol = "EXT",
                      .merchant_id = "merchant-a",
                      .url = "https://a.example/",
                      .ext_token_url = "https://a.example/oauth/token",
                      .ext_auth_user = "client-a",
                      .secret = "A-Pass!word1",
                      .max_concurrent = 1,
                      .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&was, 1));
    /* (Another entity's merchant ID at the bureau, under client-a.) */
    assert_int_equal(pl_services_add_override(e->services, 2, "OLD", "EXT", "merchant-z"), 0);
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;

    job *held = first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    job *rev = merchant_job(e, "A-1.rev", "EXT", &oauth_ops, "merchant-a");
    job *z = merchant_job(e, "Z-1.rev", "EXT", &oauth_ops, "merchant-z");
    job *old = merchant_job(e, "B-1.rev", "EXT", &oauth_ops, "merchant-0");
    pl_service now = was;
    snprintf(now.merchant_id, sizeof now.merchant_id, "merchant-b");
    snprintf(now.url, sizeof now.url, "https://b.example/");
    snprintf(now.ext_auth_user, sizeof now.ext_auth_user, "client-b");
    snprintf(now.secret, sizeof now.secret, "B-Pass!word1");
    refreshed_to(e, &now, 1);

    slot_passes_to(held, rev);
    assert_int_equal(g_oauth_gets, 1);
    assert_string_equal(g_oauth_client_id, "client-a");
    assert_string_equal(g_oauth_secret, "A-Pass!word1");
    on_token(rev, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_string_equal(g_http_url, "https://a.example/");
    assert_string_equal(rev->pub.call.merchant_id, "merchant-a");

    /* One whose transaction's merchant ID the old settings have for another entity (a reversal
     * paylink publishes itself names none): the old settings too. */
    slot_passes_to(rev, z);
    assert_int_equal(g_oauth_gets, 2);
    assert_string_equal(g_oauth_client_id, "client-a");
    on_token(z, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 2);
    assert_string_equal(g_http_url, "https://a.example/");
    assert_string_equal(z->pub.call.merchant_id, "merchant-z");

    /* merchant-0, in neither: the current settings, said once. */
    assert_int_equal(log_lines_with(log, "of the transaction this call follows"), 0);
    slot_passes_to(z, old);
    assert_int_equal(g_oauth_gets, 3);
    assert_string_equal(g_oauth_client_id, "client-b");
    assert_string_equal(g_oauth_key, "EXT");
    on_token(old, "Authorization: Bearer tok2", 2, NULL, false);
    assert_int_equal(g_http_calls, 3);
    assert_string_equal(g_http_url, "https://b.example/");
    assert_string_equal(old->pub.call.merchant_id, "merchant-0");
    assert_int_equal(log_lines_with(log, "merchant ID merchant-0, of the transaction this call "
                                         "follows, is not one the OAuth client it goes by "
                                         "(client-b) is configured with; sent as it is"),
                     1);

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/* prepare of a call on an earlier transaction (a capture, a reversal): its merchant ID resolved
 * (company 1, entity "E1", pay type "VI"), then the one its transaction was sent with, g_follow
 * (pl_job_follow_merchant). */
static const char *g_follow;
static int follow_prepare(pl_job *job, const pl_db_unit *recorded)
{
    (void)recorded;
    job->call.op = PL_OP_SVC_INQUIRY;
    job->req.company = 1;
    snprintf(job->req.entity, sizeof job->req.entity, "E1");
    pl_job_resolve_call(job, "VI");
    pl_job_follow_merchant(job, g_follow);
    return 0;
}

/* A new request of follow_prepare's to bureau EXT of the configuration e holds now (oauth_ops),
 * following g_follow, sent on its way (send_request). */
static job *follow_job(pl_engine *e, const char *rid, const char *follow)
{
    job *j = partition_job(e, rid, 0, pl_services_find(e->services, "EXT"), false);
    j->ops = &oauth_ops;
    j->pub.services = pl_services_ref(e->services);
    admit(e, j);
    g_follow = follow;
    send_request(j, NULL);
    return j;
}

/*
 * The External Payment Service went live (its client, URL and merchant IDs in one change) before
 * the capture of an authorization made in test mode arrived: the capture says the test merchant
 * ID (pl_job_follow_merchant), which no configuration shows the live client with, and the test
 * client's password is no longer known. It goes by the live settings, as before, and is said
 * once at warn, naming the bureau, the merchant ID and the client (merchant_foreign), so that an
 * operator reads why the bureau refuses it. Not refused: the row does not record its client, and
 * a capture whose merchant ID was renamed under the same client before it arrived (the same
 * account) must still go. A capture whose merchant ID the live client has anywhere in the
 * bureau's mapping (another company's entity, here) goes unsaid; so does one waiting for its
 * slot while that merchant ID is renamed under the same client (the settings it arrived with show
 * the client with it); one arriving after the rename is said.
 */
static void test_a_follow_on_its_client_lacks_the_merchant_of_is_said(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    spec.prepare = follow_prepare;
    pl_service live = {.code = "EXT",
                       .protocol = "EXT",
                       .merchant_id = "live-merchant",
                       .url = "https://live.ext.example/",
                       .ext_token_url = "https://live.ext.example/oauth/token",
                       .ext_auth_user = "paylink-live",
                       .secret = "L1ve-Pass!word",
                       .max_concurrent = 1,
                       .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&live, 1));
    assert_int_equal(pl_services_add_override(e->services, 2, "OLD", "EXT", "live-old"), 0);
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;
    g_marks = 0;
    const char *said = "of the transaction this call follows, is not one the OAuth client it "
                       "goes by (paylink-live) is configured with; sent as it is";

    /* The test-mode authorization's capture: the live settings, said once. */
    job *t = follow_job(e, "T-1.cap", "test-merchant");
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "two_mark_sent", "T-1.cap");
    g_result = written_row();
    on_marked(t, 0, NULL, g_caught[0]);
    PQclear(g_result);
    g_result = NULL;
    caught_free();
    assert_int_equal(g_oauth_gets, 1);
    assert_string_equal(g_oauth_client_id, "paylink-live");
    on_token(t, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_string_equal(g_http_url, "https://live.ext.example/");
    assert_string_equal(t->pub.call.merchant_id, "test-merchant");
    assert_int_equal(log_lines_with(log, said), 1);
    assert_int_equal(log_lines_with(log, "merchant ID test-merchant, of the transaction"), 1);

    /* One under a merchant ID the live client has: live, unsaid. */
    job *l = follow_job(e, "L-1.cap", "live-old");
    assert_int_equal(g_ncaught, 0);
    slot_passes_to(t, l);
    assert_int_equal(g_oauth_gets, 2);
    assert_string_equal(g_oauth_client_id, "paylink-live");
    assert_string_equal(g_oauth_key, "EXT");
    on_token(l, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 2);
    assert_string_equal(g_http_url, "https://live.ext.example/");
    assert_string_equal(l->pub.call.merchant_id, "live-old");
    assert_int_equal(log_lines_with(log, said), 1);

    /* Another waits for the slot; live-old is renamed live-new under the same client. */
    job *w = follow_job(e, "W-1.cap", "live-old");
    assert_int_equal(g_ncaught, 0);
    pl_service renamed = live;
    snprintf(renamed.merchant_id, sizeof renamed.merchant_id, "live-new");
    refreshed_to(e, &renamed, 1);
    /* One arriving after the rename waits too. */
    job *x = follow_job(e, "X-1.cap", "live-old");
    assert_int_equal(g_ncaught, 0);
    /* The one that waited goes, unsaid (its own settings show its client with live-old). */
    slot_passes_to(l, w);
    assert_int_equal(g_oauth_gets, 3);
    on_token(w, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 3);
    assert_string_equal(w->pub.call.merchant_id, "live-old");
    assert_int_equal(log_lines_with(log, said), 1);
    /* The one that arrived after goes too, said. */
    slot_passes_to(w, x);
    assert_int_equal(g_oauth_gets, 4);
    on_token(x, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 4);
    assert_string_equal(g_http_url, "https://live.ext.example/");
    assert_string_equal(x->pub.call.merchant_id, "live-old");
    assert_int_equal(log_lines_with(log, said), 2);
    assert_int_equal(g_marks, 4);

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/*
 * A refresh that changes a merchant ID but not the account it is of — the same OAuth client and
 * token URL, or the same key of a bureau whose messages carry it (a key the bureau's merchants
 * share) — leaves a waiting request on the current settings, as any refresh does: a later
 * password change and URL move are taken (its token asked with the current password, its call
 * to the current address), and it says the merchant ID it arrived with, the one its own order
 * data named. Before, the merchant ID change alone pinned it to all the settings it arrived
 * with: it asked for its token with the revoked password and went to the address left.
 */
static void test_a_merchant_moved_within_one_account_goes_by_the_current_settings(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service was[2] = {{.code = "EXT",
                          .protocol = "EXT",
                          .merchant_id = "m-1",
                          .url = "https://ext.example/",
                          .ext_token_url = "https://ext.example/oauth/token",
                          .ext_auth_user = "paylink",
                          .secret = "0ld-Pass!word",
                          .max_concurrent = 1,
                          .secret_ok = true},
                         {.code = "CYB",
                          .protocol = "RLT",
                          .merchant_id = "merchant-a",
                          .url = "https://a.example/",
                          .secret = "shared-key",
                          .max_concurrent = 1,
                          .secret_ok = true}};
    assert_non_null(e->services = pl_services_of(was, 2));
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;

    job *held = first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    job *w = merchant_job(e, "W-1", "EXT", &oauth_ops, NULL);
    job *cheld = first_call_out(e, pl_services_find(e->services, "CYB"), "H-2", 0);
    job *c = merchant_job(e, "C-1", "CYB", &two_ops, NULL);
    assert_string_equal(w->pub.merchant_id, "m-1");
    assert_string_equal(c->pub.merchant_id, "merchant-a");
    /* The merchant IDs change, the accounts the same. */
    pl_service now[2] = {was[0], was[1]};
    snprintf(now[0].merchant_id, sizeof now[0].merchant_id, "m-2");
    snprintf(now[1].merchant_id, sizeof now[1].merchant_id, "merchant-b");
    snprintf(now[1].url, sizeof now[1].url, "https://b.example/");
    refreshed_to(e, now, 2);
    /* Then the password is rotated and the service moves to another address. */
    snprintf(now[0].secret, sizeof now[0].secret, "N3w-Pass!word");
    snprintf(now[0].url, sizeof now[0].url, "https://standby.ext.example/");
    refreshed_to(e, now, 2);
    assert_int_equal(g_ncaught, 0);

    slot_passes_to(held, w);
    assert_int_equal(g_oauth_gets, 1);
    assert_string_equal(g_oauth_secret, "N3w-Pass!word");
    assert_string_equal(g_oauth_client_id, "paylink");
    assert_string_equal(g_oauth_key, "EXT");
    on_token(w, "Authorization: Bearer tok", 1, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_string_equal(g_http_url, "https://standby.ext.example/");
    assert_string_equal(w->pub.call.merchant_id, "m-1");

    slot_passes_to(cheld, c);
    assert_int_equal(g_http_calls, 2);
    assert_string_equal(g_http_url, "https://b.example/");
    assert_string_equal(c->pub.call.merchant_id, "merchant-a");

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/*
 * The concurrency cap is the bureau's, as its slot counter is: a refresh that raises it lets the
 * requests waiting go at once (refresh_take), those that keep the settings they arrived with too
 * — a request of the External Payment Service whose merchant went live with another client, one
 * of a bureau whose key changed. Before, a request that kept its settings kept their cap: at the
 * head of the queue it held the whole queue to it (slot_start_queued reads the head's), one call at
 * a time.
 */
static void test_a_raised_cap_lets_every_waiting_request_go(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service test[2] = {{.code = "EXT",
                           .protocol = "EXT",
                           .merchant_id = "test-merchant",
                           .url = "https://test.ext.example/",
                           .ext_token_url = "https://test.ext.example/oauth/token",
                           .ext_auth_user = "paylink-test",
                           .secret = "T3st-Pass!word",
                           .max_concurrent = 1,
                           .secret_ok = true},
                          {.code = "CYB",
                           .protocol = "RLT",
                           .url = "https://test.cyb.example/",
                           .secret = "test-key",
                           .max_concurrent = 1,
                           .secret_ok = true}};
    assert_non_null(e->services = pl_services_of(test, 2));
    slot *s = slot_for(e, "EXT");
    slot *cs = slot_for(e, "CYB");
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;

    first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    merchant_job(e, "W-1", "EXT", &oauth_ops, NULL);
    merchant_job(e, "W-2", "EXT", &oauth_ops, NULL);
    first_call_out(e, pl_services_find(e->services, "CYB"), "H-2", 0);
    waiting_job(e, "C-1", pl_services_find(e->services, "CYB"));
    assert_int_equal(e->n_queued, 3);

    /* Both go live, their caps raised to 5. */
    pl_service live[2] = {test[0], test[1]};
    snprintf(live[0].merchant_id, sizeof live[0].merchant_id, "live-merchant");
    snprintf(live[0].url, sizeof live[0].url, "https://live.ext.example/");
    snprintf(live[0].ext_token_url, sizeof live[0].ext_token_url,
             "https://live.ext.example/oauth/token");
    snprintf(live[0].ext_auth_user, sizeof live[0].ext_auth_user, "paylink-live");
    snprintf(live[0].secret, sizeof live[0].secret, "L1ve-Pass!word");
    live[0].max_concurrent = 5;
    snprintf(live[1].url, sizeof live[1].url, "https://live.cyb.example/");
    snprintf(live[1].secret, sizeof live[1].secret, "live-key");
    live[1].max_concurrent = 5;
    refreshed_to(e, live, 2);
    assert_int_equal(g_ncaught, 3);
    assert_true(caught_has("two_mark_sent", "W-1"));
    assert_true(caught_has("two_mark_sent", "W-2"));
    assert_true(caught_has("two_mark_sent", "C-1"));
    caught_free();
    assert_null(s->qhead);
    assert_null(cs->qhead);
    assert_int_equal(e->n_queued, 0);
    assert_int_equal(s->active, 3);
    assert_int_equal(cs->active, 2);

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/*
 * A 401 drops the cached token the call was sent with: the entry its token came from
 * (with_token), even when a refresh since would have the call ask under another (its merchant
 * moved to another client: it keeps the client it arrived with, apart from the bureau code's
 * entry). Before, the entry was worked out again at the 401: the other one was dropped, a good
 * token of the current client, and the refused one stayed cached for the next call to be given.
 */
static void test_a_401_drops_the_token_it_was_sent_with(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service test = {.code = "EXT",
                       .protocol = "EXT",
                       .merchant_id = "test-merchant",
                       .url = "https://test.ext.example/",
                       .ext_token_url = "https://test.ext.example/oauth/token",
                       .ext_auth_user = "paylink-test",
                       .secret = "T3st-Pass!word",
                       .max_concurrent = 1,
                       .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&test, 1));
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;
    g_oauth_dropped[0] = '\0';

    job *held = first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    job *w = merchant_job(e, "W-1", "EXT", &oauth_ops, NULL);
    slot_passes_to(held, w);
    assert_string_equal(g_oauth_key, "EXT");
    on_token(w, "Authorization: Bearer tok", 7, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_int_equal(w->state, JS_CALLING);

    /* The bureau goes live while the call is out; the call is answered 401. */
    pl_service live = test;
    snprintf(live.merchant_id, sizeof live.merchant_id, "live-merchant");
    snprintf(live.url, sizeof live.url, "https://live.ext.example/");
    snprintf(live.ext_token_url, sizeof live.ext_token_url, "https://live.ext.example/oauth/token");
    snprintf(live.ext_auth_user, sizeof live.ext_auth_user, "paylink-live");
    snprintf(live.secret, sizeof live.secret, "L1ve-Pass!word");
    refreshed_to(e, &live, 1);
    on_http(w, &answered_401);
    assert_string_equal(g_oauth_dropped, "EXT");
    assert_int_equal(g_oauth_dropped_gen, 7);
    /* Its new token: the test client's, under its own entry. */
    assert_int_equal(g_oauth_gets, 2);
    assert_string_equal(g_oauth_client_id, "paylink-test");
    assert_string_not_equal(g_oauth_key, "EXT");

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/*
 * The case a 401 may drop a wrong entry for: a request already waiting when the bureau goes live
 * (merchant ID, client and token URL in one change) keeps the test client and asks for its token
 * under an entry of its own (oauth_key), not the bureau code's, which holds the live client's
 * token. Answered 401, it drops that entry, at the generation of the token it was sent with, and
 * asks again under it. Before (the entry worked out from the bureau code at the 401), the live
 * client's good token was dropped and the refused one stayed cached for the next call.
 */
static void test_a_401_drops_the_entry_of_a_request_that_kept_its_client(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    pl_service test = {.code = "EXT",
                       .protocol = "EXT",
                       .merchant_id = "test-merchant",
                       .url = "https://test.ext.example/",
                       .ext_token_url = "https://test.ext.example/oauth/token",
                       .ext_auth_user = "paylink-test",
                       .secret = "T3st-Pass!word",
                       .max_concurrent = 1,
                       .secret_ok = true};
    assert_non_null(e->services = pl_services_of(&test, 1));
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;
    g_oauth_dropped[0] = '\0';
    const char *own = "EXT paylink-test@https://test.ext.example/oauth/token";

    job *held = first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    job *w = merchant_job(e, "W-1", "EXT", &oauth_ops, NULL);
    /* The bureau goes live while the request waits for its slot. */
    pl_service live = test;
    snprintf(live.merchant_id, sizeof live.merchant_id, "live-merchant");
    snprintf(live.url, sizeof live.url, "https://live.ext.example/");
    snprintf(live.ext_token_url, sizeof live.ext_token_url, "https://live.ext.example/oauth/token");
    snprintf(live.ext_auth_user, sizeof live.ext_auth_user, "paylink-live");
    snprintf(live.secret, sizeof live.secret, "L1ve-Pass!word");
    refreshed_to(e, &live, 1);

    slot_passes_to(held, w);
    assert_int_equal(g_oauth_gets, 1);
    assert_string_equal(g_oauth_key, own);
    assert_string_equal(g_oauth_client_id, "paylink-test");
    on_token(w, "Authorization: Bearer tok", 9, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_string_equal(g_http_url, "https://test.ext.example/");
    assert_string_equal(w->pub.call.merchant_id, "test-merchant");

    on_http(w, &answered_401);
    assert_string_equal(g_oauth_dropped, own);
    assert_int_equal(g_oauth_dropped_gen, 9);
    assert_int_equal(g_oauth_gets, 2);
    assert_string_equal(g_oauth_key, own);
    assert_string_equal(g_oauth_client_id, "paylink-test");
    on_token(w, "Authorization: Bearer tok2", 10, NULL, false);
    assert_int_equal(g_http_calls, 2);
    assert_string_equal(g_http_url, "https://test.ext.example/");

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/* The settings of the two-refresh tests below: A, with merchant m-1, client client-a and its
 * own URL and token URL; B, the same merchant under client-b at another address; B2, B with the
 * merchant renumbered m-2. */
static const pl_service g_acct_a = {.code = "EXT",
                                    .protocol = "EXT",
                                    .merchant_id = "m-1",
                                    .url = "https://a.example/",
                                    .ext_token_url = "https://a.example/oauth/token",
                                    .ext_auth_user = "client-a",
                                    .secret = "A-Pass!word1",
                                    .max_concurrent = 1,
                                    .secret_ok = true};

static pl_service acct_b(const char *merchant_id)
{
    pl_service b = g_acct_a;
    snprintf(b.merchant_id, sizeof b.merchant_id, "%s", merchant_id);
    snprintf(b.url, sizeof b.url, "https://b.example/");
    snprintf(b.ext_token_url, sizeof b.ext_token_url, "https://b.example/oauth/token");
    snprintf(b.ext_auth_user, sizeof b.ext_auth_user, "client-b");
    snprintf(b.secret, sizeof b.secret, "B-Pass!word1");
    return b;
}

/*
 * A call's token and the settings it is sent with are one OAuth client's, however the
 * configuration changes while the token is fetched. A request waits on A; a refresh gives its
 * merchant another client, B (the merchant ID the same: it goes by B, its token asked of B under
 * the bureau code); a second refresh, while that token is fetched, renumbers the merchant under
 * B (now the request goes by A again: merchant_moved). The token of B comes: not sent with it;
 * a token of A is fetched, under A's own entry, and the call goes to A's URL with it. Before, B's
 * token went to A's URL with A's merchant ID.
 */
static void test_a_token_fetched_across_two_refreshes_is_of_the_client_sent_with(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    assert_non_null(e->services = pl_services_of(&g_acct_a, 1));
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;

    job *held = first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    job *w = merchant_job(e, "W-1", "EXT", &oauth_ops, NULL);
    pl_service b = acct_b("m-1");
    refreshed_to(e, &b, 1);
    slot_passes_to(held, w);
    assert_int_equal(g_oauth_gets, 1);
    assert_string_equal(g_oauth_client_id, "client-b");
    assert_string_equal(g_oauth_key, "EXT");

    pl_service b2 = acct_b("m-2");
    refreshed_to(e, &b2, 1);
    on_token(w, "Authorization: Bearer tok-of-client-b", 1, NULL, false);
    assert_int_equal(g_http_calls, 0);
    assert_int_equal(g_oauth_gets, 2);
    assert_string_equal(g_oauth_client_id, "client-a");
    assert_string_equal(g_oauth_secret, "A-Pass!word1");
    assert_string_equal(g_oauth_token_url, "https://a.example/oauth/token");
    assert_string_equal(g_oauth_key, "EXT client-a@https://a.example/oauth/token");
    on_token(w, "Authorization: Bearer tok-of-client-a", 2, NULL, false);
    assert_int_equal(g_http_calls, 1);
    assert_string_equal(g_http_url, "https://a.example/");
    assert_string_equal(w->pub.call.merchant_id, "m-1");
    assert_string_equal(w->bearer, "Authorization: Bearer tok-of-client-a");
    assert_int_equal(g_ncaught, 0);

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/*
 * A configuration that changes the client a waiting call goes by during each of its token
 * requests (B, then A, then B, then A again) has the call ask for a token at most
 * TOKEN_REFETCH_MAX times more; then it is answered `error`, nothing sent, its slot given back.
 */
static void test_a_call_whose_client_keeps_changing_is_not_sent(void **state)
{
    (void)state;
    pl_spec spec;
    pl_metrics *m;
    FILE *log;
    pl_engine *e = breaker_engine(&spec, &m, &log);
    assert_non_null(e->services = pl_services_of(&g_acct_a, 1));
    slot *s = slot_for(e, "EXT");
    g_http_catch = true;
    g_http_calls = 0;
    g_oauth_catch = true;
    g_oauth_gets = 0;

    job *held = first_call_out(e, pl_services_find(e->services, "EXT"), "H-1", 0);
    job *w = merchant_job(e, "W-1", "EXT", &oauth_ops, NULL);
    pl_service b = acct_b("m-1"), b2 = acct_b("m-2");
    refreshed_to(e, &b, 1);
    slot_passes_to(held, w);
    assert_string_equal(g_oauth_client_id, "client-b");
    for (int i = 0; i < TOKEN_REFETCH_MAX; i++) {
        refreshed_to(e, i % 2 ? &b : &b2, 1);
        on_token(w, "Authorization: Bearer tok", (unsigned)i + 1, NULL, false);
        assert_int_equal(g_oauth_gets, i + 2);
        assert_string_equal(g_oauth_client_id, i % 2 ? "client-b" : "client-a");
    }
    refreshed_to(e, TOKEN_REFETCH_MAX % 2 ? &b : &b2, 1);
    on_token(w, "Authorization: Bearer tok", TOKEN_REFETCH_MAX + 1, NULL, false);
    assert_int_equal(g_oauth_gets, TOKEN_REFETCH_MAX + 1);
    assert_int_equal(g_http_calls, 0);
    assert_int_equal(g_ncaught, 1);
    answered_error(0, "W-1", "the OAuth client changed while each access token was fetched");
    caught_free();
    assert_int_equal(s->active, 0);

    g_oauth_catch = false;
    pl_services_unref(e->services);
    e->services = NULL;
    breaker_engine_free(e, m, log);
}

/* spec->followups of the tests below: a reversal for every `rejected` reply (as paylink-auth's
 * did for a 481 when it had no answer to look at), counted. */
static int g_followups_calls;
static int reversing_followups(pl_job *job, json_object *reply)
{
    g_followups_calls++;
    json_object *st;
    if (!json_object_object_get_ex(reply, "status", &st) ||
        strcmp(json_object_get_string(st), "rejected") != 0)
        return 0;
    char rid[64];
    pl_job_derived_request_id(job->req.request_id, PL_DM_REVERSAL_SUFFIX, rid, sizeof rid);
    return pl_job_publish(job, "reversal.request", "1-O1", rid);
}

/*
 * A redelivered request is answered from its row with the follow-ups its answer stored, never
 * with follow-ups decided again from the reply: a row that stored none (NULL, as every answer
 * that decided none was stored before '[]' was written; or '[]') publishes none. Before, a NULL
 * row was decided again without the bureau's answer, and a Decision Manager 481 the original
 * rightly did not reverse (no ccAuthReply, or 203: nothing held) got a `.rev` for the whole
 * amount on its redelivery, which CyberSource refuses, and the order system a reply to a
 * reversal it never asked for. Stored follow-ups are published again as stored.
 */
static void test_replay_decides_no_followups(void **state)
{
    (void)state;
    static const char rejected[] =
        "{\"v\": 1, \"request_id\": \"D-481\", \"status\": \"rejected\", \"vendor_response\": "
        "\"481\", \"decision\": \"REJECT\", \"auth\": {\"transaction_id\": \"64000\"}}";
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    spec.followups = reversing_followups;
    snprintf(e->cfg.topic_prefix, sizeof e->cfg.topic_prefix, "paylink");
    pl_service cyb = {.code = "CYB", .protocol = "CYB", .send_reversal = true};
    g_followups_calls = 0;
    static const char *const none[] = {NULL, "[]"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        job *j = held_job(e, "D-481");
        j->pub.svc = &cyb;
        replay(j, rejected, none[i]);
        assert_int_equal(j->state, JS_PUBLISHING);
        assert_string_equal(j->outcome, "replayed");
        assert_null(j->out); /* no `.rev` */
    }
    assert_int_equal(g_followups_calls, 0);

    /* Stored: published again, as stored (and nothing decided anew). */
    job *j = held_job(e, "D-481");
    j->pub.svc = &cyb;
    replay(j, rejected,
           "[{\"topic\": \"paylink.reversal.request\", \"key\": \"1-O1\", \"payload\": "
           "\"D-481.rev\"}]");
    assert_non_null(j->out);
    assert_string_equal(j->out->topic, "paylink.reversal.request");
    assert_string_equal(j->out->payload, "D-481.rev");
    assert_null(j->out->next);
    assert_int_equal(g_followups_calls, 0);
    held_engine_free(e);
}

/* The answer of job j (first_call_out's, its call at the bureau) comes, mapped `rejected`: its
 * store's unit is caught and returned. */
static void rejecting_map(pl_job *job)
{
    job->reply->status = PL_ST_REJECTED;
}

static pl_db_unit *answer_stored(job *j)
{
    g_ncaught = 0;
    inquiry_answered(j);
    assert_int_equal(g_ncaught, 1);
    assert_int_equal(j->state, JS_STORING);
    g_ncaught = 0;
    return g_caught[0];
}

/*
 * The follow-ups decided with an answer are stored in the store's unit (pl_followups, for the
 * reply stored); none decided adds no statement (a unit of one statement merges with others,
 * db.h), the row left as the spec's store wrote it ('[]' for paylink-auth's). The engine's own
 * final answers (pl_final) record none ('[]'), and pl_followups replaces a '[]' (the store's, in
 * the same unit) but never follow-ups stored already. (A row left NULL is replayed with none:
 * test_replay_decides_no_followups.)
 */
static void test_answer_stores_its_followups_decision(void **state)
{
    (void)state;
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    spec.map = two_map;
    spec.store = st_store;
    spec.followups = reversing_followups;
    snprintf(e->cfg.topic_prefix, sizeof e->cfg.topic_prefix, "paylink");
    pl_service rlt = {.code = "RLT", .protocol = "RLT", .max_concurrent = 8, .secret_ok = true};

    /* None decided: the store alone. */
    pl_db_unit *u = answer_stored(first_call_out(e, &rlt, "F-1", 0));
    assert_int_equal(pl_db_unit_count(u), 1);
    assert_string_equal(pl_db_unit_stmt(u, 0), "st_store");
    pl_db_unit_free(u);

    /* A reversal decided: stored with the reply. */
    spec.map = rejecting_map;
    job *j = first_call_out(e, &rlt, "F-2", 0);
    u = answer_stored(j);
    assert_int_equal(pl_db_unit_count(u), 2);
    assert_string_equal(pl_db_unit_stmt(u, 1), "pl_followups");
    assert_string_equal(pl_db_unit_param(u, 1, 0), "F-2");
    assert_non_null(strstr(pl_db_unit_param(u, 1, 1), "\"payload\":\"F-2.rev\""));
    assert_string_equal(pl_db_unit_param(u, 1, 2), j->pub.reply_json);
    pl_db_unit_free(u);

    char sql[1024];
    snprintf(sql, sizeof sql, PL_ENGINE_SQL_FINAL, "t");
    assert_non_null(strstr(sql, "followups = coalesce(followups, '[]'::jsonb)"));
    snprintf(sql, sizeof sql, PL_ENGINE_SQL_FOLLOWUPS, "t");
    assert_non_null(strstr(sql, "(followups IS NULL OR followups = '[]'::jsonb)"));
    held_engine_free(e);
}

/* After a test that asks for a stop (g_stop): not asked for the tests after it, whatever
 * became of it. */
static int stop_unasked(void **state)
{
    (void)state;
    g_stop = 0;
    g_catch = false;
    return 0;
}

/*
 * A record that could not be read is tracked as a request is (job_track's way), also where the
 * tracker had refused it: at an offset going back (the topic recreated, and the consumer reset
 * to its new log) it is dead-lettered, tracked in its place, the commit goes back to it (stored,
 * and committed explicitly), and its delivery moves the commit past it but not ahead of what
 * the new log's reading has taken (not to the old log's 101 when that is done); fetched again
 * with nothing in between, it is dead-lettered once. One on a partition beyond the tracker's range
 * is dead-lettered, untracked. Before, both went to pl_offsets_add directly, which refused them: no
 * dead letter, a warning that it was "read again: dead-lettered once", and the next request's
 * completion committed past it.
 */
static void test_unreadable_record_going_back_dead_lettered(void **state)
{
    (void)state;
    pl_spec spec;
    pl_engine *e = held_engine(&spec);
    e->fatal = false; /* what it produces is caught (given_producev) */
    snprintf(e->t_request, sizeof e->t_request, "paylink.auth.request");
    snprintf(e->t_dlq, sizeof e->t_dlq, "paylink.auth.request.dlq");
    e->cfg.max_in_flight = 8;
    e->max_msg = 1000000;
    g_nproduced = 0;
    assert_non_null(e->offsets = pl_offsets_new());
    pl_metrics *m = pl_metrics_new("auth");
    assert_non_null(m);
    e->m_unreadable = pl_metrics_counter(m, "u_total", "u", NULL);
    e->m_dlq = pl_metrics_counter(m, "d_total", "d", NULL);
    g_given_destroyed = 0;
    g_stored_partition = -1;
    g_stored_offset = -1;

    commits_reset();
    job *done = tracked_job(e, "G-100", 2, 100);
    job *inflight = tracked_job(e, "G-101", 2, 101);
    job_done(done);
    assert_true(g_stored_offset == 101);
    assert_int_equal(g_ncommitted, 0);

    /* The topic recreated: the new log's first record cannot be read. */
    char words[] = "MessageSet at offset 0 (80 bytes) failed CRC32C check";
    rd_kafka_message_t bad = unreadable_event(RD_KAFKA_RESP_ERR__BAD_MSG, 2, 0, words);
    consumed(e, &bad);
    start_backlog(e);
    assert_int_equal(pl_counter_value(e->m_unreadable), 1);
    assert_int_equal(g_nproduced, 1);
    assert_string_equal(g_produced[0].topic, "paylink.auth.request.dlq");
    produced_free();
    job *j = e->live;
    assert_true(j != inflight && j->offset == 0);
    assert_true(j->tracked);
    assert_true(g_stored_offset == 0);
    assert_int_equal(g_ncommitted, 1);
    assert_true(g_committed_offset == 0);
    /* Fetched again: not dead-lettered twice. */
    char again_words[] = "MessageSet at offset 0 (80 bytes) failed CRC32C check";
    rd_kafka_message_t again = unreadable_event(RD_KAFKA_RESP_ERR__BAD_MSG, 2, 0, again_words);
    consumed(e, &again);
    start_backlog(e);
    assert_int_equal(g_nproduced, 0);
    assert_int_equal(pl_counter_value(e->m_unreadable), 1);
    assert_int_equal(e->n_live, 2);
    /* Its copy delivered: committed past it, to the new log's next record; the old log's 101
     * done moves nothing (before, the commit held at 101, above the new log). */
    j->pending_dr--;
    job_done(j);
    assert_true(g_stored_offset == 1);
    assert_true(pl_offsets_position(e->offsets, 2) == 1);
    job_done(inflight);
    assert_true(g_stored_offset == 1);
    assert_int_equal(g_ncommitted, 1);
    commits_reset();

    /* A partition beyond the tracker's range: dead-lettered all the same, untracked. */
    char far_words[] = "MessageSet at offset 7 (80 bytes) failed CRC32C check";
    rd_kafka_message_t far =
        unreadable_event(RD_KAFKA_RESP_ERR__BAD_MSG, PL_OFFSETS_MAX_PARTITION + 1, 7, far_words);
    consumed(e, &far);
    start_backlog(e);
    assert_int_equal(g_nproduced, 1);
    assert_int_equal(pl_counter_value(e->m_unreadable), 2);
    produced_free();
    assert_int_equal(e->n_live, 1);
    assert_false(e->live->tracked);
    assert_int_equal(g_given_destroyed, 3);
    pl_offsets_destroy(e->offsets);
    free(e->backlog);
    held_engine_free(e);
    pl_metrics_destroy(m);
}

/* An engine whose consumer is g_lost_consumer (on_rebalance's calls answered here), its offsets
 * tracked, partitions `parts` assigned through on_rebalance, and the group told steady since (by
 * statistics, as librdkafka's next ones would: a going-back commit goes at once); its log lines
 * in *log. */
static pl_engine *commit_engine(pl_spec *spec, FILE **log, const int32_t *parts, int n)
{
    pl_engine *e = held_engine(spec);
    snprintf(e->t_request, sizeof e->t_request, "paylink.auth.request");
    snprintf(e->cfg.brokers, sizeof e->cfg.brokers, "kafka:9092");
    snprintf(e->cfg.group, sizeof e->cfg.group, "paylink-auth");
    assert_non_null(e->offsets = pl_offsets_new());
    assert_non_null(e->stalls = pl_kafka_stalls_new());
    assert_non_null(e->assigned = rd_kafka_topic_partition_list_new(4));
    e->consumer = g_lost_consumer;
    g_assignment_lost = false;
    g_lost_after = g_lost_calls = 0;
    g_commit_hang = false;
    g_commitq_polls = 0;
    commits_reset();
    (void)given_commit; /* what the engine called for the revoke's commit before */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, "paylink.auth.request", parts[i]);
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, l, e);
    rd_kafka_topic_partition_list_destroy(l);
    assert_int_equal(e->assigned->cnt, n);
    char steady[] = "{\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, steady, sizeof steady - 1, e);
    assert_false(e->group_unsteady);
    assert_non_null(*log = tmpfile());
    pl_log_init("auth", *log);
    return e;
}

static void commit_engine_free(pl_engine *e, FILE *log)
{
    pl_log_init("auth", NULL);
    fclose(log);
    commits_reset();
    g_assignment_lost = false;
    g_lost_after = g_lost_calls = 0;
    g_commit_hang = false;
    for (int i = 0; i < g_nqueued; i++)
        rd_kafka_topic_partition_list_destroy(g_queued[i].res);
    g_nqueued = 0;
    e->commitq = NULL;
    partition_lists_free(e);
    pl_offsets_destroy(e->offsets);
    e->consumer = NULL;
    held_engine_free(e);
}

/* Gives an engine of commit_engine's what loop_once turns on: its pipes and an HTTP client (a
 * revoke's commit wait turns the event loop); no database, no producer (given_db_*,
 * given_poll). */
static void loop_ready(pl_engine *e)
{
    char err[256];
    assert_int_equal(make_pipe(e->cpipe), 0);
    assert_int_equal(make_pipe(e->ppipe), 0);
    assert_int_equal(make_pipe(e->rpipe), 0);
    assert_non_null(e->http = pl_http_new(NULL, 1 << 16, err, sizeof err));
}

static void loop_free(pl_engine *e)
{
    pl_http_destroy(e->http);
    e->http = NULL;
    for (int i = 0; i < 2; i++) {
        close(e->cpipe[i]);
        close(e->ppipe[i]);
        close(e->rpipe[i]);
    }
}

/* Revokes (or, lost, loses) partition p through on_rebalance. */
static void revoke_one(pl_engine *e, int32_t p, bool lost)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(l, "paylink.auth.request", p);
    g_assignment_lost = lost;
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, l, e);
    g_assignment_lost = false;
    rd_kafka_topic_partition_list_destroy(l);
}

/* The result of an explicit commit of offset off of partition p, err for it, as the event
 * loop's poll gives it to on_committed. */
static void commit_result(pl_engine *e, int32_t p, int64_t off, rd_kafka_resp_err_t err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, e->t_request, p);
    tp->offset = off;
    tp->err = err;
    on_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, l, e);
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * librdkafka's statistics showing a partition's committed offset (committed_offset, what
 * librdkafka holds as the group's) above the tracker's position: the position is committed
 * explicitly (librdkafka would not commit the positions stored below it), not again while that
 * commit is out; again once the statistics show it above after it succeeded (a retry of
 * librdkafka's automatic commit of an old log's offset landing after it), and after it failed,
 * though the partition did nothing since. A partition at its committed offset, or not assigned,
 * is not. And a partition's first position after a plain assignment is only stored, not
 * committed explicitly. Before, the statistics were not looked at (the group stayed above the
 * position: a restart or a rebalance skipped the new log's records below it), and each
 * partition's first position was committed explicitly, one commit a partition at each
 * assignment, when a second cooperative rebalance round is likely.
 */
static void test_stats_commit_a_position_below_the_committed_offset(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {0, 1};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    e->consumer = NULL; /* commit_explicitly's consumer: none here */
    job_done(tracked_job(e, "S-0", 0, 0));
    job_done(tracked_job(e, "S-500", 1, 500));
    job_done(tracked_job(e, "S-5", 2, 5)); /* tracked, not assigned (revoked meanwhile) */
    assert_true(pl_offsets_position(e->offsets, 0) == 1);
    assert_true(pl_offsets_position(e->offsets, 1) == 501);
    assert_int_equal(g_ncommitted, 0);

    char above[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                   "\"0\":{\"partition\":0,\"fetch_state\":\"active\",\"committed_offset\":50},"
                   "\"1\":{\"partition\":1,\"fetch_state\":\"active\",\"committed_offset\":501},"
                   "\"2\":{\"partition\":2,\"fetch_state\":\"none\",\"committed_offset\":90},"
                   "\"-1\":{\"partition\":-1,\"committed_offset\":-1001}}}},"
                   "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, above, sizeof above - 1, e);
    assert_int_equal(g_ncommitted, 1);
    assert_false(g_commits[0].sync);
    assert_int_equal(g_commits[0].offsets->cnt, 1);
    assert_true(commit_offset(0, 0) == 1);
    assert_int_equal(log_lines_with(log, "committing the position explicitly"), 1);
    on_stats(NULL, above, sizeof above - 1, e); /* out: not again */
    assert_int_equal(g_ncommitted, 1);

    commit_result(e, 0, 1, RD_KAFKA_RESP_ERR_NO_ERROR);
    char late[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                  "\"0\":{\"partition\":0,\"committed_offset\":10000}}}},"
                  "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, late, sizeof late - 1, e);
    assert_int_equal(g_ncommitted, 2);
    assert_true(commit_offset(1, 0) == 1);
    commit_result(e, 0, 1, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    assert_int_equal(g_ncommitted, 2);
    on_stats(NULL, late, sizeof late - 1, e);
    assert_int_equal(g_ncommitted, 3);
    assert_true(commit_offset(2, 0) == 1);
    commit_result(e, 0, 1, RD_KAFKA_RESP_ERR_NO_ERROR);
    char settled[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                     "\"0\":{\"partition\":0,\"committed_offset\":1}}}},"
                     "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, settled, sizeof settled - 1, e);
    assert_int_equal(g_ncommitted, 3);
    assert_int_equal(log_lines_with(log, "--reset-offsets"), 0);
    commit_engine_free(e, log);
}

/*
 * A revoke commits each revoked partition's position explicitly, in one synchronous request,
 * whether or not an explicit commit of it is still out: here partition 3 went back to 0 (a
 * recreated topic) and the explicit commit of that is out, its result not served (the revoke
 * drain polls no consumer), and partition 4's position is only stored. That earlier commit's
 * failure, told after the partition was forgotten, is then moot (the revoke committed after it):
 * nothing is said at error, and the partition is not tracked anew. Before, the revoke committed
 * the stored offsets (rd_kafka_commit without offsets: librdkafka leaves out one below the offset
 * it holds as committed) and only the positions whose explicit commit had failed and been told:
 * partition 3 was left at the old log's offset for its next owner, and the late failure said it
 * would be committed again.
 */
static void test_revoke_commits_positions_explicitly(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {3, 4};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    job_done(tracked_job(e, "R-200", 4, 200));
    job_done(tracked_job(e, "R-100", 3, 100));
    job *n0 = tracked_job(e, "R-new-0", 3, 0);
    assert_int_equal(g_ncommitted, 1); /* partition 3's 0 (none for the first positions) */
    assert_true(commit_offset(0, 3) == 0);
    job_done(n0);
    assert_true(pl_offsets_position(e->offsets, 3) == 1);

    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(l, "paylink.auth.request", 3);
    rd_kafka_topic_partition_list_add(l, "paylink.auth.request", 4);
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, l, e);
    rd_kafka_topic_partition_list_destroy(l);
    assert_int_equal(g_ncommitted, 2);
    assert_true(g_commits[1].sync);
    assert_int_equal(g_commits[1].offsets->cnt, 2);
    assert_true(commit_offset(1, 3) == 1);
    assert_true(commit_offset(1, 4) == 201);
    assert_true(pl_offsets_position(e->offsets, 3) == -1);
    assert_int_equal(e->assigned->cnt, 0);

    commit_result(e, 3, 0, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    assert_int_equal(log_lines_with(log, "--reset-offsets"), 0);
    assert_true(pl_offsets_position(e->offsets, 3) == -1);
    assert_int_equal(pl_offsets_pending(e->offsets, -1), 0);
    commit_engine_free(e, log);
}

/*
 * A partition lost (its session timed out) through on_rebalance: a job of it waiting for its
 * bureau's access token is given back there and then (token_waits_given_back: its row back to
 * 'received' with pl_unmark, nothing sent); a job of a partition kept waits on. Without it in
 * on_rebalance, the wait went on past the partition's loss.
 */
static void test_a_lost_partition_gives_back_its_token_waits(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {1, 2};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    pl_service ext = {.code = "RLT", .protocol = "RLT", .max_concurrent = 8, .secret_ok = true};
    slot *s = slot_for(e, "RLT");
    g_catch = true;
    g_http_catch = true;
    g_oauth_catch = true;
    g_http_calls = 0;
    g_ncaught = 0;
    job *left = token_wait_job(e, &ext, "R-left");
    left->partition = 1;
    job *kept = token_wait_job(e, &ext, "R-kept");
    kept->partition = 2;

    revoke_one(e, 1, true);
    assert_false(left->oauth_waiting);
    assert_int_equal(g_http_calls, 0);
    assert_int_equal(g_ncaught, 1);
    caught_is(0, "pl_unmark", "R-left");
    assert_string_equal(pl_db_unit_param(g_caught[0], 0, 1), "t/1");
    assert_int_equal(left->state, JS_UNMARKING);
    assert_false(left->slot_held);
    assert_true(kept->oauth_waiting);
    assert_true(kept->slot_held);
    assert_int_equal(s->active, 1);
    caught_free();
    kept->oauth_waiting = false; /* (its wait is the test's: no token cache here) */
    g_oauth_catch = false;
    g_http_catch = false;
    g_catch = false;
    while (e->live)
        job_abandon(e->live);
    commit_engine_free(e, log);
}

/*
 * What nothing here can commit any more is said at error, with the command that resets the
 * group's offset by hand: a partition lost (its session timed out: no commit can be made) while
 * the explicit commit of its position gone back was out, and that commit's failure told after;
 * a revoke whose own commit failed for a partition whose explicit commit was out. A partition
 * lost or revoked with its explicit commits settled is not (its commit failing on revoke only
 * has some records read again, said at warn). Before, a lost partition said nothing, and a
 * failure told for a partition no longer tracked said it would be committed again.
 */
static void test_uncommittable_position_says_reset(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {5, 6, 7, 8};
    pl_engine *e = commit_engine(&spec, &log, parts, 4);
    for (int32_t p = 5; p <= 8; p++)
        job_done(tracked_job(e, "U-100", p, 100));
    job *back5 = tracked_job(e, "U-5", 5, 7);
    job *back6 = tracked_job(e, "U-6", 6, 9);
    assert_int_equal(g_ncommitted, 2);

    /* Lost with its explicit commit out: said; no commit made. */
    revoke_one(e, 5, true);
    assert_int_equal(g_ncommitted, 2);
    assert_int_equal(g_ncommit_stored, 0);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:5 --reset-offsets "
                                         "--to-offset 7 --execute"),
                     1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_int_equal(log_lines_with(log, "the partition was lost"), 1);
    /* Its failure told after: said again; nothing tracked anew. */
    commit_result(e, 5, 7, RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    assert_int_equal(log_lines_with(log, "--to-offset 7 --execute"), 2);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 2);
    assert_true(pl_offsets_position(e->offsets, 5) == -1);
    /* Lost, settled: nothing said. */
    revoke_one(e, 7, true);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 2);

    /* The revoke's commit failed, the partition's explicit commit out: said. */
    g_commit_err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    revoke_one(e, 6, false);
    assert_int_equal(g_ncommitted, 3);
    assert_true(commit_offset(2, 6) == 9);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:6 --reset-offsets "
                                         "--to-offset 9 --execute"),
                     1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 3);
    /* Settled: a warning only. */
    revoke_one(e, 8, false);
    assert_int_equal(g_ncommitted, 4);
    assert_true(commit_offset(3, 8) == 101);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 3);
    assert_int_equal(log_lines_with(log, "on revoke failed"), 2);
    job_abandon(back5);
    job_abandon(back6);
    commit_engine_free(e, log);
}

/* librdkafka's own commit of offset off of partition p told (err), as the consumer's poll gives
 * it to on_unassign_committed. */
static void unassign_result(pl_engine *e, int32_t p, int64_t off, rd_kafka_resp_err_t err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, e->t_request, p);
    tp->offset = off;
    tp->err = err;
    on_unassign_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, l, e);
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * A revoke's commit failed for a partition whose explicit commit is out (its position gone
 * back): with a consumer that tells librdkafka's own commits (own_commits_told), what is said
 * waits for librdkafka's commit of the partition it unassigns (revoke_failed): taken at the
 * position, nothing at error (partition 1; its result below it, an earlier commit's, decides
 * nothing). Never told, the error with the reset command is said all the same, once:
 * REVOKE_DEFERRED_S after the failure by the clock, statistics or none (2), when the partition
 * is assigned to this consumer again (3), at the close (4).
 */
static void test_failed_revoke_commit_waits_for_librdkafkas(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {1, 2, 3, 4, 5};
    pl_engine *e = commit_engine(&spec, &log, parts, 5);
    e->own_commits_told = true;
    job *back[5];
    for (int32_t p = 1; p <= 5; p++) {
        job_done(tracked_job(e, "D-100", p, 100));
        back[p - 1] = tracked_job(e, "D-back", p, 6 + p);
    }
    g_commit_err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    double t0 = now_s(); /* partition 2's deadline is REVOKE_DEFERRED_S after it at least */
    for (int32_t p = 1; p <= 3; p++)
        revoke_one(e, p, false);
    assert_int_equal(log_lines_with(log, "librdkafka's own commit of it on unassign decides"), 3);
    /* 5: its revoke's commit told failed at the wait's end (here: its wait given up for), its
     * success coming late settles it. */
    revoke_one(e, 5, false);
    e->revoke_gave_up = e->revoke_told + 1;
    rd_kafka_topic_partition_list_t *late = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(late, "paylink.auth.request", 5)->offset = 11;
    on_revoke_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, late, e);
    rd_kafka_topic_partition_list_destroy(late);
    assert_true(!rd_kafka_topic_partition_list_find(e->revoke_deferred, "paylink.auth.request", 5));
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);

    unassign_result(e, 1, 5, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "on unassign succeeded"), 0);
    unassign_result(e, 1, 7, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "on unassign succeeded"), 1);
    unassign_result(e, 1, 7, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS); /* decided already */
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);

    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "paylink.auth.request", 3);
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, l, e);
    rd_kafka_topic_partition_list_destroy(l);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_int_equal(
        log_lines_with(log, "before the partition was assigned to this consumer again"), 1);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:3 --reset-offsets "
                                         "--to-offset 9 --execute"),
                     1);

    /* Statistics decide nothing (they can be slowed, off, or stop coming). */
    char stats[] = "{}";
    on_stats(NULL, stats, sizeof stats - 1, e);
    on_stats(NULL, stats, sizeof stats - 1, e);
    on_stats(NULL, stats, sizeof stats - 1, e);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    /* The clock does, as the event loop looks at it each turn (loop_once). */
    revoke_deferred_due(e, NULL, t0 + REVOKE_DEFERRED_S - 0.5, false);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    revoke_deferred_due(e, NULL, now_s() + REVOKE_DEFERRED_S + 1.0, false);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 2);
    assert_int_equal(log_lines_with(log, "within 10 s"), 1);
    revoke_one(e, 4, false);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:2 --reset-offsets "
                                         "--to-offset 8 --execute"),
                     1);
    say_close_leftovers(e, true);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 3);
    assert_int_equal(log_lines_with(log, "before the consumer's close ended"), 1);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:4 --reset-offsets "
                                         "--to-offset 10 --execute"),
                     1);
    assert_true(!e->revoke_deferred || e->revoke_deferred->cnt == 0);
    job_abandon(back[0]);
    job_abandon(back[1]);
    job_abandon(back[2]);
    job_abandon(back[3]);
    job_abandon(back[4]);
    commit_engine_free(e, log);
}

/*
 * The topic recreated, partition 3 revoked at position 40 with its explicit commit unsettled,
 * its revoke's commit failed, librdkafka's own commit on unassign at 40 taken (said at info, the
 * deferral settled): a failure of the explicit commit told afterwards is moot (e->revoke_ok).
 * Then a retry of librdkafka's automatic commit of the old log's 1000 lands, taken: the group is
 * above the position again, said at error with the reset command to 40 (on_unassign_committed:
 * e->revoked_at). Once the partition is assigned again, a commit above is this consumer's own.
 * Before, both were silent: the next owner skipped 40 to 999.
 */
static void test_late_commit_above_the_revoked_position_says_reset(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {3};
    pl_engine *e = commit_engine(&spec, &log, parts, 1);
    e->own_commits_told = true;
    job_done(tracked_job(e, "D-1000", 3, 1000));
    job *back = tracked_job(e, "D-back", 3, 40);
    g_commit_err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    revoke_one(e, 3, false);
    assert_int_equal(log_lines_with(log, "librdkafka's own commit of it on unassign decides"), 1);
    unassign_result(e, 3, 40, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "on unassign succeeded"), 1);
    commit_result(e, 3, 40, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);

    unassign_result(e, 3, 1000, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_int_equal(log_lines_with(log, "own commit of offset 1000"), 1);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:3 --reset-offsets "
                                         "--to-offset 40 --execute"),
                     1);
    unassign_result(e, 3, 40, RD_KAFKA_RESP_ERR_NO_ERROR); /* at the position: nothing */
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);

    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "paylink.auth.request", 3);
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, l, e);
    rd_kafka_topic_partition_list_destroy(l);
    unassign_result(e, 3, 1000, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    job_abandon(back);
    commit_engine_free(e, log);
}

/*
 * A success of librdkafka's own commit of a partition still assigned is noted as the group's
 * committed offset: one above the position (an old log's commit retried late) makes the
 * position's commit unsettled at once, so that a revoke before the next statistics commits it
 * and, failing, says so (before, nothing was due and the group stayed above the position).
 */
static void test_own_commit_above_an_assigned_position_is_noted(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {3};
    pl_engine *e = commit_engine(&spec, &log, parts, 1);
    e->own_commits_told = true;
    job_done(tracked_job(e, "N-40", 3, 40));
    pl_offsets_note_committed(e->offsets, 3, 41);
    assert_false(pl_offsets_commit_unsettled(e->offsets, 3));
    unassign_result(e, 3, RD_KAFKA_OFFSET_INVALID, RD_KAFKA_RESP_ERR_NO_ERROR); /* nothing */
    assert_false(pl_offsets_commit_unsettled(e->offsets, 3));
    unassign_result(e, 3, 1001, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(pl_offsets_commit_unsettled(e->offsets, 3));
    assert_true(pl_offsets_commit_due(e->offsets, 3));
    /* A failure notes nothing. */
    unassign_result(e, 3, 41, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    assert_true(pl_offsets_commit_unsettled(e->offsets, 3));
    commit_engine_free(e, log);
}

/*
 * With an offset commit callback set, librdkafka no longer logs its own commits' failures: each
 * failed result on_unassign_committed does not say at error is said at warn, with the
 * partition, offset and error, at the 1st, 10th, 100th... and at least once an hour
 * (own_commit_failed). Nothing to commit (__NO_OFFSET) is no failure.
 */
static void test_own_commit_failure_warns_rate_limited(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {1};
    pl_engine *e = commit_engine(&spec, &log, parts, 1);
    e->own_commits_told = true;
    unassign_result(e, 1, 12, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    assert_int_equal(log_lines_with(log, "librdkafka's own offset commit failed"), 1);
    assert_int_equal(log_lines_with(log, "partition 1 of paylink.auth.request at offset 12 ("), 1);
    assert_int_equal(log_lines_with(log, rd_kafka_err2str(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)), 1);
    assert_int_equal(log_lines_with(log, "\"level\":\"warn"), 1);
    unassign_result(e, 1, 13, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT); /* the 2nd: not said */
    on_unassign_committed(NULL, RD_KAFKA_RESP_ERR__NO_OFFSET, NULL, e);
    assert_int_equal(log_lines_with(log, "librdkafka's own offset commit failed"), 1);
    e->own_fails_said -= SAY_AGAIN_S + 1.0; /* an hour on: said again, with the count */
    unassign_result(e, 1, 14, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    assert_int_equal(log_lines_with(log, "librdkafka's own offset commit failed"), 2);
    assert_int_equal(log_lines_with(log, "(3 such failure(s) so far"), 1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    commit_engine_free(e, log);
}

/*
 * A deferred revoke failure given up for by the clock (REVOKE_DEFERRED_S: said at error, with
 * the reset command) while librdkafka still held its commit on unassign for a coordinator: that
 * commit's success at the position, told later, says the error moot, once, at warn, naming the
 * partition and the offset (partition 1); an explicit commit of the position told to succeed
 * late does too (2). A success above the position is no such thing (it is the harm), one below
 * says nothing. What was said is forgotten when the partition is assigned again (3) and
 * REVOKE_SAID_KEEP_S after it was said (4); its deadline is a time of now_s()'s clock, no
 * pointer-sized count of milliseconds (which wrapped on a 32-bit build). Before, nothing
 * followed the error: the operator was left with a reset nobody needed.
 */
static void test_deferred_error_said_moot_by_a_late_success(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {1, 2, 3, 4};
    pl_engine *e = commit_engine(&spec, &log, parts, 4);
    e->own_commits_told = true;
    job *back[4];
    for (int32_t p = 1; p <= 4; p++) {
        job_done(tracked_job(e, "M-100", p, 100));
        back[p - 1] = tracked_job(e, "M-back", p, 6 + p); /* positions 7, 8, 9, 10 */
    }
    g_commit_err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    double t0 = now_s();
    for (int32_t p = 1; p <= 4; p++)
        revoke_one(e, p, false);
    assert_int_equal(e->revoke_deferred->cnt, 4);
    assert_true(elem_time(&e->revoke_deferred->elems[0]) >= t0 + REVOKE_DEFERRED_S);
    assert_true(elem_time(&e->revoke_deferred->elems[0]) <= now_s() + REVOKE_DEFERRED_S);
    double said = now_s() + REVOKE_DEFERRED_S + 1.0;
    revoke_deferred_due(e, NULL, said, false);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 4);
    assert_int_equal(log_lines_with(log, "within 10 s"), 4);

    unassign_result(e, 1, 6, RD_KAFKA_RESP_ERR_NO_ERROR); /* below: an earlier commit's */
    assert_int_equal(log_lines_with(log, "is moot"), 0);
    unassign_result(e, 1, 7, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "is moot"), 1);
    assert_int_equal(log_lines_with(log, "partition 1 of paylink.auth.request: librdkafka's own "
                                         "commit of offset 7 succeeded after the error said"),
                     1);
    assert_int_equal(log_lines_with(log, "\"level\":\"warn\",\"worker\":\"auth\",\"msg\":"
                                         "\"partition 1 of paylink.auth.request: librdkafka's"),
                     1);
    unassign_result(e, 1, 7, RD_KAFKA_RESP_ERR_NO_ERROR); /* once */
    assert_int_equal(log_lines_with(log, "is moot"), 1);

    commit_result(e, 2, 8, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "is moot"), 2);
    assert_int_equal(log_lines_with(log, "partition 2 of paylink.auth.request: an explicit commit "
                                         "of offset 8 succeeded after the error said"),
                     1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 4);
    assert_int_equal(e->revoke_said->cnt, 2);

    /* 3 assigned again: forgotten (this consumer commits it anew). */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "paylink.auth.request", 3);
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, l, e);
    rd_kafka_topic_partition_list_destroy(l);
    assert_int_equal(e->revoke_said->cnt, 1);
    /* 4: kept REVOKE_SAID_KEEP_S, then forgotten. */
    revoke_deferred_due(e, NULL, said + REVOKE_SAID_KEEP_S - 60.0, false);
    assert_int_equal(e->revoke_said->cnt, 1);
    revoke_deferred_due(e, NULL, said + REVOKE_SAID_KEEP_S + 60.0, false);
    assert_int_equal(e->revoke_said->cnt, 0);
    unassign_result(e, 4, 10, RD_KAFKA_RESP_ERR_NO_ERROR);
    unassign_result(e, 3, 9, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "is moot"), 2);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 4);
    for (int i = 0; i < 4; i++)
        job_abandon(back[i]);
    commit_engine_free(e, log);
}

/*
 * An explicit commit's success told after its partition was revoked (results come in the
 * order the commits went: it landed after the ones told before): above the position the
 * partition was revoked at (partition 3, at 41 after a second going back, the revoke's commit of
 * 41 taken), the group is above it, said at error with the reset command to 41; below it,
 * nothing; at 41 told after that, nothing either (that error stands: a success told later can
 * have landed earlier, test_error_of_a_commit_above_stands). Not while a result still to be told
 * decides: partition 4's revoke commit failed, and librdkafka's own commit on unassign, sent after,
 * decides; once that is told (taken at the position), a success above is said too. Before, every
 * late explicit success was passed over: the next owner skipped 41 to 999.
 */
static void test_late_explicit_success_above_the_revoked_position_says_reset(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {3, 4};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    e->own_commits_told = true;
    job_done(tracked_job(e, "L-1000", 3, 1000));
    job *back = tracked_job(e, "L-back", 3, 40); /* its explicit commit out */
    assert_int_equal(g_ncommitted, 1);
    job_done(back);
    assert_true(pl_offsets_position(e->offsets, 3) == 41);
    revoke_one(e, 3, false);
    assert_int_equal(g_ncommitted, 2);
    assert_true(commit_offset(1, 3) == 41);
    assert_non_null(rd_kafka_topic_partition_list_find(e->revoke_ok, "paylink.auth.request", 3));

    commit_result(e, 3, 40, RD_KAFKA_RESP_ERR_NO_ERROR); /* below: an earlier commit's */
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    commit_result(e, 3, 1000, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_int_equal(log_lines_with(log, "an explicit commit of offset 1000"), 1);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:3 --reset-offsets "
                                         "--to-offset 41 --execute"),
                     1);
    commit_result(e, 3, 41, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "is moot"), 0);

    job_done(tracked_job(e, "L-1000", 4, 1000));
    job *back4 = tracked_job(e, "L-back", 4, 40);
    g_commit_err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    revoke_one(e, 4, false);
    assert_int_equal(log_lines_with(log, "librdkafka's own commit of it on unassign decides"), 1);
    commit_result(e, 4, 1000, RD_KAFKA_RESP_ERR_NO_ERROR); /* the unassign's decides */
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    unassign_result(e, 4, 40, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "on unassign succeeded"), 1);
    commit_result(e, 4, 1000, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 2);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:4 --reset-offsets "
                                         "--to-offset 40 --execute"),
                     1);
    job_abandon(back4);
    commit_engine_free(e, log);
}

/* Partition p revoked while stopping at position pos, its revoke's commit not told yet. */
static void keep_unsettled_at(pl_engine *e, int32_t p, int64_t pos)
{
    if (!e->revoke_unsettled)
        e->revoke_unsettled = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(e->revoke_unsettled, "paylink.auth.request", p)->offset = pos;
}

/* A failed result of librdkafka's own commit naming partition p at offset off and partition q
 * (still assigned) at a logical offset, as its automatic commit's names the whole assignment. */
static void automatic_failed(pl_engine *e, int32_t p, int64_t off, int32_t q)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, e->t_request, p);
    tp->offset = off;
    tp->err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    rd_kafka_topic_partition_list_add(l, e->t_request, q)->offset = RD_KAFKA_OFFSET_INVALID;
    on_unassign_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, l, e);
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * An automatic commit of librdkafka's sent before a revoke and failing at the revoked position,
 * told after the revoke (the drain polls no consumer) and before the commit on unassign: naming
 * a partition still assigned (its list is the whole assignment; the one on unassign names the
 * partitions unassigned only), it decides no deferral (said at warn only), and the commit on
 * unassign, taken, is said at info (partition 1). Before, it was said at error with a reset
 * command nobody needed. With the whole assignment revoked the two cannot be told apart: the
 * failure decides, said at error, and the commit on unassign taken after says it moot (2).
 */
static void test_automatic_commit_failure_decides_no_deferral(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {1, 2};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    e->own_commits_told = true;
    job_done(tracked_job(e, "A-100", 1, 100));
    job_done(tracked_job(e, "A-100", 2, 100));
    job *back1 = tracked_job(e, "A-back", 1, 7);
    job *back2 = tracked_job(e, "A-back", 2, 8);
    g_commit_err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    revoke_one(e, 1, false);
    automatic_failed(e, 1, 7, 2);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    assert_int_equal(log_lines_with(log, "librdkafka's own offset commit failed"), 1);
    assert_int_equal(e->revoke_deferred->cnt, 1);
    unassign_result(e, 1, 7, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "on unassign succeeded"), 1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    /* Nor is it kept as the verdict on a partition revoked while stopping, its revoke's commit
     * still to be told (e->revoke_unsettled, as keep_unsettled leaves it). */
    keep_unsettled_at(e, 5, 30);
    automatic_failed(e, 5, 30, 2);
    assert_true(!e->unassign_told ||
                !rd_kafka_topic_partition_list_find(e->unassign_told, "paylink.auth.request", 5));

    revoke_one(e, 2, false); /* the last: nothing assigned */
    unassign_result(e, 2, 8, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_int_equal(log_lines_with(log, "on unassign failed too"), 1);
    unassign_result(e, 2, 8, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "partition 2 of paylink.auth.request: librdkafka's own "
                                         "commit of offset 8 succeeded after the error said"),
                     1);
    job_abandon(back1);
    job_abandon(back2);
    commit_engine_free(e, log);
}

/*
 * An error said for a commit landing above the position stands: no success told after it makes
 * it moot. librdkafka's own commits are told on the consumer's queue, served first at each turn
 * of the event loop, the explicit and the revoke's on e->commitq: a success told later there
 * can have landed earlier. Partition 1's position gone back to 40 (its topic recreated), its
 * explicit commit E(40) out, the revoke's R(40) failing (deferred); librdkafka's commit on
 * unassign U(40) told taken (info), then a retry of an automatic commit A(1000) of the old log,
 * landing last (error, reset to 40), then E's success, landed before A's: nothing is said moot,
 * and R's late success says the error stands. Partition 2 the same, but the error said first by
 * the clock (REVOKE_DEFERRED_S): U says that one moot (it went after R's failure, held), A's
 * error after it stands. Before, E said A's error moot ("no reset is needed") while the group
 * sat at 1000: the next owner skipped 40 to 999.
 */
static void test_error_of_a_commit_above_stands(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {1, 2, 3};
    pl_engine *e = commit_engine(&spec, &log, parts, 3);
    e->own_commits_told = true;
    job *back[2];
    for (int32_t p = 1; p <= 2; p++) {
        job_done(tracked_job(e, "X-1000", p, 1000));
        back[p - 1] = tracked_job(e, "X-back", p, 40); /* E(40) out */
    }
    g_commit_err = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
    revoke_one(e, 2, false);
    revoke_deferred_due(e, NULL, now_s() + REVOKE_DEFERRED_S + 1.0, false);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    revoke_one(e, 1, false); /* its deferral still waiting when U is told */
    assert_int_equal(e->revoke_deferred->cnt, 1);

    unassign_result(e, 1, 40, RD_KAFKA_RESP_ERR_NO_ERROR); /* U */
    assert_int_equal(log_lines_with(log, "on unassign succeeded"), 1);
    unassign_result(e, 2, 40, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "is moot"), 1);
    assert_int_equal(log_lines_with(log, "partition 2 of paylink.auth.request: librdkafka's own "
                                         "commit of offset 40 succeeded after the error said"),
                     1);
    unassign_result(e, 1, 1000, RD_KAFKA_RESP_ERR_NO_ERROR); /* A */
    unassign_result(e, 2, 1000, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 3);
    assert_int_equal(log_lines_with(log, "librdkafka's own commit of offset 1000"), 2);
    assert_int_equal(log_lines_with(log, "--to-offset 40 --execute"), 3);

    commit_result(e, 1, 40, RD_KAFKA_RESP_ERR_NO_ERROR); /* E */
    commit_result(e, 2, 40, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "is moot"), 1);
    assert_int_equal(log_lines_with(log, "no reset is needed"), 1);
    /* R's late success: the error stands. */
    e->revoke_gave_up = e->revoke_told + 1;
    rd_kafka_topic_partition_list_t *late = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(late, "paylink.auth.request", 1)->offset = 40;
    on_revoke_committed(NULL, RD_KAFKA_RESP_ERR_NO_ERROR, late, e);
    rd_kafka_topic_partition_list_destroy(late);
    assert_int_equal(log_lines_with(log, "is moot"), 1);
    assert_int_equal(log_lines_with(log, "partition 1 of paylink.auth.request: committing offset "
                                         "40 on revoke succeeded after the revoke stopped "
                                         "waiting for it (the error said for it, resetting to "
                                         "offset 40, stands)"),
                     1);
    /* Nor does a later error by a failure make it mootable again. */
    commit_result(e, 2, 40, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 4);
    unassign_result(e, 2, 40, RD_KAFKA_RESP_ERR_NO_ERROR);
    commit_result(e, 2, 40, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(log_lines_with(log, "is moot"), 1);
    assert_int_equal(e->revoke_said->cnt, 2);
    for (int i = 0; i < 2; i++)
        job_abandon(back[i]);
    commit_engine_free(e, log);
}

/* Revokes partitions parts[0..n-1] through on_rebalance (not lost). */
static void revoke_parts(pl_engine *e, const int32_t *parts, int n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, "paylink.auth.request", parts[i]);
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, l, e);
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * A revoke commits only the partitions with something new: a position other than the committed
 * offset librdkafka's statistics last showed (partition 1: 21, above 5), or an explicit commit
 * out (partition 3: its position 31 is what the statistics show now, but the commit the
 * statistics asked for earlier is not answered). A partition at its committed offset with
 * nothing out (0) has none: revoked alone it makes no round trip at all, as librdkafka's own
 * commit returned at once then. One with no position (2) none either. Before, each revoked
 * partition with a position was committed, one synchronous round trip per revoke even with
 * nothing new (one that could hold the engine for the session timeout with the broker gone).
 */
static void test_revoke_commits_only_what_is_new(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {0, 1, 2, 3};
    pl_engine *e = commit_engine(&spec, &log, parts, 4);
    job_done(tracked_job(e, "W-10", 0, 10));
    job_done(tracked_job(e, "W-20", 1, 20));
    job_done(tracked_job(e, "W-30", 3, 30));
    char stats[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                   "\"0\":{\"partition\":0,\"committed_offset\":11},"
                   "\"1\":{\"partition\":1,\"committed_offset\":5},"
                   "\"3\":{\"partition\":3,\"committed_offset\":50}}}},"
                   "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, stats, sizeof stats - 1, e);
    assert_int_equal(g_ncommitted, 1); /* partition 3's 31, below 50: out */
    assert_true(commit_offset(0, 3) == 31);
    char now[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                 "\"3\":{\"partition\":3,\"committed_offset\":31}}}},"
                 "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, now, sizeof now - 1, e);
    assert_int_equal(g_ncommitted, 1);

    revoke_one(e, 0, false);
    assert_int_equal(g_ncommitted, 1); /* nothing new: no commit */
    static const int32_t rest[] = {1, 2, 3};
    revoke_parts(e, rest, 3);
    assert_int_equal(g_ncommitted, 2);
    assert_int_equal(g_commits[1].offsets->cnt, 2);
    assert_true(commit_offset(1, 1) == 21);
    assert_true(commit_offset(1, 3) == 31);
    assert_int_equal(e->assigned->cnt, 0);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    commit_engine_free(e, log);
}

/*
 * A partition lost while the revoke drained it (its session timed out meanwhile) is not
 * committed: no commit of that generation is taken. Its explicit commit of a position gone back
 * still out, that is said at error with the command; a settled one says nothing. Before, the
 * revoke's commit went all the same (and librdkafka's reply was the lost assignment's error, or
 * none for a broker gone, after a long wait).
 */
static void test_revoke_lost_during_the_drain_commits_nothing(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {5, 6};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    job_done(tracked_job(e, "L-100", 5, 100));
    job_done(tracked_job(e, "L-200", 6, 200));
    job *back = tracked_job(e, "L-7", 5, 7);
    assert_int_equal(g_ncommitted, 1); /* partition 5's 7, out */
    g_lost_after = 1; /* on_rebalance's look: not lost; the one after the drain: lost */
    revoke_parts(e, parts, 2);
    assert_int_equal(g_ncommitted, 1);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:5 --reset-offsets "
                                         "--to-offset 7 --execute"),
                     1);
    assert_int_equal(log_lines_with(log, "while the revoke drained it"), 1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_int_equal(e->assigned->cnt, 0);
    job_abandon(back);
    commit_engine_free(e, log);
}

/*
 * A revoke's commit goes on the engine's commit queue, which the revoke then serves until its
 * result came: answered, the partition is noted committed (e->revoke_ok). Not answered within
 * the bound (the broker gone), it is told as failed: at error for a partition whose explicit
 * commit was unsettled (4: gone back to 7, that commit out), the engine going on; its result
 * coming late only says so, and the next revoke's result is its own. Before, the revoke's
 * commit was synchronous: the engine thread held in the rebalance callback, every other
 * partition's calls with it, for as long as librdkafka waited.
 */
static void test_revoke_commit_waits_a_bounded_time(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {3, 4, 5};
    pl_engine *e = commit_engine(&spec, &log, parts, 3);
    e->commitq = g_commitq;
    loop_ready(e);
    for (int32_t p = 3; p <= 5; p++)
        job_done(tracked_job(e, "Q-100", p, 100));
    job *back = tracked_job(e, "Q-7", 4, 7);
    assert_int_equal(g_ncommitted, 1);

    revoke_one(e, 3, false);
    assert_int_equal(g_ncommitted, 2);
    assert_false(g_commits[1].sync);
    assert_true(commit_offset(1, 3) == 101);
    assert_non_null(e->revoke_ok);
    assert_non_null(rd_kafka_topic_partition_list_find(e->revoke_ok, "paylink.auth.request", 3));
    assert_int_equal(g_nqueued, 0);

    g_commit_hang = true;
    revoke_one(e, 4, false);
    assert_int_equal(g_ncommitted, 3);
    assert_true(commit_offset(2, 4) == 7);
    assert_int_equal(g_nqueued, 1);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:4 --reset-offsets "
                                         "--to-offset 7 --execute"),
                     1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_null(rd_kafka_topic_partition_list_find(e->revoke_ok, "paylink.auth.request", 4));
    assert_int_equal(e->assigned->cnt, 1);

    commitq_deliver(); /* its success, late */
    assert_int_equal(log_lines_with(log, "after the revoke stopped waiting"), 1);
    assert_null(rd_kafka_topic_partition_list_find(e->revoke_ok, "paylink.auth.request", 4));
    g_commit_hang = false;
    g_commit_err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    revoke_one(e, 5, false);
    assert_int_equal(g_ncommitted, 4);
    assert_int_equal(log_lines_with(log, "on revoke failed (Broker: Group rebalance"), 1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    job_abandon(back);
    loop_free(e);
    commit_engine_free(e, log);
}

/* A call's end, as pl_http gives it: counted, its outcome kept. The broker's answer to the
 * revoke's commit, held back meanwhile (g_commit_hang), comes after it. */
static int g_calls_ended;
static pl_http_outcome g_call_outcome;
static void call_ended(void *arg, const pl_http_response *r)
{
    (void)arg;
    g_calls_ended++;
    g_call_outcome = r->outcome;
    g_commit_hang = false;
}

/*
 * While a revoke waits for its commit's answer, the partitions kept go on: the event loop turns
 * (loop_once, as in the revoke drain, consuming nothing), and the end of a call of a kept
 * partition is read (here a bureau that refuses the connection: a socket bound, not listening),
 * and a kept partition's request whose re-read of another owner's row is due re-reads it. The
 * commit's answer, coming after the call's end, ends the wait. Before, the wait polled the
 * commit queue alone, for up to REVOKE_COMMIT_WAIT_MS: nothing else ran (a call whose answer
 * waited unread ended as a timeout when its wait passed meanwhile, an outcome left unknown), and
 * here the commit was given up unanswered.
 */
static void test_revoke_commit_wait_turns_the_loop(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {1, 2};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    e->commitq = g_commitq;
    loop_ready(e);
    job_done(tracked_job(e, "K-100", 1, 100));
    job *waits = live_job(e, "K-2");
    waits->partition = 2;
    park(waits, now_s() - 1);

    int refusing = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(refusing >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof sa;
    assert_int_equal(bind(refusing, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(refusing, (struct sockaddr *)&sa, &salen), 0);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/", (unsigned)ntohs(sa.sin_port));
    pl_http_call call = {.url = url,
                         .body = "<x/>",
                         .body_len = 4,
                         .content_type = "text/xml",
                         .timeout_ms = 600000,
                         .connect_timeout_ms = 600000,
                         .connect_attempts = 1};
    g_calls_ended = 0;
    assert_int_equal(pl_http_submit(e->http, &call, call_ended, NULL), 0);
    g_ncaught = 0;
    g_commit_hang = true;

    revoke_one(e, 1, false);
    assert_int_equal(g_calls_ended, 1);
    assert_int_equal(g_call_outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(waits->state, JS_CHECKING);
    assert_int_equal(g_ncaught, 1); /* its re-read */
    assert_int_equal(g_ncommitted, 1);
    assert_true(commit_offset(0, 1) == 101);
    assert_non_null(e->revoke_ok);
    assert_non_null(rd_kafka_topic_partition_list_find(e->revoke_ok, "paylink.auth.request", 1));
    assert_int_equal(log_lines_with(log, "no answer within"), 0);
    assert_int_equal(e->assigned->cnt, 1);
    close(refusing);
    loop_free(e);
    commit_engine_free(e, log);
}

/*
 * A stop asked while a revoke waits for its commit's answer (a SIGTERM during a rolling deploy's
 * rebalance) ends the wait: the revoke goes on at once (the partition forgotten and unassigned),
 * its commit still out, and nothing is said of it yet; partition 4, whose explicit commit of a
 * position gone back is unsettled, is kept for that answer (e->revoke_unsettled), which, when
 * the stop serves it, decides as for a commit made while stopping: a success here, noted, with
 * nothing said at error nor as late. A stop asked before the commit (during the revoke's drain)
 * does not wait at all. Before, the wait went on to its bound (REVOKE_COMMIT_WAIT_MS, 10 s; here
 * 2 s), the stop acted on only then, and the commit, told as failed, said at error that the
 * group's offset might stay above 7.
 */
static void test_stop_ends_the_revoke_commit_wait(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {4, 5};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    e->commitq = g_commitq;
    loop_ready(e);
    job_done(tracked_job(e, "T-100", 4, 100));
    job_done(tracked_job(e, "T-200", 5, 200));
    job *back = tracked_job(e, "T-7", 4, 7);
    assert_int_equal(g_ncommitted, 1); /* partition 4's 7, out */

    g_commit_hang = true;
    g_stop_while_hung = true;
    revoke_one(e, 4, false);
    g_stop_while_hung = false;
    assert_true(g_stop);
    assert_int_equal(g_ncommitted, 2);
    assert_true(commit_offset(1, 4) == 7);
    assert_int_equal(g_nqueued, 1); /* its answer not come */
    assert_int_equal(e->assigned->cnt, 1);
    assert_int_equal(log_lines_with(log, "no answer within"), 0);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    assert_non_null(e->revoke_unsettled);
    const rd_kafka_topic_partition_t *kept =
        rd_kafka_topic_partition_list_find(e->revoke_unsettled, "paylink.auth.request", 4);
    assert_non_null(kept);
    assert_true(kept->offset == 7);

    commitq_deliver(); /* its success, served by the stop */
    assert_null(rd_kafka_topic_partition_list_find(e->revoke_unsettled, "paylink.auth.request", 4));
    assert_non_null(rd_kafka_topic_partition_list_find(e->revoke_ok, "paylink.auth.request", 4));
    assert_int_equal(log_lines_with(log, "after the revoke stopped waiting"), 0);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);

    /* Asked before: not waited for. */
    int polls = g_commitq_polls;
    revoke_one(e, 5, false);
    assert_int_equal(g_ncommitted, 3);
    assert_true(commit_offset(2, 5) == 201);
    assert_int_equal(g_nqueued, 1);
    assert_true(g_commitq_polls - polls <= 1); /* the earlier results', before the commit */
    assert_int_equal(log_lines_with(log, "no answer within"), 0);
    job_abandon(back);
    loop_free(e);
    commit_engine_free(e, log);
}

/*
 * librdkafka's statistics showing a committed offset above the position have it committed
 * explicitly only while the group is steady (cgrp.join_state), as librdkafka's own automatic
 * commit: during a rebalance an ILLEGAL_GENERATION answer has librdkafka 2.0.2 give up the whole
 * assignment (its issue #4059). Left owed, it is committed at the first statistics of a steady
 * group. Before, it was committed whatever the group's state.
 */
static void test_stats_commit_only_in_a_steady_group(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {0};
    pl_engine *e = commit_engine(&spec, &log, parts, 1);
    e->consumer = NULL;
    job_done(tracked_job(e, "J-0", 0, 0));
    char joining[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                     "\"0\":{\"partition\":0,\"committed_offset\":50}}}},"
                     "\"cgrp\":{\"join_state\":\"wait-sync\"}}";
    on_stats(NULL, joining, sizeof joining - 1, e);
    assert_int_equal(g_ncommitted, 0);
    char nogroup[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                     "\"0\":{\"partition\":0,\"committed_offset\":50}}}}}";
    on_stats(NULL, nogroup, sizeof nogroup - 1, e);
    assert_int_equal(g_ncommitted, 0);
    char steady[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                    "\"0\":{\"partition\":0,\"committed_offset\":50}}}},"
                    "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, steady, sizeof steady - 1, e);
    assert_int_equal(g_ncommitted, 1);
    assert_true(commit_offset(0, 0) == 1);
    commit_engine_free(e, log);
}

/*
 * Taken back below its position, a partition's position is committed explicitly at once only
 * while the group is steady as the statistics last told it (cgrp.join_state), as the commit
 * check of the statistics is: during a rebalance an ILLEGAL_GENERATION answer has librdkafka
 * 2.0.2 give up the whole assignment (its issue #4059). Told steady (after the assignment), the
 * commit goes as before. Told "wait-sync" or "wait-join", the commit is left owed, by later
 * positions too, and a document without a join state changes nothing; the first statistics
 * telling "steady" make it, once, though they show no committed offset above the position.
 * Before, the going-back commit was made whatever the group's state.
 */
static void test_going_back_commit_waits_for_a_steady_group(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {3};
    pl_engine *e = commit_engine(&spec, &log, parts, 1);
    e->consumer = NULL;
    job_done(tracked_job(e, "G-100", 3, 100));
    assert_true(g_stored_offset == 101);
    assert_int_equal(g_ncommitted, 0);

    /* Told steady: committed at once. */
    job *b50 = tracked_job(e, "G-50", 3, 50);
    assert_true(g_stored_offset == 50);
    assert_int_equal(g_ncommitted, 1);
    assert_true(commit_offset(0, 3) == 50);
    commit_result(e, 3, 50, RD_KAFKA_RESP_ERR_NO_ERROR);
    job_done(b50);
    assert_true(g_stored_offset == 51);
    assert_int_equal(g_ncommitted, 1);

    /* A rebalance under way: taken back again, the commit is left owed. */
    char syncing[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                     "\"3\":{\"partition\":3,\"committed_offset\":51}}}},"
                     "\"cgrp\":{\"join_state\":\"wait-sync\"}}";
    on_stats(NULL, syncing, sizeof syncing - 1, e);
    job *b10 = tracked_job(e, "G-10", 3, 10);
    assert_true(g_stored_offset == 10);
    assert_int_equal(g_ncommitted, 1);
    job_done(b10);
    assert_true(g_stored_offset == 11);
    assert_int_equal(g_ncommitted, 1);
    char joining[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                     "\"3\":{\"partition\":3,\"committed_offset\":-1001}}}},"
                     "\"cgrp\":{\"join_state\":\"wait-join\"}}";
    on_stats(NULL, joining, sizeof joining - 1, e);
    assert_int_equal(g_ncommitted, 1);
    char nogroup[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                     "\"3\":{\"partition\":3,\"committed_offset\":-1001}}}}}";
    on_stats(NULL, nogroup, sizeof nogroup - 1, e);
    job_done(tracked_job(e, "G-11", 3, 11));
    assert_true(g_stored_offset == 12);
    assert_int_equal(g_ncommitted, 1);
    assert_true(pl_offsets_commit_unsettled(e->offsets, 3));

    /* Steady again: the owed commit goes, once, with the position as it is now. */
    char steady[] = "{\"topics\":{\"paylink.auth.request\":{\"partitions\":{"
                    "\"3\":{\"partition\":3,\"committed_offset\":-1001}}}},"
                    "\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, steady, sizeof steady - 1, e);
    assert_int_equal(g_ncommitted, 2);
    assert_true(commit_offset(1, 3) == 12);
    assert_int_equal(log_lines_with(log, "owed since the group was rebalancing"), 1);
    on_stats(NULL, steady, sizeof steady - 1, e); /* out: not again */
    assert_int_equal(g_ncommitted, 2);
    commit_result(e, 3, 12, RD_KAFKA_RESP_ERR_NO_ERROR);
    job_done(tracked_job(e, "G-12", 3, 12));
    assert_true(g_stored_offset == 13);
    assert_int_equal(g_ncommitted, 2); /* librdkafka commits the positions after it itself */
    on_stats(NULL, steady, sizeof steady - 1, e);
    assert_int_equal(g_ncommitted, 2);
    assert_false(pl_offsets_commit_unsettled(e->offsets, 3));

    /* Steady told, taken back: committed at once again. */
    tracked_job(e, "G-5", 3, 5);
    assert_int_equal(g_ncommitted, 3);
    assert_true(commit_offset(2, 3) == 5);
    assert_int_equal(log_lines_with(log, "--reset-offsets"), 0);
    commit_engine_free(e, log);
}

/* Assigns partition p through on_rebalance. */
static void assign_one(pl_engine *e, int32_t p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "paylink.auth.request", p);
    on_rebalance(g_lost_consumer, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, l, e);
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * The rebalance callback marks a rebalance under way at once: a revoke, and an assignment, hold
 * the explicit commit of a position gone back (left owed) until statistics tell the group steady
 * again, not only statistics telling it rebalancing (up to 5 s after the rebalance began, when
 * they come). Here the statistics last told "steady"; partition 4 is revoked, and partition 3,
 * kept, is taken back below its position during the rebalance that follows: nothing is
 * committed, nor when its next position is stored, nor after the assignment that ends the
 * rebalance (librdkafka may join the group again for a second round); the first statistics
 * telling "steady" commit it. And an assignment alone holds it the same way. Before, both
 * commits went at once, during the rebalance.
 */
static void test_rebalance_holds_the_going_back_commit(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {3, 4};
    pl_engine *e = commit_engine(&spec, &log, parts, 2);
    e->consumer = NULL; /* commit_explicitly's consumer: none here */
    job_done(tracked_job(e, "B-100", 3, 100));
    assert_true(g_stored_offset == 101);

    revoke_one(e, 4, false);
    job *b50 = tracked_job(e, "B-50", 3, 50);
    assert_true(g_stored_offset == 50);
    assert_int_equal(g_ncommitted, 0);
    assert_true(pl_offsets_commit_unsettled(e->offsets, 3));
    assign_one(e, 5);
    job_done(b50);
    assert_true(g_stored_offset == 51);
    assert_int_equal(g_ncommitted, 0);
    char steady[] = "{\"cgrp\":{\"join_state\":\"steady\"}}";
    on_stats(NULL, steady, sizeof steady - 1, e);
    assert_int_equal(g_ncommitted, 1);
    assert_true(commit_offset(0, 3) == 51);
    commit_result(e, 3, 51, RD_KAFKA_RESP_ERR_NO_ERROR);

    assign_one(e, 6);
    job *b10 = tracked_job(e, "B-10", 3, 10);
    assert_true(g_stored_offset == 10);
    assert_int_equal(g_ncommitted, 1);
    on_stats(NULL, steady, sizeof steady - 1, e);
    assert_int_equal(g_ncommitted, 2);
    assert_true(commit_offset(1, 3) == 10);
    commit_result(e, 3, 10, RD_KAFKA_RESP_ERR_NO_ERROR);
    job_done(b10);
    assert_int_equal(g_ncommitted, 2);
    assert_int_equal(log_lines_with(log, "--reset-offsets"), 0);
    commit_engine_free(e, log);
}

/*
 * Stopping, the revoke's commit is not waited for (the close waits for it). An earlier explicit
 * commit's failure served after the partition was forgotten, its revoke's commit still to be
 * told, says nothing: the revoke's result decides (a success here). When the close ends before
 * a revoke's result came, a partition whose explicit commit was unsettled is said at error, and,
 * the close not completed, so is one never revoked in that state (still assigned); a settled one
 * is not. Before, the failure told first said at error though the revoke's commit then
 * succeeded, and neither leftover was said.
 */
static void test_close_says_what_nothing_will_commit(void **state)
{
    (void)state;
    pl_spec spec;
    FILE *log;
    static const int32_t parts[] = {4, 5, 6, 7};
    pl_engine *e = commit_engine(&spec, &log, parts, 4);
    e->commitq = g_commitq;
    for (int32_t p = 4; p <= 7; p++)
        job_done(tracked_job(e, "C-100", p, 100));
    job *b4 = tracked_job(e, "C-4", 4, 7);
    job *b5 = tracked_job(e, "C-5", 5, 8);
    job *b6 = tracked_job(e, "C-6", 6, 9);
    assert_int_equal(g_ncommitted, 3);

    e->stopping = true;
    g_commit_hang = true; /* the close's poll serves it */
    revoke_one(e, 4, false);
    assert_int_equal(g_ncommitted, 4);
    assert_true(commit_offset(3, 4) == 7);
    commit_result(e, 4, 7, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    commitq_deliver();
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    assert_non_null(rd_kafka_topic_partition_list_find(e->revoke_ok, "paylink.auth.request", 4));

    revoke_one(e, 6, false); /* its result never comes */
    assert_int_equal(g_ncommitted, 5);
    say_close_leftovers(e, false);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:6 --reset-offsets "
                                         "--to-offset 9 --execute"),
                     1);
    assert_int_equal(log_lines_with(log, "--topic paylink.auth.request:5 --reset-offsets "
                                         "--to-offset 8 --execute"),
                     1);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 2);
    e->stopping = false;
    job_abandon(b4);
    job_abandon(b5);
    job_abandon(b6);
    commit_engine_free(e, log);
}

/* How long a step against librdkafka's mock cluster may take on a loaded machine before the test
 * gives up (a deadline for a failure, never a time asserted). */
#define MOCK_STEP_S 120

/* librdkafka's mock cluster (one broker, in this process, on loopback), hosted by a handle of its
 * own (*host), with topic `topic` of one partition. */
static rd_kafka_mock_cluster_t *mock_cluster(rd_kafka_t **host, const char *topic)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    /* It connects to nothing: its warning that no broker is configured is noise. */
    assert_int_equal(rd_kafka_conf_set(c, "log_level", "3", err, sizeof err), RD_KAFKA_CONF_OK);
    assert_non_null(*host = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err));
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(*host, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, topic, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    return mc;
}

/* A client of consumer group `group` at `brokers` that never joins it: it commits (as a
 * simple consumer, which the group takes while it has no member) and reads committed offsets. */
static rd_kafka_t *group_client(const char *brokers, const char *group)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "group.id", group, err, sizeof err), RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(rk);
    return rk;
}

/* Commits offset off of partition 0 of `topic` for `group` (synchronously), or, off < 0, reads
 * the group's committed offset of it back from the broker (-1001: none). */
static int64_t group_offset(const char *brokers, const char *group, const char *topic, int64_t off)
{
    rd_kafka_t *rk = group_client(brokers, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = off;
    if (off >= 0)
        assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    else
        assert_int_equal(rd_kafka_committed(rk, l, MOCK_STEP_S * 1000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(l->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t got = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return got;
}

/*
 * An engine as setup makes it, against the mock cluster at `brokers`: its consumer the workers'
 * (pl_kafka_consumer_new: cooperative-sticky, offsets stored by hand and committed automatically,
 * on_rebalance its rebalance callback; no statistics: a test gives them, on_stats), its own
 * commit queue (e->commitq), subscribed to `topic` in group `group` and polled until the group
 * assigned it partition 0 (through on_rebalance). Its log lines in *log.
 */
static pl_engine *mock_engine(pl_spec *spec, FILE **log, const char *brokers, const char *group,
                              const char *topic)
{
    char err[512];
    pl_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    *spec = (pl_spec){.worker = "auth", .table = "cc_auth_trans"};
    e->spec = spec;
    assert_non_null(*log = tmpfile());
    pl_log_init("auth", *log);
    snprintf(e->t_request, sizeof e->t_request, "%s", topic);
    snprintf(e->cfg.worker, sizeof e->cfg.worker, "auth");
    snprintf(e->cfg.instance, sizeof e->cfg.instance, "test");
    snprintf(e->cfg.brokers, sizeof e->cfg.brokers, "%s", brokers);
    snprintf(e->cfg.group, sizeof e->cfg.group, "%s", group);
    e->cfg.session_timeout_ms = 6000;
    e->cfg.fetch_wait_ms = 10;
    e->cfg.drain_timeout_ms = 5000;
    assert_non_null(e->offsets = pl_offsets_new());
    assert_non_null(e->stalls = pl_kafka_stalls_new());
    assert_non_null(e->assigned = rd_kafka_topic_partition_list_new(4));
    e->consumer = pl_kafka_consumer_new(&e->cfg, e->cfg.group, e, on_rebalance, NULL,
                                        on_unassign_committed, err, sizeof err);
    assert_non_null(e->consumer);
    assert_non_null(e->commitq = rd_kafka_queue_new(e->consumer));
    assert_int_equal(pl_kafka_subscribe(e->consumer, topic, err, sizeof err), 0);
    for (double t0 = now_s(); e->assigned->cnt == 0;) {
        if (now_s() - t0 > MOCK_STEP_S)
            fail_msg("the mock cluster's group assigned nothing");
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, 100);
        if (m)
            (rd_kafka_message_destroy)(m); /* librdkafka's, not the engine's given one */
    }
    assert_int_equal(e->assigned->elems[0].partition, 0);
    return e;
}

/*
 * The stop's revoke commit, made on the engine's own commit queue with the worker's consumer
 * (against librdkafka's mock cluster): a stop during a rebalance (a rolling deploy), the group's
 * committed offset 100 (an older log's: the topic recreated), the consumer reading the new log
 * from its start, its position 11 unsettled (the statistics showed the group's 100 above it, and
 * their commit waits for a steady group). pl_engine_main's stop ends in teardown, whose close of
 * the consumer revokes the partition (on_rebalance, stopping): its position goes explicitly on
 * e->commitq, unwaited; the close waits for it, and teardown serves its result: the group's
 * committed offset, read back from the broker after the stop, is 11, and nothing is said at
 * error (a result not served leaves the partition in e->revoke_unsettled, said at error as one
 * the close ended before). The revoke's commit itself is not what this can tell apart:
 * librdkafka 2.0.2 commits the stored offset of each partition it unassigns (auto commit on,
 * the assignment not lost) as it is, below the committed offset too, right after the rebalance
 * callback, so the group reaches 11 without it as well. (Before, this path ran under no test:
 * the unit tests' engine had no commit queue of librdkafka's.)
 */
static void test_stop_commits_on_the_commit_queue(void **state)
{
    (void)state;
    char topic[96];
    snprintf(topic, sizeof topic, "ut.stop_commit.%d", (int)getpid());
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc = mock_cluster(&host, topic);
    char brokers[256];
    snprintf(brokers, sizeof brokers, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    assert_true(group_offset(brokers, topic, topic, 100) == 100);

    pl_spec spec;
    FILE *log;
    pl_engine *e = mock_engine(&spec, &log, brokers, topic, topic);
    job_done(tracked_job(e, "M-10", 0, 10));
    assert_true(pl_offsets_position(e->offsets, 0) == 11);
    char syncing[512];
    snprintf(syncing, sizeof syncing,
             "{\"topics\":{\"%s\":{\"partitions\":{"
             "\"0\":{\"partition\":0,\"committed_offset\":100}}}},"
             "\"cgrp\":{\"join_state\":\"wait-sync\"}}",
             topic);
    on_stats(NULL, syncing, strlen(syncing), e);
    assert_true(pl_offsets_commit_unsettled(e->offsets, 0));
    assert_true(group_offset(brokers, topic, topic, -1) == 100);

    /* The stop, as pl_engine_main makes it once its drain is over. */
    e->stopping = true;
    e->stop_deadline = now_s();
    teardown(e);
    assert_int_equal(log_lines_with(log, "revoking 1 partition(s)"), 1);
    assert_true(group_offset(brokers, topic, topic, -1) == 11);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    pl_log_init("auth", NULL);
    fclose(log);
    free(e);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

/*
 * The stop's setup of test_stop_commits_on_the_commit_queue (the group's committed offset 100,
 * an older log's; the consumer's position 11, unsettled), with the mock cluster answering the
 * next `refused` OffsetCommit requests REBALANCE_IN_PROGRESS: the first is the stop's explicit
 * revoke commit (commit_on_revoke, sent from the rebalance callback), the second librdkafka's
 * own commit of the partition it unassigns right after (auto commit on: its stored offset, 11,
 * as it is). No other commit goes between: librdkafka's automatic commit skips a stored offset
 * below the one it holds as committed (100). Then the stop (teardown). Returns the group's
 * committed offset read back from the broker; the engine's log lines in *log (the caller's).
 */
static int64_t stop_with_commits_refused(const char *what, int refused, FILE **log)
{
    char topic[96];
    snprintf(topic, sizeof topic, "ut.%s.%d", what, (int)getpid());
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc = mock_cluster(&host, topic);
    char brokers[256];
    snprintf(brokers, sizeof brokers, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    assert_true(group_offset(brokers, topic, topic, 100) == 100);

    pl_spec spec;
    pl_engine *e = mock_engine(&spec, log, brokers, topic, topic);
    e->own_commits_told = true; /* as setup's consumer: on_unassign_committed */
    job_done(tracked_job(e, "M-10", 0, 10));
    assert_true(pl_offsets_position(e->offsets, 0) == 11);
    char syncing[512];
    snprintf(syncing, sizeof syncing,
             "{\"topics\":{\"%s\":{\"partitions\":{"
             "\"0\":{\"partition\":0,\"committed_offset\":100}}}},"
             "\"cgrp\":{\"join_state\":\"wait-sync\"}}",
             topic);
    on_stats(NULL, syncing, strlen(syncing), e);
    assert_true(pl_offsets_commit_unsettled(e->offsets, 0));

    rd_kafka_mock_push_request_errors(mc, 8 /* OffsetCommit */, (size_t)refused,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    e->stopping = true;
    e->stop_deadline = now_s();
    teardown(e);
    assert_int_equal(log_lines_with(*log, "revoking 1 partition(s)"), 1);
    int64_t got = group_offset(brokers, topic, topic, -1);
    pl_log_init("auth", NULL);
    free(e);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
    return got;
}

/*
 * The stop's explicit revoke commit refused (REBALANCE_IN_PROGRESS), its position's explicit
 * commit unsettled, but librdkafka's own commit of the partition it unassigns, right after,
 * taken: the group's committed offset is the position, and nothing is said at error
 * (revoke_failed waits for librdkafka's commit: on_unassign_committed). Before, the revoke's
 * failure was said at error with a reset command the group did not need.
 */
static void test_unassign_commit_settles_a_failed_revoke_commit(void **state)
{
    (void)state;
    FILE *log;
    assert_true(stop_with_commits_refused("unassign_ok", 1, &log) == 11);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 0);
    assert_int_equal(log_lines_with(log, "librdkafka's own commit of it on unassign succeeded"), 1);
    fclose(log);
}

/*
 * Both refused, the stop's explicit revoke commit and librdkafka's own commit on unassign:
 * nothing committed the position, the group stays at 100, and that is said at error, once, with
 * the reset command and both failures.
 */
static void test_unassign_commit_failing_too_says_reset(void **state)
{
    (void)state;
    FILE *log;
    assert_true(stop_with_commits_refused("unassign_failed", 2, &log) == 100);
    assert_int_equal(log_lines_with(log, "\"level\":\"error\""), 1);
    assert_int_equal(log_lines_with(log, "librdkafka's own commit of it on unassign failed too"),
                     1);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "--topic ut.unassign_failed.%d:0 --reset-offsets --to-offset 11",
             (int)getpid());
    assert_int_equal(log_lines_with(log, cmd), 1);
    fclose(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempt_id_form),
        cmocka_unit_test(test_reversal_of_json),
        cmocka_unit_test(test_attempt_id_differs_between_lives),
        cmocka_unit_test(test_attempt_id_fits_sent_by),
        cmocka_unit_test(test_teardown_frees_parked_duplicates),
        cmocka_unit_test(test_revoked_partition_sends_nothing_more),
        cmocka_unit_test_teardown(test_no_next_call_while_stopping_or_revoked, stop_unasked),
        cmocka_unit_test(test_unknown_outcome_records_capture),
        cmocka_unit_test_teardown(test_no_call_starts_once_a_stop_is_asked, stop_unasked),
        cmocka_unit_test(test_received_row_read_back_looks_up_again),
        cmocka_unit_test(test_stalled_partition_rejoins),
        cmocka_unit_test(test_queued_request_holds_no_message),
        cmocka_unit_test(test_revoke_drain_within_the_stop),
        cmocka_unit_test(test_stop_drain_after_a_revoke_drain),
        cmocka_unit_test(test_owner_wait_covers_connection_attempts),
        cmocka_unit_test(test_a_waiting_request_goes_by_the_current_settings),
        cmocka_unit_test(test_a_refresh_making_a_bureau_unusable_answers_what_waits),
        cmocka_unit_test(test_a_waiting_oauth_request_takes_the_new_password),
        cmocka_unit_test(test_a_refresh_moving_the_merchant_keeps_a_waiting_request_on_one_account),
        cmocka_unit_test(test_a_follow_on_keeps_its_transactions_merchant_across_a_refresh),
        cmocka_unit_test(test_a_follow_on_its_client_lacks_the_merchant_of_is_said),
        cmocka_unit_test(test_a_merchant_moved_within_one_account_goes_by_the_current_settings),
        cmocka_unit_test(test_a_raised_cap_lets_every_waiting_request_go),
        cmocka_unit_test(test_a_401_drops_the_token_it_was_sent_with),
        cmocka_unit_test(test_a_401_drops_the_entry_of_a_request_that_kept_its_client),
        cmocka_unit_test(test_a_token_fetched_across_two_refreshes_is_of_the_client_sent_with),
        cmocka_unit_test(test_a_call_whose_client_keeps_changing_is_not_sent),
        cmocka_unit_test(test_overdue_requests_are_reported_once),
        cmocka_unit_test(test_stalled_bureau_answers_its_queue),
        cmocka_unit_test(test_stall_spares_exempt_requests),
        cmocka_unit_test(test_get_token_is_no_answer_of_the_bureau),
        cmocka_unit_test(test_hung_get_tokens_stall_their_bureau),
        cmocka_unit_test(test_stale_answer_does_not_stall_a_healthy_bureau),
        cmocka_unit_test(test_stall_ends_with_nothing_in_flight),
        cmocka_unit_test(test_hung_bureau_stalls_again_after_its_first_call),
        cmocka_unit_test(test_quiet_bureau_has_its_wait_again),
        cmocka_unit_test(test_statements_beyond_the_table_refused),
        cmocka_unit_test(test_card_hash_for_a_rotated_key),
        cmocka_unit_test(test_card_number_hashed_under_earlier_keys),
        cmocka_unit_test(test_fingerprint_versions),
        cmocka_unit_test(test_timeout_reply_recorded),
        cmocka_unit_test(test_refused_timeout_reply_is_read_again),
        cmocka_unit_test(test_held_final_reply_left_to_the_resolver),
        cmocka_unit_test(test_owner_records_a_held_final_reply),
        cmocka_unit_test(test_late_timeout_reply_not_produced_when_leaving),
        cmocka_unit_test(test_own_timeout_reply_past_the_window),
        cmocka_unit_test(test_replay_hold_follows_message_timeout),
        cmocka_unit_test(test_lost_unit_checks_look_for_the_watchdogs_words),
        cmocka_unit_test(test_review_amount),
        cmocka_unit_test(test_held_amount),
        cmocka_unit_test(test_approves_more_than_sent),
        cmocka_unit_test(test_own_reply),
        cmocka_unit_test(test_replay_decides_no_followups),
        cmocka_unit_test(test_offset_going_back_is_tracked_in_place),
        cmocka_unit_test(test_unreadable_record_dead_lettered),
        cmocka_unit_test(test_dead_letters_say_their_kind),
        cmocka_unit_test_teardown(test_no_call_after_a_token_wait_once_stopping, stop_unasked),
        cmocka_unit_test(test_unknown_only_while_the_owner_still_has_it),
        cmocka_unit_test_teardown(test_token_waits_given_back_at_a_stop, stop_unasked),
        cmocka_unit_test(test_a_lost_partition_gives_back_its_token_waits),
        cmocka_unit_test(test_answer_stores_its_followups_decision),
        cmocka_unit_test(test_unreadable_record_going_back_dead_lettered),
        cmocka_unit_test(test_stats_commit_a_position_below_the_committed_offset),
        cmocka_unit_test(test_revoke_commits_positions_explicitly),
        cmocka_unit_test(test_uncommittable_position_says_reset),
        cmocka_unit_test(test_failed_revoke_commit_waits_for_librdkafkas),
        cmocka_unit_test(test_late_commit_above_the_revoked_position_says_reset),
        cmocka_unit_test(test_own_commit_above_an_assigned_position_is_noted),
        cmocka_unit_test(test_own_commit_failure_warns_rate_limited),
        cmocka_unit_test(test_deferred_error_said_moot_by_a_late_success),
        cmocka_unit_test(test_late_explicit_success_above_the_revoked_position_says_reset),
        cmocka_unit_test(test_automatic_commit_failure_decides_no_deferral),
        cmocka_unit_test(test_error_of_a_commit_above_stands),
        cmocka_unit_test(test_revoke_commits_only_what_is_new),
        cmocka_unit_test(test_revoke_lost_during_the_drain_commits_nothing),
        cmocka_unit_test(test_revoke_commit_waits_a_bounded_time),
        cmocka_unit_test(test_revoke_commit_wait_turns_the_loop),
        cmocka_unit_test_teardown(test_stop_ends_the_revoke_commit_wait, stop_unasked),
        cmocka_unit_test(test_stats_commit_only_in_a_steady_group),
        cmocka_unit_test(test_going_back_commit_waits_for_a_steady_group),
        cmocka_unit_test(test_rebalance_holds_the_going_back_commit),
        cmocka_unit_test(test_close_says_what_nothing_will_commit),
        cmocka_unit_test(test_stop_commits_on_the_commit_queue),
        cmocka_unit_test(test_unassign_commit_settles_a_failed_revoke_commit),
        cmocka_unit_test(test_unassign_commit_failing_too_says_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
