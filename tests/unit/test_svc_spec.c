/*
 * test_svc_spec.c: the parts of paylink-svc's spec (workers/svc/svc.h) and of the stored value
 * answer rules it shares with paylink-reversal (common/stored_value.h) that need no database:
 * which operation each request type becomes, how answers map onto replies (with and without a
 * vendor_response row), the deposit rules, the generated card number, the unreachable bureau, and
 * J19's decision after the balance inquiry of a batch authorization (spec->next_call), and which
 * requests are recorded already marked sent (spec->prepare_alone, spec->record_sent).
 * Recording, claims and storing run in tests/e2e/test_svc.sh and test_svc_j19.sh; the statements
 * of record_sent against the schema in tests/integration/test_svc_sent.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "card.h"
#include "db.h"
#include "money.h"
#include "svc.h"
#include "job_test_helpers.h"
#include "spec_test_helpers.h"

static pl_service rlt(void)
{
    pl_service s;
    memset(&s, 0, sizeof s);
    snprintf(s.code, sizeof s.code, "RLT");
    snprintf(s.protocol, sizeof s.protocol, "RLT");
    snprintf(s.merchant_id, sizeof s.merchant_id, "paylink_demo");
    snprintf(s.card_prefix, sizeof s.card_prefix, "85749");
    snprintf(s.card_series, sizeof s.card_series, "06");
    return s;
}

/* The bureau's answer of the test's job (the engine allocates one per job; one job at a time
 * here). */
static pl_bureau_result g_res;

/* A job as the engine hands it to prepare: a decoded request of `type`, no configuration
 * snapshot, no record unit. */
static void job_of(pl_job *job, const pl_service *svc, pl_req_type type, int64_t amount)
{
    memset(job, 0, sizeof *job);
    memset(&g_res, 0, sizeof g_res);
    job->res = &g_res;
    job->reply = job_test_reply();
    job->svc = svc;
    pl_request *r = &job->req;
    r->type = type;
    snprintf(r->request_id, sizeof r->request_id, "s-1");
    snprintf(r->order, sizeof r->order, "4930");
    snprintf(r->service, sizeof r->service, "RLT");
    r->company = 7;
    r->pay_seq = 2;
    if (amount >= 0) {
        r->has_amount = true;
        r->amount = amount;
        snprintf(r->currency, sizeof r->currency, "USD");
    }
    if (type != PL_REQ_SVC_GENERATE) {
        r->svc.present = true;
        snprintf(r->svc.card_number, sizeof r->svc.card_number, "7000000000000001");
    }
}

static int prepare(pl_job *job)
{
    int rc = pl_svc_spec.prepare(job, NULL);
    if (rc == 0)
        assert_true(job_test_reply_empty(job->reply));
    free(job->spec_data);
    job->spec_data = NULL;
    return rc;
}

