/*
 * test_bureau_external.c: the External Payment Service adapter (EXT, message version 3.0)
 * against paylink's wire contract (notes/ext-wire.md, the manual in bureau_external.h).
 *
 * Every operation is built and its body parsed back with json-c: the endpoint, the content
 * type, the exact set of members and their values. No message but getToken may hold the card
 * number, which is searched for in every body. Answers of every kind are parsed, the
 * unreadable ones refused, and the message-log copies checked for card data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <json-c/json.h>

#include "bureau.h"
#include "bureau_external.h"
#include "card.h"
#include "ext_test_helpers.h"
#include "request.h"

#define PAN EXT_TEST_PAN
#define SVC_PAN EXT_TEST_SVC_PAN
#define ENGINE_TOKEN EXT_TEST_ENGINE_TOKEN
#define MERCHANT EXT_TEST_MERCHANT
#define TOKEN "tok_8f2c1a9e77"

/* ---------------------------------------------------------------------------------------- */
/* The test's call and message */

/*
 * Every test starts (setup) with the EXT configuration in cfg and nothing built; make_call
 * gives call a realistic call of op on a fresh test_req (ext_test_helpers.h); build() builds
 * it into msg and root, releasing what the previous build made, and teardown releases the last.
 */
static pl_request test_req;
static pl_bureau_cfg cfg;
static pl_bureau_call call;
static pl_bureau_msg msg;
static json_object *root;

static void make_call(pl_bureau_op op)
{
    pl_request_free(&test_req); /* the previous call's addresses */
    ext_test_call(&call, op, &test_req);
}

static void release(void)
{
    json_object_put(root);
    root = NULL;
    pl_bureau_msg_free(&msg);
}

static int setup(void **state)
{
    (void)state;
    ext_test_cfg(&cfg);
    memset(&msg, 0, sizeof msg);
    root = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    release();
    pl_request_free(&test_req);
    return 0;
}

/* Builds call with the configuration c (may be NULL) into msg; root is the body, parsed. */
static json_object *build_with(const pl_bureau_cfg *c)
{
    release();
    char err[256] = "";
    int rc = pl_bureau_external.build(c, &call, &msg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "build: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(msg.body);
    assert_int_equal(strlen(msg.body), msg.body_len);
    assert_string_equal(msg.content_type, "application/json");
    assert_string_equal(msg.extra_header, "Accept: application/json");
    assert_string_equal(msg.auth_header, "");
    assert_string_equal(msg.soap_action, "");
    root = json_tokener_parse(msg.body);
    assert_non_null(root);
    assert_true(json_object_is_type(root, json_type_object));
    return root;
}

static json_object *build(void)
{
    return build_with(&cfg);
}

/* A refused build of call: the error, nothing to free, and no card number in the error. */
static int build_err(char *err, size_t errsize)
{
    pl_bureau_msg refused;
    memset(&refused, 0xA5, sizeof refused);
    int rc = pl_bureau_external.build(&cfg, &call, &refused, err, errsize);
    assert_int_not_equal(rc, 0);
    assert_null(refused.body);
    assert_int_equal(refused.body_len, 0);
    /* No error text ever holds the card number. */
    assert_null(strstr(err, PAN));
    assert_null(strstr(err, SVC_PAN));
    return rc;
}

/* The member at a dotted path ("card.token"), or NULL. */
static json_object *at(json_object *obj, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_object *o = obj;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        json_object *next = NULL;
        if (!o || !json_object_object_get_ex(o, k, &next))
            return NULL;
        o = next;
    }
    return o;
}

static void assert_str_at(json_object *obj, const char *path, const char *want)
{
    json_object *v = at(obj, path);
    if (!v || !json_object_is_type(v, json_type_string))
        fail_msg("%s is not a string member", path);
    assert_string_equal(json_object_get_string(v), want);
}

static void assert_int_at(json_object *obj, const char *path, int want)
{
    json_object *v = at(obj, path);
    if (!v || !json_object_is_type(v, json_type_int))
        fail_msg("%s is not an integer member", path);
    assert_int_equal(json_object_get_int(v), want);
}

static void assert_bool_at(json_object *obj, const char *path, bool want)
{
    json_object *v = at(obj, path);
    if (!v || !json_object_is_type(v, json_type_boolean))
        fail_msg("%s is not a boolean member", path);
    assert_int_equal(json_object_get_boolean(v), want);
}

static void assert_absent(json_object *obj, const char *path)
{
    if (at(obj, path))
        fail_msg("%s should be absent", path);
}

/* The object at path has exactly the members named in the comma-separated list. */
static void assert_keys(json_object *obj, const char *path, const char *list)
{
    json_object *o = path ? at(obj, path) : obj;
    if (!o || !json_object_is_type(o, json_type_object))
        fail_msg("%s is not an object", path ? path : "the body");
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    int want = 0;
    for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        if (!json_object_object_get_ex(o, k, NULL))
            fail_msg("%s: member %s is missing", path ? path : "body", k);
        want++;
    }
    if (json_object_object_length(o) != want) {
        fprintf(stderr, "%s: %s\n", path ? path : "body",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        fail_msg("%s: %d members, expected %d (%s)", path ? path : "body",
                 json_object_object_length(o), want, list);
    }
}

/* The body never carries a card number or any long part of one. */
static void assert_no_number(const pl_bureau_msg *m)
{
    assert_null(strstr(m->body, PAN));
    assert_null(strstr(m->body, SVC_PAN));
    assert_null(strstr(m->body, "411111111111"));
    assert_null(strstr(m->body, "\"number\""));
    assert_false(pl_card_contains(m->body, m->body_len));
}

#define COMMON "messageVersion,requestID,merchantID,company,orderNumber,paySeq,paymentType,payType"

static void assert_common(json_object *obj, const char *payment_type)
{
    assert_str_at(obj, "messageVersion", "3.0");
    assert_str_at(obj, "requestID", "req-0001");
    assert_str_at(obj, "merchantID", MERCHANT);
    assert_int_at(obj, "company", 7);
    assert_str_at(obj, "orderNumber", "ORD000123");
    assert_int_at(obj, "paySeq", 2);
    assert_str_at(obj, "paymentType", payment_type);
    assert_str_at(obj, "payType", "VI");
}

/* ---------------------------------------------------------------------------------------- */
/* The registry and the endpoints */

static void test_registry(void **state)
{
    (void)state;
    assert_ptr_equal(pl_bureau_find("EXT"), &pl_bureau_external);
    assert_ptr_equal(pl_bureau_find("RLT"), &pl_bureau_relate);
    assert_ptr_equal(pl_bureau_find("CYB"), &pl_bureau_cybersource);
    assert_string_equal(pl_bureau_external.protocol, "EXT");
    assert_int_equal(pl_bureau_external.flags, PL_BUREAU_OAUTH | PL_BUREAU_TOKENS_ONLY);
    assert_non_null(pl_bureau_external.build);
    assert_non_null(pl_bureau_external.parse);
    assert_non_null(pl_bureau_external.redact);
    assert_null(pl_external_endpoint(PL_OP_TOKEN_AUTH));
    assert_string_equal(pl_external_endpoint(PL_OP_TOKEN), "getToken");
}

static const struct {
    pl_bureau_op op;
    const char *endpoint;
    const char *payment_type;
    const char *keys; /* besides COMMON */
    const char *card_keys;
} OPS[] = {
    {PL_OP_AUTH, "authorization", "CC", "amount,currency,card,billTo,shipTo,online",
     "token,expMonth,expYear,type,holder"},
    {PL_OP_AUTH_CAPTURE, "authorization", "CC", "amount,currency,card,billTo,shipTo,online,capture",
     "token,expMonth,expYear,type,holder"},
    {PL_OP_CAPTURE, "deposit", "CC",
     "amount,currency,card,transactionID,authorizationCode,voidRemainder", "token"},
    {PL_OP_CREDIT, "return", "CC", "amount,currency,card,transactionID", "token"},
    {PL_OP_AUTH_REVERSAL, "reversal", "CC", "amount,currency,card,transactionID,authorizationCode",
     "token"},
    {PL_OP_SVC_GENERATE, "generateGift", "SVC", "currency", NULL},
    {PL_OP_SVC_ACTIVATE, "activateGift", "SVC", "amount,currency,card", "token"},
    {PL_OP_SVC_RECHARGE, "rechargeGift", "SVC", "amount,currency,card", "token"},
    {PL_OP_SVC_PREAUTH, "authorization", "SVC", "amount,currency,card,billTo,shipTo,online",
     "token"},
    {PL_OP_SVC_POSTAUTH, "deposit", "SVC",
     "amount,currency,card,transactionID,authorizationCode,voidRemainder", "token"},
    {PL_OP_SVC_RETURN, "return", "SVC", "amount,currency,card,transactionID", "token"},
    {PL_OP_SVC_INQUIRY, "balanceInquiry", "SVC", "currency,card", "token"},
    {PL_OP_SVC_VOID, "reversal", "SVC", "amount,currency,card,transactionID,authorizationCode",
     "token"},
};

