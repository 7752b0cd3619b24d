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
#include "request.h"

#define PAN "4111111111111111"
#define SVC_PAN "9117230675152172" /* a stored value card: no check digit */
#define TOKEN "tok_8f2c1a9e77"
#define ENGINE_TOKEN "tok_from_gettoken_01"
#define MERCHANT "paylink_m1"

/* ---------------------------------------------------------------------------------------- */
/* Requests and calls */

static pl_request test_req;

static void make_req(pl_request *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->request_id, sizeof r->request_id, "req-0001");
    r->company = 7;
    snprintf(r->order, sizeof r->order, "ORD000123");
    r->pay_seq = 2;
    snprintf(r->pay_type, sizeof r->pay_type, "VI");
    r->has_amount = true;
    r->amount = 12000;
    snprintf(r->currency, sizeof r->currency, "USD");
    r->online = true;
    r->card.present = true;
    snprintf(r->card.number, sizeof r->card.number, PAN);
    r->card.exp_month = 12;
    r->card.exp_year = 2030;
    snprintf(r->card.type, sizeof r->card.type, "VI");
    snprintf(r->card.holder, sizeof r->card.holder, "Jane Doe");
    r->bill_to.present = true;
    snprintf(r->bill_to.first_name, sizeof r->bill_to.first_name, "Jane");
    snprintf(r->bill_to.last_name, sizeof r->bill_to.last_name, "Doe");
    snprintf(r->bill_to.street1, sizeof r->bill_to.street1, "1 Main St");
    snprintf(r->bill_to.city, sizeof r->bill_to.city, "Boston");
    snprintf(r->bill_to.state, sizeof r->bill_to.state, "MA");
    snprintf(r->bill_to.postal_code, sizeof r->bill_to.postal_code, "02110");
    snprintf(r->bill_to.country, sizeof r->bill_to.country, "US");
    snprintf(r->bill_to.email, sizeof r->bill_to.email, "jane@example.com");
    snprintf(r->bill_to.ip, sizeof r->bill_to.ip, "10.0.0.1");
    r->ship_to.present = true;
    snprintf(r->ship_to.first_name, sizeof r->ship_to.first_name, "John");
    snprintf(r->ship_to.last_name, sizeof r->ship_to.last_name, "Roe");
    snprintf(r->ship_to.street1, sizeof r->ship_to.street1, "2 Side Rd");
    snprintf(r->ship_to.street2, sizeof r->ship_to.street2, "Apt 3");
    snprintf(r->ship_to.city, sizeof r->ship_to.city, "Denver");
    snprintf(r->ship_to.country, sizeof r->ship_to.country, "US");
    snprintf(r->ship_to.phone, sizeof r->ship_to.phone, "555-0100");
    snprintf(r->ship_to.shipping_method, sizeof r->ship_to.shipping_method, "oneday");
}

static void make_cfg(pl_bureau_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->service, sizeof cfg->service, "EXT");
    snprintf(cfg->protocol, sizeof cfg->protocol, "EXT");
    snprintf(cfg->message_version, sizeof cfg->message_version, "3.0");
}

static bool is_svc(pl_bureau_op op)
{
    return op >= PL_OP_SVC_GENERATE;
}

/*
 * A realistic call of op: a credit card call carries the token getToken gave the engine; a
 * stored value call the card's number (as the svc worker passes it) and the token.
 */
static void make_call(pl_bureau_call *c, pl_bureau_op op)
{
    make_req(&test_req);
    memset(c, 0, sizeof *c);
    c->op = op;
    c->req = &test_req;
    c->merchant_id = MERCHANT;
    c->currency = "USD";
    c->amount = 12000;
    c->sub_auth_original_amount = -1;
    if (op != PL_OP_TOKEN)
        c->card_token = ENGINE_TOKEN;
    if (is_svc(op)) {
        snprintf(test_req.svc.card_number, sizeof test_req.svc.card_number, SVC_PAN);
        test_req.svc.present = true;
        memset(test_req.card.number, 0, sizeof test_req.card.number);
        c->svc_card_number = SVC_PAN;
    }
    if (op == PL_OP_CAPTURE || op == PL_OP_AUTH_REVERSAL || op == PL_OP_SVC_POSTAUTH ||
        op == PL_OP_SVC_VOID) {
        c->ref_request_id = "txn-auth-77";
        c->ref_auth_code = "A1B2C3";
    }
    if (op == PL_OP_CREDIT || op == PL_OP_SVC_RETURN)
        c->ref_request_id = "txn-dep-88";
}

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

