/*
 * dm_report.h: the Decision Manager on-demand Conversion Detail Report (seed
 * cybersource-point-to-point.txt, "Cybersource Decision Manager Update Process"; reference
 * bureau-wire-formats.md §1.11): reading an answer body, the report window to ask for next,
 * and the order messages of a conversion. The HTTP request, the database and Kafka belong to
 * paylink-dmupdate; this module does no I/O.
 *
 * Reading: the body is the service's plain-text error ("Invalid login credentials.", HTTP
 * 200) or a Report document. The document's DOCTYPE names a DTD on the CyberSource server and
 * an xml-stylesheet instruction follows it; both are accepted and neither is fetched: the
 * parser never uses the network, loads no DTD and substitutes no entity, and a document whose
 * internal subset declares an entity, or that refers to an entity other than the five
 * predefined ones, is refused (billion laughs, XXE). Elements and attributes are matched by
 * local name in any namespace (the old report's namespace differs between test and
 * production, and the "Classic" report has its own).
 *
 * The report password (dm_settings.password_ref), read at each report or query call by
 * paylink-dmupdate and by the resolvers' CyberSource queries, is kept across a failed read of
 * an unchanged reference by pl_dm_password_read: the one exception to "no I/O" here (it reads
 * the reference and logs), shared by those two readers.
 *
 * Memory: a pl_dm_report filled by pl_dm_report_parse owns its conversions and their notes;
 * the caller frees them with pl_dm_report_free. Everything else is the caller's.
 * Threads: no state of its own; any thread, once xmlInitParser has run on the main thread
 * (before threads are started). A pl_dm_passwords belongs to the thread that uses it.
 */
#ifndef PL_DM_REPORT_H
#define PL_DM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The longest answer body pl_dm_report_parse reads; a longer one is PL_ERR_PARSE. */
#define PL_DM_REPORT_MAX_BODY (64u * 1024u * 1024u)

/* A body that is not XML and at most this long is the service's plain-text error. */
#define PL_DM_PLAIN_TEXT_MAX 1024

/* The longest errstr text of a plain-text error (characters, without the NUL). */
#define PL_DM_ERROR_TEXT_MAX 200

/* The on-demand report covers at most this many seconds (24 hours). */
#define PL_DM_WINDOW_SECONDS 86400

/* The size of one order message of pl_dm_messages, NUL included. */
#define PL_DM_MESSAGE_SIZE 513

/* One Note of a Conversion (Notes/Note, attributes Date, AddedBy, Comment). */
typedef struct pl_dm_note {
    char date[33];     /* Date as given ("2014-06-24 17:03:03", GMT); "" when it did not fit */
    char added_by[65]; /* AddedBy, cut to fit */
    char comment[513]; /* Comment, card numbers masked to their last four, cut to fit */
} pl_dm_note;

/* One Conversion: an order whose decision a reviewer changed in Decision Manager. */
typedef struct pl_dm_conversion {
    char merchant_reference[65]; /* MerchantReferenceNumber */
    char conversion_date[33];    /* ConversionDate, "2014-06-24 17:03:03" GMT (see below) */
    char request_id[65]; /* RequestID: the authorization's CyberSource requestID; never "" */
    /* ACCEPT, REVIEW, REJECT or ERROR (the decision event's enum): as given when it is one of
     * them, else REVIEW (original_replaced). */
    char original_decision[11];
    char new_decision[16];        /* ACCEPT / REJECT / "" when absent */
    char reviewer[65];            /* cut to fit */
    char reviewer_comments[1025]; /* card numbers masked to their last four; "" when absent */
    pl_dm_note *notes;            /* nnotes notes in document order; NULL when there are none */
    size_t nnotes;
    char queue[65], profile[65]; /* cut to fit */
    /* True when original_decision is REVIEW in place of what the report gave: no
     * OriginalDecision, an empty one, or one that is not ACCEPT, REVIEW, REJECT or ERROR. */
    bool original_replaced;
    /* What the report gave then, for the caller's log: cut to fit, card numbers masked to their
     * last four; "" when absent or empty, and when original_replaced is false. */
    char original_given[41];
} pl_dm_conversion;

/*
 * A Conversion pl_dm_report_parse could not read (see there): left out of the conversions, so
 * that its decision is not applied from a half-read value, and named here for the caller's log.
 */
typedef struct pl_dm_unreadable {
    size_t index;                /* its place among the report's Conversion elements, from 1 */
    char request_id[65];         /* its RequestID when that was read, else "" */
    char merchant_reference[65]; /* its MerchantReferenceNumber when that was read, else "" */
    char why[160]; /* "Conversion 2: NewDecision is longer than its field (15 characters)" */
} pl_dm_unreadable;

