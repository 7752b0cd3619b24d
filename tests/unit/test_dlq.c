/*
 * test_dlq.c: the dead-letter envelope (dlq.h). Issue 6 A.3: a request too large for its own
 * dead-letter copy is cut to fit instead of making the publish fail forever. The envelope says
 * whether the redaction changed the request ("redacted"), and what the dead letter is ("kind",
 * "answered"), also once cut again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "dlq.h"

static json_object *parse(const char *text)
{
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

static const char *str(json_object *o, const char *k)
{
    json_object *v;
    assert_true(json_object_object_get_ex(o, k, &v));
    return json_object_get_string(v);
}

static void test_small_request_whole(void **state)
{
    (void)state;
    pl_errors errs = {0};
    pl_errors_add(&errs, "card.number", "fails the Luhn check");
    char *e = pl_dlq_envelope("fails the Luhn check", &errs, "paylink.auth.request", 3, 42,
                              "{\"request_id\":\"r-1\"}", false, 1000);
    assert_non_null(e);
    json_object *o = parse(e), *v;
    assert_string_equal(str(o, "error"), "fails the Luhn check");
    assert_string_equal(str(o, "topic"), "paylink.auth.request");
    assert_string_equal(str(o, "request"), "{\"request_id\":\"r-1\"}");
    assert_true(json_object_object_get_ex(o, "partition", &v));
    assert_int_equal(json_object_get_int(v), 3);
    assert_true(json_object_object_get_ex(o, "offset", &v));
    assert_int_equal(json_object_get_int64(v), 42);
    assert_true(json_object_object_get_ex(o, "errors", &v));
    assert_int_equal(json_object_array_length(v), 1);
    assert_false(json_object_object_get_ex(o, "truncated", &v));
    assert_true(json_object_object_get_ex(o, "redacted", &v));
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_false(json_object_get_boolean(v));
    json_object_put(o);
    free(e);
}

/* An error's field and text are scrubbed again (they may quote the upstream system's text),
 * whoever filled them in. */
static void test_errors_scrubbed(void **state)
{
    (void)state;
    pl_errors errs = {0};
    errs.n = 1;
    strcpy(errs.e[0].field, "x.4111111111111111");
    strcpy(errs.e[0].error, "4111 1111 1111 1111 is refused");
    char *e = pl_dlq_envelope("invalid", &errs, "paylink.auth.request", 0, 1, "{}", false, 1000);
    assert_non_null(e);
    assert_null(strstr(e, "4111111111111111"));
    assert_null(strstr(e, "4111 1111 1111 1111"));
    assert_non_null(strstr(e, "is refused"));
    free(e);
}

/* And what the Luhn scrub does not see but the decoder refuses: a card number split by
 * characters a bureau message drops (a member name quoted in a field's path), or with its
 * expiry glued. */
