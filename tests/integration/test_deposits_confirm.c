/*
 * test_deposits_confirm.c: `paylinkctl deposits confirm` of a capture (tools/paylinkctl/
 * deposits.c, pl_deposits_main as main.c runs it) against the real schema of PAYLINK_DB: what it
 * books on the authorization the capture claimed on, what it says (stdout, stderr) and its exit
 * status.
 *
 * A capture sent voiding the remainder (cc_deposit_trans.void_remainder, Void auth at deposit)
 * and confirmed voids that remainder as its answer would have (paylink_settle_debit, 062: the
 * settle trigger's rule), or defers the void while another deposit claims on the authorization
 * (050); before, the remainder the bureau released stayed capturable in the books. A capture
 * that does not fit beside the claims of deposits in flight is refused, nothing written; one
 * above what an intact authorization had left is recorded with a warning (exit 1); before, both
 * passed silently, counted for less than was captured.
 *
 * A confirmed auth+capture voids the authorization it replaced as its answer would have
 * (auth_capture, or deferred beside another claim) and, with nothing of it captured on a bureau
 * with Send reversal, owes its reversal `<deposit>.vdr` (replaced_auth_reversal; for a deferred
 * void, 057's trigger once the claims end, 063); before, the authorization stayed approved and
 * capturable, and its hold stayed on the card. One voided or reversed meanwhile is left as it is,
 * with a warning (exit 1); a reversal of it in flight refuses the confirmation.
 *
 * A confirmed follow-on credit is held to its debit likewise: refused while credits of that debit
 * in flight claim so much of it that it does not fit beside them, recorded with a warning (exit
 * 1) when counted for less than its amount; before, both silently, and the same refund could go
 * out twice. One of a debit without an outcome yet is refused too, and one of a debit held for
 * review by Decision Manager (it captured nothing); before, both were recorded, counted for
 * nothing.
 *
 * The rows are the test's own (request ids and orders starting with its prefix), written
 * directly as paylink-deposit leaves them: an authorization, a capture or auth+capture that ended
 * `error` or `declined` after its call (its claim released), and another capture still in flight
 * ('sent', its claim on the authorization). Nothing here opens a required response (the unknown
 * debits and credits it writes have none: the resolvers never see them). The running
 * system's paylink-deposit resolvers publish any owed reversal they find unleased: the ones this
 * test makes are held under a lease of its own (lease_owner 'it-hold') from the statement that
 * writes them, in its transaction. The confirmation's connection (PGOPTIONS) resolves
 * replaced_auth_reversal to a view of it in a schema of the test's own whose defaults are that
 * lease (hold_schema); the claim the test ends itself is ended in a transaction that holds what
 * 057's trigger writes before it commits (end_claim). Deleted at the end, the schema dropped.
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

#include "deposits.h"
#include "it_unit.h"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_p[32];     /* this run's prefix of request ids and orders */
static int g_seq;        /* each case's rows carry a number of their own */
static bool g_cyb_voids; /* CYB's Void auth at deposit (what a capture marked before 046 takes) */
static char g_hold[48];  /* the test's schema: replaced_auth_reversal as a view under its lease */
static bool g_held;      /* g_hold was made (dropped at the end) */

/* The test's lease of an owed reversal: no resolver takes it while it lasts. */
#define HOLD_OWNER "it-hold"
#define HOLD_UNTIL "now() + interval '1 hour'"

/* "<prefix><n><suffix>" in a static ring of buffers (a few are alive at once). */
static const char *id(int n, const char *suffix)
{
    static char ring[8][64];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%s%d%s", g_p, n, suffix);
    return s;
}

static void admin_ok(const char *sql, int n, const char *const *params)
{
    it_exec(g_admin, sql, n, params);
}

