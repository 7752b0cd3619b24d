/*
 * ctldb.h: the database connection of paylinkctl's commands that read or write rows (migrate,
 * deposits, svc, bureau), and the checks those commands share on the values they write.
 *
 * Memory: the connection belongs to the caller (PQfinish). Single thread.
 */
#ifndef PL_CTLDB_H
#define PL_CTLDB_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

/*
 * Connects with conninfo (a libpq connection string: PAYLINK_DB or --db). Returns the open
 * connection, or NULL after printing why on err: "no database: set PAYLINK_DB or give --db"
 * when conninfo is NULL or empty, else libpq's message. The connection string is never printed
 * (it may hold a password).
 */
PGconn *pl_ctldb_connect(const char *conninfo, FILE *err);

/*
 * Runs sql, a statement without parameters or rows ("BEGIN", "COMMIT", "ROLLBACK"). true when
 * the server answered PGRES_COMMAND_OK.
 */
bool pl_ctldb_exec(PGconn *db, const char *sql);

/* true when s holds an ASCII control character (below 0x20, or DEL): a value that could move
 * the terminal of whoever reads it back. */
bool pl_ctldb_has_control(const char *s);

/*
 * Strict whole-number parser for an option or a column value: digits only (no sign, no
 * space), at most 9 of them, min..max. Returns true and sets *out; false (and leaves *out
 * alone) otherwise, also when s is NULL.
 */
bool pl_ctldb_parse_range(const char *s, long min, long max, long *out);

#endif
