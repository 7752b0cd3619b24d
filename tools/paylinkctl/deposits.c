/* deposits.c: `paylinkctl deposits` (see deposits.h). */
#include "deposits.h"

#include "ctldb.h"
#include "ctlkafka.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER (64 * 1024)

/* Deposits waiting for an answer, with where to ask. */
static const char *const SQL_OPEN =
    "SELECT t.request_id, CASE WHEN s.send_to_production THEN s.production_url "
    "ELSE s.test_url END FROM cc_deposit_trans t JOIN auth_service s USING (service_bureau) "
    "WHERE t.status = 'unknown' AND s.protocol = 'CYB' AND ($1::text IS NULL OR "
    "t.request_id = $1) ORDER BY t.received_at";

/* Settles one deposit from the bureau's record; the stored reply becomes the final one. */
static const char *const SQL_SETTLE =
    "WITH upd AS (UPDATE cc_deposit_trans t SET status = $2::text, deposit_status = '*RCVD', "
    "decision = $3::text, vendor_response = $4::text, amount_deposited = $5::numeric, "
    "transaction_id = $6::text, "
    "request_token = $7::text, answered_at = now(), error_text = '', "
    "reply = t.reply || jsonb_build_object('status', $2::text, 'vendor_response', $4::text, "
    "'decision', $3::text, 'required_response', false, 'message', "
    "'Answer received from the payment service by re-query.') "
    "|| CASE WHEN $5::text IS NULL THEN '{}'::jsonb "
    "ELSE jsonb_build_object('amount_approved', $5::text) END "
    "|| jsonb_build_object('auth', coalesce(t.reply->'auth', '{}'::jsonb) || "
    "jsonb_build_object('transaction_id', $6::text)) "
    "WHERE t.request_id = $1 AND t.status = 'unknown' RETURNING t.*), "
    "hist AS (INSERT INTO cc_deposit_history (request_id, event, status, deposit_status, "
    "operation, amount, vendor_response, transaction_id, actor, note) "
    "SELECT request_id, 'received', status, deposit_status, operation, amount_deposited, "
    "vendor_response, transaction_id, $8::text, 'answer found by re-query' FROM upd) "
    /* What the outcome does to the authorization (claim released, capture deposited,
     * remainder voided) is the paylink_settle_deposit trigger's, as for paylink-deposit. */
    "UPDATE required_response r SET status = 'resolved', resolution = CASE "
    "WHEN upd.status = 'approved' THEN 'approved' WHEN upd.status IN ('declined', 'rejected') "
    "THEN 'declined' ELSE 'error' END, resolved_by = $8::text, "
    "resolution_note = 'paylinkctl deposits receive: answer found by re-query', "
    "resolved_at = now() FROM upd WHERE r.worker = 'deposit' AND r.request_id = upd.request_id "
    "AND r.status = 'open' RETURNING upd.status";

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_data(char *d, size_t size, size_t nmemb, void *arg)
{
    buf *b = arg;
    size_t n = size * nmemb;
    if (b->n + n > MAX_ANSWER)
        return 0;
    char *p = realloc(b->p, b->n + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, d, n);
    b->p = p;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* GET <origin of service_url>/__sim/query?ref=<rid>. Returns the HTTP status (0: failed). */
static long query_bureau(const char *service_url, const char *rid, buf *out)
{
    const char *scheme = strstr(service_url, "://");
    if (!scheme)
        return 0;
    const char *path = strchr(scheme + 3, '/');
    size_t origin = path ? (size_t)(path - service_url) : strlen(service_url);
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    char *ref = curl_easy_escape(c, rid, 0);
    char url[600];
    snprintf(url, sizeof url, "%.*s/__sim/query?ref=%s", (int)origin, service_url, ref ? ref : "");
    curl_free(ref);
    const char *ca = getenv("PAYLINK_CA_FILE");
    if (!ca || !*ca)
        ca = getenv("PAYLINK_SIM_CA");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) &&
                   v /* the simulator sends reason_code as a number */
               ? json_object_get_string(v)
               : "";
}

static const char *status_of(const char *decision)
{
    if (strcmp(decision, "ACCEPT") == 0)
        return "approved";
    if (strcmp(decision, "REVIEW") == 0)
        return "review";
    if (strcmp(decision, "REJECT") == 0)
        return "declined";
    return "error";
}

/* Settles one deposit; 0 settled, 1 left open (no record), -1 error. */
static int exec_ok(PGconn *db, const char *sql);

/* The settled reply, published so the upstream system learns the outcome it was told was
 * unknown. Returns 0 or -1. */
