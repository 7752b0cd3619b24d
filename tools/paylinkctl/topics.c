/*
 * topics.c: the paylink topics and `paylinkctl topics` (see topics.h).
 *
 * The table of topics and retentions below is also in deploy/kafka/create-topics.sh, which
 * operators run with Kafka's own tools against production: keep the two equal (its test,
 * tests/deploy/test_kafka_topics.sh, and this module's, test_paylinkctl_topics.c, check the
 * same numbers). This command exists because the script starts a JVM per call, two per topic;
 * here one client sends one CreateTopics request for every topic, and at most one AlterConfigs
 * and one CreatePartitions request follow for the topics that existed already.
 */
#include "topics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "ctlkafka.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

/* How often the wait asks for metadata, and how long one metadata request may take. */
#define POLL_MS 200
#define METADATA_SLICE_MS 2000
/*
 * An admin request's result comes by its own timeout, which ends at the run's deadline; the
 * grace only keeps a result that never comes from hanging the command.
 */
#define RESULT_GRACE_MS 5000

/* The workers that own a request, a reply and a dead-letter topic. */
static const char *const workers[] = {"auth", "deposit", "reversal", "svc"};

/*
 * Retention by what a topic holds (PCI DSS 3.2.1: keep card data no longer than needed).
 * Requests carry full card numbers and CVVs: 24 h covers a long outage of the workers, and
 * segments of 1 h let Kafka delete them on time (it deletes whole segments, so with the default
 * of 7 days a quiet topic would keep requests that long whatever retention.ms says). Replies
 * carry masked cards only, kept 7 days for upstream systems that were down over a weekend; the
 * dead letters are redacted copies kept 30 days for investigations.
 */
static const struct worker_topic {
    const char *suffix;
    int64_t retention_ms, segment_ms;
} worker_topics[] = {
    {"request", DAY_MS, HOUR_MS},
    {"reply", 7 * DAY_MS, DAY_MS},
    {"request.dlq", 30 * DAY_MS, DAY_MS},
};

/* The decisions of dmupdate are kept like replies; so are the --extra topics. */
#define REPLY_RETENTION_MS (7 * DAY_MS)
#define REPLY_SEGMENT_MS DAY_MS

/* The settings every topic is created with, and set to again when it exists. */
enum { CFG_CLEANUP, CFG_RETENTION, CFG_SEGMENT, CFG_MIN_ISR, CFG_COUNT };
static const char *const config_names[CFG_COUNT] = {"cleanup.policy", "retention.ms", "segment.ms",
                                                    "min.insync.replicas"};

/* ---- names, table and options ------------------------------------------------------------ */

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int pl_topics_name_ok(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > PL_TOPICS_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!name_char_ok(name[i]))
            return 0;
    }
    return 1;
}

static int set_spec(pl_topic_spec *s, const char *prefix, const char *worker, const char *suffix,
                    int64_t retention_ms, int64_t segment_ms, char *errstr, size_t errstr_size)
{
    int len = snprintf(s->name, sizeof s->name, "%s.%s.%s", prefix, worker, suffix);
    if (len < 0 || (size_t)len >= sizeof s->name)
        return pl_err_set(PL_ERR_TOOBIG, errstr, errstr_size,
                          "topic prefix too long: topic names have at most %d characters",
                          PL_TOPICS_NAME_MAX);
    s->retention_ms = retention_ms;
    s->segment_ms = segment_ms;
    return PL_OK;
}

int pl_topics_table(const char *prefix, pl_topic_spec out[PL_TOPICS_TABLE_SIZE], char *errstr,
                    size_t errstr_size)
{
    if (!prefix || !*prefix)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "empty topic prefix");
    for (const char *p = prefix; *p; p++) {
        if (!name_char_ok(*p))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "topic prefix: only letters, digits, '.', '_' and '-' are allowed");
    }
    size_t i = 0;
    for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
        for (size_t k = 0; k < sizeof worker_topics / sizeof worker_topics[0]; k++) {
            const struct worker_topic *wt = &worker_topics[k];
            int rc = set_spec(&out[i++], prefix, workers[w], wt->suffix, wt->retention_ms,
                              wt->segment_ms, errstr, errstr_size);
            if (rc != PL_OK)
                return rc;
        }
    }
    return set_spec(&out[i], prefix, "dm", "decision", REPLY_RETENTION_MS, REPLY_SEGMENT_MS, errstr,
                    errstr_size);
}

