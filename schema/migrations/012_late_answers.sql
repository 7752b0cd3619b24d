-- 012: a late answer closes its required response.
--
-- When an answer arrives for a transaction another actor already reported unknown (a second
-- replica presumed its owner gone, a redelivery after a crash), the row becomes final and its
-- open required response is resolved in the same transaction, whoever stores the answer: the
-- rule "never an open required response for a final outcome" holds in the database, not in
-- each writer. A writer that resolves the row itself (paylinkctl deposits receive, an
-- operator) does so in its own statement first; this trigger then finds nothing open.
CREATE FUNCTION paylink_close_required_response() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE required_response
       SET status = 'resolved',
           resolution = CASE NEW.status WHEN 'approved' THEN 'approved'
                                        WHEN 'error' THEN 'error' ELSE 'declined' END,
           resolved_by = 'paylink-' || TG_ARGV[0],
           resolution_note = 'the bureau''s answer arrived after the outcome was reported unknown',
           resolved_at = now()
     WHERE worker = TG_ARGV[0] AND request_id = NEW.request_id AND status = 'open';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_close_required_response() IS 'Trigger function (argument: the worker of the table): when a transaction reported unknown reaches a final status, resolves its open required response.';
CREATE TRIGGER cc_auth_trans_close_required_response
    AFTER UPDATE OF status ON cc_auth_trans FOR EACH ROW
    WHEN (OLD.status = 'unknown' AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error'))
    EXECUTE FUNCTION paylink_close_required_response('auth');
CREATE TRIGGER cc_deposit_trans_close_required_response
    AFTER UPDATE OF status ON cc_deposit_trans FOR EACH ROW
    WHEN (OLD.status = 'unknown' AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error'))
    EXECUTE FUNCTION paylink_close_required_response('deposit');
CREATE TRIGGER auth_reversal_close_required_response
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW
    WHEN (OLD.status = 'unknown' AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error'))
    EXECUTE FUNCTION paylink_close_required_response('reversal');