/* The one value of sql with $1 = "<prefix><n><suffix>". */
static const char *value(const char *sql, int n, const char *suffix)
{
    static char v[300];
    const char *p[] = {id(n, suffix)};
    PGresult *r = PQexecParams(g_admin, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char m[512];
        snprintf(m, sizeof m, "%s (%d rows)", PQresultErrorMessage(r), PQntuples(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    snprintf(v, sizeof v, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Authorization "<n>a" as it is now: status|pending|deposited|voided|void_reason|voided_by|
 * void_deferred_by|void_deferred_reason. */
static const char *auth_books(int n)
{
    return value("SELECT concat_ws('|', status, amount_pending, amount_deposited, amount_voided, "
                 "coalesce(void_reason, ''), coalesce(voided_by, ''), "
                 "coalesce(void_deferred_by, ''), coalesce(void_deferred_reason, '')) "
                 "FROM auth_history WHERE request_id = $1",
                 n, "a");
}

/* The reversal owed for deposit "<n>d": auth_request_id|amount|whether it names the
 * authorization "<n>a" by id|still unpublished|lease_owner; "none" when none. */
static const char *owed(int n)
{
    return value("SELECT coalesce((SELECT concat_ws('|', o.auth_request_id, o.amount, "
                 "o.auth_history_id = (SELECT h.id FROM auth_history h "
                 "WHERE h.request_id = o.auth_request_id), o.published_at IS NULL, o.lease_owner) "
                 "FROM public.replaced_auth_reversal o WHERE o.deposit_request_id = $1), 'none')",
                 n, "d");
}

/* Capture "<n>d" as it is now: deposit_status|its 'confirmed' history rows. */
static const char *deposit_state(int n)
{
    return value("SELECT deposit_status || '|' || (SELECT count(*) FROM cc_deposit_history h "
                 "WHERE h.request_id = t.request_id AND h.event = 'confirmed') "
                 "FROM cc_deposit_trans t WHERE request_id = $1",
                 n, "d");
}

static void delete_rows(void)
{
    char like[48];
    snprintf(like, sizeof like, "%s%%", g_p);
    const char *p[] = {like};
    admin_ok("DELETE FROM public.replaced_auth_reversal WHERE deposit_request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM auth_reversal WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_deposit_history WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM auth_history WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_deposit_trans WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_auth_trans WHERE request_id LIKE $1", 1, p);
}

/*
 * The test's schema g_hold: replaced_auth_reversal as a view of public's, whose lease columns
 * default to the test's lease. The confirmation's connection puts it first on its search_path
 * (confirm: PGOPTIONS), so a reversal it owes is written leased by the test, in the
 * confirmation's own transaction: no running resolver can take it between the commit and the
 * test's look (the view inserts into the table, ON CONFLICT on its key as there). Returns 0, or
 * -1 said on stderr.
 */
static int hold_schema(void)
{
    snprintf(g_hold, sizeof g_hold, "itdc_hold_%ld_%ld", (long)getpid() % 100000,
             (long)time(NULL) % 100000);
    /* A run killed before its teardown (CTest's timeout, ^C) left its schema: its view would
     * hold back a later migration of replaced_auth_reversal ("used by a view"). Dropped here,
     * every one (two runs of this test at once against one database are not supported). */
    PQclear(PQexec(g_admin, "DO $$DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace "
                            "WHERE nspname LIKE 'itdc\\_hold\\_%' LOOP "
                            "EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $$"));
    const char *const steps[] = {
        "CREATE SCHEMA %s",
        "CREATE VIEW %s.replaced_auth_reversal AS SELECT * FROM public.replaced_auth_reversal",
        "ALTER VIEW %s.replaced_auth_reversal ALTER COLUMN lease_owner SET DEFAULT '" HOLD_OWNER
        "'",
        "ALTER VIEW %s.replaced_auth_reversal ALTER COLUMN lease_until SET DEFAULT " HOLD_UNTIL};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, steps[i], g_hold);
        PGresult *r = PQexec(g_admin, sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "test_deposits_confirm: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            return -1;
        g_held = true;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (!(g_admin = it_admin_connect(&g_conninfo)))
        return -1;
    PGresult *r = PQexec(g_admin, "SELECT void_auth_at_deposit FROM auth_service "
                                  "WHERE service_bureau = 'CYB'");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    g_cyb_voids = ok && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!ok) {
        fprintf(stderr, "test_deposits_confirm: no CYB service bureau in auth_service\n");
        return -1;
    }
    snprintf(g_p, sizeof g_p, "itdc%ld%ld-", (long)getpid() % 100000, (long)time(NULL) % 100000);
    r = PQexec(g_admin, "SELECT send_reversal FROM auth_service WHERE service_bureau = 'CYB'");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!ok) {
        fprintf(stderr, "test_deposits_confirm: the CYB service bureau must have Send reversal\n");
        return -1;
    }
    return hold_schema();
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        /* A test that failed inside a transaction (end_claim) leaves nothing for the clean-up
         * to wait on. */
        if (PQtransactionStatus(g_admin) != PQTRANS_IDLE)
            PQclear(PQexec(g_admin, "ROLLBACK"));
        if (g_held) {
            char sql[200];
            snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", g_hold);
            PQclear(PQexec(g_admin, sql));
        }
        delete_rows();
        PQfinish(g_admin);
    }
    return 0;
}

/* Case n's approved authorization "<n>a" of order "<n>o" on service bureau `bureau` for
 * `authorized`, `deposited` of it captured already. */
static void seed_auth(int n, const char *bureau, const char *authorized, const char *deposited)
{
    const char *pa[] = {id(n, "a"), id(n, "o"), authorized, bureau, deposited, id(n, "tx")};
    admin_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "card_type, status, amount_approved, sent_at) VALUES ($1, repeat('a', 64), 'auth', "
             "'auth', 1, $2, 1, $4, $3::numeric, 'USD', '7030000000000001234', 'VI', "
             "'approved', $3::numeric, now())",
             4, pa);
    admin_ok("INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
             "service_bureau, transaction_type, status, amount_authorized, amount_deposited, "
             "currency, auth_number, auth_date, transaction_id, request_token) "
             "VALUES ($1, 1, $2, 1, $4, 'auth', 'approved', $3::numeric, $5::numeric, 'USD', "
             "'831000', to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), $6, "
             "'Axj/auth-token')",
             6, pa);
}

/* A new case: an approved CyberSource authorization "<n>a" of order "<n>o" for `authorized`,
 * `deposited` of it captured already, and the capture "<n>d" of `amount` sent on it with
 * void_remainder `voids` ("true", "false", NULL: marked before 046) that ended `error` after its
 * call, its claim released (an answer that never came, settled so by the resolver). Returns n. */
static int seed(const char *authorized, const char *deposited, const char *amount,
                const char *voids)
{
    int n = ++g_seq;
    seed_auth(n, "CYB", authorized, deposited);
    const char *pd[] = {id(n, "d"), id(n, "o"), id(n, "a"), amount, voids};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, auth_history_id, claim_amount, void_remainder, sent_at, "
             "sent_by, answered_at) SELECT $1, repeat('b', 64), 'debit', 'capture', 1, $2, 1, "
             "'CYB', $4::numeric, 'USD', '7030000000000001234', 'error', '*RCVD', h.id, "
             "$4::numeric, $5::boolean, now(), 'it-deposit', now() "
             "FROM auth_history h WHERE h.request_id = $3",
             5, pd);
    return n;
}

/* A new case: an approved authorization "<n>a" on service bureau `bureau` for 100.00,
 * `deposited` of it captured already, and the auth+capture "<n>d" of 120.00 that replaced it
 * (made in its place: more than it had left), declined as paylink-deposit stores a refusal (no
 * claim on it; the settle trigger did nothing to it). manual: the auth+capture replaced a manual
 * authorization instead (its transaction id inline; no auth_history row of it). Returns n. */
