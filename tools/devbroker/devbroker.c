/*
 * devbroker.c: librdkafka's mock cluster, hosted for paylink's development and tests.
 *
 * The mock cluster needs an rd_kafka_t for its bookkeeping, so we create a producer that never
 * produces and hang the cluster off it. Every mock call in 2.0.2 either hands an op to the
 * cluster's own thread and waits for the reply (rd_kafka_op_req in rdkafka_mock.c) or takes the
 * cluster's lock (the error stacks), so the calls are thread-safe in that version; the header
 * calls the API experimental and promises nothing, though, so we serialise our calls with our
 * own mutex as well. It costs nothing at the rates a control endpoint sees.
 *
 * The nudger works around a lost wake-up in the 2.0.2 mock (still in upstream master): the
 * cluster thread serves its op queue and only then drains its wake-up pipe
 * (rd_kafka_mock_cluster_io_poll), so an op enqueued between the two has its wake-up byte
 * swallowed and waits for the thread's 1 s poll timeout. Back-to-back calls hit that window
 * often: starting with 13 topics took 3-5 s in about half of the runs. While one of our calls
 * is in flight for more than NUDGE_MS, a helper thread connects to a broker's listener and
 * hangs up; the listener's POLLIN wakes the cluster thread, which then serves the op. The
 * mock only notes such a connection at debug level. During a full outage nothing listens, so
 * a call then may still take up to a second.
 */
#include "devbroker.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "log.h"

/* How long a mock call may take before the nudger wakes the cluster thread, and how often. */
#define NUDGE_MS 20

struct pl_devbroker {
    rd_kafka_t *rk; /* the hosting client; it outlives the cluster */
    rd_kafka_mock_cluster_t *mc;
    int brokers;
    uint16_t ports[PL_DEVBROKER_MAX_BROKERS]; /* the brokers' listeners, for the nudger */
    pthread_mutex_t lock;                     /* serialises mock calls and guards topic_cnt */
    size_t topic_cnt;

    /* The nudger (see the file comment); its fields are guarded by nudge_lock. */
    pthread_t nudger;
    int nudger_running;
    pthread_mutex_t nudge_lock;
    pthread_cond_t nudge_cond;
    int nudge_armed; /* a mock call is in flight */
    int nudge_stop;
};

/* The workers of CONTRACT.md §1 that own a request, reply and dead-letter topic. */
static const char *const request_workers[] = {"auth", "deposit", "reversal", "svc"};

/* rdkafka's syslog levels mapped onto ours. */
static pl_log_level log_level_of(int syslog_level)
{
    if (syslog_level <= 3)
        return PL_LOG_ERROR;
    if (syslog_level == 4)
        return PL_LOG_WARN;
    if (syslog_level <= 6)
        return PL_LOG_INFO;
    return PL_LOG_DEBUG;
}

/*
 * Runs in the thread calling pl_devbroker_serve_logs (log.queue is on), never in librdkafka's
 * threads.
 */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    pl_log_level lvl = log_level_of(level);

    /* The hosting client is never given bootstrap.servers on purpose; its complaint about that
     * at start-up would only mislead whoever reads the log. */
    if (strstr(buf, "bootstrap.servers") != NULL && lvl > PL_LOG_DEBUG)
        lvl = PL_LOG_DEBUG;
    pl_log(lvl, NULL, "librdkafka %s: %s", fac, buf);
}

/* Connects to a broker's listener and hangs up at once: enough to wake the cluster thread. */
static void poke(uint16_t port)
{
    struct sockaddr_in sin;
    /* A blocking connect, bounded: on loopback it completes or is refused at once, but a
     * full accept backlog (the mock listens with 5) must not hang the nudger. */
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    /* Refused (the broker is down) or not, there is nothing more to do. */
    (void)connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
}

