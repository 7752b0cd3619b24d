/*
 * db.c: pipelined, batched PostgreSQL units for the event loop (see db.h for the contract).
 *
 * Shape of the pipeline: a batch is the list of units flushed in one loop turn; its statements
 * are sent back to back and closed by one PQpipelineSync, which makes the whole batch one
 * implicit transaction. Results come back in send order: for each statement one result and a
 * NULL, then PGRES_PIPELINE_SYNC for the batch. Several batches may be in flight at once.
 * Executions of a statement with a merged form ("NAME:many", db.h) go as one statement (see
 * gather and send_batch); its result is shared out to their units (distribute).
 */
#include "db.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* A batch of at most this many units, so one turn cannot build an unbounded segment. */
#define PL_DB_MAX_BATCH_UNITS 512
/*
 * At most this many batches in flight. PostgreSQL runs a pipeline's transactions one after the
 * other, each with its own WAL flush; while one commits, new units wait here and then go
 * together as one transaction (group commit). More in flight would only mean more, smaller
 * commits queued behind each other.
 */
#define PL_DB_MAX_BATCHES_IN_FLIGHT 2
/* Back-off between reconnect attempts. */
#define PL_DB_RECONNECT_MS 1000
/*
 * Back-off before a unit that met a conflict is sent again (see batch_complete): its k-th
 * retry waits a random time between half and all of PL_DB_CONFLICT_BACKOFF_MS * 4^(k-1)
 * (25-100 ms wait at most for the first, 400 for the third), so that the transaction it met
 * has time to finish and two replicas that met each other do not meet again in step.
 */
#define PL_DB_CONFLICT_BACKOFF_MS 25
/*
 * How often a connection with merged statements drops its cached plans (DISCARD PLANS). A
 * merged statement joins its executions to the table, and PostgreSQL keeps the generic plan it
 * made once (until the table is vacuumed or analyzed): made while the table was small (a new
 * database), it is a hash join over a sequential scan of the whole table, run on every batch
 * as the table grows; made again, a nested loop over the table's index, as the statement alone
 * uses. Planning again costs one plan per statement per interval.
 */
#define PL_DB_REPLAN_MS 10000
/*
 * A connection also drops its plans each time its merged executions have doubled since the
 * last time (at 64, 128, 256, ... of them): the tables its statements write grow with them, so
 * on a new database a plan made on a nearly empty table lasts while the table doubles, not for
 * PL_DB_REPLAN_MS of full speed (20,000 requests at 2,000 /s, each batch reading the whole
 * table). On a database already large this adds a dozen replans in a connection's first
 * minutes, then the interval above comes first.
 */
#define PL_DB_REPLAN_GROWN 64

typedef struct exec {
    char *name; /* name, params and their strings share one allocation (params' block) */
    int nparams;
    char **params;
    void *block;
    PGresult *res;
} exec;

struct pl_db_unit {
    pl_db_unit_cb cb;
    void *arg;
    exec *ex;
    int n, cap;
    bool solo;         /* send in a segment of its own (after a failed batch) */
    bool taken;        /* sent already, as a member of a merged statement (send_batch) */
    pl_db_unit *gnext; /* the next member of its merged statement */
    int conflicts;     /* times it was sent again after a deadlock or serialization failure */
    char *touch[PL_DB_MAX_TOUCH]; /* keys of other rows its statements touch (pl_db_unit_touch) */
    int ntouch;
    int64_t held_at_ms; /* when it was held for its conflict's back-off */
    unsigned jitter;    /* that back-off's share of its window, in thousandths (500-1000) */
    pl_db_unit *next;
};

/* A statement sent: execution ex of unit u, or (group > 0) one merged statement for the
 * first execution of u and of the group - 1 units after it on u's gnext chain; u NULL: the
 * connection's DISCARD PLANS. */
typedef struct sent {
    pl_db_unit *u;
    int ex;
    int group;
} sent;

typedef struct batch {
    pl_db_unit *head;
    int nunits;
    int nq;     /* statements in the batch */
    int cur;    /* statement whose results are being read */
    sent *sent; /* nq entries */
    bool awaiting_sync;
    bool failed;
    bool stale; /* a statement failed because a schema change outdated its prepared form */
    char errmsg[512];
    char sqlstate[6]; /* of the first failure */
    double t0;
    struct batch *next;
} batch;

