/*
 * test_services.c: the service bureau configuration snapshot (services.h) loaded from the
 * demo configuration in PAYLINK_DB, and paylink-auth's spec (workers/auth/auth.h), whose
 * choice of operation and mapping of answers read that snapshot.
 *
 * Configuration variants (cross-references, overrides, a proxy, production) are made inside a
 * transaction on the test's own connection, loaded through that connection with
 * pl_services_load, and rolled back: the shared database is never changed. The last test runs
 * the spec's statements through pl_db against the real schema (record → mark sent → store)
 * under request ids of its own, deleted at the end. The snapshot test commits, as a DBA would:
 * rows of a pay type and an entity of its own, which no request names, removed at the end.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "auth.h"
#include "card.h"
#include "ext_rules.h"
#include "it_unit.h"
#include "log.h"
#include "services.h"
#include "../unit/job_test_helpers.h"

#define CYB_KEY "cyb-transaction-key-for-tests"

static const char *g_conninfo;
static PGconn *g_admin;
static char g_dir[64], g_keyfile[128], g_rid_prefix[48];

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
    /* The demo names the CYB key by file-env:PAYLINK_CYB_TRANSACTION_KEY_FILE; the RLT and EXT
     * secrets stay unresolvable. */
    snprintf(g_dir, sizeof g_dir, "/tmp/pl_it_services.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_keyfile, sizeof g_keyfile, "%s/cyb.key", g_dir);
    /* Readable by its owner only, or pl_secret_resolve refuses it (config.h). */
    FILE *f = fopen(g_keyfile, "w");
    if (!f || fchmod(fileno(f), 0600) != 0 || fputs(CYB_KEY "\n", f) < 0 || fclose(f) != 0)
        return -1;
    setenv("PAYLINK_CYB_TRANSACTION_KEY_FILE", g_keyfile, 1);
    unsetenv("PAYLINK_RLT_PASSWORD_FILE");
    unsetenv("PAYLINK_EXT_CLIENT_SECRET_FILE");
    /* Direct unless a test sets the process-wide proxy itself. */
    unsetenv("PAYLINK_PROXY_HOST");
    unsetenv("PAYLINK_PROXY_PORT");
    snprintf(g_rid_prefix, sizeof g_rid_prefix, "it-svc-%ld-%ld-", (long)getpid(),
             (long)time(NULL) % 100000);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_admin) {
        char like[64];
        snprintf(like, sizeof like, "%s%%", g_rid_prefix);
        const char *p[] = {like};
        PQclear(PQexecParams(g_admin, "DELETE FROM auth_history WHERE request_id LIKE $1", 1, NULL,
                             p, NULL, NULL, 0));
        PQclear(PQexecParams(g_admin, "DELETE FROM cc_auth_trans WHERE request_id LIKE $1", 1, NULL,
                             p, NULL, NULL, 0));
        PQfinish(g_admin);
    }
    unlink(g_keyfile);
    rmdir(g_dir);
    return 0;
}

static void admin_ok(const char *sql)
{
    PGresult *r = PQexec(g_admin, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    PQclear(r);
}

/* A snapshot of the configuration as changed by `changes` (SQL run in a transaction that is
 * rolled back after the load), or of the configuration as it is when changes is NULL. */
static pl_services *load_with(const char *changes)
{
    char err[512] = "";
    admin_ok("BEGIN");
    if (changes)
        admin_ok(changes);
    pl_services *s = pl_services_load(g_admin, err, sizeof err);
    admin_ok("ROLLBACK");
    if (!s)
        fail_msg("pl_services_load: %s", err);
    return s;
}

/* ---- the snapshot -------------------------------------------------------------------- */

static void test_load_demo(void **state)
{
    (void)state;
    char err[512] = "";
    pl_services *s = pl_services_load_conninfo(g_conninfo, err, sizeof err);
    if (!s)
        fail_msg("pl_services_load_conninfo: %s", err);
    assert_true(pl_services_count(s) >= 3);
    /* Ordered by code. */
    for (size_t i = 1; i < pl_services_count(s); i++)
        assert_true(strcmp(pl_services_at(s, i - 1)->code, pl_services_at(s, i)->code) < 0);
    assert_null(pl_services_at(s, pl_services_count(s)));

    const pl_service *cyb = pl_services_find(s, "CYB");
    assert_non_null(cyb);
    assert_string_equal(cyb->code, "CYB");
    assert_string_equal(cyb->protocol, "CYB");
    assert_string_equal(cyb->merchant_id, "paylink_demo");
    /* send_to_production is false: the test URL. */
    assert_memory_equal(cyb->url, "https://", 8);
    const char *tail = "/commerce/1.x/transactionProcessor";
    assert_true(strlen(cyb->url) > strlen(tail));
    assert_string_equal(cyb->url + strlen(cyb->url) - strlen(tail), tail);
    assert_string_equal(cyb->api_version, "1.121");
    assert_int_equal(cyb->response_time_ms, 5000);
    assert_int_equal(cyb->response_check_frequency, 1);
    assert_int_equal(cyb->connect_attempts, 3);
    assert_true(cyb->request_token);
    assert_true(cyb->decision_manager);
    assert_true(cyb->send_reversal);
    assert_true(cyb->void_auth_at_deposit);
    assert_int_equal(cyb->max_concurrent, 512);
    assert_int_equal(cyb->connection_idle_s, 240);
    assert_string_equal(cyb->proxy, "");
    assert_false(cyb->message_log_enabled);
    assert_string_equal(cyb->fraud_cancel_reason, "M14");
    /* The Customer Engagement setup is blank for other bureaus. */
    assert_string_equal(cyb->card_prefix, "");
    assert_string_equal(cyb->card_series, "");
    assert_string_equal(cyb->location_id, "");
    assert_string_equal(cyb->ws_user, "");
    assert_false(cyb->balance_inquiry_batch);
    /* The secret comes from the file the variable names, without its newline. */
    assert_true(cyb->secret_ok);
    assert_string_equal(cyb->secret, CYB_KEY);
    assert_string_equal(cyb->secret_error, "");

    /* RLT's secret cannot be resolved: the bureau is loaded but its calls will be refused. */
    const pl_service *rlt = pl_services_find(s, "RLT");
    assert_non_null(rlt);
    assert_string_equal(rlt->protocol, "RLT");
    assert_false(rlt->secret_ok);
    assert_string_equal(rlt->secret, "");
    assert_non_null(strstr(rlt->secret_error, "PAYLINK_RLT_PASSWORD_FILE"));
    /* The seed's RLT setup: the GenerateCard sample's prefix and series as Presenter's and
     * Submitter's ID, a blank Signon, a web service user, J19 selected, and the
     * /relateui/<company>/xmlapi URL form. */
    assert_string_equal(rlt->card_prefix, "85749");
    assert_string_equal(rlt->card_series, "06");
    assert_string_equal(rlt->location_id, "");
    assert_string_equal(rlt->ws_user, "paylink_demo");
    assert_true(rlt->balance_inquiry_batch);
    assert_memory_equal(rlt->url, "https://", 8);
    const char *rlt_tail = "/relateui/OMS/xmlapi";
    assert_true(strlen(rlt->url) > strlen(rlt_tail));
    assert_string_equal(rlt->url + strlen(rlt->url) - strlen(rlt_tail), rlt_tail);
    assert_non_null(pl_services_find(s, "EXT"));

    assert_null(pl_services_find(s, "NOPE"));
    assert_null(pl_services_find(s, NULL));
    assert_null(pl_services_find(NULL, "CYB"));
    assert_int_equal(pl_services_count(NULL), 0);
    pl_services_unref(s);
}

static void test_secret_resolution_failure(void **state)
{
    (void)state;
    /* The variable names a file that does not exist. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no-such-key", g_dir);
    setenv("PAYLINK_CYB_TRANSACTION_KEY_FILE", missing, 1);
    pl_services *s = load_with(NULL);
    const pl_service *cyb = pl_services_find(s, "CYB");
    assert_false(cyb->secret_ok);
    assert_string_equal(cyb->secret, "");
    assert_non_null(strstr(cyb->secret_error, "file-env:PAYLINK_CYB_TRANSACTION_KEY_FILE"));
    pl_services_unref(s);

    /* Not set at all. */
    unsetenv("PAYLINK_CYB_TRANSACTION_KEY_FILE");
    s = load_with(NULL);
    assert_false(pl_services_find(s, "CYB")->secret_ok);
    pl_services_unref(s);

    /* A secret_ref of another scheme: env:. */
    setenv("PAYLINK_IT_SECRET", "from-the-environment", 1);
    s = load_with("UPDATE auth_service SET secret_ref = 'env:PAYLINK_IT_SECRET' "
                  "WHERE service_bureau = 'RLT'");
    assert_true(pl_services_find(s, "RLT")->secret_ok);
    assert_string_equal(pl_services_find(s, "RLT")->secret, "from-the-environment");
    pl_services_unref(s);
    unsetenv("PAYLINK_IT_SECRET");
    setenv("PAYLINK_CYB_TRANSACTION_KEY_FILE", g_keyfile, 1);
}

static void test_vendor_responses(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    const pl_vendor_response *v = pl_services_vendor_response(s, "CYB", "481");
    assert_non_null(v);
    assert_string_equal(v->service, "CYB");
    assert_string_equal(v->code, "481");
    assert_false(v->approved);
    assert_string_equal(v->hold_reason, "FS");
    assert_true(v->deactivate_payment);
    assert_true(strlen(v->description) > 0);

    v = pl_services_vendor_response(s, "CYB", "100");
    assert_non_null(v);
    assert_true(v->approved);
    assert_string_equal(v->hold_reason, "");
    assert_false(v->deactivate_payment);

    v = pl_services_vendor_response(s, "CYB", "204");
    assert_non_null(v);
    assert_false(v->approved);
    assert_string_equal(v->hold_reason, "AT");

    /* Codes are per bureau. */
    assert_non_null(pl_services_vendor_response(s, "RLT", "SU"));
    assert_null(pl_services_vendor_response(s, "RLT", "100"));
    assert_null(pl_services_vendor_response(s, "CYB", "999"));
    assert_null(pl_services_vendor_response(s, "CYB", NULL));
    assert_null(pl_services_vendor_response(s, NULL, "100"));
    pl_services_unref(s);

    /* Every row is found by its key, whatever the rows' order and however many there are
     * (rows added here sort before, between and after the demo's); a key off by a character,
     * or under another kind, is not. */
    admin_ok("BEGIN");
    admin_ok("INSERT INTO vendor_response (service_bureau, response_code, description, "
             "response_kind) VALUES ('CYB', '0', 'first', 'reason'), "
             "('CYB', '4800', 'between', 'reason'), ('CYB', 'zz', 'last', 'reason'), "
             "('CYB', '100', 'avs', 'avs'), ('EXT', '', 'blank', 'reason')");
    char err[512] = "";
    s = pl_services_load(g_admin, err, sizeof err);
    PGresult *r = PQexec(g_admin, "SELECT service_bureau, response_kind, response_code, "
                                  "description FROM vendor_response");
    admin_ok("ROLLBACK");
    assert_non_null(s);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) > 5);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *svc = PQgetvalue(r, i, 0), *kind = PQgetvalue(r, i, 1);
        const char *code = PQgetvalue(r, i, 2);
        v = pl_services_vendor_response_kind(s, svc, kind, code);
        assert_non_null(v);
        assert_string_equal(v->service, svc);
        assert_string_equal(v->kind, kind);
        assert_string_equal(v->code, code);
        assert_string_equal(v->description, PQgetvalue(r, i, 3));
        char more[64];
        snprintf(more, sizeof more, "%s#", code);
        assert_null(pl_services_vendor_response_kind(s, svc, kind, more));
        assert_null(pl_services_vendor_response_kind(s, svc, "no-such-kind", code));
        assert_null(pl_services_vendor_response_kind(s, "NONE", kind, code));
    }
    PQclear(r);
    v = pl_services_vendor_response_kind(s, "CYB", "avs", "100");
    assert_non_null(v);
    assert_string_equal(v->description, "avs");
    v = pl_services_vendor_response(s, "CYB", "4800");
    assert_non_null(v);
    assert_string_equal(v->description, "between");
    pl_services_unref(s);
}

