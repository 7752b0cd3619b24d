/* svc.c: what paylink-svc adds to the engine (see svc.h). */
#include "svc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "card.h"
#include "db.h"
#include "log.h"
#include "money.h"

/* svc_insert_sent over e (db.h: one row, or one per request merged). */
#define SVC_INSERT_SENT                                                                            \
    "INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "        \
    "pay_seq, service_bureau, pay_type, auth_mode, amount, currency, card_masked, card_hash, "     \
    "order_line, issue_amount, is_virtual, status, sent_at, operation, sent_by, void_remainder, "  \
    "merchant_id) "                                                                                \
    "SELECT p1, p2, p3, p4::int, p5, p6::int, p7, p8, p9, p10::numeric, p11, p12, p13, p14::int, " \
    "p15::numeric, p16::boolean, 'sent', now(), p17, p18, p19::boolean, p20 FROM e "               \
    "ON CONFLICT (request_id) DO UPDATE SET sent_by = excluded.sent_by, sent_at = now() "          \
    "WHERE svc_trans.status = 'sent' AND svc_trans.sent_by = excluded.sent_by "                    \
    "RETURNING request_id"

/*
 * A new request's row from e, recorded only when the authorization a deposit names belongs to
 * its own company and order and is in its currency (when both have one); otherwise nothing is
 * written and it is invalid (judge). The authorization is auth_ref.request_id (p17) or, named
 * by its SVATransactionID alone (p18), the order's authorization the bureau gave that id (030),
 * recorded as ref_request_id either way; none when the order has no such authorization.
 */
#define SVC_REF                                                                                    \
    "ref AS (SELECT e.p1, coalesce(e.p17::varchar, paylink_svc_auth_by_transaction(e.p4::int, "    \
    "e.p5::varchar, e.p7::varchar, e.p18::varchar)) AS id FROM e)"
#define SVC_INSERT                                                                                 \
    "INSERT INTO svc_trans (request_id, fingerprint, request_type, company, order_number, "        \
    "pay_seq, service_bureau, pay_type, auth_mode, amount, currency, card_masked, card_hash, "     \
    "order_line, issue_amount, is_virtual, ref_request_id) "                                       \
    "SELECT e.p1::varchar, e.p2::char(64), e.p3::varchar, e.p4::int, e.p5::varchar, e.p6::int, "   \
    "e.p7::varchar, e.p8::varchar, e.p9::varchar, e.p10::numeric, e.p11::char(3), "                \
    "e.p12::varchar, e.p13::char(64), e.p14::int, e.p15::numeric, e.p16::boolean, ref.id "         \
    "FROM e JOIN ref ON ref.p1 = e.p1 "                                                            \
    "WHERE NOT EXISTS (SELECT 1 FROM svc_trans a WHERE a.request_id = ref.id "                     \
    "AND (a.company <> e.p4::int OR a.order_number <> e.p5::varchar "                              \
    "OR a.currency <> e.p11::char(3))) "                                                           \
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"

/* An activation's card as the Stored Value Card table has it (043): its status, who activated
 * it, the activation in flight or unknown that holds it, and what it was issued for (its issue
 * amount and currency, '' when not recorded; pl_svc_card_state_read). */
#define SVC_CARD_COLUMNS                                                                           \
    "c.status, coalesce(c.activated_by, ''), coalesce(c.activation_pending, ''), "                 \
    "coalesce(c.issue_amount::text, ''), coalesce(c.currency::text, '')"
#define SVC_CARD_NCOLUMNS 5

/* The rows e's requests inserted, each with the row it names (the authorization of a deposit,
 * the deposit of a return) and, for an activation, its card's row (svc_record). */
#define SVC_RECORD                                                                                 \
    SVC_REF ", ins AS (" SVC_INSERT ", ref_request_id, service_bureau, card_hash, request_type) "  \
            "SELECT ins.request_id, x.*, y.* FROM ins "                                            \
            "LEFT JOIN LATERAL (SELECT " PL_STORED_VALUE_AUTH_COLUMNS " FROM svc_trans "           \
            "WHERE request_id = ins.ref_request_id) x ON true "                                    \
            "LEFT JOIN LATERAL (SELECT " SVC_CARD_COLUMNS " FROM stored_value_card c "             \
            "WHERE ins.request_type = 'activate' AND c.service_bureau = ins.service_bureau "       \
            "AND c.card_hash = ins.card_hash) y ON true"

/*
 * What svc_store and its merged form write for an approved generate: the card the bureau
 * generated (prefix and series: the service's, `prefix` and `series`), in the Stored Value Card
 * table. A number the bureau hands out again (never in production: a simulator restarted against
 * a kept database) belongs to the new generate, whose card row starts over.
 */
#define SVC_STORE_GEN(prefix, series)                                                              \
    "gen AS (INSERT INTO stored_value_card (service_bureau, company, order_number, "               \
    "order_line, card_masked, card_hash, virtual, card_prefix, card_series, issue_amount, "        \
    "currency, status, generated_by) "                                                             \
    "SELECT service_bureau, company, order_number, order_line, card_masked, card_hash, "           \
    "true, " prefix ", " series ", issue_amount, currency, 'generated', request_id FROM upd "      \
    "WHERE request_type = 'generate' AND status = 'approved' AND card_hash IS NOT NULL "           \
    "ON CONFLICT (service_bureau, card_hash) DO UPDATE SET company = excluded.company, "           \
    "order_number = excluded.order_number, order_line = excluded.order_line, "                     \
    "virtual = true, card_prefix = excluded.card_prefix, card_series = excluded.card_series, "     \
    "issue_amount = excluded.issue_amount, currency = excluded.currency, "                         \
    "status = 'generated', response_code = '', activation_date = NULL, activated_by = NULL, "      \
    "activation_pending = NULL, generated_by = excluded.generated_by), "

/*
 * The mark of each row of e (svc_mark_sent, below; e is its parameters as one row or, merged,
 * one row per execution: db.h, PL_DB_E_ONE_8 / _MANY_8): me holds the row, locked, with its
 * parameters; claim is the claim of its amount (p4) on the row it names (p5): a deposit's on
 * its authorization, a return's on the deposit it refunds (042); card is an activation's claim
 * on its card's row (043: not active, held by no other activation, issued for the activation's
 * amount and currency when the row says what it was issued for; a card without a row is the
 * bureau's to judge). The row is marked when it claimed, claims nothing, or is this attempt's
 * own mark sent again.
 */
