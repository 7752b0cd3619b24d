/* test_metrics.c: the Prometheus text exposition, registration rules, the HTTP endpoint, and
 * updates racing renders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "metrics.h"

/* Renders m and compares with want, printing both on mismatch. */
static void assert_render(pl_metrics *m, const char *want)
{
    char *got = pl_metrics_render(m);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "--- want\n%s--- got\n%s---\n", want, got);
    assert_string_equal(got, want);
    free(got);
}

static void test_render_families(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("auth");
    assert_non_null(m);
    pl_counter *ok =
        pl_metrics_counter(m, "paylink_requests_total", "Requests by outcome.", "outcome=ok");
    pl_counter *err =
        pl_metrics_counter(m, "paylink_requests_total", "ignored: first wins", "outcome=error");
    /* Labels given in any order come out sorted by name, after worker. */
    pl_gauge *inflight = pl_metrics_gauge(m, "paylink_inflight_requests", "Requests in flight.",
                                          "service=CYB,company=1");
    const double bounds[] = {0.1, 0.5, 1};
    pl_histogram *lat = pl_metrics_histogram(m, "paylink_bureau_duration_seconds",
                                             "Bureau call latency.", NULL, bounds, 3);
    assert_non_null(ok);
    assert_non_null(err);
    assert_non_null(inflight);
    assert_non_null(lat);

    pl_counter_add(ok, 2);
    pl_counter_add(ok, 1);
    pl_counter_add(err, 1);
    pl_gauge_set(inflight, 4);
    pl_gauge_add(inflight, -1.5);
    pl_histogram_observe(lat, 0.0625);
    pl_histogram_observe(lat, 0.5); /* on a bound: counted in le="0.5" (le is inclusive) */
    pl_histogram_observe(lat, 0.75);
    pl_histogram_observe(lat, 3);
    pl_histogram_observe(lat, NAN); /* ignored */

    assert_int_equal(pl_counter_value(ok), 3);
    assert_true(pl_gauge_value(inflight) == 2.5);
    assert_int_equal(pl_histogram_count(lat), 4);

    assert_render(m,
                  "# HELP paylink_requests_total Requests by outcome.\n"
                  "# TYPE paylink_requests_total counter\n"
                  "paylink_requests_total{worker=\"auth\",outcome=\"ok\"} 3\n"
                  "paylink_requests_total{worker=\"auth\",outcome=\"error\"} 1\n"
                  "# HELP paylink_inflight_requests Requests in flight.\n"
                  "# TYPE paylink_inflight_requests gauge\n"
                  "paylink_inflight_requests{worker=\"auth\",company=\"1\",service=\"CYB\"} 2.5\n"
                  "# HELP paylink_bureau_duration_seconds Bureau call latency.\n"
                  "# TYPE paylink_bureau_duration_seconds histogram\n"
                  "paylink_bureau_duration_seconds_bucket{worker=\"auth\",le=\"0.1\"} 1\n"
                  "paylink_bureau_duration_seconds_bucket{worker=\"auth\",le=\"0.5\"} 2\n"
                  "paylink_bureau_duration_seconds_bucket{worker=\"auth\",le=\"1\"} 3\n"
                  "paylink_bureau_duration_seconds_bucket{worker=\"auth\",le=\"+Inf\"} 4\n"
                  "paylink_bureau_duration_seconds_sum{worker=\"auth\"} 4.3125\n"
                  "paylink_bureau_duration_seconds_count{worker=\"auth\"} 4\n");
    pl_metrics_destroy(m);
}

static void test_histogram_with_labels(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("deposit");
    const double bounds[] = {0.005, 2.5};
    pl_histogram *h = pl_metrics_histogram(m, "paylink_db_commit_duration_seconds", NULL,
                                           "status_class=2xx", bounds, 2);
    assert_non_null(h);
    pl_histogram_observe(h, 1);
    pl_histogram_observe(h, -1); /* below every bound: first bucket */
    /* No help: no HELP line. */
    assert_render(m, "# TYPE paylink_db_commit_duration_seconds histogram\n"
                     "paylink_db_commit_duration_seconds_bucket{worker=\"deposit\","
                     "status_class=\"2xx\",le=\"0.005\"} 1\n"
                     "paylink_db_commit_duration_seconds_bucket{worker=\"deposit\","
                     "status_class=\"2xx\",le=\"2.5\"} 2\n"
                     "paylink_db_commit_duration_seconds_bucket{worker=\"deposit\","
                     "status_class=\"2xx\",le=\"+Inf\"} 2\n"
                     "paylink_db_commit_duration_seconds_sum{worker=\"deposit\","
                     "status_class=\"2xx\"} 0\n"
                     "paylink_db_commit_duration_seconds_count{worker=\"deposit\","
                     "status_class=\"2xx\"} 2\n");
    pl_metrics_destroy(m);
}

