/*
 * opsctl.c: `paylinkctl wreq | order | stats | dlq` (see opsctl.h). The database side asks
 * PostgreSQL for one json_build_object per row, so the JSON lines keep the query's field order
 * and the tables for people are drawn from the same objects; every value goes in as a
 * parameter. The session is read-only: these commands look, they never write (replay writes to
 * Kafka only).
 */
#include "opsctl.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "bureau_cybersource.h"
#include "card.h"
#include "ctlargs.h"
#include "ctldb.h"
#include "dlq.h"
#include "jsonutil.h"
#include "log.h"
#include "money.h"
#include "reqbuild.h"
#include "request.h"

/* ---- SQL ----------------------------------------------------------------------------------- */

/*
 * The session runs in UTC (pl_opsctl_main), so to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') prints
 * times as replies and svcctl print them.
 *
 * A required_response row, with the resolver's progress (migration 022): the next step of an
 * open row comes from the view required_response_work (the policy's first_query_after_s before
 * the first step), the lease only while it holds. The status is compared as text whatever it
 * is. record_request_id: the RequestID of the bureau's record the resolver escalated the row from
 * (067), what `wreq resolve --transaction-id` takes; captured: the bureau said the auth+capture
 * was captured (an operator's refusal of it reverses nothing).
 */
#define RR_JSON                                                                                    \
    "json_build_object('id', r.id, 'request_id', r.request_id, 'worker', r.worker, "               \
    "'status', r.status::text, 'company', r.company, 'order', r.order_number, "                    \
    "'pay_seq', r.pay_seq, 'service', r.service_bureau, 'operation', r.operation, "                \
    "'amount', r.amount::text, 'currency', r.currency, 'reason', r.reason, 'detail', r.detail, "   \
    "'created_at', to_char(r.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                      \
    "'age_s', floor(extract(epoch FROM now() - r.created_at))::bigint, "                           \
    "'queries', r.queries, 'last_query_at', to_char(r.last_query_at, "                             \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                                                          \
    "'last_query_result', r.last_query_result, 'record_request_id', r.record_request_id, "         \
    "'captured', r.captured, "                                                                     \
    "'next_step_at', CASE WHEN r.status = 'open' THEN to_char(w.next_step_at, "                    \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, "                                                      \
    "'next_step_in_s', CASE WHEN r.status = 'open' "                                               \
    "THEN ceil(extract(epoch FROM w.next_step_at - now()))::bigint END, "                          \
    "'escalated_at', to_char(r.escalated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                  \
    "'lease_owner', CASE WHEN r.lease_until > now() THEN r.lease_owner END, "                      \
    "'lease_until', CASE WHEN r.lease_until > now() THEN to_char(r.lease_until, "                  \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, "                                                      \
    "'resolution', r.resolution, 'resolved_how', r.resolved_how, "                                 \
    "'resolved_by', r.resolved_by, 'resolution_note', r.resolution_note, "                         \
    "'resolved_at', to_char(r.resolved_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'reply_pending', "   \
    "r.reply_pending)::text"
#define RR_FROM "required_response r LEFT JOIN required_response_work w ON w.id = r.id"

/* $4 'unsettled': open and escalated (the default); NULL: every status. */
static const char *const SQL_WREQ_LIST =
    "SELECT " RR_JSON " FROM " RR_FROM " "
    "WHERE ($1::text IS NULL OR r.service_bureau = $1::text) "
    "AND ($2::text IS NULL OR r.worker = $2::text) "
    "AND ($3::bigint IS NULL OR r.created_at <= now() - $3::bigint * interval '1 second') "
    "AND ($4::text IS NULL OR r.status::text = $4::text "
    "OR ($4::text = 'unsettled' AND r.status::text IN ('open', 'escalated'))) "
    "ORDER BY r.created_at, r.id LIMIT $5::bigint";

/* By id ($1, NULL when the ID is no number) or request_id; the id's row first. */
static const char *const SQL_WREQ_FIND =
    "SELECT r.id, r.worker, r.request_id, coalesce(r.id = $1::bigint, false), " RR_JSON
    " FROM " RR_FROM " WHERE r.id = $1::bigint OR r.request_id = $2::text "
    "ORDER BY coalesce(r.id = $1::bigint, false) DESC, r.id LIMIT 20";

static const char *const SQL_WREQ_BY_ID =
    "SELECT " RR_JSON " FROM " RR_FROM " WHERE r.id = $1::bigint";

/* The times every transaction table has. */
#define TRANS_TIMES                                                                                \
    "'received_at', to_char(t.received_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                    \
    "'sent_at', to_char(t.sent_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'sent_by', t.sent_by, "      \
    "'answered_at', to_char(t.answered_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "

/* The transaction row of each worker: what an operator resolving it needs, card data only as
 * the mask (no hash, token or requestToken). */
static const char *const SQL_TRANS_AUTH =
    "SELECT json_build_object('table', 'cc_auth_trans', 'request_id', t.request_id, "
    "'type', t.request_type, 'operation', t.operation, 'status', t.status::text, "
    "'service', t.service_bureau, 'company', t.company, 'order', t.order_number, "
    "'pay_seq', t.pay_seq, 'pay_type', t.pay_type, 'auth_mode', t.auth_mode, "
    "'amount', t.amount::text, 'currency', t.currency, "
    "'amount_approved', t.amount_approved::text, 'decision', t.decision, "
    "'vendor_response', t.vendor_response, 'auth_number', t.auth_number, "
    "'transaction_id', t.transaction_id, 'card_masked', t.card_masked, "
    "'card_type', t.card_type, 'hold_reason', t.hold_reason, 'error_text', "
    "t.error_text, " TRANS_TIMES
    "'reply', t.reply)::text FROM cc_auth_trans t WHERE t.request_id = $1::text";

static const char *const SQL_TRANS_DEPOSIT =
    "SELECT json_build_object('table', 'cc_deposit_trans', 'request_id', t.request_id, "
    "'type', t.request_type, 'operation', t.operation, 'status', t.status::text, "
    "'deposit_status', t.deposit_status, 'deposit_reason', t.deposit_reason, "
    "'service', t.service_bureau, 'company', t.company, 'order', t.order_number, "
    "'pay_seq', t.pay_seq, 'pay_type', t.pay_type, 'amount', t.amount::text, "
    "'currency', t.currency, 'amount_deposited', t.amount_deposited::text, "
    "'decision', t.decision, 'vendor_response', t.vendor_response, "
    "'auth_ref_request_id', t.auth_ref_request_id, "
    "'capture_ref_request_id', t.capture_ref_request_id, 'transaction_id', t.transaction_id, "
    "'card_masked', t.card_masked, 'card_type', t.card_type, 'error_text', "
    "t.error_text, " TRANS_TIMES
    "'reply', t.reply)::text FROM cc_deposit_trans t WHERE t.request_id = $1::text";

static const char *const SQL_TRANS_REVERSAL =
    "SELECT json_build_object('table', 'auth_reversal', 'request_id', t.request_id, "
    "'operation', t.operation, 'status', t.status::text, 'service', t.service_bureau, "
    "'company', t.company, 'order', t.order_number, 'pay_seq', t.pay_seq, "
    "'pay_type', t.pay_type, 'amount', t.amount::text, 'currency', t.currency, "
    "'amount_reversed', t.amount_reversed::text, 'auth_request_id', t.auth_request_id, "
    "'auth_transaction_id', t.auth_transaction_id, 'decision', t.decision, "
    "'vendor_response', t.vendor_response, 'transaction_id', t.transaction_id, "
    "'error_text', t.error_text, " TRANS_TIMES
    "'reply', t.reply)::text FROM auth_reversal t WHERE t.request_id = $1::text";

static const char *const SQL_TRANS_SVC =
    "SELECT json_build_object('table', 'svc_trans', 'request_id', t.request_id, "
    "'type', t.request_type, 'operation', t.operation, 'status', t.status::text, "
    "'service', t.service_bureau, 'company', t.company, 'order', t.order_number, "
    "'pay_seq', t.pay_seq, 'pay_type', t.pay_type, 'amount', t.amount::text, "
    "'currency', t.currency, 'amount_approved', t.amount_approved::text, "
    "'vendor_response', t.vendor_response, 'error_code', t.error_code, "
    "'reason_code', t.reason_code, 'svc_transaction_id', t.svc_transaction_id, "
    "'card_masked', t.card_masked, 'ref_request_id', t.ref_request_id, "
    "'error_text', t.error_text, " TRANS_TIMES
    "'reply', t.reply)::text FROM svc_trans t WHERE t.request_id = $1::text";

/* History rows share the keys the table for people shows: table, id, at, event, status, amount,
 * vendor_response, transaction_id, note. */
#define AUTH_HISTORY_JSON                                                                          \
    "json_build_object('table', 'auth_history', 'id', h.id, "                                      \
    "'at', to_char(h.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                              \
    "'event', h.transaction_type, 'status', h.status::text, "                                      \
    "'amount', h.amount_authorized::text, 'currency', h.currency, "                                \
    "'amount_deposited', h.amount_deposited::text, 'amount_voided', h.amount_voided::text, "       \
    "'vendor_response', h.vendor_response, 'transaction_id', h.transaction_id, "                   \
    "'note', concat_ws('; ', 'deposited ' || h.amount_deposited, "                                 \
    "nullif('voided ' || h.amount_voided || ' ' || h.void_reason, 'voided 0.00 '), "               \
    "'request ' || coalesce(h.request_id, h.deposit_request_id)))"

static const char *const SQL_HISTORY_AUTH =
    "SELECT " AUTH_HISTORY_JSON "::text FROM auth_history h "
    "WHERE h.request_id = $1::text ORDER BY h.id";

static const char *const SQL_HISTORY_DEPOSIT =
    "SELECT j::text FROM ("
    "SELECT h.created_at AS at, 1 AS k, h.id, json_build_object('table', 'cc_deposit_history', "
    "'id', h.id, 'at', to_char(h.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'event', h.event, 'status', h.status, 'amount', h.amount::text, "
    "'vendor_response', h.vendor_response, 'transaction_id', h.transaction_id, "
    "'deposit_status', h.deposit_status, 'operation', h.operation, 'actor', h.actor, "
    "'note', concat_ws('; ', nullif(h.deposit_status, ''), nullif('by ' || h.actor, 'by '), "
    "nullif(h.note, ''))) AS j FROM cc_deposit_history h WHERE h.request_id = $1::text "
    "UNION ALL SELECT h.created_at, 2, h.id, " AUTH_HISTORY_JSON
    " FROM auth_history h WHERE h.deposit_request_id = $1::text) x ORDER BY at, k, id";

static const char *const SQL_HISTORY_REVERSAL =
    "SELECT " AUTH_HISTORY_JSON "::text FROM auth_history h "
    "JOIN auth_reversal r ON r.auth_history_id = h.id WHERE r.request_id = $1::text";

/* Every row of an order as one line with the keys of opsctl.h; k orders rows of one instant. */
static const char *const SQL_ORDER =
    "SELECT e::text FROM ("
    "SELECT t.received_at AS at, 1 AS k, t.request_id AS rid, json_build_object("
    "'kind', 'auth', 'at', to_char(t.received_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', t.request_id, 'pay_seq', t.pay_seq, 'service', t.service_bureau, "
    "'type', t.request_type, 'operation', t.operation, 'status', t.status::text, "
    "'amount', t.amount::text, 'amount_approved', t.amount_approved::text, "
    "'currency', t.currency, 'vendor_response', t.vendor_response, "
    "'transaction_id', t.transaction_id, 'detail', concat_ws('; ', nullif(t.card_masked, ''), "
    "nullif('hold ' || t.hold_reason, 'hold '), nullif(t.error_text, ''))) AS e "
    "FROM cc_auth_trans t WHERE t.company = $1::int AND t.order_number = $2::text "
    "UNION ALL "
    "SELECT h.created_at, 2, coalesce(h.request_id, h.deposit_request_id), json_build_object("
    "'kind', 'auth_history', 'at', to_char(h.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', coalesce(h.request_id, h.deposit_request_id), 'pay_seq', h.pay_seq, "
    "'service', h.service_bureau, 'type', h.transaction_type, 'operation', '', "
    "'status', h.status::text, 'amount', h.amount_authorized::text, 'amount_approved', NULL, "
    "'currency', h.currency, 'vendor_response', h.vendor_response, "
    "'transaction_id', h.transaction_id, 'detail', concat_ws('; ', "
    "'deposited ' || h.amount_deposited, "
    "nullif('voided ' || h.amount_voided || ' ' || h.void_reason, 'voided 0.00 '))) "
    "FROM auth_history h WHERE h.company = $1::int AND h.order_number = $2::text "
    "UNION ALL "
    "SELECT d.received_at, 3, d.request_id, json_build_object("
    "'kind', 'deposit', 'at', to_char(d.received_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', d.request_id, 'pay_seq', d.pay_seq, 'service', d.service_bureau, "
    "'type', d.request_type, 'operation', d.operation, 'status', d.status::text, "
    "'amount', d.amount::text, 'amount_approved', d.amount_deposited::text, "
    "'currency', d.currency, 'vendor_response', d.vendor_response, "
    "'transaction_id', d.transaction_id, 'detail', concat_ws('; ', "
    "nullif(d.deposit_status, ''), nullif(d.deposit_reason, ''), nullif(d.card_masked, ''), "
    "nullif(d.error_text, ''))) "
    "FROM cc_deposit_trans d WHERE d.company = $1::int AND d.order_number = $2::text "
    "UNION ALL "
    "SELECT h.created_at, 4, h.request_id, json_build_object('kind', 'deposit_history', "
    "'at', to_char(h.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', h.request_id, 'pay_seq', d.pay_seq, 'service', d.service_bureau, "
    "'type', h.event, 'operation', h.operation, 'status', h.status, "
    "'amount', h.amount::text, 'amount_approved', NULL, 'currency', d.currency, "
    "'vendor_response', h.vendor_response, 'transaction_id', h.transaction_id, "
    "'detail', concat_ws('; ', nullif(h.deposit_status, ''), "
    "nullif('by ' || h.actor, 'by '), nullif(h.note, ''))) "
    "FROM cc_deposit_history h JOIN cc_deposit_trans d ON d.request_id = h.request_id "
    "WHERE d.company = $1::int AND d.order_number = $2::text "
    "UNION ALL "
    "SELECT r.received_at, 5, r.request_id, json_build_object("
    "'kind', 'reversal', 'at', to_char(r.received_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', r.request_id, 'pay_seq', r.pay_seq, 'service', r.service_bureau, "
    "'type', 'reversal', 'operation', r.operation, 'status', r.status::text, "
    "'amount', r.amount::text, 'amount_approved', r.amount_reversed::text, "
    "'currency', r.currency, 'vendor_response', r.vendor_response, "
    "'transaction_id', r.transaction_id, "
    "'detail', concat_ws('; ', 'of ' || r.auth_request_id, nullif(r.error_text, ''))) "
    "FROM auth_reversal r WHERE r.company = $1::int AND r.order_number = $2::text "
    "UNION ALL "
    "SELECT s.received_at, 6, s.request_id, json_build_object("
    "'kind', 'svc', 'at', to_char(s.received_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', s.request_id, 'pay_seq', s.pay_seq, 'service', s.service_bureau, "
    "'type', s.request_type, 'operation', s.operation, 'status', s.status::text, "
    "'amount', s.amount::text, 'amount_approved', s.amount_approved::text, "
    "'currency', s.currency, 'vendor_response', s.vendor_response, "
    "'transaction_id', s.svc_transaction_id, 'detail', concat_ws('; ', "
    "nullif(s.card_masked, ''), nullif('error ' || s.error_code, 'error '), "
    "nullif(s.error_text, ''))) "
    "FROM svc_trans s WHERE s.company = $1::int AND s.order_number = $2::text "
    "UNION ALL "
    "SELECT q.created_at, 7, q.request_id, json_build_object('kind', 'required_response', "
    "'at', to_char(q.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', q.request_id, 'pay_seq', q.pay_seq, 'service', q.service_bureau, "
    "'type', q.worker, 'operation', q.operation, 'status', q.status::text, "
    "'amount', q.amount::text, 'amount_approved', NULL, 'currency', q.currency, "
    "'vendor_response', '', 'transaction_id', '', 'detail', concat_ws('; ', 'id ' || q.id, "
    "q.reason, nullif(q.detail, ''), "
    "'resolved ' || q.resolution || coalesce(' by ' || q.resolved_by, '') "
    "|| coalesce(' (' || q.resolved_how || ')', ''))) "
    "FROM required_response q WHERE q.company = $1::int AND q.order_number = $2::text "
    "UNION ALL "
    "SELECT m.created_at, 8, m.auth_request_id, json_build_object('kind', 'dm_decision', "
    "'at', to_char(m.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'request_id', m.auth_request_id, 'pay_seq', m.pay_seq, 'service', m.service_bureau, "
    "'type', m.action, 'operation', '', 'status', m.new_decision, 'amount', NULL, "
    "'amount_approved', NULL, 'currency', NULL, 'vendor_response', '', "
    "'transaction_id', m.transaction_id, 'detail', concat_ws('; ', "
    "m.original_decision || ' -> ' || m.new_decision, "
    "nullif('reviewer ' || m.reviewer, 'reviewer '), 'cancel ' || m.cancel_reason, "
    "'reversal ' || m.reversal_request_id, "
    "'superseded by ' || m.superseded_by || ', not acted on')) "
    "FROM dm_decision m WHERE m.company = $1::int AND m.order_number = $2::text"
    ") x ORDER BY at, k, rid";

/* The period of stats, resolved once so both statements use the same one. */
static const char *const SQL_STATS_PERIOD =
    "SELECT to_char(coalesce($1::timestamptz, now() - $2::bigint * interval '1 second'), "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

static const char *const SQL_STATS_OUTCOMES =
    "SELECT json_build_object('kind', 'outcome', 'service', x.service_bureau, "
    "'worker', x.worker, 'type', x.type, 'status', x.status, "
    "'vendor_response', x.vendor_response, 'description', coalesce((SELECT v.description "
    "FROM vendor_response v WHERE v.service_bureau = x.service_bureau "
    "AND v.response_kind = 'reason' AND v.response_code = x.vendor_response), ''), "
    "'currency', x.currency, 'count', count(*), 'amount_requested', sum(x.amount)::text, "
    "'amount_approved', (sum(x.approved) FILTER (WHERE x.status = 'approved'))::text)::text "
    "FROM ("
    "SELECT 'auth'::text AS worker, service_bureau, request_type::text AS type, "
    "status::text AS status, vendor_response, currency, amount, amount_approved AS approved "
    "FROM cc_auth_trans WHERE received_at >= $1::timestamptz "
    "UNION ALL SELECT 'deposit', service_bureau, request_type, status::text, vendor_response, "
    "currency, amount, amount_deposited FROM cc_deposit_trans "
    "WHERE received_at >= $1::timestamptz "
    "UNION ALL SELECT 'reversal', service_bureau, coalesce(nullif(operation, ''), 'reversal'), "
    "status::text, vendor_response, currency, amount, amount_reversed FROM auth_reversal "
    "WHERE received_at >= $1::timestamptz "
    "UNION ALL SELECT 'svc', service_bureau, request_type, status::text, vendor_response, "
    "currency, amount, amount_approved FROM svc_trans WHERE received_at >= $1::timestamptz) x "
    "WHERE ($2::text IS NULL OR x.service_bureau = $2::text) "
    "GROUP BY x.service_bureau, x.worker, x.type, x.status, x.vendor_response, x.currency "
    "ORDER BY x.service_bureau, x.worker, x.type, x.status, count(*) DESC, x.vendor_response, "
    "x.currency";

static const char *const SQL_STATS_OPEN =
    "SELECT json_build_object('kind', 'required_responses_open', 'service', r.service_bureau, "
    "'worker', r.worker, 'count', count(*), "
    "'oldest_at', to_char(min(r.created_at), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "'oldest_age_s', floor(extract(epoch FROM now() - min(r.created_at)))::bigint)::text "
    "FROM required_response r "
    "WHERE r.status::text = 'open' AND ($1::text IS NULL OR r.service_bureau = $1::text) "
    "GROUP BY r.service_bureau, r.worker ORDER BY r.service_bureau, r.worker";

/* ---- values -------------------------------------------------------------------------------- */

bool pl_opsctl_parse_duration(const char *s, long long *seconds)
{
    static const char units[] = "wdhms";
    static const long long unit_s[] = {7 * 86400, 86400, 3600, 60, 1};
    long long total = 0;
    size_t next_unit = 0; /* units come largest first, each once */
    if (!s || !*s)
        return false;
    while (*s) {
        long long v = 0;
        size_t n = 0;
        for (; s[n] >= '0' && s[n] <= '9'; n++) {
            if (n >= 9)
                return false;
            v = v * 10 + (s[n] - '0');
        }
        if (n == 0 || !s[n])
            return false;
        const char *u = strchr(units + next_unit, s[n]);
        if (!u || !*u)
            return false;
        size_t i = (size_t)(u - units);
        total += v * unit_s[i];
        if (total > PL_OPSCTL_MAX_DURATION_S)
            return false;
        next_unit = i + 1;
        s += n + 1;
    }
    *seconds = total;
    return true;
}

/* n digits at s as a number, or -1 when they are not all digits. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

bool pl_opsctl_parse_timestamp(const char *s, char *out, size_t outsize)
{
    int hh = 0, mi = 0, ss = 0, zh = 0, zm = 0;
    char zsign = '+';
    size_t len = s ? strlen(s) : 0;
    if (len < 10 || s[4] != '-' || s[7] != '-' || outsize < 26)
        return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        if (strlen(p) < 6 || p[3] != ':')
            return false;
        hh = digits(p + 1, 2);
        mi = digits(p + 4, 2);
        p += 6;
        if (*p == ':') {
            if (strlen(p) < 3)
                return false;
            ss = digits(p + 1, 2);
            p += 3;
        }
        if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59)
            return false;
    }
    if (*p == 'Z' && p[1] == '\0') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        zsign = *p;
        zh = digits(p + 1, 2);
        zm = digits(p + 4, 2);
        if (zh < 0 || zh > 14 || zm < 0 || zm > 59)
            return false;
        p += 6;
    }
    if (*p)
        return false;
    snprintf(out, outsize, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, mo, d, hh, mi, ss, zsign,
             zh, zm);
    return true;
}

bool pl_opsctl_parse_offset(const char *s, pl_opsctl_offset *out)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon || colon == s || colon - s > 10 || !colon[1] || strlen(colon + 1) > 19)
        return false;
    long long p = 0;
    unsigned long long o = 0;
    for (const char *c = s; c < colon; c++) {
        if (*c < '0' || *c > '9')
            return false;
        p = p * 10 + (*c - '0');
    }
    for (const char *c = colon + 1; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        o = o * 10 + (unsigned long long)(*c - '0');
    }
    if (p > INT32_MAX || o > (unsigned long long)INT64_MAX)
        return false;
    out->partition = (int32_t)p;
    out->offset = (int64_t)o;
    return true;
}

void pl_opsctl_format_age(long long s, char *out, size_t outsize)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(out, outsize, "%llds", s);
    else if (s < 3600)
        snprintf(out, outsize, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, outsize, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, outsize, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* ---- options ------------------------------------------------------------------------------- */

#define CMD(c) (1u << (c))
#define ALL_CMDS                                                                                   \
    (CMD(PL_OPSCTL_WREQ_LIST) | CMD(PL_OPSCTL_WREQ_SHOW) | CMD(PL_OPSCTL_ORDER_SHOW) |             \
     CMD(PL_OPSCTL_STATS) | CMD(PL_OPSCTL_DLQ_LIST) | CMD(PL_OPSCTL_DLQ_REPLAY) |                  \
     CMD(PL_OPSCTL_WREQ_RESOLVE) | CMD(PL_OPSCTL_WREQ_RETRY))
#define RESOLVE CMD(PL_OPSCTL_WREQ_RESOLVE)

enum {
    OPT_JSON,
    OPT_BUREAU,
    OPT_WORKER,
    OPT_OLDER,
    OPT_STATUS,
    OPT_LIMIT,
    OPT_COMPANY,
    OPT_ORDER,
    OPT_SINCE,
    OPT_OFFSET,
    OPT_ALL_SINCE,
    OPT_DRY_RUN,
    OPT_FORCE,
    OPT_OUTCOME,
    OPT_BY,
    OPT_NOTE,
    OPT_AMOUNT,
    OPT_TRANSACTION_ID,
    OPT_AUTH_NUMBER,
    OPT_VENDOR_RESPONSE,
    OPT_NOW
};
static const pl_ctl_option options[] = {
    [OPT_JSON] = {"--json", ALL_CMDS, false},
    [OPT_BUREAU] = {"--bureau", CMD(PL_OPSCTL_WREQ_LIST) | CMD(PL_OPSCTL_STATS), true},
    [OPT_WORKER] = {"--worker",
                    CMD(PL_OPSCTL_WREQ_LIST) | CMD(PL_OPSCTL_DLQ_LIST) | CMD(PL_OPSCTL_DLQ_REPLAY),
                    true},
    [OPT_OLDER] = {"--older-than", CMD(PL_OPSCTL_WREQ_LIST), true},
    [OPT_STATUS] = {"--status", CMD(PL_OPSCTL_WREQ_LIST), true},
    [OPT_LIMIT] = {"--limit", CMD(PL_OPSCTL_WREQ_LIST) | CMD(PL_OPSCTL_DLQ_LIST), true},
    [OPT_COMPANY] = {"--company", CMD(PL_OPSCTL_ORDER_SHOW), true},
    [OPT_ORDER] = {"--order", CMD(PL_OPSCTL_ORDER_SHOW), true},
    [OPT_SINCE] = {"--since", CMD(PL_OPSCTL_STATS) | CMD(PL_OPSCTL_DLQ_LIST), true},
    [OPT_OFFSET] = {"--offset", CMD(PL_OPSCTL_DLQ_REPLAY), true},
    [OPT_ALL_SINCE] = {"--all-since", CMD(PL_OPSCTL_DLQ_REPLAY), true},
    [OPT_DRY_RUN] = {"--dry-run", CMD(PL_OPSCTL_DLQ_REPLAY), false},
    [OPT_FORCE] = {"--force", CMD(PL_OPSCTL_DLQ_REPLAY), false},
    [OPT_OUTCOME] = {"--outcome", RESOLVE, true},
    [OPT_BY] = {"--by", RESOLVE, true},
    [OPT_NOTE] = {"--note", RESOLVE, true},
    [OPT_AMOUNT] = {"--amount", RESOLVE, true},
    [OPT_TRANSACTION_ID] = {"--transaction-id", RESOLVE, true},
    [OPT_AUTH_NUMBER] = {"--auth-number", RESOLVE, true},
    [OPT_VENDOR_RESPONSE] = {"--vendor-response", RESOLVE, true},
    [OPT_NOW] = {"--now", CMD(PL_OPSCTL_WREQ_RETRY), false}};
#define NOPTIONS (sizeof options / sizeof options[0])

/* A bureau code as auth_service holds it: 1-8 printable characters, no space. */
static bool bureau_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 8)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* A request_id as the contract has it: [A-Za-z0-9._:-]{1,50}. */
static bool request_id_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 50 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}

/* Characters of a string of valid UTF-8 (shortest forms, no surrogates); -1 when it is not. */
static long utf8_chars(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (len == 0 || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
            return -1;
        for (size_t k = 1; k < len; k++)
            if ((p[k] & 0xC0) != 0x80)
                return -1;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) ||
            (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return -1;
        p += len;
        n++;
    }
    return n;
}

/* The longest prefix of s of at most max bytes that ends on a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

int pl_opsctl_check_name_max(const char *option, const char *name, int max, char *errstr,
                             size_t errstr_size)
{
    long chars = name ? utf8_chars(name) : -1;
    if (chars < 1 || chars > max || pl_ctldb_has_control(name))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: expected a name of 1 to %d characters (UTF-8, no control "
                          "characters)",
                          option, max);
    if (pl_card_contains_full(name, strlen(name)))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: must not contain a card number",
                          option);
    return PL_OK;
}

int pl_opsctl_check_name(const char *option, const char *name, char *errstr, size_t errstr_size)
{
    return pl_opsctl_check_name_max(option, name, PL_OPSCTL_BY_MAX, errstr, errstr_size);
}

int pl_opsctl_check_note(const char *option, const char *note, char *errstr, size_t errstr_size)
{
    /* Bytes: a note goes into a 300-byte column after "operator <NAME>: ". */
    if (!note || strlen(note) > PL_OPSCTL_NOTE_MAX || utf8_chars(note) < 0 ||
        pl_ctldb_has_control(note))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: expected at most %d bytes of UTF-8 text without control "
                          "characters",
                          option, PL_OPSCTL_NOTE_MAX);
    if (pl_card_contains_full(note, strlen(note)))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: must not contain a card number",
                          option);
    return PL_OK;
}

