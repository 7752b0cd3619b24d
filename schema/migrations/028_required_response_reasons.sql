-- 028: two more reasons a required response opens for, which the workers already wrote or now
-- write, and which the CHECK of 002 refused.
--
-- answer_not_stored: the bureau answered, but the answer could not be written to the
-- transaction row (a statement the database refused). The worker has always opened a required
-- response for it (common/engine.c on_stored), and the CHECK refused that insert too, so such a
-- request was given up with its row left 'sent' and no required response: the resolver never
-- saw it. Found while building not_finished (tests/e2e/test_edges_unknown.sh).
-- not_finished: the worker could not finish the request for another reason (a database
-- statement refused, a row that never settled) while its row was still open; the row becomes
-- 'unknown' so the resolver settles it instead of an operator having to find it.
--
-- What it costs to apply: the new CHECK is validated against every row (a scan of
-- required_response under an ACCESS EXCLUSIVE lock; the table holds only unknown outcomes).

ALTER TABLE required_response
    DROP CONSTRAINT required_response_reason_check,
    ADD CONSTRAINT required_response_reason_check
        CHECK (reason IN ('timeout', 'connection_lost', 'unreadable_answer', 'sent_not_answered',
                          'answer_not_stored', 'not_finished'));
COMMENT ON COLUMN required_response.reason IS 'timeout (no answer within the response time), connection_lost (the connection broke after the request was sent), unreadable_answer (the bureau answered with something that is not a reply: HTTP 5xx, garbage), sent_not_answered (a redelivered request found marked sent but never answered, e.g. after a crash), answer_not_stored (the bureau answered but the answer could not be written), not_finished (the worker could not finish the request, e.g. a statement the database refused, while its row was open).';
