/*
 * it_unit.h: runs one database unit a worker spec builds (record, mark_sent, record_sent, store…)
 * against the real PostgreSQL through common/db.c, as the engine would, and waits for its
 * callback. For the integration tests that check a spec's statements (test_services.c,
 * test_svc_sent.c, test_auth_many.c, test_deposit_many.c); include it after cmocka.h.
 */
#ifndef PL_IT_UNIT_H
#define PL_IT_UNIT_H

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "engine.h"

/* The plain connection to PAYLINK_DB a group setup opens (*conninfo set); NULL, said on
 * stderr, when there is none. */
static inline PGconn *it_admin_connect(const char **conninfo)
{
    *conninfo = getenv("PAYLINK_DB");
    if (!*conninfo || !**conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return NULL;
    }
    PGconn *c = PQconnectdb(*conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs sql with n text parameters on the plain connection; fails the test when it fails. */
static inline void it_exec(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("%s: %s", sql, m);
    }
    PQclear(r);
}

/* Sends what is queued and turns the loop as the engine does until no unit is pending (20 s at
 * most, against a hang). */
static inline void it_drive(pl_db *db)
{
    pl_db_flush(db);
    for (int t = 0; t < 400 && pl_db_pending(db) > 0; t++) {
        struct pollfd p = {.fd = pl_db_fd(db), .events = pl_db_events(db)};
        assert_true(poll(&p, 1, 50) >= 0);
        pl_db_on_ready(db, p.fd >= 0 ? p.revents : 0);
        pl_db_flush(db);
    }
    assert_int_equal(pl_db_pending(db), 0);
}

typedef struct it_unit_rec {
    int calls, err, ntuples;
    char msg[512];
} it_unit_rec;

static void it_on_unit(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    it_unit_rec *r = arg;
    r->calls++;
    r->err = err;
    r->ntuples = pl_db_unit_ntuples(u, 0);
    snprintf(r->msg, sizeof r->msg, "%s", errmsg ? errmsg : "");
}

/* Runs one unit built by a spec function to its callback (20 s at most); fails the test when
 * the unit failed; returns the rows of its statement 0. */
static inline int run_unit(pl_db *db, int (*add)(pl_job *, pl_db_unit *), pl_job *j)
{
    it_unit_rec r;
    memset(&r, 0, sizeof r);
    pl_db_unit *u = pl_db_unit_new(it_on_unit, &r);
    assert_non_null(u);
    assert_int_equal(add(j, u), 0);
    pl_db_submit(db, u);
    pl_db_flush(db);
    for (int i = 0; i < 400 && r.calls == 0; i++) {
        struct pollfd p = {.fd = pl_db_fd(db), .events = pl_db_events(db)};
        assert_true(poll(&p, 1, 50) >= 0);
        pl_db_on_ready(db, p.fd >= 0 ? p.revents : 0);
        pl_db_flush(db);
    }
    assert_int_equal(r.calls, 1);
    if (r.err != 0)
        fail_msg("%s: %s", j->req.request_id, r.msg);
    return r.ntuples;
}

/* Runs the units add builds for n jobs in one batch, as the engine sends a loop turn's units
 * (so statements with a merged form go merged, db.h), to their callbacks (20 s at most); fails
 * the test when one failed; rows[i] gets job i's rows of its statement 0. */
static inline void run_units(pl_db *db, int (*add)(pl_job *, pl_db_unit *), pl_job *const *jobs,
                             int n, int *rows)
{
    it_unit_rec r[n];
    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++) {
        pl_db_unit *u = pl_db_unit_new(it_on_unit, &r[i]);
        assert_non_null(u);
        assert_int_equal(add(jobs[i], u), 0);
        pl_db_submit(db, u);
    }
    it_drive(db);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].calls, 1);
        if (r[i].err != 0)
            fail_msg("%s: %s", jobs[i]->req.request_id, r[i].msg);
        rows[i] = r[i].ntuples;
    }
}

#endif