/* Seed external-payment-service.txt "Response codes", with the demo's EXT vendor responses: a
 * REJECT or ERROR is declined; AT when the code is undefined, defined with a hold code, or
 * missing (then SU); no hold for a code defined without one. Not EXT, or an ACCEPT: untouched. */
static void test_ext_refusal(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    const pl_service *ext = pl_services_find(s, "EXT");
    const pl_service *cyb = pl_services_find(s, "CYB");
    assert_non_null(ext);
    assert_non_null(cyb);
    static const struct {
        const char *decision, *reason, *vendor, *hold;
    } cases[] = {
        {"REJECT", "204", "204", "AT"},      /* defined, hold AT */
        {"REJECT", "NOCARD", "NOCARD", ""},  /* defined without a hold */
        {"ERROR", "INVALID", "INVALID", ""}, /* defined without a hold */
        {"REJECT", "XQ9", "XQ9", "AT"},      /* not defined */
        {"ERROR", "", "SU", "AT"},           /* none */
        {"REJECT", "", "SU", "AT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_bureau_result res;
        pl_reply rep;
        memset(&res, 0, sizeof res);
        memset(&rep, 0, sizeof rep);
        snprintf(res.decision, sizeof res.decision, "%s", cases[i].decision);
        snprintf(res.reason_code, sizeof res.reason_code, "%s", cases[i].reason);
        assert_true(pl_ext_refusal(s, ext, &res, &rep));
        assert_int_equal(rep.status, PL_ST_DECLINED);
        assert_string_equal(rep.vendor_response, cases[i].vendor);
        assert_string_equal(rep.hold_reason, cases[i].hold);
        /* The same answer from CyberSource is not this rule's. */
        pl_reply other;
        memset(&other, 0, sizeof other);
        assert_false(pl_ext_refusal(s, cyb, &res, &other));
        assert_int_equal(other.status, 0);
    }
    pl_bureau_result ok;
    pl_reply rep;
    memset(&ok, 0, sizeof ok);
    memset(&rep, 0, sizeof rep);
    snprintf(ok.decision, sizeof ok.decision, "ACCEPT");
    assert_false(pl_ext_refusal(s, ext, &ok, &rep));
    pl_services_unref(s);
}

/* Seed customer-engagement-stored-value-card.txt: "if an error code is returned, OMS maps this
 * code to the Relate response field in Defining Vendor Response Codes; otherwise, OMS maps the
 * reason code to the ORCE response field". */
static void test_vendor_responses_svc(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);

    /* An ErrorCode, by relate_response. */
    const pl_vendor_response *v =
        pl_services_vendor_response_svc(s, "RLT", "ALL_CARDS_GENERATED", NULL);
    assert_non_null(v);
    assert_string_equal(v->service, "RLT");
    assert_string_equal(v->relate_response, "ALL_CARDS_GENERATED");
    assert_string_equal(v->orce_code, "");
    assert_false(v->approved);
    assert_string_equal(v->hold_reason, "");
    v = pl_services_vendor_response_svc(s, "RLT", "INSUFFICIENT_FUNDS", "");
    assert_non_null(v);
    assert_false(v->approved);
    assert_string_equal(v->hold_reason, "AT");
    v = pl_services_vendor_response_svc(s, "RLT", "CARD_INACTIVE", NULL);
    assert_non_null(v);
    assert_string_equal(v->hold_reason, "AT");
    v = pl_services_vendor_response_svc(s, "RLT", "CARD_NOT_FOUND", NULL);
    assert_non_null(v);
    assert_false(v->approved);

    /* No ErrorCode: the reason code, by orce_code, for each of the seed's sample answers. */
    static const char *const reasons[] = {"2", "8", "16", "18", "22", "24", "26"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        v = pl_services_vendor_response_svc(s, "RLT", NULL, reasons[i]);
        if (!v)
            fail_msg("no RLT vendor response maps reason code %s", reasons[i]);
        assert_string_equal(v->orce_code, reasons[i]);
        assert_string_equal(v->relate_response, "");
        assert_true(v->approved);
        assert_true(strlen(v->code) > 0 && strlen(v->code) <= 10);
        /* The same row as by its own response code. */
        assert_ptr_equal(pl_services_vendor_response(s, "RLT", v->code), v);
    }
    const pl_vendor_response *preauth = pl_services_vendor_response_svc(s, "RLT", "", "24");
    assert_non_null(preauth);

    /* An ErrorCode decides even beside a reason code that maps an approval. */
    v = pl_services_vendor_response_svc(s, "RLT", "INSUFFICIENT_FUNDS", "24");
    assert_non_null(v);
    assert_false(v->approved);
    assert_string_equal(v->relate_response, "INSUFFICIENT_FUNDS");
    /* ... also when no row maps it: no fall-back to the reason code. */
    assert_null(pl_services_vendor_response_svc(s, "RLT", "NO_SUCH_ERROR", "24"));

    /* Unknown codes, other bureaus, nothing to look up. */
    assert_null(pl_services_vendor_response_svc(s, "RLT", NULL, "99"));
    assert_null(pl_services_vendor_response_svc(s, "RLT", "", "99"));
    assert_null(pl_services_vendor_response_svc(s, "CYB", "ALL_CARDS_GENERATED", NULL));
    assert_null(pl_services_vendor_response_svc(s, "CYB", NULL, "24"));
    assert_null(pl_services_vendor_response_svc(s, "NOPE", NULL, "24"));
    assert_null(pl_services_vendor_response_svc(s, NULL, NULL, "24"));
    assert_null(pl_services_vendor_response_svc(NULL, "RLT", NULL, "24"));
    /* Blank columns (rows without a mapping, such as SU) are never matched by a blank code. */
    assert_null(pl_services_vendor_response_svc(s, "RLT", NULL, NULL));
    assert_null(pl_services_vendor_response_svc(s, "RLT", "", ""));
    assert_null(pl_services_vendor_response_svc(s, "RLT", "", NULL));
    /* Codes are matched exactly. */
    assert_null(pl_services_vendor_response_svc(s, "RLT", "all_cards_generated", NULL));
    assert_null(pl_services_vendor_response_svc(s, "RLT", NULL, "024"));
    pl_services_unref(s);

    /* A mapping added by an operator is found; address and card verification rows are never
     * mapped answers. */
    s = load_with("INSERT INTO vendor_response (service_bureau, response_code, description, "
                  "approved, hold_reason, relate_response) VALUES ('RLT', 'EXPIRED', "
                  "'Card expired', false, 'AT', 'CARD_EXPIRED');"
                  "INSERT INTO vendor_response (service_bureau, response_kind, response_code, "
                  "approved, orce_code) VALUES ('RLT', 'avs', 'N', true, '77')");
    v = pl_services_vendor_response_svc(s, "RLT", "CARD_EXPIRED", "24");
    assert_non_null(v);
    assert_string_equal(v->code, "EXPIRED");
    assert_string_equal(v->hold_reason, "AT");
    assert_null(pl_services_vendor_response_svc(s, "RLT", NULL, "77"));
    assert_non_null(pl_services_vendor_response_kind(s, "RLT", "avs", "N"));
    pl_services_unref(s);
}

