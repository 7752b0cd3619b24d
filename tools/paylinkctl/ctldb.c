/* ctldb.c: paylinkctl's database connection (see ctldb.h). */
#include "ctldb.h"

PGconn *pl_ctldb_connect(const char *conninfo, FILE *err)
{
    if (!conninfo || !*conninfo) {
        fputs("paylinkctl: no database: set PAYLINK_DB or give --db\n", err);
        return NULL;
    }
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        /* libpq's message ends with a newline. */
        fprintf(err, "paylinkctl: cannot connect to the database: %s", PQerrorMessage(db));
        PQfinish(db);
        return NULL;
    }
    return db;
}
