/* bureauctl.c: `paylinkctl bureau` show, set and audit (see bureauctl.h). */
#include "bureauctl.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "config.h"
#include "ctldb.h"
#include "opsctl.h"
#include "services.h"

/* ---- the whitelist ------------------------------------------------------------------------ */

/* The auth_service columns an operator sets (001, 013, 016), then the External Service
 * Settings. Lengths and ranges are the columns' (a DB CHECK backs each). */
static const pl_bureau_field fields[] = {
    {"description", "description", false, PL_BUREAU_TEXT, 0, 60, PL_BUREAU_PROSE},
    {"merchant_id", "merchant_id", false, PL_BUREAU_TEXT, 0, 30, 0},
    {"secret_ref", "secret_ref", false, PL_BUREAU_SECRET_REF, 0, 200, 0},
    {"test_url", "test_url", false, PL_BUREAU_URL, 0, 300, 0},
    {"production_url", "production_url", false, PL_BUREAU_URL, 0, 300, 0},
    {"send_to_production", "send_to_production", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"api_version", "api_version", false, PL_BUREAU_TEXT, 3, 10, PL_BUREAU_DOTTED},
    {"response_time_ms", "response_time_ms", false, PL_BUREAU_INT, 100, 600000, 0},
    /* The column allows any positive number; × response_time_ms must stay a sane wait. */
    {"response_check_frequency", "response_check_frequency", false, PL_BUREAU_INT, 1, 1000, 0},
    {"connect_attempts", "connect_attempts", false, PL_BUREAU_INT, 1, 10, 0},
    {"request_token", "request_token", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"decision_manager", "decision_manager", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"send_reversal", "send_reversal", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"void_auth_at_deposit", "void_auth_at_deposit", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"supports_auth_resubmission", "supports_auth_resubmission", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"max_concurrent", "max_concurrent", false, PL_BUREAU_INT, 1, 10000, 0},
    {"connection_idle_s", "connection_idle_s", false, PL_BUREAU_INT, 1, 3600, 0},
    {"proxy_host", "proxy_host", false, PL_BUREAU_TEXT, 0, 200,
     PL_BUREAU_NO_SPACE | PL_BUREAU_HOST},
    {"proxy_port", "proxy_port", false, PL_BUREAU_PORT, 1, 65535, 0},
    {"message_log_enabled", "message_log_enabled", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"message_log_dir", "message_log_dir", false, PL_BUREAU_TEXT, 0, 300, 0},
    {"fraud_cancel_reason", "fraud_cancel_reason", false, PL_BUREAU_TEXT, 0, 5, 0},
    {"card_prefix", "card_prefix", false, PL_BUREAU_TEXT, 0, 20, PL_BUREAU_ALNUM},
    {"card_series", "card_series", false, PL_BUREAU_TEXT, 0, 20, PL_BUREAU_ALNUM},
    {"location_id", "location_id", false, PL_BUREAU_TEXT, 0, 20, 0},
    {"ws_user", "ws_user", false, PL_BUREAU_TEXT, 0, 60, PL_BUREAU_NO_COLON},
    {"balance_inquiry_batch", "balance_inquiry_batch", false, PL_BUREAU_BOOL, 0, 0, 0},
    {"ext.enabled", "enabled", true, PL_BUREAU_BOOL, 0, 0, 0},
    {"ext.url_prefix", "url_prefix", true, PL_BUREAU_HTTPS, 0, 300, 0},
    {"ext.message_version", "message_version", true, PL_BUREAU_VERSION, 0, 7, 0},
    {"ext.auth_user", "auth_user", true, PL_BUREAU_TEXT, 1, 60, PL_BUREAU_NO_COLON},
    {"ext.auth_password_ref", "auth_password_ref", true, PL_BUREAU_PASSWORD_REF, 0, 200, 0},
    {"ext.token_url", "token_url", true, PL_BUREAU_HTTPS, 0, 300, 0},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

size_t pl_bureau_field_count(void)
{
    return NFIELDS;
}

const pl_bureau_field *pl_bureau_field_at(size_t i)
{
    return i < NFIELDS ? &fields[i] : NULL;
}

const pl_bureau_field *pl_bureau_field_find(const char *name)
{
    for (size_t i = 0; name && i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/*
 * The statements that write the changes. Every whitelisted column of the table is set from
 * jsonb_populate_record of the row itself overlaid with the changes ($2, pl_bureau_changes_json),
 * so a column not named keeps its value and the audit trigger records only what changed. A row
 * whose values are all as given already is not updated (updated_at says when it last changed).
 * The column lists are fixed text: no SQL is built from input.
 */
static const char *const SQL_SET_AUTH_SERVICE =
    "UPDATE auth_service a SET (description, merchant_id, secret_ref, test_url, production_url, "
    "send_to_production, api_version, response_time_ms, response_check_frequency, "
    "connect_attempts, request_token, decision_manager, send_reversal, void_auth_at_deposit, "
    "supports_auth_resubmission, max_concurrent, connection_idle_s, proxy_host, proxy_port, "
    "message_log_enabled, message_log_dir, fraud_cancel_reason, card_prefix, card_series, "
    "location_id, ws_user, balance_inquiry_batch) = (SELECT r.description, r.merchant_id, "
    "r.secret_ref, r.test_url, r.production_url, r.send_to_production, r.api_version, "
    "r.response_time_ms, r.response_check_frequency, r.connect_attempts, r.request_token, "
    "r.decision_manager, r.send_reversal, r.void_auth_at_deposit, "
    "r.supports_auth_resubmission, r.max_concurrent, r.connection_idle_s, r.proxy_host, "
    "r.proxy_port, r.message_log_enabled, r.message_log_dir, "
    "r.fraud_cancel_reason, r.card_prefix, r.card_series, r.location_id, r.ws_user, "
    "r.balance_inquiry_batch FROM jsonb_populate_record(a, $2::jsonb) r) "
    "WHERE a.service_bureau = $1::varchar AND to_jsonb(a) IS DISTINCT FROM "
    "to_jsonb(a) || $2::jsonb";

static const char *const SQL_SET_EXTERNAL =
    "UPDATE external_service e SET (enabled, url_prefix, message_version, auth_user, "
    "auth_password_ref, token_url) = (SELECT r.enabled, r.url_prefix, r.message_version, "
    "r.auth_user, r.auth_password_ref, r.token_url FROM jsonb_populate_record(e, $2::jsonb) r) "
    "WHERE e.service_bureau = $1::varchar AND to_jsonb(e) IS DISTINCT FROM "
    "to_jsonb(e) || $2::jsonb";

/* A bureau's first External Service Settings: the flag off and version 3.0 unless given. */
static const char *const SQL_ADD_EXTERNAL =
    "INSERT INTO external_service (service_bureau, enabled, url_prefix, message_version, "
    "auth_user, auth_password_ref, token_url) SELECT $1::varchar, coalesce(r.enabled, false), "
    "r.url_prefix, coalesce(r.message_version, '3.0'), r.auth_user, r.auth_password_ref, "
    "r.token_url FROM jsonb_populate_record(NULL::external_service, $2::jsonb) r";

/* The bureau, locked for the change, and whether it has External Service Settings. */
static const char *const SQL_LOCK =
    "SELECT a.protocol, e.service_bureau IS NOT NULL FROM auth_service a "
    "LEFT JOIN external_service e ON e.service_bureau = a.service_bureau "
    "WHERE a.service_bureau = $1::varchar FOR UPDATE OF a";

/* What this transaction changed, as the audit recorded it. */
static const char *const SQL_CHANGED =
    "SELECT setting, coalesce(old_value, '(none)'), coalesce(new_value, '(none)') "
    "FROM auth_service_changes WHERE txid = txid_current() ORDER BY id";

static const char *const SQL_SHOW =
    "SELECT to_jsonb(a), to_jsonb(e) FROM auth_service a "
    "LEFT JOIN external_service e ON e.service_bureau = a.service_bureau "
    "WHERE a.service_bureau = $1::varchar";

static const char *const SQL_AUDIT =
    "SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "service_bureau, setting, action, changed_by, coalesce(old_value, '(none)'), "
    "coalesce(new_value, '(none)') FROM auth_service_changes "
    "WHERE ($1::varchar IS NULL OR service_bureau = $1::varchar) LIMIT $2::int";

/* ---- checks -------------------------------------------------------------------------------- */

bool pl_bureau_is_https(const char *url)
{
    if (!url || strncmp(url, "https://", 8) != 0 || strlen(url) > 300)
        return false;
    const char *host = url + 8;
    if (*host == '\0' || *host == '/')
        return false;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    /* No user or password before the host (https://user:pw@host): libcurl would send them, and
     * the URL is stored in auth_service and its audit, kept for good and printed by `bureau
     * show` and `bureau audit`. Credentials come from secret references. */
    size_t authority = strcspn(host, "/?#");
    if (memchr(host, '@', authority))
        return false;
    return true;
}

bool pl_bureau_parse_bool(const char *s, bool *out)
{
    if (s && strcmp(s, "true") == 0)
        *out = true;
    else if (s && strcmp(s, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

bool pl_bureau_parse_int(const char *s, long min, long max, long *out)
{
    return pl_ctldb_parse_range(s, min, max, out);
}

/* env:NAME, file:/path or file-env:NAME, with something after the scheme. */
static bool is_secret_ref(const char *s)
{
    static const char *const schemes[] = {"env:", "file:", "file-env:"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) == 0 && s[n] != '\0')
            return true;
    }
    return false;
}

int pl_bureau_check_password_ref(const char *ref, char *errstr, size_t errstr_size)
{
    char pw[256], err[300], why[160];
    int rc = PL_OK;
    if (pl_secret_resolve(ref, pw, sizeof pw, err, sizeof err) != 0) {
        rc = pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                        "ext.auth_password_ref: cannot be resolved here (%s); paylinkctl checks "
                        "the password before it is set, so run it where the workers' secrets are",
                        err);
    } else if (!pl_services_ext_password_ok(pw, why, sizeof why)) {
        rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                        "ext.auth_password_ref: the password %s names is refused: %s (seed: at "
                        "least 6 characters with a letter, a digit and a special character, not "
                        "ending in a digit)",
                        ref, why);
    }
    pl_card_wipe(pw, sizeof pw);
    return rc;
}

int pl_bureau_check_value(const pl_bureau_field *f, const char *value, char *out, size_t outsize,
                          bool *is_null, char *errstr, size_t errstr_size)
{
    *is_null = false;
    if (!value)
        value = "";
    size_t len = strlen(value);
    if (outsize <= PL_BUREAU_VALUE_MAX)
        return pl_err_set(PL_ERR_TOOBIG, errstr, errstr_size, "%s: value buffer too small",
                          f->name);
    bool b = false;
    long v = 0;
    switch (f->kind) {
    case PL_BUREAU_BOOL:
        if (!pl_bureau_parse_bool(value, &b))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: expected true or false",
                              f->name);
        snprintf(out, outsize, "%s", b ? "true" : "false");
        return PL_OK;
    case PL_BUREAU_INT:
        if (!pl_bureau_parse_int(value, f->min, f->max, &v))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: expected a whole number, %ld to %ld", f->name, f->min, f->max);
        snprintf(out, outsize, "%ld", v);
        return PL_OK;
    case PL_BUREAU_PORT:
        if (len == 0) {
            *is_null = true;
            out[0] = '\0';
            return PL_OK;
        }
        if (!pl_bureau_parse_int(value, f->min, f->max, &v))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: expected a port, %ld to %ld, or nothing (none)", f->name, f->min,
                              f->max);
        snprintf(out, outsize, "%ld", v);
        return PL_OK;
    case PL_BUREAU_URL:
    case PL_BUREAU_HTTPS:
        /* The URL is not echoed: it may carry a user and password. */
        if (len == 0 && f->kind == PL_BUREAU_URL)
            break;
        if (!pl_bureau_is_https(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: must begin with https:// followed by a host (no user or "
                              "password, no space, at most 300 characters)%s",
                              f->name,
                              f->ext ? "; the seed requires https for the External Payment "
                                       "Service"
                                     : "");
        break;
    case PL_BUREAU_SECRET_REF:
    case PL_BUREAU_PASSWORD_REF:
        if ((len == 0 && f->kind == PL_BUREAU_SECRET_REF))
            break;
        if (!is_secret_ref(value) || len > (size_t)f->max || pl_ctldb_has_control(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: expected a secret reference env:NAME, file:/path or "
                              "file-env:NAME (at most %ld characters), never the secret itself",
                              f->name, f->max);
        break;
    case PL_BUREAU_VERSION:
        if (strcmp(value, "3.0") != 0)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: only 3.0 is supported (the seed removed earlier versions)",
                              f->name);
        break;
    case PL_BUREAU_TEXT:
        if (len < (size_t)f->min || len > (size_t)f->max || pl_ctldb_has_control(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: expected %s%ld characters at most, no control character",
                              f->name, f->min > 0 ? "text, not blank, " : "text of ", f->max);
        /* Stored in auth_service and its audit (never updated) and printed back: a card number
         * pasted into a description would be kept in clear for good. Not echoed. Free text
         * only: an identifier (a merchant or location ID, a path) of 13 to 19 digits passes the
         * Luhn check one time in ten, and refusing it would refuse a real configuration. */
        if ((f->rules & PL_BUREAU_PROSE) && pl_card_contains_full(value, len))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: must not contain a card number", f->name);
        if ((f->rules & PL_BUREAU_NO_COLON) && strchr(value, ':'))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: must not contain ':' (an HTTP Basic user, RFC 7617)", f->name);
        if (f->rules & PL_BUREAU_NO_SPACE) {
            for (const char *p = value; *p; p++)
                if (*p == ' ')
                    return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                      "%s: must not contain a space", f->name);
        }
        if (f->rules & PL_BUREAU_ALNUM) {
            for (const char *p = value; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= 'A' && *p <= 'Z')))
                    return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                      "%s: letters and digits only", f->name);
        }
        /* No scheme, user and password or port: libcurl would send the credentials, and the
         * value is kept for good in the audit and printed back. */
        if ((f->rules & PL_BUREAU_HOST) && len > 0 && !pl_config_proxy_host_ok(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "%s: a host name, an IPv4 address or an IPv6 address in brackets, "
                              "without scheme, user, password or port",
                              f->name);
        if (f->rules & PL_BUREAU_DOTTED) {
            const char *dot = strchr(value, '.');
            bool ok = dot && dot > value && dot[1] != '\0' && !strchr(dot + 1, '.');
            for (const char *p = value; ok && *p; p++)
                ok = *p == '.' || (*p >= '0' && *p <= '9');
            if (!ok)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "%s: expected a version such as 1.121", f->name);
        }
        break;
    }
    snprintf(out, outsize, "%s", value);
    return PL_OK;
}

