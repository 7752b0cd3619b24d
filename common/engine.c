/*
 * engine.c: the consume → record → call → record → reply loop shared by every worker.
 * The contract is in engine.h; the reasons behind each step are in DESIGN.md "The engine".
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "card.h"
#include "config.h"
#include "dlq.h"
#include "ext_rules.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "oauth.h"
#include "offsets.h"
#include "resolver_run.h"
#include "reversal_own.h"
#include "stored_value.h"

#define MAX_SERVICES 64
#define HASH_BUCKETS 4096
#define LOOP_TICK_MS 100

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_dump; /* SIGUSR1: list the requests in flight (dump_live) */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_dump_signal(int sig)
{
    (void)sig;
    g_dump = 1;
}

/*
 * What the owner of a row it made unknown, reading that row again instead of publishing its
 * `timeout` reply, has produced of that reply (job.rr_own): what it records should the row have
 * been settled meanwhile, its final reply held for the resolver (answer_from_row). A redelivery
 * or a duplicate that finds the row so records nothing: the final reply waits for the owner (or
 * a replay's hold for the owner's copy), and only the owner knows what of its own may still be
 * queued. Without its record, nobody's comes, and the final reply waits the 10 minutes.
 */
enum {
    RR_OWN_NOT,         /* no such owner (or it has replayed the reply since: answer_from_row) */
    RR_OWN_COPY_FAILED, /* its copy, produced within the window, failed (retry_publish): it may
                         * still have been persisted in flight, so the hold (pl_replayed) */
    RR_OWN_NO_COPY,     /* it produced none (on_written: past the window, or its write's result
                         * lost): nothing of its own can be queued (pl_replied_none, now) */
};

typedef enum job_state {
    JS_NEW,
    JS_LOOKING, /* refused by validation: is there a row for its request_id after all? */
    JS_RECORDING,
    JS_QUEUED, /* waiting for a bureau concurrency slot; its row is still 'received', or not
                * written yet (job.unrecorded) */
    JS_MARKING,
    JS_UNMARKING, /* no next call at a stop or for a partition left: its row back to 'received' */
    JS_CALLING,
    JS_STORING,
    JS_CHECKING, /* a guarded write changed nothing: re-reading the row */
    JS_WAITING,  /* another owner has the request in flight: re-read the row later */
    JS_PUBLISHING,
    JS_DONE,
} job_state;

typedef struct outmsg {
    char *topic, *key, *payload;
    struct outmsg *next;
} outmsg;

/* The longest bearer header a job keeps ("Authorization: Bearer " and the token). */
#define BEARER_MAX 2112

/* Room for an access token cache key (oauth_key): a bureau code, its client id and its token
 * URL. */
#define OAUTH_KEY_MAX                                                                              \
    (sizeof((pl_service *)0)->code + sizeof((pl_service *)0)->ext_auth_user +                      \
     sizeof((pl_service *)0)->ext_token_url + 2)

typedef struct job job;
struct job {
    pl_job pub; /* first: specs get &pub, the engine casts back */
    job_state state;
    int32_t partition;
    int64_t offset;
    bool tracked;  /* offset added to the tracker */
    bool admitted; /* in the request_id hash */
    /* its partition is being revoked (or was): no call starts for it here (leave_partitions) */
    bool leaving;
    bool leave_parked; /* leave_partitions: parked behind another owner (parked_behind_owner) */
    char *payload;
    size_t payload_len;
    char *key;
    size_t key_len;
    pl_errors *errs; /* validation errors: judged only when no row exists (NULL = valid) */
    const pl_bureau_ops *ops;
    pl_bureau_cfg cfg;
    pl_bureau_msg *msg; /* the call's bytes: allocated at the job's first build (job_msg) */
    double t_call;
    double t_start;
    int pending_dr;
    int publish_retries;
    int operator_refusals; /* publishes refused until an operator acts (publish_failed) */
    bool dlq_cut;          /* the dead-letter copy was already cut to fit once */
    bool reply_dropped;    /* its reply was refused for good: a dead-letter copy went instead */
    bool slot_held;        /* holds one of its bureau's concurrency slots (a getToken too) */
    bool in_queue;         /* in its bureau's slot queue */
    /* When it last joined its bureau's slot queue (slot_enqueue; read only while in_queue):
     * what slot_check_stalls judges its bureau by. One that comes back to the queue (recorded by
     * record_overdue, or after waiting for another owner's row) counts from then, behind the
     * others, so the queue stays in the order of these times. */
    double t_queued;
    /* JS_QUEUED with no row yet: recorded already marked sent when a slot frees, or as
     * 'received' once it has waited PAYLINK_SLOT_WAIT_RECORD_MS (record_overdue) */
    bool unrecorded;
    bool in_timers; /* in the engine's timer list */
    int rounds;     /* recorded again after its mark found the row changed */
    bool read_back; /* its record unit reads the row back (pl_lookup): the insert found one */
    /* Its record unit's look-ups run after a read of its row that found it 'received' (on_recorded:
     * the look-ups of a unit that reads the row back run before that read) */
    bool looks_after_read;
    int calls;      /* bureau calls started (spec->next_call asks for more than one) */
    long answer_ms; /* the answer wait its last call went with (submit_msg), for its reply */
    /* OAuth (bureaus with PL_BUREAU_OAUTH): the bearer header of the call in flight, its token's
     * generation, and what to do once a token is there (the job waits in the oauth cache). */
    char *bearer; /* BEARER_MAX bytes, made for the first call to such a bureau; else NULL */
    /* The cache key (oauth_key) bearer's token was asked under, OAUTH_KEY_MAX bytes made with
     * bearer: the entry a 401 drops (resend_after_401). Worked out again at the 401, a refresh
     * between the token and the 401 could name another entry: the token refused stayed cached
     * and the next get was given it again, and an entry holding a good token was dropped.
     * Followed, in the same allocation (token_client), by the OAuth client it was asked of. */
    char *token_key;
    unsigned token_gen;
    /* Access tokens fetched again for the call in flight because a refresh changed its OAuth
     * client while one was fetched (on_token, TOKEN_REFETCH_MAX). */
    int token_refetches;
    bool oauth_waiting;
    void (*after_token)(job *);
    bool reauthed;         /* the call in flight was already sent again after a 401 */
    bool tokenizing;       /* the call in flight is the getToken before the request's own call */
    bool foreign_said;     /* its merchant ID not its client's, said (merchant_foreign) */
    int checks;            /* re-reads after guarded writes that changed nothing */
    bool owner_recheck;    /* the next re-read is one of the waits for an owner in flight */
    double owner_deadline; /* JS_WAITING: when the owner of a 'sent' row is presumed gone */
    /* the row's sent_by when owner_deadline was set */
    char owner_attempt[PL_ENGINE_ATTEMPT_MAX + 1];
    bool unknown_tried;   /* finish_unknown was tried: a failure now gives the request up */
    bool unknown_writing; /* its pl_unknown in flight: counted once it changed the row */
    /* It publishes the `timeout` reply of a required response (written by finish_unknown, or
     * replayed from a row left unknown): once Kafka has it, required_response.worker_replied_at
     * is recorded before the offset is (mark_replied; 055), and rr_marked says it was tried.
     * rr_hold: a replay, recorded with the hold for the owner's copy (pl_replayed; 066).
     * rr_reread: that reply failed to publish and is not produced again as it was: the row is
     * read again at `due` (job_done), and rr_parked says it waits for that (overdue_detail).
     * rr_since: when finish_unknown sent the row's write. */
    bool rr_reply, rr_marked, rr_hold, rr_reread, rr_parked;
    double rr_since;
    /* The owner reading its row again instead of publishing its `timeout` reply: what of it it
     * produced (RR_OWN_*), recorded should it find the final reply held (answer_from_row). */
    uint8_t rr_own;
    /* Its write changed no row: the re-read says whether the row holds this job's own reply (a
     * write that committed, re-sent after the connection was lost: own_reply), to publish it
     * as written (a generated card number after all, and not marked replayed). */
    bool own_check;
    double due;   /* JS_WAITING: next re-read; JS_QUEUED unrecorded: when it is recorded anyway */
    bool overdue; /* in the worker longer than it should be, and logged so (sweep_overdue) */
    outmsg *out;  /* messages still to produce */
    const char *outcome; /* metrics label */
    job *hnext;          /* hash chain */
    job *waiters;        /* duplicates parked until this one is done */
    job *wnext;
    job *qnext;       /* bureau slot queue */
    job *tnext;       /* timer list (JS_WAITING) */
    job *prev, *next; /* live list */
};

typedef struct slot {
    char code[9];
    int active;
    job *qhead, *qtail;
    /* The breaker on the queue (slot_check_stalls). answered_at: when a call of the bureau that
     * holds a slot, other than a getToken, last got an answer its adapter read (slot_answered;
     * a getToken holds one too, on_tokenized, but says nothing of the payment calls), kept only
     * while some queue waits or a bureau has not answered since it stalled, and set when its
     * queue forms (slot_enqueue) unless `unanswered`. While `stalled`, a request that finds the
     * slots all taken is answered at once, not queued (but for the spec's breaker_exempt);
     * busy_since is since when none was to be had, refused how many were answered so since.
     * `unanswered`: none of its calls has had an answer since it last stalled (set by slot_stall,
     * cleared by slot_answered alone; the stall's idle end, slot_start_queued, leaves it): its next
     * queue is judged from probe_at (slot_judged_at), when the first request after that idle
     * end asked for a slot (slot_take; 0 until one has), so the bureau has
     * PAYLINK_SLOT_WAIT_MAX_MS from its first new call to answer, however long it was idle.
     * paylink_bureau_stalled is 1 while `stalled`. `starting`: slot_start_queued is handing
     * out its free slots (a slot given back meanwhile, by a getToken that could not start, is
     * handed out by that same loop: slot_release). */
    double answered_at;
    double probe_at;
    bool stalled;
    bool unanswered;
    bool starting;
    double busy_since;
    uint64_t refused;
    pl_counter *m_refused; /* paylink_slot_wait_refused_total{bureau} */
    pl_gauge *m_stalled;   /* paylink_bureau_stalled{bureau} */
} slot;

typedef struct retry {
    job *j;
    char *topic, *key, *payload;
    size_t key_len, payload_len;
    double due;
    struct retry *next;
} retry;

/*
 * The configuration refresh runs on a thread of its own with its own connection: loading the
 * settings is a handful of blocking queries, and the event loop must never wait for the
 * database (a frozen PostgreSQL would stop the loop, and bureau answers already received would
 * time out while it waits). The thread hands each new snapshot over through `fresh`.
 */
typedef struct refresher {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;            /* under mu */
    pl_services *fresh;   /* under mu: a snapshot the loop has not taken yet */
    double rr_open;       /* under mu: open required responses, -1 unknown */
    double rr_oldest_s;   /* under mu: age of the oldest open one in seconds (0 none), -1 unknown */
    const char *conninfo; /* the engine's configuration outlives the thread */
    const char *worker;
    int interval_s;
    int wake_fd; /* write end of a pipe the loop polls */
    /* refresher_ask_stop: when the stop was asked (CLOCK_REALTIME, pthread_timedjoin_np's), and
     * the join's bound from then (refresher_stop) */
    bool stop_asked;
    struct timespec join_by;
} refresher;

struct pl_engine {
    const pl_spec *spec;
    pl_config cfg;
    char t_request[160], t_reply[160], t_dlq[160];
    rd_kafka_t *consumer, *producer;
    rd_kafka_queue_t *cq, *pq;
    rd_kafka_queue_t *commitq; /* results of explicit commits (on_committed), served each turn */
    int cpipe[2], ppipe[2];
    pl_db *db;
    pl_db_stmt stmts[32];
    char sql_lookup[768], sql_unknown[2048], sql_final[512], sql_followups[512], sql_unmark[256];
    pl_http *http;
    pl_oauth *oauth; /* bearer tokens of the bureaus that need them (oauth.h) */
    uint64_t oauth_ok_seen, oauth_failed_seen; /* its counters already in the metrics */
    pl_db_counts db_seen;                      /* pl_db's counters already in the metrics */
    pl_http_counts http_seen;                  /* and pl_http's */
    pl_services *services;
    pl_offsets *offsets;
    pl_metrics *metrics;
    job *live;
    size_t n_live;
    size_t n_unrecorded;  /* JS_QUEUED jobs without a row (job.unrecorded) */
    size_t n_queued;      /* jobs in the slot queues, all bureaus together */
    size_t n_stalled;     /* bureaus stalled (slot.stalled) */
    size_t n_unanswered;  /* bureaus unanswered since they stalled (slot.unanswered) */
    double overdue_check; /* when record_overdue looks again */
    double overdue_sweep; /* when sweep_overdue looks again */
    size_t n_overdue;     /* what it found last time */
    job *hash[HASH_BUCKETS];
    rd_kafka_message_t **backlog;
    size_t b_head, b_len, b_cap;
    bool paused;
    double full_since; /* since when the backlog is full and no request started (consume) */
    rd_kafka_topic_partition_list_t *assigned;
    /* partitions revoked whose position the revoke committed (on_revoke_committed), until
     * assigned again: an earlier commit's failure told after it is moot (on_committed) */
    rd_kafka_topic_partition_list_t *revoke_ok;
    /* partitions revoked while stopping (or with a stop asked) whose explicit commit was not
     * settled (commit_on_revoke), each with its position, until the result of the revoke's
     * commit of it is told (once they are forgotten; teardown says those it never came for) */
    rd_kafka_topic_partition_list_t *revoke_unsettled;
    /* partitions whose revoke's commit failed with their explicit commit unsettled
     * (revoke_failed), each with its position (offset), that failure (err) and when it is given
     * up for (elem_time: now_s(), REVOKE_DEFERRED_S after the failure), until librdkafka's own
     * commit of the position on unassign is told (on_unassign_committed) or given up for
     * (revoke_deferred_due) */
    rd_kafka_topic_partition_list_t *revoke_deferred;
    /* the revoked partitions (commit_on_revoke) and those whose deferral was decided
     * (unassign_verdict), each with its position (offset), until it is assigned again or the
     * teardown: a commit librdkafka makes by itself above it (on_unassign_committed: a retry of
     * an older log's automatic commit landing late) is said at error */
    rd_kafka_topic_partition_list_t *revoked_at;
    /* partitions no longer tracked whose error with the reset command was said (say_reset),
     * each with the offset that command sets (offset), when it was said (elem_time) and whether
     * it, or one said for the partition since, was of a commit landing above the position
     * (opaque non-NULL: SAID_ABOVE, never moot), until a commit of that offset is told to have
     * succeeded after it (say_moot), the partition is assigned again, REVOKE_SAID_KEEP_S pass
     * (revoke_deferred_due) or the teardown: at most one element a partition */
    rd_kafka_topic_partition_list_t *revoke_said;
    /* failed results of librdkafka's own commits said at warn (own_commit_failed): how many so
     * far, and when one was last said */
    uint64_t own_fails;
    double own_fails_said;
    /* the results of librdkafka's own commit of a partition still in e->revoke_unsettled (its
     * revoke's commit not told yet: the close serves the consumer's queue first), each with the
     * offset it committed and its error, for revoke_failed */
    rd_kafka_topic_partition_list_t *unassign_told;
    /* the consumer tells the results of librdkafka's own commits (on_unassign_committed) */
    bool own_commits_told;
    /* revoke commits sent on e->commitq, their results told (in that order), and the last one
     * commit_on_revoke stopped waiting for: a result up to it comes late (on_revoke_committed) */
    uint64_t revoke_sent, revoke_told, revoke_gave_up;
    pl_kafka_stalls *stalls; /* assigned partitions the statistics show not fetched */
    bool stats_fresh;        /* statistics came since refetch_stalled last looked */
    bool resubscribe;        /* refetch_stalled's subscribe failed: to be tried again */
    /* A rebalance may be under way: the rebalance callback ran (an assignment, a revoke, a
     * rebalance error: on_rebalance) since statistics last told the group's join state
     * (cgrp.join_state) "steady", or the last that told one told another. position_store then
     * leaves an explicit commit owed, for commit_check_stats to make once they tell "steady"
     * (commit_check_stats says why). False before any assignment. */
    bool group_unsteady;
    slot slots[MAX_SERVICES];
    size_t nslots;
    retry *retries;
    job *timers;    /* JS_WAITING jobs */
    size_t max_msg; /* the producer's message.max.bytes */
    /* How long after a row left unknown opened its owner's `timeout` reply may still reach Kafka
     * (the producer's message.timeout.ms and RR_HOLD_MARGIN_S): what a replay of that reply
     * makes the final reply wait for (pl_replayed; 066). */
    char rr_hold_s[16];
    bool fatal; /* the producer hit a fatal error: nothing can be published any more */
    int exit_status;
    bool ready;
    int rpipe[2]; /* the refresher wakes the loop */
    refresher ref;
    pl_resolver_runner *resolver; /* settles required responses (resolver_run.h); NULL: off */
    bool stopping;
    bool draining;        /* inside a revoke drain: do not start new work */
    double stop_deadline; /* stopping: when the stop's drain gives up (now_s() clock) */
    double
        stop_drain_from; /* a stop asked during a revoke drain: when that drain began (0: none) */
    int64_t lag;
    /* metrics */
    pl_counter *m_requests[8];
    pl_counter *m_oauth_ok, *m_oauth_failed;
    pl_counter *m_db_statements, *m_db_merged;
    pl_counter *m_conn_full, *m_conn_resumed;
    pl_counter *m_retries, *m_required, *m_dlq, *m_replayed, *m_conflicts, *m_produce_fail,
        *m_publish_dropped, *m_failed, *m_rechecks, *m_pauses, *m_refetches, *m_unreadable;
    pl_gauge *m_in_flight, *m_lag, *m_rr_open, *m_rr_oldest, *m_backlog, *m_overdue;
    /* How old the bureau settings are (loaded at the start or by the last good refresh, at
     * config_at), and how often they are refreshed: a replica that cannot refresh them goes on
     * with the ones it has, and an operator's change never reaches it. */
    pl_gauge *m_config_age, *m_config_interval;
    double config_at;
    pl_histogram *m_bureau, *m_db, *m_total;
};

static const char *const outcome_names[] = {"approved", "declined", "review",  "rejected",
                                            "error",    "timeout",  "invalid", "replayed"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static job *J(pl_job *p)
{
    return (job *)p;
}

/* ---- request_id hash (duplicates in flight) ---- */

static unsigned hash_rid(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % HASH_BUCKETS;
}

static job *hash_find(pl_engine *e, const char *rid)
{
    for (job *j = e->hash[hash_rid(rid)]; j; j = j->hnext)
        if (strcmp(j->pub.req.request_id, rid) == 0)
            return j;
    return NULL;
}

static void hash_remove(pl_engine *e, job *j)
{
    job **pp = &e->hash[hash_rid(j->pub.req.request_id)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == j) {
            *pp = j->hnext;
            break;
        }
    }
    j->admitted = false;
}

/* ---- job lifetime ---- */

static slot *slot_for(pl_engine *e, const char *code);

static void timer_remove(pl_engine *e, job *j)
{
    for (job **pp = &e->timers; *pp; pp = &(*pp)->tnext) {
        if (*pp == j) {
            *pp = j->tnext;
            break;
        }
    }
    j->tnext = NULL;
    j->in_timers = false;
}

/* Takes a job out of its bureau's slot queue (a queued job that ends for another reason). */
/* Takes job q out of slot s's queue, prev being the job before it there (NULL: q is first). */
static void slot_unlink(pl_engine *e, slot *s, job *prev, job *q)
{
    if (prev)
        prev->qnext = q->qnext;
    else
        s->qhead = q->qnext;
    if (s->qtail == q)
        s->qtail = prev;
    q->qnext = NULL;
    q->in_queue = false;
    e->n_queued--;
}

static void slot_unqueue(pl_engine *e, job *j)
{
    slot *s = slot_for(e, j->pub.svc->code);
    job *prev = NULL;
    for (job *q = s->qhead; q; prev = q, q = q->qnext) {
        if (q == j) {
            slot_unlink(e, s, prev, q);
            return;
        }
    }
    j->qnext = NULL;
    j->in_queue = false;
}

static void outmsgs_free(outmsg *o)
{
    while (o) {
        outmsg *n = o->next;
        free(o->topic);
        free(o->key);
        free(o->payload);
        free(o);
        o = n;
    }
}

/* Drops the follow-ups decided so far: they were decided with an answer that is not what the row
 * says (not stored, or another actor's stored first), and what the row says goes out instead. */
static void followups_drop(job *j)
{
    outmsgs_free(j->out);
    j->out = NULL;
}

/*
 * The job's message, answer and reply are allocated when it first needs them: most of the jobs
 * in flight under load wait for a bureau slot, and without them a job stays within the
 * allocator's 4 KiB class (docs/perf/ROUNDS.md; checked below). Out of memory: exit, as for
 * the job itself.
 */
_Static_assert(sizeof(job) <= 4096, "a job in flight fits jemalloc's 4 KiB size class");

static pl_bureau_msg *job_msg(job *j)
{
    if (!j->msg && !(j->msg = calloc(1, sizeof *j->msg))) {
        PL_ERROR(j->pub.req.request_id, "out of memory building a bureau request; exiting");
        exit(70);
    }
    return j->msg;
}

/* The job's answer, empty, for the bureau's answer to be parsed into. */
static pl_bureau_result *job_res(job *j)
{
    if (j->pub.res)
        memset(j->pub.res, 0, sizeof *j->pub.res);
    else if (!(j->pub.res = calloc(1, sizeof *j->pub.res))) {
        PL_ERROR(j->pub.req.request_id, "out of memory reading a bureau answer; exiting");
        exit(70);
    }
    return j->pub.res;
}

/* Frees the job's message (its body and credentials wiped) and its answer (wiped: it may hold a
 * generated card number or a card token). Either may be absent. */
static void job_msg_drop(job *j)
{
    pl_bureau_msg_free(j->msg);
    free(j->msg);
    j->msg = NULL;
}

static void job_res_drop(job *j)
{
    if (j->pub.res)
        pl_card_wipe(j->pub.res, sizeof *j->pub.res);
    free(j->pub.res);
    j->pub.res = NULL;
}

/* The job's reply, allocated empty when the job has none (job_reply_park let it go). */
static pl_reply *job_reply(job *j)
{
    if (!j->pub.reply && !(j->pub.reply = calloc(1, sizeof *j->pub.reply))) {
        PL_ERROR(j->pub.req.request_id, "out of memory answering a request; exiting");
        exit(70);
    }
    return j->pub.reply;
}

/* The job's reply, emptied, for a new answer to be written into. */
static pl_reply *job_reply_clear(job *j)
{
    pl_reply *r = job_reply(j);
    memset(r, 0, sizeof *r);
    return r;
}

/* Frees the job's reply, wiped (it may hold a card token). */
static void job_reply_drop(job *j)
{
    if (j->pub.reply)
        pl_card_wipe(j->pub.reply, sizeof *j->pub.reply);
    free(j->pub.reply);
    j->pub.reply = NULL;
}

/* A job that starts waiting for a bureau slot lets its reply go while nothing is in it (a call
 * is to be made: prepare wrote no refusal); job_reply gives it an empty one again. A reply that
 * holds something is kept. */
static void job_reply_park(job *j)
{
    static const pl_reply empty;
    if (j->pub.reply && memcmp(j->pub.reply, &empty, sizeof empty) == 0)
        job_reply_drop(j);
}

/*
 * Builds the bytes of the job's call (j->pub.call) into its message. On failure logs why and
 * returns false, err holding the bureau adapter's words ("" when it gave none): nothing was sent.
 */
static bool build_msg(job *j, char *err, size_t errsize)
{
    pl_bureau_msg_free(j->msg);
    int rc = j->ops->build(&j->cfg, &j->pub.call, job_msg(j), err, errsize);
    if (rc == 0)
        return true;
    PL_ERROR(j->pub.req.request_id, "cannot build the bureau request: %s",
             err[0] ? err : pl_err_str(rc));
    return false;
}

/* finish_error's words for a call build_msg could not build. */
#define UNBUILT(err) ((err)[0] ? (err) : "bureau request could not be built")

static void job_free(job *j)
{
    pl_engine *e = j->pub.eng;
    if (j->in_timers)
        timer_remove(e, j);
    if (j->in_queue)
        slot_unqueue(e, j);
    if (j->unrecorded)
        e->n_unrecorded--;
    if (j->oauth_waiting)
        pl_oauth_cancel(e->oauth, j);
    if (j->bearer) {
        pl_card_wipe(j->bearer, BEARER_MAX);
        free(j->bearer);
        j->bearer = NULL;
    }
    free(j->token_key);
    j->token_key = NULL;
    pl_card_wipe(j->pub.card_token, sizeof j->pub.card_token);
    if (j->prev)
        j->prev->next = j->next;
    else if (e->live == j)
        e->live = j->next;
    if (j->next)
        j->next->prev = j->prev;
    e->n_live--;
    if (e->spec->release)
        e->spec->release(&j->pub);
    else
        free(j->pub.spec_data);
    pl_request_free(&j->pub.req);
    job_msg_drop(j);
    job_res_drop(j);
    job_reply_drop(j);
    if (j->payload) {
        pl_card_wipe(j->payload, j->payload_len);
        free(j->payload);
    }
    free(j->key);
    free(j->errs);
    free(j->pub.reply_json);
    pl_card_wipe(j->pub.reply_card_number_once, sizeof j->pub.reply_card_number_once);
    outmsgs_free(j->out);
    if (j->pub.services)
        pl_services_unref((pl_services *)j->pub.services);
    free(j);
}

static void store_offset(pl_engine *e, int32_t partition, int64_t off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, e->t_request, partition)->offset = off;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(e->consumer, l);
    /* _STATE: the partition was revoked meanwhile; its new owner re-reads from the commit. */
    if (err && err != RD_KAFKA_RESP_ERR__STATE)
        PL_WARN(NULL, "offset store failed: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* How long a line about the same thing said again and again waits at most for the next. */
#define SAY_AGAIN_S 3600.0

/*
 * A time of now_s()'s clock kept with an element of one of the engine's partition lists
 * (e->revoke_deferred, e->revoke_said), as a double in the element's metadata: librdkafka frees
 * an element's metadata with the element (with free(), on a delete and on the list's destroy),
 * and these lists are never committed. Before, a deadline was kept in milliseconds in the
 * pointer-sized opaque: on a 32-bit build it wrapped after 24 days of uptime, and a deferral was
 * then given up for at once or never. Not kept (out of memory): 0, due at once.
 */
static void elem_time_set(rd_kafka_topic_partition_t *tp, double t)
{
    if (!tp->metadata || tp->metadata_size != sizeof t) {
        free(tp->metadata);
        tp->metadata_size = 0;
        if (!(tp->metadata = malloc(sizeof t)))
            return;
        tp->metadata_size = sizeof t;
    }
    memcpy(tp->metadata, &t, sizeof t);
}

static double elem_time(const rd_kafka_topic_partition_t *tp)
{
    double t = 0;
    if (tp->metadata && tp->metadata_size == sizeof t)
        memcpy(&t, tp->metadata, sizeof t);
    return t;
}

/* How long an error with the reset command said for a partition no longer tracked is kept
 * (e->revoke_said) for a commit of its offset told to succeed after it (say_moot): far past what
 * librdkafka 2.0.2 holds a commit for (up to session.timeout.ms waiting for a coordinator, then
 * socket.timeout.ms a try). */
#define REVOKE_SAID_KEEP_S 3600.0

/* What e->revoke_said's element's opaque holds when an error said for the partition was of a
 * commit landing above the position (say_reset_above). */
#define SAID_ABOVE ((void *)1)

/*
 * Says, at error, that the group's committed offset of `partition` may stay above `to`, the
 * position this consumer reached, with nothing here left to commit it (the partition revoked or
 * lost, or its commit failed on revoke): its next owner would resume above the records below it
 * not yet done (a new log's, after the topic was recreated or its log truncated). Only an
 * operator can then move it, with the group's workers stopped. Kept (e->revoke_said) for a
 * commit of `to` told to succeed after it (say_moot), unless an error of a commit landing above
 * the position was said for the partition, before it or after (say_reset_above): that stands.
 */
static void say_reset(pl_engine *e, int32_t partition, int64_t to, const char *why)
{
    PL_ERROR(NULL,
             "partition %d of %s: %s: the group's committed offset may stay above %" PRId64
             ", this consumer's position (after the topic was recreated or its log truncated), "
             "and the partition's next owner skip the records below it not yet done. Stop the "
             "group's workers and reset it: kafka-consumer-groups --bootstrap-server %s --group "
             "%s --topic %s:%d --reset-offsets --to-offset %" PRId64
             " --execute (requests read again are answered from their rows)",
             (int)partition, e->t_request, why, to, e->cfg.brokers, e->cfg.group, e->t_request,
             (int)partition, to);
    /* Kept, so that a commit of `to` told to succeed after this is said to make it moot. */
    if (!e->revoke_said)
        e->revoke_said = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_t *s =
        rd_kafka_topic_partition_list_find(e->revoke_said, e->t_request, partition);
    if (!s)
        s = rd_kafka_topic_partition_list_add(e->revoke_said, e->t_request, partition);
    s->offset = to;
    elem_time_set(s, now_s());
}

/* The element of partition list l (NULL: none yet) for topic and partition, or NULL. */
static rd_kafka_topic_partition_t *plist_find(rd_kafka_topic_partition_list_t *l, const char *topic,
                                              int32_t partition)
{
    return l ? rd_kafka_topic_partition_list_find(l, topic, partition) : NULL;
}

/*
 * Says, at error (say_reset), that a commit of `off`, above `to`, the position `partition` was
 * revoked at, was told to have succeeded after the revoke (`whose` commit, `how`: for the line):
 * the group's committed offset is above it. No success told after this makes it moot (say_moot),
 * nor one of any error said for the partition later: results come in order on one queue only, and
 * the engine's come on two (librdkafka's own commits on the consumer's, told first at each turn of
 * the event loop, loop_once; the explicit and the revoke's on e->commitq), so a success of `to`
 * told after this can have landed before the commit above (the operator was then told no reset is
 * needed while the next owner skipped the records from `to` on). Kept until the partition is
 * assigned again, or REVOKE_SAID_KEEP_S.
 */
static void say_reset_above(pl_engine *e, int32_t partition, int64_t to, int64_t off,
                            const char *whose, const char *how)
{
    char why[224];
    snprintf(why, sizeof why,
             "%s of offset %" PRId64 " (%s) succeeded after the partition was revoked", whose, off,
             how);
    say_reset(e, partition, to, why);
    rd_kafka_topic_partition_t *s = plist_find(e->revoke_said, e->t_request, partition);
    if (s)
        s->opaque = SAID_ABOVE;
}

/*
 * Whether a commit of offset `off` of `partition` told to have succeeded now makes the error
 * with the reset command said for it (e->revoke_said) moot: one said at that very offset (by the
 * clock, for a failure, a loss or the close), none of a commit landing above the position said
 * for the partition (say_reset_above).
 */
static bool said_mootable(const pl_engine *e, const char *topic, int32_t partition, int64_t off)
{
    const rd_kafka_topic_partition_t *s = plist_find(e->revoke_said, topic, partition);
    return s && s->offset == off && s->opaque != SAID_ABOVE;
}

/*
 * A commit of offset `off` of `partition` (`by`: whose) told to have succeeded after an error
 * with the reset command was said for it at that very offset (e->revoke_said: said_mootable), by
 * the clock (a deferral given up for) or for a failure: the group's committed offset is the one
 * the command sets (that error said it may stay above, and this commit went later: it was held,
 * or retried), and the error is moot. Said once, at warn, and forgotten; returns whether said.
 * Before, nothing followed the error: a deferred revoke failure said after REVOKE_DEFERRED_S, while
 * librdkafka still held its commit on unassign for a coordinator (it can, up to
 * session.timeout.ms), left the operator with a reset nobody needed. Never after an error of a
 * commit landing above the position (say_reset_above: that error stands), nor for a success above
 * that offset (the group is above the position: said at error by its caller), nor one below (an
 * earlier commit's).
 */
static bool say_moot(pl_engine *e, const char *topic, int32_t partition, int64_t off,
                     const char *by)
{
    if (!said_mootable(e, topic, partition, off))
        return false;
    PL_WARN(NULL,
            "partition %d of %s: %s of offset %" PRId64 " succeeded after the error said for "
            "it: the group's committed offset is the one that error's --reset-offsets command "
            "sets, and the error is moot (no reset is needed)",
            (int)partition, topic, by, off);
    rd_kafka_topic_partition_list_del(e->revoke_said, topic, partition);
    return true;
}

/* An explicit commit that failed while its partition is still tracked: it is owed again. */
static void say_explicit_failed(int32_t partition, const char *topic, int64_t off,
                                rd_kafka_resp_err_t err)
{
    PL_WARN(NULL,
            "partition %d of %s: committing offset %" PRId64 " explicitly failed (%s): "
            "committed again with its next position, or when librdkafka's statistics show the "
            "group's committed offset above it",
            (int)partition, topic, off, rd_kafka_err2str(err));
}

/*
 * The result of an explicit commit (commit_explicitly), served on the event loop from its own
 * queue (e->commitq, at each turn: also during a revoke drain, which polls no consumer), told
 * to the tracker: one that failed leaves the group's committed offset where it was, perhaps
 * above the partition's position, which is then owed again (committed with the partition's next
 * position, or when librdkafka's statistics show its committed offset above it: on_stats). For
 * a partition no longer tracked (revoked or lost since) nothing will commit it again: a failure
 * is said at error, with the command that fixes it, unless the revoke's own commit of it
 * succeeded after it (e->revoke_ok) or is still to be told (e->revoke_unsettled: it decides),
 * or failed and waits for librdkafka's own commit on unassign (e->revoke_deferred: that decides).
 * Its success (results on this queue come in the order the commits went, so one told now
 * landed after those told here before) above the position the partition was revoked at
 * (e->revoked_at: a commit sent before a second going back, retried and landing after the
 * revoke's) leaves the group above that position: said at error, with the command, unless a
 * result still to be told decides (e->revoke_unsettled, e->revoke_deferred); no success told
 * later makes that error moot (say_reset_above: librdkafka's own commits are told on another
 * queue). At an offset an error was said for, a success makes that error moot (say_moot), unless
 * one of a commit landing above was said for the partition. Before, every late success was
 * passed over, the one above the position too. Nothing is tracked anew for it. A success of a
 * tracked partition is noted as the group's committed offset (what a revoke compares the
 * position with: pl_offsets_commit_due).
 */
static void on_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    pl_engine *e = opaque;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        rd_kafka_resp_err_t pe = tp->err ? tp->err : err;
        if (pl_offsets_committed(e->offsets, tp->partition, !pe) == 0) {
            if (!pe)
                pl_offsets_note_committed(e->offsets, tp->partition, tp->offset);
            else
                say_explicit_failed(tp->partition, tp->topic, tp->offset, pe);
            continue;
        }
        /* A result still to be told decides: the revoke's commit, made while stopping (or with a
         * stop asked, or its wait given up for), went after this one and comes out after it
         * (e->revoke_unsettled); or it failed, and librdkafka's own commit of the position on
         * unassign, sent after it, decides (e->revoke_deferred). */
        bool later_decides = plist_find(e->revoke_unsettled, tp->topic, tp->partition) ||
                             plist_find(e->revoke_deferred, tp->topic, tp->partition);
        if (!pe) {
            const rd_kafka_topic_partition_t *r =
                plist_find(e->revoked_at, tp->topic, tp->partition);
            if (later_decides)
                continue;
            if (r && tp->offset > r->offset) {
                say_reset_above(e, tp->partition, r->offset, tp->offset, "an explicit commit",
                                "sent before the revoke, landing late");
                continue;
            }
            (void)say_moot(e, tp->topic, tp->partition, tp->offset, "an explicit commit");
            continue;
        }
        /* A failure is moot when the revoke's commit succeeded after it (e->revoke_ok). */
        if (later_decides || plist_find(e->revoke_ok, tp->topic, tp->partition))
            continue;
        char why[160];
        snprintf(why, sizeof why,
                 "committing offset %" PRId64 " explicitly failed (%s) after the partition was "
                 "revoked",
                 tp->offset, rd_kafka_err2str(pe));
        say_reset(e, tp->partition, tp->offset, why);
    }
}

/*
 * Commits offset `off` of `partition` as it is, even below the group's committed offset:
 * librdkafka's automatic commit (and rd_kafka_commit without offsets) commits a stored offset
 * only above the one it holds as committed (reference §1.1.1), an explicit one as it is. Once
 * the broker took it, librdkafka holds it as committed and commits the positions stored after
 * it by itself. Asynchronous: its result comes through e->commitq (on_committed). The tracker
 * counted it out (pl_offsets_must_commit, pl_offsets_commit_above); one that cannot be sent is
 * told as failed.
 */
