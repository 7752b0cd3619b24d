/*
 * reply.c: rendering reply messages (CONTRACT.md §1 "Reply fields") with json-c.
 *
 * Optional fields are omitted when empty rather than sent as "" or null, so a consumer can
 * test for presence; the JSON Schemas in schema/messages/ (the *-reply schemas) describe the
 * result and tests/schema/check_schemas.py validates replies rendered here against them.
 */
#include "reply.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "money.h"

const char *pl_status_name(pl_status s)
{
    switch (s) {
    case PL_ST_APPROVED:
        return "approved";
    case PL_ST_DECLINED:
        return "declined";
    case PL_ST_REVIEW:
        return "review";
    case PL_ST_REJECTED:
        return "rejected";
    case PL_ST_ERROR:
        return "error";
    case PL_ST_TIMEOUT:
        return "timeout";
    case PL_ST_INVALID:
        return "invalid";
    }
    return "error";
}

/* seed: siebel-cybersource-credit-card-service.txt, "Response Message:1" to ":21", word for
 * word, in order (index = message number). */
static const char *const siebel_messages[] = {
    "",
    "Transaction was successful.",
    "Transaction was not successful. Please call your credit card company or try another credit "
    "card.",
    "Transaction was declined. Please select another credit card.",
    "There is a problem with this credit card. Please select another credit card.",
    "Your credit card has expired. Please select another card.",
    "Please check the credit card details or select another card.",
    "Your credit card is invalid. Please check the card details or select another credit card.",
    "Transaction declined by the bank. Please select another credit card.",
    "Your credit card number does not match the card type. Please check the card details or "
    "select another credit card.",
    "The billing address you entered does not match the billing address of your credit card. "
    "Please check the card details or select another card.",
    "Please check to make sure you have entered complete credit card information.",
    "There is not enough available credit on this card. Please select another credit card.",
    "There was an error in processing. Please check the credit card information and try again or "
    "select another credit card.",
    "This type of credit card is not accepted. Please select another card.",
    "There is no corresponding, unused authorization record. Please authorize for this amount "
    "prior to settling.",
    "A credit or refund is only allowed when there is a corresponding settlement transaction "
    "referenced.",
    "Transaction has been settled, so it cannot be voided.",
    "You are not authorized to perform this transaction type.",
    "Error happened in adapter business service. Please contact your application administrator.",
    "Error occurred in CyberSource. Please contact your application administrator.",
    "The connection to CyberSource has timed out. Please try the operation later.",
};

const char *pl_siebel_message(int n)
{
    return n >= 1 && n <= 21 ? siebel_messages[n] : "";
}

/* One message per status category; the comments give why each fits. */
const char *pl_status_message(pl_status s)
{
    switch (s) {
    case PL_ST_APPROVED:
        return siebel_messages[1];
    case PL_ST_DECLINED:
        /* 3: the issuer or the bureau refused; the customer picks another card. */
        return siebel_messages[3];
    case PL_ST_REVIEW:
        /*
         * 1: the seed's "Create Order on Web" list (1, 18-21) creates the order and leaves the
         * investigation to staff, which is what a Decision Manager review does (the order is
         * taken and held FS). The customer must not learn it is under review.
         */
        return siebel_messages[1];
    case PL_ST_REJECTED:
        /* 2: deliberately vague, so fraud screening does not tell a fraudster which check
         * failed. */
        return siebel_messages[2];
    case PL_ST_ERROR:
        /* 20: the bureau failed (150/151/152, SOAP fault, unreadable answer). */
        return siebel_messages[20];
    case PL_ST_TIMEOUT:
        /* 21: no answer in time. */
        return siebel_messages[21];
    case PL_ST_INVALID:
        /* 6: the request itself is wrong; a specific error may pick 5 or 7. */
        return siebel_messages[6];
    }
    return "";
}

const char *pl_status_message_for(pl_status s, const char *protocol)
{
    if (!protocol || !protocol[0] || strcmp(protocol, "CYB") == 0)
        return pl_status_message(s);
    /* Siebel's 20 and 21 with the bureau left unnamed. */
    switch (s) {
    case PL_ST_ERROR:
        return "Error occurred in the payment service. Please contact your application "
               "administrator.";
    case PL_ST_TIMEOUT:
        return "The connection to the payment service has timed out. Please try the operation "
               "later.";
    default:
        return pl_status_message(s);
    }
}

