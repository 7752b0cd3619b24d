/*
 * opsctl.h: the operator's look-up commands of paylinkctl: the required responses (the seed's
 * WREQ screens, "Working with Required Responses"), an order's payment story, outcome
 * statistics, and a worker's dead letters with their replay.
 *
 *   paylinkctl wreq list [--bureau B] [--worker W] [--older-than DURATION]
 *                        [--status open|escalated|resolved|all] [--limit N] [--json]
 *   paylinkctl wreq show ID [--json]
 *   paylinkctl order show --company C --order O [--json]
 *   paylinkctl stats [--since DURATION|TIMESTAMP] [--bureau B] [--json]
 *   paylinkctl dlq list --worker W [--since DURATION] [--limit N] [--json]
 *   paylinkctl dlq replay --worker W (--offset P:O [--offset P:O ...] | --all-since DURATION)
 *                         [--dry-run] [--json]
 *
 * Output: a table (or, for wreq show, labelled blocks) for people by default; with --json one
 * JSON object per line, the fields named below. Times are RFC 3339 UTC ("2024-05-01T10:00:00Z"),
 * amounts decimal text as in replies ("120.00"), a missing value null.
 *
 * wreq list: required_response rows, oldest first, at most N (default 1000; a note on stderr
 *   says when more matched). --status open (default), escalated, resolved, or all: compared as
 *   text, so statuses this build does not know are listed as they are (with all). Only the
 *   columns of migration 002 are read. JSON: {"id", "request_id", "worker", "status", "company",
 *   "order", "pay_seq", "service", "operation", "amount", "currency", "reason", "detail",
 *   "created_at", "age_s", "resolution", "resolved_by", "resolution_note", "resolved_at"}.
 * wreq show ID: ID is a required_response id (digits) or a request_id; an id wins, and a
 *   request_id with required responses of several workers is refused (give the id). One JSON
 *   object {"required_response": {as list}, "transaction": {the row of the worker's table:
 *   cc_auth_trans, cc_deposit_trans, auth_reversal or svc_trans: status, operation, sent_at,
 *   sent_by, vendor_response, amounts, card mask, the stored reply ...} or null, "history":
 *   [auth_history rows of an authorization; cc_deposit_history rows and the auth_history rows a
 *   deposit brought; the auth_history row a reversal reversed]}. Card data: only the masks the
 *   tables hold; never a card hash, token or CyberSource requestToken.
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
 *   (ctlkafka.h: pl_ctlkafka_scan): {"partition", "offset", "timestamp", "key", "error",
 *   "errors": [{"field", "error"}], "request_topic", "request_partition", "request_offset",
 *   "request_id", "type" (when the request text is a readable JSON object), "truncated",
 *   "request_bytes" (when truncated), "envelope" (false for a message that is no envelope)}.
 * dlq replay: sends the envelope's "request" (the redacted original text, byte for byte) of
 *   each dead letter named by --offset (its own partition:offset on the dead-letter topic, as
 *   dlq list prints them) or of every one since --all-since, to <prefix>.<worker>.request, with
 *   the dead letter's own Kafka key (paylink writes it as the request's <company>-<order>); a
 *   dead letter without a key gets <company>-<order> from the request JSON, as paylinkctl send
 *   does, and a note on stderr says so. Refused (the others are still sent, exit 1): a message
 *   that is no envelope, a request the envelope marks truncated, an envelope from another topic.
 *   The copy is redacted: a card number in it is masked and a CVV removed, so a card request is
 *   refused again (a warning says so: the upstream system must send it anew); replay suits
 *   requests whose fault was elsewhere and survives in the copy, or is fixed meanwhile (a
 *   service bureau added). One line per dead letter: {"dlq_partition", "dlq_offset", "topic",
 *   "partition", "offset" (null in a dry run), "key", "key_source" ("dead_letter", "request",
 *   "none"), "request_id", "type", "card_masked", "dry_run", "request"}.
 *
 * DURATION: whole numbers with units w, d, h, m, s, largest first, each unit once ("90s", "30m",
 * "2h", "1d", "1h30m"), at most PL_OPSCTL_MAX_DURATION_S. TIMESTAMP: YYYY-MM-DD, optionally
 * with [T| ]HH:MM[:SS] and Z or +HH:MM / -HH:MM; without a zone it is UTC.
 *
 * Exit status: 0 done; 1 error (no database or broker, a failure, nothing found, a dead letter
 * refused); 2 usage (the command line was not accepted; nothing was read). Option values are
 * never echoed in errors (an order number or id may be a mistyped card number).
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

#include "ctlkafka.h"
#include "err.h"

enum { PL_OPSCTL_EXIT_OK = 0, PL_OPSCTL_EXIT_ERROR = 1, PL_OPSCTL_EXIT_USAGE = 2 };

/* Ten years: a longer look back is a mistake. */
#define PL_OPSCTL_MAX_DURATION_S (3650LL * 86400)
#define PL_OPSCTL_MAX_LIMIT 100000
#define PL_OPSCTL_WREQ_LIMIT 1000
#define PL_OPSCTL_DLQ_LIMIT 100
#define PL_OPSCTL_MAX_OFFSETS 100
#define PL_OPSCTL_STATS_SINCE_S 86400

