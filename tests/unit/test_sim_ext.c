/*
 * test_sim_ext.c: the simulated External Payment Service (tools/sim/sim_ext.h). Requests are
 * JSON objects built with json-c the way notes/ext-wire.md describes them; answers are parsed
 * back and their fields compared; the ledger and the query records show what was applied.
 * The handler is called directly with a fresh ledger and EXT state per test (and a bearer
 * token fetched from its own token endpoint), except for the last test, which goes through
 * the HTTPS server in-process with libcurl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "card.h"
#include "log.h"
#include "sim_ext.h"
#include "sim_ledger.h"
#include "sim_server.h"
#include "sim_bureau_test.h"
#include "sim_test_helpers.h"

#define PAN "4111111111111111"
#define PAN2 "5555555555554444"
#define BAD_LUHN "4111111111111112"
/* A physical gift card: no check digit (the number is opaque to a stored value service). */
#define GIFT_PAN "6006491234567812"
#define FORM "application/x-www-form-urlencoded"
#define TIME_RFC3339 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"

/* ---- fixture -------------------------------------------------------------------------------- */

typedef struct fx {
    pl_sim_ledger *l;
    pl_sim_ext *x;
    const char *secret; /* the client secret refresh_token sends */
    char bearer[128];   /* "Bearer <token>" */
} fx;

/* "Basic base64(user:pass)" (user and pass taken as they are: the tests encode them). */
static void basic_header(const char *user, const char *pass, char *out, size_t size)
{
    char plain[256];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, pass);
    unsigned char b64[400];
    int m = EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
    assert_true(m > 0);
    int k = snprintf(out, size, "Basic %s", (const char *)b64);
    assert_true(k > 0 && (size_t)k < size);
}

static void raw_send(pl_sim_ledger *l, pl_sim_ext *x, const char *path, const char *authz,
                     const char *content_type, const char *body, pl_sim_response *resp)
{
    pl_sim_http_req req = {.method = "POST",
                           .path = path,
                           .body = body,
                           .body_len = strlen(body),
                           .authorization = authz,
                           .content_type = content_type,
                           .state = x};
    assert_int_equal(pl_sim_ext_handle(l, &req, resp), 0);
}

/* POST /ext/oauth2/token with Basic user:pass and the form body. */
static void oauth(fx *f, const char *user, const char *pass, const char *body,
                  pl_sim_response *resp)
{
    char authz[300];
    basic_header(user, pass, authz, sizeof authz);
    raw_send(f->l, f->x, PL_SIM_EXT_TOKEN_PATH, authz, FORM, body, resp);
}

/* The JSON object of an answer (asserted to be one). The caller puts it. */
static json_object *parse(const pl_sim_response *resp)
{
    assert_int_equal(resp->action, PL_SIM_ANSWER);
    assert_string_equal(resp->content_type, "application/json");
    assert_non_null(resp->body);
    json_object *j = json_tokener_parse(resp->body);
    assert_non_null(j);
    assert_true(json_object_is_type(j, json_type_object));
    return j;
}

/* Member key of j as a string, or NULL when absent. */
static const char *str(json_object *j, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(j, key, &v))
        return NULL;
    return json_object_get_string(v);
}

/* A fresh access token of f->x into f->bearer. */
static void refresh_token(fx *f)
{
    pl_sim_response resp;
    oauth(f, "paylink_demo", f->secret, "grant_type=client_credentials", &resp);
    assert_int_equal(resp.status, 200);
    json_object *j = parse(&resp);
    snprintf(f->bearer, sizeof f->bearer, "Bearer %s", str(j, "access_token"));
    json_object_put(j);
    pl_sim_response_free(&resp);
}

static int fx_setup_cfg(void **state, const pl_sim_ext_cfg *cfg)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->l = pl_sim_ledger_new();
    f->x = pl_sim_ext_new(cfg);
    assert_non_null(f->l);
    assert_non_null(f->x);
    f->secret = cfg->client_secret ? cfg->client_secret : "s3cret";
    refresh_token(f);
    *state = f;
    return 0;
}

static int fx_setup(void **state)
{
    pl_sim_ext_cfg cfg = {0};
    return fx_setup_cfg(state, &cfg);
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    pl_sim_ext_destroy(f->x);
    pl_sim_ledger_destroy(f->l);
    free(f);
    return 0;
}

#define EXT_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

/* ---- requests ------------------------------------------------------------------------------- */

/* The object at a dotted path's parent in o, made as needed; *last receives the last step. */
static json_object *parent_of(json_object *o, const char *path, char *last, size_t lastsize)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *dot;
    char *step = buf;
    while ((dot = strchr(step, '.'))) {
        *dot = '\0';
        json_object *next = NULL;
        if (!json_object_object_get_ex(o, step, &next)) {
            next = json_object_new_object();
            json_object_object_add(o, step, next);
        }
        o = next;
        step = dot + 1;
    }
    int k = snprintf(last, lastsize, "%s", step);
    assert_true(k >= 0 && (size_t)k < lastsize);
    return o;
}

static void set(json_object *o, const char *path, json_object *v)
{
    char last[64];
    json_object *p = parent_of(o, path, last, sizeof last);
    json_object_object_add(p, last, v);
}

static void set_str(json_object *o, const char *path, const char *v)
{
    set(o, path, json_object_new_string(v));
}

/* Every request's fields (ext-wire.md "Requests"); payment_type "CC" or "SVC". */
static json_object *request(const char *request_id, const char *payment_type)
{
    json_object *o = json_object_new_object();
    set_str(o, "messageVersion", "3.0");
    set_str(o, "requestID", request_id);
    set_str(o, "merchantID", "paylink_demo");
    set(o, "company", json_object_new_int(1));
    set_str(o, "orderNumber", "A1000");
    set(o, "paySeq", json_object_new_int(1));
    set_str(o, "paymentType", payment_type);
    return o;
}

/* A request with amount, currency USD and card.token (each when not NULL). */
static json_object *money_request(const char *request_id, const char *payment_type,
                                  const char *amount, const char *token)
{
    json_object *o = request(request_id, payment_type);
    if (amount) {
        set_str(o, "amount", amount);
        set_str(o, "currency", "USD");
    }
    if (token)
        set_str(o, "card.token", token);
    return o;
}

/* Sends body (consumed) to /ext/<endpoint> with f's bearer token. */
static void send_json(fx *f, const char *endpoint, json_object *body, pl_sim_response *resp)
{
    char path[64];
    snprintf(path, sizeof path, "/ext/%s", endpoint);
    const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
    raw_send(f->l, f->x, path, f->bearer, "application/json", text, resp);
    json_object_put(body);
}

/* An HTTP 200 JSON answer. */
typedef struct ans {
    pl_sim_response resp;
    json_object *j;
} ans;

static void call(fx *f, const char *endpoint, json_object *body, ans *a)
{
    memset(a, 0, sizeof *a);
    send_json(f, endpoint, body, &a->resp);
    assert_int_equal(a->resp.status, 200);
    a->j = parse(&a->resp);
    assert_string_equal(str(a->j, "messageVersion"), "3.0");
}

static const char *get(ans *a, const char *key)
{
    return str(a->j, key);
}

static void done(ans *a)
{
    json_object_put(a->j);
    pl_sim_response_free(&a->resp);
    memset(a, 0, sizeof *a);
}

/* Calls and checks decision and reasonCode (NULL: none); the answer is kept for more checks. */
static void expect(fx *f, const char *endpoint, json_object *body, const char *decision,
                   const char *reason, ans *a)
{
    call(f, endpoint, body, a);
    assert_string_equal(get(a, "decision"), decision);
    if (reason)
        assert_string_equal(get(a, "reasonCode"), reason);
    else
        assert_null(get(a, "reasonCode"));
}

/* The same, answer dropped. */
static void expect_only(fx *f, const char *endpoint, json_object *body, const char *decision,
                        const char *reason)
{
    ans a;
    expect(f, endpoint, body, decision, reason, &a);
    done(&a);
}

/* getToken of number; token receives the card token. */
static void tokenize(fx *f, const char *request_id, const char *payment_type, const char *number,
                     char *token, size_t size)
{
    json_object *o = request(request_id, payment_type);
    set_str(o, "card.number", number);
    ans a;
    expect(f, "getToken", o, "ACCEPT", "100", &a);
    const char *t = get(&a, "cardToken");
    assert_non_null(t);
    assert_true(sim_test_matches(t, "^tok_[0-9a-f]{24}$"));
    snprintf(token, size, "%s", t);
    done(&a);
}

