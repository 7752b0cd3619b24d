/* resolver.c: settling required responses (see resolver.h). */
#include "resolver.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card.h"
#include "config.h"
#include "dm_report.h"
#include "engine.h"
#include "bureau_cybersource.h"
#include "log.h"
#include "money.h"
#include "reversal_own.h"
#include "services.h"
#include "stored_value.h"

#define QUERY_TIMEOUT_S 30L
#define CONNECT_TIMEOUT_S 10L
/* How long a pass keeps the lease of a row whose reply it is publishing: its follow-up and its
 * reply each wait at most the producer's delivery timeout (PL_RESOLVER_PUBLISH_TIMEOUT_MS;
 * paylinkctl's is shorter), and the lease is taken again just before a row is published. */
#define PUBLISH_LEASE_S 120
_Static_assert(2 * PL_RESOLVER_PUBLISH_TIMEOUT_MS / 1000 + 20 < PUBLISH_LEASE_S,
               "a row's follow-up and reply are published within its lease");
/* How old the configuration snapshot (vendor responses) may get before it is read again. */
#define SERVICES_MAX_AGE_S 60

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* ---- policy and decision (pure) ----------------------------------------------------------- */

pl_resolve_policy pl_resolve_policy_default(void)
{
    return (pl_resolve_policy){.ask_bureau = false,
                               .first_query_after_s = 10,
                               .retry_after_s = 30,
                               .backoff_factor = 2.0,
                               .max_retry_after_s = 900,
                               .not_found_after_s = 120,
                               .max_queries = 12,
                               .lease_s = 120};
}

int pl_resolve_retry_delay_s(const pl_resolve_policy *p, int queries)
{
    double d = p->retry_after_s > 0 ? p->retry_after_s : 1;
    double f = p->backoff_factor >= 1.0 ? p->backoff_factor : 1.0;
    for (int i = 1; i < queries && d < p->max_retry_after_s; i++)
        d *= f;
    if (p->max_retry_after_s > 0 && d > p->max_retry_after_s)
        d = p->max_retry_after_s;
    return d < 1 ? 1 : (int)d;
}

static const pl_cyb_app_reply *app_named(const pl_cyb_query_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->napps; i++)
        if (strcmp(rec->apps[i].name, name) == 0)
            return &rec->apps[i];
    return NULL;
}

/* The application whose reply is the operation's (its reason code is the vendor response). */
static const char *main_app(const char *op)
{
    if (strcmp(op, "capture") == 0)
        return "ics_bill";
    if (strcmp(op, "credit") == 0)
        return "ics_credit";
    if (strcmp(op, "reversal") == 0)
        return "ics_auth_reversal";
    if (strcmp(op, "token") == 0)
        return "ics_pay_subscription_create";
    return "ics_auth"; /* auth, token_auth, auth_capture */
}

/* True when name is an application op runs (cyb_query.c's OPS): main_app's, and an
 * auth+capture's ics_bill or a token+auth's ics_pay_subscription_create. */
static bool runs_app(const char *op, const char *name)
{
    return strcmp(name, main_app(op)) == 0 ||
           (strcmp(op, "auth_capture") == 0 && strcmp(name, "ics_bill") == 0) ||
           (strcmp(op, "token_auth") == 0 && strcmp(name, "ics_pay_subscription_create") == 0);
}

/* The reason a, an application reply that did not succeed (RCode other than 1), gives for a
 * request received and then timed out: its ReasonCode 151, 152 or 250, or 151 for RCode -1 with
 * RFlag ETIMEOUT and no ReasonCode (older reports); NULL when it says no time-out. */
static const char *timeout_reason(const pl_cyb_app_reply *a)
{
    if (a->has_rcode && a->rcode == 1)
        return NULL;
    if (pl_cybersource_received_timeout(a->reason_code))
        return a->reason_code;
    if (!a->reason_code[0] && a->has_rcode && a->rcode == -1 && strcmp(a->rflag, "ETIMEOUT") == 0)
        return "151";
    return NULL;
}

/* The record, read as the bureau's answer would have been (the fields pl_job_map_answer
 * reads). A record FOUND_UNREADABLE or FOUND_SEVERAL is never applied: decide reads only its
 * capture_approved and service_reason_code. */
static void record_to_result(const char *op, pl_cyb_found f, const pl_cyb_query_record *rec,
                             pl_bureau_result *res)
{
    memset(res, 0, sizeof *res);
    const pl_cyb_app_reply *m = app_named(rec, main_app(op));
    const pl_cyb_app_reply *dm = app_named(rec, "ics_decision");
    const char *reason = m && m->reason_code[0] ? m->reason_code : NULL;
    if (f == PL_CYB_FOUND_OK) {
        copy(res->decision, sizeof res->decision, "ACCEPT");
        copy(res->reason_code, sizeof res->reason_code, reason ? reason : "100");
        /* Decision Manager's verdict shows only in ics_decision: the authorization itself
         * succeeded. */
        /* (RCode -1, Decision Manager itself failing, decides nothing: the authorization
         * stands as approved.) */
        if (dm && dm->has_rcode && dm->rcode == 0) {
            bool review = strcmp(dm->rflag, "DREVIEW") == 0 || strcmp(dm->reason_code, "480") == 0;
            copy(res->decision, sizeof res->decision, review ? "REVIEW" : "REJECT");
            copy(res->reason_code, sizeof res->reason_code,
                 dm->reason_code[0] ? dm->reason_code : (review ? "480" : "481"));
        }
        if (rec->has_amount) {
            res->has_amount = true;
            res->amount = rec->amount;
        }
        copy(res->auth_code, sizeof res->auth_code, rec->auth_code);
        copy(res->avs, sizeof res->avs, rec->avs);
        copy(res->cvv, sizeof res->cvv, rec->cvv);
    } else {
        /* A time-out of an application of the operation (151, 152, 250: received, then timed
         * out) is the reason, whatever its RCode (-1, or 0 as a refusal) and wherever it stands
         * (after an ics_auth 0/110, the partial approval CyberSource writes as a refusal, too):
         * the record cannot tell whether the request, or the capture or token after the
         * authorization, was processed, no more than the answer in time, ERROR with that reason,
         * which the adapter leaves unknown (bureau_cybersource.c). decide asks again
         * (received_timeout) rather than apply it as the refusal it reads as (before, `declined`,
         * its reversal for the whole amount sent). Another application's time-out (ics_score)
         * does not outweigh the operation's own reply, wherever it stands. Nor does a capture's
         * or token's time-out outweigh an authorization refused outright (ics_auth RCode 0 with
         * a reason other than 110 or a time-out: nothing is captured or tokenised after it, and
         * its refusal — a soft decline's 230 among them, whose `.sdr` or `.rev` releases what
         * the issuer holds — is the reason, as in the answer in time). Else the reason of the
         * application that failed (the capture of an auth+capture whose authorization
         * succeeded), else the operation's own. */
        bool declined = f == PL_CYB_FOUND_DECLINED;
        const char *r = NULL;
        const pl_cyb_app_reply *au =
            strcmp(main_app(op), "ics_auth") == 0 ? app_named(rec, "ics_auth") : NULL;
        if (au && au->has_rcode && au->rcode == 0 && au->reason_code[0] &&
            strcmp(au->reason_code, "110") != 0 && !timeout_reason(au))
            r = au->reason_code;
        for (size_t i = 0; !r && i < rec->napps; i++)
            if (runs_app(op, rec->apps[i].name))
                r = timeout_reason(&rec->apps[i]);
        /* An application without an RCode says no failure (cyb_query.h FOUND_UNREADABLE): its
         * ReasonCode, often 100, is no reason for one (before, a capture's SOK/100 without an
         * RCode was booked ERROR 100). */
        for (size_t i = 0; !r && i < rec->napps; i++) {
            const pl_cyb_app_reply *a = &rec->apps[i];
            if (a != dm && a->reason_code[0] && a->has_rcode && a->rcode != 1 &&
                (!declined || a->rcode == 0) && !(timeout_reason(a) && !runs_app(op, a->name)))
                r = a->reason_code;
        }
        if (!r)
            r = reason;
        /* A report without ReasonCodes (older versions) says a time-out only by its RFlag:
         * RCode -1 and ETIMEOUT is 151 (received, then timed out: it cannot tell whether the
         * request was processed, received_timeout), not the final 150 of a system error, which
         * would free the order system to send it again while it may have been processed. */
        for (size_t i = 0; !r && i < rec->napps; i++) {
            const pl_cyb_app_reply *a = &rec->apps[i];
            if (a != dm && a->has_rcode && a->rcode == -1 && strcmp(a->rflag, "ETIMEOUT") == 0)
                r = "151";
        }
        /* CyberSource answers 151, 152 and 250 only as ERROR. */
        copy(res->decision, sizeof res->decision,
             declined && !pl_cybersource_received_timeout(r) ? "REJECT" : "ERROR");
        copy(res->reason_code, sizeof res->reason_code, r ? r : declined ? "" : "150");
        /* The amount the record shows (a partial approval later refused holds it). */
        if (rec->has_amount) {
            res->has_amount = true;
            res->amount = rec->amount;
        }
    }
    copy(res->request_id, sizeof res->request_id, rec->request_id);
    copy(res->merchant_reference_code, sizeof res->merchant_reference_code,
         rec->merchant_reference);
    /* An auth+capture whose capture succeeded, whatever Decision Manager says (its ccCaptureReply
     * 100, bureau_cybersource.c). */
    const pl_cyb_app_reply *bill = app_named(rec, "ics_bill");
    res->capture_approved =
        strcmp(op, "auth_capture") == 0 && bill && bill->has_rcode && bill->rcode == 1;
    /* The main application's own reason, as an answer's service reply gives it: an
     * authorization's ics_auth is its ccAuthReply (RCode 1 without a ReasonCode: 100), which
     * tells whether the issuer holds the amount of a reject (followup_reversal). */
    if (m && m->reason_code[0])
        copy(res->service_reason_code, sizeof res->service_reason_code, m->reason_code);
    else if (m && m->has_rcode && m->rcode == 1)
        copy(res->service_reason_code, sizeof res->service_reason_code, "100");
}

/* True when a failed or refused record's reason is 151, 152 or 250 (bureau_cybersource.c: the
 * outcome is unknown, not an error; record_to_result gives it first); res receives the record
 * read as an answer. */
static bool received_timeout(const char *op, pl_cyb_found f, const pl_cyb_query_record *rec,
                             pl_bureau_result *res)
{
    record_to_result(op, f, rec, res);
    return pl_cybersource_received_timeout(res->reason_code);
}

/*
 * The operator's steps an escalation's reason ends with are the essential `wreq resolve` command,
 * with every flag paylinkctl or pl_resolver_operator refuses it without but the two every
 * resolve has (the required response's ID and `--by NAME`): an approved authorization or
 * auth+capture, a review, a reject and a soft decline are refused without the transaction id.
 * That is the record's RequestID: the step names it in place of TODO_RID when the reason holds
 * it (escalation_why), and the row keeps it (required_response.record_request_id, 067, which
 * `wreq show` prints); the operator reads in the Business Center the amount the record cannot
 * tell (the part approved, or what was captured). The reason is at most 200 bytes
 * (pl_resolve_decision.why) and must never be cut: the whole recipe is in README.md (Unknown
 * outcomes settle themselves), which TODO_SEE points to.
 */
#define TODO_RID "<RequestID>"
#define TODO_TXN " --transaction-id " TODO_RID
#define TODO_SEE " (README)"

/*
 * True when id, a record's RequestID, is one `wreq resolve --transaction-id` takes as it is
 * (paylinkctl's reference_ok: 1 to 64 printable characters without spaces, no card number) and
 * an operator can paste into a shell as it is (letters and digits only: CyberSource's are 22
 * digits): only such an id is named in a step or kept on the row. A report is the bureau's
 * text, read from the network: anything else in its place (`;`, `$(`, quotes) is not written
 * into an operator's command.
 */
static bool record_rid_usable(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= 'a' && id[i] <= 'z')))
            return false;
    return !pl_card_contains_full(id, n);
}

/*
 * An escalation's reason into why (whysz bytes): fmt's text, then the operator's step todo,
 * whole. What is cut when both do not fit is fmt's text (the amounts and codes it shows), never
 * the step: the operator reads it to know what to do. rid, the record's RequestID (NULL or ""
 * when none, or when it is not record_rid_usable), takes the place of the step's TODO_RID only
 * when the text and that step fit whole: the text is only in the reason, while the id is also
 * on the row (`wreq show`), so a longer id never cuts the text; the placeholder stays then.
 */
static void escalation_why(char *why, size_t whysz, const char *todo, const char *rid,
                           const char *fmt, ...) PL_PRINTF(5, 6);
