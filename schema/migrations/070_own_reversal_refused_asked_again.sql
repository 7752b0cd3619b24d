-- 070: paylink's own reversal refused without a bureau call is asked again too.
--
-- At most 10 s waiting for auth_reversal's lock (below): CREATE OR REPLACE TRIGGER takes a
-- SHARE ROW EXCLUSIVE lock on it, and while it waits behind a long transaction every reversal
-- write (paylink-reversal's mark and store, the resolver's outcomes) queues behind it; past 10 s
-- the migration fails, nothing changed, and is run again. SET LOCAL: paylinkctl migrate runs each
-- file in a transaction of its own on one session, and a plain SET would outlive this file and
-- hold for the files applied after it in the same run.
SET LOCAL lock_timeout = '10s';

-- Why: paylink-reversal refuses a reversal without a call (`declined`, sent_at NULL) while a
-- capture, another reversal or a timeout reversal of the authorization is in flight, or once it is
-- captured. For the order system's reversal its sender reads the refusal; for paylink's own (a
-- Decision Manager reject's `<auth>.rev` and `.dmrev`, a replaced authorization's `.vdr`, a soft
-- decline's `.sdr`, the rest of one approved for less, `.rest`: common/reversal_own.h) nobody
-- does, and 069 recorded a refusal only for one asked again (`.again`). So the refusal of a root
-- reversal or a rest was final: say authorization A of 100.00 had no answer, its timeout reversal
-- (the resolver's `.tor`, or one sent while A was unknown) was in flight, and A's late answer was
-- a Decision Manager reject of a partial approval (ccAuthReply 110 for 60.00). `A.rev` for the
-- 60.00 was refused ("a timeout reversal is in flight"), CyberSource refused the timeout reversal
-- above the 60.00 held, and the 60.00 stayed held on the card until the authorization expired.
-- Likewise a `.rest` refused while a capture or another reversal of its authorization was in
-- flight (an error in the log told an operator, the only follow-up).
--
-- Now every card reversal with a dot in its request_id (the shape of every id of paylink's own:
-- `<id>.<suffix>`, or `<suffix>.<digits>` when hashed; the order system's may have one too) that
-- is refused without a call is recorded in reversal_reask in the transaction that stores the
-- refusal, as one ending `error` is (069). paylink-reversal's resolver (common/resolver.c,
-- reask_one) then decides, as for an `error`: the order system's is left (its sender reads the
-- reply); one whose authorization is reversed since (a 237 refusal) needs nothing; one captured
-- since, or without an answer recorded for its authorization, is told to an operator; a `.tor`
-- refused is left to its authorization's required response, which follows it; otherwise it waits
-- while a claim or a timeout reversal of the authorization is in flight (an hour at most) and is
-- asked again as `<request_id>.again` for what is still held, 1, 5 and 30 minutes after each
-- refusal or error, at most three times in its chain (a refusal that can never change, the
-- authorization not reversible, ends there too), then an operator is told.
--
-- What it costs to apply: CREATE OR REPLACE TRIGGER on auth_reversal (the lock above, for the
-- moment the catalogue changes; nothing read or rewritten, no column added: auth_reversal is
-- hot), and comments. The function is unchanged. At run time: the trigger's WHEN is judged on
-- each status change of auth_reversal without calling the function, as before; a refusal with a
-- dot in its request_id now calls it for one INSERT (refusals are few: one per claim in flight).

CREATE OR REPLACE TRIGGER auth_reversal_reask_owed
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status
          AND NEW.operation IS DISTINCT FROM 'svc_void'
          AND strpos(NEW.request_id, '.') > 0
          AND (NEW.status = 'error' OR (NEW.status = 'declined' AND NEW.sent_at IS NULL)))
    EXECUTE FUNCTION paylink_reversal_reask_owed();

COMMENT ON TRIGGER auth_reversal_reask_owed ON auth_reversal IS 'Records a card reversal with a dot in its request_id (every id of paylink''s own has one) that ended `error` (069) or was refused by paylink-reversal without a call (`declined`, never sent; 070) in reversal_reask, for paylink-reversal''s resolver to decide on.';
COMMENT ON FUNCTION paylink_reversal_reask_owed() IS 'Trigger function (069, 070; auth_reversal_reask_owed, whose WHEN picks the rows): records a card reversal that ended `error`, or was refused without a call, in reversal_reask for paylink-reversal''s resolver to decide on (paylink''s own asked again, or told to an operator; the order system''s left).';
COMMENT ON TABLE reversal_reask IS 'Card authorization reversals that ended `error` (069) or were refused by paylink-reversal without a call (070), written by the auth_reversal_reask_owed trigger in the transaction that stored the outcome. paylink-reversal''s resolver decides on each: paylink''s own with nothing done at the bureau is asked again as `<request_id>.again` (at most 3 times in its chain, 1, 5 and 30 minutes after each outcome, once no claim or timeout reversal of the authorization is in flight); one that cannot be is told to an operator in the log; the order system''s is left to its sender.';
COMMENT ON COLUMN reversal_reask.outcome IS 'Its status when recorded: error, or declined (refused by paylink-reversal before any call).';
COMMENT ON COLUMN reversal_reask.due_at IS 'When the resolver looks at it next (at once, then when it is to be asked again, or while a claim or a timeout reversal of the authorization lasts).';
