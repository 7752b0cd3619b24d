/*
 * sim_cyb.h: the simulated CyberSource Simple Order API (SOAP toolkit), one POST endpoint.
 *
 * Reads a SOAP requestMessage (any data namespace version, echoed in the reply), checks the
 * WS-Security UsernameToken, runs the requested services (paySubscriptionCreateService,
 * ccAuthService, ccCaptureService, ccCreditService, ccAuthReversalService, and the pairs
 * token+auth and auth+capture) with the deterministic outcomes of CONTRACT.md §3 and the
 * ledger's follow-on rules, and answers a replyMessage in the shape and element order of the
 * official XSD (or a SOAP Fault). Summary of the rules (details in sim_cyb.c and
 * sim_ledger.h):
 *   - Security: Username must be present and equal merchantID; any non-empty Password is
 *     accepted except "bad-key" → SOAP Fault wsse:FailedCheck.
 *   - Malformed XML, a DTD, or no requestMessage → SOAP Fault c:ClientError (HTTP 500).
 *   - The amount (purchaseTotals/grandTotalAmount, else the sum of the items) picks the
 *     scenario. 150 and 901–906 apply to every service; the declines (202/203/204/205/211/231)
 *     to requests that charge a card or token (auth, token creation, stand-alone credit);
 *     110, 400, 480, 481 to authorizations only (partial approval, fraud score and Decision
 *     Manager only happen there). Follow-on captures, credits and reversals follow the
 *     ledger rules instead (102, 235, 237, 238, 242).
 *   - 901 (held, then dropped) and 904 (read, then dropped) are never charged: no ledger
 *     row and no query record, because the simulator "failed before processing". Tests
 *     rely on this to tell a blind re-send from a single charge. 902, 903 likewise.
 *   - 905 and 906 are applied first, like any other amount (ledger row, query record, found
 *     by the Query of sim_query.h), then the answer is lost: 905 held (PL_SIM_HOLD), 906
 *     dropped (PL_SIM_DROP), as CONTRACT.md §3 says for every bureau.
 *   - 480 (REVIEW) and 481 (REJECT, ccAuthReply reasonCode 100) authorize the funds at the
 *     issuer, so they are ledger "auth" effects that can be reversed later, as the seed's
 *     "Send reversal" requires. Each REVIEW is also remembered (pl_sim_ledger_cyb_review) for
 *     the Decision Manager Conversion Detail Report (sim_dm.h).
 *   - Timeout authorization reversal (CyberSource's, for an authorization whose answer was
 *     lost): every authorization applied with a merchantTransactionIdentifier (including 905
 *     and 906, and REVIEW/481) is remembered by that identifier (pl_sim_ledger_cyb_auth_mti;
 *     a later one with the same identifier takes its place). A ccAuthReversalService without
 *     authRequestID, in a request carrying merchantTransactionIdentifier, reverses that
 *     authorization exactly as a reversal naming its requestID would: 100 with the authorized
 *     amount (a "reversal" effect, ref = the reversal's merchantReferenceCode), 237 when it
 *     was reversed already, 238 when it was captured. An identifier that names no applied
 *     authorization (never sent, declined, or 901–904, which never reached the bureau) →
 *     REJECT 242 ("no corresponding, unused authorization"). authRequestID, when present,
 *     wins; neither → REJECT 101, missingField c:ccAuthReversalService/c:authRequestID.
 *     A timeout reversal's amount never picks a scenario: it is the lost authorization's
 *     amount, which already picked that authorization's (a 905.xx one is answered).
 *   - Soft declines (CyberSource reasons 200 AVS failed, 230 CVN failed, 520 Smart
 *     Authorization: the issuer approved, CyberSource refused) come from the test-only control
 *     route pl_sim_cyb_soft_decline_control, never from the amount (CONTRACT.md §3 is frozen).
 *     One armed for a merchantReferenceCode is taken by that ref's next request running
 *     ccAuthService (auth, token+auth, auth+capture) whose decision would otherwise be ACCEPT
 *     (100, or 110 partial): the authorization is applied as an approval's (ledger "auth",
 *     reversible, remembered by its merchantTransactionIdentifier), the reply is REJECT with
 *     the armed reason, ccAuthReply carries that reason with the approval's amount,
 *     authorizationCode and codes (avsCode N for 200, cvCode N for 230), and no capture runs
 *     and no token is made. A request that is refused, declined, failed, or held or refused by
 *     Decision Manager (480, 481) keeps its own answer and leaves the soft decline armed.
 *   - Card checks: a number failing Luhn → REJECT 231; an expired card → REJECT 202; a
 *     subscriptionID the simulator did not issue → REJECT 102.
 *   - The card number and CVN are wiped from memory after the request and only a masked form
 *     is logged.
 * Thread-safe (state lives in the ledger).
 */
#ifndef PL_SIM_CYB_H
#define PL_SIM_CYB_H

#include "sim_ledger.h"
#include "sim_proto.h"

#define PL_SIM_CYB_PATH "/commerce/1.x/transactionProcessor"
/* The transaction key the simulator refuses, to test authentication failures. */
#define PL_SIM_CYB_BAD_KEY "bad-key"
/* The data namespace prefix; the version follows it ("1.121"). */
#define PL_SIM_CYB_NS_PREFIX "urn:schemas-cybersource-com:transaction-data-"
/* The control route that arms a soft decline for a merchantReferenceCode's next authorization. */
#define PL_SIM_CYB_SOFT_DECLINE_PATH "/__sim/cyb/soft_decline"

/* The route: POST PL_SIM_CYB_PATH → pl_sim_cyb_handle. */
extern const pl_sim_proto pl_sim_cyb_proto;

/*
 * Handles one SOAP request (req->body) and fills resp: an answer (200 reply, 500 fault or
 * HTML, 200 non-XML), PL_SIM_HOLD (901, 905) or PL_SIM_DROP (904, 906). Returns 0, or
 * PL_ERR_NOMEM.
 */
int pl_sim_cyb_handle(pl_sim_ledger *ledger, const pl_sim_http_req *req, pl_sim_response *resp);

/*
 * POST /__sim/cyb/soft_decline?ref=REF&reason=200|230|520: arms a soft decline with that reason
 * for the next request of merchantReferenceCode REF (1–PL_SIM_CYB_REF_MAX characters) that runs
 * ccAuthService and would be accepted (see above). One request takes it; arming again replaces
 * it; a reset clears it. Answers 200 {"ref":"REF","reason":230}, or 400 text saying what is
 * expected for another method or a bad or missing argument. method is the request's; ref and
 * reason may be NULL (absent). Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_cyb_soft_decline_control(pl_sim_ledger *ledger, const char *method, const char *ref,
                                    const char *reason, pl_sim_response *resp);

#endif
