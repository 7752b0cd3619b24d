/*
 * stored_value.h: how a stored value card answer (Customer Engagement, `RLT`: seed
 * customer-engagement-stored-value-card.txt) becomes a reply, and how a stored value card number
 * is written down. Shared by paylink-svc (every stored value request) and paylink-reversal (the
 * Void of a stored value authorization), so both read an answer the same way.
 *
 * The rules of pl_stored_value_map (README "Stored value rules"):
 *   - a SOAP fault → `error` ("The payment service refused the request (<faultcode>).");
 *   - ErrorCode SYSTEM_ERROR → `error` (the bureau failed, not the card: CONTRACT.md §3's 150);
 *   - any other ErrorCode, or ResponseCode "Rejected" → `declined`, message the bureau's
 *     ResponseDescription when it gave one;
 *   - a GenerateCard whose ResponseCode is neither "OK" nor "Rejected" ("Failed"), without an
 *     ErrorCode → `error` (no card was generated, and no row can say why), message "The payment
 *     service did not generate a card (ResponseCode Failed)." with the ResponseDescription
 *     after a colon when there is one; never approved (an answer with no ResponseCode is
 *     read by the other rules, as an External Payment Service answer, which has none);
 *   - else, when a vendor_response row maps the answer (by its reason code, as there is no
 *     ErrorCode), that row's `approved` decides (seed "Response codes": the ORCE response
 *     "identif[ies] whether the stored value card transaction was approved or declined"): not
 *     approved → `declined`, with the row's hold reason;
 *   - else (no row, or an approving one; a readable answer with an outcome: the adapter refuses
 *     one without) → `approved`;
 *   - vendor_response: the response_code of the vendor_response row the answer maps to (seed:
 *     the ErrorCode by relate_response, else the reason code by orce_code;
 *     pl_services_vendor_response_svc); when no row maps it, the ErrorCode itself, else the
 *     reason code, else GenerateCard's ResponseCode ("OK"), cut to PL_STORED_VALUE_CODE_MAX
 *     characters (vendor_response.response_code is varchar(10)); hold_reason from that row on
 *     anything but an approval;
 *   - amount_approved, for the operations that move money (activate, recharge, preauth,
 *     postauth, return, void): SVAAmount, else the amount sent. A preauthorization approved for
 *     less than it asked is a partial approval (seed): still `approved`, amount_approved the
 *     smaller amount, message PL_STORED_VALUE_PARTIAL_MESSAGE. (A Customer Engagement load,
 *     redemption or return approved for less than it sent never gets here: the adapter leaves
 *     its outcome unknown, bureau_relate.h.);
 *   - auth.number = AuthNumber, auth.transaction_id = SVATransactionID, auth.date =
 *     TransactionDateTime; svc.balance = AccountState/Balance when the answer has one;
 *   - an inquiry of a card the bureau reports Inactive (InstrumentState/Status or
 *     AccountStatus): still `approved` with its balance, message PL_STORED_VALUE_INACTIVE_MESSAGE;
 *   - a preauthorization approved for 0.00 of a non-zero amount (the card holds nothing) is the
 *     decline of pl_stored_value_no_balance, the one a J19 batch authorization gets for a
 *     balance of 0.00 (paylink-svc): vendor response and hold reason of the row
 *     PL_STORED_VALUE_NO_BALANCE_CODE maps to, message PL_STORED_VALUE_PARTIAL_MESSAGE, no
 *     amount_approved and no auth fields, the balance kept. (Customer Engagement answers that
 *     approve 0.00 of a load, a redemption or a return never get here: the adapter leaves their
 *     outcome unknown, bureau_relate.h. A void's 0.00 is what it released: approved.)
 * The generated card number of a GenerateCard answer is not touched here (see paylink-svc).
 *
 * Pure functions; any thread.
 */
#ifndef PL_STORED_VALUE_H
#define PL_STORED_VALUE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bureau.h"
#include "err.h"
#include "reply.h"
#include "services.h"

/* seed (PreAuthorization Response, "Online authorizations"): the text shown when a card
 * authorizes less than the order needs. */
