/* stored_value.c: stored value card answers and card numbers (see stored_value.h). */
#include "stored_value.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "card.h"
#include "ext_rules.h"
#include "money.h"

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* The operations whose answer says how much money moved (SVAAmount). */
static bool moves_money(pl_bureau_op op)
{
    switch (op) {
    case PL_OP_SVC_ACTIVATE:
    case PL_OP_SVC_RECHARGE:
    case PL_OP_SVC_PREAUTH:
    case PL_OP_SVC_POSTAUTH:
    case PL_OP_SVC_RETURN:
    case PL_OP_SVC_VOID:
        return true;
    default:
        return false;
    }
}

void pl_stored_value_code(const pl_bureau_result *res, char *out, size_t outsize)
{
    const char *code = res->error_code[0]    ? res->error_code
                       : res->reason_code[0] ? res->reason_code
                                             : res->response_code;
    snprintf(out, outsize, "%.*s", PL_STORED_VALUE_CODE_MAX, code);
}

const pl_vendor_response *pl_stored_value_refusal_row(const pl_services *s, const pl_service *svc,
                                                      const char *code)
{
    return svc ? pl_services_vendor_response_svc(s, svc->code, code, NULL) : NULL;
}

void pl_stored_value_refuse(const pl_vendor_response *vr, const char *code, const char *message,
                            pl_reply *rep)
{
    bool has_balance = rep->svc.has_balance;
    int64_t balance = rep->svc.balance;
    memset(rep, 0, sizeof *rep);
    rep->status = PL_ST_DECLINED;
    if (vr) {
        copy(rep->vendor_response, sizeof rep->vendor_response, vr->code);
        copy(rep->hold_reason, sizeof rep->hold_reason, vr->hold_reason);
    } else {
        /* As for a bureau's ErrorCode no row maps (pl_stored_value_code). */
        snprintf(rep->vendor_response, sizeof rep->vendor_response, "%.*s",
                 PL_STORED_VALUE_CODE_MAX, code);
    }
    copy(rep->message, sizeof rep->message, message);
    rep->svc.has_balance = has_balance;
    rep->svc.balance = balance;
}

void pl_stored_value_no_balance(const pl_services *s, const pl_service *svc, pl_reply *rep)
{
    pl_stored_value_refuse(pl_stored_value_refusal_row(s, svc, PL_STORED_VALUE_NO_BALANCE_CODE),
                           PL_STORED_VALUE_NO_BALANCE_CODE, PL_STORED_VALUE_PARTIAL_MESSAGE, rep);
}

/*
 * The rules of pl_stored_value_map (stored_value.h). row_decides: vr's `approved` decides
 * between approved and declined for an answer without an ErrorCode (Customer Engagement's
 * vendor responses; the External Payment Service's answers follow pl_ext_refusal instead).
 * no_balance: the vendor_response row of PL_STORED_VALUE_NO_BALANCE_CODE, or NULL.
 */
