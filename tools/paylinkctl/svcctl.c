/* svcctl.c: `paylinkctl svc` (see svcctl.h). Times are printed as replies print them: RFC 3339,
 * UTC. */
#include "svcctl.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "ctlargs.h"
#include "ctldb.h"
#include "opsctl.h"
#include "engine.h"

/*
 * Marks the order; a second mark keeps the first (the CTE's insert is invisible to the
 * statement's own SELECT of order_closed, hence the two branches).
 */
static const char *const SQL_CLOSE =
    "WITH ins AS (INSERT INTO order_closed (company, order_number, reason, closed_by) "
    "VALUES ($1::int, $2::varchar, $3::varchar, $4::varchar) "
    "ON CONFLICT (company, order_number) DO NOTHING RETURNING reason, closed_at, closed_by) "
    "SELECT reason, to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "closed_by, true FROM ins "
    "UNION ALL SELECT reason, "
    "to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), closed_by, false "
    "FROM order_closed WHERE company = $1::int AND order_number = $2::varchar "
    "AND NOT EXISTS (SELECT 1 FROM ins)";

/*
 * The authorizations to void. Nothing claimed (amount_pending = 0): with a deposit or a void in
 * flight, or with an unknown outcome, the reversal worker would refuse the void; the next run
 * sees what it left. The attempt counts the voids of the authorization that ended (its own
 * service bureau: a credit card reversal may name the same request id in cc_auth_trans):
 * refused, or approved for less than was left (a settlement corrected by hand at the bureau,
 * an operator's resolve with --amount), whose request id is spent all the same.
 *
 * Each void goes to the authorization's own bureau, which may no longer be the pay type's (a
 * pay type moved): the seed's conditions on the pay type's bureau (SQL_PAY_TYPE) hold for that
 * bureau too, so the last column says whether it can take one now: protocol RLT, or EXT with
 * External Service Settings whose flag is on. Rows where it cannot are counted, not listed: a
 * void asked there would send no message and only raise the attempt of every later run.
 */
