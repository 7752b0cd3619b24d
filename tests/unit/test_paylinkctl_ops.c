/*
 * test_paylinkctl_ops.c: the pure parts of `paylinkctl wreq | order | stats | dlq` (opsctl.h):
 * option parsing and validation (wreq resolve and retry too: names, notes, amounts, bureau
 * references, the id), the resolver's lease owner, the outcome handed to the resolver, the
 * state line after a step, durations, timestamps and offsets, the tables and labelled
 * blocks printed for people, dead-letter envelopes read back (built by the engine's own
 * pl_dlq_envelope and pl_dlq_envelope_kind), their kind (the envelope's "kind" and "answered",
 * else told by their words) as dlq list shows it, and how one is replayed (key, refusals:
 * masked cards and removed values, the dead letters that are no refusal of an unrecorded
 * request, an unreadable record's, how a given-up one was answered, --force). The row a replay
 * looks for is tests/integration/test_dlq_replay_row.c's; the database and Kafka side runs end
 * to end (tests/e2e/test_paylinkctl_ops.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "log.h"
#include "opsctl.h"
#include "request.h"

#define PAN "4111111111111111"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Parses the NULL-terminated argument list (argv[0] is the command word). */
static int parse(pl_opsctl_opts *o, char *errstr, size_t errstr_size, ...)
{
    char *argv[PL_OPSCTL_MAX_OFFSETS * 2 + 16];
    int argc = 0;
    va_list ap;
    va_start(ap, errstr_size);
    for (const char *a;
         (a = va_arg(ap, const char *)) != NULL && argc < (int)(sizeof argv / sizeof argv[0]) - 1;)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    errstr[0] = '\0';
    return pl_opsctl_parse(argc, argv, o, errstr, errstr_size);
}

#define PARSE_OK(o, ...)                                                                           \
    do {                                                                                           \
        char e_[300];                                                                              \
        if (parse(o, e_, sizeof e_, __VA_ARGS__, NULL) != PL_OK)                                   \
            fail_msg("parse failed: %s", e_);                                                      \
    } while (0)

/* Refused, with errstr containing `want` (and never the card number). */
#define PARSE_BAD(want, ...)                                                                       \
    do {                                                                                           \
        pl_opsctl_opts o_;                                                                         \
        char e_[300];                                                                              \
        assert_int_equal(parse(&o_, e_, sizeof e_, __VA_ARGS__, NULL), PL_ERR_INVALID);            \
        if (!strstr(e_, want))                                                                     \
            fail_msg("error '%s' does not say '%s'", e_, want);                                    \
        assert_null(strstr(e_, PAN));                                                              \
    } while (0)

/* What f printed, as a malloc'd string; f is an open_memstream stream. */
static char *take_output(FILE *f, char **buf)
{
    fclose(f);
    return *buf;
}

/* ---- options ----------------------------------------------------------------------------- */

static void test_wreq_list_options(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    PARSE_OK(&o, "wreq", "list");
    assert_int_equal(o.cmd, PL_OPSCTL_WREQ_LIST);
    assert_string_equal(o.status, "unsettled"); /* open and escalated: what is left to settle */
    assert_int_equal(o.older_than_s, -1);
    assert_int_equal(o.limit, PL_OPSCTL_WREQ_LIMIT);
    assert_null(o.bureau);
    assert_null(o.worker);
    assert_false(o.json);

    PARSE_OK(&o, "wreq", "list", "--bureau", "CYB", "--worker=deposit", "--older-than", "2h",
             "--status", "escalated", "--limit=5", "--json");
    assert_string_equal(o.bureau, "CYB");
    assert_string_equal(o.worker, "deposit");
    assert_int_equal(o.older_than_s, 7200);
    assert_string_equal(o.status, "escalated");
    assert_int_equal(o.limit, 5);
    assert_true(o.json);

    PARSE_OK(&o, "wreq", "list", "--status", "all");
    assert_null(o.status); /* every status, also ones this build does not know */
    PARSE_OK(&o, "wreq", "list", "--status=resolved");
    assert_string_equal(o.status, "resolved");
    PARSE_OK(&o, "wreq", "list", "--status=open");
    assert_string_equal(o.status, "open");
    PARSE_OK(&o, "wreq", "list", "--status=unsettled");
    assert_string_equal(o.status, "unsettled");

    PARSE_BAD("--status: expected open, escalated, resolved, unsettled or all", "wreq", "list",
              "--status", "Open");
    PARSE_BAD("--worker", "wreq", "list", "--worker", "dm");
    PARSE_BAD("--bureau", "wreq", "list", "--bureau", "TOOLONGXX");
    PARSE_BAD("--bureau", "wreq", "list", "--bureau", "C B");
    PARSE_BAD("--bureau", "wreq", "list", "--bureau", "");
    PARSE_BAD("--older-than", "wreq", "list", "--older-than", "2");
    PARSE_BAD("--limit", "wreq", "list", "--limit", "0");
    PARSE_BAD("--limit", "wreq", "list", "--limit", "100001");
    PARSE_BAD("--limit", "wreq", "list", "--limit", "-1");
}

static void test_wreq_show_options(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    PARSE_OK(&o, "wreq", "show", "17");
    assert_int_equal(o.cmd, PL_OPSCTL_WREQ_SHOW);
    assert_string_equal(o.id, "17");
    PARSE_OK(&o, "wreq", "show", "--json", "sc-1.a:b_c-9");
    assert_string_equal(o.id, "sc-1.a:b_c-9");
    assert_true(o.json);

    PARSE_BAD("needs an ID", "wreq", "show");
    PARSE_BAD("unexpected argument #3", "wreq", "show", "1", "2");
    PARSE_BAD("expected a required response id or a request_id", "wreq", "show", "a b");
    PARSE_BAD("expected a required response id or a request_id", "wreq", "show",
              "123456789012345678901234567890123456789012345678901");
    /* A card number typed as the id is refused and never echoed. */
    PARSE_BAD("must not contain a card number", "wreq", "show", PAN);
    PARSE_BAD("unknown option", "wreq", "show", "1", "--bureau", "CYB");
}

static void test_wreq_resolve_options(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    PARSE_OK(&o, "wreq", "resolve", "17", "--outcome", "approved", "--by", "alice");
    assert_int_equal(o.cmd, PL_OPSCTL_WREQ_RESOLVE);
    assert_int_equal(o.rr_id, 17);
    assert_true(o.has_outcome);
    assert_int_equal(o.outcome, PL_ST_APPROVED);
    assert_string_equal(o.by, "alice");
    assert_null(o.note);
    assert_false(o.has_amount);
    assert_null(o.transaction_id);
    assert_null(o.auth_number);
    assert_false(o.json);

    PARSE_OK(&o, "wreq", "resolve", "--outcome=approved", "--by", "José Müller", "--note",
             "called the bureau: auth code A1", "--amount", "70", "--transaction-id",
             "7419661750346782304017", "--auth-number=831000", "--json", "123456789012345678");
    assert_int_equal(o.rr_id, 123456789012345678LL);
    assert_string_equal(o.by, "José Müller");
    assert_string_equal(o.note, "called the bureau: auth code A1");
    assert_true(o.has_amount);
    assert_int_equal(o.amount, 7000);
    /* A CyberSource request ID is 22 digits: no card number. */
    assert_string_equal(o.transaction_id, "7419661750346782304017");
    assert_string_equal(o.auth_number, "831000");
    assert_true(o.json);

    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "declined", "--by", "bob", "--transaction-id",
             "T-1", "--note", "");
    assert_int_equal(o.outcome, PL_ST_DECLINED);
    assert_null(o.note); /* an empty note: the resolver's own words */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "error", "--by", "bob");
    assert_int_equal(o.outcome, PL_ST_ERROR);
    /* Decision Manager's outcomes: a review holds an amount as an approval does; a reject names
     * the authorization's transaction id (its reversal). */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "review", "--by", "bob", "--amount", "5.00",
             "--auth-number", "831000", "--transaction-id", "7419661750346782304016");
    assert_int_equal(o.outcome, PL_ST_REVIEW);
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "rejected", "--by", "bob", "--transaction-id",
             "7419661750346782304017", "--auth-number", "831001");
    assert_int_equal(o.outcome, PL_ST_REJECTED);
    PARSE_BAD("--outcome rejected needs --transaction-id", "wreq", "resolve", "5", "--outcome",
              "rejected", "--by", "bob");
    PARSE_BAD("--outcome review needs --transaction-id", "wreq", "resolve", "5", "--outcome",
              "review", "--by", "bob");
    /* A reject of a partial approval: --amount is what the issuer holds (its reversal's).
     * Refused before, the reversal went for the whole request, which CyberSource refuses above
     * what it authorized: the hold stayed. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "rejected", "--by", "a", "--transaction-id",
             "T-1", "--amount", "50.00");
    assert_true(o.has_amount);
    assert_int_equal(o.amount, 5000);
    /* A decline's reason code: a CyberSource soft decline (the issuer holds the amount) is
     * reversed, by its transaction id. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "declined", "--by", "bob",
             "--vendor-response", "230", "--transaction-id", "7419661750346782304015");
    assert_string_equal(o.vendor_response, "230");
    pl_resolve_outcome ro;
    pl_opsctl_resolve_outcome(&o, &ro);
    assert_int_equal(ro.status, PL_ST_DECLINED);
    assert_string_equal(ro.vendor_response, "230");
    assert_string_equal(ro.transaction_id, "7419661750346782304015");
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "declined", "--by", "bob",
             "--vendor-response", "204");
    assert_string_equal(o.vendor_response, "204");
    /* A soft decline of a partial approval holds what the issuer approved: --amount says it.
     * A hard decline, or a decline without its reason code, holds nothing. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "declined", "--by", "bob",
             "--vendor-response", "520", "--transaction-id", "7419661750346782304014", "--amount",
             "50.00");
    assert_int_equal(o.amount, 5000);
    PARSE_BAD("--amount: only with --outcome approved, review or rejected, or declined with a "
              "soft decline's --vendor-response",
              "wreq", "resolve", "5", "--outcome", "declined", "--by", "bob", "--vendor-response",
              "203", "--amount", "50.00");
    PARSE_BAD("--vendor-response 520 (a soft decline: the issuer holds the amount) needs "
              "--transaction-id",
              "wreq", "resolve", "5", "--outcome", "declined", "--by", "bob", "--vendor-response",
              "520");
    PARSE_BAD("--vendor-response: only with --outcome declined", "wreq", "resolve", "5",
              "--outcome", "approved", "--by", "bob", "--vendor-response", "100");
    /* A bureau's 20-digit transaction id that reads as a card number with an expiry glued on
     * (4111111111111111 then 1225) is an id: refused, the authorization could not be settled. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "approved", "--by", "bob", "--auth-number",
             "831000", "--transaction-id", "41111111111111111225");
    PARSE_BAD("--transaction-id: must not contain a card number", "wreq", "resolve", "5",
              "--outcome", "approved", "--by", "bob", "--auth-number", "831000", "--transaction-id",
              "4111111111111111");
    PARSE_BAD("--vendor-response: expected the bureau's reason code", "wreq", "resolve", "5",
              "--outcome", "declined", "--by", "bob", "--vendor-response", "23O");

    /* What is required. */
    PARSE_BAD("wreq resolve needs an ID", "wreq", "resolve", "--outcome", "approved", "--by", "a");
    PARSE_BAD("needs --outcome approved|declined|error|review|rejected", "wreq", "resolve", "5",
              "--by", "a");
    PARSE_BAD("needs --by NAME", "wreq", "resolve", "5", "--outcome", "approved");
    /* The ID: a required_response id only (a command that writes takes no request_id). */
    PARSE_BAD("expected a required response id", "wreq", "resolve", "t-1", "--outcome", "approved",
              "--by", "a");
    PARSE_BAD("expected a required response id", "wreq", "resolve", "0", "--outcome", "approved",
              "--by", "a");
    PARSE_BAD("expected a required response id", "wreq", "resolve", "1234567890123456789",
              "--outcome", "approved", "--by", "a");
    PARSE_BAD("expected a required response id", "wreq", "resolve", "-3", "--outcome", "approved",
              "--by", "a");
    PARSE_BAD("expected a required response id", "wreq", "resolve", PAN, "--outcome", "approved",
              "--by", "a");
    PARSE_BAD("unexpected argument #3", "wreq", "resolve", "5", "6", "--outcome", "approved",
              "--by", "a");
    /* The values. */
    PARSE_BAD("--outcome: expected approved, declined, error, review or rejected", "wreq",
              "resolve", "5", "--outcome", "reviewed", "--by", "a");
    PARSE_BAD("--outcome: expected approved, declined, error, review or rejected", "wreq",
              "resolve", "5", "--outcome", "Approved", "--by", "a");
    PARSE_BAD("--by: expected a name of 1 to 60 characters", "wreq", "resolve", "5", "--outcome",
              "approved", "--by", "");
    PARSE_BAD("--by: expected a name of 1 to 60 characters", "wreq", "resolve", "5", "--outcome",
              "approved", "--by", "a123456789b123456789c123456789d123456789e123456789f123456789X");
    PARSE_BAD("--by: must not contain a card number", "wreq", "resolve", "5", "--outcome",
              "approved", "--by", "alice " PAN);
    PARSE_BAD("--note: expected at most 200 bytes", "wreq", "resolve", "5", "--outcome", "approved",
              "--by", "a", "--note", "line\nbreak");
    PARSE_BAD("--note: must not contain a card number", "wreq", "resolve", "5", "--outcome",
              "approved", "--by", "a", "--note", "card 4111 1111 1111 1111");
    static const char *const bad_amounts[] = {"0.00", "-5.00", "1,00", "10000000000000.00", ""};
    for (size_t i = 0; i < sizeof bad_amounts / sizeof bad_amounts[0]; i++)
        PARSE_BAD("--amount: expected an amount above 0", "wreq", "resolve", "5", "--outcome",
                  "approved", "--by", "a", "--amount", bad_amounts[i]);
    PARSE_BAD("--amount: only with --outcome approved, review or rejected", "wreq", "resolve", "5",
              "--outcome", "declined", "--by", "a", "--amount", "5.00");
    PARSE_BAD("--amount: only with --outcome approved, review or rejected", "wreq", "resolve", "5",
              "--outcome", "error", "--by", "a", "--amount", "5.00");
    PARSE_BAD("--auth-number: only with --outcome approved, review or rejected", "wreq", "resolve",
              "5", "--outcome", "error", "--by", "a", "--auth-number", "831000");
    PARSE_BAD("--transaction-id: expected 1 to 64 printable characters", "wreq", "resolve", "5",
              "--outcome", "approved", "--by", "a", "--transaction-id", "T 1");
    PARSE_BAD("--transaction-id: must not contain a card number", "wreq", "resolve", "5",
              "--outcome", "approved", "--by", "a", "--transaction-id", PAN);
    PARSE_BAD("--auth-number: expected 1 to 30 printable characters", "wreq", "resolve", "5",
              "--outcome", "approved", "--by", "a", "--auth-number",
              "1234567890123456789012345678901");
    PARSE_BAD("--by given twice", "wreq", "resolve", "5", "--outcome", "approved", "--by", "a",
              "--by", "b");
    PARSE_BAD("unknown option", "wreq", "resolve", "5", "--outcome", "approved", "--by", "a",
              "--now");
    PARSE_BAD("unknown option", "wreq", "list", "--by", "a");
}

