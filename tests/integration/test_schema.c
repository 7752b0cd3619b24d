/*
 * test_schema.c: the rules the schema itself enforces in PostgreSQL (PAYLINK_DB, migrated).
 *
 * Final outcomes cannot be overwritten (trigger), CHECK constraints refuse impossible values,
 * every paylink table and column is documented (COMMENT ON), and no column is made to hold a
 * CVV or a full card number. Everything that writes runs in one transaction that is rolled
 * back, each attempt in a savepoint, so the database is left as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "engine.h"

#include "bureau.h"

#define CHECK_VIOLATION "23514"
#define UNIQUE_VIOLATION "23505"
#define FK_VIOLATION "23503"

static PGconn *g_db;

static int group_setup(void **state)
{
    (void)state;
    const char *conninfo = getenv("PAYLINK_DB");
    if (!conninfo || !*conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return -1;
    }
    g_db = PQconnectdb(conninfo);
    if (PQstatus(g_db) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(g_db));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(g_db);
    return 0;
}

/* Every test that writes starts a transaction here and rolls it back in teardown. */
static int begin(void **state)
{
    (void)state;
    PGresult *r = PQexec(g_db, "BEGIN");
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(r);
    return rc;
}

static int rollback(void **state)
{
    (void)state;
    PQclear(PQexec(g_db, "ROLLBACK"));
    return 0;
}

static void exec_ok(const char *sql)
{
    PGresult *r = PQexec(g_db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s\n  failed: %s", sql, m);
    }
    PQclear(r);
}

/* Runs sql (with n text params) in a savepoint expecting SQLSTATE want; returns the error
 * message (static). */
static const char *exec_fails_params(const char *sql, int n, const char *const *params,
                                     const char *want)
{
    static char msg[512];
    exec_ok("SAVEPOINT attempt");
    PGresult *r = PQexecParams(g_db, sql, n, NULL, params, NULL, NULL, 0);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    bool failed = PQresultStatus(r) == PGRES_FATAL_ERROR;
    char got[8];
    snprintf(got, sizeof got, "%s", state ? state : "");
    PQclear(r);
    exec_ok("ROLLBACK TO SAVEPOINT attempt");
    if (!failed)
        fail_msg("%s\n  was accepted; want SQLSTATE %s", sql, want);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  failed with SQLSTATE %s (%s); want %s", sql, got, msg, want);
    return msg;
}

static const char *exec_fails(const char *sql, const char *want)
{
    return exec_fails_params(sql, 0, NULL, want);
}

