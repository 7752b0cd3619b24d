/*
 * opsctl.h: the operator's commands of paylinkctl: the required responses (the seed's WREQ
 * screens, "Working with Required Responses") looked up, settled and asked about again through
 * the resolver (resolver.h), an order's payment story, outcome statistics, and a worker's dead
 * letters with their replay.
 *
 *   paylinkctl wreq list [--bureau B] [--worker W] [--older-than DURATION]
 *                        [--status unsettled|open|escalated|resolved|all] [--limit N] [--json]
 *   paylinkctl wreq show ID [--json]
 *   paylinkctl wreq resolve ID --outcome approved|declined|error|review|rejected --by NAME
 *                        [--note TEXT] [--amount A] [--transaction-id T] [--auth-number N]
 *                        [--vendor-response CODE] [--json]
 *   paylinkctl wreq retry ID [--now] [--json]
 *   paylinkctl order show --company C --order O [--json]
 *   paylinkctl stats [--since DURATION|TIMESTAMP] [--bureau B] [--json]
 *   paylinkctl dlq list --worker W [--since DURATION] [--limit N] [--json]
 *   paylinkctl dlq replay --worker W (--offset P:O [--offset P:O ...] | --all-since DURATION)
 *                         [--dry-run] [--force] [--json]
 *
 * Output: a table (or, for wreq show, labelled blocks) for people by default; with --json one
 * JSON object per line, the fields named below. Times are RFC 3339 UTC ("2024-05-01T10:00:00Z"),
 * amounts decimal text as in replies ("120.00"), a missing value null.
 *
 * wreq list: required_response rows, oldest first, at most N (default 1000; a note on stderr
 *   says when more matched). --status unsettled (default: open and escalated, what is left to
 *   settle), open, escalated, resolved, or all: compared as text, so statuses this build does
 *   not know are listed as they are (with all). JSON:
 *   {"id", "request_id", "worker", "status", "company", "order", "pay_seq", "service",
 *   "operation", "amount", "currency", "reason", "detail", "created_at", "age_s", "queries",
 *   "last_query_at", "last_query_result", "record_request_id" (the RequestID of the bureau's
 *   record the resolver escalated the row from, what --transaction-id takes; null when none
 *   or escalated before migration 067), "captured" (the bureau said the auth+capture was
 *   captured: an operator's refusal reverses nothing), "next_step_at", "next_step_in_s" (an
 *   open row's next step, from the view required_response_work; null otherwise),
 *   "escalated_at", "lease_owner", "lease_until" (while a resolver holds the row, else null),
 *   "resolution", "resolved_how", "resolved_by", "resolution_note", "resolved_at",
 *   "reply_pending"}. The table shows the status (with the resolution and how), the queries,
 *   the next step ("due", "in 5m00s", "operator" for an escalated row, "taken" while leased),
 *   the record's RequestID (TRANSACTION_ID) and the last result.
 * wreq show ID: ID is a required_response id (digits) or a request_id; an id wins, and a
 *   request_id with required responses of several workers is refused (give the id). One JSON
 *   object {"required_response": {as list}, "transaction": {the row of the worker's table:
 *   cc_auth_trans, cc_deposit_trans, auth_reversal or svc_trans: status, operation, sent_at,
 *   sent_by, vendor_response, amounts, card mask, the stored reply ...} or null, "history":
 *   [auth_history rows of an authorization; cc_deposit_history rows and the auth_history rows a
 *   deposit brought; the auth_history row a reversal reversed]}. Card data: only the masks the
 *   tables hold; never a card hash, token or CyberSource requestToken.
 * wreq resolve ID: an operator's outcome for an open or escalated required response (ID: its
 *   id, digits only: a command that writes takes no request_id), through pl_resolver_operator:
 *   applied to the transaction row as the worker applies an answer, resolved_how 'operator',
 *   resolved_by NAME (1 to 60 characters, no control character, no card number), the note
 *   (at most PL_OPSCTL_NOTE_MAX bytes); the final reply ("resolved": true, "resolution":
 *   "operator") published on <prefix>.<worker>.reply with pl_ctlkafka_produce. --amount (not
 *   more than what the call sent, pl_resolver_amount_sent: the row's amount, a reversal's claim
 *   on its authorization or a timeout reversal's authorization's): with approved or review, the
 *   amount approved or held, else what was sent; with rejected, or declined with a soft
 *   decline's --vendor-response (200, 230, 520), what the issuer holds after a partial
 *   approval, which the reversal asks for (else the row's); refused with any other outcome,
 *   which holds nothing. --auth-number only with approved, review or rejected. Kafka is
 *   checked first (the reply topic's metadata): unreachable, nothing is changed (exit 3); a
 *   publish that fails after the outcome was applied leaves the reply to the worker's resolver
 *   and says so (exit 0). One line, or with --json one object {"id", "request_id", "worker",
 *   "applied", "outcome", "amount", "by", "published", "reply_topic", "message" (the
 *   resolver's), "required_response" (the row after, as wreq list; null when unreadable)}.
 * wreq retry ID: pl_resolver_retry: an open or escalated row is opened again and due now (the
 *   worker's resolver takes it within its interval); --now takes the step here at once (the
 *   bureau's query where it can be asked, else it is escalated again) and prints what came of
 *   it. --json: {"id", "request_id", "worker", "now", "done", "published" (null when nothing
 *   was published), "message", "required_response"}.
 *   Both run under a lease owner "paylinkctl:<NAME>@<host>" (NAME: --by, for retry $USER),
 *   with the bureaus' CA bundle of PAYLINK_CA_FILE.
 * order show: every authorization (cc_auth_trans, and its auth_history rows), deposit
 *   (cc_deposit_trans, cc_deposit_history), reversal (auth_reversal), stored value transaction
 *   (svc_trans), required response and Decision Manager decision (dm_decision) of the order,
 *   in time order, one line each: {"kind", "at", "request_id", "pay_seq", "service", "type",
 *   "operation", "status", "amount", "amount_approved", "currency", "vendor_response",
 *   "transaction_id", "detail"}; kind is auth, auth_history, deposit, deposit_history,
 *   reversal, svc, required_response or dm_decision. An order without any is an error (exit 1).
 * stats: requests received since --since (a DURATION ago, or a TIMESTAMP; default 24h), from
 *   the four transaction tables: {"kind": "period", "since", "until"}, then per bureau, worker,
 *   request type, status, vendor response and currency {"kind": "outcome", "service", "worker",
 *   "type", "status", "vendor_response", "description", "currency", "count",
 *   "amount_requested", "amount_approved" (of the approved ones)}, then the required responses
 *   open now (whatever their age) per bureau and worker {"kind": "required_responses_open",
 *   "service", "worker", "count", "oldest_at", "oldest_age_s"}.
 * dlq list: the dead letters on <prefix>.<worker>.request.dlq (since a DURATION ago), the
 *   newest N (default 100) in time order, read without a consumer group and without committing
 *   (ctlkafka.h: pl_ctlkafka_scan): {"partition", "offset", "timestamp", "key", "kind" (what
 *   the dead letter is, pl_opsctl_dlq_kind_of: the envelope's "kind", invalid, conflict,
 *   unpublished, given_up, unreadable, or a word this build does not know as it is; for an
 *   envelope written before it had one, the kind its words tell), "kind_inferred" (true for
 *   the latter), "answered" (a request given up: "error" or "timeout", the envelope's; else
 *   null), "error", "errors": [{"field", "error"}], "request_topic", "request_partition",
 *   "request_offset", "request_id", "type" (when the request text is a readable JSON object),
 *   "truncated", "request_bytes" (when truncated), "redacted" (the envelope's: true when the
 *   redaction changed the copy, which replay refuses; null when the envelope predates the mark,
 *   which replay sends only with --force), "envelope" (false for a message that is no
 *   envelope)}. The table's KIND says the kind (pl_opsctl_dlq_kind_cell), its NOTE the rest
 *   (pl_opsctl_dlq_note).
 * dlq replay: sends the envelope's "request" (the redacted original text, byte for byte) of
 *   each dead letter named by --offset (its own partition:offset on the dead-letter topic, as
 *   dlq list prints them) or of every one since --all-since, to <prefix>.<worker>.request, with
 *   the dead letter's own Kafka key (paylink writes it as the request's <company>-<order>); a
 *   dead letter without a key gets <company>-<order> from the request JSON, as paylinkctl send
 *   does, and a note on stderr says so. Replay suits requests validation refused before they
 *   were recorded, whose fault was elsewhere and survives in the copy or is fixed meanwhile (a
 *   service bureau added); the dead-letter topic holds more than those (pl_opsctl_dlq_kind_of).
 *   Refused, each with its reason on stderr (the others are still sent, exit 1; a dry run
 *   refuses the same): a message that is no envelope; pl_opsctl_replay_plan's refusals (an
 *   unreadable record's copy, which holds no request, a truncated request, another topic's
 *   envelope, a request without a valid request_id, an idempotency conflict's copy, a request
 *   whose reply could not be published, a kind this build does not know, a copy the redaction
 *   changed — marked "redacted", its card number masked, values removed, or refused for a card
 *   number in another field — and a request the worker gave up unless --force); and a request
 *   whose request_id has a row in the worker's table (pl_opsctl_replay_check_row; --force never
 *   overrides it, and a given-up request refused for want of --force is told its row instead,
 *   when it has one, and, answered `timeout`, that its outcome is to be settled first): the
 *   worker answers such a request from its row, or, the copy being redacted, takes it for
 *   another request under the same request_id and publishes a false `invalid` reply after the
 *   real one. The database is needed (PAYLINK_DB), also for a dry run. One line per dead letter
 *   sent: {"dlq_partition", "dlq_offset", "topic", "partition", "offset" (null in a dry run),
 *   "key", "key_source" ("dead_letter", "request", "none"), "request_id", "type", "card_masked"
 *   (false: a masked copy is refused), "dry_run", "request"} (pl_opsctl_replay_output: the
 *   request redacted again, and the key, request_id and type masked as dlq list masks them).
 *
 * DURATION: whole numbers with units w, d, h, m, s, largest first, each unit once ("90s", "30m",
 * "2h", "1d", "1h30m"), at most PL_OPSCTL_MAX_DURATION_S. TIMESTAMP: YYYY-MM-DD, optionally
 * with [T| ]HH:MM[:SS] and Z or +HH:MM / -HH:MM; without a zone it is UTC.
 *
 * Exit status: 0 done; 1 error (no database or broker, a failure, nothing found, a dead letter
 * refused; for wreq resolve and retry: refused — no such row, resolved already, being worked
 * on by a resolver right now, the transaction not unknown — with the resolver's message);
 * 2 usage (the command line was not accepted; nothing was read); 3 (wreq resolve and retry)
 * the database or Kafka cannot be used. Option values are never echoed in errors (an order
 * number or id may be a mistyped card number).
 *
 * Memory: pl_opsctl_opts points into argv. Strings returned are malloc'd and json_object results
 * owned by the caller, as each function says. Single-threaded (a CLI).
 */
