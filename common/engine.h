/*
 * engine.h: the one loop every consuming worker runs (DESIGN.md "The engine"), and the spec
 * interface a worker plugs into it.
 *
 * The engine consumes the worker's request topic, validates each request, records it
 * idempotently by request_id, calls the bureau through the adapter of the request's service
 * bureau, records the answer, publishes the reply, and only then lets the request's Kafka
 * offset be committed (contiguously per partition). It owns Kafka, PostgreSQL, HTTP, timeouts,
 * retries, back-pressure, replay of final replies, required responses, shutdown and rebalance
 * draining. A spec only says what is specific to the worker: its table, which bureau
 * operation a request becomes, and how an answer maps onto rows and a reply.
 *
 * Lifecycle of a request (a pl_job):
 *   decode and validate
 *     refused by validation → look the request_id up: no row → `invalid` + DLQ copy; a row →
 *     answered from the row as below (only a request never seen can be invalid)
 *   record (INSERT … ON CONFLICT DO NOTHING, then read the row back)
 *     nothing recorded, nothing found → the spec's judge says why: `invalid` + DLQ copy
 *     other fingerprint  → `invalid` (request_id reused) + DLQ copy, nothing written
 *     row has a reply    → the stored reply again, with "replayed": true
 *     row "sent"         → its owner may be in flight: re-read until the owner's call wait
 *                          (its connection attempts, then the answer wait) since it was last
 *                          marked has passed, then required response (never re-sent blindly)
 *                          and a `timeout` reply
 *     new or "received"  → prepare → wait for a bureau slot (still "received") → [getToken on
 *                          that slot, for a card number to a bureau that takes tokens only;
 *                          the slot kept for the call] → mark sent (durably, just before the
 *                          bytes leave) → bureau call
 *                          no slot while the bureau is stalled (PAYLINK_SLOT_WAIT_MAX_MS with
 *                          requests waiting and none of its calls answered, a getToken's
 *                          answer being none) → final `error` 150 (SU for stored value),
 *                          nothing sent (but for a request the spec exempts:
 *                          spec->breaker_exempt; it waits)
 *   answer → spec->map → spec->next_call asks for another call on the same job? → mark sent
 *            again (a fresh attempt, the slot kept) → bureau call → answer → ... (at most
 *            PL_ENGINE_MAX_CALLS calls; the row stays "sent" throughout)
 *            stopping, or its partition being left → no next call: the row back to
 *            "received" (PL_ENGINE_SQL_UNMARK, releasing what its mark claimed), the
 *            request given up for redelivery; so too a call that waited for its access
 *            token (OAuth) or was answered 401
 *   answer that is the outcome → spec writes the final row + history in one unit → reply
 *                          (+ follow-up messages)
 *   timeout / connection lost after sending → `unknown` row + required_response + `timeout` reply
 *   connection never made (after connect_attempts) → final `error` 150 (SU for stored value;
 *                          spec->unreachable may add to it), nothing was charged
 *
 * Every guarded write (mark sent, final, unknown, the spec's store) reports whether it changed
 * the row; when it did not, another actor (a second replica, a redelivery, an operator) got
 * there first and the request is answered from what the row says now.
 *
 * Threading: everything runs on the thread that calls pl_engine_run. Specs are called on it.
 */
#ifndef PL_ENGINE_H
#define PL_ENGINE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "bureau.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "reply.h"
#include "request.h"
#include "services.h"

typedef struct pl_engine pl_engine;
typedef struct pl_job pl_job;

/* The most bureau calls one request makes (the first and those spec->next_call asks for). */
#define PL_ENGINE_MAX_CALLS 4

/*
 * What the watchdog says of an overdue request whose database unit the connection no longer
 * has: a lost unit (every state that waits for the database submits its unit as it enters it).
 * `tools/dev test` and tools/chaos/chaos.sh fail on these words in a worker's log; test_engine
 * checks that both still look for exactly them.
 */
#define PL_ENGINE_LOST_UNIT "not with the database (lost?)"

/* The longest send attempt id: what the transaction tables' sent_by holds (varchar(120)). */
#define PL_ENGINE_ATTEMPT_MAX 120

/*
 * The job's card hash that a row recorded stored_hash for the same card would hold: the current
 * key's (job->card_hash), or an earlier key's when that is what stored_hash is (the row was
 * recorded before the hash key was rotated). job->card_hash when neither matches, so a
 * comparison with stored_hash then fails as it should.
 */
const char *pl_job_card_hash_for(const pl_job *job, const char *stored_hash);

/*
 * A send attempt's id, "<instance>/<nonce>.<n>": the worker instance (PAYLINK_INSTANCE, at most
 * PL_CONFIG_INSTANCE_MAX characters), a random number the process drew when it started, and
 * the process's count of attempts. A mark-sent statement takes a row 'sent' by the same id as
 * its own (a unit re-sent after a lost connection) and the request is then called: so no other
 * process may ever make the same id — not the same instance started again (a pod's container
 * restarted, PID 1 in a container: the instance name is the same, and a redelivery in the same
 * order would meet the dead process's marks under the same counts, and be sent again). Returns
 * 0, or -1 when it does not fit out (never for an instance of at most PL_CONFIG_INSTANCE_MAX).
 */
