/*
 * resolver.h: settles required responses — requests whose bureau outcome is unknown (a timeout,
 * a lost connection, an unreadable answer, a row left 'sent' by a worker that died) — without a
 * person where the bureau can tell, and hands the rest to one (DESIGN.md "Delivery guarantee";
 * seed "Working with Required Responses (WREQ)", "Retrieving responses from Cybersource").
 *
 * Who runs it: every consuming worker, in a thread beside its engine loop with its own database
 * connection (as the configuration refresher), so a slow bureau query never holds up requests;
 * and paylinkctl (`wreq resolve`, `wreq retry`, `deposits receive`) through the same functions.
 *
 * One row's life (required_response, migration 022; the policy is resolution_policy per bureau
 * protocol and worker):
 *   open, due (created_at + first_query_after_s, then next_query_at) → a resolver takes it: a
 *     lease (lease_owner, lease_until = now + lease_s) set by one UPDATE over rows selected FOR
 *     UPDATE SKIP LOCKED, so two replicas never take one row, and a replica that dies leaves it
 *     to another when the lease has passed. Every later write is guarded by the lease.
 *   the bureau can be asked (policy ask_bureau, CyberSource with a dm_settings report user) →
 *     the On-Demand Single Transaction Query by merchant reference (paylink's request_id) and
 *     the day it was sent (cyb_query.h). Its answer decides (pl_resolver_decide):
 *       found, approved / declined / error → applied (below) with resolved_how 'query';
 *       not there, sent at least not_found_after_s ago → applied as `error`: the bureau never
 *         got it and nothing happened (the upstream system may send a new request);
 *       not there yet, or the query failed (refused login, unreadable, unreachable) → asked
 *         again after retry_after_s × backoff_factor^(queries − 1) (at most max_retry_after_s);
 *       after max_queries queries → the safe step.
 *   it cannot be asked → the safe step at once.
 *   the safe step: a CyberSource authorization (policy reverse_unconfirmed, the bureau's Send
 *     reversal) sent at least reverse_after_s ago is reversed rather than left holding the
 *     cardholder's funds: a reversal request "<request_id>.tor" naming it is published to
 *     paylink-reversal, which makes CyberSource's timeout authorization reversal (by the
 *     merchantTransactionIdentifier every authorization carries); the next steps follow that
 *     reversal: approved (or 237, already reversed) → the authorization is settled `error`,
 *     resolution 'cancelled'; 242 (the bureau has no such authorization) → `error`; both
 *     resolved_how 'timeout_reversal', "resolution": "timeout_reversal" in the final reply; the
 *     reversal failing, or without an outcome for an hour → escalated. Anything else (a
 *     deposit, a reversal, stored value, the External Payment Service) → escalated.
 *   escalated: the resolver leaves it; an operator settles it (`wreq resolve`) or asks for
 *     another query (`wreq retry`, which opens it again, due now).
 *
 * Applying an outcome is one transaction: the row is resolved (guarded by status 'open' or
 * 'escalated' and the caller's lease, so another actor that got there first wins and nothing is
 * written), then the transaction row moves from 'unknown' to the outcome with its history rows
 * exactly as the worker stores an answer (auth_history; the deposit's and stored value's claim
 * triggers release or settle what it drew on; an approved reversal releases its authorization);
 * its stored reply becomes the final reply (reply.h pl_reply_resolve: "resolved": true,
 * "resolution"). reply_pending stays true until that reply is delivered on the worker's reply
 * topic: a resolver that crashes after the commit leaves it to be published by the next pass
 * (its lease kept until then, so a second replica does not publish it at the same time).
 *
 * Nothing is ever sent to the bureau again blind: a deposit or a reversal is only asked about;
 * an authorization is only ever reversed.
 *
 * Threads: a pl_resolver belongs to the thread that uses it. Logging is log.h's (read-only
 * state after pl_log_init; one fputs per line).
 */
#ifndef PL_RESOLVER_H
#define PL_RESOLVER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bureau.h"
#include "cyb_query.h"
#include "err.h"
#include "metrics.h"
#include "reply.h"

/* resolution_policy, one row. */
typedef struct pl_resolve_policy {
    bool ask_bureau;
    int first_query_after_s;
    int retry_after_s;
    double backoff_factor;
    int max_retry_after_s;
    int not_found_after_s;
    int max_queries;
    int lease_s;
} pl_resolve_policy;