/*
 * For an invalid request whose errors say exactly why the card was refused, the seed has a
 * more precise text than message 6: 5 for an expired card, 7 for a number failing Mod 10
 * (the seed's Validate method does both checks).
 */
static const char *invalid_message(const pl_errors *errs)
{
    for (size_t i = 0; errs && i < errs->n; i++) {
        if (strcmp(errs->e[i].error, "card has expired") == 0)
            return siebel_messages[5];
        if (strcmp(errs->e[i].field, "card.number") == 0)
            return siebel_messages[7];
    }
    return pl_status_message(PL_ST_INVALID);
}

int pl_siebel_message_for_reason(const char *reason_code)
{
    /* CyberSource Simple Order reason codes → the seed message that names the reason. */
    static const struct {
        const char *code;
        int message;
    } map[] = {
        {"101", 11}, /* missing fields: incomplete card information */
        {"102", 13}, /* invalid fields: error in processing, check the information */
        {"200", 10}, /* AVS decline (DAVSNO): the billing address does not match */
        {"202", 5},  /* expired card */
        {"203", 8},  /* general decline by the issuing bank */
        {"204", 12}, /* insufficient funds */
        {"205", 4},  /* stolen or lost card: a problem with this card */
        {"207", 13}, /* issuing bank unavailable */
        {"208", 4},  /* inactive card or not authorized for card-not-present */
        {"210", 12}, /* credit limit reached */
        {"211", 6},  /* invalid card verification number: check the card details */
        {"221", 4},  /* the customer matched an entry on the processor's negative file */
        {"230", 6},  /* card verification check failed */
        {"231", 7},  /* invalid account number */
        {"232", 14}, /* card type not accepted by the payment processor */
        {"233", 8},  /* general decline by the processor */
        {"234", 19}, /* a problem with the merchant's configuration at the bureau */
        {"236", 20}, /* processor failure */
        {"238", 17}, /* already captured: settled, cannot be voided */
        {"240", 9},  /* card number and card type do not match */
        {"241", 15}, /* the referenced request ID is invalid: no such authorization */
        {"242", 15}, /* capture without a corresponding, unused authorization */
        {"243", 17}, /* already settled or reversed */
        {"246", 17}, /* the capture or credit is not voidable */
        {"247", 16}, /* a credit of a capture that was voided */
        {"250", 21}, /* time-out at the payment processor */
    };
    for (size_t i = 0; reason_code && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(reason_code, map[i].code) == 0)
            return map[i].message;
    return 0;
}

/*
 * Adds key: value; returns false when out of memory (val is consumed either way). key must be
 * a string literal (every caller's is): json-c keeps the pointer instead of a copy of its own,
 * one allocation fewer per member.
 */
static bool add(json_object *obj, const char *key, json_object *val)
{
    if (!val)
        return false;
    if (json_object_object_add_ex(obj, key, val, JSON_C_OBJECT_ADD_CONSTANT_KEY) != 0) {
        json_object_put(val);
        return false;
    }
    return true;
}

/* Adds a string member unless s is empty. */
static bool add_str(json_object *obj, const char *key, const char *s)
{
    if (!s || !s[0])
        return true;
    return add(obj, key, json_object_new_string(s));
}

/*
 * A JSON string of an echoed text: what the upstream system sent (request_id, type, order,
 * service, currency) or text about it (the message, the field errors), with any card number
 * masked (stars and its last four digits). The decoder already refuses card numbers in these
 * fields; this is the second net, for every other way a pl_request, an error or a message
 * gets filled, so no reply ever carries a card number it was not meant to. The full scan
 * (pl_card_scrub_full): a bureau's text in the message may split a number with characters its
 * messages drop or glue its expiry to it, which the Luhn scan alone does not read; for the
 * short texts of a reply it costs a look at each byte more. NULL when out of memory.
 */
static json_object *echo_string(const char *s)
{
    char buf[256];
    pl_card_scrub_copy_full(buf, sizeof buf, s, strlen(s), PL_MASK_LAST4);
    json_object *v = json_object_new_string(buf);
    pl_card_wipe(buf, sizeof buf);
    return v;
}

