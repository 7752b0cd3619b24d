/*
 * test_request.c: the request decoder (every validation rule on its own, errors collected,
 * echo fields on invalid requests), pl_request_free, redaction and the fingerprint.
 *
 * Requests are built from a valid base message by replacing or deleting one field with
 * json-c, so each error case changes exactly one thing. The clock is fixed at
 * 2026-11-26T04:01:02Z; the base card expires in 2030.
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

#include "card.h"
#include "request.h"

#define NOW ((time_t)1795665662) /* 2026-11-26T04:01:02Z */
#define PAN "4111111111111111"

static const char BASE_AUTH[] =
    "{\"v\":1,\"request_id\":\"oms-7-4917-1-a1\",\"type\":\"auth\",\"company\":7,"
    "\"order\":\"4917\",\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"120.00\","
    "\"currency\":\"USD\",\"card\":{\"number\":\"" PAN "\",\"exp_month\":12,"
    "\"exp_year\":2030,\"cvv\":\"987\",\"type\":\"VI\"}}";

static const char BASE_DEBIT[] =
    "{\"request_id\":\"oms-7-4917-1-d1\",\"type\":\"debit\",\"company\":7,\"order\":\"4917\","
    "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"120.00\",\"currency\":\"USD\","
    "\"auth_ref\":{\"request_id\":\"oms-7-4917-1-a1\"}}";

static const char BASE_SVC[] =
    "{\"request_id\":\"oms-7-4930-2-s1\",\"type\":\"balance\",\"company\":7,\"order\":\"4930\","
    "\"pay_seq\":2,\"service\":\"RLT\",\"svc\":{\"card_number\":\"7000000000000001\"}}";

static const char BASE_REVERSAL[] =
    "{\"request_id\":\"oms-7-4917-1-r1\",\"type\":\"reversal\",\"company\":7,\"order\":\"4917\","
    "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"120.00\",\"currency\":\"USD\","
    "\"auth_ref\":{\"request_id\":\"oms-7-4917-1-a1\"}}";

/*
 * base with the member at a dotted path ("card.number") set to the JSON text `value`, or
 * deleted when value is NULL. Intermediate objects are created. Returns a malloc'd string.
 */
static char *with(const char *base, const char *path, const char *value)
{
    json_object *root = json_tokener_parse(base);
    assert_non_null(root);
    json_object *obj = root;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *key = buf;
    for (char *dot; (dot = strchr(key, '.')) != NULL; key = dot + 1) {
        *dot = '\0';
        json_object *next;
        if (!json_object_object_get_ex(obj, key, &next)) {
            next = json_object_new_object();
            json_object_object_add(obj, key, next);
        }
        obj = next;
    }
    if (value) {
        json_object *v = json_tokener_parse(value);
        /* "null" parses to NULL, which json-c stores as a JSON null: what we want. */
        json_object_object_add(obj, key, v);
    } else {
        json_object_object_del(obj, key);
    }
    char *out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return out;
}

static int decode(const char *json, const char *worker, pl_request *r, pl_errors *e)
{
    return pl_request_decode(json, strlen(json), worker, NOW, r, e);
}

/* A JSON string of n copies of c ("\"xxx\""). */
static char *jstr(char c, size_t n)
{
    char *s = malloc(n + 3);
    s[0] = '"';
    memset(s + 1, c, n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

/* ---- one error at a time ---------------------------------------------------------------- */

typedef struct err_case {
    const char *name;
    const char *worker;
    const char *base;
    const char *path;  /* NULL: the base text itself is replaced by value */
    const char *value; /* JSON text; NULL deletes the member */
    int repeat;        /* >0: value is a string of `repeat` x's instead */
    const char *field;
    const char *error;
} err_case;

static const err_case ERR_CASES[] = {
    {"not json", "auth", NULL, NULL, "nope", 0, "", "not a JSON object"},
    {"json array", "auth", NULL, NULL, "[1,2]", 0, "", "not a JSON object"},
    {"json string", "auth", NULL, NULL, "\"auth\"", 0, "", "not a JSON object"},
    {"trailing garbage", "auth", NULL, NULL, "{\"a\":1} x", 0, "", "not a JSON object"},
    {"truncated", "auth", NULL, NULL, "{\"request_id\":\"a\"", 0, "", "not a JSON object"},
    {"empty text", "auth", NULL, NULL, "", 0, "", "not a JSON object"},
    {"single quotes", "auth", NULL, NULL, "{'a':1}", 0, "", "not a JSON object"},
    {"NaN", "auth", NULL, NULL, "{\"a\":NaN}", 0, "", "not a JSON object"},
    {"number 1.", "auth", NULL, NULL, "{\"a\":1.}", 0, "", "not a JSON object"},
    {"leading zeros", "auth", NULL, NULL, "{\"a\":00}", 0, "", "not a JSON object"},
    {"raw tab in string", "auth", NULL, NULL, "{\"a\":\"x\ty\"}", 0, "", "not a JSON object"},
    {"trailing comma", "auth", NULL, NULL, "{\"a\":1,}", 0, "", "not a JSON object"},
    {"two objects", "auth", NULL, NULL, "{} {}", 0, "", "not a JSON object"},
    {"bad utf-8", "auth", NULL, NULL, "{\"a\":\"\xff\"}", 0, "", "not a JSON object"},
    {"v 2", "auth", BASE_AUTH, "v", "2", 0, "v", "unsupported version (this is version 1)"},
    {"v string", "auth", BASE_AUTH, "v", "\"1\"", 0, "v", "must be an integer"},
    {"request_id missing", "auth", BASE_AUTH, "request_id", NULL, 0, "request_id", "is required"},
    {"request_id space", "auth", BASE_AUTH, "request_id", "\"a b\"", 0, "request_id",
     "must be 1-50 characters of A-Z a-z 0-9 . _ : -"},
    {"request_id empty", "auth", BASE_AUTH, "request_id", "\"\"", 0, "request_id",
     "must be 1-50 characters of A-Z a-z 0-9 . _ : -"},
    {"request_id 51", "auth", BASE_AUTH, "request_id", NULL, 51, "request_id",
     "must be 1-50 characters of A-Z a-z 0-9 . _ : -"},
    {"request_id number", "auth", BASE_AUTH, "request_id", "12", 0, "request_id",
     "must be a string"},
    {"type missing", "auth", BASE_AUTH, "type", NULL, 0, "type", "is required"},
    {"type unknown", "auth", BASE_AUTH, "type", "\"x\"", 0, "type",
     "unknown type 'x' for worker auth"},
    {"type of another worker", "auth", BASE_AUTH, "type", "\"debit\"", 0, "type",
     "unknown type 'debit' for worker auth"},
    {"auth type for deposit", "deposit", BASE_DEBIT, "type", "\"auth\"", 0, "type",
     "unknown type 'auth' for worker deposit"},
    {"type number", "auth", BASE_AUTH, "type", "5", 0, "type", "must be a string"},
    {"company missing", "auth", BASE_AUTH, "company", NULL, 0, "company", "is required"},
    {"company 0", "auth", BASE_AUTH, "company", "0", 0, "company",
     "must be an integer from 1 to 999"},
    {"company 1000", "auth", BASE_AUTH, "company", "1000", 0, "company",
     "must be an integer from 1 to 999"},
    {"company string", "auth", BASE_AUTH, "company", "\"7\"", 0, "company", "must be an integer"},
    {"company fraction", "auth", BASE_AUTH, "company", "7.5", 0, "company", "must be an integer"},
    {"company huge", "auth", BASE_AUTH, "company", "99999999999999999999", 0, "company",
     "must be an integer from 1 to 999"},
    {"order missing", "auth", BASE_AUTH, "order", NULL, 0, "order", "is required"},
    {"order empty", "auth", BASE_AUTH, "order", "\"\"", 0, "order", "must not be empty"},
    {"order 21", "auth", BASE_AUTH, "order", NULL, 21, "order", "must be at most 20 characters"},
    {"order null", "auth", BASE_AUTH, "order", "null", 0, "order", "must be a string"},
    {"order NUL", "auth", BASE_AUTH, "order", "\"49\\u000017\"", 0, "order",
     "must not contain NUL characters"},
    {"pay_seq missing", "auth", BASE_AUTH, "pay_seq", NULL, 0, "pay_seq", "is required"},
    {"pay_seq 0", "auth", BASE_AUTH, "pay_seq", "0", 0, "pay_seq", "must be an integer >= 1"},
    {"pay_seq bool", "auth", BASE_AUTH, "pay_seq", "true", 0, "pay_seq", "must be an integer"},
    {"service missing", "auth", BASE_AUTH, "service", NULL, 0, "service", "is required"},
    {"service empty", "auth", BASE_AUTH, "service", "\"\"", 0, "service", "must not be empty"},
    {"service 9", "auth", BASE_AUTH, "service", NULL, 9, "service", "must be at most 8 characters"},
    {"pay_type 5", "auth", BASE_AUTH, "pay_type", NULL, 5, "pay_type",
     "must be at most 4 characters"},
    {"entity 21", "auth", BASE_AUTH, "entity", NULL, 21, "entity", "must be at most 20 characters"},
    {"amount one decimal", "auth", BASE_AUTH, "amount", "\"12.5\"", 0, "amount",
     "must match ^\\d{1,13}\\.\\d{2}$"},
    {"amount no decimals", "auth", BASE_AUTH, "amount", "\"120\"", 0, "amount",
     "must match ^\\d{1,13}\\.\\d{2}$"},
    {"amount negative", "auth", BASE_AUTH, "amount", "\"-1.00\"", 0, "amount",
     "must match ^\\d{1,13}\\.\\d{2}$"},
    {"amount 14 digits", "auth", BASE_AUTH, "amount", "\"12345678901234.00\"", 0, "amount",
     "must match ^\\d{1,13}\\.\\d{2}$"},
    {"amount number", "auth", BASE_AUTH, "amount", "120.00", 0, "amount", "must be a string"},
    {"amount missing", "auth", BASE_AUTH, "amount", NULL, 0, "amount", "is required for type auth"},
    {"currency missing", "auth", BASE_AUTH, "currency", NULL, 0, "currency",
     "is required with amount"},
    {"currency lower case", "auth", BASE_AUTH, "currency", "\"usd\"", 0, "currency",
     "must be an ISO 4217 alpha-3 code (3 upper-case letters)"},
    {"currency 2", "auth", BASE_AUTH, "currency", "\"US\"", 0, "currency",
     "must be an ISO 4217 alpha-3 code (3 upper-case letters)"},
    {"mode", "auth", BASE_AUTH, "mode", "\"offline\"", 0, "mode", "must be online or batch"},
    {"card missing", "auth", BASE_AUTH, "card", NULL, 0, "card", "is required for type auth"},
    {"card string", "auth", BASE_AUTH, "card", "\"" PAN "\"", 0, "card", "must be an object"},
    {"card number luhn", "auth", BASE_AUTH, "card.number", "\"4111111111111112\"", 0, "card.number",
     "fails the Luhn check"},
    {"card number dashes", "auth", BASE_AUTH, "card.number", "\"4111-1111-1111-1111\"", 0,
     "card.number", "must be 12-19 digits"},
    {"card number 11", "auth", BASE_AUTH, "card.number", "\"41111111111\"", 0, "card.number",
     "must be 12-19 digits"},
    {"card number 20", "auth", BASE_AUTH, "card.number", "\"41111111111111111113\"", 0,
     "card.number", "must be 12-19 digits"},
    {"card number integer", "auth", BASE_AUTH, "card.number", "4111111111111111", 0, "card.number",
     "must be a string"},
    {"card number and token", "auth", BASE_AUTH, "card.token", "\"tok123\"", 0, "card",
     "must have either number or token, not both"},
    {"card neither", "auth", BASE_AUTH, "card.number", NULL, 0, "card",
     "must have number or token"},
    {"token empty", "auth",
     "{\"request_id\":\"r1\",\"type\":\"token\",\"company\":7,\"order\":\"1\",\"pay_seq\":1,"
     "\"service\":\"CYB\",\"card\":{\"token\":\"t\"}}",
     "card.token", "\"\"", 0, "card.token", "must not be empty"},
    {"token 65", "auth",
     "{\"request_id\":\"r1\",\"type\":\"token\",\"company\":7,\"order\":\"1\",\"pay_seq\":1,"
     "\"service\":\"CYB\",\"card\":{\"token\":\"t\"}}",
     "card.token", NULL, 65, "card.token", "must be at most 64 characters"},
    {"exp_month 0", "auth", BASE_AUTH, "card.exp_month", "0", 0, "card.exp_month",
     "must be from 1 to 12"},
    {"exp_month 13", "auth", BASE_AUTH, "card.exp_month", "13", 0, "card.exp_month",
     "must be from 1 to 12"},
    {"exp_month string", "auth", BASE_AUTH, "card.exp_month", "\"12\"", 0, "card.exp_month",
     "must be an integer"},
    {"exp_month missing", "auth", BASE_AUTH, "card.exp_month", NULL, 0, "card.exp_month",
     "is required with card.number"},
    {"exp_year 2 digits", "auth", BASE_AUTH, "card.exp_year", "30", 0, "card.exp_year",
     "must be a 4-digit year"},
    {"exp_year 5 digits", "auth", BASE_AUTH, "card.exp_year", "20300", 0, "card.exp_year",
     "must be a 4-digit year"},
    {"exp_year missing", "auth", BASE_AUTH, "card.exp_year", NULL, 0, "card.exp_year",
     "is required with card.number"},
    {"expired last month", "auth", BASE_AUTH, "card.exp_year", "2026", 0, "card",
     "card has expired"}, /* 12/2026 is fine; see below for 10/2026 */
    {"cvv 2 digits", "auth", BASE_AUTH, "card.cvv", "\"12\"", 0, "card.cvv",
     "must be 3 or 4 digits"},
    {"cvv 5 digits", "auth", BASE_AUTH, "card.cvv", "\"12345\"", 0, "card.cvv",
     "must be 3 or 4 digits"},
    {"cvv letters", "auth", BASE_AUTH, "card.cvv", "\"12a\"", 0, "card.cvv",
     "must be 3 or 4 digits"},
    {"cvv integer", "auth", BASE_AUTH, "card.cvv", "123", 0, "card.cvv", "must be a string"},
    {"card type 5", "auth", BASE_AUTH, "card.type", "\"VISA1\"", 0, "card.type",
     "must be at most 4 characters"},
    {"card holder 61", "auth", BASE_AUTH, "card.holder", NULL, 61, "card.holder",
     "must be at most 60 characters"},
    {"bill_to string", "auth", BASE_AUTH, "bill_to", "\"x\"", 0, "bill_to", "must be an object"},
    {"country 3 letters", "auth", BASE_AUTH, "bill_to.country", "\"USA\"", 0, "bill_to.country",
     "must be an ISO 3166 alpha-2 code (2 upper-case letters)"},
    {"country lower case", "auth", BASE_AUTH, "ship_to.country", "\"us\"", 0, "ship_to.country",
     "must be an ISO 3166 alpha-2 code (2 upper-case letters)"},
    {"first_name 61", "auth", BASE_AUTH, "bill_to.first_name", NULL, 61, "bill_to.first_name",
     "must be at most 60 characters"},
    {"last_name 61", "auth", BASE_AUTH, "bill_to.last_name", NULL, 61, "bill_to.last_name",
     "must be at most 60 characters"},
    {"street1 61", "auth", BASE_AUTH, "bill_to.street1", NULL, 61, "bill_to.street1",
     "must be at most 60 characters"},
    {"street2 61", "auth", BASE_AUTH, "ship_to.street2", NULL, 61, "ship_to.street2",
     "must be at most 60 characters"},
    {"city 51", "auth", BASE_AUTH, "bill_to.city", NULL, 51, "bill_to.city",
     "must be at most 50 characters"},
    {"state 21", "auth", BASE_AUTH, "bill_to.state", NULL, 21, "bill_to.state",
     "must be at most 20 characters"},
    {"postal_code 11", "auth", BASE_AUTH, "bill_to.postal_code", NULL, 11, "bill_to.postal_code",
     "must be at most 10 characters"},
    {"email 101", "auth", BASE_AUTH, "bill_to.email", NULL, 101, "bill_to.email",
     "must be at most 100 characters"},
    {"phone 21", "auth", BASE_AUTH, "bill_to.phone", NULL, 21, "bill_to.phone",
     "must be at most 20 characters"},
    {"ip 46", "auth", BASE_AUTH, "bill_to.ip", NULL, 46, "bill_to.ip",
     "must be at most 45 characters"},
    {"city number", "auth", BASE_AUTH, "bill_to.city", "5", 0, "bill_to.city", "must be a string"},
    {"shipping_method", "auth", BASE_AUTH, "ship_to.shipping_method", "\"drone\"", 0,
     "ship_to.shipping_method",
     "must be one of sameday, oneday, twoday, threeday, lowcost, pickup, other, none"},
    {"items object", "auth", BASE_AUTH, "items", "{}", 0, "items", "must be an array"},
    {"item not object", "auth", BASE_AUTH, "items", "[{\"unit_price\":\"1.00\"},5]", 0, "items[1]",
     "must be an object"},
    {"item price", "auth", BASE_AUTH, "items",
     "[{\"unit_price\":\"1.00\"},{\"unit_price\":\"1.00\"},{\"unit_price\":\"1.5\"}]", 0,
     "items[2].unit_price", "must match ^\\d{1,13}\\.\\d{2}$"},
    {"item price missing", "auth", BASE_AUTH, "items", "[{\"sku\":\"A\"}]", 0,
     "items[0].unit_price", "is required"},
    {"item quantity 0", "auth", BASE_AUTH, "items", "[{\"unit_price\":\"1.00\",\"quantity\":0}]", 0,
     "items[0].quantity", "must be an integer >= 1"},
    {"item quantity string", "auth", BASE_AUTH, "items",
     "[{\"unit_price\":\"1.00\",\"quantity\":\"2\"}]", 0, "items[0].quantity",
     "must be an integer"},
    {"item sku 41", "auth", BASE_AUTH, "items",
     "[{\"unit_price\":\"1.00\",\"sku\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]", 0,
     "items[0].sku", "must be at most 40 characters"},
    {"item tax", "auth", BASE_AUTH, "items", "[{\"unit_price\":\"1.00\",\"tax_amount\":\"1\"}]", 0,
     "items[0].tax_amount", "must match ^\\d{1,13}\\.\\d{2}$"},
    {"subsequent reason", "auth", BASE_AUTH, "subsequent_auth.reason", "\"RETRY\"", 0,
     "subsequent_auth.reason", "must be one of RESUBMIT, REAUTH, INSTALLMENT"},
    {"subsequent reason missing", "auth", BASE_AUTH, "subsequent_auth.initiator", "\"merchant\"", 0,
     "subsequent_auth.reason", "is required"},
    {"subsequent initiator", "auth", BASE_AUTH, "subsequent_auth",
     "{\"reason\":\"REAUTH\",\"initiator\":\"bank\"}", 0, "subsequent_auth.initiator",
     "must be merchant or cardholder"},
    {"authentication eci", "auth", BASE_AUTH, "authentication.eci", "\"0500\"", 0,
     "authentication.eci", "must be at most 3 characters"},
    {"authentication array", "auth", BASE_AUTH, "authentication", "[]", 0, "authentication",
     "must be an object"},
    {"level23 tax", "auth", BASE_AUTH, "level23.tax_amount", "\"1\"", 0, "level23.tax_amount",
     "must match ^\\d{1,13}\\.\\d{2}$"},
    {"level23 po 26", "auth", BASE_AUTH, "level23.customer_po", NULL, 26, "level23.customer_po",
     "must be at most 25 characters"},
    {"installment string", "deposit", BASE_DEBIT, "installment", "\"Y\"", 0, "installment",
     "must be a boolean"},
    {"debit auth_ref missing", "deposit", BASE_DEBIT, "auth_ref", NULL, 0, "auth_ref",
     "is required for a debit without card"},
    /* Issue 6 B.4: a manual authorization carries number, amount and date (seed). */
    {"manual auth no number", "deposit", BASE_DEBIT, "auth_ref",
     "{\"transaction_id\":\"403\",\"amount\":\"5.00\",\"date\":\"2026-11-01\"}", 0,
     "auth_ref.number", "is required for a manual authorization"},
    {"manual auth no amount", "deposit", BASE_DEBIT, "auth_ref",
     "{\"transaction_id\":\"403\",\"number\":\"A1\",\"date\":\"2026-11-01\"}", 0, "auth_ref.amount",
     "is required for a manual authorization"},
    {"manual auth no date", "reversal", BASE_REVERSAL, "auth_ref",
     "{\"transaction_id\":\"403\",\"number\":\"A1\",\"amount\":\"5.00\"}", 0, "auth_ref.date",
     "is required for a manual authorization"},
    /* Issue 6 B.7: 0.00 is no deposit, refund or reversal. */
    {"debit zero", "deposit", BASE_DEBIT, "amount", "\"0.00\"", 0, "amount",
     "must be greater than 0.00 for type debit"},
    {"reversal zero", "reversal", BASE_REVERSAL, "amount", "\"000.00\"", 0, "amount",
     "must be greater than 0.00 for type reversal"},
    {"auth_ref empty", "deposit", BASE_DEBIT, "auth_ref", "{}", 0, "auth_ref",
     "must have request_id or transaction_id"},
    {"auth_ref request_id", "deposit", BASE_DEBIT, "auth_ref.request_id", "\"a/b\"", 0,
     "auth_ref.request_id", "must be 1-50 characters of A-Z a-z 0-9 . _ : -"},
    {"auth_ref date feb 30", "deposit", BASE_DEBIT, "auth_ref.date", "\"2026-02-30\"", 0,
     "auth_ref.date", "must be a date YYYY-MM-DD"},
    {"auth_ref date shape", "deposit", BASE_DEBIT, "auth_ref.date", "\"20261101\"", 0,
     "auth_ref.date", "must be a date YYYY-MM-DD"},
    {"auth_ref amount", "deposit", BASE_DEBIT, "auth_ref.amount", "\"5\"", 0, "auth_ref.amount",
     "must match ^\\d{1,13}\\.\\d{2}$"},
    {"auth_ref number 31", "deposit", BASE_DEBIT, "auth_ref.number", NULL, 31, "auth_ref.number",
     "must be at most 30 characters"},
    {"credit without capture_ref or card", "deposit", BASE_DEBIT, "type", "\"credit\"", 0, "card",
     "is required for a credit without capture_ref"},
    {"capture_ref request_id missing", "deposit", BASE_DEBIT, "capture_ref", "{}", 0,
     "capture_ref.request_id", "is required"},
    {"debit amount missing", "deposit", BASE_DEBIT, "amount", NULL, 0, "amount",
     "is required for type debit"},
    {"reversal auth_ref missing", "reversal", BASE_REVERSAL, "auth_ref", NULL, 0, "auth_ref",
     "is required for type reversal"},
    {"reversal amount missing", "reversal", BASE_REVERSAL, "amount", NULL, 0, "amount",
     "is required for type reversal"},
    {"svc missing", "svc", BASE_SVC, "svc", NULL, 0, "svc", "is required for type balance"},
    {"svc card_number missing", "svc", BASE_SVC, "svc.card_number", NULL, 0, "svc.card_number",
     "is required for type balance"},
    {"svc card_number letters", "svc", BASE_SVC, "svc.card_number", "\"7000A\"", 0,
     "svc.card_number", "must be 1-20 digits"},
    {"svc card_number 21", "svc", BASE_SVC, "svc.card_number", "\"700000000000000000001\"", 0,
     "svc.card_number", "must be 1-20 digits"},
    {"svc order_line 0", "svc", BASE_SVC, "svc.order_line", "0", 0, "svc.order_line",
     "must be an integer >= 1"},
    {"svc virtual string", "svc", BASE_SVC, "svc.virtual", "\"yes\"", 0, "svc.virtual",
     "must be a boolean"},
    {"svc issue_amount", "svc", BASE_SVC, "svc.issue_amount", "\"50\"", 0, "svc.issue_amount",
     "must match ^\\d{1,13}\\.\\d{2}$"},
    {"svc recharge amount", "svc", BASE_SVC, "type", "\"recharge\"", 0, "amount",
     "is required for type recharge"},
    {"svc type of auth worker", "svc", BASE_SVC, "type", "\"token\"", 0, "type",
     "unknown type 'token' for worker svc"},
};

static void test_one_error(void **state)
{
    const err_case *c = *state;
    char *json;
    if (!c->path) {
        json = strdup(c->value);
    } else if (c->repeat) {
        char *v = jstr('x', (size_t)c->repeat);
        json = with(c->base, c->path, v);
        free(v);
    } else {
        json = with(c->base, c->path, c->value);
    }
    /* The "expired" case needs a month before November 2026 with the year 2026. */
    if (strcmp(c->name, "expired last month") == 0) {
        char *j2 = with(json, "card.exp_month", "10");
        free(json);
        json = j2;
    }

    pl_request r;
    pl_errors e;
    int rc = decode(json, c->worker, &r, &e);
    if (e.n != 1 || strcmp(e.e[0].field, c->field) != 0 || strcmp(e.e[0].error, c->error) != 0) {
        print_error("case '%s': %s\n", c->name, json);
        for (size_t i = 0; i < e.n; i++)
            print_error("  got %s: %s\n", e.e[i].field, e.e[i].error);
    }
    assert_int_equal(rc, PL_ERR_INVALID);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, c->field);
    assert_string_equal(e.e[0].error, c->error);
    pl_request_free(&r);
    free(json);
}

/* ---- valid requests --------------------------------------------------------------------- */

static void test_valid_auth_fields(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(BASE_AUTH, "auth", &r, &e), 0);
    assert_int_equal(e.n, 0);
    assert_int_equal(r.v, 1);
    assert_string_equal(r.request_id, "oms-7-4917-1-a1");
    assert_int_equal(r.type, PL_REQ_AUTH);
    assert_string_equal(r.type_name, "auth");
    assert_int_equal(r.company, 7);
    assert_string_equal(r.order, "4917");
    assert_int_equal(r.pay_seq, 1);
    assert_string_equal(r.service, "CYB");
    assert_true(r.has_amount);
    assert_int_equal(r.amount, 12000);
    assert_string_equal(r.currency, "USD");
    assert_true(r.online);
    assert_true(r.card.present);
    assert_string_equal(r.card.number, PAN);
    assert_int_equal(r.card.exp_month, 12);
    assert_int_equal(r.card.exp_year, 2030);
    assert_string_equal(r.card.cvv, "987");
    assert_string_equal(r.card.type, "VI");
    assert_null(r.bill_to);
    assert_null(r.ship_to);
    assert_null(r.items);
    pl_request_free(&r);
}

