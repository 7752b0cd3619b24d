/*
 * test_offsets_log_change.c: the group's committed offset follows a partition's new log, against
 * the real broker of PAYLINK_KAFKA_BROKERS, with librdkafka as the workers link it.
 *
 * The offset tracker (offsets.h) and the engine (engine.c: position_store, commit_explicitly)
 * rely on what librdkafka does when the log under a consumer changes: a consumer whose offset is
 * above the log's end is reset to the log's start (auto.offset.reset=earliest) and hands out
 * its records again from 0; librdkafka's own commit of the stored offsets (the automatic one,
 * and rd_kafka_commit without offsets) leaves out a stored offset below the one it holds as
 * committed, so the group's offset stays above the new log's records; and an explicit commit of
 * such an offset is taken as it is, after which librdkafka commits the stored offsets above it
 * by itself. These tests drive the tracker as the engine does (store each position; commit it
 * explicitly when pl_offsets_must_commit says so, or when librdkafka's statistics show its
 * committed offset above it: pl_offsets_commit_above) and check the group's offset on the broker
 * at each step: within an assignment (the topic deleted and created again under the consumer:
 * taken back) and at a fresh one (the group's offset above the log's end, as a truncated log
 * leaves it). The commits here are synchronous, where the engine's explicit ones are not, so
 * that each step is checked without waiting on a clock.
 *
 * They use a topic and a consumer group of their own (it.offsets_log_change.<pid>.<time>),
 * deleted at the end; never the system's.
 */
#include <inttypes.h>
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
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>

#include "offsets.h"

/* How long a step may take on a loaded machine before the test gives up (a deadline for a
 * failure, never a time asserted). */
#define STEP_S 90

static char g_brokers[512];
static char g_name[128]; /* the topic's and the group's */
static rd_kafka_t *g_admin;
/* The committed offset of partition 0 in the last statistics a consumer gave (stats_cb), with
 * how many came; a record taken while waiting for them, held for next_record. */
static int64_t g_stats_committed;
static int g_nstats;
static rd_kafka_message_t *g_held;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static rd_kafka_conf_t *conf_new(void)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", g_brokers, err, sizeof err),
                     RD_KAFKA_CONF_OK);
    return c;
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    assert_int_equal(rd_kafka_conf_set(c, k, v, err, sizeof err), RD_KAFKA_CONF_OK);
}

/* Waits for the admin result event of type `type` on q; returns it (the caller destroys it). */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type)
{
    for (double t0 = now_s(); now_s() - t0 < STEP_S;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 1000);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    fail_msg("no admin result");
    return NULL;
}

/* Creates the topic (one partition), trying again while the broker still holds the one deleted
 * just before (it is deleted in the background). */
