/* deposits.c: `paylinkctl deposits` (see deposits.h). */
#include "deposits.h"

#include "card.h"
#include "ctldb.h"
#include "ctlkafka.h"
#include "engine.h"
#include "opsctl.h"
#include "request.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deposits whose outcome is unknown: their required responses still to settle. */
static const char *const SQL_UNSETTLED =
    "SELECT id, request_id FROM required_response WHERE worker = 'deposit' "
    "AND status IN ('open', 'escalated') AND ($1::text IS NULL OR request_id = $1::text) "
    "ORDER BY created_at, id";

/* One deposit asked about; counts what it came to. Returns 0, or -1 when it could not be. */
static int receive_one(PGconn *db, pl_resolver *res, const pl_opsctl_publisher *pub,
                       const char *sid, const char *rid, int counts[3])
{
    char msg[700] = "", state[400];
    int failed_before = pub->failed;
    int64_t id = strtoll(sid, NULL, 10);
    int rc = pl_resolver_retry(res, id, true, msg, sizeof msg);
    bool unreadable;
    json_object *rr = pl_opsctl_wreq_read(db, id, &unreadable);
    int ret = 0;
    /* Not found: settled meanwhile (a late answer, another resolver): said as it is now. */
    if ((rc != PL_OK && rc != PL_ERR_NOTFOUND) || !rr) {
        fprintf(stderr, "paylinkctl: %s: %s\n", rid, rc != PL_OK ? msg : "the row cannot be read");
        ret = -1;
    } else {
        json_object *v = NULL;
        const char *status =
            json_object_object_get_ex(rr, "status", &v) && v ? json_object_get_string(v) : "";
        counts[strcmp(status, "resolved") == 0 ? 0 : strcmp(status, "open") == 0 ? 1 : 2]++;
        pl_opsctl_wreq_state(rr, state, sizeof state);
        printf("%s: %s%s\n", rid, state,
               pub->failed > failed_before
                   ? "; the final reply could not be published now: paylink-deposit's "
                     "resolver publishes it"
                   : "");
    }
    json_object_put(rr);
    return ret;
}

static int cmd_receive(PGconn *db, const char *conninfo, const char *only, const char *by,
                       const char *brokers, const char *prefix)
{
    char err[512];
    const char *p[] = {only};
    PGresult *r = PQexecParams(db, SQL_UNSETTLED, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: reading the deposits without an answer failed: %s",
                PQerrorMessage(db));
        PQclear(r);
        return 1;
    }
    int status = 0, n = PQntuples(r), counts[3] = {0, 0, 0}; /* settled, open, escalated */
    pl_opsctl_publisher pub = {.brokers = brokers};
    pl_resolver *res = NULL;
    /* What the bureau says is published at once: nothing is asked when it could not be. */
    if (n > 0 && pl_opsctl_kafka_ready(brokers, prefix, "deposit", err, sizeof err) != PL_OK) {
        fprintf(stderr,
                "paylinkctl: deposits receive publishes the final replies, and Kafka cannot "
                "take them now: %s\n",
                err);
        status = 1;
        goto out;
    }
    if (n > 0 && !(res = pl_opsctl_resolver_new(conninfo, prefix, by, &pub, err, sizeof err))) {
        fprintf(stderr, "paylinkctl: deposits receive: %s\n", err);
        status = 1;
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (receive_one(db, res, &pub, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), counts) != 0)
            status = 1;
    printf("%d deposit(s) without an answer, %d settled, %d still open, %d escalated\n", n,
           counts[0], counts[1], counts[2]);
out:
    pl_resolver_destroy(res);
    PQclear(r);
    return status;
}

/* A rejected deposit is confirmed or resubmitted once, never both: a second resubmission (a
 * second operator, the same one after a lost terminal) or one after a confirmation would collect
 * the money again — the authorization claimed by the first, paylink-deposit falls back to an
 * auth+capture on the token. */
#define OPEN_REJECTED                                                                              \
    "status IN ('declined', 'rejected', 'error') AND deposit_status NOT IN ('*CONF', '*RESB')"

/* A confirmed capture was deposited outside paylink against its authorization: its amount (at
 * most what the authorization has neither deposited nor claimed for a deposit in flight: the
 * books never hold more than was authorized) counts as deposited there, so that the next
 * capture of that authorization cannot collect it again (a debit without an amount: what its
 * call claimed). What it does to the rest of the authorization is what its answer would have
 * done, by the same rule (paylink_settle_debit and paylink_debit_void_mode, migration 062, which
 * the settle trigger calls): a capture sent voiding the remainder (cc_deposit_trans.
 * void_remainder, Void auth at deposit) voids what it left, or defers that void while another
 * deposit claims on the authorization (on the External Payment Service the bureau released it;
 * on CyberSource paylink's rule no longer captures it). Before, the remainder stayed capturable
 * in the books.
 * An authorization voided meanwhile (a capture voiding the remainder, an auth+capture in its
 * place, a void deferred until the claims end) voided only what was not captured: its voided
 * amount shrinks to what the confirmed capture left (SQL_CONFIRM_SHRINK), else the books said
 * the same money captured and voided (deposited plus voided above the authorized amount). An
 * authorization reversed meanwhile is not touched: the bureau released all of it (paylink sends
 * a reversal only with nothing deposited, and CyberSource refuses one after a capture, 238), so
 * the capture was not taken on that hold, and the books keep what the reversal did.
 * Likewise a confirmed follow-on credit was refunded outside paylink: its amount
 * (at most what the debit has captured and not yet credited or claimed for a credit in flight:
 * CREDIT_COUNTED) counts as credited on its debit, so that the next credit of it cannot refund
 * it again.
 * Run after SQL_CONFIRM_LOCK has locked the rows (cmd_confirm), in this order: SQL_CONFIRM,
 * SQL_CONFIRM_BOOK, SQL_CONFIRM_SHRINK, each a statement of its own (the functions update the
 * authorization SQL_CONFIRM_BOOK reads; the shrink reads what they wrote). */
/* What a confirmed follow-on credit (u) counts as credited on its approved debit (c). */
#define CREDIT_COUNTED                                                                             \
    "least(coalesce(u.amount, u.claim_amount), greatest(coalesce(c.amount_deposited, 0) - "        \
    "c.amount_credited, 0))"
#define CONFIRM_COUNTED                                                                            \
    "least(coalesce(u.amount, u.claim_amount), greatest(coalesce(h.amount_authorized, 0) - "       \
    "h.amount_deposited - h.amount_pending, 0))"
/* The capture confirmed (u) and the authorization it claimed on (h), when confirming it touches
 * that authorization's books. */
#define CONFIRM_BOOKED                                                                             \
    "u.request_id = $1 AND h.id = u.auth_history_id AND u.request_type = 'debit' "                 \
    "AND u.operation = 'capture' AND h.status <> 'reversed' "                                      \
    "AND coalesce(u.amount, u.claim_amount) > 0"