static void test_no_worker_label(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new(NULL);
    pl_counter *c = pl_metrics_counter(m, "x_total", "X.", NULL);
    pl_gauge *g = pl_metrics_gauge(m, "y", "Y.", "a=1");
    const double b[] = {1};
    pl_histogram *h = pl_metrics_histogram(m, "z_seconds", "Z.", "", b, 1);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(h);
    assert_render(m, "# HELP x_total X.\n# TYPE x_total counter\nx_total 0\n"
                     "# HELP y Y.\n# TYPE y gauge\ny{a=\"1\"} 0\n"
                     "# HELP z_seconds Z.\n# TYPE z_seconds histogram\n"
                     "z_seconds_bucket{le=\"1\"} 0\nz_seconds_bucket{le=\"+Inf\"} 0\n"
                     "z_seconds_sum 0\nz_seconds_count 0\n");
    pl_metrics_destroy(m);
}

static void test_escaping(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("w\"1");
    pl_gauge *g = pl_metrics_gauge(m, "paylink_escape", "Line one\nback\\slash \"quoted\"",
                                   "path=C:\\dir,quote=say \"hi\",nl=a\nb,eq=x=y");
    assert_non_null(g);
    pl_gauge_set(g, 1);
    assert_render(m, "# HELP paylink_escape Line one\\nback\\\\slash \"quoted\"\n"
                     "# TYPE paylink_escape gauge\n"
                     "paylink_escape{worker=\"w\\\"1\",eq=\"x=y\",nl=\"a\\nb\","
                     "path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\"} 1\n");
    pl_metrics_destroy(m);
}

static void test_number_formats(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("w");
    struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},
        {1234567, "1234567"},
        {-2, "-2"},
        {1e-9, "1e-09"},
        {1.0 / 3, "0.3333333333333333"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    pl_gauge *g = pl_metrics_gauge(m, "g", NULL, NULL);
    pl_counter *c = pl_metrics_counter(m, "c_total", NULL, NULL);
    pl_counter_add(c, UINT64_MAX);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_gauge_set(g, cases[i].v);
        char want[256];
        snprintf(want, sizeof want,
                 "# TYPE g gauge\ng{worker=\"w\"} %s\n"
                 "# TYPE c_total counter\nc_total{worker=\"w\"} 18446744073709551615\n",
                 cases[i].text);
        assert_render(m, want);
    }
    pl_metrics_destroy(m);
}

static void test_registration_identity(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("w");
    pl_counter *a = pl_metrics_counter(m, "a_total", "A.", "x=1,y=2");
    assert_non_null(a);
    /* Same name and labels, in any order: the same object. */
    assert_ptr_equal(pl_metrics_counter(m, "a_total", "A.", "x=1,y=2"), a);
    assert_ptr_equal(pl_metrics_counter(m, "a_total", NULL, "y=2,x=1"), a);
    /* Other labels: another series. */
    pl_counter *b = pl_metrics_counter(m, "a_total", "A.", "x=1,y=3");
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    /* The same family name as another type is refused. */
    assert_null(pl_metrics_gauge(m, "a_total", "A.", "x=1,y=2"));

    const double b1[] = {1, 2}, b2[] = {1, 3};
    pl_histogram *h = pl_metrics_histogram(m, "h_seconds", "H.", NULL, b1, 2);
    assert_non_null(h);
    assert_ptr_equal(pl_metrics_histogram(m, "h_seconds", "H.", NULL, b1, 2), h);
    assert_null(pl_metrics_histogram(m, "h_seconds", "H.", NULL, b2, 2));
    assert_null(pl_metrics_histogram(m, "h_seconds", "H.", NULL, b1, 1));
    /* Other labels may even use other bounds: each series has its own. */
    assert_non_null(pl_metrics_histogram(m, "h_seconds", "H.", "k=v", b2, 2));

    pl_counter_add(a, 5);
    assert_render(m, "# HELP a_total A.\n# TYPE a_total counter\n"
                     "a_total{worker=\"w\",x=\"1\",y=\"2\"} 5\n"
                     "a_total{worker=\"w\",x=\"1\",y=\"3\"} 0\n"
                     "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
                     "h_seconds_bucket{worker=\"w\",le=\"1\"} 0\n"
                     "h_seconds_bucket{worker=\"w\",le=\"2\"} 0\n"
                     "h_seconds_bucket{worker=\"w\",le=\"+Inf\"} 0\n"
                     "h_seconds_sum{worker=\"w\"} 0\n"
                     "h_seconds_count{worker=\"w\"} 0\n"
                     "h_seconds_bucket{worker=\"w\",k=\"v\",le=\"1\"} 0\n"
                     "h_seconds_bucket{worker=\"w\",k=\"v\",le=\"3\"} 0\n"
                     "h_seconds_bucket{worker=\"w\",k=\"v\",le=\"+Inf\"} 0\n"
                     "h_seconds_sum{worker=\"w\",k=\"v\"} 0\n"
                     "h_seconds_count{worker=\"w\",k=\"v\"} 0\n");
    pl_metrics_destroy(m);
}

