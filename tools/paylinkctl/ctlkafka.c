/*
 * ctlkafka.c: produce one message and read a topic without a consumer group (see ctlkafka.h).
 */
#include "ctlkafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

struct pl_ctlkafka_reader {
    rd_kafka_t *rk;
    rd_kafka_message_t *last;     /* the message handed out last; freed on the next call */
    rd_kafka_resp_err_t last_err; /* the last consumer error reported, to report each once */
};

/* What the delivery report said about the one message produced. */
typedef struct delivery {
    bool done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} delivery;

int pl_ctlkafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                         size_t errstr_size)
{
    char kerr[256];
    if (rd_kafka_conf_set(conf, name, value, kerr, sizeof kerr) != RD_KAFKA_CONF_OK)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "kafka %s: %s", name, kerr);
    return PL_OK;
}

rd_kafka_conf_t *pl_ctlkafka_conf(const char *brokers, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (pl_ctlkafka_conf_set(conf, "bootstrap.servers", brokers, errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "client.id", "paylinkctl", errstr, errstr_size) != PL_OK ||
        /* A dev broker going away is reported by the operation that needs it, not per socket. */
        pl_ctlkafka_conf_set(conf, "log.connection.close", "false", errstr, errstr_size) != PL_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery *d = rkm->_private;
    d->done = true;
    d->err = rkm->err;
    d->partition = rkm->partition;
    d->offset = rkm->offset;
}

int pl_ctlkafka_produce(const char *brokers, const char *topic, const char *key,
                        const void *payload, size_t len, int timeout_ms, int32_t *partition,
                        int64_t *offset, char *errstr, size_t errstr_size)
{
    int rc = PL_OK;
    rd_kafka_t *rk = NULL;
    delivery d = {0};
    char timeout[16], kerr[256];

    rd_kafka_conf_t *conf = pl_ctlkafka_conf(brokers, errstr, errstr_size);
    if (!conf)
        return PL_ERR_CONFIG;
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    /* Idempotence: the producer's own retries can never put the request on the topic twice. */
    if (pl_ctlkafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "message.timeout.ms", timeout, errstr, errstr_size) != PL_OK) {
        rd_kafka_conf_destroy(conf);
        return PL_ERR_CONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "kafka producer: %s", kerr);
    }

    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    if (err) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "producing to %s: %s", topic,
                        rd_kafka_err2str(err));
        goto out;
    }
    /* message.timeout.ms makes the report come by then; the flush waits a little longer. */
    rd_kafka_flush(rk, timeout_ms + 2000);
    if (!d.done) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size,
                        "no delivery report from %s within %d ms", brokers, timeout_ms);
        goto out;
    }
    if (d.err) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "delivery to %s failed: %s", topic,
                        rd_kafka_err2str(d.err));
        goto out;
    }
    if (partition)
        *partition = d.partition;
    if (offset)
        *offset = d.offset;
out:
    if (!d.done)
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(rk);
    return rc;
}

