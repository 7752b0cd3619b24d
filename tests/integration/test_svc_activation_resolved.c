/*
 * test_svc_activation_resolved.c: an operator's resolution of a stored value activation whose
 * outcome is unknown (pl_resolver_operator, what `paylinkctl wreq resolve` calls) and what it
 * does to the card's row in the Stored Value Card table (PL_SVC_CARD_EFFECTS_SQL, stored_value.h),
 * against the real PostgreSQL of PAYLINK_DB.
 *
 * An activation approved for part of its amount (`--amount`, from Customer Engagement's
 * records) loaded the card with that part: the card's issue_amount is the part, whether the
 * card had no row before (a physical card paylink never generated) or had one (a generated
 * card, issued for the whole amount). Before, the row recorded the amount asked (the request's
 * svc.issue_amount, else its amount; a row recorded before kept its own), and the card showed
 * value it never had. An approval without an amount is the amount sent, as before.
 *
 * Every row is the test's own (request ids starting with g_prefix, card hashes of those request
 * ids), its required response escalated, which the running system's resolvers never take, and
 * resolved by the test's own resolver; all are deleted after each test.
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
#include <curl/curl.h>
#include <libpq-fe.h>
#include <libxml/parser.h>

#include "it_resolver.h"
#include "log.h"
#include "resolver.h"

#define COMPANY "7"
/* The card hash of request id $1: the test's own, one card per activation. */
#define CARD_HASH "encode(sha256(convert_to('card:' || $1, 'UTF8')), 'hex')"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_prefix[40];
static char g_like[48];
static int g_seq;

static PGresult *sql(const char *q, int n, const char *const *p)
{
    PGresult *r = PQexecParams(g_admin, q, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s\n  failed: %s", q, m);
    }
    return r;
}

static void assert_value(const char *q, const char *param, const char *want)
{
    const char *p[] = {param};
    PGresult *r = sql(q, 1, p);
    if (PQntuples(r) != 1) {
        int rows = PQntuples(r);
        PQclear(r);
        fail_msg("%s ($1 = %s): %d rows, want 1", q, param, rows);
    }
    char v[1024];
    snprintf(v, sizeof v, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (strcmp(v, want) != 0)
        fail_msg("%s ($1 = %s)\n  is   %s\n  want %s", q, param, v, want);
}

typedef struct trow {
    int64_t id;   /* required_response.id */
    char rid[51]; /* the activation's request_id */
} trow;

/*
 * An activation of 25.00 USD sent to RLT whose answer never came: its svc_trans row unknown (the
 * timeout reply stored) with the request's svc.issue_amount `issue` (NULL: none), and its
 * required response escalated. virtual: a virtual card (RechargeRequest) with its row in the
 * Stored Value Card table, generated for 25.00 USD and held by this activation
 * (activation_pending, as the mark leaves it); otherwise a physical card without a row.
 */
static trow activation(bool is_virtual, const char *issue)
{
    trow t;
    memset(&t, 0, sizeof t);
    int n = ++g_seq;
    snprintf(t.rid, sizeof t.rid, "%s%d", g_prefix, n);
    char order[21];
    snprintf(order, sizeof order, "ITA%05d%04d", (int)(getpid() % 100000), n);
    const char *op = is_virtual ? "svc_recharge" : "svc_activate";
    const char *p[] = {t.rid, order, op, is_virtual ? "true" : "false", issue};
    if (is_virtual)
        PQclear(sql("INSERT INTO stored_value_card (service_bureau, company, order_number, "
                    "order_line, card_masked, card_hash, virtual, issue_amount, currency, status, "
                    "activation_pending) VALUES ('RLT', " COMPANY ", $2::text, 2, "
                    "'************0001', " CARD_HASH ", true, 25.00, 'USD', 'generated', $1::text)",
                    2, p));
    PQclear(sql(
        "INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, amount, currency, card_masked, card_hash, "
        "order_line, issue_amount, is_virtual, status, reply, sent_at, sent_by) VALUES ($1::text, "
        "encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'activate', $3::text, " COMPANY
        ", $2::text, 1, 'RLT', 25.00, 'USD', '************0001', " CARD_HASH
        ", 2, $5::numeric, $4::boolean, 'unknown', jsonb_build_object('v', 1, 'request_id', "
        "$1::text, 'type', 'activate', 'company', " COMPANY
        ", 'order', $2::text, 'pay_seq', 1, 'service', 'RLT', 'status', 'timeout', "
        "'amount_requested', '25.00', 'currency', 'USD', 'vendor_response', 'SU', 'message', "
        "'No answer from the payment service in time: the outcome is unknown.', "
        "'required_response', true, 'processed_at', "
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), "
        "now() - interval '5 seconds', 'it-svc-activation')",
        5, p));
    PGresult *r =
        sql("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
            "worker_replied_at) VALUES ($1::text, 'svc', " COMPANY ", $2::text, 1, 'RLT', "
            "$3::text, 25.00, 'USD', 'timeout', 'it: no answer within the response time', "
            "'escalated', now(), now()) RETURNING id",
            3, p);
    t.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return t;
}

