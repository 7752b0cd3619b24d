/*
 * test_services.c: the parts of the service bureau snapshot (services.h) that need no
 * database; loading from PostgreSQL is tests/integration/test_services.c.
 *
 * Which proxy a bureau's calls take: the seed's PROXY_HOST / PROXY_PORT as a process-wide
 * default (PAYLINK_PROXY_HOST / PAYLINK_PROXY_PORT), overridden by the bureau's own
 * auth_service.proxy_host / proxy_port. The External Payment Service's password rule (seed
 * external-payment-service.txt, "Authentication Password"), and that its refusals never show
 * the password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services.h"

/* Asserts pl_services_choose_proxy(host, port, fallback) is want. */
static void chooses(const char *host, const char *port, const char *fallback, const char *want)
{
    char out[320];
    memset(out, 'x', sizeof out);
    out[sizeof out - 1] = '\0';
    pl_services_choose_proxy(host, port, fallback, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_own_columns_win(void **state)
{
    (void)state;
    chooses("bureau-proxy.example", "8080", "site-proxy:3128", "bureau-proxy.example:8080");
    /* A host without a port, as the column allows: curl's default proxy port applies. */
    chooses("bureau-proxy.example", "", "site-proxy:3128", "bureau-proxy.example");
    chooses("bureau-proxy.example", NULL, "", "bureau-proxy.example");
    chooses("bureau-proxy.example", "8080", NULL, "bureau-proxy.example:8080");
}

static void test_blank_columns_take_the_process_proxy(void **state)
{
    (void)state;
    chooses("", "", "site-proxy:3128", "site-proxy:3128");
    chooses(NULL, NULL, "site-proxy:3128", "site-proxy:3128");
    /* A port without a host is not a proxy of the bureau's own. */
    chooses("", "8080", "site-proxy:3128", "site-proxy:3128");
    /* Neither: direct, as the seed says of blank properties. */
    chooses("", "", "", "");
    chooses(NULL, NULL, NULL, "");
    chooses("", "8080", "", "");
}

static void test_never_overflows(void **state)
{
    (void)state;
    char host[400];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    char out[16];
    pl_services_choose_proxy(host, "8080", "", out, sizeof out);
    assert_int_equal(strlen(out), sizeof out - 1);
    pl_services_choose_proxy("", "", host, out, sizeof out);
    assert_int_equal(strlen(out), sizeof out - 1);
}

/* ---- the External Payment Service's Authentication Password rule ---------------------- */

/* Asserts pw is accepted, with why left empty. */
static void password_ok(const char *pw)
{
    char why[200];
    memset(why, 'x', sizeof why);
    if (!pl_services_ext_password_ok(pw, why, sizeof why))
        fail_msg("password of %zu bytes refused: %s", strlen(pw), why);
    assert_string_equal(why, "");
}

/* Asserts pw is refused, why naming every rule in want (comma-separated, in the rule's order)
 * and never the password. */
static void password_refused(const char *pw, const char *want)
{
    char why[200];
    assert_false(pl_services_ext_password_ok(pw, why, sizeof why));
    assert_string_equal(why, want);
    if (pw && *pw)
        assert_null(strstr(why, pw));
}

static void test_password_rule_accepts(void **state)
{
    (void)state;
    password_ok("a1!bcd"); /* exactly 6 */
    password_ok("Secr3t!x");
    password_ok("pass word1x"); /* a space is a special character */
    password_ok("1!aaaa");      /* a digit may come first; only the last is ruled */
    password_ok("9$Zz-Q");
    /* Non-ASCII is special and counts as one character: a (1) é (2) 1 (3) b c d (6). */
    password_ok("a\xc3\xa9"
                "1bcd");
    password_ok("x1\xe2\x82\xac"
                "yzw"); /* x, 1, the euro sign (3 bytes), y, z, w */
}

static void test_password_rule_refuses(void **state)
{
    (void)state;
    password_refused("a1!bc", "shorter than 6 characters");
    password_refused("abcdef!", "no digit");
    password_refused("123456!", "no letter");
    password_refused("abcd12", "no special (non-alphanumeric) character, ends in a digit");
    password_refused("abc!12", "ends in a digit");
    password_refused("abcdefgh1x", "no special (non-alphanumeric) character");
    password_refused("abc", "shorter than 6 characters, no digit, no special "
                            "(non-alphanumeric) character");
    password_refused("7", "shorter than 6 characters, no letter, no special (non-alphanumeric) "
                          "character, ends in a digit");
    /* 5 characters in 6 and 7 bytes. */
    password_refused("a\xc3\xa9"
                     "1bc",
                     "shorter than 6 characters");
    password_refused("x1\xe2\x82\xac"
                     "yz",
                     "shorter than 6 characters");
    password_refused("", "no password");
    password_refused(NULL, "no password");
}

static void test_password_rule_why_is_optional_and_bounded(void **state)
{
    (void)state;
    assert_true(pl_services_ext_password_ok("a1!bcd", NULL, 0));
    assert_false(pl_services_ext_password_ok("abc", NULL, 0));
    assert_false(pl_services_ext_password_ok(NULL, NULL, 0));
    char why[12];
    memset(why, 'x', sizeof why);
    assert_false(pl_services_ext_password_ok("7", why, sizeof why));
    assert_int_equal(strlen(why), sizeof why - 1);
    char one[1] = {'x'};
    assert_false(pl_services_ext_password_ok("7", one, sizeof one));
    assert_int_equal(one[0], '\0');
}

/* A snapshot without rows answers "no" (the auth spec's default: REAUTH). */
static void test_notify_installments_without_snapshot(void **state)
{
    (void)state;
    assert_false(pl_services_notify_installments(NULL, 1, "VI"));
}

/* A bureau's row as a refresh would load it. */
static void demo_bureau(pl_service *s)
{
    memset(s, 0, sizeof *s);
    strcpy(s->code, "CYB");
    strcpy(s->protocol, "CYB");
    strcpy(s->merchant_id, "paylink_demo");
    strcpy(s->url, "https://cyb.example/commerce");
    s->response_time_ms = 5000;
    s->connect_attempts = 3;
    s->max_concurrent = 512;
    s->connection_idle_s = 30;
    strcpy(s->secret, "old-password-1234");
    s->secret_ok = true;
}

/* What a refresh changed in one bureau, named in the row's order; nothing when nothing did. */
static void test_diff_names_what_changed(void **state)
{
    (void)state;
    pl_service a, b;
    demo_bureau(&a);
    demo_bureau(&b);
    char out[200];
    memset(out, 'x', sizeof out);
    assert_int_equal(pl_services_diff(&a, &b, out, sizeof out), 0);
    assert_string_equal(out, "");

    strcpy(b.url, "https://standby.example/commerce");
    b.max_concurrent = 64;
    b.response_time_ms = 9000;
    b.connection_idle_s = 240;
    b.message_log_enabled = true;
    assert_int_equal(pl_services_diff(&a, &b, out, sizeof out), 5);
    assert_string_equal(out, "url, response_time_ms, max_concurrent, connection_idle_s, "
                             "message_log_enabled");
}

/* A new secret is named, never shown; a long list is cut to fit and still counted. */
static void test_diff_names_a_secret_never_shows_it(void **state)
{
    (void)state;
    pl_service a, b;
    demo_bureau(&a);
    demo_bureau(&b);
    strcpy(b.secret, "new-password-5678");
    char out[200];
    assert_int_equal(pl_services_diff(&a, &b, out, sizeof out), 1);
    assert_string_equal(out, "secret");
    assert_null(strstr(out, "password"));

    strcpy(b.description, "other");
    strcpy(b.merchant_id, "other");
    char small[12];
    memset(small, 'x', sizeof small);
    assert_int_equal(pl_services_diff(&a, &b, small, sizeof small), 3);
    assert_string_equal(small, "description");
    char none[1] = {'x'};
    assert_int_equal(pl_services_diff(&a, &b, none, sizeof none), 3);
    assert_int_equal(none[0], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_columns_win),
        cmocka_unit_test(test_blank_columns_take_the_process_proxy),
        cmocka_unit_test(test_never_overflows),
        cmocka_unit_test(test_password_rule_accepts),
        cmocka_unit_test(test_password_rule_refuses),
        cmocka_unit_test(test_password_rule_why_is_optional_and_bounded),
        cmocka_unit_test(test_notify_installments_without_snapshot),
        cmocka_unit_test(test_diff_names_what_changed),
        cmocka_unit_test(test_diff_names_a_secret_never_shows_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
