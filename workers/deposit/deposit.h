/*
 * deposit.h: the spec of paylink-deposit: debit and credit deposits (CONTRACT.md types `debit`
 * and `credit`), recorded in cc_deposit_trans and cc_deposit_history (004_deposit.sql).
 *
 * Business rules (seed cybersource-point-to-point.txt "Deposit Process"):
 *   - a debit settles an authorization: auth_ref.request_id names a paylink authorization (its
 *     latest auth_history row), or auth_ref carries an inline manual authorization (transaction
 *     id, token, code, amount, date). It becomes ccCaptureService referencing it;
 *   - a debit whose amount exceeds what remains authorized, whose authorization has expired
 *     (authorization date + the pay type's reauthorization days, vendor_paytype.reauth_days),
 *     that is an installment, or whose authorization is missing or no longer usable becomes
 *     ccAuthService + ccCaptureService in one request (needs the card: the request's number or
 *     token, or the token of the paylink authorization);
 *   - a credit with capture_ref is a follow-on ccCreditService of that paylink debit; without
 *     it a stand-alone credit to the request's card;
 *   - a capture claims its amount on the authorization when it is marked sent (009_claims.sql),
 *     so two deposits in flight together never capture the same money: the second one finds
 *     less remaining and becomes an auth+capture (or is declined without a card);
 *   - after an approved capture the authorization's amount_deposited grows; with Void auth at
 *     deposit, the unused remainder is voided in auth_history (void_reason void_at_deposit).
 *     No reversal follows a partial capture: CyberSource refuses to reverse an authorization
 *     that was partly captured (238), so the issuer releases the remainder when it expires;
 *   - after an approved auth+capture, the old authorization is voided whatever Void auth at
 *     deposit says (seed step 6; void_reason auth_capture) and, when the bureau has Send
 *     reversal and nothing of it was captured, a reversal request for it is published on
 *     reversal.request (<request_id>.vdr), which the reversal worker carries out. While another
 *     deposit claims on the authorization the void waits (050) and no reversal is decided with
 *     the answer: the trigger that carries the void out records it as owed when nothing was
 *     captured (replaced_auth_reversal, 057), and this worker's resolver publishes it. A claim
 *     seen when the auth+capture was prepared but ended before its answer was stored leaves the
 *     void to be carried out at once with no reversal decided: the store records it as owed
 *     then (059);
 *   - a CyberSource auth+capture refused while the issuer holds the authorization it made
 *     (soft-declined 200, 230, 520; or `rejected`/`declined`/`error` with its ccAuthReply saying
 *     100, or 110 for part: a fraud score 400, a capture refused 102 or failed 150) captured
 *     nothing (its capture not answered 100) and the order
 *     system will not capture it: with Send reversal that authorization is reversed,
 *     <request_id>.sdr by its transaction id as a manual authorization, for ccAuthReply's amount
 *     (pl_deposit_reverses_refusal); not a 481 or soft decline whose answer says the issuer
 *     never authorized it (no ccAuthReply for a 481, or one that says 203), as paylink-auth;
 *   - a follow-on credit refunds at most what the debit captured less earlier credits (approved
 *     or open), claimed on the debit the same way;
 *   - references must belong to the request's own company and order, or it is invalid;
 *   - an authorization code in the answer that differs from the one sent (an auth+capture)
 *     adds an auth_history row, for a paylink or a manual authorization
 *     (auth_history.deposit_request_id names the deposit);
 *   - Level II/III data goes out with captures (the CYB adapter sends it);
 *   - no answer in time: the engine's timeout reply and required response, never a second
 *     capture (paylinkctl deposits receive settles it later by re-query).
 */
#ifndef PL_DEPOSIT_H
#define PL_DEPOSIT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "engine.h"

extern const pl_spec pl_deposit_spec;

/* What a deposit request becomes. */
typedef enum pl_deposit_kind {
    PL_DEP_REFUSE = 0,         /* answered without a bureau call */
    PL_DEP_CAPTURE,            /* ccCaptureService of the authorization */
    PL_DEP_AUTH_CAPTURE,       /* ccAuthService + ccCaptureService in one request */
    PL_DEP_CREDIT_FOLLOW_ON,   /* ccCreditService referencing the paylink debit */
    PL_DEP_CREDIT_STAND_ALONE, /* ccCreditService to the card */
} pl_deposit_kind;

/* The authorization a debit refers to, as read from auth_history or the inline auth_ref. */
typedef struct pl_deposit_auth {
    bool found;           /* a paylink authorization, or an inline manual one */
    bool usable;          /* approved (or review: the issuer approved), not voided or reversed */
    bool fraud_rejected;  /* rejected by fraud screening (481, score 400): its payment is dead */
    bool outcome_unknown; /* a paylink authorization with no answer yet (sent, unknown): found
                           * is false, and it may hold the funds all the same */
    bool has_remaining;   /* false: the amount is not known (manual auth without amount) */
    int64_t remaining; /* authorized − deposited − claimed by deposits in flight, minor units */
    char date[11];     /* YYYY-MM-DD of the authorization, "" when not known */
} pl_deposit_auth;

