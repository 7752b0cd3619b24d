/*
 * db.h: asynchronous PostgreSQL for the event loop, with application-level group commit.
 *
 * The engine records each request in "units": a unit is a short list of prepared statements
 * that must commit together (for example "update the transaction row and insert its history
 * row"). Units submitted during one turn of the event loop are sent as ONE pipeline segment
 * ending in one Sync, so they share one transaction and one WAL flush (DESIGN.md: "batch many
 * answers per commit"). Statements run in an implicit transaction per Sync (no BEGIN/COMMIT:
 * see kafka-postgres-curl-practice.md §1.4). When a batch fails, each of its units is sent
 * again in a segment of its own, so one bad unit cannot fail its neighbours, and only the
 * unit that really fails reports an error. A unit that fails on its own only because another
 * transaction got in its way (a deadlock or a serialization failure, SQLSTATE 40P01 / 40001:
 * another replica's batch holding the rows it needs) is sent again, at most
 * PL_DB_CONFLICT_RETRIES times, before its error is reported.
 *
 * When the connection breaks, every unit not yet committed is kept and sent again after the
 * reconnect; callers write units so that running one twice is harmless (ON CONFLICT, WHERE
 * status = ..., CTEs that insert only when the update matched).
 *
 * Threading: one thread (the event loop). Memory: the unit and its results belong to pl_db;
 * results are valid only during the unit's callback. Every submitted unit's callback fires
 * exactly once (also on pl_db_destroy, with PL_ERR_STATE).
 */
#ifndef PL_DB_H
#define PL_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct pl_db pl_db;
typedef struct pl_db_unit pl_db_unit;

/* How many times a unit that failed on its own in a deadlock or serialization failure is sent
 * again before its error is reported. Each time after a back-off (db.c,
 * PL_DB_CONFLICT_BACKOFF_MS: at most 25, 100, then 400 ms, randomised), during which the unit
 * is held and the other units go on. */
#define PL_DB_CONFLICT_RETRIES 3

/* err 0: committed, results readable with pl_db_unit_result. err < 0: failed; errmsg says why. */
typedef void (*pl_db_unit_cb)(void *arg, int err, const char *errmsg, pl_db_unit *u);

/*
 * A statement the engine or a spec prepares once per connection (and again after reconnects).
 *
 * A statement named "NAME:many" is the merged form of statement NAME: the same statement for
 * many executions at once, so that a batch holding many executions of NAME pays PostgreSQL's
 * per-statement work (executor start-up, the table's CHECK constraints read back from their
 * text, a protocol round) once instead of once per request. It has NAME's number of
 * parameters: its $k is a text[] holding the k-th parameter of every execution, in order (NULL
 * elements for SQL NULL), sent in binary form, so nothing of a parameter is escaped or parsed
 * on the way (read them as rows with unnest($1::text[], $2::text[], ...) AS e(p1, p2, ...)).
 * It must return NAME's columns, the first of them the execution's key (its $1, as text),
 * which tells whose rows are whose. pl_db uses it for consecutive units that are each one
 * execution of NAME with distinct, non-null keys; each unit then sees, as its result, the
 * rows of its own key. So it is only for statements whose executions on distinct keys do not
 * see each other (each touches its key's rows only, or declares the others it touches with
 * pl_db_unit_touch) and whose result is its rows (not a
 * command tag). When the merged statement fails, the batch's units are sent again one by one
 * with NAME, as after any failed batch. pl_db_new refuses a merged form whose number of
 * parameters is not NAME's, or is over PL_DB_MAX_PARAMS.
 */
typedef struct pl_db_stmt {
    const char *name;
    const char *sql;
    int nparams;
} pl_db_stmt;

/*
 * A statement's parameters $1-$n as the rows of a CTE e (columns p1-pn, text): one row in the
 * statement (PL_DB_E_ONE_n), one per execution in its merged form (PL_DB_E_MANY_n), so that the
 * two forms share the rest of their text and cannot drift apart: the workers' records, marks
 * (which claim money) and stores, and their merged forms.
 */
