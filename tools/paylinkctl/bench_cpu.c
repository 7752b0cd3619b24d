/* bench_cpu.c: the benchmark's CPU account and peak RSS from /proc (see bench_cpu.h). */
#include "bench_cpu.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *const part_names[PL_BENCH_CPU_NPARTS] = {"worker", "postgresql", "simulator",
                                                            "broker", "benchmark"};

int pl_bench_stat_parse(const char *text, pl_bench_stat *out)
{
    const char *p = strrchr(text, ')');
    if (!p)
        return PL_ERR_PARSE;
    p++;
    /* After the name: state (field 3), ppid (4), ..., utime (14), stime, cutime, cstime (17). */
    unsigned long long v[15];
    char *end;
    for (int i = 0; i < 15; i++) {
        while (*p == ' ')
            p++;
        if (i == 0) { /* the state: one letter */
            if (!isalpha((unsigned char)*p))
                return PL_ERR_PARSE;
            p++;
            v[0] = 0;
            continue;
        }
        bool neg = *p == '-'; /* tty_nr and tpgid may be negative */
        if (!isdigit((unsigned char)p[neg]))
            return PL_ERR_PARSE;
        v[i] = strtoull(p + neg, &end, 10);
        p = end;
    }
    out->ppid = (long)v[1];
    out->utime = v[11];
    out->stime = v[12];
    out->cutime = v[13];
    out->cstime = v[14];
    return PL_OK;
}

long pl_bench_status_vmhwm(const char *text)
{
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, "VmHWM:", 6) == 0) {
            char *end;
            long kb = strtol(line + 6, &end, 10);
            return end == line + 6 ? -1 : kb;
        }
    }
    return -1;
}

long pl_bench_pid_parse(const char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    long pid = 0;
    int n = 0;
    for (; isdigit((unsigned char)text[n]); n++) {
        if (n >= 9)
            return -1;
        pid = pid * 10 + (text[n] - '0');
    }
    if (n == 0 || pid <= 0)
        return -1;
    for (const char *p = text + n; *p; p++)
        if (!isspace((unsigned char)*p))
            return -1;
    return pid;
}

/* Reads a small file whole (up to size - 1 bytes); returns the length or -1. */
static long slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

long pl_bench_pid_file(const char *path)
{
    char buf[64];
    if (slurp(path, buf, sizeof buf) < 0)
        return -1;
    long pid = pl_bench_pid_parse(buf);
    return pid > 0 && kill((pid_t)pid, 0) == 0 ? pid : -1;
}

static bool proc_stat(long pid, pl_bench_stat *st)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    return slurp(path, buf, sizeof buf) > 0 && pl_bench_stat_parse(buf, st) == PL_OK;
}

static double ticks_s(unsigned long long ticks)
{
    static long hz;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    return (double)ticks / (double)hz;
}

/* Adds the CPU time of pid (with its reaped children) to *sum; false when it is gone. */
static bool add_pid(long pid, double *sum)
{
    pl_bench_stat st;
    if (pid <= 0 || !proc_stat(pid, &st))
        return false;
    *sum += ticks_s(st.utime + st.stime + st.cutime + st.cstime);
    return true;
}

