/*
 * http.h: many HTTPS calls in flight on one thread (libcurl multi), for the bureau adapters.
 *
 * The engine's loop waits in pl_http_wait, which polls curl's sockets together with the
 * engine's other descriptors (the Kafka queue pipes, the PostgreSQL socket), so there is no
 * thread per request. curl's sockets sit in one epoll set (libcurl's socket interface), so a
 * turn costs what is ready, not what is in flight. Connections are reused through the multi
 * handle's cache, TLS sessions through a share handle, and easy handles (with their answer
 * buffers) through a bounded pool. TLS peer and host verification are always on; a private CA
 * file may be given (the simulator's test CA).
 *
 * Failure classification, which decides between "retry", "error" and "unknown outcome":
 *   - PL_HTTP_NOT_SENT: no byte of the request left (DNS, connect, TLS handshake failed). The
 *     bureau never saw it, so the call is retried up to connect_attempts times (seed: 3).
 *     A host's name lookup that hangs: an attempt that ends while libcurl still looks its host
 *     up leaves that lookup running on a thread (for as long as the system resolver takes), and
 *     the host and port (a proxy's when the call has one; see pl_http_lookup_key) are held:
 *     one call at a time (the probe) looks it up, and another call to them that would have to
 *     waits for that lookup, in flight, nothing sent. When the probe's lookup answers, the
 *     waiters go on (the address is in the DNS cache); when the probe ends without one, the
 *     waiter with the most time left looks the host up next. A waiter whose attempt's connect
 *     time runs out ends "name lookup of HOST hanging: held back behind another call's lookup,
 *     not sent (attempt N of M, not tried again)", without a retry (it would wait again).
 *     Waiting is not an attempt, and takes its time from the attempt it waits in, so a call
 *     takes no longer than without it. Calls on kept connections and to a host and port in the
 *     DNS cache are never held back, nor calls to the host on another port; a lookup of the
 *     name that answers, or fails without a query timing out, lifts its holds on every port;
 *     else a hold ends 5 minutes after the last lookup left running.
 *   - PL_HTTP_TIMEOUT: the request was sent and no complete answer came within timeout_ms.
 *   - PL_HTTP_CONN_LOST: the request was sent and the connection broke (or the answer was
 *     larger than the cap). Both are unknown outcomes: never a decline, never re-sent.
 *   - PL_HTTP_OK: an answer arrived (any HTTP status; the adapter reads it).
 *
 * Async contract: pl_http_submit returning 0 means the callback fires exactly once (also on
 * pl_http_destroy, with PL_HTTP_CANCELLED, a call held back included); an error return means
 * it never fires. The call's url and proxy are copied; its other strings (body, headers) must
 * stay valid until the callback.
 * Threading: one thread.
 */
#ifndef PL_HTTP_H
#define PL_HTTP_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct pl_http pl_http;

typedef enum pl_http_outcome {
    PL_HTTP_OK = 0,
    PL_HTTP_NOT_SENT,
    PL_HTTP_TIMEOUT,
    PL_HTTP_CONN_LOST,
    PL_HTTP_CANCELLED, /* abandoned by pl_http_destroy: whether it was sent is not known */
} pl_http_outcome;

const char *pl_http_outcome_name(pl_http_outcome o);

typedef struct pl_http_call {
    const char *url;  /* https://... */
    const char *body; /* POST body */
    size_t body_len;
    const char *content_type; /* e.g. "text/xml; charset=utf-8" */
    const char *soap_action;  /* NULL or "" → no SOAPAction header */
    const char *auth_header;  /* NULL, or a whole header line ("Authorization: Bearer ...") */
    const char *extra_header; /* NULL, or another whole header line (not a credential) */
    const char *proxy;        /* NULL or "" → direct ("host:port" or a URL) */
    long timeout_ms;          /* whole call, per attempt */
    long connect_timeout_ms;  /* the connection wait; 0 → min(timeout_ms, 10 s) */
    int connect_attempts;     /* >= 1 */
    long max_idle_s;          /* a pooled connection idle longer is not reused; 0 → 30 s */
} pl_http_call;

typedef struct pl_http_response {
    pl_http_outcome outcome;
    long status;      /* HTTP status, 0 when none */
    const char *body; /* NUL-terminated; valid during the callback only */
    size_t body_len;
    const char *error; /* human text when outcome != OK ("" otherwise); never holds bodies */
    int attempts;
    double seconds; /* total time of the last attempt */
    bool too_big;   /* the answer was cut off at max_body (outcome PL_HTTP_CONN_LOST) */
} pl_http_response;