static void commit_explicitly(pl_engine *e, int32_t partition, int64_t off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, e->t_request, partition)->offset = off;
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(e->consumer, l, e->commitq, on_committed, e);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        say_explicit_failed(partition, e->t_request, off, err);
        (void)pl_offsets_committed(e->offsets, partition, false);
    }
}

/*
 * Stores `to`, the partition's new position, for librdkafka's automatic commit, and commits it
 * explicitly when the group's committed offset may be above it (pl_offsets_must_commit: a
 * position gone back, or one after a failed explicit commit), where librdkafka would not
 * commit it; but not while a rebalance may be under way (e->group_unsteady: since the
 * rebalance callback last ran, until statistics tell the group steady, or while the last that
 * told its join state told another): a commit then may be answered ILLEGAL_GENERATION, and
 * librdkafka 2.0.2 give up the whole assignment (commit_check_stats). The commit is then left
 * owed (pl_offsets_must_commit not asked), and made by commit_check_stats at the first
 * statistics of a steady group, or by the next position stored after them. Before, the commit
 * was made whatever the group's state, then (up to 5 s stale) whatever the last statistics told.
 */
static void position_store(pl_engine *e, int32_t partition, int64_t to)
{
    store_offset(e, partition, to);
    if (!e->group_unsteady && pl_offsets_must_commit(e->offsets, partition, &to))
        commit_explicitly(e, partition, to);
}

/*
 * Reads librdkafka's committed offset of each assigned partition (committed_offset, in its
 * statistics every few seconds) and commits a partition's position explicitly when that is
 * above it with no explicit commit out (pl_offsets_commit_above): librdkafka would not commit the
 * positions stored below it. So it is when librdkafka reset the consumer below an offset the
 * group committed from an older log before this assignment's first record (it read that offset
 * at the assignment), when a retry of its automatic commit of an old log's offset landed after
 * the explicit commit of a position gone back (librdkafka 2.0.2 retries an OffsetCommit that
 * timed out or found no coordinator, and takes its success as the committed offset whatever it
 * held), and when an explicit commit failed on a partition that has done nothing since; only
 * while the group is steady (its cgrp.join_state, remembered in e->group_unsteady for
 * position_store). A position whose explicit commit is owed (pl_offsets_must_commit: gone back,
 * or its commit failed, while the group was rebalancing) is committed too, once steady. Each
 * committed offset read is noted
 * (pl_offsets_note_committed: a revoke commits no position the group has already). `root` is
 * the document on_stats parsed once, for this and for the lag (pl_kafka_stats_read_parsed); it
 * stays the caller's.
 */
static void commit_check_stats(pl_engine *e, json_object *root)
{
    json_object *topics, *t, *parts = NULL;
    if (!root)
        return;
    /* Only in a steady group, as librdkafka's own automatic commit: a commit during a rebalance
     * may be answered ILLEGAL_GENERATION, which makes librdkafka 2.0.2 give up the whole
     * assignment (its issue #4059). Left owed till the next statistics otherwise. The join state
     * is remembered for position_store whatever is assigned; a document without one (no group)
     * commits nothing here and leaves what was remembered. */
    json_object *cgrp, *js;
    const char *join = json_object_object_get_ex(root, "cgrp", &cgrp) &&
                               json_object_object_get_ex(cgrp, "join_state", &js)
                           ? json_object_get_string(js)
                           : NULL;
    bool steady = join && strcmp(join, "steady") == 0;
    if (join)
        e->group_unsteady = !steady;
    if (json_object_object_get_ex(root, "topics", &topics) &&
        json_object_object_get_ex(topics, e->t_request, &t))
        (void)json_object_object_get_ex(t, "partitions", &parts);
    for (int i = 0; e->offsets && e->assigned && i < e->assigned->cnt; i++) {
        int32_t p = e->assigned->elems[i].partition;
        char id[16];
        snprintf(id, sizeof id, "%d", (int)p);
        json_object *jp, *jc;
        int64_t to;
        if (parts && json_object_object_get_ex(parts, id, &jp) &&
            json_object_object_get_ex(jp, "committed_offset", &jc)) {
            int64_t committed = json_object_get_int64(jc);
            pl_offsets_note_committed(e->offsets, p, committed);
            if (steady && pl_offsets_commit_above(e->offsets, p, committed, &to)) {
                PL_WARN(NULL,
                        "partition %d of %s: librdkafka holds %" PRId64 " as the group's "
                        "committed offset, above the partition's position %" PRId64 " (the "
                        "consumer reset below an older log's offset, or a retried commit landed "
                        "late): committing the position explicitly",
                        (int)p, e->t_request, committed, to);
                commit_explicitly(e, p, to);
                continue;
            }
        }
        /* Owed while the group was rebalancing (position_store left it): the group steady now. */
        if (steady && pl_offsets_must_commit(e->offsets, p, &to)) {
            PL_INFO(NULL,
                    "partition %d of %s: committing the position %" PRId64 " explicitly, owed "
                    "since the group was rebalancing (or since its explicit commit failed)",
                    (int)p, e->t_request, to);
            commit_explicitly(e, p, to);
        }
    }
}

static void job_admit(pl_engine *e, job *j);

/* Admits the redeliveries of a list of parked ones (job->waiters, detached), in order. */
static void admit_waiters(pl_engine *e, job *w)
{
    while (w) {
        job *n = w->wnext;
        w->wnext = NULL;
        job_admit(e, w);
        w = n;
    }
}

static bool mark_replied(job *j);
static void park(job *j, double due);

/*
 * A required response's `timeout` reply and the final reply that settles it (066). The owner,
 * the job that made the row unknown, produces that reply at most RR_OWNER_WINDOW_S after it sent
 * the write (the row's created_at is later still); later (a database slow to answer, a process
 * stalled in between, the write's result lost and the write sent again) it reads the row again
 * instead and answers as a redelivery would (on_written, answer_from_row): replayed, or nothing
 * while its partition is being left (partition_leaving). Its producer delivers or gives up a
 * message within message.timeout.ms of producing it (librdkafka fails a message still queued
 * once that has passed, before sending it), and a copy that failed is never produced again
 * (retry_publish reads the row again). A replay by another job, on
 * another replica perhaps while the owner is stalled with its copy queued, therefore makes the
 * final reply wait until message.timeout.ms + RR_HOLD_MARGIN_S after the row opened: the window,
 * librdkafka's once-a-second timeout scan, and a request already on the wire when the producer
 * gave up on it (socket.timeout.ms, 10 s) fit in the margin.
 */
#define RR_OWNER_WINDOW_S 15.0
#define RR_HOLD_MARGIN_S 30
/* The resolver publishes a final reply 10 minutes after its row opened whatever was recorded
 * (resolver.c, REPLIED_SQL): a longer hold would change nothing. */
#define RR_HOLD_MAX_S 600

/* The hold of pl_replayed (engine.rr_hold_s) for the producer's message.timeout.ms. */
static void set_rr_hold(pl_engine *e, int message_timeout_ms)
{
    long hold = message_timeout_ms > 0 ? (message_timeout_ms + 999L) / 1000 + RR_HOLD_MARGIN_S
                                       : RR_HOLD_MAX_S + 1L;
    if (hold > RR_HOLD_MAX_S) {
        PL_WARN(NULL,
                "kafka message.timeout.ms is %d: a `timeout` reply may reach the order system up "
                "to that long after it was produced, but a final reply waits 10 minutes at most",
                message_timeout_ms);
        hold = RR_HOLD_MAX_S;
    }
    snprintf(e->rr_hold_s, sizeof e->rr_hold_s, "%ld", hold);
}

/* The job is over (its effects durable and published, or given up on with an error): its offset
 * may be committed, and redeliveries parked behind it run. */
static void job_done(job *j)
{
    pl_engine *e = j->pub.eng;
    if (j->rr_reread) {
        /* Its `timeout` reply was refused (retry_publish): the row is read again, not re-sent. */
        j->rr_reread = false;
        j->rr_reply = false;
        j->rr_parked = true;
        park(j, j->due);
        return;
    }
    if (j->rr_reply && !j->rr_marked && mark_replied(j))
        return; /* on_replied completes it */
    j->state = JS_DONE;
    if (j->tracked) {
        int64_t to;
        if (pl_offsets_done(e->offsets, j->partition, j->offset, &to) == 1)
            position_store(e, j->partition, to);
    }
    for (size_t i = 0; i < sizeof outcome_names / sizeof outcome_names[0]; i++)
        if (j->outcome && strcmp(j->outcome, outcome_names[i]) == 0)
            pl_counter_add(e->m_requests[i], 1);
    pl_histogram_observe(e->m_total, now_s() - j->t_start);
    if (j->overdue) /* the other end of its sweep_overdue line */
        PL_INFO(j->pub.req.request_id, "done after %.0f s in the worker (%s)", now_s() - j->t_start,
                j->outcome ? j->outcome : "no outcome");
    if (j->admitted)
        hash_remove(e, j);
    job *w = j->waiters;
    j->waiters = NULL;
    job_free(j);
    /* Redeliveries that arrived while it was in flight now find its final row. */
    admit_waiters(e, w);
}

/*
 * Drops a job without a reply, leaving its offset uncommitted so the request is redelivered.
 * Only for shutdown and teardown (the database or HTTP client is going away): the offset
 * tracker is discarded with the process, so nothing is left that waits for this offset, and
 * the redeliveries parked behind it go with it. (A job of a partition left while the process
 * goes on is given up with job_leave.)
 */
static void job_abandon(job *j)
{
    pl_engine *e = j->pub.eng;
    /* A duplicate parked behind its owner (job_admit) is on the live list too, and teardown may
     * reach it first (the live list is newest first): out of the owner's waiters with it, or
     * the owner's abandon would free it again. */
    job *owner = j->admitted ? NULL : hash_find(e, j->pub.req.request_id);
    for (job **pp = owner ? &owner->waiters : NULL; pp && *pp; pp = &(*pp)->wnext) {
        if (*pp == j) {
            *pp = j->wnext;
            j->wnext = NULL;
            break;
        }
    }
    if (j->tracked)
        j->tracked = false; /* leaves the partition's position below it */
    if (j->admitted)
        hash_remove(e, j);
    job *w = j->waiters;
    while (w) {
        job *n = w->wnext;
        job_free(w);
        w = n;
    }
    j->waiters = NULL;
    job_free(j);
}

/*
 * Gives up a job of a partition this consumer is leaving (leave_partitions) while the process
 * goes on: as job_abandon, its offset stays uncommitted for the partition's next owner; but a
 * redelivery parked behind it (job_admit) is admitted now, as job_done does. Freed with it, the
 * redelivery's offset — tracked anew when the partition was assigned back, or on a partition
 * not left at all — would stay pending for good and hold every later commit of its partition.
 * (One of a leaving partition is given up in turn when it reaches its slot.) During a stop it
 * is job_abandon.
 */
static void job_leave(job *j)
{
    pl_engine *e = j->pub.eng;
    job *w = e->stopping ? NULL : j->waiters;
    if (w)
        j->waiters = NULL;
    job_abandon(j);
    admit_waiters(e, w);
}

/*
 * Whether the job's partition is going to another consumer: revoked (leave_partitions), or the
 * assignment lost with its revoke not served yet (a session that timed out while the process
 * stalled). Such a job replays no `timeout` reply (answer_from_row), and an owner past its window
 * does not read its row again for one (on_written): the partition's next owner may replay that
 * reply and have Kafka acknowledge it first, and the final reply then waits only for the owner's
 * copy produced within the window (066), not for one this process produced later and still holds
 * queued. The next owner answers instead.
 */
static bool partition_leaving(const job *j)
{
    const pl_engine *e = j->pub.eng;
    return j->leaving || (e->consumer && rd_kafka_assignment_lost(e->consumer));
}

/*
 * Whether a stop is asked: the worker is stopping, or a SIGTERM (or a fatal producer error) set
 * g_stop while the loop that sets `stopping` is not running — during a revoke drain, whose
 * loop_once runs inside on_rebalance. No bureau call starts then (slot_take, also for a getToken,
 * slot_start_queued, record_sent, next_call, and a call once its access token comes or after a
 * 401: held_back): the stop's drain that follows is bounded by
 * the revoke drain's start (stop_drain_deadline), and a call started now could be cut short and
 * leave its outcome unknown where there need be none.
 */
static bool stop_asked(const pl_engine *e)
{
    return e->stopping || g_stop;
}

static void job_fail(job *j, const char *why, bool unsent);

/* ---- publishing ---- */

/* A fatal producer error: nothing can be published any more. /healthz fails so a liveness probe
 * restarts the worker, and the worker stops by itself (exit status 1); requests whose replies
 * were not delivered keep their offsets and are replayed from their rows after the restart. */
static void producer_fatal(pl_engine *e, const char *reason)
{
    if (e->fatal)
        return;
    e->fatal = true;
    e->exit_status = 1;
    char why[400];
    snprintf(why, sizeof why, "kafka producer fatal error: %s", reason);
    PL_ERROR(NULL, "%s; stopping so the worker is restarted", why);
    pl_metrics_set_unhealthy(e->metrics, why);
    g_stop = 1;
}

static void on_kafka_error(rd_kafka_t *rk, bool fatal, const char *reason, void *opaque)
{
    (void)rk;
    if (fatal)
        producer_fatal(opaque, reason);
}

