/* bench.c: paylinkctl bench (see bench.h). */
#include "bench.h"

#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "money.h"

typedef struct bench {
    rd_kafka_t *producer, *consumer;
    char t_request[160], t_reply[160];
    char run[32];
    bool svc;          /* --worker svc: stored value authorizations on RLT */
    char svc_card[24]; /* svc: the run's card number (made up, never printed) */
    unsigned long n;
    double *sent_at; /* per request index; 0 = not sent */
    double *latency; /* per reply, ms */
    unsigned char *got;
    unsigned long replies, approved, produced_fail;
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

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static int set_sim_latency(int ms)
{
    const char *url = getenv("PAYLINK_SIM_URL"), *ca = getenv("PAYLINK_SIM_CA");
    if (!url || !*url) {
        fprintf(stderr, "bench: --sim-latency-ms needs PAYLINK_SIM_URL\n");
        return -1;
    }
    char full[512];
    snprintf(full, sizeof full, "%s/__sim/config?latency_ms=%d", url, ms);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        fprintf(stderr, "bench: setting the simulator latency failed (%s, HTTP %ld)\n",
                curl_easy_strerror(rc), status);
        return -1;
    }
    return 0;
}

static long peak_rss_kb(const char *pid_file)
{
    FILE *f = fopen(pid_file, "r");
    if (!f)
        return -1;
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = -1;
    fclose(f);
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* Assigns every partition of the reply topic at its current end, before anything is sent. */
static int assign_end(bench *b)
{
    const rd_kafka_metadata_t *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(b->consumer, b->t_reply, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(b->consumer, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "bench: no metadata for %s\n", b->t_reply);
        if (!err)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        int32_t p = md->topics[0].partitions[i].id;
        if (rd_kafka_query_watermark_offsets(b->consumer, b->t_reply, p, &lo, &hi, 10000))
            hi = RD_KAFKA_OFFSET_END;
        rd_kafka_topic_partition_list_add(l, b->t_reply, p)->offset = hi;
    }
    rd_kafka_metadata_destroy(md);
    err = rd_kafka_assign(b->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    return err ? -1 : 0;
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    bench *b = opaque;
    if (m->err)
        b->produced_fail++;
}

/* A credit card authorization on CYB (--worker auth). */
static json_object *auth_request(const char *rid, const char *order, const char *amount)
{
    json_object *o = json_object_new_object(), *card = json_object_new_object();
    json_object_object_add(o, "v", json_object_new_int(1));
    json_object_object_add(o, "request_id", json_object_new_string(rid));
    json_object_object_add(o, "type", json_object_new_string("auth"));
    json_object_object_add(o, "company", json_object_new_int(1));
    json_object_object_add(o, "order", json_object_new_string(order));
    json_object_object_add(o, "pay_seq", json_object_new_int(1));
    json_object_object_add(o, "service", json_object_new_string("CYB"));
    json_object_object_add(o, "amount", json_object_new_string(amount));
    json_object_object_add(o, "currency", json_object_new_string("USD"));
    json_object_object_add(card, "number", json_object_new_string("4111111111111111"));
    json_object_object_add(card, "exp_month", json_object_new_int(12));
    json_object_object_add(card, "exp_year", json_object_new_int(2031));
    json_object_object_add(card, "type", json_object_new_string("VI"));
    json_object_object_add(o, "card", card);
    return o;
}

/*
 * A stored value request on RLT for the run's card (--worker svc): an `auth`, or the
 * `activate` of the physical card (svc.virtual false: ActivateInstrument) that gives it its
 * balance first.
 */
static json_object *svc_request(const bench *b, const char *type, const char *rid,
                                const char *order, const char *amount)
{
    json_object *o = json_object_new_object(), *svc = json_object_new_object();
    json_object_object_add(o, "v", json_object_new_int(1));
    json_object_object_add(o, "request_id", json_object_new_string(rid));
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "company", json_object_new_int(1));
    json_object_object_add(o, "order", json_object_new_string(order));
    json_object_object_add(o, "pay_seq", json_object_new_int(1));
    json_object_object_add(o, "service", json_object_new_string("RLT"));
    json_object_object_add(o, "amount", json_object_new_string(amount));
    json_object_object_add(o, "currency", json_object_new_string("USD"));
    json_object_object_add(svc, "card_number", json_object_new_string(b->svc_card));
    if (strcmp(type, "activate") == 0) {
        json_object_object_add(svc, "issue_amount", json_object_new_string(amount));
        json_object_object_add(svc, "virtual", json_object_new_boolean(0));
    }
    json_object_object_add(o, "svc", svc);
    return o;
}

/* Produces one request (retrying while the producer's queue is full). Returns 0 or -1. */
static int produce(bench *b, const char *key, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(b->producer, RD_KAFKA_V_TOPIC(b->t_request),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)s, strlen(s)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(b->producer, 10);
    }
    return err ? -1 : 0;
}