#ifndef PL_OPSCTL_H
#define PL_OPSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "ctlkafka.h"
#include "err.h"
#include "reply.h"
#include "resolver.h"

enum {
    PL_OPSCTL_EXIT_OK = 0,
    PL_OPSCTL_EXIT_ERROR = 1,
    PL_OPSCTL_EXIT_USAGE = 2,
    PL_OPSCTL_EXIT_UNAVAILABLE = 3
};

/* Ten years: a longer look back is a mistake. */
#define PL_OPSCTL_MAX_DURATION_S (3650LL * 86400)
#define PL_OPSCTL_MAX_LIMIT 100000
#define PL_OPSCTL_WREQ_LIMIT 1000
#define PL_OPSCTL_DLQ_LIMIT 100
#define PL_OPSCTL_MAX_OFFSETS 100
#define PL_OPSCTL_STATS_SINCE_S 86400
/* required_response.resolved_by is varchar(60); the note fits resolution_note (300) with it. */
#define PL_OPSCTL_BY_MAX 60
#define PL_OPSCTL_NOTE_MAX 200
/* required_response.lease_owner is varchar(120). */
#define PL_OPSCTL_OWNER_MAX 120

typedef enum pl_opsctl_cmd {
    PL_OPSCTL_WREQ_LIST = 1,
    PL_OPSCTL_WREQ_SHOW,
    PL_OPSCTL_ORDER_SHOW,
    PL_OPSCTL_STATS,
    PL_OPSCTL_DLQ_LIST,
    PL_OPSCTL_DLQ_REPLAY,
    PL_OPSCTL_WREQ_RESOLVE,
    PL_OPSCTL_WREQ_RETRY,
} pl_opsctl_cmd;

