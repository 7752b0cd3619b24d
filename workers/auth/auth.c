/* auth.c: what paylink-auth adds to the engine (see auth.h). */
#include "auth.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "money.h"

static const pl_db_stmt stmts[] = {
    {"auth_insert",
     "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, company, order_number, "
     "pay_seq, service_bureau, pay_type, auth_mode, amount, currency, card_masked, card_hash, "
     "card_token, card_type, exp_month, exp_year) "
     "VALUES ($1, $2, $3, $4::int, $5, $6::int, $7, $8, $9, $10::numeric, $11, $12, $13, $14, "
     "$15, $16::smallint, $17::smallint) "
     "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
     17},
    {"auth_mark_sent",
     "UPDATE cc_auth_trans SET status = 'sent', sent_at = now(), operation = $2, merchant_id = $3, "
     "sent_by = $4 WHERE request_id = $1 AND (status = 'received' OR (status = 'sent' AND "
     "sent_by = $4)) RETURNING request_id",
     4},
    {"auth_store",
     "WITH upd AS (UPDATE cc_auth_trans SET status = $2, decision = $3, vendor_response = $4, "
     "amount_approved = $5::numeric, auth_number = $6, auth_date = $7, transaction_id = $8, "
     "request_token = $9, avs_response = $10, cvv_response = $11, token_created = $12, "
     "hold_reason = $13, payment_deactivated = $14::boolean, error_text = left($15, 300), "
     "reply = $16::jsonb, answered_at = now() "
     "WHERE request_id = $1 AND status IN ('sent', 'unknown') RETURNING *), "
     "hist AS (INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
     "service_bureau, transaction_type, status, amount_authorized, currency, auth_number, "
     "auth_date, transaction_id, request_token, vendor_response, avs_response, cvv_response) "
     "SELECT request_id, company, order_number, pay_seq, service_bureau, operation, status, "
     "amount_approved, currency, auth_number, auth_date, transaction_id, request_token, "
     "vendor_response, avs_response, cvv_response FROM upd) "
     "SELECT request_id FROM upd",
     16},
};

static const char *const protocols[] = {"CYB", NULL};

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

static int auth_record(pl_job *job, pl_db_unit *u)
{
    const pl_request *r = &job->req;
    char company[16], pay_seq[16], em[8], ey[8];
    snprintf(company, sizeof company, "%d", r->company);
    snprintf(pay_seq, sizeof pay_seq, "%d", r->pay_seq);
    snprintf(em, sizeof em, "%d", r->card.exp_month);
    snprintf(ey, sizeof ey, "%d", r->card.exp_year);
    const char *p[] = {r->request_id,
                       job->fingerprint,
                       pl_req_type_name(r->type),
                       company,
                       r->order,
                       pay_seq,
                       r->service,
                       r->pay_type,
                       r->online ? "online" : "batch",
                       nz(job->amount),
                       nz(r->currency),
                       job->card_masked,
                       nz(job->card_hash),
                       r->card.token,
                       job->card_type,
                       r->card.exp_month ? em : NULL,
                       r->card.exp_year ? ey : NULL};
    return pl_db_unit_add(u, "auth_insert", 17, p);
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
            job->reply.status = PL_ST_APPROVED;
            snprintf(job->reply.token, sizeof job->reply.token, "%s", r->card.token);
            snprintf(job->reply.message, sizeof job->reply.message, "The card is already a token.");
            return 1;
        }
        if (!svc->request_token) {
            /* seed: tokenization is performed only where Request token is selected. */
            job->reply.status = PL_ST_DECLINED;
            /* seed (Siebel) message 18: not authorized to perform this transaction type. */
            snprintf(job->reply.message, sizeof job->reply.message, "%s", pl_siebel_message(18));
            PL_INFO(r->request_id, "token refused: Request token is not selected for %s",
                    svc->code);
            return 1;
        }
        c->op = PL_OP_TOKEN;
    } else {
        /* seed: "Request token?" — a card number is tokenized with its authorization. */
        c->op = r->card.number[0] && svc->request_token ? PL_OP_TOKEN_AUTH : PL_OP_AUTH;
    }
    /* seed: Decision Manager scores online authorizations only. */
    c->decision_manager = svc->decision_manager && r->online && c->op != PL_OP_TOKEN;
    const char *pay_type = r->pay_type[0] ? r->pay_type : job->card_type;
    pl_job_resolve_call(job, pay_type);
    c->amount = r->has_amount ? r->amount : 0;
    return 0;
}

static int auth_mark_sent(pl_job *job, pl_db_unit *u)
{
    const char *p[] = {job->req.request_id, job->op_name, job->merchant_id, job->attempt};
    return pl_db_unit_add(u, "auth_mark_sent", 4, p);
}

static void auth_map(pl_job *job)
{
    pl_job_map_answer(job); /* the shared rules (see auth.h), and: */
    /* seed (Decision Manager): a REVIEW is an authorization the issuer approved, held for
     * fraud review; its amount is recorded so a deposit captures it rather than authorizing
     * again. */
    pl_reply *rep = &job->reply;
    if (rep->status == PL_ST_REVIEW && (job->res.has_amount || job->req.has_amount)) {
        rep->has_amount_approved = true;
        rep->amount_approved = job->res.has_amount ? job->res.amount : job->req.amount;
    }
}

static int auth_store(pl_job *job, pl_db_unit *u)
{
    const pl_bureau_result *res = &job->res;
    const pl_reply *rep = &job->reply;
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
    return pl_db_unit_add(u, "auth_store", 16, p);
}

void pl_auth_reversal_request_id(const char *request_id, char *out, size_t outsize)
{
    pl_job_derived_request_id(request_id, "rev", out, outsize);
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/*
 * seed: a Decision Manager REJECT (481) of an authorization the issuer approved deactivates
 * the payment; with Send reversal the authorization is reversed so the hold on the
 * cardholder's funds is released. The reversal worker does it; we publish its request.
 */
static int auth_followups(pl_job *job, json_object *reply)
{
    const char *status = jstr(reply, "status"), *vresp = jstr(reply, "vendor_response");
    if (!status || !vresp || strcmp(status, "rejected") != 0 || strcmp(vresp, "481") != 0 ||
        !job->svc->send_reversal)
        return 0;
    json_object *auth;
    if (!json_object_object_get_ex(reply, "auth", &auth) || !jstr(auth, "transaction_id"))
        return 0; /* no authorization to reverse */
    const pl_request *r = &job->req;
    char rid[64];
    pl_auth_reversal_request_id(r->request_id, rid, sizeof rid);
    int rc = pl_job_publish_reversal(job, rid, job->amount, r->currency, r->request_id, NULL, NULL);
    if (rc == 0)
        PL_INFO(r->request_id, "Decision Manager reject: reversal %s requested", rid);
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
    .map = auth_map,
    .store = auth_store,
    .followups = auth_followups,
};
