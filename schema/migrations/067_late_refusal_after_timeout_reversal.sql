-- 067: a late refusal of an authorization whose timeout reversal has gone is not recorded either:
-- that reversal's outcome settles it, and its `.rev` is not published beside it.
--
-- Why: 049 (and 051) hold back a late approval or review of an unknown CyberSource authorization
-- whose required response follows a timeout reversal (`<request_id>.tor`, or the order system's
-- reversal sent as one). A late refusal was still recorded: a Decision Manager reject (481), a
-- soft decline, or any `rejected`, `declined` or `error` answer whose ccAuthReply said the issuer
-- authorized it (060, 064). paylink-auth then published the answer's own reversal `.rev`, and
-- paylink-reversal claimed and sent it: the timeout reversal had been marked sent while the
-- authorization had no history row, so it claimed nothing, and the `.rev` found nothing in
-- flight. Both went to the bureau for one authorization; the second was refused as already
-- reversed at best, and the late answer resolved the required response, so nobody followed the
-- timeout reversal any more (one refused above a partial approval left the hold in place with
-- nobody told).
--
-- Now the same trigger also holds back a late `declined`, `rejected` or `error` answer while the
-- reversal its required response follows has gone or released the authorization: it is `sent`
-- or `unknown` (in flight), `approved`, or declined 237 (already reversed). The row stays
-- unknown, what the answer said is noted in the required response's detail, no `.rev` is
-- published (the worker answers from the row, its `timeout`), and the resolver settles the
-- authorization from that reversal's outcome as for a late approval: cancelled when it released
-- it, `error` on 242, escalated when it failed, where an operator who resolves it `rejected`
-- (or soft-declined, with its transaction id) has the `.rev` published then
-- (common/resolver.c, followup_reversal): the hold is released once either way. Such a trigger
-- cannot tell from the row whether the issuer authorized a refusal (ccAuthReply is not stored),
-- so every late refusal is held back once the reversal has gone; it has gone anyway, and its
-- outcome says what the bureau held. The resolver's and operators' outcomes are not held back:
-- they close the required response before they write the outcome (049).
--
-- A late refusal is recorded as before when that reversal has not gone: not recorded by
-- paylink-reversal yet, or `received` (it is decided again when it is marked: prepared as a
-- timeout reversal, its mark finds the authorization's history row and the required response
-- resolved, and it goes by the transaction id, claiming the authorization as the `.rev` does, so
-- that only one of them goes), or when it failed (declined otherwise, or `error`: as far as
-- paylink knows it released nothing, so the `.rev` goes; one that did is refused 237). The reversal's row is read after the required response is locked
-- (051), and paylink-reversal's mark of a timeout reversal reads that required response under a
-- share lock (workers/reversal/reversal.c, REV_MARK_SENT): a mark committed first is seen here
-- as `sent`, one after waits for the worker's transaction and then finds the required response
-- resolved (it is not sent as a timeout reversal).
--
-- Approvals and reviews are held as 049 holds them, whatever became of the reversal.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION, and CREATE OR REPLACE TRIGGER with a
-- wider WHEN clause (PostgreSQL 14 and later: a SHARE ROW EXCLUSIVE lock on cc_auth_trans for a
-- moment, where DROP TRIGGER would take an ACCESS EXCLUSIVE one). At run
-- time: the WHEN clause is still false on the hot path (a row leaving `unknown` is a late answer
-- or the resolver's outcome); a late refusal locks its required response and reads one
-- auth_reversal row by its primary key.

CREATE OR REPLACE FUNCTION paylink_hold_late_approval() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rr_id      bigint;
    reversal   varchar(50);
    rev_status text;
    rev_vendor text;
BEGIN
    SELECT id, reversal_request_id INTO rr_id, reversal FROM required_response
     WHERE worker = 'auth' AND request_id = NEW.request_id AND status IN ('open', 'escalated')
       FOR UPDATE;
    IF reversal IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.status IN ('approved', 'review') THEN
        UPDATE required_response
           SET detail = left('the bureau''s late answer ' || NEW.status
                             || coalesce(' (transaction id ' || nullif(NEW.transaction_id, '')
                                         || coalesce(', authorization code '
                                                     || nullif(NEW.auth_number, ''), '') || ')',
                                         '')
                             || ' came after the timeout reversal ' || reversal
                             || ' was asked for: not recorded, that reversal releases it; '
                             || detail, 300)
         WHERE id = rr_id;
        RETURN NULL; -- the row stays unknown
    END IF;
    SELECT status, vendor_response INTO rev_status, rev_vendor FROM auth_reversal
     WHERE request_id = reversal;
    IF (rev_status IN ('sent', 'unknown', 'approved')
        OR (rev_status = 'declined' AND rev_vendor = '237')) IS NOT TRUE THEN
        RETURN NEW; -- not gone yet, or it failed: the refusal is the outcome
    END IF;
    UPDATE required_response
       SET detail = left('the bureau''s late answer ' || NEW.status
                         || coalesce(' ' || nullif(NEW.vendor_response, ''), '')
                         || coalesce(' (transaction id ' || nullif(NEW.transaction_id, '') || ')',
                                     '')
                         || ' came after the timeout reversal ' || reversal || ' went ('
                         || rev_status || coalesce(' ' || nullif(rev_vendor, ''), '')
                         || '): not recorded, that reversal''s outcome settles it; '
                         || detail, 300)
     WHERE id = rr_id;
    RETURN NULL; -- the row stays unknown
END $$;
COMMENT ON FUNCTION paylink_hold_late_approval() IS 'Trigger function (049, 051, 067): an approval or review of an unknown authorization whose open or escalated required response names a timeout reversal is not written, nor a refusal or failure (declined, rejected, error) while that reversal is sent, unknown, approved or declined 237 (the row stays unknown, the reversal''s outcome settles it, no .rev is published beside it); what the answer said is noted in the required response''s detail. The required response is read under a row lock, so a reversal recorded or marked at the same moment is either seen or finds the required response resolved.';

CREATE OR REPLACE TRIGGER cc_auth_trans_hold_late_approval BEFORE UPDATE OF status ON cc_auth_trans
    FOR EACH ROW
    WHEN (OLD.status = 'unknown'
          AND NEW.status IN ('approved', 'review', 'declined', 'rejected', 'error'))
    EXECUTE FUNCTION paylink_hold_late_approval();
