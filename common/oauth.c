/*
 * oauth.c: the OAuth 2 client-credentials token cache (see oauth.h for the contract).
 *
 * State: one entry per key (kept until pl_oauth_free; keys are bureau codes, a handful) holding
 * the fingerprint of the settings last asked with and the cached token; and the token requests in
 * flight, each with its own FIFO of waiters and the fingerprint it was made with. A request
 * belongs to pl_http until its callback fires, so pl_oauth_free cannot take it back: it abandons
 * it (fetch.o = NULL), and the callback then only frees it.
 */
#include "oauth.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "card.h"
#include "jsonutil.h"

#define FP_LEN 32 /* SHA-256 */
#define MAX_CREDENTIAL 1024
#define MAX_TOKEN 2048
#define DEFAULT_EXPIRES_IN 300 /* seconds, when the answer has no expires_in */
#define BEARER_PREFIX "Authorization: Bearer "
#define BASIC_PREFIX "Authorization: Basic "

static const char grant_body[] = "grant_type=client_credentials";

typedef struct waiter {
    pl_oauth_cb cb;
    void *arg;
    struct waiter *next;
} waiter;

typedef struct entry {
    char *key;
    unsigned char fp[FP_LEN]; /* the settings of the latest get for this key */
    bool has_token;
    unsigned gen;      /* the cached token's generation */
    unsigned last_gen; /* the latest generation handed out for this key */
    double expires_at; /* with the margin already taken off */
    char header[PL_OAUTH_HEADER_SIZE];
    struct entry *next;
} entry;

typedef struct fetch {
    pl_oauth *o; /* NULL once pl_oauth_free has abandoned the request */
    entry *e;
    unsigned char fp[FP_LEN];
    /* pl_http borrows these until its callback. */
    char *url, *proxy;
    char *auth; /* "Authorization: Basic ...": holds the secret */
    size_t auth_size;
    double sent;
    waiter *head, **tail;
    struct fetch *prev, *next;
} fetch;

/*
 * The waiters being called back now, detached from their request. They stay reachable from the
 * cache so that a callback that cancels another job (pl_oauth_cancel) also removes that job's
 * waiter here, instead of it being called after its job is gone. Deliveries nest only when a
 * callback drives pl_http (pl_http_destroy), hence a stack.
 */
typedef struct delivery {
    waiter *head;
    struct delivery *up;
} delivery;

struct pl_oauth {
    pl_http *http;
    double (*now)(void);
    unsigned char salt[FP_LEN]; /* keys the fingerprints, so they say nothing about a secret */
    entry *entries;
    fetch *fetches; /* oldest first */
    delivery *delivering;
    bool closing;   /* inside pl_oauth_free */
    bool http_gone; /* a request came back cancelled: pl_http is being destroyed */
    uint64_t requested, ok, failed;
};

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

pl_oauth *pl_oauth_new(pl_http *http, double (*now)(void))
{
    if (!http)
        return NULL;
    pl_oauth *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->http = http;
    o->now = now ? now : monotonic_now;
    if (RAND_bytes(o->salt, sizeof o->salt) != 1) {
        free(o);
        return NULL;
    }
    return o;
}

/* ---- entries ---------------------------------------------------------------------------- */

static entry *entry_find(pl_oauth *o, const char *key)
{
    for (entry *e = o->entries; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Forgets the cached token (the generation counter stays). */
static void entry_drop(entry *e)
{
    if (e->has_token)
        pl_card_wipe(e->header, sizeof e->header);
    e->has_token = false;
    e->gen = 0;
    e->expires_at = 0;
}

/*
 * The settings' identity: SHA-256 over the salt and each of token_url, client_id and secret with
 * an 8-byte length before it (so no two different settings serialize alike).
 */
static int fingerprint(const pl_oauth *o, const pl_oauth_client *c, unsigned char *fp)
{
    const char *parts[] = {c->token_url, c->client_id, c->secret};
    int rc = PL_ERR_NOMEM;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, o->salt, sizeof o->salt))
        goto out;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        uint64_t len = strlen(parts[i]);
        unsigned char hdr[8];
        for (int k = 0; k < 8; k++)
            hdr[k] = (unsigned char)(len >> (56 - 8 * k));
        if (!EVP_DigestUpdate(ctx, hdr, sizeof hdr) || !EVP_DigestUpdate(ctx, parts[i], len))
            goto out;
    }
    unsigned int n = 0;
    if (!EVP_DigestFinal_ex(ctx, fp, &n) || n != FP_LEN)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx); /* clears the digest state, which has seen the secret */
    return rc;
}

