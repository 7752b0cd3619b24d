/*
 * test_http.c: the libcurl multi transport (http.h) against a real HTTPS server.
 *
 * The server is https_test_server.h's (libmicrohttpd in this process, one thread per
 * connection so a slow answer does not hold up the others, certificates generated at start-up
 * by the openssl command line into a private directory). The client side is driven the way the
 * engine drives it: pl_http_wait in a loop, with a deadline. Each call records how often its
 * callback fired (libuv-style counters), and the server counts what reached it, which is how "never
 * re-sent" and "nothing was sent" are checked.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
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
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
/* valgrind's client requests (no-ops outside valgrind), for __wrap_free's search. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define PL_HAVE_MEMCHECK 1
#endif
#endif
#include <microhttpd.h>

#include "http.h"
#include "https_test_server.h"

/* The answer to /big; the clients under test cap answers well below it. */
#define BIG_BODY_SIZE (256 * 1024)
#define SMALL_CAP (64 * 1024)
/*
 * No assertion here measures time: on a loaded machine (valgrind, two cores, other builds) any
 * duration can stretch. These are deadlines against hanging only, far above what a call needs:
 * a call's timeout where the test is not about timeouts, how long a test drives its calls, and
 * the longest a /slow answer waits to be released (tests release it, the teardown at the
 * latest).
 */
#define CALL_MS 60000
#define DRIVE_MS 120000
#define SLOW_MAX_MS 300000
/* How long the test of many calls at once may drive them (hundreds of handshakes, valgrind). */
#define MANY_MS 600000

/* ---- the server ---------------------------------------------------------------------- */

/* What reached the server (handlers run on MHD's threads). */
static atomic_int hits_ok, hits_slow, hits_close, hits_big, hits_echo, hits_other;
/* /slow answers when this changes (release_slow), and counts the answers it sent. */
static atomic_int slow_generation, slow_answered;

/* The last /ok request, for header and body checks. */
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char method[16], body[256], content_type[128], soap_action[128], authorization[128];
    char issue_amount[64];
    bool has_expect;
} last;

static char big_body[BIG_BODY_SIZE];
/*
 * Stored value card generation answers, which carry a full new card number (CARD_MARKER): small
 * (kept in a pooled buffer as it is), grown (past the first 4 KiB buffer, still pooled) and
 * large (past KEEP_BUF, 16 KiB: the buffer is freed). Filled by group_setup.
 */
#define CARD_MARKER "9117230675152172"
static char card_small[128], card_grown[10 * 1024], card_large[24 * 1024];
static char g_dir[64];
static char *cert_pem, *key_pem, *other_cert_pem, *other_key_pem;
static char ca_path[128], other_ca_path[128];
static https_test_server srv, other_srv;

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "text/xml; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The server's answers, by path (https_test_server.h calls it once the request has arrived). */
static enum MHD_Result on_request(struct MHD_Connection *c, const char *url, const char *method,
                                  const char *body)
{
    if (strcmp(url, "/ok") == 0) {
        pthread_mutex_lock(&last_mu);
        snprintf(last.method, sizeof last.method, "%s", method);
        snprintf(last.body, sizeof last.body, "%s", body);
        https_test_header(c, "Content-Type", last.content_type, sizeof last.content_type);
        https_test_header(c, "SOAPAction", last.soap_action, sizeof last.soap_action);
        https_test_header(c, "Authorization", last.authorization, sizeof last.authorization);
        https_test_header(c, "X-Paylink-Issue-Amount", last.issue_amount, sizeof last.issue_amount);
        last.has_expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect") != NULL;
        pthread_mutex_unlock(&last_mu);
        atomic_fetch_add(&hits_ok, 1);
        return respond(c, MHD_HTTP_OK, "<ok>hello</ok>");
    }
    if (strcmp(url, "/status500") == 0) {
        atomic_fetch_add(&hits_other, 1);
        return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "<fault>busy</fault>");
    }
    if (strcmp(url, "/slow") == 0) {
        /* No answer until a test (or the teardown) releases it. */
        https_test_hold(&slow_generation, &hits_slow, SLOW_MAX_MS);
        atomic_fetch_add(&slow_answered, 1);
        return respond(c, MHD_HTTP_OK, "<late/>");
    }
    if (strcmp(url, "/close") == 0) {
        /* Read the request, then drop the connection without an answer. */
        atomic_fetch_add(&hits_close, 1);
        return MHD_NO;
    }
    if (strcmp(url, "/echo") == 0) {
        /* The request's body back, so that each of many calls can check it got its own. */
        atomic_fetch_add(&hits_echo, 1);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strncmp(url, "/card_", 6) == 0) {
        const char *b = strcmp(url, "/card_small") == 0   ? card_small
                        : strcmp(url, "/card_grown") == 0 ? card_grown
                                                          : card_large;
        atomic_fetch_add(&hits_other, 1);
        return respond(c, MHD_HTTP_OK, b);
    }
    if (strcmp(url, "/big") == 0) {
        atomic_fetch_add(&hits_big, 1);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof big_body, big_body, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    atomic_fetch_add(&hits_other, 1);
    return respond(c, MHD_HTTP_NOT_FOUND, "<notfound/>");
}

/* Lets every /slow request waiting now answer. */
static void release_slow(void)
{
    https_test_release(&slow_generation);
}

/* A forward proxy whose rules refuse every CONNECT (403): the bureau is never reached. */
static int proxy_fd = -1, proxy_port;
static pthread_t proxy_thread;
static bool proxy_running;
static atomic_bool stop_proxy;
static atomic_int proxy_connects;

