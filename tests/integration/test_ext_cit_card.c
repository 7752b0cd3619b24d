/*
 * test_ext_cit_card.c: an External Payment Service merchant-initiated authorization names the
 * cardholder-initiated transaction (CIT) of its order payment method only when that CIT is of the
 * card it goes with — paylink-auth's subsequent authorization (auth_cit) and paylink-deposit's
 * auth+capture (DEP_REFS_JOIN's card_cit look-up) — against the real schema of PAYLINK_DB, their
 * record units run through pl_db as the engine runs them and prepare reading them.
 *
 * The order payment method's CIT is card A's (T_A, by its token, and its number's hash H_A);
 * the payment method then names card B. Before, a debit of card B that needed an auth+capture,
 * and a `subsequent_auth` authorization of card B, went with card B's token naming T_A and card
 * A's amount: a stored-credential claim on the wrong card. Card A (by number, by token, or by its
 * number's hash under an earlier key after a rotation) still names it.
 *
 * The rows it reads are written under request ids and an order number of its own, and deleted at
 * the end with what the units recorded (never marked sent: no resolver looks at them).
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "auth.h"
#include "db.h"
#include "deposit.h"
#include "services.h"
#include "it_unit.h"
#include "../unit/job_test_helpers.h"

static PGconn *g_admin;
static pl_db *g_db;
static pl_services *g_services;
static char g_prefix[48];
static char g_order[21];
static char g_cit_tx[40], g_b_tx[40];

/* Card A's number hash (as recorded with the CIT) and under the current key after a rotation;
 * card B's. */
#define H_A "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"
#define H_A_NEW "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define H_B "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define T_A "tok_cit_card_a_0001"
#define T_B "tok_cit_card_b_0002"

static const char *id(const char *suffix)
{
    static char ring[8][96];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, sizeof ring[0], "%s%s", g_prefix, suffix);
    return s;
}

/* An approved EXT authorization of the order, pay_seq 1, of 80.00 USD answered with transaction
 * id tx and dated 2020 (expired for any reauthorization days), of the card hash (NULL: it came
 * with the token) and token. */
static void seed_auth(const char *suffix, const char *hash, const char *token, const char *tx,
                      const char *initiator)
{
    const char *p[] = {id(suffix), g_order, hash, token, tx, initiator};
    it_exec(g_admin,
            "INSERT INTO cc_auth_trans (request_id, fingerprint, request_type, operation, "
            "company, order_number, pay_seq, service_bureau, amount, currency, card_masked, "
            "card_hash, card_token, card_type, status, sent_at, answered_at, amount_approved, "
            "transaction_id, initiator) VALUES ($1, repeat('a', 64), 'auth', 'auth', 7, $2, 1, "
            "'EXT', 80.00, 'USD', '411111******1111', $3::char(64), $4, 'VI', 'approved', now(), "
            "now(), 80.00, $5, $6)",
            6, p);
    const char *q[] = {id(suffix), g_order, tx};
    it_exec(g_admin,
            "INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
            "service_bureau, transaction_type, status, amount_authorized, currency, auth_number, "
            "auth_date, transaction_id) VALUES ($1, 7, $2, 1, 'EXT', 'auth', 'approved', 80.00, "
            "'USD', '424242', '2020-01-02', $3)",
            3, q);
}

