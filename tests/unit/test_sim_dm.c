/*
 * test_sim_dm.c: the simulated Decision Manager Conversion Detail Report (tools/sim/sim_dm.h).
 * REVIEWs come from the CyberSource handler itself (480.xx authorizations with Decision Manager
 * on, built with libxml2 as test_sim_cyb.c builds them) or, where a test needs fixed times,
 * from pl_sim_ledger_cyb_review. Report requests are form bodies encoded by libcurl (or the
 * seed's literal query); reports are parsed back with libxml2 and read with XPath, and one is
 * compared whole with the seed's sample. The last test goes through the HTTPS server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "log.h"
#include "sim_cyb.h"
#include "sim_dm.h"
#include "sim_ledger.h"
#include "sim_soap.h"
#include "sim_bureau_test.h"
#include "sim_test_helpers.h"
#include "xml_test_helpers.h"

#define FORM "application/x-www-form-urlencoded"
#define NS_121 "urn:schemas-cybersource-com:transaction-data-1.121"
#define CDR_TEST "https://ebctest.cybersource.com/ebctest/reports/dtd/cdr.dtd"
#define CDR_PROD "https://ebc.cybersource.com/ebc/reports/dtd/cdr.dtd"
#define PAN "4111111111111111"

/* The seed's two sample conversions: 2014-06-24 17:03:03 and 17:22:33 GMT. */
#define T_1703 ((time_t)1403629383)
#define T_1722 ((time_t)1403630553)
#define SEED_ID_1 "4036289939370176056470"
#define SEED_ID_2 "4036303746210176056470"

/* The seed's trace, with the merchantID the log line lost ("merchantID=username=mr&…"). */
static const char seed_query[] =
    "merchantID=mr&username=mr&password=Serenade20141&startDate=2014-06-24&startTime=00%3A00%3A00"
    "&endDate=2014-06-24&endTime=17%3A24%3A04";

/* The seed's sample report, as the simulator writes it (libxml2's layout). */
static const char seed_report[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE Report SYSTEM \"https://ebctest.cybersource.com/ebctest/reports/dtd/cdr.dtd\">\n"
    "<?xml-stylesheet type=\"text/xsl\" "
    "href=\"https://ebctest.cybersource.com/ebctest/reports/xsl/ConversionDetailReport.xsl\"?>\n"
    "<Report xmlns=\"https://ebctest.cybersource.com/ebctest/reports/dtd/cdr.dtd\" "
    "MerchantID=\"mr\" Name=\"Conversion Detail Report\" "
    "ReportStartDate=\"2014-06-24 00:00:00GMT\" ReportEndDate=\"2014-06-24 17:24:04GMT\" "
    "Version=\"1.1\">\n"
    "  <Conversion MerchantReferenceNumber=\"0070000491701000\" "
    "ConversionDate=\"2014-06-24 17:03:03\" RequestID=\"4036289939370176056470\">\n"
    "    <OriginalDecision>REVIEW</OriginalDecision>\n"
    "    <NewDecision>ACCEPT</NewDecision>\n"
    "    <Reviewer>mr</Reviewer>\n"
    "    <ReviewerComments>Approved by SIM | Issuer verified name and address."
    "</ReviewerComments>\n"
    "    <Notes>\n"
    "      <Note Date=\"2014-06-24 17:03:03\" AddedBy=\"mr\" Comment=\"Took ownership.\"/>\n"
    "    </Notes>\n"
    "    <Queue>Example</Queue>\n"
    "    <Profile>Example</Profile>\n"
    "  </Conversion>\n"
    "  <Conversion MerchantReferenceNumber=\"0070000491801000\" "
    "ConversionDate=\"2014-06-24 17:22:33\" RequestID=\"4036303746210176056470\">\n"
    "    <OriginalDecision>REVIEW</OriginalDecision>\n"
    "    <NewDecision>REJECT</NewDecision>\n"
    "    <Reviewer>mr</Reviewer>\n"
    "    <ReviewerComments>Rejected by SIM | Fraud.</ReviewerComments>\n"
    "    <Notes>\n"
    "      <Note Date=\"2014-06-24 17:22:33\" AddedBy=\"mr\" Comment=\"Took ownership.\"/>\n"
    "    </Notes>\n"
    "    <Queue>Example</Queue>\n"
    "    <Profile>Example</Profile>\n"
    "  </Conversion>\n"
    "</Report>\n";

/* ---- fixture -------------------------------------------------------------------------------- */

typedef struct fx {
    pl_sim_ledger *l;
    pl_sim_dm *d;
} fx;

static int fx_setup_password(void **state, const char *password)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->l = pl_sim_ledger_new();
    pl_sim_dm_cfg cfg = {.password = password};
    f->d = pl_sim_dm_new(&cfg);
    assert_non_null(f->l);
    assert_non_null(f->d);
    *state = f;
    return 0;
}

static int fx_setup(void **state)
{
    return fx_setup_password(state, NULL);
}

/* The report user's password configured, as --dm-password-file does. */
static int fx_setup_configured(void **state)
{
    return fx_setup_password(state, "p&ss +word");
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    pl_sim_dm_destroy(f->d);
    pl_sim_ledger_destroy(f->l);
    free(f);
    return 0;
}

#define FX_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

static int group_setup(void **state)
{
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return xml_test_group_setup(state);
}

static int group_teardown(void **state)
{
    curl_global_cleanup();
    return xml_test_group_teardown(state);
}

/* ---- requests ------------------------------------------------------------------------------- */

/* A report request's parameters; NULL leaves one out. */
typedef struct params {
    const char *merchant_id, *username, *password;
    const char *start_date, *start_time, *end_date, *end_time;
} params;

/* The seed's request (merchant, user and password of its trace). */
static params seed_params(void)
{
    params p = {"mr", "mr", "Serenade20141", "2014-06-24", "00:00:00", "2014-06-24", "17:24:04"};
    return p;
}

