/*
 * http.c: libcurl multi transport (see http.h for the contract and the failure classes).
 *
 * libcurl's socket interface on epoll: curl says which sockets it waits on (on_socket) and when
 * it next needs to run (on_timer); a turn acts on the sockets epoll reports ready and on the
 * timer when it is due, so its cost follows what is ready, not what is in flight (the
 * curl_multi_poll / curl_multi_perform pair walked every transfer and polled every socket each
 * turn). Easy handles, with their answer buffers, go back to a bounded pool when a call ends
 * and serve the next calls, so a call allocates nothing of its own in the common case. A
 * request goes out in one write (headers and body in one TLS record). A connection lets
 * OpenSSL release its read and write buffers (~2 x 16.5 KiB) when they are empty, as libcurl
 * sets it up: ~17 KiB less a connection waiting for its answer, for no CPU measured on
 * jemalloc (docs/perf/ROUNDS.md, eleventh round).
 *
 * The calls are spread over SHARDS multi handles, each with its own connection cache: libcurl
 * 7.88 walks a cache's connections to the host to find an idle one for each call and again when
 * a call's handle is removed (curl_multi_remove_handle looks for the connection it last used,
 * to close it if it was connect-only), so a call's cost grew with the connections open — at 512
 * calls in flight ~5 % of the worker's CPU (ROUNDS.md, twenty-fifth round). A call goes to the
 * shard with the fewest calls in flight, the first of them on a tie, so that calls one at a time
 * keep using one shard and its connection.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "card.h"

/*
 * Idle easy handles kept for reuse: as many as the engine keeps in flight by default
 * (PAYLINK_MAX_IN_FLIGHT, 512), so a steady load takes every handle from the pool; a client
 * never holds more than it had in flight at its peak.
 */
#define POOL_MAX 512
/* An answer buffer larger than this is freed when its call ends (answers are a few KiB). */
#define KEEP_BUF (16 * 1024)
#define RECV_BUF (4 * 1024)
/* auth_service.max_concurrent's upper bound (001_service_bureau.sql). */
#define MAX_CONNECTIONS 10000
/* Idle handles that stayed unused for a whole interval are freed (see pool_trim). */
#define TRIM_MS 30000
/* Ready sockets taken from epoll in one turn; the rest stay ready for the next turn. */
#define EVENTS_MAX 256
/* The caller's own descriptors that pl_http_wait polls along. */
#define EXTRA_MAX 16

/* Header lines of a call: Content-Type, Expect, SOAPAction, the auth and the extra line. */
#define HEADERS_MAX 5
/* Multi handles a client spreads its calls over (see the top of this file). */
#define SHARDS 8
/*
 * How long a host stays held back (see hung_host) after the last lookup of it that a call left
 * running, when no lookup of it has answered since. Only a cap, so that a host nobody calls is
 * not held forever: an answer lifts the hold long before in the common case. It is far past the
 * longest system lookup: glibc gives up after resolv.conf's timeout times its attempts for each
 * name server (5 s x 2, up to 3 servers, by default), but single-request, search domains tried
 * one after the other (ndots:5) and longer timeouts make that longer, so a time as short as
 * that (30 s here before) could lift a hold while lookups left running still ran.
 */
#define LOOKUP_HOLD_MAX_MS (5 * 60 * 1000)
/*
 * A lookup that failed ("could not resolve") sooner than this had no query time out (glibc's
 * shortest timeout is 1 s): the name server answered, there is nothing to hold back. One that
 * failed later timed out on the way and keeps the hold.
 */
#define LOOKUP_QUICK_MS 1000
/* Hosts whose lookups were left running, tracked at once (a worker talks to a few bureaus). */
#define HUNG_MAX 16
/* Longer host names (DNS allows 253 characters) are never held back. */
#define HOST_MAX 256
/* A hold's key: a host name, ':' and a port (see key_write). */
#define KEY_MAX (HOST_MAX + sizeof ":65535" - 1)

/* One multi handle, its connection cache and its timer. */
typedef struct shard {
    struct pl_http *h;
    CURLM *multi;
    int64_t timer_due; /* CLOCK_MONOTONIC ms when curl wants to run, -1: no timer */
    size_t n_live;     /* calls in flight on it */
} shard;

typedef struct xfer {
    pl_http *h;
    shard *sh; /* the multi handle of its call */
    CURL *easy;
    pl_http_call call; /* url and proxy point at own (below); the rest is the caller's */
    /* The URL and proxy, copied: a "not sent" retry sets them again, after the caller's
     * strings may be gone (the engine builds its URL on the stack). Kept with the handle. */
    char *own;
    size_t own_cap;
    pl_http_cb cb;
    void *arg;
    /* Kept with the handle across calls, up to KEEP_BUF. Holds zeros past len: an answer is
     * wiped when its call ends (answer_wipe), and a grown buffer starts zeroed (on_write). */
    char *buf;
    size_t len, cap;
    bool too_big;
    bool request_sent;   /* this attempt's request went out on a connection (on_prereq) */
    bool resend_refused; /* libcurl was about to send it again: refused (on_prereq) */
    long connects_seen;  /* this attempt's new connections counted so far (count_connection) */
    int attempts;
    /* The header list lives here, not in curl_slist_append's allocations (see headers_set). */
    struct curl_slist headers[HEADERS_MAX];
    char content_type_line[256], soap_action_line[256];
    char errbuf[CURL_ERROR_SIZE];
    struct xfer *prev, *next; /* h->live, or h->pool (next only) */
    /* When this attempt began (CLOCK_MONOTONIC ms), and how long of it had passed waiting for
     * its host's lookup (see hung_host) when libcurl last started it. */
    int64_t attempt_at;
    long waited_ms;
    /* What libcurl looks up for the call, its hold's key (see hung_host): "host:port", the host
     * the first key_host characters; worked out once a call, at its first lookup (lookup_key).
     * "" when it could not be: the call is never held back. */
    bool key_known;
    size_t key_host;
    char key[KEY_MAX];
    /* This attempt's name lookup (on_resolve): whether libcurl began one, and when. */
    bool lookup_began;
    int64_t lookup_at;
    bool lookup_refused; /* held back by on_resolve: it waits for the probe (hold_back) */
    /* The host it is the probe of (see hung_host; that host's probe is x only while its
     * `probe` says so), and the host it waits for, among its waiters, soonest due first. */
    struct hung_host *probe_of, *wait_on;
    struct xfer *wait_prev, *wait_next;
    int64_t wait_due; /* CLOCK_MONOTONIC ms: its attempt's connect time is out */
} xfer;

/*
 * A host whose name lookup a call left running (see on_resolve, lookup_end and hung_run).
 * libcurl looks a name up on a thread of its own, and a call that ends before the lookup does
 * leaves that thread to finish in the background (CURLOPT_QUICK_EXIT, see xfer_start) for as
 * long as the system resolver takes. When a bureau's DNS hangs, every call to it would leave
 * one more: a busy worker piled up thousands of threads (memory, the pids limit), and a call
 * that could not get one failed anyway. So while a host is held, one call at a time looks it
 * up (the probe), and the others that would have to wait for that lookup: they leave libcurl
 * (nothing sent, no thread started) and wait on the host's list, each holding its place in
 * flight. When the probe's lookup answers, they start again and find the address in libcurl's
 * DNS cache; when the probe ends without an answer, the waiter with the most time left starts
 * again as the next probe; a waiter whose attempt's connect time runs out ends not sent. (Ending
 * the others at once, as before, turned calls away while the DNS was well: after one lookup
 * left running, a burst's first call resolved in a millisecond while the others, which reached
 * the lookup in the same turn, failed with 150.)
 *
 * A hold is keyed by host and port, as libcurl's DNS cache is (see key_write): a probe's answer
 * fills the cache entry of its own port only, so a call to the host on another port that waited
 * for it (the hold was keyed by host name before) found no address and looked the name up after
 * all. Calls to the host on another port are not held back. A lookup of the name that answers,
 * or fails without a query timing out (LOOKUP_QUICK_MS), lifts its holds on every port
 * (hung_lift): the DNS answers for it again. Else a hold lasts until LOOKUP_HOLD_MAX_MS after
 * the last lookup left running.
 */
