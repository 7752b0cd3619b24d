-- 057: the reversal of an authorization an auth+capture replaced goes out when its deferred void
-- is carried out.
--
-- Why: after an approved auth+capture the authorization it replaced is voided (seed step 6,
-- void_reason auth_capture) and, with Send reversal and nothing of it captured, a reversal
-- `<deposit>.vdr` of it is published so that the issuer releases the hold. That reversal was
-- decided only when the auth+capture's answer was stored (paylink-deposit's followups, the
-- resolver's store_followups). When another deposit still had a claim on the authorization then,
-- the void waited (050) and no reversal was decided; the trigger that carries the void out once
-- the claims end (paylink_deferred_void) published nothing, and a trigger cannot publish to
-- Kafka. The other claim declined (the bureau captured nothing of that authorization), the
-- replaced authorization's hold stayed on the cardholder's card until it expired.
--
-- Now paylink_deferred_void, when it voids for an auth+capture an authorization of which nothing
-- was captured, on a service bureau with Send reversal, records that reversal as owed
-- (replaced_auth_reversal), in the same transaction as the void — whichever statement ended the
-- last claim (paylink-deposit, paylink-reversal, the resolver, an operator). paylink-deposit's
-- resolver (common/resolver.c, every pass) publishes each owed reversal under a lease and marks
-- it published; one published twice (a crash before the mark) carries the same request_id and
-- payload, so paylink-reversal answers the second from its row. Recorded also when the
-- auth+capture's own follow-ups hold its reversal (paylink-deposit published it, having seen no
-- claim when it decided, while another deposit claimed before the answer): paylink-reversal
-- refused that one while the claim lasted ("a deposit is in progress") under its fixed id, and
-- the resolver, which reads what became of it, publishes the reversal again under another
-- (`<deposit>.vdr2`) — or nothing, when that one went through.
--
-- What it costs to apply: CREATE TABLE and a partial index (new, empty), CREATE OR REPLACE
-- FUNCTION. At run time: nothing where no void was deferred; where one is carried out, one more
-- read of the auth_history row and, for an owed reversal, one INSERT; the resolver's one probe of
-- the partial index a pass.

CREATE TABLE replaced_auth_reversal (
    -- No foreign keys: the test and dev clean-ups delete deposits and authorizations by request
    -- id prefix without knowing this table, and a row here only asks for a message.
    deposit_request_id varchar(50)   PRIMARY KEY,
    auth_history_id    bigint        NOT NULL,
    auth_request_id    varchar(50)   NOT NULL CHECK (auth_request_id <> ''),
    amount             numeric(15,2) NOT NULL CHECK (amount > 0),
    owed_at            timestamptz   NOT NULL DEFAULT now(),
    published_at       timestamptz,
    lease_owner        varchar(160),
    lease_until        timestamptz
);
CREATE INDEX replaced_auth_reversal_owed ON replaced_auth_reversal (owed_at)
    WHERE published_at IS NULL;
COMMENT ON INDEX replaced_auth_reversal_owed IS 'The reversals still to publish, oldest first (the resolver''s probe each pass).';
COMMENT ON TABLE replaced_auth_reversal IS 'Reversals `<deposit>.vdr` of an authorization an approved auth+capture replaced whose void was deferred (050) and carried out with nothing of it captured, on a service bureau with Send reversal (057): written by paylink_deferred_void, published on reversal.request by paylink-deposit''s resolver (`<deposit>.vdr`, or `<deposit>.vdr2` when the deposit''s own `.vdr`, published with its answer, was refused while the void waited; nothing when that one went through). A reversal decided with the auth+capture''s answer with no void deferred has no row here.';
COMMENT ON COLUMN replaced_auth_reversal.deposit_request_id IS 'The auth+capture (cc_deposit_trans.request_id) that replaced the authorization; the reversal''s request_id is derived from it (`<request_id>.vdr`, pl_job_derived_request_id).';
COMMENT ON COLUMN replaced_auth_reversal.auth_history_id IS 'The authorization voided (auth_history.id).';
COMMENT ON COLUMN replaced_auth_reversal.auth_request_id IS 'Its request_id (cc_auth_trans): the reversal''s auth_ref.request_id.';
COMMENT ON COLUMN replaced_auth_reversal.amount IS 'What was voided (authorized, nothing deposited): the reversal''s amount.';
COMMENT ON COLUMN replaced_auth_reversal.owed_at IS 'When the deferred void was carried out.';
COMMENT ON COLUMN replaced_auth_reversal.published_at IS 'When Kafka acknowledged the reversal request; NULL while it is owed.';
COMMENT ON COLUMN replaced_auth_reversal.lease_owner IS 'The resolver publishing it now ("<instance>/resolver"); NULL otherwise.';
COMMENT ON COLUMN replaced_auth_reversal.lease_until IS 'Until when lease_owner holds it; another resolver takes it up after.';

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
    -- reversal. Whether its follow-ups held one already is the resolver's to read.
    IF h.status IN ('approved', 'review') AND h.void_deferred_reason = 'auth_capture'
       AND h.amount_deposited = 0 AND h.amount_authorized > 0
       AND coalesce(h.request_id, '') <> '' THEN
        INSERT INTO replaced_auth_reversal (deposit_request_id, auth_history_id, auth_request_id,
                                            amount)
        SELECT d.request_id, h.id, h.request_id, h.amount_authorized
          FROM cc_deposit_trans d JOIN auth_service s ON s.service_bureau = d.service_bureau
         WHERE d.request_id = h.void_deferred_by AND d.status = 'approved'
           AND d.operation = 'auth_capture' AND s.send_reversal
        ON CONFLICT (deposit_request_id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_deferred_void() IS 'Trigger function (050): once the claims on an authorization whose remainder a capture voided at the bureau drop to none, voids that remainder (authorized less deposited) with the deferred reason, by the deferring deposit; an authorization no longer approved or review only loses the marks. For an auth+capture with nothing captured, on a service bureau with Send reversal, records its reversal as owed (replaced_auth_reversal, 057): the resolver publishes it, or publishes it again when the deposit''s own (follow-ups) was refused while the void waited.';
