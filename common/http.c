/*
 * http.c: libcurl multi transport (see http.h for the contract and the failure classes).
 */
#include "http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct xfer {
    pl_http *h;
    CURL *easy;
    struct curl_slist *headers;
    pl_http_call call; /* strings borrowed from the caller */
    pl_http_cb cb;
    void *arg;
    char *buf;
    size_t len, cap;
    bool too_big;
    size_t body_off;
    int attempts;
    char errbuf[CURL_ERROR_SIZE];
    struct xfer *prev, *next;
} xfer;

struct pl_http {
    CURLM *multi;
    CURLSH *share;
    char *ca_file;
    size_t max_body;
    xfer *live;
    size_t n_live;
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
    h->max_body = max_body ? max_body : 1024 * 1024;
    if (ca_file && *ca_file && !(h->ca_file = strdup(ca_file)))
        goto nomem;
    h->multi = curl_multi_init();
    h->share = curl_share_init();
    if (!h->multi || !h->share)
        goto nomem;
    /* One TLS session cache and DNS cache for all transfers: resumed handshakes are cheap. */
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 1024L);
    return h;
nomem:
    if (h) {
        if (h->multi)
            curl_multi_cleanup(h->multi);
        if (h->share)
            curl_share_cleanup(h->share);
        free(h->ca_file);
        free(h);
    }
    pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return NULL;
}

/*
 * The body goes out through a read callback with no seek callback on purpose: libcurl then
 * cannot rewind it, so when a reused connection dies after the bureau read the request, the
 * call fails (an unknown outcome) instead of being silently posted again on a new connection,
 * which would be a second charge.
 */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userp)
{
    xfer *x = userp;
    size_t left = x->call.body_len - x->body_off, n = size * nitems;
    if (n > left)
        n = left;
    if (n)
        memcpy(buf, x->call.body + x->body_off, n);
    x->body_off += n;
    return n;
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
        char *b = realloc(x->buf, cap);
        if (!b)
            return 0;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/* (Re)arms the easy handle for an attempt and adds it to the multi handle. */
static int xfer_start(xfer *x)
{
    pl_http *h = x->h;
    const pl_http_call *c = &x->call;
    x->len = 0;
    x->too_big = false;
    x->errbuf[0] = '\0';
    x->attempts++;
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    x->body_off = 0;
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, h->share);
    /* Verification stays on, always; a private CA only replaces the trust store. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    /* Bureau endpoints are https only; never follow redirects to somewhere else. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    long connect_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 10000L;
    if (connect_ms > c->timeout_ms)
        connect_ms = c->timeout_ms;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(e, CURLOPT_PROXY, c->proxy ? c->proxy : "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Retire idle connections before a bureau's load balancer does, so a request is rarely
     * written into a connection the far end is closing (that would be an unknown outcome). */
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 30L);
    return curl_multi_add_handle(h->multi, e) == CURLM_OK ? 0 : PL_ERR_HTTP;
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
}

static void xfer_free(xfer *x)
{
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->buf);
    free(x);
}

int pl_http_submit(pl_http *h, const pl_http_call *call, pl_http_cb cb, void *arg)
{
    if (!h || !call || !call->url || !cb)
        return PL_ERR_INVALID;
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return PL_ERR_NOMEM;
    x->h = h;
    x->call = *call;
    if (x->call.connect_attempts < 1)
        x->call.connect_attempts = 1;
    if (x->call.timeout_ms <= 0)
        x->call.timeout_ms = 30000;
    x->cb = cb;
    x->arg = arg;
    x->easy = curl_easy_init();
    if (!x->easy)
        goto fail;
    char line[256];
    snprintf(line, sizeof line, "Content-Type: %s",
             call->content_type ? call->content_type : "application/octet-stream");
    struct curl_slist *hs = curl_slist_append(NULL, line);
    /* No "Expect: 100-continue" round trip before the body. */
    if (hs)
        hs = curl_slist_append(hs, "Expect:");
    if (hs && call->soap_action && *call->soap_action) {
        snprintf(line, sizeof line, "SOAPAction: \"%s\"", call->soap_action);
        hs = curl_slist_append(hs, line);
    }
    if (hs && call->auth_header && *call->auth_header)
        hs = curl_slist_append(hs, call->auth_header);
    if (hs && call->extra_header && *call->extra_header)
        hs = curl_slist_append(hs, call->extra_header);
    if (!hs)
        goto fail;
    x->headers = hs;
    x->next = h->live;
    if (h->live)
        h->live->prev = x;
    h->live = x;
    h->n_live++;
    if (xfer_start(x) != 0) {
        xfer_unlink(x);
        goto fail;
    }
    return 0;
fail:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x);
    return PL_ERR_HTTP;
}

