/* bench.c: paylinkctl bench (see bench.h). */
#include "bench.h"

#include <curl/curl.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_cpu.h"
#include "bench_replicas.h"
#include "config.h"
#include "money.h"

/* SIGINT / SIGTERM during a run: the phase under way ends and the extra replicas are stopped. */
static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* One phase: n requests of one kind, numbered base .. base + n - 1 within the run. */
typedef struct phase {
    const char *name;
    pl_bench_op op;
    bool setup; /* the setup authorizations of deposit / reversal: ids bench-<run>-a<j> */
    unsigned long base, n;
    long k;             /* closed loop: at most k outstanding (0: all at once) */
    unsigned long rate; /* open loop: requests per second; k is then the bound */
} phase;

/* What a phase measured. */
typedef struct phase_result {
    unsigned long replies, approved;
    double seconds;
    double p50, p90, p99, p999, max; /* ms */
    double max_gap;                  /* ms: the longest time without a reply, from the start */
    double max_gap_from_s;           /* when it began, seconds after the phase's start */
    struct timespec wall0;           /* the phase's start, CLOCK_REALTIME */
    /* open loop */
    long cap;
    double last_send_s, lag_max_s;
    unsigned long cap_waits; /* due requests that waited because cap were outstanding */
} phase_result;

typedef struct bench {
    rd_kafka_t *producer, *consumer;
    const char *prefix; /* of the topics */
    const char *amount; /* of every request */
    char run[32];
    char svc_card[24]; /* svc: the run's card number (made up, never printed) */
    unsigned long cap; /* length of the arrays below: the longest phase */
    double *sent_at;   /* per request of the phase: 0 = not sent */
    double *latency;   /* per reply, ms */
    unsigned char *got;
    unsigned long produced_fail;
    /* The phase under way. */
    const phase *ph;
    double last_reply_at, max_gap_s; /* its latest reply (or its start), the longest gap */
    double max_gap_from;             /* when that gap began (last_reply_at then) */
    char id_prefix[48];
    unsigned long replies, approved;
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double pl_bench_percentile(const double *sorted, unsigned long n, double q)
{
    if (n == 0)
        return 0;
    unsigned long rank = (unsigned long)ceil(q / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* ---- open loop ------------------------------------------------------------------------------- */

unsigned long pl_bench_rate_due(double elapsed_s, unsigned long rate, unsigned long n)
{
    if (elapsed_s < 0 || rate == 0)
        return 0;
    double due = floor(elapsed_s * (double)rate) + 1;
    return due >= (double)n ? n : (unsigned long)due;
}

double pl_bench_rate_slot(unsigned long i, unsigned long rate)
{
    return rate ? (double)i / (double)rate : 0;
}

long pl_bench_rate_cap(long max_in_flight, unsigned long rate)
{
    if (max_in_flight > 0)
        return max_in_flight;
    unsigned long cap = rate * 10;
    return cap < 1 ? 1 : cap > 1000000 ? 1000000 : (long)cap;
}

double pl_bench_rate_achieved(unsigned long n, double last_send_s, unsigned long rate)
{
    if (n == 0 || rate == 0)
        return 0;
    return (double)n / ((last_send_s > 0 ? last_send_s : 0) + 1.0 / (double)rate);
}

bool pl_bench_rate_kept(double achieved, unsigned long rate)
{
    return achieved >= 0.95 * (double)rate;
}

/* ---- the simulator --------------------------------------------------------------------------- */

typedef struct body {
    char text[1024];
    size_t len;
} body;

static size_t keep_body(char *p, size_t size, size_t n, void *u)
{
    body *b = u;
    size_t k = size * n, room = sizeof b->text - 1 - b->len;
    memcpy(b->text + b->len, p, k < room ? k : room);
    b->len += k < room ? k : room;
    b->text[b->len] = '\0';
    return k;
}

/*
 * GET (or POST, empty) $PAYLINK_SIM_URL<path>, its answer into *got. Returns the HTTP status,
 * 0 when there was no answer, or -1 without PAYLINK_SIM_URL.
 */
static long sim_call(const char *path, bool post, body *got)
{
    const char *url = getenv("PAYLINK_SIM_URL"), *ca = getenv("PAYLINK_SIM_CA");
    if (!url || !*url)
        return -1;
    char full[512];
    snprintf(full, sizeof full, "%s%s", url, path);
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    got->len = 0;
    got->text[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, full);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, got);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "bench: the simulator did not answer %s (%s)\n", path,
                curl_easy_strerror(rc));
        return 0;
    }
    return status;
}

/*
 * The simulator's answer delay: set to set_ms (POST $PAYLINK_SIM_URL/__sim/config?latency_ms=),
 * or only read when set_ms is below 0 (GET). *current (may be NULL) gets the delay the
 * simulator reports afterwards. Returns 0 or -1 (said on stderr).
 */
static int sim_latency(int set_ms, int *current)
{
    char path[64];
    if (set_ms >= 0)
        snprintf(path, sizeof path, "/__sim/config?latency_ms=%d", set_ms);
    else
        snprintf(path, sizeof path, "/__sim/config");
    body got;
    long status = sim_call(path, set_ms >= 0, &got);
    if (status < 0) {
        fprintf(stderr, "bench: setting the simulator's latency needs PAYLINK_SIM_URL\n");
        return -1;
    }
    if (status != 200) {
        fprintf(stderr, "bench: the simulator's configuration failed (HTTP %ld)\n", status);
        return -1;
    }
    json_object *o = json_tokener_parse(got.text), *v;
    int ok = o && json_object_object_get_ex(o, "latency_ms", &v);
    if (ok && current)
        *current = json_object_get_int(v);
    json_object_put(o);
    if (!ok) {
        fprintf(stderr, "bench: the simulator did not say its latency_ms\n");
        return -1;
    }
    return 0;
}

/*
 * The TLS handshakes the simulator has counted since its start (GET /__sim/tls): full ones and
 * resumed sessions. Returns 0, or -1 when it does not say (no PAYLINK_SIM_URL, or a simulator
 * older than the route: quietly, the figures are then unknown).
 */
static int sim_tls(long *full, long *resumed)
{
    body got;
    if (sim_call("/__sim/tls", false, &got) != 200)
        return -1;
    json_object *o = json_tokener_parse(got.text), *f, *r;
    int ok = o && json_object_object_get_ex(o, "full", &f) &&
             json_object_object_get_ex(o, "resumed", &r);
    if (ok) {
        *full = (long)json_object_get_int64(f);
        *resumed = (long)json_object_get_int64(r);
    }
    json_object_put(o);
    return ok ? 0 : -1;
}

/* ---- Kafka ----------------------------------------------------------------------------------- */

