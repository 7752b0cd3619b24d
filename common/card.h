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

#include <openssl/types.h>

#include "err.h"

typedef enum pl_mask_mode {
    PL_MASK_LAST4 = 0,   /* J16 selected: stars and the last four digits */
    PL_MASK_REMOVED = 1, /* J16 unselected: "***REMOVED***" */
} pl_mask_mode;

/* True when s is one or more ASCII digits and nothing else. */
bool pl_card_all_digits(const char *s);

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
 * A new HMAC-SHA256 context already keyed with key (keylen > 0): a copy of one keyed once per
 * key and kept (for up to 8 keys; past them, one keyed for this use), since looking the
 * algorithms up (EVP_MAC_fetch) and keying cost more than the MAC of a card number or a
 * request. Ready for EVP_MAC_update and EVP_MAC_final. Safe from any thread. NULL when OpenSSL
 * cannot make one or key is NULL or empty; free it with EVP_MAC_CTX_free (which wipes the key).
 */
EVP_MAC_CTX *pl_hmac_sha256_keyed(const void *key, size_t keylen);

/*
 * Keyed hash of a card number for look-ups: HMAC-SHA256(key, number) as 64 lowercase hex
 * characters + NUL into out (outsize >= 65). Returns 0, PL_ERR_INVALID or PL_ERR_TOOBIG.
 */
int pl_card_hmac(const void *key, size_t keylen, const char *number, char *out,
                 size_t outsize) PL_MUSTCHECK;

/*
 * A card number found by pl_card_find: text[start, end) runs from its first digit to its last
 * (the separators between them included) and holds `digits` digits (13-19). text[end,
 * tail_end) are the digits glued to its last one (an expiry date or a security code typed
 * straight after it); tail_end == end when there are none.
 */
typedef struct pl_card_match {
    size_t start, end;
    size_t digits;
    size_t tail_end;
} pl_card_match;

/*
 * Finds card numbers in text[0, len): any bytes, NUL included (a NUL is just a non-digit).
 *
 * A card number is 13-19 digits that pass Luhn (ASCII digits, or the full-width digits
 * U+FF10-U+FF19 a CJK input method types, in any mix; where the two kinds meet, one digit run
 * ends and the next begins, as across a separator), written as one run or as digit groups
 * joined by one to three separators, in any mix: ASCII whitespace and the punctuation
 * - . _ / \ , ; | # ~ = ' (not ':' or '+', which would make a date and clock time a 13-19
 * digit number; not '*', what masking writes), and the UTF-8 spaces, dashes and dots that
 * word processors, web pages and other scripts put between the groups of a pasted number
 * (no-break, figure, thin and ideographic spaces, U+2000-U+200B, soft hyphen, U+2010-U+2015,
 * minus sign, bullets and middle dots, word joiners, full-width comma, hyphen, stop and
 * solidus: card.c lists them), and the characters nobody sees: DEL and the Unicode format
 * characters (zero-width joiners and non-joiners, direction marks and embeddings U+200C-U+200F
 * and U+202A-U+202E, U+2060-U+2064, U+FEFF, the Mongolian vowel separator U+180E), which a
 * bureau message drops (pl_card_keyboard_clean) and so would send the digits around them as
 * one number. Four of them in a row, or any other character, end a group for this reading. A match
 * begins at the start of a digit group and ends at the end of one, so a number glued to letters
 * ("ord4111111111111111") is found.
 *
 * A card number written in its brand's groups is found whatever joins them, when the same
 * bytes join every two: groups of 4-4-4-4 or 4-4-4-4-3 digits, 4-6-5 or 4-6-4, each a whole
 * digit run (ASCII or full-width digits), joined by one to six characters of ASCII punctuation
 * or whitespace or the UTF-8 separators above (':' "4111:1111:1111:1111", '+', '*', '"',
 * " -- ", "\",\""), the first group also in parentheses and then followed by any such run or
 * none ("(4111) 1111 1111 1111", "(4111)1111-1111-1111"); 14-19 digits passing Luhn that are a
 * card brand's number, of a length that brand issues (as for the glued digits below; a year,
 * 19xx or 20xx, is none, so a date and time or a table of years is not read as one). Where the
 * separator holds a ':', not inside an IPv6 address: not after "::", nor after ':' and a word of
 * 1-4 hex digits standing alone ("2001:db8:ab:cdef:4111:1111:1111:1111"; "card:4111:..." is a card
 * number), nor before "::", nor before ':', such a word and ':' ("4111:1111:1111:1111:0:1:2:3"; a
 * security code after it, "...:1111:123", is not an address).
 *
 * A card number with more digits glued to its end ("4111111111111111123": the security code
 * typed straight after it) is found when nothing else is: the number and the digits glued to
 * it hold 17-19 digits together (16 digits are a format-preserving token's length; more than
 * 19, an identifier's: a CyberSource request ID has 22 and may begin as a card brand's numbers
 * do), the number ends inside its last run, and it is 14-19 digits that pass Luhn and begin as
 * a card brand's numbers do, of a length that brand issues (Visa 4: 16 or 19; Mastercard
 * 51-55, 2221-2720: 16; American Express 34, 37: 15; Discover 6011, 644-649, 65 and UnionPay
 * 62: 16-19; JCB 3528-3589: 16-19; Diners Club 300-305, 36, 38-39: 14-19). Of those, the
 * longest is reported, with tail_end after the glued digits. A run of more than 19 digits
 * ("7419661750346782304017", a CyberSource request ID) is some other number and is not
 * searched inside. Other digit systems (Arabic-Indic, Devanagari, ...) are not recognised.
 *
 * Iteration: set *pos = 0, then call until it returns false. Each call fills *m with the
 * longest card number that begins at the next digit group, and moves *pos past that group's
 * first digit run only, so card numbers that overlap ("15 4111 1111 1111 1111", where
 * "15 4111 1111 1111" may pass Luhn too) are all reported. Linear in len: each digit group
 * start looks ahead at most 19 digits and 54 separators, or five groups of up to seven digits,
 * the separators between them (seven characters each at most) and seven bytes either side.
 * Never reads past len.
 */
