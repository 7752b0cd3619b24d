/*
 * log.c: one JSON object per line, built with json-c, card numbers scrubbed before writing.
 *
 * The message is formatted into a fixed stack buffer (no allocation for the text itself),
 * scrubbed in place with pl_card_scrub_full (every card number the decoder refuses, also one
 * split by characters nobody sees or with its expiry glued) in the configured J16 mode, and
 * the unscrubbed bytes are wiped before returning. The other fields a caller supplies (request_id,
 * worker) are scrubbed the same way: every field of the line, not just the message. State is
 * file-static; what pl_log changes (the kept line objects, the timestamp's second) is under one
 * lock.
 */
#include "log.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Longest message kept; longer ones are cut and marked. */
#define LOG_MSG_MAX 4096
#define LOG_TRUNCATED_MARK "...[truncated]"
/* Longest request_id or worker name kept (a request_id is at most 50 characters). */
#define LOG_FIELD_MAX 256
/* Most bytes of lines held for one write (pl_log_hold): ~80 lines of ~200 bytes, a busy loop
 * turn's. */
#define LOG_HELD_MAX 16384

static struct {
    char worker[64];
    char worker_scrubbed[64]; /* worker as the lines carry it: scrubbed in mode `mask` */
    FILE *out;                /* NULL: stderr, resolved at write time */
    pl_log_level level;
    pl_mask_mode mask;
    /* The line's object, kept from line to line (one with a request_id, one without): each
     * line sets its values, so that a line does not make and free five json-c objects and a
     * print buffer. Made at the first line; freed at exit. */
    json_object *line[2];
    json_object *field[2][5]; /* ts, level, worker, msg, request_id (line[1] only) */
    /* The timestamp's second, "2026-11-26T04:01:02", formatted again only when it changes. */
    time_t ts_sec;
    char ts_base[32];
    /* Lines held for one write by pl_log_flush (pl_log_hold), oldest first. */
    char held[LOG_HELD_MAX];
    size_t held_len;
    pthread_mutex_t lock; /* over line, field, ts_sec, ts_base and held: pl_log on several
                           * threads */
} g_log = {.worker = "",
           .out = NULL,
           .level = PL_LOG_INFO,
           .mask = PL_MASK_LAST4,
           .ts_sec = -1,
           .lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Set by pl_log_hold on the thread whose debug and info lines are held. */
static _Thread_local bool t_hold;

static void scrub_worker(void)
{
    pl_card_scrub_copy_full(g_log.worker_scrubbed, sizeof g_log.worker_scrubbed, g_log.worker,
                            strlen(g_log.worker), g_log.mask);
}

void pl_log_init(const char *worker, FILE *out)
{
    snprintf(g_log.worker, sizeof(g_log.worker), "%s", worker ? worker : "");
    scrub_worker();
    g_log.out = out;
}

void pl_log_set_level(pl_log_level level)
{
    g_log.level = level;
}

int pl_log_level_parse(const char *s, pl_log_level *out)
{
    if (!s || !out)
        return PL_ERR_INVALID;
    for (size_t k = 0; k < sizeof(level_names) / sizeof(level_names[0]); k++) {
        if (strcasecmp(s, level_names[k]) == 0) {
            *out = (pl_log_level)k;
            return PL_OK;
        }
    }
    /* The spelling many tools use; cheaper to accept than to explain. */
    if (strcasecmp(s, "warning") == 0) {
        *out = PL_LOG_WARN;
        return PL_OK;
    }
    return PL_ERR_INVALID;
}

void pl_log_set_mask_mode(pl_mask_mode mode)
{
    g_log.mask = mode;
    scrub_worker();
}

pl_mask_mode pl_log_mask_mode(void)
{
    return g_log.mask;
}

/* RFC 3339 UTC with milliseconds: 2026-11-26T04:01:02.123Z. */
static void format_ts(char *buf, size_t size)
{
    struct timespec now;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        snprintf(buf, size, "1970-01-01T00:00:00.000Z");
        return;
    }
    if (now.tv_sec != g_log.ts_sec) {
        if (!gmtime_r(&now.tv_sec, &tm)) {
            snprintf(buf, size, "1970-01-01T00:00:00.000Z");
            return;
        }
        strftime(g_log.ts_base, sizeof g_log.ts_base, "%Y-%m-%dT%H:%M:%S", &tm);
        g_log.ts_sec = now.tv_sec;
    }
    unsigned ms = (unsigned)(now.tv_nsec / 1000000L) % 1000u;
    size_t n = strlen(g_log.ts_base);
    if (n + sizeof ".000Z" > size) {
        snprintf(buf, size, "1970-01-01T00:00:00.000Z");
        return;
    }
    memcpy(buf, g_log.ts_base, n);
    buf[n] = '.';
    buf[n + 1] = (char)('0' + ms / 100);
    buf[n + 2] = (char)('0' + ms / 10 % 10);
    buf[n + 3] = (char)('0' + ms % 10);
    memcpy(buf + n + 4, "Z", 2);
}