static void test_cross_references(void **state)
{
    (void)state;
    /* No rows: the ISO codes go as they are. */
    pl_services *s = load_with("DELETE FROM auth_service_currency; DELETE FROM "
                               "auth_service_country");
    assert_string_equal(pl_services_currency(s, "CYB", "USD"), "USD");
    assert_string_equal(pl_services_country(s, "CYB", "US"), "US");
    pl_services_unref(s);

    s = load_with("INSERT INTO auth_service_currency VALUES ('CYB', 'USD', '840') "
                  "ON CONFLICT DO NOTHING;"
                  "INSERT INTO auth_service_country VALUES ('CYB', 'US', 'USA') "
                  "ON CONFLICT DO NOTHING;"
                  "INSERT INTO auth_service_country VALUES ('RLT', 'GB', 'UK') "
                  "ON CONFLICT DO NOTHING");
    assert_string_equal(pl_services_currency(s, "CYB", "USD"), "840");
    assert_string_equal(pl_services_currency(s, "CYB", "EUR"), "EUR");
    assert_string_equal(pl_services_currency(s, "RLT", "USD"), "USD");
    assert_string_equal(pl_services_country(s, "CYB", "US"), "USA");
    assert_string_equal(pl_services_country(s, "CYB", "GB"), "GB");
    assert_string_equal(pl_services_country(s, "RLT", "GB"), "UK");
    assert_string_equal(pl_services_country(s, "RLT", "US"), "US");
    assert_null(pl_services_currency(s, "CYB", NULL));
    pl_services_unref(s);
}

static void test_paytypes(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    assert_string_equal(pl_services_vendor_paytype(s, "CYB", "VI"), "001");
    assert_string_equal(pl_services_vendor_paytype(s, "CYB", "MC"), "002");
    assert_null(pl_services_vendor_paytype(s, "CYB", "ZZ"));
    assert_null(pl_services_vendor_paytype(s, "RLT", "VI"));
    assert_null(pl_services_vendor_paytype(s, "CYB", ""));
    assert_null(pl_services_vendor_paytype(s, "CYB", NULL));
    assert_int_equal(pl_services_reauth_days(s, "CYB", "VI"), 7);
    assert_int_equal(pl_services_reauth_days(s, "CYB", "DI"), 30);
    assert_int_equal(pl_services_reauth_days(s, "CYB", "ZZ"), -1);
    pl_services_unref(s);

    /* A row with a blank bureau code means "derive it from the card". */
    s = load_with("UPDATE vendor_paytype SET vendor_paytype = '' WHERE service_bureau = 'CYB' "
                  "AND pay_type = 'AX'");
    assert_null(pl_services_vendor_paytype(s, "CYB", "AX"));
    assert_int_equal(pl_services_reauth_days(s, "CYB", "AX"), 7);
    pl_services_unref(s);
}

/* Pay type merchant for MC, an override for company 1 entity EAST. */
static const char hierarchy_sql[] =
    "UPDATE vendor_paytype SET merchant_id = 'mid_paytype_mc' WHERE service_bureau = 'CYB' AND "
    "pay_type = 'MC';"
    "INSERT INTO merchant_id_override VALUES (1, 'EAST', 'CYB', 'mid_entity_east') "
    "ON CONFLICT (company, entity, service_bureau) DO UPDATE SET merchant_id = "
    "EXCLUDED.merchant_id";

static void test_merchant_id_hierarchy(void **state)
{
    (void)state;
    pl_services *s = load_with(hierarchy_sql);
    const pl_service *cyb = pl_services_find(s, "CYB");
    /* 1. the pay type's merchant ID beats the override ... */
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, "EAST", "MC"), "mid_paytype_mc");
    /* 2. ... the override beats the bureau's merchant ID ... */
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, "EAST", "VI"), "mid_entity_east");
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, "EAST", NULL), "mid_entity_east");
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, "EAST", ""), "mid_entity_east");
    /* 3. ... which is the last step. */
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, "WEST", "VI"), "paylink_demo");
    assert_string_equal(pl_services_merchant_id(s, cyb, 2, "EAST", "VI"), "paylink_demo");
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, NULL, "VI"), "paylink_demo");
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, "", NULL), "paylink_demo");
    /* Overrides are per bureau. */
    const pl_service *rlt = pl_services_find(s, "RLT");
    assert_string_equal(pl_services_merchant_id(s, rlt, 1, "EAST", "MC"), "paylink_demo");
    /* Each step's merchant ID is one of the bureau's, whatever the company, entity or pay type
     * (what a call on an earlier transaction is checked against: engine.c, merchant_foreign)... */
    assert_true(pl_services_has_merchant_id(s, cyb, "mid_paytype_mc"));
    assert_true(pl_services_has_merchant_id(s, cyb, "mid_entity_east"));
    assert_true(pl_services_has_merchant_id(s, cyb, "paylink_demo"));
    assert_false(pl_services_has_merchant_id(s, cyb, "mid_nowhere"));
    assert_false(pl_services_has_merchant_id(s, cyb, ""));
    /* ... of that bureau only. */
    assert_false(pl_services_has_merchant_id(s, rlt, "mid_paytype_mc"));
    assert_false(pl_services_has_merchant_id(s, rlt, "mid_entity_east"));
    pl_services_unref(s);
}

static void test_proxy_and_production(void **state)
{
    (void)state;
    pl_services *s =
        load_with("UPDATE auth_service SET proxy_host = 'proxy.example', proxy_port = 3128, "
                  "send_to_production = true, production_url = 'https://prod.example/tp', "
                  "connect_attempts = 5, message_log_enabled = true, "
                  "message_log_dir = '/var/log/paylink' WHERE service_bureau = 'CYB';"
                  "UPDATE auth_service SET proxy_host = 'proxy.example', proxy_port = NULL "
                  "WHERE service_bureau = 'RLT'");
    const pl_service *cyb = pl_services_find(s, "CYB");
    assert_string_equal(cyb->proxy, "proxy.example:3128");
    assert_string_equal(cyb->url, "https://prod.example/tp");
    assert_int_equal(cyb->connect_attempts, 5);
    assert_true(cyb->message_log_enabled);
    assert_string_equal(cyb->message_log_dir, "/var/log/paylink");
    assert_string_equal(pl_services_find(s, "RLT")->proxy, "proxy.example");
    pl_services_unref(s);

    /* The Customer Engagement settings as an operator changes them. */
    s = load_with("UPDATE auth_service SET card_prefix = '12345', card_series = '99', "
                  "location_id = 'STORE 7', ws_user = '', balance_inquiry_batch = false "
                  "WHERE service_bureau = 'RLT'");
    const pl_service *rlt = pl_services_find(s, "RLT");
    assert_string_equal(rlt->card_prefix, "12345");
    assert_string_equal(rlt->card_series, "99");
    assert_string_equal(rlt->location_id, "STORE 7");
    assert_string_equal(rlt->ws_user, "");
    assert_false(rlt->balance_inquiry_batch);
    pl_services_unref(s);
}

