-- 058: a reversal approved for less than its authorization keeps the rest held and capturable.
--
-- Why: the External Payment Service answers a reversal ACCEPT with the amount it reversed
-- (schema/ext/README.md §8.5, `amount`), which may be less than paylink sent (the whole
-- authorization). paylink-reversal replied and recorded that amount (auth_reversal.amount_reversed),
-- but the trigger of 032/052 marked the authorization `reversed` on any approval: what the issuer
-- still held was lost from the books: a later debit of it was authorized anew with the capture
-- (or refused, authorization_not_usable, without a card), and a reversal of the rest was refused
-- as 237 (already reversed), so the issuer kept holding it. Now, when an approved
-- reversal's amount_reversed is below the authorization's amount_authorized, the authorization
-- keeps its status and amount_authorized becomes what is still held (amount_authorized -
-- amount_reversed: what remains to capture is amount_authorized - amount_deposited -
-- amount_pending, 009), amount_voided of a voided one shrinking to it as well (what its `.vdr`
-- reverses, and what `paylinkctl deposits confirm` keeps it within); a later reversal of it goes
-- for that rest (paylink-reversal sends amount_authorized). A reversal that gives no amount, or
-- reverses at least amount_authorized, or names an authorization with no amount authorized
-- recorded (a reject's or soft decline's), marks it `reversed` as before. The original amount
-- stays in cc_auth_trans.amount_approved; each reversal's in auth_reversal.amount_reversed. Any
-- protocol: a CyberSource reversal whose ccAuthReversalReply says less is booked the same way.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (052's, restated whole with the partial
-- reversal added) and a new column comment; the trigger and its grants stay. At run time:
-- nothing more, the same one UPDATE of the auth_history row.

CREATE OR REPLACE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
        AND NEW.auth_history_id IS NOT NULL
        AND (OLD.claim_amount IS NOT NULL OR NEW.status = 'approved')) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    -- In each CASE the columns are the row's values before this update.
    UPDATE auth_history
       SET amount_pending = greatest(amount_pending - coalesce(OLD.claim_amount, 0), 0),
           status = CASE WHEN NEW.status = 'approved'
                          AND (status IN ('approved', 'review', 'rejected', 'voided')
                               OR (status = 'declined'
                                   AND vendor_response IN ('200', '230', '520')))
                          AND (NEW.amount_reversed < amount_authorized) IS NOT TRUE
                         THEN 'reversed' ELSE status END,
           amount_authorized = CASE WHEN NEW.status = 'approved'
                                     AND (status IN ('approved', 'review', 'rejected', 'voided')
                                          OR (status = 'declined'
                                              AND vendor_response IN ('200', '230', '520')))
                                     AND NEW.amount_reversed < amount_authorized
                                    THEN amount_authorized - NEW.amount_reversed
                                    ELSE amount_authorized END,
           amount_voided = CASE WHEN NEW.status = 'approved'
                                 AND (status IN ('approved', 'review', 'rejected', 'voided')
                                      OR (status = 'declined'
                                          AND vendor_response IN ('200', '230', '520')))
                                 AND NEW.amount_reversed < amount_authorized
                                THEN least(amount_voided, amount_authorized - NEW.amount_reversed)
                                ELSE amount_voided END
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it: 200, 230, 520), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held.';
COMMENT ON COLUMN auth_history.amount_authorized IS 'Amount authorized (0 or NULL when not approved); after a reversal approved for less (058), what the issuer still holds: the amount less what was reversed (cc_auth_trans.amount_approved keeps the original, auth_reversal.amount_reversed each reversal''s).';
