/*
 * sim_server.c: the simulator's HTTPS front (see sim_server.h).
 *
 * Each request has a conn_ctx that collects the body, then is dispatched once. A bureau
 * answer that must wait is parked: the connection is suspended and a timer resumes it when
 * the answer is due; libmicrohttpd then calls the handler again and the stored response goes
 * out (or, for the 901 hold and 904, the handler returns MHD_NO, which closes the connection
 * without an answer). Suspending and the timer's resume are ordered by suspend_mu, so a
 * resume can never overtake its suspend, and shutdown can flush every parked request.
 */
#include "sim_server.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "card.h"
#include "sim_cyb.h"
#include "sim_dm.h"
#include "sim_ext.h"
#include "sim_ids.h"
#include "sim_log.h"
#include "sim_proto.h"
#include "sim_query.h"
#include "sim_relate.h"
#include "sim_timer.h"
#include "sim_tls.h"

#define MAX_DELAY_MS (24u * 3600u * 1000u)
/*
 * Each connection's memory pool (request line, headers, read buffer, the answer's headers).
 * libmicrohttpd zeroes the pool for every request on a kept-alive connection: at its default of
 * 32 KiB that was 48 KiB of memset per answer, an eighth of a CyberSource answer's instructions
 * under callgrind, and cold memory with hundreds of connections. Bureau requests carry a few
 * hundred bytes of headers, and a body is read in pieces whatever the buffer's size.
 */
#define CONN_MEMORY (16u * 1024u)

/* The bureaus the simulator speaks. */
static const pl_sim_proto *const protocols[] = {
    &pl_sim_cyb_proto, &pl_sim_relate_proto, &pl_sim_ext_proto,
    &pl_sim_dm_proto,  &pl_sim_query_proto,
};

struct pl_sim_server {
    struct MHD_Daemon *mhd;
    pl_sim_timer *timer;
    pl_sim_ledger *ledger;
    pl_sim_ext *ext; /* the External Payment Service's tokens and answers */
    pl_sim_dm *dm;   /* the Conversion Detail Report's password and fail mode */
    /* The Single Transaction Query's state: the same report password (a copy, or NULL). */
    pl_sim_query_cfg query;
    char *query_password;
    char *cert_pem;
    char *key_pem;
    unsigned port;
    atomic_uint latency_ms;
    atomic_uint jitter_ms;
    atomic_uint hold_ms;
    atomic_ulong parked; /* pl_sim_server_stats */
    atomic_uint waiting;
    atomic_ulong tls_full, tls_resumed;
    /* The key of the session tickets this server issues (one per server, made at its start). */
    gnutls_datum_t ticket_key;
    pthread_mutex_t suspend_mu;
    bool stopping; /* under suspend_mu */
};

typedef enum conn_state {
    CS_READING = 0, /* headers seen, body arriving */
    CS_WAITING,     /* dispatched; suspended until the timer fires */
    CS_READY,       /* the response (or the drop) can go out */
} conn_state;

typedef struct conn_ctx {
    pl_sim_server *srv;
    struct MHD_Connection *conn;
    struct timespec arrived;
    char *body;
    size_t len;
    size_t cap;
    bool too_big;
    conn_state state;
    bool corked; /* the answer's TLS records are held to go out as one (send_response) */
    pl_sim_response resp;
} conn_ctx;

static uint64_t ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
    return ms < 0 ? 0 : (uint64_t)ms;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    /* libmicrohttpd reports every MHD_NO as an internal error; here that is the 901/904 drop. */
    bool expected = strstr(msg, "Application reported internal error") != NULL;
    pl_sim_log(expected ? PL_LOG_DEBUG : PL_LOG_WARN, NULL, "http: %s", msg);
}

static int append_body(conn_ctx *x, const char *data, size_t n)
{
    if (x->too_big)
        return PL_OK;
    if (x->len + n > PL_SIM_BODY_MAX) {
        /* Keep reading (and dropping) the rest so the 413 answer can still be delivered. */
        x->too_big = true;
        pl_card_wipe(x->body, x->len);
        x->len = 0;
        return PL_OK;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 8192;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *grown = malloc(cap);
        if (!grown)
            return PL_ERR_NOMEM;
        /* A fresh buffer rather than realloc, so the old copy of a card number can be wiped. */
        if (x->len)
            memcpy(grown, x->body, x->len);
        if (x->body) {
            pl_card_wipe(x->body, x->len);
            free(x->body);
        }
        x->body = grown;
        x->cap = cap;
    }
    memcpy(x->body + x->len, data, n);
    x->len += n;
    x->body[x->len] = '\0';
    return PL_OK;
}

