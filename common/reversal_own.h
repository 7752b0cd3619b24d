/*
 * reversal_own.h: paylink's own reversals — the reversal requests paylink publishes itself —
 * and the rest it asks for when one of them is approved for less than it sent.
 *
 * paylink publishes reversals nobody upstream reads the reply of: a Decision Manager reject's
 * `<auth>.rev` (paylink-auth, or the resolver that found the reject) and `<auth>.dmrev`
 * (paylink-dmupdate), the resolver's timeout reversal `<auth>.tor`, the reversal of an
 * authorization an auth+capture replaced `<deposit>.vdr` (`.vdr2` when published again), and of
 * the one a soft-declined auth+capture made `<debit>.sdr`, each id made by
 * pl_job_derived_request_id (engine.h). A bureau may approve a reversal for less than was sent
 * (an External Payment Service answer's amount; for one whose outcome was unknown, an
 * operator's `wreq resolve --outcome approved --amount`, or the CyberSource record the resolver's
 * query finds of it): the authorization keeps the rest held (migrations 058, 065). The order
 * system's own reversal is answered so and its sender decides; for paylink's own, paylink asks
 * for the rest itself: a reversal of the same authorization named
 * pl_job_derived_request_id(<its request_id>, PL_REVERSAL_REST_SUFFIX), `<request_id>.rest`,
 * itself paylink's own. Each rest is smaller than the reversal before it;
 * after PL_REVERSAL_MAX_RESTS of them, one still approved for less is left to an operator (an
 * error in the log naming the authorization), so a bureau that keeps approving a cent less
 * never keeps paylink asking.
 *
 * Two actors ask, by this one module, so that they ask alike (the same id, amount, limits,
 * refusals, message bytes and log lines): paylink-reversal with the answer in time
 * (workers/reversal, rev_followups) and the resolver with the outcome of one left unknown, an
 * operator's or its query's (common/resolver.c). Only one of them ever settles a reversal (its row
 * goes from sent or unknown to a final status once), and what it asked is stored with the row and
 * published again as stored on a redelivery.
 *
 * One of paylink's own that ends `error` with nothing done at the bureau (it never left, the
 * bureau was unreachable, or CyberSource answered its general failure: pl_reversal_error_unacted),
 * or that paylink-reversal refused without a bureau call (a capture, another reversal or a
 * timeout reversal of the authorization in flight), leaves the whole hold on the card, and nobody
 * reads its reply either: paylink-reversal's resolver asks for it again (migrations 069 and 070,
 * reversal_reask, common/resolver.c), a reversal of the same authorization named
 * pl_job_derived_request_id(<its request_id>, PL_REVERSAL_AGAIN_SUFFIX), `<request_id>.again`,
 * itself paylink's own, after pl_reversal_again_delay_s and once no claim or timeout reversal of
 * the authorization is in flight; at most PL_REVERSAL_MAX_AGAIN times in a chain, then an
 * operator is told (an error in the log; at once for a refusal that never changes,
 * pl_reversal_refusal_lasting). A chain may mix both: the rest of a reversal asked
 * again, or a rest asked again.
 *
 * Pure functions but pl_reversal_rest_log (log.h); any thread. Nothing is allocated but the text
 * pl_reversal_request_json returns, which the caller frees.
 */
#ifndef PL_REVERSAL_OWN_H
#define PL_REVERSAL_OWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define PL_REVERSAL_REST_SUFFIX "rest"
#define PL_REVERSAL_MAX_RESTS 3
#define PL_REVERSAL_AGAIN_SUFFIX "again"
#define PL_REVERSAL_MAX_AGAIN 3

/*
 * True when request_id is a reversal paylink requested itself of auth_request_id (a Decision
 * Manager reject's, .rev and .dmrev; the resolver's timeout reversal, .tor; each named after the
 * authorization): the worker that requested it read the bureau's Send reversal selected, and it
 * goes even where paylink-reversal's settings (refreshed at another moment) say otherwise.
 */
bool pl_reversal_by_paylink(const char *request_id, const char *auth_request_id);

/* True when request_id is paylink's reversal (`.sdr`, paylink-deposit's or the resolver's) of the
 * authorization a soft-declined auth+capture, the debit deposit_request_id, made: it goes
 * whatever paylink-reversal's Send reversal says, as pl_reversal_by_paylink's do. */
bool pl_reversal_of_soft_decline(const char *request_id, const char *deposit_request_id);

