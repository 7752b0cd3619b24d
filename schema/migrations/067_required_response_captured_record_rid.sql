-- 067: a required response records that its auth+capture was captured, and the RequestID of the
-- bureau's record it was escalated from.
--
-- Why (captured): an operator's refusal of a CyberSource auth+capture that the bureau said was
-- captured while refused (the answer in time's ccCaptureReply 100, or the queried record's
-- ics_bill RCode 1) must publish no `.sdr` soft-decline reversal: nothing of a captured
-- authorization is left to reverse (CyberSource refuses it, 238), and what was taken is the
-- operator's to credit. The resolver recognised such a row by its texts: the reason it escalated
-- it with (last_query_result: "captured (ics_bill)") or the adapter's refusal in the detail
-- ("ccCaptureReply says 100 (captured)"). After `paylinkctl wreq retry --now`, a query that
-- failed replaced last_query_result, and the operator's refusal then published the `.sdr`. Now the
-- row says it: set by the worker when it leaves such an answer unknown (engine.c, pl_unknown) and
-- by the resolver when it escalates such a record (resolver.c, escalate_as), never cleared.
--
-- Why (record_request_id): the operator's step in an escalation's reason asks for
-- `--transaction-id <RequestID>`, which the operator had to look up in the Business Center while
-- the resolver had the record in hand. Now the resolver keeps it (and names it in the step when
-- the reason holds it whole); `paylinkctl wreq show` prints it.
--
-- The backfill of rows written before 067 is 068's, in a transaction of its own: here, inside
-- this file's transaction, the ALTER's ACCESS EXCLUSIVE lock would be held through a scan of
-- the whole table, and every statement naming required_response (paylink-reversal's mark of
-- each reversal among them) would wait for it. record_request_id is not backfilled: the
-- RequestID was never stored (the Business Center stays the way to it for rows escalated
-- before 067).
--
-- What it costs to apply: ADD COLUMN with a constant default and ADD COLUMN without one change
-- the catalog only on PostgreSQL 11+ (no rewrite; an ACCESS EXCLUSIVE lock, held to this file's
-- commit, which follows at once), SET STATISTICS (036's rule for the hot tables) and comments.
-- At run time: one more boolean parameter to the worker's unknown-outcome statement (rare), and
-- two more columns written by an escalation (rare).

ALTER TABLE required_response
    ADD COLUMN captured boolean NOT NULL DEFAULT false,
    ADD COLUMN record_request_id varchar(64);
ALTER TABLE required_response ALTER COLUMN captured SET STATISTICS 25,
                              ALTER COLUMN record_request_id SET STATISTICS 25;

COMMENT ON COLUMN required_response.captured IS 'The bureau said this CyberSource auth+capture was captured (ccCaptureReply 100, a record''s ics_bill RCode 1) while it refused, held or failed it (067). Set by the worker when it left unknown the answer the adapter refused for that (bureau_cybersource.c), and by the resolver when it escalated a record saying so; never cleared. Read by the resolver when an operator resolves the row: a refusal then publishes no .sdr reversal (nothing of a captured authorization is left to reverse). Rows before 067: from their last_query_result and detail texts (068), which the resolver also still reads.';
COMMENT ON COLUMN required_response.record_request_id IS 'The bureau''s transaction id (CyberSource RequestID) of the record the resolver''s transaction query found when it escalated the row from it (067): what wreq resolve --transaction-id takes. NULL when no record led to an escalation, or for rows escalated before 067 (read it in the Business Center).';
