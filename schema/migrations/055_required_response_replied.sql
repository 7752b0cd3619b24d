-- 055: a required response's final reply waits for the worker's timeout reply to be on Kafka.
--
-- Why: the worker publishes a request's `timeout` reply (required_response: true) after the
-- required_response row commits; the resolver of any replica, or an operator, may settle the row
-- from first_query_after_s on (10 s by default) and publish the final reply (resolved: true) with
-- producers of their own. A worker that could not reach the reply partition's leader meanwhile
-- kept its `timeout` reply queued (librdkafka's message timeout, then paylink's retries), and it
-- reached the order system after the final one: "unknown, a required response follows" after
-- the request was settled (CONTRACT.md: `resolved` settles a request *earlier* answered
-- `timeout`). Now the worker records when its `timeout` reply was acknowledged (or replayed from
-- the row to a redelivery), before its offset is committed, and a final reply is published only
-- once that is recorded, or 10 minutes after the row opened (a worker that never records it: a
-- replica of a version before this one, a database error). The outcome itself is applied at
-- once as before; only the final reply's publication waits (reply_pending).
--
-- What it costs to apply: ADD COLUMN without a default (no rewrite), then one UPDATE of the rows
-- already there (their replies went out long ago). At run time: one UPDATE per outcome left
-- unknown.

ALTER TABLE required_response ADD COLUMN worker_replied_at timestamptz;
UPDATE required_response SET worker_replied_at = created_at;
COMMENT ON COLUMN required_response.worker_replied_at IS 'When the worker''s timeout reply (required_response: true) was acknowledged by Kafka, or replayed to a redelivery; the final reply (resolved) is published only after it, or 10 minutes after created_at (055). NULL until then.';
