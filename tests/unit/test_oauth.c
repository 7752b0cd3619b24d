/*
 * test_oauth.c: the OAuth 2 client-credentials token cache (oauth.h) against a real HTTPS token
 * endpoint.
 *
 * The endpoint is https_test_server.h's (libmicrohttpd in this process, one thread per
 * connection, a certificate generated at start-up by the openssl command line), as for
 * test_http.c. It counts the
 * token requests it got, records the last one, and answers what the running test set: by default
 * a fresh token "tok-<n>" (n = the request's number) of the configured lifetime. The client side
 * is driven the way the engine drives it: pl_http_wait in a loop, with a deadline. The clock of
 * the cache is a variable the tests move. Callback records live in static memory (libuv-style
 * counters), so a callback fired after a failed test's frame is gone writes nowhere harmful.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "https_test_server.h"
#include "oauth.h"

/* Deadlines against hanging only (valgrind, a loaded machine): no assertion measures time. */
#define CALL_MS 60000
#define DRIVE_MS 120000
#define SLOW_MAX_MS 300000

/* Credentials with the characters RFC 6749 §2.3.1's form-urlencoding is about. */
#define CLIENT_ID "pay link:client&1"
#define SECRET "s3cr:et &pw/+=%x"
#define CLIENT_ID_ENC "pay%20link%3Aclient%261"
#define SECRET_ENC "s3cr%3Aet%20%26pw%2F%2B%3D%25x"

/* ---- the token endpoint ------------------------------------------------------------------ */

static https_test_server srv;
static char g_dir[64], ca_path[128];
static char *cert_pem, *key_pem;

static atomic_int hits, slow_hits, slow_generation;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* What the next answers are (under mu). */
static struct {
    unsigned status;     /* 0 → 200 */
    char body[8192];     /* "" → the default answer: a fresh token */
    long expires_in;     /* default answer: <= 0 → no expires_in */
    char token_type[16]; /* default answer: "" → no token_type */
} answer;
/* The last token request (under mu). */
static struct {
    char method[16], path[64], body[256], content_type[128], accept[64], authorization[512];
} last;

/* The default answer, built with json-c: a token numbered n. */
static void default_answer(int n, char *out, size_t outsize)
{
    char tok[32];
    snprintf(tok, sizeof tok, "tok-%d", n);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "access_token", json_object_new_string(tok));
    if (answer.token_type[0])
        json_object_object_add(o, "token_type", json_object_new_string(answer.token_type));
    if (answer.expires_in > 0)
        json_object_object_add(o, "expires_in", json_object_new_int64(answer.expires_in));
    snprintf(out, outsize, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
}