struct pl_db {
    char *conninfo;
    char app_name[64]; /* its connections' application_name (pl_db_new_named) */
    const pl_db_stmt *stmts;
    size_t nstmts;
    int *many; /* per statement, the index of its merged form ("NAME:many"); -1 when none */
    bool has_many;
    int replan_ms;
    int64_t replan_at_ms;
    unsigned long long replan_at_execs; /* counts.merged_executions of the next growth replan */
    pl_db_counts counts;
    PGconn *conn;
    pl_db_unit *q_head, *q_tail; /* submitted, not sent */
    pl_db_unit *h_head, *h_tail; /* met a conflict; sent again when their back-off ends */
    int backoff_ms;              /* PL_DB_CONFLICT_BACKOFF_MS, or a test's */
    uint64_t rng;                /* the back-offs' jitter (xorshift64; not a secret) */
    batch *b_head, *b_tail;      /* sent, results pending */
    bool want_write;
    int64_t reconnect_at_ms;
    /* A reconnect in progress, driven by the loop without blocking it (see reconnect_step). */
    PGconn *rc_conn;
    PostgresPollingStatusType pend_poll;
    bool pend_preparing;
    size_t pend_stmt;
    int64_t pend_deadline_ms;
    size_t pending;
    double last_batch_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * The connection parameters of every paylink connection (n: at least 10 entries each): first
 * the defaults, which the conninfo may change — TCP keepalives and a user timeout, so that a
 * database gone without a word (a failover that drops packets, a cable pulled) ends the
 * connection in about a minute, its units then sent again on a new one, instead of a batch
 * waiting for an answer for the kernel's 15 minutes or two hours while every request queues
 * behind it (a long statement keeps no data unacknowledged: it is not cut) —, then the
 * conninfo (expanded: its values take over), then the name over it and connect_timeout_s (over
 * the conninfo's; 0: the conninfo's, or libpq's default).
 */
static void conn_params(const char **keys, const char **vals, const char *conninfo,
                        const char *name, const char *timeout)
{
    int n = 0;
    static const char *const defaults[][2] = {
        {"keepalives", "1"},       {"keepalives_idle", "30"},     {"keepalives_interval", "10"},
        {"keepalives_count", "3"}, {"tcp_user_timeout", "60000"},
    };
    for (size_t k = 0; k < sizeof defaults / sizeof defaults[0]; k++, n++) {
        keys[n] = defaults[k][0];
        vals[n] = defaults[k][1];
    }
    keys[n] = "dbname";
    vals[n++] = conninfo ? conninfo : "";
    keys[n] = "application_name";
    vals[n++] = name;
    keys[n] = timeout ? "connect_timeout" : NULL;
    vals[n++] = timeout;
    keys[n] = NULL;
    vals[n] = NULL;
}

PGconn *pl_db_connect_named(const char *conninfo, const char *name, int connect_timeout_s)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", connect_timeout_s);
    const char *keys[10], *vals[10];
    conn_params(keys, vals, conninfo, name, connect_timeout_s > 0 ? timeout : NULL);
    return PQconnectdbParams(keys, vals, 1);
}

/* Connects, prepares the statements and enters pipeline mode. */
static int db_connect(pl_db *db, char *errstr, size_t errstr_size)
{
    PGconn *c = pl_db_connect_named(db->conninfo, db->app_name, 5);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        int rc = pl_err_set(PL_ERR_DB, errstr, errstr_size, "connect: %s",
                            c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return rc;
    }
    for (size_t i = 0; i < db->nstmts; i++) {
        PGresult *r = PQprepare(c, db->stmts[i].name, db->stmts[i].sql, db->stmts[i].nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = pl_err_set(PL_ERR_DB, errstr, errstr_size, "prepare %s: %s", db->stmts[i].name,
                                PQresultErrorMessage(r));
            PQclear(r);
            PQfinish(c);
            return rc;
        }
        PQclear(r);
    }
    if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) {
        int rc = pl_err_set(PL_ERR_DB, errstr, errstr_size, "pipeline mode: %s", PQerrorMessage(c));
        PQfinish(c);
        return rc;
    }
    db->conn = c;
    db->want_write = false;
    return 0;
}

pl_db *pl_db_new(const char *conninfo, const pl_db_stmt *stmts, size_t nstmts, char *errstr,
                 size_t errstr_size)
{
    return pl_db_new_named(conninfo, NULL, stmts, nstmts, errstr, errstr_size);
}

pl_db *pl_db_new_named(const char *conninfo, const char *name, const pl_db_stmt *stmts,
                       size_t nstmts, char *errstr, size_t errstr_size)
{
    pl_db *db = calloc(1, sizeof *db);
    if (!db) {
        pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    snprintf(db->app_name, sizeof db->app_name, "%s", name && *name ? name : "paylink");
    db->conninfo = strdup(conninfo ? conninfo : "");
    db->stmts = stmts;
    db->nstmts = nstmts;
    db->many = malloc((nstmts ? nstmts : 1) * sizeof *db->many);
    bool nomem = !db->conninfo || !db->many;
    for (size_t i = 0; i < nstmts && !nomem; i++) {
        db->many[i] = -1;
        size_t len = strlen(stmts[i].name);
        for (size_t k = 0; k < nstmts; k++)
            if (strncmp(stmts[k].name, stmts[i].name, len) == 0 &&
                strcmp(stmts[k].name + len, ":many") == 0)
                db->many[i] = (int)k;
        db->has_many = db->has_many || db->many[i] >= 0;
    }
    for (size_t i = 0; i < nstmts && !nomem; i++) {
        int m = db->many[i];
        if (m >= 0 && (stmts[m].nparams != stmts[i].nparams || stmts[i].nparams < 1 ||
                       stmts[i].nparams > PL_DB_MAX_PARAMS)) {
            pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                       "%s takes %d parameters and %s %d: a merged form takes its statement's "
                       "parameters (1 to %d), each as a text[]",
                       stmts[i].name, stmts[i].nparams, stmts[m].name, stmts[m].nparams,
                       PL_DB_MAX_PARAMS);
            free(db->many);
            free(db->conninfo);
            free(db);
            return NULL;
        }
    }
    db->replan_ms = PL_DB_REPLAN_MS;
    db->replan_at_ms = now_ms() + db->replan_ms;
    db->replan_at_execs = PL_DB_REPLAN_GROWN;
    db->backoff_ms = PL_DB_CONFLICT_BACKOFF_MS;
    db->rng = ((uint64_t)now_ms_f() * 2654435761u) ^ (uint64_t)(uintptr_t)db;
    if (db->rng == 0)
        db->rng = 0x9e3779b97f4a7c15u;
    if (nomem)
        pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (nomem || db_connect(db, errstr, errstr_size) != 0) {
        free(db->many);
        free(db->conninfo);
        free(db);
        return NULL;
    }
    return db;
}

