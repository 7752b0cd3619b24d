/* bench_replicas.c: extra worker replicas for the benchmark (see bench_replicas.h). */
#include "bench_replicas.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_REPLICAS 64

typedef struct replica {
    pid_t pid; /* -1 once reaped */
    char instance[64];
    char log[600];
    off_t log_start; /* the log's size before the replica started: older runs' lines */
} replica;

struct pl_bench_replicas {
    char worker[32];
    unsigned n;
    replica r[MAX_REPLICAS];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool has_name(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

char **pl_bench_replica_envp(char *const *env, const char *instance)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    char **out = calloc(n + 3, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (has_name(env[i], "PAYLINK_METRICS_PORT") || has_name(env[i], "PAYLINK_INSTANCE"))
            continue;
        if (!(out[k++] = strdup(env[i])))
            goto fail;
    }
    size_t len = strlen("PAYLINK_INSTANCE=") + strlen(instance) + 1;
    if (!(out[k++] = strdup("PAYLINK_METRICS_PORT=0")) || !(out[k] = malloc(len)))
        goto fail;
    snprintf(out[k], len, "PAYLINK_INSTANCE=%s", instance);
    return out;
fail:
    pl_bench_envp_free(out);
    return NULL;
}

void pl_bench_envp_free(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
}

bool pl_bench_group_joined(bool stable, const pl_bench_member *members, size_t nmembers,
                           const char *const *instances, size_t ninstances, unsigned want)
{
    if (!stable || nmembers != want)
        return false;
    for (size_t i = 0; i < nmembers; i++)
        if (members[i].partitions < 1)
            return false;
    for (size_t j = 0; j < ninstances; j++) {
        size_t il = strlen(instances[j]);
        bool found = false;
        for (size_t i = 0; i < nmembers && !found; i++) {
            const char *id = members[i].client_id ? members[i].client_id : "";
            size_t cl = strlen(id);
            found = cl > il && id[cl - il - 1] == '-' && strcmp(id + cl - il, instances[j]) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

bool pl_bench_log_assigned(const char *text)
{
    static const char needle[] = "assigned ";
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
        const char *q = p + sizeof needle - 1;
        char *end;
        long n = strtol(q, &end, 10);
        if (end != q && n >= 1 && strncmp(end, " partition", 10) == 0)
            return true;
    }
    return false;
}

/* Spawns one replica; returns 0 or an error with the reason. */
static int spawn_one(const char *bin, replica *rp, char *errstr, size_t errstr_size)
{
    struct stat st;
    rp->log_start = stat(rp->log, &st) == 0 ? st.st_size : 0;
    char **envp = pl_bench_replica_envp(environ, rp->instance);
    if (!envp)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* As tools/dev's start_bg: a session of its own, no terminal input, output to its log;
     * signals back to their defaults (this process handles SIGINT and SIGTERM itself). */
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, rp->log, O_WRONLY | O_CREAT | O_APPEND, 0640);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addchdir_np(&fa, "/");
    char *argv[] = {(char *)bin, NULL};
    int err = posix_spawn(&rp->pid, bin, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    pl_bench_envp_free(envp);
    if (err != 0) {
        rp->pid = -1;
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "cannot start %s: %s", bin,
                          strerror(err));
    }
    return PL_OK;
}

int pl_bench_replicas_start(const char *worker, unsigned count, const char *run,
                            pl_bench_replicas **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    const char *bin_dir = getenv("PAYLINK_BIN"), *log_dir = getenv("PAYLINK_LOG_DIR");
    if (count > MAX_REPLICAS)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "at most %d extra replicas",
                          MAX_REPLICAS);
    if (count > 0 && (!bin_dir || !*bin_dir))
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "--replicas needs PAYLINK_BIN (the folder of paylink-%s)", worker);
    if (!log_dir || !*log_dir)
        log_dir = "/tmp";
    pl_bench_replicas *r = calloc(1, sizeof *r);
    if (!r)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    snprintf(r->worker, sizeof r->worker, "%s", worker);
    char bin[600];
    if (count > 0)
        snprintf(bin, sizeof bin, "%s/paylink-%s", bin_dir, worker);
    for (unsigned i = 0; i < count; i++) {
        replica *rp = &r->r[i];
        snprintf(rp->instance, sizeof rp->instance, "bench%sr%u", run, i + 2);
        snprintf(rp->log, sizeof rp->log, "%s/paylink-%s-bench%u.log", log_dir, worker, i + 2);
        int rc = spawn_one(bin, rp, errstr, errstr_size);
        if (rc != PL_OK) {
            pl_bench_replicas_destroy(r);
            return rc;
        }
        r->n++;
        fprintf(stderr, "bench: started replica %u of paylink-%s (pid %ld, log %s)\n", i + 2,
                worker, (long)rp->pid, rp->log);
    }
    *out = r;
    return PL_OK;
}