static void test_invalid_registrations(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("w");
    const double ok[] = {1, 2};
    const double flat[] = {1, 1}, down[] = {2, 1}, inf[] = {1, INFINITY}, nan[] = {NAN};
    double many[PL_METRICS_MAX_BUCKETS + 1];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        many[i] = (double)i;

    assert_null(pl_metrics_gauge(m, "", NULL, NULL));
    assert_null(pl_metrics_gauge(m, NULL, NULL, NULL));
    assert_null(pl_metrics_gauge(m, "1abc", NULL, NULL));
    assert_null(pl_metrics_gauge(m, "a-b", NULL, NULL));
    assert_null(pl_metrics_gauge(NULL, "g", NULL, NULL));
    assert_non_null(pl_metrics_gauge(m, "ns:sub_g1", NULL, NULL)); /* colons are allowed */
    /* Counters end in _total. */
    assert_null(pl_metrics_counter(m, "requests", NULL, NULL));
    /* Label specs. */
    assert_null(pl_metrics_gauge(m, "g", NULL, "worker=x"));
    assert_null(pl_metrics_gauge(m, "g", NULL, "__name__=x"));
    assert_null(pl_metrics_gauge(m, "g", NULL, "a=1,a=2"));
    assert_null(pl_metrics_gauge(m, "g", NULL, "novalue"));
    assert_null(pl_metrics_gauge(m, "g", NULL, "a=1,"));
    assert_null(pl_metrics_gauge(m, "g", NULL, ",a=1"));
    assert_null(pl_metrics_gauge(m, "g", NULL, "=1"));
    assert_null(pl_metrics_gauge(m, "g", NULL, "a:b=1"));
    assert_null(pl_metrics_gauge(m, "g", NULL, "9a=1"));
    assert_non_null(pl_metrics_gauge(m, "g", NULL, "le=1"));   /* le is only a histogram's */
    assert_non_null(pl_metrics_gauge(m, "g", NULL, "empty=")); /* an empty value is a value */
    /* Histograms. */
    assert_null(pl_metrics_histogram(m, "h", NULL, "le=1", ok, 2));
    assert_null(pl_metrics_histogram(m, "h", NULL, NULL, NULL, 0));
    assert_null(pl_metrics_histogram(m, "h", NULL, NULL, ok, 0));
    assert_null(pl_metrics_histogram(m, "h", NULL, NULL, flat, 2));
    assert_null(pl_metrics_histogram(m, "h", NULL, NULL, down, 2));
    assert_null(pl_metrics_histogram(m, "h", NULL, NULL, inf, 2));
    assert_null(pl_metrics_histogram(m, "h", NULL, NULL, nan, 1));
    assert_null(pl_metrics_histogram(m, "h", NULL, NULL, many, PL_METRICS_MAX_BUCKETS + 1));
    assert_non_null(pl_metrics_histogram(m, "h", NULL, NULL, many, PL_METRICS_MAX_BUCKETS));
    /* Oversized inputs. */
    char big[PL_METRICS_MAX_LABELS + 8];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[1] = '=';
    assert_null(pl_metrics_gauge(m, "g", NULL, big));
    assert_null(pl_metrics_gauge(m, "g2", big, NULL));
    big[PL_METRICS_MAX_NAME + 3] = '\0';
    assert_null(pl_metrics_gauge(m, big + 2, NULL, NULL));

    /* Failed registrations leave no trace in the output, and NULL handles are harmless. */
    pl_counter_add(NULL, 1);
    pl_gauge_set(NULL, 1);
    pl_gauge_add(NULL, 1);
    pl_histogram_observe(NULL, 1);
    assert_int_equal(pl_counter_value(NULL), 0);
    assert_true(pl_gauge_value(NULL) == 0);
    assert_int_equal(pl_histogram_count(NULL), 0);
    assert_null(pl_metrics_render(NULL));
    char *text = pl_metrics_render(m);
    assert_non_null(text);
    assert_null(strstr(text, "requests"));
    assert_null(strstr(text, "worker=x"));
    assert_non_null(strstr(text, "g{worker=\"w\",empty=\"\"} 0\n"));
    free(text);
    pl_metrics_destroy(m);
    pl_metrics_destroy(NULL);
}

