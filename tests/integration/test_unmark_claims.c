/*
 * test_unmark_claims.c: a row its own send attempt puts back to 'received' (the engine's
 * statement pl_unmark, engine.h PL_ENGINE_SQL_UNMARK: a call given back for redelivery at a stop
 * or a revoke, engine.c held_back / give_back) releases exactly what that attempt's mark claimed
 * (078): a capture's amount on its authorization, a follow-on credit's on its debit, a
 * reversal's on its authorization, a stored value deposit's and void's on theirs, a return's on
 * its deposit, an activation's hold on its card; a void deferred on the authorization until then
 * (an auth+capture's, owing its `.vdr`; a stored value deposit's) is carried out. What the mark
 * recorded besides its claim stays: a reversal's amount_issuer_held, a timeout reversal's
 * registration on its authorization's required response. Only while the row is still that
 * attempt's 'sent': another attempt's pl_unmark, a second one, or one after the row was made
 * unknown releases nothing, and the claim is then released once, by the row's outcome. The
 * redelivery's mark claims again, once. (Before 078 the claim stayed with a row 'received': a
 * reversal's redelivery could not claim at all, a capture's claimed twice.) And the engine's
 * unknown outcome (pl_unknown, PL_ENGINE_SQL_UNKNOWN) of a row it saw 'sent' by an attempt
 * touches it only while that attempt still has it: never a row that attempt gave back meanwhile.
 *
 * The rows are marked by the specs' own mark statements and put back by the engine's statement,
 * run as they are written, under request ids of the test's own, deleted at the end. The one
 * required response (a timeout reversal's) is escalated and held under the test's lease, a
 * reversal owed is held so in the transaction that owes it, and pl_unknown's that open one are
 * rolled back: no resolver of the running system looks at these rows.
 */
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

#include "deposit.h"
#include "engine.h"
#include "it_unit.h"
#include "reversal.h"
#include "svc.h"

static PGconn *g_admin;
static char g_p[48];          /* the test's request id prefix */
static char g_hash[65];       /* the test's stored value card hash */
static char g_unmark[3][256]; /* PL_ENGINE_SQL_UNMARK of each table */
static char g_unknown[2048];  /* PL_ENGINE_SQL_UNKNOWN of cc_deposit_trans */

static const char *const g_tables[] = {"cc_deposit_trans", "auth_reversal", "svc_trans"};

static int group_setup(void **state)
{
    (void)state;
    const char *conninfo;
    if (!(g_admin = it_admin_connect(&conninfo)))
        return -1;
    snprintf(g_p, sizeof g_p, "it-unmark-%ld-%ld-", (long)getpid(), (long)time(NULL) % 100000);
    snprintf(g_hash, sizeof g_hash, "%032lx%032lx", (long)getpid(), (long)time(NULL));
    for (int i = 0; i < 3; i++)
        snprintf(g_unmark[i], sizeof g_unmark[i], PL_ENGINE_SQL_UNMARK, g_tables[i]);
    snprintf(g_unknown, sizeof g_unknown, PL_ENGINE_SQL_UNKNOWN, g_tables[0]);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        /* (A test that failed inside its transaction: what it wrote goes, the rest is deleted.) */
        if (PQtransactionStatus(g_admin) != PQTRANS_IDLE)
            PQclear(PQexec(g_admin, "ROLLBACK"));
        /* (required_response: the timeout reversal's, and one pl_unknown opened should its
         * guard ever fail.) */
        static const char *const tables[] = {
            "required_response", "cc_deposit_history", "cc_deposit_trans", "auth_reversal",
            "svc_trans",         "auth_history",       "cc_auth_trans"};
        it_delete_prefixed(g_admin, g_p, tables, sizeof tables / sizeof tables[0]);
        char like[64];
        snprintf(like, sizeof like, "%s%%", g_p);
        const char *l[] = {like};
        PQclear(PQexecParams(g_admin,
                             "DELETE FROM replaced_auth_reversal WHERE deposit_request_id LIKE $1",
                             1, NULL, l, NULL, NULL, 0));
        const char *p[] = {g_hash};
        PQclear(PQexecParams(g_admin, "DELETE FROM stored_value_card WHERE card_hash = $1", 1, NULL,
                             p, NULL, NULL, 0));
        PQfinish(g_admin);
    }
    return 0;
}

/* The text of spec's statement name. */
static const char *stmt(const pl_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->nstmts; i++)
        if (strcmp(spec->stmts[i].name, name) == 0)
            return spec->stmts[i].sql;
    fail_msg("no statement %s", name);
    return NULL;
}

/* Runs sql with n text parameters; fails the test when it fails; returns its rows. */
static int run(const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(g_admin, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%.80s…: %s", sql, m);
    }
    int rows = PQntuples(r);
    PQclear(r);
    return rows;
}