/* A Conversion Detail Report. */
typedef struct pl_dm_report {
    char merchant_id[65], name[65], start[33], end[33], version[16]; /* Report attributes */
    pl_dm_conversion *conversions; /* in document order; NULL when there are none */
    size_t nconversions;
    pl_dm_unreadable *unreadable; /* in document order; NULL when there are none */
    size_t nunreadable;
} pl_dm_report;

/*
 * Parses an answer body (body[0, len), need not be NUL-terminated). Returns:
 *   0: *out is the report (the caller frees it with pl_dm_report_free); a report without
 *      Conversion elements has nconversions 0. Conversions that could not be read are in
 *      out->unreadable, not in out->conversions (below).
 *   PL_ERR_AUTH: the body is not XML (its first character, after white space and a byte order
 *      mark, is not '<') and at most PL_DM_PLAIN_TEXT_MAX bytes long: the service's plain-text
 *      error, such as "Invalid login credentials." or "No merchant found for username.".
 *      errstr is that text, sanitised: printable ASCII only (line ends and tabs become one
 *      space), trimmed, at most PL_DM_ERROR_TEXT_MAX characters, card numbers and other runs
 *      of 10 or more digits masked to their last four.
 *   PL_ERR_PARSE: a body that is not a usable document, the reason in errstr (which quotes at
 *      most a short sanitised excerpt of the body): an empty or blank body, a body over
 *      PL_DM_REPORT_MAX_BODY, a longer text that is not XML, XML that is not well-formed, an
 *      internal DTD subset that declares an entity or a reference to an entity that is not
 *      predefined, a root element other than Report.
 *   PL_ERR_NOMEM: out of memory.
 * Values are trimmed of surrounding white space. The values a decision depends on are kept
 * exactly or not at all: a Conversion whose RequestID is missing, or whose RequestID,
 * MerchantReferenceNumber, ConversionDate or NewDecision is longer than its field or appears
 * twice, cannot be read; it goes to out->unreadable (its index, the RequestID and
 * MerchantReferenceNumber when those were read, and why), and the other Conversions are read
 * as usual. (The report covers every order of the merchant, and refusing it whole for one
 * such Conversion failed the same way every time it was asked again: every later decision of
 * the company was held back for good.) Every other value decides nothing and never makes a
 * Conversion or the report unreadable: text (Reviewer, ReviewerComments, Queue, Profile, a
 * Note's AddedBy and Comment, the Report's MerchantID, Name and Version) longer than its field
 * is cut to fit, never inside a UTF-8 character and never leaving the head of a card number,
 * with card numbers masked to their last four; a date (a Note's Date, ReportStartDate,
 * ReportEndDate) that does not fit is "" (a cut one would be a value nobody sent); of one that
 * appears twice, the first is kept. An OriginalDecision that is absent, empty, or not exactly
 * ACCEPT, REVIEW, REJECT or ERROR (longer than that, lower case, anything else) is REVIEW, with
 * original_replaced set and the value given in original_given: the decision event publishes it
 * and its schema allows those four only (a consumer that validates it would drop the event, a
 * REJECT with it), and a conversion is a reviewer's new decision on an order Decision Manager
 * held for review (seed cybersource-point-to-point.txt: "Orders that receive a REVIEW decision
 * are assigned to a case management work queue ... decide whether to accept or reject it").
 * Dates are kept as given, except that an ISO 8601 time's fraction of a second is dropped
 * ("2018-12-01T10:00:00.000Z" → "2018-12-01T10:00:00Z"), and that a ConversionDate (part of
 * dm_decision's unique key, as text) is written in the old report's form whichever report gave
 * it: "YYYY-MM-DD HH:MM:SS" GMT ("2018-12-01T10:15:42.000Z" and "2018-12-01T11:15:42+01:00" →
 * "2018-12-01 10:15:42"; a time without a zone is GMT, as both reports give it); one in neither
 * form stays as given.
 * Elements other than those of pl_dm_conversion are ignored.
 * On failure *out is zeroed. errstr may be NULL.
 */
int pl_dm_report_parse(const char *body, size_t len, pl_dm_report *out, char *errstr,
                       size_t errstr_size) PL_MUSTCHECK;

/* Frees what r owns and zeroes it; r may be NULL, or zeroed, or freed already. */
void pl_dm_report_free(pl_dm_report *r);