static int publish_settled(PGconn *db, const char *rid, const char *brokers, const char *prefix)
{
    const char *p[] = {rid};
    PGresult *r = PQexecParams(db,
                               "SELECT reply::text, company::text || '-' || order_number "
                               "FROM cc_deposit_trans WHERE request_id = $1 AND reply IS NOT NULL",
                               1, NULL, p, NULL, NULL, 0);
    int rc = -1;
    char topic[160], err[256];
    snprintf(topic, sizeof topic, "%s.deposit.reply", prefix);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        const char *reply = PQgetvalue(r, 0, 0);
        if (pl_ctlkafka_produce(brokers, topic, PQgetvalue(r, 0, 1), reply, strlen(reply), 30000,
                                NULL, NULL, err, sizeof err) == 0)
            rc = 0;
        else
            fprintf(stderr, "paylinkctl: %s: publishing the settled reply failed: %s\n", rid, err);
    }
    PQclear(r);
    return rc;
}

static int receive_one(PGconn *db, const char *rid, const char *url, const char *by,
                       const char *brokers, const char *prefix)
{
    buf b = {0};
    long http = query_bureau(url, rid, &b);
    int rc = -1;
    json_object *j = NULL;
    if (http == 404) {
        printf("%s: no record at the bureau (nothing was deposited); left open\n", rid);
        rc = 1;
        goto out;
    }
    if (http != 200 || !b.p || !(j = json_tokener_parse(b.p))) {
        fprintf(stderr, "paylinkctl: %s: the bureau query failed (HTTP %ld)\n", rid, http);
        goto out;
    }
    const char *decision = jstr(j, "decision"), *amount = jstr(j, "amount");
    const char *status = status_of(decision);
    const char *p[] = {rid,
                       status,
                       decision,
                       jstr(j, "reason_code"),
                       strcmp(status, "approved") == 0 && *amount ? amount : NULL,
                       jstr(j, "request_id"),
                       jstr(j, "request_token"),
                       by};
    /* Settled and published together: a failed publish leaves the deposit open, to be received
     * again later, rather than settled behind the upstream system's back. */
    if (exec_ok(db, "BEGIN") != 0)
        goto out;
    PGresult *r = PQexecParams(db, SQL_SETTLE, 8, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: %s: settling failed: %s", rid, PQerrorMessage(db));
        exec_ok(db, "ROLLBACK");
    } else if (publish_settled(db, rid, brokers, prefix) != 0 || exec_ok(db, "COMMIT") != 0) {
        exec_ok(db, "ROLLBACK");
    } else {
        printf("%s: %s %s (%s) transaction %s\n", rid, status, *amount ? amount : "",
               jstr(j, "reason_code"), jstr(j, "request_id"));
        rc = 0;
    }
    PQclear(r);
out:
    json_object_put(j);
    free(b.p);
    return rc;
}

static int cmd_receive(PGconn *db, const char *only, const char *by, const char *brokers,
                       const char *prefix)
{
    if (!brokers) {
        fputs("paylinkctl: receive publishes the settled replies: set PAYLINK_KAFKA_BROKERS or "
              "give --brokers\n",
              stderr);
        return 1;
    }
    const char *p[] = {only};
    PGresult *r = PQexecParams(db, SQL_OPEN, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: reading open deposits failed: %s", PQerrorMessage(db));
        PQclear(r);
        return 1;
    }
    int status = 0, n = PQntuples(r), settled = 0;
    for (int i = 0; i < n; i++) {
        int rc = receive_one(db, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), by, brokers, prefix);
        if (rc < 0)
            status = 1;
        else if (rc == 0)
            settled++;
    }
    printf("%d deposit(s) without an answer, %d settled\n", n, settled);
    PQclear(r);
    return status;
}

static const char *const SQL_CONFIRM =
    "WITH upd AS (UPDATE cc_deposit_trans SET deposit_status = '*CONF' WHERE request_id = $1 "
    "AND status IN ('declined', 'rejected', 'error') AND deposit_status <> '*CONF' RETURNING *) "
    "INSERT INTO cc_deposit_history (request_id, event, status, deposit_status, operation, "
    "amount, vendor_response, transaction_id, actor, note) SELECT request_id, 'confirmed', status, "
    "deposit_status, operation, amount, vendor_response, transaction_id, $2, left($3, 300) "
    "FROM upd RETURNING request_id";

static const char *const SQL_RESUBMITTABLE =
    "SELECT request_type, company, order_number, pay_seq, service_bureau, pay_type, "
    "amount::text, currency, installment, auth_ref_request_id, auth_ref_transaction_id, "
    "capture_ref_request_id, card_token, card_type, "
    "(SELECT count(*) FROM cc_deposit_history h WHERE h.request_id = t.request_id AND "
    "h.event = 'resubmitted') FROM cc_deposit_trans t WHERE request_id = $1 AND status IN "
    "('declined', 'rejected', 'error') FOR UPDATE";

