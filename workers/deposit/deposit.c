/* deposit.c: what paylink-deposit adds to the engine (see deposit.h). */
#include "deposit.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "money.h"

static const pl_db_stmt stmts[] = {
    {"dep_insert",
     "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, company, "
     "order_number, pay_seq, service_bureau, pay_type, amount, currency, installment, "
     "card_masked, card_hash, card_token, card_type, auth_ref_request_id, "
     "auth_ref_transaction_id, capture_ref_request_id) "
     "VALUES ($1, $2, $3, $4::int, $5, $6::int, $7, $8, $9::numeric, $10, $11::boolean, $12, $13, "
     "$14, $15, $16, $17, $18) "
     "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
     18},
    /* Result 1 of the record unit: the paylink authorization (its latest answer; rows an
     * auth+capture added are deposits, not the authorization being settled). */
    {"dep_auth",
     "SELECT h.id, h.status, h.amount_authorized::text, h.amount_deposited::text, "
     "h.auth_number, "
     "CASE WHEN h.auth_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN left(h.auth_date, 10) "
     "ELSE to_char(h.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END, "
     "h.transaction_id, h.request_token, coalesce(nullif(t.card_token, ''), t.token_created), "
     "t.pay_type, t.card_type "
     "FROM auth_history h JOIN cc_auth_trans t ON t.request_id = h.request_id "
     "WHERE h.request_id = $1 AND h.transaction_type <> 'auth_capture' "
     "ORDER BY h.id DESC LIMIT 1",
     1},
    /* Result 2: the paylink debit a follow-on credit refunds. */
    {"dep_capture",
     "SELECT status, transaction_id, request_token FROM cc_deposit_trans "
     "WHERE request_id = $1 AND request_type = 'debit'",
     1},
    {"dep_mark_sent",
     "UPDATE cc_deposit_trans SET status = 'sent', deposit_status = '*SENT', sent_at = now(), "
     "operation = $2, merchant_id = $3, deposit_reason = $4, auth_history_id = $5::bigint, "
     "ref_transaction_id = $6, card_token = CASE WHEN card_token = '' THEN $7 ELSE card_token "
     "END, sent_by = $8 WHERE request_id = $1 AND (status = 'received' OR (status = 'sent' AND "
     "sent_by = $8)) RETURNING request_id",
     8},
    /* The answer, its history row, the authorization it settled or left unused, and the new
     * authorization an auth+capture made: one statement, so a redelivered answer (the row is
     * no longer 'sent') changes nothing at all. */
    {"dep_store",
     "WITH upd AS (UPDATE cc_deposit_trans SET status = $2, deposit_status = '*RCVD', "
     "decision = $3, vendor_response = $4, amount_deposited = $5::numeric, auth_number = $6, "
     "auth_date = $7, transaction_id = $8, request_token = $9, error_text = left($10, 300), "
     "reply = $11::jsonb, answered_at = now() "
     "WHERE request_id = $1 AND status IN ('sent', 'unknown') RETURNING *), "
     "hist AS (INSERT INTO cc_deposit_history (request_id, event, status, deposit_status, "
     "operation, amount, vendor_response, transaction_id, actor) "
     "SELECT request_id, 'answered', status, deposit_status, operation, amount_deposited, "
     "vendor_response, transaction_id, 'paylink-deposit' FROM upd), "
     "used AS (UPDATE auth_history h SET amount_deposited = h.amount_deposited + $13::numeric, "
     "status = CASE WHEN $14::boolean AND h.status = 'approved' THEN 'voided' ELSE h.status END "
     "FROM upd WHERE h.id = $12::bigint AND upd.status = 'approved' RETURNING h.id) "
     "INSERT INTO auth_history (request_id, company, order_number, pay_seq, service_bureau, "
     "transaction_type, status, amount_authorized, amount_deposited, currency, auth_number, "
     "auth_date, transaction_id, request_token, vendor_response) "
     "SELECT $15::varchar, company, order_number, pay_seq, service_bureau, $16, 'approved', "
     "amount_deposited, amount_deposited, currency, auth_number, auth_date, transaction_id, "
     "request_token, vendor_response FROM upd "
     "WHERE $15::varchar IS NOT NULL AND upd.status = 'approved'",
     16},
};

static const char *const protocols[] = {"CYB", NULL};

/* What prepare learned, for the call (its references point here), store and followups. */
typedef struct dep_data {
    pl_deposit_choice choice;
    bool has_auth_id;
    char auth_id[24];         /* auth_history.id of the paylink authorization */
    char auth_request_id[51]; /* its cc_auth_trans request_id */
    char auth_number[31];     /* the authorization code it carries */
    pl_deposit_auth auth;     /* what the decision saw */
    char ref_id[65];          /* authRequestID / captureRequestID sent */
    char ref_token[513];      /* and its token */
    char token_used[65];      /* token taken from the authorization for an auth+capture */
    bool manual;              /* inline manual authorization */
} dep_data;

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
        return (pl_deposit_choice){PL_DEP_CREDIT_FOLLOW_ON, "follow_on"};
    }
    if (r->type != PL_REQ_DEBIT)
        return (pl_deposit_choice){PL_DEP_REFUSE, "not_a_deposit"};

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

