/*
 * bench.h: `paylinkctl bench`, the benchmark of a running system driven through Kafka as an
 * upstream system would drive it.
 *
 *   paylinkctl bench --worker auth|deposit|reversal|svc --requests N [--sim-latency-ms L]
 *                    [--max-in-flight K | --rate R [--max-in-flight K]] [--warmup W]
 *                    [--baseline [--baseline-requests M]] [--replicas R] [--amount 10.00]
 *                    [--pid-file FILE] [--timeout S]
 *
 * It produces N requests to <prefix>.<worker>.request and reads the replies from
 * <prefix>.<worker>.reply, matching them by request_id. --worker auth: credit card
 * authorizations on CYB (card 4111111111111111). --worker deposit / reversal: one debit (a
 * capture) / one reversal per authorization, each referring to its own approved CyberSource
 * authorization (auth_ref.request_id, same company and order), which an unmeasured setup phase
 * first obtains through paylink-auth with the simulator's latency at 0 (put back to
 * --sim-latency-ms, or to what it was, for the measured phases). --worker svc: stored value
 * authorizations on RLT, all on one physical card of the run's own (a made-up number, never
 * printed) that the benchmark first activates (ActivateInstrument) through paylink-svc for
 * enough to approve every request in full (pl_bench_svc_balance); the activation is not measured.
 *
 * Modes. Closed loop (default): --max-in-flight K keeps at most K requests outstanding (K = 1 is
 * a sequential job that waits for each reply), K = 0 (default) sends every request at once and
 * the worker's own back-pressure applies. Open loop: --rate R sends R requests per second on a
 * fixed schedule whatever the replies do; a request's latency counts from its scheduled send
 * time (so a benchmark that falls behind its schedule shows as latency, not as a slower
 * arrival rate), and at most K requests are outstanding (--max-in-flight, default R × 10, i.e.
 * ten seconds' worth): a request due while K are outstanding waits, and the run reports that
 * the rate was not kept.
 *
 * Phases: setup (deposit, reversal, svc; unmeasured), then --replicas R - 1 extra worker
 * processes (bench_replicas.h) join the worker's consumer group, then the warm-up (W requests,
 * unmeasured; default min(N, max(200, 2K)), pl_bench_warmup), the measured phase with its CPU
 * account (bench_cpu.h), and with --baseline a sequential phase (K = 1; its own warm-up of
 * min(M, W) requests first, 200 by default) of M requests (default 100), whose throughput gives
 * the speed-up. The extra replicas are stopped at the end, also when the run fails or is
 * interrupted.
 *
 * The last line printed (stdout) is one JSON object (pl_bench_result_json):
 *   {"replies":N,"seconds":S,"throughput":R,"p50_ms":..,"p99_ms":..,"max_rss_kb":..,
 *    "worker_cpu_us_per_tx":..,"db_cpu_us_per_tx":..,"harness_cpu_us_per_tx":..,...}
 * where max_rss_kb is the largest peak resident set (VmHWM) among the worker's processes: the
 * pid in the pid file (default $PAYLINK_RUN_DIR/paylink-<worker>.pid or
 * <PAYLINK_LOG_DIR>/../run/paylink-<worker>.pid) and the extra replicas.
 */
#ifndef PL_BENCH_H
#define PL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "err.h"

#define PL_BENCH_MAX_REQUESTS 10000000UL
#define PL_BENCH_MAX_RATE 1000000UL
/* Topics have 32 partitions: a 33rd replica would get none. */
#define PL_BENCH_MAX_REPLICAS 32

/* The options; pl_bench_parse fills the defaults. Strings point into argv. */
typedef struct pl_bench_opts {
    const char *worker;     /* "auth" (default), "deposit", "reversal" or "svc" */
    const char *type;       /* svc: "auth" (default) or "deposit"; NULL: the worker's one */
    unsigned long requests; /* 1..PL_BENCH_MAX_REQUESTS (1000) */
    int sim_latency_ms;     /* 0..600000; -1 (default): the simulator is left as it is */
    long max_in_flight;     /* 0..1000000; closed loop: 0 (default) all at once; open loop: the
                               bound of outstanding requests, 0 (default) R × 10 */
    unsigned long rate;     /* 0 (default): closed loop; 1..PL_BENCH_MAX_RATE requests/s */
    long warmup;            /* -1 (default): pl_bench_warmup; else 0..PL_BENCH_MAX_REQUESTS */
    bool baseline;          /* --baseline: the sequential phase after the measured one */
    unsigned long baseline_requests; /* 1..PL_BENCH_MAX_REQUESTS (100) */
    unsigned replicas;               /* 1..PL_BENCH_MAX_REPLICAS (1): worker processes */
    const char *amount;              /* a contract amount above 0 ("10.00") */
    const char *pid_file;            /* NULL (default): the worker's pid file of the environment */
    long timeout_s;                  /* 1..86400 (300): bound of each phase */
    bool help;                       /* --help: print the usage and do nothing else */
} pl_bench_opts;