/* A point in time given as a duration back from now, or as a timestamp. */
typedef struct pl_opsctl_since {
    bool given;
    bool is_duration;
    long long seconds;  /* is_duration */
    char timestamp[32]; /* otherwise: "YYYY-MM-DDTHH:MM:SS+HH:MM" */
} pl_opsctl_since;

/* A message's place on a topic. */
typedef struct pl_opsctl_offset {
    int32_t partition;
    int64_t offset;
} pl_opsctl_offset;

typedef struct pl_opsctl_opts {
    pl_opsctl_cmd cmd;
    bool json;
    const char *bureau;     /* wreq list, stats: NULL = every one */
    const char *worker;     /* wreq list: NULL = every one; dlq: required */
    const char *status;     /* wreq list: "unsettled" (default), "open", "escalated", "resolved";
                               NULL = all */
    long long older_than_s; /* wreq list: -1 when not given */
    long limit;             /* wreq list, dlq list */
    const char *id;         /* wreq show: digits (an id) or a request_id; resolve, retry: the id */
    int company;            /* order show */
    const char *order;      /* order show */
    pl_opsctl_since since;  /* stats, dlq list (a duration), dlq replay (--all-since) */
    pl_opsctl_offset offsets[PL_OPSCTL_MAX_OFFSETS]; /* dlq replay */
    size_t noffsets;
    bool dry_run;                /* dlq replay */
    bool force;                  /* dlq replay: send requests the worker gave up as well */
    int64_t rr_id;               /* wreq resolve, retry: the required response id (> 0) */
    bool has_outcome;            /* wreq resolve: --outcome given */
    pl_status outcome;           /* approved, declined, error, review or rejected */
    const char *by;              /* wreq resolve: who decided */
    const char *note;            /* wreq resolve: NULL when not given */
    bool has_amount;             /* wreq resolve --amount */
    int64_t amount;              /* minor units */
    const char *transaction_id;  /* wreq resolve: NULL when not given */
    const char *auth_number;     /* wreq resolve: NULL when not given */
    const char *vendor_response; /* wreq resolve --vendor-response (a decline's reasonCode) */
    bool now;                    /* wreq retry: take the step here, at once */
} pl_opsctl_opts;

