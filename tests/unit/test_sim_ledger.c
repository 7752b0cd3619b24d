/*
 * test_sim_ledger.c: the simulator's ledger (tools/sim/sim_ledger.h): the JSON shape of
 * GET /__sim/ledger and /__sim/query, and the CyberSource follow-on rules (capture, credit,
 * reversal) that decide what a second or conflicting request gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <regex.h>

#include "sim_ledger.h"
#include "sim_test_helpers.h"

static const char *field(json_object *obj, const char *key)
{
    json_object *v = NULL;
    assert_true(json_object_object_get_ex(obj, key, &v));
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static void test_empty_ledger_is_empty_array(void **state)
{
    json_object *j = sim_test_ledger_json(*state);
    assert_true(json_object_is_type(j, json_type_array));
    assert_int_equal(json_object_array_length(j), 0);
    json_object_put(j);
}

static void test_ledger_row_shape(void **state)
{
    pl_sim_ledger *l = *state;
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "1111111111111111111111", 12000), 100);
    pl_sim_effect e = {"RLT", "generate", "order-9", 0, "svc-1"};
    assert_int_equal(pl_sim_ledger_append(l, &e), 0);
    assert_int_equal(pl_sim_ledger_count(l), 2);

    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 2);
    json_object *row = json_object_array_get_idx(j, 0);
    /* Exactly the six fields of CONTRACT.md §3, amounts as decimal strings. */
    assert_int_equal(json_object_object_length(row), 6);
    assert_string_equal(field(row, "protocol"), "CYB");
    assert_string_equal(field(row, "op"), "auth");
    assert_string_equal(field(row, "ref"), "r1");
    assert_string_equal(field(row, "amount"), "120.00");
    assert_string_equal(field(row, "bureau_id"), "1111111111111111111111");
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regexec(&re, field(row, "at"), 0, NULL, 0), 0);
    regfree(&re);

    row = json_object_array_get_idx(j, 1);
    assert_string_equal(field(row, "protocol"), "RLT");
    assert_string_equal(field(row, "op"), "generate");
    assert_string_equal(field(row, "amount"), "0.00");
    json_object_put(j);
}

static void test_append_rejects_incomplete(void **state)
{
    pl_sim_effect e = {"CYB", "auth", NULL, 100, "x"};
    assert_int_equal(pl_sim_ledger_append(*state, &e), PL_ERR_INVALID);
    assert_int_equal(pl_sim_ledger_count(*state), 0);
}

static void test_capture_rules(void **state)
{
    pl_sim_ledger *l = *state;
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 10000), 100);
    /* Unknown authorization. */
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "NOPE", "C0", 100), 102);
    /* More than authorized. */
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C0", 10001), 235);
    /* Partial captures until nothing remains. */
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C1", 6000), 100);
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C2", 4001), 235);
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C2", 4000), 100);
    /* Fully used: no unused authorization is left. */
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C3", 1), 242);
    /* Refusals are not effects: auth + two captures. */
    assert_int_equal(pl_sim_ledger_count(l), 3);
}

static void test_capture_after_reversal(void **state)
{
    pl_sim_ledger *l = *state;
    int64_t amount = 0;
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 5000), 100);
    assert_int_equal(pl_sim_ledger_cyb_reversal(l, "r1", "A1", "V1", &amount), 100);
    assert_int_equal(amount, 5000);
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C1", 5000), 242);
}

static void test_reversal_rules(void **state)
{
    pl_sim_ledger *l = *state;
    int64_t amount = -1;
    assert_int_equal(pl_sim_ledger_cyb_reversal(l, "r1", "NOPE", "V0", &amount), 102);
    assert_int_equal(amount, -1);
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 5000), 100);
    assert_int_equal(pl_sim_ledger_cyb_reversal(l, "r1", "A1", "V1", &amount), 100);
    assert_int_equal(pl_sim_ledger_cyb_reversal(l, "r1", "A1", "V2", &amount), 237);

    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r2", "A2", 5000), 100);
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r2", "A2", "C2", 100), 100);
    assert_int_equal(pl_sim_ledger_cyb_reversal(l, "r2", "A2", "V3", &amount), 238);

    json_object *j = sim_test_ledger_json(l);
    assert_int_equal(json_object_array_length(j), 4);
    json_object *rev = json_object_array_get_idx(j, 1);
    assert_string_equal(field(rev, "op"), "reversal");
    assert_string_equal(field(rev, "amount"), "50.00");
    assert_string_equal(field(rev, "bureau_id"), "V1");
    json_object_put(j);
}

