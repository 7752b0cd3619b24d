/*
 * test_engine.c: the parts of the engine (common/engine.h) that need no Kafka, database or
 * bureau: the send attempt id a mark-sent statement stores in sent_by and takes as its own.
 * The engine itself is exercised through the workers, end to end (tests/e2e/).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "engine.h"

static void test_attempt_id_form(void **state)
{
    (void)state;
    char id[PL_ENGINE_ATTEMPT_MAX + 1];
    assert_int_equal(pl_engine_attempt_id("auth-7f9c", 0x00ab12cdu, 42, id, sizeof id), 0);
    assert_string_equal(id, "auth-7f9c/00ab12cd.42");
}

/* The same instance started again (a container restarted in its pod) draws another nonce: its
 * first attempts are not the dead process's, which its redeliveries would otherwise meet. */
static void test_attempt_id_differs_between_lives(void **state)
{
    (void)state;
    char a[PL_ENGINE_ATTEMPT_MAX + 1], b[PL_ENGINE_ATTEMPT_MAX + 1];
    for (unsigned long long n = 1; n <= 3; n++) {
        assert_int_equal(pl_engine_attempt_id("paylink-auth-0", 0x11111111u, n, a, sizeof a), 0);
        assert_int_equal(pl_engine_attempt_id("paylink-auth-0", 0x22222222u, n, b, sizeof b), 0);
        assert_string_not_equal(a, b);
    }
}

/* The longest instance name with the largest count fits sent_by (varchar(120)); an id that
 * would be cut is refused rather than cut (a cut id could be another attempt's). */
static void test_attempt_id_fits_sent_by(void **state)
{
    (void)state;
    char instance[PL_CONFIG_INSTANCE_MAX + 1];
    memset(instance, 'i', PL_CONFIG_INSTANCE_MAX);
    instance[PL_CONFIG_INSTANCE_MAX] = '\0';
    char id[PL_ENGINE_ATTEMPT_MAX + 1];
    /* 10^15 attempts: thirty years at a million a second. */
    assert_int_equal(pl_engine_attempt_id(instance, UINT32_MAX, 999999999999999ULL, id, sizeof id),
                     0);
    assert_true(strlen(id) <= PL_ENGINE_ATTEMPT_MAX);
    char small[16];
    assert_int_equal(pl_engine_attempt_id("auth", 1, 1234567890ULL, small, sizeof small), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempt_id_form),
        cmocka_unit_test(test_attempt_id_differs_between_lives),
        cmocka_unit_test(test_attempt_id_fits_sent_by),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