static void test_every_type_has_its_operation(void **state)
{
    (void)state;
    pl_service svc = rlt();
    static const struct {
        pl_req_type type;
        bool is_virtual;
        pl_bureau_op op;
    } cases[] = {
        {PL_REQ_SVC_GENERATE, true, PL_OP_SVC_GENERATE},
        {PL_REQ_SVC_ACTIVATE, false, PL_OP_SVC_ACTIVATE},
        {PL_REQ_SVC_ACTIVATE, true, PL_OP_SVC_RECHARGE}, /* seed: virtual → Recharge */
        {PL_REQ_SVC_RECHARGE, false, PL_OP_SVC_RECHARGE},
        {PL_REQ_SVC_AUTH, false, PL_OP_SVC_PREAUTH},
        {PL_REQ_SVC_RETURN, false, PL_OP_SVC_RETURN},
        {PL_REQ_SVC_BALANCE, false, PL_OP_SVC_INQUIRY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_job job;
        bool money = cases[i].op != PL_OP_SVC_GENERATE && cases[i].op != PL_OP_SVC_INQUIRY;
        job_of(&job, &svc, cases[i].type, money ? 5000 : -1);
        job.req.svc.is_virtual = cases[i].is_virtual;
        assert_int_equal(pl_svc_operation(&job.req), cases[i].op);
        assert_int_equal(prepare(&job), 0);
        assert_int_equal(job.call.op, cases[i].op);
        assert_ptr_equal(job.call.req, &job.req);
        assert_string_equal(job.call.order, "4930");
        assert_true(job.call.now > 0);
        assert_string_equal(job.merchant_id, "paylink_demo");
        if (cases[i].op == PL_OP_SVC_GENERATE) {
            assert_null(job.call.svc_card_number); /* the bureau gives the card */
        } else {
            assert_string_equal(job.call.svc_card_number, "7000000000000001");
        }
        if (money) {
            assert_int_equal(job.call.amount, 5000);
            assert_string_equal(job.call.currency, "USD");
        }
    }
    pl_request other = {.type = PL_REQ_AUTH};
    assert_int_equal(pl_svc_operation(&other), 0);
}

static void test_activation_amount(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    /* The request's amount, else the card's issue amount. */
    job_of(&job, &svc, PL_REQ_SVC_ACTIVATE, 5000);
    job.req.svc.has_issue_amount = true;
    job.req.svc.issue_amount = 4000;
    assert_int_equal(prepare(&job), 0);
    assert_int_equal(job.call.amount, 5000);
    job_of(&job, &svc, PL_REQ_SVC_ACTIVATE, -1);
    job.req.svc.has_issue_amount = true;
    job.req.svc.issue_amount = 4000;
    assert_int_equal(prepare(&job), 0);
    assert_int_equal(job.call.amount, 4000);
}

static void test_deposit_references(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    /* An authorization paylink does not hold: its SVATransactionID goes as given. */
    job_of(&job, &svc, PL_REQ_SVC_DEPOSIT, 1107);
    job.req.auth_ref.present = true;
    snprintf(job.req.auth_ref.transaction_id, sizeof job.req.auth_ref.transaction_id, "9354");
    snprintf(job.req.auth_ref.number, sizeof job.req.auth_ref.number, "A77");
    assert_int_equal(pl_svc_spec.prepare(&job, NULL), 0);
    assert_int_equal(job.call.op, PL_OP_SVC_POSTAUTH);
    assert_string_equal(job.call.ref_request_id, "9354");
    /* ... with the code the request gives (the External Payment Service's authorizationCode) */
    assert_non_null(job.call.ref_auth_code);
    assert_string_equal(job.call.ref_auth_code, "A77");
    free(job.spec_data);

    /* A paylink authorization the look-up did not find: declined, no call. */
    job_of(&job, &svc, PL_REQ_SVC_DEPOSIT, 1107);
    job.req.auth_ref.present = true;
    snprintf(job.req.auth_ref.request_id, sizeof job.req.auth_ref.request_id, "s-auth");
    assert_int_equal(prepare(&job), 1);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_non_null(strstr(job.reply->message, "not known"));

    /* No authorization at all (the decoder refuses it first; prepare holds too). */
    job_of(&job, &svc, PL_REQ_SVC_DEPOSIT, 1107);
    assert_int_equal(prepare(&job), 1);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
}

/* The look-up's row is read whole: an SVATransactionID of 64 characters (migration 033's
 * column) is not cut, so a deposit or void names the authorization the bureau gave. */
static void test_auth_read_long_transaction_id(void **state)
{
    (void)state;
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    PGresAttDesc cols[PL_STORED_VALUE_AUTH_NCOLUMNS];
    static const char *const names[PL_STORED_VALUE_AUTH_NCOLUMNS] = {
        "request_type",    "status",          "amount_approved",    "amount_deposited",
        "amount_voided",   "amount_pending",  "svc_transaction_id", "card_hash",
        "request_id",      "amount_returned", "auth_number",        "merchant_id",
        "void_deferred_by"};
    memset(cols, 0, sizeof cols);
    for (int i = 0; i < PL_STORED_VALUE_AUTH_NCOLUMNS; i++) {
        cols[i].name = (char *)names[i];
        cols[i].format = 0;
        cols[i].typid = 25; /* text */
        cols[i].typlen = -1;
        cols[i].atttypmod = -1;
    }
    assert_int_equal(PQsetResultAttrs(r, PL_STORED_VALUE_AUTH_NCOLUMNS, cols), 1);
    char id[65];
    memset(id, '7', 64);
    id[64] = '\0';
    const char *values[PL_STORED_VALUE_AUTH_NCOLUMNS] = {
        "auth", "approved", "30.00", "0.00",   "0.00",           "0.00", id,
        "",     "sva-1",    "12.50", "831004", "ext_merchant_e", "svd-2"};
    for (int i = 0; i < PL_STORED_VALUE_AUTH_NCOLUMNS; i++)
        assert_int_equal(PQsetvalue(r, 0, i, (char *)values[i], (int)strlen(values[i])), 1);
    pl_stored_value_auth a;
    pl_stored_value_auth_read(r, 0, &a);
    assert_true(a.found);
    assert_string_equal(a.transaction_id, id);
    assert_int_equal(a.approved, 3000);
    assert_string_equal(a.request_id, "sva-1");
    assert_int_equal(a.returned, 1250);
    /* What a deposit names it by, and the merchant ID it was sent under (053). */
    assert_string_equal(a.auth_number, "831004");
    assert_string_equal(a.merchant_id, "ext_merchant_e");
    /* The deposit whose void of the remainder waits for another claim to end (056). */
    assert_string_equal(a.void_deferred_by, "svd-2");
    PQclear(r);
}

static pl_stored_value_auth auth_of(int64_t approved, int64_t deposited, int64_t pending)
{
    pl_stored_value_auth a = {.found = true,
                              .has_approved = true,
                              .approved = approved,
                              .deposited = deposited,
                              .pending = pending};
    snprintf(a.request_type, sizeof a.request_type, "auth");
    snprintf(a.status, sizeof a.status, "approved");
    snprintf(a.transaction_id, sizeof a.transaction_id, "9354");
    snprintf(a.card_hash, sizeof a.card_hash, "%064d", 7);
    return a;
}

/* A deposit sent with voidRemainder while another deposit was in flight had the bureau release
 * the remainder; its void waits in the books for that deposit (056). Until then the
 * authorization looks as if it had money left: a deposit of it is declined without a call. */
static void test_deposit_of_a_deferred_void_is_declined(void **state)
{
    (void)state;
    char hash[65];
    snprintf(hash, sizeof hash, "%064d", 7);
    pl_stored_value_auth a = auth_of(3000, 1000, 500);
    pl_reply rep = {0};
    assert_false(pl_svc_deposit_refused(&a, hash, 1000, &rep));
    snprintf(a.void_deferred_by, sizeof a.void_deferred_by, "svd-void-1");
    assert_true(pl_svc_deposit_refused(&a, hash, 1000, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_non_null(strstr(rep.message, "svd-void-1"));
    assert_non_null(strstr(rep.message, "released"));
}

/* seed: a deposit greater than the authorization is rejected; paylink answers it itself. */
static void test_deposit_above_the_authorization_is_declined(void **state)
{
    (void)state;
    char hash[65];
    snprintf(hash, sizeof hash, "%064d", 7);
    pl_stored_value_auth a = auth_of(3000, 0, 0);
    pl_reply rep = {0};
    assert_false(pl_svc_deposit_refused(&a, hash, 3000, &rep)); /* all of it */
    assert_int_equal(rep.status, 0);
    assert_true(pl_svc_deposit_refused(&a, hash, 3001, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_non_null(strstr(rep.message, "30.01"));
    assert_non_null(strstr(rep.message, "30.00"));
    assert_non_null(strstr(rep.message, "manually"));

    /* What earlier deposits took, and deposits in flight claim, is no longer there. */
    a = auth_of(3000, 2000, 500);
    assert_int_equal(pl_stored_value_auth_remaining(&a), 500);
    memset(&rep, 0, sizeof rep);
    assert_false(pl_svc_deposit_refused(&a, hash, 500, &rep));
    assert_true(pl_svc_deposit_refused(&a, hash, 501, &rep));
    /* 501 fits what the bureau holds (1,000 left there) but not beside the deposit of 500 in
     * flight or unknown: settling this one by hand could redeem the card twice. */
    assert_null(strstr(rep.message, "Confirm the deposit manually"));
    assert_non_null(strstr(rep.message, "outcome is unknown"));
    assert_non_null(strstr(rep.message, "do not confirm it manually"));
    /* Over what the bureau holds even without the one in flight: not the seed's case either
     * (20.00 of the authorization was deposited already), see the test below. */
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_deposit_refused(&a, hash, 1001, &rep));
    assert_null(strstr(rep.message, "Confirm the deposit manually"));
    assert_non_null(strstr(rep.message, "Authorize again"));
    a.voided = 500;
    assert_int_equal(pl_stored_value_auth_remaining(&a), 0);
}

/* The advice of a refusal of a deposit over what remains of an authorization something drew on:
 * first, so that it is whole whatever the amounts after it (the reply's message is 200 bytes). */
#define DRAWN_ADVICE "Authorize again; do not confirm the deposit manually: it ("

/* The refusal of a deposit over what remains of an authorization something already drew on
 * (deposits, voids, claims in flight), with amounts in minor units; `whole`: the message is not
 * cut (amounts below a million), else cut to the reply's size past its advice. */
static void refused_drawn(int64_t approved, int64_t deposited, int64_t voided, int64_t pending,
                          int64_t amount, bool whole, pl_reply *rep)
{
    char hash[65];
    snprintf(hash, sizeof hash, "%064d", 7);
    pl_stored_value_auth a = auth_of(approved, deposited, pending);
    a.voided = voided;
    memset(rep, 0, sizeof *rep);
    assert_true(pl_svc_deposit_refused(&a, hash, amount, rep));
    assert_int_equal(rep->status, PL_ST_DECLINED);
    assert_string_equal(rep->vendor_response, ""); /* paylink's refusal: no bureau code */
    /* Never the seed's advice: the money is no longer held by this authorization, and
     * confirming the deposit by hand would book it anyway (or redeem the card twice). */
    assert_null(strstr(rep->message, "Confirm the deposit manually"));
    assert_memory_equal(rep->message, DRAWN_ADVICE, strlen(DRAWN_ADVICE));
    assert_non_null(strstr(rep->message, "greater than what remains of the authorization"));
    size_t n = strlen(rep->message);
    if (whole) {
        assert_true(n < sizeof rep->message - 1);
        assert_string_equal(rep->message + n - 2, ").");
    } else {
        assert_int_equal(n, sizeof rep->message - 1);
    }
}

/*
 * seed: "If the deposit amount is greater than any single authorization amount ... You will need
 * to manually confirm the deposit": only for a deposit greater than the authorization itself,
 * nothing of it deposited, voided or claimed. A deposit over what remains of an authorization
 * earlier deposits or voids used up is declined saying what they took and what remains, and
 * asks for a new authorization.
 */
static void test_deposit_after_the_authorization_was_drawn_on(void **state)
{
    (void)state;
    pl_reply rep;
    /* RLT: auth 20.00, deposit d-1 20.00 approved, the order system resends it as d-2. */
    refused_drawn(2000, 2000, 0, 0, 2000, true, &rep);
    assert_non_null(strstr(rep.message, "(0.00 of 20.00:"));
    assert_non_null(strstr(rep.message, "20.00 deposited"));
    assert_non_null(strstr(rep.message, "0.00 voided"));
    /* EXT split shipment with Void auth at deposit: 60.00 of 100.00 deposited, 40.00 voided. */
    refused_drawn(10000, 6000, 4000, 0, 4000, true, &rep);
    assert_non_null(strstr(rep.message, DRAWN_ADVICE "40.00) is greater"));
    assert_non_null(strstr(rep.message, "0.00 of 100.00:"));
    assert_non_null(strstr(rep.message, "60.00 deposited"));
    assert_non_null(strstr(rep.message, "40.00 voided"));
    /* After the `.unused` void of the rest (30.00 deposited, 20.00 voided), and a void alone. */
    refused_drawn(5000, 3000, 2000, 0, 1000, true, &rep);
    assert_non_null(strstr(rep.message, "20.00 voided"));
    refused_drawn(3000, 0, 3000, 0, 1000, true, &rep);
    assert_non_null(strstr(rep.message, "30.00 voided"));
    /* Over the authorization itself while a deposit of it is in flight or unknown: the claim
     * may be money taken already; it is said, and no manual confirmation offered. */
    refused_drawn(3000, 0, 0, 500, 3001, true, &rep);
    assert_non_null(strstr(rep.message, "5.00 in flight"));
    /* The longest amounts whose message is whole (198 bytes). */
    refused_drawn(9999999, 5000000, 2999999, 1000000, 2000001, true, &rep);
    assert_non_null(strstr(rep.message, "99999.99"));
    assert_non_null(strstr(rep.message, "10000.00 in flight"));
    /* The widest amounts: numeric(15,2) rows (9999999999999.99) and a request up to
     * PL_MONEY_MAX, each 16 characters. The figures no longer fit the reply's message and are
     * cut; the advice, first, is whole (before, it came last and was what was cut). */
    refused_drawn(PL_MONEY_MAX, 100000000000000, 100000000000000, 100000000000000, PL_MONEY_MAX,
                  false, &rep);
    assert_non_null(strstr(rep.message,
                           DRAWN_ADVICE "9999999999999.99) is greater than what "
                                        "remains of the authorization (6999999999999.99 of "
                                        "9999999999999.99: 1000000000000.00 deposited"));
    /* Cut from a million up: 1,000,000.00 authorized, 500,000.00 deposited, 300,000.00
     * voided, 100,000.00 in flight, a deposit of 200,000.01. */
    refused_drawn(100000000, 50000000, 30000000, 10000000, 20000001, false, &rep);
    /* Nothing drawn on it: the seed's case, its advice. */
    char hash[65];
    snprintf(hash, sizeof hash, "%064d", 7);
    pl_stored_value_auth a = auth_of(2000, 0, 0);
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_deposit_refused(&a, hash, 2001, &rep));
    assert_non_null(strstr(rep.message, "Confirm the deposit manually"));
    assert_null(strstr(rep.message, "Authorize again"));
}

/* A return naming the deposit it refunds (capture_ref, 042): at most what the deposit took less
 * earlier returns and returns in flight, of an approved deposit of the same card. */
static void test_return_limited_by_its_deposit(void **state)
{
    (void)state;
    char hash[65], other[65];
    snprintf(hash, sizeof hash, "%064d", 7);
    snprintf(other, sizeof other, "%064d", 8);
    pl_stored_value_auth d = auth_of(2000, 0, 0);
    snprintf(d.request_type, sizeof d.request_type, "deposit");
    snprintf(d.request_id, sizeof d.request_id, "s-dep");
    pl_reply rep = {0};
    assert_false(pl_svc_return_refused(&d, hash, 2000, &rep)); /* all of it */
    assert_int_equal(rep.status, 0);
    assert_false(pl_svc_return_refused(&d, "", 2000, &rep)); /* no card hash: not compared */
    assert_true(pl_svc_return_refused(&d, hash, 2001, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_non_null(strstr(rep.message, "20.01"));
    assert_non_null(strstr(rep.message, "20.00"));
    assert_non_null(strstr(rep.message, "less earlier returns"));

    /* Earlier returns, and returns in flight or unknown, are no longer there to give back. */
    d.returned = 1500;
    d.pending = 300;
    memset(&rep, 0, sizeof rep);
    assert_false(pl_svc_return_refused(&d, hash, 200, &rep));
    assert_true(pl_svc_return_refused(&d, hash, 201, &rep));
    assert_non_null(strstr(rep.message, "in progress or its outcome is unknown"));
    assert_non_null(strstr(rep.message, "2.00"));
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_return_refused(&d, hash, 501, &rep));
    assert_non_null(strstr(rep.message, "less earlier returns"));
    /* More claimed than left (never by paylink's own claim): nothing, not a negative amount. */
    d.pending = 900;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_return_refused(&d, hash, 1, &rep));
    assert_non_null(strstr(rep.message, "(0.00)"));

    /* Unknown, not a deposit, not approved, another card: declined, each saying why. */
    static const struct {
        const char *type, *status, *card, *says;
        bool found;
    } cases[] = {
        {"deposit", "approved", "7", "not known to paylink", false},
        {"auth", "approved", "7", "names a stored value auth, not a deposit", true},
        {"return", "approved", "7", "names a stored value return, not a deposit", true},
        {"deposit", "declined", "7", "was not approved (declined)", true},
        {"deposit", "unknown", "7", "was not approved (unknown)", true},
        {"deposit", "approved", "8", "another stored value card", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_stored_value_auth x = auth_of(2000, 0, 0);
        x.found = cases[i].found;
        snprintf(x.request_type, sizeof x.request_type, "%s", cases[i].type);
        snprintf(x.status, sizeof x.status, "%s", cases[i].status);
        memset(&rep, 0, sizeof rep);
        if (!pl_svc_return_refused(&x, cases[i].card[0] == '7' ? hash : other, 100, &rep))
            fail_msg("case %zu: not refused", i);
        assert_int_equal(rep.status, PL_ST_DECLINED);
        if (!strstr(rep.message, cases[i].says))
            fail_msg("case %zu: %s", i, rep.message);
    }
    /* An approved deposit without an amount approved (never stored so): nothing to return. */
    pl_stored_value_auth x = auth_of(2000, 0, 0);
    snprintf(x.request_type, sizeof x.request_type, "deposit");
    x.has_approved = false;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_return_refused(&x, hash, 100, &rep));

    /* prepare: a return naming a deposit the look-up did not find is declined, no call; one
     * without capture_ref is a stand-alone ReturnRequest. */
    pl_service svc = rlt();
    pl_job job;
    job_of(&job, &svc, PL_REQ_SVC_RETURN, 1000);
    job.req.capture_ref.present = true;
    snprintf(job.req.capture_ref.request_id, sizeof job.req.capture_ref.request_id, "s-dep");
    assert_int_equal(prepare(&job), 1);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_non_null(strstr(job.reply->message, "(capture_ref) is not known"));
    job_of(&job, &svc, PL_REQ_SVC_RETURN, 1000);
    assert_int_equal(prepare(&job), 0);
    assert_int_equal(job.call.op, PL_OP_SVC_RETURN);
    assert_int_equal(job.call.amount, 1000);
}

/* A card the Stored Value Card table records as issued for 50.00 USD is activated for that, in
 * that currency, or not at all (seed: the activation amount is the card's issue amount); a
 * card it records no issue amount or currency of, or no row of, is the bureau's to judge. */
static void test_activation_for_its_issue_amount(void **state)
{
    (void)state;
    pl_svc_card_state c = {0};
    pl_reply rep = {0};
    assert_false(pl_svc_activation_amount_refused(&c, 6000, "USD", &rep)); /* no row */
    c.found = true;
    snprintf(c.status, sizeof c.status, "generated");
    assert_false(pl_svc_activation_amount_refused(&c, 6000, "USD", &rep)); /* nothing recorded */
    c.has_issue = true;
    c.issue = 5000;
    snprintf(c.currency, sizeof c.currency, "USD");
    assert_false(pl_svc_activation_amount_refused(&c, 5000, "USD", &rep));
    assert_false(pl_svc_activation_amount_refused(&c, 5000, "", &rep)); /* none in the request */
    assert_int_equal(rep.status, 0);
    assert_true(pl_svc_activation_amount_refused(&c, 6000, "USD", &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.message, "The activation amount (60.00) is not the card's issue amount "
                                     "(50.00): a card is activated for what it was issued for.");
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_activation_amount_refused(&c, 4999, "USD", &rep)); /* less, too */
    assert_int_equal(rep.status, PL_ST_DECLINED);
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_activation_amount_refused(&c, 5000, "EUR", &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.message, "The activation's currency is not the card's (USD).");
    memset(&rep, 0, sizeof rep);
    c.has_issue = false; /* a currency but no issue amount: the currency still counts */
    assert_false(pl_svc_activation_amount_refused(&c, 123, "USD", &rep));
    assert_true(pl_svc_activation_amount_refused(&c, 123, "CAD", &rep));
}

/* An activation of a card paylink has active, or held by another activation in flight or
 * unknown, is declined without a call (043); a card without a row, or generated and free, goes. */
static void test_activation_once(void **state)
{
    (void)state;
    pl_svc_card_state c = {0};
    pl_reply rep = {0};
    assert_false(pl_svc_activation_refused(&c, "act-2", &rep)); /* no row: the bureau judges */
    c.found = true;
    snprintf(c.status, sizeof c.status, "generated");
    assert_false(pl_svc_activation_refused(&c, "act-2", &rep));
    snprintf(c.pending, sizeof c.pending, "act-2"); /* its own claim */
    assert_false(pl_svc_activation_refused(&c, "act-2", &rep));
    assert_int_equal(rep.status, 0);
    snprintf(c.pending, sizeof c.pending, "act-1");
    assert_true(pl_svc_activation_refused(&c, "act-2", &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_non_null(strstr(rep.message, "Another activation of the card is in progress"));
    assert_null(strstr(rep.message, "act-1")); /* another company's request, maybe */
    memset(&rep, 0, sizeof rep);
    snprintf(c.status, sizeof c.status, "active");
    snprintf(c.activated_by, sizeof c.activated_by, "act-1");
    c.pending[0] = '\0';
    assert_true(pl_svc_activation_refused(&c, "act-2", &rep));
    assert_non_null(strstr(rep.message, "already active"));
    assert_non_null(strstr(rep.message, "recharge"));
    assert_null(strstr(rep.message, "act-1"));

    /* The look-up's card columns, after the row drawn on's; NULLs: no row. */
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    PGresAttDesc cols[5];
    memset(cols, 0, sizeof cols);
    static const char *const names[5] = {"status", "activated_by", "activation_pending",
                                         "issue_amount", "currency"};
    for (int i = 0; i < 5; i++) {
        cols[i].name = (char *)names[i];
        cols[i].typid = 25;
        cols[i].typlen = -1;
        cols[i].atttypmod = -1;
    }
    assert_int_equal(PQsetResultAttrs(r, 5, cols), 1);
    const char *v[5] = {"generated", "", "act-9", "50.00", "USD"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(PQsetvalue(r, 0, i, (char *)v[i], (int)strlen(v[i])), 1);
    pl_svc_card_state_read(r, 0, &c);
    assert_true(c.found);
    assert_string_equal(c.status, "generated");
    assert_string_equal(c.pending, "act-9");
    assert_true(c.has_issue);
    assert_int_equal(c.issue, 5000);
    assert_string_equal(c.currency, "USD");
    /* A row without an issue amount or currency (a card generated without svc.issue_amount). */
    assert_int_equal(PQsetvalue(r, 0, 3, "", 0), 1);
    assert_int_equal(PQsetvalue(r, 0, 4, "", 0), 1);
    pl_svc_card_state_read(r, 0, &c);
    assert_true(c.found);
    assert_false(c.has_issue);
    assert_string_equal(c.currency, "");
    assert_int_equal(PQsetvalue(r, 0, 0, NULL, -1), 1);
    pl_svc_card_state_read(r, 0, &c);
    assert_false(c.found);
    pl_svc_card_state_read(r, 1, &c); /* too few columns */
    assert_false(c.found);
    PQclear(r);

    /* prepare: no record unit, no card row: the activation goes. */
    pl_service svc = rlt();
    pl_job job;
    job_of(&job, &svc, PL_REQ_SVC_ACTIVATE, 5000);
    assert_int_equal(prepare(&job), 0);
    assert_int_equal(job.call.op, PL_OP_SVC_ACTIVATE);
}

static void test_deposit_needs_an_approved_auth_of_the_card(void **state)
{
    (void)state;
    char hash[65];
    snprintf(hash, sizeof hash, "%064d", 7);
    pl_stored_value_auth a = auth_of(3000, 0, 0);
    pl_reply rep = {0};
    assert_true(pl_svc_deposit_refused(&a, "another", 100, &rep));
    assert_non_null(strstr(rep.message, "another stored value card"));

    a = auth_of(3000, 0, 0);
    snprintf(a.status, sizeof a.status, "declined");
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_deposit_refused(&a, hash, 100, &rep));
    assert_non_null(strstr(rep.message, "declined"));

    a = auth_of(3000, 0, 0);
    snprintf(a.request_type, sizeof a.request_type, "balance");
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_deposit_refused(&a, hash, 100, &rep));
    assert_non_null(strstr(rep.message, "balance, not an authorization"));

    a = auth_of(3000, 0, 0);
    a.transaction_id[0] = '\0';
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_deposit_refused(&a, hash, 100, &rep));

    pl_stored_value_auth none = {0};
    memset(&rep, 0, sizeof rep);
    assert_true(pl_svc_deposit_refused(&none, hash, 100, &rep));
    assert_int_equal(rep.status, PL_ST_DECLINED);
}

/* A parsed answer as the Customer Engagement adapter fills it. */
static pl_bureau_result answer(const char *reason, int64_t amount, int64_t balance)
{
    pl_bureau_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.reason_code, sizeof res.reason_code, "%s", reason);
    snprintf(res.request_id, sizeof res.request_id, "9354");
    snprintf(res.auth_code, sizeof res.auth_code, "0000009354000389");
    snprintf(res.auth_date, sizeof res.auth_date, "2010-08-25T09:44:26-0400");
    snprintf(res.svc_status, sizeof res.svc_status, "Active");
    snprintf(res.account_status, sizeof res.account_status, "Active");
    if (amount >= 0) {
        res.has_amount = true;
        res.amount = amount;
    }
    if (balance >= 0) {
        res.has_balance = true;
        res.balance = balance;
    }
    return res;
}

static pl_vendor_response row(const char *code, bool approved, const char *hold)
{
    pl_vendor_response v;
    memset(&v, 0, sizeof v);
    snprintf(v.service, sizeof v.service, "RLT");
    snprintf(v.code, sizeof v.code, "%s", code);
    snprintf(v.kind, sizeof v.kind, "reason");
    snprintf(v.hold_reason, sizeof v.hold_reason, "%s", hold);
    v.approved = approved;
    return v;
}

static void test_map_approved(void **state)
{
    (void)state;
    pl_bureau_result res = answer("24", 2000, 3000);
    pl_vendor_response vr = row("R24", true, "");
    pl_reply rep = {0};
    pl_stored_value_map(&res, &vr, PL_OP_SVC_PREAUTH, 2000, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_true(rep.has_amount_approved);
    assert_int_equal(rep.amount_approved, 2000);
    assert_string_equal(rep.vendor_response, "R24");
    assert_string_equal(rep.message, ""); /* the status's own message */
    assert_string_equal(rep.auth.number, "0000009354000389");
    assert_string_equal(rep.auth.transaction_id, "9354");
    assert_string_equal(rep.auth.date, "2010-08-25T09:44:26-0400");
    assert_true(rep.svc.has_balance);
    assert_int_equal(rep.svc.balance, 3000);
    assert_string_equal(rep.hold_reason, "");

    /* No row maps it: the reason code itself; no SVAAmount: the amount sent. */
    res = answer("26", -1, -1);
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_POSTAUTH, 1107, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_string_equal(rep.vendor_response, "26");
    assert_int_equal(rep.amount_approved, 1107);
    assert_false(rep.svc.has_balance);

    /* A generate and an inquiry move no money. */
    res = answer("", -1, -1);
    snprintf(res.response_code, sizeof res.response_code, "OK");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_false(rep.has_amount_approved);
    assert_string_equal(rep.vendor_response, "OK"); /* its ResponseCode: nothing else says */
}

static void test_map_partial_approval(void **state)
{
    (void)state;
    /* seed: 100.00 asked, the card holds 30.00: approved for 30.00, another payment needed. */
    pl_bureau_result res = answer("24", 3000, 0);
    pl_reply rep = {0};
    pl_stored_value_map(&res, NULL, PL_OP_SVC_PREAUTH, 10000, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_int_equal(rep.amount_approved, 3000);
    assert_string_equal(rep.message, "Insufficient balance on card - please add another payment");
    assert_string_equal(PL_STORED_VALUE_PARTIAL_MESSAGE, rep.message);
    /* Only an authorization is partial. */
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_POSTAUTH, 10000, &rep);
    assert_string_equal(rep.message, "");
}

static void test_map_declined_mapped_and_unmapped(void **state)
{
    (void)state;
    pl_bureau_result res = answer("", -1, -1);
    snprintf(res.error_code, sizeof res.error_code, "INSUFFICIENT_FUNDS");
    snprintf(res.error_text, sizeof res.error_text, "The card has no available balance.");
    pl_vendor_response vr = row("NOFUNDS", false, "AT");
    pl_reply rep = {0};
    pl_stored_value_map(&res, &vr, PL_OP_SVC_PREAUTH, 2000, &rep);
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.vendor_response, "NOFUNDS");
    assert_string_equal(rep.hold_reason, "AT");
    assert_string_equal(rep.message, "The card has no available balance.");
    assert_false(rep.has_amount_approved);

    /* No row maps ALL_CARDS_GENERATED: the ErrorCode itself, cut to 10 characters. */
    res = answer("", -1, -1);
    snprintf(res.response_code, sizeof res.response_code, "Rejected");
    snprintf(res.error_code, sizeof res.error_code, "ALL_CARDS_GENERATED");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_DECLINED);
    assert_string_equal(rep.vendor_response, "ALL_CARDS_");
    assert_string_equal(rep.hold_reason, "");
    char code[16];
    pl_stored_value_code(&res, code, sizeof code);
    assert_string_equal(code, "ALL_CARDS_");

    /* ResponseCode="Rejected" alone is a decline too. */
    res = answer("", -1, -1);
    snprintf(res.response_code, sizeof res.response_code, "Rejected");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_GENERATE, 0, &rep);
    assert_int_equal(rep.status, PL_ST_DECLINED);
}