static const char *const SQL_UNUSED =
    "SELECT a.request_id, a.company, a.order_number, a.pay_seq, a.service_bureau, a.pay_type, "
    "a.card_masked, a.amount_approved::text, "
    "(a.amount_approved - a.amount_deposited - a.amount_voided)::text, "
    "coalesce(a.currency, ''), c.reason, "
    "to_char(c.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(a.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "1 + (SELECT count(*) FROM auth_reversal r WHERE r.auth_request_id = a.request_id "
    "AND r.service_bureau = a.service_bureau "
    "AND r.status IN ('approved', 'declined', 'rejected', 'error')), "
    "s.protocol = 'RLT' OR coalesce(e.enabled, false) "
    "FROM order_closed c "
    "JOIN svc_trans a ON a.company = c.company AND a.order_number = c.order_number "
    "JOIN auth_service s ON s.service_bureau = a.service_bureau "
    "AND s.protocol IN ('RLT', 'EXT') "
    "LEFT JOIN external_service e ON e.service_bureau = a.service_bureau "
    "WHERE c.company = $1::int AND c.closed_at <= now() - make_interval(days => $3::int) "
    "AND a.pay_type = $2::varchar AND a.request_type = 'auth' AND a.status = 'approved' "
    "AND a.svc_transaction_id <> '' AND a.amount_pending = 0 "
    "AND a.amount_approved - a.amount_deposited - a.amount_voided > 0 "
    "ORDER BY c.closed_at, a.order_number, a.pay_seq, a.received_at, a.request_id";

/* The pay type reverse-unused was given, as the seed's REVXAHP conditions need it. */
static const char *const SQL_PAY_TYPE =
    "SELECT p.kind, p.service_bureau, s.protocol, e.service_bureau IS NOT NULL, "
    "coalesce(e.enabled, false), coalesce(c.m25_netting_pay_type = p.pay_type, false) "
    "FROM pay_type p JOIN auth_service s ON s.service_bureau = p.service_bureau "
    "LEFT JOIN external_service e ON e.service_bureau = p.service_bureau "
    "LEFT JOIN company_setting c ON c.company = p.company "
    "WHERE p.company = $1::int AND p.pay_type = $2::varchar";

/* Records one listing; a later run's listing of the same void updates it. */
static const char *const SQL_LISTED =
    "INSERT INTO svc_unused_void (reversal_request_id, auth_request_id, attempt, company, "
    "order_number, pay_seq, service_bureau, pay_type, card_masked, amount_left, currency, "
    "listed_by) VALUES ($1::varchar, $2::varchar, $3::int, $4::int, $5::varchar, $6::int, "
    "$7::varchar, $8::varchar, $9::varchar, $10::numeric, nullif($11::text, '')::char(3), "
    "$12::varchar) "
    "ON CONFLICT (reversal_request_id) DO UPDATE SET last_listed_at = now(), "
    "times_listed = svc_unused_void.times_listed + 1, amount_left = excluded.amount_left, "
    "listed_by = excluded.listed_by "
    "RETURNING to_char(first_listed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "times_listed";

/* ---- options ------------------------------------------------------------------------------ */

/* The options, with the subcommands each belongs to; indexes are the enum's. */
enum { OPT_COMPANY, OPT_BY, OPT_ORDER, OPT_REASON, OPT_PAY_TYPE, OPT_DAYS, OPT_DRY_RUN };
#define CLOSE (1u << PL_SVCCTL_CLOSE_ORDER)
#define UNUSED (1u << PL_SVCCTL_REVERSE_UNUSED)
static const pl_ctl_option options[] = {
    {"--company", CLOSE | UNUSED, true},
    {"--by", CLOSE | UNUSED, true},
    {"--order", CLOSE, true},
    {"--reason", CLOSE, true},
    {"--pay-type", UNUSED, true},
    {"--older-than-days", UNUSED, true},
    {"--dry-run", UNUSED, false},
};
#define NOPTIONS (sizeof options / sizeof options[0])

static int take(pl_svcctl_opts *o, size_t i, const char *value, char *errstr, size_t errstr_size)
{
    long v = 0;
    switch (i) {
    case OPT_COMPANY:
        if (!pl_ctldb_parse_range(value, 1, 999, &v))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--company: expected a company number, 1 to 999");
        o->company = (int)v;
        break;
    case OPT_BY:
        if (pl_opsctl_check_name_max("--by", value, 50, errstr, errstr_size) != PL_OK)
            return PL_ERR_INVALID;
        o->by = value;
        break;
    case OPT_ORDER:
        if (!*value || strlen(value) > 20 || pl_ctldb_has_control(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--order: expected an order number of 1 to 20 characters");
        /* The contract refuses a card number in `order`: no order carries one. */
        if (pl_card_contains_full(value, strlen(value)))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--order: must not contain a card number");
        o->order = value;
        break;
    case OPT_REASON:
        if (strcmp(value, "closed") != 0 && strcmp(value, "cancelled") != 0)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--reason: expected closed or cancelled");
        o->reason = value;
        break;
    case OPT_PAY_TYPE:
        if (!*value || strlen(value) > 4 || pl_ctldb_has_control(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--pay-type: expected a pay type of 1 to 4 characters");
        o->pay_type = value;
        break;
    case OPT_DAYS:
        if (!pl_ctldb_parse_range(value, 0, PL_SVCCTL_MAX_DAYS, &v))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--older-than-days: expected days, 0 to %d", PL_SVCCTL_MAX_DAYS);
        o->older_than_days = (int)v;
        break;
    default:
        o->dry_run = true;
        break;
    }
    return PL_OK;
}

int pl_svcctl_parse(int argc, char **argv, pl_svcctl_opts *o, char *errstr, size_t errstr_size)
{
    memset(o, 0, sizeof *o);
    o->by = "paylinkctl";
    if (argc < 2)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "svc needs a subcommand: close-order or reverse-unused");
    if (strcmp(argv[1], "close-order") == 0)
        o->cmd = PL_SVCCTL_CLOSE_ORDER;
    else if (strcmp(argv[1], "reverse-unused") == 0)
        o->cmd = PL_SVCCTL_REVERSE_UNUSED;
    else
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "svc: unknown subcommand (close-order or reverse-unused)");
    bool seen[NOPTIONS] = {false};
    char prefix[40];
    snprintf(prefix, sizeof prefix, "svc %s: ", argv[1]);
    for (int a = 2; a < argc; a++) {
        size_t i;
        const char *value;
        int rc = pl_ctl_option_read(argc, argv, &a, options, NOPTIONS, 1u << o->cmd, seen, NOPTIONS,
                                    prefix, &i, &value, errstr, errstr_size);
        if (rc != PL_OK)
            return rc;
        rc = take(o, i, value, errstr, errstr_size);
        if (rc != PL_OK)
            return rc;
    }
    if (!o->company)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "svc %s needs --company", argv[1]);
    if (o->cmd == PL_SVCCTL_CLOSE_ORDER && (!o->order || !o->reason))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "svc close-order needs --order and --reason closed|cancelled");
    if (o->cmd == PL_SVCCTL_REVERSE_UNUSED && !o->pay_type)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "svc reverse-unused needs --pay-type");
    return PL_OK;
}