typedef struct hung_host {
    char name[KEY_MAX]; /* its key ("host:port", see key_write); "" when the slot is free */
    int64_t until;      /* CLOCK_MONOTONIC ms: the cap of the hold (LOOKUP_HOLD_MAX_MS) */
    /* The call whose lookup of it runs now, or that was started again to look it up; NULL
     * when none. */
    struct xfer *probe;
    struct xfer *waiters, *waiters_tail; /* held back (x->wait_on), by wait_due */
    bool lifted; /* a lookup of the name answered: the waiters go again, the slot is freed */
} hung_host;

/*
 * One socket curl watches. epoll's events point at it rather than carry the descriptor, so an
 * event that was already queued for a socket curl has since removed (and whose number a new
 * socket may have taken in the same turn) reaches the old record, marked dead, and is dropped.
 * Dead records are reused only after the turn's events are spent (sock_reap).
 *
 * A connection's socket that curl stops watching when its call ends (CURL_POLL_REMOVE) while
 * registered for input only is parked instead: it stays in epoll, its record kept by
 * descriptor (h->fds), and when curl watches it again for the next call on the connection the
 * registration is already what curl asks for. A call on a kept connection then changes epoll
 * not at all, where it cost an EPOLL_CTL_ADD and an EPOLL_CTL_DEL (two of the ~12 system calls a
 * call cost the worker). Parked until: curl watches it again; an event comes for it (the bureau
 * closed the idle connection, or sent something unasked): it leaves epoll then, so a
 * level-triggered event cannot repeat; or curl closes it (on_close; the kernel drops a closed
 * descriptor from epoll by itself). Only sockets that curl opened through on_open for a
 * connection are parked, and a descriptor on_open hands out again drops whatever was parked
 * under its number, so a registration is never taken for a socket it does not describe.
 */
typedef struct sock {
    shard *sh; /* whose multi handle watches it */
    curl_socket_t fd;
    int what;        /* CURL_POLL_IN / _OUT / _INOUT; 0 while parked */
    uint32_t events; /* what epoll has registered for fd (0: nothing) */
    bool dead;
    bool parked;
    struct sock *next; /* in h->dead_socks or h->spare_socks while not watched */
    struct sock *all;  /* every record of h (as many as sockets were ever watched at once) */
} sock;

/* What h knows of one descriptor number (h->fds). */
typedef struct fd_note {
    bool conn;    /* a connection's socket curl opened through on_open and has not closed */
    sock *parked; /* its parked record, or NULL */
} fd_note;

struct pl_http {
    shard shards[SHARDS];
    CURLSH *share;
    char *ca_file;
    size_t max_body;
    int epfd;
    int sock_errno; /* an epoll registration failed (reported by pl_http_wait) */
    xfer *live;
    size_t n_live;
    xfer *pool;
    size_t n_pool;
    size_t pool_low; /* the fewest idle handles since trim_at was set */
    int64_t trim_at; /* CLOCK_MONOTONIC ms of the next trim, 0: not yet set */
    int trim_ms;     /* pool trim interval */
    sock *all_socks, *dead_socks, *spare_socks;
    size_t n_socks;  /* watched by curl */
    size_t n_parked; /* parked (see sock) */
    fd_note *fds;    /* by descriptor number, grown on demand */
    size_t n_fds;
    hung_host hung[HUNG_MAX]; /* see hung_host */
    size_t n_hung;            /* slots in use */
    size_t n_held;            /* calls waiting on a hung_host */
    int lookup_max_ms;        /* LOOKUP_HOLD_MAX_MS but in tests */
    long dns_cache_s;         /* CURLOPT_DNS_CACHE_TIMEOUT in tests; -1: libcurl's (60 s) */
    pl_http_counts counts;
};

