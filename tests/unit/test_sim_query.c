/*
 * test_sim_query.c: the simulated CyberSource On-Demand Single Transaction Query
 * (tools/sim/sim_query.h) against paylink's own side of it. Requests are built by paylink's
 * CyberSource adapter (common/bureau_cybersource.c) as the workers send them and handled by the
 * simulator's CyberSource endpoint: an approved authorization, a declined one (204), an
 * auth+capture, a 905 (applied, the answer held), a 901 (never applied), follow-ons and the
 * Decision Manager. The queries are paylink's form and Basic header (common/cyb_query.h), by
 * merchant reference and day or by requestID; every answer is read with pl_cyb_query_parse and
 * judged with pl_cyb_query_outcome, as the resolver will. Then the refusals, the document's
 * shape (no card number in it), and the route through the HTTPS server.
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
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "bureau.h"
#include "card.h"
#include "cyb_query.h"
#include "log.h"
#include "request.h"
#include "sim_cyb.h"
#include "sim_dm.h"
#include "sim_ledger.h"
#include "sim_query.h"
#include "sim_bureau_test.h"
#include "sim_test_helpers.h"
#include "xml_test_helpers.h"

#define PAN "4111111111111111"
#define MERCHANT "paylink_test"
#define FORM "application/x-www-form-urlencoded"
#define TDR_TEST "https://ebctest.cybersource.com/ebctest/reports/dtd/tdr_1_7.dtd"
#define TDR_PROD "https://ebc.cybersource.com/ebc/reports/dtd/tdr_1_7.dtd"

/* An auth request as an upstream system sends it (CONTRACT.md §1); %s is its request_id, the
 * merchantReferenceCode the adapter sends. */
static const char request_json[] =
    "{\"v\":1,\"request_id\":\"%s\",\"type\":\"auth\",\"company\":1,\"order\":\"O-1\","
    "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"1.00\",\"currency\":\"USD\","
    "\"card\":{\"number\":\"" PAN "\",\"exp_month\":12,\"exp_year\":2035,"
    "\"cvv\":\"123\",\"type\":\"VI\",\"holder\":\"Jane Doe\"},"
    "\"bill_to\":{\"first_name\":\"Jane\",\"last_name\":\"Doe\",\"street1\":\"1 Main St\","
    "\"city\":\"Boston\",\"state\":\"MA\",\"postal_code\":\"02110\",\"country\":\"US\","
    "\"email\":\"jane@example.com\"}}";

/* The CyberSource settings paylink's adapter builds with. */
static void cyb_cfg(pl_bureau_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->service, sizeof cfg->service, "CYB");
    snprintf(cfg->protocol, sizeof cfg->protocol, "CYB");
    snprintf(cfg->api_version, sizeof cfg->api_version, "1.121");
    cfg->secret = "sim-transaction-key";
}

typedef struct fx {
    pl_sim_ledger *l;
    pl_bureau_cfg cfg;
    pl_sim_query_cfg query; /* no password configured: any but "bad-password" */
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->l = pl_sim_ledger_new();
    assert_non_null(f->l);
    cyb_cfg(&f->cfg);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    pl_sim_ledger_destroy(f->l);
    free(f);
    return 0;
}

#define FX_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

/* ---- CyberSource requests, as paylink sends them -------------------------------------------- */

/* One CyberSource call. */
typedef struct cyb_call {
    const char *ref; /* paylink's request_id: the merchantReferenceCode */
    pl_bureau_op op;
    int64_t amount;
    bool dm;
    const char *ref_request_id; /* follow-ons: the earlier requestID */
} cyb_call;

/* The SOAP request of c, built by paylink's adapter as the workers build it (msg: the caller
 * frees it with pl_bureau_msg_free). */
static void build_cyb(const pl_bureau_cfg *cfg, const cyb_call *c, pl_bureau_msg *msg)
{
    char json[2048];
    snprintf(json, sizeof json, request_json, c->ref);
    pl_request req;
    pl_errors errs = {0};
    assert_int_equal(pl_request_decode(json, strlen(json), "auth", time(NULL), &req, &errs), 0);
    pl_bureau_call call = {.op = c->op,
                           .req = &req,
                           .merchant_id = MERCHANT,
                           .currency = "USD",
                           .amount = c->amount,
                           .decision_manager = c->dm,
                           .ref_request_id = c->ref_request_id};
    memset(msg, 0, sizeof *msg);
    char err[256] = "";
    int rc = pl_bureau_cybersource.build(cfg, &call, msg, err, sizeof err);
    pl_request_free(&req);
    if (rc != 0)
        fail_msg("build: %s", err);
}