/* Every operation but getToken: its endpoint, its exact members, and never a card number. */
static void test_build_every_op(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        make_call(OPS[i].op);
        build();
        assert_string_equal(msg.url_suffix, OPS[i].endpoint);
        assert_string_equal(pl_external_endpoint(OPS[i].op), OPS[i].endpoint);
        char keys[512];
        snprintf(keys, sizeof keys, "%s,%s", COMMON, OPS[i].keys);
        assert_keys(root, NULL, keys);
        assert_common(root, OPS[i].payment_type);
        assert_str_at(root, "currency", "USD");
        if (OPS[i].card_keys) {
            assert_keys(root, "card", OPS[i].card_keys);
            assert_str_at(root, "card.token", ENGINE_TOKEN);
        }
        if (at(root, "amount"))
            assert_str_at(root, "amount", "120.00");
        assert_no_number(&msg);
        release();
        assert_null(msg.body);
    }
}

static void test_build_get_token(void **state)
{
    (void)state;
    /* Credit card: the number with its expiry and type; nothing about money. */
    make_call(PL_OP_TOKEN);
    build();
    assert_string_equal(msg.url_suffix, "getToken");
    assert_keys(root, NULL, COMMON ",card");
    assert_common(root, "CC");
    assert_keys(root, "card", "number,expMonth,expYear,type");
    assert_str_at(root, "card.number", PAN);
    assert_int_at(root, "card.expMonth", 12);
    assert_int_at(root, "card.expYear", 2030);
    assert_str_at(root, "card.type", "VI");

    /* No type in the request: guessed from the number; half an expiry: left out. */
    make_call(PL_OP_TOKEN);
    test_req.card.type[0] = '\0';
    test_req.card.exp_month = 0;
    snprintf(test_req.card.number, sizeof test_req.card.number, "5555555555554444");
    build();
    assert_keys(root, "card", "number,type");
    assert_str_at(root, "card.type", "MC");

    /* Stored value: the card's number as the engine passes it, paymentType SVC, no details. */
    make_call(PL_OP_TOKEN);
    call.svc_card_number = SVC_PAN;
    build();
    assert_common(root, "SVC");
    assert_keys(root, "card", "number");
    assert_str_at(root, "card.number", SVC_PAN);

    /* A stored value number has no check digit and may be short (refusals: REFUSALS). */
    make_call(PL_OP_TOKEN);
    call.svc_card_number = "7001234";
    build();
    assert_str_at(root, "card.number", "7001234");
}

static void test_build_auth_fields(void **state)
{
    (void)state;
    make_call(PL_OP_AUTH);
    call.bill_country = "CA"; /* after the country cross-reference */
    build();
    assert_str_at(root, "amount", "120.00");
    assert_str_at(root, "currency", "USD");
    assert_int_at(root, "card.expMonth", 12);
    assert_int_at(root, "card.expYear", 2030);
    assert_str_at(root, "card.type", "VI");
    assert_str_at(root, "card.holder", "Jane Doe");
    assert_keys(root, "billTo", "firstName,lastName,street1,city,state,postalCode,country,email");
    assert_str_at(root, "billTo.firstName", "Jane");
    assert_str_at(root, "billTo.lastName", "Doe");
    assert_str_at(root, "billTo.street1", "1 Main St");
    assert_str_at(root, "billTo.city", "Boston");
    assert_str_at(root, "billTo.state", "MA");
    assert_str_at(root, "billTo.postalCode", "02110");
    assert_str_at(root, "billTo.country", "CA");
    assert_str_at(root, "billTo.email", "jane@example.com");
    assert_keys(root, "shipTo", "firstName,lastName,street1,street2,city,country,phone");
    assert_str_at(root, "shipTo.street2", "Apt 3");
    assert_str_at(root, "shipTo.country", "US");
    assert_str_at(root, "shipTo.phone", "555-0100");
    assert_bool_at(root, "online", true);
    assert_absent(root, "capture");
    assert_absent(root, "subsequentAuth");
    assert_absent(root, "initiator");

    /* Batch, no addresses, no card details, the request's token, no pay type. */
    make_call(PL_OP_AUTH_CAPTURE);
    call.card_token = NULL;
    snprintf(test_req.card.token, sizeof test_req.card.token, TOKEN);
    test_req.card.number[0] = '\0';
    test_req.online = false;
    free(test_req.bill_to);
    free(test_req.ship_to);
    test_req.bill_to = test_req.ship_to = NULL;
    test_req.card.exp_month = test_req.card.exp_year = 0;
    test_req.card.type[0] = test_req.card.holder[0] = '\0';
    test_req.pay_type[0] = '\0';
    call.amount = 5;
    build();
    assert_keys(root, NULL,
                "messageVersion,requestID,merchantID,company,orderNumber,paySeq,paymentType,"
                "amount,currency,card,online,capture");
    assert_keys(root, "card", "token");
    assert_str_at(root, "card.token", TOKEN);
    assert_str_at(root, "amount", "0.05");
    assert_bool_at(root, "online", false);
    assert_bool_at(root, "capture", true);

    /* An address with nothing the contract carries is left out. */
    make_call(PL_OP_AUTH);
    memset(test_req.ship_to, 0, sizeof *test_req.ship_to);
    snprintf(test_req.ship_to->shipping_method, sizeof test_req.ship_to->shipping_method, "oneday");
    build();
    assert_absent(root, "shipTo");

    /* A quote and a backslash are escaped by json-c, not by us. */
    make_call(PL_OP_AUTH);
    snprintf(test_req.card.holder, sizeof test_req.card.holder, "J. \"Jay\" D\\oe/");
    build();
    assert_str_at(root, "card.holder", "J. \"Jay\" D\\oe/");
}

static void test_build_follow_ons(void **state)
{
    (void)state;
    make_call(PL_OP_CAPTURE);
    call.void_remainder = true;
    build();
    assert_str_at(root, "transactionID", "txn-auth-77");
    assert_str_at(root, "authorizationCode", "A1B2C3");
    assert_bool_at(root, "voidRemainder", true);

    make_call(PL_OP_SVC_POSTAUTH);
    call.ref_auth_code = NULL;
    build();
    assert_str_at(root, "transactionID", "txn-auth-77");
    assert_absent(root, "authorizationCode");
    assert_bool_at(root, "voidRemainder", false);

    /* A return without the deposit's id is stand-alone. */
    make_call(PL_OP_CREDIT);
    call.ref_request_id = NULL;
    build();
    assert_absent(root, "transactionID");

    make_call(PL_OP_SVC_VOID);
    build();
    assert_str_at(root, "transactionID", "txn-auth-77");
    assert_str_at(root, "paymentType", "SVC");
}

static void test_build_svc(void **state)
{
    (void)state;
    make_call(PL_OP_SVC_GENERATE);
    test_req.svc.has_issue_amount = true;
    test_req.svc.issue_amount = 2500;
    test_req.svc.order_line = 3;
    build();
    assert_string_equal(msg.url_suffix, "generateGift");
    assert_keys(root, NULL, COMMON ",amount,currency,orderLine");
    assert_str_at(root, "amount", "25.00");
    assert_int_at(root, "orderLine", 3);
    assert_no_number(&msg);

    /* Neither issue amount nor currency: neither is sent, and no token is needed. */
    make_call(PL_OP_SVC_GENERATE);
    call.currency = NULL;
    call.card_token = NULL;
    test_req.currency[0] = '\0';
    build();
    assert_keys(root, NULL, COMMON);

    /* Balance inquiry: no amount; currency only when known. */
    make_call(PL_OP_SVC_INQUIRY);
    call.currency = NULL;
    test_req.currency[0] = '\0';
    build();
    assert_keys(root, NULL, COMMON ",card");
    assert_keys(root, "card", "token");

    /* A stored value authorization has no card details, even when the request has some. */
    make_call(PL_OP_SVC_PREAUTH);
    test_req.card.exp_month = 1;
    test_req.card.exp_year = 2031;
    build();
    assert_keys(root, "card", "token");
    assert_str_at(root, "amount", "120.00");
}

