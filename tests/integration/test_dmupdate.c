/*
 * test_dmupdate.c: the companies paylink-dmupdate updates when none are configured
 * (pl_dmupdate_companies), against the real schema of PAYLINK_DB: those with an authorization
 * in review on the bureau, noted by migration 029's trigger as reviews arrive (inserted as a
 * review or updated to one, by any statement), and those with an earlier run, every one of
 * them; not those whose authorizations are not in review, nor another bureau's. The publishing
 * of pending decisions (pl_dmupdate_publish) on the environment's Kafka: every acknowledged
 * decision marked, however many. The window length limit a run starts with, from dm_run
 * (pl_dmupdate_limit_start). A producer broken by a fatal error is made again before a publish
 * (else nothing was ever published again). The steps of a run that ask the report service
 * again, against an HTTPS server of the test's own (tests/unit/https_test_server.h) that
 * answers HTTP 500 where the test says: the windows owed to merchant IDs first noted during a
 * run (pl_dmupdate_ask_new_merchants) land in dm_recheck when their reports are not had, and a
 * recheck that fails neither holds the later ones back nor stays for good
 * (pl_dmupdate_rechecks); one the service says is too large is split in its place, and windows
 * refused for a reason of their own do not end the pass (pl_dmupdate_refusal). A whole run
 * (pl_dmupdate_run): its window starts PAYLINK_DM_OVERLAP_S before the last one's end, a
 * report with a conversion that cannot be read is applied all the same, that one skipped, and a
 * conversion older than a decision recorded already for its authorization is recorded but not
 * acted on, paylink-deposit's look-ups reading the newer one; and it needs no secret of the
 * bureau's own settings (auth_service.secret_ref), only the report password of dm_settings,
 * which it keeps when its file is left unreadable under the same reference (never when the
 * reference changed). Everything runs in one transaction that is rolled back (the published events
 * stay on paylink.dm.decision, for an order of a company of the test's own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>

#include "../unit/https_test_server.h"
#include "config.h"
#include "db.h"
#include "deposit.h"
#include "dmupdate.h"
#include "it_unit.h"
#include "kafka.h"
#include "services.h"

static PGconn *g_db;

/* ---- the report service of the tests ---- */

/* Started by the first test that needs it (report_service), stopped by the group teardown. */
static https_test_server g_srv;
static char g_dir[64], g_ca[128];
static char *g_cert, *g_key;

/* A request whose body holds one of these (say "merchantID=m&", "startDate=2014-06-20&") is
 * answered HTTP 500; any other an empty report. Set while no request is in flight. */
static const char *g_fail[4];

/* A request whose body holds match is answered text, HTTP 200: the service's plain-text
 * refusal. Set while no request is in flight. */
static struct {
    const char *match, *text;
} g_refuse[4];

/* A request neither failed nor refused is answered this report; NULL: an empty one. Set while
 * no request is in flight. */
static const char *g_body;

/* What was asked: "<merchant> <startDate> <startTime>" of each request, in order (the time as
 * the form has it: "16%3A55%3A00"). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_asked[256][64];
static int g_nasked;
/* The password form value of the last request. */
static char g_password[64];

/* The form value of name in body ("" when absent), up to its '&'. */
static void form_value(const char *body, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    const char *v = strstr(body, name);
    if (!v)
        return;
    v += strlen(name);
    size_t n = strcspn(v, "&");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), v);
}