/* The token endpoint's answer (https_test_server.h calls it once the request has arrived). */
static enum MHD_Result on_request(struct MHD_Connection *c, const char *url, const char *method,
                                  const char *upload)
{
    if (strcmp(url, "/slow") == 0)
        https_test_hold(&slow_generation, &slow_hits, SLOW_MAX_MS);
    int n = atomic_fetch_add(&hits, 1) + 1;
    static char body[8192]; /* under mu */
    pthread_mutex_lock(&mu);
    snprintf(last.method, sizeof last.method, "%s", method);
    snprintf(last.path, sizeof last.path, "%s", url);
    snprintf(last.body, sizeof last.body, "%s", upload);
    https_test_header(c, "Content-Type", last.content_type, sizeof last.content_type);
    https_test_header(c, "Accept", last.accept, sizeof last.accept);
    https_test_header(c, "Authorization", last.authorization, sizeof last.authorization);
    unsigned status = answer.status ? answer.status : MHD_HTTP_OK;
    if (answer.body[0])
        snprintf(body, sizeof body, "%s", answer.body);
    else
        default_answer(n, body, sizeof body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&mu);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void release_slow(void)
{
    https_test_release(&slow_generation);
}

static int group_setup(void **state)
{
    (void)state;
    if (https_test_dir_new(g_dir, sizeof g_dir, "test_oauth") != 0)
        return -1;
    if (https_test_make_cert(g_dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1", &cert_pem,
                             &key_pem, ca_path, sizeof ca_path) != 0) {
        fprintf(stderr, "cannot generate a certificate with openssl\n");
        return -1;
    }
    if (https_test_server_start(&srv, cert_pem, key_pem, on_request) != 0) {
        fprintf(stderr, "cannot start the HTTPS test server\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    release_slow();
    https_test_server_stop(&srv);
    free(cert_pem);
    free(key_pem);
    return https_test_dir_remove(g_dir);
}

/* ---- the client side --------------------------------------------------------------------- */

static double fake_now;
static double fake_clock(void)
{
    return fake_now;
}

static pl_http *H;
static pl_oauth *O;

/* One waiter's callback record. */
typedef struct rec {
    int calls;
    int seq; /* the order of the last call among all callbacks */
    bool got_header;
    char header[PL_OAUTH_HEADER_SIZE];
    unsigned gen;
    char error[512];
    bool cancelled;
} rec;

#define NREC 8
static rec R[NREC];
static int seq;

static void record(rec *x, const char *header, unsigned gen, const char *error, bool cancelled)
{
    x->calls++;
    x->seq = ++seq;
    x->got_header = header != NULL;
    snprintf(x->header, sizeof x->header, "%s", header ? header : "");
    x->gen = gen;
    snprintf(x->error, sizeof x->error, "%s", error ? error : "");
    x->cancelled = cancelled;
}

static void on_token(void *arg, const char *header, unsigned gen, const char *error, bool cancelled)
{
    record(arg, header, gen, error, cancelled);
}

static void answer_set(unsigned status, const char *body)
{
    pthread_mutex_lock(&mu);
    answer.status = status;
    snprintf(answer.body, sizeof answer.body, "%s", body ? body : "");
    pthread_mutex_unlock(&mu);
}

static int setup(void **state)
{
    (void)state;
    memset(R, 0, sizeof R);
    seq = 0;
    fake_now = 1000;
    pthread_mutex_lock(&mu);
    memset(&answer, 0, sizeof answer);
    answer.expires_in = 3600;
    snprintf(answer.token_type, sizeof answer.token_type, "Bearer");
    memset(&last, 0, sizeof last);
    pthread_mutex_unlock(&mu);
    char err[256] = "";
    H = pl_http_new(ca_path, 0, err, sizeof err);
    if (!H) {
        fprintf(stderr, "pl_http_new: %s\n", err);
        return -1;
    }
    O = pl_oauth_new(H, fake_clock);
    return O ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pl_oauth_free(O);
    pl_http_destroy(H);
    O = NULL;
    H = NULL;
    return 0;
}

/* Drives the transfers until x's callback has fired `want` times. */
static void drive_until_calls(const rec *x, int want)
{
    https_test_drive_until(H, &x->calls, want, DRIVE_MS);
}

/* Drives the transfers until nothing is in flight; a second callback would show up too. */
static void drive_idle(void)
{
    https_test_drive_idle(H, DRIVE_MS);
}

static pl_oauth_client make_client(void)
{
    pl_oauth_client c = {
        .key = "EXT",
        .token_url = https_test_url(0, "127.0.0.1", srv.port, "/token"),
        .client_id = CLIENT_ID,
        .secret = SECRET,
        .proxy = NULL,
        .timeout_ms = CALL_MS,
        .connect_attempts = 3,
    };
    return c;
}

/* A get that must queue. */
static void get_queued(const pl_oauth_client *c, rec *x)
{
    char header[PL_OAUTH_HEADER_SIZE];
    unsigned gen = 99;
    assert_int_equal(pl_oauth_get(O, c, on_token, x, header, sizeof header, &gen), 0);
    /* Never called from inside the get. */
    assert_int_equal(x->calls, 0);
}

/* A get that must be answered from the cache: returns the generation, copies the header. */
static unsigned get_cached(const pl_oauth_client *c, char *header)
{
    char buf[PL_OAUTH_HEADER_SIZE];
    unsigned gen = 0;
    rec *unused = &R[NREC - 1];
    int before = atomic_load(&hits);
    assert_int_equal(pl_oauth_get(O, c, on_token, unused, buf, sizeof buf, &gen), 1);
    assert_int_equal(unused->calls, 0);
    assert_int_equal(atomic_load(&hits), before);
    assert_true(gen > 0);
    if (header)
        snprintf(header, PL_OAUTH_HEADER_SIZE, "%s", buf);
    return gen;
}

/* Fetches a token for c (nothing cached) and returns its generation. */
static unsigned fetch_token(const pl_oauth_client *c, rec *x, char *header)
{
    memset(x, 0, sizeof *x);
    get_queued(c, x);
    drive_until_calls(x, 1);
    assert_true(x->got_header);
    assert_string_equal(x->error, "");
    if (header)
        snprintf(header, PL_OAUTH_HEADER_SIZE, "%s", x->header);
    return x->gen;
}

static void assert_stats(uint64_t requested, uint64_t ok, uint64_t failed)
{
    uint64_t r = 0, k = 0, f = 0;
    pl_oauth_stats(O, &r, &k, &f);
    assert_int_equal(r, requested);
    assert_int_equal(k, ok);
    assert_int_equal(f, failed);
}

/* ---- tests ------------------------------------------------------------------------------- */

/* The first get queues and fetches; a second one joins; both get the same token; then cached. */
static void test_fetch_join_cache(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    int before = atomic_load(&hits);
    get_queued(&c, &R[0]);
    get_queued(&c, &R[1]);
    assert_int_equal(pl_oauth_waiting(O), 2);
    assert_int_equal(pl_http_in_flight(H), 1);
    drive_idle();
    assert_int_equal(atomic_load(&hits), before + 1);
    char want[64];
    snprintf(want, sizeof want, "Authorization: Bearer tok-%d", before + 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(R[i].calls, 1);
        assert_true(R[i].got_header);
        assert_string_equal(R[i].header, want);
        assert_int_equal(R[i].gen, 1);
        assert_string_equal(R[i].error, "");
        assert_false(R[i].cancelled);
    }
    /* In the order they asked. */
    assert_true(R[0].seq < R[1].seq);
    assert_int_equal(pl_oauth_waiting(O), 0);
    assert_stats(1, 1, 0);

    /* What the endpoint got. */
    pthread_mutex_lock(&mu);
    assert_string_equal(last.method, "POST");
    assert_string_equal(last.path, "/token");
    assert_string_equal(last.content_type, "application/x-www-form-urlencoded");
    assert_string_equal(last.body, "grant_type=client_credentials");
    assert_string_equal(last.accept, "application/json");
    pthread_mutex_unlock(&mu);

    /* Cached: answered at once, no request. */
    char header[PL_OAUTH_HEADER_SIZE];
    assert_int_equal(get_cached(&c, header), 1);
    assert_string_equal(header, want);
    /* gen may be NULL. */
    assert_int_equal(pl_oauth_get(O, &c, on_token, &R[2], header, sizeof header, NULL), 1);
    /* Another key is another token. */
    c.key = "EX2";
    assert_int_equal(fetch_token(&c, &R[3], NULL), 1);
    assert_string_not_equal(R[3].header, want);
    assert_int_equal(atomic_load(&hits), before + 2);
    assert_stats(2, 2, 0);
    assert_int_equal(R[2].calls, 0);
}

/* The Basic header decodes to urlencode(id) ':' urlencode(secret) (RFC 6749 §2.3.1). */
static void test_basic_header(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    fetch_token(&c, &R[0], NULL);
    char auth[512];
    pthread_mutex_lock(&mu);
    snprintf(auth, sizeof auth, "%s", last.authorization);
    pthread_mutex_unlock(&mu);
    assert_int_equal(strncmp(auth, "Basic ", 6), 0);
    const char *b64 = auth + 6;
    unsigned char decoded[512];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)strlen(b64));
    assert_true(n > 0);
    /* EVP_DecodeBlock counts the padding's zero bytes too. */
    size_t len = (size_t)n;
    for (const char *p = b64 + strlen(b64); p > b64 && p[-1] == '='; p--)
        len--;
    decoded[len] = '\0';
    assert_string_equal((char *)decoded, CLIENT_ID_ENC ":" SECRET_ENC);
}

/* A token expires early by min(30 s, expires_in / 10), counted from when it was asked for. */
static void test_expiry(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    pthread_mutex_lock(&mu);
    answer.expires_in = 100;
    pthread_mutex_unlock(&mu);
    char h1[PL_OAUTH_HEADER_SIZE], h2[PL_OAUTH_HEADER_SIZE];
    assert_int_equal(fetch_token(&c, &R[0], h1), 1);
    fake_now = 1089.9;
    assert_int_equal(get_cached(&c, NULL), 1);
    fake_now = 1090; /* 100 s less a 10 s margin */
    int before = atomic_load(&hits);
    assert_int_equal(fetch_token(&c, &R[1], h2), 2);
    assert_int_equal(atomic_load(&hits), before + 1);
    assert_string_not_equal(h1, h2);
    assert_int_equal(get_cached(&c, NULL), 2);

    /* No expires_in: 300 s, less 30 s. */
    pthread_mutex_lock(&mu);
    answer.expires_in = 0;
    pthread_mutex_unlock(&mu);
    fake_now = 2000;
    assert_int_equal(fetch_token(&c, &R[2], NULL), 3);
    fake_now = 2269.5;
    assert_int_equal(get_cached(&c, NULL), 3);
    fake_now = 2270;
    assert_int_equal(fetch_token(&c, &R[3], NULL), 4);

    /* A long life: the margin stops at 30 s. */
    pthread_mutex_lock(&mu);
    answer.expires_in = 86400;
    pthread_mutex_unlock(&mu);
    fake_now = 3000;
    assert_int_equal(fetch_token(&c, &R[4], NULL), 5);
    fake_now = 3000 + 86400 - 31;
    assert_int_equal(get_cached(&c, NULL), 5);
    fake_now = 3000 + 86400 - 30;
    assert_int_equal(fetch_token(&c, &R[5], NULL), 6);
    assert_stats(6, 6, 0);
}

/* invalidate(gen) drops that token; an invalidate for an older generation keeps a newer one. */
static void test_invalidate(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    char h1[PL_OAUTH_HEADER_SIZE], h2[PL_OAUTH_HEADER_SIZE], h[PL_OAUTH_HEADER_SIZE];
    assert_int_equal(fetch_token(&c, &R[0], h1), 1);
    pl_oauth_invalidate(O, "EXT", 1);
    assert_int_equal(fetch_token(&c, &R[1], h2), 2);
    assert_string_not_equal(h1, h2);
    /* A late 401 for the first token. */
    pl_oauth_invalidate(O, "EXT", 1);
    assert_int_equal(get_cached(&c, h), 2);
    assert_string_equal(h, h2);
    /* Other keys and NULLs change nothing. */
    pl_oauth_invalidate(O, "NOPE", 2);
    pl_oauth_invalidate(O, NULL, 2);
    pl_oauth_invalidate(NULL, "EXT", 2);
    assert_int_equal(get_cached(&c, NULL), 2);
}

/* Connections the token calls have made so far, full handshakes or resumed. */
static long connections(void)
{
    pl_http_counts k;
    pl_http_stats(H, &k);
    return k.tls_full + k.tls_resumed;
}

/* A token call goes by the bureau's connection_idle_s as its other calls do (test_http
 * test_idle_age): 1 retires a connection idle 2.1 s; the default (0: 30 s) keeps it. */
static void test_idle_age(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    assert_int_equal(fetch_token(&c, &R[0], NULL), 1);
    assert_int_equal(connections(), 1);
    https_test_sleep_ms(2100);
    pl_oauth_invalidate(O, "EXT", 1);
    assert_int_equal(fetch_token(&c, &R[1], NULL), 2);
    assert_int_equal(connections(), 1);
    https_test_sleep_ms(2100);
    pl_oauth_invalidate(O, "EXT", 2);
    c.max_idle_s = 1;
    assert_int_equal(fetch_token(&c, &R[2], NULL), 3);
    assert_int_equal(connections(), 2);
}

/* Other token_url, client_id or secret: the token is dropped; proxy or timeouts do not matter. */
static void test_settings_change(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    assert_int_equal(fetch_token(&c, &R[0], NULL), 1);
    /* Not part of the settings' identity. */
    c.timeout_ms = 1234;
    c.connect_attempts = 1;
    assert_int_equal(get_cached(&c, NULL), 1);

    c.secret = "another secret";
    assert_int_equal(fetch_token(&c, &R[1], NULL), 2);
    assert_int_equal(get_cached(&c, NULL), 2);
    c.client_id = "another client";
    assert_int_equal(fetch_token(&c, &R[2], NULL), 3);
    c.token_url = https_test_url(1, "localhost", srv.port, "/token");
    assert_int_equal(fetch_token(&c, &R[3], NULL), 4);
    assert_int_equal(get_cached(&c, NULL), 4);
    /* Back to the first settings: their token was dropped long ago. */
    c = make_client();
    assert_int_equal(fetch_token(&c, &R[4], NULL), 5);
    assert_stats(5, 5, 0);
}

/* Settings change while a request is in flight: each request answers its own waiters; only the
 * current settings' token is cached. */
static void test_settings_change_in_flight(void **state)
{
    (void)state;
    pl_oauth_client a = make_client(), b = make_client();
    b.secret = "rotated";
    int before = atomic_load(&hits);
    get_queued(&a, &R[0]);
    get_queued(&b, &R[1]); /* does not join a's request */
    get_queued(&b, &R[2]); /* joins b's */
    assert_int_equal(pl_http_in_flight(H), 2);
    drive_idle();
    assert_int_equal(atomic_load(&hits), before + 2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(R[i].calls, 1);
        assert_true(R[i].got_header);
    }
    assert_string_equal(R[1].header, R[2].header);
    assert_string_not_equal(R[0].header, R[1].header);
    assert_int_not_equal(R[0].gen, R[1].gen);
    char h[PL_OAUTH_HEADER_SIZE];
    unsigned gen = get_cached(&b, h);
    assert_string_equal(h, R[1].header);
    assert_int_equal(gen, R[1].gen);
    /* a's token was not kept, and asking with a again drops b's. */
    get_queued(&a, &R[3]);
    drive_until_calls(&R[3], 1);
    assert_true(R[3].gen > R[1].gen);
    get_queued(&b, &R[4]);
    drive_until_calls(&R[4], 1);
}

static void assert_no_secret(const char *text)
{
    assert_null(strstr(text, SECRET));
    assert_null(strstr(text, SECRET_ENC));
    assert_null(strstr(text, "s3cr"));
    assert_null(strstr(text, "tok-"));
    assert_null(strstr(text, "Basic"));
}

/* Two waiters of one failing request: both fail with a text that names no secret. */
static void expect_failure(unsigned status, const char *body, const char *want_in_error)
{
    pl_oauth_client c = make_client();
    answer_set(status, body);
    memset(R, 0, 2 * sizeof R[0]);
    get_queued(&c, &R[0]);
    get_queued(&c, &R[1]);
    drive_idle();
    for (int i = 0; i < 2; i++) {
        assert_int_equal(R[i].calls, 1);
        assert_false(R[i].got_header);
        assert_int_equal(R[i].gen, 0);
        assert_false(R[i].cancelled);
        assert_true(R[i].error[0] != '\0');
        if (!strstr(R[i].error, want_in_error))
            fail_msg("error \"%s\" does not say \"%s\"", R[i].error, want_in_error);
        assert_no_secret(R[i].error);
    }
    assert_true(R[0].seq < R[1].seq);
}

static void test_endpoint_errors(void **state)
{
    (void)state;
    int before = atomic_load(&hits);
    expect_failure(401, "{\"error\":\"invalid_client\",\"error_description\":\"bad s3cr:et\"}",
                   "the token endpoint refused the client credentials (invalid_client)");
    assert_string_equal(R[0].error,
                        "the token endpoint refused the client credentials (invalid_client)");
    expect_failure(400, "{\"error\":\"invalid_client\"}",
                   "the token endpoint refused the client credentials (invalid_client)");
    expect_failure(401, "", "refused the client credentials (HTTP 401)");
    expect_failure(400, "{\"error\":\"unsupported_grant_type\"}",
                   "refused the token request (HTTP 400, unsupported_grant_type)");
    /* An error code the RFC does not know is not repeated. */
    expect_failure(400, "{\"error\":\"s3cr:et &pw/+=%x\"}", "HTTP 400");
    expect_failure(500, "<html>busy</html>", "HTTP 500");
    expect_failure(200, "not json", "not a JSON object");
    expect_failure(200, "[\"tok-1\"]", "not a JSON object");
    expect_failure(200, "{\"access_token\":\"tok-1\"} trailing", "not a JSON object");
    expect_failure(200, "{\"token_type\":\"Bearer\",\"expires_in\":60}", "no access_token");
    expect_failure(200, "{\"access_token\":42}", "no access_token");
    expect_failure(200, "{\"access_token\":\"\"}", "printable ASCII");
    expect_failure(200, "{\"access_token\":\"tok-1\\r\\nX-Evil: 1\"}", "printable ASCII");
    expect_failure(200, "{\"access_token\":\"tok-1\",\"token_type\":\"mac\"}", "\"mac\"");
    expect_failure(200, "{\"access_token\":\"tok-1\",\"token_type\":7}", "not Bearer");
    expect_failure(200, "{\"access_token\":\"tok-1\",\"expires_in\":0}", "expires_in");
    expect_failure(200, "{\"access_token\":\"tok-1\",\"expires_in\":-5}", "expires_in");
    expect_failure(200, "{\"access_token\":\"tok-1\",\"expires_in\":1.5}", "expires_in");
    expect_failure(200, "{\"access_token\":\"tok-1\",\"expires_in\":\"soon\"}", "expires_in");
    /* One request per failure: a failure is not cached, the next get asks again. */
    assert_int_equal(atomic_load(&hits), before + 19);
    assert_stats(19, 0, 19);
    /* And the endpoint recovers. */
    answer_set(0, NULL);
    pl_oauth_client c = make_client();
    assert_int_equal(fetch_token(&c, &R[2], NULL), 1);
    assert_stats(20, 1, 19);
}

static void test_token_forms(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    /* token_type in any case, or absent; expires_in as a string of digits. */
    answer_set(200, "{\"access_token\":\"abc.DEF-123_~+/=\",\"token_type\":\"bEaReR\"}");
    char h[PL_OAUTH_HEADER_SIZE];
    assert_int_equal(fetch_token(&c, &R[0], h), 1);
    assert_string_equal(h, "Authorization: Bearer abc.DEF-123_~+/=");
    pl_oauth_invalidate(O, "EXT", 1);
    answer_set(200, "{\"access_token\":\"t2\",\"expires_in\":\"60\"}");
    fake_now = 5000;
    assert_int_equal(fetch_token(&c, &R[1], h), 2);
    assert_string_equal(h, "Authorization: Bearer t2");
    fake_now = 5053.9;
    assert_int_equal(get_cached(&c, NULL), 2);
    fake_now = 5054;
    pl_oauth_invalidate(O, "EXT", 2);

    /* 2048 characters is the longest token; it fills the header buffer's size. */
    char tok[2050];
    memset(tok, 'A', sizeof tok);
    tok[2048] = '\0';
    json_object *o = json_object_new_object();
    json_object_object_add(o, "access_token", json_object_new_string(tok));
    answer_set(200, json_object_to_json_string(o));
    json_object_put(o);
    assert_int_equal(fetch_token(&c, &R[2], h), 3);
    assert_int_equal(strlen(h), strlen("Authorization: Bearer ") + 2048);
    assert_true(strlen(h) < PL_OAUTH_HEADER_SIZE);
    pl_oauth_invalidate(O, "EXT", 3);

    tok[2048] = 'A';
    tok[2049] = '\0';
    o = json_object_new_object();
    json_object_object_add(o, "access_token", json_object_new_string(tok));
    answer_set(200, json_object_to_json_string(o));
    json_object_put(o);
    memset(&R[3], 0, sizeof R[3]);
    get_queued(&c, &R[3]);
    drive_until_calls(&R[3], 1);
    assert_false(R[3].got_header);
    assert_non_null(strstr(R[3].error, "1-2048 printable ASCII"));
}

/* Transport failures: no connection (every attempt), and a timeout. */
static void test_transport_errors(void **state)
{
    (void)state;
    /* A port with nothing listening. */
    pl_oauth_client c = make_client();
    c.token_url = https_test_url(1, "127.0.0.1", https_test_closed_port(), "/token");
    c.connect_attempts = 2;
    get_queued(&c, &R[0]);
    drive_until_calls(&R[0], 1);
    assert_false(R[0].got_header);
    assert_false(R[0].cancelled);
    assert_non_null(strstr(R[0].error, "not_sent"));
    assert_no_secret(R[0].error);

    /* A warm connection first, so the short timeout is spent waiting for the answer rather
     * than on a TLS handshake (slow under valgrind). */
    c = make_client();
    fetch_token(&c, &R[1], NULL);
    int slow_before = atomic_load(&slow_hits);
    c.key = "SLOW";
    c.token_url = https_test_url(2, "127.0.0.1", srv.port, "/slow");
    c.timeout_ms = 5000;
    get_queued(&c, &R[2]);
    drive_until_calls(&R[2], 1);
    release_slow();
    assert_int_equal(atomic_load(&slow_hits), slow_before + 1);
    assert_false(R[2].got_header);
    assert_false(R[2].cancelled);
    assert_non_null(strstr(R[2].error, "timeout"));
    assert_no_secret(R[2].error);
    assert_stats(3, 1, 2);
}

/* cancel removes every waiter with that arg; the others still get the token. */
static void test_cancel(void **state)
{
    (void)state;
    pl_oauth_client c = make_client(), d = make_client();
    d.key = "EX2";
    get_queued(&c, &R[0]);
    get_queued(&c, &R[1]);
    get_queued(&d, &R[1]);
    get_queued(&c, &R[2]);
    assert_int_equal(pl_oauth_waiting(O), 4);
    pl_oauth_cancel(O, &R[1]);
    pl_oauth_cancel(O, &R[5]); /* nothing queued with it */
    pl_oauth_cancel(NULL, &R[0]);
    assert_int_equal(pl_oauth_waiting(O), 2);
    drive_idle();
    assert_int_equal(R[0].calls, 1);
    assert_int_equal(R[1].calls, 0);
    assert_int_equal(R[2].calls, 1);
    assert_true(R[0].seq < R[2].seq);
    /* d's request went on without waiters: its token is cached. */
    assert_int_equal(get_cached(&d, NULL), 1);
    /* A cancelled waiter's request made after the cancel is queued again normally. */
    pl_oauth_invalidate(O, "EXT", 1);
    get_queued(&c, &R[3]);
    pl_oauth_cancel(O, &R[3]);
    get_queued(&c, &R[4]);
    drive_idle();
    assert_int_equal(R[3].calls, 0);
    assert_int_equal(R[4].calls, 1);
    assert_int_equal(R[4].gen, 2);
}

/* pl_oauth_free calls its waiters cancelled; the abandoned request is freed by pl_http. */
static void test_free_cancels(void **state)
{
    (void)state;
    pl_oauth_client c = make_client(), d = make_client();
    d.key = "EX2";
    get_queued(&c, &R[0]);
    get_queued(&d, &R[1]);
    get_queued(&c, &R[2]);
    pl_oauth_free(O);
    O = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(R[i].calls, 1);
        assert_true(R[i].cancelled);
        assert_false(R[i].got_header);
        assert_true(R[i].error[0] != '\0');
    }
    assert_true(R[0].seq < R[2].seq);
    /* The requests still finish in pl_http (their answers are thrown away). */
    assert_int_equal(pl_http_in_flight(H), 2);
    drive_idle();
    for (int i = 0; i < 3; i++)
        assert_int_equal(R[i].calls, 1);
    pl_oauth_free(NULL);

    /* Abandoned requests still in flight when pl_http is destroyed: freed there. */
    O = pl_oauth_new(H, fake_clock);
    assert_non_null(O);
    memset(R, 0, sizeof R);
    get_queued(&c, &R[0]);
    pl_oauth_free(O);
    O = NULL;
    assert_int_equal(R[0].calls, 1);
    assert_true(R[0].cancelled);
    pl_http_destroy(H);
    H = NULL;
    assert_int_equal(R[0].calls, 1);
}