/* A bureau reference an operator copies from the bureau's screen (a transaction id, an
 * authorization number): 1 to max printable ASCII characters without spaces, no card number. */
static int reference_ok(const char *option, const char *value, size_t max, char *errstr,
                        size_t errstr_size)
{
    size_t n = strlen(value);
    bool printable = n >= 1 && n <= max;
    for (size_t k = 0; printable && k < n; k++)
        printable = (unsigned char)value[k] > ' ' && (unsigned char)value[k] < 0x7f;
    if (!printable)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: expected 1 to %zu printable characters without spaces", option, max);
    /* The plain check: the text is printable ASCII already, and the full one's other rule (a
     * card number with an expiry glued on, 20-21 digits) would refuse about one in 170 of a
     * bureau's 20-digit transaction ids (the External Payment Service's are 1 to 64 characters),
     * leaving its unknown authorizations unsettleable. */
    if (pl_card_contains(value, n))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: must not contain a card number",
                          option);
    return PL_OK;
}

static int take(pl_opsctl_opts *o, size_t i, const char *value, char *errstr, size_t errstr_size)
{
    long v = 0;
    switch (i) {
    case OPT_JSON:
        o->json = true;
        break;
    case OPT_BUREAU:
        if (!bureau_ok(value))
            return pl_err_set(
                PL_ERR_INVALID, errstr, errstr_size,
                "--bureau: expected a service bureau code (1 to 8 characters, no space)");
        o->bureau = value;
        break;
    case OPT_WORKER:
        if (!pl_reqbuild_worker_ok(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--worker: expected auth, deposit, reversal or svc");
        o->worker = value;
        break;
    case OPT_OLDER:
        if (!pl_opsctl_parse_duration(value, &o->older_than_s))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--older-than: expected a duration such as 30m, 2h, 1d or 1h30m");
        break;
    case OPT_STATUS:
        if (strcmp(value, "all") == 0)
            o->status = NULL;
        else if (strcmp(value, "open") == 0 || strcmp(value, "escalated") == 0 ||
                 strcmp(value, "resolved") == 0 || strcmp(value, "unsettled") == 0)
            o->status = value;
        else
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--status: expected open, escalated, resolved, unsettled or all");
        break;
    case OPT_LIMIT:
        if (!pl_ctldb_parse_range(value, 1, PL_OPSCTL_MAX_LIMIT, &v))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--limit: expected a number, 1 to %d", PL_OPSCTL_MAX_LIMIT);
        o->limit = v;
        break;
    case OPT_COMPANY:
        if (!pl_ctldb_parse_range(value, 1, 999, &v))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--company: expected a company number, 1 to 999");
        o->company = (int)v;
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
    case OPT_SINCE:
    case OPT_ALL_SINCE:
        o->since.given = true;
        o->since.is_duration = pl_opsctl_parse_duration(value, &o->since.seconds);
        if (o->since.is_duration)
            break;
        if (o->cmd == PL_OPSCTL_STATS &&
            pl_opsctl_parse_timestamp(value, o->since.timestamp, sizeof o->since.timestamp))
            break;
        if (o->cmd == PL_OPSCTL_STATS)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--since: expected a duration (30m, 2h, 1d, 1h30m) or a timestamp "
                              "(YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM])");
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "%s: expected a duration such as 30m, 2h, 1d or 1h30m", options[i].name);
    case OPT_OFFSET:
        if (o->noffsets >= PL_OPSCTL_MAX_OFFSETS)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "--offset: at most %d",
                              PL_OPSCTL_MAX_OFFSETS);
        pl_opsctl_offset off;
        if (!pl_opsctl_parse_offset(value, &off))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--offset: expected PARTITION:OFFSET of the dead-letter topic (as "
                              "dlq list prints them)");
        for (size_t k = 0; k < o->noffsets; k++)
            if (o->offsets[k].partition == off.partition && o->offsets[k].offset == off.offset)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "--offset: the same dead letter given twice");
        o->offsets[o->noffsets++] = off;
        break;
    case OPT_DRY_RUN:
        o->dry_run = true;
        break;
    case OPT_FORCE:
        o->force = true;
        break;
    case OPT_OUTCOME:
        o->has_outcome = true;
        if (strcmp(value, "approved") == 0)
            o->outcome = PL_ST_APPROVED;
        else if (strcmp(value, "declined") == 0)
            o->outcome = PL_ST_DECLINED;
        else if (strcmp(value, "error") == 0)
            o->outcome = PL_ST_ERROR;
        else if (strcmp(value, "review") == 0)
            o->outcome = PL_ST_REVIEW;
        else if (strcmp(value, "rejected") == 0)
            o->outcome = PL_ST_REJECTED;
        else
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--outcome: expected approved, declined, error, review or rejected");
        break;
    case OPT_BY:
        if (pl_opsctl_check_name("--by", value, errstr, errstr_size) != PL_OK)
            return PL_ERR_INVALID;
        o->by = value;
        break;
    case OPT_NOTE:
        if (pl_opsctl_check_note("--note", value, errstr, errstr_size) != PL_OK)
            return PL_ERR_INVALID;
        o->note = *value ? value : NULL;
        break;
    case OPT_AMOUNT:
        if (pl_money_parse_decimal(value, &o->amount) != PL_OK || o->amount <= 0 ||
            o->amount > PL_MONEY_MAX)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--amount: expected an amount above 0 such as 70.00");
        o->has_amount = true;
        break;
    case OPT_TRANSACTION_ID:
        if (reference_ok("--transaction-id", value, 64, errstr, errstr_size) != PL_OK)
            return PL_ERR_INVALID;
        o->transaction_id = value;
        break;
    case OPT_AUTH_NUMBER:
        if (reference_ok("--auth-number", value, 30, errstr, errstr_size) != PL_OK)
            return PL_ERR_INVALID;
        o->auth_number = value;
        break;
    case OPT_VENDOR_RESPONSE:
        if (strlen(value) < 1 || strlen(value) > 5 || strspn(value, "0123456789") != strlen(value))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "--vendor-response: expected the bureau's reason code, 1 to 5 "
                              "digits such as 230");
        o->vendor_response = value;
        break;
    default: /* OPT_NOW */
        o->now = true;
        break;
    }
    return PL_OK;
}

