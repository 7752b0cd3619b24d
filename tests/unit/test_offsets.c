/* test_offsets.c: the committable Kafka offset per partition under out-of-order completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "offsets.h"

#define SENTINEL INT64_C(-4242)

static int setup(void **state)
{
    *state = pl_offsets_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    pl_offsets_destroy(*state);
    return 0;
}

static void add_ok(pl_offsets *o, int32_t part, int64_t off)
{
    assert_int_equal(pl_offsets_add(o, part, off), PL_OK);
}

/* Marks off done and asserts the committable position advanced to want. */
static void done_advances(pl_offsets *o, int32_t part, int64_t off, int64_t want)
{
    int64_t to = SENTINEL;
    assert_int_equal(pl_offsets_done(o, part, off, &to), 1);
    assert_int_equal(to, want);
    assert_int_equal(pl_offsets_position(o, part), want);
}

/* Marks off done and asserts the position did not move (and *commit_to was left alone). */
static void done_holds(pl_offsets *o, int32_t part, int64_t off)
{
    int64_t before = pl_offsets_position(o, part);
    int64_t to = SENTINEL;
    assert_int_equal(pl_offsets_done(o, part, off, &to), 0);
    assert_int_equal(to, SENTINEL);
    assert_int_equal(pl_offsets_position(o, part), before);
}

static void test_empty(void **state)
{
    pl_offsets *o = *state;
    assert_int_equal(pl_offsets_position(o, 0), -1);
    assert_int_equal(pl_offsets_pending(o, 0), 0);
    assert_int_equal(pl_offsets_pending(o, -1), 0);
    assert_int_equal(pl_offsets_position(o, 12345), -1);
}

static void test_in_order(void **state)
{
    pl_offsets *o = *state;
    for (int64_t off = 0; off < 5; off++)
        add_ok(o, 0, off);
    assert_int_equal(pl_offsets_pending(o, 0), 5);
    assert_int_equal(pl_offsets_position(o, 0), -1);
    for (int64_t off = 0; off < 5; off++) {
        /* In order, each completion commits everything up to and including it. */
        done_advances(o, 0, off, off + 1);
        assert_int_equal(pl_offsets_pending(o, 0), (size_t)(4 - off));
    }
    assert_int_equal(pl_offsets_pending(o, -1), 0);
}

static void test_out_of_order(void **state)
{
    pl_offsets *o = *state;
    for (int64_t off = 0; off < 5; off++)
        add_ok(o, 0, off);
    /* 3, 4 and 1 finish first: 0 is unfinished, so nothing may be committed. */
    done_holds(o, 0, 3);
    done_holds(o, 0, 4);
    done_holds(o, 0, 1);
    assert_int_equal(pl_offsets_position(o, 0), -1);
    assert_int_equal(pl_offsets_pending(o, 0), 5);
    /* 0 finishes: 0 and 1 retire, 2 is now the lowest unfinished offset. */
    done_advances(o, 0, 0, 2);
    assert_int_equal(pl_offsets_pending(o, 0), 3);
    /* 2 finishes: 2, 3, 4 retire, the position is last done + 1. */
    done_advances(o, 0, 2, 5);
    assert_int_equal(pl_offsets_pending(o, 0), 0);
    assert_int_equal(pl_offsets_pending(o, -1), 0);
}

static void test_gaps(void **state)
{
    pl_offsets *o = *state;
    /* Compacted topic: 10, 11, 15, 20, 21. */
    add_ok(o, 3, 10);
    add_ok(o, 3, 11);
    add_ok(o, 3, 15);
    add_ok(o, 3, 20);
    add_ok(o, 3, 21);
    done_holds(o, 3, 15);
    done_advances(o, 3, 10, 11);
    /* 11 done retires 11 and 15; 20 is the lowest unfinished, the gap 16..19 never existed. */
    done_advances(o, 3, 11, 20);
    done_holds(o, 3, 21);
    done_advances(o, 3, 20, 22);
    /* Offsets that fall in a gap were never tracked. */
    add_ok(o, 3, 30);
    assert_int_equal(pl_offsets_done(o, 3, 25, NULL), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_done(o, 3, 30, NULL), 1);
    assert_int_equal(pl_offsets_position(o, 3), 31);
}

static void test_interleaved_add_and_done(void **state)
{
    pl_offsets *o = *state;
    add_ok(o, 0, 100);
    add_ok(o, 0, 101);
    done_advances(o, 0, 100, 101);
    add_ok(o, 0, 102);
    done_holds(o, 0, 102);
    add_ok(o, 0, 103);
    done_advances(o, 0, 101, 103);
    done_advances(o, 0, 103, 104);
    /* commit_to may be NULL. */
    add_ok(o, 0, 104);
    assert_int_equal(pl_offsets_done(o, 0, 104, NULL), 1);
    assert_int_equal(pl_offsets_position(o, 0), 105);
}