void pl_topics_opts_init(pl_topics_opts *o)
{
    *o = (pl_topics_opts){
        .partitions = PL_TOPICS_DEFAULT_PARTITIONS,
        .replication = PL_TOPICS_DEFAULT_REPLICATION,
        .min_isr = PL_TOPICS_DEFAULT_MIN_ISR,
        .timeout_s = PL_TOPICS_DEFAULT_TIMEOUT_S,
    };
}

void pl_topics_opts_free(pl_topics_opts *o)
{
    for (size_t i = 0; i < o->extra_n; i++)
        free(o->extra[i]);
    free(o->extra);
    o->extra = NULL;
    o->extra_n = 0;
}

/* A whole number from min to max, digits only (no sign, no blanks). */
static bool parse_int(const char *s, int min, int max, int *out)
{
    char *end = NULL;
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static bool has_extra(const pl_topics_opts *o, const char *name)
{
    for (size_t i = 0; i < o->extra_n; i++) {
        if (strcmp(o->extra[i], name) == 0)
            return true;
    }
    return false;
}

/*
 * Goes through the comma-separated names of value: checks them all when add is false, adds the
 * new ones when it is true (so a bad item leaves o as it was). *count is the number of names.
 * Items are named by position, not echoed: a mistyped argument may be anything.
 */
static int scan_extras(pl_topics_opts *o, const char *value, bool add, size_t *count, char *errstr,
                       size_t errstr_size)
{
    *count = 0;
    size_t item = 0;
    for (const char *p = value;; p++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *b = p, *e = end;
        item++;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b) {
            char name[PL_TOPICS_NAME_MAX + 1];
            size_t n = (size_t)(e - b);
            if (n > PL_TOPICS_NAME_MAX)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--extra: item %zu is longer than %d characters", item,
                                  PL_TOPICS_NAME_MAX);
            memcpy(name, b, n);
            name[n] = '\0';
            if (!pl_topics_name_ok(name))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--extra: item %zu is not a topic name (letters, digits, '.', "
                                  "'_', '-')",
                                  item);
            (*count)++;
            if (add && !has_extra(o, name)) {
                if (o->extra_n >= PL_TOPICS_MAX_EXTRA)
                    return pl_err_set(PL_ERR_TOOBIG, errstr, errstr_size,
                                      "--extra: at most %d extra topics", PL_TOPICS_MAX_EXTRA);
                char **grown = realloc(o->extra, (o->extra_n + 1) * sizeof *grown);
                if (!grown)
                    return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
                o->extra = grown;
                if (!(o->extra[o->extra_n] = strdup(name)))
                    return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
                o->extra_n++;
            }
        }
        if (*end == '\0')
            break;
        p = end;
    }
    return PL_OK;
}

int pl_topics_opts_set(pl_topics_opts *o, const char *flag, const char *value, char *errstr,
                       size_t errstr_size)
{
    static const struct {
        const char *flag;
        int min, max;
        size_t offset;
    } numbers[] = {
        {"--partitions", 1, PL_TOPICS_MAX_PARTITIONS, offsetof(pl_topics_opts, partitions)},
        {"--replication", 1, PL_TOPICS_MAX_REPLICATION, offsetof(pl_topics_opts, replication)},
        {"--min-isr", 1, PL_TOPICS_MAX_REPLICATION, offsetof(pl_topics_opts, min_isr)},
        {"--timeout", 1, PL_TOPICS_MAX_TIMEOUT_S, offsetof(pl_topics_opts, timeout_s)},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        if (strcmp(flag, numbers[i].flag) != 0)
            continue;
        int *field = (int *)((char *)o + numbers[i].offset);
        if (!parse_int(value, numbers[i].min, numbers[i].max, field))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: expected a whole number from %d to %d", flag, numbers[i].min,
                              numbers[i].max);
        return PL_OK;
    }
    if (strcmp(flag, "--extra") != 0)
        return PL_ERR_NOTFOUND;
    if (!value)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "--extra needs topic names");
    size_t count = 0;
    int rc = scan_extras(o, value, false, &count, errstr, errstr_size);
    if (rc == PL_OK && count == 0)
        rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "--extra needs topic names");
    if (rc == PL_OK)
        rc = scan_extras(o, value, true, &count, errstr, errstr_size);
    return rc;
}

