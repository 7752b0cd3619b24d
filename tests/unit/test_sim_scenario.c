/*
 * test_sim_scenario.c: the simulator's deterministic outcome table (CONTRACT.md §3) and the
 * AVS / CVN / Decision Manager rules (tools/sim/sim_scenario.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim_scenario.h"

static void expect_scenario(int64_t minor, pl_sim_scenario sc, int reason)
{
    int got_reason = -1;
    assert_int_equal(pl_sim_scenario_for_amount(minor, &got_reason), sc);
    assert_int_equal(got_reason, reason);
}

static void test_listed_amounts(void **state)
{
    (void)state;
    expect_scenario(11000, PL_SIM_SC_PARTIAL, 110);
    expect_scenario(15000, PL_SIM_SC_ERROR, 150);
    expect_scenario(20200, PL_SIM_SC_DECLINE, 202);
    expect_scenario(20300, PL_SIM_SC_DECLINE, 203);
    expect_scenario(20400, PL_SIM_SC_DECLINE, 204);
    expect_scenario(20500, PL_SIM_SC_DECLINE, 205);
    expect_scenario(21100, PL_SIM_SC_DECLINE, 211);
    expect_scenario(23100, PL_SIM_SC_DECLINE, 231);
    expect_scenario(40000, PL_SIM_SC_FRAUD_SCORE, 400);
    expect_scenario(48000, PL_SIM_SC_REVIEW, 480);
    expect_scenario(48100, PL_SIM_SC_DM_REJECT, 481);
    expect_scenario(90100, PL_SIM_SC_TIMEOUT, 0);
    expect_scenario(90200, PL_SIM_SC_HTTP_500, 0);
    expect_scenario(90300, PL_SIM_SC_NOT_XML, 0);
    expect_scenario(90400, PL_SIM_SC_DROP, 0);
}

static void test_cents_do_not_matter(void **state)
{
    (void)state;
    /* The whole-unit part picks: 204.00 and 204.99 are both insufficient funds. */
    expect_scenario(20499, PL_SIM_SC_DECLINE, 204);
    expect_scenario(11001, PL_SIM_SC_PARTIAL, 110);
    expect_scenario(90199, PL_SIM_SC_TIMEOUT, 0);
    expect_scenario(48001, PL_SIM_SC_REVIEW, 480);
}

static void test_unlisted_amounts_approve(void **state)
{
    (void)state;
    const int64_t amounts[] = {0,     1,       12000,  10999, 11100, 20100,
                               20600, 2040000, 110000, 90500, 1500};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++)
        expect_scenario(amounts[i], PL_SIM_SC_APPROVE, 100);
    /* NULL reason pointer is allowed. */
    assert_int_equal(pl_sim_scenario_for_amount(20400, NULL), PL_SIM_SC_DECLINE);
    /* Negative amounts are never a scenario. */
    expect_scenario(-20400, PL_SIM_SC_APPROVE, 100);
}

static void test_faults(void **state)
{
    (void)state;
    assert_true(pl_sim_scenario_is_fault(PL_SIM_SC_TIMEOUT));
    assert_true(pl_sim_scenario_is_fault(PL_SIM_SC_HTTP_500));
    assert_true(pl_sim_scenario_is_fault(PL_SIM_SC_NOT_XML));
    assert_true(pl_sim_scenario_is_fault(PL_SIM_SC_DROP));
    assert_false(pl_sim_scenario_is_fault(PL_SIM_SC_ERROR));
    assert_false(pl_sim_scenario_is_fault(PL_SIM_SC_APPROVE));
    assert_string_equal(pl_sim_scenario_name(PL_SIM_SC_TIMEOUT), "timeout");
    assert_string_equal(pl_sim_scenario_name(PL_SIM_SC_DM_REJECT), "dm_reject");
}

/* 901–904 are answered alike by every bureau (sim_cyb.c, sim_relate.c). */
static void test_fault_answers(void **state)
{
    (void)state;
    pl_sim_response resp;
    memset(&resp, 0x5a, sizeof resp);
    assert_int_equal(pl_sim_scenario_fault_answer(PL_SIM_SC_TIMEOUT, &resp), 0);
    assert_int_equal(resp.action, PL_SIM_HOLD);
    assert_null(resp.body);
    assert_int_equal(pl_sim_scenario_fault_answer(PL_SIM_SC_DROP, &resp), 0);
    assert_int_equal(resp.action, PL_SIM_DROP);
    assert_null(resp.body);

    assert_int_equal(pl_sim_scenario_fault_answer(PL_SIM_SC_HTTP_500, &resp), 0);
    assert_int_equal(resp.action, PL_SIM_ANSWER);
    assert_int_equal(resp.status, 500);
    assert_string_equal(resp.content_type, "text/html");
    assert_int_equal(resp.body_len, strlen("<html><head><title>500 Internal Server Error</title>"
                                           "</head><body><h1>Internal Server Error</h1></body>"
                                           "</html>\n"));
    pl_sim_response_free(&resp);

    assert_int_equal(pl_sim_scenario_fault_answer(PL_SIM_SC_NOT_XML, &resp), 0);
    assert_int_equal(resp.action, PL_SIM_ANSWER);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "text/xml");
    assert_true(resp.body_len > 0);
    assert_null(memchr(resp.body, '<', resp.body_len));
    pl_sim_response_free(&resp);
}

static void test_partial_is_half_rounded_down(void **state)
{
    (void)state;
    assert_int_equal(pl_sim_scenario_partial_amount(11000), 5500);
    assert_int_equal(pl_sim_scenario_partial_amount(11001), 5500);
    assert_int_equal(pl_sim_scenario_partial_amount(11099), 5549);
}

static void test_avs_cvn(void **state)
{
    (void)state;
    assert_int_equal(pl_sim_avs_code("00000"), 'N');
    assert_int_equal(pl_sim_avs_code("02110"), 'Y');
    assert_int_equal(pl_sim_avs_code("000000"), 'Y');
    assert_int_equal(pl_sim_avs_code(NULL), 'Y');
    assert_int_equal(pl_sim_cvn_code("000"), 'N');
    assert_int_equal(pl_sim_cvn_code("123"), 'M');
    assert_int_equal(pl_sim_cvn_code("0000"), 'M');
    assert_int_equal(pl_sim_cvn_code(NULL), 'M');
}

static void test_dm_new_decision(void **state)
{
    (void)state;
    assert_string_equal(pl_sim_dm_new_decision(48000), "ACCEPT");
    assert_string_equal(pl_sim_dm_new_decision(48002), "ACCEPT");
    assert_string_equal(pl_sim_dm_new_decision(48001), "REJECT");
    assert_string_equal(pl_sim_dm_new_decision(48099), "REJECT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listed_amounts),
        cmocka_unit_test(test_cents_do_not_matter),
        cmocka_unit_test(test_unlisted_amounts_approve),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_fault_answers),
        cmocka_unit_test(test_partial_is_half_rounded_down),
        cmocka_unit_test(test_avs_cvn),
        cmocka_unit_test(test_dm_new_decision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
