/* test_paylinkctl_ctldb.c: paylinkctl's database connection (tools/paylinkctl/ctldb.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctldb.h"

/* Runs pl_ctldb_connect(conninfo) and returns what it printed (malloc'd). */
static char *connect_output(const char *conninfo, PGconn **out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&buf, &len);
    assert_non_null(err);
    *out = pl_ctldb_connect(conninfo, err);
    fclose(err);
    return buf;
}

static void test_no_database(void **state)
{
    (void)state;
    const char *none[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        PGconn *db;
        char *msg = connect_output(none[i], &db);
        assert_null(db);
        assert_string_equal(msg, "paylinkctl: no database: set PAYLINK_DB or give --db\n");
        free(msg);
    }
}

static void test_refused_connection_keeps_the_password(void **state)
{
    (void)state;
    PGconn *db;
    /* Port 1 on loopback: nothing listens there, the connection is refused at once. */
    char *msg = connect_output("host=127.0.0.1 port=1 dbname=x user=x password=sekrit-42 "
                               "connect_timeout=5",
                               &db);
    assert_null(db);
    assert_non_null(strstr(msg, "paylinkctl: cannot connect to the database: "));
    assert_null(strstr(msg, "sekrit-42"));
    assert_int_equal(msg[strlen(msg) - 1], '\n');
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_database),
        cmocka_unit_test(test_refused_connection_keeps_the_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