static bool curl_ready;
const char *pl_http_outcome_name(pl_http_outcome o)
{
    switch (o) {
    case PL_HTTP_OK:
        return "ok";
    case PL_HTTP_NOT_SENT:
        return "not_sent";
    case PL_HTTP_TIMEOUT:
        return "timeout";
    case PL_HTTP_CONN_LOST:
        return "connection_lost";
    case PL_HTTP_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- sockets and the timer (curl's callbacks: they only take notes, never drive curl) ---- */

/* The note of descriptor fd, grown to hold it when grow; NULL when fd has none (or no memory). */
static fd_note *fd_note_of(pl_http *h, curl_socket_t fd, bool grow)
{
    if (fd < 0)
        return NULL;
    size_t i = (size_t)fd;
    if (i < h->n_fds)
        return &h->fds[i];
    if (!grow)
        return NULL;
    size_t n = h->n_fds ? h->n_fds : 64;
    while (n <= i)
        n *= 2;
    fd_note *f = realloc(h->fds, n * sizeof *f);
    if (!f)
        return NULL;
    memset(f + h->n_fds, 0, (n - h->n_fds) * sizeof *f);
    h->fds = f;
    h->n_fds = n;
    return &h->fds[i];
}

/* A record for a socket curl starts watching: a spare one, or new. */
static sock *sock_new(pl_http *h, curl_socket_t fd)
{
    sock *s = h->spare_socks;
    if (s) {
        h->spare_socks = s->next;
    } else {
        if (!(s = malloc(sizeof *s)))
            return NULL;
        s->all = h->all_socks;
        h->all_socks = s;
    }
    s->fd = fd;
    s->what = 0;
    s->events = 0;
    s->dead = false;
    s->parked = false;
    s->next = NULL;
    h->n_socks++;
    return s;
}

/* s is done with: dead until the turn's events are spent. Its registration must be gone. */
static void sock_bury(pl_http *h, sock *s)
{
    if (s->parked) {
        fd_note *f = fd_note_of(h, s->fd, false);
        if (f && f->parked == s)
            f->parked = NULL;
        s->parked = false;
        h->n_parked--;
    } else {
        h->n_socks--;
    }
    s->dead = true;
    s->next = h->dead_socks;
    h->dead_socks = s;
}

/* s leaves epoll, and is dead until the turn's events are spent. */
static void sock_kill(pl_http *h, sock *s)
{
    /* Fails harmlessly when the descriptor was closed already (the kernel dropped it). */
    if (s->events) {
        epoll_ctl(h->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        h->counts.epoll_changes++;
        s->events = 0;
    }
    sock_bury(h, s);
}

/* Recycles the dead records; only once no epoll event read earlier can still point at them. */
static void sock_reap(pl_http *h)
{
    while (h->dead_socks) {
        sock *s = h->dead_socks;
        h->dead_socks = s->next;
        s->next = h->spare_socks;
        h->spare_socks = s;
    }
}

/* Registers what curl waits for on s (s->what): nothing to do when epoll has it already; else ADD
 * when s has no registration and MOD when it has one, each falling back to the other. */
static int sock_watch(pl_http *h, sock *s)
{
    struct epoll_event ev = {.data.ptr = s};
    if (s->what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (s->what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (s->events && s->events == ev.events)
        return 0;
    int op = s->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    h->counts.epoll_changes++;
    int rc = epoll_ctl(h->epfd, op, s->fd, &ev);
    /*
     * ENOENT: curl closed a socket without telling (the kernel dropped it from the set) and
     * the number came back for a new one that curl still files under the old record.
     * EEXIST: a registration curl removed without our hearing of it.
     */
    if (rc != 0 && errno == ENOENT && op == EPOLL_CTL_MOD)
        rc = epoll_ctl(h->epfd, EPOLL_CTL_ADD, s->fd, &ev);
    else if (rc != 0 && errno == EEXIST && op == EPOLL_CTL_ADD)
        rc = epoll_ctl(h->epfd, EPOLL_CTL_MOD, s->fd, &ev);
    s->events = rc == 0 ? ev.events : 0;
    return rc;
}

/* curl no longer watches s: parked when it may be (see sock), else out of epoll. */
static void sock_unwatch(pl_http *h, sock *s)
{
    fd_note *f = fd_note_of(h, s->fd, false);
    if (f && f->conn && !f->parked && s->events == EPOLLIN) {
        s->parked = true;
        s->what = 0;
        f->parked = s;
        h->n_socks--;
        h->n_parked++;
        return;
    }
    sock_kill(h, s);
}

/* The descriptor fd is no longer what a parked record of it registered (closed, or its number
 * handed out again): the record goes, without touching epoll (the kernel dropped a closed
 * descriptor's registration itself). */
static void fd_forget(pl_http *h, curl_socket_t fd)
{
    fd_note *f = fd_note_of(h, fd, false);
    if (!f)
        return;
    if (f->parked) {
        f->parked->events = 0;
        sock_bury(h, f->parked);
    }
    f->conn = false;
}

/* CURLOPT_OPENSOCKETFUNCTION: the socket curl would open, noted as a connection's. */
static curl_socket_t on_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    pl_http *h = clientp;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    /* A record still parked under this number describes a socket closed without our hearing of
     * it: dropped. */
    fd_forget(h, fd);
    fd_note *f = purpose == CURLSOCKTYPE_IPCXN ? fd_note_of(h, fd, true) : NULL;
    if (f)
        f->conn = true; /* without memory for the note the socket is simply never parked */
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: curl closes a socket it opened through on_open. */
static int on_close(void *clientp, curl_socket_t fd)
{
    fd_forget(clientp, fd);
    return close(fd);
}

/*
 * CURLMOPT_SOCKETFUNCTION. Never returns -1: that would mark the multi handle dead for good.
 * A registration that fails is reported by the next pl_http_wait; the transfer then ends on
 * its own timeout.
 */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    shard *sh = userp;
    pl_http *h = sh->h;
    sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            sock_unwatch(h, s);
        return 0;
    }
    if (!s) {
        fd_note *f = fd_note_of(h, fd, false);
        if (f && f->parked) {
            /* The next call on a parked connection: watched again, registered already. */
            s = f->parked;
            f->parked = NULL;
            s->parked = false;
            h->n_parked--;
            h->n_socks++;
        } else if (!(s = sock_new(h, fd))) {
            h->sock_errno = ENOMEM;
            return 0;
        }
        s->sh = sh;
        curl_multi_assign(sh->multi, fd, s);
    }
    s->what = what;
    if (sock_watch(h, s) != 0)
        h->sock_errno = errno;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 deletes the timer, 0 asks to run as soon as possible. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    shard *sh = userp;
    sh->timer_due = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    return 0;
}

/* ---- the client ---------------------------------------------------------------------- */

pl_http *pl_http_new(const char *ca_file, size_t max_body, char *errstr, size_t errstr_size)
{
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            pl_err_set(PL_ERR_HTTP, errstr, errstr_size, "curl_global_init failed");
            return NULL;
        }
        curl_ready = true;
    }
    pl_http *h = calloc(1, sizeof *h);
    if (!h)
        goto nomem;
    h->epfd = -1;
    h->trim_ms = TRIM_MS;
    h->lookup_max_ms = LOOKUP_HOLD_MAX_MS;
    h->dns_cache_s = -1;
    h->max_body = max_body ? max_body : 1024 * 1024;
    if (ca_file && *ca_file && !(h->ca_file = strdup(ca_file)))
        goto nomem;
    for (int i = 0; i < SHARDS; i++) {
        h->shards[i].h = h;
        h->shards[i].timer_due = -1;
        if (!(h->shards[i].multi = curl_multi_init()))
            goto nomem;
    }
    h->share = curl_share_init();
    if (!h->share)
        goto nomem;
    if ((h->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        pl_err_set(PL_ERR_HTTP, errstr, errstr_size, "epoll_create1: %s", strerror(errno));
        goto fail;
    }
    /*
     * One TLS session cache and DNS cache for all transfers: a new connection resumes the
     * session of an earlier one where the bureau issues tickets (no certificate to read and
     * check; test_sim_server's test_paylink_client_resumes). Not every one in a burst: OpenSSL
     * makes a TLS 1.3 ticket single-use on the client (the session is marked not resumable when
     * a handshake with it finishes) and libcurl 7.88 keeps one ticket a host, so a connection
     * started between that and the next ticket's arrival makes a full handshake (10-30 % of a
     * burst of 512 after an idle 30 s; docs/perf/ROUNDS.md, twenty-sixth round). libcurl 8.12
     * keeps several tickets a peer.
     */
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    /*
     * The connection cache's cap counts the connections in use too: with more calls in flight
     * than the cap, every finished call closed an idle connection and the next one paid a new
     * TLS handshake (seen at 5,000 in flight with the old cap of 1,024). libcurl's default
     * (four per transfer in flight) follows the load down as well as up, so a dip in the calls
     * in flight closed connections the next wave had to open again (3,092 handshakes for
     * 10,000 deposits). The cap is the most calls a bureau may have at once
     * (auth_service.max_concurrent); idle connections beyond the need are retired by the
     * bureau or by CURLOPT_MAXAGE_CONN.
     */
    for (int i = 0; i < SHARDS; i++) {
        shard *sh = &h->shards[i];
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTIONS);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
    }
    return h;
nomem:
    pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
    if (h) {
        for (int i = 0; i < SHARDS; i++)
            if (h->shards[i].multi)
                curl_multi_cleanup(h->shards[i].multi);
        if (h->share)
            curl_share_cleanup(h->share);
        if (h->epfd >= 0)
            close(h->epfd);
        free(h->ca_file);
        free(h);
    }
    return NULL;
}

/* ---- name lookups left running (see hung_host) -------------------------------------- */

/*
 * What libcurl looks up for a call to url through proxy (NULL or "": none), as "host:port" in
 * out (n bytes; *host_len: the host's length): the proxy's host and port when there is one,
 * else the URL's. The port is in it because libcurl's DNS cache keys its entries by host and
 * port (hostip.c, create_hostcache_id). libcurl's URL parser reads both, with the flags and the
 * default ports of libcurl's own reading of CURLOPT_URL and CURLOPT_PROXY (url.c,
 * parseurlandfillconn and parse_proxy, 7.88), so that user information, an IPv6 address in
 * brackets, an explicit port or none read as libcurl reads them: a URL without a port has its
 * scheme's (443 for https); a proxy without one 443 for an https:// proxy, else 1080 (libcurl's
 * default proxy port; CURLOPT_PROXYPORT is never set here). Returns 0, or PL_ERR_INVALID
 * (out "") when the string does not parse (libcurl will fail the call itself) or the key does
 * not fit: such a call is never held back. The parser allocates: see lookup_key. Its copies of
 * credentials in the strings are freed unwiped, as libcurl's own parse frees them for every
 * attempt.
 */
static int key_write(const char *url, const char *proxy, char *out, size_t n, size_t *host_len)
{
    bool proxied = proxy && *proxy;
    char *host = NULL, *port = NULL, *scheme = NULL;
    int rc = PL_ERR_INVALID;
    CURLU *u = curl_url();
    if (n > 0)
        out[0] = '\0';
    *host_len = 0;
    if (!u || !url ||
        curl_url_set(u, CURLUPART_URL, proxied ? proxy : url,
                     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, proxied ? CURLU_URLDECODE : 0) != CURLUE_OK)
        goto done;
    if (!proxied) {
        if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
            goto done;
    } else if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
            goto done;
    }
    const char *p = port ? port : strcasecmp(scheme, "https") == 0 ? "443" : "1080";
    size_t hn = strlen(host);
    int w = snprintf(out, n, "%s:%s", host, p);
    if (hn == 0 || hn >= HOST_MAX || w < 0 || (size_t)w >= n) {
        if (n > 0)
            out[0] = '\0';
        goto done;
    }
    *host_len = hn;
    rc = 0;
done:
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

int pl_http_lookup_key(const char *url, const char *proxy, char *out, size_t n)
{
    size_t host_len;
    return key_write(url, proxy, out, n, &host_len);
}

/*
 * x's key (see key_write), worked out at its call's first lookup and kept for the call's other
 * attempts and waits: once a call, and only for the calls that need a lookup, as libcurl's URL
 * parser allocates (a call on a kept connection or to a cached name allocates nothing here).
 */
static const char *lookup_key(xfer *x)
{
    if (!x->key_known) {
        x->key_known = true;
        key_write(x->call.url, x->call.proxy, x->key, sizeof x->key, &x->key_host);
    }
    return x->key;
}

static hung_host *hung_find(pl_http *h, const char *key)
{
    if (h->n_hung == 0 || !key[0])
        return NULL;
    for (size_t i = 0; i < HUNG_MAX; i++) {
        hung_host *e = &h->hung[i];
        if (e->name[0] && strcasecmp(e->name, key) == 0)
            return e;
    }
    return NULL;
}

/* The hold of x's call's host and port, or NULL. */
static hung_host *hung_of(xfer *x)
{
    return hung_find(x->h, lookup_key(x));
}

/* Frees e's slot. It has no waiters (hung_run moves them first). */
static void hung_drop(pl_http *h, hung_host *e)
{
    if (e->probe)
        e->probe->probe_of = NULL;
    e->name[0] = '\0';
    e->probe = NULL;
    e->lifted = false;
    h->n_hung--;
}

/*
 * A slot for key, which has none: a free one, else the idle one (no probe, nobody waiting)
 * held the shortest. NULL when there is no key (see key_write), or when every slot is busy
 * (more hosts than HUNG_MAX hanging at once: this one is not held back).
 */
static hung_host *hung_add(pl_http *h, const char *key)
{
    if (!key[0])
        return NULL;
    hung_host *e = NULL;
    for (size_t i = 0; i < HUNG_MAX; i++) {
        hung_host *c = &h->hung[i];
        if (!c->name[0]) {
            e = c;
            break;
        }
        if (!c->probe && !c->waiters && (!e || c->until < e->until))
            e = c;
    }
    if (!e)
        return NULL;
    if (e->name[0])
        hung_drop(h, e);
    snprintf(e->name, sizeof e->name, "%s", key);
    e->until = 0;
    e->probe = NULL;
    e->waiters = e->waiters_tail = NULL;
    e->lifted = false;
    h->n_hung++;
    return e;
}

/* x waits on e, in the order of wait_due (new waiters come last, as a rule: from the tail). */
static void wait_add(hung_host *e, xfer *x)
{
    xfer *after = e->waiters_tail;
    while (after && after->wait_due > x->wait_due)
        after = after->wait_prev;
    x->wait_on = e;
    x->wait_prev = after;
    x->wait_next = after ? after->wait_next : e->waiters;
    if (x->wait_next)
        x->wait_next->wait_prev = x;
    else
        e->waiters_tail = x;
    if (after)
        after->wait_next = x;
    else
        e->waiters = x;
    x->h->n_held++;
}

static void wait_remove(xfer *x)
{
    hung_host *e = x->wait_on;
    if (x->wait_prev)
        x->wait_prev->wait_next = x->wait_next;
    else
        e->waiters = x->wait_next;
    if (x->wait_next)
        x->wait_next->wait_prev = x->wait_prev;
    else
        e->waiters_tail = x->wait_prev;
    x->wait_on = NULL;
    x->wait_prev = x->wait_next = NULL;
    x->h->n_held--;
}

/*
 * A lookup of x's host name answered, or failed without a query timing out: the DNS answers for
 * that name again, so its holds are lifted on every port (the waiters for another port than
 * x's find no address in the cache, and look the name up themselves, at once).
 */
static void hung_lift(pl_http *h, xfer *x)
{
    const char *key = lookup_key(x);
    size_t n = x->key_host;
    if (h->n_hung == 0 || !key[0])
        return;
    for (size_t i = 0; i < HUNG_MAX; i++) {
        hung_host *e = &h->hung[i];
        if (e->name[0] && strncasecmp(e->name, key, n) == 0 && e->name[n] == ':')
            e->lifted = true;
    }
}

/* x becomes e's probe (e has none). */
static void probe_set(hung_host *e, xfer *x)
{
    e->probe = x;
    x->probe_of = e;
}

/* x is no longer a probe (its attempt ended, or it needed no lookup). */
static void probe_clear(xfer *x)
{
    if (x->probe_of && x->probe_of->probe == x)
        x->probe_of->probe = NULL;
    x->probe_of = NULL;
}

/*
 * CURLOPT_RESOLVER_START_FUNCTION: libcurl is about to look a name up for x (on the loop's
 * thread, inside curl_multi_socket_action). It asks only when it needs a new connection and the
 * shared DNS cache has no answer, so calls on kept connections and to a host resolved recently
 * are never held back. While the host is held and another call of ours is its probe, this one
 * is refused: libcurl fails it as "could not resolve" before it starts a thread, and finish
 * makes it wait (hold_back). Only notes are taken here: libcurl must not be driven from its own
 * callback.
 */
static int on_resolve(void *resolver_state, void *reserved, void *userp)
{
    (void)resolver_state;
    (void)reserved;
    xfer *x = userp;
    pl_http *h = x->h;
    /* libcurl's own resend of a request already sent, on a new connection (a kept one died
     * before the answer's first byte; the host's DNS cache entry had expired). on_prereq would
     * refuse it; it must not be held back either: parked and restarted (an attempt clears
     * request_sent), it would be sent again, or reported never sent (150: the order system
     * free to send it again). Refused as on_prereq refuses it: the connection was lost after
     * the request was sent, an unknown outcome. */
    if (x->request_sent) {
        x->resend_refused = true;
        return 1;
    }
    hung_host *e = hung_of(x);
    if (e && !e->lifted) {
        if (e->probe && e->probe != x) {
            x->lookup_refused = true;
            h->counts.lookups_held++;
            return 1;
        }
        probe_set(e, x);
    }
    x->lookup_began = true;
    x->lookup_at = now_ms();
    return 0;
}

/*
 * After x's attempt ended (rc: its result): notes whether its name lookup, if it began one, was
 * left running. libcurl sets CURLINFO_NAMELOOKUP_TIME_T (to at least 1 us) once a lookup has
 * given an address, and reports CURLE_COULDNT_RESOLVE_HOST (or _PROXY) only once the lookup
 * thread has ended with none (or could not start); any other end while the time is still 0 —
 * the attempt's time ran out, or it was removed — leaves the thread running (test_http_dns). An
 * answer, or a failure without a query timing out, lifts the host's holds (hung_lift); a lookup
 * left running holds its host and port back, or holds them longer.
 */
static void lookup_end(pl_http *h, xfer *x, CURLcode rc)
{
    probe_clear(x);
    if (!x->lookup_began)
        return;
    x->lookup_began = false;
    curl_off_t resolved = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_NAMELOOKUP_TIME_T, &resolved) == CURLE_OK &&
        resolved > 0) {
        hung_lift(h, x);
        return;
    }
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY) {
        if (now_ms() - x->lookup_at < LOOKUP_QUICK_MS)
            hung_lift(h, x);
        return;
    }
    hung_host *e = hung_of(x);
    h->counts.lookups_left++;
    if (h->lookup_max_ms == 0)
        return;
    if (!e && !(e = hung_add(h, lookup_key(x))))
        return;
    /* (A hold lifted by another call's answer in this turn stays lifted: the DNS answers.) */
    if (e->until < x->lookup_at + h->lookup_max_ms)
        e->until = x->lookup_at + h->lookup_max_ms;
}

