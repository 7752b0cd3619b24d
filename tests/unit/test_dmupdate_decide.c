/* test_dmupdate_decide.c: what paylink-dmupdate makes of a Decision Manager conversion
 * (workers/dmupdate/dmupdate.h): the action, the decision event and the report request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "dmupdate.h"

static void test_decide(void **state)
{
    (void)state;
    pl_dm_action a = pl_dm_decide("ACCEPT", false, "FR", true);
    assert_string_equal(a.action, "release_hold");
    assert_null(a.cancel_reason);
    assert_false(a.reverse); /* an accepted order keeps its authorization */

    a = pl_dm_decide("REJECT", false, "FR", true);
    assert_string_equal(a.action, "cancel_order");
    assert_string_equal(a.cancel_reason, "FR");
    assert_true(a.reverse);
    a = pl_dm_decide("REJECT", false, "FR", false); /* Send reversal not selected */
    assert_false(a.reverse);

    /* Part of the order was deposited: it cannot be cancelled whole (seed: FC hold). */
    a = pl_dm_decide("REJECT", true, "FR", true);
    assert_string_equal(a.action, "fraud_cancel_hold");
    assert_null(a.cancel_reason);
    assert_true(a.reverse);
    /* No fraud cancel reason (M14) set: no cancel_order without its reason. */
    a = pl_dm_decide("REJECT", false, "", false);
    assert_string_equal(a.action, "fraud_cancel_hold");

    /* Still under review, or nothing said: nothing to do. */
    assert_null(pl_dm_decide("REVIEW", false, "FR", true).action);
    assert_null(pl_dm_decide("", false, "FR", true).action);
    assert_null(pl_dm_decide(NULL, false, "FR", true).action);
}

static void test_event(void **state)
{
    (void)state;
    pl_dm_action a = pl_dm_decide("REJECT", false, "FR", true);
    const char msgs[2][513] = {"REJECTED BY KAB | FRAUD", "TOOK OWNERSHIP"};
    json_object *e = pl_dm_event(7, "4918", "4036303746210176056470", "REVIEW", "REJECT", &a, msgs,
                                 2, "rid.dmrev");
    assert_non_null(e);
    assert_string_equal(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN),
                        "{\"v\":1,\"company\":7,\"order\":\"4918\",\"transaction_id\":"
                        "\"4036303746210176056470\",\"original_decision\":\"REVIEW\","
                        "\"new_decision\":\"REJECT\",\"action\":\"cancel_order\","
                        "\"cancel_reason\":\"FR\",\"messages\":[\"REJECTED BY KAB | FRAUD\","
                        "\"TOOK OWNERSHIP\"],\"reversal_request_id\":\"rid.dmrev\"}");
    json_object_put(e);

    a = pl_dm_decide("ACCEPT", false, "FR", true);
    e = pl_dm_event(7, "4917", "4036289939370176056470", "REVIEW", "ACCEPT", &a, msgs, 0, NULL);
    assert_string_equal(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN),
                        "{\"v\":1,\"company\":7,\"order\":\"4917\",\"transaction_id\":"
                        "\"4036289939370176056470\",\"original_decision\":\"REVIEW\","
                        "\"new_decision\":\"ACCEPT\",\"action\":\"release_hold\","
                        "\"messages\":[]}");
    json_object_put(e);
}

/* The seed's trace: "merchantID=username=mr&password=...&startDate=2014-06-24&startTime=
 * 00%3A00%3A00&endDate=2014-06-24&endTime=17%3A24%3A04" (sic: its merchantID is cut short);
 * paylink sends every field, each form-encoded. */
static void test_form(void **state)
{
    (void)state;
    char *f = pl_dm_form("mr", "mr", "p&w=d %", "2014-06-24", "00:00:00", "2014-06-24", "17:24:04");
    assert_non_null(f);
    assert_string_equal(f, "merchantID=mr&username=mr&password=p%26w%3Dd%20%25&startDate=2014-06-"
                           "24&startTime=00%3A00%3A00&endDate=2014-06-24&endTime=17%3A24%3A04");
    free(f);
}

/* Only the service's "no such merchant" skips a merchant ID; any other refusal fails the window
 * (asked again next run). */
static void test_unknown_merchant(void **state)
{
    (void)state;
    assert_true(pl_dmupdate_unknown_merchant(
        "the Conversion Detail Report was refused: No merchant found for username."));
    assert_false(pl_dmupdate_unknown_merchant(
        "the Conversion Detail Report was refused: Invalid login credentials."));
    assert_false(pl_dmupdate_unknown_merchant("Service temporarily unavailable"));
    assert_false(pl_dmupdate_unknown_merchant(""));
    assert_false(pl_dmupdate_unknown_merchant(NULL));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_unknown_merchant),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_form),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