/*
 * Builds c and has the simulator handle it. Returns what the simulator did with the
 * connection; request_id (48 bytes) receives the requestID it answered, read from its
 * /__sim/query record, "" when it has none (901–904).
 */
static pl_sim_action send_cyb(fx *f, const cyb_call *c, char *request_id)
{
    pl_bureau_msg msg;
    build_cyb(&f->cfg, c, &msg);
    pl_sim_response resp;
    sim_test_cyb_handle(f->l, &msg, &resp);
    pl_sim_action action = resp.action;
    pl_sim_response_free(&resp);
    pl_sim_txn t;
    request_id[0] = '\0';
    if (pl_sim_ledger_txn_find(f->l, c->ref, &t) == PL_OK)
        snprintf(request_id, 48, "%s", t.request_id);
    return action;
}

/* ---- queries, as paylink sends them --------------------------------------------------------- */

/* One query's answer: the body as the simulator sent it, and paylink's reading of it. */
typedef struct answer {
    pl_sim_response resp;
    int rc; /* pl_cyb_query_parse's */
    char err[256];
    pl_cyb_query_result res;
} answer;

/*
 * Sends the form body with content_type to path, with user:password as Basic (user NULL: no
 * Authorization header), and reads the answer with pl_cyb_query_parse. Free with
 * answer_free.
 */
static void send_query(fx *f, const char *path, const char *content_type, const char *body,
                       const char *user, const char *password, answer *a)
{
    char header[512] = "";
    if (user)
        assert_int_equal(pl_cyb_query_auth_header(user, password, header, sizeof header), 0);
    /* The server hands the handler the header's value, after "Authorization: ". */
    const char *value = strchr(header, ' ');
    pl_sim_http_req req = {.method = "POST",
                           .path = path,
                           .body = body,
                           .body_len = strlen(body),
                           .authorization = user ? value + 1 : NULL,
                           .content_type = content_type,
                           .state = &f->query};
    assert_int_equal(pl_sim_query_handle(f->l, &req, &a->resp), 0);
    pl_card_wipe(header, sizeof header);
    assert_int_equal(a->resp.action, PL_SIM_ANSWER);
    assert_int_equal(a->resp.status, 200);
    a->rc = pl_cyb_query_parse(a->resp.body, a->resp.body_len, &a->res, a->err, sizeof a->err);
}

static void answer_free(answer *a)
{
    pl_sim_response_free(&a->resp);
}

/* paylink's query q, with the report user "reports" and password "secret". */
static void query(fx *f, const pl_cyb_query *q, answer *a)
{
    char *form = pl_cyb_query_form(q);
    assert_non_null(form);
    send_query(f, PL_SIM_QUERY_PATH, FORM, form, "reports", "secret", a);
    free(form);
    if (a->rc != 0)
        fail_msg("pl_cyb_query_parse: %s\n%s", a->err, a->resp.body);
}

/* What paylink concludes about op for ref, asked by merchant reference on the day of now. */
static pl_cyb_found found_by_ref(fx *f, const char *ref, const char *op, answer *a)
{
    pl_cyb_query q = {.merchant_id = MERCHANT, .merchant_reference = ref, .target_day = time(NULL)};
    query(f, &q, a);
    return pl_cyb_query_outcome(&a->res, ref, op, NULL);
}

/* The same, asked by requestID. */
static pl_cyb_found found_by_id(fx *f, const char *request_id, const char *op, answer *a)
{
    pl_cyb_query q = {.merchant_id = MERCHANT, .request_id = request_id};
    query(f, &q, a);
    return pl_cyb_query_outcome(&a->res, NULL, op, NULL);
}

/* The reply named name of record r, asserted present. */
static const pl_cyb_app_reply *app(const pl_cyb_query_record *r, const char *name)
{
    for (size_t i = 0; i < r->napps; i++)
        if (strcmp(r->apps[i].name, name) == 0)
            return &r->apps[i];
    fail_msg("no %s reply", name);
    return NULL;
}

/* ---- the brief's five requests -------------------------------------------------------------- */

