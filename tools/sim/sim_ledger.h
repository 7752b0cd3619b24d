/*
 * sim_ledger.h: what the simulated bureaus did — the ledger of effects, the last answer per
 * reference (for transaction queries), the CyberSource card state the follow-on rules need
 * (authorizations, captures, tokens), the CyberSource requests and REVIEWs its reports show
 * (the Single Transaction Query, the Decision Manager report), and the Customer Engagement
 * stored value state (cards, balances, preauthorization holds, card series), whose accounts and
 * rules also serve the External Payment Service's stored value cards (pl_sim_ledger_svc_*, rows of
 * protocol EXT).
 *
 * The ledger is the simulator's proof of "at most once": every effect a bureau applied (a
 * token created, funds authorized, captured, credited, an authorization reversed; a stored
 * value card generated, activated, recharged, authorized, deposited, returned to, voided) is
 * appended once, in order, and GET /__sim/ledger renders it as the JSON array of
 * CONTRACT.md §3. Declines, errors, faults and timeouts are not effects.
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
 *        was already captured in full (CyberSource: "no corresponding, unused authorization");
 *        the handler (sim_cyb.c) also answers it to a timeout reversal whose
 *        merchantTransactionIdentifier names no authorization
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
#include <time.h>

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
    int64_t amount;      /* approved amount; the requested one when not approved */
    char error_code[32]; /* RLT: the ErrorCode of a Rejected answer; "" otherwise */
} pl_sim_txn;

/* A new, empty ledger, or NULL when out of memory. */
pl_sim_ledger *pl_sim_ledger_new(void);
/* Frees everything. l may be NULL. */
void pl_sim_ledger_destroy(pl_sim_ledger *l);
/* Forgets every effect, answer, authorization (and its merchantTransactionIdentifier), token,
 * REVIEW, armed fault and armed soft decline (POST /__sim/reset). */
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
 * plus "error_code":"…" after "amount" when the record has one (RLT declines).
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

/* Longest merchantReferenceCode a soft decline can be armed for (CyberSource's limit). */
#define PL_SIM_CYB_REF_MAX 50

/*
 * CyberSource soft declines (the control route /__sim/cyb/soft_decline, sim_cyb.h): the issuer
 * approves, CyberSource answers REJECT with reason (200 AVS failed, 230 CVN failed, 520 Smart
 * Authorization), and the funds stay held. Armed for the next authorization of ref
 * (1–PL_SIM_CYB_REF_MAX characters), replacing one armed before; one authorization takes it,
 * a reset clears it. Not an effect. Returns 0, PL_ERR_INVALID (ref, or a reason other than
 * 200, 230, 520) or NOMEM.
 */
int pl_sim_ledger_cyb_soft_decline_set(pl_sim_ledger *l, const char *ref, int reason) PL_MUSTCHECK;

/* True, with *reason filled and the soft decline spent, when one is armed for ref. */
bool pl_sim_ledger_cyb_soft_decline_take(pl_sim_ledger *l, const char *ref, int *reason);

/*
 * CyberSource timeout authorization reversals: an authorization that carried a
 * merchantTransactionIdentifier (mti) can be reversed by that identifier alone, without its
 * requestID, when its answer was lost. pl_sim_ledger_cyb_auth_mti remembers that the
 * authorization request_id, registered before with pl_sim_ledger_cyb_auth, was sent with mti;
 * a later authorization with the same mti takes its place (the latest one is the one whose
 * answer a client can be missing). Not an effect. Returns 0, PL_ERR_INVALID (mti or request_id
 * NULL or ""), PL_ERR_NOTFOUND (request_id is no authorization) or NOMEM.
 */
int pl_sim_ledger_cyb_auth_mti(pl_sim_ledger *l, const char *mti,
                               const char *request_id) PL_MUSTCHECK;