int pl_topics_opts_check(const pl_topics_opts *o, char *errstr, size_t errstr_size)
{
    /* With more in-sync replicas required than exist, every acks=all write would fail. */
    if (o->min_isr > o->replication)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--min-isr %d is more than --replication %d", o->min_isr, o->replication);
    return PL_OK;
}

int pl_topics_list(const char *prefix, const pl_topics_opts *o, pl_topic_spec **out, size_t *n,
                   char *errstr, size_t errstr_size)
{
    pl_topic_spec *v = calloc(PL_TOPICS_TABLE_SIZE + o->extra_n, sizeof *v);
    if (!v)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    int rc = pl_topics_table(prefix, v, errstr, errstr_size);
    if (rc != PL_OK) {
        free(v);
        return rc;
    }
    size_t cnt = PL_TOPICS_TABLE_SIZE;
    for (size_t i = 0; i < o->extra_n; i++) {
        bool known = false;
        for (size_t k = 0; k < PL_TOPICS_TABLE_SIZE && !known; k++)
            known = strcmp(v[k].name, o->extra[i]) == 0;
        if (known)
            continue;
        /* pl_topics_opts_set checked the length. */
        snprintf(v[cnt].name, sizeof v[cnt].name, "%s", o->extra[i]);
        v[cnt].retention_ms = REPLY_RETENTION_MS;
        v[cnt].segment_ms = REPLY_SEGMENT_MS;
        cnt++;
    }
    *out = v;
    *n = cnt;
    return PL_OK;
}

/* ---- the run ----------------------------------------------------------------------------- */

/* What became of one topic during a run. */
typedef struct topic_run {
    const pl_topic_spec *spec;
    bool existed;            /* CreateTopics said TOPIC_ALREADY_EXISTS */
    bool grow;               /* it has fewer partitions than asked: CreatePartitions */
    bool answered;           /* the current request's result named it */
    int partitions;          /* what it has once the run is through */
    rd_kafka_resp_err_t err; /* the first failure; 0 while none */
} topic_run;

typedef struct run {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* admin results */
    const pl_topics_opts *o;
    topic_run *t;
    size_t n;
    int64_t deadline_ms;
    const volatile sig_atomic_t *stop;
    bool interrupted;
    FILE *err;
} run;

/* The requests of a run, in order; what each does, as the error lines say it. */
typedef enum step { STEP_CREATE, STEP_INSPECT, STEP_ALTER, STEP_GROW } step;
static const char *const step_what[] = {"creating", "reading its partition count",
                                        "applying its settings", "adding partitions"};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds until deadline, at least 0 and at most cap. */
static int left_ms(int64_t deadline, int cap)
{
    int64_t left = deadline - now_ms();
    if (left <= 0)
        return 0;
    return left < cap ? (int)left : cap;
}

/* A signal ends the sleep early, on purpose: the caller looks at the stop flag next. */
static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool stopped(run *r)
{
    if (r->stop && *r->stop)
        r->interrupted = true;
    return r->interrupted;
}

static bool is_timeout(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
}

static bool in_step(const topic_run *t, step s)
{
    if (t->err)
        return false;
    switch (s) {
    case STEP_CREATE:
        return true;
    case STEP_INSPECT:
    case STEP_ALTER:
        return t->existed;
    case STEP_GROW:
        return t->grow;
    }
    return false;
}

