/*
 * test_paylinkctl_bench.c: the pure parts of `paylinkctl bench` (bench.h, bench_cpu.h,
 * bench_replicas.h): option parsing and validation (every worker, the modes, warm-up, baseline,
 * replicas), the warm-up size, the balance the svc benchmark's card is activated with, the
 * percentile, the open loop's schedule, the requests it sends, the last line's JSON, /proc
 * parsing and the CPU account, a replica's environment and the judgement of its consumer group.
 * The benchmark itself drives a running system (README "Benchmark", tests/e2e/test_bench.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_cpu.h"
#include "bench_replicas.h"

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
    assert_int_equal(o.rate, 0);
    assert_int_equal(o.warmup, -1);
    assert_false(o.baseline);
    assert_int_equal(o.baseline_requests, 100);
    assert_int_equal(o.replicas, 1);
    assert_false(o.help);
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

    /* svc's deposits (--type; none by default). */
    assert_null(o.type);
    assert_int_equal(parse(&o, e, sizeof e, "--worker", "svc", "--type", "deposit", NULL), PL_OK);
    assert_string_equal(o.type, "deposit");
    assert_int_equal(parse(&o, e, sizeof e, "--type=auth", "--worker=svc", NULL), PL_OK);
    assert_string_equal(o.type, "auth");

    /* The limits. */
    assert_int_equal(parse(&o, e, sizeof e, "--requests", "10000000", NULL), PL_OK);
    assert_int_equal(o.requests, PL_BENCH_MAX_REQUESTS);
}

static void test_bad_values(void **state)
{
    (void)state;
    PARSE_BAD("auth, deposit, reversal or svc", "--worker", "dmupdate");
    PARSE_BAD("auth, deposit, reversal or svc", "--worker", "");
    PARSE_BAD("auth, deposit, reversal or svc", "--worker", "Auth");
    PARSE_BAD("--type: expected auth or deposit", "--worker", "svc", "--type", "debit");
    PARSE_BAD("--type: only with --worker svc", "--worker", "deposit", "--type", "deposit");
    PARSE_BAD("--type: only with --worker svc", "--type", "auth");
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
    PARSE_BAD("--rate", "--rate", "0");
    PARSE_BAD("--rate", "--rate", "1000001");
    PARSE_BAD("--rate", "--rate", "2.5");
    PARSE_BAD("--warmup", "--warmup", "-1");
    PARSE_BAD("--warmup", "--warmup", "10000001");
    PARSE_BAD("--baseline-requests", "--baseline", "--baseline-requests", "0");
    PARSE_BAD("--baseline-requests", "--baseline-requests", "10");
    PARSE_BAD("only with --baseline", "--baseline-requests", "10");
    PARSE_BAD("usage", "--baseline=yes");
    PARSE_BAD("--replicas", "--replicas", "0");
    PARSE_BAD("--replicas", "--replicas", "33");
    PARSE_BAD("partitions", "--replicas", "100");
}

