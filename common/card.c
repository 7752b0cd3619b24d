/*
 * card.c: Luhn, masks, type guesses, the keyed card hash and free-text scrubbing.
 *
 * The scrubber is the last line of defence for logs: it runs on every log message, so it errs
 * on the side of masking (a 13-19 digit number that happens to pass Luhn is masked even if it
 * was an order number) and never lets a buffer grow. A card number is read two ways: digit
 * runs joined by a few separators that seldom join anything else (longest_from, glued_from),
 * and a card brand's number in its brand's groups, joined by anything (grouped_from): what
 * the first reading would take for a card number in a time, an address or an amount, the
 * second asks its groups and brand to rule out.
 */
#include "card.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REMOVED_WORD "***REMOVED***"
#define REMOVED_LEN (sizeof(REMOVED_WORD) - 1)

/* PAN lengths the scrubber looks for (ISO/IEC 7812 allows 12-19; 12 is too noisy in text). */
#define SCRUB_MIN_DIGITS 13
#define SCRUB_MAX_DIGITS 19

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * The text scanners' digits (pl_card_find, the scrubber): ASCII digits, and the full-width
 * digits U+FF10-U+FF19 (UTF-8 EF BC 90-99) that a CJK input method types, which a reader takes
 * for a card number as readily. Length of the digit at t[i] (i < len): 1, 3, or 0 for none.
 */
#define FW_DIGIT_LEN 3
static size_t digit_at(const char *t, size_t len, size_t i)
{
    unsigned char c = (unsigned char)t[i];
    if (c >= '0' && c <= '9')
        return 1;
    if (c != 0xef || len - i < FW_DIGIT_LEN || (unsigned char)t[i + 1] != 0xbc)
        return 0;
    c = (unsigned char)t[i + 2];
    return c >= 0x90 && c <= 0x99 ? FW_DIGIT_LEN : 0;
}

/* Length of the digit ending just before t[end], or 0. */
static size_t digit_before(const char *t, size_t end)
{
    if (end == 0)
        return 0;
    if (is_digit(t[end - 1]))
        return 1;
    return end >= FW_DIGIT_LEN && digit_at(t, end, end - FW_DIGIT_LEN) == FW_DIGIT_LEN
               ? FW_DIGIT_LEN
               : 0;
}

/* The ASCII digit of the digit at t[i] (digit_at(t, len, i) > 0). */
static char digit_value(const char *t, size_t i)
{
    return is_digit(t[i]) ? t[i] : (char)('0' + ((unsigned char)t[i + 2] - 0x90));
}

/* The full-width asterisk (U+FF0A) that masks a full-width digit, keeping the text's length. */
#define FW_STAR "\xef\xbc\x8a"

/* Luhn (mod 10) over n ASCII digits. */
static bool luhn_digits(const char *d, size_t n)
{
    unsigned sum = 0;
    bool twice = false;
    for (size_t k = n; k-- > 0;) {
        unsigned v = (unsigned)(d[k] - '0');
        if (twice) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
        twice = !twice;
    }
    return sum % 10 == 0;
}

bool pl_card_all_digits(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

bool pl_card_luhn_ok(const char *number)
{
    if (!number)
        return false;
    size_t n = 0;
    while (number[n]) {
        if (!is_digit(number[n]) || n == 19)
            return false;
        n++;
    }
    return n >= 12 && luhn_digits(number, n);
}

int pl_card_mask_log(const char *number, pl_mask_mode mode, char *out, size_t outsize)
{
    if (!out || outsize == 0)
        return PL_ERR_TOOBIG;
    /* Any mode value we do not know is treated as the stricter one. */
    if (mode != PL_MASK_LAST4) {
        if (outsize < REMOVED_LEN + 1) {
            out[0] = '\0';
            return PL_ERR_TOOBIG;
        }
        memcpy(out, REMOVED_WORD, REMOVED_LEN + 1);
        return PL_OK;
    }

    /* A NULL number masks to the empty string: there is nothing to show. */
    size_t n = number ? strlen(number) : 0;
    if (outsize < n + 1) {
        out[0] = '\0';
        return PL_ERR_TOOBIG;
    }
    for (size_t k = 0; k < n; k++)
        out[k] = (n > 4 && k >= n - 4) ? number[k] : '*';
    out[n] = '\0';
    return PL_OK;
}

int pl_card_mask_stored(const char *number, char *out, size_t outsize)
{
    if (!out || outsize == 0)
        return PL_ERR_TOOBIG;
    size_t n = number ? strlen(number) : 0;
    if (outsize < n + 1) {
        out[0] = '\0';
        return PL_ERR_TOOBIG;
    }
    /* PCI DSS 3.4: at most BIN and last four; short numbers would reveal too much with a BIN. */
    size_t head = n >= 13 ? 6 : 0;
    size_t tail = n > 4 ? 4 : 0;
    for (size_t k = 0; k < n; k++)
        out[k] = (k < head || k >= n - tail) ? number[k] : '*';
    out[n] = '\0';
    return PL_OK;
}

/* The first `len` digits of number as an integer, or -1 when there are not that many. */
static long prefix_value(const char *number, size_t len)
{
    long v = 0;
    for (size_t k = 0; k < len; k++) {
        if (!is_digit(number[k]))
            return -1;
        v = v * 10 + (number[k] - '0');
    }
    return v;
}

static bool prefix_in(const char *number, size_t len, long lo, long hi)
{
    long v = prefix_value(number, len);
    return v >= lo && v <= hi;
}

const char *pl_card_type_guess(const char *number)
{
    if (!number || !is_digit(number[0]))
        return NULL;
    for (const char *p = number; *p; p++) {
        if (!is_digit(*p))
            return NULL;
    }

    if (number[0] == '4')
        return "VI";
    if (prefix_in(number, 2, 51, 55) || prefix_in(number, 4, 2221, 2720))
        return "MC";
    if (prefix_in(number, 2, 34, 34) || prefix_in(number, 2, 37, 37))
        return "AX";
    if (prefix_in(number, 4, 6011, 6011) || prefix_in(number, 2, 65, 65) ||
        prefix_in(number, 3, 644, 649))
        return "DI";
    if (prefix_in(number, 2, 36, 36) || prefix_in(number, 2, 38, 38) ||
        prefix_in(number, 3, 300, 305))
        return "DC";
    if (prefix_in(number, 4, 3528, 3589))
        return "JC";
    return NULL;
}

const char *pl_card_cybersource_type(const char *type)
{
    static const struct {
        const char *type;
        const char *code;
    } map[] = {
        {"VI", "001"}, {"MC", "002"}, {"AX", "003"}, {"DI", "004"}, {"DC", "005"}, {"JC", "007"},
    };
    if (!type)
        return NULL;
    for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
        if (strcasecmp(type, map[k].type) == 0)
            return map[k].code;
    }
    return NULL;
}

/* A new HMAC-SHA256 context, not keyed yet; NULL when OpenSSL cannot make one. Looking the
 * algorithms up is what costs: pl_hmac_sha256_keyed does it once per key. */
static EVP_MAC_CTX *hmac_sha256_make(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx && !EVP_MAC_CTX_set_params(ctx, params)) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/*
 * Keyed contexts, one per key the process uses (the card hash key, the fingerprint key: a
 * handful), each copied per use by pl_hmac_sha256_keyed. The keys are kept to tell them apart
 * (compared in constant time) and wiped at exit, as the contexts' own copies are.
 */
#define KEYED_MAX 8
static pthread_mutex_t keyed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keyed {
    unsigned char *key;
    size_t len;
    EVP_MAC_CTX *ctx;
} keyed[KEYED_MAX];
static size_t nkeyed;

static void keyed_free(void)
{
    pthread_mutex_lock(&keyed_lock);
    for (size_t i = 0; i < nkeyed; i++) {
        pl_card_wipe(keyed[i].key, keyed[i].len);
        free(keyed[i].key);
        EVP_MAC_CTX_free(keyed[i].ctx);
        keyed[i] = (struct keyed){0};
    }
    nkeyed = 0;
    pthread_mutex_unlock(&keyed_lock);
}

EVP_MAC_CTX *pl_hmac_sha256_keyed(const void *key, size_t keylen)
{
    if (!key || keylen == 0)
        return NULL;
    pthread_mutex_lock(&keyed_lock);
    EVP_MAC_CTX *out = NULL;
    for (size_t i = 0; i < nkeyed; i++) {
        if (keyed[i].len == keylen && CRYPTO_memcmp(keyed[i].key, key, keylen) == 0) {
            out = EVP_MAC_CTX_dup(keyed[i].ctx);
            pthread_mutex_unlock(&keyed_lock);
            return out;
        }
    }
    EVP_MAC_CTX *ctx = hmac_sha256_make();
    if (ctx && !EVP_MAC_init(ctx, key, keylen, NULL)) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    unsigned char *copy = ctx && nkeyed < KEYED_MAX ? malloc(keylen) : NULL;
    if (copy) {
        memcpy(copy, key, keylen);
        keyed[nkeyed] = (struct keyed){.key = copy, .len = keylen, .ctx = ctx};
        if (nkeyed++ == 0)
            (void)atexit(keyed_free);
        out = EVP_MAC_CTX_dup(ctx);
    } else {
        out = ctx; /* more keys than kept (or no memory to keep it): keyed for this use only */
    }
    pthread_mutex_unlock(&keyed_lock);
    return out;
}

int pl_card_hmac(const void *key, size_t keylen, const char *number, char *out, size_t outsize)
{
    static const char hex[] = "0123456789abcdef";
    if (!key || keylen == 0 || !number)
        return PL_ERR_INVALID;
    if (!out || outsize < 65)
        return PL_ERR_TOOBIG;

    unsigned char mac[32];
    size_t maclen = 0;
    EVP_MAC_CTX *ctx = pl_hmac_sha256_keyed(key, keylen);
    bool ok = ctx && EVP_MAC_update(ctx, (const unsigned char *)number, strlen(number)) &&
              EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) && maclen == sizeof(mac);
    EVP_MAC_CTX_free(ctx);
    if (!ok) {
        pl_card_wipe(mac, sizeof(mac));
        return PL_ERR_INVALID;
    }
    for (size_t k = 0; k < sizeof(mac); k++) {
        out[2 * k] = hex[mac[k] >> 4];
        out[2 * k + 1] = hex[mac[k] & 0x0f];
    }
    out[64] = '\0';
    pl_card_wipe(mac, sizeof(mac));
    return PL_OK;
}

/* ---- finding card numbers --------------------------------------------------------------- */

/*
 * The separators allowed between the digit groups of a card number (card.h lists them). The
 * upstream system is not trusted to write a number any one way: any ASCII space or punctuation
 * a person or a program puts between groups, and the UTF-8 spaces, dashes and dots that pasted
 * text brings along.
 */
static bool ascii_sep(unsigned char c)
{
    /* Not '*': what masking writes over digits must not join what is left of a number. Not
     * ':' nor '+': a date and clock time ("2026-12-06 04:09:00.867+00") would be 13-19 digits,
     * one in ten of them passing Luhn. (A card number in its brand's groups is found with
     * those too: grouped_from.) A table: it is asked after every digit run of every log line
     * and request field. DEL is one too: nobody sees it, and a bureau message drops it
     * (pl_card_keyboard_clean), sending the digits on either side as one number. */
    static const bool seps[128] = {
        [' '] = true,  ['\t'] = true, ['\n'] = true, ['\r'] = true, ['\v'] = true,
        ['\f'] = true, ['-'] = true,  ['.'] = true,  ['_'] = true,  ['/'] = true,
        ['\\'] = true, [','] = true,  [';'] = true,  ['|'] = true,  ['#'] = true,
        ['~'] = true,  ['='] = true,  ['\''] = true, [0x7f] = true,
    };
    return c < 128 && seps[c];
}