/* PAYLINK_PROXY_HOST / PAYLINK_PROXY_PORT: the proxy of every bureau whose own columns are
 * blank; a bureau's own columns win. */
static void test_process_wide_proxy(void **state)
{
    (void)state;
    setenv("PAYLINK_PROXY_HOST", "site-proxy.example", 1);
    setenv("PAYLINK_PROXY_PORT", "3128", 1);
    pl_services *s = load_with("UPDATE auth_service SET proxy_host = '', proxy_port = NULL;"
                               "UPDATE auth_service SET proxy_host = 'cyb-proxy.example', "
                               "proxy_port = 8080 WHERE service_bureau = 'CYB'");
    assert_string_equal(pl_services_find(s, "CYB")->proxy, "cyb-proxy.example:8080");
    assert_string_equal(pl_services_find(s, "RLT")->proxy, "site-proxy.example:3128");
    assert_string_equal(pl_services_find(s, "EXT")->proxy, "site-proxy.example:3128");
    pl_services_unref(s);

    /* Half a setting: the load fails and says so (the running worker keeps its snapshot). */
    unsetenv("PAYLINK_PROXY_PORT");
    char err[512] = "";
    admin_ok("BEGIN");
    s = pl_services_load(g_admin, err, sizeof err);
    admin_ok("ROLLBACK");
    unsetenv("PAYLINK_PROXY_HOST");
    assert_null(s);
    assert_non_null(strstr(err, "PAYLINK_PROXY_PORT is not"));

    /* Neither: direct unless a bureau names its own. */
    s = load_with("UPDATE auth_service SET proxy_host = '', proxy_port = NULL");
    assert_string_equal(pl_services_find(s, "CYB")->proxy, "");
    assert_string_equal(pl_services_find(s, "RLT")->proxy, "");
    pl_services_unref(s);
}

/* ---- the External Payment Service (seed external-payment-service.txt) ------------------- */

#define EXT_STRONG "Ext!s3cret-x"
#define EXT_WEAK "extsecret12"

/* Asserts EXT is unusable in s with a message containing want (and no password). */
static void ext_refused(pl_services *s, const char *want)
{
    const pl_service *ext = pl_services_find(s, "EXT");
    assert_non_null(ext);
    assert_false(ext->secret_ok);
    assert_string_equal(ext->secret, "");
    if (!strstr(ext->secret_error, want))
        fail_msg("EXT refused with '%s', not '%s'", ext->secret_error, want);
    assert_null(strstr(ext->secret_error, EXT_STRONG));
    assert_null(strstr(ext->secret_error, EXT_WEAK));
    pl_services_unref(s);
}

static void test_external_service(void **state)
{
    (void)state;
    /* The demo's External Service Settings; its password file is not set here. */
    pl_services *s = load_with(NULL);
    const pl_service *ext = pl_services_find(s, "EXT");
    assert_non_null(ext);
    assert_string_equal(ext->protocol, "EXT");
    assert_true(ext->ext_enabled);
    assert_string_equal(ext->ext_message_version, "3.0");
    assert_string_equal(ext->ext_auth_user, "paylink_demo");
    /* url is the External URL Prefix; the token endpoint is beside it. */
    assert_memory_equal(ext->url, "https://", 8);
    assert_string_equal(ext->url + strlen(ext->url) - 4, "/ext");
    const char *token_tail = "/ext/oauth2/token";
    assert_string_equal(ext->ext_token_url + strlen(ext->ext_token_url) - strlen(token_tail),
                        token_tail);
    assert_false(ext->supports_auth_resubmission);
    assert_false(ext->secret_ok);
    assert_non_null(strstr(ext->secret_error, "PAYLINK_EXT_CLIENT_SECRET_FILE"));
    /* Other bureaus have no External Service Settings. */
    const pl_service *cyb = pl_services_find(s, "CYB");
    assert_false(cyb->ext_enabled);
    assert_string_equal(cyb->ext_message_version, "");
    assert_string_equal(cyb->ext_token_url, "");
    pl_services_unref(s);

    /* A password that follows the seed's rule: EXT is usable, its secret the password. */
    setenv("PAYLINK_IT_EXT_STRONG", EXT_STRONG, 1);
    setenv("PAYLINK_IT_EXT_WEAK", EXT_WEAK, 1);
    s = load_with("UPDATE external_service SET auth_password_ref = 'env:PAYLINK_IT_EXT_STRONG' "
                  "WHERE service_bureau = 'EXT';"
                  "UPDATE auth_service SET supports_auth_resubmission = true "
                  "WHERE service_bureau = 'EXT'");
    ext = pl_services_find(s, "EXT");
    assert_true(ext->secret_ok);
    assert_string_equal(ext->secret, EXT_STRONG);
    assert_string_equal(ext->secret_error, "");
    assert_true(ext->supports_auth_resubmission);
    pl_services_unref(s);

    /* A weak one makes it unusable, saying why without the password. */
    s = load_with("UPDATE external_service SET auth_password_ref = 'env:PAYLINK_IT_EXT_WEAK' "
                  "WHERE service_bureau = 'EXT'");
    assert_non_null(strstr(pl_services_find(s, "EXT")->secret_error, "env:PAYLINK_IT_EXT_WEAK"));
    ext_refused(s, "no special (non-alphanumeric) character, ends in a digit");

    /* The External Service flag off, no settings at all. */
    ext_refused(load_with("UPDATE external_service SET enabled = false, "
                          "auth_password_ref = 'env:PAYLINK_IT_EXT_STRONG' "
                          "WHERE service_bureau = 'EXT'"),
                "External Service flag is off");
    ext_refused(load_with("DELETE FROM external_service WHERE service_bureau = 'EXT'"),
                "no External Service Settings");

    /* What the table's checks refuse is refused by the load too (constraints dropped inside
     * the rolled-back transaction). */
    ext_refused(load_with("ALTER TABLE external_service DROP CONSTRAINT "
                          "external_service_url_prefix_check;"
                          "UPDATE external_service SET url_prefix = 'http://insecure.example', "
                          "auth_password_ref = 'env:PAYLINK_IT_EXT_STRONG' "
                          "WHERE service_bureau = 'EXT'"),
                "must begin with https://");
    ext_refused(load_with("ALTER TABLE external_service DROP CONSTRAINT "
                          "external_service_token_url_check;"
                          "UPDATE external_service SET token_url = 'http://insecure.example', "
                          "auth_password_ref = 'env:PAYLINK_IT_EXT_STRONG' "
                          "WHERE service_bureau = 'EXT'"),
                "token URL must begin with https://");
    ext_refused(load_with("ALTER TABLE external_service DROP CONSTRAINT "
                          "external_service_message_version_check;"
                          "UPDATE external_service SET message_version = '2.0', "
                          "auth_password_ref = 'env:PAYLINK_IT_EXT_STRONG' "
                          "WHERE service_bureau = 'EXT'"),
                "message version 2.0 is not supported");
    unsetenv("PAYLINK_IT_EXT_STRONG");
    unsetenv("PAYLINK_IT_EXT_WEAK");
}

/* WPAY "Notify of installments" of the demo's pay types (company 1). */
static void test_notify_installments(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    assert_true(pl_services_notify_installments(s, 1, "VI"));
    assert_false(pl_services_notify_installments(s, 1, "MC"));
    assert_false(pl_services_notify_installments(s, 1, "ZZ"));
    assert_false(pl_services_notify_installments(s, 2, "VI"));
    assert_false(pl_services_notify_installments(s, 1, ""));
    assert_false(pl_services_notify_installments(s, 1, NULL));
    pl_services_unref(s);
    s = load_with("UPDATE pay_type SET notify_installments = true WHERE company = 1 AND "
                  "pay_type = 'MC'");
    assert_true(pl_services_notify_installments(s, 1, "MC"));
    pl_services_unref(s);
}