static void *nudge_main(void *arg)
{
    pl_devbroker *db = arg;
    unsigned next = 0;

    pthread_mutex_lock(&db->nudge_lock);
    while (!db->nudge_stop) {
        struct timespec deadline;
        int rc;

        if (!db->nudge_armed) {
            pthread_cond_wait(&db->nudge_cond, &db->nudge_lock);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += NUDGE_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        rc = pthread_cond_timedwait(&db->nudge_cond, &db->nudge_lock, &deadline);
        if (rc == ETIMEDOUT && db->nudge_armed && !db->nudge_stop) {
            /* Round robin, so one broker that is down does not stop the nudging. */
            uint16_t port = db->ports[next++ % (unsigned)db->brokers];

            pthread_mutex_unlock(&db->nudge_lock);
            poke(port);
            pthread_mutex_lock(&db->nudge_lock);
        }
    }
    pthread_mutex_unlock(&db->nudge_lock);
    return NULL;
}

static void nudge_arm(pl_devbroker *db, int armed)
{
    pthread_mutex_lock(&db->nudge_lock);
    db->nudge_armed = armed;
    pthread_cond_signal(&db->nudge_cond);
    pthread_mutex_unlock(&db->nudge_lock);
}

/* Brackets every mock call: one at a time, and watched by the nudger. */
static void call_begin(pl_devbroker *db)
{
    pthread_mutex_lock(&db->lock);
    nudge_arm(db, 1);
}

static void call_end(pl_devbroker *db)
{
    nudge_arm(db, 0);
    pthread_mutex_unlock(&db->lock);
}

/* Reads the listeners' ports out of "127.0.0.1:P1,127.0.0.1:P2,...", one per broker. */
static int parse_ports(pl_devbroker *db, const char *bootstraps, char *errstr, size_t errstr_size)
{
    const char *p = bootstraps;
    int n = 0;

    while (p != NULL && *p != '\0' && n < db->brokers) {
        const char *colon = strchr(p, ':');
        char *end = NULL;
        long port;

        if (colon == NULL)
            break;
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || port < 1 || port > 65535 ||
            (*end != ',' && *end != '\0'))
            break;
        db->ports[n++] = (uint16_t)port;
        p = *end == ',' ? end + 1 : end;
    }
    if (n != db->brokers)
        return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size,
                          "unexpected mock bootstrap servers \"%s\"", bootstraps);
    return 0;
}

int pl_devbroker_topic_name_ok(const char *name)
{
    size_t n;

    if (name == NULL)
        return 0;
    n = strlen(name);
    if (n == 0 || n > PL_DEVBROKER_TOPIC_MAX)
        return 0;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return 0;
    }
    return 1;
}

int pl_devbroker_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return PL_ERR_INVALID;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return PL_ERR_INVALID;
    *out = v;
    return 0;
}

/* Maps a mock call's result for a broker command onto pl_err. */
static int broker_err(rd_kafka_resp_err_t err, const char *what, int32_t broker_id, char *errstr,
                      size_t errstr_size)
{
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (err == RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE)
        return pl_err_set(PL_ERR_NOTFOUND, errstr, errstr_size, "%s: no broker %d", what,
                          (int)broker_id);
    return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "%s: %s", what, rd_kafka_err2str(err));
}

static int broker_id_ok(const pl_devbroker *db, int32_t broker_id, const char *what, char *errstr,
                        size_t errstr_size)
{
    /* The mock numbers its brokers 1..N; -1 addresses all of them. */
    if (broker_id == -1 || (broker_id >= 1 && broker_id <= db->brokers))
        return 0;
    return pl_err_set(PL_ERR_NOTFOUND, errstr, errstr_size, "%s: no broker %d (brokers are 1..%d)",
                      what, (int)broker_id, db->brokers);
}