static const char *const utf8_separators[] = {
    "\xc2\xa0",     /* U+00A0 no-break space */
    "\xc2\xad",     /* U+00AD soft hyphen */
    "\xc2\xb7",     /* U+00B7 middle dot */
    "\xe2\x80\x80", /* U+2000-U+200B: en quad ... zero-width space */
    "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85",
    "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a",
    "\xe2\x80\x8b", "\xe2\x80\x90", /* U+2010-U+2015: hyphen ... horizontal bar */
    "\xe2\x80\x91", "\xe2\x80\x92", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95",
    "\xe2\x80\xa2", /* U+2022 bullet */
    "\xe2\x80\xa7", /* U+2027 hyphenation point */
    "\xe2\x80\xaf", /* U+202F narrow no-break space */
    "\xe2\x81\x9f", /* U+205F medium mathematical space */
    "\xe2\x81\xa0", /* U+2060 word joiner */
    "\xe2\x88\x92", /* U+2212 minus sign */
    "\xe3\x80\x80", /* U+3000 ideographic space */
    "\xe3\x80\x81", /* U+3001 ideographic comma */
    "\xe3\x83\xbb", /* U+30FB katakana middle dot */
    "\xef\xb9\xa3", /* U+FE63 small hyphen-minus */
    "\xef\xbb\xbf", /* U+FEFF zero-width no-break space */
    "\xef\xbc\x8c", /* U+FF0C fullwidth comma */
    "\xef\xbc\x8d", /* U+FF0D fullwidth hyphen-minus */
    "\xef\xbc\x8e", /* U+FF0E fullwidth full stop */
    "\xef\xbc\x8f", /* U+FF0F fullwidth solidus */
};

/*
 * The other Unicode format characters (U+200B, U+2060 and U+FEFF are above), separators too:
 * nobody sees them, and a bureau message drops them with every other character off the
 * keyboard (pl_card_keyboard_clean), so "4111<U+200D>1111..." shows as nothing on a screen
 * and reaches the bureau as the number.
 */
static const char *const utf8_format_chars[] = {
    "\xe1\xa0\x8e", /* U+180E Mongolian vowel separator */
    "\xe2\x80\x8c", /* U+200C zero-width non-joiner */
    "\xe2\x80\x8d", /* U+200D zero-width joiner */
    "\xe2\x80\x8e", /* U+200E left-to-right mark */
    "\xe2\x80\x8f", /* U+200F right-to-left mark */
    "\xe2\x80\xaa", /* U+202A left-to-right embedding */
    "\xe2\x80\xab", /* U+202B right-to-left embedding */
    "\xe2\x80\xac", /* U+202C pop directional formatting */
    "\xe2\x80\xad", /* U+202D left-to-right override */
    "\xe2\x80\xae", /* U+202E right-to-left override */
    "\xe2\x81\xa1", /* U+2061 function application */
    "\xe2\x81\xa2", /* U+2062 invisible times */
    "\xe2\x81\xa3", /* U+2063 invisible separator */
    "\xe2\x81\xa4", /* U+2064 invisible plus */
};

/* True when p[0, n) (n is 2 or 3) is one of the UTF-8 separators of the two lists above. */
static bool utf8_sep_is(const char *p, size_t n)
{
    static const struct {
        const char *const *list;
        size_t len;
    } lists[] = {
        {utf8_separators, sizeof utf8_separators / sizeof utf8_separators[0]},
        {utf8_format_chars, sizeof utf8_format_chars / sizeof utf8_format_chars[0]},
    };
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        for (size_t k = 0; k < lists[l].len; k++) {
            const char *sep = lists[l].list[k];
            if ((sep[0] == '\xc2' ? 2u : 3u) == n && memcmp(p, sep, n) == 0)
                return true;
        }
    return false;
}

/* Length of the separator starting at t[i] (t has len bytes), or 0. */
static size_t sep_at(const char *t, size_t len, size_t i)
{
    unsigned char c = (unsigned char)t[i];
    if (c < 0x80)
        return ascii_sep(c) ? 1 : 0;
    size_t n = c == 0xc2 ? 2 : c == 0xe1 || c == 0xe2 || c == 0xe3 || c == 0xef ? 3 : 0;
    return n > 0 && n <= len - i && utf8_sep_is(t + i, n) ? n : 0;
}

/* Length of the separator ending just before t[end], or 0. */
static size_t sep_before(const char *t, size_t end)
{
    if (end == 0)
        return 0;
    if ((unsigned char)t[end - 1] < 0x80)
        return ascii_sep((unsigned char)t[end - 1]) ? 1 : 0;
    for (size_t n = 2; n <= 3; n++)
        if (n <= end && utf8_sep_is(t + end - n, n))
            return n;
    return 0;
}

/* At most this many separators in a row join two digit groups ("4111 - 1111"). */
#define MAX_JOINING_SEPS 3

/* Length of the separators at t[i] when a digit follows them (so they join two groups), or 0. */
static size_t joining_sep_at(const char *t, size_t len, size_t i)
{
    size_t j = i;
    for (int k = 0; k < MAX_JOINING_SEPS && j < len; k++) {
        size_t n = sep_at(t, len, j);
        if (n == 0)
            break;
        j += n;
        if (j < len && digit_at(t, len, j))
            return j - i;
    }
    return 0;
}

/*
 * The longest card number that starts with the digit run at t[s]: whole runs joined by single
 * separators, 13-19 digits in all, passing Luhn. A run is of one kind of digit: where ASCII and
 * full-width digits meet, one run ends and the next begins, joined as by a separator (so a
 * number glued to digits of the other kind is still found, as it was when full-width digits
 * were no digits). Returns its end (0 when there is none) and its digit count in *digits. Looks
 * at no more than 19 digits and the separators between.
 */
static size_t longest_from(const char *t, size_t len, size_t s, size_t *digits)
{
    char d[SCRUB_MAX_DIGITS];
    size_t nd = 0, best = 0;
    size_t j = s;
    for (;;) {
        size_t n, kind = digit_at(t, len, j);
        while (j < len && nd < SCRUB_MAX_DIGITS && (n = digit_at(t, len, j)) == kind) {
            d[nd++] = digit_value(t, j);
            j += n;
        }
        n = j < len ? digit_at(t, len, j) : 0;
        if (n == kind)
            break; /* more than 19 digits: no longer window can be a card number */
        if (nd >= SCRUB_MIN_DIGITS && luhn_digits(d, nd)) {
            best = j;
            *digits = nd;
        }
        if (n > 0)
            continue; /* a run of the other kind (none is read when 19 are: it ends above) */
        n = joining_sep_at(t, len, j);
        if (n == 0)
            break;
        j += n;
    }
    pl_card_wipe(d, sizeof d);
    return best;
}

/* A card number with digits glued to its end (pl_card_find): the number's least digits, and
 * the least and most the number and the glued digits hold together (a format-preserving token
 * has 16; a CyberSource request ID, 22, may begin as a card brand's numbers do). */
#define GLUED_MIN_NUMBER 14
#define GLUED_MIN_ALL 17
#define GLUED_MAX_ALL SCRUB_MAX_DIGITS

/* The first len ASCII digits of d as an integer (len <= 6). */
static long digits_value(const char *d, size_t len)
{
    long v = 0;
    for (size_t k = 0; k < len; k++)
        v = v * 10 + (d[k] - '0');
    return v;
}

/*
 * True when the n ASCII digits d begin as a card brand's numbers do and n is a length that
 * brand issues (the brands pl_card_type_guess knows, and UnionPay): what a number with digits
 * glued to it must be, since any long run of digits holds some window that passes Luhn.
 */
static bool brand_number(const char *d, size_t n)
{
    long p2 = digits_value(d, 2), p3 = digits_value(d, 3), p4 = digits_value(d, 4);
    if (d[0] == '4')
        return n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return n == 16;
    if (p2 == 34 || p2 == 37)
        return n == 15;
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || p2 == 62 ||
        (p4 >= 3528 && p4 <= 3589))
        return n >= 16;
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)
        return n >= 14;
    return false;
}

/*
 * The card numbers with digits glued to their end that start with the digit run at t[s]
 * (pl_card_find says which): runs joined by separators as for longest_from, 17-19 digits in
 * all, the number ending inside the last of them. Writes each (at most max, the longest first
 * within a run) into out and returns how many. Looks at no more than 19 digits and the
 * separators between.
 */
static size_t glued_from(const char *t, size_t len, size_t s, pl_card_match *out, size_t max)
{
    char d[GLUED_MAX_ALL];
    size_t after[GLUED_MAX_ALL]; /* where each digit ends */
    size_t nd = 0, found = 0;
    size_t j = s;
    for (;;) {
        size_t n, kind = digit_at(t, len, j), first = nd;
        while (j < len && nd < GLUED_MAX_ALL && (n = digit_at(t, len, j)) == kind) {
            d[nd] = digit_value(t, j);
            j += n;
            after[nd++] = j;
        }
        n = j < len ? digit_at(t, len, j) : 0;
        if (n == kind)
            break; /* more than 19 digits: an identifier, not a number and its code */
        /* This run ends at digit nd: a number ending inside it. */
        size_t lo = first + 1 > GLUED_MIN_NUMBER ? first + 1 : GLUED_MIN_NUMBER;
        if (nd >= GLUED_MIN_ALL) {
            for (size_t k = nd - 1; k >= lo && found < max; k--) {
                if (brand_number(d, k) && luhn_digits(d, k)) {
                    out[found].start = s;
                    out[found].end = after[k - 1];
                    out[found].digits = k;
                    out[found].tail_end = after[nd - 1];
                    found++;
                }
            }
        }
        if (nd >= SCRUB_MAX_DIGITS)
            break; /* a number ending inside a later run would have more than 19 digits */
        if (n > 0)
            continue; /* a run of the other kind */
        n = joining_sep_at(t, len, j);
        if (n == 0)
            break;
        j += n;
    }
    pl_card_wipe(d, sizeof d);
    return found;
}

/* The most readings glued_from can give of one start: one a number length (14-19). */
#define GLUED_MAX_READINGS (SCRUB_MAX_DIGITS - GLUED_MIN_NUMBER + 1)

/*
 * ---- card numbers in their brand's groups ----
 *
 * A card number written in the groups its brand prints (4-4-4-4, 4-4-4-4-3, American Express
 * 4-6-5, Diners Club 4-6-4) is found whatever joins the groups, so long as the same characters
 * join each pair: any run of up to six ASCII punctuation or whitespace characters or UTF-8
 * separators (':' "4111:1111:1111:1111", which request_id allows; '+', '*', " -- ", " : "), the
 * first group also in parentheses ("(4111) 1111 1111 1111"). The groups, the one separator
 * and Luhn alone would take a time, an IPv6 address or a table of years for a card number
 * more often than free text can bear, so the reading asks more than the loose one
 * (longest_from) does: each group a whole digit run of exactly its size, the same separator
 * between every two groups, and the number one of a card brand's of that length
 * (brand_number: a year, 19xx or 20xx, is none). An IPv6 address has groups of four decimal
 * digits joined by ':' too (its random half, one address in a few thousand), so a number whose
 * separator holds ':' is not read where the address would go on (colon_ok).
 */
