/*
 * test_db_connect.c: the parameters of paylink's database connections (db.h,
 * pl_db_connect_named): TCP keepalives and a user timeout by default, so that a database gone
 * silent ends the connection in about a minute; the conninfo's own values over them; the
 * application name over the conninfo's. Read back with PQconninfo from a connection that was
 * refused (nothing listens on port 1), so no database is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db.h"

/* The value of option key of c, "" when unset. */
static void option(PGconn *c, const char *key, char *out, size_t outsize)
{
    out[0] = '\0';
    PQconninfoOption *opts = PQconninfo(c);
    assert_non_null(opts);
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, key) == 0 && o->val)
            snprintf(out, outsize, "%s", o->val);
    PQconninfoFree(opts);
}

static void assert_option(PGconn *c, const char *key, const char *want)
{
    char v[128];
    option(c, key, v, sizeof v);
    assert_string_equal(v, want);
}

static void test_defaults(void **state)
{
    (void)state;
    PGconn *c = pl_db_connect_named("host=127.0.0.1 port=1 dbname=x application_name=theirs",
                                    "paylink-test", 1);
    assert_non_null(c);
    assert_int_equal(PQstatus(c), CONNECTION_BAD);
    assert_option(c, "keepalives", "1");
    assert_option(c, "keepalives_idle", "30");
    assert_option(c, "keepalives_interval", "10");
    assert_option(c, "keepalives_count", "3");
    assert_option(c, "tcp_user_timeout", "60000");
    assert_option(c, "application_name", "paylink-test");
    assert_option(c, "connect_timeout", "1");
    assert_option(c, "dbname", "x");
    PQfinish(c);
}

static void test_conninfo_over_defaults(void **state)
{
    (void)state;
    PGconn *c = pl_db_connect_named("postgresql://127.0.0.1:1/x?keepalives_idle=5&"
                                    "tcp_user_timeout=0&connect_timeout=3",
                                    "paylink-test", 0);
    assert_non_null(c);
    assert_option(c, "keepalives_idle", "5");
    assert_option(c, "tcp_user_timeout", "0");
    assert_option(c, "keepalives_count", "3");
    assert_option(c, "connect_timeout", "3");
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_conninfo_over_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
