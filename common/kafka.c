/* kafka.c: librdkafka client set-up for workers (see kafka.h). */
#include "kafka.h"

#include <ctype.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
               size_t errstr_size)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "kafka %s: %s", k, e);
    return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* librdkafka's syslog levels: 0-3 errors, 4 warnings, the rest informational. */
    pl_log(level <= 3   ? PL_LOG_ERROR
           : level == 4 ? PL_LOG_WARN
                        : PL_LOG_DEBUG,
           NULL, "kafka %s: %s", fac, buf);
}

/*
 * Operators set any librdkafka property through the environment: PAYLINK_RDKAFKA_<NAME> with
 * NAME upper-cased and dots as underscores (PAYLINK_RDKAFKA_SECURITY_PROTOCOL=ssl,
 * PAYLINK_RDKAFKA_SSL_CA_LOCATION=..., PAYLINK_RDKAFKA_SASL_MECHANISMS=...). That is how the
 * clients get TLS and SASL, which production needs: request messages carry card numbers.
 */
static int env_props(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    extern char **environ;
    static const char prefix[] = "PAYLINK_RDKAFKA_";
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *name = *e + sizeof prefix - 1, *eq = strchr(name, '=');
        char prop[128];
        size_t n = eq ? (size_t)(eq - name) : 0;
        if (!eq || n == 0 || n >= sizeof prop)
            continue;
        for (size_t i = 0; i < n; i++)
            prop[i] = name[i] == '_' ? '.' : (char)tolower((unsigned char)name[i]);
        prop[n] = '\0';
        int rc = set(conf, prop, eq + 1, errstr, errstr_size);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * The error callback's opaque is the client's; the application's handler rides in a static,
 * with the producer it was given for. A process may have more producers (a worker's resolver
 * publishes on one of its own, without a handler): only errors of the producer the handler was
 * given with reach it, with that producer's opaque — another producer made later no longer
 * takes it away (before, the resolver's producer left the worker's fatal errors unhandled).
 * One producer per process has a handler.
 */
static pl_kafka_error_cb g_on_error;
static _Atomic(rd_kafka_t *) g_on_error_rk;

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    char why[512];
    if (fatal && rk) {
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        pl_log(PL_LOG_ERROR, NULL, "kafka fatal error: %s: %s", rd_kafka_err2name(orig), why);
    } else {
        snprintf(why, sizeof why, "%s", reason ? reason : "");
        /* Brokers going away and coming back are routine; librdkafka retries by itself. */
        pl_log(err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
                   ? PL_LOG_WARN
                   : PL_LOG_ERROR,
               NULL, "kafka error: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), why);
    }
    if (rk && rk == atomic_load(&g_on_error_rk))
        g_on_error(rk, fatal, why, opaque);
}

int pl_kafka_producer_renew_if_fatal(rd_kafka_t **p, const pl_config *c, void *opaque,
                                     pl_kafka_dr_cb dr, int message_timeout_ms, char *errstr,
                                     size_t errstr_size)
{
    char why[256] = "";
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(*p, why, sizeof why);
    if (fatal == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    char err[256] = "";
    rd_kafka_t *n =
        pl_kafka_producer_new_bounded(c, opaque, dr, NULL, message_timeout_ms, err, sizeof err);
    if (!n) {
        snprintf(errstr, errstr_size,
                 "the producer met a fatal error (%s: %s) and cannot be made again: %s",
                 rd_kafka_err2name(fatal), why, err);
        return -1;
    }
    pl_log(PL_LOG_WARN, NULL,
           "kafka producer met a fatal error (%s: %s): a new one takes its place",
           rd_kafka_err2name(fatal), why);
    rd_kafka_destroy(*p);
    *p = n;
    return 0;
}

pl_kafka_failure pl_kafka_classify(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL:
        return PL_KAFKA_FATAL;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        return PL_KAFKA_TOO_LARGE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return PL_KAFKA_OPERATOR;
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
        return PL_KAFKA_PERMANENT;
    default:
        return PL_KAFKA_RETRY;
    }
}

/* The client's setting name as a number, -1 when it cannot be read. A topic property (such as
 * message.timeout.ms) is unknown to the global configuration until it is set; then it lives in
 * the default topic configuration, where rd_kafka_conf_get finds it. */
static long long conf_number(rd_kafka_t *rk, const char *name)
{
    char v[32];
    size_t n = sizeof v;
    const rd_kafka_conf_t *conf = rk ? rd_kafka_conf(rk) : NULL;
    if (!conf || rd_kafka_conf_get(conf, name, v, &n) != RD_KAFKA_CONF_OK)
        return -1;
    return strtoll(v, NULL, 10);
}

size_t pl_kafka_message_max_bytes(rd_kafka_t *rk)
{
    long long x = conf_number(rk, "message.max.bytes");
    return x > 0 ? (size_t)x : 1000000;
}

int pl_kafka_message_timeout_ms(rd_kafka_t *rk)
{
    long long x = conf_number(rk, "message.timeout.ms");
    return x >= 0 && x <= INT_MAX ? (int)x : 300000;
}

static rd_kafka_conf_t *base_conf(const pl_config *c, const char *role, char *errstr,
                                  size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char id[160];
    snprintf(id, sizeof id, "paylink-%s-%s-%s", c->worker, role, c->instance);
    if (set(conf, "bootstrap.servers", c->brokers, errstr, errstr_size) ||
        set(conf, "client.id", id, errstr, errstr_size) ||
        /* Replies are small and latency matters more than packet count (librdkafka enables
         * Nagle on broker sockets before 2.10). */
        set(conf, "socket.nagle.disable", "true", errstr, errstr_size) ||
        /* A request queued on a connection that broke waits this long before librdkafka gives
         * up on it and tries again. Seen with Apache Kafka and librdkafka 2.0.2: after the
         * broker restarted, the consumer's request to the group coordinator sat unsent until
         * this timeout (60 s by default), the worker without partitions all that time
         * (tests/e2e/test_auth_broker_outage.sh). 10 s bounds that stall and is still far
         * above a healthy broker's answer time (fetches wait 500 ms at most). */
        set(conf, "socket.timeout.ms", "10000", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    return conf;
}

rd_kafka_t *pl_kafka_producer_new(const pl_config *c, void *opaque, pl_kafka_dr_cb dr,
                                  pl_kafka_error_cb on_err, char *errstr, size_t errstr_size)
{
    return pl_kafka_producer_new_bounded(c, opaque, dr, on_err, 0, errstr, errstr_size);
}

rd_kafka_t *pl_kafka_producer_new_bounded(const pl_config *c, void *opaque, pl_kafka_dr_cb dr,
                                          pl_kafka_error_cb on_err, int message_timeout_ms,
                                          char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = base_conf(c, "p", errstr, errstr_size);
    if (!conf)
        return NULL;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", message_timeout_ms);
    /* Our defaults, then the operator's PAYLINK_RDKAFKA_* (which may change them), then what
     * correctness needs: no duplicate or reordered reply on a retry, and a caller's bound. */
    if (set(conf, "linger.ms", "2", errstr, errstr_size) || env_props(conf, errstr, errstr_size) ||
        set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        (message_timeout_ms > 0 && set(conf, "message.timeout.ms", timeout, errstr, errstr_size))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!rk) {
        pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "producer: %s", e);
        return NULL; /* rd_kafka_new frees conf only on success */
    }
    if (on_err) {
        g_on_error = on_err;
        atomic_store(&g_on_error_rk, rk);
    }
    return rk;
}

void pl_kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    pl_kafka_delivery *d = m->_private;
    if (d) {
        d->err = m->err;
        d->done = true;
    }
}

void pl_kafka_wait_deliveries(rd_kafka_t *producer, const volatile sig_atomic_t *stop)
{
    bool purged = false;
    while (rd_kafka_outq_len(producer) > 0) {
        if (stop && *stop && !purged) {
            rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = true;
        }
        rd_kafka_flush(producer, 1000);
    }
    rd_kafka_poll(producer, 0);
}

rd_kafka_t *pl_kafka_consumer_new(const pl_config *c, const char *group, void *opaque,
                                  pl_kafka_rebalance_cb rebalance, pl_kafka_stats_cb stats,
                                  pl_kafka_commit_cb committed, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = base_conf(c, "c", errstr, errstr_size);
    if (!conf)
        return NULL;
    char session[16], heartbeat[16], fetch_wait[16], fetch_min[16];
    snprintf(fetch_wait, sizeof fetch_wait, "%d", c->fetch_wait_ms);
    snprintf(fetch_min, sizeof fetch_min, "%d", c->fetch_min_bytes > 0 ? c->fetch_min_bytes : 1);
    snprintf(session, sizeof session, "%d", c->session_timeout_ms);
    snprintf(heartbeat, sizeof heartbeat, "%d",
             c->session_timeout_ms / 10 < 3000 ? c->session_timeout_ms / 10 : 3000);
    /* Our defaults first, then the operator's PAYLINK_RDKAFKA_* (which may change them), then
     * what correctness needs (below). */
    if (set(conf, "auto.commit.interval.ms", "1000", errstr, errstr_size) ||
        set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        set(conf, "session.timeout.ms", session, errstr, errstr_size) ||
        set(conf, "heartbeat.interval.ms", heartbeat, errstr, errstr_size) ||
        set(conf, "queued.max.messages.kbytes", "16384", errstr, errstr_size) ||
        /* A broker holds a fetch until it has fetch.min.bytes for it or fetch.wait.max.ms
         * passed. By default (1 byte, 500 ms) a fetch is answered at the first request:
         * lowest latency, one or two requests a fetch under load. Waiting for more (64 KiB or
         * 20 ms) saved the broker ~9 % of its CPU per request at 1,700 /s, for up to the wait
         * in latency at low load and a fetch every 20 ms when idle (docs/perf/ROUNDS.md),
         * so it is an operator's choice, not the default. The dev broker (librdkafka's mock)
         * holds an empty fetch for its whole wait, so tools/dev gives it 10 ms (config.h). */
        set(conf, "fetch.min.bytes", fetch_min, errstr, errstr_size) ||
        set(conf, "fetch.wait.max.ms", fetch_wait, errstr, errstr_size) ||
        set(conf, "statistics.interval.ms", stats ? "5000" : "0", errstr, errstr_size) ||
        env_props(conf, errstr, errstr_size) ||
        /* An offset is stored only once its request is answered (offsets.c), and committed
         * from there: a request is never skipped. */
        set(conf, "group.id", group, errstr, errstr_size) ||
        /* The rebalance callback assigns and revokes incrementally (engine.c): under an eager
         * strategy (range, roundrobin) librdkafka refuses that, and the worker would consume
         * nothing while it looked healthy. */
        set(conf, "partition.assignment.strategy", "cooperative-sticky", errstr, errstr_size) ||
        set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        set(conf, "enable.auto.commit", "true", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    if (stats)
        rd_kafka_conf_set_stats_cb(conf, stats);
    /* Posted on the consumer's queue (librdkafka's rk_rep, which rd_kafka_poll_set_consumer
     * forwards to it) for each commit librdkafka makes by itself, not for one made with a
     * callback of its own. With it set, librdkafka no longer logs its own commits' failures
     * (COMMITFAIL): `committed` says them. */
    if (committed)
        rd_kafka_conf_set_offset_commit_cb(conf, committed);
    rd_kafka_conf_set_opaque(conf, opaque);
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "consumer: %s", e);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

int pl_kafka_subscribe(rd_kafka_t *consumer, const char *topic, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "subscribe %s: %s", topic,
                          rd_kafka_err2str(err));
    return 0;
}

bool pl_kafka_consumer_close(rd_kafka_t *consumer, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(consumer);
    if (!q)
        return false;
    rd_kafka_error_t *er = rd_kafka_consumer_close_queue(consumer, q);
    if (er) {
        pl_log(PL_LOG_WARN, NULL, "kafka: closing the consumer failed: %s",
               rd_kafka_error_string(er));
        rd_kafka_error_destroy(er);
        rd_kafka_queue_destroy(q);
        return false;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool closed;
    while (!(closed = rd_kafka_consumer_closed(consumer))) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L;
        if (ms >= timeout_ms)
            break;
        /* Serves the rebalance callback (the revoke) and the rest on this thread. */
        rd_kafka_queue_poll_callback(q, timeout_ms - ms < 100 ? (int)(timeout_ms - ms) : 100);
    }
    /* Closed, what the close queued last (the result of librdkafka's commit of the partitions
     * it unassigned, posted before the close completes) may still wait here: served, not
     * dropped with the queue. */
    if (closed)
        rd_kafka_queue_poll_callback(q, 0);
    if (!closed)
        pl_log(PL_LOG_WARN, NULL,
               "kafka: the consumer did not close within %d ms (broker unreachable?); "
               "uncommitted offsets will be delivered again",
               timeout_ms);
    rd_kafka_queue_destroy(q);
    return closed;
}

/* The statistics' partitions of `topic` (a borrowed object of root), or NULL. */
static json_object *stats_partitions(json_object *root, const char *topic)
{
    json_object *topics, *t, *parts;
    return root && json_object_object_get_ex(root, "topics", &topics) &&
                   json_object_object_get_ex(topics, topic, &t) &&
                   json_object_object_get_ex(t, "partitions", &parts)
               ? parts
               : NULL;
}

static int64_t stats_lag(json_object *parts)
{
    if (!parts)
        return -1;
    int64_t lag = 0;
    json_object_object_foreach(parts, pid, p)
    {
        json_object *l;
        if (strcmp(pid, "-1") == 0 || !json_object_object_get_ex(p, "consumer_lag", &l))
            continue;
        int64_t v = json_object_get_int64(l);
        if (v > 0)
            lag += v;
    }
    return lag;
}

int64_t pl_kafka_stats_lag(const char *json, const char *topic)
{
    json_object *root = json_tokener_parse(json);
    int64_t lag = stats_lag(stats_partitions(root, topic));
    json_object_put(root);
    return lag;
}

struct pl_kafka_stalls {
    struct stall {
        int32_t partition;
        double since;
    } * v;
    size_t n, cap;
    bool unsettled; /* the last document showed the group rebalancing */
};

pl_kafka_stalls *pl_kafka_stalls_new(void)
{
    return calloc(1, sizeof(pl_kafka_stalls));
}

void pl_kafka_stalls_free(pl_kafka_stalls *s)
{
    if (!s)
        return;
    free(s->v);
    free(s);
}

static struct stall *stall_find(const pl_kafka_stalls *s, int32_t p)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].partition == p)
            return &s->v[i];
    return NULL;
}

