/*
 * cyb_query.h: the CyberSource On-Demand Single Transaction Query, which tells what became of a
 * request whose answer never came (a timeout): the form to POST, its Basic authentication
 * header, reading the answer (a Transaction Detail Report), and what a record of it says about
 * one paylink operation. The HTTP transfer belongs to the caller; this module does no I/O.
 *
 * THE WIRE FORMAT (what the simulator speaks; sources at the end):
 *
 *   POST https://ebctest.cybersource.com/ebctest/Query      (production: PL_CYB_QUERY_URL_PROD)
 *   Content-Type: application/x-www-form-urlencoded
 *   Authorization: Basic base64(<report user>:<password>)   (the Business Center report user)
 *
 *   merchantID=mr&type=transaction&subtype=transactionDetail&versionNumber=1.7
 *       &merchantReferenceNumber=0070000359700000&targetDate=20240305
 *   or, when CyberSource's requestID is known (it wins; no targetDate then):
 *   merchantID=mr&type=transaction&subtype=transactionDetail&versionNumber=1.7
 *       &requestID=4036289939370176056470
 *
 *   Fields in that order, every value percent-encoded (curl_easy_escape: all but A-Z a-z 0-9
 *   - . _ ~; a space is %20). targetDate is the UTC day of the original request, yyyyMMdd.
 *   A merchant reference query answers every request of that merchantReferenceCode that day.
 *
 *   The answer, HTTP 200 (element and attribute order as CyberSource writes it; this parser
 *   matches by local name in any namespace and takes children in any order):
 *
 *   <?xml version="1.0" encoding="UTF-8"?>
 *   <!DOCTYPE Report SYSTEM "https://ebctest.cybersource.com/ebctest/reports/dtd/tdr_1_7.dtd">
 *   <Report xmlns="https://ebctest.cybersource.com/ebctest/reports/dtd/tdr_1_7.dtd"
 *           Name="Transaction Detail" Version="1.7" MerchantID="mr"
 *           ReportStartDate="2024-03-05 14:02:11.123+00:00"
 *           ReportEndDate="2024-03-05 14:02:11.123+00:00">
 *     <Requests>
 *       <Request MerchantReferenceNumber="0070000359700000"
 *                RequestDate="2024-03-05T14:01:58+00:00"
 *                RequestID="4036289939370176056470" SubscriptionID="" Source="SOAP Toolkit API"
 *                User="" TransactionReferenceNumber="0001094522">
 *         <BillTo><FirstName>JANE</FirstName>...<Country>US</Country></BillTo>
 *         <ShipTo>...</ShipTo>                                          (optional)
 *         <PaymentMethod><Card><AccountSuffix>1111</AccountSuffix>
 *           <ExpirationMonth>12</ExpirationMonth><ExpirationYear>2027</ExpirationYear>
 *           <CardType>Visa</CardType></Card></PaymentMethod>            (never read)
 *         <LineItems><LineItem Number="0">...</LineItem></LineItems>    (never read)
 *         <ApplicationReplies>
 *           <ApplicationReply Name="ics_auth">
 *             <RCode>1</RCode>              1 success, 0 declined, -1 error
 *             <RFlag>SOK</RFlag>            SOK, DCARDREFUSED, DAVSNO, DREVIEW, ESYSTEM, ...
 *             <RMsg>Request was processed successfully.</RMsg>
 *             <ReasonCode>100</ReasonCode>  optional (newer versions); read when present
 *           </ApplicationReply>
 *           ... one per application the request ran: ics_auth, ics_bill, ics_credit,
 *           ics_auth_reversal, ics_pay_subscription_create, ics_score, ics_decision, ...
 *         </ApplicationReplies>
 *         <PaymentData>
 *           <PaymentRequestID>4036289939370176056470</PaymentRequestID>
 *           <PaymentProcessor>smartfdc</PaymentProcessor>
 *           <Amount>120.00</Amount>
 *           <CurrencyCode>USD</CurrencyCode>
 *           <TotalTaxAmount>0.00</TotalTaxAmount>
 *           <AuthorizationCode>888888</AuthorizationCode>    (auths only)
 *           <AVSResult>Y</AVSResult>                          (the processor's raw code)
 *           <AVSResultMapped>Y</AVSResultMapped>              (CyberSource's code)
 *           <CVResult>M</CVResult>
 *         </PaymentData>
 *       </Request>
 *       ... more Request elements (a capture, a retry) for the same merchant reference
 *     </Requests>
 *   </Report>
 *
 *   A declined auth: <RCode>0</RCode><RFlag>DCARDREFUSED</RFlag><RMsg>...</RMsg> (ReasonCode
 *   203), no AuthorizationCode. An auth+capture request: one Request with two replies,
 *   ics_auth then ics_bill. A reversal: ics_auth_reversal. Nothing found: the same Report with
 *   an empty <Requests/> (what the simulator sends). A refused login: a line of plain text,
 *   HTTP 200 ("Invalid login credentials."), as CyberSource's other report service answers.
 *
 * Sources (read, not copied): CyberSource knowledge base GL270 "What is the On-Demand Single
 * Transaction Query?" (a POST with a transaction identifier answers Transaction Detail Report
 * records); CyberSource Reporting User's Guide, "Requesting On-Demand Reports" (Basic Access
 * Authentication, HTTPS) and appendices "XML Report DTDs" / "Sample XML Reports" (Single
 * Transaction Report); killbill/killbill-cybersource-plugin lib/cybersource/
 * cyber_source_on_demand.rb (URLs, the form fields, versionNumber 1.7, Basic header; reads
 * Requests/Request, ApplicationReplies/ApplicationReply RCode/RMsg, PaymentData Amount,
 * CurrencyCode, AuthorizationCode, AVSResult, AVSResultMapped, falls back to PaymentRequestID)
 * and spec/cybersource/cyber_source_on_demand_spec.rb (two tdr_1_3/tdr_1_6 reports: the
 * element order above, RCode 0 with RFlag DREVIEW, <RFlag/> empty, lower-case "eur");
 * chrismeller/cybersource test/query.php (requestID or merchantReferenceNumber + targetDate
 * yyyyMMdd, Content-type and Basic headers); guillaumeaubert/Business-CyberSource-Report
 * SingleTransaction.pm (targetDate must be YYYYMMDD, versions 1.1-1.7, an HTTP error status
 * on failure); public test fixtures of other merchants (tdr_1_1, tdr_1_5, tdr_1_9: several
 * Request elements for one merchant reference, newest first; CVResult, AVSResultMapped,
 * ics_credit, ics_bill + ics_arc replies); CyberSource invoicing docs "Application Fields"
 * (Name, Rcode, Rflag, Rmsg, ReasonCode per application). Not confirmed anywhere public:
 * how the Query answers when nothing matches (an empty Requests is assumed; any plain text
 * other than a login refusal is PL_ERR_PARSE, so an unknown answer never reads as "not
 * there"), the exact login refusal text of this endpoint, and where ReasonCode sits.
 *
 * Reading is xmlutil.h's pl_xml_read_report, as dm_report.c's: no network, the DOCTYPE
 * accepted but its DTD never loaded, no entity substitution, an internal subset that declares
 * an entity or a reference to an undeclared entity refused (billion laughs, XXE). Card fields
 * (PaymentMethod) are never read; free text (RMsg) has card numbers masked; errstr quotes only
 * sanitised excerpts.
 *
 * Memory: everything is the caller's (fixed-size structs; the form is malloc'd and freed with
 * free()). Threads: no state; any thread, once xmlInitParser has run on the main thread.
 */