/* The parameters as a form body, each value encoded by libcurl: malloc'd. */
static char *form(const params *p)
{
    const char *names[] = {"merchantID", "username", "password", "startDate",
                           "startTime",  "endDate",  "endTime"};
    const char *values[] = {p->merchant_id, p->username, p->password, p->start_date,
                            p->start_time,  p->end_date, p->end_time};
    char *out = calloc(1, 4096);
    assert_non_null(out);
    size_t len = 0;
    for (size_t i = 0; i < 7; i++) {
        if (!values[i])
            continue;
        char *enc = curl_easy_escape(NULL, values[i], 0);
        assert_non_null(enc);
        int n = snprintf(out + len, 4096 - len, "%s%s=%s", len ? "&" : "", names[i], enc);
        curl_free(enc);
        assert_true(n > 0 && (size_t)n < 4096 - len);
        len += (size_t)n;
    }
    return out;
}

static void send_body(fx *f, const char *path, const char *content_type, const char *body,
                      pl_sim_response *resp)
{
    pl_sim_http_req req = {.method = "POST",
                           .path = path,
                           .body = body,
                           .body_len = strlen(body),
                           .content_type = content_type,
                           .state = f->d};
    assert_int_equal(pl_sim_dm_handle(f->l, &req, resp), 0);
}

static void send_params(fx *f, const params *p, pl_sim_response *resp)
{
    char *body = form(p);
    send_body(f, PL_SIM_DM_PATH, FORM, body, resp);
    free(body);
}

/* The answer is the plain text refusal text (HTTP 200, as the real service's). */
static void assert_refusal(const pl_sim_response *resp, const char *text)
{
    assert_int_equal(resp->action, PL_SIM_ANSWER);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->content_type, "text/plain; charset=utf-8");
    assert_non_null(resp->body);
    assert_string_equal(resp->body, text);
}

static void assert_refused(fx *f, const params *p, const char *text)
{
    pl_sim_response resp;
    send_params(f, p, &resp);
    assert_refusal(&resp, text);
    pl_sim_response_free(&resp);
}

/* ---- reading reports ------------------------------------------------------------------------ */

typedef struct report {
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
} report;

/* Parses a report (HTTP 200, application/xml) as a client would: no network, no DTD loaded. */
static report parse_report(const pl_sim_response *resp, const char *ns)
{
    assert_int_equal(resp->action, PL_SIM_ANSWER);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->content_type, "application/xml");
    report r;
    r.doc = xmlReadMemory(resp->body, (int)resp->body_len, "report.xml", NULL, XML_PARSE_NONET);
    assert_non_null(r.doc);
    r.xp = xmlXPathNewContext(r.doc);
    assert_non_null(r.xp);
    xmlXPathRegisterNs(r.xp, BAD_CAST "r", BAD_CAST ns);
    return r;
}

static void free_report(report *r)
{
    xmlXPathFreeContext(r->xp);
    xmlFreeDoc(r->doc);
}

static const char *xstr(report *r, const char *expr)
{
    return xml_test_xstr(r->xp, expr);
}

static int count(report *r, const char *expr)
{
    return xml_test_count(r->xp, expr);
}

/* The document's prolog is the seed's: the DOCTYPE, then the stylesheet PI, then Report. */
static void assert_prolog(report *r, const char *base)
{
    char dtd[128], pi[192];
    snprintf(dtd, sizeof dtd, "%s/reports/dtd/cdr.dtd", base);
    snprintf(pi, sizeof pi, "type=\"text/xsl\" href=\"%s/reports/xsl/ConversionDetailReport.xsl\"",
             base);
    xmlNodePtr n = r->doc->children;
    assert_non_null(n);
    assert_int_equal(n->type, XML_DTD_NODE);
    assert_string_equal((const char *)n->name, "Report");
    assert_null(((xmlDtdPtr)n)->ExternalID);
    assert_string_equal((const char *)((xmlDtdPtr)n)->SystemID, dtd);
    n = n->next;
    assert_non_null(n);
    assert_int_equal(n->type, XML_PI_NODE);
    assert_string_equal((const char *)n->name, "xml-stylesheet");
    assert_string_equal((const char *)n->content, pi);
    n = n->next;
    assert_non_null(n);
    assert_true(n == xmlDocGetRootElement(r->doc));
    assert_string_equal((const char *)n->name, "Report");
    assert_non_null(n->ns);
    assert_null(n->ns->prefix);
    assert_string_equal((const char *)n->ns->href, dtd);
    assert_null(n->next);
    /* The root's attributes in the seed's order. */
    static const char *const attrs[] = {"MerchantID", "Name", "ReportStartDate", "ReportEndDate",
                                        "Version"};
    xmlAttrPtr a = n->properties;
    for (size_t i = 0; i < 5; i++, a = a->next) {
        assert_non_null(a);
        assert_string_equal((const char *)a->name, attrs[i]);
    }
    assert_null(a);
}

/* Conversion i (1-based) has the seed's attribute and element order, all in the namespace. */
static void assert_conversion_shape(report *r, int i)
{
    char expr[96];
    snprintf(expr, sizeof expr, "/r:Report/r:Conversion[%d]", i);
    xmlXPathObjectPtr o = xml_test_eval(r->xp, expr);
    assert_non_null(o->nodesetval);
    assert_int_equal(o->nodesetval->nodeNr, 1);
    xmlNodePtr c = o->nodesetval->nodeTab[0];
    xmlXPathFreeObject(o);
    static const char *const attrs[] = {"MerchantReferenceNumber", "ConversionDate", "RequestID"};
    xmlAttrPtr a = c->properties;
    for (size_t k = 0; k < 3; k++, a = a->next) {
        assert_non_null(a);
        assert_string_equal((const char *)a->name, attrs[k]);
    }
    assert_null(a);
    static const char *const children[] = {"OriginalDecision", "NewDecision", "Reviewer",
                                           "ReviewerComments", "Notes",       "Queue",
                                           "Profile"};
    xmlNodePtr e = pl_sim_xml_first_element(c);
    for (size_t k = 0; k < 7; k++) {
        assert_non_null(e);
        assert_string_equal((const char *)e->name, children[k]);
        assert_string_equal((const char *)e->ns->href, (const char *)c->ns->href);
        do
            e = e->next;
        while (e && e->type != XML_ELEMENT_NODE);
    }
    assert_null(e);
}

