/*
 * money.h: amounts as integer minor units (cents), never floating point.
 *
 * The contract carries amounts as decimal strings with exactly two decimals ("120.00");
 * bureaus answer with looser decimals ("60", "60.5", "60.00"). Pure functions; any thread.
 */
#ifndef PL_MONEY_H
#define PL_MONEY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Largest amount the contract allows: 13 integer digits and 2 decimals. */
#define PL_MONEY_MAX INT64_C(999999999999999)

/*
 * Parses a contract amount, exactly ^\d{1,13}\.\d{2}$, into minor units.
 * Returns 0, or PL_ERR_INVALID (and leaves *out alone) for anything else, including NULL.
 */
int pl_money_parse(const char *s, int64_t *out) PL_MUSTCHECK;

/*
 * Parses a bureau amount: optional leading '-', digits, optional '.' and up to two decimals
 * ("60", "60.5", "60.50", "-1.00"). Returns 0 or PL_ERR_INVALID.
 */
int pl_money_parse_decimal(const char *s, int64_t *out) PL_MUSTCHECK;

/*
 * Formats minor units as "1234.56" ("-0.50" when negative) into buf.
 * Returns 0, or PL_ERR_TOOBIG when buf is too small (24 bytes always suffice).
 */
int pl_money_format(int64_t minor, char *buf, size_t bufsize) PL_MUSTCHECK;

#endif
