/*
 * bureau_external.c: the External Payment Service adapter (`EXT`, message version 3.0).
 *
 * Requests are json-c trees serialised once; answers are read with json-c's tokener in strict
 * mode and every field is checked for type and size before it reaches the result, so a cut or
 * mistyped identifier is an unreadable answer rather than a wrong one. Version 3.0 carries
 * tokens, never card numbers, except to getToken: build refuses any other message without a
 * token, and the number is wiped from json-c's memory as far as json-c lets us reach it. The
 * manual is bureau_external.h; the wire contract is notes/ext-wire.md.
 */
#include "bureau_external.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "card.h"
#include "jsonutil.h"
#include "money.h"
#include "stored_value.h"

#define CONTENT_TYPE "application/json"
/* The contract's Transport: answers are asked for as JSON. Not a credential. */
#define ACCEPT_HEADER "Accept: application/json"
#define TOKENS_ONLY "message version 3.0 carries tokens only: getToken first"
#define SERIALISE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Contract limits of the request fields we take from configuration. */
#define MAX_MERCHANT_ID 30
/* Nesting json-c may follow in an answer; real answers are one level deep. */
#define JSON_DEPTH 32
/* seed (Customer Engagement): stored value card numbers are 10 to 16 digits without a check
 * digit, so free text has every run this long masked, Luhn or not. */
#define SVC_MIN_DIGITS 10

/* ---------------------------------------------------------------------------------------- */
/* The endpoints */

typedef enum endpoint {
    EP_TOKEN,
    EP_AUTH,
    EP_DEPOSIT,
    EP_RETURN,
    EP_REVERSAL,
    EP_INQUIRY,
    EP_GENERATE,
    EP_ACTIVATE,
    EP_RECHARGE,
} endpoint;

typedef struct op_spec {
    pl_bureau_op op;
    endpoint ep;
    const char *name; /* the url_suffix */
    bool svc;         /* paymentType SVC */
} op_spec;

static const op_spec SPECS[] = {
    {PL_OP_TOKEN, EP_TOKEN, "getToken", false},
    {PL_OP_AUTH, EP_AUTH, "authorization", false},
    {PL_OP_AUTH_CAPTURE, EP_AUTH, "authorization", false},
    {PL_OP_CAPTURE, EP_DEPOSIT, "deposit", false},
    {PL_OP_CREDIT, EP_RETURN, "return", false},
    {PL_OP_AUTH_REVERSAL, EP_REVERSAL, "reversal", false},
    {PL_OP_SVC_GENERATE, EP_GENERATE, "generateGift", true},
    {PL_OP_SVC_ACTIVATE, EP_ACTIVATE, "activateGift", true},
    {PL_OP_SVC_RECHARGE, EP_RECHARGE, "rechargeGift", true},
    {PL_OP_SVC_PREAUTH, EP_AUTH, "authorization", true},
    {PL_OP_SVC_POSTAUTH, EP_DEPOSIT, "deposit", true},
    {PL_OP_SVC_RETURN, EP_RETURN, "return", true},
    {PL_OP_SVC_INQUIRY, EP_INQUIRY, "balanceInquiry", true},
    {PL_OP_SVC_VOID, EP_REVERSAL, "reversal", true},
};

static const op_spec *spec_of(pl_bureau_op op)
{
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++)
        if (SPECS[i].op == op)
            return &SPECS[i];
    return NULL;
}

const char *pl_external_endpoint(pl_bureau_op op)
{
    const op_spec *s = spec_of(op);
    return s ? s->name : NULL;
}

/* Endpoints whose message requires an amount and a currency. */
static bool ep_moves_money(endpoint ep)
{
    return ep == EP_AUTH || ep == EP_DEPOSIT || ep == EP_RETURN || ep == EP_REVERSAL ||
           ep == EP_ACTIVATE || ep == EP_RECHARGE;
}

/* Endpoints whose message carries card.token. */
static bool ep_carries_token(endpoint ep)
{
    return ep != EP_TOKEN && ep != EP_GENERATE;
}

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

