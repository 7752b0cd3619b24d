/*
 * test_paylinkctl_bureau.c: the parts of `paylinkctl bureau` (tools/paylinkctl/bureau.h) that
 * need no database: the whitelist of fields, the strict parsing of values, the https rule of
 * the External Payment Service's URLs, the password check of ext.auth_password_ref (through
 * env: and file: references, never printing the password), the command line, and the JSON the
 * set statements read. The database side (one transaction, the audit rows, nothing written
 * when refused) runs end to end in tests/e2e/test_bureau_set.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* By path: common/ has a bureau.h of its own (the bureau adapters' interface), earlier on the
 * include path. */
#include "bureauctl.h"

#define WEAK_PASSWORD "weakpass1"
#define STRONG_PASSWORD "Str0ng!pw"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Parses the NULL-terminated arguments after "bureau" into *o; returns the result. */
static int parse(pl_bureau_opts *o, char *errstr, size_t errstr_size, ...)
{
    char *argv[48] = {"bureau"};
    int argc = 1;
    va_list ap;
    va_start(ap, errstr_size);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 47;)
        argv[argc++] = (char *)a;
    va_end(ap);
    errstr[0] = '\0';
    return pl_bureau_parse(argc, argv, o, errstr, errstr_size);
}

#define PARSE_OK(o, ...)                                                                           \
    do {                                                                                           \
        char e_[512];                                                                              \
        if (parse(o, e_, sizeof e_, __VA_ARGS__, NULL) != PL_OK)                                   \
            fail_msg("parse failed: %s", e_);                                                      \
    } while (0)

/* Refused with PL_ERR_INVALID, errstr containing want. */
#define PARSE_BAD(want, ...)                                                                       \
    do {                                                                                           \
        pl_bureau_opts *o_ = malloc(sizeof *o_);                                                   \
        char e_[512];                                                                              \
        assert_non_null(o_);                                                                       \
        assert_int_equal(parse(o_, e_, sizeof e_, __VA_ARGS__, NULL), PL_ERR_INVALID);             \
        free(o_);                                                                                  \
        if (!strstr(e_, want))                                                                     \
            fail_msg("error '%s' does not say '%s'", e_, want);                                    \
    } while (0)

/* Checks value for the field called name; returns the result, the canonical value in out. */
static int check(const char *name, const char *value, char *out, bool *is_null, char *errstr)
{
    const pl_bureau_field *f = pl_bureau_field_find(name);
    if (!f)
        fail_msg("%s is not in the whitelist", name);
    errstr[0] = '\0';
    return pl_bureau_check_value(f, value, out, PL_BUREAU_VALUE_MAX + 1, is_null, errstr, 512);
}

static void value_ok(const char *name, const char *value, const char *want)
{
    char out[PL_BUREAU_VALUE_MAX + 1], e[512];
    bool is_null = true;
    if (check(name, value, out, &is_null, e) != PL_OK)
        fail_msg("%s=%s refused: %s", name, value, e);
    assert_false(is_null);
    assert_string_equal(out, want);
}

static void value_bad(const char *name, const char *value, const char *want)
{
    char out[PL_BUREAU_VALUE_MAX + 1], e[512];
    bool is_null = false;
    assert_int_equal(check(name, value, out, &is_null, e), PL_ERR_INVALID);
    if (!strstr(e, want))
        fail_msg("%s: error '%s' does not say '%s'", name, e, want);
    /* The field is named, so the operator knows which of several assignments failed. */
    assert_non_null(strstr(e, name));
}

/* ---- the whitelist ----------------------------------------------------------------------- */