static void test_map_inactive_balance(void **state)
{
    (void)state;
    pl_bureau_result res = answer("16", 0, 0);
    snprintf(res.svc_status, sizeof res.svc_status, "Inactive");
    pl_reply rep = {0};
    pl_stored_value_map(&res, NULL, PL_OP_SVC_INQUIRY, 0, &rep);
    assert_int_equal(rep.status, PL_ST_APPROVED);
    assert_string_equal(rep.message, "The card is inactive");
    assert_true(rep.svc.has_balance);
    assert_int_equal(rep.svc.balance, 0);
    assert_false(rep.has_amount_approved);
    /* AccountStatus says it as well. */
    res = answer("16", 0, 5000);
    snprintf(res.account_status, sizeof res.account_status, "INACTIVE");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_INQUIRY, 0, &rep);
    assert_string_equal(rep.message, PL_STORED_VALUE_INACTIVE_MESSAGE);
    /* An active card: its balance, the status's message. */
    res = answer("16", 0, 5000);
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_INQUIRY, 0, &rep);
    assert_string_equal(rep.message, "");
    assert_int_equal(rep.svc.balance, 5000);
}

static void test_map_error(void **state)
{
    (void)state;
    pl_bureau_result res = answer("", -1, -1);
    snprintf(res.fault_code, sizeof res.fault_code, "SOAP-ENV:Client");
    pl_reply rep = {0};
    pl_stored_value_map(&res, NULL, PL_OP_SVC_PREAUTH, 2000, &rep);
    assert_int_equal(rep.status, PL_ST_ERROR);
    assert_non_null(strstr(rep.message, "SOAP-ENV:Client"));
    assert_false(rep.has_amount_approved);

    /* The bureau failing (CONTRACT.md §3's 150) is an error, not a decline of the card. */
    res = answer("", -1, -1);
    snprintf(res.error_code, sizeof res.error_code, "SYSTEM_ERROR");
    memset(&rep, 0, sizeof rep);
    pl_stored_value_map(&res, NULL, PL_OP_SVC_PREAUTH, 15000, &rep);
    assert_int_equal(rep.status, PL_ST_ERROR);
    assert_string_equal(rep.vendor_response, "SYSTEM_ERR");
}