/* ---- CyberSource authorizations ------------------------------------------------------------- */

static void text_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    assert_non_null(xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text));
}

/* An authorization of amount for merchant (Username = merchantID), with Decision Manager on or
 * off, through the CyberSource handler. Returns its decision; request_id receives its ID. */
static const char *cyb_auth(pl_sim_ledger *l, const char *merchant, const char *ref,
                            const char *amount, bool dm, char request_id[48])
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL);
    xmlDocSetRootElement(doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST PL_SOAP_ENV_NS, BAD_CAST "soap");
    xmlSetNs(env, soap);
    xmlNodePtr hdr = xmlNewChild(env, soap, BAD_CAST "Header", NULL);
    xmlNodePtr sec = xmlNewChild(hdr, NULL, BAD_CAST "Security", NULL);
    xmlNsPtr wsse = xmlNewNs(sec, BAD_CAST PL_WSSE_NS, BAD_CAST "wsse");
    xmlSetNs(sec, wsse);
    xmlNodePtr tok = xmlNewChild(sec, wsse, BAD_CAST "UsernameToken", NULL);
    text_child(tok, wsse, "Username", merchant);
    text_child(tok, wsse, "Password", "key");
    xmlNodePtr body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
    xmlNodePtr msg = xmlNewChild(body, NULL, BAD_CAST "requestMessage", NULL);
    xmlNsPtr ns = xmlNewNs(msg, BAD_CAST NS_121, NULL);
    xmlSetNs(msg, ns);
    text_child(msg, ns, "merchantID", merchant);
    text_child(msg, ns, "merchantReferenceCode", ref);
    xmlNodePtr totals = xmlNewChild(msg, ns, BAD_CAST "purchaseTotals", NULL);
    text_child(totals, ns, "currency", "USD");
    text_child(totals, ns, "grandTotalAmount", amount);
    xmlNodePtr card = xmlNewChild(msg, ns, BAD_CAST "card", NULL);
    text_child(card, ns, "accountNumber", PAN);
    text_child(card, ns, "expirationMonth", "12");
    text_child(card, ns, "expirationYear", "2035");
    if (dm) {
        xmlNodePtr d = xmlNewChild(msg, ns, BAD_CAST "decisionManager", NULL);
        text_child(d, ns, "enabled", "true");
    }
    xmlNodePtr svc = xmlNewChild(msg, ns, BAD_CAST "ccAuthService", NULL);
    xmlNewProp(svc, BAD_CAST "run", BAD_CAST "true");
    size_t len;
    char *text = xml_test_dump(doc, &len);
    xmlFreeDoc(doc);

    pl_sim_http_req req = {
        .method = "POST", .path = PL_SIM_CYB_PATH, .body = text, .body_len = len};
    pl_sim_response resp;
    assert_int_equal(pl_sim_cyb_handle(l, &req, &resp), 0);
    free(text);
    assert_int_equal(resp.status, 200);
    xmlDocPtr reply =
        xmlReadMemory(resp.body, (int)resp.body_len, "reply.xml", NULL, XML_PARSE_NONET);
    assert_non_null(reply);
    xmlXPathContextPtr xp = xmlXPathNewContext(reply);
    xmlXPathRegisterNs(xp, BAD_CAST "c", BAD_CAST NS_121);
    int n =
        snprintf(request_id, 48, "%s", xml_test_xstr(xp, "string(//c:replyMessage/c:requestID)"));
    assert_true(n > 0 && n < 48);
    static _Thread_local char decision[16];
    n = snprintf(decision, sizeof decision, "%s", xml_test_xstr(xp, "string(//c:decision)"));
    assert_true(n > 0 && (size_t)n < sizeof decision);
    xmlXPathFreeContext(xp);
    xmlFreeDoc(reply);
    pl_sim_response_free(&resp);
    return decision;
}

