/*
 * sim_ledger.c: the simulator's effects, answers, CyberSource card state and stored value
 * accounts (see sim_ledger.h). Everything sits behind one mutex: the simulator's throughput is
 * bounded by TLS and XML work, not by these few pointer operations, and one lock makes every
 * rule check and its effect a single atomic step.
 */
#include "sim_ledger.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card.h"
#include "money.h"
#include "sim_ids.h"
#include "sim_proto.h"

/* A string-keyed hash map with separate chaining; values are owned by the map's user. */
typedef struct map_entry {
    char *key;
    void *val;
    struct map_entry *next;
} map_entry;

typedef struct map {
    map_entry **buckets;
    size_t nbuckets;
    size_t count;
} map;

typedef struct effect {
    char protocol[4];
    char op[16];
    char *ref;
    char *bureau_id;
    int64_t amount;
    struct timespec at;
} effect;

typedef struct cyb_auth {
    int64_t authorized;
    int64_t captured;
    bool reversed;
} cyb_auth;

typedef struct cyb_capture {
    int64_t amount;
    int64_t credited;
} cyb_capture;

/* A stored value account; lives until reset (preauthorizations point at it). */
typedef struct rlt_card {
    bool active;
    int64_t balance; /* funds, open holds not subtracted */
    int64_t held;    /* sum of what the open preauthorizations hold */
    unsigned account_id;
    struct timespec effective;
} rlt_card;

typedef struct rlt_preauth {
    rlt_card *card;
    int64_t held; /* still held: approved − settled, 0 once voided */
    bool voided;
} rlt_preauth;

typedef struct rlt_series {
    uint64_t next; /* the counter of the next number */
    uint64_t generated;
    int64_t remaining; /* -1: unlimited */
} rlt_series;

typedef struct rlt_fault {
    pl_sim_rlt_fault f;
    bool armed; /* until a call takes it */
} rlt_fault;

typedef struct cyb_soft_decline {
    int reason;
    bool armed; /* until an authorization takes it */
} cyb_soft_decline;

/* A growing array of plain values of one size (the owner knows which). */
typedef struct vec {
    void *items;
    size_t n, cap;
} vec;

struct pl_sim_ledger {
    pthread_mutex_t mu;
    effect *effects;
    size_t neffects;
    size_t cap_effects;
    map txns;      /* ref → pl_sim_txn */
    map auths;     /* requestID → cyb_auth */
    map auth_mtis; /* merchantTransactionIdentifier → the authorization's requestID (char *) */
    map captures;  /* requestID → cyb_capture */
    map soft_declines; /* merchantReferenceCode → cyb_soft_decline */
    map tokens;        /* subscriptionID → (void *)1 */
    map rlt_cards;     /* card number → rlt_card */
    map rlt_preauths;  /* SVATransactionID → rlt_preauth */
    map rlt_series;    /* "<prefix>/<sequence>" → rlt_series */
    map rlt_faults;    /* order → rlt_fault */
    uint64_t rlt_next_id;
    unsigned rlt_next_account;
    vec reviews;  /* pl_sim_review: Decision Manager REVIEWs, in the order answered */
    vec requests; /* pl_sim_cyb_request: CyberSource requests answered, in that order */
    /* Where in requests each requestID and merchantReferenceCode is (positions), so that a
     * transaction query reads the requests it names, not every request answered. */
    map request_ids, request_refs;
};

/* The positions in l->requests of the requests with one key, in the order they came. */
typedef struct positions {
    size_t n, cap;
    size_t at[];
} positions;

static int position_add(map *m, const char *key, size_t at);

