/*
 * test_svc_j19_drain.c: a J19 batch authorization given up between its balance inquiry and its
 * PreauthorizationRequest, because the worker stops or gives up the request's partition
 * (engine.c give_back), against the real schema of PAYLINK_DB. The engine's statement pl_unmark
 * (engine.h PL_ENGINE_SQL_UNMARK) puts the row the inquiry's attempt marked sent back to
 * 'received', as recorded and never sent; the redelivery then runs the request again from its
 * inquiry (its mark takes the row as any 'received' one), where a row left 'sent' would have it
 * wait for the owner and make the row a required response. Only that attempt's own 'sent' row
 * goes back: not one another attempt marked, nor one made unknown or answered meanwhile; and
 * the old owner's mark for the PreauthorizationRequest never takes over the redelivery's row.
 *
 * The statements run through pl_db as the engine runs them, under request ids of the test's
 * own, deleted at the end. No configuration is read: the jobs carry a service of their own, as
 * the unit tests' do. No required response is opened, so no resolver of the running system
 * looks at these rows.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db.h"
#include "it_unit.h"
#include "svc.h"
#include "../unit/job_test_helpers.h"

static PGconn *g_admin;
static pl_db *g_db;
static char g_rid_prefix[48];

static int group_setup(void **state)
{
    (void)state;
    /* The engine's statement for svc_trans, as build_statements makes it. */
    static char unmark_sql[256];
    snprintf(unmark_sql, sizeof unmark_sql, PL_ENGINE_SQL_UNMARK, "svc_trans");
    static const pl_db_stmt extra[] = {{"pl_unmark", unmark_sql, 2}};
    return it_open_spec_with(&pl_svc_spec, extra, 1, "svcj19drain", &g_admin, &g_db, g_rid_prefix,
                             sizeof g_rid_prefix);
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        static const char *const tables[] = {"svc_trans"};
        it_delete_prefixed(g_admin, g_rid_prefix, tables, sizeof tables / sizeof tables[0]);
        PQfinish(g_admin);
    }
    return 0;
}

/* What a row says of its state: status, operation, sent_by, whether it has a sent_at. */
static void row_state(const char *rid, char *out, size_t outsize)
{
    it_value(g_admin,
             "SELECT concat_ws('|', status, operation, sent_by, sent_at IS NOT NULL) "
             "FROM svc_trans WHERE request_id = $1",
             rid, NULL, out, outsize);
}

static void set_status(const char *rid, const char *status)
{
    it_exec(g_admin, "UPDATE svc_trans SET status = $2 WHERE request_id = $1", 2,
            (const char *const[]){rid, status});
}

/* A batch stored value authorization on an RLT bureau with J19, as the engine hands it to the
 * spec, prepared (its first call: the inquiry), with its attempt. */
static void j19_job(pl_job *job, const pl_service *svc, const char *suffix, const char *attempt)
{
    memset(job, 0, sizeof *job);
    job->reply = job_test_reply();
    job->svc = svc;
    pl_request *r = &job->req;
    r->type = PL_REQ_SVC_AUTH;
    snprintf(r->request_id, sizeof r->request_id, "%s%s", g_rid_prefix, suffix);
    snprintf(r->order, sizeof r->order, "IT4931");
    snprintf(r->service, sizeof r->service, "%s", svc->code);
    snprintf(r->pay_type, sizeof r->pay_type, "SV");
    r->company = 7;
    r->pay_seq = 1;
    r->online = false;
    r->has_amount = true;
    r->amount = 10000;
    snprintf(r->currency, sizeof r->currency, "USD");
    snprintf(job->amount, sizeof job->amount, "100.00");
    snprintf(job->fingerprint, sizeof job->fingerprint, "%064x", 0x519);
    r->svc.present = true;
    snprintf(r->svc.card_number, sizeof r->svc.card_number, "7000000000000019");
    snprintf(job->card_hash, sizeof job->card_hash, "%064x", 0x519c);
    snprintf(job->card_masked, sizeof job->card_masked, "************0019");
    snprintf(job->attempt, sizeof job->attempt, "it/%s", attempt);
    assert_true(pl_svc_spec.prepare_alone(job));
    assert_int_equal(pl_svc_spec.prepare(job, NULL), 0);
    assert_true(job_test_reply_empty(job->reply));
    assert_int_equal(job->call.op, PL_OP_SVC_INQUIRY);
    snprintf(job->op_name, sizeof job->op_name, "%s", pl_bureau_op_name(job->call.op));
}

/* The engine's pl_unmark of the job's row by the job's attempt (give_back). */
static int unmark(pl_job *job, pl_db_unit *u)
{
    const char *p[] = {job->req.request_id, job->attempt};
    return pl_db_unit_add(u, "pl_unmark", 2, p);
}