static const char *const SQL_CONFIRM =
    "WITH upd AS (UPDATE cc_deposit_trans SET deposit_status = '*CONF' WHERE request_id = $1 "
    "AND " OPEN_REJECTED " RETURNING *), "
    "cred AS (UPDATE cc_deposit_trans c SET amount_credited = c.amount_credited + " CREDIT_COUNTED
    " FROM upd u WHERE u.request_type = 'credit' "
    "AND coalesce(u.capture_ref_request_id, '') <> '' AND c.request_id = u.capture_ref_request_id "
    "AND c.request_type = 'debit' AND c.status = 'approved' "
    "AND coalesce(u.amount, u.claim_amount) > 0 RETURNING c.request_id) "
    "INSERT INTO cc_deposit_history (request_id, event, status, deposit_status, operation, "
    "amount, vendor_response, transaction_id, actor, note) SELECT request_id, 'confirmed', status, "
    "deposit_status, operation, amount, vendor_response, transaction_id, $2, left($3, 300) "
    "FROM upd RETURNING request_id";
/* The confirmed capture's books on its authorization, as its answer's settle trigger keeps
 * them: no claim to release (it ended with the deposit), what it counts deposited, and the
 * remainder voided (or the void deferred) as it was sent. */
static const char *const SQL_CONFIRM_BOOK =
    "SELECT paylink_settle_debit(h.id, u.request_id, 0, " CONFIRM_COUNTED ", "
    "paylink_debit_void_mode(u.operation, u.void_remainder, u.service_bureau)) "
    "FROM cc_deposit_trans u, auth_history h WHERE " CONFIRM_BOOKED;
/* What is voided never exceeds what is left uncaptured; the authorization as it is now. */
static const char *const SQL_CONFIRM_SHRINK =
    "UPDATE auth_history h SET amount_voided = least(h.amount_voided, "
    "greatest(coalesce(h.amount_authorized, 0) - h.amount_deposited, 0)) "
    "FROM cc_deposit_trans u WHERE " CONFIRM_BOOKED
    " RETURNING h.status, h.amount_voided::text, coalesce(h.void_reason, ''), "
    "coalesce(h.voided_by, ''), coalesce(h.void_deferred_by, '')";

/* Of an authorization h: the reversal of it still in flight ("<request_id> (<status>)", NULL
 * when none) and the last one approved (with what it released). */
#define CONFIRM_REVERSALS                                                                          \
    "(SELECT r.request_id || ' (' || r.status || ')' FROM auth_reversal r "                        \
    "WHERE r.auth_history_id = h.id AND r.status IN ('sent', 'unknown') LIMIT 1), "                \
    "(SELECT r.request_id || coalesce(', ' || r.amount_reversed || ' released', '') "              \
    "FROM auth_reversal r WHERE r.auth_history_id = h.id AND r.status = 'approved' "               \
    "ORDER BY r.answered_at DESC NULLS LAST LIMIT 1), "

/* The deposit to confirm and the authorization a capture of it claimed on (SQL_CONFIRM_LOCK
 * has locked both): what it said then and what the confirmation makes of it (the same
 * expressions as SQL_CONFIRM_BOOK's, under the same locks), the reversal of it still in flight
 * and the last one approved, what deposits in flight claim on it (14), what it has left
 * uncaptured (15) and what the capture voids of it (16). No row: the deposit is not one to
 * confirm (why_not); a row whose status (0) is NULL: no authorization of paylink's is touched. */
static const char *const SQL_CONFIRM_AUTH =
    "WITH u AS (SELECT * FROM cc_deposit_trans WHERE request_id = $1 AND " OPEN_REJECTED
    " FOR UPDATE), "
    "h AS (SELECT h.* FROM auth_history h JOIN u ON h.id = u.auth_history_id "
    "WHERE u.request_type = 'debit' AND u.operation = 'capture' "
    "AND coalesce(u.amount, u.claim_amount) > 0 FOR UPDATE OF h) "
    "SELECT h.status, coalesce(h.request_id, h.deposit_request_id, ''), "
    "coalesce(u.amount, u.claim_amount)::text, " CONFIRM_COUNTED "::text, "
    "(coalesce(u.amount, u.claim_amount) - " CONFIRM_COUNTED ")::text, "
    "(h.amount_deposited + " CONFIRM_COUNTED ")::text, coalesce(h.amount_authorized, 0)::text, "
    "h.amount_voided::text, least(h.amount_voided, greatest(coalesce(h.amount_authorized, 0) - "
    "h.amount_deposited - " CONFIRM_COUNTED ", 0))::text, "
    "coalesce(nullif(h.void_reason, ''), h.void_deferred_reason, ''), "
    "coalesce(nullif(h.voided_by, ''), h.void_deferred_by, ''), h.void_deferred_by IS NOT "
    "NULL, " CONFIRM_REVERSALS "h.amount_pending::text, "
    "greatest(coalesce(h.amount_authorized, 0) - h.amount_deposited, 0)::text, "
    "paylink_debit_void_mode(u.operation, u.void_remainder, u.service_bureau) "
    "FROM u LEFT JOIN h ON true";

/*
 * A confirmed auth+capture (a new authorization and its capture in one call, made when the
 * authorization the debit named could not be captured) replaced that authorization: what its
 * approved answer's settle trigger does to it, confirming it does (paylink_debit_void_mode is
 * auth_capture): the remainder voided (void_reason auth_capture), or the void deferred while
 * another deposit claims on it (050), by the same function. Nothing of the new authorization's
 * capture counts on it. And as paylink-deposit's store owes the reversal of a void carried out at
 * once when its follow-ups hold none (dep_owe_reversal, 059), the confirmation owes it here
 * (replaced_auth_reversal): only with nothing of that authorization captured (a bureau refuses to
 * reverse a captured one, CyberSource 238), only where the deposit's service bureau has Send
 * reversal, for what was voided; paylink-deposit's resolver publishes it as `<deposit>.vdr`, so
 * that the issuer releases the hold. A refused deposit's follow-ups never hold that reversal
 * (paylink-deposit publishes it only with an approval; one refused after the issuer authorized
 * holds the `.sdr` of the authorization it made, another one), so they are not asked. A void
 * deferred owes it when it is carried out (paylink_deferred_void, 057, 063). Before, the
 * authorization stayed approved in the books, capturable again, and its hold stayed on the card.
 * A manual authorization (no auth_history row) has nothing booked. Run after SQL_CONFIRM_LOCK.
 */
#define CONFIRM_REPLACED                                                                           \
    "FROM cc_deposit_trans u JOIN auth_history h ON h.id = u.auth_history_id "                     \
    "WHERE u.request_id = $1 AND u.request_type = 'debit' AND u.operation = 'auth_capture'"
/* That authorization as it is (before and after the confirmation): status, its request id,
 * authorized, deposited, pending, voided, the reason and deposit of a void (or a deferred one),
 * whether one is deferred, the reversal of it in flight (9), the last one approved, and whether
 * the deposit's service bureau has Send reversal (11). No row: nothing of paylink's replaced. */