#define GROUPED_MAX_SEPS 6   /* characters joining two groups ("  --  ") */
#define GROUPED_MAX_GROUP 6  /* digits of the longest group */
#define GROUPED_MAX_GROUPS 5 /* groups of the longest shape */

static const struct {
    size_t n;
    unsigned char size[GROUPED_MAX_GROUPS];
} grouped_shapes[] = {
    {4, {4, 4, 4, 4}},    /* 16 digits: Visa, Mastercard, Discover, JCB, UnionPay */
    {5, {4, 4, 4, 4, 3}}, /* 19 digits */
    {3, {4, 6, 5}},       /* 15 digits: American Express */
    {3, {4, 6, 4}},       /* 14 digits: Diners Club */
};
#define GROUPED_SHAPES (sizeof grouped_shapes / sizeof grouped_shapes[0])

/* The most bytes colon_ok looks at before a number's first digit and after its last. */
#define COLON_LOOK_BEFORE 7
#define COLON_LOOK_AFTER 6

static bool is_alnum(unsigned char c)
{
    return is_digit((char)c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static bool is_hex_letter(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'f';
}

/* What a choice view (VIEW_SPACED | VIEW_CHOICE) writes for a run it drops between two digits:
 * a control no view keeps otherwise (it is no separator, so every view drops it). */
#define VIEW_SOFT '\x01'

/*
 * For a number in brand groups joined by a separator holding ':' that runs over t[s, e): false
 * when it reads as part of an IPv6 address, whose groups of 1-4 hex digits go on past a ':' on
 * one side. Before it: "::", or ':' after such a group ("fe80::1:4111:1111:1111:1111",
 * "2001:db8:ab:cdef:4111:..."), but not after a longer word ("card:4111:1111:1111:1111").
 * After it: "::", or ':' and such a group and ':' again (an address has eight groups or a
 * "::"; "4111:1111:1111:1111:123", a security code after it, reads as a card number). Looks at
 * no more than COLON_LOOK_BEFORE bytes before s and COLON_LOOK_AFTER from e. In a choice view
 * (soft), a word before s with a VIEW_SOFT just before it is taken for no group, as if the run
 * joined it to the word before that ("12345é123:4111:..." is "12345123:4111:..." with é read as
 * nothing, a card number however "12345 123:" reads). Joined, it is not always too long for one
 * ("1é2:4539:..." gives "12:"), so this refuses a little more than either reading would: the run
 * may be either, and taking the number for one where it is none is the safe mistake (an address
 * itself has eight groups or a "::", which the look after s turns away first).
 */
static bool colon_ok(const char *t, size_t len, size_t s, size_t e, bool soft)
{
    if (s > 0 && t[s - 1] == ':') {
        size_t c = s - 1, k = c;
        bool hex = true;
        while (k > 0 && c - k < 5 && is_alnum((unsigned char)t[k - 1])) {
            hex = hex && (is_digit(t[k - 1]) || is_hex_letter((unsigned char)t[k - 1]));
            k--;
        }
        if (c > 0 && t[c - 1] == ':')
            return false;
        if (c - k >= 1 && c - k <= 4 && hex && (k == 0 || !is_alnum((unsigned char)t[k - 1])) &&
            !(soft && k > 0 && t[k - 1] == VIEW_SOFT))
            return false;
    }
    if (e < len && t[e] == ':') {
        size_t k = e + 1;
        if (k < len && t[k] == ':')
            return false;
        bool hex = true;
        while (k < len && k - e <= 5 && is_alnum((unsigned char)t[k])) {
            hex = hex && (is_digit(t[k]) || is_hex_letter((unsigned char)t[k]));
            k++;
        }
        if (k - e >= 2 && k - e <= 5 && hex && k < len && t[k] == ':')
            return false;
    }
    return true;
}

/* ASCII punctuation or whitespace: what may join the groups of a number in its brand's groups
 * (besides the UTF-8 separators sep_at knows). */
static bool grouped_ascii_sep(unsigned char c)
{
    /* DEL too, as for ascii_sep: scrub_join_at must join what pl_card_find joins. */
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7f) || c == ' ' || (c >= '\t' && c <= '\r');
}

/* Length of the separator at t[i] that may join brand groups, or 0. */
static size_t grouped_sep_at(const char *t, size_t len, size_t i)
{
    unsigned char c = (unsigned char)t[i];
    if (c < 0x80)
        return grouped_ascii_sep(c) ? 1 : 0;
    return sep_at(t, len, i);
}

/* Length of the separator ending just before t[end] that may join brand groups, or 0. */
static size_t grouped_sep_before(const char *t, size_t end)
{
    if (end == 0)
        return 0;
    if ((unsigned char)t[end - 1] < 0x80)
        return grouped_ascii_sep((unsigned char)t[end - 1]) ? 1 : 0;
    return sep_before(t, end);
}

/* Bytes of the run of min to max brand group separators at t[i] when a digit follows it, or 0
 * (min 0: the run may be empty; 0 is then also "a digit right here"). *ok says which. */
static size_t grouped_gap(const char *t, size_t len, size_t i, size_t min, size_t max, bool *ok)
{
    size_t j = i, k = 0, n;
    *ok = false;
    for (;;) {
        if (j < len && digit_at(t, len, j)) {
            *ok = k >= min;
            return j - i;
        }
        if (k == max || j >= len || (n = grouped_sep_at(t, len, j)) == 0)
            return 0;
        j += n;
        k++;
    }
}

/*
 * The longest card number in its brand's groups (above) that starts with the digit run at t[s],
 * its first group in parentheses when paren. Returns its end (0 when there is none) and its
 * digit count in *digits. Looks at no more than five groups of at most seven digits and the
 * separators between them.
 */
static size_t grouped_one(const char *t, size_t len, size_t s, bool paren, size_t *digits)
{
    char d[SCRUB_MAX_DIGITS];
    size_t nd = 0, best = 0, groups = 0;
    size_t j = s, tok = 0, toklen = 0;
    bool colon = false;
    unsigned alive = (1u << GROUPED_SHAPES) - 1;
    for (;;) {
        size_t size = 0, n;
        while (j < len && (n = digit_at(t, len, j)) > 0 && size <= GROUPED_MAX_GROUP) {
            if (nd < SCRUB_MAX_DIGITS)
                d[nd++] = digit_value(t, j);
            j += n;
            size++;
        }
        bool more = false, done = false;
        for (size_t k = 0; k < GROUPED_SHAPES; k++) {
            if (!(alive & (1u << k)))
                continue;
            if (groups >= grouped_shapes[k].n || grouped_shapes[k].size[groups] != size) {
                alive &= ~(1u << k);
                continue;
            }
            if (groups + 1 == grouped_shapes[k].n)
                done = true;
            else
                more = true;
        }
        groups++;
        if (done && luhn_digits(d, nd) && brand_number(d, nd) &&
            (!colon || colon_ok(t, len, s, j, false))) {
            best = j;
            *digits = nd;
        }
        if (!more)
            break;
        bool ok;
        if (groups == 1 && paren) {
            /* "(4111) 1111 ...": what follows the parenthesis need not be the separator. */
            if (j >= len || t[j] != ')')
                break;
            n = grouped_gap(t, len, j + 1, 0, GROUPED_MAX_SEPS, &ok);
            if (!ok)
                break;
            j += 1 + n;
            continue;
        }
        n = grouped_gap(t, len, j, 1, GROUPED_MAX_SEPS, &ok);
        if (!ok)
            break;
        if (toklen == 0) {
            tok = j;
            toklen = n;
            colon = memchr(t + j, ':', n) != NULL;
        } else if (n != toklen || memcmp(t + j, t + tok, n) != 0) {
            break;
        }
        j += n;
    }
    pl_card_wipe(d, sizeof d);
    return best;
}

/* Bytes of the run of one to seven brand group separators ending just before t[end] when a
 * digit comes before it (what scrub_join_at joins, read backwards), or 0. */
static size_t grouped_gap_before(const char *t, size_t end)
{
    size_t j = end, n;
    for (size_t k = 0; k <= GROUPED_MAX_SEPS && (n = grouped_sep_before(t, j)) > 0; k++) {
        j -= n;
        if (digit_before(t, j))
            return end - j;
    }
    return 0;
}

/* grouped_one for the digit run at t[s] (a whole run only), with and without parentheses. */
static size_t grouped_from(const char *t, size_t len, size_t s, size_t *digits)
{
    if (digit_before(t, s))
        return 0;
    size_t pd = 0, best = grouped_one(t, len, s, false, digits);
    size_t p = s > 0 && t[s - 1] == '(' ? grouped_one(t, len, s, true, &pd) : 0;
    if (p > best) {
        best = p;
        *digits = pd;
    }
    return best;
}

bool pl_card_find(const char *text, size_t len, size_t *pos, pl_card_match *m)
{
    if (!text || !pos || !m)
        return false;
    size_t i = *pos, n;
    /* A position inside a digit run (not one this function returned) moves to its end. */
    while (i > 0 && i < len && (n = digit_at(text, len, i)) > 0 && digit_before(text, i) == n)
        i += n;
    while (i < len) {
        size_t kind = digit_at(text, len, i);
        if (!kind) {
            i++;
            continue;
        }
        size_t s = i, digits = 0, gdigits = 0;
        size_t end = longest_from(text, len, s, &digits);
        size_t gend = grouped_from(text, len, s, &gdigits);
        if (gend > end) {
            end = gend; /* its digits are those of the loose reading and more */
            digits = gdigits;
        }
        while (i < len && digit_at(text, len, i) == kind)
            i += kind;
        if (end > 0) {
            *pos = i;
            m->start = s;
            m->end = end;
            m->digits = digits;
            m->tail_end = end;
            return true;
        }
        pl_card_match g[GLUED_MAX_READINGS];
        size_t ng = glued_from(text, len, s, g, GLUED_MAX_READINGS);
        if (ng > 0) {
            size_t best = 0; /* the longest number: later runs' readings come later */
            for (size_t k = 1; k < ng; k++)
                if (g[k].digits > g[best].digits)
                    best = k;
            *pos = i;
            *m = g[best];
            return true;
        }
    }
    *pos = len;
    return false;
}

bool pl_card_contains(const char *text, size_t len)
{
    size_t pos = 0;
    pl_card_match m;
    return pl_card_find(text, len, &pos, &m);
}

/* The digits of an expiry date glued to a card number (pl_card_contains_with_expiry). */
#define EXPIRY_DIGITS 4

/* True when the four ASCII digits d read as MMYY or as YYMM: a month 01-12 at either end. */
static bool expiry_like(const char *d)
{
    int head = (d[0] - '0') * 10 + (d[1] - '0');
    int tail = (d[2] - '0') * 10 + (d[3] - '0');
    return (head >= 1 && head <= 12) || (tail >= 1 && tail <= 12);
}

/*
 * For the digit run of one kind at t[s]: sets *e to its end and returns true when it is a card
 * number with its expiry date glued to its end (pl_card_contains_with_expiry's 20 or 21 digits;
 * *digits gets how many).
 */
static bool expiry_run_at(const char *t, size_t len, size_t s, size_t *e, size_t *digits)
{
    char d[SCRUB_MAX_DIGITS + EXPIRY_DIGITS];
    size_t kind = digit_at(t, len, s), nd = 0, i = s;
    for (; i < len && digit_at(t, len, i) == kind; i += kind) {
        if (nd < sizeof d)
            d[nd] = digit_value(t, i);
        nd++;
    }
    *e = i;
    *digits = nd;
    /* Only a run of 20 or 21 digits: a shorter one with a card number in it pl_card_find
     * finds (glued digits), and from 22 on a run is an identifier's length (a CyberSource
     * request ID has 22), refused here too often (a 19-digit number and its date, 23 digits,
     * is let go for that). */
    bool found = false;
    if (nd >= SCRUB_MAX_DIGITS + 1 && nd <= SCRUB_MAX_DIGITS + 2) {
        size_t n = nd - EXPIRY_DIGITS;
        found = brand_number(d, n) && luhn_digits(d, n) && expiry_like(d + n);
    }
    pl_card_wipe(d, sizeof d);
    return found;
}

bool pl_card_contains_with_expiry(const char *text, size_t len)
{
    if (pl_card_contains(text, len))
        return true;
    if (!text)
        return false;
    for (size_t i = 0; i < len;) {
        size_t e, nd;
        if (!digit_at(text, len, i))
            i++;
        else if (expiry_run_at(text, len, i, &e, &nd))
            return true;
        else
            i = e;
    }
    return false;
}

/*
 * ---- card numbers the scan of the text as it came does not see ----
 *
 * A bureau message keeps only the characters on the keyboard (pl_card_keyboard_clean), and a
 * reader does not see the invisible ones: "4111é1111é1111é1111" reaches the bureau as
 * 4111111111111111, and digits with a zero-width joiner, a direction mark or a control
 * character between them read as one number. A text is therefore also read in views with
 * those characters gone: the bureau's (only the bytes on the keyboard), and a reader's (those
 * and the full-width digits, '=' and '^' U+FF1D and U+FF3E, read as their ASCII forms:
 * "４１１１é１１１１é..." is a card number to the eye, though the bureau would get none of it).
 *
 * Dropping a character glues the digits on either side of it, and glued digits can hide a
 * number as well as make one: in "6011111111111117é4111é1111é1111é1111" or "order
 * 12é4111é1111é1111é1111" the bureau's view has one run of 32 or 18 digits, a run too long to
 * be read or one that does not pass Luhn, and 4111111111111111 was left in clear (and a request
 * carrying it taken). So each view is also read with every run of characters it drops standing
 * for one space (VIEW_SPACED), a separator, where the number shows as it does in "... 4111 1111
 * 1111 1111": one for a run, not one each, since four zero-width spaces in one gap and one
 * accent in each other ("99é4111" U+200B x4 "1111é1111é1111") are no more a reason to read
 * the groups apart than one is, and six spaces in a gap are past what the scan joins. The ASCII
 * controls that are separators to the scan already (tab, line ends, DEL) stay
 * themselves there, so a text with no other character off the keyboard (a multi-line log line or
 * bureau body) needs no such view: it would be the text as it came. A run beside an ASCII
 * separator is nothing there rather than a space (view_at), and a number only those views show
 * must be a brand's (spaced_match_ok): spaces read into a text find digit groups that read as a
 * number passing Luhn in order IDs and dates among words in another script.
 *
 * One view a text reads every run the same way, and a number in its brand's groups joined by
 * what the loose reading does not join (four to six characters, ':', '+') can need both at once:
 * in "12é4111  --  1111  --  11é11  --  1111" the first é must part 12 from 4111 and the third
 * join 11 to 11, so the bureau's view has a first group of six and the spaced one a group of
 * two and one of two. (Joined by what the loose reading joins, the spaced view finds any such
 * number: a space parts no run the loose reading would join.) So each spaced view is read once
 * more with a run between two digits marked (VIEW_CHOICE, VIEW_SOFT) and only in brand groups
 * (soft_grouped_one): there a marked run is nothing inside a group and a space at a group's
 * either end, which the groups' sizes decide run by run, and the groups are joined as in any
 * text, by the same separators each time (a marked run there a space, as in the spaced view,
 * but only after a first group in parentheses: groups parted by runs off the keyboard alone are
 * dates and times among CJK characters, which the spaced view reads already).
 * A number so read is a brand's, as in a spaced view; read only in groups, a longer loose
 * reading from the same start that is no brand's (which spaced_match_ok turns away) does not
 * hide it.
 */

/* Views up to this long are made on the stack. */
#define VIEW_SMALL 512

/* A view, by its two choices: the reader's (full-width digits kept, as ASCII) or the bureau's,
 * and what it drops gone or read as spaces. */
enum { VIEW_READER = 1, VIEW_SPACED = 2, VIEW_CHOICE = 4, VIEW_KINDS = 8 };

/*
 * The byte t[i] gives in the bureau's view, or in the reader's: 1 (or 3, a full-width character
 * the reader's view keeps) bytes of t make the byte *c; 0 when the view drops t[i].
 */
static size_t view_kept_at(const char *t, size_t len, size_t i, bool reader, char *c)
{
    if (pl_card_is_keyboard_char(t[i])) {
        *c = t[i];
        return 1;
    }
    if (!reader || (unsigned char)t[i] != 0xef || len - i < 3 || (unsigned char)t[i + 1] != 0xbc)
        return 0;
    unsigned char b = (unsigned char)t[i + 2];
    if (b >= 0x90 && b <= 0x99)
        *c = (char)('0' + (b - 0x90)); /* U+FF10-U+FF19 */
    else if (b == 0x9d)
        *c = '='; /* U+FF1D */
    else if (b == 0xbe)
        *c = '^'; /* U+FF3E */
    else
        return 0;
    return 3;
}

/* True when the view with its dropped characters read as spaces is the text itself for the
 * byte c off the keyboard: a control the scan takes for a separator already (ascii_sep). */
static bool spaced_as_is(unsigned char c)
{
    return c < 0x80 && ascii_sep(c);
}

/* True when t[j] is a separator on the keyboard the scan may join groups with (grouped_ascii_sep,
 * which takes in ascii_sep and the controls spaced_as_is keeps). */
static bool keyboard_sep_at(const char *t, size_t j)
{
    unsigned char b = (unsigned char)t[j];
    return b < 0x80 && grouped_ascii_sep(b);
}

/*
 * The byte view `view` (VIEW_READER, VIEW_SPACED or both, or neither: the bureau's) gives at
 * t[i]: the number of bytes of t it takes (at least one), and *made false when the view has
 * nothing for them or true and the byte in *c. A spaced view keeps a control that is a
 * separator already as itself, and reads each whole run of the bytes the other would drop as
 * one space, however long (a word in another script, four zero-width spaces, stray UTF-8
 * bytes): "99é4111" and four U+200B and "1111-1111-1111" is "99 4111 1111-1111-1111", which
 * the scan reads as it reads the number typed so. A run beside a separator on the keyboard
 * (a space, '-', '.', '/', a tab: what the scan joins groups with) is nothing there instead:
 * the separator already parts the digits, and a space besides would make that gap one longer
 * than the scan joins and unlike the number's other gaps, hiding the number again ("12é4111 -
 * é1111 - 1111 - 1111" is "12 4111 - 1111 - 1111 - 1111", not "... - ␠1111 ..."). A choice
 * view (VIEW_CHOICE) writes VIEW_SOFT instead of the space for a run between two digits of the
 * view. A run is walked once, so making a view stays linear in the text.
 */
static size_t view_at(const char *t, size_t len, size_t i, int view, char *c, bool *made)
{
    size_t n = view_kept_at(t, len, i, view & VIEW_READER, c);
    *made = n > 0;
    if (n > 0 || !(view & VIEW_SPACED))
        return n > 0 ? n : 1;
    unsigned char b = (unsigned char)t[i];
    *made = true;
    if (spaced_as_is(b)) {
        *c = (char)b;
        return 1;
    }
    char d;
    for (n = 1; i + n < len && !spaced_as_is((unsigned char)t[i + n]) &&
                view_kept_at(t, len, i + n, view & VIEW_READER, &d) == 0;
         n++)
        ;
    *c = ' ';
    *made = !(i > 0 && keyboard_sep_at(t, i - 1)) && !(i + n < len && keyboard_sep_at(t, i + n));
    if ((view & VIEW_CHOICE) && i + n < len &&
        view_kept_at(t, len, i + n, view & VIEW_READER, &d) > 0 && is_digit(d) &&
        (view & VIEW_READER ? digit_before(t, i) > 0 : i > 0 && is_digit(t[i - 1])))
        *c = VIEW_SOFT;
    return n;
}

/* Writes the view of t[0, len) into v (room for len bytes) and returns its length. */
static size_t view_make(const char *t, size_t len, int view, char *v)
{
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        bool made;
        i += view_at(t, len, i, view, &v[k], &made);
        k += made;
    }
    return k;
}