static rd_kafka_resp_err_t produce(pl_engine *e, job *j, const char *topic, const char *key,
                                   size_t key_len, const char *payload, size_t len)
{
    /* Nothing leaves before the lines logged ahead of it (a request's lines before its reply):
     * the held lines of this turn are written first (pl_log_hold; one write a turn or two). */
    pl_log_flush();
    rd_kafka_resp_err_t err = rd_kafka_producev(
        e->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
    if (err)
        return err;
    j->pending_dr++;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The job's next publish back-off: 0.5 s doubling to 30 s while the broker stays away. */
static double publish_backoff(job *j)
{
    int n = j->publish_retries < 6 ? j->publish_retries : 6;
    double delay = 0.5 * (double)(1 << n);
    j->publish_retries++;
    return delay < 30.0 ? delay : 30.0;
}

static void schedule_retry(pl_engine *e, job *j, const char *topic, const char *key, size_t key_len,
                           const char *payload, size_t len)
{
    retry *r = calloc(1, sizeof *r);
    if (r) {
        r->topic = strdup(topic);
        r->key = malloc(key_len + 1);
        r->payload = malloc(len + 1);
    }
    if (!r || !r->topic || !r->key || !r->payload) {
        /* Out of memory: nothing sensible is left but to stop; the request is redelivered. */
        PL_ERROR(j->pub.req.request_id, "out of memory queueing a publish retry; exiting");
        exit(70);
    }
    memcpy(r->key, key, key_len);
    memcpy(r->payload, payload, len);
    r->key_len = key_len;
    r->payload_len = len;
    r->j = j;
    r->due = now_s() + publish_backoff(j);
    r->next = e->retries;
    e->retries = r;
    j->pending_dr++; /* the retry holds the job open */
    pl_counter_add(e->m_produce_fail, 1);
}

static void send_msg(pl_engine *e, job *j, const char *topic, const char *key, size_t key_len,
                     const char *payload, size_t len);
static void send_dead_letter(job *j, const char *kind, const char *why, const pl_errors *errs);

/*
 * A publish to be tried again. Not the `timeout` reply of a required response: after the same
 * back-off the job reads its row again and answers from it (job_done, as a redelivery does): the
 * final reply when the row was settled meanwhile, else the `timeout` reply replayed (pl_replayed).
 * Produced again as it was, long after the row opened, that reply could reach the order system
 * after the final one, which a resolver publishes once a replay elsewhere (this process stalled,
 * its partition gone) has waited for the copy produced first (066); so only that copy is ever
 * produced by the owner.
 */
static void retry_publish(pl_engine *e, job *j, const char *topic, const char *key, size_t key_len,
                          const char *payload, size_t len)
{
    if (j->rr_reply && strcmp(topic, e->t_reply) == 0) {
        j->rr_reread = true;
        /* The owner's own copy (a replay's is recorded with the hold): answer_from_row. */
        if (!j->rr_hold)
            j->rr_own = RR_OWN_COPY_FAILED;
        j->due = now_s() + publish_backoff(j);
        pl_counter_add(e->m_produce_fail, 1);
        return;
    }
    schedule_retry(e, j, topic, key, key_len, payload, len);
}

/* Refusals an operator must end (the topic missing, not authorized) a job's messages may take
 * before the worker stops (publish_failed; counted apart from transient failures; with
 * schedule_retry's back-off at least about eight minutes, longer when each refusal comes only
 * after a metadata or delivery timeout). */
#define PUBLISH_OPERATOR_RETRIES 20

/*
 * A publish failed (producev refused it, or its delivery report says so). Transient failures
 * (the broker away) are retried with back-off for as long as it takes: the reply must be
 * published at least once, and while the broker is away nothing can be committed either. A
 * failure only an operator can end (the topic missing, the worker not authorized to write it: a
 * topic not created yet, an ACL rollout) is retried the same way, PUBLISH_OPERATOR_RETRIES
 * times (about eight minutes), then the worker stops as after a fatal producer error, so that it
 * is restarted (and seen to be) and the reply is replayed from its row once the topic is
 * writable: dropped, the reply would have been lost for good (its row is answered, nothing sends
 * it again) and the offset committed past it. A message that can never be published as it is
 * is not retried: a dead-letter copy too large is cut to fit once; anything else is dropped
 * with an error and a metric, and the job completes so its partition keeps committing (the
 * outcome itself is in the database).
 */
static void publish_failed(pl_engine *e, job *j, const char *topic, const char *key, size_t key_len,
                           const char *payload, size_t len, rd_kafka_resp_err_t err)
{
    pl_kafka_failure kind = pl_kafka_classify(err);
    if (e->fatal || kind == PL_KAFKA_FATAL) {
        producer_fatal(e, rd_kafka_err2str(err)); /* once */
        j->pending_dr++; /* never completes in this process: redelivered after the restart */
        return;
    }
    switch (kind) {
    case PL_KAFKA_OPERATOR:
        if (++j->operator_refusals > PUBLISH_OPERATOR_RETRIES) {
            char why[300];
            snprintf(why, sizeof why,
                     "publishing to %s was refused %d times (%s): an operator must "
                     "create the topic or authorize the worker",
                     topic, j->operator_refusals, rd_kafka_err2str(err));
            producer_fatal(e, why);
            j->pending_dr++; /* never completes in this process: replayed after the restart */
            return;
        }
        PL_ERROR(j->pub.req.request_id,
                 "publish to %s failed (%s): the topic is missing or not writable by this "
                 "worker; retrying",
                 topic, rd_kafka_err2str(err));
        retry_publish(e, j, topic, key, key_len, payload, len);
        return;
    case PL_KAFKA_RETRY:
        PL_WARN(j->pub.req.request_id, "publish to %s failed (%s); retrying", topic,
                rd_kafka_err2str(err));
        retry_publish(e, j, topic, key, key_len, payload, len);
        return;
    case PL_KAFKA_TOO_LARGE:
        if (strcmp(topic, e->t_dlq) == 0 && !j->dlq_cut) {
            /* The broker's limit may be below the producer's: a quarter of what was tried. */
            char *cut = pl_dlq_cut(payload, len, len / 4);
            if (cut) {
                j->dlq_cut = true;
                PL_WARN(j->pub.req.request_id,
                        "dead-letter copy of %zu bytes refused as too large; sending it cut to "
                        "%zu bytes",
                        len, strlen(cut));
                send_msg(e, j, topic, key, key_len, cut, strlen(cut));
                free(cut);
                return;
            }
        }
        break;
    case PL_KAFKA_PERMANENT:
    case PL_KAFKA_FATAL: /* handled above */
        break;
    }
    PL_ERROR(j->pub.req.request_id,
             "publishing %zu bytes to %s can never succeed (%s): message dropped, the request's "
             "outcome stays in the database",
             len, topic, rd_kafka_err2str(err));
    pl_counter_add(e->m_publish_dropped, 1);
    /* A reply the broker will never take (a topic's max.message.bytes set below a reply):
     * the request goes where an operator looks, as a request given up does, rather than only
     * into a log line and a counter. Once: the dead-letter copy itself is never dropped into
     * another. */
    if (strcmp(topic, e->t_reply) == 0 && !j->reply_dropped) {
        j->reply_dropped = true;
        char why[200];
        snprintf(why, sizeof why,
                 "its reply could not be published (%s): the outcome is in its row",
                 rd_kafka_err2str(err));
        send_dead_letter(j, PL_DLQ_KIND_UNPUBLISHED, why, NULL);
    }
}

/* Produces one message for the job; failures go to publish_failed. */
static void send_msg(pl_engine *e, job *j, const char *topic, const char *key, size_t key_len,
                     const char *payload, size_t len)
{
    if (e->fatal) {
        j->pending_dr++; /* see publish_failed */
        return;
    }
    rd_kafka_resp_err_t err = produce(e, j, topic, key, key_len, payload, len);
    if (err)
        publish_failed(e, j, topic, key, key_len, payload, len, err);
}

static void run_retries(pl_engine *e)
{
    double now = now_s();
    retry **pp = &e->retries;
    while (*pp) {
        retry *r = *pp;
        if (r->due > now) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        job *j = r->j;
        send_msg(e, j, r->topic, r->key, r->key_len, r->payload, r->payload_len);
        j->pending_dr--;
        free(r->topic);
        free(r->key);
        /* A reply may carry a generated card number (pl_job.reply_card_number_once). */
        pl_card_wipe(r->payload, r->payload_len);
        free(r->payload);
        free(r);
        if (j->pending_dr == 0 && j->state == JS_PUBLISHING)
            job_done(j);
        pp = &e->retries; /* job_done may have changed the list's neighbours */
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    pl_engine *e = opaque;
    job *j = m->_private;
    if (!j)
        return;
    if (m->err)
        publish_failed(e, j, rd_kafka_topic_name(m->rkt), m->key ? m->key : "", m->key_len,
                       m->payload, m->len, m->err);
    j->pending_dr--;
    if (j->pending_dr == 0 && j->state == JS_PUBLISHING)
        job_done(j);
}

/* The reply key: <company>-<order>, or the request's own key when those are unknown. */
static void reply_key(job *j, char *out, size_t n, size_t *len)
{
    if (j->pub.req.company > 0 && j->pub.req.order[0]) {
        snprintf(out, n, "%d-%s", j->pub.req.company, j->pub.req.order);
        *len = strlen(out);
    } else {
        /* The upstream's key is <company>-<order>, and its order may hold a card number. */
        *len = pl_card_scrub_copy(out, n, j->key, j->key_len, PL_MASK_LAST4);
    }
}

/* Publishes the reply (and follow-ups), then the job completes on their delivery reports. */
static void publish(job *j, const char *reply_json)
{
    pl_engine *e = j->pub.eng;
    char key[64];
    size_t klen;
    reply_key(j, key, sizeof key, &klen);
    j->state = JS_PUBLISHING;
    j->pending_dr++; /* guard while producing */
    send_msg(e, j, e->t_reply, key, klen, reply_json, strlen(reply_json));
    for (outmsg *o = j->out; o; o = o->next)
        send_msg(e, j, o->topic, o->key, strlen(o->key), o->payload, strlen(o->payload));
    j->pending_dr--;
    if (j->pending_dr == 0)
        job_done(j);
}

int pl_job_publish(pl_job *pj, const char *topic_suffix, const char *key, const char *payload)
{
    job *j = J(pj);
    outmsg *o = calloc(1, sizeof *o);
    if (!o)
        return PL_ERR_NOMEM;
    size_t tl = strlen(pj->eng->cfg.topic_prefix) + strlen(topic_suffix) + 2;
    o->topic = malloc(tl);
    o->key = strdup(key);
    o->payload = strdup(payload);
    if (!o->topic || !o->key || !o->payload) {
        free(o->topic);
        free(o->key);
        free(o->payload);
        free(o);
        return PL_ERR_NOMEM;
    }
    snprintf(o->topic, tl, "%s.%s", pj->eng->cfg.topic_prefix, topic_suffix);
    o->next = j->out;
    j->out = o;
    return 0;
}

/* src (NULL: "") into dst of n bytes, cut to fit, as snprintf("%s") does at a fraction of its
 * cost (a request copies a dozen such fields). */
static void copy_str(char *dst, size_t n, const char *src)
{
    if (n == 0)
        return;
    size_t len = src ? strnlen(src, n - 1) : 0;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

void pl_job_resolve_call(pl_job *job, const char *pay_type)
{
    const pl_request *r = &job->req;
    const pl_service *svc = job->svc;
    pl_bureau_call *c = &job->call;
    copy_str(job->merchant_id, sizeof job->merchant_id,
             pl_services_merchant_id(job->services, svc, r->company, r->entity, pay_type));
    c->merchant_id = job->merchant_id;
    copy_str(job->merchant_pay_type, sizeof job->merchant_pay_type, pay_type);
    job->merchant_resolved = true;
    job->merchant_followed = false;
    c->currency =
        r->currency[0] ? pl_services_currency(job->services, svc->code, r->currency) : NULL;
    c->bill_country = r->bill_to && r->bill_to->country[0]
                          ? pl_services_country(job->services, svc->code, r->bill_to->country)
                          : NULL;
    c->ship_country = r->ship_to && r->ship_to->country[0]
                          ? pl_services_country(job->services, svc->code, r->ship_to->country)
                          : NULL;
    c->card_type_code = pl_services_vendor_paytype(job->services, svc->code, pay_type);
}

void pl_job_follow_merchant(pl_job *job, const char *merchant_id)
{
    if (!merchant_id || !*merchant_id || strcmp(merchant_id, job->merchant_id) == 0)
        return;
    PL_INFO(job->req.request_id, "sent under the merchant ID of the transaction it follows (%s)",
            merchant_id);
    copy_str(job->merchant_id, sizeof job->merchant_id, merchant_id);
    job->call.merchant_id = job->merchant_id;
    job->merchant_followed = true;
}

void pl_job_review_amount(pl_job *job)
{
    pl_reply *rep = job->reply;
    if (rep->status == PL_ST_REVIEW && (job->res->has_amount || job->req.has_amount)) {
        rep->has_amount_approved = true;
        rep->amount_approved = job->res->has_amount ? job->res->amount : job->req.amount;
    }
}

void pl_job_map_answer(pl_job *job)
{
    const pl_bureau_result *res = job->res;
    pl_reply *rep = job->reply;
    if (pl_ext_refusal(job->services, job->svc, res, rep))
        return;
    const pl_vendor_response *vr =
        job->svc ? pl_services_vendor_response(job->services, job->svc->code, res->reason_code)
                 : NULL;
    copy_str(rep->vendor_response, sizeof rep->vendor_response, res->reason_code);
    copy_str(rep->decision, sizeof rep->decision, res->decision);
    if (res->fault_code[0] || strcmp(res->decision, "ERROR") == 0)
        rep->status = PL_ST_ERROR;
    else if (strcmp(res->decision, "ACCEPT") == 0)
        rep->status = PL_ST_APPROVED;
    else if (strcmp(res->decision, "REVIEW") == 0)
        rep->status = PL_ST_REVIEW;
    else if (strcmp(res->decision, "REJECT") == 0)
        /* Fraud screening refused it (DM 481, score 400, or a code held for fraud). */
        rep->status = strcmp(res->reason_code, "481") == 0 ||
                              strcmp(res->reason_code, "400") == 0 ||
                              (vr && strcmp(vr->hold_reason, "FS") == 0)
                          ? PL_ST_REJECTED
                          : PL_ST_DECLINED;
    else /* no usable decision: the vendor response table decides */
        rep->status = vr ? (vr->approved ? PL_ST_APPROVED : PL_ST_DECLINED) : PL_ST_ERROR;

    if (rep->status == PL_ST_APPROVED && (res->has_amount || job->req.has_amount)) {
        rep->has_amount_approved = true;
        rep->amount_approved = res->has_amount ? res->amount : job->req.amount;
    }
    if (rep->status != PL_ST_APPROVED && vr)
        copy_str(rep->hold_reason, sizeof rep->hold_reason, vr->hold_reason);
    /* seed (Siebel): a decline or an error whose reason has a message of its own says so (205
     * stolen card → 4, 204 insufficient funds → 12, ...); fraud rejections keep message 2,
     * which must not tell which check failed. */
    int siebel = pl_siebel_message_for_reason(res->reason_code);
    if (siebel && (rep->status == PL_ST_DECLINED || rep->status == PL_ST_ERROR))
        copy_str(rep->message, sizeof rep->message, pl_siebel_message(siebel));
    if (rep->status == PL_ST_REVIEW && !rep->hold_reason[0])
        copy_str(rep->hold_reason, sizeof rep->hold_reason, "FS");
    /* seed "Placing the credit card on hold": an approval whose address or card verification
     * failed is held as vendor_response says for that AVS (else CVV) result. */
    if (rep->status == PL_ST_APPROVED && !rep->hold_reason[0] && job->svc) {
        const pl_vendor_response *h =
            res->avs[0]
                ? pl_services_vendor_response_kind(job->services, job->svc->code, "avs", res->avs)
                : NULL;
        if (!h || !h->hold_reason[0])
            h = res->cvv[0] ? pl_services_vendor_response_kind(job->services, job->svc->code, "cvv",
                                                               res->cvv)
                            : NULL;
        if (h && h->hold_reason[0])
            copy_str(rep->hold_reason, sizeof rep->hold_reason, h->hold_reason);
    }
    copy_str(rep->auth.number, sizeof rep->auth.number, res->auth_code);
    copy_str(rep->auth.date, sizeof rep->auth.date, res->auth_date);
    copy_str(rep->auth.transaction_id, sizeof rep->auth.transaction_id, res->request_id);
    copy_str(rep->auth.request_token, sizeof rep->auth.request_token, res->request_token);
    copy_str(rep->auth.avs, sizeof rep->auth.avs, res->avs);
    copy_str(rep->auth.cvv, sizeof rep->auth.cvv, res->cvv);
    copy_str(rep->token, sizeof rep->token, res->token);
    if (res->fault_code[0])
        snprintf(rep->message, sizeof rep->message, "The payment service refused the request (%s).",
                 res->fault_code);
}

void pl_job_derived_request_id(const char *request_id, const char *suffix, char *out,
                               size_t outsize)
{
    size_t n = strlen(request_id);
    if (n + 1 + strlen(suffix) <= 50) {
        snprintf(out, outsize, "%s.%s", request_id, suffix);
        return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    EVP_Digest(request_id, n, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    /* 50 characters at most: the suffix, a dot, and as much of the digest as fits. */
    int room = 50 - (int)strlen(suffix) - 1;
    snprintf(out, outsize, "%s.%.*s", suffix, room > 0 ? room : 0, hex);
}

static int json_add_str(json_object *o, const char *key, const char *v, size_t n)
{
    json_object *j = json_object_new_string_len(v, (int)n);
    if (!j || json_object_object_add(o, key, j) != 0) {
        json_object_put(j);
        return PL_ERR_NOMEM;
    }
    return 0;
}

int pl_reversal_of_json(const pl_reversal_of *of, json_object *ref)
{
    if (of->auth_request_id && *of->auth_request_id)
        return json_add_str(ref, "request_id", of->auth_request_id, strlen(of->auth_request_id));
    const char *tid = of->transaction_id ? of->transaction_id : "";
    int rc = json_add_str(ref, "transaction_id", tid, strlen(tid));
    if (rc == 0 && of->request_token && *of->request_token)
        rc = json_add_str(ref, "request_token", of->request_token, strlen(of->request_token));
    /* Always there, if empty: a manual authorization must name its number, and CyberSource
     * reverses by the transaction id alone. */
    const char *number = of->number ? of->number : "";
    if (rc == 0)
        rc = json_add_str(ref, "number", number, strlen(number));
    /* "2026-12-06T16:46:02Z" or "2026-12-06": the date, as the contract has it. */
    if (rc == 0 && of->date && strlen(of->date) >= 10)
        rc = json_add_str(ref, "date", of->date, 10);
    if (rc == 0 && of->amount && *of->amount)
        rc = json_add_str(ref, "amount", of->amount, strlen(of->amount));
    return rc;
}

bool pl_job_held_amount(const pl_job *job, char *out, size_t outsz)
{
    const pl_bureau_result *res = job->res;
    const pl_request *r = &job->req;
    int64_t held = res && res->has_amount ? res->amount : r->has_amount ? r->amount : 0;
    return held > 0 && pl_money_format(held, out, outsz) == 0;
}

int pl_job_publish_reversal(pl_job *job, const char *reversal_id, const char *amount,
                            const char *currency, const pl_reversal_of *of)
{
    const pl_request *r = &job->req;
    const pl_reversal_message m = {.request_id = reversal_id,
                                   .company = r->company,
                                   .order = r->order,
                                   .pay_seq = r->pay_seq,
                                   .service = r->service,
                                   .amount = amount,
                                   .currency = currency,
                                   .of = of};
    char key[64];
    pl_reversal_request_key(r->company, r->order, key, sizeof key);
    char *text = pl_reversal_request_json(&m);
    int rc = text ? pl_job_publish(job, "reversal.request", key, text) : PL_ERR_NOMEM;
    free(text);
    return rc;
}

/* Runs the spec's follow-ups for the reply of the bureau's answer the job holds (job->res),
 * about to be stored and published: reply is that reply as an object. Never for a replay. */
static void followups(job *j, json_object *reply)
{
    const pl_spec *s = j->pub.eng->spec;
    if (!s->followups || !j->pub.svc || !reply)
        return;
    int rc = s->followups(&j->pub, reply);
    if (rc == PL_ERR_NOMEM) {
        /* Stored without them, the row would say none were decided (replay): nothing is
         * stored instead, and the redelivery finds the row as the process left it. */
        PL_ERROR(j->pub.req.request_id, "out of memory building follow-up messages; exiting");
        exit(70);
    }
    if (rc != 0)
        PL_ERROR(j->pub.req.request_id, "follow-up messages could not be built");
}

/* The job's follow-up messages as a JSON array [{topic, key, payload}] (malloc'd), or NULL when
 * there are none. */
static char *followups_json(const job *j)
{
    if (!j->out)
        return NULL;
    json_object *arr = json_object_new_array();
    for (const outmsg *o = j->out; o; o = o->next) {
        json_object *m = json_object_new_object();
        json_object_object_add(m, "topic", json_object_new_string(o->topic));
        json_object_object_add(m, "key", json_object_new_string(o->key));
        json_object_object_add(m, "payload", json_object_new_string(o->payload));
        json_object_array_add(arr, m);
    }
    const char *s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN);
    char *copy = s ? strdup(s) : NULL;
    json_object_put(arr);
    if (!copy) {
        /* NULL would store them as none (on_http). */
        PL_ERROR(j->pub.req.request_id, "out of memory storing follow-up messages; exiting");
        exit(70);
    }
    return copy;
}

/* Restores follow-up messages stored with an answer (see followups_json). */
static void followups_restore(job *j, const char *stored)
{
    json_object *arr = json_tokener_parse(stored);
    size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
    for (size_t i = n; i-- > 0;) { /* prepended: walk backwards to keep the order */
        json_object *m = json_object_array_get_idx(arr, i), *t, *k, *v;
        if (!json_object_object_get_ex(m, "topic", &t) ||
            !json_object_object_get_ex(m, "key", &k) ||
            !json_object_object_get_ex(m, "payload", &v))
            continue;
        outmsg *o = calloc(1, sizeof *o);
        if (!o || !(o->topic = strdup(json_object_get_string(t))) ||
            !(o->key = strdup(json_object_get_string(k))) ||
            !(o->payload = strdup(json_object_get_string(v)))) {
            PL_ERROR(j->pub.req.request_id, "out of memory restoring follow-ups; exiting");
            exit(70);
        }
        o->next = j->out;
        j->out = o;
    }
    json_object_put(arr);
}

/* ---- invalid requests ---- */

/*
 * The dead-letter copy of the job's request (card data removed, with why and errs; kind, a
 * PL_DLQ_KIND_*, says what it is, and for a request given up "answered" how: `error` or
 * `timeout`, as its reply), sent by send_dead_letter, which leaves the job publishing: its reply
 * is to follow with publish(). paylinkctl dlq reads the kind rather than the words of why
 * (which it went by before, and still does for envelopes without one).
 */
static char *dead_letter_text(job *j, const char *kind, const char *why, const pl_errors *errs)
{
    pl_engine *e = j->pub.eng;
    /* Marked when the redaction changed the request (a card number masked in any field, a CVV
     * removed): such a copy is not what the upstream system sent, and is never sent again. A
     * job without a payload (a record that could not be read, start_unreadable) has "" for its
     * request: nothing to redact, nothing paylinkctl could send again. */
    bool changed = false;
    char *redacted =
        j->payload ? pl_request_redact_report(j->payload, j->payload_len, &changed) : strdup("");
    /* Room for the key, headers and the record's framing. */
    size_t limit = e->max_msg > 4096 ? e->max_msg - 2048 : e->max_msg / 2;
    const char *answered = NULL;
    if (strcmp(kind, PL_DLQ_KIND_GIVEN_UP) == 0)
        answered = j->pub.reply && j->pub.reply->status == PL_ST_ERROR ? "error" : "timeout";
    char *dlq =
        pl_dlq_envelope_kind(kind, answered, why, errs, e->t_request, j->partition, j->offset,
                             redacted ? redacted : "", changed || !redacted, limit);
    free(redacted);
    if (!dlq) {
        PL_ERROR(j->pub.req.request_id, "out of memory building a dead-letter copy; exiting");
        exit(70);
    }
    return dlq;
}

static void send_dead_letter(job *j, const char *kind, const char *why, const pl_errors *errs)
{
    pl_engine *e = j->pub.eng;
    char *dlq = dead_letter_text(j, kind, why, errs);
    char key[64];
    size_t klen;
    reply_key(j, key, sizeof key, &klen);
    pl_counter_add(e->m_dlq, 1);
    j->state = JS_PUBLISHING;
    j->pending_dr++;
    send_msg(e, j, e->t_dlq, key, klen, dlq, strlen(dlq));
    free(dlq);
    j->pending_dr--;
}

/* kind: PL_DLQ_KIND_INVALID, or PL_DLQ_KIND_CONFLICT (conflict). */
static void publish_invalid(job *j, const pl_errors *errs, const char *why, const char *kind)
{
    pl_reply rep = {.status = PL_ST_INVALID, .errors = errs};
    char *reply = pl_reply_to_json(&j->pub.req, &rep);
    if (!reply) {
        PL_ERROR(j->pub.req.request_id, "out of memory building an invalid reply; exiting");
        exit(70);
    }
    j->outcome = "invalid";
    send_dead_letter(j, kind, why, errs);
    PL_INFO(j->pub.req.request_id[0] ? j->pub.req.request_id : NULL, "invalid request: %s", why);
    publish(j, reply);
    free(reply);
}

/* ---- generic terminal paths ---- */

/* A guarded write that changes nothing is re-read this many times at most. (An owner in flight
 * is waited for by re-reading about once a second; those re-reads are bounded by the owner's
 * deadline instead: its bureau's call wait + OWNER_MARGIN_S since it was marked sent.) */
#define MAX_CHECKS 20
/* A request whose mark found its row changed is recorded again at most this many times. */
#define MAX_ROUNDS 5
/* How long after an owner marked a row sent it is presumed gone, beyond its call wait. */
#define OWNER_MARGIN_S 10.0

static const char *status_word(pl_status s)
{
    return pl_status_name(s);
}

/* The code a bureau outage reports as vendor response (seeds: 150 for CyberSource, SU else). */
static const char *unavailable_code(const pl_service *svc)
{
    return svc && strcmp(svc->protocol, "CYB") == 0 ? "150" : "SU";
}

static void fill_card(job *j)
{
    pl_reply *r = job_reply(j);
    copy_str(r->card_masked, sizeof r->card_masked, j->pub.card_masked);
    copy_str(r->card_type, sizeof r->card_type, j->pub.card_type);
}

/* obj (may be NULL): the reply as an object too, the caller's to put. */
static int render_reply_obj(job *j, json_object **obj)
{
    free(j->pub.reply_json);
    fill_card(j);
    /* Fixed once, so the copy published with a once-only card number says the same time. */
    pl_reply *r = job_reply(j);
    if (!r->processed_at)
        r->processed_at = time(NULL);
    /* The default text of a bureau other than CyberSource does not name CyberSource: put in
     * for this rendering only (a later outcome of the job gets its own default). */
    const char *dflt = !r->message[0] && j->pub.svc
                           ? pl_status_message_for(r->status, j->pub.svc->protocol)
                           : NULL;
    bool own = dflt && dflt != pl_status_message(r->status);
    if (own)
        copy_str(r->message, sizeof r->message, dflt);
    j->pub.reply_json = pl_reply_to_json_obj(&j->pub.req, r, obj);
    if (own)
        r->message[0] = '\0';
    return j->pub.reply_json ? 0 : PL_ERR_NOMEM;
}

static int render_reply(job *j)
{
    return render_reply_obj(j, NULL);
}

/*
 * A unit for job j, declaring the row besides the request's own that writing j's row may change
 * (spec->touch_key): every unit of a job is built here, so none of them can be overtaken by a
 * merged statement on that row (db.h). NULL when there is no memory.
 */
static pl_db_unit *job_unit_new(job *j, pl_db_unit_cb cb)
{
    job_reply(j); /* the specs that write the unit find the job's reply there */
    pl_db_unit *u = pl_db_unit_new(cb, j);
    const pl_spec *spec = j->pub.eng->spec;
    if (!u || !spec->touch_key)
        return u;
    char key[128] = "";
    spec->touch_key(&j->pub, key, sizeof key);
    if (key[0] && pl_db_unit_touch(u, key) != 0) {
        pl_db_unit_free(u);
        return NULL;
    }
    return u;
}

static void submit_or_die(pl_engine *e, pl_db_unit *u, int rc)
{
    if (rc != 0 || !u) {
        PL_ERROR(NULL, "out of memory building a database unit; exiting");
        exit(70);
    }
    pl_db_submit(e->db, u);
}

static void start_check(job *j);
static void finish_unknown(job *j, const char *reason, const char *detail, pl_status status,
                           const char *sent_by);
static long answer_wait_ms(const pl_service *svc);

/*
 * The common failure handling of a database unit's callback: PL_ERR_STATE (the database is
 * going away at shutdown) abandons the job for redelivery; any other error (a statement the
 * database refuses; lost connections are re-sent by db.c and never get here) gives it up.
 * Returns true when the job was handled.
 */
static bool unit_failed(job *j, int err, const char *errmsg, const char *what)
{
    if (!err)
        return false;
    if (err == PL_ERR_STATE) {
        job_abandon(j);
        return true;
    }
    char why[400];
    snprintf(why, sizeof why, "%s failed: %s", what, errmsg);
    /* A refused first record unit wrote nothing (its transaction rolled back) and no call was
     * made: nothing can have reached the bureau. */
    job_fail(j, why, j->state == JS_RECORDING && !j->read_back && j->calls == 0);
    return true;
}

/* After mark_replied's unit: the job completes whatever came of it (a refused mark leaves the
 * final reply to wait 10 minutes, 055), unless the database is going away (redelivered). */
static void on_replied(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    (void)u;
    job *j = arg;
    if (err == PL_ERR_STATE) {
        job_abandon(j);
        return;
    }
    if (err)
        PL_WARN(j->pub.req.request_id,
                "recording that the timeout reply was published failed (%s): the final reply "
                "waits 10 minutes",
                errmsg);
    job_done(j);
}

/*
 * The `timeout` reply of a required response is on Kafka: recorded (worker_replied_at, 055)
 * before the offset is, so that the final reply, which the resolver of any replica or an
 * operator publishes with a producer of its own, never reaches the order system before it. A
 * worker killed in between leaves the offset uncommitted: the redelivery replays the row's reply
 * and records it then, with the hold for the owner's copy that may still be queued (pl_replayed;
 * 066). False when no unit could be made (the job completes at once).
 */
static bool mark_replied(job *j)
{
    j->rr_marked = true;
    pl_db_unit *u = pl_db_unit_new(on_replied, j);
    const char *p[] = {j->pub.eng->spec->worker, j->pub.req.request_id, j->pub.eng->rr_hold_s};
    /* The owner that produced no copy of its own (answer_from_row) records "out now" only where
     * nothing is recorded: a replay's later time waits for another replica's copy, not its. */
    const char *stmt = j->rr_hold                    ? "pl_replayed"
                       : j->rr_own == RR_OWN_NO_COPY ? "pl_replied_none"
                                                     : "pl_replied";
    if (!u || pl_db_unit_add(u, stmt, j->rr_hold ? 3 : 2, p) != 0) {
        pl_db_unit_free(u);
        return false;
    }
    j->state = JS_STORING;
    pl_db_submit(j->pub.eng->db, u);
    return true;
}

static void once_wipe(job *j)
{
    pl_card_wipe(j->pub.reply_card_number_once, sizeof j->pub.reply_card_number_once);
}

/*
 * Gives up on a job that can never complete (a statement the database refuses, a row that
 * vanished or never settles, a stored reply that cannot be read): says so loudly and counts it,
 * answers the upstream system and puts a dead-letter copy of the request where an operator
 * looks, and releases its offset so one broken request never stops its partition from
 * committing. Nothing is written (the database is what failed); whatever its row says stays for
 * an operator. `unsent`: nothing can have reached the bureau (no row was written and no call
 * made), so the reply is a final `error`; otherwise it is `timeout` — the outcome is unknown,
 * and the upstream system must not try again under another request_id.
 */
static void job_fail(job *j, const char *why, bool unsent)
{
    pl_engine *e = j->pub.eng;
    const char *id = j->pub.req.request_id[0] ? j->pub.req.request_id : NULL;
    /* Its row may still be open ('received' or 'sent': the bureau may have acted). First, once,
     * the row becomes 'unknown' with a required response (guarded: only an open row does), so
     * the resolver settles it and publishes the `resolved` reply the `timeout` promises; a row
     * answered meanwhile is answered from. Only when that too fails is the request given up.
     * Not for a request validation refused (JS_LOOKING): the row its request_id finds may be
     * another request's, which this one never marks. */
    if (!unsent && !j->unknown_tried && j->state != JS_LOOKING) {
        PL_ERROR(id, "request could not be finished (%s); its outcome is left to the resolver",
                 why);
        /* A database error may quote the values of a row: scrubbed as log lines are. */
        char detail[300];
        pl_card_scrub_copy(detail, sizeof detail, why, strlen(why), e->cfg.log_mask);
        finish_unknown(j, "not_finished", detail, PL_ST_TIMEOUT, NULL);
        return;
    }
    PL_ERROR(id,
             "request given up (%s); answered %s, dead-letter copy sent, its offset released, its "
             "row (if any) is left for an operator",
             why, unsent ? "error" : "timeout");
    pl_counter_add(e->m_failed, 1);
    /* What was decided with an answer that was not stored goes nowhere; nor is a required
     * response's reply recorded (this job wrote none: finish_unknown's write failed). */
    followups_drop(j);
    j->rr_reply = false;
    once_wipe(j);
    pl_reply *r = job_reply_clear(j);
    r->status = unsent ? PL_ST_ERROR : PL_ST_TIMEOUT;
    copy_str(r->message, sizeof r->message,
             unsent ? "paylink could not process this request and did not send it to the payment "
                      "service; it was handed to an operator."
                    : "paylink could not finish this request: its outcome is unknown and it was "
                      "handed to an operator. Do not send it again under another request_id.");
    if (render_reply(j) != 0) {
        PL_ERROR(id, "out of memory answering a request given up; exiting");
        exit(70);
    }
    j->outcome = status_word(r->status);
    /* A database error may quote the values of a row: scrubbed as log lines are. */
    char safe_why[512];
    pl_card_scrub_copy(safe_why, sizeof safe_why, why, strlen(why), e->cfg.log_mask);
    send_dead_letter(j, PL_DLQ_KIND_GIVEN_UP, safe_why, NULL);
    publish(j, j->pub.reply_json);
}

/*
 * Publishes the reply with the once-only card number in svc.card_number (pl_job), a copy of the
 * stored one in every other field, and wipes what held the number.
 */
static void publish_once(job *j)
{
    pl_reply rep = *job_reply(j);
    copy_str(rep.svc.card_number, sizeof rep.svc.card_number, j->pub.reply_card_number_once);
    once_wipe(j);
    char *json = pl_reply_to_json(&j->pub.req, &rep);
    pl_card_wipe(rep.svc.card_number, sizeof rep.svc.card_number);
    if (!json) {
        PL_ERROR(j->pub.req.request_id, "out of memory; exiting");
        exit(70);
    }
    size_t n = strlen(json);
    publish(j, json); /* copies it; may complete (and free) the job */
    pl_card_wipe(json, n);
    free(json);
}

/*
 * After a guarded write (final, unknown, the spec's store). Its first statement returns a row
 * when it changed the transaction row; when it returns none, another actor (a second replica, a
 * redelivery, an operator, the resolver) wrote the row first, and the request is answered from
 * what the row says now, never from what this job meant to write.
 */
static void on_written(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    pl_engine *e = j->pub.eng;
    bool unknown = j->unknown_writing;
    j->unknown_writing = false;
    /* On failure: never reply with something the table does not say. */
    if (unit_failed(j, err, errmsg, "writing the outcome"))
        return;
    pl_histogram_observe(e->m_db, pl_db_last_batch_ms(e->db) / 1000.0);
    /* A required response opened: only when its write changed the row (another actor answering
     * first, or the owner a redelivery waited for giving its call back, opens none). */
    if (unknown && pl_db_unit_ntuples(u, 0) > 0)
        pl_counter_add(e->m_required, 1);
    if (pl_db_unit_ntuples(u, 0) == 0) {
        /* Its own write making the row unknown (finish_unknown) may have committed, its result
         * lost with the connection and the unit sent again (db.c) — or another actor (another
         * replica, whose `timeout` copy may still be queued) made the row unknown first: this
         * cannot tell which. So it records nothing should the re-read find the row settled and
         * its final reply held (rr_own stays RR_OWN_NOT): the final reply then waits for that
         * other copy's record, or the 10 minutes, rather than risk overtaking it. */
        j->rr_reply = false; /* the row says what is answered (replay decides) */
        j->rr_hold = false;
        PL_INFO(j->pub.req.request_id,
                "its row was written by another actor first; answering from the row");
        /* What the row says is answered, never this job's number, unless the row holds this
         * job's own reply (answer_from_row). */
        j->own_check = j->pub.reply_json != NULL;
        if (!j->own_check)
            once_wipe(j);
        start_check(j);
        return;
    }
    if (j->rr_reply && now_s() - j->rr_since > RR_OWNER_WINDOW_S) {
        /* The row it made unknown took that long to write (or the process stalled): its own
         * `timeout` reply, produced now, might outlast what a replay elsewhere waits for
         * (RR_OWNER_WINDOW_S). Answered from the row instead: settled meanwhile, or replayed. */
        j->rr_reply = false;
        if (partition_leaving(j)) {
            /* Nor replayed: its partition's next owner answers (answer_from_row). */
            PL_WARN(j->pub.req.request_id,
                    "its outcome became unknown %.0f s ago and its partition is being left: "
                    "given up for the partition's next owner",
                    now_s() - j->rr_since);
            job_leave(j);
            return;
        }
        PL_WARN(j->pub.req.request_id,
                "its outcome became unknown %.0f s ago: answered from its row again",
                now_s() - j->rr_since);
        j->rr_own = RR_OWN_NO_COPY;
        j->owner_recheck = true;
        start_check(j);
        return;
    }
    if (j->pub.reply_card_number_once[0]) {
        publish_once(j);
        return;
    }
    publish(j, j->pub.reply_json);
}

/* After the spec's store of a bureau answer: a statement error becomes an unknown outcome (the
 * answer is lost, the bureau may have acted), never a silent drop. */
static void on_stored(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    if (err && err != PL_ERR_STATE) {
        PL_ERROR(j->pub.req.request_id, "storing the bureau's answer failed: %s", errmsg);
        char raw[300], detail[300];
        snprintf(raw, sizeof raw, "the answer (%s %s) could not be stored: %s",
                 j->pub.res ? j->pub.res->decision : "", j->pub.res ? j->pub.res->reason_code : "",
                 errmsg ? errmsg : "");
        /* A database error may quote the values of a row (its DETAIL): scrubbed as log lines
         * are, before the row and the required response keep it. */
        pl_card_scrub_copy(detail, sizeof detail, raw, strlen(raw), j->pub.eng->cfg.log_mask);
        finish_unknown(j, "answer_not_stored", detail, PL_ST_TIMEOUT, NULL);
        return;
    }
    on_written(arg, err, errmsg, u);
}

/* Outcome unknown: the row becomes 'unknown', a required_response row opens, reply timeout.
 * captured: the answer, unreadable, says an auth+capture's capture happened (the adapter's
 * pl_bureau_result.capture_approved beside PL_ERR_PARSE, bureau.h): the required response
 * records it (required_response.captured), and an operator's refusal of it reverses nothing.
 * sent_by: the owner a redelivery waited for (answer_from_row), whose 'sent' row the decision
 * rests on: only while the row is still 'sent' by it is it written (pl_unknown's $14). Before, a
 * redelivery that had waited for an owner made the row unknown even when that owner had just
 * given its call back (pl_unmark: 'received', never sent): an operator was asked to settle a call
 * that never went. Written nothing, the row is read again and answered from (on_written): a row
 * now 'received' is sent. NULL: any open row, 'received' too — the job's own call (its bytes may
 * have left: should its row ever read 'received', a required response, never a second send) and
 * a request given up (job_fail). */
static void finish_unknown_as(job *j, const char *reason, const char *detail, pl_status status,
                              bool captured, const char *sent_by)
{
    pl_engine *e = j->pub.eng;
    pl_reply *r = job_reply_clear(j);
    j->unknown_tried = true;
    once_wipe(j);      /* an answer that could not be stored gives nothing out */
    followups_drop(j); /* nor what was decided with it (a reject's reversal) */
    r->status = status;
    r->required_response = true;
    copy_str(r->vendor_response, sizeof r->vendor_response, unavailable_code(j->pub.svc));
    /* The card's token the engine's getToken made of the request's card number (EXT): the
     * card's token from now on, as an answered request's reply returns it, and what the
     * authorization went with (its row keeps it). Before, the order system learned it only
     * from the final reply. Not a stored value card's. */
    if (j->pub.card_token[0] && !(j->pub.call.svc_card_number && *j->pub.call.svc_card_number))
        copy_str(r->token, sizeof r->token, j->pub.card_token);
    /* How long paylink waited (the bureau's answer wait as configured), so the upstream system
     * and an operator can tell a slow bureau from a short setting. */
    if (strcmp(reason, "timeout") == 0 && j->pub.svc)
        snprintf(r->message, sizeof r->message,
                 "No answer from the payment service within %ld ms: the outcome is unknown.",
                 j->answer_ms > 0 ? j->answer_ms : answer_wait_ms(j->pub.svc));
    if (render_reply(j) != 0) {
        PL_ERROR(j->pub.req.request_id, "out of memory; exiting");
        exit(70);
    }
    PL_WARN(j->pub.req.request_id, "outcome unknown (%s: %s): required response opened", reason,
            detail);
    char company[16], pay_seq[16], sent[32];
    snprintf(company, sizeof company, "%d", j->pub.req.company);
    snprintf(pay_seq, sizeof pay_seq, "%d", j->pub.req.pay_seq);
    /* The amount the call sent, once one was prepared (a J19 preauthorization sends the
     * balance, a void or reversal what the authorization holds): what an operator confirms and
     * may approve at most. Before that, the request's. */
    const char *amount = j->pub.amount[0] ? j->pub.amount : NULL;
    if (j->pub.call.op != 0 && j->pub.call.amount > 0 &&
        pl_money_format(j->pub.call.amount, sent, sizeof sent) == 0)
        amount = sent;
    const char *p[] = {j->pub.req.request_id,
                       j->pub.reply_json,
                       detail,
                       e->spec->worker,
                       company,
                       j->pub.req.order,
                       pay_seq,
                       j->pub.req.service,
                       j->pub.op_name[0] ? j->pub.op_name : j->pub.req.type_name,
                       amount,
                       j->pub.req.currency[0] ? j->pub.req.currency : NULL,
                       reason,
                       captured ? "t" : "f",
                       sent_by};
    pl_db_unit *u = job_unit_new(j, on_written);
    j->outcome = status == PL_ST_TIMEOUT ? "timeout" : status_word(status);
    j->rr_reply = true;
    j->rr_hold = false; /* its own reply: the owner's (pl_replied) */
    j->rr_own = RR_OWN_NOT;
    j->rr_since = now_s();
    j->unknown_writing = true; /* paylink_required_responses_total: on_written */
    j->state = JS_STORING;
    submit_or_die(e, u, u ? pl_db_unit_add(u, "pl_unknown", 14, p) : PL_ERR_NOMEM);
}

static void finish_unknown(job *j, const char *reason, const char *detail, pl_status status,
                           const char *sent_by)
{
    finish_unknown_as(j, reason, detail, status, false, sent_by);
}

/* A final answer that did not come from the bureau (never sent, or refused before sending). */
static void finish_final(job *j, const char *error_text)
{
    pl_engine *e = j->pub.eng;
    if (render_reply(j) != 0) {
        PL_ERROR(j->pub.req.request_id, "out of memory; exiting");
        exit(70);
    }
    const pl_reply *r = job_reply(j);
    const char *p[] = {j->pub.req.request_id,        status_word(r->status), r->vendor_response,
                       error_text ? error_text : "", j->pub.reply_json,      j->pub.attempt,
                       j->pub.prev_attempt};
    pl_db_unit *u = job_unit_new(j, on_written);
    j->outcome = status_word(r->status);
    j->state = JS_STORING;
    submit_or_die(e, u, u ? pl_db_unit_add(u, "pl_final", 7, p) : PL_ERR_NOMEM);
}

/* A final `error` that nothing was sent for, with the bureau's outage code. `ours`: paylink
 * itself could not send it (seed Siebel message 19, an error in the adapter), rather than the
 * bureau being unreachable (message 20). */
static void finish_error(job *j, const char *why, bool ours)
{
    pl_reply *r = job_reply_clear(j);
    r->status = PL_ST_ERROR;
    copy_str(r->vendor_response, sizeof r->vendor_response, unavailable_code(j->pub.svc));
    if (ours)
        copy_str(r->message, sizeof r->message, pl_siebel_message(19));
    else if (j->pub.eng->spec->unreachable)
        j->pub.eng->spec->unreachable(&j->pub);
    finish_final(j, why);
}

/* ---- the bureau call ---- */

static slot *slot_for(pl_engine *e, const char *code)
{
    for (size_t i = 0; i < e->nslots; i++)
        if (strcmp(e->slots[i].code, code) == 0)
            return &e->slots[i];
    if (e->nslots == MAX_SERVICES)
        return &e->slots[MAX_SERVICES - 1];
    slot *s = &e->slots[e->nslots++];
    copy_str(s->code, sizeof s->code, code);
    char labels[32];
    snprintf(labels, sizeof labels, "bureau=%s", s->code);
    s->m_refused = pl_metrics_counter(
        e->metrics, "paylink_slot_wait_refused_total",
        "Requests answered error without being sent: their bureau stalled, no slot free and no "
        "call answered for PAYLINK_SLOT_WAIT_MAX_MS.",
        labels);
    s->m_stalled = pl_metrics_gauge(e->metrics, "paylink_bureau_stalled",
                                    "1 from the bureau's stall (PAYLINK_SLOT_WAIT_MAX_MS: a "
                                    "request that finds its slots all taken is answered error) "
                                    "until one of its calls answers.",
                                    labels);
    return s;
}

static const pl_service *svc_now(const job *j);

/* The shortest card token message_log masks where it appears: the request schema allows a token
 * of one character, and every "12" of a body would be starred for a token "12" (amounts, ids).
 * The External Payment Service's redaction has the same floor (TOKEN_COPY_MIN). */
#define MESSAGE_LOG_TOKEN_MIN 8

static void mask_token_copies(char *text, const char *token)
{
    if (token && strlen(token) >= MESSAGE_LOG_TOKEN_MIN)
        pl_card_mask_copies(text, token, false);
}

static void message_log(job *j, const char *direction, const char *body, size_t len)
{
    const pl_service *svc = svc_now(j);
    if (!svc->message_log_enabled || !svc->message_log_dir[0] || !j->ops->redact)
        return;
    char *safe = j->ops->redact(body, len, (int)pl_log_mask_mode());
    if (!safe)
        return;
    /* A stored value card shorter than the redactions see (1 to 20 digits; they look for 10 or
     * more, or a Luhn card number), echoed by the bureau in a message: masked here, where the
     * request's number is known. */
    pl_card_mask_copies(safe, j->pub.call.svc_card_number, true);
    pl_card_mask_copies(safe, j->pub.req.svc.card_number, true);
    /* The request's card token and card number, wherever the body holds them: the redactions
     * find a token only where the bureau's format names one (EXT's card.token and cardToken),
     * and a body in no format of the bureau's (an HTML error page, a proxy's text echoing the
     * request) is only scrubbed for card numbers. A token charges the card through the
     * merchant's account as its number would. */
    mask_token_copies(safe, j->pub.call.card_token);
    mask_token_copies(safe, j->pub.req.card.token);
    pl_card_mask_copies(safe, j->pub.req.card.number, false);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char path[512], ts[32];
    strftime(ts, sizeof ts, "%Y%m%d", &tm);
    snprintf(path, sizeof path, "%s/paylink-%s-%s-%s.log", svc->message_log_dir,
             j->pub.eng->spec->worker, svc->code, ts);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        /* The endpoint too, when the message names one (EXT: "authorization"). */
        dprintf(fd, "%s %s %s%s%s\n%s\n", ts, j->pub.req.request_id, direction,
                j->msg->url_suffix[0] ? " " : "", j->msg->url_suffix, safe);
        close(fd);
    }
    free(safe);
}

static void on_http(void *arg, const pl_http_response *r);
static void on_marked(void *arg, int err, const char *errmsg, pl_db_unit *u);

const PGresult *pl_job_lookup(const pl_db_unit *recorded, int *col)
{
    bool one = pl_db_unit_count(recorded) == 1;
    *col = one ? 1 : 0;
    return pl_db_unit_result(recorded, one ? 0 : 1);
}

void pl_job_judge_auth_ref(const pl_request *r, pl_errors *errs)
{
    if (r->auth_ref.request_id[0])
        pl_errors_add(errs, "auth_ref.request_id", PL_FOREIGN_AUTH);
    else if (r->auth_ref.transaction_id[0])
        pl_errors_add(errs, "auth_ref.transaction_id", PL_FOREIGN_AUTH);
}

const char *pl_job_card_hash_for(const pl_job *job, const char *stored_hash)
{
    for (int k = 0; stored_hash && k < job->n_card_hash_prev; k++)
        if (strcmp(job->card_hash_prev[k], stored_hash) == 0)
            return job->card_hash_prev[k];
    return job->card_hash;
}

int pl_engine_attempt_id(const char *instance, uint32_t nonce, unsigned long long n, char *out,
                         size_t outsize)
{
    int len = snprintf(out, outsize, "%s/%08" PRIx32 ".%llu", instance, nonce, n);
    return len < 0 || (size_t)len >= outsize ? -1 : 0;
}

/* The process's attempt nonce (pl_engine_attempt_id), drawn once. */
static uint32_t attempt_nonce(void)
{
    static uint32_t nonce;
    static bool drawn;
    if (!drawn) {
        if (RAND_bytes((unsigned char *)&nonce, sizeof nonce) != 1) {
            /* No randomness to be had: the start time and pid still tell two lives apart. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            nonce = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ ((uint32_t)getpid() << 16);
        }
        drawn = true;
    }
    return nonce;
}

/* A new send attempt of the job: what the mark stores in sent_by (see pl_job.attempt). */
static void new_attempt(job *j)
{
    static unsigned long long attempts;
    if (pl_engine_attempt_id(j->pub.eng->cfg.instance, attempt_nonce(), ++attempts, j->pub.attempt,
                             sizeof j->pub.attempt) != 0) {
        /* A cut id could be another attempt's: never send under one. */
        PL_ERROR(j->pub.req.request_id, "the send attempt id does not fit; exiting");
        exit(70);
    }
}

/* Marks the request sent, durably, just before its bytes leave; it holds a bureau slot. */
static void mark_sent(job *j)
{
    pl_engine *e = j->pub.eng;
    new_attempt(j);
    pl_db_unit *u = job_unit_new(j, on_marked);
    j->state = JS_MARKING;
    submit_or_die(e, u, u ? e->spec->mark_sent(&j->pub, u) : PL_ERR_NOMEM);
}

/*
 * Queues the job for a slot of its bureau; its reply, while empty, goes meanwhile. A queue that
 * forms starts the breaker's clock afresh (answered_at: slot_answered keeps it only while a
 * queue waits, so what it held was of an earlier queue): judged from an answer of a minute ago,
 * a healthy bureau whose slots were all busy for a moment was stalled at the next turn. Not
 * while the bureau has not answered since it stalled (s->unanswered): its queue is judged from
 * its first new call then (slot_judged_at), not from each queue that forms, so a bureau still
 * hung holds the worker's requests PAYLINK_SLOT_WAIT_MAX_MS from that call, not that long
 * again each time a queue forms behind a call that hangs.
 */
static void slot_enqueue(slot *s, job *j)
{
    job_reply_park(j);
    j->state = JS_QUEUED;
    j->qnext = NULL;
    j->in_queue = true;
    j->t_queued = now_s();
    j->pub.eng->n_queued++;
    if (s->qtail) {
        s->qtail->qnext = j;
    } else {
        s->qhead = j;
        if (!s->unanswered)
            s->answered_at = j->t_queued;
    }
    s->qtail = j;
}

/*
 * Job j's bureau as the current configuration has it, for how j reaches it: its URL, proxy,
 * connection attempts and waits, access token settings and message log (its concurrency cap is
 * the current configuration's always: slot_cap). An
 * operator who changes them for a bureau with requests waiting (a backlog behind a slow or
 * failed bureau: its cap raised, its URL moved to a standby, its response time lengthened, its
 * message log switched on to see why) means those requests too, not only the ones to come.
 * What a request says to the bureau (merchant id, the spec's rules) stays what j read when it
 * arrived, as its judgement did. j's own when its bureau is gone from the configuration or has
 * another protocol there; when it is unusable there (its secret not resolved, its settings
 * refused: a call not started yet is answered instead, svc_unusable_now, so only a call already
 * under way gets here, and it ends as it began); and when its secret changed on a bureau whose
 * message carries it: the key a CyberSource message is built (signed) with belongs to the URL
 * it arrived with. An operator going live (the production URL and key in one change) or back
 * sent the waiting requests to one environment with the other's key, and every one of them
 * failed; now they go where their key is valid, and the next ones by the new pair. A bureau
 * that authenticates by OAuth token (PL_BUREAU_OAUTH: the External Payment Service) has no
 * secret in its messages, only in its token request (with_token): a changed password is taken
 * with the rest. Kept on the old one, every waiting request asked for a token with a password
 * the provider had revoked (an `error` each, "no OAuth access token"), and each such token
 * request threw away the cached token made with the new one (oauth.c: one entry per bureau,
 * dropped when the credentials asking differ; a job kept on the settings it arrived with asks under
 * a key of its own, oauth_key). j's own too, on such a bureau, when the refresh gave the merchant
 * j's call says to another account, another OAuth client (merchant_moved): a merchant ID and the
 * URL and credentials it goes with are one account's. Valid until the loop takes the next refresh
 * (refresh_take): never kept across turns.
 */
/* The current configuration's settings of bureau `code` (NULL: none loaded, or not there). */
static const pl_service *svc_current(const pl_engine *e, const char *code)
{
    return e->services ? pl_services_find(e->services, code) : NULL;
}

/* Whether settings a and b name the same OAuth client: its Authentication User and token URL
 * (what oauth_client_of writes, for a client kept as text). */
static bool same_oauth_client(const pl_service *a, const pl_service *b)
{
    return strcmp(a->ext_auth_user, b->ext_auth_user) == 0 &&
           strcmp(a->ext_token_url, b->ext_token_url) == 0;
}

static bool merchant_moved(const job *j, const pl_service *now);

static const pl_service *svc_now(const job *j)
{
    const pl_engine *e = j->pub.eng;
    const pl_service *own = j->pub.svc;
    const pl_service *now = svc_current(e, own->code);
    if (!now || now == own || !now->secret_ok || strcmp(now->protocol, own->protocol) != 0)
        return own;
    bool oauth = j->ops && (j->ops->flags & PL_BUREAU_OAUTH);
    if (!oauth)
        return strcmp(now->secret, own->secret) == 0 ? now : own;
    return merchant_moved(j, now) ? own : now;
}

/*
 * Whether a refresh moved the merchant of job j, on a bureau that authenticates by OAuth token,
 * to another account: the current settings now of j's bureau have another OAuth client (its
 * Authentication User or its token URL differ from the settings j arrived with), and they would
 * have j say another merchant ID than the one its call says (j->pub.merchant_id), where the
 * settings j arrived with say that one (an operator going live changes the merchant ID with the
 * URL and the client; or gives an entity or a pay type another merchant under another client).
 * Such a job goes by the settings it arrived with, all of them (svc_now): its merchant ID, URL,
 * client, password and token cache entry (oauth_key) are one merchant account's. Before, the
 * External Payment Service's waiting requests took the new URL and the new client's access token
 * with the merchant ID they arrived with: another environment's, or another merchant's, account.
 * The same client is the same account: a merchant ID changed under it, the job goes by the
 * current settings (its password, its URL: another address of the same service) and says the
 * merchant ID it arrived with, the one its own order data named; kept on all the old settings
 * for a merchant ID alone, it asked for its token with a password since revoked and went to an
 * address since left. (A bureau whose messages carry its key, CyberSource, keeps the settings it
 * arrived with when its key changed, merchant or not: svc_now.) A call on an earlier transaction
 * (pl_job_follow_merchant) says the merchant ID that transaction was sent with: it stays with the
 * settings it arrived with when they have that one, for its entity and pay type or any other
 * (a reversal paylink publishes itself has no entity); when neither does (the change is older
 * than the job), it goes by the current ones (said when their client is not known to have it:
 * merchant_foreign). A job whose spec resolved no merchant ID is never moved.
 */
static bool merchant_moved(const job *j, const pl_service *now)
{
    const pl_job *p = &j->pub;
    if (!p->merchant_resolved)
        return false;
    if (same_oauth_client(now, p->svc))
        return false;
    const pl_request *r = &p->req;
    const pl_engine *e = j->pub.eng;
    const char *pt = p->merchant_pay_type;
    if (strcmp(pl_services_merchant_id(e->services, now, r->company, r->entity, pt),
               p->merchant_id) == 0)
        return false;
    if (p->merchant_followed)
        return pl_services_has_merchant_id(p->services, p->svc, p->merchant_id);
    return strcmp(pl_services_merchant_id(p->services, p->svc, r->company, r->entity, pt),
                  p->merchant_id) == 0;
}

/*
 * Whether job j, a call on an earlier transaction of a bureau that authenticates by OAuth token,
 * goes by the OAuth client of settings svc (svc_now) with a merchant ID — the one that
 * transaction was sent with (pl_job_follow_merchant) — that no configuration the engine holds
 * shows that client with: not the bureau's, nor a pay type's or an entity's at the bureau
 * (pl_services_has_merchant_id), neither in the current configuration nor in the one j arrived
 * with, where either has that client. An operator going live changes the client and the merchant
 * IDs together: the capture of an authorization made in test mode, arriving after, says the test
 * merchant ID with the live client's token at the live URL, and the bureau refuses it (no money
 * moves: it knows no such transaction under that client). Said at warn (with_token), so that an
 * operator reads why, but sent: the transaction's row does not record which client it went with,
 * and a merchant ID renamed under the same client (the old one in no mapping now) is the same
 * account, whose captures and credits the bureau takes — refused here, they would be lost. A job
 * whose merchant ID is its own (resolved) is never foreign.
 */
static bool merchant_foreign(const job *j, const pl_service *svc)
{
    const pl_job *p = &j->pub;
    if (!p->merchant_followed || !j->ops || !(j->ops->flags & PL_BUREAU_OAUTH))
        return false;
    const pl_engine *e = p->eng;
    const pl_service *now = svc_current(e, svc->code);
    if (now && same_oauth_client(now, svc) &&
        pl_services_has_merchant_id(e->services, now, p->merchant_id))
        return false;
    return !(same_oauth_client(p->svc, svc) &&
             pl_services_has_merchant_id(p->services, p->svc, p->merchant_id));
}

/*
 * The current configuration's settings of job j's bureau when they make it unusable (secret_ok
 * false: its secret not resolved under a changed reference, its settings refused, the External
 * Service flag switched off), the bureau and its protocol being the ones j arrived with; NULL
 * otherwise. A request that has not left yet (its row 'received', or not written) is answered
 * then as a new one is (prepare_call: `error`, nothing sent), wherever its call would start —
 * prepare_call, slot_take, slot_start_queued, tokenize_go. Before, a refresh that made a
 * bureau unusable stopped only the requests that came after it: those already admitted went on
 * by the settings they arrived with (svc_now), and a backlog of hundreds behind a slow bureau
 * was still sent, with the old address and credentials, for minutes after the operator had
 * switched the bureau off. A call already marked sent (and a next call of a request whose first
 * went) is never stopped here: it ends by its own settings. A bureau removed, or given another
 * protocol, is no verdict on the requests that came for it: they go by their own settings.
 */
static const pl_service *svc_unusable_now(const job *j)
{
    const pl_engine *e = j->pub.eng;
    const pl_service *own = j->pub.svc;
    const pl_service *now = own ? svc_current(e, own->code) : NULL;
    return now && !now->secret_ok && strcmp(now->protocol, own->protocol) == 0 ? now : NULL;
}

/* finish_error's words for a call of an unusable bureau (prepare_call, svc_unusable_now): the
 * same for a request that waited as for a new one. */
static void unusable_words(const pl_service *svc, char *err, size_t errsz)
{
    snprintf(err, errsz, "bureau secret unavailable: %s", svc->secret_error);
}

static void slot_release(job *j);

/*
 * Answers job j, not sent, when its bureau is unusable now (svc_unusable_now); true when it
 * did. Its slot, if it holds one (its getToken's), is given back. One not recorded yet is not
 * answered here: the caller records it, and prepare_call answers it on its row.
 */
static bool refuse_if_unusable(job *j)
{
    const pl_service *now = svc_unusable_now(j);
    if (!now)
        return false;
    char err[sizeof now->secret_error + 32];
    unusable_words(now, err, sizeof err);
    PL_INFO(j->pub.req.request_id,
            "not sent: bureau %s became unusable at a configuration refresh while it waited",
            now->code);
    j->tokenizing = false;
    slot_release(j);
    finish_error(j, err, true);
    return true;
}

/*
 * The concurrency cap of job j's bureau: the current configuration's whenever the bureau is
 * there, whichever settings j's call goes by (svc_now); j's own when the bureau left it. The
 * slot counter is the bureau's, shared by every request for it, and the cap is the bureau's
 * contract limit: taken from the settings of one request, requests that kept theirs (a changed
 * CyberSource key, a moved OAuth account) held the whole queue to the old cap — with the cap
 * raised from 1 to 5 as the bureau went live, one call went at a time while a request that
 * arrived before waited at the queue's head (slot_start_queued reads its cap), and a new
 * request was refused a free slot by it (slot_take reads its own).
 */
static int slot_cap(const job *j)
{
    const pl_engine *e = j->pub.eng;
    const pl_service *own = j->pub.svc;
    const pl_service *now = svc_current(e, own->code);
    return now ? now->max_concurrent : own->max_concurrent;
}

/*
 * Since when bureau s's queue is judged (slot_check_stalls): the later of its last answer and,
 * while it has not answered since it last stalled (`unanswered`), the first request that asked
 * for a slot after the stall's idle end (probe_at). Judged from its last answer alone, a bureau
 * that had recovered during a quiet period (stalled at night, its calls timed out, idle until
 * the morning) had its first queue refused at the next loop turn, before it could answer the
 * calls ahead, and so on until one of them answered.
 */
static double slot_judged_at(const slot *s)
{
    return s->probe_at > s->answered_at ? s->probe_at : s->answered_at;
}

/*
 * Answers a request of stalled bureau s (slot_stall) that has no slot: a final `error`, nothing
 * sent, by the way every request that never left is answered (finish_error's: its row, written
 * before it queued, settled by pl_final; vendor_response the bureau's outage code, 150 for
 * CyberSource and SU otherwise, and what the spec adds for an unreachable bureau), with words
 * of its own. A request_id has one answer: sent again under the same one, it is replayed.
 */
static void slot_refuse(job *j, slot *s, double now)
{
    pl_engine *e = j->pub.eng;
    double since = s->busy_since;
    double secs = now > since ? now - since : 0.0;
    pl_reply *r = job_reply_clear(j);
    r->status = PL_ST_ERROR;
    copy_str(r->vendor_response, sizeof r->vendor_response, unavailable_code(j->pub.svc));
    if (e->spec->unreachable)
        e->spec->unreachable(&j->pub);
    char calls[64];
    if (s->active == 1)
        snprintf(calls, sizeof calls, "its call in flight has not answered");
    else
        snprintf(calls, sizeof calls, "its %d calls in flight have not answered", s->active);
    snprintf(r->message, sizeof r->message,
             "Not sent: bureau %s has had no free connection slot for %.0f s (%s); send it again "
             "under a new request_id.",
             s->code, secs, calls);
    char why[160];
    snprintf(why, sizeof why,
             "not sent: bureau %s stalled, no free connection slot for %.0f s "
             "(PAYLINK_SLOT_WAIT_MAX_MS)",
             s->code, secs);
    PL_INFO(j->pub.req.request_id, "%s", why);
    s->refused++;
    pl_counter_add(s->m_refused, 1);
    finish_final(j, why);
}

/* Whether the spec keeps job j out of the breaker's reach (spec->breaker_exempt): it waits for
 * a slot of its stalled bureau, never answered unsent. Asked only of a stalled bureau's. */
static bool breaker_exempt(const job *j)
{
    const pl_spec *sp = j->pub.eng->spec;
    return sp->breaker_exempt && sp->breaker_exempt(&j->pub);
}

static bool needs_tokenizing(const job *j);
static void tokenize(job *j);

/* Job j has a slot of its bureau: its getToken goes first when its call needs one (tokenize),
 * else its row is marked sent and its call goes. */
static void slot_go(job *j)
{
    if (needs_tokenizing(j))
        tokenize(j);
    else
        mark_sent(j);
}

/*
 * Takes one of the bureau's concurrency slots (auth_service.max_concurrent) and marks the
 * request sent (or first makes its getToken on it: slot_go), or queues it with its row still
 * 'received': a request waiting for a slot has not left, so a drain or a crash leaves it
 * re-sendable, not unknown. While the bureau is stalled (slot_stall) a request that finds no
 * slot is answered at once instead, unless the spec exempts it (breaker_exempt): that one
 * queues as ever. A request that holds a slot already, the one its getToken was made on
 * (on_tokenized), keeps it for its own call: it neither waits again nor is refused.
 */
static void slot_take(job *j)
{
    pl_engine *e = j->pub.eng;
    if (stop_asked(e)) {
        /* Not sent, and no call starts during a stop, nor once one is asked during a revoke
         * drain (stop_asked): redelivered (abandon_queued). */
        slot_release(j); /* (its getToken's, if it holds one) */
        job_abandon(j);
        return;
    }
    if (j->leaving) {
        /* Nor for a partition given up (leave_partitions). */
        PL_INFO(j->pub.req.request_id,
                "not sent: its partition was revoked; left for the partition's next owner");
        slot_release(j);
        job_leave(j);
        return;
    }
    /* Its bureau made unusable by a refresh since it arrived (also while its getToken was at the
     * bureau): answered, never sent. */
    if (refuse_if_unusable(j))
        return;
    if (j->slot_held) {
        mark_sent(j);
        return;
    }
    slot *s = slot_for(e, j->pub.svc->code);
    if (s->unanswered && !s->stalled && s->probe_at <= 0)
        s->probe_at = now_s(); /* the first call since the stall's idle end (slot_judged_at) */
    if (s->active >= slot_cap(j)) {
        /* Its bytes are built again when it gets a slot (slot_release): a backlog of requests
         * waiting for one does not hold a message each. */
        job_msg_drop(j);
        if (s->stalled && !breaker_exempt(j))
            slot_refuse(j, s, now_s());
        else
            slot_enqueue(s, j);
        return;
    }
    s->active++;
    j->slot_held = true;
    slot_go(j);
}

/*
 * At a graceful stop, the requests still waiting for a bureau slot have not left (their rows
 * are 'received', or not written yet): they are given up — their offsets stay uncommitted, so
 * the partition's next owner (or this worker restarted) gets them again — rather than sent now,
 * when the stop's deadline could cut their calls short and leave their outcomes unknown.
 */
static void abandon_queued(pl_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->nslots; i++) {
        while (e->slots[i].qhead) {
            job_abandon(e->slots[i].qhead); /* (job_free takes it out of the queue) */
            n++;
        }
    }
    if (n > 0)
        PL_INFO(NULL, "stopping: %zu request(s) waiting for a bureau slot left for redelivery", n);
}

static bool send_unrecorded(job *j);
static void start_record(job *j);

/* Takes the first request waiting for slot s out of its queue. */
static job *slot_pop(pl_engine *e, slot *s)
{
    job *n = s->qhead;
    slot_unlink(e, s, NULL, n);
    return n;
}

/*
 * Ends bureau s's stall (slot_stall), paylink_bureau_stalled back to 0: one of its calls that
 * holds a slot got an answer (slot_answered: logged at warn, once, as the stall was), or it has
 * no call in flight and nothing waits for its slots (slot_start_queued: every call that hung
 * has ended, so nothing is known to hang now, and the next requests take free slots as any
 * would; logged at info). The second is no answer: the bureau stays `unanswered`, and its next
 * queue is judged from the first request that asks for a slot after now (probe_at,
 * slot_judged_at): a bureau still hung stalls again PAYLINK_SLOT_WAIT_MAX_MS after its first
 * new call, one that recovered meanwhile has that long to answer it. The gauge is not kept at 1
 * past this end: with no traffic after an outage it stayed 1, its alert firing, for as long as
 * the bureau was idle, recovered or not.
 */
static void slot_unstall(pl_engine *e, slot *s, double now, const char *why)
{
    s->stalled = false;
    e->n_stalled--;
    s->probe_at = 0;
    pl_gauge_set(s->m_stalled, 0);
    pl_log(s->unanswered ? PL_LOG_INFO : PL_LOG_WARN, NULL,
           "bureau %s %s: no longer stalled after %.0f s; %" PRIu64 " request(s) were answered "
           "error, not sent, meanwhile%s",
           s->code, why, now > s->busy_since ? now - s->busy_since : 0.0, s->refused,
           s->unanswered ? " (no answer yet: requests take its free slots again, and if none "
                           "of its calls answers within PAYLINK_SLOT_WAIT_MAX_MS of the first "
                           "of them, those that find its slots taken are answered so again)"
                         : "");
}

/*
 * A refresh made bureau s unusable (svc_unusable_now): every request waiting for its slots is
 * answered now, `error`, nothing sent, whether a slot is free or not (its calls in flight may
 * hang for their whole answer wait); one not recorded yet is recorded first and answered on its
 * row (prepare_call), as a stall does (slot_stall). A request of a partition being left stays
 * for slot_start_queued to give up. Not during a stop: abandon_queued leaves the queue for
 * redelivery.
 */
static void slot_refuse_unusable(pl_engine *e, slot *s)
{
    const pl_service *now = svc_current(e, s->code);
    if (!now || now->secret_ok)
        return;
    job *prev = NULL;
    for (job *n = s->qhead; n;) {
        job *next = n->qnext;
        if (n->leaving || !svc_unusable_now(n)) {
            prev = n; /* (another protocol under the code when it arrived: its own settings) */
            n = next;
            continue;
        }
        slot_unlink(e, s, prev, n);
        if (n->unrecorded) {
            n->unrecorded = false;
            e->n_unrecorded--;
            start_record(n);
        } else {
            refuse_if_unusable(n);
        }
        n = next;
    }
}

/* Lets the requests waiting for slot s go while it has room (a getToken first for one whose
 * call needs it: slot_go); ends a stall that has nothing left in flight or waiting
 * (slot_unstall; the bureau stays unanswered). Requests of a bureau a refresh made unusable are
 * answered instead, all at once (slot_refuse_unusable). */
static void slot_start_queued(pl_engine *e, slot *s)
{
    if (s->starting)
        return; /* (a slot given back from within the loop below: the loop hands it out) */
    s->starting = true;
    if (s->qhead && !stop_asked(e))
        slot_refuse_unusable(e, s);
    /* Stopping, or a stop asked (stop_asked): a waiting request is not started now
     * (abandon_queued gives it up). */
    while (!stop_asked(e) && s->qhead && s->active < slot_cap(s->qhead)) {
        job *n = slot_pop(e, s);
        if (n->leaving) {
            /* Of a partition being left (leave_partitions gives these up first; this one only if
             * it could not): not sent from here. */
            job_leave(n);
            continue;
        }
        s->active++;
        n->slot_held = true;
        if (!n->unrecorded && needs_tokenizing(n)) {
            /* Its getToken, on this slot; one that cannot start gives the slot back
             * (slot_release), to this loop. */
            tokenize(n);
        } else if (!n->unrecorded) {
            char err[256] = "";
            if (!build_msg(n, err, sizeof err)) {
                /* Built once before it queued: only out of memory fails here. Not sent. */
                s->active--;
                n->slot_held = false;
                finish_error(n, UNBUILT(err), true);
                continue;
            }
            mark_sent(n);
        } else if (!send_unrecorded(n)) {
            /* Its call could not be built: the usual way answers that on a recorded row. */
            s->active--;
            n->slot_held = false;
            start_record(n);
        }
    }
    s->starting = false;
    if (s->stalled && s->active == 0 && !s->qhead)
        slot_unstall(e, s, now_s(), "has no call in flight and none waiting");
}

/* Gives the job's slot back and lets the next queued request of that bureau go. */
static void slot_release(job *j)
{
    if (!j->slot_held)
        return;
    pl_engine *e = j->pub.eng;
    j->slot_held = false;
    slot *s = slot_for(e, j->pub.svc->code);
    s->active--;
    slot_start_queued(e, s);
}

/*
 * The breaker on a bureau's slot queue. A request waits for a slot of its bureau; when one of
 * the bureau's calls hangs (the External Payment Service answering nothing until each call's
 * 50 s answer wait; a getToken too, which takes a slot as any call does: tokenize, so getTokens
 * that hang form the queue, where they once held no slot and filled PAYLINK_MAX_IN_FLIGHT with
 * no queue for the breaker to see), the requests waiting behind its calls count among the
 * worker's requests in flight (PAYLINK_MAX_IN_FLIGHT) and soon are all of them: every other
 * bureau's requests of the worker (paylink-auth calls CyberSource and the External Payment
 * Service) then waited in the backlog behind them, and one bureau's outage was the worker's, for
 * as long as it lasted.
 *
 * So when the first request in a bureau's queue has waited PAYLINK_SLOT_WAIT_MAX_MS and none of
 * the bureau's calls has had an answer meanwhile (a call that ends in a time-out or a failed
 * connection frees its slot without one: a hung bureau whose calls time out one after another
 * is still hung), the bureau is stalled: the requests in its queue are answered `error` at once,
 * nothing sent (slot_refuse; one not recorded yet is recorded first, as record_overdue does, and
 * answered when it reaches its slot again, so that its answer is in its row like any other's),
 * and until one of its calls gets an answer (slot_answered) or none is in flight and none
 * waits (slot_unstall), a new request that finds its slots all taken is answered so too instead
 * of queued. A request that finds a slot free still takes it. paylink_bureau_stalled is 1
 * while it is stalled. Until one of its calls answers the bureau stays `unanswered`, also past
 * such an idle end: its next queue is judged from the first request that asked for a slot
 * after that end (slot_judged_at), however long it was idle, and stalls it again
 * PAYLINK_SLOT_WAIT_MAX_MS after that call if none answers. A hung bureau so costs the others
 * PAYLINK_SLOT_WAIT_MAX_MS, not its whole outage, once and again after each idle end of its
 * stall (when its hung calls have all timed out), not each time a queue forms. A request the
 * spec exempts
 * (spec->breaker_exempt: paylink's own reversals, whose `error` nobody reads and which would
 * leave a hold on the card) is never answered so: it stays in the queue, in its place, and
 * waits as before. Requests of a partition being left are given up for its next owner
 * (job_leave), and nothing is judged while a stop is asked: abandon_queued leaves the queue for
 * redelivery, as before.
 *
 * Only an answer tells a bureau that answers from one that hangs: a slow one whose answers
 * come less often than every PAYLINK_SLOT_WAIT_MAX_MS while its queue waits (few slots, long
 * answers, a burst) is judged stalled too. Nothing cheaper tells them apart: a call is cut at
 * its answer wait, so none is ever seen in flight longer than that, and waiting for the answer
 * wait (50 s for the External Payment Service) is the cost the breaker is there to cut. The
 * bound is to be set above the slowest normal answer of a bureau with few slots (README).
 */
static void slot_stall(pl_engine *e, slot *s, double since, double now)
{
    bool was = s->stalled, again = s->unanswered;
    if (!was) {
        s->stalled = true;
        /* The clock it was judged by (slot_judged_at): its last answer, or its first call
         * since the last idle end, not an answer from before a quiet period. */
        s->busy_since = since;
        s->refused = 0;
        e->n_stalled++;
        pl_gauge_set(s->m_stalled, 1);
    }
    if (!again) {
        s->unanswered = true;
        e->n_unanswered++;
    }
    size_t refused = 0, recording = 0, kept = 0;
    job *prev = NULL;
    for (job *n = s->qhead; n;) {
        job *next = n->qnext;
        if (!n->leaving && breaker_exempt(n)) {
            /* Waits on, in its place (an unrecorded one is recorded in time by record_overdue
             * and queues again, as any). */
            kept++;
            prev = n;
            n = next;
            continue;
        }
        slot_unlink(e, s, prev, n);
        if (n->leaving) {
            job_leave(n);
        } else if (n->unrecorded) {
            /* Answered on its row, like every request (a redelivery then replays the answer):
             * recorded now, and refused at its slot (slot_take) unless one is free by then. */
            n->unrecorded = false;
            e->n_unrecorded--;
            recording++;
            start_record(n);
        } else {
            slot_refuse(n, s, now);
            refused++;
        }
        n = next;
    }
    if (!was && !again)
        PL_WARN(NULL,
                "bureau %s stalled: no free connection slot for %.0f s and none of its %d call(s) "
                "in flight answered (PAYLINK_SLOT_WAIT_MAX_MS): %zu request(s) waiting for a slot "
                "answered error, not sent (%zu more once recorded; %zu exempt left waiting); until "
                "it answers, a request for it that finds no free slot is answered so",
                s->code, now - since, s->active, refused, recording, kept);
    else if (!was)
        PL_INFO(NULL,
                "bureau %s stalled again, with no answer since it last stalled nor for %.0f s "
                "since its first call after: %zu request(s) waiting for a slot answered error, "
                "not sent (%zu more once recorded; %zu exempt left waiting)",
                s->code, now - since, refused, recording, kept);
}

/*
 * Once a loop turn, and only while some request waits for a slot: stalls each bureau whose
 * first waiting request has waited PAYLINK_SLOT_WAIT_MAX_MS with no answer from the bureau
 * meanwhile (slot_stall), the clock started afresh when its queue formed (slot_enqueue), or,
 * while it has not answered since it last stalled, at its first call since (slot_judged_at). The
 * first has waited longest: the queue is in the order requests joined it (one recorded by
 * record_overdue comes back behind, counting from then). A bureau already stalled is not judged
 * again: what waits for it then is exempt (spec->breaker_exempt), and waits.
 */
static void slot_check_stalls(pl_engine *e, double now)
{
    if (e->n_queued == 0 || e->cfg.slot_wait_max_ms <= 0 || stop_asked(e))
        return;
    double wait_s = e->cfg.slot_wait_max_ms / 1000.0;
    for (size_t i = 0; i < e->nslots; i++) {
        slot *s = &e->slots[i];
        if (!s->qhead || s->stalled)
            continue;
        /* Unanswered since it last stalled: judged from its first call since (slot_judged_at),
         * not from when this queue formed (slot_enqueue). */
        double since = s->unanswered                         ? slot_judged_at(s)
                       : s->qhead->t_queued > s->answered_at ? s->qhead->t_queued
                                                             : s->answered_at;
        if (now - since < wait_s)
            continue;
        if (s->active < slot_cap(s->qhead)) {
            /* A slot to be had (a cap raised: refresh_take lets them go at once): not stalled. */
            slot_start_queued(e, s);
            continue;
        }
        slot_stall(e, s, since, now);
    }
}

/*
 * A call of job j's bureau that holds a slot got an answer its adapter read: the bureau answers.
 * Kept (when some request waits for a slot or a bureau is stalled: otherwise nothing reads it,
 * and the loop's common path pays nothing), and the bureau's stall, if any, is over. The
 * getToken before a request's call (tokenize), which holds a slot too, does not count
 * (on_tokenized never calls this): when only the bureau's payment calls hang, its getToken
 * answers refreshed the clock and ended the stall, and the breaker never held.
 */
static void slot_answered(job *j)
{
    pl_engine *e = j->pub.eng;
    if ((e->n_queued == 0 && e->n_unanswered == 0) || !j->slot_held)
        return;
    slot *s = slot_for(e, j->pub.svc->code);
    s->answered_at = now_s();
    if (!s->unanswered)
        return;
    s->unanswered = false;
    s->probe_at = 0;
    e->n_unanswered--;
    if (s->stalled)
        slot_unstall(e, s, s->answered_at, "answers again");
    else
        PL_WARN(NULL, "bureau %s answers again: its first answer since it stalled", s->code);
}

/* The answer wait of one call: Response time, × Response check frequency for the External
 * Payment Service (seed: Response time is its connection wait, the product its answer wait). */
static long answer_wait_ms(const pl_service *svc)
{
    long timeout = svc->response_time_ms;
    if (strcmp(svc->protocol, "EXT") == 0)
        timeout *= svc->response_check_frequency > 0 ? svc->response_check_frequency : 1;
    return timeout;
}

/* The connection wait of a call to svc (pl_http_call.connect_timeout_ms): Response time for
 * the External Payment Service (seed), 10 s for the others; http.c caps it at the answer wait. */
static long connect_wait_ms(const pl_service *svc)
{
    return strcmp(svc->protocol, "EXT") == 0 ? svc->response_time_ms : 10000L;
}

/*
 * The longest one call to svc may take before its outcome is known or unknown: each connection
 * attempt that fails before the request left may take its connection wait (at most the answer
 * wait) and is tried again, up to auth_service.connect_attempts, and the last one its whole
 * answer wait (http.c). An OAuth token call (oauth.c: the answer wait, http.c's 10 s connection
 * wait) takes no longer.
 */
static long call_wait_ms(const pl_service *svc)
{
    long answer = answer_wait_ms(svc);
    long connect = connect_wait_ms(svc);
    if (connect < 10000L)
        connect = 10000L; /* (a token call's) */
    if (connect > answer)
        connect = answer;
    long attempts = svc->connect_attempts > 1 ? svc->connect_attempts : 1;
    return (attempts - 1) * connect + answer;
}

/* Posts j->msg to the bureau (the service bureau's URL, + "/" + the message's endpoint), as
 * the configuration has it now (svc_now). */
static int submit_msg(job *j, pl_http_cb cb)
{
    pl_engine *e = j->pub.eng;
    const pl_service *svc = svc_now(j);
    char url[sizeof svc->url + sizeof j->msg->url_suffix + 1];
    size_t n = strlen(svc->url);
    if (j->msg->url_suffix[0])
        snprintf(url, sizeof url, "%s%s%s", svc->url, n && svc->url[n - 1] == '/' ? "" : "/",
                 j->msg->url_suffix);
    else
        copy_str(url, sizeof url, svc->url);
    const char *auth = j->bearer && j->bearer[0] ? j->bearer
                       : j->msg->auth_header[0]  ? j->msg->auth_header
                                                 : NULL;
    pl_http_call c = {.url = url,
                      .body = j->msg->body,
                      .body_len = j->msg->body_len,
                      .content_type = j->msg->content_type,
                      .soap_action = j->msg->soap_action,
                      .auth_header = auth,
                      .extra_header = j->msg->extra_header[0] ? j->msg->extra_header : NULL,
                      .proxy = svc->proxy,
                      .timeout_ms = answer_wait_ms(svc),
                      .connect_timeout_ms = connect_wait_ms(svc),
                      .connect_attempts = svc->connect_attempts,
                      .max_idle_s = svc->connection_idle_s};
    message_log(j, "request", j->msg->body, j->msg->body_len);
    j->answer_ms = c.timeout_ms;
    j->t_call = now_s();
    j->calls++;
    return pl_http_submit(e->http, &c, cb, j);
}

static void give_back(job *j, const char *what);

/*
 * A bureau call about to start after a wait of its own — for its bureau's access token
 * (on_token), or to be sent again with a new one after a 401 (resend_after_401) — while a stop
 * is asked (stop_asked) or its partition is being left (partition_leaving): as for every other
 * place a call starts (slot_take, slot_start_queued, record_sent, next_call), it does not
 * start, for the drain's deadline could cut it short and leave its outcome unknown (a hold no
 * row knows of: its row 'sent', a required response for an operator) where nothing has been
 * done yet (a 401 says the bureau did not process the request). The request is given back for
 * redelivery instead: a getToken, made before the mark, is simply not made (its row is still
 * 'received'); a call's row, marked 'sent' by this attempt, is put back to 'received' first
 * (give_back, PL_ENGINE_SQL_UNMARK: its own mark only), so the redelivery sends it from the
 * start rather than wait for this owner and make it a required response. So too a row whose
 * mark claimed something besides itself (a capture's or a reversal's amount on its
 * authorization, a stored value card's activation): the unmark releases exactly that claim in
 * the same statement (the tables' unmark triggers, 078), only while the row is still this
 * attempt's 'sent'. Returns true when the job was given back. Before, these two waits were the
 * only ones that sent whatever: a 401 at a SIGTERM, its new token fetched, was sent again with
 * its whole answer wait ahead of it, and the drain gave up on it with its row 'sent'; and until
 * 078 a call whose mark may have claimed something (spec->touch_key named a row) was still sent
 * so, for the unmark left its claim to no row.
 */
static bool held_back(job *j, const char *what)
{
    pl_engine *e = j->pub.eng;
    if (!stop_asked(e) && !partition_leaving(j))
        return false;
    if (j->tokenizing) {
        PL_INFO(j->pub.req.request_id, "%s: getToken not sent: %s; left for redelivery",
                j->pub.svc->code, stop_asked(e) ? "stopping" : "its partition is being left");
        j->tokenizing = false;
        slot_release(j);
        if (stop_asked(e))
            job_abandon(j);
        else
            job_leave(j);
        return true;
    }
    give_back(j, what);
    return true;
}

static void with_token(job *j, void (*then)(job *));
static void token_wait_given_back(job *j);
static bool on_partitions(const job *j, const rd_kafka_topic_partition_list_t *parts);

/*
 * The most access tokens a call fetches again (on_token) because a refresh changed the OAuth
 * client it goes by while one was fetched. Each needs a refresh during a token request, two for
 * a client to change back: a configuration going back and forth at every refresh is sent
 * nothing rather than asked for tokens without end.
 */
#define TOKEN_REFETCH_MAX 2

/* The OAuth client of settings svc, "client id@token URL", into out (size outsz): what
 * same_oauth_client compares, as text (a client a token was asked of, kept past its settings). */
static void oauth_client_of(const pl_service *svc, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s@%s", svc->ext_auth_user, svc->ext_token_url);
}

/* The OAuth client job j's bearer token was asked of (with_token): after token_key. */
static char *token_client(job *j)
{
    return j->token_key + OAUTH_KEY_MAX;
}

static void on_token(void *arg, const char *header, unsigned gen, const char *error, bool cancelled)
{
    job *j = arg;
    j->oauth_waiting = false;
    if (cancelled) {
        /* Only at teardown (the HTTP client or the token cache destroyed), when the database
         * units no longer run: nothing can be put back (give_back). A stop gives every token
         * wait back at its start, while they still run, and starts none after
         * (token_waits_given_back, with_token): none should be left here. One that is leaves
         * its row 'sent', said. */
        if (!j->tokenizing)
            PL_WARN(j->pub.req.request_id,
                    "bureau %s: its access token wait was cancelled at teardown: its row is left "
                    "'sent' (nothing sent), a redelivery makes it a required response once this "
                    "owner is presumed gone",
                    j->pub.svc->code);
        job_abandon(j);
        return;
    }
    if (header && held_back(j, "the call (its access token just came)"))
        return;
    if (!header) {
        /* Nothing was sent to the bureau: as if it could not be reached. */
        PL_WARN(j->pub.req.request_id, "bureau %s: no access token: %s", j->pub.svc->code, error);
        slot_release(j);
        char why[300];
        snprintf(why, sizeof why, "no OAuth access token: %s", error ? error : "unknown error");
        finish_error(j, why, false);
        return;
    }
    /* A refresh while the token was fetched may have changed the OAuth client the call goes by
     * (svc_now, as submit_msg will have it): a first one gave the merchant another client, B, the
     * merchant ID the same (the token asked of B under the bureau code), a second one renumbered
     * the merchant under B and so put the call back on the settings it arrived with, A
     * (merchant_moved); or the other way round. Sent, the call carried B's token to A's URL with
     * A's merchant ID. A token of the current client is fetched instead; past TOKEN_REFETCH_MAX
     * the call is not sent. (Not a getToken whose bureau became unusable: tokenize_go answers
     * it, with no token request to a bureau switched off.) */
    char now[OAUTH_KEY_MAX];
    oauth_client_of(svc_now(j), now, sizeof now);
    if (j->token_key && strcmp(now, token_client(j)) != 0 &&
        !(j->tokenizing && svc_unusable_now(j))) {
        if (j->token_refetches >= TOKEN_REFETCH_MAX) {
            PL_WARN(j->pub.req.request_id,
                    "bureau %s: not sent: its OAuth client changed at configuration refreshes "
                    "while each of %d access tokens was fetched",
                    j->pub.svc->code, j->token_refetches + 1);
            j->tokenizing = false;
            slot_release(j);
            finish_error(j, "the OAuth client changed while each access token was fetched", true);
            return;
        }
        j->token_refetches++;
        PL_INFO(j->pub.req.request_id,
                "bureau %s: its OAuth client changed while its access token was fetched: "
                "fetching one of the current client",
                j->pub.svc->code);
        with_token(j, j->after_token);
        return;
    }
    copy_str(j->bearer, BEARER_MAX, header);
    j->token_gen = gen;
    j->after_token(j);
}

/*
 * The access token cache key of job j's calls under its bureau's settings svc (svc_now): the
 * bureau code when they are the current configuration's or ask for a token as they do (the same
 * token URL, client and password); else the code, client id and token URL. A job that goes by
 * the settings it arrived with (its merchant moved to another client: merchant_moved) asks for
 * its token apart: under the bureau code, each of its token requests threw away the token of the
 * current client (oauth.h: a get with other settings drops the cached token), and the current
 * one's its. Points at key (size keysz) or at svc's code. with_token keeps it (job token_key)
 * for the 401 that may drop it.
 */
static const char *oauth_key(const job *j, const pl_service *svc, char *key, size_t keysz)
{
    const pl_engine *e = j->pub.eng;
    const pl_service *cur = svc_current(e, svc->code);
    if (cur == svc || (cur && same_oauth_client(cur, svc) && strcmp(cur->secret, svc->secret) == 0))
        return svc->code;
    snprintf(key, keysz, "%s %s@%s", svc->code, svc->ext_auth_user, svc->ext_token_url);
    return key;
}

/*
 * Runs then(j) once the job has the bureau's bearer token in j->bearer (bureaus with
 * PL_BUREAU_OAUTH; others at once): from the cache, or when the token request answers. A
 * bureau without a usable token never gets the request: `error` with its outage code.
 */
static void with_token(job *j, void (*then)(job *))
{
    pl_engine *e = j->pub.eng;
    const pl_service *svc = svc_now(j);
    if (!(j->ops->flags & PL_BUREAU_OAUTH)) {
        then(j);
        return;
    }
    /* A call on an earlier transaction going by a client no configuration shows with its
     * merchant ID (merchant_foreign): said once, so that an operator reads why the bureau
     * refuses it. */
    if (!j->foreign_said && merchant_foreign(j, svc)) {
        j->foreign_said = true;
        PL_WARN(j->pub.req.request_id,
                "bureau %s: merchant ID %s, of the transaction this call follows, is not one the "
                "OAuth client it goes by (%s) is configured with; sent as it is (the bureau may "
                "refuse it: a merchant ID changed with its client, going live?)",
                svc->code, j->pub.merchant_id, svc->ext_auth_user);
    }
    /* Only jobs of such bureaus hold a bearer header and its key: 2.5 KiB a job in flight
     * otherwise. */
    if ((!j->bearer && !(j->bearer = calloc(1, BEARER_MAX))) ||
        (!j->token_key && !(j->token_key = calloc(2, OAUTH_KEY_MAX)))) {
        slot_release(j);
        finish_error(j, "out of memory for the OAuth access token", true);
        return;
    }
    const char *key = oauth_key(j, svc, j->token_key, OAUTH_KEY_MAX);
    if (key != j->token_key)
        copy_str(j->token_key, OAUTH_KEY_MAX, key);
    oauth_client_of(svc, token_client(j), OAUTH_KEY_MAX);
    pl_oauth_client cl = {.key = j->token_key,
                          .token_url = svc->ext_token_url,
                          .client_id = svc->ext_auth_user,
                          .secret = svc->secret,
                          .proxy = svc->proxy,
                          .timeout_ms = answer_wait_ms(svc),
                          .connect_attempts = svc->connect_attempts,
                          .max_idle_s = svc->connection_idle_s};
    j->after_token = then;
    int rc = pl_oauth_get(e->oauth, &cl, on_token, j, j->bearer, BEARER_MAX, &j->token_gen);
    if (rc == 1) {
        then(j);
        return;
    }
    if (rc == 0) {
        j->oauth_waiting = true;
        /* A call marked while a stop was asked or its partition was left (on_marked, its mark
         * sent before) and waiting for its token: it would only wait to be given back once the
         * token came (held_back), or be cut off at teardown with its row 'sent' (on_token).
         * (With its token at hand, or none needed, such a call goes: it was marked first.) */
        if (stop_asked(e) || partition_leaving(j))
            token_wait_given_back(j);
        return;
    }
    slot_release(j);
    finish_error(j, "an OAuth access token could not be requested", true);
}

/*
 * A job waiting for its bureau's access token (with_token) when a stop is asked or its
 * partition is being left: its call could not start once the token came (held_back), so it is
 * given back now, while the database units still run — a call's row, 'sent' by this attempt,
 * back to 'received' with what its mark claimed (give_back, pl_unmark), a getToken's simply
 * not made. Before, it waited for its token through the drain, and one still waiting at
 * teardown had its wait cancelled (on_token) and was abandoned with its row 'sent': the
 * redelivery waited for this owner and made a call never sent a required response.
 */
static void token_wait_given_back(job *j)
{
    pl_oauth_cancel(j->pub.eng->oauth, j);
    j->oauth_waiting = false;
    if (!held_back(j, "the call (waiting for its access token)"))
        with_token(j, j->after_token); /* (neither after all: it waits again) */
}

/* token_wait_given_back for every job waiting for an access token, of partitions `parts`
 * (NULL: all): at a stop's start, and when partitions are left. */
static void token_waits_given_back(pl_engine *e, const rd_kafka_topic_partition_list_t *parts)
{
    /* Looked for anew after each: a getToken given up (job_leave) frees its job and may admit
     * the redeliveries parked behind it. Each one given back waits no more, so this ends. */
    for (;;) {
        job *j = e->live;
        while (j && !(j->oauth_waiting && (!parts || on_partitions(j, parts)) &&
                      (stop_asked(e) || partition_leaving(j))))
            j = j->next;
        if (!j)
            return;
        token_wait_given_back(j);
    }
}

static void call_go(job *j)
{
    j->state = JS_CALLING;
    if (submit_msg(j, on_http) != 0) {
        /* Nothing left the process. */
        slot_release(j);
        finish_error(j, "could not start the bureau call", true);
    }
}

static void call_start(job *j)
{
    j->state = JS_CALLING;
    j->reauthed = false;
    j->token_refetches = 0;
    with_token(j, call_go);
}

/*
 * An HTTP 401 from a bureau with PL_BUREAU_OAUTH: the access token was not accepted and the
 * request was not processed (the bureau's contract, schema/ext/README.md). The first 401 of a
 * call drops that token, gets a new one and sends the same bytes once more; returns true when it
 * did. A second 401 is the bureau refusing paylink's credentials.
 */
static bool resend_after_401(job *j, const pl_http_response *r, void (*go)(job *))
{
    if (!(j->ops->flags & PL_BUREAU_OAUTH) || r->outcome != PL_HTTP_OK || r->status != 401 ||
        j->reauthed)
        return false;
    /* The entry its token came from (with_token), whatever a refresh since would name. */
    if (j->token_key)
        pl_oauth_invalidate(j->pub.eng->oauth, j->token_key, j->token_gen);
    if (j->bearer)
        pl_card_wipe(j->bearer, BEARER_MAX);
    /* (Not processed: given back when no call may start now, held_back.) */
    if (held_back(j, "the call again after a 401 (not processed)"))
        return true;
    PL_INFO(j->pub.req.request_id, "bureau %s answered 401: new access token, sending again",
            j->pub.svc->code);
    j->reauthed = true;
    with_token(j, go);
    return true;
}

/* ---- getToken before the call (PL_BUREAU_TOKENS_ONLY) ---- */

/* The card number a call of this job would carry, or NULL. */
static const char *call_card_number(const job *j)
{
    const pl_bureau_call *c = &j->pub.call;
    if (c->op >= PL_OP_SVC_GENERATE)
        return c->svc_card_number && *c->svc_card_number ? c->svc_card_number : NULL;
    if (c->card_token && *c->card_token)
        return NULL;
    if (j->pub.req.card.token[0])
        return NULL;
    return j->pub.req.card.number[0] ? j->pub.req.card.number : NULL;
}

static bool needs_tokenizing(const job *j)
{
    return (j->ops->flags & PL_BUREAU_TOKENS_ONLY) && j->pub.call.op != PL_OP_TOKEN &&
           j->pub.call.op != PL_OP_SVC_GENERATE && !j->pub.card_token[0] && call_card_number(j);
}

static void on_tokenized(void *arg, const pl_http_response *r);

/* Builds the bytes of the job's call (j->pub.call) and sends it on its way: a bureau slot (the
 * one its getToken held, if it made one), the mark, the call. A message that cannot be built is
 * an `error`; nothing was sent. */
static void build_and_send(job *j)
{
    char err[256] = "";
    if (!build_msg(j, err, sizeof err)) {
        slot_release(j);
        finish_error(j, UNBUILT(err), true);
        return;
    }
    slot_take(j);
}

static void tokenize_go(job *j)
{
    /* Its bureau made unusable by a refresh while its getToken waited for an access token (or
     * for a new one after a 401): answered, nothing sent (its row is 'received'). */
    if (refuse_if_unusable(j))
        return;
    if (submit_msg(j, on_tokenized) != 0) {
        slot_release(j);
        finish_error(j, "could not start the getToken call", true);
    }
}

/*
 * The getToken call a bureau that takes tokens only needs before a request that carries a card
 * number, made on the bureau slot the request has taken (slot_go): it is a call to the bureau
 * like any, within its max_concurrent, and one that hangs holds that slot as a payment call
 * would, so getTokens that hang form the bureau's queue and stall it (slot_stall) instead of
 * holding the worker's requests in flight unseen until each answer wait passes. Its answer is
 * still no answer of the bureau's (on_tokenized: no slot_answered). The request keeps the slot
 * for its own call (slot_take): it never waits twice nor loses its place. It moves no money, so
 * it is made before the row is marked sent; whatever becomes of it, nothing has been charged.
 */
static void tokenize(job *j)
{
    char err[256] = "";
    pl_bureau_call c = j->pub.call;
    c.op = PL_OP_TOKEN;
    if (c.svc_card_number && *c.svc_card_number) /* a stored value card */
        c.card_token = NULL;
    pl_bureau_msg_free(j->msg);
    int rc = j->ops->build(&j->cfg, &c, job_msg(j), err, sizeof err);
    if (rc != 0) {
        PL_ERROR(j->pub.req.request_id, "cannot build the getToken request: %s",
                 err[0] ? err : pl_err_str(rc));
        slot_release(j);
        finish_error(j, err[0] ? err : "the getToken request could not be built", true);
        return;
    }
    copy_str(j->pub.op_name, sizeof j->pub.op_name, pl_bureau_op_name(PL_OP_TOKEN));
    PL_INFO(j->pub.req.request_id, "%s: getToken before %s", j->pub.svc->code,
            pl_bureau_op_name(j->pub.call.op));
    j->tokenizing = true;
    j->reauthed = false;
    j->token_refetches = 0;
    j->state = JS_CALLING;
    with_token(j, tokenize_go);
}

static void on_tokenized(void *arg, const pl_http_response *r)
{
    job *j = arg;
    pl_engine *e = j->pub.eng;
    pl_histogram_observe(e->m_bureau, now_s() - j->t_call);
    if (r->outcome == PL_HTTP_CANCELLED) {
        slot_release(j);
        job_abandon(j);
        return;
    }
    if (resend_after_401(j, r, tokenize_go))
        return;
    j->tokenizing = false;
    char detail[320];
    if (r->outcome != PL_HTTP_OK) {
        /* (A getToken that timed out frees its slot without an answer, as a call does.) */
        slot_release(j);
        snprintf(detail, sizeof detail, "getToken: %s", r->error);
        PL_WARN(j->pub.req.request_id, "bureau %s: %s", j->pub.svc->code, detail);
        finish_error(j, detail, false);
        return;
    }
    message_log(j, "response", r->body, r->body_len);
    if (r->status == 401) {
        slot_release(j);
        finish_error(j, "getToken: the bureau refused paylink's access token twice (HTTP 401)",
                     false);
        return;
    }
    char err[256];
    pl_bureau_call c = j->pub.call;
    c.op = PL_OP_TOKEN;
    job_res(j);
    int rc =
        j->ops->parse(&j->cfg, &c, r->status, r->body, r->body_len, j->pub.res, err, sizeof err);
    if (rc != 0) {
        slot_release(j);
        snprintf(detail, sizeof detail, "getToken: HTTP %ld: %s", r->status, err);
        PL_WARN(j->pub.req.request_id, "bureau %s: %s", j->pub.svc->code, detail);
        finish_error(j, detail, false);
        return;
    }
    /* No slot_answered: a getToken's answer says nothing of the bureau's payment calls. When
     * only those hang, getToken answers refreshed the breaker's clock and ended the stall, and
     * it never held (slot_answered). */
    if (strcmp(j->pub.res->decision, "ACCEPT") != 0 || !j->pub.res->token[0]) {
        slot_release(j);
        /* The bureau refused the card: the request's answer, nothing charged. */
        pl_reply *rep = job_reply_clear(j);
        pl_job_map_answer(&j->pub);
        if (rep->status == PL_ST_APPROVED) /* ACCEPT without a token */
            rep->status = PL_ST_ERROR;
        PL_INFO(j->pub.req.request_id, "%s getToken: %s %s (%s)", j->pub.svc->code,
                pl_status_name(rep->status), j->pub.res->reason_code, j->pub.res->decision);
        finish_final(j, "getToken refused the card");
        return;
    }
    copy_str(j->pub.card_token, sizeof j->pub.card_token, j->pub.res->token);
    /* The request's own answer is still to come; until then the job carries none. Its call
     * goes on the slot its getToken held (build_and_send, slot_take). */
    job_res_drop(j);
    j->pub.call.card_token = j->pub.card_token;
    copy_str(j->pub.op_name, sizeof j->pub.op_name, pl_bureau_op_name(j->pub.call.op));
    build_and_send(j);
}

/* After give_back's unit: the job is given up whatever came of it (job_leave). */
static void on_given_back(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    const char *id = j->pub.req.request_id;
    if (err && err != PL_ERR_STATE)
        PL_WARN(id,
                "its row could not be put back to 'received' (%s): left 'sent', a redelivery "
                "makes it a required response once this owner is presumed gone",
                errmsg);
    else if (!err && pl_db_unit_ntuples(u, 0) == 0)
        PL_INFO(id, "its row was no longer this attempt's 'sent' row: answered from the row by "
                    "the redelivery");
    job_leave(j);
}

/*
 * No next call while the worker stops or gives up the job's partition (engine.h, next_call):
 * sent now, the drain's deadline could cut it short, leaving an outcome unknown (a hold no row
 * knows of) where there need be none. The calls made so far have no effect, so the job is given
 * up as one waiting for its first call is (slot_take), its offset left for redelivery — but its
 * row is 'sent' (by the previous call), which a redelivery would wait on and then make a
 * required response: it is put back to 'received' first (PL_ENGINE_SQL_UNMARK, this attempt's
 * own mark only, with what that mark claimed: 078), durably, and the redelivery runs the
 * request again from its first call. So too a call that waited for its access token, or was
 * answered 401, when no call may start any more (held_back). what: which call, for the log.
 */
static void give_back(job *j, const char *what)
{
    pl_engine *e = j->pub.eng;
    PL_INFO(j->pub.req.request_id,
            "%s %s: %s not sent: %s; its row goes back to 'received' for the redelivery",
            j->pub.svc->code, pl_bureau_op_name(j->pub.call.op), what,
            stop_asked(e) ? "stopping"
            : j->leaving  ? "its partition was revoked"
                          : "its partition's assignment was lost");
    slot_release(j);
    const char *p[] = {j->pub.req.request_id, j->pub.attempt};
    pl_db_unit *u = job_unit_new(j, on_given_back);
    j->state = JS_UNMARKING;
    submit_or_die(e, u, u ? pl_db_unit_add(u, "pl_unmark", 2, p) : PL_ERR_NOMEM);
}

/*
 * The job's next bureau call (spec->next_call asked for it after an answer). The job keeps its
 * bureau slot: its row is 'sent' (by the previous call) and must not wait in the slot queue,
 * where a redelivery would see it idle. The row is marked sent again under a fresh attempt that
 * takes over only this job's own mark (job->prev_attempt), durably, before the bytes leave.
 * None starts during a stop, a stop asked during a revoke drain (stop_asked), or for a
 * partition being left (give_back): revoked, or its assignment lost with the revoke not served
 * yet (partition_leaving; the next owner may be running the request already).
 */
static void next_call(job *j)
{
    if (stop_asked(j->pub.eng) || partition_leaving(j)) {
        give_back(j, "next call");
        return;
    }
    char err[256] = "";
    int rc = j->calls < PL_ENGINE_MAX_CALLS ? 0 : PL_ERR_INVALID;
    if (rc != 0)
        snprintf(err, sizeof err, "more than %d bureau calls for one request", PL_ENGINE_MAX_CALLS);
    copy_str(j->pub.op_name, sizeof j->pub.op_name, pl_bureau_op_name(j->pub.call.op));
    pl_bureau_msg_free(j->msg);
    if (rc == 0)
        rc = j->ops->build(&j->cfg, &j->pub.call, job_msg(j), err, sizeof err);
    if (rc != 0) {
        /* Nothing of this call left: `error`, as for a first call that cannot be built (a
         * spec asks for a next call only after calls such an answer does not hide: engine.h). */
        PL_ERROR(j->pub.req.request_id, "cannot build the next bureau request (%s): %s",
                 j->pub.op_name, err[0] ? err : pl_err_str(rc));
        slot_release(j);
        finish_error(j, err[0] ? err : "the next bureau request could not be built", true);
        return;
    }
    PL_INFO(j->pub.req.request_id, "%s: next call %s", j->pub.svc->code, j->pub.op_name);
    copy_str(j->pub.prev_attempt, sizeof j->pub.prev_attempt, j->pub.attempt);
    mark_sent(j);
}

/*
 * An answer approving more than was sent — an authorization, a capture or a credit, a stored
 * value card loaded, charged or refunded for more than the call's amount — is not one paylink
 * can record: the order would be told of money nobody asked for, and a deposit could draw on
 * it. True, with why in detail, for such a reply; its outcome is then left unknown, as an
 * unreadable answer's (the bureau acted, on what is not known). Reversals and voids release
 * what the authorization holds, which may be more than a request names (a Void of a stored
 * value authorization paylink does not hold): not checked.
 */
static bool approves_more_than_sent(pl_bureau_op op, const pl_reply *rep, int64_t sent,
                                    long http_status, char *detail, size_t detail_size)
{
    switch (op) {
    case PL_OP_AUTH_REVERSAL:
    case PL_OP_SVC_VOID:
    case PL_OP_TOKEN:
    case PL_OP_SVC_GENERATE:
    case PL_OP_SVC_INQUIRY:
        return false;
    default:
        break;
    }
    /* Every operation checked sends the request's amount, which its type requires: 0 is a
     * 0.00 request (a card verification), of which nothing more may be approved. */
    if (!rep->has_amount_approved || sent < 0 || rep->amount_approved <= sent)
        return false;
    char got[32], asked[32];
    if (pl_money_format(rep->amount_approved, got, sizeof got) != 0 ||
        pl_money_format(sent, asked, sizeof asked) != 0)
        got[0] = asked[0] = '\0';
    snprintf(detail, detail_size, "HTTP %ld: the answer approves %s, more than the %s sent",
             http_status, got, asked);
    return true;
}

static void on_http(void *arg, const pl_http_response *r)
{
    job *j = arg;
    pl_engine *e = j->pub.eng;
    const pl_service *svc = j->pub.svc;
    /* Not processed (401, a bureau with OAuth): the same call again with a new token, once. */
    if (resend_after_401(j, r, call_go))
        return;
    /* An answer may call for a next call on the same job, which keeps the slot (next_call). */
    if (r->outcome != PL_HTTP_OK)
        slot_release(j);
    if (r->outcome == PL_HTTP_OK && r->status == 401 && (j->ops->flags & PL_BUREAU_OAUTH)) {
        /* A 401 again, with a new token: still not processed (nothing to ask about later). */
        slot_release(j);
        message_log(j, "response", r->body, r->body_len);
        PL_WARN(j->pub.req.request_id, "bureau %s refused the new access token too (HTTP 401)",
                svc->code);
        finish_error(j, "the bureau refused paylink's access token twice (HTTP 401)", false);
        return;
    }
    pl_histogram_observe(e->m_bureau, now_s() - j->t_call);
    if (r->attempts > 1)
        pl_counter_add(e->m_retries, (uint64_t)(r->attempts - 1));
    switch (r->outcome) {
    case PL_HTTP_CANCELLED:
        job_abandon(j);
        return;
    case PL_HTTP_NOT_SENT: {
        /* seed: connection attempts exhausted → 150; the bureau never saw the request. */
        char detail[300];
        snprintf(detail, sizeof detail, "no connection after %d attempts: %s", r->attempts,
                 r->error);
        PL_WARN(j->pub.req.request_id, "bureau %s unreachable: %s", svc->code, detail);
        finish_error(j, detail, false);
        return;
    }
    case PL_HTTP_TIMEOUT:
        finish_unknown(j, "timeout", r->error, PL_ST_TIMEOUT, NULL);
        return;
    case PL_HTTP_CONN_LOST:
        finish_unknown(j, "connection_lost", r->error, PL_ST_TIMEOUT, NULL);
        return;
    case PL_HTTP_OK:
        break;
    }
    message_log(j, "response", r->body, r->body_len);
    char err[256];
    job_res(j);
    int rc = j->ops->parse(&j->cfg, &j->pub.call, r->status, r->body, r->body_len, j->pub.res, err,
                           sizeof err);
    if (rc != 0) {
        slot_release(j);
        char detail[320];
        snprintf(detail, sizeof detail, "HTTP %ld: %s", r->status, err);
        finish_unknown_as(j, "unreadable_answer", detail, PL_ST_ERROR, j->pub.res->capture_approved,
                          NULL);
        return;
    }
    slot_answered(j); /* (before a next call or the release lets a waiting request go) */
    if (j->pub.res->outcome_unknown) {
        /* An answer that cannot say whether the bureau acted (bureau.h): as unreadable. */
        slot_release(j);
        char detail[400];
        const pl_bureau_result *res = j->pub.res;
        if (res->fault_code[0])
            snprintf(detail, sizeof detail, "HTTP %ld: SOAP fault %s: %s", r->status,
                     res->fault_code, res->fault_string);
        else
            snprintf(detail, sizeof detail,
                     "HTTP %ld: decision %s, reason %s: received by the bureau, which may have "
                     "acted",
                     r->status, res->decision, res->reason_code);
        finish_unknown(j, "bureau_fault", detail, PL_ST_ERROR, NULL);
        return;
    }
    job_reply_clear(j);
    e->spec->map(&j->pub);
    /* A generated card number lives no longer than the mapping (the spec took what it needs). */
    pl_card_wipe(j->pub.res->svc_card_number, sizeof j->pub.res->svc_card_number);
    char too_much[200];
    if (approves_more_than_sent(j->pub.call.op, job_reply(j), j->pub.call.amount, r->status,
                                too_much, sizeof too_much)) {
        slot_release(j);
        finish_unknown(j, "unreadable_answer", too_much, PL_ST_ERROR, NULL);
        return;
    }
    PL_INFO(j->pub.req.request_id, "%s %s: %s %s (%s)", svc->code, j->pub.op_name,
            pl_status_name(j->pub.reply->status), j->pub.res->reason_code, j->pub.res->decision);
    int next = e->spec->next_call ? e->spec->next_call(&j->pub) : 0;
    if (next == 1) {
        next_call(j);
        return;
    }
    slot_release(j);
    if (next < 0) {
        PL_ERROR(j->pub.req.request_id, "the next bureau call could not be prepared");
        finish_error(j, "the next bureau call could not be prepared; nothing more was sent", true);
        return;
    }
    json_object *reply = NULL;
    if (render_reply_obj(j, &reply) != 0) {
        PL_ERROR(j->pub.req.request_id, "out of memory; exiting");
        exit(70);
    }
    /* The follow-up messages are decided now and stored with the answer (008_followups.sql),
     * from the reply as rendered (not parsed back from its text). */
    followups(j, reply);
    json_object_put(reply);
    char *fu = followups_json(j);
    pl_db_unit *u = job_unit_new(j, on_stored);
    j->outcome = pl_status_name(job_reply(j)->status);
    j->state = JS_STORING;
    rc = u ? e->spec->store(&j->pub, u) : PL_ERR_NOMEM;
    /* Only with the reply this job stored: a row another actor answered keeps its own. None
     * decided adds nothing here: a statement more would keep the unit from being merged with
     * others (db.h, "NAME:many"); the spec's store may record that none were ('[]', as
     * paylink-auth's does), and a row without follow-ups is replayed with none (replay). */
    if (rc == 0 && fu) {
        const char *p[] = {j->pub.req.request_id, fu, j->pub.reply_json};
        rc = pl_db_unit_add(u, "pl_followups", 3, p);
    }
    /* (A late answer to a row another actor made 'unknown' closes its required response:
     * the 012_late_answers.sql trigger.) */
    free(fu);
    submit_or_die(e, u, rc);
}

static void on_marked(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    if (err == PL_ERR_STATE) {
        job_abandon(j);
        return;
    }
    if (err) {
        slot_release(j);
        PL_ERROR(j->pub.req.request_id, "marking sent failed: %s", errmsg);
        finish_error(j, "the request could not be marked sent; nothing was sent", true);
        return;
    }
    if (pl_db_unit_ntuples(u, 0) == 0) {
        /* Another consumer marked it first (it owns the call), or what the request draws on
         * changed (a claim failed): never send twice; look at the row again. */
        slot_release(j);
        start_check(j);
        return;
    }
    call_start(j);
}

/*
 * The spec decides the job's call (spec->prepare) from a clean slate (a second round, after a
 * failed claim, starts anew). Returns 0 to call the bureau, 1 when the spec answered without a
 * call, or an error with err set.
 */
static int prepare_call(job *j, const pl_db_unit *recorded, char *err, size_t errsz)
{
    pl_engine *e = j->pub.eng;
    if (e->spec->release)
        e->spec->release(&j->pub);
    else
        free(j->pub.spec_data);
    j->pub.spec_data = NULL;
    pl_bureau_msg_free(j->msg);
    job_reply_clear(j);
    err[0] = '\0';
    int rc = e->spec->prepare(&j->pub, recorded);
    snprintf(j->pub.op_name, sizeof j->pub.op_name, "%s",
             rc == 0 ? pl_bureau_op_name(j->pub.call.op) : "");
    /* Unusable as it arrived, or since (a refresh while it was recorded or waited): `error`,
     * nothing sent (svc_unusable_now). */
    const pl_service *unusable = svc_unusable_now(j);
    if (!unusable && !j->pub.svc->secret_ok)
        unusable = j->pub.svc;
    if (rc == 0 && unusable) {
        unusable_words(unusable, err, errsz);
        rc = PL_ERR_CONFIG;
    }
    if (rc == 0 && j->pub.card_token[0])
        j->pub.call.card_token = j->pub.card_token; /* a second round keeps the token */
    return rc;
}

static void send_request(job *j, const pl_db_unit *recorded)
{
    char err[256];
    int rc = prepare_call(j, recorded, err, sizeof err);
    if (rc == 1) { /* answered without a bureau call */
        finish_final(j, "refused before the bureau call");
        return;
    }
    if (rc != 0) {
        PL_ERROR(j->pub.req.request_id, "cannot build the bureau request: %s",
                 err[0] ? err : pl_err_str(rc));
        finish_error(j, err[0] ? err : "bureau request could not be built", true);
        return;
    }
    if (needs_tokenizing(j)) {
        /* Its getToken first, on a bureau slot like any call (tokenize): it waits for one, is
         * refused while the bureau is stalled and its slots all taken, and is given up during a
         * stop or for a partition being left (slot_take), nothing built before it has one. */
        slot_take(j);
    } else {
        build_and_send(j);
    }
}

/* ---- answering from the row ---- */

/* What the engine's read-back (pl_lookup) says of a request's row. */
typedef struct row_view {
    const char *status, *fingerprint, *reply, *followups;
    double sent_age_s;   /* seconds since it was (last) marked sent; < 0 when never */
    const char *sent_by; /* the send attempt that marked it */
    /* Its reply is the final one of a required response, still held for the resolver to publish
     * (PL_ENGINE_SQL_LOOKUP: reply_pending, while the `timeout` reply it settles is not out). */
    bool reply_pending;
} row_view;

static bool read_row(const PGresult *r, row_view *v)
{
    if (!r || PQntuples(r) != 1)
        return false;
    v->status = PQgetvalue(r, 0, 0);
    v->fingerprint = PQgetvalue(r, 0, 1);
    v->reply = PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2);
    v->followups = PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3);
    v->sent_age_s = PQgetisnull(r, 0, 4) ? -1.0 : strtod(PQgetvalue(r, 0, 4), NULL);
    v->sent_by = PQgetvalue(r, 0, 5);
    v->reply_pending = PQnfields(r) > 6 && PQgetvalue(r, 0, 6)[0] == 't';
    return true;
}

/* True when fp is this request's fingerprint under the current key or an earlier one (a key
 * rotation must not turn redeliveries into idempotency conflicts), at any fingerprint version
 * (a row written before version 2, or by a replica writing version 1 during an upgrade: each
 * version's tag is hashed, so a fingerprint matches only its own version of the request). */
static bool fingerprint_matches(job *j, const char *fp)
{
    if (strcmp(fp, j->pub.fingerprint) == 0)
        return true;
    const pl_config *c = &j->pub.eng->cfg;
    for (int v = 1; v <= PL_FINGERPRINT_VERSION; v++) {
        for (int i = -1; i < c->n_prev_keys; i++) {
            if (i < 0 && v == c->fingerprint_version)
                continue; /* j->pub.fingerprint, compared above */
            const void *key = i < 0 ? (const void *)c->hash_key : c->prev_keys[i];
            size_t len = i < 0 ? c->hash_key_len : c->prev_key_len[i];
            char other[65];
            if (pl_request_fingerprint_v(&j->pub.req, v, key, len, other, sizeof other) == 0 &&
                strcmp(fp, other) == 0)
                return true;
        }
    }
    return false;
}

static void replay(job *j, const char *stored, const char *stored_followups)
{
    pl_engine *e = j->pub.eng;
    char *again = pl_reply_mark_replayed(stored);
    if (!again) {
        j->unknown_tried = true; /* the row is settled: nothing to leave to the resolver */
        job_fail(j, "its stored reply is unreadable", false);
        return;
    }
    PL_INFO(j->pub.req.request_id, "redelivered request answered from its stored reply");
    pl_counter_add(e->m_replayed, 1);
    j->outcome = "replayed";
    /* What was decided with the answer goes out again (consumers de-duplicate by request_id);
     * only that: not what this job decided with an answer of its own the row does not hold.
     * Never decided again here: the replay has the reply, not the bureau's answer, and the
     * reply alone cannot say whether the issuer holds anything (a Decision Manager 481 without
     * a ccAuthReply, or with 203, holds nothing; paylink-auth's store looks at the answer). A
     * row without follow-ups (NULL) is read as "none", which is what its first answer
     * published: follow-ups are stored whenever some were decided (on_http; the resolver and
     * an operator store theirs), and '[]' where a store says none were (paylink-auth's,
     * PL_ENGINE_SQL_FINAL), so a NULL row answered since 008_followups.sql decided none. Only a
     * row answered before 008 (years ago) may have published one it no longer holds. Before, a NULL
     * row was decided again from its reply: a 481 the original had rightly not reversed (no
     * ccAuthReply, or 203: nothing held) got a `.rev` for the whole amount on its redelivery, which
     * CyberSource refuses, and the order system got a reply to a reversal it never asked for. A
     * replay is no place to start a reversal: a hold the reply does not prove is left to the paths
     * made for it (the resolver's reversal of what it cannot confirm, paylink-reversal's claim of
     * what the row records, the order system's own reversal). */
    followups_drop(j);
    if (stored_followups)
        followups_restore(j, stored_followups);
    publish(j, again);
    free(again);
}

static void conflict(job *j)
{
    pl_counter_add(j->pub.eng->m_conflicts, 1);
    pl_errors errs = {0};
    pl_errors_add(&errs, "request_id",
                  "was already used for a different request (idempotency key conflict)");
    publish_invalid(j, &errs, "request_id reused with different content", PL_DLQ_KIND_CONFLICT);
}

/* How long a request may take at its bureau: its call wait (call_wait_ms: the connection
 * attempts, then the answer wait), four calls with OAuth (EXT); the longer of the settings it
 * arrived with and the current ones (svc_now: a call goes with the current, and one started
 * before a refresh with the earlier). */
static double answer_wait_s(const job *j)
{
    const pl_service *svc = j->pub.svc;
    if (!svc) /* its bureau is gone from the configuration: only the margin is left */
        return 0.0;
    /* With OAuth (EXT) an owner may wait that long for a token, for the call, for a new token
     * after a 401 and for the call again. (The answer wait alone left out the connection
     * attempts an owner makes first: a live owner retrying its connection was presumed gone and
     * its request made unknown while it could still send it.) */
    long own = call_wait_ms(svc), now = call_wait_ms(svc_now(j));
    double ms = (double)(own > now ? own : now);
    if (strcmp(svc->protocol, "EXT") == 0)
        ms *= 4;
    return ms / 1000.0;
}

static void park(job *j, double due)
{
    pl_engine *e = j->pub.eng;
    if (j->leaving && !e->stopping) {
        /* Its partition is being left: the next owner waits for that owner instead. */
        job_leave(j);
        return;
    }
    j->state = JS_WAITING;
    j->due = due;
    j->owner_recheck = true; /* bounded by owner_deadline, not by MAX_CHECKS */
    j->tnext = e->timers;
    j->in_timers = true;
    e->timers = j;
}

static void start_record(job *j);

static void run_timers(pl_engine *e)
{
    double now = now_s();
    for (job **pp = &e->timers; *pp;) {
        job *j = *pp;
        if (j->due > now) {
            pp = &j->tnext;
            continue;
        }
        *pp = j->tnext;
        j->tnext = NULL;
        j->in_timers = false;
        start_check(j);
    }
}

/* How often record_overdue looks at the slot queues. */
#define OVERDUE_CHECK_S 0.1

/*
 * Requests that have waited PAYLINK_SLOT_WAIT_RECORD_MS for a bureau slot without a row are
 * recorded as 'received' (a backlog an operator can see) and then wait the usual way. They
 * were queued in time order with the same wait, so in each queue the first one not yet due
 * ends the search; the queues are looked at ten times a second at most, so a long queue of
 * requests already recorded is not walked on every turn.
 */
static void record_overdue(pl_engine *e)
{
    if (e->n_unrecorded == 0)
        return;
    double now = now_s();
    if (now < e->overdue_check)
        return;
    e->overdue_check = now + OVERDUE_CHECK_S;
    for (size_t i = 0; i < e->nslots; i++) {
        slot *s = &e->slots[i];
        job *prev = NULL;
        for (job *q = s->qhead; q;) {
            job *next = q->qnext;
            if (!q->unrecorded) {
                prev = q;
                q = next;
                continue;
            }
            if (q->due > now)
                break;
            slot_unlink(e, s, prev, q);
            q->unrecorded = false;
            e->n_unrecorded--;
            start_record(q);
            q = next;
        }
    }
}

/* How often the requests in flight are looked at for overdue ones (sweep_overdue). */
#define OVERDUE_SWEEP_S 5.0
/* How long a request may be in the worker beyond all the calls it may make. */
#define OVERDUE_MARGIN_S 60.0

/* When a request has been in the worker too long: longer than every call it may make
 * (PL_ENGINE_MAX_CALLS call waits) and a minute for its rows and its reply. */
static double overdue_after_s(const job *j)
{
    return PL_ENGINE_MAX_CALLS * answer_wait_s(j) + OVERDUE_MARGIN_S;
}

/*
 * The database unit an overdue request waits for: where it is, and what the connection does.
 * Every state that waits for the database submits its unit as it enters the state, so
 * PL_ENGINE_LOST_UNIT ("not with the database (lost?)") means a lost unit: `tools/dev test`
 * and tools/chaos/chaos.sh fail on those words in the workers' logs (test_engine checks that
 * they still look for them).
 */
static void overdue_db(const job *j, const char *doing, char *buf, size_t size)
{
    const pl_engine *e = j->pub.eng;
    if (!e->db) {
        snprintf(buf, size, "%s", doing);
        return;
    }
    const char *place = pl_db_unit_place(e->db, j);
    char conn[200];
    pl_db_describe(e->db, conn, sizeof conn);
    snprintf(buf, size, "%s: its database unit is %s (%s)", doing,
             place ? place : PL_ENGINE_LOST_UNIT, conn);
}

/* What an overdue request in a state of database work is waiting for. */
static const char *const db_work[] = {
    [JS_LOOKING] = "looking its row up (refused by validation)",
    [JS_RECORDING] = "recording it",
    [JS_MARKING] = "marking it sent",
    [JS_UNMARKING] = "putting its row back to 'received' (no next call: stopping or revoked)",
    [JS_STORING] = "storing its outcome",
    [JS_CHECKING] = "re-reading its row",
};

/* What an overdue request is waiting for, for its log line. */
static void overdue_detail(job *j, double now, char *buf, size_t size)
{
    pl_engine *e = j->pub.eng;
    switch (j->state) {
    case JS_NEW:
        snprintf(buf, size, "not started");
        return;
    case JS_LOOKING:
    case JS_RECORDING:
    case JS_MARKING:
    case JS_UNMARKING:
    case JS_STORING:
    case JS_CHECKING:
        overdue_db(j, db_work[j->state], buf, size);
        return;
    case JS_QUEUED: {
        const slot *s = slot_for(e, j->pub.svc->code);
        snprintf(buf, size, "waiting for a slot of bureau %.8s (%d of %d in use)%s", s->code,
                 s->active, slot_cap(j), j->unrecorded ? ", not recorded yet" : "");
        return;
    }
    case JS_CALLING:
        if (j->oauth_waiting)
            snprintf(buf, size, "waiting for an access token of bureau %s", j->pub.svc->code);
        else
            snprintf(buf, size, "at bureau %s for %.0f s (call %d; %zu calls in flight)",
                     j->pub.svc->code, now - j->t_call, j->calls,
                     e->http ? pl_http_in_flight(e->http) : (size_t)0);
        return;
    case JS_WAITING:
        if (j->rr_parked) {
            snprintf(buf, size,
                     "waiting to read its row again in %.0f s: its timeout reply failed to publish "
                     "(failures so far: %d) and is answered from the row, never produced again",
                     j->due > now ? j->due - now : 0.0, j->publish_retries);
            return;
        }
        snprintf(buf, size, "waiting for another owner's answer (presumed gone in %.0f s)",
                 j->owner_deadline > now ? j->owner_deadline - now : 0.0);
        return;
    case JS_PUBLISHING:
        snprintf(buf, size, "publishing its reply (%d deliveries pending, %d retries)",
                 j->pending_dr, j->publish_retries);
        return;
    case JS_DONE:
        break;
    }
    snprintf(buf, size, "done");
}

/*
 * A watchdog for operators: every OVERDUE_SWEEP_S, the requests in flight that have been in the
 * worker longer than overdue_after_s are counted (paylink_requests_overdue) and each is logged
 * once, with what it waits for. Nothing is done to them: each state has its own bound (a
 * database that is away, a bureau's slots all taken, a broker that refuses replies are waited
 * for), and this says which one is holding a request, which a stuck request would otherwise
 * not (its upstream system just gets no reply). Returns how many were newly logged.
 */
static int sweep_overdue(pl_engine *e, double now)
{
    if (now < e->overdue_sweep)
        return 0;
    e->overdue_sweep = now + OVERDUE_SWEEP_S;
    size_t overdue = 0;
    int logged = 0;
    for (job *j = e->live; j; j = j->next) {
        double age = now - j->t_start;
        if (j->state == JS_DONE || age <= overdue_after_s(j))
            continue;
        overdue++;
        if (j->overdue)
            continue;
        j->overdue = true;
        logged++;
        char what[512];
        overdue_detail(j, now, what, sizeof what);
        PL_WARN(j->pub.req.request_id, "in the worker for %.0f s (longer than its %.0f s): %s", age,
                overdue_after_s(j), what);
    }
    e->n_overdue = overdue;
    pl_gauge_set(e->m_overdue, (double)overdue);
    return logged;
}

/* The most requests one dump (SIGUSR1) lists, the oldest first. */
#define DUMP_MAX 100

/*
 * SIGUSR1: the requests in flight, the oldest first, each with how long it has been in the
 * worker and what it waits for (as sweep_overdue says it) — an operator's look at a worker that
 * seems stuck, and what the e2e helpers ask for when a reply does not come.
 */
static void dump_live(pl_engine *e, double now)
{
    PL_WARN(NULL,
            "%zu request(s) in flight and %zu in the backlog; bureau settings loaded %.0f s ago "
            "(SIGUSR1; at most %d listed)",
            e->n_live, e->b_len, now - e->config_at, DUMP_MAX);
    job *j = e->live;
    while (j && j->next)
        j = j->next; /* the live list is newest first */
    for (int n = 0; j && n < DUMP_MAX; j = j->prev, n++) {
        char what[512];
        overdue_detail(j, now, what, sizeof what);
        PL_WARN(j->pub.req.request_id, "in the worker for %.0f s: %s", now - j->t_start, what);
    }
}

/* True when the row's stored reply is the one this job rendered and stored (the same JSON, as
 * PostgreSQL keeps it: jsonb orders the members its own way). Another actor's reply differs, if
 * only in processed_at and the card it generated. */
static bool own_reply(const job *j, const char *stored)
{
    if (!j->pub.reply_json || !stored)
        return false;
    json_object *mine = json_tokener_parse(j->pub.reply_json), *row = json_tokener_parse(stored);
    bool same = mine && row && json_object_equal(mine, row);
    json_object_put(mine);
    json_object_put(row);
    return same;
}

/*
 * The row read back by the job whose own write's result was lost with the database connection
 * (j->own_check, on_written): its own stored outcome is answered as its first reply, not a
 * replay (true); otherwise what it rendered goes (false), and the row is answered from as a
 * redelivery's.
 */
static bool answered_own(job *j, const row_view *v)
{
    bool own = v->reply && own_reply(j, v->reply);
    bool unknown = strcmp(v->status, "unknown") == 0;
    if (own && unknown && now_s() - j->rr_since > RR_OWNER_WINDOW_S) {
        /* Its own write made the row unknown, but the unit was sent again past the owner's
         * window (a connection lost that long): its `timeout` reply, produced now as the
         * owner's, might outlast what a replay elsewhere waits for, as in on_written. It is
         * answered from the row as a redelivery is (answer_from_row): replayed with the hold,
         * or left to the partition's next owner. */
        PL_WARN(j->pub.req.request_id,
                "its outcome became unknown %.0f s ago, stored before the database "
                "connection was lost: answered from its row as a redelivery",
                now_s() - j->rr_since);
    } else if (own) {
        /* The job's own write had committed, its result lost with the connection and the
         * unit sent again (db.c): its first reply, not a replay (and a generated card
         * number, in no row, goes out now or never). */
        PL_INFO(j->pub.req.request_id,
                "its own outcome was stored before the database connection was lost; "
                "answered as stored");
        /* Its own `timeout` reply, when its own write made the row unknown: recorded as
         * published like any (on_written cleared the flag, seeing no row changed). */
        j->rr_reply = unknown;
        j->rr_hold = false;     /* the owner's, its only copy */
        j->rr_own = RR_OWN_NOT; /* a copy of its own: "pl_replied" (mark_replied) */
        if (j->pub.reply_card_number_once[0])
            publish_once(j);
        else
            publish(j, j->pub.reply_json);
        return true;
    }
    once_wipe(j);
    return false;
}

/* A row settled from unknown whose final reply is held for the resolver (v->reply_pending):
 * nothing published for this copy, what the hold waits for recorded when this job is the
 * row's owner. */
static void answer_held(job *j)
{
    /* Settled from unknown, and its final reply held until the `timeout` reply it settles
     * is out (055, 066): the resolver publishes it then, to this request_id (the order
     * system de-duplicates by it), with its follow-ups. Published here, it could reach the
     * order system before a `timeout` copy still queued by the row's owner. Once that reply
     * is out (or 10 minutes passed) the look-up says nothing is held, and the final reply is
     * replayed below even while reply_pending is set: no resolver may run to publish it
     * (PAYLINK_RESOLVER_INTERVAL_MS=0), and nothing is left to overtake. */
    PL_INFO(j->pub.req.request_id,
            "its row was settled and its final reply is held for the resolver to publish: "
            "nothing published for this copy");
    followups_drop(j);
    j->outcome = "replayed";
    /* The row's owner reading it again after its own `timeout` copy failed, or past its
     * window without producing one: nobody else records what the final reply waits for (a
     * redelivery finding the row so records nothing), and without a record it waits the 10
     * minutes. A copy that failed may still have been persisted, as a request on the wire
     * when the producer gave up: the hold (pl_replayed), as for a replay; none produced:
     * out now (pl_replied_none, which never lowers a replay's later time: that waits for
     * another replica's copy, which may still be queued).
     * The job completes once that is recorded (job_done, mark_replied), not before, as
     * after a `timeout` reply. */
    j->rr_reply = j->rr_own != RR_OWN_NOT;
    j->rr_hold = j->rr_own == RR_OWN_COPY_FAILED;
    if (j->rr_reply)
        PL_INFO(j->pub.req.request_id, "it made the row unknown and %s: %s",
                j->rr_hold ? "its timeout reply failed to publish"
                           : "produced no timeout reply of its own",
                j->rr_hold ? "the final reply held until that copy can no longer arrive "
                             "(recorded as a replay)"
                           : "the final reply free to go now (recorded as out)");
    job_done(j);
}

/* A row never sent ('received'): the request is sent (`recorded`: the record unit that read it,
 * its look-ups in it), or recorded again to run its look-ups after the read. */
static void answer_never_sent(job *j, const pl_db_unit *recorded)
{
    /* Nothing of this job's is open on a row never sent: an unknown write of its that
     * changed nothing (the owner it waited for gave its call back first: finish_unknown_as)
     * was no try, and a failure of the call it now makes may still leave the row to the
     * resolver (job_fail). (Bounded: MAX_ROUNDS re-reads of a 'received' row.) */
    j->unknown_tried = false;
    if (!j->pub.svc || !j->ops) {
        /* Never sent, and its service bureau is gone from the configuration. */
        char why[120];
        snprintf(why, sizeof why, "service bureau '%s' is no longer configured for %s",
                 j->pub.req.service, j->pub.eng->spec->worker);
        finish_error(j, why, true);
    } else if (recorded) {
        send_request(j, recorded);
    } else if (++j->rounds > MAX_ROUNDS) {
        finish_error(j, "what the request draws on kept changing; nothing was sent", true);
    } else {
        j->read_back = true; /* the row is there */
        j->looks_after_read = true;
        start_record(j); /* the spec's look-ups again, then decide anew */
    }
}

/* A row another attempt sent ('sent'): waited for, up to that owner's call wait, then made a
 * required response while that owner still has it. */
static void answer_sent_elsewhere(job *j, const row_view *v, const pl_db_unit *recorded)
{
    /* Another attempt sent it. Its owner may be alive (a second replica, a redelivery in
     * another process): wait for its answer up to the owner's call wait (answer_wait_s)
     * after it was marked; past that the owner is presumed gone and the outcome is unknown. A
     * row marked again by another attempt since (the owner's next call, spec->next_call) gets
     * that call's wait: the deadline is set anew when sent_by changes, at most
     * PL_ENGINE_MAX_CALLS times for one owner, and never while it stays the same, so a
     * database answering slowly cannot stretch the wait. */
    double now = now_s();
    if (j->owner_deadline == 0 || strcmp(j->owner_attempt, v->sent_by) != 0) {
        j->owner_deadline =
            now + answer_wait_s(j) + OWNER_MARGIN_S - (v->sent_age_s > 0 ? v->sent_age_s : 0);
        copy_str(j->owner_attempt, sizeof j->owner_attempt, v->sent_by);
    }
    if (now < j->owner_deadline) {
        park(j, now + 1.0 < j->owner_deadline ? now + 1.0 : j->owner_deadline);
        return;
    }
    /* Only while the row is still 'sent' by that owner (finish_unknown_as): between this read
     * and the write it may have given its call back (pl_unmark: 'received', its claim
     * released; a stop, a revoke, a token wait, a 401), or another attempt marked it. */
    finish_unknown(j, "sent_not_answered",
                   recorded ? "redelivered after it was sent; outcome unknown"
                            : "sent by another attempt that did not answer; outcome unknown",
                   PL_ST_TIMEOUT, v->sent_by);
}

/*
 * A request whose request_id has a row is answered from that row, whatever validation says
 * now (DESIGN.md "The engine"): replayed when it has a reply, sent when it was never sent,
 * waited for while another owner may still have it in flight, and made a required response
 * when that owner is presumed gone. `recorded` is the record unit when the row was just read
 * by it (the spec's look-ups are in it), NULL otherwise.
 */
static void answer_from_row(job *j, const row_view *v, const pl_db_unit *recorded)
{
    if (j->own_check) {
        j->own_check = false;
        if (answered_own(j, v))
            return;
    }
    if (v->reply && v->reply_pending) {
        answer_held(j);
        return;
    }
    if (v->reply && strcmp(v->status, "unknown") == 0 && partition_leaving(j)) {
        /* Its `timeout` reply, produced now while the partition goes to another consumer, may
         * still be queued here when that consumer's replay is acknowledged; the final reply then
         * waits only until message.timeout.ms and a margin after the row opened (pl_replayed),
         * which a copy produced this late can outlast. The partition's next owner answers. */
        PL_INFO(j->pub.req.request_id,
                "its row is still unknown and its partition is being left: its timeout reply is "
                "left to the partition's next owner");
        job_leave(j);
        return;
    }
    if (v->reply) {
        /* A row left unknown holds the `timeout` reply of its required response: replayed, it is
         * recorded with the hold for its owner's copy (pl_replayed). */
        j->rr_reply = strcmp(v->status, "unknown") == 0;
        j->rr_hold = j->rr_reply;
        /* The owner replaying it too: a copy produced now, past its window, which a record of
         * its first copy (pl_replayed) or of none (pl_replied_none) would not cover. This replay
         * records its own once Kafka has it; should it fail, nothing is recorded (the 10
         * minutes), as for a redelivery's. */
        j->rr_own = RR_OWN_NOT;
        replay(j, v->reply, v->followups);
        return;
    }
    if (strcmp(v->status, "received") == 0) {
        answer_never_sent(j, recorded);
        return;
    }
    if (strcmp(v->status, "sent") == 0) {
        answer_sent_elsewhere(j, v, recorded);
        return;
    }
    char why[80];
    snprintf(why, sizeof why, "its row is '%.20s' without a reply", v->status);
    job_fail(j, why, false);
}

static void on_checked(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    if (unit_failed(j, err, errmsg, "reading its row"))
        return;
    row_view v;
    if (!read_row(pl_db_unit_result(u, 0), &v)) {
        j->unknown_tried = true; /* no row to leave to the resolver */
        job_fail(j, "its row is gone", false);
        return;
    }
    answer_from_row(j, &v, NULL);
}

/* Re-reads the row (after a guarded write changed nothing, or to see whether an owner in
 * flight has answered). */
static void start_check(job *j)
{
    pl_engine *e = j->pub.eng;
    j->rr_parked = false;
    if (j->owner_recheck)
        j->owner_recheck = false;
    else if (++j->checks > MAX_CHECKS) {
        job_fail(j, "its row never settled", false);
        return;
    }
    pl_counter_add(e->m_rechecks, 1);
    const char *p[] = {j->pub.req.request_id, e->spec->worker};
    pl_db_unit *u = job_unit_new(j, on_checked);
    j->state = JS_CHECKING;
    submit_or_die(e, u, u ? pl_db_unit_add(u, "pl_lookup", 2, p) : PL_ERR_NOMEM);
}

/* ---- recording ---- */

/* A request validation refused: only when its request_id has no row is it invalid. */
static void on_looked_up(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    if (unit_failed(j, err, errmsg, "looking up its row"))
        return;
    row_view v;
    if (!read_row(pl_db_unit_result(u, 0), &v)) {
        publish_invalid(j, j->errs, j->errs->n ? j->errs->e[0].error : "invalid request",
                        PL_DLQ_KIND_INVALID);
        return;
    }
    if (!fingerprint_matches(j, v.fingerprint)) {
        conflict(j);
        return;
    }
    PL_INFO(j->pub.req.request_id,
            "fails validation now (%s: %s) but has a row: answered from the row",
            j->errs->n ? j->errs->e[0].field : "", j->errs->n ? j->errs->e[0].error : "");
    answer_from_row(j, &v, NULL);
}

static void start_lookup(job *j)
{
    pl_engine *e = j->pub.eng;
    const char *p[] = {j->pub.req.request_id, e->spec->worker};
    pl_db_unit *u = job_unit_new(j, on_looked_up);
    j->state = JS_LOOKING;
    submit_or_die(e, u, u ? pl_db_unit_add(u, "pl_lookup", 2, p) : PL_ERR_NOMEM);
}

static void on_recorded(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    pl_engine *e = j->pub.eng;
    if (unit_failed(j, err, errmsg, "recording the request"))
        return;
    bool inserted = pl_db_unit_ntuples(u, 0) == 1;
    row_view v;
    if (inserted && !j->read_back) {
        /* The row this transaction has just inserted, as pl_lookup would read it back. */
        v = (row_view){.status = "received",
                       .fingerprint = j->pub.fingerprint,
                       .sent_age_s = -1.0,
                       .sent_by = ""};
        answer_from_row(j, &v, u);
        return;
    }
    if (!j->read_back) {
        /* A row is there already (a redelivery, a duplicate, another replica), or the spec's
         * insert refused the request: the spec's look-ups again with the row read back. */
        j->read_back = true;
        j->looks_after_read = false;
        start_record(j);
        return;
    }
    if (!read_row(pl_db_unit_result(u, pl_db_unit_count(u) - 1), &v)) {
        /* The spec's INSERT refused it (e.g. a reference to another order's transaction):
         * nothing was written, so it is judged like any invalid request. */
        pl_errors errs = {0};
        job_reply(j);
        if (e->spec->judge)
            e->spec->judge(&j->pub, u, &errs);
        if (errs.n == 0) {
            job_fail(j, "it was neither recorded nor found", true);
            return;
        }
        publish_invalid(j, &errs, errs.e[0].error, PL_DLQ_KIND_INVALID);
        return;
    }
    if (!inserted && !fingerprint_matches(j, v.fingerprint)) {
        conflict(j);
        return;
    }
    if (!inserted && strcmp(v.status, "received") == 0 && !j->looks_after_read) {
        /* Found 'received', its look-ups read before the row (pl_lookup is the unit's last
         * statement, each statement with a snapshot of its own): they may still count a claim
         * this very request's row held until just before the read — its owner put it back
         * (PL_ENGINE_SQL_UNMARK releases the claim with the row, 078) between the two. Decided
         * on them, a capture would be judged over its authorization, or a reversal refused for
         * a claim in flight (its own): final, nothing sent. So the look-ups run once more, after
         * this read, and the request is decided on those, whatever that unit's read finds (only
         * a whole mark and unmark by others between its two statements escapes it). Costs one
         * unit for a redelivery that finds its row never sent, rare. */
        j->looks_after_read = true;
        start_record(j);
        return;
    }
    answer_from_row(j, &v, u);
}

/*
 * Records the request: the spec's insert and look-ups in one unit. The row is read back
 * (pl_lookup, last in the unit) only when it is needed: the first time, an insert that returns
 * the new row says all there is to know of it (status received, this request's fingerprint,
 * never sent), so the statement is saved on the common path; when the insert finds a row, the
 * unit runs again with the read-back.
 */
static void start_record(job *j)
{
    pl_engine *e = j->pub.eng;
    pl_db_unit *u = job_unit_new(j, on_recorded);
    j->pub.read_back = j->read_back;
    int rc = u ? e->spec->record(&j->pub, u) : PL_ERR_NOMEM;
    const char *p[] = {j->pub.req.request_id, e->spec->worker};
    if (rc == 0 && j->read_back)
        rc = pl_db_unit_add(u, "pl_lookup", 2, p);
    j->state = JS_RECORDING;
    submit_or_die(e, u, rc);
}

/* ---- recording a request already marked sent (spec->record_sent) ---- */

static void on_recorded_sent(void *arg, int err, const char *errmsg, pl_db_unit *u)
{
    job *j = arg;
    if (err == PL_ERR_STATE) {
        slot_release(j);
        job_abandon(j);
        return;
    }
    if (!err && pl_db_unit_ntuples(u, 0) == 1) {
        call_start(j); /* recorded and marked sent in one commit: its bytes may leave */
        return;
    }
    /* Nothing was written by this statement: a row is there already (a redelivery, a
     * duplicate, another replica), or the database refused the row as it was (the usual way
     * reports that as the mark's failure). The usual way from here: record, read back, mark. */
    slot_release(j);
    if (err)
        PL_WARN(j->pub.req.request_id, "recording it as sent failed (%s); recording it first",
                errmsg);
    j->read_back = !err;
    j->looks_after_read = false;
    start_record(j);
}

/*
 * Builds the job's call and records the job already marked sent (it holds its bureau slot):
 * one statement, one commit. False when the call cannot be built (nothing was written).
 */
static bool send_recorded_sent(job *j)
{
    pl_engine *e = j->pub.eng;
    char err[256];
    pl_bureau_msg_free(j->msg);
    if (j->ops->build(&j->cfg, &j->pub.call, job_msg(j), err, sizeof err) != 0)
        return false;
    new_attempt(j);
    pl_db_unit *u = job_unit_new(j, on_recorded_sent);
    j->state = JS_MARKING;
    submit_or_die(e, u, u ? e->spec->record_sent(&j->pub, u) : PL_ERR_NOMEM);
    return true;
}

/* A request that waited for a slot unrecorded got one (slot_release). */
static bool send_unrecorded(job *j)
{
    j->unrecorded = false;
    j->pub.eng->n_unrecorded--;
    return send_recorded_sent(j);
}

/*
 * A new request whose call the spec can decide from the request and the configuration alone
 * (spec->prepare_alone) is recorded already marked sent, in one statement and one commit,
 * instead of recorded, then marked (received → sent in the same transaction: the state machine
 * is unchanged, the row is simply never seen 'received'). Only when the call is ready to leave:
 * decided and built, no getToken before it. With the bureau's slots all taken it waits for one
 * unrecorded, its call decided but not built (its offset uncommitted: a crash or a drain leaves
 * it to be redelivered), for at most PAYLINK_SLOT_WAIT_RECORD_MS; then it is recorded as
 * 'received' and waits the usual way, so a lasting backlog is visible. Otherwise, or when the
 * insert finds a row, the usual way. Returns false when the job takes the usual way.
 */
static bool record_sent(job *j)
{
    pl_engine *e = j->pub.eng;
    const pl_spec *sp = e->spec;
    if (!sp->record_sent || !sp->prepare_alone || !j->pub.svc || !j->ops || j->read_back ||
        !sp->prepare_alone(&j->pub))
        return false;
    if (stop_asked(e) || j->leaving) {
        /* A redelivery admitted behind a finished owner: no call starts during a stop, a stop
         * asked (stop_asked), or for a partition given up (leave_partitions). */
        job_leave(j);
        return true;
    }
    slot *s = slot_for(e, j->pub.svc->code);
    bool full = s->active >= slot_cap(j);
    /* With the slots all taken and no wait allowed, it waits recorded, as 'received', and its
     * call is decided once, when it gets one: nothing to prepare now. Its bureau stalled, it is
     * recorded and answered at its slot (slot_take), never queued. */
    if (full && (e->cfg.slot_wait_record_ms <= 0 || s->stalled))
        return false;
    char err[256];
    if (prepare_call(j, NULL, err, sizeof err) != 0 || needs_tokenizing(j))
        return false; /* (refusals and errors are answered on the recorded row) */
    if (full) {
        j->unrecorded = true;
        e->n_unrecorded++;
        j->due = now_s() + e->cfg.slot_wait_record_ms / 1000.0;
        slot_enqueue(s, j);
        return true;
    }
    s->active++;
    j->slot_held = true;
    if (send_recorded_sent(j))
        return true;
    s->active--;
    j->slot_held = false;
    return false;
}

/* Admits a request: parks it behind an in-flight one with the same request_id. */
static void job_admit(pl_engine *e, job *j)
{
    job *owner = hash_find(e, j->pub.req.request_id);
    if (owner) {
        job **pp = &owner->waiters;
        while (*pp)
            pp = &(*pp)->wnext;
        *pp = j;
        return;
    }
    unsigned h = hash_rid(j->pub.req.request_id);
    j->hnext = e->hash[h];
    e->hash[h] = j;
    j->admitted = true;
    if (j->errs)
        start_lookup(j);
    else if (!record_sent(j))
        start_record(j);
}

/* ---- a new message ---- */

static bool protocol_ok(const pl_spec *s, const char *protocol)
{
    for (const char *const *p = s->protocols; p && *p; p++)
        if (strcmp(*p, protocol) == 0)
            return true;
    return false;
}

/*
 * The job's card hash under each earlier key (cfg's PAYLINK_HASH_KEY_PREVIOUS_FILES) of number,
 * the number its card_hash is of (a card number, else a stored value card's; none when
 * card_hash is ""): the card check of a deposit or void against an authorization recorded
 * before the key was rotated, or of an EXT merchant-initiated authorization against its CIT's
 * (pl_job_card_hash_for). Before, only a stored value card's was made: a credit card's CIT
 * recorded under the old key was of no card.
 */
static void card_hash_prev(const pl_config *cfg, const char *number, pl_job *pub)
{
    pub->n_card_hash_prev = 0;
    for (int k = 0; pub->card_hash[0] && number[0] && k < cfg->n_prev_keys; k++) {
        if (pl_card_hmac(cfg->prev_keys[k], cfg->prev_key_len[k], number,
                         pub->card_hash_prev[pub->n_card_hash_prev],
                         sizeof pub->card_hash_prev[0]) == 0)
            pub->n_card_hash_prev++;
    }
}

/*
 * Adds the offset of job j to the tracker, so that no commit of its partition passes it before
 * it is done (job_done). Out of memory: the worker exits, as for any allocation a request needs
 * (untracked, the job's offset could be committed past before it is done, and the request lost
 * on a restart).
 *
 * An offset not after the last one taken from its partition within one assignment (a rebalance
 * forgets a partition's offsets: forget_partitions) means the consumer was taken back: the
 * topic recreated, or its log truncated by an unclean leader election (librdkafka >= 2.1 seeks
 * to where the logs diverge; 2.0.2 resets as out of range), or the same records read again. It
 * is tracked all the same, in its place, and its job runs: a copy of a request taken already
 * waits behind its first reading (job_admit parks a redelivery behind its owner) or is answered
 * from its row, and another request (a truncated log's new one at that offset) needs its own
 * answer. The tracker then commits nothing of the partition past it before it is done, nor past
 * what the consumer has read again (offsets.h).
 *
 * Taken back below the partition's position, the position goes back to it, and is stored and
 * committed explicitly at once (position_store): the records above it may be a new log's, and
 * the group's committed offset, left above them, would have a restart or a rebalance skip the
 * ones not done (librdkafka commits no stored offset below its committed one). A log that
 * changed is not told from records read again: librdkafka 2.0.2 says nothing of an automatic
 * offset reset but a log line (no consumer event unless auto.offset.reset is `error`), 2.1's
 * seek to where truncated logs diverge raises no event either, and the partition's high watermark
 * (a log shorter than what was read) misses a new log that has grown past the old one's end by
 * the time it is read, with records of its own below the committed offset. Going back is right
 * for both: records read again are answered from their rows, so it costs no more than reading
 * them once more after a crash. Before, the position held above the new log, nothing of the
 * partition was committed until the new log passed it, and a warning asked an operator to reset
 * the group's offset by hand (a restart or a rebalance before that skipped the new log's
 * records up to it). When librdkafka reset the consumer below an offset the group committed from
 * an older log before this assignment's first record, nothing goes back here: its statistics
 * show that offset above the position, which is then committed explicitly (commit_check_stats).
 *
 * A negative offset, or a partition beyond the tracker's range, has no position to protect: its
 * job runs untracked, said in an error line.
 *
 * unreadable: j is a record that could not be read (start_unreadable). Returns false, nothing
 * tracked, when it is the one last taken from its partition, taken as unreadable too
 * (pl_offsets_add_once): a batch librdkafka cannot decompress is fetched again and again, and
 * was dead-lettered already. Otherwise (and always for a request) returns true.
 */
static bool offset_track(pl_engine *e, job *j, bool unreadable)
{
    int64_t was = pl_offsets_position(e->offsets, j->partition);
    int rc = unreadable ? pl_offsets_add_once(e->offsets, j->partition, j->offset)
                        : pl_offsets_add(e->offsets, j->partition, j->offset);
    if (rc == PL_ERR_NOMEM) {
        PL_ERROR(NULL, "out of memory tracking an offset; exiting");
        exit(70);
    }
    if (rc == PL_OFFSETS_AGAIN)
        return false;
    if (rc < 0) {
        PL_ERROR(NULL,
                 "partition %d of %s: offset %" PRId64 " cannot be tracked (%s): its %s "
                 "without a position a commit could pass",
                 (int)j->partition, e->t_request, j->offset, pl_err_str(rc),
                 unreadable ? "record is dead-lettered" : "request runs");
        return true;
    }
    j->tracked = true;
    if (rc != PL_OFFSETS_BACK)
        return true;
    int64_t pos = pl_offsets_position(e->offsets, j->partition);
    if (pos < was) {
        PL_WARN(NULL,
                "partition %d of %s: offset %" PRId64 " is below the partition's position "
                "%" PRId64 " (the consumer was taken back: the topic recreated, its log "
                "truncated, or records read again): tracked in its place, and the group's "
                "committed offset goes back to it (committed explicitly, at once or once the group "
                "is steady), so that a restart or a "
                "rebalance reads on from there rather than skip a new log's records; requests "
                "read again are answered from their rows",
                (int)j->partition, e->t_request, j->offset, was);
        position_store(e, j->partition, pos);
    } else {
        PL_WARN(NULL,
                "partition %d of %s: offset %" PRId64 " is not after the last one taken from it "
                "(the consumer was taken back: the topic recreated, its log truncated, or records "
                "read again), nor below the partition's position: tracked in its place, nothing "
                "of the partition is committed past it before it is done",
                (int)j->partition, e->t_request, j->offset);
    }
    return true;
}

/* Tracks the offset of request j (offset_track): a request always runs. */
static void job_track(pl_engine *e, job *j)
{
    (void)offset_track(e, j, false);
}

static void drop_message(rd_kafka_message_t *m);

/*
 * Whether consumer event m is a record of the request topic that librdkafka could not read and
 * skips (rdkafka_msgset_reader.c): a CRC mismatch (_BAD_MSG; a batch's, its records with it), a
 * record format it does not implement (_NOT_IMPLEMENTED), or a batch it could not decompress
 * (_BAD_COMPRESSION: read again at each fetch, the partition going no further). Each comes
 * with the offset it was at. Logged as a warning and destroyed, as before, such a record was
 * skipped in silence: nothing had tracked its offset, the next request's completion committed
 * past it, and the order system never got an answer. Not _MSG_SIZE_TOO_LARGE: that record is
 * not skipped but fetched again (with more room), and nothing after it is read meanwhile.
 */
static bool unreadable_record(const pl_engine *e, const rd_kafka_message_t *m)
{
    switch (m->err) {
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
        break;
    default:
        return false;
    }
    return m->offset >= 0 && m->partition >= 0 && m->rkt &&
           strcmp(rd_kafka_topic_name(m->rkt), e->t_request) == 0;
}

/* A new job for consumer record m (a request, or one that could not be read): where it was and
 * when it started. Out of memory: the worker exits, as for any allocation a request needs. */
static job *job_of_record(pl_engine *e, const rd_kafka_message_t *m)
{
    job *j = calloc(1, sizeof *j);
    if (!j) {
        PL_ERROR(NULL, "out of memory accepting a message; exiting");
        exit(70);
    }
    j->pub.eng = e;
    j->t_start = now_s();
    j->partition = m->partition;
    j->offset = m->offset;
    return j;
}

/* Job j joins the engine's live jobs (those job_free unlinks), counted in n_live. */
static void live_add(pl_engine *e, job *j)
{
    j->next = e->live;
    if (e->live)
        e->live->prev = j;
    e->live = j;
    e->n_live++;
}

/*
 * A record of the request topic that could not be read (unreadable_record), in its place among
 * the requests (it went through the backlog as they do): an error line, a count
 * (paylink_consumer_unreadable_records_total, which also alerts through
 * paylink_dead_letters_total) and a dead-letter copy where an operator looks, with where it was
 * (partition, offset), why (librdkafka's words: they name the batch), and no payload (there is
 * none to give). Its offset is tracked as a request's (offset_track, also when it goes back: a
 * new log after a reset), so nothing of its partition is committed past it before that copy is
 * delivered (job_done, on its delivery report), as for any dead letter; one the tracker cannot
 * hold (a partition beyond its range) is dead-lettered all the same. The same record fetched
 * again with nothing taken from its partition in between (librdkafka fetches a batch it could
 * not decompress again and again, the partition going no further) is not dead-lettered again,
 * only logged, and not at every fetch: at the 1st, 10th, 100th... time it comes again, with the
 * count, and at least once an hour while it does (pl_offsets_again_due; librdkafka fetches it
 * about twice a second, so the powers of ten alone fell silent for days). Before, each fetch
 * logged a warning, several a second.
 */
static void start_unreadable(pl_engine *e, rd_kafka_message_t *m)
{
    char why[512], detail[400];
    const char *text = rd_kafka_message_errstr(m);
    pl_card_scrub_copy(detail, sizeof detail, text, strlen(text), e->cfg.log_mask);
    snprintf(why, sizeof why, "the record could not be read (%s): %s", rd_kafka_err2name(m->err),
             detail);
    job *j = job_of_record(e, m);
    if (!(j->key = calloc(1, 1))) {
        PL_ERROR(NULL, "out of memory accepting a message; exiting");
        exit(70);
    }
    drop_message(m);
    if (!offset_track(e, j, true)) {
        uint64_t n = pl_offsets_again_due(e->offsets, j->partition, now_s(), SAY_AGAIN_S);
        if (n)
            PL_WARN(NULL,
                    "partition %d of %s, offset %" PRId64 ": %s (fetched again, %" PRIu64
                    " time(s) so far, the partition going no further: dead-lettered once; said "
                    "again at ten times as many, or in an hour)",
                    (int)j->partition, e->t_request, j->offset, why, n);
        free(j->key);
        free(j);
        return;
    }
    live_add(e, j);
    PL_ERROR(NULL,
             "partition %d of %s, offset %" PRId64 ": %s; its dead-letter copy has no payload%s",
             (int)j->partition, e->t_request, j->offset, why,
             j->tracked ? ", and the offset is committed once that copy is delivered" : "");
    pl_counter_add(e->m_unreadable, 1);
    send_dead_letter(j, PL_DLQ_KIND_UNREADABLE, why, NULL);
    if (j->pending_dr == 0) /* (nothing produced: publish_failed said why) */
        job_done(j);
}

static void start_message(pl_engine *e, rd_kafka_message_t *m)
{
    if (m->err) {
        start_unreadable(e, m);
        return;
    }
    job *j = job_of_record(e, m);
    j->payload_len = m->len;
    j->payload = malloc(m->len + 1);
    j->key_len = m->key_len;
    j->key = malloc(m->key_len + 1);
    if (!j->payload || !j->key) {
        PL_ERROR(NULL, "out of memory accepting a message; exiting");
        exit(70);
    }
    if (m->len)
        memcpy(j->payload, m->payload, m->len);
    j->payload[m->len] = '\0';
    if (m->key_len)
        memcpy(j->key, m->key, m->key_len);
    j->key[m->key_len] = '\0';
    /* The librdkafka copy may hold a card number too. */
    if (m->payload && m->len)
        pl_card_wipe(m->payload, m->len);
    rd_kafka_message_destroy(m);

    job_track(e, j);
    live_add(e, j);

    pl_errors errs = {0};
    int rc = pl_request_decode(j->payload, j->payload_len, e->spec->worker, time(NULL), &j->pub.req,
                               &errs);
    if (rc != 0 && rc != PL_ERR_INVALID) {
        PL_ERROR(NULL, "out of memory decoding a request; exiting");
        exit(70);
    }
    j->pub.services = pl_services_ref(e->services);
    j->pub.svc = pl_services_find(e->services, j->pub.req.service);
    if (j->pub.req.service[0] && !j->pub.svc)
        pl_errors_add(&errs, "service", "unknown service bureau '%s'", j->pub.req.service);
    else if (j->pub.svc && (!protocol_ok(e->spec, j->pub.svc->protocol) ||
                            !(j->ops = pl_bureau_find(j->pub.svc->protocol)))) {
        pl_errors_add(&errs, "service",
                      "service bureau '%s' (protocol %s) does not handle %s requests",
                      j->pub.req.service, j->pub.svc->protocol, e->spec->worker);
        j->pub.svc = NULL;
        j->ops = NULL;
    }
    /* Everything written about the card is derived here, once. */
    const pl_card_data *c = &j->pub.req.card;
    if (c->number[0] &&
        (pl_card_hmac(e->cfg.hash_key, e->cfg.hash_key_len, c->number, j->pub.card_hash,
                      sizeof j->pub.card_hash) != 0 ||
         pl_card_mask_stored(c->number, j->pub.card_masked, sizeof j->pub.card_masked) != 0)) {
        j->pub.card_hash[0] = j->pub.card_masked[0] = '\0';
        if (errs.n == 0)
            pl_errors_add(&errs, "card.number", "cannot be processed");
    }
    /* A stored value card (svc.card_number) is written as the seed masks it: stars and the
     * last four digits ("************1234"), never its first six. A generate names no card (the
     * bureau gives the number): one in its request is not the new card's and is not recorded
     * (it would have become the row's card, another card's row taken over). */
    const char *svc_number =
        j->pub.req.type == PL_REQ_SVC_GENERATE ? "" : j->pub.req.svc.card_number;
    if (!c->number[0] && svc_number[0] &&
        pl_stored_value_card(e->cfg.hash_key, e->cfg.hash_key_len, svc_number, j->pub.card_hash,
                             sizeof j->pub.card_hash, j->pub.card_masked,
                             sizeof j->pub.card_masked) != 0) {
        if (errs.n == 0)
            pl_errors_add(&errs, "svc.card_number", "cannot be processed");
    }
    card_hash_prev(&e->cfg, c->number[0] ? c->number : svc_number, &j->pub);
    const char *t = c->type[0] ? c->type : pl_card_type_guess(c->number);
    copy_str(j->pub.card_type, sizeof j->pub.card_type, t);
    if (j->pub.req.has_amount &&
        pl_money_format(j->pub.req.amount, j->pub.amount, sizeof j->pub.amount) != 0)
        j->pub.amount[0] = '\0';
    if (pl_request_fingerprint_v(&j->pub.req, e->cfg.fingerprint_version, e->cfg.hash_key,
                                 e->cfg.hash_key_len, j->pub.fingerprint,
                                 sizeof j->pub.fingerprint) != 0) {
        PL_ERROR(j->pub.req.request_id, "fingerprint failed; exiting");
        exit(70);
    }
    if (j->pub.svc) {
        copy_str(j->cfg.service, sizeof j->cfg.service, j->pub.svc->code);
        copy_str(j->cfg.protocol, sizeof j->cfg.protocol, j->pub.svc->protocol);
        copy_str(j->cfg.api_version, sizeof j->cfg.api_version, j->pub.svc->api_version);
        j->cfg.secret = j->pub.svc->secret;
        /* Customer Engagement (RLT): the seed's WASV settings its messages carry. */
        copy_str(j->cfg.card_prefix, sizeof j->cfg.card_prefix, j->pub.svc->card_prefix);
        copy_str(j->cfg.card_series, sizeof j->cfg.card_series, j->pub.svc->card_series);
        copy_str(j->cfg.location_id, sizeof j->cfg.location_id, j->pub.svc->location_id);
        copy_str(j->cfg.ws_user, sizeof j->cfg.ws_user, j->pub.svc->ws_user);
    }
    if (errs.n > 0 || rc != 0) {
        if (!j->pub.req.request_id[0]) {
            /* Without a usable request_id there is no row to look for. */
            publish_invalid(j, &errs, errs.n ? errs.e[0].error : "invalid request",
                            PL_DLQ_KIND_INVALID);
            return;
        }
        j->errs = malloc(sizeof *j->errs);
        if (!j->errs) {
            PL_ERROR(NULL, "out of memory accepting a message; exiting");
            exit(70);
        }
        *j->errs = errs;
        if (j->errs->n == 0)
            pl_errors_add(j->errs, "", "invalid request");
    }
    job_admit(e, j);
}

/* ---- Kafka consumer side ---- */

static bool partition_assigned(pl_engine *e, int32_t p)
{
    return plist_find(e->assigned, e->t_request, p) != NULL;
}

static void backlog_push(pl_engine *e, rd_kafka_message_t *m)
{
    if (e->b_len == e->b_cap) {
        size_t cap = e->b_cap ? e->b_cap * 2 : 256;
        rd_kafka_message_t **nb = malloc(cap * sizeof *nb);
        if (!nb) {
            PL_ERROR(NULL, "out of memory in the backlog; exiting");
            exit(70);
        }
        for (size_t i = 0; i < e->b_len; i++)
            nb[i] = e->backlog[(e->b_head + i) % e->b_cap];
        free(e->backlog);
        e->backlog = nb;
        e->b_cap = cap;
        e->b_head = 0;
    }
    e->backlog[(e->b_head + e->b_len) % e->b_cap] = m;
    e->b_len++;
}

static rd_kafka_message_t *backlog_pop(pl_engine *e)
{
    if (!e->b_len)
        return NULL;
    rd_kafka_message_t *m = e->backlog[e->b_head];
    e->b_head = (e->b_head + 1) % e->b_cap;
    e->b_len--;
    return m;
}

static bool on_partitions(const job *j, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition == j->partition)
            return true;
    return false;
}

/* Drops backlog messages of partitions no longer assigned (their new owner re-reads them). */
/* Destroys a message never started (it is redelivered): its librdkafka copy may hold a card
 * number, wiped first as an accepted message's is. */
static void drop_message(rd_kafka_message_t *m)
{
    if (m->payload && m->len)
        pl_card_wipe(m->payload, m->len);
    rd_kafka_message_destroy(m);
}

static void backlog_prune(pl_engine *e, bool all)
{
    size_t n = e->b_len;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = backlog_pop(e);
        if (!all && partition_assigned(e, m->partition))
            backlog_push(e, m);
        else
            drop_message(m);
    }
}

static void set_paused(pl_engine *e, bool pause)
{
    if (e->paused == pause)
        return;
    e->paused = pause;
    /* Partitions assigned later are paused on assignment while this holds. */
    if (!e->assigned || e->assigned->cnt == 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(e->assigned);
    if (pause)
        rd_kafka_pause_partitions(e->consumer, l);
    else
        rd_kafka_resume_partitions(e->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void loop_once(pl_engine *e, int timeout_ms, bool consume);

static size_t jobs_on(pl_engine *e, const rd_kafka_topic_partition_list_t *parts)
{
    /* The live jobs, not the offsets still pending: a job given up for redelivery (abandoned
     * at a stop) keeps its offset pending for good, and would hold every drain to its
     * deadline. */
    size_t n = 0;
    for (const job *j = e->live; j; j = j->next)
        if (j->tracked && on_partitions(j, parts))
            n++;
    return n;
}

/*
 * Partitions this consumer is giving up (revoked or lost): their requests that have not left
 * are not sent from here any more. The partitions' next owner reads them again from the
 * committed offset (theirs stays uncommitted), and a call started here would only race it —
 * or, during the revoke drain, be cut short by the drain's deadline and leave an outcome
 * unknown that never needed to be. Those waiting for a bureau slot are given up now, as at a
 * stop (abandon_queued), and so are those waiting for another owner's 'sent' row (the next
 * owner waits the same way; here they would hold the drain to its deadline); those still being
 * recorded when they reach their slot (slot_take, record_sent). What is at a bureau finishes,
 * and the drain waits for it.
 */
/* A job idle until something frees it — a bureau slot, or its next re-read of another owner's
 * row (a parked job in the timer list has no database work in flight: run_timers takes it out
 * before the re-read) — which can be given up at once. */
static bool idle_waiting(const job *j)
{
    return j->in_queue || (j->state == JS_WAITING && j->in_timers);
}

/* Whether j is a redelivery parked behind its request's owner (job_admit). */
static bool parked_behind_owner(pl_engine *e, const job *j)
{
    if (j->admitted)
        return false;
    job *owner = hash_find(e, j->pub.req.request_id);
    for (const job *w = owner ? owner->waiters : NULL; w; w = w->wnext)
        if (w == j)
            return true;
    return false;
}

static void leave_partitions(pl_engine *e, const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = 0;
    for (job *j = e->live; j; j = j->next) {
        if (on_partitions(j, parts)) {
            j->leaving = true;
            j->leave_parked = parked_behind_owner(e, j);
            n += idle_waiting(j) || j->leave_parked;
        }
    }
    if (n == 0)
        return;
    /*
     * Gathered first: the redeliveries of these partitions parked behind an owner (of any
     * partition), then the owners waiting idle. The parked ones are given up before any owner
     * is: given up, an owner admits the redeliveries parked behind it (job_leave), and one of
     * a partition being left would then run here while its next owner runs it too (an invalid
     * one published its invalid reply and dead-letter copy twice); parked behind an owner that
     * stays, it would hold the revoke drain until that owner finished. Giving up a parked one
     * frees it alone (it has no waiters of its own: they all park behind the owner), and an
     * owner given up admits only redeliveries of partitions kept, never another of these.
     */
    job **gone = malloc(n * sizeof *gone);
    if (!gone) {
        PL_WARN(NULL, "revoking: out of memory; requests waiting on the partitions are kept");
        return;
    }
    size_t k = 0, parked = 0, queued = 0;
    for (job *j = e->live; j && k < n; j = j->next)
        if (on_partitions(j, parts) && j->leave_parked)
            gone[k++] = j;
    parked = k;
    for (job *j = e->live; j && k < n; j = j->next) {
        if (on_partitions(j, parts) && idle_waiting(j)) {
            queued += j->in_queue;
            gone[k++] = j;
        }
    }
    for (size_t i = 0; i < parked; i++)
        job_abandon(gone[i]);
    for (size_t i = parked; i < k; i++)
        job_leave(gone[i]);
    free(gone);
    PL_INFO(NULL,
            "revoking: %zu request(s) waiting for a bureau slot, %zu for another owner and %zu "
            "redelivery(ies) parked behind another copy left for the partitions' next owner",
            queued, k - parked - queued, parked);
}

/* Partitions given up without a commit (lost, or a rebalance error): one whose explicit commit
 * was not settled may leave the group's committed offset above its position, said at error
 * with the command. */
static void say_unsettled(pl_engine *e, const rd_kafka_topic_partition_list_t *parts,
                          const char *why)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        int64_t pos = pl_offsets_position(e->offsets, p);
        if (pos >= 0 && pl_offsets_commit_unsettled(e->offsets, p))
            say_reset(e, p, pos, why);
    }
}

/* How long a deferred revoke failure (revoke_failed) waits for librdkafka's own commit of its
 * position on unassign, by the clock (now_s). */
#define REVOKE_DEFERRED_S 10.0

/* Keeps `partition`'s position `pos` (e->revoked_at) until it is assigned again. */
static void keep_revoked_at(pl_engine *e, const char *topic, int32_t partition, int64_t pos)
{
    if (pos < 0)
        return;
    if (!e->revoked_at)
        e->revoked_at = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_t *r =
        rd_kafka_topic_partition_list_find(e->revoked_at, topic, partition);
    if (!r)
        r = rd_kafka_topic_partition_list_add(e->revoked_at, topic, partition);
    r->offset = pos;
}

/*
 * What librdkafka's own commit on unassign (`own`, its error) of a revoked partition's position
 * `pos` decides, the revoke's commit of it having failed (`pe`) with its explicit commit
 * unsettled: committed, the group's offset is the position (said at info); failed too, nothing
 * committed it (said at error, with the command).
 */
static void unassign_verdict(pl_engine *e, const char *topic, int32_t partition, int64_t pos,
                             rd_kafka_resp_err_t pe, rd_kafka_resp_err_t own)
{
    keep_revoked_at(e, topic, partition, pos);
    if (!own) {
        /* Committed, as a revoke's commit that succeeded (revoke_result): an earlier explicit
         * commit's failure told after it is moot (on_committed). */
        if (!e->revoke_ok)
            e->revoke_ok = rd_kafka_topic_partition_list_new(4);
        if (!rd_kafka_topic_partition_list_find(e->revoke_ok, topic, partition))
            rd_kafka_topic_partition_list_add(e->revoke_ok, topic, partition);
        PL_INFO(NULL,
                "partition %d of %s: committing offset %" PRId64 " on revoke failed (%s), but "
                "librdkafka's own commit of it on unassign succeeded: the group's committed "
                "offset is the position",
                (int)partition, topic, pos, rd_kafka_err2str(pe));
        return;
    }
    char why[192];
    snprintf(why, sizeof why,
             "committing its position on revoke failed (%s), and librdkafka's own commit of it "
             "on unassign failed too (%s)",
             rd_kafka_err2str(pe), rd_kafka_err2str(own));
    say_reset(e, partition, pos, why);
}

/* Says at error a deferred revoke failure (e->revoke_deferred's element i, removed) whose
 * librdkafka commit on unassign was not told `when`. */
static void say_deferred(pl_engine *e, int i, const char *when)
{
    const rd_kafka_topic_partition_t *d = &e->revoke_deferred->elems[i];
    char why[224];
    snprintf(why, sizeof why,
             "committing its position on revoke failed (%s), and librdkafka's own commit of it on "
             "unassign was not told %s",
             rd_kafka_err2str(d->err), when);
    say_reset(e, d->partition, d->offset, why);
    rd_kafka_topic_partition_list_del_by_idx(e->revoke_deferred, i);
}

/*
 * A revoke's commit of `tp`'s position (tp->offset) failed (`pe`) with the partition's explicit
 * commit unsettled: the group's committed offset may be above the position. But librdkafka
 * 2.0.2, unassigning a partition (auto commit on, the assignment not lost), commits its stored
 * offset as it is, below the offset it holds as committed too (rd_kafka_assignment_serve_removals),
 * and the engine stores every position: that commit, sent right after the rebalance callback,
 * commits the same offset. So what is said waits for its result (on_unassign_committed; told
 * already when the close served it first: e->unassign_told): the error, with the command, only
 * when it failed too, or was never told (revoke_deferred_due: REVOKE_DEFERRED_S after, when
 * the partition is assigned again, at the close). With a consumer that does not tell them
 * (!e->own_commits_told), said at once. Before, the error was said at once, though the group
 * was at the position a moment later.
 */
static void revoke_failed(pl_engine *e, const rd_kafka_topic_partition_t *tp,
                          rd_kafka_resp_err_t pe)
{
    rd_kafka_topic_partition_t *own = plist_find(e->unassign_told, tp->topic, tp->partition);
    if (own) {
        bool same = own->offset == tp->offset;
        rd_kafka_resp_err_t oe = own->err;
        rd_kafka_topic_partition_list_del(e->unassign_told, tp->topic, tp->partition);
        if (same) {
            unassign_verdict(e, tp->topic, tp->partition, tp->offset, pe, oe);
            return;
        }
    }
    if (!e->own_commits_told) {
        char why[128];
        snprintf(why, sizeof why, "committing its position on revoke failed (%s)",
                 rd_kafka_err2str(pe));
        say_reset(e, tp->partition, tp->offset, why);
        return;
    }
    if (!e->revoke_deferred)
        e->revoke_deferred = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_t *d =
        rd_kafka_topic_partition_list_find(e->revoke_deferred, tp->topic, tp->partition);
    if (!d)
        d = rd_kafka_topic_partition_list_add(e->revoke_deferred, tp->topic, tp->partition);
    d->offset = tp->offset;
    d->err = pe;
    elem_time_set(d, now_s() + REVOKE_DEFERRED_S); /* its deadline */
    PL_INFO(NULL,
            "partition %d of %s: committing offset %" PRId64 " on revoke failed (%s): "
            "librdkafka's own commit of it on unassign decides whether it is committed",
            (int)tp->partition, tp->topic, tp->offset, rd_kafka_err2str(pe));
}

/*
 * Says at warn a failed result of a commit librdkafka made by itself (`what`: the partitions,
 * offsets and errors) that nothing else says: with an offset commit callback set, librdkafka
 * no longer logs its own COMMITFAIL warnings ("Offset commit (cgrp auto commit timer) failed",
 * "(unassigned partitions) failed"). Not each one: the 1st, 10th, 100th... and at least once an
 * hour while they go on (SAY_AGAIN_S), with the count (a broker away fails the automatic commit
 * every auto.commit.interval.ms).
 */
static void own_commit_failed(pl_engine *e, const char *what)
{
    uint64_t n = ++e->own_fails;
    if (!pl_log_again_due(n, &e->own_fails_said, now_s(), SAY_AGAIN_S))
        return;
    PL_WARN(NULL,
            "kafka: librdkafka's own offset commit failed: %s (%" PRIu64
            " such failure(s) so far; said again at ten times as many, or in an hour)",
            what, n);
}

/* Whether a result of librdkafka's own commit names a partition still assigned: then it is an
 * automatic commit (its list is the whole assignment), not the commit on unassign (the
 * partitions unassigned only). */
static bool own_commit_automatic(const pl_engine *e, const rd_kafka_topic_partition_list_t *offsets)
{
    for (int i = 0; offsets && i < offsets->cnt; i++)
        if (plist_find(e->assigned, offsets->elems[i].topic, offsets->elems[i].partition))
            return true;
    return false;
}

/* Keeps librdkafka's own result `pe` of the offset a revoke's unsettled commit names, for that
 * commit's result to decide with (revoke_failed). */
static void unassign_told_keep(pl_engine *e, const rd_kafka_topic_partition_t *tp,
                               rd_kafka_resp_err_t pe)
{
    if (!e->unassign_told)
        e->unassign_told = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_t *t =
        rd_kafka_topic_partition_list_find(e->unassign_told, tp->topic, tp->partition);
    if (!t)
        t = rd_kafka_topic_partition_list_add(e->unassign_told, tp->topic, tp->partition);
    t->offset = tp->offset;
    t->err = pe;
}

/*
 * What librdkafka's own result `pe` of partition tp (on_unassign_committed; `automatic`: its
 * automatic commit) says of a revoke: a success above the revoked position, a deferred failure's
 * verdict, an error made moot, or a result kept for a revoke's commit still to be told. True
 * when it has been said here whole (nothing more to say of a failure).
 */
static bool own_commit_one(pl_engine *e, const rd_kafka_topic_partition_t *tp,
                           rd_kafka_resp_err_t pe, bool automatic)
{
    const rd_kafka_topic_partition_t *r =
        !pe ? plist_find(e->revoked_at, tp->topic, tp->partition) : NULL;
    /* A success of a partition still assigned is the group's committed offset now: noted, so
     * that one above the position (an old log's commit retried late) makes the revoke's commit
     * due and unsettled at once, not only at the next statistics. */
    if (!pe && tp->offset >= 0 && pl_offsets_position(e->offsets, tp->partition) >= 0)
        pl_offsets_note_committed(e->offsets, tp->partition, tp->offset);
    if (r && tp->offset > r->offset) {
        say_reset_above(e, tp->partition, r->offset, tp->offset, "librdkafka's own commit",
                        "a retry of an earlier commit, landing late");
        return true;
    }
    rd_kafka_topic_partition_t *d = plist_find(e->revoke_deferred, tp->topic, tp->partition);
    if (d) {
        if (d->offset != tp->offset || (pe && automatic))
            return false;
        rd_kafka_resp_err_t revoke_err = d->err;
        rd_kafka_topic_partition_list_del(e->revoke_deferred, tp->topic, tp->partition);
        unassign_verdict(e, tp->topic, tp->partition, tp->offset, revoke_err, pe);
        return pe != 0; /* a failure: said at error, with both failures */
    }
    /* A success of the very offset an error named: that error is moot (said once). */
    if (!pe && say_moot(e, tp->topic, tp->partition, tp->offset, "librdkafka's own commit"))
        return true;
    rd_kafka_topic_partition_t *u = plist_find(e->revoke_unsettled, tp->topic, tp->partition);
    /* (an automatic commit's failure is no verdict here either: on_unassign_committed) */
    if (u && u->offset == tp->offset && !(pe && automatic))
        unassign_told_keep(e, tp, pe);
    return false;
}

/* Appends partition tp's failure `pe` to the list `failed` (fl: its length so far; cut short
 * when long, snprintf stopping at the buffer's end) and counts it. */
static void own_failed_add(char *failed, size_t size, size_t *fl, int *nfailed,
                           const rd_kafka_topic_partition_t *tp, rd_kafka_resp_err_t pe)
{
    if (*fl < size - 1) {
        int w = snprintf(failed + *fl, size - *fl,
                         "%spartition %d of %s at offset %" PRId64 " (%s)", *nfailed ? ", " : "",
                         (int)tp->partition, tp->topic, tp->offset, rd_kafka_err2str(pe));
        if (w > 0)
            *fl += (size_t)w;
    }
    (*nfailed)++;
}

/*
 * The result of a commit librdkafka made by itself (the consumer's offset commit callback,
 * served by rd_kafka_consumer_poll, and during the close by its own polling): its automatic
 * commit, and its commit of the partitions it unassigns. For a partition whose revoke's commit
 * failed (e->revoke_deferred) at the same offset, it decides what is said (unassign_verdict);
 * for one whose revoke's commit is still to be told (e->revoke_unsettled), it is kept for that
 * (e->unassign_told). A success above a revoked partition's position (e->revoked_at) is said at
 * error, with the command: librdkafka 2.0.2 retries an OffsetCommit (after REQUEST_TIMED_OUT,
 * COORDINATOR_LOAD_IN_PROGRESS, UNKNOWN_TOPIC_OR_PART), so an older log's automatic commit can
 * land after the position's commit, and the group stays above it (the very harm the reset
 * command is for; before, it went unsaid). A success at the offset an error with the command was
 * said for (e->revoke_said: a deferral given up for before it came, or decided by a failure)
 * makes that error moot (say_moot). At another offset, or for any other partition, nothing: the
 * engine stores every position, so librdkafka's commit on unassign carries the position itself;
 * one below it is an earlier commit's. Every failure not said at error here is said at warn
 * (own_commit_failed), librdkafka no longer saying it.
 *
 * The callback does not tell which commit a result is (its opaque is the configuration's, the
 * same for all; librdkafka keeps the commit's reason to itself). An automatic commit sent before
 * the revoke and answered after it (the drain polls no consumer) can carry the same offset and
 * fail (REBALANCE_IN_PROGRESS, a coordinator moving), ahead of the commit on unassign. Its list
 * is the whole assignment as it was (rd_kafka_cgrp_offsets_commit copies it), the one on
 * unassign names the partitions unassigned only: a failed result naming a partition still
 * assigned decides no deferral (the commit on unassign is still to come). A revoke of the whole
 * assignment leaves the two alike: the failure decides, said at error, and the success on
 * unassign told after it says the error moot.
 */
static void on_unassign_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    pl_engine *e = opaque;
    char failed[512] = "";
    size_t fl = 0;
    int nfailed = 0;
    bool automatic = own_commit_automatic(e, offsets);
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        rd_kafka_resp_err_t pe = tp->err ? tp->err : err;
        if (own_commit_one(e, tp, pe, automatic) || !pe)
            continue;
        /* A request that failed whole leaves the partitions it had nothing for at a logical
         * offset with no error of their own: nothing of theirs failed. */
        if (!tp->err && tp->offset < 0)
            continue;
        own_failed_add(failed, sizeof failed, &fl, &nfailed, tp, pe);
    }
    /* Nothing to commit (__NO_OFFSET) is no failure. */
    if (!nfailed && err && err != RD_KAFKA_RESP_ERR__NO_OFFSET && (!offsets || !offsets->cnt)) {
        snprintf(failed, sizeof failed, "no partition named (%s)", rd_kafka_err2str(err));
        nfailed++;
    }
    if (nfailed)
        own_commit_failed(e, failed);
}

/*
 * Says the deferred revoke failures (e->revoke_deferred) whose librdkafka commit on unassign was
 * never told, REVOKE_DEFERRED_S after the failure by the clock (`now`: now_s(), looked at once
 * an event loop turn, loop_once), not to wait forever: that commit had nothing to send (no
 * offset stored), or went nowhere. It is sent right after the revoke's rebalance callback, one
 * round trip; an error said later would be said the longer while the partition's next owner
 * reads on from the wrong offset. Not by the statistics (before: the second after), which can
 * be slowed or off (PAYLINK_RDKAFKA_STATISTICS_INTERVAL_MS) and stop with the consumer not
 * polled. Also said when the partition is assigned to this consumer again (`parts`: librdkafka
 * 2.0.2 finishes an unassignment, and so assigns anew, only once its commits are answered,
 * rd_kafka_assignment_serve: not told by then, it made none; and this consumer reads the
 * partition again from the group's offset) and at the close (`closing`: say_close_leftovers).
 *
 * The errors said for partitions no longer tracked (e->revoke_said) are forgotten here too: those
 * of the partitions assigned again (this consumer commits them anew), and, by the clock, those
 * said REVOKE_SAID_KEEP_S ago.
 */
static void revoke_deferred_due(pl_engine *e, const rd_kafka_topic_partition_list_t *parts,
                                double now, bool closing)
{
    for (int i = e->revoke_deferred ? e->revoke_deferred->cnt - 1 : -1; i >= 0; i--) {
        rd_kafka_topic_partition_t *d = &e->revoke_deferred->elems[i];
        if (parts) {
            if (rd_kafka_topic_partition_list_find(parts, d->topic, d->partition))
                say_deferred(e, i, "before the partition was assigned to this consumer again");
        } else if (closing) {
            say_deferred(e, i, "before the consumer's close ended");
        } else if (now >= elem_time(d)) {
            char when[48];
            snprintf(when, sizeof when, "within %.0f s", REVOKE_DEFERRED_S);
            say_deferred(e, i, when);
        }
    }
    /* (after those: an error said above for a partition assigned again is forgotten at once) */
    for (int i = e->revoke_said && !closing ? e->revoke_said->cnt - 1 : -1; i >= 0; i--) {
        const rd_kafka_topic_partition_t *s = &e->revoke_said->elems[i];
        if (parts ? rd_kafka_topic_partition_list_find(parts, s->topic, s->partition) != NULL
                  : now >= elem_time(s) + REVOKE_SAID_KEEP_S)
            rd_kafka_topic_partition_list_del_by_idx(e->revoke_said, i);
    }
}

/*
 * The result of a revoke's commit (commit_on_revoke), per partition: one committed is noted
 * (e->revoke_ok: an earlier explicit commit's failure told after it is moot); one that failed is
 * said at error, with the command, when the group's committed offset may be above its position
 * (its explicit commit not settled when the revoke began: for a stop's commit, told once the
 * partition is forgotten, e->revoke_unsettled says) and librdkafka's own commit of it on
 * unassign did not commit it (revoke_failed), else at warn (the group's offset is then
 * below the position: the next owner reads some records again, answered from their rows).
 */
static void revoke_result(pl_engine *e, rd_kafka_resp_err_t err,
                          const rd_kafka_topic_partition_list_t *offsets)
{
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        rd_kafka_resp_err_t pe = tp->err ? tp->err : err;
        bool was_unsettled =
            e->revoke_unsettled &&
            rd_kafka_topic_partition_list_del(e->revoke_unsettled, tp->topic, tp->partition);
        if (!pe) {
            /* librdkafka's own commit of it, told first (the close), is moot. */
            if (e->unassign_told)
                rd_kafka_topic_partition_list_del(e->unassign_told, tp->topic, tp->partition);
            if (!e->revoke_ok)
                e->revoke_ok = rd_kafka_topic_partition_list_new(offsets->cnt);
            if (!rd_kafka_topic_partition_list_find(e->revoke_ok, tp->topic, tp->partition))
                rd_kafka_topic_partition_list_add(e->revoke_ok, tp->topic, tp->partition);
            continue;
        }
        if (e->revoke_ok)
            rd_kafka_topic_partition_list_del(e->revoke_ok, tp->topic, tp->partition);
        bool unsettled = pl_offsets_position(e->offsets, tp->partition) >= 0
                             ? pl_offsets_commit_unsettled(e->offsets, tp->partition)
                             : was_unsettled;
        if (!unsettled) {
            if (e->unassign_told)
                rd_kafka_topic_partition_list_del(e->unassign_told, tp->topic, tp->partition);
            PL_WARN(NULL,
                    "partition %d of %s: committing offset %" PRId64 " on revoke failed (%s): "
                    "its next owner reads on from the group's committed offset, below it "
                    "(requests read again are answered from their rows)",
                    (int)tp->partition, tp->topic, tp->offset, rd_kafka_err2str(pe));
            continue;
        }
        revoke_failed(e, tp, pe); /* it reads e->unassign_told */
    }
}