/* What the engine sets before the mark of the job's next call (next_call). */
static void next_call_of(pl_job *job, const char *attempt)
{
    snprintf(job->prev_attempt, sizeof job->prev_attempt, "%s", job->attempt);
    snprintf(job->attempt, sizeof job->attempt, "it/%s", attempt);
    job->call.op = PL_OP_SVC_PREAUTH;
    job->call.amount = 3000;
    snprintf(job->op_name, sizeof job->op_name, "%s", pl_bureau_op_name(job->call.op));
}

/*
 * The inquiry answered during a stop: its row goes back to 'received' (no sent_by, no sent_at;
 * the operation last sent is kept), once. The redelivery's record-already-sent finds the row
 * and leaves it (the usual way then); its mark takes it as any row never sent, for its own
 * inquiry. The old owner's mark for the PreauthorizationRequest (taking over its inquiry's
 * attempt) now finds the row another attempt's and changes nothing. (Without pl_unmark the row
 * stayed 'sent' by the inquiry's attempt, which the redelivery's mark never takes.)
 */
static void test_row_back_to_received_for_the_redelivery(void **state)
{
    (void)state;
    pl_service svc;
    memset(&svc, 0, sizeof svc);
    snprintf(svc.code, sizeof svc.code, "RLT");
    snprintf(svc.protocol, sizeof svc.protocol, "RLT");
    snprintf(svc.merchant_id, sizeof svc.merchant_id, "paylink_demo");
    svc.secret_ok = true;
    svc.balance_inquiry_batch = true;
    pl_job owner, again;
    char v[256];
    j19_job(&owner, &svc, "stop", "stop/1");
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &owner), 1);
    row_state(owner.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_inquiry|it/stop/1|t");

    /* Another attempt's pl_unmark changes nothing. */
    pl_job other;
    memset(&other, 0, sizeof other);
    snprintf(other.req.request_id, sizeof other.req.request_id, "%s", owner.req.request_id);
    snprintf(other.attempt, sizeof other.attempt, "it/stop/other");
    assert_int_equal(run_unit(g_db, unmark, &other), 0);
    row_state(owner.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_inquiry|it/stop/1|t");

    /* The owner's puts it back, once. */
    assert_int_equal(run_unit(g_db, unmark, &owner), 1);
    row_state(owner.req.request_id, v, sizeof v);
    assert_string_equal(v, "received|svc_inquiry||f");
    assert_int_equal(run_unit(g_db, unmark, &owner), 0);

    /* The redelivery: its inquiry is marked sent, as a row never sent is. */
    j19_job(&again, &svc, "stop", "stop/r1");
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &again), 0);
    row_state(again.req.request_id, v, sizeof v);
    assert_string_equal(v, "received|svc_inquiry||f");
    assert_int_equal(run_unit(g_db, pl_svc_spec.mark_sent, &again), 1);
    row_state(again.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_inquiry|it/stop/r1|t");

    /* The old owner's PreauthorizationRequest mark, were it ever made: not taken over. */
    next_call_of(&owner, "stop/2");
    assert_int_equal(run_unit(g_db, pl_svc_spec.mark_sent, &owner), 0);
    row_state(owner.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_inquiry|it/stop/r1|t");
    /* The redelivery's own next call takes it over as usual. */
    next_call_of(&again, "stop/r2");
    assert_int_equal(run_unit(g_db, pl_svc_spec.mark_sent, &again), 1);
    row_state(again.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_preauth|it/stop/r2|t");
    free(owner.spec_data);
    free(again.spec_data);
}

/* A row made unknown (a redelivery presumed the owner gone) or answered meanwhile is not put
 * back, even by the attempt that marked it. */
static void test_only_its_own_sent_row(void **state)
{
    (void)state;
    pl_service svc;
    memset(&svc, 0, sizeof svc);
    snprintf(svc.code, sizeof svc.code, "RLT");
    snprintf(svc.protocol, sizeof svc.protocol, "RLT");
    snprintf(svc.merchant_id, sizeof svc.merchant_id, "paylink_demo");
    svc.secret_ok = true;
    svc.balance_inquiry_batch = true;
    static const char *const statuses[] = {"unknown", "approved"};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        pl_job j;
        char v[256], suffix[16], attempt[24], want[128];
        snprintf(suffix, sizeof suffix, "closed%zu", i);
        snprintf(attempt, sizeof attempt, "closed%zu/1", i);
        j19_job(&j, &svc, suffix, attempt);
        assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &j), 1);
        set_status(j.req.request_id, statuses[i]);
        assert_int_equal(run_unit(g_db, unmark, &j), 0);
        row_state(j.req.request_id, v, sizeof v);
        snprintf(want, sizeof want, "%s|svc_inquiry|it/%s|t", statuses[i], attempt);
        assert_string_equal(v, want);
        free(j.spec_data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_back_to_received_for_the_redelivery),
        cmocka_unit_test(test_only_its_own_sent_row),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
