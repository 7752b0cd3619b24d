/* jsonutil.c: a whole text read as one JSON value (see jsonutil.h). */
#include "jsonutil.h"

#include <limits.h>
#include <string.h>

#include "card.h"

bool pl_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

json_object *pl_json_parse_whole(const char *text, size_t len, int depth, unsigned flags)
{
    if (!text || len == 0 || len > INT_MAX || memchr(text, '\0', len))
        return NULL;
    json_tokener *tok = depth > 0 ? json_tokener_new_ex(depth) : json_tokener_new();
    if (!tok)
        return NULL;
    int jflags = ((flags & PL_JSON_STRICT) ? JSON_TOKENER_STRICT : 0) |
                 ((flags & PL_JSON_UTF8) ? JSON_TOKENER_VALIDATE_UTF8 : 0);
    json_tokener_set_flags(tok, jflags);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    bool ok = root && json_tokener_get_error(tok) == json_tokener_success;
    for (size_t i = ok ? json_tokener_get_parse_end(tok) : len; ok && i < len; i++)
        ok = pl_json_space(text[i]);
    if ((flags & PL_JSON_WIPE) && tok->pb && tok->pb->buf)
        pl_card_wipe(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

const char *pl_json_str(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}
