/*
 * test_cyb_query.c: the On-Demand Single Transaction Query (common/cyb_query.h): the form
 * (targetDate on both sides of midnight UTC, percent-encoding, requestID winning), the Basic
 * header (RFC 7617's example, the refusals), realistic Transaction Detail Reports read field by
 * field (an approved auth, a declined one, an auth+capture, a reversal, a retried auth, the
 * empty report), the answers refused (a login refusal, other text, malformed XML, entity
 * declarations and references, another root, over-long and doubled fields, too many records
 * and replies), card numbers kept out of the result and of errstr, and the verdict per
 * paylink operation. Fixtures: tests/fixtures/cyb_query/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cyb_query.h"
#include "xml_test_helpers.h"

/* A Luhn-valid card number. */
#define PAN "4111111111111111"

/* 2024-03-05T23:59:59Z and the second after it. */
#define DAY_LAST_SECOND INT64_C(1709683199)
#define NEXT_DAY_MIDNIGHT INT64_C(1709683200)

#define HEAD                                                                                       \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                                 \
    "<!DOCTYPE Report SYSTEM \"https://ebctest.cybersource.com/ebctest/reports/dtd/tdr_1_7.dtd\">" \
    "\n<Report xmlns=\"https://ebctest.cybersource.com/ebctest/reports/dtd/tdr_1_7.dtd\" "         \
    "Name=\"Transaction Detail\" Version=\"1.7\" MerchantID=\"mr\">"
#define TAIL "</Report>"
#define REQ_OPEN(ref, id)                                                                          \
    "<Request MerchantReferenceNumber=\"" ref "\" RequestDate=\"2024-03-05T14:01:58+00:00\" "      \
    "RequestID=\"" id "\">"
#define REPLY(name, rcode, rflag)                                                                  \
    "<ApplicationReply Name=\"" name "\"><RCode>" rcode "</RCode><RFlag>" rflag                    \
    "</RFlag><RMsg>msg</RMsg></ApplicationReply>"
/* A report of one Request with the given ApplicationReplies content. */
#define ONE(ref, replies)                                                                          \
    HEAD "<Requests>" REQ_OPEN(ref, "1") "<ApplicationReplies>" replies                            \
                                         "</ApplicationReplies></Request></Requests>" TAIL

static char *fixture(const char *name, size_t *len)
{
    char *body = xml_test_read_fixture("cyb_query", name, len);
    assert_non_null(body);
    return body;
}

static void parse_ok(const char *body, size_t len, pl_cyb_query_result *res)
{
    char err[256] = "";
    int rc = pl_cyb_query_parse(body, len, res, err, sizeof err);
    if (rc != 0)
        fail_msg("parse failed (%d): %s", rc, err);
}

static void parse_fixture(const char *name, pl_cyb_query_result *res)
{
    size_t len;
    char *body = fixture(name, &len);
    parse_ok(body, len, res);
    free(body);
}

static void parse_text(const char *text, pl_cyb_query_result *res)
{
    parse_ok(text, strlen(text), res);
}

/* Parses body expecting want; err gets errstr, which must not be empty. */
static void refused_len(const char *body, size_t len, int want, char *err, size_t errsize)
{
    pl_cyb_query_result res;
    memset(&res, 0x5a, sizeof res);
    err[0] = '\0';
    int rc = pl_cyb_query_parse(body, len, &res, err, errsize);
    if (rc != want)
        fail_msg("want %d, got %d (%s) for: %.100s", want, rc, err, body ? body : "(null)");
    assert_true(err[0] != '\0');
    /* Nothing half read. */
    assert_int_equal(res.nrecs, 0);
    assert_string_equal(res.recs[0].merchant_reference, "");
    assert_int_equal(res.recs[0].napps, 0);
}

static void refused(const char *text, int want, char *err, size_t errsize)
{
    refused_len(text, strlen(text), want, err, errsize);
}

static void refused_fixture(const char *name, int want, char *err, size_t errsize)
{
    size_t len;
    char *body = fixture(name, &len);
    refused_len(body, len, want, err, errsize);
    free(body);
}

/* ---------------------------------------------------------------------------------------- */
/* The form */

static void test_form_by_reference_day_boundaries(void **state)
{
    (void)state;
    pl_cyb_query q = {.merchant_id = "mr",
                      .merchant_reference = "0070000359700000",
                      .target_day = DAY_LAST_SECOND};
    char *f = pl_cyb_query_form(&q);
    assert_non_null(f);
    assert_string_equal(f, "merchantID=mr&type=transaction&subtype=transactionDetail"
                           "&versionNumber=1.7&merchantReferenceNumber=0070000359700000"
                           "&targetDate=20240305");
    free(f);

    /* One second later it is the next UTC day. */
    q.target_day = NEXT_DAY_MIDNIGHT;
    f = pl_cyb_query_form(&q);
    assert_non_null(f);
    assert_non_null(strstr(f, "&targetDate=20240306"));
    assert_null(strstr(f, "20240305"));
    free(f);

    /* The end of a year, and a day before 2000. */
    q.target_day = INT64_C(1735689599);
    f = pl_cyb_query_form(&q);
    assert_non_null(strstr(f, "&targetDate=20241231"));
    free(f);
    q.target_day = INT64_C(946641600);
    f = pl_cyb_query_form(&q);
    assert_non_null(strstr(f, "&targetDate=19991231"));
    free(f);
}

static void test_form_escaping(void **state)
{
    (void)state;
    pl_cyb_query q = {.merchant_id = "m r&x",
                      .merchant_reference = "A&B=C D+\xc3\xa9/%",
                      .target_day = DAY_LAST_SECOND};
    char *f = pl_cyb_query_form(&q);
    assert_non_null(f);
    assert_string_equal(f, "merchantID=m%20r%26x&type=transaction&subtype=transactionDetail"
                           "&versionNumber=1.7&merchantReferenceNumber=A%26B%3DC%20D%2B%C3%A9%2F%25"
                           "&targetDate=20240305");
    free(f);
}

static void test_form_request_id_wins(void **state)
{
    (void)state;
    /* A target day no form could carry: unused with a requestID. */
    pl_cyb_query q = {.merchant_id = "mr",
                      .merchant_reference = "0070000359700000",
                      .request_id = "7096480195336033204011",
                      .target_day = INT64_C(400000000000)};
    char *f = pl_cyb_query_form(&q);
    assert_non_null(f);
    assert_string_equal(f, "merchantID=mr&type=transaction&subtype=transactionDetail"
                           "&versionNumber=1.7&requestID=7096480195336033204011");
    free(f);

    /* An empty requestID is none. */
    q.request_id = "";
    q.target_day = DAY_LAST_SECOND;
    f = pl_cyb_query_form(&q);
    assert_non_null(strstr(f, "&merchantReferenceNumber=0070000359700000&targetDate=20240305"));
    assert_null(strstr(f, "requestID"));
    free(f);
}