/* Assigns every partition of the topics at their current end, before anything is sent. */
static int assign_end(bench *b, const char *const *topics, int ntopics)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(64);
    int rc = 0;
    for (int t = 0; t < ntopics && rc == 0; t++) {
        const rd_kafka_metadata_t *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(b->consumer, topics[t], NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(b->consumer, 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (err || md->topic_cnt != 1 || md->topics[0].err) {
            fprintf(stderr, "bench: no metadata for %s\n", topics[t]);
            if (!err)
                rd_kafka_metadata_destroy(md);
            rc = -1;
            break;
        }
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
            int64_t lo, hi;
            int32_t p = md->topics[0].partitions[i].id;
            if (rd_kafka_query_watermark_offsets(b->consumer, topics[t], p, &lo, &hi, 10000))
                hi = RD_KAFKA_OFFSET_END;
            rd_kafka_topic_partition_list_add(l, topics[t], p)->offset = hi;
        }
        rd_kafka_metadata_destroy(md);
    }
    if (rc == 0 && rd_kafka_assign(b->consumer, l))
        rc = -1;
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    bench *b = opaque;
    if (m->err)
        b->produced_fail++;
}

/* An integer from the environment within [lo, hi], else def. */
static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    return v && end != v && *end == '\0' && n >= lo && n <= hi ? n : def;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers, bench *b)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "socket.nagle.disable", "true", err, sizeof err);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
        rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    } else {
        char group[64];
        snprintf(group, sizeof group, "paylink-bench-%s", b->run);
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
        /*
         * The reply consumer fetches as the workers do (common/kafka.c): the fetch defaults of
         * config.h, or what the environment gives the workers (PAYLINK_KAFKA_FETCH_WAIT_MS,
         * PAYLINK_KAFKA_FETCH_MIN_BYTES; the mock broker's .dev/env asks for a 10 ms wait), so
         * a run that tunes the workers' fetches tunes the harness's alike.
         */
        char wait[16], min[16];
        snprintf(wait, sizeof wait, "%ld",
                 env_long("PAYLINK_KAFKA_FETCH_WAIT_MS", PL_CONFIG_FETCH_WAIT_MS, 1, 60000));
        snprintf(min, sizeof min, "%ld",
                 env_long("PAYLINK_KAFKA_FETCH_MIN_BYTES", PL_CONFIG_FETCH_MIN_BYTES, 1, 1048576));
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", wait, err, sizeof err);
        rd_kafka_conf_set(conf, "fetch.min.bytes", min, err, sizeof err);
    }
    rd_kafka_conf_set_opaque(conf, b);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench: %s\n", err);
        return NULL;
    }
    return rk;
}

/* ---- requests -------------------------------------------------------------------------------- */

static void add_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value));
}

/* What each pl_bench_op is: the request type it sends (the result's "type"), the worker whose
 * request topic takes it, and what the run's first line calls it. */
static const struct {
    const char *type, *worker, *what;
} OPS[] = {
    [PL_BENCH_AUTH] = {"auth", "auth", "auth"},
    [PL_BENCH_DEBIT] = {"debit", "deposit", "debit"},
    [PL_BENCH_REVERSAL] = {"reversal", "reversal", "reversal"},
    [PL_BENCH_SVC_AUTH] = {"auth", "svc", "stored value auth"},
    [PL_BENCH_SVC_ACTIVATE] = {"activate", "svc", "activate"},
    [PL_BENCH_SVC_DEPOSIT] = {"deposit", "svc", "stored value deposit"},
};

static const char *op_type(pl_bench_op op)
{
    return OPS[op].type;
}

static const char *op_worker(pl_bench_op op)
{
    return OPS[op].worker;
}

json_object *pl_bench_request(const pl_bench_req *q)
{
    bool svc = strcmp(op_worker(q->op), "svc") == 0;
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "v", json_object_new_int(1));
    add_str(o, "request_id", q->request_id);
    add_str(o, "type", op_type(q->op));
    json_object_object_add(o, "company", json_object_new_int(1));
    add_str(o, "order", q->order);
    json_object_object_add(o, "pay_seq", json_object_new_int(1));
    add_str(o, "service", svc ? "RLT" : "CYB");
    add_str(o, "amount", q->amount);
    add_str(o, "currency", "USD");
    json_object *sub = json_object_new_object();
    if (q->op == PL_BENCH_AUTH) {
        /* Expiry two years ahead, as the e2e tests' requests (tests/e2e/lib.sh). */
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        add_str(sub, "number", "4111111111111111");
        json_object_object_add(sub, "exp_month", json_object_new_int(12));
        json_object_object_add(sub, "exp_year", json_object_new_int(tm.tm_year + 1900 + 2));
        add_str(sub, "type", "VI");
        json_object_object_add(o, "card", sub);
    } else if (!svc) {
        add_str(sub, "request_id", q->auth_ref);
        json_object_object_add(o, "auth_ref", sub);
    } else {
        add_str(sub, "card_number", q->svc_card);
        if (q->op == PL_BENCH_SVC_ACTIVATE) {
            add_str(sub, "issue_amount", q->amount);
            json_object_object_add(sub, "virtual", json_object_new_boolean(0));
        }
        json_object_object_add(o, "svc", sub);
        if (q->op == PL_BENCH_SVC_DEPOSIT) {
            json_object *ref = json_object_new_object();
            add_str(ref, "request_id", q->auth_ref);
            json_object_object_add(o, "auth_ref", ref);
        }
    }
    return o;
}

/* The consuming workers and what their measured phases send. */
static const struct {
    const char *worker;
    pl_bench_op op;
} workers[] = {
    {"auth", PL_BENCH_AUTH},
    {"deposit", PL_BENCH_DEBIT},
    {"reversal", PL_BENCH_REVERSAL},
    {"svc", PL_BENCH_SVC_AUTH},
};

/* What worker's measured phases send; false when it is none of the four. */
static bool op_of(const char *worker, pl_bench_op *op)
{
    for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++) {
        if (strcmp(worker, workers[i].worker) == 0) {
            *op = workers[i].op;
            return true;
        }
    }
    return false;
}

/* What the options' measured phases send: the worker's requests, or the --type asked of svc
 * (checked by pl_bench_parse). */
static pl_bench_op op_of_opts(const pl_bench_opts *o)
{
    pl_bench_op op = PL_BENCH_AUTH;
    (void)op_of(o->worker, &op);
    if (op == PL_BENCH_SVC_AUTH && o->type && strcmp(o->type, "deposit") == 0)
        op = PL_BENCH_SVC_DEPOSIT;
    return op;
}

/* Produces one request (retrying while the producer's queue is full). Returns 0 or -1. */
static int produce(bench *b, const char *topic, const char *key, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(b->producer, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)s, strlen(s)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(b->producer, 10);
    }
    return err ? -1 : 0;
}

/* The order of request j of the run: the setup authorization j and the deposit or reversal j
 * share it (CONTRACT.md: an auth_ref names an auth of the same company and order). 19
 * characters at most: B, the run's last 10, 8 digits. */