bool pl_card_find(const char *text, size_t len, size_t *pos, pl_card_match *m);

/* True when text[0, len) contains a card number as pl_card_find defines it. */
bool pl_card_contains(const char *text, size_t len);

/*
 * pl_card_contains, or text[0, len) holds a run of 20 or 21 digits (ASCII, or full-width, of
 * one kind) that is a card number with its expiry date glued to its end: its first 16 or 17
 * digits pass Luhn and are a card brand's number of a length that brand issues (as for the
 * glued digits of pl_card_find), and its last four read as MMYY or YYMM with a month 01-12
 * ("41111111111111111225"). pl_card_find takes a run of more than 19 digits for an identifier
 * (a CyberSource request ID has 22), which is right for scrubbing text whose identifiers must
 * stay readable; a field of a request that holds such a run is refused instead (request.c),
 * where refusing an identifier that looks so (one in about 45 of the 20-21-digit numbers that
 * begin as a brand's do, one in about 160 of all) costs less than sending a card number on.
 */
bool pl_card_contains_with_expiry(const char *text, size_t len);

/*
 * pl_card_contains_with_expiry in the text as it came, or in either view of it with the
 * characters nobody sees or a bureau message drops taken out: the bureau's (only the bytes
 * pl_card_is_keyboard_char keeps, what pl_card_keyboard_clean sends: "5555é5555é5555é4444",
 * digits with a control character, a direction mark or DEL between them reach the bureau as
 * one card number) and a reader's (those bytes and the full-width digits, '=' and '^' read as
 * ASCII ones: "４１１１é１１１１é１１１１é１１１１" reads as one, though the bureau would get
 * none of it); and each of those two with every run of characters it drops read as one space
 * instead (a run is one space however long: four zero-width spaces in one gap read as one; a
 * run beside an ASCII space, punctuation or control separator reads as nothing, the separator
 * parting the digits already), since digits glued across a dropped character can hide a
 * number as well as make one
 * ("order 12é4111é1111é1111é1111", "6011111111111117é4111é1111é1111é1111": the bureau's view
 * has a run of 18 or 32 digits where "12 4111 1111 1111 1111" shows 4111111111111111; the
 * controls that are separators already, tab, line ends and DEL, stay as they are); and each of
 * those two once more for a number in its brand's groups, each run between two digits read as
 * nothing inside a group and as a space at a group's ends ("12é4111  --  1111  --  11é11  --
 * 1111", which one reading for every run cannot read), but alone between two groups only after
 * a first group in parentheses (CJK dates and times part digit groups so). Views are made only
 * for a text with a byte off the keyboard; the reader's only with a full-width
 * character in it, the spaced ones only where a space they read for dropped characters (or a
 * run they read as nothing) lies between two digits with at most six characters (it, other such spaces, brand group
 * separators) between them; a number only they show must be a brand's (an issuer's prefix and
 * a length it issues: "訂單20261207番号123456789商品4567" is none, though 1234567894567 passes
 * Luhn). The check for text from outside that must hold no card number (a
 * request's fields, an operator's text). Out of memory for a view (a text over 512 bytes with a
 * byte off the keyboard), true: refusing is the safe mistake.
 */