/* True when request_id is paylink's reversal (`.vdr`, paylink-deposit's or the resolver's) of an
 * authorization the auth+capture deposit_request_id replaced (auth_history.voided_by): named
 * after that deposit, not the authorization; it goes whatever paylink-reversal's Send reversal
 * says, as pl_reversal_by_paylink's do. (Checked against the authorization's id, as before, it
 * never matched: refused under a fixed id, the replaced authorization stayed held.) */
bool pl_reversal_of_replaced(const char *request_id, const char *deposit_request_id);

/* True when request_id is the resolver's timeout reversal of auth_request_id (request id
 * pl_job_derived_request_id(auth, "tor")). */
bool pl_reversal_is_timeout_of(const char *request_id, const char *auth_request_id);

/*
 * Whether request_id is a reversal paylink requested itself, and which: 0 for `.rev`, `.tor`
 * and `.dmrev` of auth_request_id (pl_reversal_by_paylink), `.vdr` and `.vdr2` of the deposit
 * voided_by that replaced the authorization (pl_reversal_of_replaced), `.sdr` of the debit
 * made_by whose refused auth+capture made it (pl_reversal_of_soft_decline); n (1 ..
 * PL_REVERSAL_MAX_RESTS) for the n-th rest asked after one of those (`.rest` n times over, each
 * derived from the one before); -1 for any other (the order system's). One of those asked again
 * after it ended `error` (`.again`, up to PL_REVERSAL_MAX_AGAIN times in its chain, before or
 * after its rests) is paylink's own too, and counts its rests only (pl_reversal_own_chain says
 * how often it was asked again). NULL or "" references match nothing.
 */
int pl_reversal_own(const char *request_id, const char *auth_request_id, const char *voided_by,
                    const char *made_by);

/*
 * As pl_reversal_own, and root (rootsz bytes, at least 51; NULL when not wanted) gets the
 * request id of paylink's own reversal the chain of rests started from (request_id itself for
 * 0; "" for -1): what a rest of an authorization named inline names again of it (the manual
 * authorization's amount, which paylink records with no reversal but in its request).
 */
int pl_reversal_own_root(const char *request_id, const char *auth_request_id, const char *voided_by,
                         const char *made_by, char *root, size_t rootsz);

/*
 * As pl_reversal_own_root, and *again (NULL when not wanted) gets how many times the chain that
 * ends at request_id was asked again after an `error` (`.again` steps: 0 .. PL_REVERSAL_MAX_AGAIN;
 * 0 for -1). A long id is hashed at each step (`again.<digits>`, `rest.<digits>`), so the chain
 * is walked from each of paylink's own reversals of the references, every mix of at most
 * PL_REVERSAL_MAX_RESTS rests and PL_REVERSAL_MAX_AGAIN asks, to find it.
 */
int pl_reversal_own_chain(const char *request_id, const char *auth_request_id,
                          const char *voided_by, const char *made_by, char *root, size_t rootsz,
                          int *again);

/*
 * How a card authorization reversal's outcome was settled, as its required response says
 * (required_response.resolved_how of worker "reversal"; pl_reversal_error_unacted): by its own
 * answer (none: it never went unknown, or a late answer), by the resolver's query, or by an
 * operator.
 */
#define PL_REVERSAL_SETTLED_BY_QUERY "query"
#define PL_REVERSAL_SETTLED_BY_OPERATOR "operator"

/*
 * True when a card authorization reversal that ended `error` reversed nothing at the bureau, so
 * that asking for it again can only release what it was to release: protocol is its service
 * bureau's (auth_service.protocol), decision and vendor_response its row's, settled_by how its
 * outcome was settled (required_response.resolved_how: "" for its own answer or none,
 * PL_REVERSAL_SETTLED_BY_QUERY, PL_REVERSAL_SETTLED_BY_OPERATOR). Nothing was done when there
 * was no answer at all (no decision: it was never sent — not built, its bureau's secret
 * unavailable, the bureau stalled —, its connection attempts ran out, or the resolver's query
 * found no record of it at the bureau), or when CyberSource itself answered ERROR with reason
 * 150, its general failure (a SOAP fault reads so), refused before any business processing.
 * Anything else may have been acted on, and is not asked again blind: CyberSource's other ERROR
 * reasons (151, 152 and 250 were received and perhaps processed; 236, a processor failure), any
 * decision of another bureau (the External Payment Service's ERROR codes say nothing of what
 * its processor did), an outcome the resolver read from a record the bureau holds of it (its
 * ERROR 150 is the reader's default for a record that failed, not an answer), and an
 * operator's (an `error` says only that the outcome could not be learnt). NULL reads as "".
 */
bool pl_reversal_error_unacted(const char *protocol, const char *decision,
                               const char *vendor_response, const char *settled_by);