#define SVC_MARK_SENT                                                                              \
    "me AS (SELECT t.request_id, t.status, t.request_type, t.service_bureau, t.card_hash, "        \
    "t.amount, t.currency, e.p2, e.p3, e.p4, e.p5, e.p7, e.p8 FROM e "                             \
    "JOIN svc_trans t ON t.request_id = e.p1 WHERE t.status = 'received' "                         \
    "OR (t.status = 'sent' AND (t.sent_by = e.p3 OR t.sent_by = e.p6)) FOR UPDATE OF t), "         \
    "claim AS (UPDATE svc_trans a SET amount_pending = a.amount_pending + me.p4::numeric "         \
    "FROM me WHERE me.status = 'received' AND me.p4 IS NOT NULL "                                  \
    "AND a.request_id = me.p5 AND a.status = 'approved' AND a.request_type = "                     \
    "CASE me.request_type WHEN 'return' THEN 'deposit' ELSE 'auth' END "                           \
    "AND CASE a.request_type WHEN 'auth' THEN a.amount_deposited + a.amount_voided "               \
    "ELSE a.amount_returned END + a.amount_pending + me.p4::numeric <= a.amount_approved "         \
    "AND a.void_deferred_by IS NULL RETURNING a.request_id), "                                     \
    "card AS (UPDATE stored_value_card c SET activation_pending = me.request_id FROM me "          \
    "WHERE me.status = 'received' AND me.request_type = 'activate' "                               \
    "AND c.service_bureau = me.service_bureau AND c.card_hash = me.card_hash "                     \
    "AND c.status <> 'active' "                                                                    \
    "AND (c.activation_pending IS NULL OR c.activation_pending = me.request_id) "                  \
    "AND (c.issue_amount IS NULL OR me.amount IS NULL OR c.issue_amount = me.amount) "             \
    "AND (c.currency IS NULL OR me.currency IS NULL OR c.currency = me.currency) "                 \
    "RETURNING c.activation_pending AS request_id) "                                               \
    "UPDATE svc_trans t SET status = 'sent', sent_at = now(), operation = me.p2, "                 \
    "sent_by = me.p3, claim_amount = CASE WHEN me.status = 'received' THEN me.p4::numeric "        \
    "ELSE t.claim_amount END, ref_request_id = CASE WHEN me.status = 'received' "                  \
    "AND me.p4 IS NOT NULL THEN coalesce(t.ref_request_id, me.p5) ELSE t.ref_request_id END, "     \
    "void_remainder = me.p7::boolean, merchant_id = me.p8 "                                        \
    "FROM me WHERE t.request_id = me.request_id AND (me.status = 'sent' OR me.p4 IS NULL "         \
    "OR EXISTS (SELECT 1 FROM claim c WHERE c.request_id = me.p5)) "                               \
    "AND (me.status = 'sent' OR me.request_type <> 'activate' "                                    \
    "OR EXISTS (SELECT 1 FROM card k WHERE k.request_id = me.request_id) "                         \
    "OR NOT EXISTS (SELECT 1 FROM stored_value_card c WHERE c.service_bureau = me.service_bureau " \
    "AND c.card_hash = me.card_hash)) RETURNING t.request_id"

/*
 * The answer of each row of e (p1-p18: one row, or one per answer merged; db.h) and what it does
 * to the Stored Value Card table. A generate's card (p15 hash, p16 mask) is written into the row
 * it had none in, and into the Stored Value Card table (SVC_STORE_GEN, with the service's prefix
 * p17 and series p18, which upd returns with the row).
 */
#define SVC_STORE                                                                                  \
    "upd AS (UPDATE svc_trans t SET status = e.p2, vendor_response = e.p3, "                       \
    "error_code = e.p4, reason_code = e.p5, amount_approved = e.p6::numeric, "                     \
    "svc_transaction_id = e.p7, auth_number = e.p8, auth_date = e.p9, account_id = e.p10, "        \
    "balance = e.p11::numeric, hold_reason = e.p12, error_text = left(e.p13, 300), "               \
    "reply = e.p14::jsonb, answered_at = now(), "                                                  \
    "card_hash = coalesce(t.card_hash, e.p15::char(64)), "                                         \
    "card_masked = CASE WHEN t.card_masked = '' THEN coalesce(e.p16, '') ELSE t.card_masked "      \
    "END FROM e WHERE t.request_id = e.p1 AND t.status IN ('sent', 'unknown') "                    \
    "RETURNING t.*, e.p17, e.p18), " SVC_STORE_GEN("upd.p17", "upd.p18") PL_SVC_CARD_EFFECTS_SQL   \
        "SELECT request_id FROM upd"

