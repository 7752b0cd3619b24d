/*
 * test_kafka.c: consumer lag from librdkafka statistics, and the client settings every worker
 * relies on (kafka.h). No broker is needed: rd_kafka_new connects in the background, and the
 * settings are read back from the handle's configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kafka.h"
/* After kafka.h, which includes rdkafka.h (rdkafka_mock.h requires it first). */
#include <librdkafka/rdkafka_mock.h>

/*
 * An abridged consumer statistics document as librdkafka 2.x emits it: per topic, per
 * partition, with the internal partition "-1" (unassigned messages) and consumer_lag -1 for
 * a partition whose lag is not known yet.
 */
static const char stats_sample[] =
    "{\"name\":\"paylink-auth-c-host-1#consumer-1\",\"client_id\":\"paylink-auth-c-host-1\","
    "\"type\":\"consumer\",\"ts\":1234567890,\"time\":1700000000,\"replyq\":0,"
    "\"brokers\":{\"localhost:9092/1\":{\"name\":\"localhost:9092/1\",\"nodeid\":1,"
    "\"state\":\"UP\",\"toppars\":{\"paylink.auth.request-0\":{\"topic\":"
    "\"paylink.auth.request\",\"partition\":0}}}},"
    "\"topics\":{"
    "\"paylink.auth.request\":{\"topic\":\"paylink.auth.request\",\"age\":5000,"
    "\"metadata_age\":4000,\"batchsize\":{},\"batchcnt\":{},\"partitions\":{"
    "\"0\":{\"partition\":0,\"broker\":1,\"leader\":1,\"desired\":true,\"fetch_state\":\"active\","
    "\"committed_offset\":100,\"hi_offset\":140,\"ls_offset\":140,\"consumer_lag\":40,"
    "\"consumer_lag_stored\":40},"
    "\"1\":{\"partition\":1,\"broker\":1,\"leader\":1,\"desired\":true,\"consumer_lag\":2},"
    "\"2\":{\"partition\":2,\"broker\":1,\"leader\":1,\"desired\":true,\"consumer_lag\":-1},"
    "\"-1\":{\"partition\":-1,\"broker\":-1,\"leader\":-1,\"desired\":false,"
    "\"consumer_lag\":-1}}},"
    "\"paylink.deposit.request\":{\"topic\":\"paylink.deposit.request\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"consumer_lag\":7}}}},"
    "\"cgrp\":{\"state\":\"up\",\"join_state\":\"steady\",\"assignment_size\":3}}";

static void test_lag_sums_partitions(void **state)
{
    (void)state;
    /* 40 + 2; the unknown (-1) partition and the internal "-1" partition do not count. */
    assert_int_equal(pl_kafka_stats_lag(stats_sample, "paylink.auth.request"), 42);
    assert_int_equal(pl_kafka_stats_lag(stats_sample, "paylink.deposit.request"), 7);
}

static void test_lag_unknown(void **state)
{
    (void)state;
    /* A topic the statistics do not mention (not subscribed yet). */
    assert_int_equal(pl_kafka_stats_lag(stats_sample, "paylink.svc.request"), -1);
    /* Not JSON, a JSON document without topics, a topic without partitions. */
    assert_int_equal(pl_kafka_stats_lag("", "t"), -1);
    assert_int_equal(pl_kafka_stats_lag("{\"topics\":", "t"), -1);
    assert_int_equal(pl_kafka_stats_lag("{\"name\":\"x\"}", "t"), -1);
    assert_int_equal(pl_kafka_stats_lag("{\"topics\":{\"t\":{\"topic\":\"t\"}}}", "t"), -1);
}

static void test_lag_edge_values(void **state)
{
    (void)state;
    /* Partitions known but none with a lag yet: zero, not unknown. */
    assert_int_equal(pl_kafka_stats_lag("{\"topics\":{\"t\":{\"partitions\":{}}}}", "t"), 0);
    assert_int_equal(
        pl_kafka_stats_lag("{\"topics\":{\"t\":{\"partitions\":{\"0\":{\"partition\":0}}}}}", "t"),
        0);
    /* Lags beyond 32 bits add up without overflow. */
    assert_int_equal(pl_kafka_stats_lag("{\"topics\":{\"t\":{\"partitions\":{"
                                        "\"0\":{\"consumer_lag\":5000000000},"
                                        "\"1\":{\"consumer_lag\":4000000000}}}}}",
                                        "t"),
                     INT64_C(9000000000));
}

