-- 066: a replay of a `timeout` reply holds the final reply for its owner's copy.
--
-- Why: 055 made the final reply (resolved) wait for the worker's `timeout` reply
-- (required_response: true) to be on Kafka, and a redelivery that replayed that reply from a row
-- left unknown recorded it as on Kafka too. But the redelivery may run on another replica while
-- the worker that made the row unknown (its owner) is stalled, or cut off from the reply
-- partition's leader, with its own copy still queued: the partition went to the other replica,
-- which replayed, recorded worker_replied_at, and the resolver published the final reply; then
-- the owner's copy was delivered, and the order system got "unknown" after "settled". Now a
-- replay records worker_replied_at no earlier than the owner's copy must have been delivered or
-- dropped (the producer's message.timeout.ms and a margin after the row opened: the owner
-- produces it within seconds and never produces it again; engine.c), and the final reply is
-- published only once worker_replied_at has passed (or 10 minutes after the row opened, as
-- before). The owner's own acknowledgement brings a later time back to now.
--
-- What it costs to apply: a comment; nothing is rewritten. Rows recorded before it hold times in
-- the past, which mean what they meant.

COMMENT ON COLUMN required_response.worker_replied_at IS 'When the worker''s timeout reply (required_response: true) was acknowledged by Kafka (055); after a replay to a redelivery, no earlier than when the copy of the worker that made the row unknown must have been delivered or dropped (066). The final reply (resolved) is published once this has passed, or 10 minutes after created_at. NULL until recorded.';
