-- 069: paylink's own reversal that ended `error` with nothing done at the bureau is asked again.
--
-- Why: paylink publishes reversals of its own whose reply nobody reads (a Decision Manager
-- reject's `<auth>.rev` and `.dmrev`, the resolver's `.tor`, a replaced authorization's `.vdr`
-- and `.vdr2`, a soft-declined auth+capture's `.sdr`, the `.rest` of one approved for less:
-- common/reversal_own.h). When one of them ended `error` — its connection attempts ran out
-- (150), it could not be built or its bureau's secret was unavailable, the bureau stalled,
-- CyberSource answered ERROR 150 or a SOAP fault, a query or an operator found no record of
-- it — paylink-reversal stored the error, the claim was released, and the reply went to
-- paylink.reversal.reply, which nothing reads for these: the whole hold stayed on the
-- cardholder's card until the authorization expired, with a warning in the log. A minute's
-- CyberSource outage left every 481 reject's and soft decline's hold of that minute in place.
-- Only a `.tor` (its required response escalates it) and a deferred void's `.vdr` (057) were
-- followed up.
--
-- Now every card reversal whose row goes to `error` — or, for paylink's own asked again
-- (`.again` at its end, or `again.<digits>` when hashed), to `declined` without a call (refused
-- by paylink-reversal: a claim was in flight, say) — is recorded here in the same transaction
-- (paylink_reversal_reask_owed, the auth_reversal_reask_owed trigger): the decision survives a
-- crash of whoever stored it. paylink-reversal's resolver (common/resolver.c, every pass) takes
-- the rows due under a lease and decides: the order system's reversal (its sender reads the
-- reply) is left; one of paylink's own that may have been acted on (an answer other than no
-- answer or ERROR 150), a `.tor`, one whose authorization was captured since, or one asked again
-- three times already is told to an operator (an error in the log naming the authorization and
-- the amount); one whose authorization was reversed since needs nothing; one whose authorization
-- has another claim in flight waits (an hour at most); otherwise it is asked again as
-- `<request_id>.again` (pl_job_derived_request_id) for what is still held, 1, 5 and 30 minutes
-- after each `error`, and paylink-reversal takes that as paylink's own. A publish Kafka refuses
-- gives the row back; one published twice (a crash before the mark) has the same request_id.
-- paylink-reversal's resolver, not paylink-deposit's (057's), because the reversals are
-- paylink-reversal's rows and requests: its resolver already settles their unknown outcomes,
-- and where paylink-reversal does not run, nothing it is asked would be sent anyway.
--
-- What it costs to apply: CREATE TABLE and a partial index (new, empty), CREATE FUNCTION, and
-- CREATE TRIGGER on auth_reversal, which takes a SHARE ROW EXCLUSIVE lock on it for the moment
-- the catalogue changes (writes wait that long; nothing is read or rewritten, no column added:
-- auth_reversal is hot). At run time: the trigger's WHEN is judged on the row for each status
-- change of auth_reversal without calling the function (a few comparisons); only a reversal
-- ending `error` with a dot in its request_id (every id of paylink's own has one), or a refused
-- `.again`, calls it for one INSERT here. The resolver of paylink-reversal probes the partial
-- index once a pass.

CREATE TABLE reversal_reask (
    -- No foreign key: the test and dev clean-ups delete reversals by request id prefix without
    -- knowing this table, and a row here only asks for a decision.
    request_id  varchar(50)  PRIMARY KEY,
    outcome     varchar(10)  NOT NULL CHECK (outcome IN ('error', 'declined')),
    owed_at     timestamptz  NOT NULL DEFAULT now(),
    due_at      timestamptz  NOT NULL DEFAULT now(),
    done_at     timestamptz,
    done        varchar(300),
    lease_owner varchar(160),
    lease_until timestamptz
);
CREATE INDEX reversal_reask_due ON reversal_reask (due_at) WHERE done_at IS NULL;
COMMENT ON INDEX reversal_reask_due IS 'The rows still to decide, by when they are due (the resolver''s probe each pass).';
COMMENT ON TABLE reversal_reask IS 'Card authorization reversals that ended `error` (or paylink''s own asked again, `.again`, refused without a call), written by the auth_reversal_reask_owed trigger in the transaction that stored the outcome (069). paylink-reversal''s resolver decides on each: paylink''s own with nothing done at the bureau is asked again as `<request_id>.again` (at most 3 times in its chain, 1, 5 and 30 minutes after each error); one that cannot be is told to an operator in the log; the order system''s is left to its sender.';
COMMENT ON COLUMN reversal_reask.request_id IS 'The reversal (auth_reversal.request_id) whose outcome is decided on; the one asked again is named after it (`<request_id>.again`, pl_job_derived_request_id).';
COMMENT ON COLUMN reversal_reask.outcome IS 'Its status when recorded: error, or declined (a `.again` refused by paylink-reversal before any call).';
COMMENT ON COLUMN reversal_reask.owed_at IS 'When its outcome was stored: the delays before it is asked again count from here.';
COMMENT ON COLUMN reversal_reask.due_at IS 'When the resolver looks at it next (at once, then when it is to be asked again, or while a claim on the authorization lasts).';
COMMENT ON COLUMN reversal_reask.done_at IS 'When it was decided for good (published again, or left, or told to an operator); NULL while it is owed.';
COMMENT ON COLUMN reversal_reask.done IS 'What was decided: the reversal published (its request_id), or why none.';
COMMENT ON COLUMN reversal_reask.lease_owner IS 'The resolver deciding on it now ("<instance>/resolver"); NULL otherwise.';
COMMENT ON COLUMN reversal_reask.lease_until IS 'Until when lease_owner holds it; another resolver takes it up after.';

CREATE FUNCTION paylink_reversal_reask_owed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reversal_reask (request_id, outcome) VALUES (NEW.request_id, NEW.status)
    ON CONFLICT (request_id) DO NOTHING;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_reversal_reask_owed() IS 'Trigger function (069; auth_reversal_reask_owed, whose WHEN picks the rows): records a card reversal that ended `error`, or paylink''s own asked again (`.again`) refused without a call, in reversal_reask for paylink-reversal''s resolver to decide on (asked again, or told to an operator).';

-- A stored value void (svc_void) is not a card authorization reversal; an id without a dot is
-- no reversal of paylink's own (they are `<id>.<suffix>` or `<suffix>.<digits>`).
CREATE TRIGGER auth_reversal_reask_owed
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status
          AND NEW.operation IS DISTINCT FROM 'svc_void'
          AND strpos(NEW.request_id, '.') > 0
          AND (NEW.status = 'error'
               OR (NEW.status = 'declined' AND NEW.sent_at IS NULL
                   AND (NEW.request_id LIKE '%.again' OR NEW.request_id LIKE 'again.%'))))
    EXECUTE FUNCTION paylink_reversal_reask_owed();
