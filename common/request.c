/*
 * request.c: decoding and validating request messages (CONTRACT.md §1 "Request fields").
 *
 * The decoder walks the JSON object with json-c and checks every field against the contract,
 * adding one pl_field_error per problem instead of stopping at the first, so an `invalid`
 * reply lists everything the upstream system has to fix. Checks that the JSON Schemas in
 * schema/messages/ can express are kept identical to them (tests/schema/check_schemas.py runs
 * the samples through both); the decoder adds what a schema cannot say: the Luhn check, the
 * expiry date against the clock and calendar dates. Unknown fields are ignored so upstream
 * systems can send newer, additive versions of the contract.
 *
 * Card data: error messages never quote a card number, CVV or 3-D Secure value.
 */
#include "request.h"

#include <json-c/json.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "card.h"
#include "jsonutil.h"
#include "money.h"

/* The contract's amount rule, quoted in errors so the upstream developer sees the regex. */
#define AMOUNT_RULE "must match ^\\d{1,13}\\.\\d{2}$"
#define MAX_ITEMS 100
/* Nesting deeper than this is not a request (the contract nests three levels). */
#define JSON_DEPTH 64

/*
 * What a field reader found. F_CARD is an F_BAD whose value held a card number: the callers
 * treat both alike, and pl_request_decode uses the difference to echo a masked request_id.
 */
enum { F_CARD = -2, F_BAD = -1, F_ABSENT = 0, F_OK = 1 };

/* Room for a path or a message before it is cut to its pl_field_error field: the cut is
 * pl_card_scrub_copy_full's, which drops what a card number cut there would leave in clear. */
#define ERR_TEXT_MAX 512

void pl_errors_add(pl_errors *errs, const char *field, const char *fmt, ...)
{
    if (!errs || errs->n >= PL_MAX_FIELD_ERRORS)
        return;
    pl_field_error *e = &errs->e[errs->n++];
    /* Both may hold the upstream system's text (a member name, a value): a card number in
     * either is masked, and one cut by the field's size loses its head too (15 digits of 16
     * fail Luhn, so no scrub after the cut would find them; the last is the check digit).
     * Fully: the errors go into the reply and the dead-letter copy, and the upstream system's
     * text may hold a number the Luhn scan does not see (an expiry glued to it, or split by
     * characters a bureau message drops), which the decoder refuses. */
    const char *f = field ? field : "";
    (void)pl_card_scrub_copy_full(e->field, sizeof e->field, f, strlen(f), PL_MASK_LAST4);
    char msg[ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    if (n >= 0 && (size_t)n >= sizeof msg)
        len = pl_card_cut_tail(msg, len); /* cut by msg itself */
    (void)pl_card_scrub_copy_full(e->error, sizeof e->error, msg, len, PL_MASK_LAST4);
}

/* "prefix.key", or "key" at the top level. Paths longer than the buffer are truncated. */
static void join_path(char *buf, size_t size, const char *prefix, const char *key)
{
    if (prefix && prefix[0])
        snprintf(buf, size, "%s.%s", prefix, key);
    else
        snprintf(buf, size, "%s", key);
}

static void add_err(pl_errors *errs, const char *prefix, const char *key, const char *fmt, ...)
    PL_PRINTF(4, 5);
static void add_err(pl_errors *errs, const char *prefix, const char *key, const char *fmt, ...)
{
    char path[ERR_TEXT_MAX]; /* cut to the field's size by pl_errors_add */
    char msg[ERR_TEXT_MAX];
    join_path(path, sizeof path, prefix, key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pl_errors_add(errs, path, "%s", msg);
}

/*
 * Looks a member up. A member that is present with the value null counts as present (and
 * then fails its type check): the schemas do not allow null either, and treating null as
 * absent would let a broken upstream serializer drop required data unnoticed.
 */
static bool member(json_object *obj, const char *key, json_object **val)
{
    *val = NULL;
    return obj && json_object_object_get_ex(obj, key, val);
}

/*
 * The string fields meant to carry a card number (card.number, svc.card_number), and the 3-D
 * Secure cryptograms (CAVV, XID, UCAF: base64 or hex of random bytes) that are never stored,
 * echoed or logged and lose their values in the dead-letter copy, so searching them would only
 * refuse a genuine authentication now and then (a hex cryptogram holds a Luhn-valid run of 13+
 * digits about once in two hundred) and protect nothing. The bureau adapters write these
 * unchecked (pl_xml_add_clean_text_unchecked) and check every other value as this does: the
 * other results (commerce_indicator, eci: short words and codes) are searched, so that what
 * passes here is never refused there.
 */
static bool may_hold_card_number(const char *prefix, const char *key)
{
    return (strcmp(prefix, "card") == 0 && strcmp(key, "number") == 0) ||
           (strcmp(prefix, "svc") == 0 && strcmp(key, "card_number") == 0) ||
           (strcmp(prefix, "authentication") == 0 &&
            (strcmp(key, "cavv") == 0 || strcmp(key, "xid") == 0 || strcmp(key, "ucaf_data") == 0));
}

/*
 * True when s[0, len) holds a card number a field of a request must not carry:
 * pl_card_contains_full, which also reads the value as the bureau gets it (the characters off
 * the keyboard gone, the rule pl_xml_add_clean_text applies: "5555é5555é5555é4444" or digits
 * with a control character between them would reach it as a clean card number) and as a
 * reader does (full-width digits too), and finds one with its expiry date glued to it. Out of
 * memory, a value that needs a view counts as holding one: refusing it is the safe mistake.
 */
static bool holds_card_number(const char *s, size_t len)
{
    return pl_card_contains_full(s, len);
}

/*
 * Reads a string member without copying it. Returns F_OK with *s and *len set, F_ABSENT, or
 * F_BAD / F_CARD after recording the error. Embedded NUL characters are refused because every
 * consumer of these values (C strings, XML, SQL parameters) would silently cut the value at
 * the NUL. A card number (holds_card_number: 13-19 digits passing Luhn, separators allowed,
 * also once the characters bureau XML drops are gone, or with its expiry date glued to it) is
 * refused in every field but the few meant for one (PCI DSS 3.3, 3.4): whatever the upstream
 * system put in an order number, a name or a request_id would otherwise be echoed in the
 * reply, stored, logged and passed to the bureau. The value is not quoted in the error.
 */
static int get_raw(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                   bool required, const char **s, size_t *len)
{
    json_object *val;
    if (!member(obj, key, &val)) {
        if (required)
            add_err(errs, prefix, key, "is required");
        return F_ABSENT;
    }
    if (!json_object_is_type(val, json_type_string)) {
        add_err(errs, prefix, key, "must be a string");
        return F_BAD;
    }
    *s = json_object_get_string(val);
    *len = (size_t)json_object_get_string_len(val);
    if (strlen(*s) != *len) {
        add_err(errs, prefix, key, "must not contain NUL characters");
        return F_BAD;
    }
    if (!may_hold_card_number(prefix, key) && holds_card_number(*s, *len)) {
        /* A token that is a card number is the classic mix-up of an upstream system. */
        bool token = strcmp(prefix, "card") == 0 && strcmp(key, "token") == 0;
        add_err(errs, prefix, key, "%s",
                token && pl_card_is_number(*s, *len) ? PL_REQUEST_ERR_CARD_NOT_TOKEN
                                                     : PL_REQUEST_ERR_CARD_NUMBER);
        return F_CARD;
    }
    return F_OK;
}

/* The number of characters (code points) of valid UTF-8: the bytes that start one. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/*
 * Reads a string member of at most max_chars characters into buf (whose size includes the
 * NUL, as in request.h). The contract's limits are in characters, as JSON Schema's maxLength counts
 * them, not in bytes: "千代田区丸の内" is 7 characters and 21 bytes of UTF-8. A free-text field's
 * buffer holds 4 bytes a character (PL_TEXT_SIZE); one sized a byte a character (codes,
 * identifiers, and the fields request.h says) refuses non-ASCII text that does not fit its bytes,
 * saying so. A value that does not fit is an error, never truncated: a cut address or order number
 * would be sent to the bureau as if it were the real one. nonempty refuses "".
 */
static int get_text(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                    bool required, bool nonempty, char *buf, size_t bufsize, size_t max_chars)
{
    const char *s;
    size_t len;
    int rc = get_raw(errs, obj, prefix, key, required, &s, &len);
    if (rc != F_OK)
        return rc;
    /* json-c checked the UTF-8 (JSON_TOKENER_VALIDATE_UTF8), so counting lead bytes is exact. */
    if (utf8_chars(s, len) > max_chars) {
        add_err(errs, prefix, key, "must be at most %zu characters", max_chars);
        return F_BAD;
    }
    if (len >= bufsize) {
        add_err(errs, prefix, key, "must be at most %zu bytes of UTF-8", bufsize - 1);
        return F_BAD;
    }
    if (nonempty && len == 0) {
        add_err(errs, prefix, key, "must not be empty");
        return F_BAD;
    }
    memcpy(buf, s, len + 1);
    return F_OK;
}

/* get_text for a buffer sized a byte a character of the field's limit. */
static int get_str(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                   bool required, bool nonempty, char *buf, size_t bufsize)
{
    return get_text(errs, obj, prefix, key, required, nonempty, buf, bufsize, bufsize - 1);
}

/* A string member checked by a predicate; msg is the error when the predicate fails. */
static int get_checked(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                       bool required, bool (*ok)(const char *, size_t), const char *msg, char *buf,
                       size_t bufsize)
{
    const char *s;
    size_t len;
    int rc = get_raw(errs, obj, prefix, key, required, &s, &len);
    if (rc != F_OK)
        return rc;
    if (!ok(s, len) || len >= bufsize) {
        add_err(errs, prefix, key, "%s", msg);
        return F_BAD;
    }
    memcpy(buf, s, len + 1);
    return F_OK;
}

/*
 * Reads an integer member in [min, max]. JSON has one number type, and JSON Schema counts
 * 3.0 as an integer, so an integral double is accepted too (the schemas and the decoder must
 * agree on what is valid). range_msg names the allowed range in the error.
 */
static int get_int(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                   bool required, int64_t min, int64_t max, const char *range_msg, int *out)
{
    json_object *val;
    if (!member(obj, key, &val)) {
        if (required)
            add_err(errs, prefix, key, "is required");
        return F_ABSENT;
    }
    int64_t v;
    if (json_object_is_type(val, json_type_int)) {
        v = json_object_get_int64(val); /* clamps to INT64_MIN/MAX, which the range refuses */
    } else if (json_object_is_type(val, json_type_double)) {
        double d = json_object_get_double(val);
        if (!isfinite(d) || d != floor(d)) {
            add_err(errs, prefix, key, "must be an integer");
            return F_BAD;
        }
        /* Beyond ±2^62 the exact value no longer matters: it is out of every range here. */
        v = d > 4e18 ? INT64_MAX : d < -4e18 ? INT64_MIN : (int64_t)d;
    } else {
        add_err(errs, prefix, key, "must be an integer");
        return F_BAD;
    }
    if (v < min || v > max) {
        add_err(errs, prefix, key, "%s", range_msg);
        return F_BAD;
    }
    *out = (int)v;
    return F_OK;
}

static int get_bool(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                    bool *out)
{
    json_object *val;
    if (!member(obj, key, &val))
        return F_ABSENT;
    if (!json_object_is_type(val, json_type_boolean)) {
        add_err(errs, prefix, key, "must be a boolean");
        return F_BAD;
    }
    *out = json_object_get_boolean(val);
    return F_OK;
}

/* A contract amount ("120.00"), parsed into minor units. */
static int get_amount(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                      bool *has, int64_t *out)
{
    const char *s;
    size_t len;
    int rc = get_raw(errs, obj, prefix, key, false, &s, &len);
    if (rc != F_OK)
        return rc;
    int64_t v;
    if (pl_money_parse(s, &v) != 0) {
        add_err(errs, prefix, key, AMOUNT_RULE);
        return F_BAD;
    }
    *has = true;
    *out = v;
    return F_OK;
}

static int get_object(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                      json_object **out)
{
    if (!member(obj, key, out))
        return F_ABSENT;
    if (!json_object_is_type(*out, json_type_object)) {
        add_err(errs, prefix, key, "must be an object");
        *out = NULL;
        return F_BAD;
    }
    return F_OK;
}

/*
 * Zeroes the text of a string member in json-c's own buffer. json-c frees without wiping, so
 * without this a card number or CVV would linger in freed heap memory after every request.
 */
static void wipe_member(json_object *obj, const char *key)
{
    json_object *val;
    if (obj && json_object_object_get_ex(obj, key, &val) &&
        json_object_is_type(val, json_type_string))
        pl_card_wipe((char *)json_object_get_string(val), (size_t)json_object_get_string_len(val));
}

static json_object *object_member(json_object *obj, const char *key)
{
    json_object *val;
    if (obj && json_object_object_get_ex(obj, key, &val) &&
        json_object_is_type(val, json_type_object))
        return val;
    return NULL;
}

/*
 * Walks every value below o: scalar(parent, key or index, value) for each string, number,
 * boolean or null (NULL for a JSON null), then object(o) for each object once its members
 * are done. Both may be NULL. A callback may replace the value it is given in its parent
 * (json_object_object_add on the same key, json_object_array_put_idx): the walk has finished
 * with that value. Returns the first non-zero callback result. The depth is bounded by the
 * parser (JSON_DEPTH).
 */
typedef struct walker {
    int (*scalar)(json_object *parent, const char *key, size_t idx, json_object *val);
    int (*object)(json_object *obj);
} walker;

static int walk(json_object *o, const walker *w)
{
    int rc = 0;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, val)
        {
            bool nested = json_object_is_type(val, json_type_object) ||
                          json_object_is_type(val, json_type_array);
            rc = nested ? walk(val, w) : w->scalar ? w->scalar(o, key, 0, val) : 0;
            if (rc)
                return rc;
        }
        return w->object ? w->object(o) : 0;
    }
    size_t n = json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *val = json_object_array_get_idx(o, i);
        bool nested =
            json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array);
        rc = nested ? walk(val, w) : w->scalar ? w->scalar(o, NULL, i, val) : 0;
    }
    return rc;
}

