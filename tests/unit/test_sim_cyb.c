/*
 * test_sim_cyb.c: the simulated CyberSource Simple Order API (tools/sim/sim_cyb.h), driven
 * through its handler without a network: requests are built with libxml2, replies are read
 * back with XPath and validated against the official XSD (CyberSourceTransaction_1.121.xsd),
 * and the ledger shows which effects happened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "bureau_cybersource.h"
#include "log.h"
#include "sim_cyb.h"
#include "sim_ledger.h"
#include "sim_soap.h"
#include "sim_test_helpers.h"
#include "xml_test_helpers.h"

#define PAN "4111111111111111"
#define NS_121 "urn:schemas-cybersource-com:transaction-data-1.121"

static xmlSchemaPtr g_schema;

/* ---- building requests ------------------------------------------------------------- */

typedef struct req_opts {
    const char *ns;
    bool no_security;
    const char *username;
    const char *password;
    const char *merchant_id;
    const char *ref;
    const char *amount;
    const char *currency;
    const char *postal;
    const char *pan;
    const char *cvn;
    const char *exp_month;
    const char *exp_year;
    const char *sub_id;
    bool dm;
    bool token, auth, capture, credit, reversal;
    const char *capture_auth_id;
    const char *credit_capture_id;
    const char *reversal_auth_id;
    const char *item_price; /* one item instead of grandTotalAmount */
    const char *item_qty;
    const char *mti; /* merchantTransactionIdentifier */
} req_opts;

static req_opts auth_opts(const char *amount)
{
    req_opts o = {
        .ns = NS_121,
        .username = "m1",
        .password = "key",
        .merchant_id = "m1",
        .ref = "r1",
        .amount = amount,
        .currency = "USD",
        .postal = "02110",
        .pan = PAN,
        .cvn = "123",
        .exp_month = "12",
        .exp_year = "2035",
        .auth = true,
    };
    return o;
}

static req_opts followon_opts(const char *amount)
{
    req_opts o = auth_opts(amount);
    o.postal = o.pan = o.cvn = o.exp_month = o.exp_year = NULL;
    o.auth = false;
    return o;
}

static void text_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    if (text)
        assert_non_null(xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text));
}

static void service(xmlNodePtr msg, xmlNsPtr ns, const char *name, bool run, const char *child,
                    const char *child_text)
{
    if (!run)
        return;
    xmlNodePtr s = xmlNewChild(msg, ns, BAD_CAST name, NULL);
    xmlNewProp(s, BAD_CAST "run", BAD_CAST "true");
    if (child && child_text)
        text_child(s, ns, child, child_text);
}

/* The request as a SOAP document in XSD element order; returns a malloc'd body. */
static char *build(const req_opts *o, size_t *len)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL);
    xmlDocSetRootElement(doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST PL_SOAP_ENV_NS, BAD_CAST "soap");
    xmlSetNs(env, soap);
    if (!o->no_security) {
        xmlNodePtr hdr = xmlNewChild(env, soap, BAD_CAST "Header", NULL);
        xmlNodePtr sec = xmlNewChild(hdr, NULL, BAD_CAST "Security", NULL);
        xmlNsPtr wsse = xmlNewNs(sec, BAD_CAST PL_WSSE_NS, BAD_CAST "wsse");
        xmlSetNs(sec, wsse);
        xmlNodePtr tok = xmlNewChild(sec, wsse, BAD_CAST "UsernameToken", NULL);
        text_child(tok, wsse, "Username", o->username);
        text_child(tok, wsse, "Password", o->password);
    }
    xmlNodePtr body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
    xmlNodePtr msg = xmlNewChild(body, NULL, BAD_CAST "requestMessage", NULL);
    xmlNsPtr ns = xmlNewNs(msg, BAD_CAST o->ns, NULL);
    xmlSetNs(msg, ns);
    text_child(msg, ns, "merchantID", o->merchant_id);
    text_child(msg, ns, "merchantReferenceCode", o->ref);
    if (o->postal) {
        xmlNodePtr bill = xmlNewChild(msg, ns, BAD_CAST "billTo", NULL);
        text_child(bill, ns, "firstName", "Jane");
        text_child(bill, ns, "postalCode", o->postal);
    }
    if (o->item_price) {
        xmlNodePtr item = xmlNewChild(msg, ns, BAD_CAST "item", NULL);
        xmlNewProp(item, BAD_CAST "id", BAD_CAST "0");
        text_child(item, ns, "unitPrice", o->item_price);
        text_child(item, ns, "quantity", o->item_qty);
    }
    xmlNodePtr totals = xmlNewChild(msg, ns, BAD_CAST "purchaseTotals", NULL);
    text_child(totals, ns, "currency", o->currency);
    text_child(totals, ns, "grandTotalAmount", o->amount);
    if (o->pan) {
        xmlNodePtr card = xmlNewChild(msg, ns, BAD_CAST "card", NULL);
        text_child(card, ns, "accountNumber", o->pan);
        text_child(card, ns, "expirationMonth", o->exp_month);
        text_child(card, ns, "expirationYear", o->exp_year);
        text_child(card, ns, "cvNumber", o->cvn);
    }
    if (o->sub_id) {
        xmlNodePtr rsi = xmlNewChild(msg, ns, BAD_CAST "recurringSubscriptionInfo", NULL);
        text_child(rsi, ns, "subscriptionID", o->sub_id);
    }
    if (o->dm) {
        xmlNodePtr dm = xmlNewChild(msg, ns, BAD_CAST "decisionManager", NULL);
        text_child(dm, ns, "enabled", "true");
    }
    service(msg, ns, "ccAuthService", o->auth, NULL, NULL);
    service(msg, ns, "ccCaptureService", o->capture, "authRequestID", o->capture_auth_id);
    service(msg, ns, "ccCreditService", o->credit, "captureRequestID", o->credit_capture_id);
    service(msg, ns, "ccAuthReversalService", o->reversal, "authRequestID", o->reversal_auth_id);
    service(msg, ns, "paySubscriptionCreateService", o->token, NULL, NULL);
    text_child(msg, ns, "merchantTransactionIdentifier", o->mti);

    char *out = xml_test_dump(doc, len);
    xmlFreeDoc(doc);
    return out;
}

static void send_raw(pl_sim_ledger *l, const char *body, size_t len, pl_sim_response *resp)
{
    pl_sim_http_req req = {
        .method = "POST", .path = PL_SIM_CYB_PATH, .body = body, .body_len = len};
    assert_int_equal(pl_sim_cyb_handle(l, &req, resp), 0);
}

static void send(pl_sim_ledger *l, const req_opts *o, pl_sim_response *resp)
{
    size_t len;
    char *body = build(o, &len);
    send_raw(l, body, len, resp);
    free(body);
}

/* ---- reading replies --------------------------------------------------------------- */

typedef struct reply {
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
} reply;

static reply parse_reply(const pl_sim_response *resp, const char *ns)
{
    reply r;
    assert_int_equal(resp->action, PL_SIM_ANSWER);
    assert_non_null(resp->body);
    r.doc = xmlReadMemory(resp->body, (int)resp->body_len, "reply.xml", NULL, XML_PARSE_NONET);
    assert_non_null(r.doc);
    r.xp = xmlXPathNewContext(r.doc);
    xmlXPathRegisterNs(r.xp, BAD_CAST "soap", BAD_CAST PL_SOAP_ENV_NS);
    xmlXPathRegisterNs(r.xp, BAD_CAST "wsse", BAD_CAST PL_WSSE_NS);
    xmlXPathRegisterNs(r.xp, BAD_CAST "wsu", BAD_CAST PL_WSU_NS);
    xmlXPathRegisterNs(r.xp, BAD_CAST "c", BAD_CAST ns);
    return r;
}