/*
 * A revoke's commit's result served from e->commitq (or at once, with no queue). The results
 * come in the order the commits went, so the nth told is the nth sent: one commit_on_revoke
 * stopped waiting for (e->revoke_gave_up, told there as failed) comes late, and only says what
 * it was, at warn (a success: an error said for it then is moot).
 */
static void on_revoke_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    pl_engine *e = opaque;
    if (++e->revoke_told > e->revoke_gave_up) {
        revoke_result(e, err, offsets);
        return;
    }
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        rd_kafka_resp_err_t pe = tp->err ? tp->err : err;
        /* Committed: a failure told as a timeout and still waiting for librdkafka's own commit
         * on unassign (revoke_failed) is settled. */
        const rd_kafka_topic_partition_t *d =
            !pe ? plist_find(e->revoke_deferred, tp->topic, tp->partition) : NULL;
        if (d && d->offset == tp->offset)
            rd_kafka_topic_partition_list_del(e->revoke_deferred, tp->topic, tp->partition);
        /* A success says the error said for it moot itself (not again: say_moot), by the same
         * test: an error of a commit landing above the position, told before this, stands (this
         * commit may have landed before that one: say_reset_above). */
        const rd_kafka_topic_partition_t *s =
            !pe ? plist_find(e->revoke_said, tp->topic, tp->partition) : NULL;
        bool stands = s && !said_mootable(e, tp->topic, tp->partition, tp->offset);
        if (s && !stands)
            rd_kafka_topic_partition_list_del(e->revoke_said, tp->topic, tp->partition);
        char after[160] = "";
        if (stands)
            snprintf(after, sizeof after,
                     " (the error said for it, resetting to offset %" PRId64 ", stands)",
                     s->offset);
        else if (!pe)
            snprintf(after, sizeof after, " (an error said for it then is moot)");
        PL_WARN(NULL,
                "partition %d of %s: committing offset %" PRId64 " on revoke %s%s after the "
                "revoke stopped waiting for it%s",
                (int)tp->partition, tp->topic, tp->offset, pe ? "failed: " : "succeeded",
                pe ? rd_kafka_err2str(pe) : "", after);
    }
}

