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
 * The rows are the test's own (request ids and orders starting with its prefix), written
 * directly as paylink-deposit leaves them: an authorization, a capture that ended `error` after
 * its call (its claim released), and another capture still in flight ('sent', its claim on the
 * authorization). Nothing here is an unknown outcome or an owed reversal, so the running
 * system's resolvers take none of them. Deleted at the end.
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
    admin_ok("DELETE FROM cc_deposit_history WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM auth_history WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_deposit_trans WHERE request_id LIKE $1", 1, p);
    admin_ok("DELETE FROM cc_auth_trans WHERE request_id LIKE $1", 1, p);
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
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        delete_rows();
        PQfinish(g_admin);
    }
    return 0;
}

/* A new case: an approved CyberSource authorization "<n>a" of order "<n>o" for `authorized`,
 * `deposited` of it captured already, and the capture "<n>d" of `amount` sent on it with
 * void_remainder `voids` ("true", "false", NULL: marked before 046) that ended `error` after its
 * call, its claim released (an answer that never came, settled so by the resolver). Returns n. */
static int seed(const char *authorized, const char *deposited, const char *amount,
                const char *voids)
{
    int n = ++g_seq;
    const char *pa[] = {id(n, "a"), id(n, "o"), authorized, deposited, id(n, "tx")};
    admin_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "card_type, status, amount_approved, sent_at) VALUES ($1, repeat('a', 64), 'auth', "
             "'auth', 1, $2, 1, 'CYB', $3::numeric, 'USD', '7030000000000001234', 'VI', "
             "'approved', $3::numeric, now())",
             3, pa);
    admin_ok("INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
             "service_bureau, transaction_type, status, amount_authorized, amount_deposited, "
             "currency, auth_number, auth_date, transaction_id, request_token) "
             "VALUES ($1, 1, $2, 1, 'CYB', 'auth', 'approved', $3::numeric, $4::numeric, 'USD', "
             "'831000', to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), $5, "
             "'Axj/auth-token')",
             5, pa);
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

/* `paylinkctl deposits confirm --request-id <n>d --by it-ops --note ...`, its stdout and stderr
 * kept in o. */
static void confirm(int n, ran *o)
{
    char rid[64], cmd[] = "deposits", sub[] = "confirm", o_rid[] = "--request-id", o_by[] = "--by",
                  by[] = "it-ops", o_note[] = "--note", note[] = "in the report";
    snprintf(rid, sizeof rid, "%s", id(n, "d"));
    char *argv[] = {cmd, sub, o_rid, rid, o_by, by, o_note, note, NULL};
    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
    assert_true(so >= 0 && se >= 0);
    assert_true(dup2(fileno(fo), STDOUT_FILENO) >= 0 && dup2(fileno(fe), STDERR_FILENO) >= 0);
    o->rc = pl_deposits_main(8, argv, g_conninfo, NULL, "paylink");
    fflush(stdout);
    fflush(stderr);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    slurp(fo, o->out, sizeof o->out);
    slurp(fe, o->err, sizeof o->err);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confirm_voids_the_remainder),
        cmocka_unit_test(test_confirm_defers_the_void_beside_a_claim),
        cmocka_unit_test(test_confirm_refused_beside_claims_it_does_not_fit),
        cmocka_unit_test(test_confirm_over_what_was_left_warns),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
