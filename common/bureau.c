/* bureau.c: the registry of bureau adapters and the helpers every adapter shares. */
#include "bureau.h"

#include <stdlib.h>
#include <string.h>

#include "card.h"

const char *pl_bureau_op_name(pl_bureau_op op)
{
    switch (op) {
    case PL_OP_TOKEN:
        return "token";
    case PL_OP_AUTH:
        return "auth";
    case PL_OP_TOKEN_AUTH:
        return "token_auth";
    case PL_OP_CAPTURE:
        return "capture";
    case PL_OP_CREDIT:
        return "credit";
    case PL_OP_AUTH_CAPTURE:
        return "auth_capture";
    case PL_OP_AUTH_REVERSAL:
        return "reversal";
    case PL_OP_SVC_GENERATE:
        return "svc_generate";
    case PL_OP_SVC_ACTIVATE:
        return "svc_activate";
    case PL_OP_SVC_RECHARGE:
        return "svc_recharge";
    case PL_OP_SVC_PREAUTH:
        return "svc_preauth";
    case PL_OP_SVC_POSTAUTH:
        return "svc_postauth";
    case PL_OP_SVC_RETURN:
        return "svc_return";
    case PL_OP_SVC_INQUIRY:
        return "svc_inquiry";
    case PL_OP_SVC_VOID:
        return "svc_void";
    }
    return "unknown";
}

void pl_bureau_msg_free(pl_bureau_msg *m)
{
    if (!m)
        return;
    if (m->body) {
        /* The body may hold a card number and the transaction key. */
        pl_card_wipe(m->body, m->body_len);
        free(m->body);
    }
    m->body = NULL;
    m->body_len = 0;
    pl_card_wipe(m->auth_header, sizeof m->auth_header);
}

const pl_bureau_ops *pl_bureau_find(const char *protocol)
{
    static const pl_bureau_ops *const all[] = {&pl_bureau_cybersource, &pl_bureau_relate,
                                               &pl_bureau_external};
    if (!protocol)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->protocol, protocol) == 0)
            return all[i];
    return NULL;
}