pl_db_unit *pl_db_unit_new(pl_db_unit_cb cb, void *arg)
{
    pl_db_unit *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->cb = cb;
    u->arg = arg;
    return u;
}

static void unit_clear_results(pl_db_unit *u)
{
    for (int i = 0; i < u->n; i++) {
        PQclear(u->ex[i].res);
        u->ex[i].res = NULL;
    }
}

void pl_db_unit_free(pl_db_unit *u)
{
    if (!u)
        return;
    for (int i = 0; i < u->n; i++) {
        free(u->ex[i].block);
        PQclear(u->ex[i].res);
    }
    for (int i = 0; i < u->ntouch; i++)
        free(u->touch[i]);
    free(u->ex);
    free(u);
}

int pl_db_unit_add(pl_db_unit *u, const char *name, int nparams, const char *const *params)
{
    if (!u || !name || nparams < 0)
        return PL_ERR_INVALID;
    if (u->n == u->cap) {
        int cap = u->cap ? u->cap * 2 : 4;
        exec *ex = realloc(u->ex, (size_t)cap * sizeof *ex);
        if (!ex)
            return PL_ERR_NOMEM;
        u->ex = ex;
        u->cap = cap;
    }
    exec *e = &u->ex[u->n];
    memset(e, 0, sizeof *e);
    /* One allocation for the statement's name, its parameter array and their copies: a unit is
     * built for every request several times, and this was a malloc per parameter. */
    size_t size = (size_t)nparams * sizeof(char *) + strlen(name) + 1;
    for (int i = 0; i < nparams; i++)
        if (params[i])
            size += strlen(params[i]) + 1;
    char *block = malloc(size);
    if (!block)
        return PL_ERR_NOMEM;
    char **array = (char **)(void *)block;
    char *at = block + (size_t)nparams * sizeof(char *);
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            array[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(at, params[i], n);
        array[i] = at;
        at += n;
    }
    memcpy(at, name, strlen(name) + 1);
    e->block = block;
    e->name = at;
    e->params = nparams ? array : NULL;
    e->nparams = nparams;
    u->n++;
    return 0;
}

int pl_db_unit_touch(pl_db_unit *u, const char *key)
{
    if (!u || !key || !*key)
        return PL_ERR_INVALID;
    if (u->ntouch == PL_DB_MAX_TOUCH)
        return PL_ERR_TOOBIG;
    char *k = strdup(key);
    if (!k)
        return PL_ERR_NOMEM;
    u->touch[u->ntouch++] = k;
    return 0;
}

const PGresult *pl_db_unit_result(const pl_db_unit *u, int i)
{
    if (!u || i < 0 || i >= u->n)
        return NULL;
    return u->ex[i].res;
}

int pl_db_unit_count(const pl_db_unit *u)
{
    return u ? u->n : 0;
}

const char *pl_db_unit_stmt(const pl_db_unit *u, int i)
{
    return u && i >= 0 && i < u->n ? u->ex[i].name : NULL;
}

const char *pl_db_unit_param(const pl_db_unit *u, int i, int k)
{
    return u && i >= 0 && i < u->n && k >= 0 && k < u->ex[i].nparams ? u->ex[i].params[k] : NULL;
}

int pl_db_unit_ntuples(const pl_db_unit *u, int i)
{
    const PGresult *r = pl_db_unit_result(u, i);
    return r ? PQntuples(r) : 0;
}

void pl_db_submit(pl_db *db, pl_db_unit *u)
{
    u->next = NULL;
    if (db->q_tail)
        db->q_tail->next = u;
    else
        db->q_head = u;
    db->q_tail = u;
    db->pending++;
}

/* Puts a list of units back at the front of the send queue (keeping their order). */
static void requeue_front(pl_db *db, pl_db_unit *head, bool solo)
{
    pl_db_unit *last = NULL;
    for (pl_db_unit *u = head; u; u = u->next) {
        unit_clear_results(u);
        u->solo = solo || u->solo;
        last = u;
    }
    if (!last)
        return;
    last->next = db->q_head;
    db->q_head = head;
    if (!db->q_tail)
        db->q_tail = last;
}

/* When a held unit is due: its back-off window for its conflicts so far, scaled by its jitter. */
static int64_t held_due_ms(const pl_db *db, const pl_db_unit *u)
{
    int64_t window = db->backoff_ms;
    for (int k = 1; k < u->conflicts; k++)
        window *= 4;
    return u->held_at_ms + window * (int64_t)u->jitter / 1000;
}

/* Holds a unit that met a conflict until its back-off ends (released by release_due). */
static void hold(pl_db *db, pl_db_unit *u)
{
    unit_clear_results(u);
    u->solo = true;
    u->held_at_ms = now_ms();
    db->rng ^= db->rng << 13;
    db->rng ^= db->rng >> 7;
    db->rng ^= db->rng << 17;
    u->jitter = 500 + (unsigned)(db->rng % 501);
    u->next = NULL;
    if (db->h_tail)
        db->h_tail->next = u;
    else
        db->h_head = u;
    db->h_tail = u;
}

/* Held units whose back-off ended go to the front of the send queue, in the order held. */
static void release_due(pl_db *db)
{
    if (!db->h_head)
        return;
    int64_t now = now_ms();
    pl_db_unit *due_head = NULL, *due_tail = NULL, *prev = NULL;
    for (pl_db_unit *u = db->h_head; u;) {
        pl_db_unit *next = u->next;
        if (held_due_ms(db, u) <= now) {
            if (prev)
                prev->next = next;
            else
                db->h_head = next;
            if (db->h_tail == u)
                db->h_tail = prev;
            u->next = NULL;
            if (due_tail)
                due_tail->next = u;
            else
                due_head = u;
            due_tail = u;
        } else {
            prev = u;
        }
        u = next;
    }
    if (due_head)
        requeue_front(db, due_head, true);
}