/*
 * Copies the requestID of the authorization last remembered with mti into out (then reversed
 * with pl_sim_ledger_cyb_reversal like any other). Returns 0, PL_ERR_NOTFOUND (no authorization
 * applied with that identifier since the last reset: never sent, declined, or one of 901–904
 * that never reached the bureau), PL_ERR_TOOBIG (out too small) or PL_ERR_INVALID.
 */
int pl_sim_ledger_cyb_auth_by_mti(pl_sim_ledger *l, const char *mti, char *out,
                                  size_t outsize) PL_MUSTCHECK;
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

/*
 * CyberSource Decision Manager: every REVIEW (480) the simulator answered, kept until reset,
 * for the Conversion Detail Report (sim_dm.h), which shows each one as reviewed at the moment
 * it was answered. Plain value; strings NUL-terminated (longer input is refused, not cut).
 */
typedef struct pl_sim_review {
    char merchant_reference[51]; /* merchantReferenceCode (CyberSource allows 50) */
    char request_id[48];         /* the requestID the simulator answered */
    char merchant_id[64];        /* the request's merchantID ("" when it had none) */
    int64_t amount;              /* minor units: the authorization's grandTotalAmount */
    time_t answered;             /* when the REVIEW was answered, Unix seconds (UTC) */
} pl_sim_review;

/*
 * Remembers one REVIEW. ref and request_id required (non-empty), merchant_id may be NULL or
 * "". answered 0 stamps the current time. Returns 0, PL_ERR_INVALID (missing or too long) or
 * NOMEM. Not an effect: the ledger row is the "auth" the caller appended.
 */
int pl_sim_ledger_cyb_review(pl_sim_ledger *l, const char *ref, const char *request_id,
                             const char *merchant_id, int64_t amount, time_t answered) PL_MUSTCHECK;

/*
 * A copy of every REVIEW remembered, in the order they were answered: *out is malloc'd (the
 * caller frees it; NULL when *n is 0). Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_ledger_cyb_reviews(pl_sim_ledger *l, pl_sim_review **out, size_t *n) PL_MUSTCHECK;

/*
 * CyberSource: every request the simulator answered (not 901–904, which it "failed before
 * processing"; 905 and 906 were processed), kept until reset, for the On-Demand Single
 * Transaction Query (sim_query.h), which shows each as a Transaction Detail Report record.
 * Plain value, strings NUL-terminated; no card number, only its last four digits.
 */
#define PL_SIM_CYB_MAX_APPS 8

/* One ICS application of a request (bureau-wire-formats.md §4): what it answered. */
typedef struct pl_sim_cyb_app {
    char name[32];   /* "ics_auth", "ics_bill", "ics_credit", "ics_auth_reversal", ... */
    int reason_code; /* its reasonCode: 100, 110, 203, 150, 480, ... */
} pl_sim_cyb_app;

typedef struct pl_sim_cyb_request {
    char merchant_id[64];        /* the request's merchantID ("" when it had none) */
    char merchant_reference[51]; /* merchantReferenceCode ("" when it had none) */
    char request_id[48];         /* the requestID answered (required) */
    time_t answered;             /* Unix seconds (UTC); 0 stamps the current time */
    char decision[8];            /* the reply's: "ACCEPT", "REJECT", "REVIEW", "ERROR" */
    int reason_code;             /* the reply's reasonCode */
    char currency[8];            /* purchaseTotals/currency as sent; "" when absent */
    bool has_amount;
    int64_t amount;             /* what was approved, else what was asked (minor units) */
    char auth_code[8];          /* an approved authorization's code; "" otherwise */
    char reconciliation_id[24]; /* the reply's reconciliationID */
    char avs, cvn;              /* the codes answered; '\0' when none */
    char subscription_id[48];   /* the token created, else the one paid with; "" if none */
    char card_suffix[5];        /* the card number's last four digits; "" without a card */
    int exp_month, exp_year;    /* the card's expiry; 0 without a card */
    char card_type[4];          /* pl_card_type_guess's "VI", "MC", ...; "" when unknown */
    pl_sim_cyb_app apps[PL_SIM_CYB_MAX_APPS]; /* the applications, in the report's order */
    size_t napps;
} pl_sim_cyb_request;