static json_object *build_json(const pl_bureau_cfg *cfg, const pl_bureau_call *call,
                               pl_bureau_msg *msg)
{
    char err[256] = "";
    int rc = pl_bureau_external.build(cfg, call, msg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "build: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(msg->body);
    assert_int_equal(strlen(msg->body), msg->body_len);
    assert_string_equal(msg->content_type, "application/json");
    assert_string_equal(msg->extra_header, "Accept: application/json");
    assert_string_equal(msg->auth_header, "");
    assert_string_equal(msg->soap_action, "");
    json_object *root = json_tokener_parse(msg->body);
    assert_non_null(root);
    assert_true(json_object_is_type(root, json_type_object));
    return root;
}

static int build_err(const pl_bureau_cfg *cfg, const pl_bureau_call *call, char *err,
                     size_t errsize)
{
    pl_bureau_msg msg;
    memset(&msg, 0xA5, sizeof msg);
    int rc = pl_bureau_external.build(cfg, call, &msg, err, errsize);
    assert_int_not_equal(rc, 0);
    assert_null(msg.body);
    assert_int_equal(msg.body_len, 0);
    /* No error text ever holds the card number. */
    assert_null(strstr(err, PAN));
    assert_null(strstr(err, SVC_PAN));
    return rc;
}

/* The member at a dotted path ("card.token"), or NULL. */
static json_object *at(json_object *root, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_object *o = root;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        json_object *next = NULL;
        if (!o || !json_object_object_get_ex(o, k, &next))
            return NULL;
        o = next;
    }
    return o;
}

static void assert_str_at(json_object *root, const char *path, const char *want)
{
    json_object *v = at(root, path);
    if (!v || !json_object_is_type(v, json_type_string))
        fail_msg("%s is not a string member", path);
    assert_string_equal(json_object_get_string(v), want);
}

static void assert_int_at(json_object *root, const char *path, int want)
{
    json_object *v = at(root, path);
    if (!v || !json_object_is_type(v, json_type_int))
        fail_msg("%s is not an integer member", path);
    assert_int_equal(json_object_get_int(v), want);
}

static void assert_bool_at(json_object *root, const char *path, bool want)
{
    json_object *v = at(root, path);
    if (!v || !json_object_is_type(v, json_type_boolean))
        fail_msg("%s is not a boolean member", path);
    assert_int_equal(json_object_get_boolean(v), want);
}

static void assert_absent(json_object *root, const char *path)
{
    if (at(root, path))
        fail_msg("%s should be absent", path);
}

/* The object at path has exactly the members named in the comma-separated list. */
static void assert_keys(json_object *root, const char *path, const char *list)
{
    json_object *o = path ? at(root, path) : root;
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
static void assert_no_number(const pl_bureau_msg *msg)
{
    assert_null(strstr(msg->body, PAN));
    assert_null(strstr(msg->body, SVC_PAN));
    assert_null(strstr(msg->body, "411111111111"));
    assert_null(strstr(msg->body, "\"number\""));
    assert_false(pl_card_contains(msg->body, msg->body_len));
}

#define COMMON "messageVersion,requestID,merchantID,company,orderNumber,paySeq,paymentType,payType"

static void assert_common(json_object *root, const char *payment_type)
{
    assert_str_at(root, "messageVersion", "3.0");
    assert_str_at(root, "requestID", "req-0001");
    assert_str_at(root, "merchantID", MERCHANT);
    assert_int_at(root, "company", 7);
    assert_str_at(root, "orderNumber", "ORD000123");
    assert_int_at(root, "paySeq", 2);
    assert_str_at(root, "paymentType", payment_type);
    assert_str_at(root, "payType", "VI");
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
    pl_bureau_cfg cfg;
    make_cfg(&cfg);
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        pl_bureau_call call;
        pl_bureau_msg msg;
        make_call(&call, OPS[i].op);
        json_object *root = build_json(&cfg, &call, &msg);
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
        json_object_put(root);
        pl_bureau_msg_free(&msg);
        assert_null(msg.body);
    }
}

