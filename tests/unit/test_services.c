/*
 * test_services.c: the parts of the service bureau snapshot (services.h) that need no
 * database; loading from PostgreSQL is tests/integration/test_services.c.
 *
 * Which proxy a bureau's calls take: the seed's PROXY_HOST / PROXY_PORT as a process-wide
 * default (PAYLINK_PROXY_HOST / PAYLINK_PROXY_PORT), overridden by the bureau's own
 * auth_service.proxy_host / proxy_port. The External Payment Service's password rule (seed
 * external-payment-service.txt, "Authentication Password"), and that its refusals never show
 * the password. What a refresh carries over from the configuration it replaces
 * (pl_services_carry): a secret whose unchanged reference can no longer be read, and the
 * warnings that say which bureaus a load leaves unusable, once per change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
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

/*
 * A changed secret reference is named ("secret_ref"), though the secret read through it is the
 * same (a key file moved), and the reference itself is never shown. Before, an operator who
 * moved a bureau's key saw no line saying the workers had the new reference.
 */
static void test_diff_names_a_changed_reference(void **state)
{
    (void)state;
    pl_service a, b;
    demo_bureau(&a);
    demo_bureau(&b);
    strcpy(a.secret_ref, "file:/etc/paylink/cyb.key");
    strcpy(b.secret_ref, "file:/run/secrets/cyb.key");
    char out[200];
    assert_int_equal(pl_services_diff(&a, &b, out, sizeof out), 1);
    assert_string_equal(out, "secret_ref");
    assert_null(strstr(out, "/run/secrets"));

    /* Another key under another reference: both named, in the row's order. */
    strcpy(b.secret, "new-password-5678");
    assert_int_equal(pl_services_diff(&a, &b, out, sizeof out), 2);
    assert_string_equal(out, "secret, secret_ref");
    assert_null(strstr(out, "password"));
}

/* ---- pl_services_carry --------------------------------------------------------------- */

/* The log, captured in memory while a test runs (pl_services_carry logs through it). */
static FILE *g_log;
static char *g_log_buf;
static size_t g_log_size;

static void log_start(void)
{
    g_log = open_memstream(&g_log_buf, &g_log_size);
    assert_non_null(g_log);
    pl_log_init("auth", g_log);
}

/* What was logged since the last call (or log_start); the capture goes on. */
static const char *log_since(size_t *from)
{
    assert_int_equal(fflush(g_log), 0);
    const char *since = g_log_buf + *from;
    *from = g_log_size;
    return since;
}

static void log_stop(void)
{
    pl_log_init("auth", NULL);
    fclose(g_log);
    free(g_log_buf);
    g_log_buf = NULL;
    g_log_size = 0;
}

/* How many lines of level ("warn", "info") text holds. */
static int lines_of(const char *text, const char *level)
{
    char tag[32];
    snprintf(tag, sizeof tag, "\"level\":\"%s\"", level);
    int n = 0;
    for (const char *p = text; (p = strstr(p, tag)); p++)
        n++;
    return n;
}

#define CYB_REF "file:/etc/paylink/cyb.key"
#define CYB_UNREAD "secret file:/etc/paylink/cyb.key: cannot open: No such file or directory"

/* demo_bureau as a load makes it when its reference ref could be read. */
static void read_bureau(pl_service *s, const char *ref)
{
    demo_bureau(s);
    strcpy(s->secret_ref, ref);
}

/* demo_bureau as a load makes it when its reference ref could not be read (error why). */
static void unread_bureau(pl_service *s, const char *ref, const char *why)
{
    demo_bureau(s);
    strcpy(s->secret_ref, ref);
    memset(s->secret, 0, sizeof s->secret);
    s->secret_ok = false;
    s->secret_unread = true;
    strcpy(s->secret_error, why);
}

/* Carries was (may be NULL) into a snapshot of row now; the snapshot. */
static pl_services *carried(const pl_service *now, const pl_services *was)
{
    pl_services *s = pl_services_of(now, 1);
    assert_non_null(s);
    pl_services_carry(s, was);
    return s;
}

/*
 * The key file of a bureau went missing (or was left at mode 0644) on this host, its reference
 * unchanged: a refresh keeps the key that worked, says so at warn (the reference and why,
 * never the key), once while it lasts, and at info when the file can be read again.
 */
