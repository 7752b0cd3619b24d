/*
 * sim_timer.h: one thread that runs callbacks when their time comes.
 *
 * The simulator delays its answers (latency, jitter, the 901 hold) without holding a server
 * thread: the connection is suspended and a timer resumes it. Thousands of pending timers
 * cost a heap entry each. Callbacks run on the timer thread, one at a time, and must be
 * short (resuming a connection is).
 *
 * Async contract: if pl_sim_timer_add returns 0 the callback runs exactly once — when due
 * (at most a millisecond late: the thread wakes on a 1 ms grid, and runs everything due by
 * then at once), or at shutdown (early); if it returns an error it never runs.
 * pl_sim_timer_add may be called from any thread, including from a callback.
 */
#ifndef PL_SIM_TIMER_H
#define PL_SIM_TIMER_H

#include <stdint.h>

#include "err.h"

typedef struct pl_sim_timer pl_sim_timer;
typedef void (*pl_sim_timer_cb)(void *arg);

/* Starts the timer thread. Returns 0, PL_ERR_NOMEM or PL_ERR_STATE (thread creation failed). */
int pl_sim_timer_new(pl_sim_timer **out, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* Runs cb(arg) on the timer thread delay_ms from now. 0, PL_ERR_NOMEM, or PL_ERR_STATE after
 * shutdown. */
int pl_sim_timer_add(pl_sim_timer *t, unsigned delay_ms, pl_sim_timer_cb cb,
                     void *arg) PL_MUSTCHECK;

/* Number of callbacks not yet run. */
unsigned pl_sim_timer_pending(pl_sim_timer *t);

/*
 * Stops the thread after running every pending callback at once (in due order), so nothing
 * waits forever. Later adds fail. Idempotent. Not from a callback.
 */
void pl_sim_timer_shutdown(pl_sim_timer *t);

/*
 * When the timer thread wakes for a deadline due_ns (CLOCK_MONOTONIC, ns): the next whole
 * millisecond at or after it, so that what falls due within one millisecond runs in one
 * wake-up. Never before due_ns, less than a millisecond after it. For the thread and its tests.
 */
uint64_t pl_sim_timer_wake_at(uint64_t due_ns);

/* Shuts down if needed and frees. t may be NULL. */
void pl_sim_timer_destroy(pl_sim_timer *t);

#endif
