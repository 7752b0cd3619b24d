-- 056: a stored value deposit that voids the remainder of its authorization while another
-- deposit still has a claim on it voids that remainder once the last claim ends (050, for
-- stored value).
--
-- Why: a stored value deposit sent with voidRemainder (the External Payment Service's Void auth
-- at deposit, 018) makes the bureau release whatever of the authorization it did not deposit,
-- including what a second deposit of the same authorization, in flight at the same time,
-- claimed. The settle trigger voided, in paylink's books, only what no other deposit claimed,
-- and nothing voided the rest later: once the second deposit ended (declined by the bureau, the
-- remainder being gone; or approved for less), the books kept a remainder the bureau had
-- released; the next deposit's claim on it was accepted and sent, and declined, and `svc
-- reverse-unused` listed it for a void the bureau refuses. 050 closed the same gap for credit
-- cards (auth_history); this is its port to svc_trans.
--
-- Now the settle trigger, when another claim is left on the authorization, records the void as
-- deferred (svc_trans.void_deferred_by, on the authorization's row), and a trigger on svc_trans
-- carries it out when the authorization's claims drop to none, whichever claim ended last: what
-- is left then (approved less deposited less voided) is voided. An authorization no longer
-- approved meanwhile only loses the mark. A deposit's claim on an authorization with a deferred
-- void is refused (paylink-svc's mark: nothing is left at the bureau), so it is declined
-- without a call, as a claim beyond the authorization is.
--
-- What it costs to apply: ADD COLUMN without a default (catalog only), SET STATISTICS (036),
-- CREATE OR REPLACE FUNCTION, CREATE FUNCTION, CREATE TRIGGER (a SHARE ROW EXCLUSIVE lock on
-- svc_trans for a moment). At run time: the new trigger's WHEN clause on each update of
-- svc_trans; its function runs (on the row being updated, no statement of its own) only where
-- a void was deferred.

ALTER TABLE svc_trans ADD COLUMN void_deferred_by varchar(50);
ALTER TABLE svc_trans ALTER COLUMN void_deferred_by SET STATISTICS 25;
COMMENT ON COLUMN svc_trans.void_deferred_by IS 'On a stored value authorization: the deposit (svc_trans.request_id) sent with voidRemainder whose void of the remainder waits for the other claims on this authorization to end (056); NULL when none.';

-- 043's function; only the authorization's UPDATE changes (void_deferred_by).
CREATE OR REPLACE FUNCTION paylink_settle_svc_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    dep numeric(15,2);
BEGIN
    IF NEW.request_type = 'activate' THEN
        IF OLD.status IN ('sent', 'unknown') AND NEW.status IN ('approved', 'declined', 'error') THEN
            -- By the claim itself, not the card's hash: the row may have moved to a newer hash
            -- key meanwhile (040).
            UPDATE stored_value_card SET activation_pending = NULL
             WHERE activation_pending = NEW.request_id AND service_bureau = NEW.service_bureau;
        END IF;
        RETURN NULL;
    END IF;
    IF (NEW.request_type IN ('deposit', 'return') AND OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'error')
        AND OLD.claim_amount IS NOT NULL) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    dep := CASE WHEN NEW.status = 'approved'
                THEN least(coalesce(NEW.amount_approved, OLD.claim_amount), OLD.claim_amount)
                ELSE 0 END;
    IF NEW.request_type = 'return' THEN
        UPDATE svc_trans
           SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0),
               amount_returned = amount_returned + dep
         WHERE request_id = NEW.ref_request_id AND request_type = 'deposit';
        RETURN NULL;
    END IF;
    -- What no other claim holds is voided now; with another claim left, the rest is voided when
    -- the claims end (paylink_svc_deferred_void).
    UPDATE svc_trans
       SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0),
           amount_deposited = amount_deposited + dep,
           amount_voided = amount_voided +
               CASE WHEN NEW.status = 'approved' AND NEW.void_remainder
                    THEN greatest(amount_approved - (amount_deposited + dep) - amount_voided
                                  - greatest(amount_pending - OLD.claim_amount, 0), 0)
                    ELSE 0 END,
           void_deferred_by =
               CASE WHEN NEW.status = 'approved' AND NEW.void_remainder
                         AND amount_pending > OLD.claim_amount AND void_deferred_by IS NULL
                    THEN NEW.request_id ELSE void_deferred_by END
     WHERE request_id = NEW.ref_request_id AND request_type = 'auth';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_svc_deposit() IS 'Trigger function (every status change of svc_trans; it does nothing unless the row is an activation, or a deposit or a return that claimed, going from sent or unknown to a final status): an activation''s claim on its card row (stored_value_card.activation_pending, 043) is released; a stored value deposit''s claim on its authorization is released and, when approved, what it deposited (at most the claim) added to the authorization''s amount_deposited, and, for a deposit sent with voidRemainder (018), what the authorization still held beyond it and other claims to amount_voided — the rest once those claims end (void_deferred_by, 056); a return''s claim on the deposit it names (042) is released and, when approved, what it returned (at most the claim) added to the deposit''s amount_returned.';

CREATE FUNCTION paylink_svc_deferred_void() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'approved' THEN
        NEW.amount_voided := NEW.amount_voided
            + greatest(NEW.amount_approved - NEW.amount_deposited - NEW.amount_voided, 0);
    END IF;
    NEW.void_deferred_by := NULL;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION paylink_svc_deferred_void() IS 'Trigger function (056): once the claims on a stored value authorization whose remainder a deposit voided at the bureau drop to none, voids that remainder (approved less deposited less voided) in the same update; an authorization no longer approved only loses the mark.';
CREATE TRIGGER svc_trans_deferred_void BEFORE UPDATE ON svc_trans
    FOR EACH ROW WHEN (NEW.void_deferred_by IS NOT NULL AND NEW.amount_pending = 0)
    EXECUTE FUNCTION paylink_svc_deferred_void();
