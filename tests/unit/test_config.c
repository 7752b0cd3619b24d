/*
 * test_config.c: worker settings from the environment and secret references (config.h).
 *
 * Every test starts from an environment without any PAYLINK_ variable (setup clears them), so
 * the defaults and the "required" errors are checked against exactly what the test set.
 * Secrets are written to files in a private mkdtemp directory removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const char *const all_vars[] = {
    "PAYLINK_KAFKA_BROKERS",
    "PAYLINK_DB",
    "PAYLINK_TOPIC_PREFIX",
    "PAYLINK_CA_FILE",
    "PAYLINK_METRICS_PORT",
    "PAYLINK_METRICS_BIND",
    "PAYLINK_MAX_IN_FLIGHT",
    "PAYLINK_HASH_KEY_FILE",
    "PAYLINK_HASH_KEY",
    "PAYLINK_LOG_LEVEL",
    "PAYLINK_LOG_MASK",
    "PAYLINK_KAFKA_SESSION_TIMEOUT_MS",
    "PAYLINK_DRAIN_TIMEOUT_MS",
    "PAYLINK_KAFKA_STALL_MS",
    "PAYLINK_FINGERPRINT_VERSION",
    "PAYLINK_CONFIG_REFRESH_S",
    "PAYLINK_INSTANCE",
    "PLTEST_SECRET",
    "PLTEST_SECRET_FILE",
    "PAYLINK_PROXY_HOST",
    "PAYLINK_PROXY_PORT",
    "PAYLINK_HASH_KEY_PREVIOUS_FILES",
    "PAYLINK_KAFKA_GROUP",
    "PAYLINK_KAFKA_FETCH_WAIT_MS",
    "PAYLINK_KAFKA_FETCH_MIN_BYTES",
    "PAYLINK_SLOT_WAIT_RECORD_MS",
    "PAYLINK_SLOT_WAIT_MAX_MS",
    "PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS",
    "PAYLINK_RDKAFKA_max_poll_interval_ms",
    "PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MSX",
};

#define KEY16 "0123456789abcdef"

static char g_dir[64];

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
        unsetenv(all_vars[i]);
}

/* The minimum a worker needs: brokers, database and a hash key. */
static void set_required(void)
{
    setenv("PAYLINK_KAFKA_BROKERS", "broker1:9092,broker2:9092", 1);
    setenv("PAYLINK_DB", "host=db dbname=paylink", 1);
    setenv("PAYLINK_HASH_KEY", KEY16, 1);
}

/* Writes `len` bytes of `content` to g_dir/name with the given mode (whatever the umask) and
 * returns the path (static buffer). */
static const char *write_file_mode(const char *name, const char *content, size_t len, mode_t mode)
{
    static char path[192];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fchmod(fileno(f), mode), 0);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* A secret file as it should be: readable by its owner only. */
static const char *write_file(const char *name, const char *content, size_t len)
{
    return write_file_mode(name, content, len, 0600);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/pl_test_config.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* Asserts pl_config_from_env fails with PL_ERR_CONFIG and an errstr containing `want`. */
static void config_fails(const char *want)
{
    pl_config c;
    char err[256] = "";
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), PL_ERR_CONFIG);
    if (!strstr(err, want))
        fail_msg("errstr \"%s\" does not mention \"%s\"", err, want);
    pl_config_free(&c);
}

static void test_required_variables(void **state)
{
    (void)state;
    config_fails("PAYLINK_KAFKA_BROKERS is not set");
    setenv("PAYLINK_KAFKA_BROKERS", "b:9092", 1);
    config_fails("PAYLINK_DB is not set");
    /* Set but empty counts as missing. */
    setenv("PAYLINK_DB", "", 1);
    config_fails("PAYLINK_DB is not set");
    setenv("PAYLINK_DB", "dbname=x", 1);
    config_fails("card hash key");
}

static void test_defaults(void **state)
{
    (void)state;
    set_required();
    pl_config c;
    char err[256] = "";
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_string_equal(c.worker, "auth");
    assert_string_equal(c.brokers, "broker1:9092,broker2:9092");
    assert_string_equal(c.db, "host=db dbname=paylink");
    assert_string_equal(c.topic_prefix, "paylink");
    assert_string_equal(c.ca_file, "");
    assert_string_equal(c.metrics_bind, "0.0.0.0");
    assert_int_equal(c.metrics_port, 9101);
    assert_int_equal(c.max_in_flight, 512);
    assert_int_equal(c.session_timeout_ms, 45000);
    assert_int_equal(c.fetch_wait_ms, 500);
    assert_int_equal(c.fetch_min_bytes, 1);
    assert_int_equal(c.slot_wait_record_ms, 1000);
    assert_int_equal(c.slot_wait_max_ms, 10000);
    assert_int_equal(c.drain_timeout_ms, 30000);
    assert_int_equal(c.max_poll_interval_ms, 300000);
    assert_int_equal(c.fetch_stall_ms, 120000);
    assert_int_equal(c.fingerprint_version, 2);
    assert_int_equal(c.refresh_s, 60);
    assert_int_equal(c.log_level, PL_LOG_INFO);
    assert_int_equal(c.log_mask, PL_MASK_LAST4);
    assert_int_equal(c.hash_key_len, 16);
    assert_memory_equal(c.hash_key, KEY16, 16);
    /* Default instance: "<host>-<pid>". */
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%ld", (long)getpid());
    size_t il = strlen(c.instance), sl = strlen(suffix);
    assert_true(il > sl);
    assert_string_equal(c.instance + il - sl, suffix);
    pl_config_free(&c);

    /* The default metrics port follows the worker. */
    assert_int_equal(pl_config_from_env(&c, "deposit", err, sizeof err), 0);
    assert_int_equal(c.metrics_port, 9102);
    pl_config_free(&c);
}