static void test_wreq_resolve_note_length(void **state)
{
    (void)state;
    char note[PL_OPSCTL_NOTE_MAX + 2];
    memset(note, 'n', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    PARSE_BAD("--note: expected at most 200 bytes", "wreq", "resolve", "5", "--outcome", "approved",
              "--by", "a", "--note", note);
    note[PL_OPSCTL_NOTE_MAX] = '\0';
    pl_opsctl_opts o;
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "approved", "--by", "a", "--note", note);
    assert_int_equal(strlen(o.note), PL_OPSCTL_NOTE_MAX);
    /* "operator <NAME>: <note>" must fit resolution_note's 300 bytes whole: a long name in a
     * script of several bytes a character, with a long note, is refused rather than cut. */
    char by[PL_OPSCTL_BY_MAX * 2 + 1] = "";
    for (int i = 0; i < PL_OPSCTL_BY_MAX; i++)
        strcat(by, "é");
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "approved", "--by", by);
    PARSE_BAD("--by and --note together are too long", "wreq", "resolve", "5", "--outcome",
              "approved", "--by", by, "--note", note);
}

static void test_wreq_retry_options(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    PARSE_OK(&o, "wreq", "retry", "42");
    assert_int_equal(o.cmd, PL_OPSCTL_WREQ_RETRY);
    assert_int_equal(o.rr_id, 42);
    assert_false(o.now);
    PARSE_OK(&o, "wreq", "retry", "--now", "42", "--json");
    assert_true(o.now);
    assert_true(o.json);
    PARSE_BAD("wreq retry needs an ID", "wreq", "retry");
    PARSE_BAD("wreq retry: expected a required response id", "wreq", "retry", "r-42");
    PARSE_BAD("--now takes no value", "wreq", "retry", "42", "--now=yes");
    PARSE_BAD("unknown option", "wreq", "retry", "42", "--outcome", "approved");
    PARSE_BAD("unknown option", "wreq", "show", "42", "--now");
}

static void test_names(void **state)
{
    (void)state;
    char e[300];
    assert_int_equal(pl_opsctl_check_name("--by", "alice", e, sizeof e), PL_OK);
    assert_int_equal(pl_opsctl_check_name("--by", "j.doe@example.com", e, sizeof e), PL_OK);
    /* 60 characters, whatever their bytes. */
    char name[PL_OPSCTL_BY_MAX * 4 + 8] = "";
    for (int i = 0; i < PL_OPSCTL_BY_MAX; i++)
        strcat(name, "\xF0\x9F\x98\x80"); /* U+1F600, four bytes */
    assert_int_equal(pl_opsctl_check_name("--by", name, e, sizeof e), PL_OK);
    strcat(name, "x");
    assert_int_equal(pl_opsctl_check_name("--by", name, e, sizeof e), PL_ERR_INVALID);
    assert_non_null(strstr(e, "--by: expected a name of 1 to 60 characters"));
    /* Not UTF-8: a lone continuation byte, an overlong form, a surrogate, a cut sequence. */
    static const char *const bad[] = {"a\x80", "\xC0\xAF",  "\xED\xA0\x80", "ab\xE2\x82",
                                      "",      "tab\there", "del\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(pl_opsctl_check_name("--by", bad[i], e, sizeof e), PL_ERR_INVALID);
    assert_int_equal(pl_opsctl_check_name("USER", "x " PAN, e, sizeof e), PL_ERR_INVALID);
    assert_non_null(strstr(e, "USER: must not contain a card number"));
    assert_null(strstr(e, PAN));
}

static void test_owner(void **state)
{
    (void)state;
    char out[PL_OPSCTL_OWNER_MAX + 1];
    pl_opsctl_owner("alice", "ops-1.example.com", out, sizeof out);
    assert_string_equal(out, "paylinkctl:alice@ops-1.example.com");
    pl_opsctl_owner("alice", NULL, out, sizeof out);
    assert_string_equal(out, "paylinkctl:alice");
    pl_opsctl_owner("alice", "", out, sizeof out);
    assert_string_equal(out, "paylinkctl:alice");

    /* A long host is cut first, to PL_OPSCTL_OWNER_MAX bytes in all. */
    char host[256];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    pl_opsctl_owner("alice", host, out, sizeof out);
    assert_int_equal(strlen(out), PL_OPSCTL_OWNER_MAX);
    assert_memory_equal(out, "paylinkctl:alice@hhh", 20);

    /* A name of 60 four-byte characters (240 bytes): cut on a character boundary, no host. */
    char name[PL_OPSCTL_BY_MAX * 4 + 1] = "";
    for (int i = 0; i < PL_OPSCTL_BY_MAX; i++)
        strcat(name, "\xF0\x9F\x98\x80");
    pl_opsctl_owner(name, "host", out, sizeof out);
    size_t n = strlen(out);
    assert_true(n <= PL_OPSCTL_OWNER_MAX);
    assert_int_equal((n - strlen("paylinkctl:")) % 4, 0);
    assert_null(strchr(out, '@'));
    char e[300];
    assert_int_equal(pl_opsctl_check_name("owner", out + strlen("paylinkctl:"), e, sizeof e),
                     PL_OK);

    /* A name that leaves a byte for '@' but none for the host: no '@'. */
    char exact[PL_OPSCTL_OWNER_MAX];
    size_t room = PL_OPSCTL_OWNER_MAX - strlen("paylinkctl:") - 1;
    memset(exact, 'a', room);
    exact[room] = '\0';
    pl_opsctl_owner(exact, "host", out, sizeof out);
    assert_int_equal(strlen(out), PL_OPSCTL_OWNER_MAX - 1);
    assert_null(strchr(out, '@'));

    /* A smaller buffer is respected too. */
    char small[20];
    pl_opsctl_owner("alice", "ops-1.example.com", small, sizeof small);
    assert_string_equal(small, "paylinkctl:alice@op");
}

static void test_resolve_outcome(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    pl_resolve_outcome out;
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "approved", "--by", "a", "--amount", "45.50",
             "--transaction-id", "T-9", "--auth-number", "A1");
    pl_opsctl_resolve_outcome(&o, &out);
    assert_int_equal(out.status, PL_ST_APPROVED);
    assert_true(out.has_amount);
    assert_int_equal(out.amount, 4550);
    assert_string_equal(out.transaction_id, "T-9");
    assert_string_equal(out.auth_number, "A1");
    /* The resolver fills the decision and takes the row's amount when none is given. */
    assert_string_equal(out.decision, "");
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "approved", "--by", "a");
    pl_opsctl_resolve_outcome(&o, &out);
    assert_false(out.has_amount);
    assert_string_equal(out.transaction_id, "");
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "declined", "--by", "a", "--transaction-id",
             "T-10");
    pl_opsctl_resolve_outcome(&o, &out);
    assert_int_equal(out.status, PL_ST_DECLINED);
    assert_false(out.has_amount);
    assert_string_equal(out.transaction_id, "T-10");
    assert_string_equal(out.auth_number, "");
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "review", "--by", "a", "--amount", "3.00",
             "--auth-number", "A2", "--transaction-id", "T-11");
    pl_opsctl_resolve_outcome(&o, &out);
    assert_int_equal(out.status, PL_ST_REVIEW);
    assert_true(out.has_amount);
    assert_int_equal(out.amount, 300);
    assert_string_equal(out.auth_number, "A2");
    /* A reject's or soft decline's amount is what the issuer holds, handed over as the resolver
     * maps such an answer: the amount (its reversal's), never an amount approved. Dropped, the
     * reversal went for the whole request. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "rejected", "--by", "a", "--amount", "50.00",
             "--transaction-id", "T-12");
    pl_opsctl_resolve_outcome(&o, &out);
    assert_int_equal(out.status, PL_ST_REJECTED);
    assert_false(out.has_amount);
    assert_int_equal(out.amount, 5000);
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "declined", "--by", "a", "--amount", "50.00",
             "--vendor-response", "230", "--transaction-id", "T-13");
    pl_opsctl_resolve_outcome(&o, &out);
    assert_int_equal(out.status, PL_ST_DECLINED);
    assert_false(out.has_amount);
    assert_int_equal(out.amount, 5000);
    assert_string_equal(out.vendor_response, "230");
    /* Without --amount the resolver reverses what the request asked for. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "rejected", "--by", "a", "--transaction-id",
             "T-14");
    pl_opsctl_resolve_outcome(&o, &out);
    assert_int_equal(out.amount, 0);
}

/* `wreq resolve`'s check of --amount and the amount its line names, against what the call sent
 * (pl_resolver_amount_sent: for a reversal a redelivery opened with the request's 30.00, its
 * claim of the whole 100.00 authorization, which the resolver approves by default). */
static void test_resolve_amount(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    char amount[48];
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "approved", "--by", "a", "--amount", "80.00");
    assert_int_equal(pl_opsctl_resolve_amount(&o, "100.00", amount, sizeof amount), PL_OK);
    assert_string_equal(amount, "80.00");
    assert_int_equal(pl_opsctl_resolve_amount(&o, "100.00", amount, 3), PL_OK); /* too small */
    assert_string_equal(amount, "");
    /* Above what was sent: refused, as the resolver would. */
    assert_int_equal(pl_opsctl_resolve_amount(&o, "79.99", amount, sizeof amount), PL_ERR_INVALID);
    assert_string_equal(amount, "");
    /* Nothing recorded as sent: the resolver decides (it refuses an approval above nothing). */
    assert_int_equal(pl_opsctl_resolve_amount(&o, "", amount, sizeof amount), PL_OK);
    assert_string_equal(amount, "80.00");
    /* Without --amount the line names what was sent, which the resolver approves. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "review", "--by", "a", "--transaction-id",
             "T-1");
    assert_int_equal(pl_opsctl_resolve_amount(&o, "100.00", amount, sizeof amount), PL_OK);
    assert_string_equal(amount, "100.00");
    assert_int_equal(pl_opsctl_resolve_amount(&o, "", amount, sizeof amount), PL_OK);
    assert_string_equal(amount, "");
    /* An outcome that holds nothing names no amount; a reject's held amount is still checked. */
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "declined", "--by", "a");
    assert_int_equal(pl_opsctl_resolve_amount(&o, "100.00", amount, sizeof amount), PL_OK);
    assert_string_equal(amount, "");
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "rejected", "--by", "a", "--amount", "50.00",
             "--transaction-id", "T-2");
    assert_int_equal(pl_opsctl_resolve_amount(&o, "100.00", amount, sizeof amount), PL_OK);
    assert_string_equal(amount, "");
    assert_int_equal(pl_opsctl_resolve_amount(&o, "40.00", amount, sizeof amount), PL_ERR_INVALID);
}

