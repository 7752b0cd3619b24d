-- 042: a stored value return that names the deposit it refunds (capture_ref) takes at most what
-- that deposit took, less earlier returns of it — as a follow-on card credit does (010).
--
-- Why: a `return` on paylink-svc was sent for the request's amount whatever it named: a
-- capture_ref on it (which the message schema accepts; the contract defines it as the debit a
-- credit refunds, "at most the captured amount less earlier credits") was not read, so a return
-- could put more on the card than the order's deposit took from it, or the same refund twice.
-- Now a return with capture_ref.request_id names a paylink stored value deposit of its own
-- company and order (in its currency), of the same card and approved; paylink-svc claims the
-- return's amount on the deposit's row (svc_trans.amount_pending) in the statement that marks it
-- sent, re-checking what remains on the newest version of the row, so two returns in flight
-- together never refund the same money; when the return reaches a final status, whoever writes
-- it (the worker, the resolver, an operator), the trigger releases the claim and adds what was
-- returned to the deposit's amount_returned. A return without capture_ref is a stand-alone
-- credit of the card, as before (a card credit without capture_ref is one too).
--
-- What it costs to apply: ADD COLUMN with a constant default (no rewrite) and its statistics
-- target (catalog only), two CHECK constraints replaced by weaker ones (ACCESS EXCLUSIVE for the
-- swap, then a scan under SHARE UPDATE EXCLUSIVE to validate them), CREATE OR REPLACE FUNCTION.

ALTER TABLE svc_trans ADD COLUMN amount_returned numeric(15,2) NOT NULL DEFAULT 0;
-- Sampled as 036 samples every column of the tables each request writes.
ALTER TABLE svc_trans ALTER COLUMN amount_returned SET STATISTICS 25;
COMMENT ON COLUMN svc_trans.amount_returned IS 'On a deposit: the amount later returns (ReturnRequest) naming it in capture_ref gave back to the card; 0 on other rows. What remains to return is amount_approved - amount_returned - amount_pending; the claim checks it, the settlement trigger never takes it below 0.';
COMMENT ON COLUMN svc_trans.amount_pending IS 'On an authorization: the amount claimed by deposits (Postauthorization) and voids (VoidRequest) in flight or with an unknown outcome; what remains to deposit is amount_approved - amount_deposited - amount_voided - amount_pending. On a deposit: the amount claimed by returns naming it (capture_ref) in flight or with an unknown outcome (042). 0 on other rows.';
COMMENT ON COLUMN svc_trans.claim_amount IS 'On a deposit: the amount it claimed on its authorization (ref_request_id) when it was marked sent; on a return naming a deposit (capture_ref, 042): the amount it claimed on that deposit. Released by a trigger when the row reaches a final status. NULL when nothing was claimed (refused before any call, a stand-alone return, or another request type).';
COMMENT ON COLUMN svc_trans.ref_request_id IS 'request_id of the svc_trans row this one draws on: the authorization of a deposit (auth_ref), the deposit a return refunds (capture_ref, 042); NULL otherwise.';

ALTER TABLE svc_trans
    DROP CONSTRAINT svc_trans_pending_on_auth,
    DROP CONSTRAINT svc_trans_claim_by_deposit,
    ADD CONSTRAINT svc_trans_pending_on_auth
        CHECK (request_type IN ('auth', 'deposit') OR amount_pending = 0) NOT VALID,
    ADD CONSTRAINT svc_trans_claim_by_deposit
        CHECK (request_type IN ('deposit', 'return') OR claim_amount IS NULL) NOT VALID;
ALTER TABLE svc_trans VALIDATE CONSTRAINT svc_trans_pending_on_auth;
ALTER TABLE svc_trans VALIDATE CONSTRAINT svc_trans_claim_by_deposit;
COMMENT ON CONSTRAINT svc_trans_pending_on_auth ON svc_trans IS 'Only an authorization (by deposits and voids) and a deposit (by returns naming it, 042) are claimed on.';
COMMENT ON CONSTRAINT svc_trans_claim_by_deposit ON svc_trans IS 'Only a deposit (on its authorization) and a return (on the deposit it names, 042) claim an amount; a void''s claim is on its auth_reversal row.';

-- 025's function (as 018 left it, the condition in the function), with the return's branch.
CREATE OR REPLACE FUNCTION paylink_settle_svc_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    dep numeric(15,2);
BEGIN
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
COMMENT ON FUNCTION paylink_settle_svc_deposit() IS 'Trigger function (every status change of svc_trans; it does nothing unless the row is a deposit or a return that claimed and goes from sent or unknown to a final status): a stored value deposit''s claim on its authorization is released and, when approved, what it deposited (at most the claim) added to the authorization''s amount_deposited, and, for a deposit sent with voidRemainder (018), what the authorization still held beyond it and other claims to amount_voided; a return''s claim on the deposit it names (042) is released and, when approved, what it returned (at most the claim) added to the deposit''s amount_returned.';
