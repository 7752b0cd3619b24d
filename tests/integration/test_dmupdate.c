/*
 * test_dmupdate.c: the companies paylink-dmupdate updates when none are configured
 * (pl_dmupdate_companies), against the real schema of PAYLINK_DB: those with an authorization
 * in review on the bureau, noted by migration 029's trigger as reviews arrive (inserted as a
 * review or updated to one, by any statement), and those with an earlier run, every one of
 * them; not those whose authorizations are not in review, nor another bureau's. The publishing
 * of pending decisions (pl_dmupdate_publish) on the environment's Kafka: every acknowledged
 * decision marked, however many. The window length limit a run starts with, from dm_run
 * (pl_dmupdate_limit_start). Everything runs in one transaction that is rolled back (the
 * published events stay on paylink.dm.decision, for an order of a company of the test's own).
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
#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "dmupdate.h"
#include "it_unit.h"
#include "kafka.h"

static PGconn *g_db;

static int group_setup(void **state)
{
    (void)state;
    const char *conninfo;
    return (g_db = it_admin_connect(&conninfo)) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(g_db);
    return 0;
}

static bool has(const int *cos, int n, int company)
{
    for (int i = 0; i < n; i++)
        if (cos[i] == company)
            return true;
    return false;
}

/* Companies 800-999 that neither bureau's list holds yet: the test's own. */
static void free_companies(int *out, int want)
{
    int *cyb = NULL, *ext = NULL;
    int nc = pl_dmupdate_companies(g_db, "CYB", &cyb);
    int ne = pl_dmupdate_companies(g_db, "EXT", &ext);
    assert_true(nc >= 0 && ne >= 0);
    int n = 0;
    for (int c = 999; c >= 800 && n < want; c--)
        if (!has(cyb, nc, c) && !has(ext, ne, c))
            out[n++] = c;
    free(cyb);
    free(ext);
    assert_int_equal(n, want);
}

/* An authorization of company on bureau with status (inserted as received first, then
 * updated, when via_update). */
static void auth(const char *id, int company, const char *bureau, const char *status,
                 bool via_update)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {id, co, bureau, via_update ? "received" : status};
    it_exec(g_db,
            "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
            "order_number, pay_seq, service_bureau, status, card_token) "
            "VALUES ($1, repeat('b', 64), 'auth', $2::int, 'IT-DMU', 1, $3, $4, '7000')",
            4, p);
    if (via_update) {
        const char *u[] = {id, status};
        it_exec(g_db, "UPDATE cc_auth_trans SET status = $2 WHERE request_id = $1", 2, u);
    }
}

static void test_companies_with_reviews_or_runs(void **state)
{
    (void)state;
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[5];
    free_companies(mine, 5);
    auth("it-dmu-updated", mine[0], "CYB", "review", true);
    auth("it-dmu-inserted", mine[1], "CYB", "review", false);
    auth("it-dmu-again", mine[1], "CYB", "review", true); /* noted once */
    auth("it-dmu-approved", mine[2], "CYB", "approved", true);
    auth("it-dmu-ext", mine[3], "EXT", "review", true);
    char co[16];
    snprintf(co, sizeof co, "%d", mine[4]);
    const char *p[] = {co};
    it_exec(g_db,
            "INSERT INTO dm_run (company, service_bureau, merchant_id, window_start, window_end, "
            "conversions, applied, skipped, started_at, run_by) VALUES ($1::int, 'CYB', "
            "'paylink_demo', now() - interval '1 hour', now(), 0, 0, 0, now(), 'test')",
            1, p);

    int *cyb = NULL, *ext = NULL;
    int nc = pl_dmupdate_companies(g_db, "CYB", &cyb);
    int ne = pl_dmupdate_companies(g_db, "EXT", &ext);
    assert_true(has(cyb, nc, mine[0]));
    assert_true(has(cyb, nc, mine[1]));
    assert_false(has(cyb, nc, mine[2]));
    assert_false(has(cyb, nc, mine[3]));
    assert_true(has(ext, ne, mine[3]));
    assert_true(has(cyb, nc, mine[4]));
    for (int i = 1; i < nc; i++)
        assert_true(cyb[i - 1] < cyb[i]); /* in order, each once */
    snprintf(co, sizeof co, "%d", mine[1]);
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM dm_review_company WHERE company = $1::int "
                             "AND service_bureau = 'CYB'",
                             co),
                     1);
    free(cyb);
    free(ext);
    it_exec(g_db, "ROLLBACK", 0, NULL);
}

