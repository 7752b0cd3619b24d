/*
 * metrics.c: Prometheus registry (families of series with atomic values), text exposition, and
 * the libmicrohttpd endpoint for /metrics, /healthz and /readyz.
 *
 * Locks: reg_mu guards the family and series lists (registration appends, rendering walks);
 * render_mu serializes renders and collector calls. The order is render_mu, then reg_mu, and the
 * collector runs before reg_mu is taken, so that it may register series. ready_mu only pairs the
 * ready flag with its reason. Values are never locked: the event loop updates them with relaxed
 * atomics while the server thread reads, and a render is a snapshot per value, not across values
 * (a histogram's _count is derived from the same bucket reads as its +Inf bucket, so those two
 * always agree).
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* A render never grows beyond this; the caps on series and buckets keep real output far below. */
#define RENDER_MAX (64u * 1024 * 1024)
#define REASON_MAX 256
/* The server is for Prometheus and kubelet probes: a few connections, answered quickly. */
#define HTTP_CONNECTION_LIMIT 32
#define HTTP_TIMEOUT_SECONDS 10

typedef enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind;

struct pl_counter {
    _Atomic uint64_t value;
};

/* The double's IEEE-754 bits; see the header for why. */
struct pl_gauge {
    _Atomic uint64_t bits;
};

struct pl_histogram {
    size_t nbounds;
    double *bounds;
    _Atomic uint64_t *buckets; /* nbounds + 1 non-cumulative counts, the last one is +Inf */
    _Atomic uint64_t sum_bits;
};

typedef struct series {
    /* Rendered labels without braces, 'worker="w",a="b"', possibly "". Also the series'
     * identity within its family, since labels are sorted and escaping is deterministic. */
    char *labels;
    union {
        pl_counter counter;
        pl_gauge gauge;
        pl_histogram hist;
    } u;
    struct series *next;
} series;

typedef struct family {
    char *name;
    char *help; /* NULL: no HELP line */
    kind kind;
    series *head, *tail;
    struct family *next;
} family;

struct pl_metrics {
    char *worker; /* NULL: no worker label */

    pthread_mutex_t reg_mu;
    family *head, *tail;
    size_t nseries;

    pthread_mutex_t render_mu;
    pl_metrics_collect_fn collect;
    void *collect_opaque;

    struct MHD_Daemon *daemon;
    uint16_t port;

    atomic_bool ready;
    /* Monotonic milliseconds of the owner loop's last heartbeat; 0 = never (no check). */
    _Atomic int64_t heartbeat_ms;
    atomic_int heartbeat_limit_ms;
    atomic_bool broken;      /* pl_metrics_set_unhealthy was called */
    char broken_reason[256]; /* under ready_mu */
    pthread_mutex_t ready_mu;
    char reason[REASON_MAX];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pl_metrics_heartbeat(pl_metrics *m, int limit_ms)
{
    if (!m)
        return;
    atomic_store(&m->heartbeat_limit_ms, limit_ms);
    atomic_store(&m->heartbeat_ms, mono_ms());
}

/* ---- doubles in atomics ---- */

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static void atomic_add_double(_Atomic uint64_t *a, double d)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- a size-capped string builder ---- */

typedef struct sbuf {
    char *buf;
    size_t len, cap;
    bool failed; /* OOM or cap: every later append is ignored, sbuf_take returns NULL */
} sbuf;

static void sbuf_putn(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > RENDER_MAX) {
            b->failed = true;
            return;
        }
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = true;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sbuf_puts(sbuf *b, const char *s)
{
    sbuf_putn(b, s, strlen(s));
}

static void sbuf_printf(sbuf *b, const char *fmt, ...) PL_PRINTF(2, 3);
static void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    /* Only numbers go through here; anything longer is a bug, so fail the render. */
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = true;
        return;
    }
    sbuf_putn(b, tmp, (size_t)n);
}

static char *sbuf_take(sbuf *b)
{
    if (b->failed || !b->buf) {
        free(b->buf);
        return b->failed ? NULL : strdup("");
    }
    return b->buf;
}

/* Label values escape backslash, double quote and newline; HELP texts backslash and newline. */
static void sbuf_escaped(sbuf *b, const char *s, size_t n, bool quote)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            sbuf_putn(b, "\\\\", 2);
        else if (s[i] == '\n')
            sbuf_putn(b, "\\n", 2);
        else if (quote && s[i] == '"')
            sbuf_putn(b, "\\\"", 2);
        else
            sbuf_putn(b, s + i, 1);
    }
}

