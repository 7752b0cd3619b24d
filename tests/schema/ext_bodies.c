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

#define TEST_CARD "4111111111111111"

/* The request behind every call, as the decoder would have filled it. */
static void make_request(pl_request *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->request_id, sizeof r->request_id, "oms-20261126-000042");
    r->company = 1;
    snprintf(r->order, sizeof r->order, "A0000123");
    r->pay_seq = 1;
    snprintf(r->pay_type, sizeof r->pay_type, "VI");
    r->has_amount = true;
    r->amount = 12000;
    snprintf(r->currency, sizeof r->currency, "USD");
    r->online = true;
    r->card.present = true;
    snprintf(r->card.number, sizeof r->card.number, TEST_CARD);
    r->card.exp_month = 12;
    r->card.exp_year = 2030;
    snprintf(r->card.type, sizeof r->card.type, "VI");
    snprintf(r->card.holder, sizeof r->card.holder, "Jane Doe");
    r->bill_to.present = true;
    snprintf(r->bill_to.first_name, sizeof r->bill_to.first_name, "Jane");
    snprintf(r->bill_to.last_name, sizeof r->bill_to.last_name, "Doe");
    snprintf(r->bill_to.street1, sizeof r->bill_to.street1, "1 Main St");
    snprintf(r->bill_to.street2, sizeof r->bill_to.street2, "Suite 5");
    snprintf(r->bill_to.city, sizeof r->bill_to.city, "Boston");
    snprintf(r->bill_to.state, sizeof r->bill_to.state, "MA");
    snprintf(r->bill_to.postal_code, sizeof r->bill_to.postal_code, "02110");
    snprintf(r->bill_to.country, sizeof r->bill_to.country, "US");
    snprintf(r->bill_to.email, sizeof r->bill_to.email, "jane@example.com");
    snprintf(r->bill_to.phone, sizeof r->bill_to.phone, "617-555-0100");
    r->ship_to = r->bill_to;
    snprintf(r->ship_to.first_name, sizeof r->ship_to.first_name, "John");
    r->ship_to.street2[0] = '\0';
}

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
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.service, sizeof cfg.service, "EXT");
    snprintf(cfg.protocol, sizeof cfg.protocol, "EXT");
    snprintf(cfg.message_version, sizeof cfg.message_version, "%s", PL_EXT_DEFAULT_VERSION);

    pl_request cc, svc;
    make_request(&cc);
    /* A stored value request: the card's number is the svc worker's, the token the engine's. */
    make_request(&svc);
    snprintf(svc.request_id, sizeof svc.request_id, "oms-20261126-000043");
    snprintf(svc.pay_type, sizeof svc.pay_type, "GC");
    memset(&svc.card, 0, sizeof svc.card);
    svc.bill_to.present = svc.ship_to.present = false;
    svc.svc.present = true;
    svc.svc.order_line = 2;
    svc.svc.has_issue_amount = true;
    svc.svc.issue_amount = 2500;

    const pl_bureau_call base = {
        .req = &cc,
        .merchant_id = "paylink_test",
        .currency = "USD",
        .amount = 12000,
        .card_token = "tok_7c1e0b5a9f",
        .sub_auth_original_amount = -1,
    };
    pl_bureau_call calls[9];
    for (size_t i = 0; i < 9; i++)
        calls[i] = base;

    calls[0].op = PL_OP_TOKEN;
    calls[0].card_token = NULL;

    calls[1].op = PL_OP_AUTH_CAPTURE;
    calls[1].sub_auth_reason = "INSTALLMENT";
    calls[1].sub_auth_transaction_id = "cit-016150703802094";
    calls[1].sub_auth_original_amount = 36000;
    calls[1].initiator = "MERCHANT";

    calls[2].op = PL_OP_CAPTURE;
    calls[2].ref_request_id = "6150703802094815103008";
    calls[2].ref_auth_code = "831000";
    calls[2].void_remainder = true;

    calls[3].op = PL_OP_CREDIT;
    calls[3].amount = 4500;
    calls[3].ref_request_id = "6150704110834715103010";

    calls[4].op = PL_OP_AUTH_REVERSAL;
    calls[4].ref_request_id = "6150703802094815103008";
    calls[4].ref_auth_code = "831000";

    calls[5].op = PL_OP_SVC_INQUIRY;
    calls[6].op = PL_OP_SVC_GENERATE;
    calls[6].card_token = NULL;
    calls[7].op = PL_OP_SVC_ACTIVATE;
    calls[7].amount = 2500;
    calls[8].op = PL_OP_SVC_RECHARGE;
    calls[8].amount = 5000;
    for (size_t i = 5; i < 9; i++) {
        calls[i].req = &svc;
        calls[i].order = "A0000124";
    }

    int status = 0;
    for (size_t i = 0; i < 9; i++) {
        pl_bureau_msg msg;
        char err[256];
        if (pl_bureau_external.build(&cfg, &calls[i], &msg, err, sizeof err) != 0) {
            fprintf(stderr, "ext_bodies: %s: %s\n", pl_bureau_op_name(calls[i].op), err);
            status = 1;
            continue;
        }
        if (print_line(&msg) != 0) {
            fprintf(stderr, "ext_bodies: %s: out of memory\n", pl_bureau_op_name(calls[i].op));
            status = 1;
        }
        pl_bureau_msg_free(&msg);
    }
    pl_request_free(&cc);
    pl_request_free(&svc);
    return status;
}
