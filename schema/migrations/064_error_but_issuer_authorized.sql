-- 064: a CyberSource authorization answered ERROR (150, a system failure) while its ccAuthReply
-- says the issuer authorized it is reversed, as a declined one the issuer authorized is (060).
--
-- Why: an ERROR answer's ccAuthReply can say 100, or 110 for part of the amount
-- (../shared/reference/bureau-wire-formats.md §1.7): the issuer holds that amount while paylink
-- answers `error`, and the order system, told `error`, authorizes again: a second hold, the first
-- staying until it expires. paylink-auth's store and the resolver now record issuer_authorized
-- on such an `error` history row too (pl_cybersource_refused_but_authorized,
-- common/bureau_cybersource.h), paylink-auth publishes its reversal `<request_id>.rev` with Send
-- reversal, and paylink-reversal claims it (a marker of 0.01, as for a declined one:
-- workers/reversal/reversal.c, REV_MARK_SENT). This trigger marked only a declined
-- issuer_authorized row `reversed` when the bureau approved its reversal; an error one stayed
-- `error`, so a second reversal of it (the order system's beside the `.rev`) was not refused
-- (237) once the first released it. An `error` row without issuer_authorized (an operator's
-- settlement, an ERROR the issuer did not authorize) stays unreversible, and the timeout
-- reversal of one still goes unclaimed, its auth_history_id NULL, which this trigger ignores.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (060's, restated whole with the `error`
-- case added) and two comments (the function's, auth_history.issuer_authorized's); the trigger
-- and its grants stay; no table is read or rewritten. At run time: the trigger's test reads the
-- same columns of the row it already reads; paylink-auth's store adds its one UPDATE of the
-- history row it has just inserted for such an error answer too, never on the hot path.

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
                                   AND (vendor_response IN ('200', '230', '520')
                                        OR issuer_authorized))
                               OR (status = 'error' AND issuer_authorized))
                          AND (NEW.amount_reversed < amount_authorized) IS NOT TRUE
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
                                ELSE amount_voided END
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it, 200, 230, 520, or refused it while the issuer authorized it, issuer_authorized, 060; an error one only in that last case, an ERROR 150 while the issuer authorized it, 064), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held.';
COMMENT ON COLUMN auth_history.issuer_authorized IS 'True when CyberSource refused the authorization (declined or rejected) or failed it (error: an ERROR 150, since 064) while its ccAuthReply (a queried record''s ics_auth) said the issuer authorized it: 100, or 110 for part of the amount (060). The issuer holds that amount until it is reversed: with Send reversal paylink reverses it (`<request_id>.rev`), and paylink-reversal takes a reversal of a declined one only when this is true or it is a soft decline (200, 230, 520), of an error one only when this is true. False otherwise, and for answers stored before 060 (error answers: before 064).';