/* Classifies a finished attempt. */
static pl_http_outcome classify(xfer *x, CURLcode rc)
{
    if (rc == CURLE_OK)
        return PL_HTTP_OK;
    if (x->too_big)
        return PL_HTTP_CONN_LOST;
    curl_off_t sent = 0, pre = 0;
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
    curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    /* Nothing of the request left for the bureau (no transfer began: connect, TLS or proxy
     * tunnel failed), so it cannot have acted on it. */
    if (sent == 0 && pre == 0)
        return PL_HTTP_NOT_SENT;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return PL_HTTP_TIMEOUT;
    return PL_HTTP_CONN_LOST;
}

static void finish(xfer *x, CURLcode rc)
{
    pl_http *h = x->h;
    curl_multi_remove_handle(h->multi, x->easy);
    pl_http_outcome o = classify(x, rc);
    if (o == PL_HTTP_NOT_SENT && x->attempts < x->call.connect_attempts) {
        if (xfer_start(x) == 0)
            return;
    }
    pl_http_response r = {.outcome = o, .attempts = x->attempts};
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &r.seconds);
    char err[CURL_ERROR_SIZE + 64];
    if (o == PL_HTTP_OK) {
        err[0] = '\0';
    } else if (x->too_big) {
        snprintf(err, sizeof err, "answer larger than %zu bytes", h->max_body);
    } else {
        snprintf(err, sizeof err, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
    r.error = err;
    r.body = x->buf ? x->buf : "";
    r.body_len = x->len;
    xfer_unlink(x);
    x->cb(x->arg, &r);
    xfer_free(x);
}

static void drain(pl_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;
        if (x)
            finish(x, rc);
    }
}

int pl_http_wait(pl_http *h, struct pollfd *extra, unsigned nextra, int timeout_ms)
{
    struct curl_waitfd wfds[16];
    if (nextra > 16)
        return PL_ERR_INVALID;
    for (unsigned i = 0; i < nextra; i++) {
        wfds[i].fd = extra[i].fd;
        wfds[i].events = extra[i].events;
        wfds[i].revents = 0;
    }
    int running = 0;
    CURLMcode mc = curl_multi_poll(h->multi, wfds, nextra, timeout_ms, NULL);
    for (unsigned i = 0; i < nextra; i++)
        extra[i].revents = wfds[i].revents;
    if (mc != CURLM_OK)
        return PL_ERR_HTTP;
    mc = curl_multi_perform(h->multi, &running);
    drain(h);
    return mc == CURLM_OK ? 0 : PL_ERR_HTTP;
}

size_t pl_http_in_flight(const pl_http *h)
{
    return h->n_live;
}

void pl_http_destroy(pl_http *h)
{
    if (!h)
        return;
    while (h->live) {
        xfer *x = h->live;
        curl_multi_remove_handle(h->multi, x->easy);
        pl_http_response r = {.outcome = PL_HTTP_CANCELLED,
                              .error = "shut down",
                              .body = "",
                              .attempts = x->attempts};
        xfer_unlink(x);
        x->cb(x->arg, &r);
        xfer_free(x);
    }
    curl_multi_cleanup(h->multi);
    curl_share_cleanup(h->share);
    free(h->ca_file);
    free(h);
}
