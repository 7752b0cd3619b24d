/*
 * test_sim_relate.c: the simulated Customer Engagement stored value service
 * (tools/sim/sim_relate.h). Requests are the seed's samples (customer-engagement-stored-value-
 * card.txt, verbatim in tests/fixtures/relate/, which test_bureau_relate.c compares the
 * adapter with) wrapped in the seed's SOAP envelope, with fields changed through libxml2 where
 * a test needs another card, order, amount or SVATransactionID; answers are read back with
 * XPath; the ledger and the query records show what was applied. The handler is called
 * directly, except for the last test, which goes through the HTTPS server in-process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "log.h"
#include "sim_ledger.h"
#include "sim_relate.h"
#include "sim_server.h"
#include "sim_bureau_test.h"
#include "sim_test_helpers.h"
#include "sim_xml.h"
#include "xml_test_helpers.h"

#define PAN "4105138386844793"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define TIME_ZONED "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4}$"
#define TIME_PLAIN "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"

/* ---- building requests --------------------------------------------------------------------- */

/* A field to change under the message: path of element names, and its new text. */
typedef struct field {
    const char *path;
    const char *value; /* REMOVE: take the element out */
} field;

static const char REMOVE[] = "(remove)";

/* The seed's samples of tests/fixtures/relate/: the two whole requests the seed shows (the
 * activation shows its card masked, "************4793"), and the messages it shows without
 * their envelope, which build() puts into the generate envelope in place of its message. */
#define GENERATE_ENVELOPE "generate_card_request.xml"
#define ACTIVATE_ENVELOPE "activate_instrument_request.xml"

typedef struct msg_kind {
    const char *action;   /* ARTSAction */
    const char *fixture;  /* the message alone, or NULL: the envelope's own (generate/activate) */
    const char *envelope; /* the request whose envelope carries it */
} msg_kind;

static const msg_kind K_GENERATE = {"GenerateCard", NULL, GENERATE_ENVELOPE};
static const msg_kind K_ACTIVATE = {"ActivateInstrumentRequest", NULL, ACTIVATE_ENVELOPE};
static const msg_kind K_RECHARGE = {"RechargeRequest", "recharge_request.xml", GENERATE_ENVELOPE};
static const msg_kind K_PREAUTH = {"PreauthorizationRequest", "preauthorization_request.xml",
                                   GENERATE_ENVELOPE};
static const msg_kind K_POSTAUTH = {"PostauthorizationRequest", "postauthorization_request.xml",
                                    GENERATE_ENVELOPE};
static const msg_kind K_RETURN = {"ReturnRequest", "return_request.xml", GENERATE_ENVELOPE};
static const msg_kind K_INQUIRY = {"InquiryRequest", "inquiry_request.xml", GENERATE_ENVELOPE};
static const msg_kind K_VOID = {"VoidRequest", "void_request.xml", GENERATE_ENVELOPE};

/* A sample of tests/fixtures/relate/ parsed (the caller frees it). */
static xmlDocPtr sample_doc(const char *name, int options)
{
    size_t len = 0;
    char *text = xml_test_read_fixture("relate", name, &len);
    assert_non_null(text);
    xmlDocPtr doc = xmlReadMemory(text, (int)len, NULL, NULL, options);
    free(text);
    assert_non_null(doc);
    return doc;
}

/* The element at a '/'-separated path of names under parent (no namespace), or NULL. */
static xmlNodePtr find_path(xmlNodePtr parent, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    xmlNodePtr node = parent;
    for (char *save = NULL, *step = strtok_r(buf, "/", &save); step && node;
         step = strtok_r(NULL, "/", &save)) {
        xmlNodePtr next = NULL;
        for (xmlNodePtr c = node->children; c && !next; c = c->next)
            if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, step) == 0)
                next = c;
        node = next;
    }
    return node;
}

