/*
 * bureau_relate.c: the Oracle Retail Customer Engagement stored value card adapter (`RLT`).
 *
 * Requests are built as a libxml2 tree in the exact shape of the seed's samples
 * (customer-engagement-stored-value-card.txt) and serialised without an XML declaration;
 * answers are read with the readers of xmlutil.h (as a stream, a tree only for a document that
 * has no answer element), which never touch the network and refuse DTDs, and the bureau
 * message log gets a re-parsed copy with the card numbers masked. Stored
 * value card numbers have no check digit (seed: Relate "does not perform modulus checking"), so
 * the Luhn based scrubber of card.h cannot be the only net here: card numbers are masked by
 * element, and free text has every long run of digits masked. The manual is bureau_relate.h.
 */
#include "bureau_relate.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/tree.h>
#include <openssl/evp.h>

#include "card.h"
#include "money.h"
#include "stored_value.h"
#include "xmlutil.h"

#define NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_XSD "http://www.w3.org/2001/XMLSchema"
#define NS_XHEAD "dv:xhead"
#define NS_DTV "http://xml.datavantagecorp.com/namespace/crm/DTVProcessXML.xsd"
/* seed: the Header's encodingStyle has no trailing slash, ProcessXML's has one. Both are sent
 * as the samples show them, since that is what the bureau is known to accept. */
#define HEADER_ENCODING "http://schemas.xmlsoap.org/soap/encoding"
#define BODY_ENCODING "http://schemas.xmlsoap.org/soap/encoding/"

/* seed: UserName, UserID and OperatorID "OMS defaults". */
#define OMS_USER "OMS"
/* seed: the msg_id of every sample; used when the call has no request_id. */
#define DEFAULT_MSG_ID "0001"

#define AUTH_PREFIX "Authorization: Basic "

/* seed: "Enter a number between 10 and 16" for the Card Number Length of generated cards, and
 * no modulus check: any run of this many digits in free text may be a stored value card. */
#define SVC_MIN_DIGITS 10

/* ---------------------------------------------------------------------------------------- */
/* The messages */

/* Which SVATransaction block a request carries. */
typedef enum sva_kind {
    SVA_NONE,  /* none */
    SVA_REF,   /* SVATransactionID = call->ref_request_id */
    SVA_EMPTY, /* an empty SVATransactionID (ReturnRequest sample) */
} sva_kind;

typedef struct op_spec {
    pl_bureau_op op;
    const char *action;   /* ARTSAction, and the message name but for GenerateCard */
    const char *answer;   /* the answer's root element */
    const char *comments; /* the Comments text of the sample */
    bool rtp;             /* carries RTPTransaction (order, dates, amount) */
    sva_kind sva;
    bool changes; /* moves money or changes a card: a fault may come after it was applied */
} op_spec;

static const op_spec SPECS[] = {
    {PL_OP_SVC_GENERATE, "GenerateCard", "CardSeriesMaintenance", NULL, false, SVA_NONE, false},
    {PL_OP_SVC_ACTIVATE, "ActivateInstrumentRequest", "ActivateInstrumentResponse",
     "Activation Request", true, SVA_NONE, true},
    {PL_OP_SVC_RECHARGE, "RechargeRequest", "RechargeResponse", "Recharge Request", true, SVA_NONE,
     true},
    {PL_OP_SVC_PREAUTH, "PreauthorizationRequest", "PreauthorizationResponse",
     "Preauthorization Request", true, SVA_NONE, true},
    {PL_OP_SVC_POSTAUTH, "PostauthorizationRequest", "PostauthorizationResponse",
     "Postauthorization Request", true, SVA_REF, true},
    {PL_OP_SVC_RETURN, "ReturnRequest", "ReturnResponse", "Return Request", true, SVA_EMPTY, true},
    {PL_OP_SVC_INQUIRY, "InquiryRequest", "InquiryResponse", "Inquiry Request", false, SVA_NONE,
     false},
    {PL_OP_SVC_VOID, "VoidRequest", "VoidResponse", "Void Request", true, SVA_REF, true},
};

static const op_spec *spec_of(pl_bureau_op op)
{
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++)
        if (SPECS[i].op == op)
            return &SPECS[i];
    return NULL;
}

const char *pl_relate_action(pl_bureau_op op)
{
    const op_spec *s = spec_of(op);
    return s ? s->action : NULL;
}