/* Records the first failure of a topic and says it on err. */
static void fail_topic(run *r, topic_run *t, step s, rd_kafka_resp_err_t err, const char *text)
{
    if (t->err)
        return;
    t->err = err ? err : RD_KAFKA_RESP_ERR__FAIL;
    fprintf(r->err, "paylinkctl: %s: %s: %s\n", t->spec->name, step_what[s],
            text && *text ? text : rd_kafka_err2str(t->err));
}

/* A failure of a whole request is the failure of every topic in it. */
static void fail_step(run *r, step s, rd_kafka_resp_err_t err, const char *text)
{
    for (size_t i = 0; i < r->n; i++) {
        if (in_step(&r->t[i], s))
            fail_topic(r, &r->t[i], s, err, text);
    }
}

static topic_run *find_topic(run *r, const char *name)
{
    for (size_t i = 0; name && i < r->n; i++) {
        if (strcmp(r->t[i].spec->name, name) == 0)
            return &r->t[i];
    }
    return NULL;
}

/* Records a per-topic result of the request of step s. */
static void take_result(run *r, step s, const char *name, rd_kafka_resp_err_t err, const char *text)
{
    topic_run *t = find_topic(r, name);
    if (!t || !in_step(t, s))
        return;
    t->answered = true;
    if (s == STEP_CREATE && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        t->existed = true;
    else if (err)
        fail_topic(r, t, s, err, text);
}

/* Fails the topics of step s whose result did not name them. */
static void fail_unanswered(run *r, step s)
{
    for (size_t i = 0; i < r->n; i++) {
        if (in_step(&r->t[i], s) && !r->t[i].answered)
            fail_topic(r, &r->t[i], s, RD_KAFKA_RESP_ERR__FAIL, "no result for this topic");
    }
}

static void clear_answered(run *r)
{
    for (size_t i = 0; i < r->n; i++)
        r->t[i].answered = false;
}

/* The values of config_names for a topic. */
static void config_values(const pl_topic_spec *s, int min_isr, char values[CFG_COUNT][24])
{
    snprintf(values[CFG_CLEANUP], sizeof values[CFG_CLEANUP], "delete");
    snprintf(values[CFG_RETENTION], sizeof values[CFG_RETENTION], "%" PRId64, s->retention_ms);
    snprintf(values[CFG_SEGMENT], sizeof values[CFG_SEGMENT], "%" PRId64, s->segment_ms);
    snprintf(values[CFG_MIN_ISR], sizeof values[CFG_MIN_ISR], "%d", min_isr);
}

/*
 * Options for one admin request: its timeout is what is left of the run's. Kafka waits as long
 * (the operation timeout) for a new topic's partitions to be set up before it answers.
 */
static rd_kafka_AdminOptions_t *admin_options(run *r, rd_kafka_admin_op_t op, bool op_timeout)
{
    char kerr[256];
    int ms = left_ms(r->deadline_ms, PL_TOPICS_MAX_TIMEOUT_S * 1000);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(r->rk, op);
    if (!ao)
        return NULL;
    if (rd_kafka_AdminOptions_set_request_timeout(ao, ms, kerr, sizeof kerr) ||
        (op_timeout && rd_kafka_AdminOptions_set_operation_timeout(ao, ms, kerr, sizeof kerr))) {
        rd_kafka_AdminOptions_destroy(ao);
        return NULL;
    }
    return ao;
}

/*
 * Waits for the result of the request just sent on r->queue. Returns the event (the caller
 * destroys it), or NULL when interrupted or when no result came (then the step has failed).
 */
static rd_kafka_event_t *await_result(run *r, step s, rd_kafka_event_type_t type)
{
    int64_t guard = r->deadline_ms + RESULT_GRACE_MS;
    while (!stopped(r)) {
        int ms = left_ms(guard, POLL_MS);
        if (ms == 0)
            break;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(r->queue, ms);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) != type) {
            /* Nothing else is sent to this queue; a stray event is no answer. */
            rd_kafka_event_destroy(ev);
            continue;
        }
        if (rd_kafka_event_error(ev)) {
            fail_step(r, s, rd_kafka_event_error(ev), rd_kafka_event_error_string(ev));
            rd_kafka_event_destroy(ev);
            return NULL;
        }
        return ev;
    }
    if (!r->interrupted)
        fail_step(r, s, RD_KAFKA_RESP_ERR__TIMED_OUT, "no result from the cluster in time");
    return NULL;
}