static void test_build_get_token(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    pl_bureau_msg msg;
    make_cfg(&cfg);

    /* Credit card: the number with its expiry and type; nothing about money. */
    make_call(&call, PL_OP_TOKEN);
    json_object *root = build_json(&cfg, &call, &msg);
    assert_string_equal(msg.url_suffix, "getToken");
    assert_keys(root, NULL, COMMON ",card");
    assert_common(root, "CC");
    assert_keys(root, "card", "number,expMonth,expYear,type");
    assert_str_at(root, "card.number", PAN);
    assert_int_at(root, "card.expMonth", 12);
    assert_int_at(root, "card.expYear", 2030);
    assert_str_at(root, "card.type", "VI");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* No type in the request: guessed from the number; half an expiry: left out. */
    make_call(&call, PL_OP_TOKEN);
    test_req.card.type[0] = '\0';
    test_req.card.exp_month = 0;
    snprintf(test_req.card.number, sizeof test_req.card.number, "5555555555554444");
    root = build_json(&cfg, &call, &msg);
    assert_keys(root, "card", "number,type");
    assert_str_at(root, "card.type", "MC");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Stored value: the card's number as the engine passes it, paymentType SVC, no details. */
    make_call(&call, PL_OP_TOKEN);
    call.svc_card_number = SVC_PAN;
    root = build_json(&cfg, &call, &msg);
    assert_common(root, "SVC");
    assert_keys(root, "card", "number");
    assert_str_at(root, "card.number", SVC_PAN);
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Refusals, none quoting the number. */
    char err[256];
    make_call(&call, PL_OP_TOKEN);
    test_req.card.number[0] = '\0';
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    assert_non_null(strstr(err, "card number"));
    make_call(&call, PL_OP_TOKEN);
    snprintf(test_req.card.number, sizeof test_req.card.number, "41111111111x1111");
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    assert_null(strstr(err, "1111"));
    make_call(&call, PL_OP_TOKEN);
    snprintf(test_req.card.number, sizeof test_req.card.number, "41111111111");
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    /* A stored value number has no check digit and may be short; letters are refused. */
    make_call(&call, PL_OP_TOKEN);
    call.svc_card_number = "7001234";
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "card.number", "7001234");
    json_object_put(root);
    pl_bureau_msg_free(&msg);
    make_call(&call, PL_OP_TOKEN);
    call.svc_card_number = "70012345678901234567x";
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_TOKEN);
    call.svc_card_number = "700123456789012345678"; /* 21 */
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
}

static void test_build_auth_fields(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    pl_bureau_msg msg;
    make_cfg(&cfg);

    make_call(&call, PL_OP_AUTH);
    call.bill_country = "CA"; /* after the country cross-reference */
    json_object *root = build_json(&cfg, &call, &msg);
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
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Batch, no addresses, no card details, the request's token, no pay type. */
    make_call(&call, PL_OP_AUTH_CAPTURE);
    call.card_token = NULL;
    snprintf(test_req.card.token, sizeof test_req.card.token, TOKEN);
    test_req.card.number[0] = '\0';
    test_req.online = false;
    test_req.bill_to.present = false;
    test_req.ship_to.present = false;
    test_req.card.exp_month = test_req.card.exp_year = 0;
    test_req.card.type[0] = test_req.card.holder[0] = '\0';
    test_req.pay_type[0] = '\0';
    call.amount = 5;
    root = build_json(&cfg, &call, &msg);
    assert_keys(root, NULL,
                "messageVersion,requestID,merchantID,company,orderNumber,paySeq,paymentType,"
                "amount,currency,card,online,capture");
    assert_keys(root, "card", "token");
    assert_str_at(root, "card.token", TOKEN);
    assert_str_at(root, "amount", "0.05");
    assert_bool_at(root, "online", false);
    assert_bool_at(root, "capture", true);
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* An address with nothing the contract carries is left out. */
    make_call(&call, PL_OP_AUTH);
    memset(&test_req.ship_to, 0, sizeof test_req.ship_to);
    test_req.ship_to.present = true;
    snprintf(test_req.ship_to.shipping_method, sizeof test_req.ship_to.shipping_method, "oneday");
    root = build_json(&cfg, &call, &msg);
    assert_absent(root, "shipTo");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* A quote and a backslash are escaped by json-c, not by us. */
    make_call(&call, PL_OP_AUTH);
    snprintf(test_req.card.holder, sizeof test_req.card.holder, "J. \"Jay\" D\\oe/");
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "card.holder", "J. \"Jay\" D\\oe/");
    json_object_put(root);
    pl_bureau_msg_free(&msg);
}

