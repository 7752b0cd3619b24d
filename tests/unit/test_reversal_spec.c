/*
 * test_reversal_spec.c: the parts of paylink-reversal's spec (workers/reversal/reversal.h)
 * that need no database: the local refusal rules, the mapping of bureau answers onto the
 * reply (without a configuration snapshot, so without the vendor_response table) and the
 * shape of the spec. Recording, look-up and storing run in tests/e2e/test_reversal.sh.
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

#include "reversal.h"
#include "job_test_helpers.h"
#include "spec_test_helpers.h"

static pl_reversal_auth auth_with(const char *status, int64_t deposited, const char *tid)
{
    pl_reversal_auth a = {.found = true, .deposited = deposited};
    snprintf(a.status, sizeof a.status, "%s", status);
    snprintf(a.transaction_id, sizeof a.transaction_id, "%s", tid);
    return a;
}

static void test_reversible_statuses_go_to_the_bureau(void **state)
{
    (void)state;
    const char *ok[] = {"approved", "review", "rejected"};
    for (size_t i = 0; i < 3; i++) {
        pl_reversal_auth a = auth_with(ok[i], 0, "6543210987654321");
        pl_reply rep = {.status = PL_ST_ERROR};
        assert_false(pl_reversal_check(&a, true, &rep));
        assert_int_equal(rep.status, PL_ST_ERROR); /* untouched */
        assert_string_equal(rep.message, "");
    }
}

static void test_unknown_paylink_auth_is_refused(void **state)
{
    (void)state;
    pl_reversal_auth a = {0};
    pl_reply rep = {0};
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.vendor_response, "");
    assert_non_null(strstr(rep.message, "not known"));
}

static void test_unknown_manual_auth_goes_to_the_bureau(void **state)
{
    (void)state;
    pl_reversal_auth a = {0};
    pl_reply rep = {0};
    assert_false(pl_reversal_check(&a, false, &rep));
    assert_string_equal(rep.message, "");
}

static void test_already_reversed_is_237(void **state)
{
    (void)state;
    pl_reversal_auth a = auth_with("reversed", 0, "1");
    pl_reply rep = {0};
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.vendor_response, "237");
    assert_string_equal(rep.message, pl_reversal_reason_text("237"));
    /* Also when it was found through an inline transaction id. */
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, false, &rep));
    assert_string_equal(rep.vendor_response, "237");
}

static void test_captured_is_238(void **state)
{
    (void)state;
    pl_reversal_auth a = auth_with("approved", 1, "1"); /* one cent deposited */
    pl_reply rep = {0};
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.vendor_response, "238");
    /* Voided after a partial capture: still captured, still 238. */
    a = auth_with("voided", 1, "1");
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_string_equal(rep.vendor_response, "238");
}

/* Issue 6 B.3: an authorization an auth+capture replaced is voided with nothing captured; its
 * funds are still held at the bureau, so its reversal (the deposit's follow-up) goes out. */
static void test_voided_unused_is_reversible(void **state)
{
    (void)state;
    pl_reversal_auth a = auth_with("voided", 0, "1");
    pl_reply rep = {0};
    assert_false(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, 0);
}

/* Issue 6 A.6: a deposit (or another reversal) in flight on the authorization. */
static void test_pending_is_refused(void **state)
{
    (void)state;
    pl_reversal_auth a = auth_with("approved", 0, "1");
    a.pending = 6000;
    pl_reply rep = {0};
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_non_null(strstr(rep.message, "in progress"));
}

/* A timeout reversal of the authorization in flight (sent or unknown: it releases all of it):
 * no other reversal of it goes beside it, of any status the claim takes (before, a late
 * refusal's `.rev` went beside the `.tor` and the bureau refused one as already reversed). */