/*
 * The SQL of whether a timeout reversal of the paylink authorization whose request id is the SQL
 * expression `auth` is in flight: a reversal marked sent naming that authorization but no
 * history row of it (CyberSource's timeout reversal, which releases the authorization whole by
 * the identifier it was sent with: the resolver's `.tor`, or an order system's reversal of an
 * authorization whose outcome was unknown), its outcome not final. No other reversal of the
 * authorization is claimed beside it (paylink-reversal's look-ups and mark, REV_TIMEOUT_IN_FLIGHT),
 * and paylink-reversal's resolver waits for it before it asks one of paylink's own again
 * (common/resolver.c): one text for both, so that they judge alike.
 */
#define PL_REVERSAL_TIMEOUT_IN_FLIGHT_SQL(auth)                                                    \
    "EXISTS (SELECT 1 FROM auth_reversal o WHERE o.auth_request_id = " auth " "                    \
    "AND o.auth_history_id IS NULL AND o.operation = 'reversal' "                                  \
    "AND o.status IN ('sent', 'unknown'))"

/*
 * The SQL that records one of paylink's own reversals, request id $1, in reversal_reask (069's
 * table, outcome `declined`) when CyberSource refused it as already reversed (237) while
 * paylink's books keep what it went for: its row, as stored (declined, 237, marked sent: the
 * bureau's answer, never paylink-reversal's refusal without a call, which is never marked), names
 * the history row it claimed and another reversal of that row was approved (for part of it: one
 * for all of it booked the row `reversed`, and then none claims it) — 075's test, by which its
 * trigger books such a 237 as any refusal, the rest held and capturable — or it names a manual
 * authorization inline (no history row: nothing booked) and is a rest ($2 "true":
 * pl_reversal_own >= 1, a reversal before it approved for part). 237 does not say the rest was
 * released, nobody reads the reply of paylink's own, and asking it again would only be refused
 * again: paylink-reversal's resolver tells an operator instead (common/resolver.c, reask_one),
 * once, after the commit, whoever stored the answer — paylink-reversal's store with the answer in
 * time, the resolver's query or an operator's outcome (apply_as) — each running this in the
 * transaction that stores it. A CyberSource 237 that released the authorization (no reversal of
 * the row approved before: 074 booked it `reversed`), a timeout reversal's (no history row named,
 * the authorization by request id: 074), another bureau's 237 and the order system's reversals
 * (its sender reads the reply; the caller adds this only for paylink's own) record nothing.
 */
#define PL_REVERSAL_KEPT_REST_OWED_SQL                                                             \
    "INSERT INTO reversal_reask (request_id, outcome) SELECT v.request_id, 'declined' "            \
    "FROM auth_reversal v JOIN auth_service s ON s.service_bureau = v.service_bureau "             \
    "AND s.protocol = 'CYB' WHERE v.request_id = $1::varchar AND v.status = 'declined' "           \
    "AND v.vendor_response = '237' AND v.sent_at IS NOT NULL AND v.operation = 'reversal' "        \
    "AND CASE WHEN v.auth_history_id IS NOT NULL THEN EXISTS (SELECT 1 FROM auth_reversal o "      \
    "WHERE o.auth_request_id = (SELECT h.request_id FROM auth_history h "                          \
    "WHERE h.id = v.auth_history_id) AND o.auth_history_id = v.auth_history_id "                   \
    "AND o.status = 'approved') ELSE coalesce(v.auth_request_id, '') = '' AND $2::boolean END "    \
    "ON CONFLICT (request_id) DO NOTHING"

/*
 * What paylink records of the authorization a card authorization reversal names, as
 * paylink-reversal reads it before the call (its look-ups) and its resolver before it asks one
 * of paylink's own again (reversal_reask): the latest answer of the authorization in
 * auth_history. Strings may be NULL (as "").
 */
typedef struct pl_reversal_auth_facts {
    bool found;         /* an auth_history row of it */
    const char *status; /* approved, review, rejected, voided, declined, error, reversed */
    int64_t deposited;  /* amount_deposited (minor units) */
    int64_t pending;    /* amount_pending: a capture or another reversal in flight on it */
    const char *transaction_id;
    /* The issuer holds the amount of a refused one (pl_reversal_auth_facts_issuer): a
     * CyberSource soft decline, or a decline or error whose ccAuthReply said the issuer
     * authorized it. */
    bool soft_declined, issuer_authorized;
    bool timeout_in_flight; /* PL_REVERSAL_TIMEOUT_IN_FLIGHT_SQL */
} pl_reversal_auth_facts;

