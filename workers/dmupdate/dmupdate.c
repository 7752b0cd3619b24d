/* dmupdate.c: paylink-dmupdate (see dmupdate.h). */
#include "dmupdate.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "card.h"
#include "config.h"
#include "db.h"
#include "dm_report.h"
#include "engine.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "reversal_own.h"
#include "services.h"

/* Company numbers are 1..999 (dm_run.company CHECK). */
#define COMPANY_MAX 999
#define MAX_MESSAGES 32
/* The most windows one cycle asks for per company and bureau (24 h each: a month behind). */
#define MAX_WINDOWS 31
#define REPORT_TIMEOUT_MS 60000L
#define REPORT_MAX_BODY (16u * 1024u * 1024u)
/* The most PAYLINK_DM_OVERLAP_S may be: an hour (the windows are asked every 15 minutes). */
#define OVERLAP_MAX_S 3600

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* ---- pure parts -------------------------------------------------------------------------- */

bool pl_dmupdate_unknown_merchant(const char *why)
{
    return why && strstr(why, "No merchant found for username") != NULL;
}

/* True when lower (lower case) holds any of words. */
static bool mentions(const char *lower, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(lower, words[i]))
            return true;
    return false;
}

pl_dm_refusal pl_dmupdate_refusal(const char *why)
{
    if (!why)
        return PL_DM_REFUSED_SERVICE;
    char lower[512];
    size_t n = 0;
    for (; why[n] && n + 1 < sizeof lower; n++)
        lower[n] = (char)(why[n] >= 'A' && why[n] <= 'Z' ? why[n] - 'A' + 'a' : why[n]);
    lower[n] = '\0';
    /* First the service's own refusals, whatever else they say ("Too many requests", "Maximum
     * login attempts exceeded"): every window would be refused alike. */
    static const char *const service[] = {
        "login",        "credential",  "password",   "username",       "no merchant",
        "merchant not", "requests",    "rate limit", "quota",          "daily limit",
        "unavailable",  "maintenance", "attempt",    "not authorized", "permission"};
    static const char *const too_large[] = {"too large", "too big", "too long", "too many",
                                            "exceed",    "maximum", "narrow"};
    static const char *const window[] = {"date", "time", "range", "period", "window"};
    if (mentions(lower, service, sizeof service / sizeof service[0]))
        return PL_DM_REFUSED_SERVICE;
    if (mentions(lower, too_large, sizeof too_large / sizeof too_large[0]))
        return PL_DM_REFUSED_TOO_LARGE;
    if (mentions(lower, window, sizeof window / sizeof window[0]))
        return PL_DM_REFUSED_WINDOW;
    return PL_DM_REFUSED_SERVICE;
}

pl_dm_action pl_dm_decide(const char *new_decision, bool deposited, const char *fraud_cancel_reason,
                          bool send_reversal)
{
    pl_dm_action a = {0};
    if (new_decision && strcmp(new_decision, "ACCEPT") == 0) {
        a.action = "release_hold";
    } else if (new_decision && strcmp(new_decision, "REJECT") == 0) {
        /* seed: "If the entire order cannot be cancelled ... places the order on FC Fraud
         * Cancellation hold". An order with a deposit was (partly) shipped; one without a
         * cancel reason code (M14) cannot be cancelled by the order system either. */
        if (deposited || !fraud_cancel_reason || !*fraud_cancel_reason) {
            a.action = "fraud_cancel_hold";
        } else {
            a.action = "cancel_order";
            a.cancel_reason = fraud_cancel_reason;
        }
        a.reverse = send_reversal;
    }
    return a;
}

json_object *pl_dm_event(int company, const char *order, const char *transaction_id,
                         const char *original_decision, const char *new_decision,
                         const pl_dm_action *a, const char (*messages)[513], size_t n,
                         const char *reversal_request_id)
{
    json_object *o = json_object_new_object();
    json_object *msgs = json_object_new_array();
    if (!o || !msgs) {
        json_object_put(o);
        json_object_put(msgs);
        return NULL;
    }
    json_object_object_add(o, "v", json_object_new_int(1));
    json_object_object_add(o, "company", json_object_new_int(company));
    json_object_object_add(o, "order", json_object_new_string(order));
    json_object_object_add(o, "transaction_id", json_object_new_string(transaction_id));
    json_object_object_add(o, "original_decision", json_object_new_string(original_decision));
    json_object_object_add(o, "new_decision", json_object_new_string(new_decision));
    json_object_object_add(o, "action", json_object_new_string(a->action));
    if (a->cancel_reason)
        json_object_object_add(o, "cancel_reason", json_object_new_string(a->cancel_reason));
    for (size_t i = 0; i < n; i++)
        json_object_array_add(msgs, json_object_new_string(messages[i]));
    json_object_object_add(o, "messages", msgs);
    if (reversal_request_id)
        json_object_object_add(o, "reversal_request_id",
                               json_object_new_string(reversal_request_id));
    return o;
}

char *pl_dm_form(const char *merchant_id, const char *user, const char *password,
                 const char *start_date, const char *start_time, const char *end_date,
                 const char *end_time)
{
    const char *names[] = {"merchantID", "username", "password", "startDate",
                           "startTime",  "endDate",  "endTime"};
    const char *values[] = {merchant_id, user,     password, start_date,
                            start_time,  end_date, end_time};
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    for (size_t i = 0; out && i < sizeof names / sizeof names[0]; i++) {
        char *v = curl_easy_escape(c, values[i] ? values[i] : "", 0);
        if (!v) {
            pl_card_wipe(out, cap);
            free(out);
            out = NULL;
            break;
        }
        size_t need = len + strlen(names[i]) + strlen(v) + 3;
        if (need > cap) {
            size_t ncap = need * 2;
            char *n = malloc(ncap);
            if (n) {
                memcpy(n, out, len);
            }
            pl_card_wipe(out, cap);
            free(out);
            out = n;
            cap = ncap;
        }
        if (out)
            len += (size_t)snprintf(out + len, cap - len, "%s%s=%s", i ? "&" : "", names[i], v);
        pl_card_wipe(v, strlen(v));
        curl_free(v);
    }
    curl_easy_cleanup(c);
    return out;
}

/* ---- the process -------------------------------------------------------------------------- */

typedef struct bureau {
    char code[9];
    char url[301];
    char user[61];
    char password_ref[201];
    char merchant_override[31];
    bool send_reversal;
    char fraud_cancel_reason[11];
} bureau;

/* The process's state (pl_dmupdate_new makes one for a test). */
struct pl_dmupdate {
    pl_config cfg;
    PGconn *db;
    pl_http *http;
    rd_kafka_t *producer;
    pl_metrics *metrics;
    pl_services *services;
    int companies[COMPANY_MAX]; /* the configured companies, each once */
    int ncompanies;
    char service[9]; /* --service, "" = every */
    /* pl_dmupdate_new's: the report URL of every bureau instead of dm_settings' ("": none). */
    char report_url[301];
    /* How far before the last window's end the next one starts (PAYLINK_DM_OVERLAP_S). */
    int64_t overlap;
    /* The report passwords last read, kept across a failed read of the same reference
     * (fetch_report); wiped by dm_close. */
    pl_dm_passwords passwords;
    pl_counter *m_accept, *m_reject, *m_ok, *m_failed, *m_unreadable;
};
typedef struct pl_dmupdate dm;