const char *pl_relate_answer_name(pl_bureau_op op)
{
    const op_spec *s = spec_of(op);
    return s ? s->answer : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Masking */

static bool has(const char *s)
{
    return s && *s;
}

/* The profile's mask_more: every run of SVC_MIN_DIGITS or more digits (pl_card_mask_digit_runs);
 * a stored value card number fails Luhn as often as not, so pl_card_scrub alone would let it
 * through. */
static void mask_digit_runs(char *s, size_t len, pl_mask_mode mode)
{
    pl_card_mask_digit_runs(s, len, SVC_MIN_DIGITS, mode);
}

/*
 * How our documents are read and written (xmlutil.h): free text from outside, libxml2's
 * messages and text that is not XML have card numbers masked, Luhn or not; answers are read
 * up to PL_RELATE_MAX_BODY, and requests and redacted copies are written without an XML
 * declaration, as the samples are.
 */
static const pl_xml_profile RELATE_XML = {
    .max_len = PL_RELATE_MAX_BODY,
    .doc_name = "a bureau answer",
    .declaration = false,
    .mask_more = mask_digit_runs,
};

/* ---------------------------------------------------------------------------------------- */
/* Building */

/*
 * The tree is built with a sticky error so the element list below reads like the sample:
 * once a call fails (allocation, or a value refused for the card number it holds), every
 * later call does nothing and the first error is reported at the end.
 */
typedef struct builder {
    xmlDocPtr doc;
    int err;
    const char *refused; /* the element whose value held a card number (PL_ERR_INVALID) */
} builder;

/*
 * Appends an element in namespace ns (NULL: no namespace, as the samples' messages are) with
 * the text value, its non-keyboard characters removed; NULL or "" gives an empty element,
 * which the samples show for every value they leave blank.
 */
static xmlNodePtr add_el(builder *b, xmlNodePtr parent, xmlNsPtr ns, const char *name,
                         const char *value)
{
    if (b->err || !parent)
        return NULL;
    /* xmlNewDocNode, not xmlNewChild: a NULL ns must mean no namespace, not the parent's. */
    xmlNodePtr n = xmlNewDocNode(b->doc, ns, BAD_CAST name, NULL);
    if (!n) {
        b->err = PL_ERR_NOMEM;
        return NULL;
    }
    xmlAddChild(parent, n);
    /* The same rule as for CyberSource (seed): only standard keyboard characters; a value that
     * holds a card number once cleaned is refused (PL_ERR_INVALID), but the card's own. */
    int rc = pl_xml_add_clean_text(n, value);
    if (rc < 0)
        b->err = rc;
    if (rc == PL_ERR_INVALID)
        b->refused = name;
    return n;
}

static void add_money(builder *b, xmlNodePtr parent, const char *name, int64_t minor)
{
    xmlNodePtr n = add_el(b, parent, NULL, name, NULL);
    int rc = n ? pl_xml_add_money(n, minor) : 0;
    if (rc)
        b->err = rc;
}

static xmlNsPtr add_ns(builder *b, xmlNodePtr n, const char *href, const char *prefix)
{
    if (b->err || !n)
        return NULL;
    xmlNsPtr ns = xmlNewNs(n, BAD_CAST href, BAD_CAST prefix);
    if (!ns)
        b->err = PL_ERR_NOMEM;
    return ns;
}

static void add_ns_prop(builder *b, xmlNodePtr n, xmlNsPtr ns, const char *name, const char *value)
{
    if (b->err || !n)
        return;
    if (!xmlNewNsProp(n, ns, BAD_CAST name, BAD_CAST value))
        b->err = PL_ERR_NOMEM;
}

/* TransactionDateTime and BusinessDate of the clock, in UTC. */
static int format_clock(int64_t now, char *when, size_t when_size, char *day, size_t day_size)
{
    /* 9999-12-31T23:59:59Z: the formats have four-digit years. */
    if (now <= 0 || now > INT64_C(253402300799))
        return PL_ERR_INVALID;
    time_t t = (time_t)now;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return PL_ERR_INVALID;
    if (strftime(when, when_size, "%Y-%m-%dT%H:%M:%S", &tm) == 0 ||
        strftime(day, day_size, "%Y-%m-%d", &tm) == 0)
        return PL_ERR_INVALID;
    return 0;
}

static int check_call(const pl_bureau_cfg *cfg, const pl_bureau_call *call, const op_spec *spec,
                      char *errstr, size_t errstr_size)
{
    if (call->op == PL_OP_SVC_GENERATE) {
        if (!cfg->card_prefix[0])
            return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                              "service bureau %s has no Presenter's ID (card prefix)",
                              cfg->service);
        if (!cfg->card_series[0])
            return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                              "service bureau %s has no Submitter's ID (card series sequence)",
                              cfg->service);
        return 0;
    }
    if (!has(call->svc_card_number))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "a %s needs the stored value card number", spec->action);
    if (spec->rtp) {
        if (!has(call->order))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "a %s needs the order number (RTPTransactionID)", spec->action);
        if (call->amount < 0 || call->amount > PL_MONEY_MAX)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "amount out of range");
    }
    if (spec->sva == SVA_REF && !has(call->ref_request_id))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "a %s needs the SVATransactionID of the authorization", spec->action);
    return 0;
}

/*
 * The web service authentication of the seed, as HTTP Basic: "Authorization: Basic " and
 * base64(user ":" password). Nothing of the credentials goes into an error text.
 */
static int make_auth_header(const pl_bureau_cfg *cfg, pl_bureau_msg *msg, char *errstr,
                            size_t errstr_size)
{
    size_t ulen = strnlen(cfg->ws_user, sizeof cfg->ws_user);
    if (ulen == 0)
        return 0;
    if (ulen == sizeof cfg->ws_user)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "the web service user of service bureau %s is not terminated",
                          cfg->service);
    if (!has(cfg->secret))
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "service bureau %s has a web service user but no password", cfg->service);
    /* RFC 7617: the user-id of Basic authentication cannot contain a colon. */
    if (memchr(cfg->ws_user, ':', ulen))
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "the web service user of service bureau %s contains ':', which Basic "
                          "authentication cannot carry",
                          cfg->service);

    size_t plen = strlen(cfg->secret);
    size_t in_len = ulen + 1 + plen;
    size_t prefix_len = sizeof AUTH_PREFIX - 1;
    /* Base64 turns every 3 bytes (or part of them) into 4 characters, plus the NUL. */
    size_t room = sizeof msg->auth_header - prefix_len - 1;
    if (in_len > room / 4 * 3)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "the web service user and password of service bureau %s are too long "
                          "for the Authorization header",
                          cfg->service);
    unsigned char *in = malloc(in_len);
    if (!in)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    memcpy(in, cfg->ws_user, ulen);
    in[ulen] = ':';
    memcpy(in + ulen + 1, cfg->secret, plen);
    memcpy(msg->auth_header, AUTH_PREFIX, prefix_len);
    int n = EVP_EncodeBlock((unsigned char *)msg->auth_header + prefix_len, in, (int)in_len);
    pl_card_wipe(in, in_len);
    free(in);
    if (n <= 0) {
        pl_card_wipe(msg->auth_header, sizeof msg->auth_header);
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "encoding the Authorization header of service bureau %s failed",
                          cfg->service);
    }
    return 0;
}

/* The xhead block of the SOAP header: fixed values of the samples but msg_id. */
static void add_xhead(builder *b, xmlNodePtr header, const char *msg_id)
{
    xmlNodePtr xhead = add_el(b, header, NULL, "xhead", NULL);
    xmlNsPtr x = add_ns(b, xhead, NS_XHEAD, "xhead");
    add_el(b, xhead, x, "msg_id", msg_id);
    add_el(b, xhead, x, "msg_type", "CRM_MESSAGE");
    add_el(b, xhead, x, "source", "REGISTER");
    add_el(b, xhead, x, "destination", "SERVER");
    add_el(b, xhead, x, "body_format", "SOAPRPC");
    add_el(b, xhead, x, "return_format", "SOAPRPC");
    add_el(b, xhead, x, "priority", "3");
    add_el(b, xhead, x, "charset", "850");
    add_el(b, xhead, x, "expect_response", "true");
}

static void add_generate_card(builder *b, xmlNodePtr data, const pl_bureau_cfg *cfg)
{
    xmlNodePtr csm = add_el(b, data, NULL, "CardSeriesMaintenance", NULL);
    xmlNodePtr cs = add_el(b, csm, NULL, "CardSeries", NULL);
    add_ns_prop(b, cs, NULL, "Action", "GenerateCard");
    add_el(b, cs, NULL, "UserName", OMS_USER);
    add_el(b, cs, NULL, "CardPrefix", cfg->card_prefix);
    add_el(b, cs, NULL, "CardSeriesSequence", cfg->card_series);
}

