/* test_offsets.c: the committable Kafka offset per partition under out-of-order completion. */
#include <setjmp.h>
#include <stdbool.h>
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
    /* Bad arguments. */
    assert_int_equal(pl_offsets_add(o, 0, -5), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add(o, -1, 1), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add(o, PL_OFFSETS_MAX_PARTITION + 1, 1), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add(NULL, 0, 1), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add_once(o, 0, -5), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add_once(o, PL_OFFSETS_MAX_PARTITION + 1, 1), PL_ERR_INVALID);
    assert_int_equal(pl_offsets_add_once(NULL, 0, 1), PL_ERR_INVALID);
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
    /* Once retired, an offset is no longer tracked. */
    assert_int_equal(pl_offsets_done(o, 0, 10, &to), PL_ERR_NOTFOUND);
    add_ok(o, 0, 12);

    /* NULL handles. */
    assert_int_equal(pl_offsets_done(NULL, 0, 1, &to), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_pending(NULL, -1), 0);
    assert_int_equal(pl_offsets_position(NULL, 0), -1);
    pl_offsets_forget(NULL, 0);
    pl_offsets_destroy(NULL);
}

static void add_back(pl_offsets *o, int32_t part, int64_t off)
{
    assert_int_equal(pl_offsets_add(o, part, off), PL_OFFSETS_BACK);
}

/*
 * A log truncated by an unclean leader election while a request below the cut is in flight
 * (librdkafka >= 2.1 seeks to where the logs diverge): 100 in flight, 101 and 102 done, and the
 * new log has another request at 101. It is tracked in its place: 100 done commits up to it, and
 * its own completion commits no further than the consumer has read again (the new log's 102 is
 * not taken yet), not past the 102 of the log before. Before, the tracker refused the offset and
 * the engine dropped that request: 100 done committed 103, and the new 101 was never answered.
 */
static void test_taken_back_below_an_unfinished_offset(void **state)
{
    pl_offsets *o = *state;
    add_ok(o, 0, 100);
    add_ok(o, 0, 101);
    add_ok(o, 0, 102);
    done_holds(o, 0, 101);
    done_holds(o, 0, 102);
    add_back(o, 0, 101);
    assert_int_equal(pl_offsets_pending(o, 0), 4);
    done_advances(o, 0, 100, 101);
    done_advances(o, 0, 101, 102);
    assert_int_equal(pl_offsets_pending(o, 0), 0);
    /* The new log's 102 and on, in order again. */
    add_ok(o, 0, 102);
    add_ok(o, 0, 103);
    done_holds(o, 0, 103);
    done_advances(o, 0, 102, 104);

    /* Taken back while records of the reading before are still in flight above it: those hold
     * the position until done, and the new reading passes them as it goes. */
    add_ok(o, 1, 10);
    add_ok(o, 1, 11);
    add_ok(o, 1, 12);
    done_advances(o, 1, 10, 11);
    add_back(o, 1, 11);
    add_ok(o, 1, 12); /* after the last added (11), below nothing but the other 12 */
    done_holds(o, 1, 12);
    done_holds(o, 1, 12);
    assert_int_equal(pl_offsets_done(o, 1, 12, NULL), PL_ERR_STATE);
    done_holds(o, 1, 11);
    done_advances(o, 1, 11, 13);
    assert_int_equal(pl_offsets_pending(o, 1), 0);
}

/*
 * An offset taken again below the committed position (a log cut below it, or the same records
 * read again): the position goes back to it at once, and does not move on before that offset
 * and everything taken after it are done. Before, the position never went back: it stayed at 13
 * while 11 and on were read again, and the second reading's 13 and 14 committed nothing (for a
 * log cut at 11, the committed 13 and 15 were above the new log's records not yet done).
 */
