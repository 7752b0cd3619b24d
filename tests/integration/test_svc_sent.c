/*
 * test_svc_sent.c: paylink-svc's record_sent (workers/svc/svc.h, engine.h) against the real
 * schema of PAYLINK_DB: a request recorded already marked sent, in one statement
 * (svc_insert_sent), leaves the row that recording (svc_insert) and marking (svc_mark_sent)
 * leave, column for column but the request id, the times and the attempt; the statement returns
 * a row when it inserted and when the row is there 'sent' by the same attempt (a unit re-sent
 * after a lost connection), none for a row 'received', 'sent' by another attempt or final, and
 * then changes nothing. A J19 batch authorization's next call takes over its own record_sent
 * mark as it takes over a mark_sent one.
 *
 * The spec's statements run through pl_db as the engine runs them, under request ids of the
 * test's own, deleted at the end. No configuration is read: the jobs carry a service of their
 * own, as the unit tests' do.
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
    return it_open_spec(&pl_svc_spec, "svcsent", &g_admin, &g_db, g_rid_prefix,
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

/* What a row says of its state, for the checks below. */
static void row_state(const char *rid, char *out, size_t outsize)
{
    it_value(g_admin,
             "SELECT concat_ws('|', status, operation, sent_by, sent_at IS NOT NULL, "
             "claim_amount IS NULL, void_remainder) FROM svc_trans WHERE request_id = $1",
             rid, NULL, out, outsize);
}

static pl_service service(const char *protocol)
{
    pl_service s;
    memset(&s, 0, sizeof s);
    snprintf(s.code, sizeof s.code, "%s", protocol);
    snprintf(s.protocol, sizeof s.protocol, "%s", protocol);
    snprintf(s.merchant_id, sizeof s.merchant_id, "paylink_demo");
    s.secret_ok = true;
    return s;
}

/* A decoded, validated request as the engine hands it to the spec (fingerprint, card hash and
 * mask, the amount's text), prepared without a record unit, with its attempt. */
static void job_of(pl_job *job, const pl_service *svc, pl_req_type type, const char *suffix,
                   const char *attempt)
{
    memset(job, 0, sizeof *job);
    job->reply = job_test_reply();
    job->svc = svc;
    pl_request *r = &job->req;
    r->type = type;
    snprintf(r->request_id, sizeof r->request_id, "%s%s", g_rid_prefix, suffix);
    snprintf(r->order, sizeof r->order, "IT4930");
    snprintf(r->service, sizeof r->service, "%s", svc->code);
    r->company = 7;
    r->pay_seq = 2;
    r->online = true;
    snprintf(job->fingerprint, sizeof job->fingerprint, "%064x", 0x5e47);
    if (type != PL_REQ_SVC_GENERATE && type != PL_REQ_SVC_BALANCE) {
        r->has_amount = true;
        r->amount = 1107;
        snprintf(r->currency, sizeof r->currency, "USD");
        snprintf(job->amount, sizeof job->amount, "11.07");
    }
    if (type != PL_REQ_SVC_GENERATE) {
        r->svc.present = true;
        snprintf(r->svc.card_number, sizeof r->svc.card_number, "7000000000000001");
        snprintf(job->card_hash, sizeof job->card_hash, "%064x", 0xc0ffee);
        snprintf(job->card_masked, sizeof job->card_masked, "************0001");
    }
    snprintf(job->attempt, sizeof job->attempt, "it/%s", attempt);
}

static void prepared(pl_job *job)
{
    free(job->spec_data);
    job->spec_data = NULL;
    assert_int_equal(pl_svc_spec.prepare(job, NULL), 0);
    assert_true(job_test_reply_empty(job->reply));
    snprintf(job->op_name, sizeof job->op_name, "%s", pl_bureau_op_name(job->call.op));
}

