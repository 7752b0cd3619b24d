/*
 * sim_query.c: the simulated CyberSource On-Demand Single Transaction Query (see sim_query.h
 * for the rules). A query is read in three steps — the Basic credentials, the form (libcurl
 * decodes each component, pl_sim_form_value), what is asked for — and answered with a
 * Transaction Detail Report built by libxml2 from the requests the CyberSource endpoint left in
 * the ledger. The report's shape is the one common/cyb_query.h documents and reads.
 */
#include "sim_query.h"

#include <libxml/tree.h>
#include <libxml/xmlstring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card.h"
#include "sim_dm.h"
#include "sim_log.h"
#include "sim_xml.h"

/* The longest form value and Basic user or password the simulator reads. */
#define FIELD_MAX 256

/* The hosts of the two Query URLs: the DTD lives beside the request path. */
#define TEST_BASE "https://ebctest.cybersource.com/ebctest"
#define PROD_BASE "https://ebc.cybersource.com/ebc"

/* Report and Request constants of CyberSource's samples (cyb_query.h). */
#define REPORT_NAME "Transaction Detail"
#define REQUEST_SOURCE "SOAP Toolkit API"
#define PAYMENT_PROCESSOR "smartfdc"

#define E_NOT_FORM "Invalid request: the body must be application/x-www-form-urlencoded."
#define E_TYPE "Invalid request: type must be transaction, subtype transactionDetail."
#define E_VERSION "Invalid versionNumber: expected 1.1 to 1.7."
#define E_WHAT "Invalid request: requestID, or merchantReferenceNumber and targetDate, is required."
#define E_DATE "Invalid targetDate: expected yyyyMMdd."

bool pl_sim_query_path_match(const char *path)
{
    return strcmp(path, PL_SIM_QUERY_PATH) == 0 || strcmp(path, PL_SIM_QUERY_PROD_PATH) == 0;
}

/* ---- reading the query ------------------------------------------------------------------ */

typedef struct query_req {
    char user[FIELD_MAX];
    char password[FIELD_MAX]; /* wiped when the query is done */
    char merchant_id[FIELD_MAX];
    char type[FIELD_MAX], subtype[FIELD_MAX], version[FIELD_MAX];
    char request_id[FIELD_MAX];
    char merchant_reference[FIELD_MAX];
    char target_date[FIELD_MAX];
    time_t day; /* targetDate 00:00:00 UTC, when the query is by merchant reference */
    bool production;
} query_req;

/* "1.1" to "1.7": the Transaction Detail Report versions the Query serves. */
static bool version_ok(const char *v)
{
    return strlen(v) == 3 && v[0] == '1' && v[1] == '.' && v[2] >= '1' && v[2] <= '7';
}

/* targetDate "yyyyMMdd" as the Unix time of that day's midnight UTC; false for no such day. */
static bool parse_day(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strlen(s) != 8 || !pl_card_all_digits(s))
        return false;
    const char *end = strptime(s, "%Y%m%d", &tm);
    if (!end || *end)
        return false;
    time_t t = timegm(&tm);
    struct tm check;
    char back[16];
    /* timegm moves 20240230 to March 1st: a day that moves did not exist. */
    if (t == (time_t)-1 || !gmtime_r(&t, &check) ||
        strftime(back, sizeof back, "%Y%m%d", &check) != 8 || strcmp(back, s) != 0)
        return false;
    *out = t;
    return true;
}

/*
 * Reads and checks the query into q. Returns 0 when the report can be made, 1 with *refusal
 * the plain text answer (a static string), or NOMEM.
 */