/*
 * Remembers a copy of r. Returns 0, PL_ERR_INVALID (no request_id, a string not terminated
 * within its field, napps over PL_SIM_CYB_MAX_APPS) or NOMEM. Not an effect: the ledger rows
 * are the handler's.
 */
int pl_sim_ledger_cyb_request(pl_sim_ledger *l, const pl_sim_cyb_request *r) PL_MUSTCHECK;

/*
 * Copies of the requests remembered as request_id when it is not empty, else of those with
 * merchantReferenceCode merchant_reference (none when both are empty), that keep(r, arg)
 * selects (keep NULL: all), in the order they were answered: *out is malloc'd (the caller frees
 * it; NULL when *n is 0). keep runs under the ledger's lock and must not call the ledger.
 * Found by an index, so the cost follows the requests of that ID or reference, not every
 * request the simulator answered (a transaction query, which a worker's resolver makes for each
 * unknown outcome, read them all under the lock every answer takes: ~3 million in a long-lived
 * dev environment). Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_ledger_cyb_requests(pl_sim_ledger *l, const char *request_id,
                               const char *merchant_reference,
                               bool (*keep)(const pl_sim_cyb_request *r, void *arg), void *arg,
                               pl_sim_cyb_request **out, size_t *n) PL_MUSTCHECK;

/*
 * Customer Engagement stored value (RLT). A card is a number (any text; the simulator is a
 * test double and keeps full numbers in memory, never in the ledger rows) with an account:
 * active or not, a balance, and the open preauthorization holds. The balance reported to a
 * client is the available one, balance − holds. Each operation checks and applies in one
 * critical section and appends its effect: ref is the order (RTPTransactionID), bureau_id
 * the SVATransactionID handed out. The rules:
 *   activate  unknown card → created active with the amount; a generated (inactive) card →
 *             activated, amount added; an active card → CARD_ALREADY_ACTIVE
 *   recharge  adds the amount; activates a generated card
 *   preauth   approves min(amount, available) and holds it; available 0 → INSUFFICIENT_FUNDS
 *   postauth  settles up to what the preauthorization still holds (AMOUNT_EXCEEDS_AUTHORIZATION
 *             beyond; TRANSACTION_ALREADY_VOIDED after a void); the rest stays held
 *   return    adds the amount
 *   void      releases what the preauthorization still holds, once (TRANSACTION_ALREADY_VOIDED;
 *             TRANSACTION_ALREADY_SETTLED when nothing is held any more)
 *   inquiry   no effect
 * Unknown card → CARD_NOT_FOUND; an inactive card on preauth/postauth/return/void →
 * CARD_INACTIVE; a postauth or void naming no preauthorization of this card →
 * TRANSACTION_NOT_FOUND; a balance beyond PL_MONEY_MAX → BALANCE_LIMIT_EXCEEDED.
 */
#define PL_SIM_RLT_E_CARD_NOT_FOUND "CARD_NOT_FOUND"
#define PL_SIM_RLT_E_CARD_INACTIVE "CARD_INACTIVE"
#define PL_SIM_RLT_E_CARD_ACTIVE "CARD_ALREADY_ACTIVE"
#define PL_SIM_RLT_E_INSUFFICIENT_FUNDS "INSUFFICIENT_FUNDS"
#define PL_SIM_RLT_E_TXN_NOT_FOUND "TRANSACTION_NOT_FOUND"
#define PL_SIM_RLT_E_EXCEEDS_AUTH "AMOUNT_EXCEEDS_AUTHORIZATION"
#define PL_SIM_RLT_E_VOIDED "TRANSACTION_ALREADY_VOIDED"
#define PL_SIM_RLT_E_SETTLED "TRANSACTION_ALREADY_SETTLED"
#define PL_SIM_RLT_E_BALANCE_LIMIT "BALANCE_LIMIT_EXCEEDED"
#define PL_SIM_RLT_E_ALL_GENERATED "ALL_CARDS_GENERATED"