/* q with its n parameters p on db: the result, or NULL (logged) when it failed. */
static PGresult *query(PGconn *db, const char *q, int n, const char *const *p)
{
    PGresult *r = PQexecParams(db, q, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        PL_ERROR(NULL, "database: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static PGresult *sql(dm *d, const char *q, int n, const char *const *p)
{
    return query(d->db, q, n, p);
}

/* sql with $1 the company and $2 the bureau's code. */
static PGresult *sql_of(dm *d, int company, const bureau *b, const char *q)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, b->code};
    return sql(d, q, 2, p);
}

/* ---- the report call ---- */

typedef struct answer {
    bool done;
    pl_http_outcome outcome;
    long status;
    char *body;
    size_t len;
    char error[200];
    bool too_big;
} answer;

static void on_answer(void *arg, const pl_http_response *r)
{
    answer *a = arg;
    a->done = true;
    a->outcome = r->outcome;
    a->status = r->status;
    a->too_big = r->too_big;
    copy(a->error, sizeof a->error, r->error);
    if (r->outcome == PL_HTTP_OK && r->body) {
        a->body = malloc(r->body_len + 1);
        if (a->body) {
            memcpy(a->body, r->body, r->body_len);
            a->body[r->body_len] = '\0';
            a->len = r->body_len;
        }
    }
}

/* Asks the report of window w; 0 with *rep, else a negative pl_err with why (for the caller to
 * log). *asked says how it came out (pl_dm_limit_after). */
static int fetch_report(dm *d, const bureau *b, const char *merchant, const pl_dm_window *w,
                        pl_dm_report *rep, char *why, size_t whysize, pl_dm_asked *asked)
{
    *asked = PL_DM_ASKED_FAILED;
    char password[256];
    char err[256];
    if (pl_dm_password_read(&d->passwords, b->code, b->password_ref, password, sizeof password, err,
                            sizeof err) != 0) {
        snprintf(why, whysize, "the report password cannot be read: %s", err);
        return PL_ERR_CONFIG;
    }
    char *form = pl_dm_form(merchant, b->user, password, w->start_date, w->start_time, w->end_date,
                            w->end_time);
    pl_card_wipe(password, sizeof password);
    if (!form) {
        snprintf(why, whysize, "out of memory");
        return PL_ERR_NOMEM;
    }
    size_t flen = strlen(form);
    answer a = {0};
    pl_http_call c = {.url = b->url,
                      .body = form,
                      .body_len = flen,
                      .content_type = "application/x-www-form-urlencoded",
                      .proxy = d->cfg.proxy,
                      .timeout_ms = REPORT_TIMEOUT_MS,
                      .connect_attempts = 3};
    int rc = pl_http_submit(d->http, &c, on_answer, &a);
    while (rc == 0 && !a.done)
        if (pl_http_wait(d->http, NULL, 0, 200) != 0)
            PL_WARN(NULL, "http wait failed");
    pl_card_wipe(form, flen);
    free(form);
    if (rc != 0) {
        snprintf(why, whysize, "the report request could not be started");
        return PL_ERR_HTTP;
    }
    if (a.outcome != PL_HTTP_OK) {
        if (a.outcome == PL_HTTP_TIMEOUT)
            *asked = PL_DM_ASKED_TIMED_OUT;
        else if (a.too_big) /* cut off at the body limit: too big, not a broken connection */
            *asked = PL_DM_ASKED_TOO_BIG;
        snprintf(why, whysize, "no report: %s (%s)", pl_http_outcome_name(a.outcome), a.error);
        free(a.body);
        return PL_ERR_HTTP;
    }
    if (a.status != 200 || !a.body) {
        snprintf(why, whysize, "the report service answered HTTP %ld", a.status);
        free(a.body);
        return PL_ERR_HTTP;
    }
    rc = pl_dm_report_parse(a.body, a.len, rep, err, sizeof err);
    free(a.body);
    if (rc == 0)
        *asked = PL_DM_ASKED_READ;
    else if (rc == PL_ERR_AUTH && pl_dmupdate_refusal(err) == PL_DM_REFUSED_TOO_LARGE)
        *asked = PL_DM_ASKED_TOO_BIG; /* said too large: narrowed as one over the body limit */
    if (rc != 0)
        snprintf(why, whysize, "%s: %s",
                 rc == PL_ERR_AUTH ? "the report service refused the request"
                                   : "the report could not be read",
                 err);
    return rc;
}

/* ---- one company and bureau ---- */

/* How long a window is asked for again while conversions in it are deferred (dm_recheck). */
#define RECHECK_MAX_S (3 * 86400)

/* What record_conversion made of a conversion. */
enum { CONV_SKIPPED = 0, CONV_RECORDED = 1, CONV_DEFERRED = 2 };

/*
 * CONV_DEFERRED when the conversion names (by its merchant reference, paylink's request_id) an
 * authorization of company on b whose outcome paylink does not know yet — received, sent or
 * unknown: the resolver or an operator settles it later, with the transaction id the conversion
 * is matched by; CONV_SKIPPED otherwise; negative on a database error.
 */
static int outcome_pending(dm *d, int company, const bureau *b, const pl_dm_conversion *cv)
{
    if (!cv->merchant_reference[0])
        return CONV_SKIPPED;
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {cv->merchant_reference, co, b->code};
    PGresult *r = sql(d,
                      "SELECT status FROM cc_auth_trans WHERE request_id = $1 "
                      "AND company = $2::int AND service_bureau = $3 "
                      "AND status IN ('received', 'sent', 'unknown')",
                      3, p);
    if (!r)
        return PL_ERR_DB;
    int pending = PQntuples(r) == 1;
    PQclear(r);
    if (!pending)
        return CONV_SKIPPED;
    PL_WARN(cv->merchant_reference,
            "Decision Manager conversion of %s (%s -> %s) deferred: the outcome of its "
            "authorization is not known yet; its window is asked for again",
            cv->request_id, cv->original_decision, cv->new_decision);
    return CONV_DEFERRED;
}

/*
 * The newest decision recorded for transaction_id of company whose ConversionDate is later than
 * date: its id, date and new decision into id, newer_date and decision ("" when there is none).
 * 0, or PL_ERR_DB (logged). Later by the text, as paylink-deposit orders the decisions when it
 * reads the latest (deposit.c: ORDER BY conversion_date DESC, id DESC): dm_report.c writes every
 * ConversionDate in one form, "YYYY-MM-DD HH:MM:SS" GMT, whose text sorts as its time does.
 */
static int newer_decision(dm *d, const char *co, const char *transaction_id, const char *date,
                          char id[24], char newer_date[33], char decision[11])
{
    id[0] = newer_date[0] = decision[0] = '\0';
    const char *p[] = {co, transaction_id, date};
    PGresult *r = sql(d,
                      "SELECT id::text, conversion_date, new_decision FROM dm_decision "
                      "WHERE company = $1::int AND transaction_id = $2 AND conversion_date > $3 "
                      "ORDER BY conversion_date DESC, id DESC LIMIT 1",
                      3, p);
    if (!r)
        return PL_ERR_DB;
    if (PQntuples(r) == 1) {
        copy(id, 24, PQgetvalue(r, 0, 0));
        copy(newer_date, 33, PQgetvalue(r, 0, 1));
        copy(decision, 11, PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return 0;
}

/*
 * Records a conversion (once) with the event it calls for; returns CONV_RECORDED when recorded
 * now, CONV_SKIPPED when skipped or already there, CONV_DEFERRED (outcome_pending), negative on
 * a database error. A conversion older than a decision recorded already for its authorization
 * (newer_decision) is recorded with superseded_by and published_at set (072) and returns
 * CONV_SKIPPED: it is not acted on.
 */
static int record_conversion(dm *d, int company, const bureau *b, const pl_dm_conversion *cv)
{
    if (!cv->request_id[0])
        return 0;
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, b->code, cv->request_id};
    PGresult *r =
        sql(d,
            "SELECT h.request_id, h.order_number, h.pay_seq::text, "
            "coalesce(h.amount_authorized, 0)::text, coalesce(h.currency, ''), "
            "EXISTS (SELECT 1 FROM cc_deposit_trans x WHERE x.company = h.company "
            "AND x.order_number = h.order_number AND x.request_type = 'debit' "
            "AND x.status IN ('approved', 'received', 'sent', 'unknown')) "
            "OR EXISTS (SELECT 1 FROM svc_trans s "
            "WHERE s.company = h.company AND s.order_number = h.order_number "
            "AND s.request_type = 'deposit' AND s.status IN ('approved', 'received', 'sent', "
            "'unknown')), "
            "EXISTS (SELECT 1 FROM cc_auth_trans t WHERE t.request_id = h.request_id "
            "AND t.status = 'review') "
            "FROM auth_history h WHERE h.company = $1::int AND h.service_bureau = $2 "
            "AND h.transaction_id = $3 AND h.transaction_type <> 'auth_capture' "
            "ORDER BY h.id DESC LIMIT 1",
            3, p);
    if (!r)
        return PL_ERR_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        /* An authorization whose outcome is not known yet has no transaction id to match:
         * deferred (its window asked again) rather than lost. Else another company's order, or
         * an authorization paylink does not hold. */
        return outcome_pending(d, company, b, cv);
    }
    char auth_id[51], order[21], pay_seq[16], amount[24], currency[4];
    copy(auth_id, sizeof auth_id, PQgetvalue(r, 0, 0));
    copy(order, sizeof order, PQgetvalue(r, 0, 1));
    copy(pay_seq, sizeof pay_seq, PQgetvalue(r, 0, 2));
    copy(amount, sizeof amount, PQgetvalue(r, 0, 3));
    copy(currency, sizeof currency, PQgetvalue(r, 0, 4));
    /* Part of the order deposited, or going out: a debit (or stored value deposit) approved, or
     * still at the bureau — its capture may yet succeed, and a reversal would be refused while
     * it claims the authorization. */
    bool deposited = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
    bool reviewed = strcmp(PQgetvalue(r, 0, 6), "t") == 0;
    PQclear(r);
    if (!reviewed) {
        /* seed: the update is for "orders that were marked as review"; Decision Manager also
         * converts cases of orders it accepted (monitoring), which paylink answered otherwise
         * and the order system never held. */
        PL_WARN(auth_id,
                "Decision Manager conversion of %s (%s -> %s) skipped: paylink did not answer "
                "its authorization review",
                cv->request_id, cv->original_decision, cv->new_decision);
        return 0;
    }

    pl_dm_action a =
        pl_dm_decide(cv->new_decision, deposited, b->fraud_cancel_reason, b->send_reversal);
    if (!a.action)
        return 0; /* still under review: the FS hold stays */
    /*
     * A conversion shows in the report some time after its ConversionDate, and the windows
     * overlap (PAYLINK_DM_OVERLAP_S), so an older decision of the order can be read after a newer
     * one was recorded — and published: acted on, its cancel_order (and reversal) went out after
     * the newer ACCEPT's release_hold, and deposits took the order as rejected. The newer one
     * stands: this one is recorded for the audit only, with nothing to publish (no event, no
     * .dmrev), marked published so that no run (an older release's neither) publishes it.
     */
    char newer_id[24], newer_date[33], newer_new[11];
    int nrc =
        newer_decision(d, co, cv->request_id, cv->conversion_date, newer_id, newer_date, newer_new);
    if (nrc != 0)
        return nrc;
    bool superseded = newer_id[0] != '\0';
    if (superseded)
        a.reverse = false;
    char msgs[MAX_MESSAGES][513];
    size_t n = pl_dm_messages(cv, msgs, MAX_MESSAGES);
    char rev_id[64] = "";
    char *rev = NULL;
    if (a.reverse) {
        pl_job_derived_request_id(auth_id, "dmrev", rev_id, sizeof rev_id);
        /* The one builder of paylink's reversal requests (reversal_own.h). */
        const pl_reversal_of of = {.auth_request_id = auth_id};
        const pl_reversal_message m = {.request_id = rev_id,
                                       .company = company,
                                       .order = order,
                                       .pay_seq = atoi(pay_seq),
                                       .service = b->code,
                                       .amount = amount,
                                       .currency = currency,
                                       .of = &of};
        if (!(rev = pl_reversal_request_json(&m)))
            return PL_ERR_NOMEM;
    }
    json_object *ev =
        pl_dm_event(company, order, cv->request_id, cv->original_decision, cv->new_decision, &a,
                    (const char(*)[513])msgs, n, a.reverse ? rev_id : NULL);
    if (!ev) {
        free(rev);
        return PL_ERR_NOMEM;
    }
    /* text[] literal of the messages, built by the database from a JSON array. */
    json_object *arr = NULL;
    json_object_object_get_ex(ev, "messages", &arr);
    const char *q[] = {co,
                       b->code,
                       cv->request_id,
                       cv->conversion_date,
                       cv->merchant_reference,
                       cv->original_decision,
                       cv->new_decision,
                       cv->reviewer,
                       json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN),
                       auth_id,
                       order,
                       pay_seq,
                       a.action,
                       a.cancel_reason,
                       a.reverse ? rev_id : NULL,
                       rev,
                       json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN),
                       superseded ? newer_id : NULL};
    r = sql(d,
            "INSERT INTO dm_decision (company, service_bureau, transaction_id, conversion_date, "
            "merchant_reference, original_decision, new_decision, reviewer, messages, "
            "auth_request_id, order_number, pay_seq, action, cancel_reason, reversal_request_id, "
            "reversal_request, event, superseded_by, published_at) VALUES ($1::int, $2, $3, $4, "
            "$5, $6, $7, $8, ARRAY(SELECT jsonb_array_elements_text($9::jsonb)), $10, $11, "
            "$12::int, $13, $14, $15, $16::jsonb, $17::jsonb, $18::bigint, "
            "CASE WHEN $18::bigint IS NULL THEN NULL ELSE now() END) "
            "ON CONFLICT (company, transaction_id, conversion_date, new_decision) DO NOTHING "
            "RETURNING id",
            18, q);
    json_object_put(ev);
    free(rev);
    if (!r)
        return PL_ERR_DB;
    int added = PQntuples(r);
    PQclear(r);
    if (added && cv->original_replaced)
        PL_WARN(auth_id,
                "company %d order %s: Decision Manager conversion of %s: OriginalDecision %s%s%s; "
                "REVIEW recorded and published in its place (a conversion decides on a review; "
                "the event allows ACCEPT, REVIEW, REJECT or ERROR only)",
                company, order, cv->request_id, cv->original_given[0] ? "'" : "",
                cv->original_given[0] ? cv->original_given : "absent or empty",
                cv->original_given[0] ? "' is not one of the four" : "");
    if (added && superseded)
        PL_WARN(auth_id,
                "company %d order %s: Decision Manager conversion of %s dated %s (%s) is older "
                "than the decision dated %s (%s) recorded for it already (dm_decision %s): "
                "recorded, not acted on (no event, no reversal); the newer decision stands",
                company, order, cv->request_id, cv->conversion_date, cv->new_decision, newer_date,
                newer_new, newer_id);
    else if (added)
        PL_INFO(NULL, "company %d order %s: Decision Manager %s → %s%s%s", company, order,
                cv->new_decision, a.action, a.reverse ? ", reversal " : "", rev_id);
    return superseded ? CONV_SKIPPED : added;
}