static bool has(const char *s)
{
    return s && *s;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* Wipes the text of a string member of obj in json-c's own memory (json-c frees without it). */
static void wipe_member(json_object *obj, const char *key)
{
    json_object *v;
    if (obj && json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string))
        pl_card_wipe((char *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/*
 * Wipes every string of a parsed tree in json-c's memory before it is freed: a bureau answer
 * or a logged message may hold a card number anywhere (cardNumber, a free text). The depth is
 * bounded by the tokener's (JSON_DEPTH).
 */
static void wipe_strings(json_object *o)
{
    if (json_object_is_type(o, json_type_string)) {
        pl_card_wipe((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
    } else if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            wipe_strings(json_object_array_get_idx(o, i));
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, val)
        {
            (void)key;
            wipe_strings(val);
        }
    }
}

/* The value of one of the allowed words equal to s in any case, or NULL. */
static const char *one_of(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, words[i]) == 0)
            return words[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Building */

/* What a call resolves to, checked before anything is built. */
typedef struct values {
    const char *version;
    const char *order;
    const char *currency; /* NULL: none known */
    bool has_amount;
    int64_t amount;
    const char *number; /* getToken only */
    const char *token;  /* every message that carries card.token */
    bool svc;           /* paymentType SVC */
    const char *sub_reason, *initiator;
} values;

static bool currency_ok(const char *c)
{
    return strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
           c[2] >= 'A' && c[2] <= 'Z';
}

/* Resolves and checks what the message needs; PL_ERR_INVALID with a reason otherwise. */
static int resolve(const pl_bureau_cfg *cfg, const pl_bureau_call *call, const op_spec *spec,
                   values *v, char *errstr, size_t errstr_size)
{
    const pl_request *req = call->req;
    const char *name = spec->name;
    memset(v, 0, sizeof *v);
    v->version = cfg && has(cfg->message_version) ? cfg->message_version : PL_EXT_DEFAULT_VERSION;

    if (!has(req->request_id))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: the request has no request_id",
                          name);
    if (!has(call->merchant_id) || strlen(call->merchant_id) > MAX_MERCHANT_ID)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: the merchant ID must be 1 to %d characters", name, MAX_MERCHANT_ID);
    if (req->company < 1 || req->company > 999 || req->pay_seq < 1)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: company must be 1 to 999 and pay_seq at least 1", name);
    v->order = has(call->order) ? call->order : req->order;
    if (!has(v->order) || strlen(v->order) > 20)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: the order number must be 1 to 20 characters", name);

    v->currency = has(call->currency) ? call->currency : has(req->currency) ? req->currency : NULL;
    if (v->currency && !currency_ok(v->currency))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: the currency is not an ISO 4217 code", name);

    if (ep_moves_money(spec->ep)) {
        v->has_amount = true;
        v->amount = call->amount;
        if (!v->currency)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s needs a currency", name);
    } else if (spec->ep == EP_GENERATE && req->svc.has_issue_amount) {
        v->has_amount = true;
        v->amount = req->svc.issue_amount;
    }
    if (v->has_amount && (v->amount < 0 || v->amount > PL_MONEY_MAX))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: the amount is out of range (0 to 9999999999999.99)", name);

    if (spec->ep == EP_TOKEN) {
        /* A stored value card's getToken is told by the engine's svc_card_number. */
        v->svc = has(call->svc_card_number);
        v->number = v->svc ? call->svc_card_number : req->card.number;
        size_t n = has(v->number) ? strlen(v->number) : 0;
        if (n == 0)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "getToken needs the card number");
        /* schema/ext: a credit card number is 12 to 19 digits; a stored value card's has no
         * check digit and 1 to 20 (seed: 10 to 16 in practice). */
        size_t min = v->svc ? 1 : 12, max = v->svc ? 20 : 19;
        if (n < min || n > max || !all_digits(v->number, n))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "getToken: the card number is not %zu to %zu digits", min, max);
    } else {
        v->svc = spec->svc;
    }

    if (ep_carries_token(spec->ep)) {
        v->token = has(call->card_token) ? call->card_token : req->card.token;
        if (!has(v->token))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: %s", name, TOKENS_ONLY);
        if (strlen(v->token) > 64)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: the card token is longer than 64 characters", name);
        /* A number passed where the token belongs would reach the bureau in the clear. */
        if ((has(req->card.number) && strcmp(v->token, req->card.number) == 0) ||
            (has(call->svc_card_number) && strcmp(v->token, call->svc_card_number) == 0))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: the card token is the card number; %s", name, TOKENS_ONLY);
    }

    if ((spec->ep == EP_DEPOSIT || spec->ep == EP_REVERSAL) && !has(call->ref_request_id))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s needs the authorization's transactionID", name);

    if (spec->ep == EP_AUTH) {
        static const char *const reasons[] = {"RESUBMIT", "REAUTH", "INSTALLMENT"};
        static const char *const initiators[] = {"MERCHANT", "CARDHOLDER"};
        if (has(call->sub_auth_reason) &&
            !(v->sub_reason = one_of(call->sub_auth_reason, reasons, 3)))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: the subsequent authorization reason must be RESUBMIT, "
                              "REAUTH or INSTALLMENT",
                              name);
        if (has(call->initiator) && !(v->initiator = one_of(call->initiator, initiators, 2)))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: the initiator must be MERCHANT or CARDHOLDER", name);
        /* schema/ext: a subsequent authorization is merchant-initiated (MIT). */
        if (v->sub_reason && v->initiator && strcmp(v->initiator, "MERCHANT") != 0)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: a subsequent authorization is merchant-initiated (initiator "
                              "%s)",
                              name, v->initiator);
        if (v->sub_reason && call->sub_auth_original_amount > PL_MONEY_MAX)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: the subsequent authorization's original amount is out of range",
                              name);
    }
    return 0;
}

/*
 * The tree is built with a sticky error so the member list below reads like the contract:
 * once a call fails (only allocation can), every later call does nothing and the first error
 * is reported at the end.
 */
typedef struct builder {
    int err;
} builder;

