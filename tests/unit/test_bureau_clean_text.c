/*
 * test_bureau_clean_text.c: what the XML bureau adapters (CyberSource, Customer Engagement)
 * write is checked for card numbers after the characters off the keyboard are dropped
 * (pl_xml_add_clean_text): a value that only becomes a card number so is refused, the call not
 * built, while the elements meant to carry one (the card number, the 3-D Secure cryptograms,
 * the merchantTransactionIdentifier) still carry theirs.
 *
 * The values are put straight into the pl_request, as the decoder (which refuses them first,
 * test_request.c) would never leave them: this is the net behind it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bureau.h"
#include "bureau_cybersource.h"
#include "bureau_relate.h"
#include "card.h"
#include "request.h"

#define PAN "4111111111111111"
/* 5555555555554444 with an é between its groups, as bill_to.first_name once brought it. */
#define HIDDEN_MC                                                                                  \
    "5555\xc3\xa9"                                                                                 \
    "5555\xc3\xa9"                                                                                 \
    "5555\xc3\xa9"                                                                                 \
    "4444"

static void cyb_cfg(pl_bureau_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->service, sizeof cfg->service, "CYB");
    snprintf(cfg->protocol, sizeof cfg->protocol, "CYB");
    snprintf(cfg->api_version, sizeof cfg->api_version, "1.121");
    cfg->secret = "key";
}

static void cyb_call(pl_bureau_call *call, pl_request *r)
{
    memset(call, 0, sizeof *call);
    call->op = PL_OP_AUTH;
    call->req = r;
    call->merchant_id = "m1";
    call->currency = "USD";
    call->amount = 12000;
    call->sub_auth_original_amount = -1;
}

/* A request_id whose merchantTransactionIdentifier (15 digits) passes Luhn: a card number to
 * pl_card_contains, sent all the same. */
static void luhn_mti_request_id(char *out, size_t outsize, char mti[16])
{
    for (int i = 0; i < 1000; i++) {
        snprintf(out, outsize, "r-mti-%d", i);
        pl_cybersource_merchant_txn_id(out, mti, 16);
        if (pl_card_contains(mti, strlen(mti)))
            return;
    }
    fail_msg("no request_id of 1000 gives a merchantTransactionIdentifier that passes Luhn");
}

static void test_cybersource(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    cyb_cfg(&cfg);
    pl_request r;
    memset(&r, 0, sizeof r);
    char mti[16];
    luhn_mti_request_id(r.request_id, sizeof r.request_id, mti);
    snprintf(r.order, sizeof r.order, "O1");
    snprintf(r.currency, sizeof r.currency, "USD");
    r.has_amount = true;
    r.amount = 12000;
    r.card.present = true;
    snprintf(r.card.number, sizeof r.card.number, PAN);
    r.card.exp_month = 12;
    r.card.exp_year = 2030;
    /* A hex cryptogram holds a Luhn-valid digit run now and then (request.c). */
    r.authentication.present = true;
    snprintf(r.authentication.cavv, sizeof r.authentication.cavv, "00" PAN "ff");
    snprintf(r.authentication.xid, sizeof r.authentication.xid, PAN);
    r.bill_to = calloc(1, sizeof *r.bill_to);
    assert_non_null(r.bill_to);
    snprintf(r.bill_to->first_name, sizeof r.bill_to->first_name, "Mary");
    snprintf(r.bill_to->street1, sizeof r.bill_to->street1, "Caf\xc3\xa9 12, 4111 Rue 1111");

    pl_bureau_call call;
    cyb_call(&call, &r);
    pl_bureau_msg msg;
    memset(&msg, 0, sizeof msg);
    char err[256] = "";
    int rc = pl_bureau_cybersource.build(&cfg, &call, &msg, err, sizeof err);
    if (rc != 0)
        fail_msg("build: %s", err);
    char want[64];
    snprintf(want, sizeof want, "<merchantTransactionIdentifier>%s<", mti);
    assert_non_null(strstr(msg.body, "<accountNumber>" PAN "</accountNumber>"));
    assert_non_null(strstr(msg.body, want));
    assert_non_null(strstr(msg.body, "<cavv>00" PAN "ff</cavv>"));
    assert_non_null(strstr(msg.body, "<xid>" PAN "</xid>"));
    assert_non_null(strstr(msg.body, "<street1>Caf 12, 4111 Rue 1111</street1>"));
    pl_bureau_msg_free(&msg);

    /* The same card number in a name, hidden by what the bureau message drops: refused. */
    static const char *const hidden[] = {
        HIDDEN_MC,
        "5555\xe2\x80\x8d"
        "5555\xe2\x80\x8d"
        "5555\xe2\x80\x8d"
        "4444", /* zero-width joiner */
        "55555555\x01"
        "55554444", /* a control character */
    };
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        snprintf(r.bill_to->first_name, sizeof r.bill_to->first_name, "%s", hidden[i]);
        memset(&msg, 0, sizeof msg);
        err[0] = '\0';
        assert_int_equal(pl_bureau_cybersource.build(&cfg, &call, &msg, err, sizeof err),
                         PL_ERR_INVALID);
        assert_null(msg.body);
        assert_non_null(strstr(err, "firstName would carry a card number"));
        assert_null(strstr(err, "5555"));
    }
    pl_request_free(&r);
}

static void test_relate(void **state)
{
    (void)state;
    pl_bureau_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.service, sizeof cfg.service, "RLT");
    snprintf(cfg.protocol, sizeof cfg.protocol, "RLT");
    pl_request r;
    memset(&r, 0, sizeof r);
    snprintf(r.request_id, sizeof r.request_id, "0001");
    pl_bureau_call call;
    memset(&call, 0, sizeof call);
    call.op = PL_OP_SVC_PREAUTH;
    call.req = &r;
    /* A stored value card number has no check digit; this one passes Luhn all the same. */
    call.svc_card_number = PAN;
    call.order = "O-1";
    call.amount = 500;
    call.currency = "USD";
    call.now = 1700000000;
    pl_bureau_msg msg;
    memset(&msg, 0, sizeof msg);
    char err[256] = "";
    int rc = pl_bureau_relate.build(&cfg, &call, &msg, err, sizeof err);
    if (rc != 0)
        fail_msg("build: %s", err);
    assert_non_null(strstr(msg.body, "<CardNumber>" PAN "</CardNumber>"));
    pl_bureau_msg_free(&msg);

    /* A redemption names its authorization by the service's own SVATransactionID, which a
     * service numbering with 16 digits makes Luhn-valid one time in ten: it goes, unchecked. */
    call.op = PL_OP_SVC_POSTAUTH;
    call.ref_request_id = PAN;
    memset(&msg, 0, sizeof msg);
    rc = pl_bureau_relate.build(&cfg, &call, &msg, err, sizeof err);
    if (rc != 0)
        fail_msg("build: %s", err);
    assert_non_null(strstr(msg.body, "<SVATransactionID>" PAN "</SVATransactionID>"));
    pl_bureau_msg_free(&msg);
    call.op = PL_OP_SVC_PREAUTH;
    call.ref_request_id = NULL;

    /* An order number that is a card number once DEL is dropped: refused. */
    call.order = "41111111\x7f"
                 "11111111";
    memset(&msg, 0, sizeof msg);
    err[0] = '\0';
    assert_int_equal(pl_bureau_relate.build(&cfg, &call, &msg, err, sizeof err), PL_ERR_INVALID);
    assert_null(msg.body);
    assert_non_null(strstr(err, "RTPTransactionID would carry a card number"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cybersource),
        cmocka_unit_test(test_relate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
