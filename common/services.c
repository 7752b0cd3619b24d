/* services.c: service bureau configuration snapshots (see services.h). */
#include "services.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "config.h"
#include "log.h"

typedef struct xref {
    char service[9], from[5], to[11];
} xref;

typedef struct paytype {
    char service[9], pay_type[5], vendor_paytype[11], merchant_id[31];
    int reauth_days;
} paytype;

typedef struct paytype_setting {
    int company;
    char pay_type[5];
    bool notify_installments;
} paytype_setting;

typedef struct override {
    int company;
    char entity[21], service[9], merchant_id[31];
} override;

struct pl_services {
    int refs;
    pl_service *svc;
    size_t nsvc;
    pl_vendor_response *vr;
    size_t nvr;
    /* vr by (service, kind, code), rows of one key in load order: looked up at every answer. */
    const pl_vendor_response **vr_by_key;
    xref *cur, *cty;
    size_t ncur, ncty;
    paytype *pt;
    size_t npt;
    override *ov;
    size_t nov;
    paytype_setting *wpay; /* pay_type (016_external_service.sql) */
    size_t nwpay;
};

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static bool is_true(const char *v)
{
    return v && v[0] == 't';
}

/* Runs a query and returns its result, or NULL with errstr set. */
static PGresult *query(PGconn *c, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pl_err_set(PL_ERR_DB, errstr, errstr_size, "loading service bureaus: %s",
                   PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Resolves ref into v->secret; on failure the bureau is unusable (secret_ok false, and
 * secret_unread, which pl_services_carry reads) and secret_error says why, naming the
 * reference, never the secret. */
static void resolve_secret(pl_service *v, const char *ref)
{
    char err[sizeof v->secret_error];
    copy(v->secret_ref, sizeof v->secret_ref, ref);
    if (pl_secret_resolve(ref, v->secret, sizeof v->secret, err, sizeof err) == 0) {
        v->secret_ok = true;
    } else {
        pl_card_wipe(v->secret, sizeof v->secret);
        copy(v->secret_error, sizeof v->secret_error, err);
        v->secret_unread = true;
    }
}

/* Marks v unusable: its calls are refused with this message (as an unresolvable secret). */
static void refuse(pl_service *v, const char *fmt, ...) PL_PRINTF(2, 3);
static void refuse(pl_service *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->secret_error, sizeof v->secret_error, fmt, ap);
    va_end(ap);
    v->secret_ok = false;
    pl_card_wipe(v->secret, sizeof v->secret);
}

static bool is_https(const char *url)
{
    return strncmp(url, "https://", 8) == 0 && url[8] != '\0' && url[8] != '/';
}

/*
 * The External Service Settings of an EXT bureau (columns 26-32 of the auth_service query):
 * url is the External URL Prefix, secret the Authentication Password. Settings the seed does
 * not allow make the bureau unusable, checked in the order an operator would fix them.
 */
static void load_external(pl_service *v, const PGresult *r, int i)
{
    bool has_row = is_true(PQgetvalue(r, i, 26));
    v->ext_enabled = is_true(PQgetvalue(r, i, 27));
    const char *prefix = PQgetvalue(r, i, 28);
    copy(v->ext_message_version, sizeof v->ext_message_version, PQgetvalue(r, i, 29));
    copy(v->ext_auth_user, sizeof v->ext_auth_user, PQgetvalue(r, i, 30));
    const char *password_ref = PQgetvalue(r, i, 31);
    copy(v->secret_ref, sizeof v->secret_ref, password_ref);
    copy(v->ext_token_url, sizeof v->ext_token_url, PQgetvalue(r, i, 32));
    copy(v->url, sizeof v->url, prefix);
    v->secret_ok = false;

    if (!has_row) {
        refuse(v,
               "%s: no External Service Settings (external_service): set them with paylinkctl "
               "bureau set",
               v->code);
        return;
    }
    if (!v->ext_enabled) {
        refuse(v, "%s: the External Service flag is off (external_service.enabled)", v->code);
        return;
    }
    if (!is_https(prefix)) {
        refuse(v, "%s: the External URL Prefix must begin with https://", v->code);
        return;
    }
    if (!is_https(v->ext_token_url)) {
        refuse(v, "%s: the OAuth token URL must begin with https://", v->code);
        return;
    }
    if (strcmp(v->ext_message_version, "3.0") != 0) {
        refuse(v, "%s: message version %.8s is not supported (only 3.0)", v->code,
               v->ext_message_version);
        return;
    }
    if (!*v->ext_auth_user) {
        refuse(v, "%s: the Authentication User is blank", v->code);
        return;
    }
    resolve_secret(v, password_ref);
    if (!v->secret_ok)
        return;
    char why[120];
    if (!pl_services_ext_password_ok(v->secret, why, sizeof why))
        refuse(v, "%s: the Authentication Password (%.40s) is refused: %s", v->code, password_ref,
               why);
}

bool pl_services_ext_password_ok(const char *pw, char *why, size_t why_size)
{
    if (why && why_size)
        why[0] = '\0';
    if (!pw || !*pw) {
        if (why && why_size)
            snprintf(why, why_size, "no password");
        return false;
    }
    size_t chars = 0;
    bool letter = false, digit = false, special = false, last_digit = false;
    for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
        /* UTF-8: a continuation byte is part of the character before it. */
        if ((*p & 0xC0) != 0x80)
            chars++;
        bool is_letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        bool is_digit = *p >= '0' && *p <= '9';
        letter |= is_letter;
        digit |= is_digit;
        special |= !is_letter && !is_digit;
        last_digit = is_digit;
    }
    /* Every rule it breaks, never the password or any of its characters. */
    const char *broken[5];
    size_t n = 0;
    if (chars < 6)
        broken[n++] = "shorter than 6 characters";
    if (!letter)
        broken[n++] = "no letter";
    if (!digit)
        broken[n++] = "no digit";
    if (!special)
        broken[n++] = "no special (non-alphanumeric) character";
    if (last_digit)
        broken[n++] = "ends in a digit";
    if (n == 0)
        return true;
    if (why && why_size) {
        size_t used = 0;
        for (size_t k = 0; k < n && used < why_size; k++) {
            int w = snprintf(why + used, why_size - used, "%s%s", k ? ", " : "", broken[k]);
            if (w < 0)
                break;
            used += (size_t)w;
        }
    }
    return false;
}