static void test_new_options(void **state)
{
    (void)state;
    pl_bench_opts o;
    char e[256];
    /* The consuming workers. */
    const char *workers[] = {"auth", "deposit", "reversal", "svc"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(parse(&o, e, sizeof e, "--worker", workers[i], NULL), PL_OK);
        assert_string_equal(o.worker, workers[i]);
    }
    /* Open loop with its bound, warm-up, baseline and replicas. */
    assert_int_equal(parse(&o, e, sizeof e, "--worker", "deposit", "--rate", "500",
                           "--max-in-flight", "2000", "--warmup", "0", "--baseline",
                           "--baseline-requests", "3", "--replicas", "2", NULL),
                     PL_OK);
    assert_int_equal(o.rate, 500);
    assert_int_equal(o.max_in_flight, 2000);
    assert_int_equal(o.warmup, 0);
    assert_true(o.baseline);
    assert_int_equal(o.baseline_requests, 3);
    assert_int_equal(o.replicas, 2);
    assert_int_equal(parse(&o, e, sizeof e, "--baseline", "--rate=1000000", "--replicas=32",
                           "--warmup=10000000", NULL),
                     PL_OK);
    assert_true(o.baseline);
    assert_int_equal(o.baseline_requests, 100);
    assert_int_equal(o.rate, PL_BENCH_MAX_RATE);
    assert_int_equal(o.replicas, PL_BENCH_MAX_REPLICAS);
    assert_int_equal(o.warmup, 10000000);
    assert_int_equal(parse(&o, e, sizeof e, "--help", NULL), PL_OK);
    assert_true(o.help);

    /* The usage names every option and says where latency counts from in the open loop. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    pl_bench_usage(f);
    fclose(f);
    const char *words[] = {"--worker",
                           "deposit",
                           "reversal",
                           "--rate",
                           "--warmup",
                           "--baseline",
                           "--baseline-requests",
                           "--replicas",
                           "scheduled",
                           "worker_cpu_us_per_tx"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strstr(text, words[i]))
            fail_msg("the usage does not mention '%s'", words[i]);
    free(text);
}

static void test_warmup(void **state)
{
    (void)state;
    assert_int_equal(pl_bench_warmup(1, 64), 1);
    assert_int_equal(pl_bench_warmup(199, 64), 199);
    assert_int_equal(pl_bench_warmup(200, 64), 200);
    assert_int_equal(pl_bench_warmup(5000, 64), 200);
    assert_int_equal(pl_bench_warmup(5000, 1), 200);
    assert_int_equal(pl_bench_warmup(5000, 0), 200); /* all at once */
    assert_int_equal(pl_bench_warmup(5000, 100), 200);
    /* Twice the concurrency when that is more: every connection the measured phase needs is
     * open (and used once more) before it starts. */
    assert_int_equal(pl_bench_warmup(5000, 101), 202);
    assert_int_equal(pl_bench_warmup(5000, 512), 1024);
    assert_int_equal(pl_bench_warmup(800, 512), 800);
    /* --warmup W: W, at most the phase's size; -1: the default. */
    assert_int_equal(pl_bench_warmup_of(-1, 5000, 64), 200);
    assert_int_equal(pl_bench_warmup_of(-1, 5000, 512), 1024);
    assert_int_equal(pl_bench_warmup_of(-1, 3, 512), 3);
    assert_int_equal(pl_bench_warmup_of(0, 5000, 512), 0);
    assert_int_equal(pl_bench_warmup_of(2, 10, 512), 2);
    assert_int_equal(pl_bench_warmup_of(500, 100, 512), 100);
}

static void test_rate_schedule(void **state)
{
    (void)state;
    /* 100/s: request i is due 10 ms * i after the start; the first at once. */
    assert_true(pl_bench_rate_slot(0, 100) == 0);
    assert_true(fabs(pl_bench_rate_slot(50, 100) - 0.5) < 1e-12);
    assert_int_equal(pl_bench_rate_due(-0.001, 100, 1000), 0);
    assert_int_equal(pl_bench_rate_due(0, 100, 1000), 1);
    assert_int_equal(pl_bench_rate_due(0.0099, 100, 1000), 1);
    assert_int_equal(pl_bench_rate_due(0.0101, 100, 1000), 2);
    assert_int_equal(pl_bench_rate_due(1.0, 100, 1000), 101);
    assert_int_equal(pl_bench_rate_due(100.0, 100, 1000), 1000); /* never more than n */
    assert_int_equal(pl_bench_rate_due(1e9, PL_BENCH_MAX_RATE, 7), 7);
    assert_int_equal(pl_bench_rate_due(1.0, 0, 10), 0);
    /* The bound of outstanding requests: K when given, else ten seconds' worth. */
    assert_int_equal(pl_bench_rate_cap(64, 1000), 64);
    assert_int_equal(pl_bench_rate_cap(0, 1000), 10000);
    assert_int_equal(pl_bench_rate_cap(0, 1), 10);
    assert_int_equal(pl_bench_rate_cap(0, PL_BENCH_MAX_RATE), 1000000);
    /* Every request at its time: the rate itself; one second late at the end: slower. */
    assert_true(fabs(pl_bench_rate_achieved(1000, 9.99, 100) - 100.0) < 1e-9);
    assert_true(fabs(pl_bench_rate_achieved(1, 0, 100) - 100.0) < 1e-9);
    double slow = pl_bench_rate_achieved(1000, 10.99, 100);
    assert_true(slow < 95.0 && slow > 90.0);
    assert_true(pl_bench_rate_kept(100.0, 100));
    assert_true(pl_bench_rate_kept(95.0, 100));
    assert_false(pl_bench_rate_kept(slow, 100));
    assert_true(pl_bench_rate_achieved(0, 1, 100) == 0);
}

