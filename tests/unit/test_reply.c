/*
 * test_reply.c: reply rendering (parsed back with json-c and checked field by field), the
 * Siebel response messages per status, and pl_reply_mark_replayed.
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

#include "reply.h"
#include "request.h"

#define NOW ((time_t)1795665662) /* 2026-11-26T04:01:02Z */
#define PAN "4111111111111111"

static const char REQUEST[] =
    "{\"v\":1,\"request_id\":\"oms-7-4917-1-a1\",\"type\":\"auth\",\"company\":7,"
    "\"order\":\"4917\",\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"120.00\","
    "\"currency\":\"USD\",\"card\":{\"number\":\"" PAN "\",\"exp_month\":12,"
    "\"exp_year\":2030,\"cvv\":\"987\"}}";

static void decode(const char *json, const char *worker, pl_request *r, pl_errors *e)
{
    int rc = pl_request_decode(json, strlen(json), worker, NOW, r, e);
    (void)rc; /* some tests decode invalid requests on purpose */
}

/* Renders and parses back; also checks that no card number or CVV leaks into a reply. */
static json_object *render(const pl_request *req, const pl_reply *rep)
{
    char *text = pl_reply_to_json(req, rep);
    assert_non_null(text);
    assert_null(strstr(text, PAN));
    assert_null(strstr(text, "987"));
    json_object *obj = json_tokener_parse(text);
    assert_non_null(obj);
    assert_true(json_object_is_type(obj, json_type_object));
    free(text);
    return obj;
}

static json_object *get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