/* A required_response id: digits only, 1 to 18 of them, above 0. */
static bool rr_id_ok(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n < 1 || n > 18 || strspn(s, "0123456789") != n)
        return false;
    int64_t v = 0;
    for (; *s; s++)
        v = v * 10 + (*s - '0');
    if (v <= 0)
        return false;
    *out = v;
    return true;
}

/* An outcome that holds an amount on the card: approved, or held for review (Decision Manager). */
static bool outcome_holds(pl_status s)
{
    return s == PL_ST_APPROVED || s == PL_ST_REVIEW;
}

/*
 * A refused outcome after which the issuer still holds what it approved: Decision Manager's
 * reject (481 after the issuer approved), or a CyberSource soft decline (200, 230, 520) —
 * pl_cybersource_refused_but_held, the rule paylink-auth and the resolver reverse by. Its
 * reversal must ask for what the issuer holds: after a partial approval that is less than the
 * request, and CyberSource refuses a reversal above what it authorized (the hold stays).
 */
static bool outcome_refused_but_held(const pl_opsctl_opts *o)
{
    /* A reject is given without a reason code: the resolver maps it as Decision Manager's 481. */
    return pl_cybersource_refused_but_held(
        pl_status_name(o->outcome), o->outcome == PL_ST_REJECTED ? "481" : o->vendor_response);
}

/* What `wreq resolve|retry` needs beside an ID; 0 or PL_ERR_INVALID with errstr. */
static int check_resolve(const pl_opsctl_opts *o, char *errstr, size_t errstr_size)
{
    if (!o->has_outcome)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "wreq resolve needs --outcome approved|declined|error|review|rejected");
    if (!o->by)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "wreq resolve needs --by NAME (who decided the outcome)");
    /* Any other refusal holds nothing: an amount there would mean nothing. */
    if (o->has_amount && !outcome_holds(o->outcome) && !outcome_refused_but_held(o))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--amount: only with --outcome approved, review or rejected, or "
                          "declined with a soft decline's --vendor-response (200, 230, 520: "
                          "the issuer holds the amount)");
    if (!outcome_holds(o->outcome) && o->outcome != PL_ST_REJECTED && o->auth_number)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--auth-number: only with --outcome approved, review or rejected");
    if ((o->outcome == PL_ST_REVIEW || o->outcome == PL_ST_REJECTED) && !o->transaction_id)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--outcome %s needs --transaction-id (the authorization's: a capture "
                          "and Decision Manager's decision name it, a reject's reversal too)",
                          pl_status_name(o->outcome));
    if (o->vendor_response && o->outcome != PL_ST_DECLINED)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--vendor-response: only with --outcome declined (a review or reject "
                          "is Decision Manager's 480 / 481)");
    /* A soft decline (the issuer approved, CyberSource declined) is reversed, by its
     * transaction id. */
    if (o->vendor_response && pl_cybersource_soft_decline(o->vendor_response) && !o->transaction_id)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--vendor-response %s (a soft decline: the issuer holds the amount) "
                          "needs --transaction-id (its reversal names it)",
                          o->vendor_response);
    /* The resolver writes "operator <NAME>: <note>" into a 300-byte note: never cut. */
    if (o->note && strlen("operator : ") + strlen(o->by) + strlen(o->note) >= 300)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "--by and --note together are too long (the note keeps 300 bytes)");
    return PL_OK;
}

/* The command of argv[0] and argv[1]; 0 when unknown. *skip: how many words they took. */
static pl_opsctl_cmd find_cmd(int argc, char **argv, int *skip)
{
    const char *sub = argc > 1 ? argv[1] : "";
    *skip = 2;
    if (strcmp(argv[0], "wreq") == 0)
        return strcmp(sub, "list") == 0      ? PL_OPSCTL_WREQ_LIST
               : strcmp(sub, "show") == 0    ? PL_OPSCTL_WREQ_SHOW
               : strcmp(sub, "resolve") == 0 ? PL_OPSCTL_WREQ_RESOLVE
               : strcmp(sub, "retry") == 0   ? PL_OPSCTL_WREQ_RETRY
                                             : 0;
    if (strcmp(argv[0], "order") == 0)
        return strcmp(sub, "show") == 0 ? PL_OPSCTL_ORDER_SHOW : 0;
    if (strcmp(argv[0], "dlq") == 0)
        return strcmp(sub, "list") == 0     ? PL_OPSCTL_DLQ_LIST
               : strcmp(sub, "replay") == 0 ? PL_OPSCTL_DLQ_REPLAY
                                            : 0;
    *skip = 1;
    return strcmp(argv[0], "stats") == 0 ? PL_OPSCTL_STATS : 0;
}

int pl_opsctl_parse(int argc, char **argv, pl_opsctl_opts *o, char *errstr, size_t errstr_size)
{
    memset(o, 0, sizeof *o);
    o->older_than_s = -1;
    o->status = "unsettled";
    o->outcome = PL_ST_INVALID; /* none yet */
    int first = 0;
    if (argc < 1 || !(o->cmd = find_cmd(argc, argv, &first)))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "expected wreq list|show|resolve|retry, order show, stats, or dlq "
                          "list|replay");
    o->limit = o->cmd == PL_OPSCTL_DLQ_LIST ? PL_OPSCTL_DLQ_LIMIT : PL_OPSCTL_WREQ_LIMIT;
    bool seen[NOPTIONS] = {false};
    for (int a = first; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0) {
            /* Not echoed: a stray word may be a card number. */
            bool takes_id = o->cmd == PL_OPSCTL_WREQ_SHOW || o->cmd == PL_OPSCTL_WREQ_RESOLVE ||
                            o->cmd == PL_OPSCTL_WREQ_RETRY;
            if (!takes_id || o->id)
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "unexpected argument #%d",
                                  a);
            if (o->cmd != PL_OPSCTL_WREQ_SHOW) {
                /* A command that writes takes the id only: a request_id may name rows of
                 * several workers. */
                if (pl_card_contains_full(arg, strlen(arg)) || !rr_id_ok(arg, &o->rr_id))
                    return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                      "wreq %s: expected a required response id (digits, as "
                                      "wreq list prints them)",
                                      o->cmd == PL_OPSCTL_WREQ_RESOLVE ? "resolve" : "retry");
                o->id = arg;
                continue;
            }
            if (!request_id_ok(arg))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "wreq show: expected a required response id or a request_id "
                                  "([A-Za-z0-9._:-], 1 to 50 characters)");
            if (pl_card_contains_full(arg, strlen(arg)))
                return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                                  "wreq show: the id must not contain a card number");
            o->id = arg;
            continue;
        }
        size_t i;
        const char *value;
        /* --offset may be given again: one dead letter each. */
        int rc = pl_ctl_option_read(argc, argv, &a, options, NOPTIONS, CMD(o->cmd), seen,
                                    OPT_OFFSET, "", &i, &value, errstr, errstr_size);
        if (rc != PL_OK)
            return rc;
        rc = take(o, i, value, errstr, errstr_size);
        if (rc != PL_OK)
            return rc;
    }
    switch (o->cmd) {
    case PL_OPSCTL_WREQ_SHOW:
        if (!o->id)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "wreq show needs an ID (a required response id or a request_id)");
        break;
    case PL_OPSCTL_WREQ_RESOLVE:
    case PL_OPSCTL_WREQ_RETRY:
        if (!o->id)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "wreq %s needs an ID (a required response id)",
                              o->cmd == PL_OPSCTL_WREQ_RESOLVE ? "resolve" : "retry");
        if (o->cmd == PL_OPSCTL_WREQ_RESOLVE)
            return check_resolve(o, errstr, errstr_size);
        break;
    case PL_OPSCTL_ORDER_SHOW:
        if (!o->company || !o->order)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "order show needs --company and --order");
        break;
    case PL_OPSCTL_DLQ_LIST:
    case PL_OPSCTL_DLQ_REPLAY:
        if (!o->worker)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "dlq %s needs --worker auth|deposit|reversal|svc",
                              o->cmd == PL_OPSCTL_DLQ_LIST ? "list" : "replay");
        if (o->cmd == PL_OPSCTL_DLQ_REPLAY && (o->noffsets > 0) == o->since.given)
            return pl_err_set(
                PL_ERR_INVALID, errstr, errstr_size,
                "dlq replay needs either --offset P:O (repeatable) or --all-since DURATION");
        break;
    default:
        break;
    }
    return PL_OK;
}

/* ---- tables ------------------------------------------------------------------------------- */

struct pl_opsctl_table {
    size_t ncols, nrows, cap;
    char **cells; /* (nrows + 1) * ncols: the headers first */
    bool *right;
};

/* Characters (not bytes) of a UTF-8 string. */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The cell as printed (see pl_opsctl_table_add); malloc'd. */
static char *cell_text(const char *in)
{
    if (!in || !*in)
        return strdup("-");
    size_t n = strlen(in), chars = 0, cut = n;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)in[i] & 0xC0) == 0x80)
            continue;
        if (chars == PL_OPSCTL_CELL_MAX - 3 && cut == n)
            cut = i;
        if (++chars > PL_OPSCTL_CELL_MAX)
            break;
    }
    bool cutting = chars > PL_OPSCTL_CELL_MAX;
    size_t keep = cutting ? cut : n;
    char *out = malloc(keep + 4);
    if (!out)
        return NULL;
    for (size_t i = 0; i < keep; i++)
        out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
    memcpy(out + keep, cutting ? "..." : "", cutting ? 4 : 1);
    return out;
}

pl_opsctl_table *pl_opsctl_table_new(size_t ncols, const char *const *headers)
{
    pl_opsctl_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->cap = 16;
    t->cells = calloc((t->cap + 1) * ncols, sizeof *t->cells);
    t->right = calloc(ncols, sizeof *t->right);
    if (!t->cells || !t->right) {
        pl_opsctl_table_destroy(t);
        return NULL;
    }
    for (size_t c = 0; c < ncols; c++) {
        if (!(t->cells[c] = cell_text(headers[c]))) {
            pl_opsctl_table_destroy(t);
            return NULL;
        }
    }
    return t;
}

void pl_opsctl_table_align_right(pl_opsctl_table *t, size_t col)
{
    if (t && col < t->ncols)
        t->right[col] = true;
}

int pl_opsctl_table_add(pl_opsctl_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        char **more = realloc(t->cells, (t->cap * 2 + 1) * t->ncols * sizeof *more);
        if (!more)
            return PL_ERR_NOMEM;
        memset(more + (t->cap + 1) * t->ncols, 0, t->cap * t->ncols * sizeof *more);
        t->cells = more;
        t->cap *= 2;
    }
    char **row = t->cells + (t->nrows + 1) * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        if (!(row[c] = cell_text(cells[c]))) {
            for (size_t k = 0; k < c; k++) {
                free(row[k]);
                row[k] = NULL;
            }
            return PL_ERR_NOMEM;
        }
    }
    t->nrows++;
    return PL_OK;
}

size_t pl_opsctl_table_rows(const pl_opsctl_table *t)
{
    return t->nrows;
}

void pl_opsctl_table_print(const pl_opsctl_table *t, FILE *out)
{
    size_t *w = calloc(t->ncols, sizeof *w);
    if (!w)
        return;
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = width(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            int pad = (int)(w[c] - width(s));
            bool last = c + 1 == t->ncols;
            if (c > 0)
                fputs("  ", out);
            if (t->right[c])
                fprintf(out, "%*s%s", pad, "", s);
            else
                fprintf(out, "%s%*s", s, last ? 0 : pad, "");
        }
        fputc('\n', out);
    }
    free(w);
}

void pl_opsctl_table_destroy(pl_opsctl_table *t)
{
    if (!t)
        return;
    if (t->cells)
        for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
            free(t->cells[i]);
    free(t->cells);
    free(t->right);
    free(t);
}

static const char *compact(json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

void pl_opsctl_print_fields(FILE *out, json_object *obj, const char *indent)
{
    size_t keyw = 0;
    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        if (strlen(k) > keyw)
            keyw = strlen(k);
    }
    json_object_object_foreach(obj, key, val)
    {
        fprintf(out, "%s%-*s  ", indent, (int)keyw, key);
        if (!val) {
            fputs("-\n", out);
            continue;
        }
        const char *s =
            json_object_is_type(val, json_type_object) || json_object_is_type(val, json_type_array)
                ? compact(val)
                : json_object_get_string(val);
        for (; s && *s; s++)
            fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
        fputc('\n', out);
    }
}

/* ---- dead letters -------------------------------------------------------------------------- */

/* One JSON value of exactly len bytes (whitespace around it allowed), or NULL. */
static json_object *parse_json(const char *text, size_t len)
{
    return pl_json_parse_whole(text, len, 0, PL_JSON_STRICT);
}

/* The string member key of obj, or NULL when it is missing or not a string. */
static const char *str_member(json_object *obj, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

int pl_opsctl_dlq_parse(const char *payload, size_t len, pl_opsctl_dead_letter *d)
{
    memset(d, 0, sizeof *d);
    d->partition = -1;
    d->offset = -1;
    d->request_bytes = -1;
    json_object *root = parse_json(payload, len), *v = NULL;
    if (!root || !json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "request", &v) ||
        !json_object_is_type(v, json_type_string)) {
        json_object_put(root);
        return PL_ERR_PARSE;
    }
    d->root = root;
    d->request = json_object_get_string(v);
    d->request_len = (size_t)json_object_get_string_len(v);
    const char *s = str_member(root, "error");
    d->error = s ? s : "";
    s = str_member(root, "topic");
    d->topic = s ? s : "";
    if (json_object_object_get_ex(root, "errors", &v) && json_object_is_type(v, json_type_array))
        d->errors = v;
    if (json_object_object_get_ex(root, "partition", &v) && json_object_is_type(v, json_type_int))
        d->partition = json_object_get_int(v);
    if (json_object_object_get_ex(root, "offset", &v) && json_object_is_type(v, json_type_int))
        d->offset = json_object_get_int64(v);
    d->truncated = json_object_object_get_ex(root, "truncated", &v) && json_object_get_boolean(v);
    d->redacted_known = json_object_object_get_ex(root, "redacted", &v);
    d->redacted = d->redacted_known && json_object_get_boolean(v);
    if (d->truncated && json_object_object_get_ex(root, "request_bytes", &v) &&
        json_object_is_type(v, json_type_int))
        d->request_bytes = json_object_get_int64(v);
    /* What the engine says the dead letter is, since it says so (dlq.h); NULL before. */
    d->kind = str_member(root, "kind");
    d->answered = str_member(root, "answered");
    json_object *req = parse_json(d->request, d->request_len);
    if (req && json_object_is_type(req, json_type_object)) {
        d->req = req;
        d->request_id = str_member(req, "request_id");
        d->type = str_member(req, "type");
    } else {
        json_object_put(req);
    }
    return PL_OK;
}