/* The text of a json-c object at path "a.b" (one level of nesting at most), or NULL. */
static const char *field(json_object *o, const char *key, const char *sub)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    if (sub && !json_object_object_get_ex(v, sub, &v))
        return NULL;
    return json_object_get_string(v);
}

static void test_requests(void **state)
{
    (void)state;
    pl_bench_req q = {.op = PL_BENCH_DEBIT,
                      .request_id = "bench-x-5",
                      .order = "Bx5",
                      .amount = "10.00",
                      .auth_ref = "bench-x-a5"};
    json_object *o = pl_bench_request(&q);
    assert_non_null(o);
    assert_string_equal(field(o, "type", NULL), "debit");
    assert_string_equal(field(o, "request_id", NULL), "bench-x-5");
    assert_string_equal(field(o, "order", NULL), "Bx5");
    assert_string_equal(field(o, "company", NULL), "1");
    assert_string_equal(field(o, "pay_seq", NULL), "1");
    assert_string_equal(field(o, "service", NULL), "CYB");
    assert_string_equal(field(o, "amount", NULL), "10.00");
    assert_string_equal(field(o, "currency", NULL), "USD");
    assert_string_equal(field(o, "auth_ref", "request_id"), "bench-x-a5");
    assert_null(field(o, "card", NULL));
    json_object_put(o);

    q.op = PL_BENCH_REVERSAL;
    o = pl_bench_request(&q);
    assert_string_equal(field(o, "type", NULL), "reversal");
    assert_string_equal(field(o, "auth_ref", "request_id"), "bench-x-a5");
    json_object_put(o);

    q.op = PL_BENCH_AUTH;
    o = pl_bench_request(&q);
    assert_string_equal(field(o, "type", NULL), "auth");
    assert_string_equal(field(o, "card", "number"), "4111111111111111");
    assert_string_equal(field(o, "card", "type"), "VI");
    assert_true(atoi(field(o, "card", "exp_year")) > 2025);
    assert_null(field(o, "auth_ref", NULL));
    json_object_put(o);

    q.op = PL_BENCH_SVC_ACTIVATE;
    q.svc_card = "7912345678901234";
    o = pl_bench_request(&q);
    assert_string_equal(field(o, "type", NULL), "activate");
    assert_string_equal(field(o, "service", NULL), "RLT");
    assert_string_equal(field(o, "svc", "card_number"), "7912345678901234");
    assert_string_equal(field(o, "svc", "issue_amount"), "10.00");
    assert_string_equal(field(o, "svc", "virtual"), "false");
    json_object_put(o);

    q.op = PL_BENCH_SVC_AUTH;
    o = pl_bench_request(&q);
    assert_string_equal(field(o, "type", NULL), "auth");
    assert_null(field(o, "svc", "issue_amount"));
    assert_null(field(o, "auth_ref", NULL));
    json_object_put(o);

    /* A stored value deposit: the run's card and the authorization it draws on. */
    q.op = PL_BENCH_SVC_DEPOSIT;
    o = pl_bench_request(&q);
    assert_string_equal(field(o, "type", NULL), "deposit");
    assert_string_equal(field(o, "service", NULL), "RLT");
    assert_string_equal(field(o, "amount", NULL), "10.00");
    assert_string_equal(field(o, "svc", "card_number"), "7912345678901234");
    assert_string_equal(field(o, "auth_ref", "request_id"), "bench-x-a5");
    assert_null(field(o, "card", NULL));
    json_object_put(o);
}

