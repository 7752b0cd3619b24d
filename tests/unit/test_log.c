/*
 * test_log.c: the JSON-lines logger, read back through json-c the way a log shipper would:
 * fields, level filtering, truncation and, above all, no card number in the output.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"

/* One capture: the logger writes into a memory stream that the test reads afterwards. */
typedef struct capture {
    FILE *f;
    char *buf;
    size_t size;
} capture;

static int setup(void **state)
{
    capture *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->f = open_memstream(&c->buf, &c->size);
    if (!c->f) {
        free(c);
        return -1;
    }
    pl_log_init("auth", c->f);
    pl_log_set_level(PL_LOG_INFO);
    pl_log_set_mask_mode(PL_MASK_LAST4);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    capture *c = *state;
    /* The logger must not keep writing into a stream we are about to close. */
    pl_log_hold(false);
    pl_log_init("", NULL);
    if (c->f)
        fclose(c->f);
    free(c->buf);
    free(c);
    return 0;
}

/* Everything logged so far, NUL-terminated (the stream keeps its buffer terminated). */
static const char *captured(capture *c)
{
    fflush(c->f);
    return c->buf ? c->buf : "";
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Parses line number `index` (from 0) of the capture; the caller puts the object. */
static json_object *line_at(capture *c, size_t index)
{
    const char *s = captured(c);
    for (size_t k = 0; k < index; k++) {
        s = strchr(s, '\n');
        assert_non_null(s);
        s++;
    }
    const char *end = strchr(s, '\n');
    assert_non_null(end);
    char *line = strndup(s, (size_t)(end - s));
    assert_non_null(line);
    json_object *obj = json_tokener_parse(line);
    free(line);
    assert_non_null(obj);
    assert_true(json_object_is_type(obj, json_type_object));
    return obj;
}

static const char *field(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return NULL;
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 3339 UTC with milliseconds, e.g. 2026-11-26T04:01:02.123Z. */
static void assert_timestamp(const char *ts)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen(shape));
    for (size_t k = 0; shape[k]; k++) {
        if (shape[k] == 'd')
            assert_true(is_digit(ts[k]));
        else
            assert_int_equal(ts[k], shape[k]);
    }
}

static void test_fields(void **state)
{
    capture *c = *state;
    PL_INFO("r1", "hello %s, %d items", "world", 3);

    assert_int_equal(count_lines(captured(c)), 1);
    json_object *obj = line_at(c, 0);
    assert_timestamp(field(obj, "ts"));
    assert_string_equal(field(obj, "level"), "info");
    assert_string_equal(field(obj, "worker"), "auth");
    assert_string_equal(field(obj, "request_id"), "r1");
    assert_string_equal(field(obj, "msg"), "hello world, 3 items");
    assert_int_equal(json_object_object_length(obj), 5);
    json_object_put(obj);
}

static void test_request_id_omitted(void **state)
{
    capture *c = *state;
    PL_WARN(NULL, "no request");
    json_object *obj = line_at(c, 0);
    assert_null(field(obj, "request_id"));
    assert_string_equal(field(obj, "level"), "warn");
    assert_string_equal(field(obj, "msg"), "no request");
    assert_int_equal(json_object_object_length(obj), 4);
    json_object_put(obj);
}

static void test_escaping(void **state)
{
    capture *c = *state;
    const char *tricky = "quote \" backslash \\ newline \n tab \t path a/b";
    PL_ERROR("r\"2", "%s", tricky);
    /* One object on one line, whatever the message holds. */
    assert_int_equal(count_lines(captured(c)), 1);
    assert_non_null(strstr(captured(c), "a/b"));
    json_object *obj = line_at(c, 0);
    assert_string_equal(field(obj, "msg"), tricky);
    assert_string_equal(field(obj, "request_id"), "r\"2");
    assert_string_equal(field(obj, "level"), "error");
    json_object_put(obj);
}

static void test_level_filter(void **state)
{
    capture *c = *state;
    PL_DEBUG("r", "hidden at info");
    assert_int_equal(count_lines(captured(c)), 0);

    pl_log_set_level(PL_LOG_WARN);
    PL_INFO("r", "hidden at warn");
    PL_WARN("r", "shown 1");
    PL_ERROR("r", "shown 2");
    assert_int_equal(count_lines(captured(c)), 2);

    pl_log_set_level(PL_LOG_DEBUG);
    PL_DEBUG("r", "shown 3");
    assert_int_equal(count_lines(captured(c)), 3);

    json_object *obj = line_at(c, 0);
    assert_string_equal(field(obj, "msg"), "shown 1");
    json_object_put(obj);
    obj = line_at(c, 2);
    assert_string_equal(field(obj, "level"), "debug");
    assert_string_equal(field(obj, "msg"), "shown 3");
    json_object_put(obj);
}