/*
 * Cuts a message that did not fit. Trailing digits and separators go too, and the characters
 * off the keyboard between them (pl_card_cut_tail_full: "4111é1111é1111é" kept 12 digits): they
 * may be the head of a card number whose tail was cut off, which would then no longer pass Luhn
 * and would slip through the scrubber.
 */
static void truncate_msg(char *msg, size_t size)
{
    size_t mark = sizeof(LOG_TRUNCATED_MARK) - 1;
    size_t len = pl_card_cut_tail_full(msg, size - 1 - mark);
    memcpy(msg + len, LOG_TRUNCATED_MARK, mark + 1);
}

/* Frees the kept line objects (at exit, or when making them failed half-way). */
static void lines_put(void)
{
    for (int k = 0; k < 2; k++) {
        json_object_put(g_log.line[k]);
        g_log.line[k] = NULL;
    }
}

static void lines_free(void)
{
    pthread_mutex_lock(&g_log.lock);
    lines_put();
    pthread_mutex_unlock(&g_log.lock);
}

static const char *const field_keys[5] = {"ts", "level", "worker", "msg", "request_id"};

/* The line objects with their fields (see g_log.line); false when there is no memory. */
static bool lines_make(void)
{
    static bool at_exit;
    if (g_log.line[0])
        return true;
    for (int k = 0; k < 2; k++) {
        json_object *obj = json_object_new_object();
        if (!obj)
            goto nomem;
        g_log.line[k] = obj;
        for (int f = 0; f < (k ? 5 : 4); f++) {
            json_object *v = json_object_new_string("");
            if (!v)
                goto nomem;
            if (json_object_object_add(obj, field_keys[f], v) != 0) {
                json_object_put(v);
                goto nomem;
            }
            g_log.field[k][f] = v;
        }
    }
    if (!at_exit)
        at_exit = atexit(lines_free) == 0;
    return true;
nomem:
    lines_put();
    return false;
}

/*
 * Sets field f of line k to value[0, len). json-c 0.16 loses a string's buffer when the
 * string is set to "" after it held a longer one (json_object_set_string_len), so an empty
 * value gets a new string object in the field's place.
 */
static bool set_field(int k, int f, const char *value, size_t len)
{
    if (len > 0)
        return json_object_set_string_len(g_log.field[k][f], value, (int)len) != 0;
    json_object *v = json_object_new_string("");
    if (!v)
        return false;
    if (json_object_object_add(g_log.line[k], field_keys[f], v) != 0) {
        json_object_put(v);
        return false;
    }
    g_log.field[k][f] = v; /* the one it replaced was put by json_object_object_add */
    return true;
}

static bool set_text(int k, int f, const char *value)
{
    return set_field(k, f, value, strlen(value));
}

/*
 * A field that comes from the caller (the request_id), scrubbed like the message: a
 * request_id is whatever the upstream system sent, and the decoder is not the only caller. A
 * value longer than LOG_FIELD_MAX is cut (safely, pl_card_cut_tail).
 */
static bool set_scrubbed(int k, int f, const char *value)
{
    char buf[LOG_FIELD_MAX];
    size_t n = pl_card_scrub_copy_full(buf, sizeof(buf), value, strlen(value), g_log.mask);
    bool ok = set_field(k, f, buf, n);
    /* All of it: a mask may be shorter than what it replaced (***REMOVED***). */
    pl_card_wipe(buf, sizeof(buf));
    return ok;
}

