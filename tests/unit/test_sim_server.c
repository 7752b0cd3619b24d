/*
 * test_sim_server.c: the simulator's HTTPS server in-process (tools/sim/sim_server.h), on
 * 127.0.0.1 and a port the kernel picks. libcurl talks to it with full TLS verification
 * against the test CA the server generated (peer and host), which proves the certificate
 * setup; then the routes, the delays, the 901 hold, the 904 drop and the body cap.
 *
 * No assertion here measures time: a loaded machine (valgrind, two cores, other builds) can
 * stretch any duration. Delays are checked by order and by the server's own account of what it
 * held back (pl_sim_server_stats): a delay far longer than the test keeps a request parked
 * while the test shows that other requests are answered, then the test abandons it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "http.h"
#include "https_test_server.h"
#include "log.h"
#include "sim_server.h"
#include "sim_test_helpers.h"
#include "sim_tls.h"

#define HOLD_MS 400

/* A CyberSource auth request; tests change the amount through the document, not the text. */
static const char auth_fixture[] =
    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Header>"
    "<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken>"
    "<wsse:Username>m1</wsse:Username><wsse:Password>key</wsse:Password>"
    "</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body>"
    "<requestMessage xmlns=\"urn:schemas-cybersource-com:transaction-data-1.121\">"
    "<merchantID>m1</merchantID><merchantReferenceCode>net-1</merchantReferenceCode>"
    "<purchaseTotals><currency>USD</currency><grandTotalAmount>0</grandTotalAmount>"
    "</purchaseTotals><card><accountNumber>4111111111111111</accountNumber>"
    "<expirationMonth>12</expirationMonth><expirationYear>2035</expirationYear></card>"
    "<ccAuthService run=\"true\"/></requestMessage></soap:Body></soap:Envelope>";

static char g_dir[64];
static pl_sim_server *g_srv;
static char g_base[64];
static char g_ca[128];

/* Longer than any test: a request delayed this long is still waiting when the test ends. */
#define FOREVER_MS 600000

/* Generous, against hanging only: no assertion depends on it being enough. */
#define DEADLINE_MS 60000L

/* An easy handle for one request with full verification against ca (NULL: the system's trust
 * store), collecting into out. */
static CURL *easy_new(const char *method, const char *url, const char *body, size_t body_len,
                      const char *ca, sim_test_http *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_test_http_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, DEADLINE_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    return c;
}

/* One request, to its end. */
static void http(const char *method, const char *url, const char *body, size_t body_len,
                 const char *ca, sim_test_http *out)
{
    CURL *c = easy_new(method, url, body, body_len, ca, out);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(c);
}

static void get_path(const char *path, sim_test_http *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    http("GET", url, NULL, 0, g_ca, out);
}

static void post_path(const char *path, const char *body, size_t len, sim_test_http *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    http("POST", url, body, len, g_ca, out);
}

/* The fixture with another amount and reference, serialised by libxml2. */
static char *auth_body(const char *amount, const char *ref, size_t *len)
{
    xmlDocPtr doc =
        xmlReadMemory(auth_fixture, (int)strlen(auth_fixture), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlXPathContextPtr xp = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xp, BAD_CAST "c",
                       BAD_CAST "urn:schemas-cybersource-com:transaction-data-1.121");
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST "//c:grandTotalAmount", xp);
    xmlNodeSetContent(o->nodesetval->nodeTab[0], BAD_CAST amount);
    xmlXPathFreeObject(o);
    o = xmlXPathEvalExpression(BAD_CAST "//c:merchantReferenceCode", xp);
    xmlNodeSetContent(o->nodesetval->nodeTab[0], BAD_CAST ref);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(xp);
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpMemory(doc, &mem, &size);
    xmlFreeDoc(doc);
    char *out = malloc((size_t)size + 1);
    memcpy(out, mem, (size_t)size);
    out[size] = '\0';
    xmlFree(mem);
    *len = (size_t)size;
    return out;
}

static void post_auth(const char *amount, const char *ref, sim_test_http *out)
{
    size_t len;
    char *body = auth_body(amount, ref, &len);
    post_path("/commerce/1.x/transactionProcessor", body, len, out);
    free(body);
}

/* A bureau request left in flight (curl multi) while the test does other things. */
typedef struct pending {
    CURLM *m;
    CURL *c;
    char *body;
    sim_test_http r;
} pending;

