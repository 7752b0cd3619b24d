/*
 * sim_log.h: thread-safe logging for the bureau simulator.
 *
 * common/log.h writes JSON lines but is meant for one thread; the simulator answers on several
 * libmicrohttpd threads and a timer thread, so every line of the simulator goes through one
 * mutex here. The lines are pl_log's (the logger scrubs card numbers itself); callers still pass
 * masked card numbers only, never a PAN or a CVV. Any thread.
 */
#ifndef PL_SIM_LOG_H
#define PL_SIM_LOG_H

#include "log.h"

/* Formats the message and hands it to pl_log under the simulator's log mutex. */
void pl_sim_log(pl_log_level level, const char *request_id, const char *fmt, ...) PL_PRINTF(3, 4);

#endif
