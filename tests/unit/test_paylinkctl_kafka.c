/*
 * test_paylinkctl_kafka.c: paylinkctl's Kafka reader (ctlkafka.c) against librdkafka's mock
 * cluster, where a test can make the broker refuse offsets look-ups: `paylinkctl send --wait`
 * right after the topics were created (the demo at the end of `tools/dev up`) met "Not leader
 * for partition" from a fresh Apache Kafka broker and gave up at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ctlkafka.h"
#include "err.h"

/* Kafka's ListOffsets request (the API key paylinkctl's offsets look-up sends). */
#define API_LIST_OFFSETS 2
/* Bounds that a healthy mock never comes near; they only stop a broken test. */
#define DEADLINE_MS 30000

typedef struct fixture {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
} fixture;

static int setup(void **state)
{
    static fixture f;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr))
        return -1;
    f.host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!f.host)
        return -1;
    f.mc = rd_kafka_handle_mock_cluster(f.host);
    f.bootstraps = f.mc ? rd_kafka_mock_cluster_bootstraps(f.mc) : NULL;
    if (!f.bootstraps || rd_kafka_mock_topic_create(f.mc, "r.one", 3, 1))
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rd_kafka_destroy(f->host);
    return 0;
}

/* Produces one message to r.one through paylinkctl's own producer. */
static void produce(const fixture *f, const char *payload)
{
    char errstr[256] = "";
    int32_t part = -1;
    int64_t off = -1;
    int rc = pl_ctlkafka_produce(f->bootstraps, "r.one", "k", payload, strlen(payload), DEADLINE_MS,
                                 &part, &off, errstr, sizeof errstr);
    if (rc != PL_OK)
        fail_msg("produce: %d %s", rc, errstr);
    assert_true(part >= 0 && off >= 0);
}

/* The reader starts at the end: what was there before it opened is not read, what comes after
 * is, even when the broker first refused the look-up of the ends for a while. */
static void test_end_offsets_retried_while_leader_moves(void **state)
{
    fixture *f = *state;
    produce(f, "before");
    rd_kafka_mock_push_request_errors(
        f->mc, API_LIST_OFFSETS, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    char errstr[256] = "";
    pl_ctlkafka_reader *r = NULL;
    int rc = pl_ctlkafka_reader_open(f->bootstraps, "r.one", PL_CTLKAFKA_FROM_END, DEADLINE_MS, &r,
                                     errstr, sizeof errstr);
    if (rc != PL_OK)
        fail_msg("reader_open: %d %s", rc, errstr);
    produce(f, "after");
    const char *payload = NULL;
    size_t len = 0;
    int got = 0;
    for (int i = 0; i < 100 && got == 0; i++)
        got = pl_ctlkafka_reader_next(r, 300, &payload, &len);
    assert_int_equal(got, 1);
    assert_int_equal(len, strlen("after"));
    assert_memory_equal(payload, "after", len);
    pl_ctlkafka_reader_destroy(r);
}

/* An error that does not pass by itself is reported at once, naming the topic. */
static void test_lasting_error_reported(void **state)
{
    fixture *f = *state;
    rd_kafka_mock_push_request_errors(f->mc, API_LIST_OFFSETS, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    char errstr[256] = "";
    pl_ctlkafka_reader *r = NULL;
    int rc = pl_ctlkafka_reader_open(f->bootstraps, "r.one", PL_CTLKAFKA_FROM_END, DEADLINE_MS, &r,
                                     errstr, sizeof errstr);
    assert_int_equal(rc, PL_ERR_KAFKA);
    assert_null(r);
    assert_non_null(strstr(errstr, "offsets of r.one"));
    assert_non_null(strstr(errstr, "uthoriz"));
}

/* An error that would pass but does not within the bound is reported once the bound is spent:
 * the look-up is bounded, never endless. */
static void test_passing_error_bounded(void **state)
{
    fixture *f = *state;
    rd_kafka_resp_err_t errs[64];
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        errs[i] = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
    rd_kafka_mock_push_request_errors_array(f->mc, API_LIST_OFFSETS, sizeof errs / sizeof errs[0],
                                            errs);
    char errstr[256] = "";
    pl_ctlkafka_reader *r = NULL;
    /* 64 refusals at one look-up per 100 ms or more outlast 1 s. */
    int rc = pl_ctlkafka_reader_open(f->bootstraps, "r.one", PL_CTLKAFKA_FROM_END, 1000, &r, errstr,
                                     sizeof errstr);
    assert_int_equal(rc, PL_ERR_KAFKA);
    assert_null(r);
    assert_non_null(strstr(errstr, "offsets of r.one"));
    assert_non_null(strstr(errstr, "ot leader"));
    rd_kafka_mock_clear_request_errors(f->mc, API_LIST_OFFSETS);
}

/* Kafka's Produce request. */
#define API_PRODUCE 0

/* A publish whose every try timed out at the broker may have been written all the same: the
 * caller is told it is uncertain (deposits resubmit then records the resubmission rather than
 * leave the deposit open to be collected twice). */
static void test_timed_out_publish_is_uncertain(void **state)
{
    fixture *f = *state;
    rd_kafka_resp_err_t errs[256];
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        errs[i] = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
    rd_kafka_mock_push_request_errors_array(f->mc, API_PRODUCE, sizeof errs / sizeof errs[0], errs);
    char errstr[256] = "";
    bool uncertain = false;
    int rc = pl_ctlkafka_produce_uncertain(f->bootstraps, "r.one", "k", "x", 1, 5000, &uncertain,
                                           errstr, sizeof errstr);
    rd_kafka_mock_clear_request_errors(f->mc, API_PRODUCE);
    assert_int_not_equal(rc, PL_OK);
    assert_true(uncertain);
    /* Once the broker answers again, a publish is certain. */
    rc = pl_ctlkafka_produce_uncertain(f->bootstraps, "r.one", "k", "y", 1, DEADLINE_MS, &uncertain,
                                       errstr, sizeof errstr);
    assert_int_equal(rc, PL_OK);
    assert_false(uncertain);
}

/* A message that never left (the producer refused it) is certainly not on the topic. */
static void test_refused_publish_is_certain(void **state)
{
    fixture *f = *state;
    size_t len = 2 * 1024 * 1024; /* over librdkafka's message.max.bytes (1,000,000) */
    char *big = calloc(1, len);
    assert_non_null(big);
    char errstr[256] = "";
    bool uncertain = true;
    int rc = pl_ctlkafka_produce_uncertain(f->bootstraps, "r.one", "k", big, len, DEADLINE_MS,
                                           &uncertain, errstr, sizeof errstr);
    free(big);
    assert_int_not_equal(rc, PL_OK);
    assert_false(uncertain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_offsets_retried_while_leader_moves),
        cmocka_unit_test(test_lasting_error_reported),
        cmocka_unit_test(test_passing_error_bounded),
        cmocka_unit_test(test_timed_out_publish_is_uncertain),
        cmocka_unit_test(test_refused_publish_is_certain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