static void add_sva_message(builder *b, xmlNodePtr data, const pl_bureau_cfg *cfg,
                            const pl_bureau_call *call, const op_spec *spec, const char *when,
                            const char *day)
{
    xmlNodePtr m = add_el(b, data, NULL, spec->action, NULL);
    add_el(b, m, NULL, "UserID", OMS_USER);

    xmlNodePtr inst = add_el(b, m, NULL, "Instrument", NULL);
    add_el(b, inst, NULL, "InstrumentID", NULL);
    add_el(b, inst, NULL, "AuthenticationData", NULL);
    /* In full: the bureau needs it. The message log gets the masked copy of redact. */
    xmlNodePtr number = add_el(b, inst, NULL, "CardNumber", NULL);
    if (number && pl_xml_add_clean_text_unchecked(number, call->svc_card_number) < 0)
        b->err = PL_ERR_NOMEM;
    add_el(b, inst, NULL, "CardSwiped", "False");

    if (spec->rtp) {
        xmlNodePtr rtp = add_el(b, m, NULL, "RTPTransaction", NULL);
        add_el(b, rtp, NULL, "RTPTransactionID", call->order);
        add_el(b, rtp, NULL, "OperatorID", OMS_USER);
        add_el(b, rtp, NULL, "LocationID", cfg->location_id);
        add_el(b, rtp, NULL, "TransactionDateTime", when);
        add_el(b, rtp, NULL, "BusinessDate", day);
        xmlNodePtr amount = add_el(b, rtp, NULL, "RTPAmount", NULL);
        add_el(b, amount, NULL, "CurrencyID", call->currency);
        add_money(b, amount, "Amount", call->amount);
    }
    if (spec->sva != SVA_NONE) {
        xmlNodePtr sva = add_el(b, m, NULL, "SVATransaction", NULL);
        /* The service's own identifier of the authorization (its answer's SVATransactionID),
         * never upstream text: unchecked, as the card number is. A service numbering its
         * transactions with 13-19 digits would have one in ten of them pass Luhn, and the
         * redemption, void or return of such an authorization could never be built. */
        xmlNodePtr id = add_el(b, sva, NULL, "SVATransactionID", NULL);
        if (id && spec->sva == SVA_REF &&
            pl_xml_add_clean_text_unchecked(id, call->ref_request_id) < 0)
            b->err = PL_ERR_NOMEM;
    }
    add_el(b, m, NULL, "Comments", spec->comments);
}

static int relate_build(const pl_bureau_cfg *cfg, const pl_bureau_call *call, pl_bureau_msg *msg,
                        char *errstr, size_t errstr_size)
{
    if (!cfg || !call || !msg)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing argument");
    memset(msg, 0, sizeof *msg);

    const op_spec *spec = spec_of(call->op);
    if (!spec)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "the Customer Engagement adapter (RLT) has no %s operation",
                          pl_bureau_op_name(call->op));
    int rc = check_call(cfg, call, spec, errstr, errstr_size);
    if (rc)
        return rc;
    char when[32] = "", day[16] = "";
    if (spec->rtp && format_clock(call->now, when, sizeof when, day, sizeof day) != 0)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "a %s needs the transaction time (call->now %lld is not a date)",
                          spec->action, (long long)call->now);
    if ((rc = make_auth_header(cfg, msg, errstr, errstr_size)) != 0)
        return rc;

    /* The request's idempotency key names the message (see the header). */
    const char *msg_id =
        call->req && has(call->req->request_id) ? call->req->request_id : DEFAULT_MSG_ID;

    builder b = {0};
    b.doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = b.doc ? xmlNewDocNode(b.doc, NULL, BAD_CAST "Envelope", NULL) : NULL;
    if (!env) {
        if (b.doc)
            xmlFreeDoc(b.doc);
        pl_card_wipe(msg->auth_header, sizeof msg->auth_header);
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    xmlDocSetRootElement(b.doc, env);
    xmlNsPtr soap = add_ns(&b, env, NS_SOAP, "SOAP-ENV");
    add_ns(&b, env, NS_XSI, "xsi");
    add_ns(&b, env, NS_XSD, "xsd");
    xmlSetNs(env, soap);

    /* seed: the Header declares SOAP-ENV once more; its own declaration is used for it. */
    xmlNodePtr header = add_el(&b, env, soap, "Header", NULL);
    xmlNsPtr header_soap = add_ns(&b, header, NS_SOAP, "SOAP-ENV");
    if (header)
        xmlSetNs(header, header_soap);
    add_ns_prop(&b, header, header_soap, "encodingStyle", HEADER_ENCODING);
    add_xhead(&b, header, msg_id);

    xmlNodePtr body = add_el(&b, env, soap, "Body", NULL);
    xmlNodePtr px = add_el(&b, body, NULL, "ProcessXML", NULL);
    xmlNsPtr dtv = add_ns(&b, px, NS_DTV, "dtv");
    if (px)
        xmlSetNs(px, dtv);
    add_ns_prop(&b, px, soap, "encodingStyle", BODY_ENCODING);
    add_el(&b, px, dtv, "ARTSAction", spec->action);
    xmlNodePtr data = add_el(&b, px, dtv, "ARTSData", NULL);
    if (call->op == PL_OP_SVC_GENERATE) {
        add_generate_card(&b, data, cfg);
        /* The seed's GenerateCard carries no amount; the card's issue amount goes beside it,
         * in a header the service ignores, so the simulator can pick a scenario (909). */
        if (call->req && call->req->svc.has_issue_amount) {
            char amt[32];
            if (pl_money_format(call->req->svc.issue_amount, amt, sizeof amt) == 0)
                snprintf(msg->extra_header, sizeof msg->extra_header, "%s: %s",
                         PL_RELATE_ISSUE_AMOUNT_HEADER, amt);
        }
    } else
        add_sva_message(&b, data, cfg, call, spec, when, day);

    if (b.err == PL_ERR_INVALID && b.refused) {
        rc = pl_err_set(b.err, errstr, errstr_size,
                        "building the Customer Engagement %s: %s would carry a card number",
                        spec->action, b.refused);
    } else if (b.err) {
        rc = pl_err_set(b.err, errstr, errstr_size, "building the Customer Engagement %s: %s",
                        spec->action, pl_err_str(b.err));
    } else if (pl_xml_serialize(b.doc, RELATE_XML.declaration, &msg->body, &msg->body_len) != 0) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "serialising the %s failed",
                        spec->action);
    } else {
        snprintf(msg->content_type, sizeof msg->content_type, "text/xml; charset=utf-8");
        /* seed: no SOAPAction is shown or asked for. */
        msg->soap_action[0] = '\0';
    }
    pl_xml_free_doc(b.doc);
    if (rc)
        pl_bureau_msg_free(msg);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

