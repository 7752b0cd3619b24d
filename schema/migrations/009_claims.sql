-- 009: concurrent work on one authorization (or one debit) sees itself, and sent_by fits every
-- instance name.
--
-- Two debits against the same 100.00 authorization, or a debit and a reversal, can be in flight
-- together (different Kafka messages, even different workers). Each reads what remains of the
-- authorization, decides, and calls the bureau; without coordination both would capture 60.00
-- against 100.00. So the amount a call will use is *claimed* on the row it draws on, in the same
-- statement that marks the request sent: the claim is a guarded UPDATE that re-checks what
-- remains on the newest version of that row (PostgreSQL re-evaluates the WHERE clause of an
-- UPDATE on a row another transaction changed meanwhile), so two claims can never both take the
-- same money. A call whose claim fails is decided again with what is left (a capture becomes an
-- authorization and capture, a reversal is refused).
--
-- A claim lasts while the outcome is open (sent, unknown): an unknown capture may have happened,
-- so its amount stays unavailable until the outcome is known. When the transaction row reaches
-- a final status, whoever wrote it (the worker, paylinkctl, the resolver, an operator), a
-- trigger releases what the outcome did not use.

ALTER TABLE cc_auth_trans ALTER COLUMN sent_by TYPE varchar(120);
ALTER TABLE cc_deposit_trans ALTER COLUMN sent_by TYPE varchar(120);
ALTER TABLE auth_reversal ALTER COLUMN sent_by TYPE varchar(120);
COMMENT ON COLUMN cc_auth_trans.sent_by IS 'The send attempt that marked the row sent: <PAYLINK_INSTANCE (at most 95 characters)>/<counter>, so a mark re-sent after a lost database connection is recognised as its own.';
COMMENT ON COLUMN cc_deposit_trans.sent_by IS 'The send attempt that marked the row sent: <PAYLINK_INSTANCE (at most 95 characters)>/<counter>, so a mark re-sent after a lost database connection is recognised as its own.';
COMMENT ON COLUMN auth_reversal.sent_by IS 'The send attempt that marked the row sent: <PAYLINK_INSTANCE (at most 95 characters)>/<counter>, so a mark re-sent after a lost database connection is recognised as its own.';

ALTER TABLE auth_history ADD COLUMN amount_pending numeric(15,2) NOT NULL DEFAULT 0
    CHECK (amount_pending >= 0);
COMMENT ON COLUMN auth_history.amount_pending IS 'Amount claimed by calls in flight or with an unknown outcome: captures being sent against this authorization, or the whole authorization while a reversal of it is sent. What remains to capture is amount_authorized - amount_deposited - amount_pending.';

ALTER TABLE cc_deposit_trans ADD COLUMN claim_amount numeric(15,2);
COMMENT ON COLUMN cc_deposit_trans.claim_amount IS 'Amount this deposit claimed when it was marked sent: a capture claims on its authorization (auth_history.amount_pending), a follow-on credit on the debit it refunds (cc_deposit_trans.amount_credited). Released by a trigger when the deposit reaches a final status; NULL when nothing was claimed.';
ALTER TABLE cc_deposit_trans ADD COLUMN amount_credited numeric(15,2) NOT NULL DEFAULT 0
    CHECK (amount_credited >= 0);
COMMENT ON COLUMN cc_deposit_trans.amount_credited IS 'On a debit: the amount of follow-on credits against it that were approved or are still open (sent, unknown). A new credit may refund at most amount_deposited - amount_credited.';

ALTER TABLE auth_reversal ADD COLUMN claim_amount numeric(15,2);
COMMENT ON COLUMN auth_reversal.claim_amount IS 'Amount this reversal claimed on its authorization (auth_history.amount_pending: the whole authorization, so no capture can start meanwhile) when it was marked sent; released by a trigger when the reversal reaches a final status. NULL when nothing was claimed (a manual authorization paylink does not hold).';

-- A deposit's claim is released by the trigger that settles a deposit's effect on its
-- authorization (010_remainders.sql, paylink_settle_deposit), once the columns it also writes
-- exist.

CREATE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_history SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0)
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function: when a reversal that claimed its authorization reaches a final status, releases the claim (an approved reversal has marked the authorization reversed by then).';
CREATE TRIGGER auth_reversal_release_claim
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW
    WHEN (OLD.status IN ('sent', 'unknown')
          AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
          AND OLD.claim_amount IS NOT NULL)
    EXECUTE FUNCTION paylink_release_reversal_claim();