/* ---- the spec ---- */

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
                       r->capture_ref.request_id};
    int rc = pl_db_unit_add(u, "dep_insert", 18, p);
    /* The look-ups run for every delivery (a replay ignores them): fixed positions 1 and 2. */
    const char *a[] = {nz(r->auth_ref.request_id)};
    if (rc == 0)
        rc = pl_db_unit_add(u, "dep_auth", 1, a);
    const char *c[] = {nz(r->capture_ref.request_id)};
    if (rc == 0)
        rc = pl_db_unit_add(u, "dep_capture", 1, c);
    return rc;
}

static int refuse(pl_job *job, pl_status status, const char *fmt, const char *arg)
{
    job->reply.status = status;
    snprintf(job->reply.message, sizeof job->reply.message, fmt, arg);
    return 1;
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

    char pay_type[5];
    copy(pay_type, sizeof pay_type, r->pay_type[0] ? r->pay_type : job->card_type);
    pl_deposit_capture cap = {0};
    char token[65] = "";

    if (r->type == PL_REQ_DEBIT && r->auth_ref.request_id[0]) {
        const PGresult *a = pl_db_unit_result(recorded, 1);
        if (a && PQntuples(a) == 1) {
            d->auth.found = true;
            d->auth.usable = strcmp(PQgetvalue(a, 0, 1), "approved") == 0;
            int64_t authorized = 0, deposited = 0;
            if (!PQgetisnull(a, 0, 2) &&
                pl_money_parse_decimal(PQgetvalue(a, 0, 2), &authorized) == 0 &&
                pl_money_parse_decimal(PQgetvalue(a, 0, 3), &deposited) == 0) {
                d->auth.has_remaining = true;
                d->auth.remaining = authorized - deposited;
            }
            copy(d->auth.date, sizeof d->auth.date, PQgetvalue(a, 0, 5));
            d->has_auth_id = true;
            copy(d->auth_id, sizeof d->auth_id, PQgetvalue(a, 0, 0));
            copy(d->auth_request_id, sizeof d->auth_request_id, r->auth_ref.request_id);
            copy(d->auth_number, sizeof d->auth_number, PQgetvalue(a, 0, 4));
            copy(d->ref_id, sizeof d->ref_id, PQgetvalue(a, 0, 6));
            copy(d->ref_token, sizeof d->ref_token, PQgetvalue(a, 0, 7));
            copy(token, sizeof token, PQgetvalue(a, 0, 8));
            if (!pay_type[0])
                copy(pay_type, sizeof pay_type,
                     PQgetvalue(a, 0, 9)[0] ? PQgetvalue(a, 0, 9) : PQgetvalue(a, 0, 10));
        }
    } else if (r->type == PL_REQ_DEBIT && r->auth_ref.present) {
        /* Inline manual authorization: CyberSource settles it only through its request ID. */
        d->manual = true;
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
        const PGresult *k = pl_db_unit_result(recorded, 2);
        if (k && PQntuples(k) == 1) {
            cap.found = true;
            cap.approved = strcmp(PQgetvalue(k, 0, 0), "approved") == 0;
            copy(d->ref_id, sizeof d->ref_id, PQgetvalue(k, 0, 1));
            copy(d->ref_token, sizeof d->ref_token, PQgetvalue(k, 0, 2));
        }
    }

    bool has_card = r->card.number[0] || r->card.token[0] || token[0];
    int reauth_days = pl_services_reauth_days(job->services, svc->code, pay_type);
    d->choice = pl_deposit_decide(r, &d->auth, &cap, has_card, reauth_days, time(NULL));
    PL_INFO(r->request_id, "deposit decision: %s (%s)",
            d->choice.kind == PL_DEP_REFUSE ? "refused" : "send", d->choice.reason);

    switch (d->choice.kind) {
    case PL_DEP_REFUSE:
        if (strcmp(d->choice.reason, "capture_not_found") == 0 ||
            strcmp(d->choice.reason, "capture_not_approved") == 0)
            return refuse(job, PL_ST_DECLINED,
                          "The debit to credit (%s) is not an approved paylink deposit.",
                          r->capture_ref.request_id);
        return refuse(job, PL_ST_DECLINED,
                      "No usable authorization and no card to authorize again (%s).",
                      d->choice.reason);
    case PL_DEP_CAPTURE:
        c->op = PL_OP_CAPTURE;
        c->ref_request_id = d->ref_id;
        c->ref_request_token = nz(d->ref_token);
        c->ref_auth_code = nz(d->auth_number);
        break;
    case PL_DEP_AUTH_CAPTURE:
        c->op = PL_OP_AUTH_CAPTURE;
        if (!r->card.number[0] && !r->card.token[0]) {
            /* The request names no card: authorize the token of the paylink authorization. */
            copy(r->card.token, sizeof r->card.token, token);
            copy(d->token_used, sizeof d->token_used, token);
            r->card.present = true;
        }
        /* The deposit follows an order already screened at authorization time. */
        c->ignore_avs_cvv = true;
        break;
    case PL_DEP_CREDIT_FOLLOW_ON:
        c->op = PL_OP_CREDIT;
        c->ref_request_id = d->ref_id;
        c->ref_request_token = nz(d->ref_token);
        break;
    case PL_DEP_CREDIT_STAND_ALONE:
        c->op = PL_OP_CREDIT;
        break;
    }
    pl_job_resolve_call(job, pay_type);
    c->amount = r->has_amount ? r->amount : 0;
    return 0;
}