static void test_pan_masked_last4(void **state)
{
    capture *c = *state;
    assert_int_equal(pl_log_mask_mode(), PL_MASK_LAST4);
    PL_INFO("r", "card %s declined", "4111111111111111");
    PL_INFO("r", "card 5555-5555-5555-4444 cvv \"cvv\":\"123\"");

    const char *raw = captured(c);
    assert_null(strstr(raw, "4111111111111111"));
    assert_null(strstr(raw, "5555-5555-5555"));

    json_object *obj = line_at(c, 0);
    assert_string_equal(field(obj, "msg"), "card ************1111 declined");
    json_object_put(obj);
    obj = line_at(c, 1);
    assert_string_equal(field(obj, "msg"), "card ****-****-****-4444 cvv \"cvv\":\"\"");
    json_object_put(obj);
}

static void test_pan_masked_removed(void **state)
{
    capture *c = *state;
    pl_log_set_mask_mode(PL_MASK_REMOVED);
    assert_int_equal(pl_log_mask_mode(), PL_MASK_REMOVED);
    PL_INFO("r", "card %s declined", "4111111111111111");

    const char *raw = captured(c);
    assert_null(strstr(raw, "4111"));
    json_object *obj = line_at(c, 0);
    assert_string_equal(field(obj, "msg"), "card ***REMOVED*** declined");
    assert_null(strstr(field(obj, "msg"), "1111"));
    json_object_put(obj);
}

/*
 * Every field the caller supplies is scrubbed, not just the message: a request_id is whatever
 * the upstream system sent, with or without separators.
 */
static void test_request_id_scrubbed(void **state)
{
    capture *c = *state;
    PL_INFO("4111111111111111", "a");
    PL_INFO("rid-4111.1111.1111.1111", "b");
    PL_INFO("ord5555-5555-5555-4444x", "c");
    pl_log_set_mask_mode(PL_MASK_REMOVED);
    PL_INFO("r 3782 822463 10005", "d");
    pl_log_init("w4111111111111111", c->f);
    PL_INFO(NULL, "e");

    const char *raw = captured(c);
    assert_null(strstr(raw, "41111111"));
    assert_null(strstr(raw, "4111.1111.1111"));
    assert_null(strstr(raw, "5555-5555-5555"));
    assert_null(strstr(raw, "822463"));
    const char *want[] = {"************1111", "rid-****.****.****.1111", "ord****-****-****-4444x",
                          "r ***REMOVED***"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        json_object *obj = line_at(c, k);
        assert_string_equal(field(obj, "request_id"), want[k]);
        json_object_put(obj);
    }
    json_object *obj = line_at(c, 4);
    assert_string_equal(field(obj, "worker"), "w***REMOVED***");
    json_object_put(obj);

    /* The worker's name follows a later change of the mode. */
    pl_log_set_mask_mode(PL_MASK_LAST4);
    PL_INFO(NULL, "f");
    obj = line_at(c, 5);
    assert_string_equal(field(obj, "worker"), "w************1111");
    json_object_put(obj);
}

/* Lines with and without a request_id, in any order: each has its own fields, nothing of the
 * line before. */
static void test_request_id_alternates(void **state)
{
    capture *c = *state;
    PL_INFO("r1", "one");
    PL_WARN(NULL, "two");
    PL_ERROR("r3", "three \"quoted\"");
    PL_INFO(NULL, "%s", "");
    PL_INFO("", "five");
    PL_INFO("r6", "six");
    const char *want_rid[] = {"r1", NULL, "r3", NULL, "", "r6"};
    const char *want_msg[] = {"one", "two", "three \"quoted\"", "", "five", "six"};
    const char *want_level[] = {"info", "warn", "error", "info", "info", "info"};
    assert_int_equal(count_lines(captured(c)), 6);
    for (size_t k = 0; k < 6; k++) {
        json_object *obj = line_at(c, k);
        assert_int_equal(json_object_object_length(obj), want_rid[k] ? 5 : 4);
        if (want_rid[k])
            assert_string_equal(field(obj, "request_id"), want_rid[k]);
        else
            assert_null(field(obj, "request_id"));
        assert_string_equal(field(obj, "msg"), want_msg[k]);
        assert_string_equal(field(obj, "level"), want_level[k]);
        assert_string_equal(field(obj, "worker"), "auth");
        assert_timestamp(field(obj, "ts"));
        json_object_put(obj);
    }
    /* A worker without a name, after one with a name. */
    pl_log_init("", c->f);
    PL_INFO("r7", "seven");
    json_object *obj = line_at(c, 6);
    assert_string_equal(field(obj, "worker"), "");
    assert_string_equal(field(obj, "msg"), "seven");
    json_object_put(obj);
}