static void test_valid_full(void **state)
{
    (void)state;
    const char *json =
        "{\"request_id\":\"r.full:1_x-2\",\"type\":\"auth\",\"company\":999,\"order\":"
        "\"OOOOOOOOOOOOOOOOOOOO\",\"pay_seq\":3,\"service\":\"SSSSSSSS\",\"pay_type\":\"VI\","
        "\"entity\":\"STORE01\",\"amount\":\"0.01\",\"currency\":\"EUR\",\"mode\":\"batch\","
        "\"card\":{\"token\":\"7012345678901234567890\",\"holder\":\"MARY JONES\"},"
        "\"bill_to\":{\"first_name\":\"Mary\",\"country\":\"US\",\"postal_code\":\"02110\"},"
        "\"ship_to\":{\"city\":\"Boston\",\"shipping_method\":\"twoday\"},"
        "\"items\":[{\"sku\":\"A\",\"unit_price\":\"40.00\",\"quantity\":2,\"tax_amount\":"
        "\"3.20\"},{\"unit_price\":\"1.00\"}],"
        "\"auth_ref\":{\"transaction_id\":\"403\",\"amount\":\"5.00\",\"date\":\"2024-02-29\"},"
        "\"installment\":false,"
        "\"subsequent_auth\":{\"reason\":\"INSTALLMENT\",\"initiator\":\"cardholder\"},"
        "\"authentication\":{\"cavv\":\"AAAB\",\"eci\":\"05\"},"
        "\"level23\":{\"customer_po\":\"PO-1\",\"freight_amount\":\"5.00\"},"
        "\"svc\":{\"card_number\":\"7000\",\"order_line\":2,\"virtual\":true},"
        "\"x_unknown\":{\"anything\":[null,1]}}";
    pl_request r;
    pl_errors e;
    int rc = decode(json, "auth", &r, &e);
    for (size_t i = 0; i < e.n; i++)
        print_error("%s: %s\n", e.e[i].field, e.e[i].error);
    assert_int_equal(rc, 0);
    assert_int_equal(r.company, 999);
    assert_string_equal(r.order, "OOOOOOOOOOOOOOOOOOOO");
    assert_string_equal(r.service, "SSSSSSSS");
    assert_string_equal(r.pay_type, "VI");
    assert_string_equal(r.entity, "STORE01");
    assert_int_equal(r.amount, 1);
    assert_false(r.online);
    assert_string_equal(r.card.number, "");
    assert_string_equal(r.card.token, "7012345678901234567890");
    assert_int_equal(r.card.exp_month, 0);
    assert_string_equal(r.card.holder, "MARY JONES");
    assert_non_null(r.bill_to);
    assert_string_equal(r.bill_to->first_name, "Mary");
    assert_string_equal(r.bill_to->country, "US");
    assert_non_null(r.ship_to);
    assert_string_equal(r.ship_to->shipping_method, "twoday");
    assert_int_equal(r.n_items, 2);
    assert_string_equal(r.items[0].sku, "A");
    assert_int_equal(r.items[0].unit_price, 4000);
    assert_int_equal(r.items[0].quantity, 2);
    assert_true(r.items[0].has_tax_amount);
    assert_int_equal(r.items[0].tax_amount, 320);
    assert_int_equal(r.items[1].quantity, 1); /* default */
    assert_false(r.items[1].has_tax_amount);
    assert_true(r.auth_ref.present);
    assert_string_equal(r.auth_ref.transaction_id, "403");
    assert_int_equal(r.auth_ref.amount, 500);
    assert_string_equal(r.auth_ref.date, "2024-02-29");
    assert_string_equal(r.subsequent_auth.reason, "INSTALLMENT");
    assert_string_equal(r.subsequent_auth.initiator, "cardholder");
    assert_string_equal(r.authentication.cavv, "AAAB");
    assert_string_equal(r.authentication.eci, "05");
    assert_string_equal(r.level23.customer_po, "PO-1");
    assert_true(r.level23.has_freight);
    assert_int_equal(r.level23.freight_amount, 500);
    assert_false(r.level23.has_tax);
    assert_string_equal(r.svc.card_number, "7000");
    assert_int_equal(r.svc.order_line, 2);
    assert_true(r.svc.is_virtual);
    pl_request_free(&r);
}

static void test_valid_variants(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    const struct {
        const char *path, *value;
    } ok[] = {
        {"v", NULL},              /* absent means 1 */
        {"company", "7.0"},       /* JSON Schema counts 7.0 as an integer too */
        {"card.cvv", NULL},       /* optional */
        {"card.cvv", "\"1234\""}, /* four digits (AX) */
        {"card.type", NULL},      /* optional */
        {"mode", "\"online\""},   /* explicit default */
        {"x_future", "[1,{}]"},   /* unknown fields are ignored */
        {"x_number", "-1.5e+3"},  /* any JSON number grammar */
        {"x_text", "\"a\\u0041\\n\\/\""},
        {"card.exp_year", "2026"}, /* 12/2026, not expired in November */
        {"request_id", "\"A.b_c:d-9\""},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *json = with(BASE_AUTH, ok[i].path, ok[i].value);
        int rc = decode(json, "auth", &r, &e);
        if (rc != 0)
            print_error("variant %s: %s: %s\n", ok[i].path, e.e[0].field, e.e[0].error);
        assert_int_equal(rc, 0);
        assert_int_equal(r.v, 1);
        pl_request_free(&r);
        free(json);
    }

    /* Maximum lengths are accepted exactly. */
    char *v = jstr('r', 50);
    char *json = with(BASE_AUTH, "request_id", v);
    assert_int_equal(decode(json, "auth", &r, &e), 0);
    assert_int_equal(strlen(r.request_id), 50);
    pl_request_free(&r);
    free(json);
    free(v);
    v = jstr('n', 60);
    json = with(BASE_AUTH, "bill_to.first_name", v);
    assert_int_equal(decode(json, "auth", &r, &e), 0);
    assert_int_equal(strlen(r.bill_to->first_name), 60);
    pl_request_free(&r);
    free(json);
    free(v);

    /* Whitespace around the object is not an error. */
    char padded[1024];
    snprintf(padded, sizeof padded, " \n%s\r\n ", BASE_AUTH);
    assert_int_equal(decode(padded, "auth", &r, &e), 0);
    pl_request_free(&r);
}

/* Issue 6 B.6 / B.4: Siebel AuthCharge is a debit with a card and no auth_ref; a manual
 * authorization with its four fields, a stored value reversal by preauthorization id only. */