static void test_form_refusals(void **state)
{
    (void)state;
    assert_null(pl_cyb_query_form(NULL));
    pl_cyb_query q = {.merchant_id = NULL, .merchant_reference = "r", .target_day = 0};
    assert_null(pl_cyb_query_form(&q));
    q.merchant_id = "";
    assert_null(pl_cyb_query_form(&q));
    q.merchant_id = "mr";
    q.merchant_reference = NULL;
    assert_null(pl_cyb_query_form(&q));
    q.merchant_reference = "";
    q.request_id = "";
    assert_null(pl_cyb_query_form(&q));
    /* A day in the year 14645 has no yyyyMMdd. */
    q.merchant_reference = "r";
    q.target_day = INT64_C(400000000000);
    assert_null(pl_cyb_query_form(&q));
}

/* ---------------------------------------------------------------------------------------- */
/* The Basic header */

static void test_auth_header(void **state)
{
    (void)state;
    char out[128];
    /* RFC 7617 §2's example. */
    assert_int_equal(pl_cyb_query_auth_header("Aladdin", "open sesame", out, sizeof out), 0);
    assert_string_equal(out, "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    /* A colon and a space in the password are fine. */
    assert_int_equal(pl_cyb_query_auth_header("mr_report", "S3cret pass:w0rd", out, sizeof out), 0);
    assert_string_equal(out, "Authorization: Basic bXJfcmVwb3J0OlMzY3JldCBwYXNzOncwcmQ=");

    /* Exactly the room needed, and one byte less (out wiped then). */
    size_t need = strlen("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==") + 1;
    assert_int_equal(pl_cyb_query_auth_header("Aladdin", "open sesame", out, need), 0);
    memset(out, 'x', sizeof out);
    assert_int_equal(pl_cyb_query_auth_header("Aladdin", "open sesame", out, need - 1),
                     PL_ERR_TOOBIG);
    for (size_t i = 0; i < need - 1; i++)
        assert_int_equal(out[i], 0);
    assert_int_equal(pl_cyb_query_auth_header("Aladdin", "open sesame", NULL, 0), PL_ERR_TOOBIG);
}

static void test_auth_header_refusals(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(pl_cyb_query_auth_header(NULL, "p", out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(pl_cyb_query_auth_header("u", NULL, out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(pl_cyb_query_auth_header("", "p", out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(pl_cyb_query_auth_header("u", "", out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(pl_cyb_query_auth_header("a:b", "p", out, sizeof out), PL_ERR_INVALID);
    /* The line end of a secret read from a file. */
    assert_int_equal(pl_cyb_query_auth_header("u", "secret\n", out, sizeof out), PL_ERR_INVALID);
    assert_int_equal(pl_cyb_query_auth_header("u\r", "p", out, sizeof out), PL_ERR_INVALID);
    assert_string_equal(out, "");
}

/* ---------------------------------------------------------------------------------------- */
/* Reports */

static void test_auth_approved(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    parse_fixture("auth_approved.xml", &res);
    assert_int_equal(res.nrecs, 1);
    const pl_cyb_query_record *r = &res.recs[0];
    assert_string_equal(r->merchant_reference, "0070000359700000");
    assert_string_equal(r->request_id, "7096480195336033204011");
    assert_string_equal(r->request_date, "2024-03-05T14:01:58+00:00");
    assert_true(r->has_amount);
    assert_int_equal(r->amount, 12000);
    assert_string_equal(r->currency, "USD");
    assert_string_equal(r->auth_code, "888888");
    assert_string_equal(r->avs, "Y");
    assert_string_equal(r->cvv, "M");
    assert_int_equal(r->napps, 1);
    assert_string_equal(r->apps[0].name, "ics_auth");
    assert_true(r->apps[0].has_rcode);
    assert_int_equal(r->apps[0].rcode, 1);
    assert_string_equal(r->apps[0].rflag, "SOK");
    assert_string_equal(r->apps[0].rmsg, "Request was processed successfully.");
    assert_string_equal(r->apps[0].reason_code, "100");

    const pl_cyb_query_record *rec = NULL;
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359700000", "auth", &rec), PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, r);
    /* Another merchant reference, another operation: not there. */
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359700001", "auth", &rec),
                     PL_CYB_NOT_THERE);
    assert_null(rec);
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359700000", "capture", &rec),
                     PL_CYB_NOT_THERE);
    /* An auth alone is not an auth+capture that completed. */
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359700000", "auth_capture", &rec),
                     PL_CYB_FOUND_ERROR);
    assert_ptr_equal(rec, r);
    /* Queried by requestID: any record. */
    assert_int_equal(pl_cyb_query_outcome(&res, NULL, "auth", NULL), PL_CYB_FOUND_OK);
}

static void test_auth_declined(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    parse_fixture("auth_declined.xml", &res);
    assert_int_equal(res.nrecs, 1);
    const pl_cyb_query_record *r = &res.recs[0];
    assert_int_equal(r->amount, 200000);
    assert_string_equal(r->currency, "USD"); /* "usd" upper-cased */
    assert_string_equal(r->auth_code, "");
    assert_string_equal(r->avs, "N"); /* no AVSResultMapped: the raw code */
    assert_string_equal(r->cvv, "N");
    assert_true(r->apps[0].has_rcode);
    assert_int_equal(r->apps[0].rcode, 0);
    assert_string_equal(r->apps[0].rflag, "DCARDREFUSED");
    assert_string_equal(r->apps[0].reason_code, "203");
    /* RMsg is free text: the card number in it is masked. */
    assert_null(strstr(r->apps[0].rmsg, "4000000000000002"));
    assert_non_null(strstr(r->apps[0].rmsg, "0002"));
    assert_non_null(strstr(r->apps[0].rmsg, "The card was refused by the issuer"));

    const pl_cyb_query_record *rec = NULL;
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359800000", "auth", &rec),
                     PL_CYB_FOUND_DECLINED);
    assert_ptr_equal(rec, r);
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359800000", "auth_capture", &rec),
                     PL_CYB_FOUND_DECLINED);
}

static void test_auth_capture(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    parse_fixture("auth_capture.xml", &res);
    assert_int_equal(res.nrecs, 1);
    const pl_cyb_query_record *r = &res.recs[0];
    assert_int_equal(r->napps, 3);
    assert_string_equal(r->apps[0].name, "ics_auth");
    assert_string_equal(r->apps[1].name, "ics_bill");
    assert_string_equal(r->apps[2].name, "ics_score");
    assert_string_equal(r->apps[2].rflag, "");
    assert_string_equal(r->apps[2].rmsg, "");
    assert_int_equal(r->amount, 5999);
    assert_string_equal(r->avs, "X"); /* AVSResultMapped wins over AVSResult I1 */
    assert_string_equal(r->auth_code, "831000");

    const char *ref = "0070000360100000";
    assert_int_equal(pl_cyb_query_outcome(&res, ref, "auth_capture", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&res, ref, "auth", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&res, ref, "capture", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&res, ref, "credit", NULL), PL_CYB_NOT_THERE);
    assert_int_equal(pl_cyb_query_outcome(&res, ref, "reversal", NULL), PL_CYB_NOT_THERE);
    assert_int_equal(pl_cyb_query_outcome(&res, ref, "token", NULL), PL_CYB_NOT_THERE);
}

static void test_reversal(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    parse_fixture("reversal.xml", &res);
    const pl_cyb_query_record *r = &res.recs[0];
    assert_string_equal(r->request_id, "7098091916116033204013");
    assert_string_equal(r->auth_code, "");
    assert_string_equal(r->avs, "");
    assert_string_equal(r->cvv, "");
    assert_int_equal(r->amount, 12000);
    const pl_cyb_query_record *rec = NULL;
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000360200000", "reversal", &rec),
                     PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, r);
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000360200000", "auth", &rec),
                     PL_CYB_NOT_THERE);
    assert_null(rec);
}

static void test_retried_auth(void **state)
{
    (void)state;
    /* Newest first: the approved retry, then the attempt that failed with ESYSTEM. */
    pl_cyb_query_result res;
    parse_fixture("auth_retried.xml", &res);
    assert_int_equal(res.nrecs, 2);
    assert_int_equal(res.recs[1].apps[0].rcode, -1);
    assert_string_equal(res.recs[1].apps[0].reason_code, "150");
    assert_false(res.recs[1].auth_code[0]);
    const pl_cyb_query_record *rec = NULL;
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000360300000", "auth", &rec), PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, &res.recs[0]);
    /* The Decision Manager's REVIEW is not judged, but it is there for the caller. */
    assert_string_equal(rec->apps[1].name, "ics_decision");
    assert_string_equal(rec->apps[1].rflag, "DREVIEW");

    /* The approval wins in whatever order the records come. */
    pl_cyb_query_result swapped = res;
    swapped.recs[0] = res.recs[1];
    swapped.recs[1] = res.recs[0];
    assert_int_equal(pl_cyb_query_outcome(&swapped, "0070000360300000", "auth", &rec),
                     PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, &swapped.recs[1]);
    /* Without it, the error is what is known. */
    swapped.nrecs = 1;
    assert_int_equal(pl_cyb_query_outcome(&swapped, "0070000360300000", "auth", &rec),
                     PL_CYB_FOUND_ERROR);
    assert_ptr_equal(rec, &swapped.recs[0]);
}

static void test_empty_report(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    parse_fixture("empty.xml", &res);
    assert_int_equal(res.nrecs, 0);
    const pl_cyb_query_record *rec = (const pl_cyb_query_record *)&res;
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359700000", "auth", &rec),
                     PL_CYB_NOT_THERE);
    assert_null(rec);
    /* <Requests></Requests> with white space, and no DOCTYPE nor declaration. */
    parse_text("<Report><Requests>\n  </Requests></Report>", &res);
    assert_int_equal(res.nrecs, 0);
}

static void test_token_ops(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    parse_text(
        ONE("T1", REPLY("ics_pay_subscription_create", "1", "SOK") REPLY("ics_auth", "1", "SOK")),
        &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "T1", "token_auth", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&res, "T1", "token", NULL), PL_CYB_FOUND_OK);

    parse_text(ONE("T2", REPLY("ics_pay_subscription_create", "1", "SOK")
                             REPLY("ics_auth", "0", "DCARDREFUSED")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "T2", "token_auth", NULL), PL_CYB_FOUND_DECLINED);

    /* The token without the auth asked with it: the request did not complete. */
    parse_text(ONE("T3", REPLY("ics_pay_subscription_create", "1", "SOK")), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "T3", "token", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&res, "T3", "token_auth", NULL), PL_CYB_FOUND_ERROR);

    /* An authorization Decision Manager held or refused: the token (or capture) asked with it
     * was skipped, and the request is that authorization, not a failure (the resolver maps it
     * REVIEW / REJECT 481 as an answer in time: a rejected authorization is reversed). */
    parse_text(ONE("D1", REPLY("ics_auth", "1", "SOK") REPLY("ics_decision", "0", "DREJECT")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "D1", "token_auth", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&res, "D1", "auth_capture", NULL), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_outcome(&res, "D1", "token", NULL), PL_CYB_NOT_THERE);
    assert_int_equal(pl_cyb_query_outcome(&res, "D1", "capture", NULL), PL_CYB_NOT_THERE);
    /* Decision Manager accepting does not explain a missing service; nor does an authorization
     * that did not succeed. */
    parse_text(ONE("D2", REPLY("ics_auth", "1", "SOK") REPLY("ics_decision", "1", "SOK")), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "D2", "token_auth", NULL), PL_CYB_FOUND_ERROR);
    parse_text(ONE("D3", REPLY("ics_auth", "-1", "ESYSTEM") REPLY("ics_decision", "0", "DREJECT")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "D3", "token_auth", NULL), PL_CYB_FOUND_ERROR);

    parse_text(ONE("C1", REPLY("ics_credit", "-1", "ESYSTEM")), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "C1", "credit", NULL), PL_CYB_FOUND_ERROR);
    parse_text(ONE("C2", REPLY("ics_credit", "1", "SOK")), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "C2", "credit", NULL), PL_CYB_FOUND_OK);

    /* A declined auth beside an error capture is a decline. */
    parse_text(ONE("AC", REPLY("ics_auth", "0", "DAVSNO") REPLY("ics_bill", "-1", "ESYSTEM")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC", "auth_capture", NULL), PL_CYB_FOUND_DECLINED);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC", "capture", NULL), PL_CYB_FOUND_ERROR);

    /* An RCode absent or unknown is no success, nor a failure: the record cannot be read
     * (test_unreadable_rcode). */
    parse_text(ONE("R", "<ApplicationReply Name=\"ics_auth\"><RFlag>SOK</RFlag>"
                        "</ApplicationReply>"),
               &res);
    assert_false(res.recs[0].apps[0].has_rcode);
    assert_int_equal(pl_cyb_query_outcome(&res, "R", "auth", NULL), PL_CYB_FOUND_UNREADABLE);
    parse_text(ONE("R", REPLY("ics_auth", " 2 ", "SOK")), &res);
    assert_int_equal(res.recs[0].apps[0].rcode, 2);
    assert_int_equal(pl_cyb_query_outcome(&res, "R", "auth", NULL), PL_CYB_FOUND_UNREADABLE);
}