/* More companies than any fixed list held (64 did): every one of them, each once, in order. */
static void test_companies_all(void **state)
{
    (void)state;
    it_exec(g_db, "BEGIN", 0, NULL);
    enum { N = 150 };
    int mine[N];
    free_companies(mine, N);
    for (int i = 0; i < N; i++) {
        char co[16];
        snprintf(co, sizeof co, "%d", mine[i]);
        const char *p[] = {co};
        it_exec(g_db,
                "INSERT INTO dm_review_company (service_bureau, company) VALUES ('CYB', $1::int)",
                1, p);
    }
    int *cyb = NULL;
    int nc = pl_dmupdate_companies(g_db, "CYB", &cyb);
    assert_true(nc >= N);
    for (int i = 0; i < N; i++)
        assert_true(has(cyb, nc, mine[i]));
    for (int i = 1; i < nc; i++)
        assert_true(cyb[i - 1] < cyb[i]);
    free(cyb);
    it_exec(g_db, "ROLLBACK", 0, NULL);
}

/* The count of dm_decision rows of company not published yet. */
static long unpublished(int company)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    return it_long(g_db,
                   "SELECT count(*) FROM dm_decision WHERE company = $1::int "
                   "AND service_bureau = 'CYB' AND published_at IS NULL",
                   co);
}

/*
 * 1,234 decisions pending (say the events of a day of reviews Kafka did not acknowledge): one
 * publish sends and marks every one of them — the ids of the rows to mark once went into a
 * fixed 4 KiB text, and the rows past it (~500) were published again by every later run: a
 * second cancel_order or release_hold for the order system — and a second publish sends
 * nothing. A row marked already (by another run) keeps its time and is not sent.
 */
static void test_publish_every_decision(void **state)
{
    (void)state;
    pl_config cfg;
    char err[512] = "";
    if (pl_config_from_env(&cfg, "dmupdate", err, sizeof err) != 0)
        fail_msg("configuration: %s", err);
    rd_kafka_t *producer =
        pl_kafka_producer_new(&cfg, NULL, pl_kafka_on_delivery, NULL, err, sizeof err);
    if (!producer)
        fail_msg("producer: %s", err);

    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    char co[16];
    snprintf(co, sizeof co, "%d", mine[0]);
    char auth_id[64];
    snprintf(auth_id, sizeof auth_id, "it-dmu-pub-%ld", (long)getpid());
    auth(auth_id, mine[0], "CYB", "review", false);
    const char *p[] = {co, auth_id, "1234"};
    it_exec(g_db,
            "INSERT INTO dm_decision (company, service_bureau, transaction_id, conversion_date, "
            "merchant_reference, original_decision, new_decision, auth_request_id, order_number, "
            "pay_seq, action, event) SELECT $1::int, 'CYB', $2 || '-' || g, "
            "'2014-06-24 17:03:03', $2, 'REVIEW', 'ACCEPT', $2, 'IT-DMU-PUB', 1, 'release_hold', "
            "jsonb_build_object('v', 1, 'company', $1::int, 'order', 'IT-DMU-PUB', "
            "'transaction_id', $2 || '-' || g, 'original_decision', 'REVIEW', 'new_decision', "
            "'ACCEPT', 'action', 'release_hold', 'messages', '[]'::jsonb) "
            "FROM generate_series(1, $3::int) g",
            3, p);
    /* One marked already, as by another run: not sent again, its time kept. */
    it_exec(g_db,
            "UPDATE dm_decision SET published_at = '2014-06-24 18:00:00+00' WHERE id = (SELECT "
            "min(id) FROM dm_decision WHERE company = $1::int AND auth_request_id = $2)",
            2, p);
    assert_int_equal(unpublished(mine[0]), 1233);

    int sent = pl_dmupdate_publish(g_db, producer, cfg.topic_prefix, mine[0], "CYB");
    assert_int_equal(sent, 1233);
    assert_int_equal(unpublished(mine[0]), 0);
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM dm_decision WHERE company = $1::int "
                             "AND published_at = '2014-06-24 18:00:00+00'",
                             co),
                     1);
    /* The next run: nothing left to send. */
    assert_int_equal(pl_dmupdate_publish(g_db, producer, cfg.topic_prefix, mine[0], "CYB"), 0);
    assert_int_equal(unpublished(mine[0]), 0);
    it_exec(g_db, "ROLLBACK", 0, NULL);

    rd_kafka_flush(producer, 10000);
    rd_kafka_destroy(producer);
    pl_config_free(&cfg);
}

