/*
 * svc.h: the spec of paylink-svc: stored value cards on Oracle Retail Customer Engagement
 * (service bureaus of protocol RLT; seed customer-engagement-stored-value-card.txt), CONTRACT.md
 * types `generate`, `activate`, `recharge`, `auth`, `deposit`, `return`, `balance`, recorded in
 * svc_trans and stored_value_card (013_stored_value.sql, 014_stored_value_claims.sql).
 *
 * What each type becomes (pl_svc_operation):
 *   generate → GenerateCard (no card in the request: the bureau gives one)
 *   activate → svc.virtual ? RechargeRequest (seed: a virtual card is activated with a Recharge
 *              request) : ActivateInstrumentRequest; the amount, else svc.issue_amount
 *   recharge → RechargeRequest        auth    → PreauthorizationRequest (a batch one with J19:
 *                                                InquiryRequest first, see below)
 *   deposit  → PostauthorizationRequest of the authorization auth_ref names
 *   return   → ReturnRequest (of the deposit capture_ref names, or stand-alone)
 *   balance  → InquiryRequest
 * Every message carries svc.card_number (in full, only to the bureau), the order as
 * RTPTransactionID, the request's currency (after the currency cross-reference) and the time.
 *
 * Business rules (README "Stored value rules"):
 *   - a deposit names a paylink stored value authorization (auth_ref.request_id) of the same
 *     company and order (else `invalid`), or an SVATransactionID (auth_ref.transaction_id): the
 *     order's authorization the bureau gave it, treated as if named by request id, or, when the
 *     order has none, one paylink does not hold (the bureau decides). A paylink authorization must
 * be an approved `auth` of the same card; a deposit greater than what remains of it (approved −
 *     deposited − voided − claimed) is `declined` without a bureau call: with the seed's advice
 *     ("a deposit greater than any single authorization is rejected … confirm the deposit
 *     manually") only when nothing of the authorization was deposited, voided or claimed; else
 *     saying what was and to authorize again (never to confirm it by hand). The deposit
 *     claims its amount on the authorization when it is marked sent (svc_trans.amount_pending),
 *     and a trigger settles the claim when the deposit's outcome is final (014);
 *   - a return naming the deposit it refunds (capture_ref.request_id: a paylink stored value
 *     deposit of the same company and order, in its currency, else `invalid`) must name an
 *     approved `deposit` of the same card and ask no more than it took less earlier returns and
 *     returns in flight (else `declined` without a bureau call); it claims its amount on the
 *     deposit when marked sent, settled by the same trigger into amount_returned (042). A
 *     return without capture_ref is a stand-alone credit of the card;
 *   - answers map as stored_value.h says (partial approvals, declines by ErrorCode, the vendor
 *     response tables, the inactive card's balance);
 *   - a generate's new card number is hashed and masked like any stored value card; the row and
 *     the stored reply hold it masked, the reply published for the answer holds it in full once
 *     (pl_job.reply_card_number_once); a replay of a generate carries the masked number;
 *   - an approved generate adds a stored_value_card row (generated, virtual, with the bureau's
 *     card prefix and series); an approved activation (activate, or the recharge of a card not
 *     yet active) makes the card active with its activation date and request, and adds a row for
 *     a physical card paylink never generated; a declined one records its response code;
 *   - the bureau unreachable (nothing sent): `error`, vendor response SU; a balance inquiry then
 *     says 0.00 (seed: ".00" when Customer Engagement cannot be reached);
 *   - no answer in time: the engine's `timeout` reply and required response, never a second call;
 *   - a new request whose call is ready to leave is recorded already marked sent, in one
 *     statement (spec->record_sent), unless it is a deposit naming an authorization, a return
 *     naming a deposit or an activation: that one is recorded with the row it names (the
 *     activation: its card's) read (prepare decides on it), then marked sent with its claim
 *     (spec->prepare_alone);
 *   - an activation of a card the Stored Value Card table has active, or held by another
 *     activation in flight or unknown, or for another amount or currency than the table records
 *     the card was issued for, is `declined` without a bureau call; its mark claims the
 *     card row (activation_pending), released by the settlement trigger when its outcome is
 *     final (043), so two activations in flight together are never both sent;
 *   - J19 (auth_service.balance_inquiry_batch, seed "Perform Balance Inquiry during Batch
 *     Authorizations"): an `auth` of mode `batch` first asks for the card's balance
 *     (InquiryRequest), then (spec->next_call, pl_svc_j19_decide) authorizes min(amount,
 *     balance) with a PreauthorizationRequest, so the hold never exceeds the balance and a short
 *     card is a partial approval as always; a card the inquiry finds inactive or with nothing on
 *     it is `declined` without a PreauthorizationRequest (no hold), and an inquiry answered with
 *     an error or a decline is the authorization's answer. The reply and `auth` row of either
 *     carry no SVATransactionID, authorization number or date (the inquiry's name no
 *     authorization). An online auth, and every auth of a bureau without J19, is one
 *     PreauthorizationRequest.
 */
#ifndef PL_SVC_H
#define PL_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "stored_value.h"

extern const pl_spec pl_svc_spec;

/* The bureau operation of a stored value request (see above); 0 for a type that is not one. */
pl_bureau_op pl_svc_operation(const pl_request *r);

/*
 * May a deposit of `amount` (minor units) on the card card_hash draw on the authorization a?
 * Returns false when it may; true when it is refused, with rep's status (`declined`) and
 * message filled (pl_stored_value_auth_refused, then the amount against what remains: the
 * seed's "Confirm the deposit manually" only for an authorization nothing drew on yet).
 */
