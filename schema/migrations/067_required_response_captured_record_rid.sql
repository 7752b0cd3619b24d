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
-- The backfill: every row whose texts say it was captured, as the resolver read them before (an
-- auth+capture only; those texts are written of nothing else), whatever its status. Only an open
-- or escalated row is ever read for it (an operator's outcome), but the statement scans the whole
-- table either way (no index serves `escalated`), and the rows it writes are the rare captured
-- ones: resolved rows are included so that the column means the same on every row `wreq show`
-- prints. record_request_id is not backfilled: the RequestID was never stored (the Business
-- Center stays the way to it for rows escalated before 067).
--
-- What it costs to apply: ADD COLUMN with a constant default and ADD COLUMN without one change
-- the catalog only on PostgreSQL 11+ (no rewrite; an ACCESS EXCLUSIVE lock held for that
-- moment), SET STATISTICS (036's rule for the hot tables) and comments; then one UPDATE that
-- reads required_response once and writes the few captured rows. At run time: one more boolean
-- parameter to the worker's unknown-outcome statement (rare), and two more columns written by
-- an escalation (rare).

ALTER TABLE required_response
    ADD COLUMN captured boolean NOT NULL DEFAULT false,
    ADD COLUMN record_request_id varchar(64);
ALTER TABLE required_response ALTER COLUMN captured SET STATISTICS 25,
                              ALTER COLUMN record_request_id SET STATISTICS 25;

UPDATE required_response SET captured = true
WHERE operation = 'auth_capture' AND NOT captured
  AND (strpos(last_query_result, 'captured (ics_bill)') > 0
       OR strpos(detail, 'ccCaptureReply says 100 (captured)') > 0);

COMMENT ON COLUMN required_response.captured IS 'The bureau said this CyberSource auth+capture was captured (ccCaptureReply 100, a record''s ics_bill RCode 1) while it refused, held or failed it (067). Set by the worker when it left unknown the answer the adapter refused for that (bureau_cybersource.c), and by the resolver when it escalated a record saying so; never cleared. Read by the resolver when an operator resolves the row: a refusal then publishes no .sdr reversal (nothing of a captured authorization is left to reverse). Rows before 067: from their last_query_result and detail texts.';
COMMENT ON COLUMN required_response.record_request_id IS 'The bureau''s transaction id (CyberSource RequestID) of the record the resolver''s transaction query found when it escalated the row from it (067): what wreq resolve --transaction-id takes. NULL when no record led to an escalation, or for rows escalated before 067 (read it in the Business Center).';