/* The spec's map, without a configuration snapshot: the same rules, no vendor_response row. */
static void test_spec_map(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    job_of(&job, &svc, PL_REQ_SVC_AUTH, 10000);
    job.call.op = PL_OP_SVC_PREAUTH;
    job.call.amount = 10000;
    *job.res = answer("24", 3000, 0);
    pl_svc_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_int_equal(job.reply->amount_approved, 3000);
    assert_string_equal(job.reply->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    assert_string_equal(job.reply_card_number_once, "");
}

static void test_take_generated_card(void **state)
{
    (void)state;
    static const char key[] = "0123456789abcdef0123456789abcdef";
    pl_job job;
    memset(&job, 0, sizeof job);
    memset(&g_res, 0, sizeof g_res);
    job.res = &g_res;
    job.reply = job_test_reply();
    snprintf(job.res->svc_card_number, sizeof job.res->svc_card_number, "8574906000000001");
    assert_int_equal(pl_svc_take_card(&job, key, sizeof key - 1), 0);
    assert_string_equal(job.card_masked, "************0001");
    assert_string_equal(job.reply->svc.card_number, "************0001"); /* stored, replayed */
    assert_string_equal(job.reply_card_number_once, "8574906000000001"); /* published once */
    assert_int_equal(strlen(job.card_hash), 64);
    char hash[65];
    assert_int_equal(pl_card_hmac(key, sizeof key - 1, "8574906000000001", hash, sizeof hash), 0);
    assert_string_equal(job.card_hash, hash);
    for (size_t i = 0; i < sizeof job.res->svc_card_number; i++)
        assert_int_equal(job.res->svc_card_number[i], 0); /* wiped */

    /* Not a card number: nothing taken, and wiped all the same. */
    memset(&job, 0, sizeof job);
    memset(&g_res, 0, sizeof g_res);
    job.res = &g_res;
    job.reply = job_test_reply();
    snprintf(job.res->svc_card_number, sizeof job.res->svc_card_number, "85749-06-01");
    assert_int_not_equal(pl_svc_take_card(&job, key, sizeof key - 1), 0);
    assert_string_equal(job.card_masked, "");
    assert_string_equal(job.reply_card_number_once, "");
    assert_string_equal(job.res->svc_card_number, "");
}

static void test_unreachable_balance_is_zero(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    job_of(&job, &svc, PL_REQ_SVC_BALANCE, -1);
    job.reply->status = PL_ST_ERROR;
    pl_svc_spec.unreachable(&job);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_true(job.reply->svc.has_balance);
    assert_int_equal(job.reply->svc.balance, 0);
    assert_non_null(strstr(job.reply->message, "UNAVAILABLE"));
    char *json = pl_reply_to_json(&job.req, job.reply);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"balance\":\"0.00\""));
    free(json);

    job_of(&job, &svc, PL_REQ_SVC_AUTH, 2000);
    pl_svc_spec.unreachable(&job);
    assert_false(job.reply->svc.has_balance);
}

