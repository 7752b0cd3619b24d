/*
 * test_dm_report.c: the Decision Manager Conversion Detail Report (common/dm_report.h): the
 * seed's sample report read field by field and its order messages as the seed shows them, the
 * service's plain-text errors, the refusals (malformed XML, another root, entity declarations
 * and references), the Conversions that cannot be read and are left out alone (a decision's
 * value over-long or twice, no RequestID), the values that decide nothing and never refuse
 * (cut, or dropped), the empty report, the "Classic" variant, and the report window across
 * midnight, month and year ends, catching up, overlapping the last one and with a clock that
 * stepped back. Fixtures: tests/fixtures/dm/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "card.h"
#include "dm_report.h"
#include "xml_test_helpers.h"

/* A Luhn-valid card number. */
#define PAN "4111111111111111"

/* The seed's header lines: XML declaration, DOCTYPE (never fetched) and stylesheet. */
#define SEED_HEAD                                                                                  \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                                 \
    "<!DOCTYPE Report SYSTEM \"https://ebctest.cybersource.com/ebctest/reports/dtd/cdr.dtd\">\n"   \
    "<?xml-stylesheet type=\"text/xsl\" "                                                          \
    "href=\"https://ebctest.cybersource.com/ebctest/reports/xsl/ConversionDetailReport.xsl\"?>\n"
#define REPORT_OPEN                                                                                \
    "<Report xmlns=\"https://ebctest.cybersource.com/ebctest/reports/dtd/cdr.dtd\" "               \
    "MerchantID=\"mr\" Name=\"Conversion Detail Report\" Version=\"1.1\">"
#define CONV_OPEN(request_id)                                                                      \
    "<Conversion MerchantReferenceNumber=\"0070000491701000\" ConversionDate=\"2014-06-24 "        \
    "17:03:03\" RequestID=\"" request_id "\">"

static char *fixture(const char *name, size_t *len)
{
    char *body = xml_test_read_fixture("dm", name, len);
    assert_non_null(body);
    return body;
}

static void parse_ok(const char *body, size_t len, pl_dm_report *r)
{
    char err[256] = "";
    int rc = pl_dm_report_parse(body, len, r, err, sizeof err);
    if (rc != 0)
        fail_msg("parse failed (%d): %s", rc, err);
}

/* Parses text expecting the error want; err gets errstr, which must not be empty. */
static void parse_refused(const char *text, size_t len, int want, char *err, size_t errsize)
{
    pl_dm_report r;
    memset(&r, 0x5a, sizeof r);
    err[0] = '\0';
    int rc = pl_dm_report_parse(text, len, &r, err, errsize);
    if (rc != want)
        fail_msg("want %d, got %d (%s) for: %.80s", want, rc, err, text ? text : "(null)");
    assert_true(err[0] != '\0');
    /* Nothing half applied: the report is empty on failure. */
    assert_null(r.conversions);
    assert_int_equal(r.nconversions, 0);
    assert_string_equal(r.merchant_id, "");
}

static void refused(const char *text, int want, char *err, size_t errsize)
{
    parse_refused(text, strlen(text), want, err, errsize);
}

/* ---------------------------------------------------------------------------------------- */
/* The seed's report */

static void test_seed_report(void **state)
{
    (void)state;
    size_t len;
    char *body = fixture("seed_report.xml", &len);
    pl_dm_report r;
    parse_ok(body, len, &r);
    free(body);

    assert_string_equal(r.merchant_id, "mr");
    assert_string_equal(r.name, "Conversion Detail Report");
    assert_string_equal(r.start, "2014-06-24 00:00:00GMT");
    assert_string_equal(r.end, "2014-06-24 17:24:04GMT");
    assert_string_equal(r.version, "1.1");
    assert_int_equal(r.nconversions, 2);

    const pl_dm_conversion *c = &r.conversions[0];
    assert_string_equal(c->merchant_reference, "0070000491701000");
    assert_string_equal(c->conversion_date, "2014-06-24 17:03:03");
    assert_string_equal(c->request_id, "4036289939370176056470");
    assert_string_equal(c->original_decision, "REVIEW");
    assert_string_equal(c->new_decision, "ACCEPT");
    assert_string_equal(c->reviewer, "mr");
    assert_string_equal(c->reviewer_comments,
                        "Approved by KAB | Issuer verified name and address.");
    assert_int_equal(c->nnotes, 1);
    assert_string_equal(c->notes[0].date, "2014-06-24 17:03:03");
    assert_string_equal(c->notes[0].added_by, "mr");
    assert_string_equal(c->notes[0].comment, "Took ownership.");
    assert_string_equal(c->queue, "Example");
    assert_string_equal(c->profile, "Example");

    c = &r.conversions[1];
    assert_string_equal(c->merchant_reference, "0070000491801000");
    assert_string_equal(c->conversion_date, "2014-06-24 17:22:33");
    assert_string_equal(c->request_id, "4036303746210176056470");
    assert_string_equal(c->original_decision, "REVIEW");
    assert_string_equal(c->new_decision, "REJECT");
    assert_string_equal(c->reviewer, "mr");
    assert_string_equal(c->reviewer_comments, "Rejected by KAB | Fraud.");
    assert_int_equal(c->nnotes, 1);
    assert_string_equal(c->notes[0].date, "2014-06-24 17:22:33");
    assert_string_equal(c->notes[0].comment, "Took ownership.");
    assert_string_equal(c->queue, "Example");
    assert_string_equal(c->profile, "Example");

    pl_dm_report_free(&r);
    assert_null(r.conversions);
    assert_int_equal(r.nconversions, 0);
    pl_dm_report_free(&r); /* twice is harmless */
    pl_dm_report_free(NULL);
}

static void test_seed_messages(void **state)
{
    (void)state;
    size_t len;
    char *body = fixture("seed_report.xml", &len);
    pl_dm_report r;
    parse_ok(body, len, &r);
    free(body);

    char msgs[8][513];
    size_t n = pl_dm_messages(&r.conversions[0], msgs, 8);
    assert_int_equal(n, 2);
    assert_string_equal(msgs[0], "APPROVED BY KAB | ISSUER VERIFIED NAME AND ADDRESS");
    assert_string_equal(msgs[1], "TOOK OWNERSHIP");

    n = pl_dm_messages(&r.conversions[1], msgs, 8);
    assert_int_equal(n, 2);
    assert_string_equal(msgs[0], "REJECTED BY KAB | FRAUD");
    assert_string_equal(msgs[1], "TOOK OWNERSHIP");

    /* max bounds what is written. */
    memset(msgs, 'x', sizeof msgs);
    assert_int_equal(pl_dm_messages(&r.conversions[0], msgs, 1), 1);
    assert_string_equal(msgs[0], "APPROVED BY KAB | ISSUER VERIFIED NAME AND ADDRESS");
    assert_int_equal(msgs[1][0], 'x');
    assert_int_equal(pl_dm_messages(&r.conversions[0], msgs, 0), 0);
    assert_int_equal(pl_dm_messages(NULL, msgs, 8), 0);
    pl_dm_report_free(&r);
}

/* The body need not be NUL-terminated: only len bytes are read. */
static void test_not_nul_terminated(void **state)
{
    (void)state;
    size_t len;
    char *body = fixture("seed_report.xml", &len);
    char *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, body, len);
    free(body);
    pl_dm_report r;
    parse_ok(copy, len, &r);
    assert_int_equal(r.nconversions, 2);
    pl_dm_report_free(&r);

    /* Cut short, the same bytes are not XML any more. */
    char err[256];
    parse_refused(copy, len / 2, PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "not XML"));
    free(copy);
}

/* ---------------------------------------------------------------------------------------- */
/* The service's plain-text errors */

