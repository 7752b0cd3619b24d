/*
 * sim_timer.c: a binary min-heap of deadlines served by one thread (see sim_timer.h).
 *
 * A condition variable on CLOCK_MONOTONIC wakes the thread at the earliest deadline or when
 * an earlier one is added; wall-clock jumps do not shorten or stretch the latency.
 */
#include "sim_timer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* The wake-up grid of the timer thread (timer_main). */
#define WAKE_GRID_NS 1000000u

typedef struct timer_entry {
    uint64_t due_ns;
    uint64_t seq; /* ties keep insertion order */
    pl_sim_timer_cb cb;
    void *arg;
} timer_entry;

struct pl_sim_timer {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t thread;
    bool thread_started;
    bool stopping;
    bool stopped;
    timer_entry *heap;
    size_t count;
    size_t cap;
    uint64_t seq;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pl_sim_timer_wake_at(uint64_t due_ns)
{
    return (due_ns + WAKE_GRID_NS - 1) / WAKE_GRID_NS * WAKE_GRID_NS;
}

static bool before(const timer_entry *a, const timer_entry *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_swap(timer_entry *h, size_t i, size_t j)
{
    timer_entry tmp = h[i];
    h[i] = h[j];
    h[j] = tmp;
}

static void sift_up(timer_entry *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&h[i], &h[parent]))
            break;
        heap_swap(h, i, parent);
        i = parent;
    }
}

static void sift_down(timer_entry *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && before(&h[l], &h[m]))
            m = l;
        if (r < n && before(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

static timer_entry heap_pop(pl_sim_timer *t)
{
    timer_entry top = t->heap[0];
    t->heap[0] = t->heap[--t->count];
    sift_down(t->heap, t->count, 0);
    return top;
}

static void *timer_main(void *arg)
{
    pl_sim_timer *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stopping) {
        if (t->count == 0) {
            pthread_cond_wait(&t->cond, &t->mu);
            continue;
        }
        uint64_t now = now_ns();
        if (t->heap[0].due_ns <= now) {
            timer_entry e = heap_pop(t);
            /* Unlocked, so a callback may add timers and other threads are not held up. */
            pthread_mutex_unlock(&t->mu);
            e.cb(e.arg);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        /* Asleep until the next whole millisecond at or after the earliest due time, so that
         * what falls due within that millisecond runs in one wake-up: a busy simulator (3,000
         * answers a second at 100 ms) resumes a few connections a wake-up, and its server
         * threads are woken a few at a time, instead of once an answer. Never early; at most
         * a millisecond late. */
        uint64_t due = pl_sim_timer_wake_at(t->heap[0].due_ns);
        struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        pthread_cond_timedwait(&t->cond, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int pl_sim_timer_new(pl_sim_timer **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    pl_sim_timer *t = calloc(1, sizeof *t);
    if (!t)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->thread, NULL, timer_main, t) != 0) {
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return pl_err_set(PL_ERR_STATE, errstr, errstr_size, "cannot start the timer thread");
    }
    t->thread_started = true;
    *out = t;
    return PL_OK;
}

int pl_sim_timer_add(pl_sim_timer *t, unsigned delay_ms, pl_sim_timer_cb cb, void *arg)
{
    int rc = PL_OK;
    pthread_mutex_lock(&t->mu);
    if (t->stopping) {
        rc = PL_ERR_STATE;
        goto out;
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        timer_entry *h = realloc(t->heap, cap * sizeof *h);
        if (!h) {
            rc = PL_ERR_NOMEM;
            goto out;
        }
        t->heap = h;
        t->cap = cap;
    }
    timer_entry e = {now_ns() + (uint64_t)delay_ms * 1000000u, t->seq++, cb, arg};
    t->heap[t->count] = e;
    sift_up(t->heap, t->count);
    t->count++;
    /* Only an entry that became the earliest changes when the thread must wake. */
    if (t->heap[0].seq == e.seq)
        pthread_cond_signal(&t->cond);
out:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

unsigned pl_sim_timer_pending(pl_sim_timer *t)
{
    pthread_mutex_lock(&t->mu);
    unsigned n = (unsigned)t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void pl_sim_timer_shutdown(pl_sim_timer *t)
{
    pthread_mutex_lock(&t->mu);
    if (t->stopped) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    t->stopping = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->mu);
    if (t->thread_started)
        pthread_join(t->thread, NULL);

    /* The thread is gone and adds fail now; run what is left, unlocked during each callback. */
    pthread_mutex_lock(&t->mu);
    while (t->count > 0) {
        timer_entry e = heap_pop(t);
        pthread_mutex_unlock(&t->mu);
        e.cb(e.arg);
        pthread_mutex_lock(&t->mu);
    }
    t->stopped = true;
    pthread_mutex_unlock(&t->mu);
}

void pl_sim_timer_destroy(pl_sim_timer *t)
{
    if (!t)
        return;
    pl_sim_timer_shutdown(t);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mu);
    free(t->heap);
    free(t);
}
