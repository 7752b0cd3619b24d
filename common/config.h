/*
 * config.h: a worker's settings, read from the environment (12-factor style: systemd units,
 * Kubernetes manifests and tools/dev all set the same variables), and secret resolution.
 *
 *   PAYLINK_KAFKA_BROKERS   bootstrap servers (required)
 *   PAYLINK_DB              libpq connection string (required)
 *   PAYLINK_TOPIC_PREFIX    topic prefix, default "paylink"
 *   PAYLINK_CA_FILE         CA bundle trusted for bureau TLS instead of the system store
 *   PAYLINK_METRICS_PORT    /metrics, /healthz, /readyz port (default per worker; 0 = pick)
 *   PAYLINK_METRICS_BIND    address of that endpoint, default 0.0.0.0
 *   PAYLINK_MAX_IN_FLIGHT   requests in flight at once per process, default 512
 *   PAYLINK_HASH_KEY_FILE   file holding the card-hash HMAC key (or PAYLINK_HASH_KEY, the key)
 *   PAYLINK_HASH_KEY_PREVIOUS_FILES  colon-separated files of earlier keys (at most 4): accepted
 *                           when a redelivered request's fingerprint is compared with its row's
 *                           (key rotation, README "Card data"); never used to write
 *   PAYLINK_KAFKA_GROUP     consumer group, default paylink-<worker>
 *   PAYLINK_LOG_LEVEL       debug | info | warn | error, default info
 *   PAYLINK_LOG_MASK        last4 | removed: the seed's J16 modes for card numbers in logs
 *   PAYLINK_KAFKA_SESSION_TIMEOUT_MS  consumer session timeout, default 45000
 *   PAYLINK_KAFKA_FETCH_WAIT_MS       longest time the broker holds a fetch that has less than
 *                                     PAYLINK_KAFKA_FETCH_MIN_BYTES for it, default 500 (the
 *                                     dev broker holds an empty fetch for its whole wait, so
 *                                     tools/dev sets 10 there)
 *   PAYLINK_KAFKA_FETCH_MIN_BYTES     what a fetch waits for, default 1: answered as soon as a
 *                                     request arrives. More (e.g. 65536 with a wait of 20)
 *                                     brings tens of requests a fetch under load, for up to the
 *                                     wait in latency at low load (docs/perf/ROUNDS.md)
 *   PAYLINK_RDKAFKA_<PROPERTY>        any librdkafka property (kafka.h), e.g.
 *                                     PAYLINK_RDKAFKA_SECURITY_PROTOCOL=ssl
 *   PAYLINK_SLOT_WAIT_RECORD_MS       how long a new request whose call is ready may wait for
 *                                     a bureau slot (auth_service.max_concurrent) before it
 *                                     is recorded as 'received', default 1000; one that gets a
 *                                     slot sooner is recorded already marked sent, in one
 *                                     statement. 0: recorded at once (a backlog is visible
 *                                     immediately, for two statements more per request)
 *   PAYLINK_SLOT_WAIT_MAX_MS          how long requests may wait for a bureau slot while the
 *                                     bureau answers none of its calls, default 10000: then
 *                                     the bureau is stalled, the requests waiting for its slots
 *                                     are answered `error` without being sent, and so is every
 *                                     new one that finds its slots all taken, until one of its
 *                                     calls gets an answer (once none is in flight and none
 *                                     waits, the stall ends, paylink_bureau_stalled back to 0,
 *                                     and requests take its free slots again; until it answers,
 *                                     a queue is judged from the first request for it after
 *                                     that end, however long it was idle) (engine.c,
 *                                     slot_stall; paylink's own reversals are never refused so:
 *                                     they wait). 0: they wait for ever
 *   PAYLINK_DRAIN_TIMEOUT_MS          how long shutdown/revoke waits for in-flight work,
 *                                     default 30000; at most the consumer's max.poll.interval.ms
 *                                     (PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS, else librdkafka's
 *                                     300000) less PL_CONFIG_DRAIN_POLL_MARGIN_MS: a revoke
 *                                     drain does not poll the consumer, and a member that does
 *                                     not poll that long is evicted from its group while it
 *                                     still works on the partitions (two owners)
 *   PAYLINK_CONFIG_REFRESH_S          how often service bureau settings are re-read, default 60
 *   PAYLINK_PROXY_HOST, PAYLINK_PROXY_PORT   the seed's PROXY_HOST / PROXY_PORT: the proxy of
 *                                     every service bureau whose auth_service.proxy_host is
 *                                     blank (a bureau's own columns win); both or neither;
 *                                     unset = direct
 *   PAYLINK_INSTANCE                  client id suffix, default the host name and pid
 *
 * Secret files (PAYLINK_HASH_KEY_FILE, PAYLINK_HASH_KEY_PREVIOUS_FILES, file: and file-env:
 * references) must be readable by their owner only and owned by the effective user or root: a
 * file whose mode gives its group or others any access, or that another user owns, is refused.
 * A symbolic link is followed, and the file it names is judged (Kubernetes' `..data` links).
 * A file's trailing line ends are not part of the secret; a variable's value is taken byte for
 * byte, so PAYLINK_HASH_KEY ending in a line end is another key than the same text in a file
 * (kept, as hashes were made with it, and warned about at start-up).
 * Secrets never pass through the logger, and the hash key is wiped on pl_config_free.
 * Start-up, and the proxy at each service bureau load (services.h); one thread.
 */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "card.h"