/* ---- what is printed ---------------------------------------------------------------------- */

void pl_svcctl_void_id(const char *auth_request_id, int attempt, char *out, size_t outsize)
{
    char suffix[24];
    if (attempt <= 1)
        snprintf(suffix, sizeof suffix, "unused");
    else
        snprintf(suffix, sizeof suffix, "unused%d", attempt);
    pl_job_derived_request_id(auth_request_id, suffix, out, outsize);
}

static void add_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value ? value : ""));
}

char *pl_svcctl_unused_json(const pl_svcctl_unused *u, const char *prefix)
{
    json_object *o = json_object_new_object(), *card = json_object_new_object();
    json_object *rev = json_object_new_object(), *ref = json_object_new_object();
    char *out = NULL;
    if (!o || !card || !rev || !ref) {
        json_object_put(o);
        json_object_put(card);
        json_object_put(rev);
        json_object_put(ref);
        return NULL;
    }
    add_str(o, "auth_request_id", u->auth_request_id);
    add_str(o, "reversal_request_id", u->reversal_request_id);
    json_object_object_add(o, "attempt", json_object_new_int(u->attempt));
    json_object_object_add(o, "company", json_object_new_int(u->company));
    add_str(o, "order", u->order);
    json_object_object_add(o, "pay_seq", json_object_new_int(u->pay_seq));
    add_str(o, "service", u->service);
    add_str(o, "pay_type", u->pay_type);
    add_str(card, "masked", u->card_masked);
    json_object_object_add(o, "card", card);
    add_str(o, "amount_authorized", u->amount_authorized);
    add_str(o, "amount_left", u->amount_left);
    add_str(o, "currency", u->currency);
    add_str(o, "order_status", u->order_status);
    add_str(o, "closed_at", u->closed_at);
    add_str(o, "authorized_at", u->authorized_at);
    if (u->first_listed_at) {
        add_str(o, "first_listed_at", u->first_listed_at);
        json_object_object_add(o, "times_listed", json_object_new_int64(u->times_listed));
    }
    char topic[200], key[64];
    snprintf(topic, sizeof topic, "%s.reversal.request", prefix);
    snprintf(key, sizeof key, "%d-%s", u->company, u->order ? u->order : "");
    add_str(o, "topic", topic);
    add_str(o, "key", key);

    /* The request as CONTRACT.md §1 has it, in its field order; the card is the order system's. */
    json_object_object_add(rev, "v", json_object_new_int(1));
    add_str(rev, "request_id", u->reversal_request_id);
    add_str(rev, "type", "reversal");
    json_object_object_add(rev, "company", json_object_new_int(u->company));
    add_str(rev, "order", u->order);
    json_object_object_add(rev, "pay_seq", json_object_new_int(u->pay_seq));
    add_str(rev, "service", u->service);
    if (u->pay_type && *u->pay_type)
        add_str(rev, "pay_type", u->pay_type);
    add_str(rev, "amount", u->amount_left);
    if (u->currency && *u->currency)
        add_str(rev, "currency", u->currency);
    add_str(ref, "request_id", u->auth_request_id);
    json_object_object_add(rev, "auth_ref", ref);
    json_object_object_add(o, "reversal", rev);

    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (s)
        out = strdup(s);
    json_object_put(o);
    return out;
}

