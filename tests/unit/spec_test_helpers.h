/*
 * spec_test_helpers.h: checks of a spec's statement table (engine.h, pl_spec.stmts) that need
 * no database, shared by the spec unit tests: every statement declares as many parameters as
 * its SQL uses and has a name of its own, and a statement is found by its name.
 *
 * Header-only, static; include after <cmocka.h>.
 */
#ifndef PL_TEST_SPEC_TEST_HELPERS_H
#define PL_TEST_SPEC_TEST_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* The highest $n placeholder in a statement. */
static inline int spec_max_placeholder(const char *sql)
{
    int max = 0;
    for (const char *p = strchr(sql, '$'); p; p = strchr(p + 1, '$')) {
        char *end;
        long n = strtol(p + 1, &end, 10);
        if (end != p + 1 && n > max)
            max = (int)n;
    }
    return max;
}

/* Every statement of s declares as many parameters as its SQL uses; names are unique. */
static inline void spec_assert_statements(const pl_spec *s)
{
    for (size_t i = 0; i < s->nstmts; i++) {
        const pl_db_stmt *st = &s->stmts[i];
        assert_non_null(st->name);
        if (spec_max_placeholder(st->sql) != st->nparams)
            fail_msg("statement %s declares %d parameters, uses $%d", st->name, st->nparams,
                     spec_max_placeholder(st->sql));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(st->name, s->stmts[j].name);
    }
}

/* s's statement called name; the test fails when there is none. */
static inline const pl_db_stmt *spec_stmt(const pl_spec *s, const char *name)
{
    for (size_t i = 0; i < s->nstmts; i++)
        if (strcmp(s->stmts[i].name, name) == 0)
            return &s->stmts[i];
    fail_msg("no statement %s", name);
    return NULL;
}

#endif
