/*
 * sim_log.c: serialises the simulator's log lines (see sim_log.h). The message is formatted
 * outside the lock so the critical section is only the write itself.
 */
#include "sim_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void pl_sim_log(pl_log_level level, const char *request_id, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_mu);
    pl_log(level, request_id, "%s", msg);
    pthread_mutex_unlock(&log_mu);
}