static const char *const SQL_CONFIRM_REPLACED =
    "SELECT h.status, coalesce(h.request_id, h.deposit_request_id, ''), "
    "coalesce(h.amount_authorized, 0)::text, h.amount_deposited::text, h.amount_pending::text, "
    "h.amount_voided::text, coalesce(nullif(h.void_reason, ''), h.void_deferred_reason, ''), "
    "coalesce(nullif(h.voided_by, ''), h.void_deferred_by, ''), h.void_deferred_by IS NOT "
    "NULL, " CONFIRM_REVERSALS "coalesce((SELECT s.send_reversal FROM auth_service s "
    "WHERE s.service_bureau = u.service_bureau), false) " CONFIRM_REPLACED;
static const char *const SQL_CONFIRM_VOID =
    "SELECT paylink_settle_debit(h.id, u.request_id, 0, 0, "
    "paylink_debit_void_mode(u.operation, u.void_remainder, u.service_bureau)) " CONFIRM_REPLACED;
/* paylink-deposit's rule (dep_owe_reversal), for the deposit confirmed (*CONF) rather than
 * approved. */
static const char *const SQL_CONFIRM_OWE =
    PL_SQL_OWE_REPLACED_REVERSAL("d.deposit_status = '*CONF'") " RETURNING amount::text";

/* cmd_confirm's locks, in order, before SQL_CONFIRM_AUTH and SQL_CONFIRM_CREDIT read: the
 * deposit, its authorization, and the debit a follow-on credit names (a credit's claim and its
 * settle trigger lock the credit, then that debit: the same order). */
static const char *const SQL_CONFIRM_LOCK[] = {
    "SELECT 1 FROM cc_deposit_trans WHERE request_id = $1 FOR UPDATE",
    "SELECT 1 FROM auth_history h JOIN cc_deposit_trans u ON h.id = u.auth_history_id "
    "WHERE u.request_id = $1 FOR UPDATE OF h",
    "SELECT 1 FROM cc_deposit_trans c JOIN cc_deposit_trans u "
    "ON c.request_id = u.capture_ref_request_id WHERE u.request_id = $1 "
    "AND u.request_type = 'credit' AND c.request_type = 'debit' FOR UPDATE OF c"};

/*
 * The follow-on credit to confirm (u) and the debit it names (c), both locked (SQL_CONFIRM_LOCK):
 * the debit's request id (0) and status (1), the credit's amount (2), what the confirmation
 * counts credited of it (3: the same expression as SQL_CONFIRM's, under the same locks) and
 * what not (4), what the debit captured (5), credited or claimed before (6) and after (7), what
 * other credits of it still in flight (sent, unknown) claim (8: amount_credited holds those
 * claims; they are of the debit's company and order, whose index finds them), what it had left
 * to refund (9), whether the credit does not fit beside those claims (10), whether it is
 * counted for less than its amount (11) and whether the debit has no outcome yet (12: received,
 * sent, unknown). No row: not a follow-on credit with an amount naming a debit paylink has.
 */
static const char *const SQL_CONFIRM_CREDIT =
    "SELECT c.request_id, c.status, x.amount::text, x.counted::text, "
    "(x.amount - x.counted)::text, coalesce(c.amount_deposited, 0)::numeric(15,2)::text, "
    "c.amount_credited::text, (c.amount_credited + x.counted)::text, x.in_flight::text, "
    "greatest(coalesce(c.amount_deposited, 0) - c.amount_credited, 0)::numeric(15,2)::text, "
    "x.in_flight > 0 AND x.counted < x.amount, x.counted < x.amount, "
    "c.status IN ('received', 'sent', 'unknown') "
    "FROM (SELECT * FROM cc_deposit_trans WHERE request_id = $1 AND request_type = 'credit' "
    "AND coalesce(amount, claim_amount) > 0 AND " OPEN_REJECTED ") u "
    "JOIN cc_deposit_trans c ON c.request_id = u.capture_ref_request_id "
    "AND c.request_type = 'debit' CROSS JOIN LATERAL (SELECT "
    "coalesce(u.amount, u.claim_amount)::numeric(15,2) AS amount, "
    "(CASE WHEN c.status = 'approved' THEN " CREDIT_COUNTED " ELSE 0 END)::numeric(15,2) "
    "AS counted, (SELECT coalesce(sum(f.claim_amount), 0) FROM cc_deposit_trans f "
    "WHERE f.company = c.company AND f.order_number = c.order_number "
    "AND f.capture_ref_request_id = c.request_id AND f.request_type = 'credit' "
    "AND f.status IN ('sent', 'unknown') AND f.request_id <> u.request_id)::numeric(15,2) "
    "AS in_flight) x";

/*
 * A request names no merchant ID: its `entity` (merchant_id_override) or pay type
 * (vendor_paytype) chooses one, else its service bureau's (pl_services_merchant_id), and the
 * entity is not stored on the row (only the merchant ID it chose, cc_deposit_trans.
 * merchant_id). Resubmitted without it, a stand-alone credit or an auth+capture on its own token
 * went under the bureau's merchant ID: refunded from, or charged into, another merchant's
 * account than the original's. RESUBMIT_ENTITY is an entity whose override names the merchant ID
 * the deposit went under (NULL when none does): named in the resubmission, it chooses that
 * merchant ID again (several naming it choose the same one). RESUBMIT_PAYTYPE_MERCHANT is the
 * merchant ID its pay type chooses before any entity (NULL when none), with the pay type the
 * worker uses: the request's, else its card type, else its authorization's.
 */
#define RESUBMIT_ENTITY                                                                            \
    "(SELECT o.entity FROM merchant_id_override o WHERE o.company = t.company "                    \
    "AND o.service_bureau = t.service_bureau AND o.merchant_id = t.merchant_id "                   \
    "AND t.merchant_id <> '' ORDER BY o.entity LIMIT 1)"
#define RESUBMIT_PAYTYPE_MERCHANT                                                                  \
    "(SELECT nullif(x.merchant_id, '') FROM vendor_paytype x "                                     \
    "WHERE x.service_bureau = t.service_bureau AND x.pay_type = coalesce(nullif(t.pay_type, ''), " \
    "nullif(t.card_type, ''), (SELECT coalesce(nullif(a.pay_type, ''), a.card_type) "              \
    "FROM cc_auth_trans a WHERE a.request_id = t.auth_ref_request_id)))"
