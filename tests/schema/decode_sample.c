/*
 * decode_sample: runs one sample message through the C request decoder, for
 * tests/schema/check_schemas.py, which compares the verdict with the JSON Schema's.
 *
 *   decode_sample [--now EPOCH] [--reply STATUS] WORKER FILE
 *   decode_sample [--now EPOCH] --batch      (many samples, one a line on stdin: batch())
 *
 * Without --reply it prints "valid" (exit 0) or {"errors":[{"field":..,"error":..},...]}
 * (exit 1). With --reply it prints the reply pl_reply_to_json renders for the request and a
 * made-up outcome of that status ("invalid" uses the decoder's errors), so the script can
 * validate replies against the reply schemas. Exit 2 on a usage or I/O error.
 *
 * The clock is fixed (2026-11-26T04:01:02Z unless --now says otherwise) so samples whose card
 * expires in 2030, or expired in 2026-10, keep their verdict over the years.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "reply.h"
#include "request.h"

#define DEFAULT_NOW ((time_t)1795665662) /* 2026-11-26T04:01:02Z */
#define MAX_SAMPLE (1024 * 1024)

static int read_file(const char *path, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *buf = malloc(MAX_SAMPLE + 1);
    size_t n = buf ? fread(buf, 1, MAX_SAMPLE + 1, f) : 0;
    int bad = !buf || ferror(f) || n > MAX_SAMPLE;
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static int parse_status(const char *s, pl_status *out)
{
    for (int st = PL_ST_APPROVED; st <= PL_ST_INVALID; st++) {
        if (strcmp(s, pl_status_name((pl_status)st)) == 0) {
            *out = (pl_status)st;
            return 0;
        }
    }
    return -1;
}

/* A plausible bureau outcome of the given status for the decoded request. */
static void make_outcome(const pl_request *req, pl_status st, const pl_errors *errs, time_t now,
                         pl_reply *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->status = st;
    rep->processed_at = now;
    static const struct {
        pl_status st;
        const char *vendor, *decision, *hold;
    } codes[] = {
        {PL_ST_APPROVED, "100", "ACCEPT", ""}, {PL_ST_DECLINED, "203", "REJECT", ""},
        {PL_ST_REVIEW, "480", "REVIEW", "FS"}, {PL_ST_REJECTED, "481", "REJECT", "FS"},
        {PL_ST_ERROR, "150", "ERROR", ""},     {PL_ST_TIMEOUT, "150", "", ""},
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (codes[i].st == st) {
            snprintf(rep->vendor_response, sizeof rep->vendor_response, "%s", codes[i].vendor);
            snprintf(rep->decision, sizeof rep->decision, "%s", codes[i].decision);
            snprintf(rep->hold_reason, sizeof rep->hold_reason, "%s", codes[i].hold);
        }
    }
    if (st == PL_ST_INVALID)
        rep->errors = errs;
    if (st == PL_ST_TIMEOUT)
        rep->required_response = true;
    if (st == PL_ST_APPROVED || st == PL_ST_REVIEW) {
        rep->has_amount_approved = req->has_amount;
        rep->amount_approved = req->amount;
        snprintf(rep->auth.number, sizeof rep->auth.number, "%s", "831000");
        snprintf(rep->auth.transaction_id, sizeof rep->auth.transaction_id, "%s",
                 "4036289939370176056470");
        snprintf(rep->auth.avs, sizeof rep->auth.avs, "%s", "Y");
        snprintf(rep->auth.cvv, sizeof rep->auth.cvv, "%s", "M");
        if (req->type == PL_REQ_SVC_GENERATE)
            snprintf(rep->svc.card_number, sizeof rep->svc.card_number, "%s", "7000000000000001");
        if (req->type == PL_REQ_SVC_BALANCE) {
            rep->svc.has_balance = true;
            rep->svc.balance = 2500;
        }
    }
    if (req->card.number[0] &&
        pl_card_mask_stored(req->card.number, rep->card_masked, sizeof rep->card_masked) != 0)
        rep->card_masked[0] = '\0';
    snprintf(rep->card_type, sizeof rep->card_type, "%s", req->card.type);
}

/*
 * One sample: returns the exit code of a single run (0 valid, 1 invalid, 2 error) and sets *out
 * to what it prints (malloc'd, one line; the error message for 2).
 */
static int run_one(const char *worker, const char *path, const char *reply_status, time_t now,
                   char **out)
{
    pl_status st = PL_ST_APPROVED;
    if (reply_status && parse_status(reply_status, &st) != 0) {
        *out = strdup("unknown reply status");
        return 2;
    }
    char *text;
    size_t len;
    if (read_file(path, &text, &len) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
        *out = strdup(msg);
        return 2;
    }
    pl_request req;
    pl_errors errs;
    int rc = pl_request_decode(text, len, worker, now, &req, &errs);
    free(text);
    int code = rc == 0 ? 0 : 1;
    if (rc != 0 && rc != PL_ERR_INVALID) {
        char msg[200];
        snprintf(msg, sizeof msg, "decode failed: %s", pl_err_str(rc));
        *out = strdup(msg);
        code = 2;
    } else if (reply_status) {
        pl_reply rep;
        make_outcome(&req, st, &errs, now, &rep);
        *out = pl_reply_to_json(&req, &rep);
        if (!*out) {
            *out = strdup("out of memory");
            code = 2;
        }
    } else if (rc == 0) {
        *out = strdup("valid");
    } else {
        /* The errors as JSON, built with json-c like every other message. */
        json_object *root = json_object_new_object();
        json_object *arr = json_object_new_array();
        for (size_t k = 0; k < errs.n; k++) {
            json_object *e = json_object_new_object();
            json_object_object_add(e, "field", json_object_new_string(errs.e[k].field));
            json_object_object_add(e, "error", json_object_new_string(errs.e[k].error));
            json_object_array_add(arr, e);
        }
        json_object_object_add(root, "errors", arr);
        *out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(root);
    }
    pl_request_free(&req);
    return code;
}

/*
 * --batch: one sample a line on stdin, "WORKER<TAB>FILE" or "WORKER<TAB>FILE<TAB>STATUS" (the
 * reply of that status), each answered at once with a line "CODE<TAB>OUTPUT" (CODE as the exit
 * status of a single run). One process for all of a check's samples: under ASan, starting the
 * driver cost ~0.1 s, most of the schema check's 45 s.
 */
static int batch(time_t now)
{
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *worker = line, *path = strchr(line, '\t'), *status = NULL;
        if (!path) {
            printf("2\tbad line (WORKER<TAB>FILE[<TAB>STATUS])\n");
            fflush(stdout);
            continue;
        }
        *path++ = '\0';
        status = strchr(path, '\t');
        if (status)
            *status++ = '\0';
        char *out = NULL;
        int code = run_one(worker, path, status, now, &out);
        printf("%d\t%s\n", code, out ? out : "out of memory");
        fflush(stdout);
        free(out);
    }
    return 0;
}

