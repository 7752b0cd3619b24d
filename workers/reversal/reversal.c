/* reversal.c: what paylink-reversal adds to the engine (see reversal.h). */
#include "reversal.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bureau_cybersource.h"
#include "db.h"
#include "jsonutil.h"
#include "log.h"
#include "money.h"
#include "stored_value.h"

/* What the reversal reads of the authorization h (auth_history) and its request t
 * (cc_auth_trans): 0 id, 1 status, 2 amount deposited, 3 transaction id, 4 request token, 5
 * authorization code, 6 request id, 7 pay type, 8 card type, 9 amount pending, 10 card token. */
#define REV_AUTH_COLUMNS                                                                           \
    "h.id, h.status, h.amount_deposited::text, h.transaction_id, h.request_token, "                \
    "h.auth_number, coalesce(h.request_id, ''), coalesce(t.pay_type, ''), "                        \
    "coalesce(t.card_type, ''), h.amount_pending::text, "                                          \
    "coalesce(nullif(t.card_token, ''), t.token_created, ''), "                                    \
    "coalesce(h.amount_authorized::text, '')"

/*
 * A new reversal's row from e, recorded only when the authorization it names belongs to its own
 * company and order and is in its currency, when both have one (by request id, or by an inline
 * transaction id paylink knows); otherwise invalid (judge).
 * h.transaction_id <> '' (implied by the line before it) lets PostgreSQL's generic plan of
 * the statement probe the partial index auth_history_transaction: without it that plan
 * read auth_history in full, so PostgreSQL planned the statement anew for every reversal
 * (~0.6 M instructions of the backend, half of its record unit).
 */
#define REV_INSERT                                                                                 \
    "INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "         \
    "service_bureau, pay_type, amount, currency, auth_request_id, auth_transaction_id, "           \
    "auth_request_token, auth_number, auth_date) "                                                 \
    "SELECT e.p1::varchar, e.p2::char(64), e.p3::int, e.p4::varchar, e.p5::int, e.p6::varchar, "   \
    "e.p7::varchar, e.p8::numeric, e.p9::char(3), e.p10::varchar, e.p11::varchar, "                \
    "e.p12::varchar, e.p13::varchar, e.p14::varchar FROM e "                                       \
    "WHERE NOT EXISTS (SELECT 1 FROM cc_auth_trans a WHERE a.request_id = e.p10::varchar "         \
    "AND (a.company <> e.p3::int OR a.order_number <> e.p4::varchar "                              \
    "OR (a.currency <> e.p9::char(3) AND a.amount IS NOT NULL))) "                                 \
    "AND NOT EXISTS (SELECT 1 FROM auth_history h WHERE e.p10::varchar IS NULL "                   \
    "AND e.p11::varchar <> '' AND h.transaction_id = e.p11::varchar AND h.transaction_id <> '' "   \
    "AND (h.company <> e.p3::int OR h.order_number <> e.p4::varchar "                              \
    "OR (h.currency <> e.p9::char(3) AND h.amount_authorized IS NOT NULL))) "                      \
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"

/*
 * Whether a timeout reversal of the paylink authorization h (its request id) is in flight: a
 * reversal marked sent naming that authorization but no history row of it (rev_prepare's
 * timeout reversal, which releases the authorization whole by the identifier it was sent with:
 * the resolver's `.tor`, or an order system's reversal of an authorization whose outcome was
 * unknown), its outcome not final. Another reversal of the authorization is not claimed beside
 * it (rev_mark_sent; pl_reversal_check refuses it, the look-ups' column 20): the late answer's
 * `.rev` went beside the `.tor`, and the bureau refused one of them as already reversed. The text
 * is reversal_own.h's, which paylink-reversal's resolver waits on too before it asks one of
 * paylink's own refused so again.
 */
#define REV_TIMEOUT_IN_FLIGHT PL_REVERSAL_TIMEOUT_IN_FLIGHT_SQL("h.request_id")

/* The deposit that voided the authorization h (the look-ups' column 16): its voided_by, or,
 * while that void waits for another claim on it to end (050), the deposit it waits for
 * (void_deferred_by). An auth+capture's `.vdr` is refused exactly then ("a deposit is in
 * progress"): read as voided_by alone (still NULL), it was not paylink's own, its refusal was
 * logged as information only and its re-ask closed as the order system's, and once the other
 * capture was declined no reversal released the hold (070 against 057). */
#define REV_VOIDED_BY "coalesce(nullif(h.voided_by, ''), h.void_deferred_by, '')"

/* The paylink authorization of request id rid: its request t and its latest answer h (not a row
 * a deposit added for another authorization code: deposit.c, DEP_REFS_JOIN). */
#define REV_AUTH_BY_ID(rid)                                                                        \
    "LEFT JOIN cc_auth_trans t ON t.request_id = " rid " "                                         \
    "LEFT JOIN LATERAL (SELECT id, status, amount_deposited, transaction_id, request_token, "      \
    "auth_number, request_id, amount_pending, amount_authorized, vendor_response, voided_by, "     \
    "void_deferred_by, issuer_authorized, amount_issuer_held FROM auth_history "                   \
    "WHERE request_id = " rid " "                                                                  \
    "AND transaction_type <> 'auth_capture' AND deposit_request_id IS NULL "                       \
    "ORDER BY id DESC LIMIT 1) h ON true"

/* The rows e's reversals inserted, each with its authorization as rev_auth finds it. */
#define REV_RECORD                                                                                 \
    "ins AS (" REV_INSERT ") SELECT ins.request_id, " REV_AUTH_COLUMNS                             \
    ", t.status = 'unknown', coalesce(t.merchant_id, ''), coalesce(h.vendor_response, ''), "       \
    "'', " REV_VOIDED_BY ", coalesce(t.amount::text, ''), "                                        \
    "coalesce(h.issuer_authorized, false), coalesce(h.amount_issuer_held::text, "                  \
    "''), " REV_TIMEOUT_IN_FLIGHT                                                                  \
    " FROM ins JOIN e ON e.p1 = ins.request_id " REV_AUTH_BY_ID("e.p10::varchar")