static void free_reply(reply *r)
{
    xmlXPathFreeContext(r->xp);
    xmlFreeDoc(r->doc);
}

/* The string value of an XPath expression ("" when absent), in a buffer of the thread. */
static const char *xstr(reply *r, const char *expr)
{
    return xml_test_xstr(r->xp, expr);
}

/* The string value of a path under c:replyMessage. */
static const char *get(reply *r, const char *path)
{
    char expr[300];
    snprintf(expr, sizeof expr, "string(/soap:Envelope/soap:Body/c:replyMessage/%s)", path);
    return xstr(r, expr);
}

static int count(reply *r, const char *expr)
{
    return xml_test_count(r->xp, expr);
}

/* The replyMessage, copied into a document of its own, is valid against the 1.121 XSD. */
static void assert_xsd_valid(reply *r)
{
    xmlXPathObjectPtr o =
        xmlXPathEvalExpression(BAD_CAST "/soap:Envelope/soap:Body/c:replyMessage", r->xp);
    assert_non_null(o);
    assert_int_equal(o->nodesetval ? o->nodesetval->nodeNr : 0, 1);
    xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr copy = xmlDocCopyNode(o->nodesetval->nodeTab[0], d, 1);
    xmlDocSetRootElement(d, copy);
    xmlXPathFreeObject(o);
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(g_schema);
    int rc = xmlSchemaValidateDoc(v, d);
    xmlSchemaFreeValidCtxt(v);
    xmlFreeDoc(d);
    assert_int_equal(rc, 0);
}

static reply answer(pl_sim_ledger *l, const req_opts *o, pl_sim_response *resp)
{
    send(l, o, resp);
    assert_int_equal(resp->status, 200);
    reply r = parse_reply(resp, o->ns);
    if (strcmp(o->ns, NS_121) == 0)
        assert_xsd_valid(&r);
    return r;
}

static void assert_fault(const pl_sim_response *resp, const char *code, const char *string_start)
{
    assert_int_equal(resp->action, PL_SIM_ANSWER);
    assert_int_equal(resp->status, 500);
    reply r = parse_reply(resp, "urn:schemas-cybersource-com:transaction-data-1.0");
    assert_string_equal(xstr(&r, "string(/soap:Envelope/soap:Body/soap:Fault/faultcode)"), code);
    const char *fs = xstr(&r, "string(/soap:Envelope/soap:Body/soap:Fault/faultstring)");
    assert_true(strncmp(fs, string_start, strlen(string_start)) == 0);
    /* The fault carries the same WS-Security timestamp header as any answer. */
    assert_int_equal(
        count(&r, "/soap:Envelope/soap:Header/wsse:Security/wsu:Timestamp/wsu:Created"), 1);
    free_reply(&r);
}

/* ---- fixtures ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    /* One line per request is the simulator's normal log; here it is only noise. */
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    xmlInitParser();
    g_schema = xml_test_load_schema("CyberSourceTransaction_1.121.xsd");
    return g_schema ? 0 : -1;
}

static int group_teardown(void **state)
{
    xmlSchemaFree(g_schema);
    return xml_test_group_teardown(state);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_approval_shape(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts("120.00");
    reply r = answer(l, &o, &resp);

    assert_string_equal(get(&r, "c:merchantReferenceCode"), "r1");
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:reasonCode"), "100");
    assert_true(sim_test_matches(get(&r, "c:requestID"), "^[0-9]{22}$"));
    char request_id[32];
    assert_true((size_t)snprintf(request_id, sizeof request_id, "%s", get(&r, "c:requestID")) <
                sizeof request_id);
    assert_true(sim_test_matches(get(&r, "c:requestToken"), "^[A-Za-z0-9+/]{40,}$"));
    assert_string_equal(get(&r, "c:purchaseTotals/c:currency"), "USD");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "120.00");
    assert_true(sim_test_matches(get(&r, "c:ccAuthReply/c:authorizationCode"), "^[0-9]{6}$"));
    assert_string_equal(get(&r, "c:ccAuthReply/c:avsCode"), "Y");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCode"), "M");
    assert_true(sim_test_matches(get(&r, "c:ccAuthReply/c:authorizedDateTime"),
                                 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"));
    assert_true(sim_test_matches(get(&r, "c:ccAuthReply/c:reconciliationID"), "^[0-9A-Z]{16}$"));
    assert_int_equal(count(&r, "//c:ccCaptureReply"), 0);
    assert_int_equal(count(&r, "//c:paySubscriptionCreateReply"), 0);
    /* The reply header carries a WS-Security timestamp, as the real service's does. */
    assert_int_equal(count(&r, "/soap:Envelope/soap:Header/wsse:Security/wsu:Timestamp[@wsu:Id]"),
                     1);
    assert_true(sim_test_matches(
        xstr(&r, "string(/soap:Envelope/soap:Header/wsse:Security/wsu:Timestamp/wsu:Created)"),
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$"));
    free_reply(&r);
    pl_sim_response_free(&resp);

    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 1);
    assert_string_equal(sim_test_row_field(j, 0, "protocol"), "CYB");
    assert_string_equal(sim_test_row_field(j, 0, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 0, "ref"), "r1");
    assert_string_equal(sim_test_row_field(j, 0, "amount"), "120.00");
    assert_string_equal(sim_test_row_field(j, 0, "bureau_id"), request_id);
    json_object_put(j);

    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r1", &t), 0);
    assert_string_equal(t.op, "auth");
    assert_string_equal(t.decision, "ACCEPT");
    assert_int_equal(t.reason_code, 100);
    assert_string_equal(t.request_id, request_id);
    assert_int_equal(t.amount, 12000);
}

static void test_reply_namespace_follows_request(void **state)
{
    pl_sim_response resp;
    req_opts o = auth_opts("10.00");
    o.ns = "urn:schemas-cybersource-com:transaction-data-1.201";
    reply r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_int_equal(count(&r, "/soap:Envelope/soap:Body/c:replyMessage"), 1);
    free_reply(&r);
    pl_sim_response_free(&resp);
}

static void test_avs_cvn_no_match(void **state)
{
    pl_sim_response resp;
    req_opts o = auth_opts("50.00");
    o.postal = "00000";
    o.cvn = "000";
    reply r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccAuthReply/c:avsCode"), "N");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCode"), "N");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* No CVN and no billing address: the defaults. */
    o = auth_opts("50.00");
    o.postal = NULL;
    o.cvn = NULL;
    o.ref = "r2";
    r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:ccAuthReply/c:avsCode"), "Y");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCode"), "M");
    free_reply(&r);
    pl_sim_response_free(&resp);
}

static pl_sim_cyb_request query_record(pl_sim_ledger *l, const char *request_id);

/* What paylink's adapter reads in the simulator's answer to the request ref (its request_id)
 * for op, which sent the amount sent (minor units). */