/* ---- token requests --------------------------------------------------------------------- */

static void fetch_free(fetch *f)
{
    if (f->auth) {
        pl_card_wipe(f->auth, f->auth_size);
        free(f->auth);
    }
    free(f->url);
    free(f->proxy);
    for (waiter *w = f->head; w;) {
        waiter *n = w->next;
        free(w);
        w = n;
    }
    free(f);
}

static void fetch_unlink(pl_oauth *o, fetch *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        o->fetches = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
}

static void fetch_append(pl_oauth *o, fetch *f)
{
    fetch **p = &o->fetches, *prev = NULL;
    while (*p) {
        prev = *p;
        p = &(*p)->next;
    }
    f->prev = prev;
    *p = f;
}

/* Frees a string that curl_easy_escape made from a credential, wiping it first. */
static void escaped_free(char *s)
{
    if (s) {
        pl_card_wipe(s, strlen(s));
        curl_free(s);
    }
}

/*
 * "Authorization: Basic base64(urlencode(client_id) ':' urlencode(secret))" (RFC 6749 §2.3.1: the
 * id and the secret are form-urlencoded before Basic encoding, so a ':' in the id survives).
 * curl_easy_escape percent-encodes everything but the unreserved characters, a space as %20,
 * which every form decoder reads back as a space.
 */
static int basic_header(const char *client_id, const char *secret, char **out, size_t *out_size)
{
    int rc = PL_ERR_NOMEM;
    unsigned char *in = NULL;
    size_t in_len = 0;
    /* The handle argument is ignored since libcurl 7.82. */
    char *id = curl_easy_escape(NULL, client_id, (int)strlen(client_id));
    char *pw = curl_easy_escape(NULL, secret, (int)strlen(secret));
    if (!id || !pw)
        goto out;
    size_t id_len = strlen(id), pw_len = strlen(pw);
    in_len = id_len + 1 + pw_len;
    if (!(in = malloc(in_len)))
        goto out;
    memcpy(in, id, id_len);
    in[id_len] = ':';
    memcpy(in + id_len + 1, pw, pw_len);
    /* Base64 turns every 3 bytes (or part of them) into 4 characters, plus the NUL. */
    size_t prefix_len = sizeof BASIC_PREFIX - 1;
    size_t size = prefix_len + (in_len + 2) / 3 * 4 + 1;
    char *h = malloc(size);
    if (!h)
        goto out;
    memcpy(h, BASIC_PREFIX, prefix_len);
    if (EVP_EncodeBlock((unsigned char *)h + prefix_len, in, (int)in_len) <= 0) {
        pl_card_wipe(h, size);
        free(h);
        rc = PL_ERR_INVALID;
        goto out;
    }
    *out = h;
    *out_size = size;
    rc = 0;
out:
    if (in) {
        pl_card_wipe(in, in_len);
        free(in);
    }
    escaped_free(id);
    escaped_free(pw);
    return rc;
}

static void on_answer(void *arg, const pl_http_response *r);

/* Makes and submits the token request for e with client's settings (fingerprint fp). */
static int fetch_start(pl_oauth *o, entry *e, const unsigned char *fp, const pl_oauth_client *c,
                       fetch **out)
{
    fetch *f = calloc(1, sizeof *f);
    if (!f)
        return PL_ERR_NOMEM;
    f->o = o;
    f->e = e;
    memcpy(f->fp, fp, FP_LEN);
    f->tail = &f->head;
    int rc = PL_ERR_NOMEM;
    if (!(f->url = strdup(c->token_url)))
        goto fail;
    if (c->proxy && *c->proxy && !(f->proxy = strdup(c->proxy)))
        goto fail;
    if ((rc = basic_header(c->client_id, c->secret, &f->auth, &f->auth_size)) != 0)
        goto fail;
    pl_http_call call = {
        .url = f->url,
        .body = grant_body,
        .body_len = sizeof grant_body - 1,
        .content_type = "application/x-www-form-urlencoded",
        .auth_header = f->auth,
        .extra_header = "Accept: application/json",
        .proxy = f->proxy,
        .timeout_ms = c->timeout_ms,
        .connect_attempts = c->connect_attempts,
        .max_idle_s = c->max_idle_s,
    };
    /* The token's lifetime is counted from before the request left: the endpoint started its
     * clock somewhere after this, so the cache never holds a token longer than it lives. */
    f->sent = o->now();
    if ((rc = pl_http_submit(o->http, &call, on_answer, f)) != 0)
        goto fail;
    fetch_append(o, f);
    o->requested++;
    *out = f;
    return 0;
fail:
    fetch_free(f);
    return rc;
}

