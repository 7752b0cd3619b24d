-- 014: what stored value deposits and voids take from their authorization (paylink-svc,
-- paylink-reversal), the way 009 and 010 do it for credit cards.
--
-- A stored value deposit (Postauthorization) settles against one authorization
-- (Preauthorization) and a void (VoidRequest, sent by paylink-reversal) releases what the
-- authorization still holds. Both may be in flight together, so each *claims* the amount it uses
-- on the authorization's row (svc_trans.amount_pending) in the statement that marks it sent; the
-- claim re-checks what remains on the newest version of the row, so a deposit and a void, or two
-- deposits, can never take the same money. When the deposit or the void reaches a final status,
-- whoever writes it (the worker, the resolver, an operator), a trigger releases the claim and
-- adds what was deposited (amount_deposited) or voided (amount_voided).
--
-- Also: a void is an auth_reversal row with operation svc_void (its auth_request_id names the
-- svc_trans authorization), and it shows in order_reversal_history with the card masked.

-- ---- svc_trans: claims ------------------------------------------------------------------------

ALTER TABLE svc_trans
    ADD COLUMN amount_pending numeric(15,2) NOT NULL DEFAULT 0 CHECK (amount_pending >= 0),
    ADD COLUMN claim_amount numeric(15,2) CHECK (claim_amount > 0);
COMMENT ON COLUMN svc_trans.amount_pending IS 'On an authorization: the amount claimed by deposits (Postauthorization) and voids (VoidRequest) in flight or with an unknown outcome. What remains to deposit is amount_approved - amount_deposited - amount_voided - amount_pending; 0 on other rows.';
COMMENT ON COLUMN svc_trans.claim_amount IS 'On a deposit: the amount it claimed on its authorization (ref_request_id) when it was marked sent; released by a trigger when the deposit reaches a final status. NULL when nothing was claimed (refused before any call, or another request type).';
ALTER TABLE svc_trans ADD CONSTRAINT svc_trans_pending_on_auth
    CHECK (request_type = 'auth' OR amount_pending = 0);
ALTER TABLE svc_trans ADD CONSTRAINT svc_trans_claim_by_deposit
    CHECK (request_type = 'deposit' OR claim_amount IS NULL);
COMMENT ON CONSTRAINT svc_trans_pending_on_auth ON svc_trans IS 'Only an authorization is claimed on by deposits and voids.';
COMMENT ON CONSTRAINT svc_trans_claim_by_deposit ON svc_trans IS 'Only a deposit claims an amount on an authorization (a void''s claim is on its auth_reversal row).';

CREATE FUNCTION paylink_settle_svc_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE svc_trans
       SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0),
           amount_deposited = amount_deposited +
               CASE WHEN NEW.status = 'approved'
                    THEN least(coalesce(NEW.amount_approved, OLD.claim_amount), OLD.claim_amount)
                    ELSE 0 END
     WHERE request_id = NEW.ref_request_id AND request_type = 'auth';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_svc_deposit() IS 'Trigger function: when a stored value deposit that claimed its authorization reaches a final status, releases the claim and, when approved, adds what it deposited (at most the claim) to the authorization''s amount_deposited.';
CREATE TRIGGER svc_trans_settle_deposit
    AFTER UPDATE OF status ON svc_trans FOR EACH ROW
    WHEN (NEW.request_type = 'deposit' AND OLD.status IN ('sent', 'unknown')
          AND NEW.status IN ('approved', 'declined', 'error') AND OLD.claim_amount IS NOT NULL)
    EXECUTE FUNCTION paylink_settle_svc_deposit();

-- ---- auth_reversal: stored value voids ---------------------------------------------------------

ALTER TABLE auth_reversal DROP CONSTRAINT auth_reversal_operation_check;
ALTER TABLE auth_reversal ADD CONSTRAINT auth_reversal_operation_check
    CHECK (operation IN ('', 'reversal', 'svc_void'));