/* Writes the held lines, if any, in one write (an unbuffered stream writes a block whole).
 * Called with g_log.lock held. */
static void held_write(FILE *out)
{
    if (g_log.held_len == 0)
        return;
    (void)fwrite(g_log.held, 1, g_log.held_len, out);
    fflush(out);
    g_log.held_len = 0;
}

void pl_log_flush(void)
{
    pthread_mutex_lock(&g_log.lock);
    held_write(g_log.out ? g_log.out : stderr);
    pthread_mutex_unlock(&g_log.lock);
}

void pl_log_hold(bool on)
{
    static bool at_exit; /* under g_log.lock */
    if (on) {
        pthread_mutex_lock(&g_log.lock);
        if (!at_exit)
            at_exit = atexit(pl_log_flush) == 0;
        pthread_mutex_unlock(&g_log.lock);
    }
    t_hold = on;
    if (!on)
        pl_log_flush();
}

void pl_log(pl_log_level level, const char *request_id, const char *fmt, ...)
{
    if (level < g_log.level || !fmt)
        return;
    FILE *out = g_log.out ? g_log.out : stderr;
    const char *level_name =
        (level >= PL_LOG_DEBUG && level <= PL_LOG_ERROR) ? level_names[level] : "error";

    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(msg, sizeof(msg), "(unformattable log message)");
    else if ((size_t)n >= sizeof(msg))
        truncate_msg(msg, sizeof(msg));
    /* What the unscrubbed text took of msg, wiped at the end (scrubbing may shorten it). */
    size_t used = n >= 0 && (size_t)n < sizeof(msg) ? (size_t)n + 1 : sizeof(msg);
    /* Full: also what the decoder refuses and the Luhn scan does not see, which the line about
     * the refusal may quote: a card number across characters a bureau message drops or nobody
     * sees ("4111é1111é1111é1111", a control character), or with its expiry glued (20-21
     * digits; a CyberSource request ID, 22, stays readable). Most lines cost one look more at
     * each byte. */
    pl_card_scrub_full(msg, sizeof(msg), g_log.mask);

    pthread_mutex_lock(&g_log.lock);
    char ts[48];
    format_ts(ts, sizeof(ts));

    int k = request_id ? 1 : 0;
    bool ok = lines_make() && set_text(k, 0, ts) && set_text(k, 1, level_name) &&
              set_text(k, 2, g_log.worker_scrubbed) && set_text(k, 3, msg) &&
              (!request_id || set_scrubbed(k, 4, request_id));
    size_t len = 0;
    const char *line =
        ok ? json_object_to_json_string_length(
                 g_log.line[k], JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)
           : NULL;
    if (line && t_hold && level < PL_LOG_WARN && len < sizeof g_log.held) {
        if (g_log.held_len + len + 1 > sizeof g_log.held)
            held_write(out);
        memcpy(g_log.held + g_log.held_len, line, len);
        g_log.held[g_log.held_len + len] = '\n';
        g_log.held_len += len + 1;
    } else {
        /* Held lines first: the output keeps the order in which lines were made. */
        held_write(out);
        if (line) {
            /* One write a line (glibc formats into one buffer for an unbuffered stream): half
             * the system calls of fputs + fputc on stderr, and a line is never split between
             * threads. */
            fprintf(out, "%s\n", line);
        } else {
            /* Out of memory: still say something, with nothing from the caller in it. */
            fputs("{\"level\":\"error\",\"msg\":\"log: out of memory\"}\n", out);
        }
        fflush(out);
    }
    pthread_mutex_unlock(&g_log.lock);
    pl_card_wipe(msg, used);
}

bool pl_log_again_due(uint64_t n, double *said, double now, double every_s)
{
    uint64_t p10 = 1;
    while (p10 < n && p10 <= UINT64_MAX / 10)
        p10 *= 10;
    if (n != p10 && now - *said < every_s)
        return false;
    *said = now;
    return true;
}
