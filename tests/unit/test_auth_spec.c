/*
 * test_auth_spec.c: the parts of paylink-auth's spec (workers/auth/auth.h) that need no
 * database: the reversal request id and the shape of the spec table. The mapping of bureau
 * answers and the choice of operation need a configuration snapshot from PostgreSQL; they are
 * tested in tests/integration/test_services.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "auth.h"
#include "bureau_cybersource.h"
#include "job_test_helpers.h"
#include "spec_test_helpers.h"
#include "xml_test_helpers.h"

/* A request id of n characters ("r-" then a repeating pattern). */
static void make_id(char *out, size_t n, char fill)
{
    out[0] = 'r';
    out[1] = '-';
    for (size_t i = 2; i < n; i++)
        out[i] = (char)(fill + (char)(i % 7));
    out[n] = '\0';
}

static void test_short_ids_get_suffix(void **state)
{
    (void)state;
    char out[64];
    pl_auth_reversal_request_id("r1", out, sizeof out);
    assert_string_equal(out, "r1.rev");
    pl_auth_reversal_request_id("9f1c2d3e-0000-4000-8000-123456789abc", out, sizeof out);
    assert_string_equal(out, "9f1c2d3e-0000-4000-8000-123456789abc.rev");

    /* 46 characters is the longest id that still fits the 50 of a request_id with ".rev". */
    char id[51];
    make_id(id, 46, 'a');
    pl_auth_reversal_request_id(id, out, sizeof out);
    assert_int_equal(strlen(out), 50);
    assert_memory_equal(out, id, 46);
    assert_string_equal(out + 46, ".rev");
}

/* The expected digest form: "rev." and the first 23 bytes of SHA-256(id) in lower-case hex. */
static void digest_form(const char *id, char *out, size_t outsize)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(mdlen, 32);
    int n = snprintf(out, outsize, "rev.");
    for (int i = 0; i < 23; i++)
        n += snprintf(out + n, outsize - (size_t)n, "%02x", md[i]);
}

static void test_long_ids_get_digest(void **state)
{
    (void)state;
    char id[51], out[64], again[64], want[64];
    for (size_t len = 47; len <= 50; len++) {
        make_id(id, len, 'A');
        pl_auth_reversal_request_id(id, out, sizeof out);
        /* Fits a request_id, deterministic, and the documented digest. */
        assert_int_equal(strlen(out), 50);
        pl_auth_reversal_request_id(id, again, sizeof again);
        assert_string_equal(out, again);
        digest_form(id, want, sizeof want);
        assert_string_equal(out, want);
        assert_null(strstr(out, ".rev"));
    }
}

static void test_ids_stay_distinct(void **state)
{
    (void)state;
    /* Long ids differing in one character, and a long id against the short form. */
    char a[51], b[51], ra[64], rb[64];
    make_id(a, 50, 'a');
    memcpy(b, a, sizeof b);
    b[49] = b[49] == 'x' ? 'y' : 'x';
    pl_auth_reversal_request_id(a, ra, sizeof ra);
    pl_auth_reversal_request_id(b, rb, sizeof rb);
    assert_string_not_equal(ra, rb);
    make_id(b, 46, 'a');
    pl_auth_reversal_request_id(b, rb, sizeof rb);
    assert_string_not_equal(ra, rb);
    /* A reversal of a reversal id is still a valid, distinct id. */
    pl_auth_reversal_request_id(rb, ra, sizeof ra);
    assert_int_equal(strlen(ra), 50);
    assert_string_not_equal(ra, rb);
}

/* seed "Response codes": a REJECT or ERROR through the External Payment Service is declined, on
 * hold AT, and SU when no reason code came (no vendor_response table here: every code is
 * undefined). */