/* Timeout authorization reversals find the authorization by merchantTransactionIdentifier. */
static void test_auth_by_mti(void **state)
{
    pl_sim_ledger *l = *state;
    char id[48];
    assert_int_equal(pl_sim_ledger_cyb_auth_by_mti(l, "395924834532225", id, sizeof id),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 5000), 100);
    assert_int_equal(pl_sim_ledger_cyb_auth_mti(l, "395924834532225", "A1"), 0);
    assert_int_equal(pl_sim_ledger_cyb_auth_by_mti(l, "395924834532225", id, sizeof id), 0);
    assert_string_equal(id, "A1");
    /* Not an effect: one auth row. */
    assert_int_equal(pl_sim_ledger_count(l), 1);

    /* Then reversed like any other: the rules of the request ID apply. */
    int64_t amount = 0;
    assert_int_equal(pl_sim_ledger_cyb_reversal(l, "v1", id, "V1", &amount), 100);
    assert_int_equal(amount, 5000);
    assert_int_equal(pl_sim_ledger_cyb_reversal(l, "v2", id, "V2", &amount), 237);

    /* The latest authorization sent with an identifier is the one it names. */
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A2", 6000), 100);
    assert_int_equal(pl_sim_ledger_cyb_auth_mti(l, "395924834532225", "A2"), 0);
    assert_int_equal(pl_sim_ledger_cyb_auth_by_mti(l, "395924834532225", id, sizeof id), 0);
    assert_string_equal(id, "A2");

    /* Refusals: no such authorization, empty arguments, a buffer too small. */
    assert_int_equal(pl_sim_ledger_cyb_auth_mti(l, "111111111111111", "NOPE"), PL_ERR_NOTFOUND);
    assert_int_equal(pl_sim_ledger_cyb_auth_by_mti(l, "111111111111111", id, sizeof id),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_sim_ledger_cyb_auth_mti(l, "", "A1"), PL_ERR_INVALID);
    assert_int_equal(pl_sim_ledger_cyb_auth_mti(l, "222222222222222", NULL), PL_ERR_INVALID);
    assert_int_equal(pl_sim_ledger_cyb_auth_by_mti(l, "395924834532225", id, 2), PL_ERR_TOOBIG);

    /* A reset forgets them with the authorizations. */
    pl_sim_ledger_reset(l);
    assert_int_equal(pl_sim_ledger_cyb_auth_by_mti(l, "395924834532225", id, sizeof id),
                     PL_ERR_NOTFOUND);
}

static void test_credit_rules(void **state)
{
    pl_sim_ledger *l = *state;
    assert_int_equal(pl_sim_ledger_cyb_credit(l, "r1", "NOPE", "K0", 100), 102);
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 5000), 100);
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C1", 5000), 100);
    /* A credit must name a capture, not an authorization. */
    assert_int_equal(pl_sim_ledger_cyb_credit(l, "r1", "A1", "K0", 100), 102);
    assert_int_equal(pl_sim_ledger_cyb_credit(l, "r1", "C1", "K1", 3000), 100);
    assert_int_equal(pl_sim_ledger_cyb_credit(l, "r1", "C1", "K2", 2001), 235);
    assert_int_equal(pl_sim_ledger_cyb_credit(l, "r1", "C1", "K2", 2000), 100);
    assert_int_equal(pl_sim_ledger_cyb_credit(l, "r1", "C1", "K3", 1), 235);
    /* A stand-alone credit has nothing to exceed. */
    assert_int_equal(pl_sim_ledger_cyb_credit(l, "r9", NULL, "K4", 999999), 100);
    assert_int_equal(pl_sim_ledger_count(l), 5);
}

static void test_tokens(void **state)
{
    pl_sim_ledger *l = *state;
    assert_false(pl_sim_ledger_cyb_token_known(l, "9999999999999999999999"));
    assert_int_equal(pl_sim_ledger_cyb_token(l, "t1", "9999999999999999999999", "R1", 0), 100);
    assert_true(pl_sim_ledger_cyb_token_known(l, "9999999999999999999999"));
    json_object *j = sim_test_ledger_json(l);
    json_object *row = json_object_array_get_idx(j, 0);
    assert_string_equal(field(row, "op"), "token");
    assert_string_equal(field(row, "bureau_id"), "R1");
    json_object_put(j);
}