/*
 * Sets a->soft_declined and a->issuer_authorized from the history row as paylink-reversal reads
 * them, a->status set: only on a CyberSource service bureau (protocol "CYB"), a declined answer
 * whose reasonCode is a soft decline (vendor_response, pl_cybersource_soft_decline), and a
 * declined or error one whose ccAuthReply said the issuer authorized it (issuer_authorized:
 * auth_history.issuer_authorized, migrations 060 and 064). NULL strings read as "".
 */
void pl_reversal_auth_facts_issuer(pl_reversal_auth_facts *a, const char *protocol,
                                   const char *vendor_response, bool issuer_authorized);

/*
 * Why paylink-reversal refuses a card authorization reversal without a bureau call, by what it
 * records of the authorization (pl_reversal_refusal_of; the text of each is pl_reversal_check's,
 * workers/reversal). Each says whether it can change: a claim or a timeout reversal in flight
 * ends (the reversal asked again then goes); the others never change for that reversal: an
 * authorization reversed, captured, never approved (nothing held: a hard decline, an error the
 * issuer did not authorize) or without a bureau transaction id is refused so however often it is
 * asked. One named by request id that has no answer recorded is refused until an answer comes.
 */
typedef enum pl_reversal_refusal {
    PL_REVERSAL_GOES = 0,                  /* not refused: it goes to the bureau */
    PL_REVERSAL_REFUSED_UNKNOWN,           /* no answer of the authorization recorded */
    PL_REVERSAL_REFUSED_REVERSED,          /* reversed already (237) */
    PL_REVERSAL_REFUSED_CAPTURED,          /* something of it captured (238) */
    PL_REVERSAL_REFUSED_CLAIMED,           /* a capture or another reversal in flight: ends */
    PL_REVERSAL_REFUSED_TIMEOUT_IN_FLIGHT, /* a timeout reversal of it in flight: ends */
    PL_REVERSAL_REFUSED_NOT_APPROVED,      /* the issuer holds nothing of it */
    PL_REVERSAL_REFUSED_NO_TRANSACTION_ID  /* nothing the bureau could find it by */
} pl_reversal_refusal;

/*
 * paylink-reversal's refusal of a reversal of the authorization a (by_request_id: the request
 * named a paylink authorization, auth_ref.request_id; false for one named inline, which goes to
 * the bureau when paylink holds no row of it), the first reason in the order it checks them;
 * PL_REVERSAL_GOES when it goes.
 */
pl_reversal_refusal pl_reversal_refusal_of(const pl_reversal_auth_facts *a, bool by_request_id);

/*
 * The refusal of such a reversal that asking it again can never change: as pl_reversal_refusal_of,
 * but passing over the refusals that end by themselves (PL_REVERSAL_REFUSED_CLAIMED,
 * PL_REVERSAL_REFUSED_TIMEOUT_IN_FLIGHT), so that an authorization never approved is seen as such
 * while a claim on it lasts; PL_REVERSAL_GOES when nothing lasting refuses it.
 * PL_REVERSAL_REFUSED_UNKNOWN is returned as it is (no answer recorded yet): the re-ask pass
 * does not take it for lasting (it asks again, and the reversal goes once an answer comes).
 */
pl_reversal_refusal pl_reversal_refusal_lasting(const pl_reversal_auth_facts *a,
                                                bool by_request_id);

/*
 * How long after the `error` of a reversal whose chain was asked again `asked` times before it
 * (pl_reversal_own_chain's *again) it is asked again, in seconds: 60, then 300, then 1800 (a
 * bureau's outage is usually over in minutes; a longer one is an operator's). -1 when asked is
 * PL_REVERSAL_MAX_AGAIN or more (or negative): it is not asked again.
 */
int pl_reversal_again_delay_s(int asked);

/*
 * The decision on the rest after a reversal sent for `sent` and answered (approved: whether it
 * was; reversed: its amount approved, minor units), `own` being pl_reversal_own's word on it.
 * Returns 1 when a rest is asked for (*rest = sent - reversed: not approved for all, approved
 * for more than nothing, paylink's own and fewer than PL_REVERSAL_MAX_RESTS rests before it);
 * -1 when paylink's own was approved for less but none is asked (the chain is at its end, or it
 * reversed nothing: a rest would be no smaller), *rest what is still held, for an operator; 0
 * otherwise (*rest 0).
 */
int pl_reversal_rest(int own, bool approved, int64_t sent, int64_t reversed, int64_t *rest);

/*
 * A card authorization reversal answered, as its settler knows it: paylink-reversal from its job
 * (pl_reversal_rest_of), the resolver from the reversal's row (auth_reversal) after an
 * operator's outcome or its query's. Strings may be NULL (as "").
 */