static void test_build_follow_ons(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    pl_bureau_msg msg;
    char err[256];
    make_cfg(&cfg);

    make_call(&call, PL_OP_CAPTURE);
    call.void_remainder = true;
    json_object *root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "transactionID", "txn-auth-77");
    assert_str_at(root, "authorizationCode", "A1B2C3");
    assert_bool_at(root, "voidRemainder", true);
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    make_call(&call, PL_OP_SVC_POSTAUTH);
    call.ref_auth_code = NULL;
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "transactionID", "txn-auth-77");
    assert_absent(root, "authorizationCode");
    assert_bool_at(root, "voidRemainder", false);
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* A return without the deposit's id is stand-alone. */
    make_call(&call, PL_OP_CREDIT);
    call.ref_request_id = NULL;
    root = build_json(&cfg, &call, &msg);
    assert_absent(root, "transactionID");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    make_call(&call, PL_OP_SVC_VOID);
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "transactionID", "txn-auth-77");
    assert_str_at(root, "paymentType", "SVC");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Deposits and reversals need the authorization's transactionID. */
    static const pl_bureau_op need_ref[] = {PL_OP_CAPTURE, PL_OP_AUTH_REVERSAL, PL_OP_SVC_POSTAUTH,
                                            PL_OP_SVC_VOID};
    for (size_t i = 0; i < sizeof need_ref / sizeof need_ref[0]; i++) {
        make_call(&call, need_ref[i]);
        call.ref_request_id = "";
        assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
        assert_non_null(strstr(err, "transactionID"));
    }
}

static void test_build_svc(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    pl_bureau_msg msg;
    make_cfg(&cfg);

    make_call(&call, PL_OP_SVC_GENERATE);
    test_req.svc.has_issue_amount = true;
    test_req.svc.issue_amount = 2500;
    test_req.svc.order_line = 3;
    json_object *root = build_json(&cfg, &call, &msg);
    assert_string_equal(msg.url_suffix, "generateGift");
    assert_keys(root, NULL, COMMON ",amount,currency,orderLine");
    assert_str_at(root, "amount", "25.00");
    assert_int_at(root, "orderLine", 3);
    assert_no_number(&msg);
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Neither issue amount nor currency: neither is sent, and no token is needed. */
    make_call(&call, PL_OP_SVC_GENERATE);
    call.currency = NULL;
    call.card_token = NULL;
    test_req.currency[0] = '\0';
    root = build_json(&cfg, &call, &msg);
    assert_keys(root, NULL, COMMON);
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Balance inquiry: no amount; currency only when known. */
    make_call(&call, PL_OP_SVC_INQUIRY);
    call.currency = NULL;
    test_req.currency[0] = '\0';
    root = build_json(&cfg, &call, &msg);
    assert_keys(root, NULL, COMMON ",card");
    assert_keys(root, "card", "token");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* A stored value authorization has no card details, even when the request has some. */
    make_call(&call, PL_OP_SVC_PREAUTH);
    test_req.card.exp_month = 1;
    test_req.card.exp_year = 2031;
    root = build_json(&cfg, &call, &msg);
    assert_keys(root, "card", "token");
    assert_str_at(root, "amount", "120.00");
    json_object_put(root);
    pl_bureau_msg_free(&msg);
}

static void test_build_refusals(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    char err[256];
    make_cfg(&cfg);

    /* TOKEN_AUTH is the engine's two calls, never one EXT message. */
    make_call(&call, PL_OP_TOKEN_AUTH);
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    assert_non_null(strstr(err, "token_auth"));
    make_call(&call, (pl_bureau_op)99);
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);

    /* Every message that carries card.token refuses to go without one. */
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        if (!OPS[i].card_keys)
            continue;
        make_call(&call, OPS[i].op);
        call.card_token = "";
        test_req.card.token[0] = '\0';
        assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
        assert_non_null(strstr(err, "message version 3.0 carries tokens only: getToken first"));
    }
    /* A token that is the card number is no token. */
    make_call(&call, PL_OP_AUTH);
    call.card_token = PAN;
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_SVC_PREAUTH);
    call.card_token = SVC_PAN;
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);

    make_call(&call, PL_OP_AUTH);
    call.req = NULL;
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    call.merchant_id = NULL;
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    call.merchant_id = "m234567890123456789012345678901"; /* 31 */
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    test_req.request_id[0] = '\0';
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    test_req.company = 0;
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    call.currency = NULL;
    test_req.currency[0] = '\0';
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    call.currency = "usd";
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_CAPTURE);
    call.amount = -1;
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_CAPTURE);
    call.amount = INT64_C(1000000000000000);
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    call.order = "ORDER-NUMBER-TOO-LONG";
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    call.sub_auth_reason = "SOMETIMES";
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    make_call(&call, PL_OP_AUTH);
    call.initiator = "ROBOT";
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    /* A subsequent authorization is merchant-initiated. */
    make_call(&call, PL_OP_AUTH);
    call.sub_auth_reason = "REAUTH";
    call.initiator = "cardholder";
    assert_int_equal(build_err(&cfg, &call, err, sizeof err), PL_ERR_INVALID);
    assert_non_null(strstr(err, "merchant-initiated"));

    assert_int_equal(pl_bureau_external.build(&cfg, NULL, NULL, err, sizeof err), PL_ERR_INVALID);
}