static int read_query(const pl_sim_query_cfg *cfg, const pl_sim_http_req *req, query_req *q,
                      const char **refusal)
{
    /* Who asks comes before what is asked. Basic carries the report user and password as they
     * are (RFC 7617), not form-encoded as OAuth's client credentials. */
    if (pl_sim_basic_credentials(req->authorization, false, q->user, sizeof q->user, q->password,
                                 sizeof q->password) < 0 ||
        !q->user[0] || !pl_sim_dm_password_ok(cfg->password, q->password)) {
        *refusal = PL_SIM_DM_E_LOGIN;
        return 1;
    }
    if (!pl_sim_is_form(req->content_type)) {
        *refusal = E_NOT_FORM;
        return 1;
    }
    struct {
        const char *name;
        char *buf;
    } fields[] = {
        {"merchantID", q->merchant_id}, {"type", q->type},
        {"subtype", q->subtype},        {"versionNumber", q->version},
        {"requestID", q->request_id},   {"merchantReferenceNumber", q->merchant_reference},
        {"targetDate", q->target_date},
    };
    /* A value that does not decode or fit reads as empty: the checks below then refuse it. */
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (pl_sim_form_value(req->body, req->body_len, fields[i].name, fields[i].buf, FIELD_MAX) ==
            PL_ERR_NOMEM)
            return PL_ERR_NOMEM;
    /* The merchantID goes into the report: text libxml2 can write, or no merchant at all. */
    if (!q->merchant_id[0] || !xmlCheckUTF8(BAD_CAST q->merchant_id)) {
        *refusal = PL_SIM_DM_E_MERCHANT;
        return 1;
    }
    if (strcmp(q->type, "transaction") != 0 || strcmp(q->subtype, "transactionDetail") != 0) {
        *refusal = E_TYPE;
        return 1;
    }
    if (!version_ok(q->version)) {
        *refusal = E_VERSION;
        return 1;
    }
    if (!q->request_id[0] && !q->merchant_reference[0]) {
        *refusal = E_WHAT;
        return 1;
    }
    if (!q->request_id[0] && !parse_day(q->target_date, &q->day)) {
        *refusal = E_DATE;
        return 1;
    }
    q->production = strcmp(req->path, PL_SIM_QUERY_PROD_PATH) == 0;
    return 0;
}

/* Whether a request the simulator answered is one the query asks for. */
static bool wanted(const pl_sim_cyb_request *r, void *arg)
{
    const query_req *q = arg;
    if (strcmp(r->merchant_id, q->merchant_id) != 0)
        return false;
    if (q->request_id[0])
        return strcmp(r->request_id, q->request_id) == 0;
    return strcmp(r->merchant_reference, q->merchant_reference) == 0 && r->answered >= q->day &&
           r->answered - q->day < 86400;
}

/* ---- the report ------------------------------------------------------------------------- */

/* What an application's reasonCode reads as in the report. */
typedef struct app_result {
    int reason;
    int rcode;         /* 1 success, 0 declined, -1 error */
    const char *rflag; /* D… flags decline, E… flags are errors (the ICS convention) */
    const char *rmsg;
} app_result;

/*
 * bureau-wire-formats.md §1.9 gives the flags it could confirm (SOK, DMISSINGFIELD,
 * DINVALIDDATA, DCARDEXPIRED, DCARDREFUSED); the others are the simulator's choice, in the
 * same convention.
 */
static const app_result RESULTS[] = {
    {100, 1, "SOK", "Request was processed successfully."},
    {110, 1, "SOK", "Only a partial amount was approved."},
    {101, 0, "DMISSINGFIELD", "The request is missing one or more required fields."},
    {102, 0, "DINVALIDDATA", "One or more fields in the request contain invalid data."},
    {150, -1, "ESYSTEM", "General system failure."},
    {202, 0, "DCARDEXPIRED", "Expired card."},
    {203, 0, "DCARDREFUSED", "General decline of the card."},
    {204, 0, "DCARDREFUSED", "Insufficient funds in the account."},
    {200, 0, "DAVSNO",
     "The authorization request was approved by the issuing bank but declined by CyberSource "
     "because it did not pass the Address Verification Service (AVS) check."},
    {205, 0, "DCARDREFUSED", "Stolen or lost card."},
    {211, 0, "DINVALIDCVN", "Invalid card verification number."},
    {230, 0, "DCV",
     "The authorization request was approved by the issuing bank but declined by CyberSource "
     "because it did not pass the card verification number check."},
    {231, 0, "DINVALIDCARD", "Invalid account number."},
    {235, 0, "DINVALIDDATA", "The requested amount exceeds the authorized or captured amount."},
    {237, 0, "DINVALIDDATA", "The authorization has already been reversed."},
    {238, 0, "DINVALIDDATA", "The authorization has already been captured."},
    {242, 0, "DNOAUTH", "There is no corresponding, unused authorization."},
    {400, 0, "DSCORE", "The fraud score exceeds the threshold."},
    {480, 0, "DREVIEW", "The order is marked for review by Decision Manager."},
    {481, 0, "DREJECT", "The order has been rejected by Decision Manager."},
    {520, 0, "DSETTINGS",
     "The authorization request was approved by the issuing bank but declined by CyberSource "
     "based on your Smart Authorization settings."},
};