static enum MHD_Result on_report(struct MHD_Connection *c, const char *url, const char *method,
                                 const char *body)
{
    (void)url;
    (void)method;
    char merchant[32], start[16], start_time[16];
    form_value(body, "merchantID=", merchant, sizeof merchant);
    form_value(body, "startDate=", start, sizeof start);
    form_value(body, "startTime=", start_time, sizeof start_time);
    pthread_mutex_lock(&g_mu);
    if (g_nasked < (int)(sizeof g_asked / sizeof g_asked[0]))
        snprintf(g_asked[g_nasked++], sizeof g_asked[0], "%s %s %s", merchant, start, start_time);
    form_value(body, "&password=", g_password, sizeof g_password);
    pthread_mutex_unlock(&g_mu);
    bool fail = false;
    for (size_t i = 0; i < sizeof g_fail / sizeof g_fail[0] && !fail; i++)
        fail = g_fail[i] && strstr(body, g_fail[i]);
    static const char empty[] = "<Report MerchantID=\"mr\" Name=\"Conversion Detail Report\" "
                                "Version=\"1.1\"/>";
    static const char oops[] = "Internal Server Error";
    const char *text = fail ? oops : g_body ? g_body : empty;
    for (size_t i = 0; i < sizeof g_refuse / sizeof g_refuse[0] && !fail; i++)
        if (g_refuse[i].match && strstr(body, g_refuse[i].match))
            text = g_refuse[i].text;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, fail ? 500 : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* How many requests asked "<merchant> <startDate>" (merchant "" or start "": any). */
static int asked(const char *merchant, const char *start)
{
    int n = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_nasked; i++) {
        char m[32] = "", s[16] = "";
        sscanf(g_asked[i], "%31s %15s", m, s);
        n += (!*merchant || strcmp(m, merchant) == 0) && (!*start || strcmp(s, start) == 0);
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* How many requests asked from "<startDate> <startTime>" (the time as the form has it). */
static int asked_from(const char *start)
{
    int n = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_nasked; i++) {
        const char *from = strchr(g_asked[i], ' ');
        n += from && strcmp(from + 1, start) == 0;
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* Forgets what was asked, what fails and the report answered. */
static void report_reset(void)
{
    pthread_mutex_lock(&g_mu);
    g_nasked = 0;
    pthread_mutex_unlock(&g_mu);
    g_body = NULL;
    memset(g_fail, 0, sizeof g_fail);
    memset(g_refuse, 0, sizeof g_refuse);
}

/* A paylink-dmupdate of the test's own on g_db, asking the test's report service (*cfg its
 * configuration, for pl_config_free). */
static pl_dmupdate *report_service(pl_config *cfg)
{
    if (!g_srv.d) {
        if (https_test_dir_new(g_dir, sizeof g_dir, "it_dmupdate") != 0 ||
            https_test_make_cert(g_dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1",
                                 &g_cert, &g_key, g_ca, sizeof g_ca) != 0 ||
            https_test_server_start(&g_srv, g_cert, g_key, on_report) != 0)
            fail_msg("the test's report service did not start");
    }
    report_reset();
    char err[512] = "";
    if (pl_config_from_env(cfg, "dmupdate", err, sizeof err) != 0)
        fail_msg("configuration: %s", err);
    snprintf(cfg->ca_file, sizeof cfg->ca_file, "%s", g_ca);
    pl_dmupdate *d = pl_dmupdate_new(
        cfg, g_db, https_test_url(0, "127.0.0.1", g_srv.port, "/ConversionDetailReportRequest.do"),
        err, sizeof err);
    if (!d)
        fail_msg("pl_dmupdate_new: %s", err);
    return d;
}

/* The window from start to end ("2014-06-21 00:00:00+00"), as a run asked it. */
static pl_dm_window window(const char *start, const char *end)
{
    const char *p[] = {start, end};
    PGresult *r = PQexecParams(g_db,
                               "SELECT extract(epoch FROM $1::timestamptz)::bigint, "
                               "extract(epoch FROM $2::timestamptz)::bigint",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int64_t s = strtoll(PQgetvalue(r, 0, 0), NULL, 10), e = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    pl_dm_window w;
    pl_dm_window_next(s, e, &w, NULL);
    assert_int_equal(w.start, s);
    assert_int_equal(w.end, e);
    return w;
}

/* The dm_recheck rows of company on CYB: "<window_start date> <deferred>," each, oldest first. */
static char *rechecks_of(int company, char *out, size_t size)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co};
    PGresult *r =
        PQexecParams(g_db,
                     "SELECT coalesce(string_agg(to_char(window_start AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD') || ' ' || deferred, ',' ORDER BY window_start), '') "
                     "FROM dm_recheck WHERE company = $1::int AND service_bureau = 'CYB'",
                     1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static int group_setup(void **state)
{
    (void)state;
    const char *conninfo;
    return (g_db = it_admin_connect(&conninfo)) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    https_test_server_stop(&g_srv);
    if (g_dir[0])
        (void)https_test_dir_remove(g_dir);
    free(g_cert);
    free(g_key);
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

    int sent = pl_dmupdate_publish(g_db, &producer, &cfg, mine[0], "CYB");
    assert_int_equal(sent, 1233);
    assert_int_equal(unpublished(mine[0]), 0);
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM dm_decision WHERE company = $1::int "
                             "AND published_at = '2014-06-24 18:00:00+00'",
                             co),
                     1);
    /* The next run: nothing left to send. */
    assert_int_equal(pl_dmupdate_publish(g_db, &producer, &cfg, mine[0], "CYB"), 0);
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

/* One decision of company for the authorization auth_id, not published, named by tx. */
static void decision(int company, const char *auth_id, const char *tx)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, auth_id, tx};
    it_exec(g_db,
            "INSERT INTO dm_decision (company, service_bureau, transaction_id, conversion_date, "
            "merchant_reference, original_decision, new_decision, auth_request_id, order_number, "
            "pay_seq, action, event) VALUES ($1::int, 'CYB', $3::text, '2014-06-24 17:03:03', $2, "
            "'REVIEW', 'ACCEPT', $2, 'IT-DMU-PUB', 1, 'release_hold', jsonb_build_object('v', 1, "
            "'company', $1::int, 'order', 'IT-DMU-PUB', 'transaction_id', $3::text, "
            "'original_decision', 'REVIEW', 'new_decision', 'ACCEPT', 'action', 'release_hold', "
            "'messages', '[]'::jsonb))",
            3, p);
}

/*
 * A producer that met a fatal error (librdkafka's idempotent producer after an out-of-order
 * sequence: every produce fails at once, for good) is made again before the next publish: the
 * decision recorded after it is published. Before, paylink-dmupdate kept the broken producer and
 * never published a decision again (a REJECT's reversal never requested: the funds held) while
 * its runs and health looked fine.
 */
static void test_publish_after_fatal_error(void **state)
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
    char auth_id[64], tx[80];
    snprintf(auth_id, sizeof auth_id, "it-dmu-fatal-%ld", (long)getpid());
    auth(auth_id, mine[0], "CYB", "review", false);
    snprintf(tx, sizeof tx, "%s-1", auth_id);
    decision(mine[0], auth_id, tx);
    assert_int_equal(pl_dmupdate_publish(g_db, &producer, &cfg, mine[0], "CYB"), 1);

    assert_int_equal(
        rd_kafka_test_fatal_error(producer, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "t"),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_not_equal(rd_kafka_fatal_error(producer, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    snprintf(tx, sizeof tx, "%s-2", auth_id);
    decision(mine[0], auth_id, tx);
    assert_int_equal(unpublished(mine[0]), 1);
    assert_int_equal(pl_dmupdate_publish(g_db, &producer, &cfg, mine[0], "CYB"), 1);
    assert_int_equal(unpublished(mine[0]), 0);
    assert_int_equal(rd_kafka_fatal_error(producer, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    it_exec(g_db, "ROLLBACK", 0, NULL);

    rd_kafka_flush(producer, 10000);
    rd_kafka_destroy(producer);
    pl_config_free(&cfg);
}

/* Notes merchant ID id's first review on CYB for company at first ("2014-06-21 12:00:00+00"). */
static void merchant(int company, const char *id, const char *first)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, id, first};
    it_exec(g_db,
            "INSERT INTO dm_review_merchant (service_bureau, company, merchant_id, "
            "first_review_at) VALUES ('CYB', $1::int, $2, $3::timestamptz)",
            3, p);
}

/*
 * Two merchant IDs first noted while a run asked three windows: it_dmu_a on the second
 * (2014-06-21 12:00), it_dmu_b on the third (06-22 12:00). Each is asked the windows that end
 * after its first review; when a report call fails, every window still owed (to the merchant ID
 * that failed and to the ones after it) is noted in dm_recheck (deferred 1: asked again of every
 * merchant ID by the next run, which starts after those windows). Before, the failure was only
 * logged as "asked again next run": no run ever asked those windows of those merchant IDs again,
 * and a reviewer's REJECT or ACCEPT in them was never applied.
 */
static void test_new_merchants_failure_rechecked(void **state)
{
    (void)state;
    pl_config cfg;
    pl_dmupdate *d = report_service(&cfg);
    const char known[1][31] = {"paylink_demo"};
    pl_dm_window w[3] = {window("2014-06-20 00:00:00+00", "2014-06-21 00:00:00+00"),
                         window("2014-06-21 00:00:00+00", "2014-06-22 00:00:00+00"),
                         window("2014-06-22 00:00:00+00", "2014-06-23 00:00:00+00")};
    char rows[256];

    /* The first merchant ID's first report fails: it and the second owe the last two. */
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    merchant(mine[0], "it_dmu_a", "2014-06-21 12:00:00+00");
    merchant(mine[0], "it_dmu_b", "2014-06-22 12:00:00+00");
    g_fail[0] = "merchantID=it_dmu_a&";
    assert_true(pl_dmupdate_ask_new_merchants(d, mine[0], "CYB", known, 1, w, 3) < 0);
    assert_int_equal(asked("it_dmu_a", "2014-06-21"), 1);
    assert_int_equal(asked("it_dmu_b", ""), 0); /* not asked after the failure */
    assert_string_equal(rechecks_of(mine[0], rows, sizeof rows), "2014-06-21 1,2014-06-22 1");
    it_exec(g_db, "ROLLBACK", 0, NULL);

    /* The second merchant ID's report fails: the first had both of its windows; the last owed. */
    report_reset();
    it_exec(g_db, "BEGIN", 0, NULL);
    merchant(mine[0], "it_dmu_a", "2014-06-21 12:00:00+00");
    merchant(mine[0], "it_dmu_b", "2014-06-22 12:00:00+00");
    g_fail[0] = "merchantID=it_dmu_b&";
    assert_true(pl_dmupdate_ask_new_merchants(d, mine[0], "CYB", known, 1, w, 3) < 0);
    assert_int_equal(asked("it_dmu_a", "2014-06-20"), 0); /* before its first review */
    assert_int_equal(asked("it_dmu_a", "2014-06-21"), 1);
    assert_int_equal(asked("it_dmu_a", "2014-06-22"), 1);
    assert_int_equal(asked("it_dmu_b", "2014-06-22"), 1);
    assert_string_equal(rechecks_of(mine[0], rows, sizeof rows), "2014-06-22 1");
    /* A row there already (conversions deferred) keeps its count. */
    char co[16];
    snprintf(co, sizeof co, "%d", mine[0]);
    const char *p[] = {co};
    it_exec(g_db,
            "UPDATE dm_recheck SET deferred = 3 WHERE company = $1::int AND service_bureau = 'CYB'",
            1, p);
    assert_true(pl_dmupdate_ask_new_merchants(d, mine[0], "CYB", known, 1, w, 3) < 0);
    assert_string_equal(rechecks_of(mine[0], rows, sizeof rows), "2014-06-22 3");
    it_exec(g_db, "ROLLBACK", 0, NULL);

    /* Every report had: nothing owed. */
    report_reset();
    it_exec(g_db, "BEGIN", 0, NULL);
    merchant(mine[0], "it_dmu_a", "2014-06-21 12:00:00+00");
    merchant(mine[0], "it_dmu_b", "2014-06-22 12:00:00+00");
    assert_int_equal(pl_dmupdate_ask_new_merchants(d, mine[0], "CYB", known, 1, w, 3), 0);
    assert_int_equal(asked("", ""), 3);
    assert_string_equal(rechecks_of(mine[0], rows, sizeof rows), "");
    it_exec(g_db, "ROLLBACK", 0, NULL);

    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);
}

/*
 * More merchant IDs first noted during a run than it asks the reports of (64): the windows the
 * ones past the cap owe are noted in dm_recheck, and the run does not fail for it. Before, they
 * were logged as "covered from the next run only", which starts after those windows.
 */
static void test_new_merchants_past_cap_rechecked(void **state)
{
    (void)state;
    pl_config cfg;
    pl_dmupdate *d = report_service(&cfg);
    const char known[1][31] = {"paylink_demo"};
    pl_dm_window w[2] = {window("2014-06-20 00:00:00+00", "2014-06-21 00:00:00+00"),
                         window("2014-06-21 00:00:00+00", "2014-06-22 00:00:00+00")};
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    for (int i = 0; i < 66; i++) {
        char id[31], first[40];
        snprintf(id, sizeof id, "it_dmu_%02d", i);
        snprintf(first, sizeof first, "2014-06-21 %02d:%02d:00+00", 10 + i / 60, i % 60);
        merchant(mine[0], id, first);
    }
    assert_int_equal(pl_dmupdate_ask_new_merchants(d, mine[0], "CYB", known, 1, w, 2), 0);
    assert_int_equal(asked("", "2014-06-21"), 64);
    assert_int_equal(asked("it_dmu_64", ""), 0);
    char rows[256];
    assert_string_equal(rechecks_of(mine[0], rows, sizeof rows), "2014-06-21 1");
    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);
}

/* A recheck test's own paylink-dmupdate (asking the test's report service for merchant
 * paylink_demo), in a transaction recheck_end rolls back, with a company of its own (co: as text,
 * for the windows the test notes in dm_recheck). */
typedef struct {
    pl_config cfg;
    pl_dmupdate *d;
    int company;
    char co[16];
} recheck_fx;

static void recheck_begin(recheck_fx *f)
{
    f->d = report_service(&f->cfg);
    it_exec(g_db, "BEGIN", 0, NULL);
    free_companies(&f->company, 1);
    snprintf(f->co, sizeof f->co, "%d", f->company);
}

/* One recheck pass of the company's noted windows: pl_dmupdate_rechecks's result. */
static int recheck_run(recheck_fx *f)
{
    const char merchants[1][31] = {"paylink_demo"};
    return pl_dmupdate_rechecks(f->d, f->company, "CYB", merchants, 1);
}

static void recheck_end(recheck_fx *f)
{
    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(f->d);
    pl_config_free(&f->cfg);
}

/*
 * Three recheck windows whose first and last reports fail: the oldest, noted four days ago, is
 * given up (deleted, logged); the middle one is asked all the same and, none of its conversions
 * deferred, done; the last, noted just now, stays for the next run. Before, the first failure
 * stopped the rechecks (the others never asked) and a window always refused stayed for good:
 * every later recheck held back for ever.
 */
static void test_recheck_failure_goes_on(void **state)
{
    (void)state;
    recheck_fx f;
    recheck_begin(&f);
    const char *p[] = {f.co};
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred, "
            "created_at) VALUES "
            "($1::int, 'CYB', '2014-06-20 00:00+00', '2014-06-21 00:00+00', 1, "
            "now() - interval '4 days'), "
            "($1::int, 'CYB', '2014-06-21 00:00+00', '2014-06-22 00:00+00', 1, now()), "
            "($1::int, 'CYB', '2014-06-22 00:00+00', '2014-06-23 00:00+00', 2, now())",
            1, p);
    g_fail[0] = "startDate=2014-06-20&";
    g_fail[1] = "startDate=2014-06-22&";
    assert_true(recheck_run(&f) < 0);
    assert_int_equal(asked("paylink_demo", "2014-06-20"), 1);
    assert_int_equal(asked("paylink_demo", "2014-06-21"), 1);
    assert_int_equal(asked("paylink_demo", "2014-06-22"), 1);
    char rows[256];
    assert_string_equal(rechecks_of(f.company, rows, sizeof rows), "2014-06-22 2");
    /* All read: nothing left. */
    report_reset();
    assert_int_equal(recheck_run(&f), 0);
    assert_string_equal(rechecks_of(f.company, rows, sizeof rows), "");
    /* The service itself away (two windows in a row refused): the pass ends there, the third
     * window is not asked (each failing call costs its timeout and connection attempts), and
     * all three stay for the next run. */
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred) "
            "VALUES ($1::int, 'CYB', '2014-06-24 00:00+00', '2014-06-25 00:00+00', 1), "
            "($1::int, 'CYB', '2014-06-25 00:00+00', '2014-06-26 00:00+00', 1), "
            "($1::int, 'CYB', '2014-06-26 00:00+00', '2014-06-27 00:00+00', 1)",
            1, p);
    report_reset();
    g_fail[0] = "startDate=2014-06-24&";
    g_fail[1] = "startDate=2014-06-25&";
    assert_true(recheck_run(&f) < 0);
    assert_int_equal(asked("paylink_demo", "2014-06-24"), 1);
    assert_int_equal(asked("paylink_demo", "2014-06-25"), 1);
    assert_int_equal(asked("paylink_demo", "2014-06-26"), 0);
    assert_string_equal(rechecks_of(f.company, rows, sizeof rows),
                        "2014-06-24 1,2014-06-25 1,2014-06-26 1");
    recheck_end(&f);
}

