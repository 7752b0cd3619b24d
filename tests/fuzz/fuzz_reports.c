/*
 * fuzz_reports.c: libFuzzer target for the parsers of what other bureaus and reports send back
 * — the External Payment Service and Customer Engagement answers (with their message log
 * redaction), the Decision Manager Conversion Detail Report and the CyberSource Single
 * Transaction Query report — on arbitrary bytes (not NUL-terminated). The first byte picks the
 * parser, so one target covers all four in the smoke run's time.
 */
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bureau.h"
#include "card.h"
#include "fuzz_json.h"
#include "cyb_query.h"
#include "dm_report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    pl_fuzz_json_fixed();
    return 0;
}

#define TERMINATED(s)                                                                              \
    do {                                                                                           \
        if (strnlen((s), sizeof(s)) == sizeof(s))                                                  \
            abort();                                                                               \
    } while (0)

static void bureau_answer(const pl_bureau_ops *ops, const char *body, size_t size)
{
    pl_bureau_cfg cfg = {.service = "X", .message_version = "3.0"};
    snprintf(cfg.protocol, sizeof cfg.protocol, "%s", ops->protocol);
    /* The operation picks what the answer must yield; let the input's size vary it. */
    pl_bureau_call call = {.op = (pl_bureau_op)(PL_OP_TOKEN + size % 15), .amount = 100};
    pl_bureau_result res;
    char errstr[256];
    int rc = ops->parse(&cfg, &call, 200, body, size, &res, errstr, sizeof errstr);
    if (rc == 0) {
        TERMINATED(res.decision);
        TERMINATED(res.reason_code);
        TERMINATED(res.request_id);
        TERMINATED(res.auth_code);
        TERMINATED(res.token);
        TERMINATED(res.error_code);
        TERMINATED(res.error_text);
        TERMINATED(res.svc_card_number);
        pl_card_wipe(res.svc_card_number, sizeof res.svc_card_number);
    } else {
        TERMINATED(errstr);
    }
    for (int mode = PL_MASK_LAST4; mode <= PL_MASK_REMOVED; mode++)
        free(ops->redact(body, size, mode));
}

static void dm(const char *body, size_t size)
{
    pl_dm_report rep;
    char errstr[256];
    if (pl_dm_report_parse(body, size, &rep, errstr, sizeof errstr) != 0) {
        TERMINATED(errstr);
        return;
    }
    for (size_t i = 0; i < rep.nconversions; i++) {
        TERMINATED(rep.conversions[i].request_id);
        TERMINATED(rep.conversions[i].new_decision);
        char msgs[8][513];
        size_t n = pl_dm_messages(&rep.conversions[i], msgs, 8);
        if (n > 8)
            abort();
        for (size_t k = 0; k < n; k++)
            TERMINATED(msgs[k]);
    }
    pl_dm_report_free(&rep);
}

static void query(const char *body, size_t size)
{
    pl_cyb_query_result *res = malloc(sizeof *res);
    if (!res)
        return;
    char errstr[256];
    if (pl_cyb_query_parse(body, size, res, errstr, sizeof errstr) != 0) {
        TERMINATED(errstr);
    } else {
        if (res->nrecs > sizeof res->recs / sizeof res->recs[0])
            abort();
        static const char *const ops[] = {"auth", "capture", "credit", "reversal", "auth_capture"};
        const pl_cyb_query_record *rec;
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            (void)pl_cyb_query_outcome(res, NULL, ops[i], &rec);
    }
    free(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        bureau_answer(&pl_bureau_external, body, n);
        break;
    case 1:
        bureau_answer(&pl_bureau_relate, body, n);
        break;
    case 2:
        dm(body, n);
        break;
    default:
        query(body, n);
        break;
    }
    return 0;
}