/* The msg of line index, copied into out. */
static void msg_at(capture *c, size_t index, char *out, size_t size)
{
    json_object *obj = line_at(c, index);
    const char *msg = field(obj, "msg");
    assert_non_null(msg);
    assert_true((size_t)snprintf(out, size, "%s", msg ? msg : "") < size);
    json_object_put(obj);
}

/* A stream that counts the writes it is given (the system calls a real descriptor would make). */
typedef struct counted {
    FILE *copy; /* what was written goes on here */
    int writes;
} counted;

static ssize_t counted_write(void *cookie, const char *buf, size_t size)
{
    counted *k = cookie;
    k->writes++;
    return (ssize_t)fwrite(buf, 1, size, k->copy);
}

/* Held lines go out in one write at the flush, in their order; nothing is written before. */
static void test_hold_writes_once_a_turn(void **state)
{
    capture *c = *state;
    counted k = {.copy = c->f};
    FILE *f = fopencookie(&k, "w", (cookie_io_functions_t){.write = counted_write});
    assert_non_null(f);
    assert_int_equal(setvbuf(f, NULL, _IONBF, 0), 0); /* as stderr is */
    pl_log_init("auth", f);

    for (int j = 0; j < 5; j++)
        PL_INFO("r1", "plain %d", j);
    assert_int_equal(k.writes, 5); /* not held: a write a line */

    pl_log_hold(true);
    for (int j = 0; j < 5; j++)
        PL_INFO("r2", "held %d", j);
    PL_DEBUG(NULL, "below the level: not held, not written");
    assert_int_equal(k.writes, 5);
    assert_int_equal(count_lines(captured(c)), 5);
    pl_log_flush();
    assert_int_equal(k.writes, 6);
    pl_log_flush(); /* nothing held: nothing written */
    assert_int_equal(k.writes, 6);
    assert_int_equal(count_lines(captured(c)), 10);
    for (int j = 0; j < 5; j++) {
        char msg[32], want[32];
        msg_at(c, (size_t)(5 + j), msg, sizeof msg);
        snprintf(want, sizeof want, "held %d", j);
        assert_string_equal(msg, want);
        json_object *obj = line_at(c, (size_t)(5 + j));
        assert_string_equal(field(obj, "request_id"), "r2");
        assert_timestamp(field(obj, "ts"));
        json_object_put(obj);
    }

    /* Released: the line held so far goes, and later lines are written at once again. */
    PL_INFO(NULL, "last held");
    pl_log_hold(false);
    assert_int_equal(k.writes, 7);
    PL_INFO(NULL, "after");
    assert_int_equal(k.writes, 8);
    assert_int_equal(count_lines(captured(c)), 12);
    pl_log_init("auth", c->f);
    fclose(f);
}

/* A warning is written at once, after the lines held before it. */
static void test_hold_warning_writes_held_first(void **state)
{
    capture *c = *state;
    pl_log_hold(true);
    PL_INFO(NULL, "a");
    PL_INFO(NULL, "b");
    assert_int_equal(count_lines(captured(c)), 0);
    PL_WARN(NULL, "c");
    assert_int_equal(count_lines(captured(c)), 3);
    PL_INFO(NULL, "d");
    PL_ERROR(NULL, "e");
    assert_int_equal(count_lines(captured(c)), 5);
    const char *want[] = {"a", "b", "c", "d", "e"};
    for (size_t j = 0; j < 5; j++) {
        char msg[8];
        msg_at(c, j, msg, sizeof msg);
        assert_string_equal(msg, want[j]);
    }
}

static void *log_one(void *arg)
{
    PL_INFO(NULL, "%s", (const char *)arg);
    return NULL;
}