static int seed_auth_capture(const char *bureau, const char *deposited, bool manual)
{
    int n = ++g_seq;
    seed_auth(n, bureau, "100.00", deposited);
    const char *pd[] = {id(n, "d"), id(n, "o"), id(n, "a"), bureau, manual ? "t" : "f"};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, auth_history_id, auth_ref_request_id, "
             "auth_ref_transaction_id, vendor_response, sent_at, sent_by, answered_at) "
             "SELECT $1, repeat('b', 64), 'debit', 'auth_capture', 1, $2, 1, $4, 120.00, 'USD', "
             "'7030000000000001234', 'declined', '*RCVD', CASE WHEN $5::boolean THEN NULL "
             "ELSE h.id END, CASE WHEN $5::boolean THEN '' ELSE $3 END, CASE WHEN $5::boolean "
             "THEN 'manual-' || $3 ELSE '' END, '203', now(), 'it-deposit', now() "
             "FROM auth_history h WHERE h.request_id = $3",
             5, pd);
    return n;
}

/* Another capture "<n>c" of `amount` of case n's authorization in flight: marked sent, its claim
 * on the authorization (as paylink-deposit's mark leaves it). */
static void seed_claim(int n, const char *amount)
{
    const char *p[] = {id(n, "c"), id(n, "o"), id(n, "a"), amount};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "status, deposit_status, auth_history_id, claim_amount, void_remainder, sent_at, "
             "sent_by) SELECT $1, repeat('c', 64), 'debit', 'capture', 1, $2, 1, 'CYB', "
             "$4::numeric, 'USD', '7030000000000001234', 'sent', '*SENT', h.id, $4::numeric, "
             "false, now(), 'it-other' FROM auth_history h WHERE h.request_id = $3",
             4, p);
    admin_ok("UPDATE auth_history SET amount_pending = amount_pending + $2::numeric "
             "WHERE request_id = $1",
             2, (const char *const[]){id(n, "a"), amount});
}

/* The other capture's answer, declined, as its store leaves it: the settle trigger releases its
 * claim. */
static void decline_claim(int n)
{
    admin_ok("UPDATE cc_deposit_trans SET status = 'declined', deposit_status = '*RCVD', "
             "answered_at = now() WHERE request_id = $1",
             1, (const char *const[]){id(n, "c")});
}

/* sql in the transaction g_admin has begun: rolled back when it fails, so that the next tests
 * and the clean-up run. */
static void txn_ok(const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(g_admin, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQclear(PQexec(g_admin, "ROLLBACK"));
        fail_msg("%s: %s", sql, m);
    }
    PQclear(r);
}

/* The other capture's answer, `status` ("declined"; "approved" for what it claimed), as its store
 * leaves it (the settle trigger releases its claim), in a transaction that holds under the
 * test's lease whatever reversal the void of the authorization then owes (057's trigger) before
 * it commits. */
static void end_claim(int n, const char *status)
{
    admin_ok("BEGIN", 0, NULL);
    txn_ok("UPDATE cc_deposit_trans SET status = $2, deposit_status = '*RCVD', "
           "amount_deposited = CASE WHEN $3::boolean THEN claim_amount END, answered_at = now() "
           "WHERE request_id = $1",
           3,
           (const char *const[]){id(n, "c"), status, strcmp(status, "approved") == 0 ? "t" : "f"});
    txn_ok("UPDATE public.replaced_auth_reversal SET lease_owner = '" HOLD_OWNER "', "
           "lease_until = " HOLD_UNTIL " WHERE deposit_request_id = $1",
           1, (const char *const[]){id(n, "d")});
    txn_ok("COMMIT", 0, NULL);
}

typedef struct ran {
    int rc;
    char out[2048], err[2048];
} ran;

static void slurp(FILE *f, char *buf, size_t size)
{
    rewind(f);
    size_t got = fread(buf, 1, size - 1, f);
    buf[got] = '\0';
    fclose(f);
}

/* `paylinkctl deposits confirm --request-id <rid_of> --by it-ops --note ...`, its stdout and
 * stderr kept in o. */
static void confirm_rid(const char *rid_of, ran *o)
{
    char rid[64], cmd[] = "deposits", sub[] = "confirm", o_rid[] = "--request-id", o_by[] = "--by",
                  by[] = "it-ops", o_note[] = "--note", note[] = "in the report";
    snprintf(rid, sizeof rid, "%s", rid_of);
    char *argv[] = {cmd, sub, o_rid, rid, o_by, by, o_note, note, NULL};
    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
    assert_true(so >= 0 && se >= 0);
    assert_true(dup2(fileno(fo), STDOUT_FILENO) >= 0 && dup2(fileno(fe), STDERR_FILENO) >= 0);
    /* Its connection writes an owed reversal through the test's view (hold_schema). */
    char options[128];
    snprintf(options, sizeof options, "-c search_path=%s,public", g_hold);
    setenv("PGOPTIONS", options, 1);
    o->rc = pl_deposits_main(8, argv, g_conninfo, NULL, "paylink");
    unsetenv("PGOPTIONS");
    fflush(stdout);
    fflush(stderr);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    slurp(fo, o->out, sizeof o->out);
    slurp(fe, o->err, sizeof o->err);
}

/* `paylinkctl deposits confirm` of case n's deposit "<n>d". */
static void confirm(int n, ran *o)
{
    confirm_rid(id(n, "d"), o);
}

/* The exit status of o is want; else the test fails saying what the command said. */
static void assert_rc(const ran *o, int want)
{
    if (o->rc != want)
        fail_msg("exit %d, not %d; stdout: %s; stderr: %s", o->rc, want, o->out, o->err);
}

static void assert_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("\"%s\" does not say \"%s\"", text, want);
}

/*
 * A capture sent voiding the remainder, confirmed on an authorization no other deposit claims
 * on: counted deposited, and what it left voided by it (void_at_deposit), as its approved answer
 * would have; exit 0, stdout says so. Sent keeping it: only counted. Marked before 046 (NULL):
 * as the service bureau's setting says now, as the settle trigger does.
 */