/* The GMT period one report request asks for. */
typedef struct pl_dm_window {
    int64_t start, end;                                            /* epoch seconds */
    char start_date[11], start_time[9], end_date[11], end_time[9]; /* "2014-06-24", "00:00:00" */
} pl_dm_window;

/*
 * The next report window: from last_end (the end of the last successful run, epoch seconds;
 * negative when it never ran: then now - 24 h) to min(start + 24 h, now), since the on-demand
 * report covers at most 24 hours; a worker that fell behind catches up one window per call,
 * passing the end of each successful window as the next last_end. *done (done may be NULL) is
 * true when the window reaches now. When last_end >= now there is nothing to ask: start ==
 * end == last_end (a clock that stepped back never moves the mark backwards) and *done is
 * true. The date and time strings are "" for an instant whose year does not have four digits.
 */
void pl_dm_window_next(int64_t last_end, int64_t now, pl_dm_window *w, bool *done);

/*
 * pl_dm_window_next with windows of at most limit seconds instead of 24 hours (limit is taken
 * within [PL_DM_WINDOW_MIN_SECONDS, PL_DM_WINDOW_SECONDS]); a worker that fell behind catches up
 * one window of at most limit per call. last_end < 0 still means the last 24 hours, asked from
 * their start.
 */
void pl_dm_window_next_within(int64_t last_end, int64_t now, int64_t limit, pl_dm_window *w,
                              bool *done);

/*
 * How far before the end of the last window read the next one starts, by default
 * (paylink-dmupdate's PAYLINK_DM_OVERLAP_S). A conversion shows in the report some time after
 * its ConversionDate (the report's lag), and the worker's clock may run ahead of CyberSource's:
 * a window that ends at the worker's "now" can miss a conversion dated just before its end, and
 * the next window, starting exactly there, never asked for it again. Asking again is free:
 * dm_decision records each conversion once.
 */
#define PL_DM_OVERLAP_SECONDS 300

/*
 * pl_dm_window_next_within for a worker whose last window read ended at last_end: the window
 * starts overlap seconds before last_end (overlap < 0 counts as 0), but at most half the limit
 * before it, so that it is still at most limit long (what the service may answer, and what
 * pl_dm_limit_after narrows) and at least half of it is new: a worker catching up moves on at
 * every window, also at PL_DM_WINDOW_MIN_SECONDS. It ends at min(start + limit, now); *done
 * (done may be NULL) is true when it reaches now. When last_end >= now there is nothing new to
 * ask: start == end == last_end and *done is true. last_end < 0 (no window read yet) is
 * pl_dm_window_next_within's: the last 24 hours, without overlap.
 */
void pl_dm_window_next_overlap(int64_t last_end, int64_t now, int64_t limit, int64_t overlap,
                               pl_dm_window *w, bool *done);

/*
 * The length of the windows asked. A report of a busy merchant can be too big for one answer
 * (over the HTTP body limit) or too slow to come within the timeout; asked again for the same 24
 * hours it fails for ever and holds every later decision back. So a window that failed so is
 * narrowed, down to PL_DM_WINDOW_MIN_SECONDS, and the windows widen again as they are read
 * whole, up to PL_DM_WINDOW_SECONDS.
 */
#define PL_DM_WINDOW_MIN_SECONDS 300

/* How asking for the report of a window came out (pl_dm_limit_after). */
typedef enum pl_dm_asked {
    PL_DM_ASKED_READ = 0,  /* the report was read */
    PL_DM_ASKED_TOO_BIG,   /* the answer was over the body limit */
    PL_DM_ASKED_TIMED_OUT, /* no whole answer came within the timeout */
    PL_DM_ASKED_FAILED,    /* anything else (refused, an HTTP error, a malformed report...) */
} pl_dm_asked;

/* The window length limit of one company and bureau during one run (a plain value). */
typedef struct pl_dm_limit {
    int64_t limit;   /* the longest window to ask next, seconds */
    int64_t ceiling; /* the shortest window too big or too slow in this run; 0: none */
} pl_dm_limit;

/*
 * The limit a run starts with, from the last successful window of the company and bureau,
 * [start, end], asked at asked_at (epoch seconds; start < 0 when there is none): twice that
 * window's length when the limit cut it (end < asked_at: it did not reach the time it was asked
 * at), at most PL_DM_WINDOW_SECONDS, at least PL_DM_WINDOW_MIN_SECONDS; else (none, or it
 * reached its time) PL_DM_WINDOW_SECONDS. ceiling 0. So a narrowing is kept from run to run by
 * the windows read, not by the failures, which leave no trace.
 */