static void *proxy_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_proxy)) {
        struct pollfd p = {.fd = proxy_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(proxy_fd, NULL, NULL);
        if (c < 0)
            continue;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[2048];
        size_t len = 0;
        buf[0] = '\0';
        while (len < sizeof buf - 1 && !strstr(buf, "\r\n\r\n")) {
            ssize_t n = recv(c, buf + len, sizeof buf - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
        }
        if (strncmp(buf, "CONNECT ", 8) == 0)
            atomic_fetch_add(&proxy_connects, 1);
        static const char refusal[] =
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (send(c, refusal, sizeof refusal - 1, MSG_NOSIGNAL) < 0)
            perror("proxy send");
        close(c);
    }
    return NULL;
}

static int proxy_start(void)
{
    proxy_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (proxy_fd < 0)
        return -1;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    if (bind(proxy_fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(proxy_fd, 16) != 0 ||
        getsockname(proxy_fd, (struct sockaddr *)&sin, &len) != 0)
        return -1;
    proxy_port = ntohs(sin.sin_port);
    if (pthread_create(&proxy_thread, NULL, proxy_main, NULL) != 0)
        return -1;
    proxy_running = true;
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    memset(big_body, 'x', sizeof big_body);
    snprintf(card_small, sizeof card_small, "{\"cardNumber\":\"%s\",\"balance\":\"25.00\"}",
             CARD_MARKER);
    char *pad[] = {card_grown, card_large};
    size_t pad_size[] = {sizeof card_grown, sizeof card_large};
    for (size_t i = 0; i < 2; i++) {
        memset(pad[i], 'x', pad_size[i] - 1);
        pad[i][pad_size[i] - 1] = '\0';
        int n = snprintf(pad[i], pad_size[i],
                         "<GenerateCardResponse><CardNumber>%s</CardNumber><Pad>", CARD_MARKER);
        pad[i][n] = 'x'; /* snprintf's NUL: the padding goes on */
        memcpy(pad[i] + pad_size[i] - 1 - strlen("</Pad></GenerateCardResponse>"),
               "</Pad></GenerateCardResponse>", strlen("</Pad></GenerateCardResponse>"));
    }
    if (https_test_dir_new(g_dir, sizeof g_dir, "test_http") != 0)
        return -1;
    if (https_test_make_cert(g_dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1", &cert_pem,
                             &key_pem, ca_path, sizeof ca_path) != 0 ||
        https_test_make_cert(g_dir, "other", "other.invalid", "DNS:other.invalid", &other_cert_pem,
                             &other_key_pem, other_ca_path, sizeof other_ca_path) != 0) {
        fprintf(stderr, "cannot generate certificates with openssl\n");
        return -1;
    }
    if (https_test_server_start(&srv, cert_pem, key_pem, on_request) != 0 ||
        https_test_server_start(&other_srv, other_cert_pem, other_key_pem, on_request) != 0) {
        fprintf(stderr, "cannot start the HTTPS test server\n");
        return -1;
    }
    if (proxy_start() != 0) {
        perror("cannot start the test proxy");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    release_slow();
    atomic_store(&stop_proxy, true);
    if (proxy_running)
        pthread_join(proxy_thread, NULL);
    if (proxy_fd >= 0)
        close(proxy_fd);
    https_test_server_stop(&srv);
    https_test_server_stop(&other_srv);
    free(cert_pem);
    free(key_pem);
    free(other_cert_pem);
    free(other_key_pem);
    return https_test_dir_remove(g_dir);
}

/* ---- the client side ----------------------------------------------------------------- */

/* One call's callback record. */
typedef struct rec {
    int calls;
    pl_http_outcome outcome;
    long status;
    char body[128];
    size_t body_len;
    char error[256];
    int attempts;
    double seconds;
    bool too_big;
    bool fired_while_slow_pending; /* set by the test that races /ok against /slow */
} rec;

static void on_done(void *arg, const pl_http_response *r)
{
    rec *x = arg;
    x->calls++;
    x->outcome = r->outcome;
    x->status = r->status;
    x->body_len = r->body_len;
    snprintf(x->body, sizeof x->body, "%s", r->body ? r->body : "(null)");
    snprintf(x->error, sizeof x->error, "%s", r->error ? r->error : "(null)");
    x->attempts = r->attempts;
    x->seconds = r->seconds;
    x->too_big = r->too_big;
}

/* Drives the transfers until x's callback has fired. */
static void drive_until_called(pl_http *h, const rec *x)
{
    https_test_drive_until(h, &x->calls, 1, DRIVE_MS);
}

/* Drives the transfers until *counter reaches want. */
static void drive_until(pl_http *h, atomic_int *counter, int want, int max_ms)
{
    int64_t deadline = https_test_now_ms() + max_ms;
    while (atomic_load(counter) < want) {
        if (https_test_now_ms() > deadline)
            fail_msg("server counter still %d (want %d) after %d ms", atomic_load(counter), want,
                     max_ms);
        assert_int_equal(pl_http_wait(h, NULL, 0, 20), 0);
    }
}

/*
 * A call of the tests: its connection wait as long as its answer wait (http.c caps it there),
 * not the default 10 s: tens of calls submitted at once make as many TLS handshakes at once,
 * which under valgrind, beside other tests, can take longer than that — and a second
 * connection attempt where the tests count one is a failure they are not about (a CI run's
 * test_dropped_and_new_connections once found "connection_lost after 2 attempt(s)").
 */
static pl_http_call make_call(const char *url, long timeout_ms)
{
    pl_http_call c = {
        .url = url,
        .body = "<ping/>",
        .body_len = 7,
        .content_type = "text/xml; charset=utf-8",
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms,
        .connect_attempts = 3,
    };
    return c;
}

/* Clients of the running test, so a failed assertion does not leak them (see teardown). */
static pl_http *clients[4];

static pl_http *new_client(const char *ca, size_t max_body)
{
    char err[256] = "";
    pl_http *h = pl_http_new(ca, max_body, err, sizeof err);
    if (!h)
        fail_msg("pl_http_new: %s", err);
    assert_int_equal(pl_http_in_flight(h), 0);
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        if (!clients[i]) {
            clients[i] = h;
            return h;
        }
    }
    fail_msg("too many clients in one test");
    return NULL;
}

static void drop_client(pl_http *h)
{
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++)
        if (clients[i] == h)
            clients[i] = NULL;
    pl_http_destroy(h);
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        /* A client with calls still in flight is left alone: their callbacks would write to
         * the failed test's stack frame, which is gone. */
        if (clients[i] && pl_http_in_flight(clients[i]) == 0)
            pl_http_destroy(clients[i]);
        clients[i] = NULL;
    }
    return 0;
}

/* Submits one call and drives it to its end. */
static void call_once(pl_http *h, const pl_http_call *c, rec *x, int max_ms)
{
    memset(x, 0, sizeof *x);
    assert_int_equal(pl_http_submit(h, c, on_done, x), 0);
    assert_int_equal(pl_http_in_flight(h), 1);
    https_test_drive_idle(h, max_ms);
    assert_int_equal(x->calls, 1);
}

static void test_ok(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    c.soap_action = "runTransaction";
    c.auth_header = "Authorization: Bearer t0k3n";
    c.extra_header = "X-Paylink-Issue-Amount: 909.00";
    int before = atomic_load(&hits_ok);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_int_equal(x.status, 200);
    assert_string_equal(x.body, "<ok>hello</ok>");
    assert_int_equal(x.body_len, strlen("<ok>hello</ok>"));
    assert_string_equal(x.error, "");
    assert_int_equal(x.attempts, 1);
    assert_true(x.seconds > 0);
    assert_int_equal(atomic_load(&hits_ok), before + 1);

    /* What the server received. */
    pthread_mutex_lock(&last_mu);
    assert_string_equal(last.method, "POST");
    assert_string_equal(last.body, "<ping/>");
    assert_string_equal(last.content_type, "text/xml; charset=utf-8");
    assert_string_equal(last.soap_action, "\"runTransaction\"");
    assert_string_equal(last.authorization, "Bearer t0k3n");
    assert_string_equal(last.issue_amount, "909.00");
    assert_false(last.has_expect);
    pthread_mutex_unlock(&last_mu);

    /* By host name too (the certificate names localhost), without optional headers. */
    c = make_call(https_test_url(1, "localhost", srv.port, "/ok"), CALL_MS);
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    pthread_mutex_lock(&last_mu);
    assert_string_equal(last.soap_action, "");
    assert_string_equal(last.authorization, "");
    assert_string_equal(last.issue_amount, "");
    pthread_mutex_unlock(&last_mu);
    drop_client(h);
}

