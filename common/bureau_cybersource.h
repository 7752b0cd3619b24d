/*
 * bureau_cybersource.h: the CyberSource Simple Order API (SOAP toolkit) adapter, `CYB`.
 *
 * The adapter itself is the ops table pl_bureau_cybersource declared in bureau.h; this header
 * is its manual and exports the few helpers the simulator and tests share with it.
 *
 * build: a SOAP 1.1 envelope made with the libxml2 tree API. The header carries the
 * WS-Security UsernameToken (Username = merchant ID, Password #PasswordText = the transaction
 * key, cfg->secret); the Body holds one requestMessage in the default namespace
 * urn:schemas-cybersource-com:transaction-data-<cfg->api_version> ("1.121" when empty), with
 * its children in the XSD sequence order (merchantID, merchantReferenceCode, invoiceHeader,
 * billTo, shipTo, item*, purchaseTotals, card, ucaf, recurringSubscriptionInfo,
 * decisionManager, the services, businessRules, merchantTransactionIdentifier,
 * subsequentAuth*). Every text value has its non-keyboard characters removed (seed: "removes
 * any non-standard keyboard characters from the XML message"); empty values are left out
 * rather than sent as empty elements.
 * Per operation:
 *   PL_OP_TOKEN          billTo, purchaseTotals, card, recurringSubscriptionInfo/frequency
 *                        on-demand, paySubscriptionCreateService
 *   PL_OP_AUTH           billTo, shipTo, items, purchaseTotals, card (or the token as
 *                        recurringSubscriptionInfo/subscriptionID), ucaf, decisionManager,
 *                        ccAuthService (cavv, commerceIndicator, eciRaw, xid)
 *   PL_OP_TOKEN_AUTH     the same plus frequency on-demand and paySubscriptionCreateService
 *   PL_OP_AUTH_CAPTURE   the auth plus ccCaptureService (purchasingLevel 3 with Level II/III),
 *                        businessRules ignoreAVSResult/ignoreCVResult when call->ignore_avs_cvv,
 *                        commerceIndicator "install" for an installment without 3-D Secure
 *   PL_OP_CAPTURE        items, purchaseTotals, ccCaptureService (authRequestID,
 *                        purchasingLevel, authRequestToken from call->ref_*)
 *   PL_OP_CREDIT         items, purchaseTotals, ccCreditService: a follow-on when
 *                        call->ref_request_id is set (captureRequestID, captureRequestToken),
 *                        otherwise stand-alone with billTo and the card (no CVV) or token
 *   PL_OP_AUTH_REVERSAL  purchaseTotals, ccAuthReversalService (authRequestID, authRequestToken);
 *                        with call->timeout_reversal_of, a timeout authorization reversal:
 *                        purchaseTotals, merchantTransactionIdentifier of that authorization,
 *                        and ccAuthReversalService with no children (see below)
 * Every authorizing operation (auth, token+auth, auth+capture) carries
 * merchantTransactionIdentifier = pl_cybersource_merchant_txn_id(req->request_id), so that an
 * authorization whose answer never came can be reversed without its requestID: CyberSource's
 * timeout authorization reversal ("Timeout Authorization Reversals", Simple Order API) finds
 * the authorization by that identifier alone. The caller waits 60 s after the authorization
 * before sending one (CyberSource's request); the adapter only builds it. The reversal's own
 * merchantReferenceCode is, as for any call, its request's request_id.
 * decisionManager/enabled is sent on every operation that authorizes ("true" only when
 * call->decision_manager); shipTo/shippingMethod and item/productCode only with Decision
 * Manager (seed: the ship via service level and the product classification are "for fraud
 * scoring"). Level II/III amounts go into purchaseTotals, customer_po into invoiceHeader/userPO.
 * call->ref_auth_code is not sent: CyberSource takes a manual authorization only through its
 * request ID (seed), so a verbal authType would be refused anyway.
 * Stored credentials: subsequentAuthReason/subsequentAuthTransactionID exist only in newer data
 * namespaces (not in 1.121, present in 1.201; the version that introduced them is not
 * documented), so they are sent only when api_version >= 1.201 and req->subsequent_auth is
 * present: subsequentAuth "true" unless the initiator is the cardholder, reason RESUBMIT → "1",
 * REAUTH → "3", INSTALLMENT → "9", and the network transaction id. Older versions omit them.
 *
 * parse: the reply envelope, read as a stream (no tree is built), matched by local names only so
 * any data namespace version (and any prefix) is read. A SOAP Fault gives fault_code/fault_string
 * with decision "ERROR" and reason_code "150" and returns 0. Anything else that is not an Envelope
 * > Body > replyMessage carrying decision and reasonCode is PL_ERR_PARSE: garbage, an empty body,
 * an HTML error page, a document with a DTD (never legitimate in SOAP; refused at its DOCTYPE,
 * which closes XXE and entity bombs), a body over PL_CYBERSOURCE_MAX_BODY. The parser never reads
 * the network (XML_PARSE_NONET) and never substitutes entities. amount and service_reason_code come
 * from the reply of the operation's main service whenever that reply is present (ccCaptureReply for
 * auth+capture, falling back to ccAuthReply when the capture did not run;
 * paySubscriptionCreateReply for a token; for any other operation its own service's reply only,
 * never another service's), so service_reason_code may equal reason_code; an ACCEPT without that
 * reply is PL_ERR_PARSE (the engine would otherwise approve the request's amount on nothing).
 * auth_code, avs, cvv, auth_date, auth_reason_code and auth_amount always come from
 * ccAuthReply (an auth+capture's too, whose capture failed or did not run), token from
 * paySubscriptionCreateReply/subscriptionID, afs_score from afsReply/afsResult. An amount that is
 * not a decimal, or an ID or code too long for its field, is PL_ERR_PARSE rather than a silently
 * wrong value; so is a second merchantReferenceCode, requestID, decision, reasonCode,
 * requestToken, afsReply or service reply in the replyMessage (which one CyberSource meant is not
 * ours to guess). A partial approval, which CyberSource answers decision REJECT with reasonCode
 * 110 and ccAuthReply carrying the amount approved (and its reasonCode 100 or 110, or an
 * authorizationCode), reads as ACCEPT 110 does: decision "ACCEPT", reason_code "110", amount the
 * amount approved. That holds for an authorization (PL_OP_AUTH, PL_OP_TOKEN_AUTH) whose
 * ccAuthReply carries that amount, and for an auth+capture whenever its ccCaptureReply succeeded
 * (100): it was captured. A partial approval (110: the answer's reasonCode or ccAuthReply's) of
 * an auth+capture whose ccCaptureReply (100) carries no amount has ccAuthReply's amount, read
 * defensively as what was captured (CyberSource's guide says such a capture is not processed, so
 * the answer should not come; no more can be captured than was authorized); one of which neither
 * reply carries an amount is PL_ERR_PARSE (the outcome is unknown: neither `declined` nor the
 * request's whole amount would be true). Any other partial approval (110: the answer's
 * reasonCode or ccAuthReply's) of an authorization, token+auth or auth+capture without a part —
 * the amount approved (ccAuthReply's; a captured auth+capture's, the capture's else
 * ccAuthReply's) missing, or not below call->amount, the amount sent — is PL_ERR_PARSE too,
 * whatever its decision (ACCEPT, REVIEW, REJECT, ERROR): read, it would be approved or held for
 * the whole amount asked, or its reversal would go for it, which CyberSource refuses above the
 * part; unknown, the resolver escalates the record that says the same. Only an auth+capture
 * neither captured nor ACCEPTed whose ccAuthReply says 110 without an amount stays the refusal it
 * is (nothing taken or booked; paylink-deposit reverses no unknown part). A whole approval (100)
 * whose ccCaptureReply carries no
 * amount has none (the engine takes the request's, the amount asked). An auth+capture whose
 * ccCaptureReply says 100 answered anything but ACCEPT (after the 110 above: REJECT for another
 * reason, REVIEW, ERROR) is PL_ERR_PARSE too: it was captured while refused, and neither a
 * refusal (the order system would charge again) nor an approval (of an order refused) is safe.
 * Of these refusals of an answer that says the capture happened (and of no other
 * PL_ERR_PARSE) res is left zeroed but for capture_approved, true: the engine records the
 * required response it opens as captured (required_response.captured, migration 067), and an
 * operator's refusal of it then publishes no `.sdr` (resolver.c escalated_captured).
 *
 * redact: the message parsed again; accountNumber masked with pl_card_mask_log in the given
 * mode, cvNumber, Password, cavv, xid and authenticationData emptied; the result is then
 * scrubbed with pl_card_scrub_full as a second net (a card number typed into a name field). Text
 * that is not XML is only scrubbed.
 *
 * Memory and threads: as bureau.h. Build and parse keep no state; libxml2 must have been
 * initialised (xmlInitParser) before threads are started if they are used from several threads.
 */