/* "YYYY-MM-DD" and "HH:MM:SS" of t (UTC). */
static void date_time(time_t t, char date[16], char clock[16])
{
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    strftime(date, 16, "%Y-%m-%d", &tm);
    strftime(clock, 16, "%H:%M:%S", &tm);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_route(void **state)
{
    (void)state;
    assert_true(pl_sim_dm_path_match("/ebctest/ConversionDetailReportRequest.do"));
    assert_true(pl_sim_dm_path_match("/ebc/ConversionDetailReportRequest.do"));
    assert_false(pl_sim_dm_path_match("/ebctest/ConversionDetailReportRequest"));
    assert_false(pl_sim_dm_path_match("/ebctest/ConversionDetailReportRequest.do/"));
    assert_false(pl_sim_dm_path_match("/ConversionDetailReportRequest.do"));
    assert_false(pl_sim_dm_path_match("/commerce/1.x/transactionProcessor"));
    assert_string_equal(pl_sim_dm_proto.method, "POST");
    assert_true(pl_sim_dm_proto.match_path == pl_sim_dm_path_match);
}

/* 480.00 and 480.01 with Decision Manager on: a report covering now lists both, the even
 * cents ACCEPT and the odd REJECT, under the requestIDs the CyberSource endpoint answered. */
static void test_reviews_from_cybersource(void **state)
{
    fx *f = *state;
    char id_even[48], id_odd[48], id[48];
    time_t before = time(NULL);
    assert_string_equal(cyb_auth(f->l, "mr", "0070000491701000", "480.00", true, id_even),
                        "REVIEW");
    assert_string_equal(cyb_auth(f->l, "mr", "0070000491801000", "480.01", true, id_odd), "REVIEW");
    /* Not REVIEWs: 480 without Decision Manager, 481, a plain approval; another merchant's. */
    assert_string_equal(cyb_auth(f->l, "mr", "plain-480", "480.02", false, id), "ACCEPT");
    assert_string_equal(cyb_auth(f->l, "mr", "dm-481", "481.00", true, id), "REJECT");
    assert_string_equal(cyb_auth(f->l, "mr", "dm-120", "120.00", true, id), "ACCEPT");
    char id_other[48];
    assert_string_equal(cyb_auth(f->l, "other", "other-480", "480.00", true, id_other), "REVIEW");
    time_t after = time(NULL);

    pl_sim_review *rv = NULL;
    size_t n = 0;
    assert_int_equal(pl_sim_ledger_cyb_reviews(f->l, &rv, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(rv[0].merchant_reference, "0070000491701000");
    assert_string_equal(rv[0].request_id, id_even);
    assert_string_equal(rv[0].merchant_id, "mr");
    assert_int_equal(rv[0].amount, 48000);
    assert_true(rv[0].answered >= before && rv[0].answered <= after);
    assert_string_equal(rv[2].merchant_id, "other");
    free(rv);

    char d0[16], t0[16], d1[16], t1[16];
    date_time(before, d0, t0);
    date_time(after, d1, t1);
    params p = {"mr", "mr", "secret", d0, t0, d1, t1};
    pl_sim_response resp;
    send_params(f, &p, &resp);
    report r = parse_report(&resp, CDR_TEST);
    assert_prolog(&r, "https://ebctest.cybersource.com/ebctest");
    assert_int_equal(count(&r, "/r:Report/r:Conversion"), 2);
    assert_conversion_shape(&r, 1);
    assert_conversion_shape(&r, 2);
    assert_string_equal(xstr(&r, "string(/r:Report/@MerchantID)"), "mr");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[1]/@MerchantReferenceNumber)"),
                        "0070000491701000");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[1]/@RequestID)"), id_even);
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[1]/r:OriginalDecision)"), "REVIEW");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[1]/r:NewDecision)"), "ACCEPT");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[2]/@MerchantReferenceNumber)"),
                        "0070000491801000");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[2]/@RequestID)"), id_odd);
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[2]/r:NewDecision)"), "REJECT");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[2]/r:ReviewerComments)"),
                        "Rejected by SIM | Fraud.");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion[1]/r:Notes/r:Note/@Comment)"),
                        "Took ownership.");
    assert_true(sim_test_matches(xstr(&r, "string(/r:Report/r:Conversion[1]/@ConversionDate)"),
                                 "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"));
    free_report(&r);
    pl_sim_response_free(&resp);

    /* The other merchant's report has its own REVIEW only. */
    p.merchant_id = "other";
    send_params(f, &p, &resp);
    r = parse_report(&resp, CDR_TEST);
    assert_int_equal(count(&r, "/r:Report/r:Conversion"), 1);
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion/@RequestID)"), id_other);
    free_report(&r);
    pl_sim_response_free(&resp);
}