static void test_references(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    /* A refresh swaps snapshots; a request in flight keeps its own alive. */
    assert_ptr_equal(pl_services_ref(s), s);
    pl_services_unref(s);
    assert_non_null(pl_services_find(s, "CYB"));
    pl_services_unref(s);
    assert_null(pl_services_ref(NULL));
    pl_services_unref(NULL);
}

static void test_load_errors(void **state)
{
    (void)state;
    char err[512] = "";
    assert_null(pl_services_load_conninfo("host=127.0.0.1 port=1 dbname=x connect_timeout=2", err,
                                          sizeof err));
    assert_non_null(strstr(err, "connect"));

    /* Tables that cannot be found (an empty search path, in a transaction). */
    admin_ok("BEGIN");
    admin_ok("SET LOCAL search_path = pg_catalog");
    err[0] = '\0';
    pl_services *s = pl_services_load(g_admin, err, sizeof err);
    admin_ok("ROLLBACK");
    assert_null(s);
    assert_non_null(strstr(err, "loading service bureaus"));
}

/* ---- one snapshot ---------------------------------------------------------------------- */

/* A plain connection of the test's own (autocommit). */
static PGconn *connect_own(void)
{
    PGconn *c = PQconnectdb(g_conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

/* Runs sql with params on c: whether it worked (said on stderr when not). */
static bool exec_ok(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Runs sql with params on c; fails the test when it fails. */
static void run_ok(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    PQclear(r);
}

typedef struct loading {
    PGconn *c;
    pl_services *s;
    char err[512];
} loading;

static void *load_thread(void *arg)
{
    loading *l = arg;
    l->s = pl_services_load(l->c, l->err, sizeof l->err);
    return NULL;
}

/*
 * A DBA moves an entity's merchant ID from merchant_id_override to its pay type's
 * vendor_paytype row in one transaction, committed while a load is between the two reads (the
 * load waits for the table lock the DBA's transaction holds on merchant_id_override, after it
 * has read vendor_paytype). The load sees the configuration before the change or after it —
 * here before, as its snapshot was taken at its first read — never the half with neither,
 * which sent the entity's authorizations to the bureau's default merchant account.
 *
 * The rows are of a pay type and an entity of this run on CYB, which no request names. The
 * lock holds off other readers of merchant_id_override (the workers' refreshes) until the
 * change is committed, a moment.
 */
static void test_load_reads_one_snapshot(void **state)
{
    (void)state;
    char pay_type[8], entity[24];
    snprintf(pay_type, sizeof pay_type, "X%03ld", (long)getpid() % 1000);
    snprintf(entity, sizeof entity, "IT-SNAP-%ld", (long)getpid() % 1000000);
    const char *pt[] = {pay_type}, *en[] = {entity};
    PGconn *dba = connect_own();
    const char *cleanup_pt = "DELETE FROM vendor_paytype WHERE service_bureau = 'CYB' AND "
                             "pay_type = $1";
    const char *cleanup_en = "DELETE FROM merchant_id_override WHERE company = 1 AND "
                             "service_bureau = 'CYB' AND entity = $1";
    run_ok(dba, cleanup_pt, 1, pt);
    run_ok(dba, cleanup_en, 1, en);
    run_ok(dba,
           "INSERT INTO vendor_paytype (service_bureau, pay_type, vendor_paytype, merchant_id) "
           "VALUES ('CYB', $1, '', '')",
           1, pt);
    run_ok(dba,
           "INSERT INTO merchant_id_override (company, entity, service_bureau, merchant_id) "
           "VALUES (1, $1, 'CYB', 'it_snap_entity')",
           1, en);

    /* Before, as a load sees it whole. */
    pl_services *s = load_with(NULL);
    const pl_service *cyb = pl_services_find(s, "CYB");
    assert_string_equal(pl_services_merchant_id(s, cyb, 1, entity, pay_type), "it_snap_entity");
    pl_services_unref(s);

    run_ok(dba, "BEGIN", 0, NULL);
    run_ok(dba, "LOCK TABLE merchant_id_override IN ACCESS EXCLUSIVE MODE", 0, NULL);
    loading l = {.c = connect_own()};
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(l.c));
    const char *pp[] = {pid};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, load_thread, &l), 0);
    /* Until the load waits for the lock: it has read the tables before merchant_id_override. A
     * bound on the wait only, never an assertion of time. */
    bool waiting = false;
    for (int k = 0; k < 1200 && !waiting; k++) {
        PGresult *r = PQexecParams(dba,
                                   "SELECT 1 FROM pg_locks WHERE pid = $1::int AND NOT granted "
                                   "AND relation = 'merchant_id_override'::regclass",
                                   1, NULL, pp, NULL, NULL, 0);
        waiting = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (!waiting)
            poll(NULL, 0, 50);
    }
    /* The change, in one transaction: the pay type gets the merchant ID, the override goes.
     * Nothing here may fail the test before the load is let go and joined. */
    bool changed = waiting &&
                   exec_ok(dba,
                           "UPDATE vendor_paytype SET merchant_id = 'it_snap_paytype' "
                           "WHERE service_bureau = 'CYB' AND pay_type = $1",
                           1, pt) &&
                   exec_ok(dba, cleanup_en, 1, en);
    bool committed = exec_ok(dba, changed ? "COMMIT" : "ROLLBACK", 0, NULL) && changed;
    pthread_join(t, NULL);

    /* After, as a load sees it whole. */
    pl_services *after = load_with(NULL);
    cyb = pl_services_find(after, "CYB");
    char after_mid[32];
    snprintf(after_mid, sizeof after_mid, "%s",
             pl_services_merchant_id(after, cyb, 1, entity, pay_type));
    pl_services_unref(after);
    run_ok(dba, cleanup_pt, 1, pt);
    run_ok(dba, cleanup_en, 1, en);
    PQfinish(dba);
    assert_true(waiting);
    assert_true(committed);
    assert_int_equal(PQtransactionStatus(l.c), PQTRANS_IDLE);
    PQfinish(l.c);
    if (!l.s)
        fail_msg("pl_services_load: %s", l.err);
    cyb = pl_services_find(l.s, "CYB");
    char mid[32];
    snprintf(mid, sizeof mid, "%s", pl_services_merchant_id(l.s, cyb, 1, entity, pay_type));
    pl_services_unref(l.s);
    assert_string_equal(after_mid, "it_snap_paytype");
    assert_string_not_equal(mid, "paylink_demo");
    assert_string_equal(mid, "it_snap_entity");
}

/*
 * A load that fails part-way (here at its last read: a temporary table named pay_type, which
 * hides the real one, lacks its columns) leaves its connection with no transaction open, so
 * that the next refresh on it works; a load in a transaction of the caller's leaves that open.
 */
static void test_failed_load_leaves_the_connection_usable(void **state)
{
    (void)state;
    PGconn *c = connect_own();
    run_ok(c, "CREATE TEMPORARY TABLE pay_type (x integer)", 0, NULL);
    char err[512] = "";
    assert_null(pl_services_load(c, err, sizeof err));
    assert_non_null(strstr(err, "loading service bureaus"));
    assert_non_null(strstr(err, "notify_installments"));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

    run_ok(c, "DROP TABLE pg_temp.pay_type", 0, NULL);
    pl_services *s = pl_services_load(c, err, sizeof err);
    if (!s)
        fail_msg("pl_services_load after a failed one: %s", err);
    assert_non_null(pl_services_find(s, "CYB"));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    pl_services_unref(s);

    /* The caller's transaction is the caller's: neither committed nor ended. */
    run_ok(c, "BEGIN", 0, NULL);
    run_ok(c, "CREATE TEMPORARY TABLE it_mark (x integer)", 0, NULL);
    assert_non_null(s = pl_services_load(c, err, sizeof err));
    pl_services_unref(s);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INTRANS);
    run_ok(c, "ROLLBACK", 0, NULL);
    PGresult *r = PQexec(c, "SELECT to_regclass('pg_temp.it_mark') IS NULL");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    PQfinish(c);
}

/*
 * The key file of CYB left readable by others (mode 0644) after a refresh that read it: the
 * load finds the reference unreadable, and pl_services_carry keeps the key read before, says
 * so at warn (without the key) and the bureau stays usable.
 */