static int produce(rd_kafka_t *producer, const char *topic_prefix, const char *topic_suffix,
                   const char *key, const char *payload, pl_kafka_delivery *dl)
{
    char topic[200];
    snprintf(topic, sizeof topic, "%s.%s", topic_prefix, topic_suffix);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(dl), RD_KAFKA_V_END);
    if (err) {
        PL_ERROR(NULL, "publishing to %s failed: %s", topic, rd_kafka_err2str(err));
        return PL_ERR_KAFKA;
    }
    return 0;
}

/*
 * The bigint[] parameter of the ids of r (column 0, the database's own id::text) whose
 * deliveries dl[2i] and dl[2i + 1] were both acknowledged: a malloc'd "{1,2,3}" sized to fit
 * them all, with *marked how many it names; NULL when out of memory.
 */
static char *acknowledged_ids(const PGresult *r, const pl_kafka_delivery *dl, int *marked)
{
    int n = PQntuples(r);
    size_t size = 3; /* "{", "}", NUL */
    for (int i = 0; i < n; i++)
        size += (size_t)PQgetlength(r, i, 0) + 1;
    char *ids = malloc(size);
    if (!ids)
        return NULL;
    size_t len = 0;
    ids[len++] = '{';
    *marked = 0;
    for (int i = 0; i < n; i++) {
        bool ok = dl[2 * i].done && !dl[2 * i].err && dl[2 * i + 1].done && !dl[2 * i + 1].err;
        if (!ok)
            continue;
        if (*marked > 0)
            ids[len++] = ',';
        size_t l = (size_t)PQgetlength(r, i, 0);
        memcpy(ids + len, PQgetvalue(r, i, 0), l);
        len += l;
        (*marked)++;
    }
    ids[len++] = '}';
    ids[len] = '\0';
    return ids;
}

/* One batch of pl_dmupdate_publish: the decisions after the id after_id (then the last one
 * read); how many were read (*read) and marked (returned), or a negative pl_err. */
static int publish_batch(PGconn *db, rd_kafka_t *producer, const char *topic_prefix, int company,
                         const char *bureau, char *after_id, size_t after_size, int *read)
{
    char co[16], lim[16];
    snprintf(co, sizeof co, "%d", company);
    snprintf(lim, sizeof lim, "%d", PL_DMUPDATE_PUBLISH_BATCH);
    /* In the order the decisions were recorded: by the column, not by the text of the first
     * output column, which ORDER BY id would name ("10" before "9": a later decision of an
     * order published before an earlier one, and the batches' cursor skipping rows). */
    const char *p[] = {co, bureau, after_id, lim};
    PGresult *r = query(db,
                        "SELECT id::text, order_number, event::text, reversal_request::text "
                        "FROM dm_decision WHERE company = $1::int AND service_bureau = $2 "
                        "AND published_at IS NULL AND id > $3::bigint "
                        "ORDER BY dm_decision.id LIMIT $4::int",
                        4, p);
    *read = 0;
    if (!r)
        return PL_ERR_DB;
    int n = PQntuples(r), rc = 0;
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    pl_kafka_delivery *dl = calloc((size_t)n * 2, sizeof *dl);
    if (!dl) {
        PQclear(r);
        return PL_ERR_NOMEM;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        char key[64];
        snprintf(key, sizeof key, "%d-%s", company, PQgetvalue(r, i, 1));
        /* The reversal first: an order system that acts on the event finds it requested. */
        if (!PQgetisnull(r, i, 3))
            rc = produce(producer, topic_prefix, "reversal.request", key, PQgetvalue(r, i, 3),
                         &dl[2 * i + 1]);
        else
            dl[2 * i + 1].done = true;
        if (rc == 0)
            rc = produce(producer, topic_prefix, "dm.decision", key, PQgetvalue(r, i, 2),
                         &dl[2 * i]);
    }
    /* dl must outlive every report that writes into it (a broker away longer than any fixed
     * wait would have them written into freed memory); stopping, the rest is purged. */
    pl_kafka_wait_deliveries(producer, &g_stop);
    int marked = 0;
    char *ids = acknowledged_ids(r, dl, &marked);
    if (marked < n && rc == 0)
        rc = PL_ERR_KAFKA;
    *read = n;
    copy(after_id, after_size, PQgetvalue(r, n - 1, 0));
    free(dl);
    PQclear(r);
    if (!ids)
        return PL_ERR_NOMEM;
    if (marked > 0) {
        /* Every acknowledged row, however many: left unmarked, a row is published again by
         * the next call — a second cancel_order or release_hold for the order system. A row
         * another run marked meanwhile keeps its first time. */
        const char *q[] = {ids};
        PGresult *u = query(db,
                            "UPDATE dm_decision SET published_at = now() "
                            "WHERE id = ANY($1::bigint[]) AND published_at IS NULL",
                            1, q);
        free(ids);
        if (!u) {
            PL_ERROR(NULL,
                     "company %d, %s: %d decision event(s) published but not marked published; "
                     "the next run publishes them again",
                     company, bureau, marked);
            return PL_ERR_DB;
        }
        PQclear(u);
    } else {
        free(ids);
    }
    return rc < 0 ? rc : marked;
}

int pl_dmupdate_publish(PGconn *db, rd_kafka_t **producer, const pl_config *cfg, int company,
                        const char *bureau)
{
    char after[24] = "0";
    int total = 0, read = 0, rc;
    do {
        /* After a fatal error (the idempotent producer's sequence broken) every produce fails at
         * once, for good: without a new producer no decision would be published again — a REJECT's
         * reversal never requested, an ACCEPT's hold never released — while the process looks
         * healthy. Each earlier message had its report (publish_batch waits for them all). */
        char err[512];
        if (pl_kafka_producer_renew_if_fatal(producer, cfg, rd_kafka_opaque(*producer),
                                             pl_kafka_on_delivery, 0, err, sizeof err) != 0) {
            PL_ERROR(NULL, "company %d, %s: %s", company, bureau, err);
            rc = PL_ERR_KAFKA;
            break;
        }
        rc = publish_batch(db, *producer, cfg->topic_prefix, company, bureau, after, sizeof after,
                           &read);
        if (rc > 0)
            total += rc;
        /* (Stopping, the next batch's messages are purged unacknowledged: PL_ERR_KAFKA.) */
    } while (rc >= 0 && read == PL_DMUPDATE_PUBLISH_BATCH);
    if (rc == PL_ERR_KAFKA)
        PL_ERROR(NULL,
                 "company %d, %s: decision events not acknowledged by Kafka; the next run "
                 "publishes them again",
                 company, bureau);
    return rc < 0 ? rc : total;
}

/* Publishes every decision of (company, bureau) not published yet; 0 when all were
 * acknowledged and marked published. */
static int publish_pending(dm *d, int company, const bureau *b)
{
    int rc = pl_dmupdate_publish(d->db, &d->producer, &d->cfg, company, b->code);
    return rc < 0 ? rc : 0;
}

static int64_t last_end(dm *d, int company, const bureau *b)
{
    PGresult *r = sql_of(d, company, b,
                         "SELECT coalesce(extract(epoch FROM max(window_end))::bigint, -1)::text "
                         "FROM dm_run WHERE company = $1::int AND service_bureau = $2");
    if (!r)
        return -2;
    int64_t v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int pl_dmupdate_limit_start(PGconn *db, int company, const char *bureau, pl_dm_limit *out)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, bureau};
    PGresult *r = query(db,
                        "SELECT extract(epoch FROM window_start)::bigint::text, "
                        "extract(epoch FROM window_end)::bigint::text, "
                        "extract(epoch FROM started_at)::bigint::text FROM dm_run "
                        "WHERE company = $1::int AND service_bureau = $2 "
                        "ORDER BY window_end DESC, id DESC LIMIT 1",
                        2, p);
    if (!r)
        return PL_ERR_DB;
    if (PQntuples(r) == 1)
        *out = pl_dm_limit_start(strtoll(PQgetvalue(r, 0, 0), NULL, 10),
                                 strtoll(PQgetvalue(r, 0, 1), NULL, 10),
                                 strtoll(PQgetvalue(r, 0, 2), NULL, 10));
    else
        *out = pl_dm_limit_start(-1, -1, 0);
    PQclear(r);
    return 0;
}