static void test_many_partitions(void **state)
{
    pl_offsets *o = *state;
    /* Partitions are independent: an unfinished offset in one never holds another back. */
    for (int32_t p = 0; p < 10000; p += 7)
        for (int64_t off = 0; off < 3; off++)
            add_ok(o, p, 1000 * p + off);
    size_t nparts = (10000 + 6) / 7;
    assert_int_equal(pl_offsets_pending(o, -1), 3 * nparts);
    for (int32_t p = 0; p < 10000; p += 7) {
        if (p % 2 == 0) {
            done_holds(o, p, 1000 * p + 1);
        } else {
            done_advances(o, p, 1000 * p, 1000 * p + 1);
            done_advances(o, p, 1000 * p + 1, 1000 * p + 2);
        }
    }
    for (int32_t p = 0; p < 10000; p += 7) {
        if (p % 2 == 0) {
            assert_int_equal(pl_offsets_position(o, p), -1);
            assert_int_equal(pl_offsets_pending(o, p), 3);
        } else {
            assert_int_equal(pl_offsets_position(o, p), 1000 * p + 2);
            assert_int_equal(pl_offsets_pending(o, p), 1);
        }
    }
    /* Untouched partitions in between hold nothing. */
    assert_int_equal(pl_offsets_pending(o, 1), 0);
    assert_int_equal(pl_offsets_position(o, 1), -1);
    size_t odd = 0;
    for (int32_t p = 0; p < 10000; p += 7)
        odd += p % 2;
    assert_int_equal(pl_offsets_pending(o, -1), 3 * (nparts - odd) + odd);
}

static void test_forget(void **state)
{
    pl_offsets *o = *state;
    add_ok(o, 1, 5);
    add_ok(o, 1, 6);
    add_ok(o, 2, 7);
    done_advances(o, 1, 5, 6);
    assert_int_equal(pl_offsets_pending(o, -1), 2);

    pl_offsets_forget(o, 1);
    assert_int_equal(pl_offsets_pending(o, 1), 0);
    assert_int_equal(pl_offsets_pending(o, -1), 1);
    assert_int_equal(pl_offsets_position(o, 1), -1);
    /* A late completion for the revoked partition must not move anything. */
    assert_int_equal(pl_offsets_done(o, 1, 6, NULL), PL_ERR_NOTFOUND);
    /* The other partition is untouched. */
    done_advances(o, 2, 7, 8);

    /* Reassigned later, the partition may restart from a lower (committed) offset. */
    add_ok(o, 1, 3);
    done_advances(o, 1, 3, 4);

    /* Forgetting unknown or out-of-range partitions is harmless. */
    pl_offsets_forget(o, 999);
    pl_offsets_forget(o, -1);
    pl_offsets_forget(o, 1);
    pl_offsets_forget(o, 1);
    assert_int_equal(pl_offsets_pending(o, -1), 0);
}

static void test_growth(void **state)
{
    pl_offsets *o = *state;
    enum { N = 100000 };
    for (int64_t i = 0; i < N; i++)
        add_ok(o, 4, 2 * i); /* every other offset, to exercise search over gaps */
    assert_int_equal(pl_offsets_pending(o, 4), N);
    /* Finish everything but the first in reverse order: nothing may be committed. */
    for (int64_t i = N - 1; i >= 1; i--)
        done_holds(o, 4, 2 * i);
    assert_int_equal(pl_offsets_pending(o, 4), N);
    assert_int_equal(pl_offsets_position(o, 4), -1);
    done_advances(o, 4, 0, 2 * (N - 1) + 1);
    assert_int_equal(pl_offsets_pending(o, 4), 0);

    /* After shrinking, the ring still works across wrap-around. */
    for (int64_t i = 0; i < 1000; i++) {
        add_ok(o, 4, 1000000 + i);
        if (i >= 10)
            done_advances(o, 4, 1000000 + i - 10, 1000000 + i - 9);
    }
    assert_int_equal(pl_offsets_pending(o, 4), 10);
}

static void test_wraparound_out_of_order(void **state)
{
    pl_offsets *o = *state;
    /* A sliding window that keeps the ring's head moving, finishing pairs out of order. */
    int64_t next = 0;
    for (int round = 0; round < 500; round++) {
        for (int k = 0; k < 3; k++)
            add_ok(o, 0, next + k);
        done_holds(o, 0, next + 1);
        done_holds(o, 0, next + 2);
        done_advances(o, 0, next, next + 3);
        next += 3;
    }
    assert_int_equal(pl_offsets_pending(o, -1), 0);
}

static void test_errors(void **state)
{
    pl_offsets *o = *state;
    int64_t to = SENTINEL;
    add_ok(o, 0, 10);
    /* Not increasing. */
    assert_int_equal(pl_offsets_add(o, 0, 10), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add(o, 0, 9), PL_ERR_INVALID);
    /* Bad arguments. */
    assert_int_equal(pl_offsets_add(o, 0, -5), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add(o, -1, 1), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add(o, PL_OFFSETS_MAX_PARTITION + 1, 1), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add(NULL, 0, 1), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_pending(o, 0), 1);

    /* Not tracked. */
    assert_int_equal(pl_offsets_done(o, 0, 11, &to), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_done(o, 0, 9, &to), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_done(o, 1, 10, &to), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_done(o, -3, 10, &to), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_done(o, 500000, 10, &to), PL_ERR_NOTFOUND);
    assert_int_equal(to, SENTINEL);

    /* Double completion: a bug that must not go unnoticed, nor move the position. */
    add_ok(o, 0, 11);
    done_holds(o, 0, 11);
    assert_int_equal(pl_offsets_done(o, 0, 11, &to), PL_ERR_STATE);
    done_advances(o, 0, 10, 12);
    /* Once retired, an offset is no longer tracked, and the last added one stays the floor. */
    assert_int_equal(pl_offsets_done(o, 0, 10, &to), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_add(o, 0, 11), PL_ERR_INVALID);
    add_ok(o, 0, 12);

    /* NULL handles. */
    assert_int_equal(pl_offsets_done(NULL, 0, 1, &to), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_pending(NULL, -1), 0);
    assert_int_equal(pl_offsets_position(NULL, 0), -1);
    pl_offsets_forget(NULL, 0);
    pl_offsets_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interleaved_add_and_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wraparound_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