static void test_taken_back_below_the_position(void **state)
{
    pl_offsets *o = *state;
    for (int64_t off = 10; off < 13; off++) {
        add_ok(o, 0, off);
        done_advances(o, 0, off, off + 1);
    }
    assert_int_equal(pl_offsets_must_commit(o, 0, NULL), 0); /* a first position owes nothing */
    add_back(o, 0, 11);
    assert_int_equal(pl_offsets_position(o, 0), 11);
    add_ok(o, 0, 12);
    add_ok(o, 0, 13);
    add_ok(o, 0, 14);
    done_holds(o, 0, 12);
    done_holds(o, 0, 13);
    done_holds(o, 0, 14); /* 11 is unfinished: nothing further */
    assert_int_equal(pl_offsets_position(o, 0), 11);
    done_advances(o, 0, 11, 15);

    /* Done in order, the new reading commits each of its positions. */
    add_back(o, 0, 13);
    assert_int_equal(pl_offsets_position(o, 0), 13);
    done_advances(o, 0, 13, 14);
    add_ok(o, 0, 14);
    done_advances(o, 0, 14, 15);
    add_ok(o, 0, 15);
    done_advances(o, 0, 15, 16);
}

/*
 * A copy of an offset taken while its first reading is in flight: both must be done before the
 * position passes it (either completion may come first).
 */
static void test_copy_of_an_unfinished_offset(void **state)
{
    pl_offsets *o = *state;
    add_ok(o, 0, 5);
    add_ok(o, 0, 6);
    add_back(o, 0, 6);
    done_holds(o, 0, 6);
    done_advances(o, 0, 5, 6);
    done_advances(o, 0, 6, 7);
    assert_int_equal(pl_offsets_done(o, 0, 6, NULL), PL_ERR_NOTFOUND);

    add_ok(o, 0, 7);
    add_back(o, 0, 7);
    assert_int_equal(pl_offsets_pending(o, 0), 2);
    done_holds(o, 0, 7);
    done_advances(o, 0, 7, 8);
    assert_int_equal(pl_offsets_pending(o, -1), 0);
}

/*
 * The topic deleted and created again under a running consumer: the new log starts at 0 while
 * requests of the old one are in flight at 50 and 52. The position goes back to 0 at once, to be
 * committed explicitly (pl_offsets_must_commit); the old ones are tracked until done, but their
 * completion commits nothing ahead of the new log's reading, and the new log's requests commit
 * their positions as they are done. Before, the position held at 50 until the new reading
 * passed it: nothing was committed for the new log's 0..49, and a restart in between resumed
 * at 50, skipping those not done.
 */
static void test_new_log_below_the_old_one(void **state)
{
    pl_offsets *o = *state;
    for (int64_t off = 47; off < 53; off++)
        add_ok(o, 2, off);
    for (int64_t off = 47; off < 50; off++)
        done_advances(o, 2, off, off + 1);
    assert_int_equal(pl_offsets_must_commit(o, 2, NULL), 0);
    done_holds(o, 2, 51);
    add_back(o, 2, 0);
    int64_t to = SENTINEL;
    assert_int_equal(pl_offsets_must_commit(o, 2, &to), 1);
    assert_int_equal(to, 0);
    assert_int_equal(pl_offsets_position(o, 2), 0);
    done_advances(o, 2, 0, 1);
    done_holds(o, 2, 50);
    done_holds(o, 2, 52);
    assert_int_equal(pl_offsets_position(o, 2), 1);
    assert_int_equal(pl_offsets_pending(o, 2), 0);
    for (int64_t off = 1; off < 50; off++) {
        add_ok(o, 2, off);
        done_advances(o, 2, off, off + 1);
    }
    add_ok(o, 2, 50);
    done_advances(o, 2, 50, 51);
    /* One explicit commit for the going back: librdkafka commits the rest by itself. */
    assert_int_equal(pl_offsets_must_commit(o, 2, NULL), 0);
}

/*
 * Going back never passes an offset not done. A log truncated at 12 under requests in flight
 * (15 and 17 of the old log; 16 done): taken back to 12, the position goes back to 12, and the
 * new log's 13 and 14 done first commit nothing (12 is not done). 12 done, the old log's 15
 * still holds the position; the new log's 15, 16 and 17 are tracked beside the old ones, and
 * the position passes each offset only once both its copies are done. Taken back to where
 * nothing was done yet, the position waits for that offset.
 */
