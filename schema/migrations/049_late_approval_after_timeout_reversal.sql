-- 049: an authorization's approval that arrives after its timeout reversal was asked for is not
-- recorded as the outcome.
--
-- Why: a CyberSource authorization reported unknown (`timeout` with a required response) whose
-- outcome the resolver cannot confirm gets a timeout reversal (`<request_id>.tor`, 023), which
-- releases at the bureau whatever the authorization holds. If the owner's answer then came after
-- all (its store delayed: lock waits, a slow database), the row, still `unknown`, took it, and
-- the late-answer trigger (044) resolved the required response and published the final reply
-- `approved`: the order system then captured an authorization the reversal released, and
-- nobody was told. The resolver's own query avoids this already (it records the reversal before
-- it is published, and then only follows it); the late answer did not.
--
-- Now a BEFORE trigger leaves the row as it is (`unknown`) when an approval or a review (both
-- hold the funds) arrives for an authorization whose open or escalated required response names
-- a timeout reversal: the worker's store then finds no row written and answers from the row
-- (its `timeout`), and the resolver settles the authorization from the reversal's outcome as
-- before (cancelled when it released it; an operator when it failed, who may then approve it).
-- What the late answer said is kept in the required response's detail for that operator.
-- The resolver and operators close the required response before they write the outcome
-- (common/resolver.c apply_as), so their writes are not held back.
--
-- What it costs to apply: CREATE FUNCTION, CREATE TRIGGER (a SHARE ROW EXCLUSIVE lock on
-- cc_auth_trans for a moment). At run time: the trigger's WHEN clause, evaluated on each status
-- change of cc_auth_trans, runs the function only for a row leaving `unknown` approved or
-- review (a late answer).

CREATE FUNCTION paylink_hold_late_approval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE required_response
       SET detail = left('the bureau''s late answer ' || NEW.status
                         || coalesce(' (transaction id ' || nullif(NEW.transaction_id, '')
                                     || coalesce(', authorization code '
                                                 || nullif(NEW.auth_number, ''), '') || ')', '')
                         || ' came after the timeout reversal ' || reversal_request_id
                         || ' was asked for: not recorded, that reversal releases it; '
                         || detail, 300)
     WHERE worker = 'auth' AND request_id = NEW.request_id AND status IN ('open', 'escalated')
       AND reversal_request_id IS NOT NULL;
    IF FOUND THEN
        RETURN NULL; -- the row stays unknown
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION paylink_hold_late_approval() IS 'Trigger function (049): an approval or review of an unknown authorization whose open or escalated required response names a timeout reversal is not written (the row stays unknown, the reversal''s outcome settles it); what it said is noted in the required response''s detail.';
CREATE TRIGGER cc_auth_trans_hold_late_approval BEFORE UPDATE OF status ON cc_auth_trans
    FOR EACH ROW WHEN (OLD.status = 'unknown' AND NEW.status IN ('approved', 'review'))
    EXECUTE FUNCTION paylink_hold_late_approval();
