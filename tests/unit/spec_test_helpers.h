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

/* How db.h's CTE e starts: one row of parameters, one per execution (PL_DB_E_ONE_n / _MANY_n). */
#define SPEC_E_ONE "WITH e AS (SELECT $1::text AS p1"
#define SPEC_E_MANY "WITH e AS (SELECT * FROM unnest($1::text[]"

/* What follows a statement's parameters as the CTE e (db.h, PL_DB_E_ONE_n / _MANY_n), or NULL
 * when it does not start with one. */
static inline const char *spec_after_e(const char *sql)
{
    if (strncmp(sql, SPEC_E_ONE, strlen(SPEC_E_ONE)) == 0) {
        const char *end = strchr(sql + strlen(SPEC_E_ONE), ')');
        return end ? end + 1 : NULL;
    }
    if (strncmp(sql, SPEC_E_MANY, strlen(SPEC_E_MANY)) == 0) {
        const char *names = strstr(sql, ") AS e(p1");
        const char *end = names ? strstr(names, "))") : NULL;
        return end ? end + 2 : NULL;
    }
    return NULL;
}

/* s's statement called name (name_len bytes of it), or NULL. */
static inline const pl_db_stmt *spec_find(const pl_spec *s, const char *name, size_t name_len)
{
    for (size_t i = 0; i < s->nstmts; i++)
        if (strlen(s->stmts[i].name) == name_len && strncmp(s->stmts[i].name, name, name_len) == 0)
            return &s->stmts[i];
    return NULL;
}

/*
 * Every statement of s declares as many parameters as its SQL uses; names are unique; and every
 * merged form ("NAME:many", db.h) is its statement over each execution's parameters: the same
 * text after the CTE e (one row in NAME, one per execution merged), so the two cannot drift.
 */
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
        const char *colon = strstr(st->name, ":many");
        if (!colon)
            continue;
        const pl_db_stmt *one = spec_find(s, st->name, (size_t)(colon - st->name));
        if (!one)
            fail_msg("merged form %s without its statement", st->name);
        assert_int_equal(one->nparams, st->nparams);
        const char *a = spec_after_e(one->sql), *b = spec_after_e(st->sql);
        if (strncmp(one->sql, SPEC_E_ONE, strlen(SPEC_E_ONE)) != 0 ||
            strncmp(st->sql, SPEC_E_MANY, strlen(SPEC_E_MANY)) != 0 || !a || !b ||
            strcmp(a, b) != 0)
            fail_msg("%s is not %s over each execution's parameters", st->name, one->name);
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