/* ---- the command line ---------------------------------------------------------------------- */

static int take_assignment(pl_bureau_opts *o, const char *arg, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(arg, '=');
    char name[64];
    size_t n = (size_t)(eq - arg);
    if (n == 0 || n >= sizeof name)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "bureau set: expected FIELD=VALUE (see paylinkctl bureau --help)");
    memcpy(name, arg, n);
    name[n] = '\0';
    const pl_bureau_field *f = pl_bureau_field_find(name);
    if (!f)
        return pl_err_set(
            PL_ERR_INVALID, errstr, errstr_size,
            "bureau set: %s is not a setting paylinkctl changes (see paylinkctl "
            "bureau --help for the list)",
            /* Not echoed when it could be a mistyped card number. */
            pl_ctldb_has_control(name) || pl_card_contains_full(name, n) ? "that field" : name);
    for (size_t i = 0; i < o->nchanges; i++)
        if (o->changes[i].field == f)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s given twice", f->name);
    if (o->nchanges >= PL_BUREAU_MAX_CHANGES)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "too many settings at once");
    pl_bureau_change *c = &o->changes[o->nchanges];
    int rc = pl_bureau_check_value(f, eq + 1, c->value, sizeof c->value, &c->is_null, errstr,
                                   errstr_size);
    if (rc != PL_OK)
        return rc;
    c->field = f;
    o->nchanges++;
    return PL_OK;
}