/* pl_http_destroy calls the waiters cancelled; the cache then refuses new gets. */
static void test_http_destroy_cancels(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    get_queued(&c, &R[0]);
    get_queued(&c, &R[1]);
    pl_http_destroy(H);
    H = NULL;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(R[i].calls, 1);
        assert_true(R[i].cancelled);
        assert_false(R[i].got_header);
        assert_non_null(strstr(R[i].error, "shutting down"));
    }
    assert_stats(1, 0, 1);
    char h[PL_OAUTH_HEADER_SIZE];
    assert_int_equal(pl_oauth_get(O, &c, on_token, &R[2], h, sizeof h, NULL), PL_ERR_STATE);
    pl_oauth_free(O);
    O = NULL;
    assert_int_equal(R[2].calls, 0);
}

/* ---- re-entrant callbacks ---- */

static pl_oauth_client reentrant_client;
static int reget_rc;
static char reget_header[PL_OAUTH_HEADER_SIZE];
static unsigned reget_gen;

/* R[0]: asks again (the token is cached by now) and cancels R[2], who waits behind it. */
static void cb_reget_and_cancel(void *arg, const char *header, unsigned gen, const char *error,
                                bool cancelled)
{
    record(arg, header, gen, error, cancelled);
    reget_rc = pl_oauth_get(O, &reentrant_client, on_token, &R[6], reget_header,
                            sizeof reget_header, &reget_gen);
    pl_oauth_cancel(O, &R[2]);
}