/*
 * Sets one field of call or test_req from text: "req" (NULL), the call's strings ("merchant_id",
 * "currency", "order", "card_token", "ref_request_id", "svc_card_number", "sub_auth_reason",
 * "initiator"), "amount" (a number), and the request's "request_id", "currency",
 * "card.number" (req.*) and "company" (a number).
 */
static void set_field(const char *field, const char *value)
{
    const struct {
        const char *name;
        const char **at;
    } strings[] = {
        {"merchant_id", &call.merchant_id},
        {"currency", &call.currency},
        {"order", &call.order},
        {"card_token", &call.card_token},
        {"ref_request_id", &call.ref_request_id},
        {"svc_card_number", &call.svc_card_number},
        {"sub_auth_reason", &call.sub_auth_reason},
        {"initiator", &call.initiator},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (strcmp(field, strings[i].name) == 0) {
            *strings[i].at = value;
            return;
        }
    }
    if (strcmp(field, "req") == 0)
        call.req = NULL;
    else if (strcmp(field, "amount") == 0)
        call.amount = strtoll(value, NULL, 10);
    else if (strcmp(field, "req.request_id") == 0)
        snprintf(test_req.request_id, sizeof test_req.request_id, "%s", value);
    else if (strcmp(field, "req.currency") == 0)
        snprintf(test_req.currency, sizeof test_req.currency, "%s", value);
    else if (strcmp(field, "req.card.number") == 0)
        snprintf(test_req.card.number, sizeof test_req.card.number, "%s", value);
    else if (strcmp(field, "req.company") == 0)
        test_req.company = (int)strtol(value, NULL, 10);
    else
        fail_msg("set_field: no field %s", field);
}

/* A call of op with one or two fields changed (set_field) that build refuses (PL_ERR_INVALID). */
static const struct {
    pl_bureau_op op;
    const char *field, *value;
    const char *field2, *value2; /* NULL: one field */
    const char *why;             /* in the error text, or NULL */
} REFUSALS[] = {
    /* TOKEN_AUTH is the engine's two calls, never one EXT message. */
    {PL_OP_TOKEN_AUTH, NULL, NULL, NULL, NULL, "token_auth"},
    {(pl_bureau_op)99, NULL, NULL, NULL, NULL, NULL},
    /* getToken's number: digits, 12 to 19 of them (a stored value card's 1 to 20). */
    {PL_OP_TOKEN, "req.card.number", "", NULL, NULL, "card number"},
    {PL_OP_TOKEN, "req.card.number", "41111111111x1111", NULL, NULL, NULL},
    {PL_OP_TOKEN, "req.card.number", "41111111111", NULL, NULL, NULL},
    {PL_OP_TOKEN, "svc_card_number", "70012345678901234567x", NULL, NULL, NULL},
    {PL_OP_TOKEN, "svc_card_number", "700123456789012345678", NULL, NULL, NULL}, /* 21 */
    /* A token that is the card number is no token. */
    {PL_OP_AUTH, "card_token", PAN, NULL, NULL, NULL},
    {PL_OP_SVC_PREAUTH, "card_token", SVC_PAN, NULL, NULL, NULL},
    /* Deposits and reversals need the authorization's transactionID. */
    {PL_OP_CAPTURE, "ref_request_id", "", NULL, NULL, "transactionID"},
    {PL_OP_AUTH_REVERSAL, "ref_request_id", "", NULL, NULL, "transactionID"},
    {PL_OP_SVC_POSTAUTH, "ref_request_id", "", NULL, NULL, "transactionID"},
    {PL_OP_SVC_VOID, "ref_request_id", "", NULL, NULL, "transactionID"},
    /* What every message needs. */
    {PL_OP_AUTH, "req", NULL, NULL, NULL, NULL},
    {PL_OP_AUTH, "merchant_id", NULL, NULL, NULL, NULL},
    {PL_OP_AUTH, "merchant_id", "m234567890123456789012345678901", NULL, NULL, NULL}, /* 31 */
    {PL_OP_AUTH, "req.request_id", "", NULL, NULL, NULL},
    {PL_OP_AUTH, "req.company", "0", NULL, NULL, NULL},
    {PL_OP_AUTH, "currency", NULL, "req.currency", "", NULL},
    {PL_OP_AUTH, "currency", "usd", NULL, NULL, NULL},
    {PL_OP_CAPTURE, "amount", "-1", NULL, NULL, NULL},
    {PL_OP_CAPTURE, "amount", "1000000000000000", NULL, NULL, NULL},
    {PL_OP_AUTH, "order", "ORDER-NUMBER-TOO-LONG", NULL, NULL, NULL},
    {PL_OP_AUTH, "sub_auth_reason", "SOMETIMES", NULL, NULL, NULL},
    {PL_OP_AUTH, "initiator", "ROBOT", NULL, NULL, NULL},
    /* A subsequent authorization is merchant-initiated. */
    {PL_OP_AUTH, "sub_auth_reason", "REAUTH", "initiator", "cardholder", "merchant-initiated"},
};

static void test_build_refusals(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 0; i < sizeof REFUSALS / sizeof REFUSALS[0]; i++) {
        make_call(REFUSALS[i].op);
        if (REFUSALS[i].field)
            set_field(REFUSALS[i].field, REFUSALS[i].value);
        if (REFUSALS[i].field2)
            set_field(REFUSALS[i].field2, REFUSALS[i].value2);
        assert_int_equal(build_err(err, sizeof err), PL_ERR_INVALID);
        if (REFUSALS[i].why && !strstr(err, REFUSALS[i].why))
            fail_msg("refusal %zu: \"%s\" does not say %s", i, err, REFUSALS[i].why);
        /* Nor any part of a card number it refuses. */
        const char *v = REFUSALS[i].value;
        if (v && strstr(REFUSALS[i].field, "card") && strlen(v) >= 4)
            assert_null(strstr(err, v + strlen(v) - 4));
    }

    /* Every message that carries card.token refuses to go without one. */
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        if (!OPS[i].card_keys)
            continue;
        make_call(OPS[i].op);
        call.card_token = "";
        test_req.card.token[0] = '\0';
        assert_int_equal(build_err(err, sizeof err), PL_ERR_INVALID);
        assert_non_null(strstr(err, "message version 3.0 carries tokens only: getToken first"));
    }

    assert_int_equal(pl_bureau_external.build(&cfg, NULL, NULL, err, sizeof err), PL_ERR_INVALID);
}

static void test_build_values(void **state)
{
    (void)state;
    /* No configuration or an empty version: 3.0; a configured one is sent as it is. */
    make_call(PL_OP_SVC_INQUIRY);
    build_with(NULL);
    assert_str_at(root, "messageVersion", "3.0");
    cfg.message_version[0] = '\0';
    build();
    assert_str_at(root, "messageVersion", "3.0");
    snprintf(cfg.message_version, sizeof cfg.message_version, "3.1");
    build();
    assert_str_at(root, "messageVersion", "3.1");

    /* The call's order, currency and token win over the request's. */
    ext_test_cfg(&cfg);
    make_call(PL_OP_CAPTURE);
    call.order = "ORD-X";
    call.currency = "EUR";
    snprintf(test_req.card.token, sizeof test_req.card.token, TOKEN);
    build();
    assert_str_at(root, "orderNumber", "ORD-X");
    assert_str_at(root, "currency", "EUR");
    assert_str_at(root, "card.token", ENGINE_TOKEN);

    /* Without a call currency, the request's. */
    make_call(PL_OP_CAPTURE);
    call.currency = NULL;
    snprintf(test_req.currency, sizeof test_req.currency, "GBP");
    call.amount = INT64_C(999999999999999);
    build();
    assert_str_at(root, "currency", "GBP");
    assert_str_at(root, "amount", "9999999999999.99");
}