/*
 * The answer is read as a stream (pl_xml_read_stream: libxml2's SAX parser, no tree), as a walk
 * of its tree would read it. The answer is the first element in document order named for one
 * (SPECS' answer names), at any depth: the bare answer, or one inside a wrapper. Below it, each
 * value is the whole text (its descendants' too) of the first element at a path of first
 * children of a name (CardSeries/Instrument/InstrumentID: the first Instrument child of the
 * first CardSeries child), or, for ErrorCode and ResponseDescription, the first element of the
 * name at any depth below the answer. A refusal is the one the walk met first, in the order of
 * NODES below, whatever the order of the document.
 *
 * A document with no answer element (an RPC wrapper's escaped string, something else), or with
 * a SOAP Fault in its Envelope's Body (which wins over any answer, relate_start), is read again
 * into a tree, where the fault is read, or else the escaped answer is found (and read as a
 * stream in its turn).
 */

/* What is read below the answer (N_ANSWER). */
enum {
    N_ANSWER,
    N_CARD_SERIES,
    N_CARD_PREFIX,
    N_CARD_SEQUENCE,
    N_INSTRUMENT,
    N_INSTRUMENT_ID,
    N_CARD_NUMBER,
    N_ERROR_CODE,
    N_RESPONSE_DESCRIPTION,
    N_INSTRUMENT_STATE,
    N_STATUS,
    N_ACCOUNT_STATE,
    N_ACCOUNT_ID,
    N_ACCOUNT_STATUS,
    N_BALANCE,
    N_BALANCE_AMOUNT,
    N_SVA,
    N_SVA_ID,
    N_REASON,
    N_REASON_CODE,
    N_AUTH_NUMBER,
    N_TRANSACTION_DATE,
    N_SVA_AMOUNT,
    N_SVA_CURRENCY,
    N_SVA_AMOUNT_VALUE,
    N_SVA_PREAUTH_ID,
    N_COUNT
};

#define ANYWHERE (-1) /* parent: any element below the answer */

typedef enum value_kind {
    V_NONE,     /* an element on the way to values */
    V_EXACT,    /* an identifier or code: "<path> is too long" when it does not fit */
    V_FREE,     /* free text: cleaned and cut (pl_xml_copy_free) */
    V_AMOUNT,   /* an amount: "<path> is not an amount" when it is not a non-negative one */
    V_CURRENCY, /* SVAAmount's CurrencyID, into the reader (the result has no field for it):
                 * "<path> is too long" when it does not fit */
} value_kind;

/* Where a value goes in the result: a string field (offset, size), or an amount and its flag. */
#define TO_TEXT(f) offsetof(pl_bureau_result, f), sizeof(((pl_bureau_result *)0)->f), 0
#define TO_AMOUNT(f, has) offsetof(pl_bureau_result, f), 0, offsetof(pl_bureau_result, has)
#define NOWHERE 0, 0, 0

/* The walk's order: a refusal of an earlier node is the one reported. */
static const struct {
    const char *name;
    int parent;
    value_kind kind;
    const char *path; /* in a refusal */
    size_t field, size, has;
} NODES[N_COUNT] = {
    [N_ANSWER] = {NULL, ANYWHERE, V_NONE, NULL, NOWHERE},
    [N_CARD_SERIES] = {"CardSeries", N_ANSWER, V_NONE, NULL, NOWHERE},
    [N_CARD_PREFIX] = {"CardPrefix", N_CARD_SERIES, V_EXACT, "CardSeries/CardPrefix",
                       TO_TEXT(svc_card_prefix)},
    [N_CARD_SEQUENCE] = {"CardSeriesSequence", N_CARD_SERIES, V_EXACT,
                         "CardSeries/CardSeriesSequence", TO_TEXT(svc_card_series)},
    [N_INSTRUMENT] = {"Instrument", N_CARD_SERIES, V_NONE, NULL, NOWHERE},
    [N_INSTRUMENT_ID] = {"InstrumentID", N_INSTRUMENT, V_EXACT,
                         "CardSeries/Instrument/InstrumentID", TO_TEXT(svc_instrument_id)},
    [N_CARD_NUMBER] = {"CardNumber", N_INSTRUMENT, V_EXACT, "CardSeries/Instrument/CardNumber",
                       TO_TEXT(svc_card_number)},
    [N_ERROR_CODE] = {"ErrorCode", ANYWHERE, V_EXACT, "ErrorCode", TO_TEXT(error_code)},
    [N_RESPONSE_DESCRIPTION] = {"ResponseDescription", ANYWHERE, V_FREE, NULL, TO_TEXT(error_text)},
    [N_INSTRUMENT_STATE] = {"InstrumentState", N_ANSWER, V_NONE, NULL, NOWHERE},
    [N_STATUS] = {"Status", N_INSTRUMENT_STATE, V_EXACT, "InstrumentState/Status",
                  TO_TEXT(svc_status)},
    [N_ACCOUNT_STATE] = {"AccountState", N_ANSWER, V_NONE, NULL, NOWHERE},
    [N_ACCOUNT_ID] = {"AccountID", N_ACCOUNT_STATE, V_EXACT, "AccountState/AccountID",
                      TO_TEXT(account_id)},
    [N_ACCOUNT_STATUS] = {"AccountStatus", N_ACCOUNT_STATE, V_EXACT, "AccountState/AccountStatus",
                          TO_TEXT(account_status)},
    [N_BALANCE] = {"Balance", N_ACCOUNT_STATE, V_NONE, NULL, NOWHERE},
    [N_BALANCE_AMOUNT] = {"Amount", N_BALANCE, V_AMOUNT, "AccountState/Balance/Amount",
                          TO_AMOUNT(balance, has_balance)},
    [N_SVA] = {"SVATransaction", N_ANSWER, V_NONE, NULL, NOWHERE},
    [N_SVA_ID] = {"SVATransactionID", N_SVA, V_EXACT, "SVATransaction/SVATransactionID",
                  TO_TEXT(request_id)},
    [N_REASON] = {"Reason", N_SVA, V_NONE, NULL, NOWHERE},
    [N_REASON_CODE] = {"Code", N_REASON, V_EXACT, "SVATransaction/Reason/Code",
                       TO_TEXT(reason_code)},
    [N_AUTH_NUMBER] = {"AuthNumber", N_SVA, V_EXACT, "SVATransaction/AuthNumber",
                       TO_TEXT(auth_code)},
    [N_TRANSACTION_DATE] = {"TransactionDateTime", N_SVA, V_FREE, NULL, TO_TEXT(auth_date)},
    [N_SVA_AMOUNT] = {"SVAAmount", N_SVA, V_NONE, NULL, NOWHERE},
    [N_SVA_CURRENCY] = {"CurrencyID", N_SVA_AMOUNT, V_CURRENCY,
                        "SVATransaction/SVAAmount/CurrencyID", NOWHERE},
    [N_SVA_AMOUNT_VALUE] = {"Amount", N_SVA_AMOUNT, V_AMOUNT, "SVATransaction/SVAAmount/Amount",
                            TO_AMOUNT(amount, has_amount)},
    [N_SVA_PREAUTH_ID] = {"PreAuthSVATransactionID", N_SVA, V_EXACT,
                          "SVATransaction/PreAuthSVATransactionID", TO_TEXT(svc_preauth_id)},
};

