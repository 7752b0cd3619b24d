/*
 * cyb_query.c: the On-Demand Single Transaction Query: its form and Basic header, reading the
 * Transaction Detail Report it answers (read by xmlutil.h's pl_xml_read_report, as dm_report.c
 * reads its report: a DOCTYPE accepted but never loaded, entities refused), and the verdict of
 * a record for one paylink operation. The manual is cyb_query.h.
 */
#include "cyb_query.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "card.h"
#include "money.h"
#include "xmlutil.h"

#define AUTH_PREFIX "Authorization: Basic "

/* How free text of the report (RMsg) is copied: the Luhn scrubber is enough. */
static const pl_xml_profile TDR_TEXT = {
    .max_len = PL_CYB_QUERY_MAX_BODY,
    .doc_name = "a Transaction Detail Report",
    .declaration = false,
    .mask_more = NULL,
};

static bool has(const char *s)
{
    return s && *s;
}

/* ---------------------------------------------------------------------------------------- */
/* The form */

/* A growing string; on failure it is freed and s is NULL. */
typedef struct form_buf {
    char *s;
    size_t len, cap;
} form_buf;

static void form_add(form_buf *b, const char *text, size_t n)
{
    if (!b->s)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            free(b->s);
            b->s = NULL;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Appends "&name=" (no '&' first) and value percent-encoded. */
static void form_field(form_buf *b, const char *name, const char *value)
{
    if (b->len > 0)
        form_add(b, "&", 1);
    form_add(b, name, strlen(name));
    form_add(b, "=", 1);
    if (!b->s)
        return;
    /* The handle argument is ignored since libcurl 7.82. */
    char *esc = curl_easy_escape(NULL, value, (int)strlen(value));
    if (!esc) {
        free(b->s);
        b->s = NULL;
        return;
    }
    form_add(b, esc, strlen(esc));
    curl_free(esc);
}

/* "yyyyMMdd" of the UTC day of t; false for a year without four digits. */
static bool format_day(int64_t t, char out[9])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year < 1000 - 1900 ||
        tm.tm_year > 9999 - 1900)
        return false;
    return strftime(out, 9, "%Y%m%d", &tm) == 8;
}

char *pl_cyb_query_form(const pl_cyb_query *q)
{
    if (!q || !has(q->merchant_id) || (!has(q->request_id) && !has(q->merchant_reference)))
        return NULL;
    char day[9] = "";
    if (!has(q->request_id) && !format_day(q->target_day, day))
        return NULL;
    form_buf b = {.s = malloc(128), .len = 0, .cap = 128};
    if (!b.s)
        return NULL;
    b.s[0] = '\0';
    form_field(&b, "merchantID", q->merchant_id);
    form_field(&b, "type", "transaction");
    form_field(&b, "subtype", "transactionDetail");
    form_field(&b, "versionNumber", PL_CYB_QUERY_VERSION);
    if (has(q->request_id)) {
        form_field(&b, "requestID", q->request_id);
    } else {
        form_field(&b, "merchantReferenceNumber", q->merchant_reference);
        form_field(&b, "targetDate", day);
    }
    return b.s;
}

