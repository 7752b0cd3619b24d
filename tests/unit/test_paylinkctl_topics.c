/*
 * test_paylinkctl_topics.c: `paylinkctl topics` (topics.h): the table of topics and settings,
 * which must stay equal to deploy/kafka/create-topics.sh; the options; and, against
 * librdkafka's mock cluster hosted in this process, the wait for leaders and how a cluster
 * without the Admin API is reported.
 *
 * The mock cluster of librdkafka 2.0.2 has no CreateTopics, AlterConfigs or CreatePartitions
 * (it does not even name a controller), so creating and updating topics cannot run here; it
 * was checked against a real broker instead (see topics.h for the behaviour). No assertion
 * measures time: timeouts below are either deadlines against hanging or bound a wait whose
 * condition can never come true.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "topics.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)
/* Against hanging only. */
#define DEADLINE_MS 60000

/* ---- helpers ----------------------------------------------------------------------------- */

/* A stream whose text the test reads after closing it. */
typedef struct capture {
    FILE *f;
    char *text;
    size_t len;
} capture;

static void capture_open(capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static const char *capture_close(capture *c)
{
    assert_int_equal(fclose(c->f), 0);
    c->f = NULL;
    return c->text;
}

static void capture_free(capture *c)
{
    free(c->text);
    c->text = NULL;
}

static void set_ok(pl_topics_opts *o, const char *flag, const char *value)
{
    char errstr[256] = "";
    int rc = pl_topics_opts_set(o, flag, value, errstr, sizeof errstr);
    if (rc != PL_OK)
        fail_msg("%s %s: %d %s", flag, value ? value : "(null)", rc, errstr);
}

/* A client that hosts a mock cluster of one broker; *bootstraps stays valid until destroy. */
static rd_kafka_t *mock_host(rd_kafka_mock_cluster_t **mc, const char **bootstraps)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    /* Without the notice that the mock replaces bootstrap.servers. */
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        fail_msg("mock host: %s", errstr);
    *mc = rd_kafka_handle_mock_cluster(rk);
    assert_non_null(*mc);
    *bootstraps = rd_kafka_mock_cluster_bootstraps(*mc);
    assert_non_null(*bootstraps);
    return rk;
}

/* ---- the table --------------------------------------------------------------------------- */

static void test_table_matches_create_topics_sh(void **state)
{
    (void)state;
    /* deploy/kafka/create-topics.sh, in its order. */
    static const struct {
        const char *name;
        int64_t retention_ms, segment_ms;
    } want[] = {
        {"paylink.auth.request", DAY_MS, HOUR_MS},
        {"paylink.auth.reply", 7 * DAY_MS, DAY_MS},
        {"paylink.auth.request.dlq", 30 * DAY_MS, DAY_MS},
        {"paylink.deposit.request", DAY_MS, HOUR_MS},
        {"paylink.deposit.reply", 7 * DAY_MS, DAY_MS},
        {"paylink.deposit.request.dlq", 30 * DAY_MS, DAY_MS},
        {"paylink.reversal.request", DAY_MS, HOUR_MS},
        {"paylink.reversal.reply", 7 * DAY_MS, DAY_MS},
        {"paylink.reversal.request.dlq", 30 * DAY_MS, DAY_MS},
        {"paylink.svc.request", DAY_MS, HOUR_MS},
        {"paylink.svc.reply", 7 * DAY_MS, DAY_MS},
        {"paylink.svc.request.dlq", 30 * DAY_MS, DAY_MS},
        {"paylink.dm.decision", 7 * DAY_MS, DAY_MS},
    };
    pl_topic_spec t[PL_TOPICS_TABLE_SIZE];
    char errstr[256];

    assert_int_equal(PL_TOPICS_TABLE_SIZE, 13);
    assert_int_equal(sizeof want / sizeof want[0], PL_TOPICS_TABLE_SIZE);
    assert_int_equal(pl_topics_table("paylink", t, errstr, sizeof errstr), PL_OK);
    for (size_t i = 0; i < PL_TOPICS_TABLE_SIZE; i++) {
        assert_string_equal(t[i].name, want[i].name);
        assert_int_equal(t[i].retention_ms, want[i].retention_ms);
        assert_int_equal(t[i].segment_ms, want[i].segment_ms);
        /* Kafka deletes whole segments: one must roll well within the retention. */
        assert_true(t[i].segment_ms < t[i].retention_ms);
    }
    /* Card data goes first: requests < replies < (redacted) dead letters. */
    assert_true(t[0].retention_ms < t[1].retention_ms);
    assert_true(t[1].retention_ms < t[2].retention_ms);

    assert_int_equal(pl_topics_table("ci7", t, errstr, sizeof errstr), PL_OK);
    assert_string_equal(t[0].name, "ci7.auth.request");
    assert_string_equal(t[11].name, "ci7.svc.request.dlq");
    assert_string_equal(t[12].name, "ci7.dm.decision");
}