/* The order of vr_by_key: service, kind, code; then the rows' load order (their place in vr). */
static int vr_key_cmp(const pl_vendor_response *v, const char *service, const char *kind,
                      const char *code)
{
    int c = strcmp(v->service, service);
    if (!c)
        c = strcmp(v->kind, kind);
    return c ? c : strcmp(v->code, code);
}

static int vr_order(const void *a, const void *b)
{
    const pl_vendor_response *x = *(const pl_vendor_response *const *)a;
    const pl_vendor_response *y = *(const pl_vendor_response *const *)b;
    int c = vr_key_cmp(x, y->service, y->kind, y->code);
    return c ? c : (x > y) - (x < y);
}

static void *alloc_rows(int n, size_t size)
{
    return calloc(n > 0 ? (size_t)n : 1, size);
}

/*
 * Reads every table of the configuration into s (whose arrays are empty) through c: 0, or a
 * negative pl_err with errstr set (s then holds what was read so far; the caller frees it).
 */
static int read_tables(PGconn *c, pl_services *s, const char *proxy, char *errstr,
                       size_t errstr_size)
{
    PGresult *r = NULL;
    r = query(c,
              "SELECT service_bureau, protocol, description, merchant_id, secret_ref, "
              "CASE WHEN send_to_production THEN production_url ELSE test_url END, api_version, "
              "response_time_ms, response_check_frequency, connect_attempts, request_token, "
              "decision_manager, send_reversal, void_auth_at_deposit, max_concurrent, proxy_host, "
              "coalesce(proxy_port::text, ''), message_log_enabled, message_log_dir, "
              "fraud_cancel_reason, card_prefix, card_series, location_id, ws_user, "
              "balance_inquiry_batch, supports_auth_resubmission, e.service_bureau IS NOT NULL, "
              "coalesce(e.enabled, false), coalesce(e.url_prefix, ''), "
              "coalesce(e.message_version, ''), coalesce(e.auth_user, ''), "
              "coalesce(e.auth_password_ref, ''), coalesce(e.token_url, ''), connection_idle_s "
              "FROM auth_service a LEFT JOIN external_service e USING (service_bureau) "
              "ORDER BY service_bureau",
              errstr, errstr_size);
    if (!r)
        goto fail;
    s->nsvc = (size_t)PQntuples(r);
    if (!(s->svc = alloc_rows(PQntuples(r), sizeof *s->svc)))
        goto nomem;
    for (int i = 0; i < PQntuples(r); i++) {
        pl_service *v = &s->svc[i];
        copy(v->code, sizeof v->code, PQgetvalue(r, i, 0));
        copy(v->protocol, sizeof v->protocol, PQgetvalue(r, i, 1));
        copy(v->description, sizeof v->description, PQgetvalue(r, i, 2));
        copy(v->merchant_id, sizeof v->merchant_id, PQgetvalue(r, i, 3));
        copy(v->url, sizeof v->url, PQgetvalue(r, i, 5));
        copy(v->api_version, sizeof v->api_version, PQgetvalue(r, i, 6));
        v->response_time_ms = (int)strtol(PQgetvalue(r, i, 7), NULL, 10);
        v->response_check_frequency = (int)strtol(PQgetvalue(r, i, 8), NULL, 10);
        v->connect_attempts = (int)strtol(PQgetvalue(r, i, 9), NULL, 10);
        v->request_token = is_true(PQgetvalue(r, i, 10));
        v->decision_manager = is_true(PQgetvalue(r, i, 11));
        v->send_reversal = is_true(PQgetvalue(r, i, 12));
        v->void_auth_at_deposit = is_true(PQgetvalue(r, i, 13));
        v->max_concurrent = (int)strtol(PQgetvalue(r, i, 14), NULL, 10);
        pl_services_choose_proxy(PQgetvalue(r, i, 15), PQgetvalue(r, i, 16), proxy, v->proxy,
                                 sizeof v->proxy);
        v->message_log_enabled = is_true(PQgetvalue(r, i, 17));
        copy(v->message_log_dir, sizeof v->message_log_dir, PQgetvalue(r, i, 18));
        copy(v->fraud_cancel_reason, sizeof v->fraud_cancel_reason, PQgetvalue(r, i, 19));
        copy(v->card_prefix, sizeof v->card_prefix, PQgetvalue(r, i, 20));
        copy(v->card_series, sizeof v->card_series, PQgetvalue(r, i, 21));
        copy(v->location_id, sizeof v->location_id, PQgetvalue(r, i, 22));
        copy(v->ws_user, sizeof v->ws_user, PQgetvalue(r, i, 23));
        v->balance_inquiry_batch = is_true(PQgetvalue(r, i, 24));
        v->supports_auth_resubmission = is_true(PQgetvalue(r, i, 25));
        v->connection_idle_s = (int)strtol(PQgetvalue(r, i, 33), NULL, 10);
        /* An EXT bureau's secret is its Authentication Password (external_service). */
        if (strcmp(v->protocol, "EXT") == 0)
            load_external(v, r, i);
        else
            resolve_secret(v, PQgetvalue(r, i, 4));
    }
    PQclear(r);

    r = query(c,
              "SELECT service_bureau, response_code, description, approved, hold_reason, "
              "deactivate_payment, response_kind, relate_response, orce_code "
              "FROM vendor_response",
              errstr, errstr_size);
    if (!r)
        goto fail;
    s->nvr = (size_t)PQntuples(r);
    if (!(s->vr = alloc_rows(PQntuples(r), sizeof *s->vr)))
        goto nomem;
    for (int i = 0; i < PQntuples(r); i++) {
        pl_vendor_response *v = &s->vr[i];
        copy(v->service, sizeof v->service, PQgetvalue(r, i, 0));
        copy(v->code, sizeof v->code, PQgetvalue(r, i, 1));
        copy(v->description, sizeof v->description, PQgetvalue(r, i, 2));
        v->approved = is_true(PQgetvalue(r, i, 3));
        copy(v->hold_reason, sizeof v->hold_reason, PQgetvalue(r, i, 4));
        v->deactivate_payment = is_true(PQgetvalue(r, i, 5));
        copy(v->kind, sizeof v->kind, PQgetvalue(r, i, 6));
        copy(v->relate_response, sizeof v->relate_response, PQgetvalue(r, i, 7));
        copy(v->orce_code, sizeof v->orce_code, PQgetvalue(r, i, 8));
    }
    PQclear(r);
    r = NULL;
    if (!(s->vr_by_key = alloc_rows((int)s->nvr, sizeof *s->vr_by_key)))
        goto nomem;
    for (size_t i = 0; i < s->nvr; i++)
        s->vr_by_key[i] = &s->vr[i];
    qsort(s->vr_by_key, s->nvr, sizeof *s->vr_by_key, vr_order);

    struct {
        const char *sql;
        xref **rows;
        size_t *n;
    } xr[] = {
        {"SELECT service_bureau, currency, bureau_currency FROM auth_service_currency", &s->cur,
         &s->ncur},
        {"SELECT service_bureau, country, bureau_country FROM auth_service_country", &s->cty,
         &s->ncty},
    };
    for (size_t k = 0; k < 2; k++) {
        r = query(c, xr[k].sql, errstr, errstr_size);
        if (!r)
            goto fail;
        *xr[k].n = (size_t)PQntuples(r);
        if (!(*xr[k].rows = alloc_rows(PQntuples(r), sizeof(xref))))
            goto nomem;
        for (int i = 0; i < PQntuples(r); i++) {
            xref *x = &(*xr[k].rows)[i];
            copy(x->service, sizeof x->service, PQgetvalue(r, i, 0));
            copy(x->from, sizeof x->from, PQgetvalue(r, i, 1));
            copy(x->to, sizeof x->to, PQgetvalue(r, i, 2));
        }
        PQclear(r);
    }

    r = query(c,
              "SELECT service_bureau, pay_type, vendor_paytype, merchant_id, reauth_days "
              "FROM vendor_paytype",
              errstr, errstr_size);
    if (!r)
        goto fail;
    s->npt = (size_t)PQntuples(r);
    if (!(s->pt = alloc_rows(PQntuples(r), sizeof *s->pt)))
        goto nomem;
    for (int i = 0; i < PQntuples(r); i++) {
        paytype *p = &s->pt[i];
        copy(p->service, sizeof p->service, PQgetvalue(r, i, 0));
        copy(p->pay_type, sizeof p->pay_type, PQgetvalue(r, i, 1));
        copy(p->vendor_paytype, sizeof p->vendor_paytype, PQgetvalue(r, i, 2));
        copy(p->merchant_id, sizeof p->merchant_id, PQgetvalue(r, i, 3));
        p->reauth_days = (int)strtol(PQgetvalue(r, i, 4), NULL, 10);
    }
    PQclear(r);

    r = query(c, "SELECT company, entity, service_bureau, merchant_id FROM merchant_id_override",
              errstr, errstr_size);
    if (!r)
        goto fail;
    s->nov = (size_t)PQntuples(r);
    if (!(s->ov = alloc_rows(PQntuples(r), sizeof *s->ov)))
        goto nomem;
    for (int i = 0; i < PQntuples(r); i++) {
        override *o = &s->ov[i];
        o->company = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
        copy(o->entity, sizeof o->entity, PQgetvalue(r, i, 1));
        copy(o->service, sizeof o->service, PQgetvalue(r, i, 2));
        copy(o->merchant_id, sizeof o->merchant_id, PQgetvalue(r, i, 3));
    }
    PQclear(r);

    r = query(c, "SELECT company, pay_type, notify_installments FROM pay_type", errstr,
              errstr_size);
    if (!r)
        goto fail;
    s->nwpay = (size_t)PQntuples(r);
    if (!(s->wpay = alloc_rows(PQntuples(r), sizeof *s->wpay)))
        goto nomem;
    for (int i = 0; i < PQntuples(r); i++) {
        paytype_setting *p = &s->wpay[i];
        p->company = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
        copy(p->pay_type, sizeof p->pay_type, PQgetvalue(r, i, 1));
        p->notify_installments = is_true(PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return 0;

nomem:
    PQclear(r);
    return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
    PQclear(r);
    return PL_ERR_DB;
}

/* Runs a statement that returns no rows (BEGIN, COMMIT): 0, or PL_ERR_DB with errstr set. */
static int command(PGconn *c, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexec(c, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pl_err_set(PL_ERR_DB, errstr, errstr_size, "loading service bureaus: %s: %s", sql,
                        PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

pl_services *pl_services_load(void *pgconn, char *errstr, size_t errstr_size)
{
    PGconn *c = pgconn;
    pl_services *s = calloc(1, sizeof *s);
    if (!s) {
        pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->refs = 1;
    /* Read at every load, like the rows: the default for bureaus without a proxy of their own. */
    char proxy[sizeof s->svc->proxy];
    if (pl_config_proxy_from_env(proxy, sizeof proxy, errstr, errstr_size) != 0) {
        pl_services_unref(s);
        return NULL;
    }
    /*
     * One snapshot for every table: read one by one, each in a transaction of its own, a change
     * a DBA commits in one transaction between two of the reads would be half seen. Moving an
     * entity's merchant ID from merchant_id_override to vendor_paytype, committed after the
     * vendor_paytype read and before the override's, loads neither, and until the next refresh
     * that entity's authorizations (their deposits and reversals with them) go to the bureau's
     * default merchant account. Read only: a load never writes. A caller that has a transaction
     * open (a test reading its own uncommitted rows) is read in that one, and the caller ends it.
     */
    bool own = PQtransactionStatus(c) == PQTRANS_IDLE;
    int rc =
        own ? command(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errstr, errstr_size)
            : 0;
    if (rc == 0)
        rc = read_tables(c, s, proxy, errstr, errstr_size);
    if (rc == 0 && own)
        rc = command(c, "COMMIT", errstr, errstr_size);
    if (rc != 0) {
        /* Ended, so that the connection serves the next refresh (one in a failed transaction
         * would refuse every statement); the caller keeps the configuration it has. A COMMIT
         * that failed has ended it already. */
        if (own && PQtransactionStatus(c) != PQTRANS_IDLE)
            PQclear(PQexec(c, "ROLLBACK"));
        pl_services_unref(s);
        return NULL;
    }
    return s;
}

void pl_services_choose_proxy(const char *host, const char *port, const char *fallback, char *out,
                              size_t outsize)
{
    if (host && *host)
        snprintf(out, outsize, "%s%s%s", host, port && *port ? ":" : "", port ? port : "");
    else
        copy(out, outsize, fallback);
}

pl_services *pl_services_load_conninfo(const char *conninfo, char *errstr, size_t errstr_size)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        pl_err_set(PL_ERR_DB, errstr, errstr_size, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    pl_services *s = pl_services_load(c, errstr, errstr_size);
    PQfinish(c);
    return s;
}

pl_services *pl_services_ref(pl_services *s)
{
    if (s)
        s->refs++;
    return s;
}

pl_services *pl_services_of(const pl_service *rows, size_t n)
{
    pl_services *s = calloc(1, sizeof *s);
    if (!s || (n && !(s->svc = calloc(n, sizeof *s->svc)))) {
        free(s);
        return NULL;
    }
    if (n)
        memcpy(s->svc, rows, n * sizeof *rows);
    s->nsvc = n;
    s->refs = 1;
    return s;
}

int pl_services_add_override(pl_services *s, int company, const char *entity, const char *service,
                             const char *merchant_id)
{
    override *ov = realloc(s->ov, (s->nov + 1) * sizeof *ov);
    if (!ov)
        return PL_ERR_NOMEM;
    s->ov = ov;
    override *o = &ov[s->nov++];
    o->company = company;
    copy(o->entity, sizeof o->entity, entity);
    copy(o->service, sizeof o->service, service);
    copy(o->merchant_id, sizeof o->merchant_id, merchant_id);
    return 0;
}

void pl_services_unref(pl_services *s)
{
    if (!s || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->nsvc; i++)
        pl_card_wipe(s->svc[i].secret, sizeof s->svc[i].secret);
    free(s->svc);
    free(s->vr);
    free(s->vr_by_key);
    free(s->cur);
    free(s->cty);
    free(s->pt);
    free(s->ov);
    free(s->wpay);
    free(s);
}

const pl_service *pl_services_find(const pl_services *s, const char *code)
{
    for (size_t i = 0; s && code && i < s->nsvc; i++)
        if (strcmp(s->svc[i].code, code) == 0)
            return &s->svc[i];
    return NULL;
}

/*
 * What this process said last of each bureau's secret (pl_services_carry), so that a line is
 * said once per process: a worker's engine and its resolver hold settings of their own, load
 * them apart (a refresh each, a minute or so apart) from the same references on the same host,
 * and each said the same line, which an operator took for two problems. A line differs from
 * the last one said of the bureau when its kind or its why does. Past SAID_MAX bureaus, every
 * line is said (never one left unsaid for want of room).
 */
typedef enum said_kind {
    SAID_NOTHING,  /* nothing noted yet */
    SAID_USABLE,   /* usable, without a word: at start-up, or once it was unusable */
    SAID_KEPT,     /* "the secret read before is kept" (why: secret_error) */
    SAID_UNUSABLE, /* "is unusable, its requests are refused" (why: secret_error) */
    SAID_READABLE, /* "its secret reference can be read again" */
} said_kind;

#define SAID_MAX 64

typedef struct said_line {
    char code[sizeof((pl_service *)0)->code];
    said_kind kind;
    char why[sizeof((pl_service *)0)->secret_error];
} said_line;

static struct {
    pthread_mutex_t mu;
    said_line line[SAID_MAX];
    size_t n;
} g_said = {.mu = PTHREAD_MUTEX_INITIALIZER};

/*
 * The line noted of bureau code (g_said.mu held), or NULL when there is none. With add, a
 * bureau without one gets a new line noting nothing yet (SAID_NOTHING) if there is room, so
 * NULL then means only that SAID_MAX bureaus are noted already.
 */
static said_line *said_entry(const char *code, bool add)
{
    for (size_t i = 0; i < g_said.n; i++)
        if (strcmp(g_said.line[i].code, code) == 0)
            return &g_said.line[i];
    if (!add || g_said.n == SAID_MAX)
        return NULL;
    said_line *l = &g_said.line[g_said.n++];
    copy(l->code, sizeof l->code, code);
    l->kind = SAID_NOTHING;
    l->why[0] = '\0';
    return l;
}

/*
 * Whether this process is to say the line (kind, why) of bureau code: not when it is the last
 * one said of the bureau, unless always (start-up: a worker's own start says what it finds,
 * whatever an earlier holder in the process said). Notes it as said either way.
 */
static bool say_once(const char *code, said_kind kind, const char *why, bool always)
{
    pthread_mutex_lock(&g_said.mu);
    bool say = true;
    said_line *l = said_entry(code, true);
    if (l) {
        say = always || l->kind != kind || strcmp(l->why, why) != 0;
        l->kind = kind;
        copy(l->why, sizeof l->why, why);
    }
    pthread_mutex_unlock(&g_said.mu);
    return say;
}

/*
 * Notes bureau code usable (SAID_USABLE) unless the last line noted of it says so already
 * (usable, or "can be read again"): the next time it is unusable is news again, whichever holder
 * finds it. Before, only a holder that itself saw the bureau go from unusable to usable noted it:
 * after an outage only the resolver had seen (the engine loading between two of the resolver's
 * loads, a minute apart), the same error coming back found "unusable, E" noted, and the engine,
 * now refusing the bureau's requests, said nothing.
 */
static void note_usable(const char *code)
{
    pthread_mutex_lock(&g_said.mu);
    said_line *l = said_entry(code, true);
    if (l && l->kind != SAID_USABLE && l->kind != SAID_READABLE) {
        l->kind = SAID_USABLE;
        l->why[0] = '\0';
    }
    pthread_mutex_unlock(&g_said.mu);
}

/*
 * Forgets what this process said of bureau code, which a holder found removed from the
 * configuration: added again later, it is new (pl_services_carry says what it finds of it, as
 * it did before lines were said once per process). Kept, the line said before it was removed
 * ("unusable, E") silenced the same line of the bureau added again, though it is news.
 */
static void forget_said(const char *code)
{
    pthread_mutex_lock(&g_said.mu);
    said_line *l = said_entry(code, false);
    if (l)
        *l = g_said.line[--g_said.n];
    pthread_mutex_unlock(&g_said.mu);
}

void pl_services_carry(pl_services *now, const pl_services *was)
{
    bool start = was == NULL;
    for (size_t i = 0; now && i < now->nsvc; i++) {
        pl_service *b = &now->svc[i];
        const pl_service *a = pl_services_find(was, b->code);
        /*
         * A reference that worked and is still the one configured, unreadable now: a file gone
         * from this host or left at mode 0644 after a copy. Dropping the secret would refuse
         * every request of the bureau until someone noticed; the operator did not change it,
         * so the secret read before stays, and the warning says a restart would lose it. A
         * changed reference is the operator's new choice: it is not overruled.
         */
        if (!b->secret_ok && b->secret_unread && a && a->secret_ok &&
            strcmp(a->protocol, b->protocol) == 0 && strcmp(a->secret_ref, b->secret_ref) == 0) {
            memcpy(b->secret, a->secret, sizeof b->secret);
            b->secret_ok = true;
            /* Once per error, not at every refresh while it lasts. */
            if ((!a->secret_unread || strcmp(a->secret_error, b->secret_error) != 0) &&
                say_once(b->code, SAID_KEPT, b->secret_error, false))
                PL_WARN(NULL,
                        "configuration: bureau %s: %s; the secret read before is kept while "
                        "the reference is unchanged (a restart would leave the bureau unusable)",
                        b->code, b->secret_error);
            continue;
        }
        /* Said at start-up, then when it becomes unusable or why changes: requests say it
         * too, one by one, but only when there are any. */
        if (!b->secret_ok) {
            if ((!a || a->secret_ok || strcmp(a->secret_error, b->secret_error) != 0) &&
                say_once(b->code, SAID_UNUSABLE, b->secret_error, start))
                PL_WARN(NULL, "configuration: bureau %s is unusable, its requests are refused: %s",
                        b->code, b->secret_error);
        } else if (!b->secret_unread && a && a->secret_ok && a->secret_unread) {
            if (say_once(b->code, SAID_READABLE, "", false))
                PL_INFO(NULL, "configuration: bureau %s: its secret reference can be read again",
                        b->code);
        } else if (start) {
            /* Usable at start-up (no line): the next time it is unusable is news again. */
            (void)say_once(b->code, SAID_USABLE, "", true);
        } else {
            /* Usable (no line), whatever this holder held before: see note_usable. */
            note_usable(b->code);
        }
    }
    /* A bureau this holder had that the new snapshot lacks was removed: see forget_said. */
    for (size_t i = 0; now && was && i < was->nsvc; i++)
        if (!pl_services_find(now, was->svc[i].code))
            forget_said(was->svc[i].code);
}

/* A setting of pl_service as pl_services_diff compares it. */
typedef struct svc_field {
    const char *name;
    size_t off;
    enum { F_STR, F_INT, F_BOOL } kind;
} svc_field;

/* clang-format off */
#define SF_STR(f) {#f, offsetof(pl_service, f), F_STR}
#define SF_INT(f) {#f, offsetof(pl_service, f), F_INT}
#define SF_BOOL(f) {#f, offsetof(pl_service, f), F_BOOL}
/* clang-format on */

static const svc_field svc_fields[] = {
    SF_STR(protocol),
    SF_STR(description),
    SF_STR(merchant_id),
    SF_STR(url),
    SF_STR(api_version),
    SF_INT(response_time_ms),
    SF_INT(response_check_frequency),
    SF_INT(connect_attempts),
    SF_BOOL(request_token),
    SF_BOOL(decision_manager),
    SF_BOOL(send_reversal),
    SF_BOOL(void_auth_at_deposit),
    SF_INT(max_concurrent),
    SF_INT(connection_idle_s),
    SF_STR(proxy),
    SF_BOOL(message_log_enabled),
    SF_STR(message_log_dir),
    SF_STR(fraud_cancel_reason),
    SF_STR(secret),
    SF_BOOL(secret_ok),
    SF_STR(secret_ref),
    SF_STR(card_prefix),
    SF_STR(card_series),
    SF_STR(location_id),
    SF_STR(ws_user),
    SF_BOOL(balance_inquiry_batch),
    SF_BOOL(ext_enabled),
    SF_STR(ext_message_version),
    SF_STR(ext_auth_user),
    SF_STR(ext_token_url),
    SF_BOOL(supports_auth_resubmission),
};

int pl_services_diff(const pl_service *a, const pl_service *b, char *out, size_t outsize)
{
    int n = 0;
    size_t len = 0;
    if (outsize)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof svc_fields / sizeof svc_fields[0]; i++) {
        const svc_field *f = &svc_fields[i];
        const char *x = (const char *)a + f->off, *y = (const char *)b + f->off;
        bool same = f->kind == F_STR ? strcmp(x, y) == 0
                    : f->kind == F_INT
                        ? *(const int *)(const void *)x == *(const int *)(const void *)y
                        : *(const bool *)(const void *)x == *(const bool *)(const void *)y;
        if (same)
            continue;
        if (len < outsize) {
            int w = snprintf(out + len, outsize - len, "%s%s", n ? ", " : "", f->name);
            len = w < 0 ? outsize : len + (size_t)w;
        }
        n++;
    }
    return n;
}

size_t pl_services_count(const pl_services *s)
{
    return s ? s->nsvc : 0;
}

const pl_service *pl_services_at(const pl_services *s, size_t i)
{
    return s && i < s->nsvc ? &s->svc[i] : NULL;
}

const pl_vendor_response *pl_services_vendor_response_kind(const pl_services *s,
                                                           const char *service, const char *kind,
                                                           const char *code)
{
    if (!s || !service || !kind || !code || !s->vr_by_key)
        return NULL;
    /* The first row of the key in vr_by_key, which is its first in load order. */
    size_t lo = 0, hi = s->nvr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vr_key_cmp(s->vr_by_key[mid], service, kind, code) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->nvr && vr_key_cmp(s->vr_by_key[lo], service, kind, code) == 0)
        return s->vr_by_key[lo];
    return NULL;
}

const pl_vendor_response *pl_services_vendor_response(const pl_services *s, const char *service,
                                                      const char *code)
{
    return pl_services_vendor_response_kind(s, service, "reason", code);
}

/* The reason row of service whose column (relate_response or orce_code) is code; a blank code
 * matches nothing, so rows without a mapping are never found. */
static const pl_vendor_response *vendor_response_mapped(const pl_services *s, const char *service,
                                                        bool by_error_code, const char *code)
{
    for (size_t i = 0; s && service && code && *code && i < s->nvr; i++) {
        const pl_vendor_response *v = &s->vr[i];
        const char *mapped = by_error_code ? v->relate_response : v->orce_code;
        if (strcmp(v->service, service) == 0 && strcmp(v->kind, "reason") == 0 &&
            strcmp(mapped, code) == 0)
            return v;
    }
    return NULL;
}

const pl_vendor_response *pl_services_vendor_response_svc(const pl_services *s, const char *service,
                                                          const char *error_code,
                                                          const char *reason_code)
{
    /* Seed: the ErrorCode decides when there is one, even when no row maps it. */
    if (error_code && *error_code)
        return vendor_response_mapped(s, service, true, error_code);
    return vendor_response_mapped(s, service, false, reason_code);
}

static const char *xref_find(const xref *x, size_t n, const char *service, const char *iso)
{
    for (size_t i = 0; iso && i < n; i++)
        if (strcmp(x[i].service, service) == 0 && strcmp(x[i].from, iso) == 0)
            return x[i].to;
    return iso;
}

const char *pl_services_currency(const pl_services *s, const char *service, const char *iso)
{
    return s ? xref_find(s->cur, s->ncur, service, iso) : iso;
}

const char *pl_services_country(const pl_services *s, const char *service, const char *iso)
{
    return s ? xref_find(s->cty, s->ncty, service, iso) : iso;
}

static const paytype *paytype_find(const pl_services *s, const char *service, const char *pay_type)
{
    for (size_t i = 0; s && pay_type && *pay_type && i < s->npt; i++)
        if (strcmp(s->pt[i].service, service) == 0 && strcmp(s->pt[i].pay_type, pay_type) == 0)
            return &s->pt[i];
    return NULL;
}

const char *pl_services_vendor_paytype(const pl_services *s, const char *service,
                                       const char *pay_type)
{
    const paytype *p = paytype_find(s, service, pay_type);
    return p && *p->vendor_paytype ? p->vendor_paytype : NULL;
}

int pl_services_reauth_days(const pl_services *s, const char *service, const char *pay_type)
{
    const paytype *p = paytype_find(s, service, pay_type);
    return p ? p->reauth_days : -1;
}

const char *pl_services_merchant_id(const pl_services *s, const pl_service *svc, int company,
                                    const char *entity, const char *pay_type)
{
    const paytype *p = paytype_find(s, svc->code, pay_type);
    if (p && *p->merchant_id)
        return p->merchant_id;
    for (size_t i = 0; s && entity && *entity && i < s->nov; i++)
        if (s->ov[i].company == company && strcmp(s->ov[i].entity, entity) == 0 &&
            strcmp(s->ov[i].service, svc->code) == 0)
            return s->ov[i].merchant_id;
    return svc->merchant_id;
}

bool pl_services_has_merchant_id(const pl_services *s, const pl_service *svc,
                                 const char *merchant_id)
{
    if (!merchant_id || !*merchant_id)
        return false;
    if (strcmp(svc->merchant_id, merchant_id) == 0)
        return true;
    for (size_t i = 0; s && i < s->npt; i++)
        if (strcmp(s->pt[i].service, svc->code) == 0 &&
            strcmp(s->pt[i].merchant_id, merchant_id) == 0)
            return true;
    for (size_t i = 0; s && i < s->nov; i++)
        if (strcmp(s->ov[i].service, svc->code) == 0 &&
            strcmp(s->ov[i].merchant_id, merchant_id) == 0)
            return true;
    return false;
}

bool pl_services_notify_installments(const pl_services *s, int company, const char *pay_type)
{
    for (size_t i = 0; s && pay_type && *pay_type && i < s->nwpay; i++)
        if (s->wpay[i].company == company && strcmp(s->wpay[i].pay_type, pay_type) == 0)
            return s->wpay[i].notify_installments;
    return false;
}