static void test_going_back_never_passes_an_unfinished_offset(void **state)
{
    pl_offsets *o = *state;
    for (int64_t off = 10; off < 18; off++)
        add_ok(o, 0, off);
    for (int64_t off = 10; off < 15; off++)
        done_advances(o, 0, off, off + 1);
    done_holds(o, 0, 16);
    add_back(o, 0, 12);
    assert_int_equal(pl_offsets_position(o, 0), 12);
    add_ok(o, 0, 13);
    add_ok(o, 0, 14);
    done_holds(o, 0, 14);
    done_holds(o, 0, 13);
    assert_int_equal(pl_offsets_position(o, 0), 12);
    done_advances(o, 0, 12, 15); /* the last taken + 1, and the old 15 unfinished */
    add_ok(o, 0, 15);
    add_ok(o, 0, 16);
    add_ok(o, 0, 17);
    done_holds(o, 0, 17);
    done_holds(o, 0, 16);
    done_holds(o, 0, 15);        /* one copy of 15: the other is unfinished */
    done_advances(o, 0, 15, 17); /* one copy of 17 is unfinished */
    done_advances(o, 0, 17, 18);
    assert_int_equal(pl_offsets_pending(o, 0), 0);

    add_back(o, 0, 0);
    add_ok(o, 0, 1);
    add_ok(o, 0, 2);
    done_holds(o, 0, 2);
    done_holds(o, 0, 1);
    assert_int_equal(pl_offsets_position(o, 0), 0);
    done_advances(o, 0, 0, 3);
}

/*
 * When the position must be committed explicitly (librdkafka commits a stored offset only above
 * the one it holds as committed): after it went back, once, then out until its result is told;
 * again after that one failed with no later one out (a later one decides). Not for a partition's
 * first position (before, each partition's first position in an assignment was committed
 * explicitly: a commit per partition at each assignment, as a second cooperative rebalance round
 * is likely; pl_offsets_commit_above covers what it was for), nor while the partition has no
 * position, nor for a copy taken at or above the position. A result for a partition forgotten
 * since creates nothing.
 */
static void test_must_commit(void **state)
{
    pl_offsets *o = *state;
    int64_t to = SENTINEL;
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 0); /* unknown */
    add_ok(o, 0, 500);
    add_ok(o, 0, 501);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 0); /* no position yet */
    done_advances(o, 0, 500, 501);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 0); /* the first position */
    assert_int_equal(to, SENTINEL);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    done_advances(o, 0, 501, 502);

    /* Taken back, but not below the position (a copy of an offset in flight): nothing owed. */
    add_ok(o, 0, 502);
    add_back(o, 0, 502);
    assert_int_equal(pl_offsets_must_commit(o, 0, NULL), 0);
    done_holds(o, 0, 502);
    done_advances(o, 0, 502, 503);
    /* Below it: owed once, at the offset taken back to, and out until its result. */
    add_back(o, 0, 7);
    assert_true(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 1);
    assert_int_equal(to, 7);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 0);
    assert_true(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    done_advances(o, 0, 7, 8);
    assert_int_equal(pl_offsets_must_commit(o, 0, NULL), 0);

    /* Failed: owed again, with the next position. */
    add_back(o, 0, 3);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 1);
    assert_int_equal(to, 3);
    assert_int_equal(pl_offsets_committed(o, 0, false), 0);
    assert_true(pl_offsets_commit_unsettled(o, 0));
    done_advances(o, 0, 3, 4);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 1);
    assert_int_equal(to, 4);

    /* Two out: the first one's failure leaves it to the second, whose result decides. */
    add_back(o, 0, 1);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 1);
    assert_int_equal(to, 1);
    assert_int_equal(pl_offsets_committed(o, 0, false), 0);
    assert_int_equal(pl_offsets_must_commit(o, 0, NULL), 0);
    assert_true(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_must_commit(o, 0, NULL), 0);

    /* Forgotten (revoked) with a commit out: its result creates nothing; the partition is fresh
     * again, and owes nothing for its first position. */
    add_back(o, 0, 0);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 1);
    pl_offsets_forget(o, 0);
    assert_int_equal(pl_offsets_committed(o, 0, false), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_position(o, 0), -1);
    assert_int_equal(pl_offsets_pending(o, -1), 0);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    add_ok(o, 0, 9);
    done_advances(o, 0, 9, 10);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 0);
    assert_int_equal(pl_offsets_committed(o, 77, true), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_committed(NULL, 0, true), PL_ERR_NOTFOUND);
    assert_int_equal(pl_offsets_must_commit(NULL, 0, &to), 0);
    assert_int_equal(pl_offsets_must_commit(o, 77, &to), 0);
    assert_false(pl_offsets_commit_unsettled(NULL, 0));
}