static const pl_db_stmt stmts[] = {
    /*
     * The record unit the first time (spec->record): the row inserted as svc_insert inserts it
     * and, returned with it, the authorization svc_auth looks up (columns 1-9, NULL when there
     * is none): one statement a request, which pl_db merges for many requests in a batch
     * (svc_record:many). A row only when it inserted: a redelivery or a refused request is
     * recorded again with svc_insert and svc_auth, and the row read back.
     */
    {"svc_record", "WITH " PL_DB_E_ONE_18 ", " SVC_RECORD, 18},
    {"svc_record:many", "WITH " PL_DB_E_MANY_18 ", " SVC_RECORD, 18},
    {"svc_insert", "WITH " PL_DB_E_ONE_18 ", " SVC_REF " " SVC_INSERT, 18},
    /* Result 1 of the record unit that reads the row back, one row as svc_record's after its
     * request id: the row a deposit or a return draws on (NULLs for other requests), named by
     * its request id ($1) or as the deposit's row records it ($2, the deposit's own request id:
     * svc_insert resolved its SVATransactionID), and an activation's card ($3, its request id). */
    {"svc_auth",
     "SELECT x.*, y.* FROM (SELECT 1) one "
     "LEFT JOIN LATERAL (SELECT " PL_STORED_VALUE_AUTH_COLUMNS " FROM svc_trans "
     "WHERE request_id = coalesce($1::varchar, "
     "(SELECT ref_request_id FROM svc_trans WHERE request_id = $2::varchar))) x ON true "
     "LEFT JOIN LATERAL (SELECT " SVC_CARD_COLUMNS " FROM stored_value_card c "
     "JOIN svc_trans s ON c.service_bureau = s.service_bureau AND c.card_hash = s.card_hash "
     "WHERE s.request_id = $3::varchar AND s.request_type = 'activate') y ON true",
     3},
    /*
     * Marks the request sent and, for a deposit of a paylink authorization, claims its amount
     * ($4) on that authorization ($5) in the same statement: the claim re-checks what remains on
     * the newest version of the row, so a deposit and a void, or two deposits, in flight together
     * never take the same money. When it fails nothing is marked and the engine decides again
     * with what is left. A mark re-sent by the same attempt ($3) claims nothing twice. The mark
     * of a job's next call (J19's PreauthorizationRequest after the inquiry) takes over only the
     * row its previous call marked ($6, pl_job.prev_attempt), records the new operation and
     * sent_at, and claims nothing; a row another attempt marked, or one answered or made unknown
     * meanwhile, is not taken over (the engine answers from the row).
     */
    {"svc_mark_sent", "WITH " PL_DB_E_ONE_8 ", " SVC_MARK_SENT, 8},
    /*
     * svc_mark_sent for many requests at once (db.h): the same statement over each execution's
     * parameters. Each claim is on its own authorization (the units declare it,
     * pl_svc_touch_key, so no two executions of one statement claim on the same row), which
     * tells by that authorization whether the execution claimed. A marked row is never another
     * execution's claim: a claim takes an approved authorization, a mark a row 'received' or
     * 'sent'.
     */
    {"svc_mark_sent:many", "WITH " PL_DB_E_MANY_8 ", " SVC_MARK_SENT, 8},
    /*
     * svc_insert and svc_mark_sent in one (engine.h, record_sent), for a request whose call
     * reads nothing recorded and whose mark claims nothing (svc_prepare_alone: every request but
     * a deposit naming its authorization, the only one with a ref_request_id, a look-up and a
     * claim): the row as svc_insert records it and svc_mark_sent marks it (claim_amount stays
     * NULL); a row already there is this attempt's own only when it says so (a unit re-sent after
     * a lost connection), otherwise nothing is written and nothing returned. No trigger of
     * svc_trans fires on an insert, and the re-sent case updates no status.
     */
    {"svc_insert_sent", "WITH " PL_DB_E_ONE_20 " " SVC_INSERT_SENT, 20},
    /* svc_insert_sent for many requests at once (db.h): the same statement over each request's
     * parameters; it touches only its own row. */
    {"svc_insert_sent:many", "WITH " PL_DB_E_MANY_20 " " SVC_INSERT_SENT, 20},
    /* After a hash key rotation: the card's row found under an earlier key ($3-$6) moved to its
     * current hash $2 (migration 040), in the unit that marks an activation or recharge sent,
     * so that its answer finds the card's row (PL_SVC_CARD_EFFECTS_SQL looks it up by the
     * current hash). */
    {"svc_card_rekey", "SELECT paylink_svc_card_rekey($1, $2, ARRAY[$3, $4, $5, $6]::char(64)[])",
     6},
    /*
     * The answer and what it does to the Stored Value Card table, in one statement, so a
     * redelivered answer (the row is no longer 'sent' or 'unknown') changes nothing at all; it
     * returns the row when it changed it. A generate's card ($15 hash, $16 mask) is written into
     * the row it had none in, and into the Stored Value Card table (SVC_STORE_GEN, with the
     * service's prefix $17 and series $18). What a deposit does to its authorization is the
     * svc_trans_settle_deposit trigger's (014), for whoever stores an outcome.
     */
    {"svc_store", "WITH " PL_DB_E_ONE_18 ", " SVC_STORE, 18},
    /*
     * svc_store for many answers at once (db.h): the same statement over each answer. What an
     * execution does besides its row — the authorization a deposit's answer settles (the
     * trigger), the card row a generate, an activation or a recharge writes — no other execution
     * of the statement touches (pl_svc_touch_key): an INSERT … ON CONFLICT or an UPDATE … FROM
     * changes a row once however many executions name it.
     */
    {"svc_store:many", "WITH " PL_DB_E_MANY_18 ", " SVC_STORE, 18},
};

static const char *const protocols[] = {"RLT", "EXT", NULL};

/* What prepare learned; the call's references point here. */
typedef struct svc_data {
    bool claims;              /* a deposit of a paylink authorization: claims its amount */
    char auth_id[51];         /* that authorization's request_id */
    char ref_id[65];          /* SVATransactionID sent (PostAuth; EXT: a return's deposit) */
    char ref_auth_number[31]; /* the authorization's AuthNumber (EXT deposit) */
    char follow_merchant[31]; /* the merchant ID of the row drawn on (pl_job_follow_merchant) */
    char claim_amount[24];
    bool j19;           /* a batch authorization that asks for the balance first (J19) */
    char j19_note[160]; /* why it was answered after the inquiry alone (error_text); "" if not */
} svc_data;

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

pl_bureau_op pl_svc_operation(const pl_request *r)
{
    switch (r->type) {
    case PL_REQ_SVC_GENERATE:
        return PL_OP_SVC_GENERATE;
    case PL_REQ_SVC_ACTIVATE:
        /* seed: a virtual card is activated with a Recharge request, a physical one with
         * Activate Instrument. */
        return r->svc.is_virtual ? PL_OP_SVC_RECHARGE : PL_OP_SVC_ACTIVATE;
    case PL_REQ_SVC_RECHARGE:
        return PL_OP_SVC_RECHARGE;
    case PL_REQ_SVC_AUTH:
        return PL_OP_SVC_PREAUTH;
    case PL_REQ_SVC_DEPOSIT:
        return PL_OP_SVC_POSTAUTH;
    case PL_REQ_SVC_RETURN:
        return PL_OP_SVC_RETURN;
    case PL_REQ_SVC_BALANCE:
        return PL_OP_SVC_INQUIRY;
    default:
        return (pl_bureau_op)0;
    }
}

/*
 * Declines `amount` (minor units) above what remains, `left`: in_flight_fmt when it would fit
 * but for the claims of requests in flight or with an unknown outcome (money that may be spent
 * already is not offered as if it were free), else over_fmt; each has two %s, the amount and
 * what remains. Returns true.
 */
static bool decline_amount(pl_reply *rep, int64_t amount, int64_t left, bool in_flight,
                           const char *in_flight_fmt, const char *over_fmt)
{
    char want[24], have[24];
    if (pl_money_format(amount, want, sizeof want) != 0 ||
        pl_money_format(left > 0 ? left : 0, have, sizeof have) != 0)
        want[0] = have[0] = '\0';
    rep->status = PL_ST_DECLINED;
    snprintf(rep->message, sizeof rep->message, in_flight ? in_flight_fmt : over_fmt, want, have);
    return true;
}

/* pl_money_format into out, "" when it cannot (never for the amounts of a row). */
static void money(int64_t amount, char *out, size_t outsize)
{
    if (pl_money_format(amount, out, outsize) != 0)
        out[0] = '\0';
}

/* Declines `amount` (minor units), above what remains of the authorization a (`left`) that
 * deposits, voids or claims already drew on, saying what each took. Returns true. */