static void order_of(const bench *b, unsigned long j, char *out, size_t outsize)
{
    size_t rl = strlen(b->run);
    snprintf(out, outsize, "B%s%lu", b->run + (rl > 10 ? rl - 10 : 0), j);
}

/* Sends request i of the phase under way, counting its latency from at. */
static int send_one(bench *b, const char *topic, unsigned long i, double at)
{
    const phase *ph = b->ph;
    unsigned long j = ph->base + i;
    char rid[64], order[24], key[32], auth_ref[64];
    snprintf(rid, sizeof rid, "%s%lu", b->id_prefix, j);
    snprintf(auth_ref, sizeof auth_ref, "bench-%s-a%lu", b->run, j);
    order_of(b, j, order, sizeof order);
    snprintf(key, sizeof key, "1-%s", order);
    pl_bench_req q = {.op = ph->op,
                      .request_id = rid,
                      .order = order,
                      .amount = b->amount,
                      .auth_ref = auth_ref,
                      .svc_card = b->svc_card};
    json_object *o = pl_bench_request(&q);
    if (!o)
        return -1;
    b->sent_at[i] = at;
    int rc = produce(b, topic, key, o);
    json_object_put(o);
    return rc;
}

/* The index j in a request id of the phase under way ("<id_prefix><digits>"), or -1. */
static long id_index(const bench *b, const char *rid)
{
    size_t pl = strlen(b->id_prefix);
    if (!rid || strncmp(rid, b->id_prefix, pl) != 0 || !rid[pl])
        return -1;
    long j = 0;
    for (const char *p = rid + pl; *p; p++) {
        if (*p < '0' || *p > '9' || p - rid - (long)pl >= 9)
            return -1;
        j = j * 10 + (*p - '0');
    }
    return j;
}

/* Reads available replies; returns how many new ones matched the phase under way. */
static unsigned long read_replies(bench *b, int timeout_ms)
{
    unsigned long got = 0;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(b->consumer, timeout_ms);
    while (m) {
        if (!m->err && m->payload) {
            char *copy = strndup(m->payload, m->len);
            json_object *o = copy ? json_tokener_parse(copy) : NULL, *rid, *st;
            free(copy);
            long j = o && json_object_object_get_ex(o, "request_id", &rid)
                         ? id_index(b, json_object_get_string(rid))
                         : -1;
            unsigned long i = j >= 0 ? (unsigned long)j - b->ph->base : ULONG_MAX;
            if (j >= (long)b->ph->base && i < b->ph->n && !b->got[i] && b->sent_at[i] > 0) {
                double t = now_s();
                b->got[i] = 1;
                b->latency[b->replies++] = (t - b->sent_at[i]) * 1000.0;
                if (t - b->last_reply_at > b->max_gap_s) {
                    b->max_gap_s = t - b->last_reply_at;
                    b->max_gap_from = b->last_reply_at;
                }
                b->last_reply_at = t;
                got++;
                if (json_object_object_get_ex(o, "status", &st) &&
                    strcmp(json_object_get_string(st), "approved") == 0)
                    b->approved++;
            }
            json_object_put(o);
        }
        rd_kafka_message_destroy(m);
        m = rd_kafka_consumer_poll(b->consumer, 0);
    }
    return got;
}

/* How long to wait for replies before the next send of an open loop: until the next request is
 * due, 1 to 5 ms. */
static int open_loop_wait(const phase *ph, double t0, unsigned long sent, bool capped)
{
    if (sent >= ph->n || capped)
        return 5;
    double ms = ceil((t0 + pl_bench_rate_slot(sent, ph->rate) - now_s()) * 1000.0);
    return ms < 0 ? 0 : ms > 5 ? 5 : (int)ms;
}

/*
 * Asks the producer's metadata of topic before a phase's clock starts: the first message to a
 * topic the producer has not met waits for its partitions' leaders, 0.5-1 s here, and a phase
 * without warm-up measured that (docs/perf/ROUNDS.md, twenty-seventh round). A failure is only
 * a slower start.
 */