pl_dm_limit pl_dm_limit_start(int64_t start, int64_t end, int64_t asked_at);

/*
 * Updates *l after window w, asked with l->limit (pl_dm_window_next_within), came out as o:
 *   READ: when w was as long as the limit (the limit cut it, not now), the limit doubles, to at
 *      most PL_DM_WINDOW_SECONDS and at most half the ceiling (a length that failed in this run
 *      is not asked again in it); a shorter window leaves it.
 *   TOO_BIG: the limit becomes half of w's length; the ceiling w's length.
 *   TIMED_OUT: the limit becomes PL_DM_WINDOW_MIN_SECONDS; the ceiling w's length. (A timeout
 *      costs the whole timeout each time and says nothing of how much shorter would do: halving
 *      through nine steps would spend nine timeouts a run when the service answers nothing at
 *      all. From the shortest window the limit doubles back at each window read.)
 *   FAILED: nothing changes (the failure is not the window's length).
 * The limit stays within [PL_DM_WINDOW_MIN_SECONDS, PL_DM_WINDOW_SECONDS]. Returns true when
 * the start of w is to be asked again at once with the new, shorter limit (TOO_BIG or TIMED_OUT
 * of a window longer than it); false otherwise: the run fails when o was not READ.
 */
bool pl_dm_limit_after(pl_dm_limit *l, const pl_dm_window *w, pl_dm_asked o);

/*
 * The order messages of a conversion, as the seed shows them ("APPROVED BY KAB | ISSUER
 * VERIFIED NAME AND ADDRESS", "TOOK OWNERSHIP"): the ReviewerComments first, then each Note's
 * Comment in order; each with control characters turned into spaces, trimmed of white space
 * and of trailing full stops (the seed's messages drop them), upper-cased (ASCII letters
 * only); empty ones and duplicates of an earlier message dropped. A text longer than
 * PL_DM_MESSAGE_SIZE - 1 is split into several messages at spaces (at any character when a
 * part has none), not cut. Writes at most max messages into msgs and returns how many; c or
 * msgs NULL gives 0.
 */
size_t pl_dm_messages(const pl_dm_conversion *c, char msgs[][513], size_t max);

/* ---- the report password kept across a failed read --------------------------------------- */

/* How many bureaus' report passwords one pl_dm_passwords keeps. */
#define PL_DM_PASSWORDS_MAX 16

/*
 * The report passwords one reader (a paylink-dmupdate process, a resolver) last read, one per
 * service bureau with the reference it was read from. Zeroed ({0}) it is empty; the holder wipes
 * it with pl_dm_passwords_wipe when done (it holds secrets).
 */
typedef struct pl_dm_password_kept {
    char bureau[9];     /* the service bureau's code */
    char ref[201];      /* the reference password was read from */
    char password[256]; /* the last one read of ref; "" with !have */
    bool have;          /* password holds one read of ref */
    bool kept;          /* a failed read of ref is being answered with password (said once) */
} pl_dm_password_kept;

typedef struct pl_dm_passwords {
    pl_dm_password_kept e[PL_DM_PASSWORDS_MAX];
    size_t n;
} pl_dm_passwords;

/*
 * The report password of service bureau `bureau` from secret reference ref (config.h's
 * pl_secret_resolve) into out[0, outsize): 0, or pl_secret_resolve's error with errstr (naming
 * the reference, never the password).
 *
 * k (NULL: nothing kept) keeps the last password read of each bureau's reference. When a read
 * fails and the bureau's reference is the one that password was read from, the password is
 * answered all the same (0) and a warn line says so, once until a read succeeds again (then an
 * info line says it can be read again): a password file left unreadable under the same
 * reference (a mode or owner change, a file being rotated) would otherwise fail every report
 * and query call until someone fixed it, and with them the Decision Manager decisions and the
 * reversals that release holds on cards. A bureau whose reference changed is read afresh: the
 * old password is wiped at once and never answered for the new reference. A password read
 * replaces the one kept, which is wiped. Past PL_DM_PASSWORDS_MAX bureaus (or a bureau code or
 * reference longer than its field) nothing is kept for the rest: each call reads. Never logs the
 * password.
 */
int pl_dm_password_read(pl_dm_passwords *k, const char *bureau, const char *ref, char *out,
                        size_t outsize, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* Wipes every password k keeps and empties it; k may be NULL. */
void pl_dm_passwords_wipe(pl_dm_passwords *k);

#endif