#ifndef PL_BUREAU_CYBERSOURCE_H
#define PL_BUREAU_CYBERSOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "bureau.h"
#include "err.h"

/* Data namespace version used when pl_bureau_cfg.api_version is empty. */
#define PL_CYBERSOURCE_DEFAULT_VERSION "1.121"

/* Largest reply body parse and redact accept (1 MiB); real replies are a few KiB. */
#define PL_CYBERSOURCE_MAX_BODY (1024 * 1024)

/* What the adapter's refusals of an auth+capture answered as captured (above) say in their
 * text, which the engine records as the required response's detail: the resolver also reads it
 * there (escalated_captured), for rows a release before migration 067 wrote, whose
 * required_response.captured says nothing. */
#define PL_CYBERSOURCE_REFUSED_CAPTURED "ccCaptureReply says 100 (captured)"
#define PL_CYBERSOURCE_REFUSED_CAPTURED_NO_AMOUNT "captured without the amount captured"

/* What the adapter's refusals of a partial approval (110) without a part to believe start with
 * (the required response's detail, as above): the resolver reads it there, so that an outcome it
 * cannot confirm is never reversed for the whole amount sent (CyberSource refuses a reversal
 * above the part, and the hold stays) but goes to an operator with the part's step. */
#define PL_CYBERSOURCE_REFUSED_PARTIAL "a partial approval (110)"

