/*
 * offsets.c: per-partition rings of in-flight Kafka offsets.
 *
 * Each partition keeps a power-of-two ring of (offset, done) entries sorted by offset: an offset
 * arriving in Kafka order goes at the tail, one taken again (pl_offsets_add's PL_OFFSETS_BACK) is
 * inserted in its place, after any copy of it. pl_offsets_done finds an entry by binary search; a
 * done entry at the head retires, together with every done entry behind it, and the head's offset
 * (or the last added + 1, once the ring is empty) bounded by the last added + 1 becomes the
 * committable position when it is above the one before. Every tracked entry is at or above the
 * position, so an offset taken back below it is the lowest unfinished one: the position goes
 * back to it. Partitions live in a pointer array indexed by partition id, grown on demand.
 */
#include "offsets.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* First ring size; rings double when full and halve when mostly empty (never below this). */
#define RING_INITIAL 64

typedef struct entry {
    int64_t off;
    bool done;
} entry;

typedef struct partition {
    entry *ring;
    size_t cap;           /* power of two */
    size_t head;          /* index of the lowest tracked entry */
    size_t len;           /* tracked entries */
    int64_t last_added;   /* the offset added last (not the highest: see BACK), -1 before any */
    bool last_once;       /* last_added came by pl_offsets_add_once */
    uint64_t again;       /* PL_OFFSETS_AGAIN returned in a row for last_added */
    double again_said;    /* when pl_offsets_again_due last said yes for it */
    int64_t position;     /* committable position, -1 before any */
    bool commit_owed;     /* the position must be committed explicitly (pl_offsets_must_commit) */
    uint32_t commits_out; /* explicit commits given out, their results not yet told */
    int64_t committed;    /* the group's committed offset as last told, -1 unknown */
} partition;

struct pl_offsets {
    partition **parts; /* parts[id], NULL when the partition holds no state */
    size_t nparts;     /* length of parts */
    size_t pending;    /* sum of len over all partitions, for pl_offsets_pending(-1) */
};

pl_offsets *pl_offsets_new(void)
{
    return calloc(1, sizeof(pl_offsets));
}

static void partition_free(partition *p)
{
    if (p) {
        free(p->ring);
        free(p);
    }
}

void pl_offsets_destroy(pl_offsets *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->nparts; i++)
        partition_free(o->parts[i]);
    free(o->parts);
    free(o);
}

static partition *lookup(const pl_offsets *o, int32_t id)
{
    if (id < 0 || (size_t)id >= o->nparts)
        return NULL;
    return o->parts[id];
}

static entry *at(const partition *p, size_t i)
{
    return &p->ring[(p->head + i) & (p->cap - 1)];
}

/* Copies the ring into a new array of new_cap entries, oldest first. */
static int ring_resize(partition *p, size_t new_cap)
{
    entry *ring = malloc(new_cap * sizeof(entry));
    if (!ring)
        return PL_ERR_NOMEM;
    for (size_t i = 0; i < p->len; i++)
        ring[i] = *at(p, i);
    free(p->ring);
    p->ring = ring;
    p->cap = new_cap;
    p->head = 0;
    return PL_OK;
}

/* Returns the partition, creating it (and growing the index) as needed, or NULL on OOM. */
static partition *obtain(pl_offsets *o, int32_t id)
{
    if ((size_t)id >= o->nparts) {
        size_t n = o->nparts ? o->nparts : 16;
        while (n <= (size_t)id)
            n *= 2;
        partition **parts = realloc(o->parts, n * sizeof(partition *));
        if (!parts)
            return NULL;
        memset(parts + o->nparts, 0, (n - o->nparts) * sizeof(partition *));
        o->parts = parts;
        o->nparts = n;
    }
    if (!o->parts[id]) {
        partition *p = calloc(1, sizeof(partition));
        if (!p)
            return NULL;
        p->ring = malloc(RING_INITIAL * sizeof(entry));
        if (!p->ring) {
            free(p);
            return NULL;
        }
        p->cap = RING_INITIAL;
        p->last_added = -1;
        p->position = -1;
        p->committed = -1;
        o->parts[id] = p;
    }
    return o->parts[id];
}