#define PL_DB_P7                                                                                   \
    "$1::text AS p1, $2::text AS p2, $3::text AS p3, $4::text AS p4, $5::text AS p5, "             \
    "$6::text AS p6, $7::text AS p7"
#define PL_DB_P8 PL_DB_P7 ", $8::text AS p8"
#define PL_DB_P9 PL_DB_P8 ", $9::text AS p9"
#define PL_DB_P10 PL_DB_P9 ", $10::text AS p10"
#define PL_DB_P11 PL_DB_P10 ", $11::text AS p11"
#define PL_DB_P14 PL_DB_P11 ", $12::text AS p12, $13::text AS p13, $14::text AS p14"
#define PL_DB_P16 PL_DB_P14 ", $15::text AS p15, $16::text AS p16"
#define PL_DB_P18 PL_DB_P16 ", $17::text AS p17, $18::text AS p18"
#define PL_DB_P19 PL_DB_P18 ", $19::text AS p19"
#define PL_DB_P20 PL_DB_P19 ", $20::text AS p20"
#define PL_DB_P23 PL_DB_P20 ", $21::text AS p21, $22::text AS p22, $23::text AS p23"
#define PL_DB_A7                                                                                   \
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]"
#define PL_DB_A8 PL_DB_A7 ", $8::text[]"
#define PL_DB_A9 PL_DB_A8 ", $9::text[]"
#define PL_DB_A10 PL_DB_A9 ", $10::text[]"
#define PL_DB_A11 PL_DB_A10 ", $11::text[]"
#define PL_DB_A14 PL_DB_A11 ", $12::text[], $13::text[], $14::text[]"
#define PL_DB_A16 PL_DB_A14 ", $15::text[], $16::text[]"
#define PL_DB_A18 PL_DB_A16 ", $17::text[], $18::text[]"
#define PL_DB_A19 PL_DB_A18 ", $19::text[]"
#define PL_DB_A20 PL_DB_A19 ", $20::text[]"
#define PL_DB_A23 PL_DB_A20 ", $21::text[], $22::text[], $23::text[]"
#define PL_DB_N7 "p1, p2, p3, p4, p5, p6, p7"
#define PL_DB_N8 PL_DB_N7 ", p8"
#define PL_DB_N9 PL_DB_N8 ", p9"
#define PL_DB_N10 PL_DB_N9 ", p10"
#define PL_DB_N11 PL_DB_N10 ", p11"
#define PL_DB_N14 PL_DB_N11 ", p12, p13, p14"
#define PL_DB_N16 PL_DB_N14 ", p15, p16"
#define PL_DB_N18 PL_DB_N16 ", p17, p18"
#define PL_DB_N19 PL_DB_N18 ", p19"
#define PL_DB_N20 PL_DB_N19 ", p20"
#define PL_DB_N23 PL_DB_N20 ", p21, p22, p23"
#define PL_DB_E_ONE(p) "e AS (SELECT " p ")"
#define PL_DB_E_MANY(a, n) "e AS (SELECT * FROM unnest(" a ") AS e(" n "))"
#define PL_DB_E_ONE_7 PL_DB_E_ONE(PL_DB_P7)
#define PL_DB_E_MANY_7 PL_DB_E_MANY(PL_DB_A7, PL_DB_N7)
#define PL_DB_E_ONE_8 PL_DB_E_ONE(PL_DB_P8)
#define PL_DB_E_MANY_8 PL_DB_E_MANY(PL_DB_A8, PL_DB_N8)
#define PL_DB_E_ONE_9 PL_DB_E_ONE(PL_DB_P9)
#define PL_DB_E_MANY_9 PL_DB_E_MANY(PL_DB_A9, PL_DB_N9)
#define PL_DB_E_ONE_10 PL_DB_E_ONE(PL_DB_P10)
#define PL_DB_E_MANY_10 PL_DB_E_MANY(PL_DB_A10, PL_DB_N10)
#define PL_DB_E_ONE_11 PL_DB_E_ONE(PL_DB_P11)
#define PL_DB_E_MANY_11 PL_DB_E_MANY(PL_DB_A11, PL_DB_N11)
#define PL_DB_E_ONE_14 PL_DB_E_ONE(PL_DB_P14)
#define PL_DB_E_MANY_14 PL_DB_E_MANY(PL_DB_A14, PL_DB_N14)
#define PL_DB_E_ONE_16 PL_DB_E_ONE(PL_DB_P16)
#define PL_DB_E_MANY_16 PL_DB_E_MANY(PL_DB_A16, PL_DB_N16)
#define PL_DB_E_ONE_18 PL_DB_E_ONE(PL_DB_P18)
#define PL_DB_E_MANY_18 PL_DB_E_MANY(PL_DB_A18, PL_DB_N18)
#define PL_DB_E_ONE_19 PL_DB_E_ONE(PL_DB_P19)
#define PL_DB_E_MANY_19 PL_DB_E_MANY(PL_DB_A19, PL_DB_N19)
#define PL_DB_E_ONE_20 PL_DB_E_ONE(PL_DB_P20)
#define PL_DB_E_MANY_20 PL_DB_E_MANY(PL_DB_A20, PL_DB_N20)
#define PL_DB_E_ONE_23 PL_DB_E_ONE(PL_DB_P23)
#define PL_DB_E_MANY_23 PL_DB_E_MANY(PL_DB_A23, PL_DB_N23)