static int adapter_reads(const pl_sim_response *resp, pl_bureau_op op, const char *ref,
                         int64_t sent, pl_bureau_result *res)
{
    pl_request req;
    memset(&req, 0, sizeof req);
    assert_true((size_t)snprintf(req.request_id, sizeof req.request_id, "%s", ref) <
                sizeof req.request_id);
    pl_bureau_call call;
    memset(&call, 0, sizeof call);
    call.op = op;
    call.req = &req;
    call.amount = sent; /* what the request sent (a partial approval's part is below it) */
    char err[256] = "";
    return pl_bureau_cybersource.parse(NULL, &call, resp->status, resp->body, resp->body_len, res,
                                       err, sizeof err);
}

/*
 * A partial approval is answered as CyberSource answers it (its Simple Order test data): decision
 * REJECT, reasonCode 110, ccAuthReply with the authorizationCode and the amount approved. The
 * issuer holds that amount (ledger "auth"); an auth+capture captures it; paylink's adapter reads
 * the answer as the approval it is.
 */
static void test_partial_approval(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts("110.01");
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "110");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "110");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "55.00");
    assert_string_equal(get(&r, "c:ccAuthReply/c:requestAmount"), "110.01");
    assert_int_equal(strlen(get(&r, "c:ccAuthReply/c:authorizationCode")), 6);
    free_reply(&r);
    pl_bureau_result res;
    assert_int_equal(adapter_reads(&resp, PL_OP_AUTH, "r1", 11001, &res), 0);
    assert_string_equal(res.decision, "ACCEPT");
    assert_string_equal(res.reason_code, "110");
    assert_true(res.has_amount);
    assert_int_equal(res.amount, 5500);
    pl_sim_response_free(&resp);
    json_object *j = sim_test_ledger_json(l);
    assert_string_equal(sim_test_row_field(j, 0, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 0, "amount"), "55.00");
    json_object_put(j);

    /* Auth+capture, with Decision Manager: the approved part is captured, and Decision
     * Manager's decision was to accept it. */
    o = auth_opts("110.00");
    o.ref = "r2";
    o.capture = true;
    o.dm = true;
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "110");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "55.00");
    assert_string_equal(get(&r, "c:ccCaptureReply/c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccCaptureReply/c:amount"), "55.00");
    char auth_id[32];
    assert_true((size_t)snprintf(auth_id, sizeof auth_id, "%s", get(&r, "c:requestID")) <
                sizeof auth_id);
    free_reply(&r);
    assert_int_equal(adapter_reads(&resp, PL_OP_AUTH_CAPTURE, "r2", 11000, &res), 0);
    assert_string_equal(res.decision, "ACCEPT");
    assert_int_equal(res.amount, 5500);
    pl_sim_response_free(&resp);
    j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 3);
    assert_string_equal(sim_test_row_field(j, 2, "op"), "capture");
    assert_string_equal(sim_test_row_field(j, 2, "amount"), "55.00");
    json_object_put(j);
    pl_sim_cyb_request q = query_record(l, auth_id);
    assert_string_equal(q.decision, "REJECT");
    assert_int_equal(q.reason_code, 110);
    assert_int_equal(q.napps, 4);
    assert_string_equal(q.apps[0].name, "ics_auth");
    assert_int_equal(q.apps[0].reason_code, 110);
    assert_string_equal(q.apps[1].name, "ics_bill");
    assert_int_equal(q.apps[1].reason_code, 100);
    assert_string_equal(q.apps[3].name, "ics_decision");
    assert_int_equal(q.apps[3].reason_code, 100);
}

static void test_error_150(void **state)
{
    pl_sim_response resp;
    req_opts o = auth_opts("150.00");
    reply r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ERROR");
    assert_string_equal(get(&r, "c:reasonCode"), "150");
    assert_int_equal(count(&r, "//c:ccAuthReply"), 0);
    free_reply(&r);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(*state), 0);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(*state, "r1", &t), 0);
    assert_string_equal(t.decision, "ERROR");
}

static void test_declines(void **state)
{
    static const char *const codes[] = {"202", "203", "204", "205", "211", "231"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char amount[16];
        snprintf(amount, sizeof amount, "%s.50", codes[i]);
        pl_sim_response resp;
        req_opts o = auth_opts(amount);
        reply r = answer(*state, &o, &resp);
        assert_string_equal(get(&r, "c:decision"), "REJECT");
        assert_string_equal(get(&r, "c:reasonCode"), codes[i]);
        assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), codes[i]);
        assert_int_equal(count(&r, "//c:ccAuthReply/c:amount"), 0);
        free_reply(&r);
        pl_sim_response_free(&resp);
    }
    assert_int_equal(pl_sim_ledger_count(*state), 0);
}

static void test_fraud_score_400(void **state)
{
    pl_sim_response resp;
    req_opts o = auth_opts("400.00");
    reply r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "400");
    assert_string_equal(get(&r, "c:afsReply/c:afsResult"), "99");
    free_reply(&r);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(*state), 0);
}

static void test_decision_manager(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts("480.00");
    o.dm = true;
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REVIEW");
    assert_string_equal(get(&r, "c:reasonCode"), "480");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "480.00");
    assert_int_equal(count(&r, "//c:afsReply/c:afsResult"), 1);
    free_reply(&r);
    pl_sim_response_free(&resp);

    o = auth_opts("481.00");
    o.dm = true;
    o.ref = "r2";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "481");
    /* The issuer approved; Decision Manager refused. */
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "100");
    char auth_id[32];
    assert_true((size_t)snprintf(auth_id, sizeof auth_id, "%s", get(&r, "c:requestID")) <
                sizeof auth_id);
    free_reply(&r);
    pl_sim_response_free(&resp);
    /* Both held funds at the issuer: both are auth effects, and the 481 can be reversed. */
    assert_int_equal(pl_sim_ledger_count(l), 2);
    o = followon_opts("481.00");
    o.ref = "r2.rev";
    o.reversal = true;
    o.reversal_auth_id = auth_id;
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:amount"), "481.00");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* Without Decision Manager, 480 and 481 are ordinary approvals. */
    o = auth_opts("480.00");
    o.ref = "r3";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:reasonCode"), "100");
    assert_int_equal(count(&r, "//c:afsReply"), 0);
    free_reply(&r);
    pl_sim_response_free(&resp);
    o = auth_opts("481.99");
    o.ref = "r4";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    free_reply(&r);
    pl_sim_response_free(&resp);
}

