-- 043: a stored value card paylink knows is activated once.
--
-- Why: an `activate` under a new request id of a card already active (an upstream retry with a
-- fresh id, an operator's resend) was sent again: for a virtual card a second RechargeRequest,
-- which loads the card a second time — money the merchant gives away. Two activations of one
-- card sent together by two replicas both went too. Now paylink-svc reads the card's row in the
-- Stored Value Card table when it records an activation and declines it without a bureau call
-- when the card is active, or when another activation of it is in flight or has an unknown
-- outcome; and the statement that marks an activation sent claims the card row
-- (activation_pending, below) on its newest version, so of two activations in flight together
-- only one is sent. The claim is released by the settlement trigger when the activation's
-- outcome is final, whoever writes it (the worker, the resolver, an operator). A `recharge` adds
-- value to an active card as before; a card paylink has no row for (a physical card it never
-- saw) is the bureau's to judge, as before.
--
-- What it costs to apply: ADD COLUMN without a default (catalog only), an index of the rows that
-- set it (none yet: a scan of stored_value_card under SHARE lock), an UPDATE of the card rows
-- whose activation is in flight or unknown (a scan of svc_trans), CREATE OR REPLACE FUNCTION.

ALTER TABLE stored_value_card ADD COLUMN activation_pending varchar(50);
CREATE INDEX stored_value_card_activation_pending ON stored_value_card (activation_pending)
    WHERE activation_pending IS NOT NULL;
COMMENT ON INDEX stored_value_card_activation_pending IS 'The card an activation in flight or unknown holds, found by that activation''s request_id when its outcome is final (the settlement trigger), whatever hash key the card''s row is under by then.';
-- Activations in flight or unknown while this is applied hold their cards already (one of them,
-- where a card has several): a second activation sent meanwhile is refused as any other.
UPDATE stored_value_card c SET activation_pending = t.request_id
  FROM svc_trans t
 WHERE t.request_type = 'activate' AND t.status IN ('sent', 'unknown')
   AND c.service_bureau = t.service_bureau AND c.card_hash = t.card_hash
   AND c.activation_pending IS NULL;
COMMENT ON COLUMN stored_value_card.activation_pending IS 'request_id of the activation (svc_trans, request_type activate) marked sent for this card whose outcome is not final yet (in flight, or unknown with a required response); NULL otherwise. Set by the statement that marks the activation sent, only when the card is not active and no other activation holds it; cleared by the settlement trigger when that activation''s outcome is final. An activation of a card whose row holds another one is declined without a bureau call. An activation whose svc_trans row is deleted, or left sent for good, holds the card until an operator clears this column by hand (once the bureau says the card was not activated by it).';

-- 042's function, with the activation's branch first.
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
COMMENT ON FUNCTION paylink_settle_svc_deposit() IS 'Trigger function (every status change of svc_trans; it does nothing unless the row is an activation, or a deposit or a return that claimed, going from sent or unknown to a final status): an activation''s claim on its card row (stored_value_card.activation_pending, 043) is released; a stored value deposit''s claim on its authorization is released and, when approved, what it deposited (at most the claim) added to the authorization''s amount_deposited, and, for a deposit sent with voidRemainder (018), what the authorization still held beyond it and other claims to amount_voided; a return''s claim on the deposit it names (042) is released and, when approved, what it returned (at most the claim) added to the deposit''s amount_returned.';
