/*
 * devbroker_clients.h: what the dev broker's unit tests (test_devbroker.c,
 * test_devbroker_control.c) need on the client side: delivery-report counters, configuration,
 * metadata, and a topic handle whose messages never time out. Header-only (static inline), for
 * tests only; include after <cmocka.h> and <librdkafka/rdkafka.h>.
 */
#ifndef PL_TEST_DEVBROKER_CLIENTS_H
#define PL_TEST_DEVBROKER_CLIENTS_H

#include <string.h>

/* Against hanging only: flush, poll and metadata return as soon as their work is done, and
 * no assertion depends on how long they took. */
#define DEADLINE_MS 60000

/* Delivery report counters, libuv style: every produced message reports exactly once. */
typedef struct dr_counts {
    int ok;
    int failed;
    rd_kafka_resp_err_t last_err;
} dr_counts;

static inline void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    dr_counts *c = opaque;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        c->ok++;
    } else {
        c->failed++;
        c->last_err = m->err;
    }
}

static inline void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];

    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        fail_msg("%s=%s: %s", name, value, err);
}

/*
 * A handle on topic whose messages never time out (message.timeout.ms 0): they wait for the
 * broker however long it takes, where the producer's own short timeout would fail them. For a
 * message that must survive a reconnect on a loaded machine.
 */
static inline rd_kafka_topic_t *patient_topic(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
    char err[256];
    rd_kafka_topic_t *rkt;

    if (rd_kafka_topic_conf_set(tc, "message.timeout.ms", "0", err, sizeof(err)) !=
        RD_KAFKA_CONF_OK)
        fail_msg("message.timeout.ms: %s", err);
    rkt = rd_kafka_topic_new(rk, topic, tc);
    assert_non_null(rkt);
    return rkt;
}

/* Partition count of topic as the cluster reports it, or -1 when it is not there. */
static inline int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;

    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0 && md->topics[i].err == 0)
            n = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

#endif