void pl_opsctl_dlq_free(pl_opsctl_dead_letter *d)
{
    json_object_put(d->req);
    json_object_put(d->root);
    memset(d, 0, sizeof *d);
}

char *pl_opsctl_dlq_errors_text(const pl_opsctl_dead_letter *d)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return NULL;
    size_t n = d->errors ? json_object_array_length(d->errors) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(d->errors, i);
        const char *field = json_object_is_type(e, json_type_object) ? str_member(e, "field") : "";
        const char *msg = json_object_is_type(e, json_type_object) ? str_member(e, "error") : "";
        fprintf(f, "%s%s: %s", i ? "; " : "", field ? field : "", msg ? msg : "");
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void format_ms(int64_t ms, char *out, size_t outsize)
{
    if (ms < 0) {
        snprintf(out, outsize, "%s", "");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsize, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The key as it may be printed: card numbers masked (in the J16 mode, as the rest of
 * paylinkctl's output), control characters as '?'. */
static void printable_key(const char *key, size_t key_len, char *out, size_t outsize)
{
    /* Full: "4111<U+0001>1111<U+0001>1111<U+0001>1111" too, which '?' would show. */
    pl_card_scrub_copy_full(out, outsize, key ? key : "", key ? key_len : 0, pl_log_mask_mode());
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/*
 * A malloc'd copy of text (up to its first NUL, as a string member is printed) with card
 * numbers masked in the J16 mode; NULL when out of memory. Full: anyone who can write to the
 * dead-letter topic (or a bug upstream) can put "4111é1111é1111é1111" in an envelope's words,
 * and what dlq list prints ends up in a terminal, a shell history or a ticket.
 */
static char *scrubbed_text(const char *text)
{
    return pl_card_scrub_dup_full(text, strlen(text), pl_log_mask_mode(), NULL);
}

/* A new string of value scrubbed (scrubbed_text), JSON null for NULL or out of memory. */
static json_object *scrubbed_string(const char *value)
{
    char *s = value ? scrubbed_text(value) : NULL;
    json_object *o = s ? json_object_new_string(s) : NULL;
    free(s);
    return o;
}

/*
 * A copy of v (a member of an envelope's "errors") with every string in it, keys too, scrubbed
 * (scrubbed_text), and a number that reads as a card number as its scrubbed text: the table
 * prints a field error's members as text. Other values are shared. NULL for JSON null or out of
 * memory (an out-of-memory member is printed as null, never in clear). The depth is bounded by
 * the parser's.
 */
static json_object *scrubbed_copy(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_string:
        return scrubbed_string(json_object_get_string(v));
    case json_type_int:
    case json_type_double: {
        const char *text = json_object_get_string(v);
        return pl_card_contains_full(text, strlen(text)) ? scrubbed_string(text)
                                                         : json_object_get(v);
    }
    case json_type_object: {
        json_object *o = json_object_new_object();
        json_object_object_foreach(v, key, val)
        {
            char *k = o ? scrubbed_text(key) : NULL;
            if (!k) {
                json_object_put(o);
                return NULL;
            }
            json_object_object_add(o, k, scrubbed_copy(val));
            free(k);
        }
        return o;
    }
    case json_type_array: {
        json_object *a = json_object_new_array();
        size_t n = json_object_array_length(v);
        for (size_t i = 0; a && i < n; i++)
            json_object_array_add(a, scrubbed_copy(json_object_array_get_idx(v, i)));
        return a;
    }
    default:
        return json_object_get(v);
    }
}

static void add_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

/* add_str for a text from the envelope: its card numbers masked (scrubbed_text). */
static void add_scrubbed(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, scrubbed_string(value));
}

/* The word of a kind paylinkctl knows (PL_DLQ_KIND_*), or NULL. */
static const char *dlq_kind_word(pl_opsctl_dlq_kind k)
{
    switch (k) {
    case PL_OPSCTL_DLQ_INVALID:
        return PL_DLQ_KIND_INVALID;
    case PL_OPSCTL_DLQ_CONFLICT:
        return PL_DLQ_KIND_CONFLICT;
    case PL_OPSCTL_DLQ_UNPUBLISHED:
        return PL_DLQ_KIND_UNPUBLISHED;
    case PL_OPSCTL_DLQ_GIVEN_UP:
        return PL_DLQ_KIND_GIVEN_UP;
    case PL_OPSCTL_DLQ_UNREADABLE:
        return PL_DLQ_KIND_UNREADABLE;
    case PL_OPSCTL_DLQ_OTHER:
        break;
    }
    return NULL;
}

/* The kind of d as it may be printed: the word of its kind, or the envelope's own (a word this
 * build does not know) with card numbers masked and control characters as '?', as a key is:
 * anyone can write to the topic. */
static void dlq_kind_text(const pl_opsctl_dead_letter *d, char *out, size_t outsize)
{
    const char *word = dlq_kind_word(pl_opsctl_dlq_kind_of(d));
    if (word)
        snprintf(out, outsize, "%s", word);
    else
        printable_key(d->kind, d->kind ? strlen(d->kind) : 0, out, outsize);
}

json_object *pl_opsctl_dlq_json(const pl_ctlkafka_msg *m, const pl_opsctl_dead_letter *d)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    char ts[32], key[128];
    format_ms(m->timestamp_ms, ts, sizeof ts);
    printable_key(m->key, m->key_len, key, sizeof key);
    json_object_object_add(o, "partition", json_object_new_int(m->partition));
    json_object_object_add(o, "offset", json_object_new_int64(m->offset));
    add_str(o, "timestamp", *ts ? ts : NULL);
    add_str(o, "key", m->key ? key : NULL);
    if (!d) {
        json_object_object_add(o, "envelope", json_object_new_boolean(0));
        return o;
    }
    /* The kind replay goes by: the envelope's word (shown as it may be printed, should it be
     * none of the engine's), else the one its words tell. */
    char kind[64];
    dlq_kind_text(d, kind, sizeof kind);
    add_str(o, "kind", kind);
    json_object_object_add(o, "kind_inferred", json_object_new_boolean(d->kind == NULL));
    char answered[32];
    bool given_up = pl_opsctl_dlq_kind_of(d) == PL_OPSCTL_DLQ_GIVEN_UP && d->answered;
    if (given_up)
        printable_key(d->answered, strlen(d->answered), answered, sizeof answered);
    add_str(o, "answered", given_up ? answered : NULL);
    /* Every text the envelope gives is printed scrubbed: the topic is anyone's to write. */
    add_scrubbed(o, "error", d->error);
    json_object *errs = json_object_new_array();
    size_t n = d->errors ? json_object_array_length(d->errors) : 0;
    for (size_t i = 0; errs && i < n; i++)
        json_object_array_add(errs, scrubbed_copy(json_object_array_get_idx(d->errors, i)));
    json_object_object_add(o, "errors", errs);
    add_scrubbed(o, "request_topic", *d->topic ? d->topic : NULL);
    json_object_object_add(o, "request_partition",
                           d->partition >= 0 ? json_object_new_int(d->partition) : NULL);
    json_object_object_add(o, "request_offset",
                           d->offset >= 0 ? json_object_new_int64(d->offset) : NULL);
    add_scrubbed(o, "request_id", d->request_id);
    add_scrubbed(o, "type", d->type);
    json_object_object_add(o, "truncated", json_object_new_boolean(d->truncated));
    if (d->truncated)
        json_object_object_add(o, "request_bytes", json_object_new_int64(d->request_bytes));
    /* Whether the redaction changed the copy (replay refuses it, --force or not); null for an
     * envelope written before the mark (replay needs --force). Before, only replay said so. */
    json_object_object_add(o, "redacted",
                           d->redacted_known ? json_object_new_boolean(d->redacted) : NULL);
    return o;
}

/* True when member `key` of obj is an object whose `number_key` holds a masked number. */
static bool masked_card(json_object *obj, const char *key, const char *number_key)
{
    json_object *card;
    if (!obj || !json_object_object_get_ex(obj, key, &card) ||
        !json_object_is_type(card, json_type_object))
        return false;
    const char *number = str_member(card, number_key);
    return number && strchr(number, '*');
}

/* The value pl_request_redact puts where it removed one (request.c). */
#define REDACTED_VALUE "***REMOVED***"

/* True when a string value at any depth below v is REDACTED_VALUE. The depth is bounded by
 * the parser's. */
static bool holds_removed(json_object *v)
{
    if (json_object_is_type(v, json_type_string))
        return strcmp(json_object_get_string(v), REDACTED_VALUE) == 0;
    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, key, val)
        {
            (void)key;
            if (holds_removed(val))
                return true;
        }
        return false;
    }
    size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
    for (size_t i = 0; i < n; i++)
        if (holds_removed(json_object_array_get_idx(v, i)))
            return true;
    return false;
}

/*
 * True when a field error of d says validation found a card number where none belongs
 * (pl_request_decode): the copy has that value masked (pl_request_redact), and sent again it
 * would pass validation under the mask — a token authorization approved for an order number
 * that is no order's, its hold left on the card. Read for envelopes written before the engine
 * marked a changed copy "redacted".
 */
static bool card_number_refused(const pl_opsctl_dead_letter *d)
{
    size_t n = d->errors ? json_object_array_length(d->errors) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(d->errors, i);
        const char *msg = json_object_is_type(e, json_type_object) ? str_member(e, "error") : NULL;
        if (msg &&
            (strstr(msg, PL_REQUEST_ERR_CARD_NUMBER) || strstr(msg, PL_REQUEST_ERR_CARD_NOT_TOKEN)))
            return true;
    }
    return false;
}

/*
 * The texts the engine wrote in the envelope before it said its "kind" (common/engine.c:
 * conflict(), publish_failed(), publish_invalid()), read only for envelopes without one. Should
 * they be worded otherwise, a conflict still has its field error (an `invalid` kind, whose row
 * the look-up finds) and an unpublished reply no field errors (a request given up, refused
 * without --force, and its row found as well): the row check is what never lets either through.
 */
#define ENGINE_CONFLICT "request_id reused with different content"
#define ENGINE_CONFLICT_FIELD "idempotency key conflict"
#define ENGINE_UNPUBLISHED "its reply could not be published"
#define ENGINE_INVALID "invalid request"

pl_opsctl_dlq_kind pl_opsctl_dlq_kind_of(const pl_opsctl_dead_letter *d)
{
    /* The engine's word when it wrote one: its words may say anything (a given-up request's
     * are the database's), and an unreadable record's were never told apart by them. */
    if (d->kind) {
        static const struct {
            const char *word;
            pl_opsctl_dlq_kind kind;
        } kinds[] = {{PL_DLQ_KIND_INVALID, PL_OPSCTL_DLQ_INVALID},
                     {PL_DLQ_KIND_CONFLICT, PL_OPSCTL_DLQ_CONFLICT},
                     {PL_DLQ_KIND_UNPUBLISHED, PL_OPSCTL_DLQ_UNPUBLISHED},
                     {PL_DLQ_KIND_GIVEN_UP, PL_OPSCTL_DLQ_GIVEN_UP},
                     {PL_DLQ_KIND_UNREADABLE, PL_OPSCTL_DLQ_UNREADABLE}};
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strcmp(d->kind, kinds[i].word) == 0)
                return kinds[i].kind;
        return PL_OPSCTL_DLQ_OTHER;
    }
    if (strcmp(d->error, ENGINE_CONFLICT) == 0)
        return PL_OPSCTL_DLQ_CONFLICT;
    if (strncmp(d->error, ENGINE_UNPUBLISHED, strlen(ENGINE_UNPUBLISHED)) == 0)
        return PL_OPSCTL_DLQ_UNPUBLISHED;
    size_t n = d->errors ? json_object_array_length(d->errors) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(d->errors, i);
        const char *msg = json_object_is_type(e, json_type_object) ? str_member(e, "error") : NULL;
        if (msg && strstr(msg, ENGINE_CONFLICT_FIELD))
            return PL_OPSCTL_DLQ_CONFLICT;
    }
    return n > 0 || strcmp(d->error, ENGINE_INVALID) == 0 ? PL_OPSCTL_DLQ_INVALID
                                                          : PL_OPSCTL_DLQ_GIVEN_UP;
}

/* How the worker answered a request it gave up, by the envelope's "answered". */
typedef enum given_up_answer { ANSWERED_UNTOLD, ANSWERED_ERROR, ANSWERED_TIMEOUT } given_up_answer;

static given_up_answer answered_of(const pl_opsctl_dead_letter *d)
{
    if (!d->answered)
        return ANSWERED_UNTOLD;
    return strcmp(d->answered, "error") == 0     ? ANSWERED_ERROR
           : strcmp(d->answered, "timeout") == 0 ? ANSWERED_TIMEOUT
                                                 : ANSWERED_UNTOLD;
}

