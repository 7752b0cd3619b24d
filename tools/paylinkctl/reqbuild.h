/*
 * reqbuild.h: the request messages `paylinkctl send` puts on Kafka (CONTRACT.md §1).
 *
 * A request comes either as JSON text (a file or stdin), which is only checked to be one JSON
 * object and then sent byte for byte, so tests can send exactly what an upstream system would;
 * or it is built with json-c from command-line flags (--amount 120.00 → "amount": "120.00",
 * --card-number → "card": {"number": ...}). The flag table lives here so the CLI and its tests
 * share it.
 *
 * Card data: values of secret flags (--card-number, --cvv) are never put into an error message,
 * and pl_reqbuild_free wipes every value before freeing it.
 *
 * Memory: a pl_reqbuild is a caller-owned struct (zero it to start) holding malloc'd copies of
 * the flag values; pl_reqbuild_free releases them. json_object results belong to the caller
 * (json_object_put). Single-threaded (a CLI), no global state.
 */
#ifndef PL_REQBUILD_H
#define PL_REQBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "err.h"

/* Number of request flags in the table (see reqbuild.c and `paylinkctl help`). */
#define PL_REQBUILD_NFLAGS 24

typedef struct pl_reqbuild {
    char *value[PL_REQBUILD_NFLAGS]; /* copies of the flag values; NULL when not given */
} pl_reqbuild;

/* Which topic of a worker. */
typedef enum pl_topic_kind {
    PL_TOPIC_REQUEST = 0,
    PL_TOPIC_REPLY = 1,
    PL_TOPIC_DLQ = 2,
} pl_topic_kind;

/*
 * Records one request flag ("--amount", with its leading dashes) and a copy of its value.
 * Returns 0; PL_ERR_NOTFOUND when flag is not a request flag (the caller tries its own flags);
 * PL_ERR_INVALID when the flag was already given; PL_ERR_NOMEM.
 */
int pl_reqbuild_set(pl_reqbuild *b, const char *flag, const char *value, char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

/* True when flag is a request flag whose value is card data (never echoed, wiped). */
bool pl_reqbuild_is_secret(const char *flag);

/* True when no request flag was given. */
bool pl_reqbuild_empty(const pl_reqbuild *b);

/* Wipes and frees the values; the struct is zeroed again. Safe twice. */
void pl_reqbuild_free(pl_reqbuild *b);

/*
 * Prints the request flags, one per line with the JSON field each one sets, for the help text.
 */
void pl_reqbuild_print_flags(FILE *out);

/*
 * Builds the request for worker ("auth", "deposit", "reversal", "svc") from the flags:
 * "v": 1 first, "request_id" (the flag, else a new pl_reqbuild_new_id), "type" (the flag, else
 * the worker's usual one: auth → "auth", deposit → "debit", reversal → "reversal"; svc has none
 * and needs --type), then the given fields in table order; integer flags (--company, --pay-seq,
 * --exp-month, --exp-year, --order-line) become JSON integers and must be whole numbers;
 * --virtual becomes a JSON boolean and must be true or false; dotted fields become nested
 * objects (card, bill_to, auth_ref, capture_ref, svc). --svc-card-number is card data like
 * --card-number (secret).
 * Returns 0 with *out set (caller puts it), or PL_ERR_INVALID / PL_ERR_NOMEM.
 */
int pl_reqbuild_json(const pl_reqbuild *b, const char *worker, json_object **out, char *errstr,
                     size_t errstr_size) PL_MUSTCHECK;

/*
 * Parses request text that must be exactly one JSON object (whitespace around it is fine).
 * Returns 0 with *out set (caller puts it), or PL_ERR_PARSE with the reason. The text is not
 * copied into errstr (it may hold a card number).
 */
int pl_reqbuild_parse(const char *text, size_t len, json_object **out, char *errstr,
                      size_t errstr_size) PL_MUSTCHECK;

/*
 * A new unique request id, "ctl-<ms since 1970, hex>-<8 random hex>" (24-30 characters, within
 * the contract's [A-Za-z0-9._:-]{1,50}). Returns 0, PL_ERR_TOOBIG (outsize < 32) or PL_ERR_IO.
 */
int pl_reqbuild_new_id(char *out, size_t outsize) PL_MUSTCHECK;

/* The "request_id" string of a request or reply object, or NULL. Points into obj. */
const char *pl_reqbuild_request_id(json_object *obj);

/*
 * The Kafka message key "<company>-<order>" of a request. company may be a JSON integer or
 * string, order a string or integer. Returns 0, PL_ERR_NOTFOUND when either is missing, or
 * PL_ERR_TOOBIG.
 */
int pl_reqbuild_key(json_object *req, char *out, size_t outsize) PL_MUSTCHECK;

/* True for the workers that take requests: auth, deposit, reversal, svc. */
bool pl_reqbuild_worker_ok(const char *worker);

/*
 * A worker's topic name: "<prefix>.<worker>.request", ".reply" or ".request.dlq". The worker
 * "dmupdate" (or "dm") has only a reply topic, "<prefix>.dm.decision". Returns 0,
 * PL_ERR_INVALID for an unknown worker or a kind it lacks, or PL_ERR_TOOBIG.
 */
int pl_reqbuild_topic(const char *prefix, const char *worker, pl_topic_kind kind, char *out,
                      size_t outsize) PL_MUSTCHECK;

#endif
