/*
 * test_jsonutil.c: a whole text read as one JSON value (common/jsonutil.h): the value and only
 * JSON's white space after it; refused when anything else follows, for a NUL byte anywhere, for
 * empty text, past the depth bound; json-c's strict mode and UTF-8 check when asked for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jsonutil.h"

/* Whether text (its strlen, or n bytes when n > 0) reads as a whole value under flags. */
static bool reads(const char *text, size_t n, int depth, unsigned flags)
{
    json_object *o = pl_json_parse_whole(text, n ? n : strlen(text), depth, flags);
    json_object_put(o);
    return o != NULL;
}

static void test_space(void **state)
{
    (void)state;
    assert_true(pl_json_space(' ') && pl_json_space('\t') && pl_json_space('\n') &&
                pl_json_space('\r'));
    assert_false(pl_json_space('\v') || pl_json_space('\f') || pl_json_space('\0') ||
                 pl_json_space('x') || pl_json_space((char)0xa0));
}

static void test_one_value_and_white_space(void **state)
{
    (void)state;
    const unsigned all = PL_JSON_STRICT | PL_JSON_UTF8 | PL_JSON_WIPE;
    json_object *o = pl_json_parse_whole("{\"a\": [1, 2]} \r\n\t", 17, 0, all);
    assert_non_null(o);
    json_object *a;
    assert_true(json_object_object_get_ex(o, "a", &a));
    assert_int_equal(json_object_array_length(a), 2);
    json_object_put(o);
    assert_true(reads("\"text\"", 0, 0, all));
    assert_true(reads("  42 ", 0, 0, all));
    /* (A number that ends the text is not read: json-c waits for what ends it. Every text
     * paylink reads is an object.) */
    assert_false(reads("42", 0, 0, all));

    /* Anything else after it, a second value too. */
    assert_false(reads("{} x", 0, 0, all));
    assert_false(reads("{}{}", 0, 0, all));
    assert_false(reads("1 2", 0, 0, all));
    assert_false(reads("{}\v", 0, 0, all));
    /* Not whole, or nothing. */
    assert_false(reads("{\"a\": ", 0, 0, all));
    assert_false(reads("", 0, 0, all));
    assert_false(reads("   ", 0, 0, all));
    assert_null(pl_json_parse_whole(NULL, 3, 0, all));
    /* A NUL byte, in the value or after it. */
    assert_false(reads("{}\0", 3, 0, all));
    assert_false(reads("[\"a\0b\"]", 7, 0, all));
}

static void test_depth_strict_and_utf8(void **state)
{
    (void)state;
    assert_true(reads("[[1]]", 0, 3, PL_JSON_STRICT));
    assert_false(reads("[[[[1]]]]", 0, 3, PL_JSON_STRICT));
    assert_true(reads("[[[[1]]]]", 0, 0, PL_JSON_STRICT)); /* json-c's own bound: 32 */
    /* Strict: RFC 8259 only (json-c accepts a trailing comma otherwise). */
    assert_true(reads("[1,]", 0, 0, 0));
    assert_false(reads("[1,]", 0, 0, PL_JSON_STRICT));
    /* UTF-8 checked when asked for. */
    assert_true(reads("\"\xc3\xa9\"", 0, 0, PL_JSON_STRICT | PL_JSON_UTF8));
    assert_false(reads("\"\xff\"", 0, 0, PL_JSON_STRICT | PL_JSON_UTF8));
}

/* A member as a string: json-c's rendering of a scalar, NULL for none, a JSON null, or no object
 * (the three workers' reply readers share it). */
static void test_member_string(void **state)
{
    (void)state;
    json_object *o =
        json_tokener_parse("{\"status\": \"approved\", \"n\": 7, \"ok\": true, \"none\": null}");
    assert_non_null(o);
    assert_string_equal(pl_json_str(o, "status"), "approved");
    assert_string_equal(pl_json_str(o, "n"), "7");
    assert_string_equal(pl_json_str(o, "ok"), "true");
    assert_null(pl_json_str(o, "none"));
    assert_null(pl_json_str(o, "missing"));
    assert_null(pl_json_str(NULL, "status"));
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_space),
        cmocka_unit_test(test_one_value_and_white_space),
        cmocka_unit_test(test_depth_strict_and_utf8),
        cmocka_unit_test(test_member_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
