/*
 * ctldb.h: the database connection of paylinkctl's commands that read or write rows (migrate,
 * deposits, svc).
 *
 * Memory: the connection belongs to the caller (PQfinish). Single thread.
 */
#ifndef PL_CTLDB_H
#define PL_CTLDB_H

#include <stdio.h>

#include <libpq-fe.h>

/*
 * Connects with conninfo (a libpq connection string: PAYLINK_DB or --db). Returns the open
 * connection, or NULL after printing why on err: "no database: set PAYLINK_DB or give --db"
 * when conninfo is NULL or empty, else libpq's message. The connection string is never printed
 * (it may hold a password).
 */
PGconn *pl_ctldb_connect(const char *conninfo, FILE *err);

#endif