/* At most this many executions in one merged statement. */
#define PL_DB_MAX_MERGE 128
/* At most this many parameters in a statement with a merged form. */
#define PL_DB_MAX_PARAMS 64

/*
 * Connects synchronously (start-up), switches the connection to non-blocking pipeline mode
 * and prepares stmts (the array must outlive the pl_db). Returns NULL with errstr set.
 */
pl_db *pl_db_new(const char *conninfo, const pl_db_stmt *stmts, size_t nstmts, char *errstr,
                 size_t errstr_size);

/*
 * pl_db_new with its connections (the first and every reconnect) named name in
 * pg_stat_activity (application_name, over any the conninfo gives; NULL or "": "paylink", as
 * pl_db_new names them), so that a DBA tells a worker's connection from another's. At most 63
 * bytes of it are used.
 */
pl_db *pl_db_new_named(const char *conninfo, const char *name, const pl_db_stmt *stmts,
                       size_t nstmts, char *errstr, size_t errstr_size);

/*
 * A blocking libpq connection to conninfo named name in pg_stat_activity (application_name,
 * over any the conninfo gives), with connect_timeout_s seconds to connect (over the conninfo's;
 * 0: the conninfo's), and paylink's TCP keepalives and user timeout unless the conninfo sets
 * them (a database gone silent ends the connection in about a minute; pl_db's connections have
 * them too). As PQconnectdbParams: the caller checks PQstatus and PQfinishes it.
 */
PGconn *pl_db_connect_named(const char *conninfo, const char *name, int connect_timeout_s);

/* Fails pending units (PL_ERR_STATE) and closes the connection. NULL is fine. */
void pl_db_destroy(pl_db *db);

/* A new unit; NULL on OOM. Statements are added, then the unit is submitted (or freed with
 * pl_db_unit_free when never submitted). */
pl_db_unit *pl_db_unit_new(pl_db_unit_cb cb, void *arg);
void pl_db_unit_free(pl_db_unit *u);

/* Adds one execution of prepared statement `name` with text params (NULL = SQL NULL). Params are
 * copied. Returns 0 or PL_ERR_NOMEM / PL_ERR_INVALID (unknown statement name is detected at send).
 */
int pl_db_unit_add(pl_db_unit *u, const char *name, int nparams,
                   const char *const *params) PL_MUSTCHECK;

/* At most this many keys a unit declares with pl_db_unit_touch. */
#define PL_DB_MAX_TOUCH 2