static void test_outcomes_by_reference(void **state)
{
    fx *f = *state;
    char approved[48], declined[48], sale[48], held[48], timed_out[48];
    cyb_call c = {.ref = "q-approved", .op = PL_OP_AUTH, .amount = 12000};
    assert_int_equal(send_cyb(f, &c, approved), PL_SIM_ANSWER);
    c = (cyb_call){.ref = "q-declined", .op = PL_OP_AUTH, .amount = 20400};
    assert_int_equal(send_cyb(f, &c, declined), PL_SIM_ANSWER);
    c = (cyb_call){.ref = "q-sale", .op = PL_OP_AUTH_CAPTURE, .amount = 13000};
    assert_int_equal(send_cyb(f, &c, sale), PL_SIM_ANSWER);
    /* 905: applied, then no answer; 901: no answer, nothing applied. */
    c = (cyb_call){.ref = "q-905", .op = PL_OP_AUTH, .amount = 90500};
    assert_int_equal(send_cyb(f, &c, held), PL_SIM_HOLD);
    assert_int_equal(strlen(held), 22);
    c = (cyb_call){.ref = "q-901", .op = PL_OP_AUTH, .amount = 90100};
    assert_int_equal(send_cyb(f, &c, timed_out), PL_SIM_HOLD);
    assert_string_equal(timed_out, "");
    /* The ledger agrees: auth, auth + capture, the 905's auth. */
    static const sim_test_ledger_row rows[] = {
        {"auth", "q-approved", "120.00", NULL},
        {"auth", "q-sale", "130.00", NULL},
        {"capture", "q-sale", "130.00", NULL},
        {"auth", "q-905", "905.00", NULL},
    };
    SIM_TEST_ASSERT_LEDGER(f->l, "CYB", rows);

    answer a;
    assert_int_equal(found_by_ref(f, "q-approved", "auth", &a), PL_CYB_FOUND_OK);
    assert_int_equal(a.res.nrecs, 1);
    const pl_cyb_query_record *r = &a.res.recs[0];
    assert_string_equal(r->merchant_reference, "q-approved");
    assert_string_equal(r->request_id, approved);
    assert_true(r->has_amount);
    assert_int_equal(r->amount, 12000);
    assert_string_equal(r->currency, "USD");
    assert_int_equal(strlen(r->auth_code), 6);
    assert_string_equal(r->avs, "Y");
    assert_string_equal(r->cvv, "M");
    assert_int_equal(r->napps, 1);
    assert_string_equal(r->apps[0].name, "ics_auth");
    assert_int_equal(r->apps[0].rcode, 1);
    assert_string_equal(r->apps[0].rflag, "SOK");
    assert_string_equal(r->apps[0].reason_code, "100");
    answer_free(&a);

    assert_int_equal(found_by_ref(f, "q-declined", "auth", &a), PL_CYB_FOUND_DECLINED);
    r = &a.res.recs[0];
    assert_string_equal(r->request_id, declined);
    assert_int_equal(r->amount, 20400);
    assert_string_equal(r->auth_code, "");
    assert_int_equal(app(r, "ics_auth")->rcode, 0);
    assert_string_equal(app(r, "ics_auth")->rflag, "DCARDREFUSED");
    assert_string_equal(app(r, "ics_auth")->reason_code, "204");
    answer_free(&a);

    assert_int_equal(found_by_ref(f, "q-sale", "auth_capture", &a), PL_CYB_FOUND_OK);
    r = &a.res.recs[0];
    assert_string_equal(r->request_id, sale);
    assert_int_equal(r->napps, 2);
    assert_string_equal(r->apps[0].name, "ics_auth");
    assert_string_equal(r->apps[1].name, "ics_bill");
    assert_int_equal(r->apps[1].rcode, 1);
    assert_int_equal(pl_cyb_query_outcome(&a.res, "q-sale", "capture", NULL), PL_CYB_FOUND_OK);
    answer_free(&a);

    /* CONTRACT.md §3: applied operations are found, 901 requests are not. */
    assert_int_equal(found_by_ref(f, "q-905", "auth", &a), PL_CYB_FOUND_OK);
    assert_string_equal(a.res.recs[0].request_id, held);
    assert_int_equal(a.res.recs[0].amount, 90500);
    answer_free(&a);
    assert_int_equal(found_by_ref(f, "q-901", "auth", &a), PL_CYB_NOT_THERE);
    assert_int_equal(a.res.nrecs, 0);
    assert_non_null(strstr(a.resp.body, "<Requests/>"));
    answer_free(&a);

    /* An operation the record does not hold is not there either. */
    assert_int_equal(found_by_ref(f, "q-approved", "capture", &a), PL_CYB_NOT_THERE);
    answer_free(&a);
}