static void test_confirm_voids_the_remainder(void **state)
{
    (void)state;
    struct {
        const char *voids;
        bool voided;
    } cases[] = {{"true", true}, {"false", false}, {NULL, g_cyb_voids}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = seed("100.00", "0.00", "40.00", cases[i].voids);
        ran o;
        confirm(n, &o);
        assert_rc(&o, 0);
        assert_has(o.out, "confirmed (*CONF) by it-ops");
        assert_string_equal(o.err, "");
        assert_string_equal(deposit_state(n), "*CONF|1");
        char want[300];
        if (cases[i].voided)
            snprintf(want, sizeof want, "voided|0.00|40.00|60.00|void_at_deposit|%s||", id(n, "d"));
        else
            snprintf(want, sizeof want, "approved|0.00|40.00|0.00||||");
        assert_string_equal(auth_books(n), want);
        if (cases[i].voided)
            assert_has(o.out, "that remainder, 60.00, is voided (void_at_deposit)");
        else
            assert_null(strstr(o.out, "voided"));
    }
}

/*
 * The same while another capture still claims on the authorization: the void waits for that
 * claim (050) and is carried out, by the confirmed capture, once it ends (here declined: the
 * bureau had released its part).
 */
static void test_confirm_defers_the_void_beside_a_claim(void **state)
{
    (void)state;
    int n = seed("100.00", "0.00", "40.00", "true");
    seed_claim(n, "30.00");
    ran o;
    confirm(n, &o);
    assert_rc(&o, 0);
    char want[300];
    snprintf(want, sizeof want, "approved|30.00|40.00|0.00|||%s|void_at_deposit", id(n, "d"));
    assert_string_equal(auth_books(n), want);
    assert_has(o.out, "is voided (void_at_deposit) once the deposits in flight on it (30.00");
    assert_string_equal(o.err, "");
    decline_claim(n);
    snprintf(want, sizeof want, "voided|0.00|40.00|60.00|void_at_deposit|%s||", id(n, "d"));
    assert_string_equal(auth_books(n), want);
}

/*
 * A capture that does not fit beside what deposits in flight claim on the authorization is
 * refused, nothing written (exit 1): counted for only what they leave, its part beyond would
 * look capturable again once they ended. Before, it was recorded silently, exit 0, and 30.00
 * of the 40.00 captured was never counted.
 */
static void test_confirm_refused_beside_claims_it_does_not_fit(void **state)
{
    (void)state;
    int n = seed("100.00", "0.00", "40.00", "false");
    seed_claim(n, "90.00");
    ran o;
    confirm(n, &o);
    assert_rc(&o, 1);
    assert_has(o.err, "has 90.00 claimed by deposits in flight, and its 40.00 does not fit");
    assert_has(o.err, "is not confirmed until they have an outcome");
    assert_string_equal(o.out, "");
    assert_string_equal(deposit_state(n), "*RCVD|0");
    assert_string_equal(auth_books(n), "approved|90.00|0.00|0.00||||");
    /* Once they end, it is confirmed in whole. */
    decline_claim(n);
    confirm(n, &o);
    assert_rc(&o, 0);
    assert_string_equal(deposit_state(n), "*CONF|1");
    assert_string_equal(auth_books(n), "approved|0.00|40.00|0.00||||");
}

/*
 * A capture above what an intact authorization had left uncaptured: recorded (the bureau did
 * capture; left rejected it could be collected again), counted for what was left, and the
 * operator warned with exit 1, as for an authorization voided or reversed meanwhile. Before,
 * exit 0 and nothing said. Sent voiding the remainder, nothing is left to void.
 */
static void test_confirm_over_what_was_left_warns(void **state)
{
    (void)state;
    int n = seed("100.00", "80.00", "40.00", "true");
    ran o;
    confirm(n, &o);
    assert_rc(&o, 1);
    assert_has(o.out, "confirmed (*CONF) by it-ops");
    assert_has(o.err, "paylinkctl: warning: ");
    assert_has(o.err, "had only 20.00 of 100.00 left uncaptured: 20.00 is counted deposited on "
                      "it (now 100.00 of 100.00); 20.00 of it is more than");
    assert_string_equal(deposit_state(n), "*CONF|1");
    assert_string_equal(auth_books(n), "approved|0.00|100.00|0.00||||");
}

/* "<rid>.vdr" of deposit "<n>d", in a static buffer. */
static const char *vdr(int n)
{
    static char v[80];
    snprintf(v, sizeof v, "%s.vdr", id(n, "d"));
    return v;
}

/*
 * An auth+capture confirmed approved: the authorization it replaced, intact and claimed by no
 * other deposit, is voided by it (auth_capture) as its answer's settle trigger would have, and,
 * nothing of it captured on a bureau with Send reversal, its reversal `<deposit>.vdr` is owed for
 * what was voided, for paylink-deposit's resolver to publish (its own `.vdr` never was); exit 0,
 * stdout says both. Before, the authorization stayed approved (capturable again) and nothing was
 * owed: the hold stayed on the card.
 */
static void test_confirm_auth_capture_voids_and_owes_the_reversal(void **state)
{
    (void)state;
    int n = seed_auth_capture("CYB", "0.00", false);
    ran o;
    confirm(n, &o);
    assert_rc(&o, 0);
    assert_string_equal(o.err, "");
    assert_string_equal(deposit_state(n), "*CONF|1");
    char want[300];
    snprintf(want, sizeof want, "voided|0.00|0.00|100.00|auth_capture|%s||", id(n, "d"));
    assert_string_equal(auth_books(n), want);
    snprintf(want, sizeof want, "%s|100.00|t|t|" HOLD_OWNER, id(n, "a"));
    assert_string_equal(owed(n), want);
    assert_has(o.out, "confirmed (*CONF) by it-ops");
    assert_has(o.out, "what that had left, 100.00, is voided (auth_capture)");
    snprintf(want, sizeof want, "its reversal %s of 100.00 is owed", vdr(n));
    assert_has(o.out, want);
    /* Confirmed once: a second confirmation is refused, nothing more owed or voided. */
    confirm(n, &o);
    assert_rc(&o, 1);
    assert_has(o.err, "was confirmed already");
    snprintf(want, sizeof want, "%s|100.00|t|t|" HOLD_OWNER, id(n, "a"));
    assert_string_equal(owed(n), want);
}