static void cleanup(bool strict)
{
    static const char *const deletes[] = {
        "DELETE FROM required_response WHERE request_id LIKE $1",
        "DELETE FROM stored_value_card WHERE card_hash IN (SELECT card_hash FROM svc_trans "
        "WHERE request_id LIKE $1)",
        "DELETE FROM svc_trans WHERE request_id LIKE $1",
    };
    const char *p[] = {g_like};
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        if (strict)
            PQclear(sql(deletes[i], 1, p));
        else
            PQclear(PQexecParams(g_admin, deletes[i], 1, NULL, p, NULL, NULL, 0));
    }
}

/* Final replies are not the test's concern: each one is taken as published. */
static int on_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz)
{
    (void)topic, (void)key, (void)payload, (void)err, (void)errsz;
    (*(int *)arg)++;
    return 0;
}

static pl_resolver *svc_resolver(int *published)
{
    char own[96];
    snprintf(own, sizeof own, "%sop/resolver", g_prefix);
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = "svc",
                              .owner = own,
                              .topic_prefix = "it",
                              .ca_file = getenv("PAYLINK_CA_FILE"),
                              .publish = on_publish,
                              .publish_arg = published};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    return r;
}

/* Resolves t approved, for amount (NULL: no --amount, what was sent). */
static void approve(pl_resolver *r, const trow *t, const char *amount)
{
    pl_resolve_outcome o = {.status = PL_ST_APPROVED};
    if (amount) {
        o.has_amount = true;
        o.amount = strtoll(amount, NULL, 10);
    }
    char msg[512] = "";
    int rc =
        pl_resolver_operator(r, t->id, &o, "alice", "from the service's records", msg, sizeof msg);
    if (rc != 0)
        fail_msg("resolving %s: %d %s", t->rid, rc, msg);
}

#define TRANS "SELECT status || '|' || amount_approved FROM svc_trans WHERE request_id = $1"
#define CARD                                                                                       \
    "SELECT concat_ws('|', c.status, c.issue_amount, c.activated_by = t.request_id, "              \
    "coalesce(c.activation_pending, 'none')) FROM stored_value_card c JOIN svc_trans t "           \
    "ON c.service_bureau = t.service_bureau AND c.card_hash = t.card_hash "                        \
    "WHERE t.request_id = $1"

/* Approved for 10.00 of the 25.00 sent: the card's issue amount is 10.00, with or without a row
 * before, and whatever the request's svc.issue_amount. */
static void test_approved_for_part(void **state)
{
    (void)state;
    int published = 0;
    pl_resolver *r = svc_resolver(&published);
    trow physical = activation(false, NULL);
    trow with_issue = activation(false, "25.00");
    trow generated = activation(true, NULL);
    approve(r, &physical, "1000");
    approve(r, &with_issue, "1000");
    approve(r, &generated, "1000");
    assert_value(TRANS, physical.rid, "approved|10.00");
    assert_value(CARD, physical.rid, "active|10.00|t|none");
    assert_value(TRANS, with_issue.rid, "approved|10.00");
    assert_value(CARD, with_issue.rid, "active|10.00|t|none");
    assert_value(TRANS, generated.rid, "approved|10.00");
    assert_value(CARD, generated.rid, "active|10.00|t|none");
    assert_int_equal(published, 3);
    pl_resolver_destroy(r);
}

/* Approved without an amount (or for all of it): the amount sent, and the card's row as
 * before (a row recorded before keeps its own issue amount). */
static void test_approved_in_full(void **state)
{
    (void)state;
    int published = 0;
    pl_resolver *r = svc_resolver(&published);
    trow physical = activation(false, NULL);
    trow generated = activation(true, NULL);
    trow whole = activation(true, NULL);
    approve(r, &physical, NULL);
    approve(r, &generated, NULL);
    approve(r, &whole, "2500");
    assert_value(TRANS, physical.rid, "approved|25.00");
    assert_value(CARD, physical.rid, "active|25.00|t|none");
    assert_value(TRANS, generated.rid, "approved|25.00");
    assert_value(CARD, generated.rid, "active|25.00|t|none");
    assert_value(CARD, whole.rid, "active|25.00|t|none");
    assert_int_equal(published, 3);
    pl_resolver_destroy(r);
}

static int group_setup(void **state)
{
    (void)state;
    return it_resolver_open("it_test_svc_activation_resolved", "sar", &g_conninfo, &g_admin,
                            g_prefix, sizeof g_prefix, g_like, sizeof g_like, NULL, 0, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        cleanup(false);
        PQfinish(g_admin);
    }
    curl_global_cleanup();
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    cleanup(true);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_approved_for_part, test_teardown),
        cmocka_unit_test_teardown(test_approved_in_full, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
