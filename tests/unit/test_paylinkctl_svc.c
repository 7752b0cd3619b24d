/*
 * test_paylinkctl_svc.c: the pure parts of `paylinkctl svc` (svcctl.h): option parsing and
 * validation of close-order and reverse-unused, the seed's REVXAHP conditions on the pay type,
 * the derived reversal request ids, and the JSON line handed to the order system. The database
 * side runs end to end (tests/e2e/test_svc_reverse_unused.sh, tests/e2e/test_bureau_set.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svcctl.h"

#define PAN "4111111111111111"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Parses the NULL-terminated argument list after "svc"; returns the result, errstr filled. */
static int parse(pl_svcctl_opts *o, char *errstr, size_t errstr_size, ...)
{
    char *argv[32] = {"svc"};
    int argc = 1;
    va_list ap;
    va_start(ap, errstr_size);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 31;)
        argv[argc++] = (char *)a;
    va_end(ap);
    errstr[0] = '\0';
    return pl_svcctl_parse(argc, argv, o, errstr, errstr_size);
}

#define PARSE_OK(o, ...)                                                                           \
    do {                                                                                           \
        char e_[256];                                                                              \
        int rc_ = parse(o, e_, sizeof e_, __VA_ARGS__, NULL);                                      \
        if (rc_ != PL_OK)                                                                          \
            fail_msg("parse failed: %s", e_);                                                      \
    } while (0)

/* Refused, with errstr containing `want` (and never the card number). */
#define PARSE_BAD(want, ...)                                                                       \
    do {                                                                                           \
        pl_svcctl_opts o_;                                                                         \
        char e_[256];                                                                              \
        assert_int_equal(parse(&o_, e_, sizeof e_, __VA_ARGS__, NULL), PL_ERR_INVALID);            \
        if (!strstr(e_, want))                                                                     \
            fail_msg("error '%s' does not say '%s'", e_, want);                                    \
        assert_null(strstr(e_, PAN));                                                              \
    } while (0)

/* ---- options ----------------------------------------------------------------------------- */

static void test_close_order_options(void **state)
{
    (void)state;
    pl_svcctl_opts o;
    PARSE_OK(&o, "close-order", "--company", "7", "--order", "A1000", "--reason", "cancelled");
    assert_int_equal(o.cmd, PL_SVCCTL_CLOSE_ORDER);
    assert_int_equal(o.company, 7);
    assert_string_equal(o.order, "A1000");
    assert_string_equal(o.reason, "cancelled");
    assert_string_equal(o.by, "paylinkctl");
    assert_null(o.pay_type);

    /* --name=value too, in any order; the limits are allowed. */
    PARSE_OK(&o, "close-order", "--reason=closed", "--by=order-system", "--order",
             "12345678901234567890", "--company=999");
    assert_int_equal(o.company, 999);
    assert_string_equal(o.reason, "closed");
    assert_string_equal(o.by, "order-system");
    assert_string_equal(o.order, "12345678901234567890");
}

static void test_reverse_unused_options(void **state)
{
    (void)state;
    pl_svcctl_opts o;
    PARSE_OK(&o, "reverse-unused", "--company", "1", "--pay-type", "GC");
    assert_int_equal(o.cmd, PL_SVCCTL_REVERSE_UNUSED);
    assert_int_equal(o.company, 1);
    assert_string_equal(o.pay_type, "GC");
    assert_int_equal(o.older_than_days, 0);
    assert_false(o.dry_run);
    assert_string_equal(o.by, "paylinkctl");

    PARSE_OK(&o, "reverse-unused", "--dry-run", "--company", "12", "--pay-type=SVC1",
             "--older-than-days", "36500", "--by", "ops");
    assert_true(o.dry_run);
    assert_int_equal(o.older_than_days, PL_SVCCTL_MAX_DAYS);
    assert_string_equal(o.pay_type, "SVC1");
    assert_string_equal(o.by, "ops");
}