static void test_carry_keeps_the_secret_of_an_unchanged_reference(void **state)
{
    (void)state;
    size_t at = 0;
    log_start();
    pl_service row;
    read_bureau(&row, CYB_REF);
    pl_services *was = carried(&row, NULL);
    assert_string_equal(log_since(&at), "");

    unread_bureau(&row, CYB_REF, CYB_UNREAD);
    pl_services *now = carried(&row, was);
    const pl_service *cyb = pl_services_find(now, "CYB");
    assert_true(cyb->secret_ok);
    assert_string_equal(cyb->secret, "old-password-1234");
    assert_true(cyb->secret_unread);
    assert_string_equal(cyb->secret_error, CYB_UNREAD);
    /* As the engine's refresh reports it: nothing it uses changed. */
    char what[200];
    assert_int_equal(pl_services_diff(pl_services_find(was, "CYB"), cyb, what, sizeof what), 0);
    const char *log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CYB: " CYB_UNREAD));
    assert_non_null(strstr(log, "the secret read before is kept"));
    assert_null(strstr(log, "old-password"));
    pl_services_unref(was);
    was = now;

    /* The next refreshes, the file still missing: kept, and not said again. */
    for (int k = 0; k < 3; k++) {
        now = carried(&row, was);
        assert_true(pl_services_find(now, "CYB")->secret_ok);
        assert_string_equal(pl_services_find(now, "CYB")->secret, "old-password-1234");
        pl_services_unref(was);
        was = now;
    }
    assert_string_equal(log_since(&at), "");

    /* Another reason (the file is back, at mode 0644): kept, said once more. */
    unread_bureau(&row, CYB_REF,
                  "secret file:/etc/paylink/cyb.key: mode 0644 grants access to others");
    now = carried(&row, was);
    assert_string_equal(pl_services_find(now, "CYB")->secret, "old-password-1234");
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "mode 0644"));
    pl_services_unref(was);
    was = now;

    /* Readable again: the secret it reads, and the operator is told. */
    read_bureau(&row, CYB_REF);
    strcpy(row.secret, "new-password-5678");
    now = carried(&row, was);
    cyb = pl_services_find(now, "CYB");
    assert_true(cyb->secret_ok);
    assert_false(cyb->secret_unread);
    assert_string_equal(cyb->secret, "new-password-5678");
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 0);
    assert_int_equal(lines_of(log, "info"), 1);
    assert_non_null(strstr(log, "bureau CYB: its secret reference can be read again"));
    assert_null(strstr(log, "password"));
    pl_services_unref(was);
    pl_services_unref(now);
    log_stop();
}

/* A reference the operator changed, unreadable, is theirs: the bureau is unusable. So is one
 * that a start-up could not read (nothing was read before), or one whose settings break a rule
 * (its secret was read: nothing to keep from). */
static void test_carry_keeps_nothing_else(void **state)
{
    (void)state;
    size_t at = 0;
    log_start();
    pl_service row;
    read_bureau(&row, CYB_REF);
    pl_services *was = pl_services_of(&row, 1);

    unread_bureau(&row, "file:/etc/paylink/cyb-2.key",
                  "secret file:/etc/paylink/cyb-2.key: cannot open: No such file or directory");
    pl_services *now = carried(&row, was);
    assert_false(pl_services_find(now, "CYB")->secret_ok);
    assert_string_equal(pl_services_find(now, "CYB")->secret, "");
    pl_services_unref(now);

    /* Start-up: nothing to keep. */
    unread_bureau(&row, CYB_REF, CYB_UNREAD);
    now = carried(&row, NULL);
    assert_false(pl_services_find(now, "CYB")->secret_ok);
    assert_string_equal(pl_services_find(now, "CYB")->secret, "");
    pl_services_unref(now);

    /* Refused for its settings, not its secret (an EXT bureau's flag switched off). */
    pl_service ext;
    read_bureau(&ext, "env:PAYLINK_EXT_PASSWORD");
    strcpy(ext.code, "EXT");
    strcpy(ext.protocol, "EXT");
    pl_services_unref(was);
    was = pl_services_of(&ext, 1);
    memset(ext.secret, 0, sizeof ext.secret);
    ext.secret_ok = false;
    strcpy(ext.secret_error, "EXT: the External Service flag is off (external_service.enabled)");
    now = carried(&ext, was);
    assert_false(pl_services_find(now, "EXT")->secret_ok);
    assert_string_equal(pl_services_find(now, "EXT")->secret, "");
    pl_services_unref(now);

    /* The same reference on another protocol is another secret. */
    pl_services_unref(was);
    read_bureau(&row, CYB_REF);
    was = pl_services_of(&row, 1);
    unread_bureau(&row, CYB_REF, CYB_UNREAD);
    strcpy(row.protocol, "RLT");
    now = carried(&row, was);
    assert_false(pl_services_find(now, "CYB")->secret_ok);
    pl_services_unref(now);
    pl_services_unref(was);
    assert_null(strstr(log_since(&at), "password-1234"));
    pl_services_carry(NULL, NULL);
    log_stop();
}