static void test_overrides(void **state)
{
    (void)state;
    set_required();
    setenv("PAYLINK_TOPIC_PREFIX", "stage", 1);
    setenv("PAYLINK_CA_FILE", "/etc/paylink/ca.pem", 1);
    setenv("PAYLINK_METRICS_BIND", "127.0.0.1", 1);
    setenv("PAYLINK_METRICS_PORT", "0", 1);
    setenv("PAYLINK_MAX_IN_FLIGHT", "100000", 1);
    setenv("PAYLINK_KAFKA_SESSION_TIMEOUT_MS", "1000", 1);
    setenv("PAYLINK_KAFKA_FETCH_WAIT_MS", "20", 1);
    setenv("PAYLINK_KAFKA_FETCH_MIN_BYTES", "65536", 1);
    setenv("PAYLINK_SLOT_WAIT_RECORD_MS", "0", 1);
    setenv("PAYLINK_SLOT_WAIT_MAX_MS", "0", 1);
    setenv("PAYLINK_DRAIN_TIMEOUT_MS", "0", 1);
    setenv("PAYLINK_KAFKA_STALL_MS", "0", 1);
    setenv("PAYLINK_FINGERPRINT_VERSION", "1", 1);
    setenv("PAYLINK_CONFIG_REFRESH_S", "86400", 1);
    setenv("PAYLINK_LOG_LEVEL", "debug", 1);
    setenv("PAYLINK_LOG_MASK", "removed", 1);
    setenv("PAYLINK_INSTANCE", "pod-7", 1);
    pl_config c;
    char err[256] = "";
    assert_int_equal(pl_config_from_env(&c, "svc", err, sizeof err), 0);
    assert_string_equal(c.worker, "svc");
    assert_string_equal(c.topic_prefix, "stage");
    assert_string_equal(c.ca_file, "/etc/paylink/ca.pem");
    assert_string_equal(c.metrics_bind, "127.0.0.1");
    assert_int_equal(c.metrics_port, 0);
    assert_int_equal(c.max_in_flight, 100000);
    assert_int_equal(c.session_timeout_ms, 1000);
    assert_int_equal(c.fetch_wait_ms, 20);
    assert_int_equal(c.fetch_min_bytes, 65536);
    assert_int_equal(c.slot_wait_record_ms, 0);
    assert_int_equal(c.slot_wait_max_ms, 0);
    assert_int_equal(c.drain_timeout_ms, 0);
    assert_int_equal(c.fetch_stall_ms, 0);
    assert_int_equal(c.fingerprint_version, 1);
    assert_int_equal(c.refresh_s, 86400);
    assert_int_equal(c.log_level, PL_LOG_DEBUG);
    assert_int_equal(c.log_mask, PL_MASK_REMOVED);
    assert_string_equal(c.instance, "pod-7");
    pl_config_free(&c);
}