int pl_opsctl_replay_plan(const pl_opsctl_dead_letter *d, const char *request_topic,
                          const char *key, size_t key_len, bool force, pl_opsctl_replay *p,
                          char *errstr, size_t errstr_size)
{
    memset(p, 0, sizeof *p);
    pl_opsctl_dlq_kind kind = pl_opsctl_dlq_kind_of(d);
    /* First of all: the copy of a record the consumer could not read holds no request (its ""
     * would only be refused below as no JSON object, which tells the operator nothing). Where
     * it was is all there is to go on, and only the upstream system has the request. */
    if (kind == PL_OPSCTL_DLQ_UNREADABLE) {
        char where[160];
        /* The envelope's topic is anyone's text, printed as dlq list prints it. */
        char *topic = *d->topic ? scrubbed_text(d->topic) : NULL;
        if (d->partition >= 0 && d->offset >= 0)
            snprintf(where, sizeof where, "partition %d, offset %lld of %s", (int)d->partition,
                     (long long)d->offset,
                     !*d->topic ? request_topic
                     : topic    ? topic
                                : "(out of memory)");
        else
            snprintf(where, sizeof where, "the envelope does not say where");
        free(topic);
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "it is the copy of a record the worker could not read (%s): it holds "
                          "no request, so there is nothing to send; the upstream system must "
                          "send that request again (which one it was is to be found from where "
                          "it was; the error, librdkafka's words, names the batch, whose other "
                          "records may have gone with it)",
                          where);
    }
    /* A newer engine's kind: what a replay of it would do is not known here. */
    if (kind == PL_OPSCTL_DLQ_OTHER) {
        char word[64];
        dlq_kind_text(d, word, sizeof word);
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "its kind \"%s\" is none this paylinkctl knows (a newer worker wrote "
                          "it): it is not sent, --force or not; use a paylinkctl as new as the "
                          "worker",
                          word);
    }
    if (d->truncated)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "its request was truncated to fit the dead-letter topic (%lld bytes "
                          "before): it cannot be sent again as it was",
                          (long long)d->request_bytes);
    if (*d->topic && strcmp(d->topic, request_topic) != 0)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "it came from another topic than %s",
                          request_topic);
    if (key && key_len > 0) {
        if (key_len >= sizeof p->key)
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "its key is longer than %zu bytes", sizeof p->key - 1);
        memcpy(p->key, key, key_len);
        p->key[key_len] = '\0';
        p->key_source = "dead_letter";
    } else if (d->req && pl_reqbuild_key(d->req, p->key, sizeof p->key) == PL_OK) {
        p->key_source = "request";
    } else {
        p->key[0] = '\0';
        p->key_source = "none";
    }
    p->card_masked =
        masked_card(d->req, "card", "number") || masked_card(d->req, "svc", "card_number");
    /* Without a request_id its row cannot be looked for, and the worker refuses it again. */
    if (!d->req)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "its request is not a JSON object (the copy of such a text has every "
                          "digit masked): the worker would refuse it again");
    if (!pl_request_id_ok(d->request_id ? d->request_id : ""))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "its request has no request_id the contract accepts: the worker would "
                          "refuse it again");
    switch (kind) {
    case PL_OPSCTL_DLQ_CONFLICT:
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "it is the copy of an idempotency conflict: request_id %s was already "
                          "used for another request, whose row stands; sent again it would only "
                          "publish another `invalid` reply under that request_id",
                          d->request_id);
    case PL_OPSCTL_DLQ_UNPUBLISHED:
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "request %s was recorded and answered, only its reply could not be "
                          "published: the outcome is in its row (paylinkctl order show), which a "
                          "copy sent again could not change",
                          d->request_id);
    case PL_OPSCTL_DLQ_GIVEN_UP:
    case PL_OPSCTL_DLQ_INVALID:
    case PL_OPSCTL_DLQ_UNREADABLE: /* (refused above) */
    case PL_OPSCTL_DLQ_OTHER:
        break;
    }
    /* A copy the redaction changed is never the request that was sent, whatever the kind, and
     * --force does not override it: the most telling reason first. */
    if (p->card_masked)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "the card number in the dead-letter copy is masked (and any CVV "
                          "removed): the worker would refuse it again, or take it for another "
                          "request under request_id %s; the upstream system must send it anew "
                          "with the card",
                          d->request_id);
    if (holds_removed(d->req))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "the dead-letter copy has values removed (" REDACTED_VALUE
                          ": 3-D Secure results or card fields): sent again it would not be the "
                          "request the upstream system sent; it must send it anew");
    if (card_number_refused(d))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "request %s was refused for a card number in a field that holds none, "
                          "which the dead-letter copy has masked: sent again it would pass as a "
                          "request the upstream system never sent (a masked order number, an "
                          "authorization approved for no order and its hold left on the card); "
                          "it must send it anew",
                          d->request_id);
    if (d->redacted)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "the dead-letter copy of request %s was changed by its redaction (a "
                          "card number masked or a security code removed, in some field): sent "
                          "again it would not be the request the upstream system sent (an "
                          "authorization without its CVV, or approved for a masked order "
                          "number); it must send it anew",
                          d->request_id);
    /* Written before the envelope said "redacted": a removed CVV (card.cvv deleted, a security
     * code blanked) leaves no trace the checks above could see, and sent again the request
     * would go without it. Only whoever compares it with what the upstream system sent can tell
     * (one refused for anything else, a given-up one too, is asked about here). */
    if (!d->redacted_known && !force) {
        p->needs_force = true;
        return pl_err_set(
            PL_ERR_INVALID, errstr, errstr_size,
            "the dead-letter envelope of request %s predates the \"redacted\" mark: its copy may "
            "have had a CVV or another security code removed, which nothing in it shows, and "
            "sent again it would go without it%s; compare it with what the upstream system sent "
            "(or have it sent anew), then --force sends it, provided its request_id has no row",
            d->request_id,
            kind != PL_OPSCTL_DLQ_GIVEN_UP ? ""
            : answered_of(d) == ANSWERED_ERROR
                ? "; the worker also gave it up (answered `error`: nothing can have reached the "
                  "bureau): an upstream system that sent it again under another request_id "
                  "would be charged twice, so ask it first"
            : answered_of(d) == ANSWERED_TIMEOUT
                ? "; the worker also gave it up (answered `timeout`: its outcome is unknown, "
                  "for an operator to settle first): an upstream system that sent it again "
                  "under another request_id would be charged twice, so ask it first"
                : "; the worker also gave it up (answered `error` or `timeout`): an upstream "
                  "system that sent it again under another request_id would be charged twice, "
                  "so ask it first");
    }
    if (kind == PL_OPSCTL_DLQ_GIVEN_UP && !force) {
        p->needs_force = true;
        switch (answered_of(d)) {
        case ANSWERED_ERROR:
            /* Nothing was written and no call made (the engine's job_fail, `unsent`): sent
             * again it would be charged, as it should, unless the upstream system has sent it
             * again meanwhile under another request_id, taking the `error` as final. */
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "the worker gave request %s up (it was not refused as invalid) "
                              "and answered it `error`: nothing can have reached the bureau, but "
                              "an upstream system that took that `error` as final may have sent "
                              "it again under another request_id, and this copy would then be "
                              "charged twice, which paylink cannot see; ask the upstream system "
                              "first, then --force sends it, provided its request_id has no row",
                              d->request_id);
        case ANSWERED_TIMEOUT:
            /* The bureau may have acted: what it did is to be known before anything is sent
             * again (its row, pl_opsctl_replay_check_row, refuses it all the same). */
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "the worker gave request %s up (it was not refused as invalid) "
                              "and answered it `timeout`: its outcome is unknown (the bureau may "
                              "have acted), and an operator must settle it first (its required "
                              "response, paylinkctl wreq show %s, or, without one, its row and "
                              "the bureau's records), not send it again; --force sends it only "
                              "provided its request_id has no row, and a `timeout` always has "
                              "one, which nothing overrides",
                              d->request_id, d->request_id);
        case ANSWERED_UNTOLD:
            break;
        }
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "the worker gave request %s up (it was not refused as invalid): it was "
                          "answered `error` (not sent to the bureau) or `timeout` (outcome "
                          "unknown), and an upstream system that has sent it again under another "
                          "request_id would be charged twice, which paylink cannot see; ask the "
                          "upstream system first, then --force sends it, provided its request_id "
                          "has no row (a `timeout` always has one, which nothing overrides)",
                          d->request_id);
    }
    return PL_OK;
}

/* ---- output helpers ------------------------------------------------------------------------- */

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "paylinkctl: %s: %s\n", what, why);
    return PL_OPSCTL_EXIT_ERROR;
}

static void print_json_line(json_object *o)
{
    const char *s = compact(o);
    if (s)
        printf("%s\n", s);
}

/* Member key of obj as text for a table cell ("" for null or missing). */
static const char *jtext(json_object *obj, const char *key)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !v)
        return "";
    return json_object_get_string(v);
}

static long long jint(json_object *obj, const char *key)
{
    json_object *v;
    return obj && json_object_object_get_ex(obj, key, &v) && v ? json_object_get_int64(v) : 0;
}

/* "120.00 USD", "120.00", or "". */
static void amount_cell(json_object *obj, const char *amount_key, char *out, size_t outsize)
{
    const char *a = jtext(obj, amount_key), *c = jtext(obj, "currency");
    snprintf(out, outsize, "%s%s%s", a, *a && *c ? " " : "", *a ? c : "");
}

/* Runs a statement whose rows are one JSON text each; NULL after saying why. */
static PGresult *query(PGconn *db, const char *what, const char *sql, int n,
                       const char *const *params)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "paylinkctl: %s failed: %s", what, PQerrorMessage(db));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Row i, column c of r parsed as JSON (the caller puts it); NULL when it is not JSON. */
static json_object *row_json(const PGresult *r, int i, int c)
{
    const char *s = PQgetvalue(r, i, c);
    return parse_json(s, strlen(s));
}

/* Prints a table and frees it, or a line saying there was nothing. */
static void table_done(pl_opsctl_table *t, const char *none)
{
    if (!t)
        return;
    if (pl_opsctl_table_rows(t) > 0)
        pl_opsctl_table_print(t, stdout);
    else
        printf("%s\n", none);
    pl_opsctl_table_destroy(t);
}

/* ---- wreq ---------------------------------------------------------------------------------- */

/* TRANSACTION_ID: the record's RequestID an escalation kept (record_request_id), which the
 * reason's step may not show whole in its cell. */
static const char *const WREQ_HEADERS[] = {
    "ID",     "AGE",    "WORKER",  "BUREAU",    "OPERATION",      "REQUEST_ID",  "ORDER", "AMOUNT",
    "REASON", "STATUS", "QUERIES", "NEXT_STEP", "TRANSACTION_ID", "LAST_RESULT", "DETAIL"};

/* "resolved approved (operator)", or the status as it is. */
static void status_cell(json_object *o, char *out, size_t outsize)
{
    const char *how = jtext(o, "resolved_how");
    snprintf(out, outsize, "%s%s%s%s%s%s", jtext(o, "status"), *jtext(o, "resolution") ? " " : "",
             jtext(o, "resolution"), *how ? " (" : "", how, *how ? ")" : "");
}

/* An open row's next step ("due", "in 5m00s"), "taken" while a resolver holds it, "operator"
 * for an escalated one; "" otherwise. */
static void next_step_cell(json_object *o, char *out, size_t outsize)
{
    const char *status = jtext(o, "status");
    char in[32];
    if (*jtext(o, "lease_owner"))
        snprintf(out, outsize, "taken");
    else if (strcmp(status, "escalated") == 0)
        snprintf(out, outsize, "operator");
    else if (strcmp(status, "open") != 0 || !*jtext(o, "next_step_in_s"))
        snprintf(out, outsize, "%s", "");
    else if (jint(o, "next_step_in_s") <= 0)
        snprintf(out, outsize, "due");
    else {
        pl_opsctl_format_age(jint(o, "next_step_in_s"), in, sizeof in);
        snprintf(out, outsize, "in %s", in);
    }
}

static int wreq_row(pl_opsctl_table *t, json_object *o)
{
    char age[32], order[64], amount[48], status[64], next[48];
    pl_opsctl_format_age(jint(o, "age_s"), age, sizeof age);
    snprintf(order, sizeof order, "%s-%s-%s", jtext(o, "company"), jtext(o, "order"),
             jtext(o, "pay_seq"));
    amount_cell(o, "amount", amount, sizeof amount);
    status_cell(o, status, sizeof status);
    next_step_cell(o, next, sizeof next);
    const char *cells[] = {jtext(o, "id"),
                           age,
                           jtext(o, "worker"),
                           jtext(o, "service"),
                           jtext(o, "operation"),
                           jtext(o, "request_id"),
                           order,
                           amount,
                           jtext(o, "reason"),
                           status,
                           jtext(o, "queries"),
                           next,
                           jtext(o, "record_request_id"),
                           jtext(o, "last_query_result"),
                           jtext(o, "detail")};
    return pl_opsctl_table_add(t, cells);
}

static int cmd_wreq_list(PGconn *db, const pl_opsctl_opts *o)
{
    char older[32], limit[32];
    snprintf(older, sizeof older, "%lld", o->older_than_s);
    snprintf(limit, sizeof limit, "%ld", o->limit + 1);
    const char *p[] = {o->bureau, o->worker, o->older_than_s >= 0 ? older : NULL, o->status, limit};
    PGresult *r = query(db, "reading the required responses", SQL_WREQ_LIST, 5, p);
    if (!r)
        return PL_OPSCTL_EXIT_ERROR;
    int n = PQntuples(r), status = PL_OPSCTL_EXIT_ERROR;
    bool more = n > o->limit;
    if (more)
        n = (int)o->limit;
    pl_opsctl_table *t =
        o->json ? NULL
                : pl_opsctl_table_new(sizeof WREQ_HEADERS / sizeof *WREQ_HEADERS, WREQ_HEADERS);
    if (!o->json && !t)
        goto out;
    pl_opsctl_table_align_right(t, 0);
    pl_opsctl_table_align_right(t, 1);
    pl_opsctl_table_align_right(t, 7);
    pl_opsctl_table_align_right(t, 10);
    for (int i = 0; i < n; i++) {
        json_object *row = row_json(r, i, 0);
        if (!row)
            goto out;
        int rc = 0;
        if (o->json)
            print_json_line(row);
        else
            rc = wreq_row(t, row);
        json_object_put(row);
        if (rc != 0)
            goto out;
    }
    table_done(t, "(no required responses)");
    t = NULL;
    if (more)
        fprintf(stderr,
                "paylinkctl: more than %ld required responses match: the oldest %ld "
                "are shown (--limit)\n",
                o->limit, o->limit);
    status = PL_OPSCTL_EXIT_OK;
out:
    pl_opsctl_table_destroy(t);
    PQclear(r);
    if (status != PL_OPSCTL_EXIT_OK)
        fputs("paylinkctl: wreq list: out of memory or an unreadable row\n", stderr);
    return status;
}

static const char *trans_sql(const char *worker)
{
    if (strcmp(worker, "auth") == 0)
        return SQL_TRANS_AUTH;
    if (strcmp(worker, "deposit") == 0)
        return SQL_TRANS_DEPOSIT;
    if (strcmp(worker, "reversal") == 0)
        return SQL_TRANS_REVERSAL;
    if (strcmp(worker, "svc") == 0)
        return SQL_TRANS_SVC;
    return NULL;
}

static const char *history_sql(const char *worker)
{
    if (strcmp(worker, "auth") == 0)
        return SQL_HISTORY_AUTH;
    if (strcmp(worker, "deposit") == 0)
        return SQL_HISTORY_DEPOSIT;
    if (strcmp(worker, "reversal") == 0)
        return SQL_HISTORY_REVERSAL;
    return NULL; /* svc_trans has no history table */
}

static const char *const HISTORY_HEADERS[] = {
    "TIME",           "TABLE", "ID", "EVENT", "STATUS", "AMOUNT", "VENDOR_RESPONSE",
    "TRANSACTION_ID", "NOTE"};

static void print_show(json_object *rr, json_object *trans, json_object *history)
{
    printf("required response %s (%s)\n", jtext(rr, "id"), jtext(rr, "status"));
    pl_opsctl_print_fields(stdout, rr, "  ");
    if (trans) {
        printf("\ntransaction (%s)\n", jtext(trans, "table"));
        pl_opsctl_print_fields(stdout, trans, "  ");
    } else {
        printf("\ntransaction: no row of request %s in the %s worker's table\n",
               jtext(rr, "request_id"), jtext(rr, "worker"));
    }
    printf("\nhistory\n");
    pl_opsctl_table *t =
        pl_opsctl_table_new(sizeof HISTORY_HEADERS / sizeof *HISTORY_HEADERS, HISTORY_HEADERS);
    if (!t)
        return;
    pl_opsctl_table_align_right(t, 5);
    size_t n = json_object_array_length(history);
    for (size_t i = 0; i < n; i++) {
        json_object *h = json_object_array_get_idx(history, i);
        char amount[48];
        amount_cell(h, "amount", amount, sizeof amount);
        const char *cells[] = {jtext(h, "at"),
                               jtext(h, "table"),
                               jtext(h, "id"),
                               jtext(h, "event"),
                               jtext(h, "status"),
                               amount,
                               jtext(h, "vendor_response"),
                               jtext(h, "transaction_id"),
                               jtext(h, "note")};
        if (pl_opsctl_table_add(t, cells) != PL_OK)
            break;
    }
    table_done(t, "  (no history rows)");
}

/* The required response ID names, as its JSON; NULL after saying why. *worker, *rid: copies. */
static json_object *find_required_response(PGconn *db, const char *id, char *worker,
                                           size_t worker_size, char *rid, size_t rid_size)
{
    /* An id is a bigint: 18 digits at most here, so the cast never fails. */
    size_t n = strlen(id);
    bool numeric = n <= 18 && strspn(id, "0123456789") == n;
    const char *p[] = {numeric ? id : NULL, id};
    PGresult *r = query(db, "reading the required response", SQL_WREQ_FIND, 2, p);
    if (!r)
        return NULL;
    json_object *rr = NULL;
    int rows = PQntuples(r);
    bool by_id = rows > 0 && PQgetvalue(r, 0, 3)[0] == 't';
    if (rows == 0) {
        fputs("paylinkctl: wreq show: no required response has that id or request_id\n", stderr);
    } else if (rows > 1 && !by_id) {
        fputs("paylinkctl: wreq show: that request_id has required responses of several "
              "workers; give one of their ids:",
              stderr);
        for (int i = 0; i < rows; i++)
            fprintf(stderr, " %s (%s)", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        fputc('\n', stderr);
    } else {
        snprintf(worker, worker_size, "%s", PQgetvalue(r, 0, 1));
        snprintf(rid, rid_size, "%s", PQgetvalue(r, 0, 2));
        rr = row_json(r, 0, 4);
        if (!rr)
            fputs("paylinkctl: wreq show: unreadable row\n", stderr);
    }
    PQclear(r);
    return rr;
}

static int cmd_wreq_show(PGconn *db, const pl_opsctl_opts *o)
{
    char worker[32], rid[64];
    int status = PL_OPSCTL_EXIT_ERROR;
    json_object *trans = NULL, *history = json_object_new_array();
    json_object *rr = find_required_response(db, o->id, worker, sizeof worker, rid, sizeof rid);
    if (!rr || !history)
        goto out;
    const char *p[] = {rid};
    const char *sql = trans_sql(worker);
    if (sql) {
        PGresult *r = query(db, "reading the transaction", sql, 1, p);
        if (!r)
            goto out;
        if (PQntuples(r) > 0)
            trans = row_json(r, 0, 0);
        PQclear(r);
    }
    if ((sql = history_sql(worker)) != NULL) {
        PGresult *r = query(db, "reading the history", sql, 1, p);
        if (!r)
            goto out;
        for (int i = 0; i < PQntuples(r); i++) {
            json_object *h = row_json(r, i, 0);
            if (h)
                json_object_array_add(history, h);
        }
        PQclear(r);
    }
    if (o->json) {
        json_object *all = json_object_new_object();
        if (!all)
            goto out;
        json_object_object_add(all, "required_response", json_object_get(rr));
        json_object_object_add(all, "transaction", json_object_get(trans));
        json_object_object_add(all, "history", json_object_get(history));
        print_json_line(all);
        json_object_put(all);
    } else {
        print_show(rr, trans, history);
    }
    status = PL_OPSCTL_EXIT_OK;
out:
    json_object_put(rr);
    json_object_put(trans);
    json_object_put(history);
    return status;
}

/* ---- paylinkctl's resolver ---------------------------------------------------------------- */

/* How long a final reply may take to be acknowledged before its publish counts as failed (the
 * row then stays reply_pending for the worker's resolver). */
#define PUBLISH_MS 15000
/* How long the look at the reply topic before a change may take. */
#define KAFKA_READY_MS 10000

void pl_opsctl_owner(const char *name, const char *host, char *out, size_t outsize)
{
    static const char prefix[] = "paylinkctl:";
    if (outsize == 0)
        return;
    size_t cap = outsize - 1 < PL_OPSCTL_OWNER_MAX ? outsize - 1 : PL_OPSCTL_OWNER_MAX;
    size_t room = cap > sizeof prefix - 1 ? cap - (sizeof prefix - 1) : 0;
    size_t nlen = utf8_cut(name ? name : "", room);
    size_t hroom = room - nlen; /* '@' and the host */
    size_t hlen = host && *host && hroom >= 2 ? utf8_cut(host, hroom - 1) : 0;
    snprintf(out, outsize, "%.*s%.*s%s%.*s",
             (int)(cap < sizeof prefix - 1 ? cap : sizeof prefix - 1), prefix, (int)nlen,
             name ? name : "", hlen ? "@" : "", (int)hlen, hlen ? host : "");
}

const char *pl_opsctl_default_name(void)
{
    const char *user = getenv("USER");
    char err[160];
    return user && pl_opsctl_check_name("USER", user, err, sizeof err) == PL_OK ? user : "operator";
}

int pl_opsctl_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz)
{
    pl_opsctl_publisher *p = arg;
    int rc = PL_ERR_CONFIG;
    if (!p->brokers || !*p->brokers)
        snprintf(err, errsz, "no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers");
    else
        rc = pl_ctlkafka_produce(p->brokers, topic, key && *key ? key : NULL, payload,
                                 strlen(payload), PUBLISH_MS, NULL, NULL, err, errsz);
    if (rc == PL_OK) {
        p->published++;
    } else {
        p->failed++;
        snprintf(p->error, sizeof p->error, "%s", err);
    }
    return rc;
}