/* pl_unmark of table t's row rid by attempt; its rows (1: put back). */
static int unmark(int t, const char *rid, const char *attempt)
{
    return run(g_unmark[t], 2, (const char *const[]){rid, attempt});
}

/* The test's request id of suffix. */
static const char *rid(char *buf, size_t size, const char *suffix)
{
    snprintf(buf, size, "%s%s", g_p, suffix);
    return buf;
}

static void value(const char *sql, const char *a, char *out, size_t size)
{
    it_value(g_admin, sql, a, NULL, out, size);
}

#define AUTH_STATE                                                                                 \
    "SELECT concat_ws('|', status, amount_pending, amount_voided) FROM auth_history "              \
    "WHERE id = $1::bigint"
#define DEPOSIT_STATE                                                                              \
    "SELECT concat_ws('|', status, deposit_status, sent_by, coalesce(claim_amount::text, '-')) "   \
    "FROM cc_deposit_trans WHERE request_id = $1"

/* A debit capture of 30.00 on an approved authorization of 100.00. */
static void insert_debit(const char *d, const char *order)
{
    run("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, company, "
        "order_number, pay_seq, service_bureau, amount, currency) VALUES ($1, repeat('d', 64), "
        "'debit', 7, $2, 1, 'CYB', 30.00, 'USD')",
        2, (const char *const[]){d, order});
}

/* dep_mark_sent_auth of capture d (30.00) on authorization auth_id by attempt; its rows. */
static int mark_capture(const char *d, const char *auth_id, const char *attempt)
{
    return run(stmt(&pl_deposit_spec, "dep_mark_sent_auth"), 10,
               (const char *const[]){d, "capture", "m1", "", auth_id, "7000000000000000000001", "",
                                     attempt, "30.00", "false"});
}

/*
 * A capture given back: its claim on the authorization released with its row, only by its own
 * attempt and only once; the redelivery's mark claims it again, once; a row made unknown keeps
 * its claim for its outcome, which releases it once.
 */
static void test_capture_claim_released_with_its_row(void **state)
{
    (void)state;
    char a[80], d[80], auth_id[24], v[128];
    it_approved_auth(g_admin, rid(a, sizeof a, "auth1"), "IT-UNMARK-1", "0", auth_id,
                     sizeof auth_id);
    insert_debit(rid(d, sizeof d, "cap1"), "IT-UNMARK-1");
    assert_int_equal(mark_capture(d, auth_id, "it/c1"), 1);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|30.00|0.00");

    /* Another attempt's changes nothing. */
    assert_int_equal(unmark(0, d, "it/other"), 0);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|30.00|0.00");

    /* Its own: the row recorded again, the claim released; once. */
    assert_int_equal(unmark(0, d, "it/c1"), 1);
    value(DEPOSIT_STATE, d, v, sizeof v);
    assert_string_equal(v, "received|||-");
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|0.00|0.00");
    assert_int_equal(unmark(0, d, "it/c1"), 0);

    /* The redelivery claims once; made unknown, its row keeps the claim against an unmark. */
    assert_int_equal(mark_capture(d, auth_id, "it/c2"), 1);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|30.00|0.00");
    run("UPDATE cc_deposit_trans SET status = 'unknown' WHERE request_id = $1", 1,
        (const char *const[]){d});
    assert_int_equal(unmark(0, d, "it/c2"), 0);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|30.00|0.00");
    run("UPDATE cc_deposit_trans SET status = 'error' WHERE request_id = $1", 1,
        (const char *const[]){d});
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|0.00|0.00");
}

/* A void deferred on the authorization until its claims end (050) is carried out when the last
 * claim is released by a row given back, as when that row's outcome releases it. */
static void test_deferred_void_done_when_given_back(void **state)
{
    (void)state;
    char a[80], d[80], auth_id[24], v[128];
    it_approved_auth(g_admin, rid(a, sizeof a, "auth2"), "IT-UNMARK-2", "0", auth_id,
                     sizeof auth_id);
    insert_debit(rid(d, sizeof d, "cap2"), "IT-UNMARK-2");
    assert_int_equal(mark_capture(d, auth_id, "it/d1"), 1);
    /* Another capture of it, approved meanwhile for 20.00, voided the rest: deferred. */
    run("UPDATE auth_history SET amount_deposited = 20, void_deferred_by = 'other', "
        "void_deferred_reason = 'void_at_deposit' WHERE id = $1::bigint",
        1, (const char *const[]){auth_id});
    assert_int_equal(unmark(0, d, "it/d1"), 1);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "voided|0.00|80.00");
}

/* pl_unmark of capture d by attempt in a transaction that also holds a reversal it makes owed
 * (replaced_auth_reversal, 057) under the test's lease, which no resolver of the running system
 * takes while it lasts (as test_deposit_vdr.c holds them); its rows. */