/* A statistics document for topic "t": partitions 0..2 in the given fetch states, the group
 * in join_state js. */
static void stalls_doc(char *out, size_t n, const char *s0, const char *s1, const char *s2,
                       const char *js)
{
    snprintf(out, n,
             "{\"topics\":{\"t\":{\"partitions\":{"
             "\"0\":{\"partition\":0,\"fetch_state\":\"%s\"},"
             "\"1\":{\"partition\":1,\"fetch_state\":\"%s\"},"
             "\"2\":{\"partition\":2,\"fetch_state\":\"%s\"},"
             "\"-1\":{\"partition\":-1,\"fetch_state\":\"none\"}}}},"
             "\"cgrp\":{\"state\":\"up\",\"join_state\":\"%s\"}}",
             s0, s1, s2, js);
}

/*
 * pl_kafka_stalls: an assigned partition shown not started ("none", "stopped") is due once it
 * has been so for the given time, counted from its first sighting; one shown fetching or
 * looking up an offset, or not assigned, is not;
 * nothing is due while the group rebalances; a partition assigned anew starts over.
 */
static void test_stalls(void **state)
{
    (void)state;
    char doc[1024];
    pl_kafka_stalls *s = pl_kafka_stalls_new();
    assert_non_null(s);
    rd_kafka_topic_partition_list_t *mine = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(mine, "t", 0);
    rd_kafka_topic_partition_list_add(mine, "t", 1);

    /* Partition 0 has no position, 1 fetches, 2 (not ours) is stopped. */
    stalls_doc(doc, sizeof doc, "stopped", "active", "stopped", "steady");
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 100.0), 0);
    assert_false(pl_kafka_stalls_due(s, 0, 129.0, 30.0));
    /* Seen again later: still counted from the first sighting. */
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 125.0), 0);
    assert_true(pl_kafka_stalls_due(s, 0, 130.0, 30.0));
    assert_false(pl_kafka_stalls_due(s, 1, 130.0, 30.0));
    assert_false(pl_kafka_stalls_due(s, 2, 130.0, 30.0));

    /* While the group rebalances, nothing is due (an assignment would be taken for its own). */
    stalls_doc(doc, sizeof doc, "none", "active", "stopped", "wait-assign-call");
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 131.0), 0);
    assert_false(pl_kafka_stalls_due(s, 0, 131.0, 30.0));
    stalls_doc(doc, sizeof doc, "stopped", "active", "stopped", "steady");
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 132.0), 0);
    assert_true(pl_kafka_stalls_due(s, 0, 132.0, 30.0));

    /* An unreadable document or another topic changes nothing. */
    assert_int_equal(pl_kafka_stalls_observe(s, "{", "t", mine, 133.0), -1);
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "u", mine, 133.0), -1);
    assert_true(pl_kafka_stalls_due(s, 0, 133.0, 30.0));

    /* Looking up an offset (librdkafka retries that itself), then fetching: forgotten; a later
     * stall counts from its own first sighting. */
    stalls_doc(doc, sizeof doc, "offset-query", "active", "stopped", "steady");
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 135.0), 0);
    assert_false(pl_kafka_stalls_due(s, 0, 1000.0, 30.0));
    stalls_doc(doc, sizeof doc, "active", "active", "stopped", "steady");
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 140.0), 0);
    assert_false(pl_kafka_stalls_due(s, 0, 1000.0, 30.0));
    stalls_doc(doc, sizeof doc, "stopped", "none", "stopped", "steady");
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 150.0), 0);
    assert_false(pl_kafka_stalls_due(s, 0, 179.0, 30.0));
    assert_true(pl_kafka_stalls_due(s, 1, 180.0, 30.0));

    /* Assigned anew (forgotten), or no longer assigned: not due. */
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, "t", 1);
    pl_kafka_stalls_forget(s, one);
    assert_false(pl_kafka_stalls_due(s, 1, 1000.0, 30.0));
    assert_true(pl_kafka_stalls_due(s, 0, 1000.0, 30.0));
    rd_kafka_topic_partition_list_del(mine, "t", 0);
    assert_int_equal(pl_kafka_stalls_observe(s, doc, "t", mine, 190.0), 0);
    assert_false(pl_kafka_stalls_due(s, 0, 1000.0, 30.0));

    /* Read once for both (the engine's statistics callback): the lag, and the partitions. */
    pl_kafka_stalls *r = pl_kafka_stalls_new();
    rd_kafka_topic_partition_list_add(mine, "t", 0);
    assert_int_equal(pl_kafka_stats_read(stats_sample, "paylink.auth.request", r, mine, 1.0), 42);
    stalls_doc(doc, sizeof doc, "stopped", "active", "active", "steady");
    assert_int_equal(pl_kafka_stats_read(doc, "t", r, mine, 2.0), 0);
    assert_true(pl_kafka_stalls_due(r, 0, 32.0, 30.0));
    assert_int_equal(pl_kafka_stats_read("{", "t", r, mine, 3.0), -1);
    pl_kafka_stalls_free(r);

    rd_kafka_topic_partition_list_destroy(one);
    rd_kafka_topic_partition_list_destroy(mine);
    pl_kafka_stalls_free(s);
    pl_kafka_stalls_free(NULL);
}