pl_resolver *pl_opsctl_resolver_new(const char *conninfo, const char *prefix, const char *name,
                                    pl_opsctl_publisher *pub, char *err, size_t errsz)
{
    if (!conninfo || !*conninfo) {
        snprintf(err, errsz, "no database: set PAYLINK_DB or give --db");
        return NULL;
    }
    char host[256] = "", owner[PL_OPSCTL_OWNER_MAX + 1];
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    pl_opsctl_owner(name, host, owner, sizeof owner);
    const char *ca = getenv("PAYLINK_CA_FILE");
    /* The resolver's own lines (a failed publish, a lost connection, an escalation) go to
     * stderr beside paylinkctl's; its progress is what paylinkctl prints. */
    pl_log_init("paylinkctl", stderr);
    pl_log_set_level(PL_LOG_WARN);
    pl_resolver_config cfg = {.conninfo = conninfo,
                              .worker = "",
                              .owner = owner,
                              .topic_prefix = prefix && *prefix ? prefix : "paylink",
                              .ca_file = ca && *ca ? ca : NULL,
                              .publish = pl_opsctl_publish,
                              .publish_arg = pub};
    return pl_resolver_new(&cfg, err, errsz);
}

int pl_opsctl_kafka_ready(const char *brokers, const char *prefix, const char *worker, char *err,
                          size_t errsz)
{
    char topic[256];
    if (!brokers || !*brokers)
        return pl_err_set(PL_ERR_CONFIG, err, errsz,
                          "no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers");
    if (pl_reqbuild_topic(prefix, worker, PL_TOPIC_REPLY, topic, sizeof topic) != PL_OK)
        return pl_err_set(PL_ERR_CONFIG, err, errsz, "no reply topic for worker %s", worker);
    pl_ctlkafka_reader *reader = NULL;
    int rc = pl_ctlkafka_reader_open(brokers, topic, PL_CTLKAFKA_FROM_END, KAFKA_READY_MS, &reader,
                                     err, errsz);
    pl_ctlkafka_reader_destroy(reader);
    return rc == PL_OK ? PL_OK : PL_ERR_KAFKA;
}

void pl_opsctl_resolve_outcome(const pl_opsctl_opts *o, pl_resolve_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->status = o->outcome;
    out->has_amount = o->has_amount && outcome_holds(o->outcome);
    /* A reject's or soft decline's amount is what the issuer holds, which its reversal asks
     * for, not an amount approved: has_amount stays false, as the resolver maps such an answer
     * of the bureau. */
    out->amount = o->has_amount && (out->has_amount || outcome_refused_but_held(o)) ? o->amount : 0;
    snprintf(out->transaction_id, sizeof out->transaction_id, "%s",
             o->transaction_id ? o->transaction_id : "");
    snprintf(out->auth_number, sizeof out->auth_number, "%s",
             o->auth_number && (outcome_holds(o->outcome) || o->outcome == PL_ST_REJECTED)
                 ? o->auth_number
                 : "");
    snprintf(out->vendor_response, sizeof out->vendor_response, "%s",
             o->vendor_response && o->outcome == PL_ST_DECLINED ? o->vendor_response : "");
}

json_object *pl_opsctl_wreq_read(PGconn *db, int64_t id, bool *failed)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    const char *p[] = {sid};
    *failed = false;
    PGresult *r = query(db, "reading the required response", SQL_WREQ_BY_ID, 1, p);
    if (!r) {
        *failed = true;
        return NULL;
    }
    json_object *rr = PQntuples(r) == 1 ? row_json(r, 0, 0) : NULL;
    *failed = PQntuples(r) == 1 && !rr;
    PQclear(r);
    return rr;
}

void pl_opsctl_wreq_state(json_object *rr, char *out, size_t outsize)
{
    const char *status = jtext(rr, "status"), *last = jtext(rr, "last_query_result");
    if (strcmp(status, "resolved") == 0) {
        const char *how = jtext(rr, "resolved_how");
        snprintf(out, outsize, "resolved %s%s%s%s", jtext(rr, "resolution"), *how ? " (" : "", how,
                 *how ? ")" : "");
    } else if (strcmp(status, "open") == 0) {
        char next[48];
        next_step_cell(rr, next, sizeof next);
        snprintf(out, outsize, "still open: %s%s%s", *last ? last : "not asked yet",
                 *next ? "; next step " : "", next);
    } else if (strcmp(status, "escalated") == 0) {
        snprintf(out, outsize, "escalated: %s", *last ? last : "left to an operator");
    } else {
        snprintf(out, outsize, "%s", *status ? status : "gone");
    }
}

/* ---- wreq resolve, wreq retry -------------------------------------------------------------- */

/* The exit status of a resolver call's result. */
static int exit_of(int rc)
{
    if (rc == PL_OK)
        return PL_OPSCTL_EXIT_OK;
    return rc == PL_ERR_DB || rc == PL_ERR_KAFKA ? PL_OPSCTL_EXIT_UNAVAILABLE
                                                 : PL_OPSCTL_EXIT_ERROR;
}

static int unavailable(const char *what, const char *why)
{
    fprintf(stderr, "paylinkctl: %s: %s\n", what, why);
    return PL_OPSCTL_EXIT_UNAVAILABLE;
}

/* "17 (auth t-1, CYB)": the row as people name it. */
static void rr_name(json_object *rr, int64_t id, char *out, size_t outsize)
{
    if (!rr)
        snprintf(out, outsize, "%lld", (long long)id);
    else
        snprintf(out, outsize, "%s (%s %s, %s)", jtext(rr, "id"), jtext(rr, "worker"),
                 jtext(rr, "request_id"), jtext(rr, "service"));
}

/* Says, after a refusal, that a row was resolved already, and how. */
static void say_resolved_already(const char *what, json_object *rr)
{
    if (!rr || strcmp(jtext(rr, "status"), "resolved") != 0)
        return;
    fprintf(stderr,
            "paylinkctl: %s: required response %s was resolved already: %s%s%s by %s at %s\n", what,
            jtext(rr, "id"), jtext(rr, "resolution"), *jtext(rr, "resolved_how") ? " via " : "",
            jtext(rr, "resolved_how"), jtext(rr, "resolved_by"), jtext(rr, "resolved_at"));
}

/* What came of the final reply, for people: "" when nothing was published. */
static void publish_note(const pl_opsctl_publisher *pub, const char *worker, const char *topic,
                         char *out, size_t outsize)
{
    if (pub->failed)
        snprintf(out, outsize,
                 "; the final reply could not be published now (%s): paylink-%s's resolver "
                 "publishes it",
                 pub->error, worker);
    else if (pub->published)
        snprintf(out, outsize, "; final reply published on %s", topic);
    else
        out[0] = '\0';
}

/* Checks the row before a change that publishes; 0 to go on, else the exit status. */
static int before_change(const char *what, json_object *rr, const char *brokers, const char *prefix)
{
    char err[512];
    const char *status = jtext(rr, "status");
    if (strcmp(status, "open") != 0 && strcmp(status, "escalated") != 0)
        return 0; /* the resolver refuses it with its own words */
    if (pl_opsctl_kafka_ready(brokers, prefix, jtext(rr, "worker"), err, sizeof err) != PL_OK) {
        fprintf(stderr,
                "paylinkctl: %s: Kafka cannot take the final reply now (%s): nothing was "
                "changed\n",
                what, err);
        return PL_OPSCTL_EXIT_UNAVAILABLE;
    }
    return 0;
}

int pl_opsctl_resolve_amount(const pl_opsctl_opts *o, const char *sent, char *out, size_t outsize)
{
    int64_t amount = 0;
    bool has_sent = sent && pl_money_parse_decimal(sent, &amount) == PL_OK;
    out[0] = '\0';
    if (o->has_amount && has_sent && o->amount > amount)
        return PL_ERR_INVALID;
    if (outcome_holds(o->outcome) && (o->has_amount || has_sent) &&
        pl_money_format(o->has_amount ? o->amount : amount, out, outsize) != PL_OK)
        out[0] = '\0';
    return PL_OK;
}

/* The --json object of wreq resolve and retry (see opsctl.h). */
static void print_change_json(const pl_opsctl_opts *o, json_object *before, json_object *after,
                              int rc, const pl_opsctl_publisher *pub, const char *amount,
                              const char *topic, const char *msg)
{
    bool resolve = o->cmd == PL_OPSCTL_WREQ_RESOLVE;
    json_object *j = json_object_new_object();
    if (!j)
        return;
    json_object_object_add(j, "id", json_object_new_int64(o->rr_id));
    add_str(j, "request_id", jtext(before, "request_id"));
    add_str(j, "worker", jtext(before, "worker"));
    if (resolve) {
        json_object_object_add(j, "applied", json_object_new_boolean(rc == PL_OK));
        add_str(j, "outcome", pl_status_name(o->outcome));
        add_str(j, "amount", *amount ? amount : NULL);
        add_str(j, "by", o->by);
        json_object_object_add(j, "published", json_object_new_boolean(pub->published > 0));
        add_str(j, "reply_topic", topic);
    } else {
        json_object_object_add(j, "now", json_object_new_boolean(o->now));
        json_object_object_add(j, "done", json_object_new_boolean(rc == PL_OK));
        json_object_object_add(
            j, "published",
            pub->published || pub->failed ? json_object_new_boolean(pub->published > 0) : NULL);
    }
    add_str(j, "message", msg);
    json_object_object_add(j, "required_response", json_object_get(after));
    print_json_line(j);
    json_object_put(j);
}

/* The line for people after a change that was made. */
static void print_change_line(const pl_opsctl_opts *o, json_object *before, json_object *after,
                              const pl_opsctl_publisher *pub, const char *amount, const char *topic)
{
    char name[160], note[400], state[400];
    const char *worker = jtext(before, "worker"), *currency = jtext(before, "currency");
    rr_name(after ? after : before, o->rr_id, name, sizeof name);
    publish_note(pub, worker, topic, note, sizeof note);
    if (o->cmd == PL_OPSCTL_WREQ_RESOLVE) {
        printf("required response %s: resolved %s%s%s%s%s by %s (operator)%s\n", name,
               pl_status_name(o->outcome), *amount ? " " : "", amount,
               *amount && *currency ? " " : "", *amount ? currency : "", o->by, note);
    } else if (!o->now) {
        printf("required response %s is open again and due now: paylink-%s's resolver takes its "
               "next step\n",
               name, worker);
    } else {
        pl_opsctl_wreq_state(after, state, sizeof state);
        printf("required response %s: %s%s\n", name, state, note);
    }
}

/*
 * wreq resolve and wreq retry: the row read first (a missing one refused here), Kafka checked
 * when the call may publish, the resolver's call, the row read again for what is printed.
 */
static int cmd_wreq_change(PGconn *db, const pl_opsctl_opts *o, const char *conninfo,
                           const char *brokers, const char *prefix)
{
    bool resolve = o->cmd == PL_OPSCTL_WREQ_RESOLVE;
    const char *what = resolve ? "wreq resolve" : "wreq retry";
    char err[512], msg[700] = "", topic[256] = "", amount[48] = "", sent[48] = "";
    bool failed;
    json_object *after = NULL, *before = pl_opsctl_wreq_read(db, o->rr_id, &failed);
    if (failed)
        return unavailable(what, "the required response cannot be read");
    if (!before)
        return fail(what, "no required response has that id");
    /* Only resolve and a step here publish: without --now the worker's resolver takes the row. */
    int status = resolve || o->now ? before_change(what, before, brokers, prefix) : 0;
    if (status != 0)
        goto out;
    /* What the call sent, unless the operator says less was approved or is held (never more):
     * read by the resolver's own rule, which its check applies too. The row's amount is the
     * request's when a redelivery opened it, and a reversal went for more (its claim on the
     * authorization, or a timeout reversal's authorization's amount): an --amount within what
     * was sent was refused here, and the line named the request's amount. */
    if (resolve) {
        int src = pl_resolver_amount_sent(db, o->rr_id, sent, sizeof sent);
        if (src == PL_ERR_NOTFOUND) {
            status = fail(what, "no required response has that id");
            goto out;
        }
        if (src != PL_OK) {
            status = unavailable(what, "what the required response sent cannot be read");
            goto out;
        }
        if (pl_opsctl_resolve_amount(o, sent, amount, sizeof amount) != PL_OK) {
            char why[160];
            snprintf(why, sizeof why, "--amount is more than the %s sent: nothing was changed",
                     sent);
            status = fail(what, why);
            goto out;
        }
    }
    pl_opsctl_publisher pub = {.brokers = brokers};
    pl_resolver *r = pl_opsctl_resolver_new(
        conninfo, prefix, resolve ? o->by : pl_opsctl_default_name(), &pub, err, sizeof err);
    if (!r) {
        status = fail(what, err);
        goto out;
    }
    int rc;
    if (resolve) {
        pl_resolve_outcome outcome;
        pl_opsctl_resolve_outcome(o, &outcome);
        rc = pl_resolver_operator(r, o->rr_id, &outcome, o->by, o->note, msg, sizeof msg);
    } else {
        rc = pl_resolver_retry(r, o->rr_id, o->now, msg, sizeof msg);
    }
    pl_resolver_destroy(r);
    status = exit_of(rc);
    after = pl_opsctl_wreq_read(db, o->rr_id, &failed);
    if (pl_reqbuild_topic(prefix, jtext(before, "worker"), PL_TOPIC_REPLY, topic, sizeof topic) !=
        PL_OK)
        topic[0] = '\0';
    if (o->json)
        print_change_json(o, before, after, rc, &pub, amount, topic, msg);
    if (rc != PL_OK) {
        fprintf(stderr, "paylinkctl: %s: %s\n", what, msg);
        say_resolved_already(what, after);
    } else if (!o->json) {
        print_change_line(o, before, after, &pub, amount, topic);
    }
out:
    json_object_put(before);
    json_object_put(after);
    return status;
}

/* ---- order show ----------------------------------------------------------------------------- */

static const char *const ORDER_HEADERS[] = {"TIME",     "KIND",      "REQUEST_ID", "PAY",
                                            "TYPE",     "OPERATION", "STATUS",     "AMOUNT",
                                            "APPROVED", "VR",        "DETAIL"};