static void batch_free(batch *b)
{
    free(b->sent);
    free(b);
}

static void call_back(pl_db *db, pl_db_unit *u, int err, const char *msg)
{
    db->pending--;
    u->cb(u->arg, err, msg, u);
    pl_db_unit_free(u);
}

/* The connection broke: everything sent but not confirmed goes back to the queue. */
static void db_disconnect(pl_db *db, const char *why)
{
    PL_ERROR(NULL, "database connection lost: %s", why);
    /* Requeue in-flight batches, oldest first at the front. */
    batch *bs[64];
    size_t nb = 0;
    for (batch *b = db->b_head; b;) {
        batch *next = b->next;
        if (nb < sizeof bs / sizeof bs[0]) {
            bs[nb++] = b;
        } else {
            requeue_front(db, b->head, false);
            batch_free(b);
        }
        b = next;
    }
    while (nb > 0) {
        batch *b = bs[--nb];
        requeue_front(db, b->head, false);
        batch_free(b);
    }
    db->b_head = db->b_tail = NULL;
    PQfinish(db->conn);
    db->conn = NULL;
    db->want_write = false;
    db->reconnect_at_ms = now_ms() + PL_DB_RECONNECT_MS;
}

static void db_try_flush(pl_db *db)
{
    int rc = PQflush(db->conn);
    if (rc < 0)
        db_disconnect(db, PQerrorMessage(db->conn));
    else
        db->want_write = rc == 1;
}

/* The merged form of the statement named name: its index; -1 when it has none. */
static int mergeable(const pl_db *db, const char *name)
{
    for (size_t i = 0; i < db->nstmts; i++)
        if (strcmp(db->stmts[i].name, name) == 0)
            return db->many[i];
    return -1;
}

/* The key of unit u's execution i: its $1; NULL when it has none. */
static const char *key_of(const pl_db_unit *u, int i)
{
    return u->ex[i].nparams > 0 ? u->ex[i].params[0] : NULL;
}

/* True when unit w's first execution has key k or w touches k. */
static bool unit_uses(const pl_db_unit *w, const char *k)
{
    if (strcmp(key_of(w, 0), k) == 0)
        return true;
    for (int i = 0; i < w->ntouch; i++)
        if (strcmp(w->touch[i], k) == 0)
            return true;
    return false;
}

/* True when some unit of the chain from first uses key k (its $1 or a touch). */
static bool chain_has(const pl_db_unit *first, const char *k)
{
    for (const pl_db_unit *w = first; w; w = w->gnext)
        if (unit_uses(w, k))
            return true;
    return false;
}

/* True when k is one of the n keys in blocked. */
static bool is_blocked(const char *const *blocked, int n, const char *k)
{
    for (int i = 0; i < n; i++)
        if (strcmp(blocked[i], k) == 0)
            return true;
    return false;
}

/* True when v may join the chain from first: none of its keys (its $1, its touches) is used by
 * a member or by a unit v would overtake. */
static bool may_join(const pl_db_unit *v, const pl_db_unit *first, const char *const *blocked,
                     int nblocked)
{
    const char *k = key_of(v, 0);
    if (chain_has(first, k) || is_blocked(blocked, nblocked, k))
        return false;
    for (int i = 0; i < v->ntouch; i++)
        if (chain_has(first, v->touch[i]) || is_blocked(blocked, nblocked, v->touch[i]))
            return false;
    return true;
}

/*
 * Gathers the units of batch b that go in u's merged statement (u is one execution of a
 * statement with a merged form) on u's gnext chain, marking them taken; returns how many.
 * A unit after u joins when it is one execution of the same statement whose keys (its $1 and
 * what it declared it touches, pl_db_unit_touch) no member uses and no unit it would overtake
 * uses (as a $1 or a touch): a merged statement then touches each row for one execution only
 * (db.h), and moving it up to u's place changes nothing another unit of the batch sees. The
 * scan is bounded, and stops at a unit whose executions do not all have a key.
 */
static int gather(pl_db_unit *u)
{
    const char *blocked[2 * PL_DB_MAX_BATCH_UNITS];
    int nblocked = 0, group = 1, scanned = 0;
    pl_db_unit *last = u;
    u->gnext = NULL;
    u->taken = true;
    const exec *f = &u->ex[0];
    for (pl_db_unit *v = u->next; v && group < PL_DB_MAX_MERGE && scanned < 2 * PL_DB_MAX_MERGE;
         v = v->next, scanned++) {
        if (v->taken)
            continue; /* sent before u's statement, as before */
        const exec *e = v->n == 1 ? &v->ex[0] : NULL;
        bool fits = e && !v->solo && e->nparams == f->nparams && key_of(v, 0) &&
                    strcmp(e->name, f->name) == 0 &&
                    may_join(v, u, (const char *const *)blocked, nblocked);
        if (fits) {
            v->taken = true;
            v->gnext = NULL;
            last->gnext = v;
            last = v;
            group++;
            continue;
        }
        /* v stays where it is: what comes after it must not overtake it on its keys. */
        for (int i = 0; i < v->n; i++) {
            if (!key_of(v, i) || nblocked == (int)(sizeof blocked / sizeof blocked[0]))
                return group;
            blocked[nblocked++] = key_of(v, i);
        }
        for (int i = 0; i < v->ntouch; i++) {
            if (nblocked == (int)(sizeof blocked / sizeof blocked[0]))
                return group;
            blocked[nblocked++] = v->touch[i];
        }
    }
    return group;
}