static void test_build_values(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    pl_bureau_msg msg;

    /* No configuration or an empty version: 3.0; a configured one is sent as it is. */
    make_call(&call, PL_OP_SVC_INQUIRY);
    json_object *root = build_json(NULL, &call, &msg);
    assert_str_at(root, "messageVersion", "3.0");
    json_object_put(root);
    pl_bureau_msg_free(&msg);
    make_cfg(&cfg);
    cfg.message_version[0] = '\0';
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "messageVersion", "3.0");
    json_object_put(root);
    pl_bureau_msg_free(&msg);
    snprintf(cfg.message_version, sizeof cfg.message_version, "3.1");
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "messageVersion", "3.1");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* The call's order, currency and token win over the request's. */
    make_cfg(&cfg);
    make_call(&call, PL_OP_CAPTURE);
    call.order = "ORD-X";
    call.currency = "EUR";
    snprintf(test_req.card.token, sizeof test_req.card.token, TOKEN);
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "orderNumber", "ORD-X");
    assert_str_at(root, "currency", "EUR");
    assert_str_at(root, "card.token", ENGINE_TOKEN);
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Without a call currency, the request's. */
    make_call(&call, PL_OP_CAPTURE);
    call.currency = NULL;
    snprintf(test_req.currency, sizeof test_req.currency, "GBP");
    call.amount = INT64_C(999999999999999);
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "currency", "GBP");
    assert_str_at(root, "amount", "9999999999999.99");
    json_object_put(root);
    pl_bureau_msg_free(&msg);
}