/*
 * librdkafka's committed offset (its statistics) above the position: the position is committed
 * explicitly, counted out, and not again while that commit is out; once settled, again if the
 * statistics still show it above (a retried commit of librdkafka's landed after it); after a
 * failure, at the next statistics though the partition did nothing since. At or below the
 * position, librdkafka's "none" (-1001), or with no position yet, nothing. Before, nothing
 * looked: the group stayed above the position.
 */
static void test_commit_above(void **state)
{
    pl_offsets *o = *state;
    int64_t to = SENTINEL;
    assert_int_equal(pl_offsets_commit_above(o, 0, 50, &to), 0); /* unknown */
    add_ok(o, 0, 0);
    assert_int_equal(pl_offsets_commit_above(o, 0, 50, &to), 0); /* no position yet */
    done_advances(o, 0, 0, 1);
    assert_int_equal(pl_offsets_commit_above(o, 0, 1, &to), 0);
    assert_int_equal(pl_offsets_commit_above(o, 0, -1001, &to), 0);
    assert_int_equal(to, SENTINEL);
    assert_int_equal(pl_offsets_commit_above(o, 0, 50, &to), 1);
    assert_int_equal(to, 1);
    assert_int_equal(pl_offsets_commit_above(o, 0, 50, &to), 0); /* out */
    assert_true(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_commit_above(o, 0, 10000, &to), 1);
    assert_int_equal(pl_offsets_committed(o, 0, false), 0);
    assert_int_equal(pl_offsets_commit_above(o, 0, 10000, &to), 1);
    assert_int_equal(to, 1);
    assert_int_equal(pl_offsets_must_commit(o, 0, NULL), 0); /* the owed one went */
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_commit_above(NULL, 0, 50, &to), 0);
    assert_int_equal(pl_offsets_commit_above(o, 77, 50, NULL), 0);
}

/* The count of repeats itself: with every_s 0, pl_offsets_again_due finds every repeat due. */
static uint64_t again(pl_offsets *o, int32_t part)
{
    return pl_offsets_again_due(o, part, 0.0, 0.0);
}

/*
 * A record that fails the same way at each fetch (a batch librdkafka cannot decompress) is
 * tracked once: fetched again with nothing in between, it is not tracked again, whether its
 * first reading is still unfinished or retired. Anything added in between (the partition went
 * on, or was taken back) makes it new again, and each partition keeps its own. The repeats are
 * counted (for the engine's rate-limited line about them, pl_offsets_again_due), anew for each
 * record.
 */