unsigned pl_bench_replicas_count(const pl_bench_replicas *r)
{
    return r ? r->n : 0;
}

long pl_bench_replicas_pid(const pl_bench_replicas *r, unsigned i)
{
    return r && i < r->n ? (long)r->r[i].pid : -1;
}

/* Reaps replicas that exited; returns the index of the first one found gone, or -1. */
static int reap_exited(pl_bench_replicas *r, int *status)
{
    int gone = -1;
    for (unsigned i = 0; i < r->n; i++) {
        int st;
        if (r->r[i].pid > 0 && waitpid(r->r[i].pid, &st, WNOHANG) == r->r[i].pid) {
            r->r[i].pid = -1;
            if (gone < 0) {
                gone = (int)i;
                *status = st;
            }
        }
    }
    return gone;
}

/* True when the replica's log, from where it started, says it was assigned partitions. */
static bool log_says_assigned(const replica *rp)
{
    FILE *f = fopen(rp->log, "r");
    if (!f)
        return false;
    bool yes = false;
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    if (buf && fseeko(f, rp->log_start, SEEK_SET) == 0) {
        size_t n = fread(buf, 1, cap, f);
        buf[n] = '\0';
        yes = pl_bench_log_assigned(buf);
    }
    free(buf);
    fclose(f);
    return yes;
}

/*
 * Asks the cluster for the group's description and judges it. Returns 1 when joined, 0 when
 * not yet (why says what is missing), -1 when the description could not be had.
 */
static int group_state(pl_bench_replicas *r, rd_kafka_t *rk, const char *group, unsigned want,
                       char *why, size_t whysz)
{
    char err[256];
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int verdict = -1;
    if (!opts || !q)
        goto out;
    rd_kafka_AdminOptions_set_request_timeout(opts, 5000, err, sizeof err);
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    if (!ev)
        goto out;
    const rd_kafka_DescribeConsumerGroups_result_t *res =
        rd_kafka_event_DescribeConsumerGroups_result(ev);
    size_t cnt = 0;
    const rd_kafka_ConsumerGroupDescription_t **descs =
        res && !rd_kafka_event_error(ev) ? rd_kafka_DescribeConsumerGroups_result_groups(res, &cnt)
                                         : NULL;
    if (cnt == 1 && !rd_kafka_ConsumerGroupDescription_error(descs[0])) {
        const rd_kafka_ConsumerGroupDescription_t *d = descs[0];
        size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
        pl_bench_member members[MAX_REPLICAS * 2];
        const char *instances[MAX_REPLICAS];
        if (nm > sizeof members / sizeof members[0])
            nm = sizeof members / sizeof members[0];
        for (size_t i = 0; i < nm; i++) {
            const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
            const rd_kafka_topic_partition_list_t *tp =
                rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
            members[i] =
                (pl_bench_member){rd_kafka_MemberDescription_client_id(m), tp ? tp->cnt : 0};
        }
        for (unsigned i = 0; i < r->n; i++)
            instances[i] = r->r[i].instance;
        bool stable =
            rd_kafka_ConsumerGroupDescription_state(d) == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE;
        verdict = pl_bench_group_joined(stable, members, nm, instances, r->n, want) ? 1 : 0;
        snprintf(why, whysz, "%s, %zu member(s) of %u",
                 rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d)), nm,
                 want);
    }
    rd_kafka_event_destroy(ev);
