/*
 * dmupdate.h: paylink-dmupdate, the Decision Manager update (seed cybersource-point-to-point.txt,
 * "Cybersource Decision Manager Update Process"; CONTRACT.md, paylink.dm.decision).
 *
 *   paylink-dmupdate [--once] [--interval SECONDS] [--company N]... [--service CODE]
 *
 * For each company and each CyberSource service bureau with Decision Manager on and a
 * dm_settings row: asks the on-demand Conversion Detail Report for the window since the last
 * successful run (dm_run), from PAYLINK_DM_OVERLAP_S seconds (default PL_DM_OVERLAP_SECONDS, 300;
 * 0 to 3600) before its end — a conversion can show in the report after its ConversionDate, and
 * asking it again changes nothing (pl_dm_window_next_overlap) — (first run: the last 24 hours,
 * or from its first review; at most 24 hours a window, so a worker
 * that fell behind catches up window by window; a window whose answer is over the body limit,
 * that the service says is too large (pl_dmupdate_refusal), or whose answer does not come in
 * time is narrowed and asked again at once, down to 5 minutes, and the windows widen again as
 * they are read: pl_dm_limit_after), with the report user and password
 * (dm_settings.password_ref, never logged; the one read before is kept when the same reference
 * cannot be read: pl_dm_password_read) and the merchant ID (the override, else the seed's
 * hierarchy), from the test or production URL per send_to_production. Each Conversion whose
 * RequestID is the transaction id of an authorization of that company (auth_history) is
 * recorded once in dm_decision with the decision event it calls for:
 *   ACCEPT → release_hold (of the FS hold), with the reviewer comments and notes as order
 *            messages, upper case;
 *   REJECT → cancel_order with the fraud cancel reason (M14, auth_service.fraud_cancel_reason),
 *            or fraud_cancel_hold when the order cannot be cancelled whole — paylink knows that
 *            when part of it was deposited already (an approved debit or stored value deposit:
 *            the order system tells paylink by depositing), or when no cancel reason is set —
 *            plus a reversal request on paylink.reversal.request (id <auth request_id>.dmrev)
 *            when the bureau has Send reversal.
 * The event's original_decision is the conversion's OriginalDecision, REVIEW when the report gave
 * none or another value than the event's four (pl_dm_report_parse; a warning line). A
 * conversion older (by its ConversionDate, as text: dm_report.h's one form sorts as its time)
 * than a decision recorded already for the same company and transaction id — read later, as
 * overlapping windows do — is recorded with dm_decision.superseded_by naming that decision and
 * published_at set, and not acted on: no event, no reversal request, a warning line (072). So
 * the decision acted on last is always the latest by ConversionDate, then id: the one
 * paylink-deposit reads.
 * Conversions of other companies, of authorizations paylink does not hold, and REVIEWs without
 * a new decision are skipped; so is a conversion the report holds but that cannot be read (its
 * RequestID or decision malformed: pl_dm_report_parse's unreadable), with an error line each
 * (paylink_dm_conversions_unreadable_total), the rest of the report applied. The events (and
 * reversal requests) of every decision not yet published are then published (pl_dmupdate_publish) —
 * also when the report call failed, so that an outage of the report service does not hold back
 * decisions paylink recorded already — and, once Kafka acknowledged them all, the run is recorded
 * in dm_run. Any failure — the report service's plain-text error ("Invalid login credentials."), an
 * HTTP failure, a malformed report, a database or Kafka error — records no run, so the next cycle
 * asks for the same window again; recorded decisions are never applied twice (unique per
 * conversion) and unpublished ones are published by the next run.
 *
 * Companies: the --company options, else PAYLINK_DM_COMPANIES (comma-separated), else every
 * company that has a REVIEW authorization on the bureau or an earlier run (all of them: no
 * cap).
 * --once: one cycle, exit 0 when every company and bureau succeeded, 1 otherwise; with
 * PAYLINK_DM_TEXTFILE the metrics are written to that file (node_exporter's textfile
 * collector) at the end. Without --once: a cycle every --interval seconds (PAYLINK_DM_INTERVAL_S,
 * default 900) until SIGTERM, with /metrics, /healthz and /readyz on its metrics port.
 * Metrics: paylink_dm_last_success_timestamp_seconds{company,service} (the end of the last
 * successful window), paylink_dm_conversions_applied_total{decision},
 * paylink_dm_runs_total{result}, paylink_dm_conversions_unreadable_total.
 */