#ifndef PL_CYB_QUERY_H
#define PL_CYB_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PL_CYB_QUERY_URL_TEST "https://ebctest.cybersource.com/ebctest/Query"
#define PL_CYB_QUERY_URL_PROD "https://ebc.cybersource.com/ebc/Query"
#define PL_CYB_QUERY_CONTENT_TYPE "Content-Type: application/x-www-form-urlencoded"

/* The report version asked for (the DTD tdr_1_7.dtd). */
#define PL_CYB_QUERY_VERSION "1.7"

/* The longest answer body pl_cyb_query_parse reads; a longer one is PL_ERR_PARSE. */
#define PL_CYB_QUERY_MAX_BODY (4u * 1024u * 1024u)

/* A body that is not XML and at most this long may be a plain-text login refusal. */
#define PL_CYB_QUERY_PLAIN_TEXT_MAX 1024

/* The most records and application replies per record a result holds. */
#define PL_CYB_QUERY_MAX_RECORDS 8
#define PL_CYB_QUERY_MAX_APPS 8

/* What to ask. */
typedef struct pl_cyb_query {
    const char *merchant_id;
    const char *merchant_reference; /* paylink's request_id (merchantReferenceCode); or NULL */
    const char *request_id;         /* CyberSource's requestID when known (wins); or NULL */
    int64_t target_day; /* the UTC day the request was sent, as epoch seconds of any moment */
} pl_cyb_query;

