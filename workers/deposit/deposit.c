/* deposit.c: what paylink-deposit adds to the engine (see deposit.h). */
#include "deposit.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bureau_cybersource.h"
#include "db.h"
#include "ext_rules.h"
#include "jsonutil.h"
#include "log.h"
#include "money.h"

/* The marks are each a statement over e, their parameters as one row or (merged) as one row per
 * execution (db.h, PL_DB_E_ONE_n / _MANY_n), so a mark and its merged form share their text.
 * me: the deposit of each row of e (p1), still 'received' or 'sent' by this very attempt (p8),
 * locked, with its parameters. */
#define DEP_MARK_ME                                                                                \
    "me AS (SELECT d.request_id, d.status, e.* FROM e JOIN cc_deposit_trans d "                    \
    "ON d.request_id = e.p1 WHERE d.status = 'received' "                                          \
    "OR (d.status = 'sent' AND d.sent_by = e.p8) FOR UPDATE OF d)"
/* The mark of me's rows (p2-p8; claim_amount what it claimed; void_remainder whether a capture
 * voids what remains of its authorization, as it is sent: 046), when the condition that follows
 * it holds. */
#define DEP_MARK(claim_amount, void_remainder)                                                     \
    " UPDATE cc_deposit_trans d SET status = 'sent', deposit_status = '*SENT', "                   \
    "sent_at = now(), operation = me.p2, merchant_id = me.p3, deposit_reason = me.p4, "            \
    "auth_history_id = me.p5::bigint, ref_transaction_id = me.p6, card_token = CASE WHEN "         \
    "d.card_token = '' THEN me.p7 ELSE d.card_token END, sent_by = me.p8, "                        \
    "claim_amount = " claim_amount ", void_remainder = " void_remainder " "                        \
    "FROM me WHERE d.request_id = me.request_id "
/* The mark's condition when it claims: the claim was made (found by what it claimed on:
 * executions of one statement never claim on one row, pl_deposit_touch_key, so a row's claim is
 * one execution's) or the row is this attempt's already. */
#define DEP_MARK_CLAIMED(found)                                                                    \
    "AND (me.status = 'sent' OR EXISTS (SELECT 1 FROM claim c WHERE " found ")) "                  \
    "RETURNING d.request_id"
/* A capture's claim of its amount (p9) on its authorization (p5), and its mark (p10: whether it
 * voids the remainder). Not on a review Decision Manager has rejected since the debit was
 * prepared (dep_refs read it then; paylink-dmupdate records the decision in dm_decision only):
 * a debit waiting for a bureau slot meanwhile was captured on an order fraud screening
 * rejected. The claim failing, the debit is decided again, and declined. */
#define DEP_CLAIM_AUTH                                                                             \
    ", claim AS (UPDATE auth_history h SET amount_pending = h.amount_pending + me.p9::numeric "    \
    "FROM me WHERE me.status = 'received' AND h.id = me.p5::bigint "                               \
    "AND h.status IN ('approved', 'review') AND h.void_deferred_by IS NULL "                       \
    "AND (h.status <> 'review' OR (SELECT dd.new_decision FROM dm_decision dd "                    \
    "WHERE dd.company = h.company AND dd.transaction_id = h.transaction_id "                       \
    "ORDER BY dd.conversion_date DESC, dd.id DESC LIMIT 1) IS DISTINCT FROM 'REJECT') "            \
    "AND h.amount_authorized - h.amount_deposited - h.amount_pending >= me.p9::numeric "           \
    "RETURNING h.id) "
#define DEP_MARK_AUTH                                                                              \
    DEP_MARK_ME DEP_CLAIM_AUTH DEP_MARK("me.p9::numeric", "me.p10::boolean")                       \
        DEP_MARK_CLAIMED("c.id = me.p5::bigint")
/* A follow-on credit's claim of its amount (p9) on the debit it refunds (p10), and its mark. */
#define DEP_CLAIM_CAPTURE                                                                          \
    ", claim AS (UPDATE cc_deposit_trans c SET amount_credited = c.amount_credited "               \
    "+ me.p9::numeric FROM me WHERE me.status = 'received' AND c.request_id = me.p10 "             \
    "AND c.status = 'approved' "                                                                   \
    "AND coalesce(c.amount_deposited, 0) - c.amount_credited >= me.p9::numeric "                   \
    "RETURNING c.request_id) "
#define DEP_MARK_CAPTURE                                                                           \
    DEP_MARK_ME DEP_CLAIM_CAPTURE DEP_MARK("me.p9::numeric", "NULL")                               \
        DEP_MARK_CLAIMED("c.request_id = me.p10")

/* The answer of each row of e (p1-p11: one row, or one per answer merged; db.h) and its history
 * row; upd also returns the columns `more` names. */
#define DEP_STORE_RETURNING                                                                        \
    "RETURNING request_id, status, deposit_status, operation, amount_deposited, "                  \
    "vendor_response, transaction_id"
#define DEP_STORE_HIST                                                                             \
    "hist AS (INSERT INTO cc_deposit_history (request_id, event, status, deposit_status, "         \
    "operation, amount, vendor_response, transaction_id, actor) "                                  \
    "SELECT request_id, 'answered', status, deposit_status, operation, amount_deposited, "         \
    "vendor_response, transaction_id, 'paylink-deposit' FROM upd) "
#define DEP_STORE(more)                                                                            \
    "upd AS (UPDATE cc_deposit_trans d SET status = e.p2, deposit_status = '*RCVD', "              \
    "decision = e.p3, vendor_response = e.p4, amount_deposited = e.p5::numeric, "                  \
    "auth_number = e.p6, auth_date = e.p7, transaction_id = e.p8, request_token = e.p9, "          \
    "error_text = left(e.p10, 300), reply = e.p11::jsonb, answered_at = now() FROM e "             \
    "WHERE d.request_id = e.p1 AND d.status IN ('sent', 'unknown') " DEP_STORE_RETURNING more      \
    "), " DEP_STORE_HIST

/* The authorization an answer's new authorization code brings (seed step 6): $12 the paylink
 * authorization's request id (NULL for a manual one), $13 its transaction type; what upd returns
 * for it. */
#define DEP_NEW_AUTH_RETURNING                                                                     \
    ", company, order_number, pay_seq, service_bureau, currency, auth_number, auth_date, "         \
    "request_token"
#define DEP_NEW_AUTH                                                                               \
    ", newauth AS (INSERT INTO auth_history (request_id, deposit_request_id, company, "            \
    "order_number, pay_seq, service_bureau, transaction_type, status, amount_authorized, "         \
    "amount_deposited, currency, auth_number, auth_date, transaction_id, request_token, "          \
    "vendor_response) "                                                                            \
    "SELECT $12::varchar, request_id, company, order_number, pay_seq, service_bureau, $13, "       \
    "'approved', amount_deposited, amount_deposited, currency, auth_number, auth_date, "           \
    "transaction_id, request_token, vendor_response FROM upd WHERE upd.status = 'approved') "

/*
 * A new request's row from e, recorded only when its references belong to its own company and
 * order and are in its currency (the auth_ref request id, an inline transaction id paylink
 * knows, the capture_ref debit; a request or reference without a currency, or a token that
 * authorized no amount, is not compared): a reference to another order, or in another
 * currency, is refused as invalid before anything is written (spec judge).
 *
 * Every look-up here is an index probe whatever the parameters, so PostgreSQL keeps one
 * generic plan for the statement: h.transaction_id <> '' (implied by the line before it) lets
 * that plan use the partial index auth_history_transaction. Without it the generic plan read
 * auth_history in full for inline references and PostgreSQL planned the statement anew for
 * every deposit (~1.1 M instructions of the backend, three quarters of its record unit).
 *
 * The check of the capture_ref debit is skipped when the request names none (p18 '', every
 * debit): as a NOT EXISTS alone PostgreSQL made it an anti-join, and on a new database, where
 * cc_deposit_trans is small when the merged statement is planned (db.c then replanned only
 * every 10 s), a hash anti-join over the whole table, read again for every batch while the
 * table grew: 856 sequential scans in a 20,000-deposit step on a fresh database, PostgreSQL's
 * CPU a deposit 397 us against ~235 (docs/perf/ROUNDS.md, twenty-fourth round). Behind the OR it is
 * a sub-plan evaluated only for a request that names a debit (test_deposit_many
 * test_record_reads_no_debit_for_a_debit).
 *
 * Only a debit is checked, as dep_refs looks up only a debit: a capture_ref naming a credit (of
 * any order or currency) is no debit to refund, so the request is recorded and declined
 * capture_not_found. Refused here, it left the judge (dep_judge reads that look-up) nothing to
 * name, and the engine answered `error` instead.
 */