static void test_valid_deposit_shapes(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    char *nocard = with(BASE_DEBIT, "auth_ref", NULL);
    char *json = with(nocard, "card",
                      "{\"number\":\"4111111111111111\",\"exp_month\":12,\"exp_year\":2030}");
    assert_int_equal(decode(json, "deposit", &r, &e), 0);
    assert_false(r.auth_ref.present);
    assert_string_equal(r.card.number, "4111111111111111");
    pl_request_free(&r);
    free(json);
    json = with(nocard, "card", "{\"token\":\"7030000000000001111\"}");
    assert_int_equal(decode(json, "deposit", &r, &e), 0);
    pl_request_free(&r);
    free(json);
    free(nocard);

    json = with(BASE_DEBIT, "auth_ref",
                "{\"transaction_id\":\"403\",\"number\":\"A1\",\"amount\":\"5.00\","
                "\"date\":\"2026-11-01\"}");
    assert_int_equal(decode(json, "deposit", &r, &e), 0);
    assert_int_equal(r.auth_ref.amount, 500);
    pl_request_free(&r);
    free(json);

    /* A reversal of a manual authorization whose number nobody knows (paylink's own reversal of
     * a soft-declined auth+capture): present and empty; a debit's must say it. */
    const char *no_number = "{\"transaction_id\":\"403\",\"number\":\"\",\"amount\":\"5.00\","
                            "\"date\":\"2026-11-01\"}";
    json = with(BASE_REVERSAL, "auth_ref", no_number);
    assert_int_equal(decode(json, "reversal", &r, &e), 0);
    assert_string_equal(r.auth_ref.number, "");
    assert_string_equal(r.auth_ref.transaction_id, "403");
    pl_request_free(&r);
    free(json);
    json = with(BASE_DEBIT, "auth_ref", no_number);
    assert_int_not_equal(decode(json, "deposit", &r, &e), 0);
    assert_string_equal(e.e[0].field, "auth_ref.number");
    pl_request_free(&r);
    free(json);

    char *svc = with(BASE_REVERSAL, "auth_ref", "{\"transaction_id\":\"PA-1\"}");
    json = with(svc, "svc", "{\"card_number\":\"7000000000000001\"}");
    assert_int_equal(decode(json, "reversal", &r, &e), 0);
    pl_request_free(&r);
    free(json);
    free(svc);
}

static void test_types_per_worker(void **state)
{
    (void)state;
    static const struct {
        const char *worker, *base, *type;
        pl_req_type want;
    } cases[] = {
        {"auth", NULL, "auth", PL_REQ_AUTH},
        {"auth", NULL, "token", PL_REQ_TOKEN},
        {"deposit", NULL, "debit", PL_REQ_DEBIT},
        {"reversal", NULL, "reversal", PL_REQ_REVERSAL},
        {"svc", NULL, "generate", PL_REQ_SVC_GENERATE},
        {"svc", NULL, "balance", PL_REQ_SVC_BALANCE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *base = strcmp(cases[i].worker, "auth") == 0      ? BASE_AUTH
                           : strcmp(cases[i].worker, "deposit") == 0 ? BASE_DEBIT
                           : strcmp(cases[i].worker, "svc") == 0     ? BASE_SVC
                                                                     : BASE_REVERSAL;
        char t[32];
        snprintf(t, sizeof t, "\"%s\"", cases[i].type);
        char *json = with(base, "type", t);
        pl_request r;
        pl_errors e;
        assert_int_equal(decode(json, cases[i].worker, &r, &e), 0);
        assert_int_equal(r.type, cases[i].want);
        assert_string_equal(r.type_name, cases[i].type);
        assert_string_equal(pl_req_type_name(r.type), cases[i].type);
        pl_request_free(&r);
        free(json);
    }

    /* svc money operations with an amount. */
    static const struct {
        const char *type;
        pl_req_type want;
    } svc[] = {{"activate", PL_REQ_SVC_ACTIVATE},
               {"recharge", PL_REQ_SVC_RECHARGE},
               {"auth", PL_REQ_SVC_AUTH},
               {"deposit", PL_REQ_SVC_DEPOSIT},
               {"return", PL_REQ_SVC_RETURN}};
    for (size_t i = 0; i < sizeof svc / sizeof svc[0]; i++) {
        char t[32];
        snprintf(t, sizeof t, "\"%s\"", svc[i].type);
        char *j1 = with(BASE_SVC, "type", t);
        char *j2 = with(j1, "amount", "\"25.00\"");
        char *j3 = with(j2, "currency", "\"USD\"");
        /* A stored value deposit names the authorization it settles. */
        bool deposit = svc[i].want == PL_REQ_SVC_DEPOSIT;
        char *j4 = deposit ? with(j3, "auth_ref", "{\"request_id\": \"s-auth\"}") : NULL;
        pl_request r;
        pl_errors e;
        if (deposit) {
            assert_int_equal(decode(j3, "svc", &r, &e), PL_ERR_INVALID);
            assert_string_equal(e.e[0].field, "auth_ref");
            pl_request_free(&r);
        }
        assert_int_equal(decode(deposit ? j4 : j3, "svc", &r, &e), 0);
        assert_int_equal(r.type, svc[i].want);
        assert_string_equal(pl_req_type_name(r.type), svc[i].type);
        pl_request_free(&r);
        free(j1);
        free(j2);
        free(j3);
        free(j4);
    }

    /* Generate needs neither svc nor an amount; token needs no amount. */
    pl_request r;
    pl_errors e;
    char *gen = with(BASE_SVC, "type", "\"generate\"");
    char *gen2 = with(gen, "svc", NULL);
    assert_int_equal(decode(gen2, "svc", &r, &e), 0);
    pl_request_free(&r);
    free(gen);
    free(gen2);
    char *tok = with(BASE_AUTH, "type", "\"token\"");
    char *tok2 = with(tok, "amount", NULL);
    char *tok3 = with(tok2, "currency", NULL);
    assert_int_equal(decode(tok3, "auth", &r, &e), 0);
    assert_false(r.has_amount);
    pl_request_free(&r);
    free(tok);
    free(tok2);
    free(tok3);

    /* A follow-on credit needs no card; a stand-alone one with a card is fine. */
    char *cr = with(BASE_DEBIT, "type", "\"credit\"");
    char *cr2 = with(cr, "capture_ref", "{\"request_id\":\"oms-7-4917-1-d1\"}");
    assert_int_equal(decode(cr2, "deposit", &r, &e), 0);
    assert_string_equal(r.capture_ref.request_id, "oms-7-4917-1-d1");
    pl_request_free(&r);
    char *cr3 = with(cr, "card", "{\"token\":\"t1\"}");
    assert_int_equal(decode(cr3, "deposit", &r, &e), 0);
    pl_request_free(&r);
    free(cr);
    free(cr2);
    free(cr3);

    assert_string_equal(pl_req_type_name(PL_REQ_UNKNOWN), "unknown");
}

static void test_unknown_worker(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(BASE_AUTH, "billing", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "");
    assert_string_equal(e.e[0].error, "unknown worker 'billing'");
    pl_request_free(&r);
}

/* The card is valid through the last second of its expiry month, UTC. */
static void test_expiry_boundary(void **state)
{
    (void)state;
    char *j1 = with(BASE_AUTH, "card.exp_month", "11");
    char *json = with(j1, "card.exp_year", "2026");
    pl_request r;
    pl_errors e;
    time_t last_second = 1796083199;  /* 2026-11-30T23:59:59Z */
    time_t first_second = 1796083200; /* 2026-12-01T00:00:00Z */
    assert_int_equal(pl_request_decode(json, strlen(json), "auth", last_second, &r, &e), 0);
    pl_request_free(&r);
    assert_int_equal(pl_request_decode(json, strlen(json), "auth", first_second, &r, &e),
                     PL_ERR_INVALID);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "card");
    assert_string_equal(e.e[0].error, "card has expired");
    pl_request_free(&r);
    free(j1);
    free(json);
}

/* ---- several errors, echo fields, limits -------------------------------------------------- */

static void test_multiple_errors_collected(void **state)
{
    (void)state;
    const char *json =
        "{\"request_id\":\"bad id\",\"type\":\"auth\",\"company\":0,\"order\":\"\","
        "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"1,00\",\"currency\":\"usd\","
        "\"card\":{\"number\":\"4111111111111112\",\"exp_month\":0,\"exp_year\":2030,"
        "\"cvv\":\"1\"},\"bill_to\":{\"country\":\"USA\"},"
        "\"items\":[{\"unit_price\":\"1.00\"},{\"unit_price\":\"x\"}]}";
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
    static const char *fields[] = {
        "request_id",  "company",        "order",    "amount",          "currency",
        "card.number", "card.exp_month", "card.cvv", "bill_to.country", "items[1].unit_price"};
    assert_int_equal(e.n, sizeof fields / sizeof fields[0]);
    for (size_t i = 0; i < e.n; i++)
        assert_string_equal(e.e[i].field, fields[i]);
    pl_request_free(&r);
}

static void test_errors_capped(void **state)
{
    (void)state;
    /* 40 bad items: the list stops at PL_MAX_FIELD_ERRORS instead of overflowing. */
    json_object *root = json_tokener_parse(BASE_AUTH);
    json_object *items = json_object_new_array();
    for (int i = 0; i < 40; i++) {
        json_object *it = json_object_new_object();
        json_object_object_add(it, "unit_price", json_object_new_string("bad"));
        json_object_array_add(items, it);
    }
    json_object_object_add(root, "items", items);
    const char *json = json_object_to_json_string(root);
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, PL_MAX_FIELD_ERRORS);
    assert_string_equal(e.e[PL_MAX_FIELD_ERRORS - 1].field, "items[23].unit_price");
    pl_request_free(&r);
    json_object_put(root);

    /* More than 100 items is one error, not a hundred. */
    root = json_tokener_parse(BASE_AUTH);
    items = json_object_new_array();
    for (int i = 0; i < 101; i++) {
        json_object *it = json_object_new_object();
        json_object_object_add(it, "unit_price", json_object_new_string("1.00"));
        json_object_array_add(items, it);
    }
    json_object_object_add(root, "items", items);
    json = json_object_to_json_string(root);
    assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "items");
    assert_string_equal(e.e[0].error, "must have at most 100 entries");
    pl_request_free(&r);
    json_object_put(root);

    /* Exactly 100 is fine. */
    root = json_tokener_parse(BASE_AUTH);
    items = json_object_new_array();
    for (int i = 0; i < 100; i++) {
        json_object *it = json_object_new_object();
        json_object_object_add(it, "unit_price", json_object_new_string("1.00"));
        json_object_array_add(items, it);
    }
    json_object_object_add(root, "items", items);
    json = json_object_to_json_string(root);
    assert_int_equal(decode(json, "auth", &r, &e), 0);
    assert_int_equal(r.n_items, 100);
    pl_request_free(&r);
    json_object_put(root);
}

static void test_echo_fields_on_invalid(void **state)
{
    (void)state;
    char *json = with(BASE_AUTH, "card.number", "\"4111111111111112\"");
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
    assert_string_equal(r.request_id, "oms-7-4917-1-a1");
    assert_string_equal(r.type_name, "auth");
    assert_int_equal(r.type, PL_REQ_AUTH);
    assert_int_equal(r.company, 7);
    assert_string_equal(r.order, "4917");
    assert_int_equal(r.pay_seq, 1);
    assert_string_equal(r.service, "CYB");
    assert_true(r.has_amount);
    assert_int_equal(r.amount, 12000);
    pl_request_free(&r);
    free(json);

    /* Echo fields that are themselves invalid stay empty; the others are still there. */
    char *j1 = with(BASE_AUTH, "company", "1000");
    char *j2 = with(j1, "type", "\"sale\"");
    char *j3 = with(j2, "order", NULL);
    assert_int_equal(decode(j3, "auth", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, 3);
    assert_int_equal(r.company, 0);
    assert_string_equal(r.type_name, "");
    assert_int_equal(r.type, PL_REQ_UNKNOWN);
    assert_string_equal(r.order, "");
    assert_string_equal(r.request_id, "oms-7-4917-1-a1");
    assert_int_equal(r.pay_seq, 1);
    assert_string_equal(r.service, "CYB");
    pl_request_free(&r);
    free(j1);
    free(j2);
    free(j3);
}

/* Error texts quote neither the card number nor the CVV, however wrong they are. */
static void test_errors_never_quote_card_data(void **state)
{
    (void)state;
    const char *bad[] = {"\"4111111111111112\"", "\"41111111111111111111111\"",
                         "\"4111x11111111111\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *json = with(BASE_AUTH, "card.number", bad[i]);
        char *j2 = with(json, "card.cvv", "\"98x\"");
        pl_request r;
        pl_errors e;
        assert_int_equal(decode(j2, "auth", &r, &e), PL_ERR_INVALID);
        assert_int_equal(e.n, 2);
        for (size_t k = 0; k < e.n; k++) {
            assert_null(strstr(e.e[k].error, "41111111111"));
            assert_null(strstr(e.e[k].error, "98x"));
        }
        pl_request_free(&r);
        free(json);
        free(j2);
    }
    /* An unknown type is quoted, cut to 20 printable characters. */
    char *json = with(BASE_AUTH, "type", "\"abcdefghijklmnopqrstuvwxyz\\n\"");
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
    assert_string_equal(e.e[0].error, "unknown type 'abcdefghijklmnopqrst' for worker auth");
    pl_request_free(&r);
    free(json);
}

/* ---- card numbers outside the card --------------------------------------------------------- */

/* An auth request with every optional string field of the contract set, and no card number. */
static const char BASE_FULL[] =
    "{\"request_id\":\"oms-7-4917-1-a1\",\"type\":\"auth\",\"company\":7,\"order\":\"4917\","
    "\"pay_seq\":1,\"service\":\"CYB\",\"pay_type\":\"VI\",\"entity\":\"STORE01\","
    "\"amount\":\"120.00\",\"currency\":\"USD\",\"mode\":\"online\","
    "\"card\":{\"token\":\"7419661750346782304017\",\"type\":\"VI\",\"holder\":\"Pat Smith\"},"
    "\"bill_to\":{\"first_name\":\"Pat\",\"street1\":\"1 Main St\",\"country\":\"US\"},"
    "\"ship_to\":{\"city\":\"Boston\",\"shipping_method\":\"twoday\"},"
    "\"items\":[{\"sku\":\"A1\",\"unit_price\":\"1.00\"}],"
    "\"auth_ref\":{\"transaction_id\":\"403\",\"number\":\"831000\",\"date\":\"2026-11-01\"},"
    "\"capture_ref\":{\"request_id\":\"oms-7-4917-1-d1\"},"
    "\"subsequent_auth\":{\"reason\":\"REAUTH\",\"transaction_id\":\"T1\"},"
    "\"authentication\":{\"cavv\":\"AAABCZIhcQAAAABZlyFxAAAAAAA=\",\"eci\":\"05\"},"
    "\"level23\":{\"customer_po\":\"PO1\"},\"svc\":{\"order_line\":1}}";

/* Where a card number is put: the member path for with(), the JSON around it, the field. */
static const struct {
    const char *path, *tmpl, *field;
} CARD_PLACES[] = {
    {"request_id", "%s", "request_id"},
    {"type", "%s", "type"},
    {"order", "%s", "order"},
    {"service", "%s", "service"},
    {"pay_type", "%s", "pay_type"},
    {"entity", "%s", "entity"},
    {"amount", "%s", "amount"},
    {"currency", "%s", "currency"},
    {"mode", "%s", "mode"},
    {"card.token", "%s", "card.token"},
    {"card.holder", "%s", "card.holder"},
    {"card.type", "%s", "card.type"},
    {"bill_to.first_name", "%s", "bill_to.first_name"},
    {"bill_to.last_name", "%s", "bill_to.last_name"},
    {"bill_to.street1", "%s", "bill_to.street1"},
    {"bill_to.street2", "%s", "bill_to.street2"},
    {"bill_to.city", "%s", "bill_to.city"},
    {"bill_to.state", "%s", "bill_to.state"},
    {"bill_to.postal_code", "%s", "bill_to.postal_code"},
    {"bill_to.country", "%s", "bill_to.country"},
    {"bill_to.email", "%s", "bill_to.email"},
    {"bill_to.phone", "%s", "bill_to.phone"},
    {"bill_to.ip", "%s", "bill_to.ip"},
    {"ship_to.first_name", "%s", "ship_to.first_name"},
    {"ship_to.street1", "%s", "ship_to.street1"},
    {"ship_to.shipping_method", "%s", "ship_to.shipping_method"},
    {"items", "[{\"unit_price\":\"1.00\",\"name\":%s}]", "items[0].name"},
    {"items", "[{\"unit_price\":\"1.00\",\"sku\":%s}]", "items[0].sku"},
    {"items", "[{\"unit_price\":\"1.00\",\"product_code\":%s}]", "items[0].product_code"},
    {"items", "[{\"unit_price\":%s}]", "items[0].unit_price"},
    {"items", "[{\"unit_price\":\"1.00\"},{\"unit_price\":\"1.00\",\"commodity_code\":%s}]",
     "items[1].commodity_code"},
    {"items", "[{\"unit_price\":\"1.00\",\"unit_of_measure\":%s}]", "items[0].unit_of_measure"},
    {"auth_ref.request_id", "%s", "auth_ref.request_id"},
    {"auth_ref.transaction_id", "%s", "auth_ref.transaction_id"},
    {"auth_ref.request_token", "%s", "auth_ref.request_token"},
    {"auth_ref.number", "%s", "auth_ref.number"},
    {"auth_ref.date", "%s", "auth_ref.date"},
    {"capture_ref.request_id", "%s", "capture_ref.request_id"},
    {"subsequent_auth.reason", "%s", "subsequent_auth.reason"},
    {"subsequent_auth.transaction_id", "%s", "subsequent_auth.transaction_id"},
    {"subsequent_auth.initiator", "%s", "subsequent_auth.initiator"},
    {"authentication.commerce_indicator", "%s", "authentication.commerce_indicator"},
    {"authentication.eci", "%s", "authentication.eci"},
    {"level23.customer_po", "%s", "level23.customer_po"},
    {"level23.tax_amount", "%s", "level23.tax_amount"},
    {"svc.issue_amount", "%s", "svc.issue_amount"},
};

/* Test card numbers as people write them, glued to other text, and two in one value. */
static const char *const CARD_FORMS[] = {
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111.1111.1111.1111",
    "5555555555554444",
    "378282246310005",
    "3782 822463 10005",
    "ord4111111111111111",
    "Pat 5555-5555-5555-4444 Smith",
    "4111111111111111,378282246310005",
    "3782822463100.05",
    /* Any punctuation between the groups, up to three characters in a row, and separators
     * escaped in the JSON (zero-width space, em dash). */
    "4111_1111_1111_1111",
    "4111/1111/1111/1111",
    "4111 - 1111 - 1111 - 1111",
    "4111\\u200b1111\\u20141111\\u200b1111",
    /* The security code typed straight after the number. */
    "4111111111111111123",
    "Pat 3782822463100051234",
    /* Characters the bureau XML drops (pl_card_keyboard_clean) between the digits: é, zero-width
     * joiners, a direction mark, DEL, control characters, a combining accent, four tabs. */
    "5555\\u00e95555\\u00e95555\\u00e94444",
    "Shirt 4012\\u200d8888\\u200d8888\\u200d1881",
    "37828224\\u200e6310005",
    "41111111\\u007f11111111",
    "4111\\u00011111\\u00011111\\u00011111",
    "41111111\\u030111111111",
    "4111\\t\\t\\t\\t1111 1111 1111",
    /* Digits before such a split number, glued to it once those characters are gone (the
     * bureau would get 124111111111111111, which fails Luhn, yet reads 4111111111111111). */
    "12\\u00e94111\\u00e91111\\u00e91111\\u00e91111",
    "order 12\\u00e94111\\u00e91111\\u00e91111\\u00e91111",
    "ab12\\u00e94111\\u00e91111\\u00e91111\\u00e91111",
    "1\\u00013782\\u0001822463\\u000110005",
    /* A run of such characters is one space to those readings: 99 4111 1111-1111-1111. */
    "99\\u00e94111\\u200b\\u200b\\u200b\\u200b1111-1111-1111",
    /* A run beside a separator is nothing there: 12 4111 - 1111 - 1111 - 1111. */
    "order 12\\u00e94111 - \\u00e91111 - 1111 - 1111",
    /* The expiry date typed straight after the number, MMYY or YYMM. */
    "41111111111111111225",
    "ord55555555555544442512",
};

/* True when the bytes of r (and its items and addresses) hold needle anywhere. */
static bool request_holds(const pl_request *r, const char *needle)
{
    size_t n = strlen(needle);
    if (memmem(r, sizeof *r, needle, n))
        return true;
    if ((r->bill_to && memmem(r->bill_to, sizeof *r->bill_to, needle, n)) ||
        (r->ship_to && memmem(r->ship_to, sizeof *r->ship_to, needle, n)))
        return true;
    return r->items && memmem(r->items, r->n_items * sizeof *r->items, needle, n);
}

/*
 * A card number in any string field but card.number and svc.card_number is refused, on that
 * field, and nothing of it but the last four digits is kept in the decoded request (so the
 * invalid reply cannot echo it).
 */
static void test_card_number_in_any_field(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(BASE_FULL, "auth", &r, &e), 0);
    pl_request_free(&r);

    for (size_t p = 0; p < sizeof CARD_PLACES / sizeof CARD_PLACES[0]; p++) {
        for (size_t f = 0; f < sizeof CARD_FORMS / sizeof CARD_FORMS[0]; f++) {
            char quoted[64], value[256];
            snprintf(quoted, sizeof quoted, "\"%s\"", CARD_FORMS[f]);
            snprintf(value, sizeof value, CARD_PLACES[p].tmpl, quoted);
            char *json = with(BASE_FULL, CARD_PLACES[p].path, value);
            assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);

            json_object *decoded = json_tokener_parse(quoted); /* the value as paylink reads it */
            assert_non_null(decoded);
            const char *text = json_object_get_string(decoded);
            bool token = strcmp(CARD_PLACES[p].field, "card.token") == 0 &&
                         pl_card_is_number(text, strlen(text));
            json_object_put(decoded);
            const char *want =
                token ? "is a card number, not a token" : "must not contain a card number";
            if (e.n != 1 || strcmp(e.e[0].field, CARD_PLACES[p].field) != 0 ||
                strcmp(e.e[0].error, want) != 0)
                print_error("%s = %s: %zu errors, first %s: %s\n", CARD_PLACES[p].field,
                            CARD_FORMS[f], e.n, e.n ? e.e[0].field : "", e.n ? e.e[0].error : "");
            assert_int_equal(e.n, 1);
            assert_string_equal(e.e[0].field, CARD_PLACES[p].field);
            assert_string_equal(e.e[0].error, want);

            /* Nothing but the last four digits of the value may be left anywhere. */
            char head[64];
            snprintf(head, sizeof head, "%.*s", (int)(strlen(CARD_FORMS[f]) - 4), CARD_FORMS[f]);
            assert_false(request_holds(&r, head + (strncmp(head, "ord", 3) == 0 ? 3 : 0)));
            pl_request_free(&r);
            free(json);
        }
    }
}