static void test_any_status_is_an_answer(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/status500"), CALL_MS);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_int_equal(x.status, 500);
    assert_string_equal(x.body, "<fault>busy</fault>");
    c.url = https_test_url(1, "127.0.0.1", srv.port, "/nowhere");
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_int_equal(x.status, 404);
    drop_client(h);
}

static void test_many_in_flight(void **state)
{
    (void)state;
    enum { N = 24 };
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    rec x[N];
    memset(x, 0, sizeof x);
    int before = atomic_load(&hits_ok);
    for (int i = 0; i < N; i++)
        assert_int_equal(pl_http_submit(h, &c, on_done, &x[i]), 0);
    assert_int_equal(pl_http_in_flight(h), N);
    https_test_drive_idle(h, DRIVE_MS);
    for (int i = 0; i < N; i++) {
        assert_int_equal(x[i].calls, 1);
        assert_int_equal(x[i].outcome, PL_HTTP_OK);
        assert_int_equal(x[i].status, 200);
        assert_string_equal(x[i].body, "<ok>hello</ok>");
    }
    assert_int_equal(atomic_load(&hits_ok), before + N);
    drop_client(h);
}

/* A fast call submitted while a slow one waits for its answer is not held up by it. */
static void test_slow_does_not_hold_up_others(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    int slow_before = atomic_load(&hits_slow), answered_before = atomic_load(&slow_answered);
    pl_http_call slow = make_call(https_test_url(0, "127.0.0.1", srv.port, "/slow"), CALL_MS);
    pl_http_call fast = make_call(https_test_url(1, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    rec x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    assert_int_equal(pl_http_submit(h, &slow, on_done, &x), 0);
    drive_until(h, &hits_slow, slow_before + 1, DRIVE_MS);
    assert_int_equal(pl_http_submit(h, &fast, on_done, &y), 0);
    drive_until_called(h, &y);
    assert_int_equal(y.outcome, PL_HTTP_OK);
    /* The slow one cannot have finished: its answer is not released yet. */
    assert_int_equal(x.calls, 0);
    assert_int_equal(atomic_load(&slow_answered), answered_before);
    assert_int_equal(pl_http_in_flight(h), 1);

    release_slow();
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_string_equal(x.body, "<late/>");
    drop_client(h);
}

static void test_timeout(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    /* Warm up: the slow call then runs on an established connection, so its short timeout
     * is spent waiting for the answer, not on the TLS handshake (slow under valgrind). */
    pl_http_call warm = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    rec w;
    call_once(h, &warm, &w, DRIVE_MS);
    assert_int_equal(w.outcome, PL_HTTP_OK);

    int slow_before = atomic_load(&hits_slow), answered_before = atomic_load(&slow_answered);
    pl_http_call c = make_call(https_test_url(1, "127.0.0.1", srv.port, "/slow"), 5000);
    rec x;
    memset(&x, 0, sizeof x);
    assert_int_equal(pl_http_submit(h, &c, on_done, &x), 0);
    drive_until(h, &hits_slow, slow_before + 1, DRIVE_MS);
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.outcome, PL_HTTP_TIMEOUT);
    assert_int_equal(x.attempts, 1);
    assert_int_equal(x.status, 0);
    assert_true(x.error[0] != '\0');
    /* The client gave up first: the server had not answered (it waits to be released). */
    assert_int_equal(atomic_load(&slow_answered), answered_before);
    /* Sent, so never re-sent. */
    assert_int_equal(atomic_load(&hits_slow), slow_before + 1);
    release_slow();
    drop_client(h);
}

/* A call to port's /close, which the server reads and drops: a lost connection, an unknown
 * outcome, and the server saw the request exactly once (an unknown outcome is never re-sent). */
static void call_lost_once(pl_http *h, int port, rec *x)
{
    int before = atomic_load(&hits_close);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", port, "/close"), CALL_MS);
    call_once(h, &c, x, DRIVE_MS);
    assert_int_equal(x->outcome, PL_HTTP_CONN_LOST);
    assert_int_equal(x->attempts, 1);
    assert_true(x->error[0] != '\0');
    assert_int_equal(atomic_load(&hits_close), before + 1);
}

static void test_connection_lost(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    rec x;
    call_lost_once(h, srv.port, &x);
    drop_client(h);
}

/*
 * The same on a kept-alive connection. libcurl re-sends a request on a fresh connection by
 * itself when a reused connection dies before any answer byte ("Connection died, retrying a
 * fresh connect"), which for a payment means a second authorization; the transport must not
 * let that happen.
 */
static void test_connection_lost_reused(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    rec x;
    pl_http_call warm = make_call(https_test_url(1, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    call_once(h, &warm, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    call_lost_once(h, srv.port, &x);
    assert_non_null(strstr(x.error, "after the request was sent"));
    drop_client(h);
}

/*
 * The same, when libcurl's fresh connect for its re-send is refused (the bureau went away with
 * the request read): the request went out once, so the outcome is unknown, never "not sent"
 * (paylink would send it again) whatever libcurl's counters say after its retry, and the
 * message says the request was sent, not only that a connect failed, which an operator could
 * read as "never reached the bureau".
 */
static void test_connection_lost_then_refused(void **state)
{
    (void)state;
    https_test_server s3 = {0};
    assert_int_equal(https_test_server_start(&s3, cert_pem, key_pem, on_request), 0);
    pl_http *h = new_client(ca_path, 0);
    rec x;
    pl_http_call warm = make_call(https_test_url(1, "127.0.0.1", s3.port, "/ok"), CALL_MS);
    call_once(h, &warm, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    /* No new connection from here on: the kept one stays served, nothing else is accepted. */
    MHD_socket listener = MHD_quiesce_daemon(s3.d);
    assert_true(listener != MHD_INVALID_SOCKET);
    close(listener);
    call_lost_once(h, s3.port, &x);
    assert_non_null(strstr(x.error, "after the request was sent"));
    drop_client(h);
    https_test_server_stop(&s3);
}

static void test_body_cap(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, SMALL_CAP);
    int before = atomic_load(&hits_big);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/big"), CALL_MS);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_CONN_LOST);
    assert_int_equal(x.attempts, 1);
    assert_non_null(strstr(x.error, "larger than 65536"));
    assert_true(x.too_big);
    assert_int_equal(atomic_load(&hits_big), before + 1);
    /* Small answers still pass on the same client. */
    c.url = https_test_url(1, "127.0.0.1", srv.port, "/ok");
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_false(x.too_big);
    drop_client(h);

    /* Without a cap given, the default (1 MiB) lets the 256 KiB answer through. */
    h = new_client(ca_path, 0);
    c.url = https_test_url(0, "127.0.0.1", srv.port, "/big");
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_int_equal(x.body_len, BIG_BODY_SIZE);
    drop_client(h);
}

static void test_not_sent_closed_port(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c =
        make_call(https_test_url(0, "127.0.0.1", https_test_closed_port(), "/ok"), 5000);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(x.attempts, 3);
    assert_int_equal(x.status, 0);
    assert_true(x.error[0] != '\0');

    /* connect_attempts below 1 means one attempt. */
    c.connect_attempts = 0;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(x.attempts, 1);

    /* The retries go where the call said, also when the caller's URL (and proxy) strings are
     * gone after the submit (the engine builds its URL on the stack): here they are overwritten
     * with a server that answers, which a retry reading them again would reach. */
    char url[200], proxy[40] = "";
    snprintf(url, sizeof url, "%s",
             https_test_url(0, "127.0.0.1", https_test_closed_port(), "/ok"));
    c = make_call(url, 5000);
    c.proxy = proxy;
    int ok_before = atomic_load(&hits_ok), connects = atomic_load(&proxy_connects);
    memset(&x, 0, sizeof x);
    assert_int_equal(pl_http_submit(h, &c, on_done, &x), 0);
    snprintf(url, sizeof url, "%s", https_test_url(0, "127.0.0.1", srv.port, "/ok"));
    snprintf(proxy, sizeof proxy, "127.0.0.1:%d", proxy_port);
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(x.attempts, 3);
    assert_int_equal(atomic_load(&hits_ok), ok_before);
    assert_int_equal(atomic_load(&proxy_connects), connects);
    drop_client(h);
}

static void test_not_sent_untrusted(void **state)
{
    (void)state;
    int before = atomic_load(&hits_ok);
    /* The system trust store does not know the test certificate. */
    pl_http *h = new_client(NULL, 0);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(x.attempts, 3);
    assert_true(x.error[0] != '\0');
    drop_client(h);

    /* A CA bundle that did not sign the server's certificate. */
    h = new_client(other_ca_path, 0);
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(x.attempts, 3);
    drop_client(h);

    /* A trusted certificate for another host name (other.invalid, not 127.0.0.1). */
    h = new_client(other_ca_path, 0);
    c.url = https_test_url(1, "127.0.0.1", other_srv.port, "/ok");
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(x.attempts, 3);
    drop_client(h);

    /* Nothing reached a handler. */
    assert_int_equal(atomic_load(&hits_ok), before);
}

/*
 * A proxy that refuses the tunnel: the request never left for the bureau, so this is
 * NOT_SENT (retried, then error 150), not an unknown outcome that would open a required
 * response for a call the bureau never saw.
 */
static void test_not_sent_proxy_refused(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "127.0.0.1:%d", proxy_port);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    c.proxy = proxy;
    int before = atomic_load(&hits_ok), connects = atomic_load(&proxy_connects);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    /* The proxy was asked (the call did go through it) ... */
    assert_true(atomic_load(&proxy_connects) > connects);
    assert_int_equal(atomic_load(&hits_ok), before);
    /* ... and refused, so nothing can have reached the bureau. */
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(x.attempts, 3);
    assert_int_equal(atomic_load(&proxy_connects), connects + 3);
    drop_client(h);
}

/*
 * A bureau's proxy is the operator's choice (auth_service.proxy_host, or the worker's
 * PAYLINK_PROXY_HOST): a no_proxy / NO_PROXY in the worker's environment must not send the
 * call to the bureau directly, past it. The proxy here refuses every tunnel, so a call that
 * went through it is not sent and the server never sees it; one that went around it would be
 * answered. The same client first makes a call without a proxy, so the proxied calls run on
 * a pooled handle that an earlier call used.
 */
static void test_proxy_despite_no_proxy_env(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "127.0.0.1:%d", proxy_port);
    static const struct {
        const char *name, *value, *host;
    } envs[] = {
        {"no_proxy", "*", "127.0.0.1"},
        {"no_proxy", "127.0.0.1,localhost", "127.0.0.1"},
        {"NO_PROXY", "127.0.0.1,localhost", "localhost"},
    };
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        assert_int_equal(setenv(envs[i].name, envs[i].value, 1), 0);
        char url[200];
        snprintf(url, sizeof url, "%s", https_test_url(0, envs[i].host, srv.port, "/ok"));
        pl_http_call c = make_call(url, CALL_MS);
        rec x;
        /* Without a proxy the call goes straight to the server, as before. */
        int before = atomic_load(&hits_ok);
        call_once(h, &c, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_OK);
        assert_int_equal(atomic_load(&hits_ok), before + 1);

        c.proxy = proxy;
        before = atomic_load(&hits_ok);
        int connects = atomic_load(&proxy_connects);
        call_once(h, &c, &x, DRIVE_MS);
        if (atomic_load(&hits_ok) != before)
            fail_msg("%s=%s: the call went to %s directly, not through the proxy", envs[i].name,
                     envs[i].value, envs[i].host);
        assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
        assert_int_equal(x.attempts, 3);
        assert_int_equal(atomic_load(&proxy_connects), connects + 3);
        assert_int_equal(unsetenv(envs[i].name), 0);
    }
    drop_client(h);
}

/* The environment as it was, also after a failed assertion. */
static int teardown_no_proxy_env(void **state)
{
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    return teardown(state);
}

static void test_https_only(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", srv.port);
    pl_http_call c = make_call(url, CALL_MS);
    int before = atomic_load(&hits_ok);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(atomic_load(&hits_ok), before);
    drop_client(h);
}

static void test_destroy_cancels(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    int before = atomic_load(&hits_slow);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/slow"), CALL_MS);
    rec x[2];
    memset(x, 0, sizeof x);
    assert_int_equal(pl_http_submit(h, &c, on_done, &x[0]), 0);
    assert_int_equal(pl_http_submit(h, &c, on_done, &x[1]), 0);
    drive_until(h, &hits_slow, before + 2, DRIVE_MS);
    assert_int_equal(pl_http_in_flight(h), 2);
    assert_int_equal(x[0].calls + x[1].calls, 0);
    drop_client(h);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(x[i].calls, 1);
        assert_int_equal(x[i].outcome, PL_HTTP_CANCELLED);
        assert_int_equal(x[i].attempts, 1);
        assert_string_equal(x[i].body, "");
        assert_true(x[i].error[0] != '\0');
    }
    release_slow();
    pl_http_destroy(NULL);
}

