/*
 * test_dmupdate.c: the companies paylink-dmupdate updates when none are configured
 * (pl_dmupdate_companies), against the real schema of PAYLINK_DB: those with an authorization
 * in review on the bureau, noted by migration 029's trigger as reviews arrive (inserted as a
 * review or updated to one, by any statement), and those with an earlier run; not those whose
 * authorizations are not in review, nor another bureau's. Everything runs in one transaction
 * that is rolled back.
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

#include "db.h"
#include "dmupdate.h"
#include "it_unit.h"

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

/* Companies 900-999 that neither bureau's list holds yet: the test's own. */
static void free_companies(int *out, int want)
{
    int cyb[1000], ext[1000];
    int nc = pl_dmupdate_companies(g_db, "CYB", cyb, 1000);
    int ne = pl_dmupdate_companies(g_db, "EXT", ext, 1000);
    assert_true(nc >= 0 && ne >= 0);
    int n = 0;
    for (int c = 999; c >= 900 && n < want; c--)
        if (!has(cyb, nc, c) && !has(ext, ne, c))
            out[n++] = c;
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

    int cyb[1000], ext[1000];
    int nc = pl_dmupdate_companies(g_db, "CYB", cyb, 1000);
    int ne = pl_dmupdate_companies(g_db, "EXT", ext, 1000);
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
    /* At most max. */
    int two[2];
    assert_int_equal(pl_dmupdate_companies(g_db, "CYB", two, 2), nc < 2 ? nc : 2);
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
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