static void set_last_success(dm *d, int company, const bureau *b, int64_t end)
{
    char labels[64];
    snprintf(labels, sizeof labels, "company=%d,service=%s", company, b->code);
    pl_gauge *g = pl_metrics_gauge(d->metrics, "paylink_dm_last_success_timestamp_seconds",
                                   "End of the last successful Decision Manager update window "
                                   "(Unix time), per company and service bureau.",
                                   labels);
    if (g)
        pl_gauge_set(g, (double)end);
}

/*
 * Takes (lock true) or gives back the session's advisory lock of (company, bureau), so two runs
 * (a cron --once beside the periodic process, two replicas) never update the same company and
 * bureau at once: the second skips it. Returns 1 taken, 0 held by another run, < 0 error.
 */
static int run_lock(dm *d, int company, const bureau *b, bool lock)
{
    PGresult *r = sql_of(d, company, b,
                         lock ? "SELECT pg_try_advisory_lock($1::int, hashtext('dmupdate:' || $2))"
                              : "SELECT pg_advisory_unlock($1::int, hashtext('dmupdate:' || $2))");
    if (!r)
        return PL_ERR_DB;
    int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return got;
}

static int update_windows(dm *d, int company, const bureau *b);

/* One company and bureau, under its lock. Returns 0 when it succeeded or another run has it. */
static int update(dm *d, int company, const bureau *b)
{
    int got = run_lock(d, company, b, true);
    if (got <= 0) {
        if (got == 0)
            PL_INFO(NULL, "company %d, %s: another run is updating it; skipped", company, b->code);
        return got;
    }
    int rc = update_windows(d, company, b);
    if (run_lock(d, company, b, false) < 0 && rc == 0)
        rc = PL_ERR_DB;
    return rc;
}

/* Logs the failed report call of window w (why) as one the next run asks for again. */
static void report_failed(int company, const bureau *b, const pl_dm_window *w, const char *why)
{
    PL_ERROR(NULL, "company %d, %s: %s; the window %s %s to %s %s is asked again next run", company,
             b->code, why, w->start_date, w->start_time, w->end_date, w->end_time);
}

/* The merchant IDs whose reports one company and bureau asks for (merchants_of). */
typedef struct merchants {
    char (*id)[31];
    int n;
} merchants;

static void merchants_free(merchants *m)
{
    free(m->id);
    m->id = NULL;
    m->n = 0;
}

/* Adds id to m unless it is empty or there already. 0, or PL_ERR_NOMEM. */
static int merchants_add(merchants *m, const char *id)
{
    if (!id || !*id)
        return 0;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->id[i], id) == 0)
            return 0;
    char(*grown)[31] = realloc(m->id, (size_t)(m->n + 1) * sizeof *m->id);
    if (!grown)
        return PL_ERR_NOMEM;
    m->id = grown;
    copy(m->id[m->n++], sizeof m->id[0], id);
    return 0;
}

/*
 * The merchant IDs of company on b: the bureau's Decision Manager merchant ID override alone
 * when it has one (the seed); else the seed's hierarchy's (pay type cross reference, merchant ID
 * override, the bureau's: for a company without a pay type or entity, the bureau's) and every
 * merchant ID the company's reviews were sent under (dm_review_merchant, 045): a report covers
 * one merchant, and a review held under its pay type's or entity's merchant ID is in no other.
 */
static int merchants_of(dm *d, int company, const bureau *b, merchants *out)
{
    memset(out, 0, sizeof *out);
    if (b->merchant_override[0])
        return merchants_add(out, b->merchant_override);
    const pl_service *svc = pl_services_find(d->services, b->code);
    int rc = merchants_add(out, svc ? pl_services_merchant_id(d->services, svc, company, NULL, NULL)
                                    : "");
    PGresult *r = rc == 0 ? sql_of(d, company, b,
                                   "SELECT merchant_id FROM dm_review_merchant "
                                   "WHERE company = $1::int AND service_bureau = $2 "
                                   "ORDER BY merchant_id")
                          : NULL;
    if (rc == 0 && !r)
        rc = PL_ERR_DB;
    for (int i = 0; r && rc == 0 && i < PQntuples(r); i++)
        rc = merchants_add(out, PQgetvalue(r, i, 0));
    PQclear(r);
    if (rc == 0 && out->n == 0) {
        PL_ERROR(NULL, "company %d, %s: no merchant ID to ask the report of", company, b->code);
        rc = PL_ERR_INVALID;
    }
    if (rc != 0)
        merchants_free(out);
    return rc;
}

int pl_dmupdate_new_merchants(PGconn *db, int company, const char *bureau, const char (*known)[31],
                              int n, char (*ids)[31], int64_t *first, int max)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, bureau};
    PGresult *r = query(db,
                        "SELECT merchant_id, extract(epoch FROM first_review_at)::bigint "
                        "FROM dm_review_merchant WHERE company = $1::int "
                        "AND service_bureau = $2 ORDER BY first_review_at, merchant_id",
                        2, p);
    if (!r)
        return PL_ERR_DB;
    int found = 0;
    for (int i = 0; i < PQntuples(r) && found < max; i++) {
        const char *id = PQgetvalue(r, i, 0);
        bool seen = false;
        for (int k = 0; k < n && !seen; k++)
            seen = strcmp(known[k], id) == 0;
        if (seen)
            continue;
        copy(ids[found], sizeof ids[0], id);
        first[found++] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    return found;
}

/*
 * Asks for the report of window w of each merchant of ms and records each conversion
 * (counts[CONV_*], *total of them), then publishes what is pending — also when a report could
 * not be had: decisions recorded by earlier runs (whose events Kafka did not acknowledge then)
 * do not wait for the report service. 0 when all of it succeeded; a report that failed fails
 * the window for all of them (re-recording a conversion changes nothing). A failed report call
 * is not logged here: *asked says how it came out and why[] what happened, for the caller to
 * log.
 */
static int process_window(dm *d, int company, const bureau *b, const merchants *ms,
                          const pl_dm_window *w, int counts[3], size_t *total, pl_dm_asked *asked,
                          char *why, size_t whysize)
{
    why[0] = '\0';
    *total = 0;
    int rc = 0;
    for (int k = 0; k < ms->n && rc >= 0; k++) {
        const char *merchant = ms->id[k];
        pl_dm_report rep;
        memset(&rep, 0, sizeof rep);
        PL_INFO(NULL,
                "company %d, %s: Conversion Detail Report for merchant %s, %s %s to %s %s GMT",
                company, b->code, merchant, w->start_date, w->start_time, w->end_date, w->end_time);
        rc = fetch_report(d, b, merchant, w, &rep, why, whysize, asked);
        if (rc == PL_ERR_AUTH && k > 0 && pl_dmupdate_unknown_merchant(why)) {
            /* The service refuses the report of a merchant ID a review was sent under (retired,
             * or not the report user's): its decisions are not had, loudly, each run, but the
             * others' still are (the first, the hierarchy's, fails the window as before). */
            PL_ERROR(NULL,
                     "company %d, %s: %s; merchant %s skipped in the window %s %s to %s %s: its "
                     "decisions are not applied (a merchant ID no longer used: delete it from "
                     "dm_review_merchant)",
                     company, b->code, why, merchant, w->start_date, w->start_time, w->end_date,
                     w->end_time);
            why[0] = '\0';
            *asked = PL_DM_ASKED_READ;
            rc = 0;
            continue;
        }
        if (rc != 0) {
            /* The run fails all the same; publish_pending logs its own failure. */
            if (publish_pending(d, company, b) != 0)
                PL_WARN(NULL,
                        "company %d, %s: the decisions recorded earlier are not all published",
                        company, b->code);
            return rc;
        }
        /*
         * A conversion the report holds but that cannot be read (a RequestID or decision
         * malformed: dm_report.h) is skipped and the rest applied: refusing the report for it
         * refused it again at every run, the company's window never moved on and every later
         * decision was held back. Its decision is the operator's now, as said.
         */
        for (size_t i = 0; i < rep.nunreadable; i++) {
            const pl_dm_unreadable *u = &rep.unreadable[i];
            PL_ERROR(u->merchant_reference[0] ? u->merchant_reference : NULL,
                     "company %d, %s: conversion %zu of the Conversion Detail Report for merchant "
                     "%s, %s %s to %s %s GMT, cannot be read (%s; RequestID %s, merchant "
                     "reference %s): skipped, the rest of the report applied; an operator "
                     "applies its decision (Decision Manager's case management)",
                     company, b->code, u->index, merchant, w->start_date, w->start_time,
                     w->end_date, w->end_time, u->why, u->request_id[0] ? u->request_id : "unread",
                     u->merchant_reference[0] ? u->merchant_reference : "unread");
            counts[CONV_SKIPPED]++;
        }
        pl_counter_add(d->m_unreadable, (uint64_t)rep.nunreadable);
        for (size_t i = 0; i < rep.nconversions && rc >= 0; i++) {
            rc = record_conversion(d, company, b, &rep.conversions[i]);
            if (rc >= 0)
                counts[rc]++;
            if (rc == CONV_RECORDED)
                pl_counter_add(strcmp(rep.conversions[i].new_decision, "ACCEPT") == 0 ? d->m_accept
                                                                                      : d->m_reject,
                               1);
        }
        *total += rep.nconversions + rep.nunreadable;
        pl_dm_report_free(&rep);
    }
    /* What was recorded before a database error goes out too. */
    int prc = publish_pending(d, company, b);
    return rc < 0 ? rc : prc;
}

/* Notes window w of company on b, in which counts[CONV_DEFERRED] conversions were deferred, to
 * be asked for again (dm_recheck; the first noting's time kept). counts NULL: a window owed to
 * a merchant ID whose report of it was not had (ask_new_merchants), noted as 047 notes one
 * (deferred 1, "asked again"); a row there already keeps its count and checked_at. */
static int recheck_add(dm *d, int company, const bureau *b, const pl_dm_window *w,
                       const int counts[3])
{
    char co[16], ws[24], we[24], n[16];
    snprintf(co, sizeof co, "%d", company);
    snprintf(ws, sizeof ws, "%lld", (long long)w->start);
    snprintf(we, sizeof we, "%lld", (long long)w->end);
    snprintf(n, sizeof n, "%d", counts ? counts[CONV_DEFERRED] : 1);
    const char *p[] = {co, b->code, ws, we, n};
    PGresult *r =
        sql(d,
            counts ? "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, "
                     "deferred) VALUES ($1::int, $2, to_timestamp($3::bigint), "
                     "to_timestamp($4::bigint), $5::int) ON CONFLICT (company, service_bureau, "
                     "window_start) DO UPDATE SET deferred = excluded.deferred, checked_at = "
                     "now(), window_end = greatest(dm_recheck.window_end, excluded.window_end)"
                   : "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, "
                     "deferred) VALUES ($1::int, $2, to_timestamp($3::bigint), "
                     "to_timestamp($4::bigint), $5::int) ON CONFLICT (company, service_bureau, "
                     "window_start) DO UPDATE SET "
                     "window_end = greatest(dm_recheck.window_end, excluded.window_end)",
            5, p);
    if (!r)
        return PL_ERR_DB;
    PQclear(r);
    return 0;
}