/*
 * The mark of each row of e (rev_mark_sent, below; e is its parameters as one row or, merged,
 * one row per execution: db.h, PL_DB_E_ONE_11 / _MANY_11): me holds the reversal's row, still
 * 'received' or 'sent' by this very attempt (p10), locked, with its parameters; claim is the
 * claim of the whole authorization it reverses (p5), only while nothing of it is captured or
 * claimed; the row is marked when it claimed, names no paylink authorization, or is this
 * attempt's own mark sent again. A declined authorization is claimed only when the issuer
 * holds its amount: a soft decline, or one refused while its ccAuthReply said the issuer
 * authorized it (issuer_authorized, 060); an `error` one only in that last case (an ERROR 150
 * after the issuer authorized it, 064). A reject, a soft decline or such an error records no
 * amount authorized: its claim is a marker of 0.01, so that a second reversal of it (the order
 * system's beside paylink's `.rev`) is refused while the first is in flight, as for an approval (a
 * claim of nothing let both go, and the bureau declined one).
 * The claim holds only while what the call sends (p11) is still what the row says is held
 * (amount_authorized, else amount_issuer_held: what rev_prepare sent), as a stored value void's
 * mark checks: a reversal prepared before another one was approved for less (its job waited for
 * a bureau slot or a token call meanwhile) is decided again, for what is left. Before, it claimed
 * the rest while its call sent the whole, which the bureau refused as more than held (and the
 * resolver's amount sent said the rest). Nor beside a timeout reversal of the authorization in
 * flight (REV_TIMEOUT_IN_FLIGHT). Of an authorization recording neither amount (the issuer holds
 * the amount asked: a reject, a soft decline, a refusal the issuer authorized whole), a claim by
 * a reversal for the amount asked (cc_auth_trans.amount) records it as amount_issuer_held, so
 * that 065's trigger books an approval for less as leaving the rest held and reversible, and
 * paylink's own reversal asks for it (pl_reversal_rest_of); before, the approval booked it
 * `reversed`, the rest held on the card. That is what the issuer holds whatever comes of the
 * reversal: a refusal leaves it, and the next reversal goes for it as before. One for another
 * amount records nothing.
 * tor: a reversal of a paylink authorization whose outcome is unknown (no answer: p4 names it,
 * no history row, p5 NULL; rev_prepare sends it as CyberSource's timeout reversal) becomes the one
 * its required response follows, as the resolver's own `.tor` does when it has none yet: a late
 * approval is then held and settled by this reversal's outcome (049, 051), and the resolver does
 * not report the authorization approved while this reversal releases it. (Before, an order system's
 * reversal of an unknown authorization released it at the bureau while the late answer or the
 * resolver's query then recorded it approved, capturable, and told the order system so.) Such a
 * reversal (p4, no p5) is marked only while its authorization still has no outcome but an
 * operator's `error` (the one timeout reversals are sent for, rev_prepare): one that became known
 * since it was prepared is decided again (a claim, or a refusal), not sent as a timeout reversal of
 * an authorization the resolver has just recorded; so is one whose `error` answer says the issuer
 * authorized it (issuer_authorized, 064): that one is claimed by its transaction id, so that it
 * and the answer's own `.rev` never both go. And only while its required response follows a
 * reversal: this one (tor registered it), another already (a late approval is held then), or
 * none needed (settled `error`). The outcome check reads the statement's snapshot, which does
 * not see a late approval committing while the statement waits for tor's row lock; tor's
 * UPDATE sees it (the row re-read after the wait, resolved now, is not registered), so without
 * this the reversal was sent and released an authorization recorded approved and capturable.
 * follows reads a required response that follows a reversal already (the resolver's own `.tor`)
 * under a share lock for the same reason: an operator's outcome (common/resolver.c apply_as)
 * or a late answer (paylink-auth's store: 044's trigger resolves the row, 051's notes a held
 * approval in it) that updates the row at that moment is waited for, and the row re-read after
 * the wait, resolved now, does not let the timeout reversal go; and one locked first makes an
 * operator's outcome wait until this mark is committed, then see the reversal sent. Read without
 * a lock, the `.tor` was sent as a timeout reversal for the whole request while an operator's
 * reject of a partial approval committed (test_resolver.c,
 * test_operator_reject_while_tor_marked). tor and follows count for the reversal whose
 * authorization (p4) they found only: in the merged form (rev_mark_sent:many), a registration
 * by tor for another reversal of the batch let every timeout reversal in it go without follows'
 * lock, past an operator's outcome or a late answer (test_tor_mark_many_waits_for_operator).
 */
#define REV_MARK_SENT                                                                              \
    "me AS (SELECT r.request_id, r.status, e.p2, e.p3, e.p4, e.p5, e.p6, e.p7, e.p8, e.p9, "       \
    "e.p10, e.p11 FROM e JOIN auth_reversal r ON r.request_id = e.p1 WHERE r.status = 'received' " \
    "OR (r.status = 'sent' AND r.sent_by = e.p10) FOR UPDATE OF r), "                              \
    "claim AS (UPDATE auth_history h SET amount_pending = h.amount_pending + "                     \
    "coalesce(h.amount_authorized, 0.01), amount_issuer_held = CASE "                              \
    "WHEN h.amount_authorized IS NULL AND h.amount_issuer_held IS NULL "                           \
    "AND me.p11::numeric > 0 AND me.p11::numeric = "                                               \
    "(SELECT t.amount FROM cc_auth_trans t WHERE t.request_id = h.request_id) "                    \
    "THEN me.p11::numeric ELSE h.amount_issuer_held END FROM me WHERE me.status = 'received' "     \
    "AND h.id = me.p5::bigint AND h.amount_deposited = 0 AND h.amount_pending = 0 "                \
    "AND coalesce(nullif(h.amount_authorized, 0), h.amount_issuer_held, me.p11::numeric) = "       \
    "me.p11::numeric AND NOT " REV_TIMEOUT_IN_FLIGHT " "                                           \
    "AND (h.status IN ('approved', 'review', 'rejected', 'voided') OR (h.status = 'declined' "     \
    "AND (h.vendor_response IN " PL_CYBERSOURCE_SOFT_DECLINE_SQL " OR h.issuer_authorized)) "      \
    "OR (h.status = 'error' AND h.issuer_authorized)) "                                            \
    "RETURNING h.id, coalesce(h.amount_authorized, 0.01) AS amount), "                             \
    "tor AS (UPDATE required_response q SET reversal_request_id = me.request_id, "                 \
    "reversal_requested_at = coalesce(q.reversal_requested_at, now()) FROM me "                    \
    "WHERE me.status = 'received' AND me.p5 IS NULL AND me.p4 IS NOT NULL "                        \
    "AND q.worker = 'auth' AND q.request_id = me.p4 AND q.status IN ('open', 'escalated') "        \
    "AND q.reversal_request_id IS NULL RETURNING q.request_id), "                                  \
    "follows AS (SELECT q.request_id FROM me JOIN required_response q ON q.worker = 'auth' "       \
    "AND q.request_id = me.p4 WHERE me.status = 'received' AND me.p5 IS NULL "                     \
    "AND q.status IN ('open', 'escalated') AND q.reversal_request_id IS NOT NULL "                 \
    "FOR SHARE OF q) "                                                                             \
    "UPDATE auth_reversal r SET status = 'sent', sent_at = now(), operation = me.p2, "             \
    "merchant_id = me.p3, auth_request_id = coalesce(me.p4, r.auth_request_id), "                  \
    "auth_history_id = me.p5::bigint, auth_transaction_id = me.p6, auth_request_token = "          \
    "me.p7, auth_number = me.p8, pay_type = CASE WHEN r.pay_type = '' THEN me.p9 "                 \
    "ELSE r.pay_type END, sent_by = me.p10, claim_amount = CASE WHEN me.status = 'received' "      \
    "THEN (SELECT c.amount FROM claim c WHERE c.id = me.p5::bigint) ELSE r.claim_amount END "      \
    "FROM me WHERE r.request_id = me.request_id AND (me.status = 'sent' OR me.p5 IS NULL "         \
    "OR EXISTS (SELECT 1 FROM claim c WHERE c.id = me.p5::bigint)) "                               \
    "AND (me.status = 'sent' OR me.p5 IS NOT NULL OR me.p4 IS NULL OR (NOT EXISTS "                \
    "(SELECT 1 FROM auth_history h WHERE h.request_id = me.p4 "                                    \
    "AND h.transaction_type <> 'auth_capture' AND h.deposit_request_id IS NULL "                   \
    "AND (h.status <> 'error' OR h.issuer_authorized)) AND (EXISTS (SELECT 1 FROM tor t "          \
    "WHERE t.request_id = me.p4) OR EXISTS "                                                       \
    "(SELECT 1 FROM follows f WHERE f.request_id = me.p4) OR EXISTS "                              \
    "(SELECT 1 FROM auth_history h WHERE h.request_id = me.p4 "                                    \
    "AND h.transaction_type <> 'auth_capture' AND h.deposit_request_id IS NULL "                   \
    "AND h.status = 'error' AND NOT h.issuer_authorized)))) RETURNING r.request_id"

/* The answer of each row of e (p1-p9: one row, or one per answer merged; db.h). */
#define REV_STORE                                                                                  \
    "UPDATE auth_reversal r SET status = e.p2, decision = e.p3, vendor_response = e.p4, "          \
    "amount_reversed = e.p5::numeric, transaction_id = e.p6, request_token = e.p7, "               \
    "error_text = left(e.p8, 300), reply = e.p9::jsonb, answered_at = now() FROM e "               \
    "WHERE r.request_id = e.p1 AND r.status IN ('sent', 'unknown') RETURNING r.request_id"