static void test_add_once(void **state)
{
    pl_offsets *o = *state;
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OK);
    assert_int_equal(again(o, 2), 0);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_AGAIN);
    assert_int_equal(again(o, 2), 1);
    assert_int_equal(pl_offsets_pending(o, 2), 1);
    assert_int_equal(pl_offsets_add_once(o, 3, 40), PL_OK);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_AGAIN);
    assert_int_equal(again(o, 2), 2);
    assert_int_equal(again(o, 3), 0);
    done_advances(o, 2, 40, 41);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_AGAIN);
    assert_int_equal(again(o, 2), 3);
    assert_int_equal(pl_offsets_pending(o, 2), 0);
    /* Another unreadable record, then the first one again: taken back, tracked. */
    assert_int_equal(pl_offsets_add_once(o, 2, 41), PL_OK);
    assert_int_equal(again(o, 2), 0); /* counted anew for each record */
    assert_int_equal(again(o, 99), 0);
    assert_int_equal(again(NULL, 2), 0);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_BACK);
    assert_int_equal(pl_offsets_pending(o, 2), 2);
    /* A request at the same offset as the last once-added one is tracked. */
    assert_int_equal(pl_offsets_add(o, 2, 40), PL_OFFSETS_BACK);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_BACK);
    assert_int_equal(pl_offsets_pending(o, 2), 4);
    /* Forgotten, the partition starts afresh. */
    pl_offsets_forget(o, 2);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OK);
    assert_int_equal(pl_offsets_pending(o, 2), 1);
}

/*
 * When the engine says again that a record is fetched again and again (pl_offsets_again_due): at
 * its 1st, 10th, 100th... repeat, and at least every_s seconds after it last said so, by the
 * caller's clock; anew for another record. Before, only at the powers of ten: librdkafka fetches
 * such a record about twice a second, so after a day the next line was days away.
 */
static void test_again_due(void **state)
{
    pl_offsets *o = *state;
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OK);
    assert_int_equal(pl_offsets_again_due(o, 2, 0.0, 3600.0), 0); /* no repeat */
    int said = 0;
    for (uint64_t k = 1; k <= 25; k++) {
        assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_AGAIN);
        uint64_t n = pl_offsets_again_due(o, 2, (double)k, 3600.0);
        assert_true(n == 0 || n == k);
        if (n) {
            assert_true(k == 1 || k == 10);
            said++;
        }
    }
    assert_int_equal(said, 2);
    /* An hour after the 10th's line, the 26th is said; the next not before another hour. */
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_AGAIN);
    assert_int_equal(pl_offsets_again_due(o, 2, 10.0 + 3599.0, 3600.0), 0);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_AGAIN);
    assert_int_equal(pl_offsets_again_due(o, 2, 10.0 + 3600.0, 3600.0), 27);
    assert_int_equal(pl_offsets_add_once(o, 2, 40), PL_OFFSETS_AGAIN);
    assert_int_equal(pl_offsets_again_due(o, 2, 10.0 + 3601.0, 3600.0), 0);
    /* Another record: its first repeat is said at once. */
    assert_int_equal(pl_offsets_add_once(o, 2, 41), PL_OK);
    assert_int_equal(pl_offsets_again_due(o, 2, 3612.0, 3600.0), 0);
    assert_int_equal(pl_offsets_add_once(o, 2, 41), PL_OFFSETS_AGAIN);
    assert_int_equal(pl_offsets_again_due(o, 2, 3612.0, 3600.0), 1);
    assert_int_equal(pl_offsets_again_due(o, 99, 0.0, 3600.0), 0);
    assert_int_equal(pl_offsets_again_due(NULL, 2, 0.0, 3600.0), 0);
}

/*
 * A partition taken back before it had any position (a truncated log, or a record read again,
 * before anything was done) owes the explicit commit of its first position: the group's committed
 * offset may be above it all the same. Not while it has none; once it has, the mark goes with
 * that commit. Before, it owed nothing, and the first position was only stored, left below the
 * group's committed offset.
 */
static void test_taken_back_before_any_position(void **state)
{
    pl_offsets *o = *state;
    int64_t to = SENTINEL;
    add_ok(o, 0, 100);
    add_ok(o, 0, 101);
    add_back(o, 0, 50);
    assert_true(pl_offsets_commit_unsettled(o, 0));
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 0); /* no position yet */
    assert_true(to == SENTINEL);
    done_holds(o, 0, 100);
    done_advances(o, 0, 50, 51);
    assert_int_equal(pl_offsets_must_commit(o, 0, &to), 1);
    assert_true(to == 51);
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    /* A partition taken forward only owes nothing for its first position. */
    add_ok(o, 1, 7);
    done_advances(o, 1, 7, 8);
    assert_int_equal(pl_offsets_must_commit(o, 1, NULL), 0);
}

