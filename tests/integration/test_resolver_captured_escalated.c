/*
 * test_resolver_captured_escalated.c: an operator's refusal of a paylink-deposit auth+capture
 * that was escalated for having been captured (common/resolver.c escalated_captured) publishes
 * no `.sdr`, against the real PostgreSQL of PAYLINK_DB.
 *
 * An auth+capture whose answer (ccCaptureReply 100) or queried record (ics_bill RCode 1) says it
 * was captured while it was refused is never applied: the adapter refuses the answer as
 * unreadable, the resolver escalates the record, telling the operator to resolve it approved for
 * what was captured and to credit it. An operator who resolves it as the refusal the bureau
 * wrote instead — a soft decline (230) with the authorization's transaction id, which the
 * operator path requires for one — used to publish the `.sdr` reversal of that authorization,
 * which CyberSource refuses once it was captured (238). Now none goes when the escalation reason
 * (last_query_result) or the answer in time (required_response.detail) says it was captured; a
 * row escalated otherwise still gets its `.sdr` (tests/integration/test_resolver.c
 * test_soft_decline_reversed).
 *
 * Every row is the test's own (request ids starting with g_prefix) and escalated, which the
 * running system's resolvers never take; they are deleted after each test.
 */
#include <json-c/json.h>
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
#include <libxml/parser.h>

#include "bureau.h"
#include "log.h"
#include "resolver.h"

#define COMPANY "7"
#define TXN "7420046020316782304023"

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
    int64_t id;
    char sid[24];
    char rid[51];
    char order[21];
} trow;

/*
 * A CyberSource auth+capture of 150.00 whose answer never came (cc_deposit_trans unknown, the
 * timeout reply stored) and its required response, escalated with last_query_result and detail
 * as given, the worker's timeout reply already out (the final reply goes at once).
 */
static trow mkrow(const char *last_query_result, const char *detail)
{
    trow t;
    memset(&t, 0, sizeof t);
    int n = ++g_seq;
    snprintf(t.rid, sizeof t.rid, "%s%d", g_prefix, n);
    snprintf(t.order, sizeof t.order, "ITC%05d%04d", (int)(getpid() % 100000), n);
    const char *p[] = {t.rid, t.order};
    PQclear(
        sql("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
            "merchant_id, status, deposit_status, reply, sent_at, sent_by) VALUES ($1::text, "
            "encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'debit', 'auth_capture', " COMPANY
            ", $2::text, 1, 'CYB', 150.00, 'USD', 'tok-it-captured', 'paylink_demo', 'unknown', "
            "'*SENT', jsonb_build_object('v', 1, 'request_id', $1::text, 'type', 'debit', "
            "'company', " COMPANY ", 'order', $2::text, 'pay_seq', 1, 'service', 'CYB', "
            "'status', 'error', 'amount_requested', '150.00', 'currency', 'USD', "
            "'vendor_response', '150', 'message', 'The outcome is unknown.', "
            "'required_response', true, 'processed_at', "
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), "
            "now() - interval '5 seconds', 'it-captured')",
            2, p));
    const char *p2[] = {t.rid, t.order, last_query_result, detail};
    PGresult *r =
        sql("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
            "worker_replied_at, queries, last_query_at, last_query_result) VALUES ($1::text, "
            "'deposit', " COMPANY ", $2::text, 1, 'CYB', 'auth_capture', 150.00, 'USD', "
            "'unreadable_answer', $4::text, 'escalated', now(), now(), 1, now(), $3::text) "
            "RETURNING id",
            4, p2);
    t.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(t.sid, sizeof t.sid, "%lld", (long long)t.id);
    PQclear(r);
    return t;
}