static const pl_db_stmt stmts[] = {
    /*
     * The record unit the first time of a reversal naming its authorization by request id
     * (spec->record): the row inserted as rev_insert inserts it and, returned with it, what
     * rev_auth looks up (from column 1): one statement a request, which pl_db merges for many
     * requests in a batch (rev_record:many). A row only when it inserted: a redelivery or a
     * refused request is recorded again with rev_insert and rev_auth, and the row read back.
     */
    {"rev_record", "WITH " PL_DB_E_ONE_14 ", " REV_RECORD, 14},
    {"rev_record:many", "WITH " PL_DB_E_MANY_14 ", " REV_RECORD, 14},
    {"rev_insert", "WITH " PL_DB_E_ONE_14 " " REV_INSERT, 14},
    /*
     * Result 1 of the record unit otherwise: the authorization reversed (an auth+capture row is
     * a deposit, not the authorization), columns REV_AUTH_COLUMNS (0-11), whether its outcome
     * is unknown (column 12; then the reversal is CyberSource's timeout authorization reversal,
     * the resolver's safe step, common/resolver.h), the merchant ID it was sent under (13) and
     * its answer's reasonCode (14: a soft decline is reversed). rev_auth: the paylink authorization
     * named by request id ($1), always one row (its first column NULL when the authorization
     * has no answer). rev_auth_tx: the one an inline manual authorization's transaction id names
     * ($1), when paylink knows it, always one row; when it does not, the debit of the order
     * ($2 company, $3 order number) whose auth+capture the bureau gave that transaction id — a
     * soft-declined one, whose authorization paylink-deposit asks to reverse (`.sdr`) — gives
     * the merchant ID (13) and its request id (15). Then, for each, the deposit that voided the
     * authorization (16: an auth+capture that replaced it, whose `.vdr` is named after it, or
     * the one its void waits for, REV_VOIDED_BY) and the amount its request sent (17: a timeout
     * reversal's), and whether the issuer authorized it while CyberSource refused it (18:
     * auth_history.issuer_authorized, 060: a declined one is reversed then), and what the issuer
     * holds of such a refused one after a partial approval (19: auth_history.amount_issuer_held,
     * 061: what rev_prepare sends, "" when not known), and whether a timeout reversal of it is in
     * flight (20: REV_TIMEOUT_IN_FLIGHT, "t" or "f"). One statement per kind of reference, each
     * probing its index (they were a UNION of both and a second look-up for the unknown outcome).
     */
    {"rev_auth",
     "SELECT " REV_AUTH_COLUMNS
     ", t.status = 'unknown', coalesce(t.merchant_id, ''), coalesce(h.vendor_response, ''), "
     "'', " REV_VOIDED_BY ", coalesce(t.amount::text, ''), "
     "coalesce(h.issuer_authorized, false), coalesce(h.amount_issuer_held::text, "
     "''), " REV_TIMEOUT_IN_FLIGHT " FROM (SELECT) one " REV_AUTH_BY_ID("$1::varchar"),
     1},
    {"rev_auth_tx",
     "SELECT " REV_AUTH_COLUMNS ", NULL::boolean, coalesce(t.merchant_id, d.merchant_id, ''), "
     "coalesce(h.vendor_response, ''), coalesce(d.request_id, ''), " REV_VOIDED_BY ", "
     "coalesce(t.amount::text, ''), coalesce(h.issuer_authorized, false), "
     "coalesce(h.amount_issuer_held::text, ''), " REV_TIMEOUT_IN_FLIGHT " FROM (SELECT) one "
     "LEFT JOIN LATERAL (SELECT id, status, amount_deposited, transaction_id, request_token, "
     "auth_number, request_id, amount_pending, amount_authorized, vendor_response, voided_by, "
     "void_deferred_by, issuer_authorized, amount_issuer_held FROM auth_history "
     "WHERE transaction_id = $1::varchar "
     "AND transaction_id <> '' AND transaction_type <> 'auth_capture' "
     "ORDER BY id DESC LIMIT 1) h ON true "
     "LEFT JOIN cc_auth_trans t ON t.request_id = h.request_id "
     "LEFT JOIN LATERAL (SELECT merchant_id, request_id FROM cc_deposit_trans "
     "WHERE company = $2::int AND order_number = $3::varchar AND transaction_id = $1::varchar "
     "AND transaction_id <> '' AND request_type = 'debit' ORDER BY received_at DESC LIMIT 1) d "
     "ON h.id IS NULL",
     3},
    /* Marks the reversal sent and claims the whole authorization in the same statement, only
     * while nothing of it is captured or claimed, and the amount sent ($11) is still what it
     * holds: a capture and a reversal in flight together can never both proceed. When the claim
     * fails nothing is marked and the engine decides again (pl_reversal_check then refuses, or
     * rev_prepare sends what is held now). A mark re-sent by the same attempt claims nothing
     * twice. */
    {"rev_mark_sent", "WITH " PL_DB_E_ONE_11 ", " REV_MARK_SENT, 11},
    /* rev_mark_sent for many reversals at once (db.h): the same statement over each
     * execution's parameters. Each execution claims its own authorization (the units declare
     * it, pl_reversal_touch_key, so no two executions of one statement claim on the same row),
     * which tells whether that execution claimed. */
    {"rev_mark_sent:many", "WITH " PL_DB_E_MANY_11 ", " REV_MARK_SENT, 11},
    /* The answer stored; the auth_reversal_release_claim trigger then releases the claim and,
     * for an approved reversal, marks the authorization reversed, in one update (032). */
    {"rev_store", "WITH " PL_DB_E_ONE_9 " " REV_STORE, 9},
    /* rev_store for many answers at once (db.h): the same statement over each answer; no two
     * of them on one authorization. */
    {"rev_store:many", "WITH " PL_DB_E_MANY_9 " " REV_STORE, 9},
    /* After rev_store, in its unit: paylink's own reversal CyberSource refused as already
     * reversed (237) while the books keep the rest, for the resolver to tell an operator. */
    {"rev_kept_rest", PL_REVERSAL_KEPT_REST_OWED_SQL, 2},

    /* ---- stored value voids (service bureaus of protocol RLT) ---- */

    /* As rev_insert, the authorization a stored value authorization (svc_trans) of its own
     * company and order, in its currency; otherwise invalid (judge). It is auth_ref.request_id
     * ($10) or, named by its SVATransactionID alone ($11), the order's authorization the bureau
     * gave that id (030), recorded as auth_request_id either way; none when the order has no
     * such authorization (one paylink does not hold). */
    {"rev_svc_insert",
     "WITH ref AS (SELECT coalesce($10::varchar, paylink_svc_auth_by_transaction($3::int, "
     "$4::varchar, $6::varchar, nullif($11::varchar, ''))) AS id) "
     "INSERT INTO auth_reversal (request_id, fingerprint, company, order_number, pay_seq, "
     "service_bureau, pay_type, amount, currency, auth_request_id, auth_transaction_id, "
     "auth_request_token, auth_number, auth_date) "
     "SELECT $1::varchar, $2::char(64), $3::int, $4::varchar, $5::int, $6::varchar, "
     "$7::varchar, $8::numeric, $9::char(3), ref.id, $11::varchar, $12::varchar, "
     "$13::varchar, $14::varchar FROM ref "
     "WHERE NOT EXISTS (SELECT 1 FROM svc_trans a WHERE a.request_id = ref.id "
     "AND (a.company <> $3::int OR a.order_number <> $4::varchar "
     "OR a.currency <> $9::char(3))) "
     "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
     14},
    /* Result 1 of the record unit: the stored value authorization voided, named by its request
     * id ($1) or as the void's row records it ($2, the void's own request id: rev_svc_insert
     * resolved its SVATransactionID). */
    {"rev_svc_auth",
     "SELECT " PL_STORED_VALUE_AUTH_COLUMNS " FROM svc_trans "
     "WHERE request_id = coalesce($1::varchar, "
     "(SELECT auth_request_id FROM auth_reversal WHERE request_id = $2::varchar))",
     2},
    /* Marks the void sent and claims what the authorization still holds ($8) in the same
     * statement, only while no deposit or other void has a claim on it and that is still
     * exactly what remains: a deposit and a void in flight together can never both proceed.
     * When the claim fails nothing is marked and the engine decides again. */
    {"rev_svc_mark_sent",
     "WITH me AS (SELECT request_id, status FROM auth_reversal WHERE request_id = $1 "
     "AND (status = 'received' OR (status = 'sent' AND sent_by = $7)) FOR UPDATE), "
     "claim AS (UPDATE svc_trans a SET amount_pending = a.amount_pending + $8::numeric "
     "FROM me WHERE me.status = 'received' AND $8::numeric IS NOT NULL "
     "AND a.request_id = $4::varchar AND a.request_type = 'auth' AND a.status = 'approved' "
     "AND a.amount_pending = 0 "
     "AND a.amount_approved - a.amount_deposited - a.amount_voided = $8::numeric "
     "RETURNING a.request_id) "
     "UPDATE auth_reversal r SET status = 'sent', sent_at = now(), operation = $2, "
     "merchant_id = $3, auth_request_id = coalesce($4, r.auth_request_id), "
     "auth_transaction_id = $5, auth_number = $6, sent_by = $7, "
     "claim_amount = CASE WHEN me.status = 'received' THEN $8::numeric ELSE r.claim_amount END "
     "FROM me WHERE r.request_id = me.request_id AND (me.status = 'sent' "
     "OR $8::numeric IS NULL OR EXISTS (SELECT 1 FROM claim)) RETURNING r.request_id",
     8},
    /* The answer; what it does to the authorization (claim released, amount_voided) is the
     * auth_reversal_settle_svc_void trigger's (014), for whoever stores an outcome. */
    {"rev_svc_store",
     "UPDATE auth_reversal SET status = $2, vendor_response = $3, amount_reversed = $4::numeric, "
     "transaction_id = $5, error_text = left($6, 300), reply = $7::jsonb, answered_at = now() "
     "WHERE request_id = $1 AND status IN ('sent', 'unknown') RETURNING request_id",
     7},
};