static void test_outcomes_by_request_id(void **state)
{
    fx *f = *state;
    char approved[48], declined[48], held[48];
    cyb_call c = {.ref = "id-approved", .op = PL_OP_AUTH, .amount = 12000};
    send_cyb(f, &c, approved);
    c = (cyb_call){.ref = "id-declined", .op = PL_OP_AUTH, .amount = 20400};
    send_cyb(f, &c, declined);
    c = (cyb_call){.ref = "id-906", .op = PL_OP_AUTH, .amount = 90600};
    assert_int_equal(send_cyb(f, &c, held), PL_SIM_DROP);

    answer a;
    assert_int_equal(found_by_id(f, approved, "auth", &a), PL_CYB_FOUND_OK);
    assert_int_equal(a.res.nrecs, 1);
    assert_string_equal(a.res.recs[0].merchant_reference, "id-approved");
    answer_free(&a);
    assert_int_equal(found_by_id(f, declined, "auth", &a), PL_CYB_FOUND_DECLINED);
    answer_free(&a);
    /* 906: applied, then the connection closed: found. */
    assert_int_equal(found_by_id(f, held, "auth", &a), PL_CYB_FOUND_OK);
    answer_free(&a);
    assert_int_equal(found_by_id(f, "0000000000000000000000", "auth", &a), PL_CYB_NOT_THERE);
    answer_free(&a);

    /* requestID wins over a merchant reference (and its targetDate is not read). */
    const char both[] = "merchantID=" MERCHANT "&type=transaction&subtype=transactionDetail"
                        "&versionNumber=1.7&merchantReferenceNumber=id-declined&targetDate=x"
                        "&requestID=";
    char body[256];
    snprintf(body, sizeof body, "%s%s", both, approved);
    send_query(f, PL_SIM_QUERY_PATH, FORM, body, "reports", "secret", &a);
    assert_int_equal(a.rc, 0);
    assert_int_equal(pl_cyb_query_outcome(&a.res, NULL, "auth", NULL), PL_CYB_FOUND_OK);
    assert_string_equal(a.res.recs[0].request_id, approved);
    answer_free(&a);

    /* Another merchant's query finds nothing of this one's. */
    pl_cyb_query q = {.merchant_id = "someone_else", .request_id = approved};
    query(f, &q, &a);
    assert_int_equal(a.res.nrecs, 0);
    answer_free(&a);
}

static void test_wrong_day_not_found(void **state)
{
    fx *f = *state;
    char id[48];
    cyb_call c = {.ref = "q-day", .op = PL_OP_AUTH, .amount = 12000};
    send_cyb(f, &c, id);
    time_t now = time(NULL);
    static const int64_t shifts[] = {-86400, 86400, -366 * 86400};
    for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
        pl_cyb_query q = {.merchant_id = MERCHANT,
                          .merchant_reference = "q-day",
                          .target_day = (int64_t)now + shifts[i]};
        answer a;
        query(f, &q, &a);
        assert_int_equal(a.res.nrecs, 0);
        assert_int_equal(pl_cyb_query_outcome(&a.res, "q-day", "auth", NULL), PL_CYB_NOT_THERE);
        answer_free(&a);
    }
    answer a;
    assert_int_equal(found_by_ref(f, "q-day", "auth", &a), PL_CYB_FOUND_OK);
    answer_free(&a);
}

/* ---- more of what a resolver meets ---------------------------------------------------------- */

static void test_retries_newest_first(void **state)
{
    fx *f = *state;
    /* A declined attempt, then an approved one, under one merchant reference. */
    char first[48], second[48];
    cyb_call c = {.ref = "q-retry", .op = PL_OP_AUTH, .amount = 20400};
    send_cyb(f, &c, first);
    c.amount = 12000;
    send_cyb(f, &c, second);
    answer a;
    const pl_cyb_query_record *rec = NULL;
    pl_cyb_query q = {
        .merchant_id = MERCHANT, .merchant_reference = "q-retry", .target_day = time(NULL)};
    query(f, &q, &a);
    assert_int_equal(a.res.nrecs, 2);
    assert_string_equal(a.res.recs[0].request_id, second);
    assert_string_equal(a.res.recs[1].request_id, first);
    /* The approval moved money, whatever the other attempt says. */
    assert_int_equal(pl_cyb_query_outcome(&a.res, "q-retry", "auth", &rec), PL_CYB_FOUND_OK);
    assert_string_equal(rec->request_id, second);
    answer_free(&a);
}

