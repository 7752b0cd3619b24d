/*
 * test_devbroker.c: the dev broker hosted in-process, exercised by real librdkafka clients the
 * way the workers use them: an idempotent producer, a cooperative-sticky consumer group, and a
 * producer that has to live through an outage.
 *
 * No assertion measures time (a loaded machine stretches any duration): the waits below are
 * deadlines against hanging only, and the outage is proven by the delivery reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>

#include "devbroker.h"
#include "devbroker_clients.h"
#include "log.h"

#define MSG_CNT 10
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A producer on the dev broker; extra holds name/value pairs, NULL-terminated. */
static rd_kafka_t *new_producer(const char *bootstrap, dr_counts *counts, const char *const *extra)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_t *rk;

    conf_set(conf, "bootstrap.servers", bootstrap);
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i += 2)
        conf_set(conf, extra[i], extra[i + 1]);
    if (counts != NULL) {
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_opaque(conf, counts);
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL)
        fail_msg("producer: %s", err);
    return rk;
}

static void produce_to(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *key, const char *value)
{
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void produce(rd_kafka_t *rk, const char *topic, const char *key, const char *value)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);

    assert_non_null(rkt);
    produce_to(rk, rkt, key, value);
    rd_kafka_topic_destroy(rkt);
}

static void test_parse_long(void **state)
{
    long v = 42;

    (void)state;
    assert_int_equal(pl_devbroker_parse_long("32", 1, 1024, &v), 0);
    assert_int_equal(v, 32);
    assert_int_equal(pl_devbroker_parse_long("-1", -1, 16, &v), 0);
    assert_int_equal(v, -1);
    v = 42;
    assert_int_equal(pl_devbroker_parse_long("0", 1, 1024, &v), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_parse_long("1025", 1, 1024, &v), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_parse_long("12x", 1, 1024, &v), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_parse_long("", 1, 1024, &v), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_parse_long(" 5", 1, 1024, &v), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_parse_long("99999999999999999999", 1, 1024, &v), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_parse_long(NULL, 1, 1024, &v), PL_ERR_INVALID);
    assert_int_equal(v, 42); /* untouched on error */
}

static void test_topic_names(void **state)
{
    char longname[PL_DEVBROKER_TOPIC_MAX + 2];

    (void)state;
    assert_true(pl_devbroker_topic_name_ok("paylink.auth.request.dlq"));
    assert_true(pl_devbroker_topic_name_ok("a_b-C9"));
    assert_false(pl_devbroker_topic_name_ok(""));
    assert_false(pl_devbroker_topic_name_ok("."));
    assert_false(pl_devbroker_topic_name_ok(".."));
    assert_false(pl_devbroker_topic_name_ok("has space"));
    assert_false(pl_devbroker_topic_name_ok("slash/topic"));
    assert_false(pl_devbroker_topic_name_ok(NULL));
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(pl_devbroker_topic_name_ok(longname));
    longname[PL_DEVBROKER_TOPIC_MAX] = '\0';
    assert_true(pl_devbroker_topic_name_ok(longname));
}