/* The value of a configuration property of a client, as a string. */
static void conf_is(rd_kafka_t *rk, const char *key, const char *want)
{
    char v[256];
    size_t n = sizeof v;
    assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(rk), key, v, &n), RD_KAFKA_CONF_OK);
    if (strcmp(v, want) != 0)
        fail_msg("%s is \"%s\", want \"%s\"", key, v, want);
}

static pl_config test_config(void)
{
    pl_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.worker, sizeof c.worker, "auth");
    /* Nothing listens there; clients are created without connecting. */
    snprintf(c.brokers, sizeof c.brokers, "127.0.0.1:1");
    snprintf(c.instance, sizeof c.instance, "testhost-1");
    c.session_timeout_ms = 45000;
    return c;
}

static void no_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)m;
    (void)opaque;
}

static void no_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)rk;
    (void)err;
    (void)parts;
    (void)opaque;
}

static int no_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)json;
    (void)len;
    (void)opaque;
    return 0;
}

static void test_producer_settings(void **state)
{
    (void)state;
    pl_config c = test_config();
    char err[256] = "";
    int opaque = 7;
    rd_kafka_t *p = pl_kafka_producer_new(&c, &opaque, no_dr, NULL, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(rd_kafka_type(p), RD_KAFKA_PRODUCER);
    conf_is(p, "bootstrap.servers", "127.0.0.1:1");
    conf_is(p, "client.id", "paylink-auth-p-testhost-1");
    /* No duplicates or reordering from the producer's own retries. */
    conf_is(p, "enable.idempotence", "true");
    assert_ptr_equal(rd_kafka_opaque(p), &opaque);
    rd_kafka_destroy(p);
}

typedef struct fatal_rec {
    int calls;
    void *opaque;
} fatal_rec;

static fatal_rec g_fatal;

static void on_fatal(rd_kafka_t *rk, bool fatal, const char *reason, void *opaque)
{
    (void)rk;
    (void)reason;
    if (fatal) {
        g_fatal.calls++;
        g_fatal.opaque = opaque;
    }
}

/* A worker's producer keeps its fatal-error handler when the process makes another producer
 * without one (the resolver's): its fatal error reaches the handler with its own opaque, the
 * other producer's does not reach it at all. */
static void test_error_handler_per_producer(void **state)
{
    (void)state;
    pl_config c = test_config();
    char err[256] = "";
    int mine = 1, other = 2;
    memset(&g_fatal, 0, sizeof g_fatal);
    rd_kafka_t *p = pl_kafka_producer_new(&c, &mine, no_dr, on_fatal, err, sizeof err);
    rd_kafka_t *q = pl_kafka_producer_new(&c, &other, no_dr, NULL, err, sizeof err);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal(rd_kafka_test_fatal_error(q, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "test: the other producer"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_test_fatal_error(p, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "test: the worker's producer"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    /* The error events are served by polling each producer until each has had its own. */
    for (int i = 0; i < 500 && g_fatal.calls == 0; i++) {
        rd_kafka_poll(q, 10);
        rd_kafka_poll(p, 10);
    }
    rd_kafka_poll(q, 50);
    assert_int_equal(g_fatal.calls, 1);
    assert_ptr_equal(g_fatal.opaque, &mine);
    rd_kafka_destroy(q);
    rd_kafka_destroy(p);
}

/* A producer without a fatal-error handler (the resolver's) is made anew after a fatal error,
 * which would otherwise fail every later produce at once; a sound one is left as it is. */
static void test_renew_after_fatal(void **state)
{
    (void)state;
    pl_config c = test_config();
    char err[256] = "";
    int mine = 1;
    rd_kafka_t *p = pl_kafka_producer_new_bounded(&c, &mine, no_dr, NULL, 40000, err, sizeof err);
    assert_non_null(p);
    rd_kafka_t *before = p;
    assert_int_equal(pl_kafka_producer_renew_if_fatal(&p, &c, &mine, no_dr, 40000, err, sizeof err),
                     0);
    assert_ptr_equal(p, before);
    assert_int_equal(rd_kafka_test_fatal_error(p, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "test: the resolver's producer"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_not_equal(rd_kafka_fatal_error(p, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    const char *t = "t";
    assert_int_equal(
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(t), RD_KAFKA_V_VALUE((void *)"x", 1), RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR__FATAL);
    assert_int_equal(pl_kafka_producer_renew_if_fatal(&p, &c, &mine, no_dr, 40000, err, sizeof err),
                     0);
    assert_int_equal(rd_kafka_fatal_error(p, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(t), RD_KAFKA_V_VALUE((void *)"x", 1), RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_purge(p, RD_KAFKA_PURGE_F_QUEUE);
    rd_kafka_poll(p, 0);
    rd_kafka_destroy(p);
}

/* Issue 6 A.3: a publish that can never succeed is told from one worth retrying. */
static void test_classify_publish_errors(void **state)
{
    (void)state;
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR__TRANSPORT), PL_KAFKA_RETRY);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), PL_KAFKA_RETRY);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR__QUEUE_FULL), PL_KAFKA_RETRY);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION), PL_KAFKA_RETRY);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), PL_KAFKA_TOO_LARGE);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE),
                     PL_KAFKA_TOO_LARGE);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC), PL_KAFKA_OPERATOR);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                     PL_KAFKA_OPERATOR);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED),
                     PL_KAFKA_OPERATOR);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR_INVALID_RECORD), PL_KAFKA_PERMANENT);
    assert_int_equal(pl_kafka_classify(RD_KAFKA_RESP_ERR__FATAL), PL_KAFKA_FATAL);
}