static void pending_start(pending *p, const char *amount, const char *ref)
{
    size_t len;
    char url[256];
    snprintf(url, sizeof url, "%s/commerce/1.x/transactionProcessor", g_base);
    p->body = auth_body(amount, ref, &len);
    p->c = easy_new("POST", url, p->body, len, g_ca, &p->r);
    p->m = curl_multi_init();
    assert_non_null(p->m);
    assert_int_equal(curl_multi_add_handle(p->m, p->c), CURLM_OK);
}

/* Moves p on without blocking; true once it has ended (answered, dropped or failed). */
static bool pending_done(pending *p)
{
    int running = 0;
    assert_int_equal(curl_multi_perform(p->m, &running), CURLM_OK);
    return running == 0;
}

static pl_sim_server_stats stats(void)
{
    pl_sim_server_stats st;
    pl_sim_server_stats_get(g_srv, &st);
    return st;
}

/* Drives p until the server holds `waiting` requests back. p must not end meanwhile: its delay
 * outlasts the test. */
static void pending_until_parked(pending *p, unsigned waiting)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (stats().waiting < waiting) {
        if (pending_done(p))
            fail_msg("the request ended before the server parked it (rc %d)", (int)p->r.rc);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > DEADLINE_MS / 1000)
            fail_msg("the server never parked the request");
        assert_int_equal(curl_multi_poll(p->m, NULL, 0, 20, NULL), CURLM_OK);
    }
}

/* Hangs up on p; the server answers into a closed connection whenever its delay ends. */
static void pending_abandon(pending *p)
{
    curl_multi_remove_handle(p->m, p->c);
    curl_easy_cleanup(p->c);
    curl_multi_cleanup(p->m);
    free(p->body);
}

static json_object *json_of(const sim_test_http *r)
{
    json_object *j = json_tokener_parse(r->body);
    assert_non_null(j);
    return j;
}

