-- 076: which authorizations a reversal applies to is written once, in a function of its own
-- (paylink_reversal_applies), which the two trigger functions that wrote it out now call.
--
-- At most 10 s waiting for a lock (below). CREATE FUNCTION and CREATE OR REPLACE FUNCTION lock
-- no table (the statements running the functions finish with the text they started with), but
-- should another transaction hold a function's catalogue row, the migration fails after 10 s,
-- nothing changed, and is run again, rather than wait unseen. SET LOCAL: paylinkctl migrate runs
-- each file in a transaction of its own on one session, and a plain SET would outlive this file.
SET LOCAL lock_timeout = '10s';

-- Why: whether an authorization's history row is one a reversal applies to (the issuer holds
-- what an approved reversal releases, so the reversal books it `reversed`) was one expression on
-- the row's status, vendor_response and issuer_authorized, written out five times in
-- paylink_release_reversal_claim (075: the timeout reversal's UPDATE and the four CASEs of the
-- claimed row's) and once in paylink_late_answer_released (074). Each change of the rule (052's
-- soft decline, 060's and 064's issuer_authorized) had to change every copy alike, and each
-- restatement of the function for another reason (058, 065, 073, 074, 075) copied them all
-- again: a copy left behind would book one branch otherwise than the others, and nothing would
-- say so.
--
-- Now the rule is paylink_reversal_applies(status, vendor_response, issuer_authorized), the
-- expression the copies had, unchanged:
--     status IN ('approved', 'review', 'rejected', 'voided')
--     OR (status = 'declined' AND (vendor_response IN ('200', '230', '520') OR issuer_authorized))
--     OR (status = 'error' AND issuer_authorized)
-- and both trigger functions are restated whole (075's and 074's) with each copy replaced by the
-- call and nothing else changed: the same branches, the same share lock, no SET option. The
-- function is SQL, IMMUTABLE, neither STRICT nor SET, one expression over its arguments: the
-- planner inlines it into each statement that calls it, so each runs the expression it ran,
-- and an argument NULL gives what the expression gave (NULL, read as not true by each CASE and
-- WHERE). Its arguments are text (the columns are varchar(10) and paylink_history_status, a
-- varchar domain: binary-coercible) and boolean.
--
-- What it costs to apply: CREATE FUNCTION, two CREATE OR REPLACE FUNCTION and three comments;
-- the triggers and grants stay; no table is read or rewritten, no row changes. At run time:
-- nothing more (the call is inlined when a statement is planned).