/*
 * Part of the replaced authorization captured already: what it left is voided, and no reversal
 * is owed (a bureau refuses to reverse a captured authorization, CyberSource 238); on a bureau
 * without Send reversal (EXT here), voided, nothing owed and nothing said of a reversal.
 */
static void test_confirm_auth_capture_owes_no_reversal_when_none_goes(void **state)
{
    (void)state;
    int n = seed_auth_capture("CYB", "30.00", false);
    ran o;
    confirm(n, &o);
    assert_rc(&o, 0);
    assert_string_equal(o.err, "");
    char want[300];
    snprintf(want, sizeof want, "voided|0.00|30.00|70.00|auth_capture|%s||", id(n, "d"));
    assert_string_equal(auth_books(n), want);
    assert_string_equal(owed(n), "none");
    assert_has(o.out, "what that had left, 70.00, is voided (auth_capture); it is not reversed: "
                      "30.00 of it was captured");

    n = seed_auth_capture("EXT", "0.00", false);
    confirm(n, &o);
    assert_rc(&o, 0);
    assert_string_equal(o.err, "");
    snprintf(want, sizeof want, "voided|0.00|0.00|100.00|auth_capture|%s||", id(n, "d"));
    assert_string_equal(auth_books(n), want);
    assert_string_equal(owed(n), "none");
    assert_has(o.out, "what that had left, 100.00, is voided (auth_capture)\n");
    assert_null(strstr(o.out, "reversal"));
}

/*
 * While another capture claims on the replaced authorization, the void waits for that claim
 * (050) and so does the reversal: owed by 057's trigger when the void is carried out with
 * nothing captured (here the other capture declined: for the confirmed auth+capture, 063), not
 * owed when the other capture took part of it. Before, nothing was deferred; and without 063 the
 * trigger owed nothing for a deposit that is not `approved`.
 */
static void test_confirm_auth_capture_defers_beside_a_claim(void **state)
{
    (void)state;
    const char *ends[] = {"declined", "approved"};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        int n = seed_auth_capture("CYB", "0.00", false);
        seed_claim(n, "30.00");
        ran o;
        confirm(n, &o);
        assert_rc(&o, 0);
        assert_string_equal(o.err, "");
        char want[300];
        snprintf(want, sizeof want, "approved|30.00|0.00|0.00|||%s|auth_capture", id(n, "d"));
        assert_string_equal(auth_books(n), want);
        assert_string_equal(owed(n), "none");
        assert_has(o.out, "what that leaves is voided (auth_capture) once the deposits in flight "
                          "on it (30.00 claimed) end");
        snprintf(want, sizeof want, "if they capture nothing of it, its reversal %s is owed then",
                 vdr(n));
        assert_has(o.out, want);
        end_claim(n, ends[i]);
        bool captured = strcmp(ends[i], "approved") == 0;
        snprintf(want, sizeof want, "voided|0.00|%s|%s|auth_capture|%s||",
                 captured ? "30.00" : "0.00", captured ? "70.00" : "100.00", id(n, "d"));
        assert_string_equal(auth_books(n), want);
        if (captured)
            assert_string_equal(owed(n), "none");
        else {
            snprintf(want, sizeof want, "%s|100.00|t|t|" HOLD_OWNER, id(n, "a"));
            assert_string_equal(owed(n), want);
        }
    }
}

/*
 * The replaced authorization voided meanwhile by another auth+capture, or reversed: left as it
 * is, nothing owed; the confirmation recorded with a warning on stderr saying what to check
 * (the order may have been collected twice), exit 1. Before, exit 0 and nothing said.
 */
static void test_confirm_auth_capture_warns_when_not_intact(void **state)
{
    (void)state;
    int n = seed_auth_capture("CYB", "0.00", false);
    admin_ok("UPDATE auth_history SET status = 'voided', amount_voided = 100.00, "
             "void_reason = 'auth_capture', voided_by = $2 WHERE request_id = $1",
             2, (const char *const[]){id(n, "a"), id(n, "x")});
    ran o;
    confirm(n, &o);
    assert_rc(&o, 1);
    assert_has(o.out, "confirmed (*CONF) by it-ops");
    assert_null(strstr(o.out, "voided"));
    char want[300];
    snprintf(want, sizeof want, "was voided meanwhile (auth_capture by %s)", id(n, "x"));
    assert_has(o.err, want);
    assert_has(o.err, "the order was collected twice; refund one with a credit");
    assert_string_equal(deposit_state(n), "*CONF|1");
    snprintf(want, sizeof want, "voided|0.00|0.00|100.00|auth_capture|%s||", id(n, "x"));
    assert_string_equal(auth_books(n), want);
    assert_string_equal(owed(n), "none");

    n = seed_auth_capture("CYB", "0.00", false);
    admin_ok("UPDATE auth_history SET status = 'reversed' WHERE request_id = $1", 1,
             (const char *const[]){id(n, "a")});
    confirm(n, &o);
    assert_rc(&o, 1);
    assert_has(o.err, "was reversed meanwhile (no approved reversal recorded)");
    assert_string_equal(deposit_state(n), "*CONF|1");
    assert_string_equal(auth_books(n), "reversed|0.00|0.00|0.00||||");
    assert_string_equal(owed(n), "none");
}

/*
 * A reversal of the replaced authorization in flight (its claim on all of it): refused, nothing
 * written (exit 1), until its outcome says what there is to void. A manual authorization replaced
 * (no auth_history row): confirmed, nothing booked or owed, exit 0.
 */
