/*
 * sim_ids.h: the identifiers and timestamps the simulated bureaus hand out.
 *
 * CyberSource request IDs and subscription IDs are 22-digit numbers, request tokens are opaque
 * base64 strings, authorization codes 6 characters, reconciliation IDs 16. The simulator makes
 * them unique within one process (a counter), and unlikely to repeat across restarts (the
 * counter starts at a random value and the IDs lead with the clock). Randomness comes from a
 * generator of each thread's own seeded from getrandom(2) (sim_ids.c). Any thread; outputs go
 * to caller buffers.
 */
#ifndef PL_SIM_IDS_H
#define PL_SIM_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Digits of a CyberSource requestID / subscriptionID. */
#define PL_SIM_ID_DIGITS 22
/* Characters of a request token (base64 of 48 random bytes). */
#define PL_SIM_TOKEN_CHARS 64

/* A new 22-digit ID, never repeated within the process: 10 digits of Unix time + 12 of a counter.
 */
void pl_sim_ids_request_id(char out[PL_SIM_ID_DIGITS + 1]);

/* A random request token of PL_SIM_TOKEN_CHARS base64 characters. */
void pl_sim_ids_request_token(char out[PL_SIM_TOKEN_CHARS + 1]);

/* A random 6-digit authorization code. */
void pl_sim_ids_auth_code(char out[7]);

/* A random 16-character reconciliation ID of digits and upper-case letters. */
void pl_sim_ids_reconciliation_id(char out[17]);

/* Uniform random number in [0, bound] (bound inclusive); 0 when bound is 0. */
uint32_t pl_sim_ids_random(uint32_t bound);

/*
 * Formats a wall-clock time as RFC 3339 UTC: "2026-01-02T03:04:05Z", or with milliseconds
 * "2026-01-02T03:04:05.678Z". outsize >= 25 always suffices.
 */
void pl_sim_ids_rfc3339(const struct timespec *ts, bool millis, char *out, size_t outsize);

/* The same for the current time. */
void pl_sim_ids_now(bool millis, char *out, size_t outsize);

#endif