static const char *const SQL_RESUBMITTED =
    "WITH upd AS (UPDATE cc_deposit_trans SET deposit_status = '*RESB' WHERE request_id = $1 "
    "RETURNING *) INSERT INTO cc_deposit_history (request_id, event, status, deposit_status, "
    "operation, amount, vendor_response, transaction_id, actor, note) SELECT request_id, "
    "'resubmitted', status, deposit_status, operation, NULL, vendor_response, transaction_id, $2, "
    "left('resubmitted as ' || $3 || CASE WHEN $4 <> '' THEN ': ' || $4 ELSE '' END, 300) "
    "FROM upd";

static int exec_ok(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static int cmd_confirm(PGconn *db, const char *rid, const char *by, const char *note)
{
    const char *p[] = {rid, by, note};
    PGresult *r = PQexecParams(db, SQL_CONFIRM, 3, NULL, p, NULL, NULL, 0);
    int status = 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
    else if (PQntuples(r) == 0)
        fprintf(stderr, "paylinkctl: %s is not a rejected deposit (or is already confirmed)\n",
                rid);
    else {
        printf("%s confirmed (*CONF) by %s\n", rid, by);
        status = 0;
    }
    PQclear(r);
    return status;
}

/* Builds the new request from the stored row r (SQL_RESUBMITTABLE). NULL when impossible. */
static char *resubmission(const PGresult *r, const char *new_id)
{
    const char *type = PQgetvalue(r, 0, 0), *token = PQgetvalue(r, 0, 12);
    const char *auth_rid = PQgetvalue(r, 0, 9), *auth_tid = PQgetvalue(r, 0, 10);
    const char *capture_rid = PQgetvalue(r, 0, 11);
    bool has_ref = *auth_rid || *auth_tid || *capture_rid;
    if (!has_ref && !*token)
        return NULL; /* a stand-alone deposit on a card number: the number is not stored */
    json_object *m = json_object_new_object();
    json_object_object_add(m, "v", json_object_new_int(1));
    json_object_object_add(m, "request_id", json_object_new_string(new_id));
    json_object_object_add(m, "type", json_object_new_string(type));
    json_object_object_add(m, "company",
                           json_object_new_int((int)strtol(PQgetvalue(r, 0, 1), NULL, 10)));
    json_object_object_add(m, "order", json_object_new_string(PQgetvalue(r, 0, 2)));
    json_object_object_add(m, "pay_seq",
                           json_object_new_int((int)strtol(PQgetvalue(r, 0, 3), NULL, 10)));
    json_object_object_add(m, "service", json_object_new_string(PQgetvalue(r, 0, 4)));
    if (*PQgetvalue(r, 0, 5))
        json_object_object_add(m, "pay_type", json_object_new_string(PQgetvalue(r, 0, 5)));
    if (!PQgetisnull(r, 0, 6)) {
        json_object_object_add(m, "amount", json_object_new_string(PQgetvalue(r, 0, 6)));
        json_object_object_add(m, "currency", json_object_new_string(PQgetvalue(r, 0, 7)));
    }
    if (PQgetvalue(r, 0, 8)[0] == 't')
        json_object_object_add(m, "installment", json_object_new_boolean(1));
    if (*auth_rid || *auth_tid) {
        json_object *ref = json_object_new_object();
        json_object_object_add(ref, *auth_rid ? "request_id" : "transaction_id",
                               json_object_new_string(*auth_rid ? auth_rid : auth_tid));
        json_object_object_add(m, "auth_ref", ref);
    }
    if (*capture_rid) {
        json_object *ref = json_object_new_object();
        json_object_object_add(ref, "request_id", json_object_new_string(capture_rid));
        json_object_object_add(m, "capture_ref", ref);
    }
    if (*token) {
        json_object *card = json_object_new_object();
        json_object_object_add(card, "token", json_object_new_string(token));
        if (*PQgetvalue(r, 0, 13))
            json_object_object_add(card, "type", json_object_new_string(PQgetvalue(r, 0, 13)));
        json_object_object_add(m, "card", card);
    }
    char *out = strdup(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN));
    json_object_put(m);
    return out;
}