static void test_build_subsequent_auth(void **state)
{
    (void)state;
    make_call(PL_OP_AUTH);
    call.sub_auth_reason = "INSTALLMENT";
    call.sub_auth_transaction_id = "cit-0099";
    call.sub_auth_original_amount = 5000;
    call.initiator = "merchant";
    build();
    assert_str_at(root, "subsequentAuth", "Y");
    assert_str_at(root, "subsequentAuthReason", "INSTALLMENT");
    assert_str_at(root, "subsequentAuthTransactionID", "cit-0099");
    assert_str_at(root, "subsequentAuthOriginalAmount", "50.00");
    assert_str_at(root, "initiator", "MERCHANT");

    /* No stored transaction, no original amount (< 0), no initiator: left out. */
    make_call(PL_OP_AUTH_CAPTURE);
    call.sub_auth_reason = "resubmit";
    build();
    assert_str_at(root, "subsequentAuth", "Y");
    assert_str_at(root, "subsequentAuthReason", "RESUBMIT");
    assert_absent(root, "subsequentAuthTransactionID");
    assert_absent(root, "subsequentAuthOriginalAmount");
    assert_absent(root, "initiator");

    /* A zero original amount is an amount. */
    make_call(PL_OP_AUTH);
    call.sub_auth_reason = "REAUTH";
    call.sub_auth_original_amount = 0;
    build();
    assert_str_at(root, "subsequentAuthOriginalAmount", "0.00");

    /* A cardholder-initiated first authorization: the initiator and "N". */
    make_call(PL_OP_AUTH);
    call.initiator = "CARDHOLDER";
    build();
    assert_str_at(root, "subsequentAuth", "N");
    assert_str_at(root, "initiator", "CARDHOLDER");
    assert_absent(root, "subsequentAuthReason");

    /* Only the authorization carries them. */
    make_call(PL_OP_CAPTURE);
    call.sub_auth_reason = "REAUTH";
    call.initiator = "MERCHANT";
    build();
    assert_absent(root, "subsequentAuth");
    assert_absent(root, "initiator");
}

/* ---------------------------------------------------------------------------------------- */
/* Answers */

static int parse(pl_bureau_op op, long status, const char *body, pl_bureau_result *res, char *err,
                 size_t errsize)
{
    make_call(op);
    err[0] = '\0';
    return pl_bureau_external.parse(NULL, &call, status, body, body ? strlen(body) : 0, res, err,
                                    errsize);
}

/* Result field name as text: strings as they are, amounts and flags as numbers. */
static const char *result_field(const pl_bureau_result *r, const char *name, char *num,
                                size_t numsize)
{
    const struct {
        const char *name, *value;
    } strings[] = {
        {"decision", r->decision},
        {"reason_code", r->reason_code},
        {"merchant_reference_code", r->merchant_reference_code},
        {"request_id", r->request_id},
        {"auth_code", r->auth_code},
        {"auth_date", r->auth_date},
        {"avs", r->avs},
        {"cvv", r->cvv},
        {"token", r->token},
        {"error_text", r->error_text},
        {"svc_status", r->svc_status},
        {"svc_card_number", r->svc_card_number},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (strcmp(name, strings[i].name) == 0)
            return strings[i].value;
    int64_t n = 0;
    if (strcmp(name, "amount") == 0)
        n = r->amount;
    else if (strcmp(name, "has_amount") == 0)
        n = r->has_amount;
    else if (strcmp(name, "balance") == 0)
        n = r->balance;
    else if (strcmp(name, "has_balance") == 0)
        n = r->has_balance;
    else
        fail_msg("no result field %s", name);
    snprintf(num, numsize, "%lld", (long long)n);
    return num;
}

/* Answers parse reads (HTTP 200), and what the result holds: "field=value" pairs, '|' between. */
static const struct {
    pl_bureau_op op;
    const char *body;
    const char *want;
} ANSWERS[] = {
    {PL_OP_AUTH,
     "{\"messageVersion\":\"3.0\",\"requestID\":\"req-0001\",\"decision\":\"ACCEPT\","
     "\"reasonCode\":\"100\",\"message\":\"Approved\",\"transactionID\":\"7419661750346"
     "782304017\",\"authorizationCode\":\"831000\",\"authorizedDateTime\":\"2026-11-26T04"
     ":01:02Z\",\"amount\":\"120.00\",\"avsCode\":\"Y\",\"cvvCode\":\"M\","
     "\"cardToken\":\"tok_x\",\"unknownField\":[1,2,{\"a\":null}]}",
     "decision=ACCEPT|reason_code=100|merchant_reference_code=req-0001|"
     "request_id=7419661750346782304017|auth_code=831000|auth_date=2026-11-26T04:01:02Z|"
     "has_amount=1|amount=12000|has_balance=0|avs=Y|cvv=M|token=tok_x|error_text=Approved|"
     "svc_card_number="},
    /* A partial approval: the amount below the one asked is the engine's to notice. */
    {PL_OP_AUTH,
     " \n{\"decision\":\"ACCEPT\",\"reasonCode\":\"110\",\"transactionID\":\"t1\","
     "\"amount\":\"60.5\",\"reasonCode2\":null,\"authorizationCode\":null}\r\n",
     "reason_code=110|amount=6050|auth_code=|merchant_reference_code="},
    /* Stored value: balance and status. */
    {PL_OP_SVC_INQUIRY,
     "{\"decision\":\"ACCEPT\",\"transactionID\":\"s-9\",\"balance\":\"42.10\","
     "\"cardStatus\":\"ACTIVE\"}",
     "has_balance=1|balance=4210|has_amount=0|svc_status=ACTIVE|reason_code="},
    {PL_OP_TOKEN, "{\"decision\":\"ACCEPT\",\"cardToken\":\"tok_new_1\"}", "token=tok_new_1"},
    /* A reversal's amount is what it reversed (contract §8.5), less than sent included: the
     * spec books the rest as still held (workers/reversal, migration 058). */
    {PL_OP_AUTH_REVERSAL,
     "{\"decision\":\"ACCEPT\",\"transactionID\":\"r-1\",\"amount\":\"30.00\"}",
     "decision=ACCEPT|request_id=r-1|has_amount=1|amount=3000"},
    /* A deposit need not echo a transaction id. */
    {PL_OP_CAPTURE, "{\"decision\":\"ACCEPT\",\"amount\":\"120.00\"}", "request_id="},
    /* REJECT without reasonCode: reason_code "" (the vendor response tables make it SU). */
    {PL_OP_AUTH, "{\"decision\":\"REJECT\",\"requestID\":\"req-0001\"}",
     "decision=REJECT|reason_code=|request_id="},
    {PL_OP_AUTH, "{\"decision\":\"REJECT\",\"reasonCode\":\"203\",\"message\":\"Card declined\"}",
     "decision=REJECT|reason_code=203|error_text=Card declined"},
    {PL_OP_SVC_GENERATE, "{\"decision\":\"ERROR\"}", "decision=ERROR|reason_code="},
    /* A declined getToken has no token to give. */
    {PL_OP_TOKEN, "{\"decision\":\"REJECT\",\"reasonCode\":\"231\"}", "token="},
    /* generateGift gives the new card's number and token. */
    {PL_OP_SVC_GENERATE,
     "{\"decision\":\"ACCEPT\",\"transactionID\":\"g-1\",\"cardNumber\":\"" SVC_PAN
     "\",\"cardToken\":\"tok_gift\",\"amount\":\"25.00\",\"balance\":\"25.00\","
     "\"cardStatus\":\"INACTIVE\"}",
     "svc_card_number=" SVC_PAN "|token=tok_gift|svc_status=INACTIVE|balance=2500"},
    /* Any other answer's cardNumber is not taken (the contract gives it to generateGift). */
    {PL_OP_SVC_RECHARGE, "{\"decision\":\"ACCEPT\",\"cardNumber\":\"" SVC_PAN "\"}",
     "svc_card_number="},
    /* The message's card numbers are masked, a stored value card's (no check digit) too. */
    {PL_OP_AUTH,
     "{\"decision\":\"REJECT\",\"reasonCode\":\"202\",\"message\":\"card " PAN
     " expired; gift " SVC_PAN " ok\"}",
     "error_text=card ************1111 expired; gift ************2172 ok"},
};

static void test_parse_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ANSWERS / sizeof ANSWERS[0]; i++) {
        char err[256], want[512], num[32];
        pl_bureau_result res;
        int rc = parse(ANSWERS[i].op, 200, ANSWERS[i].body, &res, err, sizeof err);
        if (rc)
            fail_msg("answer %zu: %s", i, err);
        snprintf(want, sizeof want, "%s", ANSWERS[i].want);
        for (char *save = NULL, *kv = strtok_r(want, "|", &save); kv;
             kv = strtok_r(NULL, "|", &save)) {
            char *eq = strchr(kv, '=');
            assert_non_null(eq);
            *eq = '\0';
            const char *got = result_field(&res, kv, num, sizeof num);
            if (strcmp(got, eq + 1) != 0)
                fail_msg("answer %zu: %s is \"%s\", expected \"%s\"", i, kv, got, eq + 1);
        }
    }
}

