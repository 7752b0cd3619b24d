/*
 * bench_replicas.h: the extra worker replicas of `paylinkctl bench --replicas R`.
 *
 * The environment already runs one paylink-<worker>; pl_bench_replicas_start starts R - 1 more
 * from $PAYLINK_BIN/paylink-<worker> the way tools/dev starts a worker (worker_start): with the
 * benchmark's own environment variables (those of the environment file), in a session of their
 * own, cwd /, stdin /dev/null, output appended to $PAYLINK_LOG_DIR/paylink-<worker>-bench<i>.log.
 * Two variables differ: PAYLINK_METRICS_PORT=0 (a port of the kernel's choosing: the
 * environment's worker holds the configured one) and PAYLINK_INSTANCE=bench<run>r<i>, which names
 * the replica's Kafka clients (client.id paylink-<worker>-<role>-<instance>) so the consumer
 * group's description can tell the replicas apart. They join the worker's consumer group
 * ($PAYLINK_KAFKA_GROUP, else paylink-<worker>), so the request topic's partitions are shared.
 *
 * pl_bench_replicas_wait_joined waits until the group has taken them in; pl_bench_replicas_stop
 * sends SIGTERM (the workers drain and commit), waits, and SIGKILLs what is left.
 *
 * Memory: pl_bench_replicas is an opaque handle; pl_bench_replicas_destroy stops whatever still
 * runs and frees it. Single-threaded (a CLI); the replicas are children of the caller, which
 * must not reap them itself.
 */
#ifndef PL_BENCH_REPLICAS_H
#define PL_BENCH_REPLICAS_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct pl_bench_replicas pl_bench_replicas;

/* A member of a consumer group as the group's description shows it. */
typedef struct pl_bench_member {
    const char *client_id;
    int partitions; /* partitions assigned to it */
} pl_bench_member;

/*
 * Starts count replicas of worker ("auth", ...); run is the benchmark run's id (it goes into
 * the instance names). Needs PAYLINK_BIN; PAYLINK_LOG_DIR (else /tmp) for the logs. Returns 0
 * with *out set (also for count 0: an empty set), or PL_ERR_CONFIG / PL_ERR_IO / PL_ERR_NOMEM
 * with the reason in errstr; on error nothing is left running.
 */
int pl_bench_replicas_start(const char *worker, unsigned count, const char *run,
                            pl_bench_replicas **out, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* How many replicas were started. r may be NULL (0). */
unsigned pl_bench_replicas_count(const pl_bench_replicas *r);

/* The pid of replica i (0 <= i < count); -1 when it has exited. */
long pl_bench_replicas_pid(const pl_bench_replicas *r, unsigned i);

/*
 * Waits until the consumer group (the workers' own: $PAYLINK_KAFKA_GROUP or paylink-<worker>)
 * is stable with want members, each replica among them holding partitions; rk is any client of
 * the cluster, used for the admin request (rd_kafka_DescribeConsumerGroups). Where the broker
 * cannot describe groups (librdkafka's mock cluster), it waits instead until each replica's log
 * says it was assigned partitions. Fails early when a replica exits, when *stop becomes set, or
 * after timeout_s. Returns 0, or PL_ERR_STATE with the reason in errstr.
 */
int pl_bench_replicas_wait_joined(pl_bench_replicas *r, rd_kafka_t *rk, unsigned want,
                                  double timeout_s, const volatile sig_atomic_t *stop, char *errstr,
                                  size_t errstr_size) PL_MUSTCHECK;

/*
 * Stops the replicas: SIGTERM to each, up to timeout_s for them to exit, SIGKILL for the rest,
 * every one reaped. Returns how many had to be killed. Safe twice; r may be NULL.
 */
unsigned pl_bench_replicas_stop(pl_bench_replicas *r, double timeout_s);

/* Stops what still runs (20 s bound) and frees r. r may be NULL. */
void pl_bench_replicas_destroy(pl_bench_replicas *r);

/*
 * The environment of a replica: env (NULL-terminated, e.g. environ) without any
 * PAYLINK_METRICS_PORT or PAYLINK_INSTANCE, then PAYLINK_METRICS_PORT=0 and
 * PAYLINK_INSTANCE=<instance>. Returns a NULL-terminated array (free it with
 * pl_bench_envp_free), or NULL when out of memory.
 */
char **pl_bench_replica_envp(char *const *env, const char *instance);

/* Frees an array of pl_bench_replica_envp. envp may be NULL. */
void pl_bench_envp_free(char **envp);

/*
 * Judges a group's description: true when it is stable, has exactly want members, every member
 * holds at least one partition, and for each of the instances a member's client_id ends in
 * "-<instance>".
 */
bool pl_bench_group_joined(bool stable, const pl_bench_member *members, size_t nmembers,
                           const char *const *instances, size_t ninstances, unsigned want);

/* True when a worker's log text says it was assigned one partition or more. */
bool pl_bench_log_assigned(const char *text);

#endif