static void test_wreq_state(void **state)
{
    (void)state;
    static const struct {
        const char *row, *want;
    } cases[] = {
        {"{\"status\":\"resolved\",\"resolution\":\"approved\",\"resolved_how\":\"query\"}",
         "resolved approved (query)"},
        {"{\"status\":\"resolved\",\"resolution\":\"declined\",\"resolved_how\":null}",
         "resolved declined"},
        {"{\"status\":\"open\",\"last_query_result\":\"query 1: no record at the bureau yet\","
         "\"next_step_in_s\":30,\"lease_owner\":null}",
         "still open: query 1: no record at the bureau yet; next step in 30s"},
        {"{\"status\":\"open\",\"last_query_result\":\"\",\"next_step_in_s\":-2}",
         "still open: not asked yet; next step due"},
        {"{\"status\":\"open\",\"last_query_result\":\"x\",\"next_step_in_s\":5,"
         "\"lease_owner\":\"w1/resolver\"}",
         "still open: x; next step taken"},
        {"{\"status\":\"escalated\",\"last_query_result\":\"the bureau cannot be asked\"}",
         "escalated: the bureau cannot be asked"},
        {"{\"status\":\"escalated\",\"last_query_result\":\"\"}", "escalated: left to an operator"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *row = json_tokener_parse(cases[i].row);
        char out[200];
        pl_opsctl_wreq_state(row, out, sizeof out);
        assert_string_equal(out, cases[i].want);
        json_object_put(row);
    }
}

static void test_publisher_without_brokers(void **state)
{
    (void)state;
    pl_opsctl_publisher pub = {.brokers = NULL};
    char e[200];
    assert_int_not_equal(pl_opsctl_publish(&pub, "paylink.auth.reply", "1-O1", "{}", e, sizeof e),
                         PL_OK);
    assert_int_equal(pub.failed, 1);
    assert_int_equal(pub.published, 0);
    assert_non_null(strstr(pub.error, "no Kafka brokers"));
    assert_int_equal(pl_opsctl_kafka_ready(NULL, "paylink", "auth", e, sizeof e), PL_ERR_CONFIG);
    assert_int_equal(pl_opsctl_kafka_ready("", "paylink", "auth", e, sizeof e), PL_ERR_CONFIG);
    assert_int_equal(pl_opsctl_kafka_ready("127.0.0.1:1", "paylink", "nope", e, sizeof e),
                     PL_ERR_CONFIG);
}

static void test_order_show_options(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    PARSE_OK(&o, "order", "show", "--company", "7", "--order", "A1000");
    assert_int_equal(o.cmd, PL_OPSCTL_ORDER_SHOW);
    assert_int_equal(o.company, 7);
    assert_string_equal(o.order, "A1000");
    PARSE_OK(&o, "order", "show", "--order=12345678901234567890", "--company=999", "--json");
    assert_int_equal(o.company, 999);

    PARSE_BAD("needs --company and --order", "order", "show", "--company", "1");
    PARSE_BAD("needs --company and --order", "order", "show", "--order", "A1");
    PARSE_BAD("--company", "order", "show", "--company", "1000", "--order", "A1");
    PARSE_BAD("--company", "order", "show", "--company", "01x", "--order", "A1");
    PARSE_BAD("--order", "order", "show", "--company", "1", "--order", "123456789012345678901");
    PARSE_BAD("--order", "order", "show", "--company", "1", "--order", "A\t1");
    PARSE_BAD("must not contain a card number", "order", "show", "--company", "1", "--order", PAN);
    PARSE_BAD("must not contain a card number", "order", "show", "--company", "1", "--order",
              "4111-1111-1111-1111");
    PARSE_BAD("expected wreq list|show", "order", "list");
}

/*
 * Operator text is checked as the decoder checks a request's fields (pl_card_contains_full):
 * a card number split by characters a bureau message drops or nobody sees ("4111é1111..."),
 * full-width digits split so, or with its expiry glued (20-21 digits) is refused and never
 * echoed; a CyberSource request ID (22 digits) is not.
 */
#define HIDDEN_E                                                                                   \
    "4111\xc3\xa9"                                                                                 \
    "1111\xc3\xa9"                                                                                 \
    "1111\xc3\xa9"                                                                                 \
    "1111"
#define HIDDEN_ZWJ                                                                                 \
    "41111111\xe2\x80\x8d\xe2\x80\x8d\xe2\x80\x8d\xe2\x80\x8d"                                     \
    "11111111"
#define HIDDEN_FW                                                                                  \
    "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91" \
    "\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91"     \
    "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
#define WITH_EXPIRY "41111111111111111225"

static void test_hidden_card_numbers_refused(void **state)
{
    (void)state;
    char e[300];
    static const char *const texts[] = {"alice " HIDDEN_E, "a " HIDDEN_ZWJ, HIDDEN_FW,
                                        "ref " WITH_EXPIRY};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_int_equal(pl_opsctl_check_name("--by", texts[i], e, sizeof e), PL_ERR_INVALID);
        assert_non_null(strstr(e, "--by: must not contain a card number"));
        assert_int_equal(pl_opsctl_check_note("--note", texts[i], e, sizeof e), PL_ERR_INVALID);
        assert_non_null(strstr(e, "--note: must not contain a card number"));
        assert_null(strstr(e, "1111"));
    }
    assert_int_equal(pl_opsctl_check_note("--note", "Jos\xc3\xa9 called, ref 12", e, sizeof e),
                     PL_OK);
    /* A bureau reference is checked for a card number only as written (test_wreq_resolve_options:
     * a 20-digit transaction id may read as one with an expiry glued on). */
    PARSE_BAD("--order: must not contain a card number", "order", "show", "--company", "1",
              "--order", WITH_EXPIRY);
    PARSE_BAD("the id must not contain a card number", "wreq", "show", WITH_EXPIRY);
    pl_opsctl_opts o;
    PARSE_OK(&o, "wreq", "resolve", "5", "--outcome", "approved", "--by", "a", "--transaction-id",
             "7419661750346782304017");
}

static void test_stats_options(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    PARSE_OK(&o, "stats");
    assert_int_equal(o.cmd, PL_OPSCTL_STATS);
    assert_false(o.since.given);
    PARSE_OK(&o, "stats", "--since", "1d12h", "--bureau", "RLT");
    assert_true(o.since.given);
    assert_true(o.since.is_duration);
    assert_int_equal(o.since.seconds, 36 * 3600);
    assert_string_equal(o.bureau, "RLT");
    PARSE_OK(&o, "stats", "--since=2026-03-01T08:30Z", "--json");
    assert_false(o.since.is_duration);
    assert_string_equal(o.since.timestamp, "2026-03-01T08:30:00+00:00");

    PARSE_BAD("--since: expected a duration", "stats", "--since", "yesterday");
    PARSE_BAD("--since", "stats", "--since", "2026-02-30");
    PARSE_BAD("unexpected argument #1", "stats", "list");
    PARSE_BAD("unknown option", "stats", "--worker", "auth");
}

static void test_dlq_options(void **state)
{
    (void)state;
    pl_opsctl_opts o;
    PARSE_OK(&o, "dlq", "list", "--worker", "auth");
    assert_int_equal(o.cmd, PL_OPSCTL_DLQ_LIST);
    assert_int_equal(o.limit, PL_OPSCTL_DLQ_LIMIT);
    assert_false(o.since.given);
    PARSE_OK(&o, "dlq", "list", "--worker", "svc", "--since", "30m", "--limit", "3");
    assert_int_equal(o.since.seconds, 1800);
    assert_int_equal(o.limit, 3);

    PARSE_OK(&o, "dlq", "replay", "--worker", "auth", "--offset", "3:17", "--offset=0:0",
             "--dry-run", "--json");
    assert_int_equal(o.cmd, PL_OPSCTL_DLQ_REPLAY);
    assert_int_equal(o.noffsets, 2);
    assert_int_equal(o.offsets[0].partition, 3);
    assert_int_equal(o.offsets[0].offset, 17);
    assert_int_equal(o.offsets[1].partition, 0);
    assert_true(o.dry_run);
    assert_false(o.force);
    PARSE_OK(&o, "dlq", "replay", "--worker", "deposit", "--all-since", "2h", "--force");
    assert_true(o.force);
    assert_int_equal(o.noffsets, 0);
    assert_true(o.since.given);
    assert_int_equal(o.since.seconds, 7200);

    PARSE_BAD("dlq list needs --worker", "dlq", "list");
    PARSE_BAD("dlq replay needs --worker", "dlq", "replay", "--offset", "1:1");
    PARSE_BAD("either --offset P:O (repeatable) or --all-since", "dlq", "replay", "--worker",
              "auth");
    PARSE_BAD("either --offset P:O (repeatable) or --all-since", "dlq", "replay", "--worker",
              "auth", "--offset", "1:1", "--all-since", "1h");
    PARSE_BAD("--offset: the same dead letter given twice", "dlq", "replay", "--worker", "auth",
              "--offset", "1:1", "--offset", "1:1");
    PARSE_BAD("--offset: expected PARTITION:OFFSET", "dlq", "replay", "--worker", "auth",
              "--offset", "1");
    /* A timestamp is for stats only; dlq takes durations. */
    PARSE_BAD("--since: expected a duration", "dlq", "list", "--worker", "auth", "--since",
              "2026-01-01");
    PARSE_BAD("--all-since: expected a duration", "dlq", "replay", "--worker", "auth",
              "--all-since", "2026-01-01");
    PARSE_BAD("unknown option", "dlq", "list", "--worker", "auth", "--dry-run");
    PARSE_BAD("unknown option", "dlq", "list", "--worker", "auth", "--force");
    PARSE_BAD("unknown option", "dlq", "replay", "--worker", "auth", "--offset", "1:1", "--limit",
              "3");
    PARSE_BAD("expected wreq list|show", "dlq", "show");

    /* At most PL_OPSCTL_MAX_OFFSETS offsets. */
    char *argv[PL_OPSCTL_MAX_OFFSETS * 2 + 8], vals[PL_OPSCTL_MAX_OFFSETS + 1][16], e[300];
    int argc = 0;
    argv[argc++] = "dlq";
    argv[argc++] = "replay";
    argv[argc++] = "--worker";
    argv[argc++] = "auth";
    for (int i = 0; i <= PL_OPSCTL_MAX_OFFSETS; i++) {
        snprintf(vals[i], sizeof vals[i], "0:%d", i);
        argv[argc++] = "--offset";
        argv[argc++] = vals[i];
    }
    assert_int_equal(pl_opsctl_parse(argc - 2, argv, &o, e, sizeof e), PL_OK);
    assert_int_equal(o.noffsets, PL_OPSCTL_MAX_OFFSETS);
    assert_int_equal(pl_opsctl_parse(argc, argv, &o, e, sizeof e), PL_ERR_INVALID);
    assert_non_null(strstr(e, "at most"));
}

static void test_common_refusals(void **state)
{
    (void)state;
    PARSE_BAD("expected wreq list|show", "wreq");
    PARSE_BAD("expected wreq list|show", "wreq", "lists");
    PARSE_BAD("expected wreq list|show", "nope");
    /* A stray word is not echoed: it may be a card number. */
    PARSE_BAD("unexpected argument #2", "wreq", "list", PAN);
    PARSE_BAD("unknown option (argument #2)", "wreq", "list", "--bureaux", "CYB");
    PARSE_BAD("--bureau given twice", "wreq", "list", "--bureau", "CYB", "--bureau", "RLT");
    PARSE_BAD("--json given twice", "stats", "--json", "--json");
    PARSE_BAD("--json takes no value", "stats", "--json=yes");
    PARSE_BAD("--bureau needs a value", "stats", "--bureau");
    PARSE_BAD("unknown option", "order", "show", "--company", "1", "--order", "A1", "--since",
              "1h");

    pl_opsctl_opts o;
    char e[300];
    assert_int_equal(pl_opsctl_parse(0, (char *[]){NULL}, &o, e, sizeof e), PL_ERR_INVALID);
}

