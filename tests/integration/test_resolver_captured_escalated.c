/*
 * test_resolver_captured_escalated.c: what the resolver does with a CyberSource record or an
 * escalation that says a captured or partial authorization, against the real PostgreSQL of
 * PAYLINK_DB (and, for the step, the bureau simulator its dm_settings name):
 *   - an operator's refusal of a paylink-deposit auth+capture that was escalated for having been
 *     captured (common/resolver.c escalated_captured) publishes no `.sdr`, whatever the row's
 *     status when the operator gives it;
 *   - the step (pl_resolver_retry, which takes one) escalates an authorization whose record is a
 *     partial approval not below the amount its row sent, with the operator's step, instead of
 *     publishing a timeout reversal, and applies one below it: the amount the row sent reaches
 *     the decision;
 *   - the step's escalation of an auth+capture whose record says it was captured records it on
 *     the row (required_response.captured, 067) and keeps the record's RequestID
 *     (record_request_id, which the step names and `wreq show` prints); a query that fails after
 *     `wreq retry` replaces the reason but not those, and the operator's refusal publishes no
 *     `.sdr`.
 *   - the step never believes "no record" of a request the bureau answered (reason
 *     unreadable_answer, or recorded captured): asked again, then escalated at the last query,
 *     never given a timeout reversal when the answer was a partial approval without its part.
 *
 * An auth+capture whose answer (ccCaptureReply 100) or queried record (ics_bill RCode 1) says it
 * was captured while it was refused is never applied: the adapter refuses the answer as
 * unreadable, the resolver escalates the record, telling the operator to resolve it approved for
 * what was captured and to credit it. An operator who resolves it as the refusal the bureau
 * wrote instead — a soft decline (230) with the authorization's transaction id, which the
 * operator path requires for one — used to publish the `.sdr` reversal of that authorization,
 * which CyberSource refuses once it was captured (238). Now none goes when the row is recorded
 * captured (required_response.captured: by the resolver's escalation, or by the worker for the
 * answer in time; before 067, read from the reason's and the detail's texts, which a failed query
 * after `wreq retry` overwrote); a row escalated otherwise still gets its `.sdr`
 * (tests/integration/test_resolver.c test_soft_decline_reversed).
 *
 * Every row is the test's own (request ids starting with g_prefix), escalated (which the running
 * system's resolvers never take) or held under the test's own lease (which they skip) whenever
 * it is open; the step takes its row as `wreq retry --now` does, under the lease, and leaves it
 * escalated or resolved. They are deleted after each test.
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
#include <curl/curl.h>
#include <libpq-fe.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "bureau.h"
#include "bureau_cybersource.h"
#include "log.h"
#include "it_resolver.h"
#include "it_sim_cyb.h"
#include "opsctl.h"
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

/* The owner of the test's resolvers' leases: no running resolver takes a row it holds. */
static void test_owner(char *out, size_t outsz)
{
    snprintf(out, outsz, "%sop/resolver", g_prefix);
}

/*
 * A CyberSource auth+capture of amount whose answer never came (cc_deposit_trans unknown, the
 * timeout reply stored) and its required response, escalated with last_query_result, detail and
 * captured as given, the worker's timeout reply already out (the final reply goes at once).
 */
static trow mkrow_of(const char *amount, const char *last_query_result, const char *detail,
                     bool captured)
{
    trow t;
    memset(&t, 0, sizeof t);
    int n = ++g_seq;
    snprintf(t.rid, sizeof t.rid, "%s%d", g_prefix, n);
    snprintf(t.order, sizeof t.order, "ITC%05d%04d", (int)(getpid() % 100000), n);
    const char *p[] = {t.rid, t.order, amount};
    PQclear(sql("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
                "company, order_number, pay_seq, service_bureau, amount, currency, card_token, "
                "merchant_id, status, deposit_status, reply, sent_at, sent_by) VALUES ($1::text, "
                "encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'debit', 'auth_capture', " COMPANY
                ", $2::text, 1, 'CYB', $3::numeric, 'USD', 'tok-it-captured', 'paylink_demo', "
                "'unknown', '*SENT', jsonb_build_object('v', 1, 'request_id', $1::text, 'type', "
                "'debit', 'company', " COMPANY
                ", 'order', $2::text, 'pay_seq', 1, 'service', 'CYB', "
                "'status', 'error', 'amount_requested', $3::text, 'currency', 'USD', "
                "'vendor_response', '150', 'message', 'The outcome is unknown.', "
                "'required_response', true, 'processed_at', "
                "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), "
                "now() - interval '5 seconds', 'it-captured')",
                3, p));
    const char *p2[] = {t.rid, t.order, last_query_result, detail, captured ? "t" : "f", amount};
    PGresult *r =
        sql("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
            "worker_replied_at, queries, last_query_at, last_query_result, captured) VALUES "
            "($1::text, 'deposit', " COMPANY ", $2::text, 1, 'CYB', 'auth_capture', $6::numeric, "
            "'USD', 'unreadable_answer', $4::text, 'escalated', now(), now(), 1, now(), $3::text, "
            "$5::boolean) RETURNING id",
            6, p2);
    t.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(t.sid, sizeof t.sid, "%lld", (long long)t.id);
    PQclear(r);
    return t;
}

