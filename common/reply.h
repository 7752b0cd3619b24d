/*
 * reply.h: the reply message of CONTRACT.md §1, built from a request and an outcome.
 *
 * Every request gets exactly one reply (published at least once). pl_reply holds what the
 * workers decided; pl_reply_to_json renders it with json-c (never by string pasting).
 * The stored copy in the database is the same JSON; a redelivered request is answered with
 * pl_reply_mark_replayed(stored) which adds "replayed": true.
 * Pure functions; any thread.
 */
#ifndef PL_REPLY_H
#define PL_REPLY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "err.h"
#include "request.h"

typedef enum pl_status {
    PL_ST_APPROVED = 0,
    PL_ST_DECLINED,
    PL_ST_REVIEW,
    PL_ST_REJECTED,
    PL_ST_ERROR,
    PL_ST_TIMEOUT,
    PL_ST_INVALID,
} pl_status;

/* "approved", "declined", ... */
const char *pl_status_name(pl_status s);

/*
 * The Siebel eSales response message text for a status (the user-facing text an upstream
 * system may show; seed siebel-cybersource-credit-card-service.txt). Static string.
 */
const char *pl_status_message(pl_status s);

/*
 * pl_status_message for a reply of a service bureau of protocol `protocol` ("CYB", "RLT",
 * "EXT"; NULL or "" when not known: as pl_status_message). The Siebel texts are the
 * CyberSource seed's: the two that name CyberSource (an error, a timeout) say "the payment
 * service" for the other bureaus, which an order taker must not be told are CyberSource.
 */
const char *pl_status_message_for(pl_status s, const char *protocol);

/* The seed's Siebel response message number n (1-21), "" for any other n. */
const char *pl_siebel_message(int n);

/* The Siebel message (1-21) that names the reason of a CyberSource reason code (205 stolen card →
 * 4, 204 insufficient funds → 12, 238 already captured → 17, ...), 0 when the status category's
 * message fits best. */
int pl_siebel_message_for_reason(const char *reason_code);

typedef struct pl_reply {
    pl_status status;
    bool has_amount_approved;
    int64_t amount_approved;
    char vendor_response[16];
    char decision[16];
    struct {
        char number[31], date[32], transaction_id[65], request_token[513], avs[8], cvv[8];
    } auth;
    char token[65];
    char card_masked[24];
    char card_type[5];
    char hold_reason[4];
    char message[200]; /* "" → pl_status_message(status) */
    bool required_response;
    const pl_errors *errors; /* for invalid; may be NULL */
    struct {
        char card_number[21]; /* only in the answer to generate */
        bool has_balance;
        int64_t balance;
    } svc;
    time_t processed_at; /* 0 → now */
} pl_reply;

/*
 * Renders the reply for request `req` (echo fields, amount_requested and currency come from
 * it; req may be partially filled for an invalid request) as a compact JSON object. Echoed
 * texts (request_id, type, order, service, currency, message, the field errors) never carry
 * a card number: one found there (pl_card_find) is masked to stars and its last four digits.
 * Returns a malloc'd string the caller frees, or NULL when out of memory.
 */
char *pl_reply_to_json(const pl_request *req, const pl_reply *rep);
/* The same, and with obj the object it rendered (the caller's to json_object_put; NULL when
 * the result is NULL), for a caller that reads the reply too (the engine's follow-ups). */
char *pl_reply_to_json_obj(const pl_request *req, const pl_reply *rep, json_object **obj);

/*
 * A copy of a stored reply JSON with "replayed": true set. Returns a malloc'd string, or NULL
 * when stored is not a JSON object or memory ran out.
 */
char *pl_reply_mark_replayed(const char *stored);

/* What settled a request whose outcome was unknown (CONTRACT.md: `resolved`, `resolution`). */
typedef struct pl_reply_resolution {
    pl_status status;       /* the outcome: approved, declined, review, rejected or error */
    const char *resolution; /* "query", "timeout_reversal", "operator" */
    bool has_amount_approved;
    int64_t amount_approved;
    const char *vendor_response; /* NULL: as stored */
    const char *decision;        /* NULL: as stored */
    const char *hold_reason;     /* NULL: as stored; "" removes it */
    /* The bureau's ids when the resolution learned them (NULL: as stored). */
    const char *auth_number, *auth_transaction_id, *auth_date;
    const char *message; /* NULL → pl_status_message(status) */
    time_t at;           /* processed_at; 0 → now */
} pl_reply_resolution;

/*
 * The final reply of a request first answered `timeout` (or `error` with a required response):
 * a copy of the stored reply with the outcome of r — status, amount_approved, vendor response,
 * decision, hold, the auth ids learned, message and processed_at — "resolved": true,
 * "resolution", and neither "required_response" nor "replayed". Echo fields (request_id, type,
 * company, order, pay_seq, service, amount_requested, currency, card) stay as stored. Returns a
 * malloc'd string, or NULL when stored is not a JSON object, r is incomplete (no resolution, a
 * status that is not a final outcome) or memory ran out.
 */
char *pl_reply_resolve(const char *stored, const pl_reply_resolution *r);

#endif