/* ---- values ------------------------------------------------------------------------------ */

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long long seconds;
    } ok[] = {
        {"0s", 0},
        {"90s", 90},
        {"30m", 1800},
        {"2h", 7200},
        {"1d", 86400},
        {"1w", 604800},
        {"1h30m", 5400},
        {"1d12h", 129600},
        {"1w2d3h4m5s", 788645},
        {"3650d", 315360000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long long s = -1;
        if (!pl_opsctl_parse_duration(ok[i].text, &s))
            fail_msg("'%s' refused", ok[i].text);
        assert_int_equal(s, ok[i].seconds);
    }
    static const char *const bad[] = {
        "",      "2",    "h",    "2x",    "-2h",    "+2h", " 2h",         "2h ",  "2H",
        "30m2h", "2h2h", "1.5h", "3651d", "521w4d", "2hm", "1000000000s", "2h30", "1d0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long s = 42;
        if (pl_opsctl_parse_duration(bad[i], &s))
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(s, 42);
    }
    long long s = 1;
    assert_false(pl_opsctl_parse_duration(NULL, &s));
}

static void test_timestamps(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } ok[] = {
        {"2026-03-01", "2026-03-01T00:00:00+00:00"},
        {"2026-03-01T08:30", "2026-03-01T08:30:00+00:00"},
        {"2026-03-01 08:30:15", "2026-03-01T08:30:15+00:00"},
        {"2026-03-01T08:30:15Z", "2026-03-01T08:30:15+00:00"},
        {"2026-03-01T08:30+02:00", "2026-03-01T08:30:00+02:00"},
        {"2026-03-01T08:30:00-05:30", "2026-03-01T08:30:00-05:30"},
        {"2024-02-29", "2024-02-29T00:00:00+00:00"},
        {"2000-02-29T23:59:59Z", "2000-02-29T23:59:59+00:00"},
        {"1970-01-01", "1970-01-01T00:00:00+00:00"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char out[32];
        if (!pl_opsctl_parse_timestamp(ok[i].text, out, sizeof out))
            fail_msg("'%s' refused", ok[i].text);
        assert_string_equal(out, ok[i].want);
    }
    static const char *const bad[] = {
        "",
        "2026",
        "2026-3-01",
        "2026-13-01",
        "2026-00-10",
        "2026-02-29",
        "1900-02-29",
        "2026-04-31",
        "1969-12-31",
        "2026-03-01T",
        "2026-03-01T8:30",
        "2026-03-01T24:00",
        "2026-03-01T23:60",
        "2026-03-01T23:59:60",
        "2026-03-01T08:30:1",
        "2026-03-01T08:30+2",
        "2026-03-01T08:30+15:00",
        "2026-03-01T08:30+02:60",
        "2026-03-01Z0",
        "2026-03-01T08:30:00.5Z",
        "2026-03-01x",
        "２026-03-01",
        "now",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[32];
        if (pl_opsctl_parse_timestamp(bad[i], out, sizeof out))
            fail_msg("'%s' accepted", bad[i]);
    }
    char small[10];
    assert_false(pl_opsctl_parse_timestamp("2026-03-01", small, sizeof small));
    assert_false(pl_opsctl_parse_timestamp(NULL, small, sizeof small));
}

static void test_offsets(void **state)
{
    (void)state;
    pl_opsctl_offset off;
    assert_true(pl_opsctl_parse_offset("0:0", &off));
    assert_int_equal(off.partition, 0);
    assert_int_equal(off.offset, 0);
    assert_true(pl_opsctl_parse_offset("31:9223372036854775807", &off));
    assert_int_equal(off.partition, 31);
    assert_true(off.offset == INT64_MAX);
    assert_true(pl_opsctl_parse_offset("2147483647:1", &off));
    assert_int_equal(off.partition, INT32_MAX);

    static const char *const bad[] = {"",
                                      ":",
                                      "1:",
                                      ":1",
                                      "1",
                                      "a:1",
                                      "1:b",
                                      "-1:1",
                                      "1:-1",
                                      "1:1:1",
                                      "1 :1",
                                      "2147483648:1",
                                      "1:9223372036854775808",
                                      "1:99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        off.partition = 7;
        if (pl_opsctl_parse_offset(bad[i], &off))
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(off.partition, 7);
    }
}

