/*
 * dlq.h: the dead-letter copy of a request the engine refused (`<request topic>.dlq`).
 *
 * The copy is a JSON envelope: "error" (why), "errors" (the field errors of the invalid reply),
 * "topic", "partition", "offset" (where the request was), "request" (its text with card data
 * removed, pl_request_redact_report) and "redacted" (true when that removal changed the request:
 * the copy is then not what the upstream system sent, and paylinkctl dlq replay never sends
 * it; envelopes written before it came have no such member). Its size is bounded: a request
 * too large to fit whole is cut at a character boundary and marked "truncated": true with its
 * original "request_bytes", so a hostile or broken message can never make its own dead-letter
 * copy unpublishable (a publish that can never succeed would otherwise hold its partition's
 * commits forever). The engine's envelopes also say what the dead letter is, "kind" (one of the
 * PL_DLQ_KIND_* words), and for a request given up how it was answered, "answered" (`error`:
 * nothing can have reached the bureau; `timeout`: its outcome is unknown); envelopes written
 * before them have neither, and are told apart by their words (paylinkctl).
 *
 * Pure functions; any thread. Returned strings are malloc'd; the caller frees them.
 */
#ifndef PL_DLQ_H
#define PL_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

/* What a dead letter is ("kind"). */
#define PL_DLQ_KIND_INVALID "invalid"         /* refused by validation: an `invalid` reply */
#define PL_DLQ_KIND_CONFLICT "conflict"       /* its request_id was used for another request */
#define PL_DLQ_KIND_UNPUBLISHED "unpublished" /* answered, its reply could never be published */
#define PL_DLQ_KIND_GIVEN_UP "given_up"       /* given up, answered `error` or `timeout` */
#define PL_DLQ_KIND_UNREADABLE "unreadable"   /* a record the consumer could not read: no request */

/*
 * The envelope for `request` (NUL-terminated, already redacted; `redacted`: the redaction
 * changed it, pl_request_redact_report), serialized in at most `limit` bytes when the request
 * can be cut to fit (the rest of the envelope always is kept). kind (a PL_DLQ_KIND_*) and
 * answered (`error` or `timeout`, for PL_DLQ_KIND_GIVEN_UP) are written when not NULL. errs may
 * be NULL. Returns NULL on OOM.
 */
char *pl_dlq_envelope_kind(const char *kind, const char *answered, const char *why,
                           const pl_errors *errs, const char *topic, int32_t partition,
                           int64_t offset, const char *request, bool redacted, size_t limit);

/* pl_dlq_envelope_kind without a kind (as envelopes were before it). */
char *pl_dlq_envelope(const char *why, const pl_errors *errs, const char *topic, int32_t partition,
                      int64_t offset, const char *request, bool redacted, size_t limit);

/*
 * The envelope text (len bytes, not necessarily NUL-terminated) rebuilt with its request cut to
 * fit in `limit` bytes (its "redacted", "kind" and "answered" kept); for a copy the broker
 * refused as too large. NULL when it is not an envelope, or on OOM.
 */
char *pl_dlq_cut(const char *envelope, size_t len, size_t limit);

#endif
