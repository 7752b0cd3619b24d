/*
 * ctlkafka.c: produce one message and read a topic without a consumer group (see ctlkafka.h).
 */
#include "ctlkafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
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
    rd_kafka_msg_status_t status;
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
    d->status = rd_kafka_message_status(rkm);
    d->partition = rkm->partition;
    d->offset = rkm->offset;
}

static int produce(const char *brokers, const char *topic, const char *key, const void *payload,
                   size_t len, int timeout_ms, int32_t *partition, int64_t *offset, bool *uncertain,
                   char *errstr, size_t errstr_size)
{
    *uncertain = false;
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
        *uncertain = true;
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size,
                        "no delivery report from %s within %d ms", brokers, timeout_ms);
        goto out;
    }
    if (d.err) {
        *uncertain = d.status != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
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

int pl_ctlkafka_produce(const char *brokers, const char *topic, const char *key,
                        const void *payload, size_t len, int timeout_ms, int32_t *partition,
                        int64_t *offset, char *errstr, size_t errstr_size)
{
    bool uncertain;
    return produce(brokers, topic, key, payload, len, timeout_ms, partition, offset, &uncertain,
                   errstr, errstr_size);
}

int pl_ctlkafka_produce_uncertain(const char *brokers, const char *topic, const char *key,
                                  const void *payload, size_t len, int timeout_ms, bool *uncertain,
                                  char *errstr, size_t errstr_size)
{
    return produce(brokers, topic, key, payload, len, timeout_ms, NULL, NULL, uncertain, errstr,
                   errstr_size);
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

/*
 * A consumer that never joins its group: librdkafka's consumer wants a group id, but with
 * assign() and no commits the group is never joined; a unique one keeps two paylinkctl
 * consumers from ever sharing anything. With eof, the end of a partition is reported as a
 * RD_KAFKA_RESP_ERR__PARTITION_EOF event. NULL with errstr set on failure.
 */
static rd_kafka_t *new_consumer(const char *brokers, bool eof, char *errstr, size_t errstr_size)
{
    char group[64], kerr[256];
    rd_kafka_conf_t *conf = pl_ctlkafka_conf(brokers, errstr, errstr_size);
    if (!conf)
        return NULL;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)getpid();
    snprintf(group, sizeof group, "paylinkctl-%ld-%08x", (long)getpid(), (unsigned)rnd);
    if (pl_ctlkafka_conf_set(conf, "group.id", group, errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) !=
            PL_OK ||
        pl_ctlkafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) != PL_OK ||
        pl_ctlkafka_conf_set(conf, "enable.partition.eof", eof ? "true" : "false", errstr,
                             errstr_size) != PL_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "kafka consumer: %s", kerr);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/*
 * Errors of an offsets look-up that pass by themselves: a partition whose leader is moving or
 * not yet elected. A topic created moments ago (tools/dev up, then its demo request) answers
 * "Not leader for partition" for a while after its metadata already names a leader.
 */
static bool offsets_err_passes(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
        return true;
    default:
        return false;
    }
}

/* The pause between two offsets look-ups that met an error that passes. */
#define OFFSETS_RETRY_MS 100

/*
 * Offsets of every partition in parts for `timestamp` (RD_KAFKA_OFFSET_END: the end; a time in
 * ms: the first message stamped at or after it, -1 when there is none), written into parts.
 * Errors that pass by themselves (offsets_err_passes) are asked again until timeout_ms is spent;
 * the error then reported is the last one.
 */