int pl_devbroker_topic_create(pl_devbroker *db, const char *name, int partitions, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_resp_err_t err;
    int rf;

    if (!pl_devbroker_topic_name_ok(name))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "invalid topic name (1-%d chars of A-Za-z0-9._-)",
                          PL_DEVBROKER_TOPIC_MAX);
    if (partitions < 1 || partitions > PL_DEVBROKER_MAX_PARTITIONS)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "partitions must be 1..%d",
                          PL_DEVBROKER_MAX_PARTITIONS);
    /* Like the mock's own auto-creation: replicas on up to three brokers. */
    rf = db->brokers < 3 ? db->brokers : 3;

    call_begin(db);
    err = rd_kafka_mock_topic_create(db->mc, name, partitions, rf);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        db->topic_cnt++;
    call_end(db);

    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return pl_err_set(PL_ERR_STATE, errstr, errstr_size, "topic %s exists already", name);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "creating topic %s: %s", name,
                          rd_kafka_err2str(err));
    PL_DEBUG(NULL, "created topic %s with %d partitions", name, partitions);
    return 0;
}

/* Creates a topic of the initial set; one named twice (a default repeated in --topics) is fine. */
static int initial_topic(pl_devbroker *db, const char *name, int partitions, char *errstr,
                         size_t errstr_size)
{
    int rc = pl_devbroker_topic_create(db, name, partitions, errstr, errstr_size);
    return rc == PL_ERR_STATE ? 0 : rc;
}

static int create_paylink_topics(pl_devbroker *db, const char *prefix, int partitions, char *errstr,
                                 size_t errstr_size)
{
    static const char *const suffixes[] = {"request", "reply", "request.dlq"};
    char name[PL_DEVBROKER_TOPIC_MAX + 2];
    int n, rc;

    for (size_t w = 0; w < sizeof(request_workers) / sizeof(request_workers[0]); w++) {
        for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
            n = snprintf(name, sizeof(name), "%s.%s.%s", prefix, request_workers[w], suffixes[s]);
            if (n < 0 || (size_t)n >= sizeof(name))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "prefix too long");
            if ((rc = initial_topic(db, name, partitions, errstr, errstr_size)) != 0)
                return rc;
        }
    }
    n = snprintf(name, sizeof(name), "%s.dm.decision", prefix);
    if (n < 0 || (size_t)n >= sizeof(name))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "prefix too long");
    return initial_topic(db, name, partitions, errstr, errstr_size);
}

/* Creates each name of a comma-separated list; blanks around names and empty items are skipped. */
static int create_extra_topics(pl_devbroker *db, const char *list, int partitions, char *errstr,
                               size_t errstr_size)
{
    char name[PL_DEVBROKER_TOPIC_MAX + 2];
    const char *p = list;
    int rc;

    while (*p != '\0') {
        const char *start, *end;
        size_t len;

        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        start = p;
        while (*p != '\0' && *p != ',')
            p++;
        end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        len = (size_t)(end - start);
        if (len >= sizeof(name))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "topic name longer than %d chars", PL_DEVBROKER_TOPIC_MAX);
        memcpy(name, start, len);
        name[len] = '\0';
        if ((rc = initial_topic(db, name, partitions, errstr, errstr_size)) != 0)
            return rc;
    }
    return 0;
}