static int cmd_order_show(PGconn *db, const pl_opsctl_opts *o)
{
    char company[16];
    snprintf(company, sizeof company, "%d", o->company);
    const char *p[] = {company, o->order};
    PGresult *r = query(db, "reading the order", SQL_ORDER, 2, p);
    if (!r)
        return PL_OPSCTL_EXIT_ERROR;
    int n = PQntuples(r), status = PL_OPSCTL_EXIT_ERROR;
    pl_opsctl_table *t = NULL;
    if (n == 0) {
        fprintf(stderr,
                "paylinkctl: order show: company %d has no payment records for that "
                "order\n",
                o->company);
        goto out;
    }
    if (!o->json &&
        !(t = pl_opsctl_table_new(sizeof ORDER_HEADERS / sizeof *ORDER_HEADERS, ORDER_HEADERS)))
        goto out;
    pl_opsctl_table_align_right(t, 7);
    pl_opsctl_table_align_right(t, 8);
    for (int i = 0; i < n; i++) {
        json_object *e = row_json(r, i, 0);
        if (!e)
            goto out;
        int rc = 0;
        if (o->json) {
            print_json_line(e);
        } else {
            char amount[48];
            amount_cell(e, "amount", amount, sizeof amount);
            const char *cells[] = {jtext(e, "at"),
                                   jtext(e, "kind"),
                                   jtext(e, "request_id"),
                                   jtext(e, "pay_seq"),
                                   jtext(e, "type"),
                                   jtext(e, "operation"),
                                   jtext(e, "status"),
                                   amount,
                                   jtext(e, "amount_approved"),
                                   jtext(e, "vendor_response"),
                                   jtext(e, "detail")};
            rc = pl_opsctl_table_add(t, cells);
        }
        json_object_put(e);
        if (rc != 0)
            goto out;
    }
    table_done(t, "");
    t = NULL;
    status = PL_OPSCTL_EXIT_OK;
out:
    pl_opsctl_table_destroy(t);
    PQclear(r);
    return status;
}

/* ---- stats ---------------------------------------------------------------------------------- */

static const char *const STATS_HEADERS[] = {"BUREAU",    "WORKER",      "TYPE",  "STATUS",
                                            "VR",        "DESCRIPTION", "COUNT", "CURRENCY",
                                            "REQUESTED", "APPROVED"};
static const char *const OPEN_HEADERS[] = {"BUREAU", "WORKER", "OPEN", "OLDEST", "AGE"};

static int cmd_stats(PGconn *db, const pl_opsctl_opts *o)
{
    char secs[32], since[32], until[32];
    int status = PL_OPSCTL_EXIT_ERROR;
    pl_opsctl_table *t = NULL;
    PGresult *r = NULL;
    long long s = o->since.given ? o->since.seconds : PL_OPSCTL_STATS_SINCE_S;
    bool ts = o->since.given && !o->since.is_duration;
    snprintf(secs, sizeof secs, "%lld", s);
    const char *pp[] = {ts ? o->since.timestamp : NULL, secs};
    if (!(r = query(db, "reading the period", SQL_STATS_PERIOD, 2, pp)))
        return PL_OPSCTL_EXIT_ERROR;
    snprintf(since, sizeof since, "%s", PQgetvalue(r, 0, 0));
    snprintf(until, sizeof until, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);

    json_object *period = json_object_new_object();
    if (!period)
        return PL_OPSCTL_EXIT_ERROR;
    add_str(period, "kind", "period");
    add_str(period, "since", since);
    add_str(period, "until", until);
    if (o->json)
        print_json_line(period);
    else
        printf("outcomes of the requests received from %s to %s%s%s\n", since, until,
               o->bureau ? ", bureau " : "", o->bureau ? o->bureau : "");
    json_object_put(period);

    const char *p[] = {since, o->bureau};
    if (!(r = query(db, "reading the outcomes", SQL_STATS_OUTCOMES, 2, p)))
        goto out;
    if (!o->json &&
        !(t = pl_opsctl_table_new(sizeof STATS_HEADERS / sizeof *STATS_HEADERS, STATS_HEADERS)))
        goto out;
    for (size_t c = 6; c < 10; c++)
        if (c != 7)
            pl_opsctl_table_align_right(t, c);
    for (int i = 0; i < PQntuples(r); i++) {
        json_object *e = row_json(r, i, 0);
        if (!e)
            goto out;
        int rc = 0;
        if (o->json) {
            print_json_line(e);
        } else {
            const char *cells[] = {jtext(e, "service"),
                                   jtext(e, "worker"),
                                   jtext(e, "type"),
                                   jtext(e, "status"),
                                   jtext(e, "vendor_response"),
                                   jtext(e, "description"),
                                   jtext(e, "count"),
                                   jtext(e, "currency"),
                                   jtext(e, "amount_requested"),
                                   jtext(e, "amount_approved")};
            rc = pl_opsctl_table_add(t, cells);
        }
        json_object_put(e);
        if (rc != 0)
            goto out;
    }
    table_done(t, "(no requests)");
    t = NULL;
    PQclear(r);

    const char *q[] = {o->bureau};
    if (!(r = query(db, "reading the open required responses", SQL_STATS_OPEN, 1, q)))
        goto out;
    if (!o->json) {
        printf("\nrequired responses open now\n");
        if (!(t = pl_opsctl_table_new(sizeof OPEN_HEADERS / sizeof *OPEN_HEADERS, OPEN_HEADERS)))
            goto out;
        pl_opsctl_table_align_right(t, 2);
        pl_opsctl_table_align_right(t, 4);
    }
    for (int i = 0; i < PQntuples(r); i++) {
        json_object *e = row_json(r, i, 0);
        if (!e)
            goto out;
        int rc = 0;
        if (o->json) {
            print_json_line(e);
        } else {
            char age[32];
            pl_opsctl_format_age(jint(e, "oldest_age_s"), age, sizeof age);
            const char *cells[] = {jtext(e, "service"), jtext(e, "worker"), jtext(e, "count"),
                                   jtext(e, "oldest_at"), age};
            rc = pl_opsctl_table_add(t, cells);
        }
        json_object_put(e);
        if (rc != 0)
            goto out;
    }
    table_done(t, "(none)");
    t = NULL;
    status = PL_OPSCTL_EXIT_OK;
out:
    pl_opsctl_table_destroy(t);
    PQclear(r);
    return status;
}

/* ---- dlq ------------------------------------------------------------------------------------ */

/* How long a scan of a dead-letter topic may take. */
#define DLQ_SCAN_MS 60000

/* A message copied out of a scan. */
typedef struct held {
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    char *key; /* NULL when none */
    size_t key_len;
    char *payload;
    size_t len;
    json_object *line; /* dlq list: its output object */
} held;

typedef struct held_list {
    held *v;
    size_t n, cap;
    size_t keep;      /* dlq list: only the newest `keep` are kept; 0 = all */
    int64_t since_ms; /* older messages are skipped; -1 = none */
    bool list;        /* build list lines (dlq list) rather than copy payloads (replay) */
    bool nomem;
} held_list;

static void held_free(held *h)
{
    free(h->key);
    if (h->payload)
        pl_card_wipe(h->payload, h->len);
    free(h->payload);
    json_object_put(h->line);
    memset(h, 0, sizeof *h);
}

static int held_cmp(const void *a, const void *b)
{
    const held *x = a, *y = b;
    if (x->timestamp_ms != y->timestamp_ms)
        return x->timestamp_ms < y->timestamp_ms ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorts oldest first and keeps only the newest l->keep. */
static void held_trim(held_list *l)
{
    qsort(l->v, l->n, sizeof *l->v, held_cmp);
    if (l->keep == 0 || l->n <= l->keep)
        return;
    size_t drop = l->n - l->keep;
    for (size_t i = 0; i < drop; i++)
        held_free(&l->v[i]);
    memmove(l->v, l->v + drop, l->keep * sizeof *l->v);
    l->n = l->keep;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int on_dead_letter(const pl_ctlkafka_msg *m, void *arg)
{
    held_list *l = arg;
    if (l->since_ms >= 0 && m->timestamp_ms >= 0 && m->timestamp_ms < l->since_ms)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        held *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->nomem = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    held *h = &l->v[l->n];
    memset(h, 0, sizeof *h);
    h->partition = m->partition;
    h->offset = m->offset;
    h->timestamp_ms = m->timestamp_ms;
    if (l->list) {
        pl_opsctl_dead_letter d;
        bool envelope = pl_opsctl_dlq_parse(m->payload, m->len, &d) == PL_OK;
        h->line = pl_opsctl_dlq_json(m, envelope ? &d : NULL);
        pl_opsctl_dlq_free(&d);
        if (!h->line) {
            l->nomem = true;
            return 1;
        }
    } else {
        h->key = m->key ? dup_bytes(m->key, m->key_len) : NULL;
        h->key_len = m->key_len;
        h->payload = dup_bytes(m->payload ? m->payload : "", m->len);
        h->len = m->len;
        if ((m->key && !h->key) || !h->payload) {
            held_free(h);
            l->nomem = true;
            return 1;
        }
    }
    l->n++;
    if (l->keep && l->n >= 2 * l->keep)
        held_trim(l);
    return 0;
}

static void held_list_free(held_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        held_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const DLQ_HEADERS[] = {"P:OFFSET", "TIME",  "KEY",    "REQUEST_ID", "TYPE",
                                          "KIND",     "ERROR", "ERRORS", "NOTE"};

void pl_opsctl_dlq_kind_cell(json_object *line, char *out, size_t outsize)
{
    json_object *v;
    if (outsize == 0)
        return;
    out[0] = '\0';
    if (json_object_object_get_ex(line, "envelope", &v))
        return;
    const char *answered = jtext(line, "answered");
    bool inferred =
        json_object_object_get_ex(line, "kind_inferred", &v) && v && json_object_get_boolean(v);
    snprintf(out, outsize, "%s%s%s%s%s", jtext(line, "kind"), *answered ? " (" : "", answered,
             *answered ? ")" : "", inferred ? " (inferred)" : "");
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

void pl_opsctl_dlq_note(json_object *line, char *out, size_t outsize)
{
    json_object *v;
    size_t n = 0;
    if (outsize == 0)
        return;
    out[0] = '\0';
    if (json_object_object_get_ex(line, "envelope", &v)) {
        snprintf(out, outsize, "not an envelope");
        return;
    }
    if (json_object_object_get_ex(line, "truncated", &v) && json_object_get_boolean(v))
        n = (size_t)snprintf(out, outsize, "truncated (%s bytes)", jtext(line, "request_bytes"));
    if (n >= outsize)
        return;
    bool known = json_object_object_get_ex(line, "redacted", &v) && v;
    if (known && json_object_get_boolean(v))
        snprintf(out + n, outsize - n, "%sredacted (replay refused)", n ? "; " : "");
    else if (!known)
        snprintf(out + n, outsize - n, "%sno redacted mark (replay needs --force)", n ? "; " : "");
}

static int dlq_row(pl_opsctl_table *t, json_object *e)
{
    char where[48], note[128], kind[96];
    snprintf(where, sizeof where, "%s:%s", jtext(e, "partition"), jtext(e, "offset"));
    json_object *v;
    char *errors = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&errors, &size);
    if (!f)
        return PL_ERR_NOMEM;
    if (json_object_object_get_ex(e, "errors", &v) && v)
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            json_object *fe = json_object_array_get_idx(v, i);
            fprintf(f, "%s%s: %s", i ? "; " : "", jtext(fe, "field"), jtext(fe, "error"));
        }
    if (fclose(f) != 0) {
        free(errors);
        return PL_ERR_NOMEM;
    }
    pl_opsctl_dlq_note(e, note, sizeof note);
    pl_opsctl_dlq_kind_cell(e, kind, sizeof kind);
    const char *cells[] = {where,
                           jtext(e, "timestamp"),
                           jtext(e, "key"),
                           jtext(e, "request_id"),
                           jtext(e, "type"),
                           kind,
                           jtext(e, "error"),
                           errors,
                           note};
    int rc = pl_opsctl_table_add(t, cells);
    free(errors);
    return rc;
}

static int cmd_dlq_list(const pl_opsctl_opts *o, const char *brokers, const char *topic)
{
    char errstr[512];
    held_list l = {.keep = (size_t)o->limit, .since_ms = -1, .list = true};
    if (o->since.given)
        l.since_ms = now_ms() - o->since.seconds * 1000;
    int rc = pl_ctlkafka_scan(brokers, topic, l.since_ms, DLQ_SCAN_MS, on_dead_letter, &l, errstr,
                              sizeof errstr);
    int status = PL_OPSCTL_EXIT_ERROR;
    pl_opsctl_table *t = NULL;
    if (rc != PL_OK) {
        fail("dlq list", errstr);
        goto out;
    }
    if (l.nomem) {
        fail("dlq list", "out of memory");
        goto out;
    }
    held_trim(&l);
    if (!o->json &&
        !(t = pl_opsctl_table_new(sizeof DLQ_HEADERS / sizeof *DLQ_HEADERS, DLQ_HEADERS)))
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        if (o->json)
            print_json_line(l.v[i].line);
        else if (dlq_row(t, l.v[i].line) != PL_OK)
            goto out;
    }
    table_done(t, "(no dead letters)");
    t = NULL;
    status = PL_OPSCTL_EXIT_OK;
out:
    pl_opsctl_table_destroy(t);
    held_list_free(&l);
    return status;
}

static int on_one(const pl_ctlkafka_msg *m, void *arg)
{
    return on_dead_letter(m, arg);
}

int pl_opsctl_replay_check_row(PGconn *db, const char *worker, const char *request_id, char *errstr,
                               size_t errstr_size)
{
    const char *sql = trans_sql(worker);
    if (!sql)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "no worker %s", worker);
    /* The row as wreq show reads it: status and table from the same object. */
    const char *p[] = {request_id};
    PGresult *r = PQexecParams(db, sql, 1, NULL, p, NULL, NULL, 0);
    int rc = PL_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        msg[strcspn(msg, "\n")] = '\0';
        rc = pl_err_set(PL_ERR_DB, errstr, errstr_size,
                        "looking for its row failed (%s): nothing is sent unchecked", msg);
    } else if (PQntuples(r) > 0) {
        json_object *row = row_json(r, 0, 0);
        rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                        "request_id %s already has a row in %s (status %s): a request with a "
                        "row is answered from it (the upstream system sent it again, or the "
                        "worker recorded it before it gave it up), so sent again this copy "
                        "would only repeat that reply, or, where its redaction changed it, be "
                        "taken for another request under the same request_id and draw a false "
                        "`invalid` reply after the real one; --force does not override this",
                        request_id, *jtext(row, "table") ? jtext(row, "table") : "its table",
                        *jtext(row, "status") ? jtext(row, "status") : "unreadable");
        json_object_put(row);
    }
    PQclear(r);
    return rc;
}

void pl_opsctl_replay_row_refusal(const pl_opsctl_dead_letter *d, const char *rowerr, char *out,
                                  size_t outsize)
{
    if (outsize == 0)
        return;
    /* A given-up `timeout` always has its row, so the plan's words on it (settle it first)
     * would otherwise never be read. */
    if (pl_opsctl_dlq_kind_of(d) == PL_OPSCTL_DLQ_GIVEN_UP && answered_of(d) == ANSWERED_TIMEOUT)
        snprintf(out, outsize,
                 "%s; the worker gave it up answered `timeout`: its outcome is unknown, and an "
                 "operator must settle it first (its required response, paylinkctl wreq show "
                 "%s, or, without one, its row and the bureau's records)",
                 rowerr, d->request_id ? d->request_id : "<request_id>");
    else
        snprintf(out, outsize, "%s", rowerr);
}

