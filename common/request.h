/*
 * request.h: the decoded, validated form of a request message (CONTRACT.md §1).
 *
 * pl_request_decode turns the JSON text of a Kafka request into a pl_request, checking every
 * rule of the contract and collecting *all* field errors (not just the first) so the
 * `invalid` reply tells the upstream system everything that is wrong at once.
 *
 * Memory: a pl_request is a plain struct the caller owns (usually inside the engine's
 * per-request context). Strings are fixed-size arrays; `items`, `bill_to` and `ship_to` are
 * heap memory the request owns (so a pl_request must not be copied by value).
 * pl_request_free releases them, wiping the addresses and items, and wipes the card number,
 * CVV and 3-D Secure data. Pure functions; any thread.
 */
#ifndef PL_REQUEST_H
#define PL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

typedef enum pl_req_type {
    PL_REQ_UNKNOWN = 0,
    PL_REQ_AUTH,     /* auth worker: authorization (token+auth when the bureau asks) */
    PL_REQ_TOKEN,    /* auth worker: token only */
    PL_REQ_DEBIT,    /* deposit worker: capture */
    PL_REQ_CREDIT,   /* deposit worker: refund */
    PL_REQ_REVERSAL, /* reversal worker */
    PL_REQ_SVC_GENERATE,
    PL_REQ_SVC_ACTIVATE,
    PL_REQ_SVC_RECHARGE,
    PL_REQ_SVC_AUTH,
    PL_REQ_SVC_DEPOSIT,
    PL_REQ_SVC_RETURN,
    PL_REQ_SVC_BALANCE,
} pl_req_type;

/*
 * Field sizes include the NUL. The contract's limits count characters (JSON Schema maxLength);
 * a free-text field sized with PL_TEXT_SIZE holds its limit in any UTF-8 (up to 4 bytes a
 * character). The other fields hold a byte a character of their limit, which non-ASCII text
 * can exceed before it reaches the limit in characters: the decoder refuses that with its own
 * error ("must be at most N bytes of UTF-8"). A pl_request lives inside the engine's job, which
 * must stay within 4 KiB (engine.c), so only what is heap memory (items, the addresses) or
 * small (card.holder) holds four bytes a character: sized so, the two addresses alone would
 * have added some 2.9 KB to every job, which is why they are allocated only when sent.
 */
#define PL_TEXT_SIZE(chars) (4 * (chars) + 1)
#define PL_ITEM_NAME_CHARS 100
#define PL_HOLDER_CHARS 60

/* The contract's limits of the address fields, in characters. */
#define PL_NAME_CHARS 60 /* first_name, last_name */
#define PL_STREET_CHARS 60
#define PL_CITY_CHARS 50
#define PL_STATE_CHARS 20
#define PL_POSTAL_CODE_CHARS 10
#define PL_EMAIL_CHARS 100
#define PL_PHONE_CHARS 20
#define PL_IP_CHARS 45

/*
 * bill_to / ship_to. Heap memory (pl_request_decode allocates one only for a member that was
 * sent). Every string the contract gives only a maxLength is free text, postal_code, email,
 * phone and ip too (the schemas set no pattern on them: an internationalised e-mail address is
 * valid); country (pattern ^[A-Z]{2}$) and shipping_method (a word of a list) are ASCII.
 */
typedef struct pl_address {
    char first_name[PL_TEXT_SIZE(PL_NAME_CHARS)], last_name[PL_TEXT_SIZE(PL_NAME_CHARS)];
    char street1[PL_TEXT_SIZE(PL_STREET_CHARS)], street2[PL_TEXT_SIZE(PL_STREET_CHARS)];
    char city[PL_TEXT_SIZE(PL_CITY_CHARS)], state[PL_TEXT_SIZE(PL_STATE_CHARS)];
    char postal_code[PL_TEXT_SIZE(PL_POSTAL_CODE_CHARS)];
    char country[3]; /* ISO 3166 alpha-2 */
    char email[PL_TEXT_SIZE(PL_EMAIL_CHARS)], phone[PL_TEXT_SIZE(PL_PHONE_CHARS)];
    char ip[PL_TEXT_SIZE(PL_IP_CHARS)];
    char shipping_method[10]; /* ship_to only: sameday, oneday, ... */
} pl_address;

typedef struct pl_item {
    char sku[41], product_code[31];
    char name[PL_TEXT_SIZE(PL_ITEM_NAME_CHARS)]; /* items are heap memory: free text fits */
    int64_t unit_price;                          /* minor units */
    int quantity;
    bool has_tax_amount;
    int64_t tax_amount;
    char commodity_code[21], unit_of_measure[13];
} pl_item;