static void test_query(void **state)
{
    pl_sim_ledger *l = *state;
    char *text = NULL;
    bool found = true;
    assert_int_equal(pl_sim_ledger_txn_json(l, "r1", &text, &found), 0);
    assert_false(found);
    assert_string_equal(text, "{\"found\":false}");
    free(text);
    /* No ref at all behaves as not found. */
    assert_int_equal(pl_sim_ledger_txn_json(l, NULL, &text, &found), 0);
    assert_false(found);
    free(text);

    pl_sim_txn t = {.protocol = "CYB",
                    .op = "auth",
                    .decision = "REJECT",
                    .reason_code = 204,
                    .request_id = "R1",
                    .request_token = "tok",
                    .amount = 20400};
    assert_int_equal(pl_sim_ledger_txn_record(l, "r1", &t), 0);
    /* The last answer wins. */
    pl_sim_txn t2 = t;
    snprintf(t2.decision, sizeof t2.decision, "ACCEPT");
    t2.reason_code = 100;
    snprintf(t2.request_id, sizeof t2.request_id, "R2");
    t2.amount = 12000;
    assert_int_equal(pl_sim_ledger_txn_record(l, "r1", &t2), 0);

    assert_int_equal(pl_sim_ledger_txn_json(l, "r1", &text, &found), 0);
    assert_true(found);
    json_object *j = json_tokener_parse(text);
    free(text);
    assert_non_null(j);
    json_object *v;
    assert_true(json_object_object_get_ex(j, "found", &v));
    assert_true(json_object_get_boolean(v));
    assert_string_equal(field(j, "op"), "auth");
    assert_string_equal(field(j, "decision"), "ACCEPT");
    assert_true(json_object_object_get_ex(j, "reason_code", &v));
    assert_int_equal(json_object_get_int(v), 100);
    assert_string_equal(field(j, "request_id"), "R2");
    assert_string_equal(field(j, "request_token"), "tok");
    assert_string_equal(field(j, "amount"), "120.00");
    json_object_put(j);

    pl_sim_txn out;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r1", &out), 0);
    assert_string_equal(out.request_id, "R2");
    assert_int_equal(pl_sim_ledger_txn_find(l, "r2", &out), PL_ERR_NOTFOUND);
}

static void test_reset_forgets_everything(void **state)
{
    pl_sim_ledger *l = *state;
    pl_sim_txn t = {.protocol = "CYB", .op = "auth", .decision = "ACCEPT", .reason_code = 100};
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 5000), 100);
    assert_int_equal(pl_sim_ledger_cyb_auth_mti(l, "123456789012345", "A1"), 0);
    assert_int_equal(pl_sim_ledger_cyb_token(l, "r1", "S1", "A1", 0), 100);
    assert_int_equal(pl_sim_ledger_txn_record(l, "r1", &t), 0);
    pl_sim_ledger_reset(l);
    char id[48];
    assert_int_equal(pl_sim_ledger_cyb_auth_by_mti(l, "123456789012345", id, sizeof id),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_sim_ledger_count(l), 0);
    assert_false(pl_sim_ledger_cyb_token_known(l, "S1"));
    assert_int_equal(pl_sim_ledger_cyb_capture(l, "r1", "A1", "C1", 100), 102);
    pl_sim_txn out;
    assert_int_equal(pl_sim_ledger_txn_find(l, "r1", &out), PL_ERR_NOTFOUND);
    /* Usable again after a reset. */
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 5000), 100);
    assert_int_equal(pl_sim_ledger_count(l), 1);
}

/* Whether a remembered request is answered after a given Unix second (a query's day filter). */
static bool answered_after(const pl_sim_cyb_request *r, void *arg)
{
    return r->answered > *(const time_t *)arg;
}

/* Counts the requests it is shown, keeps them all. */
static bool count_shown(const pl_sim_cyb_request *r, void *arg)
{
    (void)r;
    (*(int *)arg)++;
    return true;
}

/*
 * The requests of one requestID or merchantReferenceCode, by the index (what a transaction
 * query reads): exactly the requests of that key, in the order answered, whatever
 * else the simulator answered; none for an unknown or empty key; none after a reset.
 */