CREATE FUNCTION paylink_reversal_applies(status text, vendor_response text,
                                         issuer_authorized boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('approved', 'review', 'rejected', 'voided')
           OR (status = 'declined'
               AND (vendor_response IN ('200', '230', '520') OR issuer_authorized))
           OR (status = 'error' AND issuer_authorized)
$$;
COMMENT ON FUNCTION paylink_reversal_applies(text, text, boolean) IS 'Whether a reversal applies to an authorization''s answer (076): true when its auth_history row''s status, vendor_response and issuer_authorized say the issuer holds what a reversal releases at the bureau: approved, review, rejected (a Decision Manager reject) or voided; declined only when CyberSource soft-declined it (200, 230, 520: 052) or the issuer authorized it (issuer_authorized, 060); error only when the issuer authorized it (an ERROR 150 after the issuer authorized it, 064). False otherwise (reversed, a declined or error answer the issuer did not authorize); NULL only when an argument it reads is NULL (the columns are NOT NULL). The rule by which paylink_release_reversal_claim and paylink_late_answer_released book an authorization reversed; inlined into their statements (IMMUTABLE SQL, not STRICT).';

CREATE OR REPLACE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- CyberSource refused it as already reversed (074): the authorization is released — unless
    -- another reversal of the row it claimed was approved for part of it (075).
    reversed_already boolean := false;
BEGIN
    IF NEW.status = 'declined' AND NEW.vendor_response = '237'
       AND OLD.status IN ('sent', 'unknown') THEN
        reversed_already := EXISTS (SELECT 1 FROM auth_service s
                                     WHERE s.service_bureau = NEW.service_bureau
                                       AND s.protocol = 'CYB');
        -- After a reversal of the row approved for part of it (058, 065), 237 does not say the
        -- rest was released (075): an approved reversal of the row that left it unreversed
        -- released only part. Found by the row's request id (auth_reversal_auth).
        IF reversed_already AND NEW.auth_history_id IS NOT NULL THEN
            reversed_already := NOT EXISTS (
                SELECT 1 FROM auth_reversal o
                 WHERE o.auth_request_id = (SELECT h.request_id FROM auth_history h
                                             WHERE h.id = NEW.auth_history_id)
                   AND o.auth_history_id = NEW.auth_history_id
                   AND o.status = 'approved');
        END IF;
    END IF;
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
        AND NEW.auth_history_id IS NOT NULL
        AND (OLD.claim_amount IS NOT NULL OR NEW.status = 'approved' OR reversed_already))
       IS NOT TRUE THEN
        -- An approved timeout reversal (073), or one CyberSource says was reversed already
        -- (074): the authorization's latest answer, whatever came while it was in flight, is
        -- released whole.
        IF (NEW.auth_history_id IS NULL AND (NEW.status = 'approved' OR reversed_already)
            AND OLD.status IN ('sent', 'unknown') AND NEW.operation = 'reversal'
            AND NEW.auth_request_id IS NOT NULL) IS TRUE THEN
            -- The authorization's row first (074): a late answer being stored holds it until
            -- it commits, and its history row is then seen by the UPDATE below; one stored
            -- after this waits for this transaction (paylink-auth's store waits here: 075) and
            -- books itself (paylink_late_answer_released).
            PERFORM 1 FROM cc_auth_trans WHERE request_id = NEW.auth_request_id FOR SHARE;
            UPDATE auth_history
               SET status = 'reversed'
             WHERE id = (SELECT x.id FROM auth_history x
                          WHERE x.request_id = NEW.auth_request_id
                            AND x.transaction_type <> 'auth_capture'
                            AND x.deposit_request_id IS NULL
                          ORDER BY x.id DESC LIMIT 1)
               AND paylink_reversal_applies(status, vendor_response, issuer_authorized);
        END IF;
        RETURN NULL;
    END IF;
    -- In each CASE the columns are the row's values before this update. What the issuer held
    -- when the reversal went is amount_authorized, else (a refused authorization after a
    -- partial approval) amount_issuer_held, else not recorded (the amount asked). A 237 books
    -- the row reversed whatever it records (unless a reversal of it was approved for part of
    -- it: 075), and changes no amount.
    -- Whether the row's status is one a reversal applies to: paylink_reversal_applies (076).
    UPDATE auth_history
       SET amount_pending = greatest(amount_pending - coalesce(OLD.claim_amount, 0), 0),
           status = CASE WHEN (NEW.status = 'approved' OR reversed_already)
                          AND paylink_reversal_applies(status, vendor_response, issuer_authorized)
                          AND (reversed_already
                               OR (NEW.amount_reversed
                                   < coalesce(amount_authorized, amount_issuer_held)) IS NOT TRUE)
                         THEN 'reversed' ELSE status END,
           amount_authorized = CASE WHEN NEW.status = 'approved'
                                     AND paylink_reversal_applies(status, vendor_response,
                                                                  issuer_authorized)
                                     AND NEW.amount_reversed < amount_authorized
                                    THEN amount_authorized - NEW.amount_reversed
                                    ELSE amount_authorized END,
           amount_voided = CASE WHEN NEW.status = 'approved'
                                 AND paylink_reversal_applies(status, vendor_response,
                                                              issuer_authorized)
                                 AND NEW.amount_reversed < amount_authorized
                                THEN least(amount_voided, amount_authorized - NEW.amount_reversed)
                                ELSE amount_voided END,
           amount_issuer_held = CASE WHEN NEW.status = 'approved'
                                      AND paylink_reversal_applies(status, vendor_response,
                                                                   issuer_authorized)
                                      AND amount_authorized IS NULL
                                      AND NEW.amount_reversed < amount_issuer_held
                                     THEN amount_issuer_held - NEW.amount_reversed
                                     ELSE amount_issuer_held END
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to, paylink_reversal_applies, 076: a declined one only when CyberSource soft-declined it, 200, 230, 520, or refused it while the issuer authorized it, issuer_authorized, 060; an error one only in that last case, an ERROR 150 while the issuer authorized it, 064), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held; of an authorization with no amount authorized, one approved for less than amount_issuer_held (a refused authorization after a partial approval, 061) leaves its status as it is and amount_issuer_held at what is still held (065). With neither amount recorded, any approval marks it reversed. An approved timeout reversal (operation reversal naming a paylink authorization by request id, no auth_history_id: CyberSource''s timeout reversal, which claims nothing and releases the authorization whole) marks the authorization''s latest answer (its history row by request id that no deposit added) reversed under the same status rule, whatever amounts it records (073), after a share lock of the authorization''s cc_auth_trans row, so that an answer being stored at that moment is waited for and booked (074); a store of that authorization''s answer meanwhile (paylink-auth''s, the resolver''s) waits for this transaction''s commit, and two such pairs stored in opposite orders in two batches deadlock, one batch sent again unit by unit after deadlock_timeout (075). A reversal CyberSource declined as already reversed (237, of a service bureau of protocol CYB) books the authorization as an approval for all of it does, changing no amount (074), unless another reversal of the history row it claimed was approved (for part of it: the row unreversed), when it is booked as any refusal, the rest still held (075).';

CREATE OR REPLACE FUNCTION paylink_late_answer_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A timeout reversal of this authorization (as 073 tells one) that released it: approved,
    -- or refused by CyberSource as already reversed. Probed through auth_reversal_auth.
    IF NOT EXISTS (SELECT 1 FROM auth_reversal o
                    WHERE o.auth_request_id = NEW.request_id
                      AND o.auth_history_id IS NULL AND o.operation = 'reversal'
                      AND (o.status = 'approved'
                           OR (o.status = 'declined' AND o.vendor_response = '237'
                               AND EXISTS (SELECT 1 FROM auth_service s
                                            WHERE s.service_bureau = o.service_bureau
                                              AND s.protocol = 'CYB')))) THEN
        RETURN NULL;
    END IF;
    -- Under the status rule a reversal applies to: paylink_reversal_applies (076).
    UPDATE auth_history
       SET status = 'reversed'
     WHERE id = (SELECT x.id FROM auth_history x
                  WHERE x.request_id = NEW.request_id
                    AND x.transaction_type <> 'auth_capture'
                    AND x.deposit_request_id IS NULL
                  ORDER BY x.id DESC LIMIT 1)
       AND paylink_reversal_applies(status, vendor_response, issuer_authorized);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_late_answer_released() IS 'Trigger function (074; cc_auth_trans_late_answer_released, deferred to the commit, whose WHEN picks an authorization leaving unknown with an answer): when a timeout reversal of the authorization (auth_reversal of operation reversal naming it by request id, no auth_history_id) was approved, or refused by CyberSource as already reversed (237), marks the authorization''s latest answer (its history row by request id that no deposit added) reversed under the status rule of paylink_release_reversal_claim (paylink_reversal_applies, 076): the bureau released what that answer says is held.';