/* The request_ids paylinkctl may publish under (deposits resubmit --as). */
static void test_request_id_ok(void **state)
{
    (void)state;
    assert_true(pl_request_id_ok("dep-1.r1"));
    assert_true(pl_request_id_ok("A_b:c-9"));
    assert_false(pl_request_id_ok("retry 1"));
    assert_false(pl_request_id_ok("r-4111111111111111"));
    assert_false(pl_request_id_ok("r-4111111111111111123"));
    assert_false(pl_request_id_ok("r-41111111111111111225")); /* its expiry glued, as decode */
    assert_true(pl_request_id_ok("7419661750346782304017"));  /* a CyberSource request ID */
    assert_false(pl_request_id_ok(""));
    assert_false(pl_request_id_ok(NULL));
    char longid[52];
    memset(longid, 'a', 51);
    longid[51] = '\0';
    assert_false(pl_request_id_ok(longid));
    longid[50] = '\0';
    assert_true(pl_request_id_ok(longid));
}

/* A card number in its brand's groups joined by anything (card.c): refused in a request_id or a
 * free-text field; timestamps, IPv6 addresses, phone numbers and years are not card numbers. */
static void test_card_number_grouped(void **state)
{
    (void)state;
    static const struct {
        const char *field, *value;
        bool refused;
    } cases[] = {
        {"request_id", "4111:1111:1111:1111", true},
        {"request_id", "ORD-4111:1111:1111:1111", true},
        {"request_id", "1991:1992:1993:1994", false},
        {"request_id", "2026-12-06T14:40:00.123Z", false},
        {"order", "4111+1111+1111+1111", true},
        {"order", "2001:db8:4111:1111", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char value[64];
        snprintf(value, sizeof value, "\"%s\"", cases[i].value);
        char *json = with(BASE_AUTH, cases[i].field, value);
        pl_request r;
        pl_errors e;
        int rc = decode(json, "auth", &r, &e);
        if (!cases[i].refused) {
            if (rc != 0)
                fail_msg("%s %s refused: %s", cases[i].field, cases[i].value, e.e[0].error);
        } else {
            assert_int_equal(rc, PL_ERR_INVALID);
            assert_string_equal(e.e[0].field, cases[i].field);
            assert_string_equal(e.e[0].error, "must not contain a card number");
        }
        pl_request_free(&r);
        free(json);
    }
    /* In a free-text field. */
    static const char *const refused[] = {"(4111) 1111 1111 1111", "4111 -- 1111 -- 1111 -- 1111"};
    for (size_t i = 0; i < 2; i++) {
        char value[96];
        snprintf(value, sizeof value, "{\"first_name\":\"%s\"}", refused[i]);
        char *json = with(BASE_AUTH, "bill_to", value);
        pl_request r;
        pl_errors e;
        assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
        assert_string_equal(e.e[0].field, "bill_to.first_name");
        pl_request_free(&r);
        free(json);
    }
    /* Digit groups among CJK words: 123456789 4567 passes Luhn read with the words as spaces,
     * but is no brand's number: accepted. */
    char *cjk = with(BASE_AUTH, "bill_to",
                     "{\"street1\":\"\xe8\xa8\x82\xe5\x96\xae"
                     "20261207\xe7\x95\xaa\xe5\x8f\xb7"
                     "123456789"
                     "\xe5\x95\x86\xe5\x93\x81"
                     "4567\"}");
    pl_request cr;
    pl_errors ce;
    int crc = decode(cjk, "auth", &cr, &ce);
    if (crc != 0)
        fail_msg("CJK street1 refused: %s", ce.e[0].error);
    pl_request_free(&cr);
    free(cjk);
    char *json = with(BASE_AUTH, "bill_to", "{\"phone\":\"+1 (555) 123-4567\"}");
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), 0);
    pl_request_free(&r);
    free(json);
}

static void test_card_number_token(void **state)
{
    (void)state;
    static const struct {
        const char *token, *error; /* error NULL: accepted */
    } cases[] = {
        {"4111111111111111", "is a card number, not a token"},
        {"4111 1111 1111 1111", "is a card number, not a token"},
        {"6011-1111-1111-1117", "is a card number, not a token"},
        {"tok_4111111111111111", "must not contain a card number"},
        /* Bureau tokens: CyberSource subscription IDs (22 digits), format-preserving tokens
         * (16 digits that fail Luhn on purpose), opaque strings. */
        {"7419661750346782304017", NULL},
        {"4111111111111112", NULL},
        /* 16 digits whose first 13 pass Luhn (a 13-digit Visa and three more): a token. */
        {"4222222222222123", NULL},
        /* A card number with its security code glued to it. */
        {"4111111111111111123", "must not contain a card number"},
        {"9ABC7E0D1A2B3C4D", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char value[64];
        snprintf(value, sizeof value, "{\"token\":\"%s\"}", cases[i].token);
        char *json = with(BASE_AUTH, "card", value);
        pl_request r;
        pl_errors e;
        int rc = decode(json, "auth", &r, &e);
        if (!cases[i].error) {
            assert_int_equal(rc, 0);
            assert_string_equal(r.card.token, cases[i].token);
        } else {
            assert_int_equal(rc, PL_ERR_INVALID);
            assert_int_equal(e.n, 1);
            assert_string_equal(e.e[0].field, "card.token");
            assert_string_equal(e.e[0].error, cases[i].error);
            assert_string_equal(r.card.token, "");
        }
        pl_request_free(&r);
        free(json);
    }
}

/* A UTF-8 byte order mark before the object is ignored (RFC 8259 §8.1); one anywhere else, or
 * alone, is not JSON. */
static void test_byte_order_mark(void **state)
{
    (void)state;
    char json[sizeof BASE_AUTH + 8];
    snprintf(json, sizeof json, "\xef\xbb\xbf%s", BASE_AUTH);
    pl_request r, plain;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), 0);
    assert_int_equal(decode(BASE_AUTH, "auth", &plain, &e), 0);
    assert_string_equal(r.request_id, plain.request_id);
    assert_string_equal(r.order, plain.order);
    pl_request_free(&r);
    pl_request_free(&plain);
    assert_int_equal(decode("\xef\xbb\xbf", "auth", &r, &e), PL_ERR_INVALID);
    pl_request_free(&r);
    snprintf(json, sizeof json, " \xef\xbb\xbf%s", BASE_AUTH);
    assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
    pl_request_free(&r);
}

/*
 * The echo of a request whose request_id or order held a card number: masked, so the
 * upstream system can match the invalid reply; other refused fields are not echoed at all.
 */
static void test_card_number_echo_masked(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    char *j1 = with(BASE_AUTH, "request_id", "\"oms-4111111111111111\"");
    char *j2 = with(j1, "order", "\"5555-5555-5555-4444\"");
    assert_int_equal(decode(j2, "auth", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, 2);
    assert_string_equal(r.request_id, "oms-************1111");
    assert_string_equal(r.order, "****-****-****-4444");
    assert_string_equal(r.type_name, "auth");
    pl_request_free(&r);

    /* A request_id that breaks the request_id rule besides is not echoed. */
    char *j3 = with(BASE_AUTH, "request_id", "\"4111 1111 1111 1111\"");
    assert_int_equal(decode(j3, "auth", &r, &e), PL_ERR_INVALID);
    assert_string_equal(r.request_id, "");
    pl_request_free(&r);

    /* An unknown type is quoted in its error; one holding a card number is not. */
    char *j4 = with(BASE_AUTH, "type", "\"4111111111111111\"");
    assert_int_equal(decode(j4, "auth", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "type");
    assert_string_equal(e.e[0].error, "must not contain a card number");
    assert_string_equal(r.type_name, "");
    pl_request_free(&r);

    /* Where a card number belongs, and the 3-D Secure cryptograms (see request.c), it is not
     * refused. */
    char *j5 = with(BASE_AUTH, "authentication", "{\"xid\":\"4111111111111111\"}");
    assert_int_equal(decode(j5, "auth", &r, &e), 0);
    pl_request_free(&r);
    assert_int_equal(decode(BASE_SVC, "svc", &r, &e), 0);
    pl_request_free(&r);
    free(j1);
    free(j2);
    free(j3);
    free(j4);
    free(j5);
}

/*
 * A card number that shows only once the bureau message drops what is off the keyboard, or
 * with its expiry glued to it: refused (above, CARD_FORMS), and a refused order echoed with no
 * digit of it in clear, in the reply and its Kafka key. Values that merely hold such
 * characters, and long identifiers, are taken as before.
 */
static void test_card_number_hidden_echo(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    static const struct {
        const char *order, *echo;
    } cases[] = {
        /* A zero-width joiner is a separator to the scrub: masked as any. */
        {"\"41111111\\u200d11111111\"", "********\xe2\x80\x8d****1111"},
        /* What the scrub does not see has every digit masked. */
        {"\"41111111111111111225\"", "********************"},
        {"\"4111\\u00011111\\u00011111\\u00011111\"", "****\x01****\x01****\x01****"},
        /* Seen only with the control characters read as spaces (1 3782 822463 10005). */
        {"\"1\\u00013782\\u0002822463\\u001f10005\"", "*\x01****\x02******\x1f*****"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = with(BASE_AUTH, "order", cases[i].order);
        assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
        assert_int_equal(e.n, 1);
        assert_string_equal(e.e[0].field, "order");
        assert_string_equal(e.e[0].error, "must not contain a card number");
        assert_string_equal(r.order, cases[i].echo);
        pl_request_free(&r);
        free(json);
    }

    /* The reviewer's request: four fields, each sent clean to the bureau before. */
    char *j1 = with(BASE_FULL, "bill_to.first_name", "\"5555\\u00e95555\\u00e95555\\u00e94444\"");
    char *j2 = with(j1, "items",
                    "[{\"unit_price\":\"1.00\",\"name\":"
                    "\"Shirt 4012\\u200d8888\\u200d8888\\u200d1881\"}]");
    char *j3 = with(j2, "ship_to.street1", "\"37828224\\u200e6310005\"");
    char *j4 = with(j3, "order", "\"41111111\\u200d11111111\"");
    assert_int_equal(decode(j4, "auth", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, 4);
    static const char *const fields[] = {"order", "bill_to.first_name", "ship_to.street1",
                                         "items[0].name"};
    for (size_t i = 0; i < 4; i++) {
        bool seen = false;
        for (size_t k = 0; k < e.n; k++)
            seen = seen || (strcmp(e.e[k].field, fields[i]) == 0 &&
                            strcmp(e.e[k].error, "must not contain a card number") == 0);
        if (!seen)
            fail_msg("no card number error on %s", fields[i]);
    }
    assert_false(request_holds(&r, "5555"));
    assert_false(request_holds(&r, "4012"));
    assert_false(request_holds(&r, "37828224"));
    assert_false(request_holds(&r, "41111111"));
    pl_request_free(&r);
    free(j1);
    free(j2);
    free(j3);
    free(j4);

    /* Taken as before: accents and other scripts between or beside digits that make no card
     * number, identifiers of 20 digits and more, the invisible characters elsewhere. */
    static const struct {
        const char *path, *value;
    } fine[] = {
        {"order", "\"12345678901234567890\""},
        {"order", "\"41111111111111110000\""}, /* no month in its last four */
        {"request_id", "\"7419661750346782304017\""},
        {"bill_to.street1", "\"Caf\\u00e9 12, 4111 Rue 1111\""},
        {"bill_to.street1",
         "\"\\u5343\\u4ee3\\u7530\\u533a\\u4e38\\u306e\\u51851\\u4e01\\u76ee9\\u756a1\\u53f7\""},
        {"bill_to.first_name", "\"Zo\\u200de\\u0301\""},
        {"card.holder", "\"Cr\\u00e8me 2 x 250g\""},
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char *json = with(BASE_FULL, fine[i].path, fine[i].value);
        int rc = decode(json, "auth", &r, &e);
        if (rc != 0)
            fail_msg("%s = %s: %s: %s", fine[i].path, fine[i].value, e.n ? e.e[0].field : "",
                     e.n ? e.e[0].error : "");
        pl_request_free(&r);
        free(json);
    }
}

static void test_free_wipes(void **state)
{
    (void)state;
    char *j1 = with(BASE_AUTH, "authentication", "{\"cavv\":\"AAAB\",\"xid\":\"XID\"}");
    char *json = with(j1, "items", "[{\"unit_price\":\"1.00\"}]");
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), 0);
    assert_non_null(r.items);
    pl_request_free(&r);
    assert_null(r.items);
    assert_int_equal(r.n_items, 0);
    static const char zeros[sizeof r.authentication];
    for (size_t i = 0; i < sizeof r.card.number; i++)
        assert_int_equal(r.card.number[i], 0);
    for (size_t i = 0; i < sizeof r.card.cvv; i++)
        assert_int_equal(r.card.cvv[i], 0);
    assert_memory_equal(&r.authentication, zeros, sizeof zeros);
    /* Freeing twice, and freeing a zeroed struct, are harmless. */
    pl_request_free(&r);
    pl_request z;
    memset(&z, 0, sizeof z);
    pl_request_free(&z);
    pl_request_free(NULL);
    free(j1);
    free(json);
}

/* ---- redaction -------------------------------------------------------------------------- */

/* None of the n texts is in out. */
static void assert_none_left(const char *out, const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strstr(out, texts[i]))
            print_error("'%s' left in %s\n", texts[i], out);
        assert_null(strstr(out, texts[i]));
    }
}

