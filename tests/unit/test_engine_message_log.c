/*
 * test_engine_message_log.c: the bureau message log's copy of a message (engine.c message_log,
 * white box: the engine's source is included, its static functions in reach). The adapter's
 * redaction masks what the bureau's format names as card data; the engine masks besides, in any
 * body, what it knows of the request: its card token and card number. No Kafka, database or
 * bureau here; the log is written to a directory of the test's own.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.c" /* white box: message_log */

#define TOKEN "tok_9f8c2a71e4b34d0c"
#define TOKEN_MASKED "****************4d0c"
#define REQ_TOKEN "svt_51c0ffee77aa9912"
#define REQ_TOKEN_MASKED "****************9912"
#define PAN "4111111111111111"

/* What one message_log call wrote: the test's log directory, its job and its engine. */
typedef struct fixture {
    char dir[64];
    pl_spec spec;
    pl_service svc;
    pl_engine *e;
    job *j;
} fixture;

static int log_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pl-msglog-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->spec = (pl_spec){.worker = "auth", .table = "cc_auth_trans"};
    f->svc = (pl_service){.code = "EXT", .protocol = "EXT", .message_log_enabled = true};
    snprintf(f->svc.message_log_dir, sizeof f->svc.message_log_dir, "%s", f->dir);
    f->e = calloc(1, sizeof *f->e);
    f->j = calloc(1, sizeof *f->j);
    assert_non_null(f->e);
    assert_non_null(f->j);
    f->e->spec = &f->spec;
    f->j->pub.eng = f->e;
    f->j->pub.svc = &f->svc;
    f->j->ops = &pl_bureau_external;
    snprintf(f->j->pub.req.request_id, sizeof f->j->pub.req.request_id, "r-msglog-1");
    snprintf(job_msg(f->j)->url_suffix, sizeof f->j->msg->url_suffix, "authorization");
    pl_log_set_mask_mode(PL_MASK_LAST4);
    *state = f;
    return 0;
}

/* Removes the log files and the directory. */
static int log_teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", f->dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(f->dir);
    job_msg_drop(f->j);
    free(f->j);
    free(f->e);
    free(f);
    pl_log_set_mask_mode(PL_MASK_LAST4);
    return 0;
}

/* The log's text so far (every file of the directory, one a day), malloc'd. */
static char *log_text(const fixture *f)
{
    char *all = calloc(1, 1);
    size_t n = 0;
    assert_non_null(all);
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char path[512], buf[4096];
        snprintf(path, sizeof path, "%s/%s", f->dir, de->d_name);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        for (size_t k; (k = fread(buf, 1, sizeof buf, fp)) > 0;) {
            char *grown = realloc(all, n + k + 1);
            assert_non_null(grown);
            all = grown;
            memcpy(all + n, buf, k);
            n += k;
            all[n] = '\0';
        }
        fclose(fp);
    }
    closedir(d);
    return all;
}

static void log_answer(fixture *f, const char *body)
{
    message_log(f->j, "response", body, strlen(body));
}

/*
 * An answer that is not JSON (an HTML error page of the provider's, a proxy's text) echoing the
 * request's token: the adapter's redaction scrubs such a body for card numbers only and cannot
 * tell a token in it, so the engine masks the call's token (the one getToken gave, or the
 * request's own), keeping its last four as the JSON redaction does. Before, it was written in
 * full. The card number the request carried is masked too, glued to other characters.
 */
static void test_token_in_a_body_that_is_not_json(void **state)
{
    fixture *f = *state;
    f->j->pub.call.card_token = TOKEN;
    log_answer(f, "<html><body><h1>502 Bad Gateway</h1><p>upstream refused card " TOKEN
                  " (request r-msglog-1)</p></body></html>");
    snprintf(f->j->pub.req.card.token, sizeof f->j->pub.req.card.token, "%s", REQ_TOKEN);
    f->j->pub.call.card_token = NULL;
    log_answer(f, "error: token=" REQ_TOKEN ";retry later");
    /* A getToken's answer (the request carries the number, no token yet). */
    f->j->pub.req.card.token[0] = '\0';
    snprintf(f->j->pub.req.card.number, sizeof f->j->pub.req.card.number, "%s", PAN);
    log_answer(f, "card=" PAN "x: service unavailable");

    char *text = log_text(f);
    if (strstr(text, TOKEN) || strstr(text, REQ_TOKEN) || strstr(text, PAN))
        fail_msg("the log holds a token or the card number:\n%s", text);
    assert_non_null(strstr(text, "upstream refused card " TOKEN_MASKED " (request r-msglog-1)"));
    assert_non_null(strstr(text, "error: token=" REQ_TOKEN_MASKED ";retry later"));
    assert_non_null(strstr(text, "card=************1111x: service unavailable"));
    assert_non_null(strstr(text, "r-msglog-1 response authorization\n"));
    free(text);
    pl_card_wipe(f->j->pub.req.card.number, sizeof f->j->pub.req.card.number);
}

/* A JSON answer that names the token in its free text, not in a card field the redaction knows
 * (card.token, cardToken): masked there too. */
static void test_token_in_a_json_message(void **state)
{
    fixture *f = *state;
    f->j->pub.call.card_token = TOKEN;
    log_answer(f, "{\"decision\":\"REJECT\",\"reasonCode\":\"231\",\"message\":\"token " TOKEN
                  " is not known\"}");
    char *text = log_text(f);
    if (strstr(text, TOKEN))
        fail_msg("the log holds the token:\n%s", text);
    assert_non_null(strstr(text, "token " TOKEN_MASKED " is not known"));
    free(text);
}

/* With the card number removed from logs (J16 unselected) the token is not written either. */
static void test_token_masked_in_removed_mode(void **state)
{
    fixture *f = *state;
    pl_log_set_mask_mode(PL_MASK_REMOVED);
    f->j->pub.call.card_token = TOKEN;
    log_answer(f, "Service Unavailable for " TOKEN);
    log_answer(f,
               "{\"decision\":\"ACCEPT\",\"cardToken\":\"" TOKEN "\",\"message\":\"" TOKEN "\"}");
    char *text = log_text(f);
    if (strstr(text, TOKEN))
        fail_msg("the log holds the token:\n%s", text);
    free(text);
}

/* A token shorter than the floor (the schema allows one character) is not searched for: every
 * "12" of the body (an amount, an id) would be starred. Before, "12" masked them all. */
static void test_short_token_masks_nothing(void **state)
{
    fixture *f = *state;
    f->j->pub.call.card_token = "12";
    snprintf(f->j->pub.req.card.token, sizeof f->j->pub.req.card.token, "%s", "1234567");
    log_answer(f, "{\"decision\":\"ACCEPT\",\"amount\":\"12.12\",\"message\":\"id 1234567\"}");
    char *text = log_text(f);
    assert_non_null(strstr(text, "12.12"));
    assert_non_null(strstr(text, "id 1234567"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_in_a_body_that_is_not_json, log_setup,
                                        log_teardown),
        cmocka_unit_test_setup_teardown(test_token_in_a_json_message, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_token_masked_in_removed_mode, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_short_token_masks_nothing, log_setup, log_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