/* The producer's limit is what producev enforces; a message over it is refused at once. */
static void test_message_max_bytes(void **state)
{
    (void)state;
    pl_config c = test_config();
    char err[256] = "";
    setenv("PAYLINK_RDKAFKA_MESSAGE_MAX_BYTES", "20000", 1);
    rd_kafka_t *p = pl_kafka_producer_new(&c, NULL, no_dr, NULL, err, sizeof err);
    unsetenv("PAYLINK_RDKAFKA_MESSAGE_MAX_BYTES");
    assert_non_null(p);
    assert_int_equal(pl_kafka_message_max_bytes(p), 20000);
    static char big[30000];
    rd_kafka_resp_err_t e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC("t"),
                                              RD_KAFKA_V_VALUE(big, sizeof big), RD_KAFKA_V_END);
    assert_int_equal(pl_kafka_classify(e), PL_KAFKA_TOO_LARGE);
    rd_kafka_destroy(p);
    assert_int_equal(pl_kafka_message_max_bytes(NULL), 1000000);
}

/* An operator's PAYLINK_RDKAFKA_* changes our defaults (linger.ms, fetch sizes), never what
 * correctness needs (the idempotent producer, offsets stored only once a request is answered,
 * the cooperative assignment the rebalance callback's incremental assign needs). */
