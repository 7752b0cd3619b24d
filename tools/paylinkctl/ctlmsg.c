/*
 * ctlmsg.c: matching and printing consumed messages (see ctlmsg.h).
 */
#include "ctlmsg.h"

#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "jsonutil.h"
#include "log.h"
#include "request.h"

/* Deep enough for a DLQ wrapper ({"request": {...}}), shallow enough to stay cheap. */
#define MAX_DEPTH 4

static json_object *parse(const char *payload, size_t len)
{
    /* Trailing bytes (other than white space) make the payload something other than JSON. */
    return pl_json_parse_whole(payload, len, 0, PL_JSON_STRICT);
}

static bool find_id(json_object *obj, const char *id, int depth);

/*
 * A string member that holds a JSON object: the dead-letter topic carries the offending
 * request as text ({"error": ..., "request": "{\"request_id\": ...}"}).
 */
static bool find_id_in_text(json_object *str, const char *id, int depth)
{
    const char *text = json_object_get_string(str);
    size_t len = (size_t)json_object_get_string_len(str);
    size_t lead = strspn(text, " \t\r\n");
    if (lead >= len || text[lead] != '{')
        return false;
    json_object *inner = parse(text, len);
    bool found = inner && find_id(inner, id, depth);
    json_object_put(inner);
    return found;
}

static bool find_id(json_object *obj, const char *id, int depth)
{
    if (!json_object_is_type(obj, json_type_object))
        return false;
    json_object *v = NULL;
    if (json_object_object_get_ex(obj, "request_id", &v) &&
        json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), id) == 0)
        return true;
    if (depth >= MAX_DEPTH)
        return false;
    json_object_object_foreach(obj, key, child)
    {
        (void)key;
        if (json_object_is_type(child, json_type_string) ? find_id_in_text(child, id, depth + 1)
                                                         : find_id(child, id, depth + 1))
            return true;
    }
    return false;
}

bool pl_ctlmsg_has_request_id(const char *payload, size_t len, const char *id)
{
    json_object *obj = parse(payload, len);
    bool found = obj && find_id(obj, id, 0);
    json_object_put(obj);
    return found;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool pl_ctlmsg_topic_is_masked(const char *topic)
{
    return ends_with(topic, ".reply") || ends_with(topic, ".decision");
}

/* Text that is not JSON, scrubbed of card numbers, as a JSON string literal. */
static char *format_text(const char *payload, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, payload, len);
    copy[len] = '\0';
    /* Full: also a card number the workers refuse where the Luhn scan does not see it (across
     * characters a bureau message drops or nobody sees, "4111é1111é1111é1111", or with its
     * expiry glued). */
    size_t n = pl_card_scrub_full(copy, len + 1, pl_log_mask_mode());

    char *line = NULL;
    json_object *s = json_object_new_string_len(copy, (int)n);
    if (s) {
        const char *text = json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
        line = text ? strdup(text) : NULL;
    }
    json_object_put(s);
    pl_card_wipe(copy, len);
    free(copy);
    return line;
}

/* A stored value card number a generate's first reply carries (svc.card_number), masked as the
 * log masks a card number: the only copy of it is that reply, for the order system. */
static void mask_generated(json_object *obj)
{
    json_object *svc = NULL, *num = NULL;
    if (!json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, "svc", &svc) ||
        !json_object_is_type(svc, json_type_object) ||
        !json_object_object_get_ex(svc, "card_number", &num) ||
        !json_object_is_type(num, json_type_string))
        return;
    char masked[64];
    if (pl_card_mask_log(json_object_get_string(num), pl_log_mask_mode(), masked, sizeof masked) !=
        0)
        snprintf(masked, sizeof masked, "%s", "****");
    json_object_object_add(svc, "card_number", json_object_new_string(masked));
}

char *pl_ctlmsg_format(const char *payload, size_t len, bool masked, bool reveal_generated)
{
    json_object *obj = parse(payload, len);
    if (!obj)
        return format_text(payload, len);

    char *line = NULL;
    if (masked) {
        if (!reveal_generated)
            mask_generated(obj);
        const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
        line = text ? strdup(text) : NULL;
    } else {
        /* pl_request_redact answers compact JSON for a JSON object, scrubbed text otherwise. */
        char *redacted = pl_request_redact(payload, len);
        if (redacted && json_object_is_type(obj, json_type_object)) {
            line = redacted;
            redacted = NULL;
        } else if (redacted) {
            line = format_text(redacted, strlen(redacted));
        }
        free(redacted);
    }
    json_object_put(obj);
    return line;
}