static void test_confirm_auth_capture_refused_beside_a_reversal(void **state)
{
    (void)state;
    int n = seed_auth_capture("CYB", "0.00", false);
    admin_ok("INSERT INTO auth_reversal (request_id, fingerprint, operation, company, "
             "order_number, pay_seq, service_bureau, amount, currency, auth_request_id, "
             "auth_history_id, status, sent_at) SELECT $1, repeat('r', 64), 'reversal', 1, $2, 1, "
             "'CYB', 100.00, 'USD', h.request_id, h.id, 'sent', now() FROM auth_history h "
             "WHERE h.request_id = $3",
             3, (const char *const[]){id(n, "r"), id(n, "o"), id(n, "a")});
    admin_ok("UPDATE auth_history SET amount_pending = 100.00 WHERE request_id = $1", 1,
             (const char *const[]){id(n, "a")});
    ran o;
    confirm(n, &o);
    assert_rc(&o, 1);
    char want[300];
    snprintf(want, sizeof want, "has the reversal %s (sent) in flight", id(n, "r"));
    assert_has(o.err, want);
    assert_string_equal(o.out, "");
    assert_string_equal(deposit_state(n), "*RCVD|0");
    assert_string_equal(auth_books(n), "approved|100.00|0.00|0.00||||");
    assert_string_equal(owed(n), "none");

    n = seed_auth_capture("CYB", "0.00", true);
    confirm(n, &o);
    assert_rc(&o, 0);
    assert_string_equal(o.err, "");
    snprintf(want, sizeof want, "%s confirmed (*CONF) by it-ops\n", id(n, "d"));
    assert_string_equal(o.out, want);
    assert_string_equal(deposit_state(n), "*CONF|1");
    assert_string_equal(auth_books(n), "approved|0.00|0.00|0.00||||");
    assert_string_equal(owed(n), "none");
}

/* Case n's debit "<n>b": `status`, `captured` (NULL: nothing, as a debit confirmed by hand keeps
 * it, or one without an outcome yet, or held for review), `credited` counted credited on it. One
 * without an outcome (received, sent, unknown) is as paylink-deposit leaves it, answered never; an
 * unknown one opens no required response here, which is what the running system's resolvers
 * read. */
static void seed_debit_status(int n, const char *status, const char *captured, const char *credited)
{
    const char *p[] = {id(n, "b"), id(n, "o"), status, captured, credited};
    admin_ok(
        "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
        "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
        "status, deposit_status, amount_deposited, amount_credited, transaction_id, sent_at, "
        "sent_by, answered_at) VALUES ($1::varchar, repeat('b', 64), 'debit', 'capture', 1, $2, "
        "1, 'CYB', 150.00, 'USD', '7030000000000001234', $3::varchar, CASE $3::varchar "
        "WHEN 'approved' THEN '*RCVD' WHEN 'review' THEN '*RCVD' WHEN 'received' THEN '' "
        "WHEN 'sent' THEN '*SENT' "
        "WHEN 'unknown' THEN '*SENT' ELSE '*CONF' END, $4::numeric, $5::numeric, "
        "'tx-' || $1::varchar, CASE WHEN $3::varchar <> 'received' THEN now() END, "
        "'it-deposit', CASE WHEN $3::varchar NOT IN ('received', 'sent', 'unknown') "
        "THEN now() END)",
        5, p);
}

/* Case n's credit "<n>k" of `amount` naming the debit "<n>b", declined without a call
 * (capture_not_approved: the debit was not approved), as paylink-deposit's store leaves it. */
static void seed_credit_declined(int n, const char *amount)
{
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "capture_ref_request_id, status, deposit_status, answered_at) VALUES ($1, "
             "repeat('k', 64), 'credit', '', 1, $2, 1, 'CYB', $4::numeric, 'USD', "
             "'7030000000000001234', $3, 'declined', '*RCVD', now())",
             4, (const char *const[]){id(n, "k"), id(n, "o"), id(n, "b"), amount});
}

/*
 * A new case of a follow-on credit: the debit "<n>b" of order "<n>o" approved for `captured`,
 * `credited` of it counted credited already (by credits that ended), and the credit "<n>k" of
 * `amount` naming it (capture_ref) that ended `status` — `error` after its call, its claim
 * released (the bureau answered ERROR, or no answer came), as paylink-deposit's store leaves
 * it; or `declined` before any call (no claim: refused by paylink). Returns n.
 */
static int seed_credit(const char *captured, const char *credited, const char *amount,
                       const char *status)
{
    int n = ++g_seq;
    seed_debit_status(n, "approved", captured, credited);
    const char *p[] = {id(n, "k"), id(n, "o"), id(n, "b"), amount, status};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "capture_ref_request_id, status, deposit_status, claim_amount, sent_at, sent_by, "
             "answered_at) VALUES ($1, repeat('k', 64), 'credit', 'credit', 1, $2, 1, 'CYB', "
             "$4::numeric, 'USD', '7030000000000001234', $3, $5::varchar, '*RCVD', CASE WHEN "
             "$5::varchar = 'error' THEN $4::numeric END, CASE WHEN $5::varchar = 'error' "
             "THEN now() END, 'it-deposit', now())",
             5, p);
    return n;
}

/* Another credit "<n><suffix>" of case n's debit in flight (`status` sent or unknown) for
 * `amount`: its claim on the debit's amount_credited, as paylink-deposit's mark leaves it. */
static void seed_credit_claim(int n, const char *suffix, const char *status, const char *amount)
{
    const char *p[] = {id(n, suffix), id(n, "o"), id(n, "b"), amount, status};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "capture_ref_request_id, status, deposit_status, claim_amount, sent_at, sent_by) "
             "VALUES ($1, repeat('j', 64), 'credit', 'credit', 1, $2, 1, 'CYB', $4::numeric, "
             "'USD', '7030000000000001234', $3, $5, '*SENT', $4::numeric, now(), 'it-other')",
             5, p);
    admin_ok("UPDATE cc_deposit_trans SET amount_credited = amount_credited + $2::numeric "
             "WHERE request_id = $1",
             2, (const char *const[]){id(n, "b"), amount});
}

