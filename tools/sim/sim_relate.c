/*
 * sim_relate.c: the simulated Customer Engagement stored value service (see sim_relate.h).
 *
 * One request goes through the same steps as a CyberSource one: read the envelope and the
 * message's fields into a relate_req (plain buffers; the card number is wiped at the end),
 * pick the scenario from the amount, let the ledger decide and apply the operation, record
 * the answer, and render the seed's response document with libxml2 in the seed's element
 * order.
 */
#include "sim_relate.h"

#include <json-c/json.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card.h"
#include "money.h"
#include "sim_ids.h"
#include "sim_log.h"
#include "sim_scenario.h"
#include "sim_soap.h"
#include "sim_xml.h"
#include "xmlutil.h"

#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define SCHEMA_STORED_VALUE "http://xml.datavantagecorp.com/namespace/crm/DTVStoredValue.xsd"
#define SCHEMA_CARD_SERIES                                                                         \
    "http://xml.datavantagecorp.com/namespace/crm/DTVCardSeriesMaintenance.xsd"
#define GENERATE_ACTION "GenerateCard"
#define ORDER_MAX 50
#define COMPANY_MAX 10
#define PROBLEM_MAX 120
/* What an answer without a CurrencyID names (the seed's answers say USD). */
#define DEFAULT_CURRENCY "USD"
/* The most numbers the series control route accepts as "remaining". */
#define SERIES_REMAINING_MAX 1000000000u

/*
 * 905 and 906 are not in sim_scenario.h yet (CyberSource does not use them); the stored
 * value service needs them to prove that a re-send after an applied-but-unanswered call does
 * not apply twice.
 */
#define UNITS_APPLIED_THEN_HOLD 905
#define UNITS_APPLIED_THEN_DROP 906
/* CONTRACT.md §3: a GenerateCard whose issue amount (header) is 909.xx finds the series
 * exhausted. */
#define UNITS_SERIES_EXHAUSTED 909

typedef enum amount_rule {
    AMOUNT_NONE = 0, /* the message has no amount */
    AMOUNT_OPTIONAL, /* read when present (it only picks the scenario) */
    AMOUNT_REQUIRED, /* required, 0 or more */
    AMOUNT_POSITIVE, /* required, above 0 */
} amount_rule;

typedef struct msg_def {
    const char *request;  /* the ARTSData element, and the ARTSAction naming it */
    const char *response; /* the answer's root element, also its Reason/Description */
    int reason_code;      /* seed: the answer's Reason/Code */
    pl_sim_rlt_op op;     /* 0 for GenerateCard */
    amount_rule amount;
    bool needs_order;   /* RTPTransaction/RTPTransactionID */
    bool names_preauth; /* SVATransaction/SVATransactionID: the preauthorization */
} msg_def;

static const msg_def generate_def = {
    "CardSeriesMaintenance", "CardSeriesMaintenance", 0, 0, AMOUNT_NONE, false, false};

static const msg_def stored_value_defs[] = {
    {"ActivateInstrumentRequest", "ActivateInstrumentResponse", 2, PL_SIM_RLT_ACTIVATE,
     AMOUNT_REQUIRED, true, false},
    {"RechargeRequest", "RechargeResponse", 8, PL_SIM_RLT_RECHARGE, AMOUNT_REQUIRED, true, false},
    {"PreauthorizationRequest", "PreauthorizationResponse", 24, PL_SIM_RLT_PREAUTH, AMOUNT_POSITIVE,
     true, false},
    {"PostauthorizationRequest", "PostauthorizationResponse", 26, PL_SIM_RLT_POSTAUTH,
     AMOUNT_POSITIVE, true, true},
    {"ReturnRequest", "ReturnResponse", 18, PL_SIM_RLT_RETURN, AMOUNT_POSITIVE, true, false},
    {"InquiryRequest", "InquiryResponse", 16, PL_SIM_RLT_INQUIRY, AMOUNT_NONE, false, false},
    {"VoidRequest", "VoidResponse", 22, PL_SIM_RLT_VOID, AMOUNT_OPTIONAL, true, true},
};

typedef struct relate_req {
    const msg_def *def;
    char card[PL_SIM_RLT_CARD_MAX + 1]; /* wiped when the request is done */
    char order[ORDER_MAX + 1];
    char currency[4];
    bool has_amount;
    int64_t amount;
    char preauth_id[PL_SIM_RLT_ID_MAX + 1];
    char prefix[PL_SIM_RLT_SERIES_MAX + 1];
    char sequence[PL_SIM_RLT_SERIES_MAX + 1];
    char problem[PROBLEM_MAX + 1]; /* the first thing wrong: an INVALID_REQUEST description */
} relate_req;

