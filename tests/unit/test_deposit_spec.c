/* test_deposit_spec.c: the statements of paylink-deposit's spec (deposit.c) that need no
 * database: every statement declares the parameters it uses, the marks, which claim money,
 * share one text between a statement and its merged form, and the reversal a store owes keeps
 * to what was voided for it. What they do to the rows is tests/integration/test_deposit_many.c's
 * and test_deposit_vdr.c's. And the reversal a refused CyberSource auth+capture's answer asks
 * for (pl_deposit_reverses_refusal), read from the answer as the adapter parses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bureau_cybersource.h"
#include "deposit.h"
#include "job_test_helpers.h"
#include "spec_test_helpers.h"
#include "xml_test_helpers.h"

static const pl_db_stmt *stmt(const char *name)
{
    return spec_stmt(&pl_deposit_spec, name);
}

/* Parameters used as declared, unique names, every merged form its statement over unnest. */
static void test_statement_table(void **state)
{
    (void)state;
    const pl_spec *s = &pl_deposit_spec;
    assert_string_equal(s->table, "cc_deposit_trans");
    assert_true(s->nstmts > 0);
    spec_assert_statements(s);
}

/* A mark's text from its row lock (me) on. */
static const char *me_of(const pl_db_stmt *st)
{
    const char *me = strstr(st->sql, "me AS (");
    assert_non_null(me);
    return me;
}

static void test_marks_share_their_text(void **state)
{
    (void)state;
    const pl_db_stmt *plain = stmt("dep_mark_sent");
    const pl_db_stmt *auth = stmt("dep_mark_sent_auth");
    const pl_db_stmt *capture = stmt("dep_mark_sent_capture");
    assert_int_equal(plain->nparams, 8);
    assert_int_equal(auth->nparams, 10);
    assert_int_equal(capture->nparams, 10);
    /* (That dep_mark_sent_auth:many is dep_mark_sent_auth over each execution's parameters is
     * spec_assert_statements', above.) */
    /* A capture's claim is found by its own authorization, a credit's by its debit. */
    assert_non_null(strstr(auth->sql, "EXISTS (SELECT 1 FROM claim c WHERE c.id = me.p5::bigint)"));
    assert_non_null(
        strstr(capture->sql, "EXISTS (SELECT 1 FROM claim c WHERE c.request_id = me.p10)"));
    /* A mark re-sent by the same attempt (p8) takes its own row back, and claims nothing twice. */
    assert_non_null(strstr(auth->sql, "d.status = 'sent' AND d.sent_by = e.p8"));
    assert_non_null(strstr(auth->sql, "WHERE me.status = 'received' AND h.id = me.p5::bigint"));
    assert_non_null(strstr(capture->sql, "WHERE me.status = 'received' AND c.request_id = me.p10"));
    /* The three marks set the same columns the same way, up to what they claimed. */
    const char *set = strstr(plain->sql, " UPDATE cc_deposit_trans d SET status = 'sent'");
    assert_non_null(set);
    size_t n = (size_t)(strstr(set, "claim_amount = ") - set);
    assert_memory_equal(me_of(plain), me_of(auth), (size_t)(set - me_of(plain)));
    assert_non_null(strstr(auth->sql, "claim_amount = me.p9::numeric"));
    assert_non_null(strstr(plain->sql, "claim_amount = NULL"));
    /* A capture records whether it voids its authorization's remainder (046); nothing else
     * does. */
    assert_non_null(strstr(auth->sql, "void_remainder = me.p10::boolean"));
    assert_non_null(strstr(plain->sql, "void_remainder = NULL"));
    assert_non_null(strstr(capture->sql, "void_remainder = NULL"));
    const char *auth_set = strstr(auth->sql, " UPDATE cc_deposit_trans d SET status = 'sent'");
    const char *capture_set =
        strstr(capture->sql, " UPDATE cc_deposit_trans d SET status = 'sent'");
    assert_non_null(auth_set);
    assert_non_null(capture_set);
    assert_memory_equal(set, auth_set, n);
    assert_memory_equal(set, capture_set, n);
}