/*
 * The form body above, malloc'd and NUL-terminated (the caller frees it). NULL when q is NULL,
 * merchant_id is NULL or empty, neither request_id nor merchant_reference is given (NULL or
 * empty), target_day (used only without a request_id) falls in a year without four digits, or
 * memory ran out.
 */
char *pl_cyb_query_form(const pl_cyb_query *q);

/*
 * Writes "Authorization: Basic " base64(user ":" password) into out (no line end), for
 * curl_slist_append. out holds a secret: the caller wipes it after use. Returns 0,
 * PL_ERR_INVALID when user or password is NULL or empty, the user contains ':' (RFC 7617: Basic
 * cannot carry it) or either contains a control character (a line end read from a file with
 * the secret), or PL_ERR_TOOBIG when out is too small (out is wiped then); nothing of the
 * credentials is ever put into an error text. out may be NULL only with outsize 0.
 */
int pl_cyb_query_auth_header(const char *user, const char *password, char *out,
                             size_t outsize) PL_MUSTCHECK;

/* One ApplicationReply. */
typedef struct pl_cyb_app_reply {
    char name[32];       /* Name: "ics_auth" */
    int rcode;           /* RCode when has_rcode: 1, 0, -1 */
    bool has_rcode;      /* false when RCode is absent or empty */
    char rflag[32];      /* RFlag: "SOK", "DCARDREFUSED"; "" when absent */
    char rmsg[128];      /* RMsg, free text: card numbers masked, cut to fit */
    char reason_code[8]; /* ReasonCode: "100"; "" when absent */
} pl_cyb_app_reply;

/* One Request of the report. */
typedef struct pl_cyb_query_record {
    char merchant_reference[51]; /* @MerchantReferenceNumber */
    char request_id[65];         /* @RequestID, else PaymentData/PaymentRequestID; "" if none */
    char request_date[40];       /* @RequestDate as given: "2024-03-05T14:01:58+00:00" */
    bool has_amount;             /* PaymentData/Amount present */
    int64_t amount;              /* minor units: "120.00" → 12000 */
    char currency[4];            /* PaymentData/CurrencyCode, upper-cased: "USD"; "" if none */
    char auth_code[31];          /* PaymentData/AuthorizationCode */
    char avs[8];                 /* PaymentData/AVSResultMapped, else AVSResult */
    char cvv[8];                 /* PaymentData/CVResult */
    pl_cyb_app_reply apps[PL_CYB_QUERY_MAX_APPS]; /* in document order */
    size_t napps;
} pl_cyb_query_record;

typedef struct pl_cyb_query_result {
    pl_cyb_query_record recs[PL_CYB_QUERY_MAX_RECORDS]; /* in document order */
    size_t nrecs;
} pl_cyb_query_result;