/* Partitions of topic, from the cluster's metadata. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms,
                            rd_kafka_topic_partition_list_t **out, char *errstr, size_t errstr_size)
{
    int rc = PL_OK;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "topic %s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (err) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "metadata of %s: %s", topic,
                        rd_kafka_err2str(err));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        rc =
            pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "topic %s: %s", topic,
                       md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                               : "no partitions");
        goto out;
    }
    const rd_kafka_metadata_topic_t *t = &md->topics[0];
    *out = rd_kafka_topic_partition_list_new(t->partition_cnt);
    for (int i = 0; i < t->partition_cnt; i++)
        rd_kafka_topic_partition_list_add(*out, topic, t->partitions[i].id);
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

int pl_ctlkafka_reader_open(const char *brokers, const char *topic, bool from_beginning,
                            int timeout_ms, pl_ctlkafka_reader **out, char *errstr,
                            size_t errstr_size)
{
    int rc = PL_OK;
    char group[64], kerr[256];
    rd_kafka_topic_partition_list_t *parts = NULL;
    pl_ctlkafka_reader *r = calloc(1, sizeof *r);
    if (!r)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");

    rd_kafka_conf_t *conf = pl_ctlkafka_conf(brokers, errstr, errstr_size);
    if (!conf) {
        free(r);
        return PL_ERR_CONFIG;
    }
    /*
     * librdkafka's consumer wants a group id, but with assign() and no commits the group is
     * never joined; a unique one keeps two readers from ever sharing anything.
     */
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)getpid();
    snprintf(group, sizeof group, "paylinkctl-%ld-%08x", (long)getpid(), (unsigned)rnd);
    if (pl_ctlkafka_conf_set(conf, "group.id", group, errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) !=
            PL_OK ||
        pl_ctlkafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) != PL_OK) {
        rd_kafka_conf_destroy(conf);
        free(r);
        return PL_ERR_CONFIG;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!r->rk) {
        rd_kafka_conf_destroy(conf);
        free(r);
        return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "kafka consumer: %s", kerr);
    }
    rd_kafka_poll_set_consumer(r->rk);

    rc = topic_partitions(r->rk, topic, timeout_ms, &parts, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    if (!from_beginning) {
        /*
         * Resolve "the end" to numbers now: an OFFSET_END assignment would be resolved only
         * when fetching starts, after a reply may already have arrived. For offsets_for_times
         * the timestamp -1 (RD_KAFKA_OFFSET_END) means "the latest offset".
         */
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(r->rk, parts, timeout_ms);
        if (err) {
            rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "end offsets of %s: %s", topic,
                            rd_kafka_err2str(err));
            goto out;
        }
        for (int i = 0; i < parts->cnt; i++) {
            if (parts->elems[i].err) {
                rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "end offset of %s [%d]: %s",
                                topic, (int)parts->elems[i].partition,
                                rd_kafka_err2str(parts->elems[i].err));
                goto out;
            }
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(r->rk, parts);
    if (err) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "assigning %s: %s", topic,
                        rd_kafka_err2str(err));
        goto out;
    }
    *out = r;
    r = NULL;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    pl_ctlkafka_reader_destroy(r);
    return rc;
}

int pl_ctlkafka_reader_next(pl_ctlkafka_reader *r, int timeout_ms, const char **payload,
                            size_t *len)
{
    if (r->last) {
        rd_kafka_message_destroy(r->last);
        r->last = NULL;
    }
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r->rk, timeout_ms);
    if (!rkm)
        return 0;
    if (rkm->err) {
        if (rkm->err != r->last_err && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "paylinkctl: kafka: %s\n", rd_kafka_message_errstr(rkm));
        r->last_err = rkm->err;
        rd_kafka_message_destroy(rkm);
        return 0;
    }
    r->last = rkm;
    *payload = rkm->payload;
    *len = rkm->len;
    return 1;
}

void pl_ctlkafka_reader_destroy(pl_ctlkafka_reader *r)
{
    if (!r)
        return;
    if (r->last)
        rd_kafka_message_destroy(r->last);
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    free(r);
}

int pl_ctlkafka_committed(const char *brokers, const char *group, const char *topic, int timeout_ms,
                          FILE *out, char *errstr, size_t errstr_size)
{
    char kerr[256];
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_conf_t *conf = pl_ctlkafka_conf(brokers, errstr, errstr_size);
    if (!conf)
        return PL_ERR_CONFIG;
    if (pl_ctlkafka_conf_set(conf, "group.id", group, errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != PL_OK) {
        rd_kafka_conf_destroy(conf);
        return PL_ERR_CONFIG;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "kafka consumer: %s", kerr);
    }
    int rc = topic_partitions(rk, topic, timeout_ms, &parts, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, parts, timeout_ms);
    if (err) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "committed offsets of %s: %s", group,
                        rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo = 0, hi = -1;
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (rd_kafka_query_watermark_offsets(rk, topic, p->partition, &lo, &hi, timeout_ms))
            hi = -1;
        fprintf(out, "{\"partition\":%d,\"committed\":%lld,\"end\":%lld}\n", (int)p->partition,
                (long long)(p->offset >= 0 ? p->offset : -1), (long long)hi);
    }
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return rc;
}