/*
 * A noted window whose start has a fraction of a second (047's backfill drew them from
 * first_review_at) is written back by its start as stored: read, it is done and gone. Before,
 * its delete named the whole second (to_timestamp of the epoch), matched nothing, and the window
 * was asked again every run, and logged as given up every run after three days.
 */
static void test_recheck_fractional_start(void **state)
{
    (void)state;
    recheck_fx f;
    recheck_begin(&f);
    const char *p[] = {f.co};
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred) "
            "VALUES ($1::int, 'CYB', '2014-06-20 00:00:00.4+00', '2014-06-21 00:00:00.4+00', 1), "
            "($1::int, 'CYB', '2014-06-22 00:00:00.6+00', '2014-06-23 00:00:00.6+00', 1)",
            1, p);
    /* Asked from the whole second before it, its fraction included: not from the one after. */
    g_fail[0] = "startDate=2014-06-22&startTime=00%3A00%3A01&";
    assert_int_equal(recheck_run(&f), 0);
    assert_int_equal(asked("paylink_demo", "2014-06-20"), 1);
    assert_int_equal(asked("paylink_demo", "2014-06-22"), 1);
    char rows[256];
    assert_string_equal(rechecks_of(f.company, rows, sizeof rows), "");
    recheck_end(&f);
}