/* Takes ownership of a malloc'd JSON text. */
static void set_json(pl_sim_response *resp, unsigned status, char *json)
{
    pl_sim_response_free(resp);
    resp->action = PL_SIM_ANSWER;
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = json;
    resp->body_len = strlen(json);
}

/* A JSON object of n named counts, the answer of a control route. */
static int counts_answer(pl_sim_response *resp, const char *const *keys, const uint64_t *values,
                         size_t n)
{
    json_object *root = json_object_new_object();
    if (!root)
        return PL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_new_int64((int64_t)values[i]);
        if (!v || json_object_object_add(root, keys[i], v) != 0) {
            json_object_put(v);
            json_object_put(root);
            return PL_ERR_NOMEM;
        }
    }
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    int rc = text ? pl_sim_response_set(resp, 200, "application/json", text, strlen(text))
                  : PL_ERR_NOMEM;
    json_object_put(root);
    return rc;
}

static int config_answer(pl_sim_server *s, pl_sim_response *resp)
{
    static const char *const keys[] = {"latency_ms", "jitter_ms", "hold_ms"};
    uint64_t values[] = {atomic_load(&s->latency_ms), atomic_load(&s->jitter_ms),
                         atomic_load(&s->hold_ms)};
    return counts_answer(resp, keys, values, 3);
}

static int handle_config(pl_sim_server *s, struct MHD_Connection *c, bool change,
                         pl_sim_response *resp)
{
    static const char *const keys[] = {"latency_ms", "jitter_ms", "hold_ms"};
    atomic_uint *targets[] = {&s->latency_ms, &s->jitter_ms, &s->hold_ms};
    unsigned values[3];
    bool given[3] = {false, false, false};
    for (size_t i = 0; i < 3; i++) {
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, keys[i]);
        if (!v)
            continue;
        if (!change || pl_sim_parse_uint(v, MAX_DELAY_MS, &values[i]) < 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "bad %s (milliseconds, 0-%u, with POST)\n", keys[i],
                     MAX_DELAY_MS);
            return pl_sim_response_text(resp, 400, msg);
        }
        given[i] = true;
    }
    for (size_t i = 0; i < 3; i++)
        if (given[i])
            atomic_store(targets[i], values[i]);
    if (change)
        pl_sim_log(PL_LOG_INFO, NULL, "config: latency_ms=%u jitter_ms=%u hold_ms=%u",
                   atomic_load(&s->latency_ms), atomic_load(&s->jitter_ms),
                   atomic_load(&s->hold_ms));
    return config_answer(s, resp);
}

/* The /__sim/ control plane: answered at once, never delayed. */
static int handle_control(pl_sim_server *s, struct MHD_Connection *c, const char *path,
                          const char *method, pl_sim_response *resp)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    char *json = NULL;
    int rc;

    if (strcmp(path, "/__sim/health") == 0 && get)
        return pl_sim_response_text(resp, 200, "ok");
    if (strcmp(path, "/__sim/ledger") == 0 && get) {
        rc = pl_sim_ledger_to_json(s->ledger, &json);
        if (rc == PL_OK)
            set_json(resp, 200, json);
        return rc;
    }
    if (strcmp(path, "/__sim/query") == 0 && get) {
        const char *ref = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ref");
        bool found = false;
        rc = pl_sim_ledger_txn_json(s->ledger, ref, &json, &found);
        if (rc == PL_OK)
            set_json(resp, found ? 200 : 404, json);
        return rc;
    }
    if (strcmp(path, "/__sim/tls") == 0 && get) {
        static const char *const keys[] = {"full", "resumed"};
        uint64_t values[] = {atomic_load(&s->tls_full), atomic_load(&s->tls_resumed)};
        return counts_answer(resp, keys, values, 2);
    }
    if (strcmp(path, "/__sim/reset") == 0 && post) {
        pl_sim_ledger_reset(s->ledger);
        pl_sim_ext_reset(s->ext);
        pl_sim_dm_reset(s->dm);
        pl_sim_log(PL_LOG_INFO, NULL, "reset: ledger and bureau state cleared");
        return pl_sim_response_text(resp, 200, "ok");
    }
    if (strcmp(path, "/__sim/config") == 0 && (get || post))
        return handle_config(s, c, post, resp);
    if (strcmp(path, PL_SIM_RELATE_SERIES_PATH) == 0 && (get || post))
        return pl_sim_relate_series_control(
            s->ledger, post, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "prefix"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sequence"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "remaining"), resp);
    if (strcmp(path, PL_SIM_RELATE_FAULT_PATH) == 0 && post)
        return pl_sim_relate_fault_control(
            s->ledger, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "order"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "op"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "code"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "applied"), resp);
    /* Any method: the route answers another one 400, saying it wants POST. */
    if (strcmp(path, PL_SIM_CYB_SOFT_DECLINE_PATH) == 0)
        return pl_sim_cyb_soft_decline_control(
            s->ledger, method, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ref"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "reason"), resp);
    if (strncmp(path, PL_SIM_EXT_CONTROL_PREFIX, sizeof PL_SIM_EXT_CONTROL_PREFIX - 1) == 0)
        return pl_sim_ext_control(s->ext, method, path, resp);
    if (strncmp(path, PL_SIM_DM_CONTROL_PREFIX, sizeof PL_SIM_DM_CONTROL_PREFIX - 1) == 0)
        return pl_sim_dm_control(s->dm, s->ledger, method, path,
                                 MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mode"),
                                 resp);
    return pl_sim_response_text(resp, 404, "not found\n");
}