/* Only the thread that asked holds; another thread's line writes what is held first. */
static void test_hold_is_the_threads(void **state)
{
    capture *c = *state;
    pl_log_hold(true);
    PL_INFO(NULL, "main 1");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, log_one, "other"), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(count_lines(captured(c)), 2);
    PL_INFO(NULL, "main 2");
    assert_int_equal(count_lines(captured(c)), 2);
    pl_log_flush();
    const char *want[] = {"main 1", "other", "main 2"};
    assert_int_equal(count_lines(captured(c)), 3);
    for (size_t j = 0; j < 3; j++) {
        char msg[16];
        msg_at(c, j, msg, sizeof msg);
        assert_string_equal(msg, want[j]);
    }
}

/* More than the hold keeps: written when full, none lost, none reordered, a long line too. */
static void test_hold_full(void **state)
{
    capture *c = *state;
    pl_log_hold(true);
    char pad[3001];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int j = 0; j < 40; j++)
        PL_INFO("r", "%03d %s", j, j == 20 ? "" : pad); /* ~3 KiB a line: 16 KiB hold 5 */
    size_t before = count_lines(captured(c));
    assert_true(before > 0 && before < 40);
    pl_log_flush();
    assert_int_equal(count_lines(captured(c)), 40);
    for (int j = 0; j < 40; j++) {
        char msg[3100];
        msg_at(c, (size_t)j, msg, sizeof msg);
        int n = -1;
        assert_int_equal(sscanf(msg, "%d", &n), 1);
        assert_int_equal(n, j);
        assert_int_equal(strlen(msg), j == 20 ? 4 : 4 + sizeof pad - 1);
    }
}

static void *log_many(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int j = 0; j < 200; j++) {
        char rid[16];
        snprintf(rid, sizeof rid, "t%d", t);
        PL_INFO(j % 2 ? rid : NULL, "t%d-%d", t, j);
    }
    return NULL;
}

/* Threads logging at once (librdkafka's callbacks do): every line whole, each once. */
static void test_threads(void **state)
{
    capture *c = *state;
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&th[t], NULL, log_many, (void *)(intptr_t)t), 0);
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    assert_int_equal(count_lines(captured(c)), 800);
    static bool seen[4][200];
    for (size_t k = 0; k < 800; k++) {
        json_object *obj = line_at(c, k);
        int t = -1, j = -1;
        assert_int_equal(sscanf(field(obj, "msg"), "t%d-%d", &t, &j), 2);
        assert_true(t >= 0 && t < 4 && j >= 0 && j < 200);
        assert_false(seen[t][j]);
        seen[t][j] = true;
        const char *rid = field(obj, "request_id");
        if (j % 2) {
            char want[16];
            snprintf(want, sizeof want, "t%d", t);
            assert_non_null(rid);
            assert_string_equal(rid, want);
        } else {
            assert_null(rid);
        }
        json_object_put(obj);
    }
}

/* The clock now, as the logger writes it. */
static void now_ts(char out[32])
{
    struct timespec ts;
    struct tm tm;
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    assert_non_null(gmtime_r(&ts.tv_sec, &tm));
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03dZ", base, (int)(ts.tv_nsec / 1000000L % 1000));
}

/* Each line's time lies between the clock read before and after it, also across the turn of
 * a second (the logger formats a second once and keeps it). */