static void test_series_cap(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("w");
    char labels[32];
    pl_gauge *first = NULL;
    for (int i = 0; i < PL_METRICS_MAX_SERIES; i++) {
        snprintf(labels, sizeof labels, "partition=%d", i);
        pl_gauge *g = pl_metrics_gauge(m, "lag", NULL, labels);
        assert_non_null(g);
        if (i == 0)
            first = g;
    }
    assert_null(pl_metrics_gauge(m, "lag", NULL, "partition=-1"));
    assert_null(pl_metrics_counter(m, "other_total", NULL, NULL));
    /* Existing series are still found at the cap. */
    assert_ptr_equal(pl_metrics_gauge(m, "lag", NULL, "partition=0"), first);
    char *text = pl_metrics_render(m);
    assert_non_null(text);
    assert_null(strstr(text, "other_total"));
    free(text);
    pl_metrics_destroy(m);
}

typedef struct collector_state {
    pl_gauge *g;
    int calls;
} collector_state;

static void collect(pl_metrics *m, void *opaque)
{
    collector_state *cs = opaque;
    cs->calls++;
    pl_gauge_set(cs->g, cs->calls * 10);
    /* A collector may register (e.g. a partition assigned since the last scrape). */
    if (cs->calls == 2)
        pl_gauge_set(pl_metrics_gauge(m, "lag", NULL, "partition=1"), 7);
}

static void test_collector(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("w");
    collector_state cs = {.g = pl_metrics_gauge(m, "lag", NULL, "partition=0")};
    pl_metrics_set_collector(m, collect, &cs);
    assert_render(m, "# TYPE lag gauge\nlag{worker=\"w\",partition=\"0\"} 10\n");
    assert_render(m, "# TYPE lag gauge\nlag{worker=\"w\",partition=\"0\"} 20\n"
                     "lag{worker=\"w\",partition=\"1\"} 7\n");
    pl_metrics_set_collector(m, NULL, NULL);
    assert_render(m, "# TYPE lag gauge\nlag{worker=\"w\",partition=\"0\"} 20\n"
                     "lag{worker=\"w\",partition=\"1\"} 7\n");
    assert_int_equal(cs.calls, 2);
    pl_metrics_destroy(m);
}

/* ---- HTTP ---- */

typedef struct body {
    char buf[65536];
    size_t len;
} body;

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    body *b = opaque;
    size_t n = size * nmemb;
    if (b->len + n >= sizeof b->buf)
        return 0;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* Requests http://127.0.0.1:port<path>; returns the status, fills b and ctype (may be NULL). */
static long http(uint16_t port, const char *method, const char *path, body *b, char *ctype,
                 size_t ctype_size)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    b->len = 0;
    b->buf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY,
                     "*"); /* an http_proxy in the environment must not matter */
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "curl %s: %s\n", url, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (ctype) {
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(ctype, ctype_size, "%s", ct ? ct : "");
    }
    curl_easy_cleanup(c);
    return status;
}