/* True when the reader's view of t[0, len) differs from the bureau's: a full-width character
 * it keeps is there. */
static bool has_full_width(const char *t, size_t len)
{
    char c;
    for (const char *p = memchr(t, 0xef, len); p;
         p = memchr(p + 1, 0xef, len - (size_t)(p + 1 - t)))
        if (view_kept_at(t, len, (size_t)(p - t), true, &c) == 3)
            return true;
    return false;
}

/*
 * True when the spaced view of t[0, len) (the reader's when reader) may show a number no other
 * reading does: a space it reads for dropped characters (or a run it reads as nothing beside
 * a separator) lies between two digits with at most
 * GROUPED_MAX_SEPS characters of that view between them, that space included, each one such
 * a space or a separator of a number in its brand's groups: the most a number is joined across
 * there. Elsewhere a space stands where the text as it came has characters that are no digit,
 * letter or separator either, which read the same. One pass over the view, no view built, for
 * the texts with accents that most log lines and bureau texts with them are (a name, a city
 * beside an amount or a request ID); linear in the text however its bytes run (a megabyte of
 * stray UTF-8 continuation bytes is one run, walked once).
 */
static bool spaced_joins(const char *t, size_t len, bool reader)
{
    int view = VIEW_SPACED | (reader ? VIEW_READER : 0);
    size_t seps = GROUPED_MAX_SEPS + 1; /* view characters since the last digit; more: none */
    bool space = false;                 /* one of them a space for dropped characters */
    for (size_t i = 0; i < len;) {
        char c;
        bool made;
        size_t n = view_at(t, len, i, view, &c, &made);
        if (!made) {
            /* A run beside a separator is nothing in this view, where the text as it came has
             * characters the scan does not join across: as much a change as a space. */
            space |= seps <= GROUPED_MAX_SEPS;
            i += n;
            continue;
        }
        if (is_digit(c)) {
            if (space)
                return true;
            seps = 0;
        } else if (seps < GROUPED_MAX_SEPS && grouped_ascii_sep((unsigned char)c)) {
            seps++;
            space |= c == ' ' && t[i] != ' ';
        } else {
            seps = GROUPED_MAX_SEPS + 1;
            space = false;
        }
        i += n;
    }
    return false;
}

/*
 * Which views of t[0, len), a text with a byte off the keyboard, can show what the text as it
 * came does not, as bits of the view numbers (1u << view): the bureau's always; the reader's
 * two only with a full-width character in the text; a spaced one only when spaced_joins says
 * so for it, and `spaced` (false: the caller counted no byte off the keyboard that is not
 * spaced_as_is, as in a multi-line text, whose spaced view is the text itself); a choice view
 * with its spaced view (a run between two digits is a space between them that spaced_joins
 * sees).
 */