void pl_http_set_lookup_max(pl_http *h, int ms)
{
    h->lookup_max_ms = ms > 0 ? ms : 0;
}

void pl_http_set_dns_cache_timeout(pl_http *h, int seconds)
{
    h->dns_cache_s = seconds >= 0 ? seconds : -1;
}

/*
 * Counts a connection the attempt made since it last looked (libcurl's count of the
 * transfer's new connections grew), its TLS handshake done: a full handshake or a resumed
 * session. Called where the transfer has its connection (after the transfer it is gone, and
 * with it the TLS session to ask).
 */
static void count_connection(pl_http *h, xfer *x)
{
    long made = 0;
    curl_off_t tls_done = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &made) != CURLE_OK ||
        made <= x->connects_seen)
        return;
    x->connects_seen = made;
    if (curl_easy_getinfo(x->easy, CURLINFO_APPCONNECT_TIME_T, &tls_done) != CURLE_OK ||
        tls_done <= 0)
        return;
    struct curl_tlssessioninfo *ti = NULL;
    if (curl_easy_getinfo(x->easy, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK && ti &&
        ti->backend == CURLSSLBACKEND_OPENSSL && ti->internals &&
        SSL_session_reused((SSL *)ti->internals))
        h->counts.tls_resumed++;
    else
        h->counts.tls_full++;
}