int pl_engine_attempt_id(const char *instance, uint32_t nonce, unsigned long long n, char *out,
                         size_t outsize);

/*
 * A condition on a required_response row (its columns unqualified): the `timeout` reply it
 * opened with is out, or can no longer be overtaken by the final reply that settles it. The
 * worker recorded it on Kafka (worker_replied_at, 055: the owner's acknowledgement, or a
 * replay's hold for the owner's copy, 066, that has passed), or the row opened more than 10
 * minutes ago (a worker that records nothing: a version before 055, a database error). The
 * resolver publishes a held final reply (reply_pending) only then (resolver.c REPLIED_SQL), and
 * the engine's look-up (PL_ENGINE_SQL_LOOKUP) holds one only until then: one text, so that the
 * two never disagree.
 */
#define PL_ENGINE_SQL_TIMEOUT_REPLY_OUT                                                            \
    "(coalesce(worker_replied_at <= now(), false) OR created_at < now() - interval '10 minutes')"

/* A replay's hold for the owner's `timeout` copy that has not passed (066: a later time than
 * now recorded by pl_replayed), within the 10 minutes that end every hold. */
#define PL_ENGINE_SQL_REPLY_HELD                                                                   \
    "(coalesce(worker_replied_at > now(), false) AND created_at >= now() - interval '10 minutes')"

/*
 * The engine's statement "pl_lookup" (printf format: the spec's table): what request $1's row
 * says, read back by a redelivery, a duplicate, a request validation refused, and a job that
 * reads its row again (never by a fresh request: its insert returns what it wrote). Its status,
 * fingerprint, reply, follow-ups, seconds since it was marked sent, sent_by, and whether the
 * final reply of its required response (worker $2's) is still held for the resolver to publish:
 * reply_pending while a replay's hold for the owner's `timeout` copy has not passed
 * (PL_ENGINE_SQL_REPLY_HELD; 066). The engine then publishes nothing: that copy may still be
 * queued by a stalled owner, and the final reply would overtake it. Nothing recorded
 * (worker_replied_at NULL) holds nothing here, although the resolver's own publication waits for
 * it (PL_ENGINE_SQL_TIMEOUT_REPLY_OUT): the owner most likely died with its copy unsent (a
 * redelivery after a crash), and the order system would otherwise have no answer at all for up
 * to 10 minutes — as the chaos test found when every such redelivery was held. Only a row whose
 * reply is a final one (`resolved`) is looked for in required_response (one index scan): every
 * other look-up costs what it did.
 */
#define PL_ENGINE_SQL_LOOKUP                                                                       \
    "SELECT t.status, t.fingerprint, t.reply::text, t.followups::text, "                           \
    "extract(epoch FROM now() - t.sent_at)::float8, t.sent_by, "                                   \
    "CASE WHEN t.reply ? 'resolved' THEN EXISTS (SELECT 1 FROM required_response r "               \
    "WHERE r.worker = $2 AND r.request_id = t.request_id AND r.reply_pending "                     \
    "AND " PL_ENGINE_SQL_REPLY_HELD ") ELSE false END "                                            \
    "FROM %s t WHERE t.request_id = $1"

/*
 * The engine's statement "pl_final" (printf format: the spec's table): a final answer that did
 * not come from the bureau — an `error` nothing was sent for, or a refusal before sending —
 * stored on a row still 'received', or 'sent' by this job ($6 its attempt, $7 its previous
 * call's: pl_job.attempt, prev_attempt; "" when none). Never on a row another actor marked
 * sent: a second replica or a redelivery that failed before its own mark (a getToken that
 * timed out, a refusal while preparing) would otherwise record `error` over a call the first
 * has at the bureau, release its claim, and answer `error` for what may be a charge. A row that
 * was 'sent' may hold a claim the table's triggers then release (spec->touch_key). Its follow-ups
 * are recorded as decided: none ('[]'; such an answer publishes none), so that a redelivery
 * replays exactly that (engine.c, replay).
 */
#define PL_ENGINE_SQL_FINAL                                                                        \
    "UPDATE %s SET status = $2, vendor_response = $3, error_text = left($4, 300), "                \
    "reply = $5::jsonb, answered_at = now(), followups = coalesce(followups, '[]'::jsonb) "        \
    "WHERE request_id = $1 AND (status = 'received' "                                              \
    "OR (status = 'sent' AND sent_by IN ($6, $7))) RETURNING request_id"

/*
 * The engine's statement "pl_unmark" (printf format: the spec's table): a row 'sent' by send
 * attempt $2 (pl_job.attempt) back to 'received', as recorded and never sent, RETURNING a row
 * when it changed it. For a job with a next call to make (spec->next_call) while the worker
 * stops or gives up the job's partition: the calls it made so far have no effect (engine.h,
 * next_call), and the next one, sent now, could be cut short by the drain's deadline and leave
 * an unknown outcome (a hold no row knows of). The redelivery then runs the request again from
 * its first call instead of waiting for this owner and making the row a required response, as
 * it does with a row left 'sent'. Only this attempt's own mark: a row another actor made
 * unknown or answered, or marked meanwhile, stays as it is. The operation the row says was sent
 * last is kept (the mark of the next run sets it anew). What the spec's mark claimed besides the
 * row (a capture's, credit's or reversal's amount on the row it draws on, a stored value card's
 * activation; spec->touch_key) is released in the same statement by the table's unmark trigger
 * (078: cc_deposit_trans, auth_reversal, svc_trans), as an `error` outcome would release it, and
 * the row's claim_amount cleared: so the redelivery's mark claims from what is left, once, and a
 * row changed by another actor keeps its claim for its own outcome.
 */