static unsigned views_of(const char *t, size_t len, bool spaced)
{
    bool fw = has_full_width(t, len);
    unsigned views =
        1u << 0 | (fw ? 1u << VIEW_READER : 0) |
        (spaced && spaced_joins(t, len, false) ? 1u << VIEW_SPACED : 0) |
        (spaced && fw && spaced_joins(t, len, true) ? 1u << (VIEW_READER | VIEW_SPACED) : 0);
    return views | (views & (1u << VIEW_SPACED) ? 1u << (VIEW_SPACED | VIEW_CHOICE) : 0) |
           (views & (1u << (VIEW_READER | VIEW_SPACED))
                ? 1u << (VIEW_READER | VIEW_SPACED | VIEW_CHOICE)
                : 0);
}

/*
 * The card number in its brand's groups of shape grouped_shapes[shape] that starts at the digit
 * v[s] of a choice view v[0, n) (no digit before it): each group exactly its size of digits,
 * VIEW_SOFT read as nothing between two of them; at its end no digit (VIEW_SOFT there reads as a
 * space, as before s); the same separators between every two groups (grouped_gap, colon_ok; a
 * VIEW_SOFT there is a space, and only after a first group in parentheses), the first group
 * also in parentheses when paren (as grouped_one reads them), and a brand's number passing Luhn.
 * Returns its end (0 when there is none) and its digit count in *digits. The sizes leave one
 * walk for a start and a shape, over no more than 19 digits, the VIEW_SOFTs between them and
 * four gaps.
 */
static size_t soft_grouped_one(const char *v, size_t n, size_t s, size_t shape, bool paren,
                               size_t *digits)
{
    char d[SCRUB_MAX_DIGITS];
    size_t nd = 0, best = 0, j = s, toklen = 0;
    const char *tok = NULL;
    bool colon = false;
    for (size_t g = 0; g < grouped_shapes[shape].n; g++) {
        size_t size = 0, need = grouped_shapes[shape].size[g];
        while (size < need && j < n) {
            if (is_digit(v[j])) {
                d[nd++] = v[j++];
                size++;
            } else if (v[j] == VIEW_SOFT && size > 0 && j + 1 < n && is_digit(v[j + 1])) {
                j++;
            } else {
                break;
            }
        }
        if (size < need || (j < n && is_digit(v[j])))
            break;
        if (g + 1 == grouped_shapes[shape].n) {
            if (luhn_digits(d, nd) && brand_number(d, nd) &&
                (!colon || colon_ok(v, n, s, j, true))) {
                best = j;
                *digits = nd;
            }
            break;
        }
        bool ok;
        if (g == 0 && paren) {
            if (j >= n || v[j] != ')')
                break;
            size_t gap = grouped_gap(v, n, j + 1, 0, GROUPED_MAX_SEPS, &ok);
            if (!ok)
                break;
            j += 1 + gap;
            continue;
        }
        /* A VIEW_SOFT between groups is the space the spaced view reads there, but only after a
         * first group in parentheses: groups parted by runs off the keyboard alone are what
         * dates and times among CJK characters make ("09月26日01時04分，
         * 12月08日08時52分，02月26日" has 2601 0412 0808 5202, each run as nothing or a
         * space), and the spaced view reads those runs all as spaces already. */
        bool space = j < n && v[j] == VIEW_SOFT;
        if (space && !paren)
            break;
        const char *sep = space ? " " : v + j;
        size_t gap = space ? 1 : grouped_gap(v, n, j, 1, GROUPED_MAX_SEPS, &ok);
        if (!space && !ok)
            break;
        if (!tok) {
            tok = sep;
            toklen = gap;
            colon = memchr(sep, ':', gap) != NULL;
        } else if (gap != toklen || memcmp(sep, tok, gap) != 0) {
            break;
        }
        j += gap;
    }
    pl_card_wipe(d, sizeof d);
    return best;
}

/* pl_card_find for a choice view v[0, n): the next number soft_grouped_one reads from *pos on
 * (the longest of its shapes at a start), *pos set past its start. */
static bool soft_find(const char *v, size_t n, size_t *pos, pl_card_match *m)
{
    for (size_t s = *pos; s < n; s++) {
        if (!is_digit(v[s]) || (s > 0 && is_digit(v[s - 1])))
            continue;
        size_t best = 0, digits = 0;
        for (int paren = 0; paren <= (s > 0 && v[s - 1] == '('); paren++)
            for (size_t k = 0; k < GROUPED_SHAPES; k++) {
                size_t nd = 0, e = soft_grouped_one(v, n, s, k, paren, &nd);
                if (e > best) {
                    best = e;
                    digits = nd;
                }
            }
        if (best > 0) {
            *pos = s + 1;
            *m = (pl_card_match){.start = s, .end = best, .digits = digits, .tail_end = best};
            return true;
        }
    }
    *pos = n;
    return false;
}

/*
 * True when a spaced view may report the card number m that pl_card_find found in the view
 * v[0, n) (ASCII digits): it, or a reading with digits glued to its end from its start
 * (glued_from, always one), is a brand's number (brand_number: an issuer's prefix and a length
 * it issues). A space read for dropped characters parts digit groups the other views read
 * apart or glued, and so makes new readings in any text with digit groups and words in another
 * script ("訂單20261207番号123456789商品4567" reads "... 123456789 4567", 13 digits that pass
 * Luhn): only a real brand's number is worth refusing a merchant's order for there.
 */
static bool spaced_match_ok(const char *v, size_t n, const pl_card_match *m)
{
    char d[SCRUB_MAX_DIGITS];
    size_t nd = 0;
    for (size_t k = m->start; k < m->end && nd < sizeof d; k++)
        if (is_digit(v[k]))
            d[nd++] = v[k];
    bool ok = nd == m->digits && brand_number(d, nd);
    pl_card_wipe(d, sizeof d);
    pl_card_match g[GLUED_MAX_READINGS];
    return ok || glued_from(v, n, m->start, g, GLUED_MAX_READINGS) > 0;
}

/* pl_card_contains_with_expiry for the view v[0, n) (spaced_match_ok in a spaced one), or the
 * numbers soft_find reads in a choice view. */
static bool view_contains(const char *v, size_t n, int view)
{
    size_t pos = 0;
    pl_card_match m;
    if (view & VIEW_CHOICE)
        return memchr(v, VIEW_SOFT, n) && soft_find(v, n, &pos, &m);
    if (!(view & VIEW_SPACED))
        return pl_card_contains_with_expiry(v, n);
    while (pl_card_find(v, n, &pos, &m))
        if (spaced_match_ok(v, n, &m))
            return true;
    /* A number with its expiry date glued is a brand's already (expiry_run_at). */
    for (size_t i = 0; i < n;) {
        size_t e, nd;
        if (!is_digit(v[i]))
            i++;
        else if (expiry_run_at(v, n, i, &e, &nd))
            return true;
        else
            i = e;
    }
    return false;
}

bool pl_card_contains_full(const char *text, size_t len)
{
    if (!text)
        return false;
    if (pl_card_contains_with_expiry(text, len))
        return true;
    size_t k = 0;
    while (k < len && pl_card_is_keyboard_char(text[k]))
        k++;
    if (k == len)
        return false; /* all of it is on the keyboard: every view is the text itself */
    unsigned want = views_of(text, len, true);
    char small[VIEW_SMALL];
    char *v = len <= sizeof small ? small : malloc(len);
    if (!v)
        return true; /* refusing is the safe mistake */
    bool found = false;
    for (int view = 0; view < VIEW_KINDS && !found; view++) {
        if (!(want & (1u << view)))
            continue;
        size_t n = view_make(text, len, view, v);
        found = view_contains(v, n, view);
        pl_card_wipe(v, n);
    }
    if (v != small)
        free(v);
    return found;
}

bool pl_card_is_number(const char *text, size_t len)
{
    size_t pos = 0;
    pl_card_match m;
    /* The longest number starting at the first digit covers all of the text when any does. */
    return pl_card_find(text, len, &pos, &m) && m.start == 0 && m.end == len;
}

void pl_card_mask_copies(char *text, const char *number, bool whole_runs)
{
    size_t n = number ? strlen(number) : 0;
    if (!text || n == 0)
        return;
    for (char *p = strstr(text, number); p; p = strstr(p + n, number)) {
        if (whole_runs && ((p > text && is_digit(p[-1])) || is_digit(p[n])))
            continue;
        memset(p, '*', n > 4 ? n - 4 : n);
    }
}

size_t pl_card_cut_tail(char *text, size_t len)
{
    if (!text)
        return 0;
    /* An incomplete UTF-8 sequence at the end: continuation bytes, then their lead byte. */
    size_t k = len;
    while (k > 0 && ((unsigned char)text[k - 1] & 0xc0) == 0x80)
        k--;
    if (k > 0 && (unsigned char)text[k - 1] >= 0xc0) {
        unsigned char lead = (unsigned char)text[k - 1];
        size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
        if (len - (k - 1) < need)
            len = k - 1;
    }
    for (;;) {
        size_t n;
        if ((n = digit_before(text, len)) > 0)
            len -= n;
        else if ((n = sep_before(text, len)) > 0)
            len -= n;
        else if ((n = grouped_gap_before(text, len)) > 0)
            len -= n; /* the separator of a number in its brand's groups, after a digit */
        else
            break;
    }
    text[len] = '\0';
    return len;
}

size_t pl_card_cut_tail_full(char *text, size_t len)
{
    if (!text)
        return 0;
    len = pl_card_cut_tail(text, len);
    /*
     * The full scan reads a text in views that drop the characters off the keyboard
     * (view_make), so "4111<e-acute>1111<e-acute>1111<e-acute>" is 12 digits of a number there
     * though pl_card_cut_tail stops at the last <e-acute>. One pass back from the end over what
     * such a view would join to the cut: digits (full-width too), characters off the keyboard
     * (dropped: every byte of a multi-byte UTF-8 character is one, so the cut falls between
     * whole characters) and the separators of a number in its brand's groups (any ASCII
     * punctuation or space, grouped_sep_before), at most GROUPED_MAX_SEPS in a row between
     * digits, as pl_card_find joins groups in those views ("4111é+1111é+1111é+1111" is
     * 4111+1111+1111+1111 there). The views that read a dropped character as a space join no
     * more than that: the walk counts no character off the keyboard among those separators,
     * so it goes at least as far back as they join. The cut goes before the first digit reached,
     * then pl_card_cut_tail takes the separators before it. Only a digit moves the cut: a text of
     * words off the keyboard ("Номер карты неверен") is walked over, not cut, and the walk is
     * linear.
     */
    size_t k = len, cut = len;
    int seps = 0;
    while (k > 0) {
        size_t n;
        if ((n = digit_before(text, k)) > 0) {
            k -= n;
            cut = k;
            seps = 0;
        } else if (!pl_card_is_keyboard_char(text[k - 1])) {
            k--;
        } else if (seps < GROUPED_MAX_SEPS && (n = grouped_sep_before(text, k)) > 0) {
            k -= n;
            seps++;
        } else {
            break;
        }
    }
    if (cut < len)
        len = pl_card_cut_tail(text, cut);
    text[len] = '\0';
    return len;
}

/* ---- scrubbing -------------------------------------------------------------------------- */

enum { FLAG_MASK = 1, FLAG_COVER = 2, FLAG_TRACK = 4 };

/*
 * Ends a pass that cuts bytes out of a text of len characters as it goes (scrub_pans,
 * scrub_cvvs): t[0, w) is the text kept so far, t[from, len) the text not copied yet (from is 0
 * when nothing was cut). Moves the rest down (and hide's marks with it, one a byte, when
 * given), ends the text and returns its new length. The
 * bytes freed at the end are zeroed: they would otherwise keep stale characters (possibly
 * digits of a card number just replaced) past the new terminator, where a caller copying the
 * whole buffer could pick them up.
 */