/* An ApplicationReply with its ReasonCode. */
#define REPLY_RC(name, rcode, rflag, reason)                                                       \
    "<ApplicationReply Name=\"" name "\"><RCode>" rcode "</RCode><RFlag>" rflag                    \
    "</RFlag><RMsg>msg</RMsg><ReasonCode>" reason "</ReasonCode></ApplicationReply>"
/* An ApplicationReply without an RCode (rcode_elem "" leaves it out; "<RCode/>" is empty). */
#define REPLY_NO_RCODE(name, rcode_elem, rflag, reason)                                            \
    "<ApplicationReply Name=\"" name "\">" rcode_elem "<RFlag>" rflag "</RFlag><RMsg>msg</RMsg>"   \
    "<ReasonCode>" reason "</ReasonCode></ApplicationReply>"
/* A report of two Requests, each with its ApplicationReplies content, in that order. */
#define TWO(ref1, id1, replies1, ref2, id2, replies2)                                              \
    HEAD "<Requests>" REQ_OPEN(                                                                    \
        ref1, id1) "<ApplicationReplies>" replies1                                                 \
                   "</ApplicationReplies></Request>" REQ_OPEN(                                     \
                       ref2, id2) "<ApplicationReplies>" replies2                                  \
                                  "</ApplicationReplies></Request></Requests>" TAIL