static void test_required_options(void **state)
{
    (void)state;
    PARSE_BAD("subcommand", "");
    PARSE_BAD("unknown subcommand", "close");
    PARSE_BAD("needs --company", "close-order", "--order", "A1", "--reason", "closed");
    PARSE_BAD("needs --order and --reason", "close-order", "--company", "1", "--reason", "closed");
    PARSE_BAD("needs --order and --reason", "close-order", "--company", "1", "--order", "A1");
    PARSE_BAD("needs --company", "reverse-unused", "--pay-type", "GC");
    PARSE_BAD("needs --pay-type", "reverse-unused", "--company", "1");

    pl_svcctl_opts o;
    char e[256];
    assert_int_equal(pl_svcctl_parse(1, (char *[]){"svc", NULL}, &o, e, sizeof e), PL_ERR_INVALID);
}

static void test_values_checked(void **state)
{
    (void)state;
    static const char *const companies[] = {"0", "1000", "-1", "1x", "", " 1", "01000"};
    for (size_t i = 0; i < sizeof companies / sizeof companies[0]; i++)
        PARSE_BAD("--company", "reverse-unused", "--pay-type", "GC", "--company", companies[i]);

    PARSE_BAD("--reason: expected closed or cancelled", "close-order", "--company", "1", "--order",
              "A1", "--reason", "Closed");
    PARSE_BAD("--order", "close-order", "--company", "1", "--reason", "closed", "--order",
              "123456789012345678901");
    PARSE_BAD("--order", "close-order", "--company", "1", "--reason", "closed", "--order", "");
    PARSE_BAD("--order", "close-order", "--company", "1", "--reason", "closed", "--order", "A\n1");
    PARSE_BAD("--pay-type", "reverse-unused", "--company", "1", "--pay-type", "ABCDE");
    PARSE_BAD("--pay-type", "reverse-unused", "--company", "1", "--pay-type", "");
    PARSE_BAD("--older-than-days", "reverse-unused", "--company", "1", "--pay-type", "GC",
              "--older-than-days", "36501");
    PARSE_BAD("--older-than-days", "reverse-unused", "--company", "1", "--pay-type", "GC",
              "--older-than-days", "-1");
    PARSE_BAD("--older-than-days", "reverse-unused", "--company", "1", "--pay-type", "GC",
              "--older-than-days", "2d");
    PARSE_BAD("--by", "reverse-unused", "--company", "1", "--pay-type", "GC", "--by", "");
    PARSE_BAD("--by: must not contain a card number", "reverse-unused", "--company", "1",
              "--pay-type", "GC", "--by", "4111111111111111");
    PARSE_BAD("--by", "reverse-unused", "--company", "1", "--pay-type", "GC", "--by",
              "123456789012345678901234567890123456789012345678901");
}

static void test_order_with_card_number_refused_unechoed(void **state)
{
    (void)state;
    /* The contract refuses a card number in an order; also written in groups. */
    PARSE_BAD("must not contain a card number", "close-order", "--company", "1", "--reason",
              "closed", "--order", PAN);
    PARSE_BAD("must not contain a card number", "close-order", "--company", "1", "--reason",
              "closed", "--order", "4111 1111 1111 1111");
    /* And one the Luhn scan does not see: its expiry glued, or split by characters a bureau
     * message drops (as the request decoder refuses them). */
    PARSE_BAD("must not contain a card number", "close-order", "--company", "1", "--reason",
              "closed", "--order", "41111111111111111225");
    PARSE_BAD("must not contain a card number", "close-order", "--company", "1", "--reason",
              "closed", "--order",
              "41111111\xc3\xa9"
              "11111111");
}

static void test_options_of_the_other_command_refused(void **state)
{
    (void)state;
    PARSE_BAD("unknown option (argument #6)", "close-order", "--company", "1", "--order", "A1",
              "--dry-run", "--reason", "closed");
    PARSE_BAD("unknown option", "reverse-unused", "--company", "1", "--pay-type", "GC", "--order",
              "A1");
    PARSE_BAD("unknown option", "reverse-unused", "--company", "1", "--pay-type", "GC",
              "--reason=closed");
    /* A stray word is not echoed: it may be a card number. */
    PARSE_BAD("unknown option (argument #2)", "reverse-unused", PAN, "--company", "1", "--pay-type",
              "GC");
    PARSE_BAD("unknown option", "reverse-unused", "--company", "1", "--pay-type", "GC",
              "--company-x", "1");
    PARSE_BAD("--company given twice", "reverse-unused", "--company", "1", "--company", "1",
              "--pay-type", "GC");
    PARSE_BAD("--dry-run takes no value", "reverse-unused", "--company", "1", "--pay-type", "GC",
              "--dry-run=yes");
    PARSE_BAD("--pay-type needs a value", "reverse-unused", "--company", "1", "--pay-type");
}