/* Keeps a revoked partition whose explicit commit is unsettled, with its position `pos`, in
 * e->revoke_unsettled: the result of the revoke's commit of it, told later (once the partition
 * is forgotten), decides what is said (revoke_result, on_committed, say_close_leftovers). */
static void keep_unsettled(pl_engine *e, const char *topic, int32_t partition, int64_t pos)
{
    if (!pl_offsets_commit_unsettled(e->offsets, partition))
        return;
    if (!e->revoke_unsettled)
        e->revoke_unsettled = rd_kafka_topic_partition_list_new(4);
    if (!rd_kafka_topic_partition_list_find(e->revoke_unsettled, topic, partition))
        rd_kafka_topic_partition_list_add(e->revoke_unsettled, topic, partition)->offset = pos;
}

/* How long a revoke waits at most for its commit's result (commit_on_revoke). */
#ifndef REVOKE_COMMIT_WAIT_MS
#define REVOKE_COMMIT_WAIT_MS 10000
#endif

/*
 * Commits the position of each partition being revoked explicitly, in one request, after the
 * drain: librdkafka's own commit (rd_kafka_commit without offsets, as here before) leaves out a
 * stored offset below the one it holds as committed, and an explicit commit of a position gone
 * back may still be out or have failed, its result not told yet (the revoke drain polls no
 * consumer; the partition is forgotten next). The results of earlier explicit commits that came
 * are told first, so that each partition is known settled or not. Only the partitions with
 * something to commit go (pl_offsets_commit_due: a position not the committed offset last
 * noted, or an explicit commit owed or out), none with no position (nothing done in this
 * assignment): with nothing new, no round trip, as librdkafka's own commit returned at once.
 * Nothing goes when the assignment was lost during the drain (no commit of this generation is
 * taken: said at error for those unsettled).
 *
 * Asynchronous on e->commitq; the revoke then turns the event loop, as its drain does (the
 * other partitions' work goes on), until its result came (results come in order: earlier
 * explicit commits' first, while their partitions are still tracked), so the partitions' next
 * owner starts where this one stopped, but at most REVOKE_COMMIT_WAIT_MS: a synchronous commit
 * with the broker gone held the engine thread, and every other partition's calls, for the
 * session timeout and more. Not come by then, it is told as failed (said at
 * error for those unsettled), and its result when it comes only said (on_revoke_committed).
 * When the process is stopping, or a stop is asked (`stopping`: stop_asked), not waited for, and
 * a stop asked during the wait ends it: the partitions unsettled are kept (e->revoke_unsettled)
 * for the result, which comes on e->commitq all the same, told when the stop's loop or teardown
 * serves it (the close waits for it), as for a commit made while stopping. Ending the wait loses
 * nothing of the commit: the request is out, and librdkafka finishes the unassignment, and so
 * lets the group give the partitions to their next owner, only once the commits out are
 * answered. Before, a SIGTERM during the wait was acted on only after it, up to
 * REVOKE_COMMIT_WAIT_MS later.
 */
