/*
 * sim_ext.h: the simulated External Payment Service (EXT), message version 3.0, as paylink
 * defines its wire contract (notes/ext-wire.md): REST, one JSON object per request and answer,
 * OAuth 2 client-credentials bearer tokens, card tokens instead of card numbers.
 *
 * Routes (all POST; the demo's External URL Prefix is $PAYLINK_SIM_URL/ext):
 *   /ext/oauth2/token   RFC 6749 §4.4: form body grant_type=client_credentials, HTTP Basic
 *                       client credentials (each part form-urlencoded, §2.3.1). Any non-empty
 *                       client id; the password must be the configured client secret, or,
 *                       with none configured, anything non-empty but PL_SIM_EXT_BAD_SECRET
 *                       (the CyberSource route's convention). 200 {"access_token","token_type":
 *                       "Bearer","expires_in"} with Cache-Control: no-store; a refused client
 *                       401 {"error":"invalid_client"} (WWW-Authenticate: Basic); no or another
 *                       grant_type 400 invalid_request / unsupported_grant_type.
 *   /ext/<endpoint>     getToken, authorization, deposit, return, reversal, balanceInquiry,
 *                       generateGift, activateGift, rechargeGift. Without a valid
 *                       "Authorization: Bearer <token>" → 401 {"error":"invalid_token"} with
 *                       WWW-Authenticate: Bearer error="invalid_token": nothing read, applied
 *                       or recorded.
 * Access tokens are 64 hex characters of RAND_bytes, valid for the configured TTL; they
 * survive /__sim/reset (they are the client's session, not bureau state) and end with
 * pl_sim_ext_expire_tokens (POST /__sim/ext/expire-tokens). GET /__sim/ext/tokens answers
 * {"issued":N,"active":M}: tokens issued since the start, and those still valid.
 *
 * Requests and answers: the contract's fields. A request that is not one strict JSON object,
 * misses a required field, has one of the wrong type or value, or carries a card number
 * outside getToken (card.number, any member named number / cardNumber / accountNumber / pan,
 * or any other string that is a whole card number) → HTTP 200 {"decision":"ERROR",
 * "reasonCode":"INVALID","message":"<the field and what is wrong>"}; nothing applied, nothing
 * remembered for a repeat. Every answer carries messageVersion "3.0" and the requestID.
 *
 * Scenarios (CONTRACT.md §3, the whole-unit part of `amount`; getToken and balanceInquiry
 * have no amount, generateGift's is optional): 901 held, 902 HTTP 500 (HTML), 903 HTTP 200
 * that is not JSON, 904 dropped — nothing applied or recorded; 905 applied then held, 906
 * applied then dropped; 150 ERROR without reasonCode, nothing applied; 907 the first call of
 * a requestID answers 401 invalid_token (nothing applied; the requestID is remembered), its
 * next call is processed normally. Credit card (paymentType CC) authorizations also take the
 * CyberSource column: 110 half approved (reason 110), 202/203/204/205/211/231 REJECT with that
 * reason (these also for a stand-alone return). Every other amount is processed normally
 * (reason 100; 400/480/481 are plain approvals: EXT has no Decision Manager).
 *
 * Cards: getToken maps a number to "tok_" + 24 hex characters of an HMAC-SHA256 under a key
 * drawn at start (same number, same token, for the life of the process); the simulator keeps
 * the token and the masked number only. A credit card failing Luhn → REJECT 231, an expired
 * one → REJECT 202. generateGift makes a 16-digit, Luhn-valid number of the demo series
 * PL_SIM_EXT_GIFT_PREFIX (a counter never reset while the process lives) and answers it once
 * with its token. Every other operation names its card by card.token: one never handed out
 * → REJECT NOCARD.
 * Stored value (paymentType SVC): the ledger's accounts (pl_sim_ledger_svc_apply) keyed by
 * the token: generated cards start inactive at 0; activate/recharge load value and activate;
 * authorization approves min(amount, balance) and holds it; deposit settles against the
 * authorization named by transactionID (voidRemainder releases the rest); reversal releases
 * the authorization; return adds value; balanceInquiry answers balance and cardStatus.
 * Credit card (CC): authorization (capture: true → authorized and captured in one),
 * deposit against the authorization's transactionID, return against a deposit's
 * transactionID or stand-alone, reversal of a whole authorization.
 * Reason codes (PL_SIM_EXT_R_*): 100 approved, 110 partial, 202–231 declines, NOCARD,
 * INACTIVE, NOFUNDS, EXCEEDS, NOTRANS, VOIDED, SETTLED, ACTIVE, LIMIT (REJECT), INVALID
 * (ERROR).
 *
 * Idempotency: the answer to every request read (not to INVALID ones, nor to 901–904 and the
 * 907 401) is kept under its endpoint and requestID until /__sim/reset; the same requestID at
 * the same endpoint again gets that answer again at once (whatever its amount), applying
 * nothing. A 905/906 request's re-send therefore gets the answer the first call lost.
 *
 * Records: ledger rows of protocol "EXT", ref = requestID, bureau_id = the transactionID
 * answered: getToken "token" (0), authorization "auth" (CC with capture: "auth" and
 * "capture", one transactionID), deposit "capture" (CC) / "deposit" (SVC), return "credit" /
 * "return", reversal "reversal" / "void", generateGift "generate" (0), activateGift
 * "activate", rechargeGift "recharge"; balanceInquiry none. A voidRemainder deposit that
 * leaves something held adds a "reversal" / "void" row for the rest. GET /__sim/query?ref=
 * <requestID> finds the last answer (op as the row's, "auth_capture" for both, "inquiry";
 * reason_code the numeric reasonCode or 0, error_code a reasonCode that is not a number).
 *
 * Card numbers are never logged (masked "************1111"), never in the ledger or query
 * records; parsed copies are wiped. Thread-safe: one mutex per pl_sim_ext; a request's rules,
 * effects and remembered answer are one critical section.
 */