static bool decline_drawn(pl_reply *rep, const pl_stored_value_auth *a, int64_t amount,
                          int64_t left)
{
    char want[24], have[24], of[24], deposited[24], voided[24], pending[24], claims[48] = "";
    money(amount, want, sizeof want);
    money(left, have, sizeof have);
    money(a->approved, of, sizeof of);
    money(a->deposited, deposited, sizeof deposited);
    money(a->voided, voided, sizeof voided);
    if (a->pending > 0) {
        money(a->pending, pending, sizeof pending);
        snprintf(claims, sizeof claims, ", %s in flight", pending);
    }
    /* The advice first: with amounts of a million and up the figures no longer fit the
     * reply's message (200 bytes; numeric(15,2) amounts, 16 characters each), and what is cut
     * is its end (tests/unit/test_svc_spec.c, refused_drawn). */
    int n = snprintf(rep->message, sizeof rep->message,
                     "Authorize again; do not confirm the deposit manually: it (%s) is greater "
                     "than what remains of the authorization (%s of %s: %s deposited, %s "
                     "voided%s).",
                     want, have, of, deposited, voided, claims);
    if (n < 0)
        rep->message[0] = '\0';
    rep->status = PL_ST_DECLINED;
    return true;
}

bool pl_svc_deposit_refused(const pl_stored_value_auth *a, const char *card_hash, int64_t amount,
                            pl_reply *rep)
{
    if (pl_stored_value_auth_refused(a, card_hash, rep))
        return true;
    /* A deposit sent voiding the remainder (voidRemainder) while another deposit was in flight
     * had the bureau release whatever neither took; the books void it once the other ends
     * (056). Nothing is left at the bureau to draw on. */
    if (a->void_deferred_by[0])
        return pl_stored_value_decline(
            rep,
            "The remainder of the authorization was released by deposit %s, sent voiding it "
            "(Void auth at deposit): nothing is left to draw on.",
            a->void_deferred_by);
    int64_t left = pl_stored_value_auth_remaining(a);
    if (amount <= left)
        return false;
    /* seed (PostAuthorization Request): "If the deposit amount is greater than any single
     * authorization amount ... Customer Engagement will reject the deposit transaction. You will
     * need to manually confirm the deposit ... and correct the settlement against the
     * authorization transactions in Customer Engagement." Not sent: the answer is known. Part
     * of the authorization held by a deposit or void in flight, or whose outcome is unknown,
     * may well be spent at the bureau already: confirming this one by hand could redeem the card
     * twice. Only what the bureau itself would refuse is the seed's case. */
    bool in_flight =
        amount <= pl_stored_value_auth_remaining(&(pl_stored_value_auth){
                      .approved = a->approved, .deposited = a->deposited, .voided = a->voided});
    /* The seed's case is a deposit greater than the authorization itself. One that earlier
     * deposits or voids (the `.unused` void, Void auth at deposit's remainder) or claims left
     * too little for is not: the bureau no longer holds that money for this authorization, and
     * confirmed by hand the deposit would be booked with money nobody holds (a resent deposit:
     * the card redeemed twice once its settlement is corrected). It needs a new authorization. */
    if (!in_flight && (a->deposited > 0 || a->voided > 0 || a->pending > 0))
        return decline_drawn(rep, a, amount, left);
    return decline_amount(rep, amount, left, in_flight,
                          "The deposit (%s) exceeds what remains (%s): a deposit or void of the "
                          "authorization is in progress or its outcome is unknown; do not "
                          "confirm it manually.",
                          "The deposit (%s) is greater than what remains of the authorization "
                          "(%s); the payment service would reject it. Confirm the deposit "
                          "manually.");
}

bool pl_svc_return_refused(const pl_stored_value_auth *dep, const char *card_hash, int64_t amount,
                           pl_reply *rep)
{
    if (!dep->found)
        return pl_stored_value_decline(
            rep, "%s", "The deposit the return refunds (capture_ref) is not known to paylink.");
    if (strcmp(dep->request_type, "deposit") != 0)
        return pl_stored_value_decline(
            rep, "The return's capture_ref names a stored value %s, not a deposit.",
            dep->request_type);
    if (strcmp(dep->status, "approved") != 0 || !dep->has_approved)
        return pl_stored_value_decline(
            rep, "The deposit was not approved (%s): there is nothing to return.", dep->status);
    if (card_hash && card_hash[0] && strcmp(card_hash, dep->card_hash) != 0)
        return pl_stored_value_decline(
            rep, "%s", "The deposit the return refunds is of another stored value card.");
    int64_t settled = dep->approved - dep->returned;
    if (amount <= settled - dep->pending)
        return false;
    return decline_amount(rep, amount, settled - dep->pending, amount <= settled,
                          "The return (%s) exceeds what remains of the deposit (%s): another "
                          "return of it is in progress or its outcome is unknown.",
                          "The return (%s) is greater than what the deposit took less earlier "
                          "returns (%s).");
}

/* The columns svc_insert and svc_insert_sent record, as text parameters (the numbers' text in
 * the struct). */
typedef struct svc_row {
    char company[16], pay_seq[16], line[16], issue[24];
    const char *p[16];
} svc_row;

static void svc_row_params(const pl_job *job, svc_row *a)
{
    const pl_request *r = &job->req;
    snprintf(a->company, sizeof a->company, "%d", r->company);
    snprintf(a->pay_seq, sizeof a->pay_seq, "%d", r->pay_seq);
    snprintf(a->line, sizeof a->line, "%d", r->svc.order_line);
    if (!r->svc.has_issue_amount ||
        pl_money_format(r->svc.issue_amount, a->issue, sizeof a->issue) != 0)
        a->issue[0] = '\0';
    const char *p[] = {r->request_id,
                       job->fingerprint,
                       pl_req_type_name(r->type),
                       a->company,
                       r->order,
                       a->pay_seq,
                       r->service,
                       r->pay_type,
                       r->online ? "online" : "batch",
                       nz(job->amount),
                       nz(r->currency),
                       job->card_masked,
                       nz(job->card_hash),
                       r->svc.order_line > 0 ? a->line : NULL,
                       nz(a->issue),
                       r->svc.is_virtual ? "true" : "false"};
    memcpy(a->p, p, sizeof p);
}

/* A deposit names the authorization it draws on: by request id, or by SVATransactionID alone
 * (which may be one of paylink's authorizations or one it does not hold). */
static bool svc_names_auth(const pl_request *r)
{
    return r->type == PL_REQ_SVC_DEPOSIT &&
           (r->auth_ref.request_id[0] || r->auth_ref.transaction_id[0]);
}

/* A return names the deposit it refunds by request id (capture_ref); without it it is a
 * stand-alone credit of the card. */
static bool svc_names_deposit(const pl_request *r)
{
    return r->type == PL_REQ_SVC_RETURN && r->capture_ref.request_id[0];
}

static int svc_card_rekey(pl_job *job, pl_db_unit *u);

/* The record unit's look-up row: svc_record's (result 0, its columns after request_id) the
 * first time, svc_auth's (result 1) when the row is read back; an activation's card rekey may
 * follow either (svc_record). NULL without a unit. */