static int group_setup(void **state)
{
    (void)state;
    if (it_open_spec_with(&pl_deposit_spec, pl_auth_spec.stmts, pl_auth_spec.nstmts, "extcit",
                          &g_admin, &g_db, g_prefix, sizeof g_prefix) != 0)
        return -1;
    char err[512] = "";
    g_services = pl_services_load(g_admin, err, sizeof err);
    if (!g_services || !pl_services_find(g_services, "EXT")) {
        fprintf(stderr, "pl_services_load: %s (or no EXT service bureau)\n", err);
        return -1;
    }
    snprintf(g_order, sizeof g_order, "XC%ld-%ld", (long)getpid() % 100000,
             (long)time(NULL) % 100000);
    snprintf(g_cit_tx, sizeof g_cit_tx, "cit-a-%s", g_order);
    snprintf(g_b_tx, sizeof g_b_tx, "auth-b-%s", g_order);
    /* Card A's authorization by its cardholder, by number (its token made by getToken), the
     * CIT of the order payment method; then an authorization of card B, which the order
     * system authorized by token (merchant-initiated: no CIT of its own). */
    seed_auth("cit", H_A, T_A, g_cit_tx, "CARDHOLDER");
    seed_auth("authb", NULL, T_B, g_b_tx, "MERCHANT");
    const char *p[] = {g_order, g_cit_tx, id("cit")};
    it_exec(g_admin,
            "INSERT INTO card_cit (company, order_number, pay_seq, service_bureau, transaction_id, "
            "amount, currency, request_id) VALUES (7, $1, 1, 'EXT', $2, 80.00, 'USD', $3)",
            3, p);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        char like[64];
        snprintf(like, sizeof like, "%s%%", g_prefix);
        const char *p[] = {like};
        it_exec(g_admin, "DELETE FROM card_cit WHERE request_id LIKE $1", 1, p);
        static const char *const tables[] = {"auth_history", "cc_deposit_history",
                                             "cc_deposit_trans", "cc_auth_trans"};
        it_delete_prefixed(g_admin, g_prefix, tables, sizeof tables / sizeof tables[0]);
        PQfinish(g_admin);
    }
    pl_services_unref(g_services);
    return 0;
}

/* A request of the order's payment method 1 on EXT, of 50.00 USD, with card A or B by number
 * (its hash under the current key: hash; prev, NULL or its hash under an earlier key) or by
 * token. */
static void job_init(pl_job *j, pl_req_type type, const char *suffix, const char *number,
                     const char *hash, const char *prev, const char *token)
{
    memset(j, 0, sizeof *j);
    j->reply = job_test_reply();
    j->services = g_services;
    j->svc = pl_services_find(g_services, "EXT");
    assert_non_null(j->svc);
    pl_request *r = &j->req;
    r->v = 1;
    snprintf(r->request_id, sizeof r->request_id, "%s", id(suffix));
    r->type = type;
    snprintf(r->type_name, sizeof r->type_name, "%s", pl_req_type_name(type));
    r->company = 7;
    snprintf(r->order, sizeof r->order, "%s", g_order);
    r->pay_seq = 1;
    snprintf(r->service, sizeof r->service, "EXT");
    r->has_amount = true;
    r->amount = 5000;
    snprintf(j->amount, sizeof j->amount, "50.00");
    snprintf(r->currency, sizeof r->currency, "USD");
    r->online = true;
    memset(j->fingerprint, 'f', 64);
    if (number || token) {
        r->card.present = true;
        r->card.exp_month = 12;
        r->card.exp_year = 2031;
        snprintf(j->card_type, sizeof j->card_type, "VI");
    }
    if (number) {
        snprintf(r->card.number, sizeof r->card.number, "%s", number);
        snprintf(j->card_hash, sizeof j->card_hash, "%s", hash);
        snprintf(j->card_masked, sizeof j->card_masked, "%.6s******%s", number,
                 number + strlen(number) - 4);
        if (prev) {
            snprintf(j->card_hash_prev[0], sizeof j->card_hash_prev[0], "%s", prev);
            j->n_card_hash_prev = 1;
        }
    }
    if (token)
        snprintf(r->card.token, sizeof r->card.token, "%s", token);
}

/* What the record unit's callback saw: prepare's answer on the recorded unit. */
typedef struct rec {
    const pl_spec *spec;
    pl_job *job;
    int calls, err, inserted, prepared;
    char msg[256];
} rec;

static void on_recorded(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    rec *r = arg;
    r->calls++;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", errmsg ? errmsg : "");
    if (err)
        return;
    r->inserted = pl_db_unit_ntuples(u, 0);
    if (r->inserted == 1)
        r->prepared = r->spec->prepare(r->job, u);
}