static size_t end_cuts(char *t, size_t len, size_t w, size_t from, uint8_t *hide)
{
    if (from == 0)
        return len;
    if (hide)
        memmove(hide + w, hide + from, len - from);
    memmove(t + w, t + from, len - from);
    w += len - from;
    t[w] = '\0';
    pl_card_wipe(t + w + 1, len - w);
    return w;
}

/*
 * Marks a card number found in a group (offsets relative to the group) in flags: COVER for
 * every byte of it and of the digits glued to it, MASK for every digit but its last four and
 * for every glued digit.
 */
static void mark_match(const char *g, const pl_card_match *m, uint8_t *flags)
{
    for (size_t k = m->tail_end; k > m->end;) {
        size_t n = digit_before(g, k);
        if (n == 0 || n > k - m->end)
            n = 1; /* not reached: what is glued is digits */
        for (; n > 0; n--)
            flags[--k] |= FLAG_COVER | FLAG_MASK;
    }
    size_t seen = 0;
    for (size_t k = m->end; k > m->start;) {
        size_t n = digit_before(g, k);
        uint8_t f = FLAG_COVER;
        if (n == 0 || n > k - m->start)
            n = 1; /* a separator's byte */
        else if (seen++ >= 4)
            f |= FLAG_MASK;
        for (; n > 0; n--)
            flags[--k] |= f;
    }
}

/* Masks the digit at t[k] (digit_at: n bytes): '*', or a full-width one's full-width star. */
static void mask_digit(char *t, size_t k, size_t n)
{
    if (n == FW_DIGIT_LEN)
        memcpy(t + k, FW_STAR, FW_DIGIT_LEN);
    else
        t[k] = '*';
}

/*
 * ---- track data ----
 *
 * A magnetic stripe's track read and pasted: track 2 is the card number, '=', and digits (the
 * expiry date, the service code and the discretionary data, which holds the card's
 * verification value); track 1 is 'B', the card number, '^', the cardholder's name (up to 26
 * characters), '^' and such digits (ISO/IEC 7813). The number is masked as any; the digits
 * after it, which mean nothing without it and are sensitive authentication data (PCI DSS 3.3),
 * are masked whole. '=' and '^' count in their full-width forms too (U+FF1D, U+FF3E), as the
 * digits do.
 */
#define TRACK1_NAME_MAX 26

/* Length of the track field separator at t[i] ('=' or '^', ASCII or full-width; *c says
 * which), or 0. */
static size_t track_sep_at(const char *t, size_t len, size_t i, char *c)
{
    if (i >= len)
        return 0;
    if (t[i] == '=' || t[i] == '^') {
        *c = t[i];
        return 1;
    }
    if ((unsigned char)t[i] != 0xef || len - i < 3 || (unsigned char)t[i + 1] != 0xbc)
        return 0;
    unsigned char b = (unsigned char)t[i + 2];
    *c = b == 0x9d ? '=' : b == 0xbe ? '^' : '\0';
    return *c ? 3 : 0;
}

/*
 * The track data after a card number that ends at t[p] (its glued digits included): when a
 * track separator follows it, the digits after that (after the name and the second '^' for
 * track 1) are t[*from, returned end). 0 when there are none (*from is then not set).
 */
static size_t track_tail(const char *t, size_t len, size_t p, size_t *from)
{
    char c, c2 = 0;
    size_t n = track_sep_at(t, len, p, &c);
    if (n == 0)
        return 0;
    size_t q = p + n;
    if (c == '^') {
        /* The name: characters that are no digit, up to the second '^'. */
        for (size_t chars = 0; chars <= TRACK1_NAME_MAX && q < len; q++) {
            if ((n = track_sep_at(t, len, q, &c2)) > 0 || digit_at(t, len, q))
                break;
            chars += ((unsigned char)t[q] & 0xc0) != 0x80;
        }
        if (n == 0 || c2 != '^')
            return 0;
        q += n;
    }
    size_t e = q, d;
    while (e < len && (d = digit_at(t, len, e)) > 0)
        e += d;
    if (e == q)
        return 0;
    *from = q;
    return e;
}

/* The last bytes of the last group scrub_pans scrubbed, as they came, and where that ended. */
typedef struct scrub_tail {
    char bytes[COLON_LOOK_BEFORE];
    size_t n, end;
} scrub_tail;

/*
 * Track data found past the end of a group, its digits not masked yet: t[from, to) of the text
 * as it came (none when to is 0). Its digits become stars once every group that reads them has
 * been scanned: masked at once, they would break a card number read across them in the group
 * they lie in ("...^^41111111 11111111", the number after the stars no longer found and 8 of
 * its digits left in clear).
 */
typedef struct track_pend {
    size_t from, to;
} track_pend;

/* Masks the digits of t[from, to) (t has len bytes). */
static void mask_digits_in(char *t, size_t len, size_t from, size_t to)
{
    for (size_t k = from, d; k < to && k < len; k += d ? d : 1)
        if ((d = digit_at(t, len, k)) > 0)
            mask_digit(t, k, d);
}

/* Adds t[from, to) to the track data pending (one span: the union; a group's tails past its
 * end all start where its text lets one start, at the first digit after it). */
static void track_pend_add(track_pend *p, size_t from, size_t to)
{
    if (from >= to)
        return;
    if (p->to == 0) {
        p->from = from;
        p->to = to;
        return;
    }
    p->from = from < p->from ? from : p->from;
    p->to = to > p->to ? to : p->to;
}

/*
 * Scrubs one group t[g, e) of the text's len bytes (prev: the group scrubbed before it): digit runs
 * joined as scrub_join_at joins them (card numbers never span two groups). Every card number
 * pl_card_find reports is marked first, and only then are the marks applied, so overlapping numbers
 * are judged on the original digits and a card number that follows a short number ("ref 12 4111
 * 1111 1111 1111") is still found. Returns where the scrubbed group ends now (e, or less when a
 * word replaced its numbers); the bytes between that and e are left as they were, for the caller to
 * cut (scrub_pans).
 */
static size_t scrub_group(char *t, size_t len, size_t g, size_t e, const scrub_tail *prev,
                          track_pend *pend, uint8_t *hide, pl_mask_mode mode)
{
    size_t n = e - g;
    uint8_t small[256];
    uint8_t *flags = n <= sizeof(small) ? small : calloc(n, 1);

    if (!flags) {
        /* Without memory to judge the group, hide all of it rather than risk a leak (track
         * data pending in it with the rest). */
        if (pend->to > g && pend->from < e) {
            pend->from = e;
            if (pend->from >= pend->to)
                *pend = (track_pend){0, 0};
        }
        if (mode == PL_MASK_LAST4) {
            for (size_t k = g; k < e;) {
                size_t d = digit_at(t, e, k);
                if (d)
                    mask_digit(t, k, d);
                k += d ? d : 1;
            }
            return e;
        }
        memcpy(t + g, REMOVED_WORD, REMOVED_LEN);
        if (hide)
            memset(hide + g, 0, REMOVED_LEN);
        return g + REMOVED_LEN;
    }
    memset(flags, 0, n);
    /* The track data pending from an earlier group (it lies here: see below); this group's own
     * past its end is what goes on pending. Kept apart, so that the digits between the two are
     * not taken for track data. */
    track_pend in = *pend;
    *pend = (track_pend){0, 0};

    bool any = false;
    size_t end = e;
    size_t pos = 0;
    pl_card_match m;
    /*
     * The numbers are looked for with the bytes around the group in view, as they came (a '('
     * or the IPv6 look of colon_ok decides a reading in brand groups; what the view shows
     * besides the group holds too few digits to be a card number). The text after the group is
     * as it came; before it, the last group scrubbed may reach into the view: its bytes there
     * are put back as they came while the numbers are looked for.
     */
    size_t v = g > COLON_LOOK_BEFORE ? g - COLON_LOOK_BEFORE : 0;
    size_t ve = len - e > COLON_LOOK_AFTER ? e + COLON_LOOK_AFTER : len;
    char now[COLON_LOOK_BEFORE];
    size_t rs = 0, rn = 0;
    if (prev->n > 0 && v < prev->end) {
        rs = v > prev->end - prev->n ? v : prev->end - prev->n;
        rn = prev->end - rs;
        memcpy(now, t + rs, rn);
        memcpy(t + rs, prev->bytes + (rs - (prev->end - prev->n)), rn);
    }
    while (pl_card_find(t + v, ve - v, &pos, &m)) {
        m.start -= g - v;
        m.end -= g - v;
        m.tail_end -= g - v;
        mark_match(t + g, &m, flags);
        any = true;
        /* Every other reading of the same digits with some glued to its end: each leaves its
         * own last four in clear, so together they leave only what none of them masks. */
        pl_card_match other[GLUED_MAX_READINGS];
        size_t no = glued_from(t + g, n, m.start, other, GLUED_MAX_READINGS);
        for (size_t k = 0; k < no; k++)
            mark_match(t + g, &other[k], flags);
        /* Track data after it: its digits become stars, in either mode (the word would not fit
         * in fewer than 13), once every reading has been found on the digits as they came (a
         * star would break a number read across them: its other digits left in clear). In this
         * group (after '=', or '^' and a name of separators) they are flagged; past its end
         * (after '^' and a name, or a full-width '=') they wait for the group they lie in to be
         * scanned (scrub_pans). */
        size_t from = 0, te = track_tail(t + g, len - g, m.tail_end, &from);
        for (size_t k = from; k < te && k < n; k++)
            flags[k] |= FLAG_TRACK;
        if (te > n)
            track_pend_add(pend, g + (from > n ? from : n), g + te);
    }
    if (rn > 0) {
        memcpy(t + rs, now, rn);
        pl_card_wipe(now, sizeof now);
    }
    /* The track data of an earlier group's number that lies in this one (a tail is one digit
     * run: it never goes on past the group it lies in; should it, the rest stays pending). */
    if (in.to > g && in.from < e) {
        for (size_t k = in.from > g ? in.from : g; k < in.to && k < e; k++)
            flags[k - g] |= FLAG_TRACK;
    }
    if (in.to > e)
        track_pend_add(pend, in.from > e ? in.from : e, in.to);
    for (size_t k = 0; k < n;) {
        size_t d = flags[k] & FLAG_TRACK ? digit_at(t + g, n, k) : 0;
        if (d)
            mask_digit(t + g, k, d);
        k += d ? d : 1;
    }

    if (any && mode == PL_MASK_LAST4) {
        for (size_t k = 0; k < n;) {
            /* A masked digit's bytes are all flagged (mark_match): its first one says. */
            size_t d = flags[k] & FLAG_MASK ? digit_at(t + g, n, k) : 0;
            if (d)
                mask_digit(t + g, k, d);
            k += d ? d : 1;
        }
    } else if (any) {
        /*
         * Each covered run holds at least 13 digits, so the 13-character word never writes
         * past the run it replaces: w never overtakes r.
         */
        size_t w = g;
        for (size_t r = g; r < e;) {
            if (flags[r - g] & FLAG_COVER) {
                size_t run_end = r;
                while (run_end < e && (flags[run_end - g] & FLAG_COVER))
                    run_end++;
                /* The digits skipped here are overwritten, or cut (and wiped) by scrub_pans. */
                memcpy(t + w, REMOVED_WORD, REMOVED_LEN);
                if (hide)
                    memset(hide + w, 0, REMOVED_LEN);
                w += REMOVED_LEN;
                r = run_end;
            } else {
                if (hide)
                    hide[w] = hide[r];
                t[w++] = t[r++];
            }
        }
        end = w;
    }
    if (flags != small)
        free(flags);
    return end;
}