/*
 * Writes the data namespace for a version ("1.121" →
 * "urn:schemas-cybersource-com:transaction-data-1.121") into out; version NULL or "" means
 * PL_CYBERSOURCE_DEFAULT_VERSION. Returns 0, PL_ERR_CONFIG when version is not
 * "<digits>.<digits>", or PL_ERR_TOOBIG when out is too small (64 bytes always suffice).
 */
int pl_cybersource_namespace(const char *version, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * True when version (NULL or "" → the default) is at least major.minor, compared as numbers
 * ("1.57" < "1.121"). False for a malformed version.
 */
bool pl_cybersource_version_at_least(const char *version, int major, int minor);

/* True for the ERROR reasons that say the request was received and then timed out (151: a
 * server time-out, 152: a service did not finish in time, 250: a time-out at the payment
 * processor): CyberSource may have processed it, so its outcome is unknown, not an error an
 * order system would send again. */
bool pl_cybersource_received_timeout(const char *reason_code);

/*
 * True for the REJECT reasons of a soft decline: the issuer approved the authorization, and
 * CyberSource declined it (200: the AVS check failed; 230: the card verification number check
 * failed; 520: Smart Authorization's settings). The cardholder's funds are held until the
 * authorization is reversed or expires. PL_CYBERSOURCE_SOFT_DECLINE_SQL is the same list as an
 * SQL IN list of vendor_response values (migration 052's trigger holds it too).
 */
bool pl_cybersource_soft_decline(const char *reason_code);
#define PL_CYBERSOURCE_SOFT_DECLINE_SQL "('200', '230', '520')"

/*
 * True when a CyberSource authorization answered with status (a reply status name) and
 * vendor_response (its reasonCode) was refused while the issuer holds its amount: `rejected`
 * by Decision Manager (481), or a soft decline (`declined`, or `rejected` where the vendor
 * response table holds its code for fraud). With Send reversal paylink reverses
 * it (paylink-auth's follow-up, the resolver's for an outcome it found), and paylink-reversal
 * takes its reversal. NULLs: false.
 */
bool pl_cybersource_refused_but_held(const char *status, const char *vendor_response);

/*
 * True when auth_reason_code, the reasonCode of an authorization's ccAuthReply (the
 * pl_bureau_result.service_reason_code of an authorization's or token+auth's answer, or the
 * resolver's ics_auth reason of a queried record; NULL or "" when unknown), says the issuer
 * authorized it: 100, or 110 (a partial approval: the issuer authorized the ccAuthReply's
 * amount, less than was asked). Whatever the answer's own decision and reasonCode: the
 * top-level reasonCode can differ from the service's (../shared/reference/bureau-wire-formats.md
 * §1.7), and a REJECT whose ccAuthReply says 100 or 110 leaves that amount held by the issuer.
 */
bool pl_cybersource_issuer_authorized(const char *auth_reason_code);

/*
 * pl_cybersource_refused_but_held, or an authorization `rejected`, `declined` or `error`
 * whatever its reasonCode whose ccAuthReply says the issuer authorized it
 * (pl_cybersource_issuer_authorized of auth_reason_code: 100, or 110 for part of the amount): a
 * Decision Manager fraud score over the threshold (400) or a code the vendor response table
 * holds for fraud (`rejected`), a token+auth answered REJECT 102 for its token (`declined`), an
 * ERROR (150, a system failure: `error`) after the issuer authorized it, or an auth+capture whose
 * capture failed so. The issuer holds the amount (110: ccAuthReply's, the answer's amount) while
 * paylink answers it refused or failed, and the order system, told so, authorizes again (an
 * `error` is sent again) or never captures it: with Send reversal it is reversed as a 481 is
 * (`.rev`; an auth+capture's `.sdr`, whose caller also checks that the capture was not answered
 * 100, pl_bureau_result.capture_approved: a captured authorization is never reversed, 238).
 * paylink-reversal takes the reversal of such a `declined` or `error` one because its history
 * row records that the issuer authorized it (auth_history.issuer_authorized, migrations 060,
 * 064): paylink-auth's store and the resolver's write it; a declined or error authorization
 * without it (the issuer declined, or nothing says it authorized) is still not reversed.
 */
bool pl_cybersource_refused_but_authorized(const char *status, const char *vendor_response,
                                           const char *auth_reason_code);

/*
 * pl_cybersource_refused_but_authorized of an answer in time, which tells itself whether the
 * issuer authorized: auth_reason_code is the reasonCode of the answer's ccAuthReply, NULL or ""
 * when the answer has none (not "unknown", as for the functions above). A Decision Manager
 * reject (481) holds something only when that ccAuthReply says 100 or 110, or a soft decline's
 * reason (200, 230, 520: the issuer approved): without one, Decision Manager refused the order
 * before the authorization ran, and with another reason the issuer declined it. A soft decline
 * (200, 230, 520) holds unless its ccAuthReply says another reason than 100, 110 or a soft
 * decline's (its own code, which CyberSource's ccAuthReply may repeat, says the issuer approved;
 * 203 there says the issuer declined). Either way a reversal would only be refused by CyberSource,
 * its declined reply unasked for by the order system. paylink-auth's follow-up of its answer uses
 * it. The resolver's outcomes keep pl_cybersource_refused_but_authorized: an operator's `wreq
 * resolve --outcome rejected` has no ccAuthReply and says the issuer approved, and a queried record
 * read as a 481 always has an ics_auth that succeeded. NULL status or vendor_response: false.
 */
bool pl_cybersource_answer_held(const char *status, const char *vendor_response,
                                const char *auth_reason_code);

/* Digits of a merchantTransactionIdentifier; out of pl_cybersource_merchant_txn_id needs one
 * more byte. */
#define PL_CYBERSOURCE_MTI_DIGITS 15

/*
 * The merchantTransactionIdentifier of the authorization paylink sends for request_id: the
 * first 8 bytes of SHA-256(request_id), read as a big-endian unsigned integer, modulo 10^15,
 * written as 15 decimal digits with leading zeros ("r-auth-0001" → "395924834532225").
 * Why this shape: CyberSource wants the identifier unique for 180 days, and it is in practice:
 * among a million authorizations in 180 days, the chance that any two share one is about 1 in
 * 2000 (N² / 2·10^15). Digits only and 15 long, it fits the limit of every processor that takes
 * the field. And being derived from the request_id alone, a timeout reversal computes it again
 * from the request_id paylink already stores, so nothing extra is stored or looked up.
 * request_id NULL counts as "". out receives the 15 digits and a NUL; it must hold at least
 * PL_CYBERSOURCE_MTI_DIGITS + 1 bytes, else (or in the unlikely event that OpenSSL cannot hash)
 * it receives "" when outsize > 0. Any thread.
 */
void pl_cybersource_merchant_txn_id(const char *request_id, char *out, size_t outsize);

#endif