static void test_table_refuses_bad_prefixes(void **state)
{
    (void)state;
    pl_topic_spec t[PL_TOPICS_TABLE_SIZE];
    char errstr[256], prefix[PL_TOPICS_NAME_MAX + 2];

    assert_int_equal(pl_topics_table("", t, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_int_equal(pl_topics_table(NULL, t, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_int_equal(pl_topics_table("has space", t, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_int_equal(pl_topics_table("a/b", t, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "prefix"));

    /* The longest name is <prefix>.reversal.request.dlq: 21 characters after the prefix. */
    size_t longest = PL_TOPICS_NAME_MAX - strlen(".reversal.request.dlq");
    memset(prefix, 'p', longest);
    prefix[longest] = '\0';
    assert_int_equal(pl_topics_table(prefix, t, errstr, sizeof errstr), PL_OK);
    assert_int_equal(strlen(t[8].name), PL_TOPICS_NAME_MAX);
    prefix[longest] = 'p';
    prefix[longest + 1] = '\0';
    assert_int_equal(pl_topics_table(prefix, t, errstr, sizeof errstr), PL_ERR_TOOBIG);
}

static void test_topic_names(void **state)
{
    (void)state;
    char name[PL_TOPICS_NAME_MAX + 2];

    assert_true(pl_topics_name_ok("paylink.auth.request.dlq"));
    assert_true(pl_topics_name_ok("a_b-C9"));
    assert_false(pl_topics_name_ok(""));
    assert_false(pl_topics_name_ok("."));
    assert_false(pl_topics_name_ok(".."));
    assert_false(pl_topics_name_ok("has space"));
    assert_false(pl_topics_name_ok("x,y"));
    assert_false(pl_topics_name_ok(NULL));
    memset(name, 'a', PL_TOPICS_NAME_MAX + 1);
    name[PL_TOPICS_NAME_MAX + 1] = '\0';
    assert_false(pl_topics_name_ok(name));
    name[PL_TOPICS_NAME_MAX] = '\0';
    assert_true(pl_topics_name_ok(name));
}

/* ---- options ----------------------------------------------------------------------------- */

static void test_opts_numbers(void **state)
{
    (void)state;
    static const char *const flags[] = {"--partitions", "--replication", "--min-isr", "--timeout"};
    static const char *const bad[] = {
        "0", "-1", "", "abc", "12x", " 5", "+5", "1.5", "0x10", "99999999999999999999", "100001"};
    pl_topics_opts o;
    char errstr[256];

    pl_topics_opts_init(&o);
    assert_int_equal(o.partitions, 32);
    assert_int_equal(o.replication, 1);
    assert_int_equal(o.min_isr, 1);
    assert_int_equal(o.timeout_s, 30);
    assert_int_equal(o.extra_n, 0);
    assert_int_equal(pl_topics_opts_check(&o, errstr, sizeof errstr), PL_OK);

    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++) {
            pl_topics_opts before = o;
            errstr[0] = '\0';
            assert_int_equal(pl_topics_opts_set(&o, flags[f], bad[v], errstr, sizeof errstr),
                             PL_ERR_INVALID);
            assert_non_null(strstr(errstr, flags[f]));
            assert_memory_equal(&o, &before, sizeof o); /* untouched */
        }
        assert_int_equal(pl_topics_opts_set(&o, flags[f], NULL, errstr, sizeof errstr),
                         PL_ERR_INVALID);
    }

    set_ok(&o, "--partitions", "8");
    set_ok(&o, "--replication", "3");
    set_ok(&o, "--min-isr", "2");
    set_ok(&o, "--timeout", "3600");
    assert_int_equal(o.partitions, 8);
    assert_int_equal(o.replication, 3);
    assert_int_equal(o.min_isr, 2);
    assert_int_equal(o.timeout_s, 3600);
    assert_int_equal(pl_topics_opts_check(&o, errstr, sizeof errstr), PL_OK);
    assert_int_equal(pl_topics_opts_set(&o, "--timeout", "3601", errstr, sizeof errstr),
                     PL_ERR_INVALID);
    set_ok(&o, "--partitions", "100000");

    /* min.insync.replicas above the replication factor would refuse every write. */
    set_ok(&o, "--min-isr", "4");
    assert_int_equal(pl_topics_opts_check(&o, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "--min-isr"));
    set_ok(&o, "--replication", "4");
    assert_int_equal(pl_topics_opts_check(&o, errstr, sizeof errstr), PL_OK);

    /* Not options of topics: main.c's own, or none at all. */
    errstr[0] = '\0';
    assert_int_equal(pl_topics_opts_set(&o, "--brokers", "x:1", errstr, sizeof errstr),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_topics_opts_set(&o, "--retention-scale", "2", errstr, sizeof errstr),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_topics_opts_set(&o, "partitions", "2", errstr, sizeof errstr),
                     PL_ERR_NOTFOUND);
    assert_string_equal(errstr, "");
    pl_topics_opts_free(&o);
}

static void test_opts_extra(void **state)
{
    (void)state;
    pl_topics_opts o;
    char errstr[256], longname[PL_TOPICS_NAME_MAX + 2];

    pl_topics_opts_init(&o);
    set_ok(&o, "--extra", "e.one");
    set_ok(&o, "--extra", " e.two , ,e.three,e.one,");
    set_ok(&o, "--extra", "e.two");
    assert_int_equal(o.extra_n, 3);
    assert_string_equal(o.extra[0], "e.one");
    assert_string_equal(o.extra[1], "e.two");
    assert_string_equal(o.extra[2], "e.three");

    /* A bad item refuses the whole value and names it by position, never by its text. */
    errstr[0] = '\0';
    assert_int_equal(
        pl_topics_opts_set(&o, "--extra", "e.four,4111 1111 1111 1111", errstr, sizeof errstr),
        PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "--extra"));
    assert_non_null(strstr(errstr, "item 2"));
    assert_null(strstr(errstr, "4111"));
    assert_int_equal(o.extra_n, 3);
    static const char *const bad[] = {"", " , ,", ".", "a/b", "x..,..", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(pl_topics_opts_set(&o, "--extra", bad[i], errstr, sizeof errstr),
                         PL_ERR_INVALID);
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(pl_topics_opts_set(&o, "--extra", longname, errstr, sizeof errstr),
                     PL_ERR_INVALID);
    assert_int_equal(o.extra_n, 3);

    /* The extras follow the table with the settings of a reply topic; one of ours is not
     * listed twice. */
    set_ok(&o, "--extra", "paylink.auth.request");
    pl_topic_spec *list = NULL;
    size_t n = 0;
    assert_int_equal(pl_topics_list("paylink", &o, &list, &n, errstr, sizeof errstr), PL_OK);
    assert_int_equal(n, PL_TOPICS_TABLE_SIZE + 3);
    assert_string_equal(list[0].name, "paylink.auth.request");
    assert_int_equal(list[0].retention_ms, DAY_MS);
    assert_string_equal(list[13].name, "e.one");
    assert_string_equal(list[15].name, "e.three");
    for (size_t i = PL_TOPICS_TABLE_SIZE; i < n; i++) {
        assert_int_equal(list[i].retention_ms, 7 * DAY_MS);
        assert_int_equal(list[i].segment_ms, DAY_MS);
    }
    free(list);
    assert_int_equal(pl_topics_list("bad prefix", &o, &list, &n, errstr, sizeof errstr),
                     PL_ERR_INVALID);

    pl_topics_opts_free(&o);
    pl_topics_opts_free(&o); /* twice is fine */
    assert_int_equal(o.extra_n, 0);

    /* A size cap on the extras. */
    pl_topics_opts_init(&o);
    char name[32];
    for (int i = 0; i < PL_TOPICS_MAX_EXTRA; i++) {
        snprintf(name, sizeof name, "cap.%d", i);
        set_ok(&o, "--extra", name);
    }
    set_ok(&o, "--extra", "cap.0"); /* a repeat adds nothing */
    assert_int_equal(pl_topics_opts_set(&o, "--extra", "cap.last", errstr, sizeof errstr),
                     PL_ERR_TOOBIG);
    assert_int_equal(o.extra_n, PL_TOPICS_MAX_EXTRA);
    pl_topics_opts_free(&o);
}

static void test_run_refuses_bad_options_before_connecting(void **state)
{
    (void)state;
    pl_topics_opts o;
    capture out, err;

    pl_topics_opts_init(&o);
    set_ok(&o, "--min-isr", "2");
    capture_open(&out);
    capture_open(&err);
    /* Nothing listens on port 1: a run that got as far as Kafka would say so. */
    assert_int_equal(pl_topics_run("127.0.0.1:1", "paylink", &o, out.f, err.f, NULL),
                     PL_TOPICS_FAILED);
    assert_string_equal(capture_close(&out), "");
    assert_non_null(strstr(capture_close(&err), "--min-isr 2 is more than --replication 1"));
    capture_free(&out);
    capture_free(&err);

    pl_topics_opts_free(&o);
    pl_topics_opts_init(&o);
    capture_open(&out);
    capture_open(&err);
    assert_int_equal(pl_topics_run("127.0.0.1:1", "bad prefix", &o, out.f, err.f, NULL),
                     PL_TOPICS_FAILED);
    assert_string_equal(capture_close(&out), "");
    assert_non_null(strstr(capture_close(&err), "prefix"));
    capture_free(&out);
    capture_free(&err);
    pl_topics_opts_free(&o);
}

/* ---- against the mock cluster ------------------------------------------------------------ */

/*
 * The 2.0.2 mock names no controller (broker id 0, which does not exist) and offers no admin
 * API, so the CreateTopics request waits for a controller until the run's timeout: every topic
 * is reported on err with librdkafka's text, nothing on out, and the exit status is the
 * time-out one. A librdkafka whose mock can create topics will make this test fail: then test
 * the creation here instead.
 */
static void test_run_against_cluster_without_admin_api(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
    rd_kafka_t *host = mock_host(&mc, &bootstraps);
    pl_topics_opts o;
    pl_topic_spec table[PL_TOPICS_TABLE_SIZE];
    char errstr[256], line[sizeof table + 32]; /* gcc cannot see the bound of a name */
    capture out, err;

    pl_topics_opts_init(&o);
    set_ok(&o, "--timeout", "1");
    set_ok(&o, "--extra", "e.one");
    capture_open(&out);
    capture_open(&err);
    assert_int_equal(pl_topics_run(bootstraps, "paylink", &o, out.f, err.f, NULL),
                     PL_TOPICS_TIMEOUT);
    assert_string_equal(capture_close(&out), "");
    const char *text = capture_close(&err);
    assert_int_equal(pl_topics_table("paylink", table, errstr, sizeof errstr), PL_OK);
    for (size_t i = 0; i < PL_TOPICS_TABLE_SIZE; i++) {
        snprintf(line, sizeof line, "paylinkctl: %s: creating: ", table[i].name);
        if (!strstr(text, line))
            fail_msg("%s not reported in:\n%s", table[i].name, text);
    }
    assert_non_null(strstr(text, "paylinkctl: e.one: creating: "));
    assert_non_null(strstr(text, "Timed out"));
    capture_free(&out);
    capture_free(&err);
    pl_topics_opts_free(&o);
    rd_kafka_destroy(host);
}

static void test_wait_for_leaders(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
    rd_kafka_t *host = mock_host(&mc, &bootstraps);
    pl_topic_spec topics[3] = {{.name = "w.one"}, {.name = "w.two"}, {.name = "w.none"}};
    capture err;

    assert_int_equal(rd_kafka_mock_topic_create(mc, "w.one", 3, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "w.two", 3, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

    /* Ready: every partition has its leader. A topic with more partitions than asked is too. */
    capture_open(&err);
    assert_int_equal(pl_topics_wait_ready(bootstraps, topics, 2, 3, DEADLINE_MS, err.f),
                     PL_TOPICS_DONE);
    assert_int_equal(pl_topics_wait_ready(bootstraps, topics, 2, 2, DEADLINE_MS, err.f),
                     PL_TOPICS_DONE);
    assert_string_equal(capture_close(&err), "");
    capture_free(&err);

    /* Fewer partitions than asked never becomes ready. */
    capture_open(&err);
    assert_int_equal(pl_topics_wait_ready(bootstraps, topics, 2, 4, 1000, err.f),
                     PL_TOPICS_TIMEOUT);
    assert_non_null(strstr(capture_close(&err), "w.one has 3 of 4 partitions"));
    capture_free(&err);

    /* A topic the cluster does not have; asking for all metadata does not create it. */
    capture_open(&err);
    assert_int_equal(pl_topics_wait_ready(bootstraps, topics, 3, 3, 1000, err.f),
                     PL_TOPICS_TIMEOUT);
    assert_non_null(strstr(capture_close(&err), "w.none is not in the cluster's metadata"));
    capture_free(&err);

    /* A partition without a leader is not ready; once it has one again, the topic is. */
    assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "w.two", 1, -1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    capture_open(&err);
    assert_int_equal(pl_topics_wait_ready(bootstraps, topics, 2, 3, 1000, err.f),
                     PL_TOPICS_TIMEOUT);
    assert_non_null(strstr(capture_close(&err), "w.two: 2 of 3 partitions have a leader"));
    capture_free(&err);
    assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "w.two", 1, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    capture_open(&err);
    assert_int_equal(pl_topics_wait_ready(bootstraps, topics, 2, 3, DEADLINE_MS, err.f),
                     PL_TOPICS_DONE);
    assert_string_equal(capture_close(&err), "");
    capture_free(&err);

    rd_kafka_destroy(host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_create_topics_sh),
        cmocka_unit_test(test_table_refuses_bad_prefixes),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_opts_numbers),
        cmocka_unit_test(test_opts_extra),
        cmocka_unit_test(test_run_refuses_bad_options_before_connecting),
        cmocka_unit_test(test_run_against_cluster_without_admin_api),
        cmocka_unit_test(test_wait_for_leaders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