static void test_plain_text_errors(void **state)
{
    (void)state;
    char err[256];
    refused("Invalid login credentials.", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "Invalid login credentials.");
    refused("No merchant found for username.", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "No merchant found for username.");
    /* Line ends, a byte order mark and other non-printable bytes do not reach the log. */
    refused("\xef\xbb\xbfInvalid login\r\n\tcredentials.\r\n", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "Invalid login credentials.");
    refused("Caf\xc3\xa9 \x01\x1b[31mclosed\x7f", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "Caf [31mclosed");

    /* Any short text is the service's error; card numbers in it are masked. */
    refused("Card " PAN " refused", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "Card ************1111 refused");
    refused("Card 4111 1111 1111 1111 refused", PL_ERR_AUTH, err, sizeof err);
    assert_null(strstr(err, "4111 1111"));
    assert_non_null(strstr(err, "1111 refused"));
    /* A stored value card number has no check digit: every run of 10 digits is masked. */
    refused("Account 9117230675152172 locked", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "Account ************2172 locked");

    /* At most 200 characters, and a card number the cut would split leaves no digits. */
    char text[600];
    memset(text, 'a', sizeof text);
    memcpy(text + 190, PAN, 16);
    text[sizeof text - 1] = '\0';
    refused(text, PL_ERR_AUTH, err, sizeof err);
    assert_int_equal(strlen(err), 200);
    assert_null(strpbrk(err, "0123456789"));
    /* Here the cut falls in the last four: the two digits before it are dropped too. */
    memset(text, 'a', sizeof text - 1);
    memcpy(text + 186, PAN, 16);
    refused(text, PL_ERR_AUTH, err, sizeof err);
    assert_int_equal(strlen(err), 198);
    assert_null(strpbrk(err, "0123456789"));

    /* errstr smaller than the text: cut, still NUL-terminated. */
    char small[8];
    refused("Invalid login credentials.", PL_ERR_AUTH, small, sizeof small);
    assert_string_equal(small, "Invalid");

    /* A long text is not the service's short error. */
    char big[PL_DM_PLAIN_TEXT_MAX + 2];
    memset(big, 'b', sizeof big);
    big[sizeof big - 1] = '\0';
    refused(big, PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "not XML"));
    assert_true(strlen(err) < 120);

    /* Empty, blank or unreadable bodies. */
    parse_refused(NULL, 0, PL_ERR_PARSE, err, sizeof err);
    assert_string_equal(err, "empty body");
    parse_refused("x", 0, PL_ERR_PARSE, err, sizeof err);
    assert_string_equal(err, "empty body");
    refused(" \r\n\t ", PL_ERR_PARSE, err, sizeof err);
    assert_string_equal(err, "empty body");
    refused("\x01\x02\xc3\xa9", PL_ERR_PARSE, err, sizeof err);
    parse_refused("\0\0\0", 3, PL_ERR_PARSE, err, sizeof err);

    /* errstr may be NULL. */
    pl_dm_report r;
    assert_int_equal(pl_dm_report_parse("Invalid login credentials.", 26, &r, NULL, 0),
                     PL_ERR_AUTH);
    assert_string_equal(pl_err_str(PL_ERR_AUTH), "authentication error");
}

/* ---------------------------------------------------------------------------------------- */
/* Refusals */

static void test_malformed(void **state)
{
    (void)state;
    char err[256];
    refused("<Report><Conversion RequestID=\"1\"></Report>", PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "not XML (line 1)"));
    refused("<Report", PL_ERR_PARSE, err, sizeof err);
    refused(SEED_HEAD REPORT_OPEN CONV_OPEN("1") "<NewDecision>ACCEPT</NewDecision>", PL_ERR_PARSE,
            err, sizeof err);
    refused("<Report/><Report/>", PL_ERR_PARSE, err, sizeof err);
    /* libxml2's message quotes the document: a card number in it is masked. */
    refused("<Report><"
            "a" PAN "></b" PAN "></Report>",
            PL_ERR_PARSE, err, sizeof err);
    assert_null(strstr(err, PAN));
}

static void test_not_a_report(void **state)
{
    (void)state;
    char err[256];
    refused("<html><body><h1>Service Unavailable</h1></body></html>", PL_ERR_PARSE, err,
            sizeof err);
    assert_string_equal(err,
                        "not a Conversion Detail Report: the root element is <html>, not <Report>");
    refused("<?xml version=\"1.0\"?>\n<soap:Envelope "
            "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body/></soap:Envelope>",
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "<Envelope>"));
    refused("<CaseManagementOrderStatus><Update RequestID=\"1\"/></CaseManagementOrderStatus>",
            PL_ERR_PARSE, err, sizeof err);
    /* A long root name is quoted short. */
    char text[400];
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(text, sizeof text, "<%s/>", name);
    refused(text, PL_ERR_PARSE, err, sizeof err);
    assert_true(strlen(err) < 120);
}

static void test_entities_refused(void **state)
{
    (void)state;
    char err[256];
    size_t len;
    char *body = fixture("billion_laughs.xml", &len);
    parse_refused(body, len, PL_ERR_PARSE, err, sizeof err);
    free(body);
    assert_string_equal(err, "the DTD declares an entity (lol): entity declarations are refused");

    /* XXE: an external entity, general or parameter, is never fetched. */
    refused("<?xml version=\"1.0\"?><!DOCTYPE Report [<!ENTITY x SYSTEM "
            "\"file:///etc/passwd\">]><Report>&x;</Report>",
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "declares an entity (x)"));
    refused("<!DOCTYPE Report [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/x.dtd\"> %p;]><Report/>",
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "declares an entity (p)"));
    refused("<!DOCTYPE Report [<!ENTITY x \"y\">]><Report/>", PL_ERR_PARSE, err, sizeof err);

    /* An entity the external DTD might declare is not silently dropped from a value. */
    refused(SEED_HEAD REPORT_OPEN CONV_OPEN("1") "<Reviewer>&someone;</Reviewer></Conversion>"
                                                 "</Report>",
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "entity someone"));
    refused(SEED_HEAD REPORT_OPEN CONV_OPEN("40362&x;") "</Conversion></Report>", PL_ERR_PARSE, err,
            sizeof err);

    /* An internal subset without entities is accepted, but its attribute defaults are not
     * values anyone sent. */
    pl_dm_report r;
    const char *attlist = "<!DOCTYPE Report [<!ATTLIST Conversion RequestID CDATA \"999\">]>"
                          "<Report><Conversion/></Report>";
    parse_ok(attlist, strlen(attlist), &r);
    assert_int_equal(r.nconversions, 0);
    assert_int_equal(r.nunreadable, 1);
    assert_string_equal(r.unreadable[0].why, "Conversion 1 has no RequestID");
    assert_string_equal(r.unreadable[0].request_id, "");
    pl_dm_report_free(&r);
    const char *ok = "<!DOCTYPE Report [<!ELEMENT Report ANY>]><Report MerchantID=\"mr\"/>";
    parse_ok(ok, strlen(ok), &r);
    assert_string_equal(r.merchant_id, "mr");
    pl_dm_report_free(&r);

    /* The predefined entities and character references are text as usual. */
    const char *amp = REPORT_OPEN CONV_OPEN("1") "<ReviewerComments>A &amp; B &lt;ok&gt; &#65;"
                                                 "</ReviewerComments><Notes><Note Comment=\"x "
                                                 "&amp; &quot;y&quot; &apos;z&apos;\"/></Notes>"
                                                 "</Conversion></Report>";
    parse_ok(amp, strlen(amp), &r);
    assert_string_equal(r.conversions[0].reviewer_comments, "A & B <ok> A");
    assert_string_equal(r.conversions[0].notes[0].comment, "x & \"y\" 'z'");
    pl_dm_report_free(&r);
}

/* The one unreadable Conversion of r, at index, for why. */
static const pl_dm_unreadable *unreadable_one(const pl_dm_report *r, size_t index)
{
    assert_int_equal(r->nunreadable, 1);
    assert_non_null(r->unreadable);
    assert_int_equal(r->unreadable[0].index, index);
    return &r->unreadable[0];
}

/*
 * A Conversion without a RequestID cannot be applied: it is left out, named for the log, and
 * the others are read. Before, the whole report was refused, and asked again it was refused
 * again, every run: every later decision of the company held back for good.
 */
static void test_missing_request_id(void **state)
{
    (void)state;
    pl_dm_report r;
    const char *text = REPORT_OPEN CONV_OPEN(
        "4036289939370176056470") "<NewDecision>ACCEPT</NewDecision></Conversion><Conversion "
                                  "MerchantReferenceNumber=\"7\"><NewDecision>REJECT</NewDecision>"
                                  "</Conversion>" CONV_OPEN(
                                      "4036303746210176056470") "<NewDecision>REJECT</"
                                                                "NewDecision></Conversion></"
                                                                "Report>";
    parse_ok(text, strlen(text), &r);
    assert_int_equal(r.nconversions, 2);
    assert_string_equal(r.conversions[0].request_id, "4036289939370176056470");
    assert_string_equal(r.conversions[0].new_decision, "ACCEPT");
    assert_string_equal(r.conversions[1].request_id, "4036303746210176056470");
    assert_string_equal(r.conversions[1].new_decision, "REJECT");
    const pl_dm_unreadable *u = unreadable_one(&r, 2);
    assert_string_equal(u->why, "Conversion 2 has no RequestID");
    assert_string_equal(u->request_id, "");
    assert_string_equal(u->merchant_reference, "7");
    pl_dm_report_free(&r);
    assert_null(r.unreadable);
    assert_int_equal(r.nunreadable, 0);

    /* Blank is none; the only Conversion unreadable leaves none read. */
    text = REPORT_OPEN CONV_OPEN("  \n ") "</Conversion></Report>";
    parse_ok(text, strlen(text), &r);
    assert_int_equal(r.nconversions, 0);
    assert_null(r.conversions);
    assert_string_equal(unreadable_one(&r, 1)->why, "Conversion 1 has no RequestID");
    pl_dm_report_free(&r);
}

/* A report with one Conversion whose `name` element holds `len` copies of c. */
static char *report_with(const char *name, size_t len, char c)
{
    const char *head = REPORT_OPEN CONV_OPEN("4036289939370176056470");
    size_t cap = strlen(head) + 2 * strlen(name) + len + 64;
    char *s = malloc(cap);
    assert_non_null(s);
    int n = snprintf(s, cap, "%s<%s>", head, name);
    memset(s + n, c, len);
    snprintf(s + n + len, cap - n - len, "</%s></Conversion></Report>", name);
    return s;
}

