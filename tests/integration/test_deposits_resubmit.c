/*
 * test_deposits_resubmit.c: the request `paylinkctl deposits resubmit` publishes for a rejected
 * deposit (tools/paylinkctl/deposits.c, pl_deposits_resubmission, which the command sends),
 * built from rows in the real schema of PAYLINK_DB: the merchant ID it goes under.
 *
 * A request names no merchant ID: its `entity` chooses one (merchant_id_override), after its
 * pay type (vendor_paytype) and before the service bureau's. The entity is not stored on the
 * deposit's row, only the merchant ID it chose. Before, the resubmission of a stand-alone credit
 * or of an auth+capture on its own token named no entity and went under the bureau's merchant ID:
 * the refund taken from, or the charge paid into, another merchant's account than the
 * original's. Now it names an entity whose override names the merchant ID the deposit went
 * under; and one the configuration no longer leads there, or one never sent (its merchant ID
 * unknown) of a company with overrides at that bureau, is refused. A capture goes under its
 * authorization's merchant ID whatever the configuration says (pl_job_follow_merchant): it is
 * built as before.
 *
 * Every row is the test's own (request ids, orders and entities starting with its prefix),
 * configuration included, written in one transaction on the test's connection (the one the
 * resubmission reads on) and rolled back: no other session, the running system's workers and
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
#include <json-c/json.h>
#include <libpq-fe.h>

#include "deposits.h"
#include "it_unit.h"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_p[24];          /* this run's prefix of request ids, orders and entities */
static char g_bureau_mid[31]; /* the CYB service bureau's own merchant ID */
static char g_bare[8];        /* a company with no merchant ID override at CYB */

/* "<prefix><suffix>" in a static ring of buffers (a few are alive at once). */
static const char *id(const char *suffix)
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