static int send_one(bench *b, unsigned long i, const char *amount)
{
    char rid[64], order[24], key[32];
    snprintf(rid, sizeof rid, "bench-%s-%lu", b->run, i);
    snprintf(order, sizeof order, "B%s%lu", b->run + strlen(b->run) - 4, i);
    snprintf(key, sizeof key, "1-%s", order);
    json_object *o =
        b->svc ? svc_request(b, "auth", rid, order, amount) : auth_request(rid, order, amount);
    b->sent_at[i] = now_s();
    int rc = produce(b, key, o);
    json_object_put(o);
    return rc;
}

/* Reads available replies; returns how many new ones matched this run. */
static unsigned long read_replies(bench *b, int timeout_ms)
{
    unsigned long got = 0;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(b->consumer, timeout_ms);
    while (m) {
        if (!m->err && m->payload) {
            char *copy = strndup(m->payload, m->len);
            json_object *o = copy ? json_tokener_parse(copy) : NULL;
            free(copy);
            json_object *rid, *st;
            char prefix[48];
            snprintf(prefix, sizeof prefix, "bench-%s-", b->run);
            if (o && json_object_object_get_ex(o, "request_id", &rid)) {
                const char *s = json_object_get_string(rid);
                if (s && strncmp(s, prefix, strlen(prefix)) == 0) {
                    unsigned long i = strtoul(s + strlen(prefix), NULL, 10);
                    if (i < b->n && !b->got[i] && b->sent_at[i] > 0) {
                        b->got[i] = 1;
                        b->latency[b->replies++] = (now_s() - b->sent_at[i]) * 1000.0;
                        got++;
                        if (json_object_object_get_ex(o, "status", &st) &&
                            strcmp(json_object_get_string(st), "approved") == 0)
                            b->approved++;
                    }
                }
            }
            json_object_put(o);
        }
        rd_kafka_message_destroy(m);
        m = rd_kafka_consumer_poll(b->consumer, 0);
    }
    return got;
}

/* Sends n requests keeping at most k outstanding (0: all at once) until all replies came or
 * the timeout passed. Returns the replies received, or -1 when producing failed. */
static long run_phase(bench *b, unsigned long n, long k, const char *amount, long timeout_s)
{
    double deadline = now_s() + (double)timeout_s;
    unsigned long sent = 0;
    while (b->replies < n && now_s() < deadline) {
        while (sent < n && (k == 0 || (long)(sent - b->replies) < k)) {
            if (send_one(b, sent, amount) != 0) {
                fprintf(stderr, "bench: produce failed\n");
                return -1;
            }
            sent++;
            if (k == 0 && sent % 1000 == 0)
                break; /* interleave reading replies with a large burst */
        }
        rd_kafka_poll(b->producer, 0);
        read_replies(b, sent < n && (k == 0 || (long)(sent - b->replies) < k) ? 0 : 5);
    }
    return (long)b->replies;
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
         * The workers' fetch wait when the environment sets one: the mock broker does not end
         * an empty fetch early (common/kafka.c), so its .dev/env asks for 10 ms. On Apache
         * Kafka librdkafka's default stands: a waiting fetch returns as soon as data arrives.
         */
        const char *wait = getenv("PAYLINK_KAFKA_FETCH_WAIT_MS");
        char *end = NULL;
        long ms = wait ? strtol(wait, &end, 10) : 0;
        if (wait && end != wait && *end == '\0' && ms >= 1 && ms <= 60000)
            rd_kafka_conf_set(conf, "fetch.wait.max.ms", wait, err, sizeof err);
    }
    rd_kafka_conf_set_opaque(conf, b);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench: %s\n", err);
        return NULL;
    }
    return rk;
}

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
    "usage: paylinkctl bench --worker auth|svc --requests N [--sim-latency-ms L] "                 \
    "[--max-in-flight K] [--amount A] [--pid-file F] [--timeout S]"

