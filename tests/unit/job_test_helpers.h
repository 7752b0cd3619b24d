/*
 * job_test_helpers.h: the reply a spec's tests give a pl_job (the engine allocates a job's
 * reply; a test job takes one from a small static pool), and the check that a call to make
 * leaves it empty — the engine lets an empty reply go while its request waits for a bureau slot
 * (engine.c job_reply_park), so a spec's prepare writes nothing into it when it returns 0.
 *
 * Shared by the spec unit tests and the integration tests that run specs (tests/integration
 * include it as "../unit/job_test_helpers.h"). Header-only, static.
 */
#ifndef PL_TEST_JOB_TEST_HELPERS_H
#define PL_TEST_JOB_TEST_HELPERS_H

#include <stdbool.h>
#include <string.h>

#include "reply.h"

/* A test holds fewer jobs at once than this. */
#define JOB_TEST_REPLIES 64

/* An empty reply for a test job; the pool's replies are reused in turn. */
static inline pl_reply *job_test_reply(void)
{
    static pl_reply pool[JOB_TEST_REPLIES];
    static size_t next;
    pl_reply *r = &pool[next++ % JOB_TEST_REPLIES];
    memset(r, 0, sizeof *r);
    return r;
}

/* A reply with nothing in it. */
static inline bool job_test_reply_empty(const pl_reply *r)
{
    static const pl_reply empty;
    return memcmp(r, &empty, sizeof empty) == 0;
}

#endif
