/*
 * sim_relate.h: the simulated Oracle Retail Customer Engagement stored value service (RLT),
 * POST /relateui/<company>/xmlapi, as seed customer-engagement-stored-value-card.txt shows it.
 *
 * A request is the seed's SOAP envelope: SOAP-ENV:Envelope > SOAP-ENV:Body > dtv:ProcessXML
 * with dtv:ARTSAction (the message's name; "GenerateCard" for a card series) and dtv:ARTSData
 * holding one message: CardSeriesMaintenance (CardSeries Action="GenerateCard"),
 * ActivateInstrumentRequest, RechargeRequest, PreauthorizationRequest,
 * PostauthorizationRequest, ReturnRequest, InquiryRequest or VoidRequest. The message may
 * also arrive as escaped text inside ARTSData. Message elements are read in any namespace
 * (the seed's have none). An Authorization header (Basic) is accepted whoever it names and is
 * neither checked nor kept.
 *
 * The answer is the bare response document of the seed (no envelope, no XML declaration,
 * default namespace http://www.nrf-arts.org/IXRetail/namespace/, text/xml, HTTP 200):
 * CardSeriesMaintenance for GenerateCard, <Message>Response otherwise (Reason codes:
 * ActivateInstrument 2, Recharge 8, Inquiry 16, Return 18, Void 22, Preauthorization 24,
 * Postauthorization 26). A decline has the seed's declined shape everywhere: DateTime, then
 * the element that carries the transaction (CardSeries for GenerateCard, SVATransaction for
 * the others) with ResponseCode="Rejected", ErrorCode and ResponseDescription.
 *
 * Rules (the account rules are the ledger's, sim_ledger.h): the whole-unit part of
 * RTPAmount/Amount picks the CONTRACT.md §3 scenario — 150 Rejected SYSTEM_ERROR (nothing
 * applied), 901 held then dropped, 902 HTTP 500 (HTML), 903 HTTP 200 not XML, 904 dropped
 * (901–904: nothing applied, nothing recorded), 905 applied then held, 906 applied then
 * dropped; other amounts are processed normally (partial approval comes from the balance).
 * Missing or bad fields → Rejected INVALID_REQUEST. A body that is not the envelope above →
 * HTTP 500 SOAP Fault SOAP-ENV:Client. A fault armed for the order on the control route
 * (pl_sim_relate_fault_control) answers the order's next call (of its op) before any scenario:
 * HTTP 500 SOAP Fault SOAP-ENV:Client (nothing applied) or SOAP-ENV:Server, after the
 * operation was applied and recorded when the fault says so.
 *
 * Records: every applied operation is a ledger row (ref = RTPTransactionID, bureau_id = the
 * SVATransactionID; GenerateCard: ref "<CardPrefix>-<CardSeriesSequence>", bureau_id the
 * InstrumentID). The answer is recorded for GET /__sim/query under the order number (the last
 * answer for the order) and under "<order>/<op>" (op: activate, recharge, auth, deposit,
 * return, void), GenerateCard under "<CardPrefix>-<CardSeriesSequence>"; request_id carries
 * the SVATransactionID (InstrumentID), request_token the AuthNumber, error_code the ErrorCode.
 *
 * Card numbers are kept in memory (the simulator is a test double) and logged masked only;
 * request buffers holding them are wiped. Thread-safe (state lives in the ledger).
 */
#ifndef PL_SIM_RELATE_H
#define PL_SIM_RELATE_H

#include <stdbool.h>

#include "sim_ledger.h"
#include "sim_proto.h"

#define PL_SIM_RELATE_PATH "/relateui/{company}/xmlapi"
/* The control route that sets how many numbers a card series has left (sim_server.h). */
#define PL_SIM_RELATE_SERIES_PATH "/__sim/relate/series"
/* The control route that arms a SOAP fault for an order's next call. */
#define PL_SIM_RELATE_FAULT_PATH "/__sim/relate/fault"
/* The answers' default namespace and the envelope's ProcessXML namespace. */
#define PL_SIM_RELATE_NS "http://www.nrf-arts.org/IXRetail/namespace/"
#define PL_SIM_RELATE_DTV_NS "http://xml.datavantagecorp.com/namespace/crm/DTVProcessXML.xsd"
/* ErrorCodes of the handler itself (the account ones are PL_SIM_RLT_E_* in sim_ledger.h). */
#define PL_SIM_RELATE_E_INVALID "INVALID_REQUEST"
#define PL_SIM_RELATE_E_SYSTEM "SYSTEM_ERROR"

/* The route: POST /relateui/<company>/xmlapi → pl_sim_relate_handle. */
extern const pl_sim_proto pl_sim_relate_proto;

/* True for "/relateui/<company>/xmlapi" with a company code of 1–10 [A-Za-z0-9]. */
bool pl_sim_relate_path_match(const char *path);

/*
 * Handles one request (req->body) and fills resp: an answer (200 response document, 500
 * SOAP Fault or HTML, 200 non-XML), PL_SIM_HOLD (901, 905) or PL_SIM_DROP (904, 906).
 * Returns 0, or PL_ERR_NOMEM.
 */
int pl_sim_relate_handle(pl_sim_ledger *ledger, const pl_sim_http_req *req, pl_sim_response *resp);

/*
 * GET|POST /__sim/relate/series?prefix=P&sequence=S[&remaining=N|unlimited]: reads (GET) or
 * sets (POST, remaining required: 0–1000000000, 0 = exhausted, or "unlimited") how many more
 * numbers the card series P/S may generate. Answers 200
 * {"prefix":"85749","sequence":"09","remaining":0,"generated":3} (remaining null when
 * unlimited) or 400 text for bad arguments. Arguments may be NULL (absent).
 * Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_relate_series_control(pl_sim_ledger *ledger, bool change, const char *prefix,
                                 const char *sequence, const char *remaining,
                                 pl_sim_response *resp);

/*
 * POST /__sim/relate/fault?order=O&code=Server|Client[&op=OP][&applied=true|false]: arms a SOAP
 * fault for the next call naming order O (RTPTransactionID: every message but GenerateCard and
 * InquiryRequest) — of op OP only when given (activate, recharge, auth, deposit, return, void) —
 * answered
 * instead of the call's own: SOAP-ENV:Client (refused before processing: nothing applied) or
 * SOAP-ENV:Server (failed inside), with applied=true after the operation was applied and
 * recorded (Server only). One call takes it; arming again replaces it; a reset clears it.
 * Answers 200 {"order":"O","op":"auth"|null,"code":"SOAP-ENV:Server","applied":true} or 400
 * text. Arguments may be NULL (absent). Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_relate_fault_control(pl_sim_ledger *ledger, const char *order, const char *op,
                                const char *code, const char *applied, pl_sim_response *resp);

#endif