static const char *const protocols[] = {"CYB", "RLT", "EXT", NULL};

/* What prepare learned; the bureau call's references point here. */
typedef struct rev_data {
    char auth_id[24];         /* auth_history.id, "" for an unknown manual authorization */
    char auth_request_id[51]; /* its cc_auth_trans (svc_trans) request_id, "" when none */
    char ref_id[65];
    char ref_token[513];
    char auth_number[31];
    char pay_type[5];
    char claim_amount[24]; /* a stored value void: what it claims on the authorization, or "" */
    char card_token[65];   /* the authorization's card token (EXT sends it), or "" */
    char timeout_of[51];   /* a timeout reversal: the unknown authorization's request_id */
    /* The deposit that voided the authorization (an auth+capture that replaced it: its `.vdr`
     * is named after it) and the debit whose refused auth+capture made a manual one (its
     * `.sdr`), "" when none: what tells paylink's own reversals (pl_reversal_own). */
    char voided_by[51];
    char made_by[51];
    int64_t authorized; /* a paylink authorization's amount_authorized; 0 when not known */
    /* What the issuer holds of a refused authorization that records no amount authorized
     * (auth_history.amount_issuer_held, 061: a partial approval CyberSource refused); 0 when not
     * known (the amount asked). */
    int64_t issuer_held;
    /* What the authorization asked (cc_auth_trans.amount, the look-up's column 17), 0 when not
     * known: what the issuer holds of one refused with neither amount recorded, which the claim
     * records (rev_mark_sent) when the reversal goes for it. */
    int64_t asked;
} rev_data;

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* A stored value void: the request's service bureau speaks Customer Engagement (RLT), or is
 * the External Payment Service (which carries both) and the request names a stored value card. */
static bool stored_value(const pl_job *job)
{
    return job->svc && (strcmp(job->svc->protocol, "RLT") == 0 ||
                        (strcmp(job->svc->protocol, "EXT") == 0 && job->req.svc.card_number[0]));
}

static bool is_one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

const char *pl_reversal_reason_text(const char *code)
{
    static const struct {
        const char *code, *text;
    } texts[] = {
        {"237", "The authorization was already reversed."},
        {"238", "Transaction has been settled, so it cannot be voided."}, /* seed message 17 */
        {"102", "The payment service does not know the authorization."},
        {"150", "The payment service failed; the authorization was not reversed."},
    };
    for (size_t i = 0; code && i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(code, texts[i].code) == 0)
            return texts[i].text;
    return NULL;
}

static void refuse(pl_reply *rep, const char *code, const char *fmt, const char *arg)
{
    rep->status = PL_ST_DECLINED;
    copy(rep->vendor_response, sizeof rep->vendor_response, code);
    snprintf(rep->message, sizeof rep->message, fmt, arg);
}

/* a as reversal_own.h's rules read it (pointing into a). */
static pl_reversal_auth_facts auth_facts(const pl_reversal_auth *a)
{
    return (pl_reversal_auth_facts){.found = a->found,
                                    .status = a->status,
                                    .deposited = a->deposited,
                                    .pending = a->pending,
                                    .transaction_id = a->transaction_id,
                                    .soft_declined = a->soft_declined,
                                    .issuer_authorized = a->issuer_authorized,
                                    .timeout_in_flight = a->timeout_in_flight};
}

bool pl_reversal_check(const pl_reversal_auth *a, bool by_request_id, pl_reply *rep)
{
    /* The rules are reversal_own.h's (pl_reversal_refusal_of), which paylink-reversal's
     * resolver reads too before it asks one of paylink's own again: a refusal that can never
     * change is told to an operator at once there, rather than asked three times. */
    const pl_reversal_auth_facts f = auth_facts(a);
    switch (pl_reversal_refusal_of(&f, by_request_id)) {
    case PL_REVERSAL_GOES:
        return false; /* a manual authorization paylink never saw goes too: the bureau decides */
    case PL_REVERSAL_REFUSED_UNKNOWN:
        refuse(rep, "", "%s", "The referenced authorization is not known to paylink.");
        return true;
    case PL_REVERSAL_REFUSED_REVERSED:
        refuse(rep, "237", "%s", pl_reversal_reason_text("237"));
        return true;
    case PL_REVERSAL_REFUSED_CAPTURED:
        refuse(rep, "238", "%s", pl_reversal_reason_text("238"));
        return true;
    case PL_REVERSAL_REFUSED_CLAIMED:
        refuse(rep, "", "%s",
               "A deposit or another reversal of the authorization is in progress or its outcome "
               "is unknown; it cannot be reversed now.");
        return true;
    case PL_REVERSAL_REFUSED_TIMEOUT_IN_FLIGHT:
        refuse(rep, "", "%s",
               "A timeout reversal of the authorization is in progress or its outcome is unknown "
               "(it releases all of it); it is not reversed beside it.");
        return true;
    case PL_REVERSAL_REFUSED_NOT_APPROVED:
        refuse(rep, "", "The authorization was not approved (%s): there is nothing to reverse.",
               a->status);
        return true;
    case PL_REVERSAL_REFUSED_NO_TRANSACTION_ID:
        refuse(rep, "", "%s", "The authorization has no bureau transaction id to reverse.");
        return true;
    }
    return false;
}

int pl_reversal_rest_of(const pl_job *job, json_object *reply, pl_reversal_rest_request *out)
{
    memset(out, 0, sizeof *out);
    const rev_data *d = job->spec_data;
    const pl_request *r = &job->req;
    const char *status = pl_json_str(reply, "status");
    /* Prepared and sent by this spec as a card authorization reversal: not a replay (no
     * spec_data), nor a stored value void; approved, and not CyberSource's timeout reversal
     * (pl_reversal_rest_for says none then too: tested first here, before the reply's amount is
     * read, for every answer). */
    if (!d || !job->svc || stored_value(job) || job->call.op != PL_OP_AUTH_REVERSAL || !status ||
        strcmp(status, "approved") != 0 || d->timeout_of[0])
        return 0;
    const char *approved = pl_json_str(reply, "amount_approved");
    int64_t reversed = job->call.amount; /* none said: what was sent */
    if (approved && pl_money_parse_decimal(approved, &reversed) != 0)
        return 0;
    const pl_reversal_answered a = {
        .request_id = r->request_id,
        .auth_request_id = r->auth_ref.request_id,
        .transaction_id = r->auth_ref.transaction_id,
        .request_token = r->auth_ref.request_token,
        .number = r->auth_ref.number,
        .date = r->auth_ref.date,
        .has_auth_amount = r->auth_ref.has_amount,
        .auth_amount = r->auth_ref.amount,
        .voided_by = d->voided_by,
        .made_by = d->made_by,
        /* CyberSource's timeout reversal of an authorization without an answer. */
        .timeout = d->timeout_of[0] != '\0',
        .history = d->auth_id[0] != '\0',
        /* Or the claim recorded it: a reversal for the amount the authorization asked of one
         * with neither amount recorded (rev_mark_sent). */
        .held_recorded = d->authorized > 0 || d->issuer_held > 0 ||
                         (d->asked > 0 && job->call.amount == d->asked),
        .approved = strcmp(status, "approved") == 0,
        .sent = job->call.amount,
        .reversed = reversed,
    };
    return pl_reversal_rest_for(&a, out);
}