bool pl_card_contains_full(const char *text, size_t len);

/*
 * True when all of text[0, len) is one card number: 13-19 digits passing Luhn, separators
 * between the groups allowed as for pl_card_find ("4111 1111 1111 1111").
 */
bool pl_card_is_number(const char *text, size_t len);

/*
 * Scrubs free text in place: every card number pl_card_find finds is masked in the given
 * mode, keeping the text's length for PL_MASK_LAST4 (every digit but the number's last four
 * becomes '*', a full-width one the full-width asterisk U+FF0A, and so do all the digits glued
 * to its end; where the same digits can be read as more than one card number, with digits glued
 * or not, what any reading masks is masked; separators stay) and writing
 * "***REMOVED***" over the whole number otherwise (the text may shrink, never grow beyond its
 * buffer). Track data after a card number, '=' or '^' (ASCII or full-width) right after it and
 * digits ("4111111111111111=2512101...", "B4111111111111111^JONES/MARY^2512101..."): those
 * digits become stars in either mode (ISO/IEC 7813: the expiry date, service code and the
 * discretionary data that holds the card's verification value). Also blanks the value of any
 * JSON-like or key=value field, or XML element, named as a card security code (cvv, cvc, cid, csc,
 * cvNumber, security_code and the other names card.c lists, any case). Returns the new length. text
 * must be NUL-terminated within textsize (when it is not, it is cut to textsize - 1, and the digits
 * and separators the cut leaves at its end go too, as pl_card_cut_tail cuts: what remains of a card
 * number cut there is not left in clear).
 */
size_t pl_card_scrub(char *text, size_t textsize, pl_mask_mode mode);

/*
 * pl_card_scrub, and masks what pl_card_contains_full sees besides (what the request decoder
 * refuses, so a line about the refusal may quote it): a card number with its expiry date glued
 * (20-21 digits, as pl_card_contains_with_expiry reads them; a run of 22 or more, a CyberSource
 * request ID, stays readable), and one only a view of the text shows (pl_card_contains_full:
 * split by characters a bureau message drops or nobody sees, or full-width digits so split,
 * also where digits before it would glue to it once those are gone: "12é4111é1111é1111é1111"),
 * with the digits glued to it and the track data after it. Every digit of such a number but its
 * last four becomes '*' (a full-width one U+FF0A), every digit of it in PL_MASK_REMOVED; the
 * characters between the digits stay. Its readings are made on the text as it came, as the
 * scrub's are, so neither hides digits from the other. Out of memory for the views (a text over
 * 512 bytes with a byte off the keyboard), every digit is masked. For text that most often holds
 * no such thing (log lines) the cost over pl_card_scrub is one look at each byte: it needs 20
 * digits, or 13 and a byte off the keyboard, to do more. A text not NUL-terminated within
 * textsize is cut as pl_card_cut_tail_full cuts.
 */
size_t pl_card_scrub_full(char *text, size_t textsize, pl_mask_mode mode);

/*
 * Masks in text every copy of the card number `number` (its digits, as the request carried
 * them): all but the last four digits, all of them for a number of four or fewer. whole_runs:
 * only copies that are a digit run of their own (a short stored value card inside a longer
 * number is some other number); else every copy, glued to other digits too (where the
 * Luhn-based scrub cannot see it). Nothing for an empty or NULL number.
 */