COMMENT ON CONSTRAINT auth_reversal_operation_check ON auth_reversal IS 'What was sent: blank (refused before any call), reversal (ccAuthReversalService), svc_void (Customer Engagement VoidRequest).';
COMMENT ON COLUMN auth_reversal.operation IS 'What was sent to the bureau: reversal (CyberSource ccAuthReversalService), svc_void (Customer Engagement VoidRequest of a stored value authorization); blank when the request was refused before any call.';
COMMENT ON COLUMN auth_reversal.auth_request_id IS 'request_id of the paylink authorization being reversed: cc_auth_trans, or svc_trans for a stored value void (service bureau of protocol RLT); NULL for a manual authorization given inline.';
COMMENT ON COLUMN auth_reversal.auth_transaction_id IS 'Bureau transaction id of the authorization: sent as authRequestID (CyberSource), or the SVATransactionID of the stored value authorization voided.';
COMMENT ON COLUMN auth_reversal.claim_amount IS 'Amount this reversal claimed on its authorization when it was marked sent: the whole authorization for a credit card (auth_history.amount_pending), what the stored value authorization still holds for a void (svc_trans.amount_pending). Released by a trigger when the reversal reaches a final status; NULL when nothing was claimed (a manual authorization paylink does not hold).';
COMMENT ON COLUMN auth_reversal.amount_reversed IS 'Amount the bureau reversed (CyberSource: the whole authorization; a stored value void: what the authorization still held, SVAAmount).';

CREATE FUNCTION paylink_settle_svc_void() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE svc_trans
       SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0),
           amount_voided = amount_voided +
               CASE WHEN NEW.status = 'approved'
                    THEN least(coalesce(NEW.amount_reversed, OLD.claim_amount), OLD.claim_amount)
                    ELSE 0 END
     WHERE request_id = NEW.auth_request_id AND request_type = 'auth';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_svc_void() IS 'Trigger function: when a stored value void (auth_reversal, operation svc_void) that claimed its authorization reaches a final status, releases the claim and, when approved, adds what it released (at most the claim) to the authorization''s amount_voided.';
CREATE TRIGGER auth_reversal_settle_svc_void
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW
    WHEN (NEW.operation = 'svc_void' AND OLD.status IN ('sent', 'unknown')
          AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
          AND OLD.claim_amount IS NOT NULL)
    EXECUTE FUNCTION paylink_settle_svc_void();

-- The columns and types of 005's view, a void's card masked from its authorization.
CREATE OR REPLACE VIEW order_reversal_history AS
SELECT r.company, r.order_number, r.pay_seq, r.received_at AS at, 'reversal'::text AS kind,
       r.request_id, coalesce(nullif(r.operation, ''), 'reversal')::varchar(10) AS operation,
       r.status, r.amount, r.amount_reversed AS amount_approved, r.currency, r.vendor_response,
       r.transaction_id, coalesce(t.card_masked, s.card_masked, '')::varchar(24) AS card_masked
  FROM auth_reversal r
  LEFT JOIN cc_auth_trans t ON t.request_id = r.auth_request_id AND r.operation <> 'svc_void'
  LEFT JOIN svc_trans s ON s.request_id = r.auth_request_id AND r.operation = 'svc_void';
COMMENT ON VIEW order_reversal_history IS 'Authorization reversals of an order in the shape of order_payment_history (kind ''reversal'', operation reversal or svc_void, amount_approved = amount reversed, transaction_id = the reversal''s, card masked as its authorization has it); filter on company and order_number, ORDER BY at. Merged into order_payment_history.';

-- ---- the Stored Value Card table: activation time ---------------------------------------------

CREATE FUNCTION paylink_parse_time(t text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN t::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_parse_time(text) IS 'A time a bureau reported as text (Customer Engagement TransactionDateTime, e.g. 2010-08-25T09:44:26-0400) as timestamptz; NULL when it is not one, so a strange answer never fails the statement that stores it.';