/* The most windows recheck_split puts in the place of one (24 hours from 5 minutes, doubling,
 * takes 9). */
#define MAX_SPLIT 16

/*
 * Splits the dm_recheck window of company on b stored as starting at row_start (start, in whole
 * seconds) and ending at end, whose report w (its first up to 24 hours) came out as asked (TOO_BIG:
 * too big or said too large; TIMED_OUT), in its place: into the windows the first pass would ask
 * from start after that failure — the first as long as pl_dm_limit_after makes the limit, each next
 * one as long as a read makes it (twice, at most half of w: halves for a window too big) — each
 * keeping the window's created_at and deferred count, in one statement (the first row keeps its
 * start). Returns 1 when split, 0 when w is too short to be split (PL_DM_WINDOW_MIN_SECONDS) or the
 * row is gone, PL_ERR_DB.
 */
static int recheck_split(dm *d, int company, const bureau *b, const char *row_start, int64_t start,
                         int64_t end, const pl_dm_window *w, pl_dm_asked asked)
{
    pl_dm_limit l = {.limit = w->end - w->start, .ceiling = 0};
    if (!pl_dm_limit_after(&l, w, asked))
        return 0;
    int64_t piece_start[MAX_SPLIT], piece_end[MAX_SPLIT];
    int n = 0;
    for (int64_t pos = start; pos < end;) {
        pl_dm_window p;
        bool done = false;
        pl_dm_window_next_within(pos, end, l.limit, &p, &done);
        if (n == MAX_SPLIT - 1 || done)
            p.end = end; /* the rest in the last one */
        piece_start[n] = p.start;
        piece_end[n++] = p.end;
        (void)pl_dm_limit_after(&l, &p, PL_DM_ASKED_READ);
        pos = p.end;
    }
    if (n < 2)
        return 0;
    /* bigint[] literals of the pieces after the first. */
    char starts[MAX_SPLIT * 24 + 3], ends[MAX_SPLIT * 24 + 3];
    size_t ls = 0, le = 0;
    starts[ls++] = ends[le++] = '{';
    for (int i = 1; i < n; i++) {
        ls += (size_t)snprintf(starts + ls, sizeof starts - ls, "%s%lld", i > 1 ? "," : "",
                               (long long)piece_start[i]);
        le += (size_t)snprintf(ends + le, sizeof ends - le, "%s%lld", i > 1 ? "," : "",
                               (long long)piece_end[i]);
    }
    snprintf(starts + ls, sizeof starts - ls, "}");
    snprintf(ends + le, sizeof ends - le, "}");
    char co[16], fe[24];
    snprintf(co, sizeof co, "%d", company);
    snprintf(fe, sizeof fe, "%lld", (long long)piece_end[0]);
    const char *q[] = {co, b->code, row_start, fe, starts, ends};
    /* One statement: a split half done would lose the rest of the window. A piece whose start
     * another row has already keeps the earlier created_at and the later end of both. */
    PGresult *r =
        sql(d,
            "WITH first AS (UPDATE dm_recheck SET window_end = to_timestamp($4::bigint), "
            "checked_at = now() WHERE company = $1::int AND service_bureau = $2 "
            "AND window_start = $3::timestamptz RETURNING created_at, deferred) "
            "INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred, "
            "created_at, checked_at) SELECT $1::int, $2, to_timestamp(p.s), to_timestamp(p.e), "
            "first.deferred, first.created_at, now() FROM first, "
            "unnest($5::bigint[], $6::bigint[]) AS p(s, e) "
            "ON CONFLICT (company, service_bureau, window_start) DO UPDATE SET "
            "window_end = greatest(dm_recheck.window_end, excluded.window_end), "
            "created_at = least(dm_recheck.created_at, excluded.created_at) RETURNING 1",
            6, q);
    if (!r)
        return PL_ERR_DB;
    int split = PQntuples(r) > 0;
    PQclear(r);
    return split;
}

/* True when the failure of a recheck window (rc, how it was asked, why) is not the window's own
 * but the service's (refused for its own reason, unreachable, an HTTP error, hanging: a
 * timeout) or the database's: two in a row end a recheck pass. */
static bool service_failure(int rc, pl_dm_asked asked, const char *why)
{
    if (rc == 0 || asked == PL_DM_ASKED_TOO_BIG)
        return false;
    return !(rc == PL_ERR_AUTH && pl_dmupdate_refusal(why) == PL_DM_REFUSED_WINDOW);
}

/*
 * Asks again for every window of company on b noted in dm_recheck (deferred conversions, or
 * owed to a merchant ID: ask_new_merchants, 047), of every merchant of merchant: a window none
 * of whose conversions is deferred any more is done; one noted more than RECHECK_MAX_S ago is
 * given up, its conversions still deferred logged as errors for an operator. A window whose
 * report is too big, said too large or too slow is split in its place (recheck_split) and its
 * parts asked next, in this pass: asked again at its width, it failed the same way each run and
 * was given up after RECHECK_MAX_S, its REJECTs never applied. A window whose report cannot be
 * had stays for the next run (given up too once older than RECHECK_MAX_S) and the windows after
 * it are asked all the same: stopping at it, one window the report service always refuses
 * (older than it keeps reports) held every later one back for good. 0 when every window was
 * asked for, else the first failure's pl_err.
 */
static int rechecks(dm *d, int company, const bureau *b, const merchants *merchant)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    int rc = 0;
    /* Windows in a row whose report failed for a reason that is not the window's own
     * (service_failure): the service itself is away. Two such end the pass, the rest left for
     * the next run: each failing call costs up to its timeout (60 s) and connection attempts,
     * and a run asking every noted window of a dead or hanging service would outlast the
     * CronJob's deadline without asking anything else. A window the service refuses for a
     * reason of its own (too big, said too large, its dates) does not count: the service
     * answered, and the windows after it are asked. A timeout may be either: it counts, but its
     * window is split and the first, narrower part asked at once — read, the service is there
     * and the count starts again; timed out too, that is the second and the pass ends (a dead
     * service costs two timeouts, as before). */
    int service_failures = 0;
    /* The windows are read one at a time from the table, so that the parts of a window split
     * in this pass are asked in it: the next window is the first that starts at or after pos. */
    int64_t pos = 0;
    while (!g_stop && service_failures < 2) {
        char from[24];
        snprintf(from, sizeof from, "%lld", (long long)pos);
        const char *sp[] = {co, b->code, from};
        PGresult *r = sql(d,
                          "SELECT floor(extract(epoch FROM window_start))::bigint, "
                          "ceil(extract(epoch FROM window_end))::bigint, "
                          "extract(epoch FROM now() - created_at)::bigint, window_start::text "
                          "FROM dm_recheck "
                          "WHERE company = $1::int AND service_bureau = $2 "
                          "AND window_start >= to_timestamp($3::bigint) "
                          "ORDER BY window_start LIMIT 1",
                          3, sp);
        if (!r)
            return rc != 0 ? rc : PL_ERR_DB;
        if (PQntuples(r) == 0) {
            PQclear(r);
            break;
        }
        int64_t start = atoll(PQgetvalue(r, 0, 0)), end = atoll(PQgetvalue(r, 0, 1));
        long long age = atoll(PQgetvalue(r, 0, 2));
        /* Asked in whole seconds, the fraction of one included; the row is written back by its
         * start as stored: one noted with a fraction of a second (047's, from
         * first_review_at) would match no whole second, and be asked, and given up, again
         * every run. */
        char row_start[64];
        snprintf(row_start, sizeof row_start, "%s", PQgetvalue(r, 0, 3));
        PQclear(r);
        pos = start + 1;
        pl_dm_window w;
        pl_dm_window_next(start, end, &w, NULL);
        int counts[3] = {0, 0, 0};
        size_t total = 0;
        pl_dm_asked asked = PL_DM_ASKED_FAILED;
        char why[400];
        int wrc =
            process_window(d, company, b, merchant, &w, counts, &total, &asked, why, sizeof why);
        bool give_up;
        /* Said too large (not the body limit): counted only once it cannot be split further,
         * below; until then it neither counts nor clears the count. */
        bool said_too_large = wrc == PL_ERR_AUTH && asked == PL_DM_ASKED_TOO_BIG;
        if (service_failure(wrc, asked, why))
            service_failures++;
        else if (!said_too_large)
            service_failures = 0;
        if (wrc != 0) {
            give_up = age > RECHECK_MAX_S;
            /* Not a window that timed out second in a row: the service looks away, and its
             * parts would only time out in turn (and multiply, pass after pass). */
            if (!give_up && why[0] &&
                (asked == PL_DM_ASKED_TOO_BIG ||
                 (asked == PL_DM_ASKED_TIMED_OUT && service_failures < 2))) {
                int split = recheck_split(d, company, b, row_start, start, end, &w, asked);
                if (split > 0) {
                    PL_WARN(NULL,
                            "company %d, %s: %s; the window %s %s to %s %s GMT is split in "
                            "narrower windows, asked for now",
                            company, b->code, why, w.start_date, w.start_time, w.end_date,
                            w.end_time);
                    pos = start; /* its first part next */
                    continue;
                }
                if (split < 0 && rc == 0)
                    rc = split;
                /* Still "too large" at the narrowest width: not the window's size (a limit on
                 * how far back reports go, worded "exceeds the maximum …"), so it counts as the
                 * service's refusal. Else every noted window would be split to 5 minutes and
                 * each piece asked, hundreds of refused calls a window, every run. */
                if (split == 0 && said_too_large)
                    service_failures++;
            }
            if (rc == 0)
                rc = wrc;
            if (!give_up) {
                if (why[0])
                    report_failed(company, b, &w, why);
                continue;
            }
            PL_ERROR(NULL,
                     "company %d, %s: the window %s %s to %s %s GMT could not be asked for again "
                     "for %lld s (%s): no longer asked for; an operator applies the decisions "
                     "taken in it (Decision Manager's case management)",
                     company, b->code, w.start_date, w.start_time, w.end_date, w.end_time, age,
                     why[0] ? why : "a database error");
        } else {
            give_up = counts[CONV_DEFERRED] > 0 && age > RECHECK_MAX_S;
            if (give_up)
                PL_ERROR(NULL,
                         "company %d, %s: %d Decision Manager conversion(s) of %s %s to %s %s GMT "
                         "still name authorizations whose outcome is unknown after %lld s: no "
                         "longer asked for; an operator applies those decisions (see the deferred "
                         "lines above)",
                         company, b->code, counts[CONV_DEFERRED], w.start_date, w.start_time,
                         w.end_date, w.end_time, age);
            else
                PL_INFO(NULL,
                        "company %d, %s: window %s %s asked for again: %d applied, %d deferred",
                        company, b->code, w.start_date, w.start_time, counts[CONV_RECORDED],
                        counts[CONV_DEFERRED]);
        }
        char n[16];
        snprintf(n, sizeof n, "%d", counts[CONV_DEFERRED]);
        const char *q[] = {co, b->code, row_start, n};
        PGresult *u =
            counts[CONV_DEFERRED] == 0 || give_up
                ? sql(d,
                      "DELETE FROM dm_recheck WHERE company = $1::int AND service_bureau = $2 "
                      "AND window_start = $3::timestamptz",
                      3, q)
                : sql(d,
                      "UPDATE dm_recheck SET deferred = $4::int, checked_at = now() "
                      "WHERE company = $1::int AND service_bureau = $2 "
                      "AND window_start = $3::timestamptz",
                      4, q);
        if (!u && rc == 0)
            rc = PL_ERR_DB;
        PQclear(u);
    }
    return rc;
}