#undef TO_TEXT
#undef TO_AMOUNT
#undef NOWHERE

typedef struct relate_reader {
    pl_bureau_result *res;
    int depth;                /* of the innermost open element; 1 for the root */
    const op_spec *answer;    /* the answer element's SPECS entry, once it has begun */
    bool answer_done;         /* and ended: nothing after it is read */
    int open[N_COUNT];        /* the depth of a node's element while it is open, else 0 */
    bool seen[N_COUNT];       /* its first element has begun: no other is read */
    bool failed[N_COUNT + 1]; /* its value was refused; [N_COUNT]: CardSeries/@ResponseCode */
    size_t from[N_COUNT];     /* where its text begins in text */
    bool card_series_began;   /* the element just begun is the answer's first CardSeries */
    int capturing;            /* value elements open */
    bool envelope;            /* the root is a SOAP Envelope */
    int soap_body;            /* 2 while a Body child of the Envelope is open, else 0 */
    bool fault;               /* a Fault child of Envelope/Body began: it wins over any answer */
    char currency[16];        /* SVATransaction/SVAAmount/CurrencyID, "" when none */
    /* The text of the open value elements, one run: an element's text is a range of it. */
    pl_xml_gather text;
} relate_reader;

/* Node n's element ends: its value (the NUL-terminated text) is read into the result. */
static void read_value(relate_reader *r, int n, const char *text)
{
    char *res = (char *)r->res;
    switch (NODES[n].kind) {
    case V_EXACT:
        if (pl_xml_copy_exact(text, res + NODES[n].field, NODES[n].size) != 0)
            r->failed[n] = true;
        break;
    case V_FREE:
        pl_xml_copy_free(text, res + NODES[n].field, NODES[n].size, &RELATE_XML);
        break;
    case V_CURRENCY:
        if (pl_xml_copy_exact(text, r->currency, sizeof r->currency) != 0)
            r->failed[n] = true;
        break;
    case V_AMOUNT: {
        char digits[32];
        int64_t amount;
        /* A negative amount moved or left on a card means nothing: the answer is unreadable. */
        if (pl_xml_copy_exact(text, digits, sizeof digits) != 0 ||
            pl_money_parse_decimal(digits, &amount) != 0 || amount < 0) {
            r->failed[n] = true;
        } else {
            memcpy(res + NODES[n].field, &amount, sizeof amount);
            *(bool *)(res + NODES[n].has) = true;
        }
        break;
    }
    default:
        break;
    }
}

static bool relate_text(void *ctx, const char *text, size_t len)
{
    relate_reader *r = ctx;
    return r->capturing == 0 || pl_xml_gather_append(&r->text, text, len);
}

static const char *skip_space(const char *s)
{
    while (pl_xml_is_space(*s))
        s++;
    return s;
}

static const op_spec *answer_spec(const char *name)
{
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++)
        if (strcmp(name, SPECS[i].answer) == 0)
            return &SPECS[i];
    return NULL;
}

static void relate_start(void *ctx, const char *name)
{
    relate_reader *r = ctx;
    r->depth++;
    r->card_series_began = false;
    /* SOAP 1.1 §4.4: a Fault in the Body says the message failed, whatever else the Body (the
     * Fault's detail, say) holds. A service that failed after it applied the message may well
     * quote its answer there (a PostauthorizationResponse with an ErrorCode): read as the
     * answer, a redemption applied before the fault would be a decline, and the order system
     * would send it again. So a Fault is looked for first, and wins (read_stream). */
    if (r->depth == 1)
        r->envelope = strcmp(name, "Envelope") == 0;
    else if (r->depth == 2 && r->envelope && strcmp(name, "Body") == 0)
        r->soap_body = 2;
    else if (r->depth == 3 && r->soap_body == 2 && strcmp(name, "Fault") == 0)
        r->fault = true;
    if (!r->answer) {
        if ((r->answer = answer_spec(name))) {
            r->seen[N_ANSWER] = true;
            r->open[N_ANSWER] = r->depth;
        }
        return;
    }
    if (r->answer_done)
        return;
    for (int n = N_ANSWER + 1; n < N_COUNT; n++) {
        int parent = NODES[n].parent;
        if (r->seen[n] || (parent != ANYWHERE && r->open[parent] != r->depth - 1) ||
            strcmp(name, NODES[n].name) != 0)
            continue;
        r->seen[n] = true;
        r->open[n] = r->depth;
        r->from[n] = r->text.len;
        if (NODES[n].kind != V_NONE)
            r->capturing++;
        r->card_series_began = n == N_CARD_SERIES;
        /* The names of one parent's children differ, and no child's is ErrorCode's or
         * ResponseDescription's: an element is at most one node. */
        return;
    }
}

/* The first ResponseCode attribute of the answer's first CardSeries (xmlGetProp's). */
static void relate_attr(void *ctx, const char *name, const char *value, size_t len)
{
    relate_reader *r = ctx;
    if (!r->card_series_began || strcmp(name, "ResponseCode") != 0)
        return;
    r->card_series_began = false;
    if (pl_xml_copy_exact_n(value, len, r->res->response_code, sizeof r->res->response_code) != 0)
        r->failed[N_COUNT] = true;
}

static void relate_end(void *ctx)
{
    relate_reader *r = ctx;
    r->card_series_began = false;
    if (r->answer && !r->answer_done) {
        for (int n = N_COUNT - 1; n >= N_ANSWER; n--) {
            if (r->open[n] != r->depth)
                continue;
            r->open[n] = 0;
            if (n == N_ANSWER) {
                r->answer_done = true;
            } else if (NODES[n].kind != V_NONE) {
                read_value(r, n, pl_xml_gather_str(&r->text) + r->from[n]);
                if (--r->capturing == 0)
                    pl_xml_gather_clear(&r->text);
            }
            break;
        }
    }
    if (r->soap_body == r->depth)
        r->soap_body = 0;
    r->depth--;
}

static const pl_xml_stream relate_stream = {
    .start = relate_start,
    .end = relate_end,
    .text = relate_text,
    .attr = relate_attr,
};