#ifndef PL_DMUPDATE_H
#define PL_DMUPDATE_H

#include <json-c/json.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dm_report.h"
#include "err.h"

/* Runs the command; returns the exit status. */
int pl_dmupdate_main(int argc, char **argv);

/*
 * The companies paylink-dmupdate updates on service bureau `bureau` when none are configured:
 * those that have had an authorization in review there (dm_review_company, written by a
 * trigger as reviews arrive: migration 029) and those it ran for before (dm_run), in order,
 * every one of them. Returns how many, with *out a malloc'd array of them that the caller frees
 * (NULL when there are none), or PL_ERR_DB / PL_ERR_NOMEM (logged) with *out NULL.
 */
int pl_dmupdate_companies(PGconn *db, const char *bureau, int **out) PL_MUSTCHECK;

/* How many decisions pl_dmupdate_publish reads, publishes and marks at a time. */
#define PL_DMUPDATE_PUBLISH_BATCH 500

/*
 * Publishes every decision of company on bureau not published yet (dm_decision.published_at
 * NULL), in id order, on *producer (its delivery reports served by pl_kafka_on_delivery): the
 * reversal request first (<cfg->topic_prefix>.reversal.request), when there is one, then the
 * decision event (<cfg->topic_prefix>.dm.decision), keyed <company>-<order>. Before each batch,
 * a producer that met a fatal error (every produce of it fails for good) is destroyed and made
 * again from cfg (pl_kafka_producer_renew_if_fatal, the same opaque): *producer may change, and
 * the caller destroys the one it holds after the call. In batches of
 * PL_DMUPDATE_PUBLISH_BATCH: once Kafka acknowledged a batch, each of its decisions whose
 * messages were all acknowledged is marked published (one statement, the ids as a bigint[]
 * parameter; a row another run marked already keeps its time), then the next batch is read,
 * until none is left. Returns how many decisions this call published and marked (>= 0), or a
 * negative pl_err (logged): PL_ERR_KAFKA when Kafka did not acknowledge a message (the
 * acknowledged ones of that batch are marked; the rest is published again by the next call)
 * or when a broken producer could not be made again (*producer left as it was), PL_ERR_DB when a
 * read or the marking failed (what was published but not marked is published again by the next
 * call: the order system reads the events at least once), PL_ERR_NOMEM. Runs on the thread that
 * serves the producer's reports; db, producer, *producer and cfg must not be NULL.
 */
int pl_dmupdate_publish(PGconn *db, rd_kafka_t **producer, const pl_config *cfg, int company,
                        const char *bureau) PL_MUSTCHECK;

/*
 * How far back the first run of a company on a bureau (no dm_run yet) asks for conversions.
 * Without it every cycle before the first success asked for the last day only, so a first
 * success more than a day after the first review (a wrong report password at go-live, the
 * report service down) never asked for the conversions before that day.
 */
#define PL_DMUPDATE_FIRST_BACK_S (31 * 86400)

/*
 * The start of the first window of company on bureau, run at now (Unix time), when it has no run
 * yet: a minute before its first review was noted (dm_review_company), at most
 * PL_DMUPDATE_FIRST_BACK_S back; -1 when that is within the last day (or there is none): the
 * last day then, as pl_dm_window_next takes it. PL_ERR_DB (logged) on a database error.
 */
int64_t pl_dmupdate_first_start(PGconn *db, int company, const char *bureau, int64_t now);

/*
 * The window length limit a run of company on bureau starts with: pl_dm_limit_start of its
 * newest successful window (dm_run: window_start, window_end, started_at), or of none. 0 with
 * *out, or PL_ERR_DB (logged).
 */
