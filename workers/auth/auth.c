/* auth.c: what paylink-auth adds to the engine (see auth.h). */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bureau_cybersource.h"
#include "ext_rules.h"
#include "jsonutil.h"
#include "log.h"
#include "money.h"

/* auth_insert_sent over e (db.h: one row, or one per request merged). */
#define AUTH_INSERT_SENT                                                                           \
    "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "    \
    "pay_seq, service_bureau, pay_type, auth_mode, amount, currency, card_masked, card_hash, "     \
    "card_token, card_type, exp_month, exp_year, status, sent_at, operation, merchant_id, "        \
    "sent_by, initiator, sub_auth_reason, sub_auth_transaction_id) "                               \
    "SELECT p1, p2, p3, p4::int, p5, p6::int, p7, p8, p9, p10::numeric, p11, p12, p13, p14, p15, " \
    "p16::smallint, p17::smallint, 'sent', now(), p18, p19, p20, p21, p22, p23 FROM e "            \
    "ON CONFLICT (request_id) DO UPDATE SET sent_by = excluded.sent_by, sent_at = now() "          \
    "WHERE cc_auth_trans.status = 'sent' AND cc_auth_trans.sent_by = excluded.sent_by "            \
    "RETURNING request_id"
/* auth_store over e: the answer, and the columns the answered row gives its history row (upd
 * returns only what hist reads: RETURNING * built the whole row a second time, ~29,000
 * instructions of the backend per authorization, 2.7 %), and the history row. The answer's
 * follow-ups are recorded as none ('[]') in the same update (engine.h, followups): the engine's
 * pl_followups, in the same unit, replaces that with a reversal when one was decided, so the row
 * always says what was decided, and a redelivery replays it (a NULL was taken for "never
 * decided", and decided again from the reply alone). Not a statement of its own for the common
 * answer: that would write every authorization's row once more, and keep its unit from being
 * merged with others (auth_store:many). */
#define AUTH_STORE                                                                                 \
    "upd AS (UPDATE cc_auth_trans t SET status = e.p2, decision = e.p3, "                          \
    "vendor_response = e.p4, amount_approved = e.p5::numeric, auth_number = e.p6, "                \
    "auth_date = e.p7, transaction_id = e.p8, request_token = e.p9, avs_response = e.p10, "        \
    "cvv_response = e.p11, token_created = e.p12, hold_reason = e.p13, "                           \
    "payment_deactivated = e.p14::boolean, error_text = left(e.p15, 300), "                        \
    "reply = e.p16::jsonb, answered_at = now(), followups = coalesce(t.followups, '[]'::jsonb) "   \
    "FROM e "                                                                                      \
    "WHERE t.request_id = e.p1 AND t.status IN ('sent', 'unknown') "                               \
    "RETURNING t.request_id, t.company, t.order_number, t.pay_seq, t.service_bureau, "             \
    "t.operation, t.status, t.amount_approved, t.currency, t.auth_number, t.auth_date, "           \
    "t.transaction_id, t.request_token, t.vendor_response, t.avs_response, t.cvv_response), "      \
    "hist AS (INSERT INTO auth_history (request_id, company, order_number, pay_seq, "              \
    "service_bureau, transaction_type, status, amount_authorized, currency, auth_number, "         \
    "auth_date, transaction_id, request_token, vendor_response, avs_response, cvv_response) "      \
    "SELECT request_id, company, order_number, pay_seq, service_bureau, operation, status, "       \
    "amount_approved, currency, auth_number, auth_date, transaction_id, request_token, "           \
    "vendor_response, avs_response, cvv_response FROM upd) "                                       \
    "SELECT request_id FROM upd"