/* Sends the prepared request of step s, unless the run is out of time or interrupted. */
static bool can_send(run *r, step s)
{
    if (stopped(r))
        return false;
    if (left_ms(r->deadline_ms, 1) == 0) {
        fail_step(r, s, RD_KAFKA_RESP_ERR__TIMED_OUT,
                  rd_kafka_err2str(RD_KAFKA_RESP_ERR__TIMED_OUT));
        return false;
    }
    clear_answered(r);
    return true;
}

static void create_topics(run *r)
{
    char kerr[512], values[CFG_COUNT][24];
    size_t cnt = 0;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_NewTopic_t **nt = calloc(r->n, sizeof *nt);
    if (!nt) {
        fail_step(r, STEP_CREATE, RD_KAFKA_RESP_ERR__FAIL, "out of memory");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        topic_run *t = &r->t[i];
        rd_kafka_NewTopic_t *topic = rd_kafka_NewTopic_new(t->spec->name, r->o->partitions,
                                                           r->o->replication, kerr, sizeof kerr);
        if (!topic) {
            fail_topic(r, t, STEP_CREATE, RD_KAFKA_RESP_ERR__INVALID_ARG, kerr);
            continue;
        }
        config_values(t->spec, r->o->min_isr, values);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int c = 0; c < CFG_COUNT && !err; c++)
            err = rd_kafka_NewTopic_set_config(topic, config_names[c], values[c]);
        if (err) {
            rd_kafka_NewTopic_destroy(topic);
            fail_topic(r, t, STEP_CREATE, err, NULL);
            continue;
        }
        nt[cnt++] = topic;
    }
    if (cnt == 0 || !can_send(r, STEP_CREATE))
        goto out;
    if (!(ao = admin_options(r, RD_KAFKA_ADMIN_OP_CREATETOPICS, true))) {
        fail_step(r, STEP_CREATE, RD_KAFKA_RESP_ERR__INVALID_ARG, "admin options refused");
        goto out;
    }
    rd_kafka_CreateTopics(r->rk, nt, cnt, ao, r->queue);
    if (!(ev = await_result(r, STEP_CREATE, RD_KAFKA_EVENT_CREATETOPICS_RESULT)))
        goto out;
    size_t rn = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &rn);
    for (size_t i = 0; i < rn; i++)
        take_result(r, STEP_CREATE, rd_kafka_topic_result_name(res[i]),
                    rd_kafka_topic_result_error(res[i]),
                    rd_kafka_topic_result_error_string(res[i]));
    fail_unanswered(r, STEP_CREATE);
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy_array(nt, cnt);
    free(nt);
}

/*
 * Fresh metadata of the whole cluster, asked again until it comes, the deadline passes or the
 * run is interrupted. Returns 0 with *md set (rd_kafka_metadata_destroy), else
 * RD_KAFKA_RESP_ERR__TIMED_OUT (also when interrupted: the caller looks at its flag).
 */
static rd_kafka_resp_err_t cluster_metadata(rd_kafka_t *rk, int64_t deadline,
                                            const volatile sig_atomic_t *stop,
                                            const rd_kafka_metadata_t **md)
{
    for (;;) {
        int ms = left_ms(deadline, METADATA_SLICE_MS);
        if (ms == 0 || (stop && *stop))
            return RD_KAFKA_RESP_ERR__TIMED_OUT;
        /* All topics: a request naming ours could make a broker auto-create them. */
        if (rd_kafka_metadata(rk, 1, NULL, md, ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
            return RD_KAFKA_RESP_ERR_NO_ERROR;
        /* Brokers not up yet, a connection refused: transient while time is left. */
        sleep_ms(left_ms(deadline, POLL_MS));
    }
}

static const rd_kafka_metadata_topic_t *md_topic(const rd_kafka_metadata_t *md, const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, name) == 0)
            return &md->topics[i];
    }
    return NULL;
}

