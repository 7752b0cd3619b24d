/*
 * devbroker.h: a throwaway Kafka cluster for development and tests.
 *
 * Hosts librdkafka 2.0.2's mock cluster (rdkafka_mock.h) in this process: N mock brokers, each
 * listening on its own 127.0.0.1 port (the mock binds INADDR_LOOPBACK only), with the paylink
 * topics of CONTRACT.md §1 created up front. Production uses Apache Kafka; this is for
 * `tools/dev` and for tests.
 *
 * Know its limits (librdkafka 2.0.2 source, DESIGN.md "Tools"): everything lives in memory and
 * dies with the process; each partition keeps at most 5 MiB or 100,000 batches and silently
 * drops the oldest beyond that; transactions are only simulated (no markers, no fencing);
 * group.instance.id is ignored; use session.timeout.ms ~6000 in tests or a joining member may
 * wait ~45 s for its assignment. The brokers' ports stay the same for the life of the process,
 * also across down/up (the mock re-binds the same port when a broker goes down and only stops
 * listening on it).
 *
 * Topics nobody created are auto-created by the mock when a client asks for them in a Metadata
 * request that allows it (producers do by default; librdkafka consumers do not, since their
 * allow.auto.create.topics is false), with the mock's fixed default of 4 partitions and
 * replication factor min(3, brokers). The 2.0.2 API offers no way to change that default or to
 * turn auto-creation off, so create every topic a test relies on (pl_devbroker_topic_create,
 * or --topics / POST /topics on the tool).
 *
 * Latency: a call normally takes well under a millisecond; the mock's lost wake-up (see
 * devbroker.c) is worked around, except while every broker is down, when a call may take up to
 * 1 s. pl_devbroker_destroy may take about 1 s too (the mock's internal broker thread notices
 * the end on its 1 s tick).
 *
 * Threads: any thread may call these functions, except that pl_devbroker_destroy must not run
 * concurrently with any other call on the same handle, and pl_devbroker_serve_logs belongs to
 * the thread that owns the logger. The mock cluster runs its own thread, and so does a small
 * helper (the nudger) of ours.
 * Memory: the handle owns everything it returns (strings stay valid until destroy).
 */
#ifndef PL_DEVBROKER_H
#define PL_DEVBROKER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct pl_devbroker pl_devbroker;

/* Defaults of the tool: one broker, 32 partitions per topic (DESIGN.md "Tools"). */
#define PL_DEVBROKER_DEFAULT_BROKERS 1
#define PL_DEVBROKER_DEFAULT_PARTITIONS 32
#define PL_DEVBROKER_DEFAULT_PREFIX "paylink"
#define PL_DEVBROKER_MAX_BROKERS 16
#define PL_DEVBROKER_MAX_PARTITIONS 1024
/* Kafka's own limit on topic name length. */
#define PL_DEVBROKER_TOPIC_MAX 249

typedef struct pl_devbroker_config {
    int brokers;        /* 1..PL_DEVBROKER_MAX_BROKERS; 0 means the default */
    int partitions;     /* per created topic, 1..PL_DEVBROKER_MAX_PARTITIONS; 0 = default */
    const char *prefix; /* topic prefix; NULL means "paylink" */
    /* Comma-separated extra topic names (created as given, not prefixed); may be NULL. */
    const char *extra_topics;
} pl_devbroker_config;

/*
 * Starts the mock cluster and creates the paylink topics of CONTRACT.md §1 for the prefix
 * (<prefix>.<w>.request, .reply, .request.dlq for w in auth, deposit, reversal, svc, and
 * <prefix>.dm.decision), then the extra topics; a name given twice is created once.
 * cfg may be NULL (all defaults). On success *out is a new handle (pl_devbroker_destroy).
 * Returns 0, PL_ERR_INVALID (bad config or topic name) or PL_ERR_KAFKA.
 */