static void test_whitelist(void **state)
{
    (void)state;
    /* What identifies a bureau, and what a trigger keeps, is not set by hand. */
    assert_null(pl_bureau_field_find("service_bureau"));
    assert_null(pl_bureau_field_find("protocol"));
    assert_null(pl_bureau_field_find("updated_at"));
    assert_null(pl_bureau_field_find("ext.service_bureau"));
    assert_null(pl_bureau_field_find("ext.updated_at"));
    /* No field holds a secret itself; the password is only ever a reference. */
    assert_null(pl_bureau_field_find("ext.auth_password"));
    assert_null(pl_bureau_field_find("secret"));
    assert_null(pl_bureau_field_find(NULL));
    assert_null(pl_bureau_field_find("enabled")); /* only as ext.enabled */

    const char *expected[] = {"description",
                              "merchant_id",
                              "test_url",
                              "production_url",
                              "send_to_production",
                              "response_time_ms",
                              "response_check_frequency",
                              "connect_attempts",
                              "request_token",
                              "send_reversal",
                              "void_auth_at_deposit",
                              "supports_auth_resubmission",
                              "max_concurrent",
                              "connection_idle_s",
                              "proxy_host",
                              "proxy_port",
                              "ext.enabled",
                              "ext.url_prefix",
                              "ext.message_version",
                              "ext.auth_user",
                              "ext.auth_password_ref",
                              "ext.token_url"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (!pl_bureau_field_find(expected[i]))
            fail_msg("%s is missing from the whitelist", expected[i]);

    size_t n = pl_bureau_field_count();
    assert_null(pl_bureau_field_at(n));
    for (size_t i = 0; i < n; i++) {
        const pl_bureau_field *f = pl_bureau_field_at(i);
        /* ext.* names exactly the external_service columns; others are their column. */
        if (f->ext) {
            assert_memory_equal(f->name, "ext.", 4);
            assert_string_equal(f->name + 4, f->column);
        } else {
            assert_string_equal(f->name, f->column);
        }
        for (size_t k = i + 1; k < n; k++)
            assert_string_not_equal(f->name, pl_bureau_field_at(k)->name);
        assert_ptr_equal(pl_bureau_field_find(f->name), f);
    }
}

/* ---- values ------------------------------------------------------------------------------ */

static void test_https(void **state)
{
    (void)state;
    assert_true(pl_bureau_is_https("https://remote.auth.com:1234"));
    assert_true(pl_bureau_is_https("https://remote.auth.com:1234/ext/"));
    assert_true(pl_bureau_is_https("https://localhost:28443/ext/oauth2/token"));
    assert_false(pl_bureau_is_https("http://remote.auth.com"));
    /* No user or password in the URL (stored and printed for good); an @ after the host is
     * part of the path. */
    assert_false(pl_bureau_is_https("https://user:secret@remote.auth.com/ext/"));
    assert_false(pl_bureau_is_https("https://user@remote.auth.com"));
    assert_true(pl_bureau_is_https("https://remote.auth.com/ext/a@b"));
    assert_false(pl_bureau_is_https("HTTPS://remote.auth.com"));
    assert_false(pl_bureau_is_https("https://"));
    assert_false(pl_bureau_is_https("https:///path"));
    assert_false(pl_bureau_is_https(" https://remote.auth.com"));
    assert_false(pl_bureau_is_https("https://remote auth.com"));
    assert_false(pl_bureau_is_https("https://remote.auth.com/\n"));
    assert_false(pl_bureau_is_https("ftp://remote.auth.com"));
    assert_false(pl_bureau_is_https("remote.auth.com"));
    assert_false(pl_bureau_is_https(""));
    assert_false(pl_bureau_is_https(NULL));
    char long_url[400];
    memset(long_url, 'a', sizeof long_url - 1);
    long_url[sizeof long_url - 1] = '\0';
    memcpy(long_url, "https://", 8);
    assert_false(pl_bureau_is_https(long_url));
}

static void test_strict_booleans_and_numbers(void **state)
{
    (void)state;
    bool b = false;
    assert_true(pl_bureau_parse_bool("true", &b));
    assert_true(b);
    assert_true(pl_bureau_parse_bool("false", &b));
    assert_false(b);
    const char *bad_bools[] = {"",    "TRUE", "True",  "t",      "1",
                               "yes", "on",   "true ", " false", "falsey"};
    for (size_t i = 0; i < sizeof bad_bools / sizeof bad_bools[0]; i++)
        if (pl_bureau_parse_bool(bad_bools[i], &b))
            fail_msg("'%s' read as a boolean", bad_bools[i]);
    assert_false(pl_bureau_parse_bool(NULL, &b));

    long v = 0;
    assert_true(pl_bureau_parse_int("5000", 100, 600000, &v));
    assert_int_equal(v, 5000);
    assert_true(pl_bureau_parse_int("100", 100, 600000, &v));
    assert_true(pl_bureau_parse_int("600000", 100, 600000, &v));
    assert_true(pl_bureau_parse_int("007", 1, 10, &v));
    assert_int_equal(v, 7);
    const char *bad_ints[] = {"",   "99",  "600001", "-5",   "+5",         "5 ",
                              " 5", "5.0", "1e3",    "0x10", "1234567890", "five"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++)
        if (pl_bureau_parse_int(bad_ints[i], 100, 600000, &v))
            fail_msg("'%s' read as a number in 100..600000", bad_ints[i]);
    assert_false(pl_bureau_parse_int(NULL, 0, 10, &v));
}

static void test_values(void **state)
{
    (void)state;
    value_ok("send_reversal", "true", "true");
    value_ok("ext.enabled", "false", "false");
    value_bad("send_reversal", "yes", "expected true or false");
    value_bad("ext.enabled", "1", "expected true or false");

    value_ok("response_time_ms", "010000", "10000");
    value_bad("response_time_ms", "99", "100 to 600000");
    value_bad("connect_attempts", "11", "1 to 10");
    value_bad("max_concurrent", "0", "1 to 10000");
    value_ok("connection_idle_s", "240", "240");
    value_bad("connection_idle_s", "0", "1 to 3600");
    value_bad("connection_idle_s", "3601", "1 to 3600");
    value_bad("response_check_frequency", "-1", "whole number");

    /* A blank port is "none" (NULL). */
    char out[PL_BUREAU_VALUE_MAX + 1], e[512];
    bool is_null = false;
    assert_int_equal(check("proxy_port", "", out, &is_null, e), PL_OK);
    assert_true(is_null);
    value_ok("proxy_port", "3128", "3128");
    value_bad("proxy_port", "65536", "1 to 65535");
    value_ok("proxy_host", "proxy.example", "proxy.example");
    value_ok("proxy_host", "", "");
    value_bad("proxy_host", "proxy example", "space");

    /* The External Payment Service's URLs must be https (seed: "Must begin with https"). */
    value_ok("ext.url_prefix", "https://remote.auth.com:1234", "https://remote.auth.com:1234");
    value_bad("ext.url_prefix", "http://remote.auth.com:1234", "https://");
    value_bad("ext.url_prefix", "", "https://");
    value_bad("ext.token_url", "http://remote.auth.com/oauth2/token", "https://");
    value_ok("ext.token_url", "https://remote.auth.com/oauth2/token",
             "https://remote.auth.com/oauth2/token");
    /* The bureau URLs are https too, or blank. */
    value_ok("test_url", "", "");
    value_bad("production_url", "http://bureau.example", "https://");
    /* A refused URL is not echoed: it may carry a user and password. */
    assert_int_equal(check("ext.url_prefix", "http://user:pa55!wd@host", out, &is_null, e),
                     PL_ERR_INVALID);
    assert_null(strstr(e, "pa55!wd"));

    value_ok("ext.message_version", "3.0", "3.0");
    value_bad("ext.message_version", "2.0", "only 3.0");
    value_bad("ext.message_version", "3", "only 3.0");

    value_ok("ext.auth_user", "paylink_demo", "paylink_demo");
    value_bad("ext.auth_user", "", "not blank");
    value_bad("ext.auth_user", "user:x", "':'");
    value_bad("ws_user", "a:b", "':'");
    value_ok("ws_user", "", "");

    value_ok("ext.auth_password_ref", "file-env:PAYLINK_EXT_CLIENT_SECRET_FILE",
             "file-env:PAYLINK_EXT_CLIENT_SECRET_FILE");
    value_ok("ext.auth_password_ref", "env:X", "env:X");
    /* A password typed where its reference belongs is refused, and not echoed. */
    assert_int_equal(check("ext.auth_password_ref", STRONG_PASSWORD, out, &is_null, e),
                     PL_ERR_INVALID);
    assert_non_null(strstr(e, "never the secret itself"));
    assert_null(strstr(e, STRONG_PASSWORD));
    value_bad("ext.auth_password_ref", "", "secret reference");
    value_bad("ext.auth_password_ref", "env:", "secret reference");
    value_ok("secret_ref", "", "");
    value_bad("secret_ref", "vault:x", "secret reference");

    value_ok("api_version", "1.121", "1.121");
    value_bad("api_version", "1", "version");
    value_bad("api_version", "1.2.3", "version");
    value_ok("card_prefix", "85749", "85749");
    value_bad("card_prefix", "857-49", "letters and digits");
    value_bad("description", "two\nlines", "control character");
    value_bad("fraud_cancel_reason", "TOOLONG", "5 characters");
    /* Kept for good in auth_service_audit and printed back: no card number, not echoed. */
    is_null = false;
    assert_int_equal(check("description", "card 4111 1111 1111 1111 test", out, &is_null, e),
                     PL_ERR_INVALID);
    assert_non_null(strstr(e, "must not contain a card number"));
    assert_null(strstr(e, "1111"));
    /* Also one the Luhn scan does not see: split by characters a bureau message drops, or
     * with its expiry glued (the check the request decoder makes). */
    static const char *const hidden[] = {"card 4111\xc3\xa9"
                                         "1111\xc3\xa9"
                                         "1111\xc3\xa9"
                                         "1111 test",
                                         "ref 41111111111111111225"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        assert_int_equal(check("description", hidden[i], out, &is_null, e), PL_ERR_INVALID);
        assert_non_null(strstr(e, "must not contain a card number"));
    }
    value_bad("test_url", "https://user:pw@sim.test/", "no user or password");
    /* Identifiers are not free text: one that passes the Luhn check is a real configuration. */
    value_ok("location_id", "800123456789017", "800123456789017");
    value_ok("test_url", "https://api.example.com/v1/merchants/800123456789017/pay",
             "https://api.example.com/v1/merchants/800123456789017/pay");
    value_ok("description", "Visa 2026 test bureau", "Visa 2026 test bureau");
    /* A proxy host is a host: no user and password for libcurl to send (and the audit to keep). */
    value_bad("proxy_host", "u:pw@proxy.example", "without scheme, user, password or port");
    value_bad("proxy_host", "http://proxy.example", "without scheme");
    value_ok("proxy_host", "proxy.example", "proxy.example");
    value_ok("proxy_host", "[::1]", "[::1]");
    value_ok("proxy_host", "", "");
}

/* ---- the password behind ext.auth_password_ref ------------------------------------------- */

static void test_password_ref(void **state)
{
    (void)state;
    char e[512];
    setenv("PL_T_BUREAU_STRONG", STRONG_PASSWORD, 1);
    setenv("PL_T_BUREAU_WEAK", WEAK_PASSWORD, 1);
    unsetenv("PL_T_BUREAU_UNSET");
    assert_int_equal(pl_bureau_check_password_ref("env:PL_T_BUREAU_STRONG", e, sizeof e), PL_OK);

    e[0] = '\0';
    assert_int_equal(pl_bureau_check_password_ref("env:PL_T_BUREAU_WEAK", e, sizeof e),
                     PL_ERR_INVALID);
    assert_non_null(strstr(e, "env:PL_T_BUREAU_WEAK"));
    assert_non_null(strstr(e, "no special (non-alphanumeric) character, ends in a digit"));
    assert_null(strstr(e, WEAK_PASSWORD));

    e[0] = '\0';
    assert_int_equal(pl_bureau_check_password_ref("env:PL_T_BUREAU_UNSET", e, sizeof e),
                     PL_ERR_CONFIG);
    assert_non_null(strstr(e, "cannot be resolved"));

    /* A file, readable by its owner only (config.h), as the workers read it. */
    char dir[] = "/tmp/pl_t_bureau.XXXXXX", path[64], ref[80];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pw", dir);
    snprintf(ref, sizeof ref, "file:%s", path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fchmod(fileno(f), 0600), 0);
    fputs(WEAK_PASSWORD "\n", f);
    fclose(f);
    e[0] = '\0';
    assert_int_equal(pl_bureau_check_password_ref(ref, e, sizeof e), PL_ERR_INVALID);
    assert_null(strstr(e, WEAK_PASSWORD));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(STRONG_PASSWORD "\n", f);
    fclose(f);
    assert_int_equal(pl_bureau_check_password_ref(ref, e, sizeof e), PL_OK);
    /* Others may read it: refused by the resolver, whatever the password. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(pl_bureau_check_password_ref(ref, e, sizeof e), PL_ERR_CONFIG);
    unlink(path);
    rmdir(dir);
    unsetenv("PL_T_BUREAU_STRONG");
    unsetenv("PL_T_BUREAU_WEAK");
}

/* ---- the command line -------------------------------------------------------------------- */

static void test_parse_show_and_audit(void **state)
{
    (void)state;
    pl_bureau_opts *o = malloc(sizeof *o);
    assert_non_null(o);
    PARSE_OK(o, "show", "EXT");
    assert_int_equal(o->cmd, PL_BUREAU_SHOW);
    assert_string_equal(o->code, "EXT");

    PARSE_OK(o, "audit");
    assert_int_equal(o->cmd, PL_BUREAU_AUDIT);
    assert_null(o->code);
    assert_int_equal(o->limit, PL_BUREAU_DEFAULT_LIMIT);
    PARSE_OK(o, "audit", "EXT", "--limit", "5");
    assert_string_equal(o->code, "EXT");
    assert_int_equal(o->limit, 5);
    PARSE_OK(o, "audit", "--limit=7");
    assert_int_equal(o->limit, 7);
    free(o);

    PARSE_BAD("subcommand", "remove", "EXT");
    PARSE_BAD("needs a bureau code", "show");
    PARSE_BAD("1 to 8 characters", "show", "TOOLONGCODE");
    PARSE_BAD("unexpected argument", "show", "EXT", "CYB");
    PARSE_BAD("unknown option", "show", "EXT", "--by", "x");
    PARSE_BAD("--limit", "audit", "--limit", "0");
    PARSE_BAD("needs a value", "audit", "--limit");
    PARSE_BAD("unexpected argument", "audit", "EXT", "description=x");
}

static void test_parse_set(void **state)
{
    (void)state;
    pl_bureau_opts *o = malloc(sizeof *o);
    assert_non_null(o);
    PARSE_OK(o, "set", "EXT", "--by", "alice", "description=External", "ext.enabled=true",
             "proxy_port=", "response_time_ms=10000");
    assert_int_equal(o->cmd, PL_BUREAU_SET);
    assert_string_equal(o->code, "EXT");
    assert_string_equal(o->by, "alice");
    assert_int_equal(o->nchanges, 4);
    assert_string_equal(o->changes[0].field->name, "description");
    assert_string_equal(o->changes[0].value, "External");
    assert_string_equal(o->changes[1].field->name, "ext.enabled");
    assert_true(o->changes[2].is_null);
    assert_string_equal(o->changes[3].value, "10000");

    /* Options and assignments in any order; a value may hold '='. */
    PARSE_OK(o, "set", "--by=bob", "description=a=b", "CYB");
    assert_string_equal(o->code, "CYB");
    assert_string_equal(o->by, "bob");
    assert_string_equal(o->changes[0].value, "a=b");
    free(o);

    PARSE_BAD("--by", "set", "EXT", "description=x");
    PARSE_BAD("at least one FIELD=VALUE", "set", "EXT", "--by", "alice");
    PARSE_BAD("--by: expected a name", "set", "EXT", "--by", "", "description=x");
    PARSE_BAD("--by: must not contain a card number", "set", "EXT", "--by",
              "pat 4111-1111-1111-1111", "description=x");
    PARSE_BAD("--by given twice", "set", "EXT", "--by", "a", "--by", "b", "description=x");
    PARSE_BAD("protocol is not a setting", "set", "EXT", "--by", "a", "protocol=CYB");
    PARSE_BAD("service_bureau is not a setting", "set", "EXT", "--by", "a", "service_bureau=EXX");
    PARSE_BAD("description given twice", "set", "EXT", "--by", "a", "description=x",
              "description=y");
    PARSE_BAD("FIELD=VALUE", "set", "EXT", "--by", "a", "=x");
    PARSE_BAD("ext.url_prefix: must begin with https://", "set", "EXT", "--by", "a",
              "ext.url_prefix=http://remote.auth.com");
    PARSE_BAD("expected true or false", "set", "EXT", "--by", "a", "ext.enabled=yes");
    PARSE_BAD("only 3.0", "set", "EXT", "--by", "a", "ext.message_version=2.0");

    /* A mistyped card number in place of a field is not echoed. */
    pl_bureau_opts *o2 = malloc(sizeof *o2);
    char e[512];
    assert_int_equal(parse(o2, e, sizeof e, "set", "EXT", "--by", "a", "4111111111111111=x", NULL),
                     PL_ERR_INVALID);
    assert_null(strstr(e, "4111111111111111"));
    /* Nor one split by characters nobody sees. */
    assert_int_equal(parse(o2, e, sizeof e, "set", "EXT", "--by", "a",
                           "4111\xc3\xa9"
                           "1111\xc3\xa9"
                           "1111\xc3\xa9"
                           "1111=x",
                           NULL),
                     PL_ERR_INVALID);
    assert_null(strstr(e, "1111\xc3\xa9"));
    assert_non_null(strstr(e, "that field"));
    free(o2);
}

static void test_changes_json(void **state)
{
    (void)state;
    pl_bureau_opts *o = malloc(sizeof *o);
    assert_non_null(o);
    PARSE_OK(o, "set", "EXT", "--by", "alice", "description=Ext \"one\"", "send_reversal=true",
             "proxy_port=", "max_concurrent=0064", "ext.enabled=false",
             "ext.url_prefix=https://remote.auth.com:1234", "ext.auth_password_ref=env:X");

    char *a = pl_bureau_changes_json(o, false);
    char *x = pl_bureau_changes_json(o, true);
    assert_non_null(a);
    assert_non_null(x);
    json_object *ja = json_tokener_parse(a), *jx = json_tokener_parse(x), *v = NULL;
    assert_non_null(ja);
    assert_non_null(jx);
    /* Typed as the columns are, keyed by column. */
    assert_int_equal(json_object_object_length(ja), 4);
    assert_true(json_object_object_get_ex(ja, "description", &v));
    assert_string_equal(json_object_get_string(v), "Ext \"one\"");
    assert_true(json_object_object_get_ex(ja, "send_reversal", &v));
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_true(json_object_get_boolean(v));
    assert_true(json_object_object_get_ex(ja, "proxy_port", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(ja, "max_concurrent", &v));
    assert_true(json_object_is_type(v, json_type_int));
    assert_int_equal(json_object_get_int(v), 64);

    assert_int_equal(json_object_object_length(jx), 3);
    assert_true(json_object_object_get_ex(jx, "enabled", &v));
    assert_false(json_object_get_boolean(v));
    assert_true(json_object_object_get_ex(jx, "url_prefix", &v));
    assert_string_equal(json_object_get_string(v), "https://remote.auth.com:1234");
    assert_true(json_object_object_get_ex(jx, "auth_password_ref", &v));
    assert_string_equal(json_object_get_string(v), "env:X");
    json_object_put(ja);
    json_object_put(jx);
    free(a);
    free(x);

    /* Only one table named: the other's object is empty. */
    PARSE_OK(o, "set", "CYB", "--by", "alice", "send_reversal=false");
    x = pl_bureau_changes_json(o, true);
    assert_string_equal(x, "{}");
    free(x);
    free(o);
}

static void test_main_refuses_before_connecting(void **state)
{
    (void)state;
    /* No database is given: a refused value says so before any connection is tried, and the
     * weak password is never printed (stderr is checked end to end). */
    setenv("PL_T_BUREAU_WEAK", WEAK_PASSWORD, 1);
    char *bad_url[] = {"bureau", "set", "EXT", "--by", "t", "ext.url_prefix=http://x.example"};
    assert_int_equal(pl_bureau_main(6, bad_url, NULL), PL_BUREAU_EXIT_REFUSED);
    char *weak[] = {"bureau", "set", "EXT",
                    "--by",   "t",   "ext.auth_password_ref=env:PL_T_BUREAU_WEAK"};
    assert_int_equal(pl_bureau_main(6, weak, NULL), PL_BUREAU_EXIT_REFUSED);
    char *unknown[] = {"bureau", "set", "EXT", "--by", "t", "nope=1"};
    assert_int_equal(pl_bureau_main(6, unknown, NULL), PL_BUREAU_EXIT_REFUSED);
    /* A valid change without a database is an error, not a refusal. */
    char *fine[] = {"bureau", "set", "EXT", "--by", "t", "description=x"};
    assert_int_equal(pl_bureau_main(6, fine, NULL), PL_BUREAU_EXIT_ERROR);
    char *help[] = {"bureau", "--help"};
    assert_int_equal(pl_bureau_main(2, help, NULL), PL_BUREAU_EXIT_DONE);
    unsetenv("PL_T_BUREAU_WEAK");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whitelist),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_strict_booleans_and_numbers),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_password_ref),
        cmocka_unit_test(test_parse_show_and_audit),
        cmocka_unit_test(test_parse_set),
        cmocka_unit_test(test_changes_json),
        cmocka_unit_test(test_main_refuses_before_connecting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