static void test_too_long(void **state)
{
    (void)state;
    pl_dm_report r;

    /* Exactly the field's size - 1 fits; free text one longer is cut to fit (one long comment
     * must not refuse the merchant's report). */
    char *s = report_with("ReviewerComments", 1024, 'c');
    parse_ok(s, strlen(s), &r);
    assert_int_equal(strlen(r.conversions[0].reviewer_comments), 1024);
    pl_dm_report_free(&r);
    free(s);
    s = report_with("ReviewerComments", 3000, 'c');
    parse_ok(s, strlen(s), &r);
    assert_int_equal(strlen(r.conversions[0].reviewer_comments), 1024);
    pl_dm_report_free(&r);
    free(s);

    /* Surrounding white space does not count. */
    char body[512];
    snprintf(body, sizeof body, "%s<NewDecision>\n  %s  \n</NewDecision></Conversion></Report>",
             REPORT_OPEN CONV_OPEN("1"), "ACCEPTACCEPTACC");
    parse_ok(body, strlen(body), &r);
    assert_string_equal(r.conversions[0].new_decision, "ACCEPTACCEPTACC");
    pl_dm_report_free(&r);
    /* A decision one longer is never cut: that Conversion cannot be read, the report can. */
    s = report_with("NewDecision", 16, 'A');
    parse_ok(s, strlen(s), &r);
    assert_int_equal(r.nconversions, 0);
    const pl_dm_unreadable *u = unreadable_one(&r, 1);
    assert_string_equal(u->why,
                        "Conversion 1: NewDecision is longer than its field (15 characters)");
    assert_string_equal(u->request_id, "4036289939370176056470");
    assert_string_equal(u->merchant_reference, "0070000491701000");
    pl_dm_report_free(&r);
    free(s);

    /* Attributes: a RequestID of 65 characters, a Note's Comment of 513. */
    char id[66];
    memset(id, '1', 65);
    id[65] = '\0';
    snprintf(body, sizeof body,
             "%s<Conversion RequestID=\"%s\" MerchantReferenceNumber=\"ord-1\"/></Report>",
             REPORT_OPEN, id);
    parse_ok(body, strlen(body), &r);
    assert_int_equal(r.nconversions, 0);
    u = unreadable_one(&r, 1);
    assert_string_equal(u->why, "Conversion 1: RequestID is longer than its field (64 characters)");
    assert_null(strstr(u->why, id));
    assert_string_equal(u->request_id, "");
    assert_string_equal(u->merchant_reference, "ord-1");
    pl_dm_report_free(&r);

    char comment[514];
    memset(comment, 'n', 513);
    comment[513] = '\0';
    char note[1024];
    snprintf(note, sizeof note,
             "%s<Notes><Note Comment=\"ok\"/><Note Comment=\"%s\"/></Notes></Conversion></Report>",
             REPORT_OPEN CONV_OPEN("1"), comment);
    parse_ok(note, strlen(note), &r);
    assert_int_equal(strlen(r.conversions[0].notes[1].comment), 512);
    pl_dm_report_free(&r);
    /* A cut through a card number leaves none of its digits. */
    char straddle[600];
    memset(straddle, 'n', sizeof straddle - 1);
    straddle[sizeof straddle - 1] = '\0';
    memcpy(straddle + 500, " 4111111111111111", 17);
    snprintf(note, sizeof note, "%s<Notes><Note Comment=\"%s\"/></Notes></Conversion></Report>",
             REPORT_OPEN CONV_OPEN("1"), straddle);
    parse_ok(note, strlen(note), &r);
    assert_int_equal(strlen(r.conversions[0].notes[0].comment), 500);
    assert_null(strpbrk(r.conversions[0].notes[0].comment, "0123456789"));
    pl_dm_report_free(&r);
    comment[512] = '\0';
    snprintf(note, sizeof note,
             "%s<Notes><Note Comment=\"ok\"/><Note Comment=\"%s\"/></Notes></Conversion></Report>",
             REPORT_OPEN CONV_OPEN("1"), comment);
    parse_ok(note, strlen(note), &r);
    assert_int_equal(strlen(r.conversions[0].notes[1].comment), 512);
    pl_dm_report_free(&r);
}

/* A report with one ACCEPT Conversion, RequestID 1, with extra (a Note, Queue...) in it. */
static void parse_with(const char *extra, pl_dm_report *r)
{
    char body[4096];
    int n =
        snprintf(body, sizeof body, "%s<NewDecision>ACCEPT</NewDecision>%s</Conversion></Report>",
                 REPORT_OPEN CONV_OPEN("1"), extra);
    assert_true(n > 0 && (size_t)n < sizeof body);
    parse_ok(body, strlen(body), r);
    /* The Conversion and its decision are read, whatever else is in it. */
    assert_int_equal(r->nconversions, 1);
    assert_int_equal(r->nunreadable, 0);
    assert_string_equal(r->conversions[0].request_id, "1");
    assert_string_equal(r->conversions[0].new_decision, "ACCEPT");
}

/* n copies of c, NUL-terminated, in buf (n + 1 bytes). */
static char *repeat(char *buf, size_t n, char c)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/*
 * The reviewers' texts (kept in rows, and sent on as order messages) mask a card number only
 * the full scan reads: split by 'é', in full-width digits, or with its expiry glued. They used
 * the Luhn scan, and kept these in clear.
 */
static void test_hidden_card_numbers(void **state)
{
    (void)state;
    pl_dm_report r;
    parse_with("<ReviewerComments>card 4111&#xe9;1111&#xe9;1111&#xe9;1111 ok</ReviewerComments>"
               "<Notes><Note Comment=\"exp 41111111111111111225\"/><Note Comment=\"&#xff14;"
               "&#xff11;&#xff11;&#xff11;&#xe9;&#xff11;&#xff11;&#xff11;&#xff11;&#xe9;&#xff11;"
               "&#xff11;&#xff11;&#xff11;&#xe9;&#xff11;&#xff11;&#xff11;&#xff11;\"/></Notes>",
               &r);
    const pl_dm_conversion *c = &r.conversions[0];
    assert_string_equal(c->reviewer_comments, "card ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                                              "1111 ok");
    assert_int_equal(c->nnotes, 2);
    assert_string_equal(c->notes[0].comment, "exp ************1111****");
    assert_null(strstr(c->notes[1].comment, "\xef\xbc\x94")); /* the full-width 4 */
    char msgs[4][513];
    size_t n = pl_dm_messages(c, msgs, 4);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(msgs[i], "4111"));
        assert_null(strstr(msgs[i], "\xef\xbc\x94"));
    }
    pl_dm_report_free(&r);
}

/*
 * A value that decides nothing never refuses the report nor its Conversion: before, a Note's
 * Date with an offset (the form ConversionDate takes), or a Queue, Profile, Reviewer or AddedBy
 * of 70 characters, refused the whole report ("Note 1: Date is longer than its field (23
 * characters)"), every time it was asked again: the company's window never moved on, its FS
 * holds were never released and its REJECTs never cancelled nor reversed.
 */
