/*
 * offsets.h: which Kafka offset may be committed, per partition, when requests finish out of order.
 *
 * The engine starts requests in Kafka order but they finish in any order (many bureau calls are in
 * flight at once). Storing the offset of whichever request finished last would let a crash skip
 * an earlier request that never finished. This tracker keeps, per partition, the started offsets
 * in arrival order with a done flag; the committable position is the lowest unfinished offset,
 * or last done + 1 when nothing is unfinished (the librdkafka convention: the stored offset is
 * the next one to consume). See reference/kafka-postgres-curl-practice.md §1.1.1.
 *
 * One pl_offsets covers all partitions of one topic. Partition ids are 0..PL_OFFSETS_MAX_PARTITION.
 * Memory: the tracker owns everything it allocates; per partition it holds one ring of 16 bytes
 * per tracked offset (the engine's max_in_flight bounds it). Not thread-safe: the event loop
 * thread is its only user.
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

/*
 * Records that offset `off` of `partition` started. Offsets of one partition arrive in
 * increasing order (Kafka order), possibly with gaps (compacted or filtered messages).
 * Returns 0, PL_ERR_NOMEM, or PL_ERR_INVALID when off is negative, the partition id is out of
 * range, or off is not greater than the last offset added to the partition (also after it was
 * retired; pl_offsets_forget starts the partition afresh).
 */
int pl_offsets_add(pl_offsets *o, int32_t partition, int64_t off) PL_MUSTCHECK;

/*
 * Marks offset `off` of `partition` done. Returns 1 when the committable position of the
 * partition advanced (then *commit_to is the offset to store: the lowest unfinished offset, or
 * last done + 1 when none is unfinished), 0 when it did not (an earlier offset is still
 * unfinished; *commit_to is left alone), PL_ERR_NOTFOUND when off is not tracked (never added,
 * already retired, or the partition was forgotten), PL_ERR_STATE when off was already marked
 * done but is not retired yet (a double completion: a bug in the caller). commit_to may be NULL.
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

/* The committable position of a partition, -1 when nothing was ever done (or it was forgotten). */
int64_t pl_offsets_position(const pl_offsets *o, int32_t partition);

#endif