/* ---- request ids ------------------------------------------------------------------------- */

static void test_void_ids(void **state)
{
    (void)state;
    char id[64], again[64], second[64];
    pl_svcctl_void_id("s-4", 1, id, sizeof id);
    assert_string_equal(id, "s-4.unused");
    pl_svcctl_void_id("s-4", 0, id, sizeof id);
    assert_string_equal(id, "s-4.unused");
    pl_svcctl_void_id("s-4", 2, id, sizeof id);
    assert_string_equal(id, "s-4.unused2");
    pl_svcctl_void_id("s-4", 12, id, sizeof id);
    assert_string_equal(id, "s-4.unused12");

    /* 43 + ".unused" = 50 characters fit; one more becomes the digest form, within 50. */
    const char *fits = "abcdefghijabcdefghijabcdefghijabcdefghij123";
    pl_svcctl_void_id(fits, 1, id, sizeof id);
    assert_int_equal(strlen(id), 50);
    assert_int_equal(strncmp(id, fits, strlen(fits)), 0);
    const char *longer = "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij";
    pl_svcctl_void_id(longer, 1, id, sizeof id);
    pl_svcctl_void_id(longer, 1, again, sizeof again);
    pl_svcctl_void_id(longer, 2, second, sizeof second);
    assert_string_equal(id, again); /* deterministic: a re-run lists the same id */
    assert_int_equal(strlen(id), 50);
    assert_int_equal(strncmp(id, "unused.", 7), 0);
    assert_int_equal(strlen(second), 50);
    assert_int_equal(strncmp(second, "unused2.", 8), 0);
    for (const char *p = id; *p; p++)
        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789.", *p));
}

/* ---- the JSON line ----------------------------------------------------------------------- */

static pl_svcctl_unused sample(void)
{
    return (pl_svcctl_unused){
        .auth_request_id = "s-4",
        .reversal_request_id = "s-4.unused",
        .attempt = 1,
        .company = 1,
        .order = "S1000",
        .pay_seq = 2,
        .service = "RLT",
        .pay_type = "GC",
        .card_masked = "************0001",
        .amount_authorized = "30.00",
        .amount_left = "20.00",
        .currency = "USD",
        .order_status = "cancelled",
        .closed_at = "2026-12-01T10:00:00Z",
        .authorized_at = "2026-11-30T09:00:00Z",
        .first_listed_at = "2026-12-01T11:00:00Z",
        .times_listed = 3,
    };
}

static void test_unused_json(void **state)
{
    (void)state;
    pl_svcctl_unused u = sample();
    char *line = pl_svcctl_unused_json(&u, "paylink");
    assert_non_null(line);
    assert_string_equal(
        line, "{\"auth_request_id\":\"s-4\",\"reversal_request_id\":\"s-4.unused\",\"attempt\":1,"
              "\"company\":1,\"order\":\"S1000\",\"pay_seq\":2,\"service\":\"RLT\","
              "\"pay_type\":\"GC\",\"card\":{\"masked\":\"************0001\"},"
              "\"amount_authorized\":\"30.00\",\"amount_left\":\"20.00\",\"currency\":\"USD\","
              "\"order_status\":\"cancelled\",\"closed_at\":\"2026-12-01T10:00:00Z\","
              "\"authorized_at\":\"2026-11-30T09:00:00Z\","
              "\"first_listed_at\":\"2026-12-01T11:00:00Z\",\"times_listed\":3,"
              "\"topic\":\"paylink.reversal.request\",\"key\":\"1-S1000\","
              "\"reversal\":{\"v\":1,\"request_id\":\"s-4.unused\",\"type\":\"reversal\","
              "\"company\":1,\"order\":\"S1000\",\"pay_seq\":2,\"service\":\"RLT\","
              "\"pay_type\":\"GC\",\"amount\":\"20.00\",\"currency\":\"USD\","
              "\"auth_ref\":{\"request_id\":\"s-4\"}}}");
    free(line);
}

