-- 026: the deposit settle trigger (010, as 025 left it) settles the authorization in one
-- statement instead of three.
--
-- Why: paylink_settle_deposit runs for every deposit outcome. It locked and read the
-- authorization (SELECT ... FOR UPDATE), then updated it, each a statement of its own that
-- PostgreSQL sets up and runs through SPI. The UPDATE alone does what the two did: it locks the
-- row and, when another transaction changed it meanwhile, works on its newest version (READ
-- COMMITTED re-checks an updated row), which is the version the SELECT ... FOR UPDATE read;
-- whether the remainder is voided is computed in the UPDATE from that same version, as the
-- function computed it from the row it had locked. No authorization row (a manual authorization
-- paylink holds none for, auth_history_id NULL) updates nothing, as before. Same rows, same
-- values, same order of triggers; the row lock is the UPDATE's own (FOR NO KEY UPDATE), which
-- only a foreign key check on the authorization no longer waits for. Measured in instructions of the PostgreSQL backend per
-- approved capture (valgrind; the worker's statements replayed in a single-user backend): the
-- answer's statement 741 k -> 696 k.
--
-- Only the function changes (CREATE OR REPLACE: the trigger, the function's comment and its
-- grants stay): no table is rewritten, no lock beyond the function's catalogue row.

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
    IF NEW.status = 'approved' AND NEW.operation = 'capture' THEN
        captured := coalesce(NEW.amount_deposited, 0);
        IF (SELECT void_auth_at_deposit FROM auth_service
             WHERE service_bureau = NEW.service_bureau) THEN
            mode := 'void_at_deposit';
        END IF;
    ELSIF NEW.status = 'approved' AND NEW.operation = 'auth_capture' THEN
        mode := 'auth_capture';
    END IF;
    -- The remainder is voided (mode) unless another deposit still has a claim on the
    -- authorization: the same condition in each column, on the row version being updated.
    UPDATE auth_history h
       SET amount_pending = greatest(h.amount_pending - claim, 0),
           amount_deposited = h.amount_deposited + captured,
           amount_voided = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                              AND h.amount_pending = claim
                                              AND h.amount_authorized > h.amount_deposited + captured,
                                              false)
                                THEN h.amount_authorized - h.amount_deposited - captured
                                ELSE h.amount_voided END,
           void_reason = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                            AND h.amount_pending = claim
                                            AND h.amount_authorized > h.amount_deposited + captured,
                                            false)
                              THEN mode ELSE h.void_reason END,
           voided_by = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                          AND h.amount_pending = claim
                                          AND h.amount_authorized > h.amount_deposited + captured,
                                          false)
                            THEN NEW.request_id ELSE h.voided_by END,
           status = CASE WHEN coalesce(mode <> '' AND h.status IN ('approved', 'review')
                                       AND h.amount_pending = claim
                                       AND h.amount_authorized > h.amount_deposited + captured,
                                       false)
                         THEN 'voided' ELSE h.status END
     WHERE h.id = NEW.auth_history_id;
    RETURN NULL;
END $$;