/*
 * What an approval of the operation asked (spec's answer, neither a decline nor the
 * CardSeriesMaintenance form) says of money, checked against the call: the currency of its
 * SVAAmount, and an approval of less than was sent. A decline moves no money: what it says of
 * money is not checked. Returns 0 or PL_ERR_PARSE with why in errstr.
 */
static int check_approval_money(const pl_bureau_call *call, const op_spec *spec,
                                const relate_reader *r, char *errstr, size_t errstr_size)
{
    const pl_bureau_result *res = r->res;
    /* Only the messages that send an amount (RTPAmount) are answered with one. */
    if (!spec->rtp)
        return 0;
    /* The amount is booked in the request's currency: one in another (an EUR answer to a USD
     * authorization) would be booked as USD. The seed's requests send an empty CurrencyID
     * (the service's default currency applies) and its answers name that currency: a request
     * that named none is not compared. */
    if (r->currency[0] && has(call->currency) && strcasecmp(r->currency, call->currency) != 0) {
        int rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                            "SVATransaction/SVAAmount/CurrencyID %s is not the request's "
                            "currency %s",
                            r->currency, call->currency);
        /* The answer's CurrencyID is the bureau's text: 15 bytes hold a 13-digit card number
         * split by a character off the keyboard ("4222222é222222"), which the digit runs do
         * not reach. */
        pl_card_scrub_full(errstr, errstr_size, PL_MASK_LAST4);
        mask_digit_runs(errstr, strlen(errstr), PL_MASK_LAST4);
        return rc;
    }
    /* An approval of less than was sent: an authorization's is the seed's partial approval (the
     * stored value rules approve the part, or decline 0.00 as J19 does: stored_value.h), a
     * void's what was left to release; a load, redemption or return is approved whole or the
     * answer is unreadable (pl_stored_value_check_whole). */
    if (res->has_amount)
        return pl_stored_value_check_whole(spec->op, call->amount, res->amount, spec->answer,
                                           "approves", errstr, errstr_size);
    return 0;
}

/* The answer read (r->answer set), checked: its first refusal in the walk's order, or what the
 * answer cannot mean. */
static int check_answer(const pl_bureau_call *call, const relate_reader *r, char *errstr,
                        size_t errstr_size)
{
    pl_bureau_result *res = r->res;
    const char *name = r->answer->answer;
    const op_spec *spec = call ? spec_of(call->op) : NULL;
    bool card_series = r->answer->op == PL_OP_SVC_GENERATE;
    /* seed: a declined transaction of any kind is answered with the CardSeriesMaintenance
     * form; any other answer must be the one of the operation asked. */
    if (spec && !card_series && strcmp(name, spec->answer) != 0)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "a %s does not answer a %s", name,
                          spec->action);
    if (r->failed[N_COUNT])
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "CardSeries/@ResponseCode is too long");
    for (int n = N_ANSWER + 1; n < N_COUNT; n++) {
        if (!r->failed[n])
            continue;
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          NODES[n].kind == V_AMOUNT ? "%s is not an amount" : "%s is too long",
                          NODES[n].path);
    }

    if (!res->reason_code[0] && !res->error_code[0] && !res->response_code[0])
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "%s carries no outcome (no Reason/Code, ErrorCode or ResponseCode)",
                          name);
    /* seed ("Error mapping"): an ErrorCode, or ResponseCode "Rejected", declines. */
    bool declines = res->error_code[0] || strcasecmp(res->response_code, "Rejected") == 0;
    /* seed: the CardSeriesMaintenance form answers any other operation only to decline it
     * ("the information returned ... if a transaction is declined is the same"). One that does
     * not decline (a GenerateCard's "OK", say) says nothing of the operation asked: read as
     * approved, a PostAuth would count as money taken that nobody took. */
    if (card_series && spec && spec->op != PL_OP_SVC_GENERATE && !declines)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "a CardSeriesMaintenance that declines nothing does not answer a %s",
                          spec->action);
    /* An authorization no deposit or void could name: the hold would stay on the card until
     * it expires, the order told it was approved (the External Payment Service's rule too). */
    if (spec && spec->op == PL_OP_SVC_PREAUTH && !card_series && !declines && !res->request_id[0])
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "PreauthorizationResponse approves but has no "
                          "SVATransaction/SVATransactionID");
    /* seed: Customer Engagement approves an authorization for what the card holds when that is
     * less than asked. An approval that does not say how much it holds would be read as all of
     * it: the order told it is paid, its deposit then declined. */
    if (spec && spec->op == PL_OP_SVC_PREAUTH && !card_series && !declines && !res->has_amount)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "PreauthorizationResponse approves but has no SVAAmount/Amount");
    /* A PostauthorizationResponse names the authorization it drew on: another one than the
     * request's is another request's answer (a mixed-up connection, a proxy's bug), and would
     * settle this deposit against a hold it did not touch. */
    if (spec && spec->op == PL_OP_SVC_POSTAUTH && !card_series && res->svc_preauth_id[0] &&
        call->ref_request_id && strcmp(res->svc_preauth_id, call->ref_request_id) != 0)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "PostauthorizationResponse draws on another authorization "
                          "(PreAuthSVATransactionID) than the request named");
    if (spec && !card_series && !declines) {
        int rc = check_approval_money(call, spec, r, errstr, errstr_size);
        if (rc)
            return rc;
    }
    /* A generated card the engine could not record would be lost to the customer. */
    if (spec && spec->op == PL_OP_SVC_GENERATE && strcasecmp(res->response_code, "OK") == 0 &&
        !res->svc_card_number[0])
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "CardSeriesMaintenance is OK but has no CardNumber");
    return 0;
}

/*
 * Reads body as a stream into res. Returns 0 with *found telling whether it had an answer
 * element (read and checked), or the refusal of a document that is not XML or of an answer
 * that cannot be read, its reason in why. *began says whether an answer element or a SOAP
 * Fault began, even in a document refused later. A document whose Envelope/Body holds a Fault
 * has no answer here, whatever the Fault holds: res is wiped, *found false (the Fault is read
 * from the tree, read_document).
 */
static int read_stream(const pl_bureau_call *call, const char *body, size_t body_len,
                       pl_bureau_result *res, bool *found, bool *began, char *why, size_t why_size)
{
    relate_reader rd;
    relate_reader *r = &rd;
    memset(r, 0, offsetof(relate_reader, text));
    r->res = res;
    pl_xml_gather_init(&r->text);
    int rc = pl_xml_read_stream(body, body_len, &RELATE_XML, &relate_stream, r, why, why_size);
    *began = r->answer || r->fault;
    *found = rc == 0 && r->answer && !r->fault;
    if (*found)
        rc = check_answer(call, r, why, why_size);
    else if (r->fault)
        pl_card_wipe(res, sizeof *res); /* what an answer below the Fault left there */
    pl_xml_gather_release(&r->text);
    pl_card_wipe(r, offsetof(relate_reader, text));
    return rc;
}

