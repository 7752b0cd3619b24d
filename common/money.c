/*
 * money.c: decimal amount strings <-> integer minor units.
 *
 * Everything is done digit by digit on int64_t; no floating point is involved anywhere, so
 * "0.10" is exactly 10 and nothing rounds. Magnitudes are capped at PL_MONEY_MAX (13 integer
 * digits, the contract's limit), which keeps every intermediate result far from overflow.
 */
#include "money.h"

#include <stdbool.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int pl_money_parse(const char *s, int64_t *out)
{
    if (!s || !out)
        return PL_ERR_INVALID;

    int64_t units = 0;
    size_t i = 0;
    /* At most 13 integer digits, so units stays below 10^13 and the shifts below are safe. */
    while (is_digit(s[i])) {
        if (i == 13)
            return PL_ERR_INVALID;
        units = units * 10 + (s[i] - '0');
        i++;
    }
    if (i == 0 || s[i] != '.')
        return PL_ERR_INVALID;
    if (!is_digit(s[i + 1]) || !is_digit(s[i + 2]) || s[i + 3] != '\0')
        return PL_ERR_INVALID;

    *out = units * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
    return PL_OK;
}

int pl_money_parse_decimal(const char *s, int64_t *out)
{
    if (!s || !out)
        return PL_ERR_INVALID;

    const char *p = s;
    bool negative = false;
    if (*p == '-') {
        negative = true;
        p++;
    }

    /*
     * Bureaus may pad with leading zeros ("0060.00"), so the cap is on the value, not on the
     * number of digits: once units exceeds PL_MONEY_MAX / 100 the amount is out of range.
     */
    int64_t units = 0;
    size_t ndigits = 0;
    while (is_digit(*p)) {
        units = units * 10 + (*p - '0');
        if (units > PL_MONEY_MAX / 100)
            return PL_ERR_INVALID;
        ndigits++;
        p++;
    }
    if (ndigits == 0)
        return PL_ERR_INVALID;

    int64_t cents = 0;
    if (*p == '.') {
        p++;
        /* "60." is accepted as 60.00: unambiguous, and bureaus are not ours to correct. */
        if (is_digit(*p)) {
            cents = (*p - '0') * 10;
            p++;
            if (is_digit(*p)) {
                cents += *p - '0';
                p++;
            }
        }
    }
    if (*p != '\0')
        return PL_ERR_INVALID;

    int64_t minor = units * 100 + cents;
    *out = negative ? -minor : minor;
    return PL_OK;
}

int pl_money_format(int64_t minor, char *buf, size_t bufsize)
{
    if (!buf || bufsize == 0)
        return PL_ERR_TOOBIG;

    /* Negate in unsigned arithmetic so INT64_MIN formats instead of overflowing. */
    uint64_t magnitude = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    /* Written from the end: two decimals, the point, the units (at least "0"), the sign. A
     * request formats several amounts, and snprintf cost ~1,400 instructions each. */
    char tmp[32];
    char *w = tmp + sizeof tmp;
    *--w = (char)('0' + magnitude % 10);
    magnitude /= 10;
    *--w = (char)('0' + magnitude % 10);
    magnitude /= 10;
    *--w = '.';
    do {
        *--w = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (minor < 0)
        *--w = '-';
    size_t n = (size_t)(tmp + sizeof tmp - w);
    if (n >= bufsize) {
        /* Never hand back a truncated amount that could be read as a different one. */
        buf[0] = '\0';
        return PL_ERR_TOOBIG;
    }
    memcpy(buf, w, n);
    buf[n] = '\0';
    return PL_OK;
}