#include "err.h"
#include "log.h"

#define PL_CONFIG_MAX_PREV_KEYS 4
/* PAYLINK_INSTANCE is refused when longer: send attempts are "<instance>/<counter>" and must fit
 * the sent_by columns (varchar(120), 009_claims.sql). */
#define PL_CONFIG_INSTANCE_MAX 95
/* The consumers' fetch defaults (PAYLINK_KAFKA_FETCH_WAIT_MS, PAYLINK_KAFKA_FETCH_MIN_BYTES);
 * paylinkctl bench gives its reply consumer the same. */
#define PL_CONFIG_FETCH_WAIT_MS 500
#define PL_CONFIG_FETCH_MIN_BYTES 1
/* librdkafka's max.poll.interval.ms when PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS does not set it,
 * and how far below it PAYLINK_DRAIN_TIMEOUT_MS must stay (pl_config_from_env). */
#define PL_CONFIG_MAX_POLL_INTERVAL_MS 300000
#define PL_CONFIG_DRAIN_POLL_MARGIN_MS 30000

typedef struct pl_config {
    char worker[16];
    char brokers[512];
    char db[1024];
    char topic_prefix[64];
    char ca_file[512];
    char metrics_bind[64];
    int metrics_port;
    int max_in_flight;
    int session_timeout_ms;
    int fetch_wait_ms;
    int fetch_min_bytes;
    int drain_timeout_ms;
    /* The consumer's max.poll.interval.ms as librdkafka will have it (the worker sets none):
     * PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS, else PL_CONFIG_MAX_POLL_INTERVAL_MS. */
    int max_poll_interval_ms;
    /* An assigned partition not fetched this long makes the consumer join its group again
     * (kafka.h, pl_kafka_stalls, pl_kafka_resubscribe); 0: never. */
    int fetch_stall_ms;
    /* The request fingerprint version written (request.h, pl_request_fingerprint_v): every
     * version is compared against, only this one written (1 while replicas of a version before
     * 2 still run: they compare version 1 only). */
    int fingerprint_version;
    int slot_wait_record_ms;
    int slot_wait_max_ms; /* PAYLINK_SLOT_WAIT_MAX_MS; 0: no bound */
    int refresh_s;
    unsigned char hash_key[128];
    size_t hash_key_len;
    /* Earlier keys (rotation): only compared against, never written with. */
    unsigned char prev_keys[PL_CONFIG_MAX_PREV_KEYS][128];
    size_t prev_key_len[PL_CONFIG_MAX_PREV_KEYS];
    int n_prev_keys;
    char group[128];
    pl_log_level log_level;
    pl_mask_mode log_mask;
    char instance[PL_CONFIG_INSTANCE_MAX + 1];
    char proxy[320]; /* PAYLINK_PROXY_HOST:PAYLINK_PROXY_PORT, or "" (direct) */
} pl_config;

/* Reads the environment for `worker` ("auth", ...). Returns 0 or PL_ERR_CONFIG with errstr.
 * Logs a warning (pl_log, never the key) when PAYLINK_HASH_KEY ends in a line end (above). */
int pl_config_from_env(pl_config *c, const char *worker, char *errstr,
                       size_t errstr_size) PL_MUSTCHECK;

/* Wipes the key. */
void pl_config_free(pl_config *c);

/* Default metrics port of a worker (auth 9101, deposit 9102, reversal 9103, svc 9104, dmupdate
 * 9105). */
int pl_config_default_metrics_port(const char *worker);

/* A proxy host as libcurl reads it before ":port": a host name, an IPv4 address or an IPv6
 * address in brackets; a scheme, a user and password or a port in it would be misread (or
 * sent), so they are refused (PAYLINK_PROXY_HOST, and `paylinkctl bureau set proxy_host`). */
bool pl_config_proxy_host_ok(const char *h);

/*
 * The process-wide bureau proxy from PAYLINK_PROXY_HOST and PAYLINK_PROXY_PORT: writes
 * "host:port" to out, or "" when neither is set. The host is a host name, an IPv4 address or
 * an IPv6 address in brackets (no scheme, user or path); the port 1..65535. Returns 0, or
 * PL_ERR_CONFIG with errstr when only one of them is set or either is malformed.
 * pl_config_from_env checks it at start-up; services.c reads it at every load (services.h).
 */
int pl_config_proxy_from_env(char *out, size_t outsize, char *errstr,
                             size_t errstr_size) PL_MUSTCHECK;

/*
 * Resolves a secret reference: "env:NAME" (the variable's value), "file:/path" (the file's
 * content, trailing line ends removed), "file-env:NAME" (the file named by the variable), or ""
 * (no secret: out = ""). A file must be regular, not empty, fit in out, be owned by the
 * effective user or root, and grant no access to its group or others (mode 0600 or 0400),
 * all checked on the opened file (a symbolic link is followed): otherwise it is refused with
 * an errstr that names the path and its mode and the chmod to run, or its owner. Returns 0, or
 * PL_ERR_CONFIG / PL_ERR_TOOBIG with errstr naming the reference, never the secret.
 */
int pl_secret_resolve(const char *ref, char *out, size_t outsize, char *errstr,
                      size_t errstr_size) PL_MUSTCHECK;

#endif