static int offsets_at(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t *parts,
                      int64_t timestamp, int timeout_ms, char *errstr, size_t errstr_size)
{
    double deadline = mono_ms() + timeout_ms;
    for (;;) {
        for (int i = 0; i < parts->cnt; i++) {
            parts->elems[i].offset = timestamp;
            parts->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        double left = deadline - mono_ms();
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, parts, left > 1.0 ? (int)left : 1);
        int bad = -1;
        for (int i = 0; !err && bad < 0 && i < parts->cnt; i++)
            if (parts->elems[i].err)
                bad = i;
        if (!err && bad < 0)
            return PL_OK;
        rd_kafka_resp_err_t why = err ? err : parts->elems[bad].err;
        if (!offsets_err_passes(why) || mono_ms() + OFFSETS_RETRY_MS >= deadline) {
            if (err)
                return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "offsets of %s: %s", topic,
                                  rd_kafka_err2str(err));
            return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "offsets of %s [%d]: %s", topic,
                              (int)parts->elems[bad].partition, rd_kafka_err2str(why));
        }
        struct timespec pause = {.tv_nsec = OFFSETS_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int pl_ctlkafka_reader_open(const char *brokers, const char *topic, int64_t from, int timeout_ms,
                            pl_ctlkafka_reader **out, char *errstr, size_t errstr_size)
{
    int rc = PL_OK;
    rd_kafka_topic_partition_list_t *parts = NULL, *at = NULL;
    pl_ctlkafka_reader *r = calloc(1, sizeof *r);
    if (!r)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    r->rk = new_consumer(brokers, false, errstr, errstr_size);
    if (!r->rk) {
        free(r);
        return PL_ERR_KAFKA;
    }

    rc = topic_partitions(r->rk, topic, timeout_ms, &parts, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;
    if (from == PL_CTLKAFKA_FROM_BEGINNING) {
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    } else {
        /* Resolve "the end" to numbers now: an OFFSET_END assignment would be resolved only
         * when fetching starts, after a reply may already have arrived. */
        rc = offsets_at(r->rk, topic, parts, RD_KAFKA_OFFSET_END, timeout_ms, errstr, errstr_size);
        if (rc != PL_OK)
            goto out;
        if (from >= 0) {
            /* A partition with nothing stamped at or after `from` starts at the end taken
             * above, before this look-up: a message that arrives in between is read. */
            if (!(at = rd_kafka_topic_partition_list_copy(parts))) {
                rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto out;
            }
            rc = offsets_at(r->rk, topic, at, from, timeout_ms, errstr, errstr_size);
            if (rc != PL_OK)
                goto out;
            for (int i = 0; i < parts->cnt; i++)
                if (at->elems[i].offset >= 0 && at->elems[i].offset < parts->elems[i].offset)
                    parts->elems[i].offset = at->elems[i].offset;
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
    if (at)
        rd_kafka_topic_partition_list_destroy(at);
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

/* ---- scans ------------------------------------------------------------------------------- */

/* The bound of one metadata or offsets look-up of a scan. */
#define LOOKUP_MS 10000

/* Where a scan stands on one partition: [next, end) is left to read. */
typedef struct scan_range {
    int32_t partition;
    int64_t end;
    bool done;
} scan_range;

/*
 * Reads the assigned partitions until each reached its range's end (its last message, or the
 * end-of-partition event: a range may end in offsets that hold no message) or fn asked to stop.
 */
static int consume_ranges(rd_kafka_t *rk, const char *topic, scan_range *ranges, int n,
                          double deadline_ms, pl_ctlkafka_scan_fn fn, void *arg, char *errstr,
                          size_t errstr_size)
{
    int left = 0;
    rd_kafka_resp_err_t last_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < n; i++)
        left += !ranges[i].done;
    while (left > 0) {
        double now = mono_ms();
        if (now >= deadline_ms)
            return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size,
                              "reading %s timed out: %d of %d partitions not read to their end",
                              topic, left, n);
        int wait = deadline_ms - now > 250 ? 250 : (int)(deadline_ms - now) + 1;
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, wait);
        if (!rkm)
            continue;
        scan_range *r = NULL;
        for (int i = 0; i < n && !r; i++)
            if (ranges[i].partition == rkm->partition)
                r = &ranges[i];
        if (rkm->err && rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* Transient as for a reader (a broker away); the deadline bounds the wait. */
            if (rkm->err != last_err)
                fprintf(stderr, "paylinkctl: kafka: %s\n", rd_kafka_message_errstr(rkm));
            last_err = rkm->err;
        } else if (r && !r->done) {
            bool stop = false;
            if (!rkm->err && rkm->offset < r->end) {
                rd_kafka_timestamp_type_t tstype;
                int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
                pl_ctlkafka_msg m = {
                    .partition = rkm->partition,
                    .offset = rkm->offset,
                    .timestamp_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts,
                    .key = rkm->key,
                    .key_len = rkm->key ? rkm->key_len : 0,
                    .payload = rkm->payload,
                    .len = rkm->payload ? rkm->len : 0,
                };
                stop = fn(&m, arg) != 0;
            }
            if (rkm->err || rkm->offset + 1 >= r->end) {
                r->done = true;
                left--;
            }
            if (stop) {
                rd_kafka_message_destroy(rkm);
                return PL_OK;
            }
        }
        rd_kafka_message_destroy(rkm);
    }
    return PL_OK;
}

/* Assigns parts (their offsets: where to start) and reads each up to its range's end. */
static int assign_and_consume(rd_kafka_t *rk, const char *topic,
                              rd_kafka_topic_partition_list_t *parts, scan_range *ranges,
                              double deadline_ms, pl_ctlkafka_scan_fn fn, void *arg, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *todo = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        if (!ranges[i].done)
            rd_kafka_topic_partition_list_add(todo, topic, parts->elems[i].partition)->offset =
                parts->elems[i].offset;
    int rc = PL_OK;
    if (todo->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, todo);
        rc = err ? pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "assigning %s: %s", topic,
                              rd_kafka_err2str(err))
                 : consume_ranges(rk, topic, ranges, parts->cnt, deadline_ms, fn, arg, errstr,
                                  errstr_size);
        rd_kafka_assign(rk, NULL);
    }
    rd_kafka_topic_partition_list_destroy(todo);
    return rc;
}

