-- 073: an approved timeout reversal marks its authorization reversed, as any approved reversal
-- does.
--
-- At most 10 s waiting for a lock (below). CREATE OR REPLACE FUNCTION locks no table (the
-- statements running the function finish with the text they started with), but should another
-- transaction hold the function's catalogue row, the migration fails after 10 s, nothing
-- changed, and is run again, rather than wait unseen. SET LOCAL: paylinkctl migrate runs each
-- file in a transaction of its own on one session, and a plain SET would outlive this file.
SET LOCAL lock_timeout = '10s';

-- Why: an approved reversal marks its authorization's history row `reversed` through the
-- auth_reversal_release_claim trigger (032; the CASEs of 052, 058, 060, 064, 065), whoever
-- stores the outcome: paylink-reversal's answer (rev_store), the resolver's query of one whose
-- answer never came (common/resolver.c, APPLY_REVERSAL), an operator's resolution through it. The
-- trigger finds the row by auth_reversal.auth_history_id, which paylink-reversal's mark sets to
-- the row it claims. CyberSource's timeout reversal has none: it goes for an authorization with
-- no answer (or settled `error`) by the identifier that authorization was sent with, claims
-- nothing, and is marked with auth_history_id NULL (the resolver's `<auth>.tor`, or an order
-- system's reversal of an authorization whose outcome was unknown). When the authorization's
-- answer came while it was in flight (a Decision Manager reject, a soft decline: a late answer
-- that is not held back, 049), that answer's history row says the issuer holds the amount, and
-- the timeout reversal's approval released it all at the bureau without marking the row: it
-- stayed `rejected` (or `declined` with the issuer holding it). paylink then read the hold as
-- still there: the reject's `.rev`, refused while the timeout reversal was in flight (070), was
-- asked again by paylink-reversal's resolver (`.rev.again`) and sent, and CyberSource refused it
-- as already reversed (237): a call for nothing, and the books saying held what was released.
--
-- Now the trigger marks that row too: an approved timeout reversal (operation 'reversal', naming
-- a paylink authorization by request id, no history row named) marks the authorization's latest
-- answer (its history row by request id that no deposit added: the row paylink-reversal and the
-- resolver read as the authorization) `reversed` when its status is one a reversal applies to, as
-- the CASE of 065 says for any approved reversal. The timeout reversal releases the authorization
-- whole, so no amount is compared and none is left held. A timeout reversal claims nothing, so no
-- claim is released. Every writer of its outcome goes through this trigger, as for the others.
-- Of paylink's own reversals only the timeout reversal goes without a history row named while
-- naming a paylink authorization (paylink-reversal's mark lets no other through without the row
-- it claims): `.rev`, `.dmrev`, `.vdr`, `.vdr2`, their `.rest` and `.again` claim the row and were
-- booked already; `.sdr` names a manual authorization inline (a row is booked when paylink holds
-- one by its transaction id, claimed by the mark as before).
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (065's, restated whole with the timeout
-- reversal's branch added) and its comment; the trigger and its grants stay; no table is read or
-- rewritten. At run time: every status change of auth_reversal calls the function as before;
-- one without a history row named (a timeout reversal, a stored value void, a manual
-- authorization's reversal) now judges four more comparisons before it returns, and only an
-- approved timeout reversal (a few a day) runs one UPDATE of its authorization's history row,
-- found through auth_history_request. The branch of every other reversal is 065's, unchanged.

CREATE OR REPLACE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
        AND NEW.auth_history_id IS NOT NULL
        AND (OLD.claim_amount IS NOT NULL OR NEW.status = 'approved')) IS NOT TRUE THEN
        -- An approved timeout reversal (073): the authorization's latest answer, whatever came
        -- while it was in flight, is released whole.
        IF (NEW.auth_history_id IS NULL AND NEW.status = 'approved'
            AND OLD.status IN ('sent', 'unknown') AND NEW.operation = 'reversal'
            AND NEW.auth_request_id IS NOT NULL) IS TRUE THEN
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
    -- partial approval) amount_issuer_held, else not recorded (the amount asked).
    UPDATE auth_history
       SET amount_pending = greatest(amount_pending - coalesce(OLD.claim_amount, 0), 0),
           status = CASE WHEN NEW.status = 'approved'
                          AND (status IN ('approved', 'review', 'rejected', 'voided')
                               OR (status = 'declined'
                                   AND (vendor_response IN ('200', '230', '520')
                                        OR issuer_authorized))
                               OR (status = 'error' AND issuer_authorized))
                          AND (NEW.amount_reversed
                               < coalesce(amount_authorized, amount_issuer_held)) IS NOT TRUE
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
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it, 200, 230, 520, or refused it while the issuer authorized it, issuer_authorized, 060; an error one only in that last case, an ERROR 150 while the issuer authorized it, 064), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held; of an authorization with no amount authorized, one approved for less than amount_issuer_held (a refused authorization after a partial approval, 061) leaves its status as it is and amount_issuer_held at what is still held (065). With neither amount recorded, any approval marks it reversed. An approved timeout reversal (operation reversal naming a paylink authorization by request id, no auth_history_id: CyberSource''s timeout reversal, which claims nothing and releases the authorization whole) marks the authorization''s latest answer (its history row by request id that no deposit added) reversed under the same status rule, whatever amounts it records (073).';