/* The seed's request over the seed's two REVIEWs gives the seed's sample report. */
static void test_seed_report(void **state)
{
    fx *f = *state;
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491701000", SEED_ID_1, "mr", 48000, T_1703), 0);
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491801000", SEED_ID_2, "mr", 48001, T_1722), 0);
    pl_sim_response resp;
    send_body(f, PL_SIM_DM_PATH, FORM, seed_query, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/xml");
    assert_int_equal(resp.body_len, strlen(seed_report));
    assert_memory_equal(resp.body, seed_report, resp.body_len);
    pl_sim_response_free(&resp);

    /* Read-only: the same request gives the same report again. */
    send_body(f, PL_SIM_DM_PATH, FORM, seed_query, &resp);
    assert_memory_equal(resp.body, seed_report, strlen(seed_report));
    pl_sim_response_free(&resp);

    /* The production path: ebc's URLs, same rows. */
    send_body(f, PL_SIM_DM_PROD_PATH, FORM, seed_query, &resp);
    report r = parse_report(&resp, CDR_PROD);
    assert_prolog(&r, "https://ebc.cybersource.com/ebc");
    assert_int_equal(count(&r, "/r:Report/r:Conversion"), 2);
    free_report(&r);
    assert_null(strstr(resp.body, "ebctest"));
    pl_sim_response_free(&resp);
}

static int conversions(fx *f, const params *p)
{
    pl_sim_response resp;
    send_params(f, p, &resp);
    report r = parse_report(&resp, CDR_TEST);
    int n = count(&r, "/r:Report/r:Conversion");
    free_report(&r);
    pl_sim_response_free(&resp);
    return n;
}

/* [start, end], both inclusive to the second; a window that covers nothing: an empty Report. */
static void test_window(void **state)
{
    fx *f = *state;
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491701000", SEED_ID_1, "mr", 48000, T_1703), 0);
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491801000", SEED_ID_2, "mr", 48001, T_1722), 0);
    params p = seed_params();
    assert_int_equal(conversions(f, &p), 2);

    p.start_time = "17:03:03";
    p.end_time = "17:22:33";
    assert_int_equal(conversions(f, &p), 2);
    p.start_time = "17:03:04";
    assert_int_equal(conversions(f, &p), 1);
    p.start_time = "17:03:03";
    p.end_time = "17:22:32";
    assert_int_equal(conversions(f, &p), 1);
    /* One second wide. */
    p.start_time = p.end_time = "17:22:33";
    assert_int_equal(conversions(f, &p), 1);
    /* Across midnight, days before, the day after. */
    p = seed_params();
    p.start_date = "2014-06-23";
    p.start_time = "17:30:00";
    p.end_time = "17:03:03";
    assert_int_equal(conversions(f, &p), 1);

    p = seed_params();
    p.start_date = p.end_date = "2014-06-25";
    pl_sim_response resp;
    send_params(f, &p, &resp);
    report r = parse_report(&resp, CDR_TEST);
    assert_prolog(&r, "https://ebctest.cybersource.com/ebctest");
    assert_int_equal(count(&r, "/r:Report/*"), 0);
    assert_string_equal(xstr(&r, "string(/r:Report/@ReportStartDate)"), "2014-06-25 00:00:00GMT");
    assert_string_equal(xstr(&r, "string(/r:Report/@ReportEndDate)"), "2014-06-25 17:24:04GMT");
    assert_string_equal(xstr(&r, "string(/r:Report/@Name)"), "Conversion Detail Report");
    assert_string_equal(xstr(&r, "string(/r:Report/@Version)"), "1.1");
    free_report(&r);
    pl_sim_response_free(&resp);

    /* A merchant without REVIEWs gets an empty report, not an error. */
    p = seed_params();
    p.merchant_id = "nobody";
    assert_int_equal(conversions(f, &p), 0);

    /* /__sim/reset forgets the REVIEWs. */
    pl_sim_ledger_reset(f->l);
    p = seed_params();
    assert_int_equal(conversions(f, &p), 0);
}

/* Refusals: plain text, HTTP 200, nothing else. */
static void test_refusals(void **state)
{
    fx *f = *state;
    params p = seed_params();
    p.password = "bad-password";
    assert_refused(f, &p, "Invalid login credentials.");
    p.password = "";
    assert_refused(f, &p, "Invalid login credentials.");
    p.password = NULL;
    assert_refused(f, &p, "Invalid login credentials.");
    p = seed_params();
    p.username = "";
    assert_refused(f, &p, "Invalid login credentials.");
    /* Credentials are checked before anything else. */
    p.merchant_id = NULL;
    p.start_date = "junk";
    assert_refused(f, &p, "Invalid login credentials.");

    p = seed_params();
    p.merchant_id = NULL;
    assert_refused(f, &p, "No merchant found for username.");
    p.merchant_id = "";
    assert_refused(f, &p, "No merchant found for username.");
    p.merchant_id = "m\xff";
    assert_refused(f, &p, "No merchant found for username.");

    static const struct {
        const char *start_date, *start_time, *end_date, *end_time, *text;
    } bad[] = {
        {NULL, "00:00:00", "2014-06-24", "17:24:04", "Invalid startDate: expected YYYY-MM-DD."},
        {"2014-6-24", "00:00:00", "2014-06-24", "17:24:04",
         "Invalid startDate: expected YYYY-MM-DD."},
        {"2014-02-30", "00:00:00", "2014-06-24", "17:24:04",
         "Invalid startDate: expected YYYY-MM-DD."},
        {"2014/06/24", "00:00:00", "2014-06-24", "17:24:04",
         "Invalid startDate: expected YYYY-MM-DD."},
        {"2014-06-24", "24:00:00", "2014-06-24", "17:24:04",
         "Invalid startTime: expected HH:MM:SS."},
        {"2014-06-24", "0:00:00", "2014-06-24", "17:24:04",
         "Invalid startTime: expected HH:MM:SS."},
        {"2014-06-24", "00:00:00", "2014-13-01", "17:24:04",
         "Invalid endDate: expected YYYY-MM-DD."},
        {"2014-06-24", "00:00:00", "2014-06-24", NULL, "Invalid endTime: expected HH:MM:SS."},
        {"2014-06-24", "00:00:00", "2014-06-24", "17:60:00", "Invalid endTime: expected HH:MM:SS."},
        {"2014-06-24", "17:24:05", "2014-06-24", "17:24:04",
         "Invalid report window: the end is before the start."},
        {"2014-06-25", "00:00:00", "2014-06-24", "23:59:59",
         "Invalid report window: the end is before the start."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = seed_params();
        p.start_date = bad[i].start_date;
        p.start_time = bad[i].start_time;
        p.end_date = bad[i].end_date;
        p.end_time = bad[i].end_time;
        assert_refused(f, &p, bad[i].text);
    }

    /* Not a form. */
    pl_sim_response resp;
    send_body(f, PL_SIM_DM_PATH, "application/json", seed_query, &resp);
    assert_refusal(&resp, "Invalid request: the body must be application/x-www-form-urlencoded.");
    pl_sim_response_free(&resp);
    send_body(f, PL_SIM_DM_PATH, NULL, seed_query, &resp);
    assert_refusal(&resp, "Invalid request: the body must be application/x-www-form-urlencoded.");
    pl_sim_response_free(&resp);
    send_body(f, PL_SIM_DM_PATH, "application/x-www-form-urlencoded; charset=UTF-8", seed_query,
              &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/xml");
    pl_sim_response_free(&resp);

    /* The seed's trace line as logged ("merchantID=username=mr&…"): no username in it. */
    send_body(f, PL_SIM_DM_PATH, FORM,
              "merchantID=username=mr&password=Serenade20141&startDate=2014-06-24&startTime="
              "00%3A00%3A00&endDate=2014-06-24&endTime=17%3A24%3A04",
              &resp);
    assert_refusal(&resp, "Invalid login credentials.");
    pl_sim_response_free(&resp);

    /* No handler state: the server always passes one. */
    pl_sim_http_req req = {.method = "POST", .path = PL_SIM_DM_PATH, .body = "", .body_len = 0};
    assert_int_equal(pl_sim_dm_handle(f->l, &req, &resp), PL_ERR_INVALID);
}

/* With --dm-password-file only that password opens the report (fixture "p&ss +word"). */
static void test_configured_password(void **state)
{
    fx *f = *state;
    params p = seed_params();
    assert_refused(f, &p, "Invalid login credentials.");
    p.password = "p&ss +word";
    assert_int_equal(conversions(f, &p), 0);
    p.password = "p&ss  +word";
    assert_refused(f, &p, "Invalid login credentials.");

    /* The same password as a browser would encode it: '+' for the space, %26, %2B. */
    pl_sim_response resp;
    send_body(f, PL_SIM_DM_PATH, FORM,
              "merchantID=mr&username=mr&password=p%26ss+%2Bword&startDate=2014-06-24&"
              "startTime=00%3A00%3A00&endDate=2014-06-24&endTime=17%3A24%3A04",
              &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/xml");
    pl_sim_response_free(&resp);
    /* A %00 inside the password never matches. */
    send_body(f, PL_SIM_DM_PATH, FORM,
              "merchantID=mr&username=mr&password=p%26ss+%2Bword%00&startDate=2014-06-24&"
              "startTime=00%3A00%3A00&endDate=2014-06-24&endTime=17%3A24%3A04",
              &resp);
    assert_refusal(&resp, "Invalid login credentials.");
    pl_sim_response_free(&resp);
}

/* The form is decoded: %3A and %3a in times, encoded names, order and extra parameters. */
static void test_form_decoding(void **state)
{
    fx *f = *state;
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491701000", SEED_ID_1, "mr", 48000, T_1703), 0);
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "ref with space", SEED_ID_2, "m r&1", 48001, T_1722), 0);
    static const char *const bodies[] = {
        /* lower-case escapes, parameters in another order, one the service does not know */
        "endTime=17%3a24%3a04&endDate=2014-06-24&startTime=17%3a00%3a00&startDate=2014-06-24&"
        "password=x&username=mr&merchantID=mr&format=xml",
        /* an encoded name, a repeated parameter (the first counts), an empty pair */
        "merchant%49D=mr&username=mr&&password=x&startDate=2014-06-24&startTime=17%3A00%3A00&"
        "endDate=2014-06-24&endTime=17%3A10%3A00&endTime=00%3A00%3A00",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        pl_sim_response resp;
        send_body(f, PL_SIM_DM_PATH, FORM, bodies[i], &resp);
        report r = parse_report(&resp, CDR_TEST);
        assert_int_equal(count(&r, "/r:Report/r:Conversion"), 1);
        assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion/@RequestID)"), SEED_ID_1);
        assert_string_equal(xstr(&r, "string(/r:Report/@ReportStartDate)"),
                            "2014-06-24 17:00:00GMT");
        free_report(&r);
        pl_sim_response_free(&resp);
    }
    /* A merchantID with a space and '&' (libcurl's encoding, %20 and %26), and '+' = space. */
    params p = seed_params();
    p.merchant_id = "m r&1";
    assert_int_equal(conversions(f, &p), 1);
    pl_sim_response resp;
    send_body(f, PL_SIM_DM_PATH, FORM,
              "merchantID=m+r%261&username=mr&password=x&startDate=2014-06-24&startTime="
              "00%3A00%3A00&endDate=2014-06-24&endTime=17%3A24%3A04",
              &resp);
    report r = parse_report(&resp, CDR_TEST);
    assert_string_equal(xstr(&r, "string(/r:Report/@MerchantID)"), "m r&1");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion/@MerchantReferenceNumber)"),
                        "ref with space");
    assert_string_equal(xstr(&r, "string(/r:Report/r:Conversion/r:Reviewer)"), "m r&1");
    free_report(&r);
    /* libxml2 escaped the '&' in the attribute. */
    assert_non_null(strstr(resp.body, "MerchantID=\"m r&amp;1\""));
    pl_sim_response_free(&resp);
    /* Unencoded colons are read as they are. */
    send_body(f, PL_SIM_DM_PATH, FORM,
              "merchantID=mr&username=mr&password=x&startDate=2014-06-24&startTime=00:00:00&"
              "endDate=2014-06-24&endTime=17:24:04",
              &resp);
    r = parse_report(&resp, CDR_TEST);
    assert_int_equal(count(&r, "/r:Report/r:Conversion"), 1);
    free_report(&r);
    pl_sim_response_free(&resp);
    /* A time with a %00 is not a time. */
    send_body(f, PL_SIM_DM_PATH, FORM,
              "merchantID=mr&username=mr&password=x&startDate=2014-06-24&startTime=00%3A00%3A0%00"
              "&endDate=2014-06-24&endTime=17%3A24%3A04",
              &resp);
    assert_refusal(&resp, "Invalid startTime: expected HH:MM:SS.");
    pl_sim_response_free(&resp);
}