/* Records j with spec's record unit, the first time (the row is new), and prepares its call
 * from it as the engine does. */
static void record_and_prepare(const pl_spec *spec, pl_job *j)
{
    rec r;
    memset(&r, 0, sizeof r);
    r.spec = spec;
    r.job = j;
    pl_db_unit *u = pl_db_unit_new(on_recorded, &r);
    assert_non_null(u);
    assert_int_equal(spec->record(j, u), 0);
    pl_db_submit(g_db, u);
    pl_db_flush(g_db);
    for (int i = 0; i < 400 && r.calls == 0; i++) {
        struct pollfd p = {.fd = pl_db_fd(g_db), .events = pl_db_events(g_db)};
        assert_true(poll(&p, 1, 50) >= 0);
        pl_db_on_ready(g_db, p.fd >= 0 ? p.revents : 0);
        pl_db_flush(g_db);
    }
    assert_int_equal(r.calls, 1);
    if (r.err != 0)
        fail_msg("%s: %s", j->req.request_id, r.msg);
    assert_int_equal(r.inserted, 1);
    assert_int_equal(r.prepared, 0);
}

/* j's call as prepared: initiator, reason, CIT transaction id (NULL: none sent) and original
 * amount (-1: none; not compared without a reason). */
static void assert_sub(const pl_job *j, const char *initiator, const char *reason,
                       const char *transaction, int64_t original)
{
    const pl_bureau_call *c = &j->call;
    const char *id_ = j->req.request_id;
    if (!initiator) {
        if (c->initiator && *c->initiator)
            fail_msg("%s: initiator %s sent", id_, c->initiator);
    } else if (!c->initiator || strcmp(c->initiator, initiator) != 0) {
        fail_msg("%s: initiator %s, not %s", id_, c->initiator ? c->initiator : "(none)",
                 initiator);
    }
    if ((reason == NULL) != (c->sub_auth_reason == NULL) ||
        (reason && strcmp(reason, c->sub_auth_reason) != 0))
        fail_msg("%s: subsequentAuthReason %s, not %s", id_,
                 c->sub_auth_reason ? c->sub_auth_reason : "(none)", reason ? reason : "(none)");
    if ((transaction == NULL) != (c->sub_auth_transaction_id == NULL) ||
        (transaction && strcmp(transaction, c->sub_auth_transaction_id) != 0))
        fail_msg("%s: subsequentAuthTransactionID %s, not %s", id_,
                 c->sub_auth_transaction_id ? c->sub_auth_transaction_id : "(none)",
                 transaction ? transaction : "(none)");
    /* Without a subsequent authorization nothing of it is sent, whatever the call holds. */
    if (reason && c->sub_auth_original_amount != original)
        fail_msg("%s: subsequentAuthOriginalAmount %lld, not %lld", id_,
                 (long long)c->sub_auth_original_amount, (long long)original);
}

static void release(pl_job *j)
{
    free(j->spec_data);
    j->spec_data = NULL;
}

/*
 * paylink-auth: a `subsequent_auth` authorization (REAUTH, naming no CIT) of the order payment
 * method names its stored CIT only for card A: by token T_A, by number (hash H_A), or by number
 * hashed under the current key while the CIT's hash was made under an earlier one. Card B, by
 * token or by number, names none (a merchant-initiated REAUTH without a transaction id; before,
 * T_A and card A's 80.00). One naming T_A itself keeps the order system's word, without card A's
 * amount.
 */