static void producer_knows(bench *b, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(b->producer, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    if (rkt && rd_kafka_metadata(b->producer, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

/*
 * Runs one phase until every reply came, the timeout passed or a signal came; fills res (the
 * latencies sorted in b->latency). Returns 0, or -1 when producing failed or on a signal.
 */
static int run_phase(bench *b, const phase *ph, long timeout_s, phase_result *res)
{
    memset(res, 0, sizeof *res);
    b->ph = ph;
    b->replies = b->approved = 0;
    memset(b->sent_at, 0, ph->n * sizeof *b->sent_at);
    memset(b->got, 0, ph->n);
    snprintf(b->id_prefix, sizeof b->id_prefix, "bench-%s-%s", b->run, ph->setup ? "a" : "");
    char topic[160];
    snprintf(topic, sizeof topic, "%s.%s.request", b->prefix, op_worker(ph->op));
    long cap = ph->rate ? pl_bench_rate_cap(ph->k, ph->rate) : ph->k;
    res->cap = cap;
    producer_knows(b, topic);
    clock_gettime(CLOCK_REALTIME, &res->wall0);
    double t0 = now_s(), deadline = t0 + (double)timeout_s;
    unsigned long sent = 0, capped_at = ULONG_MAX;
    b->last_reply_at = t0;
    b->max_gap_s = 0;
    b->max_gap_from = t0;
    while (b->replies < ph->n && now_s() < deadline) {
        if (g_stop) {
            fprintf(stderr, "bench: interrupted during the %s phase\n", ph->name);
            return -1;
        }
        unsigned long due = ph->rate ? pl_bench_rate_due(now_s() - t0, ph->rate, ph->n) : ph->n;
        bool capped = false;
        while (sent < due) {
            if (cap > 0 && (long)(sent - b->replies) >= cap) {
                capped = true;
                if (ph->rate && capped_at != sent) {
                    res->cap_waits++;
                    capped_at = sent;
                }
                break;
            }
            /* Open loop: the latency counts from the scheduled time, not from a late send. */
            double at = ph->rate ? t0 + pl_bench_rate_slot(sent, ph->rate) : now_s();
            if (send_one(b, topic, sent, at) != 0) {
                fprintf(stderr, "bench: produce failed\n");
                return -1;
            }
            sent++;
            if (ph->rate) {
                double t = now_s();
                res->lag_max_s = t - at > res->lag_max_s ? t - at : res->lag_max_s;
                res->last_send_s = t - t0;
            } else if (cap == 0 && sent % 1000 == 0) {
                break; /* interleave reading replies with a large burst */
            }
        }
        rd_kafka_poll(b->producer, 0);
        if (ph->rate)
            read_replies(b, open_loop_wait(ph, t0, sent, capped));
        else
            read_replies(b, sent < ph->n && !capped ? 0 : 5);
    }
    res->seconds = now_s() - t0;
    res->replies = b->replies;
    res->approved = b->approved;
    qsort(b->latency, b->replies, sizeof *b->latency, cmp_double);
    res->p50 = pl_bench_percentile(b->latency, b->replies, 50);
    res->p90 = pl_bench_percentile(b->latency, b->replies, 90);
    res->p99 = pl_bench_percentile(b->latency, b->replies, 99);
    res->p999 = pl_bench_percentile(b->latency, b->replies, 99.9);
    res->max = b->replies ? b->latency[b->replies - 1] : 0;
    res->max_gap = b->max_gap_s * 1000.0;
    res->max_gap_from_s = b->max_gap_from - t0;
    return 0;
}

/* ---- options --------------------------------------------------------------------------------- */

/* A whole number in [min, max], digits only (no sign, no blanks, no suffix). */
static bool parse_whole(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    size_t n = 0;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 12)
            return false;
        v = v * 10 + (unsigned long)(s[n] - '0');
    }
    if (n == 0 || v < min || v > max)
        return false;
    *out = v;
    return true;
}

#define USAGE                                                                                      \
    "usage: paylinkctl bench --worker auth|deposit|reversal|svc [--type auth|deposit] "            \
    "--requests N [--sim-latency-ms L] [--max-in-flight K] [--rate R] [--warmup W] [--baseline] "  \
    "[--baseline-requests M] [--replicas R] [--amount A] [--pid-file F] [--timeout S] [--help]"

void pl_bench_usage(FILE *out)
{
    fputs(USAGE "\n\n"
                "Drives the running system through Kafka and measures it. The last line (stdout) "
                "is one JSON object.\n"
                "  --worker W          auth (CYB authorizations; default), deposit (one debit "
                "per\n"
                "                      authorization), reversal (one reversal per "
                "authorization) or\n"
                "                      svc (stored value authorizations on RLT). deposit and "
                "reversal\n"
                "                      first get their authorizations through paylink-auth "
                "(setup,\n"
                "                      simulator latency 0, not measured).\n"
                "  --type T            svc only: auth (default) or deposit (one stored value "
                "deposit\n"
                "                      per authorization, which paylink-svc makes first: "
                "setup)\n"
                "  --requests N        measured requests (1000)\n"
                "  --sim-latency-ms L  the simulator's answer delay for the measured phases\n"
                "  --max-in-flight K   closed loop: at most K requests outstanding (K = 1: "
                "sequential;\n"
                "                      0, the default: all at once). With --rate: the bound of\n"
                "                      outstanding requests (default R x 10)\n"
                "  --rate R            open loop: R requests per second on a fixed schedule, "
                "whatever\n"
                "                      the replies do; latency counts from each request's "
                "scheduled\n"
                "                      send time; the run says when the rate could not be kept\n"
                "  --warmup W          unmeasured requests first (default min(N, max(200, 2K)))\n"
                "  --baseline          then a sequential phase (K = 1) of M requests, after its "
                "own\n"
                "                      warm-up of min(M, W): baseline_throughput and speedup\n"
                "  --baseline-requests M  (100)\n"
                "  --replicas R        R worker processes during the measured phases (1-32): R - "
                "1\n"
                "                      more are started from $PAYLINK_BIN and stopped at the end\n"
                "  --amount A          of every request (10.00)\n"
                "  --pid-file F        the environment's worker (default "
                "$PAYLINK_RUN_DIR/paylink-W.pid)\n"
                "  --timeout S         bound of each phase in seconds (300)\n"
                "CPU during the measured phase (worker processes, PostgreSQL, simulator, "
                "broker,\n"
                "benchmark) is read from /proc and printed per component to stderr; the JSON "
                "has\n"
                "worker_cpu_us_per_tx, db_cpu_us_per_tx and harness_cpu_us_per_tx (simulator, "
                "broker\n"
                "and benchmark), and db_upkeep_cpu_us_per_tx: of PostgreSQL's, its own upkeep\n"
                "(autovacuum, checkpointer, WAL writer; the rest is the statements').\n",
          out);
}

int pl_bench_parse(int argc, char **argv, pl_bench_opts *o, char *errstr, size_t errstr_size)
{
    *o = (pl_bench_opts){.worker = "auth",
                         .requests = 1000,
                         .sim_latency_ms = -1,
                         .warmup = -1,
                         .baseline_requests = 100,
                         .replicas = 1,
                         .amount = "10.00",
                         .timeout_s = 300};
    static const struct option opts[] = {
        {"worker", required_argument, NULL, 'w'},
        {"type", required_argument, NULL, 'T'},
        {"requests", required_argument, NULL, 'n'},
        {"sim-latency-ms", required_argument, NULL, 'l'},
        {"max-in-flight", required_argument, NULL, 'k'},
        {"rate", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'W'},
        {"baseline", no_argument, NULL, 'b'},
        {"baseline-requests", required_argument, NULL, 'm'},
        {"replicas", required_argument, NULL, 'R'},
        {"amount", required_argument, NULL, 'a'},
        {"pid-file", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 0; /* glibc: a full restart, so the parser can run more than once */
    opterr = 0; /* the reason goes into errstr */
    int c;
    unsigned long v = 0;
    int64_t minor = 0;
    bool baseline_requests = false;
    pl_bench_op op;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (!op_of(optarg, &op))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--worker: expected auth, deposit, reversal or svc");
            o->worker = optarg;
            break;
        case 'T':
            if (strcmp(optarg, "auth") != 0 && strcmp(optarg, "deposit") != 0)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--type: expected auth or deposit");
            o->type = optarg;
            break;
        case 'n':
            if (!parse_whole(optarg, 1, PL_BENCH_MAX_REQUESTS, &o->requests))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--requests: expected 1 to %lu", PL_BENCH_MAX_REQUESTS);
            break;
        case 'l':
            if (!parse_whole(optarg, 0, 600000, &v))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--sim-latency-ms: expected 0 to 600000");
            o->sim_latency_ms = (int)v;
            break;
        case 'k':
            if (!parse_whole(optarg, 0, 1000000, &v))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--max-in-flight: expected 0 (all at once) to 1000000");
            o->max_in_flight = (long)v;
            break;
        case 'r':
            if (!parse_whole(optarg, 1, PL_BENCH_MAX_RATE, &o->rate))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--rate: expected requests per second, 1 to %lu",
                                  PL_BENCH_MAX_RATE);
            break;
        case 'W':
            if (!parse_whole(optarg, 0, PL_BENCH_MAX_REQUESTS, &v))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--warmup: expected 0 to %lu", PL_BENCH_MAX_REQUESTS);
            o->warmup = (long)v;
            break;
        case 'b':
            o->baseline = true;
            break;
        case 'm':
            if (!parse_whole(optarg, 1, PL_BENCH_MAX_REQUESTS, &o->baseline_requests))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--baseline-requests: expected 1 to %lu", PL_BENCH_MAX_REQUESTS);
            baseline_requests = true;
            break;
        case 'R':
            if (!parse_whole(optarg, 1, PL_BENCH_MAX_REPLICAS, &v))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--replicas: expected 1 to %d (the topics' partitions)",
                                  PL_BENCH_MAX_REPLICAS);
            o->replicas = (unsigned)v;
            break;
        case 'a':
            if (pl_money_parse(optarg, &minor) != PL_OK || minor <= 0)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--amount: expected an amount above zero such as 10.00");
            o->amount = optarg;
            break;
        case 'p':
            o->pid_file = optarg;
            break;
        case 't':
            if (!parse_whole(optarg, 1, 86400, &v))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--timeout: expected seconds, 1 to 86400");
            o->timeout_s = (long)v;
            break;
        case 'h':
            o->help = true;
            break;
        default:
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s", USAGE);
        }
    }
    if (optind < argc)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "unexpected argument #%d; %s",
                          optind, USAGE);
    if (baseline_requests && !o->baseline)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--baseline-requests: only with --baseline");
    if (o->type && strcmp(o->worker, "svc") != 0)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "--type: only with --worker svc");
    return PL_OK;
}