/* The debit a follow-on credit refers to. */
typedef struct pl_deposit_capture {
    bool found;
    bool approved;
    bool pending;       /* no outcome yet (received, sent, unknown): it may still be approved */
    int64_t refundable; /* captured − credited so far (approved or open), minor units */
} pl_deposit_capture;

typedef struct pl_deposit_choice {
    pl_deposit_kind kind;
    const char *reason; /* static text: capture, over_authorized, expired, installment,
                           no_authorization, follow_on, stand_alone; or why it is refused */
} pl_deposit_choice;

/*
 * The deposit-type decision (pure). r: the decoded request (type, amount, installment,
 * capture_ref); auth / cap: what the look-ups found (either may be NULL when not looked up);
 * has_card: a card number or token is available for a new authorization; reauth_days: the pay
 * type's reauthorization days; now: the clock (UTC days are compared).
 */
pl_deposit_choice pl_deposit_decide(const pl_request *r, const pl_deposit_auth *auth,
                                    const pl_deposit_capture *cap, bool has_card, int reauth_days,
                                    time_t now);

/*
 * The reply message of a deposit refused without a bureau call (choice.kind PL_DEP_REFUSE; not
 * authorization_unknown, an `error` whose text dep_prepare writes itself): the seed's Siebel
 * response message of the category first and unchanged (16 for a credit, 15 for a debit: order
 * systems may match its start), then one sentence saying why the deposit was refused and what
 * the order system can do (before, only the worker's log said why): capture_ref naming
 * no debit, a debit not approved (or without an outcome yet), more than the debit has left to
 * refund (how much it has), an authorization rejected by fraud screening, not usable, expired or
 * exceeded (how much is left) with no card to authorize anew. An unknown reason gets the Siebel
 * message alone. r: the request; auth / cap: what the decision saw (either may be NULL). out
 * (>= 200 bytes, pl_reply.message) always receives the whole text, never a cut one: every
 * sentence fits beside its Siebel message in 199 bytes, whatever the amounts.
 */
void pl_deposit_refusal_message(const pl_request *r, pl_deposit_choice choice,
                                const pl_deposit_auth *auth, const pl_deposit_capture *cap,
                                char *out, size_t outsize);

/* True when an authorization dated date (YYYY-MM-DD) has expired at now: today (UTC) is later
 * than date + reauth_days. An empty or malformed date never expires. */
bool pl_deposit_auth_expired(const char *date, int reauth_days, time_t now);

/*
 * The row besides its own that a deposit's mark and store touch (db.h, pl_db_unit_touch), so
 * that merged statements ("NAME:many") never put two deposits on one such row together: the
 * debit a follow-on credit claims on and releases (its request id, capture_request_id), else
 * the authorization's auth_history row a capture claims on and whose answer settles it
 * ("auth_history:" and auth_id; NULL or "" auth_id: none). out gets "" when there is none.
 */
void pl_deposit_touch_key(pl_deposit_kind kind, const char *auth_id, const char *capture_request_id,
                          char *out, size_t outsize);

/* The id of the reversal request published for the unused authorization of a deposit
 * (deterministic, so a republish is de-duplicated by the reversal worker). out: >= 51 bytes. */
void pl_deposit_reversal_request_id(const char *request_id, char *out, size_t outsize);

/*
 * Whether paylink-deposit's follow-up of the answer reply (as rendered: status,
 * vendor_response, auth.transaction_id) of job is the reversal <request_id>.sdr of the
 * authorization its auth+capture made: a CyberSource auth+capture (job->call.op) on a service
 * bureau with Send reversal, refused while the issuer holds that authorization's amount and
 * nothing was captured (pl_cybersource_answer_held with job->res's ccAuthReply reasonCode,
 * auth_reason_code, never the ccCaptureReply's: a Decision Manager 481 whose ccAuthReply says
 * 100 or 110, a soft decline the ccAuthReply does not say the issuer declined, any `rejected`,
 * `declined` or `error` one whose ccAuthReply says 100 or 110;
 * pl_cybersource_refused_but_authorized when job->res holds no answer, a reply replayed without it;
 * not when its capture was answered 100, capture_approved), with a transaction id to reverse, and
 * something held. True with amount (>= 24 bytes) what the issuer holds: ccAuthReply's amount (a
 * 110's part); without one, the amount asked (none for a 110: the part is not known).
 */
bool pl_deposit_reverses_refusal(const pl_job *job, json_object *reply, char *amount,
                                 size_t amountsz);

#endif
