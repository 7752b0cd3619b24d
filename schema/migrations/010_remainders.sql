-- 010: what happens to the remainder of an authorization, and authorizations that deposits bring.
--
-- Seed "Deposit Process", step 6: when a debit was sent as an authorization and capture (the
-- amount exceeded what was authorized, the authorization expired, an installment), the unused
-- authorization is voided; with Void auth at deposit, the unused part of an authorization is
-- voided after a partial capture. auth_history now says how much was voided, why and by which
-- deposit; a reversal at the bureau (Send reversal, only possible while nothing of the
-- authorization was captured: CyberSource refuses it with 238 afterwards) then turns the row
-- 'reversed'.
--
-- A new authorization code in a deposit's answer is an authorization too (seed step 6), also
-- when the deposit settled a manual authorization that paylink never recorded: such a row has
-- no cc_auth_trans request, only the deposit that brought it.

ALTER TABLE auth_history ADD COLUMN amount_voided numeric(15,2) NOT NULL DEFAULT 0
    CHECK (amount_voided >= 0);
COMMENT ON COLUMN auth_history.amount_voided IS 'Amount of this authorization voided (no longer capturable) by a deposit: all of it after an authorization and capture replaced it, the remainder after a partial capture with Void auth at deposit.';
ALTER TABLE auth_history ADD COLUMN void_reason varchar(16) NOT NULL DEFAULT ''
    CHECK (void_reason IN ('', 'auth_capture', 'void_at_deposit'));
COMMENT ON COLUMN auth_history.void_reason IS 'Why it was voided: auth_capture (a deposit authorized and captured anew; seed step 6: the unused authorization is voided, and reversed at the bureau with Send reversal while nothing of it was captured), void_at_deposit (the remainder after a partial capture, Void auth at deposit; not reversible at the bureau once captured, so the issuer releases it when it expires). Blank when not voided.';
ALTER TABLE auth_history ADD COLUMN voided_by varchar(50) NOT NULL DEFAULT '';
COMMENT ON COLUMN auth_history.voided_by IS 'The deposit (cc_deposit_trans.request_id) that voided it; blank when not voided.';

ALTER TABLE auth_history ALTER COLUMN request_id DROP NOT NULL;
ALTER TABLE auth_history ADD COLUMN deposit_request_id varchar(50) REFERENCES cc_deposit_trans;
ALTER TABLE auth_history ADD CONSTRAINT auth_history_has_origin
    CHECK (request_id IS NOT NULL OR deposit_request_id IS NOT NULL);
CREATE INDEX auth_history_deposit ON auth_history (deposit_request_id) WHERE deposit_request_id IS NOT NULL;
COMMENT ON COLUMN auth_history.request_id IS 'The paylink authorization request (cc_auth_trans) this authorization belongs to; NULL for an authorization a deposit brought for a manual authorization paylink never recorded (see deposit_request_id).';
COMMENT ON COLUMN auth_history.deposit_request_id IS 'The deposit (cc_deposit_trans) whose answer carried this authorization (an authorization and capture, or a new authorization code); NULL for the answers of authorization requests.';
COMMENT ON INDEX auth_history_deposit IS 'Authorizations brought by deposits, by deposit.';

-- What a deposit's outcome does to the authorization it drew on, applied by whoever writes the
-- outcome (paylink-deposit, paylinkctl deposits receive, the resolver, an operator), in the same
-- transaction: the claim it made when it was marked sent is released; an approved capture adds
-- what it captured to amount_deposited; and the remainder is voided — after an authorization
-- and capture always (seed step 6), after a capture when the service bureau has Void auth at
-- deposit — unless another deposit still has a claim on the authorization. A follow-on credit
-- keeps on its debit only what it credited.
CREATE FUNCTION paylink_settle_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    claim    numeric(15,2) := coalesce(OLD.claim_amount, 0);
    captured numeric(15,2) := 0;
    mode     text := '';
    h        auth_history%ROWTYPE;
    voids    boolean;
BEGIN
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
    SELECT * INTO h FROM auth_history WHERE id = NEW.auth_history_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL; -- a manual authorization paylink holds no row for
    END IF;
    IF NEW.status = 'approved' AND NEW.operation = 'capture' THEN
        captured := coalesce(NEW.amount_deposited, 0);
        IF (SELECT void_auth_at_deposit FROM auth_service
             WHERE service_bureau = NEW.service_bureau) THEN
            mode := 'void_at_deposit';
        END IF;
    ELSIF NEW.status = 'approved' AND NEW.operation = 'auth_capture' THEN
        mode := 'auth_capture';
    END IF;
    voids := coalesce(mode <> '' AND h.status IN ('approved', 'review')
                      AND h.amount_pending = claim
                      AND h.amount_authorized > h.amount_deposited + captured, false);
    UPDATE auth_history
       SET amount_pending = greatest(amount_pending - claim, 0),
           amount_deposited = amount_deposited + captured,
           amount_voided = CASE WHEN voids THEN amount_authorized - amount_deposited - captured
                                ELSE amount_voided END,
           void_reason = CASE WHEN voids THEN mode ELSE void_reason END,
           voided_by = CASE WHEN voids THEN NEW.request_id ELSE voided_by END,
           status = CASE WHEN voids THEN 'voided' ELSE status END
     WHERE id = h.id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_deposit() IS 'Trigger function: when a deposit sent to the bureau reaches a final status, releases what it claimed (009), adds an approved capture to its authorization''s amount_deposited and voids the remainder (auth_capture always, void_at_deposit with Void auth at deposit) unless another deposit has a claim on it; a follow-on credit keeps only what it credited on its debit.';
CREATE TRIGGER cc_deposit_trans_settle
    AFTER UPDATE OF status ON cc_deposit_trans FOR EACH ROW
    WHEN (OLD.status IN ('sent', 'unknown')
          AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error'))
    EXECUTE FUNCTION paylink_settle_deposit();