/* Appends v, big-endian, at *w. */
static void put_be32(unsigned char **w, uint32_t v)
{
    (*w)[0] = (unsigned char)(v >> 24);
    (*w)[1] = (unsigned char)(v >> 16);
    (*w)[2] = (unsigned char)(v >> 8);
    (*w)[3] = (unsigned char)v;
    *w += 4;
}

/* The type text, whose binary form is its bytes as they are (PostgreSQL's pg_type). */
#define TEXT_OID 25

/*
 * The merged statement's parameters for the chain of n units from first (db.h, "NAME:many"):
 * parameter k is the text[] of the executions' k-th parameters, in PostgreSQL's binary form of
 * an array (array_send / array_recv: dimensions, a has-nulls flag, the element type, the
 * length and lower bound of the dimension, then each element as its length, -1 for NULL, and
 * its bytes). Nothing is escaped, because nothing is text to be parsed: a parameter arrives as
 * the bytes it was. All of them in one allocation (*block, the caller frees it); values[k] and
 * lengths[k] point into it. Returns 0, or -1 on OOM or a size past what libpq takes.
 */
static int merged_params(const pl_db_unit *first, int n, int nparams, const char **values,
                         int *lengths, void **block)
{
    size_t total = 0;
    for (int k = 0; k < nparams; k++) {
        size_t len = 20;
        for (const pl_db_unit *u = first; u; u = u->gnext) {
            const char *v = u->ex[0].params[k];
            len += 4 + (v ? strlen(v) : 0);
        }
        if (len > INT32_MAX)
            return -1;
        lengths[k] = (int)len;
        total += len;
    }
    unsigned char *w = malloc(total ? total : 1);
    if (!w)
        return -1;
    *block = w;
    for (int k = 0; k < nparams; k++) {
        values[k] = (const char *)w;
        bool nulls = false;
        for (const pl_db_unit *u = first; u; u = u->gnext)
            nulls = nulls || !u->ex[0].params[k];
        put_be32(&w, 1); /* one dimension */
        put_be32(&w, nulls ? 1 : 0);
        put_be32(&w, TEXT_OID);
        put_be32(&w, (uint32_t)n);
        put_be32(&w, 1); /* lower bound */
        for (const pl_db_unit *u = first; u; u = u->gnext) {
            const char *v = u->ex[0].params[k];
            if (!v) {
                put_be32(&w, UINT32_MAX); /* -1: NULL */
                continue;
            }
            size_t len = strlen(v);
            put_be32(&w, (uint32_t)len);
            memcpy(w, v, len);
            w += len;
        }
    }
    return 0;
}

/*
 * Sends a batch's statements in unit order, each execution of each unit, except that the
 * executions of a statement with a merged form go together as one merged statement (gather).
 * Returns 0, or -1 when libpq refused to queue a statement (the connection is broken).
 */
static int send_batch(pl_db *db, batch *b)
{
    b->nq = 0;
    unsigned long long execs = db->counts.merged_executions;
    if (db->has_many && (now_ms() >= db->replan_at_ms || execs >= db->replan_at_execs)) {
        if (!PQsendQueryParams(db->conn, "DISCARD PLANS", 0, NULL, NULL, NULL, NULL, 0))
            return -1;
        b->sent[b->nq++] = (sent){.u = NULL};
        db->counts.replans++;
        db->replan_at_ms = now_ms() + db->replan_ms;
        db->replan_at_execs = execs < PL_DB_REPLAN_GROWN / 2 ? PL_DB_REPLAN_GROWN : 2 * execs;
    }
    for (pl_db_unit *u = b->head; u; u = u->next)
        u->taken = false;
    for (pl_db_unit *u = b->head; u; u = u->next) {
        if (u->taken)
            continue;
        int st = u->n == 1 && !u->solo && key_of(u, 0) ? mergeable(db, u->ex[0].name) : -1;
        int group = st >= 0 ? gather(u) : 1;
        int np = group > 1 ? u->ex[0].nparams : 0; /* a unit may have no execution at all */
        const char *values[PL_DB_MAX_PARAMS];
        int lengths[PL_DB_MAX_PARAMS], formats[PL_DB_MAX_PARAMS];
        void *block = NULL;
        if (group > 1 && np <= PL_DB_MAX_PARAMS &&
            merged_params(u, group, np, values, lengths, &block) == 0) {
            for (int k = 0; k < np; k++)
                formats[k] = 1; /* binary */
            int ok =
                PQsendQueryPrepared(db->conn, db->stmts[st].name, np, values, lengths, formats, 0);
            free(block);
            if (!ok)
                return -1;
            b->sent[b->nq++] = (sent){.u = u, .ex = 0, .group = group};
            db->counts.statements++;
            db->counts.merged_executions += (unsigned long long)group;
            continue;
        }
        if (group > 1) /* out of memory for the merged form: its members go one by one */
            for (pl_db_unit *v = u->gnext; v; v = v->gnext)
                v->taken = false;
        u->taken = true;
        for (int i = 0; i < u->n; i++) {
            if (!PQsendQueryPrepared(db->conn, u->ex[i].name, u->ex[i].nparams,
                                     (const char *const *)u->ex[i].params, NULL, NULL, 0))
                return -1;
            b->sent[b->nq++] = (sent){.u = u, .ex = i, .group = 0};
            db->counts.statements++;
        }
    }
    return 0;
}