static void test_unused_json_dry_run_and_blanks(void **state)
{
    (void)state;
    pl_svcctl_unused u = sample();
    u.first_listed_at = NULL; /* a dry run records nothing */
    u.times_listed = 0;
    u.pay_type = "";
    u.currency = "";
    char *line = pl_svcctl_unused_json(&u, "test.pl");
    assert_non_null(line);
    json_object *o = json_tokener_parse(line), *v, *rev;
    assert_non_null(o);
    assert_false(json_object_object_get_ex(o, "first_listed_at", &v));
    assert_false(json_object_object_get_ex(o, "times_listed", &v));
    assert_true(json_object_object_get_ex(o, "topic", &v));
    assert_string_equal(json_object_get_string(v), "test.pl.reversal.request");
    /* The request leaves out what it does not have rather than sending it empty. */
    assert_true(json_object_object_get_ex(o, "reversal", &rev));
    assert_false(json_object_object_get_ex(rev, "pay_type", &v));
    assert_false(json_object_object_get_ex(rev, "currency", &v));
    /* Never a card number: the order system adds it. */
    assert_false(json_object_object_get_ex(rev, "svc", &v));
    assert_false(json_object_object_get_ex(rev, "card", &v));
    json_object_put(o);
    free(line);
}

/* ---- the seed's REVXAHP conditions --------------------------------------------------------- */

/* A stored value pay type GE of company 7 on an enabled External Payment Service bureau. */
static pl_svcctl_pay_type ext_pay_type(void)
{
    return (pl_svcctl_pay_type){.found = true,
                                .kind = "SVC",
                                .service = "EXT",
                                .protocol = "EXT",
                                .ext_configured = true,
                                .ext_enabled = true,
                                .is_m25 = false};
}

/* Asserts the pay type is refused with a message containing want (and naming it). */
static void pay_type_refused(const pl_svcctl_pay_type *p, const char *want)
{
    pl_svcctl_opts o = {.cmd = PL_SVCCTL_REVERSE_UNUSED, .company = 7, .pay_type = "GE"};
    char e[400] = "";
    assert_int_equal(pl_svcctl_check_pay_type(&o, p, e, sizeof e), PL_ERR_INVALID);
    if (!strstr(e, want))
        fail_msg("error '%s' does not say '%s'", e, want);
    assert_non_null(strstr(e, "GE"));
}

static void test_pay_type_conditions(void **state)
{
    (void)state;
    pl_svcctl_opts o = {.cmd = PL_SVCCTL_REVERSE_UNUSED, .company = 7, .pay_type = "GE"};
    char e[400];
    pl_svcctl_pay_type p = ext_pay_type();
    assert_int_equal(pl_svcctl_check_pay_type(&o, &p, e, sizeof e), PL_OK);
    /* Customer Engagement stored value, as before the External Payment Service. */
    p.service = "RLT";
    p.protocol = "RLT";
    p.ext_configured = p.ext_enabled = false;
    assert_int_equal(pl_svcctl_check_pay_type(&o, &p, e, sizeof e), PL_OK);

    p = (pl_svcctl_pay_type){.found = false};
    pay_type_refused(&p, "not a pay type of company 7");
    p = ext_pay_type();
    p.kind = "CC";
    pay_type_refused(&p, "credit card pay type");
    p = ext_pay_type();
    p.service = "CYB";
    p.protocol = "CYB";
    pay_type_refused(&p, "not to the External Payment Service");
    p = ext_pay_type();
    p.ext_configured = false;
    p.ext_enabled = false;
    pay_type_refused(&p, "no External Service Settings");
    p = ext_pay_type();
    p.ext_enabled = false;
    pay_type_refused(&p, "External Service flag is off");
    p = ext_pay_type();
    p.is_m25 = true;
    pay_type_refused(&p, "M25");
    /* A credit card pay type that is also M25: the first condition the seed lists decides. */
    p.kind = "CC";
    pay_type_refused(&p, "credit card pay type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_order_options),
        cmocka_unit_test(test_reverse_unused_options),
        cmocka_unit_test(test_required_options),
        cmocka_unit_test(test_values_checked),
        cmocka_unit_test(test_order_with_card_number_refused_unechoed),
        cmocka_unit_test(test_options_of_the_other_command_refused),
        cmocka_unit_test(test_void_ids),
        cmocka_unit_test(test_unused_json),
        cmocka_unit_test(test_unused_json_dry_run_and_blanks),
        cmocka_unit_test(test_pay_type_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
