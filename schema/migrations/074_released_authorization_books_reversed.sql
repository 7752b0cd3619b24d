-- 074: an authorization the bureau released stays booked `reversed`: an answer recorded after
-- its timeout reversal was approved, and any authorization CyberSource says is already
-- reversed (237).
--
-- At most 10 s waiting for a lock (below): CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock on
-- cc_auth_trans, and while it waits behind a long transaction every authorization's write queues
-- behind it; past 10 s the migration fails, nothing changed, and is run again. SET LOCAL:
-- paylinkctl migrate runs each file in a transaction of its own on one session, and a plain SET
-- would outlive this file.
SET LOCAL lock_timeout = '10s';

-- Why, (1): 073 books an authorization's latest answer `reversed` when its timeout reversal
-- (the resolver's `<auth>.tor`, or an order system's reversal of an authorization whose outcome
-- was unknown: operation 'reversal', auth_request_id set, auth_history_id NULL) is approved —
-- when that answer is there already. The other order was left: the timeout reversal approved
-- first (nothing to book: the authorization has no answer yet), and the authorization's answer
-- recorded after it. paylink-auth stores a late answer that is not held back (049 holds back an
-- approval or a review only: a Decision Manager reject, a soft decline, a refusal or error the
-- issuer authorized are stored) while the row is still `unknown`, in the time between the
-- timeout reversal's approval and the resolver's next step on the authorization's required
-- response, which would have settled it `error` (released); an operator may record a reject or
-- a soft decline after the timeout reversal released it (pl_resolver_operator). That answer's
-- history row then said the issuer held the amount the timeout reversal released: the books said
-- held, and paylink-auth's `.rev` of the reject went to the bureau and was refused as already
-- reversed (237).
--
-- Now, (1): when an authorization's row leaves `unknown` with an answer (whoever writes it:
-- paylink-auth's store, the resolver's or an operator's outcome, common/resolver.c APPLY_AUTH),
-- a deferred trigger books its latest answer (its history row by request id that no deposit
-- added: the row paylink-reversal and the resolver read as the authorization) `reversed`, under
-- 065's status rule, when a timeout reversal of it was approved (or refused as already reversed,
-- below). Deferred to the commit: paylink-auth records that the issuer authorized a refused one
-- (auth_history.issuer_authorized, 060, 064: what makes a declined or error answer one a reversal
-- applies to) in the statement after its store, as the resolver does (note_issuer_holds). The
-- `.rev` paylink-auth then publishes for the reject is refused by paylink-reversal as already
-- reversed (237) without a bureau call, and its resolver closes it as done (reask_one: the
-- authorization is reversed). The timeout reversal's approval and the late answer may be stored
-- at the same moment, each unseen by the other: the timeout reversal's branch of the trigger
-- below takes a share lock of the authorization's row (cc_auth_trans) before it looks for the
-- answer, so it waits for a store of the answer in progress (which holds that row until it
-- commits) and then sees it, and a store that starts after it waits for it and then sees it
-- approved. The late answer's side only reads (no lock): paylink-auth never waits on a reversal.
--
-- Why, (2): CyberSource answering a reversal `237` (the authorization has already been reversed:
-- /work/shared/reference/bureau-wire-formats.md, reasonCode table) is the bureau's word that the
-- authorization is released, but it was stored as any refusal: the claim released, the history
-- row left `approved` (or `rejected`, or a soft decline), the books saying held what the bureau
-- says is not. Now such an answer (status `declined`, vendor_response 237, of a service bureau
-- whose protocol is CYB; in the reversal's answer, the resolver's query or an operator's outcome)
-- books the authorization `reversed` as an approval does — the history row its reversal claimed,
-- or, for a timeout reversal, the authorization's latest answer (073's branch) — under the same
-- status rule, whatever amounts it records (237 says all of it is reversed: no rest is kept).
-- Other bureaus' codes mean other things: only CyberSource's 237. 243 (already settled or
-- reversed) does not say which, and books nothing.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (073's, restated whole with the 237 and the
-- lock added), CREATE FUNCTION, CREATE CONSTRAINT TRIGGER on cc_auth_trans (the lock above, for
-- the moment the catalogue changes; nothing read or rewritten, no column added: cc_auth_trans is
-- hot), comments. At run time: on each status change of cc_auth_trans the new trigger's WHEN is
-- judged on the row (two comparisons) without calling the function or queuing an event — an
-- answer in time leaves `sent`, so nothing more on the hot path; only a row leaving `unknown`
-- (a late answer, a resolution: a few a minute at worst) queues one event, run at its commit:
-- one probe of auth_reversal_auth, and an UPDATE of one history row only when a timeout
-- reversal of it released it. paylink_release_reversal_claim judges one more comparison on each
-- status change of auth_reversal; only a `declined` 237 reads the service bureau's protocol, and
-- only an approved or 237 timeout reversal (a few a day) takes the share lock.