static int group_setup(void **state)
{
    (void)state;
    if (!(g_admin = it_admin_connect(&g_conninfo)))
        return -1;
    snprintf(g_p, sizeof g_p, "itrs%ld%ld", (long)getpid() % 10000, (long)time(NULL) % 10000);
    PGresult *r =
        PQexec(g_admin, "SELECT (SELECT merchant_id FROM auth_service WHERE service_bureau = "
                        "'CYB'), (SELECT min(c) FROM generate_series(2, 999) c WHERE NOT EXISTS "
                        "(SELECT 1 FROM merchant_id_override o WHERE o.company = c "
                        "AND o.service_bureau = 'CYB'))");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
              !PQgetisnull(r, 0, 1);
    if (ok) {
        snprintf(g_bureau_mid, sizeof g_bureau_mid, "%s", PQgetvalue(r, 0, 0));
        snprintf(g_bare, sizeof g_bare, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    if (!ok) {
        fprintf(stderr, "test_deposits_resubmit: no CYB service bureau in auth_service, or no "
                        "company without a merchant ID override\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        rollback();
        PQfinish(g_admin);
    }
    return 0;
}

/* Company 1's entities "<prefix>e1" and "<prefix>e2" at CYB, with merchant IDs "<prefix>m1" and
 * "<prefix>m2". */
static void seed_overrides(void)
{
    const char *p[] = {id("e1"), id("m1"), id("e2"), id("m2")};
    admin_ok("INSERT INTO merchant_id_override (company, entity, service_bureau, merchant_id) "
             "VALUES (1, $1, 'CYB', $2), (1, $3, 'CYB', $4)",
             4, p);
}

/*
 * Deposit "<prefix><suffix>" of company `company` on CYB, declined after its call under
 * merchant ID `merchant` (not sent: ended `error` before any call, no merchant ID), as
 * paylink-deposit leaves it: a `type` ("debit", "credit") sent as `operation` on its own token
 * "<prefix>tok" (card type VI), `auth_ref` naming an authorization ("" none).
 */
static void seed_deposit(const char *suffix, const char *company, const char *type,
                         const char *operation, const char *merchant, bool sent,
                         const char *auth_ref)
{
    const char *p[] = {id(suffix), company,  type,     operation,       id("o"),
                       id("tok"),  merchant, auth_ref, sent ? "t" : "f"};
    admin_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "card_type, auth_ref_request_id, merchant_id, status, deposit_status, "
             "vendor_response, sent_at, sent_by, answered_at) VALUES ($1, repeat('b', 64), $3, "
             "$4, $2::int, $5, 1, 'CYB', 25.00, 'USD', $6, 'VI', $8, $7, CASE WHEN $9::boolean "
             "THEN 'declined' ELSE 'error' END, CASE WHEN $9::boolean THEN '*RCVD' ELSE '' END, "
             "CASE WHEN $9::boolean THEN '203' ELSE '' END, CASE WHEN $9::boolean THEN now() "
             "END, CASE WHEN $9::boolean THEN 'it-deposit' ELSE '' END, now())",
             9, p);
}

typedef struct built {
    json_object *req; /* the request, NULL when refused */
    char err[2048];   /* what was said on stderr */
} built;

/* pl_deposits_resubmission of "<prefix><suffix>" as "<prefix><suffix>.r1", its stderr kept. */
static void resubmit(const char *suffix, built *b)
{
    FILE *fe = tmpfile();
    assert_non_null(fe);
    fflush(stderr);
    int se = dup(STDERR_FILENO);
    assert_true(se >= 0);
    assert_true(dup2(fileno(fe), STDERR_FILENO) >= 0);
    char rid[56], new_id[64];
    snprintf(rid, sizeof rid, "%s", id(suffix));
    snprintf(new_id, sizeof new_id, "%s.r1", rid);
    char *msg = pl_deposits_resubmission(g_admin, rid, new_id);
    fflush(stderr);
    dup2(se, STDERR_FILENO);
    close(se);
    rewind(fe);
    size_t got = fread(b->err, 1, sizeof b->err - 1, fe);
    b->err[got] = '\0';
    fclose(fe);
    b->req = msg ? json_tokener_parse(msg) : NULL;
    if (msg && !b->req)
        fail_msg("not JSON: %s", msg);
    free(msg);
}

/* Member `key` of b's request as text; "(none)" when it has none. */
static const char *member(const built *b, const char *key)
{
    json_object *v;
    if (!b->req || !json_object_object_get_ex(b->req, key, &v))
        return "(none)";
    return json_object_get_string(v);
}

static void assert_built(const built *b)
{
    if (!b->req)
        fail_msg("refused: %s", b->err);
}

static void assert_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("\"%s\" does not say \"%s\"", text, want);
}

/*
 * A stand-alone credit on a token, sent under entity e2's merchant ID: the resubmission names
 * e2 (not e1, whose override names another), so that the refund comes from that merchant's
 * account again; the rest of what routes it comes too (service, currency, amount, token).
 */
static void test_stand_alone_credit_names_its_entity(void **state)
{
    (void)state;
    begin();
    seed_overrides();
    seed_deposit("k", "1", "credit", "credit", id("m2"), true, "");
    built b;
    resubmit("k", &b);
    assert_built(&b);
    assert_string_equal(member(&b, "entity"), id("e2"));
    assert_string_equal(member(&b, "request_id"), id("k.r1"));
    assert_string_equal(member(&b, "type"), "credit");
    assert_string_equal(member(&b, "service"), "CYB");
    assert_string_equal(member(&b, "company"), "1");
    assert_string_equal(member(&b, "amount"), "25.00");
    assert_string_equal(member(&b, "currency"), "USD");
    json_object *card = NULL, *tok = NULL;
    assert_true(json_object_object_get_ex(b.req, "card", &card));
    assert_true(json_object_object_get_ex(card, "token", &tok));
    assert_string_equal(json_object_get_string(tok), id("tok"));
    assert_string_equal(b.err, "");
    json_object_put(b.req);
    rollback();
}

/* A debit without an authorization, sent as an auth+capture on its own token under entity e1's
 * merchant ID: the resubmission names e1. */
static void test_token_auth_capture_names_its_entity(void **state)
{
    (void)state;
    begin();
    seed_overrides();
    seed_deposit("d", "1", "debit", "auth_capture", id("m1"), true, "");
    built b;
    resubmit("d", &b);
    assert_built(&b);
    assert_string_equal(member(&b, "entity"), id("e1"));
    assert_string_equal(member(&b, "type"), "debit");
    assert_string_equal(member(&b, "currency"), "USD");
    assert_string_equal(b.err, "");
    json_object_put(b.req);
    rollback();
}

/* Sent under the service bureau's own merchant ID (no entity's override names it): built as
 * before, naming no entity. */
static void test_bureau_merchant_names_no_entity(void **state)
{
    (void)state;
    begin();
    seed_overrides();
    seed_deposit("k", "1", "credit", "credit", g_bureau_mid, true, "");
    built b;
    resubmit("k", &b);
    assert_built(&b);
    assert_string_equal(member(&b, "entity"), "(none)");
    json_object_put(b.req);
    rollback();
}

/*
 * Sent under a merchant ID no override, pay type or the bureau names now (the configuration
 * changed since): refused, saying both merchant IDs; before, it went under the bureau's.
 */
static void test_merchant_no_longer_configured_is_refused(void **state)
{
    (void)state;
    begin();
    seed_overrides();
    seed_deposit("k", "1", "credit", "credit", id("gone"), true, "");
    built b;
    resubmit("k", &b);
    if (b.req)
        fail_msg("built: %s", json_object_to_json_string(b.req));
    char want[300];
    snprintf(want, sizeof want,
             "%s went under merchant ID \"%s\", and its resubmission would go "
             "under \"%s\"",
             id("k"), id("gone"), g_bureau_mid);
    assert_has(b.err, want);
    assert_has(b.err, "another merchant's account");
    rollback();
}

/*
 * Never sent (refused before any call: no merchant ID recorded), by a company with merchant ID
 * overrides at the bureau: the entity it named is unknown, refused. Of a company without any:
 * built, naming none.
 */
static void test_never_sent_with_overrides_is_refused(void **state)
{
    (void)state;
    begin();
    seed_overrides();
    seed_deposit("k", "1", "credit", "", "", false, "");
    seed_deposit("b", g_bare, "credit", "", "", false, "");
    built b;
    resubmit("k", &b);
    if (b.req)
        fail_msg("built: %s", json_object_to_json_string(b.req));
    assert_has(b.err, "was never sent, and the entity it named is not stored");
    resubmit("b", &b);
    assert_built(&b);
    assert_string_equal(member(&b, "entity"), "(none)");
    json_object_put(b.req);
    rollback();
}

/*
 * A capture of a paylink authorization, on the token it took from it, sent under the
 * authorization's merchant ID, which nothing configured names now: built all the same (the
 * worker sends it under its authorization's merchant ID, pl_job_follow_merchant), the token
 * left for the worker to take from the authorization again.
 */
static void test_capture_follows_its_authorization(void **state)
{
    (void)state;
    begin();
    const char *pa[] = {id("a"), id("o"), id("tok"), id("gone")};
    admin_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
             "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
             "card_type, status, amount_approved, merchant_id, sent_at) VALUES ($1, "
             "repeat('a', 64), 'auth', 'auth', 1, $2, 1, 'CYB', 25.00, 'USD', $3, 'VI', "
             "'approved', 25.00, $4, now())",
             4, pa);
    seed_deposit("d", "1", "debit", "capture", id("gone"), true, id("a"));
    built b;
    resubmit("d", &b);
    assert_built(&b);
    assert_string_equal(member(&b, "card"), "(none)");
    assert_string_equal(member(&b, "entity"), "(none)");
    json_object *ref = NULL, *rid = NULL;
    assert_true(json_object_object_get_ex(b.req, "auth_ref", &ref));
    assert_true(json_object_object_get_ex(ref, "request_id", &rid));
    assert_string_equal(json_object_get_string(rid), id("a"));
    json_object_put(b.req);
    rollback();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stand_alone_credit_names_its_entity),
        cmocka_unit_test(test_token_auth_capture_names_its_entity),
        cmocka_unit_test(test_bureau_merchant_names_no_entity),
        cmocka_unit_test(test_merchant_no_longer_configured_is_refused),
        cmocka_unit_test(test_never_sent_with_overrides_is_refused),
        cmocka_unit_test(test_capture_follows_its_authorization),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
