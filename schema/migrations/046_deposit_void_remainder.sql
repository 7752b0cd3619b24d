-- 046: whether a capture voids what remains of its authorization is decided when it is sent,
-- and recorded with it.
--
-- Why: paylink-deposit sends an External Payment Service capture with `voidRemainder` as its
-- snapshot of the bureau's Void auth at deposit says when the request arrived, and the bureau
-- voids the rest or not by that. The settle trigger (026) decided the same for paylink's books by
-- reading auth_service when the answer was stored: a refresh interval later for a replica that
-- had not refreshed yet, hours later for an unknown outcome an operator settles. Changed in
-- between, the books said the opposite of what the bureau did: a remainder the bureau voided
-- recorded as capturable (the next shipment's capture then declined), or a remainder the issuer
-- still holds recorded as voided (no capture or reversal of it ever again: the hold stays until
-- it expires, and the next shipment authorizes anew). Stored value deposits were fixed so in
-- 018 (svc_trans.void_remainder). Now the mark of a capture records the decision
-- (cc_deposit_trans.void_remainder) and the trigger uses it; a deposit marked before this
-- migration (NULL) is settled by the setting, as before.
--
-- What it costs to apply: ADD COLUMN without a default (catalog only), CREATE OR REPLACE
-- FUNCTION. At run time: the capture's mark writes one more column.

ALTER TABLE cc_deposit_trans ADD COLUMN void_remainder boolean;
COMMENT ON COLUMN cc_deposit_trans.void_remainder IS 'A capture: whether it was sent voiding what remains of its authorization (Void auth at deposit as the sending worker read it; the External Payment Service''s voidRemainder), which the settle trigger applies (046). NULL: not a capture, or marked before 046 (the setting then decides).';

CREATE OR REPLACE FUNCTION paylink_settle_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    claim    numeric(15,2) := coalesce(OLD.claim_amount, 0);
    captured numeric(15,2) := 0;
    mode     text := '';
BEGIN
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    IF NEW.request_type = 'credit' THEN
        IF OLD.claim_amount IS NOT NULL THEN
            UPDATE cc_deposit_trans
               SET amount_credited = greatest(amount_credited - (claim -
                       CASE WHEN NEW.status = 'approved'
                            THEN least(coalesce(NEW.amount_deposited, claim), claim)
                            ELSE 0 END), 0)
             WHERE request_id = NEW.capture_ref_request_id;
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.auth_history_id IS NULL THEN
        RETURN NULL; -- a manual authorization paylink holds no row for
    END IF;
    IF NEW.status = 'approved' AND NEW.operation = 'capture' THEN
        captured := coalesce(NEW.amount_deposited, 0);
        -- What the deposit was sent with (046); a deposit marked before 046, the setting now.
        IF coalesce(NEW.void_remainder, (SELECT void_auth_at_deposit FROM auth_service
                                          WHERE service_bureau = NEW.service_bureau)) THEN
            mode := 'void_at_deposit';
        END IF;
    ELSIF NEW.status = 'approved' AND NEW.operation = 'auth_capture' THEN
        mode := 'auth_capture';
    END IF;
    -- The remainder is voided (mode) unless another deposit still has a claim on the
    -- authorization: the same condition in each column, on the row version being updated.
    UPDATE auth_history h
       SET amount_pending = greatest(h.amount_pending - claim, 0),
           amount_deposited = h.amount_deposited + captured,
           amount_voided = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                              AND h.amount_pending = claim
                                              AND h.amount_authorized > h.amount_deposited + captured,
                                              false)
                                THEN h.amount_authorized - h.amount_deposited - captured
                                ELSE h.amount_voided END,
           void_reason = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                            AND h.amount_pending = claim
                                            AND h.amount_authorized > h.amount_deposited + captured,
                                            false)
                              THEN mode ELSE h.void_reason END,
           voided_by = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                          AND h.amount_pending = claim
                                          AND h.amount_authorized > h.amount_deposited + captured,
                                          false)
                            THEN NEW.request_id ELSE h.voided_by END,
           status = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                       AND h.amount_pending = claim
                                       AND h.amount_authorized > h.amount_deposited + captured,
                                       false)
                         THEN 'voided' ELSE h.status END
     WHERE h.id = NEW.auth_history_id;
    RETURN NULL;
END $$;