#define PL_ENGINE_SQL_UNMARK                                                                       \
    "UPDATE %s SET status = 'received', sent_at = NULL, sent_by = '' "                             \
    "WHERE request_id = $1 AND status = 'sent' AND sent_by = $2 RETURNING request_id"

/*
 * The engine's statement "pl_unknown" (printf format: the spec's table): the outcome is unknown
 * (engine.c, finish_unknown_as): the row becomes 'unknown' with the `timeout` reply $2, and a
 * required_response opens (or opens again) for the resolver, RETURNING a row when it changed
 * the row. Guarded: only a row still open ('received' or 'sent') does, and only then does a
 * required response open; none returned, another actor answered first. $14, when not NULL, is
 * the send attempt whose 'sent' row the caller's decision rests on (the owner a redelivery
 * waited for): only that row, still 'sent' by it, becomes unknown — never one its owner gave
 * back meanwhile (PL_ENGINE_SQL_UNMARK: 'received', never sent, its claim released) nor one
 * another attempt marked since. NULL: any open row (the job's own call, whose bytes may have
 * left; a request the engine gives up on, job_fail). The operation is the row's, what was sent (a
 * redelivery that finds the row left 'sent' knows no call of its own: $9 is its request type then);
 * $13 whether an unreadable answer said its capture happened (required_response.captured).
 */
#define PL_ENGINE_SQL_UNKNOWN                                                                      \
    "WITH upd AS (UPDATE %s SET status = 'unknown', reply = $2::jsonb, "                           \
    "error_text = left($3, 300), answered_at = now() "                                             \
    "WHERE request_id = $1 AND status IN ('received', 'sent') "                                    \
    "AND ($14::text IS NULL OR (status = 'sent' AND sent_by = $14)) "                              \
    "RETURNING request_id, operation), "                                                           \
    "rr AS (INSERT INTO required_response (request_id, worker, company, order_number, "            \
    "pay_seq, service_bureau, operation, amount, currency, reason, detail, captured) "             \
    "SELECT $1, $4, $5::int, $6, $7::int, $8, coalesce(nullif(upd.operation, ''), $9), "           \
    "$10::numeric, $11, $12, left($3, 300), $13::boolean "                                         \
    "FROM upd ON CONFLICT (worker, request_id) DO UPDATE SET status = 'open', "                    \
    "resolution = NULL, resolved_by = NULL, resolution_note = NULL, resolved_at = NULL, "          \
    "reason = excluded.reason, detail = excluded.detail, worker_replied_at = NULL, "               \
    "captured = required_response.captured OR excluded.captured) "                                 \
    "SELECT request_id FROM upd"

/*
 * The engine's statement "pl_replied": the `timeout` reply of the required response of worker
 * $1's request $2 is on Kafka (055), published by the job that made the row unknown (its
 * owner). The resolver and `wreq resolve` publish the final reply only once worker_replied_at
 * has passed (resolver.c, REPLIED_SQL), so it never reaches the order system first. The owner's
 * own reply out, a later time a replay set (PL_ENGINE_SQL_REPLAYED: waiting for this very reply)
 * is brought back to now.
 */
#define PL_ENGINE_SQL_REPLIED                                                                      \
    "UPDATE required_response SET worker_replied_at = now() WHERE worker = $1 "                    \
    "AND request_id = $2 AND (worker_replied_at IS NULL OR worker_replied_at > now())"

/*
 * The engine's statement "pl_replied_none": the owner of worker $1's row $2, which it made
 * unknown, produced no `timeout` reply of its own (engine.c, RR_OWN_NO_COPY) and found the row
 * settled, its final reply held: nothing of the owner's can be queued, so the final reply may go
 * now. Only when nothing is recorded yet: unlike "pl_replied", it never lowers the later time a
 * replay set (PL_ENGINE_SQL_REPLAYED), which waits for a copy another replica replayed and may
 * still hold queued, not for this owner's.
 */
#define PL_ENGINE_SQL_REPLIED_NONE                                                                 \
    "UPDATE required_response SET worker_replied_at = now() WHERE worker = $1 "                    \
    "AND request_id = $2 AND worker_replied_at IS NULL"

/*
 * The engine's statement "pl_replayed": a redelivery replayed the `timeout` reply of worker $1's
 * row $2 left unknown, and Kafka has that copy (066). The row's owner may still hold its own copy
 * queued (a process stalled, cut off from the reply partition's leader) while its partition went
 * to this replica: its producer delivers or drops it within message.timeout.ms of producing it,
 * which it does at most seconds after the row opened (engine.c, RR_OWNER_WINDOW_S; a copy that
 * failed is never produced again, the row is read again instead). So the final reply waits
 * until $3 seconds (that timeout and a margin) after the row opened, never less than now.
 */
