/* test_ext_rules.c: the External Payment Service's response-code rule (ext_rules.h) without a
 * vendor_response table (every code undefined); the table's part is in
 * tests/integration/test_services.c test_ext_refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ext_rules.h"

static pl_service service(const char *protocol)
{
    pl_service s;
    memset(&s, 0, sizeof s);
    snprintf(s.code, sizeof s.code, "X");
    snprintf(s.protocol, sizeof s.protocol, "%s", protocol);
    return s;
}

static pl_bureau_result answer(const char *decision, const char *reason, const char *text)
{
    pl_bureau_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.decision, sizeof r.decision, "%s", decision);
    snprintf(r.reason_code, sizeof r.reason_code, "%s", reason);
    snprintf(r.error_text, sizeof r.error_text, "%s", text);
    snprintf(r.request_id, sizeof r.request_id, "T-1");
    return r;
}

static void test_refusals_are_declined_on_hold(void **state)
{
    (void)state;
    pl_service ext = service("EXT");
    static const struct {
        const char *decision, *reason, *vendor;
    } cases[] = {
        {"REJECT", "", "SU"}, {"ERROR", "", "SU"}, {"REJECT", "X1", "X1"}, {"ERROR", "X2", "X2"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_bureau_result res = answer(cases[i].decision, cases[i].reason, "Card not accepted");
        pl_reply rep;
        memset(&rep, 0, sizeof rep);
        assert_true(pl_ext_refusal(NULL, &ext, &res, &rep));
        assert_int_equal(rep.status, PL_ST_DECLINED);
        assert_string_equal(rep.vendor_response, cases[i].vendor);
        assert_string_equal(rep.hold_reason, "AT");
        assert_string_equal(rep.decision, cases[i].decision);
        assert_string_equal(rep.message, "Card not accepted"); /* the bureau's text */
        assert_string_equal(rep.auth.transaction_id, "T-1");
    }
    /* A reason with a Siebel message of its own says that instead (204: insufficient funds). */
    pl_bureau_result res = answer("REJECT", "204", "declined");
    pl_reply rep;
    memset(&rep, 0, sizeof rep);
    assert_true(pl_ext_refusal(NULL, &ext, &res, &rep));
    assert_string_equal(rep.message, pl_siebel_message(pl_siebel_message_for_reason("204")));
}

static void test_other_answers_are_untouched(void **state)
{
    (void)state;
    pl_service ext = service("EXT"), cyb = service("CYB"), rlt = service("RLT");
    pl_reply rep, zero;
    memset(&zero, 0, sizeof zero);
    const char *decisions[] = {"ACCEPT", "REVIEW", ""};
    for (size_t i = 0; i < sizeof decisions / sizeof decisions[0]; i++) {
        pl_bureau_result res = answer(decisions[i], "", "");
        memset(&rep, 0, sizeof rep);
        assert_false(pl_ext_refusal(NULL, &ext, &res, &rep));
        assert_memory_equal(&rep, &zero, sizeof rep);
    }
    pl_bureau_result res = answer("REJECT", "", "");
    memset(&rep, 0, sizeof rep);
    assert_false(pl_ext_refusal(NULL, &cyb, &res, &rep));
    assert_false(pl_ext_refusal(NULL, &rlt, &res, &rep));
    assert_false(pl_ext_refusal(NULL, NULL, &res, &rep));
    assert_memory_equal(&rep, &zero, sizeof rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_are_declined_on_hold),
        cmocka_unit_test(test_other_answers_are_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