/*
 * Parses the options after the word bench (argv[0] is "bench"; getopt_long, so "--name value"
 * and "--name=value"). Every value is checked: whole numbers in their ranges, the amount in the
 * contract's form ^\d{1,13}\.\d{2}$ and above zero, the worker one of the four that consume;
 * --type only with --worker svc; --baseline-requests only with --baseline. Returns 0, or
 * PL_ERR_INVALID with the reason in errstr.
 */
int pl_bench_parse(int argc, char **argv, pl_bench_opts *o, char *errstr,
                   size_t errstr_size) PL_MUSTCHECK;

/* Prints the usage (every option, what is measured) to out. */
void pl_bench_usage(FILE *out);

/*
 * How many unmeasured warm-up requests go before n measured ones by default, the warm-up
 * running k at once (0: all at once): min(n, max(200, 2k)). A warm-up of fewer than k requests
 * leaves the worker to open the rest of the k connections to the bureau it needs inside the
 * measured phase — a full TLS handshake each on a simulator without session tickets, 1.5 ms of
 * the worker's CPU and as much of the simulator's — and after the worker's connections aged out
 * (idle longer than the bureau's auth_service.connection_idle_s) all k of them
 * (docs/perf/ROUNDS.md, twenty-sixth round).
 */
unsigned long pl_bench_warmup(unsigned long n, long k);

/* The warm-up of a phase of n requests run k at once: pl_bench_warmup when warmup is -1 (the
 * default), else min(n, warmup). */
unsigned long pl_bench_warmup_of(long warmup, unsigned long n, long k);

/*
 * The amount the svc benchmark activates its card with: `count` authorizations of `amount`
 * (warm-up included), plus 1000.00 so that its whole-unit part is never one of the simulator's
 * scenario amounts (CONTRACT.md §3: 150, 901-906, ...). Written as a contract amount into out.
 * Returns 0, or PL_ERR_INVALID for a bad amount or a total above the contract's 13 digits
 * (PL_MONEY_MAX), PL_ERR_TOOBIG when out is too small (24 bytes suffice).
 */
int pl_bench_svc_balance(unsigned long count, const char *amount, char *out,
                         size_t outsize) PL_MUSTCHECK;

/* Runs the benchmark; returns the process exit status. argv[0] is "bench". brokers may be
 * NULL: --help needs none, a run then fails with exit status 1. */
int pl_bench_main(int argc, char **argv, const char *brokers, const char *prefix);

/* The q-th percentile (0..100) of n sorted values (nearest rank); 0 when n is 0. */
double pl_bench_percentile(const double *sorted, unsigned long n, double q);

/* ---- open loop: the schedule ------------------------------------------------------------- */

/* How many of n requests are due elapsed_s seconds after the start at rate per second: request
 * i is due at i / rate (the first at once); 0 before the start. */
unsigned long pl_bench_rate_due(double elapsed_s, unsigned long rate, unsigned long n);

/* When request i is due, in seconds after the start. */
double pl_bench_rate_slot(unsigned long i, unsigned long rate);

/* The bound of outstanding requests at a rate: max_in_flight when above 0, else rate × 10 (ten
 * seconds' worth) within 1..1000000. */
long pl_bench_rate_cap(long max_in_flight, unsigned long rate);

/* The send rate achieved: n requests, the last sent last_send_s after the start (n / (last + 1 /
 * rate): exactly rate when every request went at its time). */
double pl_bench_rate_achieved(unsigned long n, double last_send_s, unsigned long rate);

/* True when the achieved rate is within 5 % of the asked one. */
bool pl_bench_rate_kept(double achieved, unsigned long rate);

/* ---- the requests ------------------------------------------------------------------------ */

typedef enum pl_bench_op {
    PL_BENCH_AUTH,         /* auth on CYB, card 4111111111111111 */
    PL_BENCH_DEBIT,        /* debit (capture) of auth_ref on CYB */
    PL_BENCH_REVERSAL,     /* reversal of auth_ref on CYB */
    PL_BENCH_SVC_AUTH,     /* stored value auth on RLT, svc_card */
    PL_BENCH_SVC_ACTIVATE, /* activation of the physical card svc_card (ActivateInstrument) */
    PL_BENCH_SVC_DEPOSIT   /* stored value deposit of auth_ref (a svc auth) on RLT, svc_card */
} pl_bench_op;