static void test_side_fields_never_refuse(void **state)
{
    (void)state;
    pl_dm_report r;
    char extra[1024], long_value[128];

    /* A Note's Date with an offset, with and without a fraction of a second: as given. */
    parse_with("<Notes><Note Date=\"2018-12-01T11:15:42+01:00\" Comment=\"x\"/>"
               "<Note Date=\"2018-12-01T11:15:42.000+01:00\" Comment=\"y\"/></Notes>",
               &r);
    assert_int_equal(r.conversions[0].nnotes, 2);
    assert_string_equal(r.conversions[0].notes[0].date, "2018-12-01T11:15:42+01:00");
    assert_string_equal(r.conversions[0].notes[1].date, "2018-12-01T11:15:42+01:00");
    char msgs[4][513];
    assert_int_equal(pl_dm_messages(&r.conversions[0], msgs, 4), 2);
    pl_dm_report_free(&r);
    /* A Date that still does not fit is dropped, not cut; the Note stays. */
    snprintf(extra, sizeof extra, "<Notes><Note Date=\"%s\" Comment=\"kept\"/></Notes>",
             repeat(long_value, 40, '9'));
    parse_with(extra, &r);
    assert_string_equal(r.conversions[0].notes[0].date, "");
    assert_string_equal(r.conversions[0].notes[0].comment, "kept");
    pl_dm_report_free(&r);

    /* Queue, Profile, Reviewer, AddedBy of 70 characters: cut to their 64. */
    snprintf(extra, sizeof extra,
             "<Queue>%1$s</Queue><Profile>%1$s</Profile><Reviewer>%1$s</Reviewer>"
             "<Notes><Note AddedBy=\"%1$s\" Comment=\"c\"/></Notes>",
             repeat(long_value, 70, 'q'));
    parse_with(extra, &r);
    const pl_dm_conversion *c = &r.conversions[0];
    assert_string_equal(c->queue, repeat(long_value, 64, 'q'));
    assert_string_equal(c->profile, long_value);
    assert_string_equal(c->reviewer, long_value);
    assert_string_equal(c->notes[0].added_by, long_value);
    pl_dm_report_free(&r);

    /* Never inside a character: 40 two-byte characters (80 bytes) leave 32 whole ones. */
    char wide[100] = "";
    for (int i = 0; i < 40; i++)
        strcat(wide, "\xc3\xa9");
    snprintf(extra, sizeof extra, "<Reviewer>%s</Reviewer>", wide);
    parse_with(extra, &r);
    assert_int_equal(strlen(r.conversions[0].reviewer), 64);
    assert_memory_equal(r.conversions[0].reviewer, wide, 64);
    pl_dm_report_free(&r);
    snprintf(extra, sizeof extra, "<Queue>q%s</Queue>", wide); /* odd: 63 bytes */
    parse_with(extra, &r);
    assert_int_equal(strlen(r.conversions[0].queue), 63);
    pl_dm_report_free(&r);

    /* An OriginalDecision longer than dm_decision holds (10) does not refuse either
     * (test_original_decision_in_enum says what is published). */
    parse_with("<OriginalDecision>REVIEWREVIEW</OriginalDecision>", &r);
    assert_string_equal(r.conversions[0].original_decision, "REVIEW");
    pl_dm_report_free(&r);

    /* Twice: the first is kept (two decisions are refused: test_duplicates_refused). */
    parse_with("<Queue>first</Queue><Queue>second</Queue>"
               "<OriginalDecision>REJECT</OriginalDecision><OriginalDecision>X</OriginalDecision>",
               &r);
    assert_string_equal(r.conversions[0].queue, "first");
    assert_string_equal(r.conversions[0].original_decision, "REJECT");
    assert_false(r.conversions[0].original_replaced);
    pl_dm_report_free(&r);
    const char *twice = "<Report xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" a:Version=\"1.1\" "
                        "b:Version=\"9\"><Conversion RequestID=\"1\"><Notes><Note "
                        "a:Date=\"2014-06-24 17:03:03\" b:Date=\"x\"/></Notes></Conversion>"
                        "</Report>";
    parse_ok(twice, strlen(twice), &r);
    assert_string_equal(r.version, "1.1");
    assert_int_equal(r.nconversions, 1);
    assert_string_equal(r.conversions[0].notes[0].date, "2014-06-24 17:03:03");
    pl_dm_report_free(&r);

    /* The Report's attributes decide nothing either. */
    snprintf(extra, sizeof extra,
             "<Report Version=\"v1.1-build-abcdefgh\" Name=\"%s\" ReportStartDate=\"%s\">"
             "<Conversion RequestID=\"1\"/></Report>",
             repeat(long_value, 70, 'n'), "2014-06-24T00:00:00.000+01:00 (Central European Time)");
    parse_ok(extra, strlen(extra), &r);
    assert_string_equal(r.version, "v1.1-build-abcd");
    assert_int_equal(strlen(r.name), 64);
    assert_string_equal(r.start, "");
    assert_int_equal(r.nconversions, 1);
    pl_dm_report_free(&r);

    /* A ConversionDate of a form canonical_gmt does not know is kept as given when it fits
     * dm_decision (32 characters); longer, it cannot be read (it is part of the key). */
    const char *odd =
        REPORT_OPEN "<Conversion RequestID=\"1\" ConversionDate=\"2014-06-24T17:03:03 "
                    "GMT+01:00\"/></Report>";
    parse_ok(odd, strlen(odd), &r);
    assert_string_equal(r.conversions[0].conversion_date, "2014-06-24T17:03:03 GMT+01:00");
    pl_dm_report_free(&r);
    odd = REPORT_OPEN "<Conversion RequestID=\"1\" ConversionDate=\"2014-06-24T17:03:03 Central "
                      "European Time\"/></Report>";
    parse_ok(odd, strlen(odd), &r);
    assert_int_equal(r.nconversions, 0);
    assert_string_equal(unreadable_one(&r, 1)->why,
                        "Conversion 1: ConversionDate is longer than its field (32 characters)");
    assert_string_equal(r.unreadable[0].request_id, "1");
    pl_dm_report_free(&r);
}

/* Parses a report whose one Conversion has OriginalDecision element (none when NULL), and
 * checks what it was read as: decision, whether replaced, and the value given for the log. */
static void original_is(const char *element, const char *decision, bool replaced, const char *given)
{
    char extra[512] = "";
    if (element)
        snprintf(extra, sizeof extra, "<OriginalDecision>%s</OriginalDecision>", element);
    pl_dm_report r;
    parse_with(extra, &r);
    const pl_dm_conversion *c = &r.conversions[0];
    assert_string_equal(c->original_decision, decision);
    assert_int_equal(c->original_replaced, replaced);
    assert_string_equal(c->original_given, given);
    pl_dm_report_free(&r);
}

/*
 * The decision event publishes the OriginalDecision, and dm-decision.schema.json allows ACCEPT,
 * REVIEW, REJECT and ERROR only: one absent, empty, too long for its field or anything else is
 * REVIEW (a conversion is a new decision on an order held for review: the seed), marked
 * replaced, with the value given for the log (cut to fit, card numbers masked). Before, one
 * too long or absent was published as "" and one that fit as given ("REVIEW1234", "review"): a
 * consumer validating the schema dropped the event, and with it a REJECT.
 */
static void test_original_decision_in_enum(void **state)
{
    (void)state;
    original_is("REVIEW", "REVIEW", false, "");
    original_is("ACCEPT", "ACCEPT", false, "");
    original_is("REJECT", "REJECT", false, "");
    original_is(" ERROR ", "ERROR", false, "");
    original_is(NULL, "REVIEW", true, "");
    original_is("", "REVIEW", true, "");
    original_is("  ", "REVIEW", true, "");
    original_is("REVIEWREVIEW", "REVIEW", true, "REVIEWREVIEW"); /* longer than its field */
    original_is("REVIEW1234", "REVIEW", true, "REVIEW1234");     /* fits, but no decision */
    original_is("review", "REVIEW", true, "review");
    original_is("REJECTED", "REVIEW", true, "REJECTED");
    /* Told in the log cut to fit, a card number masked. */
    char long_value[128];
    snprintf(long_value, sizeof long_value, "%s %s", "REVIEW", PAN);
    original_is(long_value, "REVIEW", true, "REVIEW ************1111");
    memset(long_value, 'x', 100);
    long_value[100] = '\0';
    char cut[41];
    memset(cut, 'x', 40);
    cut[40] = '\0';
    original_is(long_value, "REVIEW", true, cut);
    /* The seed's sample: as given. */
    size_t len;
    char *body = fixture("seed_report.xml", &len);
    pl_dm_report r;
    parse_ok(body, len, &r);
    free(body);
    for (size_t i = 0; i < r.nconversions; i++) {
        assert_string_equal(r.conversions[i].original_decision, "REVIEW");
        assert_false(r.conversions[i].original_replaced);
    }
    pl_dm_report_free(&r);
}

/*
 * Conversions that cannot be read, among others that can: each is left out and named (its
 * index, RequestID and merchant reference when read, why); the others are read in order.
 */
static void test_unreadable_among_others(void **state)
{
    (void)state;
    char id[80];
    char text[2048];
    snprintf(text, sizeof text,
             "%s"
             "%s<NewDecision>ACCEPT</NewDecision></Conversion>"
             "<Conversion RequestID=\"%s\" MerchantReferenceNumber=\"ord-2\">"
             "<NewDecision>REJECT</NewDecision></Conversion>"
             "<Conversion RequestID=\"333\" MerchantReferenceNumber=\"ord-3\">"
             "<NewDecision>ACCEPT</NewDecision><NewDecision>REJECT</NewDecision></Conversion>"
             "<Conversion RequestID=\"444\"><NewDecision>REJECT</NewDecision>"
             "<ReviewerComments>Card " PAN "</ReviewerComments></Conversion>"
             "</Report>",
             REPORT_OPEN, CONV_OPEN("111"), repeat(id, 70, '2'));
    pl_dm_report r;
    parse_ok(text, strlen(text), &r);
    assert_int_equal(r.nconversions, 2);
    assert_string_equal(r.conversions[0].request_id, "111");
    assert_string_equal(r.conversions[0].new_decision, "ACCEPT");
    assert_string_equal(r.conversions[1].request_id, "444");
    assert_string_equal(r.conversions[1].new_decision, "REJECT");
    assert_string_equal(r.conversions[1].reviewer_comments, "Card ************1111");
    assert_int_equal(r.nunreadable, 2);
    assert_int_equal(r.unreadable[0].index, 2);
    assert_string_equal(r.unreadable[0].request_id, "");
    assert_string_equal(r.unreadable[0].merchant_reference, "ord-2");
    assert_string_equal(r.unreadable[0].why,
                        "Conversion 2: RequestID is longer than its field (64 characters)");
    assert_int_equal(r.unreadable[1].index, 3);
    assert_string_equal(r.unreadable[1].request_id, "333");
    assert_string_equal(r.unreadable[1].merchant_reference, "ord-3");
    assert_string_equal(r.unreadable[1].why, "Conversion 3: NewDecision appears twice");
    pl_dm_report_free(&r);
    assert_null(r.conversions);
    assert_null(r.unreadable);
}