#define PL_ENGINE_SQL_REPLAYED                                                                     \
    "UPDATE required_response SET worker_replied_at = greatest(now(), created_at + "               \
    "make_interval(secs => $3::float8)) WHERE worker = $1 AND request_id = $2 "                    \
    "AND worker_replied_at IS NULL"

/*
 * The engine's statement "pl_followups" (printf format: the spec's table): the follow-up
 * messages ($2, a JSON array) stored with the answer whose reply ($3) the same unit has just
 * written — also when that answer settled an unknown row late and
 * migration 044's trigger then rewrote the reply as the final one (without `required_response`
 * and `replayed`, with `resolved` and `resolution`): matched as it was rewritten. Before, a late
 * answer's follow-ups (a reject's or soft decline's reversal) were not stored, and a crash before
 * they were published lost them. It replaces the '[]' (none decided) a spec's store may have
 * written in the same unit (paylink-auth's does), never follow-ups another actor stored.
 */
#define PL_ENGINE_SQL_FOLLOWUPS                                                                    \
    "UPDATE %s SET followups = $2::jsonb WHERE request_id = $1 "                                   \
    "AND (followups IS NULL OR followups = '[]'::jsonb) "                                          \
    "AND (reply = $3::jsonb OR reply - 'resolved' - 'resolution' = $3::jsonb - "                   \
    "'required_response' - 'replayed' - 'resolved' - 'resolution')"

/* What a spec sees of a request in flight. Strings are NUL-terminated. */
struct pl_job {
    pl_engine *eng;
    pl_request req;              /* decoded request */
    const pl_service *svc;       /* its service bureau (from `services`) */
    const pl_services *services; /* the configuration snapshot the job started with */
    char fingerprint[65];
    char card_hash[65]; /* HMAC of the card number, "" for a token */
    /* The HMAC of the number card_hash is of (a card number, else a stored value card's) under
     * each earlier hash key (PAYLINK_HASH_KEY_PREVIOUS_FILES): an authorization recorded before
     * a key rotation holds one of these. */
    char card_hash_prev[PL_CONFIG_MAX_PREV_KEYS][65];
    int n_card_hash_prev;
    char card_masked[24]; /* stored mask, "" for a token */
    char card_type[5];    /* request's type or guessed from the number */
    char amount[24];      /* request amount as decimal text, "" when none */

    /* Set by the engine before spec->mark_sent: the id of this send attempt, which the spec's
     * mark-sent statement stores in sent_by and accepts as its own (see 007_sent_by.sql;
     * pl_engine_attempt_id). */
    char attempt[PL_ENGINE_ATTEMPT_MAX + 1];
    /* Set by the engine before spec->mark_sent of a job's second or later call
     * (spec->next_call): the attempt that marked the row sent for the job's previous call. The
     * mark-sent statement accepts a row 'sent' by it as this job's own and moves sent_by on to
     * `attempt`; no other actor's 'sent' row is ever taken over. "" for a job's first call. */
    char prev_attempt[PL_ENGINE_ATTEMPT_MAX + 1];

    /* Set by the engine before spec->record: false the first time a request is recorded, true
     * when its record unit runs again because the insert wrote nothing (a row is there, or the
     * insert refused the request): the engine then reads the row back (pl_lookup). */
    bool read_back;

    /* A card token a spec borrowed from an earlier transaction for this call (the deposit's
     * auth+capture with the authorization's token), kept across prepare runs; "" when none. */
    char borrowed_token[65];

    /* The card's token from the engine's getToken call that went before this request's call
     * (a bureau with PL_BUREAU_TOKENS_ONLY, the External Payment Service, when the request
     * carries a card number); call.card_token points at it. "" when none was made. */
    char card_token[65];

    /* Filled by spec->prepare. */
    pl_bureau_call call;
    char merchant_id[31];
    /* What pl_job_resolve_call resolved merchant_id from: the pay type ("" none), and that it
     * ran. The engine resolves the hierarchy again under a refreshed configuration to tell
     * whether the refresh moved the job's merchant to another account (a job whose merchant
     * it moved to another OAuth client goes by the settings it arrived with, all of them:
     * engine.c, merchant_moved). */
    char merchant_pay_type[5];
    bool merchant_resolved;
    /* merchant_id is the one of the transaction the call follows (pl_job_follow_merchant), not
     * the one resolved: on a bureau with OAuth it stays with the settings it arrived with while
     * they have it (engine.c, merchant_moved), and is said at warn when no configuration shows the
     * OAuth client it goes by with it (merchant_foreign). */
    bool merchant_followed;
    char op_name[16]; /* pl_bureau_op_name(call.op) */
    void *spec_data;  /* spec-owned; freed by spec->release */

