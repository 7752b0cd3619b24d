/*
 * fuzz_cybersource.c: libFuzzer target for the CyberSource answer parser and the bureau
 * message log redaction, on arbitrary bytes as an HTTP answer body (not NUL-terminated).
 */
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bureau.h"
#include "card.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    return 0;
}

/* Every string of a result must be terminated inside its field. */
static void check_result(const pl_bureau_result *r)
{
#define TERMINATED(f)                                                                              \
    do {                                                                                           \
        if (strnlen(r->f, sizeof r->f) == sizeof r->f)                                             \
            abort();                                                                               \
    } while (0)
    TERMINATED(decision);
    TERMINATED(reason_code);
    TERMINATED(request_id);
    TERMINATED(request_token);
    TERMINATED(merchant_reference_code);
    TERMINATED(auth_code);
    TERMINATED(auth_date);
    TERMINATED(avs);
    TERMINATED(cvv);
    TERMINATED(token);
    TERMINATED(service_reason_code);
    TERMINATED(afs_score);
    TERMINATED(fault_code);
    TERMINATED(fault_string);
    TERMINATED(missing_fields);
    TERMINATED(invalid_fields);
#undef TERMINATED
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const pl_bureau_ops *ops = &pl_bureau_cybersource;
    const char *body = (const char *)data;
    pl_bureau_cfg cfg = {.service = "CYB", .protocol = "CYB", .api_version = "1.121"};
    /* The operation picks which service reply is the main one; let the input's size vary it. */
    pl_bureau_call call = {.op = (pl_bureau_op)(PL_OP_TOKEN + size % 7), .amount = 100};
    static const long statuses[] = {200, 500};

    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        pl_bureau_result res;
        char errstr[256];
        int rc = ops->parse(&cfg, &call, statuses[i], body, size, &res, errstr, sizeof errstr);
        if (rc == 0 && (!res.decision[0] || !res.reason_code[0]))
            abort(); /* the contract: a 0 answer always carries a decision and a reason */
        check_result(&res);
        if (rc != 0 && strnlen(errstr, sizeof errstr) == sizeof errstr)
            abort();
    }

    for (int mode = PL_MASK_LAST4; mode <= PL_MASK_REMOVED; mode++)
        free(ops->redact(body, size, mode));
    return 0;
}
