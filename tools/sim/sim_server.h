/*
 * sim_server.h: the simulator's HTTPS server (libmicrohttpd + GnuTLS).
 *
 * Routes:
 *   POST /commerce/1.x/transactionProcessor   CyberSource Simple Order API (sim_cyb.h)
 *   POST /relateui/<company>/xmlapi           Customer Engagement stored value (sim_relate.h)
 *   POST /ext/oauth2/token, /ext/<endpoint>   External Payment Service, EXT (sim_ext.h)
 *   POST /ebctest/ConversionDetailReportRequest.do, /ebc/ConversionDetailReportRequest.do
 *                                             Decision Manager Conversion Detail Report (sim_dm.h)
 *   POST /ebctest/Query, /ebc/Query           CyberSource On-Demand Single Transaction Query
 *                                             (sim_query.h)
 *   GET  /__sim/health                        200 "ok"
 *   GET  /__sim/ledger                        the ledger, JSON array (sim_ledger.h)
 *   GET  /__sim/query?ref=R                   last answer for reference R; 404 {"found":false}
 *   GET  /__sim/tls                           {"full":N,"resumed":M} TLS handshakes since the
 *                                             start (pl_sim_server_stats)
 *   POST /__sim/reset                         forget the ledger and all bureau state
 *   GET|POST /__sim/config[?latency_ms=N&jitter_ms=J&hold_ms=H]   read / change the delays
 *   GET|POST /__sim/relate/series?prefix=P&sequence=S[&remaining=N|unlimited]
 *                                             a card series' numbers left (sim_relate.h)
 *   POST /__sim/ext/expire-tokens             every EXT access token expires now
 *   GET  /__sim/ext/tokens                    {"issued":N,"active":M} EXT access tokens
 *   POST /__sim/dm/fail?mode=M                report requests fail: 500, garbage, drop, hold;
 *                                             none ends it (so does /__sim/reset)
 *   GET  /__sim/dm/reviews                    the REVIEWs the report shows, JSON array
 * Bureau routes answer after the latency (+ a uniform jitter in [0, J]) counted from the
 * moment the request arrived, so the simulator's own processing time is part of it, as with
 * a real bureau's response time. A 901 (and a 905, which every bureau applies first) request
 * is held hold_ms, then its connection is closed without an answer; a 904 (906) request's
 * connection is closed as soon as it has been read.
 * Waiting never occupies a server thread: the connection is suspended and a timer thread
 * resumes it, so hundreds of delayed requests cost no more than memory. Request bodies are
 * capped at 1 MiB (413 beyond).
 *
 * Threads: libmicrohttpd runs a pool of epoll threads; pl_sim_server_* calls are for the
 * thread that started the server (set_delays: any thread).
 */
#ifndef PL_SIM_SERVER_H
#define PL_SIM_SERVER_H

#include <stddef.h>

#include "err.h"
#include "sim_ledger.h"

#define PL_SIM_BODY_MAX (1024u * 1024u)

typedef struct pl_sim_server pl_sim_server;

typedef struct pl_sim_server_cfg {
    const char *bind_addr; /* IPv4 or IPv6 literal; NULL = "127.0.0.1" */
    unsigned port;         /* 0 = pick a free port */
    const char *state_dir; /* holds the TLS files (sim_tls.h); required */
    unsigned latency_ms;
    unsigned jitter_ms;
    unsigned hold_ms; /* how long a 901 request is held before its connection is closed */
    unsigned threads; /* server threads; 0 = one per CPU (at least 2) */
    /* External Payment Service (sim_ext.h): the access tokens' lifetime in seconds (0 = 3600)
     * and the OAuth client secret (NULL = any but "bad-key"). */
    unsigned ext_token_ttl_s;
    const char *ext_client_secret;
    /* The CyberSource report user's password, which the Decision Manager report (sim_dm.h) and
     * the Query (sim_query.h) require (NULL = any but "bad-password"). */
    const char *dm_password;
} pl_sim_server_cfg;

/*
 * Creates the TLS files if needed, binds and starts serving. Returns 0 and *out, or
 * PL_ERR_CONFIG (bad address), PL_ERR_IO (TLS files, bind), PL_ERR_NOMEM, PL_ERR_STATE.
 */
int pl_sim_server_start(const pl_sim_server_cfg *cfg, pl_sim_server **out, char *errstr,
                        size_t errstr_size) PL_MUSTCHECK;

/* The bound port (the real one when cfg.port was 0). */
unsigned pl_sim_server_port(const pl_sim_server *s);

/* The server's ledger (owned by the server; valid until pl_sim_server_stop). */
pl_sim_ledger *pl_sim_server_ledger(pl_sim_server *s);

/* Changes the delays for requests arriving from now on. Any thread. */
void pl_sim_server_set_delays(pl_sim_server *s, unsigned latency_ms, unsigned jitter_ms,
                              unsigned hold_ms);
/* The delays for requests arriving now. Any thread. */
void pl_sim_server_get_delays(pl_sim_server *s, unsigned *latency_ms, unsigned *jitter_ms,
                              unsigned *hold_ms);

/*
 * What the delays did, for tests that check order rather than time: `parked` counts the
 * requests whose answer (or 901 drop) was held back since the start, `waiting` those of them
 * still held now. A request is parked when its delay is not over by the time it has been read
 * and handled; control routes (/__sim/...) are never parked. Any thread.
 */
typedef struct pl_sim_server_stats {
    unsigned long parked;
    unsigned waiting;
    /* TLS handshakes since the start, counted at each connection's first request: full ones,
     * and resumed sessions (the server issues session tickets). */
    unsigned long tls_full, tls_resumed;
} pl_sim_server_stats;
void pl_sim_server_stats_get(pl_sim_server *s, pl_sim_server_stats *out);

/*
 * Stops serving and frees everything. Requests still waiting are answered at once (held
 * 901 connections are closed) before the server goes away. s may be NULL.
 */
void pl_sim_server_stop(pl_sim_server *s);

#endif