static void test_build_subsequent_auth(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    pl_bureau_msg msg;
    make_cfg(&cfg);

    make_call(&call, PL_OP_AUTH);
    call.sub_auth_reason = "INSTALLMENT";
    call.sub_auth_transaction_id = "cit-0099";
    call.sub_auth_original_amount = 5000;
    call.initiator = "merchant";
    json_object *root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "subsequentAuth", "Y");
    assert_str_at(root, "subsequentAuthReason", "INSTALLMENT");
    assert_str_at(root, "subsequentAuthTransactionID", "cit-0099");
    assert_str_at(root, "subsequentAuthOriginalAmount", "50.00");
    assert_str_at(root, "initiator", "MERCHANT");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* No stored transaction, no original amount (< 0), no initiator: left out. */
    make_call(&call, PL_OP_AUTH_CAPTURE);
    call.sub_auth_reason = "resubmit";
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "subsequentAuth", "Y");
    assert_str_at(root, "subsequentAuthReason", "RESUBMIT");
    assert_absent(root, "subsequentAuthTransactionID");
    assert_absent(root, "subsequentAuthOriginalAmount");
    assert_absent(root, "initiator");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* A zero original amount is an amount. */
    make_call(&call, PL_OP_AUTH);
    call.sub_auth_reason = "REAUTH";
    call.sub_auth_original_amount = 0;
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "subsequentAuthOriginalAmount", "0.00");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* A cardholder-initiated first authorization: the initiator and "N". */
    make_call(&call, PL_OP_AUTH);
    call.initiator = "CARDHOLDER";
    root = build_json(&cfg, &call, &msg);
    assert_str_at(root, "subsequentAuth", "N");
    assert_str_at(root, "initiator", "CARDHOLDER");
    assert_absent(root, "subsequentAuthReason");
    json_object_put(root);
    pl_bureau_msg_free(&msg);

    /* Only the authorization carries them. */
    make_call(&call, PL_OP_CAPTURE);
    call.sub_auth_reason = "REAUTH";
    call.initiator = "MERCHANT";
    root = build_json(&cfg, &call, &msg);
    assert_absent(root, "subsequentAuth");
    assert_absent(root, "initiator");
    json_object_put(root);
    pl_bureau_msg_free(&msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Answers */

static int parse(pl_bureau_op op, long status, const char *body, pl_bureau_result *res, char *err,
                 size_t errsize)
{
    pl_bureau_call call;
    make_call(&call, op);
    err[0] = '\0';
    return pl_bureau_external.parse(NULL, &call, status, body, body ? strlen(body) : 0, res, err,
                                    errsize);
}

static void parse_ok(pl_bureau_op op, const char *body, pl_bureau_result *res)
{
    char err[256];
    int rc = parse(op, 200, body, res, err, sizeof err);
    if (rc)
        fprintf(stderr, "parse: %s\n", err);
    assert_int_equal(rc, 0);
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

static void test_parse_approval(void **state)
{
    (void)state;
    pl_bureau_result res;
    parse_ok(PL_OP_AUTH,
             "{\"messageVersion\":\"3.0\",\"requestID\":\"req-0001\",\"decision\":\"ACCEPT\","
             "\"reasonCode\":\"100\",\"message\":\"Approved\",\"transactionID\":\"7419661750346"
             "782304017\",\"authorizationCode\":\"831000\",\"authorizedDateTime\":\"2026-11-26T04"
             ":01:02Z\",\"amount\":\"120.00\",\"avsCode\":\"Y\",\"cvvCode\":\"M\","
             "\"cardToken\":\"tok_x\",\"unknownField\":[1,2,{\"a\":null}]}",
             &res);
    assert_string_equal(res.decision, "ACCEPT");
    assert_string_equal(res.reason_code, "100");
    assert_string_equal(res.merchant_reference_code, "req-0001");
    assert_string_equal(res.request_id, "7419661750346782304017");
    assert_string_equal(res.auth_code, "831000");
    assert_string_equal(res.auth_date, "2026-11-26T04:01:02Z");
    assert_true(res.has_amount);
    assert_int_equal(res.amount, 12000);
    assert_false(res.has_balance);
    assert_string_equal(res.avs, "Y");
    assert_string_equal(res.cvv, "M");
    assert_string_equal(res.token, "tok_x");
    assert_string_equal(res.error_text, "Approved");
    assert_string_equal(res.svc_card_number, "");

    /* A partial approval: the amount below the one asked is the engine's to notice. */
    parse_ok(PL_OP_AUTH,
             " \n{\"decision\":\"ACCEPT\",\"reasonCode\":\"110\",\"transactionID\":\"t1\","
             "\"amount\":\"60.5\",\"reasonCode2\":null,\"authorizationCode\":null}\r\n",
             &res);
    assert_string_equal(res.reason_code, "110");
    assert_int_equal(res.amount, 6050);
    assert_string_equal(res.auth_code, "");
    assert_string_equal(res.merchant_reference_code, "");

    /* Stored value: balance and status. */
    parse_ok(PL_OP_SVC_INQUIRY,
             "{\"decision\":\"ACCEPT\",\"transactionID\":\"s-9\",\"balance\":\"42.10\","
             "\"cardStatus\":\"ACTIVE\"}",
             &res);
    assert_true(res.has_balance);
    assert_int_equal(res.balance, 4210);
    assert_false(res.has_amount);
    assert_string_equal(res.svc_status, "ACTIVE");
    assert_string_equal(res.reason_code, "");

    /* getToken. */
    parse_ok(PL_OP_TOKEN, "{\"decision\":\"ACCEPT\",\"cardToken\":\"tok_new_1\"}", &res);
    assert_string_equal(res.token, "tok_new_1");

    /* A deposit need not echo a transaction id. */
    parse_ok(PL_OP_CAPTURE, "{\"decision\":\"ACCEPT\",\"amount\":\"120.00\"}", &res);
    assert_string_equal(res.request_id, "");
}

static void test_parse_declines(void **state)
{
    (void)state;
    pl_bureau_result res;
    /* REJECT without reasonCode: reason_code "" (the vendor response tables make it SU). */
    parse_ok(PL_OP_AUTH, "{\"decision\":\"REJECT\",\"requestID\":\"req-0001\"}", &res);
    assert_string_equal(res.decision, "REJECT");
    assert_string_equal(res.reason_code, "");
    assert_string_equal(res.request_id, "");

    parse_ok(PL_OP_AUTH,
             "{\"decision\":\"REJECT\",\"reasonCode\":\"203\",\"message\":\"Card declined\"}",
             &res);
    assert_string_equal(res.decision, "REJECT");
    assert_string_equal(res.reason_code, "203");
    assert_string_equal(res.error_text, "Card declined");

    parse_ok(PL_OP_SVC_GENERATE, "{\"decision\":\"ERROR\"}", &res);
    assert_string_equal(res.decision, "ERROR");
    assert_string_equal(res.reason_code, "");

    /* A declined getToken has no token to give. */
    parse_ok(PL_OP_TOKEN, "{\"decision\":\"REJECT\",\"reasonCode\":\"231\"}", &res);
    assert_string_equal(res.token, "");
}

static void test_parse_generate_gift(void **state)
{
    (void)state;
    pl_bureau_result res;
    parse_ok(PL_OP_SVC_GENERATE,
             "{\"decision\":\"ACCEPT\",\"transactionID\":\"g-1\",\"cardNumber\":\"" SVC_PAN
             "\",\"cardToken\":\"tok_gift\",\"amount\":\"25.00\",\"balance\":\"25.00\","
             "\"cardStatus\":\"INACTIVE\"}",
             &res);
    assert_string_equal(res.svc_card_number, SVC_PAN);
    assert_string_equal(res.token, "tok_gift");
    assert_string_equal(res.svc_status, "INACTIVE");
    assert_int_equal(res.balance, 2500);

    /* Any other answer's cardNumber is not taken (the contract gives it to generateGift). */
    parse_ok(PL_OP_SVC_RECHARGE, "{\"decision\":\"ACCEPT\",\"cardNumber\":\"" SVC_PAN "\"}", &res);
    assert_string_equal(res.svc_card_number, "");

    parse_bad(PL_OP_SVC_GENERATE, 200, "{\"decision\":\"ACCEPT\",\"cardToken\":\"t\"}",
              "no cardNumber");
    parse_bad(PL_OP_SVC_GENERATE, 200, "{\"decision\":\"ACCEPT\",\"cardNumber\":\"9117-2306\"}",
              "cardNumber is not");
    parse_bad(PL_OP_SVC_GENERATE, 200,
              "{\"decision\":\"ACCEPT\",\"cardNumber\":\"911723067515217211111\"}",
              "cardNumber is too long");
}

static void test_parse_refusals(void **state)
{
    (void)state;
    /* Not 200: the engine handles 401 before parse; anything else is no answer. */
    parse_bad(PL_OP_AUTH, 401, "{\"decision\":\"ACCEPT\"}", "HTTP 401");
    parse_bad(PL_OP_AUTH, 500, "{\"decision\":\"ERROR\"}", "HTTP 500");
    parse_bad(PL_OP_AUTH, 0, NULL, "HTTP 0");
    /* Not a JSON object with a decision. */
    parse_bad(PL_OP_AUTH, 200, NULL, "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "<html>secret-bit " PAN "</html>", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "[{\"decision\":\"ACCEPT\"}]", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "\"ACCEPT\"", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",}", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "{'decision':'ACCEPT'}", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\"} x",
              "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\"}{}", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACC\xff\"}", "not a JSON object");
    parse_bad(PL_OP_AUTH, 200, "{\"transactionID\":\"t\"}", "decision");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"REVIEW\"}", "decision");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":null}", "decision");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":1}", "decision is not a string");
    /* A NUL in the body, or in a value. */
    {
        static const char body[] = "{\"decision\":\"ACCEPT\"}\0{}";
        char err[256];
        pl_bureau_result res;
        pl_bureau_call call;
        make_call(&call, PL_OP_SVC_INQUIRY);
        assert_int_equal(pl_bureau_external.parse(NULL, &call, 200, body, sizeof body - 1, &res,
                                                  err, sizeof err),
                         PL_ERR_PARSE);
    }
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"a\\u0000b\"}",
              "transactionID holds a NUL");
    /* Types and sizes: nothing is cut. */
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":7}",
              "transactionID is not a string");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":60}",
              "amount is not a string");
    parse_bad(PL_OP_AUTH, 200,
              "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"-1.00\"}",
              "amount is not an amount");
    parse_bad(PL_OP_AUTH, 200,
              "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"amount\":\"1,00\"}",
              "amount is not an amount");
    parse_bad(PL_OP_SVC_INQUIRY, 200, "{\"decision\":\"ACCEPT\",\"balance\":\"12a\"}",
              "balance is not an amount");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"REJECT\",\"reasonCode\":\"1234567890123456\"}",
              "reasonCode is too long");
    parse_bad(PL_OP_AUTH, 200,
              "{\"decision\":\"ACCEPT\",\"transactionID\":\"0123456789012345678901234567890123456"
              "789012345678901234567890123x\"}",
              "transactionID is too long");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPTED-AND-MORE\"}", "decision is too long");
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\",\"message\":{\"a\":1}}",
              "message is not a string");
    /* An answer to another request. */
    parse_bad(PL_OP_AUTH, 200,
              "{\"decision\":\"ACCEPT\",\"transactionID\":\"t\",\"requestID\":\"req-0002\"}",
              "requestID");
    /* Approvals the engine could not act on. */
    parse_bad(PL_OP_AUTH, 200, "{\"decision\":\"ACCEPT\"}", "no transactionID");
    parse_bad(PL_OP_SVC_PREAUTH, 200, "{\"decision\":\"ACCEPT\"}", "no transactionID");
    parse_bad(PL_OP_TOKEN, 200, "{\"decision\":\"ACCEPT\"}", "no cardToken");
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