/*
 * Dispatches a complete request. Returns the delay in milliseconds before resp may go out
 * (0: at once).
 */
static unsigned dispatch(pl_sim_server *s, conn_ctx *x, const char *path, const char *method)
{
    struct MHD_Connection *c = x->conn;
    pl_sim_response *resp = &x->resp;

    if (x->too_big) {
        if (pl_sim_response_text(resp, 413, "request body larger than 1 MiB\n") < 0)
            resp->status = 0;
        return 0;
    }
    if (strncmp(path, "/__sim/", 7) == 0) {
        if (handle_control(s, c, path, method, resp) < 0)
            pl_sim_response_free(resp);
        return 0;
    }
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        const pl_sim_proto *p = protocols[i];
        if (p->match_path ? !p->match_path(path) : strcmp(path, p->path) != 0)
            continue;
        if (strcmp(method, p->method) != 0) {
            if (pl_sim_response_text(resp, 405, "method not allowed\n") < 0)
                resp->status = 0;
            return 0;
        }
        pl_sim_http_req req = {
            .method = method,
            .path = path,
            .body = x->body ? x->body : "",
            .body_len = x->len,
            .authorization =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            .content_type =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
            .issue_amount =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, PL_SIM_ISSUE_AMOUNT_HEADER),
            .state = p == &pl_sim_ext_proto     ? (void *)s->ext
                     : p == &pl_sim_dm_proto    ? (void *)s->dm
                     : p == &pl_sim_query_proto ? (void *)&s->query
                                                : NULL,
        };
        if (p->handle(s->ledger, &req, resp) < 0) {
            pl_sim_response_free(resp);
            pl_sim_log(PL_LOG_ERROR, NULL, "%s handler failed (out of memory)", p->protocol);
            return 0;
        }
        if (resp->action == PL_SIM_DROP)
            return 0;
        if (resp->action == PL_SIM_HOLD)
            return atomic_load(&s->hold_ms);
        unsigned delay =
            atomic_load(&s->latency_ms) + pl_sim_ids_random(atomic_load(&s->jitter_ms));
        uint64_t spent = ms_since(&x->arrived);
        return spent >= delay ? 0 : (unsigned)(delay - spent);
    }
    if (pl_sim_response_text(resp, 404, "not found\n") < 0)
        resp->status = 0;
    return 0;
}

static void on_due(void *arg)
{
    conn_ctx *x = arg;
    /*
     * x belongs to the connection: once resumed, a server thread may answer and free it at
     * once, so nothing of x is touched after MHD_resume_connection.
     */
    pl_sim_server *s = x->srv;
    pthread_mutex_lock(&s->suspend_mu);
    x->state = CS_READY;
    atomic_fetch_sub(&s->waiting, 1);
    MHD_resume_connection(x->conn);
    pthread_mutex_unlock(&s->suspend_mu);
}

