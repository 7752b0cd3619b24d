/*
 * card.h: card numbers, handled as the PCI DSS rules of DESIGN.md require.
 *
 * The full card number (PAN) lives only in memory for the bureau call. Anything written
 * (logs, tables, topics, DLQ, the bureau message log) carries a masked form:
 *   - logs: the seed's J16 modes, last four ("*************1111", all stars when 4 digits or
 *     fewer) or the word "***REMOVED***";
 *   - tables and replies: BIN (first 6) + last 4 ("411111******1111"), plus a keyed hash
 *     (HMAC-SHA256) for look-ups.
 * Pure functions; any thread. Strings in, caller-owned buffers out.
 */
#ifndef PL_CARD_H
#define PL_CARD_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef enum pl_mask_mode {
    PL_MASK_LAST4 = 0,   /* J16 selected: stars and the last four digits */
    PL_MASK_REMOVED = 1, /* J16 unselected: "***REMOVED***" */
} pl_mask_mode;

/* True when number is 12-19 ASCII digits and passes the Luhn (mod 10) check. */
bool pl_card_luhn_ok(const char *number);

/*
 * Masks a card number for a log in the given J16 mode: every character but the last four
 * becomes '*', all of it when 4 or fewer; or "***REMOVED***". Returns 0 or PL_ERR_TOOBIG.
 */
int pl_card_mask_log(const char *number, pl_mask_mode mode, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * Masks a card number for storage and replies: first six and last four digits, stars between
 * ("411111******1111"); numbers shorter than 13 digits keep only the last four.
 * Returns 0 or PL_ERR_TOOBIG.
 */
int pl_card_mask_stored(const char *number, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * Pay type style card type from the number's prefix: "VI", "MC", "AX", "DI", "DC", "JC",
 * or NULL when unknown. Returns a static string.
 */
const char *pl_card_type_guess(const char *number);

/*
 * CyberSource cardType code for a pay type style type ("VI" → "001", "MC" → "002",
 * "AX" → "003", "DI" → "004", "DC" → "005", "JC" → "007"), or NULL. Static string.
 */
const char *pl_card_cybersource_type(const char *type);

/*
 * Keyed hash of a card number for look-ups: HMAC-SHA256(key, number) as 64 lowercase hex
 * characters + NUL into out (outsize >= 65). Returns 0, PL_ERR_INVALID or PL_ERR_TOOBIG.
 */
int pl_card_hmac(const void *key, size_t keylen, const char *number, char *out,
                 size_t outsize) PL_MUSTCHECK;

/*
 * Scrubs free text in place: every run of 13-19 digits (optionally separated by single
 * spaces or dashes) that passes Luhn is masked in the given mode, keeping the text's length
 * for PL_MASK_LAST4 (digits become '*') and writing "***REMOVED***" otherwise (the text may
 * shrink, never grow beyond its buffer). Also blanks the value of any JSON-like "cvv" / XML
 * cvNumber field. Returns the new length. text must be NUL-terminated within textsize.
 */
size_t pl_card_scrub(char *text, size_t textsize, pl_mask_mode mode);

/*
 * Removes characters that are not on a standard keyboard (keeps printable ASCII 0x20-0x7E)
 * in place, as the seed requires for bureau XML. Returns the new length.
 */
size_t pl_card_keyboard_clean(char *s);

/* Overwrites a buffer with zeros in a way the compiler will not optimise away. */
void pl_card_wipe(void *p, size_t n);

#endif