static const PGresult *svc_lookup(const pl_job *job, const pl_db_unit *recorded, int *col)
{
    *col = job->read_back ? 0 : 1;
    return recorded ? pl_db_unit_result(recorded, job->read_back ? 1 : 0) : NULL;
}

static int svc_record(pl_job *job, pl_db_unit *u)
{
    const pl_request *r = &job->req;
    svc_row a;
    svc_row_params(job, &a);
    bool names = svc_names_auth(r);
    const char *by_id = names                  ? nz(r->auth_ref.request_id)
                        : svc_names_deposit(r) ? r->capture_ref.request_id
                                               : NULL;
    const char *by_tx = names && !by_id ? nz(r->auth_ref.transaction_id) : NULL;
    const char *p[18];
    memcpy(p, a.p, sizeof a.p);
    p[16] = by_id;
    p[17] = by_tx;
    int rc;
    if (!job->read_back) {
        rc = pl_db_unit_add(u, "svc_record", 18, p);
    } else {
        rc = pl_db_unit_add(u, "svc_insert", 18, p);
        /* Always added, so the look-up is result 1 whatever the request is. */
        const char *q[] = {by_id, by_tx ? r->request_id : NULL,
                           r->type == PL_REQ_SVC_ACTIVATE ? r->request_id : NULL};
        if (rc == 0)
            rc = pl_db_unit_add(u, "svc_auth", 3, q);
    }
    /* An activation's card row found under an earlier hash key is moved to the current one
     * now: its mark claims the row by the current hash, and a card active under the old key
     * would otherwise not be seen (the activation goes round once more when this unit's look-up
     * missed it, and is refused then). */
    if (rc == 0 && r->type == PL_REQ_SVC_ACTIVATE)
        rc = svc_card_rekey(job, u);
    return rc;
}

/* Only a deposit naming an authorization, a return naming a deposit and an activation read
 * something recorded (the row drawn on, svc_auth: an authorization by SVATransactionID too,
 * which may be paylink's; an activation's card) and claim (svc_mark_sent); every other
 * request's call is decided from the request and the configuration alone, and its mark claims
 * nothing. */
static bool svc_prepare_alone(const pl_job *job)
{
    return !svc_names_auth(&job->req) && !svc_names_deposit(&job->req) &&
           job->req.type != PL_REQ_SVC_ACTIVATE;
}

/* The record unit refused the request (svc_insert): the authorization its deposit names, or the
 * deposit its return names, belongs to another company or order, or is in another currency (an
 * authorization named by its SVATransactionID is of the deposit's order: its currency). */
static void svc_judge(pl_job *job, const pl_db_unit *recorded, pl_errors *errs)
{
    (void)recorded;
    if (svc_names_deposit(&job->req))
        pl_errors_add(errs, "capture_ref.request_id",
                      "names a stored value deposit of another company or order, or in another "
                      "currency");
    else
        pl_job_judge_auth_ref(&job->req, errs);
}

/* Decides a deposit's reference: returns 1 when it is refused (reply filled), else 0. */
static int prepare_deposit(pl_job *job, const pl_db_unit *recorded, svc_data *d)
{
    const pl_request *r = &job->req;
    if (!r->auth_ref.request_id[0] && !r->auth_ref.transaction_id[0]) {
        job->reply->status = PL_ST_DECLINED;
        copy(job->reply->message, sizeof job->reply->message,
             "A stored value deposit names its authorization (auth_ref).");
        return 1;
    }
    pl_stored_value_auth a;
    int col;
    const PGresult *k = svc_lookup(job, recorded, &col);
    pl_stored_value_auth_read(k, col, &a);
    if (!a.found && !r->auth_ref.request_id[0]) {
        /* An SVATransactionID no authorization of the order has: one paylink does not hold;
         * the bureau knows what remains of it. Its code is what the request says. */
        copy(d->ref_id, sizeof d->ref_id, r->auth_ref.transaction_id);
        copy(d->ref_auth_number, sizeof d->ref_auth_number, r->auth_ref.number);
        return 0;
    }
    /* A paylink authorization, by request id or found by its SVATransactionID: the same checks
     * and the same claim whichever way it was named. */
    if (pl_svc_deposit_refused(&a, pl_job_card_hash_for(job, a.card_hash), r->amount, job->reply))
        return 1;
    d->claims = true;
    copy(d->auth_id, sizeof d->auth_id, a.request_id);
    copy(d->ref_id, sizeof d->ref_id, a.transaction_id);
    copy(d->ref_auth_number, sizeof d->ref_auth_number, a.auth_number);
    copy(d->follow_merchant, sizeof d->follow_merchant, a.merchant_id);
    if (pl_money_format(r->amount, d->claim_amount, sizeof d->claim_amount) != 0)
        return PL_ERR_INVALID;
    return 0;
}

/* Decides a return's reference, the deposit it refunds: returns 1 when it is refused (reply
 * filled), else 0 (claims its amount on the deposit). */
static int prepare_return(pl_job *job, const pl_db_unit *recorded, svc_data *d)
{
    const pl_request *r = &job->req;
    pl_stored_value_auth dep;
    int col;
    const PGresult *k = svc_lookup(job, recorded, &col);
    pl_stored_value_auth_read(k, col, &dep);
    if (pl_svc_return_refused(&dep, pl_job_card_hash_for(job, dep.card_hash), r->amount,
                              job->reply))
        return 1;
    d->claims = true;
    copy(d->auth_id, sizeof d->auth_id, dep.request_id);
    /* The deposit refunded, by its transaction id (the External Payment Service's return names
     * it; Customer Engagement's ReturnRequest sends none), under its merchant ID. */
    copy(d->ref_id, sizeof d->ref_id, dep.transaction_id);
    copy(d->follow_merchant, sizeof d->follow_merchant, dep.merchant_id);
    if (pl_money_format(r->amount, d->claim_amount, sizeof d->claim_amount) != 0)
        return PL_ERR_INVALID;
    return 0;
}

void pl_svc_card_state_read(const PGresult *r, int col, pl_svc_card_state *c)
{
    memset(c, 0, sizeof *c);
    if (!r || PQntuples(r) != 1 || PQnfields(r) < col + SVC_CARD_NCOLUMNS || PQgetisnull(r, 0, col))
        return;
    c->found = true;
    copy(c->status, sizeof c->status, PQgetvalue(r, 0, col));
    copy(c->activated_by, sizeof c->activated_by, PQgetvalue(r, 0, col + 1));
    copy(c->pending, sizeof c->pending, PQgetvalue(r, 0, col + 2));
    c->has_issue = pl_money_parse_decimal(PQgetvalue(r, 0, col + 3), &c->issue) == 0;
    copy(c->currency, sizeof c->currency, PQgetvalue(r, 0, col + 4));
}