CREATE OR REPLACE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- CyberSource refused it as already reversed (074): the authorization is released.
    reversed_already boolean := false;
BEGIN
    IF NEW.status = 'declined' AND NEW.vendor_response = '237'
       AND OLD.status IN ('sent', 'unknown') THEN
        reversed_already := EXISTS (SELECT 1 FROM auth_service s
                                     WHERE s.service_bureau = NEW.service_bureau
                                       AND s.protocol = 'CYB');
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
            -- after this waits for this transaction and books itself (paylink_late_answer_
            -- released).
            PERFORM 1 FROM cc_auth_trans WHERE request_id = NEW.auth_request_id FOR SHARE;
            UPDATE auth_history
               SET status = 'reversed'
             WHERE id = (SELECT x.id FROM auth_history x
                          WHERE x.request_id = NEW.auth_request_id
                            AND x.transaction_type <> 'auth_capture'
                            AND x.deposit_request_id IS NULL
                          ORDER BY x.id DESC LIMIT 1)
               AND (status IN ('approved', 'review', 'rejected', 'voided')
                    OR (status = 'declined'
                        AND (vendor_response IN ('200', '230', '520') OR issuer_authorized))
                    OR (status = 'error' AND issuer_authorized));
        END IF;
        RETURN NULL;
    END IF;
    -- In each CASE the columns are the row's values before this update. What the issuer held
    -- when the reversal went is amount_authorized, else (a refused authorization after a
    -- partial approval) amount_issuer_held, else not recorded (the amount asked). A 237 books
    -- the row reversed whatever it records, and changes no amount.
    UPDATE auth_history
       SET amount_pending = greatest(amount_pending - coalesce(OLD.claim_amount, 0), 0),
           status = CASE WHEN (NEW.status = 'approved' OR reversed_already)
                          AND (status IN ('approved', 'review', 'rejected', 'voided')
                               OR (status = 'declined'
                                   AND (vendor_response IN ('200', '230', '520')
                                        OR issuer_authorized))
                               OR (status = 'error' AND issuer_authorized))
                          AND (reversed_already
                               OR (NEW.amount_reversed
                                   < coalesce(amount_authorized, amount_issuer_held)) IS NOT TRUE)
                         THEN 'reversed' ELSE status END,
           amount_authorized = CASE WHEN NEW.status = 'approved'
                                     AND (status IN ('approved', 'review', 'rejected', 'voided')
                                          OR (status = 'declined'
                                              AND (vendor_response IN ('200', '230', '520')
                                                   OR issuer_authorized))
                                          OR (status = 'error' AND issuer_authorized))
                                     AND NEW.amount_reversed < amount_authorized
                                    THEN amount_authorized - NEW.amount_reversed
                                    ELSE amount_authorized END,
           amount_voided = CASE WHEN NEW.status = 'approved'
                                 AND (status IN ('approved', 'review', 'rejected', 'voided')
                                      OR (status = 'declined'
                                          AND (vendor_response IN ('200', '230', '520')
                                               OR issuer_authorized))
                                      OR (status = 'error' AND issuer_authorized))
                                 AND NEW.amount_reversed < amount_authorized
                                THEN least(amount_voided, amount_authorized - NEW.amount_reversed)
                                ELSE amount_voided END,
           amount_issuer_held = CASE WHEN NEW.status = 'approved'
                                      AND (status IN ('approved', 'review', 'rejected', 'voided')
                                           OR (status = 'declined'
                                               AND (vendor_response IN ('200', '230', '520')
                                                    OR issuer_authorized))
                                           OR (status = 'error' AND issuer_authorized))
                                      AND amount_authorized IS NULL
                                      AND NEW.amount_reversed < amount_issuer_held
                                     THEN amount_issuer_held - NEW.amount_reversed
                                     ELSE amount_issuer_held END
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it, 200, 230, 520, or refused it while the issuer authorized it, issuer_authorized, 060; an error one only in that last case, an ERROR 150 while the issuer authorized it, 064), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held; of an authorization with no amount authorized, one approved for less than amount_issuer_held (a refused authorization after a partial approval, 061) leaves its status as it is and amount_issuer_held at what is still held (065). With neither amount recorded, any approval marks it reversed. An approved timeout reversal (operation reversal naming a paylink authorization by request id, no auth_history_id: CyberSource''s timeout reversal, which claims nothing and releases the authorization whole) marks the authorization''s latest answer (its history row by request id that no deposit added) reversed under the same status rule, whatever amounts it records (073), after a share lock of the authorization''s cc_auth_trans row, so that an answer being stored at that moment is waited for and booked (074). A reversal CyberSource declined as already reversed (237, of a service bureau of protocol CYB) books the authorization as an approval for all of it does, changing no amount (074).';

