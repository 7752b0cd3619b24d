/*
 * reqbuild.c: request messages from flags or text, message keys, request ids and topic names.
 *
 * Flags map to contract fields through one table; the builder walks it in order, so the JSON
 * it produces has a stable field order (json-c keeps insertion order) that reads like the
 * contract's table.
 */
#include "reqbuild.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef enum flag_kind { FLAG_STRING, FLAG_INT, FLAG_BOOL } flag_kind;

typedef struct flag_def {
    const char *flag;  /* "--amount" */
    const char *field; /* "amount", or "card.number" for a nested field */
    flag_kind kind;
    bool secret; /* card data: never echoed */
} flag_def;

/* Index 0 must stay --request-id and 1 --type: the builder gives them defaults. */
static const flag_def flags[PL_REQBUILD_NFLAGS] = {
    {"--request-id", "request_id", FLAG_STRING, false},
    {"--type", "type", FLAG_STRING, false},
    {"--company", "company", FLAG_INT, false},
    {"--order", "order", FLAG_STRING, false},
    {"--pay-seq", "pay_seq", FLAG_INT, false},
    {"--service", "service", FLAG_STRING, false},
    {"--pay-type", "pay_type", FLAG_STRING, false},
    {"--amount", "amount", FLAG_STRING, false},
    {"--currency", "currency", FLAG_STRING, false},
    {"--mode", "mode", FLAG_STRING, false},
    {"--card-number", "card.number", FLAG_STRING, true},
    {"--exp-month", "card.exp_month", FLAG_INT, false},
    {"--exp-year", "card.exp_year", FLAG_INT, false},
    {"--cvv", "card.cvv", FLAG_STRING, true},
    {"--card-type", "card.type", FLAG_STRING, false},
    {"--token", "card.token", FLAG_STRING, false},
    {"--postal-code", "bill_to.postal_code", FLAG_STRING, false},
    {"--bill-country", "bill_to.country", FLAG_STRING, false},
    {"--auth-ref", "auth_ref.request_id", FLAG_STRING, false},
    {"--capture-ref", "capture_ref.request_id", FLAG_STRING, false},
    /* Stored value (svc worker). */
    {"--svc-card-number", "svc.card_number", FLAG_STRING, true},
    {"--order-line", "svc.order_line", FLAG_INT, false},
    {"--issue-amount", "svc.issue_amount", FLAG_STRING, false},
    {"--virtual", "svc.virtual", FLAG_BOOL, false},
};

static int flag_index(const char *flag)
{
    for (int i = 0; i < PL_REQBUILD_NFLAGS; i++) {
        if (strcmp(flags[i].flag, flag) == 0)
            return i;
    }
    return -1;
}

int pl_reqbuild_set(pl_reqbuild *b, const char *flag, const char *value, char *errstr,
                    size_t errstr_size)
{
    int i = flag_index(flag);
    if (i < 0)
        return PL_ERR_NOTFOUND;
    if (b->value[i])
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s given twice", flag);
    b->value[i] = strdup(value);
    if (!b->value[i])
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return PL_OK;
}

bool pl_reqbuild_is_secret(const char *flag)
{
    int i = flag_index(flag);
    return i >= 0 && flags[i].secret;
}

bool pl_reqbuild_empty(const pl_reqbuild *b)
{
    for (int i = 0; i < PL_REQBUILD_NFLAGS; i++) {
        if (b->value[i])
            return false;
    }
    return true;
}

void pl_reqbuild_free(pl_reqbuild *b)
{
    for (int i = 0; i < PL_REQBUILD_NFLAGS; i++) {
        if (b->value[i]) {
            explicit_bzero(b->value[i], strlen(b->value[i]));
            free(b->value[i]);
            b->value[i] = NULL;
        }
    }
}

void pl_reqbuild_print_flags(FILE *out)
{
    for (int i = 0; i < PL_REQBUILD_NFLAGS; i++)
        fprintf(out, "      %-18s %s%s\n", flags[i].flag, flags[i].field,
                flags[i].kind == FLAG_INT    ? " (integer)"
                : flags[i].kind == FLAG_BOOL ? " (true or false)"
                                             : "");
}

/* Whole numbers only: an optional '-' and 1-9 digits, so the value fits an int. */
static bool parse_int(const char *s, int *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    size_t n = 0;
    long v = 0;
    while (p[n] >= '0' && p[n] <= '9') {
        if (n == 9)
            return false;
        v = v * 10 + (p[n] - '0');
        n++;
    }
    if (n == 0 || p[n] != '\0')
        return false;
    *out = (int)(neg ? -v : v);
    return true;
}

static const char *default_type(const char *worker)
{
    if (strcmp(worker, "auth") == 0)
        return "auth";
    if (strcmp(worker, "deposit") == 0)
        return "debit";
    if (strcmp(worker, "reversal") == 0)
        return "reversal";
    return NULL;
}

/*
 * The object a dotted field lives in ("card" of "card.number"), created on first use, and the
 * key within it. Nesting is one level deep, as every flag in the table is.
 */
static json_object *field_parent(json_object *root, const char *field, const char **key)
{
    const char *dot = strchr(field, '.');
    if (!dot) {
        *key = field;
        return root;
    }
    char name[32];
    size_t n = (size_t)(dot - field);
    if (n >= sizeof name)
        return NULL;
    memcpy(name, field, n);
    name[n] = '\0';
    *key = dot + 1;

    json_object *child = NULL;
    if (json_object_object_get_ex(root, name, &child))
        return child;
    child = json_object_new_object();
    if (!child || json_object_object_add(root, name, child) != 0) {
        json_object_put(child);
        return NULL;
    }
    return child;
}