/* R[1]: a 401 proved the token bad: invalidate it and ask again (a new request). */
static void cb_invalidate_and_retry(void *arg, const char *header, unsigned gen, const char *error,
                                    bool cancelled)
{
    rec *x = arg;
    record(x, header, gen, error, cancelled);
    if (x->calls == 1) {
        pl_oauth_invalidate(O, "EXT", gen);
        char h[PL_OAUTH_HEADER_SIZE];
        assert_int_equal(
            pl_oauth_get(O, &reentrant_client, cb_invalidate_and_retry, x, h, sizeof h, NULL), 0);
    }
}

static void test_reentrant(void **state)
{
    (void)state;
    reentrant_client = make_client();
    char h[PL_OAUTH_HEADER_SIZE];
    int before = atomic_load(&hits);
    assert_int_equal(
        pl_oauth_get(O, &reentrant_client, cb_reget_and_cancel, &R[0], h, sizeof h, NULL), 0);
    assert_int_equal(
        pl_oauth_get(O, &reentrant_client, cb_invalidate_and_retry, &R[1], h, sizeof h, NULL), 0);
    get_queued(&reentrant_client, &R[2]);
    get_queued(&reentrant_client, &R[3]);
    drive_until_calls(&R[1], 2);
    drive_idle();
    /* R[0] found the token cached from inside its callback. */
    assert_int_equal(R[0].calls, 1);
    assert_int_equal(reget_rc, 1);
    assert_int_equal(reget_gen, 1);
    assert_string_equal(reget_header, R[0].header);
    assert_int_equal(R[6].calls, 0);
    /* R[2] was cancelled by R[0]'s callback before its own turn. */
    assert_int_equal(R[2].calls, 0);
    /* R[3] still got the first token, though R[1] invalidated it just before. */
    assert_int_equal(R[3].calls, 1);
    assert_int_equal(R[3].gen, 1);
    assert_string_equal(R[3].header, R[0].header);
    /* R[1]'s retry made a second request and got the next generation. */
    assert_int_equal(R[1].calls, 2);
    assert_int_equal(R[1].gen, 2);
    assert_string_not_equal(R[1].header, R[0].header);
    assert_int_equal(atomic_load(&hits), before + 2);
    assert_int_equal(get_cached(&reentrant_client, NULL), 2);
}