/* The request of kind k with fields changed (fields NULL-terminated, may be NULL). */
static char *build(const msg_kind *k, const field *fields, size_t *len)
{
    xmlDocPtr doc = sample_doc(k->envelope, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    xmlXPathContextPtr xp = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xp, BAD_CAST "dtv", BAD_CAST PL_SIM_RELATE_DTV_NS);
    xmlXPathObjectPtr o = xml_test_eval(xp, "//dtv:ARTSData");
    assert_int_equal(o->nodesetval->nodeNr, 1);
    xmlNodePtr data = o->nodesetval->nodeTab[0];
    xmlXPathFreeObject(o);
    o = xml_test_eval(xp, "//dtv:ARTSAction");
    xmlNodeSetContent(o->nodesetval->nodeTab[0], BAD_CAST k->action);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(xp);

    if (k->fixture) {
        xmlNodePtr old = pl_sim_xml_first_element(data);
        xmlUnlinkNode(old);
        xmlFreeNode(old);
        xmlDocPtr m = sample_doc(k->fixture, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
        xmlAddChild(data, xmlDocCopyNode(xmlDocGetRootElement(m), doc, 1));
        xmlFreeDoc(m);
    }
    xmlNodePtr msg = pl_sim_xml_first_element(data);
    for (const field *f = fields; f && f->path; f++) {
        xmlNodePtr n = find_path(msg, f->path);
        assert_non_null(n);
        if (f->value == REMOVE) {
            xmlUnlinkNode(n);
            xmlFreeNode(n);
        } else {
            xmlNodeSetContent(n, NULL);
            xmlNodeAddContent(n, BAD_CAST f->value);
        }
    }
    char *out = xml_test_dump(doc, len);
    xmlFreeDoc(doc);
    return out;
}

/* The X-Paylink-Issue-Amount header of the next request (NULL: none); send_raw clears it. */
static const char *next_issue_amount;

static void send_raw(pl_sim_ledger *l, const char *body, size_t len, pl_sim_response *resp)
{
    pl_sim_http_req req = {.method = "POST",
                           .path = "/relateui/OMS/xmlapi",
                           .body = body,
                           .body_len = len,
                           .authorization = "Basic T01TOnNlY3JldA==",
                           .content_type = "text/xml",
                           .issue_amount = next_issue_amount};
    next_issue_amount = NULL;
    assert_int_equal(pl_sim_relate_handle(l, &req, resp), 0);
}

static void send_kind(pl_sim_ledger *l, const msg_kind *k, const field *fields,
                      pl_sim_response *resp)
{
    size_t len;
    char *body = build(k, fields, &len);
    send_raw(l, body, len, resp);
    free(body);
}

/* ---- reading answers ----------------------------------------------------------------------- */

typedef struct answer {
    pl_sim_response resp;
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
} answer;

static void parse_answer(answer *a)
{
    assert_int_equal(a->resp.action, PL_SIM_ANSWER);
    assert_non_null(a->resp.body);
    a->doc =
        xmlReadMemory(a->resp.body, (int)a->resp.body_len, "answer.xml", NULL, XML_PARSE_NONET);
    assert_non_null(a->doc);
    a->xp = xmlXPathNewContext(a->doc);
    xmlXPathRegisterNs(a->xp, BAD_CAST "a", BAD_CAST PL_SIM_RELATE_NS);
    xmlXPathRegisterNs(a->xp, BAD_CAST "xsi", BAD_CAST XSI_NS);
    xmlXPathRegisterNs(a->xp, BAD_CAST "soap",
                       BAD_CAST "http://schemas.xmlsoap.org/soap/envelope/");
}

/* Sends a request and reads the HTTP 200 text/xml answer. */
static void call(pl_sim_ledger *l, const msg_kind *k, const field *fields, answer *a)
{
    memset(a, 0, sizeof *a);
    send_kind(l, k, fields, &a->resp);
    assert_int_equal(a->resp.status, 200);
    assert_string_equal(a->resp.content_type, "text/xml; charset=utf-8");
    parse_answer(a);
}

static void done(answer *a)
{
    if (a->xp)
        xmlXPathFreeContext(a->xp);
    if (a->doc)
        xmlFreeDoc(a->doc);
    pl_sim_response_free(&a->resp);
    memset(a, 0, sizeof *a);
}

/* The string value of an XPath expression ("" when absent), in a buffer of the thread. */
static const char *xstr(answer *a, const char *expr)
{
    return xml_test_xstr(a->xp, expr);
}

/* The text at a path of names under the root ("SVATransaction/Reason/Code", "@ResponseCode"),
 * every element step in the answer's namespace. */
static const char *get(answer *a, const char *path)
{
    char expr[400] = "string(/*";
    size_t n = strlen(expr);
    char buf[200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *step = strtok_r(buf, "/", &save); step;
         step = strtok_r(NULL, "/", &save))
        n += (size_t)snprintf(expr + n, sizeof expr - n, step[0] == '@' ? "/%s" : "/a:%s", step);
    snprintf(expr + n, sizeof expr - n, ")");
    return xstr(a, expr);
}

static int count(answer *a, const char *expr)
{
    return xml_test_count(a->xp, expr);
}

/* The root is name, in the ARTS namespace, with the seed's schemaLocation. */
static void assert_root(answer *a, const char *name, const char *schema)
{
    xmlNodePtr root = xmlDocGetRootElement(a->doc);
    assert_string_equal((const char *)root->name, name);
    assert_non_null(root->ns);
    assert_null(root->ns->prefix);
    assert_string_equal((const char *)root->ns->href, PL_SIM_RELATE_NS);
    xmlChar *loc = xmlGetNsProp(root, BAD_CAST "schemaLocation", BAD_CAST XSI_NS);
    assert_non_null(loc);
    assert_string_equal((const char *)loc, schema);
    xmlFree(loc);
    /* Like the seed's samples: the document alone, no XML declaration. */
    assert_true(strncmp(a->resp.body, "<", 1) == 0 && strncmp(a->resp.body, "<?xml", 5) != 0);
}

#define SCHEMA_SV "http://xml.datavantagecorp.com/namespace/crm/DTVStoredValue.xsd"
#define SCHEMA_SERIES "http://xml.datavantagecorp.com/namespace/crm/DTVCardSeriesMaintenance.xsd"

/* The seed's declined shape: DateTime, then item with ResponseCode="Rejected", ErrorCode and
 * ResponseDescription, and nothing else. */
static void assert_rejected(answer *a, const char *root, const char *item, const char *code)
{
    assert_root(a, root, strcmp(root, "CardSeriesMaintenance") == 0 ? SCHEMA_SERIES : SCHEMA_SV);
    assert_int_equal(count(a, "/*/*"), 2);
    assert_true(sim_test_matches(get(a, "DateTime"), TIME_PLAIN));
    char path[96];
    snprintf(path, sizeof path, "%s/@ResponseCode", item);
    assert_string_equal(get(a, path), "Rejected");
    snprintf(path, sizeof path, "%s/ErrorCode", item);
    assert_string_equal(get(a, path), code);
    snprintf(path, sizeof path, "%s/ResponseDescription", item);
    assert_true(strlen(get(a, path)) > 0);
    snprintf(path, sizeof path, "string(count(/*/a:%s/*))", item);
    assert_string_equal(xstr(a, path), "2");
}

/* Calls and checks that the answer is root's declined shape with code. */
static void expect_rejected(pl_sim_ledger *l, const msg_kind *k, const field *fields,
                            const char *root, const char *code)
{
    answer a;
    call(l, k, fields, &a);
    assert_rejected(&a, root, k == &K_GENERATE ? "CardSeries" : "SVATransaction", code);
    done(&a);
}

/* An approved stored value answer: the seed's elements, in the seed's order. */
static void assert_approved(answer *a, const char *root, const char *code, const char *status,
                            const char *balance, const char *amount)
{
    assert_root(a, root, SCHEMA_SV);
    assert_string_equal(xstr(a, "name(/*/*[1])"), "InstrumentState");
    assert_string_equal(xstr(a, "name(/*/*[2])"), "AccountState");
    assert_string_equal(xstr(a, "name(/*/*[3])"), "SVATransaction");
    assert_int_equal(count(a, "/*/*"), 3);
    assert_string_equal(get(a, "InstrumentState/Status"), status);
    assert_true(sim_test_matches(get(a, "AccountState/AccountID"), "^[0-9]+$"));
    assert_string_equal(get(a, "AccountState/AccountStatus"), status);
    assert_string_equal(get(a, "AccountState/Balance/Amount"), balance);
    assert_string_equal(get(a, "AccountState/Balance/Currency"), "USD");
    assert_true(sim_test_matches(get(a, "AccountState/EffectiveDate"), TIME_ZONED));
    assert_string_equal(get(a, "AccountState/AccountType"), "SVC");
    assert_string_equal(xstr(a, "name(/*/a:AccountState/*[1])"), "AccountID");
    assert_string_equal(xstr(a, "name(/*/a:AccountState/*[5])"), "AccountType");

    char id[32];
    snprintf(id, sizeof id, "%s", get(a, "SVATransaction/SVATransactionID"));
    assert_true(sim_test_matches(id, "^[0-9]{9,10}$"));
    assert_string_equal(get(a, "SVATransaction/Reason/Description"), root);
    assert_string_equal(get(a, "SVATransaction/Reason/Code"), code);
    assert_string_equal(get(a, "SVATransaction/SVAAmount/CurrencyID"), "USD");
    assert_string_equal(get(a, "SVATransaction/SVAAmount/Amount"), amount);
    assert_true(sim_test_matches(get(a, "SVATransaction/TransactionDateTime"), TIME_ZONED));
    /* seed: "0000009354000382", the SVATransactionID in 10 digits then 6 more */
    const char *auth = get(a, "SVATransaction/AuthNumber");
    assert_true(sim_test_matches(auth, "^[0-9]{16}$"));
    char padded[16];
    snprintf(padded, sizeof padded, "%010llu", strtoull(id, NULL, 10));
    assert_true(strncmp(auth, padded, 10) == 0);
    assert_string_equal(xstr(a, "name(/*/a:SVATransaction/*[1])"), "SVATransactionID");
    assert_string_equal(xstr(a, "name(/*/a:SVATransaction/*[last()])"), "AuthNumber");
}

/* Calls and checks an approved answer; id (may be NULL) receives the SVATransactionID. */
static void expect_approved(pl_sim_ledger *l, const msg_kind *k, const field *fields,
                            const char *root, const char *code, const char *balance,
                            const char *amount, char *id, size_t idsize)
{
    answer a;
    call(l, k, fields, &a);
    assert_approved(&a, root, code, "Active", balance, amount);
    if (id)
        snprintf(id, idsize, "%s", get(&a, "SVATransaction/SVATransactionID"));
    done(&a);
}

/* Activates the seed's card PAN with amount on it. */
static void activate_pan(pl_sim_ledger *l, const char *amount)
{
    const field card[] = {
        {"Instrument/CardNumber", PAN}, {"RTPTransaction/RTPAmount/Amount", amount}, {NULL, NULL}};
    expect_approved(l, &K_ACTIVATE, card, "ActivateInstrumentResponse", "2", amount, amount, NULL,
                    0);
}

/* GenerateCard for a series; card receives the new number. */
static void generate(pl_sim_ledger *l, const char *prefix, const char *sequence, char *card,
                     size_t cardsize)
{
    const field f[] = {{"CardSeries/CardPrefix", prefix},
                       {"CardSeries/CardSeriesSequence", sequence},
                       {NULL, NULL}};
    answer a;
    call(l, &K_GENERATE, f, &a);
    assert_string_equal(get(&a, "CardSeries/@ResponseCode"), "OK");
    snprintf(card, cardsize, "%s", get(&a, "CardSeries/Instrument/CardNumber"));
    done(&a);
}

typedef sim_test_ledger_row ledger_row;
#define ASSERT_LEDGER(l, rows) SIM_TEST_ASSERT_LEDGER((l), "RLT", (rows))

/* ---- fixtures ------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    return xml_test_group_setup(state);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_route(void **state)
{
    (void)state;
    assert_true(pl_sim_relate_path_match("/relateui/OMS/xmlapi"));
    assert_true(pl_sim_relate_path_match("/relateui/a1B2c3D4e5/xmlapi"));
    assert_true(pl_sim_relate_path_match("/relateui/7/xmlapi"));
    assert_false(pl_sim_relate_path_match("/relateui//xmlapi"));
    assert_false(pl_sim_relate_path_match("/relateui/a1B2c3D4e5F/xmlapi"));
    assert_false(pl_sim_relate_path_match("/relateui/OM-S/xmlapi"));
    assert_false(pl_sim_relate_path_match("/relateui/OMS/xmlapi/"));
    assert_false(pl_sim_relate_path_match("/relateui/OMS/xmlap"));
    assert_false(pl_sim_relate_path_match("/relateui/OMS"));
    assert_false(pl_sim_relate_path_match("/rlt/ProcessXML"));
    assert_false(pl_sim_relate_path_match(NULL));
    assert_string_equal(pl_sim_relate_proto.protocol, "RLT");
    assert_string_equal(pl_sim_relate_proto.method, "POST");
}

static void test_generate_card(void **state)
{
    pl_sim_ledger *l = *state;
    answer a;
    call(l, &K_GENERATE, NULL, &a);
    assert_root(&a, "CardSeriesMaintenance", SCHEMA_SERIES);
    assert_true(sim_test_matches(get(&a, "DateTime"), TIME_PLAIN));
    assert_string_equal(get(&a, "CardSeries/@ResponseCode"), "OK");
    assert_string_equal(get(&a, "CardSeries/CardPrefix"), "85749");
    assert_string_equal(get(&a, "CardSeries/CardSeriesSequence"), "06");
    /* seed: InstrumentID 8574906001000001 */
    assert_string_equal(get(&a, "CardSeries/Instrument/InstrumentID"), "8574906001000001");
    assert_string_equal(get(&a, "CardSeries/Instrument/CardNumber"), "8574906000000001");
    assert_string_equal(get(&a, "CardSeries/Instrument/BatchNumber"), "001");
    assert_string_equal(xstr(&a, "name(/*/*[1])"), "DateTime");
    assert_string_equal(xstr(&a, "name(/*/a:CardSeries/*[3])"), "Instrument");
    done(&a);

    char card[32];
    generate(l, "85749", "06", card, sizeof card);
    assert_string_equal(card, "8574906000000002");
    generate(l, "4", "1", card, sizeof card);
    assert_string_equal(card, "4100000000000001");

    const ledger_row rows[] = {
        {"generate", "85749-06", "0.00", "8574906001000001"},
        {NULL, NULL, NULL, NULL},
        {"generate", "4-1", "0.00", NULL},
    };
    ASSERT_LEDGER(l, rows);

    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "85749-06", &t), 0);
    assert_string_equal(t.protocol, "RLT");
    assert_string_equal(t.op, "generate");
    assert_string_equal(t.decision, "ACCEPT");
    assert_string_equal(t.request_id, "8574906001000002");

    /* Deterministic per series: after a reset the series starts over. */
    pl_sim_ledger_reset(l);
    generate(l, "85749", "06", card, sizeof card);
    assert_string_equal(card, "8574906000000001");

    /* A generated card is inactive with nothing on it until a recharge. */
    const field f[] = {{"Instrument/CardNumber", card}, {NULL, NULL}};
    call(l, &K_INQUIRY, f, &a);
    assert_approved(&a, "InquiryResponse", "16", "Inactive", "0.00", "0.00");
    done(&a);
    expect_rejected(l, &K_PREAUTH, f, "PreauthorizationResponse", "CARD_INACTIVE");

    /* A number a physical card already has is skipped. */
    const field phys[] = {{"Instrument/CardNumber", "8574906000000002"}, {NULL, NULL}};
    expect_approved(l, &K_ACTIVATE, phys, "ActivateInstrumentResponse", "2", "250.00", "250.00",
                    NULL, 0);
    generate(l, "85749", "06", card, sizeof card);
    assert_string_equal(card, "8574906000000003");
}