/* Longest card number, CardPrefix + CardSeriesSequence, and SVATransactionID text. */
#define PL_SIM_RLT_CARD_MAX 32
#define PL_SIM_RLT_SERIES_MAX 12
#define PL_SIM_RLT_ID_MAX 16
/* Longest order number (RTPTransactionID) a fault can be armed for. */
#define PL_SIM_RLT_ORDER_MAX 50
/* Digits of a generated card number. */
#define PL_SIM_RLT_CARD_DIGITS 16

typedef enum pl_sim_rlt_op {
    PL_SIM_RLT_ACTIVATE = 1, /* ActivateInstrumentRequest */
    PL_SIM_RLT_RECHARGE,     /* RechargeRequest */
    PL_SIM_RLT_PREAUTH,      /* PreauthorizationRequest */
    PL_SIM_RLT_POSTAUTH,     /* PostauthorizationRequest */
    PL_SIM_RLT_RETURN,       /* ReturnRequest */
    PL_SIM_RLT_INQUIRY,      /* InquiryRequest */
    PL_SIM_RLT_VOID,         /* VoidRequest */
} pl_sim_rlt_op;

/* The ledger op of CONTRACT.md §3: "activate", "recharge", "auth", "deposit", "return",
 * "inquiry" (never a ledger row), "void". Static string. */
const char *pl_sim_ledger_rlt_op_name(pl_sim_rlt_op op);

/* What a stored value operation did, and the account after it. */
typedef struct pl_sim_rlt_outcome {
    const char *error; /* NULL: applied (inquiry: answered); else a PL_SIM_RLT_E_* ErrorCode */
    /* The account, when the card exists (also with most errors). */
    bool card_known;
    bool active;
    unsigned account_id;
    int64_t available;         /* balance − open holds */
    struct timespec effective; /* activation (or, while inactive, creation) time */
    /* When applied. */
    int64_t amount;       /* added, approved, settled or released; 0 for an inquiry */
    int64_t preauth_left; /* postauth: what the preauthorization still holds afterwards */
    char sva_id[PL_SIM_RLT_ID_MAX + 1]; /* the SVATransactionID handed out */
} pl_sim_rlt_outcome;

/*
 * Applies one stored value operation to card. ref (the order) is required for every op but
 * PL_SIM_RLT_INQUIRY (may be NULL then); preauth_id names the preauthorization for POSTAUTH
 * and VOID (else ignored). amount: minor units, >= 0 (ignored for INQUIRY and VOID).
 * Returns 0 with *out filled (out->error says whether it applied), or PL_ERR_INVALID / NOMEM.
 */
int pl_sim_ledger_rlt_apply(pl_sim_ledger *l, pl_sim_rlt_op op, const char *card, const char *ref,
                            int64_t amount, const char *preauth_id,
                            pl_sim_rlt_outcome *out) PL_MUSTCHECK;

/*
 * The same stored value accounts and rules for another protocol (EXT): the rows name
 * protocol ("EXT") instead of "RLT". card is the account's key, 1–PL_SIM_RLT_CARD_MAX
 * characters: EXT keys its accounts by card token ("tok_…"), which no RLT card number can
 * equal (those are letters, digits, '*' and '-'), so the two bureaus' cards never meet.
 * Arguments, rules and returns as pl_sim_ledger_rlt_apply, which is this with "RLT".
 */
int pl_sim_ledger_svc_apply(pl_sim_ledger *l, const char *protocol, pl_sim_rlt_op op,
                            const char *card, const char *ref, int64_t amount,
                            const char *preauth_id, pl_sim_rlt_outcome *out) PL_MUSTCHECK;