typedef void (*pl_http_cb)(void *arg, const pl_http_response *r);

/*
 * ca_file: a PEM bundle to trust instead of the system store, or NULL. max_body: cap on an
 * answer's size. Returns NULL with errstr set.
 */
pl_http *pl_http_new(const char *ca_file, size_t max_body, char *errstr, size_t errstr_size);

/* Ends every call in flight (callbacks fire) and frees. NULL is fine. */
void pl_http_destroy(pl_http *h);

int pl_http_submit(pl_http *h, const pl_http_call *call, pl_http_cb cb, void *arg) PL_MUSTCHECK;

/*
 * Waits up to timeout_ms for curl's sockets or the extra descriptors (their revents are set),
 * then drives the transfers and fires the callbacks of finished calls. Returns 0 or PL_ERR_HTTP.
 */
int pl_http_wait(pl_http *h, struct pollfd *extra, unsigned nextra, int timeout_ms) PL_MUSTCHECK;

/* Calls in flight (including retries waiting, and calls held back for their host's lookup). */
size_t pl_http_in_flight(const pl_http *h);

/* Counters since pl_http_new (for tests and diagnostics). */
typedef struct pl_http_counts {
    unsigned long long calls;          /* accepted by pl_http_submit */
    unsigned long long attempts;       /* attempts started (calls plus "not sent" retries) */
    unsigned long long easy_created;   /* curl easy handles made; the other calls reused one */
    unsigned long long socket_actions; /* curl_multi_socket_action for a ready socket */
    unsigned long long timer_actions;  /* curl_multi_socket_action for curl's timer */
    unsigned long long epoll_changes;  /* epoll_ctl calls (registrations added, changed, removed) */
    /* Connections made, their TLS handshake done: a full handshake, or a session resumed (the
     * bureau issued a ticket to an earlier connection). */
    unsigned long long tls_full, tls_resumed;
    /* Attempts that ended while their name lookup still ran (left to finish on its thread);
     * calls held back to wait for their host's lookup (once each time; see PL_HTTP_NOT_SENT),
     * and those of them that ended not sent, their connect time out. */
    unsigned long long lookups_left, lookups_held, held_expired;
    size_t pooled;  /* now: idle easy handles kept for reuse */
    size_t sockets; /* now: sockets curl asked to watch */
    size_t parked;  /* now: idle connections' sockets kept in epoll */
    size_t held;    /* now: calls waiting for their host's lookup (in pl_http_in_flight) */
} pl_http_counts;

/* Fills *out. h and out must not be NULL. */
void pl_http_stats(const pl_http *h, pl_http_counts *out);

/*
 * Tests only: how many pooled handles' answer buffers hold needle anywhere in their capacity
 * (a finished call's answer must have been wiped). h and needle must not be NULL.
 */
size_t pl_http_pool_find(const pl_http *h, const char *needle);

/* Idle easy handles not needed during a whole interval of ms milliseconds (default 30 s) are
 * freed by pl_http_wait; 0 trims at every wait. The interval starts again now. */
void pl_http_set_trim_interval(pl_http *h, int ms);

/* Tests only: how long at most a host is held back after a lookup of it was left running,
 * when none answers (default 5 minutes); 0 never holds back. */
void pl_http_set_lookup_max(pl_http *h, int ms);

/*
 * Tests only: what libcurl looks up for a call to url through proxy (NULL or "": none), the key
 * of its host's hold (see PL_HTTP_NOT_SENT), in out (n bytes): "host:port" of the proxy when
 * there is one, else of the URL, read by libcurl's URL parser as libcurl reads them (user
 * information left out, an IPv6 address in its brackets, the scheme's port when none is given;
 * a proxy's 443 for https://, else 1080). Returns 0, or PL_ERR_INVALID with out "" when it
 * does not parse or does not fit (such a call is never held back).
 */
int pl_http_lookup_key(const char *url, const char *proxy, char *out, size_t n) PL_MUSTCHECK;

/* Tests only: how long an address stays in the DNS cache, in seconds (CURLOPT_DNS_CACHE_TIMEOUT;
 * libcurl's default, 60 s, unless set; negative restores it), for calls started from now on. */
void pl_http_set_dns_cache_timeout(pl_http *h, int seconds);

#endif