static void cleanup(bool strict)
{
    static const char *const deletes[] = {
        "DELETE FROM required_response WHERE request_id LIKE $1",
        "DELETE FROM cc_deposit_history WHERE request_id LIKE $1",
        "DELETE FROM cc_deposit_trans WHERE request_id LIKE $1",
    };
    const char *p[] = {g_like};
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        if (strict)
            PQclear(sql(deletes[i], 1, p));
        else
            PQclear(PQexecParams(g_admin, deletes[i], 1, NULL, p, NULL, NULL, 0));
    }
}

/* The messages published: their topics, in order. */
typedef struct pubrec {
    int calls;
    char topics[8][64];
} pubrec;

static int on_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz)
{
    (void)key, (void)payload, (void)err, (void)errsz;
    pubrec *pr = arg;
    if (pr->calls < 8)
        snprintf(pr->topics[pr->calls], sizeof pr->topics[0], "%s", topic);
    pr->calls++;
    return 0;
}

static pl_resolver *deposit_resolver(pubrec *pr)
{
    char own[96];
    snprintf(own, sizeof own, "%sop/resolver", g_prefix);
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = "deposit",
                              .owner = own,
                              .topic_prefix = "it",
                              .publish = on_publish,
                              .publish_arg = pr};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    return r;
}

/* What the resolver escalates an auth+capture for whose record says it was captured (ics_bill
 * RCode 1) while CyberSource soft-declined it (230): its own text, as the step writes it. */
static void escalation_why(char *out, size_t outsz)
{
    const char *rid = "it-captured-ref";
    pl_cyb_query_result *res = calloc(1, sizeof *res);
    assert_non_null(res);
    pl_cyb_query_record *rec = &res->recs[res->nrecs++];
    snprintf(rec->merchant_reference, sizeof rec->merchant_reference, "%s", rid);
    snprintf(rec->request_id, sizeof rec->request_id, TXN);
    rec->has_amount = true;
    rec->amount = 15000;
    static const struct {
        const char *name;
        int rcode;
        const char *reason;
    } apps[] = {{"ics_auth", 0, "230"}, {"ics_bill", 1, "100"}};
    for (size_t i = 0; i < 2; i++) {
        pl_cyb_app_reply *a = &rec->apps[rec->napps++];
        snprintf(a->name, sizeof a->name, "%s", apps[i].name);
        a->has_rcode = true;
        a->rcode = apps[i].rcode;
        snprintf(a->reason_code, sizeof a->reason_code, "%s", apps[i].reason);
    }
    pl_resolve_policy p = pl_resolve_policy_default();
    p.ask_bureau = true;
    pl_resolve_decision d = pl_resolver_decide(&p, "auth_capture", rid, 0, NULL, res, 1, 3600.0);
    free(res);
    assert_int_equal(d.kind, PL_RESOLVE_ESCALATE);
    if (!strstr(d.why, "wreq resolve --outcome approved --amount <captured>"))
        fail_msg("the escalation does not tell the operator what to do: %s", d.why);
    snprintf(out, outsz, "%s", d.why);
}

/* What the engine records as the detail of an answer in time captured while soft-declined: the
 * adapter's own refusal of it ("HTTP 200: " and its error text, engine.c). */
static void adapter_detail(char *out, size_t outsz)
{
    const char *dir = getenv("PAYLINK_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/cybersource/auth_capture.xml",
             dir && *dir ? dir : ".");
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s (PAYLINK_SOURCE_DIR)", path);
    char body[8192];
    size_t len = fread(body, 1, sizeof body - 1, f);
    fclose(f);
    body[len] = '\0';
    static const char from[] = "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100";
    static const char to[] = "<c:decision>REJECT</c:decision>\n<c:reasonCode>230";
    char *at = strstr(body, from);
    assert_non_null(at);
    memcpy(at, to, sizeof to - 1); /* the same length */
    pl_bureau_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    pl_bureau_call call;
    memset(&call, 0, sizeof call);
    call.op = PL_OP_AUTH_CAPTURE;
    pl_bureau_result res;
    char err[256] = "";
    assert_int_equal(
        pl_bureau_cybersource.parse(&cfg, &call, 200, body, len, &res, err, sizeof err),
        PL_ERR_PARSE);
    snprintf(out, outsz, "HTTP 200: %s", err);
}