/* A refusal: PL_ERR_PARSE, the result wiped, and the error quoting nothing of the body. */
static void parse_bad(pl_bureau_op op, long status, const char *body, const char *why)
{
    char err[256];
    pl_bureau_result res;
    int rc = parse(op, status, body, &res, err, sizeof err);
    if (rc != PL_ERR_PARSE)
        fail_msg("expected PL_ERR_PARSE for %s (%s), got %d", body ? body : "NULL", why, rc);
    assert_non_null(strstr(err, why));
    assert_null(strstr(err, PAN));
    assert_null(strstr(err, SVC_PAN));
    assert_null(strstr(err, "secret-bit"));
    assert_string_equal(res.decision, "");
    assert_string_equal(res.svc_card_number, "");
}

/* Answers that are none (parse_bad): operation, HTTP status, body, what the error says. */
static const struct {
    pl_bureau_op op;
    long status;
    const char *body, *why;
} UNREADABLE[] = {
    /* Not 200: the engine handles 401 before parse; anything else is no answer. */
    {PL_OP_AUTH, 401, "{\"decision\":\"ACCEPT\"}", "HTTP 401"},
    {PL_OP_AUTH, 500, "{\"decision\":\"ERROR\"}", "HTTP 500"},
    {PL_OP_AUTH, 0, NULL, "HTTP 0"},
    /* Not a JSON object with a decision. */
    {PL_OP_AUTH, 200, NULL, "not a JSON object"},
    {PL_OP_AUTH, 200, "", "not a JSON object"},
    {PL_OP_AUTH, 200, "<html>secret-bit " PAN "</html>", "not a JSON object"},
    {PL_OP_AUTH, 200, "[{\"decision\":\"ACCEPT\"}]", "not a JSON object"},
    {PL_OP_AUTH, 200, "\"ACCEPT\"", "not a JSON object"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",}", "not a JSON object"},
    {PL_OP_AUTH, 200, "{'decision':'ACCEPT'}", "not a JSON object"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\"} x", "not a JSON object"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\"}{}", "not a JSON object"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACC\xff\"}", "not a JSON object"},
    {PL_OP_AUTH, 200, "{\"transactionID\":\"t\"}", "decision"},
    {PL_OP_AUTH, 200, "{\"decision\":\"REVIEW\"}", "decision"},
    {PL_OP_AUTH, 200, "{\"decision\":null}", "decision"},
    {PL_OP_AUTH, 200, "{\"decision\":1}", "decision is not a string"},
    /* A NUL in a value (a NUL in the body: test_parse_refusals). */
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"a\\u0000b\"}",
     "transactionID holds a NUL"},
    /* Types and sizes: nothing is cut. */
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":7}",
     "transactionID is not a string"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":60}",
     "amount is not a string"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"-1.00\"}",
     "amount is not an amount"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"1,00\"}",
     "amount is not an amount"},
    {PL_OP_SVC_INQUIRY, 200, "{\"decision\":\"ACCEPT\",\"balance\":\"12a\"}",
     "balance is not an amount"},
    {PL_OP_AUTH, 200, "{\"decision\":\"REJECT\",\"reasonCode\":\"1234567890123456\"}",
     "reasonCode is too long"},
    /* Longer than a vendor response (10): it could not be stored, and the answer would be lost
     * on a database error rather than read as unreadable. */
    {PL_OP_AUTH, 200,
     "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"reasonCode\":\"APPROVED_00\"}",
     "reasonCode is too long (11 characters, at most 10)"},
    {PL_OP_AUTH, 200,
     "{\"decision\":\"ACCEPT\",\"transactionID\":\"0123456789012345678901234567890123456"
     "789012345678901234567890123x\"}",
     "transactionID is too long"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPTED-AND-MORE\"}", "decision is too long"},
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"message\":{\"a\":1}}", "message is not a string"},
    /* generateGift's card number: present when accepted, 10 to 20 digits. */
    {PL_OP_SVC_GENERATE, 200, "{\"decision\":\"ACCEPT\",\"cardToken\":\"t\"}", "no cardNumber"},
    {PL_OP_SVC_GENERATE, 200, "{\"decision\":\"ACCEPT\",\"cardNumber\":\"9117-2306\"}",
     "cardNumber is not"},
    {PL_OP_SVC_GENERATE, 200, "{\"decision\":\"ACCEPT\",\"cardNumber\":\"911723067515217211111\"}",
     "cardNumber is too long"},
    /* An answer to another request. */
    {PL_OP_AUTH, 200,
     "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"requestID\":\"req-0002\"}", "requestID"},
    /* Approvals the engine could not act on. */
    {PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\"}", "no transactionID"},
    {PL_OP_SVC_PREAUTH, 200, "{\"decision\":\"ACCEPT\"}", "no transactionID"},
    {PL_OP_TOKEN, 200, "{\"decision\":\"ACCEPT\"}", "no cardToken"},
    /* A token that is a card number (with or without separators), on any operation. */
    {PL_OP_TOKEN, 200, "{\"decision\":\"ACCEPT\",\"cardToken\":\"" PAN "\"}",
     "cardToken is a card number"},
    {PL_OP_AUTH, 200,
     "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"cardToken\":\"4111 1111 1111 1111\"}",
     "cardToken is a card number"},
};

static void test_parse_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof UNREADABLE / sizeof UNREADABLE[0]; i++)
        parse_bad(UNREADABLE[i].op, UNREADABLE[i].status, UNREADABLE[i].body, UNREADABLE[i].why);
    /* A NUL in the body. */
    {
        static const char body[] = "{\"decision\":\"ACCEPT\"}\0{}";
        char err[256];
        pl_bureau_result res;
        make_call(PL_OP_SVC_INQUIRY);
        assert_int_equal(pl_bureau_external.parse(NULL, &call, 200, body, sizeof body - 1, &res,
                                                  err, sizeof err),
                         PL_ERR_PARSE);
    }
    /* Too deep, too big. */
    {
        char deep[200] = "{\"decision\":\"ACCEPT\",\"x\":";
        size_t n = strlen(deep);
        for (int i = 0; i < 40; i++)
            deep[n++] = '[';
        for (int i = 0; i < 40; i++)
            deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        parse_bad(PL_OP_SVC_INQUIRY, 200, deep, "not a JSON object");
    }
    {
        size_t big = PL_EXT_MAX_BODY + 16;
        char *body = malloc(big + 1);
        assert_non_null(body);
        memset(body, ' ', big);
        memcpy(body, "{\"decision\":\"ACCEPT\"}", 21);
        body[big] = '\0';
        parse_bad(PL_OP_SVC_INQUIRY, 200, body, "more than");
        free(body);
    }
    char err[64];
    assert_int_equal(pl_bureau_external.parse(NULL, NULL, 200, "{}", 2, NULL, err, sizeof err),
                     PL_ERR_INVALID);
    /* Without a call, the answer is still read. */
    pl_bureau_result res;
    assert_int_equal(pl_bureau_external.parse(NULL, NULL, 200, "{\"decision\":\"ACCEPT\"}", 21,
                                              &res, err, sizeof err),
                     0);
    assert_string_equal(res.decision, "ACCEPT");
}

/* ---------------------------------------------------------------------------------------- */
/* Message log */

/* The message-log copy of msg in mode; it never holds a card number. The caller frees it. */
static char *redact_msg(pl_mask_mode mode)
{
    char *red = pl_bureau_external.redact(msg.body, msg.body_len, mode);
    assert_non_null(red);
    assert_null(strstr(red, PAN));
    assert_null(strstr(red, SVC_PAN));
    return red;
}

