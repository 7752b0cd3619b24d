-- 038: one more reason a required response opens for: bureau_fault.
--
-- Why: a Customer Engagement SOAP fault was a final `error`, nothing applied, whatever the
-- fault. A fault with faultcode Server (or a code of the service's own) says the service failed
-- while processing the message, which may be after it applied it: an authorization held on the
-- card, a deposit or a return made. Answering `error` let the order system take it for "nothing
-- happened" and send it again under another request id (a second hold or charge). paylink-svc
-- now leaves such an outcome unknown, with a required response of reason bureau_fault
-- (common/engine.c, common/bureau_relate.c); a fault that says the message was refused before
-- processing (Client, VersionMismatch, MustUnderstand) stays a final `error`, and so does any
-- fault on GenerateCard and InquiryRequest, which change no card.
--
-- What it costs to apply: the new CHECK is validated against every row, a scan of
-- required_response (only unknown outcomes: a small table) under the ACCESS EXCLUSIVE lock the
-- migration's transaction takes for it (paylinkctl migrate applies each file in one transaction).

ALTER TABLE required_response
    DROP CONSTRAINT required_response_reason_check,
    ADD CONSTRAINT required_response_reason_check
        CHECK (reason IN ('timeout', 'connection_lost', 'unreadable_answer', 'sent_not_answered',
                          'answer_not_stored', 'not_finished', 'bureau_fault'));
COMMENT ON COLUMN required_response.reason IS 'timeout (no answer within the response time), connection_lost (the connection broke after the request was sent), unreadable_answer (the bureau answered with something that is not a reply: HTTP 5xx, garbage), sent_not_answered (a redelivered request found marked sent but never answered, e.g. after a crash), answer_not_stored (the bureau answered but the answer could not be written), not_finished (the worker could not finish the request, e.g. a statement the database refused, while its row was open), bureau_fault (the bureau answered with a fault that does not say whether it acted: a Customer Engagement SOAP fault other than Client on an operation that changes a card).';
