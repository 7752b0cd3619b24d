/*
 * test_devbroker_control.c: the dev broker's outage-injection HTTP endpoint, driven with
 * libcurl the way chaos tests drive it, and checked against what Kafka clients then see.
 *
 * A helper thread serves the endpoint (pl_devbroker_control_run) and is the only thread that
 * logs, as log.h requires; the log goes to a temporary file the tests read back.
 *
 * No assertion measures time (a loaded machine stretches any duration). An injected delay is
 * shown by order: with a round trip far longer than the test, a broker request is still
 * unanswered when the client stops waiting, while the control endpoint answers meanwhile.
 * Other waits are deadlines against hanging only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "control.h"
#include "devbroker.h"
#include "devbroker_clients.h"
#include "log.h"

/* Longer than the test (the control endpoint's maximum): a response delayed this long never
 * arrives while the test runs. */
#define FOREVER_MS 600000

typedef struct fixture {
    pl_devbroker *db;
    pl_devbroker_control *ctl;
    pthread_t server;
    atomic_int stop;
    FILE *log;
} fixture;

typedef struct body {
    char buf[1024];
    size_t len;
} body;

static void *serve(void *arg)
{
    fixture *fx = arg;

    while (!atomic_load(&fx->stop)) {
        if (pl_devbroker_control_run(fx->ctl, 20) != 0)
            break;
    }
    return NULL;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    char errstr[256] = "";

    if (fx == NULL)
        return -1;
    fx->log = tmpfile();
    if (fx->log == NULL)
        return -1;
    pl_log_init("test_devbroker_control", fx->log);
    pl_log_set_level(PL_LOG_INFO);
    if (pl_devbroker_new(&fx->db, NULL, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "devbroker: %s\n", errstr);
        return -1;
    }
    if (pl_devbroker_control_new(&fx->ctl, fx->db, 0, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "control: %s\n", errstr);
        return -1;
    }
    atomic_init(&fx->stop, 0);
    if (pthread_create(&fx->server, NULL, serve, fx) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    atomic_store(&fx->stop, 1);
    pthread_join(fx->server, NULL);
    pl_devbroker_control_destroy(fx->ctl);
    pl_devbroker_destroy(fx->db);
    pl_log_init("test_devbroker_control", NULL);
    fclose(fx->log);
    free(fx);
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    body *b = userp;
    size_t n = size * nmemb;

    if (n > sizeof(b->buf) - 1 - b->len)
        n = sizeof(b->buf) - 1 - b->len;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return size * nmemb;
}

/* One request to the endpoint; returns the HTTP status, the body in *out. post_body NULL: none. */
static long call(fixture *fx, const char *method, const char *path_query, const char *post_body,
                 body *out)
{
    char url[512];
    CURL *c = curl_easy_init();
    long status = 0;

    assert_non_null(c);
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
             (unsigned)pl_devbroker_control_port(fx->ctl), path_query);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)DEADLINE_MS);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body != NULL ? post_body : "");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static rd_kafka_t *new_producer(fixture *fx, dr_counts *counts)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_t *rk;

    conf_set(conf, "bootstrap.servers", pl_devbroker_bootstraps(fx->db));
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "message.timeout.ms", "1500");
    conf_set(conf, "reconnect.backoff.max.ms", "200");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, counts);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL)
        fail_msg("producer: %s", err);
    return rk;
}

/* One message through rkt, or to paylink.deposit.request when rkt is NULL. */
static void produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *value)
{
    rd_kafka_topic_t *own = rkt ? NULL : rd_kafka_topic_new(rk, "paylink.deposit.request", NULL);

    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt ? rkt : own),
                                       RD_KAFKA_V_KEY("1-O1", 4),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    if (own)
        rd_kafka_topic_destroy(own);
}

/* The whole log written so far. */
static void read_log(fixture *fx, char *buf, size_t size)
{
    size_t n;

    fflush(fx->log);
    rewind(fx->log);
    n = fread(buf, 1, size - 1, fx->log);
    buf[n] = '\0';
    fseek(fx->log, 0, SEEK_END);
}