static void test_result_json(void **state)
{
    (void)state;
    pl_bench_result r = {.worker = "deposit",
                         .type = "debit",
                         .requests = 10,
                         .replies = 10,
                         .approved = 9,
                         .seconds = 2.0,
                         .p50_ms = 12.345,
                         .p99_ms = 40.06,
                         .max_rss_kb = 51200,
                         .worker_us = 850.04,
                         .db_us = 1200.0,
                         .harness_us = -1,
                         .sim_us = 300,
                         .broker_us = -1,
                         .bench_us = 100,
                         .db_upkeep_us = 150.04,
                         .max_in_flight = 4,
                         .sim_latency_ms = -1,
                         .replicas = 2,
                         .warmup = 2,
                         .max_gap_ms = 250.04,
                         .io_stall_pct = -1,
                         .tls_full = -1,
                         .tls_resumed = -1};
    json_object *o = pl_bench_result_json(&r);
    assert_non_null(o);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    /* Fixed decimals, unknown figures null, no baseline or open-loop fields. */
    assert_non_null(strstr(text, "\"replies\":10,\"seconds\":2.000,\"throughput\":5.0,"
                                 "\"p50_ms\":12.3,\"p99_ms\":40.1,\"max_rss_kb\":51200,"
                                 "\"worker_cpu_us_per_tx\":850.0,\"db_cpu_us_per_tx\":1200.0,"
                                 "\"harness_cpu_us_per_tx\":null,"));
    assert_non_null(strstr(text, "\"requests\":10,\"approved\":9,\"max_in_flight\":4,"
                                 "\"sim_latency_ms\":-1,\"worker\":\"deposit\",\"type\":\"debit\","
                                 "\"replicas\":2,"
                                 "\"rate\":0,"));
    assert_non_null(strstr(text, "\"broker_cpu_us_per_tx\":null"));
    assert_non_null(strstr(text, "\"db_upkeep_cpu_us_per_tx\":150.0"));
    assert_non_null(strstr(text, "\"max_gap_ms\":250.0,\"max_gap_at\":null,\"max_gap_from_s\":null,"
                                 "\"io_stall_pct\":null,\"tls_full\":null,\"tls_resumed\":null"));
    assert_null(strstr(text, "baseline"));
    assert_null(strstr(text, "speedup"));
    assert_null(strstr(text, "rate_kept"));
    /* It reads back as JSON. */
    json_object *back = json_tokener_parse(text);
    assert_non_null(back);
    json_object_put(back);
    json_object_put(o);

    r.baseline = true;
    r.baseline_requests = 3;
    r.baseline_replies = 3;
    r.baseline_seconds = 1.5; /* 2 replies/s against 5: 2.5 times */
    r.rate = 50;
    r.rate_achieved = 49.5;
    r.rate_kept = true;
    r.send_lag_max_ms = 3.25;
    r.io_stall_pct = 12.34;
    snprintf(r.max_gap_at, sizeof r.max_gap_at, "2026-12-05T18:02:51.123Z");
    r.max_gap_from_s = 0.25;
    /* The simulator counted 10 full and 5 resumed handshakes before the phase, 14 and 8 after:
     * the second count's own connection was one of the 4 full ones. */
    pl_bench_tls_of(10, 5, 14, 8, &r);
    assert_int_equal(r.tls_full, 3);
    assert_int_equal(r.tls_resumed, 3);
    pl_bench_tls_of(14, 8, 15, 8, &r); /* none but the count's own */
    assert_int_equal(r.tls_full, 0);
    assert_int_equal(r.tls_resumed, 0);
    pl_bench_tls_of(10, 5, 14, 8, &r);
    o = pl_bench_result_json(&r);
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(text, "\"baseline_throughput\":2.0,\"speedup\":2.50,"));
    assert_non_null(strstr(text, "\"rate\":50,"));
    assert_non_null(strstr(text, "\"rate_achieved\":49.5,\"rate_kept\":true,"
                                 "\"send_lag_max_ms\":3.2"));
    assert_non_null(strstr(text, "\"baseline_requests\":3,\"baseline_replies\":3"));
    assert_non_null(strstr(text, "\"max_gap_at\":\"2026-12-05T18:02:51.123Z\","
                                 "\"max_gap_from_s\":0.250,\"io_stall_pct\":12.3,"
                                 "\"tls_full\":3,\"tls_resumed\":3,"));
    json_object_put(o);

    /* No baseline reply: its throughput 0 and the speed-up unknown. */
    r.baseline_replies = 0;
    o = pl_bench_result_json(&r);
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(text, "\"baseline_throughput\":0.0,\"speedup\":null,"));
    json_object_put(o);
}

