/*
 * test_svc_answer_rows.c: paylink-svc's mapping of stored value answers (stored_value.h) with
 * the vendor_response rows of PAYLINK_DB's demo configuration, which only reads the database.
 *
 * Every RLT row that maps a reason code (orce_code) and says approved keeps the answer of that
 * code approved now that a row's `approved` decides; one whose row says declined is declined
 * with its hold. An online PreauthorizationResponse approving 0.00 is the decline a J19 batch
 * authorization gets for a balance of 0.00, through the spec as the engine drives it, with the
 * row of INSUFFICIENT_FUNDS (the demo's NOFUNDS, hold AT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "services.h"
#include "stored_value.h"
#include "svc.h"
#include "../unit/job_test_helpers.h"

static pl_services *g_services;
static const pl_service *g_rlt;

static int group_setup(void **state)
{
    (void)state;
    const char *conninfo = getenv("PAYLINK_DB");
    if (!conninfo || !*conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return -1;
    }
    char err[512] = "";
    g_services = pl_services_load_conninfo(conninfo, err, sizeof err);
    if (!g_services) {
        fprintf(stderr, "pl_services_load_conninfo: %s\n", err);
        return -1;
    }
    g_rlt = pl_services_find(g_services, "RLT");
    if (!g_rlt) {
        fprintf(stderr, "the demo configuration has no RLT service bureau\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pl_services_unref(g_services);
    return 0;
}

/* An answer without an ErrorCode: reason code, SVAAmount, balance. */
static pl_bureau_result answer(const char *reason, int64_t amount, int64_t balance)
{
    pl_bureau_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.reason_code, sizeof r.reason_code, "%s", reason);
    snprintf(r.request_id, sizeof r.request_id, "9354");
    snprintf(r.auth_code, sizeof r.auth_code, "0000009354000382");
    r.has_amount = amount >= 0;
    r.amount = amount >= 0 ? amount : 0;
    r.has_balance = true;
    r.balance = balance;
    return r;
}

/* Every RLT vendor response that maps a reason code, as the snapshot holds it: none of the
 * demo's approvals becomes a decline, and a row that says declined declines. */
static void test_seeded_rows_keep_approvals(void **state)
{
    (void)state;
    static const pl_bureau_op ops[] = {PL_OP_SVC_ACTIVATE, PL_OP_SVC_RECHARGE, PL_OP_SVC_PREAUTH,
                                       PL_OP_SVC_POSTAUTH, PL_OP_SVC_RETURN,   PL_OP_SVC_INQUIRY,
                                       PL_OP_SVC_VOID};
    /* The reason codes of the seed's sample answers, which the demo maps (R02 ... R26). */
    static const char *const reasons[] = {"2", "8", "16", "18", "22", "24", "26"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        const pl_vendor_response *vr =
            pl_services_vendor_response_svc(g_services, "RLT", NULL, reasons[i]);
        if (!vr)
            fail_msg("no RLT vendor response maps reason code %s", reasons[i]);
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            pl_bureau_result res = answer(reasons[i], 1107, 5000);
            pl_reply rep;
            memset(&rep, 0, sizeof rep);
            pl_stored_value_map_answer(g_services, g_rlt, &res, ops[k], 1107, &rep);
            pl_status want = vr->approved ? PL_ST_APPROVED : PL_ST_DECLINED;
            if (rep.status != want)
                fail_msg("reason %s (%s, approved %d) on %s: %s", reasons[i], vr->code,
                         vr->approved, pl_bureau_op_name(ops[k]), pl_status_name(rep.status));
            /* The demo's rows are all approvals (report a seeded decline, never flip one). */
            assert_true(vr->approved);
            assert_string_equal(rep.vendor_response, vr->code);
            assert_string_equal(rep.hold_reason, "");
        }
    }
    /* A reason code no row maps: approved, as before. */
    pl_bureau_result res = answer("99", 1107, 5000);
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map_answer(g_services, g_rlt, &res, PL_OP_SVC_PREAUTH, 1107, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_string_equal(rep.vendor_response, "99");
}