static void put(builder *b, json_object *obj, const char *key, json_object *val)
{
    if (b->err || !obj) {
        json_object_put(val);
        return;
    }
    if (!val || json_object_object_add(obj, key, val) != 0) {
        json_object_put(val);
        b->err = PL_ERR_NOMEM;
    }
}

/* A string member; left out when value is NULL or "". */
static void put_str(builder *b, json_object *obj, const char *key, const char *value)
{
    if (has(value) && !b->err)
        put(b, obj, key, json_object_new_string(value));
}

static void put_int(builder *b, json_object *obj, const char *key, int value)
{
    if (!b->err)
        put(b, obj, key, json_object_new_int(value));
}

static void put_bool(builder *b, json_object *obj, const char *key, bool value)
{
    if (!b->err)
        put(b, obj, key, json_object_new_boolean(value));
}

static void put_money(builder *b, json_object *obj, const char *key, int64_t minor)
{
    char amt[32];
    if (b->err)
        return;
    if (pl_money_format(minor, amt, sizeof amt) != 0) {
        b->err = PL_ERR_INVALID;
        return;
    }
    put(b, obj, key, json_object_new_string(amt));
}

/* A new object member of obj, or NULL (sticky error set). */
static json_object *put_obj(builder *b, json_object *obj, const char *key)
{
    if (b->err)
        return NULL;
    json_object *o = json_object_new_object();
    put(b, obj, key, o);
    return b->err ? NULL : o;
}

/* billTo / shipTo: the members of the address that are set; none when it is absent (NULL). */
static void put_address(builder *b, json_object *obj, const char *key, const pl_address *a,
                        const char *country)
{
    if (!a || b->err)
        return;
    json_object *o = json_object_new_object();
    if (!o) {
        b->err = PL_ERR_NOMEM;
        return;
    }
    put_str(b, o, "firstName", a->first_name);
    put_str(b, o, "lastName", a->last_name);
    put_str(b, o, "street1", a->street1);
    put_str(b, o, "street2", a->street2);
    put_str(b, o, "city", a->city);
    put_str(b, o, "state", a->state);
    put_str(b, o, "postalCode", a->postal_code);
    put_str(b, o, "country", has(country) ? country : a->country);
    put_str(b, o, "email", a->email);
    put_str(b, o, "phone", a->phone);
    if (json_object_object_length(o) == 0) {
        json_object_put(o);
        return;
    }
    put(b, obj, key, o);
}

static void put_card(builder *b, json_object *root, const pl_bureau_call *call, const op_spec *spec,
                     const values *v)
{
    const pl_card_data *c = &call->req->card;
    if (spec->ep == EP_GENERATE)
        return;
    json_object *card = put_obj(b, root, "card");
    if (spec->ep == EP_TOKEN) {
        /* The one message that carries a number (external_build wipes the tree). */
        put_str(b, card, "number", v->number);
        if (v->svc)
            return;
    } else {
        put_str(b, card, "token", v->token);
        /* The contract names the card's details for a credit card authorization only. */
        if (spec->ep != EP_AUTH || v->svc)
            return;
    }
    /* The expiry goes as a pair or not at all (schema/ext: each requires the other). */
    if (c->exp_month >= 1 && c->exp_month <= 12 && c->exp_year >= 1000 && c->exp_year <= 9999) {
        put_int(b, card, "expMonth", c->exp_month);
        put_int(b, card, "expYear", c->exp_year);
    }
    const char *type = c->type;
    if (!has(type) && spec->ep == EP_TOKEN)
        type = pl_card_type_guess(v->number);
    put_str(b, card, "type", type);
    if (spec->ep == EP_AUTH)
        put_str(b, card, "holder", c->holder);
}

/* seed "Subsequent Authorization Requests", as resolve() checked them. */
static void put_subsequent(builder *b, json_object *root, const pl_bureau_call *call,
                           const values *v)
{
    if (v->sub_reason) {
        put_str(b, root, "subsequentAuth", "Y");
        put_str(b, root, "subsequentAuthReason", v->sub_reason);
        put_str(b, root, "subsequentAuthTransactionID", call->sub_auth_transaction_id);
        if (call->sub_auth_original_amount >= 0)
            put_money(b, root, "subsequentAuthOriginalAmount", call->sub_auth_original_amount);
        put_str(b, root, "initiator", v->initiator);
    } else if (v->initiator) {
        put_str(b, root, "subsequentAuth", "N");
        put_str(b, root, "initiator", v->initiator);
    }
}

