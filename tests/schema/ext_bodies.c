/*
 * ext_bodies: builds one request body of each of the nine External Payment Service endpoints
 * with the EXT adapter (common/bureau_external.c), for the checker that validates them against
 * the JSON Schemas of schema/ext/.
 *
 *   ext_bodies
 *
 * Prints one JSON object per line, {"endpoint": "<url_suffix>", "body": <the body>}, in the
 * order getToken, authorization, deposit, return, reversal, balanceInquiry, generateGift,
 * activateGift, rechargeGift. The calls are what the engine makes: the test card
 * 4111111111111111 goes only into getToken, every other message carries a token; the optional
 * members are filled where the contract has them (addresses, subsequent authorization,
 * authorizationCode, orderLine) so the schemas see them. Exit 0, or 1 (and a message on
 * stderr) when a body cannot be built.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "bureau.h"
#include "bureau_external.h"

/* The requests and calls of the adapter's unit test (tests/unit). */
#include "../unit/ext_test_helpers.h"

/* Prints {"endpoint": ..., "body": ...} for one built message; 0 or -1. */
static int print_line(const pl_bureau_msg *msg)
{
    json_object *line = json_object_new_object();
    json_object *body = json_tokener_parse(msg->body);
    if (!line || !body) {
        json_object_put(line);
        json_object_put(body);
        return -1;
    }
    json_object_object_add(line, "endpoint", json_object_new_string(msg->url_suffix));
    json_object_object_add(line, "body", body);
    puts(json_object_to_json_string_ext(line,
                                        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(line);
    return 0;
}

int main(void)
{
    pl_bureau_cfg cfg;
    ext_test_cfg(&cfg);

    /* The calls the engine makes, in the order above (one request each). */
    static const pl_bureau_op ops[] = {PL_OP_TOKEN,        PL_OP_AUTH_CAPTURE,  PL_OP_CAPTURE,
                                       PL_OP_CREDIT,       PL_OP_AUTH_REVERSAL, PL_OP_SVC_INQUIRY,
                                       PL_OP_SVC_GENERATE, PL_OP_SVC_ACTIVATE,  PL_OP_SVC_RECHARGE};
    enum { NCALLS = sizeof ops / sizeof ops[0] };
    pl_request reqs[NCALLS];
    pl_bureau_call calls[NCALLS];
    for (size_t i = 0; i < NCALLS; i++) {
        ext_test_call(&calls[i], ops[i], &reqs[i]);
        /* Every optional member of an address, for the schemas to see. */
        pl_address *b = reqs[i].bill_to;
        snprintf(b->street2, sizeof b->street2, "Suite 5");
        snprintf(b->phone, sizeof b->phone, "617-555-0100");
        if (ext_test_is_svc(ops[i])) {
            /* A gift card's pay type, and its order line and issue amount for generateGift. */
            snprintf(reqs[i].pay_type, sizeof reqs[i].pay_type, "GC");
            reqs[i].svc.order_line = 2;
            reqs[i].svc.has_issue_amount = true;
            reqs[i].svc.issue_amount = 2500;
            calls[i].order = "A0000124";
        }
    }

    calls[1].sub_auth_reason = "INSTALLMENT";
    calls[1].sub_auth_transaction_id = "cit-016150703802094";
    calls[1].sub_auth_original_amount = 36000;
    calls[1].initiator = "MERCHANT";
    calls[2].void_remainder = true;
    calls[3].amount = 4500;
    calls[6].card_token = NULL;
    calls[7].amount = 2500;
    calls[8].amount = 5000;

    int status = 0;
    for (size_t i = 0; i < NCALLS; i++) {
        pl_bureau_msg msg;
        char err[256];
        if (pl_bureau_external.build(&cfg, &calls[i], &msg, err, sizeof err) != 0) {
            fprintf(stderr, "ext_bodies: %s: %s\n", pl_bureau_op_name(calls[i].op), err);
            status = 1;
        } else if (print_line(&msg) != 0) {
            fprintf(stderr, "ext_bodies: %s: out of memory\n", pl_bureau_op_name(calls[i].op));
            status = 1;
        }
        pl_bureau_msg_free(&msg);
        pl_request_free(&reqs[i]);
    }
    return status;
}