/* A job of paylink-svc for an `auth` of amount on the RLT bureau with the demo's snapshot, J19
 * (balance_inquiry_batch) as given, prepared as the engine prepares it. */
static pl_bureau_result g_res;

static void auth_job(pl_job *job, pl_service *svc, bool online, int64_t amount)
{
    memset(job, 0, sizeof *job);
    memset(&g_res, 0, sizeof g_res);
    job->res = &g_res;
    job->reply = job_test_reply();
    job->svc = svc;
    job->services = g_services;
    pl_request *r = &job->req;
    r->type = PL_REQ_SVC_AUTH;
    r->online = online;
    snprintf(r->request_id, sizeof r->request_id, "it-svc-rows-1");
    snprintf(r->order, sizeof r->order, "4930");
    snprintf(r->service, sizeof r->service, "RLT");
    r->company = 7;
    r->pay_seq = 2;
    r->has_amount = true;
    r->amount = amount;
    snprintf(r->currency, sizeof r->currency, "USD");
    r->svc.present = true;
    snprintf(r->svc.card_number, sizeof r->svc.card_number, "7000000000000001");
    assert_int_equal(pl_svc_spec.prepare(job, NULL), 0);
}

/* The engine's steps after an answer: map, then ask the spec for a next call. */
static int answered(pl_job *job, pl_bureau_result res)
{
    *job->res = res;
    memset(job->reply, 0, sizeof *job->reply);
    pl_svc_spec.map(job);
    return pl_svc_spec.next_call(job);
}

static void assert_no_balance(const pl_reply *rep)
{
    assert_int_equal(rep->status, PL_ST_DECLINED);
    assert_string_equal(rep->vendor_response, "NOFUNDS");
    assert_string_equal(rep->hold_reason, "AT");
    assert_string_equal(rep->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    assert_false(rep->has_amount_approved);
    assert_string_equal(rep->auth.transaction_id, "");
    assert_true(rep->svc.has_balance);
    assert_int_equal(rep->svc.balance, 0);
}

static void test_zero_authorization_as_j19(void **state)
{
    (void)state;
    pl_service svc = *g_rlt;
    /* J19: the balance inquiry finds 0.00, no PreauthorizationRequest. */
    svc.balance_inquiry_batch = true;
    pl_job job;
    auth_job(&job, &svc, false, 10000);
    assert_int_equal(job.call.op, PL_OP_SVC_INQUIRY);
    pl_bureau_result inquiry = answer("16", 0, 0);
    snprintf(inquiry.svc_status, sizeof inquiry.svc_status, "Active");
    assert_int_equal(answered(&job, inquiry), 0);
    assert_no_balance(job.reply);
    pl_reply j19 = *job.reply;
    free(job.spec_data);

    /* Online: the PreauthorizationResponse approves 0.00. */
    auth_job(&job, &svc, true, 10000);
    assert_int_equal(job.call.op, PL_OP_SVC_PREAUTH);
    assert_int_equal(answered(&job, answer("24", 0, 0)), 0);
    assert_no_balance(job.reply);
    assert_int_equal(job.reply->status, j19.status);
    assert_string_equal(job.reply->vendor_response, j19.vendor_response);
    assert_string_equal(job.reply->hold_reason, j19.hold_reason);
    assert_string_equal(job.reply->message, j19.message);
    free(job.spec_data);

    /* A J19 authorization for the balance the inquiry found, approved for 0.00 after all (the
     * card spent in between): the same decline. */
    auth_job(&job, &svc, false, 10000);
    inquiry = answer("16", 0, 3000);
    snprintf(inquiry.svc_status, sizeof inquiry.svc_status, "Active");
    assert_int_equal(answered(&job, inquiry), 1);
    assert_int_equal(job.call.op, PL_OP_SVC_PREAUTH);
    assert_int_equal(job.call.amount, 3000);
    assert_int_equal(answered(&job, answer("24", 0, 0)), 0);
    assert_no_balance(job.reply);
    free(job.spec_data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_rows_keep_approvals),
        cmocka_unit_test(test_zero_authorization_as_j19),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