/* Shortest text that reads back as the same double (Go's ParseFloat, which Prometheus uses,
 * accepts it); "+Inf", "-Inf", "NaN" as the format spells them. Assumes the "C" locale. */
static void format_double(double v, char *out, size_t n)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Whole numbers (counts, bytes, lag) read better as integers than as %g's "1e+01". */
    if (v == trunc(v) && fabs(v) < 1e15) {
        snprintf(out, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* ---- registry ---- */

pl_metrics *pl_metrics_new(const char *worker)
{
    pl_metrics *m = calloc(1, sizeof(pl_metrics));
    if (!m)
        return NULL;
    if (worker && *worker && !(m->worker = strdup(worker))) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->reg_mu, NULL);
    pthread_mutex_init(&m->render_mu, NULL);
    pthread_mutex_init(&m->ready_mu, NULL);
    atomic_init(&m->ready, false);
    snprintf(m->reason, sizeof m->reason, "starting");
    return m;
}

static void series_free(series *s, kind k)
{
    if (k == KIND_HISTOGRAM) {
        free(s->u.hist.bounds);
        free((void *)s->u.hist.buckets);
    }
    free(s->labels);
    free(s);
}

void pl_metrics_destroy(pl_metrics *m)
{
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon); /* joins the server thread: no render runs after this */
    for (family *f = m->head, *fn; f; f = fn) {
        fn = f->next;
        for (series *s = f->head, *sn; s; s = sn) {
            sn = s->next;
            series_free(s, f->kind);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    pthread_mutex_destroy(&m->reg_mu);
    pthread_mutex_destroy(&m->render_mu);
    pthread_mutex_destroy(&m->ready_mu);
    free(m->worker);
    free(m);
}

static bool valid_name(const char *s, size_t n, bool colon)
{
    if (n == 0 || n > PL_METRICS_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

typedef struct label {
    const char *name, *value;
    size_t name_len, value_len;
} label;

static int label_cmp(const void *a, const void *b)
{
    const label *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/*
 * Turns a "k1=v1,k2=v2" spec into the canonical rendered form (worker label first, the others
 * sorted by name, values escaped). Returns a malloc'd string or NULL when the spec is invalid.
 */
static char *canonical_labels(const char *worker, const char *spec, kind k)
{
    label *ls = NULL;
    size_t nl = 0;
    sbuf b = {0};
    char *out = NULL;

    if (spec && *spec) {
        size_t len = strnlen(spec, PL_METRICS_MAX_LABELS + 1);
        if (len > PL_METRICS_MAX_LABELS)
            goto out;
        size_t max = 1;
        for (size_t i = 0; i < len; i++)
            max += spec[i] == ',';
        if (!(ls = calloc(max, sizeof(label))))
            goto out;
        const char *p = spec, *end = spec + len;
        while (p <= end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *item_end = comma ? comma : end;
            const char *eq = memchr(p, '=', (size_t)(item_end - p));
            if (!eq)
                goto out;
            label *l = &ls[nl++];
            l->name = p;
            l->name_len = (size_t)(eq - p);
            l->value = eq + 1;
            l->value_len = (size_t)(item_end - eq - 1);
            if (!valid_name(l->name, l->name_len, false))
                goto out;
            /* worker is ours; __* is reserved by Prometheus; le is the histogram's bucket. */
            if ((l->name_len == 6 && !memcmp(l->name, "worker", 6)) ||
                (l->name_len >= 2 && !memcmp(l->name, "__", 2)) ||
                (k == KIND_HISTOGRAM && l->name_len == 2 && !memcmp(l->name, "le", 2)))
                goto out;
            if (!comma)
                break;
            p = comma + 1;
        }
        qsort(ls, nl, sizeof(label), label_cmp);
        for (size_t i = 1; i < nl; i++)
            if (label_cmp(&ls[i - 1], &ls[i]) == 0)
                goto out;
    }

    sbuf_puts(&b, ""); /* an empty label set still yields "" rather than NULL */
    if (worker) {
        sbuf_puts(&b, "worker=\"");
        sbuf_escaped(&b, worker, strlen(worker), true);
        sbuf_puts(&b, "\"");
    }
    for (size_t i = 0; i < nl; i++) {
        if (worker || i > 0)
            sbuf_puts(&b, ",");
        sbuf_putn(&b, ls[i].name, ls[i].name_len);
        sbuf_puts(&b, "=\"");
        sbuf_escaped(&b, ls[i].value, ls[i].value_len, true);
        sbuf_puts(&b, "\"");
    }
    out = sbuf_take(&b);
    b.buf = NULL;
out:
    free(b.buf);
    free(ls);
    return out;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/*
 * Finds or creates the series (name, labels) of kind k. For histograms, bounds must match an
 * existing series. Returns the series or NULL (rule broken, cap, OOM). Takes reg_mu.
 */
static series *obtain(pl_metrics *m, kind k, const char *name, const char *help, const char *spec,
                      const double *bounds, size_t nbounds)
{
    if (!m || !name || !valid_name(name, strlen(name), true))
        return NULL;
    if (help && strnlen(help, PL_METRICS_MAX_HELP + 1) > PL_METRICS_MAX_HELP)
        return NULL;
    if (k == KIND_COUNTER && !has_suffix(name, "_total"))
        return NULL;
    if (k == KIND_HISTOGRAM) {
        if (!bounds || nbounds == 0 || nbounds > PL_METRICS_MAX_BUCKETS)
            return NULL;
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                return NULL;
    }
    char *labels = canonical_labels(m->worker, spec, k);
    if (!labels)
        return NULL;

    series *s = NULL;
    family *f = NULL;
    bool new_family = false;
    pthread_mutex_lock(&m->reg_mu);
    for (f = m->head; f; f = f->next)
        if (!strcmp(f->name, name))
            break;
    if (f && f->kind != k)
        goto out;
    if (f) {
        for (s = f->head; s; s = s->next)
            if (!strcmp(s->labels, labels))
                break;
        if (s) {
            /* Same series again: the same object, as long as it is the same histogram. */
            if (k == KIND_HISTOGRAM && (s->u.hist.nbounds != nbounds ||
                                        memcmp(s->u.hist.bounds, bounds, nbounds * sizeof(double))))
                s = NULL;
            goto out;
        }
    }
    if (m->nseries >= PL_METRICS_MAX_SERIES)
        goto out;

    if (!f) {
        if (!(f = calloc(1, sizeof(family))))
            goto out;
        new_family = true;
        f->kind = k;
        if (!(f->name = strdup(name)) || (help && !(f->help = strdup(help))))
            goto out;
    }
    if (!(s = calloc(1, sizeof(series))))
        goto out;
    if (k == KIND_HISTOGRAM) {
        pl_histogram *h = &s->u.hist;
        h->nbounds = nbounds;
        h->bounds = malloc(nbounds * sizeof(double));
        h->buckets = calloc(nbounds + 1, sizeof(*h->buckets));
        if (!h->bounds || !h->buckets) {
            series_free(s, k);
            s = NULL;
            goto out;
        }
        memcpy(h->bounds, bounds, nbounds * sizeof(double));
        for (size_t i = 0; i <= nbounds; i++)
            atomic_init(&h->buckets[i], 0);
        atomic_init(&h->sum_bits, dbits(0.0));
    } else if (k == KIND_GAUGE) {
        atomic_init(&s->u.gauge.bits, dbits(0.0));
    } else {
        atomic_init(&s->u.counter.value, 0);
    }
    s->labels = labels;
    labels = NULL;
    /* Publish the series only once it is complete: a render walks these lists under reg_mu. */
    if (f->tail)
        f->tail->next = s;
    else
        f->head = s;
    f->tail = s;
    if (new_family) {
        if (m->tail)
            m->tail->next = f;
        else
            m->head = f;
        m->tail = f;
        new_family = false;
    }
    m->nseries++;
out:
    if (new_family) {
        /* A family that got no series is not kept. */
        free(f->name);
        free(f->help);
        free(f);
    }
    pthread_mutex_unlock(&m->reg_mu);
    free(labels);
    return s;
}

pl_counter *pl_metrics_counter(pl_metrics *m, const char *name, const char *help,
                               const char *labels)
{
    series *s = obtain(m, KIND_COUNTER, name, help, labels, NULL, 0);
    return s ? &s->u.counter : NULL;
}

pl_gauge *pl_metrics_gauge(pl_metrics *m, const char *name, const char *help, const char *labels)
{
    series *s = obtain(m, KIND_GAUGE, name, help, labels, NULL, 0);
    return s ? &s->u.gauge : NULL;
}

pl_histogram *pl_metrics_histogram(pl_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t nbounds)
{
    series *s = obtain(m, KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
    return s ? &s->u.hist : NULL;
}

/* ---- updates ---- */

void pl_counter_add(pl_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void pl_gauge_set(pl_gauge *g, double v)
{
    if (g)
        atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

void pl_gauge_add(pl_gauge *g, double d)
{
    if (g)
        atomic_add_double(&g->bits, d);
}

void pl_histogram_observe(pl_histogram *h, double v)
{
    if (!h || isnan(v))
        return;
    /* First bound >= v; the bounds are few and sorted. */
    size_t lo = 0, hi = h->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t pl_counter_value(const pl_counter *c)
{
    return c ? atomic_load_explicit(&c->value, memory_order_relaxed) : 0;
}

double pl_gauge_value(const pl_gauge *g)
{
    return g ? bitsd(atomic_load_explicit(&g->bits, memory_order_relaxed)) : 0.0;
}

uint64_t pl_histogram_count(const pl_histogram *h)
{
    uint64_t n = 0;
    if (h)
        for (size_t i = 0; i <= h->nbounds; i++)
            n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return n;
}

/* ---- rendering ---- */

static void render_series_name(sbuf *b, const char *name, const char *suffix, const char *labels,
                               const char *le)
{
    sbuf_puts(b, name);
    sbuf_puts(b, suffix);
    if (*labels || le) {
        sbuf_puts(b, "{");
        sbuf_puts(b, labels);
        if (le) {
            sbuf_puts(b, *labels ? ",le=\"" : "le=\"");
            sbuf_puts(b, le);
            sbuf_puts(b, "\"");
        }
        sbuf_puts(b, "}");
    }
    sbuf_puts(b, " ");
}

static void render_histogram(sbuf *b, const char *name, const series *s)
{
    const pl_histogram *h = &s->u.hist;
    char num[32];
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->nbounds)
            format_double(h->bounds[i], num, sizeof num);
        else
            snprintf(num, sizeof num, "+Inf");
        render_series_name(b, name, "_bucket", s->labels, num);
        sbuf_printf(b, "%" PRIu64 "\n", cum);
    }
    format_double(bitsd(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)), num, sizeof num);
    render_series_name(b, name, "_sum", s->labels, NULL);
    sbuf_puts(b, num);
    sbuf_puts(b, "\n");
    /* The +Inf bucket is the count; using the same reads keeps them equal. */
    render_series_name(b, name, "_count", s->labels, NULL);
    sbuf_printf(b, "%" PRIu64 "\n", cum);
}

char *pl_metrics_render(pl_metrics *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (!m)
        return NULL;
    sbuf b = {0};
    char num[32];

    pthread_mutex_lock(&m->render_mu);
    if (m->collect)
        m->collect(m, m->collect_opaque);
    pthread_mutex_lock(&m->reg_mu);
    for (const family *f = m->head; f; f = f->next) {
        if (f->help) {
            sbuf_puts(&b, "# HELP ");
            sbuf_puts(&b, f->name);
            sbuf_puts(&b, " ");
            sbuf_escaped(&b, f->help, strlen(f->help), false);
            sbuf_puts(&b, "\n");
        }
        sbuf_puts(&b, "# TYPE ");
        sbuf_puts(&b, f->name);
        sbuf_puts(&b, " ");
        sbuf_puts(&b, type_names[f->kind]);
        sbuf_puts(&b, "\n");
        for (const series *s = f->head; s; s = s->next) {
            switch (f->kind) {
            case KIND_COUNTER:
                render_series_name(&b, f->name, "", s->labels, NULL);
                sbuf_printf(&b, "%" PRIu64 "\n", pl_counter_value(&s->u.counter));
                break;
            case KIND_GAUGE:
                render_series_name(&b, f->name, "", s->labels, NULL);
                format_double(pl_gauge_value(&s->u.gauge), num, sizeof num);
                sbuf_puts(&b, num);
                sbuf_puts(&b, "\n");
                break;
            case KIND_HISTOGRAM:
                render_histogram(&b, f->name, s);
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->reg_mu);
    pthread_mutex_unlock(&m->render_mu);
    return sbuf_take(&b);
}

void pl_metrics_set_collector(pl_metrics *m, pl_metrics_collect_fn fn, void *opaque)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->render_mu);
    m->collect = fn;
    m->collect_opaque = opaque;
    pthread_mutex_unlock(&m->render_mu);
}

/* ---- readiness ---- */

void pl_metrics_set_ready(pl_metrics *m, bool ready, const char *reason)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->ready_mu);
    snprintf(m->reason, sizeof m->reason, "%s", reason ? reason : "not ready");
    atomic_store(&m->ready, ready);
    pthread_mutex_unlock(&m->ready_mu);
}

void pl_metrics_set_unhealthy(pl_metrics *m, const char *reason)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->ready_mu);
    snprintf(m->broken_reason, sizeof m->broken_reason, "%s", reason ? reason : "unhealthy");
    atomic_store(&m->broken, true);
    pthread_mutex_unlock(&m->ready_mu);
}

/* ---- HTTP ---- */

/* Queues a copy of body (MHD owns the copy, so no path leaks or double-frees it). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned int status, const char *ctype,
                               const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_YES;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
         MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES))
        ret = MHD_NO;
    if (ret == MHD_YES)
        ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    static const char text[] = "text/plain; charset=utf-8";
    pl_metrics *m = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;

    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "method not allowed\n", 19);
    if (!strcmp(url, "/metrics")) {
        char *body = pl_metrics_render(m);
        if (!body)
            return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "render failed\n", 14);
        enum MHD_Result ret =
            respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, strlen(body));
        free(body);
        return ret;
    }
    if (!strcmp(url, "/healthz")) {
        /* This thread answers even when the worker's loop is stuck: liveness is the loop's
         * heartbeat, not this thread's. */
        if (atomic_load(&m->broken)) {
            char reason[sizeof m->broken_reason];
            pthread_mutex_lock(&m->ready_mu);
            snprintf(reason, sizeof reason, "%s", m->broken_reason);
            pthread_mutex_unlock(&m->ready_mu);
            return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, reason, strlen(reason));
        }
        int64_t beat = atomic_load(&m->heartbeat_ms);
        if (beat && mono_ms() - beat > atomic_load(&m->heartbeat_limit_ms))
            return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, "event loop stalled", 18);
        return respond(c, MHD_HTTP_OK, text, "ok", 2);
    }
    if (!strcmp(url, "/readyz")) {
        char reason[REASON_MAX];
        pthread_mutex_lock(&m->ready_mu);
        bool ready = atomic_load(&m->ready);
        snprintf(reason, sizeof reason, "%s", m->reason);
        pthread_mutex_unlock(&m->ready_mu);
        if (ready)
            return respond(c, MHD_HTTP_OK, text, "ready", 5);
        return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, reason, strlen(reason));
    }
    return respond(c, MHD_HTTP_NOT_FOUND, text, "not found\n", 10);
}