/* The first text that is escaped markup (an RPC wrapper's string result), or NULL. */
static xmlNodePtr find_markup_text(xmlNodePtr n)
{
    for (; n; n = n->next) {
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content &&
            *skip_space((const char *)n->content) == '<')
            return n;
        if (n->type == XML_ELEMENT_NODE) {
            xmlNodePtr f = find_markup_text(n->children);
            if (f)
                return f;
        }
    }
    return NULL;
}

/*
 * True when a SOAP 1.1 faultcode or a SOAP 1.2 Code/Value says the message was refused before
 * it was processed: Client (1.1) or Sender (1.2: "the message was incorrectly formed or did not
 * contain the appropriate information", SOAP 1.2 part 1 §5.4.6, 1.1's Client renamed),
 * VersionMismatch or MustUnderstand (the envelope was not understood), DataEncodingUnknown (1.2:
 * its encoding was not understood), with any namespace prefix, alone or with a 1.1 subcode
 * ("Client.Authentication"; SOAP 1.1 §4.4.1). Server (1.1), Receiver (1.2: 1.1's Server
 * renamed), a code of the service's own, or none: the service failed while it processed the
 * message, perhaps after it had applied it.
 */
bool pl_relate_fault_before_processing(const char *code)
{
    const char *colon = strchr(code, ':');
    const char *local = colon ? colon + 1 : code;
    static const char *const before[] = {"Client", "Sender", "VersionMismatch", "MustUnderstand",
                                         "DataEncodingUnknown"};
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        size_t n = strlen(before[i]);
        if (strncmp(local, before[i], n) == 0 && (local[n] == '\0' || local[n] == '.'))
            return true;
    }
    return false;
}

/* The Fault of a SOAP Envelope: a Fault child of a Body child of the root (the elements the
 * stream looks at, relate_start), or NULL. */
static xmlNodePtr soap_fault(xmlNodePtr root)
{
    if (!pl_xml_is(root, "Envelope"))
        return NULL;
    for (xmlNodePtr b = pl_xml_first_element(root->children); b;
         b = pl_xml_first_element(b->next)) {
        xmlNodePtr f = pl_xml_is(b, "Body") ? pl_xml_child(b, "Fault") : NULL;
        if (f)
            return f;
    }
    return NULL;
}

/*
 * The code and text of a SOAP Fault into res->fault_code / fault_string, as free text (card
 * numbers masked): SOAP 1.1's faultcode and faultstring, or, for a Fault that has neither,
 * SOAP 1.2's Code/Value and the first Reason/Text (SOAP 1.2 part 1 §5.4: a Fault of the
 * http://www.w3.org/2003/05/soap-envelope namespace, "env:Sender" / "env:Receiver"; its
 * Subcode is not kept). Before, a 1.2 Fault read "(no faultcode)": an unknown outcome even for
 * a Sender fault, which says the message was refused before it was processed.
 */
static void read_fault(xmlNodePtr fault, pl_bureau_result *res)
{
    pl_xml_read_fault(fault, res->fault_code, sizeof res->fault_code, res->fault_string,
                      sizeof res->fault_string, &RELATE_XML);
    if (pl_xml_child(fault, "faultcode") || pl_xml_child(fault, "faultstring"))
        return;
    xmlNodePtr n = pl_xml_child(pl_xml_child(fault, "Code"), "Value");
    if (n)
        pl_xml_text_free(n, res->fault_code, sizeof res->fault_code, &RELATE_XML);
    if ((n = pl_xml_child(pl_xml_child(fault, "Reason"), "Text")))
        pl_xml_text_free(n, res->fault_string, sizeof res->fault_string, &RELATE_XML);
}

/*
 * A document without an answer element, read as a tree: the SOAP Fault, or else the answer in
 * the escaped document an RPC wrapper carries. *answered says whether it had either. A
 * refusal's reason goes into why.
 */
static int read_document(const pl_bureau_call *call, xmlDocPtr doc, pl_bureau_result *res,
                         bool *answered, char *why, size_t why_size)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    *answered = false;
    /* The Fault first: escaped markup in its faultstring or detail (an answer the failing
     * service quoted) is no answer (relate_start). */
    xmlNodePtr fault = soap_fault(root);
    if (fault) {
        *answered = true;
        read_fault(fault, res);
        /* A fault is never an answer of its own: one without a code still is one. */
        if (!res->fault_code[0])
            snprintf(res->fault_code, sizeof res->fault_code, "(no faultcode)");
        const op_spec *spec = call ? spec_of(call->op) : NULL;
        res->outcome_unknown =
            (!spec || spec->changes) && !pl_relate_fault_before_processing(res->fault_code);
        return 0;
    }
    /* An RPC wrapper may carry the answer as an escaped string: read it once more. */
    xmlNodePtr t = find_markup_text(root);
    if (t) {
        const char *text = (const char *)t->content;
        bool found = false, began = false;
        int rc = read_stream(call, text, strlen(text), res, &found, &began, why, why_size);
        *answered = began;
        if (found)
            return rc;
        /* Not a readable answer after all (why is written again below): what a refused parse
         * may have read before it stopped is not kept. */
        pl_card_wipe(res, sizeof *res);
    }
    int rc = pl_err_set(PL_ERR_PARSE, why, why_size,
                        "no Customer Engagement answer (CardSeriesMaintenance or a *Response) "
                        "in a <%.40s> document",
                        root ? (const char *)root->name : "");
    /* The root's name is the document's: mask it like any text of the answer, fully (a name
     * may hold 'é' or full-width digits between digits: "<x4111é1111é1111é1111>"), the full
     * scan first: the digit runs' stars would hide a number split by 'é' from it. */
    pl_card_scrub_full(why, why_size, PL_MASK_LAST4);
    mask_digit_runs(why, strlen(why), PL_MASK_LAST4);
    return rc;
}

/* A GenerateCard's OK names the card series it drew from (seed: CardPrefix and
 * CardSeriesSequence, the service bureau's Presenter's and Submitter's IDs). One from another
 * series than the request's is another request's answer (a mixed-up connection, another
 * merchant's): its card would be sold as this order's. An element the answer leaves out is not
 * compared. */