static void put_message(builder *b, json_object *root, const pl_bureau_call *call,
                        const op_spec *spec, const values *v)
{
    const pl_request *req = call->req;
    put_str(b, root, "messageVersion", v->version);
    put_str(b, root, "requestID", req->request_id);
    put_str(b, root, "merchantID", call->merchant_id);
    put_int(b, root, "company", req->company);
    put_str(b, root, "orderNumber", v->order);
    put_int(b, root, "paySeq", req->pay_seq);
    put_str(b, root, "paymentType", v->svc ? "SVC" : "CC");
    put_str(b, root, "payType", req->pay_type);

    if (v->has_amount)
        put_money(b, root, "amount", v->amount);
    if (spec->ep != EP_TOKEN)
        put_str(b, root, "currency", v->currency);
    if (spec->ep == EP_GENERATE && req->svc.order_line > 0)
        put_int(b, root, "orderLine", req->svc.order_line);
    put_card(b, root, call, spec, v);

    switch (spec->ep) {
    case EP_AUTH:
        put_address(b, root, "billTo", req->bill_to, call->bill_country);
        put_address(b, root, "shipTo", req->ship_to, call->ship_country);
        put_bool(b, root, "online", req->online);
        if (call->op == PL_OP_AUTH_CAPTURE)
            put_bool(b, root, "capture", true);
        put_subsequent(b, root, call, v);
        break;
    case EP_DEPOSIT:
        put_str(b, root, "transactionID", call->ref_request_id);
        put_str(b, root, "authorizationCode", call->ref_auth_code);
        put_bool(b, root, "voidRemainder", call->void_remainder);
        break;
    case EP_RETURN:
        put_str(b, root, "transactionID", call->ref_request_id);
        break;
    case EP_REVERSAL:
        put_str(b, root, "transactionID", call->ref_request_id);
        put_str(b, root, "authorizationCode", call->ref_auth_code);
        break;
    default:
        break;
    }
}

static int external_build(const pl_bureau_cfg *cfg, const pl_bureau_call *call, pl_bureau_msg *msg,
                          char *errstr, size_t errstr_size)
{
    if (!call || !msg)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing argument");
    memset(msg, 0, sizeof *msg);
    const op_spec *spec = spec_of(call->op);
    if (!spec)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s is not an External Payment Service operation (getToken, then "
                          "authorization)",
                          pl_bureau_op_name(call->op));
    if (!call->req)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: no request", spec->name);
    values v;
    int rc = resolve(cfg, call, spec, &v, errstr, errstr_size);
    if (rc)
        return rc;

    builder b = {0};
    json_object *root = json_object_new_object();
    if (!root)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    put_message(&b, root, call, spec, &v);

    if (!b.err) {
        size_t len = 0;
        const char *text = json_object_to_json_string_length(root, SERIALISE_FLAGS, &len);
        if (text && (msg->body = malloc(len + 1))) {
            memcpy(msg->body, text, len + 1);
            msg->body_len = len;
        } else {
            b.err = PL_ERR_NOMEM;
        }
        /* json-c frees its print buffer without wiping it. */
        if (text)
            pl_card_wipe((char *)text, len);
    }
    /* The card number (getToken) and the cardholder's data, in json-c's own copies. */
    wipe_strings(root);
    json_object_put(root);

    if (b.err)
        return pl_err_set(b.err, errstr, errstr_size, "building the %s message: %s", spec->name,
                          pl_err_str(b.err));
    snprintf(msg->url_suffix, sizeof msg->url_suffix, "%s", spec->name);
    snprintf(msg->content_type, sizeof msg->content_type, "%s", CONTENT_TYPE);
    snprintf(msg->extra_header, sizeof msg->extra_header, "%s", ACCEPT_HEADER);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

/*
 * Parses text[0, len) as exactly one strict JSON value in valid UTF-8 (whitespace around it
 * allowed), or returns NULL. A NUL anywhere is refused: json-c would stop reading there. The
 * tokener's buffer is wiped before it is freed.
 */
static json_object *parse_json(const char *text, size_t len)
{
    if (!text || len > PL_EXT_MAX_BODY)
        return NULL;
    /* The tokener's buffer held the last string read (generateGift's cardNumber, say). */
    return pl_json_parse_whole(text, len, JSON_DEPTH, PL_JSON_STRICT | PL_JSON_UTF8 | PL_JSON_WIPE);
}

/*
 * Member names the answer's object gives more than once. json-c keeps the last value of a name
 * silently ({"decision":"ACCEPT", ..., "decision":"REJECT"} reads REJECT), while another reader
 * of the same bytes (the provider's own, its logs) may take the first: booked as json-c reads
 * it, paylink could record a decline of an approval, or an amount the provider did not mean.
 * json-c reports no duplicate, and its tree has lost them, so the root object is walked once
 * more: every member name and value is read by json-c's tokener (strict, the rest of the text
 * left as it is: JSON_TOKENER_ALLOW_TRAILING_CHARS), which says where each ends; the walk
 * itself reads only the white space and the '{', ':', ',' and '}' between them. Names are thus
 * compared as json-c's tree keeps them: escapes decoded ("decisio\u006e" is "decision"), cut
 * at a NUL. Only the root object's names are seen: parse reads nothing deeper.
 */
static size_t skip_space(const char *text, size_t len, size_t at)
{
    while (at < len && pl_json_space(text[at]))
        at++;
    return at;
}

/* The JSON value json-c reads at text[*at, len) into *out (NULL for JSON null), *at moved past
 * it and the white space after it; false when there is none there. */
static bool read_next(json_tokener *tok, const char *text, size_t len, size_t *at,
                      json_object **out)
{
    json_tokener_reset(tok);
    *out = json_tokener_parse_ex(tok, text + *at, (int)(len - *at));
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(*out);
        *out = NULL;
        return false;
    }
    *at += json_tokener_get_parse_end(tok);
    return true;
}