/* Rows of a query, one per line ("" when none), for messages listing offenders. */
static int query_lines(const char *sql, char *out, size_t outsize)
{
    PGresult *r = PQexec(g_db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    size_t len = 0;
    out[0] = '\0';
    int n = PQntuples(r);
    for (int i = 0; i < n && len + 1 < outsize; i++) {
        int w = snprintf(out + len, outsize - len, "  %s\n", PQgetvalue(r, i, 0));
        len += w > 0 ? (size_t)w : 0;
    }
    if (len >= outsize)
        out[outsize - 1] = '\0';
    PQclear(r);
    return n;
}

static long query_long(const char *sql)
{
    PGresult *r = PQexec(g_db, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* A valid authorization row in status `status` with request id `rid`, by token. */
#define INSERT_AUTH(rid, status)                                                                   \
    "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "    \
    "pay_seq, service_bureau, card_token, status) VALUES ('" rid "', repeat('a', 64), 'auth', 1, " \
    "'O1', 1, 'CYB', '7030000000000001234', '" status "')"

static void test_final_status_is_kept(void **state)
{
    (void)state;
    static const char *const finals[] = {"approved", "declined", "review", "rejected", "error"};
    static const char *const inserts[] = {
        INSERT_AUTH("it-schema-approved", "approved"),
        INSERT_AUTH("it-schema-declined", "declined"),
        INSERT_AUTH("it-schema-review", "review"),
        INSERT_AUTH("it-schema-rejected", "rejected"),
        INSERT_AUTH("it-schema-error", "error"),
    };
    for (size_t i = 0; i < 5; i++)
        exec_ok(inserts[i]);
    for (size_t i = 0; i < 5; i++) {
        /* Any other status, including the non-final ones, is refused. */
        static const char *const to[] = {"approved", "declined", "review", "rejected",
                                         "error",    "unknown",  "sent",   "received"};
        char rid[64];
        snprintf(rid, sizeof rid, "it-schema-%s", finals[i]);
        for (size_t k = 0; k < sizeof to / sizeof to[0]; k++) {
            if (strcmp(to[k], finals[i]) == 0)
                continue;
            const char *p[] = {to[k], rid};
            const char *m =
                exec_fails_params("UPDATE cc_auth_trans SET status = $1 WHERE request_id = $2", 2,
                                  p, CHECK_VIOLATION);
            if (!strstr(m, "is final"))
                fail_msg("%s -> %s: unexpected message %s", rid, to[k], m);
        }
    }
    /* Writing the same status again is not a change. */
    exec_ok("UPDATE cc_auth_trans SET status = 'approved' WHERE request_id = "
            "'it-schema-approved'");
    assert_int_equal(
        query_long("SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE 'it-schema-%' "
                   "AND status::text = substr(request_id, 11)"),
        5);

    /* The open states move on: received → sent → unknown → a final outcome. */
    exec_ok(INSERT_AUTH("it-schema-open", "received"));
    exec_ok("UPDATE cc_auth_trans SET status = 'sent' WHERE request_id = 'it-schema-open'");
    exec_ok("UPDATE cc_auth_trans SET status = 'unknown' WHERE request_id = 'it-schema-open'");
    exec_ok("UPDATE cc_auth_trans SET status = 'declined' WHERE request_id = 'it-schema-open'");
    exec_fails("UPDATE cc_auth_trans SET status = 'approved' WHERE request_id = 'it-schema-open'",
               CHECK_VIOLATION);
}

/* Issue 6 A.2: a late answer to a row reported unknown closes its required response, whoever
 * stores it (012_late_answers.sql); a row that was not unknown leaves other rows alone. */
static void test_late_answer_closes_required_response(void **state)
{
    (void)state;
    exec_ok(INSERT_AUTH("it-schema-late", "unknown"));
    exec_ok("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, reason) VALUES ('it-schema-late', 'auth', 1, 'O1', 1, "
            "'CYB', 'auth', 'timeout')");
    exec_ok(INSERT_AUTH("it-schema-late2", "sent"));
    /* The late answer, stored with its reply as the worker stores it (044: the reply becomes the
     * final one, for the resolver to publish). */
    exec_ok("UPDATE cc_auth_trans SET status = 'approved', reply = '{\"v\": 1, \"request_id\": "
            "\"it-schema-late\", \"status\": \"approved\", \"replayed\": true}' "
            "WHERE request_id = 'it-schema-late'");
    exec_ok("UPDATE cc_auth_trans SET status = 'approved', reply = '{\"status\": \"approved\"}' "
            "WHERE request_id = 'it-schema-late2'");
    assert_int_equal(query_long("SELECT count(*) FROM required_response WHERE request_id = "
                                "'it-schema-late' AND status = 'resolved' AND resolution = "
                                "'approved' AND resolved_by = 'paylink-auth' "
                                "AND resolved_how = 'late_answer' AND reply_pending"),
                     1);
    assert_int_equal(query_long("SELECT count(*) FROM required_response WHERE status = 'open' "
                                "AND request_id LIKE 'it-schema-late%'"),
                     0);
    assert_int_equal(query_long("SELECT count(*) FROM cc_auth_trans WHERE request_id = "
                                "'it-schema-late' AND reply->>'resolved' = 'true' AND "
                                "reply->>'resolution' = 'query' AND reply->>'status' = "
                                "'approved' AND NOT reply ? 'replayed'"),
                     1);
    /* A row that was not unknown keeps its reply as stored. */
    assert_int_equal(query_long("SELECT count(*) FROM cc_auth_trans WHERE request_id = "
                                "'it-schema-late2' AND reply = '{\"status\": \"approved\"}'"),
                     1);
    /* A required response the resolver closed before it applied its outcome (its own order)
     * is left alone, and so is its reply. */
    exec_ok(INSERT_AUTH("it-schema-late3", "unknown"));
    exec_ok("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, reason, status, resolution, resolved_how, resolved_at, "
            "reply_pending) VALUES ('it-schema-late3', 'auth', 1, 'O1', 1, 'CYB', 'auth', "
            "'timeout', 'resolved', 'approved', 'query', now(), true)");
    exec_ok("UPDATE cc_auth_trans SET status = 'approved', reply = '{\"resolved\": true, "
            "\"resolution\": \"operator\"}' WHERE request_id = 'it-schema-late3'");
    assert_int_equal(query_long("SELECT count(*) FROM cc_auth_trans WHERE request_id = "
                                "'it-schema-late3' AND reply->>'resolution' = 'operator'"),
                     1);

    /* The follow-ups stored with a late answer (the engine's pl_followups, in the same unit as
     * the store): found by the reply as the trigger rewrote it. Before, the rewritten reply
     * matched nothing and a late reject's reversal was never stored. */
    exec_ok(INSERT_AUTH("it-schema-late4", "unknown"));
    exec_ok("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, reason) VALUES ('it-schema-late4', 'auth', 1, 'O1', 1, "
            "'CYB', 'auth', 'timeout')");
    const char *reply = "{\"v\": 1, \"request_id\": \"it-schema-late4\", \"status\": "
                        "\"rejected\", \"vendor_response\": \"481\"}";
    const char *up[] = {"it-schema-late4", reply};
    PGresult *r = PQexecParams(g_db,
                               "UPDATE cc_auth_trans SET status = 'rejected', reply = $2::jsonb "
                               "WHERE request_id = $1",
                               2, NULL, up, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    char sql[600];
    snprintf(sql, sizeof sql, PL_ENGINE_SQL_FOLLOWUPS, "cc_auth_trans");
    const char *fp[] = {"it-schema-late4",
                        "[{\"topic\": \"t\", \"key\": \"k\", \"payload\": \"p\"}]", reply};
    r = PQexecParams(g_db, sql, 3, NULL, fp, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    assert_string_equal(PQcmdTuples(r), "1");
    PQclear(r);
    assert_int_equal(query_long("SELECT count(*) FROM cc_auth_trans WHERE request_id = "
                                "'it-schema-late4' AND reply->>'resolved' = 'true' AND "
                                "jsonb_array_length(followups) = 1"),
                     1);
    /* Another reply than the one written is not it. */
    exec_ok("UPDATE cc_auth_trans SET followups = NULL WHERE request_id = 'it-schema-late4'");
    fp[2] = "{\"v\": 1, \"status\": \"approved\"}";
    r = PQexecParams(g_db, sql, 3, NULL, fp, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    assert_string_equal(PQcmdTuples(r), "0");
    PQclear(r);
}

static void test_checks_refuse_bad_values(void **state)
{
    (void)state;
    /* The base row is accepted, so each failure below is the one changed value. */
    exec_ok(INSERT_AUTH("it-schema-base", "received"));
    static const char *const bad[] = {
        INSERT_AUTH("it-schema-b1", "bogus"),
        INSERT_AUTH("it-schema-b2", "APPROVED"),
        INSERT_AUTH("it-schema-b3", ""),
        /* request_type, operation, auth_mode, company, pay_seq, exp_month. */
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_token) VALUES ('it-schema-b4', repeat('a', 64), 'refund', "
        "1, 'O1', 1, 'CYB', 't')",
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau, card_token) VALUES ('it-schema-b5', "
        "repeat('a', 64), 'auth', 'capture', 1, 'O1', 1, 'CYB', 't')",
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, auth_mode, company, "
        "order_number, pay_seq, service_bureau, card_token) VALUES ('it-schema-b6', "
        "repeat('a', 64), 'auth', 'manual', 1, 'O1', 1, 'CYB', 't')",
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_token) VALUES ('it-schema-b7', repeat('a', 64), 'auth', "
        "0, 'O1', 1, 'CYB', 't')",
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_token) VALUES ('it-schema-b8', repeat('a', 64), 'auth', "
        "1000, 'O1', 1, 'CYB', 't')",
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_token) VALUES ('it-schema-b9', repeat('a', 64), 'auth', "
        "1, 'O1', 0, 'CYB', 't')",
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_token, exp_month) VALUES ('it-schema-b10', "
        "repeat('a', 64), 'auth', 1, 'O1', 1, 'CYB', 't', 13)",
        /* A row past 'received' must say which card: a hash or a token. */
        "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, status) VALUES ('it-schema-b11', repeat('a', 64), 'auth', 1, "
        "'O1', 1, 'CYB', 'approved')",
        /* Checks hold on UPDATE too. */
        "UPDATE cc_auth_trans SET status = 'bogus' WHERE request_id = 'it-schema-base'",
        /* History. */
        "INSERT INTO auth_history (request_id, company, order_number, pay_seq, service_bureau, "
        "transaction_type, status) VALUES ('it-schema-base', 1, 'O1', 1, 'CYB', 'auth', "
        "'pending')",
        "INSERT INTO auth_history (request_id, company, order_number, pay_seq, service_bureau, "
        "transaction_type, status) VALUES ('it-schema-base', 1, 'O1', 1, 'CYB', 'capture', "
        "'approved')",
        /* Required responses. */
        "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, reason) VALUES ('it-schema-base', 'auth', 1, 'O1', 1, 'CYB', "
        "'auth', 'because')",
        "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, reason) VALUES ('it-schema-base', 'billing', 1, 'O1', 1, "
        "'CYB', 'auth', 'timeout')",
        "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, reason, status) VALUES ('it-schema-base', 'auth', 1, 'O1', "
        "1, 'CYB', 'auth', 'timeout', 'resolved')",
        "INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
        "service_bureau, operation, reason, resolution) VALUES ('it-schema-base', 'auth', 1, "
        "'O1', 1, 'CYB', 'auth', 'timeout', 'maybe')",
        /* Configuration. */
        "INSERT INTO auth_service (service_bureau, protocol) VALUES ('ITX', 'XYZ')",
        "INSERT INTO auth_service (service_bureau, protocol, response_time_ms) VALUES ('ITX', "
        "'CYB', 50)",
        "INSERT INTO auth_service (service_bureau, protocol, connect_attempts) VALUES ('ITX', "
        "'CYB', 11)",
        "INSERT INTO auth_service (service_bureau, protocol, proxy_port) VALUES ('ITX', 'CYB', 0)",
        "INSERT INTO auth_service_currency VALUES ('CYB', 'usd', '840')",
        "INSERT INTO auth_service_country VALUES ('CYB', 'U1', 'USA')",
        "INSERT INTO vendor_paytype (service_bureau, pay_type, reauth_days) VALUES ('CYB', 'ZZ', "
        "400)",
        "INSERT INTO merchant_id_override VALUES (0, 'E', 'CYB', 'm')",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        exec_fails(bad[i], CHECK_VIOLATION);

    /* The idempotency key is unique; history belongs to a recorded request. */
    exec_fails(INSERT_AUTH("it-schema-base", "received"), UNIQUE_VIOLATION);
    exec_fails("INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
               "service_bureau, transaction_type, status) VALUES ('it-schema-none', 1, 'O1', 1, "
               "'CYB', 'auth', 'approved')",
               FK_VIOLATION);
    exec_ok("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, reason) VALUES ('it-schema-base', 'auth', 1, 'O1', 1, "
            "'CYB', 'auth', 'timeout')");
    exec_fails("INSERT INTO required_response (request_id, worker, company, order_number, "
               "pay_seq, service_bureau, operation, reason) VALUES ('it-schema-base', 'auth', 1, "
               "'O1', 1, 'CYB', 'auth', 'connection_lost')",
               UNIQUE_VIOLATION);
    /* Resolving sets resolved_at with the status, or not at all. */
    exec_fails("UPDATE required_response SET status = 'resolved' WHERE request_id = "
               "'it-schema-base'",
               CHECK_VIOLATION);
    exec_ok("UPDATE required_response SET status = 'resolved', resolved_at = now(), resolution = "
            "'declined' WHERE request_id = 'it-schema-base'");
}

/* A stored value request (013_stored_value.sql) of type `type` in status `status`, on a card. */
#define INSERT_SVC(rid, type, status)                                                              \
    "INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "        \
    "pay_seq, service_bureau, amount, currency, card_masked, card_hash, status) VALUES ('" rid     \
    "', repeat('a', 64), '" type "', 1, 'O1', 1, 'RLT', 11.07, 'USD', '************4793', "        \
    "repeat('b', 64), '" status "')"

/* A card of the Stored Value Card table with masked number `masked` and hash `hash`. */
#define INSERT_CARD(masked, hash)                                                                  \
    "INSERT INTO stored_value_card (service_bureau, company, order_number, order_line, "           \
    "card_masked, card_hash, virtual) VALUES ('RLT', 1, 'O1', 1, '" masked "', " hash ", true)"

/* Stored value requests take part in the rules of the other transaction tables: final outcomes
 * stay, a late answer closes the svc required response; their checks keep card data masked. */
static void test_stored_value(void **state)
{
    (void)state;
    exec_ok(INSERT_SVC("it-schema-svc-final", "auth", "approved"));
    exec_fails("UPDATE svc_trans SET status = 'declined' WHERE request_id = 'it-schema-svc-final'",
               CHECK_VIOLATION);
    exec_ok(INSERT_SVC("it-schema-svc-late", "deposit", "unknown"));
    exec_ok("INSERT INTO required_response (request_id, worker, company, order_number, pay_seq, "
            "service_bureau, operation, reason) VALUES ('it-schema-svc-late', 'svc', 1, 'O1', 1, "
            "'RLT', 'svc_postauth', 'timeout')");
    exec_ok("UPDATE svc_trans SET status = 'declined' WHERE request_id = 'it-schema-svc-late'");
    assert_int_equal(query_long("SELECT count(*) FROM required_response WHERE request_id = "
                                "'it-schema-svc-late' AND status = 'resolved' AND resolution = "
                                "'declined' AND resolved_by = 'paylink-svc'"),
                     1);
    /* A generate has no card until the bureau gives it one; every other request names one. */
    exec_ok("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
            "pay_seq, service_bureau) VALUES ('it-schema-svc-gen', repeat('a', 64), 'generate', "
            "1, 'O1', 1, 'RLT')");
    exec_ok(INSERT_CARD("************4793", "repeat('b', 64)"));
    /* Both show in the DBA views, the card masked. */
    assert_int_equal(query_long("SELECT count(*) FROM order_payment_history WHERE kind = "
                                "'stored value' AND request_id LIKE 'it-schema-svc-%'"),
                     3);
    assert_int_equal(query_long("SELECT count(*) FROM svc_card_activity WHERE request_id LIKE "
                                "'it-schema-svc-%' AND card_id IS NOT NULL AND card_masked = "
                                "'************4793'"),
                     2);

    static const char *const bad[] = {
        INSERT_SVC("it-schema-svc-b1", "void", "received"),
        INSERT_SVC("it-schema-svc-b2", "auth", "review"),
        /* A card number where the mask belongs, a hash that is not one. */
        "INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_masked, card_hash) VALUES ('it-schema-svc-b3', "
        "repeat('a', 64), 'balance', 1, 'O1', 1, 'RLT', '4105138386844793', repeat('b', 64))",
        "INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_masked, card_hash) VALUES ('it-schema-svc-b4', "
        "repeat('a', 64), 'balance', 1, 'O1', 1, 'RLT', '410513******4793', repeat('b', 64))",
        "INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau, card_hash) VALUES ('it-schema-svc-b5', repeat('a', 64), "
        "'balance', 1, 'O1', 1, 'RLT', '4105138386844793')",
        /* Only a generate goes without a card. */
        "INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
        "pay_seq, service_bureau) VALUES ('it-schema-svc-b6', repeat('a', 64), 'auth', 1, 'O1', "
        "1, 'RLT')",
        "INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
        "order_number, pay_seq, service_bureau) VALUES ('it-schema-svc-b7', repeat('a', 64), "
        "'generate', 'auth', 1, 'O1', 1, 'RLT')",
        /* Only an authorization is deposited or voided against. */
        "UPDATE svc_trans SET amount_deposited = 1 WHERE request_id = 'it-schema-svc-late'",
        "UPDATE svc_trans SET amount_voided = -1 WHERE request_id = 'it-schema-svc-final'",
        INSERT_CARD("4105138386844793", "repeat('c', 64)"),
        INSERT_CARD("************4793", "repeat('C', 64)"),
        "UPDATE stored_value_card SET status = 'approved'",
        /* The RLT setup of the service bureau. */
        "UPDATE auth_service SET ws_user = 'oms:admin' WHERE service_bureau = 'RLT'",
        "UPDATE auth_service SET secret_ref = '' WHERE service_bureau = 'RLT'",
        "UPDATE auth_service SET card_prefix = '857 49' WHERE service_bureau = 'RLT'",
        "UPDATE vendor_response SET relate_response = ' CARD_INACTIVE' WHERE service_bureau = "
        "'RLT' AND relate_response = 'CARD_INACTIVE'",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        exec_fails(bad[i], CHECK_VIOLATION);
    exec_fails(INSERT_CARD("************4793", "repeat('b', 64)"), UNIQUE_VIOLATION);

    /* A Customer Engagement code maps to one vendor response of a bureau; blank means no
     * mapping and may repeat. */
    exec_ok("INSERT INTO vendor_response (service_bureau, response_code) VALUES ('RLT', 'IT1'), "
            "('RLT', 'IT2')");
    exec_fails("INSERT INTO vendor_response (service_bureau, response_code, orce_code) VALUES "
               "('RLT', 'IT3', '24')",
               UNIQUE_VIOLATION);
    exec_fails("INSERT INTO vendor_response (service_bureau, response_code, relate_response) "
               "VALUES ('RLT', 'IT3', 'CARD_NOT_FOUND')",
               UNIQUE_VIOLATION);
    exec_ok("INSERT INTO vendor_response (service_bureau, response_code, orce_code, "
            "relate_response) VALUES ('EXT', 'IT3', '24', 'CARD_NOT_FOUND')");
}

/* The capacity of a field of the bureau's answer, in characters. */
#define RESULT_CHARS(field) ((long)sizeof(((pl_bureau_result *)0)->field) - 1)

/*
 * Every column that keeps a value of the bureau's answer holds as many characters as the
 * answer's field it is read into: a value read without complaint must be storable, or an
 * approved answer becomes an unknown outcome (svc_trans.svc_transaction_id held 30 of the 64
 * of an SVATransactionID until 033). And one of 64 characters is stored, and shows through
 * the views that read it.
 */
static void test_answer_fields_fit(void **state)
{
    (void)state;
    static const struct {
        const char *table, *column;
        long chars;
    } cols[] = {
        {"cc_auth_trans", "transaction_id", RESULT_CHARS(request_id)},
        {"auth_history", "transaction_id", RESULT_CHARS(request_id)},
        {"cc_deposit_trans", "transaction_id", RESULT_CHARS(request_id)},
        {"cc_deposit_history", "transaction_id", RESULT_CHARS(request_id)},
        {"auth_reversal", "transaction_id", RESULT_CHARS(request_id)},
        {"svc_trans", "svc_transaction_id", RESULT_CHARS(request_id)},
        {"cc_auth_trans", "auth_number", RESULT_CHARS(auth_code)},
        {"auth_history", "auth_number", RESULT_CHARS(auth_code)},
        {"cc_deposit_trans", "auth_number", RESULT_CHARS(auth_code)},
        {"svc_trans", "auth_number", RESULT_CHARS(auth_code)},
        {"cc_auth_trans", "request_token", RESULT_CHARS(request_token)},
        {"cc_deposit_trans", "request_token", RESULT_CHARS(request_token)},
        {"auth_reversal", "request_token", RESULT_CHARS(request_token)},
        {"cc_auth_trans", "card_token", RESULT_CHARS(token)},
        {"svc_trans", "account_id", RESULT_CHARS(account_id)},
        {"svc_trans", "error_code", RESULT_CHARS(error_code)},
        {"svc_trans", "auth_date", RESULT_CHARS(auth_date)},
    };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT coalesce(character_maximum_length, -1) FROM information_schema.columns "
                 "WHERE table_schema = current_schema() AND table_name = '%s' AND column_name = "
                 "'%s'",
                 cols[i].table, cols[i].column);
        long width = query_long(sql);
        if (width < cols[i].chars)
            fail_msg("%s.%s holds %ld characters; the answer's field %ld", cols[i].table,
                     cols[i].column, width, cols[i].chars);
    }

    exec_ok(INSERT_SVC("it-schema-svc-longid", "auth", "sent"));
    exec_ok("UPDATE svc_trans SET status = 'approved', svc_transaction_id = repeat('7', 64) "
            "WHERE request_id = 'it-schema-svc-longid'");
    assert_int_equal(query_long("SELECT count(*) FROM order_payment_history WHERE request_id = "
                                "'it-schema-svc-longid' AND transaction_id = repeat('7', 64)"),
                     1);
    assert_int_equal(query_long("SELECT count(*) FROM svc_card_activity WHERE request_id = "
                                "'it-schema-svc-longid' AND svc_transaction_id = repeat('7', 64)"),
                     1);
}

/* A reversal `rid` that claimed 10.00 on the authorization history row of it-schema-claim. */
#define INSERT_CLAIMING_REVERSAL(rid)                                                              \
    "INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "         \
    "service_bureau, auth_request_id, auth_history_id, claim_amount) SELECT '" rid "', "           \
    "repeat('a', 64), 1, 'O1', 1, 'CYB', 'it-schema-claim', id, 10 FROM auth_history WHERE "       \
    "request_id = 'it-schema-claim'"

/* Authorization it-schema-claim (10.00, all of it claimed) and its reversal it-schema-rev, sent. */
static void insert_claimed_auth(void)
{
    exec_ok(INSERT_AUTH("it-schema-claim", "approved"));
    exec_ok("INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
            "service_bureau, transaction_type, status, amount_authorized, amount_pending) VALUES "
            "('it-schema-claim', 1, 'O1', 1, 'CYB', 'auth', 'approved', 10, 10)");
    exec_ok(INSERT_CLAIMING_REVERSAL("it-schema-rev"));
    exec_ok("UPDATE auth_reversal SET status = 'sent' WHERE request_id = 'it-schema-rev'");
}

/* The claim/settle triggers (009, 010, 014) test in their functions what their WHEN clauses
 * did until 025: a claim is released only when its row goes from sent or unknown to a final
 * status, never on the way there; the amounts refuse negative values (domains since 025). */
static void test_claims_settle_on_final_only(void **state)
{
    (void)state;
    insert_claimed_auth();
    exec_ok("UPDATE auth_reversal SET status = 'unknown' WHERE request_id = 'it-schema-rev'");
    assert_int_equal(query_long("SELECT amount_pending * 100 FROM auth_history WHERE request_id = "
                                "'it-schema-claim'"),
                     1000);
    exec_ok("UPDATE auth_reversal SET status = 'declined' WHERE request_id = 'it-schema-rev'");
    assert_int_equal(query_long("SELECT amount_pending * 100 FROM auth_history WHERE request_id = "
                                "'it-schema-claim'"),
                     0);
    /* A row refused before it was sent (received -> error) releases nothing. */
    exec_ok("UPDATE auth_history SET amount_pending = 10 WHERE request_id = 'it-schema-claim'");
    exec_ok(INSERT_CLAIMING_REVERSAL("it-schema-rev2"));
    exec_ok("UPDATE auth_reversal SET status = 'error' WHERE request_id = 'it-schema-rev2'");
    assert_int_equal(query_long("SELECT amount_pending * 100 FROM auth_history WHERE request_id = "
                                "'it-schema-claim'"),
                     1000);

    /* A stored value deposit: its claim on the authorization is settled when it is approved. */
    exec_ok(INSERT_SVC("it-schema-svc-auth", "auth", "approved"));
    exec_ok("UPDATE svc_trans SET amount_approved = 11.07, amount_pending = 4 WHERE request_id = "
            "'it-schema-svc-auth'");
    exec_ok("INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "
            "pay_seq, service_bureau, amount, currency, card_masked, card_hash, ref_request_id, "
            "claim_amount) VALUES ('it-schema-svc-dep', repeat('a', 64), 'deposit', 1, 'O1', 1, "
            "'RLT', 4, 'USD', '************4793', repeat('b', 64), 'it-schema-svc-auth', 4)");
    exec_ok("UPDATE svc_trans SET status = 'sent' WHERE request_id = 'it-schema-svc-dep'");
    assert_int_equal(query_long("SELECT amount_pending * 100 FROM svc_trans WHERE request_id = "
                                "'it-schema-svc-auth'"),
                     400);
    exec_ok("UPDATE svc_trans SET status = 'approved', amount_approved = 4 WHERE request_id = "
            "'it-schema-svc-dep'");
    assert_int_equal(query_long("SELECT amount_pending * 100 FROM svc_trans WHERE request_id = "
                                "'it-schema-svc-auth'"),
                     0);
    assert_int_equal(query_long("SELECT amount_deposited * 100 FROM svc_trans WHERE request_id = "
                                "'it-schema-svc-auth'"),
                     400);

    static const char *const bad[] = {
        "UPDATE auth_history SET amount_pending = -1 WHERE request_id = 'it-schema-claim'",
        "UPDATE auth_history SET amount_voided = -0.01 WHERE request_id = 'it-schema-claim'",
        "UPDATE svc_trans SET amount_pending = -1 WHERE request_id = 'it-schema-svc-auth'",
        "UPDATE svc_trans SET claim_amount = 0 WHERE request_id = 'it-schema-svc-dep'",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        exec_fails(bad[i], CHECK_VIOLATION);
}

/* History row of authorization it-schema-claim: status|amount_pending. */
static void assert_claimed_auth(const char *want)
{
    char got[128], line[128];
    assert_int_equal(query_lines("SELECT concat_ws('|', status, amount_pending) FROM auth_history "
                                 "WHERE request_id = 'it-schema-claim'",
                                 got, sizeof got),
                     1);
    snprintf(line, sizeof line, "  %s\n", want);
    assert_string_equal(got, line);
}

/*
 * Migration 032: a reversal's final status settles its authorization in one update of the
 * history row (the claim released and, when approved, the status 'reversed'), whoever stores it;
 * the statements that store it no longer update auth_history themselves.
 */
static void test_reversal_settles_in_one_update(void **state)
{
    (void)state;
    insert_claimed_auth();
    long upd0 = query_long("SELECT pg_stat_get_xact_tuples_updated('auth_history'::regclass)");
    exec_ok("UPDATE auth_reversal SET status = 'approved', amount_reversed = 10 "
            "WHERE request_id = 'it-schema-rev'");
    assert_claimed_auth("reversed|0.00");
    assert_int_equal(
        query_long("SELECT pg_stat_get_xact_tuples_updated('auth_history'::regclass)") - upd0, 1);

    /* Approved without a claim (a row sent before claims existed): marked reversed, nothing
     * released. */
    exec_ok("UPDATE auth_history SET status = 'approved', amount_pending = 3 "
            "WHERE request_id = 'it-schema-claim'");
    exec_ok(INSERT_CLAIMING_REVERSAL("it-schema-rev2"));
    exec_ok("UPDATE auth_reversal SET status = 'sent', claim_amount = NULL "
            "WHERE request_id = 'it-schema-rev2'");
    exec_ok("UPDATE auth_reversal SET status = 'approved' WHERE request_id = 'it-schema-rev2'");
    assert_claimed_auth("reversed|3.00");

    /* Declined: the claim released, the status kept; an authorization a reversal does not
     * apply to keeps its status even when the bureau approves one. */
    exec_ok("UPDATE auth_history SET status = 'approved', amount_pending = 10 "
            "WHERE request_id = 'it-schema-claim'");
    exec_ok(INSERT_CLAIMING_REVERSAL("it-schema-rev3"));
    exec_ok("UPDATE auth_reversal SET status = 'sent' WHERE request_id = 'it-schema-rev3'");
    exec_ok("UPDATE auth_reversal SET status = 'declined' WHERE request_id = 'it-schema-rev3'");
    assert_claimed_auth("approved|0.00");
    exec_ok("UPDATE auth_history SET status = 'declined', amount_pending = 10 "
            "WHERE request_id = 'it-schema-claim'");
    exec_ok(INSERT_CLAIMING_REVERSAL("it-schema-rev4"));
    exec_ok("UPDATE auth_reversal SET status = 'sent' WHERE request_id = 'it-schema-rev4'");
    exec_ok("UPDATE auth_reversal SET status = 'approved' WHERE request_id = 'it-schema-rev4'");
    assert_claimed_auth("declined|0.00");
}

/* Runs sql with n text parameters; fails the test when it fails. */
static void exec_params_ok(const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(g_db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s\n  failed: %s", sql, m);
    }
    PQclear(r);
}

/* Authorization `rid` (CyberSource) with its history row: status, vendor response,
 * issuer_authorized ("t"/"f"), amount_authorized and amount_issuer_held (NULL: none), claimed
 * as paylink-reversal claims it (all of amount_authorized, else the marker 0.01). */
static void insert_reversible(const char *rid, const char *status, const char *vendor_response,
                              const char *issuer_authorized, const char *authorized,
                              const char *held)
{
    exec_params_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
                   "order_number, pay_seq, service_bureau, card_token, status) VALUES ($1, "
                   "repeat('a', 64), 'auth', 1, 'O1', 1, 'CYB', '7030000000000001234', $2)",
                   2, (const char *const[]){rid, status});
    exec_params_ok(
        "INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
        "service_bureau, transaction_type, status, vendor_response, issuer_authorized, "
        "amount_authorized, amount_issuer_held) VALUES ($1, 1, 'O1', 1, 'CYB', 'auth', "
        "$2, $3, $4::boolean, $5::numeric, $6::numeric)",
        6,
        (const char *const[]){rid, status, vendor_response, issuer_authorized, authorized, held});
}

/* Reversal `rev` of authorization `rid` claimed (as rev_mark_sent claims), sent and approved
 * for `reversed` (NULL: its answer named no amount), which fires the release trigger. */
static void reverse(const char *rev, const char *rid, const char *reversed)
{
    exec_params_ok("WITH claim AS (UPDATE auth_history SET amount_pending = amount_pending + "
                   "coalesce(amount_authorized, 0.01) WHERE request_id = $2 "
                   "RETURNING id, coalesce(amount_authorized, 0.01) AS amount) "
                   "INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, "
                   "pay_seq, service_bureau, auth_request_id, auth_history_id, claim_amount) "
                   "SELECT $1, repeat('a', 64), 1, 'O1', 1, 'CYB', $2, id, amount FROM claim",
                   2, (const char *const[]){rev, rid});
    exec_params_ok("UPDATE auth_reversal SET status = 'sent' WHERE request_id = $1", 1,
                   (const char *const[]){rev});
    exec_params_ok("UPDATE auth_reversal SET status = 'approved', amount_reversed = $2::numeric "
                   "WHERE request_id = $1",
                   2, (const char *const[]){rev, reversed});
}

/* History row of authorization rid: status|amount_pending|amount_authorized|amount_issuer_held
 * ("-": NULL). */
static void assert_reversible(const char *rid, const char *want)
{
    PGresult *r = PQexecParams(g_db,
                               "SELECT concat_ws('|', status, amount_pending, "
                               "coalesce(amount_authorized::text, '-'), "
                               "coalesce(amount_issuer_held::text, '-')) FROM auth_history "
                               "WHERE request_id = $1",
                               1, NULL, (const char *const[]){rid}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    char got[128];
    snprintf(got, sizeof got, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (strcmp(got, want) != 0)
        fail_msg("%s: %s, want %s", rid, got, want);
}

/*
 * Migration 065: a reversal approved for less than what the issuer holds of a refused
 * CyberSource authorization (amount_issuer_held, 061: no amount authorized recorded) leaves its
 * status as it is and amount_issuer_held at what is still held — declined while the issuer
 * authorized it (060), a soft decline, an error the issuer authorized (064), a reject — as 058
 * does for amount_authorized; one for all of it, or naming no amount, marks it reversed. Before,
 * the trigger compared the amount reversed with the NULL amount authorized and marked each of
 * them reversed, the rest still held at the issuer. Unchanged: an approved authorization
 * reversed in part (058) or whole, one with neither amount (reversed, whatever was reversed),
 * and a declined one a reversal does not apply to.
 */
static void test_partial_reversal_of_issuer_held(void **state)
{
    (void)state;
    insert_reversible("it-schema-h-dia", "declined", "102", "t", NULL, "55.00");
    reverse("it-schema-h-dia-r1", "it-schema-h-dia", "20.00");
    assert_reversible("it-schema-h-dia", "declined|0.00|-|35.00");
    reverse("it-schema-h-dia-r2", "it-schema-h-dia", "35.00");
    assert_reversible("it-schema-h-dia", "reversed|0.00|-|35.00");

    insert_reversible("it-schema-h-soft", "declined", "230", "f", NULL, "40.00");
    reverse("it-schema-h-soft-r", "it-schema-h-soft", "10.00");
    assert_reversible("it-schema-h-soft", "declined|0.00|-|30.00");

    insert_reversible("it-schema-h-err", "error", "150", "t", NULL, "55.00");
    reverse("it-schema-h-err-r", "it-schema-h-err", "54.99");
    assert_reversible("it-schema-h-err", "error|0.00|-|0.01");

    insert_reversible("it-schema-h-rej", "rejected", "481", "f", NULL, "50.00");
    reverse("it-schema-h-rej-r", "it-schema-h-rej", "50.00");
    assert_reversible("it-schema-h-rej", "reversed|0.00|-|50.00");

    insert_reversible("it-schema-h-none", "declined", "102", "t", NULL, "55.00");
    reverse("it-schema-h-none-r", "it-schema-h-none", NULL);
    assert_reversible("it-schema-h-none", "reversed|0.00|-|55.00");

    insert_reversible("it-schema-h-appr", "approved", "100", "f", "100.00", NULL);
    reverse("it-schema-h-appr-r1", "it-schema-h-appr", "30.00");
    assert_reversible("it-schema-h-appr", "approved|0.00|70.00|-");
    reverse("it-schema-h-appr-r2", "it-schema-h-appr", "70.00");
    assert_reversible("it-schema-h-appr", "reversed|0.00|70.00|-");

    insert_reversible("it-schema-h-all", "declined", "102", "t", NULL, NULL);
    reverse("it-schema-h-all-r", "it-schema-h-all", "20.00");
    assert_reversible("it-schema-h-all", "reversed|0.00|-|-");

    insert_reversible("it-schema-h-refused", "declined", "203", "f", NULL, "55.00");
    reverse("it-schema-h-refused-r", "it-schema-h-refused", "20.00");
    assert_reversible("it-schema-h-refused", "declined|0.00|-|55.00");
}

/*
 * Forty rows of `table`'s shape and its fillfactor (a temporary table LIKE it), inserted by
 * `insert` (into hot_t, over generate_series(1, 40) i) and then updated by `update` (an answer
 * or a claim: an UPDATE of hot_t), in the test's transaction, where nothing can be pruned yet:
 * how many of the forty updates were HOT.
 */
static long updates_in_place(const char *table, const char *insert, const char *update)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(substring(array_to_string(reloptions, ',') FROM "
             "'fillfactor=([0-9]+)'), '100')::int FROM pg_class WHERE relname = '%s'",
             table);
    long ff = query_long(sql);
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE hot_t (LIKE %s INCLUDING DEFAULTS INCLUDING INDEXES) "
             "WITH (fillfactor = %ld)",
             table, ff);
    exec_ok(sql);
    exec_ok(insert);
    long hot0 = query_long("SELECT pg_stat_get_xact_tuples_hot_updated('hot_t'::regclass)");
    exec_ok(update);
    long hot = query_long("SELECT pg_stat_get_xact_tuples_hot_updated('hot_t'::regclass)") - hot0;
    exec_ok("DROP TABLE hot_t");
    return hot;
}

/*
 * Migrations 027 and 034: the transaction tables keep three quarters of each new page free, so
 * the answer a request's row takes moments after its insert (recorded already sent; then the
 * answer with the reply's jsonb, ~3.5 times the row) stays on its page — a HOT update, which
 * writes no index entry. Forty rows of the workers' sizes, answered: every answer in place (at
 * 027's fillfactor 50: 12 of 40 for cc_auth_trans, 16 of 40 for svc_trans).
 */
static void test_answers_update_in_place(void **state)
{
    (void)state;
    char list[512];
    assert_int_equal(query_lines("SELECT relname FROM pg_class WHERE relname IN ('cc_auth_trans', "
                                 "'cc_deposit_trans', 'auth_reversal', 'svc_trans') AND "
                                 "'fillfactor=25' = ANY (reloptions) ORDER BY relname",
                                 list, sizeof list),
                     4);
    long hot0 = query_long("SELECT pg_stat_get_xact_tuples_hot_updated('cc_auth_trans'::regclass)");
    exec_ok(INSERT_AUTH("it-schema-hot", "received"));
    exec_ok("UPDATE cc_auth_trans SET status = 'sent', sent_at = now(), sent_by = 'it' WHERE "
            "request_id = 'it-schema-hot'");
    /* The answer more than doubles the row (a reply of ~700 bytes, as the workers store). */
    exec_ok("UPDATE cc_auth_trans SET status = 'approved', answered_at = now(), reply = "
            "jsonb_build_object('request_id', 'it-schema-hot', 'message', repeat('x', 700)) "
            "WHERE request_id = 'it-schema-hot'");
    assert_int_equal(
        query_long("SELECT pg_stat_get_xact_tuples_hot_updated('cc_auth_trans'::regclass)") - hot0,
        2);

    /* An authorization as auth_insert_sent records it (~340 bytes), answered as auth_store
     * answers it (~1,180 bytes). */
    assert_int_equal(
        updates_in_place(
            "cc_auth_trans",
            "INSERT INTO hot_t (request_id, fingerprint, request_type, company, order_number, "
            "pay_seq, service_bureau, pay_type, auth_mode, amount, currency, card_masked, "
            "card_hash, card_token, card_type, exp_month, exp_year, status, sent_at, operation, "
            "sent_by) SELECT 'bench-abcdefghijk-' || i, repeat('f', 64), 'auth', 1, "
            "'Babcdefghij' || i, 1, 'CYB', 'CC', 'online', 10.00, 'USD', '411111******1111', "
            "repeat('c', 64), '', 'VI', 12, 2028, 'sent', now(), 'auth', "
            "'paylink-auth-1/0123456789abcdef.' || i FROM generate_series(1, 40) i",
            "UPDATE hot_t SET status = 'approved', decision = 'ACCEPT', vendor_response = '100', "
            "amount_approved = 10.00, auth_number = '831000', auth_date = "
            "'2026-12-05T04:00:00Z', transaction_id = '7000000000000000000001', request_token "
            "= repeat('A', 64), avs_response = 'Y', cvv_response = 'M', token_created = "
            "'7000000000000000000002', hold_reason = '', payment_deactivated = false, "
            "error_text = '', reply = jsonb_build_object('v', 1, 'request_id', request_id, "
            "'message', repeat('x', 600)), answered_at = now()"),
        40);
    /* A stored value authorization as svc_insert_sent records it, answered as svc_store does. */
    assert_int_equal(
        updates_in_place(
            "svc_trans",
            "INSERT INTO hot_t (request_id, fingerprint, request_type, company, order_number, "
            "pay_seq, service_bureau, pay_type, auth_mode, amount, currency, card_masked, "
            "card_hash, status, sent_at, operation, sent_by, void_remainder) SELECT "
            "'bench-abcdefghijk-' || i, repeat('f', 64), 'auth', 1, 'Babcdefghij' || i, 1, "
            "'RLT', 'SV', 'online', 10.00, 'USD', '************1234', repeat('c', 64), 'sent', "
            "now(), 'svc_preauth', 'paylink-svc-1/0123456789abcdef.' || i, false "
            "FROM generate_series(1, 40) i",
            "UPDATE hot_t SET status = 'approved', vendor_response = '00', error_code = '', "
            "reason_code = '', amount_approved = 10.00, svc_transaction_id = 'sv-000000001', "
            "auth_number = '4471', auth_date = '2026-12-05T04:00:00Z', account_id = 'ACC-9', "
            "hold_reason = '', error_text = '', reply = jsonb_build_object('v', 1, "
            "'request_id', request_id, 'message', repeat('x', 480)), answered_at = now()"),
        40);
}

/* An authorization it-schema-settle-<n> with a 100.00 answer in auth_history, of which
 * `pending` is claimed. */
static void insert_settle_auth(const char *n, const char *pending)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
             "order_number, pay_seq, service_bureau, card_token, status) VALUES "
             "('it-schema-settle-%s', repeat('a', 64), 'auth', 1, 'O1', 1, 'CYB', "
             "'7030000000000001234', 'approved')",
             n);
    exec_ok(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
             "service_bureau, transaction_type, status, amount_authorized, amount_pending) "
             "VALUES ('it-schema-settle-%s', 1, 'O1', 1, 'CYB', 'auth', 'approved', 100, %s)",
             n, pending);
    exec_ok(sql);
}

/*
 * Migrations 031 and 035: auth_history keeps half of each new page free, so the later updates of
 * an authorization's history row by its deposits and reversals stay on its page (HOT updates),
 * even when a settlement batch claims on all the rows of a page before any of it can be pruned:
 * forty authorizations' rows, then a claim on each in one transaction (old versions still
 * visible, nothing prunable), every claim in place (12 of 40 at 031's 80, 28 at 60).
 */
static void test_history_updates_in_place(void **state)
{
    (void)state;
    assert_int_equal(query_long("SELECT count(*) FROM pg_class WHERE relname = 'auth_history' AND "
                                "'fillfactor=50' = ANY (reloptions)"),
                     1);
    insert_settle_auth("hot", "0");
    long hot0 = query_long("SELECT pg_stat_get_xact_tuples_hot_updated('auth_history'::regclass)");
    /* A debit's claim, then its settlement (025, 026 update the row so). */
    exec_ok(
        "UPDATE auth_history SET amount_pending = 40 WHERE request_id = 'it-schema-settle-hot'");
    exec_ok("UPDATE auth_history SET amount_pending = 0, amount_deposited = 40 WHERE request_id = "
            "'it-schema-settle-hot'");
    assert_int_equal(
        query_long("SELECT pg_stat_get_xact_tuples_hot_updated('auth_history'::regclass)") - hot0,
        2);

    /* Authorizations as auth_store records their history rows, then a deposit's claim on each
     * (dep_mark_sent_auth). */
    assert_int_equal(
        updates_in_place(
            "auth_history",
            "INSERT INTO hot_t (request_id, company, order_number, pay_seq, service_bureau, "
            "transaction_type, status, amount_authorized, amount_deposited, currency, "
            "auth_number, auth_date, transaction_id, request_token, vendor_response, "
            "avs_response, cvv_response) SELECT 'bench-abcdefghijk-a' || i, 1, "
            "'Babcdefghij' || i, 1, 'CYB', 'token_auth', 'approved', 10.00, 0, 'USD', "
            "'808977', '2026-12-05T06:26:20Z', '1796451980412099415975', repeat('e', 64), "
            "'100', 'Y', 'M' FROM generate_series(1, 40) i",
            "UPDATE hot_t SET amount_pending = amount_pending + 10.00"),
        40);
}

/* The tables every request writes (036). */
#define HOT_TABLES                                                                                 \
    "'cc_auth_trans'::regclass, 'auth_history'::regclass, 'cc_deposit_trans'::regclass, "          \
    "'cc_deposit_history'::regclass, 'auth_reversal'::regclass, 'svc_trans'::regclass"

/*
 * Migration 036: ANALYZE samples the tables every request writes at a statistics target of 25
 * (7,500 rows, not 30,000: autovacuum analyzes them about every minute while they fill) and
 * keeps no statistics of their jsonb documents. Every column has its target set, so a column a
 * later migration adds at the default fails here; and an ANALYZE of cc_auth_trans (in the
 * test's transaction, rolled back with it) keeps at most 26 histogram bounds of 300 distinct
 * amounts (101 at the default).
 */
static void test_hot_tables_sample_less(void **state)
{
    (void)state;
    char list[2048];
    assert_int_equal(
        query_lines("SELECT attrelid::regclass || '.' || attname || ' ' || attstattarget FROM "
                    "pg_attribute WHERE attrelid IN (" HOT_TABLES ") AND attnum > 0 AND NOT "
                    "attisdropped AND (coalesce(attstattarget, -1) NOT BETWEEN 0 AND 25 OR "
                    "(atttypid = 'jsonb'::regtype AND attstattarget <> 0)) ORDER BY 1",
                    list, sizeof list),
        0);
    assert_int_equal(query_long("SELECT count(*) FROM pg_attribute WHERE attrelid IN (" HOT_TABLES
                                ") AND atttypid = 'jsonb'::regtype"),
                     8);

    /* A database that already holds many authorizations (a developer's `up` environment) may
     * sample few of the 300 and keep no histogram at all: only at most 26 is asked of it. */
    long had = query_long("SELECT count(*) FROM cc_auth_trans");
    exec_ok("INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, "
            "order_number, pay_seq, service_bureau, card_token, status, amount, reply) SELECT "
            "'it-schema-sample-' || i, repeat('a', 64), 'auth', 1, 'O' || i, 1, 'CYB', "
            "'7030000000000001234', 'approved', 1000 + i, jsonb_build_object('i', i) "
            "FROM generate_series(1, 300) i");
    exec_ok("ANALYZE cc_auth_trans");
    /* 26 when the table has fewer than 7,500 rows (all 300 amounts in the sample), fewer on a
     * larger one; at the default, up to 101. */
    long bounds = query_long("SELECT coalesce(cardinality(histogram_bounds::text::numeric[]), 0) "
                             "FROM pg_stats WHERE tablename = 'cc_auth_trans' AND attname = "
                             "'amount'");
    assert_in_range(bounds, had + 300 <= 7500 ? 2 : 0, 26);
}

/* A debit `rid` sent as `operation` on authorization it-schema-settle-<n>, having claimed
 * `claim` (SQL: a number or NULL). */
#define INSERT_SENT_DEBIT(rid, operation, n, claim)                                                \
    "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, company, "    \
    "order_number, pay_seq, service_bureau, auth_history_id, claim_amount, status) SELECT '" rid   \
    "', repeat('a', 64), 'debit', '" operation "', 1, 'O1', 1, 'CYB', id, " claim ", 'sent' "      \
    "FROM auth_history WHERE request_id = 'it-schema-settle-" n "'"

/* What a debit's outcome did to authorization it-schema-settle-<n>. */
static void assert_settled(const char *n, const char *want)
{
    char sql[320], got[256];
    snprintf(sql, sizeof sql,
             "SELECT concat_ws('|', status, amount_pending, amount_deposited, amount_voided, "
             "void_reason, voided_by) FROM auth_history WHERE request_id = 'it-schema-settle-%s'",
             n);
    assert_int_equal(query_lines(sql, got, sizeof got), 1);
    char line[256];
    snprintf(line, sizeof line, "  %s\n", want);
    assert_string_equal(got, line);
}

/* The deposit settle trigger (010, 025, 026): whoever stores a debit's outcome releases its
 * claim, adds what it captured, and voids the remainder (Void auth at deposit after a capture,
 * always after an auth+capture) unless another debit still has a claim on the authorization. */
static void test_deposits_settle(void **state)
{
    (void)state;
    /* Two captures in flight on one authorization: the first settles without voiding (the
     * second still claims), the second voids what is left (CYB has Void auth at deposit). */
    insert_settle_auth("1", "50");
    exec_ok(INSERT_SENT_DEBIT("it-schema-settle-d1", "capture", "1", "30"));
    exec_ok(INSERT_SENT_DEBIT("it-schema-settle-d2", "capture", "1", "20"));
    exec_ok("UPDATE cc_deposit_trans SET status = 'approved', amount_deposited = 30 "
            "WHERE request_id = 'it-schema-settle-d1'");
    assert_settled("1", "approved|20.00|30.00|0.00||");
    exec_ok("UPDATE cc_deposit_trans SET status = 'approved', amount_deposited = 20 "
            "WHERE request_id = 'it-schema-settle-d2'");
    assert_settled("1", "voided|0.00|50.00|50.00|void_at_deposit|it-schema-settle-d2");

    /* Declined: the claim given back, nothing else; unknown on the way changes nothing. */
    insert_settle_auth("2", "40");
    exec_ok(INSERT_SENT_DEBIT("it-schema-settle-d3", "capture", "2", "40"));
    exec_ok("UPDATE cc_deposit_trans SET status = 'unknown' WHERE request_id = "
            "'it-schema-settle-d3'");
    assert_settled("2", "approved|40.00|0.00|0.00||");
    exec_ok("UPDATE cc_deposit_trans SET status = 'declined' WHERE request_id = "
            "'it-schema-settle-d3'");
    assert_settled("2", "approved|0.00|0.00|0.00||");

    /* An auth+capture replaced the authorization: all of it is voided. */
    insert_settle_auth("3", "0");
    exec_ok(INSERT_SENT_DEBIT("it-schema-settle-d4", "auth_capture", "3", "NULL"));
    exec_ok("UPDATE cc_deposit_trans SET status = 'approved', amount_deposited = 120 "
            "WHERE request_id = 'it-schema-settle-d4'");
    assert_settled("3", "voided|0.00|0.00|100.00|auth_capture|it-schema-settle-d4");

    /* Without Void auth at deposit a partial capture leaves the rest capturable. */
    exec_ok("UPDATE auth_service SET void_auth_at_deposit = false WHERE service_bureau = 'CYB'");
    insert_settle_auth("4", "40");
    exec_ok(INSERT_SENT_DEBIT("it-schema-settle-d5", "capture", "4", "40"));
    exec_ok("UPDATE cc_deposit_trans SET status = 'approved', amount_deposited = 40 "
            "WHERE request_id = 'it-schema-settle-d5'");
    assert_settled("4", "approved|0.00|40.00|0.00||");

    /* A manual authorization paylink holds no row for: nothing to settle. */
    exec_ok("INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, status) VALUES "
            "('it-schema-settle-d6', repeat('a', 64), 'debit', 'capture', 1, 'O1', 1, 'CYB', "
            "'sent')");
    exec_ok("UPDATE cc_deposit_trans SET status = 'approved', amount_deposited = 5 "
            "WHERE request_id = 'it-schema-settle-d6'");
}

/* Leaves out objects that belong to an installed extension (c is the pg_class row). */
#define NOT_EXTENSION                                                                              \
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND "        \
    "d.objid = c.oid AND d.deptype = 'e')"

static void test_everything_is_documented(void **state)
{
    (void)state;
    char list[4096];
    /* The tables the migrations so far create are there (the checks are not vacuous). */
    assert_int_equal(query_long("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
                                "n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
                                "c.relname IN ('auth_service', 'auth_service_currency', "
                                "'auth_service_country', 'merchant_id_override', "
                                "'vendor_paytype', 'vendor_response', 'cc_auth_trans', "
                                "'auth_history', 'required_response', 'stored_value_card', "
                                "'svc_trans')"),
                     11);

    /* Tables and views of the paylink schema (public), not those of installed extensions. */
    if (query_lines("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON "
                    "n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
                    "c.relkind IN ('r', 'p', 'v', 'm') AND "
                    "coalesce(obj_description(c.oid, 'pg_class'), '') = '' " NOT_EXTENSION
                    " ORDER BY 1",
                    list, sizeof list) > 0)
        fail_msg("tables or views without a comment:\n%s", list);

    if (query_lines("SELECT c.relname || '.' || a.attname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "JOIN pg_attribute a ON a.attrelid = c.oid "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
                    "AND NOT a.attisdropped "
                    "AND coalesce(col_description(c.oid, a.attnum), '') = '' " NOT_EXTENSION
                    " ORDER BY 1",
                    list, sizeof list) > 0)
        fail_msg("columns without a comment:\n%s", list);

    if (query_lines("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON "
                    "n.oid = p.pronamespace WHERE n.nspname = 'public' AND "
                    "coalesce(obj_description(p.oid, 'pg_proc'), '') = '' AND NOT EXISTS "
                    "(SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND "
                    "d.objid = p.oid AND d.deptype = 'e') "
                    "ORDER BY 1",
                    list, sizeof list) > 0)
        fail_msg("functions without a comment:\n%s", list);

    /* Sanity of the catalogue query: a known column is found with its comment. */
    assert_int_equal(query_long("SELECT count(*) FROM pg_attribute a WHERE a.attrelid = "
                                "'public.cc_auth_trans'::regclass AND a.attname = 'status' AND "
                                "col_description(a.attrelid, a.attnum) LIKE '%final%'"),
                     1);
}

/* Columns of every user schema whose name satisfies cond (a condition on column_name). */
#define COLUMNS_WHERE(cond)                                                                        \
    "SELECT table_schema || '.' || table_name || '.' || column_name "                              \
    "FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', "                    \
    "'information_schema') AND table_schema NOT LIKE 'pg_toast%' AND (" cond ") ORDER BY 1"

static void test_no_cvv_column(void **state)
{
    (void)state;
    char list[4096];
    /* PCI DSS 3.3.1: the card verification code is never stored; only the bureau's verdict
     * on it (cvv_response) is. */
    if (query_lines(COLUMNS_WHERE("column_name ILIKE '%cvv%' AND column_name <> 'cvv_response'"),
                    list, sizeof list) > 0)
        fail_msg("columns that look like a CVV:\n%s", list);
    if (query_lines(
            COLUMNS_WHERE("column_name ~* '(cvc|cvn|cv2|card_?verification|security_?code)'"), list,
            sizeof list) > 0)
        fail_msg("columns that look like a card verification code:\n%s", list);
    /* The verdict columns exist, so the names above are the ones in use. */
    assert_true(query_lines(COLUMNS_WHERE("column_name = 'cvv_response'"), list, sizeof list) >= 2);
}

static void test_no_card_number_column(void **state)
{
    (void)state;
    char list[4096];
    /* Card numbers are stored as a mask plus a keyed hash, or as a bureau token only. */
    if (query_lines(
            COLUMNS_WHERE("lower(column_name) ~ "
                          "'(^|_)(pan|card_?number|card_?num|cc_?number|account_?number)$'"),
            list, sizeof list) > 0)
        fail_msg("columns that look like a full card number:\n%s", list);
    /* What is stored instead. */
    assert_int_equal(query_lines(COLUMNS_WHERE("table_name = 'cc_auth_trans' AND column_name IN "
                                               "('card_masked', 'card_hash', 'card_token')"),
                                 list, sizeof list),
                     3);
    assert_int_equal(query_lines(COLUMNS_WHERE("table_name IN ('svc_trans', 'stored_value_card') "
                                               "AND column_name IN ('card_masked', 'card_hash')"),
                                 list, sizeof list),
                     4);
    /* The DBA view of stored value activity shows the card masked only. */
    assert_int_equal(query_lines(COLUMNS_WHERE("table_name = 'svc_card_activity' AND column_name "
                                               "LIKE 'card%' AND column_name NOT IN "
                                               "('card_masked', 'card_id', 'card_status', "
                                               "'card_virtual', 'card_issue_amount', "
                                               "'card_activation_date', 'card_response_code', "
                                               "'card_order_number', 'card_order_line')"),
                                 list, sizeof list),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_final_status_is_kept, begin, rollback),
        cmocka_unit_test_setup_teardown(test_late_answer_closes_required_response, begin, rollback),
        cmocka_unit_test_setup_teardown(test_checks_refuse_bad_values, begin, rollback),
        cmocka_unit_test_setup_teardown(test_stored_value, begin, rollback),
        cmocka_unit_test_setup_teardown(test_answer_fields_fit, begin, rollback),
        cmocka_unit_test_setup_teardown(test_claims_settle_on_final_only, begin, rollback),
        cmocka_unit_test_setup_teardown(test_deposits_settle, begin, rollback),
        cmocka_unit_test_setup_teardown(test_reversal_settles_in_one_update, begin, rollback),
        cmocka_unit_test_setup_teardown(test_partial_reversal_of_issuer_held, begin, rollback),
        cmocka_unit_test_setup_teardown(test_answers_update_in_place, begin, rollback),
        cmocka_unit_test_setup_teardown(test_history_updates_in_place, begin, rollback),
        cmocka_unit_test_setup_teardown(test_hot_tables_sample_less, begin, rollback),
        cmocka_unit_test(test_everything_is_documented),
        cmocka_unit_test(test_no_cvv_column),
        cmocka_unit_test(test_no_card_number_column),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