static void test_refresh_keeps_a_key_it_can_no_longer_read(void **state)
{
    (void)state;
    char err[512] = "";
    pl_services *was = pl_services_load(g_admin, err, sizeof err);
    if (!was)
        fail_msg("pl_services_load: %s", err);
    const pl_service *cyb = pl_services_find(was, "CYB");
    assert_true(cyb->secret_ok);
    assert_false(cyb->secret_unread);
    assert_string_equal(cyb->secret_ref, "file-env:PAYLINK_CYB_TRANSACTION_KEY_FILE");

    assert_int_equal(chmod(g_keyfile, 0644), 0);
    pl_services *now = pl_services_load(g_admin, err, sizeof err);
    assert_int_equal(chmod(g_keyfile, 0600), 0);
    if (!now)
        fail_msg("pl_services_load: %s", err);
    cyb = pl_services_find(now, "CYB");
    assert_false(cyb->secret_ok);
    assert_true(cyb->secret_unread);
    assert_string_equal(cyb->secret, "");

    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    pl_log_init("auth", f);
    pl_services_carry(now, was);
    pl_log_init("auth", NULL);
    fclose(f);
    cyb = pl_services_find(now, "CYB");
    assert_true(cyb->secret_ok);
    assert_string_equal(cyb->secret, CYB_KEY);
    assert_non_null(strstr(buf, "\"level\":\"warn\""));
    assert_non_null(strstr(buf, "bureau CYB: secret file-env:PAYLINK_CYB_TRANSACTION_KEY_FILE"));
    assert_non_null(strstr(buf, "the secret read before is kept"));
    assert_null(strstr(buf, CYB_KEY));
    free(buf);
    pl_services_unref(was);
    pl_services_unref(now);
}

/* ---- the auth spec on this configuration --------------------------------------------- */

/* The bureau's answer of the test's job (the engine allocates one per job; one job at a time
 * here). */
static pl_bureau_result g_res;

/* A job as the engine hands it to the spec: a decoded online auth for 123.45 USD with a card
 * number, VI, on CYB. */
static void job_init(pl_job *j, const pl_services *s, const char *rid_suffix)
{
    memset(j, 0, sizeof *j);
    memset(&g_res, 0, sizeof g_res);
    j->res = &g_res;
    j->reply = job_test_reply();
    j->services = s;
    j->svc = pl_services_find(s, "CYB");
    assert_non_null(j->svc);
    pl_request *r = &j->req;
    r->v = 1;
    snprintf(r->request_id, sizeof r->request_id, "%s%s", g_rid_prefix, rid_suffix);
    r->type = PL_REQ_AUTH;
    snprintf(r->type_name, sizeof r->type_name, "auth");
    r->company = 1;
    snprintf(r->order, sizeof r->order, "A1001");
    r->pay_seq = 1;
    snprintf(r->service, sizeof r->service, "CYB");
    r->has_amount = true;
    r->amount = 12345;
    snprintf(r->currency, sizeof r->currency, "USD");
    r->online = true;
    r->card.present = true;
    snprintf(r->card.number, sizeof r->card.number, "4111111111111111");
    snprintf(r->card.type, sizeof r->card.type, "VI");
    r->card.exp_month = 12;
    r->card.exp_year = 2030;
    snprintf(j->card_type, sizeof j->card_type, "VI");
    snprintf(j->amount, sizeof j->amount, "123.45");
    static const char key[] = "0123456789abcdef0123456789abcdef";
    assert_int_equal(
        pl_card_hmac(key, sizeof key - 1, r->card.number, j->card_hash, sizeof j->card_hash), 0);
    assert_int_equal(pl_card_mask_stored(r->card.number, j->card_masked, sizeof j->card_masked), 0);
    assert_int_equal(
        pl_request_fingerprint(r, key, sizeof key - 1, j->fingerprint, sizeof j->fingerprint), 0);
}

/* Uses a token instead of the card number. */
/* paylink-auth's prepare as the engine runs it (the reply emptied first). */
static int auth_prepare(pl_job *j)
{
    memset(j->reply, 0, sizeof *j->reply);
    int rc = pl_auth_spec.prepare(j, NULL);
    if (rc == 0)
        assert_true(job_test_reply_empty(j->reply));
    return rc;
}

static void job_use_token(pl_job *j, const char *token)
{
    memset(j->req.card.number, 0, sizeof j->req.card.number);
    snprintf(j->req.card.token, sizeof j->req.card.token, "%s", token);
    j->card_hash[0] = '\0';
    j->card_masked[0] = '\0';
}

static void test_prepare_operation(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    pl_job j;

    /* CYB has Request token: a card number becomes token+auth, Decision Manager on. */
    job_init(&j, s, "p1");
    assert_int_equal(auth_prepare(&j), 0);
    assert_int_equal(j.call.op, PL_OP_TOKEN_AUTH);
    assert_ptr_equal(j.call.req, &j.req);
    assert_true(j.call.decision_manager);
    assert_string_equal(j.merchant_id, "paylink_demo");
    assert_ptr_equal(j.call.merchant_id, j.merchant_id);
    assert_string_equal(j.call.currency, "USD");
    assert_null(j.call.bill_country);
    assert_null(j.call.ship_country);
    assert_string_equal(j.call.card_type_code, "001");
    assert_int_equal(j.call.amount, 12345);

    /* A token: a plain authorization. */
    job_init(&j, s, "p2");
    job_use_token(&j, "7030000000000001234");
    assert_int_equal(auth_prepare(&j), 0);
    assert_int_equal(j.call.op, PL_OP_AUTH);
    assert_true(j.call.decision_manager);

    /* Batch authorizations skip Decision Manager. */
    job_init(&j, s, "p3");
    j.req.online = false;
    assert_int_equal(auth_prepare(&j), 0);
    assert_int_equal(j.call.op, PL_OP_TOKEN_AUTH);
    assert_false(j.call.decision_manager);

    /* A token request for a card number: token only, never scored. */
    job_init(&j, s, "p4");
    j.req.type = PL_REQ_TOKEN;
    j.req.has_amount = false;
    j.req.amount = 0;
    assert_int_equal(auth_prepare(&j), 0);
    assert_int_equal(j.call.op, PL_OP_TOKEN);
    assert_false(j.call.decision_manager);
    assert_int_equal(j.call.amount, 0);

    /* A token request for what already is a token: answered without a call. */
    job_init(&j, s, "p5");
    j.req.type = PL_REQ_TOKEN;
    job_use_token(&j, "7030000000000009999");
    assert_int_equal(auth_prepare(&j), 1);
    assert_int_equal(j.reply->status, PL_ST_APPROVED);
    assert_string_equal(j.reply->token, "7030000000000009999");
    assert_true(j.reply->message[0] != '\0');
    pl_services_unref(s);

    /* Without Request token and Decision Manager on the bureau. */
    s = load_with("UPDATE auth_service SET request_token = false, decision_manager = false "
                  "WHERE service_bureau = 'CYB'");
    job_init(&j, s, "p6");
    assert_int_equal(auth_prepare(&j), 0);
    assert_int_equal(j.call.op, PL_OP_AUTH);
    assert_false(j.call.decision_manager);
    pl_services_unref(s);
}

static void test_prepare_configuration(void **state)
{
    (void)state;
    pl_services *s = load_with(hierarchy_sql);
    pl_job j;

    /* The merchant ID hierarchy, as prepare applies it. */
    job_init(&j, s, "m1");
    snprintf(j.req.entity, sizeof j.req.entity, "EAST");
    snprintf(j.req.pay_type, sizeof j.req.pay_type, "MC");
    assert_int_equal(auth_prepare(&j), 0);
    assert_string_equal(j.merchant_id, "mid_paytype_mc");
    assert_string_equal(j.call.card_type_code, "002");

    job_init(&j, s, "m2");
    snprintf(j.req.entity, sizeof j.req.entity, "EAST");
    assert_int_equal(auth_prepare(&j), 0);
    assert_string_equal(j.merchant_id, "mid_entity_east");

    job_init(&j, s, "m3");
    snprintf(j.req.entity, sizeof j.req.entity, "WEST");
    assert_int_equal(auth_prepare(&j), 0);
    assert_string_equal(j.merchant_id, "paylink_demo");

    /* Without a pay type in the request, the card's type decides. */
    job_init(&j, s, "m4");
    snprintf(j.card_type, sizeof j.card_type, "MC");
    assert_int_equal(auth_prepare(&j), 0);
    assert_string_equal(j.merchant_id, "mid_paytype_mc");
    assert_string_equal(j.call.card_type_code, "002");

    /* A pay type the bureau has no row for: no code, derived from the card later. */
    job_init(&j, s, "m5");
    snprintf(j.req.pay_type, sizeof j.req.pay_type, "ZZ");
    assert_int_equal(auth_prepare(&j), 0);
    assert_null(j.call.card_type_code);
    pl_services_unref(s);

    /* Currency and country cross-references. */
    s = load_with("INSERT INTO auth_service_currency VALUES ('CYB', 'USD', '840') "
                  "ON CONFLICT DO NOTHING;"
                  "INSERT INTO auth_service_country VALUES ('CYB', 'US', 'USA') "
                  "ON CONFLICT DO NOTHING");
    job_init(&j, s, "x1");
    pl_address bill_to = {.country = "US"}, ship_to = {.country = "CA"};
    j.req.bill_to = &bill_to;
    j.req.ship_to = &ship_to;
    assert_int_equal(auth_prepare(&j), 0);
    assert_string_equal(j.call.currency, "840");
    assert_string_equal(j.call.bill_country, "USA");
    assert_string_equal(j.call.ship_country, "CA");
    pl_services_unref(s);
}

