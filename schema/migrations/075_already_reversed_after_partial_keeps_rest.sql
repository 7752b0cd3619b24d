-- 075: a reversal CyberSource refuses as already reversed (237) after an earlier reversal of the
-- same authorization was approved for part of it books nothing: the rest stays held and
-- capturable. And what 074's share lock costs paylink-auth, said rightly.
--
-- At most 10 s waiting for a lock (below). CREATE OR REPLACE FUNCTION locks no table (the
-- statements running the function finish with the text they started with), but should another
-- transaction hold the function's catalogue row, the migration fails after 10 s, nothing
-- changed, and is run again, rather than wait unseen. SET LOCAL: paylinkctl migrate runs each
-- file in a transaction of its own on one session, and a plain SET would outlive this file.
SET LOCAL lock_timeout = '10s';

-- Why, (1): 074 books the authorization a reversal claimed `reversed` when CyberSource refuses
-- that reversal as already reversed (237), whatever amounts its history row records. After a
-- reversal approved for part of it (058, 065: the row keeps its status, amount_authorized, else
-- amount_issuer_held, becoming what is still held), the next reversal goes for that rest — the
-- `.rest` paylink asks for its own, or the order system's next one — and a processor that allows
-- one partial reversal per authorization may refuse it as 237. The bureau's word (/work/shared/reference/bureau-wire-formats.md: 237,
-- "Authorisation already reversed") does not say the rest was released. Say A approved 100.00,
-- a reversal approved for 40.00 (A `approved`, 60.00 authorized), its `.rest` for 60.00 refused
-- 237: A became `reversed`, 60.00. paylink-deposit claims only an `approved` or `review`
-- authorization, so the 60.00 the issuer may still hold could no longer be captured, and
-- nothing told anyone (paylink-reversal's resolver closes a reversal refused since as done: the
-- authorization is reversed).
--
-- Now, (1): a 237 books the history row its reversal claimed `reversed` only when no other
-- reversal of that row (auth_reversal naming it by auth_history_id, found through
-- auth_reversal_auth by the row's request id) was approved: a reversal of it approved for all of
-- it booked it `reversed` already (and then no reversal claims it: 237 without a call), so one
-- approved that left it unreversed released part of it. Otherwise the 237 is stored as any
-- refusal: the claim released, the row's status and amounts as they were, the rest held and
-- capturable. The reversal rows are what 058 and 065 themselves keep (auth_reversal.
-- amount_reversed, each reversal's); the row's amounts alone do not tell: amount_authorized
-- below cc_auth_trans.amount_approved says nothing of a refused authorization after a partial
-- approval (no amount authorized; amount_issuer_held is set by a claim too), and amount_voided
-- is what deposits voided. paylink-reversal's store (workers/reversal/reversal.c, rev_store)
-- logs an error for an operator when CyberSource refuses a rest of paylink's own (`.rest`, or
-- one asked again after it) so: nobody reads that reply, and only an operator can learn at the
-- bureau whether the issuer still holds the rest; the order system's own reversal is answered
-- 237 and its sender decides, as for any refusal. reversal_reask records none: its resolver would
-- ask the rest again (a refusal it reads as one without a call) for CyberSource to refuse it
-- again. A timeout reversal's 237 (074, the authorization's latest answer) and
-- paylink_late_answer_released are unchanged: a timeout reversal claims no row and is marked
-- only while the authorization has no answer a reversal applies to, no other reversal of it is
-- claimed while it is in flight (rev_mark_sent), and the late answer's row is the one its own
-- transaction inserts: no reversal of the row either books can have been approved before it.
--
-- Why, (2): 074 said "paylink-auth never waits on a reversal". It does: an approved (or 237)
-- timeout reversal's trigger share-locks its authorization's cc_auth_trans row until the
-- reversal's transaction commits, and paylink-auth's store of that authorization's late answer
-- (an UPDATE of the row; the resolver's or an operator's outcome alike) waits for that commit —
-- only for an authorization whose timeout reversal's answer is stored at that very moment (a few
-- a day at most), for the milliseconds of a store. Two such pairs at once can deadlock:
-- paylink-reversal's batched store (rev_store:many) of the approvals of timeout reversals of A1
-- and A2 share-locks A1 then A2, while paylink-auth's batched store (auth_store:many) of A2's and
-- A1's late answers updates A2 then A1. PostgreSQL detects it after deadlock_timeout (1 s) and
-- aborts one transaction, which committed nothing; pl_db sends that batch again unit by unit
-- (common/db.c, batch_complete), each of which then passes: nothing lost or booked twice, no
-- bureau called again, the two batches ~1 s late. Accepted, not ordered away: taking the share
-- locks in request id order on the reversal side alone leaves the cycle (paylink-auth's batch
-- updates its rows in the order its answers came, so it may still hold A2 and want A1 while the
-- reversal side holds A1 and wants A2); only both sides sorted would remove it, which would cost
-- every authorization's store (the hot path) for a coincidence of two rare events.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (074's, restated whole with the check
-- added) and its comment; the triggers and grants stay; no table is read or rewritten. At run
-- time: nothing more on any status change of auth_reversal but a CyberSource 237 of a reversal
-- that claimed a row (a few a day), which probes auth_history by id and auth_reversal_auth once.

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
    -- the row reversed whatever it records (unless a reversal of it was approved for part of
    -- it: 075), and changes no amount.
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
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row was sent to the bureau, names an authorization paylink holds, and goes from sent or unknown to a final status): releases the claim of a reversal that claimed its authorization and, when the reversal is approved, marks the authorization reversed (unless its status is one a reversal does not apply to; a declined one only when CyberSource soft-declined it, 200, 230, 520, or refused it while the issuer authorized it, issuer_authorized, 060; an error one only in that last case, an ERROR 150 while the issuer authorized it, 064), in one update of the auth_history row. A reversal approved for less than amount_authorized (amount_reversed, 058) leaves the authorization''s status as it is and its amount_authorized (and amount_voided, at most) at what is still held; of an authorization with no amount authorized, one approved for less than amount_issuer_held (a refused authorization after a partial approval, 061) leaves its status as it is and amount_issuer_held at what is still held (065). With neither amount recorded, any approval marks it reversed. An approved timeout reversal (operation reversal naming a paylink authorization by request id, no auth_history_id: CyberSource''s timeout reversal, which claims nothing and releases the authorization whole) marks the authorization''s latest answer (its history row by request id that no deposit added) reversed under the same status rule, whatever amounts it records (073), after a share lock of the authorization''s cc_auth_trans row, so that an answer being stored at that moment is waited for and booked (074); a store of that authorization''s answer meanwhile (paylink-auth''s, the resolver''s) waits for this transaction''s commit, and two such pairs stored in opposite orders in two batches deadlock, one batch sent again unit by unit after deadlock_timeout (075). A reversal CyberSource declined as already reversed (237, of a service bureau of protocol CYB) books the authorization as an approval for all of it does, changing no amount (074), unless another reversal of the history row it claimed was approved (for part of it: the row unreversed), when it is booked as any refusal, the rest still held (075).';
