-- 050: a capture that voids the remainder of its authorization while another deposit still has a
-- claim on it voids that remainder once the last claim ends.
--
-- Why: a capture sent voiding the remainder (Void auth at deposit: the External Payment
-- Service's voidRemainder, 046) makes the bureau release whatever of the authorization it did not
-- capture, including what a second capture of the same authorization, in flight at the same
-- time, claimed. The settle trigger voided the remainder in paylink's books only when no other
-- deposit had a claim (so as not to void what that deposit was capturing), and nothing voided it
-- later: once the second capture ended (declined by the bureau, the remainder being gone; or
-- approved, when the bureau had taken it first), the books kept a remainder the bureau had
-- released, and the next shipment's capture of it was sent and declined. An auth+capture that
-- replaced the authorization (auth_capture) had the same gap.
--
-- Now the settle trigger, when another claim stops it from voiding, records the void as deferred
-- (auth_history.void_deferred_by / void_deferred_reason), and a trigger on auth_history carries
-- it out when the authorization's claims drop to none, whichever claim ended last (a deposit, a
-- reversal): the remainder then (authorized less deposited) is voided with the deferred reason,
-- by the deferring capture. An authorization reversed or voided meanwhile only loses the marks.
-- paylink-deposit reads an authorization with a deferred void as voided (a debit of it is
-- authorized anew with the capture, as for a voided one) and does not claim on it.
--
-- What it costs to apply: two ADD COLUMN without a default (catalog only), SET STATISTICS (036),
-- CREATE OR REPLACE FUNCTION, CREATE FUNCTION, CREATE TRIGGER (a SHARE ROW EXCLUSIVE lock on
-- auth_history for a moment). At run time: the new trigger's WHEN clause on each update of
-- auth_history; it runs (one more update of the row) only where a void was deferred.

ALTER TABLE auth_history ADD COLUMN void_deferred_by varchar(50),
                         ADD COLUMN void_deferred_reason varchar(16);
ALTER TABLE auth_history ALTER COLUMN void_deferred_by SET STATISTICS 25,
                         ALTER COLUMN void_deferred_reason SET STATISTICS 25;
COMMENT ON COLUMN auth_history.void_deferred_by IS 'The deposit (cc_deposit_trans.request_id) whose void of the remainder waits for the other claims on this authorization to end (050); NULL when none.';
COMMENT ON COLUMN auth_history.void_deferred_reason IS 'The void_reason that deferred void will record (void_at_deposit, auth_capture); NULL when none.';

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
    -- authorization: the same condition in each column, on the row version being updated. With
    -- another claim, the void is deferred (050) until the claims end (paylink_deferred_void).
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
                         THEN 'voided' ELSE h.status END,
           void_deferred_by = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                                 AND h.amount_pending > claim
                                                 AND h.void_deferred_by IS NULL, false)
                                   THEN NEW.request_id ELSE h.void_deferred_by END,
           void_deferred_reason = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                                     AND h.amount_pending > claim
                                                     AND h.void_deferred_by IS NULL, false)
                                       THEN mode ELSE h.void_deferred_reason END
     WHERE h.id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_deposit() IS 'Trigger function (every status change of cc_deposit_trans; it does nothing unless the row goes from sent or unknown to a final status): when a deposit sent to the bureau reaches a final status, releases what it claimed (009), adds an approved capture to its authorization''s amount_deposited and voids the remainder (auth_capture always, void_at_deposit as the capture was sent, 046) — or, while another deposit has a claim on it, defers that void until the claims end (050); a follow-on credit keeps only what it credited on its debit.';

CREATE FUNCTION paylink_deferred_void() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_history h
       SET amount_voided = CASE WHEN h.status IN ('approved', 'review')
                                     AND h.amount_authorized > h.amount_deposited
                                THEN h.amount_authorized - h.amount_deposited
                                ELSE h.amount_voided END,
           void_reason = CASE WHEN h.status IN ('approved', 'review')
                                   AND h.amount_authorized > h.amount_deposited
                              THEN h.void_deferred_reason ELSE h.void_reason END,
           voided_by = CASE WHEN h.status IN ('approved', 'review')
                                 AND h.amount_authorized > h.amount_deposited
                            THEN h.void_deferred_by ELSE h.voided_by END,
           status = CASE WHEN h.status IN ('approved', 'review')
                              AND h.amount_authorized > h.amount_deposited
                         THEN 'voided' ELSE h.status END,
           void_deferred_by = NULL,
           void_deferred_reason = NULL
     WHERE h.id = NEW.id AND h.amount_pending = 0 AND h.void_deferred_by IS NOT NULL;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_deferred_void() IS 'Trigger function (050): once the claims on an authorization whose remainder a capture voided at the bureau drop to none, voids that remainder (authorized less deposited) with the deferred reason, by the deferring deposit; an authorization no longer approved or review only loses the marks.';
CREATE TRIGGER auth_history_deferred_void AFTER UPDATE ON auth_history
    FOR EACH ROW WHEN (NEW.void_deferred_by IS NOT NULL AND NEW.amount_pending = 0)
    EXECUTE FUNCTION paylink_deferred_void();