int pl_metrics_serve(pl_metrics *m, const char *bind_addr, uint16_t port, char *errstr,
                     size_t errstr_size)
{
    struct addrinfo *ai = NULL;
    struct sockaddr_in any4;
    const struct sockaddr *sa;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    int rc = PL_OK;

    if (!m)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "metrics: no registry");
    if (m->daemon)
        return pl_err_set(PL_ERR_STATE, errstr, errstr_size, "metrics: already serving on %u",
                          (unsigned)m->port);
    if (!bind_addr || !*bind_addr) {
        memset(&any4, 0, sizeof any4);
        any4.sin_family = AF_INET;
        any4.sin_addr.s_addr = htonl(INADDR_ANY);
        any4.sin_port = htons(port);
        sa = (const struct sockaddr *)&any4;
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        char portstr[8];
        snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
        int gai = getaddrinfo(bind_addr, portstr, &hints, &ai);
        if (gai != 0)
            return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                              "metrics: cannot resolve bind address '%s': %s", bind_addr,
                              gai_strerror(gai));
        sa = ai->ai_addr;
        if (ai->ai_family == AF_INET6)
            flags |= MHD_USE_IPv6;
    }

    /* The server thread inherits the signal mask of its creator: block everything while
     * starting it, so SIGTERM/SIGINT always reach the event loop thread, never this one. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    m->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, sa,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTION_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_SECONDS,
                                 MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!m->daemon) {
        rc = pl_err_set(PL_ERR_IO, errstr, errstr_size,
                        "metrics: cannot listen on %s port %u (in use, or not permitted)",
                        bind_addr && *bind_addr ? bind_addr : "0.0.0.0", (unsigned)port);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : port;
out:
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

uint16_t pl_metrics_port(const pl_metrics *m)
{
    return m && m->daemon ? m->port : 0;
}