static const char *str(json_object *obj, const char *key)
{
    json_object *v = get(obj, key);
    assert_non_null(v);
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static int64_t num(json_object *obj, const char *key)
{
    json_object *v = get(obj, key);
    assert_non_null(v);
    assert_true(json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}

static void test_approved_reply(void **state)
{
    (void)state;
    pl_request req;
    pl_errors errs;
    decode(REQUEST, "auth", &req, &errs);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_APPROVED;
    rep.has_amount_approved = true;
    rep.amount_approved = 6000; /* partial approval: half */
    snprintf(rep.vendor_response, sizeof rep.vendor_response, "110");
    snprintf(rep.decision, sizeof rep.decision, "ACCEPT");
    snprintf(rep.auth.number, sizeof rep.auth.number, "831000");
    snprintf(rep.auth.date, sizeof rep.auth.date, "2026-11-26T04:01:02Z");
    snprintf(rep.auth.transaction_id, sizeof rep.auth.transaction_id, "4036289939370176056470");
    snprintf(rep.auth.request_token, sizeof rep.auth.request_token, "Ahj/7wSTE2Ojg4MDl3M");
    snprintf(rep.auth.avs, sizeof rep.auth.avs, "Y");
    snprintf(rep.auth.cvv, sizeof rep.auth.cvv, "M");
    snprintf(rep.token, sizeof rep.token, "7012345678901234567890");
    snprintf(rep.card_masked, sizeof rep.card_masked, "411111******1111");
    snprintf(rep.card_type, sizeof rep.card_type, "VI");
    rep.processed_at = NOW;

    json_object *o = render(&req, &rep);
    assert_int_equal(num(o, "v"), 1);
    assert_string_equal(str(o, "request_id"), "oms-7-4917-1-a1");
    assert_string_equal(str(o, "type"), "auth");
    assert_int_equal(num(o, "company"), 7);
    assert_string_equal(str(o, "order"), "4917");
    assert_int_equal(num(o, "pay_seq"), 1);
    assert_string_equal(str(o, "service"), "CYB");
    assert_string_equal(str(o, "status"), "approved");
    assert_string_equal(str(o, "amount_requested"), "120.00");
    assert_string_equal(str(o, "amount_approved"), "60.00");
    assert_string_equal(str(o, "currency"), "USD");
    assert_string_equal(str(o, "vendor_response"), "110");
    assert_string_equal(str(o, "decision"), "ACCEPT");
    json_object *auth = get(o, "auth");
    assert_non_null(auth);
    assert_string_equal(str(auth, "number"), "831000");
    assert_string_equal(str(auth, "date"), "2026-11-26T04:01:02Z");
    assert_string_equal(str(auth, "transaction_id"), "4036289939370176056470");
    assert_string_equal(str(auth, "request_token"), "Ahj/7wSTE2Ojg4MDl3M");
    assert_string_equal(str(auth, "avs"), "Y");
    assert_string_equal(str(auth, "cvv"), "M");
    assert_string_equal(str(o, "token"), "7012345678901234567890");
    json_object *card = get(o, "card");
    assert_string_equal(str(card, "masked"), "411111******1111");
    assert_string_equal(str(card, "type"), "VI");
    assert_string_equal(str(o, "message"), "Transaction was successful.");
    assert_string_equal(str(o, "processed_at"), "2026-11-26T04:01:02Z");
    /* Optional fields that do not apply are left out, not sent empty. */
    assert_null(get(o, "hold_reason"));
    assert_null(get(o, "required_response"));
    assert_null(get(o, "errors"));
    assert_null(get(o, "svc"));
    assert_null(get(o, "replayed"));
    json_object_put(o);
    pl_request_free(&req);
}

static void test_minimal_reply_omits_empty(void **state)
{
    (void)state;
    pl_request req;
    pl_errors errs;
    const char *token_req = "{\"request_id\":\"t1\",\"type\":\"token\",\"company\":7,"
                            "\"order\":\"1\",\"pay_seq\":1,\"service\":\"CYB\","
                            "\"card\":{\"token\":\"abc\"}}";
    decode(token_req, "auth", &req, &errs);
    assert_int_equal(errs.n, 0);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_DECLINED;
    rep.processed_at = NOW;
    json_object *o = render(&req, &rep);
    assert_string_equal(str(o, "status"), "declined");
    assert_string_equal(str(o, "type"), "token");
    static const char *absent[] = {"amount_requested",
                                   "amount_approved",
                                   "currency",
                                   "vendor_response",
                                   "decision",
                                   "auth",
                                   "token",
                                   "card",
                                   "hold_reason",
                                   "required_response",
                                   "errors",
                                   "svc"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        if (get(o, absent[i]))
            print_error("unexpected %s\n", absent[i]);
        assert_null(get(o, absent[i]));
    }
    assert_string_equal(str(o, "message"),
                        "Transaction was declined. Please select another credit card.");
    assert_int_equal(json_object_object_length(o), 10); /* v, 6 echoes, status, msg, at */
    json_object_put(o);
    pl_request_free(&req);
}

static void test_timeout_and_review(void **state)
{
    (void)state;
    pl_request req;
    pl_errors errs;
    decode(REQUEST, "auth", &req, &errs);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_TIMEOUT;
    rep.required_response = true;
    snprintf(rep.vendor_response, sizeof rep.vendor_response, "150");
    rep.processed_at = NOW;
    json_object *o = render(&req, &rep);
    assert_string_equal(str(o, "status"), "timeout");
    json_object *rr = get(o, "required_response");
    assert_non_null(rr);
    assert_true(json_object_is_type(rr, json_type_boolean));
    assert_true(json_object_get_boolean(rr));
    assert_string_equal(str(o, "vendor_response"), "150");
    assert_string_equal(str(o, "message"),
                        "The connection to CyberSource has timed out. Please try the "
                        "operation later.");
    json_object_put(o);

    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_REVIEW;
    snprintf(rep.hold_reason, sizeof rep.hold_reason, "FS");
    snprintf(rep.message, sizeof rep.message, "Custom text");
    rep.processed_at = NOW;
    o = render(&req, &rep);
    assert_string_equal(str(o, "status"), "review");
    assert_string_equal(str(o, "hold_reason"), "FS");
    assert_string_equal(str(o, "message"), "Custom text"); /* an explicit message wins */
    assert_null(get(o, "required_response"));
    json_object_put(o);
    pl_request_free(&req);
}

static void test_invalid_reply(void **state)
{
    (void)state;
    /* Bad request_id and Luhn; the other echo fields are still echoed. */
    const char *bad = "{\"request_id\":\"a b\",\"type\":\"auth\",\"company\":7,\"order\":"
                      "\"4917\",\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"120.00\","
                      "\"currency\":\"USD\",\"card\":{\"number\":\"4111111111111112\","
                      "\"exp_month\":12,\"exp_year\":2030}}";
    pl_request req;
    pl_errors errs;
    decode(bad, "auth", &req, &errs);
    assert_int_equal(errs.n, 2);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_INVALID;
    rep.errors = &errs;
    rep.processed_at = NOW;
    char *text = pl_reply_to_json(&req, &rep);
    assert_non_null(text);
    assert_null(strstr(text, "4111111111111112"));
    json_object *o = json_tokener_parse(text);
    free(text);
    assert_string_equal(str(o, "status"), "invalid");
    assert_null(get(o, "request_id"));
    assert_string_equal(str(o, "type"), "auth");
    assert_int_equal(num(o, "company"), 7);
    assert_string_equal(str(o, "order"), "4917");
    assert_string_equal(str(o, "amount_requested"), "120.00");
    json_object *arr = get(o, "errors");
    assert_non_null(arr);
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 2);
    json_object *e0 = json_object_array_get_idx(arr, 0);
    json_object *e1 = json_object_array_get_idx(arr, 1);
    assert_string_equal(str(e0, "field"), "request_id");
    assert_string_equal(str(e1, "field"), "card.number");
    assert_string_equal(str(e1, "error"), "fails the Luhn check");
    /* seed message 7: the card number is what is wrong. */
    assert_string_equal(str(o, "message"), "Your credit card is invalid. Please check the card "
                                           "details or select another credit card.");
    json_object_put(o);
    pl_request_free(&req);

    /* An expired card: seed message 5. */
    const char *expired = "{\"request_id\":\"x1\",\"type\":\"auth\",\"company\":7,\"order\":"
                          "\"4917\",\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"1.00\","
                          "\"currency\":\"USD\",\"card\":{\"number\":\"" PAN "\","
                          "\"exp_month\":10,\"exp_year\":2026}}";
    decode(expired, "auth", &req, &errs);
    rep.errors = &errs;
    o = render(&req, &rep);
    assert_string_equal(str(o, "message"),
                        "Your credit card has expired. Please select another card.");
    json_object_put(o);
    pl_request_free(&req);

    /* Not JSON at all: nothing to echo, one error with an empty field; seed message 6. */
    decode("nope", "auth", &req, &errs);
    rep.errors = &errs;
    o = render(&req, &rep);
    assert_null(get(o, "request_id"));
    assert_null(get(o, "type"));
    assert_null(get(o, "company"));
    arr = get(o, "errors");
    assert_int_equal(json_object_array_length(arr), 1);
    assert_string_equal(str(json_object_array_get_idx(arr, 0), "field"), "");
    assert_string_equal(str(json_object_array_get_idx(arr, 0), "error"), "not a JSON object");
    assert_string_equal(str(o, "message"),
                        "Please check the credit card details or select another card.");
    json_object_put(o);
    pl_request_free(&req);

    /* errors is only for invalid replies, and always there for them. */
    decode(REQUEST, "auth", &req, &errs);
    rep.status = PL_ST_ERROR;
    rep.errors = &errs;
    o = render(&req, &rep);
    assert_null(get(o, "errors"));
    json_object_put(o);
    rep.status = PL_ST_INVALID;
    rep.errors = NULL;
    o = render(&req, &rep);
    assert_int_equal(json_object_array_length(get(o, "errors")), 0);
    json_object_put(o);
    pl_request_free(&req);
}

/*
 * Defence in depth: whatever a pl_request, an error or a message holds, no echoed field of the
 * reply carries a card number, in any separator form; a request_id is echoed masked.
 */
static void test_echo_never_carries_card_number(void **state)
{
    (void)state;
    pl_request req;
    memset(&req, 0, sizeof req);
    snprintf(req.request_id, sizeof req.request_id, "oms-4111111111111111");
    snprintf(req.type_name, sizeof req.type_name, "378282246310005");
    snprintf(req.order, sizeof req.order, "4111.1111.1111.1111");
    snprintf(req.service, sizeof req.service, "CYB");
    snprintf(req.currency, sizeof req.currency, "USD");
    req.company = 7;
    pl_errors errs = {.n = 0};
    pl_errors_add(&errs, "notes.4111 1111 1111 1111", "card 3782-822463-10005 is wrong");
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_INVALID;
    rep.errors = &errs;
    rep.processed_at = NOW;
    snprintf(rep.message, sizeof rep.message, "card 5555 5555 5555 4444 refused");

    char *text = pl_reply_to_json(&req, &rep);
    assert_non_null(text);
    static const char *const leaks[] = {"41111111",     "4111.1111.1111", "4111 1111 1111",
                                        "555555555555", "5555 5555 5555", "82246"};
    for (size_t i = 0; i < sizeof leaks / sizeof leaks[0]; i++)
        assert_null(strstr(text, leaks[i]));
    json_object *o = json_tokener_parse(text);
    free(text);
    assert_string_equal(str(o, "request_id"), "oms-************1111");
    assert_string_equal(str(o, "type"), "***********0005");
    assert_string_equal(str(o, "order"), "****.****.****.1111");
    assert_string_equal(str(o, "message"), "card **** **** **** 4444 refused");
    json_object *e0 = json_object_array_get_idx(get(o, "errors"), 0);
    assert_string_equal(str(e0, "field"), "notes.**** **** **** 1111");
    assert_string_equal(str(e0, "error"), "card ****-******-*0005 is wrong");
    json_object_put(o);
}

/*
 * The echo sees what only the full scan reads: a card number split by characters a bureau
 * message drops (é, a control character), in full-width digits, or with its expiry glued, in
 * any echoed text (a bureau's words in the message, a field error). It
 * used the Luhn scan alone, and these went out in clear.
 */
static void test_echo_hidden_card_numbers(void **state)
{
    (void)state;
    pl_request req;
    memset(&req, 0, sizeof req);
    snprintf(req.request_id, sizeof req.request_id, "oms-41111111111111111225");
    req.company = 7;
    pl_errors errs = {.n = 0};
    snprintf(errs.e[0].field, sizeof errs.e[0].field,
             "n.4111\x01"
             "1111\x01"
             "1111\x01"
             "1111");
    snprintf(errs.e[0].error, sizeof errs.e[0].error,
             "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91"
             "\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
             "\xc3\xa9\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91");
    errs.n = 1;
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_INVALID;
    rep.errors = &errs;
    rep.processed_at = NOW;
    snprintf(rep.message, sizeof rep.message,
             "card 4111\xc3\xa9"
             "1111\xc3\xa9"
             "1111\xc3\xa9"
             "1111 refused");

    char *text = pl_reply_to_json(&req, &rep);
    assert_non_null(text);
    assert_null(strstr(text, "4111"));
    assert_null(strstr(text, "\xef\xbc\x94")); /* the full-width 4 */
    json_object *o = json_tokener_parse(text);
    free(text);
    assert_string_equal(str(o, "request_id"), "oms-************1111****");
    assert_string_equal(str(o, "message"), "card ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                           "1111 refused");
    json_object *e0 = json_object_array_get_idx(get(o, "errors"), 0);
    assert_string_equal(str(e0, "field"), "n.****\x01****\x01****\x01"
                                          "1111");
    assert_string_equal(str(e0, "error"), "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9"
                                          "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9"
                                          "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9"
                                          "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91");
    json_object_put(o);

    /* A message set by a resolution is echoed as fully. */
    pl_reply_resolution res = {.status = PL_ST_DECLINED, .resolution = "operator"};
    res.message = "bureau said 4111\xc3\xa9"
                  "1111\xc3\xa9"
                  "1111\xc3\xa9"
                  "1111";
    char *resolved = pl_reply_resolve("{\"v\":1,\"status\":\"timeout\"}", &res);
    assert_non_null(resolved);
    assert_null(strstr(resolved, "4111"));
    free(resolved);
}

static void test_svc_reply(void **state)
{
    (void)state;
    pl_request req;
    pl_errors errs;
    decode("{\"request_id\":\"s1\",\"type\":\"generate\",\"company\":7,\"order\":\"4930\","
           "\"pay_seq\":2,\"service\":\"RLT\"}",
           "svc", &req, &errs);
    assert_int_equal(errs.n, 0);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_APPROVED;
    snprintf(rep.svc.card_number, sizeof rep.svc.card_number, "7000000000000001");
    rep.processed_at = NOW;
    json_object *o = render(&req, &rep);
    assert_string_equal(str(o, "type"), "generate");
    json_object *svc = get(o, "svc");
    assert_non_null(svc);
    assert_string_equal(str(svc, "card_number"), "7000000000000001");
    assert_null(get(svc, "balance"));
    json_object_put(o);

    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_APPROVED;
    rep.svc.has_balance = true;
    rep.svc.balance = 0; /* a zero balance is still reported */
    rep.processed_at = NOW;
    o = render(&req, &rep);
    svc = get(o, "svc");
    assert_string_equal(str(svc, "balance"), "0.00");
    assert_null(get(svc, "card_number"));
    json_object_put(o);
    pl_request_free(&req);
}

static void test_processed_at_defaults_to_now(void **state)
{
    (void)state;
    pl_request req;
    pl_errors errs;
    decode(REQUEST, "auth", &req, &errs);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    time_t before = time(NULL);
    json_object *o = render(&req, &rep);
    time_t after = time(NULL);
    const char *at = str(o, "processed_at");
    assert_int_equal(strlen(at), 20);
    assert_int_equal(at[19], 'Z');
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    assert_non_null(strptime(at, "%Y-%m-%dT%H:%M:%SZ", &tm));
    time_t t = timegm(&tm);
    assert_true(t >= before && t <= after);
    json_object_put(o);
    pl_request_free(&req);
}

static void test_status_names_and_messages(void **state)
{
    (void)state;
    static const char *names[] = {"approved", "declined", "review", "rejected",
                                  "error",    "timeout",  "invalid"};
    for (int s = PL_ST_APPROVED; s <= PL_ST_INVALID; s++) {
        assert_string_equal(pl_status_name((pl_status)s), names[s]);
        const char *m = pl_status_message((pl_status)s);
        assert_non_null(m);
        assert_true(strlen(m) > 10);
        assert_true(strlen(m) < sizeof(((pl_reply *)0)->message));
    }
    /* Seed messages 1, 2, 20 (a sample: the texts are the seed's, word for word). */
    assert_string_equal(pl_status_message(PL_ST_APPROVED), "Transaction was successful.");
    assert_string_equal(pl_status_message(PL_ST_REJECTED),
                        "Transaction was not successful. Please call your credit card company "
                        "or try another credit card.");
    assert_string_equal(pl_status_message(PL_ST_ERROR),
                        "Error occurred in CyberSource. Please contact your application "
                        "administrator.");
    /* A rejected order must not look like a review to the customer, nor the reverse. */
    assert_string_not_equal(pl_status_message(PL_ST_REJECTED), pl_status_message(PL_ST_DECLINED));
}

/* Issue 6 B.7: the seed's messages 4 and 8-19 are used for the reasons they name. */
static void test_siebel_messages_by_reason(void **state)
{
    (void)state;
    for (int n = 1; n <= 21; n++) {
        assert_true(strlen(pl_siebel_message(n)) > 10);
        assert_true(strlen(pl_siebel_message(n)) < sizeof(((pl_reply *)0)->message));
    }
    assert_string_equal(pl_siebel_message(0), "");
    assert_string_equal(pl_siebel_message(22), "");
    assert_string_equal(pl_siebel_message(1), pl_status_message(PL_ST_APPROVED));
    assert_string_equal(pl_siebel_message(4), "There is a problem with this credit card. Please "
                                              "select another credit card.");
    static const struct {
        const char *code;
        int message;
    } cases[] = {{"205", 4},  {"203", 8},  {"240", 9},  {"200", 10}, {"101", 11},
                 {"204", 12}, {"102", 13}, {"232", 14}, {"242", 15}, {"247", 16},
                 {"238", 17}, {"234", 19}, {"202", 5},  {"231", 7},  {"250", 21}};
    int seen[22] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(pl_siebel_message_for_reason(cases[i].code), cases[i].message);
        seen[cases[i].message] = 1;
    }
    for (int n = 8; n <= 17; n++)
        assert_true(seen[n]);
    assert_true(seen[4] && seen[19]);
    /* Messages of the status category stay theirs. */
    assert_int_equal(pl_siebel_message_for_reason("100"), 0);
    assert_int_equal(pl_siebel_message_for_reason("481"), 0);
    assert_int_equal(pl_siebel_message_for_reason(NULL), 0);
    assert_string_equal(pl_siebel_message(18),
                        "You are not authorized to perform this transaction type.");
}

static void test_mark_replayed(void **state)
{
    (void)state;
    pl_request req;
    pl_errors errs;
    decode(REQUEST, "auth", &req, &errs);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.status = PL_ST_APPROVED;
    rep.processed_at = NOW;
    char *stored = pl_reply_to_json(&req, &rep);
    assert_non_null(stored);

    char *again = pl_reply_mark_replayed(stored);
    assert_non_null(again);
    json_object *a = json_tokener_parse(stored);
    json_object *b = json_tokener_parse(again);
    json_object *r = get(b, "replayed");
    assert_non_null(r);
    assert_true(json_object_is_type(r, json_type_boolean));
    assert_true(json_object_get_boolean(r));
    /* Everything else is exactly the stored reply, processed_at included. */
    json_object_object_del(b, "replayed");
    assert_true(json_object_equal(a, b));
    json_object_put(a);
    json_object_put(b);

    /* Replaying a replay, or a stored "replayed": false, gives one "replayed": true. */
    char *twice = pl_reply_mark_replayed(again);
    assert_non_null(twice);
    json_object *once = json_tokener_parse(again);
    json_object *c = json_tokener_parse(twice);
    assert_true(json_object_equal(once, c));
    json_object_put(once);
    json_object_put(c);
    char *f = pl_reply_mark_replayed("{\"status\":\"approved\",\"replayed\":false}");
    assert_string_equal(f, "{\"status\":\"approved\",\"replayed\":true}");

    assert_null(pl_reply_mark_replayed("not json"));
    assert_null(pl_reply_mark_replayed("[1,2]"));
    assert_null(pl_reply_mark_replayed(NULL));
    free(f);
    free(twice);
    free(again);
    free(stored);
    pl_request_free(&req);
}

/* A request answered `timeout`, later settled (CONTRACT.md: resolved, resolution). */
static void test_resolve(void **state)
{
    (void)state;
    const char *stored =
        "{\"v\":1,\"request_id\":\"r-1\",\"type\":\"auth\",\"company\":1,\"order\":\"O1\","
        "\"pay_seq\":1,\"service\":\"CYB\",\"status\":\"timeout\",\"amount_requested\":"
        "\"120.00\",\"currency\":\"USD\",\"vendor_response\":\"150\",\"card\":{\"masked\":"
        "\"411111******1111\",\"type\":\"VI\"},\"message\":\"No answer from the payment "
        "service within 5000 ms: the outcome is unknown.\",\"required_response\":true,"
        "\"replayed\":true,\"processed_at\":\"2026-12-01T10:00:00Z\"}";
    pl_reply_resolution r = {.status = PL_ST_APPROVED,
                             .resolution = "query",
                             .has_amount_approved = true,
                             .amount_approved = 12000,
                             .vendor_response = "100",
                             .decision = "ACCEPT",
                             .auth_number = "888888",
                             .auth_transaction_id = "4036289939370176056470",
                             .at = 1796155200}; /* 2026-12-01T20:00:00Z */
    char *out = pl_reply_resolve(stored, &r);
    assert_non_null(out);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"v\":1,\"request_id\":\"r-1\",\"type\":\"auth\",\"company\":1,\"order\":\"O1\","
             "\"pay_seq\":1,\"service\":\"CYB\",\"amount_requested\":\"120.00\",\"currency\":"
             "\"USD\",\"card\":{\"masked\":\"411111******1111\",\"type\":\"VI\"},\"status\":"
             "\"approved\",\"amount_approved\":\"120.00\",\"vendor_response\":\"100\","
             "\"decision\":\"ACCEPT\",\"auth\":{\"number\":\"888888\",\"transaction_id\":"
             "\"4036289939370176056470\"},\"message\":\"%s\",\"resolved\":true,"
             "\"resolution\":\"query\",\"processed_at\":\"2026-12-01T20:00:00Z\"}",
             pl_status_message(PL_ST_APPROVED));
    assert_string_equal(out, want);
    free(out);

    /* Declined by an operator: no amount approved, the stored vendor response kept, a hold
     * removed with "". */
    pl_reply_resolution d = {.status = PL_ST_DECLINED,
                             .resolution = "operator",
                             .hold_reason = "",
                             .message = "Declined by ops: the bureau has no record."};
    out = pl_reply_resolve(stored, &d);
    json_object *j = json_tokener_parse(out);
    json_object *v;
    assert_true(json_object_object_get_ex(j, "status", &v));
    assert_string_equal(json_object_get_string(v), "declined");
    assert_false(json_object_object_get_ex(j, "amount_approved", &v));
    assert_false(json_object_object_get_ex(j, "required_response", &v));
    assert_false(json_object_object_get_ex(j, "replayed", &v));
    assert_false(json_object_object_get_ex(j, "hold_reason", &v));
    assert_true(json_object_object_get_ex(j, "vendor_response", &v));
    assert_string_equal(json_object_get_string(v), "150");
    assert_true(json_object_object_get_ex(j, "resolution", &v));
    assert_string_equal(json_object_get_string(v), "operator");
    assert_true(json_object_object_get_ex(j, "message", &v));
    assert_string_equal(json_object_get_string(v), "Declined by ops: the bureau has no record.");
    json_object_put(j);
    free(out);

    /* Refused: not a final outcome, no resolution, not a JSON object. */
    pl_reply_resolution bad = r;
    bad.status = PL_ST_TIMEOUT;
    assert_null(pl_reply_resolve(stored, &bad));
    bad = r;
    bad.resolution = NULL;
    assert_null(pl_reply_resolve(stored, &bad));
    assert_null(pl_reply_resolve("[1]", &r));
    assert_null(pl_reply_resolve("not json", &r));
    assert_null(pl_reply_resolve(NULL, &r));
}