/* Columns of b's row that differ from a's, but those that name the request or its moments. */
static void row_difference(const char *a, const char *b, char *out, size_t outsize)
{
    it_value(g_admin,
             "WITH x AS (SELECT to_jsonb(t) - 'request_id' - 'received_at' - 'sent_at' "
             "- 'sent_by' AS j FROM svc_trans t WHERE request_id = $1), "
             "y AS (SELECT to_jsonb(t) - 'request_id' - 'received_at' - 'sent_at' "
             "- 'sent_by' AS j FROM svc_trans t WHERE request_id = $2) "
             "SELECT coalesce(string_agg(k, ',' ORDER BY k), '') FROM x, y, "
             "jsonb_object_keys(x.j || y.j) k WHERE x.j -> k IS DISTINCT FROM y.j -> k",
             a, b, out, outsize);
}

typedef struct sent_case {
    pl_req_type type;
    const char *protocol;
    bool is_virtual, with_issue;
} sent_case;

/* What case c's request carries besides job_of's. */
static void dress(pl_job *j, const sent_case *c)
{
    j->req.svc.is_virtual = c->is_virtual;
    j->req.svc.order_line = c->with_issue ? 3 : 0;
    j->req.svc.has_issue_amount = c->with_issue;
    j->req.svc.issue_amount = 2500;
    snprintf(j->req.pay_type, sizeof j->req.pay_type, "SV");
}

static void same_row_either_way(const sent_case *c, int i)
{
    pl_service svc = service(c->protocol);
    char sa[16], sb[16], aa[16], ab[16];
    snprintf(sa, sizeof sa, "a%d", i);
    snprintf(sb, sizeof sb, "b%d", i);
    snprintf(aa, sizeof aa, "a%d/1", i);
    snprintf(ab, sizeof ab, "b%d/1", i);
    pl_job a, b;
    job_of(&a, &svc, c->type, sa, aa);
    job_of(&b, &svc, c->type, sb, ab);
    dress(&a, c);
    dress(&b, c);
    assert_true(pl_svc_spec.prepare_alone(&b));

    /* The usual way: recorded, then marked. */
    assert_int_equal(run_unit(g_db, pl_svc_spec.record, &a), 1);
    prepared(&a);
    assert_int_equal(run_unit(g_db, pl_svc_spec.mark_sent, &a), 1);
    /* In one statement. */
    prepared(&b);
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &b), 1);

    char diff[512], v[256], want[256];
    row_difference(a.req.request_id, b.req.request_id, diff, sizeof diff);
    if (diff[0])
        fail_msg("case %d (%s): the rows differ in %s", i, b.op_name, diff);
    row_state(b.req.request_id, v, sizeof v);
    snprintf(want, sizeof want, "sent|%s|it/%s|t|t|%s", b.op_name, ab,
             b.call.void_remainder ? "t" : "f");
    assert_string_equal(v, want);
    /* One moment: recorded and marked in one transaction. */
    it_value(g_admin, "SELECT received_at = sent_at FROM svc_trans WHERE request_id = $1",
             b.req.request_id, NULL, v, sizeof v);
    assert_string_equal(v, "t");

    /* The same unit again (re-sent after a lost connection): its own row, unchanged but for
     * sent_at, now, as every mark sent again is (a redelivery elsewhere waits for the owner from
     * it). */
    it_value(g_admin,
             "WITH u AS (UPDATE svc_trans SET sent_at = now() - interval '1 minute' "
             "WHERE request_id = $1 RETURNING 1) SELECT count(*) FROM u",
             b.req.request_id, NULL, v, sizeof v);
    assert_string_equal(v, "1");
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &b), 1);
    it_value(g_admin,
             "SELECT sent_at > now() - interval '30 seconds' FROM svc_trans WHERE request_id = $1",
             b.req.request_id, NULL, v, sizeof v);
    assert_string_equal(v, "t");
    row_difference(a.req.request_id, b.req.request_id, diff, sizeof diff);
    assert_string_equal(diff, "");
    row_state(b.req.request_id, v, sizeof v);
    assert_string_equal(v, want);
    /* Another attempt (a redelivery, another replica) finds it taken and changes nothing. */
    snprintf(b.attempt, sizeof b.attempt, "it/b%d/2", i);
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &b), 0);
    row_state(b.req.request_id, v, sizeof v);
    assert_string_equal(v, want);
    free(a.spec_data);
    free(b.spec_data);
}