/* Zeroes a string value that holds a card number (where a field refused it, or anywhere). */
static int wipe_if_card(json_object *parent, const char *key, size_t idx, json_object *val)
{
    (void)parent, (void)key, (void)idx;
    if (json_object_is_type(val, json_type_string)) {
        char *s = (char *)json_object_get_string(val);
        size_t len = (size_t)json_object_get_string_len(val);
        if (holds_card_number(s, len))
            pl_card_wipe(s, len);
    }
    return 0;
}

static int blank_security_codes(json_object *o, bool blank);

/* Wipes every sensitive value of a parsed request before the tree is freed. */
static void wipe_sensitive(json_object *root)
{
    static const walker card_numbers = {.scalar = wipe_if_card};
    (void)walk(root, &card_numbers);
    (void)blank_security_codes(root, false); /* wipes only: it cannot fail */
    json_object *card = object_member(root, "card");
    wipe_member(card, "number");
    wipe_member(card, "cvv");
    wipe_member(object_member(root, "svc"), "card_number");
    json_object *authn = object_member(root, "authentication");
    if (authn) {
        json_object_object_foreach(authn, key, val)
        {
            (void)val;
            wipe_member(authn, key);
        }
    }
}

/* One of a fixed list of words, copied into buf. */
static int get_enum(pl_errors *errs, json_object *obj, const char *prefix, const char *key,
                    bool required, const char *const *words, const char *msg, char *buf,
                    size_t bufsize)
{
    const char *s;
    size_t len;
    int rc = get_raw(errs, obj, prefix, key, required, &s, &len);
    if (rc != F_OK)
        return rc;
    for (size_t i = 0; words[i]; i++) {
        if (strcmp(s, words[i]) == 0 && len < bufsize) {
            memcpy(buf, s, len + 1);
            return F_OK;
        }
    }
    add_err(errs, prefix, key, "%s", msg);
    return F_BAD;
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool all_upper(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}

/* request_id: 1-50 characters of [A-Za-z0-9._:-]. */
static bool request_id_ok(const char *s, size_t len);

bool pl_request_id_ok(const char *s)
{
    return s && request_id_ok(s, strlen(s)) && !holds_card_number(s, strlen(s));
}

static bool request_id_ok(const char *s, size_t len)
{
    if (len < 1 || len > 50)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool currency_ok(const char *s, size_t len)
{
    return len == 3 && all_upper(s, len);
}

static bool country_ok(const char *s, size_t len)
{
    return len == 2 && all_upper(s, len);
}

static bool cvv_ok(const char *s, size_t len)
{
    return (len == 3 || len == 4) && all_digits(s, len);
}

static bool svc_card_ok(const char *s, size_t len)
{
    return len >= 1 && len <= 20 && all_digits(s, len);
}

/* YYYY-MM-DD naming a real calendar day (the schema checks only the shape). */
static bool date_ok(const char *s, size_t len)
{
    if (len != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) || !all_digits(s + 5, 2) ||
        !all_digits(s + 8, 2))
        return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = mdays[m - 1] + (m == 2 && leap ? 1 : 0);
    return d <= max;
}

/* ---- request types per worker ---------------------------------------------------------- */

static const struct {
    const char *worker;
    const char *name;
    pl_req_type type;
} TYPES[] = {
    {"auth", "auth", PL_REQ_AUTH},
    {"auth", "token", PL_REQ_TOKEN},
    {"deposit", "debit", PL_REQ_DEBIT},
    {"deposit", "credit", PL_REQ_CREDIT},
    {"reversal", "reversal", PL_REQ_REVERSAL},
    {"svc", "generate", PL_REQ_SVC_GENERATE},
    {"svc", "activate", PL_REQ_SVC_ACTIVATE},
    {"svc", "recharge", PL_REQ_SVC_RECHARGE},
    {"svc", "auth", PL_REQ_SVC_AUTH},
    {"svc", "deposit", PL_REQ_SVC_DEPOSIT},
    {"svc", "return", PL_REQ_SVC_RETURN},
    {"svc", "balance", PL_REQ_SVC_BALANCE},
};

const char *pl_req_type_name(pl_req_type t)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (TYPES[i].type == t)
            return TYPES[i].name;
    return "unknown";
}

static bool known_worker(const char *worker)
{
    for (size_t i = 0; worker && i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(TYPES[i].worker, worker) == 0)
            return true;
    return false;
}

static pl_req_type lookup_type(const char *worker, const char *name)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(TYPES[i].worker, worker) == 0 && strcmp(TYPES[i].name, name) == 0)
            return TYPES[i].type;
    return PL_REQ_UNKNOWN;
}

/* Operations that move money need an amount (token, balance and generate do not). */
static bool needs_amount(pl_req_type t)
{
    switch (t) {
    case PL_REQ_AUTH:
    case PL_REQ_DEBIT:
    case PL_REQ_CREDIT:
    case PL_REQ_REVERSAL:
    case PL_REQ_SVC_ACTIVATE:
    case PL_REQ_SVC_RECHARGE:
    case PL_REQ_SVC_AUTH:
    case PL_REQ_SVC_DEPOSIT:
    case PL_REQ_SVC_RETURN:
        return true;
    default:
        return false;
    }
}

static bool is_svc(pl_req_type t)
{
    return t >= PL_REQ_SVC_GENERATE && t <= PL_REQ_SVC_BALANCE;
}

/* ---- the parts of a request ------------------------------------------------------------ */

static void decode_card(pl_errors *errs, json_object *obj, time_t now, pl_card_data *c)
{
    const char *P = "card";
    c->present = true;

    const char *num;
    size_t numlen;
    int has_number = get_raw(errs, obj, P, "number", false, &num, &numlen);
    if (has_number == F_OK) {
        /* Never quote the number in the error: it may be a real PAN with a typo. */
        if (numlen < 12 || numlen > 19 || !all_digits(num, numlen)) {
            add_err(errs, P, "number", "must be 12-19 digits");
        } else {
            memcpy(c->number, num, numlen + 1);
            if (!pl_card_luhn_ok(c->number))
                add_err(errs, P, "number", "fails the Luhn check");
        }
    }
    int has_token = get_str(errs, obj, P, "token", false, true, c->token, sizeof c->token);

    if (has_number != F_ABSENT && has_token != F_ABSENT)
        add_err(errs, "", P, "must have either number or token, not both");
    else if (has_number == F_ABSENT && has_token == F_ABSENT)
        add_err(errs, "", P, "must have number or token");

    /* With a number the expiry date is part of the card; a token carries its own. */
    bool need_exp = has_number != F_ABSENT;
    int m = get_int(errs, obj, P, "exp_month", false, 1, 12, "must be from 1 to 12", &c->exp_month);
    int y = get_int(errs, obj, P, "exp_year", false, 1000, 9999, "must be a 4-digit year",
                    &c->exp_year);
    if (need_exp && m == F_ABSENT)
        add_err(errs, P, "exp_month", "is required with card.number");
    if (need_exp && y == F_ABSENT)
        add_err(errs, P, "exp_year", "is required with card.number");
    if (m == F_OK && y == F_OK) {
        /* A card is valid through the last day of its expiry month (UTC). */
        struct tm tm;
        if (gmtime_r(&now, &tm)) {
            int cur = (tm.tm_year + 1900) * 12 + tm.tm_mon;
            int exp = c->exp_year * 12 + (c->exp_month - 1);
            if (exp < cur)
                add_err(errs, "", P, "card has expired");
        }
    }

    const char *cvv;
    size_t cvvlen;
    if (get_raw(errs, obj, P, "cvv", false, &cvv, &cvvlen) == F_OK) {
        if (cvv_ok(cvv, cvvlen))
            memcpy(c->cvv, cvv, cvvlen + 1);
        else
            add_err(errs, P, "cvv", "must be 3 or 4 digits");
    }
    (void)get_str(errs, obj, P, "type", false, true, c->type, sizeof c->type);
    (void)get_text(errs, obj, P, "holder", false, false, c->holder, sizeof c->holder,
                   PL_HOLDER_CHARS);
}

static const char *const SHIPPING_METHODS[] = {"sameday", "oneday", "twoday", "threeday", "lowcost",
                                               "pickup",  "other",  "none",   NULL};