static void test_proc_parsing(void **state)
{
    (void)state;
    pl_bench_stat st;
    /* A command name with blanks and parentheses; a negative tpgid. */
    const char *stat = "4242 (postgres: a (b) c) S 4000 4242 4242 0 -1 4194560 1061 0 0 0 "
                       "157 43 12 8 20 0 1 0 100 1000 200 18446744073709551615";
    assert_int_equal(pl_bench_stat_parse(stat, &st), PL_OK);
    assert_int_equal(st.ppid, 4000);
    assert_int_equal(st.utime, 157);
    assert_int_equal(st.stime, 43);
    assert_int_equal(st.cutime, 12);
    assert_int_equal(st.cstime, 8);
    assert_int_equal(pl_bench_stat_parse("4242 (x) S 1 2 3", &st), PL_ERR_PARSE);
    assert_int_equal(pl_bench_stat_parse("4242 no name", &st), PL_ERR_PARSE);
    assert_int_equal(pl_bench_stat_parse("1 (x) 7 1 2 3 4 5 6 7 8 9 10 11 12 13 14", &st),
                     PL_ERR_PARSE);
    /* This process's own stat parses, with its parent. */
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_int_equal(pl_bench_stat_parse(buf, &st), PL_OK);
    assert_int_equal(st.ppid, (long)getppid());

    assert_int_equal(pl_bench_status_vmhwm("Name:\tx\nVmPeak:\t 9 kB\nVmHWM:\t   51200 kB\n"),
                     51200);
    assert_int_equal(pl_bench_status_vmhwm("Name:\tx\nVmRSS:\t 9 kB\n"), -1);
    assert_int_equal(pl_bench_status_vmhwm(""), -1);
    long self = (long)getpid();
    assert_true(pl_bench_peak_rss_kb(&self, 1) > 0);
    long gone = -5;
    assert_int_equal(pl_bench_peak_rss_kb(&gone, 1), -1);

    assert_int_equal(pl_bench_pid_parse("1234\n"), 1234);
    assert_int_equal(pl_bench_pid_parse(" 77 "), 77);
    assert_int_equal(pl_bench_pid_parse(""), -1);
    assert_int_equal(pl_bench_pid_parse("0"), -1);
    assert_int_equal(pl_bench_pid_parse("12a"), -1);
    assert_int_equal(pl_bench_pid_parse("-3"), -1);
    assert_int_equal(pl_bench_pid_parse("1234567890123"), -1);
    assert_int_equal(pl_bench_pid_file("/nonexistent/x.pid"), -1);

    /* Pressure stall information: the "full" line's total, µs, as seconds. */
    const char *psi = "some avg10=1.00 avg60=2.00 avg300=3.00 total=9000000\n"
                      "full avg10=0.50 avg60=1.00 avg300=1.50 total=2500000\n";
    assert_true(fabs(pl_bench_psi_full_s(psi) - 2.5) < 1e-9);
    assert_true(pl_bench_psi_full_s("some avg10=1.00 avg60=2.00 avg300=3.00 total=9\n") < 0);
    assert_true(pl_bench_psi_full_s("full avg10=0.50 avg60=1.00 avg300=1.50\nx total=5\n") < 0);
    assert_true(pl_bench_psi_full_s("full avg10=0.50 total=-4\n") < 0);
    assert_true(pl_bench_psi_full_s("full avg10=0.50 total=12x\n") < 0);
    assert_true(pl_bench_psi_full_s("") < 0);
}

/* PostgreSQL's children by their process titles: its background processes are its upkeep. */
static void test_pg_titles(void **state)
{
    (void)state;
    static const char *const upkeep[] = {
        "postgres: checkpointer ",
        "postgres: background writer ",
        "postgres: walwriter ",
        "postgres: autovacuum launcher ",
        "postgres: autovacuum worker paylink",
        "postgres: logical replication launcher ",
        "postgres: main: checkpointer ", /* with a cluster_name */
        "postgres: stats collector ",    /* before PostgreSQL 15 */
        "postgres: archiver",
    };
    for (size_t i = 0; i < sizeof upkeep / sizeof upkeep[0]; i++)
        assert_true(pl_bench_pg_title_is_upkeep(upkeep[i]));
    static const char *const statements[] = {
        "postgres: paylink paylink 127.0.0.1(60356) idle",
        "postgres: paylink paylink [local] UPDATE",
        "postgres: parallel worker for PID 4242 ",
        "postgres: checkpointers paylink 127.0.0.1(1) idle", /* a role named so */
        "postgres: autovacuumx paylink [local] idle",
        "postgres: autovacuum paylink 127.0.0.1(5) idle", /* a role named so, too */
        "postgres: walwriter paylink [local] idle",
        "/usr/lib/postgresql/15/bin/postgres -D /data", /* the postmaster's own command line */
        "checkpointer",
        "",
    };
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
        assert_false(pl_bench_pg_title_is_upkeep(statements[i]));
}