#define DEP_INSERT                                                                                 \
    "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, company, "               \
    "order_number, pay_seq, service_bureau, pay_type, amount, currency, installment, "             \
    "card_masked, card_hash, card_token, card_type, auth_ref_request_id, "                         \
    "auth_ref_transaction_id, capture_ref_request_id) "                                            \
    "SELECT e.p1::varchar, e.p2::char(64), e.p3::varchar, e.p4::int, e.p5::varchar, e.p6::int, "   \
    "e.p7::varchar, e.p8::varchar, e.p9::numeric, e.p10::char(3), e.p11::boolean, "                \
    "e.p12::varchar, e.p13::char(64), e.p14::varchar, e.p15::varchar, e.p16::varchar, "            \
    "e.p17::varchar, e.p18::varchar FROM e "                                                       \
    "WHERE NOT EXISTS (SELECT 1 FROM cc_auth_trans a WHERE a.request_id = e.p16::varchar "         \
    "AND (a.company <> e.p4::int OR a.order_number <> e.p5::varchar "                              \
    "OR (a.currency <> e.p10::char(3) AND a.amount IS NOT NULL))) "                                \
    "AND NOT EXISTS (SELECT 1 FROM auth_history h WHERE e.p16::varchar = '' "                      \
    "AND e.p17::varchar <> '' AND h.transaction_id = e.p17::varchar AND h.transaction_id <> '' "   \
    "AND (h.company <> e.p4::int OR h.order_number <> e.p5::varchar "                              \
    "OR (h.currency <> e.p10::char(3) AND h.amount_authorized IS NOT NULL))) "                     \
    "AND (e.p18::varchar = '' OR NOT EXISTS (SELECT 1 FROM cc_deposit_trans d "                    \
    "WHERE d.request_id = e.p18::varchar AND d.request_type = 'debit' "                            \
    "AND (d.company <> e.p4::int OR d.order_number <> e.p5::varchar "                              \
    "OR d.currency <> e.p10::char(3)))) "                                                          \
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"

/*
 * What a request refers to (REF_AUTH, REF_CAPTURE): columns 0-11, the paylink authorization
 * auth_ref.request_id (auth_rid), its latest answer (rows an auth+capture added are deposits,
 * not the authorization being settled; a review, 480, is an issuer approval too; `voided` once a
 * capture voided its remainder at the bureau, also while that void waits in paylink's books for
 * another claim to end, 050); columns
 * 12-20, the paylink debit capture_ref.request_id (capture_rid) a follow-on credit refunds, with
 * what remains to refund and its currency; column 21 (REF_ANSWERED), the authorization's status
 * as the bureau answered it (cc_auth_trans.status: `rejected` by fraud screening stays so after
 * its reversal), or `rejected` for a review whose latest Decision Manager decision (dm_decision,
 * paylink-dmupdate; latest by ConversionDate, then id: the one it acted on last, 072) is
 * REJECT; column 22 (REF_AUTH_RID), its request_id (DEP_AUTH_RID may find it by transaction
 * id); columns 23 and 24 (REF_AUTH_MERCHANT, REF_CAPTURE_MERCHANT), the merchant IDs
 * the authorization and the debit were sent under; column 25 (REF_AUTH_OPEN), the status of the
 * paylink authorization named when it has no answer yet (received, sent, unknown); columns 26 and
 * 27 (REF_CIT), the transaction id and amount of the cardholder-initiated transaction of the
 * order payment method (card_cit), read for an EXT debit only (an auth+capture sends it as the
 * CIT it follows, when it is of the card charged), and columns 28 and 29 the card_hash and
 * token of the authorization it came from ("" when it has none). NULLs where the
 * request names nothing or nothing is found; "" rather than NULL for a reference the request lacks:
 * no request id is "", and a NULL made PostgreSQL plan the statement anew each time (it folded the
 * look-up away).
 */
#define DEP_REFS_COLS                                                                              \
    "a.id, a.status, a.authorized, a.deposited, a.auth_number, a.auth_day, "                       \
    "a.transaction_id, a.request_token, a.card_token, a.pay_type, a.card_type, a.pending, "        \
    "c.status, c.transaction_id, c.request_token, c.company, c.order_number, c.deposited, "        \
    "c.credited, c.card_token, c.currency, a.answered, a.request_id, a.merchant_id, "              \
    "c.merchant_id, u.status, k.transaction_id, k.amount, k.card_hash, k.card_token"
/*
 * The authorization a debit draws on is the latest answer of its request that a deposit did not
 * add: a capture whose answer brought another authorization code adds a row (DEP_NEW_AUTH,
 * deposit_request_id set, what it captured), and read as "the authorization" that row hid the
 * remainder of the one the capture drew on (a second capture found nothing left).
 *
 * The paylink authorization a debit names: auth_ref.request_id (rid), else the one of the
 * debit's company and order that the bureau gave auth_ref.transaction_id (tx), the latest
 * answer of it (an inline reference to an authorization paylink holds is that authorization:
 * checked, claimed and settled as by its request id); "" when neither names one.
 */
#define DEP_AUTH_RID(rid, tx, company, order)                                                      \
    "coalesce(nullif(" rid ", ''), (SELECT h2.request_id FROM auth_history h2 WHERE " tx " <> '' " \
    "AND h2.transaction_id = " tx " AND h2.transaction_id <> '' "                                  \
    "AND h2.transaction_type <> 'auth_capture' AND h2.company = " company " "                      \
    "AND h2.order_number = " order " ORDER BY h2.id DESC LIMIT 1), '')"
#define DEP_REFS_JOIN(auth_rid, capture_rid, cit_where)                                            \
    "LEFT JOIN LATERAL (SELECT h.id, CASE WHEN h.void_deferred_by IS NULL THEN h.status "          \
    "ELSE 'voided' END AS status, h.amount_authorized::text AS authorized, "                       \
    "h.amount_deposited::text AS deposited, h.auth_number, "                                       \
    "CASE WHEN h.auth_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN left(h.auth_date, 10) "            \
    "ELSE to_char(h.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END AS auth_day, "                \
    "h.transaction_id, h.request_token, "                                                          \
    "coalesce(nullif(t.card_token, ''), t.token_created) AS card_token, t.pay_type, "              \
    "t.card_type, h.amount_pending::text AS pending, CASE WHEN t.status = 'review' AND "           \
    "(SELECT dd.new_decision FROM dm_decision dd WHERE dd.company = h.company "                    \
    "AND dd.transaction_id = h.transaction_id "                                                    \
    "ORDER BY dd.conversion_date DESC, dd.id DESC LIMIT 1) = 'REJECT' "                            \
    "THEN 'rejected' ELSE t.status END AS answered, h.request_id, "                                \
    "t.merchant_id "                                                                               \
    "FROM auth_history h JOIN cc_auth_trans t ON t.request_id = h.request_id "                     \
    "WHERE h.request_id = " auth_rid " AND h.transaction_type <> 'auth_capture' "                  \
    "AND h.deposit_request_id IS NULL ORDER BY h.id DESC LIMIT 1) a ON true "                      \
    "LEFT JOIN LATERAL (SELECT status, transaction_id, request_token, company, order_number, "     \
    "coalesce(amount_deposited, 0)::text AS deposited, amount_credited::text AS credited, "        \
    "card_token, coalesce(currency, '') AS currency, merchant_id FROM cc_deposit_trans "           \
    "WHERE request_id = " capture_rid " AND request_type = 'debit') c ON true "                    \
    "LEFT JOIN LATERAL (SELECT status FROM cc_auth_trans WHERE request_id = " auth_rid " "         \
    "AND status IN ('received', 'sent', 'unknown')) u ON true "                                    \
    "LEFT JOIN LATERAL (SELECT k0.transaction_id, k0.amount::text AS amount, "                     \
    "coalesce(t0.card_hash, '') AS card_hash, "                                                    \
    "coalesce(nullif(t0.card_token, ''), t0.token_created, '') AS card_token "                     \
    "FROM card_cit k0 LEFT JOIN cc_auth_trans t0 ON t0.request_id = k0.request_id "                \
    "WHERE " cit_where " LIMIT 1) k ON true"
/* The CIT of an EXT debit's order payment method (card_cit k0: REF_CIT), by company, order and
 * pay_seq, and the card of the authorization it came from (t0: its card_hash and token, read
 * through card_cit.request_id, whoever wrote the CIT); the gate first, so that no other deposit
 * looks (LIMIT 1 keeps the sub-select apart, where the gate, a parameter, is a one-time
 * filter). */