/*
 * The window length limit a run starts with, from the newest successful window in dm_run: 24
 * hours without one, or when it reached the time it was asked at; twice its length when the
 * limit cut it (a narrowing after a report too big is kept from run to run by the windows read).
 */
static void test_limit_start(void **state)
{
    (void)state;
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    char co[16];
    snprintf(co, sizeof co, "%d", mine[0]);
    pl_dm_limit l = {0, 0};
    assert_int_equal(pl_dmupdate_limit_start(g_db, mine[0], "CYB", &l), 0);
    assert_int_equal(l.limit, PL_DM_WINDOW_SECONDS);
    assert_int_equal(l.ceiling, 0);
    const char *ins = "INSERT INTO dm_run (company, service_bureau, merchant_id, window_start, "
                      "window_end, conversions, applied, skipped, started_at, run_by) VALUES "
                      "($1::int, 'CYB', 'paylink_demo', $2::timestamptz, $3::timestamptz, 0, 0, 0, "
                      "$4::timestamptz, 'test')";
    /* Three days behind, a window of 90 minutes cut by the limit: 3 hours next. */
    const char *a[] = {co, "2014-06-21 00:00:00+00", "2014-06-21 01:30:00+00",
                       "2014-06-24 00:00:00+00"};
    it_exec(g_db, ins, 4, a);
    assert_int_equal(pl_dmupdate_limit_start(g_db, mine[0], "CYB", &l), 0);
    assert_int_equal(l.limit, 3 * 3600);
    /* An older run of another length changes nothing: the newest window counts. */
    const char *b[] = {co, "2014-06-20 00:00:00+00", "2014-06-20 00:10:00+00",
                       "2014-06-24 00:00:00+00"};
    it_exec(g_db, ins, 4, b);
    assert_int_equal(pl_dmupdate_limit_start(g_db, mine[0], "CYB", &l), 0);
    assert_int_equal(l.limit, 3 * 3600);
    /* Another bureau's run neither. */
    assert_int_equal(pl_dmupdate_limit_start(g_db, mine[0], "EXT", &l), 0);
    assert_int_equal(l.limit, PL_DM_WINDOW_SECONDS);
    /* A newer window that reached the time it was asked at: 24 hours. */
    const char *c[] = {co, "2014-06-21 01:30:00+00", "2014-06-21 01:45:00+00",
                       "2014-06-21 01:45:00+00"};
    it_exec(g_db, ins, 4, c);
    assert_int_equal(pl_dmupdate_limit_start(g_db, mine[0], "CYB", &l), 0);
    assert_int_equal(l.limit, PL_DM_WINDOW_SECONDS);
    it_exec(g_db, "ROLLBACK", 0, NULL);
}

/*
 * The first run of a company (no dm_run yet) asks from a minute before its first review was
 * noted, at most 31 days back; from the last day (-1) when that review is within it, or there
 * is none.
 */
