-- 018: a stored value deposit through the External Payment Service with Void auth at deposit
-- (seed external-payment-service.txt: "Select this field to void any unused portion of a credit
-- card or stored value card authorization at deposit time. Note: The Retain Unused Stored Value
-- Card Authorization After Deposit (J21) system control value does not control stored value card
-- deposit updates for the External Payment Layer"). The deposit goes with voidRemainder: the
-- bureau releases what the authorization still holds beyond it, so paylink records that rest as
-- voided when the deposit is approved, whoever stores the outcome.

ALTER TABLE svc_trans ADD COLUMN void_remainder boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN svc_trans.void_remainder IS 'On a deposit: sent with voidRemainder (External Payment Service, Void auth at deposit): when it is approved, what its authorization still holds beyond it and beyond other claims in flight is added to the authorization''s amount_voided. False for Customer Engagement deposits (J21 keeps the rest authorized).';

CREATE OR REPLACE FUNCTION paylink_settle_svc_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    dep numeric(15,2) := CASE WHEN NEW.status = 'approved'
                              THEN least(coalesce(NEW.amount_approved, OLD.claim_amount),
                                         OLD.claim_amount)
                              ELSE 0 END;
BEGIN
    UPDATE svc_trans
       SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0),
           amount_deposited = amount_deposited + dep,
           amount_voided = amount_voided +
               CASE WHEN NEW.status = 'approved' AND NEW.void_remainder
                    THEN greatest(amount_approved - (amount_deposited + dep) - amount_voided
                                  - greatest(amount_pending - OLD.claim_amount, 0), 0)
                    ELSE 0 END
     WHERE request_id = NEW.ref_request_id AND request_type = 'auth';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_svc_deposit() IS 'Trigger function: when a stored value deposit that claimed its authorization reaches a final status, releases the claim and, when approved, adds what it deposited (at most the claim) to the authorization''s amount_deposited, and, for a deposit sent with voidRemainder (018), what the authorization still held beyond it and other claims to amount_voided.';
