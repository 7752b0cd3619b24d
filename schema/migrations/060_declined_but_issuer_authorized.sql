-- 060: a CyberSource authorization refused while its ccAuthReply says the issuer authorized it is
-- reversed, a `declined` one too.
--
-- Why: CyberSource's top-level reasonCode can differ from the authorization's own
-- (../shared/reference/bureau-wire-formats.md §1.7). A token+auth answered REJECT 102 for its
-- token while its ccAuthReply says 100 is `declined`, yet the issuer authorized it and holds the
-- amount; the order system, told `declined`, never captures it. paylink-auth (and the resolver,
-- for an outcome it learns from a queried record whose ics_auth says 100 or 110) publishes its
-- reversal `<request_id>.rev` with Send reversal, as for a 481; but paylink-reversal took no
-- reversal of a declined authorization but a soft decline's (200, 230, 520, told by the
-- vendor_response alone): its claim statement (workers/reversal/reversal.c, REV_MARK_SENT) and
-- this trigger refused or ignored it, and the hold stayed until the authorization expired. The
-- answer's vendor_response (102) cannot tell such a decline from one the issuer refused, so the
-- history row now records it: issuer_authorized, written by paylink-auth's store and the
-- resolver when the answer (or queried record) is refused while its ccAuthReply (ics_auth) says
-- 100, or 110 for part of the amount (pl_cybersource_issuer_authorized,
-- common/bureau_cybersource.h). paylink-reversal claims a declined authorization when it is a
-- soft decline or issuer_authorized, and this trigger marks it `reversed` when the bureau
-- approves the reversal. A declined authorization the issuer refused stays unreversible.
--
-- What it costs to apply: ADD COLUMN with a constant default (PostgreSQL >= 11 stores the
-- default in the catalogue: no table rewrite, a brief ACCESS EXCLUSIVE lock of auth_history),
-- SET STATISTICS, comments, and CREATE OR REPLACE FUNCTION (058's, restated whole with
-- issuer_authorized added); the trigger and its grants stay. At run time: nothing on the
-- answers of the hot path (paylink-auth's store adds one UPDATE of the history row it has just
-- inserted, only for such a refused answer); the trigger's and the claim's tests read one more
-- column of the row they already read.

ALTER TABLE auth_history ADD COLUMN issuer_authorized boolean NOT NULL DEFAULT false;
ALTER TABLE auth_history ALTER COLUMN issuer_authorized SET STATISTICS 25;
COMMENT ON COLUMN auth_history.issuer_authorized IS 'True when CyberSource refused the authorization (declined or rejected) while its ccAuthReply (a queried record''s ics_auth) said the issuer authorized it: 100, or 110 for part of the amount (060). The issuer holds that amount until it is reversed: with Send reversal paylink reverses it (`<request_id>.rev`), and paylink-reversal takes a reversal of a declined one only when this is true or it is a soft decline (200, 230, 520). False otherwise, and for answers stored before 060.';

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
                                        OR issuer_authorized)))
                          AND (NEW.amount_reversed < amount_authorized) IS NOT TRUE
                         THEN 'reversed' ELSE status END,
           amount_authorized = CASE WHEN NEW.status = 'approved'
                                     AND (status IN ('approved', 'review', 'rejected', 'voided')
                                          OR (status = 'declined'
                                              AND (vendor_response IN ('200', '230', '520')
                                                   OR issuer_authorized)))
                                     AND NEW.amount_reversed < amount_authorized
                                    THEN amount_authorized - NEW.amount_reversed
                                    ELSE amount_authorized END,
           amount_voided = CASE WHEN NEW.status = 'approved'
                                 AND (status IN ('approved', 'review', 'rejected', 'voided')
                                      OR (status = 'declined'
                                          AND (vendor_response IN ('200', '230', '520')
                                               OR issuer_authorized)))
                                 AND NEW.amount_reversed < amount_authorized
                                THEN least(amount_voided, amount_authorized - NEW.amount_reversed)
                                ELSE amount_voided END
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it, 200, 230, 520, or refused it while the issuer authorized it, issuer_authorized, 060), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held.';