static void test_bad_integers(void **state)
{
    (void)state;
    static const struct {
        const char *var, *value;
    } cases[] = {
        {"PAYLINK_METRICS_PORT", "65536"},
        {"PAYLINK_METRICS_PORT", "-1"},
        {"PAYLINK_METRICS_PORT", "80x"},
        {"PAYLINK_METRICS_PORT", "x"},
        {"PAYLINK_MAX_IN_FLIGHT", "0"},
        {"PAYLINK_KAFKA_FETCH_MIN_BYTES", "0"},
        {"PAYLINK_KAFKA_FETCH_MIN_BYTES", "1048577"},
        {"PAYLINK_SLOT_WAIT_RECORD_MS", "-1"},
        {"PAYLINK_SLOT_WAIT_RECORD_MS", "600001"},
        {"PAYLINK_SLOT_WAIT_MAX_MS", "-1"},
        {"PAYLINK_SLOT_WAIT_MAX_MS", "600001"},
        {"PAYLINK_MAX_IN_FLIGHT", "100001"},
        {"PAYLINK_MAX_IN_FLIGHT", "99999999999999999999"},
        {"PAYLINK_KAFKA_SESSION_TIMEOUT_MS", "999"},
        {"PAYLINK_DRAIN_TIMEOUT_MS", "600001"},
        {"PAYLINK_KAFKA_STALL_MS", "3600001"},
        {"PAYLINK_FINGERPRINT_VERSION", "0"},
        {"PAYLINK_FINGERPRINT_VERSION", "3"},
        {"PAYLINK_CONFIG_REFRESH_S", "0"},
        {"PAYLINK_CONFIG_REFRESH_S", "1.5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env();
        set_required();
        setenv(cases[i].var, cases[i].value, 1);
        config_fails(cases[i].var);
    }
}

/* Whether the configuration is taken (its drain and max.poll.interval.ms as wanted). */
static void drain_taken(int drain_ms, int max_poll_ms)
{
    pl_config c;
    char err[256] = "";
    if (pl_config_from_env(&c, "auth", err, sizeof err) != 0)
        fail_msg("refused: %s", err);
    assert_int_equal(c.drain_timeout_ms, drain_ms);
    assert_int_equal(c.max_poll_interval_ms, max_poll_ms);
    pl_config_free(&c);
}

/*
 * PAYLINK_DRAIN_TIMEOUT_MS stays below the consumer's max.poll.interval.ms by 30 s: a partition
 * revocation drains inside the rebalance callback without polling the consumer, and a member
 * that does not poll for max.poll.interval.ms is evicted from its group while it still works on
 * the partitions (two owners). librdkafka's default (300000) unless
 * PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS sets it, in any case, as kafka.c reads it (the last one
 * set wins); a value librdkafka would refuse is refused. Before, any drain up to 600000 was
 * taken.
 */
static void test_drain_below_max_poll_interval(void **state)
{
    (void)state;
    set_required();
    setenv("PAYLINK_DRAIN_TIMEOUT_MS", "270000", 1);
    drain_taken(270000, 300000);
    setenv("PAYLINK_DRAIN_TIMEOUT_MS", "270001", 1);
    config_fails("PAYLINK_DRAIN_TIMEOUT_MS (270001) must be at most 270000");
    setenv("PAYLINK_DRAIN_TIMEOUT_MS", "600000", 1);
    config_fails("max.poll.interval.ms (300000, librdkafka's default)");

    /* Raised: a longer drain is taken. */
    setenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS", "900000", 1);
    drain_taken(600000, 900000);
    /* Lowered: the default drain still fits 60 s, not 30 s. */
    unsetenv("PAYLINK_DRAIN_TIMEOUT_MS");
    setenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS", "60000", 1);
    drain_taken(30000, 60000);
    setenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS", "59999", 1);
    config_fails("PAYLINK_DRAIN_TIMEOUT_MS (30000) must be at most 29999");
    setenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS", "20000", 1);
    config_fails("must be at most 0");
    setenv("PAYLINK_DRAIN_TIMEOUT_MS", "0", 1);
    drain_taken(0, 20000);
    unsetenv("PAYLINK_DRAIN_TIMEOUT_MS");

    /* Written in lower case, as kafka.c takes it too. */
    unsetenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS");
    setenv("PAYLINK_RDKAFKA_max_poll_interval_ms", "40000", 1);
    config_fails("PAYLINK_DRAIN_TIMEOUT_MS (30000) must be at most 10000");
    unsetenv("PAYLINK_RDKAFKA_max_poll_interval_ms");
    /* Another property is not it. */
    setenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MSX", "1000", 1);
    drain_taken(30000, 300000);
    unsetenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MSX");

    static const char *const bad[] = {"", "x", "0", "-5", "86400001", "1.5", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS", bad[i], 1);
        config_fails("PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS must be an integer 1..86400000");
    }
}

static void test_bad_words(void **state)
{
    (void)state;
    set_required();
    setenv("PAYLINK_LOG_LEVEL", "verbose", 1);
    config_fails("PAYLINK_LOG_LEVEL");
    setenv("PAYLINK_LOG_LEVEL", "warn", 1);
    setenv("PAYLINK_LOG_MASK", "none", 1);
    config_fails("PAYLINK_LOG_MASK");
}

static void test_too_long(void **state)
{
    (void)state;
    set_required();
    char big[700];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    setenv("PAYLINK_KAFKA_BROKERS", big, 1); /* brokers holds 511 characters */
    config_fails("PAYLINK_KAFKA_BROKERS is too long");
    big[511] = '\0';
    setenv("PAYLINK_KAFKA_BROKERS", big, 1);
    pl_config c;
    char err[256];
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(strlen(c.brokers), 511);
    pl_config_free(&c);
}

static void test_hash_key(void **state)
{
    (void)state;
    set_required();
    pl_config c;
    char err[256];

    /* Too short, from the variable. */
    setenv("PAYLINK_HASH_KEY", "short", 1);
    config_fails("at least 16");

    /* The file wins over the variable; its trailing newline is not part of the key. */
    const char *path = write_file("hashkey", "fedcba9876543210XY\n", 19);
    setenv("PAYLINK_HASH_KEY_FILE", path, 1);
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(c.hash_key_len, 18);
    assert_memory_equal(c.hash_key, "fedcba9876543210XY", 18);

    /* pl_config_free wipes the key. */
    pl_config_free(&c);
    static const unsigned char zero[sizeof c.hash_key];
    assert_memory_equal(c.hash_key, zero, sizeof zero);
    pl_config_free(NULL);

    /* The largest key that fits (128 bytes) and one byte more. */
    char key[130];
    memset(key, 'k', sizeof key);
    path = write_file("hashkey128", key, 128);
    setenv("PAYLINK_HASH_KEY_FILE", path, 1);
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(c.hash_key_len, 128);
    pl_config_free(&c);
    path = write_file("hashkey129", key, 129);
    setenv("PAYLINK_HASH_KEY_FILE", path, 1);
    config_fails("card hash key");

    /* A key file that does not exist is an error, not a fall-back on the variable. */
    setenv("PAYLINK_HASH_KEY", KEY16, 1);
    setenv("PAYLINK_HASH_KEY_FILE", "/nonexistent/paylink/hashkey", 1);
    config_fails("card hash key");
}

/* Starts capturing the log into a memory stream (config.c warns through it). */
static FILE *log_capture(char **buf, size_t *size)
{
    FILE *f = open_memstream(buf, size);
    assert_non_null(f);
    pl_log_init("auth", f);
    return f;
}

/* What was logged since log_capture; the logger goes back to stderr. */
static const char *log_captured(FILE *f, char **buf)
{
    pl_log_init("auth", NULL);
    assert_int_equal(fflush(f), 0);
    return *buf;
}

/*
 * The same text as PAYLINK_HASH_KEY or in PAYLINK_HASH_KEY_FILE is the same key, but for a
 * trailing line end: a file's is dropped (echo "key" > file), the variable's is part of the
 * key (taken byte for byte, as since the first release: every card_hash and fingerprint of a
 * deployment whose variable ends in one was made with it, so it is kept). Moved into a file,
 * as the current or an earlier key, it would silently be another key: the worker says so at
 * start-up, naming the variable, never the key.
 */
static void test_hash_key_line_end(void **state)
{
    (void)state;
    set_required();
    pl_config c;
    char err[256];
    static const struct {
        const char *value, *why;
        size_t len;
    } ended[] = {{KEY16 "\n", "LF", 17}, {KEY16 "\r\n", "CRLF", 18}, {KEY16 "\r", "CR", 17}};
    for (size_t i = 0; i < sizeof ended / sizeof ended[0]; i++) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = log_capture(&buf, &size);
        setenv("PAYLINK_HASH_KEY", ended[i].value, 1);
        assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
        assert_int_equal(c.hash_key_len, ended[i].len);
        assert_memory_equal(c.hash_key, ended[i].value, ended[i].len);
        pl_config_free(&c);
        const char *logged = log_captured(f, &buf);
        if (!strstr(logged, "\"level\":\"warn\"") ||
            !strstr(logged, "PAYLINK_HASH_KEY ends in a line end") ||
            !strstr(logged, "PAYLINK_HASH_KEY_FILE"))
            fail_msg("%s: no warning of the line end in \"%s\"", ended[i].why, logged);
        if (strstr(logged, KEY16))
            fail_msg("%s: the warning shows the key: \"%s\"", ended[i].why, logged);
        fclose(f);
        free(buf);
    }

    /* No warning for a variable without one, a file with one (dropped), or a variable ending
     * in one that the file overrides. */
    char *buf = NULL;
    size_t size = 0;
    FILE *f = log_capture(&buf, &size);
    setenv("PAYLINK_HASH_KEY", KEY16, 1);
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(c.hash_key_len, 16);
    pl_config_free(&c);
    setenv("PAYLINK_HASH_KEY", KEY16 "\n", 1);
    setenv("PAYLINK_HASH_KEY_FILE", write_file("hashkey-lf", KEY16 "\n", 17), 1);
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(c.hash_key_len, 16);
    assert_memory_equal(c.hash_key, KEY16, 16);
    pl_config_free(&c);
    const char *logged = log_captured(f, &buf);
    if (logged && *logged)
        fail_msg("unexpected log: \"%s\"", logged);
    fclose(f);
    free(buf);
}