static const char *const SQL_RESUBMITTABLE =
    "SELECT request_type, company, order_number, pay_seq, service_bureau, pay_type, "
    "amount::text, currency, installment, auth_ref_request_id, auth_ref_transaction_id, "
    "capture_ref_request_id, card_token, card_type, "
    "(SELECT count(*) FROM cc_deposit_history h WHERE h.request_id = t.request_id AND "
    "h.event = 'resubmitted'), "
    /* 15: the token of what the deposit names and paylink-deposit borrows a token from again
     * (a follow-on credit's debit, a debit's authorization; a credit never borrows one from an
     * authorization, so a stand-alone credit keeps its own), 16: its bureau's protocol. */
    "CASE WHEN t.capture_ref_request_id <> '' THEN (SELECT c.card_token FROM cc_deposit_trans c "
    "WHERE c.request_id = t.capture_ref_request_id) WHEN t.auth_ref_request_id <> '' "
    "AND t.request_type = 'debit' THEN "
    "(SELECT coalesce(nullif(a.card_token, ''), a.token_created) FROM cc_auth_trans a "
    "WHERE a.request_id = t.auth_ref_request_id) END, "
    "(SELECT s.protocol FROM auth_service s WHERE s.service_bureau = t.service_bureau), "
    /* 17-22: where the deposit went (RESUBMIT_ENTITY, RESUBMIT_PAYTYPE_MERCHANT): 17 the
     * merchant ID it was sent under, 18 the entity to name ("" when none), 19 the merchant ID
     * the hierarchy gives the resubmission with that entity, 20 whether it was sent, 21 its
     * operation, 22 whether, never sent, an entity it named might have chosen the merchant. */
    "t.merchant_id, coalesce(" RESUBMIT_ENTITY ", ''), coalesce(" RESUBMIT_PAYTYPE_MERCHANT
    ", CASE WHEN " RESUBMIT_ENTITY " IS NOT NULL THEN t.merchant_id END, "
    "(SELECT s.merchant_id FROM auth_service s WHERE s.service_bureau = t.service_bureau)), "
    "t.sent_at IS NOT NULL, t.operation, " RESUBMIT_PAYTYPE_MERCHANT " IS NULL AND EXISTS "
    "(SELECT 1 FROM merchant_id_override o WHERE o.company = t.company "
    "AND o.service_bureau = t.service_bureau) "
    "FROM cc_deposit_trans t WHERE request_id = $1 AND " OPEN_REJECTED " FOR UPDATE";

/* Why a deposit is not one to confirm or resubmit: what its row says. */
static const char *const SQL_WHY_NOT =
    "SELECT status, deposit_status, (SELECT note FROM cc_deposit_history h "
    "WHERE h.request_id = t.request_id AND h.event IN ('confirmed', 'resubmitted') "
    "ORDER BY h.id DESC LIMIT 1) FROM cc_deposit_trans t WHERE request_id = $1";

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