bool pl_svc_activation_refused(const pl_svc_card_state *c, const char *request_id, pl_reply *rep)
{
    /* The reply names no other request: the card's row is the service bureau's, whichever
     * company's request activated it (the log names it, svc_prepare). */
    if (!c->found)
        return false;
    if (strcmp(c->status, "active") == 0)
        return pl_stored_value_decline(rep, "%s",
                                       "The card is already active; a recharge adds value to it.");
    if (c->pending[0] && strcmp(c->pending, request_id) != 0)
        return pl_stored_value_decline(rep, "%s",
                                       "Another activation of the card is in progress or its "
                                       "outcome is unknown; the card is not activated twice.");
    return false;
}

bool pl_svc_activation_amount_refused(const pl_svc_card_state *c, int64_t amount,
                                      const char *currency, pl_reply *rep)
{
    /* seed (Recharge and Activate Instrument Requests): the amount is "From the Issue amount
     * field in the Stored Value Card Table". A generated card activated for another amount would
     * be loaded with what nobody paid for, or less than was sold. */
    if (!c->found)
        return false;
    if (c->has_issue && amount != c->issue)
        return decline_amount(rep, amount, c->issue, false, "",
                              "The activation amount (%s) is not the card's issue amount (%s): "
                              "a card is activated for what it was issued for.");
    if (c->currency[0] && currency && currency[0] && strcmp(currency, c->currency) != 0)
        return pl_stored_value_decline(rep, "The activation's currency is not the card's (%s).",
                                       c->currency);
    return false;
}

static int svc_prepare(pl_job *job, const pl_db_unit *recorded)
{
    pl_request *r = &job->req;
    pl_bureau_call *c = &job->call;
    memset(c, 0, sizeof *c);
    c->req = r;
    c->op = pl_svc_operation(r);
    if (!c->op)
        return PL_ERR_INVALID;
    /* Activation through the External Payment Service is its activateGift, virtual card or
     * not (the Recharge rule is Customer Engagement's). */
    if (r->type == PL_REQ_SVC_ACTIVATE && strcmp(job->svc->protocol, "EXT") == 0)
        c->op = PL_OP_SVC_ACTIVATE;
    svc_data *d = calloc(1, sizeof *d);
    if (!d)
        return PL_ERR_NOMEM;
    job->spec_data = d;
    if (r->type == PL_REQ_SVC_DEPOSIT) {
        int rc = prepare_deposit(job, recorded, d);
        if (rc != 0) {
            if (rc == 1)
                PL_INFO(r->request_id, "stored value deposit refused: %s", job->reply->message);
            return rc;
        }
        c->ref_request_id = d->ref_id;
        c->ref_auth_code = nz(d->ref_auth_number);
        /* seed (External Payment Service): Void auth at deposit, not J21, decides whether the
         * rest of a stored value authorization is released at deposit. */
        if (strcmp(job->svc->protocol, "EXT") == 0)
            c->void_remainder = job->svc->void_auth_at_deposit;
    }
    if (r->type == PL_REQ_SVC_ACTIVATE) {
        int col;
        const PGresult *k = svc_lookup(job, recorded, &col);
        pl_svc_card_state card;
        pl_svc_card_state_read(k, col + PL_STORED_VALUE_AUTH_NCOLUMNS, &card);
        if (pl_svc_activation_refused(&card, r->request_id, job->reply)) {
            PL_INFO(r->request_id,
                    "stored value activation refused: %s (activated by %s, held by %s)",
                    job->reply->message, card.activated_by[0] ? card.activated_by : "-",
                    card.pending[0] ? card.pending : "-");
            return 1;
        }
        if (pl_svc_activation_amount_refused(&card, r->amount, r->currency, job->reply)) {
            PL_INFO(r->request_id, "stored value activation refused: %s (the card's currency %s)",
                    job->reply->message, card.currency[0] ? card.currency : "-");
            return 1;
        }
    }
    if (svc_names_deposit(r)) {
        int rc = prepare_return(job, recorded, d);
        if (rc != 0) {
            if (rc == 1)
                PL_INFO(r->request_id, "stored value return refused: %s", job->reply->message);
            return rc;
        }
        c->ref_request_id = nz(d->ref_id);
    }
    /* seed J19: "Customer Engagement will approve an authorization for an amount that is less
     * than the required authorization amount on the order": a batch authorization asks for the
     * balance first and authorizes no more than it (svc_next_call). An online one does not. */
    if (r->type == PL_REQ_SVC_AUTH && !r->online && job->svc && job->svc->balance_inquiry_batch) {
        d->j19 = true;
        c->op = PL_OP_SVC_INQUIRY;
    }
    pl_job_resolve_call(job, r->pay_type);
    /* A deposit or a return goes under the merchant ID of what it draws on (its authorization,
     * its deposit): the bureau finds a transaction within its merchant only (053). */
    pl_job_follow_merchant(job, d->follow_merchant);
    c->svc_card_number = nz(r->svc.card_number);
    c->order = r->order;
    c->now = time(NULL);
    /* seed: an activation is for the card's Issue amount; the request's amount says it. */
    if (r->has_amount)
        c->amount = r->amount;
    else if (r->type == PL_REQ_SVC_ACTIVATE && r->svc.has_issue_amount)
        c->amount = r->svc.issue_amount;
    return 0;
}

/* svc_card_rekey for an activation or recharge while earlier hash keys are configured (the
 * number is in memory only now: its hash under the current key cannot be made later); after
 * the mark, whose result the engine reads (result 0). */
static int svc_card_rekey(pl_job *job, pl_db_unit *u)
{
    _Static_assert(PL_CONFIG_MAX_PREV_KEYS == 4, "svc_card_rekey takes four earlier hashes");
    pl_req_type t = job->req.type;
    if ((t != PL_REQ_SVC_ACTIVATE && t != PL_REQ_SVC_RECHARGE) || !job->card_hash[0] ||
        job->n_card_hash_prev == 0 || !job->svc)
        return 0;
    const char *p[6] = {job->svc->code, job->card_hash, NULL, NULL, NULL, NULL};
    for (int k = 0; k < job->n_card_hash_prev && k < PL_CONFIG_MAX_PREV_KEYS; k++)
        p[2 + k] = job->card_hash_prev[k];
    return pl_db_unit_add(u, "svc_card_rekey", 6, p);
}

static int svc_mark_sent(pl_job *job, pl_db_unit *u)
{
    const svc_data *d = job->spec_data;
    bool claims = d && d->claims;
    const char *p[] = {job->req.request_id,
                       job->op_name,
                       job->attempt,
                       claims ? d->claim_amount : NULL,
                       claims ? d->auth_id : NULL,
                       nz(job->prev_attempt),
                       job->call.void_remainder ? "true" : "false",
                       job->merchant_id};
    int rc = pl_db_unit_add(u, "svc_mark_sent", 8, p);
    return rc != 0 ? rc : svc_card_rekey(job, u);
}

