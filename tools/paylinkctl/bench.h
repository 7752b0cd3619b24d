/*
 * bench.h: `paylinkctl bench`, the benchmark of a running system driven through Kafka as an
 * upstream system would drive it.
 *
 *   paylinkctl bench --worker auth|svc --requests N [--sim-latency-ms L] [--max-in-flight K]
 *                    [--amount 10.00] [--pid-file FILE] [--timeout S]
 *
 * It produces N auth requests to <prefix>.<worker>.request and reads the replies from
 * <prefix>.<worker>.reply, matching them by request_id. --worker auth: credit card
 * authorizations on CYB (card 4111111111111111). --worker svc: stored value authorizations on
 * RLT, all on one physical card of the run's own (a made-up number, never printed) that the
 * benchmark first activates (ActivateInstrument) through paylink-svc for enough to approve
 * every request in full (pl_bench_svc_balance); the activation is not measured. --max-in-flight K
 * keeps at most K requests outstanding (closed loop: K = 1 is a sequential job that waits for each
 * reply); without it every request is sent at once (open loop) and the worker's own back-pressure
 * applies. --sim-latency-ms sets the bureau simulator's answer delay first
 * (POST $PAYLINK_SIM_URL/__sim/config). The last line printed is one JSON object:
 *   {"replies":N,"seconds":S,"throughput":R,"p50_ms":..,"p99_ms":..,"max_rss_kb":..,...}
 * where max_rss_kb is the worker's peak resident set (VmHWM of the pid in the pid file,
 * default $PAYLINK_RUN_DIR/paylink-<worker>.pid or <PAYLINK_LOG_DIR>/../run/paylink-<worker>.pid).
 */
#ifndef PL_BENCH_H
#define PL_BENCH_H

#include <stddef.h>

#include "err.h"

#define PL_BENCH_MAX_REQUESTS 10000000UL

/* The options; pl_bench_parse fills the defaults. Strings point into argv. */
typedef struct pl_bench_opts {
    const char *worker;     /* "auth" (default) or "svc" */
    unsigned long requests; /* 1..PL_BENCH_MAX_REQUESTS (1000) */
    int sim_latency_ms;     /* 0..600000; -1 (default): the simulator is left as it is */
    long max_in_flight;     /* 0..1000000; 0 (default): open loop */
    const char *amount;     /* a contract amount above 0 ("10.00") */
    const char *pid_file;   /* NULL (default): the worker's pid file of the environment */
    long timeout_s;         /* 1..86400 (300): bound of each phase */
} pl_bench_opts;

/*
 * Parses the options after the word bench (argv[0] is "bench"; getopt_long, so "--name value"
 * and "--name=value"). Every value is checked: whole numbers in their ranges, the amount in the
 * contract's form ^\d{1,13}\.\d{2}$ and above zero, the worker auth or svc. Returns 0, or
 * PL_ERR_INVALID with the reason in errstr.
 */
int pl_bench_parse(int argc, char **argv, pl_bench_opts *o, char *errstr,
                   size_t errstr_size) PL_MUSTCHECK;

/* How many unmeasured warm-up requests go before n measured ones: min(n, 200). */
unsigned long pl_bench_warmup(unsigned long n);

/*
 * The amount the svc benchmark activates its card with: `count` authorizations of `amount`
 * (warm-up included), plus 1000.00 so that its whole-unit part is never one of the simulator's
 * scenario amounts (CONTRACT.md §3: 150, 901-906, ...). Written as a contract amount into out.
 * Returns 0, or PL_ERR_INVALID for a bad amount or a total above the contract's 13 digits
 * (PL_MONEY_MAX), PL_ERR_TOOBIG when out is too small (24 bytes suffice).
 */
int pl_bench_svc_balance(unsigned long count, const char *amount, char *out,
                         size_t outsize) PL_MUSTCHECK;

/* Runs the benchmark; returns the process exit status. argv[0] is "bench". */
int pl_bench_main(int argc, char **argv, const char *brokers, const char *prefix);

/* The q-th percentile (0..100) of n sorted values (nearest rank); 0 when n is 0. */
double pl_bench_percentile(const double *sorted, unsigned long n, double q);

#endif