/* Parks the request for delay_ms. False when it must go out now (shutting down, no memory). */
static bool park(pl_sim_server *s, conn_ctx *x, unsigned delay_ms)
{
    bool parked = false;
    pthread_mutex_lock(&s->suspend_mu);
    if (!s->stopping && pl_sim_timer_add(s->timer, delay_ms, on_due, x) == PL_OK) {
        /* The timer cannot resume before this suspend: on_due needs suspend_mu. */
        x->state = CS_WAITING;
        atomic_fetch_add(&s->parked, 1);
        atomic_fetch_add(&s->waiting, 1);
        MHD_suspend_connection(x->conn);
        parked = true;
    }
    pthread_mutex_unlock(&s->suspend_mu);
    return parked;
}

/* The largest body send_response corks with its headers: they fit in one TLS record (16 KiB). */
#define CORK_MAX (12 * 1024)
/* How long an answer's corked records may wait for a client that reads nothing. */
#define UNCORK_TRIES 20
#define UNCORK_WAIT_MS 100

/*
 * Sends what send_response corked (answered: the answer is complete) or lets it go (the
 * connection ended without it), then pushes it out. A client whose socket takes nothing for
 * UNCORK_TRIES x UNCORK_WAIT_MS loses the connection rather than hold this server thread.
 * libmicrohttpd corks the TCP socket around an answer of less than a packet and pushes when it
 * believes it wrote the last byte: that was into GnuTLS's cork, before this send, which would
 * then wait in the kernel for the cork's 200 ms timer. Setting TCP_NODELAY flushes what is
 * pending even under TCP_CORK (tcp(7)); libmicrohttpd sets it on its sockets itself, so its view
 * of the socket stays true.
 */
static void uncork(struct MHD_Connection *c, conn_ctx *x, bool answered)
{
    if (!x->corked)
        return;
    x->corked = false;
    if (!answered)
        return; /* the connection is going: its session and what it corked go with it */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || !ci->tls_session || !fi)
        return;
    gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
    int rc = GNUTLS_E_AGAIN;
    for (int i = 0; i < UNCORK_TRIES; i++) {
        rc = gnutls_record_uncork(tls, 0);
        if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED)
            break;
        struct pollfd p = {.fd = fi->connect_fd, .events = POLLOUT};
        (void)poll(&p, 1, UNCORK_WAIT_MS);
    }
    if (rc < 0) {
        /* libmicrohttpd sees the connection fail at its next read or write, and closes it. */
        (void)shutdown(fi->connect_fd, SHUT_RDWR);
        return;
    }
    int one = 1;
    (void)setsockopt(fi->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static enum MHD_Result send_response(conn_ctx *x)
{
    pl_sim_response *r = &x->resp;
    if (r->action == PL_SIM_HOLD || r->action == PL_SIM_DROP)
        return MHD_NO; /* closes the connection without an answer */
    if (r->status == 0) {
        /* Nothing could be built (out of memory): say so plainly. */
        static const char oom[] = "simulator internal error\n";
        struct MHD_Response *m =
            MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (!m)
            return MHD_NO;
        enum MHD_Result ok = MHD_queue_response(x->conn, 500, m);
        MHD_destroy_response(m);
        return ok;
    }
    struct MHD_Response *m;
    if (r->body_len > 0) {
        m = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
        if (m)
            r->body = NULL; /* libmicrohttpd frees it now */
    } else {
        m = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!m)
        return MHD_NO;
    if (r->content_type)
        MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->header_name && r->header_value)
        MHD_add_response_header(m, r->header_name, r->header_value);
    /*
     * Under TLS libmicrohttpd writes the header and the body apart, as two TLS records: the
     * client then reads four times where a web server's answer of this size (one record) takes
     * two, and the benchmark would charge paylink for the simulator's way of writing. The records
     * are corked here and go out as one when the answer is complete (on_completed). Only an
     * answer that fits in one record: a larger one (a ledger dump) takes several records
     * anyway, and corked it would be held whole in memory and sent within uncork's bound.
     */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci && ci->tls_session && r->body_len <= CORK_MAX) {
        gnutls_record_cork((gnutls_session_t)ci->tls_session);
        x->corked = true;
    }
    enum MHD_Result ok = MHD_queue_response(x->conn, r->status, m);
    MHD_destroy_response(m);
    if (ok != MHD_YES)
        uncork(x->conn, x, false);
    return ok;
}

/*
 * A connection's own state, from libmicrohttpd's start notification to its close: whether its
 * handshake was counted yet (at its first request, by then done).
 */
typedef struct tls_conn {
    bool counted;
} tls_conn;