/* A GenerateCard answered with the seed's declined sample: ALL_CARDS_GENERATED. */
static void expect_all_generated(pl_sim_ledger *l)
{
    answer a;
    call(l, &K_GENERATE, NULL, &a);
    assert_rejected(&a, "CardSeriesMaintenance", "CardSeries", "ALL_CARDS_GENERATED");
    assert_string_equal(get(&a, "CardSeries/ResponseDescription"),
                        "All cards have been generated.");
    done(&a);
}

static void test_series_exhausted(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_response resp;
    assert_int_equal(pl_sim_relate_series_control(l, true, "85749", "06", "1", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(
        resp.body, "{\"prefix\":\"85749\",\"sequence\":\"06\",\"remaining\":1,\"generated\":0}");
    pl_sim_response_free(&resp);

    char card[32];
    generate(l, "85749", "06", card, sizeof card);
    /* seed: the declined sample, ALL_CARDS_GENERATED "All cards have been generated." */
    expect_all_generated(l);
    /* Another series is not affected. */
    generate(l, "85749", "07", card, sizeof card);
    assert_int_equal(pl_sim_ledger_count(l), 2);

    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "85749-06", &t), 0);
    assert_string_equal(t.decision, "REJECT");
    assert_string_equal(t.error_code, "ALL_CARDS_GENERATED");

    assert_int_equal(pl_sim_relate_series_control(l, false, "85749", "06", NULL, &resp), 0);
    assert_string_equal(
        resp.body, "{\"prefix\":\"85749\",\"sequence\":\"06\",\"remaining\":0,\"generated\":1}");
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_relate_series_control(l, true, "85749", "06", "unlimited", &resp), 0);
    assert_string_equal(
        resp.body, "{\"prefix\":\"85749\",\"sequence\":\"06\",\"remaining\":null,\"generated\":1}");
    pl_sim_response_free(&resp);
    generate(l, "85749", "06", card, sizeof card);
    assert_string_equal(card, "8574906000000002");

    /* Exhausted again, then a reset restores the default: unlimited. */
    assert_int_equal(pl_sim_relate_series_control(l, true, "85749", "06", "0", &resp), 0);
    pl_sim_response_free(&resp);
    expect_rejected(l, &K_GENERATE, NULL, "CardSeriesMaintenance", "ALL_CARDS_GENERATED");
    pl_sim_ledger_reset(l);
    generate(l, "85749", "06", card, sizeof card);

    /* Bad arguments. */
    static const char *const bad[][3] = {
        {NULL, "06", "1"},          {"85749", NULL, "1"},  {"85a49", "06", "1"},
        {"1234567890", "123", "1"}, {"85749", "06", NULL}, {"85749", "06", "-1"},
        {"85749", "06", "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            pl_sim_relate_series_control(l, true, bad[i][0], bad[i][1], bad[i][2], &resp), 0);
        assert_int_equal(resp.status, 400);
        pl_sim_response_free(&resp);
    }
    /* remaining is for POST only. */
    assert_int_equal(pl_sim_relate_series_control(l, false, "85749", "06", "3", &resp), 0);
    assert_int_equal(resp.status, 400);
    pl_sim_response_free(&resp);
}

/* CONTRACT.md §3: the issue amount of a generate (paylink's X-Paylink-Issue-Amount header)
 * picks the scenario: 909.xx finds the series exhausted, 901–906 are the faults, anything else
 * (or no header, or one that is not an amount) generates. */
static void test_generate_scenarios_by_issue_amount(void **state)
{
    pl_sim_ledger *l = *state;
    char card[32];

    next_issue_amount = "909.25";
    expect_all_generated(l);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "85749-06", &t), 0);
    assert_string_equal(t.decision, "REJECT");
    assert_string_equal(t.error_code, "ALL_CARDS_GENERATED");

    /* The series itself was not used up: the next generate gets its first number. */
    next_issue_amount = "25.00";
    generate(l, "85749", "06", card, sizeof card);
    assert_string_equal(card, "8574906000000001");
    next_issue_amount = "not an amount";
    generate(l, "85749", "06", card, sizeof card);
    assert_string_equal(card, "8574906000000002");
    assert_int_equal(pl_sim_ledger_count(l), 2);

    /* 902: HTTP 500 before anything is done; 904: the connection dropped, nothing applied. */
    pl_sim_response resp;
    next_issue_amount = "902.00";
    send_kind(l, &K_GENERATE, NULL, &resp);
    assert_int_equal(resp.status, 500);
    pl_sim_response_free(&resp);
    next_issue_amount = "904.00";
    send_kind(l, &K_GENERATE, NULL, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), 2);
    /* 906: a number is generated (in the ledger), then the answer is lost. */
    next_issue_amount = "906.00";
    send_kind(l, &K_GENERATE, NULL, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), 3);
    generate(l, "85749", "06", card, sizeof card);
    assert_string_equal(card, "8574906000000004");
}

static void test_activate_seed_sample(void **state)
{
    pl_sim_ledger *l = *state;
    answer a;
    /* The seed's sample as it stands: the card number is an opaque string to the service. */
    call(l, &K_ACTIVATE, NULL, &a);
    assert_approved(&a, "ActivateInstrumentResponse", "2", "Active", "250.00", "250.00");
    char id[32];
    snprintf(id, sizeof id, "%s", get(&a, "SVATransaction/SVATransactionID"));
    /* Only the postauthorization names a preauthorization. */
    assert_int_equal(count(&a, "//a:PreAuthSVATransactionID"), 0);
    done(&a);

    const ledger_row rows[] = {{"activate", "3239", "250.00", id}};
    ASSERT_LEDGER(l, rows);

    /* Activating an active card again applies nothing. */
    expect_rejected(l, &K_ACTIVATE, NULL, "ActivateInstrumentResponse", "CARD_ALREADY_ACTIVE");
    assert_int_equal(pl_sim_ledger_count(l), 1);

    /* The request's currency is echoed. */
    const field f[] = {{"Instrument/CardNumber", "5000000000000009"},
                       {"RTPTransaction/RTPAmount/CurrencyID", "CAD"},
                       {NULL, NULL}};
    call(l, &K_ACTIVATE, f, &a);
    assert_string_equal(get(&a, "AccountState/Balance/Currency"), "CAD");
    assert_string_equal(get(&a, "SVATransaction/SVAAmount/CurrencyID"), "CAD");
    done(&a);
}