/* Adds an echoed string member (echo_string) unless s is empty. */
static bool add_echo(json_object *obj, const char *key, const char *s)
{
    if (!s || !s[0])
        return true;
    return add(obj, key, echo_string(s));
}

static bool add_amount(json_object *obj, const char *key, int64_t minor)
{
    char buf[24];
    if (pl_money_format(minor, buf, sizeof buf) != 0)
        return false;
    return add(obj, key, json_object_new_string(buf));
}

/* Adds obj[key] = sub when sub has members; sub is consumed. */
static bool add_nonempty(json_object *obj, const char *key, json_object *sub)
{
    if (!sub)
        return false;
    if (json_object_object_length(sub) == 0) {
        json_object_put(sub);
        return true;
    }
    return add(obj, key, sub);
}

/* A malloc'd compact rendering of obj. */
static char *render(json_object *obj)
{
    const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
    return s ? strdup(s) : NULL;
}

static bool add_errors(json_object *root, const pl_errors *errs)
{
    json_object *arr = json_object_new_array();
    if (!arr)
        return false;
    for (size_t i = 0; errs && i < errs->n; i++) {
        json_object *e = json_object_new_object();
        if (!e || json_object_array_add(arr, e) != 0) {
            json_object_put(e);
            json_object_put(arr);
            return false;
        }
        if (!add(e, "field", echo_string(errs->e[i].field)) ||
            !add(e, "error", echo_string(errs->e[i].error))) {
            json_object_put(arr);
            return false;
        }
    }
    return add(root, "errors", arr);
}

char *pl_reply_to_json(const pl_request *req, const pl_reply *rep)
{
    return pl_reply_to_json_obj(req, rep, NULL);
}

char *pl_reply_to_json_obj(const pl_request *req, const pl_reply *rep, json_object **obj)
{
    if (obj)
        *obj = NULL;
    if (!req || !rep)
        return NULL;
    json_object *root = json_object_new_object();
    if (!root)
        return NULL;
    char *result = NULL;
    bool ok = true;

    /* Echo: the reply speaks version 1 whatever was asked; unread fields are left out. */
    ok = ok && add(root, "v", json_object_new_int(1));
    ok = ok && add_echo(root, "request_id", req->request_id);
    const char *type = req->type_name[0]             ? req->type_name
                       : req->type != PL_REQ_UNKNOWN ? pl_req_type_name(req->type)
                                                     : "";
    ok = ok && add_echo(root, "type", type);
    if (req->company > 0)
        ok = ok && add(root, "company", json_object_new_int(req->company));
    ok = ok && add_echo(root, "order", req->order);
    if (req->pay_seq > 0)
        ok = ok && add(root, "pay_seq", json_object_new_int(req->pay_seq));
    ok = ok && add_echo(root, "service", req->service);

    ok = ok && add(root, "status", json_object_new_string(pl_status_name(rep->status)));
    if (req->has_amount)
        ok = ok && add_amount(root, "amount_requested", req->amount);
    if (rep->has_amount_approved)
        ok = ok && add_amount(root, "amount_approved", rep->amount_approved);
    ok = ok && add_echo(root, "currency", req->currency);
    ok = ok && add_str(root, "vendor_response", rep->vendor_response);
    ok = ok && add_str(root, "decision", rep->decision);

    json_object *auth = json_object_new_object();
    if (auth) {
        ok = ok && add_str(auth, "number", rep->auth.number);
        ok = ok && add_str(auth, "date", rep->auth.date);
        ok = ok && add_str(auth, "transaction_id", rep->auth.transaction_id);
        ok = ok && add_str(auth, "request_token", rep->auth.request_token);
        ok = ok && add_str(auth, "avs", rep->auth.avs);
        ok = ok && add_str(auth, "cvv", rep->auth.cvv);
    }
    ok = add_nonempty(root, "auth", auth) && ok;

    ok = ok && add_str(root, "token", rep->token);
    json_object *card = json_object_new_object();
    if (card) {
        ok = ok && add_str(card, "masked", rep->card_masked);
        ok = ok && add_str(card, "type", rep->card_type);
    }
    ok = add_nonempty(root, "card", card) && ok;
    ok = ok && add_str(root, "hold_reason", rep->hold_reason);

    const char *message = rep->message[0]                ? rep->message
                          : rep->status == PL_ST_INVALID ? invalid_message(rep->errors)
                                                         : pl_status_message(rep->status);
    ok = ok && add_echo(root, "message", message);
    if (rep->required_response)
        ok = ok && add(root, "required_response", json_object_new_boolean(1));
    if (rep->status == PL_ST_INVALID)
        ok = ok && add_errors(root, rep->errors);

    json_object *svc = json_object_new_object();
    if (svc) {
        ok = ok && add_str(svc, "card_number", rep->svc.card_number);
        if (rep->svc.has_balance)
            ok = ok && add_amount(svc, "balance", rep->svc.balance);
    }
    ok = add_nonempty(root, "svc", svc) && ok;

    time_t at = rep->processed_at ? rep->processed_at : time(NULL);
    struct tm tm;
    char stamp[32];
    if (!gmtime_r(&at, &tm) || strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        ok = false;
    else
        ok = ok && add(root, "processed_at", json_object_new_string(stamp));

    if (ok)
        result = render(root);
    if (result && obj)
        *obj = root;
    else
        json_object_put(root);
    return result;
}

char *pl_reply_mark_replayed(const char *stored)
{
    if (!stored)
        return NULL;
    json_object *root = json_tokener_parse(stored);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return NULL;
    }
    char *result = NULL;
    if (add(root, "replayed", json_object_new_boolean(1)))
        result = render(root);
    json_object_put(root);
    return result;
}