bool pl_reversal_timeout_settled(const char *request_id, const char *auth_request_id,
                                 bool auth_unknown, const char *auth_status, bool soft_declined,
                                 pl_reply *rep)
{
    /* Settled as error or rejected, or soft-declined: what the bureau may hold is still the
     * timeout reversal's to release (rev_prepare). */
    static const char *const still_held[] = {"error", "rejected", NULL};
    if (auth_unknown || soft_declined || !pl_reversal_is_timeout_of(request_id, auth_request_id) ||
        (auth_status && is_one_of(auth_status, still_held)))
        return false;
    refuse(rep, "",
           "The timeout reversal is not sent: the authorization's outcome is known now (%s).",
           auth_status && *auth_status ? auth_status : "settled");
    return true;
}

/* The record unit refused the request (rev_insert): the authorization it names belongs to
 * another company or order. */
static void rev_judge(pl_job *job, const pl_db_unit *recorded, pl_errors *errs)
{
    (void)recorded;
    /* (rev_svc_insert refuses only for a paylink stored value authorization: by request id,
     * or by SVATransactionID one of its own order in another currency.) */
    pl_job_judge_auth_ref(&job->req, errs);
}

static int rev_record(pl_job *job, pl_db_unit *u)
{
    const pl_request *r = &job->req;
    char company[16], pay_seq[16];
    snprintf(company, sizeof company, "%d", r->company);
    snprintf(pay_seq, sizeof pay_seq, "%d", r->pay_seq);
    const char *p[] = {r->request_id,
                       job->fingerprint,
                       company,
                       r->order,
                       pay_seq,
                       r->service,
                       r->pay_type,
                       nz(job->amount),
                       nz(r->currency),
                       nz(r->auth_ref.request_id),
                       r->auth_ref.transaction_id,
                       r->auth_ref.request_token,
                       r->auth_ref.number,
                       r->auth_ref.date};
    if (stored_value(job)) {
        int rc = pl_db_unit_add(u, "rev_svc_insert", 14, p);
        const char *by_id = nz(r->auth_ref.request_id);
        const char *q[] = {by_id, by_id ? NULL : r->request_id};
        return rc != 0 ? rc : pl_db_unit_add(u, "rev_svc_auth", 2, q);
    }
    /* The first time, by request id: one statement (rev_record, its look-up in result 0). */
    if (!job->read_back && r->auth_ref.request_id[0])
        return pl_db_unit_add(u, "rev_record", 14, p);
    int rc = pl_db_unit_add(u, "rev_insert", 14, p);
    if (rc != 0)
        return rc;
    /* Always added, so the look-up is result 1 whatever the request names. */
    if (r->auth_ref.request_id[0]) {
        const char *q[] = {r->auth_ref.request_id};
        return pl_db_unit_add(u, "rev_auth", 1, q);
    }
    const char *q[] = {r->auth_ref.transaction_id, company, r->order};
    return pl_db_unit_add(u, "rev_auth_tx", 3, q);
}

/*
 * A stored value void (seed "Void Request": the authorized amount and the original
 * authorization's SVATransactionID, sent on a cancellation or deactivation): of the paylink
 * authorization auth_ref.request_id or the one of the order auth_ref.transaction_id names, or
 * of an authorization paylink does not hold (an SVATransactionID no authorization of the order
 * has, the request's amount: the bureau decides). Send reversal is a
 * CyberSource setting and does not apply. Returns 1 when refused (reply filled), else 0.
 */
static int rev_svc_prepare(pl_job *job, const pl_db_unit *recorded, rev_data *d)
{
    const pl_request *r = &job->req;
    pl_bureau_call *c = &job->call;
    memset(c, 0, sizeof *c);
    c->req = r;
    c->op = PL_OP_SVC_VOID;
    if (!r->svc.card_number[0]) {
        refuse(job->reply, "", "%s",
               "A stored value reversal names its card (svc.card_number): the Void carries it.");
        return 1;
    }
    c->amount = r->has_amount ? r->amount : 0;
    const PGresult *res = pl_db_unit_result(recorded, 1);
    pl_stored_value_auth a;
    pl_stored_value_auth_read(res, 0, &a);
    /* A paylink authorization, by request id or found by its SVATransactionID in the order
     * (rev_svc_insert): the same checks and the same claim whichever way it was named. */
    if (r->auth_ref.request_id[0] || a.found) {
        if (pl_stored_value_auth_refused(&a, pl_job_card_hash_for(job, a.card_hash), job->reply))
            return 1;
        if (a.pending > 0) {
            refuse(job->reply, "", "%s",
                   "A deposit or another void of the authorization is in progress or its outcome "
                   "is unknown; it cannot be voided now.");
            return 1;
        }
        /* seed: the Void is for the authorized amount; what was deposited is no longer held. */
        c->amount = pl_stored_value_auth_remaining(&a);
        if (c->amount == 0) {
            refuse(job->reply, "", "%s",
                   "Nothing of the authorization is left to void: it was deposited or voided.");
            return 1;
        }
        if (pl_money_format(c->amount, d->claim_amount, sizeof d->claim_amount) != 0)
            return PL_ERR_INVALID;
        copy(d->auth_request_id, sizeof d->auth_request_id, a.request_id);
        copy(d->ref_id, sizeof d->ref_id, a.transaction_id);
        copy(d->auth_number, sizeof d->auth_number, a.auth_number);
    } else {
        copy(d->ref_id, sizeof d->ref_id, r->auth_ref.transaction_id);
        copy(d->auth_number, sizeof d->auth_number, r->auth_ref.number);
    }
    pl_job_resolve_call(job, r->pay_type);
    /* Under the merchant ID the authorization was sent with (053; "" leaves the configuration's:
     * one paylink does not hold, or marked before 053). */
    if (a.found)
        pl_job_follow_merchant(job, a.merchant_id);
    c->ref_request_id = d->ref_id;
    c->svc_card_number = r->svc.card_number;
    c->order = r->order;
    c->now = time(NULL);
    return 0;
}