char *pl_opsctl_replay_output(const pl_opsctl_dead_letter *d, const pl_opsctl_replay *p,
                              const pl_opsctl_sent *s, bool json)
{
    char *out = NULL, key[128];
    size_t size = 0;
    printable_key(p->key, strlen(p->key), key, sizeof key);
    /* What was sent is printed redacted again: the copy should hold no card data, but a
     * message someone else put on the topic might. So are the request_id and the type, as
     * dlq list prints them (full: "4111é1111é1111é1111" as a type went out in clear). */
    char *shown = pl_request_redact(d->request, d->request_len);
    char *rid = d->request_id ? scrubbed_text(d->request_id) : NULL;
    char *type = d->type ? scrubbed_text(d->type) : NULL;
    if (!shown || (d->request_id && !rid) || (d->type && !type))
        goto out;
    if (json) {
        json_object *j = json_object_new_object();
        if (!j)
            goto out;
        json_object_object_add(j, "dlq_partition", json_object_new_int(s->dlq_partition));
        json_object_object_add(j, "dlq_offset", json_object_new_int64(s->dlq_offset));
        add_str(j, "topic", s->topic);
        json_object_object_add(j, "partition",
                               s->dry_run ? NULL : json_object_new_int(s->partition));
        json_object_object_add(j, "offset", s->dry_run ? NULL : json_object_new_int64(s->offset));
        add_str(j, "key", p->key[0] ? key : NULL);
        add_str(j, "key_source", p->key_source);
        add_str(j, "request_id", rid);
        add_str(j, "type", type);
        json_object_object_add(j, "card_masked", json_object_new_boolean(p->card_masked));
        json_object_object_add(j, "dry_run", json_object_new_boolean(s->dry_run));
        add_str(j, "request", shown);
        const char *line = compact(j);
        if (line && (out = malloc(strlen(line) + 2)))
            snprintf(out, strlen(line) + 2, "%s\n", line);
        json_object_put(j);
        goto out;
    }
    FILE *f = open_memstream(&out, &size);
    if (!f)
        goto out;
    char place[64] = "";
    if (!s->dry_run)
        snprintf(place, sizeof place, " [%d] at offset %lld", (int)s->partition,
                 (long long)s->offset);
    fprintf(f, "%s %d:%lld -> %s%s, key %s (%s), request_id %s, type %s\n",
            s->dry_run ? "would replay" : "replayed", (int)s->dlq_partition,
            (long long)s->dlq_offset, s->topic, place, p->key[0] ? key : "(none)",
            strcmp(p->key_source, "dead_letter") == 0 ? "the dead letter's"
            : strcmp(p->key_source, "request") == 0   ? "derived from the request"
                                                      : "none",
            rid ? rid : "-", type ? type : "-");
    fprintf(f, "  %s\n", shown);
    if (fclose(f) != 0) {
        free(out);
        out = NULL;
    }
out:
    free(shown);
    free(rid);
    free(type);
    return out;
}

/* Replays (or, dry, shows) one dead letter; 0, or -1 after saying why it was not. */
static int replay_one(const pl_opsctl_opts *o, PGconn *db, const char *brokers,
                      const char *request_topic, const held *h)
{
    char errstr[1024], what[64];
    snprintf(what, sizeof what, "dlq replay %d:%lld", (int)h->partition, (long long)h->offset);
    pl_opsctl_dead_letter d;
    if (pl_opsctl_dlq_parse(h->payload, h->len, &d) != PL_OK) {
        fail(what, "refused: not a dead-letter envelope (no request text)");
        return -1;
    }
    int ret = -1;
    pl_opsctl_replay plan;
    char *shown = NULL;
    if (pl_opsctl_replay_plan(&d, request_topic, h->key, h->key_len, o->force, &plan, errstr,
                              sizeof errstr) != PL_OK) {
        /* Refused for want of --force only: its row, when it has one, refuses it whatever is
         * forced, and that is what the operator is told (a given-up `timeout` always has one;
         * "--force sends it" would not be true). */
        char rowerr[512];
        bool row = plan.needs_force &&
                   pl_opsctl_replay_check_row(db, o->worker, d.request_id, rowerr, sizeof rowerr) ==
                       PL_ERR_INVALID;
        if (row)
            pl_opsctl_replay_row_refusal(&d, rowerr, errstr, sizeof errstr);
        fprintf(stderr, "paylinkctl: %s: refused: %s\n", what, errstr);
        goto out;
    }
    char rowerr[512];
    int rc = pl_opsctl_replay_check_row(db, o->worker, d.request_id, rowerr, sizeof rowerr);
    if (rc != PL_OK) {
        if (rc == PL_ERR_INVALID)
            pl_opsctl_replay_row_refusal(&d, rowerr, errstr, sizeof errstr);
        fprintf(stderr, "paylinkctl: %s: refused: %s\n", what,
                rc == PL_ERR_INVALID ? errstr : rowerr);
        goto out;
    }
    char key[128];
    printable_key(plan.key, strlen(plan.key), key, sizeof key);
    if (strcmp(plan.key_source, "request") == 0)
        fprintf(stderr,
                "paylinkctl: %s: the dead letter has no key; using %s, the request's "
                "<company>-<order>\n",
                what, key);
    else if (strcmp(plan.key_source, "none") == 0)
        fprintf(stderr,
                "paylinkctl: %s: the dead letter has no key and the request no company and "
                "order: sent without a key\n",
                what);
    if (o->force && pl_opsctl_dlq_kind_of(&d) == PL_OPSCTL_DLQ_GIVEN_UP)
        fprintf(stderr,
                "paylinkctl: %s: warning: request %s was given up by the worker (answered %s), "
                "not refused as invalid; sent all the same (--force)\n",
                what, d.request_id,
                answered_of(&d) == ANSWERED_ERROR     ? "`error`: nothing reached the bureau"
                : answered_of(&d) == ANSWERED_TIMEOUT ? "`timeout`: its outcome was unknown"
                                                      : "`error` or `timeout`");
    if (o->force && !d.redacted_known)
        fprintf(stderr,
                "paylinkctl: %s: warning: the envelope of request %s predates the \"redacted\" "
                "mark (a removed CVV would not show); sent all the same (--force)\n",
                what, d.request_id);
    pl_opsctl_sent sent = {.dlq_partition = h->partition,
                           .dlq_offset = h->offset,
                           .topic = request_topic,
                           .partition = -1,
                           .offset = -1,
                           .dry_run = o->dry_run};
    if (!o->dry_run && pl_ctlkafka_produce(brokers, request_topic, plan.key[0] ? plan.key : NULL,
                                           d.request, d.request_len, 10000, &sent.partition,
                                           &sent.offset, errstr, sizeof errstr) != PL_OK) {
        fail(what, errstr);
        goto out;
    }
    shown = pl_opsctl_replay_output(&d, &plan, &sent, o->json);
    if (!shown) {
        fail(what, "out of memory");
        goto out;
    }
    fputs(shown, stdout);
    ret = 0;
out:
    free(shown);
    pl_opsctl_dlq_free(&d);
    return ret;
}

static int cmd_dlq_replay(const pl_opsctl_opts *o, PGconn *db, const char *brokers,
                          const char *topic, const char *request_topic)
{
    char errstr[512];
    held_list l = {.since_ms = -1};
    int status = PL_OPSCTL_EXIT_ERROR, failed = 0;
    if (o->since.given) {
        l.since_ms = now_ms() - o->since.seconds * 1000;
        if (pl_ctlkafka_scan(brokers, topic, l.since_ms, DLQ_SCAN_MS, on_dead_letter, &l, errstr,
                             sizeof errstr) != PL_OK) {
            fail("dlq replay", errstr);
            goto out;
        }
        held_trim(&l);
    } else {
        for (size_t i = 0; i < o->noffsets; i++) {
            size_t before = l.n;
            int rc =
                pl_ctlkafka_read_one(brokers, topic, o->offsets[i].partition, o->offsets[i].offset,
                                     10000, on_one, &l, errstr, sizeof errstr);
            if (rc != PL_OK || l.n == before) {
                fail("dlq replay", rc != PL_OK ? errstr : "out of memory");
                goto out;
            }
        }
    }
    if (l.nomem) {
        fail("dlq replay", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l.n; i++)
        if (replay_one(o, db, brokers, request_topic, &l.v[i]) != 0)
            failed++;
    if (!o->json)
        fprintf(stderr, "paylinkctl: %zu dead letter(s) %s, %d refused or failed\n",
                l.n - (size_t)failed, o->dry_run ? "to replay (dry run: nothing sent)" : "replayed",
                failed);
    status = failed ? PL_OPSCTL_EXIT_ERROR : PL_OPSCTL_EXIT_OK;
out:
    held_list_free(&l);
    return status;
}

/* ---- main ----------------------------------------------------------------------------------- */

void pl_opsctl_usage(FILE *out)
{
    fputs("  wreq list [--bureau B] [--worker W] [--older-than DURATION]\n"
          "            [--status unsettled|open|escalated|resolved|all] [--limit N] [--json]\n"
          "      The required responses (WREQ), oldest first: id, age, worker, bureau,\n"
          "      operation, request_id, company-order-pay_seq, amount, reason, status (and how\n"
          "      it was resolved), queries, next step, last query result, detail. Default: the\n"
          "      unsettled ones (open and escalated), at most 1000.\n"
          "  wreq show ID [--json]\n"
          "      One required response (ID: its id or its request_id), the row of its worker's\n"
          "      transaction table (status, operation, sent_at, sent_by, vendor response,\n"
          "      amounts, card mask, stored reply) and its authorization/deposit history.\n"
          "  wreq resolve ID --outcome approved|declined|error|review|rejected --by NAME\n"
          "               [--note TEXT] [--amount A] [--transaction-id T] [--auth-number N]\n"
          "               [--vendor-response CODE] [--json]\n"
          "      Settle an open or escalated required response (ID: its id) with the outcome\n"
          "      learnt from the bureau: applied as the bureau's answer would have been, and\n"
          "      the final reply (resolved: true, resolution: operator) published on the\n"
          "      worker's reply topic. --amount: less than was sent was approved or held\n"
          "      for review (default: what was sent: the request's amount; a reversal's,\n"
          "      its claim on the authorization, or a timeout reversal's, what the\n"
          "      authorization was sent for); with rejected, or declined with\n"
          "      a soft decline's --vendor-response: what the issuer holds (a partial\n"
          "      approval), which the reversal asks for. review / rejected: Decision\n"
          "      Manager's 480 / 481 of a CyberSource authorization, with its\n"
          "      --transaction-id (a reject's reversal is published when the bureau sends\n"
          "      reversals). An approved authorization needs its --transaction-id too\n"
          "      (the bureau's id of it, which a deposit, a reversal or a void names), and so\n"
          "      does an approved capture (a follow-on credit names it).\n"
          "      --vendor-response CODE (declined only): the bureau's reason code; a\n"
          "      CyberSource soft decline (200, 230, 520: the issuer holds the amount) needs\n"
          "      --transaction-id and has its reversal published with the reply.\n"
          "      Exit 1: refused (not found, resolved already, being\n"
          "      worked on by a resolver, the transaction not unknown); 3: the database or\n"
          "      Kafka cannot be used (nothing changed).\n"
          "  wreq retry ID [--now] [--json]\n"
          "      Open an escalated (or open) required response again, due now: the worker's\n"
          "      resolver asks the bureau again. --now: take that step here and print what\n"
          "      came of it.\n"
          "  order show --company C --order O [--json]\n"
          "      Every authorization, authorization history row, deposit, deposit history row,\n"
          "      reversal, stored value transaction, required response and Decision Manager\n"
          "      decision of the order, in time order, one line each.\n"
          "  stats [--since DURATION|TIMESTAMP] [--bureau B] [--json]\n"
          "      Requests received since then (default 24h) by bureau, worker, type, status and\n"
          "      vendor response, with counts and amounts requested and approved; then the\n"
          "      required responses open now, by bureau and worker.\n"
          "  dlq list --worker W [--since DURATION] [--limit N] [--json]\n"
          "      The dead letters of <prefix>.W.request.dlq (the newest N, default 100), read\n"
          "      without a consumer group: partition:offset, time, key, request_id, type,\n"
          "      kind (invalid, conflict, unpublished, given_up with how it was answered,\n"
          "      unreadable), error and field errors.\n"
          "  dlq replay --worker W (--offset P:O [--offset P:O ...] | --all-since DURATION)\n"
          "             [--dry-run] [--force] [--json]\n"
          "      Sends each dead letter's request text again to <prefix>.W.request, with the\n"
          "      dead letter's key (else <company>-<order> of the request, said on stderr), and\n"
          "      prints what was sent. P:O are the dead letter's own, as dlq list prints them.\n"
          "      For requests refused as invalid whose fault was elsewhere or has been fixed\n"
          "      (a bureau added). Refused, with the reason (exit 1): a request whose\n"
          "      request_id has a row in the worker's table (needs PAYLINK_DB); a record the\n"
          "      worker could not read (no request: the upstream system must send it again);\n"
          "      a truncated request; an idempotency conflict's copy; a request whose reply\n"
          "      could not be published; one the worker gave up (answered error, nothing sent,\n"
          "      or timeout, outcome unknown: --force sends it, once the upstream system says\n"
          "      it did not send it again under another request_id, unless it has a row, as a\n"
          "      timeout always has); a copy its redaction changed: a card number masked in\n"
          "      any field, a CVV or 3-D Secure values removed (the upstream system must send\n"
          "      those anew).\n"
          "      DURATION: 90s, 30m, 2h, 1d, 1w, 1h30m. TIMESTAMP: YYYY-MM-DD[THH:MM[:SS]]\n"
          "      [Z|+HH:MM] (UTC without a zone). Tables by default; --json: one JSON object\n"
          "      per line. Exit 2: the command line was not accepted.\n",
          out);
}

int pl_opsctl_main(int argc, char **argv, const char *conninfo, const char *brokers,
                   const char *prefix)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || (i == 1 && strcmp(argv[i], "help") == 0)) {
            fputs("usage: paylinkctl [--db CONNINFO] [--brokers HOST:PORT,...] [--prefix P] ...\n",
                  stdout);
            pl_opsctl_usage(stdout);
            return PL_OPSCTL_EXIT_OK;
        }
    }
    pl_opsctl_opts o;
    char errstr[300];
    if (pl_opsctl_parse(argc, argv, &o, errstr, sizeof errstr) != PL_OK) {
        fprintf(stderr, "paylinkctl: %s (see paylinkctl %s --help)\n", errstr,
                argc > 0 ? argv[0] : "help");
        return PL_OPSCTL_EXIT_USAGE;
    }
    if (o.cmd == PL_OPSCTL_DLQ_LIST || o.cmd == PL_OPSCTL_DLQ_REPLAY) {
        char topic[256], request_topic[256];
        if (!brokers || !*brokers)
            return fail("dlq", "no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers");
        if (pl_reqbuild_topic(prefix, o.worker, PL_TOPIC_DLQ, topic, sizeof topic) != PL_OK ||
            pl_reqbuild_topic(prefix, o.worker, PL_TOPIC_REQUEST, request_topic,
                              sizeof request_topic) != PL_OK)
            return fail("dlq", "topic prefix too long");
        if (o.cmd == PL_OPSCTL_DLQ_LIST)
            return cmd_dlq_list(&o, brokers, topic);
        /* A replay looks for each request's row first: nothing is sent unchecked. */
        PGconn *db = pl_ctldb_connect(conninfo, stderr);
        if (!db)
            return PL_OPSCTL_EXIT_ERROR;
        int status = PL_OPSCTL_EXIT_ERROR;
        if (pl_ctldb_exec(db, "SET default_transaction_read_only = on"))
            status = cmd_dlq_replay(&o, db, brokers, topic, request_topic);
        else
            fprintf(stderr, "paylinkctl: %s", PQerrorMessage(db));
        PQfinish(db);
        return status;
    }
    bool writes = o.cmd == PL_OPSCTL_WREQ_RESOLVE || o.cmd == PL_OPSCTL_WREQ_RETRY;
    int status = writes ? PL_OPSCTL_EXIT_UNAVAILABLE : PL_OPSCTL_EXIT_ERROR;
    PGconn *db = pl_ctldb_connect(conninfo, stderr);
    if (!db)
        return status;
    /* Looking only: a mistake in these statements can never change a row (resolve and retry
     * write through the resolver, on its own connection). UTC: see the SQL. */
    if (!pl_ctldb_exec(db, "SET default_transaction_read_only = on") ||
        !pl_ctldb_exec(db, "SET TimeZone = 'UTC'")) {
        fprintf(stderr, "paylinkctl: %s", PQerrorMessage(db));
        goto out;
    }
    switch (o.cmd) {
    case PL_OPSCTL_WREQ_RESOLVE:
    case PL_OPSCTL_WREQ_RETRY:
        status = cmd_wreq_change(db, &o, conninfo, brokers, prefix);
        break;
    case PL_OPSCTL_WREQ_LIST:
        status = cmd_wreq_list(db, &o);
        break;
    case PL_OPSCTL_WREQ_SHOW:
        status = cmd_wreq_show(db, &o);
        break;
    case PL_OPSCTL_ORDER_SHOW:
        status = cmd_order_show(db, &o);
        break;
    default:
        status = cmd_stats(db, &o);
        break;
    }
out:
    PQfinish(db);
    return status;
}