#define PL_STORED_VALUE_PARTIAL_MESSAGE "Insufficient balance on card - please add another payment"
/* seed (Inquiry Response): an inactive card's balance inquiry. */
#define PL_STORED_VALUE_INACTIVE_MESSAGE "The card is inactive"
/* The longest vendor response paylink writes (vendor_response.response_code). */
#define PL_STORED_VALUE_CODE_MAX 10
/* The ErrorCode Customer Engagement declines an authorization of a card without funds with
 * (the simulator's too): the code of paylink's own decline of an authorization the card holds
 * nothing for (pl_stored_value_no_balance), mapped by the vendor_response row whose
 * relate_response it is (the demo's NOFUNDS, hold AT). */
#define PL_STORED_VALUE_NO_BALANCE_CODE "INSUFFICIENT_FUNDS"

/*
 * What an outcome stored in svc_trans does to the Stored Value Card table, as two CTEs over
 * `upd` (the svc_trans row just answered, RETURNING *) for a WITH list: an approved activation
 * makes its card active (recorded when it was not), and a declined activation or a recharge
 * records its answer on the card (an approved recharge activates it). Used by paylink-svc's
 * store and by the resolver's, so a stored value request an operator settles does the same.
 * The card's issue amount is the one its row records, else the request's svc.issue_amount,
 * else its amount; but an activation approved for less than its amount (an operator's `wreq
 * resolve --amount` from the service's records, or an External Payment Service activateGift
 * accepted for part) loaded the card with what it approved, and that is its issue amount, on
 * a row recorded before too: booked at the amount asked, the card would show value it never
 * had.
 */
#define PL_SVC_CARD_EFFECTS_SQL                                                                    \
    "act AS (INSERT INTO stored_value_card (service_bureau, company, order_number, "               \
    "order_line, card_masked, card_hash, virtual, issue_amount, currency, status, "                \
    "response_code, activation_date, activated_by) "                                               \
    "SELECT service_bureau, company, order_number, order_line, card_masked, card_hash, "           \
    "is_virtual, CASE WHEN amount_approved < amount THEN amount_approved "                         \
    "ELSE coalesce(issue_amount, amount) END, currency, 'active', vendor_response, "               \
    "coalesce(paylink_parse_time(auth_date), now()), request_id FROM upd "                         \
    "WHERE request_type = 'activate' AND status = 'approved' "                                     \
    "ON CONFLICT (service_bureau, card_hash) DO UPDATE SET status = 'active', "                    \
    "response_code = excluded.response_code, activation_date = excluded.activation_date, "         \
    "activated_by = excluded.activated_by, "                                                       \
    "issue_amount = CASE WHEN EXISTS (SELECT 1 FROM upd u "                                        \
    "WHERE u.service_bureau = excluded.service_bureau AND u.card_hash = excluded.card_hash "       \
    "AND u.request_type = 'activate' AND u.status = 'approved' AND u.amount_approved < u.amount) " \
    "THEN excluded.issue_amount "                                                                  \
    "ELSE coalesce(stored_value_card.issue_amount, excluded.issue_amount) END, "                   \
    "currency = coalesce(stored_value_card.currency, excluded.currency) "                          \
    "WHERE stored_value_card.status <> 'active'), "                                                \
    "rch AS (UPDATE stored_value_card c SET response_code = upd.vendor_response, "                 \
    "status = CASE WHEN upd.status = 'approved' THEN 'active' ELSE c.status END, "                 \
    "activation_date = CASE WHEN upd.status = 'approved' "                                         \
    "THEN coalesce(paylink_parse_time(upd.auth_date), now()) ELSE c.activation_date END, "         \
    "activated_by = CASE WHEN upd.status = 'approved' THEN upd.request_id "                        \
    "ELSE c.activated_by END "                                                                     \
    "FROM upd WHERE c.service_bureau = upd.service_bureau AND c.card_hash = upd.card_hash "        \
    "AND c.status <> 'active' AND upd.status IN ('approved', 'declined') "                         \
    "AND (upd.request_type = 'recharge' "                                                          \
    "OR (upd.request_type = 'activate' AND upd.status = 'declined'))) "