/* The reversal an auth+capture's store owes (059) is what the settle trigger of the same unit
 * has just voided for it: nothing of it captured, on a bureau with Send reversal, not one its
 * row's follow-ups hold (another actor answered first), once. A statement of its own, never
 * merged: it must run after the store whose trigger it reads. */
static void test_owed_reversal(void **state)
{
    (void)state;
    const pl_db_stmt *owe = stmt("dep_owe_reversal");
    assert_int_equal(owe->nparams, 1);
    assert_null(
        spec_find(&pl_deposit_spec, "dep_owe_reversal:many", strlen("dep_owe_reversal:many")));
    static const char *const guards[] = {
        "INSERT INTO replaced_auth_reversal ",
        "d.operation = 'auth_capture' AND d.status = 'approved'",
        "s.send_reversal",
        "h.status = 'voided' AND h.void_reason = 'auth_capture'",
        "h.voided_by = $1 AND h.amount_deposited = 0 AND h.amount_voided > 0",
        "f->>'topic' LIKE '%.reversal.request'",
        "ON CONFLICT (deposit_request_id) DO NOTHING",
    };
    for (size_t i = 0; i < sizeof guards / sizeof guards[0]; i++)
        if (!strstr(owe->sql, guards[i]))
            fail_msg("dep_owe_reversal lacks %s", guards[i]);
}

/* ---- the reversal of a refused auth+capture ---- */

/* A CYB service bureau with Send reversal and a debit job of 150.00 sent as an auth+capture,
 * its answer to be given by answer(). */
static void auth_capture_job(pl_service *cyb, pl_job *job, pl_bureau_result *res)
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
    job->req.type = PL_REQ_DEBIT;
    snprintf(job->req.request_id, sizeof job->req.request_id, "r-debit-0002");
    job->req.has_amount = true;
    job->req.amount = 15000;
    job->call.op = PL_OP_AUTH_CAPTURE;
}

/* The bureau's answer: a fixture with each pair of subs (from, to of the same length; NULL ends
 * them) overwritten in turn, parsed for job's call, mapped as paylink-deposit maps it, and its
 * reply as the follow-ups read it (status, vendor_response, auth.transaction_id), which the
 * caller puts. */
static int parse_for(pl_job *job, const char *fixture, const char *const *subs, char *err,
                     size_t errsz)
{
    size_t len = 0;
    char *body = xml_test_read_fixture("cybersource", fixture, &len);
    assert_non_null(body);
    for (size_t i = 0; subs && subs[i]; i += 2) {
        assert_int_equal(strlen(subs[i]), strlen(subs[i + 1]));
        char *at = strstr(body, subs[i]);
        if (!at)
            fail_msg("%s has no %s", fixture, subs[i]);
        memcpy(at, subs[i + 1], strlen(subs[i + 1]));
    }
    pl_bureau_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    job->call.req = &job->req;
    /* The amount the call sent, as paylink-deposit's prepare sets it (a partial approval's
     * part must be below it: bureau_cybersource.h). */
    job->call.amount = job->req.has_amount ? job->req.amount : 0;
    err[0] = '\0';
    int prc = pl_bureau_cybersource.parse(&cfg, &job->call, 200, body, len, job->res, err, errsz);
    free(body);
    return prc;
}

static json_object *answer(pl_job *job, const char *fixture, const char *const *subs)
{
    char err[256];
    if (parse_for(job, fixture, subs, err, sizeof err) != 0)
        fail_msg("%s: %s", fixture, err);
    memset(job->reply, 0, sizeof *job->reply);
    pl_deposit_spec.map(job);
    json_object *reply = json_object_new_object(), *auth = json_object_new_object();
    json_object_object_add(reply, "status",
                           json_object_new_string(pl_status_name(job->reply->status)));
    json_object_object_add(reply, "vendor_response",
                           json_object_new_string(job->reply->vendor_response));
    json_object_object_add(auth, "transaction_id",
                           json_object_new_string(job->reply->auth.transaction_id));
    json_object_object_add(reply, "auth", auth);
    return reply;
}