/*
 * *dups gets a new object (the caller puts it) whose member names are those the root object of
 * text (one strict JSON object, as parse_json read it) gives more than once. Returns 0, or
 * PL_ERR_PARSE when the walk cannot read the text (out of memory; or a name json-c's object
 * parser takes but a value read alone is not: json-c's strict mode still accepts a single-quoted
 * name, `{'decision':...}`, which the walk refuses, the answer then unreadable — the safe side),
 * *dups NULL. Every string read is wiped, and the tokener's buffer.
 */
static int root_duplicates(const char *text, size_t len, json_object **dups)
{
    int rc = PL_ERR_PARSE;
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    json_object *seen = json_object_new_object();
    *dups = json_object_new_object();
    if (!tok || !seen || !*dups || len > INT32_MAX)
        goto out;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                    JSON_TOKENER_VALIDATE_UTF8);
    size_t at = skip_space(text, len, 0);
    if (at >= len || text[at] != '{')
        goto out;
    at = skip_space(text, len, at + 1);
    bool more = at >= len || text[at] != '}';
    while (more) {
        json_object *name = NULL, *value = NULL;
        if (!read_next(tok, text, len, &at, &name) ||
            !json_object_is_type(name, json_type_string)) {
            json_object_put(name);
            goto out;
        }
        /* The name as a C string: as json-c keeps an object's keys, cut at a NUL. */
        const char *key = json_object_get_string(name);
        int added = 0;
        if (json_object_object_get_ex(seen, key, NULL))
            added = json_object_object_get_ex(*dups, key, NULL)
                        ? 0
                        : json_object_object_add(*dups, key, NULL);
        else
            added = json_object_object_add(seen, key, NULL);
        wipe_strings(name);
        json_object_put(name);
        if (added != 0)
            goto out;
        at = skip_space(text, len, at);
        if (at >= len || text[at] != ':')
            goto out;
        at++;
        /* The value is read only to step over it (a card number may be in it). */
        bool stepped = read_next(tok, text, len, &at, &value);
        if (value) {
            wipe_strings(value);
            json_object_put(value);
        }
        if (!stepped)
            goto out;
        at = skip_space(text, len, at);
        if (at < len && text[at] == ',')
            at++;
        else if (at < len && text[at] == '}')
            more = false;
        else
            goto out;
    }
    rc = 0;
out:
    if (tok) {
        if (tok->pb && tok->pb->buf)
            pl_card_wipe(tok->pb->buf, (size_t)tok->pb->size);
        json_tokener_free(tok);
    }
    json_object_put(seen);
    if (rc) {
        json_object_put(*dups);
        *dups = NULL;
    }
    return rc;
}

/* An answer as read_answer reads it: its object, and the names it gives more than once. */
typedef struct answer {
    json_object *root;
    json_object *dups;
} answer;

/*
 * *out gets the member key of the answer, or NULL when absent or JSON null. PL_ERR_PARSE when
 * the answer gives key more than once: which of its values the provider meant cannot be told.
 */
static int member(const answer *a, const char *key, json_object **out, char *errstr,
                  size_t errstr_size)
{
    *out = NULL;
    if (json_object_object_get_ex(a->dups, key, NULL))
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s is given more than once", key);
    json_object *v = NULL;
    if (json_object_object_get_ex(a->root, key, &v))
        *out = v; /* NULL for JSON null */
    return 0;
}

/*
 * Reads string member key into field (size bytes with the NUL). Absent or null: field stays
 * "". Not a string, a string with a NUL in it, one too long for field, or a member given more
 * than once: PL_ERR_PARSE, the error naming the key only (the value may be anything, a card
 * number included).
 */
static int read_str(const answer *a, const char *key, char *field, size_t size, char *errstr,
                    size_t errstr_size)
{
    json_object *v;
    int rc = member(a, key, &v, errstr, errstr_size);
    if (rc || !v)
        return rc;
    if (!json_object_is_type(v, json_type_string))
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s is not a string", key);
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (strlen(s) != len)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s holds a NUL character", key);
    if (len >= size)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "%s is too long (%zu characters, at most %zu)", key, len, size - 1);
    memcpy(field, s, len + 1);
    return 0;
}

/* Reads a non-negative decimal amount string; *has set when present. */
static int read_amount(const answer *a, const char *key, bool *has_it, int64_t *out, char *errstr,
                       size_t errstr_size)
{
    char text[32] = "";
    json_object *present;
    int rc = read_str(a, key, text, sizeof text, errstr, errstr_size);
    if (rc || (rc = member(a, key, &present, errstr, errstr_size)) || !present)
        return rc;
    int64_t v;
    if (pl_money_parse_decimal(text, &v) != 0 || v < 0)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s is not an amount", key);
    *out = v;
    *has_it = true;
    return 0;
}

#define READ(key, field)                                                                           \
    do {                                                                                           \
        if ((rc = read_str(a, (key), (field), sizeof(field), errstr, errstr_size)))                \
            return rc;                                                                             \
    } while (0)