static int dep_mark_sent(pl_job *job, pl_db_unit *u)
{
    const dep_data *d = job->spec_data;
    const char *p[] = {job->req.request_id,
                       job->op_name,
                       job->merchant_id,
                       d ? d->choice.reason : "",
                       d && d->has_auth_id ? d->auth_id : NULL,
                       d ? d->ref_id : "",
                       d ? d->token_used : "",
                       job->attempt};
    return pl_db_unit_add(u, "dep_mark_sent", 8, p);
}

static void dep_map(pl_job *job)
{
    pl_job_map_answer(job);
}

/* The unused part of the authorization once this deposit is approved; 0 when none. */
static int64_t unused_amount(const pl_job *job, const dep_data *d)
{
    if (!d->auth.found || !d->auth.usable || !d->auth.has_remaining)
        return 0;
    if (d->choice.kind == PL_DEP_AUTH_CAPTURE)
        return d->auth.remaining;
    if (d->choice.kind == PL_DEP_CAPTURE) {
        int64_t captured =
            job->reply.has_amount_approved ? job->reply.amount_approved : job->req.amount;
        return d->auth.remaining > captured ? d->auth.remaining - captured : 0;
    }
    return 0;
}

static int dep_store(pl_job *job, pl_db_unit *u)
{
    const pl_bureau_result *res = &job->res;
    const pl_reply *rep = &job->reply;
    const dep_data *d = job->spec_data;
    char deposited[24] = "", add[24] = "0.00";
    if (rep->has_amount_approved &&
        pl_money_format(rep->amount_approved, deposited, sizeof deposited) != 0)
        deposited[0] = '\0';
    char error_text[600] = "";
    if (res->fault_code[0])
        snprintf(error_text, sizeof error_text, "%s: %s", res->fault_code, res->fault_string);
    else if (res->missing_fields[0] || res->invalid_fields[0])
        snprintf(error_text, sizeof error_text, "missing: %s; invalid: %s", res->missing_fields,
                 res->invalid_fields);

    bool capture = d && d->choice.kind == PL_DEP_CAPTURE;
    bool auth_capture = d && d->choice.kind == PL_DEP_AUTH_CAPTURE;
    if (capture && deposited[0])
        copy(add, sizeof add, deposited);
    /* seed "Void auth at deposit": the unused part is voided; an auth+capture leaves the old
     * authorization entirely unused. */
    bool void_auth = d && job->svc->void_auth_at_deposit && unused_amount(job, d) > 0;
    /* seed: an authorization code other than the one sent is a new authorization. Only a
     * paylink authorization can own it (auth_history.request_id references cc_auth_trans). */
    bool new_auth = d && d->auth_request_id[0] && rep->auth.number[0] &&
                    strcmp(rep->auth.number, d->auth_number) != 0 && (capture || auth_capture);
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
                       d && d->has_auth_id ? d->auth_id : NULL,
                       add,
                       void_auth ? "true" : "false",
                       new_auth ? d->auth_request_id : NULL,
                       auth_capture ? "auth_capture" : "auth"};
    return pl_db_unit_add(u, "dep_store", 16, p);
}

void pl_deposit_reversal_request_id(const char *request_id, char *out, size_t outsize)
{
    pl_job_derived_request_id(request_id, "vdr", out, outsize);
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* seed "Send reversal": the unused authorization is reversed at the bureau so the hold on the
 * cardholder's funds is released; the reversal worker does it. */
static int dep_followups(pl_job *job, json_object *reply)
{
    const dep_data *d = job->spec_data;
    const char *status = jstr(reply, "status");
    if (!d || !status || strcmp(status, "approved") != 0 || !job->svc->send_reversal)
        return 0;
    int64_t unused = unused_amount(job, d);
    if (unused <= 0)
        return 0;
    char amount[24];
    if (pl_money_format(unused, amount, sizeof amount) != 0)
        return 0;
    const pl_request *r = &job->req;
    char rid[64];
    pl_deposit_reversal_request_id(r->request_id, rid, sizeof rid);
    int rc = pl_job_publish_reversal(job, rid, amount, r->currency, d->auth_request_id, d->ref_id,
                                     d->ref_token);
    if (rc == 0)
        PL_INFO(r->request_id, "unused authorization %s: reversal %s requested",
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
    .prepare = dep_prepare,
    .mark_sent = dep_mark_sent,
    .map = dep_map,
    .store = dep_store,
    .followups = dep_followups,
};
