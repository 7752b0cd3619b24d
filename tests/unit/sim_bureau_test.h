/*
 * sim_bureau_test.h: what the tests of the simulated bureaus share beyond sim_test_helpers.h
 * (test_sim_ext.c, test_sim_relate.c): the ledger rows a test expects, and a simulator of the
 * test's own behind its HTTPS server, with requests to it by libcurl.
 *
 * sim_test_assert_ledger checks the whole ledger against a list of rows of one protocol.
 * sim_test_server_start starts pl_sim_server on 127.0.0.1 (a port of the kernel's choosing)
 * with a state directory under a private /tmp directory, where the server writes its CA;
 * sim_test_server_stop stops it and removes what it wrote. sim_test_send makes one request and
 * collects the answer (status, content type, body, and the header lines when asked).
 *
 * Header-only (static inline), for tests only; include after <cmocka.h>. Failures are cmocka
 * assertions.
 */
#ifndef PL_TEST_SIM_BUREAU_TEST_H
#define PL_TEST_SIM_BUREAU_TEST_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sim_server.h"
#include "sim_ledger.h"
#include "sim_test_helpers.h" /* sim_test_http: after curl.h */

/* A row the ledger must hold; op NULL: a row that is not looked at. */
typedef struct sim_test_ledger_row {
    const char *op, *ref, *amount;
    const char *bureau_id; /* NULL: not looked at */
} sim_test_ledger_row;

/* The ledger holds n rows: those of rows with an op are protocol's, in that order, as listed. */
static inline void sim_test_assert_ledger(pl_sim_ledger *l, const char *protocol,
                                          const sim_test_ledger_row *rows, size_t n)
{
    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), n);
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].op)
            continue;
        assert_string_equal(sim_test_row_field(j, i, "protocol"), protocol);
        assert_string_equal(sim_test_row_field(j, i, "op"), rows[i].op);
        assert_string_equal(sim_test_row_field(j, i, "ref"), rows[i].ref);
        assert_string_equal(sim_test_row_field(j, i, "amount"), rows[i].amount);
        if (rows[i].bureau_id)
            assert_string_equal(sim_test_row_field(j, i, "bureau_id"), rows[i].bureau_id);
    }
    json_object_put(j);
}

/* sim_test_assert_ledger with an array's length. */
#define SIM_TEST_ASSERT_LEDGER(l, protocol, rows)                                                  \
    sim_test_assert_ledger((l), (protocol), (rows), sizeof(rows) / sizeof(rows)[0])

typedef struct sim_test_server {
    char dir[64];
    char state_dir[96];
    char base[64]; /* "https://localhost:<port>" */
    char ca[128];  /* the server's CA, for CURLOPT_CAINFO */
    pl_sim_server *srv;
} sim_test_server;

/* Starts a simulator server whose files go under /tmp/<name>.XXXXXX (libcurl initialised too). */
static inline void sim_test_server_start(sim_test_server *s, const char *name)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/%s.XXXXXX", name);
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->state_dir, sizeof s->state_dir, "%s/state", s->dir);
    pl_sim_server_cfg cfg = {.bind_addr = "127.0.0.1",
                             .port = 0,
                             .state_dir = s->state_dir,
                             .hold_ms = 200,
                             .threads = 2};
    char err[256];
    assert_int_equal(pl_sim_server_start(&cfg, &s->srv, err, sizeof err), 0);
    snprintf(s->base, sizeof s->base, "https://localhost:%u", pl_sim_server_port(s->srv));
    snprintf(s->ca, sizeof s->ca, "%s/ca.pem", s->state_dir);
}

/* Stops the server and removes its files and directories. */
static inline void sim_test_server_stop(sim_test_server *s)
{
    pl_sim_server_stop(s->srv);
    static const char *const files[] = {"ca.pem", "server.pem", "server-key.pem"};
    char path[160];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", s->state_dir, files[i]);
        unlink(path);
    }
    rmdir(s->state_dir);
    rmdir(s->dir);
    curl_global_cleanup();
}

/* One request. */
typedef struct sim_test_call {
    const char *method;       /* "GET" or "POST" */
    const char *path;         /* after the server's base URL */
    const char *userpwd;      /* "user:password" as HTTP Basic, or NULL */
    const char *content_type; /* the Content-Type header's value, or NULL */
    const char *header;       /* one more whole header line, or NULL */
    const char *body;         /* POST: len bytes (NULL: an empty body) */
    size_t len;
} sim_test_call;

/*
 * Sends c to s; the answer into out, and its header lines into headers->body when headers is
 * not NULL (collected as a body is, by sim_test_http_collect).
 */
static inline void sim_test_send(const sim_test_server *s, const sim_test_call *c,
                                 sim_test_http *out, sim_test_http *headers)
{
    memset(out, 0, sizeof *out);
    if (headers)
        memset(headers, 0, sizeof *headers);
    char url[200];
    snprintf(url, sizeof url, "%s%s", s->base, c->path);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, s->ca);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sim_test_http_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (headers) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, sim_test_http_collect);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, headers);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (c->userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd);
    }
    struct curl_slist *hdr = NULL;
    char ct[128]; /* "Content-Type: " and the longest content type */
    if (c->content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", c->content_type);
        hdr = curl_slist_append(hdr, ct);
    }
    if (c->header)
        hdr = curl_slist_append(hdr, c->header);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (strcmp(c->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? c->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(c->body ? c->len : 0));
    }
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    char *type = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
    if (type)
        snprintf(out->content_type, sizeof out->content_type, "%s", type);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
}

#endif