static int read_answer(const pl_bureau_call *call, const answer *a, pl_bureau_result *res,
                       char *errstr, size_t errstr_size)
{
    int rc;
    const op_spec *spec = call ? spec_of(call->op) : NULL;

    READ("decision", res->decision);
    static const char *const decisions[] = {"ACCEPT", "REJECT", "ERROR"};
    bool known = false;
    for (size_t i = 0; i < 3; i++)
        known = known || strcmp(res->decision, decisions[i]) == 0;
    if (!known)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "decision is absent or not ACCEPT, REJECT or ERROR");

    READ("requestID", res->merchant_reference_code);
    /* An answer to another request (a mixed-up connection, a provider bug) is no answer. */
    if (res->merchant_reference_code[0] && call && call->req && call->req->request_id[0] &&
        strcmp(res->merchant_reference_code, call->req->request_id) != 0)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "requestID is not the request_id of the request sent");
    READ("reasonCode", res->reason_code);
    /* The vendor response it becomes is at most 10 characters (§9; every table's
     * vendor_response): a longer one could not be stored, and the answer would be lost. */
    if (strlen(res->reason_code) > PL_EXT_REASON_CODE_MAX)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "reasonCode is too long (%zu characters, at most %d)",
                          strlen(res->reason_code), PL_EXT_REASON_CODE_MAX);
    READ("transactionID", res->request_id);
    READ("authorizationCode", res->auth_code);
    READ("authorizedDateTime", res->auth_date);
    READ("avsCode", res->avs);
    READ("cvvCode", res->cvv);
    READ("cardToken", res->token);
    /* A token that is a card number would be stored and published as a token is (§13): refused
     * as the request decoder refuses one (the number itself is wiped with the result). */
    if (res->token[0] && pl_card_is_number(res->token, strlen(res->token)))
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "cardToken is a card number");
    READ("cardStatus", res->svc_status);
    if ((rc = read_amount(a, "amount", &res->has_amount, &res->amount, errstr, errstr_size)) ||
        (rc = read_amount(a, "balance", &res->has_balance, &res->balance, errstr, errstr_size)))
        return rc;

    json_object *m;
    if ((rc = member(a, "message", &m, errstr, errstr_size)))
        return rc;
    if (m) {
        if (!json_object_is_type(m, json_type_string))
            return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "message is not a string");
        /* Fully: the service's words go into the reply and the row, and may split a card
         * number with characters off the keyboard or glue its expiry to it. */
        size_t n = pl_card_scrub_copy_full(res->error_text, sizeof res->error_text,
                                           json_object_get_string(m),
                                           (size_t)json_object_get_string_len(m), PL_MASK_LAST4);
        pl_card_mask_digit_runs(res->error_text, n, SVC_MIN_DIGITS, PL_MASK_LAST4);
    }

    /* The new card's number: only generateGift has one to give (contract). */
    if (spec && spec->ep == EP_GENERATE) {
        READ("cardNumber", res->svc_card_number);
        size_t n = strlen(res->svc_card_number);
        if (n > 0 && (n < SVC_MIN_DIGITS || !all_digits(res->svc_card_number, n)))
            return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                              "cardNumber is not 10 to 20 digits");
    }

    /* An approval the engine could not act on: a lost token, a generated card lost to the
     * customer, an authorization no deposit or reversal could refer to. */
    if (spec && strcmp(res->decision, "ACCEPT") == 0) {
        if (spec->ep == EP_TOKEN && !res->token[0])
            return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                              "getToken is accepted but has no cardToken");
        if (spec->ep == EP_GENERATE && !res->svc_card_number[0])
            return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                              "generateGift is accepted but has no cardNumber");
        if (spec->ep == EP_AUTH && !res->request_id[0])
            return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                              "authorization is accepted but has no transactionID");
        /* An approval of nothing for a call of more (schema/ext §10): booked as it reads, an
         * authorization would stand approved for 0.00 (and become the CIT later merchant-
         * initiated authorizations name, with amount 0), a deposit, return or load would be
         * reported done with nothing moved, and a reversal would be a partial one of nothing,
         * the hold left in place. Which of these the provider meant cannot be told, so it is
         * no readable answer: the outcome unknown, for an operator to settle. A provider that
         * approves nothing answers REJECT. A call for 0.00 (a card verification) may be
         * approved for 0.00. */
        if (ep_moves_money(spec->ep) && res->has_amount && res->amount == 0 && call->amount > 0)
            return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                              "%s is accepted for an amount of 0.00 (an approval of nothing)",
                              spec->name);
        /* A stored value load (activateGift, rechargeGift), redemption (deposit) or return
         * approved for part of what was sent: the contract approves only an authorization for
         * part (schema/ext §10, §12), as Customer Engagement does (pl_stored_value_check_whole).
         * A reversal releases what the authorization still holds, which may be less: read. */
        if (res->has_amount) {
            int rc = pl_stored_value_check_whole(spec->op, call->amount, res->amount, spec->name,
                                                 "is accepted for", errstr, errstr_size);
            if (rc)
                return rc;
        }
    }
    return 0;
}

#undef READ