static int held_unmark(const char *d, const char *attempt)
{
    run("BEGIN", 0, NULL);
    int rows = unmark(0, d, attempt);
    run("UPDATE replaced_auth_reversal SET lease_owner = 'it-unmark-hold', "
        "lease_until = now() + interval '1 hour' WHERE deposit_request_id LIKE $1 || '%'",
        1, (const char *const[]){g_p});
    run("COMMIT", 0, NULL);
    return rows;
}

#define AUTH_VOID                                                                                  \
    "SELECT concat_ws('|', status, amount_pending, amount_voided, "                                \
    "coalesce(nullif(void_reason, ''), '-'), coalesce(nullif(voided_by, ''), '-'), "               \
    "coalesce(void_deferred_by, '-'), "                                                            \
    "coalesce(void_deferred_reason, '-')) FROM auth_history WHERE id = $1::bigint"
#define OWED                                                                                       \
    "SELECT count(*) || '|' || coalesce(string_agg(concat_ws('|', auth_history_id, "               \
    "auth_request_id, amount), ','), '-') FROM replaced_auth_reversal "                            \
    "WHERE deposit_request_id = $1"

/*
 * An auth+capture that replaced the authorization while a capture of it was in flight: its void
 * of the authorization waits for that claim (050, auth_capture). The capture given back ends the
 * claim: the void is carried out, by the auth+capture, and its reversal `<deposit>.vdr` owed
 * (057: nothing of the authorization captured, Send reversal on CYB), once. Another attempt's
 * pl_unmark, before, does neither; a second one, after, adds nothing; the redelivery's mark finds
 * the authorization voided and claims nothing (the capture is decided again).
 */
static void test_auth_capture_deferred_void_done_when_given_back(void **state)
{
    (void)state;
    char a[80], d[80], ac[80], auth_id[24], v[256], want[256];
    it_approved_auth(g_admin, rid(a, sizeof a, "auth7"), "IT-UNMARK-7", "0", auth_id,
                     sizeof auth_id);
    insert_debit(rid(d, sizeof d, "cap7"), "IT-UNMARK-7");
    assert_int_equal(mark_capture(d, auth_id, "it/e1"), 1);
    /* The auth+capture, sent without a claim on it (dep_mark_sent), approved: its settle trigger
     * defers the void while the capture's 30.00 is claimed. */
    run("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, company, "
        "order_number, pay_seq, service_bureau, amount, currency, status, operation, "
        "auth_history_id, sent_at, sent_by) VALUES ($1, repeat('d', 64), 'debit', 7, "
        "'IT-UNMARK-7', 1, 'CYB', 100.00, 'USD', 'sent', 'auth_capture', $2::bigint, now(), "
        "'it/ac')",
        2, (const char *const[]){rid(ac, sizeof ac, "ac7"), auth_id});
    run("UPDATE cc_deposit_trans SET status = 'approved', amount_deposited = 100.00 "
        "WHERE request_id = $1",
        1, (const char *const[]){ac});
    value(AUTH_VOID, auth_id, v, sizeof v);
    snprintf(want, sizeof want, "approved|30.00|0.00|-|-|%s|auth_capture", ac);
    assert_string_equal(v, want);

    assert_int_equal(held_unmark(d, "it/other"), 0);
    value(AUTH_VOID, auth_id, v, sizeof v);
    assert_string_equal(v, want);
    value(OWED, ac, v, sizeof v);
    assert_string_equal(v, "0|-");

    assert_int_equal(held_unmark(d, "it/e1"), 1);
    value(AUTH_VOID, auth_id, v, sizeof v);
    snprintf(want, sizeof want, "voided|0.00|100.00|auth_capture|%s|-|-", ac);
    assert_string_equal(v, want);
    value(OWED, ac, v, sizeof v);
    snprintf(want, sizeof want, "1|%s|%s|100.00", auth_id, a);
    assert_string_equal(v, want);

    assert_int_equal(held_unmark(d, "it/e1"), 0);
    value(OWED, ac, v, sizeof v);
    assert_string_equal(v, want);
    assert_int_equal(mark_capture(d, auth_id, "it/e2"), 0);
    value(AUTH_VOID, auth_id, v, sizeof v);
    snprintf(want, sizeof want, "voided|0.00|100.00|auth_capture|%s|-|-", ac);
    assert_string_equal(v, want);
    value(DEPOSIT_STATE, d, v, sizeof v);
    assert_string_equal(v, "received|||-");
}

