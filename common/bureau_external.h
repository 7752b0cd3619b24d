/*
 * bureau_external.h: the External Payment Service adapter, `EXT` (message version 3.0).
 *
 * The adapter itself is the ops table pl_bureau_external declared in bureau.h; this header is
 * its manual. The wire contract is paylink's own (notes/ext-wire.md, modeled on seed
 * external-payment-service.txt and CyberSource's field names): REST, one JSON object per
 * request and answer, lowerCamelCase names, amounts as decimal strings "1234.56".
 * Flags: PL_BUREAU_OAUTH (the engine adds "Authorization: Bearer ..." and handles HTTP 401:
 * the call was not processed, refresh the token and send it once more) and
 * PL_BUREAU_TOKENS_ONLY (only getToken carries a card number: the engine calls PL_OP_TOKEN
 * first and passes the answer's token as call->card_token).
 *
 * build: msg->url_suffix is the endpoint (the engine joins it to the External URL Prefix with
 * one '/'), msg->content_type "application/json", msg->extra_header "Accept: application/json"
 * (the contract's Transport), msg->auth_header and soap_action "". Endpoints:
 *   PL_OP_TOKEN          getToken        card {number, expMonth?, expYear?, type?}
 *   PL_OP_AUTH           authorization   amount, currency, card {token, expMonth?, expYear?,
 *                                        type?, holder?}, billTo?, shipTo?, online, the
 *                                        subsequent authorization fields (below)
 *   PL_OP_AUTH_CAPTURE   authorization   the same and "capture": true
 *   PL_OP_CAPTURE        deposit         amount, currency, card {token}, transactionID =
 *                                        call->ref_request_id, authorizationCode? =
 *                                        call->ref_auth_code, voidRemainder
 *   PL_OP_CREDIT         return          amount, currency, card {token}, transactionID? =
 *                                        call->ref_request_id (the deposit's, when known)
 *   PL_OP_AUTH_REVERSAL  reversal        amount, currency, card {token}, transactionID,
 *                                        authorizationCode?
 *   PL_OP_SVC_GENERATE   generateGift    amount? = req->svc.issue_amount, currency?,
 *                                        orderLine? = req->svc.order_line (no card)
 *   PL_OP_SVC_ACTIVATE   activateGift    amount, currency, card {token}
 *   PL_OP_SVC_RECHARGE   rechargeGift    amount, currency, card {token}
 *   PL_OP_SVC_PREAUTH    authorization   amount, currency, card {token}, billTo?, shipTo?,
 *                                        online
 *   PL_OP_SVC_POSTAUTH   deposit         as PL_OP_CAPTURE
 *   PL_OP_SVC_RETURN     return          as PL_OP_CREDIT
 *   PL_OP_SVC_INQUIRY    balanceInquiry  card {token}, currency?
 *   PL_OP_SVC_VOID       reversal        as PL_OP_AUTH_REVERSAL
 * PL_OP_TOKEN_AUTH is no EXT operation (the engine sends getToken, then authorization): build
 * refuses it with PL_ERR_INVALID. Every body starts with messageVersion (cfg->message_version,
 * "3.0" when empty), requestID (call->req->request_id, the idempotency key), merchantID
 * (call->merchant_id, required, at most 30 characters), company (1-999), orderNumber
 * (call->order, else req->order), paySeq, paymentType ("SVC" for PL_OP_SVC_* and for a
 * PL_OP_TOKEN of a stored value card, i.e. with call->svc_card_number set; "CC" otherwise) and
 * payType (req->pay_type, left out when empty). The amount is call->amount (0 to
 * PL_MONEY_MAX), the currency call->currency, else req->currency; an endpoint that requires
 * them is refused without them. Integers are JSON numbers (company, paySeq, orderLine,
 * expMonth, expYear); flags are JSON booleans (online, capture, voidRemainder); amounts are
 * strings.
 * The card: getToken carries the number in full (credit card: req->card.number; stored
 * value: call->svc_card_number; digits only, 12 to 19 for a credit card, 1 to 20 for a stored
 * value card, as schema/ext says), with req->card's expiry and type (req->card.type, else
 * guessed from the number) for a credit card. The expiry is sent as a pair (month 1-12 and a
 * four-digit year) or not at all. Every other message but generateGift carries card.token =
 * call->card_token, else req->card.token, and never a number: without a token build returns
 * PL_ERR_INVALID ("message version 3.0 carries tokens only: getToken first"), and a token
 * equal to the card number is refused too. The credit card authorization adds req->card's
 * expiry, type and holder when known.
 * billTo / shipTo: the request's address members that are set (country: call->bill_country /
 * ship_country, else the request's), left out when the request has no such address.
 * Subsequent authorization (authorization only; seed "Subsequent Authorization Requests"):
 * call->sub_auth_reason set → subsequentAuth "Y", subsequentAuthReason,
 * subsequentAuthTransactionID (when set), subsequentAuthOriginalAmount (when
 * call->sub_auth_original_amount >= 0: the caller sets -1 for none), initiator (when set);
 * no reason but call->initiator → subsequentAuth "N" and initiator. Reason and initiator are
 * checked against the contract's values (any case; sent in capitals), and a subsequent
 * authorization is merchant-initiated (schema/ext: initiator MERCHANT with "Y"); anything
 * else is PL_ERR_INVALID.
 * Card data in memory: json-c copies every string it is given and frees them without wiping.
 * The card number is put into the tree only for getToken; every string of the tree is wiped
 * before the tree is freed, and json-c's serialised text is copied into msg->body (wiped by
 * pl_bureau_msg_free) and wiped at once. What cannot be reached are the fragments json-c's
 * print buffer may leave in freed heap when it grows by realloc while serialising; that is
 * getToken's body only, and the same exposure as any heap copy of the request. parse and
 * redact wipe the strings of the trees they read likewise.
 * Error texts never hold a card number or a token.
 *
 * parse: HTTP 200 with a body that is one strict JSON object (UTF-8, at most PL_EXT_MAX_BODY,
 * no NUL) with "decision" one of ACCEPT, REJECT, ERROR. Fields (JSON null counts as absent):
 * decision; reason_code = reasonCode ("" when absent: the vendor response tables make it SU);
 * request_id = transactionID; merchant_reference_code = requestID (when present it must be
 * call->req->request_id, else the answer is another request's); auth_code =
 * authorizationCode; auth_date = authorizedDateTime; amount / has_amount = amount; balance /
 * has_balance = balance; avs = avsCode; cvv = cvvCode; token = cardToken; svc_status =
 * cardStatus; svc_card_number = cardNumber (generateGift only; the engine wipes it; digits
 * only); error_text = message, card numbers and runs of 10 or more digits masked (a stored
 * value card has no check digit). Anything else is ignored.
 * PL_ERR_PARSE ("no readable answer": the engine's outcome unknown, a required response):
 * any status but 200 (a 401 included: the engine handles it before calling parse), a body
 * that is empty, too big, not strict JSON, not an object, without a valid decision; a known
 * field of the wrong type, a field parse reads that the answer's object gives more than once
 * (json-c keeps the last value silently, the provider's own reader may take the first: which
 * was meant cannot be told; names compared as json-c keeps them, escapes decoded and cut at a
 * NUL; a name parse does not read, or one inside a nested value, may be given twice), an
 * identifier too long for its result field (never cut: a cut transactionID would make a
 * deposit refer to another transaction), an amount or balance that is not a non-negative
 * decimal, a cardNumber that is not 10-20 digits; an ACCEPT without what its operation must
 * yield: getToken's cardToken, generateGift's cardNumber, an authorization's transactionID;
 * an ACCEPT whose amount is 0.00 on an endpoint that moves money (authorization, deposit,
 * return, reversal, activateGift, rechargeGift) when call->amount is above 0 (an approval of
 * nothing: approved, it would book an authorization of nothing, a deposit, return or load that
 * moved nothing, a reversal that released nothing); an ACCEPT of a stored value load,
 * redemption or return (PL_OP_SVC_ACTIVATE, PL_OP_SVC_RECHARGE, PL_OP_SVC_POSTAUTH,
 * PL_OP_SVC_RETURN) whose amount is below call->amount (the contract approves only an
 * authorization for part, schema/ext §10, §12, as Customer Engagement: approved for the part,
 * the order would count money that did not move, declined it would be sent again). An
 * authorization's smaller amount is a partial approval and a reversal's what was left to
 * release: both read. The error text names the field, never quotes the body.
 *
 * redact: the message-log copy. A JSON object is parsed and written back with card.number
 * and every cardNumber (any depth) masked with pl_card_mask_log in `mode`
 * ("************1111" or "***REMOVED***"), and the card tokens card.token and every cardToken
 * masked the same way ("****************4d0c": a token charges the card through the merchant's
 * account as its number would; one over 127 characters is "***REMOVED***"), every "cvv" /
 * "cvNumber" member removed, runs of 10+ digits masked in "message", every other copy of a
 * masked number (10+ digits) or token (8+ characters) masked as well, every other string
 * that holds a card number masked as decoded (pl_card_scrub_full: the copy is written with
 * JSON's escapes, which hide one split by control characters from any scrub of the text), and
 * the whole text scrubbed with pl_card_scrub_full as a second net. Only this copy is masked:
 * build sends the token and parse returns it in full. Text that is not a JSON object is
 * scrubbed (pl_card_scrub_full) and has every run of 10 or more digits masked (all stars in the
 * removed mode); a token in it is not recognised. Returns malloc'd text the caller frees, or NULL
 * (body NULL, out of memory).
 *
 * Memory and threads: as bureau.h. Build, parse and redact keep no state; any thread.
 */
#ifndef PL_BUREAU_EXTERNAL_H
#define PL_BUREAU_EXTERNAL_H

#include "bureau.h"

/* The longest reasonCode an answer may carry: the vendor response it becomes (varchar(10)). */
#define PL_EXT_REASON_CODE_MAX 10

/* Largest answer parse and redact accept as JSON (1 MiB); real answers are under 2 KiB. */
#define PL_EXT_MAX_BODY (1024 * 1024)
/* The message version sent when the configuration names none. */
#define PL_EXT_DEFAULT_VERSION "3.0"

/*
 * The endpoint of an operation ("getToken", "authorization", ...), or NULL for one EXT does
 * not have (PL_OP_TOKEN_AUTH). Static string.
 */
const char *pl_external_endpoint(pl_bureau_op op);

#endif