    /* Filled by the engine after the bureau answered (spec->map, next_call and store read it;
     * NULL before the first answer: a job waiting for a bureau slot does not carry the ~2 KiB of
     * an answer, docs/perf/ROUNDS.md). Its svc_card_number (a generated stored value card) is
     * wiped as soon as spec->map returns. */
    pl_bureau_result *res;
    /* The reply; the spec fills it in prepare (refusals) or answer. Always there when a spec is
     * called (the engine allocates it; NULL only while the job waits for a bureau slot with an
     * empty reply: ~1 KiB less a waiting job holds, docs/perf/ROUNDS.md). */
    pl_reply *reply;
    char *reply_json; /* rendered by the engine before spec->store */

    /*
     * A card number the upstream system gets once, never again (the new card of a stored value
     * `generate`: it must print or e-mail it). spec->map may set it; reply.svc.card_number then
     * holds the number masked, and that is what reply_json, the row's stored reply and every
     * replay carry. Only the reply this job publishes after its spec->store changed the row
     * carries this number in svc.card_number instead; the engine renders that copy just before
     * producing it and wipes it, and this field, right after (also when the store changed
     * nothing, or the outcome became unknown: then no copy is ever made). Never logged, never
     * stored. "" = none.
     */
    char reply_card_number_once[21];
};

/* The spec's look-up row of a committed record unit (spec->record): result 0's columns after
 * request_id when the unit is that one statement (the insert returning the look-ups), else
 * result 1; *col is where the look-up's columns start in it. */
const PGresult *pl_job_lookup(const pl_db_unit *recorded, int *col);

/* A judge's words for a follow-on (deposit, reversal, void) whose authorization belongs to
 * another company or order, or is in another currency than the request's. */
#define PL_FOREIGN_AUTH "names an authorization of another company or order, or in another currency"

/* A judge's error (PL_FOREIGN_AUTH) on the authorization reference the request names: by
 * request id, else by transaction id (nothing when it names none). */
void pl_job_judge_auth_ref(const pl_request *r, pl_errors *errs);