/* Decodes an address into a new *out (left NULL out of memory). Returns 0 or PL_ERR_NOMEM. */
static int decode_address(pl_errors *errs, json_object *obj, const char *P, bool ship,
                          pl_address **out)
{
    pl_address *a = *out = calloc(1, sizeof *a);
    if (!a)
        return PL_ERR_NOMEM;
    /* Limits in characters from request.h, which follows the contract (and the bureaus). */
    const struct {
        const char *key;
        char *buf;
        size_t size, chars;
    } fields[] = {
        {"first_name", a->first_name, sizeof a->first_name, PL_NAME_CHARS},
        {"last_name", a->last_name, sizeof a->last_name, PL_NAME_CHARS},
        {"street1", a->street1, sizeof a->street1, PL_STREET_CHARS},
        {"street2", a->street2, sizeof a->street2, PL_STREET_CHARS},
        {"city", a->city, sizeof a->city, PL_CITY_CHARS},
        {"state", a->state, sizeof a->state, PL_STATE_CHARS},
        {"postal_code", a->postal_code, sizeof a->postal_code, PL_POSTAL_CODE_CHARS},
        {"email", a->email, sizeof a->email, PL_EMAIL_CHARS},
        {"phone", a->phone, sizeof a->phone, PL_PHONE_CHARS},
        {"ip", a->ip, sizeof a->ip, PL_IP_CHARS},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        (void)get_text(errs, obj, P, fields[i].key, false, false, fields[i].buf, fields[i].size,
                       fields[i].chars);
    (void)get_checked(errs, obj, P, "country", false, country_ok,
                      "must be an ISO 3166 alpha-2 code (2 upper-case letters)", a->country,
                      sizeof a->country);
    if (ship)
        (void)get_enum(errs, obj, P, "shipping_method", false, SHIPPING_METHODS,
                       "must be one of sameday, oneday, twoday, threeday, lowcost, pickup, "
                       "other, none",
                       a->shipping_method, sizeof a->shipping_method);
    return 0;
}

/* Returns 0 or PL_ERR_NOMEM. */
static int decode_items(pl_errors *errs, json_object *arr, pl_request *r)
{
    size_t n = json_object_array_length(arr);
    if (n > MAX_ITEMS) {
        /* Decoding a huge list would only bury the one error that matters under others. */
        pl_errors_add(errs, "items", "must have at most %d entries", MAX_ITEMS);
        return 0;
    }
    if (n == 0)
        return 0;
    r->items = calloc(n, sizeof *r->items);
    if (!r->items)
        return PL_ERR_NOMEM;
    r->n_items = n;
    for (size_t i = 0; i < n; i++) {
        char P[32];
        snprintf(P, sizeof P, "items[%zu]", i);
        json_object *it = json_object_array_get_idx(arr, i);
        pl_item *item = &r->items[i];
        if (!json_object_is_type(it, json_type_object)) {
            pl_errors_add(errs, P, "must be an object");
            continue;
        }
        (void)get_str(errs, it, P, "sku", false, false, item->sku, sizeof item->sku);
        (void)get_text(errs, it, P, "name", false, false, item->name, sizeof item->name,
                       PL_ITEM_NAME_CHARS);
        (void)get_str(errs, it, P, "product_code", false, false, item->product_code,
                      sizeof item->product_code);
        bool has_price = false;
        if (get_amount(errs, it, P, "unit_price", &has_price, &item->unit_price) == F_ABSENT)
            add_err(errs, P, "unit_price", "is required");
        item->quantity = 1; /* a line without a quantity is one unit */
        (void)get_int(errs, it, P, "quantity", false, 1, INT32_MAX, "must be an integer >= 1",
                      &item->quantity);
        (void)get_amount(errs, it, P, "tax_amount", &item->has_tax_amount, &item->tax_amount);
        (void)get_str(errs, it, P, "commodity_code", false, false, item->commodity_code,
                      sizeof item->commodity_code);
        (void)get_str(errs, it, P, "unit_of_measure", false, false, item->unit_of_measure,
                      sizeof item->unit_of_measure);
    }
    return 0;
}

#define REQUEST_ID_RULE "must be 1-50 characters of A-Z a-z 0-9 . _ : -"

/* True when root.obj_key has member key (present, whatever its value: a bad value already has
 * an error of its own). */
static bool has_member(json_object *root, const char *obj_key, const char *key)
{
    json_object *o, *v;
    return json_object_object_get_ex(root, obj_key, &o) &&
           json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v);
}

static void decode_auth_ref(pl_errors *errs, json_object *obj, pl_request *r)
{
    const char *P = "auth_ref";
    r->auth_ref.present = true;
    int has_rid = get_checked(errs, obj, P, "request_id", false, request_id_ok, REQUEST_ID_RULE,
                              r->auth_ref.request_id, sizeof r->auth_ref.request_id);
    int has_tid = get_str(errs, obj, P, "transaction_id", false, true, r->auth_ref.transaction_id,
                          sizeof r->auth_ref.transaction_id);
    if (has_rid == F_ABSENT && has_tid == F_ABSENT)
        pl_errors_add(errs, P, "must have request_id or transaction_id");
    (void)get_str(errs, obj, P, "request_token", false, true, r->auth_ref.request_token,
                  sizeof r->auth_ref.request_token);
    /* A reversal may name a manual authorization whose number is not known (one paylink
     * reverses itself: CyberSource reverses by the transaction id); present, empty. */
    (void)get_str(errs, obj, P, "number", false, r->type != PL_REQ_REVERSAL, r->auth_ref.number,
                  sizeof r->auth_ref.number);
    (void)get_amount(errs, obj, P, "amount", &r->auth_ref.has_amount, &r->auth_ref.amount);
    (void)get_checked(errs, obj, P, "date", false, date_ok, "must be a date YYYY-MM-DD",
                      r->auth_ref.date, sizeof r->auth_ref.date);
}

static const char *const SUBSEQUENT_REASONS[] = {"RESUBMIT", "REAUTH", "INSTALLMENT", NULL};
static const char *const INITIATORS[] = {"merchant", "cardholder", NULL};

static void decode_subsequent_auth(pl_errors *errs, json_object *obj, pl_request *r)
{
    const char *P = "subsequent_auth";
    r->subsequent_auth.present = true;
    (void)get_enum(errs, obj, P, "reason", true, SUBSEQUENT_REASONS,
                   "must be one of RESUBMIT, REAUTH, INSTALLMENT", r->subsequent_auth.reason,
                   sizeof r->subsequent_auth.reason);
    (void)get_str(errs, obj, P, "transaction_id", false, true, r->subsequent_auth.transaction_id,
                  sizeof r->subsequent_auth.transaction_id);
    (void)get_enum(errs, obj, P, "initiator", false, INITIATORS, "must be merchant or cardholder",
                   r->subsequent_auth.initiator, sizeof r->subsequent_auth.initiator);
}

static void decode_authentication(pl_errors *errs, json_object *obj, pl_request *r)
{
    const char *P = "authentication";
    r->authentication.present = true;
    (void)get_str(errs, obj, P, "commerce_indicator", false, false,
                  r->authentication.commerce_indicator,
                  sizeof r->authentication.commerce_indicator);
    (void)get_str(errs, obj, P, "cavv", false, false, r->authentication.cavv,
                  sizeof r->authentication.cavv);
    (void)get_str(errs, obj, P, "xid", false, false, r->authentication.xid,
                  sizeof r->authentication.xid);
    (void)get_str(errs, obj, P, "eci", false, false, r->authentication.eci,
                  sizeof r->authentication.eci);
    (void)get_str(errs, obj, P, "ucaf_data", false, false, r->authentication.ucaf_data,
                  sizeof r->authentication.ucaf_data);
}

static void decode_level23(pl_errors *errs, json_object *obj, pl_request *r)
{
    const char *P = "level23";
    r->level23.present = true;
    (void)get_str(errs, obj, P, "customer_po", false, false, r->level23.customer_po,
                  sizeof r->level23.customer_po);
    (void)get_amount(errs, obj, P, "tax_amount", &r->level23.has_tax, &r->level23.tax_amount);
    (void)get_amount(errs, obj, P, "freight_amount", &r->level23.has_freight,
                     &r->level23.freight_amount);
    (void)get_amount(errs, obj, P, "duty_amount", &r->level23.has_duty, &r->level23.duty_amount);
    (void)get_amount(errs, obj, P, "discount_amount", &r->level23.has_discount,
                     &r->level23.discount_amount);
}

/* Returns what get_raw found for svc.card_number (F_ABSENT when it is missing). */
static int decode_svc(pl_errors *errs, json_object *obj, pl_request *r)
{
    const char *P = "svc";
    r->svc.present = true;
    int card_rc = get_checked(errs, obj, P, "card_number", false, svc_card_ok,
                              "must be 1-20 digits", r->svc.card_number, sizeof r->svc.card_number);
    (void)get_int(errs, obj, P, "order_line", false, 1, INT32_MAX, "must be an integer >= 1",
                  &r->svc.order_line);
    (void)get_amount(errs, obj, P, "issue_amount", &r->svc.has_issue_amount, &r->svc.issue_amount);
    (void)get_bool(errs, obj, P, "virtual", &r->svc.is_virtual);
    return card_rc;
}

/*
 * A strict RFC 8259 syntax check. json-c's strict mode still takes single-quoted keys, NaN,
 * Infinity, "1." and raw control characters in strings, which the JSON Schema side (any
 * standard JSON parser) refuses; checking the grammar first keeps "not JSON" the same on
 * both sides. UTF-8 validity is left to json-c (JSON_TOKENER_VALIDATE_UTF8).
 *
 * The same pass finds an object with a member name twice ({"amount":"10.00",
 * "amount":"1000.00"}). json-c keeps the last value silently, so the request would be
 * decoded as something the upstream system may not have meant, and the value it drops is
 * freed unwiped (a card number in card.number twice). Names are compared as json-c will
 * see them: escapes decoded ("\u0061mount" is "amount"), cut at a NUL. Each object's names
 * are kept while it is open and compared when it closes: pairwise for a few, sorted by a hash
 * and the name for more, so an object of 100,000 members costs n log n, not n².
 */
typedef struct syn_key {
    const char *raw; /* the name's text between its quotes, escapes undecoded */
    size_t len;
    uint64_t hash; /* of the decoded name */
} syn_key;

/* The way from the root to the value being scanned, for the path of a duplicate's error. */
typedef struct syn_seg {
    const struct syn_seg *up;
    const char *key; /* raw member name, or NULL for an array element */
    size_t keylen, idx;
} syn_seg;

typedef struct syn {
    const char *p, *end;
    syn_key *keys; /* the names of every object open on the path, innermost last */
    size_t nkeys, cap;
    bool dup;                    /* a duplicate was found; dup_path is the first one's */
    char dup_path[ERR_TEXT_MAX]; /* cut to the field's size by pl_errors_add */
    /* The root's request_id members whose value is a string, for the echo. */
    const char *rid;
    size_t rid_len;
    int n_rid;
    syn_key small[32];
} syn;

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

static unsigned read_u4(const char *p)
{
    return (unsigned)(hex_digit(p[0]) << 12 | hex_digit(p[1]) << 8 | hex_digit(p[2]) << 4 |
                      hex_digit(p[3]));
}

/*
 * The next character of a JSON string's raw text [*p, end) (syn_string checked it), decoded as
 * json-c decodes it, into out as UTF-8: returns its length, or 0 at the end or at a NUL (json-c
 * cuts a member name there). A surrogate without its pair is U+FFFD, as in json-c.
 */
static size_t str_next(const char **p, const char *end, unsigned char out[4])
{
    if (*p >= end)
        return 0;
    if (**p != '\\') {
        out[0] = (unsigned char)*(*p)++;
        return 1;
    }
    char e = (*p)[1];
    *p += 2;
    if (e != 'u') {
        static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
        const char *k = strchr(from, e);
        out[0] = (unsigned char)(k ? to[k - from] : e); /* '"', '\\', '/' stand for themselves */
        return 1;
    }
    unsigned cp = read_u4(*p);
    *p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && end - *p >= 6 && (*p)[0] == '\\' && (*p)[1] == 'u') {
        unsigned lo = read_u4(*p + 2);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *p += 6;
        }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD;
    if (cp == 0)
        return 0;
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* FNV-1a of the decoded name. */
static uint64_t name_hash(const char *raw, size_t len)
{
    uint64_t h = 14695981039346656037u;
    unsigned char c[4];
    const char *p = raw, *end = raw + len;
    for (size_t n; (n = str_next(&p, end, c)) > 0;)
        for (size_t i = 0; i < n; i++)
            h = (h ^ c[i]) * 1099511628211u;
    return h;
}