/* The seed's samples in the order of a real order's life, on the seed's card 4105138386844793. */
static void test_seed_samples(void **state)
{
    pl_sim_ledger *l = *state;
    const field card[] = {{"Instrument/CardNumber", PAN}, {NULL, NULL}};
    expect_approved(l, &K_ACTIVATE, card, "ActivateInstrumentResponse", "2", "250.00", "250.00",
                    NULL, 0);

    char pre[32];
    expect_approved(l, &K_PREAUTH, NULL, "PreauthorizationResponse", "24", "238.93", "11.07", pre,
                    sizeof pre);

    const field post[] = {{"SVATransaction/SVATransactionID", pre}, {NULL, NULL}};
    answer a;
    call(l, &K_POSTAUTH, post, &a);
    assert_approved(&a, "PostauthorizationResponse", "26", "Active", "238.93", "11.07");
    assert_string_equal(get(&a, "SVATransaction/PreAuthSVATransactionID"), pre);
    assert_string_equal(get(&a, "SVATransaction/PreAuthSVAAmount/PreAuthCurrencyID"), "USD");
    assert_string_equal(get(&a, "SVATransaction/PreAuthSVAAmount/PreAuthAmount"), "0.00");
    /* seed order: SVATransactionID, PreAuthSVATransactionID, PreAuthSVAAmount, Reason, ... */
    assert_string_equal(xstr(&a, "name(/*/a:SVATransaction/*[2])"), "PreAuthSVATransactionID");
    assert_string_equal(xstr(&a, "name(/*/a:SVATransaction/*[3])"), "PreAuthSVAAmount");
    assert_string_equal(xstr(&a, "name(/*/a:SVATransaction/*[4])"), "Reason");
    done(&a);

    expect_approved(l, &K_RETURN, NULL, "ReturnResponse", "18", "249.80", "10.87", NULL, 0);
    expect_approved(l, &K_INQUIRY, NULL, "InquiryResponse", "16", "249.80", "0.00", NULL, 0);

    const field pre2[] = {{"RTPTransaction/RTPTransactionID", "3244"},
                          {"RTPTransaction/RTPAmount/Amount", "45.20"},
                          {NULL, NULL}};
    expect_approved(l, &K_PREAUTH, pre2, "PreauthorizationResponse", "24", "204.60", "45.20", pre,
                    sizeof pre);
    const field v[] = {{"SVATransaction/SVATransactionID", pre}, {NULL, NULL}};
    expect_approved(l, &K_VOID, v, "VoidResponse", "22", "249.80", "45.20", NULL, 0);

    /* The seed's recharge names a card nobody generated. */
    expect_rejected(l, &K_RECHARGE, NULL, "RechargeResponse", "CARD_NOT_FOUND");

    const ledger_row rows[] = {
        {"activate", "3239", "250.00", NULL}, {"auth", "3242", "11.07", NULL},
        {"deposit", "3242", "11.07", NULL},   {"return", "3242", "10.87", NULL},
        {"auth", "3244", "45.20", pre},       {"void", "3244", "45.20", NULL},
    };
    ASSERT_LEDGER(l, rows);
}

/* The brief's whole flow on a generated (virtual) card. */
static void test_virtual_card_flow(void **state)
{
    pl_sim_ledger *l = *state;
    char card[32];
    generate(l, "85749", "06", card, sizeof card);

    const field recharge[] = {{"Instrument/CardNumber", card},
                              {"RTPTransaction/RTPTransactionID", "O-1"},
                              {"RTPTransaction/RTPAmount/Amount", "50.00"},
                              {NULL, NULL}};
    expect_approved(l, &K_RECHARGE, recharge, "RechargeResponse", "8", "50.00", "50.00", NULL, 0);
    const field inquiry[] = {{"Instrument/CardNumber", card}, {NULL, NULL}};
    expect_approved(l, &K_INQUIRY, inquiry, "InquiryResponse", "16", "50.00", "0.00", NULL, 0);

    char pre1[32], pre2[32];
    const field preauth20[] = {{"Instrument/CardNumber", card},
                               {"RTPTransaction/RTPTransactionID", "O-2"},
                               {"RTPTransaction/RTPAmount/Amount", "20.00"},
                               {NULL, NULL}};
    expect_approved(l, &K_PREAUTH, preauth20, "PreauthorizationResponse", "24", "30.00", "20.00",
                    pre1, sizeof pre1);
    const field postauth20[] = {{"Instrument/CardNumber", card},
                                {"RTPTransaction/RTPTransactionID", "O-2"},
                                {"RTPTransaction/RTPAmount/Amount", "20.00"},
                                {"SVATransaction/SVATransactionID", pre1},
                                {NULL, NULL}};
    expect_approved(l, &K_POSTAUTH, postauth20, "PostauthorizationResponse", "26", "30.00", "20.00",
                    NULL, 0);
    expect_approved(l, &K_INQUIRY, inquiry, "InquiryResponse", "16", "30.00", "0.00", NULL, 0);

    /* seed: less than asked is approved when the balance is short. */
    const field preauth100[] = {{"Instrument/CardNumber", card},
                                {"RTPTransaction/RTPTransactionID", "O-3"},
                                {"RTPTransaction/RTPAmount/Amount", "100.00"},
                                {NULL, NULL}};
    expect_approved(l, &K_PREAUTH, preauth100, "PreauthorizationResponse", "24", "0.00", "30.00",
                    pre2, sizeof pre2);
    /* Nothing is left: a further preauthorization is refused. */
    expect_rejected(l, &K_PREAUTH, preauth100, "PreauthorizationResponse", "INSUFFICIENT_FUNDS");

    const field ret[] = {{"Instrument/CardNumber", card},
                         {"RTPTransaction/RTPTransactionID", "O-2"},
                         {"RTPTransaction/RTPAmount/Amount", "10.00"},
                         {NULL, NULL}};
    expect_approved(l, &K_RETURN, ret, "ReturnResponse", "18", "10.00", "10.00", NULL, 0);
    const field v[] = {{"Instrument/CardNumber", card},
                       {"RTPTransaction/RTPTransactionID", "O-3"},
                       {"SVATransaction/SVATransactionID", pre2},
                       {NULL, NULL}};
    expect_approved(l, &K_VOID, v, "VoidResponse", "22", "40.00", "30.00", NULL, 0);
    expect_approved(l, &K_INQUIRY, inquiry, "InquiryResponse", "16", "40.00", "0.00", NULL, 0);

    const ledger_row rows[] = {
        {"generate", "85749-06", "0.00", NULL}, {"recharge", "O-1", "50.00", NULL},
        {"auth", "O-2", "20.00", pre1},         {"deposit", "O-2", "20.00", NULL},
        {"auth", "O-3", "30.00", NULL},         {"return", "O-2", "10.00", NULL},
        {"void", "O-3", "30.00", NULL},
    };
    ASSERT_LEDGER(l, rows);

    /* The query records: the last answer per order, and per order and operation. */
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "O-2", &t), 0);
    assert_string_equal(t.op, "return");
    assert_int_equal(pl_sim_ledger_txn_find(l, "O-2/auth", &t), 0);
    assert_string_equal(t.protocol, "RLT");
    assert_string_equal(t.decision, "ACCEPT");
    assert_int_equal(t.reason_code, 24);
    assert_string_equal(t.request_id, pre1);
    assert_true(sim_test_matches(t.request_token, "^[0-9]{16}$"));
    assert_int_equal(t.amount, 2000);
    assert_int_equal(pl_sim_ledger_txn_find(l, "O-2/deposit", &t), 0);
    assert_int_equal(t.reason_code, 26);
    assert_int_equal(pl_sim_ledger_txn_find(l, "O-3/auth", &t), 0);
    /* The last preauthorization of O-3 was the refused one. */
    assert_string_equal(t.decision, "REJECT");
    assert_string_equal(t.error_code, "INSUFFICIENT_FUNDS");
    assert_int_equal(t.amount, 10000);
    char *json = NULL;
    bool found = false;
    assert_int_equal(pl_sim_ledger_txn_json(l, "O-3/auth", &json, &found), 0);
    assert_true(found);
    assert_non_null(strstr(json, "\"error_code\":\"INSUFFICIENT_FUNDS\""));
    free(json);
    /* An inquiry has no order: nothing is recorded for it. */
    assert_int_equal(pl_sim_ledger_txn_find(l, "O-3/inquiry", &t), PL_ERR_NOTFOUND);
}

