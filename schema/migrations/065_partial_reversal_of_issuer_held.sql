-- 065: a reversal approved for less than what the issuer holds of a refused CyberSource
-- authorization keeps the rest held and reversible, as 058 does for an approved one.
--
-- Why: an authorization refused (declined, rejected, or `error`) after the issuer approved part
-- of it (ccAuthReply 110, or an operator's or the resolver's outcome with an amount) records no
-- amount authorized; what the issuer holds is auth_history.amount_issuer_held (061), and
-- paylink-reversal sends that for any reversal of it (workers/reversal/reversal.c, rev_prepare),
-- claiming it by the marker 0.01. When the bureau approved such a reversal for less
-- (auth_reversal.amount_reversed, the reply's amount_approved, whose message says what the
-- issuer still holds), this trigger compared the amount reversed with amount_authorized, NULL
-- there, and marked the authorization `reversed`: the rest stayed held on the cardholder's card
-- until the authorization expired, and a reversal of it was refused as 237 (already reversed).
-- Now, for a row with no amount authorized, the amount reversed is compared with
-- amount_issuer_held (coalesce(amount_authorized, amount_issuer_held)): an approval for less
-- leaves the authorization's status as it is and amount_issuer_held at what is still held
-- (amount_issuer_held - amount_reversed), which the next reversal claims (the marker again)
-- and goes for; one for all of it, or naming no amount, marks it `reversed` as before. An
-- authorization with an amount authorized is booked as 058 books it, whatever
-- amount_issuer_held says; one with neither amount (the issuer holds the amount asked, which
-- the history row does not record) is marked `reversed` by any approval, as before.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (064's, restated whole with the held
-- amount added) and two comments (the function's, auth_history.amount_issuer_held's); the
-- trigger and its grants stay; no table is read or rewritten. At run time: the same one UPDATE
-- of the auth_history row, its CASEs reading one more column of the row they already update;
-- amount_issuer_held is in no index, so the update can stay in place (HOT) as before.

CREATE OR REPLACE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
        AND NEW.auth_history_id IS NOT NULL
        AND (OLD.claim_amount IS NOT NULL OR NEW.status = 'approved')) IS NOT TRUE THEN
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
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it, 200, 230, 520, or refused it while the issuer authorized it, issuer_authorized, 060; an error one only in that last case, an ERROR 150 while the issuer authorized it, 064), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held; of an authorization with no amount authorized, one approved for less than amount_issuer_held (a refused authorization after a partial approval, 061) leaves its status as it is and amount_issuer_held at what is still held (065). With neither amount recorded, any approval marks it reversed.';
COMMENT ON COLUMN auth_history.amount_issuer_held IS 'Of a CyberSource authorization refused (rejected, or declined as a soft decline or while the issuer authorized it, or error while the issuer authorized it) which records no amount authorized: what the issuer holds when it is less than the amount asked (a partial approval, 110), as paylink-auth''s store, an operator''s resolution (wreq resolve --amount) or the resolver''s query learnt it (061); after a reversal approved for less (065), what the issuer still holds: the amount less what was reversed (auth_reversal.amount_reversed keeps each reversal''s). paylink-reversal reverses this amount, whatever the reversal request names (above it CyberSource refuses the reversal and the hold stays). NULL: the amount asked, or not known.';