/*
 * Parses argv[0] ("wreq", "order", "stats" or "dlq"), its subcommand and options ("--name value"
 * or "--name=value"), checking each value and what the command requires (see the top of this
 * file); an option given twice (but --offset), or one of another command, is refused. Returns 0
 * with *o filled, or PL_ERR_INVALID with the reason in errstr (naming options, never values).
 */
int pl_opsctl_parse(int argc, char **argv, pl_opsctl_opts *o, char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

/*
 * Checks a person's name given to `option` (--by): 1 to PL_OPSCTL_BY_MAX characters of valid
 * UTF-8, no control character, no card number. Returns 0 or PL_ERR_INVALID with the reason in
 * errstr (the value is not echoed).
 */
int pl_opsctl_check_name(const char *option, const char *name, char *errstr,
                         size_t errstr_size) PL_MUSTCHECK;

/* pl_opsctl_check_name for a name stored in a column of max characters (bureau set's audit:
 * 100; a stored value card's activated_by: 50). */
int pl_opsctl_check_name_max(const char *option, const char *name, int max, char *errstr,
                             size_t errstr_size) PL_MUSTCHECK;

/*
 * Checks an operator's note given to `option` (--note): at most PL_OPSCTL_NOTE_MAX bytes of valid
 * UTF-8, no control character, no card number (it is stored). Returns 0 or PL_ERR_INVALID with
 * the reason in errstr (the value is not echoed).
 */
int pl_opsctl_check_note(const char *option, const char *note, char *errstr,
                         size_t errstr_size) PL_MUSTCHECK;

/* The outcome `wreq resolve` hands to pl_resolver_operator, from the parsed options: --amount
 * as the amount approved (has_amount) of approved or review, or as what the issuer holds
 * (amount alone, has_amount false) of a reject or a soft decline. */
void pl_opsctl_resolve_outcome(const pl_opsctl_opts *o, pl_resolve_outcome *out);

/*
 * The amount `wreq resolve` names in its line (and --json "amount"), as text into out ("" when
 * none: an outcome that holds nothing, or nothing sent and no --amount), from sent, what the
 * call sent as pl_resolver_amount_sent reads it (decimal text, "" when none): --amount, else
 * sent, for approved or review. Returns 0, or PL_ERR_INVALID when --amount is more than sent
 * (the resolver would refuse it; nothing is changed).
 */
int pl_opsctl_resolve_amount(const pl_opsctl_opts *o, const char *sent, char *out,
                             size_t outsize) PL_MUSTCHECK;

/*
 * The lease owner of paylinkctl's resolver: "paylinkctl:<name>@<host>", at most
 * PL_OPSCTL_OWNER_MAX bytes (and outsize - 1), cut on a UTF-8 character boundary: the host is
 * cut first, then the name. host may be NULL or empty ("paylinkctl:<name>").
 */
void pl_opsctl_owner(const char *name, const char *host, char *out, size_t outsize);

/* DURATION (see above) as seconds. false (and *seconds untouched) when s is not one. */
bool pl_opsctl_parse_duration(const char *s, long long *seconds);

/* TIMESTAMP (see above) normalized as "YYYY-MM-DDTHH:MM:SS+HH:MM" (outsize >= 26): a real
 * calendar date, years 1970-9999, zones up to 14 hours. false when s is not one. */
bool pl_opsctl_parse_timestamp(const char *s, char *out, size_t outsize);

/* "P:O", a partition (0-2147483647) and an offset (0-2^63-1), digits only. */
bool pl_opsctl_parse_offset(const char *s, pl_opsctl_offset *out);

/* An age for people: "45s", "12m05s", "3h05m", "2d03h"; negative reads as 0. */
void pl_opsctl_format_age(long long seconds, char *out, size_t outsize);

/* ---- tables for people --------------------------------------------------------------------- */

typedef struct pl_opsctl_table pl_opsctl_table;

/* Widest a cell is printed, in characters; longer ones are cut and end in "...". */
#define PL_OPSCTL_CELL_MAX 60

/* A table with ncols columns and their headers (copied). NULL when out of memory. */
pl_opsctl_table *pl_opsctl_table_new(size_t ncols, const char *const *headers);

/* Right-aligns column col (amounts, counts). t may be NULL (nothing to do). */
void pl_opsctl_table_align_right(pl_opsctl_table *t, size_t col);

/*
 * Adds a row of ncols cells (NULL reads as empty), copied as printed: control characters become
 * '?', a cell longer than PL_OPSCTL_CELL_MAX characters is cut on a UTF-8 boundary, an empty one
 * is "-". Returns 0 or PL_ERR_NOMEM.
 */
int pl_opsctl_table_add(pl_opsctl_table *t, const char *const *cells) PL_MUSTCHECK;

/* Number of rows added. */
size_t pl_opsctl_table_rows(const pl_opsctl_table *t);

/* Prints the headers and rows, columns two spaces apart and padded to their widest cell (in
 * characters), without trailing spaces. */
void pl_opsctl_table_print(const pl_opsctl_table *t, FILE *out);

/* NULL is fine. */
void pl_opsctl_table_destroy(pl_opsctl_table *t);

/*
 * Prints obj's members as "<indent>key  value" lines, keys padded to the longest: strings as
 * they are (control characters as '?'), null as "-", objects and arrays as compact JSON.
 */
void pl_opsctl_print_fields(FILE *out, json_object *obj, const char *indent);

/* ---- dead letters -----------------------------------------------------------------------------
 */

/* A dead-letter envelope (common/dlq.h) as read back; every pointer borrows from root/req. */
typedef struct pl_opsctl_dead_letter {
    json_object *root;      /* the envelope (owned) */
    const char *error;      /* "" when none */
    json_object *errors;    /* the array of {field, error}; NULL when none */
    const char *topic;      /* the request topic it came from; "" when none */
    int32_t partition;      /* there; -1 when none */
    int64_t offset;         /* there; -1 when none */
    const char *request;    /* the redacted request text */
    size_t request_len;     /* its length */
    bool truncated;         /* the request was cut to fit */
    bool redacted;          /* the envelope says the redaction changed the request */
    bool redacted_known;    /* the envelope has "redacted" (those written before do not) */
    int64_t request_bytes;  /* its size before, when truncated; else -1 */
    const char *kind;       /* the envelope's "kind" (a PL_DLQ_KIND_* word, or one this build
                               does not know); NULL when it has none (written before) */
    const char *answered;   /* its "answered" (given_up: "error" or "timeout"); NULL when none */
    json_object *req;       /* the request when its text is a JSON object (owned), else NULL */
    const char *request_id; /* from req; NULL when none */
    const char *type;       /* from req; NULL when none */
} pl_opsctl_dead_letter;

/*
 * Reads an envelope: a JSON object with a string "request". Returns 0 with *d filled (free it
 * with pl_opsctl_dlq_free), PL_ERR_PARSE when payload is no envelope (*d is then empty and
 * freeing it is fine), PL_ERR_NOMEM.
 */
int pl_opsctl_dlq_parse(const char *payload, size_t len, pl_opsctl_dead_letter *d) PL_MUSTCHECK;

/* Releases what d holds; zeroes it. Safe twice. */
void pl_opsctl_dlq_free(pl_opsctl_dead_letter *d);

/* The field errors as one line, "field: error; field: error" ("" when none). Malloc'd; NULL
 * when out of memory. */
char *pl_opsctl_dlq_errors_text(const pl_opsctl_dead_letter *d);

/*
 * The dlq list object of message m (d: its envelope, NULL when it is none). The key and every
 * text taken from the envelope (error, errors, request_topic, request_id, type, kind, answered)
 * are printed with card numbers masked (pl_card_scrub_full, in the J16 mode), since anyone can
 * write to the topic. Returns a new object (the caller puts it), or NULL when out of memory.
 */
json_object *pl_opsctl_dlq_json(const pl_ctlkafka_msg *m, const pl_opsctl_dead_letter *d);

/*
 * The KIND cell of dlq list's table for line (a pl_opsctl_dlq_json object), into out (cut to
 * outsize, NUL-terminated; nothing written when outsize is 0): its "kind", with "answered" for
 * a request given up ("given_up (timeout)"), and " (inferred)" when the envelope had none and
 * the kind is told from its words; "" for a message that is no envelope. Control characters
 * are shown as '?'.
 */
void pl_opsctl_dlq_kind_cell(json_object *line, char *out, size_t outsize);

/*
 * The NOTE cell of dlq list's table for line (a pl_opsctl_dlq_json object), into out (cut to
 * outsize, NUL-terminated; nothing written when outsize is 0): "not an envelope"; else "truncated
 * (N bytes)", and "redacted (replay refused)" when the envelope says the redaction changed the
 * copy, or "no redacted mark (replay needs --force)" when it predates the mark, joined by "; "; ""
 * when none applies.
 */
void pl_opsctl_dlq_note(json_object *line, char *out, size_t outsize);

/*
 * Why the engine (common/engine.c) put a request on the dead-letter topic: the envelope's
 * "kind" (common/dlq.h, PL_DLQ_KIND_*) says it. An envelope written before it had one is told
 * by its words instead (in brackets below): the refusals carry field errors ("errors"), the
 * other paths none.
 */
typedef enum pl_opsctl_dlq_kind {
    /* Validation refused it before it was recorded (an `invalid` reply): the one kind a
     * replay is for. [Field errors, or the error "invalid request".] */
    PL_OPSCTL_DLQ_INVALID = 1,
    /* Its request_id had been used for another request: that request's row stands, and this
     * one was never recorded. [The error "request_id reused with different content", or a
     * field error naming an idempotency key conflict.] */
    PL_OPSCTL_DLQ_CONFLICT,
    /* Recorded and answered, but its reply could not be published: the outcome is in its row.
     * [The error "its reply could not be published ...".] */
    PL_OPSCTL_DLQ_UNPUBLISHED,
    /* The worker gave the request up (a database failure, a row that never settled) and
     * answered `error` (nothing can have reached the bureau) or `timeout` (the outcome left
     * unknown): the envelope's "answered" says which. [Anything else; which of the two is not
     * told.] */
    PL_OPSCTL_DLQ_GIVEN_UP,
    /* A record of the request topic the consumer could not read: the envelope says where it
     * was and why, its request is "" (there was none to copy). Only with a "kind". */
    PL_OPSCTL_DLQ_UNREADABLE,
    /* A "kind" this build does not know (a newer engine's): replay refuses it. */
    PL_OPSCTL_DLQ_OTHER,
} pl_opsctl_dlq_kind;

/* The kind of dead letter d (see above): its "kind" when it has one (a string), else told
 * from its words. */
pl_opsctl_dlq_kind pl_opsctl_dlq_kind_of(const pl_opsctl_dead_letter *d);

/* How one dead letter is replayed. */
typedef struct pl_opsctl_replay {
    char key[128];          /* the message key; "" when none */
    const char *key_source; /* "dead_letter", "request" (derived <company>-<order>), "none" */
    bool card_masked;       /* the request names a card whose number the copy masked */
    bool needs_force;       /* refused only as one the worker gave up: --force would send it,
                               unless its request_id has a row (pl_opsctl_replay_check_row) */
} pl_opsctl_replay;

/*
 * Decides whether and how envelope d, read from a dead letter whose Kafka key was
 * key[0, key_len) (key may be NULL), is replayed onto request_topic, from the envelope alone
 * (the row is pl_opsctl_replay_check_row's). Returns 0 with *p filled, or PL_ERR_INVALID with
 * the reason in errstr (*p is filled as far as it was read): the request was truncated; the
 * envelope came from another topic; the key is longer than the buffer; the request is not a
 * JSON object with a request_id the contract accepts (the worker would refuse it again, and
 * its row cannot be looked for); the dead letter is an unreadable record's (first of all: it
 * holds no request, nothing can be sent, and the upstream system must send it again; the
 * refusal says where the record was), an idempotency conflict's or an unpublished reply's
 * (pl_opsctl_dlq_kind_of: its request_id has a row, and sent again the copy can only repeat
 * that row's reply or draw a false `invalid`), or of a kind this build does not know; one the
 * worker gave up, unless force (it was answered `error`, nothing can have reached the bureau,
 * or `timeout`, its outcome unknown and to be settled first, as the refusal says by the
 * envelope's "answered"; an upstream system that sent it again under another request_id would
 * be charged twice; p->needs_force is then set, and this refusal comes after every other);
 * one whose envelope has no "redacted" member, unless
 * force (written before there was one: a CVV removed from its copy shows nowhere, and sent
 * again the request would go without it; p->needs_force is set too); a copy the redaction changed
 * (common/request.h, pl_request_redact_report): the envelope's "redacted" is true, card.number or
 * svc.card_number is masked, a value is ***REMOVED*** anywhere (3-D Secure results, unknown
 * card fields), or a field error says a card number was found where none belongs
 * (PL_REQUEST_ERR_CARD_NUMBER, PL_REQUEST_ERR_CARD_NOT_TOKEN: its value is masked in the copy,
 * and envelopes written before "redacted" came do not say so) — it can never be the request
 * that was sent, so force does not override it.
 */
int pl_opsctl_replay_plan(const pl_opsctl_dead_letter *d, const char *request_topic,
                          const char *key, size_t key_len, bool force, pl_opsctl_replay *p,
                          char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* Where dlq replay sent one dead letter (pl_opsctl_replay_output). */
typedef struct pl_opsctl_sent {
    int32_t dlq_partition; /* the dead letter's place on the dead-letter topic */
    int64_t dlq_offset;
    const char *topic; /* the request topic it was sent to */
    int32_t partition; /* where it was written there; not printed in a dry run */
    int64_t offset;
    bool dry_run;
} pl_opsctl_sent;

/*
 * What dlq replay prints on stdout for dead letter d sent by plan p as s says: its JSON line
 * (json; the members the manual above lists) or two lines of text ("replayed P:O -> topic [p]
 * at offset o, key K (source), request_id R, type T" or "would replay ...", then the request
 * indented), each ending in a newline. The request is redacted again (pl_request_redact), and
 * the key, request_id and type, which the envelope gives, have card numbers masked
 * (pl_card_scrub_full, in the J16 mode), as dlq list prints them. Returns a malloc'd string,
 * or NULL when out of memory.
 */
char *pl_opsctl_replay_output(const pl_opsctl_dead_letter *d, const pl_opsctl_replay *p,
                              const pl_opsctl_sent *s, bool json);

/*
 * What dlq replay says of dead letter d when its request_id has a row, rowerr
 * (pl_opsctl_replay_check_row's words): that row refuses it whatever is forced, and is what the
 * operator is told (also instead of pl_opsctl_replay_plan's refusal for want of --force),
 * followed, for a request the worker gave up answered `timeout`, by what that refusal says of
 * it (its outcome is unknown and must be settled first). Into out (cut to outsize,
 * NUL-terminated; nothing written when outsize is 0).
 */
void pl_opsctl_replay_row_refusal(const pl_opsctl_dead_letter *d, const char *rowerr, char *out,
                                  size_t outsize);

/*
 * Looks request_id up in the table of worker ("auth": cc_auth_trans, "deposit":
 * cc_deposit_trans, "reversal": auth_reversal, "svc": svc_trans) on db. Returns 0 when it has
 * no row there; PL_ERR_INVALID when it has one, with errstr saying so (the table and the row's
 * status): a replay of it must be refused; PL_ERR_DB (the look-up failed) or PL_ERR_INVALID
 * (an unknown worker) with errstr set, which refuse it as well.
 */
int pl_opsctl_replay_check_row(PGconn *db, const char *worker, const char *request_id, char *errstr,
                               size_t errstr_size) PL_MUSTCHECK;

/* ---- paylinkctl's resolver ------------------------------------------------------------------
 */

/* What the publish callback of paylinkctl's resolver did (pl_opsctl_publish's arg). */
typedef struct pl_opsctl_publisher {
    const char *brokers; /* NULL: every publish fails (nothing is configured) */
    int published;       /* messages delivered */
    int failed;          /* messages that could not be */
    char error[256];     /* why the last one failed */
} pl_opsctl_publisher;

/* A pl_resolver_publish_fn: pl_ctlkafka_produce to arg's (a pl_opsctl_publisher) brokers,
 * waiting for the delivery report; counts the result in arg. */
int pl_opsctl_publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                      size_t errsz);

/*
 * The resolver of `wreq resolve|retry` and `deposits receive`: any worker's rows (worker ""),
 * lease owner pl_opsctl_owner(name, this host), replies to <prefix>.<worker>.reply through
 * pl_opsctl_publish(pub) (pub outlives the resolver), the bureaus' CA bundle from
 * PAYLINK_CA_FILE (unset: the system's). Sets paylinkctl's log lines (the resolver's warnings,
 * JSON on stderr) to level warn. NULL with err set.
 */
pl_resolver *pl_opsctl_resolver_new(const char *conninfo, const char *prefix, const char *name,
                                    pl_opsctl_publisher *pub, char *err, size_t errsz);

/*
 * Whether a final reply of worker could be published now: brokers set and the reply topic's
 * metadata readable within 10 s. Returns 0, or PL_ERR_CONFIG / PL_ERR_KAFKA with err set.
 */
int pl_opsctl_kafka_ready(const char *brokers, const char *prefix, const char *worker, char *err,
                          size_t errsz) PL_MUSTCHECK;

/*
 * The required_response row id as wreq list's JSON object (the caller puts it). NULL when there
 * is none (*failed false) or it could not be read (*failed true; said on stderr).
 */
json_object *pl_opsctl_wreq_read(PGconn *db, int64_t id, bool *failed);

/*
 * What a row (pl_opsctl_wreq_read's) has come to, for a line after a step: "resolved approved
 * (query)", "still open: <last_query_result>; next step in 30s", "escalated:
 * <last_query_result>".
 */
void pl_opsctl_wreq_state(json_object *rr, char *out, size_t outsize);

/* The name an operator's command runs under when none is given: $USER when it is a valid
 * name, else "operator". */
const char *pl_opsctl_default_name(void);

/* ---- the commands -----------------------------------------------------------------------------
 */

/*
 * Runs `wreq`, `order`, `stats` or `dlq` (argv[0]). conninfo and brokers may be NULL (then a
 * command that needs them fails saying so). Returns the process exit status
 * (PL_OPSCTL_EXIT_*). Looking up runs in a read-only session; wreq resolve and retry write
 * only through the resolver, on its own connection.
 */
int pl_opsctl_main(int argc, char **argv, const char *conninfo, const char *brokers,
                   const char *prefix);

/* The usage text of these commands (also part of `paylinkctl help`). */
void pl_opsctl_usage(FILE *out);

#endif