/*
 * Reads an answer body (body[0, len), need not be NUL-terminated) into *res (always zeroed
 * first). Returns:
 *   0: *res holds the report's Request elements; nrecs 0 (an empty Requests element) means
 *      CyberSource has no such request.
 *   PL_ERR_AUTH: a plain-text answer (not XML, at most PL_CYB_QUERY_PLAIN_TEXT_MAX bytes) that
 *      refuses the login: it mentions a login, credentials, a password, a user name, a merchant
 *      not found, or (un)authorized/authentication. errstr is the text, sanitised (printable
 *      ASCII, trimmed, card numbers and runs of 10+ digits masked, at most 200 characters).
 *   PL_ERR_PARSE: anything else, the reason in errstr: an empty body, one over
 *      PL_CYB_QUERY_MAX_BODY, any other text (quoted, sanitised), XML that is not well-formed,
 *      an entity declaration or a reference to an undeclared entity, a root other than Report,
 *      a Report without a Requests element, more than PL_CYB_QUERY_MAX_RECORDS Requests, an
 *      identifier or code longer than its field (never cut), a field twice in one Request, an
 *      RCode that is not an integer, an Amount that is not a decimal amount, a CurrencyCode
 *      that is not three letters, or more replies of the operations pl_cyb_query_outcome knows
 *      than PL_CYB_QUERY_MAX_APPS. The whole answer is refused: nothing is half read.
 *   PL_ERR_NOMEM: out of memory.
 * A Request with more than PL_CYB_QUERY_MAX_APPS replies keeps every reply of the known
 * operations and as many others as fit, in document order; a reply whose Name does not fit
 * name[] is none of those and is skipped. errstr may be NULL.
 */
int pl_cyb_query_parse(const char *body, size_t len, pl_cyb_query_result *res, char *errstr,
                       size_t errsz) PL_MUSTCHECK;

/*
 * A partial approval, which CyberSource may write as ics_auth RCode 0 with ReasonCode 110 (as its
 * answer writes decision REJECT 110), counts as RCode 1 where the adapter reads the answer as an
 * approval (bureau_cybersource.h): for "auth_capture" when its ics_bill says RCode 1 (captured),
 * for "auth" and "token_auth" when the record carries PaymentData/Amount. Otherwise it is the
 * refusal it says. A "token_auth" whose partial approval (ReasonCode 110 counting RCode 1) has no
 * ics_pay_subscription_create at all (CyberSource skips the token after it) is FOUND_OK, as the
 * answer in time is the approval without a token; before, FOUND_ERROR. PaymentData/Amount is not
 * necessarily the amount approved (the report may give the amount asked): a caller applying a
 * partial approval compares it with what the request sent (resolver.c does).
 */
typedef enum {
    PL_CYB_NOT_THERE = 0,  /* no record of that merchant reference with an app of the op */
    PL_CYB_FOUND_OK,       /* every app of the op RCode 1 */
    PL_CYB_FOUND_DECLINED, /* an app of the op RCode 0 */
    PL_CYB_FOUND_ERROR,    /* otherwise: an app of the op RCode -1, or an app of the op missing
                              beside another (the request did not complete) */
    /* An app of the op without an RCode, or with one other than 1, 0 or -1: the record does not
     * say what became of the request (an RFlag SOK or a ReasonCode 100 beside it is no RCode
     * 1), so it is neither a success nor a failure. Read as "failed, nothing charged" (before,
     * FOUND_ERROR), it freed the order system to send a capture or credit the bureau may have
     * applied again; a caller asks again, and gives it to an operator when the report keeps
     * saying so (resolver.c). */
    PL_CYB_FOUND_UNREADABLE,
    /* Only of an op applied at most once per request ("capture", "credit", "auth_capture"):
     * more than one record of the merchant reference says it was applied (FOUND_OK), or one
     * does and another is FOUND_UNREADABLE (it may have been applied too): the bureau took the
     * money (or refunded it) more than once under one request — a retry it did receive — and
     * no record says which one paylink's request was. Applying one would leave the other
     * charge (refund) unseen; a caller tells an operator, naming them
     * (pl_cyb_query_record_outcome lists them). */
    PL_CYB_FOUND_SEVERAL,
} pl_cyb_found;