/* Says on stderr why rid cannot be confirmed or resubmitted (`what`). */
static void why_not(PGconn *db, const char *rid, const char *what)
{
    const char *p[] = {rid};
    PGresult *r = PQexecParams(db, SQL_WHY_NOT, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fprintf(stderr, "paylinkctl: %s is not a deposit paylink has\n", rid);
    else if (strcmp(PQgetvalue(r, 0, 1), "*CONF") == 0)
        fprintf(stderr, "paylinkctl: %s was confirmed already (%s): it is not %s\n", rid,
                PQgetvalue(r, 0, 2), what);
    else if (strcmp(PQgetvalue(r, 0, 1), "*RESB") == 0)
        fprintf(stderr,
                "paylinkctl: %s was %s already: it is not %s again (see the resubmission's own "
                "outcome)\n",
                rid, PQgetvalue(r, 0, 2), what);
    else
        fprintf(stderr, "paylinkctl: %s is %s, not a rejected deposit: it is not %s\n", rid,
                PQgetvalue(r, 0, 0), what);
    PQclear(r);
}

/* Tells the operator, on stderr, what a confirmed capture did to an authorization that was not
 * intact any more (a of SQL_CONFIRM_AUTH). Returns whether it said anything: the confirmation is
 * recorded all the same (the bureau did capture: left rejected, the deposit could be resubmitted
 * and collected again), but the money needs a look that paylink cannot take. */
static bool confirm_warn(const PGresult *a, const char *rid)
{
    const char *status = PQgetvalue(a, 0, 0), *auth = PQgetvalue(a, 0, 1);
    const char *amount = PQgetvalue(a, 0, 2), *counted = PQgetvalue(a, 0, 3);
    const char *excess = PQgetvalue(a, 0, 4), *deposited = PQgetvalue(a, 0, 5);
    const char *authorized = PQgetvalue(a, 0, 6), *voided = PQgetvalue(a, 0, 7);
    const char *voided_now = PQgetvalue(a, 0, 8), *reason = PQgetvalue(a, 0, 9);
    const char *by = PQgetvalue(a, 0, 10);
    bool deferred = PQgetvalue(a, 0, 11)[0] == 't';
    char over[120] = "";
    if (strcmp(excess, "0.00") != 0)
        snprintf(over, sizeof over,
                 "; %s of it is more than the authorization had left and is not counted", excess);
    if (strcmp(status, "reversed") == 0) {
        fprintf(stderr,
                "paylinkctl: warning: %s was confirmed, but its authorization %s was reversed "
                "(%s): the bureau released all of it, so the capture of %s is not counted on it "
                "and its books stay as the reversal left them (nothing more can be captured "
                "there). A bureau refuses to reverse a captured authorization (CyberSource 238): "
                "check in the bureau's report that %s was captured, and against what; if the "
                "order was collected again meanwhile (an auth+capture in the authorization's "
                "place), refund the one collected twice with a credit\n",
                rid, auth,
                PQgetisnull(a, 0, 13) ? "no approved reversal recorded" : PQgetvalue(a, 0, 13),
                amount, rid);
        return true;
    }
    if (strcmp(status, "voided") == 0 || deferred) {
        char left[160];
        if (deferred)
            snprintf(left, sizeof left,
                     "; the void is recorded once the deposits in flight on it end, of what they "
                     "and this capture leave");
        else
            snprintf(left, sizeof left, "; its voided amount is now %s (was %s)", voided_now,
                     voided);
        fprintf(stderr,
                "paylinkctl: warning: %s was confirmed, but the remainder of its authorization %s "
                "was voided meanwhile (%s by %s): the bureau released only what was not captured, "
                "so %s is counted deposited on it (now %s of %s)%s%s. ",
                rid, auth, reason, by, counted, deposited, authorized, over, left);
        if (strcmp(reason, "auth_capture") == 0)
            fprintf(stderr,
                    "%s authorized and captured anew in its place: if it collected what %s "
                    "collected, the order was collected twice; refund one with a credit "
                    "(capture_ref %s)\n",
                    by, rid, by);
        else
            fprintf(stderr,
                    "%s's capture released the remainder at the bureau: check in the bureau's "
                    "report that %s was captured before it (after it, the bureau captured "
                    "without a hold)\n",
                    by, rid);
        return true;
    }
    if (strcmp(status, "approved") != 0 && strcmp(status, "review") != 0) {
        fprintf(stderr,
                "paylinkctl: warning: %s was confirmed, but its authorization %s is %s now: %s is "
                "counted deposited on it (now %s of %s)%s; check in the bureau's report what was "
                "captured\n",
                rid, auth, status, counted, deposited, authorized, over);
        return true;
    }
    /* Intact, but the capture is more than it had left uncaptured (no deposit claims on it:
     * cmd_confirm refuses then): the books count what it had left, the bureau may have
     * captured more than it held, or another amount than the deposit says. */
    if (*over) {
        fprintf(stderr,
                "paylinkctl: warning: %s was confirmed, but its authorization %s had only %s of "
                "%s left uncaptured: %s is counted deposited on it (now %s of %s)%s; check in the "
                "bureau's report what was captured, and against what\n",
                rid, auth, PQgetvalue(a, 0, 15), authorized, counted, deposited, authorized, over);
        return true;
    }
    return false;
}

/* Tells the operator, on stderr, that a confirmed follow-on credit is counted credited on its
 * debit for less than its amount (k of SQL_CONFIRM_CREDIT; no credit in flight claims on the
 * debit: cmd_confirm refuses then). Returns whether it said anything: the confirmation is
 * recorded all the same (the bureau did refund; left rejected, the credit could be resubmitted
 * and refunded again), but the bureau refunded more than paylink's books let it, or against
 * something else, which paylink cannot tell. */
static bool credit_warn(const PGresult *k, const char *rid)
{
    if (PQgetvalue(k, 0, 11)[0] != 't')
        return false;
    const char *debit = PQgetvalue(k, 0, 0), *status = PQgetvalue(k, 0, 1);
    const char *amount = PQgetvalue(k, 0, 2), *counted = PQgetvalue(k, 0, 3);
    const char *excess = PQgetvalue(k, 0, 4), *captured = PQgetvalue(k, 0, 5);
    const char *credited = PQgetvalue(k, 0, 7), *left = PQgetvalue(k, 0, 9);
    /* A debit confirmed by hand keeps its refused status and nothing deposited: a follow-on
     * credit of it is declined without a call (capture_not_approved). (One without an outcome
     * yet, or held for review, never gets here: cmd_confirm refuses then.) */
    if (strcmp(status, "approved") != 0)
        fprintf(stderr,
                "paylinkctl: warning: %s was confirmed, but its debit %s is %s in paylink's "
                "books, with nothing captured to refund: nothing of its %s is counted credited "
                "on it; check in the bureau's report what was refunded, and against what\n",
                rid, debit, status, amount);
    else
        fprintf(stderr,
                "paylinkctl: warning: %s was confirmed, but its debit %s had only %s of %s left "
                "to refund: %s is counted credited on it (now %s of %s); %s of it is more than "
                "the debit had left and is not counted. Check in the bureau's report what was "
                "refunded, and against what: the bureau refunded more than the debit had left "
                "(the same refund twice, say)\n",
                rid, debit, left, captured, counted, credited, captured, excess);
    return true;
}

/* Says on stdout what the confirmed capture voided of its authorization, intact before it (a of
 * SQL_CONFIRM_AUTH), as it was sent (void remainder): b is SQL_CONFIRM_SHRINK's row, the
 * authorization now. Nothing for anything else: confirm_warn says it. */
static void confirm_said_void(const PGresult *a, const PGresult *b, const char *rid)
{
    if (PQntuples(b) != 1 || PQgetvalue(a, 0, 11)[0] == 't' || !*PQgetvalue(a, 0, 16) ||
        (strcmp(PQgetvalue(a, 0, 0), "approved") != 0 &&
         strcmp(PQgetvalue(a, 0, 0), "review") != 0))
        return;
    const char *auth = PQgetvalue(a, 0, 1), *mode = PQgetvalue(a, 0, 16);
    if (strcmp(PQgetvalue(b, 0, 0), "voided") == 0 && strcmp(PQgetvalue(b, 0, 3), rid) == 0)
        printf("%s was sent voiding the remainder of its authorization %s: that remainder, %s, is "
               "voided (%s)\n",
               rid, auth, PQgetvalue(b, 0, 1), mode);
    else if (strcmp(PQgetvalue(b, 0, 4), rid) == 0)
        printf("%s was sent voiding the remainder of its authorization %s: that remainder is "
               "voided (%s) once the deposits in flight on it (%s claimed) end\n",
               rid, auth, mode, PQgetvalue(a, 0, 14));
}

/* Tells the operator, on stderr, that the authorization a confirmed auth+capture replaced was not
 * intact any more (x: SQL_CONFIRM_REPLACED before the confirmation), so the confirmation voided
 * and reversed nothing of it. Returns whether it said anything: whoever voided or reversed it
 * may have collected the order too, which paylink cannot tell. */
static bool replaced_warn(const PGresult *x, const char *rid)
{
    const char *status = PQgetvalue(x, 0, 0), *auth = PQgetvalue(x, 0, 1);
    const char *reason = PQgetvalue(x, 0, 6), *by = PQgetvalue(x, 0, 7);
    bool deferred = PQgetvalue(x, 0, 8)[0] == 't';
    if (strcmp(status, "reversed") == 0) {
        fprintf(stderr,
                "paylinkctl: warning: %s was confirmed, but the authorization %s it replaced (an "
                "auth+capture in its place) was reversed meanwhile (%s): the bureau released it, "
                "and nothing more of it is voided or reversed. Check why it was reversed: if the "
                "order was cancelled, or collected otherwise, %s collected it all the same; refund "
                "what was collected twice with a credit (capture_ref %s)\n",
                rid, auth,
                PQgetisnull(x, 0, 10) ? "no approved reversal recorded" : PQgetvalue(x, 0, 10), rid,
                rid);
        return true;
    }
    if (strcmp(status, "voided") != 0 && !deferred)
        return false;
    fprintf(stderr,
            "paylinkctl: warning: %s was confirmed, but the authorization %s it replaced (an "
            "auth+capture in its place) %s (%s by %s): nothing more of it is voided or reversed "
            "by this confirmation. ",
            rid, auth,
            deferred ? "is voided once the deposits in flight on it end" : "was voided meanwhile",
            reason, by);
    if (strcmp(reason, "auth_capture") == 0)
        fprintf(stderr,
                "%s authorized and captured anew in its place too: if it collected what %s "
                "collected, the order was collected twice; refund one with a credit (capture_ref "
                "%s)\n",
                by, rid, by);
    else
        fprintf(stderr,
                "%s captured on it: check in the bureau's report that it and %s did not collect "
                "the same shipment; if they did, refund one with a credit (capture_ref %s)\n",
                by, rid, rid);
    return true;
}

/* Says on stdout what the confirmed auth+capture voided of the authorization it replaced, intact
 * before it (x, SQL_CONFIRM_REPLACED then; y, now), and whether its reversal is owed (o:
 * SQL_CONFIRM_OWE's row). Nothing for anything else: replaced_warn says it. */
static void replaced_said(const PGresult *x, const PGresult *y, const PGresult *o, const char *rid)
{
    if (PQntuples(y) != 1 || PQgetvalue(x, 0, 8)[0] == 't' ||
        (strcmp(PQgetvalue(x, 0, 0), "approved") != 0 &&
         strcmp(PQgetvalue(x, 0, 0), "review") != 0))
        return;
    const char *auth = PQgetvalue(x, 0, 1), *deposited = PQgetvalue(x, 0, 3);
    bool send_reversal = PQgetvalue(x, 0, 11)[0] == 't';
    char rev[64];
    pl_job_derived_request_id(rid, PL_DEPOSIT_REVERSAL_SUFFIX, rev, sizeof rev);
    if (strcmp(PQgetvalue(y, 0, 0), "voided") == 0 && strcmp(PQgetvalue(y, 0, 7), rid) == 0) {
        printf("%s was an auth+capture in place of the authorization %s: what that had left, %s, "
               "is voided (auth_capture)",
               rid, auth, PQgetvalue(y, 0, 5));
        if (PQntuples(o) == 1)
            printf("; its reversal %s of %s is owed: paylink-deposit's resolver publishes it, so "
                   "that the issuer releases the hold\n",
                   rev, PQgetvalue(o, 0, 0));
        else if (send_reversal && strcmp(deposited, "0.00") != 0)
            printf("; it is not reversed: %s of it was captured (a bureau refuses to reverse a "
                   "captured authorization)\n",
                   deposited);
        else
            printf("\n");
    } else if (PQgetvalue(y, 0, 8)[0] == 't' && strcmp(PQgetvalue(y, 0, 7), rid) == 0) {
        printf("%s was an auth+capture in place of the authorization %s: what that leaves is "
               "voided (auth_capture) once the deposits in flight on it (%s claimed) end%s%s%s\n",
               rid, auth, PQgetvalue(x, 0, 4),
               send_reversal && strcmp(deposited, "0.00") == 0
                   ? "; if they capture nothing of it, its reversal "
                   : "",
               send_reversal && strcmp(deposited, "0.00") == 0 ? rev : "",
               send_reversal && strcmp(deposited, "0.00") == 0
                   ? " is owed then, and paylink-deposit's resolver publishes it"
                   : "");
    }
}

/* The confirmed auth+capture's books on the authorization it replaced (SQL_CONFIRM_VOID, then
 * SQL_CONFIRM_OWE: each a statement of its own, the second reads what the first wrote), and
 * that authorization now (*y). *o and *y are set, to be cleared by the caller, whatever it
 * returns. Returns 0, or -1 said on stderr. */
static int confirm_replaced(PGconn *db, const char *const *p, PGresult **o, PGresult **y)
{
    PGresult *v = PQexecParams(db, SQL_CONFIRM_VOID, 1, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(v) == PGRES_TUPLES_OK;
    PQclear(v);
    *o = ok ? PQexecParams(db, SQL_CONFIRM_OWE, 1, NULL, p, NULL, NULL, 0) : NULL;
    ok = ok && PQresultStatus(*o) == PGRES_TUPLES_OK;
    *y = ok ? PQexecParams(db, SQL_CONFIRM_REPLACED, 1, NULL, p, NULL, NULL, 0) : NULL;
    ok = ok && PQresultStatus(*y) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
    return ok ? 0 : -1;
}

static int cmd_confirm(PGconn *db, const char *rid, const char *by, const char *note)
{
    if (exec_ok(db, "BEGIN") != 0) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        return 1;
    }
    const char *p[] = {rid, by, note};
    /* The rows are locked first, each in a statement of its own (the deposit, then its
     * authorization: the order paylink-deposit's statements take them), and read after: a
     * statement that waited for a lock reads the rest (the reversal in flight) as of when it
     * began, so one marked while this waited would be missed, and the capture counted for
     * nothing beside it. */
    for (size_t i = 0; i < sizeof SQL_CONFIRM_LOCK / sizeof SQL_CONFIRM_LOCK[0]; i++) {
        PGresult *l = PQexecParams(db, SQL_CONFIRM_LOCK[i], 1, NULL, p, NULL, NULL, 0);
        bool ok = PQresultStatus(l) == PGRES_TUPLES_OK;
        PQclear(l);
        if (!ok) {
            fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
            exec_ok(db, "ROLLBACK");
            return 1;
        }
    }
    PGresult *r = NULL, *x = NULL, *o = NULL, *y = NULL, *k = NULL;
    PGresult *a = PQexecParams(db, SQL_CONFIRM_AUTH, 1, NULL, p, NULL, NULL, 0);
    int status = 1;
    if (PQresultStatus(a) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        goto out;
    }
    if (PQntuples(a) == 0) {
        why_not(db, rid, "confirmed");
        goto out;
    }
    bool auth = !PQgetisnull(a, 0, 0);
    x = PQexecParams(db, SQL_CONFIRM_REPLACED, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(x) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        goto out;
    }
    bool replaced = PQntuples(x) == 1;
    k = PQexecParams(db, SQL_CONFIRM_CREDIT, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(k) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        goto out;
    }
    bool credit = PQntuples(k) == 1;
    /* A reversal in flight claims the whole authorization: counted now, the capture would be
     * capped to nothing, and the reversal then refused (238, the capture there) would leave the
     * authorization capturable whole again. Its outcome decides what the capture was taken on.
     * Of the authorization an auth+capture replaced, it decides what there is to void and
     * reverse (reversed: nothing; refused: all of it). */
    if (auth && !PQgetisnull(a, 0, 12)) {
        fprintf(stderr,
                "paylinkctl: %s's authorization %s has the reversal %s in flight: %s is not "
                "confirmed until that reversal has an outcome (paylinkctl wreq list)\n",
                rid, PQgetvalue(a, 0, 1), PQgetvalue(a, 0, 12), rid);
        goto out;
    }
    if (replaced && !PQgetisnull(x, 0, 9)) {
        fprintf(stderr,
                "paylinkctl: the authorization %s that %s (an auth+capture) replaced has the "
                "reversal %s in flight: %s is not confirmed until that reversal has an outcome, "
                "which decides what is left of it to void (paylinkctl wreq list)\n",
                PQgetvalue(x, 0, 1), rid, PQgetvalue(x, 0, 9), rid);
        goto out;
    }
    /* A capture that does not fit beside what deposits in flight claim on the authorization
     * would be counted for less than was captured, and once they end (declined, say) the part
     * not counted would look capturable: collected again by the next capture. What it is
     * counted for is known once they have an outcome. */
    if (auth && strcmp(PQgetvalue(a, 0, 0), "reversed") != 0 &&
        strcmp(PQgetvalue(a, 0, 4), "0.00") != 0 && strcmp(PQgetvalue(a, 0, 14), "0.00") != 0) {
        fprintf(stderr,
                "paylinkctl: %s's authorization %s has %s claimed by deposits in flight, and "
                "its %s does not fit beside them (%s authorized, %s left uncaptured): %s is not "
                "confirmed until they have an outcome (paylinkctl wreq list)\n",
                rid, PQgetvalue(a, 0, 1), PQgetvalue(a, 0, 14), PQgetvalue(a, 0, 2),
                PQgetvalue(a, 0, 6), PQgetvalue(a, 0, 15), rid);
        goto out;
    }
    /* Likewise a follow-on credit that does not fit beside what credits of its debit in flight
     * claim (the debit's amount_credited holds their claims): counted for less than was
     * refunded, and once they end (declined, say) the part not counted would look refundable,
     * and the next credit would refund the same money again. */
    if (credit && PQgetvalue(k, 0, 10)[0] == 't') {
        fprintf(stderr,
                "paylinkctl: %s's debit %s has %s claimed by credits in flight, and its %s does "
                "not fit beside them (%s captured, %s credited or claimed): %s is not confirmed "
                "until they have an outcome (paylinkctl wreq list)\n",
                rid, PQgetvalue(k, 0, 0), PQgetvalue(k, 0, 8), PQgetvalue(k, 0, 2),
                PQgetvalue(k, 0, 5), PQgetvalue(k, 0, 6), rid);
        goto out;
    }
    /* A follow-on credit of a debit without an outcome yet (received, sent, unknown): counted
     * now, it would count nothing (only an approved debit has anything to refund), and once the
     * debit is resolved approved (the resolver, wreq resolve) all it captured would look
     * refundable: the next credit would refund the same money again. Its outcome decides what
     * the credit refunded. */
    if (credit && PQgetvalue(k, 0, 12)[0] == 't') {
        fprintf(stderr,
                "paylinkctl: %s's debit %s is %s, with no outcome yet (it may have captured): %s "
                "is not confirmed until the debit has an outcome (paylinkctl wreq list; "
                "paylinkctl wreq show %s)\n",
                rid, PQgetvalue(k, 0, 0), PQgetvalue(k, 0, 1), rid, PQgetvalue(k, 0, 0));
        goto out;
    }
    /*
     * A follow-on credit of a debit Decision Manager held for review (480) refunded nothing of
     * it: that debit captured nothing. With REVIEW the authorization stands and the capture asked
     * with it is not run (seed cybersource-point-to-point.txt, Decision Manager Process, step 4:
     * "The credit card authorization remains approved and valid, but the order may or may not be
     * processed at a later time"; CyberSource's Simple Order client guide, "Handling Decision
     * Manager Reviews", developer.cybersource.com/docs/cybs/en-us/client-sdk/developer/all/so/
     * client-sdk-so/NET_4_or_Later_Client/c_Using_Name-Value_Pairs1/c_Interpreting_the_Reply/
     * cybs_Adv_Merchs_Handling_DM_Reviews.html: an order authorized and captured at once and
     * marked REVIEW is handled as a REJECT; once accepted, its capture is requested without a new
     * authorization). And paylink never records `review` for a debit its answer or record says
     * was captured: a REVIEW beside a ccCaptureReply 100 is unreadable, its outcome unknown
     * (bureau_cybersource.c finish_reply; the resolver escalates such a record,
     * captured_unappliable). Unlike a declined, rejected or failed debit, one in review can
     * neither be confirmed as captured outside paylink (OPEN_REJECTED) nor become approved (a
     * final outcome): nothing makes this credit's refund one of it. Refused, nothing written, as
     * paylink-deposit declines such a credit (capture_not_approved). Before, it was confirmed,
     * counted for nothing, with a warning that the debit had nothing captured "in paylink's
     * books", as if the bureau might have captured it.
     */
    if (credit && strcmp(PQgetvalue(k, 0, 1), "review") == 0) {
        fprintf(stderr,
                "paylinkctl: %s's debit %s was held for review by Decision Manager (480), and "
                "CyberSource runs no capture with an order it holds for review: %s captured "
                "nothing, so %s refunded nothing of it and is not confirmed. If the order was "
                "captured since (a debit sent once the review was accepted) and refunded outside "
                "paylink, that debit's books do not count the refund: do not credit it again\n",
                rid, PQgetvalue(k, 0, 0), PQgetvalue(k, 0, 0), rid);
        goto out;
    }
    r = PQexecParams(db, SQL_CONFIRM, 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        goto out;
    }
    PQclear(r);
    r = PQexecParams(db, SQL_CONFIRM_BOOK, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        goto out;
    }
    PQclear(r);
    r = PQexecParams(db, SQL_CONFIRM_SHRINK, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        goto out;
    }
    if (replaced && confirm_replaced(db, p, &o, &y) != 0)
        goto out;
    if (exec_ok(db, "COMMIT") != 0) {
        fprintf(stderr, "paylinkctl: confirm failed: %s", PQerrorMessage(db));
        goto done;
    }
    printf("%s confirmed (*CONF) by %s\n", rid, by);
    if (auth)
        confirm_said_void(a, r, rid);
    if (replaced)
        replaced_said(x, y, o, rid);
    /* Committed: nothing to roll back, but the operator has to look (as a resubmission that may
     * or may not be on the topic). */
    status = (auth && confirm_warn(a, rid)) || (replaced && replaced_warn(x, rid)) ||
                     (credit && credit_warn(k, rid))
                 ? 1
                 : 0;
    goto done;
out:
    exec_ok(db, "ROLLBACK");
done:
    PQclear(a);
    PQclear(r);
    PQclear(x);
    PQclear(o);
    PQclear(y);
    PQclear(k);
    return status;
}

/*
 * Whether the resubmission built from r (SQL_RESUBMITTABLE) can go under the merchant ID the
 * deposit went under (says on stderr why not). Only one the worker sends under the merchant ID
 * hierarchy is asked: a stand-alone credit, or a debit on a token of its own that was no
 * capture (an auth+capture; a capture, a follow-on credit and an auth+capture on the token of
 * its authorization go under the merchant ID of what they name, pl_job_follow_merchant).
 * `token` is the token the resubmission sends.
 */
static bool same_merchant(const PGresult *r, const char *rid, const char *token)
{
    const char *type = PQgetvalue(r, 0, 0), *went = PQgetvalue(r, 0, 17);
    const char *now = PQgetvalue(r, 0, 19);
    if (!*token || *PQgetvalue(r, 0, 11) ||
        (strcmp(type, "debit") == 0 && *PQgetvalue(r, 0, 9) &&
         strcmp(PQgetvalue(r, 0, 21), "capture") == 0))
        return true;
    if (PQgetvalue(r, 0, 20)[0] == 't') {
        if (strcmp(went, now) == 0)
            return true;
        /* The configuration changed since (an override or pay type merchant ID removed or
         * changed), or the entity's override names another merchant ID now. */
        fprintf(stderr,
                "paylinkctl: %s went under merchant ID \"%s\", and its resubmission would go under "
                "\"%s\": no entity's merchant ID override, pay type or service bureau %s names "
                "\"%s\" now, so the money would move in another merchant's account; restore that "
                "merchant ID in the configuration, or the upstream system must send it again\n",
                rid, went, now, PQgetvalue(r, 0, 4), went);
        return false;
    }
    if (PQgetvalue(r, 0, 22)[0] != 't')
        return true;
    fprintf(stderr,
            "paylinkctl: %s was never sent, and the entity it named is not stored: company %s "
            "has merchant ID overrides at service bureau %s, so its resubmission could go under "
            "another merchant ID than the one it named; the upstream system must send it again\n",
            rid, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 4));
    return false;
}