typedef struct pl_card_data {
    bool present;
    char number[20]; /* digits only; "" when a token is given. Wiped by pl_request_free. */
    char token[65];
    int exp_month, exp_year; /* 0 when absent */
    char cvv[5];             /* never stored; wiped by pl_request_free */
    char type[5];            /* pay type style: VI, MC, AX, DI, ... ("" when absent) */
    char holder[PL_TEXT_SIZE(PL_HOLDER_CHARS)];
} pl_card_data;

typedef struct pl_request {
    int v;
    char request_id[51];
    pl_req_type type;
    char type_name[16]; /* as sent, for the echo */
    int company;
    char order[21];
    int pay_seq;
    char service[9];
    char pay_type[5];
    char entity[21];

    bool has_amount;
    int64_t amount; /* minor units */
    char currency[4];

    bool online; /* mode: true unless "batch" */

    pl_card_data card;
    pl_address *bill_to, *ship_to; /* heap; NULL when the request has none */
    pl_item *items;                /* heap; n_items entries */
    size_t n_items;

    struct {
        bool present;
        char request_id[51];     /* an earlier paylink auth, or "" */
        char transaction_id[65]; /* inline manual authorization ... */
        char request_token[257];
        char number[31]; /* authorization code */
        bool has_amount;
        int64_t amount;
        char date[11]; /* YYYY-MM-DD */
    } auth_ref;

    struct {
        bool present;
        char request_id[51];
    } capture_ref;

    bool installment;

    struct {
        bool present;
        char reason[16]; /* RESUBMIT, REAUTH, INSTALLMENT */
        char transaction_id[65];
        char initiator[12]; /* merchant, cardholder */
    } subsequent_auth;

    struct {
        bool present;
        char commerce_indicator[21];
        char cavv[61], xid[61], eci[4], ucaf_data[61];
    } authentication; /* wiped by pl_request_free */

    struct {
        bool present;
        char customer_po[26];
        bool has_tax, has_freight, has_duty, has_discount;
        int64_t tax_amount, freight_amount, duty_amount, discount_amount;
    } level23;

    struct {
        bool present;
        char card_number[21];
        int order_line;
        bool has_issue_amount;
        int64_t issue_amount;
        bool is_virtual;
    } svc;
} pl_request;

/* One field error of an `invalid` reply: {"field": "card.number", "error": "fails the Luhn check"}.
 */
typedef struct pl_field_error {
    char field[64];
    char error[160];
} pl_field_error;

#define PL_MAX_FIELD_ERRORS 24
typedef struct pl_errors {
    pl_field_error e[PL_MAX_FIELD_ERRORS];
    size_t n;
} pl_errors;

/* Adds an error (silently ignored past PL_MAX_FIELD_ERRORS). */
void pl_errors_add(pl_errors *errs, const char *field, const char *fmt, ...) PL_PRINTF(3, 4);

/* The field errors of a card number found where none belongs (pl_request_decode, below):
 * paylinkctl reads them back from dead letters, whose copy then has that value masked. */
#define PL_REQUEST_ERR_CARD_NUMBER "must not contain a card number"
#define PL_REQUEST_ERR_CARD_NOT_TOKEN "is a card number, not a token"

/*
 * Decodes and validates one request for the worker named `worker` ("auth", "deposit",
 * "reversal", "svc"); a `type` the worker does not take is an error on field "type".
 * `now` is the clock used for the expiry check (pass time(NULL)).
 *
 * Returns 0 when the request is valid. Returns PL_ERR_INVALID with errs filled when not;
 * even then, *out holds every echo field that could be read (request_id, type_name, company,
 * order, pay_seq, service) so the invalid reply can echo them, and pl_request_free must
 * still be called. Returns PL_ERR_NOMEM when items or an address cannot be allocated (free
 * *out all the same). `out` is zeroed first. errs may not be NULL. out->bill_to and
 * out->ship_to stay NULL unless that member was sent as an object.
 *
 * Card numbers (PCI DSS 3.3, 3.4): a card number as pl_card_find defines it, with or without
 * separators, in any string field but card.number and svc.card_number is an error on that
 * field ("must not contain a card number"; for card.token that is one, "is a card number,
 * not a token"), and the value is not kept in *out. So is one that only shows once the
 * characters bureau XML drops are removed (pl_card_is_keyboard_char: "5555é5555é5555é4444"
 * would reach the bureau as 5555555555554444), and a card number with its expiry date glued
 * to it (pl_card_contains_with_expiry: "41111111111111111225"). Only a request_id or order
 * refused so is kept masked for the echo (stars and the last four digits, e.g.
 * "oms-************1111"; every digit of it, for one the scrub cannot see), so the upstream
 * system can correlate the invalid reply; a masked request_id is never valid, so it can only
 * appear in an invalid reply. The 3-D Secure cryptograms of `authentication` (cavv,
 * xid, ucaf_data) are not searched (request.c says why). Values in json-c's buffers that held a
 * card number are wiped before the parse tree is freed.
 */