static void test_http_endpoints(void **state)
{
    (void)state;
    pl_metrics *m = pl_metrics_new("auth");
    pl_counter *c = pl_metrics_counter(m, "paylink_requests_total", "Requests.", "outcome=ok");
    pl_counter_add(c, 42);
    assert_int_equal(pl_metrics_port(m), 0);

    char err[256] = "";
    assert_int_equal(pl_metrics_serve(m, "127.0.0.1", 0, err, sizeof err), PL_OK);
    uint16_t port = pl_metrics_port(m);
    assert_true(port > 0);
    assert_int_equal(pl_metrics_serve(m, "127.0.0.1", 0, err, sizeof err), PL_ERR_STATE);
    assert_non_null(strstr(err, "already serving"));

    body *b = malloc(sizeof(body));
    assert_non_null(b);
    char ctype[128];

    assert_int_equal(http(port, "GET", "/metrics", b, ctype, sizeof ctype), 200);
    assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(b->buf, "# HELP paylink_requests_total Requests.\n"
                                "# TYPE paylink_requests_total counter\n"
                                "paylink_requests_total{worker=\"auth\",outcome=\"ok\"} 42\n");
    /* Values change between scrapes; a query string does not change the route. */
    pl_counter_add(c, 1);
    assert_int_equal(http(port, "GET", "/metrics?x=1", b, NULL, 0), 200);
    assert_non_null(strstr(b->buf, "outcome=\"ok\"} 43\n"));

    assert_int_equal(http(port, "GET", "/healthz", b, NULL, 0), 200);
    assert_string_equal(b->buf, "ok");

    /* Not ready until the worker says so, then back to not ready while draining. */
    assert_int_equal(http(port, "GET", "/readyz", b, NULL, 0), 503);
    assert_string_equal(b->buf, "starting");
    pl_metrics_set_ready(m, true, NULL);
    assert_int_equal(http(port, "GET", "/readyz", b, NULL, 0), 200);
    assert_string_equal(b->buf, "ready");
    pl_metrics_set_ready(m, false, "draining: SIGTERM");
    assert_int_equal(http(port, "GET", "/readyz", b, NULL, 0), 503);
    assert_string_equal(b->buf, "draining: SIGTERM");
    pl_metrics_set_ready(m, false, NULL);
    assert_int_equal(http(port, "GET", "/readyz", b, NULL, 0), 503);
    assert_string_equal(b->buf, "not ready");
    /* Still alive while not ready. */
    assert_int_equal(http(port, "GET", "/healthz", b, NULL, 0), 200);

    assert_int_equal(http(port, "GET", "/nope", b, NULL, 0), 404);
    assert_int_equal(http(port, "POST", "/metrics", b, NULL, 0), 405);
    assert_int_equal(http(port, "DELETE", "/healthz", b, NULL, 0), 405);

    /* Issue 6 A.3: a fatal producer error makes liveness fail for good, with its reason. */
    pl_metrics_set_unhealthy(m, "kafka producer fatal error: test");
    assert_int_equal(http(port, "GET", "/healthz", b, NULL, 0), 503);
    assert_string_equal(b->buf, "kafka producer fatal error: test");
    pl_metrics_heartbeat(m, 60000);
    assert_int_equal(http(port, "GET", "/healthz", b, NULL, 0), 503);

    /* A second server cannot take the same port. */
    pl_metrics *other = pl_metrics_new("other");
    assert_int_equal(pl_metrics_serve(other, "127.0.0.1", port, err, sizeof err), PL_ERR_IO);
    assert_non_null(strstr(err, "cannot listen"));
    assert_int_equal(pl_metrics_port(other), 0);
    pl_metrics_destroy(other);

    free(b);
    /* Destroy stops the server: the port no longer answers. */
    pl_metrics_destroy(m);
    CURL *cu = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", (unsigned)port);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(cu, CURLOPT_NOBODY, 1L);
    assert_int_equal(curl_easy_perform(cu), CURLE_COULDNT_CONNECT);
    curl_easy_cleanup(cu);
}

static void test_http_ipv6_and_names(void **state)
{
    (void)state;
    char err[256] = "";
    pl_metrics *m = pl_metrics_new("w");
    /* "localhost" resolves; the address family follows what the resolver gives first. */
    assert_int_equal(pl_metrics_serve(m, "localhost", 0, err, sizeof err), PL_OK);
    assert_true(pl_metrics_port(m) > 0);
    pl_metrics_destroy(m);

    m = pl_metrics_new("w");
    if (pl_metrics_serve(m, "::1", 0, err, sizeof err) == PL_OK) {
        char url[64];
        snprintf(url, sizeof url, "http://[::1]:%u/healthz", (unsigned)pl_metrics_port(m));
        CURL *c = curl_easy_init();
        body *b = calloc(1, sizeof(body));
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        assert_string_equal(b->buf, "ok");
        curl_easy_cleanup(c);
        free(b);
    } else {
        fprintf(stderr, "no IPv6 loopback here: %s\n", err);
    }
    pl_metrics_destroy(m);
}