/*
 * An application of the operation without an RCode, or with one other than 1, 0 or -1, is
 * FOUND_UNREADABLE whatever its RFlag and ReasonCode say, for every operation (before,
 * FOUND_ERROR: a capture whose record said SOK/100 without an RCode was booked failed, and the
 * order system sent it again). A record that says failure (RCode -1, with or without a reason)
 * or a refusal (RCode 0) keeps its verdict.
 */
static void test_unreadable_rcode(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    static const struct {
        const char *app, *op;
    } ops[] = {{"ics_bill", "capture"},
               {"ics_credit", "credit"},
               {"ics_auth_reversal", "reversal"},
               {"ics_auth", "auth"},
               {"ics_pay_subscription_create", "token"}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char body[2048];
        /* No RCode, SOK 100; an empty RCode; no RCode, no reason; RCode 2. */
        snprintf(body, sizeof body,
                 ONE("U1", "<ApplicationReply Name=\"%s\"><RFlag>SOK</RFlag><RMsg>msg</RMsg>"
                           "<ReasonCode>100</ReasonCode></ApplicationReply>"),
                 ops[i].app);
        parse_text(body, &res);
        assert_false(res.recs[0].apps[0].has_rcode);
        const pl_cyb_query_record *rec = NULL;
        assert_int_equal(pl_cyb_query_outcome(&res, "U1", ops[i].op, &rec),
                         PL_CYB_FOUND_UNREADABLE);
        assert_ptr_equal(rec, &res.recs[0]);
        assert_int_equal(pl_cyb_query_record_outcome(&res.recs[0], ops[i].op),
                         PL_CYB_FOUND_UNREADABLE);
        snprintf(body, sizeof body,
                 ONE("U2", "<ApplicationReply Name=\"%s\"><RCode/><RFlag>SOK</RFlag>"
                           "<ReasonCode>100</ReasonCode></ApplicationReply>"),
                 ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "U2", ops[i].op, NULL),
                         PL_CYB_FOUND_UNREADABLE);
        snprintf(body, sizeof body, ONE("U3", "<ApplicationReply Name=\"%s\"></ApplicationReply>"),
                 ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "U3", ops[i].op, NULL),
                         PL_CYB_FOUND_UNREADABLE);
        snprintf(body, sizeof body,
                 ONE("U4", "<ApplicationReply Name=\"%s\"><RCode>2</RCode><RFlag>SOK</RFlag>"
                           "</ApplicationReply>"),
                 ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "U4", ops[i].op, NULL),
                         PL_CYB_FOUND_UNREADABLE);
        /* What clearly says failure or refusal stays so. */
        snprintf(body, sizeof body, ONE("U5", REPLY("%s", "-1", "ESYSTEM")), ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "U5", ops[i].op, NULL), PL_CYB_FOUND_ERROR);
        snprintf(body, sizeof body, ONE("U6", REPLY("%s", "0", "DINVALIDDATA")), ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "U6", ops[i].op, NULL), PL_CYB_FOUND_DECLINED);
    }

    /* An auth+capture whose authorization succeeded and whose capture has no RCode may have
     * captured; one whose authorization has none beside a capture may have authorized. */
    parse_text(
        ONE("AC1", REPLY("ics_auth", "1", "SOK") REPLY_NO_RCODE("ics_bill", "", "SOK", "100")),
        &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC1", "auth_capture", NULL),
                     PL_CYB_FOUND_UNREADABLE);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC1", "auth", NULL), PL_CYB_FOUND_OK);
    parse_text(ONE("AC2", REPLY_NO_RCODE("ics_auth", "<RCode/>", "SOK", "100")
                              REPLY("ics_bill", "1", "SOK")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC2", "auth_capture", NULL),
                     PL_CYB_FOUND_UNREADABLE);
    /* Whatever the other says: a refusal beside it may be a partial approval (0/110) that was
     * captured. */
    parse_text(ONE("AC3", REPLY_RC("ics_auth", "0", "DCARDREFUSED", "110")
                              REPLY_NO_RCODE("ics_bill", "", "SOK", "100")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC3", "auth_capture", NULL),
                     PL_CYB_FOUND_UNREADABLE);
    /* A token+auth whose token has no RCode. */
    parse_text(ONE("TA", REPLY("ics_auth", "1", "SOK")
                             REPLY_NO_RCODE("ics_pay_subscription_create", "", "SOK", "100")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "TA", "token_auth", NULL), PL_CYB_FOUND_UNREADABLE);
    /* An application the operation does not run is not judged: ics_score without an RCode
     * beside a capture that succeeded. */
    parse_text(
        ONE("SC", REPLY("ics_bill", "1", "SOK") REPLY_NO_RCODE("ics_score", "", "SOK", "100")),
        &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "SC", "capture", NULL), PL_CYB_FOUND_OK);

    /* Across records it outranks a refusal or failure (that attempt may have been approved),
     * never an approval of an authorization. */
    parse_text(TWO("X", "1", REPLY("ics_auth", "0", "DCARDREFUSED"), "X", "2",
                   REPLY_NO_RCODE("ics_auth", "", "SOK", "100")),
               &res);
    const pl_cyb_query_record *rec = NULL;
    assert_int_equal(pl_cyb_query_outcome(&res, "X", "auth", &rec), PL_CYB_FOUND_UNREADABLE);
    assert_ptr_equal(rec, &res.recs[1]);
    parse_text(TWO("X", "1", REPLY("ics_bill", "-1", "ESYSTEM"), "X", "2",
                   REPLY_NO_RCODE("ics_bill", "", "SOK", "100")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "X", "capture", &rec), PL_CYB_FOUND_UNREADABLE);
    assert_ptr_equal(rec, &res.recs[1]);
    parse_text(TWO("X", "1", REPLY_NO_RCODE("ics_auth", "", "SOK", "100"), "X", "2",
                   REPLY("ics_auth", "1", "SOK")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "X", "auth", &rec), PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, &res.recs[1]);
}

/*
 * A capture, credit or auth+capture that more than one record of the merchant reference says
 * was applied (or one does and another is unreadable) is FOUND_SEVERAL, *rec the first applied:
 * before, the first was taken and nobody was told the card was charged (or refunded) twice.
 * Authorizations, reversals and tokens keep the first approval. Records of other references,
 * refusals and failures do not count.
 */