/*
 * Opens the account of a new virtual card: inactive, balance 0, as GenerateCard's (activate
 * or recharge load and activate it). Appends a "generate" row of protocol (ref, amount 0,
 * bureau_id the SVATransactionID handed out in out->sva_id). Returns 0 with *out filled,
 * PL_ERR_STATE when card already has an account, PL_ERR_INVALID or NOMEM.
 */
int pl_sim_ledger_svc_open(pl_sim_ledger *l, const char *protocol, const char *card,
                           const char *ref, pl_sim_rlt_outcome *out) PL_MUSTCHECK;

/*
 * True when prefix and sequence name a card series: both digits only and not empty, together
 * at most PL_SIM_RLT_SERIES_MAX digits. NULL is not a series.
 */
bool pl_sim_ledger_rlt_series_ok(const char *prefix, const char *sequence);

/*
 * GenerateCard: the next number of the series prefix + sequence (digits, together at most
 * PL_SIM_RLT_SERIES_MAX): prefix, sequence, then a counter from 1, zero-padded to
 * PL_SIM_RLT_CARD_DIGITS digits, skipping numbers already known. The card is created inactive
 * with a balance of 0. instrument receives the InstrumentID (prefix, sequence, batch "001",
 * the counter in 6 or more digits). The series answers PL_SIM_RLT_E_ALL_GENERATED when its
 * remaining count (pl_sim_ledger_rlt_series_set) is 0 or its counter is used up. The effect
 * is "generate", ref "<prefix>-<sequence>", amount 0, bureau_id the InstrumentID.
 * card_size >= PL_SIM_RLT_CARD_DIGITS + 1; instrument_size >= 32.
 * Returns 0 with *out filled, or PL_ERR_INVALID / NOMEM.
 */
int pl_sim_ledger_rlt_generate(pl_sim_ledger *l, const char *prefix, const char *sequence,
                               char *card, size_t card_size, char *instrument,
                               size_t instrument_size, pl_sim_rlt_outcome *out) PL_MUSTCHECK;

/* Sets how many more numbers the series may generate: remaining >= 0, or -1 for unlimited
 * (the default). Survives until the next reset. Returns 0, PL_ERR_INVALID or NOMEM. */
int pl_sim_ledger_rlt_series_set(pl_sim_ledger *l, const char *prefix, const char *sequence,
                                 int64_t remaining) PL_MUSTCHECK;

/* Reads a series: *remaining (-1 unlimited) and *generated (numbers handed out so far); an
 * unknown series reads as unlimited with 0 generated. */
void pl_sim_ledger_rlt_series_get(pl_sim_ledger *l, const char *prefix, const char *sequence,
                                  int64_t *remaining, uint64_t *generated);

/*
 * A SOAP fault armed for the next Customer Engagement call naming an order (the control route
 * /__sim/relate/fault, sim_relate.h): what a real service answers when it fails inside
 * (SOAP-ENV:Server), perhaps after it has applied the operation, or refuses a message before
 * processing it (SOAP-ENV:Client).
 */
typedef struct pl_sim_rlt_fault {
    char op[16];  /* the call it waits for: an op name of pl_sim_ledger_rlt_op_name, "" any */
    bool server;  /* SOAP-ENV:Server; else SOAP-ENV:Client */
    bool applied; /* the operation is applied (and recorded) before the fault is answered */
} pl_sim_rlt_fault;

/* Arms f for order (1–PL_SIM_RLT_ORDER_MAX characters), replacing one armed before. It answers
 * one call, then is spent; a reset clears it. Returns 0, PL_ERR_INVALID or NOMEM. */
int pl_sim_ledger_rlt_fault_set(pl_sim_ledger *l, const char *order,
                                const pl_sim_rlt_fault *f) PL_MUSTCHECK;

/* True, with *f filled and the fault spent, when one is armed for a call of op (an op name of
 * pl_sim_ledger_rlt_op_name) naming order. */
bool pl_sim_ledger_rlt_fault_take(pl_sim_ledger *l, const char *order, const char *op,
                                  pl_sim_rlt_fault *f);

#endif