static void test_postauth_and_void_rules(void **state)
{
    pl_sim_ledger *l = *state;
    activate_pan(l, "100.00");
    char pre[32];
    const field p20[] = {{"RTPTransaction/RTPAmount/Amount", "20.00"}, {NULL, NULL}};
    expect_approved(l, &K_PREAUTH, p20, "PreauthorizationResponse", "24", "80.00", "20.00", pre,
                    sizeof pre);
    size_t applied = pl_sim_ledger_count(l);

    /* seed: a deposit greater than the authorization is rejected. */
    const field over[] = {{"SVATransaction/SVATransactionID", pre},
                          {"RTPTransaction/RTPAmount/Amount", "20.01"},
                          {NULL, NULL}};
    expect_rejected(l, &K_POSTAUTH, over, "PostauthorizationResponse",
                    "AMOUNT_EXCEEDS_AUTHORIZATION");
    const field unknown[] = {{"SVATransaction/SVATransactionID", "1"}, {NULL, NULL}};
    expect_rejected(l, &K_POSTAUTH, unknown, "PostauthorizationResponse", "TRANSACTION_NOT_FOUND");
    /* The seed's own 9354 names nothing here either. */
    expect_rejected(l, &K_POSTAUTH, NULL, "PostauthorizationResponse", "TRANSACTION_NOT_FOUND");
    /* A preauthorization of another card is not found for this one. */
    const field other[] = {{"Instrument/CardNumber", "6000000000000002"},
                           {"RTPTransaction/RTPAmount/Amount", "50.00"},
                           {NULL, NULL}};
    expect_approved(l, &K_ACTIVATE, other, "ActivateInstrumentResponse", "2", "50.00", "50.00",
                    NULL, 0);
    const field wrong_card[] = {{"Instrument/CardNumber", "6000000000000002"},
                                {"SVATransaction/SVATransactionID", pre},
                                {"RTPTransaction/RTPAmount/Amount", "1.00"},
                                {NULL, NULL}};
    expect_rejected(l, &K_POSTAUTH, wrong_card, "PostauthorizationResponse",
                    "TRANSACTION_NOT_FOUND");
    assert_int_equal(pl_sim_ledger_count(l), applied + 1);

    /* A partial deposit keeps the rest held (seed: J21 retains the unused authorization). */
    const field part[] = {{"SVATransaction/SVATransactionID", pre},
                          {"RTPTransaction/RTPAmount/Amount", "5.00"},
                          {NULL, NULL}};
    answer a;
    call(l, &K_POSTAUTH, part, &a);
    assert_approved(&a, "PostauthorizationResponse", "26", "Active", "80.00", "5.00");
    assert_string_equal(get(&a, "SVATransaction/PreAuthSVAAmount/PreAuthAmount"), "15.00");
    done(&a);

    /* The void releases what is still held, once. */
    const field v[] = {{"SVATransaction/SVATransactionID", pre}, {NULL, NULL}};
    expect_approved(l, &K_VOID, v, "VoidResponse", "22", "95.00", "15.00", NULL, 0);
    expect_rejected(l, &K_VOID, v, "VoidResponse", "TRANSACTION_ALREADY_VOIDED");
    expect_rejected(l, &K_POSTAUTH, part, "PostauthorizationResponse",
                    "TRANSACTION_ALREADY_VOIDED");

    /* A preauthorization deposited in full has nothing left to void. */
    expect_approved(l, &K_PREAUTH, p20, "PreauthorizationResponse", "24", "75.00", "20.00", pre,
                    sizeof pre);
    const field full[] = {{"SVATransaction/SVATransactionID", pre},
                          {"RTPTransaction/RTPAmount/Amount", "20.00"},
                          {NULL, NULL}};
    expect_approved(l, &K_POSTAUTH, full, "PostauthorizationResponse", "26", "75.00", "20.00", NULL,
                    0);
    const field v2[] = {{"SVATransaction/SVATransactionID", pre}, {NULL, NULL}};
    expect_rejected(l, &K_VOID, v2, "VoidResponse", "TRANSACTION_ALREADY_SETTLED");
    expect_rejected(l, &K_POSTAUTH, full, "PostauthorizationResponse",
                    "AMOUNT_EXCEEDS_AUTHORIZATION");

    json_object *j = sim_test_ledger_json(l);
    size_t n = json_object_array_length(j);
    size_t voids = 0;
    for (size_t i = 0; i < n; i++)
        voids += strcmp(sim_test_row_field(j, i, "op"), "void") == 0;
    assert_int_equal(voids, 1);
    json_object_put(j);
}

static void test_unknown_and_inactive_cards(void **state)
{
    pl_sim_ledger *l = *state;
    expect_rejected(l, &K_INQUIRY, NULL, "InquiryResponse", "CARD_NOT_FOUND");
    expect_rejected(l, &K_PREAUTH, NULL, "PreauthorizationResponse", "CARD_NOT_FOUND");
    expect_rejected(l, &K_RETURN, NULL, "ReturnResponse", "CARD_NOT_FOUND");
    expect_rejected(l, &K_RECHARGE, NULL, "RechargeResponse", "CARD_NOT_FOUND");
    const field v[] = {{"SVATransaction/SVATransactionID", "5"}, {NULL, NULL}};
    expect_rejected(l, &K_VOID, v, "VoidResponse", "CARD_NOT_FOUND");

    char card[32];
    generate(l, "85749", "06", card, sizeof card);
    const field f[] = {{"Instrument/CardNumber", card}, {NULL, NULL}};
    expect_rejected(l, &K_RETURN, f, "ReturnResponse", "CARD_INACTIVE");
    expect_rejected(l, &K_PREAUTH, f, "PreauthorizationResponse", "CARD_INACTIVE");
    /* A generated card is activated by an activation request too (with its amount). */
    expect_approved(l, &K_ACTIVATE, f, "ActivateInstrumentResponse", "2", "250.00", "250.00", NULL,
                    0);
    assert_int_equal(pl_sim_ledger_count(l), 2);
}

static void test_scenarios(void **state)
{
    pl_sim_ledger *l = *state;
    const field card[] = {{"Instrument/CardNumber", PAN}, {NULL, NULL}};
    expect_approved(l, &K_ACTIVATE, card, "ActivateInstrumentResponse", "2", "250.00", "250.00",
                    NULL, 0);
    size_t base = pl_sim_ledger_count(l);
    pl_sim_txn t;

#define AMOUNT(order, amt)                                                                         \
    {                                                                                              \
        {"RTPTransaction/RTPTransactionID", order}, {"RTPTransaction/RTPAmount/Amount", amt},      \
        {                                                                                          \
            NULL, NULL                                                                             \
        }                                                                                          \
    }

    /* 150: a system error, nothing applied, recorded as an ERROR. */
    const field e150[] = AMOUNT("S-150", "150.00");
    expect_rejected(l, &K_PREAUTH, e150, "PreauthorizationResponse", "SYSTEM_ERROR");
    assert_int_equal(pl_sim_ledger_count(l), base);
    assert_int_equal(pl_sim_ledger_txn_find(l, "S-150", &t), 0);
    assert_string_equal(t.decision, "ERROR");

    pl_sim_response resp;
    /* 901: held, nothing applied or recorded. */
    const field e901[] = AMOUNT("S-901", "901.00");
    send_kind(l, &K_PREAUTH, e901, &resp);
    assert_int_equal(resp.action, PL_SIM_HOLD);
    pl_sim_response_free(&resp);
    /* 902: HTTP 500 with HTML. */
    const field e902[] = AMOUNT("S-902", "902.50");
    send_kind(l, &K_RECHARGE, e902, &resp);
    assert_int_equal(resp.action, PL_SIM_ANSWER);
    assert_int_equal(resp.status, 500);
    assert_string_equal(resp.content_type, "text/html");
    pl_sim_response_free(&resp);
    /* 903: HTTP 200, not XML. */
    const field e903[] = AMOUNT("S-903", "903.00");
    send_kind(l, &K_RETURN, e903, &resp);
    assert_int_equal(resp.status, 200);
    assert_null(strchr(resp.body, '<'));
    pl_sim_response_free(&resp);
    /* 904: dropped, nothing applied. */
    const field e904[] = AMOUNT("S-904", "904.00");
    send_kind(l, &K_PREAUTH, e904, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), base);
    assert_int_equal(pl_sim_ledger_txn_find(l, "S-901", &t), PL_ERR_NOTFOUND);
    assert_int_equal(pl_sim_ledger_txn_find(l, "S-904", &t), PL_ERR_NOTFOUND);
    expect_approved(l, &K_INQUIRY, card, "InquiryResponse", "16", "250.00", "0.00", NULL, 0);

    /* 905: applied (a ledger row, a query record), then held without an answer. */
    const field e905[] = {{"Instrument/CardNumber", PAN},
                          {"RTPTransaction/RTPTransactionID", "S-905"},
                          {"RTPTransaction/RTPAmount/Amount", "905.00"},
                          {NULL, NULL}};
    send_kind(l, &K_RECHARGE, e905, &resp);
    assert_int_equal(resp.action, PL_SIM_HOLD);
    assert_null(resp.body);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), base + 1);
    assert_int_equal(pl_sim_ledger_txn_find(l, "S-905/recharge", &t), 0);
    assert_string_equal(t.decision, "ACCEPT");
    expect_approved(l, &K_INQUIRY, card, "InquiryResponse", "16", "1155.00", "0.00", NULL, 0);
    /* 906: applied, then the connection is closed. */
    const field e906[] = AMOUNT("S-906", "906.10");
    send_kind(l, &K_PREAUTH, e906, &resp);
    assert_int_equal(resp.action, PL_SIM_DROP);
    pl_sim_response_free(&resp);
    assert_int_equal(pl_sim_ledger_count(l), base + 2);
    expect_approved(l, &K_INQUIRY, card, "InquiryResponse", "16", "248.90", "0.00", NULL, 0);

    /* CyberSource's scenarios mean nothing here: 110.00 is approved in full. */
    const field e110[] = AMOUNT("S-110", "110.00");
    expect_approved(l, &K_RETURN, e110, "ReturnResponse", "18", "358.90", "110.00", NULL, 0);