/* The defaults of migration 022 (a protocol and worker without a row: ask_bureau false). */
pl_resolve_policy pl_resolve_policy_default(void);

/* Seconds to wait after the query number `queries` (1 = the first) could not settle the row:
 * retry_after_s × backoff_factor^(queries − 1), at most max_retry_after_s, at least 1. */
int pl_resolve_retry_delay_s(const pl_resolve_policy *p, int queries);

typedef enum pl_resolve_kind {
    PL_RESOLVE_APPLY,    /* the outcome is known: apply it */
    PL_RESOLVE_RETRY,    /* ask again after delay_s */
    PL_RESOLVE_ESCALATE, /* hand it to an operator */
} pl_resolve_kind;

/* An outcome to apply, from a query or an operator. */
typedef struct pl_resolve_outcome {
    pl_status status; /* approved, declined, review, rejected or error */
    char decision[16];
    char vendor_response[16];
    char hold_reason[4];
    bool has_amount;
    int64_t amount; /* approved / deposited / reversed, minor units */
    char auth_number[31];
    char auth_date[40];
    char transaction_id[65];
    char avs[8], cvv[8];
    /* What settled it, for the required response's resolution_note and last_query_result (and
     * the resolver's log line); not the reply's message, which is given apart (in a query's
     * step, map_answer's from the answer read, or a fixed text when there is no record). */
    char note[200];
} pl_resolve_outcome;

typedef struct pl_resolve_decision {
    pl_resolve_kind kind;
    int delay_s;                /* RETRY */
    char why[200];              /* RETRY / ESCALATE: last_query_result */
    pl_resolve_outcome outcome; /* APPLY */
} pl_resolve_decision;

/*
 * What a CyberSource query answer means for a row (pure; unit-tested). op is the operation that
 * was sent (required_response.operation: auth, token, token_auth, capture, credit,
 * auth_capture, reversal); query_rc is pl_cyb_query_parse's (or a transport failure's negative
 * pl_err, with why_failed saying what); res its result when query_rc is 0; queries the number of
 * this query (1 = first); sent_age_s how long ago the request was sent. An approved auth whose
 * ics_decision says review (480, DREVIEW) is `review` with hold FS; a Decision Manager reject
 * (481) is `rejected` with hold FS. An auth_capture whose record says it was captured (ics_bill
 * RCode 1) while refused, held or failed otherwise (ics_decision or ics_auth RCode 0 but a
 * partial approval's 110, an RCode -1), or captured as a partial approval (110) without an
 * amount, is PL_RESOLVE_ESCALATE at once: neither a refusal nor an approval is safe to apply. So
 * is any partial approval (110) of an auth, token_auth or auth_capture without an amount —
 * approved, or refused or failed after it (a capture or token refused or not run: its reversal
 * would go for the whole amount asked, refused above the part) — unless the record says only
 * 151, 152 or 250; this function knows no amount sent, and the resolver's step also escalates
 * one whose amount is not below what the request sent (the record's amount may be the amount
 * asked), without the timeout reversal (it goes for the whole amount sent), its reason telling
 * the operator the `wreq resolve` for the part (with `--transaction-id <RequestID>`; the whole
 * recipe, `--by` too, in README.md). One the record says only 151, 152 or 250 of after the
 * partial approval is asked again, and at the last query escalated with that step, without the
 * timeout reversal either. An escalation's reason is never cut where it gives the operator's
 * step: the record's own text is, when both do not fit why. The step names the record's
 * RequestID in place of <RequestID> when the reason holds it whole beside that text (never
 * cutting it for the id; an id `wreq resolve --transaction-id` would refuse is never named); the
 * resolver's step also keeps it on the row (required_response.record_request_id, which `wreq
 * show` prints) and records a captured one as captured (required_response.captured).
 * A record in which an application of op says only 151, 152 or 250 (received, then a time-out),
 * with RCode -1 or 0 (read as a refusal), is never applied: PL_RESOLVE_RETRY, and
 * PL_RESOLVE_ESCALATE at the last query. So too a record in which an application of op has no
 * RCode, or one other than 1, 0 or -1 (cyb_query.h PL_CYB_FOUND_UNREADABLE: before, applied
 * `error`), with the partial approval's step after a 110; one that says an auth_capture was
 * captured beside it is PL_RESOLVE_ESCALATE at once. A capture, credit or auth_capture that
 * more than one record says was applied (PL_CYB_FOUND_SEVERAL: charged or refunded twice) is
 * PL_RESOLVE_ESCALATE at once, its reason naming how many and their RequestIDs.
 */