static void test_timeout_reversal_in_flight_is_refused(void **state)
{
    (void)state;
    const char *statuses[] = {"approved", "rejected", "voided"};
    for (size_t i = 0; i < 3; i++) {
        pl_reversal_auth a = auth_with(statuses[i], 0, "1");
        a.timeout_in_flight = true;
        pl_reply rep = {0};
        assert_true(pl_reversal_check(&a, true, &rep));
        assert_int_equal(rep.status, PL_ST_DECLINED);
        assert_string_equal(rep.vendor_response, "");
        assert_non_null(strstr(rep.message, "timeout reversal"));
        a.timeout_in_flight = false;
        memset(&rep, 0, sizeof rep);
        assert_false(pl_reversal_check(&a, true, &rep));
    }
}

/* The mark (rev_mark_sent and its merged form) claims only while the amount its call sends
 * ($11, p11) is what the history row holds (amount_authorized, else amount_issuer_held: one
 * reversed in part since is decided again), and not beside a timeout reversal of the
 * authorization in flight; its claim of one recording neither amount, by a reversal for the
 * amount the authorization asked, records that as amount_issuer_held (065 then keeps the rest of
 * an approval for less). The look-ups give whether a timeout reversal is in flight as their
 * column 20. tests/integration/test_reversal_many.c runs them. */
static void test_claim_holds_to_what_is_sent(void **state)
{
    (void)state;
    static const char *const marks[] = {"rev_mark_sent", "rev_mark_sent:many"};
    for (size_t i = 0; i < 2; i++) {
        const pl_db_stmt *m = spec_stmt(&pl_reversal_spec, marks[i]);
        assert_non_null(m);
        assert_int_equal(m->nparams, 11);
        assert_non_null(strstr(m->sql, "e.p10, e.p11 FROM e"));
        assert_non_null(strstr(m->sql, "AND coalesce(nullif(h.amount_authorized, 0), "
                                       "h.amount_issuer_held, me.p11::numeric) = me.p11::numeric "
                                       "AND NOT EXISTS (SELECT 1 FROM auth_reversal o "
                                       "WHERE o.auth_request_id = h.request_id "
                                       "AND o.auth_history_id IS NULL"));
        assert_non_null(strstr(m->sql, "amount_issuer_held = CASE WHEN h.amount_authorized IS "
                                       "NULL AND h.amount_issuer_held IS NULL AND "
                                       "me.p11::numeric > 0 AND me.p11::numeric = (SELECT "
                                       "t.amount FROM cc_auth_trans t WHERE t.request_id = "
                                       "h.request_id) THEN me.p11::numeric"));
    }
    static const char *const looks[] = {"rev_record", "rev_record:many", "rev_auth", "rev_auth_tx"};
    for (size_t i = 0; i < 4; i++) {
        const pl_db_stmt *l = spec_stmt(&pl_reversal_spec, looks[i]);
        assert_non_null(l);
        assert_non_null(strstr(l->sql, "coalesce(h.amount_issuer_held::text, ''), EXISTS (SELECT 1 "
                                       "FROM auth_reversal o WHERE o.auth_request_id = "
                                       "h.request_id AND o.auth_history_id IS NULL AND "
                                       "o.operation = 'reversal' AND o.status IN ('sent', "
                                       "'unknown'))"));
    }
}

static void test_not_approved_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"declined", "error"};
    for (size_t i = 0; i < 2; i++) {
        pl_reversal_auth a = auth_with(bad[i], 0, "1");
        pl_reply rep = {0};
        assert_true(pl_reversal_check(&a, true, &rep));
        assert_int_equal(rep.status, PL_ST_DECLINED);
        assert_string_equal(rep.vendor_response, "");
        assert_non_null(strstr(rep.message, bad[i]));
    }
}

/* A CyberSource soft decline (200, 230, 520): the issuer approved and holds the amount, so its
 * reversal (paylink-auth's follow-up, or an order system's) goes to the bureau; any other
 * decline holds nothing and is refused. */
static void test_soft_decline_is_reversible(void **state)
{
    (void)state;
    pl_reversal_auth a = auth_with("declined", 0, "6543210987654321");
    a.soft_declined = true;
    pl_reply rep = {0};
    assert_false(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, 0);
    /* Reversed since, captured or claimed: refused as any. */
    a = auth_with("reversed", 0, "1");
    a.soft_declined = true;
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_string_equal(rep.vendor_response, "237");
    a = auth_with("declined", 0, "1");
    a.soft_declined = true;
    a.pending = 100;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "in progress"));
    /* soft_declined says nothing of another status. */
    a = auth_with("error", 0, "1");
    a.soft_declined = true;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "not approved (error)"));
}