static void test_transport_faults(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts("901.00");
    send(l, &o, &resp);
    assert_int_equal(resp.action, PL_SIM_HOLD);
    pl_sim_response_free(&resp);

    o.amount = "902.00";
    send(l, &o, &resp);
    assert_int_equal(resp.action, PL_SIM_ANSWER);
    assert_int_equal(resp.status, 500);
    assert_string_equal(resp.content_type, "text/html");
    assert_non_null(strstr(resp.body, "<html>"));
    pl_sim_response_free(&resp);

    o.amount = "903.00";
    send(l, &o, &resp);
    assert_int_equal(resp.status, 200);
    /* Neither XML nor JSON. */
    xmlDocPtr d = xmlReadMemory(resp.body, (int)resp.body_len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    assert_null(d);
    json_object *jj = json_tokener_parse(resp.body);
    assert_null(jj);
    pl_sim_response_free(&resp);

    o.amount = "904.00";
    o.capture = true;
    send(l, &o, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    pl_sim_response_free(&resp);

    /* None of them charged anything, nor left an answer to query. */
    assert_int_equal(pl_sim_ledger_count(l), 0);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r1", &t), PL_ERR_NOTFOUND);
}

static void test_authentication(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts("10.00");
    o.password = "bad-key";
    send(l, &o, &resp);
    assert_fault(&resp, "wsse:FailedCheck", "Security Data : UsernameToken authentication failed.");
    pl_sim_response_free(&resp);

    o = auth_opts("10.00");
    o.no_security = true;
    send(l, &o, &resp);
    assert_fault(&resp, "wsse:FailedCheck", "Security Data :");
    pl_sim_response_free(&resp);

    o = auth_opts("10.00");
    o.username = "someone-else";
    send(l, &o, &resp);
    assert_fault(&resp, "wsse:FailedCheck", "Security Data :");
    pl_sim_response_free(&resp);

    o = auth_opts("10.00");
    o.password = "";
    send(l, &o, &resp);
    assert_fault(&resp, "wsse:FailedCheck", "Security Data :");
    pl_sim_response_free(&resp);

    assert_int_equal(pl_sim_ledger_count(l), 0);
}

static void test_malformed_input(void **state)
{
    static const char *const bodies[] = {
        "",
        "this is not xml",
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>",
        "<a/>",
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"/>",
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body/>"
        "</soap:Envelope>",
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
        "<other xmlns=\"urn:x\"/></soap:Body></soap:Envelope>",
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
        "<requestMessage/></soap:Body></soap:Envelope>",
        /* Entity expansion: refused for carrying a DTD at all. */
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
        "\"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
        "<requestMessage xmlns=\"urn:schemas-cybersource-com:transaction-data-1.121\">"
        "<merchantReferenceCode>&lol2;</merchantReferenceCode></requestMessage></soap:Body>"
        "</soap:Envelope>",
        "<!DOCTYPE x SYSTEM \"http://example.invalid/x.dtd\"><x/>",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        pl_sim_response resp;
        send_raw(*state, bodies[i], strlen(bodies[i]), &resp);
        assert_fault(&resp, "c:ClientError", "");
        pl_sim_response_free(&resp);
    }
    /* Binary bytes with NULs inside. */
    const char binary[] = {'<', 0, (char)0xff, 'x', 0, '>', 1, 2, 3};
    pl_sim_response resp;
    send_raw(*state, binary, sizeof binary, &resp);
    assert_fault(&resp, "c:ClientError", "Could not parse");
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(*state), 0);
}

static void test_token_lifecycle(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts("0.00");
    o.auth = false;
    o.token = true;
    o.ref = "t1";
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:paySubscriptionCreateReply/c:reasonCode"), "100");
    char token[32];
    assert_true((size_t)snprintf(token, sizeof token, "%s",
                                 get(&r, "c:paySubscriptionCreateReply/c:subscriptionID")) <
                sizeof token);
    assert_true(sim_test_matches(token, "^[0-9]{22}$"));
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* Authorization with the token instead of a card. */
    o = followon_opts("75.00");
    o.auth = true;
    o.sub_id = token;
    o.ref = "a1";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "75.00");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* A token the simulator never issued. */
    o.sub_id = "1234567890123456789012";
    o.ref = "a2";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    assert_string_equal(get(&r, "c:invalidField"), "c:recurringSubscriptionInfo/c:subscriptionID");
    free_reply(&r);
    pl_sim_response_free(&resp);

    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 2);
    assert_string_equal(sim_test_row_field(j, 0, "op"), "token");
    assert_string_equal(sim_test_row_field(j, 1, "op"), "auth");
    json_object_put(j);
}

static void test_token_and_auth_together(void **state)
{
    pl_sim_response resp;
    req_opts o = auth_opts("20.00");
    o.token = true;
    reply r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "20.00");
    assert_true(
        sim_test_matches(get(&r, "c:paySubscriptionCreateReply/c:subscriptionID"), "^[0-9]{22}$"));
    free_reply(&r);
    pl_sim_response_free(&resp);
    json_object *j = sim_test_ledger_json(*state);
    assert_int_equal(json_object_array_length(j), 2);
    assert_string_equal(sim_test_row_field(j, 0, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 1, "op"), "token");
    json_object_put(j);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(*state, "r1", &t), 0);
    assert_string_equal(t.op, "token_auth");

    /* A declined card makes no token. */
    o = auth_opts("205.00");
    o.token = true;
    o.ref = "r2";
    r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_int_equal(count(&r, "//c:paySubscriptionCreateReply"), 0);
    free_reply(&r);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(*state), 2);
}

static void test_auth_capture_then_credit(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts("100.00");
    o.capture = true;
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "100.00");
    assert_string_equal(get(&r, "c:ccCaptureReply/c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccCaptureReply/c:amount"), "100.00");
    char capture_id[32];
    assert_true((size_t)snprintf(capture_id, sizeof capture_id, "%s", get(&r, "c:requestID")) <
                sizeof capture_id);
    free_reply(&r);
    pl_sim_response_free(&resp);

    o = followon_opts("60.00");
    o.credit = true;
    o.credit_capture_id = capture_id;
    o.ref = "c1";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccCreditReply/c:amount"), "60.00");
    free_reply(&r);
    pl_sim_response_free(&resp);

    o.amount = "40.01";
    o.ref = "c2";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "235");
    assert_string_equal(get(&r, "c:ccCreditReply/c:reasonCode"), "235");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* A stand-alone credit to a card needs no capture. */
    o = auth_opts("15.00");
    o.auth = false;
    o.credit = true;
    o.ref = "c3";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccCreditReply/c:amount"), "15.00");
    free_reply(&r);
    pl_sim_response_free(&resp);

    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 4);
    assert_string_equal(sim_test_row_field(j, 0, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 1, "op"), "capture");
    assert_string_equal(sim_test_row_field(j, 1, "bureau_id"), capture_id);
    assert_string_equal(sim_test_row_field(j, 2, "op"), "credit");
    assert_string_equal(sim_test_row_field(j, 3, "ref"), "c3");
    json_object_put(j);
}

static const char *followon(pl_sim_ledger *l, req_opts *o, const char *reason, char *id_out)
{
    static char decision[16];
    pl_sim_response resp;
    reply r = answer(l, o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), reason);
    assert_true((size_t)snprintf(decision, sizeof decision, "%s", get(&r, "c:decision")) <
                sizeof decision);
    if (id_out)
        assert_true(snprintf(id_out, 32, "%s", get(&r, "c:requestID")) < 32);
    free_reply(&r);
    pl_sim_response_free(&resp);
    return decision;
}

