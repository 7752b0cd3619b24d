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
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

typedef void (*pl_kafka_dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
typedef void (*pl_kafka_rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                      rd_kafka_topic_partition_list_t *parts, void *opaque);
typedef int (*pl_kafka_stats_cb)(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/* Returns NULL with errstr set. */
rd_kafka_t *pl_kafka_producer_new(const pl_config *c, void *opaque, pl_kafka_dr_cb dr, char *errstr,
                                  size_t errstr_size);

/* The consumer's events (messages, rebalances, stats) are served by rd_kafka_consumer_poll.
 * stats may be NULL. Returns NULL with errstr set. */
rd_kafka_t *pl_kafka_consumer_new(const pl_config *c, const char *group, void *opaque,
                                  pl_kafka_rebalance_cb rebalance, pl_kafka_stats_cb stats,
                                  char *errstr, size_t errstr_size);

int pl_kafka_subscribe(rd_kafka_t *consumer, const char *topic, char *errstr,
                       size_t errstr_size) PL_MUSTCHECK;

/* Sum of consumer_lag over the partitions of `topic` in a librdkafka statistics JSON
 * document; -1 when unknown. */
int64_t pl_kafka_stats_lag(const char *json, const char *topic);

#endif