static void test_ext_refusals(void **state)
{
    (void)state;
    pl_service ext;
    memset(&ext, 0, sizeof ext);
    snprintf(ext.code, sizeof ext.code, "EXT");
    snprintf(ext.protocol, sizeof ext.protocol, "EXT");
    static const struct {
        const char *decision, *reason, *vendor;
    } cases[] = {{"REJECT", "", "SU"},
                 {"ERROR", "", "SU"},
                 {"REJECT", "204", "204"},
                 {"ERROR", "INVALID", "INVALID"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_job job;
        pl_bureau_result res = {0};
        memset(&job, 0, sizeof job);
        job.svc = &ext;
        job.res = &res;
        job.reply = job_test_reply();
        snprintf(job.res->decision, sizeof job.res->decision, "%s", cases[i].decision);
        snprintf(job.res->reason_code, sizeof job.res->reason_code, "%s", cases[i].reason);
        pl_auth_spec.map(&job);
        assert_int_equal(job.reply->status, PL_ST_DECLINED);
        assert_string_equal(job.reply->vendor_response, cases[i].vendor);
        assert_string_equal(job.reply->hold_reason, "AT");
        assert_string_equal(job.reply->decision, cases[i].decision);
    }
    /* An approval is read as usual; a CyberSource ERROR stays an error. */
    pl_job job;
    pl_bureau_result res = {0};
    memset(&job, 0, sizeof job);
    job.svc = &ext;
    job.res = &res;
    job.reply = job_test_reply();
    snprintf(job.res->decision, sizeof job.res->decision, "ACCEPT");
    snprintf(job.res->reason_code, sizeof job.res->reason_code, "100");
    snprintf(job.card_token, sizeof job.card_token, "tok_1");
    pl_auth_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_string_equal(job.reply->token, "tok_1"); /* getToken's token, recorded and returned */
    pl_service cyb = ext;
    snprintf(cyb.protocol, sizeof cyb.protocol, "CYB");
    memset(&job, 0, sizeof job);
    memset(&res, 0, sizeof res);
    job.svc = &cyb;
    job.res = &res;
    job.reply = job_test_reply();
    snprintf(job.res->decision, sizeof job.res->decision, "ERROR");
    snprintf(job.res->reason_code, sizeof job.res->reason_code, "150");
    pl_auth_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
}

/* A `token` request that carried an amount holds nothing: no amount is approved (its history
 * row then reads as no authorization a debit could capture). */
static void test_token_approves_no_amount(void **state)
{
    (void)state;
    pl_service cyb;
    memset(&cyb, 0, sizeof cyb);
    snprintf(cyb.code, sizeof cyb.code, "CYB");
    snprintf(cyb.protocol, sizeof cyb.protocol, "CYB");
    pl_job job;
    pl_bureau_result res = {0};
    memset(&job, 0, sizeof job);
    job.svc = &cyb;
    job.res = &res;
    job.reply = job_test_reply();
    job.req.type = PL_REQ_TOKEN;
    job.req.has_amount = true;
    job.req.amount = 12000;
    job.call.op = PL_OP_TOKEN;
    snprintf(res.decision, sizeof res.decision, "ACCEPT");
    snprintf(res.reason_code, sizeof res.reason_code, "100");
    snprintf(res.token, sizeof res.token, "9911");
    pl_auth_spec.map(&job);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_false(job.reply->has_amount_approved);
    /* An authorization of that amount approves it, as before. */
    memset(job.reply, 0, sizeof *job.reply);
    job.req.type = PL_REQ_AUTH;
    job.call.op = PL_OP_AUTH;
    pl_auth_spec.map(&job);
    assert_true(job.reply->has_amount_approved);
    assert_int_equal(job.reply->amount_approved, 12000);
}

/* The mark of an authorization records the token it goes with (EXT: getToken's), so that an
 * outcome left unknown keeps it for the capture or reversal, which EXT takes by token only. */
static void test_mark_records_the_token(void **state)
{
    (void)state;
    const pl_db_stmt *mark = NULL;
    for (size_t i = 0; i < pl_auth_spec.nstmts; i++)
        if (strcmp(pl_auth_spec.stmts[i].name, "auth_mark_sent") == 0)
            mark = &pl_auth_spec.stmts[i];
    assert_non_null(mark);
    assert_int_equal(mark->nparams, 8);
    assert_non_null(strstr(mark->sql, "card_token = CASE WHEN card_token = '' THEN coalesce($8"));
}

/* body with its first from overwritten by to, of the same length. */
static void overwrite(char *body, const char *from, const char *to)
{
    assert_int_equal(strlen(from), strlen(to));
    char *at = strstr(body, from);
    assert_non_null(at);
    memcpy(at, to, strlen(to));
}

/* The bureau's answer (a fixture with its first from overwritten by to, then from2 by to2 when
 * not NULL) parsed for job's call, mapped as paylink-auth maps it, and its reply as the
 * follow-ups read it (status, vendor_response, auth.transaction_id), into *reply. */
static void answer(pl_job *job, const char *fixture, const char *from, const char *to,
                   const char *from2, const char *to2, json_object **reply)
{
    size_t len = 0;
    char *body = xml_test_read_fixture("cybersource", fixture, &len);
    assert_non_null(body);
    overwrite(body, from, to);
    if (from2)
        overwrite(body, from2, to2);
    pl_bureau_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    job->call.req = &job->req;
    char err[256] = "";
    int rc =
        pl_bureau_cybersource.parse(&cfg, &job->call, 200, body, len, job->res, err, sizeof err);
    if (rc != 0)
        print_message("parse: %s\n", err);
    assert_int_equal(rc, 0);
    free(body);
    memset(job->reply, 0, sizeof *job->reply);
    pl_auth_spec.map(job);
    *reply = json_object_new_object();
    json_object *auth = json_object_new_object();
    json_object_object_add(*reply, "status",
                           json_object_new_string(pl_status_name(job->reply->status)));
    json_object_object_add(*reply, "vendor_response",
                           json_object_new_string(job->reply->vendor_response));
    json_object_object_add(auth, "transaction_id",
                           json_object_new_string(job->reply->auth.transaction_id));
    json_object_object_add(*reply, "auth", auth);
}

/*
 * A CyberSource authorization answered REJECT at the request level while its ccAuthReply says
 * 100 (the issuer authorized it; wire formats §1.7): `rejected` (400, a fraud score over the
 * threshold) is reversed as a 481 is, <request_id>.rev for what ccAuthReply authorized, with
 * Send reversal. Before, only 481 and the soft declines were: the hold of a 400 stayed until the
 * authorization expired.
 */
static void test_reject_with_auth_100_reversed(void **state)
{
    (void)state;
    pl_service cyb;
    memset(&cyb, 0, sizeof cyb);
    snprintf(cyb.code, sizeof cyb.code, "CYB");
    snprintf(cyb.protocol, sizeof cyb.protocol, "CYB");
    cyb.send_reversal = true;
    pl_job job;
    pl_bureau_result res = {0};
    memset(&job, 0, sizeof job);
    job.svc = &cyb;
    job.res = &res;
    job.reply = job_test_reply();
    job.req.type = PL_REQ_AUTH;
    snprintf(job.req.request_id, sizeof job.req.request_id, "r-auth-0481");
    job.req.has_amount = true;
    job.req.amount = 50000;
    job.call.op = PL_OP_AUTH;
    json_object *reply = NULL;

    /* REJECT 400, ccAuthReply 100 for 481.00: rejected, and reversed for what is held. */
    answer(&job, "auth_reject_481.xml", "<c:reasonCode>481", "<c:reasonCode>400", NULL, NULL,
           &reply);
    assert_int_equal(job.reply->status, PL_ST_REJECTED);
    assert_string_equal(job.reply->vendor_response, "400");
    assert_false(job.reply->has_amount_approved); /* the reply still says rejected, no amount */
    assert_true(pl_auth_reverses(&job, reply));
    char held[24];
    assert_true(pl_job_held_amount(&job, held, sizeof held));
    assert_string_equal(held, "481.00");
    /* Without Send reversal, or on another protocol, nothing. */
    cyb.send_reversal = false;
    assert_false(pl_auth_reverses(&job, reply));
    cyb.send_reversal = true;
    snprintf(cyb.protocol, sizeof cyb.protocol, "EXT");
    assert_false(pl_auth_reverses(&job, reply));
    snprintf(cyb.protocol, sizeof cyb.protocol, "CYB");
    json_object_put(reply);

    /* The 481 itself, as before. */
    answer(&job, "auth_reject_481.xml", "<c:reasonCode>481", "<c:reasonCode>481", NULL, NULL,
           &reply);
    assert_int_equal(job.reply->status, PL_ST_REJECTED);
    assert_true(pl_auth_reverses(&job, reply));
    json_object_put(reply);

    /* The issuer declined (ccAuthReply 203): a 400 holds nothing, no reversal. */
    answer(&job, "auth_reject_481.xml", "<c:reasonCode>481", "<c:reasonCode>400",
           "<c:reasonCode>100</c:reasonCode>\n<c:amount>",
           "<c:reasonCode>203</c:reasonCode>\n<c:amount>", &reply);
    assert_int_equal(job.reply->status, PL_ST_REJECTED);
    assert_string_equal(job.res->service_reason_code, "203");
    assert_false(pl_auth_reverses(&job, reply));
    json_object_put(reply);

    /* A token+auth refused for its token (102) with ccAuthReply 100 is `declined`, and the
     * issuer holds its amount: reversed too, for ccAuthReply's 120.00 (its history row records
     * issuer_authorized, 060, so that paylink-reversal takes it; test_store_issuer_authorized).
     * Before, it was not: paylink-reversal took no reversal of a declined authorization but a
     * soft decline's. */
    snprintf(job.req.request_id, sizeof job.req.request_id, "r-auth-0002");
    job.call.op = PL_OP_TOKEN_AUTH;
    answer(&job, "token_auth.xml", "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
           "<c:decision>REJECT</c:decision>\n<c:reasonCode>102", NULL, NULL, &reply);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_string_equal(job.res->service_reason_code, "100");
    assert_true(pl_auth_reverses(&job, reply));
    assert_true(pl_job_held_amount(&job, held, sizeof held));
    assert_string_equal(held, "120.00");
    json_object_put(reply);
    /* Declined where the issuer declined too (ccAuthReply 203): nothing held, no reversal. */
    answer(&job, "token_auth.xml", "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
           "<c:decision>REJECT</c:decision>\n<c:reasonCode>102",
           "<c:ccAuthReply>\n<c:reasonCode>100", "<c:ccAuthReply>\n<c:reasonCode>203", &reply);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_string_equal(job.res->service_reason_code, "203");
    assert_false(pl_auth_reverses(&job, reply));
    json_object_put(reply);
    /* The same answer an operator holds for fraud would be `rejected`: reversed then. */
    answer(&job, "token_auth.xml", "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
           "<c:decision>REJECT</c:decision>\n<c:reasonCode>400", NULL, NULL, &reply);
    assert_int_equal(job.reply->status, PL_ST_REJECTED);
    assert_true(pl_auth_reverses(&job, reply));
    assert_true(pl_job_held_amount(&job, held, sizeof held));
    assert_string_equal(held, "120.00");
    json_object_put(reply);
    /* An answer without a result (replayed before 008_followups.sql) reads no ccAuthReply. */
    job.res = NULL;
    reply = json_tokener_parse("{\"status\":\"rejected\",\"vendor_response\":\"400\","
                               "\"auth\":{\"transaction_id\":\"64000\"}}");
    assert_false(pl_auth_reverses(&job, reply));
    json_object_put(reply);
}

/* A CYB service bureau with Send reversal and an `auth` job of request_id for amount, its
 * answer to be given by answer(). */
static void cyb_job(pl_service *cyb, pl_job *job, pl_bureau_result *res, const char *request_id,
                    int64_t amount, pl_bureau_op op)
{
    memset(cyb, 0, sizeof *cyb);
    snprintf(cyb->code, sizeof cyb->code, "CYB");
    snprintf(cyb->protocol, sizeof cyb->protocol, "CYB");
    cyb->send_reversal = true;
    memset(job, 0, sizeof *job);
    memset(res, 0, sizeof *res);
    job->svc = cyb;
    job->res = res;
    job->reply = job_test_reply();
    job->req.type = PL_REQ_AUTH;
    snprintf(job->req.request_id, sizeof job->req.request_id, "%s", request_id);
    job->req.has_amount = true;
    job->req.amount = amount;
    job->call.op = op;
    job->call.amount = amount; /* what auth_prepare sends: the request's amount */
}

/*
 * A REJECT whose ccAuthReply says 110: the issuer approved 55.00 of the 110.00 asked (a partial
 * approval) and Decision Manager (400) or another check (102: `declined`) refused the whole. The
 * issuer holds the 55.00: reversed, <request_id>.rev for 55.00 (pl_job_held_amount gives the
 * answer's amount, ccAuthReply's), not the 110.00 asked, which CyberSource would refuse above
 * what it authorized. Before, only ccAuthReply 100 was taken: the 55.00 stayed held until the
 * authorization expired. A 481 with ccAuthReply 110 was reversed already, for the 55.00 too.
 */
static void test_reject_with_auth_110_reversed_for_part(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    cyb_job(&cyb, &job, &res, "r-auth-0110", 11000, PL_OP_AUTH);
    static const struct {
        const char *top;
        pl_status status;
    } cases[] = {{"<c:reasonCode>400", PL_ST_REJECTED},
                 {"<c:reasonCode>481", PL_ST_REJECTED},
                 {"<c:reasonCode>102", PL_ST_DECLINED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *reply = NULL;
        /* The first reasonCode is the request's; ccAuthReply's 110 and 55.00 stay. */
        answer(&job, "auth_partial_110.xml", "<c:reasonCode>110", cases[i].top, NULL, NULL, &reply);
        assert_int_equal(job.reply->status, cases[i].status);
        assert_false(job.reply->has_amount_approved); /* refused: nothing approved */
        assert_string_equal(job.res->service_reason_code, "110");
        assert_true(pl_auth_reverses(&job, reply));
        char held[24];
        assert_true(pl_job_held_amount(&job, held, sizeof held));
        assert_string_equal(held, "55.00");
        json_object_put(reply);
    }
    /* A REJECT 110 itself is the partial approval it always was: approved for 55.00, kept. */
    json_object *reply = NULL;
    answer(&job, "auth_partial_110.xml", "<c:reasonCode>110", "<c:reasonCode>110", NULL, NULL,
           &reply);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_int_equal(job.reply->amount_approved, 5500);
    assert_false(pl_auth_reverses(&job, reply));
    json_object_put(reply);
}

/* What "auth_issuer_authorized" was given as what the issuer holds (its third parameter). */
static char g_held[24];

/* The statements paylink-auth's store adds for job's answer, each name into names (at most 4),
 * and the parameters of "auth_issuer_authorized" when it is one into p1, p2 (and g_held).
 * Returns how many. */
static int stored(pl_job *job, const char *names[4], char *p1, char *p2, size_t psize)
{
    char json[] = "{}";
    job->reply_json = json;
    pl_db_unit *u = pl_db_unit_new(NULL, NULL);
    assert_non_null(u);
    assert_int_equal(pl_auth_spec.store(job, u), 0);
    int n = pl_db_unit_count(u);
    assert_true(n <= 4);
    p1[0] = p2[0] = '\0';
    for (int i = 0; i < n; i++) {
        static char keep[4][40];
        snprintf(keep[i], sizeof keep[i], "%s", pl_db_unit_stmt(u, i));
        names[i] = keep[i];
        if (strcmp(keep[i], "auth_issuer_authorized") == 0) {
            snprintf(p1, psize, "%s", pl_db_unit_param(u, i, 0));
            snprintf(p2, psize, "%s", pl_db_unit_param(u, i, 1));
            snprintf(g_held, sizeof g_held, "%s", pl_db_unit_param(u, i, 2));
        }
    }
    pl_db_unit_free(u);
    return n;
}

/*
 * The store of a CyberSource authorization refused while its ccAuthReply says the issuer
 * authorized it (100, or 110 for part) records so on its history row (auth_issuer_authorized,
 * migration 060, whatever Send reversal says): paylink-reversal claims and reverses a declined
 * authorization only by it (or a soft decline's code). Nothing more for an approval, a refusal
 * the issuer declined, or another protocol.
 */
static void test_store_issuer_authorized(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    cyb_job(&cyb, &job, &res, "r-auth-0002", 12000, PL_OP_TOKEN_AUTH);
    cyb.send_reversal = false;
    const char *names[4];
    char p1[64], p2[64];
    json_object *reply = NULL;

    /* Declined 102 for the token, ccAuthReply 100: the history row says the issuer authorized. */
    answer(&job, "token_auth.xml", "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
           "<c:decision>REJECT</c:decision>\n<c:reasonCode>102", NULL, NULL, &reply);
    json_object_put(reply);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_int_equal(stored(&job, names, p1, p2, sizeof p1), 2);
    assert_string_equal(names[0], "auth_store");
    assert_string_equal(names[1], "auth_issuer_authorized");
    assert_string_equal(p1, "r-auth-0002");
    assert_string_equal(p2, job.reply->auth.transaction_id);
    assert_true(p2[0] != '\0');
    assert_string_equal(g_held, ""); /* all of it: the amount asked */
    /* Declined where the issuer declined (ccAuthReply 203): nothing more. */
    answer(&job, "token_auth.xml", "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
           "<c:decision>REJECT</c:decision>\n<c:reasonCode>102",
           "<c:ccAuthReply>\n<c:reasonCode>100", "<c:ccAuthReply>\n<c:reasonCode>203", &reply);
    json_object_put(reply);
    assert_int_equal(stored(&job, names, p1, p2, sizeof p1), 1);
    /* Approved: nothing more. */
    answer(&job, "token_auth.xml", "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
           "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100", NULL, NULL, &reply);
    json_object_put(reply);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_int_equal(stored(&job, names, p1, p2, sizeof p1), 1);

    /* Rejected 400 with ccAuthReply 110 (part authorized): recorded as well. */
    cyb_job(&cyb, &job, &res, "r-auth-0110", 11000, PL_OP_AUTH);
    answer(&job, "auth_partial_110.xml", "<c:reasonCode>110", "<c:reasonCode>400", NULL, NULL,
           &reply);
    json_object_put(reply);
    assert_int_equal(stored(&job, names, p1, p2, sizeof p1), 2);
    assert_string_equal(names[1], "auth_issuer_authorized");
    assert_string_equal(p2, "7419658120426543204019");
    /* With what the issuer holds of the 110.00 asked (061): a reversal of it goes for that. */
    assert_string_equal(g_held, "55.00");
    /* On another protocol, nothing more. */
    snprintf(cyb.protocol, sizeof cyb.protocol, "EXT");
    assert_int_equal(stored(&job, names, p1, p2, sizeof p1), 1);
}

/*
 * A CyberSource authorization answered ERROR (150, a system failure) while its ccAuthReply says
 * 100 (the issuer authorized 481.00 of it; wire formats §1.7): `error`, which the order system
 * meets by authorizing again, a second hold. The issuer holds the first: with Send reversal it is
 * reversed, <request_id>.rev for ccAuthReply's amount, and the store records issuer_authorized
 * on its history row (auth_issuer_authorized, whatever Send reversal says) so that
 * paylink-reversal takes the reversal of an `error` one (064). Before, neither: the first hold
 * stayed until it expired. An ERROR whose ccAuthReply says 203 (the issuer declined): nothing.
 */
/* auth_reject_481.xml's decision and reasonCode, and an ERROR 150 of the same length. */
#define ERROR_150_FROM "<c:decision>REJECT</c:decision>\n<c:reasonCode>481"
#define ERROR_150_TO "<c:decision>ERROR</c:decision> \n<c:reasonCode>150"

static void test_error_with_auth_100_reversed(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    cyb_job(&cyb, &job, &res, "r-auth-0481", 50000, PL_OP_AUTH);
    const char *names[4];
    char p1[64], p2[64], held[24];
    json_object *reply = NULL;

    answer(&job, "auth_reject_481.xml", ERROR_150_FROM, ERROR_150_TO, NULL, NULL, &reply);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_string_equal(job.reply->vendor_response, "150");
    assert_string_equal(job.res->service_reason_code, "100");
    assert_true(pl_auth_reverses(&job, reply));
    assert_true(pl_job_held_amount(&job, held, sizeof held));
    assert_string_equal(held, "481.00");
    cyb.send_reversal = false;
    assert_false(pl_auth_reverses(&job, reply));
    assert_int_equal(stored(&job, names, p1, p2, sizeof p1), 2);
    assert_string_equal(names[0], "auth_store");
    assert_string_equal(names[1], "auth_issuer_authorized");
    assert_string_equal(p1, "r-auth-0481");
    assert_string_equal(p2, "7419657200136712104018");
    assert_string_equal(g_held, "481.00"); /* less than the 500.00 asked */
    cyb.send_reversal = true;
    json_object_put(reply);

    /* The issuer declined (ccAuthReply 203): an error that holds nothing. */
    answer(&job, "auth_reject_481.xml", ERROR_150_FROM, ERROR_150_TO,
           "<c:reasonCode>100</c:reasonCode>\n<c:amount>",
           "<c:reasonCode>203</c:reasonCode>\n<c:amount>", &reply);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_string_equal(job.res->service_reason_code, "203");
    assert_false(pl_auth_reverses(&job, reply));
    assert_int_equal(stored(&job, names, p1, p2, sizeof p1), 1);
    json_object_put(reply);
}

/* fixture as read with each of subs (from, to, ..., NULL) applied in turn: its first from
 * replaced by to, of any length; a to of NULL cuts from its from up to and including the end
 * that follows it in subs (from, NULL, end, ...). Returns the text (malloc'd, NUL-terminated)
 * and its length in *len. */
static char *substituted(const char *fixture, const char *const *subs, size_t *len)
{
    size_t n = 0;
    char *body = xml_test_read_fixture("cybersource", fixture, &n);
    assert_non_null(body);
    char *text = strndup(body, n);
    assert_non_null(text);
    free(body);
    for (size_t i = 0; subs && subs[i];) {
        const char *from = subs[i], *to = subs[i + 1], *end = to ? NULL : subs[i + 2];
        i += to ? 2 : 3;
        char *at = strstr(text, from);
        assert_non_null(at);
        size_t head = (size_t)(at - text), cut = strlen(from);
        if (end) {
            const char *e = strstr(at, end);
            assert_non_null(e);
            cut = (size_t)(e - at) + strlen(end);
        }
        if (!to)
            to = "";
        size_t tlen = strlen(to), rest = strlen(at + cut);
        char *out = malloc(head + tlen + rest + 1);
        assert_non_null(out);
        memcpy(out, text, head);
        memcpy(out + head, to, tlen);
        memcpy(out + head + tlen, at + cut, rest + 1);
        free(text);
        text = out;
    }
    *len = strlen(text);
    return text;
}

/* The bureau's answer (fixture with subs, as substituted) parsed for job's call as the engine
 * parses it: 0, the answer mapped as paylink-auth maps it and its reply as the follow-ups read it
 * into *reply (as answer()); or the adapter's refusal, its text into err and *reply NULL. */
static int answer_subs(pl_job *job, const char *fixture, const char *const *subs, char *err,
                       size_t errsize, json_object **reply)
{
    size_t len = 0;
    char *body = substituted(fixture, subs, &len);
    pl_bureau_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    job->call.req = &job->req;
    err[0] = '\0';
    int rc = pl_bureau_cybersource.parse(&cfg, &job->call, 200, body, len, job->res, err, errsize);
    free(body);
    *reply = NULL;
    if (rc != 0)
        return rc;
    memset(job->reply, 0, sizeof *job->reply);
    pl_auth_spec.map(job);
    *reply = json_object_new_object();
    json_object *auth = json_object_new_object();
    json_object_object_add(*reply, "status",
                           json_object_new_string(pl_status_name(job->reply->status)));
    json_object_object_add(*reply, "vendor_response",
                           json_object_new_string(job->reply->vendor_response));
    json_object_object_add(auth, "transaction_id",
                           json_object_new_string(job->reply->auth.transaction_id));
    json_object_object_add(*reply, "auth", auth);
    return 0;
}

/* auth_partial_110.xml's decision and reasonCode, and its ccAuthReply's amount. */
#define PARTIAL_TOP "<c:decision>REJECT</c:decision>\n<c:reasonCode>110"
#define PARTIAL_AMOUNT "<c:amount>55.00</c:amount>"

/*
 * A partial approval (110: the answer's reasonCode or ccAuthReply's) of an authorization or
 * token+auth of 110.00 whose ccAuthReply gives no amount approved, or one not below the 110.00
 * sent, is unreadable whatever its decision: its outcome is unknown (the engine opens a required
 * response; the resolver escalates the record that says the same, partial_unreadable), and
 * nothing is booked or reversed. Before, ACCEPT 100 with ccAuthReply 110 was `approved` for
 * 110.00, REVIEW 480 a `review` of 110.00 authorized (a debit then captured more than is held,
 * refused 235), REJECT 110 `declined` and REJECT 481 `rejected` with a `.rev` for 110.00 (which
 * CyberSource refuses above the part: the hold stayed). With the part (55.00) each reads as
 * before.
 */
static void test_partial_without_part_unreadable(void **state)
{
    (void)state;
    static const char *const tops[] = {
        "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100",
        "<c:decision>REVIEW</c:decision>\n<c:reasonCode>480",
        "<c:decision>REJECT</c:decision>\n<c:reasonCode>110",
        "<c:decision>REJECT</c:decision>\n<c:reasonCode>481",
        "<c:decision>REJECT</c:decision>\n<c:reasonCode>400",
        "<c:decision>REJECT</c:decision>\n<c:reasonCode>203",
        "<c:decision>ERROR</c:decision>\n<c:reasonCode>150",
    };
    static const char *const amounts[] = {"", "<c:amount>110.00</c:amount>",
                                          "<c:amount>130.00</c:amount>",
                                          "<c:amount>0.00</c:amount>"};
    static const pl_bureau_op ops[] = {PL_OP_AUTH, PL_OP_TOKEN_AUTH};
    for (size_t o = 0; o < 2; o++)
        for (size_t t = 0; t < sizeof tops / sizeof tops[0]; t++)
            for (size_t a = 0; a < sizeof amounts / sizeof amounts[0]; a++) {
                pl_service cyb;
                pl_job job;
                pl_bureau_result res;
                cyb_job(&cyb, &job, &res, "r-auth-0110", 11000, ops[o]);
                const char *subs[] = {PARTIAL_TOP, tops[t], PARTIAL_AMOUNT, amounts[a], NULL};
                char err[256];
                json_object *reply = NULL;
                int rc = answer_subs(&job, "auth_partial_110.xml", subs, err, sizeof err, &reply);
                if (rc == 0)
                    print_message("read: %s, op %d, amount %s: %s %s\n", tops[t], (int)ops[o],
                                  amounts[a], pl_status_name(job.reply->status),
                                  pl_auth_reverses(&job, reply) ? "reversed" : "");
                assert_int_equal(rc, PL_ERR_PARSE);
                assert_non_null(strstr(err, "partial approval (110)"));
                assert_null(reply);
                /* Nothing read: not captured, no decision, nothing to reverse. */
                assert_string_equal(res.decision, "");
                assert_false(res.capture_approved);
            }

    /* The answer's 110 beside a ccAuthReply that says 100 without an amount: the same. */
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    cyb_job(&cyb, &job, &res, "r-auth-0110", 11000, PL_OP_AUTH);
    char err[256];
    json_object *reply = NULL;
    const char *all[] = {"<c:reasonCode>110</c:reasonCode>\n<c:amount>55.00</c:amount>",
                         "<c:reasonCode>100</c:reasonCode>", NULL};
    assert_int_equal(answer_subs(&job, "auth_partial_110.xml", all, err, sizeof err, &reply),
                     PL_ERR_PARSE);
    assert_non_null(strstr(err, "without the amount approved (110.00 sent)"));
    /* A 110 without a ccAuthReply at all: no part either. */
    const char *none[] = {"<c:ccAuthReply>", NULL, "</c:ccAuthReply>\n", NULL};
    assert_int_equal(answer_subs(&job, "auth_partial_110.xml", none, err, sizeof err, &reply),
                     PL_ERR_PARSE);

    /* With the part, 55.00 of the 110.00, each reads as it did. */
    static const struct {
        const char *top;
        pl_status status;
        bool reversed;
    } part[] = {{"<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100", PL_ST_APPROVED, false},
                {"<c:decision>REVIEW</c:decision>\n<c:reasonCode>480", PL_ST_REVIEW, false},
                {"<c:decision>REJECT</c:decision>\n<c:reasonCode>110", PL_ST_APPROVED, false},
                {"<c:decision>REJECT</c:decision>\n<c:reasonCode>481", PL_ST_REJECTED, true}};
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
        const char *subs[] = {PARTIAL_TOP, part[i].top, NULL};
        assert_int_equal(answer_subs(&job, "auth_partial_110.xml", subs, err, sizeof err, &reply),
                         0);
        assert_int_equal(job.reply->status, part[i].status);
        if (part[i].status != PL_ST_REJECTED) {
            assert_true(job.reply->has_amount_approved);
            assert_int_equal(job.reply->amount_approved, 5500);
        }
        assert_true(pl_auth_reverses(&job, reply) == part[i].reversed);
        if (part[i].reversed) {
            char held[24];
            assert_true(pl_job_held_amount(&job, held, sizeof held));
            assert_string_equal(held, "55.00");
        }
        json_object_put(reply);
    }
}

/* auth_reject_481.xml's reasonCode, and its ccAuthReply's. */
#define REJECT_TOP "<c:reasonCode>481"
#define AUTH_REPLY_100 "<c:ccAuthReply>\n<c:reasonCode>100"

/*
 * A Decision Manager reject (481) or a soft decline (200, 230, 520) is reversed only when its
 * answer does not say the issuer never authorized it: a 481 whose ccAuthReply says 100 (or 110,
 * or a soft decline's reason: the issuer approved) is, one whose ccAuthReply says 203 (the issuer
 * declined) or that has no ccAuthReply (Decision Manager refused it before the authorization ran)
 * holds nothing: no `.rev`. A soft decline is reversed when its ccAuthReply says 100 or repeats the
 * soft decline's code, or when it has none (its code says the issuer approved), not when
 * ccAuthReply says 203. Before, every 481 and soft decline was reversed: a reversal CyberSource
 * refuses, a declined reply nobody asked for. Without its answer (job->res NULL: what a replay of
 * a row stored without follow-ups decided with, before the engine stopped deciding them again)
 * nothing is reversed, a 481 or a soft decline alike: the reply alone says nothing of a hold.
 * Before, such a replay reversed it, and paylink-reversal sent an authReversal CyberSource
 * refuses for an authorization the original answer said was never made.
 */
static void test_reject_reversed_only_when_authorized(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    cyb_job(&cyb, &job, &res, "r-auth-0481", 50000, PL_OP_AUTH);
    char err[256];
    json_object *reply = NULL;
    static const char *const tops[] = {"<c:reasonCode>481", "<c:reasonCode>200",
                                       "<c:reasonCode>230", "<c:reasonCode>520"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        bool dm = i == 0;
        const char *code = tops[i] + strlen("<c:reasonCode>");
        char repeated[64];
        snprintf(repeated, sizeof repeated, "<c:ccAuthReply>\n<c:reasonCode>%s", code);
        const struct {
            const char *from, *to, *end; /* to NULL: cut from .. end */
            bool reversed;
        } cases[] = {
            {AUTH_REPLY_100, AUTH_REPLY_100, NULL, true},
            {AUTH_REPLY_100, "<c:ccAuthReply>\n<c:reasonCode>203", NULL, false},
            {"<c:ccAuthReply>", NULL, "</c:ccAuthReply>\n", !dm},
            {AUTH_REPLY_100, repeated, NULL, !dm},
            /* A soft decline's reason in ccAuthReply: the issuer approved, a 481 too. */
            {AUTH_REPLY_100, "<c:ccAuthReply>\n<c:reasonCode>230", NULL, true},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const char *subs[] = {REJECT_TOP,  tops[i],      cases[k].from,
                                  cases[k].to, cases[k].end, NULL};
            assert_int_equal(
                answer_subs(&job, "auth_reject_481.xml", subs, err, sizeof err, &reply), 0);
            assert_int_equal(job.reply->status, dm ? PL_ST_REJECTED : PL_ST_DECLINED);
            assert_string_equal(job.reply->vendor_response, code);
            if (pl_auth_reverses(&job, reply) != cases[k].reversed)
                print_message("%s, case %zu: reversed %d\n", code, k, !cases[k].reversed);
            assert_true(pl_auth_reverses(&job, reply) == cases[k].reversed);
            json_object_put(reply);
        }
    }
    /* Without its answer: nothing says the issuer holds anything, so no reversal (before: a
     * 481 or soft decline was reversed on its vendor response alone). */
    static const char *const bare[] = {
        "{\"status\":\"rejected\",\"vendor_response\":\"481\",\"auth\":{\"transaction_id\":"
        "\"64000\"}}",
        "{\"status\":\"declined\",\"vendor_response\":\"230\",\"auth\":{\"transaction_id\":"
        "\"64000\"}}",
        "{\"status\":\"error\",\"vendor_response\":\"150\",\"auth\":{\"transaction_id\":"
        "\"64000\"}}",
    };
    pl_bureau_result *kept = job.res;
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++) {
        reply = json_tokener_parse(bare[i]);
        assert_non_null(reply);
        job.res = NULL;
        assert_false(pl_auth_reverses(&job, reply));
        /* nor with an answer that has no decision (nothing read) */
        job.res = kept;
        job.res->decision[0] = '\0';
        assert_false(pl_auth_reverses(&job, reply));
        json_object_put(reply);
    }
}