/* Every request type but a deposit, which reads the authorization it names (test_refs), and an
 * activation, which reads its card's row and claims it (test_svc_store_many). */
static const sent_case cases[] = {
    {PL_REQ_SVC_GENERATE, "RLT", true, true},  {PL_REQ_SVC_RECHARGE, "RLT", true, false},
    {PL_REQ_SVC_AUTH, "RLT", false, false},    {PL_REQ_SVC_RETURN, "RLT", false, false},
    {PL_REQ_SVC_BALANCE, "RLT", false, false},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

static void test_same_row_either_way(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++)
        same_row_either_way(&cases[i], (int)i);
}

/*
 * Many requests recorded in one batch go as one statement, svc_insert_sent's merged form
 * (db.h): each row is the row svc_insert_sent leaves on its own, column for column; the unit
 * re-sent returns its row again, another attempt's nothing.
 */
static void test_merged_same_rows(void **state)
{
    (void)state;
    pl_service svc[NCASES];
    pl_job one[NCASES], many[NCASES];
    pl_job *batch[NCASES];
    int rows[NCASES];
    for (int i = 0; i < NCASES; i++) {
        svc[i] = service(cases[i].protocol);
        char so[16], sm[16], ao[16], am[16];
        snprintf(so, sizeof so, "o%d", i);
        snprintf(sm, sizeof sm, "m%d", i);
        snprintf(ao, sizeof ao, "o%d/1", i);
        snprintf(am, sizeof am, "m%d/1", i);
        job_of(&one[i], &svc[i], cases[i].type, so, ao);
        job_of(&many[i], &svc[i], cases[i].type, sm, am);
        for (pl_job *j = &one[i]; j; j = j == &one[i] ? &many[i] : NULL) {
            dress(j, &cases[i]);
            assert_true(pl_svc_spec.prepare_alone(j));
            prepared(j);
        }
        assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &one[i]), 1);
        batch[i] = &many[i];
    }
    pl_db_counts before = pl_db_get_counts(g_db);
    run_units(g_db, pl_svc_spec.record_sent, batch, NCASES, rows);
    pl_db_counts after = pl_db_get_counts(g_db);
    assert_int_equal(after.statements - before.statements, 1);
    assert_int_equal(after.merged_executions - before.merged_executions, NCASES);
    for (int i = 0; i < NCASES; i++) {
        assert_int_equal(rows[i], 1);
        char diff[512];
        row_difference(one[i].req.request_id, many[i].req.request_id, diff, sizeof diff);
        if (diff[0])
            fail_msg("case %d (%s): the rows differ in %s", i, many[i].op_name, diff);
    }
    run_units(g_db, pl_svc_spec.record_sent, batch, NCASES, rows);
    for (int i = 0; i < NCASES; i++) {
        assert_int_equal(rows[i], 1);
        snprintf(many[i].attempt, sizeof many[i].attempt, "it/m%d/2", i);
    }
    run_units(g_db, pl_svc_spec.record_sent, batch, NCASES, rows);
    for (int i = 0; i < NCASES; i++) {
        assert_int_equal(rows[i], 0);
        char diff[512];
        row_difference(one[i].req.request_id, many[i].req.request_id, diff, sizeof diff);
        assert_string_equal(diff, "");
        free(one[i].spec_data);
        free(many[i].spec_data);
    }
}

/* A row this attempt did not mark sent is never taken: 'received' (its owner died before the
 * mark; the usual way sends it), or final. Nothing changes. */