/* ---- the seed's conditions ---------------------------------------------------------------- */

int pl_svcctl_check_pay_type(const pl_svcctl_opts *o, const pl_svcctl_pay_type *p, char *errstr,
                             size_t errstr_size)
{
    if (!p->found)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "pay type %s is not a pay type of company %d (pay_type): "
                          "reverse-unused needs a stored value card pay type of the company",
                          o->pay_type, o->company);
    if (strcmp(p->kind, "SVC") != 0)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "pay type %s of company %d is a credit card pay type (%s), not a "
                          "stored value card pay type",
                          o->pay_type, o->company, p->kind);
    bool ext = strcmp(p->protocol, "EXT") == 0;
    if (!ext && strcmp(p->protocol, "RLT") != 0)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "pay type %s of company %d is assigned to service bureau %s of "
                          "protocol %s, not to the External Payment Service (EXT) or Customer "
                          "Engagement (RLT)",
                          o->pay_type, o->company, p->service, p->protocol);
    if (ext && !p->ext_configured)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "pay type %s of company %d is assigned to %s, which is not configured "
                          "as the External Payment Service: it has no External Service Settings "
                          "(paylinkctl bureau set)",
                          o->pay_type, o->company, p->service);
    if (ext && !p->ext_enabled)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "pay type %s of company %d is assigned to %s, whose External Service "
                          "flag is off (ext.enabled): no message would be sent",
                          o->pay_type, o->company, p->service);
    if (p->is_m25)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "pay type %s is company %d's Default Auth Code for CC Netting (system "
                          "control value M25): its authorizations are not reversed here",
                          o->pay_type, o->company);
    return PL_OK;
}

/* ---- the commands ------------------------------------------------------------------------- */

static int cmd_close_order(PGconn *db, const pl_svcctl_opts *o)
{
    char company[16];
    snprintf(company, sizeof company, "%d", o->company);
    const char *p[] = {company, o->order, o->reason, o->by};
    PGresult *r = PQexecParams(db, SQL_CLOSE, 4, NULL, p, NULL, NULL, 0);
    int status = 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "paylinkctl: svc close-order failed: %s", PQerrorMessage(db));
        goto out;
    }
    json_object *j = json_object_new_object();
    if (!j)
        goto out;
    json_object_object_add(j, "company", json_object_new_int(o->company));
    add_str(j, "order", o->order);
    add_str(j, "reason", PQgetvalue(r, 0, 0));
    add_str(j, "closed_at", PQgetvalue(r, 0, 1));
    add_str(j, "closed_by", PQgetvalue(r, 0, 2));
    bool marked = PQgetvalue(r, 0, 3)[0] == 't';
    json_object_object_add(j, "marked", json_object_new_boolean(marked));
    printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(j);
    if (!marked)
        fprintf(stderr, "paylinkctl: the order was already marked %s; left as it was\n",
                PQgetvalue(r, 0, 0));
    status = 0;
out:
    PQclear(r);
    return status;
}