static void test_submit_errors(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    rec x;
    memset(&x, 0, sizeof x);
    pl_http_call c = make_call(NULL, 1000);
    assert_int_equal(pl_http_submit(h, &c, on_done, &x), PL_ERR_INVALID);
    c.url = https_test_url(0, "127.0.0.1", srv.port, "/ok");
    assert_int_equal(pl_http_submit(h, &c, NULL, &x), PL_ERR_INVALID);
    assert_int_equal(pl_http_submit(h, NULL, on_done, &x), PL_ERR_INVALID);
    assert_int_equal(pl_http_submit(NULL, &c, on_done, &x), PL_ERR_INVALID);
    assert_int_equal(pl_http_in_flight(h), 0);
    /* A refused submit never calls back, not even on destroy. */
    assert_int_equal(pl_http_wait(h, NULL, 0, 10), 0);
    drop_client(h);
    assert_int_equal(x.calls, 0);
}

static void test_wait_extra_fds(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN, .revents = 0};
    /* Nothing to read: the wait times out with revents clear. */
    assert_int_equal(pl_http_wait(h, &pfd, 1, 50), 0);
    assert_int_equal(pfd.revents, 0);
    /* A readable descriptor ends the wait (which would otherwise last the whole test) and is
     * reported. */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(pl_http_wait(h, &pfd, 1, DRIVE_MS), 0);
    assert_true(pfd.revents & POLLIN);
    /* More than 16 extra descriptors are refused. */
    struct pollfd many[17];
    for (int i = 0; i < 17; i++)
        many[i] = pfd;
    assert_int_equal(pl_http_wait(h, many, 17, 0), PL_ERR_INVALID);
    close(p[0]);
    close(p[1]);
    drop_client(h);
}