/*
 * Whether a revoke has something to commit: a position other than the committed offset last
 * noted (none noted: other), or an explicit commit owed or out; nothing with no position, for an
 * unknown partition, or at the committed offset noted with nothing out. A partition forgotten
 * knows none noted any more; a note for an unknown one creates nothing.
 */
static void test_commit_due(void **state)
{
    pl_offsets *o = *state;
    int64_t to;
    assert_false(pl_offsets_commit_due(o, 0));
    assert_false(pl_offsets_commit_due(NULL, 0));
    pl_offsets_note_committed(o, 0, 10); /* unknown: nothing */
    assert_int_equal(pl_offsets_pending(o, -1), 0);
    add_ok(o, 0, 10);
    assert_false(pl_offsets_commit_due(o, 0)); /* no position */
    done_advances(o, 0, 10, 11);
    assert_true(pl_offsets_commit_due(o, 0)); /* none noted */
    pl_offsets_note_committed(o, 0, 11);
    assert_false(pl_offsets_commit_due(o, 0));
    pl_offsets_note_committed(o, 0, 30); /* above: due */
    assert_true(pl_offsets_commit_due(o, 0));
    assert_int_equal(pl_offsets_commit_above(o, 0, 30, &to), 1);
    pl_offsets_note_committed(o, 0, 11); /* at it, but the commit out: due */
    assert_true(pl_offsets_commit_due(o, 0));
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
    assert_false(pl_offsets_commit_due(o, 0));
    add_ok(o, 0, 11);
    done_advances(o, 0, 11, 12);
    assert_true(pl_offsets_commit_due(o, 0)); /* new */
    pl_offsets_forget(o, 0);
    add_ok(o, 0, 11);
    done_advances(o, 0, 11, 12);
    assert_true(pl_offsets_commit_due(o, 0));
}

/*
 * A group's committed offset noted above the position (a recreated topic read from its start:
 * nothing taken back, nothing owed; the statistics' commit waiting for a steady group) is
 * unsettled: a revoke that fails to commit, or a partition lost, is then told at error with the
 * reset command. Before, it read settled, and a lost partition was told nothing.
 */
static void test_committed_above_is_unsettled(void **state)
{
    pl_offsets *o = *state;
    add_ok(o, 0, 0);
    done_advances(o, 0, 0, 1);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    pl_offsets_note_committed(o, 0, 500);
    assert_true(pl_offsets_commit_unsettled(o, 0));
    pl_offsets_note_committed(o, 0, 1);
    assert_false(pl_offsets_commit_unsettled(o, 0));
    pl_offsets_note_committed(o, 0, 500);
    int64_t to;
    assert_int_equal(pl_offsets_commit_above(o, 0, 500, &to), 1);
    assert_int_equal(to, 1);
    assert_int_equal(pl_offsets_committed(o, 0, true), 0);
    pl_offsets_note_committed(o, 0, to); /* as on_committed notes a success */
    assert_false(pl_offsets_commit_unsettled(o, 0));
}

/*
 * Random adds (mostly in order, with gaps, sometimes taken back, sometimes a copy of an offset
 * in flight) and completions in random order, checked against what the tracker promises: the
 * position goes back only when the consumer is taken back below it, to that offset; it never
 * passes an unfinished offset nor the last one taken + 1, and once everything is done it is the
 * last one taken + 1. An explicit commit is owed after each going back (or a failed one with no
 * later one out), and only then; librdkafka's committed offset above the position gives one when
 * none is out; the partition is unsettled while one is owed or out. Enough in flight at once for
 * the ring to grow, wrap and shrink.
 */
static uint64_t g_rand = 88172645463325252ull;
static uint64_t next_rand(void)
{
    g_rand ^= g_rand << 13;
    g_rand ^= g_rand >> 7;
    g_rand ^= g_rand << 17;
    return g_rand;
}