/* A waiter whose request failed retries from its callback: a new request is made. */
static void cb_retry_once(void *arg, const char *header, unsigned gen, const char *error,
                          bool cancelled)
{
    rec *x = arg;
    record(x, header, gen, error, cancelled);
    if (x->calls == 1) {
        answer_set(0, NULL);
        char h[PL_OAUTH_HEADER_SIZE];
        assert_int_equal(pl_oauth_get(O, &reentrant_client, cb_retry_once, x, h, sizeof h, NULL),
                         0);
    }
}

static void test_retry_after_failure(void **state)
{
    (void)state;
    reentrant_client = make_client();
    answer_set(503, "");
    char h[PL_OAUTH_HEADER_SIZE];
    assert_int_equal(pl_oauth_get(O, &reentrant_client, cb_retry_once, &R[0], h, sizeof h, NULL),
                     0);
    drive_until_calls(&R[0], 2);
    assert_true(R[0].got_header);
    assert_int_equal(R[0].gen, 1);
    assert_stats(2, 1, 1);
}

/* A callback run by pl_oauth_free may cancel the others; a get then is refused. */
static int free_get_rc;
static void cb_during_free(void *arg, const char *header, unsigned gen, const char *error,
                           bool cancelled)
{
    record(arg, header, gen, error, cancelled);
    pl_oauth_cancel(O, &R[1]);
    char h[PL_OAUTH_HEADER_SIZE];
    pl_oauth_client c = make_client();
    free_get_rc = pl_oauth_get(O, &c, on_token, &R[5], h, sizeof h, NULL);
}