/* ---- the socket interface and the pool of handles ------------------------------------ */

static pl_http_counts counts_of(const pl_http *h)
{
    pl_http_counts k;
    pl_http_stats(h, &k);
    return k;
}

/* Submits n calls to /slow (call i reports to x[i]) and drives them until the server holds
 * them all: sent, and waiting for an answer until release_slow. */
static void submit_held(pl_http *h, rec *x, int n)
{
    int before = atomic_load(&hits_slow);
    pl_http_call c = make_call(https_test_url(15, "127.0.0.1", srv.port, "/slow"), CALL_MS);
    memset(x, 0, (size_t)n * sizeof *x);
    for (int i = 0; i < n; i++)
        assert_int_equal(pl_http_submit(h, &c, on_done, &x[i]), 0);
    drive_until(h, &hits_slow, before + n, DRIVE_MS);
    assert_int_equal(pl_http_in_flight(h), n);
}

/*
 * Submits n calls at once (call i reports to x[i]), drives them until none is in flight, and
 * checks that each callback fired once, with outcome want[i] after one attempt.
 */
static void run_at_once(pl_http *h, const pl_http_call *calls, rec *x, const pl_http_outcome *want,
                        int n, int max_ms)
{
    memset(x, 0, (size_t)n * sizeof *x);
    for (int i = 0; i < n; i++)
        assert_int_equal(pl_http_submit(h, &calls[i], on_done, &x[i]), 0);
    assert_int_equal(pl_http_in_flight(h), n);
    https_test_drive_idle(h, max_ms);
    for (int i = 0; i < n; i++) {
        assert_int_equal(x[i].calls, 1);
        if (x[i].outcome != want[i] || x[i].attempts != 1)
            fail_msg("call %d: %s after %d attempt(s) (%s), want %s", i,
                     pl_http_outcome_name(x[i].outcome), x[i].attempts, x[i].error,
                     pl_http_outcome_name(want[i]));
    }
}

/*
 * The pool gives back the handles a burst left once they go unused for a whole interval (here
 * 0: every wait), and the next calls take new ones.
 */
static void test_pool_trim(void **state)
{
    (void)state;
    enum { N = 4 };
    static rec x[N];
    static pl_http_call calls[N];
    static pl_http_outcome want[N];
    pl_http *h = new_client(ca_path, 0);
    for (int i = 0; i < N; i++) {
        calls[i] = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
        want[i] = PL_HTTP_OK;
    }
    run_at_once(h, calls, x, want, N, DRIVE_MS);
    assert_int_equal(counts_of(h).pooled, N);
    assert_int_equal(counts_of(h).easy_created, N);

    pl_http_set_trim_interval(h, 0);
    assert_int_equal(pl_http_wait(h, NULL, 0, 0), 0); /* starts the interval */
    assert_int_equal(counts_of(h).pooled, N);
    assert_int_equal(pl_http_wait(h, NULL, 0, 0), 0); /* N idle through all of it */
    assert_int_equal(counts_of(h).pooled, 0);

    /* The next call takes a new handle, which idles in the pool until an interval passes. */
    pl_http_set_trim_interval(h, 60000);
    run_at_once(h, calls, x, want, 1, DRIVE_MS);
    assert_int_equal(counts_of(h).easy_created, N + 1);
    assert_int_equal(counts_of(h).pooled, 1);
    drop_client(h);
}

/*
 * Many calls at once, each with its own body, each end exactly once with its own answer; the
 * second wave runs on the handles the first one left in the pool.
 */
static void test_many_concurrent(void **state)
{
    (void)state;
    enum { N = 200 };
    static rec x[N];
    static char bodies[N][32];
    static pl_http_call calls[N];
    static pl_http_outcome want[N];
    pl_http *h = new_client(ca_path, 0);
    /* No trim while the waves run: under valgrind on a loaded box a wave can outlast the 30 s
     * trim interval, and a handle one call left idle for all of it would be freed (a CI run:
     * pooled 199 of 200). test_pool_trim tests the trim. */
    pl_http_set_trim_interval(h, 24 * 3600 * 1000);
    int before = atomic_load(&hits_echo);
    for (int wave = 0; wave < 2; wave++) {
        for (int i = 0; i < N; i++) {
            snprintf(bodies[i], sizeof bodies[i], "<n>%d.%d</n>", wave, i);
            /* Hundreds of handshakes at once, each a server thread (under valgrind, one thread
             * at a time, beside other tests): the last answers can come more than a minute
             * after the calls were submitted (a CI run once had one past CALL_MS, "0 bytes
             * received"). Each call may wait as long as the test drives them. */
            calls[i] = make_call(https_test_url(0, "127.0.0.1", srv.port, "/echo"), MANY_MS);
            calls[i].body = bodies[i];
            calls[i].body_len = strlen(bodies[i]);
            want[i] = PL_HTTP_OK;
        }
        run_at_once(h, calls, x, want, N, MANY_MS);
        for (int i = 0; i < N; i++) {
            assert_int_equal(x[i].status, 200);
            assert_string_equal(x[i].body, bodies[i]);
        }
        pl_http_counts k = counts_of(h);
        assert_int_equal(k.calls, (wave + 1) * N);
        /* A handle for each call in flight in the first wave, none new in the second. */
        assert_int_equal(k.easy_created, N);
        assert_int_equal(k.pooled, N);
        /* Idle connections wait in curl's cache, unwatched. */
        assert_int_equal(k.sockets, 0);
    }
    /* Each request reached the server once. */
    assert_int_equal(atomic_load(&hits_echo), before + 2 * N);
    drop_client(h);
}

/*
 * One after another, calls of every outcome run on one easy handle; a call without an answer
 * never shows the answer an earlier call left in the handle's buffer. Then the idle client
 * sleeps.
 */