#undef AMOUNT
}

/* a's response is an HTTP 500 SOAP Fault with faultcode code and a faultstring saying why ("":
 * any); a is done with after. */
static void assert_fault(answer *a, const char *code, const char *why)
{
    assert_int_equal(a->resp.action, PL_SIM_ANSWER);
    assert_int_equal(a->resp.status, 500);
    parse_answer(a);
    assert_string_equal(xstr(a, "string(/soap:Envelope/soap:Body/soap:Fault/faultcode)"), code);
    const char *fs = xstr(a, "string(/soap:Envelope/soap:Body/soap:Fault/faultstring)");
    if (!fs[0] || !strstr(fs, why))
        fail_msg("faultstring \"%s\" does not say \"%s\"", fs, why);
    done(a);
}

static void expect_fault(pl_sim_ledger *l, const char *body, const char *why)
{
    answer a;
    memset(&a, 0, sizeof a);
    send_raw(l, body, strlen(body), &a.resp);
    assert_fault(&a, "SOAP-ENV:Client", why);
}

/* Sends a request and checks that the answer is an HTTP 500 SOAP Fault with faultcode code. */
static void expect_soap_fault(pl_sim_ledger *l, const msg_kind *k, const field *fields,
                              const char *code)
{
    answer a;
    memset(&a, 0, sizeof a);
    send_kind(l, k, fields, &a.resp);
    assert_fault(&a, code, "");
}

/* The body of a control route's answer; fails unless its status is want. */
static void expect_fault_control(pl_sim_ledger *l, const char *order, const char *op,
                                 const char *code, const char *applied, int want, const char *body)
{
    pl_sim_response resp;
    assert_int_equal(pl_sim_relate_fault_control(l, order, op, code, applied, &resp), 0);
    assert_int_equal(resp.status, want);
    if (body)
        assert_string_equal(resp.body, body);
    pl_sim_response_free(&resp);
}

/* A fault armed for an order answers that order's next call (of its op), once, in place of the
 * call's own answer; applied or not, as armed. */
static void test_armed_faults(void **state)
{
    pl_sim_ledger *l = *state;
    activate_pan(l, "100.00");
    size_t rows = pl_sim_ledger_count(l);
#define PREAUTH(order, amount)                                                                     \
    {                                                                                              \
        {"Instrument/CardNumber", PAN}, {"RTPTransaction/RTPTransactionID", order},                \
            {"RTPTransaction/RTPAmount/Amount", amount},                                           \
        {                                                                                          \
            NULL, NULL                                                                             \
        }                                                                                          \
    }

    /* Client, any op: refused before processing, nothing applied; spent after one call. */
    expect_fault_control(l, "F-1", NULL, "Client", NULL, 200,
                         "{\"order\":\"F-1\",\"op\":null,\"code\":\"SOAP-ENV:Client\","
                         "\"applied\":false}");
    const field pre1[] = PREAUTH("F-1", "20.00");
    expect_soap_fault(l, &K_PREAUTH, pre1, "SOAP-ENV:Client");
    assert_int_equal(pl_sim_ledger_count(l), rows);
    expect_approved(l, &K_PREAUTH, pre1, "PreauthorizationResponse", "24", "80.00", "20.00", NULL,
                    0);
    assert_int_equal(pl_sim_ledger_count(l), rows + 1);

    /* Server after applying, for the order's preauthorization only: a return of the order and
     * a preauthorization of another order go by; the order's preauthorization is applied (the
     * ledger row, the query record, the balance) and answered with the fault. */
    expect_fault_control(l, "F-2", "auth", "Server", "true", 200,
                         "{\"order\":\"F-2\",\"op\":\"auth\",\"code\":\"SOAP-ENV:Server\","
                         "\"applied\":true}");
    const field ret2[] = {{"Instrument/CardNumber", PAN},
                          {"RTPTransaction/RTPTransactionID", "F-2"},
                          {"RTPTransaction/RTPAmount/Amount", "5.00"},
                          {NULL, NULL}};
    expect_approved(l, &K_RETURN, ret2, "ReturnResponse", "18", "85.00", "5.00", NULL, 0);
    const field other[] = PREAUTH("F-22", "5.00");
    expect_approved(l, &K_PREAUTH, other, "PreauthorizationResponse", "24", "80.00", "5.00", NULL,
                    0);
    const field pre2[] = PREAUTH("F-2", "30.00");
    expect_soap_fault(l, &K_PREAUTH, pre2, "SOAP-ENV:Server");
    assert_int_equal(pl_sim_ledger_count(l), rows + 4);
    pl_sim_txn t;
    assert_int_equal(pl_sim_ledger_txn_find(l, "F-2/auth", &t), 0);
    assert_string_equal(t.decision, "ACCEPT");
    assert_int_equal(t.amount, 3000);
    const field inquiry[] = {{"Instrument/CardNumber", PAN}, {NULL, NULL}};
    expect_approved(l, &K_INQUIRY, inquiry, "InquiryResponse", "16", "50.00", "0.00", NULL, 0);

    /* Server, not applied: nothing moves. */
    expect_fault_control(l, "F-3", NULL, "Server", "false", 200, NULL);
    const field pre3[] = PREAUTH("F-3", "10.00");
    expect_soap_fault(l, &K_PREAUTH, pre3, "SOAP-ENV:Server");
    assert_int_equal(pl_sim_ledger_count(l), rows + 4);
    assert_int_equal(pl_sim_ledger_txn_find(l, "F-3/auth", &t), PL_ERR_NOTFOUND);
    expect_approved(l, &K_INQUIRY, inquiry, "InquiryResponse", "16", "50.00", "0.00", NULL, 0);

    /* Arming again replaces; a reset clears. */
    expect_fault_control(l, "F-4", NULL, "Server", NULL, 200, NULL);
    expect_fault_control(l, "F-4", NULL, "Client", NULL, 200, NULL);
    const field pre4[] = PREAUTH("F-4", "10.00");
    expect_soap_fault(l, &K_PREAUTH, pre4, "SOAP-ENV:Client");
    expect_fault_control(l, "F-4", NULL, "Server", NULL, 200, NULL);
    pl_sim_ledger_reset(l);
    expect_rejected(l, &K_PREAUTH, pre4, "PreauthorizationResponse", "CARD_NOT_FOUND");

    /* What the route refuses. */
    char long_order[PL_SIM_RLT_ORDER_MAX + 2];
    memset(long_order, 'O', sizeof long_order - 1);
    long_order[sizeof long_order - 1] = '\0';
    expect_fault_control(l, long_order, NULL, "Server", NULL, 400, NULL);
    expect_fault_control(l, NULL, NULL, "Server", NULL, 400, NULL);
    expect_fault_control(l, "", NULL, "Server", NULL, 400, NULL);
    expect_fault_control(l, "F-5", NULL, NULL, NULL, 400, NULL);
    expect_fault_control(l, "F-5", NULL, "server", NULL, 400, NULL);
    expect_fault_control(l, "F-5", "generate", "Server", NULL, 400, NULL);
    expect_fault_control(l, "F-5", "inquiry", "Server", NULL, 400, NULL); /* names no order */
    expect_fault_control(l, "F-5", NULL, "Server", "yes", 400, NULL);
    expect_fault_control(l, "F-5", NULL, "Client", "true", 400, NULL);
    const field pre5[] = PREAUTH("F-5", "10.00");
    expect_rejected(l, &K_PREAUTH, pre5, "PreauthorizationResponse", "CARD_NOT_FOUND");
#undef PREAUTH
}

