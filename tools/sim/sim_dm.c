/*
 * sim_dm.c: the simulated Decision Manager Conversion Detail Report (see sim_dm.h for the
 * rules). A request is read in three steps — the form (libcurl decodes each component), the
 * credentials, the report window — and answered with a report built by libxml2 from the
 * REVIEWs the CyberSource endpoint left in the ledger. The report's shape is the seed's
 * sample (cybersource-point-to-point.txt, "Cybersource Decision Manager Update Process"); its
 * element order inside Conversion is the seed's too (reference §1.11 could not confirm one).
 */
#include "sim_dm.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "card.h"
#include "money.h"
#include "sim_log.h"
#include "sim_scenario.h"
#include "sim_xml.h"

/* Longest raw (still encoded) form component the simulator reads; parameters are short. */
#define FIELD_MAX 256

/* The hosts of the two report URLs: the DTD and the stylesheet live beside the request path. */
#define TEST_BASE "https://ebctest.cybersource.com/ebctest"
#define PROD_BASE "https://ebc.cybersource.com/ebc"

/* seed: the sample report's fixed texts. */
#define REVIEW_QUEUE "Example"
#define REVIEW_PROFILE "Example"
#define NOTE_COMMENT "Took ownership."
#define COMMENT_ACCEPT "Approved by SIM | Issuer verified name and address."
#define COMMENT_REJECT "Rejected by SIM | Fraud."

struct pl_sim_dm {
    char *password; /* NULL: any non-empty but PL_SIM_DM_BAD_PASSWORD */
    atomic_int fail;
};

static const char *const fail_names[] = {
    [PL_SIM_DM_FAIL_NONE] = "none",       [PL_SIM_DM_FAIL_500] = "500",
    [PL_SIM_DM_FAIL_GARBAGE] = "garbage", [PL_SIM_DM_FAIL_DROP] = "drop",
    [PL_SIM_DM_FAIL_HOLD] = "hold",
};

pl_sim_dm *pl_sim_dm_new(const pl_sim_dm_cfg *cfg)
{
    pl_sim_dm *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    atomic_init(&d->fail, PL_SIM_DM_FAIL_NONE);
    if (cfg && cfg->password && cfg->password[0]) {
        d->password = strdup(cfg->password);
        if (!d->password) {
            free(d);
            return NULL;
        }
    }
    return d;
}

void pl_sim_dm_destroy(pl_sim_dm *d)
{
    if (!d)
        return;
    if (d->password) {
        pl_card_wipe(d->password, strlen(d->password));
        free(d->password);
    }
    free(d);
}

void pl_sim_dm_reset(pl_sim_dm *d)
{
    atomic_store(&d->fail, PL_SIM_DM_FAIL_NONE);
}

const char *pl_sim_dm_fail_name(pl_sim_dm_fail mode)
{
    if ((unsigned)mode >= sizeof fail_names / sizeof fail_names[0])
        return "unknown";
    return fail_names[mode];
}

int pl_sim_dm_set_fail(pl_sim_dm *d, const char *mode)
{
    for (size_t i = 0; mode && i < sizeof fail_names / sizeof fail_names[0]; i++) {
        if (strcmp(mode, fail_names[i]) == 0) {
            atomic_store(&d->fail, (int)i);
            return PL_OK;
        }
    }
    return PL_ERR_INVALID;
}

pl_sim_dm_fail pl_sim_dm_get_fail(pl_sim_dm *d)
{
    return (pl_sim_dm_fail)atomic_load(&d->fail);
}

bool pl_sim_dm_path_match(const char *path)
{
    return strcmp(path, PL_SIM_DM_PATH) == 0 || strcmp(path, PL_SIM_DM_PROD_PATH) == 0;
}

/* ---- reading the form ------------------------------------------------------------------- */

/* The n digits at s as a number; -1 when one is not a digit. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/*
 * date "YYYY-MM-DD" and time "HH:MM:SS", GMT, as Unix seconds. False when either is not
 * exactly that shape or names no real moment (2014-02-30, 24:00:00); *bad_date tells which.
 */
