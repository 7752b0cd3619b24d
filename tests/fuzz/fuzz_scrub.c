/*
 * fuzz_scrub.c: libFuzzer target for pl_card_scrub, the log scrubber.
 *
 * The input up to its first NUL is the text. For both modes it checks that the text never
 * grows, that the returned length is the text's, and that every Luhn-valid 16-digit run of
 * the input (a maximal run of digits, i.e. a card number written without separators) is gone
 * from the output, and so is every such run of full-width digits (U+FF10-U+FF19); in LAST4
 * mode, where the text keeps its length, no card number pl_card_find reports in the input keeps
 * more than four digits in clear where it stood, and in REMOVED mode none occurs as often as in
 * the input (as written, separators too). The same for pl_card_scrub_full, which in LAST4
 * mode must also leave no more than four digits in clear of a card number pl_card_find reports
 * in the input with each run of characters off the keyboard read as one space, or as nothing
 * beside an ASCII separator, and of a brand's prefix and length (spaced_view: digits before a
 * number split by such characters glue to it where they are dropped); and
 * pl_card_contains_full must find, and pl_card_scrub_full mask, a brand's number in its
 * brand's groups that pl_card_find reports with each run of them between two digits read as a
 * space or as nothing, every way, but not as a space between two groups (check_choices). A
 * further call hands the scrubber a buffer with no terminator, the "broken promise" case its header
 * handles, so ASan sees any read past it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool luhn16(const char *d)
{
    unsigned sum = 0;
    for (int k = 15, twice = 0; k >= 0; k--, twice = !twice) {
        unsigned v = (unsigned)(d[k] - '0');
        if (twice && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    return sum % 10 == 0;
}

/* True when s (of len chars) has `run` (16 digits) as a maximal digit run. */
static bool has_run(const char *s, size_t len, const char *run)
{
    for (size_t i = 0; i < len;) {
        if (!digit(s[i])) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < len && digit(s[e]))
            e++;
        if (e - i == 16 && memcmp(s + i, run, 16) == 0)
            return true;
        i = e;
    }
    return false;
}

/* A full-width digit at s[i] (s has len bytes): its ASCII digit, or 0. */
static char fw_digit(const char *s, size_t len, size_t i)
{
    const unsigned char *u = (const unsigned char *)s + i;
    return len - i >= 3 && u[0] == 0xef && u[1] == 0xbc && u[2] >= 0x90 && u[2] <= 0x99
               ? (char)('0' + (u[2] - 0x90))
               : 0;
}

/* The maximal runs of exactly 16 full-width digits in s, each as ASCII digits into d (16 a
 * run), the byte where each starts into at; returns how many (at most max). */
static size_t fw_runs16(const char *s, size_t len, char (*d)[17], size_t *at, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < max;) {
        if (!fw_digit(s, len, i)) {
            i++;
            continue;
        }
        size_t e = i, k = 0;
        char run[17];
        while (e < len && fw_digit(s, len, e)) {
            if (k < 16)
                run[k] = fw_digit(s, len, e);
            k++;
            e += 3;
        }
        if (k == 16) {
            memcpy(d[n], run, 16);
            d[n][16] = '\0';
            at[n++] = i;
        }
        i = e;
    }
    return n;
}

/* How many times needle (nlen bytes) occurs in s (len bytes), overlapping ones too. */
static size_t occurrences(const char *s, size_t len, const char *needle, size_t nlen)
{
    size_t c = 0;
    for (size_t i = 0; nlen > 0 && i + nlen <= len; i++)
        c += memcmp(s + i, needle, nlen) == 0;
    return c;
}

/*
 * The input with each run of characters off the keyboard (bytes outside 0x20-0x7e) read as one
 * space, however long, but the controls pl_card_find takes for separators already (tab, line
 * ends, DEL) kept as they are, and a run beside an ASCII separator (space, punctuation, those
 * controls) read as nothing, into v (len bytes), with the input offset of each of its bytes
 * into at. Returns its length. Written apart from card.c's views, as the check of them.
 */