static void topic_create(void)
{
    for (double t0 = now_s();;) {
        char err[256];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(g_name, 1, 1, err, sizeof err);
        assert_non_null(nt);
        rd_kafka_queue_t *q = rd_kafka_queue_new(g_admin);
        rd_kafka_CreateTopics(g_admin, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e =
            rd_kafka_event_error(ev)
                ? rd_kafka_event_error(ev)
                : (n == 1 ? rd_kafka_topic_result_error(r[0]) : RD_KAFKA_RESP_ERR__FAIL);
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy(nt);
        if (!e)
            return;
        if (now_s() - t0 > STEP_S)
            fail_msg("creating %s: %s", g_name, rd_kafka_err2str(e));
        usleep(200 * 1000);
    }
}

static void topic_delete(void)
{
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(g_name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(g_admin);
    rd_kafka_DeleteTopics(g_admin, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
    size_t n;
    const rd_kafka_topic_result_t **r =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    assert_int_equal(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(n, 1);
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r[0]);
    assert_true(e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
}

/* The topic deleted and created again, with n records in its new log (offsets 0..n-1). */
static void topic_recreate(int n)
{
    topic_delete();
    topic_create();
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "new-%d", i);
        for (;;) { /* the new topic's metadata may lag its creation */
            rd_kafka_resp_err_t e =
                rd_kafka_producev(g_admin, RD_KAFKA_V_TOPIC(g_name), RD_KAFKA_V_PARTITION(0),
                                  RD_KAFKA_V_VALUE(v, strlen(v)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (!e)
                break;
            assert_int_equal(e, RD_KAFKA_RESP_ERR__QUEUE_FULL);
            rd_kafka_poll(g_admin, 100);
        }
    }
    assert_int_equal(rd_kafka_flush(g_admin, STEP_S * 1000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* The delivery reports of what topic_recreate produced: each must have reached the broker. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        fail_msg("producing to the test topic: %s", rd_kafka_err2str(m->err));
}

/* librdkafka's statistics: partition 0's committed_offset, what it holds as the group's committed
 * offset (the engine's on_stats reads the same). */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    (void)opaque;
    json_object *root = json_tokener_parse(json), *topics, *t, *parts, *p, *c;
    if (root && json_object_object_get_ex(root, "topics", &topics) &&
        json_object_object_get_ex(topics, g_name, &t) &&
        json_object_object_get_ex(t, "partitions", &parts) &&
        json_object_object_get_ex(parts, "0", &p) &&
        json_object_object_get_ex(p, "committed_offset", &c)) {
        g_stats_committed = json_object_get_int64(c);
        g_nstats++;
    }
    json_object_put(root);
    return 0;
}

/* A consumer of the test group, as the workers make theirs where it matters here (offsets
 * stored by hand, committed automatically, earliest on reset), assigned partition 0. */
static rd_kafka_t *consumer_new(void)
{
    rd_kafka_conf_t *c = conf_new();
    conf_set(c, "group.id", g_name);
    conf_set(c, "enable.auto.offset.store", "false");
    conf_set(c, "enable.auto.commit", "true");
    /* The automatic commit runs as rarely as the test allows: it commits what the synchronous
     * rd_kafka_commit below commits, and the steps check the broker after that one. */
    conf_set(c, "auto.commit.interval.ms", "86400000");
    conf_set(c, "auto.offset.reset", "earliest");
    conf_set(c, "fetch.wait.max.ms", "50");
    conf_set(c, "statistics.interval.ms", "100");
    rd_kafka_conf_set_stats_cb(c, stats_cb);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, g_name, 0)->offset = RD_KAFKA_OFFSET_INVALID;
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

/* The next record of the test topic (consumer errors, such as the topic missing while it is
 * recreated, are passed over); its offset. */
static int64_t next_record(rd_kafka_t *rk)
{
    for (double t0 = now_s(); now_s() - t0 < STEP_S;) {
        rd_kafka_message_t *m = g_held ? g_held : rd_kafka_consumer_poll(rk, 500);
        g_held = NULL;
        if (!m)
            continue;
        int64_t off = m->err ? -1 : m->offset;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "consumer: %s\n", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        if (off >= 0)
            return off;
    }
    fail_msg("no record");
    return -1;
}

/* The committed offset of partition 0 in statistics librdkafka gives after this call (served by
 * the consumer's poll; a record it returns meanwhile is held for next_record). */
static int64_t stats_committed(rd_kafka_t *rk)
{
    int seen = g_nstats;
    for (double t0 = now_s(); now_s() - t0 < STEP_S;) {
        if (g_nstats > seen + 1) /* one made after the call began */
            return g_stats_committed;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (m && !m->err && !g_held)
            g_held = m;
        else if (m)
            rd_kafka_message_destroy(m);
    }
    fail_msg("no statistics");
    return -1;
}

/* The group's committed offset of partition 0, as the broker has it. */
static int64_t committed(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, g_name, 0);
    assert_int_equal(rd_kafka_committed(rk, l, STEP_S * 1000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off;
}

/* What librdkafka's own commit of the stored offsets does now (rd_kafka_commit without
 * offsets, as the automatic commit and the engine's revoke do): RD_KAFKA_RESP_ERR__NO_OFFSET
 * when it leaves the stored offset out. */
static rd_kafka_resp_err_t commit_stored(rd_kafka_t *rk)
{
    return rd_kafka_commit(rk, NULL, 0);
}

static void store(rd_kafka_t *rk, int64_t off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, g_name, 0)->offset = off;
    assert_int_equal(rd_kafka_offsets_store(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
}

/* What the engine does with a position (position_store): stores it, and commits it explicitly
 * (here synchronously) when the tracker says the group's offset may be above it. Returns
 * whether it committed. */
static void commit_explicitly(rd_kafka_t *rk, pl_offsets *o, int64_t to)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, g_name, 0)->offset = to;
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
}

static bool position_store(rd_kafka_t *rk, pl_offsets *o, int64_t to)
{
    store(rk, to);
    if (!pl_offsets_must_commit(o, 0, &to))
        return false;
    commit_explicitly(rk, o, to);
    return true;
}

/* Takes the next record, which must be at `want`, tracks it and marks it done; returns what
 * pl_offsets_add said. */
static int take_and_do(rd_kafka_t *rk, pl_offsets *o, int64_t want)
{
    int64_t off = next_record(rk);
    assert_true(off == want);
    int rc = pl_offsets_add(o, 0, off);
    assert_true(rc == PL_OK || rc == PL_OFFSETS_BACK);
    if (rc == PL_OFFSETS_BACK)
        (void)position_store(rk, o, pl_offsets_position(o, 0));
    int64_t to;
    if (pl_offsets_done(o, 0, off, &to) == 1)
        (void)position_store(rk, o, to);
    return rc;
}

/* Sets the group's committed offset of partition 0 to off, as a member outside the group's
 * assignments may (what a log truncated below the group's offset leaves: an offset above the
 * log's end). */
static void group_commit(int64_t off)
{
    rd_kafka_conf_t *c = conf_new();
    conf_set(c, "group.id", g_name);
    conf_set(c, "enable.auto.commit", "false");
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, g_name, 0)->offset = off;
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    assert_true(committed(rk) == off);
    rd_kafka_destroy(rk);
}

/*
 * Within an assignment: the topic recreated under a running consumer whose last positions of
 * the old log are stored, not committed yet (the automatic commit runs once a second in the
 * workers). librdkafka 2.0.2 resets the consumer to the new log's start (an out-of-range offset
 * reset, said only in a log line) and hands out its records from 0: taken back. Its own commit
 * then commits the old log's stored 10 for the new topic (the broker dropped the deleted topic's
 * offsets; this makes them the old log's again), above the new log's records; and the new
 * log's positions, stored alone, are left out of it (below librdkafka's committed offset): the
 * group stays at 10, which a restart would resume at, skipping the new log's records below it
 * once the new log has grown past it. Committed explicitly, as the engine does when the
 * position goes back, the group's offset follows the new log, and librdkafka commits the
 * positions after it by itself.
 */
static void test_taken_back_to_a_recreated_topic(void **state)
{
    (void)state;
    topic_recreate(10);
    rd_kafka_t *a = consumer_new();
    pl_offsets *o = pl_offsets_new();
    assert_non_null(o);
    for (int64_t off = 0; off < 10; off++)
        assert_int_equal(take_and_do(a, o, off), PL_OK);
    assert_true(committed(a) < 0); /* nothing committed yet (10 stored): no explicit commit */

    topic_recreate(3);
    int64_t off = next_record(a);
    assert_true(off == 0);
    assert_int_equal(commit_stored(a), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(committed(a) == 10);
    assert_int_equal(pl_offsets_add(o, 0, off), PL_OFFSETS_BACK);
    assert_true(pl_offsets_position(o, 0) == 0);
    store(a, 0);
    assert_int_equal(commit_stored(a), RD_KAFKA_RESP_ERR__NO_OFFSET);
    assert_true(committed(a) == 10);
    assert_true(position_store(a, o, 0));
    assert_true(committed(a) == 0);
    int64_t to;
    assert_int_equal(pl_offsets_done(o, 0, 0, &to), 1);
    assert_false(position_store(a, o, to));
    assert_int_equal(take_and_do(a, o, 1), PL_OK);
    assert_int_equal(take_and_do(a, o, 2), PL_OK);
    assert_int_equal(commit_stored(a), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(committed(a) == 3);
    assert_true(rd_kafka_consumer_close(a) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(a);
    pl_offsets_destroy(o);
}

/*
 * At a fresh assignment: the group's offset above the log's end (50, over a log of 2 records:
 * what a log truncated below the group's offset leaves). A consumer assigned the partition
 * starts at 50, is reset to the log's 0, and its tracker, new, sees nothing go back. Stored
 * alone, its positions are left out of librdkafka's commit (below the 50 it read as committed);
 * its statistics show that 50 as the committed offset (what the engine's on_stats reads), the
 * tracker then gives its position to commit explicitly, and the group's offset follows the log.
 */
static void test_fresh_assignment_below_the_group_offset(void **state)
{
    (void)state;
    topic_recreate(2);
    group_commit(50);
    rd_kafka_t *b = consumer_new();
    pl_offsets *o = pl_offsets_new();
    assert_non_null(o);
    assert_true(next_record(b) == 0);
    assert_int_equal(pl_offsets_add(o, 0, 0), PL_OK);
    int64_t to;
    assert_int_equal(pl_offsets_done(o, 0, 0, &to), 1);
    assert_true(to == 1);
    assert_false(position_store(b, o, 1)); /* a first position: stored only */
    assert_int_equal(commit_stored(b), RD_KAFKA_RESP_ERR__NO_OFFSET);
    assert_true(committed(b) == 50);
    int64_t held = stats_committed(b);
    assert_true(held == 50);
    assert_int_equal(pl_offsets_commit_above(o, 0, held, &to), 1);
    assert_true(to == 1);
    commit_explicitly(b, o, to);
    assert_true(committed(b) == 1);
    held = stats_committed(b);
    assert_true(held == 1);
    assert_int_equal(pl_offsets_commit_above(o, 0, held, &to), 0);
    assert_int_equal(take_and_do(b, o, 1), PL_OK);
    assert_int_equal(commit_stored(b), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(committed(b) == 2);
    assert_true(rd_kafka_consumer_close(b) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(b);
    pl_offsets_destroy(o);
}

static int group_setup(void **state)
{
    (void)state;
    const char *b = getenv("PAYLINK_KAFKA_BROKERS");
    if (!b || !*b) {
        fprintf(stderr, "PAYLINK_KAFKA_BROKERS is not set: this test needs the dev broker\n");
        return -1;
    }
    snprintf(g_brokers, sizeof g_brokers, "%s", b);
    snprintf(g_name, sizeof g_name, "it.offsets_log_change.%ld.%ld", (long)getpid(),
             (long)time(NULL));
    rd_kafka_conf_t *c = conf_new();
    conf_set(c, "linger.ms", "0");
    /* The dev broker creates a topic a client names: a metadata refresh between the delete and
     * the create (topic_recreate) would create it with the broker's defaults. */
    conf_set(c, "allow.auto.create.topics", "false");
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    char err[256];
    g_admin = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    return g_admin ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!g_admin)
        return 0;
    topic_delete();
    rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(g_name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(g_admin);
    rd_kafka_DeleteGroups(g_admin, &dg, 1, NULL, q);
    rd_kafka_event_destroy(admin_wait(q, RD_KAFKA_EVENT_DELETEGROUPS_RESULT));
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteGroup_destroy(dg);
    rd_kafka_destroy(g_admin);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_back_to_a_recreated_topic),
        cmocka_unit_test(test_fresh_assignment_below_the_group_offset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