static void stall_drop(pl_kafka_stalls *s, int32_t p)
{
    struct stall *st = stall_find(s, p);
    if (st)
        *st = s->v[--s->n];
}

static int stalls_observe(pl_kafka_stalls *s, json_object *root, const char *topic,
                          const rd_kafka_topic_partition_list_t *assigned, double now)
{
    json_object *parts = stats_partitions(root, topic);
    if (!parts)
        return -1;
    /* While the group rebalances, partitions wait for the rebalance, not for a position:
     * nothing is due until it settles. */
    json_object *cgrp, *js;
    const char *join = json_object_object_get_ex(root, "cgrp", &cgrp) &&
                               json_object_object_get_ex(cgrp, "join_state", &js)
                           ? json_object_get_string(js)
                           : NULL;
    s->unsettled = join && strcmp(join, "steady") != 0;
    json_object_object_foreach(parts, pid, p)
    {
        (void)pid;
        json_object *num, *state;
        if (!json_object_object_get_ex(p, "partition", &num))
            continue;
        int32_t partition = (int32_t)json_object_get_int(num);
        if (partition < 0)
            continue;
        /* Not started ("none", "stopped"): the others are fetching, or looking up an offset,
         * which librdkafka retries itself. */
        const char *fs = json_object_object_get_ex(p, "fetch_state", &state)
                             ? json_object_get_string(state)
                             : NULL;
        bool idle = fs && (strcmp(fs, "none") == 0 || strcmp(fs, "stopped") == 0);
        bool mine =
            assigned && rd_kafka_topic_partition_list_find(assigned, topic, partition) != NULL;
        if (!idle || !mine) {
            stall_drop(s, partition);
            continue;
        }
        if (stall_find(s, partition))
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 8;
            struct stall *v = realloc(s->v, cap * sizeof *v);
            if (!v)
                break; /* noted at the next document */
            s->v = v;
            s->cap = cap;
        }
        s->v[s->n++] = (struct stall){.partition = partition, .since = now};
    }
    return 0;
}