static void test_errors_scrubbed_hidden(void **state)
{
    (void)state;
    pl_errors errs = {0};
    errs.n = 2;
    strcpy(errs.e[0].field, "x.4111\xc3\xa9"
                            "1111\xc3\xa9"
                            "1111\xc3\xa9"
                            "1111");
    strcpy(errs.e[0].error, "appears more than once");
    strcpy(errs.e[1].field, "order");
    strcpy(errs.e[1].error, "41111111111111111225 is refused");
    char *e = pl_dlq_envelope("invalid", &errs, "paylink.auth.request", 0, 1, "{}", false, 1000);
    assert_non_null(e);
    json_object *o = parse(e), *arr;
    assert_true(json_object_object_get_ex(o, "errors", &arr));
    assert_string_equal(str(json_object_array_get_idx(arr, 0), "field"),
                        "x.****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                        "1111");
    assert_string_equal(str(json_object_array_get_idx(arr, 1), "error"),
                        "************1111**** is refused");
    json_object_put(o);
    free(e);
}

/*
 * The copy of a request as the engine writes it (pl_request_redact_report, then the envelope):
 * a member holding a card number loses it whatever its name, outside card and svc too ("sc",
 * "code"), at any depth, with any separators, and also where only the decoder's views see it
 * (full-width digits split by é: the reader's view).
 */
static void test_request_members_any_name(void **state)
{
    (void)state;
    static const struct {
        const char *request, *gone, *kept;
    } cases[] = {
        {"{\"order\":\"A1\",\"misc\":{\"sc\":\"4111 1111 1111 1111\"}}", "4111 1111", "1111"},
        {"{\"code\":\"4111-1111-1111-1111\"}", "4111-1111", "1111"},
        {"{\"x\":[{\"code\":4111111111111111}]}", "4111111111111111", "1111"},
        {"{\"sc\":\"4111\\u00e91111\\u00e91111\\u00e91111\"}", "4111", NULL},
        {"{\"sc\":\"41111111111111111225\"}", "1225", NULL},
        {"{\"misc\":{\"sc\":\"\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\"}}",
         "\xef\xbc\x94\xef\xbc\x91", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool changed = false;
        const char *r = cases[i].request;
        char *red = pl_request_redact_report(r, strlen(r), &changed);
        assert_non_null(red);
        assert_true(changed);
        char *e =
            pl_dlq_envelope("invalid", NULL, "paylink.auth.request", 0, 1, red, changed, 100000);
        assert_non_null(e);
        json_object *o = parse(e);
        const char *copy = str(o, "request");
        if (strstr(copy, cases[i].gone))
            fail_msg("case %zu: %s kept in %s", i, cases[i].gone, copy);
        if (cases[i].kept)
            assert_non_null(strstr(copy, cases[i].kept));
        json_object_put(o);
        free(e);
        free(red);
    }
}

/* Control characters grow sixfold when escaped: 600 KB of them are 3.6 MB of JSON. */
static void test_escaping_bloat_is_cut_to_fit(void **state)
{
    (void)state;
    size_t n = 600000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 1, n);
    big[n] = '\0';
    size_t limit = 1000000 - 2048;
    char *e =
        pl_dlq_envelope("not a JSON object", NULL, "paylink.auth.request", 0, 7, big, false, limit);
    assert_non_null(e);
    assert_true(strlen(e) <= limit);
    json_object *o = parse(e), *v;
    assert_true(json_object_object_get_ex(o, "truncated", &v));
    assert_true(json_object_get_boolean(v));
    assert_true(json_object_object_get_ex(o, "request_bytes", &v));
    assert_int_equal(json_object_get_int64(v), 600000);
    size_t kept = strlen(str(o, "request"));
    assert_true(kept > 0 && kept < n);
    json_object_put(o);
    free(e);
    free(big);
}

/* A cut never splits a UTF-8 character. */
static void test_cut_keeps_characters_whole(void **state)
{
    (void)state;
    size_t n = 3000;
    char *big = malloc(n * 2 + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) {
        big[2 * i] = (char)0xC3; /* é */
        big[2 * i + 1] = (char)0xA9;
    }
    big[2 * n] = '\0';
    char *e = pl_dlq_envelope("x", NULL, "t", 0, 0, big, false, 1500);
    assert_non_null(e);
    assert_true(strlen(e) <= 1500);
    json_object *o = parse(e);
    const char *r = str(o, "request");
    assert_int_equal(strlen(r) % 2, 0);
    for (size_t i = 0; r[i]; i += 2)
        assert_int_equal((unsigned char)r[i], 0xC3);
    json_object_put(o);
    free(e);
    free(big);
}

/* When even the envelope alone hardly fits, the request goes entirely; never a loop, never
 * NULL. */
static void test_tiny_limit_drops_the_request(void **state)
{
    (void)state;
    char *e = pl_dlq_envelope("why", NULL, "t", 0, 0, "0123456789012345678901234567890", false, 10);
    assert_non_null(e);
    json_object *o = parse(e);
    assert_string_equal(str(o, "request"), "");
    json_object_put(o);
    free(e);
}

/* A copy the broker refused is cut again from its own text (not NUL-terminated). */
static void test_cut_again(void **state)
{
    (void)state;
    char req[5001];
    memset(req, 'a', 5000);
    req[5000] = '\0';
    pl_errors errs = {0};
    pl_errors_add(&errs, "", "not a JSON object");
    char *e = pl_dlq_envelope("not a JSON object", &errs, "t", 1, 2, req, true, 100000);
    assert_non_null(e);
    size_t len = strlen(e);
    char *copy = malloc(len);
    memcpy(copy, e, len); /* no NUL */
    char *cut = pl_dlq_cut(copy, len, len / 4);
    assert_non_null(cut);
    assert_true(strlen(cut) <= len / 4);
    json_object *o = parse(cut), *v;
    assert_true(json_object_object_get_ex(o, "truncated", &v));
    assert_true(json_object_object_get_ex(o, "errors", &v));
    assert_int_equal(json_object_array_length(v), 1);
    assert_true(json_object_object_get_ex(o, "request_bytes", &v));
    assert_int_equal(json_object_get_int64(v), 5000);
    /* What the redaction did is kept: a changed copy stays marked so (paylinkctl). */
    assert_true(json_object_object_get_ex(o, "redacted", &v));
    assert_true(json_object_get_boolean(v));
    json_object_put(o);
    assert_null(pl_dlq_cut("not json", 8, 100));
    free(cut);
    free(copy);
    free(e);
}

/* An envelope says its kind, and a given-up one how it was answered; a cut keeps both. One
 * without a kind (pl_dlq_envelope, as before) has neither. */
static void test_kind_kept(void **state)
{
    (void)state;
    char req[3001];
    memset(req, 'b', 3000);
    req[3000] = '\0';
    char *e = pl_dlq_envelope_kind(PL_DLQ_KIND_GIVEN_UP, "timeout", "its row never settled", NULL,
                                   "paylink.auth.request", 1, 9, req, false, 100000);
    assert_non_null(e);
    json_object *o = parse(e), *v;
    assert_string_equal(str(o, "kind"), "given_up");
    assert_string_equal(str(o, "answered"), "timeout");
    assert_string_equal(str(o, "error"), "its row never settled");
    json_object_put(o);
    size_t len = strlen(e);
    char *cut = pl_dlq_cut(e, len, len / 4);
    assert_non_null(cut);
    o = parse(cut);
    assert_string_equal(str(o, "kind"), "given_up");
    assert_string_equal(str(o, "answered"), "timeout");
    assert_true(json_object_object_get_ex(o, "truncated", &v));
    json_object_put(o);
    free(cut);
    free(e);

    e = pl_dlq_envelope_kind(PL_DLQ_KIND_UNREADABLE, NULL, "the record could not be read", NULL,
                             "paylink.auth.request", 1, 10, "", false, 100000);
    o = parse(e);
    assert_string_equal(str(o, "kind"), "unreadable");
    assert_false(json_object_object_get_ex(o, "answered", &v));
    json_object_put(o);
    free(e);

    e = pl_dlq_envelope("invalid request", NULL, "t", 0, 0, "{}", false, 1000);
    o = parse(e);
    assert_false(json_object_object_get_ex(o, "kind", &v));
    assert_false(json_object_object_get_ex(o, "answered", &v));
    json_object_put(o);
    cut = pl_dlq_cut(e, strlen(e), 1000);
    o = parse(cut);
    assert_false(json_object_object_get_ex(o, "kind", &v));
    json_object_put(o);
    free(cut);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_request_whole),
        cmocka_unit_test(test_errors_scrubbed),
        cmocka_unit_test(test_errors_scrubbed_hidden),
        cmocka_unit_test(test_request_members_any_name),
        cmocka_unit_test(test_escaping_bloat_is_cut_to_fit),
        cmocka_unit_test(test_cut_keeps_characters_whole),
        cmocka_unit_test(test_tiny_limit_drops_the_request),
        cmocka_unit_test(test_cut_again),
        cmocka_unit_test(test_kind_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