/*
 * A load that leaves a bureau unusable says so at warn with its code and why — at start-up,
 * then once each time it becomes unusable or the reason changes; not at every refresh while it
 * stays so, nor for a usable bureau.
 */
static void test_carry_warns_of_unusable_bureaus(void **state)
{
    (void)state;
    size_t at = 0;
    log_start();
    pl_service rows[2];
    read_bureau(&rows[0], CYB_REF);
    unread_bureau(&rows[1], "file-env:PAYLINK_RLT_PASSWORD_FILE",
                  "secret file-env:PAYLINK_RLT_PASSWORD_FILE: variable not set");
    strcpy(rows[1].code, "RLT");
    strcpy(rows[1].protocol, "RLT");

    /* Start-up. */
    pl_services *was = pl_services_of(rows, 2);
    pl_services_carry(was, NULL);
    const char *log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau RLT is unusable, its requests are refused: secret "
                                "file-env:PAYLINK_RLT_PASSWORD_FILE: variable not set"));
    assert_null(strstr(log, "CYB"));

    /* Refreshes that change nothing: silent. */
    for (int k = 0; k < 3; k++) {
        pl_services *now = pl_services_of(rows, 2);
        pl_services_carry(now, was);
        pl_services_unref(was);
        was = now;
    }
    assert_string_equal(log_since(&at), "");

    /* Another reason: said. */
    strcpy(rows[1].secret_error, "secret file-env:PAYLINK_RLT_PASSWORD_FILE: cannot open "
                                 "/run/secrets/rlt: No such file or directory");
    pl_services *now = pl_services_of(rows, 2);
    pl_services_carry(now, was);
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau RLT is unusable"));
    assert_non_null(strstr(log, "/run/secrets/rlt"));
    pl_services_unref(was);
    was = now;

    /* CYB becomes unusable (its reference changed to one that cannot be read). */
    unread_bureau(&rows[0], "env:PAYLINK_CYB_KEY", "secret env:PAYLINK_CYB_KEY: variable not set");
    now = pl_services_of(rows, 2);
    pl_services_carry(now, was);
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CYB is unusable, its requests are refused: secret "
                                "env:PAYLINK_CYB_KEY: variable not set"));
    assert_null(strstr(log, "password-1234"));
    pl_services_unref(was);
    was = now;

    /* A bureau added by a refresh, unusable: said. */
    pl_service three[3];
    memcpy(three, rows, sizeof rows);
    unread_bureau(&three[2], "env:PAYLINK_EXT_PASSWORD",
                  "secret env:PAYLINK_EXT_PASSWORD: variable not set");
    strcpy(three[2].code, "EXT");
    strcpy(three[2].protocol, "EXT");
    now = pl_services_of(three, 3);
    pl_services_carry(now, was);
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau EXT is unusable"));
    pl_services_unref(was);
    pl_services_unref(now);
    log_stop();
}

/*
 * A worker's engine and its resolver hold settings of their own and carry them apart, from the
 * same references: what one said of a bureau the other does not say again — that its secret
 * is kept, that it can be read again, that the bureau is unusable — and what differs from the
 * last line said (another reason, the file broken again after it was read) is said, by
 * whichever gets there first. Before, each line came twice in the worker's log. A start-up
 * says what it finds whatever was said before.
 */