static void test_calls_in_a_row(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    pl_http_call ok = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    pl_http_call lost = make_call(https_test_url(1, "127.0.0.1", srv.port, "/close"), CALL_MS);
    pl_http_call refused =
        make_call(https_test_url(2, "127.0.0.1", https_test_closed_port(), "/ok"), CALL_MS);
    /* Through the proxy that refuses every tunnel: the next call must not go through it. */
    char proxy[64];
    snprintf(proxy, sizeof proxy, "127.0.0.1:%d", proxy_port);
    pl_http_call proxied = ok;
    proxied.proxy = proxy;
    rec x;
    for (int i = 0; i < 3; i++) {
        call_once(h, &ok, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_OK);
        assert_string_equal(x.body, "<ok>hello</ok>");
        call_once(h, &lost, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_CONN_LOST);
        assert_string_equal(x.body, "");
        assert_int_equal(x.body_len, 0);
        call_once(h, &refused, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
        assert_int_equal(x.attempts, 3);
        assert_string_equal(x.body, "");
        assert_int_equal(x.body_len, 0);
        int connects = atomic_load(&proxy_connects);
        call_once(h, &proxied, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
        assert_int_equal(atomic_load(&proxy_connects), connects + 3);
    }
    pl_http_counts k = counts_of(h);
    assert_int_equal(k.calls, 12);
    assert_int_equal(k.attempts, 3 * (1 + 1 + 3 + 3));
    assert_int_equal(k.easy_created, 1);
    assert_int_equal(k.pooled, 1);

    /* Idle now, the client sleeps: curl has no timer and no socket to watch, so its waits run
     * nothing (a timer left at 0 would run on every turn). */
    assert_int_equal(k.sockets, 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(pl_http_wait(h, &pfd, 1, 20), 0);
        assert_int_equal(pfd.revents, 0);
    }
    pl_http_counts idle = counts_of(h);
    assert_int_equal(idle.timer_actions, k.timer_actions);
    assert_int_equal(idle.socket_actions, k.socket_actions);
    close(p[0]);
    close(p[1]);
    drop_client(h);
}

/*
 * The connections a client made are counted with their TLS handshakes: calls one after another
 * share one connection (one full handshake: this server issues no session tickets; test_sim_server
 * counts resumed ones), and a call that never connected counts none.
 */
static void test_connections_counted(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    pl_http_call ok = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    pl_http_call refused =
        make_call(https_test_url(1, "127.0.0.1", https_test_closed_port(), "/ok"), CALL_MS);
    rec x;
    for (int i = 0; i < 3; i++) {
        call_once(h, &ok, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_OK);
    }
    call_once(h, &refused, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    pl_http_counts k = counts_of(h);
    assert_int_equal(k.tls_full, 1);
    assert_int_equal(k.tls_resumed, 0);
    drop_client(h);
}

/* Connections made so far, full handshakes or resumed. */
static long connections_of(pl_http *h)
{
    pl_http_counts k = counts_of(h);
    return k.tls_full + k.tls_resumed;
}

/* One call of c, answered; then h has made want connections in all. */
static void call_then_connections(pl_http *h, const pl_http_call *c, long want)
{
    rec x;
    call_once(h, c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_int_equal(connections_of(h), want);
}

/* A pooled connection idle longer than the call's max_idle_s (auth_service.connection_idle_s)
 * is not reused: the call opens a new one. libcurl counts idleness in whole seconds and retires
 * a connection idle more than max_idle_s of them, so 1 retires one idle 2.1 s, and the
 * default (0: 30 s) keeps it. Counts only: the idle times are lower bounds. */
static void test_idle_age(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    call_then_connections(h, &c, 1);
    https_test_sleep_ms(2100);
    call_then_connections(h, &c, 1); /* max_idle_s 0: the default 30 s keeps it */
    https_test_sleep_ms(2100);
    c.max_idle_s = 1;
    call_then_connections(h, &c, 2);
    https_test_sleep_ms(2100);
    c.max_idle_s = 30;
    call_then_connections(h, &c, 2);
    drop_client(h);
}

/* A body larger than libcurl's upload buffer goes out whole, in several reads. */
static void test_large_body(void **state)
{
    (void)state;
    enum { LEN = 100 * 1024 };
    static char body[LEN];
    memset(body, 'a', sizeof body);
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/ok"), CALL_MS);
    c.body = body;
    c.body_len = sizeof body;
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_int_equal(x.status, 200);
    pthread_mutex_lock(&last_mu);
    assert_int_equal(strspn(last.body, "a"), sizeof last.body - 1);
    pthread_mutex_unlock(&last_mu);
    drop_client(h);
}

/*
 * A stored value card generation answer carries a full new card number (PCI): once its call has
 * ended, no pooled answer buffer holds it, whether the answer fitted the first buffer, grew it
 * (the old block is wiped too, which only the code shows), outgrew KEEP_BUF, or was cut off at
 * the cap.
 */
static void test_answer_wiped(void **state)
{
    (void)state;
    static const char *const paths[] = {"/card_small", "/card_grown", "/card_large", "/card_small"};
    pl_http *h = new_client(ca_path, 0);
    rec x;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, paths[i]), CALL_MS);
        call_once(h, &c, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_OK);
        assert_non_null(strstr(x.body, CARD_MARKER));
        assert_int_equal(counts_of(h).pooled, 1);
        if (pl_http_pool_find(h, CARD_MARKER) != 0)
            fail_msg("the answer of %s is left in the pooled buffer", paths[i]);
    }
    /* An answer cut off at the cap (the buffer grew to hold what came). */
    pl_http *capped = new_client(ca_path, sizeof card_grown / 2);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", srv.port, "/card_grown"), CALL_MS);
    call_once(capped, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_CONN_LOST);
    assert_true(x.too_big);
    assert_int_equal(counts_of(capped).pooled, 1);
    if (pl_http_pool_find(capped, CARD_MARKER) != 0)
        fail_msg("the cut-off answer is left in the pooled buffer");
    drop_client(capped);
    drop_client(h);
}

/*
 * The blocks this executable's own code frees (http.c's among them, not libcurl's): the link
 * wraps free (CMakeLists.txt, -Wl,--wrap=free for test_http), so each passes here first. While
 * a test watches, on its own thread (the server's threads free too), every block freed is
 * searched for the needle, and the blocks of at least zeroed_min bytes that begin with as many
 * zeros are counted: a copy that was wiped. A block freed may hold bytes never written (a
 * buffer's spare room, malloc's slack): under valgrind they are declared defined before the
 * search, which would otherwise read uninitialised memory (the block is freed next anyway).
 */
void __real_free(void *p);
static _Thread_local const char *watch_needle;
static _Thread_local size_t watch_zeroed_min;
static _Thread_local int watch_found, watch_zeroed;

void __wrap_free(void *p);
void __wrap_free(void *p)
{
    if (p && watch_needle) {
        size_t n = malloc_usable_size(p);
#ifdef PL_HAVE_MEMCHECK
        VALGRIND_MAKE_MEM_DEFINED(p, n);
#endif
        if (memmem(p, n, watch_needle, strlen(watch_needle)))
            watch_found++;
        if (watch_zeroed_min > 0 && n >= watch_zeroed_min) {
            size_t z = 0;
            while (z < watch_zeroed_min && ((const unsigned char *)p)[z] == 0)
                z++;
            if (z == watch_zeroed_min)
                watch_zeroed++;
        }
    }
    __real_free(p);
}

static void watch_frees(const char *needle, size_t zeroed_min)
{
    watch_needle = needle;
    watch_zeroed_min = zeroed_min;
    watch_found = watch_zeroed = 0;
}

static void watch_stop(void)
{
    watch_needle = NULL;
    watch_zeroed_min = 0;
}

/*
 * A call's URL and proxy may carry credentials ("https://user:password@..."): pl_http_submit
 * copies both into the handle (the caller's strings may be gone before a retry), and that copy
 * is wiped before its block is freed — when the client is destroyed with the call in flight
 * (and so when a pooled handle is freed: the same xfer_free), and when a longer URL and proxy
 * replace it on a pooled handle (before, realloc moved it and left the old block as it was).
 */
static void test_url_and_proxy_wiped(void **state)
{
    (void)state;
    /* The watch itself: a block holding the needle, freed while watching, is seen. */
    /* Through a pointer the compiler cannot see through: a direct free is a built-in that it
     * knows reads no global, so the watch's stores around it could be dropped (-O3). */
    void (*volatile release)(void *) = free;
    char *probe = strdup("probe NEEDLE-0 probe");
    assert_non_null(probe);
    watch_frees("NEEDLE-0", 0);
    release(probe);
    watch_stop();
    assert_int_equal(watch_found, 1);

    /* Destroyed in flight: the call is cancelled and its copy freed. It never ran (no
     * pl_http_wait), so no socket record is freed with it. */
    char url[200], proxy[200];
    snprintf(url, sizeof url, "%s",
             https_test_url(0, "127.0.0.1", https_test_closed_port(), "/ok?u=NEEDLE-1"));
    snprintf(proxy, sizeof proxy, "http://paylink:NEEDLE-1-pw@127.0.0.1:%d",
             https_test_closed_port());
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c = make_call(url, 5000);
    c.proxy = proxy;
    rec x;
    memset(&x, 0, sizeof x);
    assert_int_equal(pl_http_submit(h, &c, on_done, &x), 0);
    watch_frees("NEEDLE-1", strlen(url) + 1 + strlen(proxy) + 1);
    drop_client(h);
    watch_stop();
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.outcome, PL_HTTP_CANCELLED);
    if (watch_found != 0)
        fail_msg("the URL and proxy of a cancelled call were freed unwiped (%d block(s))",
                 watch_found);
    assert_true(watch_zeroed >= 1);

    /* A pooled handle's copy replaced by a longer one: the old block is wiped, then freed. The
     * first call goes nowhere (its proxy's port is closed). */
    h = new_client(ca_path, 0);
    snprintf(url, sizeof url, "%s",
             https_test_url(0, "127.0.0.1", https_test_closed_port(), "/ok?u=NEEDLE-2"));
    snprintf(proxy, sizeof proxy, "http://paylink:NEEDLE-2-pw@127.0.0.1:%d",
             https_test_closed_port());
    c = make_call(url, 5000);
    c.proxy = proxy;
    c.connect_attempts = 1;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_NOT_SENT);
    assert_int_equal(counts_of(h).pooled, 1);
    size_t old_len = strlen(url) + 1 + strlen(proxy) + 1;
    char longer[400];
    snprintf(longer, sizeof longer, "%s",
             https_test_url(0, "127.0.0.1", srv.port,
                            "/ok?padding=a-longer-address-than-the-first-call-had-so-that-the-"
                            "pooled-copy-is-replaced"));
    c = make_call(longer, CALL_MS);
    memset(&x, 0, sizeof x);
    watch_frees("NEEDLE-2", old_len);
    int rc = pl_http_submit(h, &c, on_done, &x);
    watch_stop();
    assert_int_equal(rc, 0);
    if (watch_found != 0)
        fail_msg("the replaced URL and proxy were freed unwiped (%d block(s))", watch_found);
    assert_true(watch_zeroed >= 1);
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    drop_client(h);
}