static void test_capture_and_reversal_rules(void **state)
{
    pl_sim_ledger *l = *state;
    char a1[32], a2[32];
    req_opts o = auth_opts("80.00");
    assert_string_equal(followon(l, &o, "100", a1), "ACCEPT");
    o.ref = "r2";
    assert_string_equal(followon(l, &o, "100", a2), "ACCEPT");

    /* Unknown authorization. */
    req_opts c = followon_opts("10.00");
    c.capture = true;
    c.capture_auth_id = "9999999999999999999999";
    pl_sim_response resp;
    reply r = answer(l, &c, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    assert_string_equal(get(&r, "c:invalidField"), "c:ccCaptureService/c:authRequestID");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* More than authorized, then a good capture, then a reversal of a captured auth. */
    c.capture_auth_id = a1;
    c.amount = "80.01";
    assert_string_equal(followon(l, &c, "235", NULL), "REJECT");
    c.amount = "80.00";
    assert_string_equal(followon(l, &c, "100", NULL), "ACCEPT");
    req_opts v = followon_opts(NULL);
    v.reversal = true;
    v.reversal_auth_id = a1;
    assert_string_equal(followon(l, &v, "238", NULL), "REJECT");

    /* Reversal, a second reversal, a capture of the reversed auth. */
    v.reversal_auth_id = a2;
    assert_string_equal(followon(l, &v, "100", NULL), "ACCEPT");
    assert_string_equal(followon(l, &v, "237", NULL), "REJECT");
    c.capture_auth_id = a2;
    c.amount = "10.00";
    assert_string_equal(followon(l, &c, "242", NULL), "REJECT");

    json_object *j = sim_test_ledger_json(l);
    /* auth, auth, capture, reversal: the refusals left nothing. */
    assert_int_equal(json_object_array_length(j), 4);
    assert_string_equal(sim_test_row_field(j, 3, "op"), "reversal");
    assert_string_equal(sim_test_row_field(j, 3, "amount"), "80.00");
    json_object_put(j);
}

/* The query record (sim_query.h) of the request answered as request_id. */
static pl_sim_cyb_request query_record(pl_sim_ledger *l, const char *request_id)
{
    pl_sim_cyb_request *got = NULL;
    size_t n = 0;
    assert_int_equal(pl_sim_ledger_cyb_requests(l, request_id, NULL, NULL, NULL, &got, &n), 0);
    assert_int_equal(n, 1);
    pl_sim_cyb_request found = got[0];
    free(got);
    return found;
}

/* A timeout reversal: no authRequestID, the authorization's merchantTransactionIdentifier. */
static req_opts timeout_reversal_opts(const char *amount, const char *ref, const char *mti)
{
    req_opts o = followon_opts(amount);
    o.ref = ref;
    o.reversal = true;
    o.mti = mti;
    return o;
}

static void test_timeout_reversal(void **state)
{
    pl_sim_ledger *l = *state;
    char mti[PL_CYBERSOURCE_MTI_DIGITS + 1], auth_id[32], rev_id[32];
    pl_cybersource_merchant_txn_id("r1", mti, sizeof mti);
    req_opts o = auth_opts("80.00");
    o.mti = mti;
    assert_string_equal(followon(l, &o, "100", auth_id), "ACCEPT");

    /* Found and reversible: reversed as a reversal of its requestID would be. */
    pl_sim_response resp;
    req_opts v = timeout_reversal_opts("80.00", "r1.rev", mti);
    reply r = answer(l, &v, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:merchantReferenceCode"), "r1.rev");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:amount"), "80.00");
    assert_true((size_t)snprintf(rev_id, sizeof rev_id, "%s", get(&r, "c:requestID")) <
                sizeof rev_id);
    free_reply(&r);
    pl_sim_response_free(&resp);

    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 2);
    assert_string_equal(sim_test_row_field(j, 0, "bureau_id"), auth_id);
    assert_string_equal(sim_test_row_field(j, 1, "op"), "reversal");
    assert_string_equal(sim_test_row_field(j, 1, "ref"), "r1.rev");
    assert_string_equal(sim_test_row_field(j, 1, "amount"), "80.00");
    assert_string_equal(sim_test_row_field(j, 1, "bureau_id"), rev_id);
    json_object_put(j);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r1.rev", &t), 0);
    assert_string_equal(t.op, "reversal");
    assert_int_equal(t.reason_code, 100);
    /* The Single Transaction Query shows it like any reversal. */
    pl_sim_cyb_request q = query_record(l, rev_id);
    assert_string_equal(q.merchant_reference, "r1.rev");
    assert_string_equal(q.decision, "ACCEPT");
    assert_int_equal(q.napps, 1);
    assert_string_equal(q.apps[0].name, "ics_auth_reversal");
    assert_int_equal(q.apps[0].reason_code, 100);
    assert_int_equal(q.amount, 8000);

    /* Already reversed: 237, by identifier as by requestID. */
    v.ref = "r1.rev2";
    r = answer(l, &v, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "237");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:reasonCode"), "237");
    free_reply(&r);
    pl_sim_response_free(&resp);
    req_opts byid = followon_opts("80.00");
    byid.reversal = true;
    byid.reversal_auth_id = auth_id;
    assert_string_equal(followon(l, &byid, "237", NULL), "REJECT");

    /* An identifier no authorization was sent with: no corresponding, unused authorization. */
    v = timeout_reversal_opts("80.00", "r9.rev", "000000000000009");
    r = answer(l, &v, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "242");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:reasonCode"), "242");
    assert_int_equal(count(&r, "//c:missingField"), 0);
    assert_int_equal(count(&r, "//c:invalidField"), 0);
    assert_int_equal(count(&r, "//c:ccAuthReversalReply/c:amount"), 0);
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* Captured: 238. */
    char mti2[PL_CYBERSOURCE_MTI_DIGITS + 1];
    pl_cybersource_merchant_txn_id("r2", mti2, sizeof mti2);
    o = auth_opts("30.00");
    o.ref = "r2";
    o.capture = true;
    o.mti = mti2;
    assert_string_equal(followon(l, &o, "100", NULL), "ACCEPT");
    v = timeout_reversal_opts("30.00", "r2.rev", mti2);
    assert_string_equal(followon(l, &v, "238", NULL), "REJECT");

    /* A declined authorization authorized nothing: 242. */
    pl_cybersource_merchant_txn_id("r3", mti2, sizeof mti2);
    o = auth_opts("203.00");
    o.ref = "r3";
    o.mti = mti2;
    assert_string_equal(followon(l, &o, "203", NULL), "REJECT");
    v = timeout_reversal_opts("203.00", "r3.rev", mti2);
    assert_string_equal(followon(l, &v, "242", NULL), "REJECT");

    /* Neither authRequestID nor merchantTransactionIdentifier: the field is missing. */
    v = timeout_reversal_opts("80.00", "r4.rev", NULL);
    r = answer(l, &v, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "101");
    assert_string_equal(get(&r, "c:missingField"), "c:ccAuthReversalService/c:authRequestID");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* auth, reversal, auth, capture: every refusal left nothing. */
    assert_int_equal(pl_sim_ledger_count(l), 4);
}