static void test_carry_says_a_line_once_per_process(void **state)
{
    (void)state;
    size_t at = 0;
    log_start();
    pl_service row;
    read_bureau(&row, CYB_REF);
    strcpy(row.code, "CY1"); /* a bureau of this test's own */
    /* The engine's start-up, then the resolver's first load (not carried: nothing before). */
    pl_services *eng = carried(&row, NULL);
    pl_services *res = pl_services_of(&row, 1);
    assert_string_equal(log_since(&at), "");

    /* The key file left at mode 0644: each keeps the key, said once. */
    static const char e644[] =
        "secret file:/etc/paylink/cyb.key: mode 0644 grants access to others";
    unread_bureau(&row, CYB_REF, e644);
    strcpy(row.code, "CY1");
    pl_services *next = carried(&row, eng);
    pl_services_unref(eng);
    eng = next;
    next = carried(&row, res);
    pl_services_unref(res);
    res = next;
    assert_true(pl_services_find(eng, "CY1")->secret_ok);
    assert_true(pl_services_find(res, "CY1")->secret_ok);
    assert_string_equal(pl_services_find(res, "CY1")->secret, "old-password-1234");
    const char *log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CY1: "
                                "secret file:/etc/paylink/cyb.key: mode 0644"));

    /* Another reason, the resolver first this time: said once. */
    unread_bureau(&row, CYB_REF, CYB_UNREAD);
    strcpy(row.code, "CY1");
    next = carried(&row, res);
    pl_services_unref(res);
    res = next;
    next = carried(&row, eng);
    pl_services_unref(eng);
    eng = next;
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "No such file or directory"));

    /* Readable again: said once. */
    read_bureau(&row, CYB_REF);
    strcpy(row.code, "CY1");
    next = carried(&row, eng);
    pl_services_unref(eng);
    eng = next;
    next = carried(&row, res);
    pl_services_unref(res);
    res = next;
    log = log_since(&at);
    assert_int_equal(lines_of(log, "info"), 1);
    assert_int_equal(lines_of(log, "warn"), 0);
    assert_non_null(strstr(log, "bureau CY1: its secret reference can be read again"));

    /* Gone again, for the same reason as before: news again, said once. */
    unread_bureau(&row, CYB_REF, CYB_UNREAD);
    strcpy(row.code, "CY1");
    next = carried(&row, eng);
    pl_services_unref(eng);
    eng = next;
    next = carried(&row, res);
    pl_services_unref(res);
    res = next;
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CY1: " CYB_UNREAD "; the secret read before is kept"));

    /* Its reference changed to one that cannot be read: unusable, said once; usable again
     * under the first reference (nothing said), then the same change: said once more. */
    static const char gone[] = "secret env:PAYLINK_CY1_KEY: variable not set";
    for (int k = 0; k < 2; k++) {
        unread_bureau(&row, "env:PAYLINK_CY1_KEY", gone);
        strcpy(row.code, "CY1");
        next = carried(&row, res);
        pl_services_unref(res);
        res = next;
        next = carried(&row, eng);
        pl_services_unref(eng);
        eng = next;
        assert_false(pl_services_find(eng, "CY1")->secret_ok);
        assert_false(pl_services_find(res, "CY1")->secret_ok);
        log = log_since(&at);
        assert_int_equal(lines_of(log, "warn"), 1);
        assert_non_null(strstr(log, "bureau CY1 is unusable, its requests are refused: secret "
                                    "env:PAYLINK_CY1_KEY: variable not set"));
        read_bureau(&row, CYB_REF);
        strcpy(row.code, "CY1");
        next = carried(&row, eng);
        pl_services_unref(eng);
        eng = next;
        next = carried(&row, res);
        pl_services_unref(res);
        res = next;
        assert_string_equal(log_since(&at), "");
    }

    /* Another start-up in the process (a worker's own start): says what it finds. */
    unread_bureau(&row, "env:PAYLINK_CY1_KEY", gone);
    strcpy(row.code, "CY1");
    next = carried(&row, eng);
    pl_services_unref(eng);
    eng = next;
    assert_int_equal(lines_of(log_since(&at), "warn"), 1);
    next = carried(&row, NULL);
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CY1 is unusable"));
    assert_null(strstr(log, "password-1234"));
    pl_services_unref(next);
    pl_services_unref(eng);
    pl_services_unref(res);
    log_stop();
}

/* Carries *held (replaced, unreferenced) into a snapshot of rows[0..n). */
static void refresh(pl_services **held, const pl_service *rows, size_t n)
{
    pl_services *s = pl_services_of(rows, n);
    assert_non_null(s);
    pl_services_carry(s, *held);
    pl_services_unref(*held);
    *held = s;
}

