/*
 * bench_cpu.h: the CPU account of `paylinkctl bench` — the processor time each part of a running
 * environment spent during the measured phase, read from /proc — and the workers' peak resident
 * set.
 *
 * A sample (pl_bench_cpu_take) adds up the CPU time so far of each component:
 *   worker  the worker processes the caller names (the environment's own and the benchmark's
 *           extra replicas);
 *   db      PostgreSQL: the postmaster of $PAYLINK_RUN_DIR/postgres.pid and every live child of
 *           it. A backend that exits is reaped by the postmaster, and the kernel adds its time to
 *           the postmaster's cutime/cstime: counting those keeps a backend that ends between two
 *           samples in the account. Of it, its upkeep (db_upkeep_s): what PostgreSQL spends on
 *           its own — the postmaster with every child it reaped (autovacuum's workers start and
 *           end every round; the workers' and the benchmark's connections live through a run,
 *           so a connection that ends during one counts here too) and the live children whose
 *           process title is a background process's (checkpointer, WAL writer, autovacuum, ...,
 *           pl_bench_pg_title_is_upkeep); the rest is the statements' (the client backends);
 *   sim     the bureau simulator ($PAYLINK_RUN_DIR/paylink-bureau-sim.pid);
 *   broker  Apache Kafka ($PAYLINK_RUN_DIR/kafka-*.pid, every broker) or the mock broker
 *           (paylink-devbroker.pid);
 *   bench   this process, every thread (getrusage RUSAGE_SELF; its replicas are not reaped
 *           before the end sample, so they never count here).
 * A process counts utime + stime + cutime + cstime (/proc/<pid>/stat). pl_bench_cpu_account
 * takes the difference of two samples; a component is known only when a process of it was found
 * in both.
 *
 * Memory: plain structs, nothing allocated beyond a call. Single-threaded (a CLI).
 */
#ifndef PL_BENCH_CPU_H
#define PL_BENCH_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

typedef enum pl_bench_cpu_part {
    PL_BENCH_CPU_WORKER = 0,
    PL_BENCH_CPU_DB,
    PL_BENCH_CPU_SIM,
    PL_BENCH_CPU_BROKER,
    PL_BENCH_CPU_BENCH,
    PL_BENCH_CPU_NPARTS
} pl_bench_cpu_part;

/* The fields of /proc/<pid>/stat the account needs, in clock ticks. */
typedef struct pl_bench_stat {
    long ppid;
    unsigned long long utime, stime, cutime, cstime;
} pl_bench_stat;

/* CPU seconds of each component so far, at one moment. */
typedef struct pl_bench_cpu_sample {
    double wall_s; /* CLOCK_MONOTONIC */
    double cpu_s[PL_BENCH_CPU_NPARTS];
    bool known[PL_BENCH_CPU_NPARTS]; /* false: no live process of it was found */
    double db_upkeep_s;              /* of cpu_s[PL_BENCH_CPU_DB], PostgreSQL's upkeep */
    double io_full_s;                /* /proc/pressure/io "full" total so far; -1: unknown */
} pl_bench_cpu_sample;

/* What each component spent between two samples. */
typedef struct pl_bench_cpu_account {
    double wall_s;
    double cpu_s[PL_BENCH_CPU_NPARTS];
    bool known[PL_BENCH_CPU_NPARTS];
    double db_upkeep_s; /* of cpu_s[PL_BENCH_CPU_DB], PostgreSQL's upkeep (never above it) */
    /* How long every non-idle task of the box waited for I/O at once (pressure stall
     * information, "full"): a box stalled on its disk, whatever paylink does; -1: unknown. */
    double io_stall_s;
} pl_bench_cpu_account;

/*
 * Parses the text of /proc/<pid>/stat. The command name may hold blanks and parentheses: the
 * fields are counted from the last ')'. Returns 0, or PL_ERR_PARSE when fields are missing.
 */
int pl_bench_stat_parse(const char *text, pl_bench_stat *out) PL_MUSTCHECK;

/* The VmHWM of the text of /proc/<pid>/status, in kB; -1 when it has none. */
long pl_bench_status_vmhwm(const char *text);

/*
 * The "full" stall total of the text of a /proc/pressure file ("some avg10=… total=N" then
 * "full avg10=… total=N", N in µs), in seconds; -1 when it has no full line.
 */
double pl_bench_psi_full_s(const char *text);

/* The share of the account's wall clock the box was stalled on I/O, in %; -1: unknown. */
double pl_bench_io_stall_pct(const pl_bench_cpu_account *a);

/*
 * Whether the command line of a PostgreSQL child (/proc/<pid>/cmdline, its process title:
 * "postgres: checkpointer ", "postgres: autovacuum worker paylink", "postgres: paylink paylink
 * 127.0.0.1(5432) idle"; a cluster_name, when set, follows "postgres: " with ": ") is one of
 * PostgreSQL's background processes rather than a client's backend or a parallel worker of one.
 */
bool pl_bench_pg_title_is_upkeep(const char *cmdline);

/* The pid in the text of a pid file (digits, optional blanks and newline); -1 when none. */
long pl_bench_pid_parse(const char *text);

/* The pid in the pid file at path, when that process is alive; -1 otherwise. */
long pl_bench_pid_file(const char *path);

/*
 * Takes a sample. run_dir ($PAYLINK_RUN_DIR) may be NULL: then only the workers and the
 * benchmark are known. workers: the worker pids (n of them; pids that are gone are skipped).
 */
void pl_bench_cpu_take(const char *run_dir, const long *workers, size_t n,
                       pl_bench_cpu_sample *out);

/* The account between start and end (a component is known when it was in both). */
void pl_bench_cpu_account_of(const pl_bench_cpu_sample *start, const pl_bench_cpu_sample *end,
                             pl_bench_cpu_account *out);

/*
 * Microseconds of CPU per reply of one component; -1 when the component is unknown or there
 * were no replies. PL_BENCH_CPU_NPARTS asks for the harness: simulator + broker + benchmark
 * (unknown when any of the three is).
 */
double pl_bench_cpu_us_per_tx(const pl_bench_cpu_account *a, int part, unsigned long replies);

/* Microseconds of PostgreSQL's upkeep per reply (of pl_bench_cpu_us_per_tx's db figure); -1
 * when PostgreSQL is unknown or there were no replies. */
double pl_bench_db_upkeep_us_per_tx(const pl_bench_cpu_account *a, unsigned long replies);

/*
 * Prints the account as a table (seconds, % of one core, µs per reply; "-" where unknown) to
 * out; replicas says how many worker processes the worker line covers.
 */
void pl_bench_cpu_print(FILE *out, const pl_bench_cpu_account *a, unsigned long replies,
                        unsigned replicas);

/* The largest VmHWM among the pids (kB); -1 when none could be read. */
long pl_bench_peak_rss_kb(const long *pids, size_t n);

#endif