void pl_db_flush(pl_db *db)
{
    release_due(db);
    if (!db->conn || !db->q_head)
        return;
    size_t in_flight = 0;
    for (batch *b = db->b_head; b; b = b->next)
        in_flight++;
    while (db->q_head && in_flight < PL_DB_MAX_BATCHES_IN_FLIGHT) {
        in_flight++;
        batch *b = calloc(1, sizeof *b);
        if (!b)
            return; /* try again next turn */
        b->t0 = now_ms_f();
        pl_db_unit *tail = NULL;
        /* A solo unit goes alone; otherwise take consecutive non-solo units. */
        while (db->q_head && b->nunits < PL_DB_MAX_BATCH_UNITS) {
            pl_db_unit *u = db->q_head;
            if (b->nunits > 0 && (u->solo || (b->head && b->head->solo)))
                break;
            db->q_head = u->next;
            if (!db->q_head)
                db->q_tail = NULL;
            u->next = NULL;
            if (tail)
                tail->next = u;
            else
                b->head = u;
            tail = u;
            b->nunits++;
            b->nq += u->n;
        }
        b->sent = malloc((size_t)(b->nq + 1) * sizeof *b->sent); /* + DISCARD PLANS */
        if (!b->sent) {
            requeue_front(db, b->head, false);
            free(b);
            return; /* try again next turn */
        }
        bool send_failed = send_batch(db, b) != 0;
        if (!send_failed && PQpipelineSync(db->conn) != 1)
            send_failed = true;
        b->awaiting_sync = b->nq == 0;
        if (db->b_tail)
            db->b_tail->next = b;
        else
            db->b_head = b;
        db->b_tail = b;
        if (send_failed) {
            db_disconnect(db, PQerrorMessage(db->conn));
            return;
        }
    }
    db_try_flush(db);
}

/*
 * True when a statement failed only because its prepared form is outdated: a migration changed
 * what it returns ("cached plan must not change result type", SQLSTATE 0A000). PostgreSQL does
 * not re-prepare such a statement by itself; preparing it again on a new connection does.
 * The code alone is not enough (0A000 is any unsupported feature, which preparing again would
 * not cure: a reconnect loop), so the message is matched too; a server that translates its
 * messages (lc_messages) is not recognised, and its units fail as any refused statement.
 */
static bool stale_statement(const PGresult *r)
{
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return code && strcmp(code, "0A000") == 0 && msg &&
           strstr(msg, "cached plan must not change result type");
}

/* A batch's Sync arrived: call back or split. */
static void batch_complete(pl_db *db, batch *b)
{
    db->b_head = b->next;
    if (!db->b_head)
        db->b_tail = NULL;
    if (b->failed && b->stale) {
        /* Nothing of the batch committed: every unit goes again, after the statements have
         * been prepared anew on a new connection (a worker left running through a migration
         * must not give its requests up). The back-off between reconnects bounds a repeat. */
        db_disconnect(db, "a schema change outdated the prepared statements; preparing again");
        requeue_front(db, b->head, false);
        batch_free(b);
        return;
    }
    if (!b->failed) {
        db->last_batch_ms = now_ms_f() - b->t0;
        for (pl_db_unit *u = b->head; u;) {
            pl_db_unit *next = u->next;
            call_back(db, u, 0, NULL);
            u = next;
        }
    } else if (b->nunits == 1 && b->head->solo && b->head->conflicts < PL_DB_CONFLICT_RETRIES &&
               (strcmp(b->sqlstate, "40P01") == 0 || strcmp(b->sqlstate, "40001") == 0)) {
        /* Another transaction got in its way (another replica's batch holding rows it needs):
         * nothing of it committed, and on its own it is likely to pass once that one is done,
         * so it goes again after a back-off (the other units go on meanwhile). Bounded, so a
         * statement that always conflicts is still reported. */
        b->head->conflicts++;
        PL_WARN(NULL, "database unit met a conflict (%s); sending it again (%d of %d)", b->errmsg,
                b->head->conflicts, PL_DB_CONFLICT_RETRIES);
        hold(db, b->head);
    } else if (b->nunits == 1 && b->head->solo) {
        PL_WARN(NULL, "database unit failed: %s", b->errmsg);
        call_back(db, b->head, PL_ERR_DB, b->errmsg);
    } else {
        /* Find the culprit by sending each unit on its own. */
        requeue_front(db, b->head, true);
    }
    batch_free(b);
}

/*
 * A merged statement's result, shared out: each unit of the group gets a result of the same
 * columns holding the rows whose first column is its key. Returns 0 or -1 (out of memory).
 */
static int distribute(const sent *sn, const PGresult *r)
{
    int nf = PQnfields(r);
    for (pl_db_unit *u = sn->u; u; u = u->gnext) {
        PQclear(u->ex[0].res);
        u->ex[0].res = PQcopyResult(r, PG_COPYRES_ATTRS);
        if (!u->ex[0].res)
            return -1;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        const char *key = nf > 0 ? PQgetvalue(r, row, 0) : "";
        pl_db_unit *v = sn->u;
        while (v && strcmp(v->ex[0].params[0], key) != 0)
            v = v->gnext;
        if (!v) {
            PL_ERROR(NULL, "%s: a merged row's key matches no execution", sn->u->ex[0].name);
            return -1;
        }
        PGresult *mine = v->ex[0].res;
        int t = PQntuples(mine);
        for (int f = 0; f < nf; f++) {
            bool null = PQgetisnull(r, row, f);
            if (!PQsetvalue(mine, t, f, null ? NULL : PQgetvalue(r, row, f),
                            null ? -1 : PQgetlength(r, row, f)))
                return -1;
        }
    }
    return 0;
}