static void test_duplicates_refused(void **state)
{
    (void)state;
    pl_dm_report r;
    const char *text = REPORT_OPEN CONV_OPEN("1") "<NewDecision>ACCEPT</NewDecision>"
                                                  "<NewDecision>REJECT</NewDecision></Conversion>"
                                                  "</Report>";
    parse_ok(text, strlen(text), &r);
    assert_int_equal(r.nconversions, 0);
    assert_string_equal(unreadable_one(&r, 1)->why, "Conversion 1: NewDecision appears twice");
    pl_dm_report_free(&r);
    /* The same attribute in two namespaces is two values for one field. */
    text = "<Report xmlns:a=\"urn:a\" xmlns:b=\"urn:b\"><Conversion a:RequestID=\"1\" "
           "b:RequestID=\"2\"/></Report>";
    parse_ok(text, strlen(text), &r);
    assert_int_equal(r.nconversions, 0);
    assert_string_equal(unreadable_one(&r, 1)->why, "Conversion 1: RequestID appears twice");
    pl_dm_report_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* What is accepted */

static void test_empty_report(void **state)
{
    (void)state;
    size_t len;
    char *body = fixture("empty_report.xml", &len);
    pl_dm_report r;
    parse_ok(body, len, &r);
    free(body);
    assert_int_equal(r.nconversions, 0);
    assert_null(r.conversions);
    assert_string_equal(r.merchant_id, "mr");
    assert_string_equal(r.start, "2014-06-25 00:00:00GMT");
    pl_dm_report_free(&r);

    const char *bare = "<Report/>";
    parse_ok(bare, strlen(bare), &r);
    assert_int_equal(r.nconversions, 0);
    assert_string_equal(r.merchant_id, "");
    pl_dm_report_free(&r);
}

static void test_classic_report(void **state)
{
    (void)state;
    size_t len;
    char *body = fixture("classic_report.xml", &len);
    pl_dm_report r;
    parse_ok(body, len, &r);
    free(body);
    assert_string_equal(r.start, "2018-12-01T00:00:00Z");
    assert_string_equal(r.end, "2018-12-02T00:00:00Z");
    assert_int_equal(r.nconversions, 1);
    const pl_dm_conversion *c = &r.conversions[0];
    assert_string_equal(c->request_id, "5436689939370176056470");
    assert_string_equal(c->merchant_reference, "0070000512301000");
    /* In the old report's form, the one dm_decision's key holds (test_conversion_date_gmt). */
    assert_string_equal(c->conversion_date, "2018-12-01 10:15:42");
    assert_string_equal(c->new_decision, "ACCEPT");
    /* The Classic report has no ReviewerComments. */
    assert_string_equal(c->reviewer_comments, "");
    assert_int_equal(c->nnotes, 1);
    assert_string_equal(c->notes[0].date, "2018-12-01T10:15:42Z");
    char msgs[4][513];
    assert_int_equal(pl_dm_messages(c, msgs, 4), 1);
    assert_string_equal(msgs[0], "VERIFIED WITH CARDHOLDER");
    pl_dm_report_free(&r);
}

/* The ConversionDate of a report with one Conversion whose ConversionDate is date. */
static void conversion_date(const char *date, char *out, size_t size)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "%s<Conversion ConversionDate=\"%s\" RequestID=\"1\"/></Report>", REPORT_OPEN,
                     date);
    assert_true(n > 0 && (size_t)n < sizeof body);
    pl_dm_report r;
    parse_ok(body, strlen(body), &r);
    assert_int_equal(r.nconversions, 1);
    snprintf(out, size, "%s", r.conversions[0].conversion_date);
    pl_dm_report_free(&r);
}

/*
 * One conversion, one ConversionDate: the old report's "2014-06-24 17:03:03" and the new one's
 * "2014-06-24T17:03:03.000Z" (its fraction, zone or offset however written) are the same GMT
 * time, read as the same text. dm_decision's unique key holds it: read as given, a window asked
 * again of the other report recorded the conversion a second time (a second cancel_order,
 * release_hold or reversal). What is not such a time stays as given.
 */
static void test_conversion_date_gmt(void **state)
{
    (void)state;
    static const char *const same[] = {
        "2014-06-24 17:03:03",          "2014-06-24T17:03:03.000Z",  "2014-06-24T17:03:03Z",
        "2014-06-24T17:03:03",          "2014-06-24 17:03:03.5",     "2014-06-24T17:03:03+00:00",
        "2014-06-24T17:03:03.123-0000", "2014-06-24T19:03:03+02:00", "2014-06-24T12:03:03-0500",
        " 2014-06-24T17:03:03.000Z ",
    };
    char got[64];
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        conversion_date(same[i], got, sizeof got);
        if (strcmp(got, "2014-06-24 17:03:03") != 0)
            fail_msg("%s read as %s", same[i], got);
    }
    /* Across midnight, a month and a year. */
    conversion_date("2015-01-01T00:30:00+01:00", got, sizeof got);
    assert_string_equal(got, "2014-12-31 23:30:00");
    /* Not such a time: as given (less a fraction of a second). */
    conversion_date("2014-06-24T17:03:03 GMT", got, sizeof got);
    assert_string_equal(got, "2014-06-24T17:03:03 GMT");
    conversion_date("24/06/2014 17:03", got, sizeof got);
    assert_string_equal(got, "24/06/2014 17:03");
    conversion_date("2014-06-24T17:03:03+2", got, sizeof got);
    assert_string_equal(got, "2014-06-24T17:03:03+2");
    /* A note's Date and the report's own times stay as given. */
    pl_dm_report r;
    const char *body = "<Report ReportStartDate=\"2014-06-24T00:00:00.000Z\"><Conversion "
                       "ConversionDate=\"2014-06-24T17:03:03Z\" RequestID=\"1\"><Notes><Note "
                       "Date=\"2014-06-24T17:03:03.000Z\" Comment=\"x\"/></Notes></Conversion>"
                       "</Report>";
    parse_ok(body, strlen(body), &r);
    assert_string_equal(r.start, "2014-06-24T00:00:00Z");
    assert_string_equal(r.conversions[0].conversion_date, "2014-06-24 17:03:03");
    assert_int_equal(r.conversions[0].nnotes, 1);
    assert_string_equal(r.conversions[0].notes[0].date, "2014-06-24T17:03:03Z");
    pl_dm_report_free(&r);
}

/*
 * ConversionDates read, in whichever form, sort as text in the order of their times:
 * paylink-dmupdate acts on a conversion only when no later one of its authorization is recorded,
 * and paylink-deposit takes the latest by it (ORDER BY conversion_date), both comparing the text
 * dm_decision holds. The instants below are in time order, each given in another form.
 */
static void test_conversion_date_sorts(void **state)
{
    (void)state;
    static const char *const in_order[] = {
        "2014-12-31T22:59:59Z",      "2015-01-01T00:30:00+01:00", "2014-12-31 23:30:01",
        "2014-12-31T18:45:00-05:00", "2015-01-01 00:00:00",       "2015-01-01T00:00:00.999Z",
        "2015-01-01T00:00:01+00:00", "2015-01-01T09:59:40Z",      "2015-01-01 09:59:55",
        "2015-01-01T10:00:00.000Z",  "2015-02-01T00:00:00",       "2015-10-01T00:00:00Z",
        "2016-02-29T23:59:59-00:00",
    };
    char prev[64] = "", got[64];
    for (size_t i = 0; i < sizeof in_order / sizeof in_order[0]; i++) {
        conversion_date(in_order[i], got, sizeof got);
        assert_int_equal(strlen(got), 19);
        if (strcmp(prev, got) > 0) /* the same second twice is equal (its fraction dropped) */
            fail_msg("%s (%s) sorts before %s", in_order[i], got, prev);
        snprintf(prev, sizeof prev, "%s", got);
    }
}

static void test_namespaces_and_order(void **state)
{
    (void)state;
    /* Prefixed elements and attributes in any namespace, fields in any order, unknown
     * elements ignored, Notes spread over two elements, absent fields "". */
    const char *text =
        "<r:Report xmlns:r=\"urn:cdr\" xmlns:x=\"urn:x\" r:MerchantID=\"m1\">"
        "<r:Summary>ignored</r:Summary>"
        "<r:Conversion r:RequestID=\" 77 \" MerchantReferenceNumber=\"ord-1\">"
        "<r:Profile>P</r:Profile><x:NewDecision>REJECT</x:NewDecision>"
        "<r:Notes><r:Note Comment=\"one\"/><r:Other/></r:Notes>"
        "<FollowonResult><Status>x</Status></FollowonResult>"
        "<Notes><Note Comment=\"two\" AddedBy=\"rev\" Date=\"2014-06-24 17:03:03\"/></Notes>"
        "<Queue>Q</Queue>"
        "</r:Conversion>"
        "<r:Conversion RequestID=\"78\"/>"
        "</r:Report>";
    pl_dm_report r;
    parse_ok(text, strlen(text), &r);
    assert_string_equal(r.merchant_id, "m1");
    assert_int_equal(r.nconversions, 2);
    const pl_dm_conversion *c = &r.conversions[0];
    assert_string_equal(c->request_id, "77");
    assert_string_equal(c->merchant_reference, "ord-1");
    assert_string_equal(c->new_decision, "REJECT");
    assert_string_equal(c->original_decision,
                        "REVIEW"); /* absent: test_original_decision_in_enum */
    assert_true(c->original_replaced);
    assert_string_equal(c->queue, "Q");
    assert_string_equal(c->profile, "P");
    assert_int_equal(c->nnotes, 2);
    assert_string_equal(c->notes[0].comment, "one");
    assert_string_equal(c->notes[0].added_by, "");
    assert_string_equal(c->notes[1].comment, "two");
    assert_string_equal(c->notes[1].added_by, "rev");
    assert_string_equal(c->notes[1].date, "2014-06-24 17:03:03");
    assert_string_equal(r.conversions[1].request_id, "78");
    assert_int_equal(r.conversions[1].nnotes, 0);
    assert_null(r.conversions[1].notes);
    pl_dm_report_free(&r);
}