static void test_cpu_account(void **state)
{
    (void)state;
    pl_bench_cpu_sample a = {.wall_s = 100.0}, b = {.wall_s = 102.0};
    for (int i = 0; i < PL_BENCH_CPU_NPARTS; i++) {
        a.known[i] = b.known[i] = true;
        a.cpu_s[i] = 10.0 * i;
    }
    b.cpu_s[PL_BENCH_CPU_WORKER] = 1.0;         /* 1 s */
    b.cpu_s[PL_BENCH_CPU_DB] = 10.0 + 0.5;      /* 0.5 s */
    b.cpu_s[PL_BENCH_CPU_SIM] = 20.0 + 0.2;     /* 0.2 s */
    b.cpu_s[PL_BENCH_CPU_BROKER] = 30.0 + 0.25; /* 0.25 s */
    b.cpu_s[PL_BENCH_CPU_BENCH] = 40.0 + 0.05;  /* 0.05 s */
    pl_bench_cpu_account acct;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_true(fabs(acct.wall_s - 2.0) < 1e-9);
    /* 1000 replies: 1 s of worker is 1000 µs each. */
    assert_true(fabs(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_WORKER, 1000) - 1000.0) < 1e-6);
    assert_true(fabs(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_DB, 1000) - 500.0) < 1e-6);
    /* The harness: simulator + broker + benchmark. */
    assert_true(fabs(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_NPARTS, 1000) - 500.0) < 1e-6);
    assert_true(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_WORKER, 0) < 0);
    assert_true(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_NPARTS + 1, 10) < 0);

    /* PostgreSQL's upkeep, of its 0.5 s: 0.1 s is 100 µs a reply; never below 0 (a process of
     * it gone between the samples) nor above PostgreSQL's whole. */
    a.db_upkeep_s = 3.0;
    b.db_upkeep_s = 3.1;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_true(fabs(pl_bench_db_upkeep_us_per_tx(&acct, 1000) - 100.0) < 1e-6);
    b.db_upkeep_s = 2.0;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_true(pl_bench_db_upkeep_us_per_tx(&acct, 1000) == 0);
    b.db_upkeep_s = 4.0;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_true(fabs(pl_bench_db_upkeep_us_per_tx(&acct, 1000) - 500.0) < 1e-6);
    assert_true(pl_bench_db_upkeep_us_per_tx(&acct, 0) < 0);
    b.db_upkeep_s = 3.1;
    pl_bench_cpu_account_of(&a, &b, &acct);

    /* The I/O stall: 0.5 s of 2 s is 25 %; unknown when a sample has none, or it went back. */
    a.io_full_s = 7.0;
    b.io_full_s = 7.5;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_true(fabs(pl_bench_io_stall_pct(&acct) - 25.0) < 1e-9);
    b.io_full_s = -1;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_true(pl_bench_io_stall_pct(&acct) < 0);
    b.io_full_s = 6.0;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_true(pl_bench_io_stall_pct(&acct) < 0);
    b.io_full_s = 7.5;
    pl_bench_cpu_account_of(&a, &b, &acct);

    /* The table: each component, % of a core, µs per reply. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    pl_bench_cpu_print(f, &acct, 1000, 2);
    fclose(f);
    assert_non_null(strstr(text, "worker (2 replicas)"));
    assert_non_null(strstr(text, "1.00     50.0       1000.0"));
    assert_non_null(strstr(text, "postgresql"));
    assert_non_null(strstr(text, "  of it, its upkeep         0.10      5.0        100.0"));
    assert_non_null(strstr(text, "broker"));
    free(text);

    /* Unknown in either sample: unknown (and the harness with it); never below zero. */
    b.known[PL_BENCH_CPU_BROKER] = false;
    b.cpu_s[PL_BENCH_CPU_DB] = 5.0;
    pl_bench_cpu_account_of(&a, &b, &acct);
    assert_false(acct.known[PL_BENCH_CPU_BROKER]);
    assert_true(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_BROKER, 1000) < 0);
    assert_true(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_NPARTS, 1000) < 0);
    assert_true(pl_bench_cpu_us_per_tx(&acct, PL_BENCH_CPU_DB, 1000) == 0);
    text = NULL;
    f = open_memstream(&text, &len);
    pl_bench_cpu_print(f, &acct, 1000, 1);
    fclose(f);
    assert_non_null(strstr(text, "worker "));
    assert_null(strstr(text, "replicas"));
    free(text);

    /* A real sample: this process is the worker and the benchmark; no run folder. */
    long self = (long)getpid();
    pl_bench_cpu_sample s;
    pl_bench_cpu_take(NULL, &self, 1, &s);
    assert_true(s.known[PL_BENCH_CPU_WORKER]);
    assert_true(s.known[PL_BENCH_CPU_BENCH]);
    assert_false(s.known[PL_BENCH_CPU_DB]);
    assert_false(s.known[PL_BENCH_CPU_BROKER]);
    long none = 999999999;
    pl_bench_cpu_take("/nonexistent", &none, 1, &s);
    assert_false(s.known[PL_BENCH_CPU_WORKER]);
    assert_false(s.known[PL_BENCH_CPU_SIM]);
}