static json_object *parse_redacted(const char *json)
{
    char *red = pl_request_redact(json, strlen(json));
    assert_non_null(red);
    assert_null(strstr(red, PAN));
    json_object *obj = json_tokener_parse(red);
    assert_non_null(obj);
    free(red);
    return obj;
}

static const char *get_path(json_object *root, const char *a, const char *b)
{
    json_object *o, *v;
    if (!json_object_object_get_ex(root, a, &o))
        return NULL;
    if (!b)
        return json_object_get_string(o);
    if (!json_object_object_get_ex(o, b, &v))
        return NULL;
    return json_object_get_string(v);
}

static void test_redact_json(void **state)
{
    (void)state;
    char *j1 = with(BASE_AUTH, "authentication", "{\"cavv\":\"AAABCZIhcQ\",\"eci\":\"05\"}");
    char *j2 = with(j1, "svc", "{\"card_number\":\"7000000000000001\"}");
    char *json = with(j2, "notes", "\"customer said card " PAN "\"");
    json_object *red = parse_redacted(json);
    assert_string_equal(get_path(red, "card", "number"), "411111******1111");
    assert_null(get_path(red, "card", "cvv"));
    assert_string_equal(get_path(red, "card", "exp_month"), "12");
    assert_string_equal(get_path(red, "authentication", "cavv"), "***REMOVED***");
    assert_string_equal(get_path(red, "authentication", "eci"), "***REMOVED***");
    /* A stored value card as it is stored: stars and the last four, never its first six. */
    assert_string_equal(get_path(red, "svc", "card_number"), "************0001");
    /* Everything else is kept as it was. */
    assert_string_equal(get_path(red, "request_id", NULL), "oms-7-4917-1-a1");
    assert_string_equal(get_path(red, "amount", NULL), "120.00");
    const char *notes = get_path(red, "notes", NULL);
    assert_non_null(notes);
    assert_null(strstr(notes, PAN));
    assert_non_null(strstr(notes, "1111"));
    const char *text = json_object_to_json_string(red);
    assert_null(strstr(text, "987"));  /* the CVV */
    assert_null(strstr(text, "AAAB")); /* the CAVV */
    json_object_put(red);
    free(j1);
    free(j2);
    free(json);

    /* A number sent as a JSON number, or with separators, is removed whole. */
    char *j3 = with(BASE_AUTH, "card.number", PAN);
    red = parse_redacted(j3);
    assert_string_equal(get_path(red, "card", "number"), "***REMOVED***");
    json_object_put(red);
    free(j3);
    /* A mistyped key inside card loses its value, Luhn or not. */
    char *j5 = with(BASE_AUTH, "card.nmber", "\"" PAN "1\"");
    red = parse_redacted(j5);
    assert_string_equal(get_path(red, "card", "nmber"), "***REMOVED***");
    assert_string_equal(get_path(red, "card", "type"), "VI");
    json_object_put(red);
    free(j5);
    /* So does one inside svc: the seed's card number (no Luhn check digit) under a mistyped
     * key, while the contract's own members keep theirs. */
    char *j6 = with(BASE_AUTH, "svc",
                    "{\"cardNumber\":\"9117230675152172\",\"order_line\":3,\"virtual\":true}");
    red = parse_redacted(j6);
    assert_string_equal(get_path(red, "svc", "cardNumber"), "***REMOVED***");
    json_object *line = NULL, *svc_obj = NULL;
    assert_true(json_object_object_get_ex(red, "svc", &svc_obj));
    assert_true(json_object_object_get_ex(svc_obj, "order_line", &line));
    assert_int_equal(json_object_get_int(line), 3);
    char *out6 = pl_request_redact(j6, strlen(j6));
    assert_non_null(out6);
    assert_null(strstr(out6, "9117230675152172"));
    free(out6);
    json_object_put(red);
    free(j6);
    char *j4 = with(BASE_AUTH, "card.number", "\"4111 1111 1111 1111\"");
    red = parse_redacted(j4);
    assert_string_equal(get_path(red, "card", "number"), "***REMOVED***");
    json_object_put(red);
    free(j4);
}

/*
 * Security codes under names of the sender's own (compound, camelCase, upper case, nested, any
 * type of value) lose their values in the dead-letter copy; names that merely contain the
 * letters c-i-d ("acid", "decide") keep theirs.
 */
static void test_redact_security_code_names(void **state)
{
    (void)state;
    const char *in =
        "{\"request_id\":\"r3\",\"card_number\":\"4111111111111111\",\"card_cvv\":\"123\","
        "\"cvvNumber\":\"456\",\"payment\":{\"cvv_number\":\"789\",\"cardCvv\":\"321\","
        "\"CVV2Code\":\"111\",\"securityCode\":\"222\",\"card_cid\":\"333\"}}";
    char *out = pl_request_redact(in, strlen(in));
    assert_non_null(out);
    /* Quoted: the masked card number keeps its last four, "1111". */
    static const char *const codes[] = {"\"123\"", "\"456\"", "\"789\"", "\"321\"",
                                        "\"111\"", "\"222\"", "\"333\""};
    assert_none_left(out, codes, sizeof codes / sizeof codes[0]);
    json_object *red = json_tokener_parse(out);
    assert_non_null(red);
    assert_string_equal(get_path(red, "card_cvv", NULL), "");
    assert_string_equal(get_path(red, "cvvNumber", NULL), "");
    assert_string_equal(get_path(red, "payment", "cvv_number"), "");
    assert_string_equal(get_path(red, "payment", "cardCvv"), "");
    assert_string_equal(get_path(red, "payment", "CVV2Code"), "");
    assert_string_equal(get_path(red, "payment", "securityCode"), "");
    assert_string_equal(get_path(red, "payment", "card_cid"), "");
    assert_string_equal(get_path(red, "request_id", NULL), "r3");
    json_object_put(red);
    free(out);

    /* Every value type, every separator and case, in arrays too; innocuous names keep theirs. */
    const char *in2 =
        "{\"x\":[{\"card-cvc\":4567,\"Card Csc\":{\"v\":\"5678\"},\"cardCid\":[\"6789\"]}],"
        "\"CARD_CID\":7890,\"cid\":\"8901\",\"cvd\":true,\"cvn2\":null,\"CVC\":\"9012\","
        "\"acid\":\"1357\",\"decide\":\"2468\",\"cidade\":\"3579\",\"paid\":\"4680\","
        "\"lucid\":\"5791\",\"incident_id\":\"6802\",\"csv\":\"7913\",\"code\":\"8024\"}";
    out = pl_request_redact(in2, strlen(in2));
    assert_non_null(out);
    red = json_tokener_parse(out);
    assert_non_null(red);
    json_object *x0 = json_object_array_get_idx(json_object_object_get(red, "x"), 0);
    assert_string_equal(get_path(x0, "card-cvc", NULL), "");
    assert_string_equal(get_path(x0, "Card Csc", NULL), "");
    assert_string_equal(get_path(x0, "cardCid", NULL), "");
    static const char *const blanked[] = {"CARD_CID", "cid", "cvd", "cvn2", "CVC"};
    for (size_t i = 0; i < sizeof blanked / sizeof blanked[0]; i++) {
        json_object *v = NULL;
        assert_true(json_object_object_get_ex(red, blanked[i], &v));
        assert_true(json_object_is_type(v, json_type_string));
        assert_string_equal(json_object_get_string(v), "");
    }
    static const struct {
        const char *key, *value;
    } kept[] = {{"acid", "1357"},  {"decide", "2468"},      {"cidade", "3579"}, {"paid", "4680"},
                {"lucid", "5791"}, {"incident_id", "6802"}, {"csv", "7913"},    {"code", "8024"}};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        assert_string_equal(get_path(red, kept[i].key, NULL), kept[i].value);
    static const char *const gone[] = {"4567", "5678", "6789", "7890", "8901", "9012"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        assert_null(strstr(out, gone[i]));
    json_object_put(red);
    free(out);
}

/* The redacted copy of in (pl_request_redact_report), parsed; *changed says whether it was. */
static json_object *redact_parsed(const char *in, bool *changed, char **text)
{
    char *out = pl_request_redact_report(in, strlen(in), changed);
    assert_non_null(out);
    json_object *red = json_tokener_parse(out);
    if (!red)
        fail_msg("not JSON: %s", out);
    *text = out;
    return red;
}

/*
 * Card data the dead-letter copy kept before: a card or svc member that is nested or not an
 * object, security codes named CV2 or verification..., track data after the card number.
 * Each copy is marked changed (its "redacted" flag), so it is never replayed.
 */
static void test_redact_card_data_anywhere(void **state)
{
    (void)state;
    bool changed;
    char *out;

    /* A card that is not an object is replaced whole; null stays. */
    static const char *const whole[] = {
        "\"4111111111111111 12/25 123\"", "[\"4111111111111111\",\"12\",\"2030\",\"123\"]",
        "4111111111111111", "{\"a\":[\"x 987\"]}", /* an object: its unknown member goes */
    };
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        char *in = with("{\"request_id\":\"x\"}", "card", whole[i]);
        json_object *red = redact_parsed(in, &changed, &out);
        assert_true(changed);
        assert_null(strstr(out, "123"));
        assert_null(strstr(out, "987"));
        assert_null(strstr(out, "12/25"));
        if (i < 3)
            assert_string_equal(get_path(red, "card", NULL), "***REMOVED***");
        else
            assert_string_equal(get_path(red, "card", "a"), "***REMOVED***");
        json_object_put(red);
        free(out);
        free(in);
    }
    const char *nul = "{\"request_id\":\"x\",\"card\":null,\"svc\":false}";
    out = pl_request_redact_report(nul, strlen(nul), &changed);
    assert_non_null(out);
    assert_false(changed);
    free(out);

    /* card and svc at any depth, in objects and arrays, any case: the contract's rules. */
    const char *nested =
        "{\"request_id\":\"x\",\"payment\":{\"card\":{\"number\":\"4111111111111111\","
        "\"code\":\"123\",\"exp_month\":12}},\"items\":[{\"Card\":\"5555555555554444 456\"}],"
        "\"gift\":{\"svc\":{\"card_number\":\"7000000000000001\",\"pin\":\"7890\"}},"
        "\"list\":[{\"SVC\":\"7000000000000001 7890\"}]}";
    json_object *red = redact_parsed(nested, &changed, &out);
    assert_true(changed);
    static const char *const gone[] = {"123",        "456",        "7890",
                                       "4111111111", "5555555555", "7000000000000001"};
    assert_none_left(out, gone, sizeof gone / sizeof gone[0]);
    json_object *payment = json_object_object_get(red, "payment");
    assert_string_equal(get_path(payment, "card", "number"), "411111******1111");
    assert_string_equal(get_path(payment, "card", "code"), "***REMOVED***");
    assert_string_equal(get_path(payment, "card", "exp_month"), "12");
    json_object *gift = json_object_object_get(red, "gift");
    assert_string_equal(get_path(gift, "svc", "card_number"), "************0001");
    assert_string_equal(get_path(gift, "svc", "pin"), "***REMOVED***");
    json_object *item = json_object_array_get_idx(json_object_object_get(red, "items"), 0);
    assert_string_equal(get_path(item, "Card", NULL), "***REMOVED***");
    json_object_put(red);
    free(out);

    /* Security codes named CV2 or verification..., any case, at any depth. */
    static const char *const codes[] = {
        "{\"request_id\":\"x\",\"payment\":{\"cv2\":\"123\"}}",
        "{\"request_id\":\"x\",\"payment\":{\"CV2\":123}}",
        "{\"request_id\":\"x\",\"verificationValue\":\"123\"}",
        "{\"request_id\":\"x\",\"x\":[{\"card_verification\":\"123\"}]}",
        "{\"request_id\":\"x\",\"CARD-CV2\":\"123\"}",
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        out = pl_request_redact_report(codes[i], strlen(codes[i]), &changed);
        assert_non_null(out);
        if (!changed || strstr(out, "123"))
            fail_msg("case %zu: %s -> %s (changed %d)", i, codes[i], out, changed);
        free(out);
    }

    /* Track data: what follows the card number's '=' (track 2) or '^' (track 1) goes. */
    const char *track =
        "{\"request_id\":\"x\",\"track2\":\";4111111111111111=25121010000012300000?\","
        "\"track1\":\"%B4111111111111111^JONES/MARY^2512101123?\","
        "\"t\":\"4111111111111111123=2512101\"}";
    red = redact_parsed(track, &changed, &out);
    assert_true(changed);
    assert_string_equal(get_path(red, "track2", NULL), ";************1111=");
    assert_string_equal(get_path(red, "track1", NULL), "%B************1111^");
    assert_string_equal(get_path(red, "t", NULL), "************1111***=");
    assert_null(strstr(out, "2512"));
    assert_null(strstr(out, "JONES"));
    json_object_put(red);
    free(out);
    /* Full-width track data (digits U+FF10-U+FF19, '=' U+FF1D, '^' U+FF3E, as a CJK input
     * method types them) is cut as the ASCII is, in any mix of the two. */
#define FW1 "\xef\xbc\x91"
#define FW2 "\xef\xbc\x92"
#define FW4 "\xef\xbc\x94"
#define FW5 "\xef\xbc\x95"
#define FWEQ "\xef\xbc\x9d"
#define FWHAT "\xef\xbc\xbe"
#define FWSTAR "\xef\xbc\x8a"
#define FW4111 FW4 FW1 FW1 FW1
#define FW1111 FW1 FW1 FW1 FW1
#define FWSTARS4 FWSTAR FWSTAR FWSTAR FWSTAR
    const char *fw =
        "{\"request_id\":\"x\",\"track2\":\";" FW4111 FW1111 FW1111 FW1111 FWEQ FW2 FW5 FW1 FW2 FW1
        "0100000123?\","
        "\"track1\":\"%B" FW4111 FW1111 FW1111 FW1111 FWHAT "JONES/MARY" FWHAT FW2 FW5 FW1 FW2
        "101123?\","
        "\"t\":\"4111111111111111" FWEQ "2512101\","
        "\"u\":\"" FW4111 FW1111 FW1111 FW1111 "=2512101\"}";
    red = redact_parsed(fw, &changed, &out);
    assert_true(changed);
    assert_string_equal(get_path(red, "track2", NULL), ";" FWSTARS4 FWSTARS4 FWSTARS4 FW1111 FWEQ);
    assert_string_equal(get_path(red, "track1", NULL),
                        "%B" FWSTARS4 FWSTARS4 FWSTARS4 FW1111 FWHAT);
    assert_string_equal(get_path(red, "t", NULL), "************1111" FWEQ);
    assert_string_equal(get_path(red, "u", NULL), FWSTARS4 FWSTARS4 FWSTARS4 FW1111 "=");
    assert_null(strstr(out, "JONES"));
    assert_null(strstr(out, "2512"));
    assert_null(strstr(out, "0100000123"));
    assert_null(strstr(out, FW2 FW5 FW1 FW2));
    json_object_put(red);
    free(out);
#undef FW1
#undef FW2
#undef FW4
#undef FW5
#undef FWEQ
#undef FWHAT
#undef FWSTAR
#undef FW4111
#undef FW1111
#undef FWSTARS4
    /* An '=' that only joins groups is no track data: the number is masked as any. */
    const char *eq = "{\"request_id\":\"x\",\"n\":\"4111=1111=1111=1111 x\"}";
    red = redact_parsed(eq, &changed, &out);
    assert_string_equal(get_path(red, "n", NULL), "****=****=****=1111 x");
    json_object_put(red);
    free(out);

    /* A card number the decoder refuses where the scrub does not see it: every digit masked,
     * in values and keys (the copy of a request refused so holds none of it). */
    const char *hidden =
        "{\"request_id\":\"x\",\"bill_to\":{\"first_name\":"
        "\"5555\\u00e95555\\u00e95555\\u00e94444\"},"
        "\"order\":\"41111111111111111225\",\"note\":\"4111\\u00011111\\u00011111\\u00011111 ok\","
        "\"k\":{\"ref 41111111111111111225\":1}}";
    red = redact_parsed(hidden, &changed, &out);
    assert_true(changed);
    assert_string_equal(get_path(red, "bill_to", "first_name"),
                        "****\xc3\xa9****\xc3\xa9****\xc3\xa9****");
    assert_string_equal(get_path(red, "order", NULL), "********************");
    assert_string_equal(get_path(red, "note", NULL), "****\x01****\x01****\x01**** ok");
    assert_string_equal(get_path(red, "k", "ref ********************"), "1");
    assert_null(strstr(out, "1225"));
    json_object_put(red);
    free(out);
}