static void test_ages(void **state)
{
    (void)state;
    static const struct {
        long long s;
        const char *want;
    } cases[] = {
        {-5, "0s"},
        {0, "0s"},
        {59, "59s"},
        {60, "1m00s"},
        {3599, "59m59s"},
        {3600, "1h00m"},
        {3725, "1h02m"},
        {86399, "23h59m"},
        {86400, "1d00h"},
        {200000, "2d07h"},
        {315360000, "3650d00h"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        pl_opsctl_format_age(cases[i].s, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

/* ---- tables ------------------------------------------------------------------------------ */

static void test_table(void **state)
{
    (void)state;
    static const char *const headers[] = {"ID", "NAME", "AMOUNT", "NOTE"};
    pl_opsctl_table *t = pl_opsctl_table_new(4, headers);
    assert_non_null(t);
    pl_opsctl_table_align_right(t, 2);
    pl_opsctl_table_align_right(t, 99); /* ignored */
    pl_opsctl_table_align_right(NULL, 0);
    assert_int_equal(pl_opsctl_table_add(t, (const char *[]){"1", "abc", "5.00 USD", "x"}), PL_OK);
    assert_int_equal(pl_opsctl_table_add(t, (const char *[]){"22", NULL, "120.00 USD", ""}), PL_OK);
    /* Control characters become '?': a value can never move the reader's terminal. */
    assert_int_equal(pl_opsctl_table_add(t, (const char *[]){"3", "a\nb\x1b[2J", "1", "é"}), PL_OK);
    assert_int_equal(pl_opsctl_table_rows(t), 3);

    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    pl_opsctl_table_print(t, f);
    char *out = take_output(f, &buf);
    assert_string_equal(out, "ID  NAME         AMOUNT  NOTE\n"
                             "1   abc        5.00 USD  x\n"
                             "22  -        120.00 USD  -\n"
                             "3   a?b?[2J           1  é\n");
    free(out);
    pl_opsctl_table_destroy(t);
    pl_opsctl_table_destroy(NULL);
}

static void test_table_long_cells_and_growth(void **state)
{
    (void)state;
    static const char *const headers[] = {"N", "TEXT"};
    pl_opsctl_table *t = pl_opsctl_table_new(2, headers);
    assert_non_null(t);
    char longer[200];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    /* 70 two-byte characters: cut after 57 characters, never inside one. */
    char wide[200] = "";
    for (int i = 0; i < 70; i++)
        strcat(wide, "é");
    char exact[PL_OPSCTL_CELL_MAX + 1];
    memset(exact, 'y', PL_OPSCTL_CELL_MAX);
    exact[PL_OPSCTL_CELL_MAX] = '\0';
    for (int i = 0; i < 40; i++) { /* past the first allocation */
        char n[8];
        snprintf(n, sizeof n, "%d", i);
        const char *text = i == 0 ? longer : i == 1 ? wide : i == 2 ? exact : "short";
        assert_int_equal(pl_opsctl_table_add(t, (const char *[]){n, text}), PL_OK);
    }
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    pl_opsctl_table_print(t, f);
    char *out = take_output(f, &buf);
    char *line0 = strstr(out, "\n0 ") + 1, *line1 = strstr(out, "\n1 ") + 1;
    char *line2 = strstr(out, "\n2 ") + 1;
    char want0[100];
    snprintf(want0, sizeof want0, "0   %.*s...\n", PL_OPSCTL_CELL_MAX - 3, longer);
    assert_int_equal(strncmp(line0, want0, strlen(want0)), 0);
    assert_int_equal(strncmp(line1, "1   é", strlen("1   é")), 0);
    char *end1 = strchr(line1, '\n');
    assert_int_equal(strncmp(end1 - 3, "...", 3), 0);
    assert_int_equal(end1 - 3 - (line1 + 4), (PL_OPSCTL_CELL_MAX - 3) * 2);
    char want2[100];
    snprintf(want2, sizeof want2, "2   %s\n", exact); /* exactly the limit: not cut */
    assert_int_equal(strncmp(line2, want2, strlen(want2)), 0);
    assert_non_null(strstr(out, "\n39  short\n"));
    free(out);
    pl_opsctl_table_destroy(t);
}

static void test_fields(void **state)
{
    (void)state;
    json_object *o = json_tokener_parse("{\"id\":17,\"request_id\":\"a\\u001b1\",\"amount\":"
                                        "\"9.00\",\"resolved_at\":null,\"reply\":{\"status\":"
                                        "\"timeout\",\"v\":1},\"ok\":true}");
    assert_non_null(o);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    pl_opsctl_print_fields(f, o, "  ");
    char *out = take_output(f, &buf);
    assert_string_equal(out, "  id           17\n"
                             "  request_id   a?1\n"
                             "  amount       9.00\n"
                             "  resolved_at  -\n"
                             "  reply        {\"status\":\"timeout\",\"v\":1}\n"
                             "  ok           true\n");
    free(out);
    json_object_put(o);
}

/* ---- dead letters ------------------------------------------------------------------------ */

static const char *const REQUEST =
    "{\"v\":1,\"request_id\":\"inv-1\",\"type\":\"auth\",\"company\":1,\"order\":\"O1\","
    "\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"5.00\",\"currency\":\"usd\","
    "\"card\":{\"token\":\"T1\"}}";

/* An envelope as the engine builds it. */
static char *envelope(const char *request, size_t limit)
{
    pl_errors errs = {0};
    pl_errors_add(&errs, "currency", "must be an ISO 4217 alpha-3 code");
    pl_errors_add(&errs, "amount", "too small");
    return pl_dlq_envelope("must be an ISO 4217 alpha-3 code", &errs, "paylink.auth.request", 3, 42,
                           request, false, limit);
}

static void test_dlq_parse(void **state)
{
    (void)state;
    char *env = envelope(REQUEST, 100000);
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_string_equal(d.error, "must be an ISO 4217 alpha-3 code");
    assert_string_equal(d.topic, "paylink.auth.request");
    assert_int_equal(d.partition, 3);
    assert_int_equal(d.offset, 42);
    assert_string_equal(d.request, REQUEST);
    assert_int_equal(d.request_len, strlen(REQUEST));
    assert_false(d.truncated);
    assert_int_equal(d.request_bytes, -1);
    assert_string_equal(d.request_id, "inv-1");
    assert_string_equal(d.type, "auth");
    char *errors = pl_opsctl_dlq_errors_text(&d);
    assert_string_equal(errors, "currency: must be an ISO 4217 alpha-3 code; amount: too small");
    free(errors);
    pl_opsctl_dlq_free(&d);
    pl_opsctl_dlq_free(&d); /* twice is fine */
    free(env);

    /* Cut to fit: marked truncated, with its size before. */
    char big[3000];
    snprintf(big, sizeof big, "{\"request_id\":\"big-1\",\"pad\":\"%2000d\"}", 7);
    env = envelope(big, 600);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_true(d.truncated);
    assert_int_equal(d.request_bytes, (int64_t)strlen(big));
    assert_true(d.request_len < strlen(big));
    assert_null(d.req); /* a cut request is no JSON */
    assert_null(d.request_id);
    pl_opsctl_dlq_free(&d);
    free(env);

    /* A request that was never JSON (the not-JSON path of the engine). */
    env = envelope("this is not json", 100000);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_null(d.req);
    assert_null(d.type);
    errors = pl_opsctl_dlq_errors_text(&d);
    assert_non_null(errors);
    free(errors);
    pl_opsctl_dlq_free(&d);
    free(env);

    /* No envelope: not JSON, not an object, no request text. */
    static const char *const not_envelopes[] = {"",
                                                "garbage",
                                                "[1]",
                                                "{\"error\":\"x\"}",
                                                "{\"request\":{\"request_id\":\"x\"}}",
                                                "{\"request\":\"x\"} trailing"};
    for (size_t i = 0; i < sizeof not_envelopes / sizeof not_envelopes[0]; i++) {
        assert_int_equal(pl_opsctl_dlq_parse(not_envelopes[i], strlen(not_envelopes[i]), &d),
                         PL_ERR_PARSE);
        assert_null(d.root);
        pl_opsctl_dlq_free(&d);
    }
    /* Only len bytes are read. */
    const char *two = "{\"request\":\"a\"}{\"request\":\"b\"}";
    assert_int_equal(pl_opsctl_dlq_parse(two, 15, &d), PL_OK);
    assert_string_equal(d.request, "a");
    assert_string_equal(d.error, "");
    assert_string_equal(d.topic, "");
    assert_int_equal(d.partition, -1);
    pl_opsctl_dlq_free(&d);
}

static void test_dlq_json(void **state)
{
    (void)state;
    char *env = envelope(REQUEST, 100000);
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    pl_ctlkafka_msg m = {.partition = 5,
                         .offset = 9,
                         .timestamp_ms = 1780000000123LL,
                         .key = "1-O1xyz",
                         .key_len = 4,
                         .payload = env,
                         .len = strlen(env)};
    json_object *j = pl_opsctl_dlq_json(&m, &d);
    assert_string_equal(
        json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"partition\":5,\"offset\":9,\"timestamp\":\"2026-05-28T20:26:40Z\",\"key\":\"1-O1\","
        "\"kind\":\"invalid\",\"kind_inferred\":true,\"answered\":null,"
        "\"error\":\"must be an ISO 4217 alpha-3 code\",\"errors\":[{\"field\":\"currency\","
        "\"error\":\"must be an ISO 4217 alpha-3 code\"},{\"field\":\"amount\",\"error\":\"too "
        "small\"}],\"request_topic\":\"paylink.auth.request\",\"request_partition\":3,"
        "\"request_offset\":42,\"request_id\":\"inv-1\",\"type\":\"auth\",\"truncated\":false,"
        "\"redacted\":false}");
    json_object_put(j);

    /* No key, no timestamp, no envelope. */
    m.key = NULL;
    m.timestamp_ms = -1;
    j = pl_opsctl_dlq_json(&m, NULL);
    assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                        "{\"partition\":5,\"offset\":9,\"timestamp\":null,\"key\":null,"
                        "\"envelope\":false}");
    json_object_put(j);

    /* A key holding a card number is printed masked. */
    m.key = "1-" PAN;
    m.key_len = strlen(m.key);
    j = pl_opsctl_dlq_json(&m, &d);
    const char *text = json_object_to_json_string(j);
    assert_null(strstr(text, PAN));
    assert_non_null(strstr(text, "1111"));
    json_object_put(j);
    /* Also one the Luhn scrub does not see: across control characters (printed as '?', which
     * left "4111?1111?1111?1111" for anyone to read), or with its expiry glued. */
    static const char *const hidden_keys[] = {"1-4111\x01"
                                              "1111\x01"
                                              "1111\x01"
                                              "1111",
                                              "1-" WITH_EXPIRY};
    static const char *const shown_keys[] = {"1-****?****?****?1111", "1-************1111****"};
    for (size_t i = 0; i < 2; i++) {
        m.key = hidden_keys[i];
        m.key_len = strlen(m.key);
        j = pl_opsctl_dlq_json(&m, &d);
        json_object *k = NULL;
        assert_true(json_object_object_get_ex(j, "key", &k));
        assert_string_equal(json_object_get_string(k), shown_keys[i]);
        json_object_put(j);
    }
    pl_opsctl_dlq_free(&d);
    free(env);
}

/*
 * An envelope anyone could write to the dead-letter topic, with a card number in each text dlq
 * list prints: plain, spaced, and split by 'é' (which the Luhn scan alone does not join; a
 * bureau message drops it, so the digits around it are one card number).
 */
#define SPLIT                                                                                      \
    "4111\xc3\xa9"                                                                                 \
    "1111\xc3\xa9"                                                                                 \
    "1111\xc3\xa9"                                                                                 \
    "1111"
#define SPACED "4111 1111 1111 1111"
static const char HOSTILE_ENVELOPE[] =
    "{\"error\":\"bad " PAN " and " SPLIT "\",\"errors\":[{\"field\":\"f " SPACED "\","
    "\"error\":\"e " SPLIT "\"},{\"field\":\"" PAN "\",\"error\":\"" SPACED "\",\"n\":" PAN "}],"
    "\"topic\":\"t " SPLIT "\",\"partition\":3,\"offset\":42,\"kind\":\"invalid\","
    "\"redacted\":false,\"request\":\"{\\\"request_id\\\":\\\"r-" SPACED "\\\","
    "\\\"type\\\":\\\"" SPLIT "\\\"}\"}";

/* The dlq list line (--json) of HOSTILE_ENVELOPE under key, as printed; the caller frees it. */
static char *hostile_line(const char *key)
{
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(HOSTILE_ENVELOPE, strlen(HOSTILE_ENVELOPE), &d), PL_OK);
    pl_ctlkafka_msg m = {.partition = 1,
                         .offset = 2,
                         .timestamp_ms = -1,
                         .key = key,
                         .key_len = strlen(key),
                         .payload = HOSTILE_ENVELOPE,
                         .len = strlen(HOSTILE_ENVELOPE)};
    json_object *j = pl_opsctl_dlq_json(&m, &d);
    assert_non_null(j);
    char *line = strdup(
        json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    assert_non_null(line);
    json_object_put(j);
    pl_opsctl_dlq_free(&d);
    return line;
}

static void test_dlq_json_scrubs_envelope_texts(void **state)
{
    (void)state;
    /* The envelope as read does hold them (else the test proves nothing). */
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(HOSTILE_ENVELOPE, strlen(HOSTILE_ENVELOPE), &d), PL_OK);
    assert_string_equal(d.request_id, "r-" SPACED);
    assert_string_equal(d.type, SPLIT);
    pl_opsctl_dlq_free(&d);

    char *line = hostile_line("1-" SPLIT);
    /* Not one card number's head is left, in whatever form it came; the last four stay. */
    assert_null(strstr(line, "4111"));
    assert_null(strstr(line, PAN));
    assert_non_null(strstr(line, "\"error\":\"bad ************1111 and ****\xc3\xa9****\xc3\xa9"
                                 "****\xc3\xa9"
                                 "1111\""));
    assert_non_null(strstr(line, "\"errors\":[{\"field\":\"f **** **** **** 1111\","
                                 "\"error\":\"e ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                 "1111\"},{\"field\":\"************1111\","
                                 "\"error\":\"**** **** **** 1111\","
                                 "\"n\":\"************1111\"}]"));
    assert_non_null(strstr(line, "\"request_topic\":\"t ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                 "1111\""));
    assert_non_null(strstr(line, "\"request_id\":\"r-**** **** **** 1111\""));
    assert_non_null(strstr(line, "\"type\":\"****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                 "1111\""));
    assert_non_null(strstr(line, "\"key\":\"1-****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                 "1111\""));
    /* Nothing else changes: the columns and their order are the same. */
    assert_non_null(strstr(line, "{\"partition\":1,\"offset\":2,\"timestamp\":null,\"key\":"));
    assert_non_null(strstr(line, "\"kind\":\"invalid\",\"kind_inferred\":false,\"answered\":null,"
                                 "\"error\":"));
    assert_non_null(strstr(line, "\"request_partition\":3,\"request_offset\":42,\"request_id\":"));
    assert_non_null(strstr(line, "\"truncated\":false,\"redacted\":false}"));
    free(line);

    /* In the J16 mode that removes them, as the rest of paylinkctl's output. */
    pl_log_set_mask_mode(PL_MASK_REMOVED);
    line = hostile_line("1-" PAN);
    pl_log_set_mask_mode(PL_MASK_LAST4);
    assert_null(strstr(line, "4111"));
    assert_null(strstr(line, "1111"));
    assert_non_null(strstr(line, "\"request_id\":\"r-***REMOVED***\""));
    assert_non_null(strstr(line, "\"key\":\"1-***REMOVED***\""));
    free(line);
}

/*
 * dlq replay prints the envelope's texts as dlq list does (5feb22a): the type (and key and
 * request_id) with card numbers masked, one split by 'é' or a control character or written in
 * full-width digits too; before, the type was printed as the request held it. An envelope whose
 * texts hold none prints as ever.
 */
static int plan_of(const char *env, bool force, pl_opsctl_replay *p, char *e, size_t esize);

static void test_replay_output_scrubs_envelope_texts(void **state)
{
    (void)state;
    pl_opsctl_replay p = {.key = "1-O1", .key_source = "dead_letter"};
    pl_opsctl_sent sent = {.dlq_partition = 1,
                           .dlq_offset = 2,
                           .topic = "paylink.auth.request",
                           .partition = 3,
                           .offset = 4,
                           .dry_run = false};
    char *env = envelope(REQUEST, 100000);
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    char *out = pl_opsctl_replay_output(&d, &p, &sent, false);
    assert_non_null(out);
    char *shown = pl_request_redact(REQUEST, strlen(REQUEST));
    char want[1024];
    snprintf(want, sizeof want,
             "replayed 1:2 -> paylink.auth.request [3] at offset 4, key 1-O1 (the dead letter's), "
             "request_id inv-1, type auth\n  %s\n",
             shown);
    assert_string_equal(out, want);
    free(out);
    sent.dry_run = true;
    out = pl_opsctl_replay_output(&d, &p, &sent, true);
    snprintf(want, sizeof want,
             "{\"dlq_partition\":1,\"dlq_offset\":2,\"topic\":\"paylink.auth.request\","
             "\"partition\":null,\"offset\":null,\"key\":\"1-O1\",\"key_source\":\"dead_letter\","
             "\"request_id\":\"inv-1\",\"type\":\"auth\",\"card_masked\":false,\"dry_run\":true,"
             "\"request\":\"%s\"}\n",
             "{\\\"v\\\":1,\\\"request_id\\\":\\\"inv-1\\\",\\\"type\\\":\\\"auth\\\","
             "\\\"company\\\":1,\\\"order\\\":\\\"O1\\\",\\\"pay_seq\\\":1,\\\"service\\\":"
             "\\\"CYB\\\",\\\"amount\\\":\\\"5.00\\\",\\\"currency\\\":\\\"usd\\\","
             "\\\"card\\\":{\\\"token\\\":\\\"T1\\\"}}");
    assert_string_equal(out, want);
    free(out);
    free(shown);
    pl_opsctl_dlq_free(&d);
    free(env);

    /* A type split by 'é', by a control character, in full-width digits. */
    static const char *const types[] = {
        SPLIT, "4111\\u00011111\\u00011111\\u00011111",
        "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91\xef\xbc"
        "\x91\xef\xbc\x91\xc3\xa9\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xc3\xa9\xef\xbc"
        "\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"};
    static const char *const masked[] = {
        "****\xc3\xa9****\xc3\xa9****\xc3\xa9"
        "1111",
        "****\x01****\x01****\x01"
        "1111",
        "\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9\xef\xbc\x8a\xef\xbc\x8a\xef\xbc"
        "\x8a\xef\xbc\x8a\xc3\xa9\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xef\xbc\x8a\xc3\xa9\xef\xbc"
        "\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "{\"request_id\":\"r1\",\"type\":\"%s\"}", types[i]);
        env = envelope(req, 100000);
        assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
        for (int json = 0; json < 2; json++) {
            out = pl_opsctl_replay_output(&d, &p, &sent, json == 1);
            assert_non_null(out);
            if (strstr(out, "4111") || strstr(out, "\xef\xbc\x94"))
                fail_msg("type %zu: a card number in \"%s\"", i, out);
            snprintf(want, sizeof want, json ? "\"type\":\"%s\"" : ", type %s\n", masked[i]);
            if (json && i == 1)
                snprintf(want, sizeof want, "\"type\":\"****\\u0001****\\u0001****\\u00011111\"");
            if (!strstr(out, want))
                fail_msg("type %zu: no '%s' in \"%s\"", i, want, out);
            free(out);
        }
        pl_opsctl_dlq_free(&d);
        free(env);
    }

    /* The other texts an envelope gives: the request_id and key as well. */
    assert_int_equal(pl_opsctl_dlq_parse(HOSTILE_ENVELOPE, strlen(HOSTILE_ENVELOPE), &d), PL_OK);
    snprintf(p.key, sizeof p.key, "1-" SPLIT);
    out = pl_opsctl_replay_output(&d, &p, &sent, false);
    assert_non_null(out);
    assert_null(strstr(out, "4111"));
    assert_non_null(strstr(out, "key 1-****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                "1111 (the dead"));
    assert_non_null(strstr(out, "request_id r-**** **** **** 1111, type ****\xc3\xa9"));
    free(out);
    pl_opsctl_dlq_free(&d);

    /* The refusal of an unreadable record's copy names where it was: the envelope's topic is
     * masked as dlq list masks it. */
    char e[1024];
    env = pl_dlq_envelope_kind(PL_DLQ_KIND_UNREADABLE, NULL, "unreadable", NULL, "t " SPLIT, 0, 5,
                               "", false, 100000);
    assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_ERR_INVALID);
    assert_null(strstr(e, "4111"));
    assert_non_null(strstr(e, "partition 0, offset 5 of t ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                              "1111"));
    free(env);
}

static void test_replay_plan(void **state)
{
    (void)state;
    char *env = envelope(REQUEST, 100000), e[300];
    pl_opsctl_dead_letter d;
    pl_opsctl_replay p;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);

    /* The dead letter's own key first (only key_len bytes of it). */
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1zz", 4, false, &p, e, sizeof e),
        PL_OK);
    assert_string_equal(p.key, "1-O1");
    assert_string_equal(p.key_source, "dead_letter");
    assert_false(p.card_masked);

    /* No key: <company>-<order> of the request, as paylinkctl send derives it. */
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", NULL, 0, false, &p, e, sizeof e), PL_OK);
    assert_string_equal(p.key, "1-O1");
    assert_string_equal(p.key_source, "request");
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "", 0, false, &p, e, sizeof e), PL_OK);
    assert_string_equal(p.key_source, "request");

    /* Another topic's dead letter is refused. */
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "other.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_ERR_INVALID);
    assert_non_null(strstr(e, "another topic"));
    char longkey[200];
    memset(longkey, 'k', sizeof longkey);
    assert_int_equal(pl_opsctl_replay_plan(&d, "paylink.auth.request", longkey, sizeof longkey,
                                           false, &p, e, sizeof e),
                     PL_ERR_INVALID);
    pl_opsctl_dlq_free(&d);
    free(env);

    /* A request without company and order, and no key: sent without one. */
    env = envelope("{\"request_id\":\"x\"}", 100000);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", NULL, 0, false, &p, e, sizeof e), PL_OK);
    assert_string_equal(p.key, "");
    assert_string_equal(p.key_source, "none");
    pl_opsctl_dlq_free(&d);
    free(env);

    /* Truncated: refused, saying so. */
    char big[3000];
    snprintf(big, sizeof big, "{\"request_id\":\"big-1\",\"pad\":\"%2000d\"}", 7);
    env = envelope(big, 600);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_ERR_INVALID);
    assert_non_null(strstr(e, "truncated"));
    pl_opsctl_dlq_free(&d);
    free(env);
}

/*
 * The engine redacts before it writes the copy: the card number becomes its mask, 3-D Secure
 * values and unknown card fields ***REMOVED***. Such a copy is never the request that was sent:
 * the worker refuses it again, or, when its request_id has a row, takes it for another request
 * and publishes a false `invalid` under that request_id. Refused, --force or not (before, it
 * was sent with a warning).
 */
static void test_replay_plan_masked_cards(void **state)
{
    (void)state;
    static const struct {
        const char *request;
        const char *says;
        bool masked;
    } cases[] = {
        {"{\"request_id\":\"c-1\",\"company\":1,\"order\":\"O1\",\"currency\":\"usd\","
         "\"card\":{\"number\":\"" PAN "\",\"cvv\":\"123\"}}",
         "card number in the dead-letter copy is masked", true},
        {"{\"request_id\":\"s-1\",\"company\":1,\"order\":\"O1\",\"type\":\"auth\","
         "\"svc\":{\"card_number\":\"8574906000000001\"}}",
         "card number in the dead-letter copy is masked", true},
        /* A token (nothing masked) with 3-D Secure results: their values are removed. */
        {"{\"request_id\":\"a-1\",\"company\":1,\"order\":\"O1\",\"type\":\"auth\","
         "\"card\":{\"token\":\"T1\"},\"authentication\":{\"cavv\":\"AAAB\",\"eci\":\"05\"}}",
         "values removed", false},
        /* A card field the contract does not know may hold a number: removed. */
        {"{\"request_id\":\"a-2\",\"company\":1,\"order\":\"O1\",\"type\":\"auth\","
         "\"card\":{\"token\":\"T1\",\"pan\":\"x\"}}",
         "values removed", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool changed = false;
        char *redacted =
            pl_request_redact_report(cases[i].request, strlen(cases[i].request), &changed);
        assert_null(strstr(redacted, PAN));
        assert_true(changed);
        /* As written before the envelope said "redacted" (false here), and as now. */
        for (int marked = 0; marked < 2; marked++) {
            pl_errors errs = {0};
            pl_errors_add(&errs, "currency", "must be an ISO 4217 alpha-3 code");
            char e[400];
            char *env =
                pl_dlq_envelope("must be an ISO 4217 alpha-3 code", &errs, "paylink.auth.request",
                                3, 42, redacted, marked == 1, 100000);
            pl_opsctl_dead_letter d;
            pl_opsctl_replay p;
            assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
            assert_int_equal(d.redacted, marked == 1);
            for (int force = 0; force < 2; force++) {
                e[0] = '\0';
                assert_int_equal(pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4,
                                                       force == 1, &p, e, sizeof e),
                                 PL_ERR_INVALID);
                if (!strstr(e, cases[i].says))
                    fail_msg("case %zu: \"%s\" does not say \"%s\"", i, e, cases[i].says);
                assert_int_equal(p.card_masked, cases[i].masked);
                assert_false(p.needs_force);
            }
            pl_opsctl_dlq_free(&d);
            free(env);
        }
        free(redacted);
    }
}

/* An envelope as the engine writes it for why and errs (NULL: none, as job_fail and an
 * unpublished reply write it). */
static char *envelope_why(const char *why, const pl_errors *errs, const char *request)
{
    return pl_dlq_envelope(why, errs, "paylink.auth.request", 0, 7, request, false, 100000);
}

/* env without its "redacted" member: an envelope as written before there was one. Frees env. */
static char *unmarked(char *env)
{
    json_object *o = json_tokener_parse(env);
    assert_non_null(o);
    free(env);
    json_object_object_del(o, "redacted");
    char *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    assert_non_null(out);
    json_object_put(o);
    return out;
}

/* The dlq list line (JSON and the table's NOTE) of envelope env, read from partition 0
 * offset 1. Frees env. */
static json_object *list_line(char *env, char *note, size_t note_size)
{
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    pl_ctlkafka_msg m = {.offset = 1, .timestamp_ms = -1, .payload = env, .len = strlen(env)};
    json_object *j = pl_opsctl_dlq_json(&m, &d);
    assert_non_null(j);
    pl_opsctl_dlq_note(j, note, note_size);
    pl_opsctl_dlq_free(&d);
    free(env);
    return j;
}

/*
 * dlq list shows the envelope's "redacted", so that an operator sees before a replay why it
 * would be refused: true (refused, --force or not), false, or null for an envelope written
 * before the mark (sent only with --force); the table's NOTE says it, beside "truncated". Before,
 * the line had no such member and the NOTE said nothing of it.
 */
static void test_dlq_list_shows_redacted(void **state)
{
    (void)state;
    char note[128];
    json_object *v;
    json_object *j = list_line(pl_dlq_envelope("must not contain a card number", NULL,
                                               "paylink.auth.request", 0, 7, REQUEST, true, 100000),
                               note, sizeof note);
    assert_true(json_object_object_get_ex(j, "redacted", &v));
    assert_true(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v));
    assert_string_equal(note, "redacted (replay refused)");
    json_object_put(j);

    j = list_line(envelope(REQUEST, 100000), note, sizeof note);
    assert_true(json_object_object_get_ex(j, "redacted", &v));
    assert_true(json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v));
    assert_string_equal(note, "");
    json_object_put(j);

    j = list_line(unmarked(envelope(REQUEST, 100000)), note, sizeof note);
    assert_true(json_object_object_get_ex(j, "redacted", &v));
    assert_null(v);
    assert_string_equal(note, "no redacted mark (replay needs --force)");
    json_object_put(j);

    /* Cut to fit and redacted: both said. */
    static const char big[] = "{\"v\":1,\"request_id\":\"cut-1\",\"type\":\"auth\",\"order\":"
                              "\"0123456789012345678901234567890123456789\"}";
    j = list_line(
        pl_dlq_envelope("invalid request", NULL, "paylink.auth.request", 0, 7, big, true, 200),
        note, sizeof note);
    char want[80];
    snprintf(want, sizeof want, "truncated (%zu bytes); redacted (replay refused)", strlen(big));
    assert_string_equal(note, want);
    json_object_put(j);

    /* Cut short, the NOTE stays a string. */
    j = json_tokener_parse("{\"redacted\":true}");
    pl_opsctl_dlq_note(j, note, 5);
    assert_string_equal(note, "reda");
    json_object_put(j);
}