/* A follow-on credit given back: its claim on the debit it refunds released. */
static void test_credit_claim_released_with_its_row(void **state)
{
    (void)state;
    char deb[80], c[80], v[64];
    run("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, company, "
        "order_number, pay_seq, service_bureau, amount, currency, status, amount_deposited) "
        "VALUES ($1, repeat('d', 64), 'debit', 7, 'IT-UNMARK-3', 1, 'CYB', 50.00, 'USD', "
        "'approved', 50.00)",
        1, (const char *const[]){rid(deb, sizeof deb, "deb3")});
    run("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, company, "
        "order_number, pay_seq, service_bureau, amount, currency, capture_ref_request_id) "
        "VALUES ($1, repeat('c', 64), 'credit', 7, 'IT-UNMARK-3', 1, 'CYB', 20.00, 'USD', $2)",
        2, (const char *const[]){rid(c, sizeof c, "cre3"), deb});
    assert_int_equal(
        run(stmt(&pl_deposit_spec, "dep_mark_sent_capture"), 10,
            (const char *const[]){c, "credit", "m1", "", NULL, "", "", "it/k1", "20.00", deb}),
        1);
    const char *q = "SELECT amount_credited::text FROM cc_deposit_trans WHERE request_id = $1";
    value(q, deb, v, sizeof v);
    assert_string_equal(v, "20.00");
    assert_int_equal(unmark(0, c, "it/other"), 0);
    value(q, deb, v, sizeof v);
    assert_string_equal(v, "20.00");
    assert_int_equal(unmark(0, c, "it/k1"), 1);
    value(q, deb, v, sizeof v);
    assert_string_equal(v, "0.00");
}

/* rev_mark_sent of reversal r (100.00) of authorization a (auth_id) by attempt; its rows. */
static int mark_reversal(const char *r, const char *a, const char *auth_id, const char *attempt)
{
    return run(stmt(&pl_reversal_spec, "rev_mark_sent"), 11,
               (const char *const[]){r, "reversal", "m1", a, auth_id, "7000000000000000000001", "",
                                     "123456", "", attempt, "100.00"});
}

/* A reversal given back: its claim of the whole authorization released, so that the
 * redelivery's mark can claim it (it claims only while nothing is claimed: before 078 it could
 * not, and the reversal was refused). */
static void test_reversal_claim_released_with_its_row(void **state)
{
    (void)state;
    char a[80], r[80], auth_id[24], v[128];
    it_approved_auth(g_admin, rid(a, sizeof a, "auth4"), "IT-UNMARK-4", "0", auth_id,
                     sizeof auth_id);
    run("INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "
        "service_bureau, amount, currency, auth_request_id) VALUES ($1, repeat('r', 64), 7, "
        "'IT-UNMARK-4', 1, 'CYB', 100.00, 'USD', $2)",
        2, (const char *const[]){rid(r, sizeof r, "rev4"), a});
    assert_int_equal(mark_reversal(r, a, auth_id, "it/r1"), 1);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|100.00|0.00");
    assert_int_equal(unmark(1, r, "it/other"), 0);
    assert_int_equal(unmark(1, r, "it/r1"), 1);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|0.00|0.00");
    value("SELECT concat_ws('|', status, coalesce(claim_amount::text, '-')) FROM auth_reversal "
          "WHERE request_id = $1",
          r, v, sizeof v);
    assert_string_equal(v, "received|-");
    assert_int_equal(mark_reversal(r, a, auth_id, "it/r2"), 1);
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|100.00|0.00");
}

#define RR_REVERSAL                                                                                \
    "SELECT concat_ws('|', status, coalesce(reversal_request_id, '-'), "                           \
    "coalesce(reversal_requested_at::text, '-')) FROM required_response "                          \
    "WHERE worker = 'auth' AND request_id = $1"

/*
 * A timeout reversal (of an authorization with no outcome: p4, no p5) given back: it claimed
 * nothing, and its registration on the authorization's required response (tor: the reversal the
 * required response follows) is the request's, not the attempt's (078), so it stays as it was,
 * and the redelivery's mark goes on it (follows) without registering again. The required response
 * is escalated and held by the test's lease, its worker's reply recorded out: the running
 * system's resolvers take only open rows that are due and pending replies nobody holds.
 */
