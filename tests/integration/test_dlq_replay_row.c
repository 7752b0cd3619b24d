/*
 * test_dlq_replay_row.c: the row `paylinkctl dlq replay` looks for before it sends a dead
 * letter again (tools/paylinkctl/opsctl.c, pl_opsctl_replay_check_row), against the real schema
 * of PAYLINK_DB: each worker's table (cc_auth_trans, cc_deposit_trans, auth_reversal,
 * svc_trans) is the one looked in, a request_id with a row there is refused naming the table
 * and the row's status, one without is not, and a look-up that fails refuses too.
 *
 * The scenario it guards: an authorization refused before it was recorded (an unknown service
 * bureau) is dead-lettered; the bureau is added, the order system sends the request again under
 * the same request_id and it is approved; an operator then replays the dead letter. Before, the
 * copy went out (the envelope alone said nothing against it), the worker took the redacted
 * copy for another request under that request_id and published a false `invalid` after the
 * real approval.
 *
 * Every row is the test's own (request ids starting with its prefix), written in one
 * transaction on the test's connection and rolled back: no other session, the running system's
 * resolvers included, ever sees one.
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

#include "dlq.h"
#include "it_unit.h"
#include "opsctl.h"
#include "request.h"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_p[32]; /* this run's prefix of request ids */

/* "<prefix><suffix>" in a static ring of buffers. */
static const char *rid(const char *suffix)
{
    static char ring[8][64];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%s%s", g_p, suffix);
    return s;
}

static void admin_ok(const char *sql, int n, const char *const *params)
{
    it_exec(g_admin, sql, n, params);
}

/* A transaction of the test's own; one a failed test left open is rolled back first. */
static void begin(void)
{
    if (PQtransactionStatus(g_admin) != PQTRANS_IDLE)
        PQclear(PQexec(g_admin, "ROLLBACK"));
    admin_ok("BEGIN", 0, NULL);
}

static void rollback(void)
{
    PQclear(PQexec(g_admin, "ROLLBACK"));
}

/* A row of each worker's table, as the workers leave them: an approved authorization "a", a
 * capture "d", a reversal "r" and a stored value authorization "s" still 'received'. */
static void seed_rows(void)
{
    const char *pa[] = {rid("a")};
    admin_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "card_type, status, amount_approved, sent_at) VALUES ($1, repeat('a', 64), 'auth', "
             "'auth', 1, 'ITDR1', 1, 'CYB', 5.00, 'USD', '7030000000000001234', 'VI', "
             "'approved', 5.00, now())",
             1, pa);
    const char *pd[] = {rid("d")};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau) VALUES ($1, repeat('a', 64), "
             "'debit', 'capture', 1, 'ITDR1', 1, 'CYB')",
             1, pd);
    const char *pr[] = {rid("r")};
    admin_ok("INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "
             "service_bureau) VALUES ($1, repeat('a', 64), 1, 'ITDR1', 1, 'CYB')",
             1, pr);
    const char *ps[] = {rid("s")};
    admin_ok("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, "
             "order_number, pay_seq, service_bureau, card_hash) VALUES ($1, repeat('a', 64), "
             "'auth', 1, 'ITDR1', 1, 'RLT', repeat('c', 64))",
             1, ps);
}

static void assert_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("\"%s\" does not say \"%s\"", text, want);
}

/* Each worker looks in its own table: a row there refuses the replay, naming the table and the
 * row's status; another worker's row, or none, does not. */
