/*
 * sim_query.h: the simulated CyberSource On-Demand Single Transaction Query, which tells a
 * client what became of a request whose answer never came (a timeout). The wire format is the
 * one paylink's reader expects, common/cyb_query.h (its header cites CyberSource's documents).
 *
 * Route: POST /ebctest/Query (the test server's path) and POST /ebc/Query (production's), with
 * HTTP Basic authentication (the Business Center report user) and a form body
 * (application/x-www-form-urlencoded, decoded by pl_sim_form_value, '+' = space):
 *   merchantID, type=transaction, subtype=transactionDetail, versionNumber (1.1 to 1.7), and
 *   requestID, or merchantReferenceNumber + targetDate (yyyyMMdd, the UTC day of the request).
 * Order free, unknown parameters ignored, the first of a repeated one counts. requestID wins
 * when both are given (targetDate is not read then).
 *
 * Refusals are HTTP 200 text/plain, as CyberSource's report services answer (the first that
 * applies):
 *   no Basic header, an empty user, a wrong password   "Invalid login credentials."
 *   a body that is not a form                          "Invalid request: the body must be
 *                                                       application/x-www-form-urlencoded."
 *   merchantID missing (or not UTF-8)                  "No merchant found for username."
 *   type or subtype not those above                    "Invalid request: type must be
 *                                                       transaction, subtype transactionDetail."
 *   versionNumber missing or not 1.1 to 1.7            "Invalid versionNumber: expected 1.1 to
 *                                                       1.7."
 *   neither requestID nor merchantReferenceNumber      "Invalid request: requestID, or
 *                                                       merchantReferenceNumber and targetDate,
 *                                                       is required."
 *   targetDate missing, not yyyyMMdd, no such day      "Invalid targetDate: expected yyyyMMdd."
 * The password is the Conversion Detail Report's (pl_sim_dm_password_ok of sim_dm.h,
 * --dm-password-file), or, with none configured, anything non-empty but PL_SIM_DM_BAD_PASSWORD;
 * any non-empty user. Only the login refusal and the merchant refusal use words paylink's
 * reader takes for a refused login; the others read there as answers it does not know
 * (PL_ERR_PARSE), never as "not there".
 *
 * The answer (HTTP 200, application/xml): the Transaction Detail Report of cyb_query.h, built
 * with libxml2: XML declaration, DOCTYPE Report SYSTEM ".../reports/dtd/tdr_1_7.dtd" (the
 * version asked for), Report (default namespace the DTD's URL; Name "Transaction Detail",
 * Version, MerchantID, ReportStartDate and ReportEndDate the moment of the answer), then
 * Requests with one Request per CyberSource request the simulator answered (the ledger's
 * pl_sim_ledger_cyb_requests) of that merchantID with that requestID, or with that
 * merchantReferenceCode answered on that UTC day: newest first, every one of them (no cap).
 * Nothing found: an empty <Requests/>. 901–904 requests were never processed, so they are
 * never found; 905 and 906 were (their answer was lost), so they are. A Request holds:
 *   attributes MerchantReferenceNumber, RequestDate ("2024-03-05T14:01:58+00:00"), RequestID,
 *   SubscriptionID (the token created or paid with, else ""), Source "SOAP Toolkit API",
 *   User "", TransactionReferenceNumber (the reply's reconciliationID);
 *   PaymentMethod/Card (AccountSuffix: the last four digits, ExpirationMonth, ExpirationYear,
 *   CardType) when the request carried a card;
 *   ApplicationReplies: an ApplicationReply Name="ics_…" per application of the record
 *   (sim_ledger.h's pl_sim_cyb_request: ics_auth, ics_bill, ics_credit, ics_auth_reversal,
 *   ics_pay_subscription_create, ics_score, ics_decision) with RCode (1 success, 0 declined,
 *   -1 error), RFlag (SOK, DCARDREFUSED, DREVIEW, ESYSTEM, …), RMsg and ReasonCode;
 *   PaymentData: PaymentRequestID, PaymentProcessor "smartfdc", Amount (approved, else asked),
 *   CurrencyCode (when the request's is three capital letters), TotalTaxAmount 0.00,
 *   AuthorizationCode (an approved authorization), AVSResult and AVSResultMapped, CVResult.
 * No BillTo, ShipTo or LineItems (the simulator keeps none of it), and no card number: the
 * ledger holds the last four digits only. The merchant reference is an identifier and is
 * echoed as sent, as the SOAP reply echoes it. URLs are ebctest's on the test path and ebc's on
 * the production path.
 *
 * Thread-safe: the configuration is read only, the requests live in the ledger.
 */
#ifndef PL_SIM_QUERY_H
#define PL_SIM_QUERY_H

#include <stdbool.h>

#include "err.h"
#include "sim_ledger.h"
#include "sim_proto.h"

#define PL_SIM_QUERY_PATH "/ebctest/Query"
#define PL_SIM_QUERY_PROD_PATH "/ebc/Query"

/* The route's state (pl_sim_http_req.state), which the caller keeps for the server's life. */
typedef struct pl_sim_query_cfg {
    const char *password; /* NULL/"" → any non-empty password but PL_SIM_DM_BAD_PASSWORD */
} pl_sim_query_cfg;

/* True for PL_SIM_QUERY_PATH and PL_SIM_QUERY_PROD_PATH. */
bool pl_sim_query_path_match(const char *path);

/*
 * Handles one query; req->state is a pl_sim_query_cfg (required). Fills resp: the report or a
 * plain text refusal. Returns 0, PL_ERR_INVALID (no state) or PL_ERR_NOMEM.
 */
int pl_sim_query_handle(pl_sim_ledger *ledger, const pl_sim_http_req *req, pl_sim_response *resp);

/* The route: POST either path → pl_sim_query_handle. */
extern const pl_sim_proto pl_sim_query_proto;

#endif
