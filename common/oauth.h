/*
 * oauth.h: OAuth 2 client-credentials bearer tokens (RFC 6749 §4.4), fetched through pl_http and
 * cached per service bureau, for the bureaus whose calls carry "Authorization: Bearer <token>"
 * (PL_BUREAU_OAUTH, the External Payment Service).
 *
 * One token per key (the bureau code; or the code, client and token URL for a job the engine
 * keeps on settings it arrived with: engine.c, oauth_key). A job asks with pl_oauth_get: a valid
 * cached token is answered at once; otherwise the job is queued and one token request per key and
 * settings is made, however many jobs wait for it; every waiter is called back, in the order it
 * asked, when the answer is there. A token is used until shortly before it expires, or until a 401
 * proves it bad (pl_oauth_invalidate with the token's generation, so a late 401 for an older token
 * does not throw away a newer one), or until the bureau's settings change.
 *
 * The token request: POST token_url, "Content-Type: application/x-www-form-urlencoded", body
 * "grant_type=client_credentials", HTTP Basic authentication with the client id and secret each
 * form-urlencoded first (RFC 6749 §2.3.1). A 200 answer holding a JSON object with access_token
 * (1-2048 printable ASCII characters), token_type "Bearer" (any case; absent is Bearer) and
 * expires_in (positive integer seconds; absent means 300) is a token; anything else fails every
 * waiter of that request with a human error text.
 *
 * Secrets: the secret, the Basic header, the tokens and the Bearer headers are never logged nor
 * put in an error text, and the copies this module owns are wiped (pl_card_wipe) when dropped.
 * The settings a token was fetched with are remembered as a salted SHA-256 fingerprint only.
 *
 * Memory: the module copies what it keeps (pl_oauth_client's strings need to live only during
 * pl_oauth_get). The header handed to a callback is valid during the callback only.
 * Threading: one thread, the one that drives the pl_http (pl_http_wait): callbacks run from
 * pl_http's callbacks, i.e. inside pl_http_wait or pl_http_destroy, and from pl_oauth_free.
 */
#ifndef PL_OAUTH_H
#define PL_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"

/* Room for "Authorization: Bearer " + a 2048-character token + NUL. */
#define PL_OAUTH_HEADER_SIZE 2100

typedef struct pl_oauth pl_oauth;

/* Where and how to get a token: one bureau's settings (copied by pl_oauth_get). */
typedef struct pl_oauth_client {
    const char *key;       /* the cache key: the service bureau code ("EXT"), or see above */
    const char *token_url; /* https://... */
    const char *client_id; /* Authentication User */
    const char *secret;    /* Authentication Password: never logged */
    const char *proxy;     /* NULL/"" → direct */
    long timeout_ms;       /* the whole token call */
    int connect_attempts;
    long max_idle_s; /* the bureau's connection_idle_s: a pooled connection idle longer is not
                        reused (pl_http_call.max_idle_s; 0 → 30 s) */
} pl_oauth_client;

/*
 * Called once per waiter when its token is there (header = "Authorization: Bearer <token>",
 * gen = the token's generation) or cannot be had (header NULL, error = human text without
 * secrets; cancelled = true when the oauth cache or the HTTP client is being destroyed).
 * header and error are valid during the call only. The callback may call pl_oauth_get,
 * pl_oauth_cancel and pl_oauth_invalidate (a job may retry at once), but not pl_oauth_free.
 */
typedef void (*pl_oauth_cb)(void *arg, const char *header, unsigned gen, const char *error,
                            bool cancelled);

/*
 * A token cache whose requests go through http (borrowed: it must outlive every pl_oauth_get,
 * but it may be destroyed before or after pl_oauth_free). now: the clock for expiry in seconds;
 * NULL → CLOCK_MONOTONIC. Returns NULL when out of memory.
 */
pl_oauth *pl_oauth_new(pl_http *http, double (*now)(void));

/*
 * Calls every pending waiter with cancelled = true (in order), then frees the cache, wiping the
 * tokens. Token requests still in flight in the pl_http are abandoned: their pl_http callbacks
 * (on a later pl_http_wait or on pl_http_destroy) only free them. NULL is fine. Not from inside a
 * pl_oauth_cb.
 */
void pl_oauth_free(pl_oauth *o);

/*
 * A valid cached token (not expired, with a margin: it expires early by min(30 s, expires_in/10),
 * counted from when its request was sent) for client → returns 1, copies the header line into
 * header (size hsize >= PL_OAUTH_HEADER_SIZE) and sets *gen (gen may be NULL).
 * Otherwise queues (cb, arg), starts one token request unless one is in flight for that key and
 * the same settings, and returns 0 (cb is called later from the HTTP callback, never from inside
 * this call). A get whose token_url, client_id or secret differ from the cached token's drops that
 * token (the configuration changed); a request in flight with the old settings still answers its
 * own waiters, but its token is not cached.
 * Negative pl_err on bad arguments (PL_ERR_INVALID: NULL o, client, key, token_url, client_id,
 * secret or cb, empty key, token_url or client_id, hsize too small, a client id or secret longer
 * than 1024 bytes), PL_ERR_STATE while pl_oauth_free runs, PL_ERR_NOMEM, or PL_ERR_HTTP when the
 * request cannot be submitted; then nothing is queued and cb is never called.
 */
int pl_oauth_get(pl_oauth *o, const pl_oauth_client *client, pl_oauth_cb cb, void *arg,
                 char *header, size_t hsize, unsigned *gen) PL_MUSTCHECK;

/* Forget the cached token of key if its generation is still gen (a 401 proved it bad); a newer
 * one stays. Unknown keys and NULLs are ignored. */
void pl_oauth_invalidate(pl_oauth *o, const char *key, unsigned gen);

/* Removes every queued waiter with this arg (its job went away); cb is not called for them, not
 * even when a callback running now (re-entrantly) cancels a waiter of the same answer that has
 * not been called yet. The token request itself goes on (its token is cached for the next get). */
void pl_oauth_cancel(pl_oauth *o, void *arg);

/* Counters for metrics: token requests made, succeeded, failed (cancelled ones count as failed).
 * Any pointer may be NULL. */
void pl_oauth_stats(const pl_oauth *o, uint64_t *requested, uint64_t *ok, uint64_t *failed);

/* Waiters queued now (over every key), for tests and gauges. */
size_t pl_oauth_waiting(const pl_oauth *o);

#endif
