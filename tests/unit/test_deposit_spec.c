/* test_deposit_spec.c: the statements of paylink-deposit's spec (deposit.c) that need no
 * database: every statement declares the parameters it uses, the marks, which claim money,
 * share one text between a statement and its merged form, and the reversal a store owes keeps
 * to what was voided for it. What they do to the rows is tests/integration/test_deposit_many.c's
 * and test_deposit_vdr.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "deposit.h"
#include "spec_test_helpers.h"

static const pl_db_stmt *stmt(const char *name)
{
    return spec_stmt(&pl_deposit_spec, name);
}

/* Parameters used as declared, unique names, every merged form its statement over unnest. */
static void test_statement_table(void **state)
{
    (void)state;
    const pl_spec *s = &pl_deposit_spec;
    assert_string_equal(s->table, "cc_deposit_trans");
    assert_true(s->nstmts > 0);
    spec_assert_statements(s);
}

/* A mark's text from its row lock (me) on. */
static const char *me_of(const pl_db_stmt *st)
{
    const char *me = strstr(st->sql, "me AS (");
    assert_non_null(me);
    return me;
}

static void test_marks_share_their_text(void **state)
{
    (void)state;
    const pl_db_stmt *plain = stmt("dep_mark_sent");
    const pl_db_stmt *auth = stmt("dep_mark_sent_auth");
    const pl_db_stmt *capture = stmt("dep_mark_sent_capture");
    assert_int_equal(plain->nparams, 8);
    assert_int_equal(auth->nparams, 10);
    assert_int_equal(capture->nparams, 10);
    /* (That dep_mark_sent_auth:many is dep_mark_sent_auth over each execution's parameters is
     * spec_assert_statements', above.) */
    /* A capture's claim is found by its own authorization, a credit's by its debit. */
    assert_non_null(strstr(auth->sql, "EXISTS (SELECT 1 FROM claim c WHERE c.id = me.p5::bigint)"));
    assert_non_null(
        strstr(capture->sql, "EXISTS (SELECT 1 FROM claim c WHERE c.request_id = me.p10)"));
    /* A mark re-sent by the same attempt (p8) takes its own row back, and claims nothing twice. */
    assert_non_null(strstr(auth->sql, "d.status = 'sent' AND d.sent_by = e.p8"));
    assert_non_null(strstr(auth->sql, "WHERE me.status = 'received' AND h.id = me.p5::bigint"));
    assert_non_null(strstr(capture->sql, "WHERE me.status = 'received' AND c.request_id = me.p10"));
    /* The three marks set the same columns the same way, up to what they claimed. */
    const char *set = strstr(plain->sql, " UPDATE cc_deposit_trans d SET status = 'sent'");
    assert_non_null(set);
    size_t n = (size_t)(strstr(set, "claim_amount = ") - set);
    assert_memory_equal(me_of(plain), me_of(auth), (size_t)(set - me_of(plain)));
    assert_non_null(strstr(auth->sql, "claim_amount = me.p9::numeric"));
    assert_non_null(strstr(plain->sql, "claim_amount = NULL"));
    /* A capture records whether it voids its authorization's remainder (046); nothing else
     * does. */
    assert_non_null(strstr(auth->sql, "void_remainder = me.p10::boolean"));
    assert_non_null(strstr(plain->sql, "void_remainder = NULL"));
    assert_non_null(strstr(capture->sql, "void_remainder = NULL"));
    const char *auth_set = strstr(auth->sql, " UPDATE cc_deposit_trans d SET status = 'sent'");
    const char *capture_set =
        strstr(capture->sql, " UPDATE cc_deposit_trans d SET status = 'sent'");
    assert_non_null(auth_set);
    assert_non_null(capture_set);
    assert_memory_equal(set, auth_set, n);
    assert_memory_equal(set, capture_set, n);
}

/* The reversal an auth+capture's store owes (059) is what the settle trigger of the same unit
 * has just voided for it: nothing of it captured, on a bureau with Send reversal, not one its
 * row's follow-ups hold (another actor answered first), once. A statement of its own, never
 * merged: it must run after the store whose trigger it reads. */
static void test_owed_reversal(void **state)
{
    (void)state;
    const pl_db_stmt *owe = stmt("dep_owe_reversal");
    assert_int_equal(owe->nparams, 1);
    assert_null(
        spec_find(&pl_deposit_spec, "dep_owe_reversal:many", strlen("dep_owe_reversal:many")));
    static const char *const guards[] = {
        "INSERT INTO replaced_auth_reversal ",
        "d.status = 'approved' AND d.operation = 'auth_capture'",
        "s.send_reversal",
        "h.status = 'voided' AND h.void_reason = 'auth_capture'",
        "h.voided_by = $1 AND h.amount_deposited = 0 AND h.amount_voided > 0",
        "f->>'topic' LIKE '%.reversal.request'",
        "ON CONFLICT (deposit_request_id) DO NOTHING",
    };
    for (size_t i = 0; i < sizeof guards / sizeof guards[0]; i++)
        if (!strstr(owe->sql, guards[i]))
            fail_msg("dep_owe_reversal lacks %s", guards[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_table),
        cmocka_unit_test(test_marks_share_their_text),
        cmocka_unit_test(test_owed_reversal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