/* Records (unless a dry run) and prints row i of SQL_UNUSED. Returns 0 or -1. */
static int list_one(PGconn *db, const PGresult *r, int i, const pl_svcctl_opts *o,
                    const char *prefix)
{
    char rid[64];
    int attempt = (int)strtol(PQgetvalue(r, i, 13), NULL, 10);
    pl_svcctl_void_id(PQgetvalue(r, i, 0), attempt, rid, sizeof rid);
    pl_svcctl_unused u = {
        .auth_request_id = PQgetvalue(r, i, 0),
        .reversal_request_id = rid,
        .attempt = attempt,
        .company = (int)strtol(PQgetvalue(r, i, 1), NULL, 10),
        .order = PQgetvalue(r, i, 2),
        .pay_seq = (int)strtol(PQgetvalue(r, i, 3), NULL, 10),
        .service = PQgetvalue(r, i, 4),
        .pay_type = PQgetvalue(r, i, 5),
        .card_masked = PQgetvalue(r, i, 6),
        .amount_authorized = PQgetvalue(r, i, 7),
        .amount_left = PQgetvalue(r, i, 8),
        .currency = PQgetvalue(r, i, 9),
        .order_status = PQgetvalue(r, i, 10),
        .closed_at = PQgetvalue(r, i, 11),
        .authorized_at = PQgetvalue(r, i, 12),
    };
    PGresult *w = NULL;
    if (!o->dry_run) {
        char attempt_s[16];
        snprintf(attempt_s, sizeof attempt_s, "%d", attempt);
        const char *p[] = {rid,           u.auth_request_id,   attempt_s,  PQgetvalue(r, i, 1),
                           u.order,       PQgetvalue(r, i, 3), u.service,  u.pay_type,
                           u.card_masked, u.amount_left,       u.currency, o->by};
        w = PQexecParams(db, SQL_LISTED, 12, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(w) != PGRES_TUPLES_OK || PQntuples(w) != 1) {
            fprintf(stderr, "paylinkctl: recording the void of %s failed: %s", u.auth_request_id,
                    PQerrorMessage(db));
            PQclear(w);
            return -1;
        }
        u.first_listed_at = PQgetvalue(w, 0, 0);
        u.times_listed = strtol(PQgetvalue(w, 0, 1), NULL, 10);
    }
    char *line = pl_svcctl_unused_json(&u, prefix);
    PQclear(w);
    if (!line) {
        fputs("paylinkctl: out of memory\n", stderr);
        return -1;
    }
    printf("%s\n", line);
    free(line);
    return 0;
}