/* The fail modes hold until "none" or a reset; credentials are not even looked at. */
static void test_fail_modes(void **state)
{
    fx *f = *state;
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491701000", SEED_ID_1, "mr", 48000, T_1703), 0);
    assert_int_equal(pl_sim_dm_get_fail(f->d), PL_SIM_DM_FAIL_NONE);
    params p = seed_params();
    pl_sim_response resp;

    assert_int_equal(pl_sim_dm_set_fail(f->d, "500"), 0);
    for (int i = 0; i < 2; i++) {
        send_params(f, &p, &resp);
        assert_int_equal(resp.action, PL_SIM_ANSWER);
        assert_int_equal(resp.status, 500);
        assert_string_equal(resp.content_type, "text/html");
        pl_sim_response_free(&resp);
    }
    p.password = "bad-password";
    send_params(f, &p, &resp);
    assert_int_equal(resp.status, 500);
    pl_sim_response_free(&resp);
    p.password = "Serenade20141";

    /* A broken document, not short text (which reads as the service's refusal). */
    assert_int_equal(pl_sim_dm_set_fail(f->d, "garbage"), 0);
    send_params(f, &p, &resp);
    assert_int_equal(resp.action, PL_SIM_ANSWER);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/xml");
    assert_true(strncmp(resp.body, "<?xml", 5) == 0);
    xmlDocPtr doc = xmlReadMemory(resp.body, (int)resp.body_len, "garbage.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    assert_null(doc);
    pl_sim_response_free(&resp);

    assert_int_equal(pl_sim_dm_set_fail(f->d, "drop"), 0);
    send_params(f, &p, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    assert_null(resp.body);
    pl_sim_response_free(&resp);

    assert_int_equal(pl_sim_dm_set_fail(f->d, "hold"), 0);
    send_params(f, &p, &resp);
    assert_int_equal(resp.action, PL_SIM_HOLD);
    pl_sim_response_free(&resp);

    /* An unknown mode changes nothing. */
    assert_int_equal(pl_sim_dm_set_fail(f->d, "sometimes"), PL_ERR_INVALID);
    assert_int_equal(pl_sim_dm_set_fail(f->d, NULL), PL_ERR_INVALID);
    assert_int_equal(pl_sim_dm_get_fail(f->d), PL_SIM_DM_FAIL_HOLD);

    assert_int_equal(pl_sim_dm_set_fail(f->d, "none"), 0);
    assert_int_equal(conversions(f, &p), 1);

    assert_int_equal(pl_sim_dm_set_fail(f->d, "drop"), 0);
    pl_sim_dm_reset(f->d);
    assert_int_equal(pl_sim_dm_get_fail(f->d), PL_SIM_DM_FAIL_NONE);
    assert_int_equal(conversions(f, &p), 1);
}

/* The control routes, called directly. */
static void test_control(void **state)
{
    fx *f = *state;
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491701000", SEED_ID_1, "mr", 48000, T_1703), 0);
    assert_int_equal(
        pl_sim_ledger_cyb_review(f->l, "0070000491801000", SEED_ID_2, "mr", 48001, T_1722), 0);
    pl_sim_response resp;
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "GET", "/__sim/dm/reviews", NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "application/json");
    assert_string_equal(
        resp.body, "[{\"merchant_reference\":\"0070000491701000\",\"request_id\":\"" SEED_ID_1
                   "\",\"merchant_id\":\"mr\",\"amount\":\"480.00\",\"new_decision\":\"ACCEPT\","
                   "\"conversion_date\":\"2014-06-24 17:03:03\"},"
                   "{\"merchant_reference\":\"0070000491801000\",\"request_id\":\"" SEED_ID_2
                   "\",\"merchant_id\":\"mr\",\"amount\":\"480.01\",\"new_decision\":\"REJECT\","
                   "\"conversion_date\":\"2014-06-24 17:22:33\"}]");
    pl_sim_response_free(&resp);

    assert_int_equal(pl_sim_dm_control(f->d, f->l, "POST", "/__sim/dm/fail", "garbage", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"mode\":\"garbage\"}");
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "GET", "/__sim/dm/fail", NULL, &resp), 0);
    assert_string_equal(resp.body, "{\"mode\":\"garbage\"}");
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "POST", "/__sim/dm/fail", "bogus", &resp), 0);
    assert_int_equal(resp.status, 400);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "POST", "/__sim/dm/fail", NULL, &resp), 0);
    assert_int_equal(resp.status, 400);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_dm_get_fail(f->d), PL_SIM_DM_FAIL_GARBAGE);
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "DELETE", "/__sim/dm/fail", NULL, &resp), 0);
    assert_int_equal(resp.status, 405);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "POST", "/__sim/dm/reviews", NULL, &resp), 0);
    assert_int_equal(resp.status, 405);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "GET", "/__sim/dm/other", NULL, &resp), 0);
    assert_int_equal(resp.status, 404);
    pl_sim_response_free(&resp);

    pl_sim_ledger_reset(f->l);
    assert_int_equal(pl_sim_dm_control(f->d, f->l, "GET", "/__sim/dm/reviews", NULL, &resp), 0);
    assert_string_equal(resp.body, "[]");
    pl_sim_response_free(&resp);
}