static void escalation_why(char *why, size_t whysz, const char *todo, const char *rid,
                           const char *fmt, ...)
{
    if (whysz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    int text = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    char named[sizeof(((pl_resolve_decision *)0)->why)];
    const char *at = strstr(todo, TODO_RID);
    if (at && text >= 0 && record_rid_usable(rid)) {
        int n = snprintf(named, sizeof named, "%.*s%s%s", (int)(at - todo), todo, rid,
                         at + strlen(TODO_RID));
        if (n > 0 && (size_t)n < sizeof named && (size_t)text + (size_t)n < whysz)
            todo = named;
    }
    size_t t = strlen(todo);
    if (t >= whysz) { /* never so with the steps here; cut as any text would be */
        va_end(ap);
        copy(why, whysz, todo);
        return;
    }
    int n = vsnprintf(why, whysz - t, fmt, ap);
    va_end(ap);
    size_t end = n < 0 ? 0 : (size_t)n < whysz - t ? (size_t)n : whysz - t - 1;
    memmove(why + end, todo, t + 1);
}

/*
 * What the escalation of an auth+capture whose record says it was captured (ics_bill RCode 1)
 * writes in its reason (last_query_result); then what the operator is to do. The row records it
 * (required_response.captured, decision_ex.captured), which is how an operator's refusal of it is
 * recognised (escalated_captured: no `.sdr` for a captured authorization), not by this text: a
 * query after `wreq retry` replaces the reason.
 */
#define CAPTURED_ESCALATION "captured (ics_bill)"
#define CAPTURED_TODO                                                                              \
    "; wreq resolve --outcome approved --amount <captured>" TODO_TXN                               \
    ", credit it if not fulfilled" TODO_SEE

/*
 * True when the record of an auth+capture says it was captured (ics_bill RCode 1) yet is
 * refused, held for review or failed beside the capture (the adapter refuses such an answer in
 * time as unreadable, bureau_cybersource.h), with why. `declined`, `rejected` or `error` would
 * free the order system to charge the card again and leave what was taken with nobody refunding
 * it; `approved` would fulfil an order Decision Manager refused. Asking again tells nothing more:
 * an operator decides (escalated at once, as a record approving more than was sent), told to
 * resolve it approved for what was captured and to credit that when the order is not to be
 * fulfilled (a refusal of it would publish no `.sdr` either: followup_reversal). res receives
 * the record read as an answer. A captured partial approval is partial_unreadable's.
 */
static bool captured_unappliable(const char *op, pl_cyb_found f, const pl_cyb_query_record *rec,
                                 pl_bureau_result *res, int queries, char *why, size_t whysz)
{
    record_to_result(op, f, rec, res);
    if (!res->capture_approved || strcmp(res->decision, "ACCEPT") == 0)
        return false;
    escalation_why(why, whysz, CAPTURED_TODO, rec->request_id,
                   "query %d: " CAPTURED_ESCALATION " while the record says %s %s", queries,
                   res->decision, res->reason_code);
    return true;
}

/*
 * What an operator told of a partial approval whose part the record cannot tell
 * (partial_unreadable) is to do, by what the request was and what the record says of it: an
 * authorization approved is approved for the part, or rejected with it (its `.rev` then goes for
 * the part: pl_resolver_operator, held_amount), and so is one refused or failed after it (a
 * token+auth's token refused); one Decision Manager rejected (481, 400) is rejected with the
 * part, one it held for review (480) is a review of the part; an auth+capture that was not
 * captured is a soft decline with it (its `.sdr` for the part), whatever Decision Manager said
 * (review and rejected are only an authorization's). A refusal without the part would reverse
 * the whole amount asked, which CyberSource refuses above what it authorized: the hold would
 * stay. PART_TODO_CAPTURE_UNKNOWN: an auth+capture whose capture timed out at the bureau after
 * the partial approval (received_timeout), captured or not as the Business Center tells: both
 * commands in full (before, the decline's was "the soft decline", and an operator's
 * `--outcome declined` without `--vendor-response 230` and the part had no `.sdr`:
 * followup_reversal, and the hold stayed).
 */
#define PART_TODO(outcome) "; wreq resolve --outcome " outcome " --amount <part>" TODO_TXN TODO_SEE
#define PART_TODO_AUTH PART_TODO("approved|rejected")
#define PART_TODO_REJECTED PART_TODO("rejected")
#define PART_TODO_REVIEW PART_TODO("review")
#define PART_TODO_AUTH_CAPTURE PART_TODO("declined --vendor-response 230")
#define PART_TODO_CAPTURE_UNKNOWN                                                                  \
    "; wreq resolve" TODO_TXN " --outcome approved --amount <captured> if captured, else "         \
    "declined --vendor-response 230 --amount <part>" TODO_SEE

/* An operation whose ics_auth may approve a part (ReasonCode 110): an authorization, a
 * token+auth or an auth+capture. */
static bool partial_op(const char *op)
{
    return strcmp(op, "auth") == 0 || strcmp(op, "token_auth") == 0 ||
           strcmp(op, "auth_capture") == 0;
}

/*
 * True when res, a record of an authorization or auth+capture read as an answer (verdict f), is
 * a partial approval — ics_auth ReasonCode 110 (RCode 1, or 0 as CyberSource writes it:
 * cyb_query.h) — read approved, held or refused by Decision Manager after it, or refused or
 * failed after it (an auth+capture's capture refused or not run, a token+auth's token refused,
 * an authorization's 0/110 without an amount, which cyb_query.c reads declined), whose amount is
 * not below what the request sent (sent, a decimal: the required response's amount; NULL when
 * the caller compares none, pl_resolver_decide), or that carries none; with why. The record's
 * PaymentData/Amount is not necessarily the amount approved: a report may give the amount asked
 * (the simulator gives "what was approved, else what was asked"). Applied, such a record would
 * be `approved` for the whole amount asked while the issuer approved a part (the order booked as
 * paid in full, an authorization captured for more than it holds), and a refusal's reversal (a
 * reject's or token+auth's `.rev`, an auth+capture's `.sdr`) would go for the whole amount:
 * CyberSource refuses a reversal above what it authorized, nobody reads that reply, and the
 * issuer's hold stays on the card. Only an amount below what was sent is the part (the answer in
 * time has ccAuthReply's own amount, which the adapter reads). A refusal the record says only
 * 151, 152 or 250 of stays received_timeout's (asked again: it may still tell whether the capture
 * happened). Asking again tells nothing more: escalated at once, with the operator's step
 * (CAPTURED_TODO for a captured one, PART_TODO_* otherwise) — never the timeout reversal, which
 * goes for the whole amount sent and is refused above the part (step: decision_ex.part_unknown).
 * The reason says "partial approval (110)" only of an approval (ACCEPT); Decision Manager's
 * reject or review of it, and a refusal or failure after it, are "<decision> <reason> after a
 * partial approval (110)", each with its own step (before, a 481 or 480 read as a partial
 * approval, and the operator was told to approve an order Decision Manager refused or held).
 */
static bool partial_unreadable(const char *op, pl_cyb_found f, const pl_bureau_result *res,
                               const char *sent, int queries, char *why, size_t whysz)
{
    bool auth_capture = strcmp(op, "auth_capture") == 0;
    if (f == PL_CYB_NOT_THERE || strcmp(res->service_reason_code, "110") != 0 || !partial_op(op) ||
        (f != PL_CYB_FOUND_OK && pl_cybersource_received_timeout(res->reason_code)))
        return false;
    int64_t asked = 0;
    bool known = sent && pl_money_parse_decimal(sent, &asked) == 0;
    if (res->has_amount && res->amount > 0 && (!sent || (known && res->amount < asked)))
        return false;
    /* What fits the escalation's reason (why, 200 bytes) beside the operator's step, whole: the
     * decision and reason a refusal shows are CyberSource's (at most 6 and 3 characters). */
    char amount[36], state[48];
    if (!res->has_amount)
        copy(amount, sizeof amount, "without an amount");
    else if (!known)
        copy(amount, sizeof amount, "the amount sent not recorded");
    else
        snprintf(amount, sizeof amount, "no amount below the %s sent", sent);
    /* Decision Manager's reject or review of an approval (ics_decision RCode 0, record_to_result)
     * is what the row is resolved as, for the part: shown as such, never as an approval. */
    bool accept = f == PL_CYB_FOUND_OK && strcmp(res->decision, "ACCEPT") == 0;
    if (accept)
        copy(state, sizeof state, "partial approval (110)");
    else
        snprintf(state, sizeof state, "%.6s %.3s after a partial approval (110)", res->decision,
                 res->reason_code);
    const char *todo =
        auth_capture                                                   ? PART_TODO_AUTH_CAPTURE
        : f == PL_CYB_FOUND_OK && strcmp(res->decision, "REVIEW") == 0 ? PART_TODO_REVIEW
        : f == PL_CYB_FOUND_OK && strcmp(res->decision, "REJECT") == 0 ? PART_TODO_REJECTED
                                                                       : PART_TODO_AUTH;
    if (res->capture_approved)
        escalation_why(why, whysz, CAPTURED_TODO, res->request_id,
                       "query %d: 110 " CAPTURED_ESCALATION ", %s", queries, amount);
    else
        escalation_why(why, whysz, todo, res->request_id, "query %d: %s, %s", queries, state,
                       amount);
    return true;
}

/* The decision also carries the record read as an answer; resolver.c keeps it beside. */
typedef struct decision_ex {
    pl_resolve_decision d;
    bool from_answer;     /* res holds the bureau's answer (map it as the worker would) */
    pl_bureau_result res; /* when from_answer */
    /* ESCALATE: a partial approval (110) whose part the record cannot tell
     * (partial_unreadable), or after which the record says only 151, 152 or 250 (decide's
     * received_timeout branch, at the last query). The step escalates it even where the policy
     * reverses an authorization that cannot be confirmed: the timeout reversal goes for the
     * whole amount the request sent, which CyberSource refuses above the part, and the
     * escalation of that refusal would replace the reason that tells the operator what to do. */
    bool part_unknown;
    /* ESCALATE: the record says the auth+capture was captured (res.capture_approved, in
     * captured_unappliable or partial_unreadable's captured branch): the row records it
     * (required_response.captured), and an operator's refusal of it publishes no `.sdr`
     * (escalated_captured). */
    bool captured;
    /* ESCALATE from a record: its RequestID when record_rid_usable, else "" (the row keeps it in
     * required_response.record_request_id; the step names it when it fits: escalation_why). */
    char record_rid[65];
    /*
     * An authorization ("auth", "token_auth": holds_op) whose record the report shows beside
     * other records of the request that say it was approved too, or may have been (FOUND_OK with
     * more than one: a retry the bureau received and authorized): each is a hold on the card
     * that nothing paylink applies reverses. also_n: how many others (0: none), also_unreadable
     * of them unreadable; also_detail their RequestIDs as several_why names them, with their
     * amounts (the step's line: also_authorized_said; an APPLY's note names the ids); kept: the
     * record the row is decided by, its RequestID and amount.
     */
    size_t also_n, also_unreadable;
    char also_detail[PL_CYB_QUERY_MAX_RECORDS * 64];
    char kept[112];
} decision_ex;

/* x's record_rid: rec's RequestID, when `wreq resolve --transaction-id` takes it as it is. */
static void keep_record_rid(decision_ex *x, const pl_cyb_query_record *rec)
{
    copy(x->record_rid, sizeof x->record_rid,
         rec && record_rid_usable(rec->request_id) ? rec->request_id : "");
}

/* What an escalation at the last query starts its reason with (decide). */
#define ESCALATED_AFTER "escalated after %d queries; "

/*
 * What an operator told of a request the bureau answered but whose record its report does not
 * show (decide's answered_todo) is to do: read the request in the Business Center and resolve it
 * as it says there.
 */
#define ANSWERED_TODO                                                                              \
    "; wreq resolve" TODO_TXN " --outcome <as the Business Center shows it>" TODO_SEE

/*
 * What an operator told of a capture, credit or auth+capture that the bureau's records say was
 * applied more than once under one request (FOUND_SEVERAL) is to do: settle the request as
 * applied (one of them is paylink's), then undo the others in the Business Center (a credit of
 * an extra capture, a capture of an extra credit).
 */
#define SEVERAL_TODO "; wreq resolve --outcome approved" TODO_TXN ", undo the others" TODO_SEE

/* Which application of op makes rec FOUND_UNREADABLE, into out: "ics_bill: no RCode",
 * "ics_bill: RCode 2". The name is one of op's (runs_app), never the report's free text. */
static void unreadable_app(const char *op, const pl_cyb_query_record *rec, char *out, size_t n)
{
    copy(out, n, "an application: no RCode");
    for (size_t i = 0; i < rec->napps; i++) {
        const pl_cyb_app_reply *a = &rec->apps[i];
        if (!runs_app(op, a->name) ||
            (a->has_rcode && (a->rcode == 1 || a->rcode == 0 || a->rcode == -1)))
            continue;
        if (a->has_rcode)
            snprintf(out, n, "%s: RCode %d", a->name, a->rcode);
        else
            snprintf(out, n, "%s: no RCode", a->name);
        return;
    }
}

/* A record's amount as an operator reads it: "120.00 USD", "no amount". */
static void record_amount(const pl_cyb_query_record *r, char *out, size_t n)
{
    char amount[24];
    if (r->has_amount && pl_money_format(r->amount, amount, sizeof amount) == 0)
        snprintf(out, n, "%s%s%s", amount, r->currency[0] ? " " : "", r->currency);
    else
        copy(out, n, "no amount");
}

/*
 * The RequestIDs of a's records but skip (NULL: all), ", " between them, into out (n bytes): an
 * id an operator could not paste as it is shows as "?" (record_rid_usable; never a card
 * number). With detail, each with its amount ("4036... for 120.00 USD") or "(unreadable)". Only
 * whole entries: "..." ends a list that does not fit, never a cut id an operator would paste.
 */
static void applied_ids(const pl_cyb_query_applied *a, const pl_cyb_query_record *skip, bool detail,
                        char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    size_t len = 0, left = 0;
    for (size_t i = 0; i < a->n; i++)
        left += a->recs[i] != skip;
    for (size_t i = 0; i < a->n; i++) {
        const pl_cyb_query_record *r = a->recs[i];
        if (r == skip)
            continue;
        left--;
        char entry[128], what[48] = "";
        if (detail && a->found[i] == PL_CYB_FOUND_UNREADABLE)
            copy(what, sizeof what, " (unreadable)");
        else if (detail) {
            char amount[40];
            record_amount(r, amount, sizeof amount);
            snprintf(what, sizeof what, " for %s", amount);
        }
        int k = snprintf(entry, sizeof entry, "%s%s%s", len ? ", " : "",
                         record_rid_usable(r->request_id) ? r->request_id : "?", what);
        /* Room for it, and for the ", ..." of the ones after it when there are any. */
        size_t need = (size_t)(k < 0 ? 0 : k) + (left ? sizeof ", ..." : 1);
        if (k < 0 || len + need > n) {
            const char *more = len ? ", ..." : "...";
            if (len + strlen(more) < n)
                memcpy(out + len, more, strlen(more) + 1);
            return;
        }
        memcpy(out + len, entry, (size_t)k + 1);
        len += (size_t)k;
    }
}

/*
 * The escalation's reason of a FOUND_SEVERAL answer (a: the records of the request that say op
 * was applied, or may have been: FOUND_OK or FOUND_UNREADABLE) into why: how many, and their
 * RequestIDs as far as they fit (applied_ids), then the operator's step, whole; rid is the one
 * the step names (the first applied). Returns true when one of them says an auth+capture was
 * captured (ics_bill RCode 1): the row records it, so an operator's refusal publishes no `.sdr`
 * (escalated_captured).
 */
static bool several_why(const char *op, const pl_cyb_query_applied *a, const char *rid, int queries,
                        char *why, size_t whysz)
{
    char ids[PL_CYB_QUERY_MAX_RECORDS * 24 + 1];
    bool captured = false;
    for (size_t i = 0; i < a->n; i++) {
        const pl_cyb_app_reply *bill = app_named(a->recs[i], "ics_bill");
        if (strcmp(op, "auth_capture") == 0 && bill && bill->has_rcode && bill->rcode == 1)
            captured = true;
    }
    applied_ids(a, NULL, false, ids, sizeof ids);
    size_t n = a->n, unreadable = a->unreadable;
    char unread[40] = "";
    if (unreadable)
        snprintf(unread, sizeof unread, " (%zu unreadable)", unreadable);
    /* What it is comes first: the ids are cut when all do not fit (the Business Center lists
     * them by the merchant reference code, paylink's request_id). */
    escalation_why(why, whysz, SEVERAL_TODO, rid,
                   "query %d: %s more than once? %zu %s records%s: %s", queries,
                   strcmp(op, "credit") == 0 ? "refunded" : "charged", n, op, unread, ids);
    return captured;
}

/* An operation that leaves a hold on the card when approved, and that pl_cyb_query_outcome keeps
 * the first approval of (not `once`): an authorization or a token+auth. */
static bool holds_op(const char *op)
{
    return strcmp(op, "auth") == 0 || strcmp(op, "token_auth") == 0;
}

/*
 * Into x: the records of a other than rec (the FOUND_OK one x is decided by) when op holds the
 * card (holds_op). Several approved authorizations of one request are a retry the bureau
 * received and authorized twice: the order has its authorization (rec's, applied as before), and
 * the others hold the cardholder's funds until they expire. Before, nobody was told of them
 * (cyb_query.h); now the step logs them (also_authorized_said) and an applied row's note names
 * them. paylink reverses none of them: an operator does, in the Business Center.
 */
static void also_authorized(decision_ex *x, const char *op, const pl_cyb_query_applied *a,
                            const pl_cyb_query_record *rec)
{
    if (!holds_op(op) || a->n < 2)
        return;
    x->also_n = a->n - 1;
    x->also_unreadable = a->unreadable;
    applied_ids(a, rec, true, x->also_detail, sizeof x->also_detail);
    char amount[32];
    record_amount(rec, amount, sizeof amount);
    snprintf(x->kept, sizeof x->kept, "%s for %s",
             record_rid_usable(rec->request_id) ? rec->request_id : "?", amount);
}

/*
 * decide_answered, as pl_resolver_decide (resolver.h); sent is what the request sent (the
 * required response's amount, a decimal; "" when it has none), which a partial approval's amount
 * must be below to be believed (partial_unreadable), or NULL when the caller compares none.
 * answered_todo, when not NULL, says the bureau answered the request (step's answered_todo): a
 * query that finds no record of it is never believed, however long ago it was sent (the bureau
 * processed it; only its report lags), and is asked again, then escalated at the last query with
 * that operator's step. Before, such a row was settled `error`, "nothing was charged", after
 * not_found_after_s: the order system authorized again beside the hold of a partial approval,
 * or sent again the debit of an auth+capture the bureau had captured.
 */
static decision_ex decide_answered(const pl_resolve_policy *p, const char *op, const char *ref,
                                   int query_rc, const char *why_failed,
                                   const pl_cyb_query_result *qres, int queries, double sent_age_s,
                                   const char *sent, const char *answered_todo)
{
    decision_ex x;
    memset(&x, 0, sizeof x);
    pl_resolve_decision *d = &x.d;
    bool last = queries >= p->max_queries;
    if (query_rc != 0) {
        snprintf(d->why, sizeof d->why, "query %d failed: %s", queries,
                 why_failed && *why_failed ? why_failed : pl_err_str(query_rc));
    } else {
        const pl_cyb_query_record *rec = NULL;
        pl_cyb_query_applied applied;
        pl_cyb_found f = pl_cyb_query_outcome_applied(qres, ref, op, &rec, &applied);
        /* Whatever becomes of it (applied, escalated, reversed), the others' holds are told. */
        if (f == PL_CYB_FOUND_OK && rec && op)
            also_authorized(&x, op, &applied, rec);
        if (f != PL_CYB_NOT_THERE && !rec) {
            /* An operation the query cannot judge: never read as "not there" (that would
             * settle as nothing charged), never applied. */
            snprintf(d->why, sizeof d->why, "query %d: the report cannot tell about \"%s\"",
                     queries, op ? op : "");
        } else if (f == PL_CYB_FOUND_SEVERAL) {
            /* The bureau applied the capture or credit (or may have) more than once under this
             * request: applying one record would leave the other charge or refund unseen.
             * Asking again tells nothing more: escalated at once. */
            d->kind = PL_RESOLVE_ESCALATE;
            keep_record_rid(&x, rec);
            x.captured = several_why(op, &applied, x.record_rid, queries, d->why, sizeof d->why);
            return x;
        } else if (f == PL_CYB_FOUND_UNREADABLE) {
            /*
             * An application of the operation without an RCode, or with one other than 1, 0 or
             * -1: the record does not say whether the request was processed. Before, it was
             * applied as a failure (ERROR with its ReasonCode, or 150): the order system sent the
             * capture or credit again, charging twice. Treated as received_timeout's record:
             * asked again, then escalated at the last query (an authorization reversed where the
             * policy says so, but not after a partial approval: its timeout reversal goes for
             * the whole amount sent). One that says the auth+capture was captured (ics_bill
             * RCode 1) is escalated at once as captured, as captured_unappliable escalates one
             * refused or failed beside the capture.
             */
            char app[64];
            unreadable_app(op, rec, app, sizeof app);
            record_to_result(op, f, rec, &x.res);
            keep_record_rid(&x, rec);
            if (x.res.capture_approved) {
                d->kind = PL_RESOLVE_ESCALATE;
                x.captured = true;
                escalation_why(d->why, sizeof d->why, CAPTURED_TODO, x.record_rid,
                               "query %d: " CAPTURED_ESCALATION ", %s", queries, app);
                memset(&x.res, 0, sizeof x.res);
                return x;
            }
            x.part_unknown = partial_op(op) && strcmp(x.res.service_reason_code, "110") == 0;
            int prefix = snprintf(NULL, 0, ESCALATED_AFTER, queries);
            bool whole = x.part_unknown && last && prefix > 0 && (size_t)prefix < sizeof d->why / 2;
            if (whole && strcmp(op, "auth_capture") == 0)
                escalation_why(d->why, sizeof d->why - (size_t)prefix, PART_TODO_CAPTURE_UNKNOWN,
                               x.record_rid, "110 unreadable");
            else if (whole)
                escalation_why(d->why, sizeof d->why - (size_t)prefix, PART_TODO_AUTH, x.record_rid,
                               "query %d: 110, then %s", queries, app);
            else
                snprintf(d->why, sizeof d->why,
                         "query %d: the bureau's record is unreadable (%s): it cannot tell "
                         "whether the request was processed",
                         queries, app);
            memset(&x.res, 0, sizeof x.res);
        } else if (f != PL_CYB_NOT_THERE &&
                   captured_unappliable(op, f, rec, &x.res, queries, d->why, sizeof d->why)) {
            d->kind = PL_RESOLVE_ESCALATE;
            x.captured = true;
            keep_record_rid(&x, rec);
            memset(&x.res, 0, sizeof x.res);
            return x;
        } else if (f != PL_CYB_NOT_THERE &&
                   partial_unreadable(op, f, &x.res, sent, queries, d->why, sizeof d->why)) {
            /* x.res: the record as captured_unappliable read it just above. */
            d->kind = PL_RESOLVE_ESCALATE;
            x.part_unknown = true;
            x.captured = x.res.capture_approved;
            keep_record_rid(&x, rec);
            memset(&x.res, 0, sizeof x.res);
            return x;
        } else if ((f == PL_CYB_FOUND_ERROR || f == PL_CYB_FOUND_DECLINED) &&
                   received_timeout(op, f, rec, &x.res)) {
            /* The record says only what the answer said: 151/152/250, received and then a
             * time-out at the bureau. Applied as an error it would free the order system to send
             * it again (the worker left it unknown for that reason): asked again, then escalated
             * (or, for an authorization, reversed). So too a record read as a refusal (an
             * application RCode 0) whose reason is one (record_to_result): before, it was
             * applied `declined`, and its reversal (an auth+capture's `.sdr`, a `.rev`) went for
             * the whole amount sent. After a partial approval (ics_auth 110,
             * which partial_unreadable leaves to this branch: a token or a capture that timed
             * out may yet be told) the part is not the record's to tell either: escalated at the
             * last query without the timeout reversal, which goes for the whole amount sent and
             * is refused above the part (before, it went, and the hold stayed), its reason
             * ending with the operator's step, short enough for the "escalated after" prefix
             * below never to cut it. */
            x.part_unknown = partial_op(op) && strcmp(x.res.service_reason_code, "110") == 0;
            keep_record_rid(&x, rec); /* for the escalation at the last query */
            int prefix = snprintf(NULL, 0, ESCALATED_AFTER, queries);
            bool whole = x.part_unknown && last && prefix > 0 && (size_t)prefix < sizeof d->why / 2;
            /* An auth+capture's step gives both commands in full (PART_TODO_CAPTURE_UNKNOWN):
             * its text is only the code after the 110, the number of queries being in the
             * prefix, so that with up to 999 queries nothing of it is cut. */
            if (whole && strcmp(op, "auth_capture") == 0)
                escalation_why(d->why, sizeof d->why - (size_t)prefix, PART_TODO_CAPTURE_UNKNOWN,
                               x.record_rid, "%.3s after 110", x.res.reason_code);
            else if (whole)
                escalation_why(d->why, sizeof d->why - (size_t)prefix, PART_TODO_AUTH, x.record_rid,
                               "query %d: %.6s %.3s after a partial approval (110)", queries,
                               x.res.decision, x.res.reason_code);
            else
                snprintf(d->why, sizeof d->why,
                         "query %d: the bureau's record says %s (received, then a time-out): it "
                         "cannot tell whether the request was processed",
                         queries, x.res.reason_code);
            memset(&x.res, 0, sizeof x.res);
        } else if (f != PL_CYB_NOT_THERE) {
            d->kind = PL_RESOLVE_APPLY;
            x.from_answer = true;
            record_to_result(op, f, rec, &x.res);
            int n = snprintf(d->outcome.note, sizeof d->outcome.note,
                             "the bureau's transaction query found the request (%s)",
                             f == PL_CYB_FOUND_OK         ? "processed"
                             : f == PL_CYB_FOUND_DECLINED ? "declined"
                                                          : "failed");
            /* The row's note (resolution_note, last_query_result: `wreq show`, `wreq list
             * --status resolved`) names the other authorizations' holds, the operator's step
             * first: the ids are whole or left out (applied_ids), and the step's line has
             * them all. */
            if (x.also_n && n > 0 && (size_t)n < sizeof d->outcome.note) {
                size_t len = (size_t)n;
                char unread[40] = "";
                if (x.also_unreadable)
                    snprintf(unread, sizeof unread, " (%zu unreadable)", x.also_unreadable);
                n = snprintf(d->outcome.note + len, sizeof d->outcome.note - len,
                             "; %zu more record%s of it authorized%s, reverse in the Business "
                             "Center: ",
                             x.also_n, x.also_n == 1 ? "" : "s", unread);
                if (n > 0 && (size_t)n < sizeof d->outcome.note - len)
                    applied_ids(&applied, rec, false, d->outcome.note + len + (size_t)n,
                                sizeof d->outcome.note - len - (size_t)n);
            }
            return x;
        } else if (answered_todo) {
            /* The step, whole, beside the "escalated after" prefix at the last query. */
            int prefix = snprintf(NULL, 0, ESCALATED_AFTER, queries);
            size_t room = prefix > 0 && (size_t)prefix < sizeof d->why / 2
                              ? sizeof d->why - (size_t)prefix
                              : sizeof d->why;
            if (last)
                escalation_why(d->why, room, answered_todo, NULL,
                               "query %d: no record yet, though the bureau answered", queries);
            else
                snprintf(d->why, sizeof d->why,
                         "query %d: no record at the bureau yet, though it answered the request "
                         "(sent %.0f s ago): its report may lag",
                         queries, sent_age_s);
        } else if (sent_age_s >= p->not_found_after_s) {
            d->kind = PL_RESOLVE_APPLY;
            d->outcome.status = PL_ST_ERROR;
            copy(d->outcome.decision, sizeof d->outcome.decision, "");
            copy(d->outcome.note, sizeof d->outcome.note,
                 "the bureau has no record of this request: it was never processed and nothing "
                 "was charged");
            return x;
        } else
            snprintf(d->why, sizeof d->why,
                     "query %d: no record at the bureau yet (sent %.0f s ago; believed after %d "
                     "s)",
                     queries, sent_age_s, p->not_found_after_s);
    }
    if (last) {
        d->kind = PL_RESOLVE_ESCALATE;
        /* What decides comes first: a long failure text is cut, never the escalation. */
        char why[sizeof d->why];
        memcpy(why, d->why, sizeof why);
        int n = snprintf(d->why, sizeof d->why, ESCALATED_AFTER, queries);
        if (n > 0 && (size_t)n < sizeof d->why)
            snprintf(d->why + n, sizeof d->why - (size_t)n, "%.*s", (int)(sizeof d->why) - n - 1,
                     why);
    } else {
        d->kind = PL_RESOLVE_RETRY;
        d->delay_s = pl_resolve_retry_delay_s(p, queries);
    }
    return x;
}

/* decide_answered for a row whose worker had no answer (answered_todo NULL). */
static decision_ex decide(const pl_resolve_policy *p, const char *op, const char *ref, int query_rc,
                          const char *why_failed, const pl_cyb_query_result *qres, int queries,
                          double sent_age_s, const char *sent)
{
    return decide_answered(p, op, ref, query_rc, why_failed, qres, queries, sent_age_s, sent, NULL);
}

pl_resolve_decision pl_resolver_decide(const pl_resolve_policy *p, const char *op,
                                       const char *merchant_reference, int query_rc,
                                       const char *why_failed, const pl_cyb_query_result *res,
                                       int queries, double sent_age_s)
{
    /* What the request sent is not known here: a partial approval's amount is compared with it
     * by the resolver's step (decide's sent), not by this function. */
    decision_ex x =
        decide(p, op, merchant_reference, query_rc, why_failed, res, queries, sent_age_s, NULL);
    if (x.from_answer) {
        /* The outcome as the answer says, before the worker's vendor response table: the
         * resolver itself maps it with pl_job_map_answer. */
        pl_resolve_outcome *o = &x.d.outcome;
        const pl_bureau_result *r = &x.res;
        o->status = strcmp(r->decision, "ACCEPT") == 0   ? PL_ST_APPROVED
                    : strcmp(r->decision, "REVIEW") == 0 ? PL_ST_REVIEW
                    : strcmp(r->decision, "REJECT") == 0
                        ? (strcmp(r->reason_code, "481") == 0 || strcmp(r->reason_code, "400") == 0
                               ? PL_ST_REJECTED
                               : PL_ST_DECLINED)
                        : PL_ST_ERROR;
        copy(o->decision, sizeof o->decision, r->decision);
        copy(o->vendor_response, sizeof o->vendor_response, r->reason_code);
        o->has_amount = r->has_amount && o->status == PL_ST_APPROVED;
        o->amount = r->amount;
        copy(o->auth_number, sizeof o->auth_number, r->auth_code);
        copy(o->transaction_id, sizeof o->transaction_id, r->request_id);
        copy(o->avs, sizeof o->avs, r->avs);
        copy(o->cvv, sizeof o->cvv, r->cvv);
    }
    return x.d;
}

/* ---- the resolver ------------------------------------------------------------------------- */

struct pl_resolver {
    char *conninfo, *worker, *owner, *prefix, *ca_file;
    pl_resolver_publish_fn publish;
    void *publish_arg;
    PGconn *db;
    pl_services *services;
    time_t services_at;
    bool any_worker; /* paylinkctl's: takes rows of every worker (cfg worker "") */
    pl_counter *m_query_ok, *m_query_failed, *m_by_query, *m_by_operator, *m_by_reversal,
        *m_escalated;
    char last_error[240]; /* why the last apply failed (apply_failed) */
    /* The report passwords last read, kept across a failed read of the same reference
     * (query_cyb_day); wiped by pl_resolver_destroy. */
    pl_dm_passwords passwords;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

pl_resolver *pl_resolver_new(const pl_resolver_config *cfg, char *err, size_t errsz)
{
    if (!cfg || !cfg->conninfo || !cfg->worker || !cfg->owner || !cfg->topic_prefix ||
        !cfg->publish) {
        snprintf(err, errsz, "resolver: incomplete configuration");
        return NULL;
    }
    pl_resolver *r = calloc(1, sizeof *r);
    if (!r || !(r->conninfo = strdup(cfg->conninfo)) || !(r->worker = strdup(cfg->worker)) ||
        !(r->owner = strndup(cfg->owner, 120)) || !(r->prefix = strdup(cfg->topic_prefix)) ||
        (cfg->ca_file && !(r->ca_file = dup_or_null(cfg->ca_file)))) {
        pl_resolver_destroy(r);
        snprintf(err, errsz, "resolver: out of memory");
        return NULL;
    }
    r->any_worker = !cfg->worker[0];
    r->publish = cfg->publish;
    r->publish_arg = cfg->publish_arg;
    if (cfg->metrics) {
        pl_metrics *m = cfg->metrics;
        const char *qh = "Transaction queries the resolver made, by result: answered (the bureau "
                         "answered, found or not), failed.";
        r->m_query_ok =
            pl_metrics_counter(m, "paylink_resolver_queries_total", qh, "result=answered");
        r->m_query_failed =
            pl_metrics_counter(m, "paylink_resolver_queries_total", qh, "result=failed");
        const char *rh = "Required responses resolved by this worker's resolver or an operator, "
                         "by how (late answers count in paylink_requests_total).";
        r->m_by_query =
            pl_metrics_counter(m, "paylink_required_responses_resolved_total", rh, "how=query");
        r->m_by_operator =
            pl_metrics_counter(m, "paylink_required_responses_resolved_total", rh, "how=operator");
        r->m_by_reversal = pl_metrics_counter(m, "paylink_required_responses_resolved_total", rh,
                                              "how=timeout_reversal");
        r->m_escalated = pl_metrics_counter(m, "paylink_required_responses_escalated_total",
                                            "Required responses escalated to an operator.", NULL);
    }
    /* The bureaus' settings read now, as the worker reads its own at start-up, so that every
     * later reload carries what was read here (services(), pl_services_carry): read first hours
     * later, after a secret file became unreadable under an unchanged reference, the resolver
     * found the bureau unusable (and held its own reversals for a day, reask_one) while the
     * engine kept the secret and went on using it. Not read now (the database unreachable): read
     * at first use, as before. */
    char lerr[256];
    r->services = pl_services_load_conninfo(r->conninfo, lerr, sizeof lerr);
    if (r->services)
        r->services_at = time(NULL);
    return r;
}

void pl_resolver_destroy(pl_resolver *r)
{
    if (!r)
        return;
    PQfinish(r->db);
    if (r->services)
        pl_services_unref(r->services);
    free(r->conninfo);
    free(r->worker);
    free(r->owner);
    free(r->prefix);
    free(r->ca_file);
    pl_dm_passwords_wipe(&r->passwords);
    free(r);
}

static void count(pl_counter *c)
{
    if (c)
        pl_counter_add(c, 1);
}

static PGconn *conn(pl_resolver *r)
{
    if (r->db && PQstatus(r->db) == CONNECTION_OK)
        return r->db;
    PQfinish(r->db);
    char app[64];
    if (r->any_worker)
        snprintf(app, sizeof app, "paylinkctl-resolver");
    else
        snprintf(app, sizeof app, "paylink-%s-resolver", r->worker);
    r->db = pl_db_connect_named(r->conninfo, app, 10);
    if (PQstatus(r->db) != CONNECTION_OK) {
        PL_WARN(NULL, "resolver: cannot connect to the database: %s", PQerrorMessage(r->db));
        PQfinish(r->db);
        r->db = NULL;
    }
    return r->db;
}

static PGresult *exec(PGconn *c, const char *sql, int n, const char *const *p)
{
    return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

static bool ok(PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

/* Runs an UPDATE ... RETURNING of at most one row: 1 when it changed the row, 0 when it did not
 * (another actor got there first), PL_ERR_DB. */
static int update_one(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *res = exec(c, sql, n, p);
    int rc = !ok(res) ? PL_ERR_DB : PQntuples(res) == 1 ? 1 : 0;
    PQclear(res);
    return rc;
}

static bool simple(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    bool good = ok(res);
    PQclear(res);
    return good;
}

/* COMMIT, and true only when it committed: PostgreSQL answers the COMMIT of a transaction an
 * earlier statement failed in with success and the tag ROLLBACK. */
static bool commit(PGconn *c)
{
    PGresult *res = PQexec(c, "COMMIT");
    bool good = ok(res) && strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    return good;
}

/* Each worker's transaction table. */
static const char *table_of(const char *worker)
{
    if (strcmp(worker, "auth") == 0)
        return "cc_auth_trans";
    if (strcmp(worker, "deposit") == 0)
        return "cc_deposit_trans";
    if (strcmp(worker, "reversal") == 0)
        return "auth_reversal";
    if (strcmp(worker, "svc") == 0)
        return "svc_trans";
    return NULL;
}

/* The reply's Kafka key, <company>-<order>, as the engine keys replies: from the stored reply,
 * whose echoed order has any card number masked (the upstream system is not trusted). */
#define PL_REPLY_KEY_SQL                                                                           \
    "coalesce(t.reply->>'company', '') || '-' || coalesce(t.reply->>'order', '')"

/* Everything one step needs, by row id (the table is named from a fixed list, never input). */
#define SQL_LOAD                                                                                   \
    "SELECT r.request_id, r.worker, r.status, r.service_bureau, coalesce(s.protocol, ''), "        \
    "r.operation, coalesce(r.amount::text, ''), r.queries, "                                       \
    "extract(epoch FROM now() - coalesce(t.sent_at, r.created_at)), "                              \
    "extract(epoch FROM coalesce(t.sent_at, r.created_at))::bigint, t.status, "                    \
    "coalesce(t.reply::text, ''), " PL_REPLY_KEY_SQL ", %s, "                                      \
    "p.protocol IS NOT NULL, coalesce(p.ask_bureau, false), "                                      \
    "coalesce(p.first_query_after_s, 10), coalesce(p.retry_after_s, 30), "                         \
    "coalesce(p.backoff_factor, 2)::float8, coalesce(p.max_retry_after_s, 900), "                  \
    "coalesce(p.not_found_after_s, 120), coalesce(p.max_queries, 12), "                            \
    "coalesce(p.lease_s, 120), d.user_id, d.password_ref, "                                        \
    "CASE WHEN d.send_to_production THEN d.query_production_url ELSE d.query_test_url END, "       \
    "r.lease_owner, r.lease_until > now(), coalesce(p.reverse_unconfirmed, false), "               \
    "coalesce(p.reverse_after_s, 60), coalesce(s.send_reversal, false), "                          \
    "coalesce(r.reversal_request_id, ''), "                                                        \
    "coalesce(extract(epoch FROM now() - r.reversal_requested_at), -1), r.reason, r.captured, "    \
    "strpos(r.detail, $2) > 0, r.company::text, r.order_number, coalesce(r.currency, '') "         \
    "FROM required_response r JOIN %s t ON t.request_id = r.request_id "                           \
    "LEFT JOIN auth_service s ON s.service_bureau = r.service_bureau "                             \
    "LEFT JOIN resolution_policy p ON p.protocol = s.protocol AND p.worker = r.worker "            \
    "LEFT JOIN dm_settings d ON d.service_bureau = r.service_bureau AND s.protocol = 'CYB' "       \
    "WHERE r.id = $1::bigint"

typedef struct row {
    char id[24];
    char rid[51], worker[12], status[12], bureau[9], protocol[4], op[17], amount[24];
    int queries;
    double sent_age_s;
    int64_t sent_epoch;
    char tstatus[12];
    char *reply; /* malloc'd */
    char key[64];
    char merchant_id[31];
    pl_resolve_policy policy;
    bool has_dm;
    char user[61], password_ref[201], query_url[301];
    char lease_owner[121];
    bool leased;
    bool reverse_unconfirmed; /* policy */
    int reverse_after_s;      /* policy */
    bool send_reversal;       /* auth_service */
    char reversal_rid[51];    /* the timeout reversal requested, "" when none */
    double reversal_age_s;    /* since it was requested; < 0 when none */
    bool released;            /* an operator's reject: that reversal releases it (no .rev) */
    bool reversal_unrecorded; /* an operator's outcome: paylink-reversal has no row of that
                                 reversal (its publish may have failed): published again with
                                 the final reply */
    char reversal_now[16];    /* apply_as: that reversal's status when it was read again under
                                 the required response's lock, recorded meanwhile ("" when it
                                 still has no row: nothing was applied otherwise) */
    char auth_reason[16];     /* the queried record's ics_auth reason (its ccAuthReply's), "" when
                                 the outcome is not the bureau's record */
    bool captured;            /* the queried record's capture (an auth+capture's ics_bill)
                                 succeeded: nothing of its authorization is left to reverse */
    bool queried;             /* the outcome is the step's, from its query (the record's, or
                                 "no record"), not an operator's: captured says whether the
                                 record was captured (escalated_captured) */
    bool has_sent;            /* sent is what the call sent (pl_resolver_amount_sent, read
                                 before the outcome is applied: pl_resolver_operator's, and the
                                 step's of a reversal row, read_sent) */
    int64_t sent;             /* (minor units): a reversal approved for less asks for the rest
                                 (store_rest) */
    int rest_k;               /* store_rest: 1 when a rest was asked (0: nothing to log),
                                 logged by apply_as only once the outcome committed */
    pl_reversal_rest_request rest; /* its rest (rest.of cleared: the log reads none of it) */
    char rest_auth[65];            /* the authorization the log names */
    /* store_followups: the reversal of an auth or deposit row stored to go with its final reply
     * ("" none), and the authorization it names, logged by apply_as once the outcome committed
     * (written before, a commit that failed left a line naming a reversal never stored). */
    char rev_stored[51];
    char rev_auth[65];
    /* What the worker recorded when it left the outcome unknown: why (required_response.reason),
     * whether the answer said the auth+capture was captured (required_response.captured) and
     * whether it was a partial approval without a part (the adapter's refusal in the detail,
     * PL_CYBERSOURCE_REFUSED_PARTIAL): answered_todo and whole_reversal_refused read them. */
    char reason[24];
    bool row_captured;
    bool partial_answer;
    /* Whose request it is and its currency (required_response), for an operator's line
     * (also_authorized_said). */
    char company[12], order[21], currency[4];
} row;

static int load(pl_resolver *r, PGconn *c, const char *id, const char *worker, row *w)
{
    const char *table = table_of(worker);
    if (!table)
        return PL_ERR_INVALID;
    char sql[2600];
    snprintf(sql, sizeof sql, SQL_LOAD, "coalesce(t.merchant_id, '')", table);
    const char *p[] = {id, PL_CYBERSOURCE_REFUSED_PARTIAL};
    PGresult *res = exec(c, sql, 2, p);
    int rc = 0;
    if (!ok(res)) {
        PL_WARN(NULL, "resolver: reading required response %s failed: %s", id, PQerrorMessage(c));
        rc = PL_ERR_DB;
    } else if (PQntuples(res) != 1) {
        rc = PL_ERR_NOTFOUND;
    } else {
        memset(w, 0, sizeof *w);
        copy(w->id, sizeof w->id, id);
        copy(w->rid, sizeof w->rid, PQgetvalue(res, 0, 0));
        copy(w->worker, sizeof w->worker, PQgetvalue(res, 0, 1));
        copy(w->status, sizeof w->status, PQgetvalue(res, 0, 2));
        copy(w->bureau, sizeof w->bureau, PQgetvalue(res, 0, 3));
        copy(w->protocol, sizeof w->protocol, PQgetvalue(res, 0, 4));
        copy(w->op, sizeof w->op, PQgetvalue(res, 0, 5));
        copy(w->amount, sizeof w->amount, PQgetvalue(res, 0, 6));
        w->queries = atoi(PQgetvalue(res, 0, 7));
        w->sent_age_s = strtod(PQgetvalue(res, 0, 8), NULL);
        w->sent_epoch = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
        copy(w->tstatus, sizeof w->tstatus, PQgetvalue(res, 0, 10));
        w->reply = strdup(PQgetvalue(res, 0, 11));
        copy(w->key, sizeof w->key, PQgetvalue(res, 0, 12));
        copy(w->merchant_id, sizeof w->merchant_id, PQgetvalue(res, 0, 13));
        pl_resolve_policy *pol = &w->policy;
        *pol = pl_resolve_policy_default();
        pol->ask_bureau = PQgetvalue(res, 0, 15)[0] == 't';
        pol->first_query_after_s = atoi(PQgetvalue(res, 0, 16));
        pol->retry_after_s = atoi(PQgetvalue(res, 0, 17));
        pol->backoff_factor = strtod(PQgetvalue(res, 0, 18), NULL);
        pol->max_retry_after_s = atoi(PQgetvalue(res, 0, 19));
        pol->not_found_after_s = atoi(PQgetvalue(res, 0, 20));
        pol->max_queries = atoi(PQgetvalue(res, 0, 21));
        pol->lease_s = atoi(PQgetvalue(res, 0, 22));
        w->has_dm = !PQgetisnull(res, 0, 23);
        copy(w->user, sizeof w->user, PQgetvalue(res, 0, 23));
        copy(w->password_ref, sizeof w->password_ref, PQgetvalue(res, 0, 24));
        copy(w->query_url, sizeof w->query_url, PQgetvalue(res, 0, 25));
        copy(w->lease_owner, sizeof w->lease_owner, PQgetvalue(res, 0, 26));
        w->leased = PQgetvalue(res, 0, 27)[0] == 't';
        w->reverse_unconfirmed = PQgetvalue(res, 0, 28)[0] == 't';
        w->reverse_after_s = atoi(PQgetvalue(res, 0, 29));
        w->send_reversal = PQgetvalue(res, 0, 30)[0] == 't';
        copy(w->reversal_rid, sizeof w->reversal_rid, PQgetvalue(res, 0, 31));
        w->reversal_age_s = strtod(PQgetvalue(res, 0, 32), NULL);
        copy(w->reason, sizeof w->reason, PQgetvalue(res, 0, 33));
        w->row_captured = PQgetvalue(res, 0, 34)[0] == 't';
        w->partial_answer = PQgetvalue(res, 0, 35)[0] == 't';
        copy(w->company, sizeof w->company, PQgetvalue(res, 0, 36));
        copy(w->order, sizeof w->order, PQgetvalue(res, 0, 37));
        copy(w->currency, sizeof w->currency, PQgetvalue(res, 0, 38));
        if (!w->reply)
            rc = PL_ERR_NOMEM;
    }
    PQclear(res);
    (void)r;
    return rc;
}

static void row_free(row *w)
{
    free(w->reply);
    w->reply = NULL;
}

/* ---- asking CyberSource ------------------------------------------------------------------- */

typedef struct body {
    char *p;
    size_t n;
    bool too_big;
} body;

static size_t on_body(char *d, size_t size, size_t nmemb, void *arg)
{
    body *b = arg;
    size_t n = size * nmemb;
    if (b->n + n > PL_CYB_QUERY_MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    /* Grown by copy, the old buffer wiped: a report record names the card (its last digits,
     * its type) and the authorization, and realloc would leave the earlier bytes in freed
     * memory (http.c's buffers do the same). */
    char *np = malloc(b->n + n + 1);
    if (!np)
        return 0;
    if (b->p) {
        memcpy(np, b->p, b->n);
        pl_card_wipe(b->p, b->n);
        free(b->p);
    }
    memcpy(np + b->n, d, n);
    b->p = np;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static const pl_services *services(pl_resolver *r, PGconn *c);

int pl_resolver_query_days(int64_t sent_epoch, int64_t days[2])
{
    days[0] = sent_epoch;
    int64_t into = sent_epoch % 86400;
    if (into < 0)
        into += 86400;
    if (86400 - into <= PL_RESOLVER_DAY_MARGIN_S) {
        days[1] = sent_epoch + 86400;
        return 2;
    }
    if (into < PL_RESOLVER_DAY_MARGIN_S) {
        days[1] = sent_epoch - 86400;
        return 2;
    }
    return 1;
}

static int query_cyb_day(pl_resolver *r, PGconn *db, const row *w, int64_t day,
                         pl_cyb_query_result *res, char *why, size_t whysz);

/* Asks the bureau's report about the row on the days it may be filed under
 * (pl_resolver_query_days); 0 with *res read, or a pl_err with why. */
static int query_cyb(pl_resolver *r, PGconn *db, const row *w, pl_cyb_query_result *res, char *why,
                     size_t whysz)
{
    int64_t days[2];
    int n = pl_resolver_query_days(w->sent_epoch, days);
    int rc = query_cyb_day(r, db, w, days[0], res, why, whysz);
    if (rc == 0 && res->nrecs == 0 && n == 2)
        rc = query_cyb_day(r, db, w, days[1], res, why, whysz);
    return rc;
}

/* POSTs the query of the row for the UTC day of `day`; 0 with *res read, or a pl_err with why. */
static int query_cyb_day(pl_resolver *r, PGconn *db, const row *w, int64_t day,
                         pl_cyb_query_result *res, char *why, size_t whysz)
{
    const pl_services *all = services(r, db);
    const pl_service *svc = all ? pl_services_find(all, w->bureau) : NULL;
    if (!svc) {
        /* Its proxy is not known: asked directly, the query would go round a proxy the bureau's
         * calls go through (an egress control). Asked again later. */
        snprintf(why, whysz, "the settings of service bureau %s could not be read", w->bureau);
        return PL_ERR_CONFIG;
    }
    const char *proxy = svc->proxy;
    char password[256], err[180], auth[600];
    if (pl_dm_password_read(&r->passwords, w->bureau, w->password_ref, password, sizeof password,
                            err, sizeof err) != 0) {
        snprintf(why, whysz, "the report password cannot be read: %s", err);
        return PL_ERR_CONFIG;
    }
    int rc = pl_cyb_query_auth_header(w->user, password, auth, sizeof auth);
    pl_card_wipe(password, sizeof password);
    if (rc != 0) {
        snprintf(why, whysz, "the report user or password is not usable for Basic authentication");
        return rc;
    }
    pl_cyb_query q = {
        .merchant_id = w->merchant_id, .merchant_reference = w->rid, .target_day = day};
    char *form = pl_cyb_query_form(&q);
    if (!form) {
        pl_card_wipe(auth, sizeof auth);
        snprintf(why, whysz, "no query can be made (merchant ID \"%s\")", w->merchant_id);
        return PL_ERR_INVALID;
    }
    CURL *c = curl_easy_init();
    /* The header list on the stack, pointing at auth (wiped below): curl_slist_append would
     * copy the Basic credentials into memory freed unwiped. libcurl reads the list only while
     * the transfer runs. */
    struct curl_slist h[2] = {{(char *)PL_CYB_QUERY_CONTENT_TYPE, &h[1]}, {auth, NULL}};
    body b = {0};
    rc = PL_ERR_NOMEM;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, w->query_url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, QUERY_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        /* Without it, a query whose host name lookup hangs would return only when the system
         * resolver gives up (libcurl waits for its lookup thread), past CONNECT_TIMEOUT_S,
         * holding up this resolver's pass; the lookup is left to finish in the background
         * instead, as for the bureau calls (http.c). */
        curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (r->ca_file && *r->ca_file) {
            curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
            /* Debian's libcurl also trusts /etc/ssl/certs unless told not to: the private CA
             * replaces the system store, as for the bureau calls (http.c). */
            curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
        }
        /* The bureau's proxy (its own, else PAYLINK_PROXY_HOST), as for its calls; "" is
         * direct (and keeps libcurl from reading proxy variables of its own). */
        curl_easy_setopt(c, CURLOPT_PROXY, proxy);
        /* Nor the environment's no_proxy: it would send the query around the bureau's proxy
         * (http.c says why). */
        curl_easy_setopt(c, CURLOPT_NOPROXY, "");
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK) {
            snprintf(why, whysz, "%s%s", b.too_big ? "answer too long: " : "",
                     curl_easy_strerror(cc));
            rc = PL_ERR_HTTP;
        } else if (status != 200) {
            snprintf(why, whysz, "HTTP %ld", status);
            rc = PL_ERR_HTTP;
        } else {
            char perr[200] = "";
            rc = pl_cyb_query_parse(b.p ? b.p : "", b.n, res, perr, sizeof perr);
            if (rc != 0)
                snprintf(why, whysz, "%s: %s", rc == PL_ERR_AUTH ? "login refused" : "unreadable",
                         perr);
        }
    } else {
        snprintf(why, whysz, "out of memory");
    }
    curl_easy_cleanup(c);
    pl_card_wipe(auth, sizeof auth);
    free(form);
    if (b.p)
        pl_card_wipe(b.p, b.n);
    free(b.p);
    return rc;
}

/* ---- applying an outcome ------------------------------------------------------------------ */

/*
 * The reversal request rev_rid (a JSON text in *payload, malloc'd) for the order, pay type and
 * service bureau of the transaction request_id in table (cc_auth_trans or cc_deposit_trans),
 * of amount (decimal text; NULL or "": the transaction's own, which must exist when
 * amount_required), naming the authorization of (pl_reversal_of; a manual one's amount, when
 * of has none, is the reversal's). Returns 0, or a negative pl_err with why.
 */
static int reversal_request(PGconn *c, const char *table, const char *request_id,
                            const char *rev_rid, const char *amount, bool amount_required,
                            const pl_reversal_of *of, char **payload, char *why, size_t whysz)
{
    *payload = NULL;
    const char *p[] = {request_id};
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT company, order_number, pay_seq, service_bureau, coalesce(amount::text, ''), "
             "coalesce(currency, ''), pay_type, "
             "coalesce(to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), '') "
             "FROM %s WHERE request_id = $1",
             table);
    PGresult *res = exec(c, sql, 1, p);
    if (!ok(res) || PQntuples(res) != 1 ||
        (amount_required && !(amount && *amount) && !PQgetvalue(res, 0, 4)[0])) {
        snprintf(why, whysz, "the authorization cannot be read to reverse it");
        PQclear(res);
        return PL_ERR_DB;
    }
    /* Without an amount (none recorded) paylink-reversal reverses what was authorized, as for
     * paylink-auth's own reversal of a reject (pl_job_publish_reversal). */
    const char *amt = amount && *amount ? amount : PQgetvalue(res, 0, 4);
    pl_reversal_of inline_of = *of;
    /* A manual authorization's amount, when of has none: what it authorized; its date, when the
     * answer gave none: the day the request was sent (UTC). */
    if (!inline_of.auth_request_id && !inline_of.amount)
        inline_of.amount = amt;
    if (!inline_of.auth_request_id && !(inline_of.date && *inline_of.date))
        inline_of.date = PQgetvalue(res, 0, 7);
    const pl_reversal_message m = {.request_id = rev_rid,
                                   .company = atoi(PQgetvalue(res, 0, 0)),
                                   .order = PQgetvalue(res, 0, 1),
                                   .pay_seq = atoi(PQgetvalue(res, 0, 2)),
                                   .service = PQgetvalue(res, 0, 3),
                                   .amount = amt,
                                   .currency = PQgetvalue(res, 0, 5),
                                   .pay_type = PQgetvalue(res, 0, 6),
                                   .of = &inline_of};
    *payload = pl_reversal_request_json(&m);
    int rc = *payload ? 0 : PL_ERR_NOMEM;
    if (rc != 0)
        snprintf(why, whysz, "out of memory");
    PQclear(res);
    return rc;
}

/* The reversal request rev_rid of the paylink authorization auth_rid, for its order (its
 * cc_auth_trans row), of amount (as reversal_request). */
static int reversal_message(PGconn *c, const char *auth_rid, const char *rev_rid,
                            const char *amount, bool amount_required, char **payload, char *why,
                            size_t whysz)
{
    const pl_reversal_of of = {.auth_request_id = auth_rid};
    return reversal_request(c, "cc_auth_trans", auth_rid, rev_rid, amount, amount_required, &of,
                            payload, why, whysz);
}

/* The reversal request rev_rid of the authorization a deposit's auth+capture made (o: the
 * bureau's transaction id, authorization number and date; not a paylink authorization, so
 * named as a manual one), for the deposit's order and amount. */
static int deposit_reversal_message(PGconn *c, const char *deposit_rid, const char *rev_rid,
                                    const pl_resolve_outcome *o, const char *amount, char **payload,
                                    char *why, size_t whysz)
{
    const pl_reversal_of of = {
        .transaction_id = o->transaction_id, .number = o->auth_number, .date = o->auth_date};
    return reversal_request(c, "cc_deposit_trans", deposit_rid, rev_rid, amount, true, &of, payload,
                            why, whysz);
}

/* Per worker: the transaction row from 'unknown' to the outcome, with its history, exactly as
 * the worker's store (the claims follow from the tables' triggers; a rejected authorization's
 * payment deactivated as its vendor response row says, as paylink-auth does). Parameters: $1
 * request_id, $2 status, $3 decision, $4 vendor_response, $5 amount, $6 auth_number, $7 auth_date,
 * $8 transaction_id, $9 avs, $10 cvv, $11 hold_reason, $12 reply, $13 actor, $14 note. */
static const char *const APPLY_AUTH =
    "WITH upd AS (UPDATE cc_auth_trans SET status = $2::text, decision = $3, "
    "vendor_response = $4::text, "
    "amount_approved = $5::numeric, auth_number = $6, auth_date = $7, transaction_id = $8, "
    "request_token = '', avs_response = $9, cvv_response = $10, hold_reason = $11, "
    "payment_deactivated = ($2::text = 'rejected' AND EXISTS (SELECT 1 FROM vendor_response v "
    "WHERE v.service_bureau = cc_auth_trans.service_bureau AND v.response_kind = 'reason' "
    "AND v.response_code = $4::text AND v.deactivate_payment)), error_text = '', reply = "
    "$12::jsonb, "
    "answered_at = now() WHERE request_id = $1 AND status = 'unknown' RETURNING *), "
    "hist AS (INSERT INTO auth_history (request_id, company, order_number, pay_seq, "
    "service_bureau, transaction_type, status, amount_authorized, currency, auth_number, "
    "auth_date, transaction_id, request_token, vendor_response, avs_response, cvv_response) "
    /* A row made unknown before it was marked sent has no operation: an authorization. */
    "SELECT request_id, company, order_number, pay_seq, service_bureau, "
    "coalesce(nullif(operation, ''), 'auth'), status, "
    "amount_approved, currency, auth_number, auth_date, transaction_id, request_token, "
    "vendor_response, avs_response, cvv_response FROM upd), "
    /* An approved cardholder-initiated EXT authorization becomes the CIT of its order payment
     * method, as paylink-auth's store makes it (auth_cit_store): the split shipments and
     * installments that follow name it. Settled by an operator, it was never recorded, and
     * they named an older CIT, or none. */
    "cit AS (INSERT INTO card_cit (company, order_number, pay_seq, service_bureau, "
    "transaction_id, amount, currency, request_id) "
    "SELECT company, order_number, pay_seq, service_bureau, transaction_id, amount_approved, "
    "currency, request_id FROM upd WHERE status = 'approved' AND initiator = 'CARDHOLDER' "
    "AND transaction_id <> '' AND amount_approved IS NOT NULL AND currency IS NOT NULL "
    "ON CONFLICT (company, order_number, pay_seq) DO UPDATE SET "
    "service_bureau = excluded.service_bureau, transaction_id = excluded.transaction_id, "
    "amount = excluded.amount, currency = excluded.currency, request_id = excluded.request_id, "
    "created_at = now()) "
    "SELECT request_id, $13::text, $14::text FROM upd";

static const char *const APPLY_DEPOSIT =
    "WITH upd AS (UPDATE cc_deposit_trans SET status = $2, deposit_status = '*RCVD', "
    "decision = $3, vendor_response = $4, amount_deposited = $5::numeric, auth_number = $6, "
    "auth_date = $7, transaction_id = $8, request_token = '', error_text = '', "
    "reply = $12::jsonb, answered_at = now() "
    "WHERE request_id = $1 AND status = 'unknown' RETURNING *), "
    "hist AS (INSERT INTO cc_deposit_history (request_id, event, status, deposit_status, "
    "operation, amount, vendor_response, transaction_id, actor, note) "
    "SELECT request_id, 'received', status, deposit_status, operation, amount_deposited, "
    "vendor_response, transaction_id, left($13, 60), left($14, 300) FROM upd), "
    /* An auth+capture authorized anew: the authorization it made, as paylink-deposit records
     * it. */
    "newauth AS (INSERT INTO auth_history (request_id, deposit_request_id, company, "
    "order_number, pay_seq, service_bureau, transaction_type, status, amount_authorized, "
    "amount_deposited, currency, auth_number, auth_date, transaction_id, request_token, "
    "vendor_response) "
    "SELECT nullif(auth_ref_request_id, ''), request_id, company, order_number, pay_seq, "
    "service_bureau, 'auth_capture', 'approved', amount_deposited, amount_deposited, currency, "
    "auth_number, auth_date, transaction_id, request_token, vendor_response FROM upd "
    "WHERE upd.status = 'approved' AND upd.operation = 'auth_capture') "
    "SELECT request_id, $9::text, $10::text, $11::text FROM upd";

static const char *const APPLY_REVERSAL =
    "WITH upd AS (UPDATE auth_reversal SET status = $2, decision = $3, vendor_response = $4, "
    "amount_reversed = $5::numeric, transaction_id = $8, request_token = '', error_text = '', "
    "reply = $12::jsonb, answered_at = now() "
    "WHERE request_id = $1 AND status = 'unknown' RETURNING *) "
    "SELECT request_id, $6::text, $7::text, $9::text, $10::text, $11::text, $13::text, "
    "$14::text FROM upd";

/* What the outcome does to the card (an activation, a recharge) as paylink-svc's store does; a
 * deposit's to its authorization is the svc_trans_settle_deposit trigger's. */
static const char *const APPLY_SVC =
    "WITH upd AS (UPDATE svc_trans SET status = $2, vendor_response = $4, "
    "amount_approved = $5::numeric, auth_number = $6, svc_transaction_id = $8, "
    "hold_reason = $11, error_text = '', reply = $12::jsonb, answered_at = now() "
    "WHERE request_id = $1 AND status = 'unknown' RETURNING *), " PL_SVC_CARD_EFFECTS_SQL
    "SELECT request_id, $3::text, $7::text, $9::text, $10::text, $13::text, $14::text FROM upd";

static const char *apply_sql(const char *worker)
{
    if (strcmp(worker, "auth") == 0)
        return APPLY_AUTH;
    if (strcmp(worker, "deposit") == 0)
        return APPLY_DEPOSIT;
    if (strcmp(worker, "reversal") == 0)
        return APPLY_REVERSAL;
    if (strcmp(worker, "svc") == 0)
        return APPLY_SVC;
    return NULL;
}

static const pl_services *services(pl_resolver *r, PGconn *c)
{
    time_t now = time(NULL);
    if (!r->services || now - r->services_at > SERVICES_MAX_AGE_S) {
        char err[256];
        pl_services *s = pl_services_load(c, err, sizeof err);
        if (s) {
            /* As the worker's refresh does: a secret whose reference is unchanged but unreadable
             * now is kept, so that the resolver finds a bureau usable or not as the engine does
             * (reask_one waits for one that is not), from the settings read when the resolver
             * was made (pl_resolver_new). Not at a first load here (none could be read then):
             * the worker said at start-up what is unusable. */
            if (r->services) {
                pl_services_carry(s, r->services);
                pl_services_unref(r->services);
            }
            r->services = s;
            r->services_at = now;
        } else {
            PL_WARN(NULL, "resolver: reading the service bureaus failed: %s", err);
        }
    }
    return r->services;
}

/*
 * What the call of row w sent (pl_resolver_amount_sent: for a reversal its claim or its
 * authorization's amount, not the request's that a redelivery recorded on the row) into
 * w->has_sent and w->sent, as pl_resolver_operator reads it: the amount an answer without one
 * approves (map_answer), and what is left held when one approves less (store_rest). Returns 0,
 * or a negative pl_err when it cannot be read.
 */
static int read_sent(PGconn *c, row *w)
{
    char text[32];
    int rc = pl_resolver_amount_sent(c, strtoll(w->id, NULL, 10), text, sizeof text);
    if (rc != 0)
        return rc;
    w->has_sent = text[0] && pl_money_parse_decimal(text, &w->sent) == 0;
    return 0;
}

/* The bureau's answer mapped exactly as the worker maps an answer in time (vendor response
 * table: hold reasons, AVS/CVV holds, Siebel messages). */
static void map_answer(pl_resolver *r, PGconn *c, const row *w, const pl_bureau_result *res,
                       pl_resolve_outcome *o, char *message, size_t msgsz)
{
    pl_job *job = calloc(1, sizeof *job);
    if (!job)
        return;
    job->services = services(r, c);
    job->svc = job->services ? pl_services_find(job->services, w->bureau) : NULL;
    /* The amount an answer without one approves is what the call sent: a reversal's is its
     * claim or its authorization's, not the request's that a redelivery recorded on the row
     * (pl_resolver_amount_sent), or a whole reversal would be booked as a partial one. The
     * step reads it before (read_sent), and store_rest compares with the same. */
    char sent[32];
    int64_t amount;
    if (strcmp(w->worker, "reversal") == 0 && w->has_sent) {
        job->req.has_amount = true;
        job->req.amount = w->sent;
    } else {
        if (strcmp(w->worker, "reversal") != 0 ||
            pl_resolver_amount_sent(c, strtoll(w->id, NULL, 10), sent, sizeof sent) != 0)
            copy(sent, sizeof sent, w->amount);
        if (sent[0] && pl_money_parse_decimal(sent, &amount) == 0) {
            job->req.has_amount = true;
            job->req.amount = amount;
        }
    }
    pl_bureau_result answer = *res; /* the job's answer: its own copy, as the engine's jobs */
    job->res = &answer;
    pl_reply reply = {0};
    job->reply = &reply;
    pl_job_map_answer(job);
    /* As paylink-auth maps it: a review's amount is recorded, or a capture could not claim on
     * the authorization (the rest of each worker's own mapping is not applied here, README). */
    if (strcmp(w->worker, "auth") == 0)
        pl_job_review_amount(job);
    const pl_reply *rep = job->reply;
    o->status = rep->status;
    copy(o->decision, sizeof o->decision, rep->decision);
    copy(o->vendor_response, sizeof o->vendor_response, rep->vendor_response);
    copy(o->hold_reason, sizeof o->hold_reason, rep->hold_reason);
    o->has_amount = rep->has_amount_approved;
    o->amount = rep->amount_approved;
    /* A refused answer's amount is recorded nowhere (has_amount stays false), but it is what
     * the issuer holds after a Decision Manager reject or a soft decline of a partial approval:
     * the reversal is for it (held_amount), as paylink-auth's is (pl_job_held_amount). Before,
     * such a reversal went for the amount asked, which CyberSource refuses above what it
     * authorized, and the hold stayed. */
    if (!o->has_amount && res->has_amount)
        o->amount = res->amount;
    copy(o->auth_number, sizeof o->auth_number, rep->auth.number);
    copy(o->auth_date, sizeof o->auth_date, rep->auth.date);
    copy(o->transaction_id, sizeof o->transaction_id, rep->auth.transaction_id);
    copy(o->avs, sizeof o->avs, rep->auth.avs);
    copy(o->cvv, sizeof o->cvv, rep->auth.cvv);
    copy(message, msgsz, rep->message);
    free(job);
}

static const char *resolution_of(pl_status s)
{
    return s == PL_ST_APPROVED ? "approved" : s == PL_ST_ERROR ? "error" : "declined";
}

/*
 * Applies o to the row in one transaction, guarded by the row being open or escalated and by
 * the lease of `owner` (operator: a row nobody else holds). Returns 1 applied, 0 another actor
 * got there first (nothing written), negative on failure.
 */
static int apply_as(pl_resolver *r, PGconn *c, row *w, const pl_resolve_outcome *o, const char *how,
                    const char *resolution, const char *by, const char *note, const char *message);

static int apply(pl_resolver *r, PGconn *c, row *w, const pl_resolve_outcome *o, const char *how,
                 const char *by, const char *note, const char *message)
{
    return apply_as(r, c, w, o, how, resolution_of(o->status), by, note, message);
}

/* A step of applying an outcome failed: said in the log, and kept for escalating the row. */
static void apply_error(pl_resolver *r, const row *w, const char *what, PGconn *c)
{
    const char *m = PQerrorMessage(c);
    size_t len = strlen(m);
    while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
        len--;
    PL_WARN(w->rid, "resolver: %s failed: %.*s", what, (int)len, m);
    snprintf(r->last_error, sizeof r->last_error, "%s failed: %.*s", what, (int)len, m);
}

static int escalate(pl_resolver *r, PGconn *c, const row *w, bool queried, const char *why);

/*
 * An outcome that could not be applied goes to an operator (escalated, with why) instead of
 * being taken up again when its lease ends: a cause that stays (a constraint, a reply that
 * cannot be made) would have it queried and failed for ever, unseen. When the database itself
 * is away, the escalation fails too and the lease brings the row back once it is there.
 */
static int apply_failed(pl_resolver *r, PGconn *c, const row *w, bool queried,
                        const pl_resolve_outcome *o)
{
    char why[400]; /* escalate keeps the first 300 characters */
    snprintf(why, sizeof why,
             "the outcome found (%s) could not be applied (paylinkctl wreq retry or resolve once "
             "fixed): %s",
             pl_status_name(o->status), r->last_error[0] ? r->last_error : "unknown cause");
    int rc = escalate(r, c, w, queried, why);
    return rc < 0 ? rc : PL_ERR_DB;
}

/* What the issuer holds of a refused authorization whose request asked for `asked`: the
 * outcome's amount (the bureau's answer or query: a partial approval holds less than was asked)
 * when it is below what was asked, into out; else out is left "" (the request's amount). */
static void held_amount(const pl_resolve_outcome *o, int64_t asked, char *out, size_t outsz)
{
    out[0] = '\0';
    if (o->amount > 0 && o->amount < asked && pl_money_format(o->amount, out, outsz) != 0)
        out[0] = '\0';
}

/*
 * 1 when w, an auth+capture whose outcome an operator gives, was escalated as one that was
 * captured: the row records it (required_response.captured, 067), set when the resolver
 * escalated a record whose ics_bill says RCode 1 (captured_unappliable, partial_unreadable's
 * captured branch: escalate_as) or when the worker left unknown the answer in time the adapter
 * refused as captured while refused (ccCaptureReply 100: bureau_cybersource.c, engine.c's
 * pl_unknown), and never cleared. Whatever the row's status: an operator may resolve it after
 * `wreq retry` opened it again, or while it is open and still being queried; before, only an
 * escalated row was looked at, and the `.sdr` of such a row went (refused, 238). Before 067 it
 * was read from the texts (the reason's CAPTURED_ESCALATION, the detail's "ccCaptureReply says
 * 100 (captured)"), and a query that failed after `wreq retry` replaced the reason: the `.sdr`
 * of a captured authorization went again (068 sets the column from those texts once). 0 for the
 * step's own outcome (w->queried): its record says whether it was captured (w->captured), and a
 * refusal it reads without the capture is reversed, as the answer in time would be (an earlier
 * record must not keep a hold on the card). Negative when the look-up failed. The texts are
 * still read beside the column, for the rows a worker or resolver of a release before 067 wrote
 * after the migration (a rolling deploy runs the old binaries against the new schema, and 068's
 * backfill ran before they stopped): their column says nothing.
 */
static int escalated_captured(PGconn *c, const row *w)
{
    if (w->queried || strcmp(w->op, "auth_capture") != 0)
        return 0;
    const char *p[] = {w->id, CAPTURED_ESCALATION, PL_CYBERSOURCE_REFUSED_CAPTURED,
                       PL_CYBERSOURCE_REFUSED_CAPTURED_NO_AMOUNT};
    PGresult *res = exec(c,
                         "SELECT 1 FROM required_response WHERE id = $1::bigint AND (captured OR "
                         "strpos(coalesce(last_query_result, ''), $2) > 0 OR "
                         "strpos(coalesce(detail, ''), $3) > 0 OR "
                         "strpos(coalesce(detail, ''), $4) > 0)",
                         4, p);
    int rc = !ok(res) ? PL_ERR_DB : PQntuples(res) == 1 ? 1 : 0;
    PQclear(res);
    return rc;
}

/*
 * The reversal the worker would have published with this outcome (1; 0 when none; negative
 * when the look-up failed): of an authorization
 * Decision Manager rejected (481) or CyberSource soft-declined (200, 230, 520) after the issuer
 * approved it, or refused otherwise (rejected 400, declined 102 for a token+auth's token) or
 * failed (error 150) while the queried record's ics_auth says 100, or 110 for part of it
 * (w->auth_reason: the issuer authorized it, pl_cybersource_refused_but_authorized) —
 * paylink-auth's followups, or of
 * the authorization an approved auth+capture replaced while nothing of it was captured
 * (paylink-deposit's: the settle trigger has just voided it for this deposit, so the amount is
 * what it voided) — both only when the service sends reversals; or the row's timeout reversal
 * paylink-reversal never recorded (an operator's error, reject or soft decline). Fills the
 * authorization, the reversal's id and its amount ("" = the transaction's; for a reject or soft
 * decline's `.rev`, what the issuer holds when the answer or operator says less: held_amount; a
 * `.tor` goes again as first published, for the whole request: paylink-reversal sends what the
 * issuer holds, note_issuer_holds); returns false when there is none — so for an auth+capture an
 * operator refuses after its escalation for being captured (escalated_captured).
 */
static int followup_reversal(PGconn *c, const row *w, const pl_resolve_outcome *o, char *auth,
                             size_t authsz, char *rev, size_t revsz, char *amount, size_t amountsz)
{
    amount[0] = '\0';
    bool soft = strcmp(w->protocol, "CYB") == 0 && o->status == PL_ST_DECLINED &&
                pl_cybersource_soft_decline(o->vendor_response);
    if (w->reversal_unrecorded &&
        (o->status == PL_ST_ERROR || o->status == PL_ST_REJECTED || soft)) {
        /* The timeout reversal asked for it, whatever the service's Send reversal says now
         * (paylink-reversal sends paylink's own reversals, and takes a timeout reversal of an
         * authorization an operator settled error or rejected, or the bureau soft-declined):
         * once the row is resolved nothing else would publish it again (follow_reversal). Any
         * other declined one holds nothing. */
        copy(auth, authsz, w->rid);
        copy(rev, revsz, w->reversal_rid);
        /* Exactly as safe_reverse published it (amount "": the authorization's request), not for
         * what the issuer holds: the first copy may still be queued for paylink-reversal, not
         * lost, and a copy for another amount is another request under the same request_id,
         * which paylink-reversal refuses as an idempotency conflict once the first went (for
         * the whole request, refused above a partial approval: the hold stayed). What the
         * issuer holds is recorded on the history row instead (note_issuer_holds,
         * amount_issuer_held, 061), where paylink-reversal reads it for whichever copy comes
         * first; the other is answered from its row. */
        return 1;
    }
    if (!w->send_reversal)
        return 0;
    if (strcmp(w->worker, "auth") == 0) {
        /* A Decision Manager reject or a soft decline: the issuer holds the amount — unless
         * nothing was asked (a card verification of 0.00, a token request: no reversal of
         * nothing is a request paylink-reversal takes). */
        int64_t asked = 0;
        if (strcmp(w->protocol, "CYB") != 0 || strcmp(w->op, "token") == 0 ||
            !pl_cybersource_refused_but_authorized(pl_status_name(o->status), o->vendor_response,
                                                   w->auth_reason) ||
            !o->transaction_id[0] || w->released ||
            pl_money_parse_decimal(w->amount, &asked) != 0 || asked <= 0)
            return 0;
        copy(auth, authsz, w->rid);
        pl_job_derived_request_id(w->rid, PL_DM_REVERSAL_SUFFIX, rev, revsz);
        held_amount(o, asked, amount, amountsz);
        return 1;
    }
    if (strcmp(w->worker, "deposit") == 0 && strcmp(w->op, "auth_capture") == 0 &&
        strcmp(w->protocol, "CYB") == 0 &&
        (o->status == PL_ST_DECLINED || o->status == PL_ST_REJECTED || o->status == PL_ST_ERROR) &&
        pl_cybersource_refused_but_authorized(pl_status_name(o->status), o->vendor_response,
                                              w->auth_reason) &&
        !w->captured && o->transaction_id[0]) {
        /* An auth+capture refused while the issuer holds the authorization it made (a soft
         * decline, or the queried record's ics_auth says 100, or 110 for part: w->auth_reason is
         * ics_auth's, not ics_bill's): that authorization, by its transaction id
         * (paylink-deposit's refused_auth_capture_followup, pl_deposit_reverses_refusal); auth
         * is "" (no paylink authorization). None when an operator refuses one escalated for
         * being captured (a soft decline with its transaction id, the natural reading of a
         * record that says 230 beside the capture): nothing of a captured authorization is left
         * to reverse (CyberSource refuses, 238), and what was taken is the operator's to credit
         * (the escalation says so: CAPTURED_TODO). */
        int captured = escalated_captured(c, w);
        if (captured != 0)
            return captured < 0 ? captured : 0;
        auth[0] = '\0';
        pl_job_derived_request_id(w->rid, PL_SOFT_DECLINE_REVERSAL_SUFFIX, rev, revsz);
        int64_t asked = 0;
        if (pl_money_parse_decimal(w->amount, &asked) == 0)
            held_amount(o, asked, amount, amountsz);
        return 1;
    }
    if (strcmp(w->worker, "deposit") != 0 || o->status != PL_ST_APPROVED)
        return 0;
    const char *p[] = {w->rid};
    PGresult *res = exec(c,
                         "SELECT h.request_id, h.amount_voided::text FROM cc_deposit_trans d "
                         "JOIN auth_history h ON h.id = d.auth_history_id "
                         "WHERE d.request_id = $1 AND d.status = 'approved' "
                         "AND d.operation = 'auth_capture' AND h.status = 'voided' "
                         "AND h.void_reason = 'auth_capture' AND h.voided_by = $1 "
                         "AND h.amount_deposited = 0 AND h.amount_voided > 0 "
                         "AND coalesce(h.request_id, '') <> ''",
                         1, p);
    int rc = !ok(res) ? PL_ERR_DB : PQntuples(res) == 1 ? 1 : 0;
    if (rc == 1) {
        copy(auth, authsz, PQgetvalue(res, 0, 0));
        copy(amount, amountsz, PQgetvalue(res, 0, 1));
        pl_job_derived_request_id(w->rid, PL_DEPOSIT_REVERSAL_SUFFIX, rev, revsz);
    }
    PQclear(res);
    return rc;
}

/* An authorization (not a token request) the outcome refuses (declined, rejected) or fails
 * (error: a 150 system failure) on CyberSource while the queried record's ics_auth says the
 * issuer authorized it (w->auth_reason: 100, or 110 for part), with the transaction id a
 * reversal names: what paylink-auth's store records for an answer in time (auth.c,
 * issuer_authorized_refusal). */
static bool issuer_authorized_outcome(const row *w, const pl_resolve_outcome *o)
{
    return strcmp(w->worker, "auth") == 0 && strcmp(w->protocol, "CYB") == 0 &&
           strcmp(w->op, "token") != 0 &&
           (o->status == PL_ST_DECLINED || o->status == PL_ST_REJECTED ||
            o->status == PL_ST_ERROR) &&
           o->transaction_id[0] && pl_cybersource_issuer_authorized(w->auth_reason);
}

/*
 * What such an outcome's history row (APPLY_AUTH has just inserted it, in this transaction)
 * records of what the issuer holds, as paylink-auth's store records it for an answer in time
 * (auth.c, auth_issuer_authorized):
 *   - that the issuer authorized it (auth_history.issuer_authorized, 060: issuer_authorized_
 *     outcome): paylink-reversal claims and reverses a `declined` or `error` one by it (a
 *     token+auth refused 102 for its token, a 150 system failure; 064), the reversal this
 *     outcome's followups publish or the order system's;
 *   - what the issuer holds of it after a partial approval (a reject, a soft decline, or a
 *     refusal whose queried record's ics_auth says 110: the outcome's amount, below what the
 *     request asked, held_amount; auth_history.amount_issuer_held, 061): paylink-reversal
 *     sends that amount for any reversal of it — its `.rev`, its timeout reversal `.tor`
 *     (published again with an operator's outcome exactly as first published, while the first
 *     copy may still be queued: followup_reversal), an order system's — as it sends an
 *     approval's amount authorized. Before, only the `.rev` (or a `.tor` published again) named
 *     it, and a `.tor` copy for the whole request was refused above the partial approval.
 * One UPDATE of the row, none when neither applies. Returns 0 or PL_ERR_DB (last_error).
 */
static int note_issuer_holds(pl_resolver *r, PGconn *c, const row *w, const pl_resolve_outcome *o)
{
    bool authorized = issuer_authorized_outcome(w, o);
    char held[24] = "";
    int64_t asked = 0;
    if (strcmp(w->worker, "auth") == 0 && strcmp(w->protocol, "CYB") == 0 &&
        strcmp(w->op, "token") != 0 && o->transaction_id[0] &&
        (o->status == PL_ST_REJECTED || o->status == PL_ST_DECLINED || o->status == PL_ST_ERROR) &&
        pl_cybersource_refused_but_authorized(pl_status_name(o->status), o->vendor_response,
                                              w->auth_reason) &&
        pl_money_parse_decimal(w->amount, &asked) == 0)
        held_amount(o, asked, held, sizeof held);
    if (!authorized && !held[0])
        return 0;
    const char *p[] = {w->rid, o->transaction_id, authorized ? "true" : "false", held};
    PGresult *res =
        exec(c,
             "UPDATE auth_history SET issuer_authorized = issuer_authorized OR $3::boolean, "
             "amount_issuer_held = CASE WHEN $4::text <> '' AND amount_authorized IS NULL "
             "THEN $4::numeric ELSE amount_issuer_held END "
             "WHERE request_id = $1 AND transaction_id = $2 AND transaction_id <> '' "
             "AND status IN ('declined', 'rejected', 'error') "
             "AND transaction_type <> 'auth_capture' AND deposit_request_id IS NULL",
             4, p);
    int rc = ok(res) ? 0 : PL_ERR_DB;
    if (rc != 0)
        apply_error(r, w, "recording what the issuer holds", c);
    PQclear(res);
    return rc;
}

/* The deposit that voided authorization h, as paylink-reversal's look-ups read it (its
 * REV_VOIDED_BY): voided_by, or while the void waits for another claim on it to end (050) the
 * deposit it waits for. An auth+capture's `.vdr` is refused exactly then ("a deposit is in
 * progress"): read as voided_by alone it was not paylink's own, and its re-ask was closed as the
 * order system's (070 against 057). */
#define RESOLVER_VOIDED_BY "coalesce(nullif(h.voided_by, ''), h.void_deferred_by, '')"

/*
 * What an approved reversal w (auth_reversal, APPLY_REVERSAL has just applied o in this
 * transaction) says of paylink's own rest rules (reversal_own.h), read as paylink-reversal read
 * them for its call: 0 company, 1 order, 2 pay_seq, 3 service, 4 currency, 5 the authorization's
 * request id (the mark records the one the request named, or the history row found by the
 * transaction id it named: never one else for paylink's own reversals, which name a paylink
 * authorization by request id), 6 whether it names a history row, 7-10 the authorization as
 * named inline (transaction id, request token, number, date: recorded from the request when no
 * history row was found), 11 the operation sent, 12 voided_by of that row (RESOLVER_VOIDED_BY),
 * 13 whether the row records what is held (after 058 / 065's trigger booked this reversal: what
 * is still held, or NULL when it booked it `reversed`), 14 the debit whose refused auth+capture
 * made a manual authorization (rev_auth_tx's look-up, for a `.sdr`), 15 whether it was marked
 * sent.
 */
#define REST_FACTS_SQL                                                                             \
    "SELECT v.company, v.order_number, v.pay_seq, v.service_bureau, coalesce(v.currency, ''), "    \
    "coalesce(v.auth_request_id, ''), v.auth_history_id IS NOT NULL, v.auth_transaction_id, "      \
    "v.auth_request_token, v.auth_number, v.auth_date, v.operation, " RESOLVER_VOIDED_BY ", "      \
    "coalesce(h.amount_authorized > 0 OR h.amount_issuer_held > 0, false), "                       \
    "coalesce((SELECT d.request_id FROM cc_deposit_trans d WHERE v.auth_history_id IS NULL "       \
    "AND coalesce(v.auth_request_id, '') = '' AND d.company = v.company "                          \
    "AND d.order_number = v.order_number AND d.transaction_id = v.auth_transaction_id "            \
    "AND d.transaction_id <> '' AND d.request_type = 'debit' ORDER BY d.received_at DESC "         \
    "LIMIT 1), ''), v.sent_at IS NOT NULL "                                                        \
    "FROM auth_reversal v LEFT JOIN auth_history h ON h.id = v.auth_history_id "                   \
    "WHERE v.request_id = $1"

/*
 * The amount reversal root named (*has false when it has no row or none): for the one a chain
 * of paylink's own reversals of a manual authorization named inline started from, what that
 * authorization holds, which paylink records nowhere but in that request (a `.sdr`'s, the amount
 * it went for: paylink-deposit and the resolver publish it so), and each step after it names
 * again. Returns 0, or PL_ERR_DB.
 */
static int root_amount(PGconn *c, const char *root, bool *has, int64_t *amount)
{
    *has = false;
    *amount = 0;
    const char *q[] = {root};
    PGresult *ra =
        exec(c, "SELECT coalesce(amount::text, '') FROM auth_reversal WHERE request_id = $1", 1, q);
    if (!ok(ra)) {
        PQclear(ra);
        return PL_ERR_DB;
    }
    *has = PQntuples(ra) == 1 && pl_money_parse_decimal(PQgetvalue(ra, 0, 0), amount) == 0;
    PQclear(ra);
    return 0;
}

/*
 * An outcome approving paylink's own reversal (pl_reversal_own: `.rev`, `.tor`, `.dmrev`,
 * `.vdr`, `.sdr`, or a `.rest`) for less than its call sent (w->sent): an operator's (`wreq
 * resolve --amount`, which may name that at most), or the step's from the bureau's record of it
 * (CyberSource's transaction query, whose PaymentData/Amount map_answer reads as the amount
 * reversed, as the adapter reads ccAuthReversalReply's amount in time). The rest paylink-reversal
 * would have asked for with that answer in time (rev_followups), by the same rule
 * (pl_reversal_rest_for: the same id, amount, limits and refusals) and the same message bytes
 * (pl_reversal_request_json), stored in the row's followups in this transaction, so that
 * publish_one publishes it before the final reply — after a crash too, with the reply still
 * pending — and a redelivery of the reversal replays it. Where none is asked although something
 * is still held (the limit, nothing reversed, a history row recording no amount held) the same
 * error is logged for an operator, at once (the only trace of that hold: never lost with a
 * commit's answer). The line of a rest asked (pl_reversal_rest_log) is left in w (rest_k, rest,
 * rest_auth) for apply_as to write once the outcome is committed: written here, a commit that
 * then failed would leave a line naming a rest never stored. Before, an operator's resolve
 * of such a reversal for less asked for nothing, nor did the step's record of one approved for
 * less (w->sent was read only for an operator's), and the rest stayed held on the card until the
 * authorization expired. Nothing for any other outcome or row (a whole reversal: no amount, or
 * the amount sent; the order system's reversal, whose sender reads amount_approved). Returns 0
 * or a negative pl_err (last_error).
 */
static int store_rest(pl_resolver *r, PGconn *c, row *w, const pl_resolve_outcome *o)
{
    w->rest_k = 0;
    int64_t reversed = o->has_amount ? o->amount : w->sent;
    if (o->status != PL_ST_APPROVED || !w->has_sent || reversed >= w->sent)
        return 0;
    const char *p[] = {w->rid};
    PGresult *res = exec(c, REST_FACTS_SQL, 1, p);
    if (!ok(res) || PQntuples(res) != 1) {
        apply_error(r, w, "reading the reversal to ask for its rest", c);
        PQclear(res);
        return PL_ERR_DB;
    }
    const char *auth_rid = PQgetvalue(res, 0, 5), *voided_by = PQgetvalue(res, 0, 12),
               *made_by = PQgetvalue(res, 0, 14);
    bool history = PQgetvalue(res, 0, 6)[0] == 't';
    /* A card authorization reversal that went (not a stored value void, not one refused before
     * any call). */
    if (strcmp(PQgetvalue(res, 0, 11), pl_bureau_op_name(PL_OP_AUTH_REVERSAL)) != 0 ||
        PQgetvalue(res, 0, 15)[0] != 't') {
        PQclear(res);
        return 0;
    }
    /* A manual authorization named inline: its amount, which paylink records nowhere but in the
     * request, is the one the reversal the chain started from named (a `.sdr`'s, the amount it
     * went for: paylink-deposit and the resolver publish it so), as each rest names it again. */
    bool has_auth_amount = false;
    int64_t auth_amount = 0;
    char root[64];
    if (!auth_rid[0] &&
        pl_reversal_own_root(w->rid, "", voided_by, made_by, root, sizeof root) >= 0 &&
        root_amount(c, root, &has_auth_amount, &auth_amount) != 0) {
        apply_error(r, w, "reading the reversal its rests started from", c);
        PQclear(res);
        return PL_ERR_DB;
    }
    const pl_reversal_answered a = {
        .request_id = w->rid,
        .auth_request_id = auth_rid,
        .transaction_id = PQgetvalue(res, 0, 7),
        .request_token = PQgetvalue(res, 0, 8),
        .number = PQgetvalue(res, 0, 9),
        .date = PQgetvalue(res, 0, 10),
        .has_auth_amount = has_auth_amount,
        .auth_amount = auth_amount,
        .voided_by = voided_by,
        .made_by = made_by,
        /* CyberSource's timeout reversal: marked sent naming no history row while it names a
         * paylink authorization (one without an answer, or settled `error`: rev_prepare). */
        .timeout = !history && auth_rid[0],
        .history = history,
        .held_recorded = PQgetvalue(res, 0, 13)[0] == 't',
        .approved = true,
        .sent = w->sent,
        .reversed = reversed,
    };
    pl_reversal_rest_request rest;
    int k = pl_reversal_rest_for(&a, &rest);
    const char *auth = auth_rid[0] ? auth_rid : PQgetvalue(res, 0, 7);
    /* What apply_as logs once committed (a rest asked): rest.of points into res, which the log
     * never reads. */
    w->rest = rest;
    memset(&w->rest.of, 0, sizeof w->rest.of);
    copy(w->rest_auth, sizeof w->rest_auth, auth);
    if (k <= 0) {
        /* None asked while something is still held: that error is the only trace of the hold
         * an operator must reverse, so it is written now, not after the commit — whose answer,
         * lost with the connection, would leave it unwritten although the outcome committed
         * (a resolve that then failed writes it again when retried: twice, never not at all). */
        pl_reversal_rest_log(w->rid, auth, k, &rest);
        PQclear(res);
        return 0;
    }
    const pl_reversal_message m = {.request_id = rest.request_id,
                                   .company = atoi(PQgetvalue(res, 0, 0)),
                                   .order = PQgetvalue(res, 0, 1),
                                   .pay_seq = atoi(PQgetvalue(res, 0, 2)),
                                   .service = PQgetvalue(res, 0, 3),
                                   .amount = rest.amount,
                                   .currency = PQgetvalue(res, 0, 4),
                                   .of = &rest.of};
    char key[64], topic[200];
    pl_reversal_request_key(m.company, m.order, key, sizeof key);
    snprintf(topic, sizeof topic, "%s.reversal.request", r->prefix);
    char *payload = pl_reversal_request_json(&m);
    int rc = PL_ERR_NOMEM;
    if (!payload) {
        copy(r->last_error, sizeof r->last_error, "the rest's reversal request cannot be made");
    } else {
        const char *q[] = {w->rid, topic, key, payload};
        PGresult *u = exec(c,
                           "UPDATE auth_reversal SET followups = jsonb_build_array("
                           "jsonb_build_object('topic', $2::text, 'key', $3::text, "
                           "'payload', $4::text)) WHERE request_id = $1",
                           4, q);
        rc = ok(u) && PQcmdTuples(u)[0] == '1' ? 0 : PL_ERR_DB;
        if (rc != 0)
            apply_error(r, w, "storing the rest's reversal to publish", c);
        else
            w->rest_k = k;
        PQclear(u);
    }
    free(payload);
    PQclear(res);
    return rc;
}

/*
 * An outcome refusing paylink's own reversal w as already reversed (CyberSource's 237: the
 * resolver's query found that record of it, or an operator gave it, `wreq resolve --outcome
 * declined --vendor-response 237`) after another reversal of its authorization was approved for
 * part of it: 075's trigger has just booked it as any refusal, the rest held and capturable, and
 * 237 does not say the bureau released that rest. Recorded in this transaction as
 * paylink-reversal's store records the same answer in time (PL_REVERSAL_KEPT_REST_OWED_SQL, judged
 * on the row as APPLY_REVERSAL left it), for paylink-reversal's resolver to tell an operator once
 * it is committed (reask_one): nobody reads the reply of paylink's own, and nothing asks again.
 * Before, the query's or the operator's 237 was applied and nothing was said. Nothing for any
 * other outcome, bureau or reversal (the order system's: its sender reads the reply). Returns 0
 * or PL_ERR_DB (last_error).
 */
static int store_kept_rest(pl_resolver *r, PGconn *c, const row *w, const pl_resolve_outcome *o)
{
    if (o->status != PL_ST_DECLINED || strcmp(o->vendor_response, "237") != 0 ||
        strcmp(w->protocol, "CYB") != 0)
        return 0;
    const char *p[] = {w->rid};
    PGresult *res = exec(c, REST_FACTS_SQL, 1, p);
    if (!ok(res) || PQntuples(res) != 1) {
        apply_error(r, w, "reading the reversal refused as already reversed", c);
        PQclear(res);
        return PL_ERR_DB;
    }
    int own = pl_reversal_own(w->rid, PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 12),
                              PQgetvalue(res, 0, 14));
    PQclear(res);
    if (own < 0)
        return 0;
    const char *q[] = {w->rid, own >= 1 ? "true" : "false"};
    res = exec(c, PL_REVERSAL_KEPT_REST_OWED_SQL, 2, q);
    int rc = ok(res) ? 0 : PL_ERR_DB;
    if (rc != 0)
        apply_error(r, w, "recording the reversal refused as already reversed", c);
    PQclear(res);
    return rc;
}

/*
 * What the worker publishes with such an answer (followup_reversal), stored with it in the
 * row's followups, which publish_one publishes with the final reply (and a redelivery replays);
 * and before it, what paylink-auth's store records with a refusal the issuer authorized, and
 * what the issuer holds of one after a partial approval (note_issuer_holds). For a reversal, the
 * rest of paylink's own approved for less (store_rest), and paylink's own refused as already
 * reversed while the books keep the rest (store_kept_rest). Returns 0 or a negative pl_err
 * (last_error says why).
 */
static int store_followups(pl_resolver *r, PGconn *c, row *w, const pl_resolve_outcome *o)
{
    if (strcmp(w->worker, "reversal") == 0) {
        int rc = store_rest(r, c, w, o);
        return rc != 0 ? rc : store_kept_rest(r, c, w, o);
    }
    char auth[51], rev[51], amount[24], why[200] = "";
    int rc = note_issuer_holds(r, c, w, o);
    if (rc != 0)
        return rc;
    rc = followup_reversal(c, w, o, auth, sizeof auth, rev, sizeof rev, amount, sizeof amount);
    if (rc <= 0) {
        if (rc < 0)
            apply_error(r, w, "reading the authorization an auth+capture replaced", c);
        return rc;
    }
    char *payload = NULL;
    /* A timeout reversal names the authorization by what it was sent with, its amount (as
     * safe_reverse's publish_reversal: the same payload, so the same fingerprint). */
    rc = auth[0] ? reversal_message(c, auth, rev, amount, w->reversal_unrecorded, &payload, why,
                                    sizeof why)
                 : deposit_reversal_message(c, w->rid, rev, o, amount, &payload, why, sizeof why);
    if (rc != 0) {
        snprintf(r->last_error, sizeof r->last_error, "the reversal %.50s: %.150s", rev, why);
        return rc;
    }
    char topic[200], sql[200];
    snprintf(topic, sizeof topic, "%s.reversal.request", r->prefix);
    snprintf(sql, sizeof sql,
             "UPDATE %s SET followups = jsonb_build_array(jsonb_build_object('topic', $2::text, "
             "'key', $3::text, 'payload', $4::text)) WHERE request_id = $1",
             table_of(w->worker));
    const char *p[] = {w->rid, topic, w->key, payload};
    PGresult *res = exec(c, sql, 4, p);
    rc = ok(res) && PQcmdTuples(res)[0] == '1' ? 0 : PL_ERR_DB;
    if (rc != 0) {
        apply_error(r, w, "storing the reversal to publish", c);
    } else {
        copy(w->rev_stored, sizeof w->rev_stored, rev);
        copy(w->rev_auth, sizeof w->rev_auth, auth[0] ? auth : o->transaction_id);
    }
    PQclear(res);
    free(payload);
    return rc;
}

static int reversal_state(PGconn *c, const char *rid, char status[16], char vendor[16]);

/* As apply, with required_response.resolution given (a timeout reversal: cancelled). */
static int apply_as(pl_resolver *r, PGconn *c, row *w, const pl_resolve_outcome *o, const char *how,
                    const char *resolution, const char *by, const char *note, const char *message)
{
    pl_reply_resolution rs = {
        .status = o->status,
        .resolution = how,
        .has_amount_approved = o->has_amount,
        .amount_approved = o->amount,
        .vendor_response = o->vendor_response,
        .decision = o->decision,
        .hold_reason = o->hold_reason,
        .auth_number = o->auth_number[0] ? o->auth_number : NULL,
        .auth_transaction_id = o->transaction_id[0] ? o->transaction_id : NULL,
        .auth_date = o->auth_date[0] ? o->auth_date : NULL,
        .message = message && *message ? message : pl_status_message_for(o->status, w->protocol)};
    r->last_error[0] = '\0';
    w->rest_k = 0;
    w->rev_stored[0] = '\0';
    char *reply = pl_reply_resolve(w->reply, &rs);
    if (!reply) {
        PL_ERROR(w->rid, "resolver: the final reply cannot be made from the stored one");
        copy(r->last_error, sizeof r->last_error,
             "the final reply cannot be made from the stored one");
        return PL_ERR_INVALID;
    }
    char amount[24] = "";
    if (o->has_amount && pl_money_format(o->amount, amount, sizeof amount) != 0)
        amount[0] = '\0';
    int rc = PL_ERR_DB;
    if (!simple(c, "BEGIN")) {
        free(reply);
        return PL_ERR_DB;
    }
    /* The transaction row is locked first, as the engine's store locks it before its trigger
     * closes the required response: the same order, so a late answer stored at this moment
     * waits for this transaction or wins it, never deadlocks with it. A row no longer unknown
     * (the late answer won) leaves nothing to do. */
    char lock[200];
    snprintf(lock, sizeof lock,
             "SELECT 1 FROM %s WHERE request_id = $1 AND status = 'unknown' FOR UPDATE",
             table_of(w->worker));
    const char *p0[] = {w->rid};
    PGresult *res = exec(c, lock, 1, p0);
    bool failed = !ok(res);
    bool mine = !failed && PQntuples(res) == 1;
    if (failed)
        apply_error(r, w, "locking the transaction", c);
    PQclear(res);
    if (!mine) {
        simple(c, "ROLLBACK");
        free(reply);
        return failed ? PL_ERR_DB : 0;
    }
    char lease[16];
    snprintf(lease, sizeof lease, "%d", PUBLISH_LEASE_S);
    /* Only while it follows the reversal it followed when loaded (none, or that one): an
     * order system's reversal of the unknown authorization may have been sent meanwhile
     * (paylink-reversal records it here at its mark, without the lease); the bureau has then
     * released what this outcome would report held. Nothing is applied; the next step follows
     * that reversal. */
    const char *p1[] = {w->id, resolution, how, by, note, r->owner, lease, w->reversal_rid};
    res = exec(
        c,
        "UPDATE required_response SET status = 'resolved', resolution = $2, resolved_how = $3, "
        "resolved_by = left($4, 60), resolution_note = left($5, 300), resolved_at = now(), "
        "reply_pending = true, lease_owner = $6, "
        "lease_until = now() + make_interval(secs => $7::int) "
        "WHERE id = $1::bigint AND status IN ('open', 'escalated') AND lease_owner = $6 "
        "AND reversal_request_id IS NOT DISTINCT FROM nullif($8, '') RETURNING id",
        8, p1);
    mine = ok(res) && PQntuples(res) == 1;
    failed = !ok(res);
    if (failed)
        apply_error(r, w, "closing the required response", c);
    PQclear(res);
    /*
     * An outcome decided on the timeout reversal having no row at paylink-reversal (an
     * operator's, which publishes it again) is decided again now that the required response is
     * locked: paylink-reversal's mark of that reversal reads the row under a share lock
     * (reversal.c, REV_MARK_SENT's follows), so one that took it before has committed by now and
     * is seen here, and one after waits for this transaction and then finds the row resolved (not
     * sent). Read before the transaction only, the `.tor` marked in between went as a timeout
     * reversal for the whole request while an operator's reject of a partial approval recorded
     * what the issuer holds for a copy that was then answered from its row: the hold stayed.
     */
    w->reversal_now[0] = '\0';
    if (mine && w->reversal_unrecorded) {
        char vendor[16];
        if (reversal_state(c, w->reversal_rid, w->reversal_now, vendor) != 0) {
            apply_error(r, w, "reading the timeout reversal again", c);
            failed = true;
        } else if (w->reversal_now[0]) {
            mine = false;
        }
    }
    if (mine) {
        const char *p2[] = {w->rid,
                            pl_status_name(o->status),
                            o->decision,
                            o->vendor_response,
                            amount[0] ? amount : NULL,
                            o->auth_number,
                            o->auth_date,
                            o->transaction_id,
                            o->avs,
                            o->cvv,
                            o->hold_reason,
                            reply,
                            by,
                            note};
        res = exec(c, apply_sql(w->worker), 14, p2);
        if (!ok(res)) {
            apply_error(r, w, "applying the outcome", c);
            failed = true;
        } else if (PQntuples(res) != 1) {
            /* the transaction row is not 'unknown' (an answer was stored meanwhile) */
            mine = false;
        }
        PQclear(res);
    }
    if (mine && !failed && store_followups(r, c, w, o) != 0)
        failed = true;
    if (mine && !failed) {
        /* A COMMIT that fails (or whose answer is lost with the connection) is a failure, not
         * "another actor got there first": the row may still be unsettled, and the caller
         * (an operator among them) must hear so. */
        if (commit(c)) {
            rc = 1;
            /* store_rest's word on the rest and store_followups' on the reversal, now that
             * what they say is stored. */
            if (w->rest_k != 0)
                pl_reversal_rest_log(w->rid, w->rest_auth, w->rest_k, &w->rest);
            if (w->rev_stored[0])
                PL_INFO(w->rid,
                        "reversal %s of authorization %s to be published with the final reply",
                        w->rev_stored, w->rev_auth);
        } else {
            apply_error(r, w, "committing the outcome", c);
            simple(c, "ROLLBACK");
            rc = PL_ERR_DB;
        }
    } else {
        simple(c, "ROLLBACK");
        rc = failed ? PL_ERR_DB : 0;
    }
    free(reply);
    return rc;
}

/* ---- publishing --------------------------------------------------------------------------- */

/*
 * Publishes the follow-up messages stored with an outcome (a JSON array of {topic, key,
 * payload}, as the engine stores them; NULL or "" when none). Returns 0, or -1 with err filled
 * when one was refused (all are published again with the reply: their consumers de-duplicate by
 * request_id).
 */
static int publish_followups(pl_resolver *r, const char *followups, char *err, size_t errsz)
{
    if (!followups || !*followups)
        return 0;
    json_object *arr = json_tokener_parse(followups);
    if (!arr || !json_object_is_type(arr, json_type_array))
        PL_ERROR(NULL, "resolver: stored follow-up messages are unreadable; not published");
    int rc = 0;
    size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *m = json_object_array_get_idx(arr, i), *t, *k, *v;
        if (!json_object_object_get_ex(m, "topic", &t) ||
            !json_object_is_type(t, json_type_string) || !json_object_object_get_ex(m, "key", &k) ||
            !json_object_is_type(k, json_type_string) ||
            !json_object_object_get_ex(m, "payload", &v) ||
            !json_object_is_type(v, json_type_string)) {
            /* Never written so by paylink (engine.c followups_json, store_followups). */
            PL_ERROR(NULL, "resolver: a stored follow-up message is unreadable; not published");
            continue;
        }
        if (r->publish(r->publish_arg, json_object_get_string(t), json_object_get_string(k),
                       json_object_get_string(v), err, errsz) != 0)
            rc = -1;
    }
    json_object_put(arr);
    return rc;
}

/*
 * A final reply is published only once the worker's `timeout` reply is on Kafka (it records
 * worker_replied_at, 055), or 10 minutes after the row opened (a worker that records nothing: a
 * version before 055, a database error). A worker that could not reach the reply partition's
 * leader kept its `timeout` reply queued (librdkafka's message timeout, then its retries) while
 * this resolver, on another replica, published the final one: the order system got "unknown, a
 * required response follows" after the request was settled. The outcome itself is applied at
 * once; only its reply waits (reply_pending).
 */
#define REPLIED_SQL PL_ENGINE_SQL_TIMEOUT_REPLY_OUT /* engine.h: shared with pl_lookup */

/* Publishes the final reply of resolved row id (its reply_pending) after its follow-ups, then
 * clears it; a row whose worker's `timeout` reply is not known to be out yet (REPLIED_SQL) is
 * given back for a later pass. */
static int publish_one(pl_resolver *r, PGconn *c, const char *id, const char *worker,
                       const char *rid, const char *key, const char *reply, const char *followups)
{
    char topic[200], err[256] = "", lease[16];
    snprintf(topic, sizeof topic, "%s.%s.reply", r->prefix, worker);
    /* The lease is taken again for this row's publish: a pass publishes its rows one after the
     * other, and those before it may have waited for a slow broker. Another actor holding the
     * row now (its lease passed meanwhile) publishes it instead. */
    snprintf(lease, sizeof lease, "%d", PUBLISH_LEASE_S);
    const char *pl[] = {id, r->owner, lease};
    PGresult *took = exec(c,
                          "UPDATE required_response SET lease_until = now() + "
                          "make_interval(secs => $3::int) WHERE id = $1::bigint "
                          "AND lease_owner = $2 AND reply_pending AND " REPLIED_SQL " RETURNING id",
                          3, pl);
    bool mine = ok(took) && PQntuples(took) == 1, failed = !ok(took);
    PQclear(took);
    if (!mine) {
        /* Still ours and pending, the worker's reply not out yet: given back now rather than
         * at the end of the lease, so the next pass publishes it once it is. */
        if (!failed)
            PQclear(exec(c,
                         "UPDATE required_response SET lease_owner = NULL, lease_until = NULL "
                         "WHERE id = $1::bigint AND lease_owner = $2 AND reply_pending",
                         2, pl));
        return failed ? PL_ERR_DB : 0;
    }
    /* What was decided with the outcome goes first: a reply published is never taken up
     * again, a follow-up refused is (reply_pending stays). */
    if (publish_followups(r, followups, err, sizeof err) != 0 ||
        r->publish(r->publish_arg, topic, key, reply, err, sizeof err) != 0) {
        PL_WARN(rid,
                "resolver: publishing the final reply or its follow-ups failed (published "
                "later): %s",
                err);
        const char *p[] = {id, r->owner};
        PQclear(exec(c,
                     "UPDATE required_response SET lease_owner = NULL, lease_until = NULL "
                     "WHERE id = $1::bigint AND lease_owner = $2 AND reply_pending",
                     2, p));
        return PL_ERR_KAFKA;
    }
    const char *p[] = {id};
    PGresult *res = exec(c,
                         "UPDATE required_response SET reply_pending = false, lease_owner = NULL, "
                         "lease_until = NULL WHERE id = $1::bigint",
                         1, p);
    int rc = ok(res) ? 0 : PL_ERR_DB;
    PQclear(res);
    return rc;
}

/* Takes the rows of the worker whose final reply is still to be published (a crash or a failed
 * publish), under a lease, and publishes them. */
static int publish_pending(pl_resolver *r, PGconn *c, int max_rows)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", max_rows);
    const char *table = table_of(r->worker);
    if (!table)
        return PL_ERR_INVALID;
    char sql[1200];
    snprintf(sql, sizeof sql,
             "WITH due AS (SELECT id FROM required_response WHERE reply_pending AND worker = $1 "
             "AND (lease_until IS NULL OR lease_until < now()) AND " REPLIED_SQL " "
             "ORDER BY id LIMIT $3::int "
             "FOR UPDATE SKIP LOCKED), "
             "took AS (UPDATE required_response r SET lease_owner = $2, "
             "lease_until = now() + make_interval(secs => $4::int) "
             "FROM due WHERE r.id = due.id RETURNING r.id, r.request_id) "
             "SELECT took.id, took.request_id, " PL_REPLY_KEY_SQL ", "
             "t.reply::text, t.followups::text FROM took "
             "JOIN %s t ON t.request_id = took.request_id",
             table);
    char lease[16];
    snprintf(lease, sizeof lease, "%d", PUBLISH_LEASE_S);
    const char *p[] = {r->worker, r->owner, lim, lease};
    PGresult *res = exec(c, sql, 4, p);
    if (!ok(res)) {
        PL_WARN(NULL, "resolver: reading pending replies failed: %s", PQerrorMessage(c));
        PQclear(res);
        return PL_ERR_DB;
    }
    int n = PQntuples(res);
    bool failed = false;
    for (int i = 0; i < n; i++) {
        if (failed) {
            /* Kafka refused one: the rest are given back untried, for the next pass. */
            const char *q[] = {PQgetvalue(res, i, 0), r->owner};
            PQclear(exec(c,
                         "UPDATE required_response SET lease_owner = NULL, lease_until = NULL "
                         "WHERE id = $1::bigint AND lease_owner = $2 AND reply_pending",
                         2, q));
            continue;
        }
        failed =
            publish_one(r, c, PQgetvalue(res, i, 0), r->worker, PQgetvalue(res, i, 1),
                        PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4)) != 0;
    }
    PQclear(res);
    return n;
}