/* The ccAuthReply of auth_capture.xml (100, 150.00) stays; the request and its capture are
 * refused with these. */
#define TOP_ACCEPT_100 "<c:decision>ACCEPT</c:decision>\n<c:reasonCode>100"
#define CAPTURE_100 "<c:ccCaptureReply>\n<c:reasonCode>100"

/*
 * A CyberSource auth+capture refused at the request level while its ccAuthReply says 100: the
 * issuer authorized the 150.00 and holds it, CyberSource captured nothing (its ccCaptureReply
 * failed, or there is none: the capture did not run). `rejected` (400, a fraud score) or
 * `declined` (102, the capture's field refused), the order system never captures it: reversed,
 * `.sdr`, for ccAuthReply's 150.00, not the 149.99 of the failed ccCaptureReply, whose
 * reasonCode (service_reason_code) says nothing of the issuer. Before, only a soft decline or a
 * 481 was: the hold stayed until the authorization expired.
 */
static void test_refused_auth_capture_after_auth_100_reversed(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    auth_capture_job(&cyb, &job, &res);
    char held[24];
    /* The capture that did not run has no ccCaptureReply: renamed (closing tag too, skip) to
     * an element nobody reads. */
    static const struct {
        const char *top, *capture;
        bool skip;
        pl_status status;
        const char *service_reason;
    } cases[] = {
        {"<c:decision>REJECT</c:decision>\n<c:reasonCode>400",
         "<c:ccCaptureReply>\n<c:reasonCode>102", false, PL_ST_REJECTED, "102"},
        {"<c:decision>REJECT</c:decision>\n<c:reasonCode>102",
         "<c:ccCaptureReply>\n<c:reasonCode>102", false, PL_ST_DECLINED, "102"},
        {"<c:decision>REJECT</c:decision>\n<c:reasonCode>400",
         "<c:ccCaptureXeply>\n<c:reasonCode>100", true, PL_ST_REJECTED, "100"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *subs[] = {TOP_ACCEPT_100,
                              cases[i].top,
                              CAPTURE_100,
                              cases[i].capture,
                              cases[i].skip ? "</c:ccCaptureReply>" : NULL,
                              "</c:ccCaptureXeply>",
                              NULL};
        json_object *reply = answer(&job, "auth_capture.xml", subs);
        assert_int_equal(job.reply->status, cases[i].status);
        assert_false(job.reply->has_amount_approved);
        assert_string_equal(job.res->service_reason_code, cases[i].service_reason);
        assert_string_equal(job.res->auth_reason_code, "100");
        assert_true(job.res->has_auth_amount);
        assert_int_equal(job.res->auth_amount, 15000);
        memset(held, 0, sizeof held);
        assert_true(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
        assert_string_equal(held, "150.00");
        /* Without Send reversal, on another protocol, or for a capture (no authorization of
         * its own), none. */
        cyb.send_reversal = false;
        assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
        cyb.send_reversal = true;
        snprintf(cyb.protocol, sizeof cyb.protocol, "EXT");
        assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
        snprintf(cyb.protocol, sizeof cyb.protocol, "CYB");
        job.call.op = PL_OP_CAPTURE;
        assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
        job.call.op = PL_OP_AUTH_CAPTURE;
        json_object_put(reply);
    }
    /* The approved auth+capture: nothing of this kind (its own `.vdr` is another matter). */
    json_object *reply = answer(&job, "auth_capture.xml", NULL);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    json_object_put(reply);
}

/*
 * The issuer authorized part of it (ccAuthReply 110 for 55.00 of the 110.00 asked) and the
 * capture failed (235), or the request was refused (400): no partial approval (nothing was
 * captured), `declined` or `rejected`, and the 55.00 the issuer holds is reversed, not the
 * 110.00 asked, which CyberSource would refuse above what it authorized.
 */
static void test_refused_auth_capture_after_auth_110_reversed_for_part(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    auth_capture_job(&cyb, &job, &res);
    snprintf(job.req.request_id, sizeof job.req.request_id, "r-debit-0110");
    job.req.amount = 11000;
    char held[24];
    static const struct {
        const char *top;
        pl_status status;
    } cases[] = {{"<c:reasonCode>110", PL_ST_DECLINED}, {"<c:reasonCode>400", PL_ST_REJECTED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* The first reasonCode is the request's; ccAuthReply's 110 stays; the capture's 100
         * becomes 235. */
        const char *subs[] = {"<c:reasonCode>110", cases[i].top,
                              "<c:ccCaptureReply>\n<c:reasonCode>100",
                              "<c:ccCaptureReply>\n<c:reasonCode>235", NULL};
        json_object *reply = answer(&job, "auth_capture_partial_110.xml", subs);
        assert_string_equal(job.res->decision, "REJECT");
        assert_int_equal(job.reply->status, cases[i].status);
        assert_string_equal(job.res->service_reason_code, "235");
        assert_string_equal(job.res->auth_reason_code, "110");
        assert_true(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
        assert_string_equal(held, "55.00");
        json_object_put(reply);
    }
    /* With its capture done, the REJECT 110 is the partial approval it always was. */
    json_object *reply = answer(&job, "auth_capture_partial_110.xml", NULL);
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    json_object_put(reply);
}

/*
 * What stays as it was: the issuer declined (ccAuthReply 203), so nothing is held and nothing
 * is reversed, whatever the request's reasonCode; a soft decline is reversed as before (for
 * ccAuthReply's amount); so is an `error` (ERROR 150, whose ccAuthReply says 100 while its
 * capture failed: the issuer holds it, and the order system, told `error`, sends the debit
 * again as an auth+capture of its own; pl_cybersource_refused_but_authorized), as long as its
 * capture was not answered 100; an answer without a result (a reply replayed from before
 * 008_followups.sql) reads no ccAuthReply.
 */
static void test_refused_auth_capture_not_held(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    auth_capture_job(&cyb, &job, &res);
    char held[24];
    const char *declined[] = {TOP_ACCEPT_100,
                              "<c:decision>REJECT</c:decision>\n<c:reasonCode>400",
                              "<c:ccAuthReply>\n<c:reasonCode>100",
                              "<c:ccAuthReply>\n<c:reasonCode>203",
                              CAPTURE_100,
                              "<c:ccCaptureReply>\n<c:reasonCode>102",
                              NULL};
    json_object *reply = answer(&job, "auth_capture.xml", declined);
    assert_int_equal(job.reply->status, PL_ST_REJECTED);
    assert_string_equal(job.res->auth_reason_code, "203");
    assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    json_object_put(reply);

    const char *soft[] = {TOP_ACCEPT_100, "<c:decision>REJECT</c:decision>\n<c:reasonCode>230",
                          CAPTURE_100, "<c:ccCaptureReply>\n<c:reasonCode>230", NULL};
    reply = answer(&job, "auth_capture.xml", soft);
    assert_int_equal(job.reply->status, PL_ST_DECLINED);
    assert_true(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    assert_string_equal(held, "150.00");
    json_object_put(reply);

    const char *error[] = {TOP_ACCEPT_100, "<c:decision>ERROR</c:decision>\n <c:reasonCode>150",
                           CAPTURE_100, "<c:ccCaptureReply>\n<c:reasonCode>150", NULL};
    reply = answer(&job, "auth_capture.xml", error);
    assert_int_equal(job.reply->status, PL_ST_ERROR);
    assert_string_equal(job.res->auth_reason_code, "100");
    assert_true(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    assert_string_equal(held, "150.00");
    json_object_put(reply);
    /* The same ERROR with its capture answered 100 is captured while failed: no answer at all
     * (test_captured_auth_capture_never_refused). */

    job.res = NULL;
    reply = json_tokener_parse("{\"status\":\"rejected\",\"vendor_response\":\"400\","
                               "\"auth\":{\"transaction_id\":\"7420046020316782304023\"}}");
    assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    json_object_put(reply);
}

/*
 * The edges of what a refused auth+capture reverses. A REJECT 110 whose capture was answered 100
 * without an amount: CyberSource captured what the issuer authorized, so it is the partial
 * approval, `approved` for ccAuthReply's 55.00 (before, `declined`: the order system sent the
 * debit again and the card was charged twice), and nothing of the authorization is left to
 * reverse: no `.sdr` (it would be refused, 238). A ccAuthReply 100 without an amount beside a
 * failed capture that carries one: the
 * reversal goes for the amount asked (150.00), never the failed capture's (149.99); a 110
 * without an amount is unreadable, its outcome unknown (the part held is not known, CyberSource
 * refuses a reversal above it, and an operator is asked: before, it was `declined` and no one
 * was told of the part still held).
 */
static void test_refused_auth_capture_edges(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    auth_capture_job(&cyb, &job, &res);
    char held[24], rid[sizeof job.req.request_id];
    memcpy(rid, job.req.request_id, sizeof rid);
    snprintf(job.req.request_id, sizeof job.req.request_id, "r-debit-0110");
    job.req.amount = 11000;
    const char *captured[] = {"</c:requestDateTime>\n<c:amount>55.00</c:amount>",
                              "</c:requestDateTime>\n<!-- no amount here -->   ", NULL};
    json_object *reply = answer(&job, "auth_capture_partial_110.xml", captured);
    assert_string_equal(job.res->decision, "ACCEPT");
    assert_int_equal(job.reply->status, PL_ST_APPROVED);
    assert_true(job.reply->has_amount_approved);
    assert_int_equal(job.reply->amount_approved, 5500);
    assert_string_equal(job.res->auth_reason_code, "110");
    assert_true(job.res->capture_approved);
    assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    json_object_put(reply);
    /* Read as the refusal it is written as, it is still captured: no `.sdr` either. */
    reply = json_tokener_parse("{\"status\":\"declined\",\"vendor_response\":\"110\","
                               "\"auth\":{\"transaction_id\":\"7420047600316782304027\"}}");
    assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    json_object_put(reply);

    job.req.amount = 15000;
    memcpy(job.req.request_id, rid, sizeof rid);
    for (int part = 0; part < 2; part++) {
        const char *no_amount[] = {TOP_ACCEPT_100,
                                   "<c:decision>REJECT</c:decision>\n<c:reasonCode>102",
                                   "<c:ccAuthReply>\n<c:reasonCode>100",
                                   part ? "<c:ccAuthReply>\n<c:reasonCode>110"
                                        : "<c:ccAuthReply>\n<c:reasonCode>100",
                                   "<c:amount>150.00</c:amount>",
                                   "<!-- no amount here -->    ",
                                   CAPTURE_100,
                                   "<c:ccCaptureReply>\n<c:reasonCode>102",
                                   NULL};
        if (part) {
            /* The issuer holds a part nobody knows: unreadable, its outcome unknown (the
             * resolver's step asks an operator), not a refusal told to nobody. */
            char err[256] = "";
            assert_int_not_equal(parse_for(&job, "auth_capture.xml", no_amount, err, sizeof err),
                                 0);
            assert_non_null(strstr(err, "partial approval (110)"));
            assert_false(job.res->capture_approved);
            continue;
        }
        reply = answer(&job, "auth_capture.xml", no_amount);
        assert_int_equal(job.reply->status, PL_ST_DECLINED);
        assert_false(job.res->has_auth_amount);
        assert_false(job.res->capture_approved);
        memset(held, 0, sizeof held);
        assert_true(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
        assert_string_equal(held, "150.00");
        json_object_put(reply);
    }
}

/*
 * An auth+capture whose ccCaptureReply says 100 — captured, the money taken — answered REJECT
 * for another reason than a partial approval's 110 (481, 400, a soft decline's 230), REVIEW 480
 * or ERROR 150: the adapter refuses the answer as unreadable. The engine then answers `error`
 * with a required response (finish_unknown: its outcome unknown, no transaction id, no
 * follow-up), the resolver asks the bureau, and no `.sdr` goes for what was captured. Before, it
 * was `rejected`, `declined`, `review` or `error`: the order system sent the debit again and the
 * card was charged twice, and nobody refunded what was taken. A REJECT 110 captured is the
 * partial approval (test_refused_auth_capture_edges).
 */
static void test_captured_auth_capture_never_refused(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    auth_capture_job(&cyb, &job, &res);
    char held[24], err[256];
    static const char *const tops[] = {
        "<c:decision>REJECT</c:decision>\n<c:reasonCode>481",
        "<c:decision>REJECT</c:decision>\n<c:reasonCode>400",
        "<c:decision>REJECT</c:decision>\n<c:reasonCode>230",
        "<c:decision>REVIEW</c:decision>\n<c:reasonCode>480",
        "<c:decision>ERROR</c:decision>\n <c:reasonCode>150",
    };
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        const char *subs[] = {TOP_ACCEPT_100, tops[i], NULL};
        assert_int_equal(parse_for(&job, "auth_capture.xml", subs, err, sizeof err), PL_ERR_PARSE);
        if (!strstr(err, "while its ccCaptureReply says 100 (captured)"))
            fail_msg("%s: %s", tops[i], err);
        /* Only the capture is kept (the engine records the required response captured:
         * required_response.captured, so an operator's refusal of it reverses nothing). */
        assert_true(job.res->capture_approved);
        /* What the engine answers then (finish_unknown) names no transaction; even an `error`
         * that named the authorization (as a resolution might) reverses nothing: the refused
         * answer leaves no ccAuthReply 100 behind (job.res is wiped), which would make an
         * `error` one the issuer holds (pl_cybersource_refused_but_authorized). */
        json_object *reply = json_tokener_parse(
            "{\"status\":\"error\",\"vendor_response\":\"150\",\"required_response\":true,"
            "\"auth\":{\"transaction_id\":\"7420046020316782304023\"}}");
        assert_string_equal(job.res->auth_reason_code, "");
        assert_false(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
        json_object_put(reply);
    }
    /* The same refusals with the capture refused (102): nothing was taken, the refusal it says,
     * and the 150.00 the issuer holds is reversed. */
    const char *failed[] = {TOP_ACCEPT_100, tops[0], CAPTURE_100,
                            "<c:ccCaptureReply>\n<c:reasonCode>102", NULL};
    json_object *reply = answer(&job, "auth_capture.xml", failed);
    assert_int_equal(job.reply->status, PL_ST_REJECTED);
    assert_true(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    assert_string_equal(held, "150.00");
    json_object_put(reply);
}

/*
 * A Decision Manager reject (481) or a soft decline (200, 230, 520) of an auth+capture whose
 * capture did not happen is reversed (`.sdr`) only when its answer does not say the issuer never
 * authorized it, as paylink-auth reverses an authorization (pl_cybersource_answer_held): a 481
 * whose ccAuthReply says 100 is, one whose ccAuthReply says 203 (the issuer declined) or that has
 * no ccAuthReply (Decision Manager refused it before the authorization ran) holds nothing. A soft
 * decline is reversed when its ccAuthReply says 100 or repeats the soft decline's code, or when it
 * has none (its code says the issuer approved), not when ccAuthReply says 203. Before, every 481
 * and soft decline was: a reversal CyberSource refuses, a declined reply nobody asked for. A reply
 * replayed without its answer keeps the old rule: a 481 is reversed, for the amount asked.
 */
static void test_refused_auth_capture_reversed_only_when_authorized(void **state)
{
    (void)state;
    pl_service cyb;
    pl_job job;
    pl_bureau_result res;
    auth_capture_job(&cyb, &job, &res);
    char held[24];
    static const char *const tops[] = {"<c:decision>REJECT</c:decision>\n<c:reasonCode>481",
                                       "<c:decision>REJECT</c:decision>\n<c:reasonCode>200",
                                       "<c:decision>REJECT</c:decision>\n<c:reasonCode>230",
                                       "<c:decision>REJECT</c:decision>\n<c:reasonCode>520"};
    /* The capture did not run: its reply renamed (closing tag too) to an element nobody
     * reads. */
    static const char *const no_capture[] = {CAPTURE_100, "<c:ccCaptureXeply>\n<c:reasonCode>100",
                                             "</c:ccCaptureReply>", "</c:ccCaptureXeply>"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        bool dm = i == 0;
        const char *code = tops[i] + strlen(tops[i]) - 3;
        char repeated[64];
        snprintf(repeated, sizeof repeated, "<c:ccAuthReply>\n<c:reasonCode>%s", code);
        const struct {
            const char *from, *to, *from2, *to2; /* ccAuthReply as the answer gives it */
            const char *auth_reason;
            bool reversed;
        } cases[] = {
            {"<c:ccAuthReply>\n<c:reasonCode>100", "<c:ccAuthReply>\n<c:reasonCode>100", NULL, NULL,
             "100", true},
            {"<c:ccAuthReply>\n<c:reasonCode>100", "<c:ccAuthReply>\n<c:reasonCode>203", NULL, NULL,
             "203", false},
            {"<c:ccAuthReply>", "<c:ccAuthXeply>", "</c:ccAuthReply>", "</c:ccAuthXeply>", "", !dm},
            {"<c:ccAuthReply>\n<c:reasonCode>100", repeated, NULL, NULL, code, !dm},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const char *subs[] = {TOP_ACCEPT_100, tops[i],       no_capture[0], no_capture[1],
                                  no_capture[2],  no_capture[3], cases[k].from, cases[k].to,
                                  cases[k].from2, cases[k].to2,  NULL};
            json_object *reply = answer(&job, "auth_capture.xml", subs);
            assert_int_equal(job.reply->status, dm ? PL_ST_REJECTED : PL_ST_DECLINED);
            assert_string_equal(job.reply->vendor_response, code);
            assert_string_equal(job.res->auth_reason_code, cases[k].auth_reason);
            assert_false(job.res->capture_approved);
            memset(held, 0, sizeof held);
            bool reversed = pl_deposit_reverses_refusal(&job, reply, held, sizeof held);
            if (reversed != cases[k].reversed)
                fail_msg("%s, case %zu: reversed %d", code, k, reversed);
            if (reversed)
                assert_string_equal(held, "150.00");
            json_object_put(reply);
        }
    }
    /* Replayed without its answer: nothing says the issuer did not authorize it, and a 481 is
     * reversed as it always was, for the amount asked. */
    job.res = NULL;
    json_object *reply =
        json_tokener_parse("{\"status\":\"rejected\",\"vendor_response\":\"481\","
                           "\"auth\":{\"transaction_id\":\"7420046020316782304023\"}}");
    assert_true(pl_deposit_reverses_refusal(&job, reply, held, sizeof held));
    assert_string_equal(held, "150.00");
    json_object_put(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_table),
        cmocka_unit_test(test_marks_share_their_text),
        cmocka_unit_test(test_owed_reversal),
        cmocka_unit_test(test_refused_auth_capture_after_auth_100_reversed),
        cmocka_unit_test(test_refused_auth_capture_after_auth_110_reversed_for_part),
        cmocka_unit_test(test_refused_auth_capture_not_held),
        cmocka_unit_test(test_refused_auth_capture_edges),
        cmocka_unit_test(test_captured_auth_capture_never_refused),
        cmocka_unit_test(test_refused_auth_capture_reversed_only_when_authorized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