/* ---- ledger --------------------------------------------------------------------------------- */

typedef sim_test_ledger_row ledger_row;
#define ASSERT_LEDGER(l, rows) SIM_TEST_ASSERT_LEDGER((l), "EXT", (rows))

/* The query record of ref, parsed, or NULL when none. The caller puts it. */
static json_object *query(pl_sim_ledger *l, const char *ref)
{
    char *text = NULL;
    bool found = false;
    assert_int_equal(pl_sim_ledger_txn_json(l, ref, &text, &found), 0);
    json_object *j = found ? json_tokener_parse(text) : NULL;
    free(text);
    return j;
}

static int group_setup(void **state)
{
    (void)state;
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    return 0;
}

/* ---- routes and OAuth ----------------------------------------------------------------------- */

static void test_route(void **state)
{
    (void)state;
    assert_true(pl_sim_ext_path_match("/ext/oauth2/token"));
    static const char *const eps[] = {"getToken",     "authorization", "deposit",
                                      "return",       "reversal",      "balanceInquiry",
                                      "generateGift", "activateGift",  "rechargeGift"};
    char path[64];
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        snprintf(path, sizeof path, "/ext/%s", eps[i]);
        assert_true(pl_sim_ext_path_match(path));
    }
    assert_false(pl_sim_ext_path_match("/ext/"));
    assert_false(pl_sim_ext_path_match("/ext/authorize"));
    assert_false(pl_sim_ext_path_match("/ext/authorization/"));
    assert_false(pl_sim_ext_path_match("/ext//authorization"));
    assert_false(pl_sim_ext_path_match("/EXT/authorization"));
    assert_false(pl_sim_ext_path_match("/ext/oauth2/token/x"));
    assert_false(pl_sim_ext_path_match(NULL));
}

static void test_oauth_token(void **state)
{
    fx *f = *state;
    pl_sim_response resp;
    oauth(f, "paylink_demo", "any-secret", "grant_type=client_credentials", &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.header_name, "Cache-Control");
    assert_string_equal(resp.header_value, "no-store");
    json_object *j = parse(&resp);
    assert_true(sim_test_matches(str(j, "access_token"), "^[0-9a-f]{64}$"));
    assert_string_equal(str(j, "token_type"), "Bearer");
    assert_string_equal(str(j, "expires_in"), "3600");
    /* A new token each time; the fixture's stays valid too. */
    assert_string_not_equal(str(j, "access_token"), f->bearer + 7);
    json_object_put(j);
    pl_sim_response_free(&resp);

    /* Client credentials form-urlencoded before base64 (RFC 6749 §2.3.1), scope ignored. */
    oauth(f, "pay%3Alink+demo", "s%2Fcret", "scope=all&grant_type=client_credentials", &resp);
    assert_int_equal(resp.status, 200);
    pl_sim_response_free(&resp);

    unsigned long issued, active;
    pl_sim_ext_token_counts(f->x, &issued, &active);
    assert_int_equal(issued, 3);
    assert_int_equal(active, 3);
    /* Nothing of this is a ledger effect. */
    assert_int_equal(pl_sim_ledger_count(f->l), 0);
}

/* Checks a 401 {"error": error} with a WWW-Authenticate header starting with scheme. */
static void assert_401(pl_sim_response *resp, const char *error, const char *scheme)
{
    assert_int_equal(resp->status, 401);
    assert_string_equal(resp->header_name, "WWW-Authenticate");
    assert_true(strncmp(resp->header_value, scheme, strlen(scheme)) == 0);
    json_object *j = parse(resp);
    assert_string_equal(str(j, "error"), error);
    json_object_put(j);
    pl_sim_response_free(resp);
}

static void test_oauth_refusals(void **state)
{
    fx *f = *state;
    pl_sim_response resp;
    oauth(f, "paylink_demo", PL_SIM_EXT_BAD_SECRET, "grant_type=client_credentials", &resp);
    assert_401(&resp, "invalid_client", "Basic");
    oauth(f, "paylink_demo", "", "grant_type=client_credentials", &resp);
    assert_401(&resp, "invalid_client", "Basic");
    oauth(f, "", "secret", "grant_type=client_credentials", &resp);
    assert_401(&resp, "invalid_client", "Basic");
    raw_send(f->l, f->x, PL_SIM_EXT_TOKEN_PATH, NULL, FORM, "grant_type=client_credentials", &resp);
    assert_401(&resp, "invalid_client", "Basic");
    raw_send(f->l, f->x, PL_SIM_EXT_TOKEN_PATH, "Basic !!!!", FORM, "grant_type=client_credentials",
             &resp);
    assert_401(&resp, "invalid_client", "Basic");
    raw_send(f->l, f->x, PL_SIM_EXT_TOKEN_PATH, f->bearer, FORM, "grant_type=client_credentials",
             &resp);
    assert_401(&resp, "invalid_client", "Basic");

    static const struct {
        const char *content_type, *body, *error;
    } bad[] = {
        {FORM, "grant_type=password", "unsupported_grant_type"},
        {FORM, "", "invalid_request"},
        {FORM, "grant_type=%ZZ", "invalid_request"},
        {"application/json", "{\"grant_type\":\"client_credentials\"}", "invalid_request"},
    };
    char authz[300];
    basic_header("paylink_demo", "secret", authz, sizeof authz);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        raw_send(f->l, f->x, PL_SIM_EXT_TOKEN_PATH, authz, bad[i].content_type, bad[i].body, &resp);
        assert_int_equal(resp.status, 400);
        json_object *j = parse(&resp);
        assert_string_equal(str(j, "error"), bad[i].error);
        json_object_put(j);
        pl_sim_response_free(&resp);
    }
    unsigned long issued, active;
    pl_sim_ext_token_counts(f->x, &issued, &active);
    assert_int_equal(issued, 1); /* the fixture's */
}

static void test_configured_secret(void **state)
{
    (void)state;
    pl_sim_ext_cfg cfg = {.token_ttl_s = 120, .client_secret = "from-the-file"};
    void *st = NULL;
    fx_setup_cfg(&st, &cfg);
    fx *f = st;
    pl_sim_response resp;
    oauth(f, "paylink_demo", "another", "grant_type=client_credentials", &resp);
    assert_401(&resp, "invalid_client", "Basic");
    oauth(f, "paylink_demo", "from-the-file", "grant_type=client_credentials", &resp);
    assert_int_equal(resp.status, 200);
    json_object *j = parse(&resp);
    assert_string_equal(str(j, "expires_in"), "120");
    json_object_put(j);
    pl_sim_response_free(&resp);
    fx_teardown(&st);
}

/* An endpoint call with the given Authorization header: 401 invalid_token, nothing applied. */
static void expect_token_refused(fx *f, const char *authz)
{
    json_object *o = request("r-token", "CC");
    set_str(o, "card.number", PAN);
    const char *text = json_object_to_json_string(o);
    pl_sim_response resp;
    raw_send(f->l, f->x, "/ext/getToken", authz, "application/json", text, &resp);
    json_object_put(o);
    assert_401(&resp, "invalid_token", "Bearer error=\"invalid_token\"");
}