CREATE FUNCTION paylink_late_answer_released() RETURNS trigger LANGUAGE plpgsql AS $$
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
    UPDATE auth_history
       SET status = 'reversed'
     WHERE id = (SELECT x.id FROM auth_history x
                  WHERE x.request_id = NEW.request_id
                    AND x.transaction_type <> 'auth_capture'
                    AND x.deposit_request_id IS NULL
                  ORDER BY x.id DESC LIMIT 1)
       AND (status IN ('approved', 'review', 'rejected', 'voided')
            OR (status = 'declined'
                AND (vendor_response IN ('200', '230', '520') OR issuer_authorized))
            OR (status = 'error' AND issuer_authorized));
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_late_answer_released() IS 'Trigger function (074; cc_auth_trans_late_answer_released, deferred to the commit, whose WHEN picks an authorization leaving unknown with an answer): when a timeout reversal of the authorization (auth_reversal of operation reversal naming it by request id, no auth_history_id) was approved, or refused by CyberSource as already reversed (237), marks the authorization''s latest answer (its history row by request id that no deposit added) reversed under the status rule of paylink_release_reversal_claim: the bureau released what that answer says is held.';

CREATE CONSTRAINT TRIGGER cc_auth_trans_late_answer_released
    AFTER UPDATE OF status ON cc_auth_trans
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (OLD.status = 'unknown'
          AND NEW.status IN ('approved', 'review', 'rejected', 'declined', 'error'))
    EXECUTE FUNCTION paylink_late_answer_released();
COMMENT ON TRIGGER cc_auth_trans_late_answer_released ON cc_auth_trans IS 'An authorization answered after its outcome was reported unknown (paylink-auth''s late answer, the resolver''s or an operator''s outcome) is booked reversed at its commit when a timeout reversal of it released it already (074: paylink_late_answer_released). Deferred so that what the same transaction records after the answer (auth_history.issuer_authorized) is read; the WHEN is judged at once, so an answer in time (leaving sent) queues nothing.';
