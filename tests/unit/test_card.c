/*
 * test_card.c: Luhn, masks, type guesses, the card HMAC, finding card numbers in text,
 * scrubbing and wiping.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "card.h"

static void test_luhn(void **state)
{
    (void)state;
    assert_true(pl_card_luhn_ok("4111111111111111"));
    assert_true(pl_card_luhn_ok("5555555555554444"));
    assert_true(pl_card_luhn_ok("378282246310005"));
    assert_true(pl_card_luhn_ok("6011111111111117"));
    assert_true(pl_card_luhn_ok("4012888888881881"));
    assert_true(pl_card_luhn_ok("000000000000"));        /* 12 digits: the lower bound */
    assert_true(pl_card_luhn_ok("0000000000000000000")); /* 19 digits: the upper bound */

    assert_false(pl_card_luhn_ok("4111111111111112"));
    assert_false(pl_card_luhn_ok("5555555555554445"));
    assert_false(pl_card_luhn_ok("00000000000"));          /* 11 digits */
    assert_false(pl_card_luhn_ok("00000000000000000000")); /* 20 digits */
    assert_false(pl_card_luhn_ok("4111 1111 1111 1111"));
    assert_false(pl_card_luhn_ok("4111-1111-1111-1111"));
    assert_false(pl_card_luhn_ok("411111111111111a"));
    assert_false(pl_card_luhn_ok(""));
    assert_false(pl_card_luhn_ok(NULL));
}

static void mask_log_is(const char *number, pl_mask_mode mode, const char *want)
{
    char out[32];
    memset(out, 'x', sizeof(out));
    assert_int_equal(pl_card_mask_log(number, mode, out, sizeof(out)), PL_OK);
    assert_string_equal(out, want);
}

static void test_mask_log(void **state)
{
    (void)state;
    mask_log_is("4111111111111111", PL_MASK_LAST4, "************1111");
    mask_log_is("378282246310005", PL_MASK_LAST4, "***********0005");
    mask_log_is("12345", PL_MASK_LAST4, "*2345");
    mask_log_is("1234", PL_MASK_LAST4, "****");
    mask_log_is("12", PL_MASK_LAST4, "**");
    mask_log_is("", PL_MASK_LAST4, "");
    mask_log_is(NULL, PL_MASK_LAST4, "");
    mask_log_is("4111111111111111", PL_MASK_REMOVED, "***REMOVED***");
    mask_log_is("1234", PL_MASK_REMOVED, "***REMOVED***");
    /* An unknown mode falls back to the stricter one. */
    mask_log_is("4111111111111111", (pl_mask_mode)7, "***REMOVED***");
}

static void test_mask_log_buffer_size(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(pl_card_mask_log("4111111111111111", PL_MASK_LAST4, out, 16), PL_ERR_TOOBIG);
    assert_string_equal(out, "");
    assert_int_equal(pl_card_mask_log("4111111111111111", PL_MASK_LAST4, out, 17), PL_OK);
    assert_string_equal(out, "************1111");
    assert_int_equal(pl_card_mask_log("4111111111111111", PL_MASK_REMOVED, out, 13), PL_ERR_TOOBIG);
    assert_int_equal(pl_card_mask_log("4111111111111111", PL_MASK_REMOVED, out, 14), PL_OK);
    assert_int_equal(pl_card_mask_log("1", PL_MASK_LAST4, NULL, 0), PL_ERR_TOOBIG);
    assert_int_equal(pl_card_mask_log("1", PL_MASK_LAST4, out, 0), PL_ERR_TOOBIG);
}

static void mask_stored_is(const char *number, const char *want)
{
    char out[32];
    assert_int_equal(pl_card_mask_stored(number, out, sizeof(out)), PL_OK);
    assert_string_equal(out, want);
}

static void test_mask_stored(void **state)
{
    (void)state;
    mask_stored_is("4111111111111111", "411111******1111");
    mask_stored_is("378282246310005", "378282*****0005");
    mask_stored_is("6011000990139424", "601100******9424");
    mask_stored_is("4222222222222", "422222***2222"); /* 13 digits: BIN + last four */
    mask_stored_is("123456789012", "********9012");   /* 12 digits: last four only */
    mask_stored_is("12345", "*2345");
    mask_stored_is("1234", "****");
    mask_stored_is("", "");

    char out[32];
    assert_int_equal(pl_card_mask_stored("4111111111111111", out, 16), PL_ERR_TOOBIG);
    assert_string_equal(out, "");
    assert_int_equal(pl_card_mask_stored("4111111111111111", NULL, 0), PL_ERR_TOOBIG);
}

static void test_type_guess(void **state)
{
    (void)state;
    static const struct {
        const char *number;
        const char *type;
    } cases[] = {
        {"4111111111111111", "VI"},
        {"4", "VI"},
        {"5100000000000008", "MC"},
        {"5555555555554444", "MC"},
        {"2221000000000009", "MC"},
        {"2720999999999996", "MC"},
        {"2220999999999999", NULL},
        {"2721000000000000", NULL},
        {"5600000000000000", NULL},
        {"5000000000000000", NULL},
        {"378282246310005", "AX"},
        {"341111111111111", "AX"},
        {"351111111111111", NULL},
        {"6011111111111117", "DI"},
        {"6500000000000002", "DI"},
        {"6440000000000000", "DI"},
        {"6490000000000000", "DI"},
        {"6430000000000000", NULL},
        {"6012000000000000", NULL},
        {"36000000000008", "DC"},
        {"38000000000006", "DC"},
        {"30000000000004", "DC"},
        {"30500000000003", "DC"},
        {"30600000000000", NULL},
        {"3528000000000007", "JC"},
        {"3589000000000000", "JC"},
        {"3527999999999999", NULL},
        {"3590000000000000", NULL},
        {"1234567890123456", NULL},
        {"", NULL},
        {"4111 1111", NULL},
        {"x4111111111111111", NULL},
        {"65", "DI"},
        {"6", NULL},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const char *got = pl_card_type_guess(cases[k].number);
        if (cases[k].type)
            assert_non_null(got);
        if (!cases[k].type && got)
            fail_msg("%s guessed as %s", cases[k].number, got);
        if (got)
            assert_string_equal(got, cases[k].type);
    }
    assert_null(pl_card_type_guess(NULL));
}

static void test_cybersource_type(void **state)
{
    (void)state;
    assert_string_equal(pl_card_cybersource_type("VI"), "001");
    assert_string_equal(pl_card_cybersource_type("MC"), "002");
    assert_string_equal(pl_card_cybersource_type("AX"), "003");
    assert_string_equal(pl_card_cybersource_type("DI"), "004");
    assert_string_equal(pl_card_cybersource_type("DC"), "005");
    assert_string_equal(pl_card_cybersource_type("JC"), "007");
    assert_string_equal(pl_card_cybersource_type("vi"), "001");
    assert_null(pl_card_cybersource_type("XX"));
    assert_null(pl_card_cybersource_type(""));
    assert_null(pl_card_cybersource_type("VIS"));
    assert_null(pl_card_cybersource_type(NULL));
    /* The guess and the code table agree for every known prefix. */
    assert_string_equal(pl_card_cybersource_type(pl_card_type_guess("378282246310005")), "003");
}

static void test_hmac(void **state)
{
    (void)state;
    char out[65];
    /* RFC 4231 test case 2. */
    assert_int_equal(pl_card_hmac("Jefe", 4, "what do ya want for nothing?", out, sizeof(out)),
                     PL_OK);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* RFC 4231 test case 1: a binary key of twenty 0x0b bytes. */
    unsigned char key1[20];
    memset(key1, 0x0b, sizeof(key1));
    assert_int_equal(pl_card_hmac(key1, sizeof(key1), "Hi There", out, sizeof(out)), PL_OK);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    /* Same card, same key: same hash (that is what makes look-ups work); other key differs. */
    char a[65], b[65], c[65];
    assert_int_equal(pl_card_hmac("k1", 2, "4111111111111111", a, sizeof(a)), PL_OK);
    assert_int_equal(pl_card_hmac("k1", 2, "4111111111111111", b, sizeof(b)), PL_OK);
    assert_int_equal(pl_card_hmac("k2", 2, "4111111111111111", c, sizeof(c)), PL_OK);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 64);
    for (size_t k = 0; k < 64; k++)
        assert_true((a[k] >= '0' && a[k] <= '9') || (a[k] >= 'a' && a[k] <= 'f'));

    assert_int_equal(pl_card_hmac(NULL, 4, "4111111111111111", out, sizeof(out)), PL_ERR_INVALID);
    assert_int_equal(pl_card_hmac("Jefe", 0, "4111111111111111", out, sizeof(out)), PL_ERR_INVALID);
    assert_int_equal(pl_card_hmac("Jefe", 4, NULL, out, sizeof(out)), PL_ERR_INVALID);
    assert_int_equal(pl_card_hmac("Jefe", 4, "4111111111111111", out, 64), PL_ERR_TOOBIG);
    assert_int_equal(pl_card_hmac("Jefe", 4, "4111111111111111", NULL, 65), PL_ERR_TOOBIG);
}

/* Keyed contexts are kept per key and copied per use: more keys than are kept, keys that are
 * prefixes of each other, and keys used again after others, each give their own MAC every
 * time, and the RFC 4231 answers stay right with the cache full. */
static void test_hmac_many_keys(void **state)
{
    (void)state;
    enum { KEYS = 12 };
    char first[KEYS][65], again[65];
    char key[16];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < KEYS; i++) {
            int n = snprintf(key, sizeof key, "key-%.*s", i, "xxxxxxxxxxxxxxx");
            char *mac = round == 0 ? first[i] : again;
            assert_int_equal(pl_card_hmac(key, (size_t)n, "4111111111111111", mac, 65), PL_OK);
            if (round > 0)
                assert_string_equal(again, first[i]);
            for (int j = 0; round == 0 && j < i; j++)
                assert_string_not_equal(first[i], first[j]);
        }
    }
    char out[65];
    assert_int_equal(pl_card_hmac("Jefe", 4, "what do ya want for nothing?", out, sizeof(out)),
                     PL_OK);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* A context handed out is its caller's: two at once, from one key, do not interfere. */
    EVP_MAC_CTX *x = pl_hmac_sha256_keyed("Jefe", 4), *y = pl_hmac_sha256_keyed("Jefe", 4);
    assert_non_null(x);
    assert_non_null(y);
    static const char msg[] = "what do ya want for nothing?";
    assert_true(EVP_MAC_update(x, (const unsigned char *)msg, 10));
    assert_true(EVP_MAC_update(y, (const unsigned char *)msg, sizeof msg - 1));
    assert_true(EVP_MAC_update(x, (const unsigned char *)msg + 10, sizeof msg - 1 - 10));
    unsigned char mx[32], my[32];
    size_t lx = 0, ly = 0;
    assert_true(EVP_MAC_final(x, mx, &lx, sizeof mx));
    assert_true(EVP_MAC_final(y, my, &ly, sizeof my));
    assert_int_equal(lx, 32);
    assert_int_equal(ly, 32);
    assert_memory_equal(mx, my, 32);
    assert_int_equal(mx[0], 0x5b);
    EVP_MAC_CTX_free(x);
    EVP_MAC_CTX_free(y);
    assert_null(pl_hmac_sha256_keyed(NULL, 4));
    assert_null(pl_hmac_sha256_keyed("Jefe", 0));
}

/* ---- finding card numbers ---------------------------------------------------------------- */

/*
 * Runs pl_card_find over a heap copy of exactly len bytes (no terminator, so valgrind sees any
 * read past the end) and writes the matches as "start-end/digits" joined by spaces.
 */
static void find_all(const char *in, size_t len, char *out, size_t outsize)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, in, len);
    size_t pos = 0, used = 0;
    pl_card_match m;
    out[0] = '\0';
    while (pl_card_find(copy, len, &pos, &m)) {
        assert_true(m.start < m.end && m.end <= len);
        assert_true(m.digits >= 13 && m.digits <= 19);
        assert_true(m.tail_end >= m.end && m.tail_end <= len);
        if (m.tail_end > m.end)
            used += (size_t)snprintf(out + used, outsize - used, "%s%zu-%zu+%zu/%zu",
                                     used ? " " : "", m.start, m.end, m.tail_end, m.digits);
        else
            used += (size_t)snprintf(out + used, outsize - used, "%s%zu-%zu/%zu", used ? " " : "",
                                     m.start, m.end, m.digits);
        assert_true(used < outsize);
    }
    assert_int_equal(pos, len);
    free(copy);
}

static void finds(const char *in, const char *want)
{
    char got[512];
    find_all(in, strlen(in), got, sizeof got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "in \"%s\": found \"%s\", expected \"%s\"\n", in, got, want);
    assert_string_equal(got, want);
}