static void test_follow_ons_and_errors(void **state)
{
    fx *f = *state;
    char auth[48], capture[48], credit[48], reversal[48], token[48], error[48];
    cyb_call c = {.ref = "f-auth", .op = PL_OP_AUTH, .amount = 5000};
    send_cyb(f, &c, auth);
    c = (cyb_call){.ref = "f-capture", .op = PL_OP_CAPTURE, .amount = 5000, .ref_request_id = auth};
    send_cyb(f, &c, capture);
    c = (cyb_call){
        .ref = "f-credit", .op = PL_OP_CREDIT, .amount = 1000, .ref_request_id = capture};
    send_cyb(f, &c, credit);
    /* The reversal of a captured authorization is refused (238). */
    c = (cyb_call){
        .ref = "f-reversal", .op = PL_OP_AUTH_REVERSAL, .amount = 5000, .ref_request_id = auth};
    send_cyb(f, &c, reversal);
    c = (cyb_call){.ref = "f-token", .op = PL_OP_TOKEN, .amount = 0};
    send_cyb(f, &c, token);
    /* 150: CyberSource has the request, and it failed. */
    c = (cyb_call){.ref = "f-error", .op = PL_OP_AUTH, .amount = 15000};
    send_cyb(f, &c, error);

    answer a;
    assert_int_equal(found_by_ref(f, "f-capture", "capture", &a), PL_CYB_FOUND_OK);
    assert_int_equal(a.res.recs[0].amount, 5000);
    assert_string_equal(a.res.recs[0].auth_code, "");
    answer_free(&a);
    assert_int_equal(found_by_ref(f, "f-credit", "credit", &a), PL_CYB_FOUND_OK);
    answer_free(&a);
    assert_int_equal(found_by_ref(f, "f-reversal", "reversal", &a), PL_CYB_FOUND_DECLINED);
    assert_string_equal(app(&a.res.recs[0], "ics_auth_reversal")->reason_code, "238");
    answer_free(&a);
    assert_int_equal(found_by_ref(f, "f-token", "token", &a), PL_CYB_FOUND_OK);
    answer_free(&a);
    assert_int_equal(found_by_ref(f, "f-error", "auth", &a), PL_CYB_FOUND_ERROR);
    assert_int_equal(app(&a.res.recs[0], "ics_auth")->rcode, -1);
    assert_string_equal(app(&a.res.recs[0], "ics_auth")->rflag, "ESYSTEM");
    answer_free(&a);
}

static void test_decision_manager(void **state)
{
    fx *f = *state;
    char review[48], sale_review[48], rejected[48], accepted[48];
    cyb_call c = {.ref = "dm-480", .op = PL_OP_AUTH, .amount = 48000, .dm = true};
    send_cyb(f, &c, review);
    c = (cyb_call){.ref = "dm-480-sale", .op = PL_OP_AUTH_CAPTURE, .amount = 48000, .dm = true};
    send_cyb(f, &c, sale_review);
    c = (cyb_call){.ref = "dm-481", .op = PL_OP_AUTH, .amount = 48100, .dm = true};
    send_cyb(f, &c, rejected);
    c = (cyb_call){.ref = "dm-120", .op = PL_OP_AUTH, .amount = 12000, .dm = true};
    send_cyb(f, &c, accepted);

    /*
     * The issuer approved each of them: ics_auth succeeded. What Decision Manager made of the
     * order is ics_decision's, which pl_cyb_query_outcome does not judge: the resolver reads it.
     */
    answer a;
    assert_int_equal(found_by_ref(f, "dm-480", "auth", &a), PL_CYB_FOUND_OK);
    const pl_cyb_query_record *r = &a.res.recs[0];
    assert_int_equal(app(r, "ics_decision")->rcode, 0);
    assert_string_equal(app(r, "ics_decision")->rflag, "DREVIEW");
    assert_string_equal(app(r, "ics_decision")->reason_code, "480");
    assert_int_equal(app(r, "ics_score")->rcode, 1);
    answer_free(&a);
    /* The capture held back by the review did not run: the sale is the authorization Decision
     * Manager held (found, and read by the resolver as the REVIEW it was answered as), not a
     * failure. */
    assert_int_equal(found_by_ref(f, "dm-480-sale", "auth_capture", &a), PL_CYB_FOUND_OK);
    for (size_t i = 0; i < a.res.recs[0].napps; i++)
        assert_string_not_equal(a.res.recs[0].apps[i].name, "ics_bill");
    assert_int_equal(pl_cyb_query_outcome(&a.res, "dm-480-sale", "auth", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&a.res, "dm-480-sale", "capture", NULL),
                     PL_CYB_NOT_THERE);
    answer_free(&a);
    assert_int_equal(found_by_ref(f, "dm-481", "auth", &a), PL_CYB_FOUND_OK);
    assert_string_equal(app(&a.res.recs[0], "ics_decision")->rflag, "DREJECT");
    answer_free(&a);
    assert_int_equal(found_by_ref(f, "dm-120", "auth", &a), PL_CYB_FOUND_OK);
    assert_int_equal(app(&a.res.recs[0], "ics_decision")->rcode, 1);
    answer_free(&a);
}