static void test_several_applied(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    const pl_cyb_query_record *rec = NULL;
    static const struct {
        const char *app, *op;
        pl_cyb_found two_ok;
    } ops[] = {{"ics_bill", "capture", PL_CYB_FOUND_SEVERAL},
               {"ics_credit", "credit", PL_CYB_FOUND_SEVERAL},
               {"ics_auth", "auth", PL_CYB_FOUND_OK},
               {"ics_auth_reversal", "reversal", PL_CYB_FOUND_OK},
               {"ics_pay_subscription_create", "token", PL_CYB_FOUND_OK}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char body[2048];
        snprintf(body, sizeof body,
                 TWO("S", "11", REPLY("%s", "1", "SOK"), "S", "22", REPLY("%s", "1", "SOK")),
                 ops[i].app, ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "S", ops[i].op, &rec), ops[i].two_ok);
        assert_ptr_equal(rec, &res.recs[0]);
        /* A requestID query (no merchant reference) likewise. */
        assert_int_equal(pl_cyb_query_outcome(&res, NULL, ops[i].op, NULL), ops[i].two_ok);
        /* One of another merchant reference does not count. */
        snprintf(body, sizeof body,
                 TWO("S", "11", REPLY("%s", "1", "SOK"), "S2", "22", REPLY("%s", "1", "SOK")),
                 ops[i].app, ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "S", ops[i].op, &rec), PL_CYB_FOUND_OK);
        assert_ptr_equal(rec, &res.recs[0]);
        /* Nor a refusal or a failure beside the one applied. */
        snprintf(body, sizeof body,
                 TWO("S", "11", REPLY("%s", "-1", "ESYSTEM"), "S", "22", REPLY("%s", "1", "SOK")),
                 ops[i].app, ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "S", ops[i].op, &rec), PL_CYB_FOUND_OK);
        assert_ptr_equal(rec, &res.recs[1]);
        snprintf(
            body, sizeof body,
            TWO("S", "11", REPLY("%s", "1", "SOK"), "S", "22", REPLY("%s", "0", "DINVALIDDATA")),
            ops[i].app, ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "S", ops[i].op, &rec), PL_CYB_FOUND_OK);
        assert_ptr_equal(rec, &res.recs[0]);
        /* An unreadable one beside the one applied may be a second: SEVERAL where two are. */
        snprintf(body, sizeof body,
                 TWO("S", "11", REPLY_NO_RCODE("%s", "", "SOK", "100"), "S", "22",
                     REPLY("%s", "1", "SOK")),
                 ops[i].app, ops[i].app);
        parse_text(body, &res);
        assert_int_equal(pl_cyb_query_outcome(&res, "S", ops[i].op, &rec), ops[i].two_ok);
        assert_ptr_equal(rec, &res.recs[1]);
        /* Each record's own verdict, for the caller that names them. */
        assert_int_equal(pl_cyb_query_record_outcome(&res.recs[0], ops[i].op),
                         PL_CYB_FOUND_UNREADABLE);
        assert_int_equal(pl_cyb_query_record_outcome(&res.recs[1], ops[i].op), PL_CYB_FOUND_OK);
    }

    /* An auth+capture captured twice; and once beside an authorization alone (its capture
     * not run: a record of "auth", not of "auth_capture" applied). */
    parse_text(TWO("AC", "11", REPLY("ics_auth", "1", "SOK") REPLY("ics_bill", "1", "SOK"), "AC",
                   "22", REPLY("ics_auth", "1", "SOK") REPLY("ics_bill", "1", "SOK")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC", "auth_capture", &rec), PL_CYB_FOUND_SEVERAL);
    assert_ptr_equal(rec, &res.recs[0]);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC", "capture", NULL), PL_CYB_FOUND_SEVERAL);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC", "auth", NULL), PL_CYB_FOUND_OK);
    parse_text(TWO("AC", "11", REPLY("ics_auth", "1", "SOK"), "AC", "22",
                   REPLY("ics_auth", "1", "SOK") REPLY("ics_bill", "1", "SOK")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "AC", "auth_capture", &rec), PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, &res.recs[1]);
}

/*
 * pl_cyb_query_outcome_applied gives pl_cyb_query_outcome's verdict and record, and lists every
 * record of the merchant reference that says the op was applied or may have been: two approved
 * authorizations (a retry the bureau authorized too) stay FOUND_OK, the first, and both are
 * listed, so that the resolver can name the other's hold; refusals, failures and records of
 * other references are not.
 */
static void test_applied_listed(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    pl_cyb_query_applied a;
    const pl_cyb_query_record *rec = NULL;
    parse_text(
        TWO("S", "11", REPLY("ics_auth", "1", "SOK"), "S", "22", REPLY("ics_auth", "1", "SOK")),
        &res);
    assert_int_equal(pl_cyb_query_outcome_applied(&res, "S", "auth", &rec, &a), PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, &res.recs[0]);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.unreadable, 0);
    assert_ptr_equal(a.recs[0], &res.recs[0]);
    assert_ptr_equal(a.recs[1], &res.recs[1]);
    assert_string_equal(a.recs[1]->request_id, "22");
    assert_int_equal(a.found[1], PL_CYB_FOUND_OK);
    /* The same as pl_cyb_query_outcome, applied NULL too. */
    assert_int_equal(pl_cyb_query_outcome_applied(&res, "S", "auth", NULL, NULL), PL_CYB_FOUND_OK);

    /* A capture applied twice: FOUND_SEVERAL, both listed. */
    parse_text(
        TWO("S", "11", REPLY("ics_bill", "1", "SOK"), "S", "22", REPLY("ics_bill", "1", "SOK")),
        &res);
    assert_int_equal(pl_cyb_query_outcome_applied(&res, "S", "capture", &rec, &a),
                     PL_CYB_FOUND_SEVERAL);
    assert_int_equal(a.n, 2);

    /* A refusal beside the approval, a record of another reference: not listed. */
    parse_text(TWO("S", "11", REPLY("ics_auth", "0", "DCARDREFUSED"), "S", "22",
                   REPLY("ics_auth", "1", "SOK")),
               &res);
    assert_int_equal(pl_cyb_query_outcome_applied(&res, "S", "auth", &rec, &a), PL_CYB_FOUND_OK);
    assert_int_equal(a.n, 1);
    assert_ptr_equal(a.recs[0], rec);
    parse_text(
        TWO("S2", "11", REPLY("ics_auth", "1", "SOK"), "S", "22", REPLY("ics_auth", "1", "SOK")),
        &res);
    assert_int_equal(pl_cyb_query_outcome_applied(&res, "S", "auth", &rec, &a), PL_CYB_FOUND_OK);
    assert_int_equal(a.n, 1);

    /* One that cannot be read may be a second hold: listed, counted unreadable. */
    parse_text(TWO("S", "11", REPLY("ics_auth", "1", "SOK"), "S", "22",
                   REPLY_NO_RCODE("ics_auth", "", "SOK", "100")),
               &res);
    assert_int_equal(pl_cyb_query_outcome_applied(&res, "S", "auth", &rec, &a), PL_CYB_FOUND_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.unreadable, 1);
    assert_int_equal(a.found[1], PL_CYB_FOUND_UNREADABLE);

    /* A caller's mistake lists nothing. */
    assert_int_equal(pl_cyb_query_outcome_applied(&res, "S", "nope", &rec, &a), PL_CYB_FOUND_ERROR);
    assert_null(rec);
    assert_int_equal(a.n, 0);
}

