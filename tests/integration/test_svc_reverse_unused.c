/*
 * test_svc_reverse_unused.c: which authorizations `paylinkctl svc reverse-unused` lists
 * (tools/paylinkctl/svcctl.c, SQL_UNUSED through pl_svcctl_run, a dry run) against the real
 * schema of PAYLINK_DB, by the bureau each authorization was taken on.
 *
 * The seed's REVXAHP conditions are checked on the pay type's bureau; each void goes to the
 * authorization's own, which may be another (a pay type moved). An authorization on an RLT
 * bureau, or on an EXT bureau whose External Service flag is on, is listed; one on an EXT
 * bureau switched off, or without External Service Settings, is not (counted on stderr): a void
 * asked there would send no message and only raise the attempt of every later run. Before, the
 * listing joined any RLT or EXT bureau and listed all four.
 *
 * The rows (bureaus cloned from the demo RLT and EXT, the pay type, the order's mark, the
 * authorizations) are the test's own, written in one transaction on the test's connection and
 * rolled back: no other session, the running workers included, ever sees one. The dry run
 * writes nothing, so it runs inside that transaction.
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

#include "it_unit.h"
#include "svcctl.h"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_p[32];       /* this run's prefix of request ids and the order */
static char g_tag[8];      /* this run's digits in bureau codes and the pay type */
static char g_pay_type[8]; /* "Q<3 digits>" */

static void admin_ok(const char *sql, int n, const char *const *params)
{
    it_exec(g_admin, sql, n, params);
}

/* "<prefix><suffix>" in a static ring of buffers. */
static const char *rid(const char *suffix)
{
    static char ring[8][64];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%s%s", g_p, suffix);
    return s;
}

/* "<letters><tag>": a bureau code of this run (at most 8 characters). */
static const char *code(const char *letters)
{
    static char ring[8][16];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%s%s", letters, g_tag);
    return s;
}

/* A copy of the demo bureau `from` as `to`; with ext, a copy of its External Service Settings,
 * the flag set to enabled ("t" / "f"). */
static void clone_bureau(const char *from, const char *to, const char *ext_enabled)
{
    const char *p[] = {from, to};
    admin_ok("INSERT INTO auth_service SELECT (jsonb_populate_record(NULL::auth_service, "
             "to_jsonb(a) || jsonb_build_object('service_bureau', $2::text))).* "
             "FROM auth_service a WHERE service_bureau = $1",
             2, p);
    if (!ext_enabled)
        return;
    const char *pe[] = {from, to, ext_enabled};
    admin_ok("INSERT INTO external_service SELECT (jsonb_populate_record(NULL::external_service, "
             "to_jsonb(e) || jsonb_build_object('service_bureau', $2::text, "
             "'enabled', $3::boolean))).* FROM external_service e WHERE service_bureau = $1",
             3, pe);
}

/* An approved stored value authorization "<prefix><suffix>" of 10.00 on bureau, pay_seq seq,
 * of the run's order and pay type, nothing drawn on it. */
static void seed_auth(const char *suffix, const char *bureau, const char *seq)
{
    const char *p[] = {rid(suffix), rid("o"), seq, bureau, g_pay_type};
    admin_ok(
        "INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, pay_type, amount, currency, card_masked, "
        "card_hash, status, amount_approved, svc_transaction_id, sent_at, answered_at) "
        "VALUES ($1::text, repeat('a', 64), 'auth', 'svc_preauth', 1, $2, $3::int, $4, $5, 10.00, "
        "'USD', '************0001', repeat('c', 64), 'approved', 10.00, 'T' || $1::text, now(), "
        "now())",
        5, p);
}

typedef struct ran {
    int rc;
    char out[8192], err[2048];
} ran;

static void slurp(FILE *f, char *buf, size_t size)
{
    rewind(f);
    size_t got = fread(buf, 1, size - 1, f);
    buf[got] = '\0';
    fclose(f);
}

/* `paylinkctl svc reverse-unused --company 1 --pay-type <the run's> --dry-run` on the test's
 * connection, its stdout and stderr kept in o. */
static void reverse_unused(ran *o)
{
    pl_svcctl_opts opts = {.cmd = PL_SVCCTL_REVERSE_UNUSED,
                           .company = 1,
                           .pay_type = g_pay_type,
                           .dry_run = true,
                           .by = "it"};
    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
    assert_true(so >= 0 && se >= 0);
    assert_true(dup2(fileno(fo), STDOUT_FILENO) >= 0 && dup2(fileno(fe), STDERR_FILENO) >= 0);
    o->rc = pl_svcctl_run(g_admin, &opts, "paylink");
    fflush(stdout);
    fflush(stderr);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    slurp(fo, o->out, sizeof o->out);
    slurp(fe, o->err, sizeof o->err);
}

static bool listed(const ran *o, const char *auth_request_id)
{
    char want[96];
    snprintf(want, sizeof want, "\"auth_request_id\":\"%s\"", auth_request_id);
    return strstr(o->out, want) != NULL;
}

/*
 * The pay type is on an RLT bureau (the seed's conditions hold); its authorizations were taken
 * on that bureau, on an EXT bureau still on, on one switched off since, and on one without
 * External Service Settings. The first two are listed; the others are counted, not listed.
 */
static void test_each_authorization_its_bureau(void **state)
{
    (void)state;
    admin_ok("BEGIN", 0, NULL);
    clone_bureau("RLT", code("IXR"), NULL);
    clone_bureau("EXT", code("IXO"), "t");
    clone_bureau("EXT", code("IXF"), "f");
    clone_bureau("EXT", code("IXN"), NULL);
    const char *pt[] = {g_pay_type, code("IXR")};
    admin_ok("INSERT INTO pay_type (company, pay_type, kind, service_bureau) "
             "VALUES (1, $1, 'SVC', $2)",
             2, pt);
    const char *po[] = {rid("o")};
    admin_ok("INSERT INTO order_closed (company, order_number, reason, closed_by) "
             "VALUES (1, $1, 'cancelled', 'it')",
             1, po);
    seed_auth("rlt", code("IXR"), "1");
    seed_auth("ext-on", code("IXO"), "2");
    seed_auth("ext-off", code("IXF"), "3");
    seed_auth("ext-none", code("IXN"), "4");

    ran o;
    reverse_unused(&o);
    if (o.rc != 0)
        fail_msg("exit %d; stdout: %s; stderr: %s", o.rc, o.out, o.err);
    assert_true(listed(&o, rid("rlt")));
    assert_true(listed(&o, rid("ext-on")));
    if (listed(&o, rid("ext-off")) || listed(&o, rid("ext-none")))
        fail_msg("an authorization on an EXT bureau that cannot take a void was listed: %s", o.out);
    if (!strstr(o.err, "2 stored value authorization(s)") || !strstr(o.err, "2 more of pay type"))
        fail_msg("stderr does not count 2 listed and 2 left: %s", o.err);
    PQclear(PQexec(g_admin, "ROLLBACK"));
}

static int group_setup(void **state)
{
    (void)state;
    if (!(g_admin = it_admin_connect(&g_conninfo)))
        return -1;
    long n = (long)getpid() % 1000;
    snprintf(g_tag, sizeof g_tag, "%03ld", n);
    snprintf(g_pay_type, sizeof g_pay_type, "Q%03ld", n);
    snprintf(g_p, sizeof g_p, "itru%ld%ld-", (long)getpid() % 100000, (long)time(NULL) % 100000);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        if (PQtransactionStatus(g_admin) != PQTRANS_IDLE)
            PQclear(PQexec(g_admin, "ROLLBACK"));
        PQfinish(g_admin);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_authorization_its_bureau),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