/* obj[key] = s, or removed when s is "" (NULL: left as it is). */
static bool set_or_remove(json_object *obj, const char *key, const char *s)
{
    if (!s)
        return true;
    json_object_object_del(obj, key);
    return add_echo(obj, key, s);
}

char *pl_reply_resolve(const char *stored, const pl_reply_resolution *r)
{
    if (!stored || !r || !r->resolution || !*r->resolution ||
        (r->status != PL_ST_APPROVED && r->status != PL_ST_DECLINED && r->status != PL_ST_REVIEW &&
         r->status != PL_ST_REJECTED && r->status != PL_ST_ERROR))
        return NULL;
    json_object *root = json_tokener_parse(stored);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return NULL;
    }
    json_object_object_del(root, "required_response");
    json_object_object_del(root, "replayed");
    json_object_object_del(root, "status");
    bool ok = add(root, "status", json_object_new_string(pl_status_name(r->status)));
    json_object_object_del(root, "amount_approved");
    if (ok && r->has_amount_approved)
        ok = add_amount(root, "amount_approved", r->amount_approved);
    ok = ok && set_or_remove(root, "vendor_response", r->vendor_response);
    ok = ok && set_or_remove(root, "decision", r->decision);
    ok = ok && set_or_remove(root, "hold_reason", r->hold_reason);
    if (ok && (r->auth_number || r->auth_transaction_id || r->auth_date)) {
        json_object *auth = NULL;
        if (!json_object_object_get_ex(root, "auth", &auth) ||
            !json_object_is_type(auth, json_type_object)) {
            json_object_object_del(root, "auth");
            auth = json_object_new_object();
            ok = add(root, "auth", auth);
        }
        ok = ok && set_or_remove(auth, "number", r->auth_number);
        ok = ok && set_or_remove(auth, "transaction_id", r->auth_transaction_id);
        ok = ok && set_or_remove(auth, "date", r->auth_date);
    }
    json_object_object_del(root, "message");
    ok = ok && add_echo(root, "message", r->message ? r->message : pl_status_message(r->status));
    json_object_object_del(root, "resolved");
    json_object_object_del(root, "resolution");
    ok = ok && add(root, "resolved", json_object_new_boolean(1));
    ok = ok && add(root, "resolution", json_object_new_string(r->resolution));
    time_t at = r->at ? r->at : time(NULL);
    struct tm tm;
    char stamp[32];
    json_object_object_del(root, "processed_at");
    if (!gmtime_r(&at, &tm) || strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        ok = false;
    else
        ok = ok && add(root, "processed_at", json_object_new_string(stamp));
    char *result = ok ? render(root) : NULL;
    json_object_put(root);
    return result;
}