/* A report of one Request with the given ApplicationReplies content and PaymentData/Amount. */
#define ONE_PAID(ref, replies, amount)                                                             \
    HEAD "<Requests>" REQ_OPEN(                                                                    \
        ref, "1") "<ApplicationReplies>" replies                                                   \
                  "</ApplicationReplies><PaymentData><Amount>" amount "</Amount>"                  \
                  "<CurrencyCode>USD</CurrencyCode></PaymentData></Request></Requests>" TAIL

/*
 * A partial approval CyberSource writes as a refusal: ics_auth RCode 0 with ReasonCode 110, as
 * its answer writes decision REJECT 110. An auth+capture whose ics_bill says RCode 1 was
 * captured: the verdict is OK (the resolver reads it ACCEPT 110 for the record's amount), as the
 * adapter reads the answer (bureau_cybersource.h). Before, it was DECLINED: the order system,
 * told `declined`, sent the debit again and the card was charged twice. Without the capture
 * (failed, or not run) it stays the refusal: nothing was captured. An authorization's is OK when
 * the record carries the amount approved, as the adapter's needs ccAuthReply's amount; Decision
 * Manager's reject after it is then an authorization it decided on, not a failure.
 */
static void test_partial_approval_written_as_decline(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    const pl_cyb_query_record *rec = NULL;
    parse_text(ONE_PAID("P1",
                        REPLY_RC("ics_auth", "0", "DPARTIAL", "110")
                            REPLY_RC("ics_bill", "1", "SOK", "100"),
                        "55.00"),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "P1", "auth_capture", &rec), PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, &res.recs[0]);
    assert_int_equal(rec->amount, 5500);
    /* The record's own RCode is kept as read (the resolver reads the reason, 110). */
    assert_int_equal(rec->apps[0].rcode, 0);
    assert_string_equal(rec->apps[0].reason_code, "110");
    /* Without an amount the capture still happened: OK (the resolver escalates it, as it
     * cannot tell how much was captured). */
    parse_text(ONE("P2", REPLY_RC("ics_auth", "0", "DPARTIAL", "110")
                             REPLY_RC("ics_bill", "1", "SOK", "100")),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "P2", "auth_capture", NULL), PL_CYB_FOUND_OK);
    /* The capture failed, or did not run: nothing was taken, the refusal it says. */
    parse_text(ONE_PAID("P3",
                        REPLY_RC("ics_auth", "0", "DPARTIAL", "110")
                            REPLY_RC("ics_bill", "0", "DINVALIDDATA", "235"),
                        "55.00"),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "P3", "auth_capture", NULL), PL_CYB_FOUND_DECLINED);
    parse_text(ONE_PAID("P4", REPLY_RC("ics_auth", "0", "DPARTIAL", "110"), "55.00"), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "P4", "auth_capture", NULL), PL_CYB_FOUND_DECLINED);
    /* An authorization's, with the amount approved: OK; without it, the refusal. */
    assert_int_equal(pl_cyb_query_outcome(&res, "P4", "auth", NULL), PL_CYB_FOUND_OK);
    parse_text(ONE("P5", REPLY_RC("ics_auth", "0", "DPARTIAL", "110")), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "P5", "auth", NULL), PL_CYB_FOUND_DECLINED);
    /* Decision Manager's reject after it, the token skipped: the authorization it decided on. */
    parse_text(ONE_PAID("P6",
                        REPLY_RC("ics_auth", "0", "DPARTIAL", "110")
                            REPLY_RC("ics_decision", "0", "DREJECT", "481"),
                        "55.00"),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "P6", "token_auth", NULL), PL_CYB_FOUND_OK);
    /* Another reason beside a capture is a refusal the report says (the resolver escalates a
     * captured one); a capture is judged on its own. */
    parse_text(ONE_PAID("P7",
                        REPLY_RC("ics_auth", "0", "DCARDREFUSED", "203")
                            REPLY_RC("ics_bill", "1", "SOK", "100"),
                        "55.00"),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "P7", "auth_capture", NULL), PL_CYB_FOUND_DECLINED);
    assert_int_equal(pl_cyb_query_outcome(&res, "P7", "capture", NULL), PL_CYB_FOUND_OK);
}

/*
 * A token+auth's partial approval CyberSource writes as a refusal (ics_auth RCode 0, ReasonCode
 * 110, the record carrying the amount) without a token app: CyberSource skips
 * paySubscriptionCreate after it, and its answer in time (REJECT 110, ccAuthReply with the
 * amount, no paySubscriptionCreateReply) reads as the approval without a token. OK, as the answer
 * in time; before, ERROR (a request that did not complete; older still, DECLINED). So is RCode 1
 * with 110 (the resolver then judges the record's amount against what was sent). Without the
 * amount, 0/110 stays the refusal; a token attempted and refused is the refusal it says; a 100
 * without its token did not complete.
 */
static void test_token_auth_partial_without_token(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    const pl_cyb_query_record *rec = NULL;
    parse_text(ONE_PAID("K1", REPLY_RC("ics_auth", "0", "DPARTIAL", "110"), "55.00"), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "K1", "token_auth", &rec), PL_CYB_FOUND_OK);
    assert_ptr_equal(rec, &res.recs[0]);
    assert_int_equal(rec->amount, 5500);
    parse_text(ONE_PAID("K2", REPLY_RC("ics_auth", "1", "SOK", "110"), "55.00"), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "K2", "token_auth", NULL), PL_CYB_FOUND_OK);
    parse_text(ONE("K3", REPLY_RC("ics_auth", "0", "DPARTIAL", "110")), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "K3", "token_auth", NULL), PL_CYB_FOUND_DECLINED);
    parse_text(ONE_PAID("K4",
                        REPLY_RC("ics_auth", "0", "DPARTIAL", "110")
                            REPLY_RC("ics_pay_subscription_create", "0", "DINVALIDDATA", "102"),
                        "55.00"),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "K4", "token_auth", NULL), PL_CYB_FOUND_DECLINED);
    parse_text(ONE_PAID("K5",
                        REPLY_RC("ics_auth", "0", "DPARTIAL", "110")
                            REPLY_RC("ics_pay_subscription_create", "-1", "ESYSTEM", "150"),
                        "55.00"),
               &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "K5", "token_auth", NULL), PL_CYB_FOUND_ERROR);
    parse_text(ONE_PAID("K6", REPLY_RC("ics_auth", "1", "SOK", "100"), "55.00"), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "K6", "token_auth", NULL), PL_CYB_FOUND_ERROR);
    /* A token alone is judged on its own app: none here. */
    parse_text(ONE_PAID("K7", REPLY_RC("ics_auth", "0", "DPARTIAL", "110"), "55.00"), &res);
    assert_int_equal(pl_cyb_query_outcome(&res, "K7", "token", NULL), PL_CYB_NOT_THERE);
}