/* Builds the new request from the stored row r (SQL_RESUBMITTABLE). NULL, said on stderr, when
 * it cannot be rebuilt as the original went. */
static char *resubmission(const PGresult *r, const char *rid, const char *new_id)
{
    const char *type = PQgetvalue(r, 0, 0), *token = PQgetvalue(r, 0, 12);
    const char *auth_rid = PQgetvalue(r, 0, 9), *auth_tid = PQgetvalue(r, 0, 10);
    const char *capture_rid = PQgetvalue(r, 0, 11);
    bool has_ref = *auth_rid || *auth_tid || *capture_rid;
    /* The token the deposit took from what it names (paylink-deposit recorded it on the row) is
     * not sent as the request's own: the worker takes it from there again, and with it the
     * merchant ID that authorization or debit went under, where the bureau holds the token. A
     * token sent as the request's own went under the configuration's merchant ID (an
     * auth+capture of an expired authorization under an entity's merchant ID was refused). */
    if (has_ref && *token && strcmp(token, PQgetvalue(r, 0, 15)) == 0)
        token = "";
    if ((!has_ref && !*token) || (!*auth_rid && *auth_tid)) {
        /* A stand-alone deposit on a card number, or a manual authorization (its number, date
         * and amount): not stored. */
        fprintf(stderr,
                "paylinkctl: %s refers to no authorization, capture or token, or to a manual "
                "authorization; its card number, or the manual authorization's number, date and "
                "amount, are not stored, so the upstream system must send it again\n",
                rid);
        return NULL;
    }
    if (!same_merchant(r, rid, token))
        return NULL;
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
    /* The merchant ID the deposit went under, through the entity whose override names it
     * (SQL_RESUBMITTABLE, RESUBMIT_ENTITY). */
    if (*PQgetvalue(r, 0, 18))
        json_object_object_add(m, "entity", json_object_new_string(PQgetvalue(r, 0, 18)));
    if (!PQgetisnull(r, 0, 6))
        json_object_object_add(m, "amount", json_object_new_string(PQgetvalue(r, 0, 6)));
    if (!PQgetisnull(r, 0, 7) && *PQgetvalue(r, 0, 7))
        json_object_object_add(m, "currency", json_object_new_string(PQgetvalue(r, 0, 7)));
    if (PQgetvalue(r, 0, 8)[0] == 't')
        json_object_object_add(m, "installment", json_object_new_boolean(1));
    if (*auth_rid) {
        json_object *ref = json_object_new_object();
        json_object_object_add(ref, "request_id", json_object_new_string(auth_rid));
        json_object_object_add(m, "auth_ref", ref);
    }
    if (*capture_rid) {
        json_object *ref = json_object_new_object();
        json_object_object_add(ref, "request_id", json_object_new_string(capture_rid));
        json_object_object_add(m, "capture_ref", ref);
    }
    /* seed (External Payment Service): "Resubmission of a failed deposit ... A subsequent
     * authorization and deposit request is generated, with ... subsequentAuthReason set to
     * RESUBMIT" (REAUTH where the bureau lacks Supports Auth Resubmission: paylink-deposit
     * decides). Only an auth+capture sends it. */
    if (strcmp(type, "debit") == 0 && strcmp(PQgetvalue(r, 0, 16), "EXT") == 0) {
        json_object *sub = json_object_new_object();
        json_object_object_add(sub, "reason", json_object_new_string("RESUBMIT"));
        json_object_object_add(m, "subsequent_auth", sub);
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

/* rid's row read for a resubmission (SQL_RESUBMITTABLE, locked), or NULL said on stderr. */
static PGresult *resubmittable(PGconn *db, const char *rid)
{
    const char *p[] = {rid};
    PGresult *r = PQexecParams(db, SQL_RESUBMITTABLE, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: reading %s failed: %s", rid, PQerrorMessage(db));
    } else if (PQntuples(r) != 1) {
        why_not(db, rid, "resubmitted");
    } else {
        return r;
    }
    PQclear(r);
    return NULL;
}

char *pl_deposits_resubmission(PGconn *db, const char *rid, const char *new_id)
{
    PGresult *r = resubmittable(db, rid);
    char *msg = r ? resubmission(r, rid, new_id) : NULL;
    PQclear(r);
    return msg;
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
    PGresult *r = resubmittable(db, rid);
    if (!r)
        goto out;
    char new_id[64];
    if (as)
        snprintf(new_id, sizeof new_id, "%s", as);
    else
        snprintf(new_id, sizeof new_id, "%s.r%ld", rid, strtol(PQgetvalue(r, 0, 14), NULL, 10) + 1);
    if (strlen(new_id) > 50) {
        fprintf(stderr, "paylinkctl: %s is longer than 50 characters: give --as NEW_ID\n", new_id);
        goto out;
    }
    if (!(msg = resubmission(r, rid, new_id)))
        goto out;
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
    /* The history row commits only once the request is on the topic, or may be: a publish
     * that timed out after it left may have landed, and the deposit then open to confirm or
     * resubmit again would be collected twice. It is recorded resubmitted, and the operator
     * told to look for the new request. */
    bool uncertain = false;
    if (pl_ctlkafka_produce_uncertain(brokers, topic, key, msg, strlen(msg), 30000, &uncertain, err,
                                      sizeof err) != 0) {
        if (!uncertain) {
            fprintf(stderr, "paylinkctl: publishing the resubmission failed: %s\n", err);
            goto out;
        }
        fprintf(stderr,
                "paylinkctl: the resubmission %s may be on %s or not (%s): %s is recorded as "
                "resubmitted (*RESB) so that it is never collected twice; if no deposit %s "
                "appears in cc_deposit_trans, the upstream system must send the deposit again\n",
                new_id, topic, err, rid, new_id);
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
    if (uncertain) { /* committed: nothing to roll back, but the operator has to look */
        PQclear(r);
        free(msg);
        return 1;
    }
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
          "  receive: ask the bureau now, through the resolver, about every deposit whose\n"
          "  outcome is unknown: settled from its record (final reply published), still open,\n"
          "  or escalated to an operator (never sends a deposit again).\n"
          "  confirm: a rejected deposit was deposited outside paylink (*CONF, recorded); a\n"
          "  capture sent voiding the remainder voids it; an auth+capture voids the\n"
          "  authorization it replaced and owes its reversal (.vdr). Exit 1 with a warning when\n"
          "  its authorization was voided or reversed meanwhile or had less left; refused while\n"
          "  deposits in flight leave it too little. A follow-on credit counts as credited on\n"
          "  its debit: exit 1 with a warning when the debit had less left to refund; refused\n"
          "  while credits of it in flight leave it too little, or while the debit has no\n"
          "  outcome yet.\n"
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
    const char *only = NULL, *by = NULL, *note = "", *as = NULL;
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
    /* Whatever is given is stored (cc_deposit_history.actor, .note) or published (--as): checked
     * before anything is written, a card number refused in each. */
    char errstr[200];
    if (!by)
        by = receive ? pl_opsctl_default_name() : "paylinkctl";
    else if (pl_opsctl_check_name("--by", by, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "paylinkctl: deposits %s: %s\n", argv[1], errstr);
        return 1;
    }
    if (pl_opsctl_check_note("--note", note, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "paylinkctl: deposits %s: %s\n", argv[1], errstr);
        return 1;
    }
    if (as && !pl_request_id_ok(as)) {
        fprintf(stderr,
                "paylinkctl: deposits %s: --as: expected a request_id of 1 to 50 characters of "
                "A-Z a-z 0-9 . _ : - holding no card number\n",
                argv[1]);
        return 1;
    }
    if (only && (strlen(only) > 50 || pl_card_contains_full(only, strlen(only)))) {
        fprintf(stderr, "paylinkctl: deposits %s: --request-id: expected a request_id\n", argv[1]);
        return 1;
    }
    PGconn *db = pl_ctldb_connect(conninfo, stderr);
    if (!db)
        return 1;
    int status = receive   ? cmd_receive(db, conninfo, only, by, brokers, prefix)
                 : confirm ? cmd_confirm(db, only, by, note)
                           : cmd_resubmit(db, only, as, by, note, brokers, prefix);
    PQfinish(db);
    return status;
}