/* Found by tests/fuzz/fuzz_request: the PAN glued to another digit elsewhere in the request. */
static void test_redact_glued_copy(void **state)
{
    (void)state;
    const char *in =
        "{\"request_id\":\"r1\",\"type\":\"auth\",\"company\":7,\"order\":\"1\","
        "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"1.00\",\"currency\":\"USD\","
        "\"card\":{\"number\":\"4111111111111111\",\"exp_month\":12,"
        "\"exp_year\":2030},\"note\":\"41111111111111111\","
        "\"svc\":{\"card_number\":\"6006491286999921374\"},\"x\":\"96006491286999921374\"}";
    char *out = pl_request_redact(in, strlen(in));
    assert_non_null(out);
    assert_null(strstr(out, "4111111111111111"));
    assert_null(strstr(out, "6006491286999921374"));
    /* The copy is a card number with a digit glued to it: masked, the glued digit too. */
    assert_non_null(strstr(out, "\"note\":\"************1111*\""));
    free(out);
}

/*
 * pl_request_redact_report says whether the copy differs from the request (the dead-letter
 * envelope's "redacted"): a token authorization whose order number held a card number (refused
 * by the decoder) has it masked in the copy, which would decode cleanly and be approved for an
 * order that is no one's; one with a CVV loses it. Such copies, and every other the redaction
 * changed, are reported changed; one it left as it was (other spacing, escapes, key order and
 * number forms are not changes) is not, and the copy is the same as pl_request_redact's.
 * (Before, nothing said so, and paylinkctl replayed them.)
 */
static void test_redact_reports_changes(void **state)
{
    (void)state;
    static const char *const changed[] = {
        "{\"request_id\":\"r-1\",\"type\":\"auth\",\"order\":\"" PAN "\","
        "\"card\":{\"token\":\"T1\"}}",
        "{\"request_id\":\"r-1\",\"order\":\"O1\",\"card\":{\"token\":\"T1\",\"cvv\":\"123\"}}",
        "{\"request_id\":\"r-1\",\"card\":{\"number\":\"" PAN "\"}}",
        "{\"request_id\":\"r-1\",\"svc\":{\"card_number\":\"8574906000000001\"}}",
        "{\"request_id\":\"r-1\",\"card\":{\"token\":\"T1\",\"pan\":\"x\"}}",
        "{\"request_id\":\"r-1\",\"authentication\":{\"eci\":\"05\"}}",
        "{\"request_id\":\"r-1\",\"card_cvv\":\"123\"}",
        "{\"request_id\":\"r-1\",\"items\":[{\"sku\":4111111111111111}]}",
        /* Decimals in card fields: the copy compared keeps their values, not their texts
         * (copy_without_text), and still tells them changed. */
        "{\"request_id\":\"r-1\",\"card\":{\"token\":\"T1\",\"pin\":4111111111111111.0}}",
        "{\"request_id\":\"r-1\",\"card\":{\"token\":\"T1\",\"cvv\":123.0}}",
        "{\"request_id\":\"r-1\",\"card\":{\"number\":4111111111111111.0}}",
        "{\"request_id\":\"r-1\",\"notes\":{\"" PAN "\":1}}",
        "{\"request_id\":\"r-1\",\"note\":\"4111 1111 1111 1111\"}",
        "{\"request_id\":\"r-1\",\"note\":\"cvv=123\"}", /* the text scrub's alone */
        "{\"a\":\"1\",\"a\":\"2\"}",                     /* not parsed: digits masked */
        "not json, order 12",
    };
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        bool c = false;
        char *out = pl_request_redact_report(changed[i], strlen(changed[i]), &c);
        assert_non_null(out);
        if (!c)
            fail_msg("case %zu: \"%s\" -> \"%s\" not reported changed", i, changed[i], out);
        char *plain = pl_request_redact(changed[i], strlen(changed[i]));
        assert_string_equal(out, plain);
        free(plain);
        free(out);
    }
    static const char *const same[] = {
        "{ \"request_id\" : \"r-1\", \"type\":\"auth\", \"company\": 1, \"order\":\"O\\/1\","
        "\"amount\":\"5.00\", \"x\": 1.50, \"y\": [true, null, 1e2, 0.1, -2.5e-3],"
        "\"card\":{\"token\":\"T1\",\"exp_month\":12,\"exp_year\":2030,\"type\":\"VI\"},"
        "\"bill_to\":{\"street1\":\"1 Main St\",\"phone\":\"555-1234\"}}",
        "{}",
        "not json at all",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        bool c = true;
        char *out = pl_request_redact_report(same[i], strlen(same[i]), &c);
        assert_non_null(out);
        if (c)
            fail_msg("case %zu: \"%s\" -> \"%s\" reported changed", i, same[i], out);
        free(out);
    }
}

/*
 * Card numbers anywhere else in the request: string values, numbers and keys, in nested
 * objects and arrays, with every separator, also where JSON escapes would hide them in the
 * text ("\t" between the groups, "\u0034" for the first digit).
 */
static void test_redact_card_numbers_anywhere(void **state)
{
    (void)state;
    const char *in =
        "{\"request_id\":\"oms-4111111111111111\",\"type\":\"auth\",\"order\":\"4111.1111.1111."
        "1111\","
        "\"bill_to\":{\"first_name\":\"Pat 5555 5555 5555 "
        "4444\",\"street1\":\"3782-822463-10005\"},"
        "\"items\":[{\"name\":\"ord4111111111111111\"},[\"a\",[\"4111-1111-1111-1111\"]]],"
        "\"4111111111111111\":1,\"k\":{\"x 5555-5555-5555-4444\":true},"
        "\"n\":4111111111111111,\"tabbed\":\"4111\\t1111\\t1111\\t1111\","
        "\"escaped\":\"\\u0034111111111111111\",\"card\":{\"token\":\"4111 1111 1111 1111\"}}";
    char *out = pl_request_redact(in, strlen(in));
    assert_non_null(out);
    static const char *const leaks[] = {
        "4111111111",     "4111.1111.1111", "4111 1111 1111", "4111-1111-1111", "5555 5555 5555",
        "5555-5555-5555", "822463",         "4111\\t1111",    "\\u0034111",
    };
    assert_none_left(out, leaks, sizeof leaks / sizeof leaks[0]);
    json_object *red = json_tokener_parse(out);
    assert_non_null(red);
    assert_string_equal(get_path(red, "request_id", NULL), "oms-************1111");
    assert_string_equal(get_path(red, "order", NULL), "****.****.****.1111");
    assert_string_equal(get_path(red, "type", NULL), "auth");
    assert_string_equal(get_path(red, "bill_to", "first_name"), "Pat **** **** **** 4444");
    assert_string_equal(get_path(red, "bill_to", "street1"), "****-******-*0005");
    assert_string_equal(get_path(red, "n", NULL), "************1111");
    assert_string_equal(get_path(red, "tabbed", NULL), "****\t****\t****\t1111");
    assert_string_equal(get_path(red, "card", "token"), "**** **** **** 1111");
    /* Keys are masked too, and keep their values. */
    assert_string_equal(get_path(red, "************1111", NULL), "1");
    assert_string_equal(get_path(red, "k", "x ****-****-****-4444"), "true");
    json_object *items = NULL;
    assert_true(json_object_object_get_ex(red, "items", &items));
    assert_string_equal(get_path(json_object_array_get_idx(items, 0), "name", NULL),
                        "ord************1111");
    json_object *inner = json_object_array_get_idx(json_object_array_get_idx(items, 1), 1);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(inner, 0)),
                        "****-****-****-1111");
    json_object_put(red);
    free(out);

    /* Text that is not JSON: every separator form is scrubbed (and every digit masked). */
    const char *text =
        "oops {\"order\":\"4111.1111.1111.1111\" 5555 5555 5555 4444 3782-822463-10005";
    out = pl_request_redact(text, strlen(text));
    assert_non_null(out);
    assert_null(strstr(out, "4111.1111.1111"));
    assert_null(strstr(out, "5555 5555 5555"));
    assert_null(strstr(out, "822463"));
    assert_non_null(strstr(out, "\"****.****.****.****\""));
    free(out);
    /* Full-width digits are digits there too: a 17-digit full-width run (no card number to the
     * scan) is masked with full-width asterisks, every byte of the text kept. */
    const char *fw = "oops \xef\xbc\x94\xef\xbc\x91 x";
    out = pl_request_redact(fw, strlen(fw));
    assert_non_null(out);
    assert_string_equal(out, "oops \xef\xbc\x8a\xef\xbc\x8a x");
    free(out);
}

/* Many keys holding card numbers among clean ones: every one masked, its value kept, the clean
 * ones untouched (one pass over the keys). */
static void test_redact_many_card_keys(void **state)
{
    (void)state;
    enum { N = 3000 };
    json_object *o = json_object_new_object();
    for (int i = 0; i < N; i++) {
        char k[40];
        snprintf(k, sizeof k, "clean%d", i);
        json_object_object_add(o, k, json_object_new_int(i));
        snprintf(k, sizeof k, "k%dx 4111 1111 1111 1111", i);
        json_object_object_add(o, k, json_object_new_int(i));
    }
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *red = pl_request_redact(text, strlen(text));
    json_object_put(o);
    assert_non_null(red);
    assert_null(strstr(red, "4111 1111"));
    json_object *back = json_tokener_parse(red);
    assert_non_null(back);
    assert_int_equal(json_object_object_length(back), 2 * N);
    for (int i = 0; i < N; i += 997) {
        char k[40];
        json_object *v = NULL;
        snprintf(k, sizeof k, "k%dx **** **** **** 1111", i);
        assert_true(json_object_object_get_ex(back, k, &v));
        assert_int_equal(json_object_get_int(v), i);
        snprintf(k, sizeof k, "clean%d", i);
        assert_true(json_object_object_get_ex(back, k, &v));
        assert_int_equal(json_object_get_int(v), i);
    }
    json_object_put(back);
    free(red);
}

static void test_redact_not_json(void **state)
{
    (void)state;
    const char *text = "garbage {\"card\":{\"number\":\"" PAN "\",\"cvv\":\"987\"";
    char *red = pl_request_redact(text, strlen(text));
    assert_non_null(red);
    assert_null(strstr(red, PAN));
    assert_null(strstr(red, "987"));
    assert_non_null(strstr(red, "garbage"));
    free(red);

    /* In unparsable text every digit is masked: a number failing Luhn, a stored value card (no
     * check digit), separators or digits written as JSON escapes, a CVV under a name of the
     * sender's own; the text's shape stays. */
    const char *glued = "{\"card\" {\"number\":\"" PAN "7\"";
    red = pl_request_redact(glued, strlen(glued));
    assert_non_null(red);
    assert_string_equal(red, "{\"card\" {\"number\":\"*****************\"");
    free(red);
    const char *escaped =
        "{\"x\":\"4111\\t1111\\t1111\\t1111\",\"y\":\"\\u0034\\u0031\",\"z\":\"Jos\xe9\","
        "\"cid\":\"1234\",\"svc\":{\"card_number\":\"8574906001\"}}";
    red = pl_request_redact(escaped, strlen(escaped));
    assert_non_null(red);
    assert_null(strpbrk(red, "0123456789"));
    assert_non_null(strstr(red, "\"x\":\"****\\t****\\t****\\t****\""));
    assert_non_null(strstr(red, "\"cid\":\"\""));
    free(red);

    /* What is not UTF-8 becomes '?' (the copy goes into a JSON dead letter); valid characters
     * stay: Latin-1 é, a lone continuation byte, an overlong '/', a surrogate, a cut sequence. */
    const char *latin1 = "Jos\xe9 \x80 \xc0\xaf \xed\xa0\x80 caf\xc3\xa9 \xe2\x82";
    red = pl_request_redact(latin1, strlen(latin1));
    assert_non_null(red);
    assert_string_equal(red, "Jos? ? ?? ??? caf\xc3\xa9 ??");
    free(red);

    /* A NUL inside the text does not hide what follows it from the scrub. */
    char buf[64];
    size_t n = (size_t)snprintf(buf, sizeof buf, "x%c%s", '\0', PAN);
    red = pl_request_redact(buf, n);
    assert_non_null(red);
    assert_int_equal(strlen(red), n);
    assert_null(strstr(red, PAN));
    free(red);

    red = pl_request_redact("", 0);
    assert_non_null(red);
    assert_string_equal(red, "");
    free(red);
}

/* ---- lengths in characters ------------------------------------------------------------- */

/* A JSON string of n copies of the UTF-8 character ch. */
static char *jstr_utf8(const char *ch, size_t n)
{
    size_t cl = strlen(ch);
    char *s = malloc(n * cl + 3);
    s[0] = '"';
    for (size_t i = 0; i < n; i++)
        memcpy(s + 1 + i * cl, ch, cl);
    s[n * cl + 1] = '"';
    s[n * cl + 2] = '\0';
    return s;
}

/* The single error of decoding base with path set to value, or NULL when it decodes. */
static const char *only_error(const char *base, const char *path, const char *value, pl_errors *e)
{
    char *json = with(base, path, value);
    pl_request r;
    int rc = decode(json, "auth", &r, e);
    pl_request_free(&r);
    free(json);
    if (rc == 0)
        return NULL;
    assert_int_equal(e->n, 1);
    assert_string_equal(e->e[0].field, path);
    return e->e[0].error;
}

/* 千代田区丸の内一丁目九番二号グラントウキョウサウスタワー: 28 characters, 84 bytes of UTF-8. */
#define TOKYO_STREET                                                                               \
    "\xe5\x8d\x83\xe4\xbb\xa3\xe7\x94\xb0\xe5\x8c\xba\xe4\xb8\xb8\xe3\x81\xae\xe5\x86\x85"         \
    "\xe4\xb8\x80\xe4\xb8\x81\xe7\x9b\xae\xe4\xb9\x9d\xe7\x95\xaa\xe4\xba\x8c\xe5\x8f\xb7"         \
    "\xe3\x82\xb0\xe3\x83\xa9\xe3\x83\xb3\xe3\x83\x88\xe3\x82\xa6\xe3\x82\xad\xe3\x83\xa7"         \
    "\xe3\x82\xa6\xe3\x82\xb5\xe3\x82\xa6\xe3\x82\xb9\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc"

/*
 * The contract's limits count characters, as the JSON Schemas' maxLength does: an item name of
 * 100 three-byte characters (300 bytes) is valid and kept whole, 101 are too many. Fields
 * still sized a byte a character (request.h says which) refuse what does not fit their bytes
 * with an error that says bytes, not a limit in characters the value is within.
 */