/*
 * libcurl calls this when a connection is ready and the request is about to go out on it. It
 * does so a second time for the same attempt only when it re-sends the request by itself: a
 * reused connection died before any byte of the answer came ("Connection died, retrying a fresh
 * connect"). The bureau may have read and acted on the first copy, so a second one could be a
 * second charge: it is refused, and the call ends as a lost connection (an unknown outcome).
 * The body is handed to libcurl whole (CURLOPT_POSTFIELDS), so that headers and body go out in
 * one write and one TLS record; this callback is what keeps libcurl from posting it twice.
 */
static int on_prereq(void *userp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    xfer *x = userp;
    count_connection(x->h, x);
    if (x->request_sent) {
        x->resend_refused = true;
        return CURL_PREREQFUNC_ABORT;
    }
    x->request_sent = true;
    return CURL_PREREQFUNC_OK;
}

/*
 * Wipes the answer in x's buffer. A stored value card generation answer (EXT generateGift,
 * Customer Engagement GenerateCard) carries a full new card number; the engine wipes every copy
 * it parses, but without this the raw answer stayed in the pooled buffer or in freed heap
 * memory until overwritten, and so in a core dump (card.h: the number lives only in memory for
 * the bureau call). Only the len bytes an answer wrote: the rest of the buffer is zeros.
 */
static void answer_wipe(xfer *x)
{
    pl_card_wipe(x->buf, x->len);
    x->len = 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if (x->len + n > x->h->max_body) {
        x->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + n + 1)
            cap *= 2;
        /* Not realloc, which would leave the answer so far in the block it frees (see
         * answer_wipe). Zeroed, so that the buffer past len never holds an earlier answer or
         * bytes nobody wrote (pl_http_pool_find reads all of it); buffers grow rarely, as
         * they are kept with their handles. */
        char *b = calloc(1, cap);
        if (!b)
            return 0;
        if (x->len)
            memcpy(b, x->buf, x->len);
        pl_card_wipe(x->buf, x->len);
        free(x->buf);
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/*
 * The call's header list, built in the xfer instead of by curl_slist_append (five allocations
 * a call). libcurl only reads the list, while the transfer runs; the auth and extra lines point
 * at the caller's strings, which stay valid until the callback (http.h).
 */
static struct curl_slist *headers_set(xfer *x)
{
    const pl_http_call *c = &x->call;
    char *lines[HEADERS_MAX];
    size_t n = 0;
    snprintf(x->content_type_line, sizeof x->content_type_line, "Content-Type: %s",
             c->content_type ? c->content_type : "application/octet-stream");
    lines[n++] = x->content_type_line;
    /* No "Expect: 100-continue" round trip before the body. */
    lines[n++] = "Expect:";
    if (c->soap_action && *c->soap_action) {
        snprintf(x->soap_action_line, sizeof x->soap_action_line, "SOAPAction: \"%s\"",
                 c->soap_action);
        lines[n++] = x->soap_action_line;
    }
    if (c->auth_header && *c->auth_header)
        lines[n++] = (char *)c->auth_header;
    if (c->extra_header && *c->extra_header)
        lines[n++] = (char *)c->extra_header;
    for (size_t i = 0; i < n; i++) {
        x->headers[i].data = lines[i];
        x->headers[i].next = i + 1 < n ? &x->headers[i + 1] : NULL;
    }
    return x->headers;
}

/* The connection wait of c's attempts (CURLOPT_CONNECTTIMEOUT_MS): the name lookup too. */
static long connect_ms_of(const pl_http_call *c)
{
    long ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 10000L;
    return ms < c->timeout_ms ? ms : c->timeout_ms;
}

/* Clears what an attempt's run learnt and adds x's handle to its multi handle. */
static int attempt_add(xfer *x)
{
    /* Empty after a call's end and a "not sent" attempt; the answer is "" until one arrives
     * (the buffer holds zeros past len). */
    answer_wipe(x);
    x->too_big = false;
    x->errbuf[0] = '\0';
    x->lookup_began = false;
    x->lookup_refused = false;
    x->request_sent = false;
    x->connects_seen = 0; /* libcurl counts a transfer's connections from 0 */
    x->resend_refused = false;
    return curl_multi_add_handle(x->sh->multi, x->easy) == CURLM_OK ? 0 : PL_ERR_HTTP;
}

/* (Re)arms the easy handle for an attempt and adds it to the multi handle. */
static int xfer_start(xfer *x)
{
    pl_http *h = x->h;
    const pl_http_call *c = &x->call;
    x->attempts++;
    x->attempt_at = now_ms();
    x->waited_ms = 0;
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    /* The caller's body, not a copy: it outlives the call (http.h). */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? c->body : "");
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    /* The connections' sockets, so that an idle one can stay in epoll (see sock). */
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
    /*
     * libcurl mallocs its upload buffer for each transfer and frees it when the transfer is
     * done; at the default 64 KiB that free makes glibc consolidate its heap on every call. Our
     * bodies are a few KiB: the smallest buffer libcurl takes (16 KiB) carries them as well.
     */
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    /* The receive buffer lives as long as the (pooled) easy handle: 16 KiB by default, per
     * call in flight. Answers are a few KiB and arrive in TLS records of at most 16 KiB, which
     * libcurl hands over in as many pieces as this takes. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RECV_BUF);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /*
     * libcurl looks the host name up on a thread of its own. When an attempt ends (its time
     * ran out, or pl_http_destroy) while that lookup still runs, libcurl would wait for the
     * thread, here on the loop's one thread: a bureau whose DNS hangs would stall every call
     * in flight for the system resolver's timeout, and their answers that came meanwhile would
     * be taken for timeouts once the loop resumes (unknown outcomes). Quick exit leaves the
     * lookup to finish in the background; its thread frees what it holds. curl_easy_reset
     * clears it, so it is set for each attempt.
     */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    /* ...and so that those lookups do not pile up, a host whose lookups hang is looked up by one
     * call at a time (on_resolve). */
    curl_easy_setopt(e, CURLOPT_RESOLVER_START_FUNCTION, on_resolve);
    curl_easy_setopt(e, CURLOPT_RESOLVER_START_DATA, x);
    curl_easy_setopt(e, CURLOPT_SHARE, h->share);
    /* libcurl's default (60 s) but in tests, which let an address go stale in a second or two
     * (pl_http_set_dns_cache_timeout). libcurl judges an entry's age by the asking handle's
     * setting, so every attempt carries it (curl_easy_reset clears it). */
    if (h->dns_cache_s >= 0)
        curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, h->dns_cache_s);
    /* Verification stays on, always; a private CA only replaces the trust store. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
        /*
         * Debian's libcurl also looks in /etc/ssl/certs (its built-in CA path) unless told not
         * to: without this the private file would add to the system store, not replace it. And
         * with a CA path libcurl cannot cache the parsed store, so every new connection read
         * and parsed the PEM file again and kept its own copy of the store.
         */
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    /* Bureau endpoints are https only; never follow redirects to somewhere else. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms_of(c));
    /*
     * The proxy is the bureau's own setting (auth_service.proxy_host, or the worker's
     * PAYLINK_PROXY_HOST), never the environment's: "" here keeps libcurl from reading
     * http_proxy, https_proxy and all_proxy. An empty no-proxy list likewise keeps it from
     * reading no_proxy / NO_PROXY, which would otherwise send a bureau whose host they name
     * around the proxy the operator set for it (and the lookup hold, which keys a proxied
     * call under the proxy's host and port, would then hold the wrong name). Without a proxy
     * the list changes nothing. curl_easy_reset clears both, so every attempt sets them.
     */
    curl_easy_setopt(e, CURLOPT_PROXY, c->proxy ? c->proxy : "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Retire idle connections before a bureau's load balancer does, so a request is rarely
     * written into a connection the far end is closing (that would be an unknown outcome):
     * the bureau's auth_service.connection_idle_s. libcurl compares whole seconds and retires
     * a connection idle longer than this when a call would reuse it. */
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, c->max_idle_s > 0 ? c->max_idle_s : 30L);
    h->counts.attempts++;
    return attempt_add(x);
}