/* Reads a member name's decoded bytes one at a time. */
typedef struct name_reader {
    const char *p, *end;
    unsigned char c[4];
    size_t i, n;
} name_reader;

/* The next decoded byte, or -1 at the end of the name. */
static int name_byte(name_reader *r)
{
    if (r->i == r->n) {
        r->n = str_next(&r->p, r->end, r->c);
        r->i = 0;
        if (r->n == 0)
            return -1;
    }
    return r->c[r->i++];
}

/* Orders decoded names byte-wise (a prefix first); 0 when they are the same name. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    name_reader ra = {.p = a, .end = a + alen}, rb = {.p = b, .end = b + blen};
    for (;;) {
        int ca = name_byte(&ra), cb = name_byte(&rb);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca < 0)
            return 0;
    }
}

static int key_cmp(const void *x, const void *y)
{
    const syn_key *a = x, *b = y;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return name_cmp(a->raw, a->len, b->raw, b->len);
}

static bool syn_push_key(syn *s, const char *raw, size_t len)
{
    if (s->nkeys == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : sizeof s->small / sizeof s->small[0];
        syn_key *grown = s->keys == s->small ? malloc(ncap * sizeof *grown)
                                             : realloc(s->keys, ncap * sizeof *grown);
        if (!grown)
            return false; /* the text is refused, as when the tokener cannot be made */
        if (s->keys == s->small)
            memcpy(grown, s->small, s->nkeys * sizeof *grown);
        s->keys = grown;
        s->cap = ncap;
    }
    s->keys[s->nkeys++] = (syn_key){raw, len, name_hash(raw, len)};
    return true;
}

/* One segment of a path: a decoded member name, printable ASCII only ('?' for the rest). */
static size_t path_put_name(char *buf, size_t size, size_t at, const char *raw, size_t len)
{
    const char *p = raw, *end = raw + len;
    unsigned char c[4];
    for (size_t n; at + 1 < size && (n = str_next(&p, end, c)) > 0;) {
        if (n == 1 && (c[0] & 0xC0) == 0x80)
            continue; /* the rest of a character written unescaped: one '?' for it */
        buf[at++] = n == 1 && c[0] >= 0x20 && c[0] < 0x7f ? (char)c[0] : '?';
    }
    buf[at] = '\0';
    return at;
}

/* The path of member `key` of the object at `at` ("card.number", "items[1].sku"), as
 * join_path writes paths, with any card number in it masked. */
static void dup_path(syn *s, const syn_seg *at, const syn_key *key)
{
    const syn_seg *segs[JSON_DEPTH + 2];
    size_t n = 0;
    for (const syn_seg *g = at; g && n < sizeof segs / sizeof segs[0]; g = g->up)
        segs[n++] = g;
    char *buf = s->dup_path;
    size_t size = sizeof s->dup_path, w = 0;
    buf[0] = '\0';
    for (size_t i = n; i-- > 0;) {
        if (segs[i]->key) {
            if (w > 0 && w + 1 < size)
                buf[w++] = '.';
            w = path_put_name(buf, size, w, segs[i]->key, segs[i]->keylen);
        } else if (w < size) {
            int k = snprintf(buf + w, size - w, "[%zu]", segs[i]->idx);
            w = k > 0 && (size_t)k < size - w ? w + (size_t)k : size - 1;
        }
    }
    if (w > 0 && w + 1 < size)
        buf[w++] = '.';
    (void)path_put_name(buf, size, w, key->raw, key->len);
    /* Fully: printable ASCII is left, where a member name with a card number's expiry glued
     * to it ("41111111111111111225") is one only the full scan reads. */
    (void)pl_card_scrub_full(buf, size, PL_MASK_LAST4);
}

/* Compares the names of the object that closes (those pushed since base), then pops them. */
static void syn_close_object(syn *s, size_t base, const syn_seg *at)
{
    syn_key *k = s->keys + base;
    size_t n = s->nkeys - base;
    const syn_key *dup = NULL;
    if (n <= 8) {
        for (size_t i = 0; i < n && !dup; i++)
            for (size_t j = i + 1; j < n && !dup; j++)
                if (key_cmp(&k[i], &k[j]) == 0)
                    dup = &k[j];
    } else {
        qsort(k, n, sizeof *k, key_cmp);
        for (size_t i = 1; i < n && !dup; i++)
            if (key_cmp(&k[i - 1], &k[i]) == 0)
                dup = &k[i];
    }
    if (dup && !s->dup) {
        s->dup = true;
        dup_path(s, at, dup);
    }
    s->nkeys = base;
}

static void syn_ws(syn *s)
{
    while (s->p < s->end && pl_json_space(*s->p))
        s->p++;
}

static bool syn_digits(syn *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool syn_string(syn *s)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    s->p++;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (s->p >= s->end)
                return false;
            char e = *s->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, s->p++) {
                    if (s->p >= s->end ||
                        !((*s->p >= '0' && *s->p <= '9') || (*s->p >= 'a' && *s->p <= 'f') ||
                          (*s->p >= 'A' && *s->p <= 'F')))
                        return false;
                }
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return false;
            }
        }
    }
    return false;
}

static bool syn_number(syn *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!syn_digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!syn_digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!syn_digits(s))
            return false;
    }
    return true;
}

static bool syn_literal(syn *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* at: how the scan came to this value (NULL for the root). */
static bool syn_value(syn *s, int depth, const syn_seg *at)
{
    if (depth > JSON_DEPTH)
        return false;
    syn_ws(s);
    if (s->p >= s->end)
        return false;
    char c = *s->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        size_t base = s->nkeys;
        s->p++;
        syn_ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return true;
        }
        syn_seg seg = {.up = at};
        for (;;) {
            if (c == '{') {
                syn_ws(s);
                const char *name = s->p + 1;
                if (!syn_string(s))
                    return false;
                seg.key = name;
                seg.keylen = (size_t)(s->p - 1 - name);
                if (!syn_push_key(s, seg.key, seg.keylen))
                    return false;
                syn_ws(s);
                if (s->p >= s->end || *s->p != ':')
                    return false;
                s->p++;
                syn_ws(s);
                if (depth == 1 && s->p < s->end && *s->p == '"' &&
                    name_cmp(seg.key, seg.keylen, "request_id", 10) == 0) {
                    s->rid = s->p + 1;
                    s->n_rid++;
                }
            }
            const char *value = s->p;
            if (!syn_value(s, depth + 1, &seg))
                return false;
            if (c == '{' && value + 1 == s->rid)
                s->rid_len = (size_t)(s->p - 1 - s->rid);
            seg.idx++;
            syn_ws(s);
            if (s->p >= s->end)
                return false;
            if (*s->p == close) {
                s->p++;
                if (c == '{')
                    syn_close_object(s, base, at);
                return true;
            }
            if (*s->p != ',')
                return false;
            s->p++;
        }
    }
    if (c == '"')
        return syn_string(s);
    if (c == '-' || (c >= '0' && c <= '9'))
        return syn_number(s);
    return syn_literal(s, "true") || syn_literal(s, "false") || syn_literal(s, "null");
}

/*
 * A member name found twice in a text that is otherwise a JSON object: the member's path, and
 * the request_id for the echo of the invalid reply when the root has one that the contract
 * takes (a card number in it masked, as echo_masked does), else "".
 */
typedef struct dup_member {
    bool found;
    char path[ERR_TEXT_MAX];
    char request_id[sizeof((pl_request *)0)->request_id];
} dup_member;

static bool request_id_ok(const char *s, size_t len);
static size_t mask_refused(char *buf, size_t bufsize, const char *src, size_t len);

/* True when json is one strict JSON value; *dup (may be NULL) says whether it is an object
 * with a duplicate member name, which the caller must then refuse. */
static bool json_syntax_ok(const char *json, size_t len, dup_member *dup)
{
    syn s = {.p = json, .end = json + len};
    s.keys = s.small;
    s.cap = sizeof s.small / sizeof s.small[0];
    bool ok = syn_value(&s, 1, NULL);
    if (ok) {
        syn_ws(&s);
        ok = s.p == s.end;
    }
    if (s.keys != s.small)
        free(s.keys);
    if (dup) {
        memset(dup, 0, sizeof *dup);
        size_t first = 0;
        while (first < len && pl_json_space(json[first]))
            first++;
        dup->found = ok && s.dup && first < len && json[first] == '{';
    }
    if (dup && dup->found) {
        snprintf(dup->path, sizeof dup->path, "%s", s.dup_path);
        /* The request_id when the root has exactly one, a string; decoded in full (no NUL). */
        char rid[sizeof dup->request_id];
        size_t n = 0;
        const char *p = s.rid, *end = s.rid ? s.rid + s.rid_len : NULL;
        unsigned char c[4];
        for (size_t k; s.n_rid == 1 && (k = str_next(&p, end, c)) > 0 && n + k < sizeof rid;)
            for (size_t i = 0; i < k; i++)
                rid[n++] = (char)c[i];
        if (s.n_rid == 1 && p == end && request_id_ok(rid, n))
            (void)mask_refused(dup->request_id, sizeof dup->request_id, rid, n);
        pl_card_wipe(rid, sizeof rid);
    }
    return ok;
}

static void mask_digits(char *s, size_t len);

/* src[0, len) into buf, NUL-terminated, each NUL as ' ' (a NUL would hide the rest of the text
 * from the scrub). */
static void copy_without_nul(char *buf, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = src[i] ? src[i] : ' ';
    buf[len] = '\0';
}

/*
 * Copies src[0, len) (len < bufsize) into buf (copy_without_nul) with its card numbers masked,
 * for the echo or the copy of a value or name that may hold one the decoder refuses. When the
 * Luhn scan (pl_card_scrub) leaves one that holds_card_number sees (across characters off the
 * keyboard, or with its expiry glued), every digit (mask_digits): nothing of such a number is
 * echoed. Else as pl_card_scrub_full masks it, which is the scan's masking and more: the
 * scan's stars can hide from holds_card_number the digits of a number only it reads ("4111
 * 1111 1111<U+0001>1111 1111 1111 1117": the scan masks the second number, and the first twelve
 * digits of 4111111111111111 were left in clear), and the full scan reads the value as it came.
 * Should that still leave one holds_card_number sees, every digit. Returns the length of buf.
 */
static size_t mask_refused(char *buf, size_t bufsize, const char *src, size_t len)
{
    copy_without_nul(buf, src, len);
    size_t n = pl_card_scrub(buf, bufsize, PL_MASK_LAST4);
    if (!holds_card_number(buf, n)) {
        copy_without_nul(buf, src, len);
        n = pl_card_scrub_full(buf, bufsize, PL_MASK_LAST4);
    }
    if (holds_card_number(buf, n))
        mask_digits(buf, n);
    return n;
}

/*
 * For the echo of an invalid request: a request_id or order refused because it holds a card
 * number is kept masked (mask_refused: stars for its digits but the card number's last four,
 * the same length; every digit for one the Luhn scan does not see), so the upstream system
 * can still match the invalid reply to what it sent, and the reply's Kafka key
 * (<company>-<order>) carries no card number either. Kept only when it fits and, with a rule,
 * when the value obeys it otherwise.
 */