static void test_spec_table(void **state)
{
    (void)state;
    const pl_spec *s = &pl_auth_spec;
    assert_string_equal(s->worker, "auth");
    assert_string_equal(s->table, "cc_auth_trans");
    assert_non_null(s->protocols);
    assert_string_equal(s->protocols[0], "CYB");
    assert_string_equal(s->protocols[1], "EXT"); /* credit cards on the External Payment Service */
    assert_null(s->protocols[2]);
    assert_non_null(s->record);
    assert_non_null(s->prepare);
    assert_non_null(s->mark_sent);
    assert_non_null(s->map);
    assert_non_null(s->store);
    assert_non_null(s->followups);
    /* Its store records the follow-ups decided as none ('[]'), in the answer's own update: the
     * engine adds pl_followups only for a reversal (engine.c on_http), which replaces it. */
    for (size_t i = 0; i < s->nstmts; i++)
        if (strncmp(s->stmts[i].name, "auth_store", 10) == 0)
            assert_non_null(strstr(s->stmts[i].sql, "followups = coalesce(t.followups, '[]'"));

    /* Every statement declares as many parameters as its SQL uses, and names are unique. */
    assert_true(s->nstmts >= 3);
    spec_assert_statements(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_ids_get_suffix),
        cmocka_unit_test(test_long_ids_get_digest),
        cmocka_unit_test(test_ids_stay_distinct),
        cmocka_unit_test(test_spec_table),
        cmocka_unit_test(test_ext_refusals),
        cmocka_unit_test(test_token_approves_no_amount),
        cmocka_unit_test(test_mark_records_the_token),
        cmocka_unit_test(test_reject_with_auth_100_reversed),
        cmocka_unit_test(test_reject_with_auth_110_reversed_for_part),
        cmocka_unit_test(test_store_issuer_authorized),
        cmocka_unit_test(test_error_with_auth_100_reversed),
        cmocka_unit_test(test_partial_without_part_unreadable),
        cmocka_unit_test(test_reject_reversed_only_when_authorized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
