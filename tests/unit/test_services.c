/*
 * test_services.c: the parts of the service bureau snapshot (services.h) that need no
 * database; loading from PostgreSQL is tests/integration/test_services.c.
 *
 * Which proxy a bureau's calls take: the seed's PROXY_HOST / PROXY_PORT as a process-wide
 * default (PAYLINK_PROXY_HOST / PAYLINK_PROXY_PORT), overridden by the bureau's own
 * auth_service.proxy_host / proxy_port.
 */
#include <setjmp.h>
#include <stdarg.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_columns_win),
        cmocka_unit_test(test_blank_columns_take_the_process_proxy),
        cmocka_unit_test(test_never_overflows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
