/*
 * test_sim_adapter.c: the simulator against paylink's own CyberSource adapter
 * (common/bureau_cybersource.c), without a network. Requests are built by the adapter exactly
 * as the workers send them, handled by the simulator, and the replies read back by the
 * adapter: the two sides of the wire agree on every operation and on the scenarios the
 * end-to-end tests rely on.
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
#include <libxml/parser.h>

#include "bureau.h"
#include "log.h"
#include "request.h"
#include "sim_cyb.h"
#include "sim_ledger.h"
#include "sim_test_helpers.h"

/* An auth request as an upstream system sends it (CONTRACT.md §1). */
static const char auth_json[] =
    "{\"v\":1,\"request_id\":\"rt-1\",\"type\":\"auth\",\"company\":1,\"order\":\"O-1\","
    "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"120.00\",\"currency\":\"USD\","
    "\"card\":{\"number\":\"4111111111111111\",\"exp_month\":12,\"exp_year\":2035,"
    "\"cvv\":\"123\",\"type\":\"VI\",\"holder\":\"Jane Doe\"},"
    "\"bill_to\":{\"first_name\":\"Jane\",\"last_name\":\"Doe\",\"street1\":\"1 Main St\","
    "\"city\":\"Boston\",\"state\":\"MA\",\"postal_code\":\"02110\",\"country\":\"US\","
    "\"email\":\"jane@example.com\"}}";

typedef struct fixture {
    pl_sim_ledger *ledger;
    pl_request req;
    pl_bureau_cfg cfg;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->ledger = pl_sim_ledger_new();
    pl_errors errs = {0};
    if (!f->ledger ||
        pl_request_decode(auth_json, strlen(auth_json), "auth", time(NULL), &f->req, &errs) != 0)
        return -1;
    snprintf(f->cfg.service, sizeof f->cfg.service, "CYB");
    snprintf(f->cfg.protocol, sizeof f->cfg.protocol, "CYB");
    snprintf(f->cfg.api_version, sizeof f->cfg.api_version, "1.121");
    f->cfg.secret = "sim-transaction-key";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pl_request_free(&f->req);
    pl_sim_ledger_destroy(f->ledger);
    free(f);
    return 0;
}

/* Builds with the adapter, answers with the simulator, parses with the adapter. */
static void round_trip(fixture *f, const pl_bureau_call *call, pl_bureau_result *res)
{
    char err[256] = "";
    pl_bureau_msg msg = {0};
    int rc = pl_bureau_cybersource.build(&f->cfg, call, &msg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "build: %s\n", err);
    assert_int_equal(rc, 0);

    pl_sim_response resp;
    sim_test_cyb_handle(f->ledger, &msg, &resp);
    assert_int_equal(resp.action, PL_SIM_ANSWER);

    memset(res, 0, sizeof *res);
    rc = pl_bureau_cybersource.parse(&f->cfg, call, resp.status, resp.body, resp.body_len, res, err,
                                     sizeof err);
    if (rc != 0)
        fprintf(stderr, "parse: %s\n", err);
    assert_int_equal(rc, 0);
    pl_sim_response_free(&resp);
}

static pl_bureau_call make_call(fixture *f, pl_bureau_op op, int64_t amount)
{
    pl_bureau_call c = {.op = op,
                        .req = &f->req,
                        .merchant_id = "paylink_test",
                        .currency = "USD",
                        .amount = amount};
    return c;
}

static void test_auth_approved(void **state)
{
    fixture *f = *state;
    pl_bureau_call c = make_call(f, PL_OP_AUTH, 12000);
    pl_bureau_result res;
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "ACCEPT");
    assert_string_equal(res.reason_code, "100");
    assert_string_equal(res.merchant_reference_code, "rt-1");
    assert_int_equal(strlen(res.request_id), 22);
    assert_true(res.request_token[0] != '\0');
    assert_true(res.has_amount);
    assert_int_equal(res.amount, 12000);
    assert_int_equal(strlen(res.auth_code), 6);
    assert_string_equal(res.avs, "Y");
    assert_string_equal(res.cvv, "M");
    assert_int_equal(pl_sim_ledger_count(f->ledger), 1);
}