static bool parse_moment(const char *date, const char *clock, time_t *out, bool *bad_date)
{
    *bad_date = true;
    if (strlen(date) != 10 || date[4] != '-' || date[7] != '-')
        return false;
    int y = digits(date, 4), mo = digits(date + 5, 2), d = digits(date + 8, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    time_t day = timegm(&tm);
    struct tm check;
    /* timegm normalises 2014-02-30 to March 2nd: a date that moves did not exist. */
    if (day == (time_t)-1 || !gmtime_r(&day, &check) || check.tm_mday != d ||
        check.tm_mon != mo - 1)
        return false;
    *bad_date = false;
    if (strlen(clock) != 8 || clock[2] != ':' || clock[5] != ':')
        return false;
    int h = digits(clock, 2), mi = digits(clock + 3, 2), s = digits(clock + 6, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
        return false;
    *out = day + (time_t)h * 3600 + (time_t)mi * 60 + s;
    return true;
}

/* "YYYY-MM-DD HH:MM:SS" of t (UTC); out holds at least 20 bytes. */
static void format_moment(time_t t, char *out, size_t outsize)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, outsize, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, outsize, "1970-01-01 00:00:00");
}

/* ---- the request ------------------------------------------------------------------------ */

typedef struct report_req {
    char merchant_id[FIELD_MAX];
    char username[FIELD_MAX];
    char password[FIELD_MAX]; /* wiped when the request is done */
    char start_date[16], start_time[16], end_date[16], end_time[16];
    time_t start, end;
    bool production;
} report_req;

bool pl_sim_dm_password_ok(const char *configured, const char *password)
{
    if (!password[0])
        return false;
    if (configured && configured[0])
        return strcmp(password, configured) == 0;
    return strcmp(password, PL_SIM_DM_BAD_PASSWORD) != 0;
}

/*
 * Reads and checks the form into q. Returns 0 when the report can be made, 1 with *refusal
 * the plain text answer (a static string or msg), or NOMEM.
 */
static int read_request(const pl_sim_dm *d, const pl_sim_http_req *req, report_req *q,
                        const char **refusal, char *msg, size_t msgsize)
{
    if (!pl_sim_is_form(req->content_type)) {
        *refusal = "Invalid request: the body must be application/x-www-form-urlencoded.";
        return 1;
    }
    struct {
        const char *name;
        char *buf;
        size_t size;
    } fields[] = {
        {"merchantID", q->merchant_id, sizeof q->merchant_id},
        {"username", q->username, sizeof q->username},
        {"password", q->password, sizeof q->password},
        {"startDate", q->start_date, sizeof q->start_date},
        {"startTime", q->start_time, sizeof q->start_time},
        {"endDate", q->end_date, sizeof q->end_date},
        {"endTime", q->end_time, sizeof q->end_time},
    };
    /* A value that does not decode or fit reads as empty: the checks below then refuse it. */
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (pl_sim_form_value(req->body, req->body_len, fields[i].name, fields[i].buf,
                              fields[i].size) == PL_ERR_NOMEM)
            return PL_ERR_NOMEM;
    /* The service checks who asks before what is asked. */
    if (!q->username[0] || !pl_sim_dm_password_ok(d->password, q->password)) {
        *refusal = PL_SIM_DM_E_LOGIN;
        return 1;
    }
    /* The merchantID goes into the report: text libxml2 can write, or no merchant at all. */
    if (!q->merchant_id[0] || !xmlCheckUTF8(BAD_CAST q->merchant_id)) {
        *refusal = PL_SIM_DM_E_MERCHANT;
        return 1;
    }
    bool bad_date;
    if (!parse_moment(q->start_date, q->start_time, &q->start, &bad_date)) {
        snprintf(msg, msgsize, "Invalid %s: expected %s.", bad_date ? "startDate" : "startTime",
                 bad_date ? "YYYY-MM-DD" : "HH:MM:SS");
        *refusal = msg;
        return 1;
    }
    if (!parse_moment(q->end_date, q->end_time, &q->end, &bad_date)) {
        snprintf(msg, msgsize, "Invalid %s: expected %s.", bad_date ? "endDate" : "endTime",
                 bad_date ? "YYYY-MM-DD" : "HH:MM:SS");
        *refusal = msg;
        return 1;
    }
    if (q->end < q->start) {
        *refusal = "Invalid report window: the end is before the start.";
        return 1;
    }
    q->production = strcmp(req->path, PL_SIM_DM_PROD_PATH) == 0;
    return 0;
}