int pl_dmupdate_limit_start(PGconn *db, int company, const char *bureau,
                            pl_dm_limit *out) PL_MUSTCHECK;

/*
 * The merchant IDs of company's reviews on bureau (dm_review_merchant) that are not among the
 * known[0, n) a run read when it started, each with when its first review was noted (Unix
 * time): a merchant ID first noted while the run asked its windows, whose reports of those
 * windows the run then asks (a decision taken in them would otherwise never be asked for: the
 * next run starts after them). Fills ids[i] (31 bytes each) and first[i] for at most max of
 * them; returns how many, or PL_ERR_DB (logged).
 */
int pl_dmupdate_new_merchants(PGconn *db, int company, const char *bureau, const char (*known)[31],
                              int n, char (*ids)[31], int64_t *first, int max);

/*
 * A paylink-dmupdate of its own on the caller's connection, for the integration tests of the
 * steps of a run below (they then see, in their transaction, what a step wrote): db is borrowed
 * (the caller closes it after pl_dmupdate_destroy); the HTTPS client (trusting cfg->ca_file, as
 * the process does), the producer and the metrics are the handle's. report_url, when not NULL
 * nor "", is asked instead of every bureau's dm_settings URL (a test's server). NULL with
 * errstr when a part cannot be made. One thread.
 */
typedef struct pl_dmupdate pl_dmupdate;

pl_dmupdate *pl_dmupdate_new(const pl_config *cfg, PGconn *db, const char *report_url, char *errstr,
                             size_t errstr_size);

/* Flushes and destroys what d made (not its connection); d may be NULL. */
void pl_dmupdate_destroy(pl_dmupdate *d);

/*
 * One run of company on bureau, as a cycle makes it (the service bureau settings read again,
 * under the run's advisory lock; 0 also when another run holds it): the rechecks, every window
 * up to now, the reports of merchant IDs first noted meanwhile, and the publishing. Returns 0
 * when all of it succeeded, else the first failure's pl_err (logged). For the integration
 * tests, on pl_dmupdate_new's handle.
 */
int pl_dmupdate_run(pl_dmupdate *d, int company, const char *bureau);

/*
 * The rechecks a run of company on bureau starts with, asking the report of each merchant of
 * merchant_ids[0, n): every window of dm_recheck, oldest first, is asked again; one none of
 * whose conversions is deferred any more is deleted, one still deferring is kept with the new
 * count. One whose report is too big, said too large, or too slow (pl_dm_limit_after: TOO_BIG,
 * TIMED_OUT) is split in its place into the windows a first pass would ask from its start after
 * such a failure (the first of pl_dm_limit_after's new length, each next one twice as long, at
 * most half the window: halves for one too big), each with the window's created_at and count,
 * and those are asked in the same pass; one of PL_DM_WINDOW_MIN_SECONDS (or shorter) is not
 * split. One whose report cannot be had otherwise is kept, and the next ones are asked all the
 * same — but two in a row failing for a reason not their own (refused for the service's reason,
 * unreachable, an HTTP error, a database error; a timeout counts too, unless the narrower window
 * asked at once after it is read) end the pass, the rest kept for the next run. One older than
 * three days (dm_recheck.created_at) is given up, deleted with an error that names it, whether
 * it still defers conversions or its report cannot be had. Returns 0 when every window was
 * asked, else the first failure's pl_err (logged).
 */
int pl_dmupdate_rechecks(pl_dmupdate *d, int company, const char *bureau,
                         const char (*merchant_ids)[31], int n);

/*
 * The last step of a run of company on bureau that knew the merchant IDs known[0, nknown) when
 * it started and asked the windows asked[0, nasked): the reports of those windows of every
 * merchant ID first noted since (pl_dmupdate_new_merchants, at most 64 of them; a window that
 * ends more than 5 minutes before a merchant ID's first review is not asked of it). A window
 * whose report is still owed to any of them when a report call fails (the merchant IDs after
 * it are then not asked), when the run stops, or that the merchant IDs past the 64 owe, is
 * noted in dm_recheck (deferred 1), which the next run asks again of every merchant ID.
 * Nothing when bureau has a Decision Manager merchant ID override. Returns 0, or the failure's
 * pl_err (logged; the merchant IDs past the 64 are no failure).
 */