/* Batch b failed with error result r of statement `what` (the first error is the one said). */
static void note_failure(batch *b, const char *what, PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    if (stale_statement(r))
        b->stale = true;
    if (!b->failed && st != PGRES_PIPELINE_ABORTED) {
        const char *m = PQresultErrorMessage(r);
        size_t len = strlen(m);
        while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
            len--;
        snprintf(b->errmsg, sizeof b->errmsg, "%s: %.*s", what, (int)len, m);
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(b->sqlstate, sizeof b->sqlstate, "%s", code ? code : "");
    }
    b->failed = true;
}

static void read_results(pl_db *db)
{
    int nulls = 0; /* NULLs in a row while awaiting a Sync */
    while (db->conn && db->b_head) {
        batch *b = db->b_head;
        if (PQisBusy(db->conn))
            return;
        PGresult *r = PQgetResult(db->conn);
        if (b->awaiting_sync) {
            /*
             * A COMMIT refused at the Sync comes as its error, then a NULL (the end of that
             * result), then PGRES_PIPELINE_SYNC, which may already be in libpq's buffer with
             * nothing more to come on the socket: so one NULL is passed over (the next turn
             * finds the Sync, or PQisBusy says it is still to be read); two in a row mean
             * there is nothing yet.
             */
            if (!r) {
                if (++nulls > 1)
                    return;
                continue;
            }
            nulls = 0;
            ExecStatusType st = PQresultStatus(r);
            /*
             * An error after the last statement's results is the transaction's COMMIT, which
             * the Sync ran, refused (a deferred constraint, a serialization failure found at
             * commit): nothing of the batch was written, and its units must not be told they
             * committed.
             */
            if (st == PGRES_FATAL_ERROR)
                note_failure(b, "COMMIT", r);
            PQclear(r);
            if (st == PGRES_PIPELINE_SYNC)
                batch_complete(db, b);
            continue;
        }
        if (!r) {
            /* End of the current statement's results. */
            if (++b->cur >= b->nq)
                b->awaiting_sync = true;
            continue;
        }
        sent *sn = &b->sent[b->cur];
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (!sn->u) {
                PQclear(r); /* DISCARD PLANS */
            } else if (sn->group > 0) {
                if (distribute(sn, r) != 0) {
                    b->failed = true;
                    if (!b->errmsg[0])
                        snprintf(b->errmsg, sizeof b->errmsg, "%s: out of memory",
                                 sn->u->ex[0].name);
                }
                PQclear(r);
            } else {
                exec *e = &sn->u->ex[sn->ex];
                PQclear(e->res);
                e->res = r;
            }
        } else {
            char what[160];
            snprintf(what, sizeof what, "%s%s", sn->u ? sn->u->ex[sn->ex].name : "DISCARD PLANS",
                     sn->group > 0 ? " (merged)" : "");
            note_failure(b, what, r);
            PQclear(r);
        }
    }
}

static void reconnect_failed(pl_db *db, const char *why)
{
    PL_WARN(NULL, "database reconnect failed: %s", why);
    PQfinish(db->rc_conn);
    db->rc_conn = NULL;
    db->reconnect_at_ms = now_ms() + PL_DB_RECONNECT_MS;
}

/* Sends the PREPARE of the next statement, or finishes the reconnect when all are prepared. */
static void reconnect_prepare_next(pl_db *db)
{
    PGconn *c = db->rc_conn;
    if (db->pend_stmt == db->nstmts) {
        if (PQenterPipelineMode(c) != 1) {
            reconnect_failed(db, PQerrorMessage(c));
            return;
        }
        db->conn = c;
        db->rc_conn = NULL;
        db->want_write = false;
        PL_INFO(NULL, "database connection restored");
        pl_db_flush(db);
        return;
    }
    const pl_db_stmt *st = &db->stmts[db->pend_stmt];
    if (!PQsendPrepare(c, st->name, st->sql, st->nparams, NULL) || PQflush(c) < 0)
        reconnect_failed(db, PQerrorMessage(c));
}

/*
 * One step of a reconnect. The loop keeps serving Kafka and the bureau calls meanwhile: a
 * blocking connect would stall every call in flight for as long as the database is away (and
 * their timers would then fire late, turning answers that did arrive into unknown outcomes).
 */
static void reconnect_step(pl_db *db, short revents)
{
    if (!db->rc_conn) {
        if (now_ms() < db->reconnect_at_ms)
            return;
        const char *keys[10], *vals[10];
        conn_params(keys, vals, db->conninfo, db->app_name, NULL);
        db->rc_conn = PQconnectStartParams(keys, vals, 1);
        if (!db->rc_conn || PQstatus(db->rc_conn) == CONNECTION_BAD) {
            reconnect_failed(db, db->rc_conn ? PQerrorMessage(db->rc_conn) : "out of memory");
            return;
        }
        db->pend_poll = PGRES_POLLING_WRITING;
        db->pend_preparing = false;
        db->pend_stmt = 0;
        db->pend_deadline_ms = now_ms() + 5000;
        return;
    }
    if (now_ms() > db->pend_deadline_ms) {
        reconnect_failed(db, "timed out");
        return;
    }
    PGconn *c = db->rc_conn;
    if (!db->pend_preparing) {
        bool ready =
            (db->pend_poll == PGRES_POLLING_READING && (revents & (POLLIN | POLLHUP | POLLERR))) ||
            (db->pend_poll == PGRES_POLLING_WRITING && (revents & (POLLOUT | POLLHUP | POLLERR)));
        if (!ready)
            return;
        db->pend_poll = PQconnectPoll(c);
        if (db->pend_poll == PGRES_POLLING_FAILED) {
            reconnect_failed(db, PQerrorMessage(c));
        } else if (db->pend_poll == PGRES_POLLING_OK) {
            if (PQsetnonblocking(c, 1) != 0) {
                reconnect_failed(db, PQerrorMessage(c));
                return;
            }
            db->pend_preparing = true;
            reconnect_prepare_next(db);
        }
        return;
    }
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    if (!PQconsumeInput(c)) {
        reconnect_failed(db, PQerrorMessage(c));
        return;
    }
    while (db->rc_conn && !PQisBusy(c)) {
        PGresult *r = PQgetResult(c);
        if (!r) { /* this PREPARE is complete */
            db->pend_stmt++;
            reconnect_prepare_next(db);
            return;
        }
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char why[300];
            snprintf(why, sizeof why, "prepare %s: %s", db->stmts[db->pend_stmt].name,
                     PQresultErrorMessage(r));
            PQclear(r);
            reconnect_failed(db, why);
            return;
        }
        PQclear(r);
    }
}