/* Calls whose callbacks submit the next call (as the engine does after a 401, or for a next
 * step of the same job). */
typedef struct chain {
    pl_http *h;
    pl_http_call call;
    int left; /* calls the callbacks still submit */
    int n;    /* callbacks so far */
    rec recs[8];
} chain;

static void on_chain(void *arg, const pl_http_response *r)
{
    chain *c = arg;
    if (c->n >= (int)(sizeof c->recs / sizeof c->recs[0]))
        fail_msg("more callbacks than calls");
    on_done(&c->recs[c->n++], r);
    if (c->left > 0) {
        c->left--;
        if (pl_http_submit(c->h, &c->call, on_chain, c) != 0)
            fail_msg("submit from a callback refused");
    }
}

/* Submits a call to url whose callbacks submit it again, left more times. */
static void chain_start(chain *c, pl_http *h, const char *url, int left)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    c->call = make_call(url, CALL_MS);
    c->left = left;
    assert_int_equal(pl_http_submit(h, &c->call, on_chain, c), 0);
}

static void test_submit_from_callback(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    chain c;
    int before = atomic_load(&hits_ok);
    chain_start(&c, h, https_test_url(0, "127.0.0.1", srv.port, "/ok"), 3);
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(c.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c.recs[i].calls, 1);
        assert_int_equal(c.recs[i].outcome, PL_HTTP_OK);
        assert_string_equal(c.recs[i].body, "<ok>hello</ok>");
    }
    assert_int_equal(atomic_load(&hits_ok), before + 4);
    /* The callback submits while its own call still holds its handle: two at most. */
    assert_true(counts_of(h).easy_created <= 2);

    /* A call that fails and is retried, submitted from a callback. */
    chain_start(&c, h, https_test_url(1, "127.0.0.1", https_test_closed_port(), "/ok"), 1);
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.recs[i].calls, 1);
        assert_int_equal(c.recs[i].outcome, PL_HTTP_NOT_SENT);
        assert_int_equal(c.recs[i].attempts, 3);
    }
    drop_client(h);
}

/*
 * Destroy with calls at every stage: waiting for their answer, submitted but not started, and
 * submitted by a cancelled call's callback during the destroy. Each callback fires once.
 */
static void test_destroy_cancels_all(void **state)
{
    (void)state;
    enum { N = 8 };
    pl_http *h = new_client(ca_path, 0);
    rec x[N + 1];
    submit_held(h, x, N);
    /* Submitted, not started (no turn ran since): one plain, one whose callbacks resubmit. */
    chain c;
    chain_start(&c, h, https_test_url(0, "127.0.0.1", srv.port, "/slow"), 2);
    memset(&x[N], 0, sizeof x[N]);
    assert_int_equal(pl_http_submit(h, &c.call, on_done, &x[N]), 0);
    assert_int_equal(pl_http_in_flight(h), N + 2);
    drop_client(h);
    for (int i = 0; i < N + 1; i++) {
        assert_int_equal(x[i].calls, 1);
        assert_int_equal(x[i].outcome, PL_HTTP_CANCELLED);
    }
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c.recs[i].calls, 1);
        assert_int_equal(c.recs[i].outcome, PL_HTTP_CANCELLED);
    }
    release_slow();
}