typedef enum pl_opsctl_cmd {
    PL_OPSCTL_WREQ_LIST = 1,
    PL_OPSCTL_WREQ_SHOW,
    PL_OPSCTL_ORDER_SHOW,
    PL_OPSCTL_STATS,
    PL_OPSCTL_DLQ_LIST,
    PL_OPSCTL_DLQ_REPLAY,
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
    const char *status;     /* wreq list: "open" (default), "escalated", "resolved"; NULL = all */
    long long older_than_s; /* wreq list: -1 when not given */
    long limit;             /* wreq list, dlq list */
    const char *id;         /* wreq show: digits (an id) or a request_id */
    int company;            /* order show */
    const char *order;      /* order show */
    pl_opsctl_since since;  /* stats, dlq list (a duration), dlq replay (--all-since) */
    pl_opsctl_offset offsets[PL_OPSCTL_MAX_OFFSETS]; /* dlq replay */
    size_t noffsets;
    bool dry_run; /* dlq replay */
} pl_opsctl_opts;

/*
 * Parses argv[0] ("wreq", "order", "stats" or "dlq"), its subcommand and options ("--name value"
 * or "--name=value"), checking each value and what the command requires (see the top of this
 * file); an option given twice (but --offset), or one of another command, is refused. Returns 0
 * with *o filled, or PL_ERR_INVALID with the reason in errstr (naming options, never values).
 */
int pl_opsctl_parse(int argc, char **argv, pl_opsctl_opts *o, char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

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
    int64_t request_bytes;  /* its size before, when truncated; else -1 */
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
 * The dlq list object of message m (d: its envelope, NULL when it is none). The key is printed
 * with card numbers masked. Returns a new object (the caller puts it), or NULL when out of
 * memory.
 */
json_object *pl_opsctl_dlq_json(const pl_ctlkafka_msg *m, const pl_opsctl_dead_letter *d);

/* How one dead letter is replayed. */
typedef struct pl_opsctl_replay {
    char key[128];          /* the message key; "" when none */
    const char *key_source; /* "dead_letter", "request" (derived <company>-<order>), "none" */
    bool card_masked;       /* the request names a card whose number the copy masked */
} pl_opsctl_replay;

/*
 * Decides how envelope d, read from a dead letter whose Kafka key was key[0, key_len) (key may
 * be NULL), is replayed onto request_topic. Returns 0 with *p filled, or PL_ERR_INVALID with
 * the reason in errstr: the request was truncated, the envelope came from another topic, the
 * key is longer than the buffer.
 */
int pl_opsctl_replay_plan(const pl_opsctl_dead_letter *d, const char *request_topic,
                          const char *key, size_t key_len, pl_opsctl_replay *p, char *errstr,
                          size_t errstr_size) PL_MUSTCHECK;

/* ---- the commands -----------------------------------------------------------------------------
 */

/*
 * Runs `wreq`, `order`, `stats` or `dlq` (argv[0]). conninfo and brokers may be NULL (then a
 * command that needs them fails saying so). Returns the process exit status
 * (PL_OPSCTL_EXIT_*).
 */
int pl_opsctl_main(int argc, char **argv, const char *conninfo, const char *brokers,
                   const char *prefix);

/* The usage text of these commands (also part of `paylinkctl help`). */
void pl_opsctl_usage(FILE *out);

#endif
