/*
 * offsets.h: which Kafka offset may be committed, per partition, when requests finish out of order.
 *
 * The engine starts requests in Kafka order but they finish in any order (many bureau calls are in
 * flight at once). Storing the offset of whichever request finished last would let a crash skip
 * an earlier request that never finished. This tracker keeps, per partition, the started offsets
 * in offset order with a done flag; the committable position is the lowest unfinished offset,
 * or last done + 1 when nothing is unfinished (the librdkafka convention: the stored offset is
 * the next one to consume). See reference/kafka-postgres-curl-practice.md §1.1.1.
 *
 * The consumer can be taken back within one assignment: an offset reset after the topic was
 * recreated, a log truncated by an unclean leader election (librdkafka >= 2.1 seeks to where the
 * logs diverge), the same records read again. An offset not after the last one taken is tracked
 * all the same, in its place (beside a copy of it still tracked, if any: both must be done before
 * the position passes it). The consumer reads on from there, taking the offsets above it again,
 * so the position is never past the last offset taken + 1 either: offsets of the reading before,
 * done or not, count for nothing above it. And the position never goes back: below what was
 * committed it would commit nothing (librdkafka commits only an offset above the committed one,
 * §1.1.1), so it holds until the new reading passes it.
 *
 * One pl_offsets covers all partitions of one topic. Partition ids are 0..PL_OFFSETS_MAX_PARTITION.
 * Memory: the tracker owns everything it allocates; per partition it holds one ring of 16 bytes
 * per tracked offset, doubled when full and halved when mostly empty. Nothing bounds it but
 * memory: the engine's max_in_flight bounds the requests running, not the offsets tracked (a
 * finished one stays until everything below it is done), so behind one slow request the ring
 * holds every offset finished since. Adding in Kafka order is O(1); an offset added below
 * entries already tracked (taken back, or read again after that while the reading before is
 * still tracked above it) moves each entry above it one place up, O(entries above). Not
 * thread-safe: the event loop thread is its only user.
 */
#ifndef PL_OFFSETS_H
#define PL_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Highest partition id accepted; larger ids are PL_ERR_INVALID (a bug, not a real topic). */
#define PL_OFFSETS_MAX_PARTITION 1048575

/* All partitions of one topic. */
typedef struct pl_offsets pl_offsets;

/* Returns an empty tracker, or NULL on OOM. */
pl_offsets *pl_offsets_new(void);

/* Frees the tracker and every partition in it; NULL is allowed. */
void pl_offsets_destroy(pl_offsets *o);

/* What pl_offsets_add and pl_offsets_add_once return besides 0 and errors. */
enum {
    PL_OFFSETS_BACK = 1, /* not after the last offset added: the consumer was taken back */
    PL_OFFSETS_AGAIN = 2 /* pl_offsets_add_once: the same record again, nothing tracked */
};

/*
 * Records that offset `off` of `partition` started. Offsets of one partition arrive in Kafka
 * order, increasing, possibly with gaps (compacted or filtered messages). Returns 0 when off is
 * after the last offset added to the partition (or is its first since pl_offsets_new or
 * pl_offsets_forget); PL_OFFSETS_BACK when it is not (the consumer was taken back; see the top
 * of this file): it is tracked all the same, and from then on the partition's last offset added
 * is off; PL_ERR_NOMEM; PL_ERR_INVALID when off is negative or the partition id is out of range.
 */
int pl_offsets_add(pl_offsets *o, int32_t partition, int64_t off) PL_MUSTCHECK;

/*
 * As pl_offsets_add, for a record that fails the same way each time it is fetched (librdkafka
 * fetches a batch it cannot decompress again and again, the partition going no further): when
 * the last offset added to the partition is off, added by pl_offsets_add_once, nothing is
 * tracked and PL_OFFSETS_AGAIN is returned (the caller has handled that record already). Any
 * other offset added in between (the partition went on, or was taken back) makes off new again.
 */
int pl_offsets_add_once(pl_offsets *o, int32_t partition, int64_t off) PL_MUSTCHECK;

/*
 * Marks offset `off` of `partition` done (one not done yet, when it is tracked twice). Returns 1
 * when the committable position of the partition advanced (then *commit_to is the offset to
 * store: the lowest unfinished offset, or last done + 1 when none is unfinished, but never past
 * the last offset added + 1), 0 when it did not (an earlier offset is still unfinished, or the
 * partition was taken back and its new reading has not passed what was committed; *commit_to is
 * left alone), PL_ERR_NOTFOUND when off is not tracked (never added, already retired, or the
 * partition was forgotten), PL_ERR_STATE when every copy of off still tracked is marked done
 * already (a double completion: a bug in the caller). commit_to may be NULL.
 */
int pl_offsets_done(pl_offsets *o, int32_t partition, int64_t off, int64_t *commit_to);

/*
 * Number of tracked (started, not yet retired) offsets of a partition, or of all partitions
 * when partition is -1. Offsets done out of order stay tracked until everything below them is
 * done. O(1).
 */
size_t pl_offsets_pending(const pl_offsets *o, int32_t partition);

/*
 * Forgets a partition (revoked or lost): its tracked offsets, its position and its last added
 * offset. Late completions for it then return PL_ERR_NOTFOUND. Unknown partitions are ignored.
 */
void pl_offsets_forget(pl_offsets *o, int32_t partition);

/* The committable position of a partition: the highest pl_offsets_done gave (it never goes
 * back), -1 when nothing was ever done (or it was forgotten). */
int64_t pl_offsets_position(const pl_offsets *o, int32_t partition);

#endif
