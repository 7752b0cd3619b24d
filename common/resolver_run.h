/*
 * resolver_run.h: the resolver (resolver.h) on a thread of its own in a consuming worker, with
 * its own database connection and Kafka producer (the final replies it publishes), beside the
 * engine's loop: a pass every PAYLINK_RESOLVER_INTERVAL_MS (default 2000; 0 switches it off),
 * at once again while passes find full batches. Any number of replicas run it: the lease decides
 * who takes a row.
 */
#ifndef PL_RESOLVER_RUN_H
#define PL_RESOLVER_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "metrics.h"

#define PL_RESOLVER_DEFAULT_INTERVAL_MS 2000

typedef struct pl_resolver_runner pl_resolver_runner;

/* PAYLINK_RESOLVER_INTERVAL_MS: the default when unset, -1 when not 0..3600000. */
int pl_resolver_interval_ms(void);

/* Starts the thread. NULL with err set on failure, NULL with err "" when switched off. */
pl_resolver_runner *pl_resolver_runner_start(const pl_config *cfg, const char *worker,
                                             pl_metrics *metrics, char *err, size_t errsz);

/* Stops it (waits up to 5 s for a pass to end; a pass still busy is left to the process exit,
 * its lease expiring). NULL does nothing. Returns false when the thread was left running: it
 * still uses the metrics it was started with, which the caller must then not destroy. */
bool pl_resolver_runner_stop(pl_resolver_runner *run);

#endif