bool pl_bench_pg_title_is_upkeep(const char *cmdline)
{
    static const char prefix[] = "postgres: ";
    static const char *const background[] = {
        "checkpointer", "background writer", "walwriter",     "autovacuum", "logical replication",
        "archiver",     "stats collector",   "walsummarizer", "startup",    "walreceiver",
    };
    if (strncmp(cmdline, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *t = cmdline + sizeof prefix - 1;
    /* A cluster_name first ("postgres: main: checkpointer "): a backend's title has no ": ". */
    const char *colon = strstr(t, ": ");
    if (colon)
        t = colon + 2;
    /* A client's backend names its client: host(port) or [local] (whatever its role's name). */
    if (strchr(t, '(') || strstr(t, "[local]"))
        return false;
    for (size_t i = 0; i < sizeof background / sizeof background[0]; i++) {
        size_t n = strlen(background[i]);
        if (strncmp(t, background[i], n) == 0 && (t[n] == ' ' || t[n] == '\0'))
            return true;
    }
    return false;
}

/* Whether the live process pid is one of PostgreSQL's background processes (by its title). */
static bool pg_upkeep(long pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    long n = slurp(path, buf, sizeof buf);
    if (n <= 0)
        return false;
    for (long i = 0; i < n; i++) /* a title may come as NUL-separated arguments */
        if (buf[i] == '\0')
            buf[i] = ' ';
    return pl_bench_pg_title_is_upkeep(buf);
}

/* The postmaster and every live process whose parent it is; of it, the upkeep into *upkeep. */
static bool add_postgres(long postmaster, double *sum, double *upkeep)
{
    double own = 0;
    if (!add_pid(postmaster, &own))
        return false;
    *sum += own;
    *upkeep += own;
    DIR *d = opendir("/proc");
    if (!d)
        return true;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = pl_bench_pid_parse(e->d_name);
        pl_bench_stat st;
        if (pid > 0 && pid != postmaster && proc_stat(pid, &st) && st.ppid == postmaster) {
            double s = ticks_s(st.utime + st.stime + st.cutime + st.cstime);
            *sum += s;
            if (pg_upkeep(pid))
                *upkeep += s;
        }
    }
    closedir(d);
    return true;
}

/* Every live pid of the pid files matching pattern, added. Returns how many were. */
static int add_pid_files(const char *pattern, double *sum)
{
    glob_t g;
    int n = 0;
    if (glob(pattern, 0, NULL, &g) != 0)
        return 0;
    for (size_t i = 0; i < g.gl_pathc; i++)
        n += add_pid(pl_bench_pid_file(g.gl_pathv[i]), sum);
    globfree(&g);
    return n;
}

void pl_bench_cpu_take(const char *run_dir, const long *workers, size_t n, pl_bench_cpu_sample *out)
{
    memset(out, 0, sizeof *out);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    out->wall_s = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    for (size_t i = 0; i < n; i++)
        out->known[PL_BENCH_CPU_WORKER] |= add_pid(workers[i], &out->cpu_s[PL_BENCH_CPU_WORKER]);
    if (run_dir && *run_dir) {
        char path[600];
        snprintf(path, sizeof path, "%s/postgres.pid", run_dir);
        out->known[PL_BENCH_CPU_DB] =
            add_postgres(pl_bench_pid_file(path), &out->cpu_s[PL_BENCH_CPU_DB], &out->db_upkeep_s);
        snprintf(path, sizeof path, "%s/paylink-bureau-sim.pid", run_dir);
        out->known[PL_BENCH_CPU_SIM] =
            add_pid(pl_bench_pid_file(path), &out->cpu_s[PL_BENCH_CPU_SIM]);
        snprintf(path, sizeof path, "%s/kafka-*.pid", run_dir);
        int brokers = add_pid_files(path, &out->cpu_s[PL_BENCH_CPU_BROKER]);
        snprintf(path, sizeof path, "%s/paylink-devbroker.pid", run_dir);
        brokers += add_pid(pl_bench_pid_file(path), &out->cpu_s[PL_BENCH_CPU_BROKER]);
        out->known[PL_BENCH_CPU_BROKER] = brokers > 0;
    }
    char psi[512];
    out->io_full_s =
        slurp("/proc/pressure/io", psi, sizeof psi) < 0 ? -1 : pl_bench_psi_full_s(psi);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        out->cpu_s[PL_BENCH_CPU_BENCH] = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                                         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        out->known[PL_BENCH_CPU_BENCH] = true;
    }
}

void pl_bench_cpu_account_of(const pl_bench_cpu_sample *start, const pl_bench_cpu_sample *end,
                             pl_bench_cpu_account *out)
{
    memset(out, 0, sizeof *out);
    out->wall_s = end->wall_s - start->wall_s;
    for (int i = 0; i < PL_BENCH_CPU_NPARTS; i++) {
        out->known[i] = start->known[i] && end->known[i];
        /* A process that ended between the samples can make the sum shrink: never below 0. */
        double d = end->cpu_s[i] - start->cpu_s[i];
        out->cpu_s[i] = out->known[i] && d > 0 ? d : 0;
    }
    /* An autovacuum worker alive at the start and reaped before the end moves from a child's
     * time to the postmaster's: both are upkeep, so the difference holds. */
    double up = end->db_upkeep_s - start->db_upkeep_s;
    out->db_upkeep_s = out->known[PL_BENCH_CPU_DB] && up > 0 ? up : 0;
    if (out->db_upkeep_s > out->cpu_s[PL_BENCH_CPU_DB])
        out->db_upkeep_s = out->cpu_s[PL_BENCH_CPU_DB];
    out->io_stall_s = start->io_full_s >= 0 && end->io_full_s >= start->io_full_s
                          ? end->io_full_s - start->io_full_s
                          : -1;
}