static void test_timeout_reversal_registration_kept(void **state)
{
    (void)state;
    char a[80], r[96], v[256], want[256];
    run("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, status, amount, currency, card_token, sent_at, "
        "sent_by) VALUES ($1, repeat('a', 64), 'auth', 'auth', 7, 'IT-UNMARK-8', 1, 'CYB', "
        "'unknown', 100.00, 'USD', '7000000000000000000009', now() - interval '1 hour', 'it/a8')",
        1, (const char *const[]){rid(a, sizeof a, "auth8")});
    run("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
        "worker_replied_at, lease_owner, lease_until) VALUES ($1, 'auth', 7, 'IT-UNMARK-8', 1, "
        "'CYB', 'auth', 100.00, 'USD', 'timeout', 'it: no answer', 'escalated', now(), now(), "
        "'it-unmark-hold', now() + interval '1 hour')",
        1, (const char *const[]){a});
    snprintf(r, sizeof r, "%s.tor", a);
    run("INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "
        "service_bureau, amount, currency, auth_request_id) VALUES ($1, repeat('r', 64), 7, "
        "'IT-UNMARK-8', 1, 'CYB', 100.00, 'USD', $2)",
        2, (const char *const[]){r, a});
    const char *mark = stmt(&pl_reversal_spec, "rev_mark_sent");
    assert_int_equal(
        run(mark, 11,
            (const char *const[]){r, "reversal", "m1", a, NULL, "", "", "", "", "it/o1", "100.00"}),
        1);
    value(RR_REVERSAL, a, want, sizeof want);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "escalated|%s|", r);
    assert_memory_equal(want, prefix, strlen(prefix));
    assert_true(strlen(want) > strlen(prefix) + 1);

    assert_int_equal(unmark(1, r, "it/other"), 0);
    assert_int_equal(unmark(1, r, "it/o1"), 1);
    value("SELECT concat_ws('|', status, coalesce(claim_amount::text, '-'), "
          "coalesce(auth_history_id::text, '-')) FROM auth_reversal WHERE request_id = $1",
          r, v, sizeof v);
    assert_string_equal(v, "received|-|-");
    value(RR_REVERSAL, a, v, sizeof v);
    assert_string_equal(v, want);
    assert_int_equal(unmark(1, r, "it/o1"), 0);
    value(RR_REVERSAL, a, v, sizeof v);
    assert_string_equal(v, want);

    /* The redelivery: marked by the registration kept, which it leaves as it is. */
    assert_int_equal(
        run(mark, 11,
            (const char *const[]){r, "reversal", "m1", a, NULL, "", "", "", "", "it/o2", "100.00"}),
        1);
    value(RR_REVERSAL, a, v, sizeof v);
    assert_string_equal(v, want);
    value("SELECT concat_ws('|', status, sent_by) FROM auth_reversal WHERE request_id = $1", r, v,
          sizeof v);
    assert_string_equal(v, "sent|it/o2");
}

#define ISSUER_HELD                                                                                \
    "SELECT concat_ws('|', status, amount_pending, coalesce(amount_authorized::text, '-'), "       \
    "coalesce(amount_issuer_held::text, '-')) FROM auth_history WHERE id = $1::bigint"

/*
 * A reversal of a rejected authorization (no amount authorized: the issuer holds the amount
 * asked) given back: its claim (the marker of 0.01) released; amount_issuer_held, which its mark
 * recorded (what the issuer holds, whatever comes of the reversal, 065), stays. The redelivery's
 * mark claims the marker again, once, and leaves amount_issuer_held as it is.
 */