/*
 * Starts x's attempt again after it waited for its host's lookup (see hung_host): not an
 * attempt of its own, so with what is left of the attempt's times, and the call takes no
 * longer than without the wait (the engine's call_wait_ms counts on that). The handle kept its
 * options. PL_ERR_STATE when the attempt's connect time is out.
 */
static int xfer_resume(xfer *x, int64_t now)
{
    long waited = (long)(now - x->attempt_at);
    long connect_left = connect_ms_of(&x->call) - waited;
    if (connect_left <= 0)
        return PL_ERR_STATE;
    x->waited_ms = waited;
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_left);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, x->call.timeout_ms - waited);
    return attempt_add(x);
}

static void xfer_unlink(xfer *x)
{
    pl_http *h = x->h;
    if (x->prev)
        x->prev->next = x->next;
    else
        h->live = x->next;
    if (x->next)
        x->next->prev = x->prev;
    h->n_live--;
    x->sh->n_live--;
}

static void xfer_free(xfer *x)
{
    curl_easy_cleanup(x->easy);
    pl_card_wipe(x->own, x->own_cap); /* a proxy's or URL's credentials, were there any */
    free(x->own);
    answer_wipe(x);
    free(x->buf);
    free(x);
}

/* An xfer with an easy handle: from the pool, or new. NULL when out of memory. */
static xfer *xfer_take(pl_http *h)
{
    xfer *x = h->pool;
    if (x) {
        h->pool = x->next;
        h->n_pool--;
        if (h->n_pool < h->pool_low)
            h->pool_low = h->n_pool;
        return x;
    }
    if (!(x = calloc(1, sizeof *x)))
        return NULL;
    if (!(x->easy = curl_easy_init())) {
        free(x);
        return NULL;
    }
    h->counts.easy_created++;
    return x;
}

/*
 * Back to the pool (or freed beyond POOL_MAX) once the call is over. The reset drops every
 * option, including the pointers into the finished call; connections stay in the multi
 * handle's cache and TLS sessions in the share, so the next call's start is as cheap as now.
 */
static void xfer_give(pl_http *h, xfer *x)
{
    if (h->n_pool >= POOL_MAX) {
        xfer_free(x);
        return;
    }
    curl_easy_reset(x->easy);
    answer_wipe(x);
    if (x->cap > KEEP_BUF) {
        free(x->buf);
        x->buf = NULL;
        x->cap = 0;
    }
    memset(&x->call, 0, sizeof x->call);
    x->cb = NULL;
    x->arg = NULL;
    x->prev = NULL;
    x->next = h->pool;
    h->pool = x;
    h->n_pool++;
}

int pl_http_submit(pl_http *h, const pl_http_call *call, pl_http_cb cb, void *arg)
{
    if (!h || !call || !call->url || !cb)
        return PL_ERR_INVALID;
    xfer *x = xfer_take(h);
    if (!x)
        return PL_ERR_NOMEM;
    x->h = h;
    x->call = *call;
    size_t nu = strlen(call->url) + 1, np = call->proxy ? strlen(call->proxy) + 1 : 0;
    if (nu + np > x->own_cap) {
        /* Not realloc: the old copy is wiped before it is freed. */
        char *o = malloc(nu + np);
        if (!o) {
            xfer_give(h, x);
            return PL_ERR_NOMEM;
        }
        pl_card_wipe(x->own, x->own_cap);
        free(x->own);
        x->own = o;
        x->own_cap = nu + np;
    }
    memcpy(x->own, call->url, nu);
    x->call.url = x->own;
    if (call->proxy) {
        memcpy(x->own + nu, call->proxy, np);
        x->call.proxy = x->own + nu;
    }
    if (x->call.connect_attempts < 1)
        x->call.connect_attempts = 1;
    if (x->call.timeout_ms <= 0)
        x->call.timeout_ms = 30000;
    x->cb = cb;
    x->arg = arg;
    x->attempts = 0;
    x->key_known = false; /* (a pooled handle's is its last call's) */
    headers_set(x);
    x->sh = &h->shards[0];
    for (int i = 1; i < SHARDS; i++)
        if (h->shards[i].n_live < x->sh->n_live)
            x->sh = &h->shards[i];
    x->sh->n_live++;
    x->prev = NULL;
    x->next = h->live;
    if (h->live)
        h->live->prev = x;
    h->live = x;
    h->n_live++;
    if (xfer_start(x) != 0) {
        xfer_unlink(x);
        xfer_give(h, x);
        return PL_ERR_HTTP;
    }
    h->counts.calls++;
    return 0;
}