static void test_timestamps_follow_clock(void **state)
{
    capture *c = *state;
    char first[32], before[32], after[32];
    now_ts(first);
    size_t lines = 0;
    bool turned = false;
    /* Until the second has turned twice (at most ~2 s; 2 ms between lines). */
    for (int turns = 0; turns < 2 && lines < 3000; lines++) {
        now_ts(before);
        PL_INFO(NULL, "tick");
        now_ts(after);
        json_object *obj = line_at(c, lines);
        const char *ts = field(obj, "ts");
        assert_timestamp(ts);
        assert_true(strcmp(before, ts) <= 0);
        assert_true(strcmp(ts, after) <= 0);
        json_object_put(obj);
        if (strncmp(before, first, 19) != 0) {
            turns++;
            turned = true;
            memcpy(first, before, sizeof first);
        }
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
    assert_true(turned);
}

/* A request_id longer than the logger keeps is cut without leaving half a card number. */
static void test_long_request_id_cut(void **state)
{
    capture *c = *state;
    char rid[400];
    memset(rid, 'r', 250);
    snprintf(rid + 250, sizeof rid - 250, "4111111111111111-tail");
    PL_INFO(rid, "x");
    const char *raw = captured(c);
    assert_null(strstr(raw, "41111"));
    json_object *obj = line_at(c, 0);
    const char *got = field(obj, "request_id");
    assert_int_equal(strlen(got), 250);
    assert_int_equal(strspn(got, "r"), 250);
    json_object_put(obj);
}

static void test_truncation(void **state)
{
    capture *c = *state;
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    PL_INFO("r", "%s", big);

    json_object *obj = line_at(c, 0);
    const char *msg = field(obj, "msg");
    size_t n = strlen(msg);
    assert_true(n < 4096);
    assert_true(n > 4000);
    assert_string_equal(msg + n - strlen("...[truncated]"), "...[truncated]");
    json_object_put(obj);
}

static void test_truncation_cuts_partial_pan(void **state)
{
    capture *c = *state;
    /*
     * The cut falls in the middle of the card number: what is left of it no longer passes
     * Luhn, so the logger must drop the stub itself instead of counting on the scrubber.
     */
    char pad[4076];
    memset(pad, 'a', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    PL_INFO("r", "%s 4111111111111111 tail", pad);

    const char *raw = captured(c);
    assert_null(strstr(raw, "41111"));
    json_object *obj = line_at(c, 0);
    const char *msg = field(obj, "msg");
    size_t n = strlen(msg);
    assert_string_equal(msg + n - strlen("a...[truncated]"), "a...[truncated]");
    json_object_put(obj);
}

/* A repeated line: at the 1st, 10th, 100th... time, or once every_s passed since it was said. */
static void test_again_due(void **state)
{
    (void)state;
    double said = 0;
    assert_true(pl_log_again_due(1, &said, 100.0, 3600.0));
    assert_true(said == 100.0);
    for (uint64_t n = 2; n < 10; n++)
        assert_false(pl_log_again_due(n, &said, 101.0, 3600.0));
    assert_true(pl_log_again_due(10, &said, 102.0, 3600.0));
    assert_false(pl_log_again_due(11, &said, 103.0, 3600.0));
    assert_true(pl_log_again_due(12, &said, 102.0 + 3600.0, 3600.0)); /* an hour on */
    assert_false(pl_log_again_due(13, &said, 102.0 + 3601.0, 3600.0));
    assert_true(pl_log_again_due(100, &said, 102.0 + 3602.0, 3600.0));
    assert_true(pl_log_again_due(UINT64_MAX, &said, 0.0, 3600.0) == false);
}

/* The same with the number split by characters off the keyboard: they go with the digits. */
static void test_truncation_cuts_split_pan(void **state)
{
    capture *c = *state;
    for (size_t padlen = 4060; padlen < 4090; padlen++) {
        char pad[4096];
        memset(pad, 'a', padlen);
        pad[padlen] = '\0';
        PL_INFO("r",
                "%s 4111\xc3\xa9"
                "1111\x01"
                "1111\xc3\xa9"
                "1111 tail",
                pad);
        const char *raw = captured(c);
        assert_null(strstr(raw, "4111"));
        assert_null(strstr(raw, "1111\\u0001"));
        assert_null(strstr(raw, "1111\xc3\xa9"));
        json_object *obj = line_at(c, padlen - 4060);
        const char *msg = field(obj, "msg");
        size_t n = strlen(msg);
        if (strstr(msg, "[truncated]"))
            assert_string_equal(msg + n - strlen("a...[truncated]"), "a...[truncated]");
        json_object_put(obj);
    }
}

/*
 * What the request decoder refuses and the Luhn scrub does not see: a card number split by
 * characters a bureau message drops or nobody sees (é, control characters, a zero-width joiner
 * four times), or with its expiry glued (20-21 digits), and a full-width one split by é. The
 * line about the refusal may quote the field: it is masked there, the last four kept. A
 * CyberSource request ID (22 digits) stays readable.
 */
static void test_hidden_pan_masked(void **state)
{
    capture *c = *state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"first_name 4111\xc3\xa9"
         "1111\xc3\xa9"
         "1111\xc3\xa9"
         "1111 refused",
         "first_name ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
         "1111 refused"},
        {"note 4111\x01"
         "1111\x01"
         "1111\x01"
         "1111",
         "note ****\x01****\x01****\x01"
         "1111"},
        {"n 41111111\xe2\x80\x8d\xe2\x80\x8d\xe2\x80\x8d\xe2\x80\x8d"
         "11111111",
         "n ********\xe2\x80\x8d\xe2\x80\x8d\xe2\x80\x8d\xe2\x80\x8d****1111"},
        {"order 41111111111111111225 refused", "order ************1111**** refused"},
        {"\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91",
         "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9"
         "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9"
         "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9"
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"},
        {"track \xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
         "111111111111\xef\xbc\x9d"
         "2512101",
         "track \xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a"
         "********1111\xef\xbc\x9d*******"},
        {"requestID 7419661750346782304017 reason 100",
         "requestID 7419661750346782304017 reason 100"},
        /* Digits glued to such a number once the characters are gone: read as spaces, they
         * leave it whole. */
        {"order 12\xc3\xa9"
         "4111\xc3\xa9"
         "1111\xc3\xa9"
         "1111\xc3\xa9"
         "1111 refused",
         "order 12\xc3\xa9****\xc3\xa9****\xc3\xa9****\xc3\xa9"
         "1111 refused"},
        {"n 6011111111111117\xc3\xa9"
         "4111\xc3\xa9"
         "1111\xc3\xa9"
         "1111\xc3\xa9"
         "1111",
         "n ************1117\xc3\xa9****\xc3\xa9****\xc3\xa9****\xc3\xa9"
         "1111"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t k = 0; k < n; k++)
        PL_INFO("r", "%s", cases[k].in);
    for (size_t k = 0; k < n; k++) {
        json_object *obj = line_at(c, k);
        assert_string_equal(field(obj, "msg"), cases[k].want);
        json_object_put(obj);
    }
    /* The request_id and the worker's name too, in either mode. */
    PL_INFO("ord-4111\xc3\xa9"
            "1111\xc3\xa9"
            "1111\xc3\xa9"
            "1111",
            "x");
    pl_log_set_mask_mode(PL_MASK_REMOVED);
    pl_log_init("w41111111111111111225", c->f);
    PL_INFO("41111111111111111225", "y");
    json_object *obj = line_at(c, n);
    assert_string_equal(field(obj, "request_id"), "ord-****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                                  "1111");
    json_object_put(obj);
    obj = line_at(c, n + 1);
    assert_string_equal(field(obj, "request_id"), "********************");
    assert_string_equal(field(obj, "worker"), "w********************");
    json_object_put(obj);
    assert_null(strstr(captured(c), "1225"));
}

static void test_worker_copied(void **state)
{
    capture *c = *state;
    char name[] = "capture";
    pl_log_init(name, c->f);
    name[0] = 'X';
    PL_INFO(NULL, "x");
    json_object *obj = line_at(c, 0);
    assert_string_equal(field(obj, "worker"), "capture");
    json_object_put(obj);
}

static void test_level_parse(void **state)
{
    (void)state;
    pl_log_level l = PL_LOG_ERROR;
    assert_int_equal(pl_log_level_parse("debug", &l), PL_OK);
    assert_int_equal(l, PL_LOG_DEBUG);
    assert_int_equal(pl_log_level_parse("info", &l), PL_OK);
    assert_int_equal(l, PL_LOG_INFO);
    assert_int_equal(pl_log_level_parse("warn", &l), PL_OK);
    assert_int_equal(l, PL_LOG_WARN);
    assert_int_equal(pl_log_level_parse("error", &l), PL_OK);
    assert_int_equal(l, PL_LOG_ERROR);
    assert_int_equal(pl_log_level_parse("WARNING", &l), PL_OK);
    assert_int_equal(l, PL_LOG_WARN);
    assert_int_equal(pl_log_level_parse("Debug", &l), PL_OK);
    assert_int_equal(l, PL_LOG_DEBUG);

    l = PL_LOG_INFO;
    assert_int_equal(pl_log_level_parse("verbose", &l), PL_ERR_INVALID);
    assert_int_equal(pl_log_level_parse("", &l), PL_ERR_INVALID);
    assert_int_equal(pl_log_level_parse(" info", &l), PL_ERR_INVALID);
    assert_int_equal(pl_log_level_parse(NULL, &l), PL_ERR_INVALID);
    assert_int_equal(l, PL_LOG_INFO);
    assert_int_equal(pl_log_level_parse("info", NULL), PL_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_omitted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pan_masked_last4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pan_masked_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_scrubbed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_request_id_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_cuts_partial_pan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_cuts_split_pan, setup, teardown),
        cmocka_unit_test(test_again_due),
        cmocka_unit_test_setup_teardown(test_worker_copied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hidden_pan_masked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_alternates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamps_follow_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_writes_once_a_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_warning_writes_held_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_is_the_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_full, setup, teardown),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