/* The ledger's REVIEW memory refuses what it cannot keep whole. */
static void test_ledger_reviews(void **state)
{
    fx *f = *state;
    char long_ref[60];
    memset(long_ref, 'r', 51);
    long_ref[51] = '\0';
    assert_int_equal(pl_sim_ledger_cyb_review(f->l, long_ref, "1", "mr", 1, 0), PL_ERR_INVALID);
    assert_int_equal(pl_sim_ledger_cyb_review(f->l, "", "1", "mr", 1, 0), PL_ERR_INVALID);
    assert_int_equal(pl_sim_ledger_cyb_review(f->l, "r", NULL, "mr", 1, 0), PL_ERR_INVALID);
    long_ref[50] = '\0';
    time_t now = time(NULL);
    assert_int_equal(pl_sim_ledger_cyb_review(f->l, long_ref, "1", NULL, 1, 0), 0);
    pl_sim_review *rv = NULL;
    size_t n = 0;
    assert_int_equal(pl_sim_ledger_cyb_reviews(f->l, &rv, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rv[0].merchant_reference, long_ref);
    assert_string_equal(rv[0].merchant_id, "");
    assert_true(rv[0].answered >= now && rv[0].answered <= now + 2);
    free(rv);
    /* Not ledger effects. */
    assert_int_equal(pl_sim_ledger_count(f->l), 0);
    /* Many: the list grows. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(pl_sim_ledger_cyb_review(f->l, "r", "2", "mr", i, T_1703), 0);
    assert_int_equal(pl_sim_ledger_cyb_reviews(f->l, &rv, &n), 0);
    assert_int_equal(n, 101);
    assert_int_equal(rv[100].amount, 99);
    free(rv);
}

/* ---- through the HTTPS server --------------------------------------------------------------- */

static void post_form(const sim_test_server *s, const char *path, const char *body,
                      sim_test_http *out)
{
    sim_test_call c = {
        .method = "POST", .path = path, .content_type = FORM, .body = body, .len = strlen(body)};
    sim_test_send(s, &c, out, NULL);
}

static void control(const sim_test_server *s, const char *method, const char *path,
                    sim_test_http *out)
{
    sim_test_call c = {.method = method, .path = path};
    sim_test_send(s, &c, out, NULL);
}

static void test_through_server(void **state)
{
    (void)state;
    sim_test_server s;
    sim_test_server_start(&s, "test_sim_dm");
    pl_sim_ledger *l = pl_sim_server_ledger(s.srv);
    char id_even[48], id_odd[48];
    time_t before = time(NULL);
    assert_string_equal(cyb_auth(l, "mr", "0070000491701000", "480.00", true, id_even), "REVIEW");
    assert_string_equal(cyb_auth(l, "mr", "0070000491801000", "480.01", true, id_odd), "REVIEW");
    time_t after = time(NULL);

    char d0[16], t0[16], d1[16], t1[16];
    date_time(before, d0, t0);
    date_time(after, d1, t1);
    params p = {"mr", "mr", "secret", d0, t0, d1, t1};
    char *body = form(&p);
    assert_non_null(strstr(body, "%3A")); /* libcurl encodes the colons, as the seed's client */

    sim_test_http r;
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/xml");
    assert_true(
        strncmp(r.body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE Report", 53) == 0);
    pl_sim_response as_resp = {
        .status = 200, .content_type = "application/xml", .body = r.body, .body_len = r.len};
    report rep = parse_report(&as_resp, CDR_TEST);
    assert_int_equal(count(&rep, "/r:Report/r:Conversion"), 2);
    assert_string_equal(xstr(&rep, "string(/r:Report/r:Conversion[1]/@RequestID)"), id_even);
    assert_string_equal(xstr(&rep, "string(/r:Report/r:Conversion[1]/r:NewDecision)"), "ACCEPT");
    assert_string_equal(xstr(&rep, "string(/r:Report/r:Conversion[2]/@RequestID)"), id_odd);
    assert_string_equal(xstr(&rep, "string(/r:Report/r:Conversion[2]/r:NewDecision)"), "REJECT");
    free_report(&rep);

    post_form(&s, "/ebc/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<!DOCTYPE Report SYSTEM \"" CDR_PROD "\">"));

    /* Wrong password: the service's own words. */
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do",
              "merchantID=mr&username=mr&password=bad-password&startDate=2014-06-24&startTime="
              "00%3A00%3A00&endDate=2014-06-24&endTime=17%3A24%3A04",
              &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    assert_string_equal(r.body, "Invalid login credentials.");
    control(&s, "GET", "/ebctest/ConversionDetailReportRequest.do", &r);
    assert_int_equal(r.status, 405);

    /* What the simulator remembers. */
    control(&s, "GET", "/__sim/dm/reviews", &r);
    assert_int_equal(r.status, 200);
    json_object *j = json_tokener_parse(r.body);
    assert_non_null(j);
    assert_int_equal(json_object_array_length(j), 2);
    assert_string_equal(sim_test_row_field(j, 0, "request_id"), id_even);
    assert_string_equal(sim_test_row_field(j, 0, "new_decision"), "ACCEPT");
    assert_string_equal(sim_test_row_field(j, 1, "merchant_reference"), "0070000491801000");
    assert_string_equal(sim_test_row_field(j, 1, "amount"), "480.01");
    assert_string_equal(sim_test_row_field(j, 1, "new_decision"), "REJECT");
    json_object_put(j);

    /* Fail modes on the wire. */
    control(&s, "POST", "/__sim/dm/fail?mode=500", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"mode\":\"500\"}");
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.content_type, "text/html");
    control(&s, "POST", "/__sim/dm/fail?mode=garbage", &r);
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "</Report>"));
    assert_null(strstr(r.body, "<Conversion"));
    control(&s, "POST", "/__sim/dm/fail?mode=drop", &r);
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    control(&s, "POST", "/__sim/dm/fail?mode=hold", &r);
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING); /* held the test server's 200 ms, then closed */
    control(&s, "POST", "/__sim/dm/fail?mode=often", &r);
    assert_int_equal(r.status, 400);
    control(&s, "GET", "/__sim/dm/fail", &r);
    assert_string_equal(r.body, "{\"mode\":\"hold\"}");
    control(&s, "POST", "/__sim/dm/fail?mode=none", &r);
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, id_odd));

    /* A reset ends the fail mode and forgets the REVIEWs. */
    control(&s, "POST", "/__sim/dm/fail?mode=500", &r);
    control(&s, "POST", "/__sim/reset", &r);
    assert_int_equal(r.status, 200);
    control(&s, "GET", "/__sim/dm/fail", &r);
    assert_string_equal(r.body, "{\"mode\":\"none\"}");
    control(&s, "GET", "/__sim/dm/reviews", &r);
    assert_string_equal(r.body, "[]");
    post_form(&s, "/ebctest/ConversionDetailReportRequest.do", body, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "<Conversion"));
    free(body);

    sim_test_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),
        FX_TEST(test_reviews_from_cybersource),
        FX_TEST(test_seed_report),
        FX_TEST(test_window),
        FX_TEST(test_refusals),
        cmocka_unit_test_setup_teardown(test_configured_password, fx_setup_configured, fx_teardown),
        FX_TEST(test_form_decoding),
        FX_TEST(test_fail_modes),
        FX_TEST(test_control),
        FX_TEST(test_ledger_reviews),
        cmocka_unit_test(test_through_server),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