/*
 * The redaction changes more than card.number and svc.card_number: it masks a card number in
 * any field and removes a CVV. A token authorization whose order number held a card number is
 * refused by the decoder ("must not contain a card number"); its copy has the order masked,
 * decodes with no error, and, sent again, would be approved for an order that is no one's, its
 * hold left on the card. One with a CVV would go without it. The engine marks such a copy
 * "redacted": refused, --force or not, also when the worker gave it up. A dead letter written
 * before the mark came is refused by its field error instead. (Before, both were replayed.)
 */
static void test_replay_plan_refuses_what_redaction_changed(void **state)
{
    (void)state;
    static const char *const order_pan =
        "{\"v\":1,\"request_id\":\"oc-1\",\"type\":\"auth\",\"company\":1,"
        "\"order\":\"4000123412341234\",\"pay_seq\":1,\"service\":\"CYB\",\"amount\":\"5.00\","
        "\"currency\":\"USD\",\"card\":{\"token\":\"T1\",\"exp_month\":12,\"exp_year\":2030,"
        "\"type\":\"VI\"}}";
    static const char *const with_cvv =
        "{\"v\":1,\"request_id\":\"cv-1\",\"type\":\"auth\",\"company\":1,\"order\":\"O1\","
        "\"pay_seq\":1,\"service\":\"NOPE\",\"amount\":\"5.00\",\"currency\":\"USD\","
        "\"card\":{\"token\":\"T1\",\"cvv\":\"123\",\"exp_month\":12,\"exp_year\":2030,"
        "\"type\":\"VI\"}}";
    char e[600];
    pl_opsctl_dead_letter d;
    pl_opsctl_replay p;

    /* The order's card number: refused by the decoder, the copy as the engine builds it. */
    pl_request req;
    pl_errors errs = {0};
    assert_int_equal(
        pl_request_decode(order_pan, strlen(order_pan), "auth", time(NULL), &req, &errs),
        PL_ERR_INVALID);
    pl_request_free(&req);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.e[0].field, "order");
    assert_string_equal(errs.e[0].error, PL_REQUEST_ERR_CARD_NUMBER);
    bool changed = false;
    char *copy = pl_request_redact_report(order_pan, strlen(order_pan), &changed);
    assert_true(changed);
    assert_non_null(strstr(copy, "\"order\":\"************1234\""));
    /* The copy itself passes the decoder: only the envelope tells. */
    pl_errors none = {0};
    assert_int_equal(pl_request_decode(copy, strlen(copy), "auth", time(NULL), &req, &none), PL_OK);
    pl_request_free(&req);
    char *env = pl_dlq_envelope(errs.e[0].error, &errs, "paylink.auth.request", 0, 7, copy, changed,
                                100000);
    for (int old = 0; old < 2; old++) {
        if (old)
            env = unmarked(env);
        assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
        assert_int_equal(d.redacted, !old);
        assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_INVALID);
        for (int force = 0; force < 2; force++) {
            assert_int_equal(pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4,
                                                   force == 1, &p, e, sizeof e),
                             PL_ERR_INVALID);
            assert_non_null(strstr(e, "oc-1"));
            assert_non_null(strstr(e, "it must send it anew"));
            assert_false(p.needs_force);
        }
        pl_opsctl_dlq_free(&d);
    }
    free(env);
    free(copy);

    /* "is a card number, not a token", in an old envelope. */
    pl_errors tok = {0};
    pl_errors_add(&tok, "card.token", "%s", PL_REQUEST_ERR_CARD_NOT_TOKEN);
    env = unmarked(envelope_why(PL_REQUEST_ERR_CARD_NOT_TOKEN, &tok, REQUEST));
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, true, &p, e, sizeof e),
        PL_ERR_INVALID);
    assert_non_null(strstr(e, "card number in a field that holds none"));
    pl_opsctl_dlq_free(&d);
    free(env);

    /* A token authorization with a CVV, refused for another reason (its bureau): the copy has
     * no CVV, nothing masked and nothing ***REMOVED***; only the mark tells. */
    changed = false;
    copy = pl_request_redact_report(with_cvv, strlen(with_cvv), &changed);
    assert_true(changed);
    assert_null(strstr(copy, "cvv"));
    pl_errors bureau = {0};
    pl_errors_add(&bureau, "service", "unknown service bureau");
    env = pl_dlq_envelope("unknown service bureau", &bureau, "paylink.auth.request", 0, 7, copy,
                          changed, 100000);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, force == 1,
                                               &p, e, sizeof e),
                         PL_ERR_INVALID);
        assert_non_null(strstr(e, "changed by its redaction"));
        assert_false(p.card_masked);
    }
    pl_opsctl_dlq_free(&d);
    free(env);

    /* Given up (job_fail: no field errors), its copy changed: --force does not send it. */
    env = pl_dlq_envelope("its row never settled", NULL, "paylink.auth.request", 0, 7, copy, true,
                          100000);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_GIVEN_UP);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, force == 1,
                                               &p, e, sizeof e),
                         PL_ERR_INVALID);
        assert_non_null(strstr(e, "changed by its redaction"));
        assert_false(p.needs_force);
    }
    pl_opsctl_dlq_free(&d);
    free(env);
    free(copy);

    /* The copy the redaction left as it was: replayed. */
    changed = true;
    copy = pl_request_redact_report(REQUEST, strlen(REQUEST), &changed);
    assert_false(changed);
    env = pl_dlq_envelope("unknown service bureau", &bureau, "paylink.auth.request", 0, 7, copy,
                          changed, 100000);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_OK);
    pl_opsctl_dlq_free(&d);
    free(env);
    free(copy);
}