static void test_operator_properties(void **state)
{
    (void)state;
    pl_config c = test_config();
    c.fetch_wait_ms = 500;
    char err[256] = "";
    setenv("PAYLINK_RDKAFKA_LINGER_MS", "7", 1);
    setenv("PAYLINK_RDKAFKA_ENABLE_IDEMPOTENCE", "false", 1);
    setenv("PAYLINK_RDKAFKA_FETCH_WAIT_MAX_MS", "30", 1);
    setenv("PAYLINK_RDKAFKA_ENABLE_AUTO_OFFSET_STORE", "true", 1);
    setenv("PAYLINK_RDKAFKA_GROUP_ID", "someone-else", 1);
    setenv("PAYLINK_RDKAFKA_PARTITION_ASSIGNMENT_STRATEGY", "range", 1);
    rd_kafka_t *p = pl_kafka_producer_new(&c, NULL, no_dr, NULL, err, sizeof err);
    rd_kafka_t *k =
        pl_kafka_consumer_new(&c, "paylink-auth", NULL, no_rebalance, NULL, NULL, err, sizeof err);
    unsetenv("PAYLINK_RDKAFKA_LINGER_MS");
    unsetenv("PAYLINK_RDKAFKA_ENABLE_IDEMPOTENCE");
    unsetenv("PAYLINK_RDKAFKA_FETCH_WAIT_MAX_MS");
    unsetenv("PAYLINK_RDKAFKA_ENABLE_AUTO_OFFSET_STORE");
    unsetenv("PAYLINK_RDKAFKA_GROUP_ID");
    unsetenv("PAYLINK_RDKAFKA_PARTITION_ASSIGNMENT_STRATEGY");
    assert_non_null(p);
    assert_non_null(k);
    conf_is(p, "linger.ms", "7");
    conf_is(p, "enable.idempotence", "true");
    conf_is(k, "fetch.wait.max.ms", "30");
    conf_is(k, "enable.auto.offset.store", "false");
    conf_is(k, "group.id", "paylink-auth");
    conf_is(k, "partition.assignment.strategy", "cooperative-sticky");
    rd_kafka_destroy(p);
    rd_kafka_destroy(k);
}

static void test_consumer_settings(void **state)
{
    (void)state;
    pl_config c = test_config();
    c.session_timeout_ms = 10000;
    c.fetch_wait_ms = 20;
    c.fetch_min_bytes = 65536;
    char err[256] = "";
    rd_kafka_t *k = pl_kafka_consumer_new(&c, "paylink-auth", NULL, no_rebalance, no_stats, NULL,
                                          err, sizeof err);
    assert_non_null(k);
    assert_int_equal(rd_kafka_type(k), RD_KAFKA_CONSUMER);
    conf_is(k, "client.id", "paylink-auth-c-testhost-1");
    conf_is(k, "group.id", "paylink-auth");
    conf_is(k, "partition.assignment.strategy", "cooperative-sticky");
    /* Offsets are stored only after the request's effect is durable. */
    conf_is(k, "enable.auto.offset.store", "false");
    conf_is(k, "enable.auto.commit", "true");
    /* librdkafka reports "earliest" by its canonical name. */
    conf_is(k, "auto.offset.reset", "smallest");
    conf_is(k, "session.timeout.ms", "10000");
    /* A tenth of the session timeout, at most 3 s. */
    conf_is(k, "heartbeat.interval.ms", "1000");
    /* PAYLINK_KAFKA_FETCH_MIN_BYTES and _WAIT_MS reach the consumer. */
    conf_is(k, "fetch.min.bytes", "65536");
    conf_is(k, "fetch.wait.max.ms", "20");
    conf_is(k, "statistics.interval.ms", "5000");
    assert_int_equal(pl_kafka_subscribe(k, "paylink.auth.request", err, sizeof err), 0);
    rd_kafka_topic_partition_list_t *subs = NULL;
    assert_int_equal(rd_kafka_subscription(k, &subs), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(subs->cnt, 1);
    assert_string_equal(subs->elems[0].topic, "paylink.auth.request");
    rd_kafka_topic_partition_list_destroy(subs);
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);

    /* Without a stats callback, statistics are off; the heartbeat is capped at 3 s. */
    c.session_timeout_ms = 45000;
    k = pl_kafka_consumer_new(&c, "g", NULL, no_rebalance, NULL, NULL, err, sizeof err);
    assert_non_null(k);
    conf_is(k, "statistics.interval.ms", "0");
    conf_is(k, "heartbeat.interval.ms", "3000");
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
}

/* Counts the partitions assigned, applying the cooperative protocol's (in)crements. */
static void count_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    int *assigned = opaque;
    rd_kafka_error_t *er;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        er = rd_kafka_incremental_assign(rk, parts);
        *assigned += parts->cnt;
    } else {
        er = rd_kafka_incremental_unassign(rk, parts);
        *assigned -= parts->cnt;
    }
    if (er)
        rd_kafka_error_destroy(er);
}

/* A consumer of topic "t" on the mock cluster, with one message consumed and its offset
 * stored (so that closing has an offset to commit). */