static void test_lengths_in_characters(void **state)
{
    (void)state;
    char *name = jstr_utf8("\xe5\x95\x86", 100); /* 商 */
    size_t items_size = strlen(name) + 64;
    char *items = malloc(items_size);
    snprintf(items, items_size, "[{\"name\":%s,\"unit_price\":\"1.00\"}]", name);
    char *json = with(BASE_AUTH, "items", items);
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, "auth", &r, &e), 0);
    assert_int_equal(r.n_items, 1);
    assert_int_equal(strlen(r.items[0].name), 300);
    assert_memory_equal(r.items[0].name, name + 1, 300);
    pl_request_free(&r);
    free(json);
    free(items);
    free(name);

    name = jstr_utf8("\xe5\x95\x86", 101);
    items_size = strlen(name) + 64;
    items = malloc(items_size);
    snprintf(items, items_size, "[{\"name\":%s,\"unit_price\":\"1.00\"}]", name);
    json = with(BASE_AUTH, "items", items);
    assert_int_not_equal(decode(json, "auth", &r, &e), 0);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "items[0].name");
    assert_string_equal(e.e[0].error, "must be at most 100 characters");
    pl_request_free(&r);
    free(json);
    free(items);
    free(name);

    /* A field sized a byte a character (order, 20): non-ASCII within its bytes is valid, as
     * before; past them it is refused in bytes. */
    char *v = jstr_utf8("\xc3\xa9", 10); /* é: 20 bytes */
    assert_null(only_error(BASE_AUTH, "order", v, &e));
    free(v);
    v = jstr_utf8("\xe4\xb8\xb8", 7); /* 丸: 7 characters, 21 bytes */
    assert_string_equal(only_error(BASE_AUTH, "order", v, &e), "must be at most 20 bytes of UTF-8");
    free(v);
    /* 28 characters, 84 bytes: valid to the schema, and to street1 now that the addresses hold
     * their limits in any UTF-8 (it was refused: "must be at most 60 bytes of UTF-8"). */
    assert_null(only_error(BASE_AUTH, "bill_to.street1", "\"" TOKYO_STREET "\"", &e));
    /* Too many characters is said in characters, ASCII or not. */
    v = jstr_utf8("\xc3\xa9", 61);
    assert_string_equal(only_error(BASE_AUTH, "bill_to.street1", v, &e),
                        "must be at most 60 characters");
    free(v);
    v = jstr('x', 61);
    assert_string_equal(only_error(BASE_AUTH, "bill_to.street1", v, &e),
                        "must be at most 60 characters");
    free(v);
}

/*
 * The addresses (heap memory) and card.holder hold their limits in characters of any UTF-8: the
 * Tokyo street and a holder of 60 Japanese characters are decoded whole, every address field
 * takes its limit in four-byte characters (the most UTF-8 needs), and one character more is
 * refused in characters.
 */
static void test_address_and_holder_in_characters(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    char *holder = jstr_utf8("\xe5\xb1\xb1", 60); /* 山: 180 bytes */
    char *json = with(BASE_AUTH, "bill_to.street1", "\"" TOKYO_STREET "\"");
    char *json2 = with(json, "card.holder", holder);
    assert_int_equal(decode(json2, "auth", &r, &e), 0);
    assert_non_null(r.bill_to);
    assert_string_equal(r.bill_to->street1, TOKYO_STREET);
    assert_int_equal(strlen(r.bill_to->street1), 84);
    assert_null(r.ship_to);
    assert_int_equal(strlen(r.card.holder), 180);
    assert_memory_equal(r.card.holder, holder + 1, 180);
    pl_request_free(&r);
    assert_null(r.bill_to);
    free(json2);
    free(json);
    free(holder);

    holder = jstr_utf8("\xf0\xa0\xae\xb7", 60); /* 𠮷, four bytes: fills the field */
    assert_null(only_error(BASE_AUTH, "card.holder", holder, &e));
    free(holder);
    holder = jstr_utf8("\xe5\xb1\xb1", 61);
    assert_string_equal(only_error(BASE_AUTH, "card.holder", holder, &e),
                        "must be at most 60 characters");
    free(holder);

    static const struct {
        const char *key;
        size_t offset, chars;
    } FIELDS[] = {
        {"first_name", offsetof(pl_address, first_name), 60},
        {"last_name", offsetof(pl_address, last_name), 60},
        {"street1", offsetof(pl_address, street1), 60},
        {"street2", offsetof(pl_address, street2), 60},
        {"city", offsetof(pl_address, city), 50},
        {"state", offsetof(pl_address, state), 20},
        {"postal_code", offsetof(pl_address, postal_code), 10},
        {"email", offsetof(pl_address, email), 100},
        {"phone", offsetof(pl_address, phone), 20},
        {"ip", offsetof(pl_address, ip), 45},
    };
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        for (int ship = 0; ship < 2; ship++) {
            char path[64];
            snprintf(path, sizeof path, "%s.%s", ship ? "ship_to" : "bill_to", FIELDS[i].key);
            char *v = jstr_utf8("\xf0\xa0\xae\xb7", FIELDS[i].chars);
            json = with(BASE_AUTH, path, v);
            assert_int_equal(decode(json, "auth", &r, &e), 0);
            const pl_address *a = ship ? r.ship_to : r.bill_to;
            assert_non_null(a);
            const char *got = (const char *)a + FIELDS[i].offset;
            assert_int_equal(strlen(got), 4 * FIELDS[i].chars);
            assert_memory_equal(got, v + 1, 4 * FIELDS[i].chars);
            pl_request_free(&r);
            free(json);
            free(v);

            char want[64];
            snprintf(want, sizeof want, "must be at most %zu characters", FIELDS[i].chars);
            v = jstr_utf8("\xc3\xa9", FIELDS[i].chars + 1);
            assert_string_equal(only_error(BASE_AUTH, path, v, &e), want);
            free(v);
        }
    }
}

/* ---- duplicate member names -------------------------------------------------------------- */

/* base with `ins` inserted after the first occurrence of `after`. Returns a malloc'd string. */
static char *insert_after(const char *base, const char *after, const char *ins)
{
    const char *at = strstr(base, after);
    assert_non_null(at);
    size_t head = (size_t)(at - base) + strlen(after);
    size_t ins_len = strlen(ins), tail = strlen(base) - head;
    char *out = malloc(head + ins_len + tail + 1);
    memcpy(out, base, head);
    memcpy(out + head, ins, ins_len);
    memcpy(out + head + ins_len, base + head, tail + 1);
    return out;
}

/* Decodes json, which must be refused for one duplicate at `field`, echoing request_id rid. */
static void assert_duplicate(const char *json, const char *worker, const char *field,
                             const char *rid)
{
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, worker, &r, &e), PL_ERR_INVALID);
    if (e.n != 1 || strcmp(e.e[0].field, field) != 0)
        fail_msg("%.200s: %zu errors, first %s: %s", json, e.n, e.n ? e.e[0].field : "",
                 e.n ? e.e[0].error : "");
    assert_string_equal(e.e[0].error, "appears more than once");
    assert_string_equal(r.request_id, rid);
    /* Nothing of the request is decoded from an ambiguous text. */
    assert_string_equal(r.card.number, "");
    assert_false(r.has_amount);
    pl_request_free(&r);
}

/* Whether text holds a run of `len` or more ASCII digits. */
static bool has_digit_run(const char *text, size_t len)
{
    size_t run = 0;
    for (const char *p = text; *p; p++)
        if ((run = *p >= '0' && *p <= '9' ? run + 1 : 0) >= len)
            return true;
    return false;
}

/*
 * A duplicated member whose name ends in a card number past what an error's field holds (63
 * characters): the path is cut, and the 15 digits of 16 the cut left passed no scrub (they
 * fail Luhn; the missing one is the check digit) and reached the invalid reply and the
 * dead-letter copy. Now no run of the number is left, cut or whole; nor in an error's text.
 */
static void test_cut_field_leaves_no_card_head(void **state)
{
    (void)state;
    static const char *const cards[] = {"4111111111111111", "5500005555555559", "4012888888881881"};
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++) {
        char name[128], json[512];
        snprintf(name, sizeof name, "%s%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 cards[i]);
        snprintf(json, sizeof json, "{\"request_id\":\"r-1\",\"%s\":1,\"%s\":2}", name, name);
        pl_request r;
        pl_errors e;
        assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
        assert_int_equal(e.n, 1);
        assert_string_equal(e.e[0].error, "appears more than once");
        if (has_digit_run(e.e[0].field, 12))
            fail_msg("%s: the field keeps a card number's head: %s", cards[i], e.e[0].field);
        assert_true(strncmp(e.e[0].field, "aaaa", 4) == 0);
        pl_request_free(&r);
        /* Any caller's field or message, cut where a number sits. */
        pl_errors mine = {0};
        pl_errors_add(&mine, name, "value %s%s is refused",
                      "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                      "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                      cards[i]);
        assert_false(has_digit_run(mine.e[0].field, 12));
        assert_false(has_digit_run(mine.e[0].error, 12));
        assert_true(strncmp(mine.e[0].error, "value bbbb", 10) == 0);
    }
}

/*
 * A member name twice in any object is refused (json-c kept the last value silently:
 * "10.00" then "1000.00" charged 1000.00), names compared decoded; the invalid reply still
 * echoes the request_id, and the dead-letter copy masks every digit as for unparsable text.
 */
static void test_duplicate_members(void **state)
{
    (void)state;
    char *j = insert_after(BASE_AUTH, "\"amount\":\"120.00\",", "\"amount\":\"1000.00\",");
    assert_duplicate(j, "auth", "amount", "oms-7-4917-1-a1");
    char *red = pl_request_redact(j, strlen(j));
    assert_non_null(red);
    assert_null(strpbrk(red, "0123456789"));
    free(red);
    free(j);

    /* Two card numbers: the copy masks both. */
    j = insert_after(BASE_AUTH, "\"card\":{", "\"number\":\"5555555555554444\",");
    assert_duplicate(j, "auth", "card.number", "oms-7-4917-1-a1");
    red = pl_request_redact(j, strlen(j));
    assert_non_null(red);
    assert_null(strstr(red, PAN));
    assert_null(strstr(red, "5555555555554444"));
    free(red);
    free(j);

    /* The same name written with escapes, or cut by a NUL as json-c cuts names. */
    j = insert_after(BASE_AUTH, "{", "\"\\u0061mount\":\"1000.00\",");
    assert_duplicate(j, "auth", "amount", "oms-7-4917-1-a1");
    free(j);
    j = insert_after(BASE_AUTH, "{", "\"type\\u0000x\":\"token\",");
    assert_duplicate(j, "auth", "type", "oms-7-4917-1-a1");
    free(j);
    j = insert_after(BASE_AUTH, "{", "\"x\\ud83d\\ude00\":1,\"x\xf0\x9f\x98\x80\":2,");
    assert_duplicate(j, "auth", "x?", "oms-7-4917-1-a1");
    free(j);

    /* Deeper: the path as the other errors write it. */
    const char *deep =
        "{\"request_id\":\"r-deep\",\"items\":[{\"sku\":\"a\"},{\"sku\":\"a\",\"sku\":\"b\"}]}";
    assert_duplicate(deep, "auth", "items[1].sku", "r-deep");
    /* A request_id that is itself doubled, or not a valid one, is not echoed. */
    j = insert_after(BASE_AUTH, "{", "\"request_id\":\"oms-other\",");
    assert_duplicate(j, "auth", "request_id", "");
    free(j);
    assert_duplicate("{\"request_id\":\"a b\",\"v\":1,\"v\":1}", "auth", "v", "");
    /* A request_id holding a card number is echoed masked, as for other invalid requests. */
    assert_duplicate("{\"request_id\":\"oms-" PAN "\",\"v\":1,\"v\":1}", "auth", "v",
                     "oms-************1111");
    /* A name holding a card number is masked in the error. */
    assert_duplicate("{\"request_id\":\"r\",\"k" PAN "\":1,\"k" PAN "\":2}", "auth",
                     "k************1111", "r");

    /* The same name in different objects is no duplicate. */
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(BASE_DEBIT, "deposit", &r, &e), 0);
    pl_request_free(&r);
    /* Not an object at the root: not a JSON object, as before. */
    assert_int_equal(decode("[{\"a\":1,\"a\":2}]", "auth", &r, &e), PL_ERR_INVALID);
    assert_string_equal(e.e[0].error, "not a JSON object");
    pl_request_free(&r);
}

/*
 * Card numbers only the full scan reads, where the decoder's own texts carry the upstream
 * system's words (review: they used the Luhn scan alone): a field error's field and text (the
 * reply and the dead-letter copy carry them), the path of a name found twice, and the
 * request_id echoed with that refusal.
 */
#define SPLIT_E                                                                                    \
    "4111\xc3\xa9"                                                                                 \
    "1111\xc3\xa9"                                                                                 \
    "1111\xc3\xa9"                                                                                 \
    "1111"
#define SPLIT_CTRL                                                                                 \
    "4111\x01"                                                                                     \
    "1111\x01"                                                                                     \
    "1111\x01"                                                                                     \
    "1111"
#define FW_4111 "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
#define FW_1111 "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
#define SPLIT_FW FW_4111 "\xc3\xa9" FW_1111 "\xc3\xa9" FW_1111 "\xc3\xa9" FW_1111
#define FW_STAR4 "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a"
static void test_errors_hidden_card_numbers(void **state)
{
    (void)state;
    pl_errors e = {0};
    pl_errors_add(&e, "notes." SPLIT_E, "value %s is refused", SPLIT_CTRL);
    pl_errors_add(&e, "n", "value %s is refused", SPLIT_FW);
    pl_errors_add(&e, "x", "value %s is refused", "41111111111111111225");
    assert_int_equal(e.n, 3);
    assert_string_equal(e.e[0].field, "notes.****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                      "1111");
    assert_string_equal(e.e[0].error, "value ****\x01****\x01****\x01"
                                      "1111 is refused");
    assert_string_equal(e.e[1].error, "value " FW_STAR4 "\xc3\xa9" FW_STAR4 "\xc3\xa9" FW_STAR4
                                      "\xc3\xa9" FW_1111 " is refused");
    assert_string_equal(e.e[2].error, "value ************1111**** is refused");

    /* A name found twice with an expiry glued to its card number: the path masks it. */
    pl_request r;
    assert_int_equal(decode("{\"request_id\":\"r\",\"41111111111111111225\":1,"
                            "\"41111111111111111225\":2}",
                            "auth", &r, &e),
                     PL_ERR_INVALID);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "************1111****");
    pl_request_free(&r);

    /* The request_id echoed with that refusal: one with an expiry glued has every digit
     * masked, as echo_masked masks it for any other refusal. */
    assert_duplicate("{\"request_id\":\"41111111111111111225\",\"v\":1,\"v\":1}", "auth", "v",
                     "********************");
    assert_duplicate("{\"request_id\":\"r-41111111111111111225\",\"v\":1,\"v\":1}", "auth", "v",
                     "r-********************");
}

/*
 * The Luhn scan's stars hid from the check after it a card number only the full reading sees:
 * "4111 1111 1111<U+0001>1111 1111 1111 1117" (across the control character, which a bureau
 * message drops, 4111 1111 1111 1111 is one; the scan sees only the second number) was copied
 * with 4111 1111 1111 in clear. Now the copy of a value or name that holds a card number, and
 * the echo of a refused order, mask the first number too (an order has 20 characters at most:
 * "411<U+0001>1111111111111117", 4111111111111111 and 117 glued to it once the control
 * character is gone, kept its "411").
 */
static void test_echo_and_copy_hidden_under_stars(void **state)
{
    (void)state;
    pl_request r;
    pl_errors e;
    char *json = with(BASE_AUTH, "order", "\"411\\u00011111111111111117\"");
    assert_int_equal(decode(json, "auth", &r, &e), PL_ERR_INVALID);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "order");
    assert_string_equal(r.order, "***\x01************1***");
    pl_request_free(&r);
    free(json);

    bool changed;
    char *out;
    json_object *red =
        redact_parsed("{\"request_id\":\"x\",\"note\":\"4111 1111 1111\\u00011111 1111 1111 1117\","
                      "\"k\":{\"4111 1111 1111\\u00011111 1111 1111 1117\":1}}",
                      &changed, &out);
    assert_true(changed);
    assert_string_equal(get_path(red, "note", NULL), "**** **** ****\x01**** **** **** 1117");
    assert_string_equal(get_path(red, "k", "**** **** ****\x01**** **** **** 1117"), "1");
    assert_null(strstr(out, "4111"));
    json_object_put(red);
    free(out);
}

/* An object of 100,000 members is compared in n log n: the duplicate at its end is found, and
 * the same object without it decodes (to the errors of an incomplete request) as quickly. */
static void test_duplicate_members_large(void **state)
{
    (void)state;
    enum { N = 100000 };
    size_t cap = (size_t)N * 24 + 256;
    char *text = malloc(cap);
    size_t w = (size_t)snprintf(text, cap, "{\"request_id\":\"big\",\"x\":{");
    for (int i = 0; i < N; i++)
        w += (size_t)snprintf(text + w, cap - w, "%s\"m%d\":%d", i ? "," : "", i, i);
    size_t open_len = w;
    w += (size_t)snprintf(text + w, cap - w, ",\"m%d\":0}}", N / 2);
    assert_duplicate(text, "auth", "x.m50000", "big");
    snprintf(text + open_len, cap - open_len, "}}");
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(text, "auth", &r, &e), PL_ERR_INVALID);
    for (size_t i = 0; i < e.n; i++)
        assert_string_not_equal(e.e[i].error, "appears more than once");
    pl_request_free(&r);
    free(text);
}