/* The partition counts of the topics that existed: which to grow, which have more. */
static void inspect_existing(run *r)
{
    bool any = false;
    for (size_t i = 0; i < r->n; i++)
        any = any || in_step(&r->t[i], STEP_INSPECT);
    if (!any || stopped(r))
        return;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err = cluster_metadata(r->rk, r->deadline_ms, r->stop, &md);
    if (stopped(r)) {
        if (!err)
            rd_kafka_metadata_destroy(md);
        return;
    }
    if (err) {
        fail_step(r, STEP_INSPECT, err, NULL);
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        topic_run *t = &r->t[i];
        if (!in_step(t, STEP_INSPECT))
            continue;
        const rd_kafka_metadata_topic_t *mt = md_topic(md, t->spec->name);
        /* Not shown yet (a topic someone else is creating right now): the wait will tell. */
        if (!mt || mt->err)
            continue;
        if (mt->partition_cnt < r->o->partitions) {
            t->grow = true;
        } else if (mt->partition_cnt > r->o->partitions) {
            t->partitions = mt->partition_cnt;
            fprintf(r->err,
                    "paylinkctl: warning: %s has %d partitions, more than %d; left as it is "
                    "(Kafka cannot remove partitions)\n",
                    t->spec->name, mt->partition_cnt, r->o->partitions);
        }
    }
    rd_kafka_metadata_destroy(md);
}

/*
 * The settings of the topics that existed. AlterConfigs (not the incremental kind) replaces a
 * topic's whole set of overrides with the one sent: a setting someone added by hand goes back
 * to the broker's default, and the topic ends up as the table says.
 */
static void alter_configs(run *r)
{
    char values[CFG_COUNT][24];
    size_t cnt = 0;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_ConfigResource_t **res = calloc(r->n, sizeof *res);
    if (!res) {
        fail_step(r, STEP_ALTER, RD_KAFKA_RESP_ERR__FAIL, "out of memory");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        topic_run *t = &r->t[i];
        if (!in_step(t, STEP_ALTER))
            continue;
        rd_kafka_ConfigResource_t *c =
            rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t->spec->name);
        if (!c) {
            fail_topic(r, t, STEP_ALTER, RD_KAFKA_RESP_ERR__INVALID_ARG, NULL);
            continue;
        }
        config_values(t->spec, r->o->min_isr, values);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int k = 0; k < CFG_COUNT && !err; k++)
            err = rd_kafka_ConfigResource_set_config(c, config_names[k], values[k]);
        if (err) {
            rd_kafka_ConfigResource_destroy(c);
            fail_topic(r, t, STEP_ALTER, err, NULL);
            continue;
        }
        res[cnt++] = c;
    }
    if (cnt == 0 || !can_send(r, STEP_ALTER))
        goto out;
    if (!(ao = admin_options(r, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, false))) {
        fail_step(r, STEP_ALTER, RD_KAFKA_RESP_ERR__INVALID_ARG, "admin options refused");
        goto out;
    }
    rd_kafka_AlterConfigs(r->rk, res, cnt, ao, r->queue);
    if (!(ev = await_result(r, STEP_ALTER, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT)))
        goto out;
    size_t rn = 0;
    const rd_kafka_ConfigResource_t **done =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &rn);
    for (size_t i = 0; i < rn; i++)
        take_result(r, STEP_ALTER, rd_kafka_ConfigResource_name(done[i]),
                    rd_kafka_ConfigResource_error(done[i]),
                    rd_kafka_ConfigResource_error_string(done[i]));
    fail_unanswered(r, STEP_ALTER);
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ConfigResource_destroy_array(res, cnt);
    free(res);
}