static void test_redact_requests(void **state)
{
    (void)state;
    make_call(PL_OP_TOKEN);
    build();
    char *red = redact_msg(PL_MASK_LAST4);
    json_object *logged = json_tokener_parse(red);
    assert_non_null(logged);
    assert_str_at(logged, "card.number", "************1111");
    assert_str_at(logged, "requestID", "req-0001");
    assert_int_at(logged, "card.expYear", 2030);
    json_object_put(logged);
    free(red);

    red = redact_msg(PL_MASK_REMOVED);
    logged = json_tokener_parse(red);
    assert_str_at(logged, "card.number", "***REMOVED***");
    assert_null(strstr(red, "1111"));
    json_object_put(logged);
    free(red);

    /* A stored value card's number (no check digit) is masked by its place too. */
    make_call(PL_OP_TOKEN);
    call.svc_card_number = SVC_PAN;
    build();
    red = redact_msg(PL_MASK_LAST4);
    assert_non_null(strstr(red, "\"************2172\""));
    free(red);

    /* A token message is logged with its card token masked as a card number is (the last
     * four kept), and nothing else changed; the message sent keeps the token whole. Before, the
     * token, which charges the card through the merchant's account, was logged as it is. */
    static const pl_bureau_op token_ops[] = {PL_OP_AUTH,        PL_OP_CAPTURE,
                                             PL_OP_CREDIT,      PL_OP_AUTH_REVERSAL,
                                             PL_OP_SVC_PREAUTH, PL_OP_SVC_INQUIRY};
    for (size_t i = 0; i < sizeof token_ops / sizeof token_ops[0]; i++) {
        make_call(token_ops[i]);
        build();
        red = redact_msg(PL_MASK_LAST4);
        assert_null(strstr(red, ENGINE_TOKEN));
        logged = json_tokener_parse(red);
        assert_non_null(logged);
        assert_str_at(logged, "card.token", "****************n_01");
        json_object_object_add(at(logged, "card"), "token", json_object_new_string(ENGINE_TOKEN));
        assert_true(json_object_equal(root, logged));
        json_object_put(logged);
        free(red);
        assert_non_null(strstr(msg.body, "\"token\":\"" ENGINE_TOKEN "\""));

        red = redact_msg(PL_MASK_REMOVED);
        assert_null(strstr(red, ENGINE_TOKEN));
        assert_null(strstr(red, "n_01"));
        logged = json_tokener_parse(red);
        assert_str_at(logged, "card.token", "***REMOVED***");
        json_object_put(logged);
        free(red);
    }
}

static void test_redact_other(void **state)
{
    (void)state;
    /* An answer: cardNumber at any depth, cvv / cvNumber gone, message and copies masked. */
    static const char answer[] =
        "{\"decision\":\"ACCEPT\",\"cardNumber\":\"" SVC_PAN "\",\"message\":\"new card " SVC_PAN
        "\",\"note\":\"x" SVC_PAN "y\",\"card\":{\"number\":4111111111111111,\"cvv\":\"123\"},"
        "\"extra\":[{\"cardNumber\":\"5555555555554444\",\"cvNumber\":\"999\"}],"
        "\"transactionID\":\"7419661750346782304017\",\"other\":{\"number\":\"42\"}}";
    char *red = pl_bureau_external.redact(answer, sizeof answer - 1, PL_MASK_LAST4);
    assert_non_null(red);
    assert_null(strstr(red, SVC_PAN));
    assert_null(strstr(red, PAN));
    assert_null(strstr(red, "5555555555554444"));
    assert_null(strstr(red, "cvv\""));
    assert_null(strstr(red, "cvNumber"));
    assert_null(strstr(red, "123"));
    json_object *logged = json_tokener_parse(red);
    assert_non_null(logged);
    assert_str_at(logged, "cardNumber", "************2172");
    assert_str_at(logged, "message", "new card ************2172");
    assert_str_at(logged, "note", "x************2172y");
    assert_str_at(logged, "card.number", "************1111");
    assert_keys(logged, "card", "number");
    /* Identifiers stay readable; a number outside card is no card number. */
    assert_str_at(logged, "transactionID", "7419661750346782304017");
    assert_str_at(logged, "other.number", "42");
    json_object *extra = json_object_array_get_idx(at(logged, "extra"), 0);
    assert_str_at(extra, "cardNumber", "************4444");
    assert_keys(extra, NULL, "cardNumber");
    json_object_put(logged);
    free(red);

    /* Not JSON: scrubbed, and every run of 10+ digits masked, Luhn or not. */
    static const char text[] = "<html>card " PAN " gift " SVC_PAN " id 123456789 cvv=123</html>";
    red = pl_bureau_external.redact(text, sizeof text - 1, PL_MASK_LAST4);
    assert_non_null(red);
    assert_null(strstr(red, PAN));
    assert_null(strstr(red, SVC_PAN));
    assert_non_null(strstr(red, "************1111"));
    assert_non_null(strstr(red, "************2172"));
    assert_non_null(strstr(red, "id 123456789 "));
    free(red);
    red = pl_bureau_external.redact(text, sizeof text - 1, PL_MASK_REMOVED);
    assert_non_null(red);
    assert_null(strstr(red, "1111"));
    assert_null(strstr(red, "2172"));
    free(red);

    /* A NUL does not hide the rest of the text. */
    static const char nul[] = "oops\0" PAN;
    red = pl_bureau_external.redact(nul, sizeof nul - 1, PL_MASK_LAST4);
    assert_non_null(red);
    assert_string_equal(red, "oops.************1111");
    free(red);

    /* An answer's cardToken is masked, and so is the token echoed in a free text; the result
     * parse gives the engine keeps it whole. A short token is masked whole in its field only. */
    static const char tokens[] =
        "{\"decision\":\"ACCEPT\",\"cardToken\":\"tok_9f8c2a71e4b34d0c\","
        "\"message\":\"token tok_9f8c2a71e4b34d0c issued\",\"other\":{\"token\":\"abc\"},"
        "\"card\":{\"token\":\"t12\"},\"nested\":[{\"cardToken\":123456789}]}";
    red = pl_bureau_external.redact(tokens, sizeof tokens - 1, PL_MASK_LAST4);
    assert_non_null(red);
    assert_null(strstr(red, "tok_9f8c2a71e4b34d0c"));
    logged = json_tokener_parse(red);
    assert_non_null(logged);
    assert_str_at(logged, "cardToken", "****************4d0c");
    assert_str_at(logged, "message", "token ****************4d0c issued");
    assert_str_at(logged, "card.token", "***");
    /* A member named token outside card is no card's token. */
    assert_str_at(logged, "other.token", "abc");
    assert_str_at(json_object_array_get_idx(at(logged, "nested"), 0), "cardToken", "*****6789");
    json_object_put(logged);
    free(red);
    red = pl_bureau_external.redact(tokens, sizeof tokens - 1, PL_MASK_REMOVED);
    assert_non_null(red);
    assert_null(strstr(red, "4d0c"));
    assert_null(strstr(red, "6789"));
    free(red);
    {
        pl_bureau_result res;
        char err[256];
        assert_int_equal(parse(PL_OP_TOKEN, 200, tokens, &res, err, sizeof err), 0);
        assert_string_equal(res.token, "tok_9f8c2a71e4b34d0c");
    }

    assert_null(pl_bureau_external.redact(NULL, 0, PL_MASK_LAST4));
    red = pl_bureau_external.redact("", 0, PL_MASK_LAST4);
    assert_non_null(red);
    assert_string_equal(red, "");
    free(red);
}

/* The stored value operations the contract never approves for part of their amount: a load
 * (activateGift, rechargeGift), a redemption (deposit) and a return (schema/ext §10, §12). */
static bool svc_whole_only(pl_bureau_op op)
{
    return op == PL_OP_SVC_ACTIVATE || op == PL_OP_SVC_RECHARGE || op == PL_OP_SVC_POSTAUTH ||
           op == PL_OP_SVC_RETURN;
}

/*
 * An ACCEPT for 0.00 of a call for more approves nothing: no readable answer, the outcome left
 * unknown (before, an authorization of 120.00 was recorded approved for 0.00, and its CIT
 * saved with amount 0). Every endpoint that moves money; a refusal naming 0.00, an answer
 * without an amount, a call for 0.00 and the endpoints that move none read as before.
 */