/* The dm_recheck rows of company on CYB with their times: "<start>-<end> <deferred> <created
 * before the cut, t or f>," each ("2014-06-24 12:00-2014-06-25 00:00 1 t"), oldest first. */
static char *recheck_rows(int company, const char *cut, char *out, size_t size)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, cut};
    PGresult *r =
        PQexecParams(g_db,
                     "SELECT coalesce(string_agg(to_char(window_start AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD HH24:MI') || '-' || to_char(window_end AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD HH24:MI') || ' ' || deferred || ' ' || "
                     "CASE WHEN created_at < $2::timestamptz THEN 't' ELSE 'f' END, ',' "
                     "ORDER BY window_start), '') FROM dm_recheck WHERE company = $1::int "
                     "AND service_bureau = 'CYB'",
                     2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

/* The service's refusals, read: its own (every window alike), a window too large, a window's
 * dates. */
static void test_refusal(void **state)
{
    (void)state;
    assert_int_equal(pl_dmupdate_refusal(NULL), PL_DM_REFUSED_SERVICE);
    assert_int_equal(pl_dmupdate_refusal("the report service refused the request: Invalid login "
                                         "credentials."),
                     PL_DM_REFUSED_SERVICE);
    assert_int_equal(pl_dmupdate_refusal("No merchant found for username."), PL_DM_REFUSED_SERVICE);
    assert_int_equal(pl_dmupdate_refusal("Too many requests, try again later."),
                     PL_DM_REFUSED_SERVICE);
    assert_int_equal(pl_dmupdate_refusal("Maximum login attempts exceeded."),
                     PL_DM_REFUSED_SERVICE);
    assert_int_equal(pl_dmupdate_refusal("Something went wrong."), PL_DM_REFUSED_SERVICE);
    assert_int_equal(pl_dmupdate_refusal("the report service refused the request: Report too "
                                         "large. Please narrow the date range."),
                     PL_DM_REFUSED_TOO_LARGE);
    assert_int_equal(pl_dmupdate_refusal("The report exceeds the maximum number of records."),
                     PL_DM_REFUSED_TOO_LARGE);
    assert_int_equal(pl_dmupdate_refusal("Start date is before the first day reports are kept."),
                     PL_DM_REFUSED_WINDOW);
    assert_int_equal(pl_dmupdate_refusal("INVALID DATE RANGE"), PL_DM_REFUSED_WINDOW);
}

/*
 * A noted window whose report the service says is too large is split in its place, into halves
 * that keep its created_at (the three-day bound still counts from its noting), and they are
 * asked in the same pass: read, the window is done. Before, it was asked again at its width
 * every run, refused every time, and given up after three days: its REJECTs never applied. A
 * half that then fails otherwise stays, narrower, with the window's created_at; a window of five
 * minutes said too large is not split further (given up after three days as before).
 */
static void test_recheck_too_large_split(void **state)
{
    (void)state;
    recheck_fx f;
    recheck_begin(&f);
    const char *p[] = {f.co};
    static const char too_large[] = "Report too large. Please narrow the date range.";
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred, "
            "created_at) VALUES "
            "($1::int, 'CYB', '2014-06-24 00:00+00', '2014-06-25 00:00+00', 2, "
            "now() - interval '1 day'), "
            "($1::int, 'CYB', '2014-06-26 00:00+00', '2014-06-26 00:05+00', 1, "
            "now() - interval '1 day')",
            1, p);
    /* The whole day (not its halves) and the five minutes are too large. */
    g_refuse[0].match = "startDate=2014-06-24&startTime=00%3A00%3A00&endDate=2014-06-25&";
    g_refuse[0].text = too_large;
    g_refuse[1].match = "startDate=2014-06-26&";
    g_refuse[1].text = too_large;
    /* The second half fails for a reason not its own. */
    g_fail[0] = "startDate=2014-06-24&startTime=12%3A00%3A00&";
    assert_true(recheck_run(&f) < 0);
    assert_int_equal(asked("paylink_demo", "2014-06-24"), 3); /* the day, then its halves */
    assert_int_equal(asked("paylink_demo", "2014-06-26"), 1);
    char rows[512];
    assert_string_equal(recheck_rows(f.company, "now", rows, sizeof rows),
                        "2014-06-24 12:00-2014-06-25 00:00 2 t,"
                        "2014-06-26 00:00-2014-06-26 00:05 1 t");
    /* The half read next: done. */
    report_reset();
    g_refuse[0].match = "startDate=2014-06-26&";
    g_refuse[0].text = too_large;
    assert_true(recheck_run(&f) < 0);
    assert_int_equal(asked("paylink_demo", "2014-06-24"), 1);
    assert_string_equal(recheck_rows(f.company, "now", rows, sizeof rows),
                        "2014-06-26 00:00-2014-06-26 00:05 1 t");
    it_exec(g_db, "ROLLBACK", 0, NULL);

    /* Every half said too large again: split again (quarters of the first half), each kept. */
    report_reset();
    it_exec(g_db, "BEGIN", 0, NULL);
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred, "
            "created_at) VALUES ($1::int, 'CYB', '2014-06-24 00:00+00', '2014-06-25 00:00+00', 1, "
            "now() - interval '1 day')",
            1, p);
    g_refuse[0].match = "startTime=00%3A00%3A00&endDate=2014-06-25&";
    g_refuse[0].text = too_large;
    g_refuse[1].match = "startTime=00%3A00%3A00&endDate=2014-06-24&endTime=12";
    g_refuse[1].text = too_large;
    g_fail[0] = "startDate=2014-06-24&startTime=06%3A00%3A00&";
    g_fail[1] = "startDate=2014-06-24&startTime=12%3A00%3A00&";
    assert_true(recheck_run(&f) < 0);
    /* The day, its first half, that half's quarters, the second half. */
    assert_int_equal(asked("paylink_demo", "2014-06-24"), 5);
    assert_string_equal(recheck_rows(f.company, "now", rows, sizeof rows),
                        "2014-06-24 06:00-2014-06-24 12:00 1 t,"
                        "2014-06-24 12:00-2014-06-25 00:00 1 t");
    recheck_end(&f);
}