int pl_request_decode(const char *json, size_t len, const char *worker, time_t now, pl_request *out,
                      pl_errors *errs) PL_MUSTCHECK;

/* Wipes and frees items and the addresses (setting them NULL) and wipes card data. Safe on a
 * zeroed struct and twice. */
void pl_request_free(pl_request *r);

/* "auth", "token", "debit", ... for a type (the contract's name). */
const char *pl_req_type_name(pl_req_type t);

/*
 * A redacted copy of a request's JSON text for the dead-letter topic and logs: when the text
 * is a JSON object, card.number becomes its stored mask, card.cvv and authentication values
 * are removed, svc.card_number is masked, and the other members of card and svc lose their
 * values but those the contract names; so does every member named card or svc (any case) at
 * any depth, and one that is not an object becomes "***REMOVED***" whole. A member named as a
 * security code anywhere is blanked. Every other string value, number and object key, at any
 * depth (nested objects and arrays), that holds a card number (as pl_request_decode refuses
 * one: any separators, characters off the keyboard between the digits, an expiry glued) is
 * masked to stars and its last four digits (a number becomes a string; every digit, where the
 * scrub cannot see the number), and a value with track data (a card number followed by '=' or
 * '^') loses what follows it; every other copy of card.number / svc.card_number is masked too,
 * glued to other digits or not.
 * When the text is not a JSON object, it is scrubbed (pl_card_scrub_full, any separators) and
 * every run of 12 or more digits is masked, Luhn or not. Returns a malloc'd NUL-terminated
 * string the caller frees, or NULL on allocation failure.
 */
char *pl_request_redact(const char *json, size_t len);

/*
 * pl_request_redact, saying in *changed (not NULL) whether the copy differs from the request
 * other than in the form of its JSON text (spacing, escapes, member order): true when any value
 * or key was masked, blanked, removed or scrubbed, or the text was no JSON object and had a
 * digit or byte masked. A changed copy is not the request that was sent: the dead-letter
 * envelope marks it (dlq.h, "redacted"), and paylinkctl never sends it again. *changed is false
 * when NULL is returned.
 */
char *pl_request_redact_report(const char *json, size_t len, bool *changed);

/* True when s is a request_id the contract accepts (1-50 characters of [A-Za-z0-9._:-]) and
 * holds no card number: what paylinkctl checks before it publishes a request of its own. */
bool pl_request_id_ok(const char *s);

/*
 * Fingerprint of the request's content, to tell a redelivery (same fingerprint) from a
 * different request reusing a request_id (a conflict). HMAC-SHA256 with `key` over a canonical
 * encoding of the request, never the CVV; 64 hex chars + NUL. Version 1: the fields that define
 * the operation (type, company, order, pay_seq, service, entity, amount, currency, mode, card
 * number or token and expiry, references, installment, stored value card and issue amount).
 * Version 2 (PL_FINGERPRINT_VERSION): every field of the request but its `v` and the CVV — also
 * the card's type and holder, the subsequent authorization, the 3-D Secure authentication, the
 * addresses, the items, level II/III data, the manual authorization's date and token and the
 * stored value order line — so that a redelivery differing only there is a conflict, not a
 * replay of what was sent without it. The version is a tag inside what is hashed, so no two
 * versions' fingerprints of a request match.
 */
#define PL_FINGERPRINT_VERSION 2
int pl_request_fingerprint_v(const pl_request *r, int version, const void *key, size_t keylen,
                             char *out, size_t outsize) PL_MUSTCHECK;
/* pl_request_fingerprint_v at PL_FINGERPRINT_VERSION. */
int pl_request_fingerprint(const pl_request *r, const void *key, size_t keylen, char *out,
                           size_t outsize) PL_MUSTCHECK;

#endif