typedef struct relate_answer {
    const char *error; /* NULL: approved; else the ErrorCode */
    const char *description;
    pl_sim_rlt_outcome o;
    char new_card[PL_SIM_RLT_CARD_DIGITS + 1]; /* GenerateCard; wiped */
    char instrument[40];
    char auth_number[24];
} relate_answer;

/* ---- the route --------------------------------------------------------------------------- */

static bool is_alnum(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

bool pl_sim_relate_path_match(const char *path)
{
    static const char head[] = "/relateui/", tail[] = "/xmlapi";
    if (!path || strncmp(path, head, sizeof head - 1) != 0)
        return false;
    const char *company = path + sizeof head - 1;
    size_t n = 0;
    while (is_alnum(company[n]))
        n++;
    return n >= 1 && n <= COMPANY_MAX && strcmp(company + n, tail) == 0;
}

/* ---- reading the request ------------------------------------------------------------------ */

/* Keeps the first problem: fmt has one %s, which receives what. */
static void set_problem(relate_req *r, const char *fmt, const char *what)
{
    if (!r->problem[0])
        snprintf(r->problem, sizeof r->problem, fmt, what);
}

/*
 * Reads the text at path under msg into buf. Returns true when present and non-empty; a value
 * too long for buf is a problem of the request.
 */
static bool read_text(xmlNodePtr msg, const char *path, char *buf, size_t size, relate_req *r)
{
    int rc = pl_sim_xml_text(msg, NULL, path, buf, size);
    if (rc < 0) {
        set_problem(r, "%s is too long.", path);
        return false;
    }
    return rc == 1 && buf[0] != '\0';
}

/* Card numbers are opaque to Customer Engagement (seed: no modulus check). */
static bool card_chars_ok(const char *s)
{
    for (; *s; s++)
        if (!is_alnum(*s) && *s != '*' && *s != '-')
            return false;
    return true;
}

/* The issue amount of a GenerateCard, from its header (sim_proto.h): it only picks the
 * scenario. One that is not an amount is ignored, as the real service ignores the header. */
static void read_issue_amount(const char *text, relate_req *r)
{
    int64_t v;
    if (!text || pl_money_parse_decimal(text, &v) < 0 || v < 0 || v > PL_MONEY_MAX)
        return;
    r->amount = v;
    r->has_amount = true;
}

static void read_generate(xmlNodePtr msg, relate_req *r)
{
    xmlNodePtr series = pl_sim_xml_child(msg, NULL, "CardSeries");
    if (!series) {
        set_problem(r, "%s is required.", "CardSeries");
        return;
    }
    xmlChar *action = xmlGetProp(series, BAD_CAST "Action");
    bool generate = action && strcmp((const char *)action, GENERATE_ACTION) == 0;
    xmlFree(action);
    if (!generate)
        set_problem(r, "CardSeries Action must be %s.", GENERATE_ACTION);
    if (!read_text(series, "CardPrefix", r->prefix, sizeof r->prefix, r))
        set_problem(r, "%s is required.", "CardSeries/CardPrefix");
    if (!read_text(series, "CardSeriesSequence", r->sequence, sizeof r->sequence, r))
        set_problem(r, "%s is required.", "CardSeries/CardSeriesSequence");
    if (r->problem[0])
        return;
    if (!pl_sim_ledger_rlt_series_ok(r->prefix, r->sequence))
        set_problem(r, "%s must be digits, together at most 12.",
                    "CardPrefix and CardSeriesSequence");
}

static void read_amount(xmlNodePtr msg, relate_req *r)
{
    char text[32];
    const char *path = "RTPTransaction/RTPAmount/Amount";
    if (!read_text(msg, path, text, sizeof text, r)) {
        if (r->def->amount == AMOUNT_REQUIRED || r->def->amount == AMOUNT_POSITIVE)
            set_problem(r, "%s is required.", path);
        return;
    }
    int64_t v;
    if (pl_money_parse_decimal(text, &v) < 0 || v < 0 || v > PL_MONEY_MAX ||
        (v == 0 && r->def->amount == AMOUNT_POSITIVE)) {
        set_problem(r, "%s is not a valid amount.", path);
        return;
    }
    r->amount = v;
    r->has_amount = true;
}

static void read_stored_value(xmlNodePtr msg, relate_req *r)
{
    const msg_def *d = r->def;
    if (!read_text(msg, "Instrument/CardNumber", r->card, sizeof r->card, r))
        set_problem(r, "%s is required.", "Instrument/CardNumber");
    else if (!card_chars_ok(r->card))
        set_problem(r, "%s is not a card number.", "Instrument/CardNumber");
    if (!read_text(msg, "RTPTransaction/RTPTransactionID", r->order, sizeof r->order, r) &&
        d->needs_order)
        set_problem(r, "%s is required.", "RTPTransaction/RTPTransactionID");
    if (d->amount != AMOUNT_NONE)
        read_amount(msg, r);
    char currency[16];
    if (read_text(msg, "RTPTransaction/RTPAmount/CurrencyID", currency, sizeof currency, r)) {
        if (pl_sim_currency_ok(currency))
            memcpy(r->currency, currency, 4);
        else
            set_problem(r, "%s is not a currency code.", "RTPTransaction/RTPAmount/CurrencyID");
    }
    if (d->names_preauth &&
        !read_text(msg, "SVATransaction/SVATransactionID", r->preauth_id, sizeof r->preauth_id, r))
        set_problem(r, "%s is required.", "SVATransaction/SVATransactionID");
}

/* The message definition for an ARTSData element, or NULL. */
static const msg_def *find_def(const char *name)
{
    if (strcmp(name, generate_def.request) == 0)
        return &generate_def;
    for (size_t i = 0; i < sizeof stored_value_defs / sizeof stored_value_defs[0]; i++)
        if (strcmp(name, stored_value_defs[i].request) == 0)
            return &stored_value_defs[i];
    return NULL;
}

/*
 * The message ARTSData carries when it carries it as escaped text: parsed as a document of
 * its own, with the envelope's precautions (no network, no DTD). *inner receives it.
 */
static xmlNodePtr parse_embedded(xmlNodePtr data, xmlDocPtr *inner)
{
    xmlChar *text = xmlNodeGetContent(data);
    if (!text)
        return NULL;
    const char *s = (const char *)text;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    xmlNodePtr root = NULL;
    if (*s == '<' && pl_sim_xml_read(s, strlen(s), "ARTSData.xml", "ARTSData", inner, NULL, 0) == 0)
        root = xmlDocGetRootElement(*inner);
    pl_card_wipe(text, strlen((const char *)text));
    xmlFree(text);
    return root;
}

/*
 * Finds the message inside dtv:ProcessXML and checks that dtv:ARTSAction names it.
 * Returns the message element, or NULL with the reason in err.
 */
static xmlNodePtr find_message(xmlNodePtr payload, xmlDocPtr *inner, const msg_def **def, char *err,
                               size_t errsize)
{
    if (!pl_sim_xml_is(payload, PL_SIM_RELATE_DTV_NS, "ProcessXML")) {
        snprintf(err, errsize, "The SOAP Body must hold dtv:ProcessXML of namespace %s.",
                 PL_SIM_RELATE_DTV_NS);
        return NULL;
    }
    char action[64];
    if (pl_sim_xml_text(payload, PL_SIM_RELATE_DTV_NS, "ARTSAction", action, sizeof action) != 1 ||
        !action[0]) {
        snprintf(err, errsize, "dtv:ProcessXML has no dtv:ARTSAction.");
        return NULL;
    }
    xmlNodePtr data = pl_sim_xml_child(payload, PL_SIM_RELATE_DTV_NS, "ARTSData");
    if (!data) {
        snprintf(err, errsize, "dtv:ProcessXML has no dtv:ARTSData.");
        return NULL;
    }
    xmlNodePtr msg = pl_sim_xml_first_element(data);
    if (!msg)
        msg = parse_embedded(data, inner);
    if (!msg) {
        snprintf(err, errsize, "dtv:ARTSData holds no message.");
        return NULL;
    }
    *def = find_def((const char *)msg->name);
    if (!*def) {
        snprintf(err, errsize, "Unsupported message %.40s.", (const char *)msg->name);
        return NULL;
    }
    const char *expected = *def == &generate_def ? GENERATE_ACTION : (*def)->request;
    if (strcmp(action, expected) != 0) {
        snprintf(err, errsize, "dtv:ARTSAction %.40s does not match the message %.40s.", action,
                 (const char *)msg->name);
        return NULL;
    }
    return msg;
}

/* ---- writing the answer -------------------------------------------------------------------- */

/* The seed's times: "2010-08-26T10:26:52", or with the zone "2010-08-23T13:15:42-0400". */
static void format_time(const struct timespec *ts, bool zone, char *out, size_t outsize)
{
    struct timespec now;
    if (!ts) {
        clock_gettime(CLOCK_REALTIME, &now);
        ts = &now;
    }
    struct tm tm;
    time_t secs = ts->tv_sec;
    gmtime_r(&secs, &tm);
    strftime(out, outsize, zone ? "%Y-%m-%dT%H:%M:%S+0000" : "%Y-%m-%dT%H:%M:%S", &tm);
}

/* A response document: root in the ARTS default namespace with the seed's schemaLocation. */
static xmlDocPtr new_answer(const char *root_name, const char *schema, xmlNodePtr *root,
                            pl_sim_xml_builder *b)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr r = doc ? xmlNewDocNode(doc, NULL, BAD_CAST root_name, NULL) : NULL;
    if (!r) {
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlDocSetRootElement(doc, r);
    b->ns = xmlNewNs(r, BAD_CAST PL_SIM_RELATE_NS, NULL);
    xmlNsPtr xsi = xmlNewNs(r, BAD_CAST XSI_NS, BAD_CAST "xsi");
    if (!b->ns || !xsi || !xmlNewNsProp(r, xsi, BAD_CAST "schemaLocation", BAD_CAST schema)) {
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlSetNs(r, b->ns);
    b->ok = true;
    *root = r;
    return doc;
}

/* Serialises doc as the seed shows answers (no XML declaration) into resp, then frees it. */
static int finish(xmlDocPtr doc, unsigned status, pl_sim_response *resp)
{
    int rc = PL_ERR_NOMEM;
    xmlBufferPtr buf = xmlBufferCreate();
    xmlSaveCtxtPtr save = buf ? xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL) : NULL;
    if (save) {
        long n = xmlSaveDoc(save, doc);
        if (xmlSaveClose(save) >= 0 && n >= 0 && xmlBufferLength(buf) > 0)
            rc = pl_sim_response_set(resp, status, "text/xml; charset=utf-8",
                                     (const char *)xmlBufferContent(buf),
                                     (size_t)xmlBufferLength(buf));
    }
    if (buf) {
        /* A GenerateCard answer holds the new card number. */
        pl_card_wipe((void *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
        xmlBufferFree(buf);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* DateTime, then <item ResponseCode="Rejected"> with ErrorCode and ResponseDescription. */
static void render_rejected(pl_sim_xml_builder *b, xmlNodePtr root, const char *item,
                            const char *error, const char *description)
{
    char when[32];
    format_time(NULL, false, when, sizeof when);
    pl_sim_xml_add_text(b, root, "DateTime", when);
    xmlNodePtr n = pl_sim_xml_add_text(b, root, item, NULL);
    if (n && !xmlNewProp(n, BAD_CAST "ResponseCode", BAD_CAST "Rejected"))
        b->ok = false;
    pl_sim_xml_add_text(b, n, "ErrorCode", error);
    pl_sim_xml_add_text(b, n, "ResponseDescription", description);
}

static int render_generate(const relate_req *r, const relate_answer *a, pl_sim_response *resp)
{
    pl_sim_xml_builder b;
    xmlNodePtr root;
    xmlDocPtr doc = new_answer("CardSeriesMaintenance", SCHEMA_CARD_SERIES, &root, &b);
    if (!doc)
        return PL_ERR_NOMEM;
    if (a->error) {
        render_rejected(&b, root, "CardSeries", a->error, a->description);
    } else {
        char when[32];
        format_time(NULL, false, when, sizeof when);
        pl_sim_xml_add_text(&b, root, "DateTime", when);
        xmlNodePtr series = pl_sim_xml_add_text(&b, root, "CardSeries", NULL);
        if (series && !xmlNewProp(series, BAD_CAST "ResponseCode", BAD_CAST "OK"))
            b.ok = false;
        pl_sim_xml_add_text(&b, series, "CardPrefix", r->prefix);
        pl_sim_xml_add_text(&b, series, "CardSeriesSequence", r->sequence);
        xmlNodePtr inst = pl_sim_xml_add_text(&b, series, "Instrument", NULL);
        pl_sim_xml_add_text(&b, inst, "InstrumentID", a->instrument);
        pl_sim_xml_add_text(&b, inst, "CardNumber", a->new_card);
        pl_sim_xml_add_text(&b, inst, "BatchNumber", "001");
    }
    if (!b.ok) {
        xmlFreeDoc(doc);
        return PL_ERR_NOMEM;
    }
    return finish(doc, 200, resp);
}

static int render_stored_value(const relate_req *r, const relate_answer *a, pl_sim_response *resp)
{
    pl_sim_xml_builder b;
    xmlNodePtr root;
    xmlDocPtr doc = new_answer(r->def->response, SCHEMA_STORED_VALUE, &root, &b);
    if (!doc)
        return PL_ERR_NOMEM;
    const char *currency = r->currency[0] ? r->currency : DEFAULT_CURRENCY;
    if (a->error) {
        render_rejected(&b, root, "SVATransaction", a->error, a->description);
    } else {
        const pl_sim_rlt_outcome *o = &a->o;
        const char *status = o->active ? "Active" : "Inactive";
        char effective[32], when[32];
        format_time(&o->effective, true, effective, sizeof effective);
        format_time(NULL, true, when, sizeof when);

        xmlNodePtr inst = pl_sim_xml_add_text(&b, root, "InstrumentState", NULL);
        pl_sim_xml_add_text(&b, inst, "Status", status);
        xmlNodePtr acct = pl_sim_xml_add_text(&b, root, "AccountState", NULL);
        pl_sim_xml_add_int(&b, acct, "AccountID", (long)o->account_id);
        pl_sim_xml_add_text(&b, acct, "AccountStatus", status);
        xmlNodePtr bal = pl_sim_xml_add_text(&b, acct, "Balance", NULL);
        pl_sim_xml_add_amount(&b, bal, "Amount", o->available);
        pl_sim_xml_add_text(&b, bal, "Currency", currency);
        pl_sim_xml_add_text(&b, acct, "EffectiveDate", effective);
        pl_sim_xml_add_text(&b, acct, "AccountType", "SVC");

        xmlNodePtr t = pl_sim_xml_add_text(&b, root, "SVATransaction", NULL);
        pl_sim_xml_add_text(&b, t, "SVATransactionID", o->sva_id);
        if (r->def->op == PL_SIM_RLT_POSTAUTH) {
            pl_sim_xml_add_text(&b, t, "PreAuthSVATransactionID", r->preauth_id);
            xmlNodePtr pre = pl_sim_xml_add_text(&b, t, "PreAuthSVAAmount", NULL);
            pl_sim_xml_add_text(&b, pre, "PreAuthCurrencyID", currency);
            pl_sim_xml_add_amount(&b, pre, "PreAuthAmount", o->preauth_left);
        }
        xmlNodePtr reason = pl_sim_xml_add_text(&b, t, "Reason", NULL);
        pl_sim_xml_add_text(&b, reason, "Description", r->def->response);
        pl_sim_xml_add_int(&b, reason, "Code", r->def->reason_code);
        xmlNodePtr amt = pl_sim_xml_add_text(&b, t, "SVAAmount", NULL);
        pl_sim_xml_add_text(&b, amt, "CurrencyID", currency);
        pl_sim_xml_add_amount(&b, amt, "Amount", o->amount);
        pl_sim_xml_add_text(&b, t, "TransactionDateTime", when);
        pl_sim_xml_add_text(&b, t, "AuthNumber", a->auth_number);
    }
    if (!b.ok) {
        xmlFreeDoc(doc);
        return PL_ERR_NOMEM;
    }
    return finish(doc, 200, resp);
}

/* A SOAP 1.1 Fault (HTTP 500): code SOAP-ENV:Client for a request that is not the seed's
 * envelope, or what a fault armed on the control route says. */
static int soap_fault(pl_sim_response *resp, const char *code_text, const char *faultstring)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL) : NULL;
    if (!env) {
        xmlFreeDoc(doc);
        return PL_ERR_NOMEM;
    }
    xmlDocSetRootElement(doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST PL_SOAP_ENV_NS, BAD_CAST "SOAP-ENV");
    xmlSetNs(env, soap);
    xmlNodePtr body = soap ? xmlNewChild(env, soap, BAD_CAST "Body", NULL) : NULL;
    xmlNodePtr fault = body ? xmlNewChild(body, soap, BAD_CAST "Fault", NULL) : NULL;
    /* faultcode and faultstring are unqualified (SOAP 1.1 §4.4). */
    xmlNodePtr code = fault ? xmlNewDocNode(doc, NULL, BAD_CAST "faultcode", NULL) : NULL;
    xmlNodePtr text = code ? xmlNewDocNode(doc, NULL, BAD_CAST "faultstring", NULL) : NULL;
    if (!text) {
        xmlFreeNode(code);
        xmlFreeDoc(doc);
        return PL_ERR_NOMEM;
    }
    xmlNodeAddContent(code, BAD_CAST code_text);
    xmlNodeAddContent(text, BAD_CAST faultstring);
    xmlAddChild(fault, code);
    xmlAddChild(fault, text);
    return finish(doc, 500, resp);
}

/* ---- the handler --------------------------------------------------------------------------- */

static const char *describe(const char *error)
{
    static const struct {
        const char *code;
        const char *text;
    } texts[] = {
        {PL_SIM_RLT_E_ALL_GENERATED, "All cards have been generated."}, /* seed */
        {PL_SIM_RLT_E_CARD_NOT_FOUND, "The card was not found."},
        {PL_SIM_RLT_E_CARD_INACTIVE, "The card is not active."},
        {PL_SIM_RLT_E_CARD_ACTIVE, "The card is already active."},
        {PL_SIM_RLT_E_INSUFFICIENT_FUNDS, "The card has no available balance."},
        {PL_SIM_RLT_E_TXN_NOT_FOUND, "No preauthorization of this card has this SVATransactionID."},
        {PL_SIM_RLT_E_EXCEEDS_AUTH, "The amount is greater than the authorization holds."},
        {PL_SIM_RLT_E_VOIDED, "The authorization has already been voided."},
        {PL_SIM_RLT_E_SETTLED, "The authorization has been settled in full."},
        {PL_SIM_RLT_E_BALANCE_LIMIT, "The balance would exceed the largest amount."},
        {PL_SIM_RELATE_E_SYSTEM, "A system error occurred. Try again later."},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(texts[i].code, error) == 0)
            return texts[i].text;
    return "The transaction was rejected.";
}

static const char *op_name(const relate_req *r)
{
    return r->def == &generate_def ? "generate" : pl_sim_ledger_rlt_op_name(r->def->op);
}

/* Records the answer for /__sim/query under each key it is found by (sim_relate.h). */
static int record(pl_sim_ledger *l, const relate_req *r, const relate_answer *a)
{
    pl_sim_txn t = {0};
    snprintf(t.protocol, sizeof t.protocol, "RLT");
    snprintf(t.op, sizeof t.op, "%s", op_name(r));
    bool system = a->error && strcmp(a->error, PL_SIM_RELATE_E_SYSTEM) == 0;
    snprintf(t.decision, sizeof t.decision, "%s",
             !a->error ? "ACCEPT"
             : system  ? "ERROR"
                       : "REJECT");
    t.reason_code = a->error ? 0 : r->def->reason_code;
    if (a->error)
        snprintf(t.error_code, sizeof t.error_code, "%s", a->error);
    else
        snprintf(t.request_id, sizeof t.request_id, "%s",
                 r->def == &generate_def ? a->instrument : a->o.sva_id);
    snprintf(t.request_token, sizeof t.request_token, "%s", a->auth_number);
    t.amount = !a->error ? a->o.amount : r->has_amount ? r->amount : 0;

    char key[ORDER_MAX + sizeof t.op + 2];
    if (r->def == &generate_def) {
        if (!r->prefix[0] || !r->sequence[0])
            return PL_OK;
        snprintf(key, sizeof key, "%s-%s", r->prefix, r->sequence);
        return pl_sim_ledger_txn_record(l, key, &t);
    }
    if (!r->order[0])
        return PL_OK;
    int rc = pl_sim_ledger_txn_record(l, r->order, &t);
    if (rc < 0)
        return rc;
    snprintf(key, sizeof key, "%s/%s", r->order, t.op);
    return pl_sim_ledger_txn_record(l, key, &t);
}

static void log_outcome(const relate_req *r, const relate_answer *a, const char *sc_name)
{
    const char *card = r->def == &generate_def ? a->new_card : r->card;
    char masked[PL_SIM_RLT_CARD_MAX + 1] = "-";
    if (card[0] && pl_card_mask_log(card, PL_MASK_LAST4, masked, sizeof masked) < 0)
        snprintf(masked, sizeof masked, "***REMOVED***");
    char amount[32] = "-";
    if (r->has_amount && pl_money_format(r->amount, amount, sizeof amount) < 0)
        amount[0] = '\0';
    char subject[64];
    if (r->def == &generate_def)
        snprintf(subject, sizeof subject, "series=%s-%s", r->prefix, r->sequence);
    else
        snprintf(subject, sizeof subject, "order=%s", r->order[0] ? r->order : "-");
    /* The SVATransactionID handed out; GenerateCard's is the InstrumentID. */
    const char *id = r->def == &generate_def ? a->instrument : a->o.sva_id;
    pl_sim_log(PL_LOG_INFO, r->order[0] ? r->order : NULL,
               "RLT %s %s amount=%s card=%s scenario=%s result=%s id=%s", op_name(r), subject,
               amount, masked, sc_name, a->error ? a->error : "OK", id[0] ? id : "-");
}

/* The seed's AuthNumber: the SVATransactionID in 10 digits, then 6 more. */
static void make_auth_number(const char *sva_id, char *out, size_t outsize)
{
    unsigned long long id = strtoull(sva_id, NULL, 10);
    snprintf(out, outsize, "%010llu%06u", id, (unsigned)pl_sim_ids_random(999999u));
}

/* Lets the ledger decide and apply; fills a. Returns 0 or NOMEM. */
static int run(pl_sim_ledger *l, const relate_req *r, relate_answer *a)
{
    int rc;
    if (r->def == &generate_def)
        rc = pl_sim_ledger_rlt_generate(l, r->prefix, r->sequence, a->new_card, sizeof a->new_card,
                                        a->instrument, sizeof a->instrument, &a->o);
    else
        rc = pl_sim_ledger_rlt_apply(l, r->def->op, r->card, r->order[0] ? r->order : NULL,
                                     r->has_amount ? r->amount : 0,
                                     r->preauth_id[0] ? r->preauth_id : NULL, &a->o);
    if (rc == PL_ERR_INVALID) {
        /* The checks above keep this from happening; answer it rather than crash. */
        a->error = PL_SIM_RELATE_E_INVALID;
        a->description = "The request is not valid.";
        return PL_OK;
    }
    if (rc < 0)
        return rc;
    a->error = a->o.error;
    if (!a->error && r->def != &generate_def)
        make_auth_number(a->o.sva_id, a->auth_number, sizeof a->auth_number);
    return PL_OK;
}

/* The SOAP fault armed on the control route (pl_sim_relate_fault_control). */
static int armed_answer(const pl_sim_rlt_fault *f, pl_sim_response *resp)
{
    return f->server ? soap_fault(resp, "SOAP-ENV:Server",
                                  "An unexpected error occurred while processing the request.")
                     : soap_fault(resp, "SOAP-ENV:Client", "The request was refused.");
}

int pl_sim_relate_handle(pl_sim_ledger *l, const pl_sim_http_req *req, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    char err[256];
    xmlDocPtr doc = NULL, inner = NULL;
    xmlNodePtr header, payload, msg;
    int rc = PL_OK;
    relate_req *r = calloc(1, sizeof *r);
    relate_answer *a = calloc(1, sizeof *a);
    if (!r || !a) {
        rc = PL_ERR_NOMEM;
        goto out;
    }

    if (pl_sim_soap_read_request("RLT", req, &doc, &header, &payload, err, sizeof err) < 0) {
        rc = soap_fault(resp, "SOAP-ENV:Client", err);
        goto out;
    }
    msg = find_message(payload, &inner, &r->def, err, sizeof err);
    if (!msg) {
        pl_sim_log(PL_LOG_WARN, NULL, "RLT request refused: %s", err);
        rc = soap_fault(resp, "SOAP-ENV:Client", err);
        goto out;
    }
    if (r->def == &generate_def) {
        read_generate(msg, r);
        read_issue_amount(req->issue_amount, r);
    } else
        read_stored_value(msg, r);

    /* A fault armed for the order takes the place of the amount's scenario: answered at once
     * (nothing applied), or after the operation was applied and recorded, as a 905 is. */
    pl_sim_rlt_fault fault = {0};
    bool armed = r->order[0] && pl_sim_ledger_rlt_fault_take(l, r->order, op_name(r), &fault);
    int64_t units = r->has_amount && !armed ? r->amount / 100 : -1;
    bool then_hold = units == UNITS_APPLIED_THEN_HOLD, then_drop = units == UNITS_APPLIED_THEN_DROP;
    pl_sim_scenario sc = units >= 0 && !then_hold && !then_drop
                             ? pl_sim_scenario_for_amount(r->amount, NULL)
                             : PL_SIM_SC_APPROVE;
    bool exhausted = r->def == &generate_def && units == UNITS_SERIES_EXHAUSTED;
    const char *sc_name = armed       ? (fault.applied ? "fault_applied" : "fault")
                          : then_hold ? "applied_hold"
                          : then_drop ? "applied_drop"
                          : exhausted ? "series_exhausted"
                                      : pl_sim_scenario_name(sc);
    if (pl_sim_scenario_is_fault(sc) || (armed && !fault.applied)) {
        /* As for CyberSource (sim_cyb.c): 901–904 fail before processing, nothing recorded. */
        pl_sim_log(PL_LOG_INFO, r->order[0] ? r->order : NULL, "RLT %s scenario=%s: no effect",
                   op_name(r), sc_name);
        rc = armed ? armed_answer(&fault, resp) : pl_sim_scenario_fault_answer(sc, resp);
        goto out;
    }

    if (r->problem[0]) {
        a->error = PL_SIM_RELATE_E_INVALID;
        a->description = r->problem;
    } else if (sc == PL_SIM_SC_ERROR) {
        a->error = PL_SIM_RELATE_E_SYSTEM;
    } else if (exhausted) {
        /* CONTRACT.md §3: 909.xx as the issue amount; the series itself is left as it is. */
        a->error = PL_SIM_RLT_E_ALL_GENERATED;
    } else {
        /* Other scenarios of the table (110, the declines, fraud, review) are CyberSource's:
         * a stored value request with such an amount is processed normally. */
        rc = run(l, r, a);
        if (rc < 0)
            goto out;
    }
    if (a->error && !a->description)
        a->description = describe(a->error);
    log_outcome(r, a, sc_name);
    rc = record(l, r, a);
    if (rc < 0)
        goto out;

    if (armed) {
        rc = armed_answer(&fault, resp); /* applied and recorded; the answer is a fault */
        goto out;
    }
    if (then_hold || then_drop) {
        /* 905/906: applied and recorded; the answer is lost. */
        memset(resp, 0, sizeof *resp);
        resp->action = then_hold ? PL_SIM_HOLD : PL_SIM_DROP;
        goto out;
    }
    rc = r->def == &generate_def ? render_generate(r, a, resp) : render_stored_value(r, a, resp);
out:
    if (r)
        pl_card_wipe(r->card, sizeof r->card);
    if (a)
        pl_card_wipe(a->new_card, sizeof a->new_card);
    free(r);
    free(a);
    /* The card number (in CardNumber, or inside an escaped message in ARTSData) does not
     * linger in freed memory. */
    pl_xml_free_doc(inner);
    pl_xml_free_doc(doc);
    return rc;
}

/* ---- the series control route -------------------------------------------------------------- */

int pl_sim_relate_series_control(pl_sim_ledger *l, bool change, const char *prefix,
                                 const char *sequence, const char *remaining, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    if (!pl_sim_ledger_rlt_series_ok(prefix, sequence))
        return pl_sim_response_text(
            resp, 400,
            "prefix and sequence: digits, together at most 12 (the CardPrefix "
            "and CardSeriesSequence of GenerateCard)\n");
    if (change) {
        unsigned n = 0;
        bool unlimited = remaining && strcmp(remaining, "unlimited") == 0;
        if (!unlimited && pl_sim_parse_uint(remaining, SERIES_REMAINING_MAX, &n) < 0)
            return pl_sim_response_text(resp, 400, "remaining: 0-1000000000 or unlimited\n");
        int rc = pl_sim_ledger_rlt_series_set(l, prefix, sequence, unlimited ? -1 : (int64_t)n);
        if (rc < 0)
            return rc;
        pl_sim_log(PL_LOG_INFO, NULL, "relate series %s-%s: remaining %s", prefix, sequence,
                   unlimited ? "unlimited" : remaining);
    } else if (remaining) {
        return pl_sim_response_text(resp, 400, "remaining is set with POST\n");
    }

    int64_t left;
    uint64_t generated;
    pl_sim_ledger_rlt_series_get(l, prefix, sequence, &left, &generated);
    json_object *root = json_object_new_object();
    if (!root)
        return PL_ERR_NOMEM;
    int rc = pl_sim_json_add(root, "prefix", json_object_new_string(prefix));
    if (rc == PL_OK)
        rc = pl_sim_json_add(root, "sequence", json_object_new_string(sequence));
    if (rc == PL_OK)
        rc = left < 0
                 ? (json_object_object_add(root, "remaining", NULL) == 0 ? PL_OK : PL_ERR_NOMEM)
                 : pl_sim_json_add(root, "remaining", json_object_new_int64(left));
    if (rc == PL_OK)
        rc = pl_sim_json_add(root, "generated", json_object_new_int64((int64_t)generated));
    if (rc != PL_OK) {
        json_object_put(root);
        return rc;
    }
    return pl_sim_response_json(resp, root);
}

int pl_sim_relate_fault_control(pl_sim_ledger *l, const char *order, const char *op,
                                const char *code, const char *applied, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    pl_sim_rlt_fault f = {0};
    bool server = code && strcmp(code, "Server") == 0, client = code && strcmp(code, "Client") == 0;
    bool is_applied = applied && strcmp(applied, "true") == 0;
    /* Those of the messages that name an order (InquiryRequest and GenerateCard do not). */
    static const char *const ops[] = {"activate", "recharge", "auth", "deposit", "return", "void"};
    bool op_ok = !op;
    for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++)
        op_ok = op_ok || strcmp(op, ops[i]) == 0;
    if (!order || !order[0] || strlen(order) > PL_SIM_RLT_ORDER_MAX || !(server || client) ||
        !op_ok || (applied && !is_applied && strcmp(applied, "false") != 0) ||
        (is_applied && !server))
        return pl_sim_response_text(
            resp, 400,
            "order: 1-50 characters; code: Server or Client; op (optional): activate, recharge, "
            "auth, deposit, return or void; applied (optional, Server only): true or false\n");
    snprintf(f.op, sizeof f.op, "%s", op ? op : "");
    f.server = server;
    f.applied = is_applied;
    int rc = pl_sim_ledger_rlt_fault_set(l, order, &f);
    if (rc < 0)
        return rc;
    pl_sim_log(PL_LOG_INFO, order, "relate fault armed: SOAP-ENV:%s for the next %s call%s", code,
               op ? op : "", is_applied ? ", after applying it" : "");
    json_object *root = json_object_new_object();
    if (!root)
        return PL_ERR_NOMEM;
    rc = pl_sim_json_add(root, "order", json_object_new_string(order));
    if (rc == PL_OK)
        rc = op ? pl_sim_json_add(root, "op", json_object_new_string(op))
                : (json_object_object_add(root, "op", NULL) == 0 ? PL_OK : PL_ERR_NOMEM);
    if (rc == PL_OK)
        rc = pl_sim_json_add(
            root, "code", json_object_new_string(server ? "SOAP-ENV:Server" : "SOAP-ENV:Client"));
    if (rc == PL_OK)
        rc = pl_sim_json_add(root, "applied", json_object_new_boolean(is_applied));
    if (rc != PL_OK) {
        json_object_put(root);
        return rc;
    }
    return pl_sim_response_json(resp, root);
}

const pl_sim_proto pl_sim_relate_proto = {
    .protocol = "RLT",
    .method = "POST",
    .path = PL_SIM_RELATE_PATH,
    .match_path = pl_sim_relate_path_match,
    .handle = pl_sim_relate_handle,
};