static int update_windows_of(dm *d, int company, const bureau *b, const merchants *ms);

/* Every window of one company and bureau up to now, of each of its merchant IDs. Returns 0 when
 * all succeeded. */
static int update_windows(dm *d, int company, const bureau *b)
{
    merchants ms;
    int rc = merchants_of(d, company, b, &ms);
    if (rc != 0)
        return rc;
    rc = update_windows_of(d, company, b, &ms);
    merchants_free(&ms);
    return rc;
}

static int update_windows_run(dm *d, int company, const bureau *b, const merchants *ms,
                              pl_dm_window *asked_windows, int *nasked);

/* How far before its first review a merchant ID first noted during a run is taken to go (the
 * review's time is the database's clock, the windows the worker's). */
#define NEW_MERCHANT_MARGIN_S 300
/* The most merchant IDs first noted during one run that it asks the reports of. */
#define MAX_NEW_MERCHANTS 64

/* True when window w may hold a decision of a merchant ID whose first review was noted at
 * first. */
static bool owes(const pl_dm_window *w, int64_t first)
{
    return w->end > first - NEW_MERCHANT_MARGIN_S;
}

/*
 * The reports of the merchant IDs first noted while this run asked its windows (their reviews
 * arrived meanwhile), for the windows it asked that end after those reviews: a reviewer's
 * decision taken in them would otherwise never be asked for, as the next run starts after
 * them. A merchant ID noted after this re-read has reviews only after every window asked.
 * What is not had — a report call that failed (the merchant IDs after it are not asked then),
 * a stop, the merchant IDs past MAX_NEW_MERCHANTS, the list unreadable — leaves each window
 * still owed in dm_recheck, which the next run asks of every merchant ID (asking a merchant
 * again changes nothing: dm_decision is unique per conversion). Before, that was only logged
 * as "asked again next run", and those windows never were: a REJECT never applied, an ACCEPT
 * never releasing its hold.
 */
static int ask_new_merchants(dm *d, int company, const bureau *b, const merchants *ms,
                             const pl_dm_window *asked_windows, int nasked)
{
    if (b->merchant_override[0] || nasked <= 0)
        return 0; /* the override is the one merchant asked */
    if (nasked > MAX_WINDOWS)
        nasked = MAX_WINDOWS;
    /* One more than are asked: the first review of the first one past the cap (they come in
     * that order) says which windows the ones cut owe. */
    char ids[MAX_NEW_MERCHANTS + 1][31];
    int64_t first[MAX_NEW_MERCHANTS + 1];
    /* owed[k]: how many merchant IDs' reports of asked_windows[k] are still to be had. */
    int owed[MAX_WINDOWS] = {0};
    int n = pl_dmupdate_new_merchants(d->db, company, b->code, (const char(*)[31])ms->id, ms->n,
                                      ids, first, MAX_NEW_MERCHANTS + 1);
    int rc = n < 0 ? n : 0;
    char failed[2560] = ""; /* sized for the longest window and reason the compiler sees */
    bool cut = false;
    if (n < 0) {
        /* Which merchant IDs are new is not known: any window may owe one. */
        for (int k = 0; k < nasked; k++)
            owed[k]++;
        snprintf(failed, sizeof failed, "the merchant IDs could not be read");
        n = 0;
    } else if (n > MAX_NEW_MERCHANTS) {
        n = MAX_NEW_MERCHANTS;
        cut = true;
        for (int k = 0; k < nasked; k++)
            owed[k] += owes(&asked_windows[k], first[MAX_NEW_MERCHANTS]);
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nasked; k++)
            owed[k] += owes(&asked_windows[k], first[i]);
    for (int i = 0; i < n && rc == 0 && !g_stop; i++) {
        merchants one = {0};
        rc = merchants_add(&one, ids[i]);
        for (int k = 0; rc == 0 && k < nasked && !g_stop; k++) {
            const pl_dm_window *w = &asked_windows[k];
            if (!owes(w, first[i]))
                continue;
            PL_INFO(NULL,
                    "company %d, %s: merchant ID %s was first noted during this run: its report "
                    "of %s %s to %s %s GMT is asked for",
                    company, b->code, ids[i], w->start_date, w->start_time, w->end_date,
                    w->end_time);
            int counts[3] = {0, 0, 0};
            size_t total = 0;
            pl_dm_asked asked;
            char why[400];
            rc = process_window(d, company, b, &one, w, counts, &total, &asked, why, sizeof why);
            if (rc == 0 && counts[CONV_DEFERRED] > 0)
                rc = recheck_add(d, company, b, w, counts);
            if (rc == 0)
                owed[k]--;
            else
                snprintf(failed, sizeof failed, "merchant %s, %s %s to %s %s GMT: %s", ids[i],
                         w->start_date, w->start_time, w->end_date, w->end_time,
                         why[0] ? why : "a database error");
        }
        merchants_free(&one);
    }
    if (!failed[0])
        snprintf(failed, sizeof failed, "%s",
                 rc != 0  ? "out of memory"
                 : g_stop ? "the run was stopped"
                          : "");
    int noted = 0, lost = 0;
    for (int k = 0; k < nasked; k++) {
        if (owed[k] <= 0)
            continue;
        const pl_dm_window *w = &asked_windows[k];
        if (recheck_add(d, company, b, w, NULL) == 0) {
            noted++;
            continue;
        }
        lost++;
        PL_ERROR(NULL,
                 "company %d, %s: the window %s %s to %s %s GMT could not be noted in dm_recheck: "
                 "the decisions taken in it under the merchant IDs first noted during this run "
                 "are never asked for; an operator applies them (Decision Manager's case "
                 "management)",
                 company, b->code, w->start_date, w->start_time, w->end_date, w->end_time);
        if (rc == 0)
            rc = PL_ERR_DB;
    }
    if (noted == 0 && lost == 0)
        return rc;
    char cutmsg[64] = "", what[sizeof failed + 512];
    if (cut)
        snprintf(cutmsg, sizeof cutmsg, "%smore than %d were first noted", failed[0] ? "; " : "",
                 MAX_NEW_MERCHANTS);
    snprintf(what, sizeof what,
             "company %d, %s: the reports of the merchant IDs first noted during this run are not "
             "all had (%s%s): %d window(s) noted in dm_recheck, asked again of every merchant ID "
             "by the next run%s",
             company, b->code, failed, cutmsg, noted,
             lost ? "; the others could not be noted (see above)" : "");
    if (rc != 0 || lost > 0)
        PL_ERROR(NULL, "%s", what);
    else
        PL_WARN(NULL, "%s", what); /* only the merchant IDs past the cap: nothing failed */
    return rc;
}

/* update_windows for the merchant IDs ms. */
static int update_windows_of(dm *d, int company, const bureau *b, const merchants *ms)
{
    pl_dm_window *asked = calloc(MAX_WINDOWS, sizeof *asked);
    if (!asked)
        return PL_ERR_NOMEM;
    int nasked = 0;
    int rc = update_windows_run(d, company, b, ms, asked, &nasked);
    int nrc = ask_new_merchants(d, company, b, ms, asked, nasked);
    free(asked);
    return rc != 0 ? rc : nrc;
}