static void test_random_against_its_promises(void **state)
{
    pl_offsets *o = *state;
    enum { MAXF = 300 };
    int64_t flight[MAXF]; /* the unfinished offsets, any order */
    size_t n = 0;
    int64_t last = -1, pos = -1;
    bool owed = false;
    unsigned out = 0;
    int64_t noted = -1; /* the committed offset last noted */
    for (int step = 0; step < 200000; step++) {
        uint64_t r = next_rand() % 100;
        bool add = n == 0 || (n < MAXF && r < (step % 20000 < 10000 ? 60 : 45));
        if (add) {
            int64_t off;
            uint64_t k = next_rand() % 100;
            if (last < 0 || k < 90)
                off = last + 1 + (k < 10 ? (int64_t)(next_rand() % 5) : 0);
            else if (k < 97 || n == 0)
                off = last - (int64_t)(next_rand() % 40);
            else
                off = flight[next_rand() % n];
            if (off < 0)
                off = 0;
            int rc = pl_offsets_add(o, 0, off);
            assert_int_equal(rc, off <= last ? PL_OFFSETS_BACK : PL_OK);
            if (off <= last && off < pos) {
                for (size_t j = 0; j < n; j++)
                    assert_true(flight[j] >= pos);
                pos = off;
                owed = true;
            }
            if (off <= last && pos < 0)
                owed = true;
            assert_true(pl_offsets_position(o, 0) == pos);
            flight[n++] = off;
            last = off;
        } else {
            size_t i = next_rand() % n;
            int64_t off = flight[i];
            flight[i] = flight[--n];
            int64_t to = SENTINEL;
            int rc = pl_offsets_done(o, 0, off, &to);
            assert_true(rc == 0 || rc == 1);
            if (rc == 1) {
                assert_true(to > pos);
                assert_true(to <= last + 1);
                for (size_t j = 0; j < n; j++)
                    assert_true(flight[j] >= to);
                pos = to;
            } else {
                assert_true(to == SENTINEL);
            }
            assert_true(pl_offsets_position(o, 0) == pos);
        }
        assert_true(pl_offsets_pending(o, 0) >= n);
        uint64_t c = next_rand() % 8;
        if (c < 3) { /* the engine asks after each position it stores */
            int64_t to = SENTINEL;
            int mc = pl_offsets_must_commit(o, 0, &to);
            assert_int_equal(mc, owed && pos >= 0);
            if (mc) {
                assert_true(to == pos);
                owed = false;
                out++;
            }
        } else if (c == 3 && out > 0) { /* a result, in the order the commits went */
            bool ok = next_rand() % 2;
            assert_int_equal(pl_offsets_committed(o, 0, ok), 0);
            out--;
            if (!ok && out == 0)
                owed = true;
        } else if (c == 4) { /* the statistics */
            int64_t committed = pos + (int64_t)(next_rand() % 5) - 2, to = SENTINEL;
            pl_offsets_note_committed(o, 0, committed);
            noted = committed;
            int ca = pl_offsets_commit_above(o, 0, committed, &to);
            assert_int_equal(ca, pos >= 0 && committed > pos && out == 0);
            if (ca) {
                assert_true(to == pos);
                owed = false;
                out++;
            }
        }
        assert_int_equal(pl_offsets_commit_unsettled(o, 0),
                         owed || out > 0 || (pos >= 0 && noted > pos));
        assert_int_equal(pl_offsets_commit_due(o, 0),
                         pos >= 0 && (owed || out > 0 || pos != noted));
    }
    while (n > 0) {
        int64_t off = flight[--n];
        assert_true(pl_offsets_done(o, 0, off, NULL) >= 0);
    }
    assert_int_equal(pl_offsets_pending(o, 0), 0);
    assert_true(pl_offsets_position(o, 0) == last + 1);
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
        cmocka_unit_test_setup_teardown(test_taken_back_below_an_unfinished_offset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_taken_back_below_the_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_of_an_unfinished_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_log_below_the_old_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_going_back_never_passes_an_unfinished_offset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_above, setup, teardown),
        cmocka_unit_test_setup_teardown(test_taken_back_before_any_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_above_is_unsettled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_again_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_against_its_promises, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