bool pl_svc_deposit_refused(const pl_stored_value_auth *a, const char *card_hash, int64_t amount,
                            pl_reply *rep);

/*
 * May a return of `amount` (minor units) on the card card_hash refund the deposit dep (its
 * capture_ref)? Returns false when it may; true when it is refused, with rep's status
 * (`declined`) and message filled: dep unknown, not a stored value deposit, not approved, of
 * another card, or amount more than it took less earlier returns (amount_returned) and the
 * claims of returns in flight or unknown (amount_pending).
 */
bool pl_svc_return_refused(const pl_stored_value_auth *dep, const char *card_hash, int64_t amount,
                           pl_reply *rep);

/* An activation's card as the Stored Value Card table has it (migration 043), read from the
 * record unit's look-up. found is false when paylink has no row for the card. */
typedef struct pl_svc_card_state {
    bool found;
    char status[12];       /* generated, active, inactive */
    char activated_by[51]; /* request_id of the activation that made it active ("" if none) */
    char pending[51];      /* request_id of an activation in flight or unknown ("" if none) */
    bool has_issue;        /* the row records the card's issue amount: */
    int64_t issue;         /*   it, in minor units */
    char currency[4];      /* the card's currency ("" if not recorded) */
} pl_svc_card_state;

/* Reads row 0 of a look-up (the five card columns from column col on) into *c. */
void pl_svc_card_state_read(const PGresult *r, int col, pl_svc_card_state *c);

/*
 * May the activation request_id be sent for the card c? Returns false when it may (paylink has
 * no row for the card, or it is not active and no other activation holds it); true when it is
 * refused, with rep's status (`declined`) and message filled: the card is active (a recharge adds
 * value), or another activation of it is in flight or has an unknown outcome.
 */
bool pl_svc_activation_refused(const pl_svc_card_state *c, const char *request_id, pl_reply *rep);

/*
 * May a card paylink has a row for (c) be activated for `amount` (minor units) in `currency`?
 * Returns false when it may (no row, or the row records no issue amount and currency, or the
 * activation's are the card's); true when it is refused, with rep's status (`declined`) and
 * message filled: a card is activated for its issue amount (the seed's Stored Value Card table),
 * the one its generate recorded.
 */
bool pl_svc_activation_amount_refused(const pl_svc_card_state *c, int64_t amount,
                                      const char *currency, pl_reply *rep);

/*
 * The row besides its own that a stored value request's units touch (db.h, pl_db_unit_touch),
 * so that merged statements ("NAME:many") never put two requests on one such row together, nor
 * move one ahead of another that uses it: the authorization a deposit claims on and whose answer
 * settles it, or the deposit a return claims on (its request id, auth_request_id), else the Stored
 * Value Card row the answer of a generate, an activation or a recharge writes
 * ("stored_value_card:", the service bureau, ":" and the card's hash). out gets "" when there is
 * none (NULL or "" arguments).
 */
void pl_svc_touch_key(const char *auth_request_id, const char *bureau, const char *card_hash,
                      char *out, size_t outsize);

/* What a J19 batch authorization does after its balance inquiry (pl_svc_j19_decide). */
typedef enum pl_svc_j19 {
    PL_SVC_J19_PREAUTH,    /* authorize the amount decided */
    PL_SVC_J19_INACTIVE,   /* declined: the card is inactive; no PreauthorizationRequest */
    PL_SVC_J19_NO_BALANCE, /* declined: nothing on the card; no PreauthorizationRequest */
    PL_SVC_J19_ANSWERED,   /* the inquiry failed or was declined: its answer is the auth's */
} pl_svc_j19;

/*
 * The ErrorCode a J19 decline of an inactive card is mapped as (vendor_response.relate_response):
 * the one a PreauthorizationRequest of such a card is declined with (the seed names none; this is
 * the simulator's, which the demo maps to INACTIVE, hold AT), so the order system sees the same
 * vendor response and hold reason whether the bureau or paylink refused it. Only the vendor
 * response is mapped from it: svc_trans.error_code stays blank (the bureau said no such thing)
 * and error_text says why. A card without the balance is declined as the bureau's no-balance
 * answer is (PL_STORED_VALUE_NO_BALANCE_CODE, stored_value.h).
 */
#define PL_SVC_J19_INACTIVE_CODE "CARD_INACTIVE"

/*
 * J19: given the inquiry's answer (res) as the spec mapped it (inquiry: its status), and the
 * amount the authorization asks for (minor units), decides what follows. PL_SVC_J19_PREAUTH
 * sets *amount to min(requested, balance), or to requested when the answer has no balance
 * (the bureau then decides, as without J19); otherwise *amount is 0. Not approved →
 * PL_SVC_J19_ANSWERED; inactive (InstrumentState/Status or AccountStatus, as the balance
 * inquiry reads it) → PL_SVC_J19_INACTIVE, even with a balance; a balance of 0.00 or less →
 * PL_SVC_J19_NO_BALANCE.
 */
pl_svc_j19 pl_svc_j19_decide(const pl_bureau_result *res, pl_status inquiry, int64_t requested,
                             int64_t *amount);

/*
 * Takes the card number of an approved GenerateCard answer (job->res->svc_card_number, 1-20
 * digits): job->card_hash / job->card_masked become its hash and mask (with `key`, the paylink
 * hash key), job->reply.svc.card_number the mask, job->reply_card_number_once the number; the
 * number in job->res is wiped. Returns 0, or a negative pl_err (a number that is not 1-20
 * digits, or hashing failed) with nothing taken (and the number still wiped).
 */
int pl_svc_take_card(pl_job *job, const void *key, size_t keylen) PL_MUSTCHECK;

#endif