int pl_kafka_stalls_observe(pl_kafka_stalls *s, const char *json, const char *topic,
                            const rd_kafka_topic_partition_list_t *assigned, double now)
{
    json_object *root = json_tokener_parse(json);
    int rc = stalls_observe(s, root, topic, assigned, now);
    json_object_put(root);
    return rc;
}

int64_t pl_kafka_stats_read_parsed(json_object *root, const char *topic, pl_kafka_stalls *s,
                                   const rd_kafka_topic_partition_list_t *assigned, double now)
{
    int64_t lag = stats_lag(stats_partitions(root, topic));
    (void)stalls_observe(s, root, topic, assigned, now);
    return lag;
}

int64_t pl_kafka_stats_read(const char *json, const char *topic, pl_kafka_stalls *s,
                            const rd_kafka_topic_partition_list_t *assigned, double now)
{
    json_object *root = json_tokener_parse(json);
    int64_t lag = pl_kafka_stats_read_parsed(root, topic, s, assigned, now);
    json_object_put(root);
    return lag;
}

void pl_kafka_stalls_forget(pl_kafka_stalls *s, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; parts && i < parts->cnt; i++)
        stall_drop(s, parts->elems[i].partition);
}

bool pl_kafka_stalls_due(const pl_kafka_stalls *s, int32_t p, double now, double after_s)
{
    const struct stall *st = stall_find(s, p);
    return st && !s->unsettled && now - st->since >= after_s;
}

int pl_kafka_resubscribe(rd_kafka_t *consumer, const char *topic)
{
    rd_kafka_resp_err_t err = rd_kafka_unsubscribe(consumer);
    if (err) {
        pl_log(PL_LOG_ERROR, NULL, "kafka: leaving the group to join it again failed: %s",
               rd_kafka_err2str(err));
        return -1;
    }
    char e[256];
    if (pl_kafka_subscribe(consumer, topic, e, sizeof e) != 0) {
        pl_log(PL_LOG_ERROR, NULL, "kafka: joining the group again failed: %s", e);
        return -2;
    }
    return 0;
}