static void test_find_shapes(void **state)
{
    (void)state;
    /* One run, and 4-4-4-4 groups with each separator. */
    finds("4111111111111111", "0-16/16");
    finds("4111 1111 1111 1111", "0-19/16");
    finds("4111-1111-1111-1111", "0-19/16");
    finds("4111.1111.1111.1111", "0-19/16");
    finds("4111\t1111\t1111\t1111", "0-19/16");
    /* Mixed separators, and groups of any size. */
    finds("4111 1111-1111.1111", "0-19/16");
    finds("41-1111111111-1111", "0-18/16");
    /* American Express 4-6-5, Mastercard, Discover, JCB. */
    finds("3782 822463 10005", "0-17/15");
    finds("378282246310005", "0-15/15");
    finds("5555 5555 5555 4444", "0-19/16");
    finds("6011111111111117", "0-16/16");
    finds("3566-0020-2036-0505", "0-19/16");
    /* Up to three separators in a row, and any ASCII punctuation a person or a program puts
     * between the groups (the upstream system is not trusted to use only spaces or dashes). */
    finds("4111  1111 1111 1111", "0-20/16");
    finds("4111 - 1111 - 1111 - 1111", "0-25/16");
    finds("4111/1111/1111/1111", "0-19/16");
    finds("4111,1111,1111,1111", "0-19/16");
    finds("4111_1111_1111_1111", "0-19/16");
    finds("4111\\1111|1111;1111", "0-19/16");
    finds("4111\n1111\r\n1111\t1111", "0-20/16");
    finds("4111~1111=1111#1111", "0-19/16");
    /* Separators pasted from word processors and web pages (UTF-8). */
    finds("4111\xe2\x80\x8b"
          "1111\xc2\xad"
          "1111\xe2\x80\x94"
          "1111",
          "0-24/16"); /* zero-width space, soft hyphen, em dash */
    finds("4111\xe3\x80\x80"
          "1111\xe2\x88\x92"
          "1111\xef\xbc\x8d"
          "1111",
          "0-25/16"); /* ideographic space, minus sign, fullwidth hyphen-minus */
    finds("4111\xc2\xa0"
          "1111\xc2\xa0"
          "1111\xc2\xa0"
          "1111",
          "0-22/16");
    finds("4111\xe2\x80\x93"
          "1111\xe2\x80\x93"
          "1111\xe2\x80\x93"
          "1111",
          "0-25/16");
    finds("4111\xe2\x80\xaf"
          "1111\xe2\x80\x89"
          "1111\xe2\x80\x91"
          "1111",
          "0-25/16");
    /* Glued to letters, quotes and punctuation on either side. */
    finds("ord4111111111111111", "3-19/16");
    finds("ord4111111111111111x", "3-19/16");
    finds("\"4111-1111-1111-1111\"", "1-20/16");
    finds("-4111.1111.1111.1111.", "1-20/16");
    finds("card:4111111111111111;", "5-21/16");
    /* Leading zeros do not change the Luhn sum: a zero-padded number is still found. */
    finds("004111111111111111", "0-18/18");
    /* Two card numbers in one string, joined or not. */
    finds("4111111111111111 5555555555554444", "0-16/16 17-33/16");
    finds("4111111111111111,5555555555554444", "0-16/16 17-33/16");
    finds("a 4111 1111 1111 1111 and 3782-822463-10005.", "2-21/16 26-43/15");
    /* A short number before a card number does not hide it. */
    finds("ref 15 4111 1111 1111 1111 end", "7-26/16");
    finds("4111 1111 1111 1111 2025", "0-19/16");
}

/*
 * A card number in its brand's groups (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4) is found whatever the
 * same run of up to six punctuation or space characters joins its groups with, the first group
 * also in parentheses.
 */
static void test_find_brand_groups(void **state)
{
    (void)state;
    /* Separators that join no other reading: ':' (which request_id allows), '+', '*', '"'. */
    finds("4111:1111:1111:1111", "0-19/16");
    finds("req-4111:1111:1111:1111-x", "4-23/16");
    finds("4111+1111+1111+1111", "0-19/16");
    finds("4111 + 1111 + 1111 + 1111", "0-25/16");
    finds("5555*5555*5555*4444", "0-19/16");
    finds("[\"4111\",\"1111\",\"1111\",\"1111\"]", "2-27/16"); /* a serialized JSON array */
    /* The first group in parentheses, then the groups' separator or none. */
    finds("(4111) 1111 1111 1111", "1-21/16");
    finds("tel (4111)1111-1111-1111", "5-24/16");
    finds("(4111) 1111:1111:1111", "1-21/16");
    finds("(3782) 822463 10005", "1-19/15");
    finds("x (4111:1111:1111:1111) y", "3-22/16");
    finds("(4111)(1111)(1111)(1111)", "1-23/16"); /* each group: ")(" joins them all */
    /* More than three separators in a row, the same between every two groups. */
    finds("4111 -- 1111 -- 1111 -- 1111", "0-28/16");
    finds("4111  --  1111  --  1111  --  1111", "0-34/16");
    finds("4111 - - 1111 - - 1111 - - 1111", "0-31/16");
    finds("4111 \xe2\x80\x94\xe2\x80\x94 1111 \xe2\x80\x94\xe2\x80\x94 1111 "
          "\xe2\x80\x94\xe2\x80\x94 1111",
          "0-40/16"); /* two em dashes between spaces */
    /* American Express 4-6-5, Diners Club 4-6-4, 19 digits 4-4-4-4-3, full-width digits. */
    finds("3782:822463:10005", "0-17/15");
    finds("3782+822463+10005", "0-17/15");
    finds("3056:930902:5904", "0-16/14");
    finds("4111:1111:1111:1111:003", "0-23/19");
    /* A ':' next to it, where no IPv6 address goes on: after a word, before a security code. */
    finds("card:4111:1111:1111:1111", "5-24/16");
    finds("pan:4111:1111:1111:1111:123", "4-23/16");
    finds("4111111111111111x:4111:1111:1111:1111", "0-16/16 18-37/16");
    /* A shorter number before it does not hide it, and two of them are two. */
    finds("15 4111:1111:1111:1111", "3-22/16");
    finds("4111:1111:1111:1111 5555:5555:5555:4444", "0-19/16 20-39/16");
    assert_true(pl_card_is_number("4111:1111:1111:1111", 19));
    assert_true(pl_card_contains("request 4111 * 1111 * 1111 * 1111", 33));
}

/*
 * What the brand groups reading leaves alone: other shapes, mixed separators, numbers of no
 * card brand (a time, a table of years) and IPv6 addresses, even where the digits pass Luhn
 * (each of the constructed ones below does).
 */
static void test_find_brand_groups_not(void **state)
{
    (void)state;
    /* Timestamps, times, dates, amounts, IPv4, a CyberSource request ID, phone numbers. */
    finds("2026-12-06T14:40:00Z 14:40:00.123 12/2030", "");
    finds("1,234.56", "");
    finds("192.168.100.200:8443 [2001:db8::1]:443", "");
    finds("2026-12-06 14:40:00.123+00:00", "");
    finds("req:7419661750346782304097:1", "");
    finds("+1 (555) 123-4567, +44 20 7946 0958 +44 20 7946 0959", "");
    /* 15 digits passing Luhn, but a phone number's shape: 3-4-4-4, 1-3-4-4-3. */
    finds("(555) 4111-1111-1116", "");
    finds("+1 (555) 4111:1111:114", "");
    /* Luhn, but no card brand's number: a clock-like 2026:1206:1440:0002, years, 9..., 1234.... */
    finds("2026:1206:1440:0002", "");
    finds("1991 || 1992 || 1993 || 1994", "");
    finds("9111:1111:1111:1110", "");
    finds("1234+5678+9012+3452", "");
    /* Luhn and a brand, but not its groups, not the same separator, or too many of them. */
    finds("41111:111:1111:1111", "");
    finds("41:11:1111:1111:1111", "");
    finds("4111:1111+1111:1111", "");
    finds("(4111) 1111 1111:1111", "");
    finds("4111 ------- 1111 ------- 1111 ------- 1111", "");
    finds("4111:1111:1111:11113", "");
    finds("3782:8224:6310:005", "");  /* American Express is 4-6-5 */
    finds("4111:111111:11116", "");   /* Visa is no 15-digit card */
    finds("****:****:****:1111", ""); /* already masked */
    /* IPv6 addresses whose groups are a card number's, and the address goes on past them. */
    finds("2001:db8:abcd:ef12:4111:1111:1111:1111", "");
    finds("fe80::4111:1111:1111:1111", "");
    finds("[2001:db8::4111:1111:1111:1111]:443", "");
    finds("::4111:1111:1111:1111", "");
    finds("4111:1111:1111:1111::1", "");
    finds("4111:1111:1111:1111:abcd:ef12:1:2", "");
    finds("2001:0:4111:1111:1111:1111:0:1", "");
}

static void test_find_leaves_other_numbers(void **state)
{
    (void)state;
    /* Not Luhn. */
    finds("4111111111111112", "");
    finds("4111 1111 1111 1112", "");
    /* 12 digits, even when they pass Luhn (411111111117 does). */
    finds("411111111117", "");
    finds("4111 1111 1117", "");
    /* More than 19 digits in one run: some other number (an identifier), whatever it begins
     * with and whatever of it passes Luhn. */
    finds("41111111111111110000", "");
    finds("4036289939370176056470", ""); /* a CyberSource request ID of the documentation's */
    finds("7419661750346782304017", "");
    finds("1796557025437018114322", ""); /* the simulator's, as CyberSource's today */
    finds("x 14111111111111111 x", "");
    /* More than three separators in a row (not the same between every two groups of a brand's
     * shape), or a character that is no separator. */
    finds("4111 -- 1111 --- 1111 -- 1111", "");
    finds("4111x1111x1111x1111", "");
    finds("4111(1111)1111(1111)", "");
    /* Dates, amounts, times and phone numbers. */
    finds("2026-11-26T04:01:02.123Z 120.00 USD +1-217-555-0100", "");
    finds("2026-12-06 04:09:00.867+00:00", "");
    finds("06/12/2026 04:09:00", "");
    finds("", "");
    finds("no digits at all", "");
}

static void test_find_any_bytes(void **state)
{
    (void)state;
    char got[512];
    /* A NUL is an ordinary non-digit. */
    const char nul[] = "abc\0004111111111111111\0";
    find_all(nul, sizeof nul - 1, got, sizeof got);
    assert_string_equal(got, "4-20/16");
    /* The end of the buffer ends the number: 15 of its digits are not a card number. */
    find_all("4111111111111111", 15, got, sizeof got);
    assert_string_equal(got, "");
    /* A separator (or half a UTF-8 one) at the very end is not read past. */
    find_all("4111111111111111-", 17, got, sizeof got);
    assert_string_equal(got, "0-16/16");
    find_all("4111111111111111\xe2\x80", 18, got, sizeof got);
    assert_string_equal(got, "0-16/16");
    find_all("4111 1111 1111 1111\xe2", 20, got, sizeof got);
    assert_string_equal(got, "0-19/16");

    /* Arbitrary bytes (a fixed pseudo-random sequence): no crash, no read past the end. */
    unsigned x = 12345;
    for (int round = 0; round < 200; round++) {
        char buf[300];
        size_t n = (size_t)round + 1;
        for (size_t k = 0; k < n; k++) {
            x = x * 1103515245u + 12345u;
            unsigned r = (x >> 16) & 0xff;
            /* Mostly digits and separators, so groups of every shape come up. */
            buf[k] = r < 150 ? (char)('0' + r % 10) : r < 200 ? " -.\t"[r % 4] : (char)r;
        }
        find_all(buf, n, got, sizeof got);
    }

    /* A long group of short numbers: every start is looked at, each only a bounded way. */
    size_t big = 1 << 20;
    char *long_group = malloc(big);
    assert_non_null(long_group);
    for (size_t k = 0; k < big; k++)
        long_group[k] = k % 2 ? ' ' : '2';
    size_t pos = 0;
    pl_card_match m;
    size_t count = 0;
    while (pl_card_find(long_group, big, &pos, &m)) {
        /* Of 13 to 19 twos only 17 pass Luhn: every start with 17 digits left finds that. */
        assert_int_equal(m.digits, 17);
        count++;
    }
    assert_int_equal(count, big / 2 - 16);
    free(long_group);
}

static void test_is_number(void **state)
{
    (void)state;
    assert_true(pl_card_is_number("4111111111111111", 16));
    assert_true(pl_card_is_number("4111 1111 1111 1111", 19));
    assert_true(pl_card_is_number("4111.1111.1111.1111", 19));
    assert_true(pl_card_is_number("3782-822463-10005", 17));
    assert_false(pl_card_is_number("4111111111111112", 16));
    assert_false(pl_card_is_number(" 4111111111111111", 17));
    assert_false(pl_card_is_number("4111111111111111 ", 17));
    assert_false(pl_card_is_number("tok_4111111111111111", 20));
    assert_false(pl_card_is_number("4111111111111111 5555555555554444", 33));
    assert_false(pl_card_is_number("7419661750346782304017", 22));
    assert_false(pl_card_is_number("", 0));
    assert_false(pl_card_is_number(NULL, 0));
    assert_true(pl_card_contains("x4111111111111111", 17));
    assert_false(pl_card_contains("x4111111111111112", 17));
    assert_false(pl_card_contains(NULL, 5));
}

/* pl_card_cut_tail on a copy of in (of length len) must leave want. */
static void cut_is(const char *in, const char *want)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", in);
    assert_int_equal(pl_card_cut_tail(buf, strlen(buf)), strlen(want));
    assert_string_equal(buf, want);
}

/* pl_card_cut_tail_full on a copy of in must leave want. */
static void cut_full_is(const char *in, const char *want)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", in);
    assert_int_equal(pl_card_cut_tail_full(buf, strlen(buf)), strlen(want));
    assert_string_equal(buf, want);
}

/* pl_card_scrub_copy_full of in into outsize bytes must leave want. */
static void copy_full_is(const char *in, size_t outsize, const char *want)
{
    char out[128];
    assert_true(outsize <= sizeof out);
    assert_int_equal(pl_card_scrub_copy_full(out, outsize, in, strlen(in), PL_MASK_LAST4),
                     strlen(want));
    assert_string_equal(out, want);
}

/* A number split by characters a bureau message drops ("4111<e-acute>1111..."), cut: the full
 * scan reads the split as nothing, so what the cut leaves of the number goes, with the
 * characters between its digits (not only the digits after the last of them). */
