-- 039: required_response.reason bureau_fault also covers CyberSource's ERROR 151 and 152.
--
-- Why: CyberSource answers 151 ("the request was received, but a server time-out occurred") and
-- 152 ("... a service did not finish running in time") after it received the request, which may
-- then have been processed: a capture made, a card charged. Answered as a final `error`, the
-- claim on the authorization was released and an order system could send the deposit again (a
-- second capture). paylink now leaves those outcomes unknown, as 038 does for Customer
-- Engagement's faults, with reason bureau_fault; the resolver asks the bureau what became of
-- them. Only the column's comment changes (038's CHECK already allows the reason).
--
-- What it costs to apply: a change of the catalog only.

COMMENT ON COLUMN required_response.reason IS 'timeout (no answer within the response time), connection_lost (the connection broke after the request was sent), unreadable_answer (the bureau answered with something that is not a reply: HTTP 5xx, garbage, a reply to another request, an approval of more than was sent), sent_not_answered (a redelivered request found marked sent but never answered, e.g. after a crash), answer_not_stored (the bureau answered but the answer could not be written), not_finished (the worker could not finish the request, e.g. a statement the database refused, while its row was open), bureau_fault (the bureau answered with a failure that does not say whether it acted: a Customer Engagement SOAP fault other than Client on an operation that changes a card, a CyberSource ERROR 151 or 152).';