/*
 * Noted windows the service refuses for a reason of their own — their dates, or too large at
 * the narrowest — do not end the recheck pass: the window after them is asked. Before, two such
 * in a row ended every pass, and the later windows waited until those were given up (three
 * days). Two refused for the service's reason (the login) still end it.
 */
static void test_recheck_window_refusals_go_on(void **state)
{
    (void)state;
    recheck_fx f;
    recheck_begin(&f);
    const char *p[] = {f.co};
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred) "
            "VALUES ($1::int, 'CYB', '2014-06-24 00:00+00', '2014-06-25 00:00+00', 1), "
            "($1::int, 'CYB', '2014-06-25 00:00+00', '2014-06-25 00:05+00', 1), "
            "($1::int, 'CYB', '2014-06-26 00:00+00', '2014-06-27 00:00+00', 1)",
            1, p);
    g_refuse[0].match = "startDate=2014-06-24&";
    g_refuse[0].text = "Start date is before the first day reports are kept.";
    g_refuse[1].match = "startDate=2014-06-25&";
    g_refuse[1].text = "Report too large. Please narrow the date range.";
    assert_true(recheck_run(&f) < 0);
    assert_int_equal(asked("paylink_demo", "2014-06-24"), 1);
    assert_int_equal(asked("paylink_demo", "2014-06-25"), 1);
    assert_int_equal(asked("paylink_demo", "2014-06-26"), 1);
    char rows[256];
    assert_string_equal(rechecks_of(f.company, rows, sizeof rows), "2014-06-24 1,2014-06-25 1");

    /* The login refused twice: the service's own; the third window waits for the next run. */
    report_reset();
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred) "
            "VALUES ($1::int, 'CYB', '2014-06-26 00:00+00', '2014-06-27 00:00+00', 1)",
            1, p);
    g_refuse[0].match = "startDate=2014-06-24&";
    g_refuse[0].text = "Invalid login credentials.";
    g_refuse[1].match = "startDate=2014-06-25&";
    g_refuse[1].text = "Invalid login credentials.";
    assert_true(recheck_run(&f) < 0);
    assert_int_equal(asked("paylink_demo", "2014-06-26"), 0);
    assert_string_equal(rechecks_of(f.company, rows, sizeof rows),
                        "2014-06-24 1,2014-06-25 1,2014-06-26 1");
    recheck_end(&f);
}

/*
 * A refusal worded as "too large" that stays so at the narrowest width (a limit on how far back
 * reports go: "exceeds the maximum report history") is the service's: the window is split down
 * to 5 minutes once, and two such refusals at that width end the pass. Before, it never
 * counted: every noted day became 288 windows of 5 minutes, each asked, every run.
 */
static void test_recheck_too_large_forever_ends(void **state)
{
    (void)state;
    recheck_fx f;
    recheck_begin(&f);
    const char *p[] = {f.co};
    it_exec(g_db,
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred) "
            "VALUES ($1::int, 'CYB', '2014-06-24 00:00+00', '2014-06-25 00:00+00', 1), "
            "($1::int, 'CYB', '2014-06-26 00:00+00', '2014-06-27 00:00+00', 1)",
            1, p);
    g_refuse[0].match = "merchantID=";
    g_refuse[0].text = "The start date exceeds the maximum report history.";
    assert_true(recheck_run(&f) < 0);
    /* 24 h halved down to 5 minutes (nine calls), then the next 5 minutes: the second refusal
     * at the narrowest width ends the pass; the second noted day is not asked. */
    assert_in_range(asked("paylink_demo", ""), 2, 12);
    assert_int_equal(asked("paylink_demo", "2014-06-26"), 0);
    /* Nothing lost: the day is still noted, in its pieces, and so is the other one. */
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM dm_recheck WHERE company = $1::int AND "
                             "service_bureau = 'CYB' AND window_start >= '2014-06-24' AND "
                             "window_end <= '2014-06-25' AND window_end > window_start",
                             f.co) > 1,
                     1);
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM dm_recheck WHERE company = $1::int AND "
                             "service_bureau = 'CYB' AND window_start = '2014-06-26 00:00+00'",
                             f.co),
                     1);
    recheck_end(&f);
}

/* Notes a successful window of company on CYB that ended an hour ago, 16:00 to 17:00 say (it
 * reached the time it was asked at, so the next run asks windows of up to 24 hours). */
static void last_run_an_hour_ago(int company)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co};
    it_exec(g_db,
            "INSERT INTO dm_run (company, service_bureau, merchant_id, window_start, window_end, "
            "conversions, applied, skipped, started_at, run_by) VALUES ($1::int, 'CYB', "
            "'paylink_demo', date_trunc('second', now()) - interval '2 hours', "
            "date_trunc('second', now()) - interval '1 hour', 0, 0, 0, "
            "date_trunc('second', now()) - interval '1 hour', 'test')",
            1, p);
}

/* How many dm_run rows of company on CYB start `back` before the end of the one
 * last_run_an_hour_ago noted and end after it. */