/*
 * Maps a parsed answer onto rep (which the caller zeroed): the rules above. op is the operation
 * sent; amount_sent the amount it carried (minor units; ignored for generate and inquiry); vr
 * the vendor_response row the answer maps to, or NULL when none does. Without a snapshot, the
 * decline of a preauthorization approved for 0.00 has no row (vendor response
 * "INSUFFICIE", no hold reason; pl_stored_value_map_answer gives the row's).
 */
void pl_stored_value_map(const pl_bureau_result *res, const pl_vendor_response *vr, pl_bureau_op op,
                         int64_t amount_sent, pl_reply *rep);

/*
 * A stored value answer of service bureau svc onto rep (zeroed by the caller), whichever bureau
 * answered: an External Payment Service REJECT / ERROR by pl_ext_refusal (ext_rules.h),
 * anything else by pl_stored_value_map's rules with the vendor_response row of s the answer
 * maps to (Customer Engagement: pl_services_vendor_response_svc; EXT: its reasonCode, whose
 * `approved` does not decide: EXT's decision does) and, for a preauthorization approved for
 * 0.00, the row of PL_STORED_VALUE_NO_BALANCE_CODE (pl_stored_value_no_balance). s and svc may
 * be NULL (no rows).
 */
void pl_stored_value_map_answer(const pl_services *s, const pl_service *svc,
                                const pl_bureau_result *res, pl_bureau_op op, int64_t amount_sent,
                                pl_reply *rep);

/*
 * A stored value request paylink declines itself on what the bureau told it (J19: a card the
 * balance inquiry found inactive or empty; an authorization approved for 0.00), as the bureau
 * would decline it with the ErrorCode code: rep (whatever it held) becomes `declined` with the
 * vendor response and hold reason of vr, the row code maps to (pl_stored_value_refusal_row),
 * or, with vr NULL, code itself cut to PL_STORED_VALUE_CODE_MAX characters and no hold reason;
 * message message; everything else emptied (nothing is authorized: no amount_approved, no
 * auth fields) but the balance (svc.has_balance, svc.balance), which is kept.
 */
void pl_stored_value_refuse(const pl_vendor_response *vr, const char *code, const char *message,
                            pl_reply *rep);

/* The vendor_response row of s that the ErrorCode code maps to for service bureau svc
 * (pl_services_vendor_response_svc, by relate_response), or NULL (none, or s or svc NULL). */
const pl_vendor_response *pl_stored_value_refusal_row(const pl_services *s, const pl_service *svc,
                                                      const char *code);

/*
 * The decline of an authorization of a card that holds nothing, the one rule for J19's balance
 * of 0.00 (paylink-svc) and an online authorization approved for 0.00 (the rules above):
 * pl_stored_value_refuse with PL_STORED_VALUE_NO_BALANCE_CODE, its row of s for svc, and
 * PL_STORED_VALUE_PARTIAL_MESSAGE (seed, PreAuthorization Response: the card cannot pay for
 * the order).
 */
void pl_stored_value_no_balance(const pl_services *s, const pl_service *svc, pl_reply *rep);

/*
 * The vendor response written for an answer that no vendor_response row maps: the ErrorCode
 * when there is one, else the reason code, else the ResponseCode, cut to
 * PL_STORED_VALUE_CODE_MAX characters, into out (outsize > PL_STORED_VALUE_CODE_MAX). "" when
 * the answer has none of them.
 */
void pl_stored_value_code(const pl_bureau_result *res, char *out, size_t outsize);

/*
 * How a stored value card number is written down, everywhere (the engine for svc.card_number,
 * paylink-svc for a generated number): hash = HMAC-SHA256 with the paylink hash key (64 hex +
 * NUL, hashsize >= 65), masked as the seed masks stored value cards, stars and the last four
 * digits ("************1234"; masksize >= 24). Returns 0, or a negative pl_err with both
 * outputs emptied.
 */
int pl_stored_value_card(const void *key, size_t keylen, const char *number, char *hash,
                         size_t hashsize, char *masked, size_t masksize) PL_MUSTCHECK;

/*
 * A stored value authorization (svc_trans row) that a deposit (paylink-svc) or a void
 * (paylink-reversal) draws on, or the deposit a return refunds (capture_ref, paylink-svc), as
 * their record look-ups read it: the look-up selects PL_STORED_VALUE_AUTH_COLUMNS (of svc_trans)
 * first, in that order.
 */