/* ---- concurrency ---- */

#define RACE_N 100000

typedef struct race {
    pl_metrics *m;
    pl_counter *c;
    pl_gauge *g;
    pl_histogram *h;
    atomic_bool done;
} race;

static void *race_writer(void *opaque)
{
    race *r = opaque;
    char labels[32];
    for (int i = 0; i < RACE_N; i++) {
        pl_counter_add(r->c, 1);
        pl_gauge_add(r->g, 1.0);
        pl_histogram_observe(r->h, (i % 4) * 0.5);
        /* Registering while the other thread renders (series appear at runtime). */
        if (i % 1000 == 0) {
            snprintf(labels, sizeof labels, "partition=%d", i / 1000);
            pl_gauge_set(pl_metrics_gauge(r->m, "lag", NULL, labels), i);
        }
    }
    atomic_store(&r->done, true);
    return NULL;
}

/* The value after the first occurrence of key in text. */
static uint64_t value_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    assert_non_null(p);
    return strtoull(p + strlen(key), NULL, 10);
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    race r = {.m = pl_metrics_new("w")};
    const double bounds[] = {0.5, 1};
    r.c = pl_metrics_counter(r.m, "ops_total", NULL, NULL);
    r.g = pl_metrics_gauge(r.m, "level", NULL, NULL);
    r.h = pl_metrics_histogram(r.m, "d_seconds", NULL, NULL, bounds, 2);
    atomic_init(&r.done, false);
    char err[256];
    assert_int_equal(pl_metrics_serve(r.m, "127.0.0.1", 0, err, sizeof err), PL_OK);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_writer, &r), 0);
    body *b = malloc(sizeof(body));
    int renders = 0;
    uint64_t last = 0;
    while (!atomic_load(&r.done) || renders < 3) {
        char *text = pl_metrics_render(r.m);
        assert_non_null(text);
        /* Each snapshot is coherent: _count equals the +Inf bucket; counters never go back. */
        uint64_t inf = value_after(text, "d_seconds_bucket{worker=\"w\",le=\"+Inf\"} ");
        uint64_t count = value_after(text, "d_seconds_count{worker=\"w\"} ");
        uint64_t ops = value_after(text, "ops_total{worker=\"w\"} ");
        assert_int_equal(inf, count);
        assert_true(ops >= last && ops <= RACE_N);
        last = ops;
        free(text);
        /* And the server thread scrapes at the same time. */
        if (renders % 4 == 0)
            assert_int_equal(http(pl_metrics_port(r.m), "GET", "/metrics", b, NULL, 0), 200);
        renders++;
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    free(b);

    assert_int_equal(pl_counter_value(r.c), RACE_N);
    assert_true(pl_gauge_value(r.g) == RACE_N);
    assert_int_equal(pl_histogram_count(r.h), RACE_N);
    char *text = pl_metrics_render(r.m);
    assert_non_null(text);
    /* Observations cycle 0, 0.5, 1, 1.5: a quarter each. */
    assert_int_equal(value_after(text, "le=\"0.5\"} "), RACE_N / 2);
    assert_int_equal(value_after(text, "le=\"1\"} "), 3 * RACE_N / 4);
    assert_int_equal(value_after(text, "le=\"+Inf\"} "), RACE_N);
    assert_non_null(strstr(text, "d_seconds_sum{worker=\"w\"} 75000\n"));
    assert_non_null(strstr(text, "level{worker=\"w\"} 100000\n"));
    assert_non_null(strstr(text, "lag{worker=\"w\",partition=\"99\"} 99000\n"));
    free(text);
    pl_metrics_destroy(r.m);
}

static int group_setup(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_families),
        cmocka_unit_test(test_histogram_with_labels),
        cmocka_unit_test(test_no_worker_label),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_number_formats),
        cmocka_unit_test(test_registration_identity),
        cmocka_unit_test(test_invalid_registrations),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_collector),
        cmocka_unit_test(test_http_endpoints),
        cmocka_unit_test(test_http_ipv6_and_names),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