static void echo_masked(json_object *obj, const char *key, bool (*rule)(const char *, size_t),
                        char *buf, size_t bufsize)
{
    json_object *val;
    if (!member(obj, key, &val) || !json_object_is_type(val, json_type_string))
        return;
    const char *s = json_object_get_string(val);
    size_t len = (size_t)json_object_get_string_len(val);
    if (len >= bufsize || (rule && !rule(s, len)))
        return;
    (void)mask_refused(buf, bufsize, s, len);
}

/*
 * One tokener for the process, reset between texts, instead of one made and freed per text
 * (four allocations and ~4,000 instructions a request). A mutex makes it safe from any thread.
 * When it cannot be made (no memory) the text is refused, as before.
 *
 * json-c gathers every string it reads (a card number's too) in the tokener's string buffer,
 * which stays alive with the tokener: it is wiped after each text. json-c publishes no call
 * for that, so the wipe reads the buffer from the tokener's published struct. A buffer grown
 * past TOK_KEEP_MAX by one large text is not kept (nor wiped whole for every later text).
 */
#define TOK_KEEP_MAX 4096
static pthread_mutex_t tok_mu = PTHREAD_MUTEX_INITIALIZER;
static json_tokener *tok_kept;
static bool tok_exit_set;

static json_tokener *tok_new(void)
{
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH + 1);
    if (tok)
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    return tok;
}

/* Wipes what the tokener read and frees it. */
static void tok_free(json_tokener *tok)
{
    if (!tok)
        return;
    if (tok->pb && tok->pb->buf && tok->pb->size > 0)
        pl_card_wipe(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
}

static void tok_free_kept(void)
{
    (void)pthread_mutex_lock(&tok_mu);
    tok_free(tok_kept);
    tok_kept = NULL;
    (void)pthread_mutex_unlock(&tok_mu);
}

/*
 * Parses the whole text as exactly one strict JSON value in valid UTF-8, or returns NULL. An
 * object with a member name twice is refused before json-c reads it (json_syntax_ok), and
 * *dup, when not NULL, says so.
 */
static json_object *parse_json(const char *json, size_t len, dup_member *dup)
{
    dup_member unused;
    if (!dup)
        dup = &unused;
    dup->found = false;
    /* RFC 8259 §8.1: a parser may ignore a byte order mark, which producers on some platforms
     * put first; refused, the request got an `invalid` reply without its request_id. */
    if (json && len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0) {
        json += 3;
        len -= 3;
    }
    if (!json || len == 0 || len > INT32_MAX || !json_syntax_ok(json, len, dup) || dup->found)
        return NULL;
    (void)pthread_mutex_lock(&tok_mu);
    if (!tok_kept) {
        tok_kept = tok_new();
        if (tok_kept && !tok_exit_set)
            tok_exit_set = atexit(tok_free_kept) == 0;
    }
    json_tokener *tok = tok_kept;
    if (!tok) {
        (void)pthread_mutex_unlock(&tok_mu);
        return NULL;
    }
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    /* The grammar check above already refused trailing text; json-c must have read it all. */
    if (root && (json_tokener_get_error(tok) != json_tokener_success ||
                 json_tokener_get_parse_end(tok) > len)) {
        json_object_put(root);
        root = NULL;
    }
    /* Back to the state of a new tokener: frees what a failed parse left on its stack. */
    json_tokener_reset(tok);
    if (!tok->pb || !tok->pb->buf || tok->pb->size > TOK_KEEP_MAX) {
        tok_free(tok);
        tok_kept = NULL;
    } else {
        pl_card_wipe(tok->pb->buf, (size_t)tok->pb->size);
    }
    (void)pthread_mutex_unlock(&tok_mu);
    return root;
}

int pl_request_decode(const char *json, size_t len, const char *worker, time_t now, pl_request *out,
                      pl_errors *errs)
{
    memset(out, 0, sizeof *out);
    errs->n = 0;
    out->v = 1;
    out->online = true;

    dup_member dup;
    json_object *root = parse_json(json, len, &dup);
    if (dup.found) {
        /* Which of the values was meant is for the upstream system to say. */
        pl_errors_add(errs, dup.path, "appears more than once");
        memcpy(out->request_id, dup.request_id, sizeof out->request_id);
        return PL_ERR_INVALID;
    }
    if (!root || !json_object_is_type(root, json_type_object)) {
        pl_errors_add(errs, "", "not a JSON object");
        json_object_put(root);
        return PL_ERR_INVALID;
    }
    int rc = PL_OK;
    if (!known_worker(worker)) {
        pl_errors_add(errs, "", "unknown worker '%s'", worker ? worker : "(null)");
        goto out;
    }

    /* The echo fields first, each kept only when valid, so an invalid reply echoes them. */
    int v = 1;
    (void)get_int(errs, root, "", "v", false, 1, 1, "unsupported version (this is version 1)", &v);

    int rid_rc = get_checked(errs, root, "", "request_id", true, request_id_ok, REQUEST_ID_RULE,
                             out->request_id, sizeof out->request_id);
    if (rid_rc == F_CARD)
        echo_masked(root, "request_id", request_id_ok, out->request_id, sizeof out->request_id);

    const char *tname;
    size_t tlen;
    if (get_raw(errs, root, "", "type", true, &tname, &tlen) == F_OK) {
        out->type = lookup_type(worker, tname);
        if (out->type == PL_REQ_UNKNOWN) {
            /* Quote at most 20 printable characters of what was sent. */
            char shown[21];
            size_t n = tlen < sizeof shown - 1 ? tlen : sizeof shown - 1;
            for (size_t i = 0; i < n; i++)
                shown[i] = (tname[i] >= 0x20 && tname[i] < 0x7f) ? tname[i] : '?';
            shown[n] = '\0';
            pl_errors_add(errs, "type", "unknown type '%s' for worker %s", shown, worker);
        } else {
            snprintf(out->type_name, sizeof out->type_name, "%s", tname);
        }
    }

    if (get_int(errs, root, "", "company", true, 1, 999, "must be an integer from 1 to 999",
                &out->company) != F_OK)
        out->company = 0;
    if (get_str(errs, root, "", "order", true, true, out->order, sizeof out->order) == F_CARD)
        echo_masked(root, "order", NULL, out->order, sizeof out->order);
    if (get_int(errs, root, "", "pay_seq", true, 1, INT32_MAX, "must be an integer >= 1",
                &out->pay_seq) != F_OK)
        out->pay_seq = 0;
    (void)get_str(errs, root, "", "service", true, true, out->service, sizeof out->service);
    (void)get_str(errs, root, "", "pay_type", false, true, out->pay_type, sizeof out->pay_type);
    (void)get_str(errs, root, "", "entity", false, true, out->entity, sizeof out->entity);

    int amount_rc = get_amount(errs, root, "", "amount", &out->has_amount, &out->amount);
    int currency_rc = get_checked(errs, root, "", "currency", false, currency_ok,
                                  "must be an ISO 4217 alpha-3 code (3 upper-case letters)",
                                  out->currency, sizeof out->currency);
    if (amount_rc != F_ABSENT && currency_rc == F_ABSENT)
        pl_errors_add(errs, "currency", "is required with amount");
    if (amount_rc == F_ABSENT && needs_amount(out->type))
        pl_errors_add(errs, "amount", "is required for type %s", pl_req_type_name(out->type));
    /* Moving no money is no deposit, refund or reversal, on a payment card or a stored value
     * card (an authorization of 0.00 is a card verification, and stays allowed). */
    if (amount_rc == F_OK && out->amount == 0 &&
        (out->type == PL_REQ_DEBIT || out->type == PL_REQ_CREDIT || out->type == PL_REQ_REVERSAL ||
         out->type == PL_REQ_SVC_DEPOSIT || out->type == PL_REQ_SVC_RETURN))
        pl_errors_add(errs, "amount", "must be greater than 0.00 for type %s",
                      pl_req_type_name(out->type));

    static const char *const MODES[] = {"online", "batch", NULL};
    char mode[8] = "";
    if (get_enum(errs, root, "", "mode", false, MODES, "must be online or batch", mode,
                 sizeof mode) == F_OK)
        out->online = strcmp(mode, "batch") != 0;

    json_object *o;
    int card_rc = get_object(errs, root, "", "card", &o);
    if (card_rc == F_OK)
        decode_card(errs, o, now, &out->card);
    if ((get_object(errs, root, "", "bill_to", &o) == F_OK &&
         decode_address(errs, o, "bill_to", false, &out->bill_to) != 0) ||
        (get_object(errs, root, "", "ship_to", &o) == F_OK &&
         decode_address(errs, o, "ship_to", true, &out->ship_to) != 0)) {
        rc = PL_ERR_NOMEM;
        goto out;
    }

    json_object *items;
    if (member(root, "items", &items)) {
        if (!json_object_is_type(items, json_type_array)) {
            pl_errors_add(errs, "items", "must be an array");
        } else if (decode_items(errs, items, out) != 0) {
            rc = PL_ERR_NOMEM;
            goto out;
        }
    }

    int auth_ref_rc = get_object(errs, root, "", "auth_ref", &o);
    if (auth_ref_rc == F_OK)
        decode_auth_ref(errs, o, out);
    int capture_ref_rc = get_object(errs, root, "", "capture_ref", &o);
    if (capture_ref_rc == F_OK) {
        out->capture_ref.present = true;
        (void)get_checked(errs, o, "capture_ref", "request_id", true, request_id_ok,
                          REQUEST_ID_RULE, out->capture_ref.request_id,
                          sizeof out->capture_ref.request_id);
    }
    (void)get_bool(errs, root, "", "installment", &out->installment);
    if (get_object(errs, root, "", "subsequent_auth", &o) == F_OK)
        decode_subsequent_auth(errs, o, out);
    if (get_object(errs, root, "", "authentication", &o) == F_OK)
        decode_authentication(errs, o, out);
    if (get_object(errs, root, "", "level23", &o) == F_OK)
        decode_level23(errs, o, out);
    int svc_rc = get_object(errs, root, "", "svc", &o);
    int svc_card_rc = F_ABSENT;
    if (svc_rc == F_OK)
        svc_card_rc = decode_svc(errs, o, out);

    /* What each type needs besides the common fields. */
    switch (out->type) {
    case PL_REQ_AUTH:
    case PL_REQ_TOKEN:
        if (card_rc == F_ABSENT)
            pl_errors_add(errs, "card", "is required for type %s", pl_req_type_name(out->type));
        break;
    case PL_REQ_DEBIT:
        /* Siebel AuthCharge: a debit with the card (or a token) and no authorization is one
         * authorization and capture. */
        if (auth_ref_rc == F_ABSENT && card_rc == F_ABSENT)
            pl_errors_add(errs, "auth_ref", "is required for a debit without card");
        /* fallthrough */
    case PL_REQ_REVERSAL:
        if (out->type == PL_REQ_REVERSAL && auth_ref_rc == F_ABSENT)
            pl_errors_add(errs, "auth_ref", "is required for type %s", pl_req_type_name(out->type));
        /* (A stored value reversal, with its svc object, names its preauthorization by id.) */
        if (auth_ref_rc == F_OK && !out->auth_ref.request_id[0] &&
            out->auth_ref.transaction_id[0] && svc_rc == F_ABSENT) {
            /* seed: CyberSource takes a manual authorization only with its authorization
             * number, date, amount and the transaction ID it issued. */
            if (!out->auth_ref.number[0] && !has_member(root, "auth_ref", "number"))
                pl_errors_add(errs, "auth_ref.number", "is required for a manual authorization");
            if (!out->auth_ref.has_amount && !has_member(root, "auth_ref", "amount"))
                pl_errors_add(errs, "auth_ref.amount", "is required for a manual authorization");
            if (!out->auth_ref.date[0] && !has_member(root, "auth_ref", "date"))
                pl_errors_add(errs, "auth_ref.date", "is required for a manual authorization");
        }
        break;
    case PL_REQ_CREDIT:
        /* A follow-on credit refunds an earlier debit; a stand-alone one needs the card. */
        if (capture_ref_rc == F_ABSENT && card_rc == F_ABSENT)
            pl_errors_add(errs, "card", "is required for a credit without capture_ref");
        break;
    default:
        break;
    }
    if (is_svc(out->type) && out->type != PL_REQ_SVC_GENERATE) {
        /* Generate asks the bureau for a new number; everything else names the card. */
        if (svc_rc == F_ABSENT)
            pl_errors_add(errs, "svc", "is required for type %s", pl_req_type_name(out->type));
        else if (svc_rc == F_OK && svc_card_rc == F_ABSENT)
            pl_errors_add(errs, "svc.card_number", "is required for type %s",
                          pl_req_type_name(out->type));
    }
    /* A stored value deposit settles an authorization (seed: Postauthorization names it). */
    if (out->type == PL_REQ_SVC_DEPOSIT && auth_ref_rc == F_ABSENT)
        pl_errors_add(errs, "auth_ref", "is required for type %s", pl_req_type_name(out->type));

out:
    wipe_sensitive(root);
    json_object_put(root);
    if (rc == PL_OK && errs->n > 0)
        rc = PL_ERR_INVALID;
    return rc;
}

void pl_request_free(pl_request *r)
{
    if (!r)
        return;
    if (r->items) {
        pl_card_wipe(r->items, r->n_items * sizeof *r->items);
        free(r->items);
    }
    r->items = NULL;
    r->n_items = 0;
    /* Names, addresses, e-mail: personal data, wiped as the items are. */
    pl_address *addrs[] = {r->bill_to, r->ship_to};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        if (addrs[i]) {
            pl_card_wipe(addrs[i], sizeof *addrs[i]);
            free(addrs[i]);
        }
    }
    r->bill_to = r->ship_to = NULL;
    pl_card_wipe(r->card.number, sizeof r->card.number);
    pl_card_wipe(r->card.cvv, sizeof r->card.cvv);
    pl_card_wipe(&r->authentication, sizeof r->authentication);
    pl_card_wipe(r->svc.card_number, sizeof r->svc.card_number);
}

