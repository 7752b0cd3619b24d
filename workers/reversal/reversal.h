/*
 * reversal.h: the spec of paylink-reversal: credit card authorization reversals (CONTRACT.md
 * type `reversal`, ccAuthReversalService) and stored value voids (Customer Engagement
 * VoidRequest, below), recorded in auth_reversal (005_reversal.sql, 014_stored_value_claims.sql).
 *
 * A reversal names the authorization it releases in `auth_ref`: the request_id of an earlier
 * paylink auth, or inline the transaction_id / request_token / number / date of a manual
 * authorization (then, when paylink has an auth_history row with that transaction_id, that row
 * is the one reversed). Cancellations and deactivations of credit card payments arrive here
 * from upstream; paylink-auth publishes one for a Decision Manager reject (481) and, on
 * CyberSource, for a soft decline (200, 230, 520: the issuer approved, CyberSource declined) and
 * for any rejected, declined or error answer whose ccAuthReply says the issuer authorized it
 * (100, or 110 for part of the amount: auth_history.issuer_authorized, migrations 060, 064).
 *
 * Business rules (seed cybersource-point-to-point.txt "Authorization Reversal Process",
 * "Credit Card Authorization Reversal"):
 *   - the service bureau must have Send reversal selected;
 *   - the authorization reversed is the latest auth_history answer of the referenced request
 *     (an auth+capture row is a deposit, not an authorization);
 *   - refused before any bureau call, with status `declined` and a message saying why
 *     (pl_reversal_check): an auth_ref.request_id paylink does not know; an authorization
 *     that is not approved, in review or rejected after the issuer approved it (declined,
 *     but for a CyberSource soft decline or one the issuer authorized, issuer_authorized;
 *     error, but for one the issuer authorized, issuer_authorized); one already reversed in our
 *     records
 * (vendor_response "237", as the bureau would say); one captured in whole or in part
 * (vendor_response "238"); one a deposit or another reversal has in flight (amount_pending), or
 * a timeout reversal (timeout_in_flight); one without a bureau transaction id. An authorization a
 * deposit voided while nothing of it was captured (an auth+capture replaced it) is still held at
 * the bureau and is reversed;
 *   - references must belong to the request's own company and order, or it is invalid;
 *   - the whole authorization is claimed (auth_history.amount_pending) in the statement that
 *     marks the reversal sent, so no capture can start against it meanwhile (009_claims.sql);
 *   - ccAuthReversalService with authRequestID / authRequestToken of the authorization, the
 *     request's amount and currency (CyberSource releases the whole authorization) — a paylink
 *     authorization's whole amount authorized, whatever the request names, and for a refused
 *     one (no amount authorized) after a partial approval, what the issuer holds of it
 *     (auth_history.amount_issuer_held, migration 061: above it CyberSource refuses the
 *     reversal; the reply's message says all of it was released);
 *   - ACCEPT → approved (amount_approved = the amount reversed) and the auth_history row
 *     becomes `reversed` in the same database unit; one reversing less than was sent (an
 *     External Payment Service answer's amount) says so in its message, and the row keeps its
 *     status with amount_authorized = what is still held, capturable or reversed later
 *     (migration 058); one paylink requested itself asks for the rest (`.rest`,
 *     pl_reversal_rest_of), as nobody reads its reply; REJECT → declined with the reason (237
 *     already reversed, 238 already captured, 102 unknown authorization, …); ERROR or a SOAP
 *     fault → error; an unknown decision falls back on the vendor_response table;
 *   - merchant ID hierarchy as for the authorization (the request's pay type, else the
 *     authorization's).
 *
 * Stored value voids (the request's service bureau has protocol RLT: Customer Engagement, seed
 * customer-engagement-stored-value-card.txt "Void Request"): auth_ref.request_id names a paylink
 * stored value authorization (svc_trans, same company and order, else invalid) and the request
 * carries the card (svc.card_number, which the VoidRequest names). It becomes a VoidRequest for
 * what the authorization still holds (approved − deposited − voided: the seed's authorized
 * amount, whatever the request's amount says) with the authorization's SVATransactionID.
 * Refused before any call (`declined`, the message says why) when the card is missing or is not
 * the authorization's, the authorization is unknown, not an approved stored value `auth`, has no
 * SVATransactionID, has a deposit or another void in flight, or has nothing left to void. Send
 * reversal (a CyberSource setting) does not apply. The void claims that amount on the
 * authorization (svc_trans.amount_pending) when it is marked sent; the
 * auth_reversal_settle_svc_void trigger (014) releases it when the outcome is final and adds what
 * was voided to svc_trans.amount_voided. An auth_ref.transaction_id alone names the order's
 * authorization the bureau gave that SVATransactionID, voided as if named by request id; one no
 * authorization of the order has (paylink does not hold it) is voided for the request's amount,
 * and the bureau decides. Answers map as
 * every stored value answer does (stored_value.h); the row's operation is svc_void.
 */
