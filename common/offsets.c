/*
 * offsets.c: per-partition rings of in-flight Kafka offsets.
 *
 * Each partition keeps a power-of-two ring of (offset, done) entries in arrival order. Because
 * offsets arrive increasing, the ring is sorted, so pl_offsets_done finds an entry by binary
 * search; a done entry at the head retires, together with every done entry behind it, and the
 * head's offset (or last retired + 1) becomes the committable position. Partitions live in a
 * pointer array indexed by partition id, grown on demand.
 */
#include "offsets.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* First ring size; rings double when full and halve when mostly empty (never below this). */
#define RING_INITIAL 64

typedef struct entry {
    int64_t off;
    bool done;
} entry;

typedef struct partition {
    entry *ring;
    size_t cap;         /* power of two */
    size_t head;        /* index of the oldest tracked entry */
    size_t len;         /* tracked entries */
    int64_t last_added; /* -1 before the first add */
    int64_t position;   /* committable position, -1 before the first retirement */
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
        o->parts[id] = p;
    }
    return o->parts[id];
}

int pl_offsets_add(pl_offsets *o, int32_t partition_id, int64_t off)
{
    if (!o || partition_id < 0 || partition_id > PL_OFFSETS_MAX_PARTITION || off < 0)
        return PL_ERR_INVALID;
    partition *p = lookup(o, partition_id);
    if (p && off <= p->last_added)
        return PL_ERR_INVALID;
    if (!p && !(p = obtain(o, partition_id)))
        return PL_ERR_NOMEM;
    if (p->len == p->cap) {
        if (p->cap > SIZE_MAX / 2 / sizeof(entry))
            return PL_ERR_NOMEM;
        int rc = ring_resize(p, p->cap * 2);
        if (rc < 0)
            return rc;
    }
    entry *e = at(p, p->len);
    e->off = off;
    e->done = false;
    p->len++;
    p->last_added = off;
    o->pending++;
    return PL_OK;
}

/* Index of off among the tracked entries, or -1. The ring is sorted because adds increase. */
static long find(const partition *p, int64_t off)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t v = at(p, mid)->off;
        if (v == off)
            return (long)mid;
        if (v < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int pl_offsets_done(pl_offsets *o, int32_t partition_id, int64_t off, int64_t *commit_to)
{
    if (!o)
        return PL_ERR_NOTFOUND;
    partition *p = lookup(o, partition_id);
    if (!p)
        return PL_ERR_NOTFOUND;
    long i = find(p, off);
    if (i < 0)
        return PL_ERR_NOTFOUND;
    entry *e = at(p, (size_t)i);
    if (e->done)
        return PL_ERR_STATE;
    e->done = true;
    if (i != 0)
        return 0; /* something older is still unfinished: committing past it could skip it */

    int64_t last_retired = -1;
    while (p->len > 0 && at(p, 0)->done) {
        last_retired = at(p, 0)->off;
        p->head = (p->head + 1) & (p->cap - 1);
        p->len--;
        o->pending--;
    }
    /* The next consumed message is the oldest unfinished one; with none, the one after the last
     * done (Kafka's "next offset to read", which is what rd_kafka_offsets_store wants). */
    p->position = p->len > 0 ? at(p, 0)->off : last_retired + 1;
    /* Give back memory after a burst; a failed shrink just keeps the larger ring. */
    if (p->cap > RING_INITIAL && p->len <= p->cap / 8)
        (void)ring_resize(p, p->cap / 2);
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