static void test_auth_names_only_its_cards_cit(void **state)
{
    (void)state;
    static const struct {
        const char *suffix, *number, *hash, *prev, *token, *named;
        bool cit;
    } cases[] = {
        {"mit-b-token", NULL, NULL, NULL, T_B, NULL, false},
        {"mit-b-number", "5555555555554444", H_B, NULL, NULL, NULL, false},
        {"mit-a-token", NULL, NULL, NULL, T_A, NULL, true},
        {"mit-a-number", "4111111111111111", H_A, NULL, NULL, NULL, true},
        {"mit-a-rotated", "4111111111111111", H_A_NEW, H_A, NULL, NULL, true},
        {"mit-b-rotated", "5555555555554444", H_A_NEW, H_B, NULL, NULL, false},
        {"mit-b-names-a", NULL, NULL, NULL, T_B, "named", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_job j;
        job_init(&j, PL_REQ_AUTH, cases[i].suffix, cases[i].number, cases[i].hash, cases[i].prev,
                 cases[i].token);
        j.req.subsequent_auth.present = true;
        snprintf(j.req.subsequent_auth.reason, sizeof j.req.subsequent_auth.reason, "REAUTH");
        if (cases[i].named)
            snprintf(j.req.subsequent_auth.transaction_id,
                     sizeof j.req.subsequent_auth.transaction_id, "%s", g_cit_tx);
        record_and_prepare(&pl_auth_spec, &j);
        assert_int_equal(j.call.op, PL_OP_AUTH);
        assert_sub(&j, "MERCHANT", "REAUTH", cases[i].cit || cases[i].named ? g_cit_tx : NULL,
                   cases[i].cit ? 8000 : -1);
        release(&j);
    }
}

/*
 * paylink-deposit: a debit that needs an auth+capture (its authorization, dated 2020, has
 * expired) is merchant-initiated REAUTH; it names the order payment method's CIT only when the
 * card charged is card A's. Naming card B's authorization (its token T_B borrowed), or card B's
 * number: no subsequentAuthTransactionID (before, T_A and card A's 80.00 with card B's token).
 * Naming card A's authorization (T_A borrowed), card A's number, or card A's number hashed under
 * a new key: T_A. A debit naming no authorization with card B's number is a card never
 * authorized by its cardholder on this payment method: no initiator at all, as for no CIT
 * (before, REAUTH naming T_A); with card A's token, REAUTH naming T_A.
 */
static void test_deposit_names_only_its_cards_cit(void **state)
{
    (void)state;
    static const struct {
        const char *suffix, *auth, *number, *hash, *prev, *token, *reason;
        bool cit;
    } cases[] = {
        {"dep-b-borrowed", "authb", NULL, NULL, NULL, NULL, "REAUTH", false},
        {"dep-b-number", "cit", "5555555555554444", H_B, NULL, NULL, "REAUTH", false},
        {"dep-a-borrowed", "cit", NULL, NULL, NULL, NULL, "REAUTH", true},
        {"dep-a-number", "authb", "4111111111111111", H_A, NULL, NULL, "REAUTH", true},
        {"dep-a-rotated", "authb", "4111111111111111", H_A_NEW, H_A, NULL, "REAUTH", true},
        {"dep-b-no-auth", NULL, "5555555555554444", H_B, NULL, NULL, NULL, false},
        {"dep-a-no-auth", NULL, NULL, NULL, NULL, T_A, "REAUTH", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_job j;
        job_init(&j, PL_REQ_DEBIT, cases[i].suffix, cases[i].number, cases[i].hash, cases[i].prev,
                 cases[i].token);
        if (cases[i].auth) {
            j.req.auth_ref.present = true;
            snprintf(j.req.auth_ref.request_id, sizeof j.req.auth_ref.request_id, "%s",
                     id(cases[i].auth));
        }
        record_and_prepare(&pl_deposit_spec, &j);
        assert_int_equal(j.call.op, PL_OP_AUTH_CAPTURE);
        if (cases[i].auth && !cases[i].number)
            assert_string_equal(j.req.card.token, strcmp(cases[i].auth, "cit") == 0 ? T_A : T_B);
        assert_sub(&j, cases[i].reason ? "MERCHANT" : NULL, cases[i].reason,
                   cases[i].cit ? g_cit_tx : NULL, cases[i].cit ? 8000 : -1);
        release(&j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_names_only_its_cards_cit),
        cmocka_unit_test(test_deposit_names_only_its_cards_cit),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