static const pl_db_stmt stmts[] = {
    {"auth_insert",
     "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
     "pay_seq, service_bureau, pay_type, auth_mode, amount, currency, card_masked, card_hash, "
     "card_token, card_type, exp_month, exp_year) "
     "VALUES ($1, $2, $3, $4::int, $5, $6::int, $7, $8, $9, $10::numeric, $11, $12, $13, $14, "
     "$15, $16::smallint, $17::smallint) "
     "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
     17},
    /* auth_insert and auth_mark_sent in one (engine.h, record_sent): the row as recorded and
     * marked; a row already there is this attempt's own only when it says so. */
    {"auth_insert_sent", "WITH " PL_DB_E_ONE_23 " " AUTH_INSERT_SENT, 23},
    /* auth_insert_sent for many requests at once (db.h): the same statement over each
     * request's parameters, one statement per batch instead of one per request. */
    {"auth_insert_sent:many", "WITH " PL_DB_E_MANY_23 " " AUTH_INSERT_SENT, 23},
    /* Result 1 of an EXT authorization's record unit: the cardholder-initiated transaction it
     * follows — the one named by transaction id ($4, membership orders), else the one of the
     * same order payment method (split shipments, installments) — and the card it is of: its
     * authorization's (card_cit.request_id) card_hash and token, which ext_subsequent compares
     * with the request's card (a CIT of another card is not named). Read through the
     * authorization, never copied: every CIT has one, whoever wrote it (this spec's store, the
     * resolver's, an older release's). */
    {"auth_cit",
     "SELECT k.transaction_id, k.amount::text, coalesce(t.card_hash, ''), "
     "coalesce(nullif(t.card_token, ''), t.token_created, '') "
     "FROM card_cit k LEFT JOIN cc_auth_trans t ON t.request_id = k.request_id "
     "WHERE k.company = $1::int AND "
     "CASE WHEN $4::text IS NULL THEN k.order_number = $2 AND k.pay_seq = $3::int "
     "ELSE k.transaction_id = $4 END ORDER BY k.created_at DESC LIMIT 1",
     4},
    /* The token the authorization goes with ($8: the engine's getToken made it of the card
     * number, EXT) is recorded before it leaves, as card_token: an outcome left unknown stores
     * no answer, and a capture or reversal of the authorization, which EXT takes by token only,
     * would have none (the order system sends no card number again). */
    {"auth_mark_sent",
     "UPDATE cc_auth_trans SET status = 'sent', sent_at = now(), operation = $2, merchant_id = $3, "
     "sent_by = $4, initiator = $5, sub_auth_reason = $6, sub_auth_transaction_id = $7, "
     "card_token = CASE WHEN card_token = '' THEN coalesce($8, '') ELSE card_token END "
     "WHERE request_id = $1 AND (status = 'received' OR (status = 'sent' AND "
     "sent_by = $4)) RETURNING request_id",
     8},
    /* After the store of an approved cardholder-initiated EXT authorization: it becomes the CIT
     * of its order payment method (whoever stored the row's answer). */
    {"auth_cit_store",
     "INSERT INTO card_cit (company, order_number, pay_seq, service_bureau, transaction_id, "
     "amount, currency, request_id) "
     "SELECT company, order_number, pay_seq, service_bureau, transaction_id, amount_approved, "
     "currency, request_id FROM cc_auth_trans WHERE request_id = $1 AND status = 'approved' "
     "AND initiator = 'CARDHOLDER' AND transaction_id <> '' AND amount_approved IS NOT NULL "
     "AND currency IS NOT NULL "
     "ON CONFLICT (company, order_number, pay_seq) DO UPDATE SET "
     "service_bureau = excluded.service_bureau, transaction_id = excluded.transaction_id, "
     "amount = excluded.amount, currency = excluded.currency, request_id = excluded.request_id, "
     "created_at = now()",
     1},
    {"auth_store", "WITH " PL_DB_E_ONE_16 ", " AUTH_STORE, 16},
    /* auth_store for many answers at once (db.h): the same statement over each answer. */
    {"auth_store:many", "WITH " PL_DB_E_MANY_16 ", " AUTH_STORE, 16},
    /* After the store of a CyberSource authorization refused while its ccAuthReply says the
     * issuer authorized it, or failed so (`error`, 150: issuer_authorized_refusal): its history
     * row says so (060), which is what lets paylink-reversal claim and reverse a `declined` or
     * `error` one (064), and, after a partial
     * approval (110), what the issuer holds ($3, "" when all it was asked: 061), which
     * paylink-reversal sends for any reversal of it — the order system's, or a timeout reversal
     * `.tor` that comes before this answer's `.rev` — not the amount that reversal names. A
     * held amount already there (an operator's, the resolver's, for a row settled before this
     * late answer came) is kept: a reversal may have gone for it already. But not the amount
     * the authorization asked (cc_auth_trans.amount) when this answer's part is less: that is
     * what paylink-reversal's claim records of a row recording no amount held (065's rest
     * rules), a guess this answer corrects; kept, every later reversal went for the whole
     * amount, which CyberSource refuses above the part, and the part stayed held. Only the
     * row of this request's answer with the transaction id answered ($2): whoever stored it (a late
     * answer and the resolver's query give the same). One row, found by auth_history_request; run
     * only for such an answer, never on the hot path. */
    {"auth_issuer_authorized",
     "UPDATE auth_history SET issuer_authorized = true, amount_issuer_held = CASE WHEN "
     "amount_authorized IS NULL AND $3 <> '' AND (amount_issuer_held IS NULL OR "
     "(amount_issuer_held > $3::numeric AND amount_issuer_held = (SELECT t.amount FROM "
     "cc_auth_trans t WHERE t.request_id = auth_history.request_id))) THEN $3::numeric "
     "ELSE amount_issuer_held END "
     "WHERE request_id = $1 "
     "AND transaction_id = $2 AND transaction_id <> '' "
     "AND status IN ('declined', 'rejected', 'error') "
     "AND transaction_type <> 'auth_capture' AND deposit_request_id IS NULL "
     "AND NOT issuer_authorized",
     3},
};