static void test_malformed_requests(void **state)
{
    pl_sim_ledger *l = *state;
    expect_fault(l, "<oops", "Could not parse");
    expect_fault(l, "", "empty");
    expect_fault(l, "<CardSeriesMaintenance/>", "Envelope");
    expect_fault(l,
                 "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"x\">]>"
                 "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                 "<SOAP-ENV:Body><x/></SOAP-ENV:Body></SOAP-ENV:Envelope>",
                 "DTD");
    static const char env_head[] =
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns:dtv=\"http://xml.datavantagecorp.com/namespace/crm/DTVProcessXML.xsd\">"
        "<SOAP-ENV:Body>";
    /* What the SOAP Body holds instead of the seed's ProcessXML, and what the fault says. */
    static const struct {
        const char *payload;
        const char *why;
    } bad_bodies[] = {
        {"<requestMessage/>", "dtv:ProcessXML"},
        {"<dtv:ProcessXML><dtv:ARTSData><InquiryRequest/></dtv:ARTSData></dtv:ProcessXML>",
         "ARTSAction"},
        {"<dtv:ProcessXML><dtv:ARTSAction>InquiryRequest</dtv:ARTSAction></dtv:ProcessXML>",
         "ARTSData"},
        {"<dtv:ProcessXML><dtv:ARTSAction>InquiryRequest</dtv:ARTSAction><dtv:ARTSData>"
         "</dtv:ARTSData></dtv:ProcessXML>",
         "no message"},
        {"<dtv:ProcessXML><dtv:ARTSAction>RefundRequest</dtv:ARTSAction><dtv:ARTSData>"
         "<RefundRequest/></dtv:ARTSData></dtv:ProcessXML>",
         "Unsupported message RefundRequest"},
    };
    char body[1024];
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        snprintf(body, sizeof body, "%s%s</SOAP-ENV:Body></SOAP-ENV:Envelope>", env_head,
                 bad_bodies[i].payload);
        expect_fault(l, body, bad_bodies[i].why);
    }
    /* ARTSAction must name the message it carries. */
    msg_kind mismatch = K_PREAUTH;
    mismatch.action = "InquiryRequest";
    size_t len;
    char *req = build(&mismatch, NULL, &len);
    expect_fault(l, req, "does not match");
    free(req);
    mismatch = K_GENERATE;
    mismatch.action = "CardSeriesMaintenance";
    req = build(&mismatch, NULL, &len);
    expect_fault(l, req, "does not match");
    free(req);

    /* A known message with missing or bad fields: the declined shape, INVALID_REQUEST. */
    const field no_card[] = {{"Instrument/CardNumber", REMOVE}, {NULL, NULL}};
    expect_rejected(l, &K_PREAUTH, no_card, "PreauthorizationResponse", "INVALID_REQUEST");
    const field empty_card[] = {{"Instrument/CardNumber", ""}, {NULL, NULL}};
    expect_rejected(l, &K_INQUIRY, empty_card, "InquiryResponse", "INVALID_REQUEST");
    const field odd_card[] = {{"Instrument/CardNumber", "4105 1383"}, {NULL, NULL}};
    expect_rejected(l, &K_INQUIRY, odd_card, "InquiryResponse", "INVALID_REQUEST");
    const field no_order[] = {{"RTPTransaction/RTPTransactionID", ""}, {NULL, NULL}};
    expect_rejected(l, &K_RECHARGE, no_order, "RechargeResponse", "INVALID_REQUEST");
    static const char *const bad_amounts[] = {"abc", "-1.00", "1.234", "", "0.00"};
    for (size_t i = 0; i < sizeof bad_amounts / sizeof bad_amounts[0]; i++) {
        const field f[] = {{"RTPTransaction/RTPAmount/Amount", bad_amounts[i]}, {NULL, NULL}};
        expect_rejected(l, &K_PREAUTH, f, "PreauthorizationResponse", "INVALID_REQUEST");
    }
    const field no_pre[] = {{"SVATransaction/SVATransactionID", ""}, {NULL, NULL}};
    expect_rejected(l, &K_POSTAUTH, no_pre, "PostauthorizationResponse", "INVALID_REQUEST");
    expect_rejected(l, &K_VOID, no_pre, "VoidResponse", "INVALID_REQUEST");
    const field bad_currency[] = {{"RTPTransaction/RTPAmount/CurrencyID", "dollars"}, {NULL, NULL}};
    expect_rejected(l, &K_RETURN, bad_currency, "ReturnResponse", "INVALID_REQUEST");
    const field long_order[] = {
        {"RTPTransaction/RTPTransactionID", "123456789012345678901234567890123456789012345678901"},
        {NULL, NULL}};
    expect_rejected(l, &K_RETURN, long_order, "ReturnResponse", "INVALID_REQUEST");
    const field bad_series[] = {{"CardSeries/CardPrefix", "85a49"}, {NULL, NULL}};
    expect_rejected(l, &K_GENERATE, bad_series, "CardSeriesMaintenance", "INVALID_REQUEST");
    const field long_series[] = {{"CardSeries/CardPrefix", "1234567890"},
                                 {"CardSeries/CardSeriesSequence", "123"},
                                 {NULL, NULL}};
    expect_rejected(l, &K_GENERATE, long_series, "CardSeriesMaintenance", "INVALID_REQUEST");
    const field no_sequence[] = {{"CardSeries/CardSeriesSequence", REMOVE}, {NULL, NULL}};
    expect_rejected(l, &K_GENERATE, no_sequence, "CardSeriesMaintenance", "INVALID_REQUEST");
    assert_int_equal(pl_sim_ledger_count(l), 0);
}

/* ARTSData may carry its message as escaped text rather than as elements. */
static void test_escaped_message(void **state)
{
    pl_sim_ledger *l = *state;
    xmlDocPtr doc = sample_doc(GENERATE_ENVELOPE, XML_PARSE_NONET);
    xmlXPathContextPtr xp = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xp, BAD_CAST "dtv", BAD_CAST PL_SIM_RELATE_DTV_NS);
    xmlXPathObjectPtr o = xml_test_eval(xp, "//dtv:ARTSData");
    xmlNodePtr data = o->nodesetval->nodeTab[0];
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(xp);
    xmlNodePtr old = pl_sim_xml_first_element(data);
    xmlUnlinkNode(old);
    xmlFreeNode(old);
    xmlNodeSetContent(data, NULL);
    /* xmlNodeAddContent escapes: the message travels as text. */
    xmlNodeAddContent(data, BAD_CAST "<CardSeriesMaintenance><CardSeries Action=\"GenerateCard\">"
                                     "<UserName>OMS</UserName><CardPrefix>85749</CardPrefix>"
                                     "<CardSeriesSequence>06</CardSeriesSequence></CardSeries>"
                                     "</CardSeriesMaintenance>");
    size_t len;
    char *body = xml_test_dump(doc, &len);
    xmlFreeDoc(doc);
    assert_non_null(strstr(body, "&lt;CardSeriesMaintenance&gt;"));
    answer a;
    memset(&a, 0, sizeof a);
    send_raw(l, body, len, &a.resp);
    free(body);
    assert_int_equal(a.resp.status, 200);
    parse_answer(&a);
    assert_string_equal(get(&a, "CardSeries/@ResponseCode"), "OK");
    assert_string_equal(get(&a, "CardSeries/Instrument/CardNumber"), "8574906000000001");
    done(&a);
}

typedef struct racer {
    pl_sim_ledger *l;
    int approved_cents;
} racer;

static void *race_preauths(void *arg)
{
    racer *r = arg;
    const field f[] = {
        {"Instrument/CardNumber", PAN}, {"RTPTransaction/RTPAmount/Amount", "1.50"}, {NULL, NULL}};
    size_t len;
    char *body = build(&K_PREAUTH, f, &len);
    for (int i = 0; i < 40; i++) {
        answer a;
        memset(&a, 0, sizeof a);
        send_raw(r->l, body, len, &a.resp);
        parse_answer(&a);
        if (strcmp(get(&a, "SVATransaction/@ResponseCode"), "Rejected") != 0) {
            int64_t cents = 0;
            const char *amt = get(&a, "SVATransaction/SVAAmount/Amount");
            long units = 0, frac = 0;
            assert_int_equal(sscanf(amt, "%ld.%ld", &units, &frac), 2);
            cents = units * 100 + frac;
            r->approved_cents += (int)cents;
        }
        done(&a);
    }
    free(body);
    return NULL;
}

/* Concurrent preauthorizations never approve more than the balance. */
static void test_concurrent_preauths(void **state)
{
    pl_sim_ledger *l = *state;
    activate_pan(l, "100.00");
    racer r[4];
    for (int i = 0; i < 4; i++)
        r[i] = (racer){l, 0};
    sim_test_race(4, race_preauths, r, sizeof r[0]);
    int total = 0;
    for (int i = 0; i < 4; i++)
        total += r[i].approved_cents;
    /* 160 requests of 1.50 against 100.00: exactly the balance, the last one partial. */
    assert_int_equal(total, 10000);
    const field inq[] = {{"Instrument/CardNumber", PAN}, {NULL, NULL}};
    expect_approved(l, &K_INQUIRY, inq, "InquiryResponse", "16", "0.00", "0.00", NULL, 0);
    /* 66 full approvals of 1.50 and one of 1.00, plus the activation. */
    assert_int_equal(pl_sim_ledger_count(l), 1 + 67);
}