/* ---- J19: the balance inquiry before a batch authorization ---------------------------------- */

/* An InquiryResponse as the adapter reads it: status, balance (< 0: none). */
static pl_bureau_result inquiry_answer(const char *status, int64_t balance)
{
    pl_bureau_result res = answer("16", 0, balance);
    snprintf(res.svc_status, sizeof res.svc_status, "%s", status);
    snprintf(res.account_status, sizeof res.account_status, "%s", status);
    return res;
}

static void test_j19_decide(void **state)
{
    (void)state;
    int64_t amount = -1;
    pl_bureau_result res = inquiry_answer("Active", 3000);
    /* The balance is short: authorize what the card holds. */
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 10000, &amount), PL_SVC_J19_PREAUTH);
    assert_int_equal(amount, 3000);
    /* Enough on the card (also exactly enough): the amount asked. */
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 2000, &amount), PL_SVC_J19_PREAUTH);
    assert_int_equal(amount, 2000);
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 3000, &amount), PL_SVC_J19_PREAUTH);
    assert_int_equal(amount, 3000);
    /* Nothing on the card: no authorization. */
    res = inquiry_answer("Active", 0);
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 10000, &amount),
                     PL_SVC_J19_NO_BALANCE);
    assert_int_equal(amount, 0);
    res.balance = -500; /* a negative balance (if a bureau ever said one) holds nothing */
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 10000, &amount),
                     PL_SVC_J19_NO_BALANCE);
    /* Inactive (either status says it), whatever the balance. */
    res = inquiry_answer("Inactive", 5000);
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 100, &amount), PL_SVC_J19_INACTIVE);
    assert_int_equal(amount, 0);
    res = inquiry_answer("Active", 0);
    snprintf(res.account_status, sizeof res.account_status, "INACTIVE");
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 100, &amount), PL_SVC_J19_INACTIVE);
    /* No balance in the answer: the amount asked, the bureau decides (as without J19). */
    res = inquiry_answer("Active", -1);
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_APPROVED, 10000, &amount), PL_SVC_J19_PREAUTH);
    assert_int_equal(amount, 10000);
    /* The inquiry itself declined or failed: its answer is the authorization's. */
    res = inquiry_answer("Active", 5000);
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_DECLINED, 100, &amount), PL_SVC_J19_ANSWERED);
    assert_int_equal(pl_svc_j19_decide(&res, PL_ST_ERROR, 100, &amount), PL_SVC_J19_ANSWERED);
}

/* A batch auth of `amount` on a bureau with J19 (or not), prepared: the call the engine makes. */
static void j19_job(pl_job *job, pl_service *svc, bool j19, bool online, int64_t amount)
{
    svc->balance_inquiry_batch = j19;
    job_of(job, svc, PL_REQ_SVC_AUTH, amount);
    job->req.online = online;
    assert_int_equal(pl_svc_spec.prepare(job, NULL), 0);
}

/* The engine's steps after an answer: map, then ask the spec for a next call. */
static int answered(pl_job *job, pl_bureau_result res)
{
    *job->res = res;
    memset(job->reply, 0, sizeof *job->reply);
    pl_svc_spec.map(job);
    return pl_svc_spec.next_call(job);
}