static void test_write_file_atomic(void **state)
{
    char dir[] = "/tmp/test_devbroker_XXXXXX";
    char path[128], bad[192], buf[64] = "";
    char errstr[256] = "";
    FILE *f;
    size_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bootstrap", dir);
    assert_int_equal(pl_devbroker_write_file(path, "old", errstr, sizeof(errstr)), 0);
    assert_int_equal(pl_devbroker_write_file(path, "127.0.0.1:9092", errstr, sizeof(errstr)), 0);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The whole new content and nothing else: no trailing newline, no left-over "old". */
    assert_string_equal(buf, "127.0.0.1:9092");

    /* No temporary file is left next to it. */
    snprintf(bad, sizeof(bad), "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(bad, F_OK), 0);

    snprintf(bad, sizeof(bad), "%s/no/such/dir/file", dir);
    assert_int_equal(pl_devbroker_write_file(bad, "x", errstr, sizeof(errstr)), PL_ERR_IO);
    assert_non_null(strstr(errstr, "no/such/dir"));

    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_bad_config(void **state)
{
    pl_devbroker *db = (pl_devbroker *)&db;
    char errstr[256] = "";
    pl_devbroker_config cfg = {.brokers = PL_DEVBROKER_MAX_BROKERS + 1};

    (void)state;
    assert_int_equal(pl_devbroker_new(&db, &cfg, errstr, sizeof(errstr)), PL_ERR_INVALID);
    assert_null(db);
    assert_non_null(strstr(errstr, "brokers"));

    cfg = (pl_devbroker_config){.partitions = -3};
    assert_int_equal(pl_devbroker_new(&db, &cfg, errstr, sizeof(errstr)), PL_ERR_INVALID);

    cfg = (pl_devbroker_config){.prefix = "bad prefix"};
    assert_int_equal(pl_devbroker_new(&db, &cfg, errstr, sizeof(errstr)), PL_ERR_INVALID);

    /* A bad extra topic fails the start after the cluster was up: it must be torn down. */
    cfg = (pl_devbroker_config){.partitions = 1, .extra_topics = "fine,not fine"};
    assert_int_equal(pl_devbroker_new(&db, &cfg, errstr, sizeof(errstr)), PL_ERR_INVALID);
    assert_null(db);
    assert_non_null(strstr(errstr, "topic"));
}

static void test_topics(void **state)
{
    static const char *const paylink_topics[] = {
        "paylink.auth.request",     "paylink.auth.reply",     "paylink.auth.request.dlq",
        "paylink.deposit.request",  "paylink.deposit.reply",  "paylink.deposit.request.dlq",
        "paylink.reversal.request", "paylink.reversal.reply", "paylink.reversal.request.dlq",
        "paylink.svc.request",      "paylink.svc.reply",      "paylink.svc.request.dlq",
        "paylink.dm.decision",
    };
    pl_devbroker_config cfg = {.extra_topics = " extra.one,,extra.two , paylink.auth.request,"};
    pl_devbroker *db = NULL;
    char errstr[256] = "";
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const struct rd_kafka_metadata *md = NULL;

    (void)state;
    assert_int_equal(pl_devbroker_new(&db, &cfg, errstr, sizeof(errstr)), 0);
    assert_int_equal(pl_devbroker_broker_count(db), 1);
    /* 13 paylink topics and 2 extras; the repeated default is created once. */
    assert_int_equal(pl_devbroker_topic_count(db), 15);
    assert_int_equal(strncmp(pl_devbroker_bootstraps(db), "127.0.0.1:", 10), 0);

    rk = new_producer(pl_devbroker_bootstraps(db), NULL, NULL);
    for (size_t i = 0; i < sizeof(paylink_topics) / sizeof(paylink_topics[0]); i++)
        assert_int_equal(partitions_of(rk, paylink_topics[i]), 32);
    assert_int_equal(partitions_of(rk, "extra.one"), 32);
    assert_int_equal(partitions_of(rk, "extra.two"), 32);

    assert_int_equal(pl_devbroker_topic_create(db, "chaos.topic", 5, errstr, sizeof(errstr)), 0);
    assert_int_equal(partitions_of(rk, "chaos.topic"), 5);
    assert_int_equal(pl_devbroker_topic_count(db), 16);
    assert_int_equal(pl_devbroker_topic_create(db, "chaos.topic", 5, errstr, sizeof(errstr)),
                     PL_ERR_STATE);
    assert_int_equal(pl_devbroker_topic_create(db, "x", 0, errstr, sizeof(errstr)), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_topic_create(db, "bad/name", 1, errstr, sizeof(errstr)),
                     PL_ERR_INVALID);

    /* Auto-creation as devbroker.h describes it: a producer's Metadata request for an unknown
     * topic creates it with the mock's default of 4 partitions, not our 32. */
    assert_int_equal(partitions_of(rk, "never.created"), -1);
    rkt = rd_kafka_topic_new(rk, "never.created", NULL);
    assert_non_null(rkt);
    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    assert_int_equal(md->topics[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topics[0].partition_cnt, 4);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    assert_int_equal(pl_devbroker_topic_create(db, "never.created", 8, errstr, sizeof(errstr)),
                     PL_ERR_STATE);

    rd_kafka_destroy(rk);
    pl_devbroker_destroy(db);
}

static void test_prefix_and_brokers(void **state)
{
    pl_devbroker_config cfg = {.brokers = 3, .partitions = 6, .prefix = "ci7"};
    pl_devbroker *db = NULL;
    char errstr[256] = "";
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_t *rk;

    (void)state;
    assert_int_equal(pl_devbroker_new(&db, &cfg, errstr, sizeof(errstr)), 0);
    assert_int_equal(pl_devbroker_broker_count(db), 3);
    rk = new_producer(pl_devbroker_bootstraps(db), NULL, NULL);
    assert_int_equal(partitions_of(rk, "ci7.svc.request.dlq"), 6);
    assert_int_equal(partitions_of(rk, "ci7.dm.decision"), 6);
    assert_int_equal(partitions_of(rk, "paylink.auth.request"), -1);

    /* Three brokers, every one of them on loopback. */
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->broker_cnt, 3);
    for (int i = 0; i < md->broker_cnt; i++)
        assert_string_equal(md->brokers[i].host, "127.0.0.1");
    rd_kafka_metadata_destroy(md);

    assert_int_equal(pl_devbroker_broker_down(db, 2, errstr, sizeof(errstr)), 0);
    assert_int_equal(pl_devbroker_broker_down(db, 2, errstr, sizeof(errstr)), 0); /* again */
    assert_int_equal(pl_devbroker_broker_up(db, 2, errstr, sizeof(errstr)), 0);
    assert_int_equal(pl_devbroker_broker_down(db, 4, errstr, sizeof(errstr)), PL_ERR_NOTFOUND);
    assert_int_equal(pl_devbroker_broker_up(db, 0, errstr, sizeof(errstr)), PL_ERR_NOTFOUND);
    assert_int_equal(pl_devbroker_broker_rtt(db, 1, -5, errstr, sizeof(errstr)), PL_ERR_INVALID);
    assert_int_equal(pl_devbroker_broker_rtt(db, -1, 0, errstr, sizeof(errstr)), 0);

    rd_kafka_destroy(rk);
    pl_devbroker_destroy(db);
}

static void test_produce_consume_group(void **state)
{
    static const char *const idempotent[] = {"enable.idempotence", "true", NULL};
    pl_devbroker *db = NULL;
    char errstr[256] = "";
    dr_counts counts = {0};
    rd_kafka_t *producer, *consumer;
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *topics;
    char key[32], value[64], group[64];
    int seen[MSG_CNT] = {0};
    int received = 0;
    double deadline; /* against hanging only */

    (void)state;
    assert_int_equal(pl_devbroker_new(&db, NULL, errstr, sizeof(errstr)), 0);

    producer = new_producer(pl_devbroker_bootstraps(db), &counts, idempotent);
    for (int i = 0; i < MSG_CNT; i++) {
        snprintf(key, sizeof(key), "1-ORD%d", i);
        snprintf(value, sizeof(value), "{\"request_id\":\"r-%d\"}", i);
        produce(producer, "paylink.auth.request", key, value);
    }
    assert_int_equal(rd_kafka_flush(producer, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, MSG_CNT);
    assert_int_equal(counts.failed, 0);
    rd_kafka_destroy(producer);

    conf = rd_kafka_conf_new();
    snprintf(group, sizeof(group), "test-devbroker-%ld", (long)getpid());
    conf_set(conf, "bootstrap.servers", pl_devbroker_bootstraps(db));
    conf_set(conf, "group.id", group);
    conf_set(conf, "auto.offset.reset", "earliest");
    /* DESIGN.md: with the default 45 s session timeout the mock can make a joining member
     * wait that long; 6 s keeps the test quick. */
    conf_set(conf, "session.timeout.ms", "6000");
    conf_set(conf, "heartbeat.interval.ms", "500");
    conf_set(conf, "partition.assignment.strategy", "cooperative-sticky");
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(consumer);
    rd_kafka_poll_set_consumer(consumer);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, "paylink.auth.request", RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(consumer, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);

    deadline = now_s() + DEADLINE_MS / 1000.0;
    while (received < MSG_CNT && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 500);
        int i;

        if (m == NULL)
            continue;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* Partition EOF and the like are not messages. */
            rd_kafka_message_destroy(m);
            continue;
        }
        assert_true(m->len < sizeof(value));
        memcpy(value, m->payload, m->len);
        value[m->len] = '\0';
        assert_int_equal(sscanf(value, "{\"request_id\":\"r-%d\"}", &i), 1);
        assert_true(i >= 0 && i < MSG_CNT);
        snprintf(key, sizeof(key), "1-ORD%d", i);
        assert_int_equal(m->key_len, strlen(key));
        assert_memory_equal(m->key, key, m->key_len);
        assert_string_equal(rd_kafka_topic_name(m->rkt), "paylink.auth.request");
        seen[i]++;
        received++;
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(received, MSG_CNT);
    for (int i = 0; i < MSG_CNT; i++)
        assert_int_equal(seen[i], 1); /* each one, once: the idempotent producer sent no dups */

    assert_int_equal(rd_kafka_consumer_close(consumer), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(consumer);
    pl_devbroker_destroy(db);
}

static void test_outage_down_up(void **state)
{
    /* The workers' producer settings, with a short message timeout so the outage shows fast
     * and a short reconnect backoff so recovery does not wait on a 10 s backoff. */
    static const char *const settings[] = {
        "enable.idempotence",
        "true",
        "message.timeout.ms",
        "1500",
        "reconnect.backoff.max.ms",
        "200",
        NULL,
    };
    pl_devbroker *db = NULL;
    char errstr[256] = "";
    dr_counts counts = {0};
    rd_kafka_t *rk;
    rd_kafka_topic_t *patient;

    (void)state;
    assert_int_equal(pl_devbroker_new(&db, NULL, errstr, sizeof(errstr)), 0);
    rk = new_producer(pl_devbroker_bootstraps(db), &counts, settings);
    patient = patient_topic(rk, "paylink.auth.request");

    /* Healthy first, so the outage hits a connected client. */
    produce(rk, "paylink.auth.reply", "1-A", "before");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, 1);

    /* During the outage the message fails through its timeout: that is what the error says
     * (not a connection refusal, not a lost report). */
    assert_int_equal(pl_devbroker_broker_down(db, -1, errstr, sizeof(errstr)), 0);
    produce(rk, "paylink.auth.reply", "1-B", "during");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, 1);
    assert_int_equal(counts.failed, 1);
    assert_int_equal(counts.last_err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);

    /* After it, the same client reconnects by itself and delivers. The message has no timeout
     * of its own, so a slow reconnect on a loaded machine cannot fail it. */
    assert_int_equal(pl_devbroker_broker_up(db, -1, errstr, sizeof(errstr)), 0);
    produce_to(rk, patient, "1-C", "after");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, 2);
    assert_int_equal(counts.failed, 1);

    rd_kafka_topic_destroy(patient);
    rd_kafka_destroy(rk);
    pl_devbroker_destroy(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_long),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_write_file_atomic),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_prefix_and_brokers),
        cmocka_unit_test(test_produce_consume_group),
        cmocka_unit_test(test_outage_down_up),
    };

    /* The library logs through log.h; keep the test output to errors. */
    pl_log_init("test_devbroker", NULL);
    pl_log_set_level(PL_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