/* Publishes the row just applied (its lease is ours). */
static void publish_applied(pl_resolver *r, PGconn *c, const row *w)
{
    const char *table = table_of(w->worker);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT reply::text, followups::text FROM %s WHERE request_id = $1",
             table);
    const char *p[] = {w->rid};
    PGresult *res = exec(c, sql, 1, p);
    if (ok(res) && PQntuples(res) == 1)
        publish_one(r, c, w->id, w->worker, w->rid, w->key, PQgetvalue(res, 0, 0),
                    PQgetvalue(res, 0, 1));
    PQclear(res);
}

/* What became of an owed reversal's deposit's own `.vdr` (owed_vdr). */
typedef enum {
    VDR_NONE,    /* no row: not published, or not taken up yet */
    VDR_PENDING, /* recorded, no outcome yet (received, sent, unknown) */
    VDR_DONE,    /* approved, or sent and declined by the bureau: nothing more to ask; or ended
                  * `error`, or refused by paylink-reversal without a call, and recorded for
                  * paylink-reversal's resolver, which asks it again itself (`.again`,
                  * reversal_reask, 069 and 070): still to be decided there, or decided by
                  * asking `.again`, or its authorization found reversed */
    VDR_REFUSED, /* refused by paylink-reversal without a call (a claim was still in flight),
                  * or ended `error` (the bureau unreachable, or no record of it there), not
                  * recorded in reversal_reask (before 069 and 070), or closed there without
                  * asking it again (taken for the order system's, or told to an operator): not
                  * acted on, so asked again (a second that finds it done gets 237) */
    VDR_UNREADABLE
} vdr_state;

