/*
 * metrics.h: a small Prometheus registry and the worker's HTTP endpoint.
 *
 * The worker registers counters, gauges and histograms at start-up, updates them from its event
 * loop, and pl_metrics_serve starts a libmicrohttpd daemon with its own internal thread that
 * answers:
 *   GET /metrics  200, text/plain; version=0.0.4, the text exposition (pl_metrics_render);
 *   GET /healthz  200 "ok" while the process runs and its loop beats (liveness, see
 *                 pl_metrics_heartbeat);
 *   GET /readyz   200 "ready" once pl_metrics_set_ready(m, true, ...), else 503 with the reason.
 * Other paths are 404, other methods than GET/HEAD 405.
 *
 * Threads: updates (pl_counter_add, pl_gauge_set, ...) are lock-free C11 atomics, callable from
 * any thread; the server thread only reads them. Doubles (gauge values, histogram sums) are kept
 * as the IEEE-754 bit pattern in an atomic uint64 and changed by compare-and-swap, so they keep
 * full precision and any range. Registration takes an internal lock and may happen at any time,
 * also while the server runs (e.g. a per-partition series on assignment); the objects it returns
 * stay valid until pl_metrics_destroy.
 *
 * Every series carries the label worker="<worker>" first, then the registration's labels sorted
 * by name. Families are rendered in registration order, HELP and TYPE once per family.
 *
 * Memory caps: at most PL_METRICS_MAX_SERIES series, PL_METRICS_MAX_BUCKETS histogram bounds,
 * names/labels/help of bounded length. A registration that breaks a rule or a cap returns NULL;
 * the update functions accept NULL and do nothing, so a metric that could not be registered
 * never takes a worker down (it is just missing from /metrics, which a unit test notices).
 */
#ifndef PL_METRICS_H
#define PL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PL_METRICS_MAX_SERIES 4096 /* per registry, all families together */
#define PL_METRICS_MAX_BUCKETS 64  /* bounds per histogram, +Inf not counted */
#define PL_METRICS_MAX_NAME 128    /* metric and label name length */
#define PL_METRICS_MAX_LABELS 1024 /* length of a labels spec */
#define PL_METRICS_MAX_HELP 1024   /* length of a help text */

typedef struct pl_metrics pl_metrics;
typedef struct pl_counter pl_counter;
typedef struct pl_gauge pl_gauge;
typedef struct pl_histogram pl_histogram;

/*
 * A new, empty registry. Every series gets the label worker="<worker>" (worker is copied;
 * NULL or "" means no worker label). Returns NULL on OOM.
 */
pl_metrics *pl_metrics_new(const char *worker);

/* Stops the server first (waiting for its thread), then frees everything. NULL is allowed. */
void pl_metrics_destroy(pl_metrics *m);

/*
 * Registration. name: [a-zA-Z_:][a-zA-Z0-9_:]*; counters must end in "_total", and names use
 * base units (_seconds, _bytes). help: any text (escaped on output); the first registration of
 * a family sets it. labels: NULL, "", or "k1=v1,k2=v2" fixed at registration: names are
 * [a-zA-Z_][a-zA-Z0-9_]* (not "worker", not starting with "__", not "le" on histograms), each
 * at most once; a value is everything after the first '=' up to the next ',' (so it cannot
 * contain a comma) and may contain any other byte, including '\\', '"' and newline, which the
 * exposition escapes. Keep values low-cardinality (no request ids).
 *
 * The same name with other labels is another series of the same family; the same name and
 * labels (in any order) again returns the same object. Returns NULL when a rule or cap is
 * broken, when the name is already a family of another type, when a histogram series exists
 * with other bounds, or on OOM.
 */
pl_counter *pl_metrics_counter(pl_metrics *m, const char *name, const char *help,
                               const char *labels);
pl_gauge *pl_metrics_gauge(pl_metrics *m, const char *name, const char *help, const char *labels);
/* bounds: the upper bounds of the buckets, finite and strictly increasing, 1..MAX_BUCKETS of
 * them (copied); the +Inf bucket is implicit. */
pl_histogram *pl_metrics_histogram(pl_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t nbounds);

/* Updates; any thread; NULL does nothing. */
void pl_counter_add(pl_counter *c, uint64_t n);
void pl_gauge_set(pl_gauge *g, double v);
void pl_gauge_add(pl_gauge *g, double d);
/* Counts v in the first bucket whose bound is >= v (le semantics) and adds it to the sum.
 * NaN is ignored (it would poison the sum forever). */
void pl_histogram_observe(pl_histogram *h, double v);

/* Current values (tests, collectors); NULL reads 0. */
uint64_t pl_counter_value(const pl_counter *c);
double pl_gauge_value(const pl_gauge *g);
/* Observations so far. */
uint64_t pl_histogram_count(const pl_histogram *h);

/*
 * Renders the text exposition (format 0.0.4, every line ending in '\n') into a malloc'd string
 * the caller frees. Calls the collector first. Any thread; renders are serialized with each
 * other. Returns NULL on OOM.
 */
char *pl_metrics_render(pl_metrics *m);

/*
 * A dynamic collector, called at the start of each render (on the server thread for /metrics)
 * to refresh values that are cheaper to read on demand (e.g. consumer lag from librdkafka's
 * statistics). It may update and register metrics; it must not call pl_metrics_render. Calls are
 * serialized with each other. fn NULL disables it.
 */
typedef void (*pl_metrics_collect_fn)(pl_metrics *m, void *opaque);
void pl_metrics_set_collector(pl_metrics *m, pl_metrics_collect_fn fn, void *opaque);

/*
 * Starts the HTTP server on bind_addr (a numeric IPv4/IPv6 address or a host name; NULL or ""
 * means all IPv4 interfaces) and port (0 picks a free port; read it with pl_metrics_port).
 * Returns 0, PL_ERR_STATE when already serving, PL_ERR_CONFIG when the address does not resolve,
 * PL_ERR_IO when the daemon cannot start (port in use, ...), with a message in errstr.
 */
int pl_metrics_serve(pl_metrics *m, const char *bind_addr, uint16_t port, char *errstr,
                     size_t errstr_size) PL_MUSTCHECK;

/* The bound port, 0 when not serving. */
uint16_t pl_metrics_port(const pl_metrics *m);

/*
 * Readiness for /readyz; any thread. reason (copied, at most 255 bytes kept, NULL means
 * "not ready") is what /readyz answers while not ready, e.g. "kafka: no partitions assigned".
 * A new registry is not ready, with reason "starting".
 */
void pl_metrics_set_ready(pl_metrics *m, bool ready, const char *reason);

/*
 * Liveness: the owner's event loop calls this every turn. Once called, /healthz answers 503
 * "event loop stalled" when no heartbeat came for more than limit_ms. Any thread.
 */
void pl_metrics_heartbeat(pl_metrics *m, int limit_ms);

/*
 * Marks the process broken for good (e.g. a fatal Kafka producer error): from now on /healthz
 * answers 503 with reason, so a liveness probe restarts it. Any thread; reason is copied.
 */
void pl_metrics_set_unhealthy(pl_metrics *m, const char *reason);

#endif