static void test_reversal_issuer_held_kept_when_given_back(void **state)
{
    (void)state;
    char a[80], r[80], auth_id[24], v[128];
    run("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
        "order_number, pay_seq, service_bureau, status, amount, currency, card_token) VALUES "
        "($1, repeat('a', 64), 'auth', 7, 'IT-UNMARK-9', 1, 'CYB', 'rejected', 100.00, 'USD', "
        "'7000000000000000000009')",
        1, (const char *const[]){rid(a, sizeof a, "auth9")});
    PGresult *res = PQexecParams(g_admin,
                                 "INSERT INTO auth_history (request_id, company, order_number, "
                                 "pay_seq, service_bureau, transaction_type, status, currency, "
                                 "auth_number, transaction_id) VALUES ($1, 7, 'IT-UNMARK-9', 1, "
                                 "'CYB', 'auth', 'rejected', 'USD', '123456', "
                                 "'7000000000000000000001') RETURNING id",
                                 1, NULL, (const char *const[]){a}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    snprintf(auth_id, sizeof auth_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    run("INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "
        "service_bureau, amount, currency, auth_request_id) VALUES ($1, repeat('r', 64), 7, "
        "'IT-UNMARK-9', 1, 'CYB', 100.00, 'USD', $2)",
        2, (const char *const[]){rid(r, sizeof r, "rev9"), a});
    assert_int_equal(mark_reversal(r, a, auth_id, "it/h1"), 1);
    value(ISSUER_HELD, auth_id, v, sizeof v);
    assert_string_equal(v, "rejected|0.01|-|100.00");

    assert_int_equal(unmark(1, r, "it/other"), 0);
    value(ISSUER_HELD, auth_id, v, sizeof v);
    assert_string_equal(v, "rejected|0.01|-|100.00");
    assert_int_equal(unmark(1, r, "it/h1"), 1);
    value(ISSUER_HELD, auth_id, v, sizeof v);
    assert_string_equal(v, "rejected|0.00|-|100.00");
    assert_int_equal(unmark(1, r, "it/h1"), 0);
    value(ISSUER_HELD, auth_id, v, sizeof v);
    assert_string_equal(v, "rejected|0.00|-|100.00");

    assert_int_equal(mark_reversal(r, a, auth_id, "it/h2"), 1);
    value(ISSUER_HELD, auth_id, v, sizeof v);
    assert_string_equal(v, "rejected|0.01|-|100.00");
    /* The same attempt's mark sent again claims nothing twice. */
    assert_int_equal(mark_reversal(r, a, auth_id, "it/h2"), 1);
    value(ISSUER_HELD, auth_id, v, sizeof v);
    assert_string_equal(v, "rejected|0.01|-|100.00");
    assert_int_equal(unmark(1, r, "it/h1"), 0);
    value(ISSUER_HELD, auth_id, v, sizeof v);
    assert_string_equal(v, "rejected|0.01|-|100.00");
}

/* A stored value authorization sa approved for 50.00 on RLT. */
static void insert_svc_auth(const char *sa, const char *order)
{
    run("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, amount, currency, card_masked, card_hash, status, "
        "amount_approved) VALUES ($1, repeat('s', 64), 'auth', 7, $2, 1, 'RLT', 50.00, 'USD', "
        "'************0019', $3, 'approved', 50.00)",
        3, (const char *const[]){sa, order, g_hash});
}

#define SVC_PENDING "SELECT amount_pending::text FROM svc_trans WHERE request_id = $1"

/* Stored value: a deposit's claim on its authorization, a void's on its authorization and an
 * activation's hold on its card, each released with its row given back, by its attempt only. */
static void test_stored_value_claims_released_with_their_rows(void **state)
{
    (void)state;
    char sa[80], sd[80], sv[80], act[80], v[128];
    insert_svc_auth(rid(sa, sizeof sa, "sauth5"), "IT-UNMARK-5");
    run("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, amount, currency, card_masked, card_hash, ref_request_id) "
        "VALUES ($1, repeat('s', 64), 'deposit', 7, 'IT-UNMARK-5', 1, 'RLT', 20.00, 'USD', "
        "'************0019', $2, $3)",
        3, (const char *const[]){rid(sd, sizeof sd, "sdep5"), g_hash, sa});
    const char *svc_mark = stmt(&pl_svc_spec, "svc_mark_sent");
    assert_int_equal(
        run(svc_mark, 8,
            (const char *const[]){sd, "svc_postauth", "it/s1", "20.00", sa, "", "false", "m1"}),
        1);
    value(SVC_PENDING, sa, v, sizeof v);
    assert_string_equal(v, "20.00");
    assert_int_equal(unmark(2, sd, "it/other"), 0);
    value(SVC_PENDING, sa, v, sizeof v);
    assert_string_equal(v, "20.00");
    assert_int_equal(unmark(2, sd, "it/s1"), 1);
    value(SVC_PENDING, sa, v, sizeof v);
    assert_string_equal(v, "0.00");
    value("SELECT concat_ws('|', status, coalesce(claim_amount::text, '-')) FROM svc_trans "
          "WHERE request_id = $1",
          sd, v, sizeof v);
    assert_string_equal(v, "received|-");

    /* A void of what the authorization holds (50.00). */
    run("INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "
        "service_bureau, amount, currency, auth_request_id) VALUES ($1, repeat('r', 64), 7, "
        "'IT-UNMARK-5', 1, 'RLT', 50.00, 'USD', $2)",
        2, (const char *const[]){rid(sv, sizeof sv, "svoid5"), sa});
    assert_int_equal(run(stmt(&pl_reversal_spec, "rev_svc_mark_sent"), 8,
                         (const char *const[]){sv, "svc_void", "m1", sa, "", "", "it/v1", "50.00"}),
                     1);
    value(SVC_PENDING, sa, v, sizeof v);
    assert_string_equal(v, "50.00");
    assert_int_equal(unmark(1, sv, "it/other"), 0);
    assert_int_equal(unmark(1, sv, "it/v1"), 1);
    value(SVC_PENDING, sa, v, sizeof v);
    assert_string_equal(v, "0.00");

    /* An activation of a generated card. */
    run("INSERT INTO stored_value_card (service_bureau, company, order_number, card_masked, "
        "card_hash) VALUES ('RLT', 7, 'IT-UNMARK-5', '************0019', $1)",
        1, (const char *const[]){g_hash});
    run("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_masked, card_hash) VALUES ($1, repeat('s', 64), "
        "'activate', 7, 'IT-UNMARK-5', 1, 'RLT', '************0019', $2)",
        2, (const char *const[]){rid(act, sizeof act, "sact5"), g_hash});
    assert_int_equal(
        run(svc_mark, 8,
            (const char *const[]){act, "svc_activate", "it/t1", NULL, NULL, "", "false", "m1"}),
        1);
    const char *card = "SELECT coalesce(activation_pending, '-') FROM stored_value_card "
                       "WHERE service_bureau = 'RLT' AND card_hash = $1";
    value(card, g_hash, v, sizeof v);
    assert_string_equal(v, act);
    assert_int_equal(unmark(2, act, "it/other"), 0);
    value(card, g_hash, v, sizeof v);
    assert_string_equal(v, act);
    assert_int_equal(unmark(2, act, "it/t1"), 1);
    value(card, g_hash, v, sizeof v);
    assert_string_equal(v, "-");
}

#define SVC_DEPOSIT                                                                                \
    "SELECT concat_ws('|', amount_pending, amount_returned) FROM svc_trans WHERE request_id = $1"

/*
 * A stored value return given back: its claim on the deposit it refunds (042; ref_request_id the
 * mark recorded) released, by its attempt only and once; the redelivery's mark claims it again,
 * once; made unknown, its row keeps the claim against an unmark, and its outcome releases it.
 */
static void test_svc_return_claim_released_with_its_row(void **state)
{
    (void)state;
    char sd[80], ret[80], v[128];
    run("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, amount, currency, card_masked, card_hash, status, "
        "amount_approved) VALUES ($1, repeat('s', 64), 'deposit', 7, 'IT-UNMARK-10', 1, 'RLT', "
        "20.00, 'USD', '************0019', $2, 'approved', 20.00)",
        2, (const char *const[]){rid(sd, sizeof sd, "sdep10"), g_hash});
    run("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, amount, currency, card_masked, card_hash) VALUES ($1, "
        "repeat('s', 64), 'return', 7, 'IT-UNMARK-10', 1, 'RLT', 5.00, 'USD', "
        "'************0019', $2)",
        2, (const char *const[]){rid(ret, sizeof ret, "sret10"), g_hash});
    const char *svc_mark = stmt(&pl_svc_spec, "svc_mark_sent");
    const char *const p1[] = {ret, "svc_return", "it/u1", "5.00", sd, "", "false", "m1"};
    assert_int_equal(run(svc_mark, 8, p1), 1);
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "5.00|0.00");
    value("SELECT concat_ws('|', status, coalesce(claim_amount::text, '-'), "
          "coalesce(ref_request_id, '-')) FROM svc_trans WHERE request_id = $1",
          ret, v, sizeof v);
    char want[128];
    snprintf(want, sizeof want, "sent|5.00|%s", sd);
    assert_string_equal(v, want);

    assert_int_equal(unmark(2, ret, "it/other"), 0);
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "5.00|0.00");
    assert_int_equal(unmark(2, ret, "it/u1"), 1);
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "0.00|0.00");
    value("SELECT concat_ws('|', status, coalesce(claim_amount::text, '-')) FROM svc_trans "
          "WHERE request_id = $1",
          ret, v, sizeof v);
    assert_string_equal(v, "received|-");
    assert_int_equal(unmark(2, ret, "it/u1"), 0);
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "0.00|0.00");

    /* The redelivery claims once, its mark sent again too. */
    const char *const p2[] = {ret, "svc_return", "it/u2", "5.00", sd, "", "false", "m1"};
    assert_int_equal(run(svc_mark, 8, p2), 1);
    assert_int_equal(run(svc_mark, 8, p2), 1);
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "5.00|0.00");
    assert_int_equal(unmark(2, ret, "it/u1"), 0);
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "5.00|0.00");

    /* Made unknown, it keeps the claim against an unmark; its `error` outcome releases it. */
    run("UPDATE svc_trans SET status = 'unknown' WHERE request_id = $1", 1,
        (const char *const[]){ret});
    assert_int_equal(unmark(2, ret, "it/u2"), 0);
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "5.00|0.00");
    run("UPDATE svc_trans SET status = 'error' WHERE request_id = $1", 1,
        (const char *const[]){ret});
    value(SVC_DEPOSIT, sd, v, sizeof v);
    assert_string_equal(v, "0.00|0.00");
}

