-- 063: the reversal of an authorization an auth+capture replaced is owed also when that
-- auth+capture was confirmed by an operator and its void waited for another claim.
--
-- Why: `paylinkctl deposits confirm` of an auth+capture the bureau approved (its outcome unknown
-- to paylink, or seemingly refused) books on the authorization it replaced what its approved
-- answer would have: the remainder voided (auth_capture), or, while another deposit still claims
-- on it, the void deferred (050) by the same function as the settle trigger
-- (paylink_settle_debit, 062); and, for a void carried out at once, the reversal `<deposit>.vdr`
-- owed (replaced_auth_reversal) as paylink-deposit's store owes it (059). A deferred void is
-- carried out by paylink_deferred_void once the claims end, and that trigger owes the reversal
-- (057) only for a deposit whose status is `approved`. A confirmed deposit keeps the status the
-- bureau seemed to answer (declined, rejected, error) and is marked deposit_status `*CONF`: the
-- void was carried out, no reversal was owed, and the replaced authorization's hold stayed on
-- the cardholder's card until it expired.
--
-- Now the trigger owes it for a confirmed auth+capture as for an approved one: the rest of its
-- rule is unchanged (an auth+capture, nothing of the authorization captured, Send reversal on
-- the deposit's service bureau, the deferred void's own deposit). paylink-deposit's resolver
-- publishes it as it does the others (`<deposit>.vdr`: a refused deposit never published one).
-- Only an operator's confirmation sets `*CONF` (on a deposit declined, rejected or error), and
-- only an approved or confirmed auth+capture defers a void for auth_capture.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (057's, restated whole with that one
-- condition). At run time: nothing more.

CREATE OR REPLACE FUNCTION paylink_deferred_void() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    h auth_history%ROWTYPE;
BEGIN
    -- The row as this transaction (which holds its lock) last wrote it: what the void decides by.
    SELECT * INTO h FROM auth_history
     WHERE id = NEW.id AND amount_pending = 0 AND void_deferred_by IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE auth_history a
       SET amount_voided = CASE WHEN a.status IN ('approved', 'review')
                                     AND a.amount_authorized > a.amount_deposited
                                THEN a.amount_authorized - a.amount_deposited
                                ELSE a.amount_voided END,
           void_reason = CASE WHEN a.status IN ('approved', 'review')
                                   AND a.amount_authorized > a.amount_deposited
                              THEN a.void_deferred_reason ELSE a.void_reason END,
           voided_by = CASE WHEN a.status IN ('approved', 'review')
                                 AND a.amount_authorized > a.amount_deposited
                            THEN a.void_deferred_by ELSE a.voided_by END,
           status = CASE WHEN a.status IN ('approved', 'review')
                              AND a.amount_authorized > a.amount_deposited
                         THEN 'voided' ELSE a.status END,
           void_deferred_by = NULL,
           void_deferred_reason = NULL
     WHERE a.id = NEW.id AND a.amount_pending = 0 AND a.void_deferred_by IS NOT NULL;
    -- The reversal paylink-deposit would have published with the auth+capture's answer had no
    -- claim stopped the void (reverses_old_auth): only with nothing captured (CyberSource refuses
    -- to reverse a captured authorization, 238), only where the deposit's service bureau has Send
    -- reversal; for an auth+capture approved, or confirmed approved at the bureau by an operator
    -- (063). Whether its follow-ups held one already is the resolver's to read.
    IF h.status IN ('approved', 'review') AND h.void_deferred_reason = 'auth_capture'
       AND h.amount_deposited = 0 AND h.amount_authorized > 0
       AND coalesce(h.request_id, '') <> '' THEN
        INSERT INTO replaced_auth_reversal (deposit_request_id, auth_history_id, auth_request_id,
                                            amount)
        SELECT d.request_id, h.id, h.request_id, h.amount_authorized
          FROM cc_deposit_trans d JOIN auth_service s ON s.service_bureau = d.service_bureau
         WHERE d.request_id = h.void_deferred_by
           AND (d.status = 'approved' OR d.deposit_status = '*CONF')
           AND d.operation = 'auth_capture' AND s.send_reversal
        ON CONFLICT (deposit_request_id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_deferred_void() IS 'Trigger function (050): once the claims on an authorization whose remainder a capture voided at the bureau drop to none, voids that remainder (authorized less deposited) with the deferred reason, by the deferring deposit; an authorization no longer approved or review only loses the marks. For an auth+capture (approved, or confirmed by an operator: deposit_status *CONF, 063) with nothing captured, on a service bureau with Send reversal, records its reversal as owed (replaced_auth_reversal, 057): the resolver publishes it, or publishes it again when the deposit''s own (follow-ups) was refused while the void waited.';