static void test_bearer_token_required(void **state)
{
    fx *f = *state;
    expect_token_refused(f, NULL);
    expect_token_refused(f, "Bearer ");
    expect_token_refused(f,
                         "Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    expect_token_refused(f, "Basic cGF5bGluazpzZWNyZXQ=");
    char longer[200];
    snprintf(longer, sizeof longer, "%s0", f->bearer);
    expect_token_refused(f, longer);
    assert_int_equal(pl_sim_ledger_count(f->l), 0);
    json_object *rec = query(f->l, "r-token");
    assert_null(rec);

    /* The scheme in any case, as RFC 7235 allows. */
    char *saved = strdup(f->bearer);
    memcpy(f->bearer, "bearer", 6);
    char tok[64];
    tokenize(f, "r-token", "CC", PAN, tok, sizeof tok);
    snprintf(f->bearer, sizeof f->bearer, "%s", saved);
    free(saved);
}

/* A control route as the server calls it: the status, and the body when body is not NULL. */
static void expect_control(fx *f, const char *method, const char *path, unsigned status,
                           const char *body)
{
    pl_sim_response resp;
    assert_int_equal(pl_sim_ext_control(f->x, method, path, &resp), 0);
    assert_int_equal(resp.status, status);
    if (body)
        assert_string_equal(resp.body, body);
    pl_sim_response_free(&resp);
}

static void test_expire_tokens(void **state)
{
    fx *f = *state;
    char tok[64];
    tokenize(f, "r1", "CC", PAN, tok, sizeof tok);

    /* The control routes as the server calls them. */
    expect_control(f, "POST", "/__sim/ext/expire-tokens", 200, "{\"expired\":1}");
    expect_control(f, "GET", "/__sim/ext/tokens", 200, "{\"issued\":1,\"active\":0}");
    expect_control(f, "GET", "/__sim/ext/expire-tokens", 405, NULL);
    expect_control(f, "POST", "/__sim/ext/tokens", 405, NULL);
    expect_control(f, "GET", "/__sim/ext/nothing", 404, NULL);

    /* The token expired mid-run: refused until paylink fetches a new one. */
    expect_token_refused(f, f->bearer);
    assert_int_equal(pl_sim_ledger_count(f->l), 1);
    refresh_token(f);
    char again[64];
    tokenize(f, "r2", "CC", PAN, again, sizeof again);
    assert_string_equal(again, tok);
    expect_control(f, "GET", "/__sim/ext/tokens", 200, "{\"issued\":2,\"active\":1}");

    /* A reset keeps the access tokens (the client's session), forgets the card tokens. */
    pl_sim_ledger_reset(f->l);
    pl_sim_ext_reset(f->x);
    expect_only(f, "authorization", money_request("r3", "CC", "10.00", tok), "REJECT",
                PL_SIM_EXT_R_NOCARD);
}

static void test_token_ttl(void **state)
{
    (void)state;
    pl_sim_ext_cfg cfg = {.token_ttl_s = 1};
    void *st = NULL;
    fx_setup_cfg(&st, &cfg);
    fx *f = st;
    /* Only "expired after the TTL" is asserted: a slow machine may stretch any delay. */
    usleep(1100 * 1000);
    expect_token_refused(f, f->bearer);
    unsigned long issued, active;
    pl_sim_ext_token_counts(f->x, &issued, &active);
    assert_int_equal(issued, 1);
    assert_int_equal(active, 0);
    fx_teardown(&st);
}

/* ---- cards ---------------------------------------------------------------------------------- */

static void test_get_token(void **state)
{
    fx *f = *state;
    char t1[64], t2[64], t3[64], g[64];
    tokenize(f, "r1", "CC", PAN, t1, sizeof t1);
    tokenize(f, "r2", "CC", PAN, t2, sizeof t2);
    tokenize(f, "r3", "CC", PAN2, t3, sizeof t3);
    tokenize(f, "r4", "SVC", GIFT_PAN, g, sizeof g);
    assert_string_equal(t1, t2);
    assert_string_not_equal(t1, t3);
    assert_string_not_equal(t1, g);

    /* The answer: a transactionID of its own, the token, nothing of the number. */
    json_object *o = request("r5", "CC");
    set_str(o, "card.number", PAN);
    set(o, "card.expMonth", json_object_new_int(12));
    set(o, "card.expYear", json_object_new_int(2099));
    set_str(o, "card.type", "VI");
    ans a;
    expect(f, "getToken", o, "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "requestID"), "r5");
    assert_string_equal(get(&a, "cardToken"), t1);
    assert_true(sim_test_matches(get(&a, "transactionID"), "^[0-9]{22}$"));
    assert_null(strstr(a.resp.body, PAN));
    done(&a);

    /* Credit card checks: Luhn (231), expiry (202); a gift card number is not checked. */
    o = request("r6", "CC");
    set_str(o, "card.number", BAD_LUHN);
    expect_only(f, "getToken", o, "REJECT", "231");
    o = request("r7", "CC");
    set_str(o, "card.number", PAN);
    set(o, "card.expMonth", json_object_new_int(1));
    set(o, "card.expYear", json_object_new_int(2001));
    expect_only(f, "getToken", o, "REJECT", "202");
    char bad[64];
    tokenize(f, "r8", "SVC", BAD_LUHN, bad, sizeof bad);

    const ledger_row rows[] = {
        {"token", "r1", "0.00", NULL}, {"token", "r2", "0.00", NULL}, {"token", "r3", "0.00", NULL},
        {"token", "r4", "0.00", NULL}, {"token", "r5", "0.00", NULL}, {"token", "r8", "0.00", NULL},
    };
    ASSERT_LEDGER(f->l, rows);
    json_object *rec = query(f->l, "r6");
    assert_string_equal(str(rec, "protocol"), "EXT");
    assert_string_equal(str(rec, "op"), "token");
    assert_string_equal(str(rec, "decision"), "REJECT");
    assert_string_equal(str(rec, "reason_code"), "231");
    json_object_put(rec);

    /* Bad numbers are not tokens. */
    o = request("r9", "CC");
    set_str(o, "card.number", "41111111111");
    expect_only(f, "getToken", o, "ERROR", PL_SIM_EXT_R_INVALID);
    o = request("r10", "CC");
    set_str(o, "card.number", "4111-1111-1111-1111");
    expect_only(f, "getToken", o, "ERROR", PL_SIM_EXT_R_INVALID);
    o = request("r11", "CC");
    expect_only(f, "getToken", o, "ERROR", PL_SIM_EXT_R_INVALID);
}

static void test_unknown_token(void **state)
{
    fx *f = *state;
    const char *unknown = "tok_000000000000000000000000";
    expect_only(f, "authorization", money_request("r1", "CC", "10.00", unknown), "REJECT",
                PL_SIM_EXT_R_NOCARD);
    expect_only(f, "authorization", money_request("r2", "SVC", "10.00", unknown), "REJECT",
                PL_SIM_EXT_R_NOCARD);
    expect_only(f, "balanceInquiry", money_request("r3", "SVC", NULL, unknown), "REJECT",
                PL_SIM_EXT_R_NOCARD);
    expect_only(f, "activateGift", money_request("r4", "SVC", "5.00", unknown), "REJECT",
                PL_SIM_EXT_R_NOCARD);
    /* A token of a card that has no stored value account. */
    char tok[64];
    tokenize(f, "r5", "SVC", GIFT_PAN, tok, sizeof tok);
    expect_only(f, "rechargeGift", money_request("r6", "SVC", "5.00", tok), "REJECT",
                PL_SIM_EXT_R_NOCARD);
    assert_int_equal(pl_sim_ledger_count(f->l), 1);
}

/* ---- credit card ---------------------------------------------------------------------------- */

/* An approved credit card authorization of amount; txn receives its transactionID. */
static void cc_auth(fx *f, const char *rid, const char *token, const char *amount, char *txn,
                    size_t size)
{
    ans a;
    expect(f, "authorization", money_request(rid, "CC", amount, token), "ACCEPT", "100", &a);
    snprintf(txn, size, "%s", get(&a, "transactionID"));
    done(&a);
}

static json_object *follow_on(const char *rid, const char *amount, const char *token,
                              const char *txn)
{
    json_object *o = money_request(rid, "CC", amount, token);
    if (txn)
        set_str(o, "transactionID", txn);
    return o;
}

static void test_cc_approvals(void **state)
{
    fx *f = *state;
    char tok[64], t1[32], t2[32], t3[32], dep[32];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);

    json_object *o = money_request("r1", "CC", "120.00", tok);
    set(o, "online", json_object_new_boolean(1));
    set(o, "card.expMonth", json_object_new_int(12));
    set(o, "card.expYear", json_object_new_int(2030));
    set_str(o, "card.holder", "Pat Doe");
    set_str(o, "billTo.postalCode", "01234");
    set_str(o, "billTo.firstName", "Pat");
    set_str(o, "subsequentAuth", "N");
    set_str(o, "initiator", "CARDHOLDER");
    ans a;
    expect(f, "authorization", o, "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "requestID"), "r1");
    assert_string_equal(get(&a, "amount"), "120.00");
    assert_true(sim_test_matches(get(&a, "transactionID"), "^[0-9]{22}$"));
    assert_true(sim_test_matches(get(&a, "authorizationCode"), "^[0-9]{6}$"));
    assert_true(sim_test_matches(get(&a, "authorizedDateTime"), TIME_RFC3339));
    assert_string_equal(get(&a, "avsCode"), "Y");
    /* No CVV travels in message version 3.0: no CVV result either. */
    assert_null(get(&a, "cvvCode"));
    assert_null(get(&a, "balance"));
    snprintf(t1, sizeof t1, "%s", get(&a, "transactionID"));
    done(&a);

    /* Billing postal code 00000 → AVS N (CONTRACT.md §3). */
    o = money_request("r2", "CC", "30.00", tok);
    set_str(o, "billTo.postalCode", "00000");
    expect(f, "authorization", o, "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "avsCode"), "N");
    snprintf(t2, sizeof t2, "%s", get(&a, "transactionID"));
    done(&a);

    /* Deposit part of r1, then return part of the deposit. */
    o = follow_on("r3", "100.00", tok, t1);
    set_str(o, "authorizationCode", "123456");
    set(o, "voidRemainder", json_object_new_boolean(0));
    expect(f, "deposit", o, "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "amount"), "100.00");
    snprintf(dep, sizeof dep, "%s", get(&a, "transactionID"));
    assert_string_not_equal(dep, t1);
    done(&a);
    expect(f, "return", follow_on("r4", "40.00", tok, dep), "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "amount"), "40.00");
    done(&a);
    /* A stand-alone return (no transactionID). */
    expect_only(f, "return", follow_on("r5", "5.00", tok, NULL), "ACCEPT", "100");
    /* Reverse r2 whole. */
    expect(f, "reversal", follow_on("r6", "30.00", tok, t2), "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "amount"), "30.00");
    done(&a);

    /* Authorize and deposit in one: both rows, one transactionID. */
    o = money_request("r7", "CC", "75.00", tok);
    set(o, "capture", json_object_new_boolean(1));
    expect(f, "authorization", o, "ACCEPT", "100", &a);
    snprintf(t3, sizeof t3, "%s", get(&a, "transactionID"));
    done(&a);
    expect_only(f, "return", follow_on("r8", "75.00", tok, t3), "ACCEPT", "100");

    const ledger_row rows[] = {
        {"token", "r0", "0.00", NULL},     {"auth", "r1", "120.00", t1},
        {"auth", "r2", "30.00", t2},       {"capture", "r3", "100.00", dep},
        {"credit", "r4", "40.00", NULL},   {"credit", "r5", "5.00", NULL},
        {"reversal", "r6", "30.00", NULL}, {"auth", "r7", "75.00", t3},
        {"capture", "r7", "75.00", t3},    {"credit", "r8", "75.00", NULL},
    };
    ASSERT_LEDGER(f->l, rows);

    json_object *rec = query(f->l, "r7");
    assert_string_equal(str(rec, "op"), "auth_capture");
    assert_string_equal(str(rec, "decision"), "ACCEPT");
    assert_string_equal(str(rec, "reason_code"), "100");
    assert_string_equal(str(rec, "request_id"), t3);
    assert_string_equal(str(rec, "amount"), "75.00");
    json_object_put(rec);
}

static void test_cc_follow_on_rules(void **state)
{
    fx *f = *state;
    char tok[64], other[64], t1[32], t2[32], t3[32], dep[32];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);
    tokenize(f, "r0b", "CC", PAN2, other, sizeof other);
    cc_auth(f, "r1", tok, "50.00", t1, sizeof t1);

    expect_only(f, "deposit", follow_on("d1", "10.00", tok, "999"), "REJECT", PL_SIM_EXT_R_NOTRANS);
    expect_only(f, "deposit", follow_on("d2", "10.00", other, t1), "REJECT", PL_SIM_EXT_R_NOTRANS);
    expect_only(f, "deposit", follow_on("d3", "50.01", tok, t1), "REJECT", PL_SIM_EXT_R_EXCEEDS);
    ans a;
    expect(f, "deposit", follow_on("d4", "20.00", tok, t1), "ACCEPT", "100", &a);
    snprintf(dep, sizeof dep, "%s", get(&a, "transactionID"));
    done(&a);
    expect_only(f, "reversal", follow_on("v1", "50.00", tok, t1), "REJECT", PL_SIM_EXT_R_SETTLED);
    expect_only(f, "deposit", follow_on("d5", "30.00", tok, t1), "ACCEPT", "100");
    expect_only(f, "deposit", follow_on("d6", "1.00", tok, t1), "REJECT", PL_SIM_EXT_R_SETTLED);
    expect_only(f, "return", follow_on("c1", "20.01", tok, dep), "REJECT", PL_SIM_EXT_R_EXCEEDS);
    expect_only(f, "return", follow_on("c2", "1.00", tok, t1), "REJECT", PL_SIM_EXT_R_NOTRANS);
    expect_only(f, "return", follow_on("c3", "20.00", tok, dep), "ACCEPT", "100");
    expect_only(f, "return", follow_on("c4", "0.01", tok, dep), "REJECT", PL_SIM_EXT_R_EXCEEDS);

    cc_auth(f, "r2", tok, "40.00", t2, sizeof t2);
    expect_only(f, "reversal", follow_on("v2", "40.00", tok, t2), "ACCEPT", "100");
    expect_only(f, "reversal", follow_on("v3", "40.00", tok, t2), "REJECT", PL_SIM_EXT_R_VOIDED);
    expect_only(f, "deposit", follow_on("d7", "1.00", tok, t2), "REJECT", PL_SIM_EXT_R_VOIDED);

    /* Void auth at deposit: the rest is released at once. */
    cc_auth(f, "r3", tok, "60.00", t3, sizeof t3);
    json_object *o = follow_on("d8", "45.00", tok, t3);
    set(o, "voidRemainder", json_object_new_boolean(1));
    expect(f, "deposit", o, "ACCEPT", "100", &a);
    snprintf(dep, sizeof dep, "%s", get(&a, "transactionID"));
    done(&a);
    expect_only(f, "deposit", follow_on("d9", "1.00", tok, t3), "REJECT", PL_SIM_EXT_R_VOIDED);

    const ledger_row rows[] = {
        {"token", "r0", "0.00", NULL},    {"token", "r0b", "0.00", NULL},
        {"auth", "r1", "50.00", t1},      {"capture", "d4", "20.00", NULL},
        {"capture", "d5", "30.00", NULL}, {"credit", "c3", "20.00", NULL},
        {"auth", "r2", "40.00", t2},      {"reversal", "v2", "40.00", NULL},
        {"auth", "r3", "60.00", t3},      {"capture", "d8", "45.00", dep},
        {"reversal", "d8", "15.00", dep},
    };
    ASSERT_LEDGER(f->l, rows);
}

static void test_cc_scenarios(void **state)
{
    fx *f = *state;
    char tok[64];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);
    ans a;
    expect(f, "authorization", money_request("p1", "CC", "110.25", tok), "ACCEPT", "110", &a);
    assert_string_equal(get(&a, "amount"), "55.12");
    done(&a);

    static const char *const declines[] = {"202", "203", "204", "205", "211", "231"};
    char rid[16], amount[16];
    for (size_t i = 0; i < sizeof declines / sizeof declines[0]; i++) {
        snprintf(rid, sizeof rid, "d%zu", i);
        snprintf(amount, sizeof amount, "%s.00", declines[i]);
        expect(f, "authorization", money_request(rid, "CC", amount, tok), "REJECT", declines[i],
               &a);
        assert_null(get(&a, "amount"));
        assert_null(get(&a, "authorizationCode"));
        done(&a);
    }
    /* A stand-alone return charges the account too; a follow-on one follows the rules. */
    expect_only(f, "return", follow_on("c1", "204.00", tok, NULL), "REJECT", "204");
    /* EXT has no Decision Manager: 400, 480, 481 are approvals. */
    expect_only(f, "authorization", money_request("a1", "CC", "400.00", tok), "ACCEPT", "100");
    expect_only(f, "authorization", money_request("a2", "CC", "480.00", tok), "ACCEPT", "100");
    expect_only(f, "authorization", money_request("a3", "CC", "481.00", tok), "ACCEPT", "100");

    const ledger_row rows[] = {
        {"token", "r0", "0.00", NULL},  {"auth", "p1", "55.12", NULL},
        {"auth", "a1", "400.00", NULL}, {"auth", "a2", "480.00", NULL},
        {"auth", "a3", "481.00", NULL},
    };
    ASSERT_LEDGER(f->l, rows);
    json_object *rec = query(f->l, "d2");
    assert_string_equal(str(rec, "decision"), "REJECT");
    assert_string_equal(str(rec, "reason_code"), "204");
    json_object_put(rec);
}

/* ---- stored value --------------------------------------------------------------------------- */

/* generateGift; card and token receive the new card's number and token. */
static void generate(fx *f, const char *rid, char *card, size_t cardsize, char *token,
                     size_t tokensize)
{
    ans a;
    expect(f, "generateGift", request(rid, "SVC"), "ACCEPT", "100", &a);
    snprintf(card, cardsize, "%s", get(&a, "cardNumber"));
    snprintf(token, tokensize, "%s", get(&a, "cardToken"));
    assert_string_equal(get(&a, "balance"), "0.00");
    assert_string_equal(get(&a, "cardStatus"), "INACTIVE");
    assert_true(sim_test_matches(get(&a, "transactionID"), "^[0-9]{9,10}$"));
    done(&a);
}

/* Calls and checks an approval's amount, balance and status. */
static void expect_svc(fx *f, const char *endpoint, json_object *o, const char *reason,
                       const char *amount, const char *balance, char *txn, size_t txnsize)
{
    ans a;
    expect(f, endpoint, o, "ACCEPT", reason, &a);
    if (amount)
        assert_string_equal(get(&a, "amount"), amount);
    else
        assert_null(get(&a, "amount"));
    assert_string_equal(get(&a, "balance"), balance);
    assert_string_equal(get(&a, "cardStatus"), "ACTIVE");
    if (txn)
        snprintf(txn, txnsize, "%s", get(&a, "transactionID"));
    done(&a);
}

static json_object *svc(const char *rid, const char *amount, const char *token, const char *txn)
{
    json_object *o = money_request(rid, "SVC", amount, token);
    if (txn)
        set_str(o, "transactionID", txn);
    return o;
}

static void test_svc_sequence(void **state)
{
    fx *f = *state;
    char card[32], tok[64], gen_id[32], act[32], a1[32], dep[32], a2[32], ret[32], rev[32];
    ans a;
    expect(f, "generateGift", request("g1", "SVC"), "ACCEPT", "100", &a);
    snprintf(card, sizeof card, "%s", get(&a, "cardNumber"));
    snprintf(tok, sizeof tok, "%s", get(&a, "cardToken"));
    snprintf(gen_id, sizeof gen_id, "%s", get(&a, "transactionID"));
    done(&a);
    /* The demo series: 16 digits, Luhn-valid, so every card number scrubber finds it. */
    assert_true(sim_test_matches(card, "^7077[0-9]{12}$"));
    assert_true(pl_card_luhn_ok(card));

    /* A generated card is inactive with nothing on it. */
    expect(f, "balanceInquiry", svc("i0", NULL, tok, NULL), "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "balance"), "0.00");
    assert_string_equal(get(&a, "cardStatus"), "INACTIVE");
    done(&a);
    expect_only(f, "authorization", svc("x0", "1.00", tok, NULL), "REJECT", PL_SIM_EXT_R_INACTIVE);

    expect_svc(f, "activateGift", svc("s1", "50.00", tok, NULL), "100", "50.00", "50.00", act,
               sizeof act);
    expect_svc(f, "balanceInquiry", svc("s2", NULL, tok, NULL), "100", NULL, "50.00", NULL, 0);
    ans auth;
    expect(f, "authorization", svc("s3", "20.00", tok, NULL), "ACCEPT", "100", &auth);
    assert_string_equal(get(&auth, "amount"), "20.00");
    assert_string_equal(get(&auth, "balance"), "30.00"); /* available: the hold is out */
    assert_true(sim_test_matches(get(&auth, "authorizationCode"), "^[0-9]{6}$"));
    snprintf(a1, sizeof a1, "%s", get(&auth, "transactionID"));
    done(&auth);
    expect_svc(f, "deposit", svc("s4", "20.00", tok, a1), "100", "20.00", "30.00", dep, sizeof dep);
    expect_svc(f, "balanceInquiry", svc("s5", NULL, tok, NULL), "100", NULL, "30.00", NULL, 0);
    /* More than the balance: the balance is approved (a partial approval) and held. */
    expect_svc(f, "authorization", svc("s6", "100.00", tok, NULL), "110", "30.00", "0.00", a2,
               sizeof a2);
    expect_svc(f, "return", svc("s7", "10.00", tok, dep), "100", "10.00", "10.00", ret, sizeof ret);
    expect_svc(f, "reversal", svc("s8", "30.00", tok, a2), "100", "30.00", "40.00", rev,
               sizeof rev);
    expect_svc(f, "balanceInquiry", svc("s9", NULL, tok, NULL), "100", NULL, "40.00", NULL, 0);

    const ledger_row rows[] = {
        {"generate", "g1", "0.00", gen_id}, {"activate", "s1", "50.00", act},
        {"auth", "s3", "20.00", a1},        {"deposit", "s4", "20.00", dep},
        {"auth", "s6", "30.00", a2},        {"return", "s7", "10.00", ret},
        {"void", "s8", "30.00", rev},
    };
    ASSERT_LEDGER(f->l, rows);
    json_object *rec = query(f->l, "s6");
    assert_string_equal(str(rec, "op"), "auth");
    assert_string_equal(str(rec, "reason_code"), "110");
    assert_string_equal(str(rec, "amount"), "30.00");
    json_object_put(rec);
    rec = query(f->l, "s9");
    assert_string_equal(str(rec, "op"), "inquiry");
    json_object_put(rec);

    /* Numbers are never repeated: the next card is the next of the series. */
    char card2[32], tok2[64];
    generate(f, "g2", card2, sizeof card2, tok2, sizeof tok2);
    assert_string_not_equal(card2, card);
    assert_string_not_equal(tok2, tok);
    /* getToken of a generated number finds the same card. */
    char again[64];
    tokenize(f, "t1", "SVC", card2, again, sizeof again);
    assert_string_equal(again, tok2);
}

static void test_svc_rules(void **state)
{
    fx *f = *state;
    char card[32], tok[64], phys[64], a1[32], a2[32];
    generate(f, "g1", card, sizeof card, tok, sizeof tok);
    /* A recharge loads and activates a generated card. */
    expect_svc(f, "rechargeGift", svc("s1", "25.00", tok, NULL), "100", "25.00", "25.00", NULL, 0);
    expect_only(f, "activateGift", svc("s2", "5.00", tok, NULL), "REJECT", PL_SIM_EXT_R_ACTIVE);

    /* A physical gift card: tokenized, then activated (created active). */
    tokenize(f, "t1", "SVC", GIFT_PAN, phys, sizeof phys);
    expect_svc(f, "activateGift", svc("s3", "0.00", phys, NULL), "100", "0.00", "0.00", NULL, 0);
    ans a;
    expect(f, "authorization", svc("s4", "1.00", phys, NULL), "REJECT", PL_SIM_EXT_R_NOFUNDS, &a);
    assert_string_equal(get(&a, "balance"), "0.00");
    assert_string_equal(get(&a, "cardStatus"), "ACTIVE");
    assert_null(get(&a, "amount"));
    done(&a);

    expect_svc(f, "authorization", svc("s5", "10.00", tok, NULL), "100", "10.00", "15.00", a1,
               sizeof a1);
    expect_only(f, "deposit", svc("s6", "10.01", tok, a1), "REJECT", PL_SIM_EXT_R_EXCEEDS);
    expect_only(f, "deposit", svc("s7", "1.00", phys, a1), "REJECT", PL_SIM_EXT_R_NOTRANS);
    expect_only(f, "deposit", svc("s8", "1.00", tok, "12345"), "REJECT", PL_SIM_EXT_R_NOTRANS);
    /* Void auth at deposit: 4.00 settled, the other 6.00 released. */
    json_object *o = svc("s9", "4.00", tok, a1);
    set(o, "voidRemainder", json_object_new_boolean(1));
    expect_svc(f, "deposit", o, "100", "4.00", "21.00", NULL, 0);
    expect_only(f, "reversal", svc("s10", "10.00", tok, a1), "REJECT", PL_SIM_EXT_R_VOIDED);

    expect_svc(f, "authorization", svc("s11", "5.00", tok, NULL), "100", "5.00", "16.00", a2,
               sizeof a2);
    expect_svc(f, "deposit", svc("s12", "5.00", tok, a2), "100", "5.00", "16.00", NULL, 0);
    expect_only(f, "reversal", svc("s13", "5.00", tok, a2), "REJECT", PL_SIM_EXT_R_SETTLED);

    /* Authorize and deposit in one. */
    o = svc("s14", "6.00", tok, NULL);
    set(o, "capture", json_object_new_boolean(1));
    expect(f, "authorization", o, "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "balance"), "10.00");
    char a3[32];
    snprintf(a3, sizeof a3, "%s", get(&a, "transactionID"));
    done(&a);

    /* The stored value endpoints are for stored value cards. */
    expect_only(f, "balanceInquiry", money_request("x1", "CC", NULL, tok), "ERROR",
                PL_SIM_EXT_R_INVALID);
    expect_only(f, "generateGift", request("x2", "CC"), "ERROR", PL_SIM_EXT_R_INVALID);
    expect_only(f, "rechargeGift", money_request("x3", "CC", "1.00", tok), "ERROR",
                PL_SIM_EXT_R_INVALID);
    /* A stored value authorization of 0 is no authorization. */
    expect_only(f, "authorization", svc("x4", "0.00", tok, NULL), "ERROR", PL_SIM_EXT_R_INVALID);

    const ledger_row rows[] = {
        {"generate", "g1", "0.00", NULL}, {"recharge", "s1", "25.00", NULL},
        {"token", "t1", "0.00", NULL},    {"activate", "s3", "0.00", NULL},
        {"auth", "s5", "10.00", a1},      {"deposit", "s9", "4.00", NULL},
        {"void", "s9", "6.00", NULL},     {"auth", "s11", "5.00", a2},
        {"deposit", "s12", "5.00", NULL}, {"auth", "s14", "6.00", a3},
        {"deposit", "s14", "6.00", NULL},
    };
    ASSERT_LEDGER(f->l, rows);
}

/* ---- scenarios and idempotency -------------------------------------------------------------- */

/* Sends a credit card authorization of amount with request ID rid; resp as it came. */
static void send_auth(fx *f, const char *rid, const char *token, const char *amount,
                      pl_sim_response *resp)
{
    send_json(f, "authorization", money_request(rid, "CC", amount, token), resp);
}

/* Sends body (consumed) and expects no answer: action PL_SIM_HOLD or PL_SIM_DROP. */
static void expect_no_answer(fx *f, const char *endpoint, json_object *body, pl_sim_action action)
{
    pl_sim_response resp;
    send_json(f, endpoint, body, &resp);
    assert_int_equal(resp.action, action);
    assert_null(resp.body);
    pl_sim_response_free(&resp);
}

static void test_faults(void **state)
{
    fx *f = *state;
    char tok[64];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);
    pl_sim_response resp;

    expect_no_answer(f, "authorization", money_request("f1", "CC", "901.00", tok), PL_SIM_HOLD);
    send_auth(f, "f2", tok, "902.00", &resp);
    assert_int_equal(resp.action, PL_SIM_ANSWER);
    assert_int_equal(resp.status, 500);
    assert_string_equal(resp.content_type, "text/html");
    pl_sim_response_free(&resp);
    send_auth(f, "f3", tok, "903.00", &resp);
    assert_int_equal(resp.status, 200);
    json_object *j = json_tokener_parse(resp.body);
    assert_null(j);
    pl_sim_response_free(&resp);
    expect_no_answer(f, "authorization", money_request("f4", "CC", "904.00", tok), PL_SIM_DROP);
    /* 901–904: nothing applied, nothing recorded, nothing remembered: a re-send fails again. */
    assert_int_equal(pl_sim_ledger_count(f->l), 1);
    for (int i = 1; i <= 4; i++) {
        char rid[8];
        snprintf(rid, sizeof rid, "f%d", i);
        assert_null(query(f->l, rid));
    }
    expect_no_answer(f, "authorization", money_request("f4", "CC", "904.00", tok), PL_SIM_DROP);

    /* 905: applied, then no answer; the re-send gets the lost answer, nothing applied twice. */
    expect_no_answer(f, "authorization", money_request("f5", "CC", "905.00", tok), PL_SIM_HOLD);
    json_object *rec = query(f->l, "f5");
    assert_non_null(rec);
    assert_string_equal(str(rec, "decision"), "ACCEPT");
    char txn[32];
    snprintf(txn, sizeof txn, "%s", str(rec, "request_id"));
    json_object_put(rec);
    ans a;
    call(f, "authorization", money_request("f5", "CC", "905.00", tok), &a);
    assert_string_equal(get(&a, "decision"), "ACCEPT");
    assert_string_equal(get(&a, "transactionID"), txn);
    assert_string_equal(get(&a, "amount"), "905.00");
    done(&a);

    /* 906: applied, then the connection is closed. */
    expect_no_answer(f, "authorization", money_request("f6", "CC", "906.00", tok), PL_SIM_DROP);
    expect_only(f, "authorization", money_request("f6", "CC", "906.00", tok), "ACCEPT", "100");

    /* The same for a stored value card: the activation happens once. */
    char card[32], gtok[64];
    generate(f, "g1", card, sizeof card, gtok, sizeof gtok);
    expect_no_answer(f, "activateGift", svc("f7", "905.00", gtok, NULL), PL_SIM_HOLD);
    expect_svc(f, "activateGift", svc("f7", "905.00", gtok, NULL), "100", "905.00", "905.00", NULL,
               0);

    const ledger_row rows[] = {
        {"token", "r0", "0.00", NULL},      {"auth", "f5", "905.00", txn},
        {"auth", "f6", "906.00", NULL},     {"generate", "g1", "0.00", NULL},
        {"activate", "f7", "905.00", NULL},
    };
    ASSERT_LEDGER(f->l, rows);
}

static void test_error_150(void **state)
{
    fx *f = *state;
    char tok[64], card[32], gtok[64];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);
    generate(f, "g1", card, sizeof card, gtok, sizeof gtok);
    ans a;
    expect(f, "authorization", money_request("e1", "CC", "150.00", tok), "ERROR", NULL, &a);
    assert_string_equal(get(&a, "requestID"), "e1");
    assert_null(get(&a, "transactionID"));
    assert_null(get(&a, "amount"));
    done(&a);
    expect_only(f, "rechargeGift", svc("e2", "150.99", gtok, NULL), "ERROR", NULL);
    /* The answer is the answer: a repeat gets it again, still nothing applied. */
    expect_only(f, "authorization", money_request("e1", "CC", "150.00", tok), "ERROR", NULL);
    assert_int_equal(pl_sim_ledger_count(f->l), 2);
    json_object *rec = query(f->l, "e1");
    assert_string_equal(str(rec, "decision"), "ERROR");
    json_object_put(rec);
}

static void test_907_token_expired_once(void **state)
{
    fx *f = *state;
    char tok[64];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);
    pl_sim_response resp;
    send_auth(f, "x1", tok, "907.00", &resp);
    assert_401(&resp, "invalid_token", "Bearer error=\"invalid_token\"");
    assert_int_equal(pl_sim_ledger_count(f->l), 1);
    assert_null(query(f->l, "x1"));

    /* paylink fetches a new token and sends the same request once more. */
    refresh_token(f);
    ans a;
    expect(f, "authorization", money_request("x1", "CC", "907.00", tok), "ACCEPT", "100", &a);
    assert_string_equal(get(&a, "amount"), "907.00");
    char *first = strdup(a.resp.body);
    done(&a);
    /* From then on, the request's answer. */
    call(f, "authorization", money_request("x1", "CC", "907.00", tok), &a);
    assert_string_equal(a.resp.body, first);
    done(&a);
    free(first);
    /* Another request of 907 gets its own 401 first; and at another endpoint, too. */
    send_auth(f, "x2", tok, "907.50", &resp);
    assert_401(&resp, "invalid_token", "Bearer");
    send_json(f, "return", follow_on("x1", "907.00", tok, NULL), &resp);
    assert_401(&resp, "invalid_token", "Bearer");

    const ledger_row rows[] = {{"token", "r0", "0.00", NULL}, {"auth", "x1", "907.00", NULL}};
    ASSERT_LEDGER(f->l, rows);
}

static void test_idempotent_repeat(void **state)
{
    fx *f = *state;
    char tok[64], t1[32];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);
    ans a, b;
    call(f, "authorization", money_request("r1", "CC", "12.00", tok), &a);
    /* The same requestID again, even with another amount: the first answer. */
    call(f, "authorization", money_request("r1", "CC", "13.00", tok), &b);
    assert_string_equal(a.resp.body, b.resp.body);
    snprintf(t1, sizeof t1, "%s", get(&a, "transactionID"));
    done(&a);
    done(&b);
    /* Declines are answers too. */
    call(f, "authorization", money_request("r2", "CC", "205.00", tok), &a);
    call(f, "authorization", money_request("r2", "CC", "1.00", tok), &b);
    assert_string_equal(a.resp.body, b.resp.body);
    assert_string_equal(get(&b, "decision"), "REJECT");
    done(&a);
    done(&b);
    /* getToken repeats too (one token row). */
    char again[64];
    tokenize(f, "r0", "CC", PAN, again, sizeof again);
    /* The same requestID at another endpoint is another request. */
    expect_only(f, "deposit", follow_on("r1", "12.00", tok, t1), "ACCEPT", "100");
    expect_only(f, "deposit", follow_on("r1", "12.00", tok, t1), "ACCEPT", "100");

    const ledger_row rows[] = {
        {"token", "r0", "0.00", NULL},
        {"auth", "r1", "12.00", t1},
        {"capture", "r1", "12.00", NULL},
    };
    ASSERT_LEDGER(f->l, rows);
}

/* ---- bad requests --------------------------------------------------------------------------- */

/* Sends text as it is to endpoint and expects ERROR INVALID whose message contains what. */
static void expect_invalid_text(fx *f, const char *endpoint, const char *text, const char *what)
{
    char path[64];
    snprintf(path, sizeof path, "/ext/%s", endpoint);
    pl_sim_response resp;
    raw_send(f->l, f->x, path, f->bearer, "application/json", text, &resp);
    assert_int_equal(resp.status, 200);
    json_object *j = parse(&resp);
    assert_string_equal(str(j, "decision"), "ERROR");
    assert_string_equal(str(j, "reasonCode"), PL_SIM_EXT_R_INVALID);
    assert_non_null(str(j, "message"));
    if (!strstr(str(j, "message"), what))
        fail_msg("message \"%s\" does not name \"%s\"", str(j, "message"), what);
    json_object_put(j);
    pl_sim_response_free(&resp);
}

static void expect_invalid(fx *f, const char *endpoint, json_object *o, const char *what)
{
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    expect_invalid_text(f, endpoint, text, what);
    json_object_put(o);
}

/* The token test_invalid_requests gets for PAN, in INVALID's token column. */
#define CARD_TOKEN "(the card's token)"

/*
 * Credit card requests (money_request "v2", amount, token: NULL none) with the member at path
 * set to a JSON value (json NULL: the member removed; path NULL: as built), each refused with
 * ERROR INVALID whose message names what.
 */
static const struct {
    const char *endpoint, *amount, *token;
    const char *path, *json;
    const char *what;
} INVALID[] = {
    {"authorization", "10.00", CARD_TOKEN, "requestID", NULL, "requestID is required"},
    {"authorization", "10.00", CARD_TOKEN, "messageVersion", "\"2.0\"", "messageVersion"},
    {"authorization", "10.00", CARD_TOKEN, "company", "1000", "company"},
    {"authorization", "10.00", CARD_TOKEN, "company", "\"1\"", "company"},
    {"authorization", "10.00", CARD_TOKEN, "paymentType", "\"DEBIT\"", "paymentType"},
    {"authorization", "10.5", CARD_TOKEN, NULL, NULL, "amount"},
    {"authorization", "10.00", CARD_TOKEN, "currency", "\"usd\"", "currency"},
    {"authorization", "10.00", NULL, NULL, NULL, "card.token"},
    {"authorization", "10.00", CARD_TOKEN, "capture", "\"yes\"", "capture"},
    {"authorization", "10.00", CARD_TOKEN, "subsequentAuthReason", "\"AGAIN\"",
     "subsequentAuthReason"},
    {"deposit", "10.00", CARD_TOKEN, NULL, NULL, "transactionID"},
    {"deposit", "0.00", CARD_TOKEN, "transactionID", "\"1\"", "amount"},
    /* Message version 3.0 carries no card number outside getToken, wherever it hides. */
    {"authorization", "10.00", CARD_TOKEN, "card.number", "\"" PAN "\"", "card number"},
    {"authorization", "10.00", CARD_TOKEN, "card.cardNumber", "\"1234\"", "card number"},
    {"authorization", "10.00", CARD_TOKEN, "billTo.street1", "\"4111 1111 1111 1111\"",
     "card number"},
    {"authorization", "10.00", PAN, NULL, NULL, "card number"},
};

static void test_invalid_requests(void **state)
{
    fx *f = *state;
    char tok[64];
    tokenize(f, "r0", "CC", PAN, tok, sizeof tok);

    expect_invalid_text(f, "authorization", "{\"requestID\":", "JSON");
    expect_invalid_text(f, "authorization", "[1,2]", "JSON");
    expect_invalid_text(f, "authorization", "", "JSON");
    expect_invalid_text(f, "authorization", "{\"a\":1} {\"b\":2}", "JSON");

    for (size_t i = 0; i < sizeof INVALID / sizeof INVALID[0]; i++) {
        const char *token = INVALID[i].token;
        if (token && strcmp(token, CARD_TOKEN) == 0)
            token = tok;
        json_object *o = money_request("v2", "CC", INVALID[i].amount, token);
        if (INVALID[i].path && INVALID[i].json) {
            json_object *v = json_tokener_parse(INVALID[i].json);
            assert_non_null(v);
            set(o, INVALID[i].path, v);
        } else if (INVALID[i].path) {
            char last[64];
            json_object_object_del(parent_of(o, INVALID[i].path, last, sizeof last), last);
        }
        expect_invalid(f, INVALID[i].endpoint, o, INVALID[i].what);
    }
    char long_id[64];
    memset(long_id, 'r', 51);
    long_id[51] = '\0';
    expect_invalid(f, "authorization", money_request(long_id, "CC", "10.00", tok),
                   "requestID is too long");
    json_object *o = svc("v2", "10.00", tok, NULL);
    set_str(o, "card.number", GIFT_PAN);
    expect_invalid(f, "rechargeGift", o, "card number");

    /* Nothing applied, and an INVALID answer is not what a repeat gets: the corrected
     * request is processed. */
    assert_int_equal(pl_sim_ledger_count(f->l), 1);
    expect_only(f, "authorization", money_request("v2", "CC", "10.00", tok), "ACCEPT", "100");
    assert_int_equal(pl_sim_ledger_count(f->l), 2);
    /* An identifier that happens to be a valid card number is still an identifier. */
    expect_only(f, "authorization", money_request("4111111111111111", "CC", "10.00", tok), "ACCEPT",
                "100");
}

static void test_card_number_never_logged(void **state)
{
    fx *f = *state;
    sim_test_log log;
    sim_test_log_begin(&log);

    char tok[64], gift[64], card[32], gtok[64];
    tokenize(f, "r1", "CC", PAN, tok, sizeof tok);
    tokenize(f, "r2", "SVC", GIFT_PAN, gift, sizeof gift);
    generate(f, "r3", card, sizeof card, gtok, sizeof gtok);
    expect_only(f, "activateGift", svc("r4", "10.00", gtok, NULL), "ACCEPT", "100");
    expect_only(f, "authorization", money_request("r5", "CC", "10.00", tok), "ACCEPT", "100");
    json_object *o = money_request("r6", "CC", "10.00", tok);
    set_str(o, "card.number", PAN);
    expect_only(f, "authorization", o, "ERROR", PL_SIM_EXT_R_INVALID);
    pl_sim_response resp;
    o = request("r7", "CC");
    set_str(o, "card.number", BAD_LUHN);
    send_json(f, "getToken", o, &resp);
    pl_sim_response_free(&resp);

    const char *text = sim_test_log_end(&log);
    assert_null(strstr(text, PAN));
    assert_null(strstr(text, GIFT_PAN));
    assert_null(strstr(text, BAD_LUHN));
    assert_null(strstr(text, card));
    assert_null(strstr(text, "411111"));
    /* What a reader of the log gets instead: the last four. */
    assert_non_null(strstr(text, "************1111"));
    assert_non_null(strstr(text, "************7812"));
    char last4[40];
    int k = snprintf(last4, sizeof last4, "************%s", card + 12);
    assert_true(k > 0 && (size_t)k < sizeof last4);
    assert_non_null(strstr(text, last4));
    /* Nor the access token. */
    assert_null(strstr(text, f->bearer + 7));
    sim_test_log_free(&log);

    char *ledger = NULL;
    assert_int_equal(pl_sim_ledger_to_json(f->l, &ledger), 0);
    assert_null(strstr(ledger, PAN));
    assert_null(strstr(ledger, GIFT_PAN));
    assert_null(strstr(ledger, card));
    free(ledger);
}

/* ---- through the HTTPS server --------------------------------------------------------------- */

typedef struct http_answer {
    sim_test_http r;
    sim_test_http h; /* the header lines, in h.body */
} http_answer;

typedef sim_test_server server;

/* One request; userpwd (may be NULL) as HTTP Basic, header (may be NULL) one more line. */
static void http(server *s, const char *method, const char *path, const char *userpwd,
                 const char *header, const char *content_type, const char *body, http_answer *out)
{
    const sim_test_call c = {.method = method,
                             .path = path,
                             .userpwd = userpwd,
                             .content_type = content_type,
                             .header = header,
                             .body = body,
                             .len = body ? strlen(body) : 0};
    sim_test_send(s, &c, &out->r, &out->h);
}

/* POSTs a request object (consumed) to /ext/<endpoint> with the bearer header. */
static void post_ext(server *s, const char *bearer, const char *endpoint, json_object *o,
                     http_answer *out)
{
    char path[64];
    snprintf(path, sizeof path, "/ext/%s", endpoint);
    char header[160];
    snprintf(header, sizeof header, "Authorization: %s", bearer);
    http(s, "POST", path, NULL, header, "application/json",
         json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), out);
    json_object_put(o);
}

/* A field of a JSON answer body into out. */
static void body_field(const http_answer *a, const char *key, char *out, size_t size)
{
    json_object *j = json_tokener_parse(a->r.body);
    assert_non_null(j);
    const char *v = str(j, key);
    assert_non_null(v);
    snprintf(out, size, "%s", v);
    json_object_put(j);
}

static void server_token(server *s, char *bearer, size_t size)
{
    http_answer a;
    http(s, "POST", "/ext/oauth2/token", "paylink_demo:s3cret", NULL, FORM,
         "grant_type=client_credentials", &a);
    assert_int_equal(a.r.rc, CURLE_OK);
    assert_int_equal(a.r.status, 200);
    assert_string_equal(a.r.content_type, "application/json");
    assert_non_null(strcasestr(a.h.body, "Cache-Control: no-store"));
    char tok[80];
    body_field(&a, "access_token", tok, sizeof tok);
    snprintf(bearer, size, "Bearer %s", tok);
}

static void test_through_server(void **state)
{
    (void)state;
    server s;
    sim_test_server_start(&s, "test_sim_ext");
    pl_sim_ledger *l = pl_sim_server_ledger(s.srv);

    http_answer a;
    /* OAuth: refused, then a token. */
    http(&s, "POST", "/ext/oauth2/token", "paylink_demo:bad-key", NULL, FORM,
         "grant_type=client_credentials", &a);
    assert_int_equal(a.r.status, 401);
    assert_non_null(strstr(a.r.body, "\"error\":\"invalid_client\""));
    assert_non_null(strcasestr(a.h.body, "WWW-Authenticate: Basic"));
    char bearer[120];
    server_token(&s, bearer, sizeof bearer);

    /* Without a token: 401 with the RFC 6750 header, nothing done. */
    json_object *o = request("w1", "CC");
    set_str(o, "card.number", PAN);
    post_ext(&s, "Bearer nope", "getToken", o, &a);
    assert_int_equal(a.r.status, 401);
    assert_non_null(strstr(a.r.body, "\"error\":\"invalid_token\""));
    assert_non_null(strcasestr(a.h.body, "WWW-Authenticate: Bearer error=\"invalid_token\""));

    o = request("w1", "CC");
    set_str(o, "card.number", PAN);
    post_ext(&s, bearer, "getToken", o, &a);
    assert_int_equal(a.r.status, 200);
    assert_string_equal(a.r.content_type, "application/json");
    char tok[64];
    body_field(&a, "cardToken", tok, sizeof tok);
    post_ext(&s, bearer, "authorization", money_request("w2", "CC", "120.00", tok), &a);
    assert_int_equal(a.r.status, 200);
    assert_non_null(strstr(a.r.body, "\"decision\":\"ACCEPT\""));

    /* 904 and 906 close the connection; 906 was applied. */
    post_ext(&s, bearer, "authorization", money_request("w3", "CC", "904.00", tok), &a);
    assert_int_equal(a.r.rc, CURLE_GOT_NOTHING);
    post_ext(&s, bearer, "authorization", money_request("w4", "CC", "906.00", tok), &a);
    assert_int_equal(a.r.rc, CURLE_GOT_NOTHING);
    assert_int_equal(pl_sim_ledger_count(l), 3);

    /* The query and the ledger. */
    http(&s, "GET", "/__sim/query?ref=w4", NULL, NULL, NULL, NULL, &a);
    assert_int_equal(a.r.status, 200);
    assert_non_null(strstr(a.r.body, "\"protocol\":\"EXT\""));
    assert_non_null(strstr(a.r.body, "\"op\":\"auth\""));
    http(&s, "GET", "/__sim/query?ref=w3", NULL, NULL, NULL, NULL, &a);
    assert_int_equal(a.r.status, 404);
    http(&s, "GET", "/__sim/ledger", NULL, NULL, NULL, NULL, &a);
    assert_non_null(strstr(
        a.r.body, "\"protocol\":\"EXT\",\"op\":\"auth\",\"ref\":\"w2\",\"amount\":\"120.00\""));
    assert_null(strstr(a.r.body, PAN));

    /* Tokens: counted, expired by the control route, then refreshed. */
    http(&s, "GET", "/__sim/ext/tokens", NULL, NULL, NULL, NULL, &a);
    assert_int_equal(a.r.status, 200);
    assert_string_equal(a.r.body, "{\"issued\":1,\"active\":1}");
    http(&s, "POST", "/__sim/ext/expire-tokens", NULL, NULL, NULL, NULL, &a);
    assert_int_equal(a.r.status, 200);
    post_ext(&s, bearer, "authorization", money_request("w5", "CC", "1.00", tok), &a);
    assert_int_equal(a.r.status, 401);
    server_token(&s, bearer, sizeof bearer);
    post_ext(&s, bearer, "authorization", money_request("w5", "CC", "1.00", tok), &a);
    assert_int_equal(a.r.status, 200);
    http(&s, "GET", "/__sim/ext/tokens", NULL, NULL, NULL, NULL, &a);
    assert_string_equal(a.r.body, "{\"issued\":2,\"active\":1}");

    /* Routes: another method 405, another endpoint 404. */
    http(&s, "GET", "/ext/authorization", NULL, NULL, NULL, NULL, &a);
    assert_int_equal(a.r.status, 405);
    post_ext(&s, bearer, "authorize", request("w6", "CC"), &a);
    assert_int_equal(a.r.status, 404);

    /* A reset forgets the card tokens, keeps the access token. */
    http(&s, "POST", "/__sim/reset", NULL, NULL, NULL, NULL, &a);
    assert_int_equal(a.r.status, 200);
    post_ext(&s, bearer, "authorization", money_request("w7", "CC", "1.00", tok), &a);
    assert_int_equal(a.r.status, 200);
    assert_non_null(strstr(a.r.body, "\"reasonCode\":\"NOCARD\""));
    assert_int_equal(pl_sim_ledger_count(l), 0);

    sim_test_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),
        EXT_TEST(test_oauth_token),
        EXT_TEST(test_oauth_refusals),
        cmocka_unit_test(test_configured_secret),
        EXT_TEST(test_bearer_token_required),
        EXT_TEST(test_expire_tokens),
        cmocka_unit_test(test_token_ttl),
        EXT_TEST(test_get_token),
        EXT_TEST(test_unknown_token),
        EXT_TEST(test_cc_approvals),
        EXT_TEST(test_cc_follow_on_rules),
        EXT_TEST(test_cc_scenarios),
        EXT_TEST(test_svc_sequence),
        EXT_TEST(test_svc_rules),
        EXT_TEST(test_faults),
        EXT_TEST(test_error_150),
        EXT_TEST(test_907_token_expired_once),
        EXT_TEST(test_idempotent_repeat),
        EXT_TEST(test_invalid_requests),
        EXT_TEST(test_card_number_never_logged),
        cmocka_unit_test(test_through_server),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