int pl_ctlkafka_scan(const char *brokers, const char *topic, int64_t since_ms, int timeout_ms,
                     pl_ctlkafka_scan_fn fn, void *arg, char *errstr, size_t errstr_size)
{
    double deadline = mono_ms() + timeout_ms;
    /* Each look-up gets what tail's reader gets: an unreachable cluster fails in seconds. */
    int lookup_ms = timeout_ms < LOOKUP_MS ? timeout_ms : LOOKUP_MS;
    rd_kafka_topic_partition_list_t *parts = NULL, *starts = NULL;
    scan_range *ranges = NULL;
    rd_kafka_t *rk = new_consumer(brokers, true, errstr, errstr_size);
    if (!rk)
        return PL_ERR_KAFKA;
    int rc = topic_partitions(rk, topic, lookup_ms, &parts, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;
    starts = rd_kafka_topic_partition_list_copy(parts);
    ranges = calloc((size_t)parts->cnt, sizeof *ranges);
    if (!ranges) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    /* The ends first: what arrives after them is not this scan's. For offsets_for_times the
     * timestamp -1 (RD_KAFKA_OFFSET_END) means the latest offset, -2 the earliest. */
    rc = offsets_at(rk, topic, parts, RD_KAFKA_OFFSET_END, lookup_ms, errstr, errstr_size);
    if (rc == PL_OK)
        rc = offsets_at(rk, topic, starts, since_ms >= 0 ? since_ms : RD_KAFKA_OFFSET_BEGINNING,
                        lookup_ms, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;
    for (int i = 0; i < parts->cnt; i++) {
        ranges[i].partition = parts->elems[i].partition;
        ranges[i].end = parts->elems[i].offset;
        /* -1 from a time: no message at or after it. */
        int64_t start = starts->elems[i].offset;
        ranges[i].done = start < 0 || start >= ranges[i].end;
        parts->elems[i].offset = start;
    }
    rc = assign_and_consume(rk, topic, parts, ranges, deadline, fn, arg, errstr, errstr_size);
out:
    free(ranges);
    if (starts)
        rd_kafka_topic_partition_list_destroy(starts);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* read_one's callback: only the message at the wanted offset counts. */
typedef struct read_one_ctx {
    int64_t offset;
    bool found;
    pl_ctlkafka_scan_fn fn;
    void *arg;
} read_one_ctx;

static int on_read_one(const pl_ctlkafka_msg *m, void *arg)
{
    read_one_ctx *c = arg;
    if (m->offset == c->offset) {
        c->found = true;
        c->fn(m, c->arg);
    }
    return 1;
}

int pl_ctlkafka_read_one(const char *brokers, const char *topic, int32_t partition, int64_t offset,
                         int timeout_ms, pl_ctlkafka_scan_fn fn, void *arg, char *errstr,
                         size_t errstr_size)
{
    double deadline = mono_ms() + timeout_ms;
    int lookup_ms = timeout_ms < LOOKUP_MS ? timeout_ms : LOOKUP_MS;
    rd_kafka_topic_partition_list_t *parts = NULL, *one = NULL;
    int64_t lo = 0, hi = 0;
    rd_kafka_t *rk = new_consumer(brokers, true, errstr, errstr_size);
    if (!rk)
        return PL_ERR_KAFKA;
    int rc = topic_partitions(rk, topic, lookup_ms, &parts, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;
    if (!rd_kafka_topic_partition_list_find(parts, topic, partition)) {
        rc = pl_err_set(PL_ERR_NOTFOUND, errstr, errstr_size, "%s has no partition %d", topic,
                        (int)partition);
        goto out;
    }
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, lookup_ms);
    if (err) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "offsets of %s [%d]: %s", topic,
                        (int)partition, rd_kafka_err2str(err));
        goto out;
    }
    if (offset < lo || offset >= hi) {
        rc = pl_err_set(PL_ERR_NOTFOUND, errstr, errstr_size,
                        "%s [%d] has no message at offset %lld (it holds %lld to %lld)", topic,
                        (int)partition, (long long)offset, (long long)lo, (long long)hi - 1);
        goto out;
    }
    one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition)->offset = offset;
    scan_range range = {.partition = partition, .end = offset + 1};
    read_one_ctx ctx = {.offset = offset, .fn = fn, .arg = arg};
    rc = assign_and_consume(rk, topic, one, &range, deadline, on_read_one, &ctx, errstr,
                            errstr_size);
    if (rc == PL_OK && !ctx.found)
        rc = pl_err_set(PL_ERR_NOTFOUND, errstr, errstr_size,
                        "%s [%d] has no message at offset %lld", topic, (int)partition,
                        (long long)offset);
out:
    if (one)
        rd_kafka_topic_partition_list_destroy(one);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