static void test_parse_zero_approval(void **state)
{
    (void)state;
    static const pl_bureau_op money[] = {
        PL_OP_AUTH,          PL_OP_AUTH_CAPTURE, PL_OP_CAPTURE,      PL_OP_CREDIT,
        PL_OP_AUTH_REVERSAL, PL_OP_SVC_PREAUTH,  PL_OP_SVC_POSTAUTH, PL_OP_SVC_RETURN,
        PL_OP_SVC_VOID,      PL_OP_SVC_ACTIVATE, PL_OP_SVC_RECHARGE,
    };
    static const char zero[] =
        "{\"decision\":\"ACCEPT\",\"transactionID\":\"t-0\",\"amount\":\"0.00\","
        "\"balance\":\"0.00\"}";
    for (size_t i = 0; i < sizeof money / sizeof money[0]; i++) {
        parse_bad(money[i], 200, zero, "accepted for an amount of 0.00");
        parse_bad(money[i], 200,
                  "{\"decision\":\"ACCEPT\",\"transactionID\":\"t-0\",\"amount\":\"0\"}",
                  "accepted for an amount of 0.00");

        char err[256];
        pl_bureau_result res;
        /* A refusal may say 0.00. */
        assert_int_equal(parse(money[i], 200, "{\"decision\":\"REJECT\",\"amount\":\"0.00\"}", &res,
                               err, sizeof err),
                         0);
        /* A cent is a partial approval (or reversal): the spec's to judge. A stored value
         * load, deposit or return has no part to approve (test_parse_svc_part_approval). */
        const char cent[] =
            "{\"decision\":\"ACCEPT\",\"transactionID\":\"t-0\",\"amount\":\"0.01\"}";
        if (svc_whole_only(money[i])) {
            parse_bad(money[i], 200, cent, "accepted for 0.01 of the 120.00 sent");
        } else {
            assert_int_equal(parse(money[i], 200, cent, &res, err, sizeof err), 0);
            assert_int_equal(res.amount, 1);
        }
        /* A call for 0.00 (a card verification) approved for 0.00. */
        make_call(money[i]);
        call.amount = 0;
        assert_int_equal(pl_bureau_external.parse(NULL, &call, 200, zero, sizeof zero - 1, &res,
                                                  err, sizeof err),
                         0);
        assert_true(res.has_amount);
        assert_int_equal(res.amount, 0);
    }
    /* Endpoints that move no money: a balance of 0.00, a card generated for 0.00. */
    char err[256];
    pl_bureau_result res;
    assert_int_equal(parse(PL_OP_SVC_INQUIRY, 200, zero, &res, err, sizeof err), 0);
    assert_int_equal(parse(PL_OP_SVC_GENERATE, 200,
                           "{\"decision\":\"ACCEPT\",\"cardNumber\":\"" SVC_PAN
                           "\",\"cardToken\":\"svt_1\",\"amount\":\"0.00\"}",
                           &res, err, sizeof err),
                     0);
    pl_card_wipe(&res, sizeof res);
}

/*
 * A stored value load (activateGift, rechargeGift), redemption (deposit) or return ACCEPTed for
 * less than was sent is no readable answer: the contract approves only an authorization for part
 * (schema/ext §10, §12), as Customer Engagement (README "Answers"), so the provider and paylink
 * disagree on what moved, and the outcome is left unknown for an operator. Before, it was booked
 * approved for the part: a deposit cut short left the rest of the order unpaid while the order
 * system read `approved`. The amount sent, an answer without an amount, a refusal, and an
 * authorization (the seed's partial approval), a void or a credit card deposit or return for
 * less read as before.
 */
static void test_parse_svc_part_approval(void **state)
{
    (void)state;
    static const char part[] =
        "{\"decision\":\"ACCEPT\",\"transactionID\":\"t-1\",\"amount\":\"119.99\","
        "\"balance\":\"5.00\",\"cardStatus\":\"ACTIVE\"}";
    static const struct {
        pl_bureau_op op;
        const char *why;
    } whole_only[] = {
        {PL_OP_SVC_ACTIVATE, "activateGift is accepted for 119.99 of the 120.00 sent"},
        {PL_OP_SVC_RECHARGE, "rechargeGift is accepted for 119.99 of the 120.00 sent"},
        {PL_OP_SVC_POSTAUTH, "deposit is accepted for 119.99 of the 120.00 sent"},
        {PL_OP_SVC_RETURN, "return is accepted for 119.99 of the 120.00 sent"},
    };
    char err[256];
    pl_bureau_result res;
    for (size_t i = 0; i < sizeof whole_only / sizeof whole_only[0]; i++) {
        pl_bureau_op op = whole_only[i].op;
        parse_bad(op, 200, part, whole_only[i].why);
        parse_bad(op, 200, part, "only an authorization is approved for part");
        /* The whole amount, or none named (all of it: §10), reads. */
        assert_int_equal(parse(op, 200,
                               "{\"decision\":\"ACCEPT\",\"transactionID\":\"t-1\","
                               "\"amount\":\"120.00\"}",
                               &res, err, sizeof err),
                         0);
        assert_int_equal(res.amount, 12000);
        assert_int_equal(parse(op, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t-1\"}", &res,
                               err, sizeof err),
                         0);
        assert_false(res.has_amount);
        /* A refusal moves nothing: its amount is not checked. */
        assert_int_equal(parse(op, 200,
                               "{\"decision\":\"REJECT\",\"reasonCode\":\"204\","
                               "\"amount\":\"10.00\"}",
                               &res, err, sizeof err),
                         0);
        /* A smaller call approved in whole. */
        make_call(op);
        call.amount = 11999;
        assert_int_equal(pl_bureau_external.parse(NULL, &call, 200, part, sizeof part - 1, &res,
                                                  err, sizeof err),
                         0);
        assert_int_equal(res.amount, 11999);
    }
    /* An authorization's part is the seed's partial approval; a void's what was left to
     * release; a credit card deposit or return is not stored value (read as before). */
    static const pl_bureau_op read_ops[] = {PL_OP_SVC_PREAUTH,   PL_OP_SVC_VOID, PL_OP_AUTH,
                                            PL_OP_AUTH_REVERSAL, PL_OP_CAPTURE,  PL_OP_CREDIT};
    for (size_t i = 0; i < sizeof read_ops / sizeof read_ops[0]; i++) {
        if (parse(read_ops[i], 200, part, &res, err, sizeof err) != 0)
            fail_msg("operation %d: %s", (int)read_ops[i], err);
        assert_int_equal(res.amount, 11999);
    }
    pl_card_wipe(&res, sizeof res);
}

/*
 * A member parse reads given twice makes the answer unreadable (the outcome unknown, for an
 * operator to settle), whichever value comes first: json-c keeps the last silently, so
 * {"decision":"ACCEPT", ..., "decision":"REJECT"} was booked a decline of what the provider's
 * own reader (or its logs) may hold approved, and two amounts the last one. Names are compared
 * as json-c keeps them (escapes decoded, cut at a NUL). A name parse does not read, or one
 * deeper than the root, may be given twice: the answer reads as before.
 */
