/*
 * kafka.h: librdkafka clients configured the way every paylink worker needs them.
 *
 * Consumer: consumer group, cooperative-sticky assignment, offsets stored by the application
 * only after a request's effect is durable (enable.auto.offset.store=false) and committed in
 * the background (enable.auto.commit=true, which also makes close commit them), earliest reset
 * so a new group never skips requests, bounded prefetch. Producer: idempotent (no duplicates
 * or reordering from its own retries), delivery reports to the callback.
 * See kafka-postgres-curl-practice.md §1.1. One thread.
 */
#ifndef PL_KAFKA_H
#define PL_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

typedef void (*pl_kafka_dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
typedef void (*pl_kafka_rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                      rd_kafka_topic_partition_list_t *parts, void *opaque);
typedef int (*pl_kafka_stats_cb)(rd_kafka_t *rk, char *json, size_t len, void *opaque);
/* The result of a commit librdkafka made by itself (rd_kafka_conf_set_offset_commit_cb): its
 * automatic commit, and its commit of the stored offsets of the partitions it unassigns. */
typedef void (*pl_kafka_commit_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t *offsets, void *opaque);

/*
 * Called (on the thread that polls the producer) for librdkafka's client-level errors. Every
 * error is logged by kafka.c first; `fatal` is true for RD_KAFKA_RESP_ERR__FATAL, after which
 * the producer can publish nothing more (the idempotent producer lost its guarantees) and the
 * process must be restarted. reason is librdkafka's text, valid during the call.
 */
typedef void (*pl_kafka_error_cb)(rd_kafka_t *rk, bool fatal, const char *reason, void *opaque);

/* Returns NULL with errstr set. on_error may be NULL (errors are only logged); it is called
 * for this producer's errors only, and one producer of a process may have one. */
rd_kafka_t *pl_kafka_producer_new(const pl_config *c, void *opaque, pl_kafka_dr_cb dr,
                                  pl_kafka_error_cb on_error, char *errstr, size_t errstr_size);

/* As pl_kafka_producer_new, with every message's delivery report due within message_timeout_ms
 * (librdkafka's message.timeout.ms, set over PAYLINK_RDKAFKA_*): for a caller that waits for the
 * report while it holds something for a bounded time (the resolver's publish lease). */
rd_kafka_t *pl_kafka_producer_new_bounded(const pl_config *c, void *opaque, pl_kafka_dr_cb dr,
                                          pl_kafka_error_cb on_err, int message_timeout_ms,
                                          char *errstr, size_t errstr_size);

/*
 * A producer that met a fatal error (an idempotent producer's broken sequence: every later
 * produce fails at once) is of no more use: when *p has one, it is destroyed and made again
 * with pl_kafka_producer_new_bounded(c, opaque, dr, NULL, message_timeout_ms) — for a producer
 * no fatal-error handler stops the process for (the resolver's). Every message of *p must have
 * had its delivery report (its caller waits for each). Returns 0 (*p usable: unchanged, or new),
 * or -1 with errstr when a new one could not be made (*p left as it was).
 */
int pl_kafka_producer_renew_if_fatal(rd_kafka_t **p, const pl_config *c, void *opaque,
                                     pl_kafka_dr_cb dr, int message_timeout_ms, char *errstr,
                                     size_t errstr_size) PL_MUSTCHECK;

/* The consumer's events (messages, rebalances, stats, the results of librdkafka's own commits:
 * `committed`) are served by rd_kafka_consumer_poll, and during pl_kafka_consumer_close by its
 * own polling. stats and committed may be NULL (committed: the results are not told; an
 * explicit commit with a callback of its own, rd_kafka_commit_queue, is never told to it).
 * Returns NULL with errstr set. */
rd_kafka_t *pl_kafka_consumer_new(const pl_config *c, const char *group, void *opaque,
                                  pl_kafka_rebalance_cb rebalance, pl_kafka_stats_cb stats,
                                  pl_kafka_commit_cb committed, char *errstr, size_t errstr_size);

int pl_kafka_subscribe(rd_kafka_t *consumer, const char *topic, char *errstr,
                       size_t errstr_size) PL_MUSTCHECK;

/*
 * Closes a consumer as rd_kafka_consumer_close does (the rebalance callback revokes, stored
 * offsets are committed, the group is left), serving its callbacks on this thread, but gives up
 * after timeout_ms: with the broker unreachable (paused, blackholed) rd_kafka_consumer_close
 * waits for it without end. Returns true when the consumer closed; false when it gave up — the
 * caller must then destroy it with rd_kafka_destroy_flags(rk,
 * RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE), and offsets not committed are delivered again.
 */
bool pl_kafka_consumer_close(rd_kafka_t *consumer, int timeout_ms);

/* What the delivery report of one message said: the opaque (RD_KAFKA_V_OPAQUE) of a message
 * produced by a producer whose report callback is pl_kafka_on_delivery. */
typedef struct pl_kafka_delivery {
    bool done;
    rd_kafka_resp_err_t err;
} pl_kafka_delivery;

/* A delivery report callback (pl_kafka_dr_cb) filling in the message's pl_kafka_delivery, when it
 * has one. */
void pl_kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/*
 * Waits until every message the producer has produced so far has had its delivery report (the
 * callbacks served on this thread), so that what the reports write into (a caller's array of
 * outcomes) may be freed after it: librdkafka reports each message within message.timeout.ms,
 * so this ends. Once *stop is set (NULL: never), what is still queued or in flight is purged —
 * reported at once as not delivered (RD_KAFKA_RESP_ERR__PURGE_QUEUE / _PURGE_INFLIGHT).
 */
void pl_kafka_wait_deliveries(rd_kafka_t *producer, const volatile sig_atomic_t *stop);

/* What a failed publish calls for (pl_kafka_classify). */
typedef enum pl_kafka_failure {
    PL_KAFKA_RETRY,     /* transient (broker away, queue full, timed out): try again later */
    PL_KAFKA_TOO_LARGE, /* the message exceeds message.max.bytes (producer's or broker's) */
    PL_KAFKA_OPERATOR,  /* fails until an operator acts (the topic missing, not authorized) */
    PL_KAFKA_PERMANENT, /* can never succeed as is (an invalid message) */
    PL_KAFKA_FATAL,     /* the producer instance is unusable: restart the process */
} pl_kafka_failure;

/* Classifies the error of rd_kafka_producev or of a delivery report. */
pl_kafka_failure pl_kafka_classify(rd_kafka_resp_err_t err);

/* The client's message.max.bytes (what producev accepts), 1000000 when unreadable. */
size_t pl_kafka_message_max_bytes(rd_kafka_t *rk);

/* A producer's message.timeout.ms (delivery.timeout.ms): how long after it was produced a
 * message is delivered or reported failed at most; librdkafka's default (300000) when not set,
 * 0 for no limit. */
int pl_kafka_message_timeout_ms(rd_kafka_t *rk);

/* Sum of consumer_lag over the partitions of `topic` in a librdkafka statistics JSON
 * document; -1 when unknown. */
int64_t pl_kafka_stats_lag(const char *json, const char *topic);

/*
 * Partitions assigned and not fetched. librdkafka starts fetching an assigned partition once it
 * has read the group's committed offset; when that read fails (a group coordinator that moved:
 * "Not coordinator" after a broker restart, answered for the request or for the partition),
 * librdkafka 2.0.2 leaves the partition assigned without a position and never asks again (its
 * issue #5586 and rdkafka_assignment.c: "only reside on .all until the application unassigns it
 * and possibly re-assigns it"). The consumer then takes nothing from it while it looks healthy.
 * The statistics say so: the partition's fetch_state stays "none" or "stopped" (its fetcher
 * never started; "offset-query" and "offset-wait" are lookups librdkafka retries itself). This
 * keeps, for each assigned partition the statistics show so, when that was first seen.
 */
typedef struct pl_kafka_stalls pl_kafka_stalls;

pl_kafka_stalls *pl_kafka_stalls_new(void);
void pl_kafka_stalls_free(pl_kafka_stalls *s);

/* Reads a statistics document: a partition of `topic` in `assigned` whose fetch_state is
 * "none" or "stopped" is noted at `now` (kept from its first sighting while it stays so); any
 * other, or one not assigned, is forgotten; one the document does not show is left as it was.
 * Returns -1 when the document is unreadable (nothing changes), else 0. */
int pl_kafka_stalls_observe(pl_kafka_stalls *s, const char *json, const char *topic,
                            const rd_kafka_topic_partition_list_t *assigned, double now);

/* The statistics document read once: its consumer lag (pl_kafka_stats_lag) returned, and its
 * partitions observed (pl_kafka_stalls_observe). */
int64_t pl_kafka_stats_read(const char *json, const char *topic, pl_kafka_stalls *s,
                            const rd_kafka_topic_partition_list_t *assigned, double now);

/* pl_kafka_stats_read of a document the caller parsed (json-c's json_object; NULL when it was
 * unreadable: -1, nothing observed), which stays the caller's: so that a caller reading more of
 * it parses it once. */
struct json_object;
int64_t pl_kafka_stats_read_parsed(struct json_object *root, const char *topic, pl_kafka_stalls *s,
                                   const rd_kafka_topic_partition_list_t *assigned, double now);

/* Forgets the partitions (assigned anew: their fetch starts over). */
void pl_kafka_stalls_forget(pl_kafka_stalls *s, const rd_kafka_topic_partition_list_t *parts);

/* Whether partition p was seen not fetching at least after_s before now, and not since seen
 * fetching, with the group settled (join_state "steady") in the last document. */
bool pl_kafka_stalls_due(const pl_kafka_stalls *s, int32_t p, double now, double after_s);

/*
 * Leaves the group and joins it again (unsubscribe, then subscribe to `topic`), so that every
 * partition goes through the rebalance callback — revoked (drained, committed), then assigned
 * anew with its committed offset read again. Not an incremental unassign and assign of the
 * stalled partitions from outside the callback: librdkafka takes those for the application's
 * answer to a rebalance it has queued and not yet delivered, and the group could then give a
 * partition to another member before this one's revoke drain (two owners), or forget that an
 * assignment was lost. librdkafka postpones the subscribe until the revoke is done. Returns 0;
 * -1 when the unsubscribe failed (nothing changed); -2 when the subscribe failed after it (the
 * consumer is subscribed to nothing: call pl_kafka_subscribe again). Errors are logged.
 */
int pl_kafka_resubscribe(rd_kafka_t *consumer, const char *topic);

#endif