typedef struct pl_bench_req {
    pl_bench_op op;
    const char *request_id, *order, *amount;
    const char *auth_ref; /* debit, reversal, svc deposit: the request_id of the authorization */
    const char *svc_card; /* svc: the card number */
} pl_bench_req;

/* The request as a new json-c object of company 1, pay_seq 1, USD (CONTRACT.md §1); the caller
 * puts it. NULL when out of memory. */
json_object *pl_bench_request(const pl_bench_req *q);

/* ---- the result -------------------------------------------------------------------------- */

typedef struct pl_bench_result {
    const char *worker;
    const char *type; /* the request type measured: auth, debit, reversal or deposit (NULL: auth) */
    unsigned long requests, replies, approved;
    double seconds, p50_ms, p99_ms;
    long max_rss_kb; /* -1: unknown */
    /* CPU per reply in µs (bench_cpu.h); below 0: unknown (printed as null). */
    double worker_us, db_us, harness_us, sim_us, broker_us, bench_us;
    double db_upkeep_us; /* of db_us, PostgreSQL's upkeep (bench_cpu.h) */
    long max_in_flight;  /* the closed loop's K, or the open loop's bound */
    int sim_latency_ms;
    unsigned replicas;
    unsigned long warmup;
    unsigned long rate; /* 0: closed loop */
    double rate_achieved, send_lag_max_ms;
    bool rate_kept;
    /* What says whether the box, not paylink, set the figures: the longest time of the
     * measured phase without a reply (from its start), and the share of it the box was stalled
     * on I/O (bench_cpu.h; below 0: unknown, printed as null). */
    double max_gap_ms, io_stall_pct;
    /* When that longest time began (the reply before it, or the phase's start), RFC 3339 UTC
     * with milliseconds, to set beside the other components' logs (a checkpoint, a
     * rebalance); "" when unknown (printed as null). */
    char max_gap_at[32];
    double max_gap_from_s; /* the same, in seconds after the phase's start */
    /* The bureau simulator's TLS handshakes during the measured phase, full and resumed
     * (GET /__sim/tls before and after it); -1: unknown (printed as null). */
    long tls_full, tls_resumed;
    bool baseline; /* the baseline ran: */
    unsigned long baseline_requests, baseline_replies;
    double baseline_seconds;
} pl_bench_result;

/*
 * The result as the JSON object of the last line, built with json-c: replies, seconds,
 * throughput, p50_ms, p99_ms, max_rss_kb, worker_cpu_us_per_tx, db_cpu_us_per_tx,
 * harness_cpu_us_per_tx, baseline_throughput and speedup (with the baseline), requests,
 * approved, max_in_flight, sim_latency_ms, worker, replicas, rate, warmup, rate_achieved,
 * rate_kept and send_lag_max_ms (open loop), sim_cpu_us_per_tx, broker_cpu_us_per_tx,
 * bench_cpu_us_per_tx, max_gap_ms, max_gap_at, max_gap_from_s, io_stall_pct, tls_full,
 * tls_resumed, baseline_requests and baseline_replies. Unknown CPU figures, an unknown max_gap_at
 * and a speedup without a baseline throughput are null. The caller puts it; NULL when out of
 * memory.
 */
json_object *pl_bench_result_json(const pl_bench_result *r);

/*
 * The measured phase's handshakes into res->tls_full and res->tls_resumed from the simulator's
 * counts before (full0, resumed0) and after it (full1, resumed1), less the second count's own
 * connection (a full handshake); said on stderr.
 */
void pl_bench_tls_of(long full0, long resumed0, long full1, long resumed1, pl_bench_result *res);

/* The wall-clock time offset_s seconds after wall0 (CLOCK_REALTIME), as RFC 3339 UTC with
 * milliseconds ("2026-12-05T18:02:51.123Z") into out (at least 25 bytes); "" when it cannot
 * be written. */
void pl_bench_wall_at(const struct timespec *wall0, double offset_s, char *out, size_t outsize);

/* The run's id (letters only: no digits to make a card number of with a request's counter) from
 * the time and the pid; 11 letters. */
void pl_bench_run_id(unsigned long t, unsigned long pid, char *out, size_t outsize);

#endif