/* Fills job->res with a bureau answer and maps it. */
static void map_answer(pl_job *j, const char *decision, const char *code, bool has_amount,
                       int64_t amount)
{
    memset(j->res, 0, sizeof *j->res);
    memset(j->reply, 0, sizeof *j->reply);
    snprintf(j->res->decision, sizeof j->res->decision, "%s", decision);
    snprintf(j->res->reason_code, sizeof j->res->reason_code, "%s", code);
    snprintf(j->res->request_id, sizeof j->res->request_id, "6400000000000000000001");
    snprintf(j->res->request_token, sizeof j->res->request_token, "AhjzbwSTHXYZ");
    j->res->has_amount = has_amount;
    j->res->amount = amount;
    if (strcmp(decision, "ACCEPT") == 0) {
        snprintf(j->res->auth_code, sizeof j->res->auth_code, "831000");
        snprintf(j->res->auth_date, sizeof j->res->auth_date, "2026-11-26T04:01:02Z");
        snprintf(j->res->avs, sizeof j->res->avs, "Y");
        snprintf(j->res->cvv, sizeof j->res->cvv, "M");
        snprintf(j->res->token, sizeof j->res->token, "7030000000000001111");
    }
    pl_auth_spec.map(j);
}

/* Asserts a mapped status and hold reason. */
static void mapped(const pl_job *j, pl_status status, const char *hold)
{
    if (j->reply->status != status)
        fail_msg("%s %s: status %s, want %s", j->res->decision, j->res->reason_code,
                 pl_status_name(j->reply->status), pl_status_name(status));
    assert_string_equal(j->reply->hold_reason, hold);
}

static void test_map_answers(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    pl_job j;
    job_init(&j, s, "a1");
    assert_int_equal(auth_prepare(&j), 0);

    /* ACCEPT 100: approved for the amount asked, with the bureau's references. */
    map_answer(&j, "ACCEPT", "100", false, 0);
    mapped(&j, PL_ST_APPROVED, "");
    assert_true(j.reply->has_amount_approved);
    assert_int_equal(j.reply->amount_approved, 12345);
    assert_string_equal(j.reply->vendor_response, "100");
    assert_string_equal(j.reply->decision, "ACCEPT");
    assert_string_equal(j.reply->auth.number, "831000");
    assert_string_equal(j.reply->auth.date, "2026-11-26T04:01:02Z");
    assert_string_equal(j.reply->auth.transaction_id, "6400000000000000000001");
    assert_string_equal(j.reply->auth.request_token, "AhjzbwSTHXYZ");
    assert_string_equal(j.reply->auth.avs, "Y");
    assert_string_equal(j.reply->auth.cvv, "M");
    assert_string_equal(j.reply->token, "7030000000000001111");

    /* ACCEPT 110: a partial approval for the smaller amount the bureau reports. */
    map_answer(&j, "ACCEPT", "110", true, 5000);
    mapped(&j, PL_ST_APPROVED, "");
    assert_true(j.reply->has_amount_approved);
    assert_int_equal(j.reply->amount_approved, 5000);

    /* Issue 6 B.1: a REVIEW is an issuer approval held for fraud review: its amount is
     * recorded (the requested one when the bureau reports none). */
    map_answer(&j, "REVIEW", "480", false, 0);
    mapped(&j, PL_ST_REVIEW, "FS");
    assert_true(j.reply->has_amount_approved);
    assert_int_equal(j.reply->amount_approved, j.req.amount);

    /* Issue 6 B.7: an approval whose AVS (else CVV) result vendor_response holds is held
     * (demo: AVS N → AV, CVN N → CV); AVS comes first; a matching AVS stays unheld. */
    map_answer(&j, "ACCEPT", "100", false, 0);
    snprintf(j.res->avs, sizeof j.res->avs, "N");
    memset(j.reply, 0, sizeof *j.reply);
    pl_auth_spec.map(&j);
    mapped(&j, PL_ST_APPROVED, "AV");
    map_answer(&j, "ACCEPT", "100", false, 0);
    snprintf(j.res->cvv, sizeof j.res->cvv, "N");
    memset(j.reply, 0, sizeof *j.reply);
    pl_auth_spec.map(&j);
    mapped(&j, PL_ST_APPROVED, "CV");
    map_answer(&j, "ACCEPT", "100", false, 0);
    snprintf(j.res->avs, sizeof j.res->avs, "N");
    snprintf(j.res->cvv, sizeof j.res->cvv, "N");
    memset(j.reply, 0, sizeof *j.reply);
    pl_auth_spec.map(&j);
    mapped(&j, PL_ST_APPROVED, "AV");

    map_answer(&j, "REJECT", "481", false, 0);
    mapped(&j, PL_ST_REJECTED, "FS");
    assert_string_equal(j.reply->vendor_response, "481");

    map_answer(&j, "REJECT", "400", false, 0);
    mapped(&j, PL_ST_REJECTED, "FS");

    map_answer(&j, "REJECT", "204", false, 0);
    mapped(&j, PL_ST_DECLINED, "AT");
    assert_false(j.reply->has_amount_approved);

    map_answer(&j, "REJECT", "202", false, 0);
    mapped(&j, PL_ST_DECLINED, "AT");

    /* A decline code the configuration does not know: declined, no hold. */
    map_answer(&j, "REJECT", "999", false, 0);
    mapped(&j, PL_ST_DECLINED, "");

    /* A review without a configured code still holds for fraud screening. */
    map_answer(&j, "REVIEW", "999", false, 0);
    mapped(&j, PL_ST_REVIEW, "FS");

    map_answer(&j, "ERROR", "150", false, 0);
    mapped(&j, PL_ST_ERROR, "");

    /* A SOAP fault: error, and the message names the fault. */
    memset(j.res, 0, sizeof *j.res);
    memset(j.reply, 0, sizeof *j.reply);
    snprintf(j.res->fault_code, sizeof j.res->fault_code, "wsse:FailedCheck");
    snprintf(j.res->fault_string, sizeof j.res->fault_string,
             "Security Data : UsernameToken "
             "authentication failed.");
    pl_auth_spec.map(&j);
    mapped(&j, PL_ST_ERROR, "");
    assert_non_null(strstr(j.reply->message, "wsse:FailedCheck"));
    assert_false(j.reply->has_amount_approved);

    /* A fault wins over whatever decision came with it. */
    snprintf(j.res->decision, sizeof j.res->decision, "ACCEPT");
    pl_auth_spec.map(&j);
    assert_int_equal(j.reply->status, PL_ST_ERROR);

    /* No usable decision: the vendor response table decides. */
    map_answer(&j, "", "100", false, 0);
    mapped(&j, PL_ST_APPROVED, "");
    assert_int_equal(j.reply->amount_approved, 12345);
    map_answer(&j, "", "204", false, 0);
    mapped(&j, PL_ST_DECLINED, "AT");
    map_answer(&j, "", "999", false, 0);
    mapped(&j, PL_ST_ERROR, "");
    map_answer(&j, "MAYBE", "100", false, 0);
    mapped(&j, PL_ST_APPROVED, "");

    /* A token request approved: the token, and no amount. */
    job_init(&j, s, "a2");
    j.req.type = PL_REQ_TOKEN;
    j.req.has_amount = false;
    assert_int_equal(auth_prepare(&j), 0);
    map_answer(&j, "ACCEPT", "100", false, 0);
    mapped(&j, PL_ST_APPROVED, "");
    assert_false(j.reply->has_amount_approved);
    assert_string_equal(j.reply->token, "7030000000000001111");
    pl_services_unref(s);
}