static int external_parse(const pl_bureau_cfg *cfg, const pl_bureau_call *call, long http_status,
                          const char *body, size_t body_len, pl_bureau_result *res, char *errstr,
                          size_t errstr_size)
{
    (void)cfg;
    if (!res)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing argument");
    memset(res, 0, sizeof *res);
    const char *what = call && spec_of(call->op) ? spec_of(call->op)->name : "External Payment";
    /* contract: anything but 200 is no readable answer (the engine handles 401 before). */
    if (http_status != 200)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s answer: HTTP %ld", what,
                          http_status);
    if (body_len > PL_EXT_MAX_BODY)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "%s answer: %zu bytes, more than the %d allowed", what, body_len,
                          PL_EXT_MAX_BODY);
    json_object *root = parse_json(body, body_len);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "%s answer (HTTP 200): not a JSON object", what);
    }
    char why[160];
    answer a = {.root = root};
    int rc = root_duplicates(body, body_len, &a.dups);
    if (rc)
        snprintf(why, sizeof why, "its member names could not be read");
    else
        rc = read_answer(call, &a, res, why, sizeof why);
    json_object_put(a.dups);
    if (rc) {
        pl_err_set(rc, errstr, errstr_size, "%s answer (HTTP 200): %s", what, why);
        pl_card_wipe(res, sizeof *res);
    } else if (call) {
        /* A stored value card may be shorter than SVC_MIN_DIGITS (the contract takes 1-20
         * digits), which neither scrub above sees: one the bureau echoes in its message was
         * stored, replied and logged in full (as Customer Engagement's adapter masks it). */
        pl_card_mask_copies(res->error_text, call->svc_card_number, true);
    }
    /* cardNumber, and any card number the provider put elsewhere, are in json-c's strings. */
    wipe_strings(root);
    json_object_put(root);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Redaction */

/* The longest card number or token the redaction masks by its last four; a longer value (the
 * contract's tokens are at most 64 characters) is removed whole. */
#define MASK_MAX 127
/* The shortest token whose other copies in the text are masked too: a shorter one could be
 * any word of the text. Real tokens are 16 characters or more. */
#define TOKEN_COPY_MIN 8

/* The card numbers and tokens the redaction masked, so every other copy of them is masked
 * too. */
typedef struct seen {
    char values[8][MASK_MAX + 1];
    size_t n;
} seen;

static void remember(seen *s, const char *value, size_t len, bool token)
{
    bool worth = token ? len >= TOKEN_COPY_MIN : len >= SVC_MIN_DIGITS && all_digits(value, len);
    if (worth && s->n < sizeof s->values / sizeof s->values[0] && len <= MASK_MAX) {
        memcpy(s->values[s->n], value, len);
        s->values[s->n][len] = '\0';
        s->n++;
    }
}

/*
 * Replaces obj[key] (a card number, or a card token: token) by its mask in mode, the last four
 * characters kept in PL_MASK_LAST4; anything that is not a plain string or integer becomes
 * ***REMOVED***. A card token is masked as a card number is: under the merchant's account it
 * charges the card as the number would.
 */
static int mask_value(json_object *obj, const char *key, json_object *val, pl_mask_mode mode,
                      seen *s, bool token)
{
    char text[MASK_MAX + 1] = "", masked[MASK_MAX + 16];
    bool ok = false;
    if (json_object_is_type(val, json_type_string)) {
        const char *v = json_object_get_string(val);
        size_t len = (size_t)json_object_get_string_len(val);
        if (len < sizeof text && strlen(v) == len) {
            memcpy(text, v, len + 1);
            ok = true;
        }
        pl_card_wipe((char *)v, len);
    } else if (json_object_is_type(val, json_type_int)) {
        ok = snprintf(text, sizeof text, "%lld", (long long)json_object_get_int64(val)) > 0;
    }
    if (!ok || pl_card_mask_log(text, mode, masked, sizeof masked) != 0)
        snprintf(masked, sizeof masked, "***REMOVED***");
    remember(s, text, strlen(text), token);
    pl_card_wipe(text, sizeof text);
    json_object *nv = json_object_new_string(masked);
    if (!nv || json_object_object_add(obj, key, nv) != 0) {
        json_object_put(nv);
        return PL_ERR_NOMEM;
    }
    return 0;
}

/*
 * Masks in mode the card numbers of the string value str as decoded (pl_card_scrub_full). The
 * copy is written with JSON's escapes, where a control character between the groups becomes
 * "\t" or "\u0001" and no scrub of the written text reads the number that a reader does; so
 * each string is scrubbed before. Most hold none: one pass over them decides.
 */
static int scrub_string(json_object *str, pl_mask_mode mode)
{
    const char *v = json_object_get_string(str);
    size_t len = (size_t)json_object_get_string_len(str);
    if (!pl_card_contains_full(v, len))
        return 0;
    size_t n;
    char *copy = pl_card_scrub_dup_full(v, len, mode, &n); /* a NUL as '.', as the whole copy's */
    if (!copy)
        return PL_ERR_NOMEM;
    pl_card_wipe((char *)v, len);
    int rc = json_object_set_string_len(str, copy, (int)n) ? 0 : PL_ERR_NOMEM;
    pl_card_wipe(copy, len);
    free(copy);
    return rc;
}