static int svc_record_sent(pl_job *job, pl_db_unit *u)
{
    svc_row a;
    svc_row_params(job, &a);
    const char *p[20];
    memcpy(p, a.p, sizeof a.p);
    p[16] = job->op_name;
    p[17] = job->attempt;
    p[18] = job->call.void_remainder ? "true" : "false";
    p[19] = job->merchant_id;
    int rc = pl_db_unit_add(u, "svc_insert_sent", 20, p);
    return rc != 0 ? rc : svc_card_rekey(job, u);
}

int pl_svc_take_card(pl_job *job, const void *key, size_t keylen)
{
    char *number = job->res->svc_card_number;
    char hash[65], masked[24];
    int rc = pl_card_all_digits(number) && strlen(number) <= 20 ? 0 : PL_ERR_INVALID;
    if (rc == 0)
        rc = pl_stored_value_card(key, keylen, number, hash, sizeof hash, masked, sizeof masked);
    if (rc == 0 && strlen(masked) >= sizeof job->reply->svc.card_number)
        rc = PL_ERR_TOOBIG;
    if (rc == 0) {
        copy(job->card_hash, sizeof job->card_hash, hash);
        copy(job->card_masked, sizeof job->card_masked, masked);
        copy(job->reply->svc.card_number, sizeof job->reply->svc.card_number, masked);
        copy(job->reply_card_number_once, sizeof job->reply_card_number_once, number);
    }
    pl_card_wipe(job->res->svc_card_number, sizeof job->res->svc_card_number);
    return rc;
}

