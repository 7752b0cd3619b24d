/*
 * test_paylinkctl_args.c: a paylinkctl subcommand's options (tools/paylinkctl/ctlargs.h): found
 * by name for its subcommand only, their values after '=' or in the next argument, refused when
 * unknown (never echoed), given twice, missing their value or given one they do not take.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctlargs.h"
#include "err.h"

enum { OPT_ONE, OPT_FLAG, OPT_MANY, NOPT };
static const pl_ctl_option opts[] = {
    {"--one", 1u << 1, true},
    {"--flag", (1u << 1) | (1u << 2), false},
    {"--many", 1u << 2, true},
};

typedef struct read_result {
    int rc;
    int a; /* where the reading stopped */
    size_t which;
    const char *value;
    char err[200];
} read_result;

/* Reads args[at] for subcommand bit cmd, seen carried over by the caller. */
static read_result read_one(char **args, int argc, int at, unsigned cmd, bool *seen)
{
    read_result r = {.a = at};
    r.rc = pl_ctl_option_read(argc, args, &r.a, opts, NOPT, cmd, seen, OPT_MANY, "x y: ", &r.which,
                              &r.value, r.err, sizeof r.err);
    return r;
}

static void test_values_after_equals_or_in_the_next_argument(void **state)
{
    (void)state;
    char *args[] = {"--one=7", "--flag", "--one", "8"};
    bool seen[NOPT] = {false};
    read_result r = read_one(args, 4, 0, 1u << 1, seen);
    assert_int_equal(r.rc, PL_OK);
    assert_int_equal(r.which, OPT_ONE);
    assert_string_equal(r.value, "7");
    assert_int_equal(r.a, 0);
    r = read_one(args, 4, 1, 1u << 1, seen);
    assert_int_equal(r.rc, PL_OK);
    assert_int_equal(r.which, OPT_FLAG);
    assert_null(r.value);
    assert_true(seen[OPT_ONE] && seen[OPT_FLAG] && !seen[OPT_MANY]);

    bool fresh[NOPT] = {false};
    r = read_one(args, 4, 2, 1u << 1, fresh);
    assert_int_equal(r.rc, PL_OK);
    assert_string_equal(r.value, "8");
    assert_int_equal(r.a, 3); /* past the value it took */
}

static void test_refusals(void **state)
{
    (void)state;
    bool seen[NOPT] = {false};
    /* Unknown, or another subcommand's: the argument is not echoed (a card number?). */
    char *unknown[] = {"--4111111111111111"};
    read_result r = read_one(unknown, 1, 0, 1u << 1, seen);
    assert_int_equal(r.rc, PL_ERR_INVALID);
    assert_string_equal(r.err, "x y: unknown option (argument #0)");
    char *other[] = {"--many", "1"};
    r = read_one(other, 2, 0, 1u << 1, seen);
    assert_int_equal(r.rc, PL_ERR_INVALID);
    assert_string_equal(r.err, "x y: unknown option (argument #0)");
    assert_false(seen[OPT_MANY]);
    /* A prefix of a name is not the name. */
    char *part[] = {"--on=1"};
    assert_int_equal(read_one(part, 1, 0, 1u << 1, seen).rc, PL_ERR_INVALID);

    char *missing[] = {"--one"};
    r = read_one(missing, 1, 0, 1u << 1, seen);
    assert_int_equal(r.rc, PL_ERR_INVALID);
    assert_string_equal(r.err, "--one needs a value");

    char *valued[] = {"--flag=yes"};
    r = read_one(valued, 1, 0, 1u << 2, seen);
    assert_int_equal(r.rc, PL_ERR_INVALID);
    assert_string_equal(r.err, "--flag takes no value");

    bool once[NOPT] = {false};
    char *twice[] = {"--flag", "--flag"};
    assert_int_equal(read_one(twice, 2, 0, 1u << 1, once).rc, PL_OK);
    r = read_one(twice, 2, 1, 1u << 1, once);
    assert_int_equal(r.rc, PL_ERR_INVALID);
    assert_string_equal(r.err, "--flag given twice");

    /* The repeatable one may come again. */
    char *many[] = {"--many=1", "--many=2"};
    assert_int_equal(read_one(many, 2, 0, 1u << 2, once).rc, PL_OK);
    r = read_one(many, 2, 1, 1u << 2, once);
    assert_int_equal(r.rc, PL_OK);
    assert_string_equal(r.value, "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_after_equals_or_in_the_next_argument),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