/* Authorizations whose answer was lost: 901 and 904 never reached the bureau, 905 and 906 did. */
static void test_timeout_reversal_of_lost_answers(void **state)
{
    pl_sim_ledger *l = *state;
    char mti[PL_CYBERSOURCE_MTI_DIGITS + 1];
    pl_sim_response resp;

    /* 901 (held) and 904 (dropped): nothing to reverse, 242. */
    static const char *const never[] = {"901.00", "904.00"};
    for (size_t i = 0; i < 2; i++) {
        pl_cybersource_merchant_txn_id(never[i], mti, sizeof mti);
        req_opts o = auth_opts(never[i]);
        o.ref = never[i];
        o.mti = mti;
        send(l, &o, &resp);
        assert_int_equal(resp.action, i == 0 ? PL_SIM_HOLD : PL_SIM_DROP);
        pl_sim_response_free(&resp);
        req_opts v = timeout_reversal_opts(NULL, "never.rev", mti);
        assert_string_equal(followon(l, &v, "242", NULL), "REJECT");
    }
    assert_int_equal(pl_sim_ledger_count(l), 0);

    /* 905: applied, the answer held; the timeout reversal finds it and releases it. */
    pl_cybersource_merchant_txn_id("r905", mti, sizeof mti);
    req_opts o = auth_opts("905.00");
    o.ref = "r905";
    o.mti = mti;
    send(l, &o, &resp);
    assert_int_equal(resp.action, PL_SIM_HOLD);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), 1);
    req_opts v = timeout_reversal_opts(NULL, "r905.rev", mti);
    reply r = answer(l, &v, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:amount"), "905.00");
    free_reply(&r);
    pl_sim_response_free(&resp);
    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 2);
    assert_string_equal(sim_test_row_field(j, 0, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 0, "ref"), "r905");
    assert_string_equal(sim_test_row_field(j, 1, "op"), "reversal");
    assert_string_equal(sim_test_row_field(j, 1, "ref"), "r905.rev");
    assert_string_equal(sim_test_row_field(j, 1, "amount"), "905.00");
    json_object_put(j);

    /* 906 (applied, dropped), reversed with its own amount: a timeout reversal never picks a
     * scenario of its own (its amount is the lost authorization's), so it is answered: 100,
     * in the query as ics_auth_reversal; a second one gets 237. */
    pl_cybersource_merchant_txn_id("r906", mti, sizeof mti);
    o = auth_opts("906.00");
    o.ref = "r906";
    o.mti = mti;
    send(l, &o, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    pl_sim_response_free(&resp);
    v = timeout_reversal_opts("906.00", "r906.rev", mti);
    r = answer(l, &v, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:amount"), "906.00");
    free_reply(&r);
    pl_sim_response_free(&resp);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r906.rev", &t), 0);
    assert_string_equal(t.op, "reversal");
    assert_string_equal(t.decision, "ACCEPT");
    assert_int_equal(t.reason_code, 100);
    pl_sim_cyb_request q = query_record(l, t.request_id);
    assert_string_equal(q.apps[0].name, "ics_auth_reversal");
    assert_int_equal(q.apps[0].reason_code, 100);
    v = timeout_reversal_opts(NULL, "r906.rev2", mti);
    assert_string_equal(followon(l, &v, "237", NULL), "REJECT");
    assert_int_equal(pl_sim_ledger_count(l), 4);
}

/* ---- soft declines (the control route /__sim/cyb/soft_decline) ------------------------ */

/* Calls the control route; fails unless its status is want (and its body body, when given). */
static void expect_soft_decline_control(pl_sim_ledger *l, const char *method, const char *ref,
                                        const char *reason, unsigned want, const char *body)
{
    pl_sim_response resp;
    assert_int_equal(pl_sim_cyb_soft_decline_control(l, method, ref, reason, &resp), 0);
    assert_int_equal(resp.action, PL_SIM_ANSWER);
    assert_int_equal(resp.status, want);
    assert_string_equal(resp.content_type,
                        want == 200 ? "application/json" : "text/plain; charset=utf-8");
    if (body)
        assert_string_equal(resp.body, body);
    if (want == 400) {
        /* One line saying what the route expects. */
        assert_non_null(strstr(resp.body, "POST"));
        assert_non_null(strstr(resp.body, "200, 230 or 520"));
        assert_ptr_equal(strchr(resp.body, '\n'), resp.body + resp.body_len - 1);
    }
    pl_sim_response_free(&resp);
}

static void arm_soft_decline(pl_sim_ledger *l, const char *ref, const char *reason)
{
    char body[128];
    snprintf(body, sizeof body, "{\"ref\":\"%s\",\"reason\":%s}", ref, reason);
    expect_soft_decline_control(l, "POST", ref, reason, 200, body);
}

/* The reply's requestID, into id (32 bytes). */
static void copy_request_id(reply *r, char *id)
{
    assert_true(snprintf(id, 32, "%s", get(r, "c:requestID")) < 32);
}

/* What the route refuses: another method, a missing or bad ref or reason. */
static void test_soft_decline_control(void **state)
{
    pl_sim_ledger *l = *state;
    char long_ref[PL_SIM_CYB_REF_MAX + 2];
    memset(long_ref, 'R', sizeof long_ref - 1);
    long_ref[sizeof long_ref - 1] = '\0';
    expect_soft_decline_control(l, "GET", "r1", "230", 400, NULL);
    expect_soft_decline_control(l, "PUT", "r1", "230", 400, NULL);
    expect_soft_decline_control(l, "POST", NULL, "230", 400, NULL);
    expect_soft_decline_control(l, "POST", "", "230", 400, NULL);
    expect_soft_decline_control(l, "POST", long_ref, "230", 400, NULL);
    expect_soft_decline_control(l, "POST", "r1", NULL, 400, NULL);
    expect_soft_decline_control(l, "POST", "r1", "", 400, NULL);
    expect_soft_decline_control(l, "POST", "r1", "231", 400, NULL);
    expect_soft_decline_control(l, "POST", "r1", "2300", 400, NULL);
    expect_soft_decline_control(l, "POST", "r1", "0230", 400, NULL);
    expect_soft_decline_control(l, "POST", "r1", "230 ", 400, NULL);
    /* The ledger refuses them as well. */
    assert_int_equal(pl_sim_ledger_cyb_soft_decline_set(l, "r1", 204), PL_ERR_INVALID);
    assert_int_equal(pl_sim_ledger_cyb_soft_decline_set(l, long_ref, 230), PL_ERR_INVALID);
    assert_int_equal(pl_sim_ledger_cyb_soft_decline_set(l, NULL, 230), PL_ERR_INVALID);

    /* None of them armed anything. */
    pl_sim_response resp;
    req_opts o = auth_opts("10.00");
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* The longest reference is armed; arming again replaces the reason. */
    long_ref[PL_SIM_CYB_REF_MAX] = '\0';
    arm_soft_decline(l, long_ref, "200");
    arm_soft_decline(l, long_ref, "520");
    o.ref = long_ref;
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "520");
    free_reply(&r);
    pl_sim_response_free(&resp);
}

/* An armed 230: the issuer's approval is applied and reversible, the answer is REJECT 230, and
 * the next authorization of the reference is approved as usual. */
