/*
 * bench.h: `paylinkctl bench`, the benchmark of a running system driven through Kafka as an
 * upstream system would drive it.
 *
 *   paylinkctl bench --worker auth --requests N [--sim-latency-ms L] [--max-in-flight K]
 *                    [--amount 10.00] [--pid-file FILE] [--timeout S]
 *
 * It produces N auth requests to <prefix>.<worker>.request and reads the replies from
 * <prefix>.<worker>.reply, matching them by request_id. --max-in-flight K keeps at most K
 * requests outstanding (closed loop: K = 1 is a sequential job that waits for each reply);
 * without it every request is sent at once (open loop) and the worker's own back-pressure
 * applies. --sim-latency-ms sets the bureau simulator's answer delay first
 * (POST $PAYLINK_SIM_URL/__sim/config). The last line printed is one JSON object:
 *   {"replies":N,"seconds":S,"throughput":R,"p50_ms":..,"p99_ms":..,"max_rss_kb":..,...}
 * where max_rss_kb is the worker's peak resident set (VmHWM of the pid in the pid file,
 * default $PAYLINK_RUN_DIR/paylink-<worker>.pid or <PAYLINK_LOG_DIR>/../run/paylink-<worker>.pid).
 */
#ifndef PL_BENCH_H
#define PL_BENCH_H

/* Runs the benchmark; returns the process exit status. argv[0] is "bench". */
int pl_bench_main(int argc, char **argv, const char *brokers, const char *prefix);

/* The q-th percentile (0..100) of n sorted values (nearest rank); 0 when n is 0. */
double pl_bench_percentile(const double *sorted, unsigned long n, double q);

#endif
