/*
 * sim_test_helpers.h: what the simulator's unit tests share (test_sim_cyb.c, test_sim_relate.c,
 * test_sim_ledger.c, test_sim_server.c, test_sim_adapter.c, test_sim_query.c): a fresh ledger
 * per test, the ledger as JSON, a request of paylink's CyberSource adapter handled by the
 * simulator, the simulator's log captured for a check, an HTTP answer collected by libcurl,
 * threads racing on one ledger, and regular expressions. Header-only (static inline), for
 * tests only; include after <cmocka.h>, and after <curl/curl.h> for the HTTP helpers (not
 * included here: it would bring the socket API's names into tests that do not want them).
 * Failures are cmocka assertions.
 */
#ifndef PL_TEST_SIM_TEST_HELPERS_H
#define PL_TEST_SIM_TEST_HELPERS_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bureau.h"
#include "log.h"
#include "sim_cyb.h"
#include "sim_ledger.h"

/* cmocka fixtures: every test gets an empty ledger of its own as *state. */
static inline int sim_test_ledger_setup(void **state)
{
    *state = pl_sim_ledger_new();
    return *state ? 0 : -1;
}

static inline int sim_test_ledger_teardown(void **state)
{
    pl_sim_ledger_destroy(*state);
    return 0;
}

/* A cmocka test of a list whose *state is a fresh ledger. */
#define SIM_LEDGER_TEST(f)                                                                         \
    cmocka_unit_test_setup_teardown(f, sim_test_ledger_setup, sim_test_ledger_teardown)

/* GET /__sim/ledger's JSON array, parsed. The caller puts it (json_object_put). */
static inline json_object *sim_test_ledger_json(pl_sim_ledger *l)
{
    char *text = NULL;
    assert_int_equal(pl_sim_ledger_to_json(l, &text), 0);
    json_object *j = json_tokener_parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

/* Field key of row i of the ledger array (asserted present), as a string. */
static inline const char *sim_test_row_field(json_object *arr, size_t i, const char *key)
{
    json_object *v = NULL;
    assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, i), key, &v));
    return json_object_get_string(v);
}

/*
 * Hands msg, a request paylink's CyberSource adapter built (pl_bureau_cybersource.build), to
 * the simulator's CyberSource endpoint as its HTTPS server would, and frees msg. resp receives
 * what the simulator did (an answer, or PL_SIM_HOLD / PL_SIM_DROP); the caller frees it with
 * pl_sim_response_free.
 */
static inline void sim_test_cyb_handle(pl_sim_ledger *l, pl_bureau_msg *msg, pl_sim_response *resp)
{
    pl_sim_http_req http = {.method = "POST",
                            .path = PL_SIM_CYB_PATH,
                            .body = msg->body,
                            .body_len = msg->body_len,
                            .content_type = msg->content_type};
    assert_int_equal(pl_sim_cyb_handle(l, &http, resp), 0);
    pl_bureau_msg_free(msg);
}

/* True when s matches the extended regular expression pattern. */
static inline bool sim_test_matches(const char *s, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Runs fn(args[i]) on n threads at once (args: n elements of size bytes) and waits for all. */
static inline void sim_test_race(int n, void *(*fn)(void *), void *args, size_t size)
{
    pthread_t th[16];
    assert_true(n > 0 && n <= 16);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * size), 0);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* The simulator's log while a test looks at it: started with sim_test_log_begin. */
typedef struct sim_test_log {
    FILE *f;
    char *buf;
    size_t size;
} sim_test_log;

/* From now on the simulator logs at INFO into memory. */
static inline void sim_test_log_begin(sim_test_log *c)
{
    c->buf = NULL;
    c->size = 0;
    c->f = open_memstream(&c->buf, &c->size);
    assert_non_null(c->f);
    pl_log_init("sim", c->f);
    pl_log_set_level(PL_LOG_INFO);
}

/* Back to the tests' quiet log (WARN to stderr); returns what was logged, which must not be
 * empty. Valid until sim_test_log_free. */
static inline const char *sim_test_log_end(sim_test_log *c)
{
    fflush(c->f);
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    assert_non_null(c->buf);
    assert_true(c->size > 0);
    return c->buf;
}

static inline void sim_test_log_free(sim_test_log *c)
{
    fclose(c->f);
    free(c->buf);
}

#ifdef LIBCURL_VERSION_NUM
/* One HTTP answer as libcurl delivered it (status, and the body cut to fit). */
typedef struct sim_test_http {
    CURLcode rc;
    long status;
    char content_type[64];
    char body[8192];
    size_t len;
} sim_test_http;

/* CURLOPT_WRITEFUNCTION collecting into the sim_test_http of CURLOPT_WRITEDATA. */
static inline size_t sim_test_http_collect(char *p, size_t size, size_t n, void *user)
{
    sim_test_http *r = user;
    size_t take = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, take < room ? take : room);
    r->len += take < room ? take : room;
    r->body[r->len] = '\0';
    return size * n;
}
#endif

#endif
