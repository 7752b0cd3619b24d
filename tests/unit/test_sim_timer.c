/*
 * test_sim_timer.c: the simulator's timer thread (tools/sim/sim_timer.h): callbacks run once,
 * in due order, not before their time, and all of them at shutdown.
 *
 * Nothing here measures time. "Not early" and "in due order" are shown with delays hours
 * apart: no scheduling hiccup can reorder them, and a callback still pending while a later-added
 * one with no delay has run was not run early. Waits have a deadline against hanging only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sim_timer.h"

#define HOUR_MS (3600u * 1000u)

typedef struct rec {
    pthread_mutex_t mu;
    int order[16];
    int n;
} rec;

typedef struct item {
    rec *r;
    int id;
} item;

static void note(void *arg)
{
    item *it = arg;
    pthread_mutex_lock(&it->r->mu);
    it->r->order[it->r->n++] = it->id;
    pthread_mutex_unlock(&it->r->mu);
}

static int count(rec *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Waits until n callbacks ran (a 60 s deadline, against hanging only). */
static void wait_for(rec *r, int n)
{
    for (int i = 0; i < 12000 && count(r) < n; i++)
        usleep(5000);
    assert_int_equal(count(r), n);
}

static void test_due_order_and_delay(void **state)
{
    (void)state;
    pl_sim_timer *t;
    assert_int_equal(pl_sim_timer_new(&t, NULL, 0), 0);
    rec r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    item items[5] = {{&r, 0}, {&r, 1}, {&r, 2}, {&r, 3}, {&r, 4}};
    /* Added out of due order. */
    assert_int_equal(pl_sim_timer_add(t, 3 * HOUR_MS, note, &items[0]), 0);
    assert_int_equal(pl_sim_timer_add(t, 1 * HOUR_MS, note, &items[1]), 0);
    assert_int_equal(pl_sim_timer_add(t, 2 * HOUR_MS, note, &items[2]), 0);
    assert_int_equal(pl_sim_timer_add(t, 0, note, &items[3]), 0);
    /* The one already due runs by itself; the others are not run early: still pending. */
    wait_for(&r, 1);
    assert_int_equal(r.order[0], 3);
    assert_int_equal(pl_sim_timer_pending(t), 3);
    /* A short delay added later overtakes the long ones. */
    assert_int_equal(pl_sim_timer_add(t, 20, note, &items[4]), 0);
    wait_for(&r, 2);
    assert_int_equal(r.order[1], 4);
    assert_int_equal(pl_sim_timer_pending(t), 3);
    /* The rest, at shutdown: in due order, not in the order they were added. */
    pl_sim_timer_shutdown(t);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.order[2], 1);
    assert_int_equal(r.order[3], 2);
    assert_int_equal(r.order[4], 0);
    assert_int_equal(pl_sim_timer_pending(t), 0);
    pl_sim_timer_destroy(t);
}

static void test_shutdown_runs_pending_once(void **state)
{
    (void)state;
    pl_sim_timer *t;
    assert_int_equal(pl_sim_timer_new(&t, NULL, 0), 0);
    rec r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    item items[3] = {{&r, 0}, {&r, 1}, {&r, 2}};
    assert_int_equal(pl_sim_timer_add(t, 2 * HOUR_MS, note, &items[0]), 0);
    assert_int_equal(pl_sim_timer_add(t, 1 * HOUR_MS, note, &items[1]), 0);
    assert_int_equal(pl_sim_timer_pending(t), 2);
    pl_sim_timer_shutdown(t);
    /* Run at once, in due order, exactly once. */
    assert_int_equal(r.n, 2);
    assert_int_equal(r.order[0], 1);
    assert_int_equal(r.order[1], 0);
    /* After shutdown an add fails and its callback never runs. */
    assert_int_equal(pl_sim_timer_add(t, 0, note, &items[2]), PL_ERR_STATE);
    pl_sim_timer_shutdown(t);
    pl_sim_timer_destroy(t);
    assert_int_equal(r.n, 2);
}

typedef struct chain {
    pl_sim_timer *t;
    item next;
} chain;

static void add_from_callback(void *arg)
{
    chain *c = arg;
    assert_int_equal(pl_sim_timer_add(c->t, 5, note, &c->next), 0);
}

static void test_callback_may_add(void **state)
{
    (void)state;
    pl_sim_timer *t;
    assert_int_equal(pl_sim_timer_new(&t, NULL, 0), 0);
    rec r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    chain c = {t, {&r, 0}};
    assert_int_equal(pl_sim_timer_add(t, 5, add_from_callback, &c), 0);
    wait_for(&r, 1);
    pl_sim_timer_destroy(t);
}

static atomic_int many_fired;

static void bump(void *arg)
{
    (void)arg;
    atomic_fetch_add(&many_fired, 1);
}

static void test_many_timers(void **state)
{
    (void)state;
    pl_sim_timer *t;
    assert_int_equal(pl_sim_timer_new(&t, NULL, 0), 0);
    atomic_store(&many_fired, 0);
    /* The heap grows past its first allocation and keeps every entry. */
    for (int i = 0; i < 2000; i++)
        assert_int_equal(pl_sim_timer_add(t, (unsigned)(i % 37), bump, NULL), 0);
    for (int i = 0; i < 12000 && atomic_load(&many_fired) < 2000; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&many_fired), 2000);
    pl_sim_timer_destroy(t);
}

/* The wake-up grid: deadlines within one millisecond share a wake-up, which is never before any
 * of them and less than a millisecond after the earliest. */
static void test_wake_grid_batches_a_millisecond(void **state)
{
    (void)state;
    const uint64_t ms = 1000000u, base = 1234567u * ms; /* a whole millisecond */
    assert_int_equal(pl_sim_timer_wake_at(base), base);
    /* Due just after a whole millisecond, anywhere inside it, or just before its end: all wake
     * at its end, together. */
    const uint64_t inside[] = {base + 1, base + 250000u, base + ms / 2, base + ms - 1};
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        uint64_t w = pl_sim_timer_wake_at(inside[i]);
        assert_int_equal(w, base + ms);
        assert_true(w >= inside[i]);
        assert_true(w - inside[i] < ms);
    }
    /* The next millisecond's deadlines wake a millisecond later, not with these. */
    assert_int_equal(pl_sim_timer_wake_at(base + ms + 1), base + 2 * ms);
    /* At the start of the monotonic clock, too. */
    assert_int_equal(pl_sim_timer_wake_at(0), 0);
    assert_int_equal(pl_sim_timer_wake_at(1), ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_order_and_delay),
        cmocka_unit_test(test_shutdown_runs_pending_once),
        cmocka_unit_test(test_callback_may_add),
        cmocka_unit_test(test_many_timers),
        cmocka_unit_test(test_wake_grid_batches_a_millisecond),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