int pl_devbroker_new(pl_devbroker **out, const pl_devbroker_config *cfg, char *errstr,
                     size_t errstr_size)
{
    static const pl_devbroker_config defaults = {0};
    pl_devbroker *db = NULL;
    rd_kafka_conf_t *conf = NULL;
    char rkerr[512];
    int brokers, partitions;
    const char *prefix;
    int rc;

    *out = NULL;
    if (cfg == NULL)
        cfg = &defaults;
    brokers = cfg->brokers == 0 ? PL_DEVBROKER_DEFAULT_BROKERS : cfg->brokers;
    partitions = cfg->partitions == 0 ? PL_DEVBROKER_DEFAULT_PARTITIONS : cfg->partitions;
    prefix = cfg->prefix == NULL ? PL_DEVBROKER_DEFAULT_PREFIX : cfg->prefix;
    if (brokers < 1 || brokers > PL_DEVBROKER_MAX_BROKERS)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "brokers must be 1..%d",
                          PL_DEVBROKER_MAX_BROKERS);
    if (partitions < 1 || partitions > PL_DEVBROKER_MAX_PARTITIONS)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "partitions must be 1..%d",
                          PL_DEVBROKER_MAX_PARTITIONS);
    if (!pl_devbroker_topic_name_ok(prefix))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "invalid topic prefix (A-Za-z0-9._- only)");

    db = calloc(1, sizeof(*db));
    if (db == NULL)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    db->brokers = brokers;
    pthread_mutex_init(&db->lock, NULL);
    pthread_mutex_init(&db->nudge_lock, NULL);
    {
        pthread_condattr_t attr;

        /* The nudger's deadlines are monotonic: a clock step must not stall it. */
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&db->nudge_cond, &attr);
        pthread_condattr_destroy(&attr);
    }

    conf = rd_kafka_conf_new();
    /* log.h is single-threaded: queue librdkafka's log lines and serve them from our thread
     * (pl_devbroker_serve_logs) instead of letting its threads call the logger. */
    if (rd_kafka_conf_set(conf, "log.queue", "true", rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "log.queue: %s", rkerr);
        goto out;
    }
    /* The mock brokers' sockets inherit this handle's settings: with Nagle on (the 2.0.2
     * default), small responses wait for delayed ACKs and every request/reply hop slows. */
    if (rd_kafka_conf_set(conf, "socket.nagle.disable", "true", rkerr, sizeof(rkerr)) !=
        RD_KAFKA_CONF_OK) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "socket.nagle.disable: %s", rkerr);
        goto out;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (db->rk == NULL) {
        rc =
            pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "creating the hosting client: %s", rkerr);
        goto out; /* conf is still ours */
    }
    conf = NULL; /* rd_kafka_new took it */
    if (rd_kafka_set_log_queue(db->rk, NULL) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size, "cannot queue librdkafka's logs");
        goto out;
    }

    /* The mock binds each broker to 127.0.0.1 and a kernel-chosen port (rdkafka_mock.c,
     * rd_kafka_mock_broker_new: INADDR_LOOPBACK, port 0); nothing listens on other addresses. */
    db->mc = rd_kafka_mock_cluster_new(db->rk, brokers);
    if (db->mc == NULL) {
        rc = pl_err_set(PL_ERR_KAFKA, errstr, errstr_size,
                        "cannot start the mock cluster (see the librdkafka log)");
        goto out;
    }

    if ((rc = parse_ports(db, rd_kafka_mock_cluster_bootstraps(db->mc), errstr, errstr_size)) != 0)
        goto out;
    if (pthread_create(&db->nudger, NULL, nudge_main, db) != 0) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "cannot start a thread");
        goto out;
    }
    db->nudger_running = 1;

    if ((rc = create_paylink_topics(db, prefix, partitions, errstr, errstr_size)) != 0)
        goto out;
    if (cfg->extra_topics != NULL &&
        (rc = create_extra_topics(db, cfg->extra_topics, partitions, errstr, errstr_size)) != 0)
        goto out;

    *out = db;
    db = NULL;
    rc = 0;
out:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    pl_devbroker_destroy(db);
    return rc;
}

void pl_devbroker_destroy(pl_devbroker *db)
{
    if (db == NULL)
        return;
    /* The cluster first: it lives on the client's bookkeeping (rd_kafka_mock_cluster_new).
     * Its destruction is one more op for the cluster thread, so the nudger watches it too. */
    if (db->mc != NULL) {
        call_begin(db);
        rd_kafka_mock_cluster_destroy(db->mc);
        call_end(db);
    }
    if (db->nudger_running) {
        pthread_mutex_lock(&db->nudge_lock);
        db->nudge_stop = 1;
        pthread_cond_signal(&db->nudge_cond);
        pthread_mutex_unlock(&db->nudge_lock);
        pthread_join(db->nudger, NULL);
    }
    if (db->rk != NULL) {
        pl_devbroker_serve_logs(db);
        rd_kafka_destroy(db->rk);
    }
    pthread_cond_destroy(&db->nudge_cond);
    pthread_mutex_destroy(&db->nudge_lock);
    pthread_mutex_destroy(&db->lock);
    free(db);
}