/* Raises the topics that have fewer partitions than asked to that many. */
static void grow_partitions(run *r)
{
    char kerr[512];
    size_t cnt = 0;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_NewPartitions_t **np = calloc(r->n, sizeof *np);
    if (!np) {
        fail_step(r, STEP_GROW, RD_KAFKA_RESP_ERR__FAIL, "out of memory");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        topic_run *t = &r->t[i];
        if (!in_step(t, STEP_GROW))
            continue;
        rd_kafka_NewPartitions_t *p =
            rd_kafka_NewPartitions_new(t->spec->name, (size_t)r->o->partitions, kerr, sizeof kerr);
        if (!p) {
            fail_topic(r, t, STEP_GROW, RD_KAFKA_RESP_ERR__INVALID_ARG, kerr);
            continue;
        }
        np[cnt++] = p;
    }
    if (cnt == 0 || !can_send(r, STEP_GROW))
        goto out;
    if (!(ao = admin_options(r, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, true))) {
        fail_step(r, STEP_GROW, RD_KAFKA_RESP_ERR__INVALID_ARG, "admin options refused");
        goto out;
    }
    rd_kafka_CreatePartitions(r->rk, np, cnt, ao, r->queue);
    if (!(ev = await_result(r, STEP_GROW, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT)))
        goto out;
    size_t rn = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &rn);
    for (size_t i = 0; i < rn; i++)
        take_result(r, STEP_GROW, rd_kafka_topic_result_name(res[i]),
                    rd_kafka_topic_result_error(res[i]),
                    rd_kafka_topic_result_error_string(res[i]));
    fail_unanswered(r, STEP_GROW);
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewPartitions_destroy_array(np, cnt);
    free(np);
}

/*
 * Whether md shows every topic with at least `partitions` partitions, each with a leader; if
 * not, why names the first one that is not there yet.
 */
static bool all_ready(const rd_kafka_metadata_t *md, const pl_topic_spec *topics, size_t n,
                      int partitions, char *why, size_t why_size)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = topics[i].name;
        const rd_kafka_metadata_topic_t *mt = md_topic(md, name);
        if (!mt) {
            snprintf(why, why_size, "%s is not in the cluster's metadata", name);
            return false;
        }
        if (mt->err) {
            snprintf(why, why_size, "%s: %s", name, rd_kafka_err2str(mt->err));
            return false;
        }
        if (mt->partition_cnt < partitions) {
            snprintf(why, why_size, "%s has %d of %d partitions", name, mt->partition_cnt,
                     partitions);
            return false;
        }
        int led = 0;
        for (int p = 0; p < mt->partition_cnt; p++)
            led += !mt->partitions[p].err && mt->partitions[p].leader >= 0;
        if (led < mt->partition_cnt) {
            snprintf(why, why_size, "%s: %d of %d partitions have a leader", name, led,
                     mt->partition_cnt);
            return false;
        }
    }
    return true;
}

static int wait_ready(rd_kafka_t *rk, const pl_topic_spec *topics, size_t n, int partitions,
                      int64_t deadline, const volatile sig_atomic_t *stop, FILE *err)
{
    char why[PL_TOPICS_NAME_MAX + 128];
    snprintf(why, sizeof why, "no metadata from the cluster");
    for (;;) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t kerr = cluster_metadata(rk, deadline, stop, &md);
        if (stop && *stop) {
            if (!kerr)
                rd_kafka_metadata_destroy(md);
            fputs("paylinkctl: topics: interrupted\n", err);
            return PL_TOPICS_FAILED;
        }
        if (!kerr) {
            bool ready = all_ready(md, topics, n, partitions, why, sizeof why);
            rd_kafka_metadata_destroy(md);
            if (ready)
                return PL_TOPICS_DONE;
        }
        int ms = left_ms(deadline, POLL_MS);
        if (ms == 0)
            break;
        sleep_ms(ms);
    }
    fprintf(err, "paylinkctl: topics not ready in time: %s\n", why);
    return PL_TOPICS_TIMEOUT;
}