static void commit_on_revoke(pl_engine *e, rd_kafka_t *rk,
                             const rd_kafka_topic_partition_list_t *parts, bool stopping)
{
    if (e->commitq)
        rd_kafka_queue_poll_callback(e->commitq, 0);
    if (rd_kafka_assignment_lost(rk)) {
        say_unsettled(e, parts,
                      "the partition was lost (its session timed out) while the revoke drained "
                      "it, before the explicit commit of its position was taken");
        return;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t pos = pl_offsets_position(e->offsets, tp->partition);
        /* Kept until it is assigned again: a late commit above it is said (on_unassign_committed).
         */
        keep_revoked_at(e, tp->topic, tp->partition, pos);
        if (!pl_offsets_commit_due(e->offsets, tp->partition))
            continue;
        rd_kafka_topic_partition_list_add(l, tp->topic, tp->partition)->offset = pos;
        if (stopping)
            keep_unsettled(e, tp->topic, tp->partition, pos);
    }
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    uint64_t seq = ++e->revoke_sent;
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk, l, e->commitq, on_revoke_committed, e);
    /* With a queue, one not sent has no result: told as failed here. (With none, librdkafka
     * commits synchronously and has told it already.) */
    if (err && e->commitq) {
        e->revoke_sent--;
        revoke_result(e, err, l);
    } else if (!stopping && e->commitq) {
        /* Turning the event loop as the revoke drain does (loop_once without consuming serves
         * e->commitq at each turn, and polls no consumer: nothing there comes back into this
         * callback), so that the partitions kept go on meanwhile: their calls' answers are
         * read, their database work and timers run. Before, only the commit queue was polled:
         * for up to REVOKE_COMMIT_WAIT_MS nothing else ran, and a call whose answer waited
         * unread ended as a timeout when its own wait passed, an outcome left unknown. */
        double deadline = now_s() + REVOKE_COMMIT_WAIT_MS / 1000.0;
        bool stop = false;
        for (double left;;) {
            rd_kafka_queue_poll_callback(e->commitq, 0);
            if (e->revoke_told >= seq || (left = deadline - now_s()) <= 0 || (stop = stop_asked(e)))
                break;
            loop_once(e, left < 0.05 ? (int)(left * 1000) + 1 : 50, false);
        }
        if (e->revoke_told < seq && stop) {
            /* Its result decides, when it comes (revoke_result), for the partitions whose
             * explicit commit is unsettled now, as for a commit made while stopping. */
            for (int i = 0; i < l->cnt; i++)
                keep_unsettled(e, l->elems[i].topic, l->elems[i].partition, l->elems[i].offset);
            PL_INFO(NULL,
                    "committing %d revoked partition(s)' positions: a stop is asked; its answer "
                    "is told when it comes, not waited for here",
                    l->cnt);
        } else if (e->revoke_told < seq) {
            e->revoke_gave_up = seq;
            char why[96];
            snprintf(why, sizeof why, "no answer within %d ms", REVOKE_COMMIT_WAIT_MS);
            PL_WARN(NULL, "committing %d revoked partition(s)' positions: %s", l->cnt, why);
            revoke_result(e, RD_KAFKA_RESP_ERR__TIMED_OUT, l);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Partitions this consumer no longer owns: their offsets are forgotten (the jobs still running
 * on them finish but can no longer move a commit) and their backlog is dropped (the new owner
 * re-reads it). */
static void forget_partitions(pl_engine *e, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        pl_offsets_forget(e->offsets, parts->elems[i].partition);
        rd_kafka_topic_partition_list_del(e->assigned, parts->elems[i].topic,
                                          parts->elems[i].partition);
    }
    for (job *j = e->live; j; j = j->next)
        if (!partition_assigned(e, j->partition))
            j->tracked = false;
    backlog_prune(e, false);
}

/* When a revoke drain starting at `now` gives up: PAYLINK_DRAIN_TIMEOUT_MS later, but never
 * after the stop's own deadline when the process is stopping (the consumer's close revokes
 * every partition after the stop's drain has waited already: a second full drain made a stop
 * take twice the timeout, past what an orchestrator allows before it kills). */
static double revoke_deadline(const pl_engine *e, double now)
{
    double deadline = now + e->cfg.drain_timeout_ms / 1000.0;
    return e->stopping && e->stop_deadline < deadline ? e->stop_deadline : deadline;
}

/* When the stop's drain gives up: PAYLINK_DRAIN_TIMEOUT_MS after now, or after the start of the
 * revoke drain during which the stop was asked (a SIGTERM during a rolling deploy's rebalance),
 * so that the two drains together take one drain's time, within the stop's grace period. */
static double stop_drain_deadline(const pl_engine *e, double now)
{
    return (e->stop_drain_from > 0 ? e->stop_drain_from : now) + e->cfg.drain_timeout_ms / 1000.0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    pl_engine *e = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    /*
     * A rebalance is under way: no explicit commit of a position gone back until statistics
     * tell the group steady again (position_store, commit_check_stats). Not when this
     * assignment completes, though librdkafka's own join state turns steady then: after a
     * revoke, librdkafka 2.0.2 calls this for the assignment that follows it (perhaps empty),
     * steady for a moment, and then joins the group again for the rebalance's second round
     * (cooperative-sticky), and this callback cannot tell that assignment from a final one.
     * The statistics tell librdkafka's join state as it is when made, and come through the
     * consumer's queue after the callbacks queued before them. Before, only the statistics
     * marked a rebalance, up to 5 s after it began (the going-back commit then went during it).
     */
    e->group_unsteady = true;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        PL_INFO(NULL, "assigned %d partition(s)", parts->cnt);
        pl_kafka_stalls_forget(e->stalls, parts);
        rd_kafka_error_t *er = rd_kafka_incremental_assign(rk, parts);
        if (er) {
            PL_ERROR(NULL, "incremental assign failed: %s", rd_kafka_error_string(er));
            rd_kafka_error_destroy(er);
        }
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_list_add(e->assigned, parts->elems[i].topic,
                                              parts->elems[i].partition);
            if (e->revoke_ok)
                rd_kafka_topic_partition_list_del(e->revoke_ok, parts->elems[i].topic,
                                                  parts->elems[i].partition);
            if (e->revoke_unsettled)
                rd_kafka_topic_partition_list_del(e->revoke_unsettled, parts->elems[i].topic,
                                                  parts->elems[i].partition);
            if (e->unassign_told)
                rd_kafka_topic_partition_list_del(e->unassign_told, parts->elems[i].topic,
                                                  parts->elems[i].partition);
            if (e->revoked_at)
                rd_kafka_topic_partition_list_del(e->revoked_at, parts->elems[i].topic,
                                                  parts->elems[i].partition);
        }
        revoke_deferred_due(e, parts, 0, false);
        /* librdkafka keeps a partition's pause across a revoke and a later assignment (its
         * issue #1849): one revoked while the worker was paused, and assigned back once it no
         * longer was, would stay paused for good. So an assignment always says which. */
        if (e->paused)
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        bool lost = rd_kafka_assignment_lost(rk);
        PL_INFO(NULL, "revoking %d partition(s)%s", parts->cnt, lost ? " (lost)" : "");
        leave_partitions(e, parts);
        token_waits_given_back(e, parts);
        if (!lost) {
            /* Finish what is in flight for these partitions so their new owner does not
             * find half-done requests (which would become required responses). */
            double since = now_s(), deadline = revoke_deadline(e, since);
            e->draining = true;
            while (jobs_on(e, parts) > 0 && now_s() < deadline) {
                loop_once(e, 50, false);
                if (g_stop && !e->stopping && e->stop_drain_from == 0)
                    e->stop_drain_from = since;
            }
            e->draining = false;
            commit_on_revoke(e, rk, parts, stop_asked(e));
        } else {
            say_unsettled(e, parts,
                          "the partition was lost (its session timed out) before the explicit "
                          "commit of its position was taken");
        }
        forget_partitions(e, parts);
        rd_kafka_error_t *er = rd_kafka_incremental_unassign(rk, parts);
        if (er) {
            PL_ERROR(NULL, "incremental unassign failed: %s", rd_kafka_error_string(er));
            rd_kafka_error_destroy(er);
        }
        return;
    }
    /* Anything else: give up the whole assignment, with the API of the assignment protocol in
     * use (the eager rd_kafka_assign is an error under cooperative-sticky), and forget every
     * partition's offsets, so nothing is committed for partitions this consumer lost. */
    PL_ERROR(NULL, "rebalance error: %s; giving up the whole assignment", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_copy(e->assigned);
    leave_partitions(e, all);
    token_waits_given_back(e, all);
    say_unsettled(e, all,
                  "the assignment was given up (a rebalance error) before the explicit commit "
                  "of its position was taken");
    forget_partitions(e, all);
    if (cooperative) {
        rd_kafka_error_t *er = rd_kafka_incremental_unassign(rk, all);
        if (er) {
            PL_ERROR(NULL, "incremental unassign failed: %s", rd_kafka_error_string(er));
            rd_kafka_error_destroy(er);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
    rd_kafka_topic_partition_list_destroy(all);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    pl_engine *e = opaque;
    /* Parsed once for the lag, the stalls and the commit check (before, the commit check parsed
     * it a second time). */
    json_object *root = json_tokener_parse(json);
    e->lag = pl_kafka_stats_read_parsed(root, e->t_request, e->stalls, e->assigned, now_s());
    e->stats_fresh = true;
    commit_check_stats(e, root);
    json_object_put(root);
    return 0;
}

/*
 * Joins the group again when an assigned partition has not been fetched for
 * PAYLINK_KAFKA_STALL_MS (kafka.h, pl_kafka_stalls: librdkafka left it without a position
 * after a failed read of its committed offset, and would never fetch it; a CI run's
 * paylink-deposit consumed nothing for four minutes after a broker restart, until it was
 * restarted). pl_kafka_resubscribe: every partition is revoked through on_rebalance (what is
 * in flight is drained and committed, as at any rebalance), then assigned anew and read from
 * its committed offset.
 */
static void refetch_stalled(pl_engine *e)
{
    if (e->cfg.fetch_stall_ms <= 0)
        return;
    if (e->resubscribe) { /* the last subscribe failed: the consumer has no subscription */
        char err[256];
        if (pl_kafka_subscribe(e->consumer, e->t_request, err, sizeof err) == 0)
            e->resubscribe = false;
        else
            PL_ERROR(NULL, "joining the group again failed: %s; trying again", err);
        return;
    }
    if (!e->assigned || e->assigned->cnt == 0)
        return;
    double now = now_s();
    char names[256] = "";
    size_t at = 0;
    int n = 0;
    for (int i = 0; i < e->assigned->cnt; i++) {
        int32_t p = e->assigned->elems[i].partition;
        if (!pl_kafka_stalls_due(e->stalls, p, now, e->cfg.fetch_stall_ms / 1000.0))
            continue;
        n++;
        if (at < sizeof names) {
            int k = snprintf(names + at, sizeof names - at, "%s%d", at ? ", " : "", (int)p);
            at += k > 0 ? (size_t)k : 0;
        }
    }
    if (n == 0)
        return;
    PL_WARN(NULL,
            "partition(s) %s of %s assigned and not fetched for %g s (librdkafka has not "
            "started fetching them): leaving the group and joining it again",
            names, e->t_request, e->cfg.fetch_stall_ms / 1000.0);
    pl_kafka_stalls_forget(e->stalls, e->assigned);
    int rc = pl_kafka_resubscribe(e->consumer, e->t_request);
    if (rc == -2)
        e->resubscribe = true;
    if (rc != -1)
        pl_counter_add(e->m_refetches, 1);
}

/*
 * What the consumer returned: a request, or a record that could not be read (unreadable_record,
 * dead-lettered in its turn), goes to the backlog, in Kafka order with the others (their offsets
 * are tracked in that order); one taken while stopping is dropped, to be delivered again after
 * the restart; any other consumer event is logged (but the end of a partition) and destroyed.
 */
static void consumed(pl_engine *e, rd_kafka_message_t *m)
{
    if (m->err && !unreadable_record(e, m)) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            PL_WARN(NULL, "consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    if (e->stopping) {
        drop_message(m); /* not started: redelivered after restart */
        return;
    }
    backlog_push(e, m);
}

/* How long the backlog may stay full, its partitions still fetched, before they are paused. */
#define BACKLOG_FULL_PAUSE_S 2.0

/*
 * Back-pressure. At most max_in_flight requests are processed at once; messages consumed beyond
 * that wait in the backlog (2 × max_in_flight). While the backlog is full, nothing more is taken
 * from librdkafka, which goes on fetching into its own queue up to queued.max.messages.kbytes
 * (kafka.c): the next requests are there the moment a request starts. The partitions are paused
 * only when the backlog stays full, no request starting, for BACKLOG_FULL_PAUSE_S (the database
 * or every bureau is stuck), so that the consumer queue can still be polled for rebalance events
 * without taking more requests; they are resumed once the backlog is half empty.
 *
 * Pausing whenever the backlog filled, as before, cost a busy worker the time librdkafka takes to
 * fetch again after a resume (0.4–0.9 s: its broker thread sees the resume at its next wake-up)
 * at every pause, and starved partitions: a pause drops what was fetched and not consumed, and
 * the fetch after a resume starts over in assignment order, so under sustained load the first
 * partitions were served again and again (docs/perf/ROUNDS.md, nineteenth round: at K = 2,048,
 * 1,605 /s and a p99 of 9.3 s).
 */
static void consume(pl_engine *e)
{
    size_t cap = 2 * (size_t)e->cfg.max_in_flight;
    /* Room at the start means requests started since the last turn: the backlog moves. */
    bool moved = e->b_len < cap;
    for (int n = 0; n < 1000 && e->b_len < cap; n++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, 0);
        if (!m)
            break;
        consumed(e, m);
    }
    if (e->b_len < cap) {
        e->full_since = 0;
        /* A stopping worker stays paused: it takes nothing new (what it would fetch is dropped,
         * to be fetched again by the partitions' next owner). */
        if (e->paused && e->b_len < cap / 2 && !e->stopping)
            set_paused(e, false);
        return;
    }
    double now = now_s();
    if (moved || e->full_since == 0)
        e->full_since = now;
    if (!e->paused && now - e->full_since >= BACKLOG_FULL_PAUSE_S) {
        set_paused(e, true);
        pl_counter_add(e->m_pauses, 1);
        PL_INFO(NULL,
                "the backlog has been full for %.0f s (%zu requests in flight): partitions "
                "paused until it is half empty",
                now - e->full_since, e->n_live);
    }
    if (e->paused) {
        /* Rebalance events must still be served while paused. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, 0);
        if (m)
            consumed(e, m);
    }
}

static void start_backlog(pl_engine *e)
{
    while (e->b_len && e->n_live < (size_t)e->cfg.max_in_flight) {
        rd_kafka_message_t *m = backlog_pop(e);
        start_message(e, m);
    }
}

static void drain_pipe(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

static void refresh_take(pl_engine *e);

/* One turn: consume (unless draining), start work, flush the DB batch, wait, dispatch. */
static void loop_once(pl_engine *e, int timeout_ms, bool allow_consume)
{
    if (allow_consume && !e->draining && !e->fatal) {
        consume(e);
        /* Nothing new once a stop is asked (g_stop), though the loop that sets `stopping` has
         * not seen it yet: a SIGTERM during a revoke drain (in consume) left the stop's own
         * drain no time, and what started here was cut at the bureau. */
        if (!e->stopping && !g_stop)
            start_backlog(e);
        if (e->stats_fresh && !e->stopping && !g_stop) {
            e->stats_fresh = false;
            refetch_stalled(e);
        }
    }
    pl_db_flush(e->db);
    /* The results of explicit commits, also during a revoke drain (no consume then). */
    if (e->commitq)
        rd_kafka_queue_poll_callback(e->commitq, 0);
    if ((e->retries || e->timers || e->n_unrecorded) && timeout_ms > 50)
        timeout_ms = 50;
    /* A unit held for a conflict's back-off goes at the first flush after it is due. */
    int db_due = pl_db_timeout_ms(e->db);
    if (db_due >= 0 && (timeout_ms < 0 || db_due < timeout_ms))
        timeout_ms = db_due;
    struct pollfd fds[4] = {
        {.fd = e->cpipe[0], .events = POLLIN},
        {.fd = e->ppipe[0], .events = POLLIN},
        {.fd = e->rpipe[0], .events = POLLIN},
        {.fd = pl_db_fd(e->db), .events = pl_db_events(e->db)},
    };
    unsigned nfds = fds[3].fd >= 0 ? 4 : 3;
    /* The turn's held log lines, in one write, before the loop may block (pl_log_hold). */
    pl_log_flush();
    if (pl_http_wait(e->http, fds, nfds, timeout_ms) != 0)
        PL_WARN(NULL, "http wait failed");
    uint64_t requested, ok, failed;
    pl_oauth_stats(e->oauth, &requested, &ok, &failed);
    pl_counter_add(e->m_oauth_ok, ok - e->oauth_ok_seen);
    pl_counter_add(e->m_oauth_failed, failed - e->oauth_failed_seen);
    e->oauth_ok_seen = ok;
    e->oauth_failed_seen = failed;
    pl_db_counts dc = pl_db_get_counts(e->db);
    pl_counter_add(e->m_db_statements, dc.statements - e->db_seen.statements);
    pl_counter_add(e->m_db_merged, dc.merged_executions - e->db_seen.merged_executions);
    e->db_seen = dc;
    pl_http_counts hc;
    pl_http_stats(e->http, &hc);
    pl_counter_add(e->m_conn_full, hc.tls_full - e->http_seen.tls_full);
    pl_counter_add(e->m_conn_resumed, hc.tls_resumed - e->http_seen.tls_resumed);
    e->http_seen = hc;
    if (fds[0].revents)
        drain_pipe(e->cpipe[0]);
    if (fds[1].revents)
        drain_pipe(e->ppipe[0]);
    if (fds[2].revents) {
        drain_pipe(e->rpipe[0]);
        refresh_take(e);
    }
    rd_kafka_poll(e->producer, 0);
    pl_db_on_ready(e->db, nfds == 4 ? fds[3].revents : 0);
    run_retries(e);
    run_timers(e);
    record_overdue(e);
    double now = now_s();
    revoke_deferred_due(e, NULL, now, false);
    slot_check_stalls(e, now);
    sweep_overdue(e, now);
    pl_gauge_set(e->m_config_age, now - e->config_at);
    if (g_dump) {
        g_dump = 0;
        dump_live(e, now);
    }
    /* A turn lasts at most a tick plus one batch of work; a minute without one is a hang
     * (a revoke drain beats too, since it turns this same loop). */
    pl_metrics_heartbeat(e->metrics, 60000);
    pl_gauge_set(e->m_in_flight, (double)e->n_live);
    pl_gauge_set(e->m_backlog, (double)e->b_len);
    pl_gauge_set(e->m_lag, (double)(e->lag < 0 ? 0 : e->lag));
    bool ready = pl_db_connected(e->db);
    if (ready != e->ready) {
        e->ready = ready;
        pl_metrics_set_ready(e->metrics, ready, ready ? NULL : "database disconnected");
    }
}

/* ---- configuration refresh (its own thread) ---- */

static void *refresher_main(void *arg)
{
    refresher *r = arg;
    PGconn *c = NULL;
    char app[64];
    snprintf(app, sizeof app, "paylink-%s-refresh", r->worker);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += r->interval_s;
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT) {
        }
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->mu);

        if (!c || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = pl_db_connect_named(r->conninfo, app, 10);
        }
        pl_services *fresh = NULL;
        double rr = -1, oldest = -1;
        if (PQstatus(c) != CONNECTION_OK) {
            PL_WARN(NULL, "configuration refresh: cannot connect: %s", PQerrorMessage(c));
        } else {
            char err[512];
            fresh = pl_services_load(c, err, sizeof err);
            if (!fresh)
                PL_WARN(NULL, "configuration refresh failed: %s", err);
            const char *p[] = {r->worker};
            PGresult *res = PQexecParams(
                c,
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                "FROM required_response WHERE status IN ('open', 'escalated') AND worker = $1",
                1, NULL, p, NULL, NULL, 0);
            if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
                rr = strtod(PQgetvalue(res, 0, 0), NULL);
                oldest = strtod(PQgetvalue(res, 0, 1), NULL);
            }
            PQclear(res);
        }

        pthread_mutex_lock(&r->mu);
        if (fresh) {
            if (r->fresh)
                pl_services_unref(r->fresh);
            r->fresh = fresh;
        }
        if (rr >= 0) {
            r->rr_open = rr;
            r->rr_oldest_s = oldest;
        }
        if (write(r->wake_fd, "r", 1) < 0) {
            /* The pipe is full: the loop has a wake-up pending already. */
        }
    }
    pthread_mutex_unlock(&r->mu);
    PQfinish(c);
    return NULL;
}