static rd_kafka_t *consumer_with_offset(const char *brokers, rd_kafka_t *producer, int *assigned)
{
    pl_config c = test_config();
    snprintf(c.brokers, sizeof c.brokers, "%s", brokers);
    c.session_timeout_ms = 6000;
    c.fetch_wait_ms = 100;
    char err[256] = "";
    rd_kafka_t *k = pl_kafka_consumer_new(&c, "g-close", assigned, count_rebalance, NULL, NULL, err,
                                          sizeof err);
    assert_non_null(k);
    assert_int_equal(pl_kafka_subscribe(k, "t", err, sizeof err), 0);
    assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(0),
                                       RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_message_t *m = NULL;
    for (int i = 0; i < 600 && !m; i++) { /* up to a minute on a loaded machine */
        m = rd_kafka_consumer_poll(k, 100);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    assert_non_null(m);
    assert_true(*assigned > 0);
    assert_int_equal(rd_kafka_offset_store(m->rkt, m->partition, m->offset),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_message_destroy(m);
    return k;
}

/* A mock cluster of one broker with topic "t" of two partitions, on a client *host of its own. */
static rd_kafka_mock_cluster_t *mock_cluster(rd_kafka_t **host)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(*host);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(*host, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "t", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    return mc;
}

/* A plain producer of the mock cluster at brokers. */
static rd_kafka_t *mock_producer(const char *brokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(producer);
    return producer;
}

/*
 * pl_kafka_consumer_close with a broker that does not answer (a round trip of a minute: paused,
 * or a black hole) gives up after its timeout instead of waiting for the broker (as
 * rd_kafka_consumer_close did, without end), and the consumer can still be destroyed. (Closing
 * with the broker there is what every worker does when it stops: the e2e tests.)
 */
static void test_consumer_close_bounded(void **state)
{
    (void)state;
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc = mock_cluster(&host);
    const char *brokers = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_t *producer = mock_producer(brokers);

    int assigned = 0;
    rd_kafka_t *k = consumer_with_offset(brokers, producer, &assigned);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    /* The offset commit cannot finish before the request times out (socket.timeout.ms, 10 s). */
    assert_false(pl_kafka_consumer_close(k, 500));
    /* The broker goes away: the requests still waiting fail at once, and destroy returns. */
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy_flags(k, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);

    rd_kafka_destroy(producer);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

/* A consumer's view for test_rejoin_when_stalled: its assignment, as the engine keeps it, and the
 * partitions its statistics show not fetched. */
typedef struct stall_watch {
    rd_kafka_topic_partition_list_t *assigned;
    pl_kafka_stalls *stalls;
    int revoked;
} stall_watch;

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void watch_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    stall_watch *w = opaque;
    rd_kafka_error_t *er;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        pl_kafka_stalls_forget(w->stalls, parts);
        er = rd_kafka_incremental_assign(rk, parts);
        for (int i = 0; i < parts->cnt; i++)
            rd_kafka_topic_partition_list_add(w->assigned, parts->elems[i].topic,
                                              parts->elems[i].partition);
    } else {
        er = rd_kafka_incremental_unassign(rk, parts);
        w->revoked += parts->cnt;
        for (int i = 0; i < parts->cnt; i++)
            rd_kafka_topic_partition_list_del(w->assigned, parts->elems[i].topic,
                                              parts->elems[i].partition);
    }
    if (er)
        rd_kafka_error_destroy(er);
}

static int watch_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    stall_watch *w = opaque;
    pl_kafka_stalls_observe(w->stalls, json, "t", w->assigned, mono_s());
    return 0;
}

/*
 * The group coordinator answers the read of the committed offsets "Not coordinator" (as after a
 * broker restart moved it): librdkafka 2.0.2 reports the error and leaves both partitions
 * assigned without a position, fetching nothing, for good. The statistics show them not
 * fetched; the consumer leaves the group and joins it again (pl_kafka_resubscribe): revoked
 * through the callback, assigned anew, they are read and fetched: both messages come.
 * Before, paylink-deposit consumed nothing until it was restarted.
 */
