-- 052: a CyberSource soft decline is reversed as a Decision Manager reject is.
--
-- Why: CyberSource answers REJECT 200 (the AVS check failed), 230 (the card verification
-- number check failed) or 520 (Smart Authorization's settings) after the issuer approved the
-- authorization: the cardholder's funds are held while paylink answers `declined`, and the order
-- system, told so, never captures it. Nothing released them until the authorization expired.
-- paylink-auth (and the resolver, for an outcome it finds) now publishes the reversal
-- `<request_id>.rev` of such an authorization when the service bureau has Send reversal, as for
-- a 481, and paylink-reversal takes it: it claims the authorization (its statement's own
-- condition, workers/reversal/reversal.c) and, when the bureau approves the reversal, this
-- trigger marks the authorization `reversed`, as it does for approved, review, rejected and
-- voided ones. The codes are pl_cybersource_soft_decline's (common/bureau_cybersource.h).
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (032's, restated whole with the declined
-- soft decline added); the trigger and its grants stay. At run time: nothing more, the same one
-- UPDATE of the auth_history row.

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
                          AND (status IN ('approved', 'review', 'rejected', 'voided')
                               OR (status = 'declined'
                                   AND vendor_response IN ('200', '230', '520')))
                         THEN 'reversed' ELSE status END
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it: 200, 230, 520), in one update of the auth_history row.';