/* ---- refusals ------------------------------------------------------------------------------- */

/* The answer is the plain text refusal text, HTTP 200; paylink reads it as rc. */
static void assert_refused(const answer *a, const char *text, int rc)
{
    assert_string_equal(a->resp.content_type, "text/plain; charset=utf-8");
    assert_string_equal(a->resp.body, text);
    assert_int_equal(a->rc, rc);
}

static void test_login_refused(void **state)
{
    fx *f = *state;
    char id[48];
    cyb_call c = {.ref = "q-login", .op = PL_OP_AUTH, .amount = 12000};
    send_cyb(f, &c, id);
    pl_cyb_query q = {.merchant_id = MERCHANT, .request_id = id};
    char *form = pl_cyb_query_form(&q);
    assert_non_null(form);
    answer a;
    send_query(f, PL_SIM_QUERY_PATH, FORM, form, "reports", PL_SIM_DM_BAD_PASSWORD, &a);
    assert_refused(&a, "Invalid login credentials.", PL_ERR_AUTH);
    assert_string_equal(a.err, "Invalid login credentials.");
    answer_free(&a);
    send_query(f, PL_SIM_QUERY_PATH, FORM, form, NULL, NULL, &a);
    assert_refused(&a, "Invalid login credentials.", PL_ERR_AUTH);
    answer_free(&a);
    /* Not Basic, not base64, no colon, an empty user. */
    static const char *const headers[] = {"Bearer abc", "Basic !!!!",
                                          "Basic cmVwb3J0cw==", "Basic OnNlY3JldA=="};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        pl_sim_http_req req = {.method = "POST",
                               .path = PL_SIM_QUERY_PATH,
                               .body = form,
                               .body_len = strlen(form),
                               .authorization = headers[i],
                               .content_type = FORM,
                               .state = &f->query};
        pl_sim_response resp;
        assert_int_equal(pl_sim_query_handle(f->l, &req, &resp), 0);
        assert_string_equal(resp.body, "Invalid login credentials.");
        pl_sim_response_free(&resp);
    }

    /* The password configured (--dm-password-file), with characters Basic carries as they are. */
    f->query.password = "p&ss +word:1";
    send_query(f, PL_SIM_QUERY_PATH, FORM, form, "reports", "secret", &a);
    assert_refused(&a, "Invalid login credentials.", PL_ERR_AUTH);
    answer_free(&a);
    send_query(f, PL_SIM_QUERY_PATH, FORM, form, "reports", "p&ss +word:1", &a);
    assert_int_equal(a.rc, 0);
    assert_int_equal(pl_cyb_query_outcome(&a.res, NULL, "auth", NULL), PL_CYB_FOUND_OK);
    answer_free(&a);
    free(form);

    /* No state is the caller's mistake. */
    pl_sim_http_req req = {.method = "POST", .path = PL_SIM_QUERY_PATH, .body = "", .body_len = 0};
    pl_sim_response resp;
    assert_int_equal(pl_sim_query_handle(f->l, &req, &resp), PL_ERR_INVALID);
}

