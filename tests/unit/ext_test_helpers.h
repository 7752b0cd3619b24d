/*
 * ext_test_helpers.h: the External Payment Service calls the EXT adapter's tests share
 * (test_bureau_external.c, and tests/schema/ext_bodies.c, which builds one body per endpoint
 * for the JSON Schema check): a credit card request as the decoder fills it, the adapter's
 * configuration, and a realistic call of every operation, as the engine makes it (the token
 * getToken gave it, the stored value card's number as the svc worker passes it, the earlier
 * transaction's ids for a deposit, return or reversal).
 *
 * Header-only (static inline) and without cmocka, so that a driver without a test framework
 * can include it too. The request is the caller's; its addresses are heap memory, as the
 * decoder's are, so its owner frees it with pl_request_free (which wipes the card number too)
 * before it is filled again and when done.
 */
#ifndef PL_TEST_EXT_TEST_HELPERS_H
#define PL_TEST_EXT_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bureau.h"
#include "bureau_external.h"
#include "request.h"

#define EXT_TEST_PAN "4111111111111111"
#define EXT_TEST_SVC_PAN "9117230675152172" /* a stored value card: no check digit */
#define EXT_TEST_ENGINE_TOKEN "tok_from_gettoken_01"
#define EXT_TEST_MERCHANT "paylink_m1"

/* A heap copy of *a, as pl_request_decode allocates an address (out of memory: abort). */
static inline pl_address *ext_test_address(const pl_address *a)
{
    pl_address *copy = malloc(sizeof *copy);
    if (!copy)
        abort();
    *copy = *a;
    return copy;
}

/* A credit card authorization request with a card, both addresses and a pay type. */
static inline void ext_test_request(pl_request *r)
{
    *r = (pl_request){
        .request_id = "req-0001",
        .company = 7,
        .order = "ORD000123",
        .pay_seq = 2,
        .pay_type = "VI",
        .has_amount = true,
        .amount = 12000,
        .currency = "USD",
        .online = true,
        .card = {.present = true,
                 .number = EXT_TEST_PAN,
                 .exp_month = 12,
                 .exp_year = 2030,
                 .type = "VI",
                 .holder = "Jane Doe"},
        .bill_to = ext_test_address(&(pl_address){.first_name = "Jane",
                                                  .last_name = "Doe",
                                                  .street1 = "1 Main St",
                                                  .city = "Boston",
                                                  .state = "MA",
                                                  .postal_code = "02110",
                                                  .country = "US",
                                                  .email = "jane@example.com",
                                                  .ip = "10.0.0.1"}),
        .ship_to = ext_test_address(&(pl_address){.first_name = "John",
                                                  .last_name = "Roe",
                                                  .street1 = "2 Side Rd",
                                                  .street2 = "Apt 3",
                                                  .city = "Denver",
                                                  .country = "US",
                                                  .phone = "555-0100",
                                                  .shipping_method = "oneday"}),
    };
}

/* The EXT service bureau's configuration: message version 3.0. */
static inline void ext_test_cfg(pl_bureau_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->service, sizeof cfg->service, "EXT");
    snprintf(cfg->protocol, sizeof cfg->protocol, "EXT");
    snprintf(cfg->message_version, sizeof cfg->message_version, "%s", PL_EXT_DEFAULT_VERSION);
}

static inline bool ext_test_is_svc(pl_bureau_op op)
{
    return op >= PL_OP_SVC_GENERATE;
}

/*
 * A realistic call of op on a fresh ext_test_request in *req: a credit card call carries the
 * token getToken gave the engine; a stored value call the card's number (as the svc worker
 * passes it, the request's card number cleared) and the token; a deposit or reversal the
 * authorization's transactionID and code, a return the deposit's transactionID.
 */
static inline void ext_test_call(pl_bureau_call *c, pl_bureau_op op, pl_request *req)
{
    ext_test_request(req);
    *c = (pl_bureau_call){
        .op = op,
        .req = req,
        .merchant_id = EXT_TEST_MERCHANT,
        .currency = "USD",
        .amount = 12000,
        .sub_auth_original_amount = -1,
        .card_token = op != PL_OP_TOKEN ? EXT_TEST_ENGINE_TOKEN : NULL,
    };
    if (ext_test_is_svc(op)) {
        snprintf(req->svc.card_number, sizeof req->svc.card_number, EXT_TEST_SVC_PAN);
        req->svc.present = true;
        memset(req->card.number, 0, sizeof req->card.number);
        c->svc_card_number = EXT_TEST_SVC_PAN;
    }
    if (op == PL_OP_CAPTURE || op == PL_OP_AUTH_REVERSAL || op == PL_OP_SVC_POSTAUTH ||
        op == PL_OP_SVC_VOID) {
        c->ref_request_id = "txn-auth-77";
        c->ref_auth_code = "A1B2C3";
    }
    if (op == PL_OP_CREDIT || op == PL_OP_SVC_RETURN)
        c->ref_request_id = "txn-dep-88";
}

#endif