#ifndef PL_REVERSAL_H
#define PL_REVERSAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "reply.h"
#include "reversal_own.h"

extern const pl_spec pl_reversal_spec;

/* What paylink's records say about the authorization a reversal refers to. */
typedef struct pl_reversal_auth {
    bool found;        /* an auth_history row was found */
    char status[12];   /* its status: approved, review, rejected, reversed, voided, ... */
    int64_t deposited; /* amount_deposited (minor units) */
    int64_t pending;   /* amount_pending: deposits (or a reversal) in flight on it */
    char transaction_id[65];
    /* declined as a CyberSource soft decline (pl_cybersource_soft_decline, on a CYB bureau):
     * the issuer approved it and holds its amount */
    bool soft_declined;
    /* declined (or error) by CyberSource while its ccAuthReply said the issuer authorized it
     * (100, or 110 for part: auth_history.issuer_authorized, migrations 060, 064; a token+auth
     * refused 102 for its token, an ERROR 150, on a CYB bureau): the issuer holds its amount, as
     * for a soft decline */
    bool issuer_authorized;
    /* a timeout reversal of it is in flight (sent, or its outcome unknown): it releases the
     * authorization whole, and no other reversal of it goes beside it */
    bool timeout_in_flight;
} pl_reversal_auth;

/*
 * The local rules: may the reversal go to the bureau? `by_request_id` is true when the
 * request named a paylink auth (auth_ref.request_id), false for an inline manual
 * authorization (which goes to the bureau when paylink does not know it).
 * Returns false when it may be sent; true when it is refused, with rep's status, vendor
 * response and message filled (the rest of rep untouched).
 */
bool pl_reversal_check(const pl_reversal_auth *a, bool by_request_id, pl_reply *rep);

/*
 * paylink's own reversals (`.rev`, `.tor`, `.dmrev`, `.vdr`, `.sdr`, and the `.rest` asked after
 * one: pl_reversal_own, pl_reversal_by_paylink, ...) and the rest of one approved for less
 * (pl_reversal_rest_for) are common/reversal_own.h's: the resolver asks for that rest too, after
 * an operator's outcome of one whose outcome was unknown, by the same rule.
 */

/*
 * The rest paylink-reversal asks for with the reply of the job (prepared by this spec, answered:
 * job->call.amount sent) to a reversal of its own, reply being that reply (its status and
 * amount_approved): pl_reversal_rest_for of what the job knows (1 with out filled to publish, -1
 * when it is left to an operator, out's amount saying what is still held), and 0 too for a
 * stored value void or a job not prepared here (a replay). out->of points into the job's
 * request.
 */
int pl_reversal_rest_of(const pl_job *job, json_object *reply, pl_reversal_rest_request *out);

/*
 * The resolver's timeout reversal of an authorization whose outcome it could not confirm is
 * sent while that authorization is still unknown, and once an operator settled it `error` or
 * `rejected` (the resolver tells an operator to resolve it as error while the reversal is in
 * flight; a reject's own reversal is then not published): whatever the bureau holds, this
 * reversal releases it. Once its outcome is known otherwise — approved or held for review by an
 * operator after the reversal failed, or the bureau's answer came late — it was already
 * published upstream, and reversing it would take away an authorization the order system
 * holds. True, with rep refused, when request_id is such a timeout reversal of auth_request_id,
 * auth_unknown is false and auth_status is neither error nor rejected, nor the authorization
 * soft_declined (a late soft decline, or a decline the issuer authorized: the issuer holds its
 * amount, as for a reject).
 */
bool pl_reversal_timeout_settled(const char *request_id, const char *auth_request_id,
                                 bool auth_unknown, const char *auth_status, bool soft_declined,
                                 pl_reply *rep);

/* A human text for a reversal reason code ("237" → already reversed), or NULL when none. */
const char *pl_reversal_reason_text(const char *code);

/*
 * The row besides its own that a reversal's mark and store touch (db.h, pl_db_unit_touch), so
 * that merged statements ("NAME:many") never put two reversals of one authorization together:
 * the stored value authorization a void claims on (its request id, auth_request_id), else the
 * card authorization's auth_history row ("auth_history:" and auth_id). out gets "" when the
 * authorization is not known (a manual one: nothing is claimed).
 */
void pl_reversal_touch_key(bool stored_value, const char *auth_id, const char *auth_request_id,
                           char *out, size_t outsize);

#endif
