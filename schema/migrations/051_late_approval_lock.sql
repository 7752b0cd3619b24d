-- 051: the hold on a late approval (049) reads the required response under a row lock.
--
-- Why: 049's trigger decided on its own snapshot whether a timeout reversal had been asked for.
-- The resolver records the reversal (UPDATE required_response, autocommit) and then publishes it
-- without locking the authorization's row, so it could commit just after the trigger read the
-- required response and before the late-answer trigger (044, at the end of the worker's
-- statement) closed it: the approval was written, the required response resolved `approved`,
-- and the reversal released the authorization the order system was told it could capture.
--
-- Now the trigger locks the open or escalated required response first (SELECT … FOR UPDATE) and
-- decides on the version it locked: a reversal recorded first is seen (the approval is held
-- back, as in 049), and one recorded after waits for the worker's transaction and then finds the
-- required response resolved (the resolver's update matches nothing and publishes no reversal).
-- Lock order is unchanged: the authorization's row, then its required response, as the resolver
-- and operators take them.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION. At run time: a row lock of the required
-- response when an unknown authorization is answered late (approved or review) only.

CREATE OR REPLACE FUNCTION paylink_hold_late_approval() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rr_id    bigint;
    reversal varchar(50);
BEGIN
    SELECT id, reversal_request_id INTO rr_id, reversal FROM required_response
     WHERE worker = 'auth' AND request_id = NEW.request_id AND status IN ('open', 'escalated')
       FOR UPDATE;
    IF reversal IS NULL THEN
        RETURN NEW;
    END IF;
    UPDATE required_response
       SET detail = left('the bureau''s late answer ' || NEW.status
                         || coalesce(' (transaction id ' || nullif(NEW.transaction_id, '')
                                     || coalesce(', authorization code '
                                                 || nullif(NEW.auth_number, ''), '') || ')', '')
                         || ' came after the timeout reversal ' || reversal
                         || ' was asked for: not recorded, that reversal releases it; '
                         || detail, 300)
     WHERE id = rr_id;
    RETURN NULL; -- the row stays unknown
END $$;
COMMENT ON FUNCTION paylink_hold_late_approval() IS 'Trigger function (049, 051): an approval or review of an unknown authorization whose open or escalated required response names a timeout reversal is not written (the row stays unknown, the reversal''s outcome settles it); what it said is noted in the required response''s detail. The required response is read under a row lock, so a reversal recorded at the same moment is either seen or finds the required response resolved.';