static void test_parse_duplicate_members(void **state)
{
    (void)state;
    static const struct {
        pl_bureau_op op;
        const char *body, *why;
    } dup[] = {
        {PL_OP_AUTH,
         "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"120.00\","
         "\"decision\":\"REJECT\"}",
         "decision is given more than once"},
        {PL_OP_AUTH,
         "{\"decision\":\"REJECT\",\"reasonCode\":\"203\",\"decision\":\"ACCEPT\","
         "\"transactionID\":\"t\"}",
         "decision is given more than once"},
        {PL_OP_CAPTURE, "{\"decision\":\"ACCEPT\",\"amount\":\"120.00\",\"amount\":\"1.00\"}",
         "amount is given more than once"},
        /* The same amount twice is no less a second reader's guess. */
        {PL_OP_AUTH_REVERSAL,
         "{\"decision\":\"ACCEPT\",\"transactionID\":\"r\",\"amount\":\"30.00\","
         "\"amount\":\"30.00\"}",
         "amount is given more than once"},
        {PL_OP_SVC_INQUIRY, "{\"decision\":\"ACCEPT\",\"balance\":\"5.00\",\"balance\":\"500.00\"}",
         "balance is given more than once"},
        {PL_OP_AUTH,
         "{\"decision\":\"ACCEPT\",\"transactionID\":\"t-1\",\"transactionID\":\"t-2\"}",
         "transactionID is given more than once"},
        {PL_OP_AUTH, "{\"decision\":\"REJECT\",\"reasonCode\":\"100\",\"reasonCode\":\"203\"}",
         "reasonCode is given more than once"},
        {PL_OP_AUTH, "{\"decision\":\"REJECT\",\"message\":\"a\",\"message\":null}",
         "message is given more than once"},
        {PL_OP_TOKEN, "{\"decision\":\"ACCEPT\",\"cardToken\":\"tok_a\",\"cardToken\":\"tok_b\"}",
         "cardToken is given more than once"},
        {PL_OP_SVC_GENERATE,
         "{\"decision\":\"ACCEPT\",\"cardToken\":\"g\",\"cardNumber\":\"" SVC_PAN
         "\",\"cardNumber\":\"9117230675152173\"}",
         "cardNumber is given more than once"},
        /* A JSON null is a value given too. */
        {PL_OP_AUTH, "{\"decision\":null,\"decision\":\"ACCEPT\",\"transactionID\":\"t\"}",
         "decision is given more than once"},
        /* The name as json-c reads it: an escape decoded, a NUL ending it. */
        {PL_OP_AUTH,
         "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"decisio\\u006e\":\"REJECT\"}",
         "decision is given more than once"},
        {PL_OP_AUTH,
         "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"decision\\u0000x\":\"REJECT\"}",
         "decision is given more than once"},
        /* White space anywhere JSON allows it, values of every kind between. */
        {PL_OP_AUTH,
         " \r\n{ \"decision\" :\t\"ACCEPT\" ,\n \"x\" : [ 1 , { \"a\" : true } ] , \"y\" : -1.5e3 ,"
         " \"z\" : null , \"transactionID\" : \"t\" , \"decision\" : \"ERROR\" } \n",
         "decision is given more than once"},
    };
    for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++)
        parse_bad(dup[i].op, 200, dup[i].body, dup[i].why);

    /* Given twice but not read: a name of the provider's own, a name deeper down, and
     * cardNumber where only generateGift's is taken. */
    static const struct {
        pl_bureau_op op;
        const char *body;
    } fine[] = {
        {PL_OP_AUTH, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"120.00\","
                     "\"extra\":1,\"extra\":{\"extra\":2}}"},
        {PL_OP_AUTH, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"120.00\","
                     "\"detail\":{\"amount\":\"1.00\",\"amount\":\"2.00\"},"
                     "\"list\":[{\"decision\":\"REJECT\",\"decision\":\"ERROR\"}]}"},
        {PL_OP_SVC_RECHARGE, "{\"decision\":\"ACCEPT\",\"amount\":\"120.00\",\"cardNumber\":\"1\","
                             "\"cardNumber\":\"2\"}"},
        /* parse reads no nested member, so a name it reads at the root may be given again,
         * twice even, one level down (schema/ext/README.md §10: nested values are the
         * provider's own): the root's amount and token are booked, nothing else. */
        {PL_OP_AUTH, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"120.00\","
                     "\"cardToken\":\"tok_root_0001\","
                     "\"transaction\":{\"amount\":100,\"amount\":1,\"decision\":\"REJECT\"},"
                     "\"card\":{\"token\":\"a\",\"token\":\"b\"},"
                     "\"history\":[{\"amount\":\"1.00\",\"amount\":\"2.00\"},{\"cardToken\":\"x\","
                     "\"cardToken\":\"y\"}]}"},
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char err[256];
        pl_bureau_result res;
        if (parse(fine[i].op, 200, fine[i].body, &res, err, sizeof err) != 0)
            fail_msg("answer %zu: %s", i, err);
        assert_string_equal(res.decision, "ACCEPT");
        assert_int_equal(res.amount, 12000);
        assert_string_equal(res.token, i == 3 ? "tok_root_0001" : "");
    }

    /* Many members: every name is compared (the duplicate is the last of 5,000). */
    size_t cap = 5000 * 16 + 128, n = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    n += (size_t)snprintf(big + n, cap - n, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\"");
    for (int k = 0; k < 5000; k++)
        n += (size_t)snprintf(big + n, cap - n, ",\"m%d\":%d", k, k);
    snprintf(big + n, cap - n, "}");
    char err[256];
    pl_bureau_result res;
    assert_int_equal(parse(PL_OP_AUTH, 200, big, &res, err, sizeof err), 0);
    snprintf(big + n, cap - n, ",\"transactionID\":\"u\"}");
    parse_bad(PL_OP_AUTH, 200, big, "transactionID is given more than once");
    free(big);
}

/* Every test with the fixture's setup and teardown. */
#define EXT_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* A stored value card shorter than the scrubs see (the contract takes 1 to 20 digits), echoed
 * in the bureau's message: masked, as Customer Engagement's adapter masks it (before, stored,
 * replied and logged in full). A longer number that contains it is another number. */
static void test_short_card_echo_masked(void **state)
{
    (void)state;
    static const pl_bureau_op ops[] = {PL_OP_TOKEN, PL_OP_SVC_PREAUTH};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        make_call(ops[i]);
        call.svc_card_number = "70012345";
        const char *body = "{\"decision\":\"REJECT\",\"reasonCode\":\"204\","
                           "\"message\":\"card 70012345 is not known (ref 170012345)\"}";
        pl_bureau_result res;
        char err[256] = "";
        assert_int_equal(
            pl_bureau_external.parse(NULL, &call, 200, body, strlen(body), &res, err, sizeof err),
            0);
        assert_string_equal(res.error_text, "card ****2345 is not known (ref 170012345)");
    }
}

/*
 * What only the full scan reads, in what the adapter keeps of the service's words: a card
 * number split by 'é' or a control character, in full-width digits, or with its expiry glued.
 * The message (stored and replied as error_text) and the message-log copy used the Luhn scan
 * and kept them in clear; in the copy a control character is written as JSON's escape ("\t",
 * "\u0001"), which no scan of the text reads through, so each string is scrubbed decoded.
 */
static void test_hidden_card_numbers(void **state)
{
    (void)state;
    static const char answer[] =
        "{\"decision\":\"REJECT\",\"reasonCode\":\"204\",\"message\":\"card "
        "4111\xc3\xa9"
        "1111\xc3\xa9"
        "1111\xc3\xa9"
        "1111 exp 41111111111111111225\","
        "\"note\":\"4111\\t1111\\t1111\\t1111\",\"ctl\":[\"4111\\u00011111\\u00011111\\u00011111\"]"
        ","
        "\"fw\":\"\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91"
        "\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
        "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\"}";
    pl_bureau_result res;
    char err[256];
    assert_int_equal(parse(PL_OP_AUTH, 200, answer, &res, err, sizeof err), 0);
    assert_string_equal(res.error_text, "card ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                        "1111 exp ************1111****");

    char *red = pl_bureau_external.redact(answer, sizeof answer - 1, PL_MASK_LAST4);
    assert_non_null(red);
    assert_null(strstr(red, "4111"));
    assert_null(strstr(red, "\xef\xbc\x94")); /* the full-width 4 */
    json_object *logged = json_tokener_parse(red);
    assert_non_null(logged);
    assert_str_at(logged, "note", "****\t****\t****\t1111");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(at(logged, "ctl"), 0)),
                        "****\x01****\x01****\x01"
                        "1111");
    json_object_put(logged);
    free(red);
    red = pl_bureau_external.redact(answer, sizeof answer - 1, PL_MASK_REMOVED);
    assert_non_null(red);
    assert_null(strstr(red, "4111"));
    assert_null(strstr(red, "1111"));
    free(red);

    /* A message whose digit runs are masked anyway: the full scan reads it first, or the
     * runs' stars hide the number split by 'é' ("******1111é111111": ten digits in clear). */
    static const char split[] = "{\"decision\":\"REJECT\",\"reasonCode\":\"204\","
                                "\"message\":\"card 4111111111\xc3\xa9"
                                "111111\"}";
    red = pl_bureau_external.redact(split, sizeof split - 1, PL_MASK_LAST4);
    assert_non_null(red);
    logged = json_tokener_parse(red);
    assert_non_null(logged);
    assert_str_at(logged, "message", "card **********\xc3\xa9**1111");
    json_object_put(logged);
    free(red);

    /* Not JSON: the control characters are in the text as sent. */
    static const char text[] = "<html>card 4111\x01"
                               "1111\x01"
                               "1111\x01"
                               "1111</html>";
    red = pl_bureau_external.redact(text, sizeof text - 1, PL_MASK_LAST4);
    assert_string_equal(red, "<html>card ****\x01****\x01****\x01"
                             "1111</html>");
    free(red);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXT_TEST(test_registry),
        EXT_TEST(test_build_every_op),
        EXT_TEST(test_build_get_token),
        EXT_TEST(test_build_auth_fields),
        EXT_TEST(test_build_follow_ons),
        EXT_TEST(test_build_svc),
        EXT_TEST(test_build_refusals),
        EXT_TEST(test_build_values),
        EXT_TEST(test_build_subsequent_auth),
        EXT_TEST(test_parse_answers),
        EXT_TEST(test_parse_refusals),
        EXT_TEST(test_parse_zero_approval),
        EXT_TEST(test_parse_svc_part_approval),
        EXT_TEST(test_parse_duplicate_members),
        EXT_TEST(test_short_card_echo_masked),
        EXT_TEST(test_redact_requests),
        EXT_TEST(test_redact_other),
        EXT_TEST(test_hidden_card_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