pl_resolve_decision pl_resolver_decide(const pl_resolve_policy *p, const char *op,
                                       const char *merchant_reference, int query_rc,
                                       const char *why_failed, const pl_cyb_query_result *res,
                                       int queries, double sent_age_s);

/* Publishes one message and waits for its delivery; 0 when delivered. */
typedef int (*pl_resolver_publish_fn)(void *arg, const char *topic, const char *key,
                                      const char *payload, char *err, size_t errsz);

typedef struct pl_resolver_config {
    const char *conninfo;     /* PostgreSQL (the worker's PAYLINK_DB) */
    const char *worker;       /* the rows this resolver takes: auth, deposit, reversal, svc */
    const char *owner;        /* lease_owner: "<instance>/resolver" (at most 120 characters) */
    const char *topic_prefix; /* replies go to <prefix>.<worker>.reply */
    const char *ca_file;      /* the bureaus' CA bundle; NULL = the system's */
    pl_resolver_publish_fn publish;
    void *publish_arg;
    pl_metrics *metrics; /* NULL: no metrics */
} pl_resolver_config;

typedef struct pl_resolver pl_resolver;

/* A resolver on its own connection (connected lazily; reconnected after a failure). */
/*
 * The UTC days (epoch seconds of a moment in each) the bureau's report is asked for a request
 * sent at sent_epoch: its own day, then — when it was sent within PL_RESOLVER_DAY_MARGIN_S of
 * midnight — the day on the other side (a request sent at 23:59:58 reaches the bureau, and is
 * filed, after midnight; the two clocks may differ by seconds either way), asked only when the
 * first day has no record of it: "not found" there would otherwise be taken, once believed,
 * for "never processed". Returns how many days (1 or 2) are in days[].
 */
#define PL_RESOLVER_DAY_MARGIN_S 900

/* The most a worker's resolver waits for Kafka to acknowledge one message it publishes (its
 * producer's message.timeout.ms): a row's follow-up and final reply are published within twice
 * that, under a lease that lasts longer (resolver.c, PUBLISH_LEASE_S), so that no second
 * replica takes the row and publishes them again meanwhile. */
#define PL_RESOLVER_PUBLISH_TIMEOUT_MS 40000
int pl_resolver_query_days(int64_t sent_epoch, int64_t days[2]);

pl_resolver *pl_resolver_new(const pl_resolver_config *cfg, char *err, size_t errsz);
void pl_resolver_destroy(pl_resolver *r);

/*
 * One pass: publishes replies still pending — and, for paylink-deposit's resolver, up to max_rows
 * reversals `<deposit>.vdr` owed for an authorization an auth+capture replaced whose void waited
 * for another claim to end (replaced_auth_reversal, migration 057; none is published twice while
 * its lease holds); for paylink-reversal's, pl_resolver_reask_pass — then takes up to max_rows
 * due open rows of the worker and takes one step on each. Returns the rows it took a step on (0:
 * nothing due), or a negative pl_err when the database could not be used.
 */
int pl_resolver_pass(pl_resolver *r, int max_rows);