/* update_windows_of's windows, each asked one recorded in asked_windows (*nasked of them). */
static int update_windows_run(dm *d, int company, const bureau *b, const merchants *ms,
                              pl_dm_window *asked_windows, int *nasked)
{
    /* A recheck that fails (the report refused, the service away) does not hold the windows
     * after it back: they are asked for all the same, the failure reported at the end. */
    int recheck_rc = rechecks(d, company, b, ms);
    int rc = 0;
    pl_dm_limit limit;
    if ((rc = pl_dmupdate_limit_start(d->db, company, b->code, &limit)) != 0)
        return rc;
    /* Each window asked counts, those asked again narrower too (each asks every merchant's
     * report): a cycle ends. */
    for (int k = 0; k < MAX_WINDOWS && !g_stop; k++) {
        int64_t last = last_end(d, company, b);
        if (last < -1)
            return PL_ERR_DB;
        int64_t now = (int64_t)time(NULL);
        /* No run yet: from its first review, and the gauge says how far behind that is (an
         * alert on it fires for a first run that keeps failing too). */
        bool first = last == -1;
        if (first && (last = pl_dmupdate_first_start(d->db, company, b->code, now)) < -1)
            return PL_ERR_DB;
        if (last >= 0)
            set_last_success(d, company, b, last);
        pl_dm_window w;
        bool done = false;
        /* After a window read, from a margin before its end (PL_DM_OVERLAP_SECONDS): a
         * conversion dated just before that end may show in the report only later, and was
         * never asked for again. (The first start has a minute's margin of its own.) */
        pl_dm_window_next_overlap(last, now, limit.limit, first ? 0 : d->overlap, &w, &done);
        if (w.end <= w.start) {
            /* Nothing to ask (a run in the same second): what is pending goes all the same. */
            rc = publish_pending(d, company, b);
            return rc != 0 ? rc : recheck_rc;
        }
        int counts[3] = {0, 0, 0};
        size_t total = 0;
        pl_dm_asked asked = PL_DM_ASKED_FAILED;
        char why[400];
        if ((rc = process_window(d, company, b, ms, &w, counts, &total, &asked, why, sizeof why)) !=
            0) {
            /* Too big for one answer, or too slow: the same start again at once, narrower (a
             * --once run remembers no failure, so the next run would ask the same window). */
            if (why[0] && asked != PL_DM_ASKED_READ && pl_dm_limit_after(&limit, &w, asked) &&
                k + 1 < MAX_WINDOWS && !g_stop) {
                PL_WARN(NULL,
                        "company %d, %s: %s; the report from %s %s GMT is asked again at once in "
                        "windows of at most %lld s",
                        company, b->code, why, w.start_date, w.start_time, (long long)limit.limit);
                continue;
            }
            if (why[0])
                report_failed(company, b, &w, why);
            return rc;
        }
        (void)pl_dm_limit_after(&limit, &w, PL_DM_ASKED_READ);
        if (*nasked < MAX_WINDOWS)
            asked_windows[(*nasked)++] = w;
        int applied = counts[CONV_RECORDED], skipped = counts[CONV_SKIPPED];
        if (counts[CONV_DEFERRED] > 0 && (rc = recheck_add(d, company, b, &w, counts)) != 0)
            return rc;
        char co[16], ws[24], we[24], nconv[16], na[16], ns[16], started[24];
        snprintf(co, sizeof co, "%d", company);
        snprintf(ws, sizeof ws, "%lld", (long long)w.start);
        snprintf(we, sizeof we, "%lld", (long long)w.end);
        snprintf(nconv, sizeof nconv, "%zu", total);
        snprintf(na, sizeof na, "%d", applied);
        snprintf(ns, sizeof ns, "%d", skipped);
        snprintf(started, sizeof started, "%lld", (long long)now);
        /* The first merchant asked: the override, else the hierarchy's (the log names all). */
        const char *p[] = {co, b->code, ms->id[0], ws, we, nconv, na, ns, started, d->cfg.instance};
        PGresult *r = sql(d,
                          "INSERT INTO dm_run (company, service_bureau, merchant_id, window_start, "
                          "window_end, conversions, applied, skipped, started_at, run_by) VALUES "
                          "($1::int, $2, $3, to_timestamp($4::bigint), to_timestamp($5::bigint), "
                          "$6::int, $7::int, $8::int, to_timestamp($9::bigint), $10)",
                          10, p);
        if (!r)
            return PL_ERR_DB;
        PQclear(r);
        set_last_success(d, company, b, w.end);
        PL_INFO(NULL, "company %d, %s: %zu conversion(s), %d applied, %d skipped", company, b->code,
                total, applied, skipped);
        if (done)
            return recheck_rc;
    }
    return recheck_rc;
}

static int load_bureaus(dm *d, bureau **out, int *n)
{
    const char *p[] = {d->service[0] ? d->service : NULL};
    PGresult *r = sql(d,
                      "SELECT a.service_bureau, CASE WHEN s.send_to_production THEN "
                      "s.production_url ELSE s.test_url END, s.user_id, s.password_ref, "
                      "s.merchant_id_override, a.send_reversal, a.fraud_cancel_reason "
                      "FROM auth_service a JOIN dm_settings s USING (service_bureau) "
                      "WHERE a.protocol = 'CYB' AND a.decision_manager "
                      "AND ($1::text IS NULL OR a.service_bureau = $1) ORDER BY 1",
                      1, p);
    if (!r)
        return PL_ERR_DB;
    *n = PQntuples(r);
    *out = calloc((size_t)(*n ? *n : 1), sizeof **out);
    if (!*out) {
        PQclear(r);
        return PL_ERR_NOMEM;
    }
    for (int i = 0; i < *n; i++) {
        bureau *b = &(*out)[i];
        copy(b->code, sizeof b->code, PQgetvalue(r, i, 0));
        copy(b->url, sizeof b->url, PQgetvalue(r, i, 1));
        copy(b->user, sizeof b->user, PQgetvalue(r, i, 2));
        copy(b->password_ref, sizeof b->password_ref, PQgetvalue(r, i, 3));
        copy(b->merchant_override, sizeof b->merchant_override, PQgetvalue(r, i, 4));
        b->send_reversal = strcmp(PQgetvalue(r, i, 5), "t") == 0;
        copy(b->fraud_cancel_reason, sizeof b->fraud_cancel_reason, PQgetvalue(r, i, 6));
        if (d->report_url[0])
            copy(b->url, sizeof b->url, d->report_url);
    }
    PQclear(r);
    return 0;
}

/* Bureau code of d (load_bureaus), into *out: 0, PL_ERR_INVALID (logged) when it is not a
 * CyberSource bureau with Decision Manager and dm_settings, or a load_bureaus error. */
static int bureau_of(dm *d, const char *code, bureau *out)
{
    char service[sizeof d->service];
    memcpy(service, d->service, sizeof service);
    copy(d->service, sizeof d->service, code);
    bureau *bs = NULL;
    int nb = 0;
    int rc = load_bureaus(d, &bs, &nb);
    memcpy(d->service, service, sizeof service);
    if (rc == 0 && nb == 1)
        *out = bs[0];
    else if (rc == 0) {
        PL_ERROR(NULL, "%s: no CyberSource service bureau with Decision Manager and dm_settings",
                 code);
        rc = PL_ERR_INVALID;
    }
    free(bs);
    return rc;
}

/* What a run needs beside its configuration and database connection (d->cfg, d->db): the
 * metrics and their counters, the HTTP client and the producer. 0, or -1 with err. The process
 * (main) and a test's handle (pl_dmupdate_new) both open it so; dm_close releases it. */
static int dm_open(dm *d, char *err, size_t errsize)
{
    d->overlap = PL_DM_OVERLAP_SECONDS;
    const char *ov = getenv("PAYLINK_DM_OVERLAP_S");
    if (ov && *ov) {
        char *end;
        errno = 0;
        long long v = strtoll(ov, &end, 10);
        if (*end || errno || v < 0 || v > OVERLAP_MAX_S) {
            snprintf(err, errsize, "PAYLINK_DM_OVERLAP_S must be 0 to %d seconds, not '%s'",
                     OVERLAP_MAX_S, ov);
            return -1;
        }
        d->overlap = v;
    }
    if (!(d->metrics = pl_metrics_new("dmupdate"))) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (!(d->http = pl_http_new(d->cfg.ca_file[0] ? d->cfg.ca_file : NULL, REPORT_MAX_BODY, err,
                                errsize)) ||
        !(d->producer =
              pl_kafka_producer_new(&d->cfg, d, pl_kafka_on_delivery, NULL, err, errsize)))
        return -1;
    d->m_accept = pl_metrics_counter(d->metrics, "paylink_dm_conversions_applied_total",
                                     "Decision Manager conversions applied, by new decision.",
                                     "decision=ACCEPT");
    d->m_reject = pl_metrics_counter(d->metrics, "paylink_dm_conversions_applied_total",
                                     "Decision Manager conversions applied, by new decision.",
                                     "decision=REJECT");
    d->m_ok = pl_metrics_counter(d->metrics, "paylink_dm_runs_total",
                                 "Decision Manager updates of a company and bureau, by result.",
                                 "result=ok");
    d->m_failed = pl_metrics_counter(d->metrics, "paylink_dm_runs_total",
                                     "Decision Manager updates of a company and bureau, by result.",
                                     "result=failed");
    d->m_unreadable = pl_metrics_counter(
        d->metrics, "paylink_dm_conversions_unreadable_total",
        "Decision Manager conversions skipped because the report's values could not be read "
        "(each logged as an error; an operator applies its decision).",
        NULL);
    return 0;
}

/* Releases what dm_open made (whatever of it was made), and the configuration's secrets; not the
 * database connection. */
static void dm_close(dm *d)
{
    if (d->producer) {
        rd_kafka_flush(d->producer, 10000);
        rd_kafka_destroy(d->producer);
    }
    pl_http_destroy(d->http);
    if (d->services)
        pl_services_unref(d->services);
    pl_metrics_destroy(d->metrics);
    pl_dm_passwords_wipe(&d->passwords);
    pl_config_free(&d->cfg);
}

pl_dmupdate *pl_dmupdate_new(const pl_config *cfg, PGconn *db, const char *report_url, char *errstr,
                             size_t errstr_size)
{
    dm *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    d->db = db;
    copy(d->report_url, sizeof d->report_url, report_url);
    if (dm_open(d, errstr, errstr_size) != 0) {
        pl_dmupdate_destroy(d);
        return NULL;
    }
    return d;
}

void pl_dmupdate_destroy(pl_dmupdate *d)
{
    if (!d)
        return;
    dm_close(d);
    free(d);
}

/* The merchants of ids[0, n) into *out (merchants_add). */
static int merchants_of_ids(const char (*ids)[31], int n, merchants *out)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = merchants_add(out, ids[i]);
    if (rc != 0)
        merchants_free(out);
    return rc;
}

int pl_dmupdate_rechecks(pl_dmupdate *d, int company, const char *bureau_code,
                         const char (*merchant_ids)[31], int n)
{
    bureau b;
    merchants ms;
    int rc = bureau_of(d, bureau_code, &b);
    if (rc == 0 && (rc = merchants_of_ids(merchant_ids, n, &ms)) == 0) {
        rc = rechecks(d, company, &b, &ms);
        merchants_free(&ms);
    }
    return rc;
}

int pl_dmupdate_ask_new_merchants(pl_dmupdate *d, int company, const char *bureau_code,
                                  const char (*known)[31], int nknown,
                                  const pl_dm_window *asked_windows, int nasked)
{
    bureau b;
    merchants ms;
    int rc = bureau_of(d, bureau_code, &b);
    if (rc == 0 && (rc = merchants_of_ids(known, nknown, &ms)) == 0) {
        rc = ask_new_merchants(d, company, &b, &ms, asked_windows, nasked);
        merchants_free(&ms);
    }
    return rc;
}