static void test_card_numbers_masked(void **state)
{
    (void)state;
    const char *text =
        REPORT_OPEN CONV_OPEN("1") "<ReviewerComments>Card " PAN " verified</ReviewerComments>"
                                   "<Notes><Note Comment=\"called on " PAN
                                   "\"/></Notes></Conversion></Report>";
    pl_dm_report r;
    parse_ok(text, strlen(text), &r);
    assert_string_equal(r.conversions[0].reviewer_comments, "Card ************1111 verified");
    assert_string_equal(r.conversions[0].notes[0].comment, "called on ************1111");
    /* The RequestID, a 22-digit run, is an identifier and is kept as it is. */
    pl_dm_report_free(&r);
}

/* Fails when one of msgs[0, n) holds a card number, in any form pl_card_find reads. */
static void assert_no_card_in_messages(char msgs[][513], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pl_card_contains(msgs[i], strlen(msgs[i])))
            fail_msg("message %zu holds a card number: [%s]", i, msgs[i]);
        assert_null(strstr(msgs[i], "4111 1111 1111 1111"));
        assert_null(strstr(msgs[i], PAN));
    }
}

/*
 * DEL is an XML 1.0 character (raw or "&#127;"), and the messages write it as a space: a card
 * number whose groups DEL joins must be masked all the same, as must one whose groups a tab or
 * a line feed joins.
 */
static void test_card_numbers_masked_del(void **state)
{
    (void)state;
    const char *text = REPORT_OPEN CONV_OPEN(
        "1") "<ReviewerComments>CARD 4111&#127;1111&#127;1111&#127;1111 VERIFIED</ReviewerComments>"
             "<Notes><Note Comment=\"called on 4111\x7f"
             "1111\x7f"
             "1111\x7f"
             "1111 today\"/>"
             "<Note Comment=\"tab 4111&#9;1111&#9;1111&#9;1111 and line 4111&#10;1111&#10;1111&#10;"
             "1111 end\"/></Notes></Conversion></Report>";
    pl_dm_report r;
    parse_ok(text, strlen(text), &r);
    const pl_dm_conversion *c = &r.conversions[0];
    /* The fields hold the number masked too (dm_report.h), not only the messages. */
    assert_string_equal(c->reviewer_comments, "CARD **** **** **** 1111 VERIFIED");
    assert_int_equal(c->nnotes, 2);
    assert_string_equal(c->notes[0].comment, "called on **** **** **** 1111 today");
    assert_string_equal(c->notes[1].comment,
                        "tab **** **** **** 1111 and line **** **** **** 1111 end");
    char msgs[8][513];
    size_t n = pl_dm_messages(c, msgs, 8);
    assert_int_equal(n, 3);
    assert_no_card_in_messages(msgs, n);
    assert_string_equal(msgs[0], "CARD **** **** **** 1111 VERIFIED");
    assert_string_equal(msgs[1], "CALLED ON **** **** **** 1111 TODAY");
    assert_string_equal(msgs[2], "TAB **** **** **** 1111 AND LINE **** **** **** 1111 END");
    pl_dm_report_free(&r);

    /* A conversion filled by other means: the messages are scrubbed as they are written. */
    pl_dm_conversion raw;
    memset(&raw, 0, sizeof raw);
    snprintf(raw.reviewer_comments, sizeof raw.reviewer_comments,
             "card 4111\x7f"
             "1111\x7f"
             "1111\x7f"
             "1111 ok");
    n = pl_dm_messages(&raw, msgs, 8);
    assert_int_equal(n, 1);
    assert_no_card_in_messages(msgs, n);
    assert_string_equal(msgs[0], "CARD **** **** **** 1111 OK");
}

/* ---------------------------------------------------------------------------------------- */
/* Order messages */