static void test_each_worker_its_table(void **state)
{
    (void)state;
    static const struct {
        const char *worker, *suffix, *table, *status;
    } rows[] = {{"auth", "a", "cc_auth_trans", "approved"},
                {"deposit", "d", "cc_deposit_trans", "received"},
                {"reversal", "r", "auth_reversal", "received"},
                {"svc", "s", "svc_trans", "received"}};
    const size_t n = sizeof rows / sizeof rows[0];
    begin();
    seed_rows();
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < n; k++) {
            char e[600] = "";
            int rc = pl_opsctl_replay_check_row(g_admin, rows[i].worker, rid(rows[k].suffix), e,
                                                sizeof e);
            if (i != k) {
                if (rc != PL_OK)
                    fail_msg("worker %s refused %s's row: %s", rows[i].worker, rows[k].table, e);
                continue;
            }
            assert_int_equal(rc, PL_ERR_INVALID);
            char want[200];
            snprintf(want, sizeof want, "request_id %s already has a row in %s (status %s)",
                     rid(rows[k].suffix), rows[k].table, rows[k].status);
            assert_has(e, want);
            assert_has(e, "false `invalid`");
        }
        char e[600] = "";
        assert_int_equal(
            pl_opsctl_replay_check_row(g_admin, rows[i].worker, rid("none"), e, sizeof e), PL_OK);
    }
    rollback();
}

/*
 * The scenario: R1's dead letter (refused: unknown service bureau) passes every check of the
 * envelope, a replay before R1 was sent again would go; once R1 has its approved row, it is
 * refused.
 */
static void test_refused_once_recorded(void **state)
{
    (void)state;
    char request[400];
    snprintf(request, sizeof request,
             "{\"v\":1,\"request_id\":\"%s\",\"type\":\"auth\",\"company\":1,\"order\":\"ITDR1\","
             "\"pay_seq\":1,\"service\":\"CYB2\",\"amount\":\"5.00\",\"currency\":\"USD\","
             "\"card\":{\"token\":\"TOK-ITDR1\",\"type\":\"VI\"}}",
             rid("a"));
    bool changed = true;
    char *redacted = pl_request_redact_report(request, strlen(request), &changed);
    assert_non_null(redacted);
    assert_false(changed);
    pl_errors errs = {0};
    pl_errors_add(&errs, "service", "unknown service bureau");
    char *env = pl_dlq_envelope("unknown service bureau", &errs, "paylink.auth.request", 0, 1,
                                redacted, changed, 100000);
    assert_non_null(env);
    pl_opsctl_dead_letter d;
    pl_opsctl_replay p;
    char e[600] = "";
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", NULL, 0, false, &p, e, sizeof e), PL_OK);
    assert_int_equal(pl_opsctl_replay_check_row(g_admin, "auth", d.request_id, e, sizeof e), PL_OK);
    begin();
    seed_rows();
    assert_int_equal(pl_opsctl_replay_check_row(g_admin, "auth", d.request_id, e, sizeof e),
                     PL_ERR_INVALID);
    assert_has(e, "already has a row in cc_auth_trans (status approved)");
    rollback();
    pl_opsctl_dlq_free(&d);
    free(env);
    free(redacted);
}

/* A look-up that fails (here: in an aborted transaction) refuses: nothing is sent unchecked. */
static void test_lookup_failure_refuses(void **state)
{
    (void)state;
    begin();
    PQclear(PQexec(g_admin, "SELECT 1 / 0"));
    char e[600] = "";
    assert_int_equal(pl_opsctl_replay_check_row(g_admin, "auth", rid("none"), e, sizeof e),
                     PL_ERR_DB);
    assert_has(e, "looking for its row failed");
    rollback();
    assert_int_equal(pl_opsctl_replay_check_row(g_admin, "dmupdate", rid("none"), e, sizeof e),
                     PL_ERR_INVALID);
}

static int group_setup(void **state)
{
    (void)state;
    if (!(g_admin = it_admin_connect(&g_conninfo)))
        return -1;
    snprintf(g_p, sizeof g_p, "itdr%ld%ld-", (long)getpid() % 100000, (long)time(NULL) % 100000);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        if (PQtransactionStatus(g_admin) != PQTRANS_IDLE)
            rollback();
        PQfinish(g_admin);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_worker_its_table),
        cmocka_unit_test(test_refused_once_recorded),
        cmocka_unit_test(test_lookup_failure_refuses),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
