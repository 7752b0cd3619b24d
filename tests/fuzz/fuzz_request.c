/*
 * fuzz_request.c: libFuzzer target for the request decoder and the DLQ redaction.
 *
 * The input is a request message as it would arrive from Kafka: arbitrary bytes, not
 * NUL-terminated (libFuzzer's buffer is exactly `size` bytes, so ASan sees any over-read).
 * Besides "no crash, no leak, no hang", it checks the promises a fuzzer can check without
 * an oracle: a card number the decoder accepted never comes out of pl_request_redact whole,
 * and no field the decoder kept outside card.number, svc.card_number and the 3-D Secure
 * values holds a card number (pl_card_find), valid request or not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "fuzz_json.h"
#include "request.h"

/* A fixed clock (2023-11-14) so the expiry check, and so every run, is reproducible. */
#define FUZZ_NOW ((time_t)1700000000)

static const unsigned char fp_key[32] = "fuzz-fingerprint-key-0123456789";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pl_fuzz_json_fixed();
    return 0;
}

/* Aborts when a text field the decoder kept (echoed, stored, sent) holds a card number. */
static void check_no_card_number(const pl_request *r)
{
    const char *kept[] = {r->request_id,
                          r->type_name,
                          r->order,
                          r->service,
                          r->pay_type,
                          r->entity,
                          r->card.token,
                          r->card.holder,
                          r->auth_ref.request_id,
                          r->auth_ref.transaction_id,
                          r->auth_ref.number,
                          r->level23.customer_po};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        /* request_id and order are kept masked when they held one: stars, never digits. */
        if (pl_card_contains(kept[i], strlen(kept[i])))
            abort();
    }
    const pl_address *addrs[] = {r->bill_to, r->ship_to};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        const pl_address *a = addrs[i];
        if (!a)
            continue;
        const char *text[] = {a->first_name, a->last_name,   a->street1, a->street2, a->city,
                              a->state,      a->postal_code, a->email,   a->phone,   a->ip};
        for (size_t k = 0; k < sizeof text / sizeof text[0]; k++)
            if (pl_card_contains(text[k], strlen(text[k])))
                abort();
    }
    for (size_t i = 0; i < r->n_items; i++) {
        const pl_item *it = &r->items[i];
        if (pl_card_contains(it->name, strlen(it->name)) ||
            pl_card_contains(it->sku, strlen(it->sku)))
            abort();
    }
}

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
        check_no_card_number(&req);
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