/*
 * Masks the card data of one object and its descendants: card.number, cardNumber, the card
 * tokens card.token and cardToken, the free text of message; removes cvv / cvNumber; and any
 * other string that holds a card number (scrub_string). in_card: obj is a "card" member.
 */
static int redact_tree(json_object *obj, bool in_card, pl_mask_mode mode, seen *s, int depth)
{
    if (depth > JSON_DEPTH)
        return 0;
    if (json_object_is_type(obj, json_type_string))
        return scrub_string(obj, mode);
    if (json_object_is_type(obj, json_type_array)) {
        size_t n = json_object_array_length(obj);
        for (size_t i = 0; i < n; i++) {
            int rc = redact_tree(json_object_array_get_idx(obj, i), false, mode, s, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (!json_object_is_type(obj, json_type_object))
        return 0;

    static const char *const drop[] = {"cvv", "cvNumber"};
    for (size_t i = 0; i < 2; i++) {
        /* A loop: nothing here relies on json-c keeping only one member of a name. */
        while (json_object_object_get_ex(obj, drop[i], NULL)) {
            wipe_member(obj, drop[i]);
            json_object_object_del(obj, drop[i]);
        }
    }
    const struct {
        const char *key;
        bool token;
    } masked[] = {
        {"cardNumber", false},
        {in_card ? "number" : NULL, false},
        {"cardToken", true},
        {in_card ? "token" : NULL, true},
    };
    for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++) {
        json_object *val;
        if (masked[i].key && json_object_object_get_ex(obj, masked[i].key, &val) && val) {
            int rc = mask_value(obj, masked[i].key, val, mode, s, masked[i].token);
            if (rc)
                return rc;
        }
    }
    json_object *msg = NULL, *done = NULL;
    if (json_object_object_get_ex(obj, "message", &msg) &&
        json_object_is_type(msg, json_type_string)) {
        done = msg;
        /* The full scan first: the digit runs' stars would hide from it a number split by 'é'
         * ("4111111111é111111" kept ten digits in clear). */
        int rc = scrub_string(msg, mode);
        if (rc)
            return rc;
        pl_card_mask_digit_runs((char *)json_object_get_string(msg),
                                (size_t)json_object_get_string_len(msg), SVC_MIN_DIGITS, mode);
    }

    json_object_object_foreach(obj, key, val)
    {
        if (val == done)
            continue; /* scrubbed above */
        int rc = redact_tree(val, strcmp(key, "card") == 0, mode, s, depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * pl_card_scrub_dup_full: the message log holds the service's words as sent, where a card
 * number split by characters off the keyboard, in full-width digits or with its expiry glued is
 * as readable as any. `unparsed` also masks every run of SVC_MIN_DIGITS or more digits.
 */
static char *scrub_dup(const char *text, size_t len, pl_mask_mode mode, bool unparsed)
{
    size_t n;
    char *copy = pl_card_scrub_dup_full(text, len, mode, &n);
    if (copy && unparsed)
        pl_card_mask_digit_runs(copy, n, SVC_MIN_DIGITS, mode);
    return copy;
}

/* Masks every other copy of a masked number or token in text (one echoed in a free text, a
 * number glued to other digits where neither the Luhn scrub nor the run masking would see it).
 * remember() kept only values long enough to be told from other text. */
static void mask_copies(char *text, const char *value, pl_mask_mode mode)
{
    size_t n = strlen(value);
    if (n == 0)
        return;
    size_t keep = mode == PL_MASK_LAST4 && n > 4 ? 4 : 0;
    for (char *p = strstr(text, value); p; p = strstr(p + n, value))
        memset(p, '*', n - keep);
}

static char *external_redact(const char *body, size_t body_len, int mode)
{
    /* Anything but the last-four mode removes the number: the safer reading. */
    pl_mask_mode m = mode == PL_MASK_LAST4 ? PL_MASK_LAST4 : PL_MASK_REMOVED;
    if (!body)
        return NULL;
    json_object *root = parse_json(body, body_len);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return scrub_dup(body, body_len, m, true);
    }

    char *copy = NULL;
    seen s = {.n = 0};
    if (redact_tree(root, false, m, &s, 0) == 0) {
        size_t len = 0;
        const char *text = json_object_to_json_string_length(root, SERIALISE_FLAGS, &len);
        if (text) {
            /* The second net: the Luhn scrub over the whole text (and the CVV patterns). */
            copy = scrub_dup(text, len, m, false);
            pl_card_wipe((char *)text, len);
        }
        for (size_t i = 0; copy && i < s.n; i++)
            mask_copies(copy, s.values[i], m);
    }
    pl_card_wipe(&s, sizeof s);
    wipe_strings(root);
    json_object_put(root);
    return copy;
}

const pl_bureau_ops pl_bureau_external = {
    .protocol = "EXT",
    .flags = PL_BUREAU_OAUTH | PL_BUREAU_TOKENS_ONLY,
    .build = external_build,
    .parse = external_parse,
    .redact = external_redact,
};