/* The Siebel texts that name CyberSource say "the payment service" for the other bureaus;
 * every other status's text is the same whoever answered. */
static void test_status_message_by_protocol(void **state)
{
    (void)state;
    const pl_status all[] = {PL_ST_APPROVED, PL_ST_DECLINED, PL_ST_REVIEW, PL_ST_REJECTED,
                             PL_ST_ERROR,    PL_ST_TIMEOUT,  PL_ST_INVALID};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        pl_status s = all[k];
        assert_ptr_equal(pl_status_message_for(s, "CYB"), pl_status_message(s));
        assert_ptr_equal(pl_status_message_for(s, NULL), pl_status_message(s));
        assert_ptr_equal(pl_status_message_for(s, ""), pl_status_message(s));
        for (int p = 0; p < 2; p++) {
            const char *m = pl_status_message_for(s, p ? "EXT" : "RLT");
            assert_null(strstr(m, "CyberSource"));
            if (s != PL_ST_ERROR && s != PL_ST_TIMEOUT)
                assert_ptr_equal(m, pl_status_message(s));
        }
    }
    assert_string_equal(pl_status_message_for(PL_ST_TIMEOUT, "RLT"),
                        "The connection to the payment service has timed out. Please try the "
                        "operation later.");
    assert_string_equal(pl_status_message_for(PL_ST_ERROR, "EXT"),
                        "Error occurred in the payment service. Please contact your application "
                        "administrator.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approved_reply),
        cmocka_unit_test(test_status_message_by_protocol),
        cmocka_unit_test(test_minimal_reply_omits_empty),
        cmocka_unit_test(test_timeout_and_review),
        cmocka_unit_test(test_invalid_reply),
        cmocka_unit_test(test_echo_never_carries_card_number),
        cmocka_unit_test(test_echo_hidden_card_numbers),
        cmocka_unit_test(test_svc_reply),
        cmocka_unit_test(test_processed_at_defaults_to_now),
        cmocka_unit_test(test_status_names_and_messages),
        cmocka_unit_test(test_siebel_messages_by_reason),
        cmocka_unit_test(test_mark_replayed),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests_name("reply", tests, NULL, NULL);
}