static void test_outcome_caller_mistakes(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    parse_fixture("auth_approved.xml", &res);
    const pl_cyb_query_record *rec = (const pl_cyb_query_record *)&res;
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359700000", "sale", &rec),
                     PL_CYB_FOUND_ERROR);
    assert_null(rec);
    rec = (const pl_cyb_query_record *)&res;
    assert_int_equal(pl_cyb_query_outcome(&res, "0070000359700000", NULL, &rec),
                     PL_CYB_FOUND_ERROR);
    assert_null(rec);
    assert_int_equal(pl_cyb_query_outcome(NULL, "0070000359700000", "auth", NULL),
                     PL_CYB_FOUND_ERROR);
    /* One record's verdict: never "not there" for a mistake either. */
    assert_int_equal(pl_cyb_query_record_outcome(&res.recs[0], "auth"), PL_CYB_FOUND_OK);
    assert_int_equal(pl_cyb_query_record_outcome(&res.recs[0], "capture"), PL_CYB_NOT_THERE);
    assert_int_equal(pl_cyb_query_record_outcome(&res.recs[0], "sale"), PL_CYB_FOUND_ERROR);
    assert_int_equal(pl_cyb_query_record_outcome(&res.recs[0], NULL), PL_CYB_FOUND_ERROR);
    assert_int_equal(pl_cyb_query_record_outcome(NULL, "auth"), PL_CYB_FOUND_ERROR);
}

static void test_namespaces_and_order(void **state)
{
    (void)state;
    /* A prefix instead of a default namespace, PaymentData before the replies, RequestID only
     * in PaymentRequestID, a duplicate-free foreign attribute. */
    const char *doc = "<r:Report xmlns:r=\"urn:x\"><r:Requests>"
                      "<r:Request MerchantReferenceNumber=\"M\" Extra=\"1\">"
                      "<r:PaymentData><r:PaymentRequestID> 77 </r:PaymentRequestID>"
                      "<r:Amount>10</r:Amount><r:CurrencyCode>jpy</r:CurrencyCode></r:PaymentData>"
                      "<r:ApplicationReplies><r:ApplicationReply Name=\"ics_bill\">"
                      "<r:RMsg> ok </r:RMsg><r:RCode>1</r:RCode></r:ApplicationReply>"
                      "</r:ApplicationReplies></r:Request></r:Requests></r:Report>";
    pl_cyb_query_result res;
    parse_text(doc, &res);
    assert_string_equal(res.recs[0].request_id, "77");
    assert_int_equal(res.recs[0].amount, 1000);
    assert_string_equal(res.recs[0].currency, "JPY");
    assert_string_equal(res.recs[0].apps[0].rmsg, "ok");
    assert_int_equal(pl_cyb_query_outcome(&res, "M", "capture", NULL), PL_CYB_FOUND_OK);
}

static void test_many_replies(void **state)
{
    (void)state;
    /* Ten replies, the two that matter last: they are kept, the others fill the room. */
    pl_cyb_query_result res;
    parse_text(ONE("M", REPLY("ics_a1", "1", "") REPLY("ics_a2", "1", "") REPLY("ics_a3", "1", "")
                            REPLY("ics_a4", "1", "") REPLY("ics_a5", "1", "") REPLY(
                                "ics_a6", "1", "") REPLY("ics_a7", "1", "") REPLY("ics_a8", "1", "")
                                REPLY("ics_auth", "1", "SOK") REPLY("ics_bill", "1", "SOK")),
               &res);
    assert_int_equal(res.recs[0].napps, PL_CYB_QUERY_MAX_APPS);
    assert_string_equal(res.recs[0].apps[0].name, "ics_a1");
    assert_string_equal(res.recs[0].apps[5].name, "ics_a6");
    assert_string_equal(res.recs[0].apps[6].name, "ics_auth");
    assert_string_equal(res.recs[0].apps[7].name, "ics_bill");
    assert_int_equal(pl_cyb_query_outcome(&res, "M", "auth_capture", NULL), PL_CYB_FOUND_OK);

    /* A Name too long for name[] is none of ours: skipped. */
    parse_text(ONE("L", REPLY("ics_a_name_far_too_long_for_the_field", "0", "D")
                            REPLY("ics_auth", "1", "SOK")),
               &res);
    assert_int_equal(res.recs[0].napps, 1);
    assert_string_equal(res.recs[0].apps[0].name, "ics_auth");

    /* Nine replies of paylink's operations cannot all be kept: refused. */
    char err[256];
    refused(ONE("N", REPLY("ics_auth", "1", "") REPLY("ics_auth", "1", "") REPLY(
                         "ics_auth", "1", "") REPLY("ics_auth", "1", "") REPLY("ics_auth", "1", "")
                         REPLY("ics_auth", "1", "") REPLY("ics_auth", "1", "")
                             REPLY("ics_auth", "1", "") REPLY("ics_bill", "1", "")),
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "more than 8"));
}

static void test_card_fields_never_copied(void **state)
{
    (void)state;
    /* A report that carried a whole card number where only a suffix belongs. */
    const char *doc = HEAD "<Requests>" REQ_OPEN(
        "M", "1") "<PaymentMethod><Card><AccountNumber>" PAN "</AccountNumber>"
                  "<AccountSuffix>" PAN "</AccountSuffix></Card></PaymentMethod>"
                  "<ApplicationReplies>" REPLY("ics_auth", "1",
                                               "SOK") "</ApplicationReplies>"
                                                      "<PaymentData><Amount>1.00</Amount></"
                                                      "PaymentData></Request></Requests>" TAIL;
    pl_cyb_query_result res;
    parse_text(doc, &res);
    assert_int_equal(res.nrecs, 1);
    assert_null(memmem(&res, sizeof res, PAN, strlen(PAN)));
    assert_null(memmem(&res, sizeof res, "1111", 4));
}

/* ---------------------------------------------------------------------------------------- */
/* Answers refused */

static void test_login_refusal(void **state)
{
    (void)state;
    char err[256];
    refused_fixture("login_refused.txt", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "Invalid login credentials.");
    refused("No merchant found for username.", PL_ERR_AUTH, err, sizeof err);
    refused("\xef\xbb\xbf  401 Unauthorized\r\n", PL_ERR_AUTH, err, sizeof err);
    assert_string_equal(err, "401 Unauthorized");

    /* Any other text is unreadable, never "not there"; card numbers masked in errstr. */
    refused("No records found for " PAN ".", PL_ERR_PARSE, err, sizeof err);
    assert_null(strstr(err, PAN));
    assert_non_null(strstr(err, "No records found"));
    char *longtext = malloc(PL_CYB_QUERY_PLAIN_TEXT_MAX + 20);
    memset(longtext, 'a', PL_CYB_QUERY_PLAIN_TEXT_MAX + 19);
    memcpy(longtext, "Invalid login ", 14);
    longtext[PL_CYB_QUERY_PLAIN_TEXT_MAX + 19] = '\0';
    refused(longtext, PL_ERR_PARSE, err, sizeof err);
    free(longtext);
    refused("\x01\x02\x03", PL_ERR_PARSE, err, sizeof err);
}