static void test_card_number_never_logged(void **state)
{
    pl_sim_ledger *l = *state;
    sim_test_log log;
    sim_test_log_begin(&log);

    pl_sim_response resp;
    const field card[] = {{"Instrument/CardNumber", PAN}, {NULL, NULL}};
    send_kind(l, &K_ACTIVATE, card, &resp);
    pl_sim_response_free(&resp);
    send_kind(l, &K_PREAUTH, NULL, &resp);
    pl_sim_response_free(&resp);
    const field e904[] = {{"RTPTransaction/RTPAmount/Amount", "904.00"}, {NULL, NULL}};
    send_kind(l, &K_PREAUTH, e904, &resp);
    pl_sim_response_free(&resp);
    send_kind(l, &K_GENERATE, NULL, &resp);
    pl_sim_response_free(&resp);
    const char broken[] = "<SOAP-ENV:Envelope><CardNumber>4105138386844793</CardNumber>";
    send_raw(l, broken, sizeof broken - 1, &resp);
    pl_sim_response_free(&resp);

    const char *logbuf = sim_test_log_end(&log);
    assert_null(strstr(logbuf, PAN));
    assert_null(strstr(logbuf, "8574906000000001"));
    assert_null(strstr(logbuf, "410513"));
    /* What a reader of the log gets instead: the last four. */
    assert_non_null(strstr(logbuf, "************4793"));
    assert_non_null(strstr(logbuf, "************0001"));
    sim_test_log_free(&log);
}

/* ---- through the HTTPS server ---------------------------------------------------------------- */

typedef sim_test_server server;

/* One request as the seed's Customer Engagement client sends it: Web Service Authentication puts
 * the user and password in the HTTP header (seed), the body is text/xml. */
static void http(server *s, const char *method, const char *path, const char *body, size_t len,
                 sim_test_http *out)
{
    const sim_test_call c = {.method = method,
                             .path = path,
                             .userpwd = "OMS:secret",
                             .content_type = "text/xml",
                             .body = body,
                             .len = len};
    sim_test_send(s, &c, out, NULL);
}

static void post_kind(server *s, const char *path, const msg_kind *k, const field *fields,
                      sim_test_http *out)
{
    size_t len;
    char *body = build(k, fields, &len);
    http(s, "POST", path, body, len, out);
    free(body);
}

static void control(server *s, const char *method, const char *path, sim_test_http *out)
{
    http(s, method, path, NULL, 0, out);
}

static void test_through_server(void **state)
{
    (void)state;
    server s;
    sim_test_server_start(&s, "test_sim_relate");

    sim_test_http r;
    post_kind(&s, "/relateui/OMS/xmlapi", &K_GENERATE, NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/xml; charset=utf-8");
    assert_non_null(strstr(r.body, "<CardNumber>8574906000000001</CardNumber>"));

    /* Any company code of 1-10 letters and digits; others are not the route. */
    post_kind(&s, "/relateui/C0MPANY123/xmlapi", &K_GENERATE, NULL, &r);
    assert_int_equal(r.status, 200);
    post_kind(&s, "/relateui/COMPANY1234/xmlapi", &K_GENERATE, NULL, &r);
    assert_int_equal(r.status, 404);
    control(&s, "GET", "/relateui/OMS/xmlapi", &r);
    assert_int_equal(r.status, 405);
    /* The CyberSource route is as it was. */
    control(&s, "GET", "/commerce/1.x/transactionProcessor", &r);
    assert_int_equal(r.status, 405);

    /* The series control route. */
    control(&s, "POST", "/__sim/relate/series?prefix=85749&sequence=06&remaining=0", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(
        r.body, "{\"prefix\":\"85749\",\"sequence\":\"06\",\"remaining\":0,\"generated\":2}");
    post_kind(&s, "/relateui/OMS/xmlapi", &K_GENERATE, NULL, &r);
    assert_non_null(strstr(r.body, "<ErrorCode>ALL_CARDS_GENERATED</ErrorCode>"));
    control(&s, "GET", "/__sim/relate/series?prefix=85749&sequence=06", &r);
    assert_int_equal(r.status, 200);
    control(&s, "POST", "/__sim/relate/series?prefix=85749&sequence=06&remaining=no", &r);
    assert_int_equal(r.status, 400);

    /* The fault control route: POST only. */
    control(&s, "POST", "/__sim/relate/fault?order=W-1&code=Server&op=auth&applied=true", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"order\":\"W-1\",\"op\":\"auth\",\"code\":\"SOAP-ENV:Server\","
                                "\"applied\":true}");
    control(&s, "POST", "/__sim/relate/fault?order=W-1&code=Both", &r);
    assert_int_equal(r.status, 400);
    control(&s, "GET", "/__sim/relate/fault?order=W-1&code=Server", &r);
    assert_int_equal(r.status, 404);

    /* The transport scenarios on the wire: 904 and 906 close, 905 holds then closes. */
    const field card[] = {{"Instrument/CardNumber", PAN}, {NULL, NULL}};
    post_kind(&s, "/relateui/OMS/xmlapi", &K_ACTIVATE, card, &r);
    assert_int_equal(r.status, 200);
    const field e904[] = {{"RTPTransaction/RTPAmount/Amount", "904.00"}, {NULL, NULL}};
    post_kind(&s, "/relateui/OMS/xmlapi", &K_PREAUTH, e904, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    assert_int_equal(pl_sim_ledger_count(pl_sim_server_ledger(s.srv)), 3);
    const field e905[] = {{"RTPTransaction/RTPAmount/Amount", "905.00"}, {NULL, NULL}};
    post_kind(&s, "/relateui/OMS/xmlapi", &K_RECHARGE, e905, &r);
    /* The seed's recharge card is unknown: the refusal is recorded, the answer still lost. */
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    const field e905b[] = {{"Instrument/CardNumber", PAN},
                           {"RTPTransaction/RTPAmount/Amount", "905.00"},
                           {NULL, NULL}};
    post_kind(&s, "/relateui/OMS/xmlapi", &K_RECHARGE, e905b, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    const field e906[] = {{"RTPTransaction/RTPAmount/Amount", "906.00"}, {NULL, NULL}};
    post_kind(&s, "/relateui/OMS/xmlapi", &K_PREAUTH, e906, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    assert_int_equal(pl_sim_ledger_count(pl_sim_server_ledger(s.srv)), 5);
    control(&s, "GET", "/__sim/query?ref=3249/recharge", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"protocol\":\"RLT\""));
    assert_non_null(strstr(r.body, "\"decision\":\"ACCEPT\""));
    control(&s, "GET", "/__sim/ledger", &r);
    assert_non_null(strstr(r.body, "\"op\":\"recharge\",\"ref\":\"3249\",\"amount\":\"905.00\""));
    assert_null(strstr(r.body, PAN));

    /* A reset forgets the cards and the series limits. */
    control(&s, "POST", "/__sim/reset", &r);
    assert_int_equal(r.status, 200);
    const field inq[] = {{"Instrument/CardNumber", PAN}, {NULL, NULL}};
    post_kind(&s, "/relateui/OMS/xmlapi", &K_INQUIRY, inq, &r);
    assert_non_null(strstr(r.body, "<ErrorCode>CARD_NOT_FOUND</ErrorCode>"));
    post_kind(&s, "/relateui/OMS/xmlapi", &K_GENERATE, NULL, &r);
    assert_non_null(strstr(r.body, "<CardNumber>8574906000000001</CardNumber>"));

    /* Malformed XML over the wire: a fault, and the server lives on. */
    http(&s, "POST", "/relateui/OMS/xmlapi", "<oops", 5, &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "SOAP-ENV:Client"));
    control(&s, "GET", "/__sim/health", &r);
    assert_int_equal(r.status, 200);

    sim_test_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),
        SIM_LEDGER_TEST(test_generate_card),
        SIM_LEDGER_TEST(test_series_exhausted),
        SIM_LEDGER_TEST(test_generate_scenarios_by_issue_amount),
        SIM_LEDGER_TEST(test_activate_seed_sample),
        SIM_LEDGER_TEST(test_seed_samples),
        SIM_LEDGER_TEST(test_virtual_card_flow),
        SIM_LEDGER_TEST(test_postauth_and_void_rules),
        SIM_LEDGER_TEST(test_unknown_and_inactive_cards),
        SIM_LEDGER_TEST(test_scenarios),
        SIM_LEDGER_TEST(test_armed_faults),
        SIM_LEDGER_TEST(test_malformed_requests),
        SIM_LEDGER_TEST(test_escaped_message),
        SIM_LEDGER_TEST(test_concurrent_preauths),
        SIM_LEDGER_TEST(test_card_number_never_logged),
        cmocka_unit_test(test_through_server),
    };
    return cmocka_run_group_tests(tests, group_setup, xml_test_group_teardown);
}