static void test_messages(void **state)
{
    (void)state;
    pl_dm_conversion c;
    memset(&c, 0, sizeof c);
    pl_dm_note notes[5];
    memset(notes, 0, sizeof notes);
    snprintf(c.reviewer_comments, sizeof c.reviewer_comments, "  Took ownership...  ");
    snprintf(notes[0].comment, sizeof notes[0].comment, "took OWNERSHIP.");
    snprintf(notes[1].comment, sizeof notes[1].comment, " \t ");
    snprintf(notes[2].comment, sizeof notes[2].comment, ".");
    snprintf(notes[3].comment, sizeof notes[3].comment, "line one\r\nline two caf\xc3\xa9");
    snprintf(notes[4].comment, sizeof notes[4].comment, "Version 1.1 is fine");
    c.notes = notes;
    c.nnotes = 5;
    char msgs[8][513];
    size_t n = pl_dm_messages(&c, msgs, 8);
    assert_int_equal(n, 3);
    assert_string_equal(msgs[0], "TOOK OWNERSHIP");
    assert_string_equal(msgs[1], "LINE ONE  LINE TWO CAF\xc3\xa9");
    assert_string_equal(msgs[2], "VERSION 1.1 IS FINE");

    /* No comments, no messages. */
    memset(&c, 0, sizeof c);
    assert_int_equal(pl_dm_messages(&c, msgs, 8), 0);

    /* A reviewer comment longer than a message is split at a space, not cut. */
    memset(c.reviewer_comments, 0, sizeof c.reviewer_comments);
    size_t at = 0;
    while (at + 6 < 1000) {
        memcpy(c.reviewer_comments + at, "word ", 5);
        at += 5;
    }
    memcpy(c.reviewer_comments + at, "end.", 4);
    n = pl_dm_messages(&c, msgs, 8);
    assert_int_equal(n, 2);
    assert_true(strlen(msgs[0]) <= 512);
    assert_int_equal(msgs[0][strlen(msgs[0]) - 1], 'D');
    assert_int_equal(strncmp(msgs[1], "WORD", 4), 0);
    assert_string_equal(msgs[1] + strlen(msgs[1]) - 8, "WORD END");
    assert_int_equal(strlen(msgs[0]) + 1 + strlen(msgs[1]), at + 3);

    /* No space at all: split at the size. */
    memset(c.reviewer_comments, 'z', 1024);
    c.reviewer_comments[1024] = '\0';
    n = pl_dm_messages(&c, msgs, 8);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(msgs[0]), 512);
    assert_int_equal(strlen(msgs[1]), 512);
    assert_string_equal(msgs[0], msgs[1]); /* not a duplicate: both parts are the text */

    /* No space, three bytes a character (Japanese): split between two characters, so that both
     * parts are UTF-8 the database takes. 512 is not a multiple of 3. */
    memset(c.reviewer_comments, 0, sizeof c.reviewer_comments);
    for (size_t k = 0; k < 200; k++)
        memcpy(c.reviewer_comments + 3 * k, "\xe7\xa2\xba", 3); /* 確 */
    n = pl_dm_messages(&c, msgs, 8);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(msgs[0]), 510);
    assert_int_equal(strlen(msgs[1]), 90);
    for (size_t m = 0; m < 2; m++) {
        assert_int_equal((unsigned char)msgs[m][0], 0xe7);
        assert_int_equal((unsigned char)msgs[m][strlen(msgs[m]) - 1], 0xba);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The window */

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

static void check_window(int64_t last_end, int64_t now, const char *sd, const char *st,
                         const char *ed, const char *et, bool want_done)
{
    pl_dm_window w;
    bool done = !want_done;
    pl_dm_window_next(last_end, now, &w, &done);
    assert_string_equal(w.start_date, sd);
    assert_string_equal(w.start_time, st);
    assert_string_equal(w.end_date, ed);
    assert_string_equal(w.end_time, et);
    assert_true(w.start <= w.end);
    assert_true(w.end - w.start <= PL_DM_WINDOW_SECONDS);
    assert_int_equal(done, want_done);
}

static void test_window_seed(void **state)
{
    (void)state;
    /* seed: Last Run End Date 2014-06-24 00:00:00, Current Date 2014-06-24 17:24:04. */
    int64_t now = utc(2014, 6, 24, 17, 24, 4);
    pl_dm_window w;
    bool done = false;
    pl_dm_window_next(utc(2014, 6, 24, 0, 0, 0), now, &w, &done);
    assert_string_equal(w.start_date, "2014-06-24");
    assert_string_equal(w.start_time, "00:00:00");
    assert_string_equal(w.end_date, "2014-06-24");
    assert_string_equal(w.end_time, "17:24:04");
    assert_int_equal(w.start, utc(2014, 6, 24, 0, 0, 0));
    assert_int_equal(w.end, now);
    assert_true(done);

    /* Never ran: the last 24 hours. */
    check_window(-1, now, "2014-06-23", "17:24:04", "2014-06-24", "17:24:04", true);
    pl_dm_window_next(-1, now, &w, NULL); /* done may be NULL */
    assert_int_equal(w.end - w.start, 86400);
}

static void test_window_calendar(void **state)
{
    (void)state;
    /* Across midnight. */
    check_window(utc(2014, 6, 23, 22, 0, 0), utc(2014, 6, 24, 3, 0, 0), "2014-06-23", "22:00:00",
                 "2014-06-24", "03:00:00", true);
    check_window(utc(2014, 6, 23, 22, 0, 0), utc(2014, 6, 25, 3, 0, 0), "2014-06-23", "22:00:00",
                 "2014-06-24", "22:00:00", false);
    /* Month ends. */
    check_window(utc(2015, 1, 31, 12, 0, 0), utc(2015, 2, 5, 0, 0, 0), "2015-01-31", "12:00:00",
                 "2015-02-01", "12:00:00", false);
    check_window(utc(2015, 2, 28, 6, 0, 0), utc(2015, 3, 5, 0, 0, 0), "2015-02-28", "06:00:00",
                 "2015-03-01", "06:00:00", false);
    check_window(utc(2016, 2, 28, 6, 0, 0), utc(2016, 3, 5, 0, 0, 0), "2016-02-28", "06:00:00",
                 "2016-02-29", "06:00:00", false);
    check_window(utc(2016, 2, 29, 6, 0, 0), utc(2016, 3, 5, 0, 0, 0), "2016-02-29", "06:00:00",
                 "2016-03-01", "06:00:00", false);
    check_window(utc(2000, 2, 28, 23, 59, 59), utc(2000, 3, 5, 0, 0, 0), "2000-02-28", "23:59:59",
                 "2000-02-29", "23:59:59", false);
    check_window(utc(2100, 2, 28, 23, 59, 59), utc(2100, 3, 5, 0, 0, 0), "2100-02-28", "23:59:59",
                 "2100-03-01", "23:59:59", false);
    check_window(utc(2014, 4, 30, 0, 0, 0), utc(2014, 5, 1, 0, 0, 0), "2014-04-30", "00:00:00",
                 "2014-05-01", "00:00:00", true);
    /* Year end. */
    check_window(utc(2014, 12, 31, 18, 30, 0), utc(2015, 1, 3, 0, 0, 0), "2014-12-31", "18:30:00",
                 "2015-01-01", "18:30:00", false);
    check_window(-1, utc(2015, 1, 1, 0, 0, 5), "2014-12-31", "00:00:05", "2015-01-01", "00:00:05",
                 true);
}

static void test_window_catch_up(void **state)
{
    (void)state;
    /* Three days behind: three windows of 24 hours, the third reaching now. */
    int64_t last = utc(2014, 6, 21, 10, 0, 0);
    int64_t now = utc(2014, 6, 24, 10, 0, 0);
    const char *ends[] = {"2014-06-22", "2014-06-23", "2014-06-24"};
    size_t calls = 0;
    bool done = false;
    while (!done) {
        assert_true(calls < 3);
        pl_dm_window w;
        pl_dm_window_next(last, now, &w, &done);
        assert_int_equal(w.start, last);
        assert_int_equal(w.end - w.start, 86400);
        assert_string_equal(w.end_date, ends[calls]);
        assert_string_equal(w.end_time, "10:00:00");
        assert_int_equal(done, calls == 2);
        last = w.end;
        calls++;
    }
    assert_int_equal(calls, 3);
    assert_int_equal(last, now);

    /* A second more: a fourth window of one second. */
    pl_dm_window w;
    pl_dm_window_next(now, now + 1, &w, &done);
    assert_int_equal(w.end - w.start, 1);
    assert_true(done);
}

static void test_window_nothing_to_ask(void **state)
{
    (void)state;
    int64_t now = utc(2014, 6, 24, 17, 24, 4);
    pl_dm_window w;
    bool done = false;
    /* Ran up to now already. */
    pl_dm_window_next(now, now, &w, &done);
    assert_int_equal(w.start, now);
    assert_int_equal(w.end, now);
    assert_true(done);
    /* The clock stepped back: an empty window at last_end, the mark never moves back. */
    done = false;
    pl_dm_window_next(now + 3600, now, &w, &done);
    assert_int_equal(w.start, now + 3600);
    assert_int_equal(w.end, now + 3600);
    assert_string_equal(w.start_date, "2014-06-24");
    assert_string_equal(w.start_time, "18:24:04");
    assert_string_equal(w.end_time, "18:24:04");
    assert_true(done);
    /* Far outside four-digit years: no text rather than a wrong one. */
    pl_dm_window_next(INT64_MAX, 0, &w, &done);
    assert_string_equal(w.start_date, "");
    assert_string_equal(w.end_time, "");
    pl_dm_window_next(-1, INT64_MIN, &w, &done);
    assert_true(done);
}

/* ---------------------------------------------------------------------------------------- */
/* The window length limit */

static void test_window_within(void **state)
{
    (void)state;
    int64_t last = utc(2014, 6, 21, 10, 0, 0), now = utc(2014, 6, 24, 10, 0, 0);
    pl_dm_window w;
    bool done = true;
    /* An hour at most: one hour from the last end, not done. */
    pl_dm_window_next_within(last, now, 3600, &w, &done);
    assert_int_equal(w.start, last);
    assert_int_equal(w.end, last + 3600);
    assert_string_equal(w.end_time, "11:00:00");
    assert_false(done);
    /* Below the floor: five minutes; above the maximum: 24 hours. */
    pl_dm_window_next_within(last, now, 10, &w, &done);
    assert_int_equal(w.end - w.start, PL_DM_WINDOW_MIN_SECONDS);
    pl_dm_window_next_within(last, now, 10 * 86400, &w, &done);
    assert_int_equal(w.end - w.start, PL_DM_WINDOW_SECONDS);
    /* Never ran: the last 24 hours, asked from their start. */
    pl_dm_window_next_within(-1, now, 3600, &w, &done);
    assert_int_equal(w.start, now - 86400);
    assert_int_equal(w.end, now - 86400 + 3600);
    assert_false(done);
    /* Less than the limit left: up to now, done. */
    pl_dm_window_next_within(now - 60, now, 3600, &w, &done);
    assert_int_equal(w.end, now);
    assert_true(done);
    /* pl_dm_window_next is the 24-hour limit. */
    pl_dm_window v;
    pl_dm_window_next(last, now, &v, NULL);
    pl_dm_window_next_within(last, now, PL_DM_WINDOW_SECONDS, &w, NULL);
    assert_memory_equal(&v, &w, sizeof v);
}

/*
 * Each window after the first starts PL_DM_OVERLAP_SECONDS before the last one's end: a
 * conversion dated just before that end that showed in the report only later (its lag, or the
 * worker's clock ahead of CyberSource's) is asked for again. Before, the next window started
 * exactly at the last end, and such a conversion was never asked for. The window is still at
 * most the limit long, and at least half of it new.
 */
static void test_window_overlap(void **state)
{
    (void)state;
    const int64_t m = PL_DM_OVERLAP_SECONDS;
    int64_t last = utc(2014, 6, 24, 17, 0, 0), now = utc(2014, 6, 24, 17, 15, 0);
    pl_dm_window w;
    bool done = false;
    /* A cycle 15 minutes on: from 5 minutes before the last end, up to now. */
    pl_dm_window_next_overlap(last, now, PL_DM_WINDOW_SECONDS, m, &w, &done);
    assert_int_equal(w.start, last - m);
    assert_int_equal(w.end, now);
    assert_string_equal(w.start_time, "16:55:00");
    assert_string_equal(w.end_time, "17:15:00");
    assert_true(done);
    /* No overlap asked: pl_dm_window_next_within. */
    pl_dm_window v;
    pl_dm_window_next_overlap(last, now, 3600, 0, &w, &done);
    pl_dm_window_next_within(last, now, 3600, &v, NULL);
    assert_memory_equal(&v, &w, sizeof v);
    pl_dm_window_next_overlap(last, now, 3600, -5, &w, &done);
    assert_memory_equal(&v, &w, sizeof v);
    /* Nothing new (run again in the same second, or a clock that stepped back): nothing to
     * ask, the mark never moves back. Never ran: the last 24 hours, no overlap. */
    pl_dm_window_next_overlap(now, now, PL_DM_WINDOW_SECONDS, m, &w, &done);
    assert_int_equal(w.start, now);
    assert_int_equal(w.end, now);
    assert_true(done);
    pl_dm_window_next_overlap(now + 60, now, PL_DM_WINDOW_SECONDS, m, &w, &done);
    assert_int_equal(w.start, now + 60);
    assert_int_equal(w.end, now + 60);
    pl_dm_window_next_overlap(-1, now, PL_DM_WINDOW_SECONDS, m, &w, &done);
    assert_int_equal(w.start, now - 86400);
    assert_int_equal(w.end, now);

    /* Three days behind: windows of 24 hours each (the report's most), each starting 5
     * minutes before the last end, moving on 23 h 55 min a window, the fourth reaching now. */
    last = utc(2014, 6, 21, 10, 0, 0);
    now = utc(2014, 6, 24, 10, 0, 0);
    int windows = 0;
    for (done = false; !done; windows++) {
        assert_true(windows < 4);
        pl_dm_window_next_overlap(last, now, PL_DM_WINDOW_SECONDS, m, &w, &done);
        assert_int_equal(w.start, last - m);
        assert_true(w.end - w.start <= PL_DM_WINDOW_SECONDS);
        assert_true(w.end > last);
        last = w.end;
    }
    assert_int_equal(windows, 4);
    assert_int_equal(last, now);

    /* At the narrowest window the overlap is half of it: each still moves on. */
    last = utc(2014, 6, 21, 10, 0, 0);
    pl_dm_window_next_overlap(last, now, PL_DM_WINDOW_MIN_SECONDS, m, &w, &done);
    assert_int_equal(w.start, last - PL_DM_WINDOW_MIN_SECONDS / 2);
    assert_int_equal(w.end - w.start, PL_DM_WINDOW_MIN_SECONDS);
    assert_false(done);
    pl_dm_window_next_overlap(last, now, 3600, 86400, &w, &done);
    assert_int_equal(w.start, last - 1800);
    assert_int_equal(w.end, last + 1800);

    /* Narrowing still narrows what is asked: 24 hours too big, then 12, then down to the
     * floor, where it stops (the run fails) rather than asking one window for ever. */
    pl_dm_limit l = pl_dm_limit_start(-1, -1, 0);
    int asked = 0;
    for (;;) {
        pl_dm_window_next_overlap(last, now, l.limit, m, &w, &done);
        assert_true(w.end - w.start <= l.limit);
        asked++;
        assert_true(asked <= 12);
        if (!pl_dm_limit_after(&l, &w, PL_DM_ASKED_TOO_BIG))
            break;
        assert_true(l.limit < w.end - w.start);
    }
    assert_int_equal(w.end - w.start, PL_DM_WINDOW_MIN_SECONDS);
    /* Read there, it stays below what failed in this run, as before. */
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ));
    assert_int_equal(l.limit, PL_DM_WINDOW_MIN_SECONDS);
}

