/* test_money.c: contract and bureau amount parsing, formatting, and their edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "money.h"

#define SENTINEL INT64_C(-4242)

static void parse_ok(const char *s, int64_t want)
{
    int64_t got = SENTINEL;
    assert_int_equal(pl_money_parse(s, &got), PL_OK);
    assert_int_equal(got, want);
}

static void parse_bad(const char *s)
{
    int64_t got = SENTINEL;
    assert_int_equal(pl_money_parse(s, &got), PL_ERR_INVALID);
    /* The header promises *out is left alone on failure. */
    assert_int_equal(got, SENTINEL);
}

static void test_parse_valid(void **state)
{
    (void)state;
    parse_ok("0.00", 0);
    parse_ok("0.01", 1);
    parse_ok("0.10", 10);
    parse_ok("1.05", 105);
    parse_ok("120.00", 12000);
    parse_ok("007.50", 750);
    parse_ok("1234567890123.45", INT64_C(123456789012345));
    parse_ok("9999999999999.99", PL_MONEY_MAX);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    parse_bad(NULL);
    parse_bad("");
    parse_bad("1.5");
    parse_bad("1");
    parse_bad("1.");
    parse_bad(".50");
    parse_bad("1.000");
    parse_bad("10000000000000.00"); /* 14 integer digits */
    parse_bad("99999999999999.99");
    parse_bad("-1.00");
    parse_bad("+1.00");
    parse_bad(" 1.00");
    parse_bad("1.00 ");
    parse_bad("1,00");
    parse_bad("1.0a");
    parse_bad("a.00");
    parse_bad("1..00");
    parse_bad("1e3.00");

    assert_int_equal(pl_money_parse("1.00", NULL), PL_ERR_INVALID);
}

static void decimal_ok(const char *s, int64_t want)
{
    int64_t got = SENTINEL;
    assert_int_equal(pl_money_parse_decimal(s, &got), PL_OK);
    assert_int_equal(got, want);
}

static void decimal_bad(const char *s)
{
    int64_t got = SENTINEL;
    assert_int_equal(pl_money_parse_decimal(s, &got), PL_ERR_INVALID);
    assert_int_equal(got, SENTINEL);
}

static void test_parse_decimal_valid(void **state)
{
    (void)state;
    decimal_ok("60", 6000);
    decimal_ok("60.5", 6050);
    decimal_ok("60.50", 6050);
    decimal_ok("60.05", 6005);
    decimal_ok("60.", 6000);
    decimal_ok("0", 0);
    decimal_ok("-0", 0);
    decimal_ok("-1.00", -100);
    decimal_ok("-0.50", -50);
    decimal_ok("0060.00", 6000);
    decimal_ok("9999999999999.99", PL_MONEY_MAX);
    decimal_ok("-9999999999999.99", -PL_MONEY_MAX);
    decimal_ok("00000000000000000000001.00", 100);
}

static void test_parse_decimal_invalid(void **state)
{
    (void)state;
    decimal_bad(NULL);
    decimal_bad("");
    decimal_bad("-");
    decimal_bad(".5");
    decimal_bad("-.5");
    decimal_bad("1.234");
    decimal_bad("1.2.3");
    decimal_bad("--1");
    decimal_bad("+1");
    decimal_bad(" 1");
    decimal_bad("1 ");
    decimal_bad("1,5");
    decimal_bad("abc");
    decimal_bad("1.x");
    /* Out of range: above PL_MONEY_MAX, and far beyond int64_t. */
    decimal_bad("10000000000000");
    decimal_bad("10000000000000.00");
    decimal_bad("-10000000000000.00");
    decimal_bad("99999999999999999999999999");

    assert_int_equal(pl_money_parse_decimal("1", NULL), PL_ERR_INVALID);
}

static void format_is(int64_t minor, const char *want)
{
    char buf[24];
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(pl_money_format(minor, buf, sizeof(buf)), PL_OK);
    assert_string_equal(buf, want);
}

static void test_format(void **state)
{
    (void)state;
    format_is(0, "0.00");
    format_is(5, "0.05");
    format_is(50, "0.50");
    format_is(100, "1.00");
    format_is(123456, "1234.56");
    format_is(-50, "-0.50");
    format_is(-5, "-0.05");
    format_is(-100, "-1.00");
    format_is(PL_MONEY_MAX, "9999999999999.99");
    format_is(INT64_MAX, "92233720368547758.07");
    format_is(INT64_MIN, "-92233720368547758.08");
}

static void test_format_buffer_size(void **state)
{
    (void)state;
    char buf[24];
    /* "1234.56" needs 8 bytes with its NUL. */
    assert_int_equal(pl_money_format(123456, buf, 8), PL_OK);
    assert_string_equal(buf, "1234.56");
    assert_int_equal(pl_money_format(123456, buf, 7), PL_ERR_TOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(pl_money_format(-50, buf, 5), PL_ERR_TOOBIG);
    assert_int_equal(pl_money_format(-50, buf, 6), PL_OK);
    assert_string_equal(buf, "-0.50");
    assert_int_equal(pl_money_format(1, NULL, 0), PL_ERR_TOOBIG);
    assert_int_equal(pl_money_format(1, buf, 0), PL_ERR_TOOBIG);
    /* The header's promise: 24 bytes are always enough. */
    assert_int_equal(pl_money_format(INT64_MIN, buf, 24), PL_OK);
}

/* The digits are written by hand: the same text as printf's for a sweep of amounts. */
static void test_format_matches_printf(void **state)
{
    (void)state;
    for (int64_t minor = -250000; minor <= 250000; minor += 7) {
        int64_t values[] = {minor, minor * 1000003, INT64_MAX - (minor < 0 ? -minor : minor),
                            INT64_MIN + (minor < 0 ? -minor : minor)};
        for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
            int64_t v = values[k];
            uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            char want[32], got[32];
            snprintf(want, sizeof want, "%s%" PRIu64 ".%02u", v < 0 ? "-" : "", m / 100,
                     (unsigned)(m % 100));
            assert_int_equal(pl_money_format(v, got, sizeof got), PL_OK);
            assert_string_equal(got, want);
        }
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *amounts[] = {"0.00", "0.01", "19.99", "120.00", "110.37", "9999999999999.99"};
    for (size_t k = 0; k < sizeof(amounts) / sizeof(amounts[0]); k++) {
        int64_t minor = 0;
        char buf[24];
        assert_int_equal(pl_money_parse(amounts[k], &minor), PL_OK);
        assert_int_equal(pl_money_format(minor, buf, sizeof(buf)), PL_OK);
        assert_string_equal(buf, amounts[k]);
        int64_t again = 0;
        assert_int_equal(pl_money_parse_decimal(buf, &again), PL_OK);
        assert_int_equal(again, minor);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_decimal_valid),
        cmocka_unit_test(test_parse_decimal_invalid),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_matches_printf),
        cmocka_unit_test(test_format_buffer_size),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