/* That credit's answer, `status` (approved: what it claimed), as its store leaves it: the settle
 * trigger keeps on the debit only what it credited. */
static void end_credit_claim(int n, const char *suffix, const char *status)
{
    admin_ok("UPDATE cc_deposit_trans SET status = $2::varchar, deposit_status = '*RCVD', "
             "amount_deposited = CASE WHEN $2::varchar = 'approved' THEN claim_amount "
             "END, answered_at = now() WHERE request_id = $1",
             2, (const char *const[]){id(n, suffix), status});
}

/* Case n's debit "<n>b" and credit "<n>k" as they are now: the debit's amount_deposited|
 * amount_credited, then the credit's deposit_status|its 'confirmed' history rows. */
static const char *credit_books(int n)
{
    return value("SELECT concat_ws('|', coalesce(b.amount_deposited::text, '-'), "
                 "b.amount_credited, k.deposit_status, (SELECT count(*) FROM cc_deposit_history h "
                 "WHERE h.request_id = k.request_id AND h.event = 'confirmed')) "
                 "FROM cc_deposit_trans k JOIN cc_deposit_trans b "
                 "ON b.request_id = k.capture_ref_request_id WHERE k.request_id = $1",
                 n, "k");
}

/*
 * A follow-on credit that does not fit beside what credits in flight claim on its debit is
 * refused, nothing written (exit 1), as a capture beside the claims on its authorization: the
 * debit's amount_credited holds those claims, so it would be counted for only what they leave,
 * and once they ended (declined) the part not counted would look refundable again: the same
 * refund sent twice. Before, it was recorded silently, exit 0, counted for nothing: the debit
 * D captured 150.00; its credit C1 of 150.00 answered ERROR (refunded all the same); the order
 * system's retry C2 of 150.00 in flight (unknown); C1 confirmed booked 0.00, and once C2 was
 * declined a third credit of 150.00 fitted. Once the credits in flight end, it is confirmed
 * in whole; one that fits beside them is confirmed at once.
 */
static void test_confirm_credit_refused_beside_credits_in_flight(void **state)
{
    (void)state;
    int n = seed_credit("150.00", "0.00", "150.00", "error");
    seed_credit_claim(n, "j", "unknown", "150.00");
    ran o;
    confirm_rid(id(n, "k"), &o);
    assert_rc(&o, 1);
    char want[300];
    snprintf(want, sizeof want,
             "%s's debit %s has 150.00 claimed by credits in flight, and its 150.00 does not fit "
             "beside them (150.00 captured, 150.00 credited or claimed)",
             id(n, "k"), id(n, "b"));
    assert_has(o.err, want);
    assert_has(o.err, "is not confirmed until they have an outcome");
    assert_string_equal(o.out, "");
    assert_string_equal(credit_books(n), "150.00|150.00|*RCVD|0");
    /* Declined: its claim released; the confirmation then counts all of it. */
    end_credit_claim(n, "j", "declined");
    assert_string_equal(credit_books(n), "150.00|0.00|*RCVD|0");
    confirm_rid(id(n, "k"), &o);
    assert_rc(&o, 0);
    assert_string_equal(o.err, "");
    assert_has(o.out, "confirmed (*CONF) by it-ops");
    assert_string_equal(credit_books(n), "150.00|150.00|*CONF|1");

    /* Beside a credit in flight that leaves it room: confirmed at once, in whole. */
    n = seed_credit("150.00", "0.00", "100.00", "error");
    seed_credit_claim(n, "j", "sent", "50.00");
    confirm_rid(id(n, "k"), &o);
    assert_rc(&o, 0);
    assert_string_equal(o.err, "");
    assert_string_equal(credit_books(n), "150.00|150.00|*CONF|1");
}

/*
 * A follow-on credit above what its debit had left to refund (no credit in flight): recorded
 * (the bureau did refund; left rejected it could be resubmitted and refunded again), counted for
 * what was left, and the operator warned with exit 1, as for a capture above what its
 * authorization had left: the money was refunded twice, or against something else. Before,
 * exit 0 and nothing said. A credit of a debit that captured nothing in paylink's books (a debit
 * confirmed by hand keeps its refused status and no amount deposited) counts nothing: warned.
 */
static void test_confirm_credit_over_what_was_left_warns(void **state)
{
    (void)state;
    int n = seed_credit("150.00", "100.00", "80.00", "error");
    ran o;
    confirm_rid(id(n, "k"), &o);
    assert_rc(&o, 1);
    assert_has(o.out, "confirmed (*CONF) by it-ops");
    char want[400];
    snprintf(want, sizeof want,
             "paylinkctl: warning: %s was confirmed, but its debit %s had only 50.00 of 150.00 "
             "left to refund: 50.00 is counted credited on it (now 150.00 of 150.00); 30.00 of "
             "it is more than",
             id(n, "k"), id(n, "b"));
    assert_has(o.err, want);
    assert_string_equal(credit_books(n), "150.00|150.00|*CONF|1");

    /* Nothing left at all: the same refund went out twice (C2 approved meanwhile). */
    n = seed_credit("150.00", "0.00", "150.00", "error");
    seed_credit_claim(n, "j", "unknown", "150.00");
    end_credit_claim(n, "j", "approved");
    confirm_rid(id(n, "k"), &o);
    assert_rc(&o, 1);
    assert_has(o.err, "had only 0.00 of 150.00 left to refund: 0.00 is counted credited on it "
                      "(now 150.00 of 150.00); 150.00 of it is more than");
    assert_string_equal(credit_books(n), "150.00|150.00|*CONF|1");

    /* A debit confirmed by hand (*CONF, its status `error`, nothing deposited): its credit was
     * declined without a call (capture_not_approved); confirmed, nothing is counted on it. */
    n = ++g_seq;
    seed_debit_status(n, "error", NULL, "0.00");
    seed_credit_declined(n, "40.00");
    confirm_rid(id(n, "k"), &o);
    assert_rc(&o, 1);
    assert_has(o.out, "confirmed (*CONF) by it-ops");
    snprintf(want, sizeof want,
             "paylinkctl: warning: %s was confirmed, but its debit %s is error in paylink's "
             "books, with nothing captured to refund: nothing of its 40.00 is counted credited",
             id(n, "k"), id(n, "b"));
    assert_has(o.err, want);
    assert_string_equal(credit_books(n), "-|0.00|*CONF|1");
}