static long runs_from(int company, const char *back)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, back};
    PGresult *r = PQexecParams(g_db,
                               "SELECT count(*) FROM dm_run WHERE company = $1::int AND "
                               "service_bureau = 'CYB' AND window_start = date_trunc('second', "
                               "now()) - interval '1 hour' - $2::interval AND window_end > "
                               "date_trunc('second', now()) - interval '1 hour'",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* "<startDate> <startTime>" as the form has it, of `back` before the end last_run_an_hour_ago
 * noted. */
static void form_start(const char *back, char *out, size_t size)
{
    it_value(g_db,
             "SELECT to_char((date_trunc('second', now()) - interval '1 hour' - $1::interval) "
             "AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24\"%3A\"MI\"%3A\"SS')",
             back, NULL, out, size);
}

/*
 * A run's window starts PAYLINK_DM_OVERLAP_S (300 s unless set) before the end of the last one
 * read, so that a conversion dated just before that end but shown in the report only later
 * (its lag, the worker's clock ahead of CyberSource's) is asked for again. Before, each window
 * started exactly at the last end: such a conversion was never asked for, its REJECT never
 * applied. The setting is read as the process reads it; a bad value refuses to start.
 */
static void test_run_overlap(void **state)
{
    (void)state;
    unsetenv("PAYLINK_DM_OVERLAP_S"); /* the default first */
    pl_config cfg;
    pl_dmupdate *d = report_service(&cfg);
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    last_run_an_hour_ago(mine[0]);
    assert_int_equal(pl_dmupdate_run(d, mine[0], "CYB"), 0);
    char from[40];
    form_start("5 minutes", from, sizeof from);
    assert_true(asked_from(from) >= 1);
    assert_int_equal(asked_from(from), asked("", ""));
    assert_int_equal(runs_from(mine[0], "5 minutes"), 1);
    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);

    /* Set to a minute. */
    setenv("PAYLINK_DM_OVERLAP_S", "60", 1);
    d = report_service(&cfg);
    it_exec(g_db, "BEGIN", 0, NULL);
    last_run_an_hour_ago(mine[0]);
    assert_int_equal(pl_dmupdate_run(d, mine[0], "CYB"), 0);
    form_start("1 minute", from, sizeof from);
    assert_true(asked_from(from) >= 1);
    assert_int_equal(runs_from(mine[0], "1 minute"), 1);
    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);

    /* Out of range or not a number: no handle, and the setting named. */
    static const char *const bad[] = {"3601", "-1", "5m", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("PAYLINK_DM_OVERLAP_S", bad[i], 1);
        char err[512] = "";
        assert_int_equal(pl_config_from_env(&cfg, "dmupdate", err, sizeof err), 0);
        assert_null(pl_dmupdate_new(&cfg, g_db, NULL, err, sizeof err));
        assert_non_null(strstr(err, "PAYLINK_DM_OVERLAP_S"));
        pl_config_free(&cfg);
    }
    unsetenv("PAYLINK_DM_OVERLAP_S");
}

/*
 * A run does not need the bureau's own secret (auth_service.secret_ref, the transaction key the
 * engine and the resolver hold and carry across their refreshes, services.h): the report is
 * asked with dm_settings' user and password, read at the call, and the merchant ID is all a run
 * takes from the bureau's settings. So the bureau's key unreadable at a cycle's load (a file
 * missing on this host) holds back no decision, and paylink-dmupdate has no secret of
 * pl_services_carry's to carry.
 */
static void test_run_without_the_bureau_secret(void **state)
{
    (void)state;
    unsetenv("PAYLINK_DM_OVERLAP_S"); /* the default (runs_from) */
    pl_config cfg;
    pl_dmupdate *d = report_service(&cfg);
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    last_run_an_hour_ago(mine[0]);
    it_exec(g_db,
            "UPDATE auth_service SET secret_ref = 'file:/nonexistent/paylink-it-dmupdate.key' "
            "WHERE service_bureau = 'CYB'",
            0, NULL);
    /* As the cycle's load reads it: the bureau unusable for want of its key. */
    char err[256] = "";
    pl_services *s = pl_services_load(g_db, err, sizeof err);
    if (!s)
        fail_msg("pl_services_load: %s", err);
    assert_false(pl_services_find(s, "CYB")->secret_ok);
    pl_services_unref(s);
    assert_int_equal(pl_dmupdate_run(d, mine[0], "CYB"), 0);
    assert_true(asked("", "") >= 1);
    assert_int_equal(runs_from(mine[0], "5 minutes"), 1);
    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);
}

/* The last request's password form value into out. */
static void asked_password(char *out, size_t size)
{
    pthread_mutex_lock(&g_mu);
    snprintf(out, size, "%s", g_password);
    pthread_mutex_unlock(&g_mu);
}

/*
 * The report password file left unreadable under the same reference (here mode 0644; an owner
 * changed, a file being rotated) does not fail the runs: the password read before is asked
 * with. Before, every run failed until someone fixed the file, and with it the decisions (and
 * the reversals that release holds on cards) waited. A changed reference is read afresh: one
 * that cannot be read fails the run, nothing asked with the old password.
 */