static void test_reentrant_free(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    char h[PL_OAUTH_HEADER_SIZE];
    assert_int_equal(pl_oauth_get(O, &c, cb_during_free, &R[0], h, sizeof h, NULL), 0);
    get_queued(&c, &R[1]);
    get_queued(&c, &R[2]);
    pl_oauth *o = O;
    pl_oauth_free(o);
    O = NULL;
    assert_int_equal(R[0].calls, 1);
    assert_int_equal(R[1].calls, 0);
    assert_int_equal(R[2].calls, 1);
    assert_true(R[2].cancelled);
    assert_int_equal(free_get_rc, PL_ERR_STATE);
    assert_int_equal(R[5].calls, 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    pl_oauth_client c = make_client();
    char h[PL_OAUTH_HEADER_SIZE];
    rec *x = &R[0];
    assert_int_equal(pl_oauth_get(NULL, &c, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    assert_int_equal(pl_oauth_get(O, NULL, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    assert_int_equal(pl_oauth_get(O, &c, NULL, x, h, sizeof h, NULL), PL_ERR_INVALID);
    assert_int_equal(pl_oauth_get(O, &c, on_token, x, NULL, sizeof h, NULL), PL_ERR_INVALID);
    assert_int_equal(pl_oauth_get(O, &c, on_token, x, h, PL_OAUTH_HEADER_SIZE - 1, NULL),
                     PL_ERR_INVALID);
    pl_oauth_client bad = c;
    bad.key = "";
    assert_int_equal(pl_oauth_get(O, &bad, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    bad = c;
    bad.key = NULL;
    assert_int_equal(pl_oauth_get(O, &bad, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    bad = c;
    bad.token_url = "";
    assert_int_equal(pl_oauth_get(O, &bad, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    bad = c;
    bad.client_id = NULL;
    assert_int_equal(pl_oauth_get(O, &bad, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    bad = c;
    bad.secret = NULL;
    assert_int_equal(pl_oauth_get(O, &bad, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    static char long_secret[1026];
    memset(long_secret, 'x', sizeof long_secret - 1);
    bad = c;
    bad.secret = long_secret;
    assert_int_equal(pl_oauth_get(O, &bad, on_token, x, h, sizeof h, NULL), PL_ERR_INVALID);
    assert_int_equal(pl_oauth_waiting(O), 0);
    assert_int_equal(pl_http_in_flight(H), 0);
    assert_stats(0, 0, 0);
    assert_null(pl_oauth_new(NULL, NULL));
    uint64_t r = 7;
    pl_oauth_stats(NULL, &r, NULL, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(pl_oauth_waiting(NULL), 0);
    assert_int_equal(x->calls, 0);

    /* An empty secret is allowed; the real clock works (NULL now). */
    pl_oauth_free(O);
    O = pl_oauth_new(H, NULL);
    assert_non_null(O);
    c.secret = "";
    assert_int_equal(fetch_token(&c, &R[1], NULL), 1);
    assert_int_equal(get_cached(&c, NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fetch_join_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalidate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_change_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endpoint_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_destroy_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentrant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentrant_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