/*
 * Declares that the unit's statements also touch the rows of `key` (copied), besides their own
 * key ($1): another request's row (its request id) or another table's row (a key of the
 * caller's choice, say "auth_history:42", that no request id can be). A unit with a merged
 * form then never shares a merged statement with a unit that uses the same key, nor moves
 * ahead of one (gather, db.c): a statement whose executions claim on one row each stays
 * correct merged. Returns 0, PL_ERR_INVALID (empty), PL_ERR_TOOBIG (over PL_DB_MAX_TOUCH) or
 * PL_ERR_NOMEM.
 */
int pl_db_unit_touch(pl_db_unit *u, const char *key) PL_MUSTCHECK;

/* Result i (0-based, in add order) of a committed unit, during its callback. */
const PGresult *pl_db_unit_result(const pl_db_unit *u, int i);
/* Statements in the unit. */
int pl_db_unit_count(const pl_db_unit *u);
/* Statement i's name, and its parameter k (0-based; NULL for SQL NULL or out of range): what a
 * spec put in a unit, for its tests. */
const char *pl_db_unit_stmt(const pl_db_unit *u, int i);
const char *pl_db_unit_param(const pl_db_unit *u, int i, int k);
/* Convenience: rows of result i (0 when missing). */
int pl_db_unit_ntuples(const pl_db_unit *u, int i);

/* Queues a unit; it is sent at the next pl_db_flush. Takes ownership. */
void pl_db_submit(pl_db *db, pl_db_unit *u);

/* Sends everything queued as one batch. Call once per loop turn. */
void pl_db_flush(pl_db *db);

/* For poll(): the socket (-1 while disconnected) and the events to wait for. */
int pl_db_fd(const pl_db *db);
short pl_db_events(const pl_db *db);
/* Call after poll() with the socket's revents (0 on a timer tick: drives reconnects). */
void pl_db_on_ready(pl_db *db, short revents);

/* Units submitted and not yet called back. */
size_t pl_db_pending(const pl_db *db);
/* True while the connection is up. */
bool pl_db_connected(const pl_db *db);
/*
 * Where the unit submitted with callback argument arg is: "queued" (not sent yet), "held" (for
 * a conflict's back-off), "sent" (in a batch whose results are awaited); NULL when no unit of
 * arg's is in db's hands. For a log line about a request that is taking too long (a linear
 * search: not for the hot path).
 */
const char *pl_db_unit_place(const pl_db *db, const void *arg);
/*
 * What the connection is doing, in a few words for a log line: connected or reconnecting, the
 * units queued and held, the batches in flight and how long ago the oldest was sent.
 */
void pl_db_describe(const pl_db *db, char *buf, size_t size);
/* Milliseconds the last committed batch took (for the DB latency metric). */
double pl_db_last_batch_ms(const pl_db *db);

/* Statements sent since pl_db_new, and how many executions went in merged statements
 * (see pl_db_stmt.many_sql). */
typedef struct pl_db_counts {
    unsigned long long statements;
    unsigned long long merged_executions;
    unsigned long long replans; /* DISCARD PLANS sent (PL_DB_REPLAN_MS, _GROWN in db.c) */
} pl_db_counts;
pl_db_counts pl_db_get_counts(const pl_db *db);
/* How often a connection with merged statements drops its cached plans (default 10 s; tests).
 * It drops them too whenever its merged executions have doubled (from 64), whatever this is. */
void pl_db_set_replan_ms(pl_db *db, int ms);

/* Milliseconds until a unit held for its conflict's back-off is due to go again (0: now; the
 * loop's next pl_db_flush sends it), -1 when none is held: the longest the loop may wait. */
int pl_db_timeout_ms(const pl_db *db);
/* The first conflict retry's back-off window (default PL_DB_CONFLICT_BACKOFF_MS; tests). It
 * applies to held units too: their due times are reckoned from when each was held. */
void pl_db_set_conflict_backoff_ms(pl_db *db, int ms);

#endif