/*
 * Length of the separators at t[i] that put the digits on either side in one group for
 * scrub_group, or 0: whatever joins the digit runs of any reading pl_card_find has (up to
 * three separators, or the separator of a number in its brand's groups, after a ')' too).
 */
static size_t scrub_join_at(const char *t, size_t len, size_t i)
{
    bool ok;
    size_t n = grouped_gap(t, len, i, 1, GROUPED_MAX_SEPS + 1, &ok);
    return ok ? n : 0;
}

/*
 * Scrubs every group of 13 digits or more. A group that shrinks (PL_MASK_REMOVED) is not cut
 * out at once, which would move the rest of the text once a group (a megabyte of
 * "4111111111111111x" is 60,000 of them): as in scrub_cvvs, the text before each cut is moved
 * down over the bytes cut so far as the scan passes it (t[0, w) is the scrubbed text,
 * t[from, len) the text not yet copied). Groups are found and scrubbed in the text as it came:
 * a group is judged on its own bytes only, and those are always past every byte moved.
 */
static size_t scrub_pans(char *t, size_t len, pl_mask_mode mode, uint8_t *hide)
{
    size_t w = 0, from = 0;
    scrub_tail prev = {.n = 0}, cur = {.n = 0};
    track_pend pend = {0, 0};
    size_t i = 0;
    while (i < len) {
        if (!digit_at(t, len, i)) {
            i++;
            continue;
        }
        size_t e = i, digits = 0;
        for (;;) {
            size_t d;
            while (e < len && (d = digit_at(t, len, e)) > 0) {
                e += d;
                digits++;
            }
            size_t n = scrub_join_at(t, len, e);
            if (n == 0)
                break;
            e += n;
        }
        if (digits >= SCRUB_MIN_DIGITS) {
            /* Track data pending before this group lies in no group. Its digits stay as they
             * came while this group is scanned (its view of the bytes before it decides a
             * reading: "011d0:4111:1111:1111:1111" is a card number, "***d0:4111:..." an IPv6
             * address's end), and become stars before a cut below moves them. */
            track_pend before = {0, 0};
            if (pend.to > 0 && pend.from < i) {
                before = (track_pend){pend.from, pend.to < i ? pend.to : i};
                if (pend.to <= i)
                    pend = (track_pend){0, 0};
                else
                    pend.from = i;
            }
            cur.n = e - i < sizeof cur.bytes ? e - i : sizeof cur.bytes;
            cur.end = e;
            memcpy(cur.bytes, t + e - cur.n, cur.n);
            size_t ge = scrub_group(t, len, i, e, &prev, &pend, hide, mode);
            if (before.to > 0)
                mask_digits_in(t, len, before.from, before.to);
            prev = cur;
            if (ge < e) {
                if (hide)
                    memmove(hide + w, hide + from, ge - from);
                memmove(t + w, t + from, ge - from);
                w += ge - from;
                from = e;
            }
        }
        i = e;
    }
    /* Past every group (and every cut, which is before them): what is pending lies in none. */
    if (pend.to > 0)
        mask_digits_in(t, len, pend.from, pend.to);
    pl_card_wipe(&prev, sizeof prev);
    pl_card_wipe(&cur, sizeof cur);
    return end_cuts(t, len, w, from, hide);
}

/* Field names whose values are card security codes, in JSON, key=value text or XML. */
#define CVV_NAME(s)                                                                                \
    {                                                                                              \
        s, sizeof s - 1                                                                            \
    }
static const struct {
    const char *name;
    size_t len;
} cvv_names[] = {
    CVV_NAME("cvv"),
    CVV_NAME("cvv2"),
    CVV_NAME("cvc"),
    CVV_NAME("cvc2"),
    CVV_NAME("cvn"),
    CVV_NAME("cid"),
    CVV_NAME("csc"),
    CVV_NAME("cvNumber"),
    CVV_NAME("securityCode"),
    /* names of the sender's own, as a mistyped or foreign schema has them (any case) */
    CVV_NAME("cvv_code"),
    CVV_NAME("cvvCode"),
    CVV_NAME("cvc_code"),
    CVV_NAME("cvcCode"),
    CVV_NAME("security_code"),
    CVV_NAME("card_code"),
    CVV_NAME("cardCode"),
    CVV_NAME("card_security_code"),
    CVV_NAME("cardSecurityCode"),
    CVV_NAME("card_verification_value"),
    CVV_NAME("cardVerificationValue"),
    /* the names some gateways and schemas give it: "CV2", "verificationValue" */
    CVV_NAME("cv2"),
    CVV_NAME("verification"),
    CVV_NAME("verificationValue"),
    CVV_NAME("verification_value"),
};
#undef CVV_NAME

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Length of the CVV field name at t + k (on word boundaries), or 0. */
static size_t cvv_name_at(const char *t, size_t k, size_t len)
{
    if (k > 0 && is_word(t[k - 1]))
        return 0;
    if (k + 3 > len)
        return 0; /* every name has three letters at least */
    /* Every name begins with c, s or v (either case): other words go at once. */
    char f = (char)(t[k] | 0x20);
    if (f != 'c' && f != 's' && f != 'v')
        return 0;
    for (size_t m = 0; m < sizeof(cvv_names) / sizeof(cvv_names[0]); m++) {
        /* The first two letters, either case, before the rest: this runs at the start of every
         * word of every text scrubbed (log lines, replies), and most words start otherwise. The
         * names begin with letters, and a letter and its capital differ in bit 0x20 only, so no
         * other character passes. */
        const char *n = cvv_names[m].name;
        size_t nl = cvv_names[m].len;
        if ((t[k] | 0x20) != (n[0] | 0x20) || (t[k + 1] | 0x20) != (n[1] | 0x20))
            continue;
        if (k + nl <= len && strncasecmp(t + k, n, nl) == 0 &&
            (k + nl == len || !is_word(t[k + nl])))
            return nl;
    }
    return 0;
}

/* True when the name at t + k opens an XML element: "<cvNumber" or "<c:cvNumber". */
static bool xml_open_before(const char *t, size_t k)
{
    if (k == 0)
        return false;
    if (t[k - 1] == '<')
        return true;
    if (t[k - 1] != ':')
        return false;
    size_t p = k - 1;
    while (p > 0 && (is_word(t[p - 1]) || t[p - 1] == '-' || t[p - 1] == '.'))
        p--;
    return p > 0 && p < k - 1 && t[p - 1] == '<';
}

/*
 * The first '>' at or after p (len when there is none). *gt keeps the last answer, the first
 * '>' at or after an earlier p: it stands while p has not passed it, since the bytes from p on
 * are as they came (scrub_cvvs writes only behind its scan). Without it each name of a text of
 * "<cvv" and no '>' would look through the rest of the text (a megabyte, most of a minute);
 * with it each byte is looked at once, and once there is none left none is looked at.
 */
static size_t next_gt(const char *t, size_t len, size_t p, size_t *gt)
{
    if (*gt < p) {
        const char *q = memchr(t + p, '>', len - p);
        *gt = q ? (size_t)(q - t) : len;
    }
    return *gt;
}

/*
 * Finds the value that follows a CVV field name ending at p: XML element content, or a
 * JSON / key=value value (quoted, also with escaped quotes, or a bare run of digits).
 * Sets [*vs, *ve) and returns true when there is one to blank. *gt is next_gt's: p only grows
 * from one call to the next.
 */
static bool cvv_value(const char *t, size_t len, size_t p, bool xml, size_t *gt, size_t *vs,
                      size_t *ve)
{
    if (xml) {
        p = next_gt(t, len, p, gt);
        if (p >= len || t[p - 1] == '/')
            return false;
        *vs = ++p;
        while (p < len && t[p] != '<')
            p++;
        *ve = p;
        return true;
    }

    /* The key's closing quote: ", ', or \" inside an escaped JSON string. */
    if (p < len && (t[p] == '"' || t[p] == '\''))
        p++;
    else if (p + 1 < len && t[p] == '\\' && t[p + 1] == '"')
        p += 2;
    while (p < len && is_blank(t[p]))
        p++;
    if (p >= len || (t[p] != ':' && t[p] != '='))
        return false;
    p++;
    while (p < len && is_blank(t[p]))
        p++;
    if (p >= len)
        return false;

    if (t[p] == '"' || t[p] == '\'') {
        char q = t[p];
        *vs = ++p;
        /* A truncated text with no closing quote loses everything after the name. */
        while (p < len && t[p] != q && t[p] != '\\')
            p++;
        *ve = p;
        return true;
    }
    if (p + 1 < len && t[p] == '\\' && t[p + 1] == '"') {
        p += 2;
        *vs = p;
        while (p < len && t[p] != '\\' && t[p] != '"')
            p++;
        *ve = p;
        return true;
    }
    /* Bare values are blanked only when numeric (ASCII or full-width digits), so "invalid cvv:
     * too short" survives. */
    *vs = p;
    for (size_t n; p < len && (n = digit_at(t, len, p)) > 0;)
        p += n;
    *ve = p;
    return *ve > *vs;
}

/*
 * Blanks every CVV value in one pass: the text before each value is moved down over the values
 * cut so far as the scan passes it (t[0, w) is the scrubbed text, t[from, len) the text not
 * yet copied), so a text of many CVVs (a megabyte of {"cvv":"1"}) costs its length once, not
 * once a value. Names and values are found in the text as it came: a scan position is always
 * past every byte moved.
 */
static size_t scrub_cvvs(char *t, size_t len)
{
    size_t w = 0, from = 0;
    size_t gt = 0; /* next_gt's: every name ends past 0, so the first XML name looks */
    for (size_t k = 0; k < len; k++) {
        size_t nl = cvv_name_at(t, k, len);
        if (nl == 0)
            continue;
        size_t vs, ve;
        if (cvv_value(t, len, k + nl, xml_open_before(t, k), &gt, &vs, &ve) && ve > vs) {
            memmove(t + w, t + from, vs - from);
            w += vs - from;
            from = ve;
            k = ve - 1;
            /* The scan goes on at ve, and what precedes it now is the scrubbed text's last
             * character (a name right after a cut value is a name): the cut byte before ve,
             * never copied, stands for it. */
            t[k] = w > 0 ? t[w - 1] : ' ';
            continue;
        }
        k += nl - 1;
    }
    return end_cuts(t, len, w, from, NULL);
}

static size_t scrub_text(char *t, size_t len, pl_mask_mode mode, bool hidden);

/* The length of text[0, textsize) to scrub: up to its NUL, or cut when there is none (as
 * pl_card_cut_tail_full cuts when full: the scrub to follow is pl_card_scrub_full's). */
static size_t scrub_len(char *text, size_t textsize, bool full)
{
    size_t len = strnlen(text, textsize);
    if (len == textsize) {
        /* Broken promise of a terminator: cut rather than read past the buffer, and the digits
         * the cut leaves at the end go too (the rest of a card number the cut would otherwise
         * leave below the 13 digits the scan looks for), as pl_card_scrub_copy cuts. */
        len =
            full ? pl_card_cut_tail_full(text, textsize - 1) : pl_card_cut_tail(text, textsize - 1);
    }
    return len;
}

size_t pl_card_scrub(char *text, size_t textsize, pl_mask_mode mode)
{
    if (!text || textsize == 0)
        return 0;
    return scrub_text(text, scrub_len(text, textsize, false), mode, false);
}