int main(int argc, char **argv)
{
    time_t now = DEFAULT_NOW;
    const char *reply_status = NULL;
    bool batch_mode = false;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--batch") == 0) {
            batch_mode = true;
            i--; /* no value */
            continue;
        }
        if (i + 1 >= argc)
            goto usage;
        if (strcmp(argv[i], "--now") == 0) {
            char *end;
            errno = 0;
            long long v = strtoll(argv[i + 1], &end, 10);
            if (errno || *end || end == argv[i + 1])
                goto usage;
            now = (time_t)v;
        } else if (strcmp(argv[i], "--reply") == 0) {
            reply_status = argv[i + 1];
        } else {
            goto usage;
        }
    }
    if (batch_mode)
        return argc == i ? batch(now) : 2;
    if (argc - i != 2)
        goto usage;
    char *out = NULL;
    int code = run_one(argv[i], argv[i + 1], reply_status, now, &out);
    if (code == 2)
        fprintf(stderr, "decode_sample: %s\n", out ? out : "out of memory");
    else
        puts(out);
    free(out);
    return code;

usage:
    fprintf(stderr, "usage: decode_sample [--now EPOCH] [--reply STATUS] WORKER FILE\n"
                    "       decode_sample [--now EPOCH] --batch   (lines on stdin)\n");
    return 2;
}