/* ---------------------------------------------------------------------------------------- */
/* The Basic header */

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int pl_cyb_query_auth_header(const char *user, const char *password, char *out, size_t outsize)
{
    if (out && outsize > 0)
        out[0] = '\0';
    if (!has(user) || !has(password))
        return PL_ERR_INVALID;
    /* RFC 7617: the user-id of Basic authentication cannot contain a colon. */
    if (strchr(user, ':') || has_control(user) || has_control(password))
        return PL_ERR_INVALID;
    size_t ulen = strlen(user), plen = strlen(password);
    if (ulen > INT_MAX / 2 || plen > INT_MAX / 2)
        return PL_ERR_TOOBIG;
    size_t in_len = ulen + 1 + plen;
    size_t prefix_len = sizeof AUTH_PREFIX - 1;
    /* Base64 turns every 3 bytes (or part of them) into 4 characters, plus the NUL. */
    size_t need = prefix_len + (in_len + 2) / 3 * 4 + 1;
    if (!out || outsize < need) {
        if (out)
            pl_card_wipe(out, outsize);
        return PL_ERR_TOOBIG;
    }
    unsigned char *in = malloc(in_len);
    if (!in)
        return PL_ERR_NOMEM;
    memcpy(in, user, ulen);
    in[ulen] = ':';
    memcpy(in + ulen + 1, password, plen);
    memcpy(out, AUTH_PREFIX, prefix_len);
    int n = EVP_EncodeBlock((unsigned char *)out + prefix_len, in, (int)in_len);
    pl_card_wipe(in, in_len);
    free(in);
    if (n <= 0) {
        pl_card_wipe(out, outsize);
        return PL_ERR_INVALID;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Fields */

/* libxml2's copy s (may be NULL) into out exactly (trimmed), then s wiped and freed. */
static int take_exact(xmlChar *s, char *out, size_t outsize, const char *what, char *errstr,
                      size_t errsz)
{
    int rc = pl_xml_copy_exact(s ? (const char *)s : "", out, outsize);
    pl_xml_free_content(s);
    if (rc != 0)
        return pl_err_set(PL_ERR_PARSE, errstr, errsz,
                          "%s is longer than its field (%zu characters)", what, outsize - 1);
    return 0;
}

/* The attribute local_name (pl_xml_only_attr) of el into out exactly; "" when el has none. */
static int read_attr(xmlNodePtr el, const char *local_name, char *out, size_t outsize,
                     const char *where, char *errstr, size_t errsz)
{
    char what[96];
    snprintf(what, sizeof what, "%s: %s", where, local_name);
    out[0] = '\0';
    xmlAttrPtr found;
    int rc = pl_xml_only_attr(el, local_name, &found, what, errstr, errsz);
    if (rc != 0 || !found)
        return rc;
    return take_exact(xmlNodeGetContent((xmlNodePtr)found), out, outsize, what, errstr, errsz);
}

/*
 * The one child element of parent named local_name into *out (NULL when there is none);
 * PL_ERR_PARSE when there are two: which one CyberSource meant is not ours to guess.
 */
static int only_child(xmlNodePtr parent, const char *local_name, xmlNodePtr *out, const char *where,
                      char *errstr, size_t errsz)
{
    *out = NULL;
    for (xmlNodePtr e = pl_xml_first_element(parent->children); e;
         e = pl_xml_first_element(e->next)) {
        if (!pl_xml_is(e, local_name))
            continue;
        if (*out)
            return pl_err_set(PL_ERR_PARSE, errstr, errsz, "%s: %s appears twice", where,
                              local_name);
        *out = e;
    }
    return 0;
}

/* The text of the one child local_name of parent into out exactly; "" when absent. */
static int child_exact(xmlNodePtr parent, const char *local_name, char *out, size_t outsize,
                       const char *where, char *errstr, size_t errsz)
{
    out[0] = '\0';
    xmlNodePtr e;
    int rc = only_child(parent, local_name, &e, where, errstr, errsz);
    if (rc != 0 || !e)
        return rc;
    char what[96];
    snprintf(what, sizeof what, "%s: %s", where, local_name);
    return take_exact(xmlNodeGetContent(e), out, outsize, what, errstr, errsz);
}

/* ---------------------------------------------------------------------------------------- */
/* Operations and their applications */

typedef struct op_apps {
    const char *op;
    const char *apps[2]; /* the ICS applications the operation runs; NULL-padded */
    /* Applied twice it takes (or refunds) the money twice: several records of it applied are
     * PL_CYB_FOUND_SEVERAL, never one of them. */
    bool once;
} op_apps;

/* bureau-wire-formats.md §4 (ICS application ↔ Simple Order service), bureau.h's ops. */
static const op_apps OPS[] = {
    {"auth", {"ics_auth", NULL}, false},
    {"capture", {"ics_bill", NULL}, true},
    {"credit", {"ics_credit", NULL}, true},
    {"reversal", {"ics_auth_reversal", NULL}, false},
    {"auth_capture", {"ics_auth", "ics_bill"}, true},
    {"token", {"ics_pay_subscription_create", NULL}, false},
    {"token_auth", {"ics_pay_subscription_create", "ics_auth"}, false},
};
#define NOPS (sizeof OPS / sizeof OPS[0])

/* True when name is an application of some operation of OPS. */
static bool known_app(const char *name)
{
    for (size_t i = 0; i < NOPS; i++)
        for (size_t j = 0; j < 2 && OPS[i].apps[j]; j++)
            if (strcmp(OPS[i].apps[j], name) == 0)
                return true;
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Application replies */

/* Reads the Name of an ApplicationReply into name (name[32]); false when it does not fit. */
static bool reply_name(xmlNodePtr el, char name[32])
{
    name[0] = '\0';
    for (xmlAttrPtr a = el->properties; a; a = a->next) {
        if (a->type != XML_ATTRIBUTE_NODE || strcmp((const char *)a->name, "Name") != 0)
            continue;
        xmlChar *s = xmlNodeGetContent((xmlNodePtr)a);
        int rc = pl_xml_copy_exact(s ? (const char *)s : "", name, 32);
        xmlFree(s);
        return rc == 0;
    }
    return true;
}

/* "1", "0", "-1" (trimmed) into *v; false for anything but an integer of an int. */
static bool parse_rcode(const char *s, int *v)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || n < INT_MIN || n > INT_MAX)
        return false;
    *v = (int)n;
    return true;
}

/* Reads one ApplicationReply el (its Name already in a->name) into a. */
static int read_reply(xmlNodePtr el, pl_cyb_app_reply *a, const char *where, char *errstr,
                      size_t errsz)
{
    char w[96];
    snprintf(w, sizeof w, "%s: %s", where, a->name[0] ? a->name : "ApplicationReply");
    char rcode[16];
    int rc;
    if ((rc = child_exact(el, "RCode", rcode, sizeof rcode, w, errstr, errsz)) != 0 ||
        (rc = child_exact(el, "RFlag", a->rflag, sizeof a->rflag, w, errstr, errsz)) != 0 ||
        (rc = child_exact(el, "ReasonCode", a->reason_code, sizeof a->reason_code, w, errstr,
                          errsz)) != 0)
        return rc;
    if (rcode[0]) {
        if (!parse_rcode(rcode, &a->rcode))
            return pl_err_set(PL_ERR_PARSE, errstr, errsz, "%s: RCode is not a number", w);
        a->has_rcode = true;
    }
    xmlNodePtr msg;
    if ((rc = only_child(el, "RMsg", &msg, w, errstr, errsz)) != 0)
        return rc;
    if (msg)
        pl_xml_text_free(msg, a->rmsg, sizeof a->rmsg, &TDR_TEXT);
    return 0;
}

/*
 * The ApplicationReply elements of replies into r->apps: all of them when they fit, else every
 * one of a known application and the others in the room left, in document order.
 */
static int read_replies(xmlNodePtr replies, pl_cyb_query_record *r, const char *where, char *errstr,
                        size_t errsz)
{
    size_t total = 0, known = 0;
    char name[32];
    for (xmlNodePtr e = pl_xml_first_element(replies->children); e;
         e = pl_xml_first_element(e->next)) {
        if (!pl_xml_is(e, "ApplicationReply") || !reply_name(e, name))
            continue;
        total++;
        if (known_app(name))
            known++;
    }
    if (known > PL_CYB_QUERY_MAX_APPS)
        return pl_err_set(PL_ERR_PARSE, errstr, errsz,
                          "%s has %zu replies of paylink's operations, more than %d", where, known,
                          PL_CYB_QUERY_MAX_APPS);
    /* Replies CyberSource adds (ics_score, ics_decision, ...) never crowd out one we judge. */
    size_t others_room = total <= PL_CYB_QUERY_MAX_APPS ? total : PL_CYB_QUERY_MAX_APPS - known;
    size_t others = 0;
    for (xmlNodePtr e = pl_xml_first_element(replies->children); e;
         e = pl_xml_first_element(e->next)) {
        if (!pl_xml_is(e, "ApplicationReply") || !reply_name(e, name))
            continue;
        if (!known_app(name)) {
            if (others >= others_room)
                continue;
            others++;
        }
        pl_cyb_app_reply *a = &r->apps[r->napps++];
        memcpy(a->name, name, strlen(name) + 1);
        int rc = read_reply(e, a, where, errstr, errsz);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Records */

/* The PaymentData of a Request into r. */
static int read_payment_data(xmlNodePtr pd, pl_cyb_query_record *r, const char *where, char *errstr,
                             size_t errsz)
{
    char w[64];
    snprintf(w, sizeof w, "%s: PaymentData", where);
    /* Zeroed whole: two of them are copied into r by their full size. */
    char amount[32] = "", currency[8] = "", avs_raw[sizeof r->avs] = "";
    char avs_mapped[sizeof r->avs] = "", payment_request_id[sizeof r->request_id] = "";
    int rc;
    if ((rc = child_exact(pd, "Amount", amount, sizeof amount, w, errstr, errsz)) != 0 ||
        (rc = child_exact(pd, "CurrencyCode", currency, sizeof currency, w, errstr, errsz)) != 0 ||
        (rc = child_exact(pd, "AuthorizationCode", r->auth_code, sizeof r->auth_code, w, errstr,
                          errsz)) != 0 ||
        (rc = child_exact(pd, "AVSResult", avs_raw, sizeof avs_raw, w, errstr, errsz)) != 0 ||
        (rc = child_exact(pd, "AVSResultMapped", avs_mapped, sizeof avs_mapped, w, errstr,
                          errsz)) != 0 ||
        (rc = child_exact(pd, "CVResult", r->cvv, sizeof r->cvv, w, errstr, errsz)) != 0 ||
        (rc = child_exact(pd, "PaymentRequestID", payment_request_id, sizeof payment_request_id, w,
                          errstr, errsz)) != 0)
        return rc;
    if (amount[0]) {
        /* (A negative amount would be recorded as approved when the resolver applies it.) */
        if (pl_money_parse_decimal(amount, &r->amount) != 0 || r->amount < 0)
            return pl_err_set(PL_ERR_PARSE, errstr, errsz, "%s: Amount is not an amount", w);
        r->has_amount = true;
    }
    if (currency[0]) {
        if (strlen(currency) != 3)
            return pl_err_set(PL_ERR_PARSE, errstr, errsz,
                              "%s: CurrencyCode is not a three-letter code", w);
        for (size_t i = 0; i < 3; i++) {
            if (!isalpha((unsigned char)currency[i]) || (unsigned char)currency[i] > 0x7f)
                return pl_err_set(PL_ERR_PARSE, errstr, errsz,
                                  "%s: CurrencyCode is not a three-letter code", w);
            /* The killbill sample has "eur". */
            r->currency[i] = (char)toupper((unsigned char)currency[i]);
        }
        r->currency[3] = '\0';
    }
    /*
     * AVSResultMapped is CyberSource's own code, the one a live reply carries in
     * ccAuthReply_avsCode and the vendor response table knows; AVSResult is the processor's
     * raw code (ccAuthReply_avsCodeRaw), kept only when the mapped one is missing.
     */
    memcpy(r->avs, avs_mapped[0] ? avs_mapped : avs_raw, sizeof r->avs);
    if (!r->request_id[0])
        memcpy(r->request_id, payment_request_id, sizeof r->request_id);
    return 0;
}

/* Reads the index-th Request (1-based, for errstr) el into r (zeroed). */
static int read_record(xmlNodePtr el, size_t index, pl_cyb_query_record *r, char *errstr,
                       size_t errsz)
{
    char where[32];
    snprintf(where, sizeof where, "Request %zu", index);
    int rc;
    if ((rc = read_attr(el, "MerchantReferenceNumber", r->merchant_reference,
                        sizeof r->merchant_reference, where, errstr, errsz)) != 0 ||
        (rc = read_attr(el, "RequestID", r->request_id, sizeof r->request_id, where, errstr,
                        errsz)) != 0 ||
        (rc = read_attr(el, "RequestDate", r->request_date, sizeof r->request_date, where, errstr,
                        errsz)) != 0)
        return rc;
    xmlNodePtr replies, pd;
    if ((rc = only_child(el, "ApplicationReplies", &replies, where, errstr, errsz)) != 0 ||
        (rc = only_child(el, "PaymentData", &pd, where, errstr, errsz)) != 0)
        return rc;
    if (replies && (rc = read_replies(replies, r, where, errstr, errsz)) != 0)
        return rc;
    if (pd && (rc = read_payment_data(pd, r, where, errstr, errsz)) != 0)
        return rc;
    return 0;
}

/* Reads the Report element root into the pl_cyb_query_result arg (zeroed); TDR_REPORT's read. */
static int read_report(xmlNodePtr root, void *arg, char *errstr, size_t errsz)
{
    pl_cyb_query_result *res = arg;
    xmlNodePtr requests;
    int rc = only_child(root, "Requests", &requests, "Report", errstr, errsz);
    if (rc != 0)
        return rc;
    /*
     * A Report without Requests is not the empty answer: reading it as "no such request"
     * would let the caller send the request again and charge twice.
     */
    if (!requests)
        return pl_err_set(PL_ERR_PARSE, errstr, errsz, "the Report has no Requests element");
    size_t n = 0;
    for (xmlNodePtr e = pl_xml_first_element(requests->children); e;
         e = pl_xml_first_element(e->next)) {
        if (!pl_xml_is(e, "Request"))
            continue;
        if (n == PL_CYB_QUERY_MAX_RECORDS)
            return pl_err_set(PL_ERR_PARSE, errstr, errsz, "more than %d Request elements",
                              PL_CYB_QUERY_MAX_RECORDS);
        if ((rc = read_record(e, n + 1, &res->recs[n], errstr, errsz)) != 0)
            return rc;
        res->nrecs = ++n;
    }
    return 0;
}

/* True when text (sanitised) says the login was refused. */
static bool login_refusal(const char *text)
{
    static const char *const WORDS[] = {
        "login",       "log in",    "credential",        "password",
        "username",    "user name", "no merchant found", "authoriz",
        "authenticat",
    };
    char lower[PL_XML_SANITIZE_MAX + 1];
    size_t n = 0;
    for (; text[n] && n < sizeof lower - 1; n++)
        lower[n] = (char)tolower((unsigned char)text[n]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof WORDS / sizeof WORDS[0]; i++)
        if (strstr(lower, WORDS[i]))
            return true;
    return false;
}

/*
 * How the Query's answers are read: a short text is a login refusal only when it says so (the
 * endpoint's wording is not confirmed; see cyb_query.h).
 */
static const pl_xml_report_profile TDR_REPORT = {
    .max_len = PL_CYB_QUERY_MAX_BODY,
    .plain_text_max = PL_CYB_QUERY_PLAIN_TEXT_MAX,
    .doc_name = "a Transaction Detail Report",
    .is_refusal = login_refusal,
    .read = read_report,
};

int pl_cyb_query_parse(const char *body, size_t len, pl_cyb_query_result *res, char *errstr,
                       size_t errsz)
{
    memset(res, 0, sizeof *res);
    int rc = pl_xml_read_report(body, len, &TDR_REPORT, res, errstr, errsz);
    if (rc != 0)
        pl_card_wipe(res, sizeof *res);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Outcome */

/* The application of r named name, or NULL. */
static const pl_cyb_app_reply *app_of(const pl_cyb_query_record *r, const char *name)
{
    for (size_t k = 0; k < r->napps; k++)
        if (strcmp(r->apps[k].name, name) == 0)
            return &r->apps[k];
    return NULL;
}

/* True when o runs the application name. */
static bool runs(const op_apps *o, const char *name)
{
    for (size_t j = 0; j < 2 && o->apps[j]; j++)
        if (strcmp(o->apps[j], name) == 0)
            return true;
    return false;
}

/*
 * True when a, an application reply of r for the operation o, is the issuer's partial approval
 * that CyberSource writes as a refusal: ics_auth RCode 0 with ReasonCode 110, as its answer
 * writes decision REJECT 110 (bureau_cybersource.c partial_approval, which this mirrors). For an
 * auth+capture when its ics_bill says RCode 1: the capture happened, the money was taken, and
 * read as declined the order system would send the debit again (a second charge); for an
 * authorization when the record carries the amount approved (PaymentData/Amount). Otherwise it
 * stays the refusal it says: nothing was captured, and what the issuer holds of it is reversed.
 */
static bool partial_auth(const pl_cyb_query_record *r, const op_apps *o, const pl_cyb_app_reply *a)
{
    if (strcmp(a->name, "ics_auth") != 0 || !a->has_rcode || a->rcode != 0 ||
        strcmp(a->reason_code, "110") != 0)
        return false;
    if (runs(o, "ics_bill")) {
        const pl_cyb_app_reply *bill = app_of(r, "ics_bill");
        return bill && bill->has_rcode && bill->rcode == 1;
    }
    return r->has_amount;
}

/* The RCode a (of r, for o) counts as: 1 for a partial approval (partial_auth), else its own;
 * false when it has none. */
static bool rcode_of(const pl_cyb_query_record *r, const op_apps *o, const pl_cyb_app_reply *a,
                     int *rcode)
{
    *rcode = partial_auth(r, o, a) ? 1 : a->rcode;
    return a->has_rcode;
}

/*
 * True when o authorizes, the authorization succeeded and Decision Manager then held or refused
 * the order (ics_decision RCode 0): the services asked after the authorization (the token of a
 * token_auth, the capture of an auth_capture) were skipped, so the request is not "failed" but
 * an authorization Decision Manager decided on — answered in time, REVIEW 480 or REJECT 481,
 * and a rejected authorization (paylink-auth's) is reversed so the cardholder's funds are
 * released.
 */
static bool dm_decided_auth(const pl_cyb_query_record *r, const op_apps *o)
{
    const pl_cyb_app_reply *auth = app_of(r, "ics_auth"), *dm = app_of(r, "ics_decision");
    int rcode;
    return runs(o, "ics_auth") && auth && rcode_of(r, o, auth, &rcode) && rcode == 1 && dm &&
           dm->has_rcode && dm->rcode == 0;
}

/*
 * True when o is a token+auth whose authorization is a partial approval (ics_auth ReasonCode 110
 * counting as RCode 1: rcode_of) and whose token was never attempted (no
 * ics_pay_subscription_create at all): CyberSource skips paySubscriptionCreate after the partial
 * approval it writes as a refusal, and its answer in time (REJECT 110, ccAuthReply with the
 * amount, no paySubscriptionCreateReply) reads as the approval without a token
 * (bureau_cybersource.h). Read so too, rather than as a request that did not complete: the
 * resolver then applies the partial approval (when the record's amount is below what the request
 * sent, resolver.c) and the order system holds an authorization it captures or reverses by its
 * transaction id, as with the answer in time. A token that was attempted and refused (RCode 0) or
 * failed keeps its own verdict.
 */
static bool partial_token_skipped(const pl_cyb_query_record *r, const op_apps *o)
{
    const pl_cyb_app_reply *auth = app_of(r, "ics_auth");
    int rcode;
    return runs(o, "ics_pay_subscription_create") && runs(o, "ics_auth") &&
           !app_of(r, "ics_pay_subscription_create") && auth && rcode_of(r, o, auth, &rcode) &&
           rcode == 1 && strcmp(auth->reason_code, "110") == 0;
}

/*
 * True when a says what became of its application: RCode 1, 0 or -1 (the report's DTD knows no
 * other). RFlag and ReasonCode are not read in its place: SOK or 100 beside a missing RCode says
 * no more than the RCode would, and a report that leaves it out is not one this reads.
 */
static bool rcode_readable(const pl_cyb_app_reply *a)
{
    return a->has_rcode && (a->rcode == 1 || a->rcode == 0 || a->rcode == -1);
}

/* The verdict of record r for the operation o; PL_CYB_NOT_THERE when r has no app of o. */
static pl_cyb_found record_outcome(const pl_cyb_query_record *r, const op_apps *o)
{
    bool any = false, declined = false, all_ok = true, unreadable = false;
    for (size_t j = 0; j < 2 && o->apps[j]; j++) {
        bool seen = false;
        for (size_t k = 0; k < r->napps; k++) {
            const pl_cyb_app_reply *a = &r->apps[k];
            if (strcmp(a->name, o->apps[j]) != 0)
                continue;
            seen = any = true;
            if (!rcode_readable(a))
                unreadable = true;
            int rcode;
            bool has_rcode = rcode_of(r, o, a, &rcode);
            if (has_rcode && rcode == 0)
                declined = true;
            if (!has_rcode || rcode != 1)
                all_ok = false;
        }
        if (!seen)
            all_ok = false;
    }
    if (!any)
        return PL_CYB_NOT_THERE;
    /*
     * Whatever the other app says: an auth+capture's ics_bill without an RCode beside an
     * ics_auth refused may follow a partial approval (0/110) that was captured, and one beside
     * an ics_auth approved may have captured. Before, such a record was FOUND_ERROR, applied as
     * "failed, nothing charged", and the order system sent the debit again.
     */
    if (unreadable)
        return PL_CYB_FOUND_UNREADABLE;
    if (declined)
        return PL_CYB_FOUND_DECLINED;
    if (!all_ok && (dm_decided_auth(r, o) || partial_token_skipped(r, o)))
        return PL_CYB_FOUND_OK;
    return all_ok ? PL_CYB_FOUND_OK : PL_CYB_FOUND_ERROR;
}

/* How much a verdict says: a higher rank wins across records. */
static int rank(pl_cyb_found f)
{
    switch (f) {
    case PL_CYB_FOUND_OK:
        return 4;
    case PL_CYB_FOUND_UNREADABLE:
        return 3;
    case PL_CYB_FOUND_DECLINED:
        return 2;
    case PL_CYB_FOUND_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* The operation named op, or NULL. */
static const op_apps *op_named(const char *op)
{
    for (size_t i = 0; op && i < NOPS; i++)
        if (strcmp(OPS[i].op, op) == 0)
            return &OPS[i];
    return NULL;
}

pl_cyb_found pl_cyb_query_outcome(const pl_cyb_query_result *res, const char *merchant_reference,
                                  const char *op, const pl_cyb_query_record **rec)
{
    return pl_cyb_query_outcome_applied(res, merchant_reference, op, rec, NULL);
}

pl_cyb_found pl_cyb_query_outcome_applied(const pl_cyb_query_result *res,
                                          const char *merchant_reference, const char *op,
                                          const pl_cyb_query_record **rec,
                                          pl_cyb_query_applied *applied)
{
    if (rec)
        *rec = NULL;
    if (applied)
        memset(applied, 0, sizeof *applied);
    const op_apps *o = op_named(op);
    if (!res || !o)
        return PL_CYB_FOUND_ERROR;
    pl_cyb_found best = PL_CYB_NOT_THERE;
    const pl_cyb_query_record *best_rec = NULL, *first_ok = NULL;
    size_t ok = 0, unreadable = 0;
    size_t n = res->nrecs < PL_CYB_QUERY_MAX_RECORDS ? res->nrecs : PL_CYB_QUERY_MAX_RECORDS;
    for (size_t i = 0; i < n; i++) {
        const pl_cyb_query_record *r = &res->recs[i];
        if (merchant_reference && strcmp(r->merchant_reference, merchant_reference) != 0)
            continue;
        pl_cyb_found f = record_outcome(r, o);
        if (f == PL_CYB_FOUND_OK && ok++ == 0)
            first_ok = r;
        if (f == PL_CYB_FOUND_UNREADABLE)
            unreadable++;
        if (applied && (f == PL_CYB_FOUND_OK || f == PL_CYB_FOUND_UNREADABLE)) {
            applied->recs[applied->n] = r;
            applied->found[applied->n++] = f;
            if (f == PL_CYB_FOUND_UNREADABLE)
                applied->unreadable++;
        }
        if (rank(f) > rank(best)) {
            best = f;
            best_rec = r;
        }
    }
    /*
     * A capture or credit the bureau applied twice under one merchant reference (a retry it
     * did receive) took the money twice: before, the first record was applied and nobody was
     * told of the other.
     */
    if (o->once && ok > 0 && ok + unreadable > 1) {
        best = PL_CYB_FOUND_SEVERAL;
        best_rec = first_ok;
    }
    if (rec)
        *rec = best_rec;
    return best;
}

pl_cyb_found pl_cyb_query_record_outcome(const pl_cyb_query_record *r, const char *op)
{
    const op_apps *o = op_named(op);
    if (!r || !o)
        return PL_CYB_FOUND_ERROR;
    return record_outcome(r, o);
}