/* ---- the answer ------------------------------------------------------------------------- */

/*
 * The error codes of RFC 6749 §5.2 (and the two of §4.1.2.1 some servers use here too). Only
 * these are repeated in an error text: anything else the endpoint sent is not shown, since an
 * error text ends up in logs and replies.
 */
static const char *known_error(json_object *root)
{
    static const char *const codes[] = {
        "invalid_request",         "invalid_client", "invalid_grant",
        "unauthorized_client",     "invalid_scope",  "unsupported_grant_type",
        "temporarily_unavailable", "server_error",
    };
    json_object *v;
    if (!root || !json_object_object_get_ex(root, "error", &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(s, codes[i]) == 0)
            return codes[i];
    return NULL;
}

/* The answer as a JSON object: one object, nothing but white space after it; else NULL. */
static json_object *parse_object(const char *body, size_t len)
{
    /* The tokener's buffer held the last string read: the access token, say. */
    json_object *root = pl_json_parse_whole(body, len, 0, PL_JSON_WIPE);
    if (root && !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

/* A member that is there and not null, or NULL. */
static json_object *member(json_object *root, const char *name)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, name, &v))
        return NULL;
    return v;
}

static bool token_ok(const char *s, size_t len)
{
    if (len < 1 || len > MAX_TOKEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/* expires_in: a positive JSON integer (a string of digits is taken too, as some servers send). */
static bool expires_in_ok(json_object *v, double *out)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        if (n <= 0)
            return false;
        *out = (double)n;
        return true;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        size_t n = strlen(s);
        if (n < 1 || n > 10 || strspn(s, "0123456789") != n)
            return false;
        double d = strtod(s, NULL);
        if (d <= 0)
            return false;
        *out = d;
        return true;
    }
    return false;
}

/*
 * Reads the token endpoint's answer: 0 with the Bearer header line in hdr and the lifetime in
 * *expires_in, or -1 with a human text in err (never the secret, nor a token, nor the body).
 */
static int read_answer(const pl_http_response *r, char *hdr, size_t hdr_size, double *expires_in,
                       char *err, size_t err_size)
{
    if (r->outcome == PL_HTTP_CANCELLED) {
        snprintf(err, err_size,
                 "the OAuth token request was abandoned: the HTTP client is shutting "
                 "down");
        return -1;
    }
    if (r->outcome != PL_HTTP_OK) {
        snprintf(err, err_size, "the OAuth token request failed (%s): %s",
                 pl_http_outcome_name(r->outcome), r->error ? r->error : "");
        return -1;
    }
    int rc = -1;
    json_object *root = parse_object(r->body, r->body_len);
    if (r->status != 200) {
        const char *code = known_error(root);
        if (r->status == 401 || (code && strcmp(code, "invalid_client") == 0)) {
            if (code)
                snprintf(err, err_size, "the token endpoint refused the client credentials (%s)",
                         code);
            else
                snprintf(err, err_size,
                         "the token endpoint refused the client credentials (HTTP %ld)", r->status);
        } else if (code) {
            snprintf(err, err_size, "the token endpoint refused the token request (HTTP %ld, %s)",
                     r->status, code);
        } else {
            snprintf(err, err_size, "the token endpoint answered HTTP %ld", r->status);
        }
        goto out;
    }
    if (!root) {
        snprintf(err, err_size, "the token endpoint's answer (HTTP 200) is not a JSON object");
        goto out;
    }
    json_object *token = member(root, "access_token");
    if (!token || !json_object_is_type(token, json_type_string)) {
        snprintf(err, err_size, "the token endpoint's answer has no access_token");
        goto out;
    }
    const char *tok = json_object_get_string(token);
    size_t tok_len = (size_t)json_object_get_string_len(token);
    if (!token_ok(tok, tok_len)) {
        snprintf(err, err_size,
                 "the token endpoint's access_token is not 1-%d printable ASCII characters",
                 MAX_TOKEN);
        goto out;
    }
    json_object *type = member(root, "token_type");
    if (type) {
        const char *t =
            json_object_is_type(type, json_type_string) ? json_object_get_string(type) : NULL;
        if (!t || strcasecmp(t, "Bearer") != 0) {
            /* The type is named only when it looks like one (a short word). */
            size_t n = t ? strlen(t) : 0;
            if (n >= 1 && n <= 20 &&
                strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n)
                snprintf(err, err_size,
                         "the token endpoint issued a \"%s\" token, not a Bearer one", t);
            else
                snprintf(err, err_size, "the token endpoint's token_type is not Bearer");
            goto out;
        }
    }
    *expires_in = DEFAULT_EXPIRES_IN;
    json_object *exp = member(root, "expires_in");
    if (exp && !expires_in_ok(exp, expires_in)) {
        snprintf(err, err_size,
                 "the token endpoint's expires_in is not a positive whole number of seconds");
        goto out;
    }
    snprintf(hdr, hdr_size, BEARER_PREFIX "%s", tok);
    rc = 0;
out:
    /* The token's own copy in json-c's string (freed unwiped otherwise; the tokener's buffer is
     * wiped by parse_object): every other copy of it is wiped where it is dropped. */
    if (root) {
        json_object *t = member(root, "access_token");
        if (t && json_object_is_type(t, json_type_string))
            pl_card_wipe((char *)json_object_get_string(t), (size_t)json_object_get_string_len(t));
    }
    json_object_put(root);
    return rc;
}