static void test_cut_tail_full(void **state)
{
    (void)state;
    /* The field of pl_errors_add (64 bytes): a 43-byte path, then the number. */
    char prefix[44], in[128];
    memcpy(prefix, "notes.", 6);
    memset(prefix + 6, 'a', 37);
    prefix[43] = '\0';
    snprintf(in, sizeof in,
             "%s4111\xc3\xa9"
             "1111\xc3\xa9"
             "1111\xc3\xa9"
             "1111",
             prefix);
    copy_full_is(in, 64, prefix);
    /* Into 23-26 bytes: cut right after the last e-acute, or within the last group. */
    const char *msg = "msg 4111\xc3\xa9"
                      "1111\xc3\xa9"
                      "1111\xc3\xa9"
                      "1111";
    for (size_t outsize = 23; outsize <= 26; outsize++)
        copy_full_is(msg, outsize, "msg");
    /* Split by a control character. */
    const char *ctl = "msg 4111\x01"
                      "1111\x01"
                      "1111\x01"
                      "1111";
    for (size_t n = 8; n < strlen(ctl); n++)
        copy_full_is(ctl, n + 1, "msg");
    /* The plain cut stays as it was: the plain scan does not read such a split as one. */
    char out[32];
    assert_int_equal(pl_card_scrub_copy(out, 24, msg, strlen(msg), PL_MASK_LAST4), 22);
    assert_string_equal(out, "msg 4111\xc3\xa9"
                             "1111\xc3\xa9"
                             "1111\xc3\xa9");
    /* Full-width digits (a reader's view) and invisible characters split the number too. */
    cut_full_is("msg \xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9"
                "\xef\xbc\x91\xef\xbc\x91\xc3\xa9",
                "msg");
    cut_full_is("msg 4111\xe2\x80\x8d\xc3\xa9"
                "1111\x7f",
                "msg");
    cut_full_is("id=4111\xc3\xa9", "id");
    /* Characters off the keyboard after a letter are text, not a split number. */
    cut_full_is("caf\xc3\xa9", "caf\xc3\xa9");
    cut_full_is("caf\xc3\xa9 4111", "caf\xc3\xa9");
    /* Separators a number in its brand's groups is read with in a view: four spaces, '+'. */
    cut_full_is("a 4111    \xc3\xa9"
                "1111    \xc3\xa9"
                "1111    \xc3\xa9"
                "11",
                "a");
    cut_full_is("a 4111\xc3\xa9+1111\xc3\xa9+1111\xc3\xa9+11", "a");
    cut_full_is("a 4111\xc3\xa9+1111\xc3\xa9+1111\xc3\xa9", "a");
    /* Words off the keyboard are walked over, not cut (only a digit moves the cut). */
    cut_full_is("bureau said: \xd0\x9d\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80 "
                "\xd0\xba\xd0\xb0\xd1\x80\xd1\x82\xd1\x8b",
                "bureau said: \xd0\x9d\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80 "
                "\xd0\xba\xd0\xb0\xd1\x80\xd1\x82\xd1\x8b");
    cut_full_is("\xe6\xb3\xa8\xe6\x96\x87 \xe3\x81\xaf \xe7\x84\xa1\xe5\x8a\xb9",
                "\xe6\xb3\xa8\xe6\x96\x87 \xe3\x81\xaf \xe7\x84\xa1\xe5\x8a\xb9");
    cut_full_is("d\xc3\xa9j\xc3\xa0 r\xc3\xa9gl\xc3\xa9 \xc3\xa0 cr\xc3\xa9\xc3\xa9",
                "d\xc3\xa9j\xc3\xa0 r\xc3\xa9gl\xc3\xa9 \xc3\xa0 cr\xc3\xa9\xc3\xa9");
    cut_full_is("\xd0\x9d\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80 4111\xc3\xa9"
                "1111\xc3\xa9",
                "\xd0\x9d\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80");
    cut_full_is("\xc3\xa9\x01", "\xc3\xa9\x01");
    cut_full_is("", "");
    /* An incomplete UTF-8 sequence at the cut goes first, as in pl_card_cut_tail. */
    cut_full_is("msg 4111\xc3\xa9"
                "1111\xc3",
                "msg");
    /* At every cut, the bureau's view of what is left (the characters off the keyboard gone),
     * past the separators a number in its brand's groups may have at its end, ends in no
     * digit: no head of the number is left in clear. */
    static const char *const mixed[] = {
        "ref 5555\xc3\xa9"
        "5555\x01\xe2\x80\x8e"
        "5555 \xc3\xa9"
        "4444 end",
        "a 4111    \xc3\xa9"
        "1111    \xc3\xa9"
        "1111    \xc3\xa9"
        "1111 end",
        "a 4111\xc3\xa9+1111\xc3\xa9+1111\xc3\xa9+1111 end",
    };
    for (size_t m = 0; m < sizeof mixed / sizeof mixed[0]; m++)
        for (size_t n = 1; n < strlen(mixed[m]); n++) {
            char buf[64];
            (void)pl_card_scrub_copy_full(buf, n + 1, mixed[m], strlen(mixed[m]), PL_MASK_LAST4);
            size_t k = pl_card_keyboard_clean(buf);
            for (int seps = 0;
                 k > 0 && seps < 6 && (ispunct((unsigned char)buf[k - 1]) || buf[k - 1] == ' ');
                 seps++)
                k--;
            assert_true(k == 0 || !isdigit((unsigned char)buf[k - 1]));
        }
    /* pl_card_scrub_full on a buffer with no NUL in it cuts the same way. */
    char raw[20];
    memcpy(raw, msg, sizeof raw);
    assert_int_equal(pl_card_scrub_full(raw, sizeof raw, PL_MASK_LAST4), 3);
    assert_string_equal(raw, "msg");
    assert_int_equal(pl_card_cut_tail_full(NULL, 5), 0);
}

static void test_cut_tail(void **state)
{
    (void)state;
    /* The separator before the digits goes too: it cannot be told from one between groups. */
    cut_is("card 4111 1111 11", "card");
    cut_is("card 4111.1111-11", "card");
    cut_is("card 4111\xe2\x80\x93"
           "11",
           "card");
    cut_is("card 4111\xe2\x80", "card");
    cut_is("name \xc3", "name");
    cut_is("name \xc3\xa9", "name \xc3\xa9");
    cut_is("no digits", "no digits");
    cut_is("4111111111", "");
    cut_is("", "");
}