#define DEP_CIT_WHERE(gate, company, order, pay_seq)                                               \
    gate "::boolean AND k0.company = " company " AND k0.order_number = " order                     \
         " AND k0.pay_seq = " pay_seq

/* The rows e's requests inserted, each with what it refers to (dep_record). */
#define DEP_RECORD                                                                                 \
    "ins AS (" DEP_INSERT ") SELECT ins.request_id, " DEP_REFS_COLS                                \
    " FROM ins JOIN e ON e.p1 = ins.request_id " DEP_REFS_JOIN(                                    \
        DEP_AUTH_RID("e.p16::varchar", "e.p17::varchar", "e.p4::int", "e.p5::varchar"),            \
        "e.p18::varchar", DEP_CIT_WHERE("e.p19", "e.p4::int", "e.p5::varchar", "e.p6::int"))

static const pl_db_stmt stmts[] = {
    /* Recorded only when its references belong to its own company and order and are in its
     * currency (the auth_ref request id, an inline transaction id paylink knows, the
     * capture_ref debit; a request or reference without a currency, or a token that authorized
     * no amount, is not compared): a reference to another order, or in another currency, is
     * refused as invalid before anything is written (spec judge).
     *
     * Every look-up here is an index probe whatever the parameters, so PostgreSQL keeps one
     * generic plan for the statement: h.transaction_id <> '' (implied by the line before it)
     * lets that plan use the partial index auth_history_transaction. Without it the generic
     * plan read auth_history in full for inline references and PostgreSQL planned the statement
     * anew for every deposit (~1.1 M instructions of the backend, three quarters of its record
     * unit). */
    /*
     * The record unit the first time (spec->record): the row inserted as dep_insert inserts it
     * and, returned with it, the look-ups of dep_refs (columns 1-21): one statement a request,
     * which pl_db merges for many requests in a batch (dep_record:many). A row only when it
     * inserted: a redelivery or a refused request is recorded again with dep_insert and
     * dep_refs, and the row read back.
     */
    {"dep_record", "WITH " PL_DB_E_ONE_19 ", " DEP_RECORD, 19},
    {"dep_record:many", "WITH " PL_DB_E_MANY_19 ", " DEP_RECORD, 19},
    {"dep_insert", "WITH " PL_DB_E_ONE_18 " " DEP_INSERT, 18},
    /*
     * Result 1 of the record unit that reads the row back, always one row: what the request
     * refers to, NULLs where it names nothing or nothing is found (DEP_REFS_COLS).
     */
    {"dep_refs",
     "SELECT " DEP_REFS_COLS " FROM (SELECT) one " DEP_REFS_JOIN(
         DEP_AUTH_RID("$1::varchar", "$3::varchar", "$4::int", "$5::varchar"), "$2::varchar",
         DEP_CIT_WHERE("$7", "$4::int", "$5::varchar", "$6::int")),
     7},
    /*
     * Marks the deposit sent and, in the same statement, claims what it draws on: a capture
     * claims its amount ($9) on the authorization (dep_mark_sent_auth), a follow-on credit on
     * the debit it refunds ($10, dep_mark_sent_capture); anything else claims nothing
     * (dep_mark_sent). A claim re-checks what remains on the newest version of that row, so two
     * deposits in flight together can never take the same money; when it fails nothing is
     * marked (no row returned) and the engine decides again with what is left. A mark re-sent
     * by the same attempt ($8) claims nothing twice. One statement per kind of claim: PostgreSQL
     * sets up every part of a statement each time it runs it, used or not (~70,000
     * instructions a capture, when the three were one).
     */
    {"dep_mark_sent",
     "WITH " PL_DB_E_ONE_8 ", " DEP_MARK_ME DEP_MARK("NULL", "NULL") "RETURNING d.request_id", 8},
    {"dep_mark_sent_auth", "WITH " PL_DB_E_ONE_10 ", " DEP_MARK_AUTH, 10},
    /* dep_mark_sent_auth for many captures at once (db.h): the same statement over each
     * execution's parameters. Each claim is on its own authorization (the units declare it,
     * pl_deposit_touch_key, so no two executions of one statement claim on the same row), which
     * tells whether that execution claimed. */
    {"dep_mark_sent_auth:many", "WITH " PL_DB_E_MANY_10 ", " DEP_MARK_AUTH, 10},
    {"dep_mark_sent_capture", "WITH " PL_DB_E_ONE_10 ", " DEP_MARK_CAPTURE, 10},
    /*
     * The answer and its history row (dep_store), and the new authorization an answer's new
     * authorization code brings (dep_store_new_auth, $12 the authorization's request id, $13
     * its transaction type): one statement, so a redelivered answer (the row is no longer
     * 'sent' or 'unknown') changes nothing at all; it returns the row when it did. Two
     * statements rather than one with a switch, as for the marks (~80,000 instructions an
     * answer). What the outcome does to the authorization it drew on (claim released, capture
     * deposited, remainder voided) is the paylink_settle_deposit trigger's (010_remainders.sql),
     * for whoever stores an outcome.
     */
    {"dep_store", "WITH " PL_DB_E_ONE_11 ", " DEP_STORE("") "SELECT request_id FROM upd", 11},
    /* dep_store for many answers at once (db.h): the same statement over each answer. The
     * settle trigger runs for each row, and no two of them settle the same authorization or
     * debit (pl_deposit_touch_key). */
    {"dep_store:many", "WITH " PL_DB_E_MANY_11 ", " DEP_STORE("") "SELECT request_id FROM upd", 11},
    {"dep_store_new_auth",
     "WITH " PL_DB_E_ONE_11 ", " DEP_STORE(DEP_NEW_AUTH_RETURNING) DEP_NEW_AUTH
     "SELECT request_id FROM upd",
     13},
    /*
     * After dep_store of an approved auth+capture $1 whose follow-ups hold no reversal of the
     * authorization it replaced because another call claimed on it at prepare
     * (owes_reversal_if_voided): that reversal, as owed (replaced_auth_reversal, 057; 059), when
     * the settle trigger has just voided the authorization for this deposit with nothing of it
     * captured, on a service bureau with Send reversal. A separate statement, in the store's
     * unit, so that it reads what the trigger did: that transaction holds the authorization's
     * row lock from the void on, so no claim can begin or end in between. A void that waits
     * for a claim still there (050) is not `voided` yet, and 057 records it when it is carried
     * out; a row another actor answered first, with its reversal in its follow-ups (the
     * resolver's store_followups), or recorded once already, gets none (ON CONFLICT: a unit
     * sent again).
     */
    {"dep_owe_reversal",
     PL_SQL_OWE_REPLACED_REVERSAL(
         "d.status = 'approved' AND NOT EXISTS (SELECT 1 FROM "
         "jsonb_array_elements(CASE WHEN jsonb_typeof(d.followups) = 'array' THEN d.followups "
         "ELSE '[]'::jsonb END) f WHERE f->>'topic' LIKE '%.reversal.request')"),
     1},
};

static const char *const protocols[] = {"CYB", "EXT", NULL};

/* What prepare learned, for the call (its references point here), store and followups. */
typedef struct dep_data {
    pl_deposit_choice choice;
    bool has_auth_id;
    char auth_id[24];          /* auth_history.id of the paylink authorization */
    char auth_request_id[51];  /* its cc_auth_trans request_id */
    char auth_number[31];      /* the authorization code it carries */
    pl_deposit_auth auth;      /* what the decision saw */
    int64_t deposited;         /* already captured against it (before this deposit) */
    int64_t pending;           /* claimed on it by other calls in flight */
    char ref_id[65];           /* authRequestID / captureRequestID sent */
    char ref_token[513];       /* and its token */
    char token_used[65];       /* token taken from the authorization for an auth+capture */
    char auth_merchant[31];    /* the merchant ID the authorization was sent under */
    char capture_merchant[31]; /* the merchant ID the debit a credit refunds was sent under */
    /* An EXT auth+capture's subsequent-authorization fields (pl_ext_subsequent). */
    char initiator[12], sub_reason[16], sub_transaction[65];
} dep_data;

/* Reauthorization days when the pay type has no vendor_paytype row: the column's default, so a
 * pay type nobody configured keeps its authorizations a week (README "Deposit rules"). */
#define DEFAULT_REAUTH_DAYS 7

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* ---- the deposit-type decision ---- */

