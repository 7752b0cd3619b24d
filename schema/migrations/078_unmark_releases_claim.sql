-- 078: a row its own send attempt puts back from 'sent' to 'received' (the engine's statement
-- pl_unmark, PL_ENGINE_SQL_UNMARK: a call given back for redelivery, never sent) releases, in
-- the same statement, exactly what that attempt's mark claimed: a capture's amount on its
-- authorization, a follow-on credit's on its debit, a reversal's on its authorization, a stored
-- value void's, deposit's or return's on the row it draws on, an activation's hold on its card.
--
-- Why: the engine gives a call back rather than send it while the worker stops or leaves the
-- call's partition (engine.c held_back: after a wait for its OAuth access token, or to be sent
-- again after a 401). The claim triggers (009, 010, 014, 043) release a claim only when its row
-- reaches a final status, so a row put back to 'received' kept its claim: nothing would ever
-- release it (the redelivery's mark claims anew from 'received', counting it twice; its refusal
-- before a mark is stored from 'received', which releases nothing). So the engine sent such a
-- call anyway (External Payment Service captures, credits, reversals, stored value calls), and
-- the stop's drain deadline could cut its answer wait short: the row left 'sent', a required
-- response for an operator, where nothing had been sent yet.
--
-- Now a BEFORE UPDATE OF status trigger on each table whose mark claims (cc_deposit_trans,
-- auth_reversal, svc_trans) releases OLD.claim_amount as an `error` outcome would (nothing sent,
-- nothing captured or reversed: the same function or update the settle trigger runs, so a void
-- deferred on an authorization for this claim is carried out as it would be then, 050 / 056),
-- an activation's card hold (activation_pending naming the row) too, and clears claim_amount on
-- the row, so that no later statement releases it again. It fires only for 'sent' -> 'received',
-- which only pl_unmark writes, and pl_unmark changes a row only while it is still 'sent' by the
-- attempt that asks (sent_by; the row locked, re-read after any wait): a row another actor made
-- unknown, answered or marked meanwhile (a second replica, a redelivery, the resolver) keeps its
-- claim for its own outcome. What the mark recorded besides the claim stays: a reversal's
-- amount_issuer_held (what the issuer holds, whatever comes of the reversal) and a timeout
-- reversal's registration on its authorization's required response (the request's, not the
-- attempt's: the redelivery's mark goes on it, as the resolver's own `.tor` recorded before it
-- is published does). A deposit's deposit_status goes back from *SENT to blank (recorded).
--
-- What it costs to apply: three CREATE FUNCTION and three CREATE TRIGGER (a SHARE ROW EXCLUSIVE
-- lock on each table for a moment). At run time: the triggers' WHEN clause on each status
-- update of the three tables; they run only for a row given back.
SET LOCAL lock_timeout = '10s';

CREATE FUNCTION paylink_unmark_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.claim_amount IS NOT NULL THEN
        IF NEW.request_type = 'credit' THEN
            UPDATE cc_deposit_trans
               SET amount_credited = greatest(amount_credited - OLD.claim_amount, 0)
             WHERE request_id = NEW.capture_ref_request_id;
        ELSIF NEW.auth_history_id IS NOT NULL THEN
            -- As an `error` outcome: the claim released, nothing captured, nothing voided.
            PERFORM paylink_settle_debit(NEW.auth_history_id, NEW.request_id, OLD.claim_amount,
                                         0, '');
        END IF;
    END IF;
    NEW.claim_amount := NULL;
    IF NEW.deposit_status = '*SENT' THEN
        NEW.deposit_status := '';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION paylink_unmark_deposit() IS 'Trigger (078): a deposit its own send attempt puts back from sent to received (pl_unmark, never sent) releases the claim its mark made, as an error outcome would (paylink_settle_debit, or the debit''s amount_credited for a follow-on credit), clears claim_amount and deposit_status *SENT.';
CREATE TRIGGER cc_deposit_trans_unmark BEFORE UPDATE OF status ON cc_deposit_trans
    FOR EACH ROW WHEN (OLD.status = 'sent' AND NEW.status = 'received')
    EXECUTE FUNCTION paylink_unmark_deposit();

CREATE FUNCTION paylink_unmark_reversal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.claim_amount IS NOT NULL THEN
        IF NEW.operation = 'svc_void' THEN
            UPDATE svc_trans
               SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0)
             WHERE request_id = NEW.auth_request_id AND request_type = 'auth';
        ELSIF NEW.auth_history_id IS NOT NULL THEN
            UPDATE auth_history
               SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0)
             WHERE id = NEW.auth_history_id;
        END IF;
    END IF;
    NEW.claim_amount := NULL;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION paylink_unmark_reversal() IS 'Trigger (078): a reversal its own send attempt puts back from sent to received (pl_unmark, never sent) releases the claim its mark made on the authorization (auth_history, or a stored value void''s svc_trans), as an error outcome would, and clears claim_amount.';
CREATE TRIGGER auth_reversal_unmark BEFORE UPDATE OF status ON auth_reversal
    FOR EACH ROW WHEN (OLD.status = 'sent' AND NEW.status = 'received')
    EXECUTE FUNCTION paylink_unmark_reversal();

CREATE FUNCTION paylink_unmark_svc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.request_type = 'activate' THEN
        -- By the claim itself, as the settle trigger releases it (040).
        UPDATE stored_value_card SET activation_pending = NULL
         WHERE activation_pending = NEW.request_id AND service_bureau = NEW.service_bureau;
    ELSIF OLD.claim_amount IS NOT NULL AND NEW.request_type IN ('deposit', 'return') THEN
        UPDATE svc_trans
           SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0)
         WHERE request_id = NEW.ref_request_id
           AND request_type = CASE NEW.request_type WHEN 'return' THEN 'deposit' ELSE 'auth' END;
    END IF;
    NEW.claim_amount := NULL;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION paylink_unmark_svc() IS 'Trigger (078): a stored value request its own send attempt puts back from sent to received (pl_unmark, never sent) releases the claim its mark made (a deposit''s on its authorization, a return''s on its deposit, an activation''s activation_pending on its card), as an error outcome would, and clears claim_amount.';
CREATE TRIGGER svc_trans_unmark BEFORE UPDATE OF status ON svc_trans
    FOR EACH ROW WHEN (OLD.status = 'sent' AND NEW.status = 'received')
    EXECUTE FUNCTION paylink_unmark_svc();
