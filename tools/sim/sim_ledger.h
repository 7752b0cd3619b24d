/*
 * sim_ledger.h: what the simulated bureaus did — the ledger of effects, the last answer per
 * reference (for transaction queries), and the CyberSource card state the follow-on rules
 * need (authorizations, captures, tokens).
 *
 * The ledger is the simulator's proof of "at most once": every effect a bureau applied (a
 * token created, funds authorized, captured, credited, an authorization reversed; later the
 * stored value operations) is appended once, in order, and GET /__sim/ledger renders it as
 * the JSON array of CONTRACT.md §3. Declines, errors, faults and timeouts are not effects.
 *
 * The CyberSource rule functions check and apply in one critical section, so two concurrent
 * captures of one authorization cannot both pass the "remaining amount" check. They return
 * CyberSource reason codes:
 *   100  applied (and the effect appended)
 *   102  the referenced request ID is unknown (invalidField c:cc…Service/c:…RequestID)
 *   235  capture or credit of more than remains (authorized − captured; captured − credited).
 *        CyberSource documents 235 for captures; the simulator uses it for credits too
 *        ("the requested amount exceeds the originally authorized/captured amount").
 *   237  reversal of an authorization already reversed
 *   238  reversal of an authorization already captured (even partly)
 *   242  capture of an authorization with nothing left to capture: it was reversed, or it
 *        was already captured in full (CyberSource: "no corresponding, unused authorization")
 * or a negative pl_err (out of memory).
 *
 * Thread-safe: one mutex guards everything; any thread may call any function. Strings passed
 * in are copied. Amounts are minor units.
 */
#ifndef PL_SIM_LEDGER_H
#define PL_SIM_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct pl_sim_ledger pl_sim_ledger;

/* One effect: a row of GET /__sim/ledger. All strings required. */
typedef struct pl_sim_effect {
    const char *protocol;  /* "CYB", "RLT", "EXT" */
    const char *op;        /* "token", "auth", "capture", "credit", "reversal", "generate", … */
    const char *ref;       /* merchantReferenceCode (CYB), order number (RLT), … */
    int64_t amount;        /* minor units */
    const char *bureau_id; /* the ID the bureau returned (CYB: requestID) */
} pl_sim_effect;

/* The last answer the simulator gave for one reference (GET /__sim/query). */
typedef struct pl_sim_txn {
    char protocol[4];
    char op[24];      /* "auth", "token_auth", "auth_capture", "capture", … */
    char decision[8]; /* "ACCEPT", "REJECT", "REVIEW", "ERROR" */
    int reason_code;
    char request_id[48];
    char request_token[72];
    int64_t amount; /* approved amount; the requested one when not approved */
} pl_sim_txn;

/* A new, empty ledger, or NULL when out of memory. */
pl_sim_ledger *pl_sim_ledger_new(void);
/* Frees everything. l may be NULL. */
void pl_sim_ledger_destroy(pl_sim_ledger *l);
/* Forgets every effect, answer, authorization and token (POST /__sim/reset). */
void pl_sim_ledger_reset(pl_sim_ledger *l);

/* Appends one effect stamped with the current time. Returns 0, PL_ERR_INVALID or NOMEM. */
int pl_sim_ledger_append(pl_sim_ledger *l, const pl_sim_effect *e) PL_MUSTCHECK;
/* Number of effects so far. */
size_t pl_sim_ledger_count(pl_sim_ledger *l);
/*
 * Renders the ledger as the JSON array of CONTRACT.md §3:
 *   [{"protocol":"CYB","op":"auth","ref":"r1","amount":"120.00","bureau_id":"…","at":"…"}]
 * *out is malloc'd (caller frees). Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_ledger_to_json(pl_sim_ledger *l, char **out) PL_MUSTCHECK;

/* Remembers t as the last answer for ref (replacing an earlier one). 0 or NOMEM. */
int pl_sim_ledger_txn_record(pl_sim_ledger *l, const char *ref, const pl_sim_txn *t) PL_MUSTCHECK;
/* Copies the last answer for ref into *out. Returns 0 or PL_ERR_NOTFOUND. */
int pl_sim_ledger_txn_find(pl_sim_ledger *l, const char *ref, pl_sim_txn *out) PL_MUSTCHECK;
/*
 * The JSON answer of GET /__sim/query?ref=…:
 *   {"found":true,"protocol":"CYB","op":"auth","decision":"ACCEPT","reason_code":100,
 *    "request_id":"…","request_token":"…","amount":"120.00"}  or  {"found":false}
 * *out is malloc'd. *found tells which. Returns 0 or NOMEM.
 */
int pl_sim_ledger_txn_json(pl_sim_ledger *l, const char *ref, char **out, bool *found) PL_MUSTCHECK;

/* CyberSource: registers subscription_id as an issued token, appends a "token" effect. */
int pl_sim_ledger_cyb_token(pl_sim_ledger *l, const char *ref, const char *subscription_id,
                            const char *request_id, int64_t amount) PL_MUSTCHECK;
/* CyberSource: true when the simulator issued this subscription ID (and no reset since). */
bool pl_sim_ledger_cyb_token_known(pl_sim_ledger *l, const char *subscription_id);
/* CyberSource: registers an authorization of amount under request_id, appends "auth". */
int pl_sim_ledger_cyb_auth(pl_sim_ledger *l, const char *ref, const char *request_id,
                           int64_t amount) PL_MUSTCHECK;
/* CyberSource: captures amount of auth_request_id as capture_request_id. 100/102/235/242. */
int pl_sim_ledger_cyb_capture(pl_sim_ledger *l, const char *ref, const char *auth_request_id,
                              const char *capture_request_id, int64_t amount) PL_MUSTCHECK;
/*
 * CyberSource: credits amount. With capture_request_id (a follow-on credit) the rules apply
 * (100/102/235); with NULL it is a stand-alone credit to a card and always applies (100).
 */
int pl_sim_ledger_cyb_credit(pl_sim_ledger *l, const char *ref, const char *capture_request_id,
                             const char *credit_request_id, int64_t amount) PL_MUSTCHECK;
/*
 * CyberSource: reverses the whole authorization auth_request_id (100/102/237/238);
 * *amount receives the amount released (the authorized amount) when 100.
 */
int pl_sim_ledger_cyb_reversal(pl_sim_ledger *l, const char *ref, const char *auth_request_id,
                               const char *reversal_request_id, int64_t *amount) PL_MUSTCHECK;

#endif