/* What reask_one records when it finds a reversal's authorization reversed since. */
#define REASK_DONE_REVERSED "the authorization is reversed"

/* What became of reversal rev; old: the void was carried out 10 minutes ago or more (a row still
 * `received` then was never sent: given up, as refused). One that ended `error` is in
 * reversal_reask (its trigger wrote it with the error, 069), as is one refused without a call
 * (070), and asked again by paylink-reversal's resolver, under its own id: not published again
 * here too while that row is still to be decided (paylink-reversal's resolver acts on it) or was
 * decided by asking `<rev>.again` (it went), as two reversals of one authorization, one of which
 * paylink-reversal refuses (a claim in flight) or the bureau (237); nor when its authorization
 * was found reversed. One closed there otherwise asked nothing: taken for the order system's
 * (before paylink-reversal and that resolver read the deposit a deferred void waits for as the
 * one that voided it, RESOLVER_VOIDED_BY, a `.vdr` refused while its void waited was closed so),
 * or told to an operator. That counts as refused, and is published again as `.vdr2`, as before
 * 069 and 070: the row is closed, so its resolver never asks a `.again` beside it. */
static vdr_state owed_vdr(PGconn *c, const char *rev, bool old)
{
    char again[51];
    pl_job_derived_request_id(rev, PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    const char *p[] = {rev, again, REASK_DONE_REVERSED};
    PGresult *res = exec(c,
                         "SELECT status::text, sent_at IS NOT NULL, EXISTS (SELECT 1 FROM "
                         "reversal_reask k WHERE k.request_id = $1 AND (k.done_at IS NULL "
                         "OR k.done IN ($2, $3))) "
                         "FROM auth_reversal WHERE request_id = $1",
                         3, p);
    vdr_state st = VDR_UNREADABLE;
    if (ok(res)) {
        if (PQntuples(res) == 0)
            st = VDR_NONE;
        else {
            const char *status = PQgetvalue(res, 0, 0);
            bool sent = PQgetvalue(res, 0, 1)[0] == 't';
            if (!strcmp(status, "received"))
                st = old && !sent ? VDR_REFUSED : VDR_PENDING;
            else if (!strcmp(status, "sent") || !strcmp(status, "unknown"))
                st = VDR_PENDING;
            else if (!strcmp(status, "approved") || (sent && strcmp(status, "error") != 0))
                st = VDR_DONE;
            else if (PQgetvalue(res, 0, 2)[0] == 't')
                st = VDR_DONE; /* ended `error`, or refused unsent: reversal_reask's (069, 070),
                                * still owed there or asked again */
            else
                st = VDR_REFUSED;
        }
    }
    PQclear(res);
    return st;
}

/* Gives an owed reversal's lease back: asked again at the next pass. */
static void owed_release(PGconn *c, const char *deposit, const char *owner)
{
    const char *mine[] = {deposit, owner};
    PQclear(exec(c,
                 "UPDATE replaced_auth_reversal SET lease_owner = NULL, lease_until = NULL "
                 "WHERE deposit_request_id = $1 AND lease_owner = $2 AND published_at IS NULL",
                 2, mine));
}

/* Keeps an owed reversal that waits for its deposit's own `.vdr` under the lease 30 s more: the
 * passes in between take the ones after it (a pass takes the oldest first). */
static void owed_wait(PGconn *c, const char *deposit, const char *owner)
{
    const char *mine[] = {deposit, owner};
    PQclear(exec(c,
                 "UPDATE replaced_auth_reversal SET lease_until = now() + interval '30 seconds' "
                 "WHERE deposit_request_id = $1 AND lease_owner = $2 AND published_at IS NULL",
                 2, mine));
}

static void owed_done(PGconn *c, const char *deposit, const char *rev)
{
    const char *p[] = {deposit};
    PGresult *m = exec(c,
                       "UPDATE replaced_auth_reversal SET published_at = now(), "
                       "lease_owner = NULL, lease_until = NULL "
                       "WHERE deposit_request_id = $1 AND published_at IS NULL",
                       1, p);
    if (!ok(m))
        PL_WARN(deposit,
                "resolver: the reversal %s was published but cannot be marked so (published "
                "again later): %s",
                rev, PQerrorMessage(c));
    PQclear(m);
}

/* Whether deposit's stored follow-ups hold the reversal request rev (its own `.vdr`, published
 * with its answer: the id as pl_job_derived_request_id makes it, `vdr.<hash>` for a long
 * deposit id), not another reversal such as an `.sdr`. A failed read says yes: the resolver
 * then waits for it, at most until the owed row is ten minutes old. */
static bool followups_hold(PGconn *c, const char *deposit, const char *rev)
{
    const char *p[] = {deposit, rev};
    PGresult *res = exec(c,
                         "SELECT EXISTS (SELECT 1 FROM cc_deposit_trans d, "
                         "jsonb_array_elements(CASE WHEN jsonb_typeof(d.followups) = 'array' "
                         "THEN d.followups ELSE '[]'::jsonb END) f WHERE d.request_id = $1 "
                         "AND f->>'topic' LIKE '%.reversal.request' "
                         "AND strpos(f->>'payload', '\"' || $2::text || '\"') > 0)",
                         2, p);
    bool held = !ok(res) || PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return held;
}

/*
 * The reversals owed for an authorization an auth+capture replaced whose void waited for another
 * claim to end (replaced_auth_reversal, migration 057): the trigger that carried the void out
 * recorded the reversal, not being able to publish it; or whose void was carried out at once,
 * a claim seen when the auth+capture was prepared having ended before its answer was stored
 * (059): paylink-deposit's store recorded it, its follow-ups holding none. paylink-deposit's
 * resolver takes up to max_rows of them under a lease (FOR UPDATE SKIP LOCKED: two replicas
 * never take one) and, by what became of the deposit's own `<deposit>.vdr` (published with its
 * answer when it saw no claim, while another deposit claimed before the answer was stored):
 *   - none recorded: published as `<deposit>.vdr`, as the resolver publishes the reversal of a
 *     replaced authorization it found itself (reversal_message: the authorization's order and
 *     service, for what was voided) — but while the deposit's follow-ups hold one (on its way to
 *     paylink-reversal) only 10 minutes after the void, so as not to race it;
 *   - recorded without an outcome yet: asked again 30 s later (the rows after it are taken in
 *     between); one still `received` 10 minutes after the void was never sent (given up) and
 *     counts as refused;
 *   - approved, or sent and declined by the bureau: nothing more (marked published);
 *   - refused without a call (paylink-reversal: "a deposit is in progress", the claim that held
 *     the void), or ended `error` (not acted on): published again under `<deposit>.vdr2`, its
 *     fixed id being used up — but one recorded in reversal_reask (an `error`, 069; a refusal,
 *     070) is asked again by paylink-reversal's resolver (`.again`, pl_resolver_reask_pass), and
 *     counts as done here while that row is still to be decided or was decided by asking it
 *     again (one closed there without an ask, as the order system's or told to an operator, is
 *     published again as `.vdr2`: owed_vdr).
 * A publish Kafka refuses gives it (and the rest) back for the next pass; a crash before the mark
 * publishes it again once the lease has passed, under the same request_id with the same payload,
 * which paylink-reversal answers from its row. Returns how many were published, or a negative
 * pl_err.
 */
static int publish_owed_reversals(pl_resolver *r, PGconn *c, int max_rows)
{
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", max_rows > 0 ? max_rows : 1);
    snprintf(lease, sizeof lease, "%d", PUBLISH_LEASE_S);
    const char *p[] = {r->owner, lim, lease};
    PGresult *res =
        exec(c,
             "WITH due AS (SELECT deposit_request_id FROM replaced_auth_reversal "
             "WHERE published_at IS NULL AND (lease_until IS NULL OR lease_until < now()) "
             "ORDER BY owed_at LIMIT $2::int FOR UPDATE SKIP LOCKED), "
             "took AS (UPDATE replaced_auth_reversal o SET lease_owner = $1, "
             "lease_until = now() + make_interval(secs => $3::int) FROM due "
             "WHERE o.deposit_request_id = due.deposit_request_id "
             "RETURNING o.deposit_request_id, o.auth_request_id, o.amount, o.owed_at) "
             "SELECT took.deposit_request_id, took.auth_request_id, took.amount::text, "
             "coalesce(a.company::text || '-' || a.order_number, ''), "
             "coalesce(took.owed_at < now() - interval '10 minutes', true) "
             "FROM took "
             "LEFT JOIN cc_auth_trans a ON a.request_id = took.auth_request_id",
             3, p);
    if (!ok(res)) {
        PL_WARN(NULL, "resolver: reading the reversals owed for replaced authorizations failed: %s",
                PQerrorMessage(c));
        PQclear(res);
        return PL_ERR_DB;
    }
    char topic[200];
    snprintf(topic, sizeof topic, "%s.reversal.request", r->prefix);
    int n = PQntuples(res), published = 0;
    bool refused = false;
    for (int i = 0; i < n; i++) {
        const char *deposit = PQgetvalue(res, i, 0), *auth = PQgetvalue(res, i, 1);
        bool old = PQgetvalue(res, i, 4)[0] == 't';
        if (refused) {
            /* Kafka refused one: the rest are given back untried, for the next pass. */
            owed_release(c, deposit, r->owner);
            continue;
        }
        char rev[51], why[200] = "", err[256] = "";
        pl_job_derived_request_id(deposit, PL_DEPOSIT_REVERSAL_SUFFIX, rev, sizeof rev);
        vdr_state st = owed_vdr(c, rev, old);
        bool again = st == VDR_REFUSED;
        if (again) {
            pl_job_derived_request_id(deposit, PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX, rev, sizeof rev);
            st = owed_vdr(c, rev, old);
            /* Published again before: whatever became of it, it is not asked a third time. */
            if (st == VDR_PENDING || st == VDR_DONE || st == VDR_REFUSED)
                st = VDR_DONE;
        }
        if (st == VDR_UNREADABLE) {
            owed_release(c, deposit, r->owner);
            continue;
        }
        /* None recorded while its follow-ups hold it (on its way): waited for, 10 minutes at
         * most. */
        if (st == VDR_PENDING ||
            (st == VDR_NONE && !old && !again && followups_hold(c, deposit, rev))) {
            owed_wait(c, deposit, r->owner);
            continue;
        }
        if (st == VDR_DONE) {
            owed_done(c, deposit, rev);
            PL_INFO(deposit,
                    "authorization %s replaced by an auth+capture and voided with nothing of it "
                    "captured: its reversal %s is already on its way or done",
                    auth, rev);
            continue;
        }
        char *payload = NULL;
        if (reversal_message(c, auth, rev, PQgetvalue(res, i, 2), true, &payload, why,
                             sizeof why) != 0) {
            /* Kept under its lease: asked again once that has passed. */
            PL_WARN(deposit, "resolver: the reversal %s of authorization %s cannot be made: %s",
                    rev, auth, why);
            continue;
        }
        if (r->publish(r->publish_arg, topic, PQgetvalue(res, i, 3), payload, err, sizeof err) !=
            0) {
            PL_WARN(deposit, "resolver: publishing the reversal %s failed (published later): %s",
                    rev, err);
            refused = true;
            owed_release(c, deposit, r->owner);
        } else {
            /* Published, whoever holds the lease now (one that outlasted it may have been
             * taken and published again: de-duplicated by paylink-reversal). */
            owed_done(c, deposit, rev);
            published++;
            PL_INFO(deposit,
                    "authorization %s replaced by an auth+capture and voided with nothing of it "
                    "captured, after a claim on it: reversal %s requested",
                    auth, rev);
        }
        free(payload);
    }
    PQclear(res);
    return published;
}

/* ---- paylink's own reversals asked again after `error` (069) or a refusal (070) ------------ */

/* How long a reversal to be asked again waits for another claim on its authorization to end (a
 * capture, another reversal, or one whose outcome is unknown) or a timeout reversal of it,
 * counted past its delay, before an operator is told instead: such a claim ends in seconds, or
 * with its own required response. */
#define REASK_CLAIM_WAIT_MAX_S 3600
/* How often it looks again meanwhile. */
#define REASK_CLAIM_RETRY_S 60

/*
 * What a reversal recorded in reversal_reask ($1; $2 the one it would be asked again as) says,
 * for reask_one: 0 status, 1 decision, 2 vendor_response, 3 company, 4 order, 5 pay_seq, 6
 * service, 7 currency, 8 its amount, 9 the authorization's request id (as REST_FACTS_SQL), 10-13
 * the authorization as named inline (transaction id, request token, number, date), 14 voided_by
 * (RESOLVER_VOIDED_BY: the deposit a deferred void waits for too) and 15 the debit that made a
 * manual one (pl_reversal_own's references, found as paylink-reversal finds them: rev_auth,
 * rev_auth_tx), 16 whether the authorization has a history row, h, now — its latest answer by the
 * request id named, else the row the reversal named, else the latest of the transaction id named —
 * 17 its status, 18 amount_deposited, 19 amount_pending, 20 amount_authorized and 21
 * amount_issuer_held ("" NULL), 22 the service bureau's protocol, 23 whether it names a card
 * authorization paylink holds (or none by request id), 24 why it ended (its reply's message, else
 * its error text), 25 whether $2 has a row, 26 whether a timeout reversal of the authorization is
 * in flight (paylink-reversal's own test, PL_REVERSAL_TIMEOUT_IN_FLIGHT_SQL: it refuses any other
 * reversal of it meanwhile), 27 how its outcome was settled when its own answer did not settle it
 * (its required response's resolved_how: query, operator; "" none), and of h 28 its transaction
 * id, 29 its vendor_response and 30 issuer_authorized (what paylink-reversal's refusals read:
 * pl_reversal_refusal_lasting), and 31 whether the reversal was marked sent (a `declined` one was
 * then refused by the bureau, not by paylink-reversal without a call).
 */
#define REASK_HISTORY_COLUMNS                                                                      \
    "x.id, x.status, x.amount_deposited, x.amount_pending, x.amount_authorized, "                  \
    "x.amount_issuer_held, x.voided_by, x.void_deferred_by, x.transaction_id, "                    \
    "x.vendor_response, x.issuer_authorized"
/* Column 26: the test of paylink-reversal's look-ups and mark, of the authorization the reversal
 * names (none for a manual one). */
#define REASK_TIMEOUT_IN_FLIGHT PL_REVERSAL_TIMEOUT_IN_FLIGHT_SQL("v.auth_request_id")
#define REASK_FACTS_SQL                                                                            \
    "SELECT v.status, v.decision, v.vendor_response, v.company::text, v.order_number, "            \
    "v.pay_seq::text, v.service_bureau, coalesce(v.currency, ''), coalesce(v.amount::text, ''), "  \
    "coalesce(v.auth_request_id, ''), v.auth_transaction_id, v.auth_request_token, "               \
    "v.auth_number, v.auth_date, " RESOLVER_VOIDED_BY ", "                                         \
    "coalesce((SELECT d.request_id FROM cc_deposit_trans d WHERE h.id IS NULL "                    \
    "AND coalesce(v.auth_request_id, '') = '' AND d.company = v.company "                          \
    "AND d.order_number = v.order_number AND d.transaction_id = v.auth_transaction_id "            \
    "AND d.transaction_id <> '' AND d.request_type = 'debit' ORDER BY d.received_at DESC "         \
    "LIMIT 1), ''), h.id IS NOT NULL, coalesce(h.status, ''), "                                    \
    "coalesce(h.amount_deposited, 0)::text, coalesce(h.amount_pending, 0)::text, "                 \
    "coalesce(h.amount_authorized::text, ''), coalesce(h.amount_issuer_held::text, ''), "          \
    "coalesce(s.protocol, ''), coalesce(v.auth_request_id, '') = '' OR EXISTS "                    \
    "(SELECT 1 FROM cc_auth_trans t WHERE t.request_id = v.auth_request_id), "                     \
    "left(coalesce(nullif(v.reply->>'message', ''), v.error_text), 200), "                         \
    "EXISTS (SELECT 1 FROM auth_reversal n WHERE n.request_id = $2), " REASK_TIMEOUT_IN_FLIGHT     \
    ", coalesce((SELECT q.resolved_how FROM required_response q WHERE q.worker = 'reversal' "      \
    "AND q.request_id = v.request_id AND q.status = 'resolved'), ''), "                            \
    "coalesce(h.transaction_id, ''), coalesce(h.vendor_response, ''), "                            \
    "coalesce(h.issuer_authorized, false), v.sent_at IS NOT NULL "                                 \
    "FROM auth_reversal v LEFT JOIN auth_service s ON s.service_bureau = v.service_bureau "        \
    "LEFT JOIN LATERAL (SELECT * FROM ((SELECT 1 AS k, " REASK_HISTORY_COLUMNS                     \
    " FROM auth_history x WHERE x.request_id = v.auth_request_id "                                 \
    "AND x.transaction_type <> 'auth_capture' AND x.deposit_request_id IS NULL "                   \
    "ORDER BY x.id DESC LIMIT 1) UNION ALL (SELECT 2, " REASK_HISTORY_COLUMNS                      \
    " FROM auth_history x WHERE x.id = v.auth_history_id) UNION ALL (SELECT "                      \
    "3, " REASK_HISTORY_COLUMNS " FROM auth_history x WHERE coalesce(v.auth_request_id, '') = '' " \
    "AND v.auth_transaction_id <> '' AND x.transaction_id = v.auth_transaction_id "                \
    "AND x.transaction_type <> 'auth_capture' ORDER BY x.id DESC LIMIT 1)) u "                     \
    "ORDER BY k LIMIT 1) h ON true WHERE v.request_id = $1"

/* Marks the row decided for good (done says what), whoever holds its lease now. */
static void reask_done(PGconn *c, const char *rid, const char *done)
{
    const char *p[] = {rid, done};
    PGresult *res = exec(c,
                         "UPDATE reversal_reask SET done_at = now(), done = left($2, 300), "
                         "lease_owner = NULL, lease_until = NULL "
                         "WHERE request_id = $1 AND done_at IS NULL",
                         2, p);
    if (!ok(res))
        PL_WARN(rid,
                "resolver: what was decided on the reversal (%s) cannot be recorded (decided "
                "again later): %s",
                done, PQerrorMessage(c));
    PQclear(res);
}

/* Gives the row's lease back, to be looked at again in `after` seconds (0: at the next pass). */
static void reask_later(PGconn *c, const char *rid, const char *owner, int after)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", after > 0 ? after : 0);
    const char *p[] = {rid, owner, secs};
    PQclear(exec(c,
                 "UPDATE reversal_reask SET due_at = now() + make_interval(secs => $3::int), "
                 "lease_owner = NULL, lease_until = NULL "
                 "WHERE request_id = $1 AND lease_owner = $2 AND done_at IS NULL",
                 3, p));
}

