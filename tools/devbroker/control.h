/*
 * control.h: the dev broker's control endpoint, for chaos tests that inject outages.
 *
 * Plain HTTP on 127.0.0.1 only (never another interface: it has no authentication). Routes:
 *   GET  /health                         200 "ok"
 *   POST /brokers/down[?id=N]            every broker down, or broker N
 *   POST /brokers/up[?id=N]              every broker up, or broker N
 *   POST /brokers/rtt?ms=N[&id=N]        delay every response by N ms (0 removes the delay)
 *   POST /topics?name=X[&partitions=N]   create topic X (default 32 partitions)
 * POSTs answer 200 {"ok":true}, or an error status (400 bad argument, 404 unknown broker or
 * route, 405 wrong method, 409 topic exists, 500 other) with {"error":"..."}. Request bodies
 * are refused (400): every argument travels in the query string.
 *
 * Threads: libmicrohttpd runs without a thread of its own here; requests are handled inside
 * pl_devbroker_control_run, in the caller's thread, which must therefore be the one owning
 * the logger (log.h). One thread drives a given handle.
 * Memory: the handle borrows db, which must outlive it.
 */
#ifndef PL_DEVBROKER_CONTROL_H
#define PL_DEVBROKER_CONTROL_H

#include <stdint.h>

#include "devbroker.h"
#include "err.h"

typedef struct pl_devbroker_control pl_devbroker_control;

/*
 * Listens on 127.0.0.1:port (port 0: the kernel picks one; see pl_devbroker_control_port).
 * Returns 0, PL_ERR_INVALID (port out of range), PL_ERR_IO (cannot listen) or PL_ERR_NOMEM.
 */
int pl_devbroker_control_new(pl_devbroker_control **out, pl_devbroker *db, int port, char *errstr,
                             size_t errstr_size) PL_MUSTCHECK;

/* The port actually listened on. */
uint16_t pl_devbroker_control_port(const pl_devbroker_control *ctl);

/*
 * Serves whatever requests are ready, waiting up to timeout_ms (0: do not wait) for some.
 * A signal may end the wait early. Returns 0 or PL_ERR_IO when the server broke.
 */
int pl_devbroker_control_run(pl_devbroker_control *ctl, int timeout_ms) PL_MUSTCHECK;

/* Closes the listener and any open connection. NULL ok. */
void pl_devbroker_control_destroy(pl_devbroker_control *ctl);

#endif
