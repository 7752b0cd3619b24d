/*
 * test_paylinkctl_bench.c: the pure parts of `paylinkctl bench` (bench.h): option parsing and
 * validation (auth and svc), the warm-up size, the balance the svc benchmark's card is
 * activated with, and the percentile. The benchmark itself drives a running system (README
 * "Benchmark").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bench.h"

/* Parses the NULL-terminated arguments after "bench"; errstr filled. */
static int parse(pl_bench_opts *o, char *errstr, size_t errstr_size, ...)
{
    char *argv[32] = {"bench"};
    int argc = 1;
    va_list ap;
    va_start(ap, errstr_size);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 31;)
        argv[argc++] = (char *)a;
    va_end(ap);
    errstr[0] = '\0';
    return pl_bench_parse(argc, argv, o, errstr, errstr_size);
}

#define PARSE_BAD(want, ...)                                                                       \
    do {                                                                                           \
        pl_bench_opts o_;                                                                          \
        char e_[256];                                                                              \
        assert_int_equal(parse(&o_, e_, sizeof e_, __VA_ARGS__, NULL), PL_ERR_INVALID);            \
        if (!strstr(e_, want))                                                                     \
            fail_msg("error '%s' does not say '%s'", e_, want);                                    \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    pl_bench_opts o;
    char e[256];
    assert_int_equal(parse(&o, e, sizeof e, NULL), PL_OK);
    assert_string_equal(o.worker, "auth");
    assert_int_equal(o.requests, 1000);
    assert_int_equal(o.sim_latency_ms, -1);
    assert_int_equal(o.max_in_flight, 0);
    assert_string_equal(o.amount, "10.00");
    assert_null(o.pid_file);
    assert_int_equal(o.timeout_s, 300);
}

static void test_auth_and_svc(void **state)
{
    (void)state;
    pl_bench_opts o;
    char e[256];
    /* The README's auth command, unchanged. */
    assert_int_equal(parse(&o, e, sizeof e, "--worker", "auth", "--requests", "20000",
                           "--sim-latency-ms", "100", "--max-in-flight", "512", NULL),
                     PL_OK);
    assert_string_equal(o.worker, "auth");
    assert_int_equal(o.requests, 20000);
    assert_int_equal(o.sim_latency_ms, 100);
    assert_int_equal(o.max_in_flight, 512);

    assert_int_equal(parse(&o, e, sizeof e, "--worker=svc", "--requests=5000", "--amount", "1.50",
                           "--pid-file", "/tmp/x.pid", "--timeout", "60", "--sim-latency-ms", "0",
                           "--max-in-flight", "1", NULL),
                     PL_OK);
    assert_string_equal(o.worker, "svc");
    assert_int_equal(o.requests, 5000);
    assert_string_equal(o.amount, "1.50");
    assert_string_equal(o.pid_file, "/tmp/x.pid");
    assert_int_equal(o.timeout_s, 60);
    assert_int_equal(o.sim_latency_ms, 0);
    assert_int_equal(o.max_in_flight, 1);

    /* The limits. */
    assert_int_equal(parse(&o, e, sizeof e, "--requests", "10000000", NULL), PL_OK);
    assert_int_equal(o.requests, PL_BENCH_MAX_REQUESTS);
}

static void test_bad_values(void **state)
{
    (void)state;
    PARSE_BAD("only auth and svc", "--worker", "deposit");
    PARSE_BAD("only auth and svc", "--worker", "");
    PARSE_BAD("--requests", "--requests", "0");
    PARSE_BAD("--requests", "--requests", "10000001");
    PARSE_BAD("--requests", "--requests", "12abc");
    PARSE_BAD("--requests", "--requests", "-5");
    PARSE_BAD("--requests", "--requests", "99999999999999999999");
    PARSE_BAD("--sim-latency-ms", "--sim-latency-ms", "-1");
    PARSE_BAD("--sim-latency-ms", "--sim-latency-ms", "600001");
    PARSE_BAD("--max-in-flight", "--max-in-flight", "-1");
    PARSE_BAD("--max-in-flight", "--max-in-flight", "x");
    PARSE_BAD("--amount", "--amount", "10");
    PARSE_BAD("--amount", "--amount", "0.00");
    PARSE_BAD("--amount", "--amount", "1.5");
    PARSE_BAD("--amount", "--amount", "-1.00");
    PARSE_BAD("--timeout", "--timeout", "0");
    PARSE_BAD("--timeout", "--timeout", "86401");
    PARSE_BAD("usage", "--unknown", "1");
    PARSE_BAD("usage", "--requests");
    PARSE_BAD("unexpected argument", "--requests", "5", "stray");
}

static void test_warmup(void **state)
{
    (void)state;
    assert_int_equal(pl_bench_warmup(1), 1);
    assert_int_equal(pl_bench_warmup(199), 199);
    assert_int_equal(pl_bench_warmup(200), 200);
    assert_int_equal(pl_bench_warmup(5000), 200);
}

static void test_svc_balance(void **state)
{
    (void)state;
    char out[24];
    /* The README's run: 5000 measured and 200 warm-up authorizations of 10.00. */
    assert_int_equal(pl_bench_svc_balance(5200, "10.00", out, sizeof out), PL_OK);
    assert_string_equal(out, "53000.00");
    assert_int_equal(pl_bench_svc_balance(2, "0.01", out, sizeof out), PL_OK);
    assert_string_equal(out, "1000.02");
    /* Whatever the total, the whole-unit part is 1000 or more: never a scenario (150, 901-906). */
    assert_int_equal(pl_bench_svc_balance(1, "150.00", out, sizeof out), PL_OK);
    assert_string_equal(out, "1150.00");
    /* The largest total the contract's 13 digits allow, and one cent more. */
    assert_int_equal(pl_bench_svc_balance(1, "9999999998999.99", out, sizeof out), PL_OK);
    assert_string_equal(out, "9999999999999.99");
    assert_int_equal(pl_bench_svc_balance(1, "9999999999000.00", out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(
        pl_bench_svc_balance(PL_BENCH_MAX_REQUESTS + 200, "9999999.99", out, sizeof out),
        PL_ERR_INVALID);
    assert_int_equal(pl_bench_svc_balance(1, "10", out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(pl_bench_svc_balance(1, "0.00", out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(pl_bench_svc_balance(1, "10.00", out, 4), PL_ERR_TOOBIG);
}

static void test_percentile(void **state)
{
    (void)state;
    const double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_true(pl_bench_percentile(v, 0, 50) == 0);
    assert_true(pl_bench_percentile(v, 10, 50) == 5);
    assert_true(pl_bench_percentile(v, 10, 99) == 10);
    assert_true(pl_bench_percentile(v, 10, 0) == 1);
    assert_true(pl_bench_percentile(v, 1, 99.9) == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_auth_and_svc),
        cmocka_unit_test(test_bad_values),  cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_svc_balance), cmocka_unit_test(test_percentile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