/* ---- the report ------------------------------------------------------------------------- */

static void render_conversion(pl_sim_xml_builder *b, xmlNodePtr report, const pl_sim_review *r)
{
    char when[32];
    format_moment(r->answered, when, sizeof when);
    const char *decision = pl_sim_dm_new_decision(r->amount);
    bool accept = strcmp(decision, "ACCEPT") == 0;

    xmlNodePtr c = pl_sim_xml_add_text(b, report, "Conversion", NULL);
    pl_sim_xml_set_attr(b, c, "MerchantReferenceNumber", r->merchant_reference);
    pl_sim_xml_set_attr(b, c, "ConversionDate", when);
    pl_sim_xml_set_attr(b, c, "RequestID", r->request_id);
    pl_sim_xml_add_text(b, c, "OriginalDecision", "REVIEW");
    pl_sim_xml_add_text(b, c, "NewDecision", decision);
    /* The reviewer is the merchant's own Business Center user, named as the merchant (the
     * seed's "mr" is merchant, user and reviewer), so every report shows the same row. */
    pl_sim_xml_add_text(b, c, "Reviewer", r->merchant_id);
    pl_sim_xml_add_text(b, c, "ReviewerComments", accept ? COMMENT_ACCEPT : COMMENT_REJECT);
    xmlNodePtr notes = pl_sim_xml_add_text(b, c, "Notes", NULL);
    xmlNodePtr note = pl_sim_xml_add_text(b, notes, "Note", NULL);
    pl_sim_xml_set_attr(b, note, "Date", when);
    pl_sim_xml_set_attr(b, note, "AddedBy", r->merchant_id);
    pl_sim_xml_set_attr(b, note, "Comment", NOTE_COMMENT);
    pl_sim_xml_add_text(b, c, "Queue", REVIEW_QUEUE);
    pl_sim_xml_add_text(b, c, "Profile", REVIEW_PROFILE);
}

/*
 * The report document of q over the REVIEWs rv[0, n) (those of q's merchant inside the window
 * are listed). *listed receives how many. Returns 0 with resp filled, or NOMEM.
 */
static int render_report(const report_req *q, const pl_sim_review *rv, size_t n, size_t *listed,
                         pl_sim_response *resp)
{
    const char *base = q->production ? PROD_BASE : TEST_BASE;
    char dtd[128], xsl_pi[192], start[40], end[40];
    snprintf(dtd, sizeof dtd, "%s/reports/dtd/cdr.dtd", base);
    snprintf(xsl_pi, sizeof xsl_pi,
             "type=\"text/xsl\" href=\"%s/reports/xsl/ConversionDetailReport.xsl\"", base);
    snprintf(start, sizeof start, "%s %sGMT", q->start_date, q->start_time);
    snprintf(end, sizeof end, "%s %sGMT", q->end_date, q->end_time);
    *listed = 0;

    /* The seed's document: the stylesheet PI between the DOCTYPE and the root. */
    const pl_sim_xml_attr attrs[] = {
        {"MerchantID", q->merchant_id},
        {"Name", "Conversion Detail Report"},
        {"ReportStartDate", start},
        {"ReportEndDate", end},
        {"Version", "1.1"},
    };
    pl_sim_xml_builder b;
    xmlDocPtr doc = pl_sim_xml_report_new(dtd, xsl_pi, attrs, sizeof attrs / sizeof attrs[0], &b);
    if (!doc)
        return PL_ERR_NOMEM;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (size_t i = 0; i < n; i++) {
        const pl_sim_review *r = &rv[i];
        if (strcmp(r->merchant_id, q->merchant_id) != 0 || r->answered < q->start ||
            r->answered > q->end)
            continue;
        render_conversion(&b, root, r);
        (*listed)++;
    }
    return pl_sim_xml_report_answer(doc, &b, true, resp);
}

