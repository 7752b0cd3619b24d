/*
 * sim_proto.c: helpers shared by the protocol handlers, the server and the ledger (see
 * sim_proto.h).
 */
#include "sim_proto.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "card.h"

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
    pl_sim_response_take(resp, status, content_type, copy, len);
    return PL_OK;
}

void pl_sim_response_take(pl_sim_response *resp, unsigned status, const char *content_type,
                          char *body, size_t len)
{
    free(resp->body);
    resp->action = PL_SIM_ANSWER;
    resp->status = status;
    resp->content_type = content_type;
    resp->body = body;
    resp->body_len = len;
}

int pl_sim_json_add(json_object *obj, const char *key, json_object *v)
{
    if (!v || json_object_object_add(obj, key, v) != 0) {
        json_object_put(v);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

int pl_sim_response_json(pl_sim_response *resp, json_object *root)
{
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    int rc = text ? pl_sim_response_set(resp, 200, "application/json", text, strlen(text))
                  : PL_ERR_NOMEM;
    json_object_put(root);
    return rc;
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

/* ---- application/x-www-form-urlencoded bodies ---- */

/*
 * Decodes one application/x-www-form-urlencoded component src[0, n) into out: '+' is a space
 * (HTML's form encoding; a literal '+' arrives as %2B), the %XX escapes are libcurl's. Returns
 * 0, PL_ERR_INVALID (too long for out or for the simulator, or a %00 inside) or NOMEM.
 */
int pl_sim_form_decode(const char *src, size_t n, char *out, size_t outsize)
{
    char raw[PL_SIM_FORM_COMPONENT_MAX];
    if (n >= sizeof raw)
        return PL_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        /* libcurl leaves a malformed escape as it is; a form with one is malformed. */
        if (src[i] == '%' && (i + 2 >= n || !isxdigit((unsigned char)src[i + 1]) ||
                              !isxdigit((unsigned char)src[i + 2])))
            return PL_ERR_INVALID;
        raw[i] = src[i] == '+' ? ' ' : src[i];
    }
    raw[n] = '\0';
    int len = 0;
    char *dec = curl_easy_unescape(NULL, raw, (int)n, &len);
    pl_card_wipe(raw, n);
    if (!dec)
        return PL_ERR_NOMEM;
    int rc = PL_OK;
    if (len < 0 || (size_t)len >= outsize || memchr(dec, '\0', (size_t)len))
        rc = PL_ERR_INVALID;
    else
        memcpy(out, dec, (size_t)len + 1);
    /* The password passes through here. */
    pl_card_wipe(dec, len > 0 ? (size_t)len : 0);
    curl_free(dec);
    return rc;
}

/*
 * The decoded value of the first parameter called name in a form body. Returns 1 found, 0
 * absent (out = ""), PL_ERR_INVALID (its value does not decode or fit) or NOMEM. A parameter
 * whose name does not decode is not name.
 */
int pl_sim_form_value(const char *body, size_t len, const char *name, char *out, size_t outsize)
{
    out[0] = '\0';
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + i, '=', end - i);
        size_t name_end = eq ? (size_t)(eq - body) : end;
        char key[64];
        int rc = pl_sim_form_decode(body + i, name_end - i, key, sizeof key);
        if (rc == PL_ERR_NOMEM)
            return rc;
        if (rc == PL_OK && strcmp(key, name) == 0) {
            rc = pl_sim_form_decode(body + name_end + (eq ? 1 : 0), eq ? end - name_end - 1 : 0,
                                    out, outsize);
            if (rc < 0)
                out[0] = '\0';
            return rc < 0 ? rc : 1;
        }
        i = end + 1;
    }
    return 0;
}

bool pl_sim_is_form(const char *content_type)
{
    static const char form[] = "application/x-www-form-urlencoded";
    return content_type && strncasecmp(content_type, form, sizeof form - 1) == 0 &&
           (content_type[sizeof form - 1] == '\0' || content_type[sizeof form - 1] == ';' ||
            content_type[sizeof form - 1] == ' ');
}

/* ---- HTTP Basic authentication ---- */

/*
 * True when s[0, n) is base64 as RFC 7617's token68 carries it (RFC 4648 §4): whole quanta of
 * the alphabet, '=' only as the last one or two characters. OpenSSL's decoders are laxer in
 * ways that differ (EVP_DecodeBlock reads an inner '=' as 'A', EVP_DecodeUpdate skips white
 * space and stops at '-'), so the shape is checked here, once for every route.
 */
static bool base64_ok(const char *s, size_t n)
{
    if (n == 0 || n % 4 != 0)
        return false;
    size_t pad = s[n - 1] != '=' ? 0 : s[n - 2] != '=' ? 1 : 2;
    for (size_t i = 0; i < n - pad; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* Copies src[0, n) into out as a string; false when it does not fit or holds a NUL. */
static bool copy_part(const unsigned char *src, size_t n, char *out, size_t outsize)
{
    if (n >= outsize || memchr(src, '\0', n))
        return false;
    memcpy(out, src, n);
    out[n] = '\0';
    return true;
}

int pl_sim_basic_credentials(const char *header, bool form_decode, char *user, size_t usize,
                             char *pass, size_t psize)
{
    user[0] = '\0';
    pass[0] = '\0';
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return PL_ERR_INVALID;
    const char *b64 = header + 6 + strspn(header + 6, " ");
    size_t n = strlen(b64);
    /* Room for two form components as long as pl_sim_form_decode takes. */
    unsigned char dec[2 * PL_SIM_FORM_COMPONENT_MAX];
    if (!base64_ok(b64, n) || n / 4 * 3 > sizeof dec)
        return PL_ERR_INVALID;
    int m = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    int rc = PL_ERR_INVALID;
    /* EVP_DecodeBlock counts the padding as decoded zero bytes. */
    size_t len = m >= 0 ? (size_t)m - (b64[n - 1] == '=') - (b64[n - 2] == '=') : 0;
    const unsigned char *colon = m >= 0 ? memchr(dec, ':', len) : NULL;
    if (colon) {
        const unsigned char *p = colon + 1;
        size_t ulen = (size_t)(colon - dec), plen = len - ulen - 1;
        if (form_decode) {
            rc = pl_sim_form_decode((const char *)dec, ulen, user, usize);
            if (rc == PL_OK)
                rc = pl_sim_form_decode((const char *)p, plen, pass, psize);
        } else if (copy_part(dec, ulen, user, usize) && copy_part(p, plen, pass, psize)) {
            rc = PL_OK;
        }
    }
    pl_card_wipe(dec, sizeof dec);
    /* A part may have been written before the other failed. */
    if (rc < 0)
        user[0] = pass[0] = '\0';
    return rc;
}