/* ---- fingerprint ------------------------------------------------------------------------ */

static const char KEY[] = "test-fingerprint-key";
/* test_fingerprint_known_answer's version 2 fingerprint. */
#define V2_KNOWN "f7bafc22e8286df2c92ed125f5aa86136bf60060177843bba4665ec5ad2f6c0e"

static void fingerprint_v(const char *json, const char *worker, int version, char out[65])
{
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(json, worker, &r, &e), 0);
    assert_int_equal(pl_request_fingerprint_v(&r, version, KEY, sizeof KEY - 1, out, 65), 0);
    pl_request_free(&r);
}

static void fingerprint_of(const char *json, const char *worker, char out[65])
{
    fingerprint_v(json, worker, PL_FINGERPRINT_VERSION, out);
}

static void test_fingerprint(void **state)
{
    (void)state;
    char base[65], other[65];
    fingerprint_of(BASE_AUTH, "auth", base);
    assert_int_equal(strlen(base), 64);
    assert_int_equal(strspn(base, "0123456789abcdef"), 64);

    /* Stable: the same request, and the same content in another key order and layout. */
    fingerprint_of(BASE_AUTH, "auth", other);
    assert_string_equal(base, other);
    const char *reordered =
        "{ \"card\": {\"type\":\"VI\",\"cvv\":\"987\",\"exp_year\":2030,\"exp_month\":12,"
        "\"number\":\"" PAN "\"}, \"currency\":\"USD\",\"amount\":\"120.00\",\"service\":"
        "\"CYB\",\"pay_seq\":1,\"order\":\"4917\",\"company\":7,\"type\":\"auth\","
        "\"request_id\":\"oms-7-4917-1-a1\"}";
    fingerprint_of(reordered, "auth", other);
    assert_string_equal(base, other);

    /* Not the CVV (never stored), nor the request_id; every other field (version 2: before,
     * a redelivery differing only in its addresses, its subsequent authorization, its 3-D Secure
     * data or its card's type was replayed as the same request). */
    static const struct {
        const char *path, *value;
        bool changes;
    } cases[] = {
        {"card.cvv", "\"123\"", false},
        {"card.cvv", NULL, false},
        {"request_id", "\"another-id\"", false},
        {"bill_to", "{\"city\":\"Boston\"}", true},
        {"ship_to", "{\"city\":\"Boston\"}", true},
        {"card.type", "\"MC\"", true},
        {"card.holder", "\"A N Other\"", true},
        {"subsequent_auth", "{\"reason\":\"REAUTH\"}", true},
        {"authentication", "{\"commerce_indicator\":\"vbv\",\"eci\":\"05\"}", true},
        {"items", "[{\"sku\":\"S1\",\"unit_price\":\"120.00\",\"quantity\":1}]", true},
        {"amount", "\"120.01\"", true},
        {"currency", "\"EUR\"", true},
        {"card.number", "\"5555555555554444\"", true},
        {"card.exp_year", "2031", true},
        {"order", "\"4918\"", true},
        {"company", "8", true},
        {"pay_seq", "2", true},
        {"service", "\"EXT\"", true},
        {"type", "\"token\"", true},
        {"mode", "\"batch\"", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = with(BASE_AUTH, cases[i].path, cases[i].value);
        fingerprint_of(json, "auth", other);
        if (cases[i].changes != (strcmp(base, other) != 0))
            print_error("fingerprint case %s\n", cases[i].path);
        assert_int_equal(cases[i].changes, strcmp(base, other) != 0);
        free(json);
    }

    /* Version 1 (the rows written before version 2, still accepted) covers the operation's
     * fields only: an address is outside it. */
    char base1[65];
    fingerprint_v(BASE_AUTH, "auth", 1, base1);
    assert_string_not_equal(base1, base);
    char *j0 = with(BASE_AUTH, "bill_to", "{\"city\":\"Boston\"}");
    fingerprint_v(j0, "auth", 1, other);
    assert_string_equal(base1, other);
    free(j0);
    j0 = with(BASE_AUTH, "amount", "\"120.01\"");
    fingerprint_v(j0, "auth", 1, other);
    assert_string_not_equal(base1, other);
    free(j0);
    pl_request r0;
    pl_errors e0;
    assert_int_equal(decode(BASE_AUTH, "auth", &r0, &e0), 0);
    assert_int_equal(pl_request_fingerprint_v(&r0, 0, KEY, 3, other, sizeof other), PL_ERR_INVALID);
    assert_int_equal(
        pl_request_fingerprint_v(&r0, PL_FINGERPRINT_VERSION + 1, KEY, 3, other, sizeof other),
        PL_ERR_INVALID);
    pl_request_free(&r0);

    /* A token instead of the number is a different card. */
    char *j1 = with(BASE_AUTH, "card", "{\"token\":\"7419661750346782304017\"}");
    fingerprint_of(j1, "auth", other);
    assert_string_not_equal(base, other);
    free(j1);

    /* Another key gives another fingerprint; bad arguments are refused. */
    pl_request r;
    pl_errors e;
    assert_int_equal(decode(BASE_AUTH, "auth", &r, &e), 0);
    assert_int_equal(pl_request_fingerprint(&r, "k2", 2, other, sizeof other), 0);
    assert_string_not_equal(base, other);
    assert_int_equal(pl_request_fingerprint(&r, KEY, sizeof KEY - 1, other, 64), PL_ERR_TOOBIG);
    assert_int_equal(pl_request_fingerprint(&r, NULL, 0, other, sizeof other), PL_ERR_INVALID);
    assert_int_equal(pl_request_fingerprint(NULL, KEY, 3, other, sizeof other), PL_ERR_INVALID);
    pl_request_free(&r);
}

/*
 * Decoding reuses one JSON tokener: a text refused part way (bad UTF-8 in a string, which the
 * grammar check lets through to json-c), one with a string larger than the tokener keeps,
 * and a valid one between them leave nothing behind that changes the next decode.
 */
static void test_decode_after_refused_and_large(void **state)
{
    (void)state;
    static const char bad_utf8[] = "{\"v\":1,\"request_id\":\"a\xff\"}";
    char *big_value = jstr('x', 10000);
    size_t big_len = strlen(BASE_AUTH) + strlen(big_value) + 16;
    char *big = malloc(big_len);
    assert_non_null(big);
    snprintf(big, big_len, "{\"note\":%s,%s", big_value, BASE_AUTH + 1);
    free(big_value);

    for (int round = 0; round < 3; round++) {
        pl_request r;
        pl_errors e;
        assert_int_equal(pl_request_decode(bad_utf8, sizeof bad_utf8 - 1, "auth", NOW, &r, &e),
                         PL_ERR_INVALID);
        assert_int_equal(e.n, 1);
        assert_string_equal(e.e[0].error, "not a JSON object");
        pl_request_free(&r);

        assert_int_equal(decode(BASE_AUTH, "auth", &r, &e), 0);
        assert_string_equal(r.request_id, "oms-7-4917-1-a1");
        assert_string_equal(r.card.number, PAN);
        pl_request_free(&r);

        /* Unknown members are ignored; the large one is read and the request is valid. */
        assert_int_equal(decode(big, "auth", &r, &e), 0);
        assert_int_equal(e.n, 0);
        assert_string_equal(r.card.number, PAN);
        pl_request_free(&r);
    }
    free(big);
}

static void fill_field(char *buf, size_t size, char c)
{
    memset(buf, c, size - 1);
    buf[size - 1] = '\0';
}

/*
 * The fingerprint's bytes pinned down: every field filled to its size (more than the
 * fingerprint's 512-byte buffer in all), the integers at their extremes and negative, a key
 * longer than a SHA-256 block. The expected value was computed by the unbuffered
 * implementation (one EVP_MAC_update per piece, printf for the integers): a stored
 * fingerprint must keep matching.
 */
static void test_fingerprint_known_answer(void **state)
{
    (void)state;
    pl_request r;
    memset(&r, 0, sizeof r);
    r.type = PL_REQ_AUTH;
    r.company = INT32_MIN;
    r.pay_seq = INT32_MAX;
    fill_field(r.order, sizeof r.order, 'o');
    fill_field(r.service, sizeof r.service, 's');
    fill_field(r.pay_type, sizeof r.pay_type, 'p');
    fill_field(r.entity, sizeof r.entity, 'e');
    r.has_amount = true;
    r.amount = INT64_MIN;
    fill_field(r.currency, sizeof r.currency, 'C');
    r.online = false;
    fill_field(r.card.number, sizeof r.card.number, '4');
    fill_field(r.card.token, sizeof r.card.token, 't');
    r.card.exp_month = -1;
    r.card.exp_year = 10;
    fill_field(r.auth_ref.request_id, sizeof r.auth_ref.request_id, 'r');
    fill_field(r.auth_ref.transaction_id, sizeof r.auth_ref.transaction_id, 'x');
    fill_field(r.auth_ref.number, sizeof r.auth_ref.number, 'n');
    r.auth_ref.has_amount = true;
    r.auth_ref.amount = INT64_MAX;
    fill_field(r.capture_ref.request_id, sizeof r.capture_ref.request_id, 'c');
    r.installment = true;
    fill_field(r.svc.card_number, sizeof r.svc.card_number, '9');
    r.svc.has_issue_amount = true;
    r.svc.issue_amount = -100;
    r.svc.present = true;
    r.svc.is_virtual = true;
    char key[100];
    memset(key, 'k', sizeof key);
    char fp[65];
    /* Version 1 is what every row written before version 2 holds: it never changes. */
    assert_int_equal(pl_request_fingerprint_v(&r, 1, key, sizeof key, fp, sizeof fp), 0);
    assert_string_equal(fp, "cbe2fda298e170e997e308eb957576dd20811ef3c81129132ee8fa7679edeb99");
    /* Twice gives the same (the MAC made once per process is copied, never used itself). */
    assert_int_equal(pl_request_fingerprint_v(&r, 1, key, sizeof key, fp, sizeof fp), 0);
    assert_string_equal(fp, "cbe2fda298e170e997e308eb957576dd20811ef3c81129132ee8fa7679edeb99");
    /* Version 2, with its own fields filled too. */
    fill_field(r.card.type, sizeof r.card.type, 'T');
    fill_field(r.card.holder, sizeof r.card.holder, 'h');
    fill_field(r.auth_ref.request_token, sizeof r.auth_ref.request_token, 'q');
    fill_field(r.auth_ref.date, sizeof r.auth_ref.date, 'd');
    r.subsequent_auth.present = true;
    fill_field(r.subsequent_auth.reason, sizeof r.subsequent_auth.reason, 'R');
    fill_field(r.subsequent_auth.transaction_id, sizeof r.subsequent_auth.transaction_id, 'i');
    fill_field(r.subsequent_auth.initiator, sizeof r.subsequent_auth.initiator, 'm');
    r.authentication.present = true;
    fill_field(r.authentication.cavv, sizeof r.authentication.cavv, 'v');
    pl_address addr;
    memset(&addr, 0, sizeof addr);
    fill_field(addr.city, sizeof addr.city, 'b');
    r.bill_to = &addr;
    pl_item item;
    memset(&item, 0, sizeof item);
    fill_field(item.sku, sizeof item.sku, 'k');
    item.unit_price = 12345;
    item.quantity = 2;
    r.items = &item;
    r.n_items = 1;
    r.level23.present = true;
    r.level23.has_tax = true;
    r.level23.tax_amount = 77;
    r.svc.order_line = 3;
    assert_int_equal(pl_request_fingerprint_v(&r, 2, key, sizeof key, fp, sizeof fp), 0);
    assert_string_equal(fp, V2_KNOWN);
    /* Version 1 ignores all of that. */
    assert_int_equal(pl_request_fingerprint_v(&r, 1, key, sizeof key, fp, sizeof fp), 0);
    assert_string_equal(fp, "cbe2fda298e170e997e308eb957576dd20811ef3c81129132ee8fa7679edeb99");
}

static void test_errors_add(void **state)
{
    (void)state;
    pl_errors e = {.n = 0};
    pl_errors_add(&e, "items[3].sku", "must be at most %d characters", 40);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].field, "items[3].sku");
    assert_string_equal(e.e[0].error, "must be at most 40 characters");
    for (int i = 0; i < 40; i++)
        pl_errors_add(&e, "f", "e%d", i);
    assert_int_equal(e.n, PL_MAX_FIELD_ERRORS);
    pl_errors_add(NULL, "f", "ignored");
}

/* A stored value deposit or return of 0.00 moves no money: invalid, as a card deposit is (it
 * would otherwise reach the mark, whose claim refuses 0.00, and end as an error). */
static void test_svc_zero_deposit_and_return(void **state)
{
    (void)state;
    static const char *const types[] = {"deposit", "return"};
    for (size_t i = 0; i < 2; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"request_id\":\"oms-7-4930-2-s%zu\",\"type\":\"%s\",\"company\":7,"
                 "\"order\":\"4930\",\"pay_seq\":2,\"service\":\"RLT\",\"amount\":\"0.00\","
                 "\"currency\":\"USD\",\"auth_ref\":{\"request_id\":\"oms-7-4930-2-a1\"},"
                 "\"svc\":{\"card_number\":\"7000000000000001\"}}",
                 i, types[i]);
        pl_request r;
        pl_errors e;
        int rc = decode(json, "svc", &r, &e);
        assert_int_not_equal(rc, 0);
        bool found = false;
        for (size_t k = 0; k < e.n; k++)
            found = found || (strcmp(e.e[k].field, "amount") == 0 &&
                              strstr(e.e[k].error, "must be greater than 0.00") != NULL);
        if (!found)
            fail_msg("%s of 0.00: no amount error (%zu errors, first %s: %s)", types[i], e.n,
                     e.n ? e.e[0].field : "", e.n ? e.e[0].error : "");
        pl_request_free(&r);
    }
}

int main(void)
{
    size_t n_err = sizeof ERR_CASES / sizeof ERR_CASES[0];
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_valid_auth_fields),
        cmocka_unit_test(test_svc_zero_deposit_and_return),
        cmocka_unit_test(test_valid_full),
        cmocka_unit_test(test_valid_variants),
        cmocka_unit_test(test_valid_deposit_shapes),
        cmocka_unit_test(test_types_per_worker),
        cmocka_unit_test(test_unknown_worker),
        cmocka_unit_test(test_expiry_boundary),
        cmocka_unit_test(test_multiple_errors_collected),
        cmocka_unit_test(test_errors_capped),
        cmocka_unit_test(test_echo_fields_on_invalid),
        cmocka_unit_test(test_errors_never_quote_card_data),
        cmocka_unit_test(test_card_number_in_any_field),
        cmocka_unit_test(test_request_id_ok),
        cmocka_unit_test(test_card_number_token),
        cmocka_unit_test(test_card_number_grouped),
        cmocka_unit_test(test_card_number_echo_masked),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_card_number_hidden_echo),
        cmocka_unit_test(test_errors_hidden_card_numbers),
        cmocka_unit_test(test_echo_and_copy_hidden_under_stars),
        cmocka_unit_test(test_free_wipes),
        cmocka_unit_test(test_redact_json),
        cmocka_unit_test(test_redact_not_json),
        cmocka_unit_test(test_redact_many_card_keys),
        cmocka_unit_test(test_redact_card_data_anywhere),
        cmocka_unit_test(test_redact_glued_copy),
        cmocka_unit_test(test_redact_security_code_names),
        cmocka_unit_test(test_duplicate_members),
        cmocka_unit_test(test_cut_field_leaves_no_card_head),
        cmocka_unit_test(test_lengths_in_characters),
        cmocka_unit_test(test_address_and_holder_in_characters),
        cmocka_unit_test(test_duplicate_members_large),
        cmocka_unit_test(test_redact_card_numbers_anywhere),
        cmocka_unit_test(test_redact_reports_changes),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_fingerprint_known_answer),
        cmocka_unit_test(test_decode_after_refused_and_large),
        cmocka_unit_test(test_errors_add),
    };
    size_t n_fixed = sizeof fixed / sizeof fixed[0];
    /* One named test per error case, so a failure names the rule that broke. */
    struct CMUnitTest *tests = calloc(n_err + n_fixed, sizeof *tests);
    char(*names)[80] = calloc(n_err, sizeof *names);
    if (!tests || !names)
        return 1;
    for (size_t i = 0; i < n_err; i++) {
        snprintf(names[i], sizeof names[i], "error: %s", ERR_CASES[i].name);
        tests[i].name = names[i];
        tests[i].test_func = test_one_error;
        tests[i].initial_state = (void *)&ERR_CASES[i];
    }
    memcpy(tests + n_err, fixed, sizeof fixed);
    int failed = _cmocka_run_group_tests("request", tests, n_err + n_fixed, NULL, NULL);
    free(tests);
    free(names);
    return failed;
}