/* A stored value void of the remainder deferred on the authorization until its claims end (056)
 * is carried out when the last claim is released by a deposit given back, as when that deposit's
 * outcome releases it. */
static void test_svc_deferred_void_done_when_given_back(void **state)
{
    (void)state;
    char sa[80], sd[80], v[128];
    insert_svc_auth(rid(sa, sizeof sa, "sauth11"), "IT-UNMARK-11");
    run("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, amount, currency, card_masked, card_hash) VALUES ($1, "
        "repeat('s', 64), 'deposit', 7, 'IT-UNMARK-11', 1, 'RLT', 20.00, 'USD', "
        "'************0019', $2)",
        2, (const char *const[]){rid(sd, sizeof sd, "sdep11"), g_hash});
    assert_int_equal(
        run(stmt(&pl_svc_spec, "svc_mark_sent"), 8,
            (const char *const[]){sd, "svc_postauth", "it/w1", "20.00", sa, "", "false", "m1"}),
        1);
    /* Another deposit of it, approved meanwhile for 10.00 voiding the remainder: deferred. */
    run("UPDATE svc_trans SET amount_deposited = 10, void_deferred_by = 'other' "
        "WHERE request_id = $1",
        1, (const char *const[]){sa});
    const char *q = "SELECT concat_ws('|', amount_pending, amount_deposited, amount_voided, "
                    "coalesce(void_deferred_by, '-')) FROM svc_trans WHERE request_id = $1";
    assert_int_equal(unmark(2, sd, "it/other"), 0);
    value(q, sa, v, sizeof v);
    assert_string_equal(v, "20.00|10.00|0.00|other");
    assert_int_equal(unmark(2, sd, "it/w1"), 1);
    value(q, sa, v, sizeof v);
    assert_string_equal(v, "0.00|10.00|40.00|-");
    /* The redelivery finds nothing left to claim: not marked (declined without a call). */
    assert_int_equal(
        run(stmt(&pl_svc_spec, "svc_mark_sent"), 8,
            (const char *const[]){sd, "svc_postauth", "it/w2", "20.00", sa, "", "false", "m1"}),
        0);
    value(q, sa, v, sizeof v);
    assert_string_equal(v, "0.00|10.00|40.00|-");
}