static int rev_prepare(pl_job *job, const pl_db_unit *recorded)
{
    const pl_request *r = &job->req;
    const pl_service *svc = job->svc;
    if (stored_value(job)) {
        rev_data *d = calloc(1, sizeof *d);
        if (!d)
            return PL_ERR_NOMEM;
        job->spec_data = d;
        int rc = rev_svc_prepare(job, recorded, d);
        if (rc == 1)
            PL_INFO(r->request_id, "stored value void refused: %s", job->reply->message);
        return rc;
    }
    int b; /* where REV_AUTH_COLUMNS start */
    const PGresult *res = pl_job_lookup(recorded, &b);
    /* The debit whose soft-declined auth+capture made the manual authorization named (15), and
     * the deposit that voided the authorization (16: an auth+capture that replaced it, whose
     * `.vdr` is named after that deposit, not after the authorization). */
    const char *made_by =
        res && PQntuples(res) == 1 && PQnfields(res) > b + 15 ? PQgetvalue(res, 0, b + 15) : "";
    const char *voided_by =
        res && PQntuples(res) == 1 && PQnfields(res) > b + 16 ? PQgetvalue(res, 0, b + 16) : "";
    if (!svc->send_reversal &&
        pl_reversal_own(r->request_id, r->auth_ref.request_id, voided_by, made_by) >= 0) {
        /* Requested by paylink itself (a reject's, a timeout's, a replaced authorization's, or
         * the rest of one of those approved for less), whose worker read Send reversal
         * selected: this worker's settings are older (the workers refresh apart) or newer;
         * refused, its id fixed, it would never be asked again and the funds would stay held. A
         * bureau that takes no reversals answers so. */
        PL_WARN(r->request_id,
                "Send reversal is not selected for %s in this worker's settings, but paylink "
                "requested this reversal under settings that had it: sent",
                svc->code);
    } else if (!svc->send_reversal) {
        /* seed: reversals are sent only for bureaus with Send reversal selected. */
        /* seed (Siebel) message 18: not authorized to perform this transaction type. */
        refuse(job->reply, "", "%s", pl_siebel_message(18));
        PL_INFO(r->request_id, "reversal refused: Send reversal is not selected for %s", svc->code);
        return 1;
    }
    rev_data *d = calloc(1, sizeof *d);
    if (!d)
        return PL_ERR_NOMEM;
    job->spec_data = d;
    copy(d->voided_by, sizeof d->voided_by, voided_by);
    copy(d->made_by, sizeof d->made_by, made_by);

    pl_reversal_auth a = {0};
    bool row = res && PQntuples(res) == 1 && PQnfields(res) > b + 12;
    if (row && !PQgetisnull(res, 0, b)) {
        a.found = true;
        copy(a.status, sizeof a.status, PQgetvalue(res, 0, b + 1));
        if (pl_money_parse_decimal(PQgetvalue(res, 0, b + 2), &a.deposited) != 0)
            a.deposited = 0;
        if (pl_money_parse_decimal(PQgetvalue(res, 0, b + 9), &a.pending) != 0)
            a.pending = 0;
        copy(a.transaction_id, sizeof a.transaction_id, PQgetvalue(res, 0, b + 3));
        copy(d->auth_id, sizeof d->auth_id, PQgetvalue(res, 0, b));
        copy(d->ref_id, sizeof d->ref_id, PQgetvalue(res, 0, b + 3));
        copy(d->ref_token, sizeof d->ref_token, PQgetvalue(res, 0, b + 4));
        copy(d->auth_number, sizeof d->auth_number, PQgetvalue(res, 0, b + 5));
        copy(d->auth_request_id, sizeof d->auth_request_id, PQgetvalue(res, 0, b + 6));
        copy(d->card_token, sizeof d->card_token, PQgetvalue(res, 0, b + 10));
        if (pl_money_parse_decimal(PQgetvalue(res, 0, b + 11), &d->authorized) != 0)
            d->authorized = 0;
        /* Column 19 (061): what the issuer holds of it when it was refused after a partial
         * approval. */
        if (PQnfields(res) <= b + 19 ||
            pl_money_parse_decimal(PQgetvalue(res, 0, b + 19), &d->issuer_held) != 0)
            d->issuer_held = 0;
        /* Column 17: what it asked. */
        if (PQnfields(res) <= b + 17 ||
            pl_money_parse_decimal(PQgetvalue(res, 0, b + 17), &d->asked) != 0)
            d->asked = 0;
        /* Column 20: a timeout reversal of it in flight. */
        a.timeout_in_flight =
            PQnfields(res) > b + 20 && strcmp(PQgetvalue(res, 0, b + 20), "t") == 0;
        /* The authorization's pay type, else its card type, for the merchant ID hierarchy. */
        copy(d->pay_type, sizeof d->pay_type,
             PQgetvalue(res, 0, b + 7)[0] ? PQgetvalue(res, 0, b + 7) : PQgetvalue(res, 0, b + 8));
    } else {
        /* A manual authorization: what the request says is all there is. */
        copy(d->ref_id, sizeof d->ref_id, r->auth_ref.transaction_id);
        copy(d->ref_token, sizeof d->ref_token, r->auth_ref.request_token);
        copy(d->auth_number, sizeof d->auth_number, r->auth_ref.number);
    }
    /* An authorization whose outcome is unknown (nothing in auth_history yet) on CyberSource:
     * the timeout authorization reversal, by the merchantTransactionIdentifier it was sent
     * with; the bureau reverses it if it exists and answers 242 if it never did. */
    bool unknown = row && strcmp(PQgetvalue(res, 0, b + 12), "t") == 0;
    /* The merchant ID the authorization was sent under: its reversal goes under it (column 13;
     * "" for a manual authorization paylink never sent). */
    const char *auth_merchant = row && PQnfields(res) > b + 13 ? PQgetvalue(res, 0, b + 13) : "";
    /* Its answer's reasonCode (column 14): a soft decline on CyberSource still holds the
     * cardholder's funds, and is reversed as a reject is. Column 18: declined or failed while
     * the issuer authorized it (060, 064; its ccAuthReply said 100 or 110: a token+auth refused
     * for its token, an ERROR 150): it holds the amount as a soft decline does. Read as
     * paylink-reversal's resolver reads them before it asks a reversal again (reversal_own.h). */
    pl_reversal_auth_facts holds = {.found = a.found, .status = a.status};
    pl_reversal_auth_facts_issuer(
        &holds, svc->protocol, a.found && PQnfields(res) > b + 14 ? PQgetvalue(res, 0, b + 14) : "",
        a.found && PQnfields(res) > b + 18 && strcmp(PQgetvalue(res, 0, b + 18), "t") == 0);
    a.soft_declined = holds.soft_declined;
    a.issuer_authorized = holds.issuer_authorized;
    if (row && pl_reversal_timeout_settled(r->request_id, r->auth_ref.request_id, unknown,
                                           a.found ? a.status : "",
                                           a.soft_declined || a.issuer_authorized, job->reply)) {
        PL_WARN(r->request_id, "timeout reversal of %s refused: %s", r->auth_ref.request_id,
                job->reply->message);
        return 1;
    }
    /*
     * The timeout reversal of an authorization settled `error` since it was asked for (an
     * operator who could not learn its outcome, as the resolver tells one to while the reversal
     * is in flight): the bureau may still hold the funds, and this reversal is what releases
     * them. It goes as for an unknown outcome, by the identifier the authorization was sent
     * with, claiming nothing (an error holds nothing here). One settled `rejected` goes below,
     * by its transaction id, as any reversal of a reject; so does an `error` answer whose
     * ccAuthReply said the issuer authorized it (issuer_authorized, 064): its `.rev` claims it
     * (a marker of 0.01), and this one claims it too, so the two never both go (unclaimed, this
     * one went beside the `.rev`).
     */
    bool settled_error = row && a.found && strcmp(a.status, "error") == 0 && !a.issuer_authorized &&
                         pl_reversal_is_timeout_of(r->request_id, r->auth_ref.request_id);
    if (settled_error) {
        d->auth_id[0] = '\0';
        d->ref_id[0] = '\0';
        d->ref_token[0] = '\0';
        d->authorized = 0;
        d->issuer_held = 0;
        d->asked = 0;
    }
    if (((!a.found && unknown) || settled_error) && r->auth_ref.request_id[0] &&
        strcmp(svc->protocol, "CYB") == 0) {
        copy(d->timeout_of, sizeof d->timeout_of, r->auth_ref.request_id);
        copy(d->auth_request_id, sizeof d->auth_request_id, r->auth_ref.request_id);
        pl_bureau_call *c = &job->call;
        memset(c, 0, sizeof *c);
        c->req = r;
        c->op = PL_OP_AUTH_REVERSAL;
        pl_job_resolve_call(job, r->pay_type);
        pl_job_follow_merchant(job, auth_merchant);
        /* For what paylink sent (column 17), as the resolver's own `.tor` goes: the bureau
         * releases the authorization whole, and its required response now follows this
         * reversal (rev_mark_sent) as releasing it; one for less than was authorized would
         * leave the rest held with the authorization settled as released. */
        int64_t sent = 0;
        c->amount = row && PQnfields(res) > b + 17 &&
                            pl_money_parse_decimal(PQgetvalue(res, 0, b + 17), &sent) == 0
                        ? sent
                    : r->has_amount ? r->amount
                                    : 0;
        c->ref_request_id = d->ref_id; /* "": none is known */
        c->timeout_reversal_of = d->timeout_of;
        PL_INFO(r->request_id, "timeout authorization reversal of %s (its outcome is unknown)",
                d->timeout_of);
        return 0;
    }
    if (pl_reversal_check(&a, r->auth_ref.request_id[0] != '\0', job->reply)) {
        /* One of paylink's own (a `.rev`, a `.vdr`, a rest, one asked again...): nobody reads
         * its reply, and what it went for may stay held on the card (a capture, another reversal
         * or a timeout reversal of the authorization in flight). Its refusal is recorded with it
         * (migration 070's trigger: declined without a call) and paylink-reversal's resolver
         * asks for it again once that can succeed, at most PL_REVERSAL_MAX_AGAIN times in its
         * chain, or tells an operator (a capture since, the asks spent; at once for a refusal
         * that never changes, pl_reversal_refusal_lasting): the line says so. Not for one
         * refused as already reversed (237: another reversal released it all), nor for the
         * timeout reversal `.tor`, which its authorization's required response follows (the
         * resolver leaves its refusal to that). Before, the root reversal's refusal was final
         * and logged as information only (the issuer kept the hold), and a rest's told an
         * operator it would not be asked again. */
        int asked = 0;
        const pl_reversal_auth_facts f = auth_facts(&a);
        /* What the resolver's re-ask pass tells an operator of at once (reask_one): a capture
         * since, an authorization never approved, none without a transaction id. Not one with
         * no answer recorded yet: that one is asked again, and goes once an answer comes. */
        pl_reversal_refusal why =
            pl_reversal_refusal_lasting(&f, r->auth_ref.request_id[0] != '\0');
        bool lasting = why == PL_REVERSAL_REFUSED_CAPTURED ||
                       why == PL_REVERSAL_REFUSED_NOT_APPROVED ||
                       why == PL_REVERSAL_REFUSED_NO_TRANSACTION_ID;
        if (pl_reversal_own_chain(r->request_id, r->auth_ref.request_id, voided_by, made_by, NULL,
                                  0, &asked) >= 0 &&
            !pl_reversal_is_timeout_of(r->request_id, r->auth_ref.request_id) &&
            strcmp(job->reply->vendor_response, "237") != 0) {
            char amount[32] = "";
            if (!r->has_amount || pl_money_format(r->amount, amount, sizeof amount) != 0)
                snprintf(amount, sizeof amount, "%s", "amount");
            PL_WARN(r->request_id,
                    "paylink's reversal of the %s held of authorization %s was refused (%s): %s",
                    amount,
                    r->auth_ref.request_id[0] ? r->auth_ref.request_id
                    : d->ref_id[0]            ? d->ref_id
                                              : "(unnamed)",
                    job->reply->message,
                    lasting ? "it is refused so however often it is asked, and paylink-reversal's "
                              "resolver tells an operator"
                    : asked < PL_REVERSAL_MAX_AGAIN
                        ? "paylink-reversal's resolver asks for it again once it can go, or "
                          "tells an operator"
                        : "it was asked again as often as it is, and paylink-reversal's resolver "
                          "tells an operator");
        } else {
            PL_INFO(r->request_id, "reversal refused: %s", job->reply->message);
        }
        return 1;
    }

    pl_bureau_call *c = &job->call;
    memset(c, 0, sizeof *c);
    c->req = r;
    c->op = PL_OP_AUTH_REVERSAL;
    const char *pay_type = r->pay_type[0] ? r->pay_type : d->pay_type;
    pl_job_resolve_call(job, pay_type);
    pl_job_follow_merchant(job, auth_merchant);
    /* The contract requires the amount of a reversal; a manual authorization's own amount
     * stands in should it ever be absent. A paylink authorization is reversed whole (its
     * auth_history row becomes `reversed`, the claim is all of it; pl_reversal_check has refused
     * one with anything captured): its authorized amount goes, whatever the request says, as a
     * stored value void's does. (After a reversal the bureau approved for less, that is what
     * the issuer still holds: migration 058.) */
    c->amount = r->has_amount ? r->amount : r->auth_ref.has_amount ? r->auth_ref.amount : 0;
    if (d->authorized > 0) {
        if (c->amount != d->authorized)
            PL_INFO(r->request_id,
                    "reversal of the whole authorization %s (its authorized amount), not the "
                    "request's amount",
                    d->auth_request_id[0] ? d->auth_request_id : d->ref_id);
        c->amount = d->authorized;
    } else if (d->issuer_held > 0) {
        /* A refused authorization records no amount authorized; when the issuer approved only
         * part of it (061: an operator's reject or soft decline with --amount, the resolver's
         * query), that part is what it holds and what goes, whatever the request says: above it
         * CyberSource refuses the reversal and the hold stays. The resolver's `.tor` names the
         * whole request (it is published again with the operator's outcome exactly as first
         * published, in case that copy was lost), so whichever copy of it comes first goes for
         * this, and the other is answered from its row; before, a copy for the whole request
         * still queued went first, was refused, and the copy for the held amount was refused as
         * another request under the same request_id. */
        if (c->amount != d->issuer_held)
            PL_INFO(r->request_id,
                    "reversal of what the issuer holds of the refused authorization %s (a partial "
                    "approval), not the request's amount",
                    d->auth_request_id[0] ? d->auth_request_id : d->ref_id);
        c->amount = d->issuer_held;
    }
    c->ref_request_id = d->ref_id;
    c->ref_request_token = nz(d->ref_token);
    c->ref_auth_code = nz(d->auth_number);
    /* EXT (message version 3.0): the card goes by its token, the authorization's; a manual
     * authorization's comes with the request (a number there is tokenized first). */
    c->card_token = nz(d->card_token);
    return 0;
}