static void test_soft_decline_auth(void **state)
{
    pl_sim_ledger *l = *state;
    arm_soft_decline(l, "r1", "230");

    /* Another reference goes by. */
    pl_sim_response resp;
    req_opts o = auth_opts("120.00");
    o.ref = "r2";
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    free_reply(&r);
    pl_sim_response_free(&resp);

    sim_test_log log;
    sim_test_log_begin(&log);
    o.ref = "r1";
    r = answer(l, &o, &resp);
    const char *logbuf = sim_test_log_end(&log);
    assert_non_null(strstr(logbuf, "scenario=soft_decline decision=REJECT reason=230"));
    sim_test_log_free(&log);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "230");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "230");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "120.00");
    char auth_code[8], auth_id[32];
    assert_true(snprintf(auth_code, sizeof auth_code, "%s",
                         get(&r, "c:ccAuthReply/c:authorizationCode")) < (int)sizeof auth_code);
    assert_true(sim_test_matches(auth_code, "^[0-9]{6}$"));
    assert_string_equal(get(&r, "c:ccAuthReply/c:avsCode"), "Y");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCode"), "N");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCodeRaw"), "N");
    assert_string_equal(get(&r, "c:ccAuthReply/c:processorResponse"), "00");
    assert_true(sim_test_matches(get(&r, "c:ccAuthReply/c:reconciliationID"), "^[0-9A-Z]{16}$"));
    assert_int_equal(count(&r, "//c:afsReply"), 0);
    copy_request_id(&r, auth_id);
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* The funds are held: an auth effect, answered REJECT 230. */
    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 2);
    assert_string_equal(sim_test_row_field(j, 1, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 1, "ref"), "r1");
    assert_string_equal(sim_test_row_field(j, 1, "amount"), "120.00");
    assert_string_equal(sim_test_row_field(j, 1, "bureau_id"), auth_id);
    json_object_put(j);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r1", &t), 0);
    assert_string_equal(t.op, "auth");
    assert_string_equal(t.decision, "REJECT");
    assert_int_equal(t.reason_code, 230);
    assert_string_equal(t.request_id, auth_id);
    assert_int_equal(t.amount, 12000);
    /* The Single Transaction Query's record: REJECT 230, ics_auth 230, the auth code. */
    pl_sim_cyb_request q = query_record(l, auth_id);
    assert_string_equal(q.decision, "REJECT");
    assert_int_equal(q.reason_code, 230);
    assert_int_equal(q.napps, 1);
    assert_string_equal(q.apps[0].name, "ics_auth");
    assert_int_equal(q.apps[0].reason_code, 230);
    assert_string_equal(q.auth_code, auth_code);
    assert_int_equal(q.amount, 12000);
    assert_int_equal(q.cvn, 'N');

    /* The reversal of the soft-declined authorization releases it. */
    req_opts v = followon_opts("120.00");
    v.ref = "r1.rev";
    v.reversal = true;
    v.reversal_auth_id = auth_id;
    r = answer(l, &v, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReversalReply/c:amount"), "120.00");
    free_reply(&r);
    pl_sim_response_free(&resp);
    j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 3);
    assert_string_equal(sim_test_row_field(j, 2, "op"), "reversal");
    assert_string_equal(sim_test_row_field(j, 2, "ref"), "r1.rev");
    assert_string_equal(sim_test_row_field(j, 2, "amount"), "120.00");
    json_object_put(j);

    /* Spent: the reference's next authorization is approved. */
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "ACCEPT");
    assert_string_equal(get(&r, "c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "100");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCode"), "M");
    free_reply(&r);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), 4);
}

/* 200 fails the AVS check, 520 Smart Authorization; a timeout reversal finds the authorization
 * by its merchantTransactionIdentifier, as any approval's. */
static void test_soft_decline_reasons(void **state)
{
    pl_sim_ledger *l = *state;
    char mti[PL_CYBERSOURCE_MTI_DIGITS + 1];
    pl_cybersource_merchant_txn_id("r1", mti, sizeof mti);
    arm_soft_decline(l, "r1", "200");
    pl_sim_response resp;
    req_opts o = auth_opts("75.00");
    o.mti = mti;
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "200");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "200");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "75.00");
    assert_true(sim_test_matches(get(&r, "c:ccAuthReply/c:authorizationCode"), "^[0-9]{6}$"));
    assert_string_equal(get(&r, "c:ccAuthReply/c:avsCode"), "N");
    assert_string_equal(get(&r, "c:ccAuthReply/c:avsCodeRaw"), "N");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCode"), "M");
    free_reply(&r);
    pl_sim_response_free(&resp);
    req_opts v = timeout_reversal_opts("75.00", "r1.rev", mti);
    assert_string_equal(followon(l, &v, "100", NULL), "ACCEPT");

    arm_soft_decline(l, "r2", "520");
    o = auth_opts("76.00");
    o.ref = "r2";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "520");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "520");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "76.00");
    assert_string_equal(get(&r, "c:ccAuthReply/c:avsCode"), "Y");
    assert_string_equal(get(&r, "c:ccAuthReply/c:cvCode"), "M");
    free_reply(&r);
    pl_sim_response_free(&resp);

    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 3);
    assert_string_equal(sim_test_row_field(j, 0, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 1, "op"), "reversal");
    assert_string_equal(sim_test_row_field(j, 2, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 2, "amount"), "76.00");
    json_object_put(j);
}

/* auth+capture and token+auth: the authorization holds the funds, nothing else happens. */
static void test_soft_decline_with_capture_or_token(void **state)
{
    pl_sim_ledger *l = *state;
    arm_soft_decline(l, "r1", "230");
    pl_sim_response resp;
    req_opts o = auth_opts("100.00");
    o.capture = true;
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "230");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "230");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "100.00");
    assert_int_equal(count(&r, "//c:ccCaptureReply"), 0);
    char auth_id[32];
    copy_request_id(&r, auth_id);
    free_reply(&r);
    pl_sim_response_free(&resp);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r1", &t), 0);
    assert_string_equal(t.op, "auth_capture");
    assert_string_equal(t.decision, "REJECT");
    assert_int_equal(t.reason_code, 230);
    /* The sale was refused as a whole: the capture that did not run shows the same reason. */
    pl_sim_cyb_request q = query_record(l, auth_id);
    assert_int_equal(q.napps, 2);
    assert_string_equal(q.apps[0].name, "ics_auth");
    assert_int_equal(q.apps[0].reason_code, 230);
    assert_string_equal(q.apps[1].name, "ics_bill");
    assert_int_equal(q.apps[1].reason_code, 230);
    assert_true(q.auth_code[0] != '\0');

    arm_soft_decline(l, "r2", "520");
    o = auth_opts("20.00");
    o.ref = "r2";
    o.token = true;
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "520");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "20.00");
    assert_int_equal(count(&r, "//c:paySubscriptionCreateReply"), 0);
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* Two authorizations; no capture, no token. */
    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 2);
    assert_string_equal(sim_test_row_field(j, 0, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 0, "amount"), "100.00");
    assert_string_equal(sim_test_row_field(j, 1, "op"), "auth");
    assert_string_equal(sim_test_row_field(j, 1, "ref"), "r2");
    json_object_put(j);

    /* The soft-declined sale's authorization is reversed, not captured. */
    req_opts v = followon_opts("100.00");
    v.ref = "r1.rev";
    v.reversal = true;
    v.reversal_auth_id = auth_id;
    assert_string_equal(followon(l, &v, "100", NULL), "ACCEPT");
}

/*
 * Only a request that would be accepted takes the soft decline: a declined card, an error, a
 * fault scenario, a request refused for its fields and Decision Manager's REVIEW and REJECT
 * keep their answers and leave it armed. A reset clears it.
 */
static void test_soft_decline_only_when_accepted(void **state)
{
    pl_sim_ledger *l = *state;
    arm_soft_decline(l, "r1", "230");
    pl_sim_response resp;
    req_opts o = auth_opts("204.00");
    assert_string_equal(followon(l, &o, "204", NULL), "REJECT");
    o.amount = "150.00";
    assert_string_equal(followon(l, &o, "150", NULL), "ERROR");
    o.amount = "12.345";
    assert_string_equal(followon(l, &o, "102", NULL), "REJECT");
    o.amount = "400.00";
    assert_string_equal(followon(l, &o, "400", NULL), "REJECT");
    o.amount = "904.00";
    send(l, &o, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    pl_sim_response_free(&resp);
    o.amount = "480.00";
    o.dm = true;
    assert_string_equal(followon(l, &o, "480", NULL), "REVIEW");
    o.amount = "481.00";
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "481");
    assert_string_equal(get(&r, "c:ccAuthReply/c:reasonCode"), "100");
    free_reply(&r);
    pl_sim_response_free(&resp);
    /* A follow-on of the reference runs no ccAuthService. */
    req_opts v = followon_opts("10.00");
    v.reversal = true;
    v.reversal_auth_id = "9999999999999999999999";
    assert_string_equal(followon(l, &v, "102", NULL), "REJECT");

    /* Still armed: Decision Manager accepts, then CyberSource soft declines. */
    o.amount = "60.00";
    char auth_id[32];
    assert_string_equal(followon(l, &o, "230", auth_id), "REJECT");
    pl_sim_cyb_request q = query_record(l, auth_id);
    assert_int_equal(q.napps, 3);
    assert_string_equal(q.apps[0].name, "ics_auth");
    assert_int_equal(q.apps[0].reason_code, 230);
    assert_string_equal(q.apps[1].name, "ics_score");
    assert_string_equal(q.apps[2].name, "ics_decision");
    assert_int_equal(q.apps[2].reason_code, 100);
    /* REVIEW, 481 and the soft decline held funds; the declines and faults nothing. */
    assert_int_equal(pl_sim_ledger_count(l), 3);

    /* A partial approval is soft declined with the approved half. */
    arm_soft_decline(l, "r2", "200");
    o = auth_opts("110.00");
    o.ref = "r2";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "200");
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "55.00");
    assert_string_equal(get(&r, "c:ccAuthReply/c:requestAmount"), "110.00");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* A reset clears what is armed. */
    arm_soft_decline(l, "r3", "520");
    pl_sim_ledger_reset(l);
    o = auth_opts("10.00");
    o.ref = "r3";
    assert_string_equal(followon(l, &o, "100", NULL), "ACCEPT");
}