/* ---- redaction ------------------------------------------------------------------------- */

/* The key's character at i, lower-cased, or 0 past its end. */
static char lower_at(const char *key, size_t i)
{
    char c = key[i];
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/*
 * True when a member name names a card security code, wherever the sender put it. The text
 * scrub of card.c finds such names only on word boundaries ("cvv", "cid", "cvv_code"), and `_`
 * is a word character there, so "card_cvv", "cvvNumber", "payment_cvv2" or "CVV2Code" kept their
 * values in the dead-letter copy. Lower-cased with `_`, `-` and spaces removed, the name holds
 * cvv, cvc, cvn, csc, cvd, cv2 ("CV2", as some gateways name it), securitycode or verification
 * ("verificationValue", "card_verification_value"; a name that holds it for something else,
 * "address_verification", loses a value that was no card data: a copy marked changed, which
 * costs a replay, not a leak). "cid" is a word in too many names ("acid", "decide") to be
 * searched so: it counts only as the whole name or as its last part after a separator or a
 * lower-to-upper case change ("card_cid", "cardCid", "CARD-CID").
 */
static bool security_code_name(const char *key)
{
    static const char *const parts[] = {"cvv", "cvc", "cvn",          "csc",
                                        "cvd", "cv2", "securitycode", "verification"};
    char norm[64];
    size_t n = 0;
    for (size_t i = 0; key[i] && n < sizeof norm - 1; i++)
        if (key[i] != '_' && key[i] != '-' && key[i] != ' ')
            norm[n++] = lower_at(key, i);
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strstr(norm, parts[i]))
            return true;
    /* A name longer than norm has its tail checked by the "cid" rule below all the same. */
    size_t len = strlen(key);
    if (len < 3 || lower_at(key, len - 3) != 'c' || lower_at(key, len - 2) != 'i' ||
        lower_at(key, len - 1) != 'd')
        return false;
    if (len == 3)
        return true;
    char before = key[len - 4];
    return before == '_' || before == '-' || before == ' ' || before == '.' ||
           (is_lower(before) && is_upper(key[len - 3]));
}

/* walk() callback: zeroes every string below a value that is being removed. */
static int wipe_string(json_object *parent, const char *key, size_t idx, json_object *val)
{
    (void)parent, (void)key, (void)idx;
    if (json_object_is_type(val, json_type_string))
        pl_card_wipe((char *)json_object_get_string(val), (size_t)json_object_get_string_len(val));
    return 0;
}

static void wipe_value(json_object *val)
{
    static const walker strings = {.scalar = wipe_string};
    if (json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array))
        (void)walk(val, &strings);
    else
        (void)wipe_string(NULL, NULL, 0, val);
}

/*
 * Every member below o, at any depth, named as a card security code (security_code_name): its
 * value, whatever its type, is wiped and, with blank, becomes "" — what the text scrub leaves
 * of a CVV named plainly ({"cid":""}), so the dead-letter copy shows that one was sent.
 * Returns 0 or PL_ERR_NOMEM. The depth is bounded by the parser (JSON_DEPTH).
 */
static int blank_security_codes(json_object *o, bool blank)
{
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, val)
        {
            if (security_code_name(key)) {
                wipe_value(val);
                if (!blank)
                    continue;
                /* Replacing the value of a member the loop is on is safe (keep_only does). */
                json_object *nv = json_object_new_string("");
                if (!nv || json_object_object_add(o, key, nv) != 0) {
                    json_object_put(nv);
                    return PL_ERR_NOMEM;
                }
            } else if (blank_security_codes(val, blank) != 0) {
                return PL_ERR_NOMEM;
            }
        }
        return 0;
    }
    size_t n = json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
    for (size_t i = 0; i < n; i++)
        if (blank_security_codes(json_object_array_get_idx(o, i), blank) != 0)
            return PL_ERR_NOMEM;
    return 0;
}

#define REMOVED "***REMOVED***"

/*
 * Replaces obj[key] with its mask — the stored one (first six and last four) for a payment
 * card, stars and the last four for a stored value card (last4: its number is all the card
 * there is, and such numbers are short, README "Card data") — anything unmaskable becomes
 * ***REMOVED***.
 */
static int mask_member(json_object *obj, const char *key, bool last4)
{
    json_object *val;
    if (!obj || !json_object_object_get_ex(obj, key, &val))
        return 0;
    char masked[32];
    const char *repl = REMOVED;
    /* Only a plain digit string has a meaningful mask; anything else may hide a PAN anywhere. */
    if (json_object_is_type(val, json_type_string)) {
        const char *s = json_object_get_string(val);
        size_t len = (size_t)json_object_get_string_len(val);
        if (len > 0 && len < sizeof masked && strlen(s) == len && all_digits(s, len) &&
            (last4 ? pl_card_mask_log(s, PL_MASK_LAST4, masked, sizeof masked)
                   : pl_card_mask_stored(s, masked, sizeof masked)) == 0)
            repl = masked;
    }
    wipe_member(obj, key);
    json_object *nv = json_object_new_string(repl);
    if (!nv)
        return PL_ERR_NOMEM;
    return json_object_object_add(obj, key, nv) == 0 ? 0 : PL_ERR_NOMEM;
}

/* Replaces obj[key] (a member the caller's loop may be on) with ***REMOVED***, every string
 * below its old value wiped. Returns 0 or PL_ERR_NOMEM. */
static int remove_member(json_object *obj, const char *key, json_object *val)
{
    wipe_value(val);
    json_object *nv = json_object_new_string(REMOVED);
    if (!nv || json_object_object_add(obj, key, nv) != 0)
        return PL_ERR_NOMEM;
    return 0;
}

/*
 * Any member of a card object (card, svc) but the contract's harmless ones is where a mistyped
 * number key ("cardNumber", "pan") would put the card number, or a security code a name of the
 * sender's own ("code"): its value becomes ***REMOVED***. keep is NULL-terminated.
 */
static int keep_only(json_object *obj, const char *const *keep)
{
    json_object_object_foreach(obj, key, val)
    {
        bool known = false;
        for (size_t i = 0; keep[i]; i++)
            known = known || strcmp(key, keep[i]) == 0;
        if (!known && remove_member(obj, key, val) != 0)
            return PL_ERR_NOMEM;
    }
    return 0;
}

/* A card object's redaction: its number masked as stored, its CVV dropped, and only the
 * contract's other members kept. Returns 0 or PL_ERR_NOMEM. */
static int redact_card(json_object *card)
{
    if (mask_member(card, "number", false) != 0)
        return PL_ERR_NOMEM;
    wipe_member(card, "cvv");
    json_object_object_del(card, "cvv");
    static const char *const keep[] = {"number", "token",  "exp_month", "exp_year",
                                       "type",   "holder", NULL};
    return keep_only(card, keep);
}

/* A stored value card object's: its number masked to its last four, only the contract's other
 * members kept. Returns 0 or PL_ERR_NOMEM. */
static int redact_svc(json_object *svc)
{
    if (mask_member(svc, "card_number", true) != 0)
        return PL_ERR_NOMEM;
    static const char *const keep[] = {"card_number", "order_line", "issue_amount", "virtual",
                                       NULL};
    return keep_only(svc, keep);
}

/*
 * Every member named card or svc (any case) below o, at any depth, is redacted as the
 * contract's are (redact_card, redact_svc): an upstream system that nests its card
 * ("payment": {"card": {...}}) puts there what the root's would hold, a security code under a
 * name of its own ("code") too. One that is not an object (a string "4111111111111111 12/25
 * 123", an array of the number, expiry and code, a number) is replaced whole by
 * ***REMOVED***: nothing in it can be told from the card data it holds. A null or a boolean
 * holds nothing and stays. Returns 0 or PL_ERR_NOMEM. The depth is bounded by the parser
 * (JSON_DEPTH).
 */
static int redact_cards(json_object *o)
{
    if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (redact_cards(json_object_array_get_idx(o, i)) != 0)
                return PL_ERR_NOMEM;
        return 0;
    }
    if (!json_object_is_type(o, json_type_object))
        return 0;
    json_object_object_foreach(o, key, val)
    {
        if (redact_cards(val) != 0)
            return PL_ERR_NOMEM;
        bool card = strcasecmp(key, "card") == 0, svc = strcasecmp(key, "svc") == 0;
        if (!card && !svc)
            continue;
        int rc = 0;
        if (json_object_is_type(val, json_type_object))
            rc = card ? redact_card(val) : redact_svc(val);
        else if (!json_object_is_type(val, json_type_null) &&
                 !json_object_is_type(val, json_type_boolean))
            rc = remove_member(o, key, val); /* safe on the member the loop is on, as above */
        if (rc != 0)
            return PL_ERR_NOMEM;
    }
    return 0;
}

