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

bool pl_ctldb_exec(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

bool pl_ctldb_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

bool pl_ctldb_parse_range(const char *s, long min, long max, long *out)
{
    long v = 0;
    size_t n = 0;
    for (; s && s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 9)
            return false;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || v < min || v > max)
        return false;
    *out = v;
    return true;
}