static int ledger_length(void)
{
    sim_test_http r;
    get_path("/__sim/ledger", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    json_object *j = json_of(&r);
    int n = (int)json_object_array_length(j);
    json_object_put(j);
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    snprintf(g_dir, sizeof g_dir, "/tmp/test_sim_server.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    /* A directory that does not exist yet: the server makes it. */
    char state_dir[96];
    snprintf(state_dir, sizeof state_dir, "%s/state", g_dir);
    pl_sim_server_cfg cfg = {.bind_addr = "127.0.0.1",
                             .port = 0,
                             .state_dir = state_dir,
                             .hold_ms = HOLD_MS,
                             .threads = 2};
    char err[256];
    if (pl_sim_server_start(&cfg, &g_srv, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    snprintf(g_base, sizeof g_base, "https://localhost:%u", pl_sim_server_port(g_srv));
    snprintf(g_ca, sizeof g_ca, "%s/ca.pem", state_dir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pl_sim_server_stop(g_srv);
    char path[160];
    static const char *const dirs[] = {"state", "other"};
    static const char *const files[] = {"ca.pem", "server.pem", "server-key.pem"};
    for (size_t d = 0; d < 2; d++) {
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s/%s", g_dir, dirs[d], files[i]);
            unlink(path);
        }
        snprintf(path, sizeof path, "%s/%s", g_dir, dirs[d]);
        rmdir(path);
    }
    rmdir(g_dir);
    curl_global_cleanup();
    xmlCleanupParser();
    return 0;
}

static int reset(void **state)
{
    (void)state;
    sim_test_http r;
    post_path("/__sim/reset", NULL, 0, &r);
    pl_sim_server_set_delays(g_srv, 0, 0, HOLD_MS);
    return r.rc == CURLE_OK && r.status == 200 ? 0 : -1;
}

static void test_port_is_picked(void **state)
{
    (void)state;
    assert_true(pl_sim_server_port(g_srv) > 0);
    assert_true(pl_sim_server_port(g_srv) <= 65535);
}

/* The delays read back as they were set (what SIGUSR1 logs). */
static void test_delays_read_back(void **state)
{
    (void)state;
    pl_sim_server_set_delays(g_srv, 120, 30, 4000);
    unsigned lat = 0, jit = 0, hold = 0;
    pl_sim_server_get_delays(g_srv, &lat, &jit, &hold);
    assert_int_equal(lat, 120);
    assert_int_equal(jit, 30);
    assert_int_equal(hold, 4000);
}

static void test_tls_files(void **state)
{
    (void)state;
    char path[160];
    struct stat st;
    snprintf(path, sizeof path, "%s/state/ca.pem", g_dir);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/state/server.pem", g_dir);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/state/server-key.pem", g_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* A second start reuses them: nothing is generated, the CA clients trust stays valid. */
    char dir[96];
    snprintf(dir, sizeof dir, "%s/state", g_dir);
    bool generated = true;
    char err[256];
    assert_int_equal(pl_sim_tls_ensure(dir, &generated, err, sizeof err), 0);
    assert_false(generated);
    char *cert = NULL, *key = NULL;
    assert_int_equal(pl_sim_tls_load(dir, &cert, &key, err, sizeof err), 0);
    assert_non_null(strstr(cert, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(key, "PRIVATE KEY"));
    free(cert);
    free(key);
}

static void test_https_verified_against_generated_ca(void **state)
{
    (void)state;
    sim_test_http r;
    get_path("/__sim/health", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");

    /* The certificate also names the IP address. */
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/__sim/health", pl_sim_server_port(g_srv));
    http("GET", url, NULL, 0, g_ca, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);

    /* Another simulator's CA (generated fresh here) does not vouch for this server. */
    char other[96], other_ca[128], err[256];
    bool generated = false;
    snprintf(other, sizeof other, "%s/other", g_dir);
    assert_int_equal(pl_sim_tls_ensure(other, &generated, err, sizeof err), 0);
    assert_true(generated);
    snprintf(other_ca, sizeof other_ca, "%s/ca.pem", other);
    snprintf(url, sizeof url, "%s/__sim/health", g_base);
    http("GET", url, NULL, 0, other_ca, &r);
    assert_int_equal(r.rc, CURLE_PEER_FAILED_VERIFICATION);
}

/* Application data records the client read (SSL_CTX_set_msg_callback; TLS 1.2, where a
 * record's header says what it carries). */
static void count_app_records(int write_p, int version, int content_type, const void *buf,
                              size_t len, SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    if (!write_p && content_type == SSL3_RT_HEADER && len >= 1 &&
        ((const unsigned char *)buf)[0] == SSL3_RT_APPLICATION_DATA)
        (*(int *)arg)++;
}

/* Sends req on ssl and reads one whole answer (headers, then Content-Length bytes) into out. */
static void tls_exchange(SSL *ssl, const char *req, const char *body, char *out, size_t outsize)
{
    size_t blen = body ? strlen(body) : 0;
    char *msg = malloc(strlen(req) + blen + 1);
    assert_non_null(msg);
    strcpy(msg, req);
    if (body)
        strcat(msg, body);
    assert_int_equal(SSL_write(ssl, msg, (int)strlen(msg)), (int)strlen(msg));
    free(msg);
    size_t n = 0;
    out[0] = '\0';
    for (;;) {
        const char *end = strstr(out, "\r\n\r\n");
        const char *cl = strcasestr(out, "Content-Length:");
        if (end && cl && n >= (size_t)(end + 4 - out) + (size_t)atol(cl + 15))
            break;
        assert_true(n < outsize - 1);
        int got = SSL_read(ssl, out + n, (int)(outsize - 1 - n));
        assert_true(got > 0);
        n += (size_t)got;
        out[n] = '\0';
    }
}

/*
 * An answer, headers and body, goes out as one TLS record, as a web server writes an answer of
 * this size: libmicrohttpd alone writes the two apart, which made paylink's client read four
 * times an answer instead of two (docs/perf/ROUNDS.md, thirteenth round). Two answers on one
 * kept connection, a health check and a CyberSource authorization, each one record.
 */
/* A TLS client of the server (verified against its CA, host name checked), connected, offering
 * sess when not NULL; *fd is its socket. */
static SSL *tls_connect(SSL_CTX *ctx, SSL_SESSION *sess, int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)pl_sim_server_port(g_srv))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(*fd, (struct sockaddr *)&sin, sizeof sin), 0);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, *fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    assert_int_equal(SSL_set1_host(ssl, "localhost"), 1);
    if (sess)
        assert_int_equal(SSL_set_session(ssl, sess), 1);
    assert_int_equal(SSL_connect(ssl), 1);
    return ssl;
}

/* A client context that verifies the server against the test CA. */
static SSL_CTX *tls_client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, g_ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static void test_answer_is_one_tls_record(void **state)
{
    (void)state;
    SSL_CTX *ctx = tls_client_ctx();
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION), 1);
    int records = 0;
    SSL_CTX_set_msg_callback(ctx, count_app_records);
    SSL_CTX_set_msg_callback_arg(ctx, &records);

    int fd;
    SSL *ssl = tls_connect(ctx, NULL, &fd);

    static char out[16384];
    records = 0;
    tls_exchange(ssl, "GET /__sim/health HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL, out,
                 sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_int_equal(records, 1);

    size_t len;
    char *body = auth_body("12.34", "one-record", &len);
    char req[256];
    snprintf(req, sizeof req,
             "POST /commerce/1.x/transactionProcessor HTTP/1.1\r\nHost: localhost\r\n"
             "Content-Type: text/xml\r\nContent-Length: %zu\r\n\r\n",
             len);
    records = 0;
    tls_exchange(ssl, req, body, out, sizeof out);
    free(body);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "replyMessage"));
    assert_int_equal(records, 1);

    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
}

