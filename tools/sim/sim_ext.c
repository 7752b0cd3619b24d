/*
 * sim_ext.c: the simulated External Payment Service (see sim_ext.h).
 *
 * A call goes through the same steps as the other bureaus': check the bearer token, read the
 * JSON body into an ext_req (plain buffers; getToken's card number is wiped at the end), and
 * then, under the state's mutex, look for an earlier answer to the same requestID, pick the
 * scenario from the amount, apply the operation (stored value through the ledger's accounts,
 * credit cards through this file's authorization table), remember and record the answer, and
 * render it with json-c. The tables are json-c's linkhash (string keys, values owned here).
 */
#include "sim_ext.h"

#include <json-c/json.h>
#include <json-c/linkhash.h>
#include <json-c/printbuf.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "card.h"
#include "jsonutil.h"
#include "money.h"
#include "sim_ids.h"
#include "sim_log.h"
#include "sim_scenario.h"

#define PROTOCOL "EXT"
#define JSON_TYPE "application/json"
#define ENDPOINT_PREFIX "/ext/"
#define KEY_BYTES 32
#define ACCESS_TOKEN_BYTES 32
#define ACCESS_TOKEN_CHARS (2 * ACCESS_TOKEN_BYTES)
#define REQUEST_ID_MAX 50
#define MERCHANT_ID_MAX 30
#define ORDER_MAX 20
#define PAY_TYPE_MAX 4
#define CARD_TOKEN_MAX 64
#define TXN_ID_MAX 64
#define TEXT_MAX 256 /* optional strings the simulator only checks for type */
#define PROBLEM_MAX 160
#define MASK_MAX 24
#define CLIENT_MAX 256
#define SECRET_MAX 512
#define JSON_DEPTH 16
#define GIFT_DIGITS 16
#define EXPIRED_DESCRIPTION "The access token expired."

/* 905–907 are not in sim_scenario.h (CyberSource does not use them); EXT's own, as RLT's. */
#define UNITS_APPLIED_THEN_HOLD 905
#define UNITS_APPLIED_THEN_DROP 906
#define UNITS_TOKEN_EXPIRED 907

/* ---- endpoints ------------------------------------------------------------------------------ */

typedef enum ep_kind {
    EP_TOKEN = 0,
    EP_AUTH,
    EP_DEPOSIT,
    EP_RETURN,
    EP_REVERSAL,
    EP_INQUIRY,
    EP_GENERATE,
    EP_ACTIVATE,
    EP_RECHARGE,
} ep_kind;

typedef enum amount_rule {
    AMOUNT_NONE = 0, /* the endpoint has no amount */
    AMOUNT_OPTIONAL, /* read when present, 0 or more */
    AMOUNT_REQUIRED, /* required, 0 or more (a stored value authorization: above 0) */
    AMOUNT_POSITIVE, /* required, above 0 */
} amount_rule;

typedef enum txn_rule {
    TXN_NONE = 0,
    TXN_OPTIONAL,
    TXN_REQUIRED,
} txn_rule;

typedef struct ep_def {
    const char *name; /* the path's last step and the answers' key */
    ep_kind kind;
    amount_rule amount;
    bool needs_currency;
    bool needs_token; /* card.token */
    txn_rule txn;     /* transactionID */
    bool svc_only;    /* paymentType SVC only */
} ep_def;

static const ep_def endpoints[] = {
    {"getToken", EP_TOKEN, AMOUNT_NONE, false, false, TXN_NONE, false},
    {"authorization", EP_AUTH, AMOUNT_REQUIRED, true, true, TXN_NONE, false},
    {"deposit", EP_DEPOSIT, AMOUNT_POSITIVE, true, true, TXN_REQUIRED, false},
    {"return", EP_RETURN, AMOUNT_POSITIVE, true, true, TXN_OPTIONAL, false},
    {"reversal", EP_REVERSAL, AMOUNT_REQUIRED, true, true, TXN_REQUIRED, false},
    {"balanceInquiry", EP_INQUIRY, AMOUNT_NONE, false, true, TXN_NONE, true},
    {"generateGift", EP_GENERATE, AMOUNT_OPTIONAL, false, false, TXN_NONE, true},
    {"activateGift", EP_ACTIVATE, AMOUNT_REQUIRED, true, true, TXN_NONE, true},
    {"rechargeGift", EP_RECHARGE, AMOUNT_REQUIRED, true, true, TXN_NONE, true},
};

static const ep_def *find_endpoint(const char *name)
{
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        if (strcmp(endpoints[i].name, name) == 0)
            return &endpoints[i];
    return NULL;
}