typedef struct pl_reversal_answered {
    const char *request_id; /* the reversal's */
    /* The authorization as the reversal request named it: auth_ref.request_id (a paylink
     * authorization), else inline (a manual one): its transaction_id, request_token, number,
     * date and, when the request gave it, amount. */
    const char *auth_request_id;
    const char *transaction_id, *request_token, *number, *date;
    bool has_auth_amount;
    int64_t auth_amount;
    /* pl_reversal_own's other references: the deposit that voided the authorization
     * (auth_history.voided_by) and the debit whose refused auth+capture made a manual one. */
    const char *voided_by, *made_by;
    /* Sent as CyberSource's timeout reversal of an authorization without an answer (or settled
     * `error`): it releases the authorization whole, by the identifier it was sent with, and no
     * history row records a rest. */
    bool timeout;
    /* paylink holds a history row of the authorization (auth_history), and whether that row
     * records what is held (amount_authorized, else amount_issuer_held). */
    bool history, held_recorded;
    bool approved;
    int64_t sent;     /* what the call sent (minor units) */
    int64_t reversed; /* what the answer (or the operator) says was reversed */
} pl_reversal_answered;

/* The rest asked for (pl_reversal_rest_for): the reversal request to publish. */
typedef struct pl_reversal_rest_request {
    char request_id[51];  /* pl_job_derived_request_id(<the reversal's>, "rest") */
    char amount[24];      /* what is still held, decimal text */
    char auth_amount[24]; /* of.amount's text (a manual authorization's amount), "" when none */
    /* The authorization, as the reversal named it: its request id, or the manual authorization's
     * fields (pointing into the pl_reversal_answered's strings, and auth_amount). */
    pl_reversal_of of;
    int rests; /* pl_reversal_own's word on the reversal answered (-1 .. MAX) */
    /* -1 because the authorization's history row records no amount held (neither
     * amount_authorized nor amount_issuer_held: a Decision Manager reject, a soft decline, a
     * refusal while the issuer authorized it): the approval for less booked it `reversed`
     * (migration 065), so a rest would be refused (237) without a bureau call. */
    bool unrecorded;
} pl_reversal_rest_request;

/*
 * The rest paylink asks for after reversal a: 1 with out filled to publish; -1 when it is left
 * to an operator (out->amount says what is still held; out->unrecorded, out->rests say why:
 * pl_reversal_rest_log); 0 when none (not approved for less, not paylink's own, a timeout
 * reversal). A rest is asked only of an authorization paylink holds no history row of (a manual
 * one: the bureau decides) or whose row records what is held: of one recording neither, the
 * approval booked the authorization `reversed` (migration 065) and the rest would be refused as
 * already reversed without a bureau call, the funds still held; -1 then, out->unrecorded set.
 * out->of points into a's strings: a must outlive it.
 */
int pl_reversal_rest_for(const pl_reversal_answered *a, pl_reversal_rest_request *out);

/*
 * The log line of pl_reversal_rest_for's word k on reversal request_id of the authorization
 * `auth` (its request id, else its transaction id): for 1, an info line naming the rest asked
 * (once it is published, or stored to be); for -1, an error telling an operator to reverse what
 * is still held, and why none is asked; nothing for 0.
 */
void pl_reversal_rest_log(const char *request_id, const char *auth, int k,
                          const pl_reversal_rest_request *rest);

/* A reversal request paylink publishes (CONTRACT.md type `reversal`). */
typedef struct pl_reversal_message {
    const char *request_id;
    int company;
    const char *order;
    int pay_seq;
    const char *service;
    const char *amount;   /* decimal text; NULL or "": none (nor currency) */
    const char *currency; /* NULL: "" */
    const char *pay_type; /* NULL or "": none (the resolver names the transaction's) */
    const pl_reversal_of *of;
} pl_reversal_message;

/*
 * m as the JSON text paylink publishes (compact; fields v, request_id, type, company, order,
 * pay_seq, service, amount and currency when there is an amount, pay_type when there is one,
 * auth_ref as pl_reversal_of_json makes it): malloc'd, the caller frees it; NULL when out of
 * memory. Every reversal request paylink publishes is made here (pl_job_publish_reversal, the
 * resolver's, the rests, paylink-dmupdate's `.dmrev`), so that the same reversal is the same
 * bytes whoever publishes it.
 */
char *pl_reversal_request_json(const pl_reversal_message *m);

/* The Kafka key of a reversal request of order `order` of `company`: "<company>-<order>", as
 * every message of an order is keyed (outsize >= 64 holds any). */
void pl_reversal_request_key(int company, const char *order, char *out, size_t outsize);

#endif