/* Issue 6 A.1: earlier hash keys, for comparing fingerprints across a key rotation. */
static void test_previous_hash_keys(void **state)
{
    (void)state;
    set_required();
    pl_config c;
    char err[256];
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(c.n_prev_keys, 0);
    pl_config_free(&c);

    char list[1100];
    const char *a = write_file("old1", "old-key-number-one\n", 19);
    char first[200];
    snprintf(first, sizeof first, "%s", a);
    const char *b = write_file("old2", "old-key-number-two", 18);
    snprintf(list, sizeof list, "%s::%s", first, b); /* an empty item is skipped */
    setenv("PAYLINK_HASH_KEY_PREVIOUS_FILES", list, 1);
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(c.n_prev_keys, 2);
    assert_int_equal(c.prev_key_len[0], 18);
    assert_memory_equal(c.prev_keys[0], "old-key-number-one", 18);
    assert_memory_equal(c.prev_keys[1], "old-key-number-two", 18);
    pl_config_free(&c);
    static const unsigned char zero[sizeof c.prev_keys];
    assert_memory_equal(c.prev_keys, zero, sizeof zero);

    /* Too short, missing, readable by others, more than four: refused. */
    setenv("PAYLINK_HASH_KEY_PREVIOUS_FILES", write_file("oldshort", "short", 5), 1);
    config_fails("shorter than 16");
    setenv("PAYLINK_HASH_KEY_PREVIOUS_FILES", "/nonexistent/paylink/old", 1);
    config_fails("/nonexistent/paylink/old");
    setenv("PAYLINK_HASH_KEY_PREVIOUS_FILES",
           write_file_mode("oldopen", "old-key-number-open", 19, 0644), 1);
    config_fails("chmod 600");
    snprintf(list, sizeof list, "%s:%s:%s:%s:%s", first, first, first, first, first);
    setenv("PAYLINK_HASH_KEY_PREVIOUS_FILES", list, 1);
    config_fails("at most 4");
}

