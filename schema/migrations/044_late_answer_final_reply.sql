-- 044: a late answer to a request reported unknown is published as its final reply.
--
-- Why: when one worker replica reported a request unknown (a redelivery that found the row sent
-- and its owner's time up: `timeout` with `required_response`) and the owner's answer then came
-- after all, the owner stored it (a row unknown is still open to the bureau's answer) and the
-- late-answer trigger closed the required response (`resolved_how` late_answer). But the only
-- reply the upstream system then got was the owner's plain one, without `"resolved": true`,
-- which CONTRACT.md promises on the reply that settles an earlier `timeout`: an order system
-- waiting for it waited for good, and no operator queue showed the request. Now the trigger also
-- makes the stored reply the final one (`"resolved": true`, `"resolution": "query"`: the bureau
-- said what happened; without `required_response` or `replayed`) and leaves it for the worker's
-- resolver to publish (`reply_pending`), as for an outcome the resolver applied itself. The
-- owner's plain reply still goes first; the final reply repeats its outcome.
--
-- The resolver's own outcomes are unchanged: it closes the required response before it applies
-- the outcome, so the trigger finds nothing open and leaves the stored reply (already final) as
-- it is.
--
-- What it costs to apply: CREATE OR REPLACE FUNCTION (the triggers of 024 call it by name).
-- At run time: nothing more on the hot path (the triggers' WHEN clause is unchanged); a late
-- answer updates its row's reply once more.

CREATE OR REPLACE FUNCTION paylink_close_required_response() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status NOT IN ('approved', 'declined', 'review', 'rejected', 'error') THEN
        RETURN NULL;
    END IF;
    UPDATE required_response
       SET status = 'resolved',
           resolution = CASE NEW.status WHEN 'approved' THEN 'approved'
                                        WHEN 'error' THEN 'error' ELSE 'declined' END,
           resolved_how = 'late_answer',
           resolved_by = 'paylink-' || TG_ARGV[0],
           resolution_note = 'the bureau''s answer arrived after the outcome was reported unknown',
           resolved_at = now(),
           reply_pending = NEW.reply IS NOT NULL,
           lease_owner = NULL, lease_until = NULL
     WHERE worker = TG_ARGV[0] AND request_id = NEW.request_id AND status IN ('open', 'escalated');
    IF FOUND AND NEW.reply IS NOT NULL THEN
        EXECUTE format('UPDATE %I SET reply = (reply - ''required_response'' - ''replayed'') || '
                       'jsonb_build_object(''resolved'', true, ''resolution'', ''query'') '
                       'WHERE request_id = $1', TG_TABLE_NAME)
          USING NEW.request_id;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_close_required_response() IS 'Trigger function (044): a late answer to a row reported unknown closes its open or escalated required response (resolved_how late_answer) and makes the stored reply the final one ("resolved": true, "resolution": "query"), for the worker''s resolver to publish (reply_pending).';
