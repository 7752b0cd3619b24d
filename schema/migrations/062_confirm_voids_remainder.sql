-- 062: a capture sent voiding the remainder of its authorization, confirmed by an operator, voids
-- that remainder as its answer would have.
--
-- Why: `paylinkctl deposits confirm` records that a capture whose outcome paylink did not know
-- (or that the bureau seemed to refuse) was in fact approved at the bureau. It counted the
-- capture deposited on its authorization, but what the approved capture did to the rest of it
-- is the settle trigger's (paylink_settle_deposit, 050), which runs only when a deposit goes
-- from sent or unknown to a final status: the confirmed one was final already. A capture sent
-- with Void auth at deposit (cc_deposit_trans.void_remainder, 046; the External Payment
-- Service's voidRemainder) makes the bureau release whatever it did not capture, yet the books
-- kept that remainder capturable: the next shipment's capture of it was sent and declined (the
-- bureau had released it), or, for more than it left, the order authorized anew while the
-- books still showed a hold to void.
--
-- Now what a debit's outcome does to the authorization it drew on is a function of its own,
-- paylink_settle_debit (050's rule, unchanged: release the claim, count the capture, void the
-- remainder unless another deposit claims on it, else defer that void until the claims end,
-- paylink_deferred_void), with what it voids for (paylink_debit_void_mode: auth_capture always,
-- void_at_deposit as the capture was sent, the setting for one marked before 046). The settle
-- trigger calls them as it did the same statements before, and `deposits confirm` calls them
-- for the capture it confirms (no claim to release, the amount it counts): one rule, whoever
-- books the capture.
--
-- What it costs to apply: two CREATE FUNCTION and CREATE OR REPLACE FUNCTION (050's trigger
-- function, restated whole with its authorization update moved into paylink_settle_debit); the
-- trigger stays. At run time: for each deposit that reaches a final status, one more PL/pgSQL
-- function call around the same one UPDATE of the authorization (and a second, for an approved
-- debit, that decides the void as before).

CREATE FUNCTION paylink_debit_void_mode(p_operation text, p_void_remainder boolean,
                                        p_service_bureau text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_operation = 'auth_capture' THEN
        RETURN 'auth_capture';
    END IF;
    -- What the capture was sent with (046); a capture marked before 046, the setting now.
    IF p_operation = 'capture' AND coalesce(p_void_remainder,
                                            (SELECT void_auth_at_deposit FROM auth_service
                                              WHERE service_bureau = p_service_bureau)) THEN
        RETURN 'void_at_deposit';
    END IF;
    RETURN '';
END $$;
COMMENT ON FUNCTION paylink_debit_void_mode(text, boolean, text) IS 'What a debit approved at the bureau voids of the authorization it drew on (062): ''auth_capture'' for an auth+capture (the authorization it replaced), ''void_at_deposit'' for a capture sent voiding the remainder (cc_deposit_trans.void_remainder; NULL, marked before 046: the service bureau''s Void auth at deposit now), '''' for nothing. Used by paylink_settle_deposit and paylinkctl deposits confirm.';

CREATE FUNCTION paylink_settle_debit(p_auth_history_id bigint, p_request_id text,
                                     p_claim numeric, p_captured numeric, p_mode text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- The remainder is voided (p_mode) unless another deposit still has a claim on the
    -- authorization: the same condition in each column, on the row version being updated. With
    -- another claim, the void is deferred (050) until the claims end (paylink_deferred_void).
    UPDATE auth_history h
       SET amount_pending = greatest(h.amount_pending - p_claim, 0),
           amount_deposited = h.amount_deposited + p_captured,
           amount_voided = CASE WHEN coalesce(p_mode <> '' AND h.status IN ('approved', 'review')
                                              AND h.amount_pending = p_claim
                                              AND h.amount_authorized > h.amount_deposited + p_captured,
                                              false)
                                THEN h.amount_authorized - h.amount_deposited - p_captured
                                ELSE h.amount_voided END,
           void_reason = CASE WHEN coalesce(p_mode <> '' AND h.status IN ('approved', 'review')
                                            AND h.amount_pending = p_claim
                                            AND h.amount_authorized > h.amount_deposited + p_captured,
                                            false)
                              THEN p_mode ELSE h.void_reason END,
           voided_by = CASE WHEN coalesce(p_mode <> '' AND h.status IN ('approved', 'review')
                                          AND h.amount_pending = p_claim
                                          AND h.amount_authorized > h.amount_deposited + p_captured,
                                          false)
                            THEN p_request_id ELSE h.voided_by END,
           status = CASE WHEN coalesce(p_mode <> '' AND h.status IN ('approved', 'review')
                                       AND h.amount_pending = p_claim
                                       AND h.amount_authorized > h.amount_deposited + p_captured,
                                       false)
                         THEN 'voided' ELSE h.status END,
           void_deferred_by = CASE WHEN coalesce(p_mode <> '' AND h.status IN ('approved', 'review')
                                                 AND h.amount_pending > p_claim
                                                 AND h.void_deferred_by IS NULL, false)
                                   THEN p_request_id ELSE h.void_deferred_by END,
           void_deferred_reason = CASE WHEN coalesce(p_mode <> '' AND h.status IN ('approved', 'review')
                                                     AND h.amount_pending > p_claim
                                                     AND h.void_deferred_by IS NULL, false)
                                       THEN p_mode ELSE h.void_deferred_reason END
     WHERE h.id = p_auth_history_id;
END $$;
COMMENT ON FUNCTION paylink_settle_debit(bigint, text, numeric, numeric, text) IS 'What a debit''s outcome does to the authorization it drew on (050''s rule, a function of its own since 062): releases p_claim (what it claimed), adds p_captured to amount_deposited and, for p_mode (paylink_debit_void_mode), voids the remainder by p_request_id — or, while another deposit has a claim on it, defers that void until the claims end (paylink_deferred_void). Called by paylink_settle_deposit when a deposit reaches a final status, and by paylinkctl deposits confirm for a capture confirmed approved (no claim, the amount it counts).';

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
    IF NEW.status = 'approved' THEN
        IF NEW.operation = 'capture' THEN
            captured := coalesce(NEW.amount_deposited, 0);
        END IF;
        mode := paylink_debit_void_mode(NEW.operation, NEW.void_remainder, NEW.service_bureau);
    END IF;
    PERFORM paylink_settle_debit(NEW.auth_history_id, NEW.request_id, claim, captured, mode);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_deposit() IS 'Trigger function (every status change of cc_deposit_trans; it does nothing unless the row goes from sent or unknown to a final status): when a deposit sent to the bureau reaches a final status, releases what it claimed (009), adds an approved capture to its authorization''s amount_deposited and voids the remainder (auth_capture always, void_at_deposit as the capture was sent, 046) — or, while another deposit has a claim on it, defers that void until the claims end (050); the authorization''s part is paylink_settle_debit (062), which paylinkctl deposits confirm calls too. A follow-on credit keeps only what it credited on its debit.';