/*
 * Masks every digit (ASCII or full-width). In text we could not even parse, nothing tells a
 * card number from an amount: pl_card_scrub masks the numbers it recognises, but a PAN glued to
 * another digit ("41111111111111111"), one whose separators are JSON escapes ("4111\\t1111…"),
 * one whose digits are ("\\u0034\\u0031…"), a stored value card (no check digit, 1-20 digits)
 * or a CVV under a name of the sender's own ("cid") would survive it. The copy keeps the text's
 * shape for an operator to see what was wrong with it.
 */
static void mask_digits(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char *u = (unsigned char *)s + i;
        if (*u >= '0' && *u <= '9') {
            *u = '*';
        } else if (len - i >= 3 && u[0] == 0xef && u[1] == 0xbc && u[2] >= 0x90 && u[2] <= 0x99) {
            u[2] = 0x8a; /* a full-width digit (U+FF10-U+FF19) → the full-width asterisk */
            i += 2;
        }
    }
}

/* The length of the valid UTF-8 character at u[0, n) (RFC 3629: no overlong form, surrogate or
 * code point past U+10FFFF), or 0. */
static size_t utf8_char_len(const unsigned char *u, size_t n)
{
    if (u[0] < 0x80)
        return 1;
    size_t len = u[0] >= 0xC2 && u[0] <= 0xDF   ? 2
                 : u[0] >= 0xE0 && u[0] <= 0xEF ? 3
                 : u[0] >= 0xF0 && u[0] <= 0xF4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((u[k] & 0xC0) != 0x80)
            return 0;
    if ((u[0] == 0xE0 && u[1] < 0xA0) || (u[0] == 0xED && u[1] > 0x9F) ||
        (u[0] == 0xF0 && u[1] < 0x90) || (u[0] == 0xF4 && u[1] > 0x8F))
        return 0;
    return len;
}

/* Replaces every byte of s[0, len) that is not part of a valid UTF-8 character with '?': the
 * copy goes into JSON (a dead letter), which must be UTF-8 (RFC 8259 §8.1). */
static void replace_invalid_utf8(char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char_len((const unsigned char *)s + i, len - i);
        if (n == 0) {
            s[i++] = '?';
        } else {
            i += n;
        }
    }
}

/*
 * Returns a malloc'd copy of s[0..len) with NULs replaced, scrubbed of card numbers
 * (pl_card_scrub_full: the copy goes to the dead-letter topic and paylinkctl's screen, and
 * the text is the upstream system's, which may split a number with characters a bureau message
 * drops or glue its expiry to it); `unparsed` masks every digit besides (mask_digits), for text
 * that is not a JSON object, and replaces what is not UTF-8 in it (replace_invalid_utf8: it
 * may be any bytes).
 */
static char *scrub_copy(const char *s, size_t len, bool unparsed)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    copy_without_nul(copy, s, len);
    (void)pl_card_scrub_full(copy, len + 1, PL_MASK_LAST4);
    if (unparsed) {
        mask_digits(copy, strlen(copy));
        replace_invalid_utf8(copy, strlen(copy));
    }
    return copy;
}

/* Copies member `name` of o into out when it is a string of 12-19 digits, else out = "". */
static void remember_digits(json_object *o, const char *name, char *out, size_t outsize)
{
    out[0] = '\0';
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return;
    const char *s = json_object_get_string(v);
    size_t n = strlen(s);
    if (n < 12 || n > 19 || n >= outsize || strspn(s, "0123456789") != n)
        return;
    memcpy(out, s, n + 1);
}

/* 3 when text[i] begins a full-width character U+FF00 + (b - 0x80), its UTF-8 EF BC b, with b
 * in [lo, hi]; else 0. */
static size_t full_width_at(const char *text, size_t len, size_t i, unsigned char lo,
                            unsigned char hi)
{
    const unsigned char *u = (const unsigned char *)text + i;
    return len - i >= 3 && u[0] == 0xef && u[1] == 0xbc && u[2] >= lo && u[2] <= hi ? 3 : 0;
}

/*
 * Where a value that holds track data is cut: just after the '=' (track 2) or '^' (track 1)
 * that follows the digits of a card number ("4111111111111111=2512101...",
 * "B4111111111111111^JONES/MARY^2512101..."), since the expiry date, service code and
 * discretionary data after it (where the card's verification value is) mean nothing without
 * the number, and digits the scrub would leave. The digits count in their full-width forms
 * (U+FF10-U+FF19) and the separators too (U+FF1D, U+FF3E), as card.c's track data rule has
 * them: "４１１１...＝２５１２..." is a track read by the same eye. The separator is looked for
 * from the number's first digit to just past its glued digits, once 13 digits have gone by:
 * '=' joins digit groups too, so the number the scrub reads may run past it. len when there
 * is none.
 */
static size_t track_data_cut(const char *text, size_t len)
{
    size_t pos = 0;
    pl_card_match m;
    while (pl_card_find(text, len, &pos, &m)) {
        size_t digits = 0;
        for (size_t i = m.start; i <= m.tail_end && i < len;) {
            size_t n = 0;
            if (text[i] >= '0' && text[i] <= '9') {
                digits++;
                n = 1;
            } else if ((n = full_width_at(text, len, i, 0x90, 0x99)) > 0) {
                digits++; /* U+FF10-U+FF19 */
            } else if (text[i] == '=' || text[i] == '^' ||
                       (n = full_width_at(text, len, i, 0x9d, 0x9d)) > 0 ||
                       (n = full_width_at(text, len, i, 0xbe, 0xbe)) > 0) {
                if (digits >= 13)
                    return i + (n > 0 ? n : 1);
            }
            i += n > 0 ? n : 1;
        }
    }
    return len;
}

/*
 * A malloc'd copy of a value or key of a JSON object that holds a card number
 * (holds_card_number): track data cut after its card number (track_data_cut), the rest masked
 * as an echo is (mask_refused: every digit when the Luhn scan leaves one the decoder sees), so
 * the copy never holds what the decoder refused. NULL out of memory.
 */
static char *scrub_member_copy(const char *text, size_t len)
{
    size_t n = track_data_cut(text, len);
    char *copy = malloc(n + 1);
    if (copy)
        (void)mask_refused(copy, n + 1, text, n);
    return copy;
}

/* A JSON string of text[0, len) with every card number masked (scrub_member_copy), or NULL. */
static json_object *masked_string(const char *text, size_t len)
{
    char *copy = scrub_member_copy(text, len);
    if (!copy)
        return NULL;
    size_t n = strlen(copy);
    json_object *v = json_object_new_string_len(copy, (int)n);
    pl_card_wipe(copy, n);
    free(copy);
    return v;
}

/*
 * walk() callback of the redaction: a string, or a number written with 13-19 digits, that
 * holds a card number is replaced in its parent by a masked string. Decoded values are
 * searched, not the serialized text, so a card number that JSON escapes would hide ("\t"
 * between the groups, "\u0034111...") is found as well.
 */
static int mask_scalar(json_object *parent, const char *key, size_t idx, json_object *val)
{
    const char *text;
    size_t len;
    bool str = json_object_is_type(val, json_type_string);
    if (str) {
        text = json_object_get_string(val);
        len = (size_t)json_object_get_string_len(val);
    } else if (json_object_is_type(val, json_type_int) ||
               json_object_is_type(val, json_type_double)) {
        text = json_object_to_json_string_length(val, JSON_C_TO_STRING_PLAIN, &len);
    } else {
        return 0;
    }
    if (!text || !holds_card_number(text, len))
        return 0;
    json_object *nv = masked_string(text, len);
    if (!nv)
        return PL_ERR_NOMEM;
    if (str)
        pl_card_wipe((char *)text, len);
    int rc =
        key ? json_object_object_add(parent, key, nv) : json_object_array_put_idx(parent, idx, nv);
    if (rc != 0) {
        json_object_put(nv);
        return PL_ERR_NOMEM;
    }
    return 0;
}

/*
 * walk() callback of the redaction: renames every member of obj whose key holds a card number
 * (a key built from data, a number pasted as a key) to the masked key. The keys are found in
 * one pass, then renamed (a rename moves the member to the end: scanning again from the start
 * after each was quadratic in a megabyte of such keys). Two keys that mask alike keep the later
 * value.
 */
static int mask_keys(json_object *obj)
{
    char **keys = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        if (!holds_card_number(key, strlen(key)))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            char **grown = realloc(keys, ncap * sizeof *keys);
            if (!grown) {
                rc = PL_ERR_NOMEM;
                break;
            }
            keys = grown;
            cap = ncap;
        }
        if (!(keys[n] = strdup(key))) {
            rc = PL_ERR_NOMEM;
            break;
        }
        n++;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *kept = NULL;
        if (!json_object_object_get_ex(obj, keys[i], &kept))
            continue;
        char *masked = scrub_member_copy(keys[i], strlen(keys[i]));
        if (!masked) {
            rc = PL_ERR_NOMEM;
            break;
        }
        json_object_get(kept);
        json_object_object_del(obj, keys[i]);
        if (json_object_object_add(obj, masked, kept) != 0) {
            json_object_put(kept);
            rc = PL_ERR_NOMEM;
        }
        free(masked);
    }
    for (size_t i = 0; i < n; i++) {
        pl_card_wipe(keys[i], strlen(keys[i])); /* a card number */
        free(keys[i]);
    }
    free(keys);
    return rc;
}

/* Wipes every string value and member name below o (the depth is bounded by the parser's),
 * before o is freed: o is a copy of a request that may hold a card number anywhere. Names are
 * wiped in place, which leaves their objects fit only to be freed. */
static void wipe_tree(json_object *o)
{
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, val)
        {
            wipe_tree(val);
            pl_card_wipe(key, strlen(key));
        }
        return;
    }
    size_t n = json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
    for (size_t i = 0; i < n; i++)
        wipe_tree(json_object_array_get_idx(o, i));
    (void)wipe_string(NULL, NULL, 0, o);
}

/*
 * json_object_deep_copy's shallow copy for pl_request_redact_report's copy of a request: a
 * decimal as its value alone. json-c keeps the text a parsed decimal was written as
 * (json_object_new_double_s) and the default copy duplicates it, where wipe_tree cannot reach
 * it: a card number sent as a number ("pin": 4111111111111111.0) was left in freed memory.
 * Returns 2 for one (json-c then copies no user data: the text would come back), else the
 * default's result. The comparison reads values, not texts.
 */
static int copy_without_text(json_object *src, json_object *parent, const char *key, size_t index,
                             json_object **dst)
{
    if (!json_object_is_type(src, json_type_double))
        return json_c_shallow_copy_default(src, parent, key, index, dst);
    *dst = json_object_new_double(json_object_get_double(src));
    return *dst ? 2 : -1;
}

char *pl_request_redact(const char *json, size_t len)
{
    return pl_request_redact_report(json, len, NULL);
}

