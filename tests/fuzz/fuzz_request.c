/*
 * fuzz_request.c: libFuzzer target for the request decoder and the DLQ redaction.
 *
 * The input is a request message as it would arrive from Kafka: arbitrary bytes, not
 * NUL-terminated (libFuzzer's buffer is exactly `size` bytes, so ASan sees any over-read).
 * Besides "no crash, no leak, no hang", it checks the one promise a fuzzer can check without
 * an oracle: a card number the decoder accepted never comes out of pl_request_redact whole.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* A fixed clock (2023-11-14) so the expiry check, and so every run, is reproducible. */
#define FUZZ_NOW ((time_t)1700000000)

static const unsigned char fp_key[32] = "fuzz-fingerprint-key-0123456789";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const workers[] = {"auth", "deposit", "reversal", "svc"};
    const char *json = (const char *)data;
    /* The longest accepted number of any worker: card.number holds at most 19 digits. */
    char pan[sizeof(((pl_request *)0)->card.number)] = "";

    for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
        pl_request req;
        pl_errors errs;
        int rc = pl_request_decode(json, size, workers[w], FUZZ_NOW, &req, &errs);
        if (rc == 0) {
            char fp[65];
            if (pl_request_fingerprint(&req, fp_key, sizeof fp_key, fp, sizeof fp) != 0 ||
                strlen(fp) != 64)
                abort();
            if (strlen(req.card.number) >= 13)
                memcpy(pan, req.card.number, sizeof pan);
        } else if (errs.n > PL_MAX_FIELD_ERRORS) {
            abort();
        }
        pl_request_free(&req);
    }

    /* The redaction does not depend on the worker: once per input is enough. */
    char *red = pl_request_redact(json, size);
    if (red && pan[0] && strstr(red, pan)) {
        fprintf(stderr, "fuzz_request: card number %zu digits survived pl_request_redact\n",
                strlen(pan));
        abort();
    }
    free(red);
    explicit_bzero(pan, sizeof pan);
    return 0;
}