/*
 * A follow-on credit of a debit without an outcome yet (received, sent, unknown) is refused,
 * nothing written (exit 1), as a capture beside a reversal in flight: the debit may well have
 * captured, and counted for nothing now, the credit would leave all of it refundable once the
 * debit is resolved approved. Before, it was recorded, counted for nothing, with a warning that
 * the debit had nothing captured to refund: the debit D of 150.00 timed out (unknown), its
 * credit C declined capture_not_approved, the operator refunded in the bureau's console and
 * confirmed C; the resolver then made D approved with 150.00 deposited, and a new credit of
 * 150.00 fitted: the card refunded twice. Once the debit is approved, C is confirmed in whole.
 */
static void test_confirm_credit_refused_while_its_debit_has_no_outcome(void **state)
{
    (void)state;
    static const char *const pending[] = {"unknown", "sent", "received"};
    for (size_t i = 0; i < sizeof pending / sizeof pending[0]; i++) {
        int n = ++g_seq;
        seed_debit_status(n, pending[i], NULL, "0.00");
        seed_credit_declined(n, "150.00");
        ran o;
        confirm_rid(id(n, "k"), &o);
        assert_rc(&o, 1);
        char want[300];
        snprintf(want, sizeof want,
                 "paylinkctl: %s's debit %s is %s, with no outcome yet (it may have captured): "
                 "%s is not confirmed until the debit has an outcome (paylinkctl wreq list; "
                 "paylinkctl wreq show %s)",
                 id(n, "k"), id(n, "b"), pending[i], id(n, "k"), id(n, "b"));
        assert_has(o.err, want);
        assert_string_equal(o.out, "");
        assert_string_equal(credit_books(n), "-|0.00|*RCVD|0");
        if (i > 0)
            continue;
        /* Resolved approved (the resolver, or `wreq resolve`): the confirmation counts all of
         * it, so that no credit of the debit can refund it again. */
        admin_ok("UPDATE cc_deposit_trans SET status = 'approved', deposit_status = '*RCVD', "
                 "amount_deposited = 150.00, answered_at = now() WHERE request_id = $1",
                 1, (const char *const[]){id(n, "b")});
        confirm_rid(id(n, "k"), &o);
        assert_rc(&o, 0);
        assert_string_equal(o.err, "");
        assert_has(o.out, "confirmed (*CONF) by it-ops");
        assert_string_equal(credit_books(n), "150.00|150.00|*CONF|1");
    }
}

/*
 * A follow-on credit of a debit Decision Manager held for review (480) is refused, nothing
 * written (exit 1): CyberSource runs no capture with an order it holds for review (seed
 * cybersource-point-to-point.txt, Decision Manager Process; deposits.c says more), and paylink
 * never records `review` for a debit its answer says was captured, so the debit captured nothing
 * and the credit refunded nothing of it; nor can that debit be confirmed as captured outside
 * paylink, or become approved. paylink-deposit declined the credit (capture_not_approved) the
 * same way. Before, the confirmation was recorded (*CONF), counted for nothing, with a warning
 * that the debit had nothing captured "in paylink's books". A credit of a declined or failed
 * debit is still confirmed with a warning (test_confirm_credit_over_what_was_left_warns): such a
 * debit may have been confirmed by hand, captured outside paylink.
 */
static void test_confirm_credit_refused_while_its_debit_is_in_review(void **state)
{
    (void)state;
    int n = ++g_seq;
    seed_debit_status(n, "review", NULL, "0.00");
    seed_credit_declined(n, "150.00");
    ran o;
    confirm_rid(id(n, "k"), &o);
    assert_rc(&o, 1);
    char want[400];
    snprintf(want, sizeof want,
             "paylinkctl: %s's debit %s was held for review by Decision Manager (480), and "
             "CyberSource runs no capture with an order it holds for review: %s captured "
             "nothing, so %s refunded nothing of it and is not confirmed.",
             id(n, "k"), id(n, "b"), id(n, "b"), id(n, "k"));
    assert_has(o.err, want);
    assert_has(o.err, "do not credit it again");
    assert_string_equal(o.out, "");
    assert_string_equal(credit_books(n), "-|0.00|*RCVD|0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confirm_voids_the_remainder),
        cmocka_unit_test(test_confirm_defers_the_void_beside_a_claim),
        cmocka_unit_test(test_confirm_refused_beside_claims_it_does_not_fit),
        cmocka_unit_test(test_confirm_over_what_was_left_warns),
        cmocka_unit_test(test_confirm_auth_capture_voids_and_owes_the_reversal),
        cmocka_unit_test(test_confirm_auth_capture_owes_no_reversal_when_none_goes),
        cmocka_unit_test(test_confirm_auth_capture_defers_beside_a_claim),
        cmocka_unit_test(test_confirm_auth_capture_warns_when_not_intact),
        cmocka_unit_test(test_confirm_auth_capture_refused_beside_a_reversal),
        cmocka_unit_test(test_confirm_credit_refused_beside_credits_in_flight),
        cmocka_unit_test(test_confirm_credit_over_what_was_left_warns),
        cmocka_unit_test(test_confirm_credit_refused_while_its_debit_has_no_outcome),
        cmocka_unit_test(test_confirm_credit_refused_while_its_debit_is_in_review),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
