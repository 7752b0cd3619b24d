/* dlq.c: the dead-letter envelope (see dlq.h). */
#include "dlq.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"

/* The byte length of at most n bytes of s that ends on a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

char *pl_dlq_envelope(const char *why, const pl_errors *errs, const char *topic, int32_t partition,
                      int64_t offset, const char *request, bool redacted, size_t limit)
{
    return pl_dlq_envelope_kind(NULL, NULL, why, errs, topic, partition, offset, request, redacted,
                                limit);
}

char *pl_dlq_envelope_kind(const char *kind, const char *answered, const char *why,
                           const pl_errors *errs, const char *topic, int32_t partition,
                           int64_t offset, const char *request, bool redacted, size_t limit)
{
    size_t full = strlen(request), keep = full;
    for (int round = 0;; round++) {
        json_object *d = json_object_new_object();
        if (!d)
            return NULL;
        json_object_object_add(d, "error", json_object_new_string(why));
        if (kind)
            json_object_object_add(d, "kind", json_object_new_string(kind));
        if (answered)
            json_object_object_add(d, "answered", json_object_new_string(answered));
        json_object *arr = json_object_new_array();
        for (size_t i = 0; errs && i < errs->n; i++) {
            /* Scrubbed again, as the reply's echo is (reply.c): they may quote the upstream
             * system's text, and the dead-letter topic is read by people. Fully: also a card
             * number the decoder refuses where the Luhn scan does not see it (a member name
             * in a field's path may be one split by characters a bureau message drops). */
            char field[sizeof errs->e[i].field], error[sizeof errs->e[i].error];
            pl_card_scrub_copy_full(field, sizeof field, errs->e[i].field, strlen(errs->e[i].field),
                                    PL_MASK_LAST4);
            pl_card_scrub_copy_full(error, sizeof error, errs->e[i].error, strlen(errs->e[i].error),
                                    PL_MASK_LAST4);
            json_object *fe = json_object_new_object();
            json_object_object_add(fe, "field", json_object_new_string(field));
            json_object_object_add(fe, "error", json_object_new_string(error));
            json_object_array_add(arr, fe);
        }
        json_object_object_add(d, "errors", arr);
        json_object_object_add(d, "topic", json_object_new_string(topic));
        json_object_object_add(d, "partition", json_object_new_int(partition));
        json_object_object_add(d, "offset", json_object_new_int64(offset));
        json_object_object_add(d, "request", json_object_new_string_len(request, (int)keep));
        json_object_object_add(d, "redacted", json_object_new_boolean(redacted));
        if (keep < full) {
            json_object_object_add(d, "truncated", json_object_new_boolean(1));
            json_object_object_add(d, "request_bytes", json_object_new_int64((int64_t)full));
        }
        const char *text = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN);
        if (!text) {
            json_object_put(d);
            return NULL;
        }
        size_t n = strlen(text);
        if (n <= limit || keep == 0) {
            char *out = strdup(text);
            json_object_put(d);
            return out;
        }
        json_object_put(d);
        /* Escaping can grow the text up to 6 times: shrink in proportion, with room; after a
         * few rounds give the request up entirely rather than loop. */
        size_t next =
            round < 6 ? utf8_cut(request, (size_t)((double)keep * (double)limit / (double)n * 0.9))
                      : 0;
        keep = next < keep ? next : utf8_cut(request, keep / 2);
    }
}

char *pl_dlq_cut(const char *envelope, size_t len, size_t limit)
{
    json_tokener *tok = json_tokener_new();
    json_object *d = tok ? json_tokener_parse_ex(tok, envelope, (int)len) : NULL;
    json_tokener_free(tok);
    json_object *v;
    char *out = NULL;
    if (d && json_object_object_get_ex(d, "request", &v)) {
        json_object *errs_json, *t;
        pl_errors errs = {0};
        if (json_object_object_get_ex(d, "errors", &errs_json))
            for (size_t i = 0; i < json_object_array_length(errs_json); i++) {
                json_object *fe = json_object_array_get_idx(errs_json, i), *f, *m;
                if (json_object_object_get_ex(fe, "field", &f) &&
                    json_object_object_get_ex(fe, "error", &m))
                    pl_errors_add(&errs, json_object_get_string(f), "%s",
                                  json_object_get_string(m));
            }
        const char *why = json_object_object_get_ex(d, "error", &t) ? json_object_get_string(t)
                                                                    : "invalid request";
        json_object *tp, *pp, *op, *rp, *kp, *ap;
        json_object_object_get_ex(d, "topic", &tp);
        json_object_object_get_ex(d, "partition", &pp);
        json_object_object_get_ex(d, "offset", &op);
        bool redacted =
            json_object_object_get_ex(d, "redacted", &rp) && json_object_get_boolean(rp);
        const char *kind = json_object_object_get_ex(d, "kind", &kp) && kp
                               ? json_object_get_string(kp)
                               : NULL,
                   *answered = json_object_object_get_ex(d, "answered", &ap) && ap
                                   ? json_object_get_string(ap)
                                   : NULL;
        out = pl_dlq_envelope_kind(kind, answered, why, &errs, tp ? json_object_get_string(tp) : "",
                                   pp ? json_object_get_int(pp) : -1,
                                   op ? json_object_get_int64(op) : -1, json_object_get_string(v),
                                   redacted, limit);
    }
    json_object_put(d);
    return out;
}