static void test_health_and_routes(void **state)
{
    fixture *fx = *state;
    body b;

    assert_true(pl_devbroker_control_port(fx->ctl) > 0);
    assert_int_equal(call(fx, "GET", "/health", NULL, &b), 200);
    assert_string_equal(b.buf, "ok");

    assert_int_equal(call(fx, "POST", "/health", NULL, &b), 405);
    assert_int_equal(call(fx, "GET", "/brokers/down", NULL, &b), 405);
    assert_int_equal(call(fx, "GET", "/nowhere", NULL, &b), 404);
    assert_string_equal(b.buf, "{\"error\":\"no such route\"}");
    assert_int_equal(call(fx, "POST", "/brokers", NULL, &b), 404);

    /* Arguments go in the query string; a body is refused rather than silently ignored. */
    assert_int_equal(call(fx, "POST", "/brokers/down", "id=1", &b), 400);
    assert_non_null(strstr(b.buf, "query string"));

    assert_int_equal(call(fx, "POST", "/brokers/down?id=7", NULL, &b), 404);
    assert_non_null(strstr(b.buf, "no broker 7"));
    assert_int_equal(call(fx, "POST", "/brokers/up?id=abc", NULL, &b), 400);
    assert_int_equal(call(fx, "POST", "/brokers/rtt", NULL, &b), 400);
    assert_non_null(strstr(b.buf, "missing query argument ms"));
    assert_int_equal(call(fx, "POST", "/brokers/rtt?ms=-4", NULL, &b), 400);
}

static void test_topics_endpoint(void **state)
{
    fixture *fx = *state;
    dr_counts counts = {0};
    rd_kafka_t *rk = new_producer(fx, &counts);
    char log[8192];
    body b;

    assert_int_equal(call(fx, "POST", "/topics?name=chaos.t1&partitions=3", NULL, &b), 200);
    assert_string_equal(b.buf, "{\"ok\":true}");
    assert_int_equal(partitions_of(rk, "chaos.t1"), 3);
    assert_int_equal(call(fx, "POST", "/topics?name=chaos.t1&partitions=3", NULL, &b), 409);
    assert_int_equal(call(fx, "POST", "/topics?name=chaos.t2", NULL, &b), 200);
    assert_int_equal(partitions_of(rk, "chaos.t2"), PL_DEVBROKER_DEFAULT_PARTITIONS);
    assert_int_equal(call(fx, "POST", "/topics", NULL, &b), 400);
    assert_int_equal(call(fx, "POST", "/topics?name=bad%2Fname", NULL, &b), 400);
    assert_int_equal(call(fx, "POST", "/topics?name=ok.name&partitions=0", NULL, &b), 400);
    assert_int_equal(partitions_of(rk, "ok.name"), -1);

    read_log(fx, log, sizeof(log));
    assert_non_null(strstr(log, "control: created topic chaos.t1 with 3 partitions"));
    rd_kafka_destroy(rk);
}

static void test_outage_through_http(void **state)
{
    fixture *fx = *state;
    dr_counts counts = {0};
    rd_kafka_t *rk = new_producer(fx, &counts);
    rd_kafka_topic_t *patient = patient_topic(rk, "paylink.deposit.reply");
    char log[8192];
    body b;

    produce_one(rk, NULL, "before");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, 1);

    assert_int_equal(call(fx, "POST", "/brokers/down", NULL, &b), 200);
    assert_string_equal(b.buf, "{\"ok\":true}");
    produce_one(rk, NULL, "during");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.failed, 1);
    assert_int_equal(counts.last_err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    /* The endpoint itself stays up while the brokers are down. */
    assert_int_equal(call(fx, "GET", "/health", NULL, &b), 200);

    /* Back up: the same client reconnects and delivers (a message without a timeout of its
     * own, so a slow reconnect cannot fail it). */
    assert_int_equal(call(fx, "POST", "/brokers/up", NULL, &b), 200);
    produce_one(rk, patient, "after");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, 2);
    assert_int_equal(counts.failed, 1);

    /* One broker by id, the way a test of a 3-broker cluster would do it. */
    assert_int_equal(call(fx, "POST", "/brokers/down?id=1", NULL, &b), 200);
    assert_int_equal(call(fx, "POST", "/brokers/up?id=1", NULL, &b), 200);

    read_log(fx, log, sizeof(log));
    assert_non_null(strstr(log, "control: all brokers down"));
    assert_non_null(strstr(log, "control: all brokers up"));
    assert_non_null(strstr(log, "control: broker 1 down"));
    rd_kafka_topic_destroy(patient);
    rd_kafka_destroy(rk);
}

