/* ext_rules.c: the External Payment Service's shared rules (see ext_rules.h). */
#include "ext_rules.h"

#include <stdio.h>
#include <string.h>

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

bool pl_ext_refusal(const pl_services *s, const pl_service *svc, const pl_bureau_result *res,
                    pl_reply *rep)
{
    if (!svc || strcmp(svc->protocol, "EXT") != 0 ||
        (strcmp(res->decision, "REJECT") != 0 && strcmp(res->decision, "ERROR") != 0))
        return false;
    const pl_vendor_response *vr =
        res->reason_code[0] ? pl_services_vendor_response(s, svc->code, res->reason_code) : NULL;
    rep->status = PL_ST_DECLINED;
    copy(rep->decision, sizeof rep->decision, res->decision);
    copy(rep->vendor_response, sizeof rep->vendor_response,
         res->reason_code[0] ? res->reason_code : "SU");
    /* seed: "the order goes on AT hold and the authorization is updated as declined when: the
     * reason code passed is not defined as an authorization response code, or ... is defined
     * ... but also has a hold code defined, or no reason code is passed. If no reason code is
     * passed, a response code of SU is applied." A code defined without a hold: no hold. */
    copy(rep->hold_reason, sizeof rep->hold_reason, vr && !vr->hold_reason[0] ? "" : "AT");
    int siebel = pl_siebel_message_for_reason(res->reason_code);
    if (siebel)
        copy(rep->message, sizeof rep->message, pl_siebel_message(siebel));
    else if (res->error_text[0])
        copy(rep->message, sizeof rep->message, res->error_text);
    copy(rep->auth.transaction_id, sizeof rep->auth.transaction_id, res->request_id);
    return true;
}

void pl_ext_subsequent(const pl_request *r, const char *mit_reason, bool supports_resubmission,
                       bool notify_installments, const char *cit_transaction, int64_t cit_amount,
                       char *initiator, size_t isize, char *reason, size_t rsize, char *transaction,
                       size_t tsize, int64_t *original)
{
    *original = -1;
    reason[0] = transaction[0] = '\0';
    if (!r->subsequent_auth.present && !mit_reason) {
        /* The customer placing the order: a cardholder-initiated transaction. */
        snprintf(initiator, isize, "CARDHOLDER");
        return;
    }
    /* A subsequent authorization is merchant-initiated by definition (seed: "an authorization
     * that the system initiates without the customer's active participation"), whatever the
     * request's initiator says. */
    snprintf(initiator, isize, "MERCHANT");
    const char *why = r->subsequent_auth.present ? r->subsequent_auth.reason : mit_reason;
    /* seed: RESUBMIT only where the bureau has Supports Auth Resubmission, INSTALLMENT only for
     * a pay type with Notify of installments; REAUTH otherwise. */
    if (strcmp(why, "RESUBMIT") == 0 && !supports_resubmission)
        why = "REAUTH";
    else if (strcmp(why, "INSTALLMENT") == 0 && !notify_installments)
        why = "REAUTH";
    else if (!*why)
        why = "REAUTH";
    snprintf(reason, rsize, "%s", why);
    snprintf(transaction, tsize, "%s",
             r->subsequent_auth.transaction_id[0] ? r->subsequent_auth.transaction_id
             : cit_transaction                    ? cit_transaction
                                                  : "");
    if (cit_transaction && cit_amount >= 0)
        *original = cit_amount;
}

static bool both_equal(const char *a, const char *b)
{
    return a && b && *a && *b && strcmp(a, b) == 0;
}

bool pl_ext_cit_of_card(const char *cit_hash, const char *cit_token, const char *card_hash,
                        const char *card_token)
{
    return both_equal(cit_hash, card_hash) || both_equal(cit_token, card_token);
}