/*
 * Says at info which service bureaus a refresh changed, and which of their settings, so that an
 * operator who changed one knows when each worker has it (pl_services_diff: a secret is named,
 * never shown). Nothing when nothing changed: a refresh a minute is silent.
 */
static void log_changes(const pl_services *was, const pl_services *now)
{
    for (size_t i = 0; i < pl_services_count(now); i++) {
        const pl_service *b = pl_services_at(now, i);
        const pl_service *a = pl_services_find(was, b->code);
        char what[1024]; /* every setting's name fits */
        if (!a)
            PL_INFO(NULL, "configuration refreshed: bureau %s added", b->code);
        else if (pl_services_diff(a, b, what, sizeof what) > 0)
            PL_INFO(NULL, "configuration refreshed: bureau %s: %s changed", b->code, what);
    }
    for (size_t i = 0; i < pl_services_count(was); i++) {
        const pl_service *a = pl_services_at(was, i);
        if (!pl_services_find(now, a->code))
            PL_INFO(NULL, "configuration refreshed: bureau %s removed", a->code);
    }
}

/* On the loop: takes what the refresher loaded. */
static void refresh_take(pl_engine *e)
{
    refresher *r = &e->ref;
    pthread_mutex_lock(&r->mu);
    pl_services *fresh = r->fresh;
    r->fresh = NULL;
    double rr = r->rr_open, oldest = r->rr_oldest_s;
    pthread_mutex_unlock(&r->mu);
    if (fresh) {
        /* A secret reference unchanged but no longer readable keeps the secret read before, and
         * a bureau left unusable is said at warn (pl_services_carry): only here are both the
         * old and the new settings at hand (the refresher thread sees the new only). fresh is
         * this thread's alone until it replaces e->services. */
        pl_services_carry(fresh, e->services);
        log_changes(e->services, fresh);
        pl_services_unref(e->services);
        e->services = fresh;
        e->config_at = now_s();
        /* A cap raised: the requests waiting for a slot go now, not as calls finish. */
        for (size_t i = 0; i < e->nslots; i++)
            slot_start_queued(e, &e->slots[i]);
    }
    if (rr >= 0) {
        pl_gauge_set(e->m_rr_open, rr);
        pl_gauge_set(e->m_rr_oldest, oldest);
    }
}