/* The value of option name at argv[*a] ("--name value" or "--name=value"), or NULL when arg is
 * not that option. Sets *missing when the value is absent. */
static const char *option_value(int argc, char **argv, int *a, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *arg = argv[*a];
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*a + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*a];
}

int pl_bureau_parse(int argc, char **argv, pl_bureau_opts *o, char *errstr, size_t errstr_size)
{
    memset(o, 0, sizeof *o);
    o->limit = PL_BUREAU_DEFAULT_LIMIT;
    if (argc < 2)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "bureau needs a subcommand: show, set or audit");
    if (strcmp(argv[1], "show") == 0)
        o->cmd = PL_BUREAU_SHOW;
    else if (strcmp(argv[1], "set") == 0)
        o->cmd = PL_BUREAU_SET;
    else if (strcmp(argv[1], "audit") == 0)
        o->cmd = PL_BUREAU_AUDIT;
    else
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "bureau: unknown subcommand (show, set or audit)");
    bool limit_seen = false;
    for (int a = 2; a < argc; a++) {
        const char *arg = argv[a];
        bool missing = false;
        const char *v;
        if (strncmp(arg, "--", 2) == 0) {
            if (o->cmd == PL_BUREAU_SET && (v = option_value(argc, argv, &a, "--by", &missing))) {
                if (o->by)
                    return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "--by given twice");
                if (pl_opsctl_check_name_max("--by", v, 100, errstr, errstr_size) != PL_OK)
                    return PL_ERR_INVALID;
                o->by = v;
            } else if (o->cmd == PL_BUREAU_AUDIT &&
                       (v = option_value(argc, argv, &a, "--limit", &missing))) {
                if (limit_seen)
                    return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "--limit given twice");
                if (!pl_bureau_parse_int(v, 1, PL_BUREAU_MAX_LIMIT, &o->limit))
                    return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                      "--limit: expected a number, 1 to %d", PL_BUREAU_MAX_LIMIT);
                limit_seen = true;
            } else if (missing) {
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%.20s needs a value", arg);
            } else {
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "bureau %s: unknown option (argument #%d)", argv[1], a);
            }
        } else if (!o->code && !strchr(arg, '=')) {
            size_t n = strlen(arg);
            bool ok = n >= 1 && n <= 8;
            for (const char *p = arg; ok && *p; p++)
                ok = (unsigned char)*p > 0x20 && *p != 0x7f;
            if (!ok)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "bureau %s: expected a service bureau code of 1 to 8 "
                                  "characters",
                                  argv[1]);
            o->code = arg;
        } else if (o->cmd == PL_BUREAU_SET && strchr(arg, '=')) {
            int rc = take_assignment(o, arg, errstr, errstr_size);
            if (rc != PL_OK)
                return rc;
        } else {
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "bureau %s: unexpected argument #%d", argv[1], a);
        }
    }
    if (!o->code && o->cmd != PL_BUREAU_AUDIT)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "bureau %s needs a bureau code",
                          argv[1]);
    if (o->cmd == PL_BUREAU_SET && !o->by)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "bureau set needs --by NAME: who makes the change (it is audited)");
    if (o->cmd == PL_BUREAU_SET && o->nchanges == 0)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "bureau set needs at least one FIELD=VALUE");
    return PL_OK;
}

