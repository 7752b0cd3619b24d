/*
 * log.c: one JSON object per line, built with json-c, card numbers scrubbed before writing.
 *
 * The message is formatted into a fixed stack buffer (no allocation for the text itself),
 * scrubbed in place with pl_card_scrub in the configured J16 mode, and the unscrubbed bytes
 * are wiped before returning. The other fields a caller supplies (request_id, worker) are
 * scrubbed the same way: every field of the line, not just the message. State is file-static: the
 * logger is for one thread (the event loop), as log.h says.
 */
#include "log.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Longest message kept; longer ones are cut and marked. */
#define LOG_MSG_MAX 4096
#define LOG_TRUNCATED_MARK "...[truncated]"
/* Longest request_id or worker name kept (a request_id is at most 50 characters). */
#define LOG_FIELD_MAX 256

static struct {
    char worker[64];
    FILE *out; /* NULL: stderr, resolved at write time */
    pl_log_level level;
    pl_mask_mode mask;
} g_log = {.worker = "", .out = NULL, .level = PL_LOG_INFO, .mask = PL_MASK_LAST4};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pl_log_init(const char *worker, FILE *out)
{
    snprintf(g_log.worker, sizeof(g_log.worker), "%s", worker ? worker : "");
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
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || !gmtime_r(&now.tv_sec, &tm)) {
        snprintf(buf, size, "1970-01-01T00:00:00.000Z");
        return;
    }
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned ms = (unsigned)(now.tv_nsec / 1000000L) % 1000u;
    snprintf(buf, size, "%s.%03uZ", base, ms);
}

/*
 * Cuts a message that did not fit. Trailing digits and separators go too (pl_card_cut_tail):
 * they may be the head of a card number whose tail was cut off, which would then no longer
 * pass Luhn and would slip through the scrubber.
 */
static void truncate_msg(char *msg, size_t size)
{
    size_t mark = sizeof(LOG_TRUNCATED_MARK) - 1;
    size_t len = pl_card_cut_tail(msg, size - 1 - mark);
    memcpy(msg + len, LOG_TRUNCATED_MARK, mark + 1);
}

static bool add_string(json_object *obj, const char *key, const char *value)
{
    json_object *v = json_object_new_string(value);
    if (!v)
        return false;
    if (json_object_object_add(obj, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

/*
 * Adds a field that comes from the caller (the request_id, the worker name), scrubbed like
 * the message: a request_id is whatever the upstream system sent, and the decoder is not the
 * only caller. A value longer than LOG_FIELD_MAX is cut (safely, pl_card_cut_tail).
 */
static bool add_scrubbed(json_object *obj, const char *key, const char *value)
{
    char buf[LOG_FIELD_MAX];
    pl_card_scrub_copy(buf, sizeof(buf), value, strlen(value), g_log.mask);
    bool ok = add_string(obj, key, buf);
    pl_card_wipe(buf, sizeof(buf));
    return ok;
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
    pl_card_scrub(msg, sizeof(msg), g_log.mask);

    char ts[48];
    format_ts(ts, sizeof(ts));

    json_object *obj = json_object_new_object();
    bool ok = obj && add_string(obj, "ts", ts) && add_string(obj, "level", level_name) &&
              add_scrubbed(obj, "worker", g_log.worker) &&
              (!request_id || add_scrubbed(obj, "request_id", request_id)) &&
              add_string(obj, "msg", msg);
    const char *line = ok ? json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE)
                          : NULL;
    if (line) {
        /* One write a line (glibc formats into one buffer for an unbuffered stream): half the
         * system calls of fputs + fputc on stderr, and a line is never split between threads. */
        fprintf(out, "%s\n", line);
    } else {
        /* Out of memory: still say something, with nothing from the caller in it. */
        fputs("{\"level\":\"error\",\"msg\":\"log: out of memory\"}\n", out);
    }
    fflush(out);
    if (obj)
        json_object_put(obj);
    pl_card_wipe(msg, sizeof(msg));
}