char *pl_request_redact_report(const char *json, size_t len, bool *changed)
{
    if (!json)
        len = 0;
    if (changed)
        *changed = false;
    /* A text with a member name twice is not parsed (parse_json): every digit is masked. */
    json_object *root = parse_json(json, len, NULL);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        char *copy = scrub_copy(json ? json : "", len, true);
        if (copy && changed)
            *changed = strlen(copy) != len || memcmp(copy, json ? json : "", len) != 0;
        return copy;
    }

    char *result = NULL;
    /* Whether the redaction changed anything: the tree is compared with a copy of it taken
     * first (never serialized: json-c's print buffer is not wiped when freed), the text with
     * what its last scrub left. The sender's spacing and escapes are never kept, and are no
     * change. Only the dead-letter copy asks (one copy more, off the common path). */
    json_object *before = NULL;
    /* The card numbers themselves, to mask every other copy of them in the output too (a PAN
     * pasted into a note, glued to other digits where the Luhn-based scrub cannot see it). */
    char pans[2][20] = {"", ""};
    if (changed && json_object_deep_copy(root, &before, copy_without_text) != 0)
        goto out;
    json_object *card = object_member(root, "card");
    json_object *svc = object_member(root, "svc");
    remember_digits(card, "number", pans[0], sizeof pans[0]);
    remember_digits(svc, "card_number", pans[1], sizeof pans[1]);
    /* Security codes under names of the sender's own, anywhere (card.* and authentication
     * lose theirs below as well, by key). */
    if (blank_security_codes(root, true) != 0)
        goto out;
    /* card and svc, the root's and any nested one. */
    if (redact_cards(root) != 0)
        goto out;
    json_object *authn = object_member(root, "authentication");
    if (authn) {
        /* Keep the keys (which results came) but none of the values (CAVV, XID, ...). */
        json_object_object_foreach(authn, key, val)
        {
            (void)val;
            wipe_member(authn, key);
            json_object *nv = json_object_new_string(REMOVED);
            if (!nv || json_object_object_add(authn, key, nv) != 0)
                goto out;
        }
    }
    /* Card numbers in every other value and key, at any depth, with any separators. */
    static const walker card_numbers = {.scalar = mask_scalar, .object = mask_keys};
    if (walk(root, &card_numbers) != 0)
        goto out;

    size_t outlen;
    const char *text = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &outlen);
    /* The last net: the Luhn scrub over the whole text (and the CVV patterns). */
    if (text)
        result = scrub_copy(text, outlen, false);
    for (size_t i = 0; result && i < 2; i++)
        pl_card_mask_copies(result, pans[i], false); /* 12-19 digits, or "" */
    if (result && changed)
        *changed = !json_object_equal(before, root) || strlen(result) != outlen ||
                   memcmp(result, text, outlen) != 0;
out:
    if (before) {
        wipe_tree(before);
        json_object_put(before);
    }
    pl_card_wipe(pans, sizeof pans);
    json_object_put(root);
    return result;
}

/* ---- fingerprint ----------------------------------------------------------------------- */

/*
 * Canonical serialization: for each field its name, NUL, then 0x00 when absent or 0x01, an
 * 8-byte big-endian length and the bytes. Names and lengths make the encoding unambiguous (no
 * two different requests serialize alike), and the order of fields is fixed here, not by the
 * JSON that was sent. The bytes are gathered in a buffer and fed to the MAC a buffer at a time
 * (one EVP_MAC_update per call costs more than the hashing of a few bytes), except a card
 * number's value, which goes into the MAC straight from the request so that no copy of it is
 * made. The MAC sees the same bytes either way.
 */
typedef struct fp_writer {
    EVP_MAC_CTX *ctx;
    bool bad;
    size_t n;
    unsigned char buf[512];
} fp_writer;

static void fp_flush(fp_writer *w)
{
    if (w->n > 0 && !w->bad && !EVP_MAC_update(w->ctx, w->buf, w->n))
        w->bad = true;
    w->n = 0;
}

static void fp_put(fp_writer *w, const void *p, size_t len)
{
    if (w->n + len > sizeof w->buf) {
        fp_flush(w);
        if (len > sizeof w->buf) {
            if (!w->bad && !EVP_MAC_update(w->ctx, p, len))
                w->bad = true;
            return;
        }
    }
    memcpy(w->buf + w->n, p, len);
    w->n += len;
}

/* One field; value NULL when absent. A secret value (a card number) is not buffered. */
static void fp_value(fp_writer *w, const char *name, const char *value, bool secret)
{
    unsigned char hdr[9];
    fp_put(w, name, strlen(name) + 1);
    if (!value) {
        hdr[0] = 0;
        fp_put(w, hdr, 1);
        return;
    }
    uint64_t len = strlen(value);
    hdr[0] = 1;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (unsigned char)(len >> (56 - 8 * i));
    fp_put(w, hdr, sizeof hdr);
    if (secret) {
        fp_flush(w);
        if (!w->bad && !EVP_MAC_update(w->ctx, (const unsigned char *)value, len))
            w->bad = true;
    } else {
        fp_put(w, value, len);
    }
}

static void fp_field(fp_writer *w, const char *name, const char *value)
{
    fp_value(w, name, value, false);
}

/* An integer's value in decimal, as printf's %lld writes it (this costs a tenth of that). */
static void fp_int(fp_writer *w, const char *name, bool present, int64_t v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    *--p = '\0';
    /* The magnitude in unsigned arithmetic, so INT64_MIN has one too. */
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0)
        *--p = '-';
    fp_field(w, name, present ? p : NULL);
}

static void fp_str(fp_writer *w, const char *name, const char *s)
{
    fp_field(w, name, s[0] ? s : NULL);
}

/* A card number field: absent when "", its value never copied. */
static void fp_card(fp_writer *w, const char *name, const char *s)
{
    fp_value(w, name, s[0] ? s : NULL, true);
}

/* An address of version 2 (prefix "bill_to" or "ship_to"); absent as one field. */
static void fp_address(fp_writer *w, const char *prefix, const pl_address *a)
{
    fp_field(w, prefix, a ? "" : NULL);
    if (!a)
        return;
    const struct {
        const char *name, *value;
    } f[] = {{"first_name", a->first_name},
             {"last_name", a->last_name},
             {"street1", a->street1},
             {"street2", a->street2},
             {"city", a->city},
             {"state", a->state},
             {"postal_code", a->postal_code},
             {"country", a->country},
             {"email", a->email},
             {"phone", a->phone},
             {"ip", a->ip},
             {"shipping_method", a->shipping_method}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s.%s", prefix, f[i].name);
        fp_str(w, name, f[i].value);
    }
}

/* What version 2 adds to version 1 (pl_request_fingerprint_v). */
static void fp_v2(fp_writer *w, const pl_request *r)
{
    fp_str(w, "card.type", r->card.type);
    fp_str(w, "card.holder", r->card.holder);
    fp_str(w, "auth_ref.request_token", r->auth_ref.request_token);
    fp_str(w, "auth_ref.date", r->auth_ref.date);
    fp_int(w, "subsequent_auth", true, r->subsequent_auth.present);
    fp_str(w, "subsequent_auth.reason", r->subsequent_auth.reason);
    fp_str(w, "subsequent_auth.transaction_id", r->subsequent_auth.transaction_id);
    fp_str(w, "subsequent_auth.initiator", r->subsequent_auth.initiator);
    /* The 3-D Secure values are the cardholder's authentication: not buffered, as a card
     * number is not (the buffer is wiped all the same). */
    fp_int(w, "authentication", true, r->authentication.present);
    fp_str(w, "authentication.commerce_indicator", r->authentication.commerce_indicator);
    fp_card(w, "authentication.cavv", r->authentication.cavv);
    fp_card(w, "authentication.xid", r->authentication.xid);
    fp_str(w, "authentication.eci", r->authentication.eci);
    fp_card(w, "authentication.ucaf_data", r->authentication.ucaf_data);
    fp_address(w, "bill_to", r->bill_to);
    fp_address(w, "ship_to", r->ship_to);
    fp_int(w, "items", true, (int64_t)r->n_items);
    for (size_t i = 0; i < r->n_items; i++) {
        const pl_item *it = &r->items[i];
        fp_str(w, "item.sku", it->sku);
        fp_str(w, "item.product_code", it->product_code);
        fp_str(w, "item.name", it->name);
        fp_int(w, "item.unit_price", true, it->unit_price);
        fp_int(w, "item.quantity", true, it->quantity);
        fp_int(w, "item.tax_amount", it->has_tax_amount, it->tax_amount);
        fp_str(w, "item.commodity_code", it->commodity_code);
        fp_str(w, "item.unit_of_measure", it->unit_of_measure);
    }
    fp_int(w, "level23", true, r->level23.present);
    fp_str(w, "level23.customer_po", r->level23.customer_po);
    fp_int(w, "level23.tax_amount", r->level23.has_tax, r->level23.tax_amount);
    fp_int(w, "level23.freight_amount", r->level23.has_freight, r->level23.freight_amount);
    fp_int(w, "level23.duty_amount", r->level23.has_duty, r->level23.duty_amount);
    fp_int(w, "level23.discount_amount", r->level23.has_discount, r->level23.discount_amount);
    fp_int(w, "svc.order_line", r->svc.order_line != 0, r->svc.order_line);
}

int pl_request_fingerprint(const pl_request *r, const void *key, size_t keylen, char *out,
                           size_t outsize)
{
    return pl_request_fingerprint_v(r, PL_FINGERPRINT_VERSION, key, keylen, out, outsize);
}

int pl_request_fingerprint_v(const pl_request *r, int version, const void *key, size_t keylen,
                             char *out, size_t outsize)
{
    if (!r || !key || keylen == 0 || !out || version < 1 || version > PL_FINGERPRINT_VERSION)
        return PL_ERR_INVALID;
    if (outsize < 65)
        return PL_ERR_TOOBIG;

    int rc = PL_ERR_NOMEM;
    EVP_MAC_CTX *ctx = pl_hmac_sha256_keyed(key, keylen);
    if (!ctx)
        goto out;

    /* A version tag, so a future change of the field list never matches old fingerprints. */
    fp_writer w = {.ctx = ctx};
    fp_field(&w, "paylink-fingerprint", version == 1 ? "1" : "2");
    fp_field(&w, "type", pl_req_type_name(r->type));
    fp_int(&w, "company", true, r->company);
    fp_str(&w, "order", r->order);
    fp_int(&w, "pay_seq", true, r->pay_seq);
    fp_str(&w, "service", r->service);
    fp_str(&w, "pay_type", r->pay_type);
    fp_str(&w, "entity", r->entity);
    fp_int(&w, "amount", r->has_amount, r->amount);
    fp_str(&w, "currency", r->currency);
    fp_int(&w, "online", true, r->online);
    /* The card: number or token and expiry; never the CVV, which must not be kept. */
    fp_card(&w, "card.number", r->card.number);
    fp_str(&w, "card.token", r->card.token);
    fp_int(&w, "card.exp_month", r->card.exp_month != 0, r->card.exp_month);
    fp_int(&w, "card.exp_year", r->card.exp_year != 0, r->card.exp_year);
    fp_str(&w, "auth_ref.request_id", r->auth_ref.request_id);
    fp_str(&w, "auth_ref.transaction_id", r->auth_ref.transaction_id);
    fp_str(&w, "auth_ref.number", r->auth_ref.number);
    fp_int(&w, "auth_ref.amount", r->auth_ref.has_amount, r->auth_ref.amount);
    fp_str(&w, "capture_ref.request_id", r->capture_ref.request_id);
    fp_int(&w, "installment", true, r->installment);
    fp_card(&w, "svc.card_number", r->svc.card_number);
    fp_int(&w, "svc.issue_amount", r->svc.has_issue_amount, r->svc.issue_amount);
    fp_int(&w, "svc.virtual", r->svc.present, r->svc.is_virtual);
    if (version >= 2)
        fp_v2(&w, r);
    fp_flush(&w);
    /* The buffer held the request's other fields (an order number, a token): wiped too. */
    pl_card_wipe(w.buf, sizeof w.buf);
    if (w.bad)
        goto out;

    unsigned char md[32];
    size_t mdlen = 0;
    if (!EVP_MAC_final(ctx, md, &mdlen, sizeof md) || mdlen != sizeof md)
        goto out;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[2 * mdlen] = '\0';
    rc = PL_OK;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}