static pl_dm_window span(int64_t start, int64_t len)
{
    pl_dm_window w;
    pl_dm_window_next_within(start, start + len, len, &w, NULL);
    return w;
}

static void test_limit_too_big(void **state)
{
    (void)state;
    int64_t t = utc(2014, 6, 21, 0, 0, 0);
    pl_dm_limit l = pl_dm_limit_start(-1, -1, 0);
    assert_int_equal(l.limit, PL_DM_WINDOW_SECONDS);
    assert_int_equal(l.ceiling, 0);
    /* 24 hours too big: 12 hours, asked again at once; too big again: 6 hours. */
    pl_dm_window w = span(t, 86400);
    assert_true(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TOO_BIG));
    assert_int_equal(l.limit, 43200);
    w = span(t, 43200);
    assert_true(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TOO_BIG));
    assert_int_equal(l.limit, 21600);
    assert_int_equal(l.ceiling, 43200);
    /* 6 hours read: not back to the 12 that failed in this run. */
    w = span(t, 21600);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ));
    assert_int_equal(l.limit, 21600);
    /* Another failure changes nothing of it. */
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_FAILED));
    assert_int_equal(l.limit, 21600);
    /* The next run starts from that window, doubled: 12 hours. */
    l = pl_dm_limit_start(t, t + 21600, t + 86400);
    assert_int_equal(l.limit, 43200);
    assert_int_equal(l.ceiling, 0);
    /* Read whole: 24 hours, no more. */
    w = span(t, 43200);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ));
    assert_int_equal(l.limit, 86400);
    w = span(t, 86400);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ));
    assert_int_equal(l.limit, 86400);
    /* A window shorter than the limit (it reached now) says nothing of the limit. */
    l.limit = 3600;
    w = span(t, 600);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ));
    assert_int_equal(l.limit, 3600);
    /* The last run reached the time it was asked at, or there was none: 24 hours. */
    assert_int_equal(pl_dm_limit_start(t, t + 600, t + 600).limit, PL_DM_WINDOW_SECONDS);
    assert_int_equal(pl_dm_limit_start(t, t + 60, t + 3600).limit, PL_DM_WINDOW_MIN_SECONDS);
    assert_int_equal(pl_dm_limit_start(t, t + 86400, t + 99999).limit, PL_DM_WINDOW_SECONDS);
}

static void test_limit_floor(void **state)
{
    (void)state;
    int64_t t = utc(2014, 6, 21, 0, 0, 0);
    pl_dm_limit l = {.limit = 600, .ceiling = 0};
    pl_dm_window w = span(t, 600);
    assert_true(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TOO_BIG));
    assert_int_equal(l.limit, PL_DM_WINDOW_MIN_SECONDS);
    /* Five minutes too big: nothing shorter to ask; the run fails. */
    w = span(t, PL_DM_WINDOW_MIN_SECONDS);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TOO_BIG));
    assert_int_equal(l.limit, PL_DM_WINDOW_MIN_SECONDS);
    w = span(t, PL_DM_WINDOW_MIN_SECONDS);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TIMED_OUT));
    /* A window of a minute (it reached now) too big: nothing shorter either. */
    l.limit = PL_DM_WINDOW_SECONDS;
    l.ceiling = 0;
    w = span(t, 60);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TOO_BIG));
    assert_int_equal(l.limit, PL_DM_WINDOW_MIN_SECONDS);
    /* Read at the floor, with a ceiling below twice the floor: the floor stays. */
    w = span(t, PL_DM_WINDOW_MIN_SECONDS);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ));
    assert_int_equal(l.limit, PL_DM_WINDOW_MIN_SECONDS);
}

static void test_limit_timed_out(void **state)
{
    (void)state;
    int64_t t = utc(2014, 6, 21, 0, 0, 0);
    pl_dm_limit l = pl_dm_limit_start(-1, -1, 0);
    /* 24 hours timed out: five minutes at once (one more timeout at most a run when the
     * service answers nothing), then doubling back, up to half the length that timed out. */
    pl_dm_window w = span(t, 86400);
    assert_true(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TIMED_OUT));
    assert_int_equal(l.limit, PL_DM_WINDOW_MIN_SECONDS);
    const int64_t want[] = {600, 1200, 2400, 4800, 9600, 19200, 38400, 43200, 43200};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        w = span(t, l.limit);
        assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ));
        assert_int_equal(l.limit, want[i]);
    }
    w = span(t, PL_DM_WINDOW_MIN_SECONDS);
    assert_false(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TIMED_OUT));
}

/*
 * A merchant whose report is too big beyond two hours, three days behind: the run (as
 * paylink-dmupdate's: a failure of size asked again at once, narrower) catches up in windows
 * of two hours at most, each once, end to end, with one failure per length that was too big;
 * the next run starts from what the last window read says.
 */
static void test_limit_catch_up(void **state)
{
    (void)state;
    const int64_t max_ok = 7200;
    int64_t now = utc(2014, 6, 24, 10, 0, 0), last = now - 3 * 86400;
    pl_dm_limit l = pl_dm_limit_start(-1, -1, 0);
    int asked = 0, failed = 0, read = 0;
    bool done = false;
    while (!done) {
        assert_true(asked < 200);
        pl_dm_window w;
        pl_dm_window_next_within(last, now, l.limit, &w, &done);
        asked++;
        if (w.end - w.start > max_ok) {
            failed++;
            done = false;
            assert_true(pl_dm_limit_after(&l, &w, PL_DM_ASKED_TOO_BIG));
            continue;
        }
        assert_int_equal(w.start, last); /* end to end */
        pl_dm_limit_after(&l, &w, PL_DM_ASKED_READ);
        last = w.end;
        read++;
    }
    assert_int_equal(last, now);
    /* 24 h, 12 h, 6 h, 3 h too big; then 1.5 h windows (48 for three days). */
    assert_int_equal(failed, 4);
    assert_int_equal(read, 48);
    assert_int_equal(l.limit, 5400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_report),
        cmocka_unit_test(test_seed_messages),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_plain_text_errors),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_not_a_report),
        cmocka_unit_test(test_entities_refused),
        cmocka_unit_test(test_missing_request_id),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_side_fields_never_refuse),
        cmocka_unit_test(test_hidden_card_numbers),
        cmocka_unit_test(test_original_decision_in_enum),
        cmocka_unit_test(test_unreadable_among_others),
        cmocka_unit_test(test_duplicates_refused),
        cmocka_unit_test(test_empty_report),
        cmocka_unit_test(test_classic_report),
        cmocka_unit_test(test_conversion_date_gmt),
        cmocka_unit_test(test_conversion_date_sorts),
        cmocka_unit_test(test_namespaces_and_order),
        cmocka_unit_test(test_card_numbers_masked),
        cmocka_unit_test(test_card_numbers_masked_del),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_window_seed),
        cmocka_unit_test(test_window_calendar),
        cmocka_unit_test(test_window_catch_up),
        cmocka_unit_test(test_window_nothing_to_ask),
        cmocka_unit_test(test_window_within),
        cmocka_unit_test(test_window_overlap),
        cmocka_unit_test(test_limit_too_big),
        cmocka_unit_test(test_limit_floor),
        cmocka_unit_test(test_limit_timed_out),
        cmocka_unit_test(test_limit_catch_up),
    };
    return cmocka_run_group_tests(tests, xml_test_group_setup, xml_test_group_teardown);
}