/* Followups only publish for a 481 reject of an issued authorization with Send reversal; the
 * cases that publish nothing need no engine. */
static void test_followups_without_reversal(void **state)
{
    (void)state;
    pl_services *s = load_with(NULL);
    pl_job j;
    job_init(&j, s, "f1");
    static const char *const replies[] = {
        "{\"status\":\"approved\",\"vendor_response\":\"100\","
        "\"auth\":{\"transaction_id\":\"64000\"}}",
        "{\"status\":\"rejected\",\"vendor_response\":\"400\","
        "\"auth\":{\"transaction_id\":\"64000\"}}",
        /* No authorization to reverse. */
        "{\"status\":\"rejected\",\"vendor_response\":\"481\"}",
        "{\"status\":\"rejected\",\"vendor_response\":\"481\",\"auth\":{}}",
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        json_object *o = json_tokener_parse(replies[i]);
        assert_non_null(o);
        assert_int_equal(pl_auth_spec.followups(&j, o), 0);
        json_object_put(o);
    }
    pl_services_unref(s);

    /* Without Send reversal, even a reversible 481 publishes nothing. */
    s = load_with("UPDATE auth_service SET send_reversal = false WHERE service_bureau = 'CYB'");
    job_init(&j, s, "f2");
    json_object *o = json_tokener_parse("{\"status\":\"rejected\",\"vendor_response\":\"481\","
                                        "\"auth\":{\"transaction_id\":\"64000\"}}");
    assert_int_equal(pl_auth_spec.followups(&j, o), 0);
    json_object_put(o);
    pl_services_unref(s);
}

/* ---- the spec's statements against the schema ---------------------------------------- */

/* The first field of a one-row query on the plain connection, keyed by request id. */
static void row_value(const char *sql, const char *rid, char *out, size_t outsize)
{
    const char *p[] = {rid};
    PGresult *r = PQexecParams(g_admin, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char m[512];
        snprintf(m, sizeof m, "%s (%d rows)", PQresultErrorMessage(r), PQntuples(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    snprintf(out, outsize, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* Records, marks sent, maps an answer and stores it, as the engine does. */
static void lifecycle(pl_db *db, pl_job *j, const char *decision, const char *code, bool has_amount,
                      int64_t amount)
{
    assert_int_equal(run_unit(db, pl_auth_spec.record, j), 1);
    /* A redelivery records nothing new. */
    assert_int_equal(run_unit(db, pl_auth_spec.record, j), 0);
    assert_int_equal(auth_prepare(j), 0);
    snprintf(j->op_name, sizeof j->op_name, "%s", pl_bureau_op_name(j->call.op));
    snprintf(j->attempt, sizeof j->attempt, "it-attempt-1");
    assert_int_equal(run_unit(db, pl_auth_spec.mark_sent, j), 1);
    /* The same attempt again (a unit re-sent after a lost connection) knows its own mark ... */
    assert_int_equal(run_unit(db, pl_auth_spec.mark_sent, j), 1);
    /* ... another attempt (another consumer, a redelivery) finds the row taken. */
    snprintf(j->attempt, sizeof j->attempt, "it-attempt-2");
    assert_int_equal(run_unit(db, pl_auth_spec.mark_sent, j), 0);
    map_answer(j, decision, code, has_amount, amount);
    j->reply_json = pl_reply_to_json(&j->req, j->reply);
    assert_non_null(j->reply_json);
    run_unit(db, pl_auth_spec.store, j);
    /* Storing again changes nothing: the row is final. */
    run_unit(db, pl_auth_spec.store, j);
    free(j->reply_json);
    j->reply_json = NULL;
}

static void test_spec_statements(void **state)
{
    (void)state;
    char err[512] = "";
    pl_db *db = pl_db_new(g_conninfo, pl_auth_spec.stmts, pl_auth_spec.nstmts, err, sizeof err);
    if (!db)
        fail_msg("pl_db_new with the auth statements: %s", err);
    pl_services *s = load_with(NULL);
    pl_job j;
    char v[256];

    /* Decision Manager reject of a card number on CYB. */
    job_init(&j, s, "s481");
    lifecycle(db, &j, "REJECT", "481", false, 0);
    const char *rid = j.req.request_id;
    row_value("SELECT concat_ws('|', status, decision, vendor_response, hold_reason, "
              "payment_deactivated, operation, merchant_id, request_type, auth_mode, amount, "
              "currency, card_masked, card_type, exp_month, exp_year, card_hash IS NOT NULL, "
              "sent_at IS NOT NULL, answered_at IS NOT NULL, reply->>'status') "
              "FROM cc_auth_trans WHERE request_id = $1",
              rid, v, sizeof v);
    assert_string_equal(v, "rejected|REJECT|481|FS|t|token_auth|paylink_demo|auth|online|123.45|"
                           "USD|411111******1111|VI|12|2030|t|t|t|rejected");
    row_value("SELECT concat_ws('|', count(*), min(status), min(transaction_type), "
              "min(transaction_id)) FROM auth_history WHERE request_id = $1",
              rid, v, sizeof v);
    assert_string_equal(v, "1|rejected|token_auth|6400000000000000000001");

    /* A partial approval with a token, in batch mode. */
    job_init(&j, s, "s110");
    job_use_token(&j, "7030000000000005555");
    j.req.online = false;
    lifecycle(db, &j, "ACCEPT", "110", true, 5000);
    rid = j.req.request_id;
    row_value("SELECT concat_ws('|', status, amount_approved, auth_number, avs_response, "
              "cvv_response, token_created, payment_deactivated, operation, auth_mode, "
              "card_token, card_hash IS NULL, card_masked = '') "
              "FROM cc_auth_trans WHERE request_id = $1",
              rid, v, sizeof v);
    assert_string_equal(v, "approved|50.00|831000|Y|M|7030000000000001111|f|auth|batch|"
                           "7030000000000005555|t|t");
    row_value("SELECT concat_ws('|', count(*), min(amount_authorized), min(auth_number)) "
              "FROM auth_history WHERE request_id = $1",
              rid, v, sizeof v);
    assert_string_equal(v, "1|50.00|831000");

    /* A SOAP fault: error, with the fault in error_text (and no card data). */
    job_init(&j, s, "sfault");
    assert_int_equal(run_unit(db, pl_auth_spec.record, &j), 1);
    assert_int_equal(auth_prepare(&j), 0);
    snprintf(j.op_name, sizeof j.op_name, "%s", pl_bureau_op_name(j.call.op));
    assert_int_equal(run_unit(db, pl_auth_spec.mark_sent, &j), 1);
    memset(j.res, 0, sizeof *j.res);
    snprintf(j.res->fault_code, sizeof j.res->fault_code, "soap:Client");
    snprintf(j.res->fault_string, sizeof j.res->fault_string, "Element merchantID missing");
    memset(j.reply, 0, sizeof *j.reply);
    pl_auth_spec.map(&j);
    j.reply_json = pl_reply_to_json(&j.req, j.reply);
    run_unit(db, pl_auth_spec.store, &j);
    free(j.reply_json);
    j.reply_json = NULL;
    row_value("SELECT concat_ws('|', status, error_text) FROM cc_auth_trans "
              "WHERE request_id = $1",
              j.req.request_id, v, sizeof v);
    assert_string_equal(v, "error|soap:Client: Element merchantID missing");
    assert_null(strstr(v, "4111111111111111"));

    pl_services_unref(s);
    pl_db_destroy(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_demo),
        cmocka_unit_test(test_secret_resolution_failure),
        cmocka_unit_test(test_vendor_responses),
        cmocka_unit_test(test_vendor_responses_svc),
        cmocka_unit_test(test_cross_references),
        cmocka_unit_test(test_paytypes),
        cmocka_unit_test(test_merchant_id_hierarchy),
        cmocka_unit_test(test_proxy_and_production),
        cmocka_unit_test(test_process_wide_proxy),
        cmocka_unit_test(test_external_service),
        cmocka_unit_test(test_notify_installments),
        cmocka_unit_test(test_ext_refusal),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_reads_one_snapshot),
        cmocka_unit_test(test_failed_load_leaves_the_connection_usable),
        cmocka_unit_test(test_refresh_keeps_a_key_it_can_no_longer_read),
        cmocka_unit_test(test_prepare_operation),
        cmocka_unit_test(test_prepare_configuration),
        cmocka_unit_test(test_map_answers),
        cmocka_unit_test(test_followups_without_reversal),
        cmocka_unit_test(test_spec_statements),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