typedef struct pl_spec {
    const char *worker; /* "auth": topics <prefix>.auth.request/.reply, group paylink-auth */
    const char *table;  /* transaction table with the standard columns request_id, fingerprint,
                           status, vendor_response, error_text, reply, followups, sent_at,
                           sent_by, answered_at */
    const char *const *protocols; /* NULL-terminated bureau protocols this worker accepts */
    const pl_db_stmt *stmts;      /* the spec's prepared statements */
    size_t nstmts;

    /*
     * Adds the INSERT of a new request (status 'received') with ON CONFLICT (request_id)
     * DO NOTHING RETURNING request_id as the unit's first statement, then any look-ups the
     * spec needs to prepare the call (e.g. the authorization a deposit refers to); the
     * engine appends its own read-back of the row as the last statement (job->read_back).
     * The first time (job->read_back false) the INSERT may return the look-ups' columns after
     * request_id instead, in one statement (a row only when it inserted, as before): one
     * statement per request, which pl_db can merge with others (db.h, "NAME:many"); the
     * look-ups then come as separate statements in the unit that reads the row back.
     */
    int (*record)(pl_job *job, pl_db_unit *u);

    /*
     * Chooses the bureau operation: fills job->call (op, merchant ID, amounts, references)
     * and job->merchant_id. Returns 0 to call the bureau; 1 when the request is answered
     * without a call (job->reply filled, e.g. refused by configuration or by a rule: the engine
     * stores it as final); negative on failure. `recorded` is the committed record unit: the
     * results of the spec's look-ups are pl_db_unit_result(recorded, 1 ..), or result 0's
     * columns after request_id (spec->record; pl_job_lookup tells which). It may run more than once
     * for a job (its mark's claim failed: recorded again, decided anew); the engine releases
     * job->spec_data and resets job->reply before each run.
     */
    int (*prepare)(pl_job *job, const pl_db_unit *recorded);

    /*
     * Optional. When the record unit neither inserted nor found the row (the spec's INSERT is
     * conditional, e.g. on its references belonging to the request's order), says why as field
     * errors: the request is answered `invalid`. `recorded` holds the look-ups.
     */
    void (*judge)(pl_job *job, const pl_db_unit *recorded, pl_errors *errs);

    /* Adds the statement moving the row from 'received' to 'sent' with sent_by = job->attempt
     * (also matching a row already 'sent' by this same attempt, so a unit re-sent after a lost
     * connection recognises its own mark), RETURNING a row when it did. It may also claim what
     * the call draws on (an authorization's amount): when the claim fails it must not mark,
     * and the engine records the request again so prepare decides with what is left. A spec
     * with next_call also accepts a row 'sent' by job->prev_attempt when that is not "" (the
     * mark of a job's next call; it claims nothing then), setting sent_at, sent_by and what
     * the row says was sent (its operation) anew. Whatever it claims must be released when the
     * engine puts the row back to 'received' (PL_ENGINE_SQL_UNMARK: a call given back at a stop
     * or a revoke, next_call, held_back): the table's unmark trigger does (078: claim_amount on
     * cc_deposit_trans, auth_reversal and svc_trans, an activation's card); a new kind of claim
     * needs its release there too, or the redelivery's mark claims it twice. */
    int (*mark_sent)(pl_job *job, pl_db_unit *u);
    /*
     * Optional, both or neither. prepare_alone: true when prepare needs nothing from the record
     * unit for this job (it is then called with recorded NULL). record_sent: adds the one
     * statement that records a new request already marked sent — the row record would insert,
     * with what mark_sent sets (status 'sent', sent_at, sent_by = job->attempt, the operation)
     * — RETURNING a row when it inserted, or when the row is there 'sent' by job->attempt
     * itself (a unit re-sent after a lost connection); nothing otherwise (ON CONFLICT). Used for
     * a call ready to leave (see engine.c record_sent); a spec whose mark claims something
     * (an amount) has none.
     */
    bool (*prepare_alone)(const pl_job *job);
    int (*record_sent)(pl_job *job, pl_db_unit *u);

    /* Maps job->res (a parsed bureau answer) onto job->reply. */
    void (*map)(pl_job *job);

    /*
     * Optional: a request answered by more than one bureau call (the stored value balance
     * inquiry before a batch authorization, J19). Called after spec->map read a call's answer
     * (job->res, job->reply), before anything is stored.
     *
     * Returns 0 when job->res and job->reply now hold the request's outcome (the answer as
     * mapped, or what the spec made of it): the engine stores it (spec->store) and replies, as
     * for a one-call job. Returns 1 to make another call on the same job: the spec has kept
     * what it needs of this answer in job->spec_data (job->res and job->reply are reset before
     * the next answer is read) and changed job->call for the next call (its op, amounts, clock;
     * what prepare set stays otherwise). The engine then builds that call's message, marks the
     * row sent again (spec->mark_sent with a fresh job->attempt; job->prev_attempt names the
     * previous one) and calls the bureau, keeping the job's bureau slot in between so a job
     * never waits in the slot queue with its row 'sent'. Negative: the next call cannot be
     * made. Then, and when the next call's message cannot be built or its mark fails, the
     * request is answered `error` (the bureau's outage code, seed message 19) and nothing more
     * is sent, whatever the earlier calls did: so a spec asks for a next call only after calls
     * without an effect such an answer would hide (an inquiry). NULL = every request is one
     * call.
     *
     * While the worker stops, or gives up the job's partition (a rebalance), no next call
     * starts: the drain's deadline could cut it short and leave its outcome unknown. The engine
     * puts the row back to 'received' (PL_ENGINE_SQL_UNMARK: only its own mark) and gives the
     * job up, its offset uncommitted, as it gives up a job waiting for its first call; the
     * redelivery runs the request again from its first call. This too relies on the calls
     * before a next call having no effect (made again, they change nothing at the bureau),
     * which is why no spec flag selects it: a spec whose first call held something at the
     * bureau (an authorization) must not use next_call for what follows. A mark that claims
     * something in the database (spec->mark_sent) is undone with the row only where its table's
     * unmark trigger knows the claim (078: claim_amount on the row it draws on, a card's
     * activation_pending); a spec whose mark claims anything else must not ask for a next call,
     * nor run on a bureau with OAuth (held_back gives such calls back too). J19 (an
     * authorization: an inquiry, then the PreauthorizationRequest) claims nothing.
     *
     * Each call is a call like any other: timed (paylink_bureau_call_seconds), retried on
     * connection failures, logged with its operation, written to the bureau message log. A
     * timeout, a lost connection or an unreadable answer of any call makes the outcome unknown
     * (required response, its operation the call's); a bureau never reached answers `error`
     * (spec->unreachable). The row stays 'sent' from the first mark to the outcome (unless its
     * owner puts it back, above), so a redelivery meanwhile waits for the owner (its wait starts
     * again when the row is marked for the next call) and, once the owner is presumed gone,
     * becomes a required response as for any row left 'sent': the engine never sends a
     * multi-call request again from a row another attempt left 'sent'.
     * At most PL_ENGINE_MAX_CALLS calls per job; asking for more answers `error`.
     */
    int (*next_call)(pl_job *job);

    /*
     * Optional. Writes into out (pl_db_unit_touch's key; "" = none) the row besides the
     * request's own that writing the job's row may change: the authorization a capture, a
     * reversal or a stored value deposit claims on, or the debit a follow-on credit claims on —
     * claimed by the spec's mark, and settled or released by the row's triggers whenever the row
     * reaches a final status, whichever statement moves it there (the spec's store, or the
     * engine's own `error` when the call could not be sent after the mark) —, or the Stored
     * Value Card row a stored value answer writes (pl_svc_touch_key). The engine declares it on
     * every unit it builds for the job, so that no merged statement of another job on that row
     * ever runs ahead of one of them (db.h): a capture's claim released by its error answer comes
     * before a later capture of the same authorization settles, as the two came. Called with
     * what the job knows when the unit is built (job->spec_data may be NULL: before prepare).
     * Every claim of the spec's mark is on the row it names, and is released by
     * PL_ENGINE_SQL_UNMARK when the engine puts the row back to 'received' because its call
     * must not start (the tables' unmark triggers, 078; engine.c, held_back).
     */
    void (*touch_key)(const pl_job *job, char *out, size_t outsize);

    /* Adds the statements that store the answer (final row with job->reply_json, history),
     * guarded by the row still being open ('sent' or 'unknown'). The first statement returns
     * a row when it changed the transaction row and none when another actor had already
     * answered it (then the engine replays what the row says). */
    int (*store)(pl_job *job, pl_db_unit *u);

    /*
     * Follow-up messages to publish with the reply (e.g. the reversal request a Decision
     * Manager reject calls for), given the reply of the bureau's answer job->res (an answer in
     * time, or a late one). Decided once, with the answer, and stored with it in the row's
     * followups when there are some (PL_ENGINE_SQL_FOLLOWUPS, in the store's unit), which a
     * redelivery publishes again as stored, so a crash between the commit and the publish loses
     * nothing. Never called for a replay: a replay has no answer to decide from, and what the
     * reply alone says (a 481, a soft decline) is no proof the issuer holds anything; a row
     * without follow-ups is replayed with none (engine.c, replay). spec->store may record that
     * none were decided by setting followups to '[]' where NULL in its own update (one
     * statement still, so its units still merge: paylink-auth's does); the engine's statement,
     * when there are some, replaces that '[]'. NULL = none.
     */
    int (*followups)(pl_job *job, json_object *reply);

    /* Frees job->spec_data. NULL = the engine free()s it (a plain malloc'd struct). */
    void (*release)(pl_job *job);

    /*
     * Optional. The bureau was never reached (no connection after its connect attempts, so
     * nothing was sent): job->reply already says `error` with the bureau's outage code as
     * vendor_response (SU for stored value). The spec may add what its seed says such an answer
     * carries (the stored value balance inquiry's 0.00) before the reply is stored and
     * published. NULL = none.
     */
    void (*unreachable)(pl_job *job);

    /*
     * Optional. True when the job's request must never be answered unsent by the breaker on a
     * stalled bureau's slot queue (PAYLINK_SLOT_WAIT_MAX_MS, engine.c slot_stall): it waits for
     * a slot as before however long the bureau hangs, in its place in the queue. For requests
     * whose `error` nobody would act on and that undo something: paylink's own reversals
     * (paylink-reversal; reversal_own.h), refused, left the whole hold on the card. Called after
     * spec->prepare decided the call (job->spec_data as it left it), only for a request of a
     * stalled bureau that finds no free slot, never on the common path. NULL = none is.
     */
    bool (*breaker_exempt)(const pl_job *job);
} pl_spec;

