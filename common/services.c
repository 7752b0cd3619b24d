/* services.c: service bureau configuration snapshots (see services.h). */
#include "services.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "config.h"

typedef struct xref {
    char service[9], from[5], to[11];
} xref;

typedef struct paytype {
    char service[9], pay_type[5], vendor_paytype[11], merchant_id[31];
    int reauth_days;
} paytype;

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
    xref *cur, *cty;
    size_t ncur, ncty;
    paytype *pt;
    size_t npt;
    override *ov;
    size_t nov;
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

static void *alloc_rows(int n, size_t size)
{
    return calloc(n > 0 ? (size_t)n : 1, size);
}

pl_services *pl_services_load(void *pgconn, char *errstr, size_t errstr_size)
{
    PGconn *c = pgconn;
    PGresult *r = NULL;
    pl_services *s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->refs = 1;
    /* Read at every load, like the rows: the default for bureaus without a proxy of their own. */
    char proxy[sizeof s->svc->proxy];
    if (pl_config_proxy_from_env(proxy, sizeof proxy, errstr, errstr_size) != 0)
        goto fail;

    r = query(c,
              "SELECT service_bureau, protocol, description, merchant_id, secret_ref, "
              "CASE WHEN send_to_production THEN production_url ELSE test_url END, api_version, "
              "response_time_ms, response_check_frequency, connect_attempts, request_token, "
              "decision_manager, send_reversal, void_auth_at_deposit, max_concurrent, proxy_host, "
              "coalesce(proxy_port::text, ''), message_log_enabled, message_log_dir, "
              "fraud_cancel_reason, card_prefix, card_series, location_id, ws_user, "
              "balance_inquiry_batch FROM auth_service ORDER BY service_bureau",
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
        char err[200];
        if (pl_secret_resolve(PQgetvalue(r, i, 4), v->secret, sizeof v->secret, err, sizeof err) ==
            0) {
            v->secret_ok = true;
        } else {
            copy(v->secret_error, sizeof v->secret_error, err);
        }
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
    return s;

nomem:
    pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
    PQclear(r);
    pl_services_unref(s);
    return NULL;
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

void pl_services_unref(pl_services *s)
{
    if (!s || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->nsvc; i++)
        pl_card_wipe(s->svc[i].secret, sizeof s->svc[i].secret);
    free(s->svc);
    free(s->vr);
    free(s->cur);
    free(s->cty);
    free(s->pt);
    free(s->ov);
    free(s);
}

const pl_service *pl_services_find(const pl_services *s, const char *code)
{
    for (size_t i = 0; s && code && i < s->nsvc; i++)
        if (strcmp(s->svc[i].code, code) == 0)
            return &s->svc[i];
    return NULL;
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
    for (size_t i = 0; s && service && kind && code && i < s->nvr; i++)
        if (strcmp(s->vr[i].service, service) == 0 && strcmp(s->vr[i].kind, kind) == 0 &&
            strcmp(s->vr[i].code, code) == 0)
            return &s->vr[i];
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