/* Issue 6 A.3: protocol errors on Produce, for the e2e test of publishes that never succeed. */
static void test_produce_errors_through_http(void **state)
{
    fixture *fx = *state;
    dr_counts counts = {0};
    rd_kafka_t *rk = new_producer(fx, &counts);
    char log[8192];
    body b;

    produce_one(rk, NULL, "before");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, 1);
    /* MESSAGE_TOO_LARGE cannot be retried: the next message fails with it, once. */
    assert_int_equal(call(fx, "POST", "/errors?code=10", NULL, &b), 200);
    produce_one(rk, NULL, "refused");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.failed, 1);
    assert_int_equal(counts.last_err, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    produce_one(rk, NULL, "after");
    assert_int_equal(rd_kafka_flush(rk, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(counts.ok, 2);

    assert_int_equal(call(fx, "POST", "/errors", NULL, &b), 400);
    assert_non_null(strstr(b.buf, "missing query argument code"));
    assert_int_equal(call(fx, "POST", "/errors?code=0", NULL, &b), 400);
    assert_int_equal(call(fx, "POST", "/errors?code=10&count=0", NULL, &b), 400);
    assert_int_equal(call(fx, "GET", "/errors?code=10", NULL, &b), 405);
    read_log(fx, log, sizeof(log));
    assert_non_null(strstr(log, "the next 1 Produce request(s) fail with error 10"));
    rd_kafka_destroy(rk);
}

static void test_rtt_through_http(void **state)
{
    fixture *fx = *state;
    dr_counts counts = {0};
    rd_kafka_t *rk = new_producer(fx, &counts);
    const struct rd_kafka_metadata *md = NULL;
    char path[64];
    body b;

    /* Connected first, so the delay below meets a request, not a connection set-up. */
    assert_int_equal(partitions_of(rk, "paylink.auth.request"), 32);

    /* With a round trip longer than the test, a metadata request gets no answer before the
     * client stops waiting for it ... */
    snprintf(path, sizeof(path), "/brokers/rtt?ms=%d", FOREVER_MS);
    assert_int_equal(call(fx, "POST", path, NULL, &b), 200);
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 3000), RD_KAFKA_RESP_ERR__TIMED_OUT);
    /* ... while the control endpoint answers: it is never delayed with the brokers. */
    assert_int_equal(call(fx, "GET", "/health", NULL, &b), 200);

    /* Without the delay the next request is answered (the held one goes out with it). */
    assert_int_equal(call(fx, "POST", "/brokers/rtt?ms=0", NULL, &b), 200);
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
}

static void test_bad_port(void **state)
{
    fixture *fx = *state;
    pl_devbroker_control *ctl = (pl_devbroker_control *)&ctl;
    char errstr[256] = "";

    assert_int_equal(pl_devbroker_control_new(&ctl, fx->db, 70000, errstr, sizeof(errstr)),
                     PL_ERR_INVALID);
    assert_null(ctl);
    /* The fixture's port is taken: a second listener on it must fail cleanly. */
    assert_int_equal(pl_devbroker_control_new(&ctl, fx->db, pl_devbroker_control_port(fx->ctl),
                                              errstr, sizeof(errstr)),
                     PL_ERR_IO);
    assert_null(ctl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_and_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topics_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage_through_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rtt_through_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_errors_through_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_port, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