/*
 * How long, past its delay, a reversal to be asked again waits for its bureau to become usable
 * again (reask_bureau_unusable) before an operator is told instead. A bureau is unusable by an
 * operator's doing (the External Service flag switched off, a secret reference changed to one
 * that cannot be read, a setting refused), said at warn by every worker at the refresh, and is
 * mended in hours, or the bureau is being retired; a day outlasts a switch-off for the night or a
 * key rotation mended the next morning, and still leaves an operator days to release the hold by
 * hand before the authorization lapses (a card-not-present authorization is commonly held about
 * a week), where waiting for the authorization's own validity would leave the cardholder's funds
 * held for nothing, unseen, all that time.
 */
#define REASK_UNUSABLE_WAIT_MAX_S (24 * 3600)
/* How often it looks again meanwhile (the resolver's configuration is read again each minute:
 * SERVICES_MAX_AGE_S). */
#define REASK_UNUSABLE_RETRY_S 60

/*
 * Whether service bureau code cannot be used by paylink-reversal in the resolver's configuration,
 * as its engine judges the same settings, and why (into why, whysz bytes): unusable (secret_ok
 * false: its secret not resolved, its External Service flag off, a setting refused; its
 * secret_error), a reversal of it asked now answered `error`, nothing sent (engine.c,
 * prepare_call); or not configured at all (*absent set: removed from auth_service since the
 * reversal was sent), a reversal of it asked now refused as naming an unknown service bureau,
 * answered `invalid` with no row recorded — so nothing would record it to ask again or tell of,
 * and the chain would end unseen with the hold on the card. False when it is usable, and when
 * the configuration cannot be read: no verdict then, the reversal is asked as before.
 */
