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
 * done or not, count for nothing above it. Taken back below the position, the position goes
 * back with it, at once, to that offset (the next one to read): the offsets above it may be
 * another log's now (a recreated topic's, a truncated log's), and a position left above them
 * would have a restart or a rebalance skip the ones not done yet. Records merely read again are
 * answered from their rows, so going back costs no more than their being read again once more
 * after a crash; and which of the two it is cannot be told from the offsets (the engine's
 * offset_track says why), so the position goes back for both. It never goes past an offset
 * not done. (Before, the position never went back: nothing of the partition was committed
 * while the new log stayed below it, and a restart resumed above the new log's records.)
 *
 * librdkafka commits a stored offset only above the one it holds as committed (§1.1.1), and the
 * group's committed offset may be above the position: after the position went back, or when
 * librdkafka reset the consumer below an offset the group committed from an older log before
 * this assignment's first record, or when a retried commit of librdkafka's landed after an
 * explicit one. The tracker keeps, per partition, whether an explicit commit of the position is
 * owed (pl_offsets_must_commit, pl_offsets_commit_above) and how many are out, their results not
 * yet told (pl_offsets_committed): owed, out, or settled (neither).
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

#include <stdbool.h>
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
 * is off; when off is below the committable position, the position goes back to off at once
 * (pl_offsets_position), owed an explicit commit (pl_offsets_must_commit), and so is the first
 * position of a partition taken back before it had any; PL_ERR_NOMEM;
 * PL_ERR_INVALID when off is negative or the partition id is out of range.
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
 * Whether the caller should say so now, for a record fetched again and again: returns the count
 * of repeats (how many times in a row pl_offsets_add_once returned PL_OFFSETS_AGAIN for the
 * partition's last offset added) at its 1st, 10th, 100th... repeat, and at any repeat at least
 * every_s seconds after the last time it returned non-zero for the same record (`now`, in seconds
 * of any clock the caller keeps to), so that a partition stuck for good is still told of; else 0
 * (also when the last add was no repeat, or the partition is unknown). With every_s 0 every
 * repeat is due: it returns the count itself.
 */
uint64_t pl_offsets_again_due(pl_offsets *o, int32_t partition, double now, double every_s);

/*
 * Marks offset `off` of `partition` done (one not done yet, when it is tracked twice). Returns 1
 * when the committable position of the partition advanced (then *commit_to is the offset to
 * store: the lowest unfinished offset, or last done + 1 when none is unfinished, but never past
 * the last offset added + 1), 0 when it did not (an earlier offset is still unfinished, or the
 * consumer was taken back and this was an offset of the reading before, above the new one;
 * *commit_to is left alone), PL_ERR_NOTFOUND when off is not tracked (never added, already retired,
 * or the partition was forgotten), PL_ERR_STATE when every copy of off still tracked is marked done
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

/* The committable position of a partition: the last pl_offsets_done gave, or the offset the
 * consumer was taken back to below it since (pl_offsets_add); -1 when nothing was done since
 * the partition was tracked afresh (pl_offsets_new, pl_offsets_forget). */
int64_t pl_offsets_position(const pl_offsets *o, int32_t partition);

/*
 * Whether the partition's position must be committed explicitly, now (the offset given to
 * rd_kafka_commit, not only stored with rd_kafka_offsets_store): librdkafka commits a stored
 * offset only above the one it holds as committed. So it is after the position went back
 * (pl_offsets_add), and after an explicit commit failed with none other out
 * (pl_offsets_committed). Returns 1 and sets *commit_to (may be NULL) to the position: the mark
 * is cleared and the commit counted out; the caller commits it and tells its result with
 * pl_offsets_committed (also when it could not be sent). Once an explicit commit succeeded,
 * librdkafka commits the positions stored after it by itself. Returns 0 otherwise, and while the
 * partition has no position yet. A partition tracked afresh owes nothing (unless taken back
 * before its first position: pl_offsets_add): when librdkafka reset
 * the consumer below an offset the group committed, its statistics show that offset
 * (pl_offsets_commit_above).
 */
int pl_offsets_must_commit(pl_offsets *o, int32_t partition, int64_t *commit_to);

/*
 * librdkafka holds `committed` as the partition's committed offset (its statistics'
 * committed_offset): when that is above the partition's position and no explicit commit is out,
 * returns 1 and sets *commit_to (may be NULL) to the position, counted out as by
 * pl_offsets_must_commit (any mark owed cleared); else 0 (also with no position yet). It is so
 * when the consumer was reset below an offset the group committed from an older log before this
 * assignment's first record, when a retried commit of librdkafka's landed after an explicit one
 * (librdkafka takes a success as its committed offset whatever it holds), or when an explicit
 * commit failed on a partition since idle.
 */
int pl_offsets_commit_above(pl_offsets *o, int32_t partition, int64_t committed,
                            int64_t *commit_to);

/*
 * The result of an explicit commit counted out (pl_offsets_must_commit, pl_offsets_commit_above),
 * told in the order the commits went: ok, or failed, when the position is owed again unless a
 * later commit is still out (which then decides). Returns 0, or PL_ERR_NOTFOUND when the
 * partition is not tracked (forgotten since: nothing is created for it).
 */
int pl_offsets_committed(pl_offsets *o, int32_t partition, bool ok);

/* Whether an explicit commit of the partition's position is owed or out (not settled), or the
 * group's committed offset last noted (pl_offsets_note_committed) is above the position: the
 * group's committed offset may then be above the position. False for an unknown partition. */
bool pl_offsets_commit_unsettled(const pl_offsets *o, int32_t partition);

/*
 * Notes `committed` as the group's committed offset of the partition as librdkafka holds it
 * (its statistics' committed_offset, or an explicit commit's success): what pl_offsets_commit_due
 * compares the position with. Nothing for an unknown partition (nothing is created); a partition
 * tracked afresh knows none.
 */
void pl_offsets_note_committed(pl_offsets *o, int32_t partition, int64_t committed);

/*
 * Whether the partition's position is worth a commit of its own (a revoke's): it has a position,
 * and that is not the committed offset last noted (pl_offsets_note_committed; none noted counts
 * as different), or an explicit commit of it is owed or out. False for an unknown partition, or
 * one with no position yet.
 */
bool pl_offsets_commit_due(const pl_offsets *o, int32_t partition);

#endif