static void test_j19_only_batch_auths_on_j19_bureaus(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    j19_job(&job, &svc, true, false, 10000);
    assert_int_equal(job.call.op, PL_OP_SVC_INQUIRY);
    assert_string_equal(job.call.svc_card_number, "7000000000000001");
    free(job.spec_data);
    /* Online: one PreauthorizationRequest, as always. */
    j19_job(&job, &svc, true, true, 10000);
    assert_int_equal(job.call.op, PL_OP_SVC_PREAUTH);
    assert_int_equal(job.call.amount, 10000);
    assert_int_equal(answered(&job, answer("24", 10000, 0)), 0);
    free(job.spec_data);
    /* A bureau without J19: one PreauthorizationRequest, also in batch. */
    j19_job(&job, &svc, false, false, 10000);
    assert_int_equal(job.call.op, PL_OP_SVC_PREAUTH);
    assert_int_equal(answered(&job, answer("24", 3000, 0)), 0);
    assert_int_equal(job.reply->amount_approved, 3000);
    assert_string_equal(job.reply->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    free(job.spec_data);
    /* Other types are never J19. */
    svc.balance_inquiry_batch = true;
    job_of(&job, &svc, PL_REQ_SVC_RETURN, 1000);
    job.req.online = false;
    assert_int_equal(prepare(&job), 0);
    assert_int_equal(job.call.op, PL_OP_SVC_RETURN);
}

/* 100.00 asked, 30.00 on the card: a PreauthorizationRequest for 30.00, approved partial. */
static void test_j19_balance_below_the_amount(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    j19_job(&job, &svc, true, false, 10000);
    assert_int_equal(answered(&job, inquiry_answer("Active", 3000)), 1);
    assert_int_equal(job.call.op, PL_OP_SVC_PREAUTH);
    assert_int_equal(job.call.amount, 3000); /* the hold never exceeds the balance */
    assert_true(job.call.now > 0);
    assert_string_equal(job.call.svc_card_number, "7000000000000001");
    assert_string_equal(job.call.order, "4930");
    assert_string_equal(job.call.currency, "USD");
    /* The bureau approves all of what was sent: partial against what was asked. */
    assert_int_equal(answered(&job, answer("24", 3000, 0)), 0);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_true(job.reply->has_amount_approved);
    assert_int_equal(job.reply->amount_approved, 3000);
    assert_string_equal(job.reply->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    assert_string_equal(job.reply->auth.transaction_id, "9354");
    /* No SVAAmount in the answer: the amount sent, not the one asked. */
    job.call.op = PL_OP_SVC_PREAUTH;
    assert_int_equal(answered(&job, answer("24", -1, -1)), 0);
    assert_int_equal(job.reply->amount_approved, 3000);
    assert_string_equal(job.reply->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    free(job.spec_data);
}

static void test_j19_balance_covers_the_amount(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    j19_job(&job, &svc, true, false, 2000);
    assert_int_equal(answered(&job, inquiry_answer("Active", 5000)), 1);
    assert_int_equal(job.call.op, PL_OP_SVC_PREAUTH);
    assert_int_equal(job.call.amount, 2000);
    assert_int_equal(answered(&job, answer("24", 2000, 3000)), 0);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_int_equal(job.reply->amount_approved, 2000);
    assert_string_equal(job.reply->message, "");
    /* A bureau that approves less even so: partial, as always. */
    job.call.op = PL_OP_SVC_PREAUTH;
    assert_int_equal(answered(&job, answer("24", 1500, 0)), 0);
    assert_string_equal(job.reply->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    free(job.spec_data);
}

static void test_j19_zero_balance_is_declined_without_an_authorization(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    j19_job(&job, &svc, true, false, 10000);
    assert_int_equal(answered(&job, inquiry_answer("Active", 0)), 0);
    assert_int_equal(job.call.op, PL_OP_SVC_INQUIRY); /* nothing more is sent */
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_string_equal(job.reply->message, PL_STORED_VALUE_PARTIAL_MESSAGE);
    /* No vendor_response row here: the ErrorCode a Preauthorization would be declined with. */
    assert_string_equal(job.reply->vendor_response, "INSUFFICIE");
    assert_false(job.reply->has_amount_approved);
    assert_true(job.reply->svc.has_balance);
    assert_int_equal(job.reply->svc.balance, 0);
    assert_string_equal(job.reply->auth.transaction_id, ""); /* nothing was authorized */
    assert_string_equal(job.reply->auth.number, "");
    char *json = pl_reply_to_json(&job.req, job.reply);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"status\":\"declined\""));
    assert_null(strstr(json, "amount_approved"));
    free(json);
    free(job.spec_data);
}

static void test_j19_inactive_card_is_declined_without_an_authorization(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    j19_job(&job, &svc, true, false, 10000);
    assert_int_equal(answered(&job, inquiry_answer("Inactive", 2500)), 0);
    assert_int_equal(job.call.op, PL_OP_SVC_INQUIRY);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_string_equal(job.reply->message, "The card is inactive"); /* seed */
    assert_string_equal(job.reply->vendor_response, "CARD_INACT");
    assert_false(job.reply->has_amount_approved);
    free(job.spec_data);
}

/* What svc_store writes for the job's answer (one execution of svc_store): parameter k. */
static const char *stored(pl_job *job, pl_db_unit **u, int k)
{
    if (!*u) {
        *u = pl_db_unit_new(NULL, NULL);
        assert_non_null(*u);
        assert_int_equal(pl_svc_spec.store(job, *u), 0);
        assert_string_equal(pl_db_unit_stmt(*u, 0), "svc_store");
    }
    const char *v = pl_db_unit_param(*u, 0, k);
    return v ? v : "(null)";
}

/*
 * A J19 authorization declined after its balance inquiry stores no authorization fields: the
 * answer at hand is the inquiry's, whose SVATransactionID names no authorization. On the
 * declined `auth` row it would be found by paylink_svc_auth_by_transaction, so a deposit or
 * void naming that id would draw on this row. The PreauthorizationRequest's answer stores its
 * own.
 */
static void test_j19_decline_stores_no_inquiry_transaction(void **state)
{
    (void)state;
    pl_service svc = rlt();
    static const struct {
        const char *status;
        int64_t balance;
    } cases[] = {{"Active", 0}, {"Inactive", 2500}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_job job;
        j19_job(&job, &svc, true, false, 10000);
        pl_bureau_result inq = inquiry_answer(cases[i].status, cases[i].balance);
        assert_string_equal(inq.request_id, "9354"); /* the inquiry's SVATransactionID */
        assert_int_equal(answered(&job, inq), 0);
        assert_int_equal(job.reply->status, PL_ST_DECLINED);
        assert_string_equal(job.reply->auth.transaction_id, "");
        pl_db_unit *u = NULL;
        assert_string_equal(stored(&job, &u, 1), "declined");
        assert_string_equal(stored(&job, &u, 3), ""); /* error_code */
        assert_string_equal(stored(&job, &u, 4), ""); /* reason_code */
        assert_string_equal(stored(&job, &u, 6), ""); /* svc_transaction_id */
        assert_string_equal(stored(&job, &u, 7), ""); /* auth_number */
        assert_string_equal(stored(&job, &u, 8), ""); /* auth_date */
        assert_non_null(strstr(stored(&job, &u, 12), "J19 balance inquiry"));
        pl_db_unit_free(u);
        free(job.spec_data);
    }
    /* The inquiry refused (an unknown card; the External Payment Service gives a refused
     * inquiry a transactionID, and the answer may carry a number and date, too): its answer is
     * the authorization's, its code and vendor response kept, no authorization fields, neither
     * in the reply nor on the row (before, the reply published the inquiry's id, number and
     * date as the authorization's, and the row stored the number and date). */
    pl_job job;
    j19_job(&job, &svc, true, false, 10000);
    pl_bureau_result refused = answer("NF", -1, -1);
    snprintf(refused.error_code, sizeof refused.error_code, "CARD_NOT_FOUND");
    assert_int_equal(answered(&job, refused), 0);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_string_equal(job.reply->vendor_response, "CARD_NOT_F");
    assert_string_equal(job.reply->auth.transaction_id, "");
    assert_string_equal(job.reply->auth.number, "");
    assert_string_equal(job.reply->auth.date, "");
    pl_db_unit *u = NULL;
    assert_string_equal(stored(&job, &u, 2), "CARD_NOT_F"); /* vendor_response */
    assert_string_equal(stored(&job, &u, 3), "CARD_NOT_FOUND");
    assert_string_equal(stored(&job, &u, 4), "NF");
    assert_string_equal(stored(&job, &u, 6), "");
    assert_string_equal(stored(&job, &u, 7), ""); /* auth_number */
    assert_string_equal(stored(&job, &u, 8), ""); /* auth_date */
    pl_db_unit_free(u);
    free(job.spec_data);
    /* The inquiry failed at the bureau (SYSTEM_ERROR): no authorization fields either. */
    j19_job(&job, &svc, true, false, 10000);
    refused = answer("", -1, -1);
    snprintf(refused.error_code, sizeof refused.error_code, "SYSTEM_ERROR");
    assert_int_equal(answered(&job, refused), 0);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_string_equal(job.reply->auth.transaction_id, "");
    assert_string_equal(job.reply->auth.number, "");
    u = NULL;
    assert_string_equal(stored(&job, &u, 7), "");
    assert_string_equal(stored(&job, &u, 8), "");
    pl_db_unit_free(u);
    free(job.spec_data);
    /* The PreauthorizationRequest sent after the inquiry: its answer's id and reason. */
    j19_job(&job, &svc, true, false, 10000);
    assert_int_equal(answered(&job, inquiry_answer("Active", 3000)), 1);
    pl_bureau_result pre = answer("24", 3000, 0);
    snprintf(pre.request_id, sizeof pre.request_id, "9355");
    assert_int_equal(answered(&job, pre), 0);
    assert_string_equal(job.reply->auth.transaction_id, "9355");
    assert_string_equal(job.reply->auth.number, "0000009354000389");
    u = NULL;
    assert_string_equal(stored(&job, &u, 1), "approved");
    assert_string_equal(stored(&job, &u, 4), "24");
    assert_string_equal(stored(&job, &u, 6), "9355");
    assert_string_equal(stored(&job, &u, 7), "0000009354000389");
    assert_string_equal(stored(&job, &u, 12), "");
    pl_db_unit_free(u);
    free(job.spec_data);
}

/* The inquiry itself declined or failed: that answer is the authorization's, nothing more sent. */
static void test_j19_inquiry_declined_or_failed(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    j19_job(&job, &svc, true, false, 10000);
    /* The inquiry declined (an unknown card): its own answer, nothing more sent. */
    pl_bureau_result res = answer("", -1, -1);
    snprintf(res.error_code, sizeof res.error_code, "CARD_NOT_FOUND");
    snprintf(res.error_text, sizeof res.error_text, "The card was not found.");
    assert_int_equal(answered(&job, res), 0);
    assert_int_equal(job.call.op, PL_OP_SVC_INQUIRY);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_string_equal(job.reply->message, "The card was not found.");
    assert_string_equal(job.reply->vendor_response, "CARD_NOT_F");
    free(job.spec_data);
    /* The inquiry failed at the bureau: error, no authorization either. */
    j19_job(&job, &svc, true, false, 10000);
    res = answer("", -1, -1);
    snprintf(res.error_code, sizeof res.error_code, "SYSTEM_ERROR");
    assert_int_equal(answered(&job, res), 0);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_int_equal(job.call.op, PL_OP_SVC_INQUIRY);
    free(job.spec_data);
}

/*
 * spec->prepare_alone: every request is recorded already marked sent (one statement) except a
 * deposit, which reads the authorization it names in its record unit (prepare decides on it)
 * and claims its amount in its mark: by request id, or by SVATransactionID alone (which may be
 * one of paylink's authorizations: the record unit finds out). Each one that reads nothing is
 * prepared without a record unit.
 */
static void test_prepare_alone_by_type(void **state)
{
    (void)state;
    pl_service svc = rlt();
    static const struct {
        pl_req_type type;
        bool is_virtual, online, j19;
        const char *auth_request_id, *auth_transaction_id;
        bool alone;
    } cases[] = {
        {PL_REQ_SVC_GENERATE, true, true, false, NULL, NULL, true},
        /* An activation reads its card's row and claims it (043). */
        {PL_REQ_SVC_ACTIVATE, false, true, false, NULL, NULL, false},
        {PL_REQ_SVC_ACTIVATE, true, true, false, NULL, NULL, false},
        {PL_REQ_SVC_RECHARGE, false, true, false, NULL, NULL, true},
        {PL_REQ_SVC_AUTH, false, true, false, NULL, NULL, true},
        {PL_REQ_SVC_AUTH, false, false, true, NULL, NULL, true}, /* J19: the inquiry first */
        {PL_REQ_SVC_RETURN, false, true, false, NULL, NULL, true},
        {PL_REQ_SVC_BALANCE, false, true, false, NULL, NULL, true},
        {PL_REQ_SVC_DEPOSIT, false, true, false, NULL, "9354", false},
        {PL_REQ_SVC_DEPOSIT, false, true, false, "s-auth", NULL, false},
        {PL_REQ_SVC_DEPOSIT, false, true, false, "s-auth", "9354", false},
        /* A return naming the deposit it refunds reads it and claims on it (042). */
        {PL_REQ_SVC_RETURN, false, true, false, "s-dep", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_job job;
        svc.balance_inquiry_batch = cases[i].j19;
        job_of(&job, &svc, cases[i].type, cases[i].type == PL_REQ_SVC_GENERATE ? -1 : 1107);
        job.req.svc.is_virtual = cases[i].is_virtual;
        job.req.online = cases[i].online;
        if (cases[i].type == PL_REQ_SVC_RETURN && cases[i].auth_request_id) {
            job.req.capture_ref.present = true;
            snprintf(job.req.capture_ref.request_id, sizeof job.req.capture_ref.request_id, "%s",
                     cases[i].auth_request_id);
        } else if (cases[i].auth_request_id || cases[i].auth_transaction_id) {
            job.req.auth_ref.present = true;
            snprintf(job.req.auth_ref.request_id, sizeof job.req.auth_ref.request_id, "%s",
                     cases[i].auth_request_id ? cases[i].auth_request_id : "");
            snprintf(job.req.auth_ref.transaction_id, sizeof job.req.auth_ref.transaction_id, "%s",
                     cases[i].auth_transaction_id ? cases[i].auth_transaction_id : "");
        }
        if (pl_svc_spec.prepare_alone(&job) != cases[i].alone)
            fail_msg("case %zu: prepare_alone is %d", i, !cases[i].alone);
        if (!cases[i].alone)
            continue;
        /* What the engine does then: prepare with no record unit, and the call claims nothing
         * (the mark it replaces would have claimed nothing either). */
        assert_int_equal(pl_svc_spec.prepare(&job, NULL), 0);
        assert_int_not_equal(job.call.op, 0);
        if (cases[i].j19)
            assert_int_equal(job.call.op, PL_OP_SVC_INQUIRY);
        free(job.spec_data);
    }
}

/* The units the spec adds: record is one statement the first time (the insert returning the
 * authorization's look-up), the insert and the look-up (result 1) when the row is read back;
 * record_sent the one statement that replaces record and mark_sent. */
static void test_record_sent_is_one_statement(void **state)
{
    (void)state;
    pl_service svc = rlt();
    pl_job job;
    job_of(&job, &svc, PL_REQ_SVC_AUTH, 1107);
    snprintf(job.fingerprint, sizeof job.fingerprint, "%064d", 0);
    assert_int_equal(pl_svc_spec.prepare(&job, NULL), 0);
    snprintf(job.op_name, sizeof job.op_name, "%s", pl_bureau_op_name(job.call.op));
    snprintf(job.attempt, sizeof job.attempt, "test/1");
    pl_db_unit *u = pl_db_unit_new(NULL, NULL);
    assert_non_null(u);
    job.read_back = false;
    assert_int_equal(pl_svc_spec.record(&job, u), 0);
    assert_int_equal(pl_db_unit_count(u), 1);
    assert_int_equal(pl_svc_spec.mark_sent(&job, u), 0);
    assert_int_equal(pl_db_unit_count(u), 2);
    pl_db_unit_free(u);
    u = pl_db_unit_new(NULL, NULL);
    assert_non_null(u);
    job.read_back = true;
    assert_int_equal(pl_svc_spec.record(&job, u), 0);
    assert_int_equal(pl_db_unit_count(u), 2);
    pl_db_unit_free(u);
    u = pl_db_unit_new(NULL, NULL);
    assert_non_null(u);
    assert_int_equal(pl_svc_spec.record_sent(&job, u), 0);
    assert_int_equal(pl_db_unit_count(u), 1);
    pl_db_unit_free(u);
    free(job.spec_data);
}

/*
 * spec->touch_key (pl_svc_touch_key): what a request's units touch besides its row, so that no
 * merged statement puts two requests on it together (db.h). A deposit that claims: its
 * authorization (its request id, the authorization row's own key); a generate (once its card is
 * taken from the answer), an activation, a recharge: the card's Stored Value Card row, by
 * service bureau and hash; nothing else.
 */
static void test_touch_key(void **state)
{
    (void)state;
    char k[128];
    pl_svc_touch_key("s-auth", "RLT", "ab", k, sizeof k);
    assert_string_equal(k, "s-auth");
    pl_svc_touch_key(NULL, "RLT", "ab", k, sizeof k);
    assert_string_equal(k, "stored_value_card:RLT:ab");
    pl_svc_touch_key("", "RLT", "ab", k, sizeof k);
    assert_string_equal(k, "stored_value_card:RLT:ab");
    pl_svc_touch_key(NULL, "RLT", "", k, sizeof k);
    assert_string_equal(k, "");
    pl_svc_touch_key(NULL, NULL, "ab", k, sizeof k);
    assert_string_equal(k, "");
    assert_non_null(pl_svc_spec.touch_key);

    static const char key[] = "0123456789abcdef0123456789abcdef";
    char hash[65], want[128];
    assert_int_equal(pl_card_hmac(key, sizeof key - 1, "7000000000000001", hash, sizeof hash), 0);
    snprintf(want, sizeof want, "stored_value_card:RLT:%s", hash);
    pl_service svc = rlt();
    static const struct {
        pl_req_type type;
        bool card;
    } cases[] = {
        {PL_REQ_SVC_ACTIVATE, true}, {PL_REQ_SVC_RECHARGE, true}, {PL_REQ_SVC_AUTH, false},
        {PL_REQ_SVC_RETURN, false},  {PL_REQ_SVC_BALANCE, false}, {PL_REQ_SVC_DEPOSIT, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_job job;
        job_of(&job, &svc, cases[i].type, 1107);
        snprintf(job.card_hash, sizeof job.card_hash, "%s", hash); /* as the engine sets it */
        /* Before prepare (the record unit) and after it: a deposit that named no paylink
         * authorization claims nothing. */
        for (int prepared = 0; prepared < 2; prepared++) {
            if (prepared && cases[i].type == PL_REQ_SVC_DEPOSIT) {
                job.req.auth_ref.present = true;
                snprintf(job.req.auth_ref.transaction_id, sizeof job.req.auth_ref.transaction_id,
                         "9354");
            }
            if (prepared)
                assert_int_equal(pl_svc_spec.prepare(&job, NULL), 0);
            pl_svc_spec.touch_key(&job, k, sizeof k);
            if (strcmp(k, cases[i].card ? want : "") != 0)
                fail_msg("case %zu (prepared %d): key \"%s\"", i, prepared, k);
        }
        free(job.spec_data);
    }
    /* A generate: no card until the answer's is taken. */
    pl_job job;
    job_of(&job, &svc, PL_REQ_SVC_GENERATE, -1);
    assert_int_equal(pl_svc_spec.prepare(&job, NULL), 0);
    pl_svc_spec.touch_key(&job, k, sizeof k);
    assert_string_equal(k, "");
    snprintf(job.res->svc_card_number, sizeof job.res->svc_card_number, "7000000000000001");
    assert_int_equal(pl_svc_take_card(&job, key, sizeof key - 1), 0);
    pl_svc_spec.touch_key(&job, k, sizeof k);
    assert_string_equal(k, want);
    free(job.spec_data);
}

/*
 * After a hash key rotation (earlier keys configured), the unit that marks an activation or a
 * recharge sent (or records it sent) also moves the card's Stored Value Card row from an earlier
 * key's hash to the current one (migration 040), after the mark, whose result the engine reads;
 * no other request, and nothing without earlier keys.
 */
static void test_card_rekey_after_rotation(void **state)
{
    (void)state;
    pl_service svc = rlt();
    static const pl_req_type types[] = {PL_REQ_SVC_ACTIVATE, PL_REQ_SVC_RECHARGE, PL_REQ_SVC_AUTH,
                                        PL_REQ_SVC_BALANCE};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int prev = 0; prev <= 2; prev++) {
            pl_job job;
            job_of(&job, &svc, types[t], 2500);
            snprintf(job.card_hash, sizeof job.card_hash, "%064d", 1);
            job.n_card_hash_prev = prev;
            for (int k = 0; k < prev; k++)
                snprintf(job.card_hash_prev[k], sizeof job.card_hash_prev[k], "%064d", 2 + k);
            assert_int_equal(pl_svc_spec.prepare(&job, NULL), 0);
            snprintf(job.op_name, sizeof job.op_name, "%s", pl_bureau_op_name(job.call.op));
            snprintf(job.attempt, sizeof job.attempt, "test/1");
            bool rekeys = prev > 0 && types[t] != PL_REQ_SVC_AUTH && types[t] != PL_REQ_SVC_BALANCE;
            for (int way = 0; way < 2; way++) {
                pl_db_unit *u = pl_db_unit_new(NULL, NULL);
                assert_non_null(u);
                assert_int_equal(way == 0 ? pl_svc_spec.mark_sent(&job, u)
                                          : pl_svc_spec.record_sent(&job, u),
                                 0);
                assert_string_equal(pl_db_unit_stmt(u, 0),
                                    way == 0 ? "svc_mark_sent" : "svc_insert_sent");
                assert_int_equal(pl_db_unit_count(u), rekeys ? 2 : 1);
                if (rekeys) {
                    assert_string_equal(pl_db_unit_stmt(u, 1), "svc_card_rekey");
                    assert_string_equal(pl_db_unit_param(u, 1, 0), "RLT");
                    assert_string_equal(pl_db_unit_param(u, 1, 1), job.card_hash);
                    for (int k = 0; k < 4; k++) {
                        if (k < prev)
                            assert_string_equal(pl_db_unit_param(u, 1, 2 + k),
                                                job.card_hash_prev[k]);
                        else
                            assert_null(pl_db_unit_param(u, 1, 2 + k));
                    }
                }
                pl_db_unit_free(u);
            }
            free(job.spec_data);
        }
    }
}

static void test_spec_shape(void **state)
{
    (void)state;
    const pl_spec *s = &pl_svc_spec;
    assert_string_equal(s->worker, "svc");
    assert_string_equal(s->table, "svc_trans");
    assert_string_equal(s->protocols[0], "RLT");
    assert_string_equal(s->protocols[1], "EXT");
    assert_null(s->protocols[2]);
    /* record (insert and look-up in one) and its merged form (db.h), insert, the authorization
     * look-up, mark sent and its merged form, insert already sent and its merged form, a card
     * row's re-key after a key rotation, store and its merged form */
    assert_int_equal(s->nstmts, 11);
    spec_assert_statements(s);
    for (size_t i = 0; i < s->nstmts; i++)
        assert_non_null(strstr(s->stmts[i].sql, strcmp(s->stmts[i].name, "svc_card_rekey") == 0
                                                    ? "paylink_svc_card_rekey("
                                                    : "svc_trans"));
    /* The store is one statement whose first result says whether it changed the row. */
    const pl_db_stmt *store = spec_stmt(s, "svc_store");
    assert_non_null(strstr(store->sql, "upd AS (UPDATE svc_trans t"));
    assert_non_null(strstr(store->sql, "status IN ('sent', 'unknown')"));
    assert_non_null(strstr(store->sql, "SELECT request_id FROM upd"));
    /* Recorded already sent: the row as marked, and only this attempt's own row taken back. */
    const pl_db_stmt *sent = spec_stmt(s, "svc_insert_sent");
    assert_int_equal(sent->nparams, 20);
    assert_non_null(strstr(sent->sql, "'sent', now(), p17, p18, p19::boolean, p20 FROM e"));
    /* The merchant ID each call went under is recorded, for the calls drawing on it (053). */
    assert_non_null(strstr(spec_stmt(s, "svc_mark_sent")->sql, "merchant_id = me.p8"));
    assert_non_null(strstr(sent->sql, "WHERE svc_trans.status = 'sent' AND "
                                      "svc_trans.sent_by = excluded.sent_by"));
    assert_null(strstr(sent->sql, "claim_amount")); /* it claims nothing */
    assert_non_null(s->prepare_alone);
    assert_non_null(s->record_sent);
    assert_non_null(s->record);
    assert_non_null(s->judge);
    assert_non_null(s->prepare);
    assert_non_null(s->mark_sent);
    assert_non_null(s->map);
    assert_non_null(s->store);
    assert_non_null(s->unreachable);
    assert_non_null(s->next_call);
    /* The mark of a next call takes over only the job's own previous mark. */
    const pl_db_stmt *mark = spec_stmt(s, "svc_mark_sent");
    assert_non_null(strstr(mark->sql, "t.sent_by = e.p6"));
    /* ... and records whether a deposit went with voidRemainder (EXT, 018). */
    assert_non_null(strstr(mark->sql, "void_remainder = me.p7::boolean"));
    assert_int_equal(mark->nparams, 8);
    /* Each claim is found by its own authorization (that svc_mark_sent:many is this statement
     * over each execution's parameters is spec_assert_statements', above). */
    assert_non_null(strstr(mark->sql, "EXISTS (SELECT 1 FROM claim c WHERE c.request_id = me.p5)"));
    assert_null(s->followups);
    assert_null(s->release); /* spec_data is a plain struct: the engine frees it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_has_its_operation),
        cmocka_unit_test(test_activation_amount),
        cmocka_unit_test(test_deposit_references),
        cmocka_unit_test(test_deposit_above_the_authorization_is_declined),
        cmocka_unit_test(test_deposit_after_the_authorization_was_drawn_on),
        cmocka_unit_test(test_deposit_of_a_deferred_void_is_declined),
        cmocka_unit_test(test_deposit_needs_an_approved_auth_of_the_card),
        cmocka_unit_test(test_return_limited_by_its_deposit),
        cmocka_unit_test(test_activation_once),
        cmocka_unit_test(test_activation_for_its_issue_amount),
        cmocka_unit_test(test_map_approved),
        cmocka_unit_test(test_map_partial_approval),
        cmocka_unit_test(test_map_declined_mapped_and_unmapped),
        cmocka_unit_test(test_map_inactive_balance),
        cmocka_unit_test(test_map_error),
        cmocka_unit_test(test_spec_map),
        cmocka_unit_test(test_take_generated_card),
        cmocka_unit_test(test_unreachable_balance_is_zero),
        cmocka_unit_test(test_j19_decide),
        cmocka_unit_test(test_j19_only_batch_auths_on_j19_bureaus),
        cmocka_unit_test(test_j19_balance_below_the_amount),
        cmocka_unit_test(test_j19_balance_covers_the_amount),
        cmocka_unit_test(test_j19_zero_balance_is_declined_without_an_authorization),
        cmocka_unit_test(test_j19_inactive_card_is_declined_without_an_authorization),
        cmocka_unit_test(test_j19_inquiry_declined_or_failed),
        cmocka_unit_test(test_j19_decline_stores_no_inquiry_transaction),
        cmocka_unit_test(test_prepare_alone_by_type),
        cmocka_unit_test(test_record_sent_is_one_statement),
        cmocka_unit_test(test_spec_shape),
        cmocka_unit_test(test_card_rekey_after_rotation),
        cmocka_unit_test(test_touch_key),
        cmocka_unit_test(test_auth_read_long_transaction_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