int pl_dmupdate_ask_new_merchants(pl_dmupdate *d, int company, const char *bureau,
                                  const char (*known)[31], int nknown, const pl_dm_window *asked,
                                  int nasked);

/* What a conversion asks the order system to do (pure; see above). */
typedef struct pl_dm_action {
    const char *action;        /* "release_hold", "cancel_order", "fraud_cancel_hold"; NULL: none */
    const char *cancel_reason; /* cancel_order only */
    bool reverse;              /* publish a reversal request */
} pl_dm_action;

/*
 * True when why (a refused report's text, PL_ERR_AUTH) says the service knows no such merchant
 * ("No merchant found for username."): a merchant ID a review was sent under that is retired or
 * not the report user's, skipped so the others' decisions are still had. Any other refusal
 * ("Invalid login credentials.": a password rotated mid-run) fails the window, asked again at
 * the next run: skipped, that merchant's decisions in it would never be asked for.
 */
bool pl_dmupdate_unknown_merchant(const char *why);

/* What a refusal of the report service (its plain-text error, PL_ERR_AUTH) says. */
typedef enum pl_dm_refusal {
    PL_DM_REFUSED_SERVICE = 0, /* the service refuses every window: credentials, merchant, rate */
    PL_DM_REFUSED_TOO_LARGE,   /* the window asked is too large: asked again narrower */
    PL_DM_REFUSED_WINDOW,      /* something else of the window asked (its dates): that one only */
} pl_dm_refusal;

/*
 * What the refusal text why says (case-insensitive; NULL or unknown: PL_DM_REFUSED_SERVICE, the
 * safe side: a recheck pass ends after two of those in a row). A text about the login, the
 * password, the user, no such merchant, requests, a rate limit or quota, or the service
 * unavailable is the service's, whatever else it says; else one that says the report is too
 * large, too big, too long, too many, exceeds or is over a maximum, or to narrow the window, is
 * PL_DM_REFUSED_TOO_LARGE (the report call then comes out PL_DM_ASKED_TOO_BIG: narrowed as an
 * answer over the body limit is, by a run's first pass and by a recheck); else one about its
 * dates, time, range, period or window ("Invalid report window: the end is before the start.")
 * is PL_DM_REFUSED_WINDOW. The real service's words for a window too large are not documented:
 * hence words, not one sentence.
 */
pl_dm_refusal pl_dmupdate_refusal(const char *why);

/*
 * new_decision ACCEPT → release_hold; REJECT → cancel_order with fraud_cancel_reason, or
 * fraud_cancel_hold when deposited (part of the order was deposited) or no reason is set; and
 * reverse = send_reversal for a REJECT. Anything else (REVIEW, ""): action NULL.
 */
pl_dm_action pl_dm_decide(const char *new_decision, bool deposited, const char *fraud_cancel_reason,
                          bool send_reversal);

/*
 * The decision event (CONTRACT.md paylink.dm.decision): a new json-c object the caller puts.
 * messages: n order messages; reversal_request_id NULL when none.
 */
json_object *pl_dm_event(int company, const char *order, const char *transaction_id,
                         const char *original_decision, const char *new_decision,
                         const pl_dm_action *a, const char (*messages)[513], size_t n,
                         const char *reversal_request_id);

/*
 * The report request's form body (merchantID, username, password, startDate, startTime,
 * endDate, endTime; every value form-encoded by libcurl). malloc'd, or NULL; it holds the
 * password: the caller wipes it before freeing it.
 */
char *pl_dm_form(const char *merchant_id, const char *user, const char *password,
                 const char *start_date, const char *start_time, const char *end_date,
                 const char *end_time);

#endif