/* Classifies a finished attempt. */
static pl_http_outcome classify(xfer *x, CURLcode rc)
{
    if (rc == CURLE_OK)
        return PL_HTTP_OK;
    if (x->too_big || x->resend_refused)
        return PL_HTTP_CONN_LOST;
    curl_off_t sent = 0, pre = 0;
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
    curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    /* Nothing of the request left for the bureau (no transfer began: connect, TLS or proxy
     * tunnel failed), so it cannot have acted on it. Once libcurl has handed the request to a
     * connection (on_prereq) the bureau may have, whatever libcurl's counters say: after its
     * retry of a reused connection that died, whose new connect failed, the upload count is 0
     * again (test_http test_connection_lost_then_refused). */
    if (!x->request_sent && sent == 0 && pre == 0)
        return PL_HTTP_NOT_SENT;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return PL_HTTP_TIMEOUT;
    return PL_HTTP_CONN_LOST;
}

/* Errors of making a connection, before any request is written on it. */
static bool connect_error(CURLcode rc)
{
    return rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_CONNECT || rc == CURLE_SSL_CONNECT_ERROR ||
           rc == CURLE_PEER_FAILED_VERIFICATION;
}

/* Ends x's call: its callback fires with r, and x goes back to the pool. */
static void call_end(xfer *x, pl_http_response *r)
{
    pl_http *h = x->h;
    xfer_unlink(x);
    x->cb(x->arg, r);
    xfer_give(h, x);
}

/*
 * Ends x, which waited for its host's lookup until its attempt's connect time ran out (or
 * could not start again): not sent, and not tried again, as a further attempt would wait
 * behind the same lookup (or start a thread of its own for it). The text says that it was held
 * back and which attempt it was in: the engine writes it after "no connection after N
 * attempts", and N, the attempts made, is then fewer than the call's connect_attempts.
 */
static void hold_give_up(xfer *x, int64_t now)
{
    const char *key = lookup_key(x);
    char err[KEY_MAX + 160];
    snprintf(err, sizeof err,
             "name lookup of %.*s hanging: held back behind another call's lookup, not sent "
             "(attempt %d of %d, not tried again)",
             (int)x->key_host, key, x->attempts, x->call.connect_attempts);
    pl_http_response r = {.outcome = PL_HTTP_NOT_SENT,
                          .error = err,
                          .body = "",
                          .attempts = x->attempts,
                          .seconds = (double)(now - x->attempt_at) / 1000.0};
    x->h->counts.held_expired++;
    call_end(x, &r);
}

/* x was held back by on_resolve: it waits for its host's probe (hung_run starts it again), or
 * starts again now when the hold has gone meanwhile. */
static void hold_back(xfer *x)
{
    hung_host *e = hung_of(x);
    if (e) {
        x->wait_due = x->attempt_at + connect_ms_of(&x->call);
        wait_add(e, x);
        return;
    }
    int64_t now = now_ms();
    if (xfer_resume(x, now) != 0)
        hold_give_up(x, now);
}