/*
 * paylink-reversal's resolver's part of a pass (pl_resolver_pass runs it for worker "reversal"):
 * takes up to max_rows due rows of reversal_reask (migration 069: reversals that ended `error`;
 * 070: and those refused without a call; and paylink's own CyberSource refused as already
 * reversed while the books keep the rest, PL_REVERSAL_KEPT_REST_OWED_SQL) under a lease — free,
 * passed, or its own — and decides on each. A refusal is paylink-reversal's (without a call)
 * when the reversal was never marked sent; one marked sent is the bureau's: a CyberSource 237
 * after another reversal of the authorization was approved for part is told to an operator at
 * once in one error line (the authorization, its order, the bureau, what the books still hold,
 * what to check at the bureau) and never asked again — nothing said once the authorization is
 * reversed, or captured, since. paylink's own (pl_reversal_own_chain) refused, or with nothing done
 * at the bureau (pl_reversal_error_unacted), is published again to <prefix>.reversal.request as
 * `<request_id>.again` of the same authorization for what is still held, once
 * pl_reversal_again_delay_s has passed since its outcome and no other claim on the authorization
 * nor timeout reversal of it is in flight (waited for an hour at most; a `.tor` refused is left
 * to its authorization's required response); one that cannot be asked again (a `.tor`, whose
 * required response is escalated; an answer that may have acted; the authorization captured
 * since, or refused for good by paylink-reversal's rules, never approved or without a bureau
 * transaction id, at once: pl_reversal_refusal_lasting; PL_REVERSAL_MAX_AGAIN asks already) is
 * logged as an error for an operator, naming the authorization and the amount; one whose
 * authorization is reversed since, or the order system's, is left. One that would be asked while
 * its bureau is unusable in the resolver's configuration (secret_ok false: the External Service
 * flag off, a secret unreadable under a changed reference; paylink-reversal would answer it
 * `error`, nothing sent) or not configured at all (removed: paylink-reversal would refuse it as
 * invalid and record nothing; the rules that read the bureau's protocol — its answer, its
 * authorization's issuer facts — are not applied to it until it is configured again) is not
 * asked, and no ask is spent: it waits, looked at again each minute, said once at warn (the row's
 * `done` notes the wait while done_at stays NULL), and is asked at the first pass that finds the
 * bureau usable — or, so a day past its delay, is told to an operator as above and closed. A
 * publish Kafka refuses gives the row (and the rest taken) back for the next pass. Returns how many
 * were published, or a negative pl_err.
 */
int pl_resolver_reask_pass(pl_resolver *r, int max_rows);

/*
 * `wreq retry`: the row (open or escalated) is opened again and due now; with step, a step is
 * taken on it right away (the query). msg says what happened. Returns 0, PL_ERR_NOTFOUND (no
 * such row, or resolved), PL_ERR_STATE (another resolver holds its lease), or another pl_err.
 */
int pl_resolver_retry(pl_resolver *r, int64_t id, bool step, char *msg, size_t msgsz);

/*
 * `wreq resolve`: an operator's outcome for an open or escalated row: applied and published as
 * the resolver does, resolved_how 'operator', resolved_by `by`, note. o->status approved or
 * review (o's amount, at most what the call sent and by default that: pl_resolver_amount_sent),
 * declined, error or rejected (a CyberSource
 * authorization's reject or soft decline: o->amount, has_amount false, what the issuer holds
 * after a partial approval, which its `.rev` asks for and its history row records
 * (amount_issuer_held, 061: paylink-reversal sends it for any reversal of it, a timeout reversal
 * `.tor` published again as first published when paylink-reversal never recorded it among
 * them); 0: the row's amount). An approval of paylink's own reversal (reversal_own.h) for less
 * than its call sent asks for the rest as paylink-reversal asks for it with such an answer in
 * time: the same `.rest` request, stored with the outcome and published before the final reply.
 * Returns as pl_resolver_retry; msg says what was applied. A publish that fails leaves
 * reply_pending for the worker's resolver and still returns 0 (msg says so).
 */
int pl_resolver_operator(pl_resolver *r, int64_t id, const pl_resolve_outcome *o, const char *by,
                         const char *note, char *msg, size_t msgsz);

/*
 * What the call of required response id sent, as decimal text in out ("" when it sent no
 * amount): what an operator's approval or review may name at most, and names when the operator
 * gives none — pl_resolver_operator's check, and paylinkctl's before it (its line names it).
 * The row's amount, except for a reversal, which goes for what paylink-reversal decided whatever
 * the request named (a redelivery that opened the row recorded the request's): its claim on the
 * authorization (a paylink authorization's whole amount authorized, what the issuer holds of a
 * refused one after a partial approval, or what was left of a stored value one), or, sent as a
 * CyberSource timeout reversal (`.tor`, or the order system's reversal of an authorization
 * without an answer), what that authorization was sent for. c: any session (a read-only one
 * does). Returns 0, PL_ERR_NOTFOUND (no such row) or PL_ERR_DB.
 */
int pl_resolver_amount_sent(PGconn *c, int64_t id, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * True when res, a bureau's record read as an answer, approves (ACCEPT) or holds for review
 * (REVIEW, which holds its amount as an approval does) more than amount, the amount the request
 * sent (decimal text): such a record is not applied but escalated (or the authorization
 * reversed), as the engine refuses such an answer in time.
 */
bool pl_resolver_approves_above(const pl_bureau_result *res, const char *amount);

#endif