static void test_bad_queries(void **state)
{
    fx *f = *state;
    static const struct {
        const char *body;
        const char *text;
        int rc; /* paylink's reading: a merchant refusal is a login problem; the rest unknown */
    } cases[] = {
        {"type=transaction&subtype=transactionDetail&versionNumber=1.7&requestID=1",
         "No merchant found for username.", PL_ERR_AUTH},
        {"merchantID=m&type=order&subtype=transactionDetail&versionNumber=1.7&requestID=1",
         "Invalid request: type must be transaction, subtype transactionDetail.", PL_ERR_PARSE},
        {"merchantID=m&type=transaction&versionNumber=1.7&requestID=1",
         "Invalid request: type must be transaction, subtype transactionDetail.", PL_ERR_PARSE},
        {"merchantID=m&type=transaction&subtype=transactionDetail&versionNumber=2.0&requestID=1",
         "Invalid versionNumber: expected 1.1 to 1.7.", PL_ERR_PARSE},
        {"merchantID=m&type=transaction&subtype=transactionDetail&versionNumber=1.7",
         "Invalid request: requestID, or merchantReferenceNumber and targetDate, is required.",
         PL_ERR_PARSE},
        {"merchantID=m&type=transaction&subtype=transactionDetail&versionNumber=1.7"
         "&merchantReferenceNumber=r",
         "Invalid targetDate: expected yyyyMMdd.", PL_ERR_PARSE},
        {"merchantID=m&type=transaction&subtype=transactionDetail&versionNumber=1.7"
         "&merchantReferenceNumber=r&targetDate=20240230",
         "Invalid targetDate: expected yyyyMMdd.", PL_ERR_PARSE},
        {"merchantID=m&type=transaction&subtype=transactionDetail&versionNumber=1.7"
         "&merchantReferenceNumber=r&targetDate=2024-03-05",
         "Invalid targetDate: expected yyyyMMdd.", PL_ERR_PARSE},
        {"merchantID=m&type=transaction&subtype=transactionDetail&versionNumber=1.7"
         "&merchantReferenceNumber=r&targetDate=%2B2024030",
         "Invalid targetDate: expected yyyyMMdd.", PL_ERR_PARSE},
    };
    answer a;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        send_query(f, PL_SIM_QUERY_PATH, FORM, cases[i].body, "reports", "secret", &a);
        assert_refused(&a, cases[i].text, cases[i].rc);
        answer_free(&a);
    }
    send_query(f, PL_SIM_QUERY_PATH, "text/plain", cases[0].body, "reports", "secret", &a);
    assert_refused(&a, "Invalid request: the body must be application/x-www-form-urlencoded.",
                   PL_ERR_PARSE);
    answer_free(&a);
    /* Versions 1.1 to 1.7 are served, each with its DTD; a leap day is a day. */
    send_query(f, PL_SIM_QUERY_PATH, FORM,
               "merchantID=m&type=transaction&subtype=transactionDetail&versionNumber=1.3"
               "&merchantReferenceNumber=r&targetDate=20240229",
               "reports", "secret", &a);
    assert_int_equal(a.rc, 0);
    assert_non_null(strstr(a.resp.body, "/reports/dtd/tdr_1_3.dtd"));
    answer_free(&a);
}

/* ---- the document --------------------------------------------------------------------------- */

static void test_report_shape(void **state)
{
    fx *f = *state;
    char id[48];
    cyb_call c = {.ref = "q-shape", .op = PL_OP_AUTH, .amount = 12000};
    send_cyb(f, &c, id);
    pl_cyb_query q = {.merchant_id = MERCHANT, .request_id = id};
    char *form = pl_cyb_query_form(&q);
    answer a;
    send_query(f, PL_SIM_QUERY_PROD_PATH, FORM, form, "reports", "secret", &a);
    free(form);
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.resp.content_type, "application/xml");
    /* No card number, anywhere. */
    assert_null(strstr(a.resp.body, PAN));
    assert_false(pl_card_contains(a.resp.body, a.resp.body_len));

    /* Read as a client would: no network, no DTD. */
    xmlDocPtr doc =
        xmlReadMemory(a.resp.body, (int)a.resp.body_len, "tdr.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlNodePtr dtd = doc->children;
    assert_int_equal(dtd->type, XML_DTD_NODE);
    assert_string_equal((const char *)((xmlDtdPtr)dtd)->SystemID, TDR_PROD);
    xmlXPathContextPtr xp = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xp, BAD_CAST "t", BAD_CAST TDR_PROD);
    assert_string_equal(xml_test_xstr(xp, "string(/t:Report/@Name)"), "Transaction Detail");
    assert_string_equal(xml_test_xstr(xp, "string(/t:Report/@Version)"), "1.7");
    assert_string_equal(xml_test_xstr(xp, "string(/t:Report/@MerchantID)"), MERCHANT);
    assert_true(sim_test_matches(xml_test_xstr(xp, "string(/t:Report/@ReportStartDate)"),
                                 "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\."
                                 "[0-9]{3}\\+00:00$"));
    const char *req = "/t:Report/t:Requests/t:Request";
    char expr[160];