out:
    if (q)
        rd_kafka_queue_destroy(q);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    return verdict;
}

int pl_bench_replicas_wait_joined(pl_bench_replicas *r, rd_kafka_t *rk, unsigned want,
                                  double timeout_s, const volatile sig_atomic_t *stop, char *errstr,
                                  size_t errstr_size)
{
    if (!r || r->n == 0)
        return PL_OK;
    char group[256], why[128] = "";
    const char *g = getenv("PAYLINK_KAFKA_GROUP");
    if (g && *g)
        snprintf(group, sizeof group, "%s", g);
    else
        snprintf(group, sizeof group, "paylink-%s", r->worker);
    double deadline = now_s() + timeout_s;
    bool described = false;
    /*
     * librdkafka's mock cluster (paylink-devbroker) cannot describe groups, and in librdkafka
     * 2.0.2 a DescribeConsumerGroups sent to it leaves the client unable to close (seen:
     * rd_kafka_consumer_close and rd_kafka_destroy wait forever). Its cluster id tells it.
     */
    char *cluster = rd_kafka_clusterid(rk, 10000);
    bool can_describe = !cluster || strncmp(cluster, "mockCluster", 11) != 0;
    if (cluster)
        rd_kafka_mem_free(rk, cluster);
    while (now_s() < deadline) {
        int status = 0, gone = reap_exited(r, &status);
        if (gone >= 0)
            return pl_err_set(PL_ERR_STATE, errstr, errstr_size,
                              "replica %d of paylink-%s exited during start-up (status %d; log %s)",
                              gone + 2, r->worker,
                              WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                              r->r[gone].log);
        if (stop && *stop)
            return pl_err_set(PL_ERR_STATE, errstr, errstr_size, "interrupted");
        int v = can_describe ? group_state(r, rk, group, want, why, sizeof why) : -1;
        described |= v >= 0;
        if (v == 1)
            return PL_OK;
        if (v < 0) {
            /* No description (the mock cluster has no DescribeGroups): the replicas' logs. */
            bool all = true;
            for (unsigned i = 0; i < r->n && all; i++)
                all = log_says_assigned(&r->r[i]);
            if (all) {
                fprintf(stderr, "bench: %s group %s; every replica's log says it has partitions\n",
                        can_describe ? "the cluster did not describe"
                                     : "the mock cluster cannot describe",
                        group);
                return PL_OK;
            }
        }
        sleep_ms(300);
    }
    return pl_err_set(PL_ERR_STATE, errstr, errstr_size,
                      "the replicas did not join group %s within %.0f s (%s)", group, timeout_s,
                      described ? why : "no group description; no partitions in their logs");
}

unsigned pl_bench_replicas_stop(pl_bench_replicas *r, double timeout_s)
{
    if (!r)
        return 0;
    for (unsigned i = 0; i < r->n; i++)
        if (r->r[i].pid > 0)
            kill(r->r[i].pid, SIGTERM);
    double deadline = now_s() + timeout_s;
    int status;
    for (;;) {
        bool left = false;
        for (unsigned i = 0; i < r->n; i++) {
            if (r->r[i].pid > 0 && waitpid(r->r[i].pid, &status, WNOHANG) == r->r[i].pid)
                r->r[i].pid = -1;
            left |= r->r[i].pid > 0;
        }
        if (!left || now_s() >= deadline)
            break;
        sleep_ms(50);
    }
    unsigned killed = 0;
    for (unsigned i = 0; i < r->n; i++) {
        if (r->r[i].pid <= 0)
            continue;
        fprintf(stderr, "bench: replica %u of paylink-%s did not stop within %.0f s; killing it\n",
                i + 2, r->worker, timeout_s);
        kill(r->r[i].pid, SIGKILL);
        while (waitpid(r->r[i].pid, &status, 0) < 0 && errno == EINTR)
            ;
        r->r[i].pid = -1;
        killed++;
    }
    return killed;
}

void pl_bench_replicas_destroy(pl_bench_replicas *r)
{
    if (!r)
        return;
    (void)pl_bench_replicas_stop(r, 20);
    free(r);
}
