/*
 * dm_report.c: reading the Decision Manager Conversion Detail Report with libxml2 (a DOCTYPE
 * accepted but never loaded, entities refused), the report window, and the order messages of
 * a conversion, and the report password kept across a failed read. The manual is dm_report.h.
 */
#include "dm_report.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/tree.h>

#include "card.h"
#include "config.h"
#include "log.h"
#include "xmlutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Fields */

/*
 * Drops the fraction of a second of an ISO 8601 or "YYYY-MM-DD HH:MM:SS" time in s (NUL-
 * terminated, trimmed): "2018-12-01T00:00:00.000Z" → "2018-12-01T00:00:00Z". Anything else
 * stays as it is.
 */
static void drop_fraction(char *s)
{
    size_t len = strlen(s);
    if (len < 21 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' || s[19] != '.')
        return;
    size_t j = 20;
    while (s[j] >= '0' && s[j] <= '9')
        j++;
    if (j == 20)
        return;
    memmove(s + 19, s + j, len - j + 1);
}

/* True when s[0, n) are all decimal digits. */
static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* The value of the n decimal digits at s. */
static int number(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/*
 * Writes a ConversionDate in s (NUL-terminated, trimmed, its fraction dropped: drop_fraction)
 * in the one form "YYYY-MM-DD HH:MM:SS" GMT: the old report's "2018-04-01 10:15:42" stays, the
 * new one's "2018-12-01T10:15:42Z" (and an offset, "+01:00" or "+0100", taken off) becomes
 * "2018-12-01 10:15:42". dm_decision's unique key holds it as text: a window asked again once a
 * merchant moved to the other report (or of a merchant ID on the other) recorded the same
 * conversion a second time — a second cancel_order, release_hold or reversal. The old form is
 * the one the rows recorded before 054 mostly have (and the seed shows); 054 rewrites the
 * others so. Anything else stays as it is.
 */
static void canonical_gmt(char *s)
{
    if (strlen(s) < 19 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return;
    const char *z = s + 19;
    long east = 0; /* the offset's seconds east of GMT */
    if (*z == '+' || *z == '-') {
        bool colon = z[3] == ':';
        if (!digits(z + 1, 2) || !digits(z + (colon ? 4 : 3), 2) || z[colon ? 6 : 5] != '\0')
            return;
        east = (number(z + 1, 2) * 60L + number(z + (colon ? 4 : 3), 2)) * 60L;
        if (*z == '-')
            east = -east;
    } else if (!(*z == '\0' || (z[0] == 'Z' && z[1] == '\0'))) {
        return;
    }
    s[10] = ' ';
    s[19] = '\0';
    if (east == 0)
        return;
    struct tm tm = {.tm_year = number(s, 4) - 1900,
                    .tm_mon = number(s + 5, 2) - 1,
                    .tm_mday = number(s + 8, 2),
                    .tm_hour = number(s + 11, 2),
                    .tm_min = number(s + 14, 2),
                    .tm_sec = number(s + 17, 2)};
    time_t t = timegm(&tm) - east;
    if (gmtime_r(&t, &tm) && tm.tm_year + 1900 >= 1000 && tm.tm_year + 1900 <= 9999)
        strftime(s, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/*
 * How a value is copied into its field. Only the values a decision depends on refuse to be
 * cut (dm_report.h): the report covers every order of the merchant, other systems' included,
 * and anything that refuses it — or one Conversion of it — refuses it again every time it is
 * asked, so a value that decides nothing must never do so.
 */
typedef enum field_kind {
    KIND_EXACT, /* an identifier or code a decision depends on: as it is, else PL_ERR_PARSE */
    KIND_GMT,   /* the ConversionDate of dm_decision's key: canonical_gmt, else PL_ERR_PARSE */
    KIND_FREE,  /* text that decides nothing: card numbers masked, cut to fit */
    KIND_DATE,  /* a date that decides nothing: drop_fraction; "" when it does not fit */
    KIND_CODE,  /* a code that decides nothing: as it is; "" when it does not fit */
} field_kind;

/* True for the kinds a decision depends on: too long, or twice, they refuse the Conversion. */
static bool decides(field_kind kind)
{
    return kind == KIND_EXACT || kind == KIND_GMT;
}

/*
 * Copies the value s (trimmed) into out, outsize bytes. A value that does not fit is
 * PL_ERR_PARSE for KIND_EXACT and KIND_GMT ("<what> is longer than its field (N characters)";
 * what names the value: "Conversion 2: RequestID"); else it never fails: free text is cut to
 * fit (never mid-character, never leaving the head of a card number: pl_card_scrub_copy_full),
 * and a date or code becomes "" (cut, it would be a value nobody sent). Free text is the
 * reviewers' and the bureau's words, kept in rows and sent on as order messages: the full scan
 * masks a card number split by characters off the keyboard, in full-width digits or with its
 * expiry glued as well.
 */
static int put_value(const char *s, field_kind kind, char *out, size_t outsize, const char *what,
                     char *errstr, size_t errstr_size)
{
    int rc;
    if (kind == KIND_DATE || kind == KIND_GMT) {
        char tmp[64];
        rc = pl_xml_copy_exact(s, tmp, sizeof tmp);
        if (rc == 0) {
            drop_fraction(tmp);
            if (kind == KIND_GMT)
                canonical_gmt(tmp);
            rc = pl_xml_copy_exact(tmp, out, outsize);
        }
    } else if (kind == KIND_FREE) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        rc = pl_xml_copy_exact(s, out, outsize);
        if (rc == 0)
            pl_card_scrub_full(out, outsize, PL_MASK_LAST4);
        else
            rc = (pl_card_scrub_copy_full(out, outsize, s, strlen(s), PL_MASK_LAST4), 0);
    } else {
        rc = pl_xml_copy_exact(s, out, outsize);
    }
    if (rc == 0)
        return 0;
    out[0] = '\0';
    if (!decides(kind))
        return 0;
    return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                      "%s is longer than its field (%zu characters)", what, outsize - 1);
}

/*
 * The value of libxml2's copy s into out (put_value), then s wiped and freed. Free text has
 * its control characters and DEL made spaces first, as the order messages write them: the card
 * scrub must see the text that is written, and DEL ("&#127;", legal XML) does not separate
 * digit groups for it, so "4111<DEL>1111<DEL>1111<DEL>1111" would pass the scrub in clear and
 * then become "4111 1111 1111 1111".
 */
static int take_value(xmlChar *s, field_kind kind, char *out, size_t outsize, const char *what,
                      char *errstr, size_t errstr_size)
{
    if (s && kind == KIND_FREE)
        for (xmlChar *p = s; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                *p = ' ';
    int rc = put_value(s ? (const char *)s : "", kind, out, outsize, what, errstr, errstr_size);
    pl_xml_free_content(s);
    return rc;
}

/*
 * The attribute local_name of el into out; "" when el has none. One a decision depends on is
 * read from el itself only and refused when el has it twice (pl_xml_only_attr); of another,
 * the first is taken (still from el itself: an ATTLIST default is a value nobody sent).
 */
static int read_attr(xmlNodePtr el, const char *local_name, field_kind kind, char *out,
                     size_t outsize, const char *where, char *errstr, size_t errstr_size)
{
    char what[96];
    snprintf(what, sizeof what, "%s%s%s", where, *where ? ": " : "", local_name);
    out[0] = '\0';
    xmlAttrPtr found = NULL;
    if (decides(kind)) {
        int rc = pl_xml_only_attr(el, local_name, &found, what, errstr, errstr_size);
        if (rc != 0)
            return rc;
    } else {
        for (xmlAttrPtr a = el->properties; a && !found; a = a->next)
            if (a->type == XML_ATTRIBUTE_NODE && strcmp((const char *)a->name, local_name) == 0)
                found = a;
    }
    if (!found)
        return 0;
    return take_value(xmlNodeGetContent((xmlNodePtr)found), kind, out, outsize, what, errstr,
                      errstr_size);
}

/* ---------------------------------------------------------------------------------------- */
/* Conversions */

/* The child elements of a Conversion that hold one value each. */
typedef struct conv_field {
    const char *name;
    size_t offset, size;
    field_kind kind;
} conv_field;

#define CONV_FIELD(name, member, kind)                                                             \
    {                                                                                              \
        name, offsetof(pl_dm_conversion, member), sizeof(((pl_dm_conversion *)0)->member), kind    \
    }

/* The CMOS Update order (§1.11; the report's own order is not confirmed, so any order goes). */
static const conv_field CONV_FIELDS[] = {
    /* Recorded and published, but it decides nothing. Read twice: exactly (a value that does
     * not fit is "", then replaced: original_decision_check) and as text for the log. */
    CONV_FIELD("OriginalDecision", original_decision, KIND_CODE),
    CONV_FIELD("OriginalDecision", original_given, KIND_FREE),
    CONV_FIELD("NewDecision", new_decision, KIND_EXACT),
    CONV_FIELD("Reviewer", reviewer, KIND_FREE),
    CONV_FIELD("ReviewerComments", reviewer_comments, KIND_FREE),
    CONV_FIELD("Queue", queue, KIND_FREE),
    CONV_FIELD("Profile", profile, KIND_FREE),
};
#define NFIELDS (sizeof CONV_FIELDS / sizeof CONV_FIELDS[0])

/*
 * Makes c's OriginalDecision one of the decision event's four (dm-decision.schema.json): one
 * absent, empty, cut or unknown is REVIEW, what a conversion starts from (dm_report.h), with
 * original_replaced set for the caller's log. Published as given, "" or "review1" failed the
 * schema: a consumer that validates it drops the event, and with it a REJECT.
 */
static void original_decision_check(pl_dm_conversion *c)
{
    static const char *const known[] = {"ACCEPT", "REVIEW", "REJECT", "ERROR"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(c->original_decision, known[i]) == 0) {
            c->original_given[0] = '\0';
            return;
        }
    }
    snprintf(c->original_decision, sizeof c->original_decision, "REVIEW");
    c->original_replaced = true;
}

/* The Note elements of every Notes child of conv: counted when notes is NULL, else read. */
static int walk_notes(xmlNodePtr conv, pl_dm_note *notes, size_t *count, const char *where,
                      char *errstr, size_t errstr_size)
{
    size_t n = 0;
    for (xmlNodePtr ns = pl_xml_first_element(conv->children); ns;
         ns = pl_xml_first_element(ns->next)) {
        if (!pl_xml_is(ns, "Notes"))
            continue;
        for (xmlNodePtr e = pl_xml_first_element(ns->children); e;
             e = pl_xml_first_element(e->next)) {
            if (!pl_xml_is(e, "Note"))
                continue;
            if (notes) {
                char note_where[64];
                snprintf(note_where, sizeof note_where, "%s: Note %zu", where, n + 1);
                pl_dm_note *t = &notes[n];
                int rc;
                if ((rc = read_attr(e, "Date", KIND_DATE, t->date, sizeof t->date, note_where,
                                    errstr, errstr_size)) != 0 ||
                    (rc = read_attr(e, "AddedBy", KIND_FREE, t->added_by, sizeof t->added_by,
                                    note_where, errstr, errstr_size)) != 0 ||
                    (rc = read_attr(e, "Comment", KIND_FREE, t->comment, sizeof t->comment,
                                    note_where, errstr, errstr_size)) != 0)
                    return rc;
            }
            n++;
        }
    }
    *count = n;
    return 0;
}

/*
 * Reads the index-th Conversion (1-based, for errstr) el into c (zeroed). PL_ERR_PARSE: it
 * cannot be read (dm_report.h); c->request_id and c->merchant_reference then hold what of them
 * was read, for the caller's pl_dm_unreadable. PL_ERR_NOMEM.
 */
static int read_conversion(xmlNodePtr el, size_t index, pl_dm_conversion *c, char *errstr,
                           size_t errstr_size)
{
    char where[40];
    snprintf(where, sizeof where, "Conversion %zu", index);
    /* All three, whichever fails: the RequestID and MerchantReferenceNumber name the
     * Conversion in the log when something else of it is wrong. The first failure is told. */
    char later[8];
    int rc = read_attr(el, "RequestID", KIND_EXACT, c->request_id, sizeof c->request_id, where,
                       errstr, errstr_size);
    int rc2 = read_attr(el, "MerchantReferenceNumber", KIND_EXACT, c->merchant_reference,
                        sizeof c->merchant_reference, where, rc ? later : errstr,
                        rc ? sizeof later : errstr_size);
    if (rc == 0)
        rc = rc2;
    rc2 = read_attr(el, "ConversionDate", KIND_GMT, c->conversion_date, sizeof c->conversion_date,
                    where, rc ? later : errstr, rc ? sizeof later : errstr_size);
    if (rc == 0)
        rc = rc2;
    if (rc != 0)
        return rc;
    /*
     * The RequestID is what finds the authorization (seed: "uses the RequestID ... and the
     * TransactionID in the Authorization History table"). A Conversion without one cannot be
     * applied.
     */
    if (c->request_id[0] == '\0')
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s has no RequestID", where);

    bool seen[NFIELDS] = {false};
    for (xmlNodePtr e = pl_xml_first_element(el->children); e; e = pl_xml_first_element(e->next)) {
        for (size_t i = 0; i < NFIELDS; i++) {
            const conv_field *f = &CONV_FIELDS[i];
            if (!pl_xml_is(e, f->name))
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s: %s", where, f->name);
            if (seen[i]) {
                /* Two decisions for one order: which one the reviewer meant is not ours to
                 * guess. Of a value that decides nothing, the first is kept. */
                if (decides(f->kind))
                    return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s appears twice", what);
                continue;
            }
            seen[i] = true;
            if ((rc = take_value(xmlNodeGetContent(e), f->kind, (char *)c + f->offset, f->size,
                                 what, errstr, errstr_size)) != 0)
                return rc;
        }
    }
    original_decision_check(c);

    size_t nnotes = 0;
    if ((rc = walk_notes(el, NULL, &nnotes, where, errstr, errstr_size)) != 0 || nnotes == 0)
        return rc;
    c->notes = calloc(nnotes, sizeof *c->notes);
    if (!c->notes)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    c->nnotes = nnotes;
    return walk_notes(el, c->notes, &nnotes, where, errstr, errstr_size);
}

/* Wipes and frees what c owns, and zeroes it. */
static void conversion_clear(pl_dm_conversion *c)
{
    if (c->notes) {
        pl_card_wipe(c->notes, c->nnotes * sizeof *c->notes);
        free(c->notes);
    }
    pl_card_wipe(c, sizeof *c);
}

/* Reads the Report element root into the pl_dm_report arg (zeroed); CDR's read. */
static int read_report(xmlNodePtr root, void *arg, char *errstr, size_t errstr_size)
{
    pl_dm_report *out = arg;
    int rc;
    /* None of these decides anything (none refuses: put_value). */
    if ((rc = read_attr(root, "MerchantID", KIND_FREE, out->merchant_id, sizeof out->merchant_id,
                        "Report", errstr, errstr_size)) != 0 ||
        (rc = read_attr(root, "Name", KIND_FREE, out->name, sizeof out->name, "Report", errstr,
                        errstr_size)) != 0 ||
        (rc = read_attr(root, "ReportStartDate", KIND_DATE, out->start, sizeof out->start, "Report",
                        errstr, errstr_size)) != 0 ||
        (rc = read_attr(root, "ReportEndDate", KIND_DATE, out->end, sizeof out->end, "Report",
                        errstr, errstr_size)) != 0 ||
        (rc = read_attr(root, "Version", KIND_FREE, out->version, sizeof out->version, "Report",
                        errstr, errstr_size)) != 0)
        return rc;

    size_t n = 0;
    for (xmlNodePtr e = pl_xml_first_element(root->children); e; e = pl_xml_first_element(e->next))
        if (pl_xml_is(e, "Conversion"))
            n++;
    if (n == 0)
        return 0;
    out->conversions = calloc(n, sizeof *out->conversions);
    if (!out->conversions)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    size_t index = 0;
    for (xmlNodePtr e = pl_xml_first_element(root->children); e;
         e = pl_xml_first_element(e->next)) {
        if (!pl_xml_is(e, "Conversion"))
            continue;
        index++;
        pl_dm_conversion *c = &out->conversions[out->nconversions];
        char why[sizeof out->unreadable->why];
        rc = read_conversion(e, index, c, why, sizeof why);
        if (rc == 0) {
            out->nconversions++;
            continue;
        }
        if (rc != PL_ERR_PARSE) {
            conversion_clear(c);
            return pl_err_set(rc, errstr, errstr_size, "%s", why);
        }
        /*
         * One Conversion that cannot be read is left out, not the report: asked again, the
         * report would be refused again, every run, and every later decision of the company
         * held back for good. Its decision is the caller's to report for an operator.
         */
        if (!out->unreadable && !(out->unreadable = calloc(n, sizeof *out->unreadable))) {
            conversion_clear(c);
            return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        pl_dm_unreadable *u = &out->unreadable[out->nunreadable++];
        u->index = index;
        snprintf(u->request_id, sizeof u->request_id, "%s", c->request_id);
        snprintf(u->merchant_reference, sizeof u->merchant_reference, "%s", c->merchant_reference);
        snprintf(u->why, sizeof u->why, "%s", why);
        conversion_clear(c);
    }
    if (out->nconversions == 0) {
        free(out->conversions);
        out->conversions = NULL;
    }
    return 0;
}

/*
 * How the report service's answers are read (seed/§1.11): it refuses a login with a line of
 * text, HTTP 200, so every short text is that refusal.
 */
static const pl_xml_report_profile CDR = {
    .max_len = PL_DM_REPORT_MAX_BODY,
    .plain_text_max = PL_DM_PLAIN_TEXT_MAX,
    .doc_name = "a Conversion Detail Report",
    .is_refusal = NULL,
    .read = read_report,
};

/* dm_report.h promises the refusal's text at most PL_DM_ERROR_TEXT_MAX characters. */
_Static_assert(PL_DM_ERROR_TEXT_MAX == PL_XML_SANITIZE_MAX, "the refusal text's length");

int pl_dm_report_parse(const char *body, size_t len, pl_dm_report *out, char *errstr,
                       size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    int rc = pl_xml_read_report(body, len, &CDR, out, errstr, errstr_size);
    if (rc != 0)
        pl_dm_report_free(out);
    return rc;
}

void pl_dm_report_free(pl_dm_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nconversions; i++)
        conversion_clear(&r->conversions[i]);
    free(r->conversions);
    if (r->unreadable) {
        pl_card_wipe(r->unreadable, r->nunreadable * sizeof *r->unreadable);
        free(r->unreadable);
    }
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------------------------------- */
/* The window */

/* "YYYY-MM-DD" and "HH:MM:SS" of t in GMT; "" for both when the year has not four digits. */
static void format_gmt(int64_t t, char date[11], char time_of_day[9])
{
    date[0] = time_of_day[0] = '\0';
    time_t tt = (time_t)t;
    struct tm tm;
    if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year < 1000 - 1900 ||
        tm.tm_year > 9999 - 1900)
        return;
    if (strftime(date, 11, "%Y-%m-%d", &tm) == 0 || strftime(time_of_day, 9, "%H:%M:%S", &tm) == 0)
        date[0] = time_of_day[0] = '\0';
}

/* limit within [PL_DM_WINDOW_MIN_SECONDS, PL_DM_WINDOW_SECONDS]. */
static int64_t clamp_limit(int64_t limit)
{
    if (limit < PL_DM_WINDOW_MIN_SECONDS)
        return PL_DM_WINDOW_MIN_SECONDS;
    if (limit > PL_DM_WINDOW_SECONDS)
        return PL_DM_WINDOW_SECONDS;
    return limit;
}

void pl_dm_window_next(int64_t last_end, int64_t now, pl_dm_window *w, bool *done)
{
    pl_dm_window_next_within(last_end, now, PL_DM_WINDOW_SECONDS, w, done);
}

/* Window w from start to end (its report dates); *done (when not NULL): it reaches now. */
static void fill_window(pl_dm_window *w, int64_t start, int64_t end, int64_t now, bool *done)
{
    memset(w, 0, sizeof *w);
    w->start = start;
    w->end = end;
    format_gmt(start, w->start_date, w->start_time);
    format_gmt(end, w->end_date, w->end_time);
    if (done)
        *done = end >= now;
}

void pl_dm_window_next_within(int64_t last_end, int64_t now, int64_t limit, pl_dm_window *w,
                              bool *done)
{
    limit = clamp_limit(limit);
    int64_t start, end;
    if (last_end < 0)
        start = now >= INT64_MIN + PL_DM_WINDOW_SECONDS ? now - PL_DM_WINDOW_SECONDS : INT64_MIN;
    else
        start = last_end;
    if (start >= now)
        end = start;
    else if (now - start > limit)
        end = start + limit;
    else
        end = now;
    fill_window(w, start, end, now, done);
}

void pl_dm_window_next_overlap(int64_t last_end, int64_t now, int64_t limit, int64_t overlap,
                               pl_dm_window *w, bool *done)
{
    if (last_end < 0 || last_end >= now) {
        pl_dm_window_next_within(last_end, now, limit, w, done);
        return;
    }
    limit = clamp_limit(limit);
    int64_t margin = overlap < 0 ? 0 : overlap;
    /* At most half the window old: a margin as long as the limit would ask the same window
     * again and again, and one added to it would make a window narrowing cannot shorten. */
    if (margin > limit / 2)
        margin = limit / 2;
    int64_t start = last_end - margin;
    int64_t end = now - start > limit ? start + limit : now;
    fill_window(w, start, end, now, done);
}

pl_dm_limit pl_dm_limit_start(int64_t start, int64_t end, int64_t asked_at)
{
    pl_dm_limit l = {.limit = PL_DM_WINDOW_SECONDS, .ceiling = 0};
    if (start >= 0 && end > start && end < asked_at)
        l.limit = end - start >= PL_DM_WINDOW_SECONDS / 2 ? PL_DM_WINDOW_SECONDS
                                                          : clamp_limit(2 * (end - start));
    return l;
}

bool pl_dm_limit_after(pl_dm_limit *l, const pl_dm_window *w, pl_dm_asked o)
{
    int64_t len = w->end > w->start ? w->end - w->start : 0;
    int64_t before = clamp_limit(l->limit);
    switch (o) {
    case PL_DM_ASKED_READ:
        l->limit = before;
        if (len >= before) {
            int64_t grown = before >= PL_DM_WINDOW_SECONDS / 2 ? PL_DM_WINDOW_SECONDS : 2 * before;
            if (l->ceiling > 0 && grown > l->ceiling / 2)
                grown = l->ceiling / 2;
            /* Never narrower than it was: a window read whole at this length is fine. */
            l->limit = clamp_limit(grown > before ? grown : before);
        }
        return false;
    case PL_DM_ASKED_TOO_BIG:
    case PL_DM_ASKED_TIMED_OUT:
        if (len > 0 && (l->ceiling == 0 || len < l->ceiling))
            l->ceiling = len;
        l->limit = clamp_limit(o == PL_DM_ASKED_TOO_BIG ? len / 2 : PL_DM_WINDOW_MIN_SECONDS);
        return l->limit < len;
    case PL_DM_ASKED_FAILED:
    default:
        l->limit = before;
        return false;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Order messages */

static bool have_message(char msgs[][513], size_t n, const char *m)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(msgs[i], m) == 0)
            return true;
    return false;
}

/* Adds the messages of one text to msgs[0, n) (at most max in all); returns the new count. */
static size_t add_messages(const char *text, char msgs[][513], size_t n, size_t max)
{
    const size_t cap = PL_DM_MESSAGE_SIZE - 1;
    /* The parts of one split text are compared with earlier texts only: two equal parts are
     * both the reviewer's words. */
    const size_t earlier = n;
    size_t len = strlen(text);
    const char *s = text;
    while (len > 0 && ((unsigned char)*s <= ' ' || *s == 0x7f)) {
        s++;
        len--;
    }
    /* seed: "Approved by KAB | Issuer verified name and address." → "... AND ADDRESS". */
    while (len > 0 && ((unsigned char)s[len - 1] <= ' ' || s[len - 1] == 0x7f || s[len - 1] == '.'))
        len--;
    while (len > 0 && n < max) {
        size_t take = len;
        if (take > cap) {
            take = cap;
            /* Split at the last space that leaves the next part starting with a word. */
            for (size_t k = cap; k > 0; k--)
                if (s[k] == ' ') {
                    take = k;
                    break;
                }
            /* No space (Japanese, Chinese): between two characters, never inside one — a cut
             * UTF-8 sequence is text PostgreSQL refuses, and the report's window would fail at
             * every run. */
            size_t k = take;
            while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
                k--;
            if (k > 0)
                take = k;
        }
        char m[PL_DM_MESSAGE_SIZE];
        size_t mlen = 0;
        for (size_t i = 0; i < take; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch < 0x20 || ch == 0x7f)
                ch = ' ';
            else if (ch >= 'a' && ch <= 'z')
                ch = (unsigned char)(ch - 'a' + 'A');
            m[mlen++] = (char)ch;
        }
        m[mlen] = '\0';
        /* Scrubbed again as written: the text was scrubbed before this copy changed it
         * (spaces, capitals, a cut), and a card number must not come back in the change. */
        mlen = pl_card_scrub_full(m, sizeof m, PL_MASK_LAST4);
        while (mlen > 0 && m[mlen - 1] == ' ')
            mlen--;
        m[mlen] = '\0';
        if (mlen > 0 && !have_message(msgs, earlier, m)) {
            memcpy(msgs[n], m, mlen + 1);
            n++;
        }
        s += take;
        len -= take;
        while (len > 0 && ((unsigned char)*s <= ' ' || *s == 0x7f)) {
            s++;
            len--;
        }
    }
    return n;
}

size_t pl_dm_messages(const pl_dm_conversion *c, char msgs[][513], size_t max)
{
    if (!c || !msgs)
        return 0;
    size_t n = add_messages(c->reviewer_comments, msgs, 0, max);
    for (size_t i = 0; i < c->nnotes; i++)
        n = add_messages(c->notes[i].comment, msgs, n, max);
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* The report password kept across a failed read */

/* The entry of bureau in k, made when there is none and room for it, its password wiped when
 * it was read from another reference than ref; NULL (nothing kept) when there is no room or
 * bureau or ref does not fit. */
static pl_dm_password_kept *password_entry(pl_dm_passwords *k, const char *bureau, const char *ref)
{
    if (!k || strlen(bureau) >= sizeof k->e[0].bureau)
        return NULL;
    pl_dm_password_kept *e = NULL;
    for (size_t i = 0; i < k->n && !e; i++)
        if (strcmp(k->e[i].bureau, bureau) == 0)
            e = &k->e[i];
    if (!e) {
        if (k->n == PL_DM_PASSWORDS_MAX)
            return NULL;
        e = &k->e[k->n++];
        memset(e, 0, sizeof *e);
        memcpy(e->bureau, bureau, strlen(bureau) + 1);
    }
    if (strcmp(e->ref, ref) != 0) {
        /* Another reference: what was read of the old one is no answer for it, now or later. */
        pl_card_wipe(e->password, sizeof e->password);
        e->have = e->kept = false;
        e->ref[0] = '\0';
        if (strlen(ref) >= sizeof e->ref)
            return NULL;
        memcpy(e->ref, ref, strlen(ref) + 1);
    }
    return e;
}

int pl_dm_password_read(pl_dm_passwords *k, const char *bureau, const char *ref, char *out,
                        size_t outsize, char *errstr, size_t errstr_size)
{
    char err[256] = "";
    int rc = pl_secret_resolve(ref, out, outsize, err, sizeof err);
    pl_dm_password_kept *e = password_entry(k, bureau, ref);
    if (rc == 0) {
        if (e) {
            /* One that does not fit is not kept, and no older one stays in its place. */
            pl_card_wipe(e->password, sizeof e->password);
            e->have = strlen(out) < sizeof e->password;
            if (e->have)
                memcpy(e->password, out, strlen(out) + 1);
            if (e->kept)
                PL_INFO(NULL, "service bureau %s: the report password can be read again (%.60s)",
                        bureau, ref);
            e->kept = false;
        }
        return 0;
    }
    pl_card_wipe(out, outsize);
    if (e && e->have && strlen(e->password) < outsize) {
        memcpy(out, e->password, strlen(e->password) + 1);
        if (!e->kept)
            PL_WARN(NULL,
                    "service bureau %s: the report password cannot be read (%s): the one read "
                    "before from the same reference is kept (a restart would lose it)",
                    bureau, err);
        e->kept = true;
        return 0;
    }
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s", err);
    return rc;
}

void pl_dm_passwords_wipe(pl_dm_passwords *k)
{
    if (!k)
        return;
    pl_card_wipe(k, sizeof *k);
    k->n = 0;
}