/* Issue 6 A.7: the instance name must fit sent_by (95 characters at most). */
static void test_instance_and_group(void **state)
{
    (void)state;
    set_required();
    pl_config c;
    char err[256];
    char name[97];
    memset(name, 'i', 95);
    name[95] = '\0';
    setenv("PAYLINK_INSTANCE", name, 1);
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_int_equal(strlen(c.instance), 95);
    assert_string_equal(c.group, "paylink-auth");
    pl_config_free(&c);
    name[95] = 'i';
    name[96] = '\0';
    setenv("PAYLINK_INSTANCE", name, 1);
    config_fails("longer than 95");
    unsetenv("PAYLINK_INSTANCE");
    setenv("PAYLINK_KAFKA_GROUP", "paylink-auth-blue", 1);
    assert_int_equal(pl_config_from_env(&c, "deposit", err, sizeof err), 0);
    assert_string_equal(c.group, "paylink-auth-blue");
    pl_config_free(&c);
}

static void test_default_metrics_ports(void **state)
{
    (void)state;
    assert_int_equal(pl_config_default_metrics_port("auth"), 9101);
    assert_int_equal(pl_config_default_metrics_port("deposit"), 9102);
    assert_int_equal(pl_config_default_metrics_port("reversal"), 9103);
    assert_int_equal(pl_config_default_metrics_port("svc"), 9104);
    assert_int_equal(pl_config_default_metrics_port("dmupdate"), 9105);
    assert_int_equal(pl_config_default_metrics_port("other"), 9100);
}