void pl_card_mask_copies(char *text, const char *number, bool whole_runs);

/*
 * For text that was cut from a longer one: drops the digits and card number separators at
 * the end of text[0, len) (and an incomplete UTF-8 sequence), which may be the head of a card
 * number whose tail was cut off; such a head no longer passes Luhn, so no scrubber would find
 * it. NUL-terminates text at the new length (text must have room for len + 1 bytes) and
 * returns that length.
 */
size_t pl_card_cut_tail(char *text, size_t len);

/*
 * pl_card_cut_tail for text that pl_card_scrub_full will scrub: cuts before the first digit of
 * what the views pl_card_contains_full reads would join to the end (they drop the characters
 * off the keyboard, pl_card_is_keyboard_char, or read them as spaces: whole UTF-8 characters,
 * full-width digits among them; a number in its brand's groups may be joined by up to six
 * ASCII punctuation or space characters), so "4111<e-acute>1111<e-acute>1111<e-acute>" does
 * not leave 12 digits of a card number in clear that no scan finds once its tail is gone. Only a
 * digit moves the cut: words off the keyboard at the end stay ("caf<e-acute>", a Cyrillic
 * sentence).
 */
size_t pl_card_cut_tail_full(char *text, size_t len);

/*
 * Copies src[0, srclen) into out (outsize bytes, at least 1) and scrubs the copy
 * (pl_card_scrub in `mode`). A text that does not fit is cut, and the head of a card number
 * the cut may have left is dropped (pl_card_cut_tail). A NUL in src ends the copy. Returns
 * the length of out. For copying text that came from outside into a fixed buffer that will
 * be written somewhere (a log field, a reply, a database column).
 */
size_t pl_card_scrub_copy(char *out, size_t outsize, const char *src, size_t srclen,
                          pl_mask_mode mode);

/* pl_card_scrub_copy with pl_card_scrub_full's scrub, and pl_card_cut_tail_full's cut. */
size_t pl_card_scrub_copy_full(char *out, size_t outsize, const char *src, size_t srclen,
                               pl_mask_mode mode);

/*
 * A malloc'd, NUL-terminated copy of text[0, len) (any bytes; each NUL becomes '.', so the
 * scrubber sees the whole text), scrubbed with pl_card_scrub in `mode`. *out_len (may be NULL)
 * gets the copy's length after scrubbing. Returns NULL when out of memory; the caller frees.
 * For the message-log copy of a body that may be anything.
 */
char *pl_card_scrub_dup(const char *text, size_t len, pl_mask_mode mode, size_t *out_len);

/* pl_card_scrub_dup with pl_card_scrub_full's scan: for a text from outside (a bureau's words as
 * sent), where a number split by characters off the keyboard, in full-width digits or with its
 * expiry glued is as readable as any. */
char *pl_card_scrub_dup_full(const char *text, size_t len, pl_mask_mode mode, size_t *out_len);

/*
 * Masks in place every run of at least min_digits ASCII digits in text[0, len), whether or not
 * it passes Luhn: all its digits but the last four become '*' in PL_MASK_LAST4 (all of them
 * when the run is four digits or fewer), every digit in PL_MASK_REMOVED. The length stays.
 * A stored value card number has no check digit, so pl_card_scrub alone would let it through.
 */
void pl_card_mask_digit_runs(char *text, size_t len, size_t min_digits, pl_mask_mode mode);

/*
 * True when the byte c is on a standard keyboard: printable ASCII, 0x20-0x7E. The one rule of
 * what bureau XML may carry (seed): pl_card_keyboard_clean keeps only these, and the request
 * decoder looks for card numbers in what is left once the others are gone, as the bureau
 * would receive it.
 */
static inline bool pl_card_is_keyboard_char(char c)
{
    return (unsigned char)c >= 0x20 && (unsigned char)c <= 0x7e;
}

/*
 * Removes characters that are not on a standard keyboard (keeps the bytes
 * pl_card_is_keyboard_char keeps) in place, as the seed requires for bureau XML. Returns the
 * new length.
 */
size_t pl_card_keyboard_clean(char *s);

/* Overwrites a buffer with zeros in a way the compiler will not optimise away. */
void pl_card_wipe(void *p, size_t n);

#endif