int pl_bench_parse(int argc, char **argv, pl_bench_opts *o, char *errstr, size_t errstr_size)
{
    *o = (pl_bench_opts){.worker = "auth",
                         .requests = 1000,
                         .sim_latency_ms = -1,
                         .amount = "10.00",
                         .timeout_s = 300};
    static const struct option opts[] = {
        {"worker", required_argument, NULL, 'w'},
        {"requests", required_argument, NULL, 'n'},
        {"sim-latency-ms", required_argument, NULL, 'l'},
        {"max-in-flight", required_argument, NULL, 'k'},
        {"amount", required_argument, NULL, 'a'},
        {"pid-file", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    optind = 0; /* glibc: a full restart, so the parser can run more than once */
    opterr = 0; /* the reason goes into errstr */
    int c;
    unsigned long v = 0;
    int64_t minor = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (strcmp(optarg, "auth") != 0 && strcmp(optarg, "svc") != 0)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--worker: only auth and svc can be benchmarked");
            o->worker = optarg;
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
        default:
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s", USAGE);
        }
    }
    if (optind < argc)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "unexpected argument #%d; %s",
                          optind, USAGE);
    return PL_OK;
}

unsigned long pl_bench_warmup(unsigned long n)
{
    return n < 200 ? n : 200;
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

/*
 * Waits for the reply to the setup request rid; returns 0 when it is approved. Other messages
 * are dropped: nothing else of this run is in flight yet.
 */
static int wait_setup(bench *b, const char *rid, long timeout_s)
{
    double deadline = now_s() + (double)timeout_s;
    while (now_s() < deadline) {
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
 * --worker svc: a card of the run's own with enough on it for every authorization, activated
 * through paylink-svc like any physical card (ActivateInstrument). The number is made up from
 * the time and the pid (17 digits; the simulator takes any), so runs never share a card.
 */
static int svc_setup(bench *b, unsigned long n, const char *amount, long timeout_s)
{
    char balance[24], rid[64], order[24], key[32];
    if (pl_bench_svc_balance(n + pl_bench_warmup(n), amount, balance, sizeof balance) != PL_OK) {
        fprintf(stderr, "bench: %lu authorizations of %s are more than one card can hold\n", n,
                amount);
        return -1;
    }
    snprintf(b->svc_card, sizeof b->svc_card, "79%010lu%05lu",
             (unsigned long)time(NULL) % 10000000000UL, (unsigned long)getpid() % 100000UL);
    snprintf(rid, sizeof rid, "benchcard-%s", b->run);
    snprintf(order, sizeof order, "BC%s", b->run + strlen(b->run) - 4);
    snprintf(key, sizeof key, "1-%s", order);
    json_object *o = svc_request(b, "activate", rid, order, balance);
    int rc = produce(b, key, o);
    json_object_put(o);
    if (rc != 0) {
        fprintf(stderr, "bench: produce failed\n");
        return -1;
    }
    fprintf(stderr, "bench: activating a card for %s through paylink-svc\n", balance);
    return wait_setup(b, rid, timeout_s);
}

int pl_bench_main(int argc, char **argv, const char *brokers, const char *prefix)
{
    pl_bench_opts opt;
    char errstr[256];
    if (pl_bench_parse(argc, argv, &opt, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "bench: %s\n", errstr);
        return 2;
    }
    const char *worker = opt.worker, *amount = opt.amount, *pid_file = opt.pid_file;
    unsigned long n = opt.requests;
    long k = opt.max_in_flight, timeout_s = opt.timeout_s;
    int sim_latency = opt.sim_latency_ms;
    char pidbuf[600];
    if (!pid_file) {
        const char *run = getenv("PAYLINK_RUN_DIR"), *logs = getenv("PAYLINK_LOG_DIR");
        if (run && *run)
            snprintf(pidbuf, sizeof pidbuf, "%s/paylink-%s.pid", run, worker);
        else if (logs && *logs)
            snprintf(pidbuf, sizeof pidbuf, "%s/../run/paylink-%s.pid", logs, worker);
        else
            snprintf(pidbuf, sizeof pidbuf, ".dev/run/paylink-%s.pid", worker);
        pid_file = pidbuf;
    }
    if (sim_latency >= 0 && set_sim_latency(sim_latency) != 0)
        return 1;

    bench b = {.n = n, .svc = strcmp(worker, "svc") == 0};
    snprintf(b.run, sizeof b.run, "%lx%04lx", (unsigned long)time(NULL),
             (unsigned long)getpid() & 0xffff);
    snprintf(b.t_request, sizeof b.t_request, "%s.%s.request", prefix, worker);
    snprintf(b.t_reply, sizeof b.t_reply, "%s.%s.reply", prefix, worker);
    b.sent_at = calloc(n, sizeof *b.sent_at);
    b.latency = calloc(n, sizeof *b.latency);
    b.got = calloc(n, 1);
    int status = 1;
    if (!b.sent_at || !b.latency || !b.got)
        goto out;
    if (!(b.producer = client(RD_KAFKA_PRODUCER, brokers, &b)) ||
        !(b.consumer = client(RD_KAFKA_CONSUMER, brokers, &b)) || assign_end(&b) != 0)
        goto out;
    if (b.svc && svc_setup(&b, n, amount, timeout_s) != 0)
        goto out;

    /* Warm-up, not measured: the reply consumer's first fetches, the worker's connections to
     * the bureau (TLS handshakes) and the database caches all start cold. */
    unsigned long warm = pl_bench_warmup(n);
    char run[sizeof b.run];
    memcpy(run, b.run, sizeof run);
    size_t rl = strlen(run);
    if (rl + 1 < sizeof b.run) { /* the run id is 16 characters: room to spare */
        b.run[rl] = 'w';
        b.run[rl + 1] = '\0';
    }
    b.n = warm;
    if (run_phase(&b, warm, k ? k : 50, amount, timeout_s) < 0)
        goto out;
    memset(b.sent_at, 0, n * sizeof *b.sent_at);
    memset(b.got, 0, n);
    b.replies = b.approved = 0;
    snprintf(b.run, sizeof b.run, "%s", run);
    b.n = n;

    fprintf(stderr, "bench: %lu %s requests, %s, amount %s\n", n,
            b.svc ? "stored value auth" : "auth", k ? "closed loop" : "open loop", amount);
    double t0 = now_s();
    if (run_phase(&b, n, k, amount, timeout_s) < 0)
        goto out;
    double seconds = now_s() - t0;
    qsort(b.latency, b.replies, sizeof *b.latency, cmp_double);
    double p50 = pl_bench_percentile(b.latency, b.replies, 50);
    double p99 = pl_bench_percentile(b.latency, b.replies, 99);
    double p90 = pl_bench_percentile(b.latency, b.replies, 90);
    double p999 = pl_bench_percentile(b.latency, b.replies, 99.9);
    double maxl = b.replies ? b.latency[b.replies - 1] : 0;
    long rss = peak_rss_kb(pid_file);
    fprintf(stderr,
            "bench: %lu/%lu replies (%lu approved) in %.2f s; p90 %.1f ms, p99.9 %.1f ms, max %.1f "
            "ms\n",
            b.replies, n, b.approved, seconds, p90, p999, maxl);
    printf("{\"replies\":%lu,\"seconds\":%.3f,\"throughput\":%.1f,\"p50_ms\":%.1f,"
           "\"p99_ms\":%.1f,\"max_rss_kb\":%ld,\"requests\":%lu,\"approved\":%lu,"
           "\"max_in_flight\":%ld,\"sim_latency_ms\":%d}\n",
           b.replies, seconds, seconds > 0 ? (double)b.replies / seconds : 0.0, p50, p99, rss, n,
           b.approved, k, sim_latency);
    status = b.replies == n ? 0 : 1;
out:
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
    return status;
}
