/*
 * bureau_relate.h: the Oracle Retail Customer Engagement (Relate) stored value card adapter, `RLT`.
 *
 * The adapter itself is the ops table pl_bureau_relate declared in bureau.h; this header is its
 * manual and exports the message names the simulator and tests share with it. Every layout
 * below comes from seed customer-engagement-stored-value-card.txt, whose samples the unit test
 * compares element for element (tests/fixtures/relate/ holds them verbatim).
 *
 * build: the SOAP envelope of the seed's samples, made with the libxml2 tree API and written
 * without an XML declaration (the samples have none):
 *   SOAP-ENV:Envelope (xmlns SOAP-ENV, xsi, xsd)
 *     SOAP-ENV:Header (SOAP-ENV:encodingStyle ".../soap/encoding", no trailing slash, and
 *                      SOAP-ENV declared again, both as in the samples)
 *       xhead (no namespace, xmlns:xhead="dv:xhead"): xhead:msg_id, msg_type CRM_MESSAGE,
 *             source REGISTER, destination SERVER, body_format SOAPRPC, return_format SOAPRPC,
 *             priority 3, charset 850, expect_response true
 *     SOAP-ENV:Body
 *       dtv:ProcessXML (xmlns:dtv=".../DTVProcessXML.xsd", encodingStyle ".../soap/encoding/")
 *         dtv:ARTSAction  pl_relate_action(op)
 *         dtv:ARTSData    the message, in no namespace (the samples declare none)
 * msg_id is the request's request_id (call->req->request_id, the idempotency key), so a line
 * of the bureau's log leads to our request and a retry of the same request carries the same
 * id; "0001", the seed's value, when the call has no request or the request no id.
 * The messages, every element always present (empty as <X/> when the value is ""):
 *   PL_OP_SVC_GENERATE  CardSeriesMaintenance > CardSeries Action="GenerateCard" > UserName
 *                       OMS, CardPrefix cfg->card_prefix, CardSeriesSequence cfg->card_series
 *   the others          <Name>Request > UserID OMS, Instrument (InstrumentID "",
 *                       AuthenticationData "", CardNumber call->svc_card_number in full,
 *                       CardSwiped False), RTPTransaction (RTPTransactionID call->order,
 *                       OperatorID OMS, LocationID cfg->location_id, TransactionDateTime
 *                       YYYY-MM-DDTHH:MM:SS and BusinessDate YYYY-MM-DD of call->now in UTC,
 *                       RTPAmount (CurrencyID call->currency, Amount call->amount "250.00")),
 *                       SVATransaction/SVATransactionID, Comments "<Kind> Request"
 * with ActivateInstrumentRequest (Comments "Activation Request"), RechargeRequest (the
 * activation of a virtual card, and adding value), PreauthorizationRequest,
 * PostauthorizationRequest (SVATransactionID = call->ref_request_id, the authorization),
 * ReturnRequest (SVATransactionID always empty, as the sample), InquiryRequest (no
 * RTPTransaction, no SVATransaction) and VoidRequest (SVATransactionID = call->ref_request_id).
 * ARTSAction is the message's name, "GenerateCard" for the card series. Every text has its
 * non-keyboard characters removed (printable ASCII only), which also keeps the body the same
 * bytes in UTF-8 and in the code page 850 the xhead announces. Content type
 * "text/xml; charset=utf-8"; no SOAPAction (the seed shows none).
 * Web service authentication (seed: "user and password in the HTTP header"): when cfg->ws_user
 * is set, msg->auth_header is "Authorization: Basic <base64(ws_user:secret)>"; it is never
 * written into the body, an error text or a log. call->req is optional (only msg_id uses it).
 * A GenerateCard for a request with svc.issue_amount also sets msg->extra_header to
 * "X-Paylink-Issue-Amount: 25.00": the seed's message has no amount, the real service ignores
 * a header it does not know, and the simulator picks its scenario from it (CONTRACT.md §3: 909
 * exhausts the series, 901–906 are its faults). It is not a credential and not card data.
 *
 * parse: the answer is a bare message (CardSeriesMaintenance, ActivateInstrumentResponse,
 * RechargeResponse, PreauthorizationResponse, PostauthorizationResponse, ReturnResponse,
 * InquiryResponse, VoidResponse; the samples put them in the namespace
 * http://www.nrf-arts.org/IXRetail/namespace/, but any namespace is read) or the same inside a
 * SOAP envelope / ProcessXMLResponse: the first element in document order with one of these
 * local names is the answer. A wrapper that carries the answer as escaped text (an RPC string
 * result) is read too: the first text that is itself an XML document is parsed once more.
 * A SOAP Fault in the Envelope's Body (a Fault child of a Body child of the root) wins over
 * any answer: one in its detail, beside it, or escaped in its faultstring is not read (a
 * service that failed after it applied the message may quote an answer there; read as the
 * answer, a redemption applied before the fault was a decline, sent again).
 * Fields: response_code = CardSeries@ResponseCode; error_code / error_text = the first
 * ErrorCode / ResponseDescription anywhere in the answer (seed: a declined transaction of any
 * kind is answered the same way, the CardSeriesMaintenance "Rejected" sample); svc_status =
 * InstrumentState/Status; account_id, account_status and balance (has_balance) from
 * AccountState; from SVATransaction: request_id = SVATransactionID (what a PostAuth or Void
 * later refers to), reason_code = Reason/Code (the ORCE response), auth_code = AuthNumber,
 * auth_date = TransactionDateTime (as sent, with its offset), amount (has_amount) =
 * SVAAmount/Amount; svc_instrument_id and svc_card_number from CardSeries/Instrument
 * (GenerateCard). SVAAmount/CurrencyID is compared with call->currency (below), not kept.
 * decision is left "": the vendor response tables decide.
 * Returns 0 for any readable answer, whatever the HTTP status, including declines. A SOAP Fault
 * gives fault_code / fault_string (SOAP 1.1's faultcode / faultstring, or for a SOAP 1.2 Fault
 * its Code/Value / first Reason/Text; "(no faultcode)" when it has no code) and returns 0, as
 * bureau.h says; on an operation that changes a card (all but GenerateCard and InquiryRequest)
 * a fault that does not say the message was refused before processing
 * (pl_relate_fault_before_processing: 1.1's Client or 1.2's Sender is; 1.1's Server or 1.2's
 * Receiver is not) sets outcome_unknown: the service may have applied it.
 * HTTP 401 or 403 without an answer or a Fault (an HTML page, nothing: the web service refused
 * the user and password before reading the message; RLT has no OAuth to renew) returns 0 as a
 * fault of its own, fault_code "HTTP 401" / "HTTP 403", outcome_unknown false on every
 * operation: a final `error` (stored_value.h), nothing processed.
 * PL_ERR_PARSE: not XML, empty, over PL_RELATE_MAX_BODY, a DTD (never legitimate here; refusing
 * it closes XXE and entity bombs), no answer element, an answer with no outcome (neither
 * Reason/Code, ErrorCode nor ResponseCode), the answer of another operation than call->op (a
 * CardSeriesMaintenance is accepted for any operation: it is the declined form), a GenerateCard
 * "OK" without a CardNumber, an amount that is not a decimal, an identifier or code too long
 * for its field; and, of an approval of a message that sends an amount (RTPAmount: not
 * GenerateCard or InquiryRequest), an SVAAmount/CurrencyID other than a non-empty
 * call->currency (any case; the seed's requests send an empty one, and its answers the
 * service's currency), or an SVAAmount below call->amount (0.00 included) on an activation, a
 * recharge, a PostAuth or a Return (the seed has no partial load, redemption or return: its
 * service is set up with "Allow Partial Redemption" No, and rejects a PostAuth greater than
 * its authorization; neither an approval for the part nor a decline can be booked; a
 * PreauthorizationResponse's smaller amount is the seed's partial approval, read, and its
 * 0.00 declined by stored_value.h; a VoidResponse's is what was left to release). A decline is
 * not checked for either: it moves no money. Error texts never hold a card number: text of the
 * document quoted in them, and the free texts error_text / fault_*, have card numbers masked, Luhn
 * or not (a stored value card number is 10 to 16 digits without a check digit, seed), any run of 10
 * or more digits keeping only its last four.
 *
 * redact: the message parsed again; every CardNumber masked with pl_card_mask_log in the given
 * mode ("************4793" or "***REMOVED***"), AuthenticationData emptied, runs of 10+ digits
 * masked in the free texts (ResponseDescription, Description, Comments, SOAP fault texts) and in
 * text that carries escaped markup; then the whole copy is scrubbed with pl_card_scrub_full as a
 * second net. Text that is not XML is scrubbed and has every run of 10+ digits masked (all stars in
 * the removed mode). The Authorization header is never part of a body, so never of the copy.
 *
 * Memory and threads: as bureau.h. Build and parse keep no state; libxml2 must have been
 * initialised (xmlInitParser) before threads are started if they are used from several threads.
 */