static void test_other_rows_are_not_taken(void **state)
{
    (void)state;
    pl_service svc = service("RLT");
    pl_job j;
    char v[256];
    job_of(&j, &svc, PL_REQ_SVC_AUTH, "recv", "recv/1");
    assert_int_equal(run_unit(g_db, pl_svc_spec.record, &j), 1);
    prepared(&j);
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &j), 0);
    row_state(j.req.request_id, v, sizeof v);
    assert_string_equal(v, "received|||f|t|f");
    /* The usual mark still takes it. */
    assert_int_equal(run_unit(g_db, pl_svc_spec.mark_sent, &j), 1);
    row_state(j.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_preauth|it/recv/1|t|t|f");
    free(j.spec_data);

    job_of(&j, &svc, PL_REQ_SVC_BALANCE, "final", "final/1");
    prepared(&j);
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &j), 1);
    const char *p[] = {j.req.request_id};
    PQclear(PQexecParams(g_admin,
                         "UPDATE svc_trans SET status = 'approved', answered_at = now() "
                         "WHERE request_id = $1",
                         1, NULL, p, NULL, NULL, 0));
    /* Even the attempt that marked it: the row is no longer 'sent'. */
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &j), 0);
    row_state(j.req.request_id, v, sizeof v);
    assert_string_equal(v, "approved|svc_inquiry|it/final/1|t|t|f");
    free(j.spec_data);
}

/* J19: the batch authorization's inquiry recorded already sent; the PreauthorizationRequest's
 * mark takes over that mark (prev_attempt) as it takes over a mark_sent one, claiming nothing. */