#define DEPOSIT_STATE                                                                              \
    "SELECT concat_ws('|', status, vendor_response, reply->>'status', "                            \
    "coalesce(jsonb_array_length(followups), 0)) FROM cc_deposit_trans WHERE request_id = $1"

/*
 * The operator's soft decline (230, with the authorization's transaction id) of an auth+capture
 * escalated for being captured — by the resolver's query (its reason), or by the answer in time
 * when the queries then failed (its detail) — is applied `declined` with no `.sdr`: only the
 * final reply is published. Before, the `.sdr` went with it (followups 1, two messages).
 */
static void test_refusal_of_captured_publishes_no_sdr(void **state)
{
    (void)state;
    pubrec pub;
    memset(&pub, 0, sizeof pub);
    pl_resolver *r = deposit_resolver(&pub);
    char why[300], detail[400];
    escalation_why(why, sizeof why);
    trow first = mkrow(why, "it: no answer within the response time");
    adapter_detail(detail, sizeof detail);
    trow in_time =
        mkrow("escalated after 12 queries; query 12 failed: the report is unavailable", detail);

    pl_resolve_outcome soft = {.status = PL_ST_DECLINED};
    snprintf(soft.decision, sizeof soft.decision, "REJECT");
    snprintf(soft.vendor_response, sizeof soft.vendor_response, "230");
    snprintf(soft.transaction_id, sizeof soft.transaction_id, TXN);
    char msg[512];
    const trow *rows[] = {&first, &in_time};
    for (int i = 0; i < 2; i++) {
        int before = pub.calls;
        if (pl_resolver_operator(r, rows[i]->id, &soft, "bob", NULL, msg, sizeof msg) != 0)
            fail_msg("%s", msg);
        assert_value(DEPOSIT_STATE, rows[i]->rid, "declined|230|declined|0");
        assert_int_equal(pub.calls, before + 1);
        assert_string_equal(pub.topics[before], "it.deposit.reply");
    }

    /* Escalated otherwise (a query that failed, an answer that said nothing of a capture): the
     * authorization the soft decline leaves held is reversed, `.sdr`, as before. */
    trow other = mkrow("escalated after 12 queries; query 12 failed: the report is unavailable",
                       "it: no answer within the response time");
    int before = pub.calls;
    if (pl_resolver_operator(r, other.id, &soft, "bob", NULL, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    assert_value(DEPOSIT_STATE, other.rid, "declined|230|declined|1");
    char sdr[80];
    snprintf(sdr, sizeof sdr, "%s.sdr", other.rid);
    assert_value("SELECT (followups->0->>'payload')::jsonb->>'request_id' FROM cc_deposit_trans "
                 "WHERE request_id = $1",
                 other.rid, sdr);
    assert_int_equal(pub.calls, before + 2);
    pl_resolver_destroy(r);
}

static int group_setup(void **state)
{
    (void)state;
    g_conninfo = getenv("PAYLINK_DB");
    if (!g_conninfo || !*g_conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return -1;
    }
    g_admin = PQconnectdb(g_conninfo);
    if (PQstatus(g_admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(g_admin));
        return -1;
    }
    xmlInitParser();
    pl_log_init("it_test_resolver_captured_escalated", NULL);
    pl_log_set_level(PL_LOG_WARN);
    snprintf(g_prefix, sizeof g_prefix, "it-rce-%ld-%ld-", (long)getpid(),
             (long)time(NULL) % 1000000);
    snprintf(g_like, sizeof g_like, "%s%%", g_prefix);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        cleanup(false);
        PQfinish(g_admin);
    }
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
        cmocka_unit_test_teardown(test_refusal_of_captured_publishes_no_sdr, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