bool pl_sim_ext_path_match(const char *path)
{
    if (!path || strncmp(path, ENDPOINT_PREFIX, sizeof ENDPOINT_PREFIX - 1) != 0)
        return false;
    return strcmp(path, PL_SIM_EXT_TOKEN_PATH) == 0 ||
           find_endpoint(path + sizeof ENDPOINT_PREFIX - 1) != NULL;
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct access_token {
    char value[ACCESS_TOKEN_CHARS + 1];
    int64_t expires_ms; /* CLOCK_MONOTONIC; valid while now < expires_ms */
} access_token;

/* A card token handed out: what the log may show of its card. */
typedef struct card_entry {
    char masked[MASK_MAX];
} card_entry;

typedef struct cc_auth {
    char token[CARD_TOKEN_MAX + 1];
    int64_t authorized;
    int64_t captured;
    bool reversed;
} cc_auth;

typedef struct cc_capture {
    char token[CARD_TOKEN_MAX + 1];
    int64_t amount;
    int64_t credited;
} cc_capture;

typedef struct stored_answer {
    char *body; /* may hold a generated card number: wiped when dropped */
    size_t len;
} stored_answer;

struct pl_sim_ext {
    pthread_mutex_t mu;
    unsigned ttl_s;
    char *secret; /* NULL: any non-empty password but PL_SIM_EXT_BAD_SECRET */
    unsigned char card_key[KEY_BYTES];
    access_token *tokens;
    size_t ntokens, cap_tokens;
    unsigned long issued;
    uint64_t next_gift;
    struct lh_table *cards;    /* card token → card_entry */
    struct lh_table *answers;  /* "<endpoint>/<requestID>" → stored_answer */
    struct lh_table *expired;  /* "<endpoint>/<requestID>" of 907 calls answered 401 */
    struct lh_table *auths;    /* credit card authorization transactionID → cc_auth */
    struct lh_table *captures; /* credit card capture transactionID → cc_capture */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void free_entry(struct lh_entry *e)
{
    free(lh_entry_k(e));
    free(lh_entry_v(e));
}

static void free_key(struct lh_entry *e)
{
    free(lh_entry_k(e));
}

static void free_answer_entry(struct lh_entry *e)
{
    stored_answer *a = lh_entry_v(e);
    if (a) {
        pl_card_wipe(a->body, a->len);
        free(a->body);
        free(a);
    }
    free(lh_entry_k(e));
}

static void *table_get(struct lh_table *t, const char *key)
{
    void *v = NULL;
    return lh_table_lookup_ex(t, key, &v) ? v : NULL;
}

/* Inserts a copy of key → val. On failure (out of memory) val stays the caller's. */
static int table_put(struct lh_table *t, const char *key, void *val)
{
    char *k = strdup(key);
    if (!k)
        return PL_ERR_NOMEM;
    if (lh_table_insert(t, k, val) != 0) {
        free(k);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

typedef struct tables {
    struct lh_table *cards, *answers, *expired, *auths, *captures;
} tables;

static void tables_free(tables *t)
{
    if (t->cards)
        lh_table_free(t->cards);
    if (t->answers)
        lh_table_free(t->answers);
    if (t->expired)
        lh_table_free(t->expired);
    if (t->auths)
        lh_table_free(t->auths);
    if (t->captures)
        lh_table_free(t->captures);
    memset(t, 0, sizeof *t);
}

static int tables_new(tables *t)
{
    t->cards = lh_kchar_table_new(64, free_entry);
    t->answers = lh_kchar_table_new(256, free_answer_entry);
    t->expired = lh_kchar_table_new(16, free_key);
    t->auths = lh_kchar_table_new(64, free_entry);
    t->captures = lh_kchar_table_new(64, free_entry);
    if (!t->cards || !t->answers || !t->expired || !t->auths || !t->captures) {
        tables_free(t);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

static void tables_take(pl_sim_ext *x, tables *t)
{
    x->cards = t->cards;
    x->answers = t->answers;
    x->expired = t->expired;
    x->auths = t->auths;
    x->captures = t->captures;
}

static void tables_of(pl_sim_ext *x, tables *t)
{
    t->cards = x->cards;
    t->answers = x->answers;
    t->expired = x->expired;
    t->auths = x->auths;
    t->captures = x->captures;
}

pl_sim_ext *pl_sim_ext_new(const pl_sim_ext_cfg *cfg)
{
    pl_sim_ext *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    if (pthread_mutex_init(&x->mu, NULL) != 0) {
        free(x);
        return NULL;
    }
    unsigned ttl = cfg && cfg->token_ttl_s ? cfg->token_ttl_s : PL_SIM_EXT_TOKEN_TTL_DEFAULT;
    x->ttl_s = ttl > PL_SIM_EXT_TOKEN_TTL_MAX ? PL_SIM_EXT_TOKEN_TTL_MAX : ttl;
    x->next_gift = 1;
    tables t;
    if ((cfg && cfg->client_secret && *cfg->client_secret &&
         !(x->secret = strdup(cfg->client_secret))) ||
        RAND_bytes(x->card_key, sizeof x->card_key) != 1 || tables_new(&t) < 0) {
        pl_sim_ext_destroy(x);
        return NULL;
    }
    tables_take(x, &t);
    return x;
}

void pl_sim_ext_destroy(pl_sim_ext *x)
{
    if (!x)
        return;
    tables t;
    tables_of(x, &t);
    tables_free(&t);
    if (x->tokens) {
        pl_card_wipe(x->tokens, x->cap_tokens * sizeof *x->tokens);
        free(x->tokens);
    }
    if (x->secret) {
        pl_card_wipe(x->secret, strlen(x->secret));
        free(x->secret);
    }
    pl_card_wipe(x->card_key, sizeof x->card_key);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

void pl_sim_ext_reset(pl_sim_ext *x)
{
    tables fresh, old;
    if (tables_new(&fresh) < 0) {
        pl_sim_log(PL_LOG_ERROR, NULL, "EXT reset: out of memory, state kept");
        return;
    }
    pthread_mutex_lock(&x->mu);
    tables_of(x, &old);
    tables_take(x, &fresh);
    pthread_mutex_unlock(&x->mu);
    tables_free(&old);
}

unsigned long pl_sim_ext_expire_tokens(pl_sim_ext *x)
{
    unsigned long n = 0;
    pthread_mutex_lock(&x->mu);
    int64_t now = now_ms();
    for (size_t i = 0; i < x->ntokens; i++) {
        if (x->tokens[i].expires_ms > now) {
            x->tokens[i].expires_ms = now;
            n++;
        }
    }
    pthread_mutex_unlock(&x->mu);
    return n;
}

void pl_sim_ext_token_counts(pl_sim_ext *x, unsigned long *issued, unsigned long *active)
{
    pthread_mutex_lock(&x->mu);
    int64_t now = now_ms();
    unsigned long n = 0;
    for (size_t i = 0; i < x->ntokens; i++)
        if (x->tokens[i].expires_ms > now)
            n++;
    *issued = x->issued;
    *active = n;
    pthread_mutex_unlock(&x->mu);
}

/* A new access token into out, with the lock held; expired ones are dropped first. */
static int issue_token(pl_sim_ext *x, char out[ACCESS_TOKEN_CHARS + 1])
{
    int64_t now = now_ms();
    size_t kept = 0;
    for (size_t i = 0; i < x->ntokens; i++)
        if (x->tokens[i].expires_ms > now)
            x->tokens[kept++] = x->tokens[i];
    pl_card_wipe(x->tokens + kept, (x->ntokens - kept) * sizeof *x->tokens);
    x->ntokens = kept;
    if (x->ntokens == x->cap_tokens) {
        size_t cap = x->cap_tokens ? x->cap_tokens * 2 : 16;
        access_token *grown = calloc(cap, sizeof *grown);
        if (!grown)
            return PL_ERR_NOMEM;
        if (x->tokens) {
            memcpy(grown, x->tokens, x->ntokens * sizeof *grown);
            pl_card_wipe(x->tokens, x->cap_tokens * sizeof *x->tokens);
            free(x->tokens);
        }
        x->tokens = grown;
        x->cap_tokens = cap;
    }
    unsigned char raw[ACCESS_TOKEN_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return PL_ERR_STATE;
    access_token *t = &x->tokens[x->ntokens++];
    hex_encode(raw, sizeof raw, t->value);
    pl_card_wipe(raw, sizeof raw);
    t->expires_ms = now + (int64_t)x->ttl_s * 1000;
    x->issued++;
    memcpy(out, t->value, sizeof t->value);
    return PL_OK;
}

/* True when header is "Bearer <a token issued and not expired>" (the scheme in any case). */
static bool bearer_valid(pl_sim_ext *x, const char *header)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    size_t n = strcspn(tok, " \t");
    if (n != ACCESS_TOKEN_CHARS || tok[n] != '\0')
        return false;
    bool ok = false;
    pthread_mutex_lock(&x->mu);
    int64_t now = now_ms();
    for (size_t i = 0; i < x->ntokens && !ok; i++)
        ok = memcmp(x->tokens[i].value, tok, ACCESS_TOKEN_CHARS) == 0 &&
             now < x->tokens[i].expires_ms;
    pthread_mutex_unlock(&x->mu);
    return ok;
}

/* ---- small answers -------------------------------------------------------------------------- */

static int add_member(json_object *obj, const char *key, json_object *v)
{
    if (!v || json_object_object_add(obj, key, v) != 0) {
        json_object_put(v);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

/* Serialises root into resp (consuming root), wiping json-c's copy of the text. */
static int set_json(pl_sim_response *resp, unsigned status, json_object *root)
{
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    int rc = text ? pl_sim_response_set(resp, status, JSON_TYPE, text, len) : PL_ERR_NOMEM;
    if (text)
        pl_card_wipe((char *)text, len);
    json_object_put(root);
    return rc;
}

/* {"error": error, "error_description": description} with status and one header. */
static int oauth_error(pl_sim_response *resp, unsigned status, const char *error,
                       const char *description, const char *header_name, const char *header_value)
{
    json_object *root = json_object_new_object();
    if (!root)
        return PL_ERR_NOMEM;
    if (add_member(root, "error", json_object_new_string(error)) < 0 ||
        add_member(root, "error_description", json_object_new_string(description)) < 0) {
        json_object_put(root);
        return PL_ERR_NOMEM;
    }
    int rc = set_json(resp, status, root);
    resp->header_name = header_name;
    resp->header_value = header_value;
    return rc;
}

/* The endpoints' 401 (RFC 6750 §3.1): the call was refused before anything was read. */
static int unauthorized(pl_sim_response *resp, const char *description)
{
    return oauth_error(resp, 401, "invalid_token", description, "WWW-Authenticate",
                       "Bearer error=\"invalid_token\"");
}

/* ---- the token endpoint --------------------------------------------------------------------- */

static bool client_ok(const pl_sim_ext *x, const char *user, const char *pass)
{
    if (!user[0] || !pass[0])
        return false;
    if (x->secret)
        return strcmp(pass, x->secret) == 0;
    return strcmp(pass, PL_SIM_EXT_BAD_SECRET) != 0;
}

static int oauth_token(pl_sim_ext *x, const pl_sim_http_req *req, pl_sim_response *resp)
{
    char user[CLIENT_MAX], pass[SECRET_MAX];
    /* RFC 6749 §2.3.1: the client id and secret are each form-urlencoded inside Basic. */
    bool ok = pl_sim_basic_credentials(req->authorization, true, user, sizeof user, pass,
                                       sizeof pass) == PL_OK &&
              client_ok(x, user, pass);
    pl_card_wipe(pass, sizeof pass);
    if (!ok) {
        pl_sim_log(PL_LOG_INFO, NULL, "EXT oauth2/token: client authentication failed");
        return oauth_error(resp, 401, "invalid_client", "Client authentication failed.",
                           "WWW-Authenticate", "Basic realm=\"ext\"");
    }
    char grant[64];
    if (!pl_sim_is_form(req->content_type))
        return oauth_error(resp, 400, "invalid_request",
                           "The body must be application/x-www-form-urlencoded.", NULL, NULL);
    if (pl_sim_form_value(req->body, req->body_len, "grant_type", grant, sizeof grant) != 1)
        return oauth_error(resp, 400, "invalid_request", "grant_type is required.", NULL, NULL);
    if (strcmp(grant, "client_credentials") != 0)
        return oauth_error(resp, 400, "unsupported_grant_type",
                           "Only client_credentials is supported.", NULL, NULL);

    char token[ACCESS_TOKEN_CHARS + 1];
    pthread_mutex_lock(&x->mu);
    int rc = issue_token(x, token);
    unsigned ttl = x->ttl_s;
    pthread_mutex_unlock(&x->mu);
    if (rc < 0)
        return rc == PL_ERR_NOMEM
                   ? rc
                   : oauth_error(resp, 500, "server_error", "No randomness.", NULL, NULL);
    json_object *root = json_object_new_object();
    rc = root ? PL_OK : PL_ERR_NOMEM;
    if (rc == PL_OK)
        rc = add_member(root, "access_token", json_object_new_string(token));
    if (rc == PL_OK)
        rc = add_member(root, "token_type", json_object_new_string("Bearer"));
    if (rc == PL_OK)
        rc = add_member(root, "expires_in", json_object_new_int64((int64_t)ttl));
    pl_card_wipe(token, sizeof token);
    if (rc < 0) {
        json_object_put(root);
        return rc;
    }
    pl_sim_log(PL_LOG_INFO, NULL, "EXT oauth2/token: token issued for client %s, expires_in=%u",
               user, ttl);
    rc = set_json(resp, 200, root);
    /* RFC 6749 §5.1: a token answer is never cached. */
    resp->header_name = "Cache-Control";
    resp->header_value = "no-store";
    return rc;
}

/* ---- reading a request ---------------------------------------------------------------------- */

typedef struct ext_req {
    const ep_def *ep;
    bool svc;
    bool has_request_id;
    char request_id[REQUEST_ID_MAX + 1];
    char merchant_id[MERCHANT_ID_MAX + 1];
    char order[ORDER_MAX + 1];
    char pay_type[PAY_TYPE_MAX + 1];
    int company, pay_seq;
    char currency[4];
    bool has_amount;
    int64_t amount;
    char number[20]; /* getToken only; wiped */
    int exp_month, exp_year;
    char token[CARD_TOKEN_MAX + 1];
    char txn_id[TXN_ID_MAX + 1];
    bool capture;
    bool void_remainder;
    bool avs_no_match; /* billTo.postalCode "00000" */
    char problem[PROBLEM_MAX + 1];
} ext_req;

/* Keeps the first problem: fmt has one %s, which receives what. */
static void set_problem(ext_req *r, const char *fmt, const char *what)
{
    if (!r->problem[0])
        snprintf(r->problem, sizeof r->problem, fmt, what);
}

/* The member key of obj, or NULL when obj is no object or the member is absent or null. */
static json_object *member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

/* Reads the string obj.key (called name in messages) into buf. True when present and fits. */
static bool read_string(ext_req *r, json_object *obj, const char *key, const char *name,
                        bool required, char *buf, size_t size)
{
    json_object *v = member(obj, key);
    if (!v) {
        if (required)
            set_problem(r, "%s is required.", name);
        return false;
    }
    if (!json_object_is_type(v, json_type_string)) {
        set_problem(r, "%s must be a string.", name);
        return false;
    }
    size_t n = (size_t)json_object_get_string_len(v);
    if (n == 0) {
        set_problem(r, "%s must not be empty.", name);
        return false;
    }
    if (n >= size) {
        set_problem(r, "%s is too long.", name);
        return false;
    }
    memcpy(buf, json_object_get_string(v), n + 1);
    return true;
}

static bool read_int(ext_req *r, json_object *obj, const char *key, const char *name, bool required,
                     int min, int max, int *out)
{
    json_object *v = member(obj, key);
    if (!v) {
        if (required)
            set_problem(r, "%s is required.", name);
        return false;
    }
    int64_t n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : INT64_MIN;
    if (n < min || n > max) {
        char what[80];
        snprintf(what, sizeof what, "%s must be an integer from %d to %d", name, min, max);
        set_problem(r, "%s.", what);
        return false;
    }
    *out = (int)n;
    return true;
}

static bool read_bool(ext_req *r, json_object *obj, const char *key, bool *out)
{
    json_object *v = member(obj, key);
    if (!v)
        return false;
    if (!json_object_is_type(v, json_type_boolean)) {
        set_problem(r, "%s must be true or false.", key);
        return false;
    }
    *out = json_object_get_boolean(v);
    return true;
}

static bool read_amount_text(ext_req *r, json_object *obj, const char *key, bool required,
                             int64_t *out)
{
    char text[32];
    if (!read_string(r, obj, key, key, required, text, sizeof text))
        return false;
    if (pl_money_parse(text, out) < 0) {
        set_problem(r, "%s must be a decimal string like 12.34.", key);
        return false;
    }
    return true;
}

/* Checks obj.key is one of the values (NULL-terminated) when present. */
static void read_choice(ext_req *r, json_object *obj, const char *key, const char *const *values)
{
    char buf[TEXT_MAX];
    if (!read_string(r, obj, key, key, false, buf, sizeof buf))
        return;
    for (const char *const *v = values; *v; v++)
        if (strcmp(buf, *v) == 0)
            return;
    set_problem(r, "%s has a value the contract does not define.", key);
}

static bool is_key(const char *key, const char *const *keys)
{
    for (const char *const *k = keys; key && *k; k++)
        if (strcmp(key, *k) == 0)
            return true;
    return false;
}

/*
 * True when v (the value of key, NULL for an array element or the root) carries a card
 * number: a member named like one, or a string that is a whole card number (13–19 digits
 * passing Luhn, pl_card_is_number) outside the identifiers, which may be long digit runs.
 */
static bool has_card_number(json_object *v, const char *key)
{
    static const char *const number_keys[] = {"number", "cardNumber", "accountNumber", "pan", NULL};
    static const char *const id_keys[] = {
        "requestID",  "transactionID",     "orderNumber", "subsequentAuthTransactionID",
        "merchantID", "authorizationCode", NULL};
    if (is_key(key, number_keys))
        return true;
    switch (json_object_get_type(v)) {
    case json_type_object: {
        json_object_object_foreach(v, k, val)
        {
            if (has_card_number(val, k))
                return true;
        }
        return false;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (has_card_number(json_object_array_get_idx(v, i), NULL))
                return true;
        return false;
    case json_type_string:
        return !is_key(key, id_keys) &&
               pl_card_is_number(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    default:
        return false;
    }
}

static void read_common(ext_req *r, json_object *root)
{
    char version[8];
    if (read_string(r, root, "messageVersion", "messageVersion", true, version, sizeof version) &&
        strcmp(version, PL_SIM_EXT_VERSION) != 0)
        set_problem(r, "messageVersion must be %s.", PL_SIM_EXT_VERSION);
    r->has_request_id =
        read_string(r, root, "requestID", "requestID", true, r->request_id, sizeof r->request_id);
    read_string(r, root, "merchantID", "merchantID", true, r->merchant_id, sizeof r->merchant_id);
    read_int(r, root, "company", "company", true, 1, 999, &r->company);
    read_string(r, root, "orderNumber", "orderNumber", true, r->order, sizeof r->order);
    read_int(r, root, "paySeq", "paySeq", true, 1, 999999999, &r->pay_seq);
    char type[8];
    if (read_string(r, root, "paymentType", "paymentType", true, type, sizeof type)) {
        if (strcmp(type, "SVC") == 0)
            r->svc = true;
        else if (strcmp(type, "CC") != 0)
            set_problem(r, "paymentType must be %s.", "CC or SVC");
    }
    read_string(r, root, "payType", "payType", false, r->pay_type, sizeof r->pay_type);
}

static void read_card(ext_req *r, json_object *root)
{
    const ep_def *ep = r->ep;
    json_object *card = member(root, "card");
    if (card && !json_object_is_type(card, json_type_object)) {
        set_problem(r, "%s must be an object.", "card");
        return;
    }
    if (ep->kind == EP_TOKEN) {
        if (read_string(r, card, "number", "card.number", true, r->number, sizeof r->number) &&
            (!pl_card_all_digits(r->number) || strlen(r->number) < 12))
            set_problem(r, "%s must be 12 to 19 digits.", "card.number");
        read_int(r, card, "expMonth", "card.expMonth", false, 1, 12, &r->exp_month);
        read_int(r, card, "expYear", "card.expYear", false, 0, 9999, &r->exp_year);
    } else if (ep->needs_token) {
        read_string(r, card, "token", "card.token", true, r->token, sizeof r->token);
    }
    char text[TEXT_MAX];
    read_string(r, card, "type", "card.type", false, text, sizeof text);
    read_string(r, card, "holder", "card.holder", false, text, sizeof text);
}

static void read_authorization(ext_req *r, json_object *root)
{
    static const char *const yes_no[] = {"Y", "N", NULL};
    static const char *const reasons[] = {"RESUBMIT", "REAUTH", "INSTALLMENT", NULL};
    static const char *const initiators[] = {"MERCHANT", "CARDHOLDER", NULL};
    bool online;
    read_bool(r, root, "online", &online);
    read_bool(r, root, "capture", &r->capture);
    for (size_t i = 0; i < 2; i++) {
        const char *key = i == 0 ? "billTo" : "shipTo";
        json_object *addr = member(root, key);
        if (addr && !json_object_is_type(addr, json_type_object))
            set_problem(r, "%s must be an object.", key);
    }
    char postal[TEXT_MAX];
    if (read_string(r, member(root, "billTo"), "postalCode", "billTo.postalCode", false, postal,
                    sizeof postal))
        r->avs_no_match = strcmp(postal, "00000") == 0;
    read_choice(r, root, "subsequentAuth", yes_no);
    read_choice(r, root, "subsequentAuthReason", reasons);
    read_choice(r, root, "initiator", initiators);
    char id[TXN_ID_MAX + 1];
    read_string(r, root, "subsequentAuthTransactionID", "subsequentAuthTransactionID", false, id,
                sizeof id);
    int64_t original;
    read_amount_text(r, root, "subsequentAuthOriginalAmount", false, &original);
}

static void read_request(ext_req *r, json_object *root)
{
    const ep_def *ep = r->ep;
    read_common(r, root);
    if (ep->svc_only && !r->svc && !r->problem[0])
        set_problem(r, "%s is for paymentType SVC (stored value cards).", ep->name);

    if (ep->amount != AMOUNT_NONE) {
        r->has_amount =
            read_amount_text(r, root, "amount", ep->amount != AMOUNT_OPTIONAL, &r->amount);
        bool positive = ep->amount == AMOUNT_POSITIVE || (ep->kind == EP_AUTH && r->svc);
        if (r->has_amount && positive && r->amount == 0)
            set_problem(r, "%s must be above 0.00.", "amount");
    }
    char currency[8];
    if (read_string(r, root, "currency", "currency", ep->needs_currency, currency,
                    sizeof currency)) {
        if (pl_sim_currency_ok(currency))
            memcpy(r->currency, currency, 4);
        else
            set_problem(r, "%s must be an ISO 4217 code like USD.", "currency");
    }
    read_card(r, root);
    if (ep->txn != TXN_NONE)
        read_string(r, root, "transactionID", "transactionID", ep->txn == TXN_REQUIRED, r->txn_id,
                    sizeof r->txn_id);
    char code[TEXT_MAX];
    if (ep->kind == EP_DEPOSIT || ep->kind == EP_REVERSAL)
        read_string(r, root, "authorizationCode", "authorizationCode", false, code, sizeof code);
    if (ep->kind == EP_DEPOSIT)
        read_bool(r, root, "voidRemainder", &r->void_remainder);
    if (ep->kind == EP_AUTH)
        read_authorization(r, root);
    int line;
    if (ep->kind == EP_GENERATE)
        read_int(r, root, "orderLine", "orderLine", false, 1, 999999999, &line);
}

/*
 * Parses the body as one strict JSON value (UTF-8, nothing but white space after it), or
 * NULL. json-c's tokener buffer (which held the last string read, possibly getToken's card
 * number) is wiped before it is freed.
 */
static json_object *parse_body(const char *body, size_t len)
{
    return pl_json_parse_whole(body, len, JSON_DEPTH, PL_JSON_STRICT | PL_JSON_UTF8 | PL_JSON_WIPE);
}

/* Zeroes card.number in json-c's own buffer before the tree is freed. */
static void wipe_card_number(json_object *root)
{
    json_object *n = member(member(root, "card"), "number");
    if (n && json_object_is_type(n, json_type_string))
        pl_card_wipe((char *)json_object_get_string(n), (size_t)json_object_get_string_len(n));
}

/* ---- the answer ----------------------------------------------------------------------------- */

typedef struct ext_answer {
    const char *decision; /* ACCEPT, REJECT, ERROR */
    char reason[16];      /* "": none */
    char message[PROBLEM_MAX + 1];
    char txn_id[PL_SIM_ID_DIGITS + 1]; /* 22 digits (CC, getToken) or an SVATransactionID */
    char auth_code[8];
    char auth_time[40];
    bool has_amount;
    int64_t amount;
    bool has_balance;
    int64_t balance;
    const char *card_status;
    char card_token[CARD_TOKEN_MAX + 1];
    char card_number[GIFT_DIGITS + 1]; /* generateGift; wiped */
    char avs;                          /* 0: none */
    const char *op;                    /* the query record's op */
    char masked[MASK_MAX];             /* the card, as the log shows it */
} ext_answer;

static void answer_accept(ext_answer *a, const char *reason)
{
    a->decision = "ACCEPT";
    snprintf(a->reason, sizeof a->reason, "%s", reason);
    a->message[0] = '\0';
}

static void answer_reject(ext_answer *a, const char *reason, const char *message)
{
    a->decision = "REJECT";
    snprintf(a->reason, sizeof a->reason, "%s", reason);
    snprintf(a->message, sizeof a->message, "%s", message);
}

static void answer_invalid(ext_answer *a, const char *message)
{
    a->decision = "ERROR";
    snprintf(a->reason, sizeof a->reason, "%s", PL_SIM_EXT_R_INVALID);
    snprintf(a->message, sizeof a->message, "%s", message);
}

typedef struct builder {
    json_object *root;
    int err;
} builder;

static void put_str(builder *b, const char *key, const char *val)
{
    if (b->err || !val || !*val)
        return;
    b->err = add_member(b->root, key, json_object_new_string(val));
}

static void put_money(builder *b, const char *key, int64_t minor)
{
    char text[32];
    if (b->err)
        return;
    if (pl_money_format(minor, text, sizeof text) < 0) {
        b->err = PL_ERR_INVALID;
        return;
    }
    put_str(b, key, text);
}

/* The answer's JSON text (malloc'd, *len bytes); the caller wipes and frees it. */
static int render(const ext_req *r, const ext_answer *a, char **out, size_t *len)
{
    builder b = {json_object_new_object(), PL_OK};
    if (!b.root)
        return PL_ERR_NOMEM;
    put_str(&b, "messageVersion", PL_SIM_EXT_VERSION);
    put_str(&b, "requestID", r->has_request_id ? r->request_id : NULL);
    put_str(&b, "decision", a->decision);
    put_str(&b, "reasonCode", a->reason);
    put_str(&b, "message", a->message);
    put_str(&b, "transactionID", a->txn_id);
    put_str(&b, "authorizationCode", a->auth_code);
    put_str(&b, "authorizedDateTime", a->auth_time);
    if (a->has_amount)
        put_money(&b, "amount", a->amount);
    if (a->has_balance)
        put_money(&b, "balance", a->balance);
    put_str(&b, "cardStatus", a->card_status);
    put_str(&b, "cardToken", a->card_token);
    put_str(&b, "cardNumber", a->card_number);
    char avs[2] = {a->avs, '\0'};
    put_str(&b, "avsCode", avs);

    int rc = b.err;
    if (rc == PL_OK) {
        size_t n = 0;
        const char *text = json_object_to_json_string_length(
            b.root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        char *copy = text ? malloc(n + 1) : NULL;
        if (copy) {
            memcpy(copy, text, n + 1);
            *out = copy;
            *len = n;
        } else {
            rc = PL_ERR_NOMEM;
        }
        if (text)
            pl_card_wipe((char *)text, n);
    }
    json_object *num = NULL;
    if (json_object_object_get_ex(b.root, "cardNumber", &num))
        pl_card_wipe((char *)json_object_get_string(num), (size_t)json_object_get_string_len(num));
    json_object_put(b.root);
    return rc;
}

/* ---- operations (the state's lock held) ----------------------------------------------------- */

static int append(pl_sim_ledger *l, const char *op, const ext_req *r, int64_t amount,
                  const char *bureau_id)
{
    pl_sim_effect e = {PROTOCOL, op, r->request_id, amount, bureau_id};
    return pl_sim_ledger_append(l, &e);
}

static void approve_authorization(ext_answer *a)
{
    pl_sim_ids_auth_code(a->auth_code);
    pl_sim_ids_now(false, a->auth_time, sizeof a->auth_time);
}

/* "tok_" + 24 hex characters of HMAC-SHA256(card_key, number). */
static int card_token(const pl_sim_ext *x, const char *number, char *out, size_t outsize)
{
    char hex[65];
    int rc = pl_card_hmac(x->card_key, sizeof x->card_key, number, hex, sizeof hex);
    if (rc == PL_OK)
        snprintf(out, outsize, "tok_%.24s", hex);
    return rc;
}

/* Registers token (masked is what the log shows of its card) unless it is known. */
static int remember_card(pl_sim_ext *x, const char *token, const char *number)
{
    if (table_get(x->cards, token))
        return PL_OK;
    card_entry *c = calloc(1, sizeof *c);
    if (!c)
        return PL_ERR_NOMEM;
    if (pl_card_mask_log(number, PL_MASK_LAST4, c->masked, sizeof c->masked) < 0)
        snprintf(c->masked, sizeof c->masked, "***REMOVED***");
    int rc = table_put(x->cards, token, c);
    if (rc < 0)
        free(c);
    return rc;
}

/* True when (year, month) is before the current month (UTC); a 2-digit year is 20yy. */
static bool card_expired(int month, int year)
{
    if (month < 1 || year < 0)
        return false;
    if (year < 100)
        year += 2000;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int cur_year = tm.tm_year + 1900, cur_month = tm.tm_mon + 1;
    return year < cur_year || (year == cur_year && month < cur_month);
}

static int op_get_token(pl_sim_ext *x, pl_sim_ledger *l, const ext_req *r, ext_answer *a)
{
    a->op = "token";
    if (pl_card_mask_log(r->number, PL_MASK_LAST4, a->masked, sizeof a->masked) < 0)
        snprintf(a->masked, sizeof a->masked, "***REMOVED***");
    /* A gift card number is opaque (no check digit); a credit card's is checked. */
    if (!r->svc && !pl_card_luhn_ok(r->number)) {
        answer_reject(a, "231", "Invalid account number.");
        return PL_OK;
    }
    if (!r->svc && r->exp_month > 0 && card_expired(r->exp_month, r->exp_year)) {
        answer_reject(a, "202", "Expired card.");
        return PL_OK;
    }
    int rc = card_token(x, r->number, a->card_token, sizeof a->card_token);
    if (rc == PL_OK)
        rc = remember_card(x, a->card_token, r->number);
    if (rc < 0)
        return rc;
    pl_sim_ids_request_id(a->txn_id);
    rc = append(l, "token", r, 0, a->txn_id);
    if (rc < 0)
        return rc;
    answer_accept(a, PL_SIM_EXT_R_APPROVED);
    return PL_OK;
}

static int cc_authorize(pl_sim_ext *x, pl_sim_ledger *l, const ext_req *r, pl_sim_scenario sc,
                        int reason, ext_answer *a)
{
    a->op = r->capture ? "auth_capture" : "auth";
    if (sc == PL_SIM_SC_DECLINE) {
        char code[8];
        snprintf(code, sizeof code, "%d", reason);
        answer_reject(a, code, "The card was declined.");
        return PL_OK;
    }
    bool partial = sc == PL_SIM_SC_PARTIAL;
    int64_t approved = partial ? pl_sim_scenario_partial_amount(r->amount) : r->amount;
    pl_sim_ids_request_id(a->txn_id);
    cc_auth *au = calloc(1, sizeof *au);
    if (!au)
        return PL_ERR_NOMEM;
    snprintf(au->token, sizeof au->token, "%s", r->token);
    au->authorized = approved;
    int rc = table_put(x->auths, a->txn_id, au);
    if (rc < 0) {
        free(au);
        return rc;
    }
    rc = append(l, "auth", r, approved, a->txn_id);
    if (rc < 0)
        return rc;
    if (r->capture) {
        /* Authorized and deposited in one (Siebel AuthCharge): both rows, one transactionID,
         * and a capture a later return can name. */
        cc_capture *cp = calloc(1, sizeof *cp);
        if (!cp)
            return PL_ERR_NOMEM;
        snprintf(cp->token, sizeof cp->token, "%s", r->token);
        cp->amount = approved;
        rc = table_put(x->captures, a->txn_id, cp);
        if (rc < 0) {
            free(cp);
            return rc;
        }
        rc = append(l, "capture", r, approved, a->txn_id);
        if (rc < 0)
            return rc;
        au->captured = approved;
    }
    answer_accept(a, partial ? PL_SIM_EXT_R_PARTIAL : PL_SIM_EXT_R_APPROVED);
    a->has_amount = true;
    a->amount = approved;
    a->avs = pl_sim_avs_code(r->avs_no_match ? "00000" : NULL);
    approve_authorization(a);
    return PL_OK;
}

/* The credit card authorization transactionID names, when it is this card's. */
static cc_auth *cc_find_auth(pl_sim_ext *x, const ext_req *r)
{
    cc_auth *au = table_get(x->auths, r->txn_id);
    return au && strcmp(au->token, r->token) == 0 ? au : NULL;
}

static int cc_deposit(pl_sim_ext *x, pl_sim_ledger *l, const ext_req *r, ext_answer *a)
{
    a->op = "capture";
    cc_auth *au = cc_find_auth(x, r);
    if (!au) {
        answer_reject(a, PL_SIM_EXT_R_NOTRANS, "No authorization of this card has this ID.");
        return PL_OK;
    }
    int64_t remaining = au->authorized - au->captured;
    if (au->reversed) {
        answer_reject(a, PL_SIM_EXT_R_VOIDED, "The authorization was reversed.");
        return PL_OK;
    }
    if (remaining <= 0) {
        answer_reject(a, PL_SIM_EXT_R_SETTLED, "The authorization was deposited in full.");
        return PL_OK;
    }
    if (r->amount > remaining) {
        answer_reject(a, PL_SIM_EXT_R_EXCEEDS, "The amount is more than the authorization holds.");
        return PL_OK;
    }
    pl_sim_ids_request_id(a->txn_id);
    cc_capture *cp = calloc(1, sizeof *cp);
    if (!cp)
        return PL_ERR_NOMEM;
    snprintf(cp->token, sizeof cp->token, "%s", r->token);
    cp->amount = r->amount;
    int rc = table_put(x->captures, a->txn_id, cp);
    if (rc < 0) {
        free(cp);
        return rc;
    }
    rc = append(l, "capture", r, r->amount, a->txn_id);
    if (rc < 0)
        return rc;
    au->captured += r->amount;
    int64_t rest = au->authorized - au->captured;
    if (r->void_remainder && rest > 0) {
        /* Void auth at deposit: the rest of the authorization is released. */
        rc = append(l, "reversal", r, rest, a->txn_id);
        if (rc < 0)
            return rc;
        au->reversed = true;
    }
    answer_accept(a, PL_SIM_EXT_R_APPROVED);
    a->has_amount = true;
    a->amount = r->amount;
    return PL_OK;
}

static int cc_return(pl_sim_ext *x, pl_sim_ledger *l, const ext_req *r, pl_sim_scenario sc,
                     int reason, ext_answer *a)
{
    a->op = "credit";
    cc_capture *cp = NULL;
    if (r->txn_id[0]) {
        cp = table_get(x->captures, r->txn_id);
        if (!cp || strcmp(cp->token, r->token) != 0) {
            answer_reject(a, PL_SIM_EXT_R_NOTRANS, "No deposit of this card has this ID.");
            return PL_OK;
        }
        if (r->amount > cp->amount - cp->credited) {
            answer_reject(a, PL_SIM_EXT_R_EXCEEDS,
                          "The amount is more than the deposit less earlier returns.");
            return PL_OK;
        }
    } else if (sc == PL_SIM_SC_DECLINE) {
        /* A stand-alone return charges the card's account like an authorization. */
        char code[8];
        snprintf(code, sizeof code, "%d", reason);
        answer_reject(a, code, "The card was declined.");
        return PL_OK;
    }
    pl_sim_ids_request_id(a->txn_id);
    int rc = append(l, "credit", r, r->amount, a->txn_id);
    if (rc < 0)
        return rc;
    if (cp)
        cp->credited += r->amount;
    answer_accept(a, PL_SIM_EXT_R_APPROVED);
    a->has_amount = true;
    a->amount = r->amount;
    return PL_OK;
}

static int cc_reversal(pl_sim_ext *x, pl_sim_ledger *l, const ext_req *r, ext_answer *a)
{
    a->op = "reversal";
    cc_auth *au = cc_find_auth(x, r);
    if (!au) {
        answer_reject(a, PL_SIM_EXT_R_NOTRANS, "No authorization of this card has this ID.");
        return PL_OK;
    }
    if (au->reversed) {
        answer_reject(a, PL_SIM_EXT_R_VOIDED, "The authorization was already reversed.");
        return PL_OK;
    }
    if (au->captured > 0) {
        answer_reject(a, PL_SIM_EXT_R_SETTLED, "The authorization was deposited.");
        return PL_OK;
    }
    pl_sim_ids_request_id(a->txn_id);
    /* As CyberSource's: a reversal releases the whole authorization. */
    int rc = append(l, "reversal", r, au->authorized, a->txn_id);
    if (rc < 0)
        return rc;
    au->reversed = true;
    answer_accept(a, PL_SIM_EXT_R_APPROVED);
    a->has_amount = true;
    a->amount = au->authorized;
    return PL_OK;
}

/* The reason code and text for a ledger ErrorCode (sim_ledger.h). */
static void svc_reject(ext_answer *a, const char *error)
{
    static const struct {
        const char *error, *reason, *text;
    } map[] = {
        {PL_SIM_RLT_E_CARD_NOT_FOUND, PL_SIM_EXT_R_NOCARD, "The card was not found."},
        {PL_SIM_RLT_E_CARD_INACTIVE, PL_SIM_EXT_R_INACTIVE, "The card is not active."},
        {PL_SIM_RLT_E_CARD_ACTIVE, PL_SIM_EXT_R_ACTIVE, "The card is already active."},
        {PL_SIM_RLT_E_INSUFFICIENT_FUNDS, PL_SIM_EXT_R_NOFUNDS, "The card has no balance."},
        {PL_SIM_RLT_E_TXN_NOT_FOUND, PL_SIM_EXT_R_NOTRANS,
         "No authorization of this card has this ID."},
        {PL_SIM_RLT_E_EXCEEDS_AUTH, PL_SIM_EXT_R_EXCEEDS,
         "The amount is more than the authorization holds."},
        {PL_SIM_RLT_E_VOIDED, PL_SIM_EXT_R_VOIDED, "The authorization was reversed."},
        {PL_SIM_RLT_E_SETTLED, PL_SIM_EXT_R_SETTLED, "The authorization was deposited in full."},
        {PL_SIM_RLT_E_BALANCE_LIMIT, PL_SIM_EXT_R_LIMIT,
         "The balance would exceed the largest amount."},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].error, error) == 0) {
            answer_reject(a, map[i].reason, map[i].text);
            return;
        }
    }
    answer_reject(a, error, "The transaction was rejected.");
}

/* One ledger stored value operation on the request's card; fills the account part of a.
 * *applied tells whether it went through (else a holds the REJECT). */
static int svc_apply(pl_sim_ledger *l, const ext_req *r, pl_sim_rlt_op op, int64_t amount,
                     const char *preauth_id, pl_sim_rlt_outcome *o, ext_answer *a, bool *applied)
{
    *applied = false;
    int rc =
        pl_sim_ledger_svc_apply(l, PROTOCOL, op, r->token, r->request_id, amount, preauth_id, o);
    if (rc < 0)
        return rc;
    if (o->card_known) {
        a->has_balance = true;
        a->balance = o->available;
        a->card_status = o->active ? "ACTIVE" : "INACTIVE";
    }
    if (o->error) {
        svc_reject(a, o->error);
        return PL_OK;
    }
    *applied = true;
    return PL_OK;
}

/* 16 digits: the series prefix, the counter in 11 digits, a Luhn check digit. */
static void gift_number(uint64_t n, char out[GIFT_DIGITS + 1])
{
    snprintf(out, GIFT_DIGITS + 1, "%s%011llu", PL_SIM_EXT_GIFT_PREFIX, (unsigned long long)n);
    int sum = 0;
    /* The check digit's neighbour is doubled, and every second digit leftwards from it. */
    for (int i = GIFT_DIGITS - 2, k = 0; i >= 0; i--, k++) {
        int d = out[i] - '0';
        if (k % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    out[GIFT_DIGITS - 1] = (char)('0' + (10 - sum % 10) % 10);
    out[GIFT_DIGITS] = '\0';
}

static int svc_generate(pl_sim_ext *x, pl_sim_ledger *l, const ext_req *r, ext_answer *a)
{
    a->op = "generate";
    gift_number(x->next_gift, a->card_number);
    int rc = card_token(x, a->card_number, a->card_token, sizeof a->card_token);
    if (rc == PL_OK)
        rc = remember_card(x, a->card_token, a->card_number);
    if (rc < 0)
        return rc;
    /* The counter moves on whatever happens next: a number is never handed out twice. */
    x->next_gift++;
    pl_sim_rlt_outcome o;
    rc = pl_sim_ledger_svc_open(l, PROTOCOL, a->card_token, r->request_id, &o);
    if (rc < 0)
        return rc;
    if (pl_card_mask_log(a->card_number, PL_MASK_LAST4, a->masked, sizeof a->masked) < 0)
        snprintf(a->masked, sizeof a->masked, "***REMOVED***");
    snprintf(a->txn_id, sizeof a->txn_id, "%s", o.sva_id);
    answer_accept(a, PL_SIM_EXT_R_APPROVED);
    a->has_balance = true;
    a->balance = o.available;
    a->card_status = "INACTIVE";
    return PL_OK;
}

static int svc_run(pl_sim_ledger *l, const ext_req *r, ext_answer *a)
{
    pl_sim_rlt_outcome o, o2;
    bool applied = false;
    int rc;
    switch (r->ep->kind) {
    case EP_AUTH:
        a->op = r->capture ? "auth_capture" : "auth";
        rc = svc_apply(l, r, PL_SIM_RLT_PREAUTH, r->amount, NULL, &o, a, &applied);
        if (rc < 0 || !applied)
            return rc;
        snprintf(a->txn_id, sizeof a->txn_id, "%s", o.sva_id);
        answer_accept(a, o.amount < r->amount ? PL_SIM_EXT_R_PARTIAL : PL_SIM_EXT_R_APPROVED);
        a->has_amount = true;
        a->amount = o.amount;
        approve_authorization(a);
        if (r->capture) {
            /* Authorized and deposited in one: the hold is settled at once. */
            rc = svc_apply(l, r, PL_SIM_RLT_POSTAUTH, o.amount, o.sva_id, &o2, a, &applied);
            if (rc < 0)
                return rc;
            if (!applied) {
                /* Cannot happen (the hold was just made); say so, and answer the authorization
                 * that did happen. */
                pl_sim_log(PL_LOG_ERROR, r->request_id, "EXT SVC capture after auth refused");
                answer_accept(a,
                              o.amount < r->amount ? PL_SIM_EXT_R_PARTIAL : PL_SIM_EXT_R_APPROVED);
            }
        }
        return PL_OK;
    case EP_DEPOSIT:
        a->op = "deposit";
        rc = svc_apply(l, r, PL_SIM_RLT_POSTAUTH, r->amount, r->txn_id, &o, a, &applied);
        if (rc < 0 || !applied)
            return rc;
        snprintf(a->txn_id, sizeof a->txn_id, "%s", o.sva_id);
        answer_accept(a, PL_SIM_EXT_R_APPROVED);
        a->has_amount = true;
        a->amount = o.amount;
        if (r->void_remainder && o.preauth_left > 0) {
            /* Void auth at deposit: what the authorization still holds goes back. */
            rc = svc_apply(l, r, PL_SIM_RLT_VOID, 0, r->txn_id, &o2, a, &applied);
            if (rc < 0)
                return rc;
            if (!applied)
                answer_accept(a, PL_SIM_EXT_R_APPROVED); /* the deposit itself stands */
        }
        return PL_OK;
    case EP_RETURN:
        a->op = "return";
        rc = svc_apply(l, r, PL_SIM_RLT_RETURN, r->amount, NULL, &o, a, &applied);
        break;
    case EP_REVERSAL:
        a->op = "void";
        rc = svc_apply(l, r, PL_SIM_RLT_VOID, 0, r->txn_id, &o, a, &applied);
        break;
    case EP_INQUIRY:
        a->op = "inquiry";
        rc = svc_apply(l, r, PL_SIM_RLT_INQUIRY, 0, NULL, &o, a, &applied);
        break;
    case EP_ACTIVATE:
        a->op = "activate";
        rc = svc_apply(l, r, PL_SIM_RLT_ACTIVATE, r->amount, NULL, &o, a, &applied);
        break;
    case EP_RECHARGE:
        a->op = "recharge";
        rc = svc_apply(l, r, PL_SIM_RLT_RECHARGE, r->amount, NULL, &o, a, &applied);
        break;
    default:
        return PL_ERR_INVALID;
    }
    if (rc < 0 || !applied)
        return rc;
    snprintf(a->txn_id, sizeof a->txn_id, "%s", o.sva_id);
    answer_accept(a, PL_SIM_EXT_R_APPROVED);
    if (r->ep->kind != EP_INQUIRY) {
        a->has_amount = true;
        a->amount = o.amount;
    }
    return PL_OK;
}

/* The operation's query op when it is refused before it runs. */
static const char *op_name(const ext_req *r)
{
    switch (r->ep->kind) {
    case EP_TOKEN:
        return "token";
    case EP_AUTH:
        return r->capture ? "auth_capture" : "auth";
    case EP_DEPOSIT:
        return r->svc ? "deposit" : "capture";
    case EP_RETURN:
        return r->svc ? "return" : "credit";
    case EP_REVERSAL:
        return r->svc ? "void" : "reversal";
    case EP_INQUIRY:
        return "inquiry";
    case EP_GENERATE:
        return "generate";
    case EP_ACTIVATE:
        return "activate";
    case EP_RECHARGE:
        return "recharge";
    }
    return "unknown";
}

/* Runs the operation; a holds the answer. */
static int run(pl_sim_ext *x, pl_sim_ledger *l, const ext_req *r, pl_sim_scenario sc, int reason,
               ext_answer *a)
{
    const ep_def *ep = r->ep;
    a->op = op_name(r);
    if (ep->kind == EP_TOKEN)
        return op_get_token(x, l, r, a);
    if (ep->kind == EP_GENERATE)
        return svc_generate(x, l, r, a);
    const card_entry *card = table_get(x->cards, r->token);
    if (!card) {
        answer_reject(a, PL_SIM_EXT_R_NOCARD, "The card token is unknown.");
        return PL_OK;
    }
    snprintf(a->masked, sizeof a->masked, "%s", card->masked);
    if (r->svc)
        return svc_run(l, r, a);
    switch (ep->kind) {
    case EP_AUTH:
        return cc_authorize(x, l, r, sc, reason, a);
    case EP_DEPOSIT:
        return cc_deposit(x, l, r, a);
    case EP_RETURN:
        return cc_return(x, l, r, sc, reason, a);
    case EP_REVERSAL:
        return cc_reversal(x, l, r, a);
    default:
        return PL_ERR_INVALID; /* read_request refuses the stored value endpoints for CC */
    }
}

/* ---- records -------------------------------------------------------------------------------- */

/* The answer for GET /__sim/query?ref=<requestID> (sim_ext.h). */
static int record(pl_sim_ledger *l, const ext_req *r, const ext_answer *a)
{
    if (!r->has_request_id)
        return PL_OK;
    pl_sim_txn t = {0};
    snprintf(t.protocol, sizeof t.protocol, "%s", PROTOCOL);
    snprintf(t.op, sizeof t.op, "%s", a->op ? a->op : op_name(r));
    snprintf(t.decision, sizeof t.decision, "%s", a->decision);
    unsigned code;
    if (pl_sim_parse_uint(a->reason, 999, &code) == PL_OK)
        t.reason_code = (int)code;
    else
        snprintf(t.error_code, sizeof t.error_code, "%s", a->reason);
    snprintf(t.request_id, sizeof t.request_id, "%s", a->txn_id);
    snprintf(t.request_token, sizeof t.request_token, "%s", a->auth_code);
    t.amount = a->has_amount ? a->amount : r->has_amount ? r->amount : 0;
    return pl_sim_ledger_txn_record(l, r->request_id, &t);
}

static void log_outcome(const ext_req *r, const ext_answer *a, const char *sc_name)
{
    char amount[32] = "-";
    if (r->has_amount && pl_money_format(r->amount, amount, sizeof amount) < 0)
        snprintf(amount, sizeof amount, "?");
    pl_sim_log(PL_LOG_INFO, r->has_request_id ? r->request_id : NULL,
               "EXT %s %s amount=%s card=%s scenario=%s result=%s%s%s id=%s", r->ep->name,
               r->svc ? "SVC" : "CC", amount, a->masked[0] ? a->masked : "-", sc_name, a->decision,
               a->reason[0] ? "/" : "", a->reason, a->txn_id[0] ? a->txn_id : "-");
}

/* Keeps the answer for a repeat of the request. */
static int remember_answer(pl_sim_ext *x, const char *key, const char *body, size_t len)
{
    stored_answer *s = calloc(1, sizeof *s);
    if (!s || !(s->body = malloc(len + 1))) {
        free(s);
        return PL_ERR_NOMEM;
    }
    memcpy(s->body, body, len + 1);
    s->len = len;
    int rc = table_put(x->answers, key, s);
    if (rc < 0) {
        pl_card_wipe(s->body, s->len);
        free(s->body);
        free(s);
    }
    return rc;
}

/* ---- the handler ---------------------------------------------------------------------------- */

/* Everything after the request was read, with the lock held. */
static int process(pl_sim_ext *x, pl_sim_ledger *l, ext_req *r, ext_answer *a,
                   pl_sim_response *resp)
{
    char key[64 + REQUEST_ID_MAX];
    snprintf(key, sizeof key, "%s/%s", r->ep->name, r->has_request_id ? r->request_id : "");

    const stored_answer *earlier = r->has_request_id ? table_get(x->answers, key) : NULL;
    if (earlier) {
        /* Idempotency: the first answer again, nothing applied twice. */
        pl_sim_log(PL_LOG_INFO, r->request_id, "EXT %s %s: a repeat, the first answer again",
                   r->ep->name, r->svc ? "SVC" : "CC");
        return pl_sim_response_set(resp, 200, JSON_TYPE, earlier->body, earlier->len);
    }

    int64_t units = r->has_amount ? r->amount / 100 : -1;
    bool then_hold = units == UNITS_APPLIED_THEN_HOLD, then_drop = units == UNITS_APPLIED_THEN_DROP;
    int reason = 100;
    pl_sim_scenario sc = r->has_amount && !then_hold && !then_drop
                             ? pl_sim_scenario_for_amount(r->amount, &reason)
                             : PL_SIM_SC_APPROVE;
    const char *sc_name = then_hold                      ? "applied_hold"
                          : then_drop                    ? "applied_drop"
                          : units == UNITS_TOKEN_EXPIRED ? "token_expired"
                                                         : pl_sim_scenario_name(sc);
    if (pl_sim_scenario_is_fault(sc)) {
        /* As for the other bureaus: 901–904 fail before processing, nothing recorded. */
        pl_sim_log(PL_LOG_INFO, r->has_request_id ? r->request_id : NULL,
                   "EXT %s scenario=%s: no effect", r->ep->name, sc_name);
        int rc = pl_sim_scenario_fault_answer(sc, resp);
        if (rc == PL_OK && sc == PL_SIM_SC_NOT_XML)
            resp->content_type = JSON_TYPE; /* the header says JSON, the body is not */
        return rc;
    }
    if (units == UNITS_TOKEN_EXPIRED && r->has_request_id && !table_get(x->expired, key)) {
        /* 907: refused at authentication, nothing done; the re-send is processed. */
        int rc = table_put(x->expired, key, (void *)1);
        if (rc < 0)
            return rc;
        pl_sim_log(PL_LOG_INFO, r->request_id, "EXT %s scenario=%s: 401, nothing applied",
                   r->ep->name, sc_name);
        return unauthorized(resp, EXPIRED_DESCRIPTION);
    }

    int rc = PL_OK;
    bool keep = true;
    if (r->problem[0]) {
        answer_invalid(a, r->problem);
        a->op = op_name(r);
        keep = false; /* nothing was processed: a corrected request may come again */
    } else if (sc == PL_SIM_SC_ERROR) {
        /* 150: the service failed; CONTRACT.md §3 wants no reasonCode. */
        a->decision = "ERROR";
        snprintf(a->message, sizeof a->message, "General system failure.");
        a->op = op_name(r);
    } else {
        rc = run(x, l, r, sc, reason, a);
        if (rc < 0)
            return rc;
    }
    log_outcome(r, a, sc_name);
    rc = record(l, r, a);
    if (rc < 0)
        return rc;

    char *body = NULL;
    size_t len = 0;
    rc = render(r, a, &body, &len);
    if (rc < 0)
        return rc;
    if (keep && r->has_request_id)
        rc = remember_answer(x, key, body, len);
    if (rc == PL_OK) {
        if (then_hold || then_drop) {
            /* 905/906: applied and remembered; this answer is lost. */
            memset(resp, 0, sizeof *resp);
            resp->action = then_hold ? PL_SIM_HOLD : PL_SIM_DROP;
        } else {
            rc = pl_sim_response_set(resp, 200, JSON_TYPE, body, len);
        }
    }
    pl_card_wipe(body, len);
    free(body);
    return rc;
}

int pl_sim_ext_handle(pl_sim_ledger *l, const pl_sim_http_req *req, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    pl_sim_ext *x = req->state;
    if (!x || !req->path || !pl_sim_ext_path_match(req->path))
        return PL_ERR_INVALID;
    if (strcmp(req->path, PL_SIM_EXT_TOKEN_PATH) == 0)
        return oauth_token(x, req, resp);
    const ep_def *ep = find_endpoint(req->path + sizeof ENDPOINT_PREFIX - 1);
    if (!bearer_valid(x, req->authorization)) {
        pl_sim_log(PL_LOG_INFO, NULL, "EXT %s refused: no valid access token", ep->name);
        return unauthorized(resp, "The access token is missing, unknown or expired.");
    }

    int rc = PL_ERR_NOMEM;
    ext_req *r = calloc(1, sizeof *r);
    ext_answer *a = calloc(1, sizeof *a);
    if (!r || !a)
        goto out;
    r->ep = ep;
    json_object *root = parse_body(req->body, req->body_len);
    if (!root || !json_object_is_type(root, json_type_object)) {
        set_problem(r, "%s", "The body is not one JSON object.");
    } else {
        if (ep->kind != EP_TOKEN && has_card_number(root, NULL))
            set_problem(r, "%s",
                        "A card number is not allowed here: message version 3.0 carries "
                        "card.token (getToken first).");
        read_request(r, root);
    }
    wipe_card_number(root);
    json_object_put(root);

    pthread_mutex_lock(&x->mu);
    rc = process(x, l, r, a, resp);
    pthread_mutex_unlock(&x->mu);
out:
    if (r)
        pl_card_wipe(r->number, sizeof r->number);
    if (a)
        pl_card_wipe(a->card_number, sizeof a->card_number);
    free(r);
    free(a);
    return rc;
}

/* ---- control routes ------------------------------------------------------------------------- */

static int counts_answer(pl_sim_response *resp, const char *k1, unsigned long v1, const char *k2,
                         unsigned long v2)
{
    json_object *root = json_object_new_object();
    if (!root)
        return PL_ERR_NOMEM;
    if (add_member(root, k1, json_object_new_int64((int64_t)v1)) < 0 ||
        (k2 && add_member(root, k2, json_object_new_int64((int64_t)v2)) < 0)) {
        json_object_put(root);
        return PL_ERR_NOMEM;
    }
    return set_json(resp, 200, root);
}

int pl_sim_ext_control(pl_sim_ext *x, const char *method, const char *path, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    size_t n = sizeof PL_SIM_EXT_CONTROL_PREFIX - 1;
    const char *what = strncmp(path, PL_SIM_EXT_CONTROL_PREFIX, n) == 0 ? path + n : "";
    if (strcmp(what, "expire-tokens") == 0) {
        if (strcmp(method, "POST") != 0)
            return pl_sim_response_text(resp, 405, "method not allowed\n");
        unsigned long expired = pl_sim_ext_expire_tokens(x);
        pl_sim_log(PL_LOG_INFO, NULL, "EXT: %lu access token(s) expired", expired);
        return counts_answer(resp, "expired", expired, NULL, 0);
    }
    if (strcmp(what, "tokens") == 0) {
        if (strcmp(method, "GET") != 0)
            return pl_sim_response_text(resp, 405, "method not allowed\n");
        unsigned long issued, active;
        pl_sim_ext_token_counts(x, &issued, &active);
        return counts_answer(resp, "issued", issued, "active", active);
    }
    return pl_sim_response_text(resp, 404, "not found\n");
}

const pl_sim_proto pl_sim_ext_proto = {
    .protocol = PROTOCOL,
    .method = "POST",
    .path = PL_SIM_EXT_PATH,
    .match_path = pl_sim_ext_path_match,
    .handle = pl_sim_ext_handle,
};
