/*
 * log.h: JSON lines on stderr, one object per line:
 *   {"ts":"2026-11-26T04:01:02.123Z","level":"info","worker":"auth","request_id":"r1","msg":"..."}
 * The logger itself scrubs card numbers from every field of the line (pl_card_scrub, in the
 * J16 mode set here), so a careless caller cannot leak a PAN, not even through a request_id.
 * pl_log may be called from any thread (librdkafka's log and error callbacks run on its
 * threads; the engine's configuration refresher and the resolver have their own): lines are
 * made and written one at a time, never interleaved. pl_log_init and the setters are for
 * start-up, before other threads log.
 */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "card.h"
#include "err.h"

typedef enum pl_log_level {
    PL_LOG_DEBUG = 0,
    PL_LOG_INFO = 1,
    PL_LOG_WARN = 2,
    PL_LOG_ERROR = 3,
} pl_log_level;

/* worker is copied. out NULL means stderr. Default level INFO, mask PL_MASK_LAST4. */
void pl_log_init(const char *worker, FILE *out);
void pl_log_set_level(pl_log_level level);
/* Parses "debug"/"info"/"warn"/"error"; returns 0 or PL_ERR_INVALID. */
int pl_log_level_parse(const char *s, pl_log_level *out) PL_MUSTCHECK;
void pl_log_set_mask_mode(pl_mask_mode mode);
pl_mask_mode pl_log_mask_mode(void);

/*
 * request_id may be NULL (then the field is omitted). Every field the caller supplies is
 * scrubbed of card numbers in the J16 mode: the message, the request_id (cut at 255 bytes)
 * and the worker name.
 */
void pl_log(pl_log_level level, const char *request_id, const char *fmt, ...) PL_PRINTF(3, 4);

/*
 * Holding (a busy loop's one write a turn instead of one a line): after pl_log_hold(true),
 * the debug and info lines this thread makes are kept in memory, up to 16 KiB, and written
 * together by pl_log_flush, which the thread calls before it next blocks (the engine: before
 * each wait, and before it hands Kafka a message, so that a reply never leaves ahead of its
 * request's lines). A warn or error line, a line of another thread, and holding more than fits
 * write the held lines first, so the output keeps the order of the lines; pl_log_hold(false)
 * and exit (atexit) write them too. What a crash loses is the held lines of one loop turn.
 */
void pl_log_hold(bool on);
void pl_log_flush(void);

/*
 * Whether a line about something repeated, now at its nth time (n >= 1), is due: at the 1st,
 * 10th, 100th... time, or once every_s seconds have passed since it was last said (*said, the
 * time then on the caller's clock, set to `now` when due). So a failure that goes on is said
 * without flooding the log, and a steady one at least every every_s.
 */
bool pl_log_again_due(uint64_t n, double *said, double now, double every_s);

#define PL_DEBUG(rid, ...) pl_log(PL_LOG_DEBUG, (rid), __VA_ARGS__)
#define PL_INFO(rid, ...) pl_log(PL_LOG_INFO, (rid), __VA_ARGS__)
#define PL_WARN(rid, ...) pl_log(PL_LOG_WARN, (rid), __VA_ARGS__)
#define PL_ERROR(rid, ...) pl_log(PL_LOG_ERROR, (rid), __VA_ARGS__)

#endif