/*
 * What the report says about one paylink operation op: "auth" (ics_auth), "capture"
 * (ics_bill), "credit" (ics_credit), "reversal" (ics_auth_reversal), "auth_capture" (ics_auth
 * and ics_bill in one Request), "token" (ics_pay_subscription_create), "token_auth"
 * (ics_pay_subscription_create and ics_auth in one Request). Only records whose
 * merchant_reference equals merchant_reference (NULL: any record, for a requestID query) and
 * that hold at least one app of op count; each gets the verdict of pl_cyb_found above
 * (pl_cyb_query_record_outcome). For "capture", "credit" and "auth_capture", more than one
 * record that is OK, or OK beside UNREADABLE, gives PL_CYB_FOUND_SEVERAL, *rec the first OK one.
 * Otherwise the best wins: OK, then UNREADABLE, then DECLINED, then ERROR (a retried auth
 * approved once has moved money whatever its other attempts say; an attempt that may have been
 * approved outweighs one refused), the first in document order among equals. Several approved
 * authorizations, reversals or tokens of one merchant reference stay FOUND_OK (the first): a
 * second authorization is a hold that expires, not a charge (the order has its authorization;
 * a caller tells an operator of the others' holds: pl_cyb_query_outcome_applied lists them),
 * and a reversal or token twice takes nothing more. *rec (rec may be NULL) is that record, NULL
 * when PL_CYB_NOT_THERE. Other apps (ics_decision's DREVIEW, ics_score) are not judged: they are in
 * (*rec)->apps for the caller. res or op NULL, or an unknown op, gives PL_CYB_FOUND_ERROR with *rec
 * NULL: a caller's mistake must never read as "CyberSource does not have it", which would invite a
 * second charge.
 */
pl_cyb_found pl_cyb_query_outcome(const pl_cyb_query_result *res, const char *merchant_reference,
                                  const char *op, const pl_cyb_query_record **rec);

/* The records that say op was applied, or may have been (FOUND_OK or FOUND_UNREADABLE), of the
 * ones pl_cyb_query_outcome counts: in document order, pointers into its res. */
typedef struct pl_cyb_query_applied {
    const pl_cyb_query_record *recs[PL_CYB_QUERY_MAX_RECORDS];
    pl_cyb_found found[PL_CYB_QUERY_MAX_RECORDS]; /* each one's verdict: OK or UNREADABLE */
    size_t n;
    size_t unreadable; /* how many of them are FOUND_UNREADABLE */
} pl_cyb_query_applied;

/*
 * As pl_cyb_query_outcome, the same verdict and *rec from the same one walk over the records,
 * and also (applied may be NULL; always emptied first) every record that says op was applied or
 * may have been, whatever the verdict. A caller names them: the records of a FOUND_SEVERAL, or
 * the other approved authorizations beside the FOUND_OK of an "auth" or "token_auth" retried at
 * the bureau, each a hold on the card that nothing applied reverses (resolver.c tells an
 * operator).
 */
pl_cyb_found pl_cyb_query_outcome_applied(const pl_cyb_query_result *res,
                                          const char *merchant_reference, const char *op,
                                          const pl_cyb_query_record **rec,
                                          pl_cyb_query_applied *applied);

/*
 * The verdict of the one record r for op (as pl_cyb_query_outcome judges each record, whatever
 * its merchant reference): PL_CYB_NOT_THERE when r holds no app of op, never
 * PL_CYB_FOUND_SEVERAL. r or op NULL, or an unknown op, gives PL_CYB_FOUND_ERROR.
 */
pl_cyb_found pl_cyb_query_record_outcome(const pl_cyb_query_record *r, const char *op);

#endif