static void test_requests_by_id_and_reference(void **state)
{
    pl_sim_ledger *l = *state;
    enum { N = 700, REFS = 7 };
    for (int i = 0; i < N; i++) {
        pl_sim_cyb_request r = {.answered = 1000 + i, .reason_code = 100};
        snprintf(r.request_id, sizeof r.request_id, "R%04d", i);
        if (i % 10 != 9) /* every tenth without a reference */
            snprintf(r.merchant_reference, sizeof r.merchant_reference, "ref-%d", i % REFS);
        snprintf(r.merchant_id, sizeof r.merchant_id, "m");
        assert_int_equal(pl_sim_ledger_cyb_request(l, &r), 0);
    }
    pl_sim_cyb_request *got = NULL;
    size_t n = 0;
    assert_int_equal(pl_sim_ledger_cyb_requests(l, "R0042", "ref-3", NULL, NULL, &got, &n), 0);
    assert_int_equal(n, 1); /* by the ID when there is one */
    assert_string_equal(got[0].request_id, "R0042");
    assert_int_equal(got[0].answered, 1042);
    free(got);
    for (int k = 0; k < REFS; k++) {
        char ref[16];
        snprintf(ref, sizeof ref, "ref-%d", k);
        assert_int_equal(pl_sim_ledger_cyb_requests(l, "", ref, NULL, NULL, &got, &n), 0);
        size_t want = 0;
        for (int i = 0; i < N; i++)
            if (i % 10 != 9 && i % REFS == k) {
                assert_true(want < n);
                char id[16];
                snprintf(id, sizeof id, "R%04d", i);
                assert_string_equal(got[want].request_id, id);
                assert_string_equal(got[want].merchant_reference, ref);
                want++;
            }
        assert_int_equal(n, want);
        free(got);
    }
    /* The caller's filter applies to those. */
    time_t after = 1000 + N - 50;
    assert_int_equal(pl_sim_ledger_cyb_requests(l, NULL, "ref-0", answered_after, &after, &got, &n),
                     0);
    for (size_t i = 0; i < n; i++)
        assert_true(got[i].answered > after);
    assert_true(n > 0 && n < 10);
    free(got);
    /* Only the requests of the key are read, not the other 600-odd. */
    int shown = 0;
    assert_int_equal(pl_sim_ledger_cyb_requests(l, NULL, "ref-5", count_shown, &shown, &got, &n),
                     0);
    assert_int_equal(shown, (int)n);
    assert_true(n > 80 && n < 100);
    free(got);
    shown = 0;
    assert_int_equal(pl_sim_ledger_cyb_requests(l, "R0699", NULL, count_shown, &shown, &got, &n),
                     0);
    assert_int_equal(shown, 1);
    assert_int_equal(n, 1);
    free(got);
    /* Unknown and empty keys. */
    assert_int_equal(pl_sim_ledger_cyb_requests(l, "R9999", NULL, NULL, NULL, &got, &n), 0);
    assert_int_equal(n, 0);
    assert_null(got);
    assert_int_equal(pl_sim_ledger_cyb_requests(l, "", "", NULL, NULL, &got, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pl_sim_ledger_cyb_requests(l, NULL, NULL, NULL, NULL, &got, &n), 0);
    assert_int_equal(n, 0);
    pl_sim_ledger_reset(l);
    assert_int_equal(pl_sim_ledger_cyb_requests(l, "R0042", NULL, NULL, NULL, &got, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pl_sim_ledger_cyb_requests(l, NULL, "ref-3", NULL, NULL, &got, &n), 0);
    assert_int_equal(n, 0);
}

static void test_many_entries_grow(void **state)
{
    pl_sim_ledger *l = *state;
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "A%d", i);
        assert_int_equal(pl_sim_ledger_cyb_auth(l, "r", id, 100 + i), 100);
    }
    for (int i = 0; i < 3000; i += 7) {
        snprintf(id, sizeof id, "A%d", i);
        char cap[32];
        snprintf(cap, sizeof cap, "C%d", i);
        assert_int_equal(pl_sim_ledger_cyb_capture(l, "r", id, cap, 100 + i), 100);
    }
    assert_int_equal(pl_sim_ledger_count(l), 3000 + 429);
}

typedef struct race {
    pl_sim_ledger *l;
    int id;
    int won;
} race;

static void *capture_racer(void *arg)
{
    race *r = arg;
    for (int i = 0; i < 10; i++) {
        char cap[32];
        snprintf(cap, sizeof cap, "C%d-%d", r->id, i);
        if (pl_sim_ledger_cyb_capture(r->l, "r1", "A1", cap, 1000) == 100)
            r->won++;
    }
    return NULL;
}

static void test_concurrent_captures_never_exceed(void **state)
{
    pl_sim_ledger *l = *state;
    assert_int_equal(pl_sim_ledger_cyb_auth(l, "r1", "A1", 5000), 100);
    race rs[8];
    for (int i = 0; i < 8; i++)
        rs[i] = (race){l, i, 0};
    sim_test_race(8, capture_racer, rs, sizeof rs[0]);
    int won = 0;
    for (int i = 0; i < 8; i++)
        won += rs[i].won;
    /* 80 attempts at 10.00 against 50.00 authorized: exactly five captures happen. */
    assert_int_equal(won, 5);
    assert_int_equal(pl_sim_ledger_count(l), 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SIM_LEDGER_TEST(test_empty_ledger_is_empty_array),
        SIM_LEDGER_TEST(test_ledger_row_shape),
        SIM_LEDGER_TEST(test_append_rejects_incomplete),
        SIM_LEDGER_TEST(test_capture_rules),
        SIM_LEDGER_TEST(test_capture_after_reversal),
        SIM_LEDGER_TEST(test_reversal_rules),
        SIM_LEDGER_TEST(test_auth_by_mti),
        SIM_LEDGER_TEST(test_credit_rules),
        SIM_LEDGER_TEST(test_tokens),
        SIM_LEDGER_TEST(test_query),
        SIM_LEDGER_TEST(test_reset_forgets_everything),
        SIM_LEDGER_TEST(test_requests_by_id_and_reference),
        SIM_LEDGER_TEST(test_many_entries_grow),
        SIM_LEDGER_TEST(test_concurrent_captures_never_exceed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