/* Calls back a detached list of waiters, in order (see struct delivery). */
static void deliver(pl_oauth *o, waiter *list, const char *header, unsigned gen, const char *error,
                    bool cancelled)
{
    delivery d = {.head = list, .up = o->delivering};
    o->delivering = &d;
    while (d.head) {
        waiter *w = d.head;
        d.head = w->next;
        pl_oauth_cb cb = w->cb;
        void *arg = w->arg;
        free(w);
        cb(arg, header, gen, error, cancelled);
    }
    o->delivering = d.up;
}

static void on_answer(void *arg, const pl_http_response *r)
{
    fetch *f = arg;
    pl_oauth *o = f->o;
    if (!o) { /* abandoned by pl_oauth_free; its waiters were told then */
        fetch_free(f);
        return;
    }
    /* From here on a get starts a new request instead of joining this one. */
    fetch_unlink(o, f);
    bool cancelled = r->outcome == PL_HTTP_CANCELLED;
    if (cancelled)
        o->http_gone = true;
    char hdr[PL_OAUTH_HEADER_SIZE];
    char err[512];
    double expires_in = 0;
    unsigned gen = 0;
    bool got = read_answer(r, hdr, sizeof hdr, &expires_in, err, sizeof err) == 0;
    if (got) {
        entry *e = f->e;
        gen = ++e->last_gen;
        /* Cached only when the settings are still the ones it was fetched with; otherwise it
         * answers its own waiters (who asked with those settings) and is forgotten. */
        if (memcmp(e->fp, f->fp, FP_LEN) == 0) {
            entry_drop(e);
            memcpy(e->header, hdr, sizeof hdr);
            e->has_token = true;
            e->gen = gen;
            double margin = expires_in / 10 < 30 ? expires_in / 10 : 30;
            e->expires_at = f->sent + expires_in - margin;
        }
        o->ok++;
    } else {
        o->failed++;
    }
    waiter *list = f->head;
    f->head = NULL;
    f->tail = &f->head;
    deliver(o, list, got ? hdr : NULL, gen, got ? NULL : err, cancelled);
    pl_card_wipe(hdr, sizeof hdr);
    fetch_free(f);
}

/* ---- the API ---------------------------------------------------------------------------- */

static bool present(const char *s)
{
    return s && *s;
}