static void finish(xfer *x, CURLcode rc)
{
    pl_http *h = x->h;
    curl_multi_remove_handle(x->sh->multi, x->easy);
    lookup_end(h, x, rc);
    if (x->lookup_refused && !x->request_sent) {
        hold_back(x);
        return;
    }
    pl_http_outcome o = classify(x, rc);
    if (o == PL_HTTP_NOT_SENT && x->attempts < x->call.connect_attempts) {
        if (xfer_start(x) == 0)
            return;
    }
    pl_http_response r = {.outcome = o, .attempts = x->attempts, .too_big = x->too_big};
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &r.seconds);
    r.seconds += (double)x->waited_ms / 1000.0; /* (libcurl's clock starts again) */
    char err[CURL_ERROR_SIZE + 128];
    if (o == PL_HTTP_OK) {
        err[0] = '\0';
    } else if (x->too_big) {
        snprintf(err, sizeof err, "answer larger than %zu bytes", h->max_body);
    } else if (x->resend_refused) {
        snprintf(err, sizeof err, "connection lost after the request was sent (not sent again)");
    } else if (o == PL_HTTP_CONN_LOST && x->request_sent && connect_error(rc)) {
        /* libcurl's own retry of the request (on_prereq) failed to connect: the message of
         * that connect alone would read as "never sent". */
        snprintf(err, sizeof err,
                 "connection lost after the request was sent (not sent again; a new connection "
                 "failed: %s)",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    } else {
        snprintf(err, sizeof err, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
    r.error = err;
    r.body = x->buf ? x->buf : "";
    r.body_len = x->len;
    call_end(x, &r);
}

/*
 * Once a turn, after the finished calls were ended: moves the holds on (see hung_host). A probe
 * whose lookup has answered (libcurl sets the lookup time when it has the address, before it
 * connects) lifts its host's holds (hung_lift; first, so that every hold of the name goes on in
 * this turn); a probe started again that needed no lookup after all (a kept connection, or the
 * address cached meanwhile) stops being one. Waiters whose connect time ran out end; the others
 * go again when the hold is lifted, and the one with the most time left goes as the next probe
 * when the host has none, so that one call at a time looks the host up. An idle hold past its
 * cap is freed. Callbacks may fire (calls may be submitted).
 */
static void hung_run(pl_http *h)
{
    if (h->n_hung == 0)
        return;
    int64_t now = now_ms();
    for (size_t i = 0; i < HUNG_MAX; i++) {
        xfer *p = h->hung[i].name[0] ? h->hung[i].probe : NULL;
        curl_off_t resolved = 0;
        if (p && curl_easy_getinfo(p->easy, CURLINFO_NAMELOOKUP_TIME_T, &resolved) == CURLE_OK &&
            resolved > 0) {
            if (p->lookup_began)
                hung_lift(h, p);
            else
                probe_clear(p);
        }
    }
    for (size_t i = 0; i < HUNG_MAX; i++) {
        hung_host *e = &h->hung[i];
        if (!e->name[0])
            continue;
        while (e->waiters && e->waiters->wait_due <= now) {
            xfer *x = e->waiters;
            wait_remove(x);
            hold_give_up(x, now);
        }
        if (e->lifted) {
            while (e->waiters) {
                xfer *x = e->waiters;
                wait_remove(x);
                if (xfer_resume(x, now) != 0)
                    hold_give_up(x, now);
            }
            hung_drop(h, e);
            continue;
        }
        while (!e->probe && e->waiters) {
            xfer *x = e->waiters_tail;
            wait_remove(x);
            probe_set(e, x);
            if (xfer_resume(x, now) != 0) {
                probe_clear(x);
                hold_give_up(x, now);
            }
        }
        if (!e->probe && !e->waiters && now >= e->until)
            hung_drop(h, e);
    }
}

/* The soonest connect time of a call waiting on a hold (CLOCK_MONOTONIC ms), -1: none. */
static int64_t hung_due(const pl_http *h)
{
    int64_t due = -1;
    if (h->n_held == 0)
        return due;
    for (size_t i = 0; i < HUNG_MAX; i++) {
        const xfer *x = h->hung[i].waiters;
        if (h->hung[i].name[0] && x && (due < 0 || x->wait_due < due))
            due = x->wait_due;
    }
    return due;
}

/*
 * Ends the finished calls. Callbacks run here, outside every libcurl callback and after the
 * turn's socket actions, so a callback may submit (curl_multi_add_handle) freely.
 */
static void drain(pl_http *h)
{
    CURLMsg *m;
    int left;
    for (int i = 0; i < SHARDS; i++) {
        while ((m = curl_multi_info_read(h->shards[i].multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode rc = m->data.result;
            if (x)
                finish(x, rc);
        }
    }
}

/* What epoll saw, in curl's terms (as curl's own poll does: an error or hang-up on a socket
 * read from is "readable", so the read finds out what happened). */
static int cselect_bits(const sock *s, uint32_t ev)
{
    int bits = 0;
    if ((s->what & CURL_POLL_IN) && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        bits |= CURL_CSELECT_IN;
    if ((s->what & CURL_POLL_OUT) && (ev & EPOLLOUT))
        bits |= CURL_CSELECT_OUT;
    if ((s->what & CURL_POLL_OUT) && (ev & (EPOLLERR | EPOLLHUP)))
        bits |= CURL_CSELECT_ERR;
    return bits;
}

/* Acts on the sockets epoll reports ready now. */
static int act_on_sockets(pl_http *h)
{
    struct epoll_event ev[EVENTS_MAX];
    int n = epoll_wait(h->epfd, ev, EVENTS_MAX, 0);
    if (n < 0)
        return errno == EINTR ? 0 : PL_ERR_HTTP;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        sock *s = ev[i].data.ptr;
        /* Removed by an action on an earlier socket of this batch; its number may be a new
         * socket's already, which this stale event does not describe. */
        if (s->dead)
            continue;
        if (s->parked) {
            /* An idle connection closed by the bureau, or something unasked: curl finds out
             * when it next takes the connection; until then the socket leaves epoll. */
            sock_kill(h, s);
            continue;
        }
        int bits = cselect_bits(s, ev[i].events);
        if (!bits)
            continue; /* curl no longer waits for what happened */
        int running;
        h->counts.socket_actions++;
        if (curl_multi_socket_action(s->sh->multi, s->fd, bits, &running) != CURLM_OK)
            rc = PL_ERR_HTTP;
    }
    return rc;
}

/* Runs a shard's curl timer. A timer is one-shot: curl sets the next one (or none) while it
 * runs. */
static int act_on_timer(pl_http *h, shard *sh)
{
    int running;
    sh->timer_due = -1;
    h->counts.timer_actions++;
    CURLMcode mc = curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    /*
     * Ask curl for its next expiry rather than trust that the callback fired: a timer that woke
     * up a millisecond early (curl rounds down) must not be lost.
     */
    long next = -1;
    if (curl_multi_timeout(sh->multi, &next) == CURLM_OK)
        sh->timer_due = next < 0 ? -1 : now_ms() + next;
    return mc == CURLM_OK ? 0 : PL_ERR_HTTP;
}

/*
 * The pool keeps a handle (with its buffers, ~10-25 KiB) for each call of the busiest moment,
 * up to POOL_MAX. Once per interval the handles that were not needed during the whole interval
 * (the pool's low-water mark) are freed, so a worker's memory comes back after a burst while a
 * steady load keeps every handle it uses.
 */
static void pool_trim(pl_http *h)
{
    int64_t now = now_ms();
    if (h->trim_at != 0 && now < h->trim_at)
        return;
    for (size_t n = h->trim_at != 0 ? h->pool_low : 0; n > 0 && h->pool; n--) {
        xfer *x = h->pool;
        h->pool = x->next;
        h->n_pool--;
        xfer_free(x);
    }
    h->pool_low = h->n_pool;
    h->trim_at = now + h->trim_ms;
}

void pl_http_set_trim_interval(pl_http *h, int ms)
{
    h->trim_ms = ms > 0 ? ms : 0;
    h->trim_at = 0;
}

int pl_http_wait(pl_http *h, struct pollfd *extra, unsigned nextra, int timeout_ms)
{
    if (nextra > EXTRA_MAX)
        return PL_ERR_INVALID;
    struct pollfd pfd[1 + EXTRA_MAX];
    pfd[0] = (struct pollfd){.fd = h->epfd, .events = POLLIN};
    for (unsigned i = 0; i < nextra; i++)
        pfd[1 + i] = (struct pollfd){.fd = extra[i].fd, .events = extra[i].events};
    int wait = timeout_ms;
    int64_t now = now_ms();
    for (int i = 0; i <= SHARDS; i++) {
        /* The shards' timers, and the end of the soonest connect time of a call held back. */
        int64_t due = i < SHARDS ? h->shards[i].timer_due : hung_due(h);
        if (due < 0)
            continue;
        int64_t left = due - now;
        if (left < 0)
            left = 0;
        if (left > INT_MAX)
            left = INT_MAX;
        if (wait < 0 || left < wait)
            wait = (int)left;
    }
    int n = poll(pfd, 1 + nextra, wait);
    if (n < 0 && errno != EINTR)
        return PL_ERR_HTTP;
    for (unsigned i = 0; i < nextra; i++)
        extra[i].revents = n > 0 ? pfd[1 + i].revents : 0;
    int rc = 0;
    if (n > 0 && pfd[0].revents && act_on_sockets(h) != 0)
        rc = PL_ERR_HTTP;
    /* Events read before this point are spent: the dead records may serve new sockets. */
    sock_reap(h);
    /* At most one timer action a shard a turn: a timer curl keeps at 0 cannot spin inside one
     * call. */
    now = now_ms();
    for (int i = 0; i < SHARDS; i++) {
        shard *sh = &h->shards[i];
        if (sh->timer_due >= 0 && now >= sh->timer_due && act_on_timer(h, sh) != 0)
            rc = PL_ERR_HTTP;
    }
    drain(h);
    hung_run(h);
    pool_trim(h);
    if (h->sock_errno) {
        h->sock_errno = 0;
        rc = PL_ERR_HTTP;
    }
    return rc;
}

size_t pl_http_in_flight(const pl_http *h)
{
    return h->n_live;
}

void pl_http_stats(const pl_http *h, pl_http_counts *out)
{
    *out = h->counts;
    out->pooled = h->n_pool;
    out->sockets = h->n_socks;
    out->parked = h->n_parked;
    out->held = h->n_held;
}

size_t pl_http_pool_find(const pl_http *h, const char *needle)
{
    size_t found = 0, n = strlen(needle);
    for (const xfer *x = h->pool; x; x = x->next)
        if (x->buf && n > 0 && memmem(x->buf, x->cap, needle, n))
            found++;
    return found;
}

void pl_http_destroy(pl_http *h)
{
    if (!h)
        return;
    /* A callback may submit again; that call is cancelled in its turn. */
    while (h->live) {
        xfer *x = h->live;
        /* (A call held back is in no multi handle: the remove does nothing.) */
        if (x->wait_on)
            wait_remove(x);
        curl_multi_remove_handle(x->sh->multi, x->easy);
        pl_http_response r = {.outcome = PL_HTTP_CANCELLED,
                              .error = "shut down",
                              .body = "",
                              .attempts = x->attempts};
        xfer_unlink(x);
        x->cb(x->arg, &r);
        xfer_free(x);
    }
    while (h->pool) {
        xfer *x = h->pool;
        h->pool = x->next;
        xfer_free(x);
    }
    /* Closing the cached connections may still call on_socket: h and epfd stay until then. */
    for (int i = 0; i < SHARDS; i++)
        curl_multi_cleanup(h->shards[i].multi);
    curl_share_cleanup(h->share);
    while (h->all_socks) {
        sock *s = h->all_socks;
        h->all_socks = s->all;
        free(s);
    }
    free(h->fds);
    close(h->epfd);
    free(h->ca_file);
    free(h);
}