static void test_missing_and_invalid_fields(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    req_opts o = auth_opts(NULL);
    o.ref = NULL;
    o.currency = NULL;
    o.pan = NULL;
    reply r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "101");
    assert_int_equal(count(&r, "//c:missingField[.='c:merchantReferenceCode']"), 1);
    assert_int_equal(count(&r, "//c:missingField[.='c:purchaseTotals/c:currency']"), 1);
    assert_int_equal(count(&r, "//c:missingField[.='c:purchaseTotals/c:grandTotalAmount']"), 1);
    assert_int_equal(count(&r, "//c:missingField[.='c:card/c:accountNumber']"), 1);
    free_reply(&r);
    pl_sim_response_free(&resp);

    o = auth_opts("12.345");
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    assert_string_equal(get(&r, "c:invalidField"), "c:purchaseTotals/c:grandTotalAmount");
    free_reply(&r);
    pl_sim_response_free(&resp);

    o = auth_opts("12.00");
    o.ref = "r-a-reference-code-that-is-longer-than-fifty-characters-long";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    assert_string_equal(get(&r, "c:invalidField"), "c:merchantReferenceCode");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* No service requested, and two that do not go together. */
    o = auth_opts("12.00");
    o.auth = false;
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    free_reply(&r);
    pl_sim_response_free(&resp);
    o = auth_opts("12.00");
    o.credit = true;
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    assert_string_equal(get(&r, "c:invalidField"), "c:ccCreditService");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* A capture of nothing. */
    o = followon_opts("0.00");
    o.capture = true;
    o.capture_auth_id = "1234";
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    assert_string_equal(get(&r, "c:invalidField"), "c:purchaseTotals/c:grandTotalAmount");
    free_reply(&r);
    pl_sim_response_free(&resp);

    /* A capture without the authorization it captures. */
    o = followon_opts("12.00");
    o.capture = true;
    r = answer(l, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "101");
    assert_string_equal(get(&r, "c:missingField"), "c:ccCaptureService/c:authRequestID");
    free_reply(&r);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), 0);
}

static void test_card_checks(void **state)
{
    pl_sim_response resp;
    req_opts o = auth_opts("10.00");
    o.pan = "4111111111111112";
    reply r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:decision"), "REJECT");
    assert_string_equal(get(&r, "c:reasonCode"), "231");
    free_reply(&r);
    pl_sim_response_free(&resp);

    o = auth_opts("10.00");
    o.exp_year = "2001";
    r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "202");
    free_reply(&r);
    pl_sim_response_free(&resp);

    o = auth_opts("10.00");
    o.exp_month = "13";
    r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:reasonCode"), "102");
    assert_string_equal(get(&r, "c:invalidField"), "c:card/c:expirationMonth");
    free_reply(&r);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(*state), 0);
}

static void test_amount_from_items(void **state)
{
    pl_sim_response resp;
    req_opts o = auth_opts(NULL);
    o.item_price = "102.00";
    o.item_qty = "2";
    reply r = answer(*state, &o, &resp);
    /* 2 × 102.00 = 204.00: the insufficient-funds scenario. */
    assert_string_equal(get(&r, "c:reasonCode"), "204");
    free_reply(&r);
    pl_sim_response_free(&resp);

    o.item_qty = "1";
    r = answer(*state, &o, &resp);
    assert_string_equal(get(&r, "c:ccAuthReply/c:amount"), "102.00");
    free_reply(&r);
    pl_sim_response_free(&resp);
}

static void test_card_number_never_logged(void **state)
{
    sim_test_log log;
    sim_test_log_begin(&log);

    pl_sim_response resp;
    req_opts o = auth_opts("10.00");
    send(*state, &o, &resp);
    pl_sim_response_free(&resp);
    o.amount = "204.00";
    send(*state, &o, &resp);
    pl_sim_response_free(&resp);
    o.amount = "901.00";
    send(*state, &o, &resp);
    pl_sim_response_free(&resp);
    o.password = "bad-key";
    send(*state, &o, &resp);
    pl_sim_response_free(&resp);
    const char broken[] = "<soap:Envelope><card><accountNumber>4111111111111111</accountNumber>";
    send_raw(*state, broken, sizeof broken - 1, &resp);
    pl_sim_response_free(&resp);

    const char *logbuf = sim_test_log_end(&log);
    assert_null(strstr(logbuf, PAN));
    assert_null(strstr(logbuf, "411111"));
    /* What a reader of the log gets instead: the last four. */
    assert_non_null(strstr(logbuf, "************1111"));
    sim_test_log_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SIM_LEDGER_TEST(test_approval_shape),
        SIM_LEDGER_TEST(test_reply_namespace_follows_request),
        SIM_LEDGER_TEST(test_avs_cvn_no_match),
        SIM_LEDGER_TEST(test_partial_approval),
        SIM_LEDGER_TEST(test_error_150),
        SIM_LEDGER_TEST(test_declines),
        SIM_LEDGER_TEST(test_fraud_score_400),
        SIM_LEDGER_TEST(test_decision_manager),
        SIM_LEDGER_TEST(test_transport_faults),
        SIM_LEDGER_TEST(test_authentication),
        SIM_LEDGER_TEST(test_malformed_input),
        SIM_LEDGER_TEST(test_token_lifecycle),
        SIM_LEDGER_TEST(test_token_and_auth_together),
        SIM_LEDGER_TEST(test_auth_capture_then_credit),
        SIM_LEDGER_TEST(test_capture_and_reversal_rules),
        SIM_LEDGER_TEST(test_timeout_reversal),
        SIM_LEDGER_TEST(test_timeout_reversal_of_lost_answers),
        SIM_LEDGER_TEST(test_soft_decline_control),
        SIM_LEDGER_TEST(test_soft_decline_auth),
        SIM_LEDGER_TEST(test_soft_decline_reasons),
        SIM_LEDGER_TEST(test_soft_decline_with_capture_or_token),
        SIM_LEDGER_TEST(test_soft_decline_only_when_accepted),
        SIM_LEDGER_TEST(test_missing_and_invalid_fields),
        SIM_LEDGER_TEST(test_card_checks),
        SIM_LEDGER_TEST(test_amount_from_items),
        SIM_LEDGER_TEST(test_card_number_never_logged),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