int pl_oauth_get(pl_oauth *o, const pl_oauth_client *client, pl_oauth_cb cb, void *arg,
                 char *header, size_t hsize, unsigned *gen)
{
    if (!o || !client || !cb || !header || hsize < PL_OAUTH_HEADER_SIZE || !present(client->key) ||
        !present(client->token_url) || !present(client->client_id) || !client->secret ||
        strlen(client->client_id) > MAX_CREDENTIAL || strlen(client->secret) > MAX_CREDENTIAL)
        return PL_ERR_INVALID;
    if (o->closing || o->http_gone)
        return PL_ERR_STATE;
    unsigned char fp[FP_LEN];
    if (fingerprint(o, client, fp) != 0)
        return PL_ERR_NOMEM;

    entry *e = entry_find(o, client->key);
    if (!e) {
        if (!(e = calloc(1, sizeof *e)) || !(e->key = strdup(client->key))) {
            free(e);
            return PL_ERR_NOMEM;
        }
        memcpy(e->fp, fp, FP_LEN);
        e->next = o->entries;
        o->entries = e;
    } else if (memcmp(e->fp, fp, FP_LEN) != 0) {
        /* The configuration changed: the old token belongs to other credentials. */
        entry_drop(e);
        memcpy(e->fp, fp, FP_LEN);
    }
    if (e->has_token && o->now() >= e->expires_at)
        entry_drop(e);
    if (e->has_token) {
        memcpy(header, e->header, PL_OAUTH_HEADER_SIZE);
        if (gen)
            *gen = e->gen;
        return 1;
    }

    waiter *w = calloc(1, sizeof *w);
    if (!w)
        return PL_ERR_NOMEM;
    w->cb = cb;
    w->arg = arg;
    fetch *f = o->fetches;
    while (f && !(f->e == e && memcmp(f->fp, fp, FP_LEN) == 0))
        f = f->next;
    if (!f) {
        int rc = fetch_start(o, e, fp, client, &f);
        if (rc != 0) {
            free(w);
            return rc;
        }
    }
    *f->tail = w;
    f->tail = &w->next;
    return 0;
}

void pl_oauth_invalidate(pl_oauth *o, const char *key, unsigned gen)
{
    if (!o || !key)
        return;
    entry *e = entry_find(o, key);
    if (e && e->has_token && e->gen == gen)
        entry_drop(e);
}

/* Unlinks the waiters with arg from the list at *head; returns the new tail's next pointer. */
static waiter **remove_arg(waiter **head, void *arg)
{
    waiter **p = head;
    while (*p) {
        if ((*p)->arg == arg) {
            waiter *w = *p;
            *p = w->next;
            free(w);
        } else {
            p = &(*p)->next;
        }
    }
    return p;
}

void pl_oauth_cancel(pl_oauth *o, void *arg)
{
    if (!o)
        return;
    for (fetch *f = o->fetches; f; f = f->next)
        f->tail = remove_arg(&f->head, arg);
    for (delivery *d = o->delivering; d; d = d->up)
        remove_arg(&d->head, arg);
}

void pl_oauth_stats(const pl_oauth *o, uint64_t *requested, uint64_t *ok, uint64_t *failed)
{
    if (requested)
        *requested = o ? o->requested : 0;
    if (ok)
        *ok = o ? o->ok : 0;
    if (failed)
        *failed = o ? o->failed : 0;
}

size_t pl_oauth_waiting(const pl_oauth *o)
{
    size_t n = 0;
    if (o)
        for (const fetch *f = o->fetches; f; f = f->next)
            for (const waiter *w = f->head; w; w = w->next)
                n++;
    return n;
}

void pl_oauth_free(pl_oauth *o)
{
    if (!o)
        return;
    o->closing = true;
    /* Every waiter, request by request in the order they were made, then abandon the requests:
     * pl_http still owns them and will call on_answer, which then only frees them. */
    waiter *all = NULL, **tail = &all;
    for (fetch *f = o->fetches; f;) {
        fetch *next = f->next;
        if (f->head) {
            *tail = f->head;
            tail = f->tail;
        }
        f->head = NULL;
        f->tail = &f->head;
        f->o = NULL;
        f->e = NULL;
        f->prev = f->next = NULL;
        f = next;
    }
    o->fetches = NULL;
    deliver(o, all, NULL, 0, "the OAuth token cache is shutting down", true);
    for (entry *e = o->entries; e;) {
        entry *next = e->next;
        entry_drop(e);
        free(e->key);
        free(e);
        e = next;
    }
    pl_card_wipe(o->salt, sizeof o->salt);
    free(o);
}