/* The seed's REVXAHP conditions on the pay type; 0, or -1 after saying why. */
static int check_pay_type(PGconn *db, const pl_svcctl_opts *o, const char *company)
{
    const char *p[] = {company, o->pay_type};
    PGresult *r = PQexecParams(db, SQL_PAY_TYPE, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: reading the pay type failed: %s", PQerrorMessage(db));
        PQclear(r);
        return -1;
    }
    pl_svcctl_pay_type pt = {.found = PQntuples(r) == 1};
    if (pt.found) {
        pt.kind = PQgetvalue(r, 0, 0);
        pt.service = PQgetvalue(r, 0, 1);
        pt.protocol = PQgetvalue(r, 0, 2);
        pt.ext_configured = PQgetvalue(r, 0, 3)[0] == 't';
        pt.ext_enabled = PQgetvalue(r, 0, 4)[0] == 't';
        pt.is_m25 = PQgetvalue(r, 0, 5)[0] == 't';
    }
    char errstr[400];
    int rc = pl_svcctl_check_pay_type(o, &pt, errstr, sizeof errstr);
    PQclear(r);
    if (rc != PL_OK) {
        fprintf(stderr, "paylinkctl: svc reverse-unused refused: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int cmd_reverse_unused(PGconn *db, const pl_svcctl_opts *o, const char *prefix)
{
    int unsendable = 0;
    char company[16], days[16];
    snprintf(company, sizeof company, "%d", o->company);
    snprintf(days, sizeof days, "%d", o->older_than_days);
    if (check_pay_type(db, o, company) != 0)
        return 1;
    const char *p[] = {company, o->pay_type, days};
    /* One transaction: what is printed is what is recorded. */
    if (!o->dry_run && !pl_ctldb_exec(db, "BEGIN")) {
        fprintf(stderr, "paylinkctl: svc reverse-unused: %s", PQerrorMessage(db));
        return 1;
    }
    PGresult *r = PQexecParams(db, SQL_UNUSED, 3, NULL, p, NULL, NULL, 0);
    int status = 1, n = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: reading the unused authorizations failed: %s",
                PQerrorMessage(db));
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetvalue(r, i, 14)[0] != 't') {
            unsendable++;
            continue;
        }
        if (list_one(db, r, i, o, prefix) != 0)
            goto out;
        n++;
    }
    if (!o->dry_run && !pl_ctldb_exec(db, "COMMIT")) {
        fprintf(stderr,
                "paylinkctl: the voids were listed but not recorded (the same request ids "
                "stand): %s",
                PQerrorMessage(db));
        goto out;
    }
    status = 0;
    fflush(stdout);
    fprintf(stderr,
            "paylinkctl: %d stored value authorization(s) of company %d on closed or cancelled "
            "orders hold money; the order system sends each reversal with its card%s\n",
            n, o->company, o->dry_run ? " (dry run: nothing recorded)" : "");
    if (unsendable > 0)
        fprintf(stderr,
                "paylinkctl: %d more of pay type %s hold money on an External Payment Service "
                "bureau that cannot be sent a void now (its External Service flag off, or no "
                "External Service Settings): not listed; they are once the bureau is switched on "
                "(paylinkctl bureau set)\n",
                unsendable, o->pay_type);
out:
    PQclear(r);
    if (status != 0 && !o->dry_run)
        pl_ctldb_exec(db, "ROLLBACK");
    return status;
}

static void usage(FILE *f)
{
    fputs("usage: paylinkctl svc close-order --company C --order O --reason closed|cancelled\n"
          "                                  [--by NAME]\n"
          "       paylinkctl svc reverse-unused --company C --pay-type P [--older-than-days N]\n"
          "                                     [--dry-run] [--by NAME]\n"
          "  close-order: the order system marks order O closed or cancelled (order_closed);\n"
          "  a second mark keeps the first. One JSON line.\n"
          "  reverse-unused (seed REVXAHP): P must be a stored value pay type of company C\n"
          "  (pay_type) assigned to an RLT bureau or to the External Payment Service (EXT, its\n"
          "  External Service flag on), and not C's M25 netting pay type; otherwise refused.\n"
          "  It lists the approved stored value authorizations of pay type P on orders\n"
          "  marked at least N days ago (default 0) that still hold money, on a bureau that\n"
          "  can be sent their void now (RLT, or EXT with its flag on), one JSON line each\n"
          "  with the reversal request the order system sends once it has added the card\n"
          "  (svc.card_number: paylink does not keep card numbers). The reversal request ids\n"
          "  are the same on every run until the void is done. --dry-run: nothing recorded in\n"
          "  svc_unused_void.\n",
          f);
}

int pl_svcctl_main(int argc, char **argv, const char *conninfo, const char *prefix)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
    }
    pl_svcctl_opts o;
    char errstr[256];
    if (pl_svcctl_parse(argc, argv, &o, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "paylinkctl: %s\n", errstr);
        return 1;
    }
    PGconn *db = pl_ctldb_connect(conninfo, stderr);
    if (!db)
        return 1;
    int status = pl_svcctl_run(db, &o, prefix);
    PQfinish(db);
    return status;
}

int pl_svcctl_run(PGconn *db, const pl_svcctl_opts *o, const char *prefix)
{
    return o->cmd == PL_SVCCTL_CLOSE_ORDER ? cmd_close_order(db, o)
                                           : cmd_reverse_unused(db, o, prefix);
}