/* Resolves ref expecting success and the value want. */
static void resolves_to(const char *ref, const char *want)
{
    char out[256] = "garbage", err[256] = "";
    int rc = pl_secret_resolve(ref, out, sizeof out, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: %d %s", ref ? ref : "(null)", rc, err);
    assert_string_equal(out, want);
}

/* Resolves ref expecting error code want_rc; errstr must name the reference (when want_ref
 * is given) and never contain `secret`. */
static void resolve_fails(const char *ref, size_t outsize, int want_rc, const char *want_ref,
                          const char *secret)
{
    char out[256], err[256] = "";
    assert_true(outsize <= sizeof out);
    assert_int_equal(pl_secret_resolve(ref, out, outsize, err, sizeof err), want_rc);
    assert_true(err[0] != '\0');
    if (want_ref && !strstr(err, want_ref))
        fail_msg("errstr \"%s\" does not name \"%s\"", err, want_ref);
    if (secret && strstr(err, secret))
        fail_msg("errstr \"%s\" leaks the secret", err);
}

static void test_secret_env(void **state)
{
    (void)state;
    resolves_to("", "");
    resolves_to(NULL, "");
    setenv("PLTEST_SECRET", "s3cr3t value", 1);
    resolves_to("env:PLTEST_SECRET", "s3cr3t value");
    /* Unlike files, a variable's value is taken as is (a newline would be part of it). */
    setenv("PLTEST_SECRET", "line\n", 1);
    resolves_to("env:PLTEST_SECRET", "line\n");
    setenv("PLTEST_SECRET", "", 1);
    resolves_to("env:PLTEST_SECRET", "");
    unsetenv("PLTEST_SECRET");
    resolve_fails("env:PLTEST_SECRET", 256, PL_ERR_CONFIG, "env:PLTEST_SECRET", NULL);

    /* Exactly fitting (outsize - 1 characters) and one too many. */
    setenv("PLTEST_SECRET", "0123456789", 1);
    char out[11], err[128];
    assert_int_equal(pl_secret_resolve("env:PLTEST_SECRET", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "0123456789");
    resolve_fails("env:PLTEST_SECRET", 10, PL_ERR_TOOBIG, "env:PLTEST_SECRET", "0123456789");
}

static void test_secret_file(void **state)
{
    (void)state;
    char ref[256];
    const char *path = write_file("crlf", "key-with-crlf\r\n", 15);
    snprintf(ref, sizeof ref, "file:%s", path);
    resolves_to(ref, "key-with-crlf");

    /* Only trailing line ends go: inner newlines and spaces are kept. */
    path = write_file("multi", "a b\nc \n\n", 8);
    snprintf(ref, sizeof ref, "file:%s", path);
    resolves_to(ref, "a b\nc ");

    /* file-env: the variable names the file. */
    path = write_file("viaenv", "transaction-key-42\n", 19);
    setenv("PLTEST_SECRET_FILE", path, 1);
    resolves_to("file-env:PLTEST_SECRET_FILE", "transaction-key-42");
    unsetenv("PLTEST_SECRET_FILE");
    resolve_fails("file-env:PLTEST_SECRET_FILE", 256, PL_ERR_CONFIG, "file-env:PLTEST_SECRET_FILE",
                  NULL);
    setenv("PLTEST_SECRET_FILE", "", 1);
    resolve_fails("file-env:PLTEST_SECRET_FILE", 256, PL_ERR_CONFIG, "file-env:PLTEST_SECRET_FILE",
                  NULL);

    /* Missing file. */
    resolve_fails("file:/nonexistent/paylink/secret", 256, PL_ERR_CONFIG,
                  "file:/nonexistent/paylink/secret", NULL);

    /* Too large for the buffer: refused, not truncated, and the content is not echoed. */
    path = write_file("big", "abcdefghijklmnopqrstuvwxyz", 26);
    snprintf(ref, sizeof ref, "file:%s", path);
    resolve_fails(ref, 16, PL_ERR_TOOBIG, ref, "abcdefghijklmno");
    char out[27], err[128];
    assert_int_equal(pl_secret_resolve(ref, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "abcdefghijklmnopqrstuvwxyz");

    /* Unknown scheme: the message says which ones exist and does not echo the value. */
    resolve_fails("vault:kv/paylink", 256, PL_ERR_CONFIG, "env:", NULL);
    resolve_fails("plain-secret-text", 256, PL_ERR_CONFIG, NULL, "plain-secret-text");
}

/* Asserts that ref fails to resolve with PL_ERR_CONFIG and an errstr containing every one of
 * the NULL-terminated `wants`. */
static void resolve_fails_saying(const char *ref, ...)
{
    char out[256], err[512] = "";
    assert_int_equal(pl_secret_resolve(ref, out, sizeof out, err, sizeof err), PL_ERR_CONFIG);
    va_list ap;
    va_start(ap, ref);
    for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *))
        if (!strstr(err, want))
            fail_msg("errstr \"%s\" does not say \"%s\"", err, want);
    va_end(ap);
}

static void test_secret_file_modes(void **state)
{
    (void)state;
    char ref[256];
    /* Readable by the owner only: accepted. */
    static const mode_t ok[] = {0600, 0400, 0700};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *path = write_file_mode("owner-only", "owner-secret\n", 13, ok[i]);
        snprintf(ref, sizeof ref, "file:%s", path);
        resolves_to(ref, "owner-secret");
    }

    /* Any permission for the group or others: refused, naming the file, its mode and the
     * fix, never the content. */
    static const struct {
        mode_t mode;
        const char *shown;
    } bad[] = {
        {0640, "0640"}, {0644, "0644"}, {0604, "0604"}, {0660, "0660"},
        {0610, "0610"}, {0601, "0601"}, {0666, "0666"}, {0440, "0440"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = write_file_mode("too-open", "leaked-secret\n", 14, bad[i].mode);
        char chmod_hint[224];
        snprintf(ref, sizeof ref, "file:%s", path);
        snprintf(chmod_hint, sizeof chmod_hint, "chmod 600 %s", path);
        resolve_fails_saying(ref, path, bad[i].shown, "group or others", chmod_hint, NULL);
        char out[256], err[512];
        assert_int_equal(pl_secret_resolve(ref, out, sizeof out, err, sizeof err), PL_ERR_CONFIG);
        if (strstr(err, "leaked-secret"))
            fail_msg("errstr \"%s\" leaks the secret", err);
    }

    /* file-env: is held to the same rule. */
    const char *path = write_file_mode("via-env-open", "k\n", 2, 0644);
    setenv("PLTEST_SECRET_FILE", path, 1);
    resolve_fails_saying("file-env:PLTEST_SECRET_FILE", "file-env:PLTEST_SECRET_FILE", path, "0644",
                         NULL);

    /* The card-hash key file too: the worker refuses to start and says why. */
    clear_env();
    set_required();
    path = write_file_mode("hashkey-open", "fedcba9876543210XY\n", 19, 0640);
    setenv("PAYLINK_HASH_KEY_FILE", path, 1);
    config_fails("card hash key");
    config_fails("0640");
    config_fails("chmod 600");
    assert_int_equal(chmod(path, 0600), 0);
    pl_config c;
    char err[256];
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    pl_config_free(&c);
}

/* A file another account owns is refused whatever its mode (ssh's rule): that account wrote
 * it and may rewrite it. Root's own files stay accepted for any reader. Making a file another
 * account owns needs root (CI runs as root); as another user only our own file is checked. */
static void test_secret_file_owner(void **state)
{
    (void)state;
    char ref[256];
    const char *path = write_file_mode("owned", "owned-secret\n", 13, 0600);
    snprintf(ref, sizeof ref, "file:%s", path);
    resolves_to(ref, "owned-secret");
    if (geteuid() != 0) {
        print_message("not root: a file of another owner cannot be made here\n");
        return;
    }
    assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
    resolve_fails_saying(ref, path, "owned by user 65534", "chown", NULL);
    char out[256], err[512];
    assert_int_equal(pl_secret_resolve(ref, out, sizeof out, err, sizeof err), PL_ERR_CONFIG);
    if (strstr(err, "owned-secret"))
        fail_msg("errstr \"%s\" leaks the secret", err);
    assert_int_equal(chown(path, 0, (gid_t)-1), 0);
    resolves_to(ref, "owned-secret");
}

/*
 * Kubernetes mounts a Secret as links: NAME -> ..data/NAME, ..data -> ..<timestamp>/. A link is
 * followed and the file it names is judged, never the link (whose own mode is 0777): the layout
 * is accepted when that file is private, and refused, naming the path given, when it is not (a
 * Secret volume's default 0644, or the 0440 that fsGroup makes of defaultMode 0400; deploy/
 * copies the Secret into 0400 files instead) or another user owns it.
 */
static void test_secret_file_symlinks(void **state)
{
    (void)state;
    char dir[192], ts[224], link[224], data[224], ref[256];
    snprintf(dir, sizeof dir, "%s/k8s", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(ts, sizeof ts, "%s/..2026_12_07_01_35_08.1234", dir);
    assert_int_equal(mkdir(ts, 0755), 0);
    char target[232];
    snprintf(
        target, sizeof target, "%s",
        write_file_mode("k8s/..2026_12_07_01_35_08.1234/hash.key", "k8s-mounted-key\n", 16, 0400));
    snprintf(data, sizeof data, "%s/..data", dir);
    assert_int_equal(symlink("..2026_12_07_01_35_08.1234", data), 0);
    snprintf(link, sizeof link, "%s/hash.key", dir);
    assert_int_equal(symlink("..data/hash.key", link), 0);
    snprintf(ref, sizeof ref, "file:%s", link);
    resolves_to(ref, "k8s-mounted-key");
    setenv("PLTEST_SECRET_FILE", link, 1);
    resolves_to("file-env:PLTEST_SECRET_FILE", "k8s-mounted-key");

    static const struct {
        mode_t mode;
        const char *shown;
    } bad[] = {{0644, "0644"}, {0440, "0440"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(target, bad[i].mode), 0);
        resolve_fails_saying(ref, link, bad[i].shown, "group or others", NULL);
    }
    assert_int_equal(chmod(target, 0400), 0);
    resolves_to(ref, "k8s-mounted-key");
    if (geteuid() != 0) {
        print_message("not root: a file of another owner cannot be made here\n");
        return;
    }
    /* The links stay root's; the file they name is another user's. */
    assert_int_equal(chown(target, 65534, (gid_t)-1), 0);
    resolve_fails_saying(ref, link, "owned by user 65534", NULL);
    assert_int_equal(chown(target, 0, (gid_t)-1), 0);
    resolves_to(ref, "k8s-mounted-key");
}

static void test_secret_file_kinds(void **state)
{
    (void)state;
    char ref[256], path[192];
    /* Not a regular file: a directory, and a FIFO (refused without blocking on the open). */
    snprintf(ref, sizeof ref, "file:%s", g_dir);
    resolve_fails_saying(ref, "not a regular file", NULL);
    snprintf(path, sizeof path, "%s/fifo", g_dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(ref, sizeof ref, "file:%s", path);
    resolve_fails_saying(ref, "not a regular file", NULL);
    /* Empty, or nothing but line ends. */
    snprintf(ref, sizeof ref, "file:%s", write_file("empty", "", 0));
    resolve_fails_saying(ref, "empty", NULL);
    snprintf(ref, sizeof ref, "file:%s", write_file("newlines", "\r\n\n", 3));
    resolve_fails_saying(ref, "empty", NULL);
}

/* Sets PAYLINK_PROXY_HOST and PAYLINK_PROXY_PORT; NULL unsets. */
static void set_proxy(const char *host, const char *port)
{
    if (host)
        setenv("PAYLINK_PROXY_HOST", host, 1);
    else
        unsetenv("PAYLINK_PROXY_HOST");
    if (port)
        setenv("PAYLINK_PROXY_PORT", port, 1);
    else
        unsetenv("PAYLINK_PROXY_PORT");
}

/* Asserts that the process-wide proxy from the environment is `want`. */
static void proxy_is(const char *want)
{
    char out[320] = "garbage", err[256] = "";
    int rc = pl_config_proxy_from_env(out, sizeof out, err, sizeof err);
    if (rc != 0)
        fail_msg("pl_config_proxy_from_env: %d %s", rc, err);
    assert_string_equal(out, want);
}

/* Asserts that it is refused with an errstr containing want, and writes no proxy. */
static void proxy_fails(const char *want)
{
    char out[320] = "garbage", err[256] = "";
    assert_int_equal(pl_config_proxy_from_env(out, sizeof out, err, sizeof err), PL_ERR_CONFIG);
    assert_string_equal(out, "");
    if (!strstr(err, want))
        fail_msg("errstr \"%s\" does not mention \"%s\"", err, want);
}

static void test_proxy(void **state)
{
    (void)state;
    /* Neither: direct, and that is the worker's default. */
    proxy_is("");
    set_required();
    pl_config c;
    char err[256];
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_string_equal(c.proxy, "");
    pl_config_free(&c);

    set_proxy("proxy.internal", "3128");
    assert_int_equal(pl_config_from_env(&c, "auth", err, sizeof err), 0);
    assert_string_equal(c.proxy, "proxy.internal:3128");
    pl_config_free(&c);
    static const struct {
        const char *host, *port, *want;
    } good[] = {
        {"proxy.internal", "3128", "proxy.internal:3128"},
        {"10.1.2.3", "1", "10.1.2.3:1"},
        {"[2001:db8::7]", "65535", "[2001:db8::7]:65535"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        set_proxy(good[i].host, good[i].port);
        proxy_is(good[i].want);
    }

    /* Half a setting is refused, naming what is missing; so is a worker started with it. */
    set_proxy("proxy.internal", NULL);
    proxy_fails("PAYLINK_PROXY_HOST is set but PAYLINK_PROXY_PORT is not");
    config_fails("PAYLINK_PROXY_PORT is not");
    set_proxy("", "3128");
    proxy_fails("PAYLINK_PROXY_PORT is set but PAYLINK_PROXY_HOST is not");
    set_proxy(NULL, "3128");
    proxy_fails("PAYLINK_PROXY_PORT is set but PAYLINK_PROXY_HOST is not");

    /* Ports outside 1..65535 and hosts that are not a bare host. */
    setenv("PAYLINK_PROXY_HOST", "proxy.internal", 1);
    static const char *const ports[] = {"0", "65536", "-1", "80x", "http", "3128.0"};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        setenv("PAYLINK_PROXY_PORT", ports[i], 1);
        proxy_fails("PAYLINK_PROXY_PORT must be an integer 1..65535");
    }
    setenv("PAYLINK_PROXY_PORT", "3128", 1);
    static const char *const hosts[] = {
        "http://proxy.internal",
        "proxy.internal:3128",
        "user:pw@proxy",
        "proxy/x",
        "prox y",
        "2001:db8::7",
        "[2001:db8::7",
        "[]",
        "[host]",
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        setenv("PAYLINK_PROXY_HOST", hosts[i], 1);
        proxy_fails("PAYLINK_PROXY_HOST must be a host name");
    }
    setenv("PAYLINK_PROXY_HOST", "user:pw@proxy", 1);
    config_fails("PAYLINK_PROXY_HOST must be a host name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_required_variables, setup),
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_overrides, setup),
        cmocka_unit_test_setup(test_bad_integers, setup),
        cmocka_unit_test_setup(test_bad_words, setup),
        cmocka_unit_test_setup(test_drain_below_max_poll_interval, setup),
        cmocka_unit_test_setup(test_too_long, setup),
        cmocka_unit_test_setup(test_hash_key, setup),
        cmocka_unit_test_setup(test_hash_key_line_end, setup),
        cmocka_unit_test_setup(test_previous_hash_keys, setup),
        cmocka_unit_test_setup(test_instance_and_group, setup),
        cmocka_unit_test(test_default_metrics_ports),
        cmocka_unit_test_setup(test_secret_env, setup),
        cmocka_unit_test_setup(test_secret_file, setup),
        cmocka_unit_test_setup(test_secret_file_modes, setup),
        cmocka_unit_test_setup(test_secret_file_owner, setup),
        cmocka_unit_test_setup(test_secret_file_symlinks, setup),
        cmocka_unit_test_setup(test_secret_file_kinds, setup),
        cmocka_unit_test_setup(test_proxy, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