static int refresher_start(pl_engine *e)
{
    refresher *r = &e->ref;
    r->conninfo = e->cfg.db;
    r->worker = e->spec->worker;
    r->interval_s = e->cfg.refresh_s;
    r->wake_fd = e->rpipe[1];
    r->rr_open = -1;
    r->rr_oldest_s = -1;
    if (pthread_mutex_init(&r->mu, NULL) != 0 || pthread_cond_init(&r->cv, NULL) != 0)
        return PL_ERR_NOMEM;
    if (pthread_create(&r->thread, NULL, refresher_main, r) != 0)
        return PL_ERR_NOMEM;
    r->started = true;
    return 0;
}

/* How long the stop waits for a configuration refresh to end (refresher_stop). */
#define REFRESHER_JOIN_S 5

/*
 * Asks the configuration refresh to stop, without waiting (refresher_stop waits, up to
 * REFRESHER_JOIN_S from here): teardown asks it before it waits for the resolver's pass (up to
 * 5 s too, resolver_run.h), so that with a frozen database the two waits overlap rather than
 * add up within the stop's time (README "Shutdown and rebalances").
 */
static void refresher_ask_stop(pl_engine *e)
{
    refresher *r = &e->ref;
    if (!r->started || r->stop_asked)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    r->stop_asked = true;
    clock_gettime(CLOCK_REALTIME, &r->join_by);
    r->join_by.tv_sec += REFRESHER_JOIN_S;
}

static void refresher_stop(pl_engine *e)
{
    refresher *r = &e->ref;
    if (!r->started)
        return;
    refresher_ask_stop(e);
    /* A refresh stuck on a frozen database must not hold up the shutdown: give it a few
     * seconds, then leave it to the process exit. */
    if (pthread_timedjoin_np(r->thread, NULL, &r->join_by) != 0) {
        PL_WARN(NULL, "configuration refresh still waiting for the database; not joined");
        pthread_detach(r->thread);
        return;
    }
    if (r->fresh)
        pl_services_unref(r->fresh);
    r->fresh = NULL;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    r->started = false;
}

/* ---- set-up and tear-down ---- */

static int make_pipe(int p[2])
{
    if (pipe(p) != 0)
        return PL_ERR_IO;
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

/* The engine's statements and the spec's (e->stmts, NULL-terminated); PL_ERR_INVALID with err
 * filled when the spec has more than e->stmts holds: dropped, each would fail only when first
 * used, on some rare path, as a statement the database does not know. */
static int build_statements(pl_engine *e, char *err, size_t errsz)
{
    const char *t = e->spec->table;
    snprintf(e->sql_lookup, sizeof e->sql_lookup, PL_ENGINE_SQL_LOOKUP, t);
    snprintf(e->sql_unknown, sizeof e->sql_unknown, PL_ENGINE_SQL_UNKNOWN, t);
    snprintf(e->sql_final, sizeof e->sql_final, PL_ENGINE_SQL_FINAL, t);
    snprintf(e->sql_followups, sizeof e->sql_followups, PL_ENGINE_SQL_FOLLOWUPS, t);
    snprintf(e->sql_unmark, sizeof e->sql_unmark, PL_ENGINE_SQL_UNMARK, t);
    size_t n = 0;
    e->stmts[n++] = (pl_db_stmt){"pl_followups", e->sql_followups, 3};
    e->stmts[n++] = (pl_db_stmt){"pl_lookup", e->sql_lookup, 2};
    e->stmts[n++] = (pl_db_stmt){"pl_unknown", e->sql_unknown, 14};
    e->stmts[n++] = (pl_db_stmt){"pl_final", e->sql_final, 7};
    e->stmts[n++] = (pl_db_stmt){"pl_replied", PL_ENGINE_SQL_REPLIED, 2};
    e->stmts[n++] = (pl_db_stmt){"pl_replied_none", PL_ENGINE_SQL_REPLIED_NONE, 2};
    e->stmts[n++] = (pl_db_stmt){"pl_replayed", PL_ENGINE_SQL_REPLAYED, 3};
    e->stmts[n++] = (pl_db_stmt){"pl_unmark", e->sql_unmark, 2};
    if (e->spec->nstmts > sizeof e->stmts / sizeof e->stmts[0] - 1 - n)
        return pl_err_set(PL_ERR_INVALID, err, errsz,
                          "paylink-%s has %zu statements of its own, more than the engine's %zu",
                          e->spec->worker, e->spec->nstmts,
                          sizeof e->stmts / sizeof e->stmts[0] - 1 - n);
    for (size_t i = 0; i < e->spec->nstmts; i++)
        e->stmts[n++] = e->spec->stmts[i];
    e->stmts[n] = (pl_db_stmt){0};
    return 0;
}

static size_t nstatements(const pl_engine *e)
{
    size_t n = 0;
    while (e->stmts[n].name)
        n++;
    return n;
}

static void register_metrics(pl_engine *e)
{
    pl_metrics *m = e->metrics;
    for (size_t i = 0; i < sizeof outcome_names / sizeof outcome_names[0]; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "outcome=%s", outcome_names[i]);
        e->m_requests[i] = pl_metrics_counter(m, "paylink_requests_total",
                                              "Requests finished, by outcome.", labels);
    }
    e->m_retries = pl_metrics_counter(m, "paylink_bureau_retries_total",
                                      "Bureau connection attempts retried.", NULL);
    e->m_required = pl_metrics_counter(m, "paylink_required_responses_total",
                                       "Required responses opened (outcome unknown).", NULL);
    e->m_dlq = pl_metrics_counter(m, "paylink_dead_letters_total",
                                  "Requests copied to the dead-letter topic.", NULL);
    e->m_replayed = pl_metrics_counter(
        m, "paylink_replays_total", "Redelivered requests answered from the stored reply.", NULL);
    e->m_pauses = pl_metrics_counter(
        m, "paylink_consumer_pauses_total",
        "Times the request partitions were paused: the backlog stayed full, nothing starting.",
        NULL);
    e->m_refetches = pl_metrics_counter(
        m, "paylink_consumer_rejoins_total",
        "Times the group was left and joined again: a partition assigned and not fetched for "
        "PAYLINK_KAFKA_STALL_MS.",
        NULL);
    e->m_unreadable = pl_metrics_counter(
        m, "paylink_consumer_unreadable_records_total",
        "Request records the consumer could not read (corrupt, or compressed or formatted in a "
        "way librdkafka cannot decode), each dead-lettered without its payload.",
        NULL);
    e->m_conflicts = pl_metrics_counter(m, "paylink_idempotency_conflicts_total",
                                        "request_id reused with different content.", NULL);
    e->m_produce_fail = pl_metrics_counter(m, "paylink_publish_retries_total",
                                           "Reply publishes retried after a failure.", NULL);
    e->m_publish_dropped = pl_metrics_counter(
        m, "paylink_publish_dropped_total",
        "Messages that could never be published (too large, unknown topic, not authorized).", NULL);
    e->m_failed = pl_metrics_counter(
        m, "paylink_requests_failed_total",
        "Requests given up on (answered error or timeout with a dead-letter copy, their offsets "
        "released, rows left to operators).",
        NULL);
    e->m_rechecks = pl_metrics_counter(
        m, "paylink_row_rechecks_total",
        "Rows re-read because another actor wrote them first or has them in flight.", NULL);
    e->m_oauth_ok = pl_metrics_counter(m, "paylink_oauth_token_requests_total",
                                       "OAuth access token requests (External Payment Service), "
                                       "by result.",
                                       "result=ok");
    e->m_oauth_failed = pl_metrics_counter(m, "paylink_oauth_token_requests_total",
                                           "OAuth access token requests (External Payment "
                                           "Service), by result.",
                                           "result=failed");
    e->m_conn_full = pl_metrics_counter(
        m, "paylink_bureau_connections_total",
        "Connections made to bureaus, by TLS handshake: full, or a session resumed.", "tls=full");
    e->m_conn_resumed = pl_metrics_counter(
        m, "paylink_bureau_connections_total",
        "Connections made to bureaus, by TLS handshake: full, or a session resumed.",
        "tls=resumed");
    e->m_db_statements = pl_metrics_counter(m, "paylink_db_statements_total",
                                            "Statements sent to PostgreSQL.", NULL);
    e->m_db_merged = pl_metrics_counter(
        m, "paylink_db_merged_executions_total",
        "Executions of a statement sent as part of a merged statement (one for many requests).",
        NULL);
    e->m_in_flight = pl_metrics_gauge(m, "paylink_in_flight", "Requests in flight.", NULL);
    e->m_backlog = pl_metrics_gauge(m, "paylink_backlog", "Requests consumed, not started.", NULL);
    e->m_overdue = pl_metrics_gauge(
        m, "paylink_requests_overdue",
        "Requests in the worker longer than all their bureau calls may take plus a minute "
        "(each is logged once, with what it waits for).",
        NULL);
    e->m_lag = pl_metrics_gauge(m, "paylink_consumer_lag", "Consumer lag (messages).", NULL);
    e->m_config_age = pl_metrics_gauge(
        m, "paylink_config_age_seconds",
        "Seconds since this replica last loaded the service bureau settings (at its start or at "
        "a configuration refresh that succeeded).",
        NULL);
    e->m_config_interval = pl_metrics_gauge(m, "paylink_config_refresh_interval_seconds",
                                            "How often the service bureau settings are reloaded "
                                            "(PAYLINK_CONFIG_REFRESH_S).",
                                            NULL);
    pl_gauge_set(e->m_config_interval, (double)e->cfg.refresh_s);
    e->m_rr_open = pl_metrics_gauge(m, "paylink_required_responses_open",
                                    "Open required responses of this worker.", NULL);
    e->m_rr_oldest = pl_metrics_gauge(m, "paylink_required_response_oldest_age_seconds",
                                      "Age of this worker's oldest open required response "
                                      "(0 when none is open).",
                                      NULL);
    static const double lat[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    static const double dbl[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
    e->m_bureau = pl_metrics_histogram(m, "paylink_bureau_call_seconds", "Bureau call latency.",
                                       NULL, lat, 12);
    e->m_total = pl_metrics_histogram(m, "paylink_request_seconds",
                                      "Time from consuming a request to its reply's delivery.",
                                      NULL, lat, 12);
    e->m_db = pl_metrics_histogram(m, "paylink_db_batch_seconds", "Database batch commit latency.",
                                   NULL, dbl, 10);
}

const unsigned char *pl_engine_hash_key(const pl_engine *eng, size_t *len)
{
    if (!eng) {
        *len = 0;
        return NULL;
    }
    *len = eng->cfg.hash_key_len;
    return eng->cfg.hash_key;
}

static int setup(pl_engine *e, char *err, size_t errsz)
{
    int rc;
    pl_config *c = &e->cfg;
    snprintf(e->t_request, sizeof e->t_request, "%s.%s.request", c->topic_prefix, e->spec->worker);
    snprintf(e->t_reply, sizeof e->t_reply, "%s.%s.reply", c->topic_prefix, e->spec->worker);
    snprintf(e->t_dlq, sizeof e->t_dlq, "%s.%s.request.dlq", c->topic_prefix, e->spec->worker);
    if (!(e->offsets = pl_offsets_new()) ||
        !(e->assigned = rd_kafka_topic_partition_list_new(32)) ||
        !(e->stalls = pl_kafka_stalls_new()))
        return pl_err_set(PL_ERR_NOMEM, err, errsz, "out of memory");

    e->metrics = pl_metrics_new(e->spec->worker);
    if (!e->metrics)
        return pl_err_set(PL_ERR_NOMEM, err, errsz, "out of memory");
    register_metrics(e);
    pl_metrics_set_ready(e->metrics, false, "starting");
    if ((rc = pl_metrics_serve(e->metrics, c->metrics_bind, (uint16_t)c->metrics_port, err, errsz)))
        return rc;

    if ((rc = build_statements(e, err, errsz)))
        return rc;
    /* Named as its resolver's (paylink-<worker>-resolver) and refresh's connections are. */
    char db_name[64];
    snprintf(db_name, sizeof db_name, "paylink-%s", e->spec->worker);
    if (!(e->db = pl_db_new_named(c->db, db_name, e->stmts, nstatements(e), err, errsz)))
        return PL_ERR_DB;
    e->services = pl_services_load_conninfo(c->db, err, errsz);
    if (!e->services)
        return PL_ERR_DB;
    pl_services_carry(e->services, NULL); /* a bureau unusable from the start, said at warn */
    /* The slots of the bureaus this worker calls, with their series (slot_for) from the start,
     * at 0 (a bureau added later gets its own at its first request). */
    for (size_t i = 0; i < pl_services_count(e->services); i++) {
        const pl_service *b = pl_services_at(e->services, i);
        if (protocol_ok(e->spec, b->protocol))
            slot_for(e, b->code);
    }
    e->config_at = now_s();
    if (!(e->http = pl_http_new(c->ca_file[0] ? c->ca_file : NULL, 1024 * 1024, err, errsz)))
        return PL_ERR_HTTP;
    if (!(e->oauth = pl_oauth_new(e->http, NULL)))
        return pl_err_set(PL_ERR_NOMEM, err, errsz, "out of memory");

    if (!(e->producer = pl_kafka_producer_new(c, e, on_delivery, on_kafka_error, err, errsz)))
        return PL_ERR_KAFKA;
    e->max_msg = pl_kafka_message_max_bytes(e->producer);
    set_rr_hold(e, pl_kafka_message_timeout_ms(e->producer));
    if (!(e->consumer = pl_kafka_consumer_new(c, c->group, e, on_rebalance, on_stats,
                                              on_unassign_committed, err, errsz)))
        return PL_ERR_KAFKA;
    e->own_commits_told = true;
    if (make_pipe(e->cpipe) || make_pipe(e->ppipe) || make_pipe(e->rpipe))
        return pl_err_set(PL_ERR_IO, err, errsz, "pipe: %s", strerror(errno));
    if (refresher_start(e) != 0)
        return pl_err_set(PL_ERR_NOMEM, err, errsz, "cannot start the configuration refresh");
    if (!(e->resolver = pl_resolver_runner_start(c, e->spec->worker, e->metrics, err, errsz)) &&
        err[0])
        return PL_ERR_CONFIG;
    e->cq = rd_kafka_queue_get_consumer(e->consumer);
    e->pq = rd_kafka_queue_get_main(e->producer);
    if (!(e->commitq = rd_kafka_queue_new(e->consumer)))
        return pl_err_set(PL_ERR_NOMEM, err, errsz, "out of memory");
    rd_kafka_queue_io_event_enable(e->cq, e->cpipe[1], "1", 1);
    rd_kafka_queue_io_event_enable(e->commitq, e->cpipe[1], "1", 1);
    rd_kafka_queue_io_event_enable(e->pq, e->ppipe[1], "1", 1);
    if ((rc = pl_kafka_subscribe(e->consumer, e->t_request, err, errsz)))
        return rc;
    pl_metrics_set_ready(e->metrics, true, NULL);
    e->ready = true;
    return 0;
}

/*
 * How long stopping waits for Kafka: the consumer's close, then the producer's flush. With the
 * stop's drain (PAYLINK_DRAIN_TIMEOUT_MS) and the 5 s the resolver's pass and the configuration
 * refresh may take together (refresher_ask_stop), a stop takes at most the drain + 25 s (Kafka
 * unreachable, the database frozen): what TimeoutStopSec and terminationGracePeriodSeconds in
 * deploy/ allow for, with a margin (README "Shutdown and rebalances").
 */
#define CLOSE_MS 10000

/* Frees the engine's partition lists (the assignment, the revoke's bookkeeping) and the stall
 * watch: at teardown, and by the unit tests' engines. */
static void partition_lists_free(pl_engine *e)
{
    rd_kafka_topic_partition_list_t **lists[] = {
        &e->assigned,      &e->revoke_ok,  &e->revoke_unsettled, &e->revoke_deferred,
        &e->unassign_told, &e->revoked_at, &e->revoke_said};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (*lists[i])
            rd_kafka_topic_partition_list_destroy(*lists[i]);
        *lists[i] = NULL;
    }
    pl_kafka_stalls_free(e->stalls);
    e->stalls = NULL;
}

/*
 * Says at error, after the consumer's close (`closed`: whether it completed), what nothing will
 * commit now: a partition the close revoked with its explicit commit unsettled whose revoke
 * commit told nothing (the close gave up first: e->revoke_unsettled), unless librdkafka's own
 * commit of its position on unassign succeeded (e->unassign_told); one whose revoke's commit
 * failed and whose librdkafka commit was not told (e->revoke_deferred: revoke_failed); and, when
 * the close did not complete, one still assigned (never revoked) in that state. Before, neither
 * was said.
 */
static void say_close_leftovers(pl_engine *e, bool closed)
{
    for (int i = 0; e->revoke_unsettled && i < e->revoke_unsettled->cnt; i++) {
        const rd_kafka_topic_partition_t *u = &e->revoke_unsettled->elems[i];
        /* librdkafka's own commit of the position on unassign told (on_unassign_committed):
         * committed, nothing to reset. */
        const rd_kafka_topic_partition_t *own =
            plist_find(e->unassign_told, u->topic, u->partition);
        if (own && own->offset == u->offset && !own->err) {
            PL_INFO(NULL,
                    "partition %d of %s: the consumer's close ended before its revoke's commit "
                    "of offset %" PRId64 " was answered, but librdkafka's own commit of it on "
                    "unassign succeeded",
                    (int)u->partition, u->topic, u->offset);
            continue;
        }
        say_reset(e, u->partition, u->offset,
                  "the consumer's close ended before its revoke's commit of the position was "
                  "answered");
    }
    revoke_deferred_due(e, NULL, 0, true);
    if (!closed && e->assigned)
        say_unsettled(e, e->assigned,
                      "the consumer's close did not complete before a revoke committed the "
                      "partition's position");
}

static void teardown(pl_engine *e)
{
    bool consumer_closed = true;
    /* A resolver pass left running (a bureau query or a publish past the stop's wait) still
     * counts in the metrics: they are then left to the process exit, not freed under it. The
     * refresh is asked to stop first: its wait and the resolver's overlap. */
    refresher_ask_stop(e);
    bool resolver_joined = pl_resolver_runner_stop(e->resolver);
    e->resolver = NULL;
    refresher_stop(e);
    if (e->consumer) {
        backlog_prune(e, true);
        /* Commits stored offsets (auto commit on); bounded, as the producer's flush is. */
        consumer_closed = pl_kafka_consumer_close(e->consumer, CLOSE_MS);
        /* The results of the close's explicit commit (commit_on_revoke), which the close waited
         * for: a failure is said now. */
        if (e->commitq) {
            rd_kafka_queue_poll_callback(e->commitq, 0);
            /* Closed, its answer came: a moment for it to be served rather than said missing. */
            for (int i = 0;
                 consumer_closed && e->revoke_unsettled && e->revoke_unsettled->cnt > 0 && i < 10;
                 i++)
                rd_kafka_queue_poll_callback(e->commitq, 100);
        }
        say_close_leftovers(e, consumer_closed);
    }
    if (e->producer) {
        rd_kafka_flush(e->producer, CLOSE_MS);
        /* Jobs whose reply never got a delivery report are left for redelivery. */
    }
    /* Cancels the calls in flight, token requests too: their jobs are abandoned (redelivered). */
    pl_http_destroy(e->http);
    pl_oauth_free(e->oauth);
    pl_db_destroy(e->db);
    while (e->live)
        job_abandon(e->live);
    for (retry *r = e->retries; r;) {
        retry *n = r->next;
        free(r->topic);
        free(r->key);
        /* A reply waiting to be published again may carry a generated card's number. */
        pl_card_wipe(r->payload, r->payload_len);
        free(r->payload);
        free(r);
        r = n;
    }
    if (e->cq)
        rd_kafka_queue_destroy(e->cq);
    if (e->commitq)
        rd_kafka_queue_destroy(e->commitq);
    if (e->pq)
        rd_kafka_queue_destroy(e->pq);
    if (e->consumer)
        rd_kafka_destroy_flags(e->consumer,
                               consumer_closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (e->producer)
        rd_kafka_destroy(e->producer);
    for (int i = 0; i < 2; i++) {
        if (e->cpipe[i] > 0)
            close(e->cpipe[i]);
        if (e->ppipe[i] > 0)
            close(e->ppipe[i]);
        if (e->rpipe[i] > 0 && !e->ref.started) /* a refresher left running still writes */
            close(e->rpipe[i]);
    }
    partition_lists_free(e);
    free(e->backlog);
    pl_services_unref(e->services);
    pl_offsets_destroy(e->offsets);
    if (resolver_joined)
        pl_metrics_destroy(e->metrics);
    pl_config_free(&e->cfg);
}

/* Jobs a shutdown still waits for. After a fatal producer error nothing can be published, so
 * only the work before publishing is finished (answers are stored, so their redeliveries replay
 * rather than become required responses). */
static size_t unfinished(const pl_engine *e)
{
    if (!e->fatal)
        return e->n_live;
    size_t n = 0;
    for (const job *j = e->live; j; j = j->next)
        if (j->state != JS_PUBLISHING && j->state != JS_WAITING && j->state != JS_QUEUED)
            n++;
    return n;
}

int pl_engine_main(const pl_spec *spec, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    pl_engine *e = calloc(1, sizeof *e);
    if (!e)
        return 70;
    e->spec = spec;
    pl_log_init(spec->worker, NULL);
    char err[512];
    if (pl_config_from_env(&e->cfg, spec->worker, err, sizeof err) != 0) {
        PL_ERROR(NULL, "configuration: %s", err);
        free(e);
        return 78; /* EX_CONFIG */
    }
    pl_log_set_level(e->cfg.log_level);
    pl_log_set_mask_mode(e->cfg.log_mask);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction dump = {.sa_handler = on_dump_signal};
    sigemptyset(&dump.sa_mask);
    sigaction(SIGUSR1, &dump, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 0;
    if (setup(e, err, sizeof err) != 0) {
        PL_ERROR(NULL, "start-up failed: %s", err);
        status = 1;
        goto out;
    }
    char allocator[96];
    PL_INFO(NULL,
            "paylink-%s started: consuming %s, replying on %s, metrics on port %u, allocator %s, "
            "at most %d in flight",
            spec->worker, e->t_request, e->t_reply, (unsigned)pl_metrics_port(e->metrics),
            pl_allocator_name(allocator, sizeof allocator), e->cfg.max_in_flight);
    /* A line a request, written once a loop turn rather than once a line (log.h). */
    pl_log_hold(true);

    while (!g_stop)
        loop_once(e, LOOP_TICK_MS, true);

    /* Graceful stop: take nothing new, finish what is in flight, then commit and close. */
    PL_INFO(NULL, "stopping: %zu request(s) in flight", e->n_live);
    e->stopping = true;
    set_paused(e, true);
    backlog_prune(e, true);
    abandon_queued(e);
    token_waits_given_back(e, NULL);
    double deadline = stop_drain_deadline(e, now_s());
    e->stop_deadline = deadline;
    while (unfinished(e) > 0 && now_s() < deadline)
        loop_once(e, 50, true);
    if (e->n_live > 0)
        PL_WARN(NULL, "%zu request(s) unfinished at shutdown; they will be redelivered", e->n_live);
    pl_log_hold(false);
    if (e->exit_status)
        status = e->exit_status;
out:
    teardown(e);
    PL_INFO(NULL, "paylink-%s stopped", spec->worker);
    free(e);
    return status;
}