/*
 * A dead letter written before the envelope had "redacted": its copy lost any CVV (card.cvv
 * deleted, a security code blanked), which none of the other checks sees — nothing masked,
 * nothing ***REMOVED***, no field error about a card number. Sent again, the authorization
 * would go without its CVV. Refused unless --force (needs_force: its row is still checked), and
 * said why; so too when the worker also gave it up. One with the member, false, is sent as
 * ever. (Before, the old copy was replayed without a word.)
 */
static void test_replay_plan_old_envelope_needs_force(void **state)
{
    (void)state;
    static const char *const with_cvv =
        "{\"v\":1,\"request_id\":\"cv-2\",\"type\":\"auth\",\"company\":1,\"order\":\"O1\","
        "\"pay_seq\":1,\"service\":\"NOPE\",\"amount\":\"5.00\",\"currency\":\"USD\","
        "\"card\":{\"token\":\"T1\",\"cvv\":\"123\",\"exp_month\":12,\"exp_year\":2030,"
        "\"type\":\"VI\"}}";
    char e[600];
    pl_opsctl_dead_letter d;
    pl_opsctl_replay p;
    bool changed = false;
    char *copy = pl_request_redact_report(with_cvv, strlen(with_cvv), &changed);
    assert_true(changed);
    assert_null(strstr(copy, "cvv"));
    pl_errors bureau = {0};
    pl_errors_add(&bureau, "service", "unknown service bureau");
    char *env = unmarked(envelope_why("unknown service bureau", &bureau, copy));
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_false(d.redacted_known);
    assert_false(d.redacted);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_INVALID);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_ERR_INVALID);
    assert_true(p.needs_force);
    assert_non_null(strstr(e, "cv-2"));
    assert_non_null(strstr(e, "predates the \"redacted\" mark"));
    assert_non_null(strstr(e, "CVV"));
    assert_non_null(strstr(e, "--force"));
    assert_null(strstr(e, "gave it up"));
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, true, &p, e, sizeof e), PL_OK);
    pl_opsctl_dlq_free(&d);
    free(env);

    /* Given up as well: both said; --force sends it. */
    env = unmarked(envelope_why("its row never settled", NULL, copy));
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_GIVEN_UP);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_ERR_INVALID);
    assert_true(p.needs_force);
    assert_non_null(strstr(e, "predates the \"redacted\" mark"));
    assert_non_null(strstr(e, "gave it up"));
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, true, &p, e, sizeof e), PL_OK);
    pl_opsctl_dlq_free(&d);
    free(env);
    free(copy);

    /* The member there, false: sent without --force. */
    env = envelope_why("unknown service bureau", &bureau, REQUEST);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_true(d.redacted_known);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_OK);
    assert_false(p.needs_force);
    pl_opsctl_dlq_free(&d);
    free(env);
}

/*
 * The dead letters that are no refusal of an unrecorded request (engine.c): an idempotency
 * conflict's copy (its request_id has the other request's row: sent again, one more false
 * `invalid`), an unpublished reply's (recorded and answered), and a request the worker gave up
 * (answered `error` or `timeout`: sent again, a second charge when the upstream system sent it
 * under another request_id). Refused; --force sends only the last. Before, every one was sent.
 */
static void test_replay_plan_kinds(void **state)
{
    (void)state;
    char e[500];
    pl_opsctl_dead_letter d;
    pl_opsctl_replay p;

    /* Refused as invalid (field errors, or none with "invalid request"): replayed. */
    char *env = envelope(REQUEST, 100000);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_INVALID);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_OK);
    pl_opsctl_dlq_free(&d);
    free(env);
    env = envelope_why("invalid request", NULL, REQUEST);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_INVALID);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
        PL_OK);
    pl_opsctl_dlq_free(&d);
    free(env);

    /* The engine's conflict(): refused, --force or not. */
    pl_errors conflict = {0};
    pl_errors_add(&conflict, "request_id",
                  "was already used for a different request (idempotency key conflict)");
    env = envelope_why("request_id reused with different content", &conflict, REQUEST);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_CONFLICT);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, force == 1,
                                               &p, e, sizeof e),
                         PL_ERR_INVALID);
        assert_non_null(strstr(e, "idempotency conflict"));
        assert_non_null(strstr(e, "inv-1"));
    }
    pl_opsctl_dlq_free(&d);
    free(env);
    /* Its field error alone is enough (the envelope's error worded otherwise). */
    env = envelope_why("request_id clash", &conflict, REQUEST);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_CONFLICT);
    pl_opsctl_dlq_free(&d);
    free(env);

    /* publish_failed(): the reply the broker would not take; refused, --force or not. */
    env = envelope_why("its reply could not be published (Broker: Message size too large): the "
                       "outcome is in its row",
                       NULL, REQUEST);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_UNPUBLISHED);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, force == 1,
                                               &p, e, sizeof e),
                         PL_ERR_INVALID);
        assert_non_null(strstr(e, "its reply could not be published"));
    }
    pl_opsctl_dlq_free(&d);
    free(env);

    /* job_fail(): the failure as why, no field errors. Refused; --force sends it. */
    static const char *const given_up[] = {"it was neither recorded nor found",
                                           "its row never settled", "its row is gone",
                                           "ERROR: could not serialize access", ""};
    for (size_t i = 0; i < sizeof given_up / sizeof given_up[0]; i++) {
        env = envelope_why(given_up[i], NULL, REQUEST);
        assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
        assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_GIVEN_UP);
        assert_int_equal(
            pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, false, &p, e, sizeof e),
            PL_ERR_INVALID);
        assert_non_null(strstr(e, "gave request inv-1 up"));
        assert_non_null(strstr(e, "--force"));
        /* Not "--force sends it" alone: a `timeout` has a row, which refuses it all the same. */
        assert_non_null(strstr(e, "provided its request_id has no row"));
        assert_true(p.needs_force);
        assert_int_equal(
            pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, true, &p, e, sizeof e),
            PL_OK);
        assert_string_equal(p.key, "1-O1");
        pl_opsctl_dlq_free(&d);
        free(env);
    }

    /* No request_id the contract accepts, or no JSON object: the worker refuses it again, and
     * its row cannot be looked for. */
    static const char *const no_id[] = {"{\"type\":\"auth\",\"company\":1,\"order\":\"O1\"}",
                                        "{\"request_id\":\"a b\",\"company\":1,\"order\":\"O1\"}",
                                        "{\"request_id\":7,\"company\":1,\"order\":\"O1\"}"};
    for (size_t i = 0; i < sizeof no_id / sizeof no_id[0]; i++) {
        env = envelope(no_id[i], 100000);
        assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
        assert_int_equal(
            pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, true, &p, e, sizeof e),
            PL_ERR_INVALID);
        assert_non_null(strstr(e, "no request_id"));
        pl_opsctl_dlq_free(&d);
        free(env);
    }
    env = envelope("this is not json", 100000);
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_int_equal(
        pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, true, &p, e, sizeof e),
        PL_ERR_INVALID);
    assert_non_null(strstr(e, "not a JSON object"));
    pl_opsctl_dlq_free(&d);
    free(env);
}

/* An envelope as the engine writes it now (engine.c, dead_letter_text): with its kind, and for a
 * request given up how it was answered. */
static char *envelope_kind(const char *kind, const char *answered, const char *why,
                           const pl_errors *errs, const char *request)
{
    return pl_dlq_envelope_kind(kind, answered, why, errs, "paylink.auth.request", 0, 7, request,
                                false, 100000);
}

/* pl_opsctl_replay_plan of env (read from its key "1-O1"): its return, with the refusal in e. */
static int plan_of(const char *env, bool force, pl_opsctl_replay *p, char *e, size_t esize)
{
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    e[0] = '\0';
    int rc = pl_opsctl_replay_plan(&d, "paylink.auth.request", "1-O1", 4, force, p, e, esize);
    pl_opsctl_dlq_free(&d);
    return rc;
}

/* The kind of envelope env. */
static pl_opsctl_dlq_kind kind_of(const char *env)
{
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    pl_opsctl_dlq_kind k = pl_opsctl_dlq_kind_of(&d);
    pl_opsctl_dlq_free(&d);
    return k;
}

/*
 * The engine says what a dead letter is ("kind", dlq.h): that is what paylinkctl goes by, not
 * the words of its "error", which are a database's for a request given up and may read like
 * another kind's. Before, the words alone decided: a request given up whose failure read
 * "invalid request" was replayed without --force, an `invalid` refusal worded like a failure
 * was refused as given up, and a conflict or an unpublished reply not worded as the engine once
 * did was taken for a request given up (--force sent it, but for its row). A kind this build
 * does not know is refused, --force or not. Envelopes without a kind are told by their words as
 * before (test_replay_plan_kinds).
 */
static void test_dlq_kind_read_first(void **state)
{
    (void)state;
    char e[1024];
    pl_opsctl_replay p;

    /* Given up, its failure worded as the refusal of an invalid request. */
    char *env = envelope_kind(PL_DLQ_KIND_GIVEN_UP, "error", "invalid request", NULL, REQUEST);
    assert_int_equal(kind_of(env), PL_OPSCTL_DLQ_GIVEN_UP);
    assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_ERR_INVALID);
    assert_true(p.needs_force);
    assert_non_null(strstr(e, "gave request inv-1 up"));
    assert_int_equal(plan_of(env, true, &p, e, sizeof e), PL_OK);
    free(env);

    /* Refused as invalid, worded as a failure (no field errors): replayed without --force. */
    env = envelope_kind(PL_DLQ_KIND_INVALID, NULL, "its row never settled", NULL, REQUEST);
    assert_int_equal(kind_of(env), PL_OPSCTL_DLQ_INVALID);
    assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_OK);
    assert_false(p.needs_force);
    free(env);

    /* A conflict and an unpublished reply, worded otherwise: refused, --force or not. */
    env = envelope_kind(PL_DLQ_KIND_CONFLICT, NULL, "request_id clash", NULL, REQUEST);
    assert_int_equal(kind_of(env), PL_OPSCTL_DLQ_CONFLICT);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(plan_of(env, force == 1, &p, e, sizeof e), PL_ERR_INVALID);
        assert_non_null(strstr(e, "idempotency conflict"));
        assert_false(p.needs_force);
    }
    free(env);
    env = envelope_kind(PL_DLQ_KIND_UNPUBLISHED, NULL, "the reply was too large", NULL, REQUEST);
    assert_int_equal(kind_of(env), PL_OPSCTL_DLQ_UNPUBLISHED);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(plan_of(env, force == 1, &p, e, sizeof e), PL_ERR_INVALID);
        assert_non_null(strstr(e, "its reply could not be published"));
        assert_false(p.needs_force);
    }
    free(env);

    /* A kind this build does not know (a newer worker's), worded as an invalid request's:
     * refused, --force or not, named as it may be printed. */
    pl_errors errs = {0};
    pl_errors_add(&errs, "currency", "must be an ISO 4217 alpha-3 code");
    env = envelope_kind("parked", NULL, "invalid request", &errs, REQUEST);
    assert_int_equal(kind_of(env), PL_OPSCTL_DLQ_OTHER);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(plan_of(env, force == 1, &p, e, sizeof e), PL_ERR_INVALID);
        assert_non_null(strstr(e, "its kind \"parked\" is none this paylinkctl knows"));
        assert_false(p.needs_force);
    }
    free(env);
    env = envelope_kind("x\n" PAN, NULL, "invalid request", &errs, REQUEST);
    assert_int_equal(plan_of(env, true, &p, e, sizeof e), PL_ERR_INVALID);
    assert_null(strstr(e, PAN));
    assert_null(strchr(e, '\n'));
    free(env);

    /* No kind (written before there was one), and a "kind" that is no string: the words. */
    env = envelope_why("invalid request", NULL, REQUEST);
    assert_int_equal(kind_of(env), PL_OPSCTL_DLQ_INVALID);
    free(env);
    static const char *const not_string =
        "{\"error\":\"its row never settled\",\"kind\":7,\"request\":\"x\",\"redacted\":false}";
    assert_int_equal(kind_of(not_string), PL_OPSCTL_DLQ_GIVEN_UP);
}

/*
 * A record of the request topic the consumer could not read (engine.c, start_unreadable) is
 * dead-lettered with kind `unreadable`, where it was and an empty request: replay refuses it,
 * --force or not, saying there is nothing to send, where it was, and that the upstream system
 * must send it again. Before, paylinkctl took it for a request given up (no field errors) and
 * refused it as "not a JSON object", which told the operator nothing of the kind.
 */