/* The caller's descriptors still end a wait while calls wait for their answers. */
static void test_extra_fds_with_calls_in_flight(void **state)
{
    (void)state;
    pl_http *h = new_client(ca_path, 0);
    rec x;
    submit_held(h, &x, 1);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    /* Returns for the pipe (the slow answer is held until released below). */
    assert_int_equal(pl_http_wait(h, &pfd, 1, DRIVE_MS), 0);
    assert_true(pfd.revents & POLLIN);
    assert_int_equal(x.calls, 0);
    release_slow();
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_string_equal(x.body, "<late/>");
    close(p[0]);
    close(p[1]);
    drop_client(h);
}

/*
 * Connections dropped by the server (their sockets closed and removed) among new ones opened in
 * the same turns, whose descriptors take the freed numbers: every call ends once, as it should.
 */
static void test_dropped_and_new_connections(void **state)
{
    (void)state;
    enum { N = 32 };
    pl_http *h = new_client(ca_path, 0);
    pl_http_call calls[N];
    pl_http_outcome want[N];
    for (int i = 0; i < N; i++) {
        bool drop = i % 2 == 0;
        calls[i] = make_call(https_test_url(drop, "127.0.0.1", srv.port, drop ? "/close" : "/ok"),
                             CALL_MS);
        want[i] = drop ? PL_HTTP_CONN_LOST : PL_HTTP_OK;
    }
    int lost_before = atomic_load(&hits_close), ok_before = atomic_load(&hits_ok);
    rec x[N];
    for (int wave = 0; wave < 3; wave++)
        run_at_once(h, calls, x, want, N, DRIVE_MS);
    assert_int_equal(atomic_load(&hits_close), lost_before + 3 * N / 2);
    assert_int_equal(atomic_load(&hits_ok), ok_before + 3 * N / 2);
    drop_client(h);
}

/*
 * A kept connection's socket stays in epoll between its calls (http.c, "parked"): the calls
 * after the first change epoll's registrations less than once a call (it was an ADD and a DEL
 * each). When the server closes the idle connection, the socket leaves epoll at the first
 * event, curl is not woken for it, and the next call goes out on a new connection.
 */
static void test_idle_connection_stays_in_epoll(void **state)
{
    (void)state;
    enum { N = 10 };
    https_test_server s3 = {0};
    assert_int_equal(https_test_server_start(&s3, cert_pem, key_pem, on_request), 0);
    pl_http *h = new_client(ca_path, 0);
    pl_http_call c = make_call(https_test_url(0, "127.0.0.1", s3.port, "/ok"), CALL_MS);
    rec x;
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    pl_http_counts k0 = counts_of(h);
    assert_int_equal(k0.sockets, 0);
    assert_int_equal(k0.parked, 1);
    for (int i = 0; i < N; i++) {
        call_once(h, &c, &x, DRIVE_MS);
        assert_int_equal(x.outcome, PL_HTTP_OK);
        assert_string_equal(x.body, "<ok>hello</ok>");
    }
    pl_http_counts k = counts_of(h);
    assert_int_equal(k.calls, N + 1);
    assert_int_equal(k.parked, 1);
    assert_true(k.epoll_changes - k0.epoll_changes < N);

    /* The server goes, closing the idle connection. */
    https_test_server_stop(&s3);
    int64_t deadline = https_test_now_ms() + DRIVE_MS;
    while (counts_of(h).parked > 0) {
        if (https_test_now_ms() > deadline)
            fail_msg("the closed idle connection is still in epoll");
        assert_int_equal(pl_http_wait(h, NULL, 0, 20), 0);
    }
    for (int i = 0; i < 5; i++)
        assert_int_equal(pl_http_wait(h, NULL, 0, 10), 0);
    pl_http_counts gone = counts_of(h);
    assert_int_equal(gone.socket_actions, k.socket_actions);
    assert_int_equal(gone.sockets, 0);

    /* A server again: the next call goes out (on a new connection) and is answered. */
    assert_int_equal(https_test_server_start(&s3, cert_pem, key_pem, on_request), 0);
    c = make_call(https_test_url(0, "127.0.0.1", s3.port, "/ok"), CALL_MS);
    call_once(h, &c, &x, DRIVE_MS);
    assert_int_equal(x.outcome, PL_HTTP_OK);
    assert_int_equal(counts_of(h).parked, 1);
    drop_client(h);
    https_test_server_stop(&s3);
}

static void test_outcome_names(void **state)
{
    (void)state;
    assert_string_equal(pl_http_outcome_name(PL_HTTP_OK), "ok");
    assert_string_equal(pl_http_outcome_name(PL_HTTP_NOT_SENT), "not_sent");
    assert_string_equal(pl_http_outcome_name(PL_HTTP_TIMEOUT), "timeout");
    assert_string_equal(pl_http_outcome_name(PL_HTTP_CONN_LOST), "connection_lost");
    assert_string_equal(pl_http_outcome_name(PL_HTTP_CANCELLED), "cancelled");
    assert_string_equal(pl_http_outcome_name((pl_http_outcome)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ok, teardown),
        cmocka_unit_test_teardown(test_any_status_is_an_answer, teardown),
        cmocka_unit_test_teardown(test_many_in_flight, teardown),
        cmocka_unit_test_teardown(test_slow_does_not_hold_up_others, teardown),
        cmocka_unit_test_teardown(test_timeout, teardown),
        cmocka_unit_test_teardown(test_connection_lost, teardown),
        cmocka_unit_test_teardown(test_connection_lost_reused, teardown),
        cmocka_unit_test_teardown(test_connection_lost_then_refused, teardown),
        cmocka_unit_test_teardown(test_body_cap, teardown),
        cmocka_unit_test_teardown(test_not_sent_closed_port, teardown),
        cmocka_unit_test_teardown(test_not_sent_untrusted, teardown),
        cmocka_unit_test_teardown(test_not_sent_proxy_refused, teardown),
        cmocka_unit_test_teardown(test_proxy_despite_no_proxy_env, teardown_no_proxy_env),
        cmocka_unit_test_teardown(test_https_only, teardown),
        cmocka_unit_test_teardown(test_destroy_cancels, teardown),
        cmocka_unit_test_teardown(test_submit_errors, teardown),
        cmocka_unit_test_teardown(test_wait_extra_fds, teardown),
        cmocka_unit_test_teardown(test_many_concurrent, teardown),
        cmocka_unit_test_teardown(test_pool_trim, teardown),
        cmocka_unit_test_teardown(test_calls_in_a_row, teardown),
        cmocka_unit_test_teardown(test_connections_counted, teardown),
        cmocka_unit_test_teardown(test_idle_age, teardown),
        cmocka_unit_test_teardown(test_large_body, teardown),
        cmocka_unit_test_teardown(test_answer_wiped, teardown),
        cmocka_unit_test_teardown(test_url_and_proxy_wiped, teardown),
        cmocka_unit_test_teardown(test_submit_from_callback, teardown),
        cmocka_unit_test_teardown(test_destroy_cancels_all, teardown),
        cmocka_unit_test_teardown(test_extra_fds_with_calls_in_flight, teardown),
        cmocka_unit_test_teardown(test_dropped_and_new_connections, teardown),
        cmocka_unit_test_teardown(test_idle_connection_stays_in_epoll, teardown),
        cmocka_unit_test_teardown(test_outcome_names, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