const char *pl_devbroker_bootstraps(const pl_devbroker *db)
{
    /* Set once when the cluster starts and never changed, so no lock is needed. */
    return rd_kafka_mock_cluster_bootstraps(db->mc);
}

int pl_devbroker_broker_count(const pl_devbroker *db)
{
    return db->brokers;
}

size_t pl_devbroker_topic_count(pl_devbroker *db)
{
    size_t n;

    pthread_mutex_lock(&db->lock);
    n = db->topic_cnt;
    pthread_mutex_unlock(&db->lock);
    return n;
}

int pl_devbroker_broker_down(pl_devbroker *db, int32_t broker_id, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err;
    int rc;

    if ((rc = broker_id_ok(db, broker_id, "broker down", errstr, errstr_size)) != 0)
        return rc;
    call_begin(db);
    err = rd_kafka_mock_broker_set_down(db->mc, broker_id);
    call_end(db);
    return broker_err(err, "broker down", broker_id, errstr, errstr_size);
}

int pl_devbroker_broker_up(pl_devbroker *db, int32_t broker_id, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err;
    int rc;

    if ((rc = broker_id_ok(db, broker_id, "broker up", errstr, errstr_size)) != 0)
        return rc;
    call_begin(db);
    err = rd_kafka_mock_broker_set_up(db->mc, broker_id);
    call_end(db);
    return broker_err(err, "broker up", broker_id, errstr, errstr_size);
}

int pl_devbroker_broker_rtt(pl_devbroker *db, int32_t broker_id, int rtt_ms, char *errstr,
                            size_t errstr_size)
{
    rd_kafka_resp_err_t err;
    int rc;

    if (rtt_ms < 0 || rtt_ms > 600000)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "rtt must be 0..600000 ms");
    if ((rc = broker_id_ok(db, broker_id, "broker rtt", errstr, errstr_size)) != 0)
        return rc;
    call_begin(db);
    err = rd_kafka_mock_broker_set_rtt(db->mc, broker_id, rtt_ms);
    call_end(db);
    return broker_err(err, "broker rtt", broker_id, errstr, errstr_size);
}

int pl_devbroker_produce_errors(pl_devbroker *db, int code, int count, char *errstr,
                                size_t errstr_size)
{
    if (count < 1 || count > 1000)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "count must be 1..1000");
    if (code <= 0 || code > 200)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "code must be a Kafka protocol error code 1..200");
    rd_kafka_resp_err_t errs[1000];
    for (int i = 0; i < count; i++)
        errs[i] = (rd_kafka_resp_err_t)code;
    call_begin(db);
    rd_kafka_mock_push_request_errors_array(db->mc, 0 /* ProduceRequest */, (size_t)count, errs);
    call_end(db);
    return 0;
}

void pl_devbroker_serve_logs(pl_devbroker *db)
{
    /* The hosting client produces nothing, so polling it only serves the queued log lines. */
    rd_kafka_poll(db->rk, 0);
}

int pl_devbroker_write_file(const char *path, const char *content, char *errstr, size_t errstr_size)
{
    char tmp[PATH_MAX];
    size_t len = strlen(content), off = 0;
    int fd = -1, n, rc = PL_ERR_IO;

    /* The temporary file sits in the same directory, so rename() is atomic (one filesystem). */
    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "open %s: %s", tmp, strerror(errno));
    while (off < len) {
        ssize_t w = write(fd, content + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            pl_err_set(PL_ERR_IO, errstr, errstr_size, "write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        pl_err_set(PL_ERR_IO, errstr, errstr_size, "fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        pl_err_set(PL_ERR_IO, errstr, errstr_size, "close %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        pl_err_set(PL_ERR_IO, errstr, errstr_size, "rename %s to %s: %s", tmp, path,
                   strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp);
    return rc;
}