static void test_replay_plan_unreadable(void **state)
{
    (void)state;
    char e[1024];
    pl_opsctl_replay p;
    char *env = pl_dlq_envelope_kind(PL_DLQ_KIND_UNREADABLE, NULL,
                                     "the record could not be read (_BAD_MSG): Local: Bad message "
                                     "format at offset 99",
                                     NULL, "paylink.auth.request", 2, 99, "", false, 100000);
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    assert_string_equal(d.kind, PL_DLQ_KIND_UNREADABLE);
    assert_int_equal(d.request_len, 0);
    assert_null(d.request_id);
    assert_int_equal(pl_opsctl_dlq_kind_of(&d), PL_OPSCTL_DLQ_UNREADABLE);
    pl_opsctl_dlq_free(&d);
    for (int force = 0; force < 2; force++) {
        assert_int_equal(plan_of(env, force == 1, &p, e, sizeof e), PL_ERR_INVALID);
        assert_non_null(strstr(e, "could not read"));
        assert_non_null(strstr(e, "nothing to send"));
        assert_non_null(strstr(e, "partition 2, offset 99 of paylink.auth.request"));
        assert_non_null(strstr(e, "the upstream system must send that request again"));
        assert_false(p.needs_force);
    }
    /* Where it was comes first: another topic's or a truncated one says it all the same. */
    char *other = pl_dlq_envelope_kind(PL_DLQ_KIND_UNREADABLE, NULL, "unreadable", NULL,
                                       "other.auth.request", 0, 5, "", false, 100000);
    assert_int_equal(plan_of(other, false, &p, e, sizeof e), PL_ERR_INVALID);
    assert_non_null(strstr(e, "partition 0, offset 5 of other.auth.request"));
    free(other);

    /* dlq list: its kind, no request_id. */
    char note[128], cell[96];
    json_object *j = list_line(env, note, sizeof note);
    assert_string_equal(json_object_get_string(json_object_object_get(j, "kind")), "unreadable");
    assert_null(json_object_object_get(j, "answered"));
    assert_null(json_object_object_get(j, "request_id"));
    pl_opsctl_dlq_kind_cell(j, cell, sizeof cell);
    assert_string_equal(cell, "unreadable");
    json_object_put(j);
}

/*
 * A request the worker gave up says how it was answered ("answered"): `error`, nothing can have
 * reached the bureau (the upstream system may have sent it again under another request_id:
 * ask it, then --force); `timeout`, its outcome unknown (an operator must settle it first; its
 * row refuses a replay, --force or not, and the operator is told both). --force works as ever:
 * it sends one whose request_id has no row, whichever the answer. Before, the refusal said
 * "`error` (not sent to the bureau) or `timeout` (outcome unknown)" for every one, and a
 * given-up `timeout` refused by its row said nothing of settling it.
 */
static void test_replay_plan_given_up_answered(void **state)
{
    (void)state;
    char e[1024], out[1024];
    pl_opsctl_replay p;
    static const char *const why[] = {"it was neither recorded nor found",
                                      "insert failed: ERROR: value too long"};

    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
        char *env = envelope_kind(PL_DLQ_KIND_GIVEN_UP, "error", why[i], NULL, REQUEST);
        assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_ERR_INVALID);
        assert_true(p.needs_force);
        assert_non_null(strstr(e, "gave request inv-1 up"));
        assert_non_null(strstr(e, "answered it `error`"));
        assert_non_null(strstr(e, "nothing can have reached the bureau"));
        assert_non_null(strstr(e, "under another request_id"));
        assert_non_null(strstr(e, "ask the upstream system first"));
        assert_non_null(strstr(e, "--force sends it, provided its request_id has no row"));
        assert_null(strstr(e, "timeout"));
        assert_int_equal(plan_of(env, true, &p, e, sizeof e), PL_OK);
        assert_false(p.needs_force);
        free(env);
    }

    char *env =
        envelope_kind(PL_DLQ_KIND_GIVEN_UP, "timeout", "its row never settled", NULL, REQUEST);
    assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_ERR_INVALID);
    assert_true(p.needs_force);
    assert_non_null(strstr(e, "gave request inv-1 up"));
    assert_non_null(strstr(e, "answered it `timeout`"));
    assert_non_null(strstr(e, "its outcome is unknown"));
    assert_non_null(strstr(e, "an operator must settle it first"));
    assert_non_null(strstr(e, "paylinkctl wreq show inv-1"));
    assert_non_null(strstr(e, "provided its request_id has no row"));
    assert_null(strstr(e, "`error`"));
    /* --force as ever: the plan lets it through, its row (a `timeout` has one) does not. */
    assert_int_equal(plan_of(env, true, &p, e, sizeof e), PL_OK);

    /* Refused by its row: the row, and that its outcome is to be settled. */
    static const char *const rowerr =
        "request_id inv-1 already has a row in cc_auth_trans (status sent): a request with a "
        "row is answered from it";
    pl_opsctl_dead_letter d;
    assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
    pl_opsctl_replay_row_refusal(&d, rowerr, out, sizeof out);
    assert_true(strncmp(out, rowerr, strlen(rowerr)) == 0);
    assert_non_null(strstr(out, "answered `timeout`"));
    assert_non_null(strstr(out, "an operator must settle it first"));
    assert_non_null(strstr(out, "paylinkctl wreq show inv-1"));
    pl_opsctl_replay_row_refusal(&d, rowerr, out, 10);
    assert_int_equal(strlen(out), 9);
    pl_opsctl_replay_row_refusal(&d, rowerr, out, 0); /* nothing written */
    pl_opsctl_dlq_free(&d);
    free(env);

    /* Given up `error`, an invalid one, an old envelope: the row's words alone. */
    static const struct {
        const char *kind, *answered, *why;
    } row_alone[] = {{PL_DLQ_KIND_GIVEN_UP, "error", "it was neither recorded nor found"},
                     {PL_DLQ_KIND_INVALID, "timeout", "unknown service bureau"},
                     {NULL, NULL, "its row never settled"}};
    for (size_t i = 0; i < sizeof row_alone / sizeof row_alone[0]; i++) {
        env = envelope_kind(row_alone[i].kind, row_alone[i].answered, row_alone[i].why, NULL,
                            REQUEST);
        assert_int_equal(pl_opsctl_dlq_parse(env, strlen(env), &d), PL_OK);
        pl_opsctl_replay_row_refusal(&d, rowerr, out, sizeof out);
        assert_string_equal(out, rowerr);
        pl_opsctl_dlq_free(&d);
        free(env);
    }

    /* An answer this build does not know: said as before, --force as before. */
    env = envelope_kind(PL_DLQ_KIND_GIVEN_UP, "later", "its row is gone", NULL, REQUEST);
    assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_ERR_INVALID);
    assert_true(p.needs_force);
    assert_non_null(strstr(e, "answered `error` (not sent to the bureau) or `timeout`"));
    assert_int_equal(plan_of(env, true, &p, e, sizeof e), PL_OK);
    free(env);

    /* Written without the "redacted" mark as well: both said, with how it was answered. */
    env = unmarked(
        envelope_kind(PL_DLQ_KIND_GIVEN_UP, "timeout", "its row never settled", NULL, REQUEST));
    assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_ERR_INVALID);
    assert_true(p.needs_force);
    assert_non_null(strstr(e, "predates the \"redacted\" mark"));
    assert_non_null(strstr(e, "answered `timeout`: its outcome is unknown"));
    assert_int_equal(plan_of(env, true, &p, e, sizeof e), PL_OK);
    free(env);
    env = unmarked(
        envelope_kind(PL_DLQ_KIND_GIVEN_UP, "error", "its row never settled", NULL, REQUEST));
    assert_int_equal(plan_of(env, false, &p, e, sizeof e), PL_ERR_INVALID);
    assert_non_null(strstr(e, "answered `error`: nothing can have reached the bureau"));
    free(env);
}

/* Member key of obj as a string, or "(null)" for null. */
static const char *member(json_object *obj, const char *key)
{
    json_object *v;
    assert_true(json_object_object_get_ex(obj, key, &v));
    return v ? json_object_get_string(v) : "(null)";
}

/*
 * dlq list says what each dead letter is: "kind" (the envelope's, or for one without, the kind
 * its words tell, "kind_inferred" true) and "answered" for a request given up (null otherwise);
 * the table's KIND column says the same ("given_up (timeout)", "given_up (inferred)"). Before,
 * neither said it: an operator learnt the kind only from a replay's refusal.
 */
static void test_dlq_list_shows_kind(void **state)
{
    (void)state;
    char note[128], cell[96];
    static const struct {
        const char *kind, *answered, *why;
        const char *want_kind, *want_answered, *want_inferred, *want_cell;
    } cases[] = {
        {PL_DLQ_KIND_GIVEN_UP, "timeout", "its row never settled", "given_up", "timeout", "false",
         "given_up (timeout)"},
        {PL_DLQ_KIND_GIVEN_UP, "error", "it was neither recorded nor found", "given_up", "error",
         "false", "given_up (error)"},
        {PL_DLQ_KIND_INVALID, NULL, "invalid request", "invalid", "(null)", "false", "invalid"},
        /* "answered" belongs to a request given up alone. */
        {PL_DLQ_KIND_CONFLICT, "error", "request_id reused with different content", "conflict",
         "(null)", "false", "conflict"},
        {PL_DLQ_KIND_UNPUBLISHED, NULL, "its reply could not be published", "unpublished", "(null)",
         "false", "unpublished"},
        {"x\tnew", NULL, "invalid request", "x?new", "(null)", "false", "x?new"},
        /* Written before there was a kind: told by its words, and said so. */
        {NULL, NULL, "its row never settled", "given_up", "(null)", "true", "given_up (inferred)"},
        {NULL, NULL, "invalid request", "invalid", "(null)", "true", "invalid (inferred)"},
        {NULL, NULL, "request_id reused with different content", "conflict", "(null)", "true",
         "conflict (inferred)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *j =
            list_line(envelope_kind(cases[i].kind, cases[i].answered, cases[i].why, NULL, REQUEST),
                      note, sizeof note);
        assert_string_equal(member(j, "kind"), cases[i].want_kind);
        assert_string_equal(member(j, "answered"), cases[i].want_answered);
        assert_string_equal(member(j, "kind_inferred"), cases[i].want_inferred);
        pl_opsctl_dlq_kind_cell(j, cell, sizeof cell);
        if (strcmp(cell, cases[i].want_cell) != 0)
            fail_msg("case %zu: KIND \"%s\", want \"%s\"", i, cell, cases[i].want_cell);
        assert_string_equal(note, "");
        json_object_put(j);
    }

    /* No envelope: no kind, an empty cell; cut short, the cell stays a string. */
    pl_ctlkafka_msg m = {.offset = 1, .timestamp_ms = -1, .payload = "x", .len = 1};
    json_object *j = pl_opsctl_dlq_json(&m, NULL);
    assert_false(json_object_object_get_ex(j, "kind", NULL));
    strcpy(cell, "junk");
    pl_opsctl_dlq_kind_cell(j, cell, sizeof cell);
    assert_string_equal(cell, "");
    json_object_put(j);
    j = json_tokener_parse("{\"kind\":\"given_up\",\"answered\":\"timeout\"}");
    pl_opsctl_dlq_kind_cell(j, cell, 6);
    assert_string_equal(cell, "given");
    pl_opsctl_dlq_kind_cell(j, cell, 0); /* nothing written */
    json_object_put(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wreq_list_options),
        cmocka_unit_test(test_wreq_show_options),
        cmocka_unit_test(test_wreq_resolve_options),
        cmocka_unit_test(test_wreq_resolve_note_length),
        cmocka_unit_test(test_wreq_retry_options),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_owner),
        cmocka_unit_test(test_resolve_outcome),
        cmocka_unit_test(test_resolve_amount),
        cmocka_unit_test(test_wreq_state),
        cmocka_unit_test(test_publisher_without_brokers),
        cmocka_unit_test(test_order_show_options),
        cmocka_unit_test(test_hidden_card_numbers_refused),
        cmocka_unit_test(test_stats_options),
        cmocka_unit_test(test_dlq_options),
        cmocka_unit_test(test_common_refusals),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_ages),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_table_long_cells_and_growth),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_dlq_parse),
        cmocka_unit_test(test_dlq_json),
        cmocka_unit_test(test_dlq_json_scrubs_envelope_texts),
        cmocka_unit_test(test_dlq_list_shows_redacted),
        cmocka_unit_test(test_replay_output_scrubs_envelope_texts),
        cmocka_unit_test(test_replay_plan),
        cmocka_unit_test(test_replay_plan_masked_cards),
        cmocka_unit_test(test_replay_plan_kinds),
        cmocka_unit_test(test_replay_plan_refuses_what_redaction_changed),
        cmocka_unit_test(test_replay_plan_old_envelope_needs_force),
        cmocka_unit_test(test_dlq_kind_read_first),
        cmocka_unit_test(test_replay_plan_unreadable),
        cmocka_unit_test(test_replay_plan_given_up_answered),
        cmocka_unit_test(test_dlq_list_shows_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