int pl_devbroker_new(pl_devbroker **out, const pl_devbroker_config *cfg, char *errstr,
                     size_t errstr_size) PL_MUSTCHECK;

/* Destroys the cluster (all brokers close, all data is lost), then the hosting client. NULL ok. */
void pl_devbroker_destroy(pl_devbroker *db);

/* The bootstrap.servers string, "127.0.0.1:P1,127.0.0.1:P2,...". Owned by the handle. */
const char *pl_devbroker_bootstraps(const pl_devbroker *db);

int pl_devbroker_broker_count(const pl_devbroker *db);

/* Number of topics created so far through this handle (not counting auto-created ones). */
size_t pl_devbroker_topic_count(pl_devbroker *db);

/*
 * Creates a topic with partitions partitions (1..PL_DEVBROKER_MAX_PARTITIONS) and replication
 * factor min(3, brokers). Returns 0, PL_ERR_INVALID (bad name or count), PL_ERR_STATE (the
 * topic exists already, also when auto-created) or PL_ERR_KAFKA.
 */
int pl_devbroker_topic_create(pl_devbroker *db, const char *name, int partitions, char *errstr,
                              size_t errstr_size) PL_MUSTCHECK;

/*
 * Outage injection. broker_id -1 means every broker, otherwise an id 1..broker count.
 * Down closes the broker's connections and refuses new ones (the port stays bound); it does
 * not move partition leadership. Up listens again on the same port. Repeating either is
 * harmless. Returns 0, PL_ERR_NOTFOUND (no such broker) or PL_ERR_KAFKA.
 */
int pl_devbroker_broker_down(pl_devbroker *db, int32_t broker_id, char *errstr,
                             size_t errstr_size) PL_MUSTCHECK;
int pl_devbroker_broker_up(pl_devbroker *db, int32_t broker_id, char *errstr,
                           size_t errstr_size) PL_MUSTCHECK;

/*
 * Delays every response of the broker(s) by rtt_ms (0..600000; 0 removes the delay).
 * Returns 0, PL_ERR_INVALID, PL_ERR_NOTFOUND or PL_ERR_KAFKA.
 */
int pl_devbroker_broker_rtt(pl_devbroker *db, int32_t broker_id, int rtt_ms, char *errstr,
                            size_t errstr_size) PL_MUSTCHECK;

/*
 * Fails the next `count` (1..1000) Produce requests any client sends with Kafka protocol error
 * `code` (1..200; e.g. 29 TOPIC_AUTHORIZATION_FAILED, which a producer cannot retry, or 47
 * INVALID_PRODUCER_EPOCH, fatal to an idempotent producer). Returns 0 or PL_ERR_INVALID.
 */
int pl_devbroker_produce_errors(pl_devbroker *db, int code, int count, char *errstr,
                                size_t errstr_size) PL_MUSTCHECK;

/*
 * Serves librdkafka's log lines of the hosting client (they are queued, not printed from
 * librdkafka's threads, because log.h is single-threaded) into pl_log. Call it from the
 * thread that owns the logger, now and then; lines wait in memory until then.
 */
void pl_devbroker_serve_logs(pl_devbroker *db);

/* True when name is a valid Kafka topic name: 1..249 chars of [A-Za-z0-9._-], not "." / "..". */
int pl_devbroker_topic_name_ok(const char *name);

/*
 * Parses a whole decimal integer in [min, max] (no sign games, no trailing junk).
 * Returns 0 or PL_ERR_INVALID; *out is untouched on error.
 */
int pl_devbroker_parse_long(const char *s, long min, long max, long *out) PL_MUSTCHECK;

/*
 * Writes content to path atomically: a temporary file next to it, fsync, then rename, so a
 * reader polling for path never sees a half-written file. Returns 0 or PL_ERR_IO.
 */
int pl_devbroker_write_file(const char *path, const char *content, char *errstr,
                            size_t errstr_size) PL_MUSTCHECK;

#endif