static const char *const protocols[] = {"CYB", "EXT", NULL};

/* What an External Payment Service authorization sends about who initiated it. */
typedef struct auth_data {
    char initiator[12];   /* CARDHOLDER, MERCHANT */
    char reason[16];      /* subsequentAuthReason; "" when not a subsequent authorization */
    char transaction[65]; /* subsequentAuthTransactionID; "" when none is known */
    int64_t original;     /* the CIT's amount; < 0 when none is known */
} auth_data;

static bool is_ext(const pl_job *job)
{
    return job->svc && strcmp(job->svc->protocol, "EXT") == 0;
}

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* The columns auth_insert records, as text parameters (bufs holds the numbers' text). */
typedef struct auth_row {
    char company[16], pay_seq[16], em[8], ey[8];
    const char *p[17];
} auth_row;

static void auth_row_params(const pl_job *job, auth_row *a)
{
    const pl_request *r = &job->req;
    snprintf(a->company, sizeof a->company, "%d", r->company);
    snprintf(a->pay_seq, sizeof a->pay_seq, "%d", r->pay_seq);
    snprintf(a->em, sizeof a->em, "%d", r->card.exp_month);
    snprintf(a->ey, sizeof a->ey, "%d", r->card.exp_year);
    const char *p[] = {r->request_id, job->fingerprint, pl_req_type_name(r->type), a->company,
                       r->order, a->pay_seq, r->service, r->pay_type,
                       r->online ? "online" : "batch", nz(job->amount), nz(r->currency),
                       job->card_masked, nz(job->card_hash),
                       /* The request's token, else the one getToken made of its card number
                        * (EXT; recorded already sent only: auth_mark_sent otherwise). */
                       r->card.token[0] ? r->card.token : job->card_token, job->card_type,
                       r->card.exp_month ? a->em : NULL, r->card.exp_year ? a->ey : NULL};
    memcpy(a->p, p, sizeof p);
}

static int auth_record(pl_job *job, pl_db_unit *u)
{
    const pl_request *r = &job->req;
    auth_row a;
    auth_row_params(job, &a);
    int rc = pl_db_unit_add(u, "auth_insert", 17, a.p);
    if (rc == 0 && is_ext(job) && r->type == PL_REQ_AUTH && r->subsequent_auth.present) {
        const char *q[] = {a.company, r->order, a.pay_seq, nz(r->subsequent_auth.transaction_id)};
        rc = pl_db_unit_add(u, "auth_cit", 4, q);
    }
    return rc;
}

/* Only an EXT subsequent authorization reads something recorded (the CIT it follows). */
static bool auth_prepare_alone(const pl_job *job)
{
    return !(is_ext(job) && job->req.type == PL_REQ_AUTH && job->req.subsequent_auth.present);
}

/* The subsequent-authorization fields of an EXT authorization (auth_data in spec_data). */
static int ext_subsequent(pl_job *job, const pl_db_unit *recorded)
{
    const pl_request *r = &job->req;
    auth_data *d = calloc(1, sizeof *d);
    if (!d)
        return PL_ERR_NOMEM;
    job->spec_data = d;
    const char *cit = NULL;
    int64_t cit_amount = -1;
    const PGresult *k = r->subsequent_auth.present ? pl_db_unit_result(recorded, 1) : NULL;
    if (k && PQntuples(k) == 1 && PQnfields(k) >= 4) {
        /* Only a CIT of the card this authorization goes with: the order payment method may
         * name another card since (the cardholder changed it), and a stored-credential claim on
         * the wrong card is one the issuer may decline or dispute. */
        const char *cit_hash = PQgetvalue(k, 0, 2);
        if (pl_ext_cit_of_card(cit_hash, PQgetvalue(k, 0, 3), pl_job_card_hash_for(job, cit_hash),
                               r->card.token[0] ? r->card.token : job->card_token)) {
            cit = PQgetvalue(k, 0, 0);
            if (pl_money_parse_decimal(PQgetvalue(k, 0, 1), &cit_amount) != 0)
                cit_amount = -1;
        } else if (r->subsequent_auth.transaction_id[0]) {
            /* The order system's own word goes (its transaction id); what paylink recorded of
             * another card (its amount) does not. */
            PL_INFO(r->request_id,
                    "the CIT %s the request names was recorded for another card (or one paylink "
                    "cannot compare): its original amount is not sent",
                    PQgetvalue(k, 0, 0));
        } else {
            PL_INFO(r->request_id,
                    "the order payment method's CIT %s was recorded for another card (or one "
                    "paylink cannot compare): not named",
                    PQgetvalue(k, 0, 0));
        }
    }
    bool notify = pl_services_notify_installments(job->services, r->company,
                                                  r->pay_type[0] ? r->pay_type : job->card_type);
    pl_ext_subsequent(r, NULL, job->svc->supports_auth_resubmission, notify, cit, cit_amount,
                      d->initiator, sizeof d->initiator, d->reason, sizeof d->reason,
                      d->transaction, sizeof d->transaction, &d->original);
    pl_bureau_call *c = &job->call;
    c->initiator = d->initiator;
    c->sub_auth_reason = nz(d->reason);
    c->sub_auth_transaction_id = nz(d->transaction);
    c->sub_auth_original_amount = d->original;
    if (d->reason[0])
        PL_INFO(r->request_id, "subsequent authorization %s (%s), CIT %s", d->reason, d->initiator,
                d->transaction[0] ? d->transaction : "unknown");
    return 0;
}

static int auth_prepare(pl_job *job, const pl_db_unit *recorded)
{
    (void)recorded; /* an authorization needs nothing but the request and the configuration */
    const pl_request *r = &job->req;
    const pl_service *svc = job->svc;
    pl_bureau_call *c = &job->call;
    memset(c, 0, sizeof *c);
    c->req = r;
    if (r->type == PL_REQ_TOKEN) {
        if (r->card.token[0]) {
            /* Nothing to tokenize: answer with the token it already is. */
            job->reply->status = PL_ST_APPROVED;
            snprintf(job->reply->token, sizeof job->reply->token, "%s", r->card.token);
            snprintf(job->reply->message, sizeof job->reply->message,
                     "The card is already a token.");
            return 1;
        }
        if (!svc->request_token) {
            /* seed: tokenization is performed only where Request token is selected. */
            job->reply->status = PL_ST_DECLINED;
            /* seed (Siebel) message 18: not authorized to perform this transaction type. */
            snprintf(job->reply->message, sizeof job->reply->message, "%s", pl_siebel_message(18));
            PL_INFO(r->request_id, "token refused: Request token is not selected for %s",
                    svc->code);
            return 1;
        }
        c->op = PL_OP_TOKEN;
    } else if (is_ext(job)) {
        /* Message version 3.0 carries tokens only: the engine asks getToken for a card number
         * first (PL_BUREAU_TOKENS_ONLY), then this authorization goes with the token. */
        c->op = PL_OP_AUTH;
    } else {
        /* seed: "Request token?" — a card number is tokenized with its authorization. */
        c->op = r->card.number[0] && svc->request_token ? PL_OP_TOKEN_AUTH : PL_OP_AUTH;
    }
    /* seed: Decision Manager scores online authorizations only. */
    c->decision_manager = svc->decision_manager && r->online && c->op != PL_OP_TOKEN;
    const char *pay_type = r->pay_type[0] ? r->pay_type : job->card_type;
    pl_job_resolve_call(job, pay_type);
    c->amount = r->has_amount ? r->amount : 0;
    if (is_ext(job) && c->op == PL_OP_AUTH)
        return ext_subsequent(job, recorded);
    return 0;
}

static int auth_mark_sent(pl_job *job, pl_db_unit *u)
{
    const auth_data *d = job->spec_data;
    const char *p[] = {job->req.request_id,
                       job->op_name,
                       job->merchant_id,
                       job->attempt,
                       d ? d->initiator : NULL,
                       d ? nz(d->reason) : NULL,
                       d ? nz(d->transaction) : NULL,
                       nz(job->card_token)};
    return pl_db_unit_add(u, "auth_mark_sent", 8, p);
}

static int auth_record_sent(pl_job *job, pl_db_unit *u)
{
    const auth_data *d = job->spec_data;
    auth_row a;
    auth_row_params(job, &a);
    const char *p[23];
    memcpy(p, a.p, sizeof a.p);
    p[17] = job->op_name;
    p[18] = job->merchant_id;
    p[19] = job->attempt;
    p[20] = d ? d->initiator : NULL;
    p[21] = d ? nz(d->reason) : NULL;
    p[22] = d ? nz(d->transaction) : NULL;
    return pl_db_unit_add(u, "auth_insert_sent", 23, p);
}

static void auth_map(pl_job *job)
{
    pl_job_map_answer(job); /* the shared rules (see auth.h), and: */
    pl_job_review_amount(job);
    pl_reply *rep = job->reply;
    /* A `token` request holds nothing (only the subscription is created): an amount it carried
     * is not approved. Before, the reply said amount_approved, and its history row read as an
     * authorization of that amount, which a debit then tried to capture. */
    if (job->call.op == PL_OP_TOKEN) {
        rep->has_amount_approved = false;
        rep->amount_approved = 0;
    }
    /* EXT: the token the engine's getToken returned for the card number is the card's token
     * from now on (recorded with the authorization, returned to the upstream system). */
    if (!rep->token[0] && job->card_token[0])
        snprintf(rep->token, sizeof rep->token, "%s", job->card_token);
}

/* The ccAuthReply reasonCode of the job's answer ("" when there is none): the service reason of
 * an authorization's or token+auth's answer (bureau_cybersource.h). */
static const char *auth_reply_reason(const pl_job *job)
{
    return job->res && (job->call.op == PL_OP_AUTH || job->call.op == PL_OP_TOKEN_AUTH)
               ? job->res->service_reason_code
               : "";
}

/* A CyberSource authorization the reply refuses (declined, rejected) or fails (error: an ERROR
 * 150, a system failure) while its ccAuthReply says the issuer authorized it (100, or 110 for
 * part): its history row records it (060; an error one since 064). */
static bool issuer_authorized_refusal(const pl_job *job)
{
    const pl_reply *rep = job->reply;
    return job->svc && strcmp(job->svc->protocol, "CYB") == 0 &&
           (rep->status == PL_ST_DECLINED || rep->status == PL_ST_REJECTED ||
            rep->status == PL_ST_ERROR) &&
           rep->auth.transaction_id[0] && pl_cybersource_issuer_authorized(auth_reply_reason(job));
}

static int auth_store(pl_job *job, pl_db_unit *u)
{
    const pl_bureau_result *res = job->res;
    const pl_reply *rep = job->reply;
    const pl_vendor_response *vr =
        pl_services_vendor_response(job->services, job->svc->code, res->reason_code);
    char approved[24] = "";
    if (rep->has_amount_approved &&
        pl_money_format(rep->amount_approved, approved, sizeof approved) != 0)
        approved[0] = '\0';
    char error_text[600] = "";
    if (res->fault_code[0])
        snprintf(error_text, sizeof error_text, "%s: %s", res->fault_code, res->fault_string);
    else if (res->missing_fields[0] || res->invalid_fields[0])
        snprintf(error_text, sizeof error_text, "missing: %s; invalid: %s", res->missing_fields,
                 res->invalid_fields);
    bool deactivate = rep->status == PL_ST_REJECTED && vr && vr->deactivate_payment;
    const char *p[] = {job->req.request_id,
                       pl_status_name(rep->status),
                       rep->decision,
                       rep->vendor_response,
                       nz(approved),
                       rep->auth.number,
                       rep->auth.date,
                       rep->auth.transaction_id,
                       rep->auth.request_token,
                       rep->auth.avs,
                       rep->auth.cvv,
                       rep->token,
                       rep->hold_reason,
                       deactivate ? "true" : "false",
                       error_text,
                       job->reply_json};
    int rc = pl_db_unit_add(u, "auth_store", 16, p);
    const auth_data *d = job->spec_data;
    if (rc == 0 && d && strcmp(d->initiator, "CARDHOLDER") == 0 && rep->status == PL_ST_APPROVED) {
        const char *q[] = {job->req.request_id};
        rc = pl_db_unit_add(u, "auth_cit_store", 1, q);
    }
    /* Whatever Send reversal says now: a reversal of it, the order system's or paylink's, is
     * taken by what the row records (paylink-reversal's claim, migration 060's trigger). */
    if (rc == 0 && issuer_authorized_refusal(job)) {
        char held[24] = "";
        if (res->has_amount && job->req.has_amount && res->amount > 0 &&
            res->amount < job->req.amount && pl_money_format(res->amount, held, sizeof held) != 0)
            held[0] = '\0';
        const char *q[] = {job->req.request_id, rep->auth.transaction_id, held};
        rc = pl_db_unit_add(u, "auth_issuer_authorized", 3, q);
    }
    return rc;
}

void pl_auth_reversal_request_id(const char *request_id, char *out, size_t outsize)
{
    pl_job_derived_request_id(request_id, PL_DM_REVERSAL_SUFFIX, out, outsize);
}

/*
 * Whether the reply (status, vendor_response) of job's CyberSource authorization leaves its
 * amount held by the issuer. The answer read (job->res, with a decision) tells itself whether
 * the issuer authorized (pl_cybersource_answer_held): a Decision Manager reject whose answer
 * has no ccAuthReply (refused before the authorization ran), or one whose ccAuthReply says the
 * issuer declined (203), holds nothing, nor does a soft decline the issuer declined; before, a
 * `.rev` went for them all, which CyberSource refuses, its declined reply unasked for. Without an
 * answer (job->res NULL, or one without a decision) nothing says the issuer holds anything: no
 * reversal. The engine decides follow-ups only with an answer (never on a replay, engine.h
 * followups); before, a replay of a row stored without follow-ups came here without one, and
 * reversed any 481 or soft decline on the strength of its vendor response
 * (pl_cybersource_refused_but_authorized with no ccAuthReply), held or not.
 */
static bool auth_held(const pl_job *job, json_object *reply)
{
    const char *status = pl_json_str(reply, "status"),
               *vendor = pl_json_str(reply, "vendor_response");
    return job->res && job->res->decision[0] &&
           pl_cybersource_answer_held(status, vendor, auth_reply_reason(job));
}

bool pl_auth_reverses(const pl_job *job, json_object *reply)
{
    const pl_request *r = &job->req;
    if (!job->svc || !job->svc->send_reversal || strcmp(job->svc->protocol, "CYB") != 0 ||
        r->type != PL_REQ_AUTH || !auth_held(job, reply))
        return false;
    json_object *auth;
    return json_object_object_get_ex(reply, "auth", &auth) && pl_json_str(auth, "transaction_id");
}

/*
 * seed: a Decision Manager REJECT (481) of an authorization the issuer approved deactivates
 * the payment; with Send reversal the authorization is reversed so the hold on the
 * cardholder's funds is released. The same for a soft decline (200, 230, 520: the issuer
 * approved, CyberSource declined): the order system is told `declined` and will not capture it,
 * so nothing else would release what the issuer holds; and for any other `rejected`,
 * `declined` or `error` answer whose ccAuthReply says 100 or 110 (a 400 fraud score, a
 * token+auth refused 102 for its token, an ERROR 150 system failure: the issuer authorized it,
 * all of it or the part ccAuthReply's amount says, and CyberSource refused it or failed; the
 * order system, told `error`, authorizes again, a second hold). The reversal is for what the issuer
 * holds: the answer's amount, ccAuthReply's (pl_job_held_amount), so a partial approval's is for
 * its part. The reversal worker does it; we publish its request (pl_auth_reverses decides: not
 * for a reject or soft decline whose answer says the issuer never authorized it, auth_held). A
 * partial approval without an amount approved below the amount sent never gets here: the
 * adapter refuses it, its outcome unknown (bureau_cybersource.h), so nothing is reversed for the
 * amount asked, which CyberSource refuses above the part.
 */
static int auth_followups(pl_job *job, json_object *reply)
{
    const pl_request *r = &job->req;
    if (!pl_auth_reverses(job, reply))
        return 0;
    char amount[24];
    if (!pl_job_held_amount(job, amount, sizeof amount)) {
        PL_INFO(r->request_id,
                "refused or failed after the issuer approved, but nothing is held: no reversal");
        return 0;
    }
    char rid[64];
    pl_auth_reversal_request_id(r->request_id, rid, sizeof rid);
    const pl_reversal_of of = {.auth_request_id = r->request_id};
    int rc = pl_job_publish_reversal(job, rid, amount, r->currency, &of);
    if (rc == 0) {
        const char *status = pl_json_str(reply, "status"),
                   *vendor = pl_json_str(reply, "vendor_response");
        PL_INFO(r->request_id, "%s: reversal %s of %s requested",
                pl_cybersource_refused_but_held(status, vendor)
                    ? strcmp(status, "rejected") == 0 && strcmp(vendor, "481") == 0
                          ? "Decision Manager reject"
                          : "soft decline (the issuer approved, CyberSource declined)"
                : strcmp(auth_reply_reason(job), "110") == 0
                    ? strcmp(status, "error") == 0
                          ? "failed after the issuer authorized part of it (ccAuthReply 110)"
                          : "refused after the issuer authorized part of it (ccAuthReply 110)"
                : strcmp(status, "error") == 0
                    ? "failed after the issuer authorized it (ccAuthReply 100)"
                    : "refused after the issuer authorized it (ccAuthReply 100)",
                rid, amount);
    }
    return rc;
}

const pl_spec pl_auth_spec = {
    .worker = "auth",
    .table = "cc_auth_trans",
    .protocols = protocols,
    .stmts = stmts,
    .nstmts = sizeof stmts / sizeof stmts[0],
    .record = auth_record,
    .prepare = auth_prepare,
    .mark_sent = auth_mark_sent,
    .prepare_alone = auth_prepare_alone,
    .record_sent = auth_record_sent,
    .map = auth_map,
    .store = auth_store,
    .followups = auth_followups,
};