static void test_unreadable(void **state)
{
    (void)state;
    char err[256];
    refused_fixture("malformed.xml", PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "not XML"));
    refused_len(NULL, 0, PL_ERR_PARSE, err, sizeof err);
    refused(" \r\n ", PL_ERR_PARSE, err, sizeof err);
    assert_string_equal(err, "empty body");
    refused_len("<Report", PL_CYB_QUERY_MAX_BODY + 1, PL_ERR_PARSE, err, sizeof err);
    /* A card number in libxml2's message is masked. */
    refused("<Report><Requests><x" PAN "></Requests></Report>", PL_ERR_PARSE, err, sizeof err);
    assert_null(strstr(err, PAN));
    refused("<html><body>Service unavailable</body></html>", PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "<html>"));
    refused("<Report Name=\"Transaction Detail\"/>", PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "no Requests"));
    refused("<Report><Requests/><Requests/></Report>", PL_ERR_PARSE, err, sizeof err);
}

static void test_entities_refused(void **state)
{
    (void)state;
    char err[256];
    refused_fixture("entity_dtd.xml", PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "declares an entity"));
    refused_fixture("xxe_external.xml", PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "declares an entity (xxe)"));
    /* An undeclared entity would vanish from the value. */
    refused(ONE("M&foo;", REPLY("ics_auth", "1", "SOK")), PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "entity foo"));
    /* An ATTLIST default is not a value CyberSource sent. */
    pl_cyb_query_result res;
    parse_text("<!DOCTYPE Report [<!ATTLIST Request MerchantReferenceNumber CDATA \"X\">]>"
               "<Report><Requests><Request RequestID=\"1\"/></Requests></Report>",
               &res);
    assert_string_equal(res.recs[0].merchant_reference, "");
}

static void test_fields_refused(void **state)
{
    (void)state;
    char err[256];
    /* A RequestID of 65 characters: an identifier is never cut. */
    refused(HEAD "<Requests><Request RequestID=\""
                 "12345678901234567890123456789012345678901234567890123456789012345\"/>"
                 "</Requests>" TAIL,
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "Request 1: RequestID is longer than its field"));
    refused(ONE("M", REPLY("ics_auth", "yes", "SOK")), PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "RCode is not a number"));
    refused(HEAD "<Requests>" REQ_OPEN("M", "1") "<PaymentData><Amount>12,00</Amount>"
                                                 "</PaymentData></Request></Requests>" TAIL,
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "Amount is not an amount"));
    /* A negative amount would be applied as the amount approved. */
    refused(HEAD "<Requests>" REQ_OPEN("M", "1") "<PaymentData><Amount>-12.00</Amount>"
                                                 "</PaymentData></Request></Requests>" TAIL,
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "Amount is not an amount"));
    refused(HEAD "<Requests>" REQ_OPEN("M", "1") "<PaymentData><CurrencyCode>US</CurrencyCode>"
                                                 "</PaymentData></Request></Requests>" TAIL,
            PL_ERR_PARSE, err, sizeof err);
    refused(HEAD
            "<Requests>" REQ_OPEN("M", "1") "<PaymentData><Amount>1</Amount><Amount>2"
                                            "</Amount></PaymentData></Request></Requests>" TAIL,
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "Amount appears twice"));
    refused(HEAD "<Requests>" REQ_OPEN("M", "1") "<PaymentData/><PaymentData/>"
                                                 "</Request></Requests>" TAIL,
            PL_ERR_PARSE, err, sizeof err);
    refused(ONE("M", "<ApplicationReply Name=\"ics_auth\"><RCode>1</RCode><RCode>0</RCode>"
                     "</ApplicationReply>"),
            PL_ERR_PARSE, err, sizeof err);
    refused("<Report xmlns:a=\"urn:a\"><Requests><Request RequestID=\"1\" a:RequestID=\"2\"/>"
            "</Requests></Report>",
            PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "RequestID appears twice"));
}

static void test_too_many_records(void **state)
{
    (void)state;
    char doc[4096];
    int n = snprintf(doc, sizeof doc, "<Report><Requests>");
    for (int i = 0; i < PL_CYB_QUERY_MAX_RECORDS; i++)
        n += snprintf(doc + n, sizeof doc - (size_t)n,
                      "<Request MerchantReferenceNumber=\"M\" RequestID=\"%d\"/>", i);
    snprintf(doc + n, sizeof doc - (size_t)n, "</Requests></Report>");
    pl_cyb_query_result res;
    parse_text(doc, &res);
    assert_int_equal(res.nrecs, PL_CYB_QUERY_MAX_RECORDS);
    assert_string_equal(res.recs[7].request_id, "7");

    /* One more could hide the one that matters: refused. */
    n = snprintf(doc, sizeof doc, "<Report><Requests>");
    for (int i = 0; i <= PL_CYB_QUERY_MAX_RECORDS; i++)
        n += snprintf(doc + n, sizeof doc - (size_t)n,
                      "<Request MerchantReferenceNumber=\"M\" RequestID=\"%d\"/>", i);
    snprintf(doc + n, sizeof doc - (size_t)n, "</Requests></Report>");
    char err[256];
    refused(doc, PL_ERR_PARSE, err, sizeof err);
    assert_non_null(strstr(err, "more than 8 Request"));
}

static void test_errstr_optional(void **state)
{
    (void)state;
    pl_cyb_query_result res;
    assert_int_equal(pl_cyb_query_parse("Invalid login credentials.", 26, &res, NULL, 0),
                     PL_ERR_AUTH);
    assert_int_equal(pl_cyb_query_parse("<x", 2, &res, NULL, 0), PL_ERR_PARSE);
    char tiny[8];
    assert_int_equal(pl_cyb_query_parse("<Report/>", 9, &res, tiny, sizeof tiny), PL_ERR_PARSE);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_by_reference_day_boundaries),
        cmocka_unit_test(test_form_escaping),
        cmocka_unit_test(test_form_request_id_wins),
        cmocka_unit_test(test_form_refusals),
        cmocka_unit_test(test_auth_header),
        cmocka_unit_test(test_auth_header_refusals),
        cmocka_unit_test(test_auth_approved),
        cmocka_unit_test(test_auth_declined),
        cmocka_unit_test(test_auth_capture),
        cmocka_unit_test(test_reversal),
        cmocka_unit_test(test_retried_auth),
        cmocka_unit_test(test_empty_report),
        cmocka_unit_test(test_token_ops),
        cmocka_unit_test(test_unreadable_rcode),
        cmocka_unit_test(test_several_applied),
        cmocka_unit_test(test_applied_listed),
        cmocka_unit_test(test_partial_approval_written_as_decline),
        cmocka_unit_test(test_token_auth_partial_without_token),
        cmocka_unit_test(test_outcome_caller_mistakes),
        cmocka_unit_test(test_namespaces_and_order),
        cmocka_unit_test(test_many_replies),
        cmocka_unit_test(test_card_fields_never_copied),
        cmocka_unit_test(test_login_refusal),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_entities_refused),
        cmocka_unit_test(test_fields_refused),
        cmocka_unit_test(test_too_many_records),
        cmocka_unit_test(test_errstr_optional),
    };
    return cmocka_run_group_tests(tests, xml_test_group_setup, xml_test_group_teardown);
}