#define ROW_STATE                                                                                  \
    "SELECT concat_ws('|', status, sent_by) FROM cc_deposit_trans WHERE request_id = $1"

/* pl_unknown of capture d as paylink-deposit writes it, only while the row is 'sent' by
 * attempt (NULL: any open row); its rows (1: made unknown). */
static int unknown(const char *d, const char *attempt)
{
    return run(g_unknown, 14,
               (const char *const[]){d, "{\"v\": 1, \"status\": \"timeout\"}",
                                     "sent by another attempt that did not answer", "deposit", "7",
                                     "IT-UNMARK-6", "1", "CYB", "debit", "30.00", "USD",
                                     "sent_not_answered", "f", attempt});
}

/*
 * A redelivery that waited for the owner of a 'sent' row makes it unknown only while that
 * owner (its attempt, $14) still has it: a row the owner gave back meanwhile ('received', its
 * claim released) or another attempt marked since is left alone, no required response opened;
 * the owner's own row is, and any open row when no attempt is named (a request given up).
 * Before, pl_unknown took any open row: a capture never sent became a required response.
 */
static void test_unknown_only_while_sent_by_the_attempt(void **state)
{
    (void)state;
    char a[80], d[80], auth_id[24], v[128];
    it_approved_auth(g_admin, rid(a, sizeof a, "auth6"), "IT-UNMARK-6", "0", auth_id,
                     sizeof auth_id);
    insert_debit(rid(d, sizeof d, "cap6"), "IT-UNMARK-6");
    assert_int_equal(mark_capture(d, auth_id, "it/u1"), 1);
    /* The owner gives its call back before the redelivery's write. */
    assert_int_equal(unmark(0, d, "it/u1"), 1);
    assert_int_equal(unknown(d, "it/u1"), 0);
    value(DEPOSIT_STATE, d, v, sizeof v);
    assert_string_equal(v, "received|||-");
    value(AUTH_STATE, auth_id, v, sizeof v);
    assert_string_equal(v, "approved|0.00|0.00");
    const char *rr = "SELECT count(*)::text FROM required_response WHERE request_id = $1";
    value(rr, d, v, sizeof v);
    assert_string_equal(v, "0");

    /* Marked by another attempt since: not the owner it waited for. */
    assert_int_equal(mark_capture(d, auth_id, "it/u2"), 1);
    assert_int_equal(unknown(d, "it/u1"), 0);
    value(ROW_STATE, d, v, sizeof v);
    assert_string_equal(v, "sent|it/u2");

    /* Its owner's row, and any open row when none is named (rolled back: no required response
     * stays for the running resolvers). */
    run("BEGIN", 0, NULL);
    assert_int_equal(unknown(d, "it/u2"), 1);
    value(ROW_STATE, d, v, sizeof v);
    assert_string_equal(v, "unknown|it/u2");
    run("ROLLBACK", 0, NULL);
    run("BEGIN", 0, NULL);
    assert_int_equal(unmark(0, d, "it/u2"), 1);
    assert_int_equal(unknown(d, NULL), 1);
    value(rr, d, v, sizeof v);
    assert_string_equal(v, "1");
    run("ROLLBACK", 0, NULL);
    value(rr, d, v, sizeof v);
    assert_string_equal(v, "0");
    assert_int_equal(unmark(0, d, "it/u2"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_claim_released_with_its_row),
        cmocka_unit_test(test_deferred_void_done_when_given_back),
        cmocka_unit_test(test_credit_claim_released_with_its_row),
        cmocka_unit_test(test_reversal_claim_released_with_its_row),
        cmocka_unit_test(test_stored_value_claims_released_with_their_rows),
        cmocka_unit_test(test_auth_capture_deferred_void_done_when_given_back),
        cmocka_unit_test(test_timeout_reversal_registration_kept),
        cmocka_unit_test(test_reversal_issuer_held_kept_when_given_back),
        cmocka_unit_test(test_svc_return_claim_released_with_its_row),
        cmocka_unit_test(test_svc_deferred_void_done_when_given_back),
        cmocka_unit_test(test_unknown_only_while_sent_by_the_attempt),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