/* mkrow_of for 150.00. */
static trow mkrow(const char *last_query_result, const char *detail, bool captured)
{
    return mkrow_of("150.00", last_query_result, detail, captured);
}

/*
 * Row t opened again and held under the test's own lease for ten minutes: as `wreq retry` opens
 * an escalated one (its take: status open, due now; a step, or its release, follows), or as an
 * open row is while it is still being queried. The lease keeps the running system's resolvers
 * from querying it meanwhile (which would rewrite last_query_result); the test's operator holds
 * the same lease owner, so its resolution takes the row.
 */
static void open_held(const trow *t)
{
    char own[96];
    test_owner(own, sizeof own);
    const char *p[] = {t->sid, own};
    PQclear(sql("UPDATE required_response SET status = 'open', escalated_at = NULL, "
                "next_query_at = now(), lease_owner = $2, "
                "lease_until = now() + interval '10 minutes' WHERE id = $1::bigint",
                2, p));
}

static void cleanup(bool strict)
{
    static const char *const deletes[] = {
        "DELETE FROM required_response WHERE request_id LIKE $1",
        "DELETE FROM cc_deposit_history WHERE request_id LIKE $1",
        "DELETE FROM cc_deposit_trans WHERE request_id LIKE $1",
        "DELETE FROM auth_history WHERE request_id LIKE $1",
        "DELETE FROM card_cit WHERE request_id LIKE $1",
        "DELETE FROM cc_auth_trans WHERE request_id LIKE $1",
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

/* A resolver of worker's rows, publishing to pr, trusting the bureaus' CA (PAYLINK_CA_FILE: the
 * simulator's) for its queries. */
static pl_resolver *worker_resolver(const char *worker, pubrec *pr)
{
    char own[96];
    test_owner(own, sizeof own);
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = worker,
                              .owner = own,
                              .topic_prefix = "it",
                              .ca_file = getenv("PAYLINK_CA_FILE"),
                              .publish = on_publish,
                              .publish_arg = pr};
    char err[256] = "";
    pl_resolver *r = pl_resolver_new(&cfg, err, sizeof err);
    if (!r)
        fail_msg("pl_resolver_new: %s", err);
    return r;
}

static pl_resolver *deposit_resolver(pubrec *pr)
{
    return worker_resolver("deposit", pr);
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
 * when the queries then failed (its detail), each recorded on the row (captured) — is applied
 * `declined` with no `.sdr`: only the final reply is published. Before, the `.sdr` went with it
 * (followups 1, two messages).
 */
static void test_refusal_of_captured_publishes_no_sdr(void **state)
{
    (void)state;
    pubrec pub;
    memset(&pub, 0, sizeof pub);
    pl_resolver *r = deposit_resolver(&pub);
    char why[300], detail[400];
    escalation_why(why, sizeof why);
    trow first = mkrow(why, "it: no answer within the response time", true);
    adapter_detail(detail, sizeof detail);
    trow in_time = mkrow("escalated after 12 queries; query 12 failed: the report is unavailable",
                         detail, true);
    /* The same two written by a worker or resolver of a release before 067 after the migration
     * (a rolling deploy): the column says nothing, the texts do (escalated_captured). */
    trow old_first = mkrow(why, "it: no answer within the response time", false);
    trow old_in_time = mkrow(
        "escalated after 12 queries; query 12 failed: the report is unavailable", detail, false);

    pl_resolve_outcome soft = {.status = PL_ST_DECLINED};
    snprintf(soft.decision, sizeof soft.decision, "REJECT");
    snprintf(soft.vendor_response, sizeof soft.vendor_response, "230");
    snprintf(soft.transaction_id, sizeof soft.transaction_id, TXN);
    char msg[512];
    const trow *rows[] = {&first, &in_time, &old_first, &old_in_time};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
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
                       "it: no answer within the response time", false);
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

/*
 * The same refusal given while the row is open: (a) after `wreq retry` opened an escalated one
 * again, (b) while it is still being queried (the worker recorded the answer in time captured
 * from the start). No `.sdr` either. Before, only an escalated row was looked at, and the `.sdr`
 * of a captured authorization went (CyberSource refuses it, 238). An open row not recorded
 * captured still has its `.sdr`.
 */
static void test_refusal_of_captured_open_publishes_no_sdr(void **state)
{
    (void)state;
    pubrec pub;
    memset(&pub, 0, sizeof pub);
    pl_resolver *r = deposit_resolver(&pub);
    char why[300], detail[400];
    escalation_why(why, sizeof why);
    adapter_detail(detail, sizeof detail);
    trow reopened = mkrow(why, "it: no answer within the response time", true);
    open_held(&reopened);
    static const char not_yet[] =
        "query 1: no record at the bureau yet (sent 5 s ago; believed after 120 s)";
    trow queried = mkrow(not_yet, detail, true);
    open_held(&queried);

    pl_resolve_outcome soft = {.status = PL_ST_DECLINED};
    snprintf(soft.decision, sizeof soft.decision, "REJECT");
    snprintf(soft.vendor_response, sizeof soft.vendor_response, "230");
    snprintf(soft.transaction_id, sizeof soft.transaction_id, TXN);
    char msg[512];
    const trow *rows[] = {&reopened, &queried};
    for (int i = 0; i < 2; i++) {
        int before = pub.calls;
        if (pl_resolver_operator(r, rows[i]->id, &soft, "bob", NULL, msg, sizeof msg) != 0)
            fail_msg("%s", msg);
        assert_value(DEPOSIT_STATE, rows[i]->rid, "declined|230|declined|0");
        assert_int_equal(pub.calls, before + 1);
        assert_string_equal(pub.topics[before], "it.deposit.reply");
    }

    trow other = mkrow(not_yet, "it: no answer within the response time", false);
    open_held(&other);
    int before = pub.calls;
    if (pl_resolver_operator(r, other.id, &soft, "bob", NULL, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    assert_value(DEPOSIT_STATE, other.rid, "declined|230|declined|1");
    assert_int_equal(pub.calls, before + 2);
    pl_resolver_destroy(r);
}

/* ---- the step, against the simulator ----------------------------------------------------- */

/*
 * Sends the CyberSource bureau (auth_service CYB's test URL: the simulator) an authorization of
 * amount for merchant reference ref, of merchant paylink_demo (the rows' merchant ID) with the
 * simulator's test card — with its capture when capture (an auth+capture, paylink-deposit's) —
 * and reads its answer as paylink-auth (paylink-deposit) would (the adapter) into res. The
 * simulator then lists the request in its Single Transaction Query, which the resolver asks.
 */
static void sim_request(const char *ref, const char *amount, bool capture, pl_bureau_result *res)
{
    char url[512];
    const char *p[] = {"CYB"};
    PGresult *q = sql("SELECT test_url FROM auth_service WHERE service_bureau = $1", 1, p);
    assert_int_equal(PQntuples(q), 1);
    snprintf(url, sizeof url, "%s", PQgetvalue(q, 0, 0));
    PQclear(q);

    xmlDocPtr doc;
    xmlNsPtr ns;
    xmlNodePtr msg = it_sim_cyb_message(&doc, ref, &ns);
    xmlNodePtr totals = xmlNewChild(msg, ns, BAD_CAST "purchaseTotals", NULL);
    it_sim_child(totals, ns, "currency", "USD");
    it_sim_child(totals, ns, "grandTotalAmount", amount);
    xmlNodePtr card = xmlNewChild(msg, ns, BAD_CAST "card", NULL);
    it_sim_child(card, ns, "accountNumber", "4111111111111111");
    it_sim_child(card, ns, "expirationMonth", "12");
    it_sim_child(card, ns, "expirationYear", "2039");
    xmlNodePtr auth = xmlNewChild(msg, ns, BAD_CAST "ccAuthService", NULL);
    xmlNewProp(auth, BAD_CAST "run", BAD_CAST "true");
    if (capture) {
        xmlNodePtr cap = xmlNewChild(msg, ns, BAD_CAST "ccCaptureService", NULL);
        xmlNewProp(cap, BAD_CAST "run", BAD_CAST "true");
    }
    it_sim_cyb_send(url, doc, ref, "authorization", capture ? PL_OP_AUTH_CAPTURE : PL_OP_AUTH, res);
}

static void sim_authorize(const char *ref, const char *amount, pl_bureau_result *res)
{
    sim_request(ref, amount, false, res);
}

/*
 * A CyberSource authorization of the row's amount whose answer never came (cc_auth_trans
 * unknown, sent two minutes ago: past the policy's reverse_after_s, so a timeout reversal would
 * go at once) and its required response, escalated (the test takes it as `wreq retry --now`).
 */
static trow mkauth(const char *amount)
{
    trow t;
    memset(&t, 0, sizeof t);
    int n = ++g_seq;
    snprintf(t.rid, sizeof t.rid, "%s%d", g_prefix, n);
    snprintf(t.order, sizeof t.order, "ITC%05d%04d", (int)(getpid() % 100000), n);
    const char *p[] = {t.rid, t.order, amount};
    PQclear(
        sql("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
            "order_number, pay_seq, service_bureau, amount, currency, card_token, card_type, "
            "merchant_id, status, reply, sent_at, sent_by) VALUES ($1::text, "
            "encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'auth', 'auth', " COMPANY
            ", $2::text, 1, 'CYB', $3::numeric, 'USD', 'tok-it-captured', 'VI', 'paylink_demo', "
            "'unknown', jsonb_build_object('v', 1, 'request_id', $1::text, 'type', 'auth', "
            "'company', " COMPANY ", 'order', $2::text, 'pay_seq', 1, 'service', 'CYB', "
            "'status', 'timeout', 'amount_requested', $3::text, 'currency', 'USD', "
            "'vendor_response', '150', 'message', 'The outcome is unknown.', "
            "'required_response', true, 'processed_at', "
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), "
            "now() - interval '2 minutes', 'it-captured')",
            3, p));
    PGresult *r =
        sql("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, amount, currency, reason, detail, status, escalated_at, "
            "worker_replied_at) VALUES ($1::text, 'auth', " COMPANY ", $2::text, 1, 'CYB', "
            "'auth', $3::numeric, 'USD', 'timeout', 'it: no answer within the response time', "
            "'escalated', now(), now()) RETURNING id",
            3, p);
    t.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(t.sid, sizeof t.sid, "%lld", (long long)t.id);
    PQclear(r);
    return t;
}

#define RR_STATE                                                                                   \
    "SELECT concat_ws('|', status, coalesce(resolved_how, '-'), queries, "                         \
    "coalesce(reversal_request_id, '-'), last_query_result) FROM required_response "               \
    "WHERE id = $1::bigint"
#define AUTH_STATE                                                                                 \
    "SELECT concat_ws('|', status, vendor_response, coalesce(amount_approved::text, '-')) "        \
    "FROM cc_auth_trans WHERE request_id = $1"

/*
 * The step (pl_resolver_retry with a step, as `wreq retry --now`) queries the simulator about an
 * authorization it partially approved (110.00 asked: ReasonCode 110, 55.00 approved, the
 * record's Amount 55.00):
 *   - its row says 55.00 was sent, so the record's amount is not below it: the amount asked, as
 *     a report may give it, rather than a part. Escalated at once with the operator's step — no
 *     timeout reversal although the policy reverses an authorization it cannot confirm (CYB auth:
 *     reverse_unconfirmed): that reversal goes for the whole amount sent, which CyberSource
 *     refuses above the part, and its refusal's escalation replaced the reason. Before, the
 *     `.tor` was published and the row left open following it.
 *   - its row says 110.00 was sent: 55.00 is the part, approved for it.
 * Both only as the row's amount reaches the decision (a step that compared nothing would approve
 * the first for 55.00 as well).
 */
static void test_step_partial_approval_not_below_sent(void **state)
{
    (void)state;
    pubrec pub;
    memset(&pub, 0, sizeof pub);
    pl_resolver *r = worker_resolver("auth", &pub);
    pl_bureau_result res;
    char msg[512];

    trow whole = mkauth("55.00");
    sim_authorize(whole.rid, "110.00", &res);
    assert_string_equal(res.reason_code, "110");
    assert_true(res.has_amount);
    assert_int_equal(res.amount, 5500);
    if (pl_resolver_retry(r, whole.id, true, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    /* The step names the record's RequestID (record_request_id) for --transaction-id. */
    char want[400];
    snprintf(want, sizeof want,
             "escalated|-|1|-|query 1: partial approval (110), no amount below the 55.00 sent; "
             "wreq resolve --outcome approved|rejected --amount <part> --transaction-id %s "
             "(README)",
             res.request_id);
    assert_value(RR_STATE, whole.sid, want);
    snprintf(want, sizeof want, "f|%s", res.request_id);
    assert_value("SELECT concat_ws('|', captured, record_request_id) FROM required_response "
                 "WHERE id = $1::bigint",
                 whole.sid, want);
    assert_value(AUTH_STATE, whole.rid, "unknown||-");
    assert_int_equal(pub.calls, 0); /* no `.tor`, no reply */

    trow part = mkauth("110.00");
    sim_authorize(part.rid, "110.00", &res);
    if (pl_resolver_retry(r, part.id, true, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    char v[400];
    const char *p[] = {part.sid};
    PGresult *q = sql(RR_STATE, 1, p);
    snprintf(v, sizeof v, "%s", PQntuples(q) == 1 ? PQgetvalue(q, 0, 0) : "");
    PQclear(q);
    if (strncmp(v, "resolved|query|1|-|", 19) != 0)
        fail_msg("the row below what was sent: %s", v);
    assert_value(AUTH_STATE, part.rid, "approved|110|55.00");
    assert_int_equal(pub.calls, 1);
    assert_string_equal(pub.topics[0], "it.auth.reply");
    pl_resolver_destroy(r);
}

/* `paylinkctl wreq show ID` (pl_opsctl_main, as main.c runs it): its exit status and stdout into
 * out. */
static int wreq_show(const char *id, char *out, size_t outsz)
{
    char cmd[] = "wreq", sub[] = "show", arg[24];
    snprintf(arg, sizeof arg, "%s", id);
    char *argv[] = {cmd, sub, arg, NULL};
    FILE *fo = tmpfile();
    assert_non_null(fo);
    fflush(stdout);
    int so = dup(STDOUT_FILENO);
    assert_true(so >= 0);
    assert_true(dup2(fileno(fo), STDOUT_FILENO) >= 0);
    int rc = pl_opsctl_main(3, argv, g_conninfo, NULL, "it");
    fflush(stdout);
    dup2(so, STDOUT_FILENO);
    close(so);
    rewind(fo);
    size_t got = fread(out, 1, outsz - 1, fo);
    out[got] = '\0';
    fclose(fo);
    return rc;
}

/* The line of `wreq show` output that starts (after its indent) with field, or fails. */
static void show_field(const char *out, const char *field, char *line, size_t linesz)
{
    for (const char *at = out; at && *at;) {
        const char *end = strchr(at, '\n');
        size_t n = end ? (size_t)(end - at) : strlen(at);
        const char *f = at;
        while (f < at + n && *f == ' ')
            f++;
        size_t k = strlen(field);
        if ((size_t)(at + n - f) > k && strncmp(f, field, k) == 0 && f[k] == ' ') {
            snprintf(line, linesz, "%.*s", (int)n, at);
            return;
        }
        at = end ? end + 1 : NULL;
    }
    fail_msg("wreq show prints no %s:\n%s", field, out);
}

#define CAPTURED_STATE                                                                             \
    "SELECT concat_ws('|', status, captured, coalesce(record_request_id, '-'), queries) "          \
    "FROM required_response WHERE id = $1::bigint"

/*
 * The step (pl_resolver_retry with a step, as `wreq retry --now`) queries the simulator about an
 * auth+capture it partially approved and captured (110.00 asked: ReasonCode 110, 55.00 approved
 * and captured, the record's Amount 55.00, ics_bill RCode 1) whose row says 55.00 was sent:
 * escalated for being captured, and now
 *   (a) recorded on the row: required_response.captured (before, only the reason's text said
 *       it);
 *   (c) with the record's RequestID kept (record_request_id), named in the operator's step in
 *       place of <RequestID>, printed by `wreq show`, and taken as it is by `wreq resolve
 *       --transaction-id`;
 *   (b) `wreq retry --now` again, at the last query, whose query fails (this resolver trusts
 *       no CA: the simulator's TLS is refused): the reason is replaced by the failure's, the
 *       row stays captured with its RequestID, and the operator's soft decline (230, with that
 *       transaction id) publishes no `.sdr`. Before, escalated_captured read the reason's text,
 *       which the failed query had replaced: the `.sdr` of a captured authorization went
 *       (CyberSource refuses it, 238; nothing of it is left to reverse).
 */
static void test_step_captured_recorded_through_failed_retry(void **state)
{
    (void)state;
    pubrec pub;
    memset(&pub, 0, sizeof pub);
    pl_resolver *r = deposit_resolver(&pub);
    pl_bureau_result res;
    char msg[512];

    trow t = mkrow_of("55.00", "", "it: no answer within the response time", false);
    PQclear(sql("UPDATE required_response SET queries = 0, last_query_at = NULL "
                "WHERE id = $1::bigint",
                1, (const char *const[]){t.sid}));
    sim_request(t.rid, "110.00", true, &res);
    assert_string_equal(res.reason_code, "110");
    assert_true(res.capture_approved);
    assert_int_equal(res.amount, 5500);
    assert_true(res.request_id[0]);
    if (pl_resolver_retry(r, t.id, true, msg, sizeof msg) != 0)
        fail_msg("%s", msg);

    /* (a), (c): escalated, captured, its RequestID kept and named. */
    char want[400];
    snprintf(want, sizeof want, "escalated|t|%s|1", res.request_id);
    assert_value(CAPTURED_STATE, t.sid, want);
    snprintf(want, sizeof want,
             "query 1: 110 captured (ics_bill), no amount below the 55.00 sent; wreq resolve "
             "--outcome approved --amount <captured> --transaction-id %s, credit it if not "
             "fulfilled (README)",
             res.request_id);
    assert_value("SELECT last_query_result FROM required_response WHERE id = $1::bigint", t.sid,
                 want);
    assert_value(DEPOSIT_STATE, t.rid, "unknown||error|0");
    assert_int_equal(pub.calls, 0);

    /* `wreq show` prints them. */
    char out[16384], line[256];
    assert_int_equal(wreq_show(t.sid, out, sizeof out), PL_OPSCTL_EXIT_OK);
    show_field(out, "record_request_id", line, sizeof line);
    if (!strstr(line, res.request_id))
        fail_msg("wreq show: %s (want %s)", line, res.request_id);
    show_field(out, "captured", line, sizeof line);
    if (!strstr(line, "true"))
        fail_msg("wreq show: %s", line);

    /* `wreq resolve` takes that id as it is. */
    char c0[] = "wreq", c1[] = "resolve", c3[] = "--outcome", c4[] = "declined",
         c5[] = "--vendor-response", c6[] = "230", c7[] = "--transaction-id", c9[] = "--by",
         c10[] = "bob", id[24], txn[65];
    snprintf(id, sizeof id, "%s", t.sid);
    snprintf(txn, sizeof txn, "%s", res.request_id);
    char *argv[] = {c0, c1, id, c3, c4, c5, c6, c7, txn, c9, c10, NULL};
    pl_opsctl_opts o;
    char err[256] = "";
    if (pl_opsctl_parse(11, argv, &o, err, sizeof err) != 0)
        fail_msg("wreq resolve --transaction-id %s: %s", txn, err);
    assert_string_equal(o.transaction_id, res.request_id);

    /* (b) At the last query (the policy's), a query that fails. */
    const char *pw[] = {t.sid};
    PGresult *q = sql("SELECT coalesce(p.max_queries, 12) - 1 FROM required_response r "
                      "LEFT JOIN resolution_policy p ON p.worker = r.worker AND p.protocol = 'CYB' "
                      "WHERE r.id = $1::bigint",
                      1, pw);
    char before_last[16];
    snprintf(before_last, sizeof before_last, "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
    const char *pq[] = {t.sid, before_last};
    PQclear(sql("UPDATE required_response SET queries = $2::int WHERE id = $1::bigint", 2, pq));
    char own[96];
    test_owner(own, sizeof own);
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = "deposit",
                              .owner = own,
                              .topic_prefix = "it",
                              .ca_file = "/nonexistent/it-no-ca.pem",
                              .publish = on_publish,
                              .publish_arg = &pub};
    pl_resolver *blind = pl_resolver_new(&cfg, err, sizeof err);
    if (!blind)
        fail_msg("pl_resolver_new: %s", err);
    if (pl_resolver_retry(blind, t.id, true, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    pl_resolver_destroy(blind);
    q = sql("SELECT last_query_result FROM required_response WHERE id = $1::bigint", 1, pw);
    char last[320];
    snprintf(last, sizeof last, "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
    if (!strstr(last, "failed") || strstr(last, "captured (ics_bill)"))
        fail_msg("the reason after the failed query: %s", last);
    snprintf(want, sizeof want, "escalated|t|%s|%d", res.request_id, atoi(before_last) + 1);
    assert_value(CAPTURED_STATE, t.sid, want);

    /* The operator's soft decline with the id shown: `declined`, no `.sdr`, the reply only. */
    pl_resolve_outcome soft;
    pl_opsctl_resolve_outcome(&o, &soft);
    assert_int_equal(soft.status, PL_ST_DECLINED);
    assert_string_equal(soft.transaction_id, res.request_id);
    if (pl_resolver_operator(r, t.id, &soft, "bob", NULL, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    assert_value(DEPOSIT_STATE, t.rid, "declined|230|declined|0");
    assert_int_equal(pub.calls, 1);
    assert_string_equal(pub.topics[0], "it.deposit.reply");
    pl_resolver_destroy(r);
}

/* The policy's last query for worker's CyberSource rows, as text. */
static void last_query(const char *worker, char *out, size_t outsz)
{
    const char *p[] = {worker};
    PGresult *q = sql("SELECT coalesce((SELECT max_queries FROM resolution_policy "
                      "WHERE protocol = 'CYB' AND worker = $1), 12)",
                      1, p);
    snprintf(out, outsz, "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
}

/* Row t sent two days ago (longer than any not_found_after_s), open at query `queries`: the
 * step (pl_resolver_retry with a step) takes it under its lease. */
static void answered_long_ago(const trow *t, const char *table, const char *queries)
{
    char q[200];
    snprintf(q, sizeof q, "UPDATE %s SET sent_at = now() - interval '2 days' WHERE request_id = $1",
             table);
    PQclear(sql(q, 1, (const char *const[]){t->rid}));
    const char *p[] = {t->sid, queries};
    PQclear(sql("UPDATE required_response SET status = 'open', escalated_at = NULL, "
                "queries = $2::int, lease_owner = NULL, lease_until = NULL, "
                "next_query_at = now() + interval '1 hour' WHERE id = $1::bigint",
                2, p));
}

/* The step on t, which must succeed; the row's status|queries|reversal|last_query_result. */
static void step_on(pl_resolver *r, const trow *t, char *out, size_t outsz)
{
    char msg[512];
    if (pl_resolver_retry(r, t->id, true, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    PGresult *q = sql("SELECT concat_ws('|', status, queries, coalesce(reversal_request_id, '-'), "
                      "last_query_result) FROM required_response WHERE id = $1::bigint",
                      1, (const char *const[]){t->sid});
    snprintf(out, outsz, "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
}

/*
 * A request the bureau answered (the worker left it unknown for an unreadable answer: reason
 * unreadable_answer) whose record the bureau's report does not show (the simulator never saw
 * these request ids), sent two days ago — long past not_found_after_s:
 *   (a) an auth+capture: "no record" is not believed: asked again (open, no reply), and at the
 *       policy's last query escalated with the step that says the bureau answered;
 *   (b) one the answer said was captured (required_response.captured): escalated at the last
 *       query with the captured step;
 *   (c) an authorization answered REJECT 481 with ccAuthReply 110 and no amount (the adapter's
 *       refusal in its detail): asked again, then escalated with the part's step — no timeout
 *       reversal although the policy reverses an authorization it cannot confirm;
 *   (d) the same at the last query when the query fails (this resolver trusts no CA): escalated,
 *       no timeout reversal, which would go for the whole amount sent and be refused above the
 *       part.
 * Before, (a)-(c) were settled `error` at their first step ("No record at the payment service:
 * nothing was charged"): the order system authorized again beside the partial hold, or sent
 * the captured debit again; and (d) published the `.tor` for the whole amount.
 */
static void test_step_answered_no_record_not_believed(void **state)
{
    (void)state;
    pubrec pub;
    memset(&pub, 0, sizeof pub);
    pl_resolver *rd = deposit_resolver(&pub);
    pl_resolver *ra = worker_resolver("auth", &pub);
    char dl[16], al[16], before[16], v[512], want[400];
    last_query("deposit", dl, sizeof dl);
    last_query("auth", al, sizeof al);

    /* (a) */
    trow a = mkrow_of("70.00", "",
                      "HTTP 502: CyberSource answer (HTTP 502) is not a SOAP "
                      "replyMessage or Fault",
                      false);
    answered_long_ago(&a, "cc_deposit_trans", "0");
    step_on(rd, &a, v, sizeof v);
    if (strncmp(v,
                "open|1|-|query 1: no record at the bureau yet, though it answered the "
                "request",
                76) != 0)
        fail_msg("(a) after the first query: %s", v);
    assert_value(DEPOSIT_STATE, a.rid, "unknown||error|0");
    snprintf(before, sizeof before, "%d", atoi(dl) - 1);
    answered_long_ago(&a, "cc_deposit_trans", before);
    step_on(rd, &a, v, sizeof v);
    snprintf(want, sizeof want,
             "escalated|%s|-|escalated after %s queries; query %s: no record yet, though the "
             "bureau answered; wreq resolve --transaction-id <RequestID> --outcome <as the "
             "Business Center shows it> (README)",
             dl, dl, dl);
    if (strcmp(v, want) != 0)
        fail_msg("(a) at the last query\n  is   %s\n  want %s", v, want);
    assert_value(DEPOSIT_STATE, a.rid, "unknown||error|0");

    /* (b) */
    trow b = mkrow_of("71.00", "", "it: captured while refused", true);
    answered_long_ago(&b, "cc_deposit_trans", before);
    step_on(rd, &b, v, sizeof v);
    snprintf(want, sizeof want,
             "escalated|%s|-|escalated after %s queries; query %s: no record yet, though the "
             "bureau answered; wreq resolve --outcome approved --amount <captured> "
             "--transaction-id <RequestID>, credit it if not fulfilled (README)",
             dl, dl, dl);
    if (strcmp(v, want) != 0)
        fail_msg("(b) at the last query\n  is   %s\n  want %s", v, want);
    assert_value(DEPOSIT_STATE, b.rid, "unknown||error|0");

    /* (c) */
    static const char partial_detail[] =
        "HTTP 200: CyberSource answer (HTTP 200): " PL_CYBERSOURCE_REFUSED_PARTIAL
        " answered REJECT 481 without the amount approved (60.00 sent)";
    trow c = mkauth("60.00");
    PQclear(sql("UPDATE required_response SET reason = 'unreadable_answer', detail = $2 "
                "WHERE id = $1::bigint",
                2, (const char *const[]){c.sid, partial_detail}));
    answered_long_ago(&c, "cc_auth_trans", "0");
    step_on(ra, &c, v, sizeof v);
    if (strncmp(v,
                "open|1|-|query 1: no record at the bureau yet, though it answered the "
                "request",
                76) != 0)
        fail_msg("(c) after the first query: %s", v);
    assert_value(AUTH_STATE, c.rid, "unknown||-");
    snprintf(before, sizeof before, "%d", atoi(al) - 1);
    answered_long_ago(&c, "cc_auth_trans", before);
    step_on(ra, &c, v, sizeof v);
    snprintf(want, sizeof want,
             "escalated|%s|-|escalated after %s queries; query %s: no record yet, though the "
             "bureau answered; wreq resolve --outcome approved|rejected --amount <part> "
             "--transaction-id <RequestID> (README)",
             al, al, al);
    if (strcmp(v, want) != 0)
        fail_msg("(c) at the last query\n  is   %s\n  want %s", v, want);
    assert_value(AUTH_STATE, c.rid, "unknown||-");

    /* (d) */
    trow d = mkauth("60.00");
    PQclear(sql("UPDATE required_response SET reason = 'unreadable_answer', detail = $2 "
                "WHERE id = $1::bigint",
                2, (const char *const[]){d.sid, partial_detail}));
    answered_long_ago(&d, "cc_auth_trans", before);
    char own[96], err[256] = "";
    test_owner(own, sizeof own);
    pl_resolver_config cfg = {.conninfo = g_conninfo,
                              .worker = "auth",
                              .owner = own,
                              .topic_prefix = "it",
                              .ca_file = "/nonexistent/it-no-ca.pem",
                              .publish = on_publish,
                              .publish_arg = &pub};
    pl_resolver *blind = pl_resolver_new(&cfg, err, sizeof err);
    if (!blind)
        fail_msg("pl_resolver_new: %s", err);
    step_on(blind, &d, v, sizeof v);
    pl_resolver_destroy(blind);
    snprintf(want, sizeof want, "escalated|%s|-|escalated after %s queries; query %s failed", al,
             al, al);
    if (strncmp(v, want, strlen(want)) != 0)
        fail_msg("(d) at the last query, its query failed\n  is   %s\n  want %s...", v, want);
    assert_value(AUTH_STATE, d.rid, "unknown||-");

    assert_int_equal(pub.calls, 0); /* no reply, no `.tor` */
    pl_resolver_destroy(ra);
    pl_resolver_destroy(rd);
}

static int group_setup(void **state)
{
    (void)state;
    return it_resolver_open("it_test_resolver_captured_escalated", "rce", &g_conninfo, &g_admin,
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
        cmocka_unit_test_teardown(test_refusal_of_captured_publishes_no_sdr, test_teardown),
        cmocka_unit_test_teardown(test_refusal_of_captured_open_publishes_no_sdr, test_teardown),
        cmocka_unit_test_teardown(test_step_partial_approval_not_below_sent, test_teardown),
        cmocka_unit_test_teardown(test_step_captured_recorded_through_failed_retry, test_teardown),
        cmocka_unit_test_teardown(test_step_answered_no_record_not_believed, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