/* The client the admin requests and metadata go through; NULL with errstr set. */
static rd_kafka_t *admin_client(const char *brokers, char *errstr, size_t errstr_size)
{
    char kerr[256];
    rd_kafka_conf_t *conf = pl_ctlkafka_conf(brokers, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (/*
         * Never let a broker create one of our topics on its own, with its default partitions
         * and retention (7 days of card numbers on a request topic).
         */
        pl_ctlkafka_conf_set(conf, "allow.auto.create.topics", "false", errstr, errstr_size) !=
        PL_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "kafka client: %s", kerr);
    }
    return rk;
}

/* The exit status the topics' outcomes call for, before the wait. */
static int outcome(const run *r)
{
    int status = PL_TOPICS_DONE;
    for (size_t i = 0; i < r->n; i++) {
        rd_kafka_resp_err_t err = r->t[i].err;
        if (err && !is_timeout(err))
            return PL_TOPICS_FAILED;
        if (err)
            status = PL_TOPICS_TIMEOUT;
    }
    return status;
}

int pl_topics_run(const char *brokers, const char *prefix, const pl_topics_opts *o, FILE *out,
                  FILE *err, const volatile sig_atomic_t *stop)
{
    char errstr[512];
    int status = PL_TOPICS_FAILED;
    pl_topic_spec *specs = NULL;
    run r = {.o = o, .stop = stop, .err = err};

    if (pl_topics_opts_check(o, errstr, sizeof errstr) != PL_OK ||
        pl_topics_list(prefix, o, &specs, &r.n, errstr, sizeof errstr) != PL_OK) {
        fprintf(err, "paylinkctl: topics: %s\n", errstr);
        return PL_TOPICS_FAILED;
    }
    r.t = calloc(r.n, sizeof *r.t);
    if (!r.t) {
        fputs("paylinkctl: topics: out of memory\n", err);
        goto out;
    }
    for (size_t i = 0; i < r.n; i++) {
        r.t[i].spec = &specs[i];
        r.t[i].partitions = o->partitions;
    }
    r.rk = admin_client(brokers, errstr, sizeof errstr);
    if (!r.rk) {
        fprintf(err, "paylinkctl: topics: %s\n", errstr);
        goto out;
    }
    r.queue = rd_kafka_queue_new(r.rk);
    r.deadline_ms = now_ms() + (int64_t)o->timeout_s * 1000;

    create_topics(&r);
    inspect_existing(&r);
    alter_configs(&r);
    grow_partitions(&r);
    if (stopped(&r)) {
        fputs("paylinkctl: topics: interrupted\n", err);
        goto out;
    }
    for (size_t i = 0; i < r.n; i++) {
        const topic_run *t = &r.t[i];
        if (!t->err)
            fprintf(out, "%s: %s, %d partitions, retention.ms=%" PRId64 "\n", t->spec->name,
                    t->existed ? "updated" : "created", t->partitions, t->spec->retention_ms);
    }
    fflush(out);
    status = outcome(&r);
    /* A failed topic fails the command already; waiting for the others would tell nothing. */
    if (status == PL_TOPICS_DONE)
        status = wait_ready(r.rk, specs, r.n, o->partitions, r.deadline_ms, stop, err);
out:
    if (r.queue)
        rd_kafka_queue_destroy(r.queue);
    if (r.rk)
        rd_kafka_destroy(r.rk);
    free(r.t);
    free(specs);
    return status;
}

int pl_topics_wait_ready(const char *brokers, const pl_topic_spec *topics, size_t n, int partitions,
                         int timeout_ms, FILE *err)
{
    char errstr[512];
    rd_kafka_t *rk = admin_client(brokers, errstr, sizeof errstr);
    if (!rk) {
        fprintf(err, "paylinkctl: topics: %s\n", errstr);
        return PL_TOPICS_FAILED;
    }
    int status = wait_ready(rk, topics, n, partitions, now_ms() + timeout_ms, NULL, err);
    rd_kafka_destroy(rk);
    return status;
}