#define AT(path) (snprintf(expr, sizeof expr, "string(%s%s)", req, path), xml_test_xstr(xp, expr))
    assert_string_equal(AT("/@MerchantReferenceNumber"), "q-shape");
    assert_string_equal(AT("/@RequestID"), id);
    assert_true(sim_test_matches(
        AT("/@RequestDate"), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\+00:00$"));
    assert_string_equal(AT("/@Source"), "SOAP Toolkit API");
    assert_int_equal(strlen(AT("/@TransactionReferenceNumber")), 16);
    assert_string_equal(AT("/t:PaymentMethod/t:Card/t:AccountSuffix"), "1111");
    assert_string_equal(AT("/t:PaymentMethod/t:Card/t:ExpirationMonth"), "12");
    assert_string_equal(AT("/t:PaymentMethod/t:Card/t:ExpirationYear"), "2035");
    assert_string_equal(AT("/t:PaymentMethod/t:Card/t:CardType"), "Visa");
    assert_string_equal(AT("/t:ApplicationReplies/t:ApplicationReply/@Name"), "ics_auth");
    assert_string_equal(AT("/t:ApplicationReplies/t:ApplicationReply/t:RMsg"),
                        "Request was processed successfully.");
    assert_string_equal(AT("/t:PaymentData/t:PaymentRequestID"), id);
    assert_string_equal(AT("/t:PaymentData/t:Amount"), "120.00");
    assert_string_equal(AT("/t:PaymentData/t:AVSResultMapped"), "Y");
    assert_string_equal(AT("/t:PaymentData/t:CVResult"), "M");
#undef AT
    xmlXPathFreeContext(xp);
    xmlFreeDoc(doc);
    answer_free(&a);
}

/* ---- through the server --------------------------------------------------------------------- */

static void test_through_server(void **state)
{
    (void)state;
    sim_test_server s;
    sim_test_server_start(&s, "sim-query");
    /* An authorization through the CyberSource endpoint, as a worker sends it. */
    pl_bureau_cfg cfg;
    cyb_cfg(&cfg);
    cyb_call c = {.ref = "srv-1", .op = PL_OP_AUTH, .amount = 4200};
    pl_bureau_msg msg;
    build_cyb(&cfg, &c, &msg);
    char type[96];
    snprintf(type, sizeof type, "%s", msg.content_type);
    sim_test_call call = {.method = "POST",
                          .path = PL_SIM_CYB_PATH,
                          .content_type = type,
                          .body = msg.body,
                          .len = msg.body_len};
    sim_test_http out;
    sim_test_send(&s, &call, &out, NULL);
    pl_bureau_msg_free(&msg);
    assert_int_equal(out.status, 200);

    /* The query, as the resolver sends it. */
    pl_cyb_query q = {
        .merchant_id = MERCHANT, .merchant_reference = "srv-1", .target_day = time(NULL)};
    char *form = pl_cyb_query_form(&q);
    call = (sim_test_call){.method = "POST",
                           .path = PL_SIM_QUERY_PATH,
                           .userpwd = "reports:secret",
                           .content_type = FORM,
                           .body = form,
                           .len = strlen(form)};
    sim_test_send(&s, &call, &out, NULL);
    assert_int_equal(out.rc, CURLE_OK);
    assert_int_equal(out.status, 200);
    assert_string_equal(out.content_type, "application/xml");
    pl_cyb_query_result res;
    char err[256];
    assert_int_equal(pl_cyb_query_parse(out.body, out.len, &res, err, sizeof err), 0);
    assert_int_equal(pl_cyb_query_outcome(&res, "srv-1", "auth", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(res.recs[0].amount, 4200);

    call.userpwd = "reports:" PL_SIM_DM_BAD_PASSWORD;
    sim_test_send(&s, &call, &out, NULL);
    assert_int_equal(out.status, 200);
    assert_string_equal(out.body, "Invalid login credentials.");
    call.path = PL_SIM_QUERY_PROD_PATH;
    call.method = "GET";
    sim_test_send(&s, &call, &out, NULL);
    assert_int_equal(out.status, 405);
    free(form);

    /* The simulator-only query still answers beside it. */
    call = (sim_test_call){.method = "GET", .path = "/__sim/query?ref=srv-1"};
    sim_test_send(&s, &call, &out, NULL);
    assert_int_equal(out.status, 200);
    assert_non_null(strstr(out.body, "\"found\":true"));
    sim_test_server_stop(&s);
}

int main(void)
{
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        FX_TEST(test_outcomes_by_reference), FX_TEST(test_outcomes_by_request_id),
        FX_TEST(test_wrong_day_not_found),   FX_TEST(test_retries_newest_first),
        FX_TEST(test_follow_ons_and_errors), FX_TEST(test_decision_manager),
        FX_TEST(test_login_refused),         FX_TEST(test_bad_queries),
        FX_TEST(test_report_shape),          cmocka_unit_test(test_through_server),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    curl_global_cleanup();
    return rc;
}