static bool reask_bureau_unusable(pl_resolver *r, PGconn *c, const char *code, char *why,
                                  size_t whysz, bool *absent)
{
    *absent = false;
    why[0] = '\0';
    const pl_services *all = services(r, c);
    if (!all)
        return false;
    const pl_service *svc = pl_services_find(all, code);
    if (!svc) {
        *absent = true;
        snprintf(why, whysz, "no service bureau %s is configured", code);
        return true;
    }
    if (svc->secret_ok)
        return false;
    snprintf(why, whysz, "%s", svc->secret_error);
    return true;
}

/*
 * Gives the lease of row rid back, to be looked at again in `after` seconds, noting in its `done`
 * (done_at still NULL: nothing decided) that it waits for its bureau (note). Returns 1 when the
 * note is new to the row (the first pass that finds it waiting, or for another reason: said at
 * warn then, once, by whichever replica gets there), 0 when the row said so already, or
 * PL_ERR_DB (the row kept under its lease, taken again once that has passed).
 */
static int reask_wait_bureau(PGconn *c, const char *rid, const char *owner, const char *note,
                             int after)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", after > 0 ? after : 0);
    const char *p[] = {rid, owner, note, secs};
    PGresult *res = exec(c,
                         "WITH was AS (SELECT done FROM reversal_reask WHERE request_id = $1 "
                         "AND lease_owner = $2 AND done_at IS NULL FOR UPDATE) "
                         "UPDATE reversal_reask k SET done = left($3, 300), "
                         "due_at = now() + make_interval(secs => $4::int), "
                         "lease_owner = NULL, lease_until = NULL FROM was "
                         "WHERE k.request_id = $1 AND k.lease_owner = $2 AND k.done_at IS NULL "
                         "RETURNING was.done IS DISTINCT FROM left($3, 300)",
                         4, p);
    int rc = !ok(res) ? PL_ERR_DB : PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    if (rc == PL_ERR_DB)
        PL_WARN(rid, "resolver: the reversal waiting for its bureau cannot be kept so: %s",
                PQerrorMessage(c));
    PQclear(res);
    return rc;
}

/* What reask_one records when it told an operator of a reversal refused as already reversed
 * while the books keep the rest (reask_kept_rest). */
#define REASK_DONE_KEPT_REST                                                                       \
    "refused as already reversed (237) after a reversal approved for part: told to an operator"

/*
 * reask_one's word on paylink's own reversal rid that CyberSource refused as already reversed
 * (237) after another reversal of its authorization was approved for part of it (recorded so by
 * whoever stored that answer: PL_REVERSAL_KEPT_REST_OWED_SQL), res its REASK_FACTS_SQL row, auth
 * the authorization as named (its request id, else its transaction id), history whether paylink
 * holds its history row, held what that row says is held (else what the reversal went for) and
 * deposited what was captured of it. 237 does not say the rest was released, and asked again
 * CyberSource would refuse it alike: one error line tells an operator what to check at the bureau
 * (the authorization, its order, the bureau, what paylink's books still hold; no card data), and
 * the row is closed. Nothing is said when the authorization was reversed since (another reversal
 * released the rest) or captured since for all it held. Returns 0.
 */
static int reask_kept_rest(PGconn *c, const char *rid, const PGresult *res, const char *auth,
                           bool history, int64_t held, int64_t deposited)
{
    const char *hstatus = PQgetvalue(res, 0, 17), *company = PQgetvalue(res, 0, 3),
               *order = PQgetvalue(res, 0, 4), *bureau = PQgetvalue(res, 0, 6);
    if (history && strcmp(hstatus, "reversed") == 0) {
        PL_INFO(rid,
                "paylink's reversal of authorization %s was refused as already reversed (237) "
                "after a reversal approved for part: nothing to tell, the authorization is "
                "reversed since",
                auth);
        reask_done(c, rid, REASK_DONE_REVERSED);
        return 0;
    }
    if (history && held > 0 && deposited >= held) {
        PL_INFO(rid,
                "paylink's reversal of authorization %s was refused as already reversed (237) "
                "after a reversal approved for part: nothing to tell, what it held was captured "
                "since",
                auth);
        reask_done(c, rid, "its authorization was captured since");
        return 0;
    }
    int64_t rest = history && deposited > 0 ? held - deposited : held;
    char amount[24] = "";
    if (rest <= 0 || pl_money_format(rest, amount, sizeof amount) != 0)
        snprintf(amount, sizeof amount, "%s", "amount");
    PL_ERROR(rid,
             "CyberSource refused paylink's reversal of authorization %s (order %s of company %s, "
             "bureau %s) as already reversed (237) after another reversal of it was approved for "
             "part, which does not say the rest was released: %s %s, and nothing asks again; an "
             "operator must check at the bureau whether the issuer still holds it, and release it",
             auth, order, company, bureau, amount,
             history ? "stays on paylink's books held and capturable"
                     : "was what it went for (paylink holds no record of the authorization)");
    reask_done(c, rid, REASK_DONE_KEPT_REST);
    return 0;
}

/*
 * Decides on reversal rid recorded in reversal_reask (its outcome stored owed_s seconds ago),
 * whose lease this resolver holds (pl_resolver_reask_pass), and publishes it again to topic when it
 * is to be asked again. Returns 1 when published, 0 when decided or left for later, PL_ERR_KAFKA
 * when Kafka refused it (given back), or PL_ERR_DB.
 */
static int reask_one(pl_resolver *r, PGconn *c, const char *rid, double owed_s, const char *topic)
{
    char next[51];
    pl_job_derived_request_id(rid, PL_REVERSAL_AGAIN_SUFFIX, next, sizeof next);
    const char *p[] = {rid, next};
    PGresult *res = exec(c, REASK_FACTS_SQL, 2, p);
    if (!ok(res)) {
        PL_WARN(rid, "resolver: the reversal to ask again cannot be read: %s", PQerrorMessage(c));
        PQclear(res);
        reask_later(c, rid, r->owner, 0);
        return PL_ERR_DB;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        reask_done(c, rid, "no such reversal");
        return 0;
    }
#define F(i) PQgetvalue(res, 0, (i))
    const char *status = F(0), *vendor = F(2), *auth_rid = F(9), *ended = F(24);
    bool history = F(16)[0] == 't';
    /* A card authorization reversal (not a stored value void) of an authorization paylink holds,
     * or of a manual one named inline. */
    bool card = strcmp(F(22), "RLT") != 0 && F(23)[0] == 't';
    int again = 0;
    char root[64] = "";
    int own =
        card ? pl_reversal_own_chain(rid, auth_rid, F(14), F(15), root, sizeof root, &again) : -1;
    /* Refused by paylink-reversal without a bureau call (never marked sent: 070's trigger records
     * a `declined` one only then): nothing was done at the bureau, whatever the refusal said. A
     * `declined` one marked sent is the bureau's refusal, recorded only for a CyberSource 237
     * that left the rest on paylink's books (PL_REVERSAL_KEPT_REST_OWED_SQL), told below and
     * never asked again: read from its status alone, it was taken for a refusal without a call
     * and asked again, for CyberSource to refuse it alike. */
    bool sent = F(31)[0] == 't';
    bool refused = strcmp(status, "declined") == 0 && !sent;
    if (own < 0) {
        /* The order system's: its sender reads the reply. */
        PQclear(res);
        reask_done(c, rid, "not paylink's own reversal: its sender reads its reply");
        return 0;
    }
    const char *auth = auth_rid[0] ? auth_rid : F(10);
    if (refused && pl_reversal_is_timeout_of(rid, auth_rid)) {
        /* The timeout reversal refused (its authorization's outcome known since, or another
         * reversal of it in flight, which releases it): its authorization's required response
         * follows it and escalates it while that still has no outcome (follow_reversal). */
        PQclear(res);
        reask_done(c, rid,
                   "a timeout reversal refused: its authorization's required response "
                   "follows it");
        return 0;
    }
    /* How it ended, for the log. */
    char outcome[64];
    if (refused)
        snprintf(outcome, sizeof outcome, "was refused without a bureau call");
    else
        snprintf(outcome, sizeof outcome, "ended %s %s", status, vendor);
    /* What paylink-reversal sends for it now (rev_prepare reads it anew): the amount authorized,
     * else what the issuer holds of a refused one, else what the request named (a reject's, a
     * manual authorization's). */
    int64_t held = 0, v = 0;
    if (pl_money_parse_decimal(F(8), &held) != 0)
        held = 0;
    if (history && pl_money_parse_decimal(F(20), &v) == 0 && v > 0)
        held = v;
    else if (history && pl_money_parse_decimal(F(21), &v) == 0 && v > 0)
        held = v;
    char amount[24] = "";
    if (held <= 0 || pl_money_format(held, amount, sizeof amount) != 0)
        amount[0] = '\0';
    int64_t deposited = 0, pending = 0;
    if (history && pl_money_parse_decimal(F(18), &deposited) != 0)
        deposited = 0;
    if (history && pl_money_parse_decimal(F(19), &pending) != 0)
        pending = 0;
    /* Whether its bureau can be used now (see below, where one that cannot waits), decided
     * before any verdict that reads the bureau's protocol: one no longer configured has none
     * (F(22) "": the facts' join found no auth_service row), and read so the rules of
     * CyberSource misjudged it — its ERROR 150 taken for an answer that may have reversed it,
     * a soft-declined or issuer-authorized authorization for one never approved — and closed it
     * at once with a wrong reason, the hold left, instead of waiting for the bureau to be
     * configured again. Not configured when either the resolver's configuration (up to a
     * minute old) or the facts just read say so. */
    char down_why[300];
    bool absent = false;
    bool down = reask_bureau_unusable(r, c, F(6), down_why, sizeof down_why, &absent);
    if (!F(22)[0] && !absent) {
        absent = down = true;
        snprintf(down_why, sizeof down_why, "no service bureau %s is configured", F(6));
    }
    /* CyberSource's refusal as already reversed, the rest kept on the books: told, not asked.
     * Recorded only for a CyberSource bureau (PL_REVERSAL_KEPT_REST_OWED_SQL; no other `declined`
     * row is marked sent), so told too when the bureau is no longer configured: telling needs
     * no bureau. */
    if (strcmp(status, "declined") == 0 && sent && strcmp(vendor, "237") == 0 &&
        (strcmp(F(22), "CYB") == 0 || absent)) {
        int rc = reask_kept_rest(c, rid, res, auth, history, held, deposited);
        PQclear(res);
        return rc;
    }
    /* A timeout reversal of the authorization in flight claims nothing, but paylink-reversal
     * refuses every other reversal of it meanwhile (as while a claim lasts): one asked again
     * then is refused, and the asks were spent while it stayed sent or unknown. */
    bool in_flight = pending > 0 || F(26)[0] == 't';
    /* What paylink-reversal would refuse it for whatever it is asked (reversal_own.h): an
     * authorization never approved, or without a bureau transaction id, stays so; a claim or a
     * timeout reversal in flight ends, and is waited for below. Judged by the same rule on the
     * same history row it reads, not from the text of the refusal. */
    pl_reversal_auth_facts facts = {.found = history,
                                    .status = F(17),
                                    .deposited = deposited,
                                    .pending = pending,
                                    .transaction_id = F(28),
                                    .timeout_in_flight = F(26)[0] == 't'};
    pl_reversal_auth_facts_issuer(&facts, F(22), F(29), F(30)[0] == 't');
    pl_reversal_refusal lasting = pl_reversal_refusal_lasting(&facts, auth_rid[0] != '\0');
    int delay = pl_reversal_again_delay_s(again);
    char why[200] = "";
    /* The verdicts that read the bureau's protocol (its answer's, the authorization's issuer
     * facts) are passed over while its bureau is not configured: it waits (below). */
    if (!refused && !absent && !pl_reversal_error_unacted(F(22), F(1), vendor, F(27)))
        snprintf(why, sizeof why, "its answer (%s%s%s%s%s) may have reversed it", F(1),
                 F(1)[0] ? " " : "", vendor, F(27)[0] ? ", settled by " : "", F(27));
    else if (pl_reversal_is_timeout_of(rid, auth_rid))
        snprintf(why, sizeof why,
                 "a timeout reversal: its authorization's required response is escalated");
    else if (history && strcmp(F(17), "reversed") == 0) {
        PL_INFO(rid,
                "paylink's reversal of authorization %s %s: not asked again, the authorization "
                "is reversed since",
                auth, outcome);
        PQclear(res);
        reask_done(c, rid, REASK_DONE_REVERSED);
        return 0;
    } else if (deposited > 0)
        snprintf(why, sizeof why, "its authorization was captured since");
    else if (auth_rid[0] && !history)
        snprintf(why, sizeof why, "its authorization has no answer recorded");
    else if (F(25)[0] == 't') {
        /* Published before (a crash, or a failed mark, after the publish): that one's outcome
         * is its own (recorded here again when it ends `error` or is refused). */
        PQclear(res);
        reask_done(c, rid, next);
        return 0;
    } else if (!absent && lasting == PL_REVERSAL_REFUSED_NOT_APPROVED)
        /* At once, not after three asks (~36 minutes) refused alike. */
        snprintf(why, sizeof why,
                 "its authorization was not approved (%s): paylink-reversal refuses it however "
                 "often it is asked",
                 F(17));
    else if (!absent && lasting == PL_REVERSAL_REFUSED_NO_TRANSACTION_ID)
        snprintf(why, sizeof why,
                 "its authorization has no bureau transaction id: paylink-reversal refuses it "
                 "however often it is asked");
    else if (delay < 0)
        snprintf(why, sizeof why, "it was asked again %d times already", again);
    else if (owed_s < delay) {
        PQclear(res);
        reask_later(c, rid, r->owner, (int)(delay - owed_s) + 1);
        return 0;
    } else if (in_flight) {
        if (owed_s < delay + REASK_CLAIM_WAIT_MAX_S) {
            /* Another claim on the authorization (a capture, another reversal), or a timeout
             * reversal of it: paylink-reversal would refuse this one now. Looked at again once
             * it may have ended. */
            PQclear(res);
            reask_later(c, rid, r->owner, REASK_CLAIM_RETRY_S);
            return 0;
        }
        snprintf(why, sizeof why,
                 "another claim or a timeout reversal of its authorization lasted over %d s",
                 REASK_CLAIM_WAIT_MAX_S);
    }
    /* Its bureau unusable in the configuration (a refresh made it so: the External Service flag
     * switched off, a secret unreadable under a changed reference): paylink-reversal would answer
     * the reversal asked now `error`, nothing sent, and that ask would be spent — the three of a
     * chain within ~36 minutes, and then an operator told while the bureau was still off. Or not
     * configured at all (removed from auth_service): paylink-reversal would refuse the reversal
     * asked now as invalid and record nothing, so the chain ended there, the hold left and nobody
     * told. Either way it waits instead, unasked, looked at each minute, and said once at warn; it
     * goes, counted as usual, at the first pass that finds the bureau usable (configured again);
     * an operator is told (below) when it stays so over REASK_UNUSABLE_WAIT_MAX_S past the
     * delay. (Decided above, before the verdicts that read the bureau's protocol.) */
    down = down && !why[0];
    if (down && owed_s < delay + REASK_UNUSABLE_WAIT_MAX_S) {
        char note[300];
        snprintf(note, sizeof note, "waits for bureau %s to become usable: %.200s", F(6), down_why);
        int rc = reask_wait_bureau(c, rid, r->owner, note, REASK_UNUSABLE_RETRY_S);
        if (rc == 1)
            PL_WARN(rid,
                    "paylink's reversal of authorization %s %s (%s) and is not asked again while "
                    "its bureau %s %s (%s): the %s it is to release stays held meanwhile; it "
                    "is asked once the bureau can be used, and an operator is told if it cannot "
                    "be within %d hours",
                    auth, outcome, ended, F(6), absent ? "is not configured" : "is unusable",
                    down_why, amount[0] ? amount : "amount", REASK_UNUSABLE_WAIT_MAX_S / 3600);
        PQclear(res);
        return rc < 0 ? rc : 0;
    }
    if (down)
        snprintf(why, sizeof why, "its bureau %s stayed %s over %d hours (%.120s)", F(6),
                 absent ? "unconfigured" : "unusable", REASK_UNUSABLE_WAIT_MAX_S / 3600, down_why);
    if (why[0]) {
        PL_ERROR(rid,
                 "paylink's reversal of authorization %s %s (%s) and is not asked again: %s; the "
                 "%s it was to release may still be held, and an operator must see that it is "
                 "released",
                 auth, outcome, ended, why, amount[0] ? amount : "amount");
        PQclear(res);
        reask_done(c, rid, why);
        return 0;
    }
    /* The same authorization, named as this reversal named it (as its rests are: a manual one
     * inline, with the amount the chain's first reversal named). */
    pl_reversal_of of = {0};
    bool has_auth_amount = false;
    int64_t auth_amount = 0;
    char auth_amount_text[24] = "";
    if (auth_rid[0]) {
        of.auth_request_id = auth_rid;
    } else {
        if (root_amount(c, root, &has_auth_amount, &auth_amount) != 0) {
            PL_WARN(rid, "resolver: the reversal its chain started from cannot be read: %s",
                    PQerrorMessage(c));
            PQclear(res);
            reask_later(c, rid, r->owner, 0);
            return PL_ERR_DB;
        }
        if (has_auth_amount &&
            pl_money_format(auth_amount, auth_amount_text, sizeof auth_amount_text) != 0)
            auth_amount_text[0] = '\0';
        of.transaction_id = F(10);
        of.request_token = F(11);
        of.number = F(12);
        of.date = F(13);
        of.amount = auth_amount_text[0] ? auth_amount_text : amount[0] ? amount : NULL;
    }
    const pl_reversal_message m = {.request_id = next,
                                   .company = atoi(F(3)),
                                   .order = F(4),
                                   .pay_seq = atoi(F(5)),
                                   .service = F(6),
                                   .amount = amount,
                                   .currency = F(7),
                                   .of = &of};
    char key[64], err[256] = "";
    pl_reversal_request_key(m.company, m.order, key, sizeof key);
    char *payload = pl_reversal_request_json(&m);
    int rc = 0;
    if (!payload) {
        PL_WARN(rid, "resolver: out of memory for the reversal %s (asked again later)", next);
        reask_later(c, rid, r->owner, 0);
        rc = PL_ERR_NOMEM;
    } else if (r->publish(r->publish_arg, topic, key, payload, err, sizeof err) != 0) {
        PL_WARN(rid, "resolver: publishing the reversal %s failed (published later): %s", next,
                err);
        reask_later(c, rid, r->owner, 0);
        rc = PL_ERR_KAFKA;
    } else {
        /* Published, whoever holds the lease now (one that outlasted it may have been taken
         * and published again: the same request_id and bytes, answered from its row). */
        reask_done(c, rid, next);
        PL_INFO(rid,
                "paylink's reversal of authorization %s %s with nothing reversed: reversal %s "
                "requested for the %s still held (asked again %d of at most %d)",
                auth, outcome, next, amount[0] ? amount : "amount", again + 1,
                PL_REVERSAL_MAX_AGAIN);
        rc = 1;
    }
#undef F
    free(payload);
    PQclear(res);
    return rc;
}