/* Index of the first tracked entry whose offset is not below off (len when there is none). */
static size_t lower_bound(const partition *p, int64_t off)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(p, mid)->off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first tracked entry whose offset is above off (len when there is none). */
static size_t upper_bound(const partition *p, int64_t off)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(p, mid)->off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int add(pl_offsets *o, int32_t partition_id, int64_t off, bool once)
{
    if (!o || partition_id < 0 || partition_id > PL_OFFSETS_MAX_PARTITION || off < 0)
        return PL_ERR_INVALID;
    partition *p = lookup(o, partition_id);
    if (p && once && p->last_once && off == p->last_added) {
        p->again++;
        return PL_OFFSETS_AGAIN;
    }
    if (!p && !(p = obtain(o, partition_id)))
        return PL_ERR_NOMEM;
    if (p->len == p->cap) {
        if (p->cap > SIZE_MAX / 2 / sizeof(entry))
            return PL_ERR_NOMEM;
        int rc = ring_resize(p, p->cap * 2);
        if (rc < 0)
            return rc;
    }
    /* In Kafka order the offset goes at the tail. Taken back, it goes in its place; also an
     * offset after the last added may be below entries of the reading before (still tracked,
     * in flight, or done behind an unfinished one). After any copy of it: the order among equal
     * offsets does not matter, and this moves the fewest entries. */
    size_t i = p->len;
    if (i > 0 && at(p, i - 1)->off > off) {
        i = upper_bound(p, off);
        for (size_t k = p->len; k > i; k--)
            *at(p, k) = *at(p, k - 1);
    }
    entry *e = at(p, i);
    e->off = off;
    e->done = false;
    p->len++;
    o->pending++;
    bool back = p->last_added >= 0 && off <= p->last_added;
    p->last_added = off;
    p->last_once = once;
    p->again = 0;
    /* Taken back below the position: every entry is at or above the position, so off is the
     * lowest unfinished one, and the position goes back to it. The offsets above may be another
     * log's, not done: the position must not stay above them (offsets.h). */
    if (back && off < p->position) {
        p->position = off;
        p->commit_owed = true;
    }
    /* Taken back before anything was done: the group's committed offset may be above off all
     * the same (this reading's own, or the old log's), and the first position is committed
     * explicitly (pl_offsets_must_commit waits for it). */
    if (back && p->position < 0)
        p->commit_owed = true;
    return back ? PL_OFFSETS_BACK : PL_OK;
}

int pl_offsets_add(pl_offsets *o, int32_t partition_id, int64_t off)
{
    return add(o, partition_id, off, false);
}

int pl_offsets_add_once(pl_offsets *o, int32_t partition_id, int64_t off)
{
    return add(o, partition_id, off, true);
}

int pl_offsets_done(pl_offsets *o, int32_t partition_id, int64_t off, int64_t *commit_to)
{
    if (!o)
        return PL_ERR_NOTFOUND;
    partition *p = lookup(o, partition_id);
    if (!p)
        return PL_ERR_NOTFOUND;
    size_t i = lower_bound(p, off);
    if (i == p->len || at(p, i)->off != off)
        return PL_ERR_NOTFOUND;
    /* An offset tracked twice (taken again while its first reading is tracked) is done twice. */
    while (i < p->len && at(p, i)->off == off && at(p, i)->done)
        i++;
    if (i == p->len || at(p, i)->off != off)
        return PL_ERR_STATE;
    at(p, i)->done = true;
    if (i != 0)
        return 0; /* something older is still unfinished: committing past it could skip it */

    while (p->len > 0 && at(p, 0)->done) {
        p->head = (p->head + 1) & (p->cap - 1);
        p->len--;
        o->pending--;
    }
    /* The next consumed message is the oldest unfinished one; with none, the one after the last
     * taken (Kafka's "next offset to read", which is what rd_kafka_offsets_store wants). Never
     * past the one after the last taken: after the consumer was taken back, the offsets above
     * it (done or not in the reading before) are read again, and not yet done in this one. */
    int64_t next = p->last_added + 1;
    if (p->len > 0 && at(p, 0)->off < next)
        next = at(p, 0)->off;
    /* Give back memory after a burst; a failed shrink just keeps the larger ring. */
    if (p->cap > RING_INITIAL && p->len <= p->cap / 8)
        (void)ring_resize(p, p->cap / 2);
    /* Never back here: the position goes back only with the consumer (add). next is not above
     * it when what retired is of the reading before, above the new one (bounded by it). */
    if (next <= p->position)
        return 0;
    p->position = next;
    if (commit_to)
        *commit_to = p->position;
    return 1;
}