/*
 * Publishes an extra message with the job's reply (from spec->followups). topic_suffix is
 * appended to "<prefix>." (e.g. "reversal.request"); key and payload are copied. The job's
 * offset is committed only after it is delivered too.
 */
int pl_job_publish(pl_job *job, const char *topic_suffix, const char *key,
                   const char *payload) PL_MUSTCHECK;

/*
 * Fills the parts of job->call that come from configuration, the same way for every worker:
 * job->merchant_id and call.merchant_id (the seed's merchant ID hierarchy for pay_type), the
 * currency and bill/ship country cross-references, and the bureau's card type code. Notes
 * pay_type (merchant_pay_type): a refresh that would resolve another merchant ID under another
 * OAuth client keeps the job on the bureau settings it arrived with.
 */
void pl_job_resolve_call(pl_job *job, const char *pay_type);

/*
 * After pl_job_resolve_call: a call on an earlier transaction (the capture or reversal of an
 * authorization, the credit of a debit) goes under the merchant ID that transaction was sent
 * with (merchant_id; nothing changes when it is NULL or ""), whatever the configuration or the
 * request's entity and pay type say now: the bureau finds a transaction within its merchant
 * only, and a follow-on without the entity (a reversal paylink publishes itself), or after an
 * operator changed a merchant ID, would name it under another. On a bureau with OAuth such a call
 * is said at warn when no configuration the engine holds shows the OAuth client it goes by with
 * that merchant ID (engine.c, merchant_foreign).
 */
void pl_job_follow_merchant(pl_job *job, const char *merchant_id);

/*
 * The request id of a follow-up message derived from request_id: "<request_id>.<suffix>" when
 * that fits the contract's 50 characters, else "<suffix>.<46 hex digits of its SHA-256>".
 * Deterministic, so a republish after a crash is de-duplicated downstream. outsize >= 51.
 */
void pl_job_derived_request_id(const char *request_id, const char *suffix, char *out,
                               size_t outsize);

/* The suffixes of the reversals paylink itself requests of an authorization: the reversal of a
 * Decision Manager reject (481, published with the reject by paylink-auth or the resolver that
 * found it), the resolver's timeout reversal of an authorization it cannot confirm, and the
 * reversal of one an auth+capture replaced (paylink-deposit, or the resolver). */
#define PL_DM_REVERSAL_SUFFIX "rev"
#define PL_TIMEOUT_REVERSAL_SUFFIX "tor"
/* The reversal of the authorization an approved auth+capture (a deposit) replaced. */
#define PL_DEPOSIT_REVERSAL_SUFFIX "vdr"
/*
 * The statement that records the `.vdr` of the authorization auth+capture $1 replaced as owed
 * (replaced_auth_reversal, 057, 059): when that authorization was voided for it with nothing of
 * it captured, on the deposit's service bureau with Send reversal, for what was voided; a row
 * already owed is kept. deposit_ok says which state of the deposit d owes it (paylink-deposit's
 * store: approved, its follow-ups holding no reversal; paylinkctl deposits confirm: `*CONF`).
 * Deferred voids owe theirs in their trigger (paylink_deferred_void).
 */