static void test_run_password_kept(void **state)
{
    (void)state;
    unsetenv("PAYLINK_DM_OVERLAP_S");
    char dir[] = "/tmp/it_dmupdate_pw.XXXXXX", path[96], ref[128], seen[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/report.pw", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("It-Report-Pw1!\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(ref, sizeof ref, "file:%s", path);

    pl_config cfg;
    pl_dmupdate *d = report_service(&cfg);
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[3]; /* a company of its own for each run: each asks the last hour */
    free_companies(mine, 3);
    last_run_an_hour_ago(mine[0]);
    const char *p[] = {ref};
    it_exec(g_db, "UPDATE dm_settings SET password_ref = $1 WHERE service_bureau = 'CYB'", 1, p);
    assert_int_equal(pl_dmupdate_run(d, mine[0], "CYB"), 0);
    asked_password(seen, sizeof seen);
    assert_string_equal(seen, "It-Report-Pw1%21");

    /* Unreadable under the same reference: asked all the same, with the one read before. */
    assert_int_equal(chmod(path, 0644), 0);
    report_reset();
    g_password[0] = '\0';
    last_run_an_hour_ago(mine[1]);
    assert_int_equal(pl_dmupdate_run(d, mine[1], "CYB"), 0);
    assert_true(asked("", "") >= 1);
    asked_password(seen, sizeof seen);
    assert_string_equal(seen, "It-Report-Pw1%21");

    /* Another reference that cannot be read: the run fails, nothing asked. */
    snprintf(ref, sizeof ref, "file:%s/other.pw", dir);
    it_exec(g_db, "UPDATE dm_settings SET password_ref = $1 WHERE service_bureau = 'CYB'", 1, p);
    report_reset();
    last_run_an_hour_ago(mine[2]);
    assert_true(pl_dmupdate_run(d, mine[2], "CYB") != 0);
    assert_int_equal(asked("", ""), 0);

    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/*
 * A report whose one conversion cannot be read (a RequestID longer than any CyberSource gives)
 * is applied all the same: that conversion is skipped (an error line), the others recorded, and
 * the run recorded, so the next run moves on. The one applied carries the values that refused
 * whole reports before — a Note's Date with an offset, in both forms, and a Queue and Profile
 * of 70 characters — and is read whole. Before, the run failed, recorded nothing, and the next
 * asked the same window and failed the same way, every run: the company's decisions held back
 * for good (FS holds never released, REJECTs never cancelled nor reversed).
 */
static void test_run_unreadable_conversion(void **state)
{
    (void)state;
    pl_config cfg;
    pl_dmupdate *d = report_service(&cfg);
    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    char co[16], auth_id[64], tx[64];
    snprintf(co, sizeof co, "%d", mine[0]);
    snprintf(auth_id, sizeof auth_id, "it-dmu-unread-%ld", (long)getpid());
    snprintf(tx, sizeof tx, "77%020ld", (long)getpid());
    auth(auth_id, mine[0], "CYB", "review", false);
    const char *h[] = {auth_id, co, tx};
    it_exec(g_db,
            "INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
            "service_bureau, transaction_type, status, amount_authorized, currency, "
            "transaction_id) VALUES ($1, $2::int, 'IT-DMU', 1, 'CYB', 'auth', 'review', 10.00, "
            "'USD', $3)",
            3, h);
    last_run_an_hour_ago(mine[0]);
    char queue[71];
    memset(queue, 'q', 70);
    queue[70] = '\0';
    static char body[2048];
    snprintf(
        body, sizeof body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Report MerchantID=\"mr\" Name=\"Conversion Detail Report\" Version=\"1.1\">"
        "<Conversion MerchantReferenceNumber=\"it-dmu-other\" ConversionDate=\"2018-12-01 "
        "10:15:42\" RequestID=\"%s%s%s\"><NewDecision>REJECT</NewDecision></Conversion>"
        "<Conversion MerchantReferenceNumber=\"%s\" ConversionDate=\"2018-12-01T11:15:42+01:00\" "
        "RequestID=\"%s\"><OriginalDecision>REVIEW</OriginalDecision>"
        "<NewDecision>ACCEPT</NewDecision><Reviewer>rev</Reviewer>"
        "<ReviewerComments>Verified with cardholder.</ReviewerComments>"
        "<Notes><Note Date=\"2018-12-01T11:15:42+01:00\" AddedBy=\"rev\" Comment=\"Took "
        "ownership.\"/><Note Date=\"2018-12-01T11:15:42.000+01:00\" AddedBy=\"rev\" "
        "Comment=\"Called.\"/></Notes><Queue>%s</Queue><Profile>%s</Profile></Conversion>"
        "</Report>",
        tx, tx, tx, auth_id, tx, queue, queue); /* 66 characters: unreadable */
    g_body = body;
    assert_int_equal(pl_dmupdate_run(d, mine[0], "CYB"), 0);
    g_body = NULL;
    /* The run is recorded, both conversions counted, the unreadable one among the skipped. */
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM dm_run WHERE company = $1::int AND "
                             "service_bureau = 'CYB' AND window_end > now() - interval '1 hour' "
                             "AND conversions = 2 AND applied = 1 AND skipped = 1",
                             co),
                     1);
    char got[256];
    it_value(g_db,
             "SELECT action || ' ' || conversion_date || ' ' || reviewer || ' ' || "
             "array_to_string(messages, '|') || ' ' || (published_at IS NOT NULL) "
             "FROM dm_decision WHERE company = $1::int AND transaction_id = $2",
             co, tx, got, sizeof got);
    assert_string_equal(got, "release_hold 2018-12-01 10:15:42 rev VERIFIED WITH "
                             "CARDHOLDER|TOOK OWNERSHIP|CALLED true");
    assert_int_equal(it_long(g_db, "SELECT count(*) FROM dm_decision WHERE company = $1::int", co),
                     1);
    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);
}

/* The SQL of paylink-deposit's statement name (pl_deposit_spec), to run on g_db, in the test's
 * transaction. */
static const char *deposit_sql(const char *name)
{
    for (size_t i = 0; i < pl_deposit_spec.nstmts; i++)
        if (strcmp(pl_deposit_spec.stmts[i].name, name) == 0)
            return pl_deposit_spec.stmts[i].sql;
    fail_msg("no deposit statement %s", name);
    return NULL;
}

/* A report of conversions of the authorization auth_id (transaction tx): each of convs is
 * "<ConversionDate>|<NewDecision>", in document order; "<ConversionDate>|<NewDecision>|" one
 * without an OriginalDecision (else REVIEW). */
static const char *report_of(const char *auth_id, const char *tx, const char *const *convs,
                             size_t n)
{
    static char body[4096];
    size_t len = (size_t)snprintf(body, sizeof body,
                                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Report "
                                  "MerchantID=\"mr\" Name=\"Conversion Detail Report\" "
                                  "Version=\"1.1\">");
    for (size_t i = 0; i < n; i++) {
        const char *bar = strchr(convs[i], '|');
        assert_non_null(bar);
        const char *end = strchr(bar + 1, '|');
        int dlen = end ? (int)(end - bar - 1) : (int)strlen(bar + 1);
        len += (size_t)snprintf(
            body + len, sizeof body - len,
            "<Conversion MerchantReferenceNumber=\"%s\" ConversionDate=\"%.*s\" "
            "RequestID=\"%s\">%s<NewDecision>%.*s</NewDecision><Reviewer>rev"
            "</Reviewer></Conversion>",
            auth_id, (int)(bar - convs[i]), convs[i], tx,
            end ? "" : "<OriginalDecision>REVIEW</OriginalDecision>", dlen, bar + 1);
        assert_true(len < sizeof body);
    }
    len += (size_t)snprintf(body + len, sizeof body - len, "</Report>");
    assert_true(len < sizeof body);
    return body;
}

/*
 * A conversion older than a decision recorded already for its authorization is recorded but not
 * acted on. C1 (REJECT, 09:59:40) shows in the report later than C2 (ACCEPT, 09:59:55): the
 * window that ends at 10:00 reads C2 only and publishes its release_hold; the next one, starting
 * 5 minutes earlier (PAYLINK_DM_OVERLAP_S), reads C1 too. Before, C1 was recorded with a higher
 * id and acted on: cancel_order and the reversal request (<auth>.dmrev) went out after the
 * release, and paylink-deposit, reading the decision of the highest id, took the order as
 * rejected (dep_refs answered `rejected`, a capture's claim refused). Now C1 is recorded for the
 * audit (superseded_by names C2), published_at set so that no run publishes it (a CHECK keeps
 * it so), no reversal request, and the run counts it skipped; deposits read C2, the latest by
 * ConversionDate. Events go to a topic prefix of the test's own: before the fix, C1's reversal
 * request would otherwise reach the environment's paylink-reversal.
 */