int pl_reqbuild_json(const pl_reqbuild *b, const char *worker, json_object **out, char *errstr,
                     size_t errstr_size)
{
    int rc = PL_OK;
    char id[64];
    json_object *root = json_object_new_object();
    if (!root)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");

    const char *request_id = b->value[0];
    if (!request_id) {
        rc = pl_reqbuild_new_id(id, sizeof id);
        if (rc != PL_OK) {
            pl_err_set(rc, errstr, errstr_size, "cannot generate a request id");
            goto out;
        }
        request_id = id;
    }
    const char *type = b->value[1] ? b->value[1] : default_type(worker);
    if (!type) {
        rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "--type is required for the %s worker",
                        worker);
        goto out;
    }
    if (json_object_object_add(root, "v", json_object_new_int(1)) != 0 ||
        json_object_object_add(root, "request_id", json_object_new_string(request_id)) != 0 ||
        json_object_object_add(root, "type", json_object_new_string(type)) != 0) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }

    for (int i = 2; i < PL_REQBUILD_NFLAGS; i++) {
        const char *value = b->value[i];
        if (!value)
            continue;
        const char *key = NULL;
        json_object *parent = field_parent(root, flags[i].field, &key);
        if (!parent) {
            rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
        json_object *jv = NULL;
        if (flags[i].kind == FLAG_INT) {
            int n = 0;
            if (!parse_int(value, &n)) {
                /* The value is not echoed: an operator may have put a card number here. */
                rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: expected a whole number",
                                flags[i].flag);
                goto out;
            }
            jv = json_object_new_int(n);
        } else if (flags[i].kind == FLAG_BOOL) {
            if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
                rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: expected true or false",
                                flags[i].flag);
                goto out;
            }
            jv = json_object_new_boolean(strcmp(value, "true") == 0);
        } else {
            jv = json_object_new_string(value);
        }
        if (!jv || json_object_object_add(parent, key, jv) != 0) {
            json_object_put(jv);
            rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
    }
    *out = root;
    root = NULL;
out:
    json_object_put(root);
    return rc;
}

int pl_reqbuild_parse(const char *text, size_t len, json_object **out, char *errstr,
                      size_t errstr_size)
{
    int rc = PL_OK;
    json_object *obj = NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);

    obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (!obj || jerr != json_tokener_success) {
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "not valid JSON: %s",
                        jerr == json_tokener_continue ? "unexpected end of input"
                                                      : json_tokener_error_desc(jerr));
        goto out;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (!strchr(" \t\r\n", text[i])) {
            rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                            "not valid JSON: text after the object at byte %zu", i);
            goto out;
        }
    }
    if (!json_object_is_type(obj, json_type_object)) {
        rc =
            pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "a request must be a JSON object, not %s",
                       json_type_to_name(json_object_get_type(obj)));
        goto out;
    }
    *out = obj;
    obj = NULL;
out:
    json_object_put(obj);
    json_tokener_free(tok);
    return rc;
}

int pl_reqbuild_new_id(char *out, size_t outsize)
{
    if (outsize < 32)
        return PL_ERR_TOOBIG;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return PL_ERR_IO;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long ms =
        (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
    snprintf(out, outsize, "ctl-%llx-%08x", ms, (unsigned)rnd);
    return PL_OK;
}

const char *pl_reqbuild_request_id(json_object *obj)
{
    json_object *id = NULL;
    if (!json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, "request_id", &id) ||
        !json_object_is_type(id, json_type_string))
        return NULL;
    return json_object_get_string(id);
}

/* A key part: strings as they are, integers in decimal; anything else is missing. */
static const char *key_part(json_object *obj, const char *name, char *buf, size_t bufsize)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, name, &v))
        return NULL;
    if (json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    if (json_object_is_type(v, json_type_int)) {
        snprintf(buf, bufsize, "%lld", (long long)json_object_get_int64(v));
        return buf;
    }
    return NULL;
}

int pl_reqbuild_key(json_object *req, char *out, size_t outsize)
{
    char cbuf[24], obuf[24];
    if (!json_object_is_type(req, json_type_object))
        return PL_ERR_NOTFOUND;
    const char *company = key_part(req, "company", cbuf, sizeof cbuf);
    const char *order = key_part(req, "order", obuf, sizeof obuf);
    if (!company || !order)
        return PL_ERR_NOTFOUND;
    int n = snprintf(out, outsize, "%s-%s", company, order);
    if (n < 0 || (size_t)n >= outsize)
        return PL_ERR_TOOBIG;
    return PL_OK;
}

bool pl_reqbuild_worker_ok(const char *worker)
{
    static const char *const workers[] = {"auth", "deposit", "reversal", "svc"};
    for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++) {
        if (strcmp(worker, workers[i]) == 0)
            return true;
    }
    return false;
}

int pl_reqbuild_topic(const char *prefix, const char *worker, pl_topic_kind kind, char *out,
                      size_t outsize)
{
    int n;
    if (strcmp(worker, "dmupdate") == 0 || strcmp(worker, "dm") == 0) {
        if (kind != PL_TOPIC_REPLY)
            return PL_ERR_INVALID;
        n = snprintf(out, outsize, "%s.dm.decision", prefix);
    } else if (pl_reqbuild_worker_ok(worker)) {
        static const char *const suffix[] = {"request", "reply", "request.dlq"};
        n = snprintf(out, outsize, "%s.%s.%s", prefix, worker, suffix[kind]);
    } else {
        return PL_ERR_INVALID;
    }
    if (n < 0 || (size_t)n >= outsize)
        return PL_ERR_TOOBIG;
    return PL_OK;
}