static void test_replica_env(void **state)
{
    (void)state;
    char *env[] = {"PAYLINK_DB=host=x",
                   "PAYLINK_METRICS_PORT=19101",
                   "PAYLINK_INSTANCE=old",
                   "PAYLINK_METRICS_PORTX=1",
                   "PATH=/bin",
                   NULL};
    char **out = pl_bench_replica_envp(env, "bench1r2");
    assert_non_null(out);
    size_t n = 0;
    while (out[n])
        n++;
    assert_int_equal(n, 5);
    assert_string_equal(out[0], "PAYLINK_DB=host=x");
    assert_string_equal(out[1], "PAYLINK_METRICS_PORTX=1");
    assert_string_equal(out[2], "PATH=/bin");
    assert_string_equal(out[3], "PAYLINK_METRICS_PORT=0");
    assert_string_equal(out[4], "PAYLINK_INSTANCE=bench1r2");
    pl_bench_envp_free(out);
    out = pl_bench_replica_envp(NULL, "i");
    assert_non_null(out);
    assert_string_equal(out[0], "PAYLINK_METRICS_PORT=0");
    assert_null(out[2]);
    pl_bench_envp_free(out);
    pl_bench_envp_free(NULL);
}

static void test_group_joined(void **state)
{
    (void)state;
    const char *inst[] = {"bench1r2", "bench1r3"};
    pl_bench_member m[] = {{"paylink-auth-consumer-host-100", 11},
                           {"paylink-auth-consumer-bench1r2", 11},
                           {"paylink-auth-consumer-bench1r3", 10}};
    assert_true(pl_bench_group_joined(true, m, 3, inst, 2, 3));
    assert_false(pl_bench_group_joined(false, m, 3, inst, 2, 3)); /* rebalancing */
    assert_false(pl_bench_group_joined(true, m, 3, inst, 2, 4));  /* one missing */
    assert_false(pl_bench_group_joined(true, m, 2, inst, 2, 2));  /* bench1r3 not in */
    m[2].partitions = 0; /* in the group, no partitions yet (cooperative: the second round) */
    assert_false(pl_bench_group_joined(true, m, 3, inst, 2, 3));
    m[2].partitions = 10;
    /* An instance name is matched whole, after a dash. */
    const char *other[] = {"r2"};
    assert_false(pl_bench_group_joined(true, m, 3, other, 1, 3));
    m[1].client_id = NULL;
    assert_false(pl_bench_group_joined(true, m, 3, inst, 2, 3));
    assert_true(pl_bench_group_joined(true, m, 1, NULL, 0, 1));

    assert_true(pl_bench_log_assigned("x\n2026 INFO assigned 16 partition(s)\n"));
    assert_false(pl_bench_log_assigned("2026 INFO assigned 0 partition(s)\n"));
    assert_false(pl_bench_log_assigned("2026 INFO revoking 16 partition(s)\n"));
    assert_false(pl_bench_log_assigned("assigned x partition"));
    assert_true(pl_bench_log_assigned("assigned 0 partition(s) assigned 3 partition(s)"));
    assert_false(pl_bench_log_assigned(""));
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

/* A run id holds no digit, so no request id of the run (bench-<run>-<n>) can hold a card
 * number: "6b0f89890975" (hex time and pid) next to "-100403" made 14 digits passing Luhn. */
/* --help needs no brokers (it used to be refused without PAYLINK_KAFKA_BROKERS); a run does. */
static void test_main_brokers(void **state)
{
    (void)state;
    char *help[] = {"bench", "--help", NULL};
    assert_int_equal(pl_bench_main(2, help, NULL, "paylink"), 0);
    char *run[] = {"bench", "--worker", "auth", "--requests", "5", NULL};
    assert_int_equal(pl_bench_main(5, run, NULL, "paylink"), 1);
    assert_int_equal(pl_bench_main(5, run, "", "paylink"), 1);
    char *bad[] = {"bench", "--requests", "x", NULL};
    assert_int_equal(pl_bench_main(3, bad, NULL, "paylink"), 2);
}

static void test_run_id(void **state)
{
    (void)state;
    char id[32];
    const unsigned long times[] = {0, 1, 0x6b0f8989UL, 0xffffffffUL, 1796176797UL};
    for (size_t k = 0; k < sizeof times / sizeof times[0]; k++) {
        pl_bench_run_id(times[k], 0x0975, id, sizeof id);
        assert_int_equal(strlen(id), 11);
        for (const char *c = id; *c; c++)
            assert_true(*c >= 'a' && *c <= 'z');
    }
    char a[32], b[32];
    pl_bench_run_id(1796176797UL, 1, a, sizeof a);
    pl_bench_run_id(1796176797UL, 2, b, sizeof b);
    assert_string_not_equal(a, b); /* two benchmarks started in the same second differ */
    pl_bench_run_id(1796176797UL, 1, a, 5);
    assert_int_equal(strlen(a), 4); /* cut to fit, terminated */
}

/* When the longest gap began, in the wall clock: milliseconds carry into the seconds, minutes,
 * the day; a negative or unknown offset writes nothing. */
static void test_wall_at(void **state)
{
    (void)state;
    char out[32];
    /* 2026-12-05T18:02:50.900Z */
    struct timespec w = {.tv_sec = 1796493770, .tv_nsec = 900000000};
    pl_bench_wall_at(&w, 0, out, sizeof out);
    assert_string_equal(out, "2026-12-05T18:02:50.900Z");
    pl_bench_wall_at(&w, 0.2234, out, sizeof out);
    assert_string_equal(out, "2026-12-05T18:02:51.123Z");
    pl_bench_wall_at(&w, 3369.1, out, sizeof out);
    assert_string_equal(out, "2026-12-05T18:59:00.000Z");
    w.tv_sec = 1796515199; /* 23:59:59 */
    w.tv_nsec = 999600000;
    pl_bench_wall_at(&w, 0.0005, out, sizeof out);
    assert_string_equal(out, "2026-12-06T00:00:00.000Z");
    pl_bench_wall_at(&w, -1, out, sizeof out);
    assert_string_equal(out, "");
    pl_bench_wall_at(&w, 0.0 / 0.0, out, sizeof out);
    assert_string_equal(out, "");
    pl_bench_wall_at(&w, 1, out, 10); /* too small for the text */
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_auth_and_svc),
        cmocka_unit_test(test_bad_values),  cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_svc_balance), cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_new_options), cmocka_unit_test(test_rate_schedule),
        cmocka_unit_test(test_requests),    cmocka_unit_test(test_result_json),
        cmocka_unit_test(test_wall_at),     cmocka_unit_test(test_proc_parsing),
        cmocka_unit_test(test_pg_titles),   cmocka_unit_test(test_cpu_account),
        cmocka_unit_test(test_replica_env), cmocka_unit_test(test_group_joined),
        cmocka_unit_test(test_run_id),      cmocka_unit_test(test_main_brokers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