static void test_rejoin_when_stalled(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc = mock_cluster(&host);
    const char *brokers = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_t *producer = mock_producer(brokers);
    for (int32_t p = 0; p < 2; p++)
        assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(p),
                                           RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_mock_push_request_errors(mc, 9 /* OffsetFetch (rdkafka_protocol.h, not public) */, 1,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR);

    stall_watch w = {.assigned = rd_kafka_topic_partition_list_new(2),
                     .stalls = pl_kafka_stalls_new()};
    pl_config c = test_config();
    snprintf(c.brokers, sizeof c.brokers, "%s", brokers);
    c.session_timeout_ms = 6000;
    c.fetch_wait_ms = 100;
    setenv("PAYLINK_RDKAFKA_STATISTICS_INTERVAL_MS", "100", 1);
    rd_kafka_t *k = pl_kafka_consumer_new(&c, "g-stall", &w, watch_rebalance, watch_stats, NULL,
                                          err, sizeof err);
    unsetenv("PAYLINK_RDKAFKA_STATISTICS_INTERVAL_MS");
    assert_non_null(k);
    assert_int_equal(pl_kafka_subscribe(k, "t", err, sizeof err), 0);

    int got = 0, offset_errors = 0, rejoined = 0;
    double until = mono_s() + 120; /* a bound for a loaded machine, not a timing assertion */
    while (got < 2 && mono_s() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 100);
        if (m) {
            if (!m->err)
                got++;
            else if (strstr(rd_kafka_message_errstr(m), "committed offset"))
                offset_errors++;
            rd_kafka_message_destroy(m);
        }
        bool due = false;
        for (int i = 0; i < w.assigned->cnt; i++)
            due |= pl_kafka_stalls_due(w.stalls, w.assigned->elems[i].partition, mono_s(), 1.0);
        if (due) {
            pl_kafka_stalls_forget(w.stalls, w.assigned);
            assert_int_equal(pl_kafka_resubscribe(k, "t"), 0);
            rejoined++;
        }
    }
    /* The fault happened, the group was joined again (both partitions revoked through the
     * callback, then assigned anew), and both messages came. */
    assert_true(offset_errors > 0);
    assert_true(rejoined > 0);
    assert_true(w.revoked >= 2);
    assert_int_equal(got, 2);

    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    rd_kafka_topic_partition_list_destroy(w.assigned);
    pl_kafka_stalls_free(w.stalls);
    rd_kafka_destroy(producer);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

/*
 * pl_kafka_wait_deliveries returns only once every message has had its report — with a broker
 * slower than each of its flushes — so the array the reports write into may be freed after it
 * (paylink-dmupdate freed it after a fixed wait, and late reports wrote into freed memory). Asked
 * to stop with the broker away, it purges what is left: every report comes at once, each
 * saying the message was not delivered.
 */
static void test_wait_deliveries(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc = mock_cluster(&host);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), err,
                      sizeof err);
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, pl_kafka_on_delivery);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(producer);

    /* Each produce request answered after 1.5 s: more than one flush of the wait. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 1500), RD_KAFKA_RESP_ERR_NO_ERROR);
    pl_kafka_delivery r[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("t"),
                                           RD_KAFKA_V_PARTITION(i % 2), RD_KAFKA_V_VALUE("m", 1),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_OPAQUE(&r[i]), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    volatile sig_atomic_t stop = 0;
    pl_kafka_wait_deliveries(producer, &stop);
    for (int i = 0; i < 4; i++) {
        assert_true(r[i].done);
        assert_int_equal(r[i].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_outq_len(producer), 0);

    /* The broker away and the process stopping: purged, every report at once, none delivered. */
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    memset(r, 0, sizeof r);
    for (int i = 0; i < 2; i++)
        assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(i),
                                           RD_KAFKA_V_VALUE("m", 1),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_OPAQUE(&r[i]), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    stop = 1;
    pl_kafka_wait_deliveries(producer, &stop);
    for (int i = 0; i < 2; i++) {
        assert_true(r[i].done);
        assert_true(r[i].err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                    r[i].err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT);
    }
    assert_int_equal(rd_kafka_outq_len(producer), 0);

    rd_kafka_destroy(producer);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lag_sums_partitions),
        cmocka_unit_test(test_lag_unknown),
        cmocka_unit_test(test_lag_edge_values),
        cmocka_unit_test(test_stalls),
        cmocka_unit_test(test_rejoin_when_stalled),
        cmocka_unit_test(test_producer_settings),
        cmocka_unit_test(test_consumer_settings),
        cmocka_unit_test(test_classify_publish_errors),
        cmocka_unit_test(test_message_max_bytes),
        cmocka_unit_test(test_consumer_close_bounded),
        cmocka_unit_test(test_wait_deliveries),
        cmocka_unit_test(test_operator_properties),
        cmocka_unit_test(test_error_handler_per_producer),
        cmocka_unit_test(test_renew_after_fatal),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* Lets librdkafka's background threads finish so leak checkers see a clean exit. */
    rd_kafka_wait_destroyed(5000);
    return rc;
}