char *pl_bureau_changes_json(const pl_bureau_opts *o, bool ext)
{
    json_object *j = json_object_new_object();
    char *out = NULL;
    if (!j)
        return NULL;
    for (size_t i = 0; i < o->nchanges; i++) {
        const pl_bureau_change *c = &o->changes[i];
        if (c->field->ext != ext)
            continue;
        json_object *v = NULL;
        if (c->is_null)
            v = NULL;
        else if (c->field->kind == PL_BUREAU_BOOL)
            v = json_object_new_boolean(strcmp(c->value, "true") == 0);
        else if (c->field->kind == PL_BUREAU_INT || c->field->kind == PL_BUREAU_PORT)
            v = json_object_new_int64(strtol(c->value, NULL, 10));
        else if (!(v = json_object_new_string(c->value)))
            goto out;
        json_object_object_add(j, c->field->column, v);
    }
    const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
    if (s)
        out = strdup(s);
out:
    json_object_put(j);
    return out;
}

/* ---- the commands -------------------------------------------------------------------------- */

/* Replaces control characters so a stored value cannot move the terminal. */
static void print_value(const char *s)
{
    for (; *s; s++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* One FIELD=VALUE line of object o's member key (booleans and numbers as JSON has them, NULL
 * as nothing). */
static void show_member(const char *prefix, const char *key, json_object *o)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return;
    printf("%s%s=", prefix, key);
    if (v)
        print_value(json_object_get_type(v) == json_type_string ? json_object_get_string(v)
                                                                : json_object_to_json_string(v));
    putchar('\n');
}