static void test_first_start(void **state)
{
    (void)state;
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[2];
    free_companies(mine, 2);
    auth("it-dmu-first", mine[0], "CYB", "review", true);
    char co[16];
    snprintf(co, sizeof co, "%d", mine[0]);
    int64_t now = it_long(g_db, "SELECT extract(epoch FROM now())::bigint WHERE $1 <> ''", "x");
    /* Noted just now: the last day. */
    assert_int_equal(pl_dmupdate_first_start(g_db, mine[0], "CYB", now), -1);
    /* Three days ago: from then (a minute before). */
    const char *p[] = {co, "3 days"};
    const char *q = "UPDATE dm_review_company SET first_review_at = now() - $2::interval "
                    "WHERE company = $1::int AND service_bureau = 'CYB'";
    it_exec(g_db, q, 2, p);
    int64_t noted = it_long(g_db,
                            "SELECT extract(epoch FROM first_review_at)::bigint FROM "
                            "dm_review_company WHERE company = $1::int AND service_bureau = 'CYB'",
                            co);
    assert_int_equal(pl_dmupdate_first_start(g_db, mine[0], "CYB", now), noted - 60);
    /* Forty days ago: 31 days back at most. */
    p[1] = "40 days";
    it_exec(g_db, q, 2, p);
    assert_int_equal(pl_dmupdate_first_start(g_db, mine[0], "CYB", now),
                     now - PL_DMUPDATE_FIRST_BACK_S);
    /* No review noted, or another bureau's: the last day. */
    assert_int_equal(pl_dmupdate_first_start(g_db, mine[1], "CYB", now), -1);
    assert_int_equal(pl_dmupdate_first_start(g_db, mine[0], "EXT", now), -1);
    it_exec(g_db, "ROLLBACK", 0, NULL);
}

/* The merchant IDs a run did not read when it started (their first reviews arrived meanwhile),
 * each with when its first review was noted, oldest first: the run asks their reports of the
 * windows it asked. Another company's or bureau's are not. */
static void test_new_merchants(void **state)
{
    (void)state;
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    char co[16];
    snprintf(co, sizeof co, "%d", mine[0]);
    const char *p[] = {co};
    it_exec(g_db,
            "INSERT INTO dm_review_merchant (service_bureau, company, merchant_id, "
            "first_review_at) VALUES ('CYB', $1::int, 'm_known', now() - interval '1 day'), "
            "('CYB', $1::int, 'm_late', now() - interval '10 seconds'), "
            "('CYB', $1::int, 'm_later', now()), ('EXT', $1::int, 'm_ext', now())",
            1, p);
    char known[2][31] = {"paylink_demo", "m_known"};
    char ids[4][31];
    int64_t first[4];
    int n =
        pl_dmupdate_new_merchants(g_db, mine[0], "CYB", (const char(*)[31])known, 2, ids, first, 4);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "m_late");
    assert_string_equal(ids[1], "m_later");
    int64_t now = it_long(g_db, "SELECT extract(epoch FROM now())::bigint WHERE $1 <> ''", "x");
    assert_true(first[0] <= now - 10 && first[0] >= now - 11);
    assert_true(first[1] <= now && first[1] >= now - 1);
    /* At most max. */
    assert_int_equal(
        pl_dmupdate_new_merchants(g_db, mine[0], "CYB", (const char(*)[31])known, 2, ids, first, 1),
        1);
    assert_string_equal(ids[0], "m_late");
    /* All known: none. */
    char all[3][31] = {"m_known", "m_late", "m_later"};
    assert_int_equal(
        pl_dmupdate_new_merchants(g_db, mine[0], "CYB", (const char(*)[31])all, 3, ids, first, 4),
        0);
    it_exec(g_db, "ROLLBACK", 0, NULL);
}

/* Every company with a review is noted (the backfill of 029 and the trigger since). */
static void test_every_review_noted(void **state)
{
    (void)state;
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM (SELECT DISTINCT service_bureau, company "
                             "FROM cc_auth_trans WHERE status = 'review' AND $1 <> '') r "
                             "WHERE NOT EXISTS (SELECT 1 FROM dm_review_company d WHERE "
                             "d.service_bureau = r.service_bureau AND d.company = r.company)",
                             "x"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_companies_with_reviews_or_runs),
        cmocka_unit_test(test_every_review_noted),
        cmocka_unit_test(test_first_start),
        cmocka_unit_test(test_new_merchants),
        cmocka_unit_test(test_companies_all),
        cmocka_unit_test(test_publish_every_decision),
        cmocka_unit_test(test_limit_start),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