unsigned long pl_bench_warmup(unsigned long n, long k)
{
    unsigned long w = k > 100 ? 2 * (unsigned long)k : 200; /* max(200, 2k) */
    return n < w ? n : w;
}

unsigned long pl_bench_warmup_of(long warmup, unsigned long n, long k)
{
    if (warmup < 0)
        return pl_bench_warmup(n, k);
    return (unsigned long)warmup < n ? (unsigned long)warmup : n;
}

int pl_bench_svc_balance(unsigned long count, const char *amount, char *out, size_t outsize)
{
    int64_t each = 0;
    if (pl_money_parse(amount, &each) != PL_OK || each <= 0)
        return PL_ERR_INVALID;
    /* 1000.00 on top: a whole-unit part of four digits or more is no scenario. */
    const int64_t margin = 100000;
    if ((uint64_t)count > (uint64_t)((PL_MONEY_MAX - margin) / each))
        return PL_ERR_INVALID;
    return pl_money_format((int64_t)count * each + margin, out, outsize);
}

/* ---- setup ----------------------------------------------------------------------------------- */

/*
 * Waits for the reply to the setup request rid; returns 0 when it is approved. Other messages
 * are dropped: nothing else of this run is in flight yet.
 */
static int wait_setup(bench *b, const char *rid, long timeout_s)
{
    double deadline = now_s() + (double)timeout_s;
    while (now_s() < deadline && !g_stop) {
        rd_kafka_poll(b->producer, 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(b->consumer, 100);
        if (!m)
            continue;
        json_object *o = NULL, *v;
        if (!m->err && m->payload) {
            char *copy = strndup(m->payload, m->len);
            o = copy ? json_tokener_parse(copy) : NULL;
            free(copy);
        }
        rd_kafka_message_destroy(m);
        if (!o || !json_object_object_get_ex(o, "request_id", &v) ||
            strcmp(json_object_get_string(v), rid) != 0) {
            json_object_put(o);
            continue;
        }
        const char *status =
            json_object_object_get_ex(o, "status", &v) ? json_object_get_string(v) : "";
        int rc = strcmp(status, "approved") == 0 ? 0 : -1;
        if (rc != 0) {
            const char *msg =
                json_object_object_get_ex(o, "message", &v) ? json_object_get_string(v) : "";
            fprintf(stderr, "bench: activating the card was %s: %s\n", status, msg);
        }
        json_object_put(o);
        return rc;
    }
    fprintf(stderr, "bench: no reply to %s within %ld s (is paylink-svc running?)\n", rid,
            timeout_s);
    return -1;
}

/*
 * --worker svc: a card of the run's own with enough on it for `count` authorizations, activated
 * through paylink-svc like any physical card (ActivateInstrument). The number is made up from
 * the time and the pid (17 digits; the simulator takes any), so runs never share a card.
 */
static int svc_setup(bench *b, unsigned long count, long timeout_s)
{
    char balance[24], rid[64], order[24], key[32], topic[160];
    if (pl_bench_svc_balance(count, b->amount, balance, sizeof balance) != PL_OK) {
        fprintf(stderr, "bench: %lu authorizations of %s are more than one card can hold\n", count,
                b->amount);
        return -1;
    }
    snprintf(b->svc_card, sizeof b->svc_card, "79%010lu%05lu",
             (unsigned long)time(NULL) % 10000000000UL, (unsigned long)getpid() % 100000UL);
    snprintf(rid, sizeof rid, "benchcard-%s", b->run);
    snprintf(order, sizeof order, "BC%s", b->run + strlen(b->run) - 4);
    snprintf(key, sizeof key, "1-%s", order);
    snprintf(topic, sizeof topic, "%s.svc.request", b->prefix);
    pl_bench_req q = {.op = PL_BENCH_SVC_ACTIVATE,
                      .request_id = rid,
                      .order = order,
                      .amount = balance,
                      .svc_card = b->svc_card};
    json_object *o = pl_bench_request(&q);
    int rc = o ? produce(b, topic, key, o) : -1;
    json_object_put(o);
    if (rc != 0) {
        fprintf(stderr, "bench: produce failed\n");
        return -1;
    }
    fprintf(stderr, "bench: activating a card for %s through paylink-svc\n", balance);
    return wait_setup(b, rid, timeout_s);
}

/*
 * --worker deposit / reversal: `count` approved CyberSource authorizations through paylink-auth
 * (op PL_BENCH_AUTH); --worker svc --type deposit: stored value ones through paylink-svc on the
 * run's card (PL_BENCH_SVC_AUTH). Ids bench-<run>-a<j>, orders shared with the requests that
 * will refer to them, the simulator answering at once; afterwards its latency is `latency`.
 * Returns 0 or -1.
 */
static int auth_setup(bench *b, pl_bench_op op, unsigned long count, int latency, long timeout_s)
{
    const char *w = op_worker(op);
    fprintf(stderr,
            "bench: setup: %lu authorizations through paylink-%s (simulator latency 0, not "
            "measured)\n",
            count, w);
    if (sim_latency(0, NULL) != 0)
        return -1;
    phase ph = {.name = "setup", .op = op, .setup = true, .n = count, .k = 256};
    phase_result res;
    if (run_phase(b, &ph, timeout_s, &res) != 0)
        return -1;
    if (res.approved != count) {
        fprintf(stderr,
                "bench: setup: %lu of %lu authorizations approved (%lu replies within %ld s; is "
                "paylink-%s running?)\n",
                res.approved, count, res.replies, timeout_s, w);
        return -1;
    }
    return sim_latency(latency, NULL);
}

/* ---- the result ------------------------------------------------------------------------------ */

/* A number with a fixed count of decimals as the JSON shows it; null when below 0 or not
 * finite (unknown). */
static json_object *fixed(double v, int decimals, bool null_below_0)
{
    if (!isfinite(v) || (null_below_0 && v < 0))
        return NULL;
    char s[48];
    snprintf(s, sizeof s, "%.*f", decimals, v);
    return json_object_new_double_s(v, s);
}

void pl_bench_wall_at(const struct timespec *wall0, double offset_s, char *out, size_t outsize)
{
    if (outsize)
        out[0] = '\0';
    if (outsize < 25 || !(offset_s >= 0))
        return;
    /* In whole milliseconds from the epoch, so that a carry lands in the seconds. */
    long long ms = (long long)wall0->tv_sec * 1000 + wall0->tv_nsec / 1000000 +
                   (long long)llround(offset_s * 1000.0);
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char day[24];
    if (!gmtime_r(&sec, &tm) || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return;
    snprintf(out, outsize, "%s.%03lldZ", day, ms % 1000);
}

json_object *pl_bench_result_json(const pl_bench_result *r)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    double tput = r->seconds > 0 ? (double)r->replies / r->seconds : 0;
    typedef struct field {
        const char *key;
        json_object *value;
    } field;
    field f[40];
    int n = 0;
#define F(k, v) f[n++] = (field){k, v}
    F("replies", json_object_new_int64((int64_t)r->replies));
    F("seconds", fixed(r->seconds, 3, false));
    F("throughput", fixed(tput, 1, false));
    F("p50_ms", fixed(r->p50_ms, 1, false));
    F("p99_ms", fixed(r->p99_ms, 1, false));
    F("max_rss_kb", json_object_new_int64(r->max_rss_kb));
    F("worker_cpu_us_per_tx", fixed(r->worker_us, 1, true));
    F("db_cpu_us_per_tx", fixed(r->db_us, 1, true));
    F("harness_cpu_us_per_tx", fixed(r->harness_us, 1, true));
    if (r->baseline) {
        double base =
            r->baseline_seconds > 0 ? (double)r->baseline_replies / r->baseline_seconds : 0;
        F("baseline_throughput", fixed(base, 1, false));
        F("speedup", base > 0 ? fixed(tput / base, 2, false) : NULL);
    }
    F("requests", json_object_new_int64((int64_t)r->requests));
    F("approved", json_object_new_int64((int64_t)r->approved));
    F("max_in_flight", json_object_new_int64(r->max_in_flight));
    F("sim_latency_ms", json_object_new_int(r->sim_latency_ms));
    F("worker", json_object_new_string(r->worker));
    F("type", json_object_new_string(r->type ? r->type : "auth"));
    F("replicas", json_object_new_int((int)r->replicas));
    F("rate", json_object_new_int64((int64_t)r->rate));
    F("warmup", json_object_new_int64((int64_t)r->warmup));
    if (r->rate) {
        F("rate_achieved", fixed(r->rate_achieved, 1, false));
        F("rate_kept", json_object_new_boolean(r->rate_kept));
        F("send_lag_max_ms", fixed(r->send_lag_max_ms, 1, false));
    }
    F("sim_cpu_us_per_tx", fixed(r->sim_us, 1, true));
    F("broker_cpu_us_per_tx", fixed(r->broker_us, 1, true));
    F("bench_cpu_us_per_tx", fixed(r->bench_us, 1, true));
    F("db_upkeep_cpu_us_per_tx", fixed(r->db_upkeep_us, 1, true));
    F("max_gap_ms", fixed(r->max_gap_ms, 1, true));
    F("max_gap_at", r->max_gap_at[0] ? json_object_new_string(r->max_gap_at) : NULL);
    F("max_gap_from_s", r->max_gap_at[0] ? fixed(r->max_gap_from_s, 3, false) : NULL);
    F("io_stall_pct", fixed(r->io_stall_pct, 1, true));
    F("tls_full", r->tls_full >= 0 ? json_object_new_int64(r->tls_full) : NULL);
    F("tls_resumed", r->tls_resumed >= 0 ? json_object_new_int64(r->tls_resumed) : NULL);
    if (r->baseline) {
        F("baseline_requests", json_object_new_int64((int64_t)r->baseline_requests));
        F("baseline_replies", json_object_new_int64((int64_t)r->baseline_replies));
    }
#undef F
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (json_object_object_add(o, f[i].key, f[i].value) != 0) {
            json_object_put(f[i].value);
            ok = false;
        }
    }
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

void pl_bench_tls_of(long full0, long resumed0, long full1, long resumed1, pl_bench_result *res)
{
    /* The second count's own connection (the benchmark's, without a session) is a full
     * handshake, counted before the simulator answered. */
    res->tls_full = full1 - full0 - 1 >= 0 ? full1 - full0 - 1 : 0;
    res->tls_resumed = resumed1 - resumed0 >= 0 ? resumed1 - resumed0 : 0;
    fprintf(stderr,
            "bench: TLS handshakes with the simulator during the measured phase: %ld full, %ld "
            "resumed%s\n",
            res->tls_full, res->tls_resumed,
            res->tls_full + res->tls_resumed > 0 ? " (connections the warm-up did not open)" : "");
}

/* ---- the run --------------------------------------------------------------------------------- */

static void print_phase(const char *what, const phase_result *r, unsigned long n)
{
    fprintf(stderr,
            "bench: %s: %lu/%lu replies (%lu approved) in %.2f s; p50 %.1f ms, p90 %.1f ms, p99 "
            "%.1f ms, p99.9 %.1f ms, max %.1f ms\n",
            what, r->replies, n, r->approved, r->seconds, r->p50, r->p90, r->p99, r->p999, r->max);
}

/* The open loop's account of its schedule, into res and stderr. */
static void report_rate(const phase *ph, const phase_result *m, pl_bench_result *res)
{
    res->rate_achieved = pl_bench_rate_achieved(ph->n, m->last_send_s, ph->rate);
    res->rate_kept = pl_bench_rate_kept(res->rate_achieved, ph->rate) && m->cap_waits == 0;
    res->send_lag_max_ms = m->lag_max_s * 1000.0;
    fprintf(stderr,
            "bench: open loop at %lu/s: sent at %.1f/s, the latest send %.1f ms behind its time, "
            "%lu due requests held back by the bound of %ld outstanding\n",
            ph->rate, res->rate_achieved, res->send_lag_max_ms, m->cap_waits, m->cap);
    if (!res->rate_kept)
        fprintf(stderr, "bench: warning: the rate of %lu/s could not be kept (%s)\n", ph->rate,
                m->cap_waits ? "the system did not answer fast enough: raise --max-in-flight or "
                               "lower --rate"
                             : "the benchmark could not send fast enough");
}

/* The run's stall indicators on stderr, with a warning when the box stalled on its disk for
 * 5 % of the measured phase or more: such a run measures the box more than paylink. */
static void report_stalls(const pl_bench_result *res)
{
    char io[48] = "unknown (no /proc/pressure/io)";
    if (res->io_stall_pct >= 0)
        snprintf(io, sizeof io, "%.1f %% of it", res->io_stall_pct);
    fprintf(stderr,
            "bench: the longest time without a reply: %.1f ms, from %s (%.3f s into the phase); "
            "the box stalled on I/O (every task waiting for it at once, /proc/pressure/io): %s\n",
            res->max_gap_ms, res->max_gap_at[0] ? res->max_gap_at : "an unknown time",
            res->max_gap_from_s, io);
    if (res->io_stall_pct >= 5.0)
        fprintf(stderr,
                "bench: warning: the box stalled on I/O for %.1f %% of the measured phase: "
                "its disk, not paylink, set part of these figures; run again on a quieter "
                "box\n",
                res->io_stall_pct);
}

/*
 * The unmeasured setup of the run's `total` requests: the authorizations of deposit / reversal
 * (the simulator's latency at 0 meanwhile, then `latency`, or what it was when latency is below
 * 0), the svc card, or only the simulator's latency. Returns 0 or -1; after a failed
 * authorization setup the simulator's latency is put back as it was.
 */
static int setup(bench *b, pl_bench_op op, unsigned long total, int latency, long timeout_s)
{
    if (op == PL_BENCH_DEBIT || op == PL_BENCH_REVERSAL || op == PL_BENCH_SVC_DEPOSIT) {
        bool svc = op == PL_BENCH_SVC_DEPOSIT;
        int before = 0;
        if (sim_latency(-1, &before) != 0 || (svc && svc_setup(b, total, timeout_s) != 0))
            return -1;
        if (auth_setup(b, svc ? PL_BENCH_SVC_AUTH : PL_BENCH_AUTH, total,
                       latency >= 0 ? latency : before, timeout_s) != 0) {
            (void)sim_latency(before, NULL);
            return -1;
        }
        return 0;
    }
    if (latency >= 0 && sim_latency(latency, NULL) != 0)
        return -1;
    return op == PL_BENCH_SVC_AUTH ? svc_setup(b, total, timeout_s) : 0;
}

/* Starts replicas - 1 more worker processes and waits until the group has taken them in (with
 * the environment's own worker when env_worker). Returns 0 or -1 (said on stderr). */
static int start_replicas(bench *b, const char *worker, unsigned replicas, bool env_worker,
                          long timeout_s, pl_bench_replicas **out)
{
    char errstr[512];
    if (pl_bench_replicas_start(worker, replicas - 1, b->run, out, errstr, sizeof errstr) !=
            PL_OK ||
        pl_bench_replicas_wait_joined(*out, b->consumer, env_worker + replicas - 1,
                                      (double)timeout_s, &g_stop, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "bench: %s\n", errstr);
        return -1;
    }
    fprintf(stderr, "bench: %u replicas of paylink-%s in the consumer group\n", replicas, worker);
    return 0;
}

/* The CPU per reply of each component into the result. */
static void cpu_into(pl_bench_result *res, const pl_bench_cpu_account *a)
{
    res->worker_us = pl_bench_cpu_us_per_tx(a, PL_BENCH_CPU_WORKER, res->replies);
    res->db_us = pl_bench_cpu_us_per_tx(a, PL_BENCH_CPU_DB, res->replies);
    res->db_upkeep_us = pl_bench_db_upkeep_us_per_tx(a, res->replies);
    res->sim_us = pl_bench_cpu_us_per_tx(a, PL_BENCH_CPU_SIM, res->replies);
    res->broker_us = pl_bench_cpu_us_per_tx(a, PL_BENCH_CPU_BROKER, res->replies);
    res->bench_us = pl_bench_cpu_us_per_tx(a, PL_BENCH_CPU_BENCH, res->replies);
    res->harness_us = pl_bench_cpu_us_per_tx(a, PL_BENCH_CPU_NPARTS, res->replies);
}

void pl_bench_run_id(unsigned long t, unsigned long pid, char *out, size_t outsize)
{
    /* Letters only: a request id is checked for card numbers like every other field, and the
     * digits of a run id next to a request's counter ("…89890975-100403") can pass the Luhn
     * check, so the worker refused such requests as invalid and masked their ids. */
    unsigned long long v = ((unsigned long long)(t & 0xffffffffUL) << 16) | (pid & 0xffffUL);
    size_t n = 0;
    for (int i = 0; i < 11 && n + 1 < outsize; i++, v /= 26)
        out[n++] = (char)('a' + (int)(v % 26));
    if (outsize)
        out[n] = '\0';
}

int pl_bench_main(int argc, char **argv, const char *brokers, const char *prefix)
{
    pl_bench_opts opt;
    char errstr[512];
    if (pl_bench_parse(argc, argv, &opt, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "bench: %s\n", errstr);
        return 2;
    }
    if (opt.help) {
        pl_bench_usage(stdout);
        return 0;
    }
    if (!brokers || !*brokers) {
        fprintf(stderr,
                "paylinkctl: no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers\n");
        return 1;
    }
    const char *worker = opt.worker, *pid_file = opt.pid_file;
    const char *run_dir = getenv("PAYLINK_RUN_DIR");
    unsigned long n = opt.requests;
    long k = opt.max_in_flight, timeout_s = opt.timeout_s;
    char pidbuf[600];
    if (!pid_file) {
        const char *logs = getenv("PAYLINK_LOG_DIR");
        if (run_dir && *run_dir)
            snprintf(pidbuf, sizeof pidbuf, "%s/paylink-%s.pid", run_dir, worker);
        else if (logs && *logs)
            snprintf(pidbuf, sizeof pidbuf, "%s/../run/paylink-%s.pid", logs, worker);
        else
            snprintf(pidbuf, sizeof pidbuf, ".dev/run/paylink-%s.pid", worker);
        pid_file = pidbuf;
    }
    pl_bench_op op = op_of_opts(&opt);
    /* Requests that draw on an authorization of the setup: paylink-auth's, or paylink-svc's. */
    bool cyb_auths = op == PL_BENCH_DEBIT || op == PL_BENCH_REVERSAL;
    bool needs_auths = cyb_auths || op == PL_BENCH_SVC_DEPOSIT;
    /* The run's requests are numbered 0 .. total - 1: warm-up, measured, baseline warm-up,
     * baseline. */
    long warm_k = k && !opt.rate ? k : 50; /* the warm-up's concurrency (below) */
    unsigned long warm = pl_bench_warmup_of(opt.warmup, n, warm_k);
    unsigned long m = opt.baseline ? opt.baseline_requests : 0;
    unsigned long bwarm = opt.baseline ? pl_bench_warmup_of(opt.warmup, m, 1) : 0;
    unsigned long total = warm + n + bwarm + m, longest = n;
    if (needs_auths)
        longest = total; /* the setup phase sends them all */
    if (warm > longest)
        longest = warm;
    if (bwarm > longest)
        longest = bwarm;
    if (m > longest)
        longest = m;

    bench b = {.prefix = prefix, .amount = opt.amount, .cap = longest};
    pl_bench_run_id((unsigned long)time(NULL), (unsigned long)getpid(), b.run, sizeof b.run);
    pl_bench_replicas *replicas = NULL;
    json_object *j = NULL; /* the last line */
    int status = 1;
    struct sigaction sa = {.sa_handler = on_stop}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    b.sent_at = calloc(longest, sizeof *b.sent_at);
    b.latency = calloc(longest, sizeof *b.latency);
    b.got = calloc(longest, 1);
    if (!b.sent_at || !b.latency || !b.got) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    char t_reply[160], t_auth_reply[160];
    snprintf(t_reply, sizeof t_reply, "%s.%s.reply", prefix, worker);
    snprintf(t_auth_reply, sizeof t_auth_reply, "%s.auth.reply", prefix);
    const char *replies_of[] = {t_reply, t_auth_reply};
    if (!(b.producer = client(RD_KAFKA_PRODUCER, brokers, &b)) ||
        !(b.consumer = client(RD_KAFKA_CONSUMER, brokers, &b)) ||
        assign_end(&b, replies_of, cyb_auths ? 2 : 1) != 0)
        goto out;

    if (setup(&b, op, total, opt.sim_latency_ms, timeout_s) != 0)
        goto out;

    /* The extra replicas, in the worker's group before anything is measured. */
    long env_worker = pl_bench_pid_file(pid_file);
    if (opt.replicas > 1 &&
        start_replicas(&b, worker, opt.replicas, env_worker > 0, timeout_s, &replicas) != 0)
        goto out;
    long workers[PL_BENCH_MAX_REPLICAS];
    size_t nworkers = 0;
    if (env_worker > 0)
        workers[nworkers++] = env_worker;
    for (unsigned i = 0; i < pl_bench_replicas_count(replicas); i++)
        workers[nworkers++] = pl_bench_replicas_pid(replicas, i);

    /* Warm-up, not measured: the reply consumer's first fetches, the worker's connections to
     * the bureau (TLS handshakes) and the database caches all start cold. */
    phase_result wr, mr, bwr, br;
    phase warm_ph = {.name = "warm-up", .op = op, .base = 0, .n = warm, .k = warm_k};
    if (warm && run_phase(&b, &warm_ph, timeout_s, &wr) != 0)
        goto out;

    phase main_ph = {.name = "measured", .op = op, .base = warm, .n = n, .k = k, .rate = opt.rate};
    char mode[96];
    if (opt.rate)
        snprintf(mode, sizeof mode, "open loop at %lu/s (at most %ld outstanding)", opt.rate,
                 pl_bench_rate_cap(k, opt.rate));
    else if (k)
        snprintf(mode, sizeof mode, "closed loop, at most %ld outstanding", k);
    else
        snprintf(mode, sizeof mode, "closed loop, all at once");
    fprintf(stderr, "bench: %lu %s requests to paylink-%s (%u replica%s), %s, amount %s\n", n,
            OPS[op].what, worker, opt.replicas, opt.replicas > 1 ? "s" : "", mode, opt.amount);
    pl_bench_cpu_sample cpu0, cpu1;
    long tls_full0 = -1, tls_resumed0 = -1, tls_full1 = -1, tls_resumed1 = -1;
    bool tls_known = sim_tls(&tls_full0, &tls_resumed0) == 0;
    pl_bench_cpu_take(run_dir, workers, nworkers, &cpu0);
    if (run_phase(&b, &main_ph, timeout_s, &mr) != 0)
        goto out;
    pl_bench_cpu_take(run_dir, workers, nworkers, &cpu1);
    tls_known = tls_known && sim_tls(&tls_full1, &tls_resumed1) == 0;
    print_phase("measured", &mr, n);

    pl_bench_result res = {.worker = worker,
                           .type = op_type(op),
                           .requests = n,
                           .replies = mr.replies,
                           .approved = mr.approved,
                           .seconds = mr.seconds,
                           .p50_ms = mr.p50,
                           .p99_ms = mr.p99,
                           .max_in_flight = opt.rate ? mr.cap : k,
                           .sim_latency_ms = opt.sim_latency_ms,
                           .replicas = opt.replicas,
                           .warmup = warm,
                           .rate = opt.rate};
    if (opt.rate)
        report_rate(&main_ph, &mr, &res);
    pl_bench_cpu_account acct;
    pl_bench_cpu_account_of(&cpu0, &cpu1, &acct);
    cpu_into(&res, &acct);
    res.max_gap_ms = mr.max_gap;
    pl_bench_wall_at(&mr.wall0, mr.max_gap_from_s, res.max_gap_at, sizeof res.max_gap_at);
    res.max_gap_from_s = mr.max_gap_from_s;
    res.io_stall_pct = pl_bench_io_stall_pct(&acct);
    report_stalls(&res);
    res.tls_full = res.tls_resumed = -1;
    if (tls_known)
        pl_bench_tls_of(tls_full0, tls_resumed0, tls_full1, tls_resumed1, &res);

    /* The sequential baseline, on the same (warm) system. */
    if (opt.baseline) {
        phase bw_ph = {.name = "baseline warm-up", .op = op, .base = warm + n, .n = bwarm, .k = 1};
        phase b_ph = {.name = "baseline", .op = op, .base = warm + n + bwarm, .n = m, .k = 1};
        if ((bwarm && run_phase(&b, &bw_ph, timeout_s, &bwr) != 0) ||
            run_phase(&b, &b_ph, timeout_s, &br) != 0)
            goto out;
        print_phase("baseline (one at a time)", &br, m);
        res.baseline = true;
        res.baseline_requests = m;
        res.baseline_replies = br.replies;
        res.baseline_seconds = br.seconds;
    }
    res.max_rss_kb = pl_bench_peak_rss_kb(workers, nworkers);
    pl_bench_cpu_print(stderr, &acct, mr.replies, (unsigned)nworkers);
    j = pl_bench_result_json(&res);
    if (!j) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    if (res.baseline) {
        json_object *sp = NULL;
        json_object_object_get_ex(j, "speedup", &sp);
        fprintf(stderr, "bench: speed-up over one at a time: %s\n",
                sp ? json_object_get_string(sp) : "-");
    }
    status = mr.replies == n && (!opt.baseline || br.replies == m) ? 0 : 1;
out:
    if (pl_bench_replicas_count(replicas) > 0)
        fprintf(stderr, "bench: stopping the %u extra replica(s)\n",
                pl_bench_replicas_count(replicas));
    pl_bench_replicas_destroy(replicas);
    if (b.consumer) {
        rd_kafka_consumer_close(b.consumer);
        rd_kafka_destroy(b.consumer);
    }
    if (b.producer) {
        rd_kafka_flush(b.producer, 5000);
        rd_kafka_destroy(b.producer);
    }
    free(b.sent_at);
    free(b.latency);
    free(b.got);
    explicit_bzero(b.svc_card, sizeof b.svc_card);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    /* The JSON line last, after everything the stopping said on stderr. */
    if (j) {
        fflush(stderr);
        printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        fflush(stdout);
        json_object_put(j);
    }
    return status;
}