/* Days since 1970-01-01 of "YYYY-MM-DD"; false when malformed. */
static bool day_number(const char *date, long *out)
{
    if (!date || strlen(date) < 10 || date[4] != '-' || date[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (date[i] < '0' || date[i] > '9'))
            return false;
    struct tm tm = {0};
    tm.tm_year = (date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 +
                 (date[3] - '0') - 1900;
    tm.tm_mon = (date[5] - '0') * 10 + (date[6] - '0') - 1;
    tm.tm_mday = (date[8] - '0') * 10 + (date[9] - '0');
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
        return false;
    time_t t = timegm(&tm);
    *out = (long)(t / 86400);
    return true;
}

bool pl_deposit_auth_expired(const char *date, int reauth_days, time_t now)
{
    long day;
    if (!day_number(date, &day))
        return false;
    long today = (long)(now / 86400);
    return today > day + reauth_days;
}

pl_deposit_choice pl_deposit_decide(const pl_request *r, const pl_deposit_auth *auth,
                                    const pl_deposit_capture *cap, bool has_card, int reauth_days,
                                    time_t now)
{
    if (r->type == PL_REQ_CREDIT) {
        if (!r->capture_ref.present)
            return (pl_deposit_choice){PL_DEP_CREDIT_STAND_ALONE, "stand_alone"};
        if (!cap || !cap->found)
            return (pl_deposit_choice){PL_DEP_REFUSE, "capture_not_found"};
        if (!cap->approved)
            return (pl_deposit_choice){PL_DEP_REFUSE, "capture_not_approved"};
        if (r->has_amount && r->amount > cap->refundable)
            return (pl_deposit_choice){PL_DEP_REFUSE, "exceeds_refundable"};
        return (pl_deposit_choice){PL_DEP_CREDIT_FOLLOW_ON, "follow_on"};
    }
    if (r->type != PL_REQ_DEBIT)
        return (pl_deposit_choice){PL_DEP_REFUSE, "not_a_deposit"};

    /* A paylink authorization whose answer is not known yet (a timeout, a call in flight) may
     * hold the funds: authorized anew with the capture, the card would carry both (nothing
     * would ever void the first). Not sent; the order system sends the debit again once that
     * authorization is settled (its final reply). */
    if (auth && auth->outcome_unknown)
        return (pl_deposit_choice){PL_DEP_REFUSE, "authorization_unknown"};
    /* seed (481): "the system deactivates the payment method on the order and requires you to
     * enter another form of payment": a debit naming an authorization fraud screening rejected
     * is not authorized anew with the capture (which is never screened), whatever card it has. */
    if (auth && auth->found && auth->fraud_rejected)
        return (pl_deposit_choice){PL_DEP_REFUSE, "authorization_rejected"};
    /* seed: installment, expired or exceeded authorizations are authorized anew with the
     * capture; a new authorization needs the card. */
    const char *why = NULL;
    if (r->installment)
        why = "installment";
    else if (!auth || !auth->found || !auth->usable)
        why = "no_authorization";
    else if (pl_deposit_auth_expired(auth->date, reauth_days, now))
        why = "expired";
    else if (auth->has_remaining && r->amount > auth->remaining)
        why = "over_authorized";
    if (!why)
        return (pl_deposit_choice){PL_DEP_CAPTURE, "capture"};
    if (!has_card)
        return (pl_deposit_choice){
            PL_DEP_REFUSE,
            strcmp(why, "no_authorization") == 0
                ? (auth && auth->found ? "authorization_not_usable" : "authorization_not_found")
            : strcmp(why, "installment") == 0 ? "installment_no_card"
            : strcmp(why, "expired") == 0     ? "expired_no_card"
                                              : "over_authorized_no_card"};
    return (pl_deposit_choice){PL_DEP_AUTH_CAPTURE, why};
}

/* ---- why a deposit is refused without a call ---- */

/* "<amount> <currency>" of minor units v (never below 0), or the amount alone when the request
 * has no currency; false when it cannot be written (never for an amount of a row). */
static bool amount_text(int64_t v, const char *currency, char *out, size_t outsize)
{
    char a[24];
    if (pl_money_format(v > 0 ? v : 0, a, sizeof a) != 0)
        return false;
    int n = snprintf(out, outsize, "%s%s%s", a, currency && *currency ? " " : "",
                     currency ? currency : "");
    return n > 0 && (size_t)n < outsize;
}

void pl_deposit_refusal_message(const pl_request *r, pl_deposit_choice choice,
                                const pl_deposit_auth *auth, const pl_deposit_capture *cap,
                                char *out, size_t outsize)
{
    if (!out || outsize == 0)
        return;
    /* seed (Siebel): message 16 for a credit without an approved debit to refund (or beyond
     * what it captured), 15 for a debit without an unused authorization. */
    const char *siebel = pl_siebel_message(r->type == PL_REQ_CREDIT ? 16 : 15);
    const char *why = choice.reason ? choice.reason : "";
    char amount[48] = "", sentence[160] = "";
    /* Each sentence fits beside its Siebel message (99 and 107 bytes) in the reply's 199 with
     * amounts of 16 characters (numeric(15,2)) and a currency: tests/unit/test_deposit_decide.c
     * checks every one at the largest amount. */
    if (strcmp(why, "capture_not_found") == 0)
        /* The look-up reads debits only: an unknown request id, an authorization's or a
         * credit's (one of another order or currency is answered `invalid` before this). */
        snprintf(sentence, sizeof sentence, "%s",
                 "capture_ref names no debit paylink has: check it, or send a stand-alone credit "
                 "with the card.");
    else if (strcmp(why, "capture_not_approved") == 0)
        /* A new credit, not this one again: this request's refusal is final, and a redelivery
         * of it is answered from its row. */
        snprintf(sentence, sizeof sentence, "%s",
                 cap && cap->pending
                     ? "The debit capture_ref names has no outcome yet: send a new credit once it "
                       "is approved."
                     : "The debit capture_ref names captured nothing: name one that did, or send a "
                       "stand-alone credit.");
    else if (strcmp(why, "exceeds_refundable") == 0) {
        /* What the debit captured less its credits approved or in flight (their claims), as
         * the decision compared it. */
        if (cap && cap->refundable > 0 &&
            amount_text(cap->refundable, r->currency, amount, sizeof amount))
            snprintf(sentence, sizeof sentence,
                     "Only %s of the debit is left to refund now: credit at most that.", amount);
        else
            snprintf(sentence, sizeof sentence, "%s",
                     "Nothing of the debit is left to refund now: credits approved or in flight "
                     "took all it captured.");
    } else if (strcmp(why, "authorization_rejected") == 0)
        /* seed (481): the payment method is deactivated; another form of payment is needed. */
        snprintf(sentence, sizeof sentence, "%s",
                 "Fraud screening rejected the authorization auth_ref names: take another form of "
                 "payment.");
    else if (strcmp(why, "authorization_not_found") == 0)
        snprintf(sentence, sizeof sentence, "%s",
                 "auth_ref names no authorization paylink has: send the card or token to "
                 "authorize anew.");
    else if (strcmp(why, "authorization_not_usable") == 0)
        snprintf(sentence, sizeof sentence, "%s",
                 "The authorization auth_ref names is declined, voided or reversed: send the card "
                 "or token.");
    else if (strcmp(why, "installment_no_card") == 0)
        snprintf(sentence, sizeof sentence, "%s",
                 "An installment is authorized anew with its capture: send the card or token.");
    else if (strcmp(why, "expired_no_card") == 0)
        snprintf(sentence, sizeof sentence, "%s",
                 "The authorization auth_ref names has expired: send the card or token to "
                 "authorize anew.");
    else if (strcmp(why, "over_authorized_no_card") == 0) {
        /* What it has neither captured nor claimed for deposits in flight. */
        if (auth && auth->has_remaining && auth->remaining > 0 &&
            amount_text(auth->remaining, r->currency, amount, sizeof amount))
            snprintf(sentence, sizeof sentence,
                     "The authorization has %s left: debit at most that, or send the card.",
                     amount);
        else
            snprintf(sentence, sizeof sentence, "%s",
                     "Nothing of the authorization is left: send the card or token to authorize "
                     "anew.");
    } else if (strcmp(why, "not_a_deposit") == 0)
        snprintf(sentence, sizeof sentence, "%s", "Only a debit or a credit is a deposit.");
    /* Never a cut text: the Siebel message alone rather than a sentence that does not fit. */
    int n = snprintf(out, outsize, "%s%s%s", siebel, sentence[0] ? " " : "", sentence);
    if (n < 0 || (size_t)n >= outsize)
        snprintf(out, outsize, "%s", siebel);
}

/* ---- the spec ---- */

/* An EXT debit: the one deposit whose record unit reads its order payment method's CIT. */
static bool ext_debit(const pl_job *job)
{
    return job->req.type == PL_REQ_DEBIT && job->svc && strcmp(job->svc->protocol, "EXT") == 0;
}

static int dep_record(pl_job *job, pl_db_unit *u)
{
    const pl_request *r = &job->req;
    char company[16], pay_seq[16];
    snprintf(company, sizeof company, "%d", r->company);
    snprintf(pay_seq, sizeof pay_seq, "%d", r->pay_seq);
    const char *p[] = {r->request_id,
                       job->fingerprint,
                       pl_req_type_name(r->type),
                       company,
                       r->order,
                       pay_seq,
                       r->service,
                       r->pay_type,
                       nz(job->amount),
                       nz(r->currency),
                       r->installment ? "true" : "false",
                       job->card_masked,
                       nz(job->card_hash),
                       r->card.token,
                       job->card_type,
                       r->auth_ref.request_id,
                       r->auth_ref.transaction_id,
                       r->capture_ref.request_id,
                       ext_debit(job) ? "true" : "false"};
    if (!job->read_back)
        return pl_db_unit_add(u, "dep_record", 19, p);
    /* Recorded again (the row was there, or refused): the look-ups run for every delivery (a
     * replay ignores them), result 1. */
    int rc = pl_db_unit_add(u, "dep_insert", 18, p);
    const char *q[] = {r->auth_ref.request_id,
                       r->capture_ref.request_id,
                       r->auth_ref.transaction_id,
                       company,
                       r->order,
                       pay_seq,
                       p[18]};
    return rc != 0 ? rc : pl_db_unit_add(u, "dep_refs", 7, q);
}

/* Where the look-ups' columns of each reference start (DEP_REFS_COLS). */
enum {
    REF_AUTH = 0,
    REF_CAPTURE = 12,
    REF_ANSWERED = 21,
    REF_AUTH_RID = 22,
    REF_AUTH_MERCHANT = 23,
    REF_CAPTURE_MERCHANT = 24,
    REF_AUTH_OPEN = 25,
    REF_CIT = 26
};

/* The record unit's look-up row (pl_job_lookup) when it found the reference whose columns
 * start at col (their first is never NULL then), else NULL; *at is where col is in it. */
static const PGresult *found_ref(const pl_db_unit *recorded, int col, int *at)
{
    const PGresult *k = pl_job_lookup(recorded, at);
    *at += col;
    return k && PQntuples(k) == 1 && PQnfields(k) > *at && !PQgetisnull(k, 0, *at) ? k : NULL;
}

static int refuse(pl_job *job, pl_status status, const char *fmt, const char *arg)
{
    job->reply->status = status;
    snprintf(job->reply->message, sizeof job->reply->message, fmt, arg);
    return 1;
}

static int64_t money(const char *text)
{
    int64_t v = 0;
    return text && *text && pl_money_parse_decimal(text, &v) == 0 ? v : 0;
}

/* True when the look-up row's company and order (columns company_col, order_col) are not the
 * request's. */
static bool other_order(const pl_request *r, const PGresult *res, int company_col, int order_col)
{
    char company[16];
    snprintf(company, sizeof company, "%d", r->company);
    return strcmp(PQgetvalue(res, 0, company_col), company) != 0 ||
           strcmp(PQgetvalue(res, 0, order_col), r->order) != 0;
}

/* The record unit refused the request (dep_insert): one of its references belongs to another
 * company or order. Say which, without writing anything. A credit's capture_ref is the only
 * reference a look-up row can prove foreign; otherwise it is the authorization the request
 * names (by request id, whether answered yet or not, else by transaction id). */
static void dep_judge(pl_job *job, const pl_db_unit *recorded, pl_errors *errs)
{
    const pl_request *r = &job->req;
    int c;
    const PGresult *k = found_ref(recorded, REF_CAPTURE, &c);
    if (r->capture_ref.request_id[0] && k && other_order(r, k, c + 3, c + 4))
        pl_errors_add(errs, "capture_ref.request_id", "names a debit of another company or order");
    else if (r->capture_ref.request_id[0] && k && r->currency[0] && PQgetvalue(k, 0, c + 8)[0] &&
             strcmp(PQgetvalue(k, 0, c + 8), r->currency) != 0)
        pl_errors_add(errs, "capture_ref.request_id", "names a debit in another currency");
    else
        pl_job_judge_auth_ref(r, errs);
}

/*
 * An EXT auth+capture is an authorization paylink makes without the customer (seed "Subsequent
 * Authorization Requests": "a subsequent authorization that is acquired by Order Administration
 * when the initial authorization is expired"): merchant-initiated, naming the CIT of the order
 * payment method (card_cit, REF_CIT) and its amount when that CIT is of the card charged
 * (pl_ext_cit_of_card: its authorization's card hash or token; before, a CIT of the card the
 * payment method named earlier went with another card's token). The reason is the request's
 * subsequent_auth when it has one (RESUBMIT of a failed deposit, a membership order's CIT), else
 * INSTALLMENT for an installment and REAUTH for an expired or exceeded authorization (without a
 * CIT of that card, then, no subsequentAuthTransactionID), or for none where a CIT of the card is
 * known. A debit with neither (a card never authorized by its cardholder on this order payment
 * method) sends no initiator, as before.
 */
static void ext_merchant_initiated(pl_job *job, dep_data *d, const pl_db_unit *recorded,
                                   const char *pay_type)
{
    const pl_request *r = &job->req;
    int o = 0;
    const PGresult *k = pl_job_lookup(recorded, &o);
    const char *cit = NULL;
    int64_t cit_amount = -1;
    if (k && PQntuples(k) == 1 && PQnfields(k) > o + REF_CIT + 3 &&
        !PQgetisnull(k, 0, o + REF_CIT)) {
        cit = PQgetvalue(k, 0, o + REF_CIT);
        if (pl_money_parse_decimal(PQgetvalue(k, 0, o + REF_CIT + 1), &cit_amount) != 0)
            cit_amount = -1;
        /* Only a CIT of the card charged (the request's number, else its token or the one
         * borrowed from the authorization): the order payment method may name another card
         * since, and a stored-credential claim on the wrong card is one the issuer may decline
         * or dispute. */
        const char *cit_hash = PQgetvalue(k, 0, o + REF_CIT + 2);
        const char *token = r->card.token[0] ? r->card.token : job->card_token;
        if (!pl_ext_cit_of_card(cit_hash, PQgetvalue(k, 0, o + REF_CIT + 3),
                                pl_job_card_hash_for(job, cit_hash), token)) {
            PL_INFO(r->request_id,
                    "auth+capture: the order payment method's CIT %s was recorded for another "
                    "card (or one paylink cannot compare): not named",
                    cit);
            cit = NULL;
            cit_amount = -1;
        }
        /* A CIT the request names otherwise (a membership order) is not this one. */
        if (cit && r->subsequent_auth.transaction_id[0] &&
            strcmp(r->subsequent_auth.transaction_id, cit) != 0) {
            cit = NULL;
            cit_amount = -1;
        }
    }
    const char *why = d->choice.reason;
    const char *mit = NULL;
    if (strcmp(why, "installment") == 0)
        mit = "INSTALLMENT";
    else if (strcmp(why, "expired") == 0 || strcmp(why, "over_authorized") == 0 || cit)
        mit = "REAUTH";
    if (!mit && !r->subsequent_auth.present)
        return;
    bool notify = pl_services_notify_installments(job->services, r->company, pay_type);
    int64_t original = -1;
    pl_ext_subsequent(r, mit, job->svc->supports_auth_resubmission, notify, cit, cit_amount,
                      d->initiator, sizeof d->initiator, d->sub_reason, sizeof d->sub_reason,
                      d->sub_transaction, sizeof d->sub_transaction, &original);
    pl_bureau_call *c = &job->call;
    c->initiator = d->initiator;
    c->sub_auth_reason = nz(d->sub_reason);
    c->sub_auth_transaction_id = nz(d->sub_transaction);
    c->sub_auth_original_amount = original;
    PL_INFO(r->request_id, "auth+capture: subsequent authorization %s (%s), CIT %s", d->sub_reason,
            d->initiator, d->sub_transaction[0] ? d->sub_transaction : "unknown");
}

static int dep_prepare(pl_job *job, const pl_db_unit *recorded)
{
    pl_request *r = &job->req;
    const pl_service *svc = job->svc;
    pl_bureau_call *c = &job->call;
    memset(c, 0, sizeof *c);
    c->req = r;
    dep_data *d = calloc(1, sizeof *d);
    if (!d)
        return PL_ERR_NOMEM;
    job->spec_data = d;

    bool ext = strcmp(svc->protocol, "EXT") == 0;
    char pay_type[5];
    copy(pay_type, sizeof pay_type, r->pay_type[0] ? r->pay_type : job->card_type);
    pl_deposit_capture cap = {0};
    char token[65] = "";

    /* A paylink authorization, named by request id or by the transaction id the bureau gave it
     * (DEP_AUTH_RID); an inline transaction id paylink does not know is a manual authorization. */
    int b = 0;
    const PGresult *a =
        r->type == PL_REQ_DEBIT && r->auth_ref.present ? found_ref(recorded, REF_AUTH, &b) : NULL;
    if (a || (r->type == PL_REQ_DEBIT && r->auth_ref.request_id[0])) {
        int o = 0;
        const PGresult *unanswered = a ? NULL : pl_job_lookup(recorded, &o);
        if (unanswered && PQntuples(unanswered) == 1 && PQnfields(unanswered) > o + REF_AUTH_OPEN &&
            !PQgetisnull(unanswered, 0, o + REF_AUTH_OPEN))
            d->auth.outcome_unknown = true;
        if (a) {
            const char *status = PQgetvalue(a, 0, b + 1);
            d->auth.found = true;
            /* seed (Decision Manager): a REVIEW is an issuer approval held for fraud review;
             * settling it is a capture, not a second authorization. */
            d->auth.usable = strcmp(status, "approved") == 0 || strcmp(status, "review") == 0;
            /* A `token` request is approved with no amount authorized: nothing to capture
             * against (its claim could never fit, and the debit, prepared again each round,
             * ended `error`); the debit is authorized anew with the capture, on its token. */
            if (PQgetisnull(a, 0, b + 2))
                d->auth.usable = false;
            /* What the bureau answered, whatever became of it since (a 481 is reversed at once
             * where the bureau has Send reversal). */
            d->auth.fraud_rejected = strcmp(PQgetvalue(a, 0, b + REF_ANSWERED), "rejected") == 0;
            if (!PQgetisnull(a, 0, b + 2)) {
                d->deposited = money(PQgetvalue(a, 0, b + 3));
                d->pending = money(PQgetvalue(a, 0, b + 11));
                d->auth.has_remaining = true;
                d->auth.remaining = money(PQgetvalue(a, 0, b + 2)) - d->deposited - d->pending;
            }
            copy(d->auth.date, sizeof d->auth.date, PQgetvalue(a, 0, b + 5));
            d->has_auth_id = true;
            copy(d->auth_id, sizeof d->auth_id, PQgetvalue(a, 0, b));
            copy(d->auth_request_id, sizeof d->auth_request_id, PQgetvalue(a, 0, b + REF_AUTH_RID));
            if (PQnfields(a) > b + REF_AUTH_MERCHANT)
                copy(d->auth_merchant, sizeof d->auth_merchant,
                     PQgetvalue(a, 0, b + REF_AUTH_MERCHANT));
            copy(d->auth_number, sizeof d->auth_number, PQgetvalue(a, 0, b + 4));
            copy(d->ref_id, sizeof d->ref_id, PQgetvalue(a, 0, b + 6));
            copy(d->ref_token, sizeof d->ref_token, PQgetvalue(a, 0, b + 7));
            copy(token, sizeof token, PQgetvalue(a, 0, b + 8));
            if (!pay_type[0])
                copy(pay_type, sizeof pay_type,
                     PQgetvalue(a, 0, b + 9)[0] ? PQgetvalue(a, 0, b + 9)
                                                : PQgetvalue(a, 0, b + 10));
        }
    } else if (r->type == PL_REQ_DEBIT && r->auth_ref.present) {
        /* Inline manual authorization: CyberSource settles it only through its request ID. */
        d->auth.found = true;
        d->auth.usable = r->auth_ref.transaction_id[0] != '\0';
        d->auth.has_remaining = r->auth_ref.has_amount;
        d->auth.remaining = r->auth_ref.amount;
        copy(d->auth.date, sizeof d->auth.date, r->auth_ref.date);
        copy(d->auth_number, sizeof d->auth_number, r->auth_ref.number);
        copy(d->ref_id, sizeof d->ref_id, r->auth_ref.transaction_id);
        copy(d->ref_token, sizeof d->ref_token, r->auth_ref.request_token);
    }
    if (r->type == PL_REQ_CREDIT && r->capture_ref.present) {
        int c;
        const PGresult *k = found_ref(recorded, REF_CAPTURE, &c);
        if (k) {
            cap.found = true;
            const char *debit_status = PQgetvalue(k, 0, c);
            cap.approved = strcmp(debit_status, "approved") == 0;
            cap.pending = strcmp(debit_status, "received") == 0 ||
                          strcmp(debit_status, "sent") == 0 || strcmp(debit_status, "unknown") == 0;
            cap.refundable = money(PQgetvalue(k, 0, c + 5)) - money(PQgetvalue(k, 0, c + 6));
            copy(d->ref_id, sizeof d->ref_id, PQgetvalue(k, 0, c + 1));
            copy(d->ref_token, sizeof d->ref_token, PQgetvalue(k, 0, c + 2));
            copy(token, sizeof token, PQgetvalue(k, 0, c + 7));
            int m = c - REF_CAPTURE + REF_CAPTURE_MERCHANT;
            if (PQnfields(k) > m)
                copy(d->capture_merchant, sizeof d->capture_merchant, PQgetvalue(k, 0, m));
        }
    }

    bool has_card = r->card.number[0] || r->card.token[0] || token[0];
    int reauth_days = pl_services_reauth_days(job->services, svc->code, pay_type);
    if (reauth_days < 0)
        reauth_days = DEFAULT_REAUTH_DAYS;
    d->choice = pl_deposit_decide(r, &d->auth, &cap, has_card, reauth_days, time(NULL));
    PL_INFO(r->request_id, "deposit decision: %s (%s)",
            d->choice.kind == PL_DEP_REFUSE ? "refused" : "send", d->choice.reason);

    switch (d->choice.kind) {
    case PL_DEP_REFUSE:
        PL_INFO(r->request_id, "deposit refused: %s", d->choice.reason);
        if (strcmp(d->choice.reason, "authorization_unknown") == 0)
            return refuse(job, PL_ST_ERROR, "%s",
                          "The authorization's outcome is not known yet: the deposit is not sent "
                          "(it may still hold the funds); send it again once the authorization "
                          "is settled.");
        /* The Siebel message and why (the order system cannot tell the reasons apart by the
         * message alone): stored with the reply, so a redelivery replays the same text. */
        job->reply->status = PL_ST_DECLINED;
        pl_deposit_refusal_message(r, d->choice, &d->auth, &cap, job->reply->message,
                                   sizeof job->reply->message);
        return 1;
    case PL_DEP_CAPTURE:
        c->op = PL_OP_CAPTURE;
        c->ref_request_id = d->ref_id;
        c->ref_request_token = nz(d->ref_token);
        c->ref_auth_code = nz(d->auth_number);
        if (ext) {
            /* EXT: the authorization's card token goes with the deposit (and is recorded on
             * the debit, for a follow-on credit); Void auth at deposit is the bureau's too. */
            copy(d->token_used, sizeof d->token_used, token);
            c->card_token = nz(d->token_used);
            c->void_remainder = svc->void_auth_at_deposit;
        }
        break;
    case PL_DEP_AUTH_CAPTURE:
        c->op = PL_OP_AUTH_CAPTURE;
        if (!r->card.number[0] && (!r->card.token[0] || job->borrowed_token[0])) {
            /* The request names no card: authorize the token of the paylink authorization
             * (an earlier run of prepare may have borrowed it already). */
            copy(r->card.token, sizeof r->card.token, token);
            copy(job->borrowed_token, sizeof job->borrowed_token, token);
            copy(d->token_used, sizeof d->token_used, token);
            r->card.present = true;
        }
        /* The deposit follows an order already screened at authorization time. */
        c->ignore_avs_cvv = true;
        if (ext)
            ext_merchant_initiated(job, d, recorded, pay_type);
        break;
    case PL_DEP_CREDIT_FOLLOW_ON:
        c->op = PL_OP_CREDIT;
        c->ref_request_id = d->ref_id;
        c->ref_request_token = nz(d->ref_token);
        if (ext && token[0]) {
            /* The debit's card token, whatever card the credit names: a refund of a capture
             * goes back to the card it charged. Before, a card number or token in the request
             * was sent instead (its getToken's token with the debit's transactionID), and
             * nothing compared it with the debit's card: a refund to another card. */
            if ((r->card.number[0] || r->card.token[0]) && strcmp(r->card.token, token) != 0)
                PL_INFO(r->request_id,
                        "follow-on credit: the card it names is not used; it goes to the card "
                        "the debit charged");
            copy(d->token_used, sizeof d->token_used, token);
            c->card_token = nz(d->token_used);
        }
        break;
    case PL_DEP_CREDIT_STAND_ALONE:
        c->op = PL_OP_CREDIT;
        break;
    }
    pl_job_resolve_call(job, pay_type);
    /* A capture goes under its authorization's merchant ID, a follow-on credit under its
     * debit's; an auth+capture is a new authorization (the hierarchy's), unless it charges the
     * authorization's token, which the bureau holds under that authorization's merchant ID. */
    if (d->choice.kind == PL_DEP_CAPTURE ||
        (d->choice.kind == PL_DEP_AUTH_CAPTURE && d->token_used[0]))
        pl_job_follow_merchant(job, d->auth_merchant);
    else if (d->choice.kind == PL_DEP_CREDIT_FOLLOW_ON)
        pl_job_follow_merchant(job, d->capture_merchant);
    c->amount = r->has_amount ? r->amount : 0;
    return 0;
}

void pl_deposit_touch_key(pl_deposit_kind kind, const char *auth_id, const char *capture_request_id,
                          char *out, size_t outsize)
{
    if (kind == PL_DEP_CREDIT_FOLLOW_ON)
        snprintf(out, outsize, "%s", capture_request_id ? capture_request_id : "");
    else if (kind != PL_DEP_CREDIT_STAND_ALONE && auth_id && *auth_id)
        snprintf(out, outsize, "auth_history:%s", auth_id);
    else if (outsize > 0)
        out[0] = '\0';
}

/* spec->touch_key: the authorization or debit the deposit claims on (pl_deposit_touch_key),
 * which the engine declares on each of the job's units. Before prepare (its record unit), a
 * credit's debit: a credit recorded in the same batch as the debit it names, after it, then
 * sees that debit as it would one statement later, not in a merged dep_record beside it. */
static void dep_touch_key(const pl_job *job, char *out, size_t outsize)
{
    const dep_data *d = job->spec_data;
    if (!d) {
        snprintf(out, outsize, "%s",
                 job->req.type == PL_REQ_CREDIT ? job->req.capture_ref.request_id : "");
        return;
    }
    pl_deposit_touch_key(d->choice.kind, d->has_auth_id ? d->auth_id : NULL,
                         job->req.capture_ref.request_id, out, outsize);
}

static int dep_mark_sent(pl_job *job, pl_db_unit *u)
{
    const dep_data *d = job->spec_data;
    const char *p[] = {job->req.request_id, job->op_name, job->merchant_id,
                       d ? d->choice.reason : "", d && d->has_auth_id ? d->auth_id : NULL,
                       d ? d->ref_id : "",
                       /* The token charged: the authorization's or debit's it borrowed, or the
                        * one the engine's getToken made of the request's card number (EXT),
                        * which a follow-on credit of this debit then sends. */
                       d && d->token_used[0] ? d->token_used : job->card_token, job->attempt,
                       nz(job->amount), job->req.capture_ref.request_id};
    /* A capture claims its amount on the authorization, a follow-on credit on the debit. A
     * capture records whether it voids the remainder, as this job read the setting (what an
     * External Payment Service capture sends as voidRemainder): the settle trigger applies
     * that, not the setting as it may be when the answer is stored. */
    if (d && d->choice.kind == PL_DEP_CAPTURE && d->has_auth_id) {
        const char *q[] = {
            p[0], p[1], p[2], p[3], p[4],
            p[5], p[6], p[7], p[8], job->svc->void_auth_at_deposit ? "true" : "false"};
        return pl_db_unit_add(u, "dep_mark_sent_auth", 10, q);
    }
    if (d && d->choice.kind == PL_DEP_CREDIT_FOLLOW_ON)
        return pl_db_unit_add(u, "dep_mark_sent_capture", 10, p);
    return pl_db_unit_add(u, "dep_mark_sent", 8, p);
}

static void dep_map(pl_job *job)
{
    pl_job_map_answer(job);
    /* EXT: the token getToken made of the request's card number is the card's token from now
     * on, returned to the upstream system as an authorization's is. */
    pl_reply *rep = job->reply;
    if (!rep->token[0] && job->card_token[0])
        snprintf(rep->token, sizeof rep->token, "%s", job->card_token);
}

/* The part of the authorization (paylink's or an inline manual one) left unused once this
 * deposit is approved; 0 when none or not known. */
static int64_t unused_amount(const pl_job *job, const dep_data *d)
{
    if (!d->auth.found || !d->auth.usable || !d->auth.has_remaining)
        return 0;
    if (d->choice.kind == PL_DEP_AUTH_CAPTURE)
        return d->auth.remaining;
    if (d->choice.kind == PL_DEP_CAPTURE) {
        int64_t captured =
            job->reply->has_amount_approved ? job->reply->amount_approved : job->req.amount;
        return d->auth.remaining > captured ? d->auth.remaining - captured : 0;
    }
    return 0;
}

/* The unused authorization is reversed at the bureau (seed "Send reversal") only after an
 * auth+capture replaced it, while nothing of it was captured and no other call has it in
 * flight: after any capture CyberSource refuses the reversal (238), so none is asked for. With
 * a call in flight at prepare the follow-ups hold none: the reversal is owed once the void is
 * carried out with nothing captured, and the resolver publishes it — recorded by the trigger
 * that carries out a void that waited for that call (050, 057), or by the store when the call
 * ended before the answer and the void was not deferred (owes_reversal_if_voided, 059). */
static bool reverses_old_auth(const pl_job *job, const dep_data *d)
{
    return d && d->choice.kind == PL_DEP_AUTH_CAPTURE && job->svc->send_reversal &&
           d->deposited == 0 && d->pending == 0 && unused_amount(job, d) > 0;
}

/*
 * An auth+capture whose follow-ups hold no reversal of the authorization it replaces only
 * because another call claimed on that authorization when it was prepared (reverses_old_auth
 * read pending > 0). When that claim ends before the answer is stored (declined, say), the
 * settle trigger voids the authorization at once, not deferred, so the deferred void's trigger
 * (057) never records the reversal either: the store records it as owed (dep_owe_reversal),
 * and this worker's resolver publishes it. Before, no reversal was sent and the hold stayed on
 * the card until the authorization expired. Nothing is added for any other deposit.
 */
static bool owes_reversal_if_voided(const pl_job *job, const dep_data *d)
{
    return d && d->choice.kind == PL_DEP_AUTH_CAPTURE && job->svc->send_reversal && d->auth.found &&
           d->auth.usable && d->has_auth_id && d->auth_request_id[0] && d->deposited == 0 &&
           d->pending > 0;
}

static int dep_store(pl_job *job, pl_db_unit *u)
{
    const pl_bureau_result *res = job->res;
    const pl_reply *rep = job->reply;
    const dep_data *d = job->spec_data;
    char deposited[24] = "";
    if (rep->has_amount_approved &&
        pl_money_format(rep->amount_approved, deposited, sizeof deposited) != 0)
        deposited[0] = '\0';
    char error_text[600] = "";
    if (res->fault_code[0])
        snprintf(error_text, sizeof error_text, "%s: %s", res->fault_code, res->fault_string);
    else if (res->missing_fields[0] || res->invalid_fields[0])
        snprintf(error_text, sizeof error_text, "missing: %s; invalid: %s", res->missing_fields,
                 res->invalid_fields);
    bool auth_capture = d && d->choice.kind == PL_DEP_AUTH_CAPTURE;
    /* seed: an authorization code other than the one sent is a new authorization. */
    bool new_auth = d && (d->choice.kind == PL_DEP_CAPTURE || auth_capture) &&
                    rep->auth.number[0] && strcmp(rep->auth.number, d->auth_number) != 0;
    const char *p[] = {job->req.request_id,
                       pl_status_name(rep->status),
                       rep->decision,
                       rep->vendor_response,
                       nz(deposited),
                       rep->auth.number,
                       rep->auth.date,
                       rep->auth.transaction_id,
                       rep->auth.request_token,
                       error_text,
                       job->reply_json,
                       d ? nz(d->auth_request_id) : NULL,
                       auth_capture ? "auth_capture" : "auth"};
    int rc = new_auth ? pl_db_unit_add(u, "dep_store_new_auth", 13, p)
                      : pl_db_unit_add(u, "dep_store", 11, p);
    if (rc == 0 && rep->status == PL_ST_APPROVED && owes_reversal_if_voided(job, d))
        rc = pl_db_unit_add(u, "dep_owe_reversal", 1, p);
    return rc;
}

void pl_deposit_reversal_request_id(const char *request_id, char *out, size_t outsize)
{
    pl_job_derived_request_id(request_id, PL_DEPOSIT_REVERSAL_SUFFIX, out, outsize);
}

/* The reasonCode of the ccAuthReply of an auth+capture's answer ("" when there is none): the
 * authorization's own, not service_reason_code, which is the ccCaptureReply's when the capture
 * ran (bureau_cybersource.h). */
static const char *auth_capture_auth_reason(const pl_job *job)
{
    return job->res && job->call.op == PL_OP_AUTH_CAPTURE ? job->res->auth_reason_code : "";
}

/* What the issuer holds of the authorization a refused auth+capture made: ccAuthReply's amount
 * (a 110's part), else what pl_job_held_amount says (the answer's, the request's). */
static bool refused_held_amount(const pl_job *job, char *out, size_t outsz)
{
    const pl_bureau_result *res = job->res;
    if (!res)
        return pl_job_held_amount(job, out, outsz);
    if (res->has_auth_amount)
        return res->auth_amount > 0 && pl_money_format(res->auth_amount, out, outsz) == 0;
    /* No amount in ccAuthReply: all of it is the amount asked, never the answer's own amount
     * (an auth+capture's is the failed capture's). Of a part (110) nothing is known, and above
     * it CyberSource refuses the reversal: none is sent (an operator reverses it). */
    if (strcmp(res->auth_reason_code, "110") == 0 || !job->req.has_amount)
        return false;
    return job->req.amount > 0 && pl_money_format(job->req.amount, out, outsz) == 0;
}

/*
 * Whether the reply (status, vendor_response) of job's CyberSource auth+capture leaves the
 * authorization it made held by the issuer. The answer read (job->res, with a decision) tells
 * itself whether the issuer authorized (pl_cybersource_answer_held with its ccAuthReply's
 * reasonCode): a Decision Manager reject (481) whose answer has no ccAuthReply (refused before
 * the authorization ran), or whose ccAuthReply says the issuer declined (203), holds nothing,
 * nor does a soft decline the issuer declined; before, an `.sdr` went for them all, which
 * CyberSource refuses, its declined reply unasked for. A reply replayed without its answer
 * keeps the rule that reverses such a reject: nothing read says otherwise (paylink-auth's
 * auth_held, the same).
 */
static bool auth_capture_held(const pl_job *job, json_object *reply)
{
    const char *status = pl_json_str(reply, "status"),
               *vendor = pl_json_str(reply, "vendor_response");
    return job->res && job->res->decision[0]
               ? pl_cybersource_answer_held(status, vendor, auth_capture_auth_reason(job))
               : pl_cybersource_refused_but_authorized(status, vendor, "");
}

bool pl_deposit_reverses_refusal(const pl_job *job, json_object *reply, char *amount,
                                 size_t amountsz)
{
    json_object *auth;
    const char *tid = json_object_object_get_ex(reply, "auth", &auth)
                          ? pl_json_str(auth, "transaction_id")
                          : NULL;
    /* A capture answered 100 happened, whatever the decision: nothing of the authorization is
     * left to reverse (CyberSource refuses, 238). */
    if (job->call.op != PL_OP_AUTH_CAPTURE || !job->svc || !job->svc->send_reversal ||
        strcmp(job->svc->protocol, "CYB") != 0 || !tid || !*tid ||
        (job->res && job->res->capture_approved) || !auth_capture_held(job, reply))
        return false;
    return refused_held_amount(job, amount, amountsz);
}

/*
 * A CyberSource auth+capture refused while the issuer holds the amount of the authorization it
 * made, CyberSource having captured nothing: soft-declined (200, 230, 520: the issuer approved,
 * CyberSource declined), or refused otherwise (`rejected` 400, a fraud score; `declined` 102, a
 * capture that failed, ...), or failed (`error` 150 of its capture), while its ccAuthReply says
 * 100, or 110 for part (pl_deposit_reverses_refusal). The order system is told `declined`,
 * `rejected` or `error` and never captures it; with Send reversal that authorization is reversed,
 * named by its transaction id as a manual authorization (paylink records no authorization of a
 * refused auth+capture), for what the issuer holds (ccAuthReply's amount), as paylink-auth reverses
 * such an authorization. One reversal, `<request_id>.sdr`, whichever it was: an auth+capture makes
 * one authorization.
 */
static int refused_auth_capture_followup(pl_job *job, const dep_data *d, json_object *reply)
{
    char amount[24];
    if (d->choice.kind != PL_DEP_AUTH_CAPTURE ||
        !pl_deposit_reverses_refusal(job, reply, amount, sizeof amount))
        return 0;
    const pl_request *r = &job->req;
    json_object *auth = NULL;
    json_object_object_get_ex(reply, "auth", &auth);
    /* Its date: the answer's, else today's (UTC): the authorization was just made. */
    char today[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    const char *date = pl_json_str(auth, "date");
    char rid[64];
    pl_job_derived_request_id(r->request_id, PL_SOFT_DECLINE_REVERSAL_SUFFIX, rid, sizeof rid);
    /* A manual authorization to paylink-reversal (it holds no request of it), which finds the
     * merchant ID by the deposit that made it. */
    const pl_reversal_of of = {.transaction_id = pl_json_str(auth, "transaction_id"),
                               .request_token = pl_json_str(auth, "request_token"),
                               .number = pl_json_str(auth, "number"),
                               .date = date && strlen(date) >= 10 ? date : today,
                               .amount = amount};
    int rc = pl_job_publish_reversal(job, rid, amount, r->currency, &of);
    if (rc == 0) {
        const char *status = pl_json_str(reply, "status"),
                   *vendor = pl_json_str(reply, "vendor_response");
        PL_INFO(r->request_id, "auth+capture %s: reversal %s of %s requested",
                pl_cybersource_soft_decline(vendor)
                    ? "soft-declined (the issuer approved, CyberSource declined)"
                : pl_cybersource_refused_but_held(status, vendor)
                    ? "rejected by Decision Manager (481)"
                : strcmp(auth_capture_auth_reason(job), "110") == 0
                    ? "refused after the issuer authorized part of it (ccAuthReply 110)"
                    : "refused after the issuer authorized it (ccAuthReply 100)",
                rid, amount);
    }
    return rc;
}

/* seed "Send reversal": the authorization an auth+capture replaced is reversed at the bureau
 * so the hold on the cardholder's funds is released; the reversal worker does it. */
static int dep_followups(pl_job *job, json_object *reply)
{
    const dep_data *d = job->spec_data;
    const char *status = pl_json_str(reply, "status");
    if (d && status &&
        (strcmp(status, "declined") == 0 || strcmp(status, "rejected") == 0 ||
         strcmp(status, "error") == 0))
        return refused_auth_capture_followup(job, d, reply);
    if (!d || !status || strcmp(status, "approved") != 0 || !reverses_old_auth(job, d))
        return 0;
    char amount[24];
    if (pl_money_format(unused_amount(job, d), amount, sizeof amount) != 0)
        return 0;
    const pl_request *r = &job->req;
    char rid[64];
    pl_deposit_reversal_request_id(r->request_id, rid, sizeof rid);
    /* A manual authorization goes as the request named it (its number, date and amount: what
     * paylink-reversal requires of one). */
    char auth_amount[24] = "";
    if (r->auth_ref.has_amount &&
        pl_money_format(r->auth_ref.amount, auth_amount, sizeof auth_amount) != 0)
        auth_amount[0] = '\0';
    const pl_reversal_of of = {.auth_request_id = d->auth_request_id,
                               .transaction_id = d->ref_id,
                               .request_token = d->ref_token,
                               .number = d->auth_number,
                               .date = r->auth_ref.date,
                               .amount = auth_amount};
    int rc = pl_job_publish_reversal(job, rid, amount, r->currency, &of);
    if (rc == 0)
        PL_INFO(r->request_id,
                "authorization %s replaced by an auth+capture: reversal %s requested",
                d->auth_request_id[0] ? d->auth_request_id : "(manual)", rid);
    return rc;
}

const pl_spec pl_deposit_spec = {
    .worker = "deposit",
    .table = "cc_deposit_trans",
    .protocols = protocols,
    .stmts = stmts,
    .nstmts = sizeof stmts / sizeof stmts[0],
    .record = dep_record,
    .judge = dep_judge,
    .prepare = dep_prepare,
    .mark_sent = dep_mark_sent,
    .touch_key = dep_touch_key,
    .map = dep_map,
    .store = dep_store,
    .followups = dep_followups,
};
