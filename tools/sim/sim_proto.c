/*
 * sim_proto.c: helpers shared by the protocol handlers, the server and the ledger (see
 * sim_proto.h).
 */
#include "sim_proto.h"

#include <stdlib.h>
#include <string.h>

int pl_sim_response_set(pl_sim_response *resp, unsigned status, const char *content_type,
                        const char *body, size_t len)
{
    char *copy = NULL;
    if (len > 0) {
        copy = malloc(len + 1);
        if (!copy)
            return PL_ERR_NOMEM;
        memcpy(copy, body, len);
        copy[len] = '\0';
    }
    free(resp->body);
    resp->action = PL_SIM_ANSWER;
    resp->status = status;
    resp->content_type = content_type;
    resp->body = copy;
    resp->body_len = len;
    return PL_OK;
}

int pl_sim_response_text(pl_sim_response *resp, unsigned status, const char *text)
{
    return pl_sim_response_set(resp, status, "text/plain; charset=utf-8", text, strlen(text));
}

void pl_sim_response_free(pl_sim_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

int pl_sim_parse_uint(const char *s, unsigned max, unsigned *out)
{
    if (!s || !*s)
        return PL_ERR_INVALID;
    unsigned long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return PL_ERR_INVALID;
        v = v * 10 + (unsigned)(*p - '0');
        if (v > max)
            return PL_ERR_INVALID;
    }
    *out = (unsigned)v;
    return PL_OK;
}

bool pl_sim_currency_ok(const char *s)
{
    bool ok = strlen(s) == 3;
    for (size_t i = 0; ok && i < 3; i++)
        ok = s[i] >= 'A' && s[i] <= 'Z';
    return ok;
}