static int cmd_show(PGconn *db, const pl_bureau_opts *o)
{
    const char *p[] = {o->code};
    PGresult *r = PQexecParams(db, SQL_SHOW, 1, NULL, p, NULL, NULL, 0);
    int status = PL_BUREAU_EXIT_ERROR;
    json_object *a = NULL, *e = NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: bureau show failed: %s", PQerrorMessage(db));
        goto out;
    }
    if (PQntuples(r) == 0) {
        fprintf(stderr, "paylinkctl: no service bureau %s\n", o->code);
        status = PL_BUREAU_EXIT_REFUSED;
        goto out;
    }
    a = json_tokener_parse(PQgetvalue(r, 0, 0));
    if (!PQgetisnull(r, 0, 1))
        e = json_tokener_parse(PQgetvalue(r, 0, 1));
    if (!a) {
        fputs("paylinkctl: bureau show: unreadable row\n", stderr);
        goto out;
    }
    show_member("", "service_bureau", a);
    show_member("", "protocol", a);
    for (size_t i = 0; i < NFIELDS; i++)
        if (!fields[i].ext)
            show_member("", fields[i].column, a);
    /* Columns a later migration added and the whitelist does not know (read only here). */
    json_object_object_foreach(a, key, val)
    {
        (void)val;
        if (!pl_bureau_field_find(key) && strcmp(key, "service_bureau") != 0 &&
            strcmp(key, "protocol") != 0 && strcmp(key, "updated_at") != 0)
            show_member("", key, a);
    }
    show_member("", "updated_at", a);
    if (e) {
        for (size_t i = 0; i < NFIELDS; i++)
            if (fields[i].ext)
                show_member("ext.", fields[i].column, e);
        show_member("ext.", "updated_at", e);
    } else if (json_object_get_string(json_object_object_get(a, "protocol")) &&
               strcmp(json_object_get_string(json_object_object_get(a, "protocol")), "EXT") == 0) {
        fprintf(stderr,
                "paylinkctl: %s has no External Service Settings: its calls are refused until "
                "they are set (ext.url_prefix, ext.auth_user, ext.auth_password_ref, "
                "ext.token_url)\n",
                o->code);
    }
    status = PL_BUREAU_EXIT_DONE;