/*
 * The server issues session tickets, as HTTPS front ends do: a client's second connection
 * resumes its first's session (no certificate, no signature) instead of a full handshake, and
 * the server counts both kinds (pl_sim_server_stats, GET /__sim/tls).
 */
static void test_sessions_resume(void **state)
{
    (void)state;
    SSL_CTX *ctx = tls_client_ctx(); /* TLS 1.3: the ticket comes after the handshake */
    pl_sim_server_stats st0 = stats();
    static char out[16384];
    static const char health[] = "GET /__sim/health HTTP/1.1\r\nHost: localhost\r\n\r\n";

    int fd1;
    SSL *first = tls_connect(ctx, NULL, &fd1);
    tls_exchange(first, health, NULL, out, sizeof out); /* reads the ticket, too */
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_false(SSL_session_reused(first));
    SSL_SESSION *sess = SSL_get1_session(first);
    assert_non_null(sess);
    assert_true(SSL_SESSION_is_resumable(sess));

    int fd2;
    SSL *second = tls_connect(ctx, sess, &fd2);
    tls_exchange(second, health, NULL, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_true(SSL_session_reused(second));

    pl_sim_server_stats st1 = stats();
    assert_int_equal(st1.tls_full, st0.tls_full + 1);
    assert_int_equal(st1.tls_resumed, st0.tls_resumed + 1);

    /* The route says the same; its own connection (curl, no session) is a full handshake,
     * counted at its request, before the answer. */
    sim_test_http r;
    get_path("/__sim/tls", &r);
    assert_int_equal(r.status, 200);
    json_object *j = json_of(&r), *v;
    assert_true(json_object_object_get_ex(j, "full", &v));
    assert_int_equal(json_object_get_int64(v), (int64_t)st1.tls_full + 1);
    assert_true(json_object_object_get_ex(j, "resumed", &v));
    assert_int_equal(json_object_get_int64(v), (int64_t)st1.tls_resumed);
    json_object_put(j);

    SSL_SESSION_free(sess);
    SSL_free(first);
    SSL_free(second);
    close(fd1);
    close(fd2);
    SSL_CTX_free(ctx);
}

/* One answer of paylink's HTTPS client (common/http.h), counted. */
typedef struct client_answers {
    int n, ok;
} client_answers;

static void on_client_answer(void *arg, const pl_http_response *r)
{
    client_answers *a = arg;
    a->n++;
    if (r->outcome == PL_HTTP_OK && r->status == 200)
        a->ok++;
}

/*
 * paylink's own client resumes: a call alone opens one connection (a full handshake); then
 * two at once, each answered after the latency, so that the second cannot wait for the first's
 * connection: it opens another, which resumes the session the first connection got.
 */
static void test_paylink_client_resumes(void **state)
{
    (void)state;
    char err[256], url[256];
    pl_http *h = pl_http_new(g_ca, 1u << 20, err, sizeof err);
    assert_non_null(h);
    snprintf(url, sizeof url, "%s/commerce/1.x/transactionProcessor", g_base);
    size_t len;
    char *body = auth_body("10.00", "net-resume", &len);
    pl_http_call call = {.url = url,
                         .body = body,
                         .body_len = len,
                         .content_type = "text/xml; charset=utf-8",
                         .timeout_ms = DEADLINE_MS,
                         .connect_attempts = 1};
    pl_sim_server_set_delays(g_srv, 300, 0, HOLD_MS);
    pl_sim_server_stats st0 = stats();
    client_answers a = {0, 0};
    assert_int_equal(pl_http_submit(h, &call, on_client_answer, &a), 0);
    https_test_drive_until(h, &a.n, 1, DEADLINE_MS);
    assert_int_equal(stats().tls_full, st0.tls_full + 1);
    assert_int_equal(pl_http_submit(h, &call, on_client_answer, &a), 0);
    assert_int_equal(pl_http_submit(h, &call, on_client_answer, &a), 0);
    https_test_drive_until(h, &a.n, 3, DEADLINE_MS);
    assert_int_equal(a.ok, 3);
    pl_sim_server_stats st1 = stats();
    assert_int_equal(st1.tls_full, st0.tls_full + 1);
    assert_int_equal(st1.tls_resumed, st0.tls_resumed + 1);
    /* The client counts them as the server does. */
    pl_http_counts k;
    pl_http_stats(h, &k);
    assert_int_equal(k.tls_full, 1);
    assert_int_equal(k.tls_resumed, 1);
    pl_http_destroy(h);
    free(body);
}

static void test_cyb_round_trip_and_sim_endpoints(void **state)
{
    (void)state;
    sim_test_http r;
    post_auth("120.00", "net-1", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<c:decision>ACCEPT</c:decision>"));

    get_path("/__sim/ledger", &r);
    json_object *j = json_of(&r);
    assert_int_equal(json_object_array_length(j), 1);
    json_object *row = json_object_array_get_idx(j, 0), *v;
    assert_true(json_object_object_get_ex(row, "amount", &v));
    assert_string_equal(json_object_get_string(v), "120.00");
    assert_true(json_object_object_get_ex(row, "ref", &v));
    assert_string_equal(json_object_get_string(v), "net-1");
    json_object_put(j);

    get_path("/__sim/query?ref=net-1", &r);
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    assert_true(json_object_object_get_ex(j, "found", &v));
    assert_true(json_object_get_boolean(v));
    assert_true(json_object_object_get_ex(j, "decision", &v));
    assert_string_equal(json_object_get_string(v), "ACCEPT");
    json_object_put(j);

    get_path("/__sim/query?ref=never-seen", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"found\":false}");

    post_path("/__sim/reset", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(ledger_length(), 0);

    get_path("/nowhere", &r);
    assert_int_equal(r.status, 404);
    get_path("/commerce/1.x/transactionProcessor", &r);
    assert_int_equal(r.status, 405);
}

/* The soft decline control route on the wire: POST arms, anything else is refused with 400; an
 * armed 230 answers the reference's next authorization REJECT 230 with the funds held. */
static void test_cyb_soft_decline_route(void **state)
{
    (void)state;
    sim_test_http r;
    get_path("/__sim/cyb/soft_decline?ref=net-soft&reason=230", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "POST"));
    post_path("/__sim/cyb/soft_decline?ref=net-soft&reason=204", NULL, 0, &r);
    assert_int_equal(r.status, 400);
    post_path("/__sim/cyb/soft_decline?reason=230", NULL, 0, &r);
    assert_int_equal(r.status, 400);
    post_path("/__sim/cyb/soft_decline?ref=net-soft&reason=230", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"ref\":\"net-soft\",\"reason\":230}");

    post_auth("120.00", "net-soft", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "<c:decision>REJECT</c:decision><c:reasonCode>230</c:reasonCode>"));
    assert_non_null(strstr(r.body, "<c:ccAuthReply><c:reasonCode>230</c:reasonCode>"
                                   "<c:amount>120.00</c:amount><c:authorizationCode>"));
    assert_int_equal(ledger_length(), 1);
    /* Spent. */
    post_auth("120.00", "net-soft", &r);
    assert_non_null(strstr(r.body, "<c:decision>ACCEPT</c:decision>"));
    assert_int_equal(ledger_length(), 2);

    /* A reset clears an armed one. */
    post_path("/__sim/cyb/soft_decline?ref=net-soft2&reason=520", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    post_path("/__sim/reset", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    post_auth("10.00", "net-soft2", &r);
    assert_non_null(strstr(r.body, "<c:decision>ACCEPT</c:decision>"));
}

static void test_drop_and_http_faults(void **state)
{
    (void)state;
    sim_test_http r;
    post_auth("904.00", "net-904", &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);

    post_auth("902.00", "net-902", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "<html>"));

    post_auth("903.00", "net-903", &r);
    assert_int_equal(r.status, 200);
    assert_null(strchr(r.body, '<'));
    assert_int_equal(ledger_length(), 0);
}

static void test_hold_does_not_block_others(void **state)
{
    (void)state;
    pl_sim_server_set_delays(g_srv, 0, 0, FOREVER_MS);
    pl_sim_server_stats before = stats();
    pending held;
    pending_start(&held, "901.00", "net-901");
    pending_until_parked(&held, before.waiting + 1);

    /* While the 901 is held, the server answers another bureau request without parking it. */
    sim_test_http quick;
    post_auth("10.00", "net-quick", &quick);
    assert_int_equal(quick.rc, CURLE_OK);
    assert_int_equal(quick.status, 200);
    assert_int_equal(stats().parked, before.parked + 1);
    /* Answered while the held one still waits: the order proves it was not held up. */
    assert_false(pending_done(&held));
    assert_int_equal(stats().waiting, before.waiting + 1);
    pending_abandon(&held);
    /* Only the quick one was charged. */
    assert_int_equal(ledger_length(), 1);
}

static void test_hold_ends_without_answer(void **state)
{
    (void)state;
    /* The fixture's short hold: the server itself ends it by closing the connection. */
    pl_sim_server_stats before = stats();
    sim_test_http r;
    post_auth("901.00", "net-901-short", &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    assert_int_equal(stats().parked, before.parked + 1);
    assert_int_equal(stats().waiting, before.waiting);
    assert_int_equal(ledger_length(), 0);
}

static void test_latency_and_config(void **state)
{
    (void)state;
    sim_test_http r;
    char path[96];
    snprintf(path, sizeof path, "/__sim/config?latency_ms=%d&jitter_ms=0", FOREVER_MS);
    post_path(path, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    json_object *j = json_of(&r), *v;
    assert_true(json_object_object_get_ex(j, "latency_ms", &v));
    assert_int_equal(json_object_get_int(v), FOREVER_MS);
    assert_true(json_object_object_get_ex(j, "hold_ms", &v));
    assert_int_equal(json_object_get_int(v), HOLD_MS);
    json_object_put(j);

    /* The latency holds a bureau answer back ... */
    pl_sim_server_stats before = stats();
    pending slow;
    pending_start(&slow, "10.00", "net-slow");
    pending_until_parked(&slow, before.waiting + 1);
    /* ... while the control plane answers at once (never parked), and the bureau answer is
     * still held after those answers came. */
    get_path("/__sim/health", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    post_path("/__sim/config?latency_ms=abc", NULL, 0, &r);
    assert_int_equal(r.status, 400);
    post_path("/__sim/config?latency_ms=0", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_false(pending_done(&slow));
    assert_int_equal(stats().parked, before.parked + 1);
    pending_abandon(&slow);

    get_path("/__sim/config", &r);
    j = json_of(&r);
    assert_true(json_object_object_get_ex(j, "latency_ms", &v));
    assert_int_equal(json_object_get_int(v), 0);
    json_object_put(j);
    /* Without latency a bureau answer goes out at once: nothing more was parked. */
    post_auth("10.00", "net-fast", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(stats().parked, before.parked + 1);
}

static void test_body_cap(void **state)
{
    (void)state;
    size_t n = PL_SIM_BODY_MAX + 1;
    char *big = malloc(n);
    memset(big, 'x', n);
    sim_test_http r;
    post_path("/commerce/1.x/transactionProcessor", big, n, &r);
    free(big);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 413);

    /* Malformed XML over the wire: a SOAP fault with HTTP 500, and the server lives on. */
    post_path("/commerce/1.x/transactionProcessor", "<oops", 5, &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "c:ClientError"));
    get_path("/__sim/health", &r);
    assert_int_equal(r.status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_is_picked),
        cmocka_unit_test_setup_teardown(test_delays_read_back, reset, reset),
        cmocka_unit_test(test_tls_files),
        cmocka_unit_test(test_https_verified_against_generated_ca),
        cmocka_unit_test_setup(test_answer_is_one_tls_record, reset),
        cmocka_unit_test_setup_teardown(test_sessions_resume, reset, reset),
        cmocka_unit_test_setup_teardown(test_paylink_client_resumes, reset, reset),
        cmocka_unit_test_setup(test_cyb_round_trip_and_sim_endpoints, reset),
        cmocka_unit_test_setup(test_cyb_soft_decline_route, reset),
        cmocka_unit_test_setup(test_drop_and_http_faults, reset),
        cmocka_unit_test_setup(test_hold_does_not_block_others, reset),
        cmocka_unit_test_setup(test_hold_ends_without_answer, reset),
        cmocka_unit_test_setup(test_latency_and_config, reset),
        cmocka_unit_test_setup(test_body_cap, reset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