#ifndef PL_BUREAU_RELATE_H
#define PL_BUREAU_RELATE_H

#include "bureau.h"

/* Largest answer parse and redact accept (1 MiB); real answers are under 2 KiB. */
#define PL_RELATE_MAX_BODY (1024 * 1024)
/* The header naming a GenerateCard's issue amount (see above). */
#define PL_RELATE_ISSUE_AMOUNT_HEADER "X-Paylink-Issue-Amount"

/*
 * The ARTSAction of an operation's request ("GenerateCard", "RechargeRequest", ...), which is
 * also the name of its message element except for GenerateCard (CardSeriesMaintenance).
 * NULL for an operation that is not a stored value one. Static string.
 */
const char *pl_relate_action(pl_bureau_op op);

/*
 * The root element name of the answer to an operation ("CardSeriesMaintenance",
 * "RechargeResponse", ...), or NULL for an operation that is not a stored value one.
 * Static string.
 */
const char *pl_relate_answer_name(pl_bureau_op op);

/*
 * True when a SOAP 1.1 faultcode or a SOAP 1.2 Code/Value says the message was refused before
 * it was processed: Client or Sender (1.2's name for it), VersionMismatch, MustUnderstand or
 * DataEncodingUnknown (1.2), with any namespace prefix, alone or with a 1.1 subcode
 * ("SOAP-ENV:Client.Authentication"). False for Server, Receiver (1.2's Server), a code of the
 * service's own, or "".
 */
bool pl_relate_fault_before_processing(const char *code);

#endif