static void test_auth_scenarios(void **state)
{
    fixture *f = *state;
    pl_bureau_result res;
    pl_bureau_call c = make_call(f, PL_OP_AUTH, 11000);
    round_trip(f, &c, &res);
    assert_string_equal(res.reason_code, "110");
    assert_int_equal(res.amount, 5500);

    c = make_call(f, PL_OP_AUTH, 20400);
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "REJECT");
    assert_string_equal(res.reason_code, "204");

    c = make_call(f, PL_OP_AUTH, 48000);
    c.decision_manager = true;
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "REVIEW");
    assert_string_equal(res.reason_code, "480");
    assert_true(res.afs_score[0] != '\0');

    c = make_call(f, PL_OP_AUTH, 48100);
    c.decision_manager = true;
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "REJECT");
    assert_string_equal(res.reason_code, "481");
    assert_string_equal(res.service_reason_code, "100");

    c = make_call(f, PL_OP_AUTH, 15000);
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "ERROR");
    assert_string_equal(res.reason_code, "150");

    /* A wrong transaction key is a SOAP fault the adapter recognises. */
    f->cfg.secret = "bad-key";
    c = make_call(f, PL_OP_AUTH, 1000);
    round_trip(f, &c, &res);
    assert_string_equal(res.fault_code, "wsse:FailedCheck");
    assert_string_equal(res.decision, "ERROR");
}

static void test_token_then_follow_ons(void **state)
{
    fixture *f = *state;
    pl_bureau_result res;
    pl_bureau_call c = make_call(f, PL_OP_TOKEN_AUTH, 12000);
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "ACCEPT");
    assert_int_equal(strlen(res.token), 22);
    char auth_id[65];
    snprintf(auth_id, sizeof auth_id, "%s", res.request_id);

    c = make_call(f, PL_OP_CAPTURE, 12001);
    c.ref_request_id = auth_id;
    round_trip(f, &c, &res);
    assert_string_equal(res.reason_code, "235");

    c.amount = 12000;
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "ACCEPT");
    assert_int_equal(res.amount, 12000);
    char capture_id[65];
    snprintf(capture_id, sizeof capture_id, "%s", res.request_id);

    c = make_call(f, PL_OP_AUTH_REVERSAL, 12000);
    c.ref_request_id = auth_id;
    round_trip(f, &c, &res);
    assert_string_equal(res.reason_code, "238");

    c = make_call(f, PL_OP_CREDIT, 5000);
    c.ref_request_id = capture_id;
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "ACCEPT");
    assert_int_equal(res.amount, 5000);

    /* token, auth, capture, credit. */
    assert_int_equal(pl_sim_ledger_count(f->ledger), 4);
}

static void test_auth_capture_and_reversal(void **state)
{
    fixture *f = *state;
    pl_bureau_result res;
    pl_bureau_call c = make_call(f, PL_OP_AUTH_CAPTURE, 3000);
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "ACCEPT");
    assert_int_equal(res.amount, 3000);

    c = make_call(f, PL_OP_AUTH, 3000);
    round_trip(f, &c, &res);
    char auth_id[65];
    snprintf(auth_id, sizeof auth_id, "%s", res.request_id);
    c = make_call(f, PL_OP_AUTH_REVERSAL, 3000);
    c.ref_request_id = auth_id;
    round_trip(f, &c, &res);
    assert_string_equal(res.decision, "ACCEPT");
    assert_int_equal(res.amount, 3000);
    round_trip(f, &c, &res);
    assert_string_equal(res.reason_code, "237");
}

int main(void)
{
    pl_log_init("sim", NULL);
    pl_log_set_level(PL_LOG_WARN);
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_approved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_scenarios, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_then_follow_ons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_capture_and_reversal, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