int pl_resolver_reask_pass(pl_resolver *r, int max_rows)
{
    PGconn *c = conn(r);
    if (!c)
        return PL_ERR_DB;
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", max_rows > 0 ? max_rows : 1);
    snprintf(lease, sizeof lease, "%d", PUBLISH_LEASE_S);
    const char *p[] = {r->owner, lim, lease};
    /* Its own lease too: one a pass of this resolver left (a mark that failed after the publish)
     * or, under an instance name that a restart keeps, one it held when it died. */
    PGresult *res = exec(c,
                         "WITH due AS (SELECT request_id FROM reversal_reask "
                         "WHERE done_at IS NULL AND due_at <= now() AND (lease_until IS NULL "
                         "OR lease_until < now() OR lease_owner = $1) "
                         "ORDER BY due_at LIMIT $2::int FOR UPDATE SKIP LOCKED), "
                         "took AS (UPDATE reversal_reask o SET lease_owner = $1, "
                         "lease_until = now() + make_interval(secs => $3::int) FROM due "
                         "WHERE o.request_id = due.request_id RETURNING o.request_id, o.owed_at) "
                         "SELECT request_id, extract(epoch FROM now() - owed_at)::float8 "
                         "FROM took ORDER BY owed_at",
                         3, p);
    if (!ok(res)) {
        PL_WARN(NULL, "resolver: reading the reversals to ask again failed: %s", PQerrorMessage(c));
        PQclear(res);
        return PL_ERR_DB;
    }
    char topic[200];
    snprintf(topic, sizeof topic, "%s.reversal.request", r->prefix);
    int n = PQntuples(res), published = 0;
    bool stop = false;
    for (int i = 0; i < n; i++) {
        const char *rid = PQgetvalue(res, i, 0);
        if (stop) {
            /* Kafka refused one, or the database failed: the rest are given back untried. */
            reask_later(c, rid, r->owner, 0);
            continue;
        }
        int rc = reask_one(r, c, rid, strtod(PQgetvalue(res, i, 1), NULL), topic);
        if (rc == 1)
            published++;
        else if (rc == PL_ERR_KAFKA || (rc == PL_ERR_DB && PQstatus(c) != CONNECTION_OK))
            stop = true;
    }
    PQclear(res);
    return published;
}

/* ---- one step ----------------------------------------------------------------------------- */

static int reschedule(PGconn *c, const row *w, const char *owner, bool queried, int delay_s,
                      const char *why)
{
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_s);
    const char *p[] = {w->id, owner, queried ? "t" : "f", delay, why};
    PGresult *res = exec(c,
                         "UPDATE required_response SET queries = queries + $3::boolean::int, "
                         "last_query_at = CASE WHEN $3::boolean THEN now() ELSE last_query_at END, "
                         "last_query_result = left($5, 300), "
                         "next_query_at = now() + make_interval(secs => $4::int), "
                         "lease_owner = NULL, lease_until = NULL "
                         "WHERE id = $1::bigint AND status = 'open' AND lease_owner = $2",
                         5, p);
    int rc = ok(res) ? 0 : PL_ERR_DB;
    PQclear(res);
    return rc;
}

/*
 * Escalates w to an operator with why (last_query_result). From a record (decide), also what it
 * said beside the reason, kept on the row: captured (the auth+capture was captured: an
 * operator's refusal of it then publishes no `.sdr`, escalated_captured; set, never cleared, so
 * a query that fails after `wreq retry` and replaces the reason forgets nothing of it) and
 * record_rid, its RequestID ("" or NULL when none: the one kept stays), which `wreq show` prints
 * for the operator's `--transaction-id`.
 */
static int escalate_as(pl_resolver *r, PGconn *c, const row *w, bool queried, const char *why,
                       bool captured, const char *record_rid)
{
    const char *p[] = {w->id,
                       r->owner,
                       queried ? "t" : "f",
                       why,
                       captured ? "t" : "f",
                       record_rid && *record_rid ? record_rid : NULL};
    int done = update_one(c,
                          "UPDATE required_response SET status = 'escalated', "
                          "escalated_at = now(), queries = queries + $3::boolean::int, "
                          "last_query_at = CASE WHEN $3::boolean THEN now() ELSE last_query_at "
                          "END, last_query_result = left($4, 300), next_query_at = NULL, "
                          "lease_owner = NULL, lease_until = NULL, "
                          "captured = captured OR $5::boolean, "
                          "record_request_id = coalesce($6::text, record_request_id) "
                          "WHERE id = $1::bigint AND status = 'open' AND lease_owner = $2 "
                          "RETURNING id",
                          6, p);
    int rc = done < 0 ? done : 0;
    if (done == 1) {
        count(r->m_escalated);
        PL_WARN(w->rid, "required response %s (%s %s on %s) escalated to an operator: %s", w->id,
                w->worker, w->op, w->bureau, why);
    }
    return rc;
}

static int escalate(pl_resolver *r, PGconn *c, const row *w, bool queried, const char *why)
{
    return escalate_as(r, c, w, queried, why, false, NULL);
}

/* Who settles a row: a worker's resolver, or (paylinkctl's, which serves every worker) the
 * operator whose name its owner carries. */
static void resolver_name(const pl_resolver *r, const row *w, char *out, size_t n)
{
    if (r->any_worker)
        copy(out, n, r->owner);
    else
        snprintf(out, n, "paylink-%s resolver", w->worker);
}

/* ---- the safe step: reversing an authorization that cannot be confirmed ------------------ */

/* How long a requested timeout reversal may stay unrecorded or unanswered before the row is
 * escalated (the reversal worker down that long is an operator's matter). */
#define REVERSAL_WAIT_MAX_S 3600.0

static bool can_reverse(const row *w)
{
    return strcmp(w->worker, "auth") == 0 && strcmp(w->protocol, "CYB") == 0 &&
           strcmp(w->op, "token") != 0 && w->reverse_unconfirmed && w->send_reversal;
}

/* Publishes the timeout reversal request rev_rid of the row's authorization to
 * <prefix>.reversal.request (the same request_id every time: paylink-reversal records it once).
 * Returns 0, or a negative pl_err with why. */
static int publish_reversal(pl_resolver *r, PGconn *c, const row *w, const char *rev_rid, char *why,
                            size_t whysz)
{
    char *payload = NULL;
    int rc = reversal_message(c, w->rid, rev_rid, NULL, true, &payload, why, whysz);
    if (rc != 0)
        return rc;
    char topic[200], err[200] = "";
    snprintf(topic, sizeof topic, "%s.reversal.request", r->prefix);
    if (r->publish(r->publish_arg, topic, w->key, payload, err, sizeof err) != 0) {
        snprintf(why, whysz, "publishing the timeout reversal %s failed: %s", rev_rid, err);
        rc = PL_ERR_KAFKA;
    }
    free(payload);
    return rc;
}

/* The last query could not confirm the authorization (or it cannot be asked): once it was sent
 * long enough ago, ask paylink-reversal for the timeout reversal and follow it. */
static int safe_reverse(pl_resolver *r, PGconn *c, const row *w, bool queried, const char *why)
{
    char note[300];
    if (w->sent_age_s < w->reverse_after_s) {
        int wait = (int)(w->reverse_after_s - w->sent_age_s) + 1;
        snprintf(note, sizeof note, "%s; the timeout reversal follows in %d s", why, wait);
        return reschedule(c, w, r->owner, queried, wait, note);
    }
    char rev[51], err[200] = "", lease[16];
    pl_job_derived_request_id(w->rid, PL_TIMEOUT_REVERSAL_SUFFIX, rev, sizeof rev);
    /* Recorded before it is published, under the lease (kept for the publish, which may wait
     * for the broker as long as its delivery timeout): whoever takes the row next — after this
     * step, or another replica once a slow publish outlasted the lease — follows this reversal.
     * Recorded after, a replica could query the row meanwhile, find the authorization approved
     * and report it approved while this reversal releases it. A reversal recorded but never
     * published is published again by follow_reversal (the same request_id). */
    snprintf(lease, sizeof lease, "%d", PUBLISH_LEASE_S);
    const char *pr[] = {w->id, r->owner, rev, lease};
    int rc = update_one(c,
                        "UPDATE required_response SET reversal_request_id = $3, "
                        "reversal_requested_at = coalesce(reversal_requested_at, now()), "
                        "lease_until = now() + make_interval(secs => $4::int) "
                        "WHERE id = $1::bigint AND status = 'open' AND lease_owner = $2 "
                        "AND reversal_request_id IS NULL RETURNING id",
                        4, pr);
    if (rc != 1) /* another actor has the row now (0), or the database failed */
        return rc;
    if (publish_reversal(r, c, w, rev, err, sizeof err) != 0) {
        /* Not rescheduled: an operator looks (paylinkctl wreq retry once the cause is fixed
         * publishes it again), rather than the row failing the same way every step, unseen
         * (a topic missing or refused, an authorization that cannot be read). */
        snprintf(note, sizeof note, "%s; the timeout reversal could not be requested: %s", why,
                 err);
        return escalate(r, c, w, queried, note);
    }
    snprintf(note, sizeof note, "%s; timeout reversal %s requested", why, rev);
    rc = reschedule(c, w, r->owner, queried, w->policy.retry_after_s, note);
    PL_WARN(w->rid,
            "required response %s: the authorization cannot be confirmed (%s); timeout "
            "reversal %s requested",
            w->id, why, rev);
    return rc;
}

/* True when a timeout reversal whose auth_reversal row says status (reversal_state) has a row
 * and no outcome yet: received, sent, or unknown (its own required response being settled). */
static bool reversal_in_flight(const char *status)
{
    return strcmp(status, "received") == 0 || strcmp(status, "sent") == 0 ||
           strcmp(status, "unknown") == 0;
}

/* A timeout reversal was requested: settle the authorization from its outcome. */
/* The timeout reversal rid's row as paylink-reversal recorded it: its status and vendor response
 * ("" and "" before it is recorded). Returns 0 or PL_ERR_DB. */