out:
    json_object_put(a);
    json_object_put(e);
    PQclear(r);
    return status;
}

static int cmd_audit(PGconn *db, const pl_bureau_opts *o)
{
    char limit[24];
    snprintf(limit, sizeof limit, "%ld", o->limit);
    const char *p[] = {o->code, limit};
    PGresult *r = PQexecParams(db, SQL_AUDIT, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: bureau audit failed: %s", PQerrorMessage(db));
        PQclear(r);
        return PL_BUREAU_EXIT_ERROR;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        /* changed_at bureau setting action by WHO: OLD -> NEW */
        printf("%s %-8s %-28s %-6s by ", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
        print_value(PQgetvalue(r, i, 4));
        fputs(": ", stdout);
        print_value(PQgetvalue(r, i, 5));
        fputs(" -> ", stdout);
        print_value(PQgetvalue(r, i, 6));
        putchar('\n');
    }
    PQclear(r);
    return PL_BUREAU_EXIT_DONE;
}

/* Runs one statement of the change with (code, json); false after printing why (*refused when
 * the database refused the values: a constraint). */
static bool write_step(PGconn *db, const char *sql, const char *code, const char *json,
                       bool *refused)
{
    const char *p[] = {code, json};
    PGresult *r = PQexecParams(db, sql, 2, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        /* Class 23: integrity constraint violation (a CHECK, NOT NULL, foreign key). */
        *refused = state && strncmp(state, "23", 2) == 0;
        fprintf(stderr, "paylinkctl: bureau set %s: the database %s: %s", code,
                *refused ? "refused the values" : "failed", PQresultErrorMessage(r));
    }
    PQclear(r);
    return ok;
}

/*
 * What the bureau's row must hold after the change, whatever fields it named: a CyberSource or
 * Customer Engagement bureau calls the URL of the server it sends to (production_url with
 * send_to_production, else test_url) and signs every call with its secret; blank, every call
 * fails (an outage one command would cause). A proxy port needs its host: the bureau's proxy is
 * its proxy_host (a blank one is "no proxy of its own"), so a port alone was dropped and the
 * calls went direct, past the proxy the operator meant. True when it holds; else says why on
 * stderr.
 */
static bool usable_after(PGconn *db, const char *code)
{
    const char *p[] = {code};
    PGresult *r = PQexecParams(db,
                               "SELECT protocol, CASE WHEN send_to_production THEN production_url "
                               "ELSE test_url END, send_to_production, secret_ref, "
                               "proxy_port IS NOT NULL AND proxy_host = '' "
                               "FROM auth_service WHERE service_bureau = $1",
                               1, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (!ok) {
        fprintf(stderr, "paylinkctl: bureau set %s: reading it back: %s", code,
                PQresultErrorMessage(r));
    } else if (PQgetvalue(r, 0, 4)[0] == 't') {
        fprintf(stderr,
                "paylinkctl: bureau set %s: proxy_port without proxy_host: the calls would go "
                "direct, not through a proxy; set both (or clear the port); nothing changed\n",
                code);
        ok = false;
    } else if (strcmp(PQgetvalue(r, 0, 0), "CYB") == 0 || strcmp(PQgetvalue(r, 0, 0), "RLT") == 0) {
        bool prod = PQgetvalue(r, 0, 2)[0] == 't';
        if (!PQgetvalue(r, 0, 1)[0]) {
            fprintf(stderr,
                    "paylinkctl: bureau set %s: %s would be blank while send_to_production is "
                    "%s: every call would fail; nothing changed\n",
                    code, prod ? "production_url" : "test_url", prod ? "true" : "false");
            ok = false;
        } else if (!PQgetvalue(r, 0, 3)[0]) {
            fprintf(stderr,
                    "paylinkctl: bureau set %s: secret_ref would be blank: a bureau of protocol "
                    "%s signs every call with its secret; nothing changed\n",
                    code, PQgetvalue(r, 0, 0));
            ok = false;
        }
    }
    PQclear(r);
    return ok;
}

static bool has_ext_field(const pl_bureau_opts *o, const char *name)
{
    for (size_t i = 0; i < o->nchanges; i++)
        if (strcmp(o->changes[i].field->name, name) == 0)
            return true;
    return false;
}

static int cmd_set(PGconn *db, const pl_bureau_opts *o)
{
    int status = PL_BUREAU_EXIT_ERROR;
    bool any_auth = false, any_ext = false, refused = false;
    PGresult *r = NULL;
    char *auth_json = pl_bureau_changes_json(o, false);
    char *ext_json = pl_bureau_changes_json(o, true);
    if (!auth_json || !ext_json) {
        fputs("paylinkctl: out of memory\n", stderr);
        goto out;
    }
    for (size_t i = 0; i < o->nchanges; i++) {
        if (o->changes[i].field->ext)
            any_ext = true;
        else
            any_auth = true;
    }
    if (!pl_ctldb_exec(db, "BEGIN")) {
        fprintf(stderr, "paylinkctl: bureau set: %s", PQerrorMessage(db));
        goto out;
    }
    const char *p[] = {o->code};
    r = PQexecParams(db, SQL_LOCK, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: bureau set: %s", PQerrorMessage(db));
        goto rollback;
    }
    if (PQntuples(r) == 0) {
        fprintf(stderr, "paylinkctl: no service bureau %s; nothing changed\n", o->code);
        status = PL_BUREAU_EXIT_REFUSED;
        goto rollback;
    }
    bool is_ext = strcmp(PQgetvalue(r, 0, 0), "EXT") == 0;
    bool has_ext_row = PQgetvalue(r, 0, 1)[0] == 't';
    if (any_ext && !is_ext) {
        fprintf(stderr,
                "paylinkctl: %s is a bureau of protocol %s: ext.* settings are the External "
                "Payment Service's (protocol EXT); nothing changed\n",
                o->code, PQgetvalue(r, 0, 0));
        status = PL_BUREAU_EXIT_REFUSED;
        goto rollback;
    }
    if (any_ext && !has_ext_row &&
        !(has_ext_field(o, "ext.url_prefix") && has_ext_field(o, "ext.auth_user") &&
          has_ext_field(o, "ext.auth_password_ref") && has_ext_field(o, "ext.token_url"))) {
        fprintf(stderr,
                "paylinkctl: %s has no External Service Settings yet: give ext.url_prefix, "
                "ext.auth_user, ext.auth_password_ref and ext.token_url together (the seed "
                "requires them; ext.enabled defaults to false, ext.message_version to 3.0); "
                "nothing changed\n",
                o->code);
        status = PL_BUREAU_EXIT_REFUSED;
        goto rollback;
    }
    PQclear(r);

    /* The audit triggers read who from this transaction-local setting. */
    const char *who[] = {o->by};
    r = PQexecParams(db, "SELECT set_config('paylink.changed_by', $1::text, true)", 1, NULL, who,
                     NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: bureau set: %s", PQerrorMessage(db));
        goto rollback;
    }
    PQclear(r);
    r = NULL;
    if (any_auth && !write_step(db, SQL_SET_AUTH_SERVICE, o->code, auth_json, &refused))
        goto rollback;
    if (any_auth && !usable_after(db, o->code)) {
        refused = true;
        goto rollback;
    }
    if (any_ext && !write_step(db, has_ext_row ? SQL_SET_EXTERNAL : SQL_ADD_EXTERNAL, o->code,
                               ext_json, &refused))
        goto rollback;

    r = PQexecParams(db, SQL_CHANGED, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: bureau set: reading the audit: %s", PQerrorMessage(db));
        goto rollback;
    }
    if (!pl_ctldb_exec(db, "COMMIT")) {
        fprintf(stderr, "paylinkctl: bureau set: commit failed, nothing changed: %s",
                PQerrorMessage(db));
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        printf("%s %s: ", o->code, PQgetvalue(r, i, 0));
        print_value(PQgetvalue(r, i, 1));
        fputs(" -> ", stdout);
        print_value(PQgetvalue(r, i, 2));
        putchar('\n');
    }
    fflush(stdout);
    if (PQntuples(r) == 0)
        fprintf(stderr, "paylinkctl: %s: nothing changed (the values were already set)\n", o->code);
    else
        fprintf(stderr,
                "paylinkctl: %s: %d setting(s) changed by %s (audited); the workers take them "
                "at their next configuration refresh\n",
                o->code, PQntuples(r), o->by);
    status = PL_BUREAU_EXIT_DONE;
    goto out;

rollback:
    pl_ctldb_exec(db, "ROLLBACK");
    if (refused)
        status = PL_BUREAU_EXIT_REFUSED;
out:
    PQclear(r);
    free(auth_json);
    free(ext_json);
    return status;
}

static void usage(FILE *f)
{
    fputs("usage: paylinkctl bureau show CODE\n"
          "       paylinkctl bureau set CODE --by NAME FIELD=VALUE [FIELD=VALUE ...]\n"
          "       paylinkctl bureau audit [CODE] [--limit N]\n"
          "  show: the service bureau's settings as FIELD=VALUE lines (secrets as their\n"
          "  references only).\n"
          "  set: changes the fields below in one transaction, audited under NAME; every value\n"
          "  is checked first (booleans true|false, whole numbers in range, https:// URLs, the\n"
          "  password an ext.auth_password_ref names must follow the seed's rule). A refused\n"
          "  value changes nothing (exit 2).\n"
          "  audit: the recorded changes, newest first (default 50).\n"
          "fields:",
          f);
    for (size_t i = 0; i < NFIELDS; i++)
        fprintf(f, "%s %s", i % 3 == 0 ? "\n   " : "", fields[i].name);
    fputs("\nexit status: 0 done, 1 error, 2 refused (nothing changed).\n", f);
}

int pl_bureau_main(int argc, char **argv, const char *conninfo)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? PL_BUREAU_EXIT_ERROR : PL_BUREAU_EXIT_DONE;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return PL_BUREAU_EXIT_DONE;
        }
    }
    pl_bureau_opts *o = malloc(sizeof *o);
    char errstr[512];
    int status = PL_BUREAU_EXIT_REFUSED;
    if (!o) {
        fputs("paylinkctl: out of memory\n", stderr);
        return PL_BUREAU_EXIT_ERROR;
    }
    if (pl_bureau_parse(argc, argv, o, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "paylinkctl: %s; nothing changed\n", errstr);
        goto out;
    }
    for (size_t i = 0; i < o->nchanges; i++) {
        const pl_bureau_change *c = &o->changes[i];
        if (c->field->kind == PL_BUREAU_PASSWORD_REF &&
            pl_bureau_check_password_ref(c->value, errstr, sizeof errstr) != PL_OK) {
            fprintf(stderr, "paylinkctl: %s; nothing changed\n", errstr);
            goto out;
        }
        /* A CyberSource or Customer Engagement secret has no rule to check; the workers resolve
         * it in their own environment, which may hold what this one lacks. */
        char secret[256];
        if (c->field->kind == PL_BUREAU_SECRET_REF && *c->value &&
            pl_secret_resolve(c->value, secret, sizeof secret, errstr, sizeof errstr) != 0)
            fprintf(stderr,
                    "paylinkctl: warning: %s cannot be resolved here (%s); the workers must be "
                    "able to\n",
                    c->field->name, errstr);
        pl_card_wipe(secret, sizeof secret);
    }
    PGconn *db = pl_ctldb_connect(conninfo, stderr);
    if (!db) {
        status = PL_BUREAU_EXIT_ERROR;
        goto out;
    }
    if (o->cmd == PL_BUREAU_SHOW)
        status = cmd_show(db, o);
    else if (o->cmd == PL_BUREAU_AUDIT)
        status = cmd_audit(db, o);
    else
        status = cmd_set(db, o);
    PQfinish(db);
out:
    free(o);
    return status;
}