static void svc_map(pl_job *job)
{
    pl_stored_value_map_answer(job->services, job->svc, job->res, job->call.op, job->call.amount,
                               job->reply);
    /* An `auth` answered by its J19 balance inquiry (refused, failed, or the card inactive or
     * empty): the inquiry's SVATransactionID, authorization number and date name no
     * authorization, and published as the authorization's, an order system would deposit or
     * void by that id (auth_ref.transaction_id) something that holds nothing; svc_store stores
     * what the reply says. The refusal's reason and vendor response stay. The
     * PreauthorizationRequest sent after an approved inquiry is mapped anew. */
    if (job->req.type == PL_REQ_SVC_AUTH && job->call.op == PL_OP_SVC_INQUIRY)
        memset(&job->reply->auth, 0, sizeof job->reply->auth);
    /* J19 sends no more than the balance: an authorization is partial against the amount the
     * request asked for, not the one sent. */
    const pl_reply *rep = job->reply;
    if (job->call.op == PL_OP_SVC_PREAUTH && rep->status == PL_ST_APPROVED &&
        rep->has_amount_approved && job->req.has_amount && rep->amount_approved < job->req.amount)
        copy(job->reply->message, sizeof job->reply->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    if (job->call.op != PL_OP_SVC_GENERATE || job->reply->status != PL_ST_APPROVED)
        return;
    size_t keylen = 0;
    const unsigned char *key = pl_engine_hash_key(job->eng, &keylen);
    if (pl_svc_take_card(job, key, keylen) != 0) {
        /* Never happens with a well-formed answer (the adapter refuses an OK without a number);
         * a number paylink cannot record is not handed out either. */
        PL_ERROR(job->req.request_id, "the generated card number could not be recorded");
        job->reply->status = PL_ST_ERROR;
        copy(job->reply->message, sizeof job->reply->message,
             "The payment service generated a card number paylink could not record.");
        return;
    }
    PL_INFO(job->req.request_id, "stored value card %s generated", job->card_masked);
}

pl_svc_j19 pl_svc_j19_decide(const pl_bureau_result *res, pl_status inquiry, int64_t requested,
                             int64_t *amount)
{
    *amount = 0;
    if (inquiry != PL_ST_APPROVED)
        return PL_SVC_J19_ANSWERED;
    /* seed (Inquiry Response): Status / AccountStatus "Inactive" → "The card is inactive". A
     * Preauthorization of such a card is declined whatever its balance. */
    if (strcasecmp(res->svc_status, "Inactive") == 0 ||
        strcasecmp(res->account_status, "Inactive") == 0)
        return PL_SVC_J19_INACTIVE;
    if (!res->has_balance) {
        *amount = requested;
        return PL_SVC_J19_PREAUTH;
    }
    if (res->balance <= 0)
        return PL_SVC_J19_NO_BALANCE;
    *amount = res->balance < requested ? res->balance : requested;
    return PL_SVC_J19_PREAUTH;
}

/* A J19 authorization refused after its inquiry (the reply already made so by
 * pl_stored_value_refuse): the note svc_store records, and the log line. */
static void j19_declined(pl_job *job, const char *why)
{
    svc_data *d = job->spec_data;
    snprintf(d->j19_note, sizeof d->j19_note,
             "J19 balance inquiry: %s; no PreauthorizationRequest sent", why);
    PL_INFO(job->req.request_id, "%s: declined", d->j19_note);
}

/*
 * J19, after the balance inquiry of a batch authorization (pl_svc_j19_decide): the
 * PreauthorizationRequest for what the card holds, at most the amount asked (1: the engine
 * marks the row sent again and sends it), or the answer without one (0).
 *
 * Why this is safe: the inquiry moves no money, so answering after it alone hides nothing, and
 * the PreauthorizationRequest is sent only after its own mark (operation svc_preauth, a fresh
 * sent_by) is durable. A worker that dies between the two leaves the row 'sent' with operation
 * svc_inquiry; a redelivery treats it as any row left 'sent' (required response after the
 * owner's wait), never re-sending from it. Re-running the request from the start would be
 * harmless for the bureau, but an owner presumed gone may only be slow (a frozen database,
 * a paused process) and still write its own outcome: the store's guard (status 'sent') would
 * then close a row whose new owner has a PreauthorizationRequest in flight, leaving a hold no
 * row knows of. The required response, whose svc_trans row says svc_inquiry, tells an
 * operator that nothing was held (README "Stored value rules"). The one way the request is run
 * again from the start is its owner giving it back: while the worker stops or gives up the
 * request's partition, the engine sends no PreauthorizationRequest and puts the row it marked
 * back to 'received' (engine.c give_back, PL_ENGINE_SQL_UNMARK: only while the row is still
 * that attempt's 'sent', so no other owner can be writing it), its offset left uncommitted;
 * the redelivery then runs the inquiry again, as for a request never sent.
 */
static int svc_next_call(pl_job *job)
{
    svc_data *d = job->spec_data;
    if (!d || !d->j19 || job->call.op != PL_OP_SVC_INQUIRY)
        return 0;
    int64_t amount = 0;
    pl_svc_j19 what = pl_svc_j19_decide(job->res, job->reply->status, job->req.amount, &amount);
    char balance[24] = "none", send[24] = "";
    if (job->res->has_balance && pl_money_format(job->res->balance, balance, sizeof balance) != 0)
        copy(balance, sizeof balance, "?");
    switch (what) {
    case PL_SVC_J19_PREAUTH:
        if (pl_money_format(amount, send, sizeof send) != 0)
            return PL_ERR_INVALID;
        PL_INFO(job->req.request_id, "J19 balance inquiry: balance %s; authorizing %s", balance,
                send);
        job->call.op = PL_OP_SVC_PREAUTH;
        job->call.amount = amount;
        job->call.now = time(NULL);
        return 1;
    case PL_SVC_J19_INACTIVE:
        /* `declined` as the bureau's decline of the PreauthorizationRequest would be. */
        pl_stored_value_refuse(
            pl_stored_value_refusal_row(job->services, job->svc, PL_SVC_J19_INACTIVE_CODE),
            PL_SVC_J19_INACTIVE_CODE, PL_STORED_VALUE_INACTIVE_MESSAGE, job->reply);
        j19_declined(job, "the card is inactive");
        return 0;
    case PL_SVC_J19_NO_BALANCE: {
        char why[64];
        snprintf(why, sizeof why, "balance %s", balance);
        /* The rule of an online authorization approved for 0.00 too (stored_value.h). */
        pl_stored_value_no_balance(job->services, job->svc, job->reply);
        j19_declined(job, why);
        return 0;
    }
    case PL_SVC_J19_ANSWERED:
        PL_INFO(job->req.request_id,
                "J19 balance inquiry answered %s: no PreauthorizationRequest sent",
                pl_status_name(job->reply->status));
        return 0;
    }
    return 0;
}

static int svc_store(pl_job *job, pl_db_unit *u)
{
    const svc_data *d = job->spec_data;
    const pl_bureau_result *res = job->res;
    const pl_reply *rep = job->reply;
    char approved[24] = "", balance[24] = "";
    if (rep->has_amount_approved &&
        pl_money_format(rep->amount_approved, approved, sizeof approved) != 0)
        approved[0] = '\0';
    if (rep->svc.has_balance && pl_money_format(rep->svc.balance, balance, sizeof balance) != 0)
        balance[0] = '\0';
    char error_text[600] = "";
    if (d && d->j19_note[0])
        copy(error_text, sizeof error_text, d->j19_note);
    else if (res->fault_code[0])
        snprintf(error_text, sizeof error_text, "%s: %s", res->fault_code, res->fault_string);
    else if (res->error_code[0] || res->error_text[0])
        snprintf(error_text, sizeof error_text, "%s: %s", res->error_code, res->error_text);
    bool generated = job->call.op == PL_OP_SVC_GENERATE && job->card_hash[0];
    /* An `auth` answered after its J19 balance inquiry alone: res is the inquiry's answer,
     * whose SVATransactionID (the External Payment Service gives one to a refused inquiry too)
     * names no authorization. On the `auth` row it would be taken for the authorization's: a
     * deposit or void naming it by auth_ref.transaction_id would find the row by it (030). The
     * reason code of an inquiry J19 declined after (j19_decline) is its approval's, not why. */
    bool inquiry = job->req.type == PL_REQ_SVC_AUTH && job->call.op == PL_OP_SVC_INQUIRY;
    char error_code[41], reason_code[17];
    copy(error_code, sizeof error_code, res->error_code);
    copy(reason_code, sizeof reason_code, d && d->j19_note[0] ? "" : res->reason_code);
    const char *p[] = {job->req.request_id,
                       pl_status_name(rep->status),
                       rep->vendor_response,
                       error_code,
                       reason_code,
                       nz(approved),
                       inquiry ? "" : res->request_id,
                       rep->auth.number,
                       rep->auth.date,
                       res->account_id,
                       nz(balance),
                       rep->hold_reason,
                       error_text,
                       job->reply_json,
                       generated ? job->card_hash : NULL,
                       generated ? job->card_masked : NULL,
                       job->svc->card_prefix,
                       job->svc->card_series};
    return pl_db_unit_add(u, "svc_store", 18, p);
}

void pl_svc_touch_key(const char *auth_request_id, const char *bureau, const char *card_hash,
                      char *out, size_t outsize)
{
    if (outsize == 0)
        return;
    if (auth_request_id && *auth_request_id)
        snprintf(out, outsize, "%s", auth_request_id);
    else if (bureau && *bureau && card_hash && *card_hash)
        snprintf(out, outsize, "stored_value_card:%s:%s", bureau, card_hash);
    else
        out[0] = '\0';
}

/* spec->touch_key: the authorization a deposit claims on, or the card row a generate's,
 * activation's or recharge's answer writes (pl_svc_touch_key; a generate's card is known once
 * its answer is taken, pl_svc_take_card), which the engine declares on each of the job's units. */
static void svc_touch_key(const pl_job *job, char *out, size_t outsize)
{
    const svc_data *d = job->spec_data;
    pl_req_type t = job->req.type;
    bool card = t == PL_REQ_SVC_GENERATE || t == PL_REQ_SVC_ACTIVATE || t == PL_REQ_SVC_RECHARGE;
    pl_svc_touch_key(d && d->claims ? d->auth_id : NULL, card && job->svc ? job->svc->code : NULL,
                     card ? job->card_hash : NULL, out, outsize);
}

/* seed: when Customer Engagement cannot be reached the answer is "SU RELATE SERVICE IS
 * UNAVAILABLE", and a balance inquiry shows .00. */
static void svc_unreachable(pl_job *job)
{
    copy(job->reply->message, sizeof job->reply->message,
         "The stored value service is unavailable (SU: RELATE SERVICE IS UNAVAILABLE).");
    if (job->req.type == PL_REQ_SVC_BALANCE) {
        job->reply->svc.has_balance = true;
        job->reply->svc.balance = 0;
    }
}

const pl_spec pl_svc_spec = {
    .worker = "svc",
    .table = "svc_trans",
    .protocols = protocols,
    .stmts = stmts,
    .nstmts = sizeof stmts / sizeof stmts[0],
    .record = svc_record,
    .judge = svc_judge,
    .prepare = svc_prepare,
    .mark_sent = svc_mark_sent,
    .prepare_alone = svc_prepare_alone,
    .record_sent = svc_record_sent,
    .map = svc_map,
    .next_call = svc_next_call,
    .touch_key = svc_touch_key,
    .store = svc_store,
    .unreachable = svc_unreachable,
};