void pl_db_on_ready(pl_db *db, short revents)
{
    if (!db->conn) {
        reconnect_step(db, revents);
        return;
    }
    if (revents & POLLOUT)
        db_try_flush(db);
    if (db->conn && (revents & (POLLIN | POLLERR | POLLHUP))) {
        if (!PQconsumeInput(db->conn)) {
            db_disconnect(db, PQerrorMessage(db->conn));
            return;
        }
        read_results(db);
        /* A batch completed: what waited for it can go now. */
        pl_db_flush(db);
    }
    if (db->conn && PQstatus(db->conn) == CONNECTION_BAD)
        db_disconnect(db, "connection bad");
}

int pl_db_fd(const pl_db *db)
{
    if (db->conn)
        return PQsocket(db->conn);
    return db->rc_conn ? PQsocket(db->rc_conn) : -1;
}

short pl_db_events(const pl_db *db)
{
    if (!db->conn) {
        if (!db->rc_conn)
            return 0;
        if (!db->pend_preparing && db->pend_poll == PGRES_POLLING_WRITING)
            return POLLOUT;
        return POLLIN;
    }
    return (short)(POLLIN | (db->want_write ? POLLOUT : 0));
}

size_t pl_db_pending(const pl_db *db)
{
    return db->pending;
}

bool pl_db_connected(const pl_db *db)
{
    return db->conn != NULL;
}

static bool list_has_arg(const pl_db_unit *u, const void *arg)
{
    for (; u; u = u->next)
        if (u->arg == arg)
            return true;
    return false;
}

const char *pl_db_unit_place(const pl_db *db, const void *arg)
{
    if (list_has_arg(db->q_head, arg))
        return "queued";
    if (list_has_arg(db->h_head, arg))
        return "held";
    for (const batch *b = db->b_head; b; b = b->next)
        if (list_has_arg(b->head, arg))
            return "sent";
    return NULL;
}

void pl_db_describe(const pl_db *db, char *buf, size_t size)
{
    size_t queued = 0, held = 0, batches = 0;
    for (const pl_db_unit *u = db->q_head; u; u = u->next)
        queued++;
    for (const pl_db_unit *u = db->h_head; u; u = u->next)
        held++;
    for (const batch *b = db->b_head; b; b = b->next)
        batches++;
    int n = snprintf(buf, size, "%s; %zu unit(s) queued, %zu held, %zu batch(es) in flight",
                     db->conn ? "connected" : "reconnecting", queued, held, batches);
    const batch *b = db->b_head;
    if (b && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n,
                 " (the oldest sent %.1f s ago, %d of %d results read%s)",
                 (now_ms_f() - b->t0) / 1000.0, b->cur, b->nq,
                 b->awaiting_sync ? ", awaiting its sync" : "");
}

double pl_db_last_batch_ms(const pl_db *db)
{
    return db->last_batch_ms;
}

pl_db_counts pl_db_get_counts(const pl_db *db)
{
    return db->counts;
}

void pl_db_set_replan_ms(pl_db *db, int ms)
{
    db->replan_ms = ms;
    db->replan_at_ms = now_ms() + ms;
}

int pl_db_timeout_ms(const pl_db *db)
{
    if (!db->h_head)
        return -1;
    int64_t now = now_ms(), first = INT64_MAX;
    for (const pl_db_unit *u = db->h_head; u; u = u->next) {
        int64_t due = held_due_ms(db, u);
        if (due < first)
            first = due;
    }
    if (first <= now)
        return 0;
    return first - now > INT32_MAX ? INT32_MAX : (int)(first - now);
}

void pl_db_set_conflict_backoff_ms(pl_db *db, int ms)
{
    db->backoff_ms = ms < 0 ? 0 : ms;
}

void pl_db_destroy(pl_db *db)
{
    if (!db)
        return;
    for (batch *b = db->b_head; b;) {
        batch *next = b->next;
        for (pl_db_unit *u = b->head; u;) {
            pl_db_unit *un = u->next;
            call_back(db, u, PL_ERR_STATE, "database closed");
            u = un;
        }
        batch_free(b);
        b = next;
    }
    for (pl_db_unit *u = db->q_head; u;) {
        pl_db_unit *next = u->next;
        call_back(db, u, PL_ERR_STATE, "database closed");
        u = next;
    }
    for (pl_db_unit *u = db->h_head; u;) {
        pl_db_unit *next = u->next;
        call_back(db, u, PL_ERR_STATE, "database closed");
        u = next;
    }
    PQfinish(db->conn);
    PQfinish(db->rc_conn);
    free(db->many);
    free(db->conninfo);
    free(db);
}