static const app_result UNKNOWN_RESULT = {0, -1, "ESYSTEM", "General system failure."};

static const app_result *result_of(int reason)
{
    for (size_t i = 0; i < sizeof RESULTS / sizeof RESULTS[0]; i++)
        if (RESULTS[i].reason == reason)
            return &RESULTS[i];
    return &UNKNOWN_RESULT;
}

/* The report's CardType for pl_card_type_guess's code; NULL when unknown. */
static const char *card_type_name(const char *code)
{
    static const char *const names[][2] = {
        {"VI", "Visa"},     {"MC", "MasterCard"},  {"AX", "American Express"},
        {"DI", "Discover"}, {"DC", "Diners Club"}, {"JC", "JCB"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(code, names[i][0]) == 0)
            return names[i][1];
    return NULL;
}

/* A one-character code (AVS, CVN) as an element; nothing when there is none. */
static void add_code(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name, char code)
{
    char text[2] = {code, '\0'};
    if (code)
        pl_sim_xml_add_text(b, parent, name, text);
}

static void render_card(pl_sim_xml_builder *b, xmlNodePtr request, const pl_sim_cyb_request *r)
{
    if (!r->card_suffix[0])
        return;
    char month[8];
    snprintf(month, sizeof month, "%02d", r->exp_month);
    xmlNodePtr card = pl_sim_xml_add_text(b, pl_sim_xml_add_text(b, request, "PaymentMethod", NULL),
                                          "Card", NULL);
    pl_sim_xml_add_text(b, card, "AccountSuffix", r->card_suffix);
    pl_sim_xml_add_text(b, card, "ExpirationMonth", month);
    pl_sim_xml_add_int(b, card, "ExpirationYear", r->exp_year);
    const char *type = card_type_name(r->card_type);
    if (type)
        pl_sim_xml_add_text(b, card, "CardType", type);
}

static void render_payment_data(pl_sim_xml_builder *b, xmlNodePtr request,
                                const pl_sim_cyb_request *r)
{
    xmlNodePtr pd = pl_sim_xml_add_text(b, request, "PaymentData", NULL);
    pl_sim_xml_add_text(b, pd, "PaymentRequestID", r->request_id);
    pl_sim_xml_add_text(b, pd, "PaymentProcessor", PAYMENT_PROCESSOR);
    if (r->has_amount)
        pl_sim_xml_add_amount(b, pd, "Amount", r->amount);
    /* A CurrencyCode that is not three letters makes a reader refuse the whole report. */
    if (pl_sim_currency_ok(r->currency))
        pl_sim_xml_add_text(b, pd, "CurrencyCode", r->currency);
    pl_sim_xml_add_amount(b, pd, "TotalTaxAmount", 0);
    if (r->auth_code[0])
        pl_sim_xml_add_text(b, pd, "AuthorizationCode", r->auth_code);
    /* The simulator's processor answers CyberSource's own codes: raw and mapped are one. */
    add_code(b, pd, "AVSResult", r->avs);
    add_code(b, pd, "AVSResultMapped", r->avs);
    add_code(b, pd, "CVResult", r->cvn);
}

static void render_request(pl_sim_xml_builder *b, xmlNodePtr requests, const pl_sim_cyb_request *r)
{
    char when[40];
    struct tm tm;
    if (!gmtime_r(&r->answered, &tm) ||
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S+00:00", &tm) == 0)
        snprintf(when, sizeof when, "1970-01-01T00:00:00+00:00");
    xmlNodePtr e = pl_sim_xml_add_text(b, requests, "Request", NULL);
    pl_sim_xml_set_attr(b, e, "MerchantReferenceNumber", r->merchant_reference);
    pl_sim_xml_set_attr(b, e, "RequestDate", when);
    pl_sim_xml_set_attr(b, e, "RequestID", r->request_id);
    pl_sim_xml_set_attr(b, e, "SubscriptionID", r->subscription_id);
    pl_sim_xml_set_attr(b, e, "Source", REQUEST_SOURCE);
    pl_sim_xml_set_attr(b, e, "User", "");
    pl_sim_xml_set_attr(b, e, "TransactionReferenceNumber", r->reconciliation_id);
    render_card(b, e, r);
    xmlNodePtr replies = pl_sim_xml_add_text(b, e, "ApplicationReplies", NULL);
    for (size_t i = 0; i < r->napps; i++) {
        const app_result *res = result_of(r->apps[i].reason_code);
        xmlNodePtr a = pl_sim_xml_add_text(b, replies, "ApplicationReply", NULL);
        pl_sim_xml_set_attr(b, a, "Name", r->apps[i].name);
        pl_sim_xml_add_int(b, a, "RCode", res->rcode);
        pl_sim_xml_add_text(b, a, "RFlag", res->rflag);
        pl_sim_xml_add_text(b, a, "RMsg", res->rmsg);
        pl_sim_xml_add_int(b, a, "ReasonCode", r->apps[i].reason_code);
    }
    render_payment_data(b, e, r);
}

/*
 * The report of q over the requests recs[0, n) it asked for (in answer order; listed newest
 * first). Returns 0 with resp filled, or NOMEM.
 */
static int render_report(const query_req *q, const pl_sim_cyb_request *recs, size_t n,
                         pl_sim_response *resp)
{
    char dtd[128], second[32], now[64];
    snprintf(dtd, sizeof dtd, "%s/reports/dtd/tdr_%c_%c.dtd", q->production ? PROD_BASE : TEST_BASE,
             q->version[0], q->version[2]);
    /* The moment of the answer, as the samples write it: "2024-03-05 14:02:11.123+00:00". */
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!gmtime_r(&ts.tv_sec, &tm) ||
        strftime(second, sizeof second, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(second, sizeof second, "1970-01-01 00:00:00");
    snprintf(now, sizeof now, "%s.%03ld+00:00", second, ts.tv_nsec / 1000000);

    const pl_sim_xml_attr attrs[] = {
        {"Name", REPORT_NAME},    {"Version", q->version}, {"MerchantID", q->merchant_id},
        {"ReportStartDate", now}, {"ReportEndDate", now},
    };
    pl_sim_xml_builder b;
    xmlDocPtr doc = pl_sim_xml_report_new(dtd, NULL, attrs, sizeof attrs / sizeof attrs[0], &b);
    if (!doc)
        return PL_ERR_NOMEM;
    xmlNodePtr requests = pl_sim_xml_add_text(&b, xmlDocGetRootElement(doc), "Requests", NULL);
    for (size_t i = n; i > 0; i--)
        render_request(&b, requests, &recs[i - 1]);
    return pl_sim_xml_report_answer(doc, &b, false, resp);
}

/* ---- the handler ------------------------------------------------------------------------ */

int pl_sim_query_handle(pl_sim_ledger *l, const pl_sim_http_req *req, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    const pl_sim_query_cfg *cfg = req->state;
    if (!cfg)
        return PL_ERR_INVALID;

    query_req *q = calloc(1, sizeof *q);
    pl_sim_cyb_request *recs = NULL;
    size_t n = 0;
    const char *refusal = NULL;
    int rc = q ? read_query(cfg, req, q, &refusal) : PL_ERR_NOMEM;
    if (rc < 0)
        goto out;
    if (rc == 1) {
        pl_sim_log(PL_LOG_INFO, NULL, "CYB query refused (user %s, merchant %s): %s",
                   q->user[0] ? q->user : "-", q->merchant_id[0] ? q->merchant_id : "-", refusal);
        rc = pl_sim_response_text(resp, 200, refusal);
        goto out;
    }
    rc = pl_sim_ledger_cyb_requests(l, q->request_id, q->merchant_reference, wanted, q, &recs, &n);
    if (rc < 0)
        goto out;
    rc = render_report(q, recs, n, resp);
    if (rc == PL_OK)
        pl_sim_log(PL_LOG_INFO, q->request_id[0] ? NULL : q->merchant_reference,
                   "CYB query merchant=%s user=%s %s=%s%s%s records=%zu", q->merchant_id, q->user,
                   q->request_id[0] ? "requestID" : "merchantReferenceNumber",
                   q->request_id[0] ? q->request_id : q->merchant_reference,
                   q->request_id[0] ? "" : " targetDate=", q->request_id[0] ? "" : q->target_date,
                   n);
out:
    if (q)
        pl_card_wipe(q->password, sizeof q->password);
    free(q);
    free(recs);
    return rc;
}

const pl_sim_proto pl_sim_query_proto = {
    .protocol = "CYB",
    .method = "POST",
    .path = PL_SIM_QUERY_PATH,
    .match_path = pl_sim_query_path_match,
    .handle = pl_sim_query_handle,
};