void pl_reversal_touch_key(bool stored_value, const char *auth_id, const char *auth_request_id,
                           char *out, size_t outsize)
{
    if (stored_value && auth_request_id && *auth_request_id)
        snprintf(out, outsize, "%s", auth_request_id);
    else if (!stored_value && auth_id && *auth_id)
        snprintf(out, outsize, "auth_history:%s", auth_id);
    else if (outsize > 0)
        out[0] = '\0';
}

/* spec->touch_key: the authorization the reversal claims on and releases
 * (pl_reversal_touch_key), which the engine declares on each of the job's units. */
static void rev_touch_key(const pl_job *job, char *out, size_t outsize)
{
    const rev_data *d = job->spec_data;
    if (!d) {
        if (outsize > 0)
            out[0] = '\0';
        return;
    }
    pl_reversal_touch_key(stored_value(job), d->auth_id, d->auth_request_id, out, outsize);
}

/* spec->breaker_exempt: paylink's own reversals (pl_reversal_own) wait for a stalled bureau's
 * slot however long it hangs: nobody reads their reply, and one answered unsent left the whole
 * hold on the card. The order system's are answered as any request. */
static bool rev_breaker_exempt(const pl_job *job)
{
    const rev_data *d = job->spec_data;
    return pl_reversal_own(job->req.request_id, job->req.auth_ref.request_id, d ? d->voided_by : "",
                           d ? d->made_by : "") >= 0;
}

static int rev_mark_sent(pl_job *job, pl_db_unit *u)
{
    const rev_data *d = job->spec_data;
    if (stored_value(job)) {
        const char *p[] = {job->req.request_id,    job->op_name,       job->merchant_id,
                           nz(d->auth_request_id), d->ref_id,          d->auth_number,
                           job->attempt,           nz(d->claim_amount)};
        return pl_db_unit_add(u, "rev_svc_mark_sent", 8, p);
    }
    /* What the call sends: the claim holds only while it is what the authorization holds. */
    char sent[24];
    if (pl_money_format(job->call.amount, sent, sizeof sent) != 0)
        return PL_ERR_INVALID;
    const char *p[] = {job->req.request_id,
                       job->op_name,
                       job->merchant_id,
                       nz(d->auth_request_id),
                       nz(d->auth_id),
                       d->ref_id,
                       d->ref_token,
                       d->auth_number,
                       d->pay_type,
                       job->attempt,
                       sent};
    return pl_db_unit_add(u, "rev_mark_sent", 11, p);
}

/*
 * An approval that reversed less than was sent (an External Payment Service answer's amount,
 * contract §8.5, below the call's): the rest is still held by the issuer, and the
 * authorization stays capturable for it (migration 058). The order system is told so in
 * words; the amount is in amount_approved.
 */
static void partial_reversal_message(pl_reply *rep, int64_t sent)
{
    char got[32], asked[32], held[32];
    if (pl_money_format(rep->amount_approved, got, sizeof got) != 0 ||
        pl_money_format(sent, asked, sizeof asked) != 0 ||
        pl_money_format(sent - rep->amount_approved, held, sizeof held) != 0)
        return;
    snprintf(rep->message, sizeof rep->message,
             "Partially reversed: %s of the %s sent; the issuer still holds %s.", got, asked, held);
}