static void test_j19_next_call_takes_over(void **state)
{
    (void)state;
    pl_service svc = service("RLT");
    svc.balance_inquiry_batch = true;
    pl_job j;
    char v[256];
    job_of(&j, &svc, PL_REQ_SVC_AUTH, "j19", "j19/1");
    j.req.online = false;
    assert_true(pl_svc_spec.prepare_alone(&j));
    prepared(&j);
    assert_int_equal(j.call.op, PL_OP_SVC_INQUIRY);
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &j), 1);
    row_state(j.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_inquiry|it/j19/1|t|t|f");
    /* What the engine does for the next call. */
    snprintf(j.prev_attempt, sizeof j.prev_attempt, "%s", j.attempt);
    snprintf(j.attempt, sizeof j.attempt, "it/j19/2");
    j.call.op = PL_OP_SVC_PREAUTH;
    snprintf(j.op_name, sizeof j.op_name, "%s", pl_bureau_op_name(j.call.op));
    assert_int_equal(run_unit(g_db, pl_svc_spec.mark_sent, &j), 1);
    row_state(j.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_preauth|it/j19/2|t|t|f");
    /* The first attempt's unit re-sent now finds the row no longer its own. */
    snprintf(j.attempt, sizeof j.attempt, "it/j19/1");
    assert_int_equal(run_unit(g_db, pl_svc_spec.record_sent, &j), 0);
    row_state(j.req.request_id, v, sizeof v);
    assert_string_equal(v, "sent|svc_preauth|it/j19/2|t|t|f");
    free(j.spec_data);
}

/* ---- svc_record: a deposit recorded with its authorization's look-up, one or many ---- */

#define REC_HASH "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"

static void rec_rid(char *out, size_t outsize, const char *set, const char *what, int i)
{
    snprintf(out, outsize, "%s%s-%s%d", g_rid_prefix, set, what, i);
}

/* The columns of svc_trans that name a set's own rows or moments. */
static void rec_same(const char *table, const char *col, const char *a, const char *b)
{
    static const char drop[] = "{request_id,received_at,created_at}";
    static char x[8192], y[8192];
    it_rows(g_admin, table, col, a, drop, x, sizeof x);
    it_rows(g_admin, table, col, b, drop, y, sizeof y);
    if (strcmp(x, y) != 0)
        fail_msg("%s %s vs %s:\n%s\n%s", table, a, b, x, y);
    if (strcmp(x, "[]") == 0)
        fail_msg("%s: no rows for %s", table, a);
}

/* An approved stored value authorization req of company 7, order `order`, on RLT: 30.00 USD of
 * card REC_HASH, SVATransactionID tx. */
static void rec_auth(const char *req, const char *order, const char *tx)
{
    it_exec(g_admin,
            "INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
            "order_number, pay_seq, service_bureau, amount, currency, card_masked, card_hash, "
            "status, amount_approved, svc_transaction_id, auth_number, sent_at, answered_at) "
            "VALUES ($1, repeat('c', 64), 'auth', 'svc_preauth', 7, $2, 1, 'RLT', 30.00, 'USD', "
            "'************0001', '" REC_HASH "', 'approved', 30.00, $3, '4471', now(), now())",
            3, (const char *const[]){req, order, tx});
}

typedef struct rec_refs {
    char auth[96], foreign[96], tx[64];
} rec_refs;

typedef struct rec_run {
    const rec_refs *x;
    const char *set;
} rec_run;

/* Case i, a deposit of order IT-SR-REC: 0 of the authorization by request id, 1 by its
 * SVATransactionID alone, 2 of another order's authorization (refused), 3 of an SVATransactionID
 * the order has no authorization for (one paylink does not hold), 4 like case 0, recorded before
 * (nothing inserted). */
static void submit_rec(void *ctx, int i, it_unit_rec *r)
{
    const rec_run *y = ctx;
    char req[96];
    rec_rid(req, sizeof req, y->set, "rec", i);
    const char *p[18] = {req,
                         "cafe000000000000000000000000000000000000000000000000000000000000",
                         pl_req_type_name(PL_REQ_SVC_DEPOSIT),
                         "7",
                         "IT-SR-REC",
                         "1",
                         "RLT",
                         "SV",
                         "online",
                         "5.00",
                         "USD",
                         "************0001",
                         REC_HASH,
                         NULL,
                         NULL,
                         "false",
                         i == 0 || i == 4 ? y->x->auth
                         : i == 2         ? y->x->foreign
                                          : NULL,
                         i == 1   ? y->x->tx
                         : i == 3 ? "sv-unknown"
                                  : NULL};
    it_submit(g_db, "svc_record", 18, p, NULL, r);
}

/*
 * svc_record:many records the deposits svc_record records one at a time, with the same rows,
 * and returns for each the authorization it draws on as svc_record does (as svc_auth looks it
 * up; NULLs for none): nothing for a deposit refused or recorded before.
 */
static void test_record_same_either_way(void **state)
{
    (void)state;
    rec_refs x;
    rec_rid(x.auth, sizeof x.auth, "rec", "auth", 0);
    snprintf(x.tx, sizeof x.tx, "%ssv-rec", g_rid_prefix);
    rec_auth(x.auth, "IT-SR-REC", x.tx);
    rec_rid(x.foreign, sizeof x.foreign, "rec", "foreign", 0);
    rec_auth(x.foreign, "IT-SR-RECX", "sv-rec-foreign");

    enum { R = 5 };
    it_unit_rec r1[R], rn[R];
    rec_run one = {&x, "recone"}, many = {&x, "recmany"};
    it_record_either_way(g_db, R, 4, 1u << 2 | 1u << 4, submit_rec, &one, &many, r1, rn, rec_rid,
                         rec_same, "svc_trans");
    /* What each found (PL_STORED_VALUE_AUTH_COLUMNS, then a deposit's five NULL card columns):
     * the authorization by either name (its AuthNumber, and no merchant ID: not sent by a
     * worker; no deferred void), none for the unknown SVATransactionID. */
    char want[512];
    snprintf(want, sizeof want,
             "auth|approved|30.00|0.00|0.00|0.00|%s|" REC_HASH
             "|%s|0.00|4471|||\\N|\\N|\\N|\\N|\\N|",
             x.tx, x.auth);
    assert_string_equal(rn[0].rest, want);
    assert_string_equal(rn[1].rest, want);
    assert_string_equal(rn[3].rest,
                        "\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|\\N|");
    char refused[96];
    rec_rid(refused, sizeof refused, "recmany", "rec", 2);
    char n[16];
    it_value(g_admin, "SELECT count(*) FROM svc_trans WHERE request_id = $1", refused, NULL, n,
             sizeof n);
    assert_string_equal(n, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_row_either_way),
        cmocka_unit_test(test_merged_same_rows),
        cmocka_unit_test(test_other_rows_are_not_taken),
        cmocka_unit_test(test_j19_next_call_takes_over),
        cmocka_unit_test(test_record_same_either_way),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