static uint64_t hash_str(const char *s)
{
    /* FNV-1a: short keys, no adversary worth a keyed hash in a test simulator. */
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static map_entry *map_find(const map *m, const char *key)
{
    if (m->nbuckets == 0)
        return NULL;
    for (map_entry *e = m->buckets[hash_str(key) % m->nbuckets]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void *map_get(const map *m, const char *key)
{
    map_entry *e = map_find(m, key);
    return e ? e->val : NULL;
}

static int map_grow(map *m)
{
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
    map_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return PL_ERR_NOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        map_entry *e = m->buckets[i];
        while (e) {
            map_entry *next = e->next;
            size_t j = hash_str(e->key) % nb;
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return PL_OK;
}

/* Inserts key → val; the key must not be present yet. Takes ownership of val on success. */
static int map_insert(map *m, const char *key, void *val)
{
    if (m->count + 1 > m->nbuckets * 3 / 4) {
        int rc = map_grow(m);
        if (rc < 0)
            return rc;
    }
    map_entry *e = malloc(sizeof *e);
    char *k = strdup(key);
    if (!e || !k) {
        free(e);
        free(k);
        return PL_ERR_NOMEM;
    }
    size_t i = hash_str(key) % m->nbuckets;
    e->key = k;
    e->val = val;
    e->next = m->buckets[i];
    m->buckets[i] = e;
    m->count++;
    return PL_OK;
}

static void map_clear(map *m, bool free_vals)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        map_entry *e = m->buckets[i];
        while (e) {
            map_entry *next = e->next;
            if (free_vals)
                free(e->val);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

/*
 * SVATransactionIDs start at a random 9-digit number, so IDs handed out before a reset or a
 * restart are unlikely to name a preauthorization of the new state. AuthNumber embeds them in
 * 10 digits (the seed's "0000009354000382").
 */
static void rlt_seed(pl_sim_ledger *l)
{
    l->rlt_next_id = UINT64_C(100000000) + pl_sim_ids_random(800000000u);
    l->rlt_next_account = 1000;
}

/* Appends a copy of item (size bytes). 0 or NOMEM (v unchanged). */
static int vec_push(vec *v, const void *item, size_t size)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *grown = realloc(v->items, cap * size);
        if (!grown)
            return PL_ERR_NOMEM;
        v->items = grown;
        v->cap = cap;
    }
    memcpy((char *)v->items + v->n * size, item, size);
    v->n++;
    return PL_OK;
}

/* A malloc'd copy of the items, in order, into *out and *n (NULL and 0 when none). 0 or NOMEM. */
static int vec_copy(const vec *v, size_t size, void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (v->n == 0)
        return PL_OK;
    void *copy = malloc(v->n * size);
    if (!copy)
        return PL_ERR_NOMEM;
    memcpy(copy, v->items, v->n * size);
    *out = copy;
    *n = v->n;
    return PL_OK;
}

static void vec_free(vec *v)
{
    free(v->items);
    memset(v, 0, sizeof *v);
}

static void clear_all(pl_sim_ledger *l)
{
    for (size_t i = 0; i < l->neffects; i++) {
        free(l->effects[i].ref);
        free(l->effects[i].bureau_id);
    }
    free(l->effects);
    l->effects = NULL;
    l->neffects = l->cap_effects = 0;
    map_clear(&l->txns, true);
    map_clear(&l->auths, true);
    map_clear(&l->auth_mtis, true);
    map_clear(&l->captures, true);
    map_clear(&l->soft_declines, true);
    map_clear(&l->tokens, false);
    /* The card map's keys are card numbers: wiped before they go back to the allocator. */
    for (size_t i = 0; i < l->rlt_cards.nbuckets; i++)
        for (map_entry *e = l->rlt_cards.buckets[i]; e; e = e->next)
            pl_card_wipe(e->key, strlen(e->key));
    map_clear(&l->rlt_cards, true);
    map_clear(&l->rlt_preauths, true);
    map_clear(&l->rlt_series, true);
    map_clear(&l->rlt_faults, true);
    vec_free(&l->reviews);
    vec_free(&l->requests);
    map_clear(&l->request_ids, true);
    map_clear(&l->request_refs, true);
    rlt_seed(l);
}

pl_sim_ledger *pl_sim_ledger_new(void)
{
    pl_sim_ledger *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    rlt_seed(l);
    return l;
}

void pl_sim_ledger_destroy(pl_sim_ledger *l)
{
    if (!l)
        return;
    clear_all(l);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void pl_sim_ledger_reset(pl_sim_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    clear_all(l);
    pthread_mutex_unlock(&l->mu);
}

static void copy_str(char *dst, size_t dstsize, const char *src)
{
    size_t n = strlen(src);
    if (n >= dstsize)
        n = dstsize - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Appends with the lock held. */
static int append_locked(pl_sim_ledger *l, const pl_sim_effect *e)
{
    if (!e || !e->protocol || !e->op || !e->ref || !e->bureau_id)
        return PL_ERR_INVALID;
    if (l->neffects == l->cap_effects) {
        size_t cap = l->cap_effects ? l->cap_effects * 2 : 256;
        effect *grown = realloc(l->effects, cap * sizeof *grown);
        if (!grown)
            return PL_ERR_NOMEM;
        l->effects = grown;
        l->cap_effects = cap;
    }
    effect *dst = &l->effects[l->neffects];
    memset(dst, 0, sizeof *dst);
    dst->ref = strdup(e->ref);
    dst->bureau_id = strdup(e->bureau_id);
    if (!dst->ref || !dst->bureau_id) {
        free(dst->ref);
        free(dst->bureau_id);
        return PL_ERR_NOMEM;
    }
    copy_str(dst->protocol, sizeof dst->protocol, e->protocol);
    copy_str(dst->op, sizeof dst->op, e->op);
    dst->amount = e->amount;
    clock_gettime(CLOCK_REALTIME, &dst->at);
    l->neffects++;
    return PL_OK;
}

int pl_sim_ledger_append(pl_sim_ledger *l, const pl_sim_effect *e)
{
    pthread_mutex_lock(&l->mu);
    int rc = append_locked(l, e);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

size_t pl_sim_ledger_count(pl_sim_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->neffects;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* Adds "key": "<amount>" to obj; json-c add failures only happen out of memory. */
static int add_amount(json_object *obj, const char *key, int64_t minor)
{
    char buf[32];
    if (pl_money_format(minor, buf, sizeof buf) < 0)
        return PL_ERR_INVALID;
    json_object *s = json_object_new_string(buf);
    if (!s || json_object_object_add(obj, key, s) != 0) {
        json_object_put(s);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

static int add_string(json_object *obj, const char *key, const char *val)
{
    json_object *s = json_object_new_string(val);
    if (!s || json_object_object_add(obj, key, s) != 0) {
        json_object_put(s);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

/* Serialises and hands back a malloc'd copy, consuming root. */
static int take_json(json_object *root, char **out)
{
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = text ? strdup(text) : NULL;
    json_object_put(root);
    if (!copy)
        return PL_ERR_NOMEM;
    *out = copy;
    return PL_OK;
}

int pl_sim_ledger_to_json(pl_sim_ledger *l, char **out)
{
    int rc = PL_ERR_NOMEM;
    pthread_mutex_lock(&l->mu);
    json_object *arr = json_object_new_array_ext((int)(l->neffects < 1 ? 1 : l->neffects));
    if (!arr)
        goto out;
    for (size_t i = 0; i < l->neffects; i++) {
        const effect *e = &l->effects[i];
        char at[40];
        pl_sim_ids_rfc3339(&e->at, true, at, sizeof at);
        json_object *row = json_object_new_object();
        if (!row)
            goto out;
        if (json_object_array_add(arr, row) != 0) {
            json_object_put(row);
            goto out;
        }
        if (add_string(row, "protocol", e->protocol) < 0 || add_string(row, "op", e->op) < 0 ||
            add_string(row, "ref", e->ref) < 0 || add_amount(row, "amount", e->amount) < 0 ||
            add_string(row, "bureau_id", e->bureau_id) < 0 || add_string(row, "at", at) < 0)
            goto out;
    }
    pthread_mutex_unlock(&l->mu);
    return take_json(arr, out);
out:
    pthread_mutex_unlock(&l->mu);
    json_object_put(arr);
    return rc;
}

int pl_sim_ledger_txn_record(pl_sim_ledger *l, const char *ref, const pl_sim_txn *t)
{
    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    pl_sim_txn *existing = map_get(&l->txns, ref);
    if (existing) {
        *existing = *t;
        goto out;
    }
    pl_sim_txn *copy = malloc(sizeof *copy);
    if (!copy) {
        rc = PL_ERR_NOMEM;
        goto out;
    }
    *copy = *t;
    rc = map_insert(&l->txns, ref, copy);
    if (rc < 0)
        free(copy);
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int pl_sim_ledger_txn_find(pl_sim_ledger *l, const char *ref, pl_sim_txn *out)
{
    pthread_mutex_lock(&l->mu);
    pl_sim_txn *t = map_get(&l->txns, ref);
    if (t)
        *out = *t;
    pthread_mutex_unlock(&l->mu);
    return t ? PL_OK : PL_ERR_NOTFOUND;
}

int pl_sim_ledger_txn_json(pl_sim_ledger *l, const char *ref, char **out, bool *found)
{
    pl_sim_txn t;
    *found = ref && pl_sim_ledger_txn_find(l, ref, &t) == PL_OK;
    json_object *root = json_object_new_object();
    if (!root)
        return PL_ERR_NOMEM;
    json_object *jfound = json_object_new_boolean(*found);
    if (!jfound || json_object_object_add(root, "found", jfound) != 0) {
        json_object_put(jfound);
        goto nomem;
    }
    if (*found) {
        if (add_string(root, "protocol", t.protocol) < 0 || add_string(root, "op", t.op) < 0 ||
            add_string(root, "decision", t.decision) < 0)
            goto nomem;
        json_object *jreason = json_object_new_int(t.reason_code);
        if (!jreason || json_object_object_add(root, "reason_code", jreason) != 0) {
            json_object_put(jreason);
            goto nomem;
        }
        if (add_string(root, "request_id", t.request_id) < 0 ||
            add_string(root, "request_token", t.request_token) < 0 ||
            add_amount(root, "amount", t.amount) < 0)
            goto nomem;
        if (t.error_code[0] && add_string(root, "error_code", t.error_code) < 0)
            goto nomem;
    }
    return take_json(root, out);
nomem:
    json_object_put(root);
    return PL_ERR_NOMEM;
}

/* Copies src into dst when it fits (NULL counts as ""); false when it does not. */
static bool copy_fits(char *dst, size_t dstsize, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstsize)
        return false;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

int pl_sim_ledger_cyb_review(pl_sim_ledger *l, const char *ref, const char *request_id,
                             const char *merchant_id, int64_t amount, time_t answered)
{
    pl_sim_review r;
    memset(&r, 0, sizeof r);
    if (!ref || !ref[0] || !request_id || !request_id[0] ||
        !copy_fits(r.merchant_reference, sizeof r.merchant_reference, ref) ||
        !copy_fits(r.request_id, sizeof r.request_id, request_id) ||
        !copy_fits(r.merchant_id, sizeof r.merchant_id, merchant_id))
        return PL_ERR_INVALID;
    r.amount = amount;
    r.answered = answered ? answered : time(NULL);

    pthread_mutex_lock(&l->mu);
    int rc = vec_push(&l->reviews, &r, sizeof r);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int pl_sim_ledger_cyb_reviews(pl_sim_ledger *l, pl_sim_review **out, size_t *n)
{
    pthread_mutex_lock(&l->mu);
    void *copy;
    int rc = vec_copy(&l->reviews, sizeof **out, &copy, n);
    pthread_mutex_unlock(&l->mu);
    *out = copy;
    return rc;
}

int pl_sim_ledger_cyb_request(pl_sim_ledger *l, const pl_sim_cyb_request *r)
{
    /* Every string must be terminated within its field: the record is copied as it is. */
    if (!r->request_id[0] || r->napps > PL_SIM_CYB_MAX_APPS ||
        !memchr(r->merchant_id, '\0', sizeof r->merchant_id) ||
        !memchr(r->merchant_reference, '\0', sizeof r->merchant_reference) ||
        !memchr(r->request_id, '\0', sizeof r->request_id))
        return PL_ERR_INVALID;
    pl_sim_cyb_request copy = *r;
    if (!copy.answered)
        copy.answered = time(NULL);
    pthread_mutex_lock(&l->mu);
    size_t at = l->requests.n;
    int rc = vec_push(&l->requests, &copy, sizeof copy);
    if (rc == PL_OK)
        rc = position_add(&l->request_ids, copy.request_id, at);
    if (rc == PL_OK && copy.merchant_reference[0])
        rc = position_add(&l->request_refs, copy.merchant_reference, at);
    /* Not remembered after all (a position already noted for it is passed over by
     * pl_sim_ledger_cyb_requests, which checks every request it is pointed at). */
    if (rc != PL_OK)
        l->requests.n = at;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Notes that the request at position at has key (appended: positions stay in order). */
static int position_add(map *m, const char *key, size_t at)
{
    map_entry *e = map_find(m, key);
    positions *p = e ? e->val : NULL;
    if (!p || p->n == p->cap) {
        size_t cap = p ? p->cap * 2 : 1;
        positions *g = realloc(p, sizeof *g + cap * sizeof g->at[0]);
        if (!g)
            return PL_ERR_NOMEM;
        if (!p)
            g->n = 0;
        g->cap = cap;
        if (e) {
            e->val = g;
        } else if (map_insert(m, key, g) < 0) {
            free(g);
            return PL_ERR_NOMEM;
        }
        p = g;
    }
    p->at[p->n++] = at;
    return PL_OK;
}

int pl_sim_ledger_cyb_requests(pl_sim_ledger *l, const char *request_id,
                               const char *merchant_reference,
                               bool (*keep)(const pl_sim_cyb_request *r, void *arg), void *arg,
                               pl_sim_cyb_request **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    bool by_id = request_id && request_id[0];
    const char *key = by_id ? request_id : merchant_reference;
    if (!key || !key[0])
        return PL_OK;
    pthread_mutex_lock(&l->mu);
    const positions *p = map_get(by_id ? &l->request_ids : &l->request_refs, key);
    pl_sim_cyb_request *copy = p ? malloc(p->n * sizeof *copy) : NULL;
    int rc = p && !copy ? PL_ERR_NOMEM : PL_OK;
    for (size_t i = 0; copy && i < p->n; i++) {
        /* A position noted twice (a request not remembered after all, its place taken by the
         * next one), or past the end, or of another request: passed over. */
        if ((i > 0 && p->at[i] == p->at[i - 1]) || p->at[i] >= l->requests.n)
            continue;
        const pl_sim_cyb_request *r = (const pl_sim_cyb_request *)l->requests.items + p->at[i];
        if (strcmp(by_id ? r->request_id : r->merchant_reference, key) != 0)
            continue;
        if (!keep || keep(r, arg))
            copy[(*n)++] = *r;
    }
    pthread_mutex_unlock(&l->mu);
    if (*n == 0) {
        free(copy);
        copy = NULL;
    }
    *out = copy;
    return rc;
}

int pl_sim_ledger_cyb_token(pl_sim_ledger *l, const char *ref, const char *subscription_id,
                            const char *request_id, int64_t amount)
{
    pthread_mutex_lock(&l->mu);
    int rc = PL_OK;
    if (!map_get(&l->tokens, subscription_id))
        rc = map_insert(&l->tokens, subscription_id, (void *)1);
    if (rc == PL_OK) {
        pl_sim_effect e = {"CYB", "token", ref, amount, request_id};
        rc = append_locked(l, &e);
    }
    pthread_mutex_unlock(&l->mu);
    return rc < 0 ? rc : 100;
}

bool pl_sim_ledger_cyb_token_known(pl_sim_ledger *l, const char *subscription_id)
{
    pthread_mutex_lock(&l->mu);
    bool known = map_get(&l->tokens, subscription_id) != NULL;
    pthread_mutex_unlock(&l->mu);
    return known;
}

int pl_sim_ledger_cyb_auth(pl_sim_ledger *l, const char *ref, const char *request_id,
                           int64_t amount)
{
    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    if (map_get(&l->auths, request_id)) {
        /* Request IDs are unique by construction; a repeat is a caller bug. */
        rc = PL_ERR_STATE;
        goto out;
    }
    cyb_auth *a = calloc(1, sizeof *a);
    if (!a) {
        rc = PL_ERR_NOMEM;
        goto out;
    }
    a->authorized = amount;
    rc = map_insert(&l->auths, request_id, a);
    if (rc < 0) {
        free(a);
        goto out;
    }
    pl_sim_effect e = {"CYB", "auth", ref, amount, request_id};
    rc = append_locked(l, &e);
out:
    pthread_mutex_unlock(&l->mu);
    return rc < 0 ? rc : 100;
}

int pl_sim_ledger_cyb_auth_mti(pl_sim_ledger *l, const char *mti, const char *request_id)
{
    if (!mti || !mti[0] || !request_id || !request_id[0])
        return PL_ERR_INVALID;
    char *id = strdup(request_id);
    if (!id)
        return PL_ERR_NOMEM;
    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    map_entry *e = map_find(&l->auth_mtis, mti);
    if (!map_get(&l->auths, request_id)) {
        rc = PL_ERR_NOTFOUND;
    } else if (e) {
        /* The latest authorization sent with the identifier is the one whose answer a client
         * can be missing (a re-send of the same request after a timeout carries it again). */
        free(e->val);
        e->val = id;
        id = NULL;
    } else {
        rc = map_insert(&l->auth_mtis, mti, id);
        if (rc == PL_OK)
            id = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    free(id);
    return rc;
}

int pl_sim_ledger_cyb_auth_by_mti(pl_sim_ledger *l, const char *mti, char *out, size_t outsize)
{
    if (!mti || !out || outsize == 0)
        return PL_ERR_INVALID;
    int rc;
    pthread_mutex_lock(&l->mu);
    const char *id = map_get(&l->auth_mtis, mti);
    if (!id)
        rc = PL_ERR_NOTFOUND;
    else
        rc = copy_fits(out, outsize, id) ? PL_OK : PL_ERR_TOOBIG;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int pl_sim_ledger_cyb_capture(pl_sim_ledger *l, const char *ref, const char *auth_request_id,
                              const char *capture_request_id, int64_t amount)
{
    int rc;
    pthread_mutex_lock(&l->mu);
    cyb_auth *a = map_get(&l->auths, auth_request_id);
    if (!a) {
        rc = 102;
        goto out;
    }
    int64_t remaining = a->authorized - a->captured;
    if (a->reversed || remaining <= 0) {
        rc = 242;
        goto out;
    }
    if (amount > remaining) {
        rc = 235;
        goto out;
    }
    cyb_capture *c = calloc(1, sizeof *c);
    if (!c) {
        rc = PL_ERR_NOMEM;
        goto out;
    }
    c->amount = amount;
    rc = map_insert(&l->captures, capture_request_id, c);
    if (rc < 0) {
        free(c);
        goto out;
    }
    pl_sim_effect e = {"CYB", "capture", ref, amount, capture_request_id};
    rc = append_locked(l, &e);
    if (rc < 0)
        goto out;
    a->captured += amount;
    rc = 100;
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int pl_sim_ledger_cyb_credit(pl_sim_ledger *l, const char *ref, const char *capture_request_id,
                             const char *credit_request_id, int64_t amount)
{
    int rc;
    pthread_mutex_lock(&l->mu);
    cyb_capture *c = NULL;
    if (capture_request_id) {
        c = map_get(&l->captures, capture_request_id);
        if (!c) {
            rc = 102;
            goto out;
        }
        if (amount > c->amount - c->credited) {
            rc = 235;
            goto out;
        }
    }
    pl_sim_effect e = {"CYB", "credit", ref, amount, credit_request_id};
    rc = append_locked(l, &e);
    if (rc < 0)
        goto out;
    if (c)
        c->credited += amount;
    rc = 100;
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int pl_sim_ledger_cyb_reversal(pl_sim_ledger *l, const char *ref, const char *auth_request_id,
                               const char *reversal_request_id, int64_t *amount)
{
    int rc;
    pthread_mutex_lock(&l->mu);
    cyb_auth *a = map_get(&l->auths, auth_request_id);
    if (!a) {
        rc = 102;
        goto out;
    }
    if (a->reversed) {
        rc = 237;
        goto out;
    }
    if (a->captured > 0) {
        rc = 238;
        goto out;
    }
    pl_sim_effect e = {"CYB", "reversal", ref, a->authorized, reversal_request_id};
    rc = append_locked(l, &e);
    if (rc < 0)
        goto out;
    a->reversed = true;
    if (amount)
        *amount = a->authorized;
    rc = 100;
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ---- stored value (RLT) ---------------------------------------------------------------- */

const char *pl_sim_ledger_rlt_op_name(pl_sim_rlt_op op)
{
    switch (op) {
    case PL_SIM_RLT_ACTIVATE:
        return "activate";
    case PL_SIM_RLT_RECHARGE:
        return "recharge";
    case PL_SIM_RLT_PREAUTH:
        return "auth";
    case PL_SIM_RLT_POSTAUTH:
        return "deposit";
    case PL_SIM_RLT_RETURN:
        return "return";
    case PL_SIM_RLT_INQUIRY:
        return "inquiry";
    case PL_SIM_RLT_VOID:
        return "void";
    }
    return "unknown";
}

/* The next SVATransactionID, with the lock held. */
static void rlt_take_id(pl_sim_ledger *l, char *out, size_t outsize)
{
    if (l->rlt_next_id > UINT64_C(9999999999))
        l->rlt_next_id = UINT64_C(100000000);
    snprintf(out, outsize, "%llu", (unsigned long long)l->rlt_next_id++);
}

static void rlt_report(pl_sim_rlt_outcome *out, const rlt_card *c)
{
    out->card_known = true;
    out->active = c->active;
    out->account_id = c->account_id;
    out->available = c->balance - c->held;
    out->effective = c->effective;
}

/* A new account for card (inactive, balance 0), with the lock held. NULL when out of memory. */
static rlt_card *rlt_card_add(pl_sim_ledger *l, const char *card)
{
    rlt_card *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->account_id = l->rlt_next_account++;
    clock_gettime(CLOCK_REALTIME, &c->effective);
    if (map_insert(&l->rlt_cards, card, c) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static bool rlt_funds_fit(const rlt_card *c, int64_t amount)
{
    return amount <= PL_MONEY_MAX - c->balance;
}

static void rlt_activate(rlt_card *c)
{
    if (!c->active) {
        c->active = true;
        clock_gettime(CLOCK_REALTIME, &c->effective);
    }
}

/*
 * Decides op for an existing card c (NULL: unknown), with the lock held. On success fills
 * out->amount (and preauth_left) and returns the preauthorization the op touches through
 * *pa_out; the caller applies. Returns an ErrorCode or NULL.
 */
static const char *rlt_check(pl_sim_ledger *l, pl_sim_rlt_op op, rlt_card *c, int64_t amount,
                             const char *preauth_id, rlt_preauth **pa_out, pl_sim_rlt_outcome *out)
{
    *pa_out = NULL;
    if (op == PL_SIM_RLT_ACTIVATE) {
        if (c && c->active)
            return PL_SIM_RLT_E_CARD_ACTIVE;
        if (c && !rlt_funds_fit(c, amount))
            return PL_SIM_RLT_E_BALANCE_LIMIT;
        out->amount = amount;
        return NULL;
    }
    if (!c)
        return PL_SIM_RLT_E_CARD_NOT_FOUND;
    switch (op) {
    case PL_SIM_RLT_RECHARGE:
    case PL_SIM_RLT_RETURN:
        /* A recharge is how a generated (virtual) card is activated; a return needs an
         * active card. */
        if (op == PL_SIM_RLT_RETURN && !c->active)
            return PL_SIM_RLT_E_CARD_INACTIVE;
        if (!rlt_funds_fit(c, amount))
            return PL_SIM_RLT_E_BALANCE_LIMIT;
        out->amount = amount;
        return NULL;
    case PL_SIM_RLT_PREAUTH: {
        if (!c->active)
            return PL_SIM_RLT_E_CARD_INACTIVE;
        int64_t available = c->balance - c->held;
        if (available <= 0)
            return PL_SIM_RLT_E_INSUFFICIENT_FUNDS;
        /* seed: Customer Engagement approves less than asked when the balance is short. */
        out->amount = amount < available ? amount : available;
        return NULL;
    }
    case PL_SIM_RLT_POSTAUTH:
    case PL_SIM_RLT_VOID: {
        if (!c->active)
            return PL_SIM_RLT_E_CARD_INACTIVE;
        rlt_preauth *pa = preauth_id ? map_get(&l->rlt_preauths, preauth_id) : NULL;
        if (!pa || pa->card != c)
            return PL_SIM_RLT_E_TXN_NOT_FOUND;
        if (pa->voided)
            return PL_SIM_RLT_E_VOIDED;
        if (op == PL_SIM_RLT_POSTAUTH) {
            /* seed: a deposit greater than the authorization it settles is rejected. */
            if (amount > pa->held)
                return PL_SIM_RLT_E_EXCEEDS_AUTH;
            out->amount = amount;
            out->preauth_left = pa->held - amount;
        } else {
            if (pa->held == 0)
                return PL_SIM_RLT_E_SETTLED;
            out->amount = pa->held;
        }
        *pa_out = pa;
        return NULL;
    }
    case PL_SIM_RLT_INQUIRY:
        return NULL;
    case PL_SIM_RLT_ACTIVATE:
        break;
    }
    return NULL;
}

int pl_sim_ledger_rlt_apply(pl_sim_ledger *l, pl_sim_rlt_op op, const char *card, const char *ref,
                            int64_t amount, const char *preauth_id, pl_sim_rlt_outcome *out)
{
    return pl_sim_ledger_svc_apply(l, "RLT", op, card, ref, amount, preauth_id, out);
}

int pl_sim_ledger_svc_apply(pl_sim_ledger *l, const char *protocol, pl_sim_rlt_op op,
                            const char *card, const char *ref, int64_t amount,
                            const char *preauth_id, pl_sim_rlt_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (!protocol || !*protocol || !card || !*card || strlen(card) > PL_SIM_RLT_CARD_MAX ||
        amount < 0 || amount > PL_MONEY_MAX || op < PL_SIM_RLT_ACTIVATE || op > PL_SIM_RLT_VOID ||
        (op != PL_SIM_RLT_INQUIRY && (!ref || !*ref)))
        return PL_ERR_INVALID;

    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    rlt_card *c = map_get(&l->rlt_cards, card);
    rlt_preauth *pa = NULL;
    out->error = rlt_check(l, op, c, amount, preauth_id, &pa, out);
    if (out->error) {
        if (c)
            rlt_report(out, c);
        goto out;
    }
    rlt_take_id(l, out->sva_id, sizeof out->sva_id);
    if (op == PL_SIM_RLT_INQUIRY) {
        rlt_report(out, c);
        goto out;
    }

    /* Everything that can fail (memory) happens before the account changes. */
    rlt_preauth *new_pa = NULL;
    if (op == PL_SIM_RLT_PREAUTH) {
        new_pa = calloc(1, sizeof *new_pa);
        if (!new_pa || map_insert(&l->rlt_preauths, out->sva_id, new_pa) < 0) {
            free(new_pa);
            rc = PL_ERR_NOMEM;
            goto out;
        }
    }
    /* Only an activation gets this far without an account (a physical card). */
    if (!c && !(c = rlt_card_add(l, card))) {
        rc = PL_ERR_NOMEM;
        goto out;
    }
    pl_sim_effect e = {protocol, pl_sim_ledger_rlt_op_name(op), ref, out->amount, out->sva_id};
    rc = append_locked(l, &e);
    if (rc < 0) {
        /* The preauthorization stays registered but holds nothing: harmless, and rare. */
        goto out;
    }
    switch (op) {
    case PL_SIM_RLT_ACTIVATE:
    case PL_SIM_RLT_RECHARGE:
        rlt_activate(c);
        c->balance += out->amount;
        break;
    case PL_SIM_RLT_RETURN:
        c->balance += out->amount;
        break;
    case PL_SIM_RLT_PREAUTH:
        new_pa->card = c;
        new_pa->held = out->amount;
        c->held += out->amount;
        break;
    case PL_SIM_RLT_POSTAUTH:
        pa->held -= out->amount;
        c->held -= out->amount;
        c->balance -= out->amount;
        break;
    case PL_SIM_RLT_VOID:
        c->held -= pa->held;
        pa->held = 0;
        pa->voided = true;
        break;
    case PL_SIM_RLT_INQUIRY:
        break;
    }
    rlt_report(out, c);
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int pl_sim_ledger_svc_open(pl_sim_ledger *l, const char *protocol, const char *card,
                           const char *ref, pl_sim_rlt_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (!protocol || !*protocol || !card || !*card || strlen(card) > PL_SIM_RLT_CARD_MAX || !ref ||
        !*ref)
        return PL_ERR_INVALID;
    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    if (map_get(&l->rlt_cards, card)) {
        rc = PL_ERR_STATE;
        goto out;
    }
    rlt_card *c = rlt_card_add(l, card);
    if (!c) {
        rc = PL_ERR_NOMEM;
        goto out;
    }
    rlt_take_id(l, out->sva_id, sizeof out->sva_id);
    pl_sim_effect e = {protocol, "generate", ref, 0, out->sva_id};
    rc = append_locked(l, &e);
    if (rc < 0)
        goto out; /* the account exists, inactive and empty: as if generated and lost */
    rlt_report(out, c);
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

bool pl_sim_ledger_rlt_series_ok(const char *prefix, const char *sequence)
{
    return prefix && sequence && pl_card_all_digits(prefix) && pl_card_all_digits(sequence) &&
           strlen(prefix) + strlen(sequence) <= PL_SIM_RLT_SERIES_MAX;
}

/* The series entry, created (unlimited) when absent; the lock held. NULL out of memory. */
static rlt_series *series_entry(pl_sim_ledger *l, const char *prefix, const char *sequence)
{
    char key[PL_SIM_RLT_SERIES_MAX + 2];
    /* Never cut (the callers checked pl_sim_ledger_rlt_series_ok); GCC at -O3 cannot see it. */
    if ((size_t)snprintf(key, sizeof key, "%s/%s", prefix, sequence) >= sizeof key)
        return NULL;
    rlt_series *s = map_get(&l->rlt_series, key);
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->next = 1;
    s->remaining = -1;
    if (map_insert(&l->rlt_series, key, s) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

int pl_sim_ledger_rlt_generate(pl_sim_ledger *l, const char *prefix, const char *sequence,
                               char *card, size_t card_size, char *instrument,
                               size_t instrument_size, pl_sim_rlt_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (!pl_sim_ledger_rlt_series_ok(prefix, sequence) || card_size < PL_SIM_RLT_CARD_DIGITS + 1 ||
        instrument_size < 32)
        return PL_ERR_INVALID;
    card[0] = instrument[0] = '\0';
    int width = PL_SIM_RLT_CARD_DIGITS - (int)(strlen(prefix) + strlen(sequence));
    uint64_t last = 1;
    for (int i = 0; i < width; i++)
        last *= 10;
    last -= 1; /* the largest counter the width holds */

    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    rlt_series *s = series_entry(l, prefix, sequence);
    if (!s) {
        rc = PL_ERR_NOMEM;
        goto out;
    }
    /* A number some physical card already has is skipped, as a real series would. */
    while (s->remaining != 0 && s->next <= last) {
        snprintf(card, card_size, "%s%s%0*llu", prefix, sequence, width,
                 (unsigned long long)s->next);
        if (!map_get(&l->rlt_cards, card))
            break;
        s->next++;
    }
    if (s->remaining == 0 || s->next > last) {
        pl_card_wipe(card, card_size);
        card[0] = '\0';
        out->error = PL_SIM_RLT_E_ALL_GENERATED;
        goto out;
    }
    snprintf(instrument, instrument_size, "%s%s001%06llu", prefix, sequence,
             (unsigned long long)s->next);
    rlt_card *c = rlt_card_add(l, card);
    if (!c) {
        rc = PL_ERR_NOMEM;
        goto out;
    }
    char ref[PL_SIM_RLT_SERIES_MAX + 2];
    snprintf(ref, sizeof ref, "%s-%s", prefix, sequence);
    pl_sim_effect e = {"RLT", "generate", ref, 0, instrument};
    rc = append_locked(l, &e);
    if (rc < 0)
        goto out; /* the card exists, inactive and empty: as if generated and lost */
    s->next++;
    s->generated++;
    if (s->remaining > 0)
        s->remaining--;
    rlt_report(out, c);
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int pl_sim_ledger_rlt_series_set(pl_sim_ledger *l, const char *prefix, const char *sequence,
                                 int64_t remaining)
{
    if (!pl_sim_ledger_rlt_series_ok(prefix, sequence) || remaining < -1)
        return PL_ERR_INVALID;
    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    rlt_series *s = series_entry(l, prefix, sequence);
    if (s)
        s->remaining = remaining;
    else
        rc = PL_ERR_NOMEM;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void pl_sim_ledger_rlt_series_get(pl_sim_ledger *l, const char *prefix, const char *sequence,
                                  int64_t *remaining, uint64_t *generated)
{
    *remaining = -1;
    *generated = 0;
    if (!pl_sim_ledger_rlt_series_ok(prefix, sequence))
        return;
    char key[PL_SIM_RLT_SERIES_MAX + 2];
    if ((size_t)snprintf(key, sizeof key, "%s/%s", prefix, sequence) >= sizeof key)
        return; /* never: checked above */
    pthread_mutex_lock(&l->mu);
    rlt_series *s = map_get(&l->rlt_series, key);
    if (s) {
        *remaining = s->remaining;
        *generated = s->generated;
    }
    pthread_mutex_unlock(&l->mu);
}

static bool fault_order_ok(const char *order)
{
    return order && order[0] && strlen(order) <= PL_SIM_RLT_ORDER_MAX;
}

int pl_sim_ledger_rlt_fault_set(pl_sim_ledger *l, const char *order, const pl_sim_rlt_fault *f)
{
    if (!fault_order_ok(order) || !f || strlen(f->op) >= sizeof f->op)
        return PL_ERR_INVALID;
    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    rlt_fault *e = map_get(&l->rlt_faults, order);
    if (!e && (e = calloc(1, sizeof *e)) && map_insert(&l->rlt_faults, order, e) < 0) {
        free(e);
        e = NULL;
    }
    if (e) {
        e->f = *f;
        e->armed = true;
    } else {
        rc = PL_ERR_NOMEM;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

bool pl_sim_ledger_rlt_fault_take(pl_sim_ledger *l, const char *order, const char *op,
                                  pl_sim_rlt_fault *f)
{
    if (!fault_order_ok(order) || !op)
        return false;
    bool taken = false;
    pthread_mutex_lock(&l->mu);
    rlt_fault *e = map_get(&l->rlt_faults, order);
    if (e && e->armed && (!e->f.op[0] || strcmp(e->f.op, op) == 0)) {
        *f = e->f;
        e->armed = false;
        taken = true;
    }
    pthread_mutex_unlock(&l->mu);
    return taken;
}

static bool soft_decline_ref_ok(const char *ref)
{
    return ref && ref[0] && strlen(ref) <= PL_SIM_CYB_REF_MAX;
}

int pl_sim_ledger_cyb_soft_decline_set(pl_sim_ledger *l, const char *ref, int reason)
{
    if (!soft_decline_ref_ok(ref) || (reason != 200 && reason != 230 && reason != 520))
        return PL_ERR_INVALID;
    int rc = PL_OK;
    pthread_mutex_lock(&l->mu);
    cyb_soft_decline *e = map_get(&l->soft_declines, ref);
    if (!e && (e = calloc(1, sizeof *e)) && map_insert(&l->soft_declines, ref, e) < 0) {
        free(e);
        e = NULL;
    }
    if (e) {
        e->reason = reason;
        e->armed = true;
    } else {
        rc = PL_ERR_NOMEM;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

bool pl_sim_ledger_cyb_soft_decline_take(pl_sim_ledger *l, const char *ref, int *reason)
{
    if (!soft_decline_ref_ok(ref) || !reason)
        return false;
    bool taken = false;
    pthread_mutex_lock(&l->mu);
    cyb_soft_decline *e = map_get(&l->soft_declines, ref);
    if (e && e->armed) {
        *reason = e->reason;
        e->armed = false;
        taken = true;
    }
    pthread_mutex_unlock(&l->mu);
    return taken;
}