/*
 * A bureau removed from the configuration and added again with the same unreadable reference is
 * said to be unusable again: the holder that found it removed forgot what the process said of it.
 * Before, the line said before its removal ("unusable, E") was still noted, and the bureau added
 * again (new to the holder, which always said so before lines were said once per process) was
 * unusable without a word.
 */
static void test_carry_says_a_bureau_added_again(void **state)
{
    (void)state;
    size_t at = 0;
    log_start();
    pl_service rows[2];
    read_bureau(&rows[0], CYB_REF);
    strcpy(rows[0].code, "CY2"); /* a bureau of this test's own */
    read_bureau(&rows[1], CYB_REF);
    strcpy(rows[1].code, "CZ2");
    pl_services *eng = pl_services_of(rows, 2);
    pl_services_carry(eng, NULL);
    assert_string_equal(log_since(&at), "");

    /* Its reference changed to one that cannot be read: said. */
    static const char gone[] = "secret env:PAYLINK_CY2_KEY: variable not set";
    unread_bureau(&rows[0], "env:PAYLINK_CY2_KEY", gone);
    strcpy(rows[0].code, "CY2");
    refresh(&eng, rows, 2);
    const char *log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CY2 is unusable"));

    /* Removed (only CZ2 left), then added again as it was: said again. */
    refresh(&eng, &rows[1], 1);
    assert_null(pl_services_find(eng, "CY2"));
    assert_string_equal(log_since(&at), "");
    refresh(&eng, rows, 2);
    assert_false(pl_services_find(eng, "CY2")->secret_ok);
    log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CY2 is unusable, its requests are refused: secret "
                                "env:PAYLINK_CY2_KEY: variable not set"));
    pl_services_unref(eng);
    log_stop();
}

/*
 * An outage only the resolver saw (it said the bureau unusable), mended before the engine loaded
 * again (usable then as before: nothing to say); the same error back at the engine's next load,
 * before the resolver's (a minute apart): the engine, now refusing the bureau's requests, says
 * so. Before, only a holder's own change from unusable to usable noted the bureau usable, so the
 * resolver's line was still the last noted and the engine's was silenced.
 */
static void test_carry_says_unusable_after_another_holder_saw_it_mended(void **state)
{
    (void)state;
    size_t at = 0;
    log_start();
    pl_service row;
    read_bureau(&row, CYB_REF);
    strcpy(row.code, "CY3"); /* a bureau of this test's own */
    pl_services *eng = carried(&row, NULL);
    pl_services *res = pl_services_of(&row, 1);
    assert_string_equal(log_since(&at), "");

    /* The resolver's load during the outage: said. */
    static const char gone[] = "secret env:PAYLINK_CY3_KEY: variable not set";
    unread_bureau(&row, "env:PAYLINK_CY3_KEY", gone);
    strcpy(row.code, "CY3");
    refresh(&res, &row, 1);
    assert_false(pl_services_find(res, "CY3")->secret_ok);
    assert_int_equal(lines_of(log_since(&at), "warn"), 1);

    /* Mended; the engine's load finds it usable as before: nothing said. */
    read_bureau(&row, CYB_REF);
    strcpy(row.code, "CY3");
    refresh(&eng, &row, 1);
    assert_string_equal(log_since(&at), "");

    /* The same error back at the engine's next load: said, once (the resolver's load after
     * finds it as it last held it). */
    unread_bureau(&row, "env:PAYLINK_CY3_KEY", gone);
    strcpy(row.code, "CY3");
    refresh(&eng, &row, 1);
    assert_false(pl_services_find(eng, "CY3")->secret_ok);
    refresh(&res, &row, 1);
    const char *log = log_since(&at);
    assert_int_equal(lines_of(log, "warn"), 1);
    assert_non_null(strstr(log, "bureau CY3 is unusable, its requests are refused: secret "
                                "env:PAYLINK_CY3_KEY: variable not set"));
    pl_services_unref(eng);
    pl_services_unref(res);
    log_stop();
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
        cmocka_unit_test(test_diff_names_a_changed_reference),
        cmocka_unit_test(test_carry_keeps_the_secret_of_an_unchanged_reference),
        cmocka_unit_test(test_carry_keeps_nothing_else),
        cmocka_unit_test(test_carry_warns_of_unusable_bureaus),
        cmocka_unit_test(test_carry_says_a_line_once_per_process),
        cmocka_unit_test(test_carry_says_a_bureau_added_again),
        cmocka_unit_test(test_carry_says_unusable_after_another_holder_saw_it_mended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