static bool spaced_kept(unsigned char c)
{
    return (c >= 0x20 && c < 0x7f) || (c >= '\t' && c <= '\r') || c == 0x7f;
}

static bool spaced_sep(unsigned char c)
{
    return (c >= '\t' && c <= '\r') || c == ' ' || (c >= 0x21 && c <= 0x2f) ||
           (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7f);
}

static size_t spaced_view(const char *in, size_t len, char *v, size_t *at)
{
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        if (spaced_kept(c)) {
            at[k] = i;
            v[k++] = (char)c;
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && !spaced_kept((unsigned char)in[i]))
            i++;
        if ((s > 0 && spaced_sep((unsigned char)in[s - 1])) ||
            (i < len && spaced_sep((unsigned char)in[i])))
            continue;
        at[k] = s;
        v[k++] = ' ';
    }
    return k;
}

/* The value of the first n digits of d. */
static long prefix(const char *d, size_t n)
{
    long v = 0;
    for (size_t k = 0; k < n; k++)
        v = v * 10 + (d[k] - '0');
    return v;
}

/* True when the n digits d are a card brand's number: an issuer's prefix and a length it
 * issues (what the spaced readings must be for pl_card_scrub_full to mask them). */
static bool brand(const char *d, size_t n)
{
    long p2 = prefix(d, 2), p3 = prefix(d, 3), p4 = prefix(d, 4);
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

/* In LAST4 mode, where the text kept its length: no brand's card number of the spaced view of
 * in keeps more than four digits in clear in out, nor a digit glued to it. */
static void check_spaced(const char *in, size_t len, const char *out)
{
    char *v = malloc(len ? len : 1);
    size_t *at = malloc((len ? len : 1) * sizeof *at);
    if (!v || !at) {
        free(v);
        free(at);
        return;
    }
    size_t n = spaced_view(in, len, v, at), pos = 0;
    pl_card_match m;
    while (pl_card_find(v, n, &pos, &m)) {
        char d[19];
        size_t nd = 0;
        for (size_t k = m.start; k < m.end && nd < sizeof d; k++)
            if (digit(v[k]))
                d[nd++] = v[k];
        if (!brand(d, nd))
            continue; /* a reading only a spaced view has must be a brand's number */
        size_t clear = 0;
        for (size_t k = m.start; k < m.end; k++)
            clear += digit(v[k]) && digit(out[at[k]]);
        if (clear > 4)
            abort(); /* a card number read with the dropped characters as spaces left in clear */
        for (size_t k = m.end; k < m.tail_end; k++)
            if (digit(v[k]) && digit(out[at[k]]))
                abort(); /* a digit glued to it left in clear */
    }
    free(v);
    free(at);
}

/* True when v[s, e) is digit groups of a card brand's sizes (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4)
 * with the same characters between every two. */
static bool brand_groups(const char *v, size_t s, size_t e)
{
    static const char *const shapes[] = {"4444", "44443", "465", "464"};
    char sizes[8];
    size_t ng = 0, sep = 0, seplen = 0;
    for (size_t i = s; i < e;) {
        size_t j = i;
        while (j < e && digit(v[j]))
            j++;
        if (j == i || j - i > 9 || ng == sizeof sizes - 1)
            return false;
        sizes[ng++] = (char)('0' + (j - i));
        size_t k = j;
        while (k < e && !digit(v[k]))
            k++;
        if (ng == 1) {
            sep = j;
            seplen = k - j;
        } else if (k < e && (k - j != seplen || memcmp(v + j, v + sep, seplen) != 0)) {
            return false;
        }
        i = k;
    }
    sizes[ng] = '\0';
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        if (strcmp(sizes, shapes[k]) == 0)
            return true;
    return false;
}

/*
 * Each run of characters off the keyboard between two ASCII digits read as one space or as
 * nothing, every way when there are at most CHOICE_MAX such runs (the other runs as spaced_view
 * reads them): a brand's card number in its brand's groups (brand_groups) that pl_card_find
 * reports in any of those readings, with no digit glued to it there and no such run read as a
 * space between its groups, pl_card_contains_full finds too ("12é4111  --  1111  --  11é11  --
 * 1111" needs the first é a space and the third nothing, which no one view reads), and
 * pl_card_scrub_full masks, where the text keeps its length: no more than four of its digits in
 * clear in LAST4 mode, none in REMOVED mode. (Groups parted by such runs alone, which CJK dates
 * and times make, the spaced view reads with every run a space; pl_card_contains_full takes no
 * other reading of them.)
 */
#define CHOICE_MAX 6
static void check_choices(const char *in, size_t len)
{
    size_t soft[CHOICE_MAX], ns = 0;
    for (size_t i = 0; i < len;) {
        if (spaced_kept((unsigned char)in[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && !spaced_kept((unsigned char)in[i]))
            i++;
        if (s > 0 && digit(in[s - 1]) && i < len && digit(in[i])) {
            if (ns == CHOICE_MAX)
                return;
            soft[ns++] = s;
        }
    }
    if (ns == 0)
        return;
    char *v = malloc(len), *out[2] = {NULL, NULL};
    size_t *at = malloc(len * sizeof *at), outlen[2] = {0, 0};
    bool *chosen = malloc(len * sizeof *chosen);
    if (!v || !at || !chosen)
        goto out;
    bool contains = pl_card_contains_full(in, len);
    for (unsigned choice = 0; choice < 1u << ns; choice++) {
        size_t k = 0, r = 0;
        for (size_t i = 0; i < len;) {
            unsigned char c = (unsigned char)in[i];
            if (spaced_kept(c)) {
                at[k] = i;
                chosen[k] = false;
                v[k++] = (char)c;
                i++;
                continue;
            }
            size_t s = i;
            while (i < len && !spaced_kept((unsigned char)in[i]))
                i++;
            if (r < ns && soft[r] == s) {
                if (choice & (1u << r++)) {
                    at[k] = s;
                    chosen[k] = true;
                    v[k++] = ' ';
                }
                continue;
            }
            if ((s > 0 && spaced_sep((unsigned char)in[s - 1])) ||
                (i < len && spaced_sep((unsigned char)in[i])))
                continue;
            at[k] = s;
            chosen[k] = false;
            v[k++] = ' ';
        }
        size_t pos = 0;
        pl_card_match m;
        while (pl_card_find(v, k, &pos, &m)) {
            if (m.tail_end != m.end || (m.end < k && digit(v[m.end])))
                continue; /* digits glued to it: a longer number, or none */
            char d[19];
            size_t nd = 0;
            bool parted = false;
            for (size_t j = m.start; j < m.end && nd < sizeof d; j++) {
                parted = parted || chosen[j];
                if (digit(v[j]))
                    d[nd++] = v[j];
            }
            if (parted || nd != m.digits || !brand(d, nd) || !brand_groups(v, m.start, m.end))
                continue;
            if (!contains)
                abort(); /* a brand's number read with each run between digits chosen */
            for (int mode = 0; mode < 2; mode++) {
                if (!out[mode]) {
                    out[mode] = malloc(len + 1);
                    if (!out[mode])
                        goto out;
                    memcpy(out[mode], in, len);
                    out[mode][len] = '\0';
                    outlen[mode] = pl_card_scrub_full(out[mode], len + 1,
                                                      mode == 0 ? PL_MASK_LAST4 : PL_MASK_REMOVED);
                }
                if (outlen[mode] != len)
                    continue; /* a security code cut: the text moved */
                size_t clear = 0;
                for (size_t j = m.start; j < m.end; j++)
                    clear += digit(v[j]) && digit(out[mode][at[j]]);
                if (clear > (mode == 0 ? 4u : 0u))
                    abort(); /* refused, yet left in clear */
            }
        }
    }
out:
    free(v);
    free(at);
    free(chosen);
    free(out[0]);
    free(out[1]);
}

static void check_mode(const char *in, size_t len, pl_mask_mode mode, bool full)
{
    char *text = malloc(len + 1);
    if (!text)
        return;
    memcpy(text, in, len);
    text[len] = '\0';
    size_t n = full ? pl_card_scrub_full(text, len + 1, mode) : pl_card_scrub(text, len + 1, mode);
    if (n > len || strlen(text) != n)
        abort();

    for (size_t i = 0; i < len;) {
        if (!digit(in[i])) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < len && digit(in[e]))
            e++;
        if (e - i == 16 && luhn16(in + i) && has_run(text, n, in + i))
            abort(); /* a card number survived the scrubber */
        i = e;
    }
    /* The same for full-width digits: no Luhn-valid 16-digit run of the input is one of the
     * output's. */
    enum { MAXRUNS = 64 };
    char want[MAXRUNS][17], got[MAXRUNS][17];
    size_t at[MAXRUNS];
    size_t nw = fw_runs16(in, len, want, at, MAXRUNS);
    size_t ng = nw ? fw_runs16(text, n, got, at, MAXRUNS) : 0;
    for (size_t a = 0; a < nw; a++) {
        if (!luhn16(want[a]))
            continue;
        for (size_t b = 0; b < ng; b++)
            if (memcmp(want[a], got[b], 16) == 0)
                abort(); /* a full-width card number survived the scrubber */
    }
    /* Every card number pl_card_find reports, whatever its digits and separators: in LAST4
     * mode, when no security code was cut (the text kept its length), at most four of its
     * digits are left in clear where it stood, and none of the digits glued to it. */
    if (mode == PL_MASK_LAST4 && n == len) {
        size_t pos = 0;
        pl_card_match m;
        while (pl_card_find(in, len, &pos, &m)) {
            size_t clear = 0;
            for (size_t k = m.start; k < m.end;) {
                if (digit(text[k])) {
                    clear++;
                    k++;
                } else if (fw_digit(text, n, k)) {
                    clear++;
                    k += 3;
                } else {
                    k++;
                }
            }
            if (clear > 4)
                abort(); /* more than the last four of a card number left in clear */
            for (size_t k = m.end; k < m.tail_end; k++)
                if (digit(text[k]) || fw_digit(text, n, k))
                    abort(); /* a digit glued to a card number left in clear */
        }
    }
    if (full && mode == PL_MASK_LAST4 && n == len)
        check_spaced(in, len, text);
    /* In REMOVED mode, where the text moves: every card number pl_card_find reports, as it was
     * written (its separators too), occurs in the output fewer times than in the input (the
     * same characters elsewhere may be no card number: an IPv6 address's groups). */
    if (mode == PL_MASK_REMOVED) {
        size_t pos = 0;
        pl_card_match m;
        while (pl_card_find(in, len, &pos, &m))
            if (occurrences(text, n, in + m.start, m.end - m.start) >=
                occurrences(in, len, in + m.start, m.end - m.start))
                abort(); /* a card number left whole where the text moved */
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t len = strnlen(in, size);
    check_mode(in, len, PL_MASK_LAST4, false);
    check_mode(in, len, PL_MASK_REMOVED, false);
    check_mode(in, len, PL_MASK_LAST4, true);
    check_mode(in, len, PL_MASK_REMOVED, true);
    check_choices(in, len);

    /* No terminator within textsize: the scrubber must cut, not read past the buffer. */
    if (len > 0) {
        char *raw = malloc(len);
        if (!raw)
            return 0;
        memcpy(raw, in, len);
        size_t n = pl_card_scrub(raw, len, PL_MASK_LAST4);
        if (n >= len || raw[n] != '\0')
            abort();
        free(raw);
    }
    return 0;
}