#define PL_STORED_VALUE_AUTH_COLUMNS                                                               \
    "request_type, status, amount_approved::text, amount_deposited::text, "                        \
    "amount_voided::text, amount_pending::text, svc_transaction_id, coalesce(card_hash, ''), "     \
    "request_id, amount_returned::text, auth_number, merchant_id, coalesce(void_deferred_by, '')"
#define PL_STORED_VALUE_AUTH_NCOLUMNS 13

typedef struct pl_stored_value_auth {
    bool found;
    char request_type[12]; /* svc_trans.request_type: "auth" (drawn on), "deposit" (refunded) */
    char status[12];
    bool has_approved;
    int64_t approved, deposited, voided, pending; /* minor units */
    int64_t returned;        /* a deposit's: what returns naming it gave back (042) */
    char transaction_id[65]; /* SVATransactionID: svc_trans.svc_transaction_id, varchar(64) */
    char card_hash[65];
    char request_id[51];  /* the authorization's own (a reference by SVATransactionID finds it) */
    char auth_number[31]; /* AuthNumber of its answer ("" when none) */
    char merchant_id[31]; /* the merchant ID it was sent under ("" when none or before 053) */
    /* An authorization: the deposit sent voiding its remainder while another deposit had a
     * claim on it, whose void waits for that claim to end (056); "" when none. */
    char void_deferred_by[51];
} pl_stored_value_auth;

/* Reads row 0 of a look-up (columns PL_STORED_VALUE_AUTH_COLUMNS from column col on) into *a;
 * found is false when r is NULL, has no row, or those columns are NULL (an outer join that
 * found nothing). */
void pl_stored_value_auth_read(const PGresult *r, int col, pl_stored_value_auth *a);

/* What a deposit may still take, or a void release: approved − deposited − voided − pending,
 * never below 0. */
int64_t pl_stored_value_auth_remaining(const pl_stored_value_auth *a);

/*
 * The rules every draw on an authorization shares: it must be known to paylink, be a stored value
 * `auth`, approved, have a SVATransactionID and be of the request's card (card_hash, the keyed
 * hash of svc.card_number; "" skips that check). Returns false when it may be drawn on; true when
 * not, with rep's status (`declined`) and message filled.
 */
bool pl_stored_value_auth_refused(const pl_stored_value_auth *a, const char *card_hash,
                                  pl_reply *rep);

/* rep `declined` with message fmt, whose one %s is arg; returns true (a refusal's value). */
bool pl_stored_value_decline(pl_reply *rep, const char *fmt, const char *arg);

/*
 * The stored value operations approved whole or not at all: a load (activate, recharge), a
 * redemption (postauth) and a return. Only an authorization is approved for part of its amount
 * (the card held less: the seed's partial approval), and a void releases what is left, which
 * may be less than it names. Neither contract lets the others go through for part: Customer
 * Engagement is set up with "Allow Partial Redemption" No, rejects a PostAuth greater than its
 * authorization and activates a card for its issue amount; paylink's External Payment Service
 * contract (schema/ext §10, §12) approves part of an authorization only.
 */
bool pl_stored_value_whole_only(pl_bureau_op op);

/*
 * An adapter's check of an approval of op for `approved` of the `sent` (minor units): for an
 * operation approved whole or not at all (pl_stored_value_whole_only), less than was sent (0.00
 * included) says the service and paylink disagree on what moved. Booked approved for the part,
 * a redemption cut short would leave the rest of the order unpaid while the order system,
 * reading `approved`, shipped it (and 0.00 counts money nobody moved); booked declined, it would
 * be sent again, twice if the service did move it. So the answer is unreadable: the engine
 * leaves its outcome unknown for an operator (paylinkctl wreq resolve books what the service's
 * records show). More than was sent is the engine's check. Returns 0, or PL_ERR_PARSE with
 * "<what> <verb> <approved> of the <sent> sent (only an authorization is approved for part of
 * its amount)" in errstr.
 */
int pl_stored_value_check_whole(pl_bureau_op op, int64_t sent, int64_t approved, const char *what,
                                const char *verb, char *errstr, size_t errstr_size);

#endif