static void test_run_older_conversion_not_acted(void **state)
{
    (void)state;
    const char *prefix = getenv("PAYLINK_TOPIC_PREFIX");
    char saved[64] = "";
    if (prefix)
        snprintf(saved, sizeof saved, "%s", prefix);
    setenv("PAYLINK_TOPIC_PREFIX", "it_dmupdate", 1);
    pl_config cfg;
    pl_dmupdate *d = report_service(&cfg);
    if (saved[0])
        setenv("PAYLINK_TOPIC_PREFIX", saved, 1);
    else
        unsetenv("PAYLINK_TOPIC_PREFIX");
    assert_string_equal(cfg.topic_prefix, "it_dmupdate");

    it_exec(g_db, "BEGIN", 0, NULL);
    int mine[1];
    free_companies(mine, 1);
    char co[16], auth_id[64], tx[64];
    snprintf(co, sizeof co, "%d", mine[0]);
    snprintf(auth_id, sizeof auth_id, "it-dmu-older-%ld", (long)getpid());
    snprintf(tx, sizeof tx, "78%020ld", (long)getpid());
    auth(auth_id, mine[0], "CYB", "review", false);
    const char *h[] = {auth_id, co, tx};
    it_exec(g_db,
            "INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
            "service_bureau, transaction_type, status, amount_authorized, currency, "
            "transaction_id) VALUES ($1, $2::int, 'IT-DMU', 1, 'CYB', 'auth', 'review', 10.00, "
            "'USD', $3)",
            3, h);
    last_run_an_hour_ago(mine[0]);

    /* The window that ends at 10:00: C2 only (without an OriginalDecision: its event says
     * REVIEW, one of the four its schema allows, not ""). */
    const char *first[] = {"2026-12-07 09:59:55|ACCEPT|"};
    g_body = report_of(auth_id, tx, first, 1);
    assert_int_equal(pl_dmupdate_run(d, mine[0], "CYB"), 0);
    char got[512];
    it_value(g_db,
             "SELECT original_decision || ' ' || (event->>'original_decision') FROM dm_decision "
             "WHERE company = $1::int AND transaction_id = $2",
             co, tx, got, sizeof got);
    assert_string_equal(got, "REVIEW REVIEW");
    const char *rows_sql =
        "SELECT string_agg(conversion_date || ' ' || new_decision || ' ' || action || ' ' || "
        "coalesce(reversal_request_id, '-') || ' ' || (reversal_request IS NULL) || ' ' || "
        "(published_at IS NOT NULL) || ' ' || coalesce((superseded_by = (SELECT min(id) FROM "
        "dm_decision WHERE company = $1::int AND transaction_id = $2))::text, '-'), ',' "
        "ORDER BY id) FROM dm_decision WHERE company = $1::int AND transaction_id = $2";
    it_value(g_db, rows_sql, co, tx, got, sizeof got);
    assert_string_equal(got, "2026-12-07 09:59:55 ACCEPT release_hold - true true -");

    /* The next window asks the last 5 minutes again (here: the run's dm_run row taken back, so
     * that its whole window is asked again, whatever the clock says); C1 shows now, before C2
     * in the report. */
    it_exec(g_db,
            "DELETE FROM dm_run WHERE company = $1::int AND service_bureau = 'CYB' AND "
            "window_end > date_trunc('second', now()) - interval '1 hour'",
            1, (const char *[]){co});
    const char *second[] = {"2026-12-07T09:59:40Z|REJECT", "2026-12-07 09:59:55|ACCEPT"};
    g_body = report_of(auth_id, tx, second, 2);
    assert_int_equal(pl_dmupdate_run(d, mine[0], "CYB"), 0);
    g_body = NULL;
    it_value(g_db, rows_sql, co, tx, got, sizeof got);
    assert_string_equal(got, "2026-12-07 09:59:55 ACCEPT release_hold - true true -,"
                             "2026-12-07 09:59:40 REJECT cancel_order - true true true");
    /* Neither applied (C2 recorded before, C1 not acted on). */
    assert_int_equal(it_long(g_db,
                             "SELECT count(*) FROM dm_run WHERE company = $1::int AND "
                             "service_bureau = 'CYB' AND window_end > date_trunc('second', now()) "
                             "- interval '1 hour' AND conversions = 2 AND applied = 0 AND "
                             "skipped = 2",
                             co),
                     1);
    /* Nothing left to publish, and a superseded row cannot be put back for publishing. */
    assert_int_equal(unpublished(mine[0]), 0);
    it_exec(g_db, "SAVEPOINT requeue", 0, NULL);
    PGresult *r = PQexecParams(g_db,
                               "UPDATE dm_decision SET published_at = NULL WHERE company = $1::int "
                               "AND superseded_by IS NOT NULL",
                               1, NULL, (const char *[]){co}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514");
    PQclear(r);
    it_exec(g_db, "ROLLBACK TO SAVEPOINT requeue", 0, NULL);

    /* paylink-deposit reads C2, the latest by ConversionDate: the authorization is a review
     * (not `rejected`) to a debit's look-up (dep_refs, column 21: REF_ANSWERED), ... */
    const char *refs[] = {auth_id, "", "", co, "IT-DMU", "1", "false"};
    r = PQexecParams(g_db, deposit_sql("dep_refs"), 7, NULL, refs, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 21), "review");
    char hid[24];
    snprintf(hid, sizeof hid, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    /* ... and a capture's claim on it is taken (dep_mark_sent_auth). */
    char dep_id[80];
    snprintf(dep_id, sizeof dep_id, "%s.dep", auth_id);
    const char *ins[18] = {
        dep_id,   "cafe000000000000000000000000000000000000000000000000000000000000",
        "debit",  co,
        "IT-DMU", "1",
        "CYB",    "CC",
        "5.00",   "USD",
        "false",  "411111******1111",
        NULL,     "7000000000000000000009",
        "VI",     auth_id,
        "",       ""};
    r = PQexecParams(g_db, deposit_sql("dep_insert"), 18, NULL, ins, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    const char *mark[10] = {dep_id, "capture", "paylink_demo", "capture", hid,
                            tx,     "",        "it/1",         "5.00",    "false"};
    r = PQexecParams(g_db, deposit_sql("dep_mark_sent_auth"), 10, NULL, mark, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);

    it_exec(g_db, "ROLLBACK", 0, NULL);
    pl_dmupdate_destroy(d);
    pl_config_free(&cfg);
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
        cmocka_unit_test(test_publish_after_fatal_error),
        cmocka_unit_test(test_new_merchants_failure_rechecked),
        cmocka_unit_test(test_new_merchants_past_cap_rechecked),
        cmocka_unit_test(test_recheck_failure_goes_on),
        cmocka_unit_test(test_recheck_fractional_start),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_recheck_too_large_split),
        cmocka_unit_test(test_recheck_window_refusals_go_on),
        cmocka_unit_test(test_recheck_too_large_forever_ends),
        cmocka_unit_test(test_limit_start),
        cmocka_unit_test(test_run_overlap),
        cmocka_unit_test(test_run_without_the_bureau_secret),
        cmocka_unit_test(test_run_password_kept),
        cmocka_unit_test(test_run_unreadable_conversion),
        cmocka_unit_test(test_run_older_conversion_not_acted),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