/*
 * A CyberSource authorization declined while its ccAuthReply said the issuer authorized it (a
 * token+auth refused 102 for its token: auth_history.issuer_authorized, migration 060): the
 * issuer holds the amount, so its reversal (paylink-auth's `.rev`, the resolver's, or an order
 * system's) goes to the bureau, as a soft decline's does. Before, it was refused "not approved
 * (declined)" and the hold stayed. A declined one without it (the issuer declined) is still
 * refused, and the flag says nothing of another status but `error` (an ERROR 150 whose
 * ccAuthReply said 100 or 110, 064: reversible as such a declined one is).
 */
static void test_declined_issuer_authorized_is_reversible(void **state)
{
    (void)state;
    pl_reversal_auth a = auth_with("declined", 0, "6543210987654321");
    a.issuer_authorized = true;
    pl_reply rep = {0};
    assert_false(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, 0);
    /* Without it (nor a soft decline): refused, nothing to reverse. */
    a.issuer_authorized = false;
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "not approved (declined)"));
    /* Reversed since, captured or claimed: refused as any. */
    a = auth_with("reversed", 0, "1");
    a.issuer_authorized = true;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_string_equal(rep.vendor_response, "237");
    a = auth_with("declined", 2500, "1");
    a.issuer_authorized = true;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_string_equal(rep.vendor_response, "238");
    a = auth_with("declined", 0, "1");
    a.issuer_authorized = true;
    a.pending = 1;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "in progress"));
    /* An ERROR 150 whose ccAuthReply said the issuer authorized it (064): reversible, as a
     * declined one is; an error without it (an operator's, one the issuer did not authorize) is
     * not. */
    a = auth_with("error", 0, "1");
    a.issuer_authorized = true;
    memset(&rep, 0, sizeof rep);
    assert_false(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, 0);
    a.issuer_authorized = false;
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "not approved (error)"));
    a = auth_with("error", 0, "1");
    a.issuer_authorized = true;
    a.pending = 1;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "in progress"));
    a = auth_with("error", 0, "");
    a.issuer_authorized = true;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "no bureau transaction id"));
    /* Without a transaction id: nothing to name at the bureau. */
    a = auth_with("declined", 0, "");
    a.issuer_authorized = true;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_non_null(strstr(rep.message, "no bureau transaction id"));
}

/* The claim (rev_mark_sent and its merged form) takes a declined authorization only when the
 * issuer holds it: a soft decline's code, or issuer_authorized (060); an error one only with
 * issuer_authorized, for a marker of 0.01 (064); and the look-ups give
 * issuer_authorized as their column 18 (rev_prepare reads it). tests/integration/
 * test_reversal_many.c runs them. */
static void test_claim_takes_declined_issuer_authorized(void **state)
{
    (void)state;
    static const char *const marks[] = {"rev_mark_sent", "rev_mark_sent:many"};
    for (size_t i = 0; i < 2; i++) {
        const pl_db_stmt *m = spec_stmt(&pl_reversal_spec, marks[i]);
        assert_non_null(m);
        assert_non_null(strstr(m->sql, "OR (h.status = 'declined' AND (h.vendor_response IN "
                                       "('200', '230', '520') OR h.issuer_authorized)) "
                                       "OR (h.status = 'error' AND h.issuer_authorized)) "
                                       "RETURNING h.id, coalesce(h.amount_authorized, 0.01)"));
        /* A timeout reversal prepared while the outcome was unknown is not marked unclaimed
         * once an error answer the issuer authorized came: decided again, it claims (064). */
        assert_non_null(strstr(m->sql, "AND (h.status <> 'error' OR h.issuer_authorized))"));
        assert_non_null(strstr(m->sql, "AND h.status = 'error' AND NOT h.issuer_authorized)"));
    }
    static const char *const looks[] = {"rev_record", "rev_record:many", "rev_auth", "rev_auth_tx"};
    for (size_t i = 0; i < 4; i++) {
        const pl_db_stmt *l = spec_stmt(&pl_reversal_spec, looks[i]);
        assert_non_null(l);
        assert_non_null(strstr(l->sql, "coalesce(t.amount::text, ''), "
                                       "coalesce(h.issuer_authorized, false)"));
    }
}