#ifndef PL_SIM_EXT_H
#define PL_SIM_EXT_H

#include <stdbool.h>

#include "err.h"
#include "sim_ledger.h"
#include "sim_proto.h"

#define PL_SIM_EXT_PATH "/ext/{endpoint}"
#define PL_SIM_EXT_TOKEN_PATH "/ext/oauth2/token"
/* The control routes: POST .../expire-tokens, GET .../tokens (sim_server.h). */
#define PL_SIM_EXT_CONTROL_PREFIX "/__sim/ext/"
#define PL_SIM_EXT_VERSION "3.0"
#define PL_SIM_EXT_TOKEN_TTL_DEFAULT 3600u
#define PL_SIM_EXT_TOKEN_TTL_MAX (366u * 24u * 3600u)
/* The client secret refused when none is configured (CyberSource's "bad-key"). */
#define PL_SIM_EXT_BAD_SECRET "bad-key"
/* generateGift's series: the prefix, an 11-digit counter from 1, a Luhn check digit. */
#define PL_SIM_EXT_GIFT_PREFIX "7077"
/* "tok_" + 24 hex characters. */
#define PL_SIM_EXT_CARD_TOKEN_LEN 28

#define PL_SIM_EXT_R_APPROVED "100"
#define PL_SIM_EXT_R_PARTIAL "110"
#define PL_SIM_EXT_R_NOCARD "NOCARD"     /* a card.token never handed out; no such account */
#define PL_SIM_EXT_R_INACTIVE "INACTIVE" /* stored value card not activated yet */
#define PL_SIM_EXT_R_NOFUNDS "NOFUNDS"   /* stored value balance 0 */
#define PL_SIM_EXT_R_EXCEEDS "EXCEEDS"   /* deposit / return over what is left */
#define PL_SIM_EXT_R_NOTRANS "NOTRANS"   /* transactionID unknown, or another card's */
#define PL_SIM_EXT_R_VOIDED "VOIDED"     /* the authorization was reversed */
#define PL_SIM_EXT_R_SETTLED "SETTLED"   /* the authorization was deposited (in full) */
#define PL_SIM_EXT_R_ACTIVE "ACTIVE"     /* activateGift of an active card */
#define PL_SIM_EXT_R_LIMIT "LIMIT"       /* the balance would exceed 9999999999999.99 */
#define PL_SIM_EXT_R_INVALID "INVALID"   /* decision ERROR: a bad request */

typedef struct pl_sim_ext pl_sim_ext;

typedef struct pl_sim_ext_cfg {
    unsigned token_ttl_s;      /* access token lifetime; 0 → PL_SIM_EXT_TOKEN_TTL_DEFAULT */
    const char *client_secret; /* NULL/"" → any non-empty password but PL_SIM_EXT_BAD_SECRET */
} pl_sim_ext_cfg;

/* New EXT state (copies cfg's strings), or NULL when out of memory or without randomness. */
pl_sim_ext *pl_sim_ext_new(const pl_sim_ext_cfg *cfg);

/* Frees everything, wiping the secret, the tokens and the answers. x may be NULL. */
void pl_sim_ext_destroy(pl_sim_ext *x);

/*
 * POST /__sim/reset: forgets the card tokens, the remembered answers and 907 requestIDs, and
 * the credit card authorizations (the ledger forgets the stored value accounts itself). Access
 * tokens, their counts and the gift card counter stay.
 */
void pl_sim_ext_reset(pl_sim_ext *x);

/* Every access token issued so far is expired from now on. Returns how many were valid. */
unsigned long pl_sim_ext_expire_tokens(pl_sim_ext *x);

/* Access tokens issued since the start, and those still valid now. */
void pl_sim_ext_token_counts(pl_sim_ext *x, unsigned long *issued, unsigned long *active);

/* True for PL_SIM_EXT_TOKEN_PATH and "/ext/" + one of the nine endpoints. */
bool pl_sim_ext_path_match(const char *path);

/*
 * Handles one request of the route; req->state is the pl_sim_ext (required). Fills resp: an
 * answer (200 JSON, 401, 400, 500 HTML, 200 not JSON), PL_SIM_HOLD (901, 905) or PL_SIM_DROP
 * (904, 906). Returns 0, PL_ERR_INVALID (no state) or PL_ERR_NOMEM.
 */
int pl_sim_ext_handle(pl_sim_ledger *ledger, const pl_sim_http_req *req, pl_sim_response *resp);

/*
 * The control routes under PL_SIM_EXT_CONTROL_PREFIX: POST expire-tokens → 200
 * {"expired":N} (tokens that were still valid), GET tokens → 200 {"issued":N,"active":M};
 * another path 404, another method 405 (text). Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_ext_control(pl_sim_ext *x, const char *method, const char *path, pl_sim_response *resp);

/* The route: POST /ext/... → pl_sim_ext_handle. */
extern const pl_sim_proto pl_sim_ext_proto;

#endif