static int cmd_resubmit(PGconn *db, const char *rid, const char *as, const char *by,
                        const char *note, const char *brokers, const char *prefix)
{
    if (!brokers) {
        fputs("paylinkctl: resubmit needs Kafka: set PAYLINK_KAFKA_BROKERS or give --brokers\n",
              stderr);
        return 1;
    }
    if (exec_ok(db, "BEGIN") != 0)
        return 1;
    int status = 1;
    char *msg = NULL;
    const char *p[] = {rid};
    PGresult *r = PQexecParams(db, SQL_RESUBMITTABLE, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "paylinkctl: %s is not a rejected deposit\n", rid);
        goto out;
    }
    char new_id[64];
    if (as)
        snprintf(new_id, sizeof new_id, "%s", as);
    else
        snprintf(new_id, sizeof new_id, "%s.r%ld", rid, strtol(PQgetvalue(r, 0, 14), NULL, 10) + 1);
    if (strlen(new_id) > 50) {
        fprintf(stderr, "paylinkctl: %s is longer than 50 characters: give --as NEW_ID\n", new_id);
        goto out;
    }
    if (!(msg = resubmission(r, new_id))) {
        fprintf(stderr,
                "paylinkctl: %s refers to no authorization, capture or token; the card "
                "number is not stored, so the upstream system must send it again\n",
                rid);
        goto out;
    }
    const char *q[] = {rid, by, new_id, note};
    PGresult *w = PQexecParams(db, SQL_RESUBMITTED, 4, NULL, q, NULL, NULL, 0);
    bool recorded = PQresultStatus(w) == PGRES_COMMAND_OK;
    PQclear(w);
    if (!recorded) {
        fprintf(stderr, "paylinkctl: recording the resubmission failed: %s", PQerrorMessage(db));
        goto out;
    }
    char topic[160], key[64], err[256];
    snprintf(topic, sizeof topic, "%s.deposit.request", prefix);
    snprintf(key, sizeof key, "%s-%s", PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    /* The history row commits only once the request is on the topic. */
    if (pl_ctlkafka_produce(brokers, topic, key, msg, strlen(msg), 30000, NULL, NULL, err,
                            sizeof err) != 0) {
        fprintf(stderr, "paylinkctl: publishing the resubmission failed: %s\n", err);
        goto out;
    }
    if (exec_ok(db, "COMMIT") != 0) {
        fprintf(stderr,
                "paylinkctl: the resubmission %s was published but its history row did "
                "not commit: %s",
                new_id, PQerrorMessage(db));
        PQclear(r);
        free(msg);
        return 1;
    }
    printf("%s resubmitted as %s (*RESB) by %s\n", rid, new_id, by);
    status = 0;
out:
    PQclear(r);
    free(msg);
    if (status != 0)
        exec_ok(db, "ROLLBACK");
    return status;
}

static void usage(FILE *f)
{
    fputs("usage: paylinkctl deposits receive [--request-id ID] [--by NAME]\n"
          "       paylinkctl deposits confirm --request-id ID [--by NAME] [--note TEXT]\n"
          "       paylinkctl deposits resubmit --request-id ID [--as NEW_ID] [--by NAME] "
          "[--note TEXT]\n"
          "  receive: ask the bureau for the answer of every deposit whose outcome is unknown\n"
          "  and settle it (never sends a deposit again).\n"
          "  confirm: a rejected deposit was deposited outside paylink (*CONF, recorded).\n"
          "  resubmit: send a rejected deposit again as a new request (*RESB, recorded).\n",
          f);
}

int pl_deposits_main(int argc, char **argv, const char *conninfo, const char *brokers,
                     const char *prefix)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const char *only = NULL, *by = "paylinkctl", *note = "", *as = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--request-id") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--by") == 0 && i + 1 < argc)
            by = argv[++i];
        else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
            note = argv[++i];
        else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc)
            as = argv[++i];
        else {
            fprintf(stderr, "paylinkctl: deposits: unknown option #%d\n", i);
            return 1;
        }
    }
    bool receive = strcmp(argv[1], "receive") == 0, confirm = strcmp(argv[1], "confirm") == 0,
         resubmit = strcmp(argv[1], "resubmit") == 0;
    if (!receive && !confirm && !resubmit) {
        usage(stderr);
        return 1;
    }
    if ((confirm || resubmit) && !only) {
        fprintf(stderr, "paylinkctl: deposits %s needs --request-id\n", argv[1]);
        return 1;
    }
    PGconn *db = pl_ctldb_connect(conninfo, stderr);
    if (!db)
        return 1;
    int status = receive   ? cmd_receive(db, only, by, brokers, prefix)
                 : confirm ? cmd_confirm(db, only, by, note)
                           : cmd_resubmit(db, only, as, by, note, brokers, prefix);
    PQfinish(db);
    return status;
}