static void test_parse_masks_message(void **state)
{
    (void)state;
    pl_bureau_result res;
    parse_ok(PL_OP_AUTH,
             "{\"decision\":\"REJECT\",\"reasonCode\":\"202\",\"message\":\"card " PAN
             " expired; gift " SVC_PAN " ok\"}",
             &res);
    assert_null(strstr(res.error_text, PAN));
    assert_null(strstr(res.error_text, SVC_PAN));
    assert_string_equal(res.error_text, "card ************1111 expired; gift ************2172 ok");
}

/* ---------------------------------------------------------------------------------------- */
/* Message log */

static void test_redact_requests(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    pl_bureau_call call;
    pl_bureau_msg msg;
    make_cfg(&cfg);

    make_call(&call, PL_OP_TOKEN);
    json_object *root = build_json(&cfg, &call, &msg);
    json_object_put(root);
    char *red = pl_bureau_external.redact(msg.body, msg.body_len, PL_MASK_LAST4);
    assert_non_null(red);
    assert_null(strstr(red, PAN));
    root = json_tokener_parse(red);
    assert_non_null(root);
    assert_str_at(root, "card.number", "************1111");
    assert_str_at(root, "requestID", "req-0001");
    assert_int_at(root, "card.expYear", 2030);
    json_object_put(root);
    free(red);

    red = pl_bureau_external.redact(msg.body, msg.body_len, PL_MASK_REMOVED);
    assert_non_null(red);
    root = json_tokener_parse(red);
    assert_str_at(root, "card.number", "***REMOVED***");
    assert_null(strstr(red, "1111"));
    json_object_put(root);
    free(red);
    pl_bureau_msg_free(&msg);

    /* A stored value card's number (no check digit) is masked by its place too. */
    make_call(&call, PL_OP_TOKEN);
    call.svc_card_number = SVC_PAN;
    root = build_json(&cfg, &call, &msg);
    json_object_put(root);
    red = pl_bureau_external.redact(msg.body, msg.body_len, PL_MASK_LAST4);
    assert_non_null(red);
    assert_null(strstr(red, SVC_PAN));
    assert_non_null(strstr(red, "\"************2172\""));
    free(red);
    pl_bureau_msg_free(&msg);

    /* A token message is logged as it is. */
    make_call(&call, PL_OP_AUTH);
    root = build_json(&cfg, &call, &msg);
    json_object_put(root);
    red = pl_bureau_external.redact(msg.body, msg.body_len, PL_MASK_LAST4);
    assert_non_null(red);
    json_object *a = json_tokener_parse(msg.body), *b = json_tokener_parse(red);
    assert_true(json_object_equal(a, b));
    json_object_put(a);
    json_object_put(b);
    free(red);
    pl_bureau_msg_free(&msg);
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
    json_object *root = json_tokener_parse(red);
    assert_non_null(root);
    assert_str_at(root, "cardNumber", "************2172");
    assert_str_at(root, "message", "new card ************2172");
    assert_str_at(root, "note", "x************2172y");
    assert_str_at(root, "card.number", "************1111");
    assert_keys(root, "card", "number");
    /* Identifiers stay readable; a number outside card is no card number. */
    assert_str_at(root, "transactionID", "7419661750346782304017");
    assert_str_at(root, "other.number", "42");
    json_object *extra = json_object_array_get_idx(at(root, "extra"), 0);
    assert_str_at(extra, "cardNumber", "************4444");
    assert_keys(extra, NULL, "cardNumber");
    json_object_put(root);
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

    assert_null(pl_bureau_external.redact(NULL, 0, PL_MASK_LAST4));
    red = pl_bureau_external.redact("", 0, PL_MASK_LAST4);
    assert_non_null(red);
    assert_string_equal(red, "");
    free(red);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_build_every_op),
        cmocka_unit_test(test_build_get_token),
        cmocka_unit_test(test_build_auth_fields),
        cmocka_unit_test(test_build_follow_ons),
        cmocka_unit_test(test_build_svc),
        cmocka_unit_test(test_build_refusals),
        cmocka_unit_test(test_build_values),
        cmocka_unit_test(test_build_subsequent_auth),
        cmocka_unit_test(test_parse_approval),
        cmocka_unit_test(test_parse_declines),
        cmocka_unit_test(test_parse_generate_gift),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_masks_message),
        cmocka_unit_test(test_redact_requests),
        cmocka_unit_test(test_redact_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
