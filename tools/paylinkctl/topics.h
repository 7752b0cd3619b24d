/*
 * topics.h: `paylinkctl topics`, which creates the paylink Kafka topics, or brings existing ones
 * to their settings, through librdkafka's Admin API.
 *
 *   paylinkctl topics [--partitions N] [--replication R] [--min-isr M] [--timeout S]
 *                     [--extra NAME[,NAME...]]...
 *
 * The topics and their settings are those of deploy/kafka/create-topics.sh (pl_topics_table),
 * plus the --extra ones, which get the settings of a reply topic. Every topic is asked for in
 * one CreateTopics request. A topic that exists already is no error: an AlterConfigs request
 * (the non-incremental one: the whole set is sent) puts its settings back, and a
 * CreatePartitions request raises it to N partitions when it has fewer. One with more keeps
 * them, with a warning: Kafka cannot take partitions away. The command then waits until the
 * cluster's metadata shows every topic with at least N partitions, each with a leader, so a
 * caller can start consumers as soon as it returns.
 *
 * Output: one line per topic on out, "<name>: created|updated, <P> partitions,
 * retention.ms=<ms>"; on err, one line per failed topic naming it and librdkafka's error text,
 * and the warnings. --timeout S bounds the whole run: the admin requests and the wait.
 * Exit status (pl_topics_run): PL_TOPICS_DONE; PL_TOPICS_FAILED when a topic failed or the run
 * was interrupted; PL_TOPICS_TIMEOUT when nothing failed but a request or the wait ran out of
 * time (a cluster that is not up yet, or leaders not elected in time).
 *
 * Memory: a pl_topics_opts owns the --extra names it collected (pl_topics_opts_free);
 * pl_topics_list returns an array the caller frees with free(). Everything else uses caller
 * buffers. Single thread (a CLI); the librdkafka client lives only during a call.
 */
#ifndef PL_TOPICS_H
#define PL_TOPICS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* Exit statuses of pl_topics_run and pl_topics_wait_ready (paylinkctl's own). */
enum { PL_TOPICS_DONE = 0, PL_TOPICS_FAILED = 1, PL_TOPICS_TIMEOUT = 2 };

/* Kafka's limit on the length of a topic name. */
#define PL_TOPICS_NAME_MAX 249
/* How many topics pl_topics_table fills: request, reply, dead letters for 4 workers + dm. */
#define PL_TOPICS_TABLE_SIZE 13
/* Bounds of the options; the first two are librdkafka's own for a new topic. */
#define PL_TOPICS_MAX_PARTITIONS 100000
#define PL_TOPICS_MAX_REPLICATION 10000
/* librdkafka's admin requests accept timeouts up to one hour. */
#define PL_TOPICS_MAX_TIMEOUT_S 3600
#define PL_TOPICS_MAX_EXTRA 64

#define PL_TOPICS_DEFAULT_PARTITIONS 32
#define PL_TOPICS_DEFAULT_REPLICATION 1
#define PL_TOPICS_DEFAULT_MIN_ISR 1
#define PL_TOPICS_DEFAULT_TIMEOUT_S 30

/* One topic and the settings it differs in. */
typedef struct pl_topic_spec {
    char name[PL_TOPICS_NAME_MAX + 1];
    int64_t retention_ms;
    int64_t segment_ms;
} pl_topic_spec;

typedef struct pl_topics_opts {
    int partitions;  /* --partitions */
    int replication; /* --replication */
    int min_isr;     /* --min-isr: min.insync.replicas, at most replication */
    int timeout_s;   /* --timeout */
    char **extra;    /* --extra names in the order given, without repeats; owned */
    size_t extra_n;
} pl_topics_opts;

/* Sets the defaults and no extra topics. */
void pl_topics_opts_init(pl_topics_opts *o);

/*
 * Applies one option of `topics`: flag is its name ("--partitions"), value its text. --extra
 * takes one name or several separated by commas (blanks around them and empty items are
 * ignored) and may be repeated; a name given twice is kept once. Returns 0; PL_ERR_NOTFOUND
 * when flag is not an option of topics (errstr untouched); PL_ERR_INVALID for a bad value
 * (errstr names the flag); PL_ERR_TOOBIG past PL_TOPICS_MAX_EXTRA extra topics; PL_ERR_NOMEM.
 */
int pl_topics_opts_set(pl_topics_opts *o, const char *flag, const char *value, char *errstr,
                       size_t errstr_size) PL_MUSTCHECK;

/* Checks what single options cannot: --min-isr at most --replication. 0 or PL_ERR_INVALID. */
int pl_topics_opts_check(const pl_topics_opts *o, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* Frees the extra names; safe on an initialised or zeroed opts, and twice. */
void pl_topics_opts_free(pl_topics_opts *o);

/* Whether name is a legal Kafka topic name: 1..249 of [A-Za-z0-9._-], not "." or "..". */
int pl_topics_name_ok(const char *name);

/*
 * Fills out[0..PL_TOPICS_TABLE_SIZE-1] with the paylink topics of prefix, in the order of
 * deploy/kafka/create-topics.sh: for auth, deposit, reversal, svc the request (24 h, segments
 * of 1 h), reply (7 days, 1 day) and request.dlq (30 days, 1 day) topics, then dm.decision
 * (7 days, 1 day). Pure. Returns 0, or PL_ERR_INVALID when prefix is empty or holds a
 * character Kafka refuses, PL_ERR_TOOBIG when a name would pass PL_TOPICS_NAME_MAX.
 */
int pl_topics_table(const char *prefix, pl_topic_spec out[PL_TOPICS_TABLE_SIZE], char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

/*
 * The topics a run creates: the table of prefix, then o's extra topics with the settings of a
 * reply topic (those already in the table are left out). *out is malloc'd (free()), *n its
 * length. Returns 0, a pl_topics_table error or PL_ERR_NOMEM.
 */
int pl_topics_list(const char *prefix, const pl_topics_opts *o, pl_topic_spec **out, size_t *n,
                   char *errstr, size_t errstr_size) PL_MUSTCHECK;

/*
 * Runs `paylinkctl topics` against brokers (see the top of this file). stop may be NULL; when
 * it points at a nonzero value (a signal handler's flag) the run ends within about 200 ms with
 * PL_TOPICS_FAILED. Returns the exit status.
 */
int pl_topics_run(const char *brokers, const char *prefix, const pl_topics_opts *o, FILE *out,
                  FILE *err, const volatile sig_atomic_t *stop);

/*
 * Waits up to timeout_ms until the metadata of brokers shows each of the n topics with at least
 * `partitions` partitions, every one with a leader, asking every 200 ms. On time-out names the
 * first topic that was not ready on err. Returns PL_TOPICS_DONE, PL_TOPICS_TIMEOUT, or
 * PL_TOPICS_FAILED when the client cannot be set up.
 */
int pl_topics_wait_ready(const char *brokers, const pl_topic_spec *topics, size_t n, int partitions,
                         int timeout_ms, FILE *err);

#endif