/* The look-ups give what the issuer holds of a refused authorization after a partial approval
 * (auth_history.amount_issuer_held, 061) as their column 19, after issuer_authorized:
 * rev_prepare sends it for a reversal of an authorization with no amount authorized.
 * tests/integration/test_reversal_many.c (test_tor_copies_reverse_what_the_issuer_holds) runs
 * them, two copies of a `.tor` in the order that lost the hold. */
static void test_lookups_give_issuer_held(void **state)
{
    (void)state;
    static const char *const looks[] = {"rev_record", "rev_record:many", "rev_auth", "rev_auth_tx"};
    for (size_t i = 0; i < 4; i++) {
        const pl_db_stmt *l = spec_stmt(&pl_reversal_spec, looks[i]);
        assert_non_null(l);
        assert_non_null(strstr(l->sql, "coalesce(h.issuer_authorized, false), "
                                       "coalesce(h.amount_issuer_held::text, '')"));
        assert_non_null(strstr(l->sql, "issuer_authorized, amount_issuer_held FROM auth_history"));
    }
}

static void test_missing_transaction_id_is_refused(void **state)
{
    (void)state;
    pl_reversal_auth a = auth_with("approved", 0, "");
    pl_reply rep = {0};
    assert_true(pl_reversal_check(&a, true, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_non_null(strstr(rep.message, "transaction id"));
}

static void test_reason_texts(void **state)
{
    (void)state;
    assert_non_null(strstr(pl_reversal_reason_text("237"), "already reversed"));
    /* seed (Siebel) message 17 */
    assert_string_equal(pl_reversal_reason_text("238"),
                        "Transaction has been settled, so it cannot be voided.");
    assert_non_null(pl_reversal_reason_text("102"));
    assert_null(pl_reversal_reason_text("100"));
    assert_null(pl_reversal_reason_text(NULL));
}

/* The bureau's answer of the test's job (the engine allocates one per job; one job at a time
 * here). */
static pl_bureau_result g_res;

/* A job as the engine hands it to map: an answer, no configuration snapshot. */
static void map_answer(pl_job *job, const char *decision, const char *reason)
{
    memset(job, 0, sizeof *job);
    memset(&g_res, 0, sizeof g_res);
    job->res = &g_res;
    job->reply = job_test_reply();
    job->call.op = PL_OP_AUTH_REVERSAL;
    job->call.amount = 12000;
    snprintf(job->res->decision, sizeof job->res->decision, "%s", decision);
    snprintf(job->res->reason_code, sizeof job->res->reason_code, "%s", reason);
    snprintf(job->res->request_id, sizeof job->res->request_id, "%s", "7000000000000000000001");
    snprintf(job->res->request_token, sizeof job->res->request_token, "%s", "Axj/tok");
    pl_reversal_spec.map(job);
}

static void test_map_accept(void **state)
{
    (void)state;
    pl_job job;
    map_answer(&job, "ACCEPT", "100");
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_true(job.reply->has_amount_approved);
    assert_int_equal(job.reply->amount_approved, 12000); /* the amount sent, none answered */
    assert_string_equal(job.reply->vendor_response, "100");
    /* A request naming less than the authorization it reversed whole (paylink sends the
     * authorized amount): the amount sent, not the request's. */
    memset(&job, 0, sizeof job);
    memset(&g_res, 0, sizeof g_res);
    job.res = &g_res;
    job.reply = job_test_reply();
    job.call.op = PL_OP_AUTH_REVERSAL;
    job.call.amount = 10000;
    job.req.has_amount = true;
    job.req.amount = 3000;
    snprintf(job.res->decision, sizeof job.res->decision, "ACCEPT");
    pl_reversal_spec.map(&job);
    assert_int_equal(job.reply->amount_approved, 10000);
    map_answer(&job, "ACCEPT", "100");
    assert_string_equal(job.reply->decision, "ACCEPT");
    assert_string_equal(job.reply->auth.transaction_id, "7000000000000000000001");
    assert_string_equal(job.reply->auth.request_token, "Axj/tok");

    /* The amount the bureau reports wins. */
    memset(&job, 0, sizeof job);
    memset(&g_res, 0, sizeof g_res);
    job.res = &g_res;
    job.reply = job_test_reply();
    job.call.amount = 12000;
    snprintf(job.res->decision, sizeof job.res->decision, "ACCEPT");
    job.res->has_amount = true;
    job.res->amount = 11000;
    pl_reversal_spec.map(&job);
    assert_int_equal(job.reply->amount_approved, 11000);
}

/* An External Payment Service reversal ACCEPTed for less than was sent (its answer's amount,
 * contract §8.5): approved for what was reversed, and the message says what is still held. */
static void test_map_partial_reversal(void **state)
{
    (void)state;
    pl_job job;
    memset(&job, 0, sizeof job);
    memset(&g_res, 0, sizeof g_res);
    job.res = &g_res;
    job.reply = job_test_reply();
    job.call.op = PL_OP_AUTH_REVERSAL;
    job.call.amount = 10000;
    snprintf(job.res->decision, sizeof job.res->decision, "ACCEPT");
    job.res->has_amount = true;
    job.res->amount = 3000;
    pl_reversal_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_true(job.reply->has_amount_approved);
    assert_int_equal(job.reply->amount_approved, 3000);
    assert_string_equal(job.reply->message,
                        "Partially reversed: 30.00 of the 100.00 sent; the issuer still holds "
                        "70.00.");

    /* The whole amount, or none answered: no such message. */
    map_answer(&job, "ACCEPT", "100");
    assert_string_equal(job.reply->message, "");
    job.res->has_amount = true;
    job.res->amount = 12000;
    memset(job.reply, 0, sizeof *job.reply);
    pl_reversal_spec.map(&job);
    assert_int_equal(job.reply->amount_approved, 12000);
    assert_string_equal(job.reply->message, "");
}

static void test_map_reject_keeps_the_reason(void **state)
{
    (void)state;
    const char *codes[] = {"237", "238", "102"};
    for (size_t i = 0; i < 3; i++) {
        pl_job job;
        map_answer(&job, "REJECT", codes[i]);
        assert_int_equal(job.reply->status, PL_ST_DECLINED);
        assert_false(job.reply->has_amount_approved);
        assert_string_equal(job.reply->vendor_response, codes[i]);
        assert_string_equal(job.reply->message, pl_reversal_reason_text(codes[i]));
    }
}

static void test_map_error_and_fault(void **state)
{
    (void)state;
    pl_job job;
    map_answer(&job, "ERROR", "150");
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_string_equal(job.reply->vendor_response, "150");

    memset(&job, 0, sizeof job);
    memset(&g_res, 0, sizeof g_res);
    job.res = &g_res;
    job.reply = job_test_reply();
    snprintf(job.res->fault_code, sizeof job.res->fault_code, "wsse:FailedCheck");
    pl_reversal_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_non_null(strstr(job.reply->message, "wsse:FailedCheck"));

    /* No decision and no vendor_response table: an error, never an approval. */
    map_answer(&job, "", "999");
    assert_int_equal(job.reply->status, PL_ST_ERROR);
}

/* A stored value void (service bureau of protocol RLT) reads its answer as every stored value
 * answer (stored_value.h), not by CyberSource decisions. */
static void test_map_stored_value_void(void **state)
{
    (void)state;
    pl_service rlt;
    memset(&rlt, 0, sizeof rlt);
    snprintf(rlt.code, sizeof rlt.code, "RLT");
    snprintf(rlt.protocol, sizeof rlt.protocol, "RLT");
    pl_job job;
    memset(&job, 0, sizeof job);
    memset(&g_res, 0, sizeof g_res);
    job.res = &g_res;
    job.reply = job_test_reply();
    job.svc = &rlt;
    job.call.op = PL_OP_SVC_VOID;
    job.call.amount = 3000;
    snprintf(job.res->reason_code, sizeof job.res->reason_code, "22");
    snprintf(job.res->request_id, sizeof job.res->request_id, "9360");
    job.res->has_amount = true;
    job.res->amount = 3000;
    pl_reversal_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_int_equal(job.reply->amount_approved, 3000);
    assert_string_equal(job.reply->vendor_response, "22"); /* no vendor_response table here */
    assert_string_equal(job.reply->auth.transaction_id, "9360");

    memset(job.reply, 0, sizeof *job.reply);
    memset(job.res, 0, sizeof *job.res);
    snprintf(job.res->error_code, sizeof job.res->error_code, "TRANSACTION_ALREADY_VOIDED");
    pl_reversal_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_string_equal(job.reply->vendor_response, "TRANSACTIO"); /* cut to 10 */
}

static void test_spec_shape(void **state)
{
    (void)state;
    const pl_spec *s = &pl_reversal_spec;
    assert_string_equal(s->worker, "reversal");
    assert_string_equal(s->table, "auth_reversal");
    assert_string_equal(s->protocols[0], "CYB");
    assert_string_equal(s->protocols[1], "RLT"); /* stored value voids */
    assert_string_equal(s->protocols[2], "EXT"); /* both, on the External Payment Service */
    assert_null(s->protocols[3]);
    assert_int_equal(s->nstmts, 14); /* with rev_kept_rest (a 237 after a partial reversal) */
    spec_assert_statements(s);
    for (size_t i = 0; i < s->nstmts; i++) {
        assert_non_null(s->stmts[i].name);
        assert_non_null(strstr(s->stmts[i].sql, "auth_"));
    }
    /* The record (by request id), the mark and the store go merged (db.h, "NAME:many"), with
     * their statement's parameters; the stored value void's do not. */
    int merged = 0;
    for (size_t i = 0; i < s->nstmts; i++) {
        const char *colon = strstr(s->stmts[i].name, ":many");
        if (!colon)
            continue;
        merged++;
        size_t len = (size_t)(colon - s->stmts[i].name);
        bool found = false;
        for (size_t k = 0; k < s->nstmts; k++)
            if (strlen(s->stmts[k].name) == len &&
                strncmp(s->stmts[k].name, s->stmts[i].name, len) == 0) {
                assert_int_equal(s->stmts[k].nparams, s->stmts[i].nparams);
                found = true;
            }
        assert_true(found);
        assert_true(strncmp(s->stmts[i].name, "rev_record", len) == 0 ||
                    strncmp(s->stmts[i].name, "rev_mark_sent", len) == 0 ||
                    strncmp(s->stmts[i].name, "rev_store", len) == 0);
    }
    assert_int_equal(merged, 3);
    /* The mark claims the authorization it reverses, found by its own (spec_assert_statements,
     * above, checks that its merged form is the same statement over each execution). */
    const pl_db_stmt *mark = spec_stmt(s, "rev_mark_sent");
    assert_non_null(strstr(mark->sql, "EXISTS (SELECT 1 FROM claim c WHERE c.id = me.p5::bigint)"));
    assert_non_null(s->record);
    assert_non_null(s->prepare);
    assert_non_null(s->mark_sent);
    assert_non_null(s->map);
    assert_non_null(s->store);
    assert_null(s->release); /* spec_data is a plain struct: the engine frees it */
    /* The rest of paylink's own reversal approved for less (rev_followups). */
    assert_non_null(s->followups);
    /* paylink's own reversals are never answered unsent by a stalled bureau's breaker (engine.c
     * slot_stall): they wait for its slot. The order system's are answered as any request. */
    assert_non_null(s->breaker_exempt);
    pl_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.req.auth_ref.request_id, sizeof job.req.auth_ref.request_id, "auth-9");
    const char *own[] = {"auth-9.rev", "auth-9.tor", "auth-9.dmrev", "auth-9.rev.rest",
                         "auth-9.tor.again"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        snprintf(job.req.request_id, sizeof job.req.request_id, "%s", own[i]);
        assert_true(s->breaker_exempt(&job));
    }
    snprintf(job.req.request_id, sizeof job.req.request_id, "order-77-rev");
    assert_false(s->breaker_exempt(&job));
}

/* The resolver's timeout reversal of an authorization is refused once that authorization's
 * outcome is known (an operator settled it approved, or its answer came late): it was
 * published upstream, and reversing it would take it away. Any other reversal, the timeout
 * reversal while the outcome is still unknown, and one of an authorization an operator settled
 * error or rejected (the bureau may hold its funds: this reversal releases them), goes on. */
static void test_timeout_reversal_after_settled_is_refused(void **state)
{
    (void)state;
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    assert_true(
        pl_reversal_timeout_settled("auth-77.tor", "auth-77", false, "approved", false, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_non_null(strstr(rep.message, "known now (approved)"));
    memset(&rep, 0, sizeof rep);
    assert_true(pl_reversal_timeout_settled("auth-77.tor", "auth-77", false, "", false, &rep));
    assert_non_null(strstr(rep.message, "(settled)"));
    /* Still unknown: the timeout reversal is what the resolver asked for. */
    memset(&rep, 0, sizeof rep);
    assert_false(pl_reversal_timeout_settled("auth-77.tor", "auth-77", true, "", false, &rep));
    assert_int_equal(rep.status, 0);
    /* Settled error or rejected since: the reversal is still what releases the funds. */
    assert_false(
        pl_reversal_timeout_settled("auth-77.tor", "auth-77", false, "error", false, &rep));
    assert_false(
        pl_reversal_timeout_settled("auth-77.tor", "auth-77", false, "rejected", false, &rep));
    assert_int_equal(rep.status, 0);
    assert_true(
        pl_reversal_timeout_settled("auth-77.tor", "auth-77", false, "review", false, &rep));
    assert_true(
        pl_reversal_timeout_settled("auth-77.tor", "auth-77", false, "declined", false, &rep));
    /* A late soft decline (the issuer approved, CyberSource declined): still held, released by
     * this reversal. */
    memset(&rep, 0, sizeof rep);
    assert_false(
        pl_reversal_timeout_settled("auth-77.tor", "auth-77", false, "declined", true, &rep));
    assert_int_equal(rep.status, 0);
    assert_true(pl_reversal_is_timeout_of("auth-77.tor", "auth-77"));
    /* paylink's own reversals go whatever this worker's Send reversal says. */
    assert_true(pl_reversal_by_paylink("auth-77.rev", "auth-77"));
    assert_true(pl_reversal_by_paylink("auth-77.tor", "auth-77"));
    assert_true(pl_reversal_by_paylink("auth-77.dmrev", "auth-77"));
    assert_false(pl_reversal_by_paylink("rev-1", "auth-77"));
    assert_false(pl_reversal_by_paylink("auth-78.rev", "auth-77"));
    assert_false(pl_reversal_by_paylink("auth-77.rev", ""));
    /* paylink's reversal of the authorization a soft-declined auth+capture (debit d-9) made. */
    assert_true(pl_reversal_of_soft_decline("d-9.sdr", "d-9"));
    assert_false(pl_reversal_of_soft_decline("d-9.sdr", ""));
    assert_false(pl_reversal_of_soft_decline("d-9.sdr", "d-8"));
    assert_false(pl_reversal_of_soft_decline("d-9.vdr", "d-9"));
    assert_false(pl_reversal_of_soft_decline(NULL, "d-9"));
    /* paylink's reversal of the authorization the auth+capture d-1 replaced: named after the
     * deposit (as pl_deposit_reversal_request_id names it), which voided it
     * (auth_history.voided_by). It was checked against the authorization's id, a shape nothing
     * produces. */
    char vdr[64];
    pl_job_derived_request_id("d-1", PL_DEPOSIT_REVERSAL_SUFFIX, vdr, sizeof vdr);
    assert_true(pl_reversal_of_replaced(vdr, "d-1"));
    assert_false(pl_reversal_by_paylink(vdr, "auth-77"));
    assert_false(pl_reversal_of_replaced(vdr, ""));
    assert_false(pl_reversal_of_replaced(vdr, "d-2"));
    assert_false(pl_reversal_of_replaced("d-1.sdr", "d-1"));
    /* And the one its resolver publishes again when that was refused while the void waited
     * (057). */
    pl_job_derived_request_id("d-1", PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX, vdr, sizeof vdr);
    assert_true(pl_reversal_of_replaced(vdr, "d-1"));
    assert_false(pl_reversal_of_replaced(vdr, "d-2"));
    assert_false(pl_reversal_is_timeout_of("auth-77.rev", "auth-77"));
    assert_false(pl_reversal_is_timeout_of("auth-77.tor", ""));
    assert_false(pl_reversal_is_timeout_of(NULL, "auth-77"));
    memset(&rep, 0, sizeof rep);
    /* Not the resolver's: an upstream reversal of a settled authorization is checked as usual. */
    assert_false(pl_reversal_timeout_settled("rev-1", "auth-77", false, "approved", false, &rep));
    assert_false(
        pl_reversal_timeout_settled("auth-78.tor", "auth-77", false, "approved", false, &rep));
    assert_false(pl_reversal_timeout_settled("auth-77.tor", "", false, "approved", false, &rep));
    /* An id too long for its suffix is derived as the resolver derives it. */
    char longid[51], tor[64];
    memset(longid, 'a', 50);
    longid[50] = '\0';
    pl_job_derived_request_id(longid, "tor", tor, sizeof tor);
    assert_true(pl_reversal_timeout_settled(tor, longid, false, "approved", false, &rep));
}

/* A job this spec did not prepare (a replay: the engine decides its follow-ups again from the
 * stored reply) asks for nothing, whatever the reply says. */
static void test_rest_of_an_unprepared_job(void **state)
{
    (void)state;
    pl_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.req.request_id, sizeof job.req.request_id, "auth-77.rev");
    snprintf(job.req.auth_ref.request_id, sizeof job.req.auth_ref.request_id, "auth-77");
    job.call.op = PL_OP_AUTH_REVERSAL;
    job.call.amount = 10000;
    json_object *reply =
        json_tokener_parse("{\"status\":\"approved\",\"amount_approved\":\"30.00\"}");
    assert_non_null(reply);
    pl_reversal_rest_request rest;
    assert_int_equal(pl_reversal_rest_of(&job, reply, &rest), 0);
    assert_string_equal(rest.request_id, "");
    json_object_put(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reversible_statuses_go_to_the_bureau),
        cmocka_unit_test(test_unknown_paylink_auth_is_refused),
        cmocka_unit_test(test_soft_decline_is_reversible),
        cmocka_unit_test(test_declined_issuer_authorized_is_reversible),
        cmocka_unit_test(test_claim_takes_declined_issuer_authorized),
        cmocka_unit_test(test_lookups_give_issuer_held),
        cmocka_unit_test(test_unknown_manual_auth_goes_to_the_bureau),
        cmocka_unit_test(test_already_reversed_is_237),
        cmocka_unit_test(test_captured_is_238),
        cmocka_unit_test(test_voided_unused_is_reversible),
        cmocka_unit_test(test_pending_is_refused),
        cmocka_unit_test(test_timeout_reversal_in_flight_is_refused),
        cmocka_unit_test(test_claim_holds_to_what_is_sent),
        cmocka_unit_test(test_not_approved_is_refused),
        cmocka_unit_test(test_missing_transaction_id_is_refused),
        cmocka_unit_test(test_reason_texts),
        cmocka_unit_test(test_timeout_reversal_after_settled_is_refused),
        cmocka_unit_test(test_map_accept),
        cmocka_unit_test(test_map_partial_reversal),
        cmocka_unit_test(test_map_reject_keeps_the_reason),
        cmocka_unit_test(test_map_error_and_fault),
        cmocka_unit_test(test_map_stored_value_void),
        cmocka_unit_test(test_spec_shape),
        cmocka_unit_test(test_rest_of_an_unprepared_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