double pl_bench_psi_full_s(const char *text)
{
    const char *line = text;
    while (line && strncmp(line, "full ", 5) != 0) {
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    const char *t = line ? strstr(line, " total=") : NULL;
    const char *eol = line ? strchr(line, '\n') : NULL;
    if (!t || (eol && t > eol))
        return -1;
    t += strlen(" total=");
    if (*t < '0' || *t > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long us = strtoull(t, &end, 10);
    if (errno || (*end && *end != '\n' && *end != ' '))
        return -1;
    return (double)us / 1e6;
}

double pl_bench_io_stall_pct(const pl_bench_cpu_account *a)
{
    if (a->io_stall_s < 0 || a->wall_s <= 0)
        return -1;
    double pct = 100.0 * a->io_stall_s / a->wall_s;
    return pct > 100.0 ? 100.0 : pct;
}

double pl_bench_cpu_us_per_tx(const pl_bench_cpu_account *a, int part, unsigned long replies)
{
    if (replies == 0 || part < 0 || part > PL_BENCH_CPU_NPARTS)
        return -1;
    if (part < PL_BENCH_CPU_NPARTS)
        return a->known[part] ? a->cpu_s[part] * 1e6 / (double)replies : -1;
    static const int harness[] = {PL_BENCH_CPU_SIM, PL_BENCH_CPU_BROKER, PL_BENCH_CPU_BENCH};
    double s = 0;
    for (size_t i = 0; i < sizeof harness / sizeof harness[0]; i++) {
        if (!a->known[harness[i]])
            return -1;
        s += a->cpu_s[harness[i]];
    }
    return s * 1e6 / (double)replies;
}

double pl_bench_db_upkeep_us_per_tx(const pl_bench_cpu_account *a, unsigned long replies)
{
    if (replies == 0 || !a->known[PL_BENCH_CPU_DB])
        return -1;
    return a->db_upkeep_s * 1e6 / (double)replies;
}

void pl_bench_cpu_print(FILE *out, const pl_bench_cpu_account *a, unsigned long replies,
                        unsigned replicas)
{
    fprintf(out,
            "bench: CPU during the measured phase (%.2f s of wall clock, %lu replies; 100 %% is "
            "one core):\n",
            a->wall_s, replies);
    fprintf(out, "  %-22s %9s %8s %12s\n", "component", "seconds", "% core", "us/reply");
    for (int i = 0; i < PL_BENCH_CPU_NPARTS; i++) {
        char name[32];
        if (i == PL_BENCH_CPU_WORKER && replicas > 1)
            snprintf(name, sizeof name, "worker (%u replicas)", replicas);
        else
            snprintf(name, sizeof name, "%s", part_names[i]);
        if (!a->known[i]) {
            fprintf(out, "  %-22s %9s %8s %12s\n", name, "-", "-", "-");
            continue;
        }
        double pct = a->wall_s > 0 ? 100.0 * a->cpu_s[i] / a->wall_s : 0;
        double us = pl_bench_cpu_us_per_tx(a, i, replies);
        fprintf(out, "  %-22s %9.2f %8.1f %12.1f\n", name, a->cpu_s[i], pct, us < 0 ? 0 : us);
        if (i == PL_BENCH_CPU_DB) {
            double up = pl_bench_db_upkeep_us_per_tx(a, replies);
            fprintf(out, "  %-22s %9.2f %8.1f %12.1f\n", "  of it, its upkeep", a->db_upkeep_s,
                    a->wall_s > 0 ? 100.0 * a->db_upkeep_s / a->wall_s : 0, up < 0 ? 0 : up);
        }
    }
}

long pl_bench_peak_rss_kb(const long *pids, size_t n)
{
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/%ld/status", pids[i]);
        if (pids[i] <= 0 || slurp(path, buf, sizeof buf) < 0)
            continue;
        long kb = pl_bench_status_vmhwm(buf);
        if (kb > best)
            best = kb;
    }
    return best;
}