/*
 * A reversal of a refused authorization sent for what the issuer holds of it, less than the
 * request named (rev_prepare, 061): the order system, which reads amount_approved below
 * amount_requested as a partial reversal, is told in words that nothing is left held.
 */
static void issuer_held_message(pl_job *job)
{
    const rev_data *d = job->spec_data;
    pl_reply *rep = job->reply;
    char held[32], asked[32];
    if (!d || d->issuer_held <= 0 || job->call.amount != d->issuer_held || !job->req.has_amount ||
        job->req.amount <= job->call.amount ||
        pl_money_format(job->call.amount, held, sizeof held) != 0 ||
        pl_money_format(job->req.amount, asked, sizeof asked) != 0)
        return;
    snprintf(rep->message, sizeof rep->message,
             "Reversed all the issuer held, %s (a partial approval), not the %s asked: nothing "
             "is left held.",
             held, asked);
}

static void rev_map(pl_job *job)
{
    if (stored_value(job)) {
        pl_stored_value_map_answer(job->services, job->svc, job->res, job->call.op,
                                   job->call.amount, job->reply);
        return;
    }
    pl_job_map_answer(job);
    pl_reply *rep = job->reply;
    /* A reversal is never fraud-screened: any REJECT is the bureau declining it. */
    if (rep->status == PL_ST_REJECTED)
        rep->status = PL_ST_DECLINED;
    /* What was reversed: the answer's amount, else what paylink sent (the whole authorization,
     * which may be more than the request named). pl_job_map_answer falls back to the request's
     * amount, so a request naming 30.00 of a 100.00 authorization it reversed whole was
     * answered, and recorded, as 30.00 reversed. */
    if (rep->status == PL_ST_APPROVED) {
        rep->has_amount_approved = true;
        rep->amount_approved = job->res->has_amount ? job->res->amount : job->call.amount;
        if (rep->amount_approved < job->call.amount)
            partial_reversal_message(rep, job->call.amount);
        else
            issuer_held_message(job);
    }
    if (rep->status == PL_ST_DECLINED && !job->res->fault_code[0]) {
        const char *text = pl_reversal_reason_text(job->res->reason_code);
        if (text)
            copy(rep->message, sizeof rep->message, text);
    }
}

static int rev_store(pl_job *job, pl_db_unit *u)
{
    const pl_bureau_result *res = job->res;
    const pl_reply *rep = job->reply;
    char reversed[24] = "";
    if (rep->has_amount_approved &&
        pl_money_format(rep->amount_approved, reversed, sizeof reversed) != 0)
        reversed[0] = '\0';
    char error_text[600] = "";
    if (stored_value(job)) {
        if (res->fault_code[0])
            snprintf(error_text, sizeof error_text, "%s: %s", res->fault_code, res->fault_string);
        else if (res->error_code[0] || res->error_text[0])
            snprintf(error_text, sizeof error_text, "%s: %s", res->error_code, res->error_text);
        const char *p[] = {job->req.request_id, pl_status_name(rep->status), rep->vendor_response,
                           nz(reversed),        rep->auth.transaction_id,    error_text,
                           job->reply_json};
        int rc = pl_db_unit_add(u, "rev_svc_store", 7, p);
        if (rc == 0 && rep->status == PL_ST_APPROVED)
            PL_INFO(job->req.request_id, "stored value authorization %s voided",
                    job->call.ref_request_id);
        return rc;
    }
    if (res->fault_code[0])
        snprintf(error_text, sizeof error_text, "%s: %s", res->fault_code, res->fault_string);
    else if (res->missing_fields[0] || res->invalid_fields[0])
        snprintf(error_text, sizeof error_text, "missing: %s; invalid: %s", res->missing_fields,
                 res->invalid_fields);
    const char *p[] = {job->req.request_id,
                       pl_status_name(rep->status),
                       rep->decision,
                       rep->vendor_response,
                       nz(reversed),
                       rep->auth.transaction_id,
                       rep->auth.request_token,
                       error_text,
                       job->reply_json};
    int rc = pl_db_unit_add(u, "rev_store", 9, p);
    if (rc == 0 && rep->status == PL_ST_APPROVED)
        PL_INFO(job->req.request_id, "authorization %s %s",
                job->call.timeout_reversal_of && *job->call.timeout_reversal_of
                    ? job->call.timeout_reversal_of
                    : job->call.ref_request_id,
                rep->amount_approved < job->call.amount
                    ? "reversed in part (the rest is still held)"
                    : "reversed");
    /* One of paylink's own (a `.rev`, `.vdr`, a rest, one asked again...; not a `.tor`, which
     * claims no history row) that CyberSource refuses as already reversed (237) after another
     * reversal of its authorization was approved for part of it: 237 does not say the rest was
     * released, the authorization stays booked with the rest held and capturable (075), nobody
     * reads this reply, and asking again would be refused alike. Recorded in the same unit, judged
     * on the row as stored (PL_REVERSAL_KEPT_REST_OWED_SQL), for paylink-reversal's resolver to
     * tell an operator once it is committed, as it does when the resolver's query or an operator
     * settles such a reversal. */
    const rev_data *d = job->spec_data;
    int own = rc == 0 && d && rep->status == PL_ST_DECLINED &&
                      strcmp(rep->vendor_response, "237") == 0 && job->svc &&
                      strcmp(job->svc->protocol, "CYB") == 0
                  ? pl_reversal_own(job->req.request_id, job->req.auth_ref.request_id, d->voided_by,
                                    d->made_by)
                  : -1;
    if (own >= 0) {
        const char *q[] = {job->req.request_id, own >= 1 ? "true" : "false"};
        rc = pl_db_unit_add(u, "rev_kept_rest", 2, q);
    }
    return rc;
}

/*
 * A reversal paylink requested itself (pl_reversal_own) approved for less than was sent: nobody
 * reads its reply (the order system's own reversal gets amount_approved and a message, and its
 * sender decides), so the rest it leaves held on the card is asked for here, with the reply and
 * stored with the row (the engine's follow-ups: published again on a redelivery), as
 * `<request_id>.rest` of the same authorization (pl_reversal_rest_of), which this worker takes
 * as paylink's own. Its claim is refused while a capture of the authorization is in flight or
 * after one (rev_mark_sent, pl_reversal_check), as any reversal's. After PL_REVERSAL_MAX_RESTS
 * rests an operator is told instead.
 */
static int rev_followups(pl_job *job, json_object *reply)
{
    pl_reversal_rest_request rest;
    int k = pl_reversal_rest_of(job, reply, &rest);
    if (k == 0)
        return 0;
    const rev_data *d = job->spec_data;
    const pl_request *r = &job->req;
    const char *auth = d->auth_request_id[0] ? d->auth_request_id : d->ref_id;
    if (k < 0) {
        pl_reversal_rest_log(r->request_id, auth, k, &rest);
        return 0;
    }
    /* The message the resolver publishes for the same rest after an operator's outcome
     * (reversal_own.h): one builder, the same bytes. */
    const pl_reversal_message m = {.request_id = rest.request_id,
                                   .company = r->company,
                                   .order = r->order,
                                   .pay_seq = r->pay_seq,
                                   .service = r->service,
                                   .amount = rest.amount,
                                   .currency = r->currency,
                                   .of = &rest.of};
    char key[64];
    pl_reversal_request_key(r->company, r->order, key, sizeof key);
    char *payload = pl_reversal_request_json(&m);
    int rc = payload ? pl_job_publish(job, "reversal.request", key, payload) : PL_ERR_NOMEM;
    free(payload);
    if (rc == 0)
        pl_reversal_rest_log(r->request_id, auth, k, &rest);
    return rc;
}

const pl_spec pl_reversal_spec = {
    .worker = "reversal",
    .table = "auth_reversal",
    .protocols = protocols,
    .stmts = stmts,
    .nstmts = sizeof stmts / sizeof stmts[0],
    .record = rev_record,
    .judge = rev_judge,
    .prepare = rev_prepare,
    .mark_sent = rev_mark_sent,
    .touch_key = rev_touch_key,
    .map = rev_map,
    .store = rev_store,
    .followups = rev_followups,
    .breaker_exempt = rev_breaker_exempt,
};
