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
 * commits forever).
 *
 * Pure functions; any thread. Returned strings are malloc'd; the caller frees them.
 */
#ifndef PL_DLQ_H
#define PL_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

/*
 * The envelope for `request` (NUL-terminated, already redacted; `redacted`: the redaction
 * changed it, pl_request_redact_report), serialized in at most `limit` bytes when the request
 * can be cut to fit (the rest of the envelope always is kept). errs may be NULL. Returns NULL on
 * OOM.
 */
char *pl_dlq_envelope(const char *why, const pl_errors *errs, const char *topic, int32_t partition,
                      int64_t offset, const char *request, bool redacted, size_t limit);

/*
 * The envelope text (len bytes, not necessarily NUL-terminated) rebuilt with its request cut to
 * fit in `limit` bytes (its "redacted" kept); for a copy the broker refused as too large. NULL when
 * it is not an envelope, or on OOM.
 */
char *pl_dlq_cut(const char *envelope, size_t len, size_t limit);

#endif