static bool other_series(const pl_bureau_cfg *cfg, const pl_bureau_call *call,
                         const pl_bureau_result *res)
{
    return cfg && call && call->op == PL_OP_SVC_GENERATE &&
           strcasecmp(res->response_code, "OK") == 0 &&
           ((res->svc_card_prefix[0] && strcmp(res->svc_card_prefix, cfg->card_prefix) != 0) ||
            (res->svc_card_series[0] && strcmp(res->svc_card_series, cfg->card_series) != 0));
}

static int relate_parse(const pl_bureau_cfg *cfg, const pl_bureau_call *call, long http_status,
                        const char *body, size_t body_len, pl_bureau_result *res, char *errstr,
                        size_t errstr_size)
{
    if (!res)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing argument");
    memset(res, 0, sizeof *res);

    /* One report for every refusal, an unreadable document's as much as a wrong answer's. */
    char why[200];
    bool found = false, answered = false;
    int rc = read_stream(call, body, body_len, res, &found, &answered, why, sizeof why);
    if (rc == 0 && !found) {
        xmlDocPtr doc = NULL;
        rc = pl_xml_read(body, body_len, &RELATE_XML, &doc, why, sizeof why);
        if (rc == 0)
            rc = read_document(call, doc, res, &answered, why, sizeof why);
        pl_xml_free_doc(doc);
    }
    /* seed: the web service user and password go in the HTTP header; a service that refuses
     * them answers 401 (or 403) from its HTTP layer, with an HTML page or nothing, before the
     * message is read. Nothing was processed: a final error (as a Client fault), not an
     * unreadable answer, whose required response would make every request an operator's case
     * until the password is fixed. A 401 or 403 that does carry an answer or a Fault is read as
     * that. */
    if (rc != 0 && !answered && (http_status == 401 || http_status == 403)) {
        pl_card_wipe(res, sizeof *res);
        snprintf(res->fault_code, sizeof res->fault_code, "HTTP %ld", http_status);
        snprintf(res->fault_string, sizeof res->fault_string, "%s",
                 http_status == 401 ? "the web service refused paylink's user and password "
                                      "(ws_user and the secret of secret_ref)"
                                    : "the web service refused the request (forbidden) before "
                                      "reading it");
        res->outcome_unknown = false;
        return 0;
    }
    /* An approval comes with 200 (a SOAP fault with 500, SOAP 1.1 §6.2), read directly or
     * from an RPC wrapper's escaped string. One with any other status is not believed:
     * whatever sent it (a proxy, a failing service) did not say the operation went through. A
     * decline is read whatever the status: it moves no money. */
    if (rc == 0 && http_status != 200 && !res->fault_code[0] && !res->error_code[0] &&
        strcasecmp(res->response_code, "Rejected") != 0)
        rc =
            pl_err_set(PL_ERR_PARSE, why, sizeof why,
                       "an approving Customer Engagement answer with HTTP status %ld", http_status);
    if (rc == 0 && other_series(cfg, call, res))
        rc = pl_err_set(PL_ERR_PARSE, why, sizeof why,
                        "CardSeriesMaintenance generated a card of another series "
                        "(CardPrefix / CardSeriesSequence) than the request's");
    if (rc) {
        pl_err_set(rc, errstr, errstr_size, "Customer Engagement answer (HTTP %ld): %s",
                   http_status, why);
        pl_card_wipe(res, sizeof *res);
    } else if (call) {
        /* A stored value card may be shorter than SVC_MIN_DIGITS (the contract takes 1-20
         * digits): one the bureau echoes would be stored and replied in full. */
        pl_card_mask_copies(res->error_text, call->svc_card_number, true);
        pl_card_mask_copies(res->fault_string, call->svc_card_number, true);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Redaction */

static bool is_free_text(const char *name)
{
    /* SOAP 1.2's Fault has Code, Reason (its Text) and Detail where 1.1's has faultcode,
     * faultstring and detail. */
    static const char *const names[] = {"ResponseDescription",
                                        "Description",
                                        "Comments",
                                        "faultstring",
                                        "faultcode",
                                        "detail",
                                        "Code",
                                        "Reason",
                                        "Detail"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static void mask_card_number(xmlNodePtr n, pl_mask_mode mode)
{
    char number[128], masked[160];
    int rc = pl_xml_text_exact(n, number, sizeof number);
    if (rc == 0 && !number[0])
        return; /* an empty CardNumber shows nothing */
    if (rc != 0 || pl_card_mask_log(number, mode, masked, sizeof masked) != 0)
        snprintf(masked, sizeof masked, "***REMOVED***");
    pl_card_wipe(number, sizeof number);
    pl_xml_set_text(n, masked);
}

/*
 * Masks the nodes from n on and their descendants. free_text says they are inside a free-text
 * element (is_free_text): their text has its digit runs masked, as the bureau may echo a card
 * number anywhere in it. Elsewhere only text holding escaped markup (an answer inside an RPC
 * string, whose CardNumber elements the tree does not see) is. The element rules (CardNumber,
 * AuthenticationData) apply at any depth, inside free text too: a fault's detail (SOAP 1.1) or
 * Detail (1.2) may echo the request's Instrument, whose CardNumber may be shorter than any
 * digit run masked as free text (a stored value card has 10 to 16 digits, the contract takes
 * 1 to 20) and whose AuthenticationData has none of the digit runs masked.
 */
static void redact_nodes(xmlNodePtr n, pl_mask_mode mode, bool free_text)
{
    for (; n; n = n->next) {
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content) {
            if (free_text || strchr((const char *)n->content, '<')) {
                /* The full scan first, in place (it never lengthens the text): the digit runs'
                 * stars would hide from it a number split by 'é' ("4111111111é111111" kept
                 * ten digits in clear). */
                char *text = (char *)n->content;
                pl_card_scrub_full(text, strlen(text) + 1, mode);
                mask_digit_runs(text, strlen(text), mode);
            }
            continue;
        }
        if (n->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)n->name;
        if (strcmp(name, "CardNumber") == 0)
            mask_card_number(n, mode);
        else if (strcmp(name, "AuthenticationData") == 0)
            pl_xml_set_text(n, ""); /* the card's PIN or security code when ever sent */
        else
            redact_nodes(n->children, mode, free_text || is_free_text(name));
    }
}

static void redact_tree(xmlNodePtr n, pl_mask_mode mode)
{
    redact_nodes(n, mode, false);
}

/* The message-log copy (see the header): text that is not XML has every long run of digits
 * masked too, through the profile. */
static char *relate_redact(const char *body, size_t body_len, int mode)
{
    return pl_xml_redact(body, body_len, mode, &RELATE_XML, redact_tree);
}

const pl_bureau_ops pl_bureau_relate = {
    .protocol = "RLT",
    .build = relate_build,
    .parse = relate_parse,
    .redact = relate_redact,
};