size_t pl_card_scrub_full(char *text, size_t textsize, pl_mask_mode mode)
{
    if (!text || textsize == 0)
        return 0;
    return scrub_text(text, scrub_len(text, textsize, true), mode, true);
}

/* pl_card_scrub_copy, the scrub pl_card_scrub_full's when full. */
static size_t scrub_copy(char *out, size_t outsize, const char *src, size_t srclen,
                         pl_mask_mode mode, bool full)
{
    if (!out || outsize == 0)
        return 0;
    size_t n = src ? strnlen(src, srclen) : 0;
    if (n >= outsize) {
        memcpy(out, src, outsize - 1);
        /* Full: what the full scan would read as the head of a number goes too. */
        n = full ? pl_card_cut_tail_full(out, outsize - 1) : pl_card_cut_tail(out, outsize - 1);
    } else {
        if (n)
            memcpy(out, src, n);
        out[n] = '\0';
    }
    return full ? pl_card_scrub_full(out, outsize, mode) : pl_card_scrub(out, outsize, mode);
}

size_t pl_card_scrub_copy(char *out, size_t outsize, const char *src, size_t srclen,
                          pl_mask_mode mode)
{
    return scrub_copy(out, outsize, src, srclen, mode, false);
}

size_t pl_card_scrub_copy_full(char *out, size_t outsize, const char *src, size_t srclen,
                               pl_mask_mode mode)
{
    return scrub_copy(out, outsize, src, srclen, mode, true);
}

static char *scrub_dup(const char *text, size_t len, pl_mask_mode mode, size_t *out_len, bool full)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = text[i] ? text[i] : '.';
    copy[len] = '\0';
    size_t n = full ? pl_card_scrub_full(copy, len + 1, mode) : pl_card_scrub(copy, len + 1, mode);
    if (out_len)
        *out_len = n;
    return copy;
}

char *pl_card_scrub_dup(const char *text, size_t len, pl_mask_mode mode, size_t *out_len)
{
    return scrub_dup(text, len, mode, out_len, false);
}

char *pl_card_scrub_dup_full(const char *text, size_t len, pl_mask_mode mode, size_t *out_len)
{
    return scrub_dup(text, len, mode, out_len, true);
}

/*
 * Every card number with its expiry date glued to its end in t[0, len) (expiry_run_at): its
 * digits but the number's last four (all of them in PL_MASK_REMOVED) are set in hide, indexed
 * by their first byte. True when there is any.
 */
static bool hide_expiry_runs(const char *t, size_t len, pl_mask_mode mode, uint8_t *hide)
{
    bool any = false;
    for (size_t i = 0; i < len;) {
        size_t e, nd, kind = digit_at(t, len, i);
        if (!kind) {
            i++;
            continue;
        }
        /* Most runs are no such length: only those are read (and their copy wiped). */
        for (e = i, nd = 0; e < len && digit_at(t, len, e) == kind; e += kind)
            nd++;
        if (nd >= SCRUB_MAX_DIGITS + 1 && nd <= SCRUB_MAX_DIGITS + 2 &&
            expiry_run_at(t, len, i, &e, &nd)) {
            any = true;
            /* The number's last four are the digits nd - 8 to nd - 5 of the run. */
            size_t k = 0;
            for (size_t j = i, d = digit_at(t, len, i); j < e; j += d, k++)
                if (mode != PL_MASK_LAST4 || k + 8 < nd || k + EXPIRY_DIGITS >= nd)
                    hide[j] = 1;
        }
        i = e;
    }
    return any;
}

/*
 * Marks in flags (one a byte of the view v[0, n)) what the view shows of card numbers: each
 * that pl_card_find finds with the readings of digits glued to it (as scrub_group marks them)
 * and the track data after it, and each with its expiry date glued (expiry_run_at); in a spaced
 * view only the numbers spaced_match_ok lets it report, as pl_card_contains_full does; in a
 * choice view those soft_find reads, and the track data after them. True when there is any.
 */
static bool view_marks(const char *v, size_t n, int view, uint8_t *flags)
{
    bool any = false, spaced = view & VIEW_SPACED;
    size_t pos = 0;
    pl_card_match m;
    if (view & VIEW_CHOICE) {
        if (!memchr(v, VIEW_SOFT, n))
            return false;
        while (soft_find(v, n, &pos, &m)) {
            any = true;
            mark_match(v, &m, flags);
            size_t from = 0, te = track_tail(v, n, m.end, &from);
            for (size_t k = from; k < te; k++)
                flags[k] |= FLAG_COVER | FLAG_MASK;
        }
        return any;
    }
    while (pl_card_find(v, n, &pos, &m)) {
        if (spaced && !spaced_match_ok(v, n, &m))
            continue;
        any = true;
        mark_match(v, &m, flags);
        pl_card_match other[GLUED_MAX_READINGS];
        size_t no = glued_from(v, n, m.start, other, GLUED_MAX_READINGS);
        for (size_t k = 0; k < no; k++)
            mark_match(v, &other[k], flags);
        size_t from = 0, te = track_tail(v, n, m.tail_end, &from);
        for (size_t k = from; k < te; k++)
            flags[k] |= FLAG_COVER | FLAG_MASK;
    }
    /* The view's digits are all ASCII: one byte a digit. */
    for (size_t i = 0; i < n;) {
        size_t e, nd;
        if (!is_digit(v[i])) {
            i++;
            continue;
        }
        if (expiry_run_at(v, n, i, &e, &nd)) {
            pl_card_match x = {
                .start = i, .end = e - EXPIRY_DIGITS, .digits = nd - EXPIRY_DIGITS, .tail_end = e};
            mark_match(v, &x, flags);
            any = true;
        }
        i = e;
    }
    return any;
}

/* Masks every digit of t[0, len) whose first byte hide marks. */
static void hide_apply(char *t, size_t len, const uint8_t *hide)
{
    for (size_t i = 0, d; i < len; i += d ? d : 1)
        if ((d = digit_at(t, len, i)) > 0 && hide[i])
            mask_digit(t, i, d);
}

/*
 * What pl_card_scrub_full masks besides what the scrub does (card.h), marked on the text as it
 * came (hide[i] for the digit whose first byte is t[i]; hide has len bytes, zeroed), so that
 * one reading does not hide another's digits from it. False when there is nothing to mark;
 * without memory for the views, every digit is marked.
 */
static bool hidden_marks(const char *t, size_t len, pl_mask_mode mode, uint8_t *hide)
{
    /* One look at every byte decides for most texts: without a byte off the keyboard, only a
     * run of 20 or 21 digits can hold what the scrub does not see (a log line's CyberSource
     * request ID has 22); with one, at least 13 digits (a full-width digit is three bytes off
     * the keyboard). Kept to counting: it runs on every log line. */
    size_t digits = 0, off = 0, run = 0;
    bool expiry_len = false, spaced = false;
    for (size_t i = 0; i <= len; i++) {
        bool d = i < len && is_digit(t[i]);
        expiry_len |= !d && run - (SCRUB_MAX_DIGITS + 1) <= 1;
        run = d ? run + 1 : 0;
        digits += d;
        bool o = i < len && !pl_card_is_keyboard_char(t[i]);
        off += o;
        spaced |= o && !spaced_as_is((unsigned char)t[i]);
    }
    if (off == 0 ? !expiry_len : digits + off / FW_DIGIT_LEN < SCRUB_MIN_DIGITS)
        return false;
    bool any = hide_expiry_runs(t, len, mode, hide);
    if (off == 0)
        return any;
    unsigned views = views_of(t, len, spaced);

    uint8_t fsmall[VIEW_SMALL];
    char vsmall[VIEW_SMALL];
    bool big = len > VIEW_SMALL;
    uint8_t *flags = big ? malloc(len) : fsmall;
    char *v = big ? malloc(len) : vsmall;
    if (!flags || !v) {
        /* Without memory to read the text, hide its digits rather than risk a leak. */
        memset(hide, 1, len);
    } else {
        /* The bureau's view, the reader's where it differs (a full-width character), and
         * either with what it drops read as spaces, and as chosen run by run (views_of). */
        uint8_t want = mode == PL_MASK_LAST4 ? FLAG_MASK : FLAG_COVER;
        for (int view = 0; view < VIEW_KINDS; view++) {
            if (!(views & (1u << view)))
                continue;
            size_t n = view_make(t, len, view, v);
            memset(flags, 0, n);
            bool seen = view_marks(v, n, view, flags);
            for (size_t i = 0, k = 0; seen && i < len && k < n;) {
                char c;
                bool made;
                size_t w = view_at(t, len, i, view, &c, &made);
                if (made && (flags[k] & want) && is_digit(c))
                    hide[i] = 1;
                i += w;
                k += made;
            }
            pl_card_wipe(v, n);
        }
    }
    if (flags != fsmall)
        free(flags);
    if (v != vsmall)
        free(v);
    return true;
}

/*
 * Scrubs t[0, len) (NUL-terminated there): pl_card_scrub, and pl_card_scrub_full's readings
 * too when hidden. Those are marked on the text as it came (hidden_marks), then masked after
 * scrub_pans, so that no star changes how it reads a number (a star before "d0:4111:1111:1111:
 * 1111" makes it an IPv6 address's end, and it was left whole in clear when the marks were
 * masked first in PL_MASK_REMOVED). In PL_MASK_LAST4 every position is kept; in
 * PL_MASK_REMOVED, where scrub_pans writes its word over the numbers it reads and the text
 * moves, the marks move with the text (scrub_pans moves them), and those on the digits a word
 * replaced go with them.
 */
static size_t scrub_text(char *t, size_t len, pl_mask_mode mode, bool hidden)
{
    uint8_t hsmall[VIEW_SMALL];
    uint8_t *hide = NULL;
    if (hidden) {
        hide = len <= sizeof hsmall ? hsmall : calloc(len, 1);
        if (!hide) {
            for (size_t i = 0, d; i < len; i += d ? d : 1)
                if ((d = digit_at(t, len, i)) > 0)
                    mask_digit(t, i, d);
        } else {
            if (hide == hsmall)
                memset(hide, 0, len);
            if (!hidden_marks(t, len, mode, hide)) {
                if (hide != hsmall)
                    free(hide);
                hide = NULL;
            }
        }
    }
    len = scrub_pans(t, len, mode, hide);
    if (hide)
        hide_apply(t, len, hide);
    len = scrub_cvvs(t, len);
    if (hide && hide != hsmall)
        free(hide);
    return len;
}

void pl_card_mask_digit_runs(char *text, size_t len, size_t min_digits, pl_mask_mode mode)
{
    size_t i = 0;
    while (i < len) {
        if (!is_digit(text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && is_digit(text[j]))
            j++;
        if (j - i >= min_digits) {
            /* As pl_card_mask_log: a run of four digits or fewer is all stars. */
            size_t keep = mode == PL_MASK_LAST4 && j - i > 4 ? 4 : 0;
            for (size_t k = i; k < j - keep; k++)
                text[k] = '*';
        }
        i = j;
    }
}

size_t pl_card_keyboard_clean(char *s)
{
    if (!s)
        return 0;
    size_t w = 0;
    for (size_t r = 0; s[r]; r++) {
        if (pl_card_is_keyboard_char(s[r]))
            s[w++] = s[r];
    }
    s[w] = '\0';
    return w;
}

void pl_card_wipe(void *p, size_t n)
{
    if (p && n > 0)
        explicit_bzero(p, n);
}