int pl_dmupdate_companies(PGconn *db, const char *bureau, int **out)
{
    *out = NULL;
    const char *p[] = {bureau};
    PGresult *r = query(db,
                        "SELECT company FROM dm_review_company WHERE service_bureau = $1 "
                        "UNION SELECT company FROM dm_run WHERE service_bureau = $1 ORDER BY 1",
                        1, p);
    if (!r)
        return PL_ERR_DB;
    int n = PQntuples(r);
    if (n > 0 && !(*out = malloc((size_t)n * sizeof **out))) {
        PQclear(r);
        PL_ERROR(NULL, "out of memory listing the companies of %s", bureau);
        return PL_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++)
        (*out)[i] = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
    PQclear(r);
    return n;
}

int64_t pl_dmupdate_first_start(PGconn *db, int company, const char *bureau, int64_t now)
{
    char co[16];
    snprintf(co, sizeof co, "%d", company);
    const char *p[] = {co, bureau};
    PGresult *r = query(db,
                        "SELECT extract(epoch FROM first_review_at)::bigint FROM "
                        "dm_review_company WHERE company = $1::int AND service_bureau = $2",
                        2, p);
    if (!r)
        return PL_ERR_DB;
    int64_t start = -1;
    if (PQntuples(r) == 1) {
        start = atoll(PQgetvalue(r, 0, 0)) - 60;
        if (start < now - PL_DMUPDATE_FIRST_BACK_S)
            start = now - PL_DMUPDATE_FIRST_BACK_S;
        if (start >= now - PL_DM_WINDOW_SECONDS)
            start = -1;
    }
    PQclear(r);
    return start;
}

/* The companies of a bureau: as configured, else those with a REVIEW or an earlier run, every
 * one (a list cut at a fixed length left the companies after it without decisions, and without
 * an alert). Returns how many with *out malloc'd (the caller frees it), or a negative pl_err. */
static int companies_of(dm *d, const bureau *b, int **out)
{
    if (d->ncompanies > 0) {
        if (!(*out = malloc((size_t)d->ncompanies * sizeof **out)))
            return PL_ERR_NOMEM;
        memcpy(*out, d->companies, (size_t)d->ncompanies * sizeof **out);
        return d->ncompanies;
    }
    return pl_dmupdate_companies(d->db, b->code, out);
}

/*
 * (Re)loads the service bureau settings into d->services: 0, or PL_ERR_DB (logged). Not passed
 * through pl_services_carry as the engine's and the resolver's are: a run takes merchant IDs
 * from them (merchants_of), never a bureau's secret — the report password is
 * dm_settings.password_ref, read at each report call (fetch_report), and kept across a failed
 * read of the same reference by pl_dm_password_read — so there is nothing to carry here, and
 * the carry's lines ("its requests are refused") would tell of requests this process
 * never sends.
 */
static int load_services(dm *d)
{
    char err[256];
    pl_services *s = pl_services_load(d->db, err, sizeof err);
    if (!s) {
        PL_ERROR(NULL, "service bureau settings: %s", err);
        return PL_ERR_DB;
    }
    if (d->services)
        pl_services_unref(d->services);
    d->services = s;
    return 0;
}

int pl_dmupdate_run(pl_dmupdate *d, int company, const char *bureau_code)
{
    bureau b;
    int rc = load_services(d);
    if (rc == 0 && (rc = bureau_of(d, bureau_code, &b)) == 0)
        rc = update(d, company, &b);
    return rc;
}

/* One cycle; 0 when every company and bureau succeeded. */
static int cycle(dm *d)
{
    if (PQstatus(d->db) != CONNECTION_OK)
        PQreset(d->db);
    if (PQstatus(d->db) != CONNECTION_OK) {
        PL_ERROR(NULL, "database unreachable: %s", PQerrorMessage(d->db));
        pl_counter_add(d->m_failed, 1);
        return PL_ERR_DB;
    }
    if (load_services(d) != 0) {
        pl_counter_add(d->m_failed, 1);
        return PL_ERR_DB;
    }
    bureau *bs = NULL;
    int nb = 0, failed = 0;
    if (load_bureaus(d, &bs, &nb) != 0) {
        pl_counter_add(d->m_failed, 1);
        return PL_ERR_DB;
    }
    if (nb == 0)
        PL_WARN(NULL, "no CyberSource service bureau with Decision Manager and dm_settings%s%s",
                d->service[0] ? ": " : "", d->service);
    for (int i = 0; i < nb && !g_stop; i++) {
        int *cos = NULL;
        int nc = companies_of(d, &bs[i], &cos);
        if (nc < 0) {
            PL_ERROR(NULL, "%s: the companies to update could not be listed", bs[i].code);
            failed++;
            continue;
        }
        /* Every company's last success first, so the metrics name them all even when this
         * cycle stops early (the textfile of a --once that lost the database). */
        for (int k = 0; k < nc; k++) {
            int64_t last = last_end(d, cos[k], &bs[i]);
            if (last >= 0)
                set_last_success(d, cos[k], &bs[i], last);
        }
        for (int k = 0; k < nc && !g_stop; k++) {
            int rc = update(d, cos[k], &bs[i]);
            pl_counter_add(rc == 0 ? d->m_ok : d->m_failed, 1);
            if (rc != 0)
                failed++;
        }
        free(cos);
    }
    free(bs);
    return failed ? PL_ERR_STATE : 0;
}

/* Adds the companies of list (comma- or space-separated, each 1..COMPANY_MAX) to d, each once:
 * the whole list, however long. */
static int parse_companies(dm *d, const char *list)
{
    char *buf = strdup(list ? list : "");
    if (!buf)
        return PL_ERR_NOMEM;
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t && rc == 0;
         t = strtok_r(NULL, ", ", &save)) {
        char *end;
        errno = 0;
        long v = strtol(t, &end, 10);
        if (*end || errno || v < 1 || v > COMPANY_MAX) {
            rc = PL_ERR_CONFIG;
            break;
        }
        bool seen = false;
        for (int i = 0; i < d->ncompanies && !seen; i++)
            seen = d->companies[i] == (int)v;
        /* Each company at most once: the array holds every possible company. */
        if (!seen)
            d->companies[d->ncompanies++] = (int)v;
    }
    free(buf);
    return rc;
}

static void write_textfile(dm *d, const char *path)
{
    char *text = pl_metrics_render(d->metrics);
    if (!text)
        return;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fputs(text, f);
        if (fclose(f) == 0 && rename(tmp, path) == 0) {
            free(text);
            return;
        }
    }
    PL_ERROR(NULL, "cannot write the metrics textfile %s: %s", path, strerror(errno));
    free(text);
}

static void usage(void)
{
    fprintf(stderr, "usage: paylink-dmupdate [--once] [--interval SECONDS] [--company N]... "
                    "[--service CODE]\n");
}

int pl_dmupdate_main(int argc, char **argv)
{
    static dm d;
    bool once = false;
    long interval = 900;
    const char *env_interval = getenv("PAYLINK_DM_INTERVAL_S");
    if (env_interval && *env_interval)
        interval = strtol(env_interval, NULL, 10);
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'},          {"interval", required_argument, NULL, 'i'},
        {"company", required_argument, NULL, 'c'}, {"service", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            once = true;
            break;
        case 'i':
            interval = strtol(optarg, NULL, 10);
            break;
        case 'c':
            if (parse_companies(&d, optarg) != 0) {
                fprintf(stderr, "paylink-dmupdate: bad --company '%s' (1-999)\n", optarg);
                return 2;
            }
            break;
        case 's':
            copy(d.service, sizeof d.service, optarg);
            break;
        default:
            usage();
            return ch == 'h' ? 0 : 2;
        }
    }
    if (optind < argc || interval < 10 || interval > 86400) {
        usage();
        return 2;
    }
    const char *env_co = getenv("PAYLINK_DM_COMPANIES");
    if (d.ncompanies == 0 && env_co && *env_co && parse_companies(&d, env_co) != 0) {
        fprintf(stderr, "paylink-dmupdate: bad PAYLINK_DM_COMPANIES\n");
        return 78;
    }
    char err[512];
    pl_log_init("dmupdate", NULL);
    if (pl_config_from_env(&d.cfg, "dmupdate", err, sizeof err) != 0) {
        PL_ERROR(NULL, "configuration: %s", err);
        return 78;
    }
    pl_log_set_level(d.cfg.log_level);
    pl_log_set_mask_mode(d.cfg.log_mask);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    /* The consuming workers list what they hold on SIGUSR1 (engine.c dump_live): one sent here
     * by mistake does not end a cycle half done (its default action would). */
    signal(SIGUSR1, SIG_IGN);
    int status = 0;
    /* Named in pg_stat_activity as the consuming workers' connections are (paylink-<worker>);
     * PQreset keeps the name. */
    d.db = pl_db_connect_named(d.cfg.db, "paylink-dmupdate", 0);
    if (PQstatus(d.db) != CONNECTION_OK) {
        PL_ERROR(NULL, "database: %s", d.db ? PQerrorMessage(d.db) : "out of memory");
        status = 1;
        goto out;
    }
    if (dm_open(&d, err, sizeof err) != 0) {
        PL_ERROR(NULL, "%s", err);
        status = 1;
        goto out;
    }
    if (once) {
        status = cycle(&d) == 0 ? 0 : 1;
        const char *tf = getenv("PAYLINK_DM_TEXTFILE");
        if (tf && *tf)
            write_textfile(&d, tf);
        goto out;
    }
    if (pl_metrics_serve(d.metrics, d.cfg.metrics_bind, (uint16_t)d.cfg.metrics_port, err,
                         sizeof err) != 0) {
        PL_ERROR(NULL, "%s", err);
        status = 1;
        goto out;
    }
    pl_metrics_set_ready(d.metrics, true, NULL);
    PL_INFO(NULL, "Decision Manager update every %ld s", interval);
    while (!g_stop) {
        (void)cycle(&d);
        for (long waited = 0; waited < interval * 10 && !g_stop; waited++) {
            pl_metrics_heartbeat(d.metrics, 60000);
            usleep(100000);
        }
    }
out:
    dm_close(&d);
    if (d.db)
        PQfinish(d.db);
    return status;
}