/* Scrubs a copy of in with mode and checks the text and the returned length. */
static void scrub_is(const char *in, pl_mask_mode mode, const char *want)
{
    char buf[1024];
    assert_true(strlen(in) < sizeof(buf));
    snprintf(buf, sizeof(buf), "%s", in);
    size_t n = pl_card_scrub(buf, sizeof(buf), mode);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_scrub_pans(void **state)
{
    (void)state;
    scrub_is("paid with 4111-1111-1111-1111 today", PL_MASK_LAST4,
             "paid with ****-****-****-1111 today");
    scrub_is("paid with 4111-1111-1111-1111 today", PL_MASK_REMOVED,
             "paid with ***REMOVED*** today");
    scrub_is("card 4111 1111 1111 1111.", PL_MASK_LAST4, "card **** **** **** 1111.");
    scrub_is("card=4111111111111111&x=1", PL_MASK_LAST4, "card=************1111&x=1");
    scrub_is("card=4111111111111111&x=1", PL_MASK_REMOVED, "card=***REMOVED***&x=1");
    scrub_is("4111111111111111", PL_MASK_LAST4, "************1111");
    scrub_is("x 378282246310005, 5555555555554444 and 6011111111111117.", PL_MASK_LAST4,
             "x ***********0005, ************4444 and ************1117.");
    scrub_is("x 378282246310005, 5555555555554444 and 6011111111111117.", PL_MASK_REMOVED,
             "x ***REMOVED***, ***REMOVED*** and ***REMOVED***.");
    /* Two PANs in one space-separated group: each gets its own mask. */
    scrub_is("4111111111111111 5555555555554444", PL_MASK_REMOVED, "***REMOVED*** ***REMOVED***");
    scrub_is("4111111111111111 5555555555554444", PL_MASK_LAST4,
             "************1111 ************4444");
    /* Numbers next to a PAN do not hide it. */
    scrub_is("ref 15 4111 1111 1111 1111 end", PL_MASK_LAST4, "ref 15 **** **** **** 1111 end");
    scrub_is("4111 1111 1111 1111 2025", PL_MASK_LAST4, "**** **** **** 1111 2025");
    scrub_is("4111 1111 1111 1111 2025", PL_MASK_REMOVED, "***REMOVED*** 2025");
}

/* The separators and shapes pl_card_find knows, as pl_card_scrub masks them. */
static void test_scrub_separators(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        pl_mask_mode mode;
        const char *want;
    } cases[] = {
        {"card 4111.1111.1111.1111.", PL_MASK_LAST4, "card ****.****.****.1111."},
        {"card 4111.1111.1111.1111.", PL_MASK_REMOVED, "card ***REMOVED***."},
        {"4111 1111-1111.1111", PL_MASK_LAST4, "**** ****-****.1111"},
        {"amex 3782 822463 10005", PL_MASK_LAST4, "amex **** ****** *0005"},
        {"ord4111111111111111", PL_MASK_LAST4, "ord************1111"},
        {"ord4111111111111111", PL_MASK_REMOVED, "ord***REMOVED***"},
        {"4111\xc2\xa0"
         "1111\xc2\xa0"
         "1111\xc2\xa0"
         "1111 x",
         PL_MASK_LAST4,
         "****\xc2\xa0****\xc2\xa0****\xc2\xa0"
         "1111 x"},
        {"4111\xe2\x80\x93"
         "1111\xe2\x80\x93"
         "1111\xe2\x80\x93"
         "1111 x",
         PL_MASK_REMOVED, "***REMOVED*** x"},
        {"a 4111.1111.1111.1111 b 5555-5555-5555-4444", PL_MASK_LAST4,
         "a ****.****.****.1111 b ****-****-****-4444"},
        /* Left alone: 12 digits, more than 19, not Luhn, four separators in a row. */
        {"id 411111111117 x", PL_MASK_LAST4, "id 411111111117 x"},
        {"id 41111111111111110000 x", PL_MASK_LAST4, "id 41111111111111110000 x"},
        {"n 4111.1111.1111.1112", PL_MASK_REMOVED, "n 4111.1111.1111.1112"},
        {"4111 -- 1111 --- 1111 -- 1111", PL_MASK_REMOVED, "4111 -- 1111 --- 1111 -- 1111"},
        /* Doubled separators and any ASCII punctuation join groups. */
        {"4111  1111  1111  1111", PL_MASK_REMOVED, "***REMOVED***"},
        {"id 4111_1111_1111_1111", PL_MASK_LAST4, "id ****_****_****_1111"},
        {"4111 / 1111 / 1111 / 1111.", PL_MASK_LAST4, "**** / **** / **** / 1111."},
        {"v 1.2.3 at 10.0.0.1", PL_MASK_REMOVED, "v 1.2.3 at 10.0.0.1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        scrub_is(cases[k].in, cases[k].mode, cases[k].want);
}

/*
 * The characters nobody sees join digit groups as a space does: DEL and the Unicode format
 * characters (zero-width joiners, direction marks and embeddings, invisible operators, the byte
 * order mark, the Mongolian vowel separator). A bureau message drops them
 * (pl_card_keyboard_clean), so the digits around them would go out as one card number.
 */
static void test_find_invisible_separators(void **state)
{
    (void)state;
    static const char *const invisible[] = {
        "\xe2\x80\x8b", "\xe2\x80\x8c", "\xe2\x80\x8d", "\xe2\x80\x8e", /* U+200B-U+200E */
        "\xe2\x80\x8f", "\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", /* U+200F, U+202A-C */
        "\xe2\x80\xad", "\xe2\x80\xae", "\xe2\x81\xa0", "\xe2\x81\xa1", /* U+202D-E, U+2060-1 */
        "\xe2\x81\xa2", "\xe2\x81\xa3", "\xe2\x81\xa4", "\xef\xbb\xbf", /* U+2062-4, U+FEFF */
        "\xe1\xa0\x8e", "\x7f",                                         /* U+180E, DEL */
    };
    for (size_t i = 0; i < sizeof invisible / sizeof invisible[0]; i++) {
        const char *x = invisible[i];
        char in[128], want[128];
        /* 8 + 8 digits, as pasted with a joiner between them. */
        snprintf(in, sizeof in, "41111111%s11111111", x);
        assert_true(pl_card_contains(in, strlen(in)));
        assert_true(pl_card_is_number(in, strlen(in)));
        snprintf(want, sizeof want, "********%s****1111", x);
        scrub_is(in, PL_MASK_LAST4, want);
        /* What the scrub reads as one number is what the bureau would get. */
        char clean[128];
        snprintf(clean, sizeof clean, "%s", in);
        pl_card_keyboard_clean(clean);
        assert_string_equal(clean, "4111111111111111");

        /* 4-4-4-4 in a sentence, both modes. */
        snprintf(in, sizeof in, "card 4111%s1111%s1111%s1111 ok", x, x, x);
        assert_true(pl_card_contains(in, strlen(in)));
        snprintf(want, sizeof want, "card ****%s****%s****%s1111 ok", x, x, x);
        scrub_is(in, PL_MASK_LAST4, want);
        scrub_is(in, PL_MASK_REMOVED, "card ***REMOVED*** ok");

        /* A cut text loses the digits and the invisible separator at its end. */
        snprintf(in, sizeof in, "ab:4111%s", x);
        assert_int_equal(pl_card_cut_tail(in, strlen(in)), 3);
        assert_string_equal(in, "ab:");

        /* Four in a row end a group, as four spaces do. */
        snprintf(in, sizeof in, "41111111%s%s%s%s11111111", x, x, x, x);
        assert_false(pl_card_contains(in, strlen(in)));
    }
}

/* "4111111111111111" and "4111 1111 1111 1111" in full-width digits (U+FF10-U+FF19), as a CJK
 * input method types them, and the full-width asterisk (U+FF0A) the mask writes. */
#define FW4 "\xef\xbc\x94"
#define FW1 "\xef\xbc\x91"
#define FW1111 FW1 FW1 FW1 FW1
#define FWSTAR "\xef\xbc\x8a"
#define FWSTARS FWSTAR FWSTAR FWSTAR FWSTAR

/* Full-width digits are digits: found, masked keeping the text's length, cut at a tail. */
static void test_full_width_digits(void **state)
{
    (void)state;
    const char *fw = FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111;
    finds(fw, "0-48/16");
    finds("card " FW4 FW1 FW1 FW1 " " FW1111 "\xe3\x80\x80" FW1111 "-" FW1111 ".",
          "5-58/16"); /* a space, an ideographic space, a dash */
    finds("ord" FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 "x", "3-51/16"); /* glued to letters */
    /* Mixed with ASCII digits (a hand-edited number). */
    finds("4111" FW1111 "1111" FW1111, "0-32/16");
    /* Where the kinds meet, one run ends: a number glued to digits of the other kind is found,
     * as it was when full-width digits were no digits (found by fuzz_scrub). */
    finds("4111111111111111" FW1111 FW1, "0-16/16");
    finds(FW1 FW1 "4111111111111111", "6-22/16");
    finds("4111111111111111" FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111, "0-16/16 16-64/16");
    assert_true(pl_card_is_number(fw, strlen(fw)));
    assert_true(pl_card_contains(fw, strlen(fw)));
    /* Not Luhn, too short, or too long: some other number. */
    finds(FW4 FW1 FW1 FW1 FW1111 FW1111 FW1 FW1 FW1 "\xef\xbc\x92", "");
    finds(FW1111 FW1111 FW1111, "");
    finds(FW1111 FW1111 FW1111 FW1111 FW1 FW1 FW1, "");
    finds(FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 FW1111, "");
    /* Three more glued to a full-width number (the glued digits are of its kind). */
    finds(FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 FW1 FW1 FW1, "0-48+57/16");
    scrub_is(FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 FW1 FW1 FW1, PL_MASK_LAST4,
             FWSTARS FWSTARS FWSTARS FW1111 FWSTAR FWSTAR FWSTAR);
    /* A byte sequence that only starts like one (U+FF1A, a truncated one) is no digit. */
    finds("411111111111111\xef\xbc\x9a", "");
    finds("4111111111111111\xef\xbc", "0-16/16");

    scrub_is("card " FW4 FW1 FW1 FW1 " " FW1111 " " FW1111 " " FW1111 " ok", PL_MASK_LAST4,
             "card " FWSTARS " " FWSTARS " " FWSTARS " " FW1111 " ok");
    scrub_is("card " FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 " ok", PL_MASK_REMOVED,
             "card ***REMOVED*** ok");
    scrub_is("4111" FW1111 "1111" FW1111, PL_MASK_LAST4, "****" FWSTARS "****" FW1111);
    /* A long group with full-width digits is judged like any other (scrub_group). */
    scrub_is("n " FW4 FW1 FW1 FW1 FW1111 FW1111 FW1 FW1 FW1 "\xef\xbc\x92", PL_MASK_REMOVED,
             "n " FW4 FW1 FW1 FW1 FW1111 FW1111 FW1 FW1 FW1 "\xef\xbc\x92");
    /* The last four across the kinds; full-width separators (which share the digits' first two
     * bytes); REMOVED where the kinds meet; 19 ASCII digits and then a full-width one. */
    scrub_is("41111111111111" FW1 FW1, PL_MASK_LAST4, "************11" FW1 FW1);
    finds(FW4 FW1 FW1 FW1 "\xef\xbc\x8d" FW1111 "\xef\xbc\x8e" FW1111 "\xef\xbc\x8c" FW1111,
          "0-57/16");
    scrub_is("4111111111111111" FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111, PL_MASK_REMOVED,
             "***REMOVED***");
    scrub_is(FW1 FW1 "4111111111111111", PL_MASK_REMOVED, FW1 FW1 "***REMOVED***");
    finds("4111111111111111000" FW1, "0-16+19/16");
    assert_true(pl_card_is_number("4111" FW1111 "1111" FW1111, 32));
    /* In brand groups, as ASCII digits are. */
    finds(FW4 FW1 FW1 FW1 ":" FW1111 ":" FW1111 ":" FW1111, "0-51/16");
    scrub_is("(" FW4 FW1 FW1 FW1 ") " FW1111 "+" FW1111 "+" FW1111, PL_MASK_LAST4,
             "(" FWSTARS ") " FWSTARS "+" FWSTARS "+" FW1111);
    /* A bare security code in full-width digits is blanked like an ASCII one. */
    scrub_is("cvv=123 cvv=\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93 ok", PL_MASK_LAST4, "cvv= cvv= ok");
    /* A cut text loses a trailing full-width number part, as an ASCII one. */
    cut_is("card " FW4 FW1 FW1 FW1 " " FW1, "card");
    cut_is("card \xef\xbc\x91\xef\xbc", "card");
}

/*
 * A card number with its security code typed straight after it: found (so refused outside the
 * card and scrubbed) when the number begins and is as long as a card brand's, and the whole is
 * 17-19 digits: longer than a 16-digit token, no longer than a card number (longer runs are
 * identifiers: a CyberSource request ID has 22 digits and may begin as a card brand's).
 */
static void test_find_glued(void **state)
{
    (void)state;
    finds("4111111111111111123", "0-16+19/16");       /* the security code */
    finds("note 4111111111111111123.", "5-21+24/16"); /* in a text */
    finds("4111 1111 1111 1111123", "0-19+22/16");    /* on the last group */
    finds("3782822463100051234", "0-15+19/15");       /* American Express */
    finds("5555555555554444123", "0-16+19/16");       /* Mastercard */
    finds("6011111111111117123", "0-16+19/16");       /* Discover */
    finds("41111111111111111", "0-16+17/16");         /* one glued digit */
    finds("ord 4111111111111111123 4111111111111111", "4-20+23/16 24-40/16");
    /* A 13-digit Visa with three more is a 16-digit token's shape; more than 19 digits are an
     * identifier's (the expiry date and the code glued); a Mastercard of 17 digits is no
     * brand's length. */
    finds("4222222222222123", "");
    finds("41111111111111111226123", "");
    finds("5555555555554445701", ""); /* 17 digits pass Luhn, 16 do not */
    assert_true(pl_card_contains("x4111111111111111123", 20));
    assert_false(pl_card_is_number("4111111111111111123", 19));

    /* Masked: the number but its last four, and every glued digit. */
    scrub_is("id 4111111111111111123 x", PL_MASK_LAST4, "id ************1111*** x");
    scrub_is("id 4111111111111111123 x", PL_MASK_REMOVED, "id ***REMOVED*** x");
    scrub_is("4111-1111-1111-1111123", PL_MASK_LAST4, "****-****-****-1111***");
    /* 19 digits that pass Luhn whole and read as 16 with three glued: what either reading
     * masks is masked, so neither reading's last four shows whole. */
    finds("4111111111111111011", "0-19/19");
    scrub_is("4111111111111111011", PL_MASK_LAST4, "***************1***");
}

/* A card number in its brand's groups is masked as any other: separators stay. */
static void test_scrub_brand_groups(void **state)
{
    (void)state;
    scrub_is("id 4111:1111:1111:1111 x", PL_MASK_LAST4, "id ****:****:****:1111 x");
    scrub_is("id 4111:1111:1111:1111 x", PL_MASK_REMOVED, "id ***REMOVED*** x");
    scrub_is("(4111) 1111 1111 1111", PL_MASK_LAST4, "(****) **** **** 1111");
    scrub_is("tel (4111) 1111 1111 1111.", PL_MASK_REMOVED, "tel (***REMOVED***.");
    scrub_is("4111*1111*1111*1111", PL_MASK_LAST4, "***************1111");
    scrub_is("4111 -- 1111 -- 1111 -- 1111", PL_MASK_LAST4, "**** -- **** -- **** -- 1111");
    scrub_is("4111 -- 1111 -- 1111 -- 1111", PL_MASK_REMOVED, "***REMOVED***");
    scrub_is("amex 3782:822463:10005", PL_MASK_LAST4, "amex ****:******:*0005");
    scrub_is("[\"4111\",\"1111\",\"1111\",\"1111\"]", PL_MASK_LAST4,
             "[\"****\",\"****\",\"****\",\"1111\"]");
    scrub_is("card:4111:1111:1111:1111", PL_MASK_LAST4, "card:****:****:****:1111");
    scrub_is("a 4111111111111111 b 4111+1111+1111+1111", PL_MASK_LAST4,
             "a ************1111 b ****+****+****+1111");
    /* A card number just before does not change what is read after it (the scrubber looks at
     * the text as it came), masked or not. */
    scrub_is("4111111111111111x:4111:1111:1111:1111", PL_MASK_LAST4,
             "************1111x:****:****:****:1111");
    scrub_is("4111111111111111x:4111:1111:1111:1111", PL_MASK_REMOVED,
             "***REMOVED***x:***REMOVED***");
    scrub_is("4111111111111111 ab:4111:1111:1111:1111", PL_MASK_REMOVED,
             "***REMOVED*** ab:4111:1111:1111:1111");
    finds("4111111111111111123ab:4111:1111:1111:1111", "0-16+19/16 22-41/16");
    scrub_is("4111111111111111123ab:4111:1111:1111:1111", PL_MASK_LAST4,
             "************1111***ab:****:****:****:1111");
    scrub_is("4111111111111111123ab:4111:1111:1111:1111", PL_MASK_REMOVED,
             "***REMOVED***ab:***REMOVED***");
    /* Left alone: an IPv6 address, a time, years, mixed separators. */
    scrub_is("from 2001:db8:abcd:ef12:4111:1111:1111:1111 ok", PL_MASK_REMOVED,
             "from 2001:db8:abcd:ef12:4111:1111:1111:1111 ok");
    scrub_is("at 2026:1206:1440:0002 and 1991 || 1992 || 1993 || 1994", PL_MASK_LAST4,
             "at 2026:1206:1440:0002 and 1991 || 1992 || 1993 || 1994");
    scrub_is("4111:1111+1111:1111", PL_MASK_LAST4, "4111:1111+1111:1111");
    /* A cut text loses the head of such a number too, its separators with it. */
    cut_is("card 4111:1111:1111:11", "card");
    cut_is("card 4111 -- 1111 -- 11", "card");
    cut_is("card (4111) 11", "card (");
    cut_is("card 4111*1111*", "card");
    cut_is("ok: done", "ok: done");
}

static void test_scrub_leaves_other_numbers(void **state)
{
    (void)state;
    /* Not Luhn, too short, too long, or a date and time. */
    scrub_is("order 4111111111111112 ok", PL_MASK_LAST4, "order 4111111111111112 ok");
    scrub_is("order 4111111111111112 ok", PL_MASK_REMOVED, "order 4111111111111112 ok");
    scrub_is("id 000000000000 ok", PL_MASK_LAST4, "id 000000000000 ok");
    scrub_is("id 00000000000000000000 ok", PL_MASK_LAST4, "id 00000000000000000000 ok");
    scrub_is("amount 120.00 at 2026-11-26T04:01:02Z", PL_MASK_REMOVED,
             "amount 120.00 at 2026-11-26T04:01:02Z");
    scrub_is("", PL_MASK_LAST4, "");
    scrub_is("no digits at all", PL_MASK_REMOVED, "no digits at all");
}

static void test_scrub_long_group(void **state)
{
    (void)state;
    /* A digit group longer than the scrubber's stack scratch space. */
    char in[700], want[700];
    size_t n = 0;
    for (int k = 0; k < 150; k++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "7 ");
    memcpy(want, in, n);
    snprintf(in + n, sizeof(in) - n, "4111111111111111 x");
    snprintf(want + n, sizeof(want) - n, "************1111 x");
    scrub_is(in, PL_MASK_LAST4, want);
    snprintf(want + n, sizeof(want) - n, "***REMOVED*** x");
    scrub_is(in, PL_MASK_REMOVED, want);
}

static void test_scrub_cvv(void **state)
{
    (void)state;
    scrub_is("{\"cvv\":\"123\",\"x\":1}", PL_MASK_LAST4, "{\"cvv\":\"\",\"x\":1}");
    scrub_is("{\"card\":{\"cvv\": \"1234\"}}", PL_MASK_LAST4, "{\"card\":{\"cvv\": \"\"}}");
    scrub_is("{\"cvv\" : 987}", PL_MASK_LAST4, "{\"cvv\" : }");
    scrub_is("{\\\"cvv\\\":\\\"123\\\"}", PL_MASK_LAST4, "{\\\"cvv\\\":\\\"\\\"}");
    scrub_is("<cvNumber>123</cvNumber>", PL_MASK_LAST4, "<cvNumber></cvNumber>");
    scrub_is("<c:cvNumber>999</c:cvNumber><c:cvIndicator>1</c:cvIndicator>", PL_MASK_REMOVED,
             "<c:cvNumber></c:cvNumber><c:cvIndicator>1</c:cvIndicator>");
    scrub_is("<cvNumber/>", PL_MASK_LAST4, "<cvNumber/>");
    /* Names a mistyped or foreign schema uses, any case, anywhere in the text. */
    scrub_is("{\"cid\":\"1234\",\"CSC\":\"123\",\"cvv_code\":\"123\",\"cvvCode\":\"123\"}",
             PL_MASK_LAST4, "{\"cid\":\"\",\"CSC\":\"\",\"cvv_code\":\"\",\"cvvCode\":\"\"}");
    scrub_is(
        "{\"x\":{\"security_code\":\"123\",\"card_code\":\"456\",\"cardSecurityCode\":\"789\"}}",
        PL_MASK_REMOVED,
        "{\"x\":{\"security_code\":\"\",\"card_code\":\"\",\"cardSecurityCode\":\"\"}}");
    /* Values one after another, and many of them (one pass over the text). */
    scrub_is("cvv=123 cvv=456&cvc=7", PL_MASK_LAST4, "cvv= cvv=&cvc=");
    scrub_is("<cvNumber>123</cvNumber><cvNumber>4567</cvNumber>", PL_MASK_LAST4,
             "<cvNumber></cvNumber><cvNumber></cvNumber>");
    {
        enum { N = 20000 };
        static char many[N * 12 + 1], want[N * 10 + 1];
        for (size_t i = 0; i < N; i++) {
            memcpy(many + i * 12, "{\"cvv\":\"12\"}", 12);
            memcpy(want + i * 10, "{\"cvv\":\"\"}", 10);
        }
        many[N * 12] = want[N * 10] = '\0';
        assert_int_equal(pl_card_scrub(many, sizeof many, PL_MASK_LAST4), N * 10);
        assert_string_equal(many, want);
        for (size_t i = N * 10 + 1; i < sizeof many; i++)
            assert_int_equal(many[i], 0); /* nothing of the values left past the end */
    }
    /* Every name, in its own case and upper case (card.c's list). */
    static const char *const names[] = {"cvv",
                                        "cvv2",
                                        "cvc",
                                        "cvc2",
                                        "cvn",
                                        "cid",
                                        "csc",
                                        "cvNumber",
                                        "securityCode",
                                        "cvv_code",
                                        "cvvCode",
                                        "cvc_code",
                                        "cvcCode",
                                        "security_code",
                                        "card_code",
                                        "cardCode",
                                        "card_security_code",
                                        "cardSecurityCode",
                                        "card_verification_value",
                                        "cardVerificationValue",
                                        "cv2",
                                        "verification",
                                        "verificationValue",
                                        "verification_value"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char in[96], want[96];
        snprintf(in, sizeof in, "{\"%s\":\"123\"}", names[i]);
        snprintf(want, sizeof want, "{\"%s\":\"\"}", names[i]);
        scrub_is(in, PL_MASK_LAST4, want);
        for (char *c = in; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        for (char *c = want; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        scrub_is(in, PL_MASK_LAST4, want);
    }
    /* Words that only begin like one are not. */
    scrub_is("{\"cidr\":\"10\",\"cvvx\":\"1\"}", PL_MASK_LAST4, "{\"cidr\":\"10\",\"cvvx\":\"1\"}");
    scrub_is("{\"value\":\"123\",\"verified\":\"1\",\"cv20\":\"2\"}", PL_MASK_LAST4,
             "{\"value\":\"123\",\"verified\":\"1\",\"cv20\":\"2\"}");
    /* "CV2", as some gateways name the code, in a key=value text. */
    scrub_is("CV2: 123 ok", PL_MASK_LAST4, "CV2:  ok");
    scrub_is("cvv=123&a=b", PL_MASK_LAST4, "cvv=&a=b");
    scrub_is("{'cvv': '555'}", PL_MASK_LAST4, "{'cvv': ''}");
    scrub_is("\"securityCode\":\"321\"", PL_MASK_LAST4, "\"securityCode\":\"\"");
    /* Any case, every name (the scrubber looks at a word's first letter first). */
    scrub_is("CVV=123&CVC=456&Cvc2=789&CVV2=012&CVN=345", PL_MASK_LAST4,
             "CVV=&CVC=&Cvc2=&CVV2=&CVN=");
    scrub_is("\"SECURITYCODE\":\"321\",\"CvNumber\":\"654\"", PL_MASK_LAST4,
             "\"SECURITYCODE\":\"\",\"CvNumber\":\"\"");
    /* A truncated text loses everything after the field name. */
    scrub_is("{\"cvv\":\"12", PL_MASK_LAST4, "{\"cvv\":\"");
    /* Not card security codes. */
    scrub_is("\"cvvResult\":\"M\"", PL_MASK_LAST4, "\"cvvResult\":\"M\"");
    scrub_is("invalid cvv: too short", PL_MASK_LAST4, "invalid cvv: too short");
    scrub_is("the cvv was 123", PL_MASK_LAST4, "the cvv was 123");
    /* Card and CVV together, as a request body would carry them. */
    scrub_is("{\"number\":\"4111111111111111\",\"cvv\":\"123\"}", PL_MASK_LAST4,
             "{\"number\":\"************1111\",\"cvv\":\"\"}");
    scrub_is("{\"number\":\"4111111111111111\",\"cvv\":\"123\"}", PL_MASK_REMOVED,
             "{\"number\":\"***REMOVED***\",\"cvv\":\"\"}");
}

/* A heap text of count copies of unit, then tail; *len gets its length. */
static char *repeated(const char *unit, size_t count, const char *tail, size_t *len)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *t = malloc(ul * count + tl + 1);
    assert_non_null(t);
    for (size_t k = 0; k < count; k++)
        memcpy(t + k * ul, unit, ul);
    memcpy(t + ul * count, tail, tl + 1);
    *len = ul * count + tl;
    return t;
}

/*
 * Scrubs about `big` bytes of unit repeated, then tail, and checks it comes out as as many of
 * want_unit, then want_tail, with nothing left past the terminator. No clock is read: finishing
 * is the check, in a scrub that takes each byte a bounded number of times and so a few tenths
 * of a second under valgrind, where a scrub that went through the rest of the text again from
 * each name or number would take minutes.
 */
static void scrubs_repeated(size_t big, const char *unit, const char *tail, pl_mask_mode mode,
                            const char *want_unit, const char *want_tail)
{
    size_t count = big / strlen(unit), len, want_len;
    char *in = repeated(unit, count, tail, &len);
    char *want = repeated(want_unit, count, want_tail, &want_len);
    assert_int_equal(pl_card_scrub(in, len + 1, mode), want_len);
    assert_memory_equal(in, want, want_len + 1);
    for (size_t k = want_len + 1; k <= len; k++)
        assert_int_equal(in[k], 0);
    free(want);
    free(in);
}

/* Text of near misses in brand groups, a megabyte of it: each group start is looked at a
 * bounded way, so the scan stays linear. */
static void test_brand_groups_linear(void **state)
{
    (void)state;
    scrubs_repeated(1 << 20, "4111:", "", PL_MASK_LAST4, "4111:", "");
    scrubs_repeated(1 << 20, "(4111) ", "", PL_MASK_REMOVED, "(4111) ", "");
    scrubs_repeated(1 << 20, "4111 -- ", "x", PL_MASK_LAST4, "4111 -- ", "x");
    /* ... and one number after them all, found. */
    scrubs_repeated(1 << 20, "4111:", "x 4111:1111:1111:1111", PL_MASK_LAST4,
                    "4111:", "x ****:****:****:1111");
}

static void test_scrub_cvv_unclosed(void **state)
{
    (void)state;
    /* XML names whose element never closes: no '>' after any, or only one at the very end
     * that ends an empty element or opens an empty value. Nothing to blank. (A quarter of a
     * megabyte took 3 s when each name looked for its '>' through the rest of the text.) */
    size_t big = 1 << 18;
    scrubs_repeated(big, "<cvv", "", PL_MASK_LAST4, "<cvv", "");
    scrubs_repeated(big, "<cvv/", "", PL_MASK_LAST4, "<cvv/", "");
    scrubs_repeated(big, "<CID", "/>", PL_MASK_REMOVED, "<CID", "/>");
    scrubs_repeated(big, "<c:csc", "></c:csc>", PL_MASK_LAST4, "<c:csc", "></c:csc>");
    /* ... and one value at the very end: the last name's, blanked once. */
    scrubs_repeated(big, "<cvv", ">123</cvv>", PL_MASK_LAST4, "<cvv", "></cvv>");
    scrub_is("<cvv<cvv<cvv>123</cvv>", PL_MASK_LAST4, "<cvv<cvv<cvv></cvv>");
}

static void test_scrub_many_groups(void **state)
{
    (void)state;
    /* Many card numbers, each in a group of its own, each replaced by a shorter word. (A
     * megabyte took 3 minutes under valgrind when each word moved the rest of the text.) */
    scrubs_repeated(1 << 20, "4111111111111111x", "", PL_MASK_REMOVED, "***REMOVED***x", "");
}

static void test_scrub_bounds(void **state)
{
    (void)state;
    assert_int_equal(pl_card_scrub(NULL, 10, PL_MASK_LAST4), 0);
    char one[] = "x";
    assert_int_equal(pl_card_scrub(one, 0, PL_MASK_LAST4), 0);
    assert_string_equal(one, "x");

    /* No terminator within textsize: cut to textsize - 1 rather than read beyond. */
    char raw[6] = {'a', 'b', 'c', 'd', 'e', 'f'};
    assert_int_equal(pl_card_scrub(raw, sizeof(raw), PL_MASK_LAST4), 5);
    assert_string_equal(raw, "abcde");
    /* ... and the digits the cut leaves at the end go, as pl_card_scrub_copy cuts: the 15 left
     * of a card number are below what the scan looks for, and would stay in clear. */
    char rawpan[20];
    memcpy(rawpan, "pan 4111111111111111", sizeof rawpan);
    assert_int_equal(pl_card_scrub(rawpan, sizeof(rawpan), PL_MASK_LAST4), 3);
    assert_string_equal(rawpan, "pan");

    /* Text shorter than its buffer: bytes past the terminator are not touched. */
    char buf[40];
    memset(buf, 'Z', sizeof(buf));
    memcpy(buf, "4111111111111111", 17);
    assert_int_equal(pl_card_scrub(buf, sizeof(buf), PL_MASK_REMOVED), 13);
    assert_string_equal(buf, "***REMOVED***");
    assert_int_equal(buf[39], 'Z');

    /* When the text shrinks, nothing of the old text is left behind past the terminator. */
    memset(buf, 'Z', sizeof(buf));
    memcpy(buf, "card 4111111111111111", 22);
    assert_int_equal(pl_card_scrub(buf, sizeof(buf), PL_MASK_REMOVED), 18);
    assert_string_equal(buf, "card ***REMOVED***");
    for (size_t k = 18; k < 22; k++)
        assert_int_equal(buf[k], 0);
    assert_int_equal(buf[22], 'Z');

    memset(buf, 'Z', sizeof(buf));
    memcpy(buf, "{\"cvv\":\"1234", 13);
    assert_int_equal(pl_card_scrub(buf, sizeof(buf), PL_MASK_LAST4), 8);
    for (size_t k = 8; k < 13; k++)
        assert_int_equal(buf[k], 0);
    assert_int_equal(buf[13], 'Z');
}

/*
 * A card number with its expiry date glued to it, 20-21 digits: refused in a request
 * (pl_card_contains_with_expiry), while pl_card_find (and so the log scrub) still takes every
 * run of more than 19 digits for an identifier.
 */
static void test_contains_with_expiry(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool found;
    } cases[] = {
        {"41111111111111111225", true},         /* Visa and MMYY */
        {"55555555555544441229", true},         /* Mastercard and MMYY */
        {"41111111111111112512", true},         /* YYMM */
        {"order 41111111111111110130 x", true}, /* in text, MMYY 01/30 */
        {"ord41111111111111111225", true},      /* glued to letters */
        {"601100000000000011225", true},        /* 21 digits: Discover's 17 and MMYY */
        {"4111111111111111", true},             /* a card number as pl_card_find reads it */
        /* Not: no month at either end, a number that fails Luhn, no brand of that length. */
        {"41111111111111111399", false},
        {"41111111111111110000", false},
        {"41111111111111121225", false},
        {"12345678901234567890", false},
        {"411111111111111111225", false}, /* Visa of 17 digits: none issued */
        {"37828224631000512250", false},  /* American Express 15 + 5 */
        /* 22 digits and more: an identifier (a CyberSource request ID). */
        {"7419661750346782304017", false},
        {"4111111111111111122500", false},
        {"1234567890123456789", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        if (pl_card_contains_with_expiry(t, strlen(t)) != cases[i].found)
            fprintf(stderr, "\"%s\": expected %d\n", t, cases[i].found);
        assert_int_equal(pl_card_contains_with_expiry(t, strlen(t)), cases[i].found);
    }
    /* Full-width digits of one kind are a run too. */
    const char *fw =
        FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 FW1 "\xef\xbc\x92\xef\xbc\x92\xef\xbc\x95";
    assert_true(pl_card_contains_with_expiry(fw, strlen(fw)));
    /* Only for requests: the log scrub leaves such a run (an identifier's length) alone. */
    assert_false(pl_card_contains("41111111111111111225", 20));
    scrub_is("id 41111111111111111225", PL_MASK_LAST4, "id 41111111111111111225");
    assert_false(pl_card_contains_with_expiry(NULL, 0));
}

/*
 * Card numbers the scan of the text as it came does not see: the decoder refuses them
 * (pl_card_contains_full), so the log line and the tools that quote such a text mask them
 * (pl_card_scrub_full). "E" is U+00E9, what XML drops between the groups; "ZWJ" a zero-width
 * joiner.
 */
#define E "\xc3\xa9"
#define ZWJ "\xe2\x80\x8d"

static void test_contains_full(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool found;
    } cases[] = {
        {"4111111111111111", true},                /* as pl_card_find reads it */
        {"41111111111111111225", true},            /* its expiry glued */
        {"4111" E "1111" E "1111" E "1111", true}, /* the bureau gets 4111111111111111 */
        {"name 5555" E "5555" E "5555" E "4444", true},
        {"4111\x01"
         "1111\x01"
         "1111\x01"
         "1111",
         true},                                             /* control characters */
        {"41111111" ZWJ ZWJ ZWJ ZWJ "11111111", true},      /* four in a row: gone all the same */
        {"4111" E "1111" E "1111" E "1111" E "1225", true}, /* and its expiry */
        /* The reader's view: full-width digits that the bureau would drop. */
        {FW4 FW1 FW1 FW1 E FW1111 E FW1111 E FW1111, true},
        {"4111" FW1 FW1 FW1 FW1 E "11111111", true},
        {"Jos" E " 12", false},
        {"caf" E " 4111 1111", false},
        {"7419661750346782304017", false}, /* a CyberSource request ID */
        {"7419661750346782304017" E, false},
        {"4111" E "1111" E "1111" E "1112", false}, /* Luhn */
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        if (pl_card_contains_full(t, strlen(t)) != cases[i].found)
            fprintf(stderr, "case %zu \"%s\": expected %d\n", i, t, cases[i].found);
        assert_int_equal(pl_card_contains_full(t, strlen(t)), cases[i].found);
    }
    assert_false(pl_card_contains_full(NULL, 0));
    /* A long text (its views made on the heap). */
    char big[2048];
    memset(big, 'x', sizeof big);
    memcpy(big + 1500, "4111" E "1111" E "1111" E "1111", 22);
    assert_true(pl_card_contains_full(big, sizeof big));
    memcpy(big + 1500, "4111" E "1111" E "1111" E "1112", 22);
    assert_false(pl_card_contains_full(big, sizeof big));
}

/* pl_card_scrub_full, as the logger scrubs: want. */
static void hidden_is(const char *in, pl_mask_mode mode, const char *want)
{
    char buf[1024];
    assert_true(strlen(in) < sizeof(buf));
    snprintf(buf, sizeof(buf), "%s", in);
    size_t n = pl_card_scrub_full(buf, sizeof(buf), mode);
    assert_int_equal(n, strlen(buf));
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "\"%s\" -> \"%s\"\n", in, buf);
    assert_string_equal(buf, want);
}

static void test_scrub_full(void **state)
{
    (void)state;
    hidden_is("card 4111" E "1111" E "1111" E "1111 refused", PL_MASK_LAST4,
              "card ****" E "****" E "****" E "1111 refused");
    hidden_is("card 4111" E "1111" E "1111" E "1111 refused", PL_MASK_REMOVED,
              "card ****" E "****" E "****" E "**** refused");
    hidden_is("n 4111\x01"
              "1111\x02"
              "1111\x1f"
              "1111.",
              PL_MASK_LAST4,
              "n ****\x01****\x02****\x1f"
              "1111.");
    hidden_is("41111111" ZWJ ZWJ ZWJ ZWJ "11111111", PL_MASK_LAST4,
              "********" ZWJ ZWJ ZWJ ZWJ "****1111");
    /* Its expiry glued: the number's last four stay, the date goes. */
    hidden_is("order 41111111111111111225 refused", PL_MASK_LAST4,
              "order ************1111**** refused");
    hidden_is("order 41111111111111111225 refused", PL_MASK_REMOVED,
              "order ******************** refused");
    hidden_is("601100000000000011225", PL_MASK_LAST4, "*************0001****");
    hidden_is("4111" E "1111" E "1111" E "1111" E "1225", PL_MASK_LAST4,
              "****" E "****" E "****" E "1111" E "****");
    hidden_is(FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 FW1 "\xef\xbc\x92\xef\xbc\x92\xef\xbc\x95",
              PL_MASK_LAST4, FWSTARS FWSTARS FWSTARS FW1111 FWSTARS);
    /* The reader's view: full-width digits split by characters nobody sees, or by é. */
    hidden_is(FW4 FW1 FW1 FW1 E FW1111 E FW1111 E FW1111, PL_MASK_LAST4,
              FWSTARS E FWSTARS E FWSTARS E FW1111);
    hidden_is("4111" FW1 FW1 FW1 FW1 E "11111111", PL_MASK_LAST4, "****" FWSTARS E "****1111");
    /* A hidden number that shares digits with one the scrub reads (50000001 4111 1111 passes
     * Luhn in the bureau's view): both readings are made on the text as it came, so the
     * scrub's stars do not leave the hidden one's first eight digits in clear. */
    hidden_is("5000" E "0001 4111 1111 1111 1111 ok", PL_MASK_LAST4,
              "****" E "**** **** **** **** 1111 ok");
    hidden_is("5000" E "0001 4111 1111 1111 1111 ok", PL_MASK_REMOVED,
              "****" E "**** ***REMOVED*** ok");
    /* Track data after a hidden number goes whole. */
    hidden_is("t 4111" E "1111" E "1111" E "1111=25121010000012300000?", PL_MASK_LAST4,
              "t ****" E "****" E "****" E "1111=********************?");
    /* Left alone: a CyberSource request ID (22 digits), a run of 20 digits that is no card
     * number and its date, text with a few digits, and an identifier split by é that fails
     * Luhn. */
    static const char *const same[] = {
        "requestID 7419661750346782304017 ok",
        "id 7419661750346782304017" E "x",
        "12345678901234567890",
        "41111111111111111399",
        "Jos" E " M" E "ller 12 rue 4, 75001",
        "ref 4111" E "1111" E "1111" E "1112",
        "",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        for (int mode = 0; mode <= 1; mode++)
            hidden_is(same[i], (pl_mask_mode)mode, same[i]);
    /* A long text: the views on the heap. */
    char big[3000], want[3000];
    memset(big, 'y', sizeof big);
    big[sizeof big - 1] = '\0';
    memcpy(big + 2000, "4111" E "1111" E "1111" E "1111", 22);
    memcpy(want, big, sizeof big);
    memcpy(want + 2000, "****" E "****" E "****" E "1111", 22);
    assert_int_equal(pl_card_scrub_full(big, sizeof big, PL_MASK_LAST4), sizeof big - 1);
    assert_string_equal(big, want);
    assert_int_equal(pl_card_scrub_full(NULL, 4, PL_MASK_LAST4), 0);
}

/*
 * Track data (ISO/IEC 7813) after a card number: its digits become stars in either mode,
 * full-width ones too ('=' U+FF1D, '^' U+FF3E).
 */
#define FWEQ "\xef\xbc\x9d"
#define FWHAT "\xef\xbc\xbe"
#define FW2 "\xef\xbc\x92"
#define FW5 "\xef\xbc\x95"

static void test_scrub_track_data(void **state)
{
    (void)state;
    scrub_is(";4111111111111111=25121010000012300000?", PL_MASK_LAST4,
             ";************1111=********************?");
    scrub_is(";4111111111111111=25121010000012300000?", PL_MASK_REMOVED,
             ";***REMOVED***=********************?");
    scrub_is("%B4111111111111111^JONES/MARY^2512101000000123000000?", PL_MASK_LAST4,
             "%B************1111^JONES/MARY^**********************?");
    scrub_is("%B4111111111111111^^2512101?", PL_MASK_LAST4, "%B************1111^^*******?");
    /* Its security code glued to it, then the track. */
    scrub_is("4111111111111111123=2512101", PL_MASK_LAST4, "************1111***=*******");
    /* Full-width. */
    scrub_is(FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 FWEQ FW2 FW5 FW1 FW2 " ok", PL_MASK_LAST4,
             FWSTARS FWSTARS FWSTARS FW1111 FWEQ FWSTARS " ok");
    scrub_is("4111111111111111" FWEQ "2512101", PL_MASK_LAST4, "************1111" FWEQ "*******");
    scrub_is(FW4 FW1 FW1 FW1 FW1111 FW1111 FW1111 FWHAT "JONES/MARY" FWHAT FW2 FW5, PL_MASK_LAST4,
             FWSTARS FWSTARS FWSTARS FW1111 FWHAT "JONES/MARY" FWHAT FWSTAR FWSTAR);
    scrub_is("B4111111111111111^JONES/MARY" FWHAT "2512", PL_MASK_REMOVED,
             "B***REMOVED***^JONES/MARY" FWHAT "****");
    /* Another number read across the track data's digits (found by fuzz_scrub): those digits
     * become stars only once every reading is found, or the other number's rest stays clear. */
    scrub_is("147946 0958411=2\f111111", PL_MASK_LAST4, "****** *******=*\f**1111");
    scrub_is("41000\r77070070=1\r7000", PL_MASK_LAST4, "*****\r********=*\r7000");
    scrub_is("147946 0958411=2\f111111", PL_MASK_REMOVED, "***REMOVED***");
    /* ... and past the group: the track data lies in the next group, read across too. */
    scrub_is("4111111111111111^^41111111 11111111 x", PL_MASK_LAST4,
             "************1111^^******** ****1111 x");
    scrub_is("B4111111111111111^MARY^41111111 11111111 x", PL_MASK_LAST4,
             "B************1111^MARY^******** ****1111 x");
    scrub_is("B4111111111111111^MARY^41111111 11111111 x", PL_MASK_REMOVED,
             "B***REMOVED***^MARY^***REMOVED*** x");
    scrub_is("B4111111111111111^MARY^2512 x 4111111111111111", PL_MASK_REMOVED,
             "B***REMOVED***^MARY^**** x ***REMOVED***");
    /* ... or in no group, just before one whose reading its digits decide ("011d0:" is no IPv6
     * group, "***d0:" would be one): they become stars after that group is scanned. */
    scrub_is("B4111111111111111^MARY^011d0:4111:1111:1111:1111 x", PL_MASK_LAST4,
             "B************1111^MARY^***d0:****:****:****:1111 x");
    scrub_is("B4111111111111111^MARY^011d0:4111:1111:1111:1111 x", PL_MASK_REMOVED,
             "B***REMOVED***^MARY^***d0:***REMOVED*** x");
    /* Not track data: '=' joining groups, nothing after it, a name too long or holding a digit
     * for track 1, a number that is none. */
    scrub_is("4111=1111=1111=1111 x", PL_MASK_LAST4, "****=****=****=1111 x");
    scrub_is("4111111111111111=x 12", PL_MASK_LAST4, "************1111=x 12");
    scrub_is("4111111111111111^ABCDEFGHIJKLMNOPQRSTUVWXYZA^2512", PL_MASK_LAST4,
             "************1111^ABCDEFGHIJKLMNOPQRSTUVWXYZA^2512");
    scrub_is("4111111111111111^AB 12^2512", PL_MASK_LAST4, "************1111^AB 12^2512");
    scrub_is("4111111111111112=2512101", PL_MASK_LAST4, "4111111111111112=2512101");
    scrub_is("a=1 b^2 ^x^ 3", PL_MASK_LAST4, "a=1 b^2 ^x^ 3");
}

/*
 * A star must not change how a number is read: in PL_MASK_REMOVED, the full scan's own marks
 * (an expiry glued, a number split by é) were masked before the Luhn scan read the text, and a
 * star before "d0:4111:1111:1111:1111" made it an IPv6 address's end, left whole in clear. And
 * the track data of one group's number is not joined to the next group's own: the digits
 * between are no track data.
 */
static void test_scrub_marks_after_reading(void **state)
{
    (void)state;
    hidden_is("x 41111111111111111225d0:4111:1111:1111:1111 y", PL_MASK_REMOVED,
              "x ********************d0:***REMOVED*** y");
    hidden_is("card 3782822463" E "10005d:4111:1111:1111:1111 x", PL_MASK_REMOVED,
              "card **********" E "*****d:***REMOVED*** x");
    hidden_is("B4111111111111111^MARY^011d0:4111:1111:1111:1111 x " E, PL_MASK_REMOVED,
              "B***REMOVED***^MARY^***d0:***REMOVED*** x " E);
    /* The marks move with the text a word replaced. */
    hidden_is("4111111111111111 and 4111" E "1111" E "1111" E "1111 and 4111111111111111 z",
              PL_MASK_REMOVED,
              "***REMOVED*** and ****" E "****" E "****" E "**** and ***REMOVED*** z");
    scrub_is("B4111111111111111^MARY^2512101 5555555555554444^JOE^1234 x", PL_MASK_LAST4,
             "B************1111^MARY^******* ************4444^JOE^**** x");
}

/*
 * Digits before a number split by characters off the keyboard join it once they are gone: the
 * bureau's view of "6011111111111117é4111é1111é1111é1111" is one run of 32 digits (some
 * other number, not searched) and of "order 12é4111é1111é1111é1111" one of 18 that fails
 * Luhn, so 4111111111111111 stayed in clear and a request carrying it was taken. Read with
 * each such character as a space, the number shows ("12 4111 1111 1111 1111"): found,
 * masked, refused.
 */
#define SPLIT4 "4111" E "1111" E "1111" E "1111"
static void test_spaced_view(void **state)
{
    (void)state;
    static const struct {
        const char *in, *last4, *removed;
    } cases[] = {
        {"6011111111111117" E SPLIT4, "************1117" E "****" E "****" E "****" E "1111",
         "***REMOVED***" E "****" E "****" E "****" E "****"},
        {"order 12" E SPLIT4, "order 12" E "****" E "****" E "****" E "1111",
         "order 12" E "****" E "****" E "****" E "****"},
        /* Control characters. */
        {"6011111111111117\x01"
         "4111\x01"
         "1111\x01"
         "1111\x01"
         "1111",
         "************1117\x01****\x01****\x01****\x01"
         "1111",
         "***REMOVED***\x01****\x01****\x01****\x01****"},
        {"1\x01"
         "3782\x02"
         "822463\x1f"
         "10005 x",
         "1\x01****\x02******\x1f*0005 x", "1\x01****\x02******\x1f***** x"},
        /* Several in a row: one space for the run, so as many as that in its brand's groups. */
        {"ref 12" E E E "4111" E E E "1111" E E E "1111" E E E "1111",
         "ref 12" E E E "****" E E E "****" E E E "****" E E E "1111",
         "ref 12" E E E "****" E E E "****" E E E "****" E E E "****"},
        {"ref 12" E E E E "4111" E E E E "1111" E E E E "1111" E E E E "1111",
         "ref 12" E E E E "****" E E E E "****" E E E E "****" E E E E "1111",
         "ref 12" E E E E "****" E E E E "****" E E E E "****" E E E E "****"},
        /* After letters and digits. */
        {"ab12" E SPLIT4 " ok", "ab12" E "****" E "****" E "****" E "1111 ok",
         "ab12" E "****" E "****" E "****" E "**** ok"},
        /* Spaces and é mixed, the brand's groups joined by the same run each time. */
        {"x 9" E "5555 " E "-" E " 5555 " E "-" E " 5555 " E "-" E " 4444",
         "x 9" E "**** " E "-" E " **** " E "-" E " **** " E "-" E " 4444",
         "x 9" E "**** " E "-" E " **** " E "-" E " **** " E "-" E " ****"},
        {"x 7" E "4111" E "+1111" E "+1111" E "+1111", "x 7" E "****" E "+****" E "+****" E "+1111",
         "x 7" E "****" E "+****" E "+****" E "+****"},
        /* Full-width digits so glued: the reader's view, spaced. */
        {"6011111111111117" E FW4 FW1 FW1 FW1 E FW1111 E FW1111 E FW1111,
         "************1117" E FWSTARS E FWSTARS E FWSTARS E FW1111,
         "***REMOVED***" E FWSTARS E FWSTARS E FWSTARS E FWSTARS},
        /* Its track data goes with it. */
        {"t 12" E SPLIT4 "=2512101", "t 12" E "****" E "****" E "****" E "1111=*******",
         "t 12" E "****" E "****" E "****" E "****=*******"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *in = cases[i].in;
        if (!pl_card_contains_full(in, strlen(in)))
            fprintf(stderr, "case %zu \"%s\": not found\n", i, in);
        assert_true(pl_card_contains_full(in, strlen(in)));
        hidden_is(in, PL_MASK_LAST4, cases[i].last4);
        hidden_is(in, PL_MASK_REMOVED, cases[i].removed);
    }
    /* Not card numbers, read so or not: words with é and a few digits, runs of 12 digits, an
     * identifier split by é that fails Luhn however it is read, a CyberSource request ID. */
    static const char *const same[] = {
        "Caf" E " 12 rue de l'" E "glise, 75001 Paris, t" E "l 01 23 45 67 89",
        "r" E "f 1234" E "5678" E "9012",
        "n\xc2\xb0 123456789012 " E " 4",
        "12" E "4111" E "1111" E "1111" E "1112",
        "id 7419661750346782304017" E,
        "\x01 123456789012\x01 987654321098 \x01",
        /* Read with a space for each run of CJK characters, "20261207 123456789 4567", and
         * 123456789 4567 passes Luhn: 13 digits, but no brand's number (spaced_match_ok). */
        "\xe8\xa8\x82\xe5\x96\xae"
        "20261207\xe7\x95\xaa\xe5\x8f\xb7"
        "123456789"
        "\xe5\x95\x86\xe5\x93\x81"
        "4567",
        /* Luhn's 16 digits with no brand's prefix, so split. */
        "12" E "1234" E "5678" E "9012" E "3452",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        if (pl_card_contains_full(same[i], strlen(same[i])))
            fprintf(stderr, "case \"%s\": found\n", same[i]);
        assert_false(pl_card_contains_full(same[i], strlen(same[i])));
        for (int mode = 0; mode <= 1; mode++)
            hidden_is(same[i], (pl_mask_mode)mode, same[i]);
    }
    /* A long text (the views on the heap), and the copies. */
    char big[3000], want[3000];
    memset(big, 'y', sizeof big);
    big[sizeof big - 1] = '\0';
    memcpy(big + 2000, "12" E SPLIT4, 26);
    memcpy(want, big, sizeof big);
    memcpy(want + 2000, "12" E "****" E "****" E "****" E "1111", 26);
    assert_true(pl_card_contains_full(big, strlen(big)));
    assert_int_equal(pl_card_scrub_full(big, sizeof big, PL_MASK_LAST4), sizeof big - 1);
    assert_string_equal(big, want);
    size_t n = 0;
    char *dup = pl_card_scrub_dup_full("12" E SPLIT4 "\0x", 28, PL_MASK_LAST4, &n);
    assert_non_null(dup);
    assert_string_equal(dup, "12" E "****" E "****" E "****" E "1111.x");
    free(dup);
    copy_full_is("id 12" E SPLIT4, 64, "id 12" E "****" E "****" E "****" E "1111");
    /* Cut within it: what is left of it goes, as for any number split so. */
    copy_full_is("id 12" E SPLIT4, 20, "id");
}
#undef SPLIT4

/*
 * A run of characters the views drop reads as one space, however long: "99é4111" and four
 * zero-width spaces (or joiners, or controls) and "1111-1111-1111" is "99 4111 1111-1111-1111"
 * there. Read as a space each, the four made a gap the loose reading does not join (over
 * three) and one unlike the others for the brand's groups, and the number passed in clear.
 */
#define ZW "\xe2\x80\x8b"
static void test_spaced_view_runs(void **state)
{
    (void)state;
    static const struct {
        const char *in, *last4, *removed;
    } cases[] = {
        {"99" E "4111" ZW ZW ZW ZW "1111-1111-1111", "99" E "****" ZW ZW ZW ZW "****-****-1111",
         "99" E "****" ZW ZW ZW ZW "****-****-****"},
        {"99" E "4111" ZWJ ZWJ ZWJ ZWJ "1111-1111-1111",
         "99" E "****" ZWJ ZWJ ZWJ ZWJ "****-****-1111",
         "99" E "****" ZWJ ZWJ ZWJ ZWJ "****-****-****"},
        {"99" E "4111\x01\x01\x01\x01"
         "1111-1111-1111",
         "99" E "****\x01\x01\x01\x01****-****-1111", "99" E "****\x01\x01\x01\x01****-****-****"},
        {"99" E "4111" E E E E "1111" E "1111" E "1111",
         "99" E "****" E E E E "****" E "****" E "1111",
         "99" E "****" E E E E "****" E "****" E "****"},
        /* American Express, 4-6-5. */
        {"9" E "3782\x01\x01\x01\x01"
         "822463-10005",
         "9" E "****\x01\x01\x01\x01******-*0005", "9" E "****\x01\x01\x01\x01******-*****"},
        /* A run beside a separator on the keyboard is nothing: "12 4111 - 1111 - 1111 - 1111",
         * not a gap " - " and a space, one longer than the scan joins and unlike the others. */
        {"order 12" E "4111 - " E "1111 - 1111 - 1111",
         "order 12" E "**** - " E "**** - **** - 1111",
         "order 12" E "**** - " E "**** - **** - ****"},
        {"order 12" E "5555 - " E "5555 - 5555 - 4444",
         "order **" E "**** - " E "**** - **** - 4444",
         "order **" E "**** - " E "**** - **** - ****"},
        {"ref 7" E "4111" E "/1111/" E "1111" E "/" E "1111",
         "ref 7" E "****" E "/****/" E "****" E "/" E "1111",
         "ref 7" E "****" E "/****/" E "****" E "/" E "****"},
        {"ref 7" E "4111\t" E "1111\t" E "1111\t" E "1111",
         "ref 7" E "****\t" E "****\t" E "****\t" E "1111",
         "ref 7" E "****\t" E "****\t" E "****\t" E "****"},
        /* Runs that are nothing, beside line ends: still a view to read (spaced_joins), since
         * the text as it came is not "41000\r38535035=1\r..." (Diners Club, 14 digits). */
        {"41000\r" E E "38535035=1\r" E "38535035=1\r7000",
         "41000\r" E E "********=*\r" E "**5350**=*\r7000",
         "41000\r" E E "********=*\r" E "********=*\r7000"},
        /* A word in another script, a control and a mark together: one run, one space. */
        {"12" E "4111\xd0\x9d\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80\x01" ZW "1111" E "1111" E "1111",
         "12" E "****\xd0\x9d\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80\x01" ZW "****" E "****" E "1111",
         "12" E "****\xd0\x9d\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80\x01" ZW "****" E "****" E "****"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *in = cases[i].in;
        if (!pl_card_contains_full(in, strlen(in)))
            fprintf(stderr, "case %zu: not found\n", i);
        assert_true(pl_card_contains_full(in, strlen(in)));
        hidden_is(in, PL_MASK_LAST4, cases[i].last4);
        hidden_is(in, PL_MASK_REMOVED, cases[i].removed);
    }
}
#undef ZW

/*
 * Invalid UTF-8 at length: stray continuation bytes (0x80) and lone lead bytes (0xE0) are
 * characters the views drop, and a run of them is one space, walked once. Deciding whether to
 * read the spaced views walked back over all the 0x80 bytes before each one, to the text's
 * start: quadratic, minutes for the megabyte here (a dead-lettered message is scrubbed as raw
 * bytes), where the scan is linear and takes milliseconds. No clock is read: a return at all
 * is the test, with the right answer (the unit tests' ctest TIMEOUT, CMakeLists.txt, fails the
 * old walk rather than letting it block the run).
 */
#define BIG_RUN (1024 * 1024)
static void big_is(const char *head, unsigned char fill, const char *tail, bool found,
                   const char *head_last4, const char *tail_last4)
{
    size_t h = strlen(head), t = strlen(tail), len = h + BIG_RUN + t;
    char *in = malloc(len + 1), *want = malloc(len + 1);
    assert_non_null(in);
    assert_non_null(want);
    memcpy(in, head, h);
    memset(in + h, fill, BIG_RUN);
    memcpy(in + h + BIG_RUN, tail, t);
    in[len] = '\0';
    memcpy(want, in, len + 1);
    memcpy(want, head_last4, h);
    memcpy(want + h + BIG_RUN, tail_last4, t);
    assert_int_equal(pl_card_contains_full(in, len), found);
    assert_int_equal(pl_card_scrub_full(in, len + 1, PL_MASK_LAST4), len);
    assert_memory_equal(in, want, len + 1);
    free(in);
    free(want);
}

static void test_spaced_view_invalid_utf8(void **state)
{
    (void)state;
    /* One digit, then a megabyte of stray bytes: nothing to find. */
    big_is("1", 0x80, "", false, "1", "");
    big_is("1", 0xe0, "", false, "1", "");
    big_is("1", 0x80, "1", false, "1", "1");
    big_is("1", 0xe0, "1", false, "1", "1");
    /* The run between a number's groups, digits glued before it: "99 4111 1111 1111 1111". */
    big_is("99\x80"
           "4111",
           0x80,
           "1111\x80"
           "1111\x80"
           "1111",
           true, "99\x80****",
           "****\x80****\x80"
           "1111");
    big_is("99\xe0"
           "4111",
           0xe0,
           "1111\xe0"
           "1111\xe0"
           "1111",
           true, "99\xe0****",
           "****\xe0****\xe0"
           "1111");
    /* Runs of stray bytes between single digits all along, and lead bytes alternating. */
    size_t len = BIG_RUN;
    char *in = malloc(len + 1);
    assert_non_null(in);
    for (size_t i = 0; i < len; i++)
        in[i] = i % 4096 == 0 ? '5' : (char)(i % 2 ? 0x80 : 0xe0);
    in[len] = '\0';
    assert_false(pl_card_contains_full(in, len));
    assert_int_equal(pl_card_scrub_full(in, len + 1, PL_MASK_REMOVED), len);
    for (size_t i = 0; i < len; i++)
        assert_true(in[i] == (i % 4096 == 0 ? '5' : (char)(i % 2 ? 0x80 : 0xe0)));
    free(in);
}
#undef BIG_RUN

/*
 * A number in its brand's groups joined by what the loose reading does not join ("  --  ",
 * ':', " + "), with characters off the keyboard both before a group and inside one: "12é4111  --
 * 1111  --  11é11  --  1111" is "124111 ..." in the bureau's view (a first group of six) and
 * "... 11 11 ..." in the spaced one (two groups of two), and passed in clear. Each run between
 * two digits may be read as nothing or as a space there, as the groups' sizes decide.
 */
#define ZW "\xe2\x80\x8b"
#define DASHES "  --  "
static void test_choice_view(void **state)
{
    (void)state;
    static const struct {
        const char *in, *last4, *removed;
    } cases[] = {
        {"12" E "4111" DASHES "1111" DASHES "11" E "11" DASHES "1111",
         "12" E "****" DASHES "****" DASHES "**" E "**" DASHES "1111",
         "12" E "****" DASHES "****" DASHES "**" E "**" DASHES "****"},
        {"x 12" E "4111:1111:11" E "11:1111 y", "x 12" E "****:****:**" E "**:1111 y",
         "x 12" E "****:****:**" E "**:**** y"},
        {"ref 12" ZW ZW "4111 + 1111 + 1" ZWJ "111 + 1111",
         "ref 12" ZW ZW "**** + **** + *" ZWJ "*** + 1111",
         "ref 12" ZW ZW "**** + **** + *" ZWJ "*** + ****"},
        /* Inside the last group, and digits glued after it by another run. */
        {"4111" DASHES "1111" DASHES "1111" DASHES "11" E "11" E "2",
         "****" DASHES "****" DASHES "****" DASHES "11" E "11" E "2",
         "****" DASHES "****" DASHES "****" DASHES "**" E "**" E "2"},
        /* The first group split, digits before it: 9 apart, 41 and 11 joined. */
        {"9" E "41" E "11" DASHES "1111" DASHES "1111" DASHES "1111",
         "9" E "**" E "**" DASHES "****" DASHES "****" DASHES "1111",
         "9" E "**" E "**" DASHES "****" DASHES "****" DASHES "****"},
        {"9" E "5555" DASHES "55" E "55" DASHES "5555" DASHES "4444",
         "9" E "****" DASHES "**" E "**" DASHES "****" DASHES "4444",
         "9" E "****" DASHES "**" E "**" DASHES "****" DASHES "****"},
        /* American Express, 4-6-5. */
        {"12" E "3782" DASHES "82" E "2463" DASHES "10005",
         "12" E "****" DASHES "**" E "****" DASHES "*0005",
         "12" E "****" DASHES "**" E "****" DASHES "*****"},
        /* Full-width digits: the reader's view. */
        {"12" E FW4 FW1 FW1 FW1 DASHES FW1111 DASHES FW1 FW1 E FW1 FW1 DASHES FW1111,
         "12" E FWSTARS DASHES FWSTARS DASHES FWSTAR FWSTAR E FWSTAR FWSTAR DASHES FW1111,
         "12" E FWSTARS DASHES FWSTARS DASHES FWSTAR FWSTAR E FWSTAR FWSTAR DASHES FWSTARS},
        /* The first group in parentheses; a run between two groups is a space there, as in
         * the spaced view. */
        {"(41" E "11)1111" DASHES "11" E "11" DASHES "1111" E "2",
         "(**" E "**)****" DASHES "**" E "**" DASHES "1111" E "2",
         "(**" E "**)****" DASHES "**" E "**" DASHES "****" E "2"},
        {"(3782)82246" E "3" ZW "1000" E "5", "(****)*****" E "*" ZW "*000" E "5",
         "(****)*****" E "*" ZW "****" E "*"},
        /* Its track data goes with it. */
        {"t 12" E "4111" DASHES "1111" DASHES "11" E "11" DASHES "1111=2512101",
         "t 12" E "****" DASHES "****" DASHES "**" E "**" DASHES "1111=*******",
         "t 12" E "****" DASHES "****" DASHES "**" E "**" DASHES "****=*******"},
        /* Joined by ':', after a word of hex digits that a run parts from digits before it:
         * "12345 123:" reads as an IPv6 address going on, "12345123:" does not. */
        {"12345" E "123:4111:1111:1111:1111" E "5", "12345" E "123:****:****:****:1111" E "5",
         "12345" E "123:****:****:****:****" E "5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *in = cases[i].in;
        if (!pl_card_contains_full(in, strlen(in)))
            fprintf(stderr, "case %zu \"%s\": not found\n", i, in);
        assert_true(pl_card_contains_full(in, strlen(in)));
        hidden_is(in, PL_MASK_LAST4, cases[i].last4);
        hidden_is(in, PL_MASK_REMOVED, cases[i].removed);
    }
    /* Not card numbers however each run is read: Luhn fails, no brand's prefix (a CJK text's
     * "12商品34" joined to 1234567890123452), dates and times and a phone number among CJK
     * characters, and a last group that no reading of its runs makes four digits with no digit
     * glued to it in the text ("1é1111", "11é111"). */
    static const char *const same[] = {
        "12" E "4111" DASHES "1111" DASHES "11" E "11" DASHES "1112",
        "\xe7\x95\xaa\xe5\x8f\xb7"
        "12\xe5\x95\x86\xe5\x93\x81"
        "34" DASHES "5678" DASHES "9012" DASHES "3452",
        "2026\xe5\xb9\xb4"
        "12\xe6\x9c\x88"
        "07\xe6\x97\xa5" DASHES "12\xe6\x99\x82"
        "34\xe5\x88\x86" DASHES "2027\xe5\xb9\xb4"
        "01\xe6\x9c\x88"
        "15\xe6\x97\xa5",
        "Tel +81" E "3" DASHES "1234" DASHES "5678" DASHES "12" E "34",
        "4111" DASHES "1111" DASHES "1111" DASHES "1" E "1111",
        "4111" DASHES "1111" DASHES "1111" DASHES "11" E "111",
        /* Groups parted by CJK characters alone: 2601 0412 0808 5202 passes Luhn with a
         * Mastercard prefix, read with each run as nothing or a space. */
        "09\xe6\x9c\x88"
        "05\xe6\x97\xa5"
        "13\xe6\x99\x82"
        "37\xe5\x88\x86\xef\xbc\x8c"
        "09\xe6\x9c\x88"
        "26\xe6\x97\xa5"
        "01\xe6\x99\x82"
        "04\xe5\x88\x86\xef\xbc\x8c"
        "12\xe6\x9c\x88"
        "08\xe6\x97\xa5"
        "08\xe6\x99\x82"
        "52\xe5\x88\x86\xef\xbc\x8c"
        "02\xe6\x9c\x88"
        "26\xe6\x97\xa5"
        "02\xe6\x99\x82"
        "42\xe5\x88\x86",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        if (pl_card_contains_full(same[i], strlen(same[i])))
            fprintf(stderr, "case \"%s\": found\n", same[i]);
        assert_false(pl_card_contains_full(same[i], strlen(same[i])));
        for (int mode = 0; mode <= 1; mode++)
            hidden_is(same[i], (pl_mask_mode)mode, same[i]);
    }
    copy_full_is("id 12" E "4111" DASHES "1111" DASHES "11" E "11" DASHES "1111", 64,
                 "id 12" E "****" DASHES "****" DASHES "**" E "**" DASHES "1111");
    /* A raw \x01 in the text is no choice view's run (grouped_one reads with colon_ok's soft
     * false): "12:" after it is an address group, as after any character off the keyboard. */
    const char *raw01 = "ab\x01"
                        "12:4539:1488:0343:6467";
    assert_false(pl_card_contains(raw01, strlen(raw01)));
    assert_false(pl_card_contains_full(raw01, strlen(raw01)));
}

/*
 * The choice views at length: a megabyte where every digit run starts a reading in brand
 * groups and none is a card number (4111 1112 4111 1112 fails Luhn; 1112 4111 ... is no
 * brand's), and one of single digits each between two runs off the keyboard. Each start is a
 * walk of at most 19 digits and four gaps: linear (no clock read; the ctest TIMEOUT fails a
 * scan gone quadratic, and the work was counted apart, with callgrind).
 */
#define BIG_TEXT (1024 * 1024)
static void big_pattern_is_kept(const char *unit)
{
    size_t u = strlen(unit), len = BIG_TEXT / u * u;
    char *in = malloc(len + 1);
    assert_non_null(in);
    for (size_t i = 0; i < len; i += u)
        memcpy(in + i, unit, u);
    in[len] = '\0';
    assert_false(pl_card_contains_full(in, len));
    assert_int_equal(pl_card_scrub_full(in, len + 1, PL_MASK_LAST4), len);
    for (size_t i = 0; i < len; i += u)
        assert_memory_equal(in + i, unit, u);
    free(in);
}

static void test_choice_view_big(void **state)
{
    (void)state;
    big_pattern_is_kept("4111" DASHES "11" E "12" DASHES);
    big_pattern_is_kept("1" E);
    big_pattern_is_kept("41" E "11:");
}
#undef BIG_TEXT
#undef DASHES
#undef ZW

/* The copies: pl_card_scrub_dup_full reads what pl_card_scrub_full does, NULs as '.'. */
static void test_scrub_dup_full(void **state)
{
    (void)state;
    static const char text[] = "x 4111\xc3\xa9"
                               "1111\xc3\xa9"
                               "1111\xc3\xa9"
                               "1111\0y";
    size_t n = 0;
    char *plain = pl_card_scrub_dup(text, sizeof text - 1, PL_MASK_LAST4, &n);
    char *full = pl_card_scrub_dup_full(text, sizeof text - 1, PL_MASK_LAST4, &n);
    assert_non_null(plain);
    assert_non_null(full);
    assert_non_null(strstr(plain, "4111")); /* the Luhn scan does not read it */
    assert_string_equal(full, "x ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                              "1111.y");
    assert_int_equal(n, strlen(full));
    free(plain);
    free(full);
}

static void test_keyboard_clean(void **state)
{
    (void)state;
    /* The one rule: printable ASCII. */
    assert_true(pl_card_is_keyboard_char(' '));
    assert_true(pl_card_is_keyboard_char('~'));
    assert_true(pl_card_is_keyboard_char('7'));
    assert_false(pl_card_is_keyboard_char('\t'));
    assert_false(pl_card_is_keyboard_char('\x1f'));
    assert_false(pl_card_is_keyboard_char('\x7f'));
    assert_false(pl_card_is_keyboard_char('\xc3'));
    assert_false(pl_card_is_keyboard_char('\0'));
    char s[] = "ab\tc\x01 d\x7f\xc3\xa9"
               "e~\n";
    assert_int_equal(pl_card_keyboard_clean(s), 7);
    assert_string_equal(s, "abc de~");
    char empty[] = "";
    assert_int_equal(pl_card_keyboard_clean(empty), 0);
    char plain[] = "John O'Neil, 1 Main St.";
    assert_int_equal(pl_card_keyboard_clean(plain), strlen("John O'Neil, 1 Main St."));
    assert_string_equal(plain, "John O'Neil, 1 Main St.");
    assert_int_equal(pl_card_keyboard_clean(NULL), 0);
}

static void test_wipe(void **state)
{
    (void)state;
    char buf[32];
    memcpy(buf, "4111111111111111", 17);
    memset(buf + 17, 'x', sizeof(buf) - 17);
    pl_card_wipe(buf, sizeof(buf));
    for (size_t k = 0; k < sizeof(buf); k++)
        assert_int_equal(buf[k], 0);
    pl_card_wipe(NULL, 10);
    pl_card_wipe(buf, 0);
}

static void test_all_digits(void **state)
{
    (void)state;
    assert_true(pl_card_all_digits("0"));
    assert_true(pl_card_all_digits("8574906000000001"));
    assert_false(pl_card_all_digits(""));
    assert_false(pl_card_all_digits(NULL));
    assert_false(pl_card_all_digits("12 34"));
    assert_false(pl_card_all_digits("12a"));
    assert_false(pl_card_all_digits("-1"));
    assert_false(pl_card_all_digits("\xef\xbc\x91")); /* a full-width digit is not ASCII */
}

/* pl_card_mask_copies: every copy but its last four digits; whole runs only when asked. */
static void test_mask_copies(void **state)
{
    (void)state;
    char t[96];
    snprintf(t, sizeof t, "n 4111111111111111, again x4111111111111111y, 94111111111111111");
    pl_card_mask_copies(t, "4111111111111111", false);
    assert_string_equal(t, "n ************1111, again x************1111y, 9************1111");
    snprintf(t, sizeof t, "card 8574906 ref 18574906 and 8574906");
    pl_card_mask_copies(t, "8574906", true);
    assert_string_equal(t, "card ***4906 ref 18574906 and ***4906");
    snprintf(t, sizeof t, "pin 123 and 1234");
    pl_card_mask_copies(t, "123", true);
    assert_string_equal(t, "pin *** and 1234");
    pl_card_mask_copies(t, "", true);
    pl_card_mask_copies(t, NULL, false);
    assert_string_equal(t, "pin *** and 1234");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_digits),
        cmocka_unit_test(test_luhn),
        cmocka_unit_test(test_mask_log),
        cmocka_unit_test(test_mask_log_buffer_size),
        cmocka_unit_test(test_mask_stored),
        cmocka_unit_test(test_type_guess),
        cmocka_unit_test(test_cybersource_type),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_hmac_many_keys),
        cmocka_unit_test(test_find_shapes),
        cmocka_unit_test(test_find_brand_groups),
        cmocka_unit_test(test_find_brand_groups_not),
        cmocka_unit_test(test_find_leaves_other_numbers),
        cmocka_unit_test(test_find_glued),
        cmocka_unit_test(test_find_any_bytes),
        cmocka_unit_test(test_is_number),
        cmocka_unit_test(test_cut_tail),
        cmocka_unit_test(test_cut_tail_full),
        cmocka_unit_test(test_scrub_pans),
        cmocka_unit_test(test_scrub_separators),
        cmocka_unit_test(test_full_width_digits),
        cmocka_unit_test(test_scrub_brand_groups),
        cmocka_unit_test(test_brand_groups_linear),
        cmocka_unit_test(test_scrub_leaves_other_numbers),
        cmocka_unit_test(test_scrub_long_group),
        cmocka_unit_test(test_scrub_cvv),
        cmocka_unit_test(test_scrub_cvv_unclosed),
        cmocka_unit_test(test_scrub_many_groups),
        cmocka_unit_test(test_scrub_bounds),
        cmocka_unit_test(test_find_invisible_separators),
        cmocka_unit_test(test_contains_with_expiry),
        cmocka_unit_test(test_contains_full),
        cmocka_unit_test(test_scrub_full),
        cmocka_unit_test(test_scrub_track_data),
        cmocka_unit_test(test_scrub_dup_full),
        cmocka_unit_test(test_scrub_marks_after_reading),
        cmocka_unit_test(test_spaced_view),
        cmocka_unit_test(test_spaced_view_runs),
        cmocka_unit_test(test_spaced_view_invalid_utf8),
        cmocka_unit_test(test_choice_view),
        cmocka_unit_test(test_choice_view_big),
        cmocka_unit_test(test_keyboard_clean),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_mask_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