/*
 * Session tickets, as HTTPS front ends issue them: a client's next connection resumes the
 * session (no certificate to send and check, no signature) instead of a full handshake.
 * libmicrohttpd has made the connection's GnuTLS session but not begun its handshake when it
 * says a connection started. Without tickets every connection a client opens after its others
 * aged out pays a full handshake on both sides: a burst of 512 calls after an idle half-minute
 * cost paylink-auth and the simulator ~1.5 ms of CPU each a connection (docs/perf/ROUNDS.md,
 * twenty-sixth round).
 */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    pl_sim_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
        return;
    }
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    *socket_context = calloc(1, sizeof(tls_conn)); /* NULL: the handshake goes uncounted */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci && ci->tls_session && s->ticket_key.data) {
        int rc =
            gnutls_session_ticket_enable_server((gnutls_session_t)ci->tls_session, &s->ticket_key);
        if (rc < 0)
            pl_sim_log(PL_LOG_WARN, NULL, "session tickets: %s", gnutls_strerror(rc));
    }
}

/* Counts the handshake of c's TLS session at its first request. */
static void count_handshake(pl_sim_server *s, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    tls_conn *t = ci ? ci->socket_context : NULL;
    if (!t || t->counted)
        return;
    t->counted = true;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return;
    if (gnutls_session_is_resumed((gnutls_session_t)ci->tls_session))
        atomic_fetch_add(&s->tls_resumed, 1);
    else
        atomic_fetch_add(&s->tls_full, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    pl_sim_server *s = cls;
    conn_ctx *x = *req_cls;

    if (!x) {
        x = calloc(1, sizeof *x);
        if (!x)
            return MHD_NO;
        x->srv = s;
        x->conn = c;
        clock_gettime(CLOCK_MONOTONIC, &x->arrived);
        *req_cls = x;
        count_handshake(s, c);
        return MHD_YES;
    }
    if (x->state == CS_READING && *upload_data_size > 0) {
        if (append_body(x, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (x->state == CS_READING) {
        unsigned delay = dispatch(s, x, url, method);
        if (delay > 0 && park(s, x, delay))
            return MHD_YES;
        x->state = CS_READY;
    }
    if (x->state == CS_WAITING)
        return MHD_YES; /* not due yet; only a resume moves it on */
    return send_response(x);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    conn_ctx *x = *req_cls;
    if (!x)
        return;
    uncork(c, x, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    if (x->body) {
        pl_card_wipe(x->body, x->len);
        free(x->body);
    }
    pl_sim_response_free(&x->resp);
    free(x);
    *req_cls = NULL;
}

static unsigned default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2)
        n = 2;
    if (n > 16)
        n = 16;
    return (unsigned)n;
}

int pl_sim_server_start(const pl_sim_server_cfg *cfg, pl_sim_server **out, char *errstr,
                        size_t errstr_size)
{
    *out = NULL;
    if (!cfg->state_dir || !*cfg->state_dir)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "a state directory is required");
    if (cfg->port > 65535)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "port %u out of range", cfg->port);

    const char *bind_addr = cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    unsigned ipv6_flag = 0;
    struct sockaddr_in *sin = (struct sockaddr_in *)&sa;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa;
    if (inet_pton(AF_INET, bind_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, bind_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg->port);
        ipv6_flag = MHD_USE_IPv6;
    } else {
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "bind address %s is not an IP address", bind_addr);
    }

    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        return pl_err_set(PL_ERR_STATE, errstr, errstr_size,
                          "libmicrohttpd was built without TLS support");

    int rc;
    pl_sim_server *s = calloc(1, sizeof *s);
    if (!s)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    pthread_mutex_init(&s->suspend_mu, NULL);
    atomic_init(&s->latency_ms, cfg->latency_ms);
    atomic_init(&s->jitter_ms, cfg->jitter_ms);
    atomic_init(&s->hold_ms, cfg->hold_ms);
    atomic_init(&s->parked, 0);
    atomic_init(&s->waiting, 0);
    atomic_init(&s->tls_full, 0);
    atomic_init(&s->tls_resumed, 0);

    /* libxml2 must be initialised once before threads parse concurrently. */
    xmlInitParser();

    bool generated = false;
    rc = pl_sim_tls_ensure(cfg->state_dir, &generated, errstr, errstr_size);
    if (rc < 0)
        goto fail;
    if (generated)
        pl_sim_log(PL_LOG_INFO, NULL, "generated a test CA and server certificate in %s",
                   cfg->state_dir);
    rc = pl_sim_tls_load(cfg->state_dir, &s->cert_pem, &s->key_pem, errstr, errstr_size);
    if (rc < 0)
        goto fail;

    s->ledger = pl_sim_ledger_new();
    if (!s->ledger) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    pl_sim_ext_cfg ext_cfg = {.token_ttl_s = cfg->ext_token_ttl_s,
                              .client_secret = cfg->ext_client_secret};
    s->ext = pl_sim_ext_new(&ext_cfg);
    if (!s->ext) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size,
                        "out of memory (or no randomness) for the External Payment Service");
        goto fail;
    }
    pl_sim_dm_cfg dm_cfg = {.password = cfg->dm_password};
    s->dm = pl_sim_dm_new(&dm_cfg);
    if (!s->dm) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (cfg->dm_password && cfg->dm_password[0]) {
        s->query_password = strdup(cfg->dm_password);
        if (!s->query_password) {
            rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    s->query.password = s->query_password;
    rc = pl_sim_timer_new(&s->timer, errstr, errstr_size);
    if (rc < 0)
        goto fail;
    int trc = gnutls_session_ticket_key_generate(&s->ticket_key);
    if (trc < 0) {
        s->ticket_key.data = NULL;
        rc = pl_err_set(PL_ERR_STATE, errstr, errstr_size, "session ticket key: %s",
                        gnutls_strerror(trc));
        goto fail;
    }

    unsigned threads = cfg->threads ? cfg->threads : default_threads();
    unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | ipv6_flag;
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
        /* The logger first, or libmicrohttpd logs the other options' errors on its own. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, s->key_pem,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_CONNECTION_LIMIT, 10000u,
        MHD_OPTION_CONNECTION_TIMEOUT, 300u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONN_MEMORY, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!s->mhd) {
        rc = pl_err_set(PL_ERR_IO, errstr, errstr_size,
                        "cannot start the HTTPS server on %s port %u (in use? see the log)",
                        bind_addr, cfg->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *out = s;
    return PL_OK;
fail:
    pl_sim_server_stop(s);
    return rc;
}

unsigned pl_sim_server_port(const pl_sim_server *s)
{
    return s->port;
}

pl_sim_ledger *pl_sim_server_ledger(pl_sim_server *s)
{
    return s->ledger;
}

void pl_sim_server_set_delays(pl_sim_server *s, unsigned latency_ms, unsigned jitter_ms,
                              unsigned hold_ms)
{
    atomic_store(&s->latency_ms, latency_ms);
    atomic_store(&s->jitter_ms, jitter_ms);
    atomic_store(&s->hold_ms, hold_ms);
}

void pl_sim_server_get_delays(pl_sim_server *s, unsigned *latency_ms, unsigned *jitter_ms,
                              unsigned *hold_ms)
{
    *latency_ms = atomic_load(&s->latency_ms);
    *jitter_ms = atomic_load(&s->jitter_ms);
    *hold_ms = atomic_load(&s->hold_ms);
}

void pl_sim_server_stats_get(pl_sim_server *s, pl_sim_server_stats *out)
{
    out->parked = atomic_load(&s->parked);
    out->waiting = atomic_load(&s->waiting);
    out->tls_full = atomic_load(&s->tls_full);
    out->tls_resumed = atomic_load(&s->tls_resumed);
}

void pl_sim_server_stop(pl_sim_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->suspend_mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->suspend_mu);
    /*
     * libmicrohttpd refuses to stop with suspended connections, so every parked request is
     * resumed first (the timer runs all pending callbacks at shutdown); nothing parks after
     * stopping is set.
     */
    if (s->timer)
        pl_sim_timer_shutdown(s->timer);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    pl_sim_timer_destroy(s->timer);
    pl_sim_ledger_destroy(s->ledger);
    pl_sim_ext_destroy(s->ext);
    pl_sim_dm_destroy(s->dm);
    if (s->query_password) {
        pl_card_wipe(s->query_password, strlen(s->query_password));
        free(s->query_password);
    }
    if (s->ticket_key.data) {
        pl_card_wipe(s->ticket_key.data, s->ticket_key.size);
        gnutls_free(s->ticket_key.data);
    }
    free(s->cert_pem);
    if (s->key_pem) {
        pl_card_wipe(s->key_pem, strlen(s->key_pem));
        free(s->key_pem);
    }
    pthread_mutex_destroy(&s->suspend_mu);
    free(s);
}