/* ---- the handler ------------------------------------------------------------------------ */

/*
 * The "garbage" answer: a report cut off in its root's start tag. It is deliberately not the
 * 903 text of the other bureaus: a short body that is not XML is how this service says
 * "Invalid login credentials.", so a client rightly reads such text as the service's refusal.
 * A broken document is what only a failed transfer or a broken service sends.
 */
static const char garbage[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<!DOCTYPE Report SYSTEM \"" TEST_BASE "/reports/dtd/cdr.dtd\">\n"
                              "<Report xmlns=\"" TEST_BASE "/reports/dtd/cdr.dtd\" MerchantID=\"";

static int fail_answer(pl_sim_dm_fail mode, pl_sim_response *resp)
{
    if (mode == PL_SIM_DM_FAIL_GARBAGE)
        return pl_sim_response_set(resp, 200, "application/xml", garbage, sizeof garbage - 1);
    pl_sim_scenario sc = PL_SIM_SC_HTTP_500;
    if (mode == PL_SIM_DM_FAIL_DROP)
        sc = PL_SIM_SC_DROP;
    else if (mode == PL_SIM_DM_FAIL_HOLD)
        sc = PL_SIM_SC_TIMEOUT;
    return pl_sim_scenario_fault_answer(sc, resp);
}

int pl_sim_dm_handle(pl_sim_ledger *l, const pl_sim_http_req *req, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    pl_sim_dm *d = req->state;
    if (!d)
        return PL_ERR_INVALID;
    pl_sim_dm_fail mode = pl_sim_dm_get_fail(d);
    if (mode != PL_SIM_DM_FAIL_NONE) {
        pl_sim_log(PL_LOG_INFO, NULL, "DM report: fail mode %s", pl_sim_dm_fail_name(mode));
        return fail_answer(mode, resp);
    }

    report_req *q = calloc(1, sizeof *q);
    pl_sim_review *rv = NULL;
    size_t n = 0, listed = 0;
    const char *refusal = NULL;
    char msg[128];
    int rc = q ? read_request(d, req, q, &refusal, msg, sizeof msg) : PL_ERR_NOMEM;
    if (rc < 0)
        goto out;
    if (rc == 1) {
        pl_sim_log(PL_LOG_INFO, NULL, "DM report refused (user %s, merchant %s): %s",
                   q->username[0] ? q->username : "-", q->merchant_id[0] ? q->merchant_id : "-",
                   refusal);
        rc = pl_sim_response_text(resp, 200, refusal);
        goto out;
    }
    rc = pl_sim_ledger_cyb_reviews(l, &rv, &n);
    if (rc < 0)
        goto out;
    rc = render_report(q, rv, n, &listed, resp);
    if (rc == PL_OK)
        pl_sim_log(PL_LOG_INFO, NULL,
                   "DM report merchant=%s user=%s window=%s %s..%s %s GMT conversions=%zu",
                   q->merchant_id, q->username, q->start_date, q->start_time, q->end_date,
                   q->end_time, listed);
out:
    if (q)
        pl_card_wipe(q->password, sizeof q->password);
    free(q);
    free(rv);
    return rc;
}

/* ---- control ---------------------------------------------------------------------------- */

static int add_member(json_object *obj, const char *key, json_object *val)
{
    if (!val || json_object_object_add(obj, key, val) != 0) {
        json_object_put(val);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

/* Serialises root into resp (200 JSON) and puts it. */
static int json_answer(json_object *root, pl_sim_response *resp)
{
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = text ? pl_sim_response_set(resp, 200, "application/json", text, strlen(text))
                  : PL_ERR_NOMEM;
    json_object_put(root);
    return rc;
}

static int mode_answer(pl_sim_dm *d, pl_sim_response *resp)
{
    json_object *root = json_object_new_object();
    if (!root ||
        add_member(root, "mode",
                   json_object_new_string(pl_sim_dm_fail_name(pl_sim_dm_get_fail(d)))) < 0) {
        json_object_put(root);
        return PL_ERR_NOMEM;
    }
    return json_answer(root, resp);
}

static int review_json(const pl_sim_review *r, json_object **out)
{
    char amount[32], when[32];
    if (pl_money_format(r->amount, amount, sizeof amount) < 0)
        snprintf(amount, sizeof amount, "0.00");
    format_moment(r->answered, when, sizeof when);
    json_object *o = json_object_new_object();
    int rc = o ? PL_OK : PL_ERR_NOMEM;
    if (rc == PL_OK)
        rc = add_member(o, "merchant_reference", json_object_new_string(r->merchant_reference));
    if (rc == PL_OK)
        rc = add_member(o, "request_id", json_object_new_string(r->request_id));
    if (rc == PL_OK)
        rc = add_member(o, "merchant_id", json_object_new_string(r->merchant_id));
    if (rc == PL_OK)
        rc = add_member(o, "amount", json_object_new_string(amount));
    if (rc == PL_OK)
        rc = add_member(o, "new_decision",
                        json_object_new_string(pl_sim_dm_new_decision(r->amount)));
    if (rc == PL_OK)
        rc = add_member(o, "conversion_date", json_object_new_string(when));
    if (rc < 0) {
        json_object_put(o);
        return rc;
    }
    *out = o;
    return PL_OK;
}

static int reviews_answer(pl_sim_ledger *l, pl_sim_response *resp)
{
    pl_sim_review *rv = NULL;
    size_t n = 0;
    int rc = pl_sim_ledger_cyb_reviews(l, &rv, &n);
    if (rc < 0)
        return rc;
    json_object *arr = json_object_new_array();
    rc = arr ? PL_OK : PL_ERR_NOMEM;
    for (size_t i = 0; rc == PL_OK && i < n; i++) {
        json_object *o = NULL;
        rc = review_json(&rv[i], &o);
        if (rc == PL_OK && json_object_array_add(arr, o) != 0) {
            json_object_put(o);
            rc = PL_ERR_NOMEM;
        }
    }
    free(rv);
    if (rc < 0) {
        json_object_put(arr);
        return rc;
    }
    return json_answer(arr, resp);
}

int pl_sim_dm_control(pl_sim_dm *d, pl_sim_ledger *l, const char *method, const char *path,
                      const char *mode, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strncmp(path, PL_SIM_DM_CONTROL_PREFIX, strlen(PL_SIM_DM_CONTROL_PREFIX)) != 0)
        return pl_sim_response_text(resp, 404, "not found\n");
    const char *what = path + strlen(PL_SIM_DM_CONTROL_PREFIX);
    if (strcmp(what, "fail") == 0) {
        if (get)
            return mode_answer(d, resp);
        if (!post)
            return pl_sim_response_text(resp, 405, "method not allowed\n");
        if (pl_sim_dm_set_fail(d, mode) < 0)
            return pl_sim_response_text(resp, 400,
                                        "bad mode (none, 500, garbage, drop, hold, with POST)\n");
        pl_sim_log(PL_LOG_INFO, NULL, "DM report fail mode: %s", mode);
        return mode_answer(d, resp);
    }
    if (strcmp(what, "reviews") == 0) {
        if (!get)
            return pl_sim_response_text(resp, 405, "method not allowed\n");
        return reviews_answer(l, resp);
    }
    return pl_sim_response_text(resp, 404, "not found\n");
}

const pl_sim_proto pl_sim_dm_proto = {
    .protocol = "CYB",
    .method = "POST",
    .path = PL_SIM_DM_PATH,
    .match_path = pl_sim_dm_path_match,
    .handle = pl_sim_dm_handle,
};