#define PL_SQL_OWE_REPLACED_REVERSAL(deposit_ok)                                                   \
    "INSERT INTO replaced_auth_reversal (deposit_request_id, auth_history_id, auth_request_id, "   \
    "amount) SELECT d.request_id, h.id, h.request_id, h.amount_voided FROM cc_deposit_trans d "    \
    "JOIN auth_history h ON h.id = d.auth_history_id "                                             \
    "JOIN auth_service s ON s.service_bureau = d.service_bureau "                                  \
    "WHERE d.request_id = $1 AND d.operation = 'auth_capture' AND " deposit_ok " "                 \
    "AND s.send_reversal AND h.status = 'voided' AND h.void_reason = 'auth_capture' "              \
    "AND h.voided_by = $1 AND h.amount_deposited = 0 AND h.amount_voided > 0 "                     \
    "AND coalesce(h.request_id, '') <> '' ON CONFLICT (deposit_request_id) DO NOTHING"
/* The same reversal published again by paylink-deposit's resolver when the first, published with
 * the auth+capture's answer, was refused while another deposit's claim held the void (057). */
#define PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX "vdr2"
/* The reversal of the authorization a soft-declined auth+capture (a deposit) made: the issuer
 * approved it, CyberSource declined it (pl_cybersource_soft_decline), nothing was captured. */
#define PL_SOFT_DECLINE_REVERSAL_SUFFIX "sdr"

/*
 * The authorization a reversal paylink publishes names: a paylink authorization
 * (auth_request_id), or when that is NULL/"" one paylink holds no request of, inline as the
 * contract's manual authorization — the bureau's transaction_id, request_token (optional), its
 * authorization number, date (YYYY-MM-DD, or an ISO 8601 time whose date is taken) and
 * authorized amount (decimal text), which paylink-reversal requires of a manual authorization.
 */
typedef struct pl_reversal_of {
    const char *auth_request_id;
    const char *transaction_id, *request_token, *number, *date, *amount;
} pl_reversal_of;

/*
 * Publishes (with the job's reply, pl_job_publish) a `reversal` request for the job's order
 * (company, order, pay_seq, service) of `amount` (decimal text) in `currency`, referring to the
 * authorization of. Returns 0 or a negative pl_err.
 */
int pl_job_publish_reversal(pl_job *job, const char *reversal_id, const char *amount,
                            const char *currency, const pl_reversal_of *of) PL_MUSTCHECK;

/*
 * What the issuer holds after an authorization the job made was refused by the bureau (a soft
 * decline, a Decision Manager reject): the amount the answer says (a partial approval holds
 * less than was asked), else the request's. Formatted into out (decimal text) and true when it
 * is more than nothing; false when nothing is held (a card verification of 0.00, a request
 * without an amount): a reversal of nothing is no request paylink-reversal takes.
 */
bool pl_job_held_amount(const pl_job *job, char *out, size_t outsz);

/*
 * Adds to ref (a JSON object: a reversal request's auth_ref) what of names (pl_reversal_of):
 * request_id, or transaction_id, request_token, number (always, "" when none), date (its first
 * 10 characters) and amount, each when given. Returns 0 or PL_ERR_NOMEM.
 */
int pl_reversal_of_json(const pl_reversal_of *of, json_object *ref) PL_MUSTCHECK;

/*
 * The reply every decision-based answer (CyberSource) maps to, for spec->map to start from:
 * fault or ERROR → error; ACCEPT → approved (amount_approved = the bureau's amount, else the
 * one sent; a partial approval is smaller); REVIEW → review (hold FS unless vendor_response
 * says otherwise); REJECT → rejected when fraud screening refused it (481, 400, or a code held
 * FS), else declined; no usable decision → the vendor_response table decides. Vendor response,
 * decision, the hold reason of vendor_response, the bureau ids, AVS/CVV and the token are
 * copied. Specs then add what is theirs.
 */
void pl_job_map_answer(pl_job *job); /* (an EXT REJECT / ERROR: pl_ext_refusal, ext_rules.h) */

/*
 * seed (Decision Manager): a REVIEW is an authorization the issuer approved, held for fraud
 * review; its amount (the bureau's, else the one sent) is recorded as approved, so a deposit
 * captures it rather than authorizing again. For authorizations: paylink-auth's map, and the
 * resolver's when a query finds the answer.
 */
void pl_job_review_amount(pl_job *job);

/* The engine's card hash key, for specs that hash (e.g. svc card numbers); NULL with *len 0
 * when eng is NULL (a spec's unit test). */
const unsigned char *pl_engine_hash_key(const pl_engine *eng, size_t *len);

/*
 * Runs a worker: reads the configuration from the environment (config.h), connects, and
 * serves until SIGTERM/SIGINT. Returns the process exit status.
 */
int pl_engine_main(const pl_spec *spec, int argc, char **argv);

#endif