size_t pl_offsets_pending(const pl_offsets *o, int32_t partition_id)
{
    if (!o)
        return 0;
    if (partition_id == -1)
        return o->pending;
    const partition *p = lookup(o, partition_id);
    return p ? p->len : 0;
}

void pl_offsets_forget(pl_offsets *o, int32_t partition_id)
{
    if (!o)
        return;
    partition *p = lookup(o, partition_id);
    if (!p)
        return;
    o->pending -= p->len;
    partition_free(p);
    o->parts[partition_id] = NULL;
}

int64_t pl_offsets_position(const pl_offsets *o, int32_t partition_id)
{
    if (!o)
        return -1;
    const partition *p = lookup(o, partition_id);
    return p ? p->position : -1;
}

uint64_t pl_offsets_again_due(pl_offsets *o, int32_t partition_id, double now, double every_s)
{
    partition *p = o ? lookup(o, partition_id) : NULL;
    if (!p || p->again == 0)
        return 0;
    /* At 1 the clock starts for this record: again_said of an earlier one counts for nothing. */
    return pl_log_again_due(p->again, &p->again_said, now, every_s) ? p->again : 0;
}

int pl_offsets_must_commit(pl_offsets *o, int32_t partition_id, int64_t *commit_to)
{
    partition *p = o ? lookup(o, partition_id) : NULL;
    if (!p || !p->commit_owed || p->position < 0)
        return 0;
    p->commit_owed = false;
    p->commits_out++;
    if (commit_to)
        *commit_to = p->position;
    return 1;
}

int pl_offsets_commit_above(pl_offsets *o, int32_t partition_id, int64_t committed,
                            int64_t *commit_to)
{
    partition *p = o ? lookup(o, partition_id) : NULL;
    if (!p || p->position < 0 || committed <= p->position || p->commits_out > 0)
        return 0;
    p->commit_owed = false;
    p->commits_out++;
    if (commit_to)
        *commit_to = p->position;
    return 1;
}

int pl_offsets_committed(pl_offsets *o, int32_t partition_id, bool ok)
{
    partition *p = o ? lookup(o, partition_id) : NULL;
    if (!p)
        return PL_ERR_NOTFOUND;
    if (p->commits_out > 0)
        p->commits_out--;
    /* A later commit still out decides: the results come in the order the commits went. */
    if (!ok && p->commits_out == 0)
        p->commit_owed = true;
    return PL_OK;
}

bool pl_offsets_commit_unsettled(const pl_offsets *o, int32_t partition_id)
{
    const partition *p = o ? lookup(o, partition_id) : NULL;
    /* Or the group's committed offset, as last told (librdkafka's statistics, noted also while
     * the group is not steady and the statistics' commit waits), is above the position: a
     * recreated topic read from its start, nothing taken back, so nothing owed. */
    return p && (p->commit_owed || p->commits_out > 0 ||
                 (p->position >= 0 && p->committed > p->position));
}

void pl_offsets_note_committed(pl_offsets *o, int32_t partition_id, int64_t committed)
{
    partition *p = o ? lookup(o, partition_id) : NULL;
    if (p)
        p->committed = committed;
}

bool pl_offsets_commit_due(const pl_offsets *o, int32_t partition_id)
{
    const partition *p = o ? lookup(o, partition_id) : NULL;
    return p && p->position >= 0 &&
           (p->commit_owed || p->commits_out > 0 || p->position != p->committed);
}