static void map(const pl_bureau_result *res, const pl_vendor_response *vr, bool row_decides,
                const pl_vendor_response *no_balance, pl_bureau_op op, int64_t amount_sent,
                pl_reply *rep)
{
    if (vr)
        copy(rep->vendor_response, sizeof rep->vendor_response, vr->code);
    else
        pl_stored_value_code(res, rep->vendor_response, sizeof rep->vendor_response);

    if (res->fault_code[0]) {
        rep->status = PL_ST_ERROR;
        snprintf(rep->message, sizeof rep->message, "The payment service refused the request (%s).",
                 res->fault_code);
    } else if (strcmp(res->error_code, "SYSTEM_ERROR") == 0) {
        /* The bureau failed, not the card (the simulator's 150 scenario): an error. */
        rep->status = PL_ST_ERROR;
        copy(rep->message, sizeof rep->message, res->error_text);
    } else if (res->error_code[0] || strcasecmp(res->response_code, "Rejected") == 0) {
        /* seed: "if an error code is returned" the transaction is declined, whatever it was. */
        rep->status = PL_ST_DECLINED;
        copy(rep->message, sizeof rep->message, res->error_text);
    } else if (op == PL_OP_SVC_GENERATE && res->response_code[0] &&
               strcasecmp(res->response_code, "OK") != 0) {
        /* seed (Generate Card Response): "ResponseCode: OK" is the answer that carries a card;
         * "Rejected" with an ErrorCode is the decline above. Any other code without an ErrorCode
         * ("Failed") says no card was generated and not why: no vendor response row can map
         * it to a refusal of the card, so it is the bureau failing, `error` (final: a GenerateCard
         * moves no money). Read as approved, the order was told of a card paylink then could
         * not record. */
        rep->status = PL_ST_ERROR;
        if (res->error_text[0])
            snprintf(rep->message, sizeof rep->message,
                     "The payment service did not generate a card (ResponseCode %.16s): %.120s",
                     res->response_code, res->error_text);
        else
            snprintf(rep->message, sizeof rep->message,
                     "The payment service did not generate a card (ResponseCode %.16s).",
                     res->response_code);
    } else if (row_decides && vr && !vr->approved) {
        /* seed ("Response codes"): the ORCE response field of a vendor response identifies
         * "whether the stored value card transaction was approved or declined". */
        rep->status = PL_ST_DECLINED;
        copy(rep->message, sizeof rep->message, res->error_text);
    } else {
        rep->status = PL_ST_APPROVED;
    }
    if (rep->status != PL_ST_APPROVED && vr)
        copy(rep->hold_reason, sizeof rep->hold_reason, vr->hold_reason);

    if (rep->status == PL_ST_APPROVED && moves_money(op)) {
        rep->has_amount_approved = true;
        rep->amount_approved = res->has_amount ? res->amount : amount_sent;
        /* seed: Customer Engagement approves an authorization for what the card holds when that
         * is less than asked; the order then needs another payment. paylink cannot know whether
         * the card is the order's only payment, so it always says so (README). */
        if (op == PL_OP_SVC_PREAUTH && rep->amount_approved < amount_sent)
            copy(rep->message, sizeof rep->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    }
    if (res->has_balance) {
        rep->svc.has_balance = true;
        rep->svc.balance = res->balance;
    }
    /* seed (Inquiry Response): "Inactive ... OMS displays the message The card is inactive". */
    if (rep->status == PL_ST_APPROVED && op == PL_OP_SVC_INQUIRY &&
        (strcasecmp(res->svc_status, "Inactive") == 0 ||
         strcasecmp(res->account_status, "Inactive") == 0))
        copy(rep->message, sizeof rep->message, PL_STORED_VALUE_INACTIVE_MESSAGE);

    copy(rep->auth.number, sizeof rep->auth.number, res->auth_code);
    copy(rep->auth.date, sizeof rep->auth.date, res->auth_date);
    copy(rep->auth.transaction_id, sizeof rep->auth.transaction_id, res->request_id);

    /* An authorization approved for 0.00 of a non-zero amount: the card holds nothing. As
     * `approved` the order would be told it is paid for nothing (and a deposit could only be
     * declined); it is the decline a J19 batch authorization gets for a balance of 0.00, with
     * no authorization fields (nothing is held). */
    if (rep->status == PL_ST_APPROVED && op == PL_OP_SVC_PREAUTH && rep->amount_approved == 0 &&
        amount_sent > 0)
        pl_stored_value_refuse(no_balance, PL_STORED_VALUE_NO_BALANCE_CODE,
                               PL_STORED_VALUE_PARTIAL_MESSAGE, rep);
}

void pl_stored_value_map(const pl_bureau_result *res, const pl_vendor_response *vr, pl_bureau_op op,
                         int64_t amount_sent, pl_reply *rep)
{
    map(res, vr, true, NULL, op, amount_sent, rep);
}

int pl_stored_value_card(const void *key, size_t keylen, const char *number, char *hash,
                         size_t hashsize, char *masked, size_t masksize)
{
    int rc = pl_card_hmac(key, keylen, number, hash, hashsize);
    if (rc == 0)
        rc = pl_card_mask_log(number, PL_MASK_LAST4, masked, masksize);
    if (rc != 0) {
        if (hashsize)
            hash[0] = '\0';
        if (masksize)
            masked[0] = '\0';
    }
    return rc;
}

static int64_t money_col(const PGresult *r, int col)
{
    int64_t v = 0;
    if (PQgetisnull(r, 0, col) || pl_money_parse_decimal(PQgetvalue(r, 0, col), &v) != 0)
        return 0;
    return v;
}

void pl_stored_value_auth_read(const PGresult *r, int col, pl_stored_value_auth *a)
{
    memset(a, 0, sizeof *a);
    if (!r || PQntuples(r) != 1 || PQnfields(r) < col + PL_STORED_VALUE_AUTH_NCOLUMNS ||
        PQgetisnull(r, 0, col + 8))
        return;
    a->found = true;
    copy(a->request_type, sizeof a->request_type, PQgetvalue(r, 0, col));
    copy(a->status, sizeof a->status, PQgetvalue(r, 0, col + 1));
    a->has_approved = !PQgetisnull(r, 0, col + 2);
    a->approved = money_col(r, col + 2);
    a->deposited = money_col(r, col + 3);
    a->voided = money_col(r, col + 4);
    a->pending = money_col(r, col + 5);
    copy(a->transaction_id, sizeof a->transaction_id, PQgetvalue(r, 0, col + 6));
    copy(a->card_hash, sizeof a->card_hash, PQgetvalue(r, 0, col + 7));
    copy(a->request_id, sizeof a->request_id, PQgetvalue(r, 0, col + 8));
    a->returned = money_col(r, col + 9);
    copy(a->auth_number, sizeof a->auth_number, PQgetvalue(r, 0, col + 10));
    copy(a->merchant_id, sizeof a->merchant_id, PQgetvalue(r, 0, col + 11));
    copy(a->void_deferred_by, sizeof a->void_deferred_by, PQgetvalue(r, 0, col + 12));
}

int64_t pl_stored_value_auth_remaining(const pl_stored_value_auth *a)
{
    int64_t left = a->approved - a->deposited - a->voided - a->pending;
    return left > 0 ? left : 0;
}

bool pl_stored_value_decline(pl_reply *rep, const char *fmt, const char *arg)
{
    rep->status = PL_ST_DECLINED;
    snprintf(rep->message, sizeof rep->message, fmt, arg);
    return true;
}

bool pl_stored_value_auth_refused(const pl_stored_value_auth *a, const char *card_hash,
                                  pl_reply *rep)
{
    if (!a->found)
        return pl_stored_value_decline(rep, "%s",
                                       "The referenced authorization is not known to paylink.");
    if (strcmp(a->request_type, "auth") != 0)
        return pl_stored_value_decline(
            rep, "The referenced request is a stored value %s, not an authorization.",
            a->request_type);
    if (strcmp(a->status, "approved") != 0 || !a->has_approved)
        return pl_stored_value_decline(
            rep, "The authorization was not approved (%s): there is nothing to draw on.",
            a->status);
    if (card_hash && card_hash[0] && strcmp(card_hash, a->card_hash) != 0)
        return pl_stored_value_decline(rep, "%s",
                                       "The authorization is of another stored value card.");
    if (!a->transaction_id[0])
        return pl_stored_value_decline(
            rep, "%s", "The authorization has no bureau transaction id (SVATransactionID).");
    return false;
}

void pl_stored_value_map_answer(const pl_services *s, const pl_service *svc,
                                const pl_bureau_result *res, pl_bureau_op op, int64_t amount_sent,
                                pl_reply *rep)
{
    /* EXT's REJECT / ERROR follow its own rule (seed external-payment-service.txt). */
    if (pl_ext_refusal(s, svc, res, rep))
        return;
    const pl_vendor_response *vr = NULL;
    bool ext = svc && strcmp(svc->protocol, "EXT") == 0;
    if (ext)
        vr = res->reason_code[0] ? pl_services_vendor_response(s, svc->code, res->reason_code)
                                 : NULL;
    else if (svc)
        vr = pl_services_vendor_response_svc(s, svc->code, res->error_code, res->reason_code);
    map(res, vr, !ext, pl_stored_value_refusal_row(s, svc, PL_STORED_VALUE_NO_BALANCE_CODE), op,
        amount_sent, rep);
}

bool pl_stored_value_whole_only(pl_bureau_op op)
{
    return op == PL_OP_SVC_ACTIVATE || op == PL_OP_SVC_RECHARGE || op == PL_OP_SVC_POSTAUTH ||
           op == PL_OP_SVC_RETURN;
}

int pl_stored_value_check_whole(pl_bureau_op op, int64_t sent, int64_t approved, const char *what,
                                const char *verb, char *errstr, size_t errstr_size)
{
    if (!pl_stored_value_whole_only(op) || approved >= sent)
        return 0;
    char s[32], a[32];
    if (pl_money_format(sent, s, sizeof s) != 0)
        snprintf(s, sizeof s, "amount");
    if (pl_money_format(approved, a, sizeof a) != 0)
        snprintf(a, sizeof a, "less");
    return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                      "%s %s %s of the %s sent (only an authorization is approved for part of "
                      "its amount)",
                      what, verb, a, s);
}
