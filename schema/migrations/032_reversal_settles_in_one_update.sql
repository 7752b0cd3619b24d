-- 032: an approved reversal marks its authorization reversed in the same update that releases
-- its claim (issue 12).
--
-- Why: when a reversal's answer was stored, its authorization's history row was updated twice in
-- one statement: the statement's own CTE set status 'reversed' (paylink-reversal's rev_store and
-- the resolver's outcome of a reversal), then the auth_reversal_release_claim trigger (009, 025)
-- released the claim (amount_pending). Two new versions of the row, two rounds through its
-- indexes when an update is not HOT, where one does. The trigger now does both: on the final
-- status of a reversal sent to the bureau, it releases the claim and, when the reversal is
-- approved and the authorization is one a reversal applies to (approved, review, rejected,
-- voided), sets status 'reversed', in one UPDATE; the statements no longer touch auth_history.
-- Same rows, same values: the status as the CTE set it (whether or not the reversal claimed,
-- as the CTE did not ask), the claim as the trigger released it (only a reversal that claimed).
-- Every writer of a reversal's outcome (the worker, the resolver, an operator's resolution
-- through it) goes through this trigger.
--
-- Only the function changes (CREATE OR REPLACE: the trigger, its grants stay); the comment is
-- replaced to say what it does now. The statements that stop marking the authorization are the
-- workers' of this release: a worker of an earlier release running against this schema marks it
-- twice (its CTE, then this trigger, which finds it reversed already), which is harmless.

CREATE OR REPLACE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
        AND NEW.auth_history_id IS NOT NULL
        AND (OLD.claim_amount IS NOT NULL OR NEW.status = 'approved')) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    UPDATE auth_history
       SET amount_pending = greatest(amount_pending - coalesce(OLD.claim_amount, 0), 0),
           status = CASE WHEN NEW.status = 'approved'
                          AND status IN ('approved', 'review', 'rejected', 'voided')
                         THEN 'reversed' ELSE status END
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to), in one update of the auth_history row.';
