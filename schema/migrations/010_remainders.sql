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
