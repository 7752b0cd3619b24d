/*
 * ctlkafka.h: the two Kafka operations of paylinkctl, producing one request and reading a topic.
 *
 * Producing uses an idempotent producer and waits for the delivery report, so "sent" means
 * the broker has the message. Reading never joins a consumer group: it assigns every partition
 * of the topic itself, either from the beginning or from the end offsets captured when the
 * reader opens. Opening the reader *before* producing a request therefore guarantees its reply
 * cannot be missed, however fast the worker answers; and an operator's `tail` leaves no
 * consumer group or committed offsets behind on the cluster.
 *
 * A scan (pl_ctlkafka_scan, pl_ctlkafka_read_one) reads a bounded range the same way: what the
 * topic holds when it begins, and then it ends; `paylinkctl dlq` reads dead letters with it.
 *
 * Memory: a pl_ctlkafka_reader is an opaque handle (open/destroy); a message returned by
 * pl_ctlkafka_reader_next stays valid until the next call or destroy. Single thread.
 */
#ifndef PL_CTLKAFKA_H
#define PL_CTLKAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "err.h"

typedef struct pl_ctlkafka_reader pl_ctlkafka_reader;

/*
 * A new client configuration with what every paylinkctl client has: brokers, client.id
 * "paylinkctl", no log line per closed connection. NULL with errstr set when a setting is
 * refused; the caller owns the result (rd_kafka_new takes it, else rd_kafka_conf_destroy).
 */
rd_kafka_conf_t *pl_ctlkafka_conf(const char *brokers, char *errstr, size_t errstr_size);

/* rd_kafka_conf_set with the refusal as PL_ERR_CONFIG in errstr ("kafka NAME: why"). */
int pl_ctlkafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                         size_t errstr_size) PL_MUSTCHECK;

/*
 * Produces one message (key may be NULL) to topic and waits up to timeout_ms for its delivery
 * report. On success *partition and *offset (either may be NULL) say where it landed.
 * Returns 0, PL_ERR_KAFKA or PL_ERR_CONFIG.
 */
int pl_ctlkafka_produce(const char *brokers, const char *topic, const char *key,
                        const void *payload, size_t len, int timeout_ms, int32_t *partition,
                        int64_t *offset, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/*
 * pl_ctlkafka_produce, and on failure *uncertain says whether the message may be on the topic
 * all the same: it left for the broker and no answer said it was not written (no delivery
 * report in time, or a report librdkafka calls possibly persisted — a request that timed out
 * after the broker appended it). false when it never left or the broker refused it. A caller
 * whose message must not go twice treats an uncertain failure as sent.
 */
int pl_ctlkafka_produce_uncertain(const char *brokers, const char *topic, const char *key,
                                  const void *payload, size_t len, int timeout_ms, bool *uncertain,
                                  char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* Where a reader starts (pl_ctlkafka_reader_open's `from`), besides a time. */
#define PL_CTLKAFKA_FROM_END (-1)
#define PL_CTLKAFKA_FROM_BEGINNING (-2)

/*
 * Opens a reader on every partition of topic, from the current end (PL_CTLKAFKA_FROM_END), the
 * beginning (PL_CTLKAFKA_FROM_BEGINNING), or a time (`from` >= 0, ms since the epoch: in each
 * partition the first message stamped at or after it, and anything that arrives from now on;
 * librdkafka's mock broker finds no offsets by time, so there a time reads only new messages).
 * timeout_ms bounds the metadata and offset look-ups. Returns 0 with *out set, or
 * PL_ERR_KAFKA (unreachable brokers, unknown topic), PL_ERR_NOMEM.
 */
int pl_ctlkafka_reader_open(const char *brokers, const char *topic, int64_t from, int timeout_ms,
                            pl_ctlkafka_reader **out, char *errstr,
                            size_t errstr_size) PL_MUSTCHECK;

/*
 * Waits up to timeout_ms for the next message. Returns 1 with *payload and *len set (payload may
 * be NULL for an empty message), 0 when none came in time. Consumer errors (a broker that went
 * away, ...) are transient for a reader: they are reported on stderr once each and the wait
 * goes on.
 */
int pl_ctlkafka_reader_next(pl_ctlkafka_reader *r, int timeout_ms, const char **payload,
                            size_t *len);

/* Closes the reader; NULL is fine. */
void pl_ctlkafka_reader_destroy(pl_ctlkafka_reader *r);

/* One message of a scan; its pointers are valid during the callback only. */
typedef struct pl_ctlkafka_msg {
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 when the message has none */
    const char *key;      /* NULL when the message has none; not NUL-terminated */
    size_t key_len;
    const char *payload; /* NULL for an empty message; not NUL-terminated */
    size_t len;
} pl_ctlkafka_msg;

/* Called for each message of a scan: 0 goes on, anything else ends the scan early. */
typedef int (*pl_ctlkafka_scan_fn)(const pl_ctlkafka_msg *m, void *arg);

/*
 * Reads what topic holds when the call begins, like a reader (no consumer group joined, nothing
 * committed): every partition from its first message (since_ms < 0) or from its first message
 * stamped at or after since_ms (ms since 1970), up to the partition's end offset at the start;
 * messages produced meanwhile are not read. Messages come in offset order per partition, the
 * partitions interleaved. fn is called for each; when it returns non-zero the scan stops and
 * returns PL_OK. timeout_ms bounds the whole scan. Returns 0, PL_ERR_KAFKA (unreachable
 * brokers, unknown topic, the ends not reached in time) or PL_ERR_CONFIG.
 */
int pl_ctlkafka_scan(const char *brokers, const char *topic, int64_t since_ms, int timeout_ms,
                     pl_ctlkafka_scan_fn fn, void *arg, char *errstr,
                     size_t errstr_size) PL_MUSTCHECK;

/*
 * Reads the one message at partition:offset of topic and calls fn with it (its return value is
 * ignored). Returns 0; PL_ERR_NOTFOUND when the topic has no such partition, or no message at
 * that offset (before its first, at or after its end, or removed by compaction); PL_ERR_KAFKA
 * or PL_ERR_CONFIG.
 */
int pl_ctlkafka_read_one(const char *brokers, const char *topic, int32_t partition, int64_t offset,
                         int timeout_ms, pl_ctlkafka_scan_fn fn, void *arg, char *errstr,
                         size_t errstr_size) PL_MUSTCHECK;

/*
 * Writes one JSON line per partition of topic to out: {"partition", "committed" (the offset the
 * consumer group committed, -1 when none), "end" (the partition's high watermark)}. Reads the
 * group's commits without joining it. Returns 0, PL_ERR_KAFKA or PL_ERR_CONFIG.
 */
int pl_ctlkafka_committed(const char *brokers, const char *group, const char *topic, int timeout_ms,
                          FILE *out, char *errstr, size_t errstr_size) PL_MUSTCHECK;

#endif