static int reversal_state(PGconn *c, const char *rid, char status[16], char vendor[16])
{
    status[0] = vendor[0] = '\0';
    const char *p[] = {rid};
    PGresult *res =
        exec(c, "SELECT status, vendor_response FROM auth_reversal WHERE request_id = $1", 1, p);
    if (!ok(res)) {
        PQclear(res);
        return PL_ERR_DB;
    }
    if (PQntuples(res) == 1) {
        copy(status, 16, PQgetvalue(res, 0, 0));
        copy(vendor, 16, PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return 0;
}

static int follow_reversal(pl_resolver *r, PGconn *c, row *w)
{
    char status[16], vendor[16], note[300];
    if (reversal_state(c, w->reversal_rid, status, vendor) != 0)
        return PL_ERR_DB;
    int rc;
    /* unknown: the reversal's own required response is being settled (by query) first. */
    if (!status[0] || strcmp(status, "received") == 0 || strcmp(status, "sent") == 0 ||
        strcmp(status, "unknown") == 0) {
        if (w->reversal_age_s > REVERSAL_WAIT_MAX_S) {
            snprintf(note, sizeof note,
                     "the timeout reversal %s has had no outcome for %.0f s: the authorization "
                     "may still hold the cardholder's funds",
                     w->reversal_rid, w->reversal_age_s);
            return escalate(r, c, w, false, note);
        }
        char err[200] = "";
        if (!status[0] && publish_reversal(r, c, w, w->reversal_rid, err, sizeof err) != 0)
            snprintf(note, sizeof note, "%s", err);
        else
            snprintf(note, sizeof note, "waiting for the timeout reversal %s (%s)", w->reversal_rid,
                     status[0] ? status : "not recorded yet");
        return reschedule(c, w, r->owner, false, w->policy.retry_after_s, note);
    }
    pl_resolve_outcome o;
    memset(&o, 0, sizeof o);
    o.status = PL_ST_ERROR;
    char by[160];
    resolver_name(r, w, by, sizeof by);
    if (strcmp(status, "approved") == 0 ||
        (strcmp(status, "declined") == 0 && strcmp(vendor, "237") == 0)) {
        snprintf(o.note, sizeof o.note,
                 "the authorization could not be confirmed and was reversed (timeout reversal %s, "
                 "%s): nothing is held",
                 w->reversal_rid, vendor);
        rc = apply_as(r, c, w, &o, "timeout_reversal", "cancelled", by, o.note,
                      "The authorization could not be confirmed and was reversed at the payment "
                      "service: nothing is held. Send a new authorization.");
    } else if (strcmp(status, "declined") == 0 && strcmp(vendor, "242") == 0) {
        snprintf(o.note, sizeof o.note,
                 "the bureau has no such authorization (timeout reversal %s answered 242): "
                 "nothing was charged",
                 w->reversal_rid);
        rc = apply_as(r, c, w, &o, "timeout_reversal", "error", by, o.note,
                      "No record at the payment service: nothing was charged.");
    } else {
        snprintf(note, sizeof note,
                 "the timeout reversal %s ended %s %s: the authorization may still hold the "
                 "cardholder's funds",
                 w->reversal_rid, status, vendor);
        return escalate(r, c, w, false, note);
    }
    if (rc == 1) {
        count(r->m_by_reversal);
        PL_INFO(w->rid, "required response %s resolved by timeout reversal: %s", w->id, o.note);
        publish_applied(r, c, w);
        rc = 0;
    } else if (rc < 0) {
        rc = apply_failed(r, c, w, false, &o);
    }
    return rc;
}

bool pl_resolver_approves_above(const pl_bureau_result *res, const char *amount)
{
    int64_t sent;
    return (strcmp(res->decision, "ACCEPT") == 0 || strcmp(res->decision, "REVIEW") == 0) &&
           pl_money_parse_decimal(amount, &sent) == 0 && res->amount > sent;
}

/*
 * True when the answer the worker left unknown says the timeout reversal, which goes for the
 * whole amount sent, would be refused: a partial approval without its part (the reversal is
 * refused above the part, and the hold stays; the operator resolves it with the part), or an
 * auth+capture that was captured (nothing of it is left to reverse). Such a row goes to an
 * operator rather than to the timeout reversal, whether or not the bureau can be asked.
 */
static bool whole_reversal_refused(const row *w)
{
    return w->partial_answer || w->row_captured;
}

/*
 * The operator's step for a row whose worker had the bureau's answer (unreadable, a fault that
 * does not say whether it acted, or one it could not store), or one captured: decide believes
 * no "no record" of it (its answered_todo). NULL for any other row (no answer came), whose
 * "no record" is believed after not_found_after_s. The reasons that mean an answer are 028's and
 * 038's: unreadable_answer (a body that is no reply: a 5xx may come from a gateway the request
 * never passed, but the README tells an operator to confirm those), bureau_fault (CyberSource's
 * 151/152: received) and answer_not_stored (an answer read, then lost to the database).
 */
static const char *answered_todo(const row *w)
{
    bool answered = strcmp(w->reason, "unreadable_answer") == 0 ||
                    strcmp(w->reason, "bureau_fault") == 0 ||
                    strcmp(w->reason, "answer_not_stored") == 0;
    if (!answered && !w->row_captured && !w->partial_answer)
        return NULL;
    if (w->row_captured)
        return CAPTURED_TODO;
    if (w->partial_answer)
        return strcmp(w->op, "auth_capture") == 0 ? PART_TODO_CAPTURE_UNKNOWN : PART_TODO_AUTH;
    return ANSWERED_TODO;
}

/*
 * Whether the step takes the safe step (safe_reverse: the timeout reversal) for decide's
 * escalation x of row w, rather than escalating it: where the policy reverses an authorization
 * that cannot be confirmed (can_reverse), but not for a partial approval whose part the record
 * cannot tell (x->part_unknown). Its timeout reversal would go for the whole amount sent
 * (paylink-reversal sends the request's amount for a `.tor` of an authorization without a
 * history row), which CyberSource refuses above the part: the hold would stay, and
 * follow_reversal's escalation of that refusal would replace the reason that tells the operator
 * what to do (approve it for the part, or reject it with the part, whose `.rev` goes for it).
 */
static bool escalation_reverses(const row *w, const decision_ex *x)
{
    return can_reverse(w) && !x->part_unknown && !whole_reversal_refused(w);
}

/* True when a transaction row's status s is final (migration 002's, which 044's trigger closes
 * a required response on). */
static bool final_status(const char *s)
{
    return strcmp(s, "approved") == 0 || strcmp(s, "declined") == 0 || strcmp(s, "review") == 0 ||
           strcmp(s, "rejected") == 0 || strcmp(s, "error") == 0;
}

/*
 * Closes w, whose transaction is final, as the late-answer trigger (migration 044) closes an open
 * or escalated row when its transaction leaves `unknown` for a final status: resolved
 * (`resolved_how` late_answer, the resolution from the transaction's status), its stored reply
 * made the final one ("resolved": true, "resolution": "query") and published (reply_pending,
 * under the lease, as after an outcome the resolver applied). The trigger fires only on a row
 * leaving `unknown`; one that reached its final status otherwise with a required response still
 * open is settled all the same, or it would be looked at for ever (an operator cannot resolve
 * it either: pl_resolver_operator refuses a transaction that is not unknown) and the order
 * system, told `timeout`, would never get its final reply. The transaction row is locked first,
 * in apply_as's order. Returns 1 closed, 0 nothing done (another actor, or the transaction no
 * longer final: looked at again), negative on failure.
 */
static int close_late_answer(pl_resolver *r, PGconn *c, const row *w)
{
    const char *table = table_of(w->worker);
    if (!table)
        return PL_ERR_INVALID;
    if (!simple(c, "BEGIN"))
        return PL_ERR_DB;
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT status, reply IS NOT NULL FROM %s WHERE request_id = $1 FOR UPDATE", table);
    const char *p0[] = {w->rid};
    PGresult *res = exec(c, sql, 1, p0);
    if (!ok(res) || PQntuples(res) != 1 || !final_status(PQgetvalue(res, 0, 0))) {
        int rc = ok(res) ? 0 : PL_ERR_DB;
        PQclear(res);
        simple(c, "ROLLBACK");
        return rc;
    }
    char tstatus[12], lease[16];
    copy(tstatus, sizeof tstatus, PQgetvalue(res, 0, 0));
    bool has_reply = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    snprintf(lease, sizeof lease, "%d", PUBLISH_LEASE_S);
    const char *p1[] = {w->id, r->owner, tstatus, has_reply ? "t" : "f", lease};
    res = exec(c,
               "UPDATE required_response SET status = 'resolved', "
               "resolution = CASE $3 WHEN 'approved' THEN 'approved' WHEN 'error' THEN 'error' "
               "ELSE 'declined' END, resolved_how = 'late_answer', "
               "resolved_by = 'paylink-' || worker, "
               "resolution_note = 'the bureau''s answer arrived after the outcome was reported "
               "unknown', resolved_at = now(), reply_pending = $4::boolean, "
               "lease_owner = CASE WHEN $4::boolean THEN $2 END, "
               "lease_until = CASE WHEN $4::boolean THEN now() + make_interval(secs => $5::int) "
               "END WHERE id = $1::bigint AND status = 'open' AND lease_owner = $2 RETURNING id",
               5, p1);
    bool mine = ok(res) && PQntuples(res) == 1, failed = !ok(res);
    PQclear(res);
    if (mine && has_reply) {
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET reply = (reply - 'required_response' - 'replayed') || "
                 "jsonb_build_object('resolved', true, 'resolution', 'query') "
                 "WHERE request_id = $1",
                 table);
        res = exec(c, sql, 1, p0);
        failed = !ok(res);
        PQclear(res);
    }
    if (!mine || failed) {
        simple(c, "ROLLBACK");
        return failed ? PL_ERR_DB : 0;
    }
    if (!commit(c)) {
        simple(c, "ROLLBACK");
        return PL_ERR_DB;
    }
    PL_INFO(w->rid,
            "required response %s closed: its transaction is %s (an answer stored without the "
            "late-answer trigger)",
            w->id, tstatus);
    if (has_reply)
        publish_applied(r, c, w);
    return 1;
}

/*
 * The operator's line of x's other authorizations (decision_ex.also_n: a retry the bureau
 * received and authorized too), at the decision of w: one ERROR line naming the request, its
 * order and bureau, the amount it sent, the record it is decided by and the others with their
 * amounts (RequestIDs as several_why names them, never card data), and what to do: reverse the
 * others in the Business Center (paylink reverses none of them; their holds stay until they
 * expire). Said once per row: a FOUND_OK authorization is never asked again (decide_answered
 * applies it, or escalates or reverses it, and no pass queries a row so settled); only an
 * operator's `wreq retry`, or a step whose outcome could not be written (a failed database),
 * makes the query, and so the line, again. Nothing when there are no others.
 */
static void also_authorized_said(const row *w, const decision_ex *x)
{
    if (!x->also_n)
        return;
    char unread[48] = "";
    if (x->also_unreadable)
        snprintf(unread, sizeof unread, " (%zu unreadable: check them)", x->also_unreadable);
    PL_ERROR(w->rid,
             "required response %s: the bureau authorized request %s (order %s/%s, bureau %s, "
             "sent %s %s) %zu times: paylink keeps %s; the other%s%s, "
             "%s, hold%s the cardholder's funds: reverse %s in the Business Center (paylink "
             "does not; a hold left stays until it expires)",
             w->id, w->rid, w->company, w->order, w->bureau, w->amount[0] ? w->amount : "?",
             w->currency, x->also_n + 1, x->kept, x->also_n == 1 ? "" : "s", unread, x->also_detail,
             x->also_n == 1 ? "s" : "", x->also_n == 1 ? "it" : "them");
}

/* One step on a row this resolver holds the lease of. */
static int step(pl_resolver *r, PGconn *c, const char *id)
{
    row w;
    int rc = load(r, c, id, r->worker, &w);
    if (rc != 0)
        return rc;
    if (strcmp(w.status, "open") != 0 || strcmp(w.lease_owner, r->owner) != 0) {
        row_free(&w);
        return 0;
    }
    if (strcmp(w.tstatus, "unknown") != 0) {
        /*
         * Not the resolver's to settle by a query: the transaction row says something else.
         * Final, it has its outcome (an answer stored without the late-answer trigger): closed
         * as that trigger closes it (044), its reply published. Otherwise (received or sent:
         * the engine opens a required response only as it makes the row unknown, so only a
         * hand's edit leaves one so) it is looked at again, each look counted as a query, and
         * escalated at the last (max_queries): before, it was looked at every retry_after_s for
         * ever, never counted, never seen by an operator.
         */
        char why[200];
        if (w.reversal_rid[0] &&
            (strcmp(w.tstatus, "approved") == 0 || strcmp(w.tstatus, "review") == 0)) {
            /* What migration 049 keeps from happening (the timeout reversal releases what this
             * outcome says is held): never published as the final reply; an operator looks. */
            snprintf(why, sizeof why,
                     "the transaction is %s while its timeout reversal %s was asked for: not "
                     "published as the final reply",
                     w.tstatus, w.reversal_rid);
            rc = escalate(r, c, &w, false, why);
            row_free(&w);
            return rc;
        }
        if (final_status(w.tstatus)) {
            rc = close_late_answer(r, c, &w);
            row_free(&w);
            return rc < 0 ? rc : 0;
        }
        int looks = w.queries + 1;
        if (looks >= w.policy.max_queries) {
            snprintf(why, sizeof why,
                     "the transaction is still %s, not unknown, after %d looks: its row needs "
                     "an operator (wreq resolve refuses it)",
                     w.tstatus, looks);
            rc = escalate(r, c, &w, true, why);
        } else {
            snprintf(why, sizeof why, "the transaction is %s, not unknown (look %d of %d)",
                     w.tstatus, looks, w.policy.max_queries);
            rc = reschedule(c, &w, r->owner, true, pl_resolve_retry_delay_s(&w.policy, looks), why);
        }
        row_free(&w);
        return rc;
    }
    if (w.reversal_rid[0]) {
        rc = follow_reversal(r, c, &w);
        row_free(&w);
        return rc < 0 ? rc : 0;
    }
    bool can_ask = w.policy.ask_bureau && strcmp(w.protocol, "CYB") == 0 && w.has_dm;
    if (!can_ask) {
        char why[200];
        snprintf(why, sizeof why, "%s",
                 !w.policy.ask_bureau ? "the bureau cannot be asked what happened (policy)"
                                      : "no report user to ask the bureau with (dm_settings)");
        if (can_reverse(&w) && !whole_reversal_refused(&w)) {
            rc = safe_reverse(r, c, &w, false, why);
        } else if (w.partial_answer) {
            /* The operator's step for the part, whole (answered_todo). */
            char step_why[sizeof why];
            escalation_why(step_why, sizeof step_why, answered_todo(&w), NULL,
                           "%s; the answer: a partial approval (110) without its part", why);
            rc = escalate_as(r, c, &w, false, step_why, w.row_captured, NULL);
        } else {
            rc = escalate(r, c, &w, false, why);
        }
        row_free(&w);
        return rc;
    }
    pl_cyb_query_result *qres = calloc(1, sizeof *qres);
    if (!qres) {
        row_free(&w);
        return PL_ERR_NOMEM;
    }
    char why[256] = "";
    int qrc = query_cyb(r, c, &w, qres, why, sizeof why);
    count(qrc == 0 ? r->m_query_ok : r->m_query_failed);
    decision_ex x = decide_answered(&w.policy, w.op, w.rid, qrc, why, qres, w.queries + 1,
                                    w.sent_age_s, w.amount, answered_todo(&w));
    free(qres);
    also_authorized_said(&w, &x);
    /* What a reversal's call sent, read once, before the record is judged: the most it may
     * approve (a reversal goes for what the authorization holds, not what the request named,
     * which is what a redelivery that opened the row recorded), the amount a record without one
     * approves (map_answer) and what store_rest asks the rest of: a record of paylink's own
     * reversal approved for less asks for the rest, as paylink-reversal asks with that answer in
     * time and as an operator's outcome does. Before, a reversal's record was never compared
     * with what was sent (the request's amount could be below it): one approving more was
     * applied as it read. A read that fails leaves the row to its lease, as load's does. */
    bool reversal = strcmp(w.worker, "reversal") == 0;
    char most[24];
    copy(most, sizeof most, w.amount);
    if (x.d.kind != PL_RESOLVE_RETRY && x.d.kind != PL_RESOLVE_ESCALATE && x.from_answer &&
        reversal) {
        if ((rc = read_sent(c, &w)) != 0) {
            PL_WARN(w.rid, "resolver: what required response %s sent cannot be read: %s", w.id,
                    pl_err_str(rc));
            row_free(&w);
            return rc;
        }
        if (w.has_sent && pl_money_format(w.sent, most, sizeof most) != 0)
            copy(most, sizeof most, w.amount);
    }
    if (x.d.kind == PL_RESOLVE_RETRY) {
        PL_INFO(w.rid, "required response %s: %s; asking again in %d s", w.id, x.d.why,
                x.d.delay_s);
        rc = reschedule(c, &w, r->owner, true, x.d.delay_s, x.d.why);
    } else if (x.d.kind == PL_RESOLVE_ESCALATE) {
        rc = escalation_reverses(&w, &x)
                 ? safe_reverse(r, c, &w, true, x.d.why)
                 : escalate_as(r, c, &w, true, x.d.why, x.captured, x.record_rid);
    } else if (x.from_answer && x.res.has_amount && most[0] &&
               pl_resolver_approves_above(&x.res, most)) {
        /* The record approves more than the request sent (engine.c approves_more_than_sent, for
         * an answer in time), or a reversal's more than its call sent: not believed; an
         * operator decides. */
        char why[200];
        snprintf(why, sizeof why,
                 "the bureau's record approves more than the %s the %s sent: not applied", most,
                 reversal ? "call" : "request");
        rc = can_reverse(&w)
                 ? safe_reverse(r, c, &w, true, why)
                 : escalate_as(r, c, &w, true, why, false,
                               record_rid_usable(x.res.request_id) ? x.res.request_id : NULL);
    } else {
        pl_resolve_outcome o = x.d.outcome;
        char message[200] = "";
        w.queried = true;
        if (x.from_answer) {
            map_answer(r, c, &w, &x.res, &o, message, sizeof message);
            copy(w.auth_reason, sizeof w.auth_reason, x.res.service_reason_code);
            w.captured = x.res.capture_approved;
        } else
            copy(message, sizeof message, "No record at the payment service: nothing was charged.");
        char by[160];
        resolver_name(r, &w, by, sizeof by);
        rc = apply(r, c, &w, &o, "query", by, x.d.outcome.note, message);
        if (rc == 1) {
            count(r->m_by_query);
            PL_INFO(w.rid, "required response %s resolved by query: %s (%s)", w.id,
                    pl_status_name(o.status), x.d.outcome.note);
            /* the query counts */
            const char *p[] = {w.id, x.d.outcome.note};
            PQclear(exec(c,
                         "UPDATE required_response SET queries = queries + 1, "
                         "last_query_at = now(), last_query_result = left($2, 300) "
                         "WHERE id = $1::bigint",
                         2, p));
            publish_applied(r, c, &w);
            rc = 0;
        } else if (rc < 0) {
            rc = apply_failed(r, c, &w, true, &o);
        }
    }
    row_free(&w);
    return rc < 0 ? rc : 0;
}

int pl_resolver_pass(pl_resolver *r, int max_rows)
{
    PGconn *c = conn(r);
    if (!c)
        return PL_ERR_DB;
    publish_pending(r, c, max_rows);
    if (strcmp(r->worker, "deposit") == 0)
        publish_owed_reversals(r, c, max_rows);
    if (strcmp(r->worker, "reversal") == 0) {
        pl_resolver_reask_pass(r, max_rows);
        /* It takes the connection itself (conn), which finishes a broken one and connects
         * anew: c may be freed. Before, the statement below went to the freed connection after
         * a database restart (a use after free, caught by the chaos test's LeakSanitizer). */
        if (!(c = conn(r)))
            return PL_ERR_DB;
    }
    char lim[16];
    snprintf(lim, sizeof lim, "%d", max_rows > 0 ? max_rows : 1);
    const char *p[] = {r->worker, r->owner, lim};
    PGresult *res = exec(
        c,
        "WITH due AS (SELECT r.id, coalesce(p.lease_s, 120) AS lease_s FROM required_response r "
        "LEFT JOIN auth_service s ON s.service_bureau = r.service_bureau "
        "LEFT JOIN resolution_policy p ON p.protocol = s.protocol AND p.worker = r.worker "
        "WHERE r.status = 'open' AND r.worker = $1 AND NOT r.reply_pending "
        "AND (r.lease_until IS NULL OR r.lease_until < now()) "
        "AND coalesce(r.next_query_at, r.created_at + "
        "make_interval(secs => coalesce(p.first_query_after_s, 10))) <= now() "
        "ORDER BY r.created_at LIMIT $3::int FOR UPDATE OF r SKIP LOCKED) "
        "UPDATE required_response r SET lease_owner = $2, "
        "lease_until = now() + make_interval(secs => due.lease_s) FROM due WHERE r.id = due.id "
        "RETURNING r.id",
        3, p);
    if (!ok(res)) {
        PL_WARN(NULL, "resolver: taking due rows failed: %s", PQerrorMessage(c));
        PQclear(res);
        return PL_ERR_DB;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        int rc = step(r, c, PQgetvalue(res, i, 0));
        /* A row that failed keeps its lease until it expires (its backoff); a lost connection
         * ends the pass (the rest of the batch is taken again when their leases expire). */
        if (rc == PL_ERR_DB && PQstatus(c) != CONNECTION_OK)
            break;
    }
    PQclear(res);
    return n;
}

/* Takes the lease of one row for an operator's command: 0, PL_ERR_NOTFOUND, PL_ERR_STATE. */
static int take(pl_resolver *r, PGconn *c, const char *id, bool reopen, char *msg, size_t msgsz)
{
    const char *p[] = {id, r->owner, r->worker, reopen ? "t" : "f"};
    PGresult *res = exec(
        c,
        "UPDATE required_response SET lease_owner = $2, lease_until = now() + interval '120 "
        "seconds', status = CASE WHEN $4::boolean THEN 'open' ELSE status END, "
        "next_query_at = CASE WHEN $4::boolean THEN now() ELSE next_query_at END, "
        /* Reopened: a timeout reversal paylink-reversal never recorded (its publish refused)
         * is requested anew, so the step publishes it again rather than escalating it at once
         * for the hours it has waited (follow_reversal's REVERSAL_WAIT_MAX_S). */
        "reversal_requested_at = CASE WHEN $4::boolean AND reversal_request_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM auth_reversal v WHERE v.request_id = "
        "required_response.reversal_request_id) THEN now() ELSE reversal_requested_at END "
        "WHERE id = $1::bigint AND ($3 = '' OR worker = $3) AND status IN ('open', 'escalated') "
        "AND NOT reply_pending AND (lease_until IS NULL OR lease_until < now() OR lease_owner = "
        "$2) "
        "RETURNING worker",
        4, p);
    int rc = 0;
    if (!ok(res)) {
        snprintf(msg, msgsz, "database: %s", PQerrorMessage(c));
        rc = PL_ERR_DB;
    } else if (PQntuples(res) != 1) {
        PQclear(res);
        const char *q[] = {id};
        res = exec(c,
                   "SELECT status, coalesce(lease_owner, ''), "
                   "coalesce(ceil(extract(epoch FROM lease_until - now())), 0), worker, "
                   "reply_pending FROM required_response WHERE id = $1::bigint",
                   1, q);
        bool live = ok(res) && PQntuples(res) == 1 &&
                    strcmp(PQgetvalue(res, 0, 0), "resolved") != 0 &&
                    (!r->worker[0] || strcmp(PQgetvalue(res, 0, 3), r->worker) == 0);
        if (live && PQgetvalue(res, 0, 4)[0] == 't') {
            snprintf(msg, msgsz,
                     "required response %s is settled; its final reply is being published", id);
            rc = PL_ERR_STATE;
        } else if (live) {
            snprintf(msg, msgsz,
                     "required response %s is being worked on by %s right now (for up to %s s "
                     "more); try again then",
                     id, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
            rc = PL_ERR_STATE;
        } else {
            snprintf(msg, msgsz, "no open or escalated required response %s", id);
            rc = PL_ERR_NOTFOUND;
        }
    }
    PQclear(res);
    return rc;
}

static void release(PGconn *c, const char *id, const char *owner)
{
    const char *p[] = {id, owner};
    PQclear(exec(c,
                 "UPDATE required_response SET lease_owner = NULL, lease_until = NULL "
                 "WHERE id = $1::bigint AND lease_owner = $2 AND NOT reply_pending",
                 2, p));
}

/* The worker of row id (paylinkctl's resolver takes any worker: r->worker ""). */
static int worker_of(PGconn *c, const char *id, char *out, size_t n)
{
    const char *p[] = {id};
    PGresult *res = exec(c, "SELECT worker FROM required_response WHERE id = $1::bigint", 1, p);
    int rc = ok(res) && PQntuples(res) == 1 ? 0 : PL_ERR_NOTFOUND;
    if (rc == 0)
        copy(out, n, PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int pl_resolver_retry(pl_resolver *r, int64_t id, bool do_step, char *msg, size_t msgsz)
{
    PGconn *c = conn(r);
    if (!c) {
        snprintf(msg, msgsz, "the database cannot be reached");
        return PL_ERR_DB;
    }
    char sid[24], worker[12];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    int rc = take(r, c, sid, true, msg, msgsz);
    if (rc != 0)
        return rc;
    if (!do_step) {
        release(c, sid, r->owner);
        snprintf(msg, msgsz, "required response %s is open again and due now", sid);
        return 0;
    }
    if ((rc = worker_of(c, sid, worker, sizeof worker)) != 0) {
        release(c, sid, r->owner);
        return rc;
    }
    char *saved = r->worker;
    r->worker = worker;
    rc = step(r, c, sid);
    r->worker = saved;
    release(c, sid, r->owner);
    const char *p[] = {sid};
    PGresult *res = exec(c,
                         "SELECT status, coalesce(resolution, ''), last_query_result "
                         "FROM required_response WHERE id = $1::bigint",
                         1, p);
    if (ok(res) && PQntuples(res) == 1)
        snprintf(msg, msgsz, "required response %s: %s%s%s%s%s", sid, PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1)[0] ? " " : "", PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2)[0] ? " — " : "", PQgetvalue(res, 0, 2));
    PQclear(res);
    return rc;
}

/* True when the stored value transaction rid is an authorization (not a balance inquiry). */
/* True when the stored value request rid is of the type given (its svc_trans row says so). */
static bool svc_is(PGconn *c, const char *rid, const char *type)
{
    const char *p[] = {rid, type};
    PGresult *res =
        exec(c, "SELECT 1 FROM svc_trans WHERE request_id = $1 AND request_type = $2", 2, p);
    bool is = ok(res) && PQntuples(res) == 1;
    PQclear(res);
    return is;
}

static bool svc_is_auth(PGconn *c, const char *rid)
{
    return svc_is(c, rid, "auth");
}

/*
 * What the call of a required response sent ($1: its id), the one rule of pl_resolver_amount_sent
 * (resolver.h): the row's amount, but for a reversal what paylink-reversal sent whatever the
 * request named, which the row holds only when the worker that sent the call opened it (a
 * redelivery that found the row sent records the request's):
 *   - its claim on the authorization (claim_amount): all of a paylink authorization with an
 *     amount authorized (rev_prepare, rev_mark_sent; not the 0.01 marker of a reject's), or
 *     what was left of a stored value authorization (a void's claim has no history row);
 *   - of a refused authorization (claimed by its marker, no amount authorized) after a partial
 *     approval: what the issuer holds of it (auth_history.amount_issuer_held, 061, as
 *     rev_prepare sends it);
 *   - a CyberSource timeout reversal (marked sent naming no history row and claiming nothing:
 *     only an authorization without an answer, or settled `error`, is reversed so — a `.tor`,
 *     or the order system's reversal of an unknown authorization): what the authorization was
 *     sent for (its cc_auth_trans amount, as rev_prepare sends it; else the request's).
 */
static const char *const AMOUNT_SENT_SQL =
    "SELECT coalesce((SELECT CASE WHEN r.claim_amount IS NOT NULL "
    "AND (h.amount_authorized IS NOT NULL "
    "OR (r.auth_history_id IS NULL AND r.operation = 'svc_void')) THEN r.claim_amount "
    "WHEN r.claim_amount IS NOT NULL AND h.amount_authorized IS NULL "
    "AND h.amount_issuer_held IS NOT NULL THEN h.amount_issuer_held "
    "WHEN r.claim_amount IS NULL AND r.auth_history_id IS NULL AND r.operation = 'reversal' "
    "AND r.sent_at IS NOT NULL THEN t.amount END "
    "FROM auth_reversal r LEFT JOIN auth_history h ON h.id = r.auth_history_id "
    "LEFT JOIN cc_auth_trans t ON t.request_id = r.auth_request_id "
    "WHERE q.worker = 'reversal' AND r.request_id = q.request_id), q.amount)::text "
    "FROM required_response q WHERE q.id = $1::bigint";

int pl_resolver_amount_sent(PGconn *c, int64_t id, char *out, size_t outsize)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    copy(out, outsize, "");
    const char *p[] = {sid};
    PGresult *res = exec(c, AMOUNT_SENT_SQL, 1, p);
    int rc = !ok(res) ? PL_ERR_DB : PQntuples(res) != 1 ? PL_ERR_NOTFOUND : 0;
    if (rc == 0)
        copy(out, outsize, PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* True when required response sid was opened by another attempt than the one that sent the
 * call (a redelivery that found the row sent): its amount is the request's, not the call's. */
static bool opened_by_redelivery(PGconn *c, const char *sid)
{
    const char *p[] = {sid};
    PGresult *res = exec(c,
                         "SELECT 1 FROM required_response WHERE id = $1::bigint "
                         "AND reason = 'sent_not_answered'",
                         1, p);
    bool is = ok(res) && PQntuples(res) == 1;
    PQclear(res);
    return is;
}

/* An operator's resolution refused: the lease given back, the reason in msg, the row freed. */
static int refuse(pl_resolver *r, PGconn *c, const char *sid, row *w, int rc, char *msg,
                  size_t msgsz, const char *fmt, ...) PL_PRINTF(8, 9);
static int refuse(pl_resolver *r, PGconn *c, const char *sid, row *w, int rc, char *msg,
                  size_t msgsz, const char *fmt, ...)
{
    release(c, sid, r->owner);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
    row_free(w);
    return rc;
}

int pl_resolver_operator(pl_resolver *r, int64_t id, const pl_resolve_outcome *o, const char *by,
                         const char *note, char *msg, size_t msgsz)
{
    if (!o || !by || !*by ||
        (o->status != PL_ST_APPROVED && o->status != PL_ST_DECLINED && o->status != PL_ST_ERROR &&
         o->status != PL_ST_REVIEW && o->status != PL_ST_REJECTED)) {
        snprintf(msg, msgsz,
                 "an outcome (approved, declined, error, review or rejected) and who decided it");
        return PL_ERR_INVALID;
    }
    bool dm = o->status == PL_ST_REVIEW || o->status == PL_ST_REJECTED;
    PGconn *c = conn(r);
    if (!c) {
        snprintf(msg, msgsz, "the database cannot be reached");
        return PL_ERR_DB;
    }
    char sid[24], worker[12];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    int rc = take(r, c, sid, false, msg, msgsz);
    if (rc != 0)
        return rc;
    if ((rc = worker_of(c, sid, worker, sizeof worker)) != 0) {
        release(c, sid, r->owner);
        return rc;
    }
    row w;
    if ((rc = load(r, c, sid, worker, &w)) != 0) {
        release(c, sid, r->owner);
        snprintf(msg, msgsz, "required response %s cannot be read", sid);
        return rc;
    }
    if (strcmp(w.tstatus, "unknown") != 0) {
        return refuse(r, c, sid, &w, PL_ERR_STATE, msg, msgsz,
                      "the transaction %s is %s, not unknown: nothing to resolve", w.rid,
                      w.tstatus);
    }
    /* Review and rejected are Decision Manager's, of a CyberSource authorization: what the
     * operator read in its case management (a review's hold, or a reject the issuer had
     * approved, whose reversal is published with the reply when the bureau sends reversals:
     * it needs the authorization's transaction id). */
    if (dm && (strcmp(w.worker, "auth") != 0 || strcmp(w.protocol, "CYB") != 0 ||
               !o->transaction_id[0])) {
        return refuse(
            r, c, sid, &w, PL_ERR_INVALID, msg, msgsz, "%s",
            strcmp(w.worker, "auth") != 0 || strcmp(w.protocol, "CYB") != 0
                ? "review and rejected are Decision Manager outcomes of a CyberSource "
                  "authorization"
                : "a review or a reject needs the authorization's transaction id (a capture "
                  "and Decision Manager's decision name it; a reject's reversal too)");
    }
    /* A timeout reversal asked for this authorization releases it at the bureau, whatever the
     * operator learnt before: approving it (or holding it for review) while the reversal is in
     * flight, or after it was approved (or found it reversed already, 237, or no such
     * authorization, 242), would report an authorization that is gone or never was. Only once
     * it was refused otherwise, or failed, may the operator approve it. A reject is recorded
     * either way; its own reversal goes only when that one did not release it. */
    bool settled_otherwise = false;
    char rs[16] = "", rv[16] = "";
    if (w.reversal_rid[0]) {
        if (reversal_state(c, w.reversal_rid, rs, rv) != 0) {
            return refuse(r, c, sid, &w, PL_ERR_DB, msg, msgsz,
                          "the timeout reversal %s of %s cannot be read", w.reversal_rid, w.rid);
        }
        settled_otherwise =
            (strcmp(rs, "declined") == 0 && strcmp(rv, "237") != 0 && strcmp(rv, "242") != 0) ||
            strcmp(rs, "error") == 0;
        w.released = !settled_otherwise;
        /* Never recorded by paylink-reversal: its publish may have failed (the row escalated so),
         * or paylink-reversal has not taken it up yet. Resolved, the row is no longer followed:
         * the reversal goes again with the final reply (the same request_id, a duplicate is
         * replayed). Read again under the required response's lock (apply_as): one recorded
         * meanwhile is in flight, and refused as below. */
        w.reversal_unrecorded = !rs[0];
    }
    if ((o->status == PL_ST_APPROVED || o->status == PL_ST_REVIEW) && w.reversal_rid[0]) {
        if (!settled_otherwise) {
            return refuse(
                r, c, sid, &w, PL_ERR_STATE, msg, msgsz,
                "the timeout reversal %s of %s is in flight or has released it: it cannot be "
                "approved (resolve it as error once that reversal has an outcome, or approve "
                "it after that reversal failed)",
                w.reversal_rid, w.rid);
        }
    }
    /* A timeout reversal in flight (its row not final) is followed by the resolver, which tells
     * an operator when it fails: resolved now, nobody would, and the funds could stay held. */
    if (reversal_in_flight(rs)) {
        return refuse(
            r, c, sid, &w, PL_ERR_STATE, msg, msgsz,
            "the timeout reversal %s of %s is in flight (%s): resolve it once that reversal "
            "has an outcome",
            w.reversal_rid, w.rid, rs);
    }
    /* A J19 authorization whose only call was the balance inquiry (its preauthorization never
     * sent: the row says svc_inquiry) holds nothing: approved, the order would count on a hold
     * no deposit can draw on (it has no SVATransactionID). */
    if (o->status == PL_ST_APPROVED && strcmp(w.worker, "svc") == 0 &&
        strcmp(w.op, pl_bureau_op_name(PL_OP_SVC_INQUIRY)) == 0 && svc_is_auth(c, w.rid)) {
        return refuse(r, c, sid, &w, PL_ERR_STATE, msg, msgsz,
                      "%s sent only its balance inquiry: nothing is held, it cannot be approved "
                      "(resolve it as error)",
                      w.rid);
    }
    /* A generated card's number comes only in the bureau's answer, which paylink never had:
     * approved, the order system would be told of a card it cannot deliver, and paylink would
     * hold no row of it (its activation unchecked). Nothing is charged by a generation. */
    if (o->status == PL_ST_APPROVED && strcmp(w.worker, "svc") == 0 &&
        svc_is(c, w.rid, "generate")) {
        return refuse(r, c, sid, &w, PL_ERR_STATE, msg, msgsz,
                      "%s generates a card, whose number paylink cannot take from an operator: it "
                      "cannot be approved (resolve it as error; the order system generates anew)",
                      w.rid);
    }
    pl_resolve_outcome out = *o;
    /* An amount is the request's (as sent) at most: one above it, or for a request that sent
     * none, would tell the upstream system of money nobody asked for (paylinkctl checks it too;
     * this is the rule for every caller). A review holds its amount as an approval does. */
    bool holds = out.status == PL_ST_APPROVED || out.status == PL_ST_REVIEW;
    int64_t sent = 0;
    char sent_text[32];
    /* What the call sent, as paylinkctl reads it too (pl_resolver_amount_sent): a reversal's is
     * what it claimed on the authorization, or a timeout reversal's what the authorization was
     * sent for, whatever the request named. The required response holds the request's amount
     * when a redelivery opened it (sent_not_answered): an approval for that would book a whole
     * reversal as a partial one (migration 058), leaving the rest capturable on an
     * authorization the bureau released, and would tell the order system of less reversed than
     * was. */
    if (pl_resolver_amount_sent(c, id, sent_text, sizeof sent_text) != 0) {
        return refuse(r, c, sid, &w, PL_ERR_DB, msg, msgsz,
                      "what required response %s sent cannot be read", sid);
    }
    bool has_sent = sent_text[0] && pl_money_parse_decimal(sent_text, &sent) == 0;
    w.has_sent = has_sent;
    w.sent = sent;
    if (holds && out.has_amount && (!has_sent || out.amount > sent)) {
        return refuse(r, c, sid, &w, PL_ERR_INVALID, msg, msgsz,
                      "the amount approved is above the %s the request sent",
                      has_sent ? sent_text : "nothing");
    }
    /* A J19 authorization's PreauthorizationRequest goes for the card's balance, which may be
     * less than the request. The required response holds what the call sent when the worker
     * that sent it opened it; opened by another attempt (a redelivery that found the row sent,
     * its owner gone: reason sent_not_answered), it holds the request's amount, and an approval
     * or review without --amount would hold more than the bureau may have. */
    if (holds && !out.has_amount && strcmp(w.worker, "svc") == 0 &&
        strcmp(w.op, pl_bureau_op_name(PL_OP_SVC_PREAUTH)) == 0 && opened_by_redelivery(c, sid)) {
        return refuse(r, c, sid, &w, PL_ERR_INVALID, msg, msgsz,
                      "the amount the PreauthorizationRequest sent is not recorded (the required "
                      "response was opened by a redelivery; a J19 authorization sends the card's "
                      "balance): give the amount the bureau approved");
    }
    /* An approved authorization is what a capture, a deposit, a reversal or a void names later,
     * by the bureau's transaction id: approved without one, the order is told of a hold nothing
     * can capture or release through paylink (the bureau's own approval without one is not
     * believed either). A token alone, or anything but an authorization, needs none. */
    if (out.status == PL_ST_APPROVED && !out.transaction_id[0] &&
        ((strcmp(w.worker, "auth") == 0 &&
          (!w.op[0] || strcmp(w.op, pl_bureau_op_name(PL_OP_AUTH)) == 0 ||
           strcmp(w.op, pl_bureau_op_name(PL_OP_TOKEN_AUTH)) == 0)) ||
         (strcmp(w.worker, "svc") == 0 && svc_is_auth(c, w.rid)))) {
        return refuse(
            r, c, sid, &w, PL_ERR_INVALID, msg, msgsz,
            "an approved authorization needs the bureau's transaction id of it (a deposit, "
            "a reversal or a void names it)");
    }
    /* A CyberSource soft decline an operator gives (the issuer holds the amount) is reversed,
     * by the authorization's transaction id: without one, nothing could release it. */
    if (out.status == PL_ST_DECLINED && !out.transaction_id[0] && strcmp(w.protocol, "CYB") == 0 &&
        pl_cybersource_soft_decline(out.vendor_response) &&
        (strcmp(w.worker, "auth") == 0 || strcmp(w.worker, "deposit") == 0)) {
        return refuse(r, c, sid, &w, PL_ERR_INVALID, msg, msgsz,
                      "a soft decline (%s: the issuer holds the amount) needs the authorization's "
                      "transaction id (its reversal names it)",
                      out.vendor_response);
    }
    /* So is an approved debit (a capture, an auth+capture): a follow-on credit of it names it
     * (captureRequestID), and without one every refund of it would be refused by the bureau. */
    if (out.status == PL_ST_APPROVED && !out.transaction_id[0] &&
        strcmp(w.worker, "deposit") == 0 &&
        (strcmp(w.op, pl_bureau_op_name(PL_OP_CAPTURE)) == 0 ||
         strcmp(w.op, pl_bureau_op_name(PL_OP_AUTH_CAPTURE)) == 0)) {
        return refuse(r, c, sid, &w, PL_ERR_INVALID, msg, msgsz,
                      "an approved capture needs the bureau's transaction id of it (a follow-on "
                      "credit names it)");
    }
    if (holds && !out.has_amount && has_sent) {
        out.amount = sent;
        out.has_amount = true;
    }
    if (!holds)
        out.has_amount = false;
    char message[256] = "";
    if (dm) {
        /* As Decision Manager's answer would have been mapped in time (480 / 481: the vendor
         * response table's hold, the reply's message, the reject's reversal). */
        pl_bureau_result res;
        memset(&res, 0, sizeof res);
        copy(res.decision, sizeof res.decision, out.status == PL_ST_REVIEW ? "REVIEW" : "REJECT");
        copy(res.reason_code, sizeof res.reason_code, out.status == PL_ST_REVIEW ? "480" : "481");
        /* A reject's amount, when given, is what the issuer holds (its reversal's). */
        res.has_amount = out.has_amount || out.amount > 0;
        res.amount = out.amount;
        copy(res.auth_code, sizeof res.auth_code, out.auth_number);
        copy(res.request_id, sizeof res.request_id, out.transaction_id);
        pl_resolve_outcome mapped = {0};
        map_answer(r, c, &w, &res, &mapped, message, sizeof message);
        if (mapped.status != out.status) {
            return refuse(r, c, sid, &w, PL_ERR_STATE, msg, msgsz,
                          "the outcome %s could not be mapped (service bureau %s)",
                          pl_status_name(out.status), w.bureau);
        }
        out = mapped;
    }
    if (!out.decision[0])
        copy(out.decision, sizeof out.decision,
             out.status == PL_ST_APPROVED   ? "ACCEPT"
             : out.status == PL_ST_DECLINED ? "REJECT"
                                            : "ERROR");
    char full_note[800]; /* cut to 300 characters by the database (left), never mid-character */
    snprintf(full_note, sizeof full_note, "operator %s: %s", by,
             note && *note ? note : "outcome confirmed with the bureau");
    rc = apply(r, c, &w, &out, "operator", by, full_note, message);
    if (rc == 1) {
        count(r->m_by_operator);
        const char *p[] = {sid};
        publish_applied(r, c, &w);
        PGresult *pend = exec(c,
                              "SELECT reply_pending, NOT " REPLIED_SQL
                              " FROM required_response WHERE id = $1::bigint",
                              1, p);
        bool got = ok(pend) && PQntuples(pend) == 1;
        bool pending = got && PQgetvalue(pend, 0, 0)[0] == 't';
        bool waits = pending && PQgetvalue(pend, 0, 1)[0] == 't';
        PQclear(pend);
        snprintf(msg, msgsz, "required response %s (%s %s) resolved %s by %s%s", sid, w.worker,
                 w.rid, pl_status_name(out.status), by,
                 waits     ? "; the final reply is published by the worker's resolver once the "
                             "worker's timeout reply is on Kafka"
                 : pending ? "; the final reply could not be published now: the worker's "
                             "resolver publishes it"
                           : "; final reply published");
        rc = 0;
    } else if (rc == 0 && w.reversal_now[0]) {
        release(c, sid, r->owner);
        /* Recorded meanwhile, it may have its outcome already (answered between the two
         * reads): then the operator resolves it again now, against that outcome. */
        if (reversal_in_flight(w.reversal_now))
            snprintf(msg, msgsz,
                     "the timeout reversal %s of %s was taken up by paylink-reversal meanwhile "
                     "(%s): resolve it once that reversal has an outcome",
                     w.reversal_rid, w.rid, w.reversal_now);
        else
            snprintf(msg, msgsz,
                     "the timeout reversal %s of %s was taken up by paylink-reversal meanwhile and "
                     "has an outcome now (%s): resolve it again",
                     w.reversal_rid, w.rid, w.reversal_now);
        rc = PL_ERR_STATE;
    } else if (rc == 0) {
        release(c, sid, r->owner);
        snprintf(msg, msgsz, "required response %s was settled by another actor meanwhile", sid);
        rc = PL_ERR_STATE;
    } else {
        release(c, sid, r->owner);
        snprintf(msg, msgsz, "required response %s could not be resolved (database)", sid);
    }
    row_free(&w);
    return rc;
}
