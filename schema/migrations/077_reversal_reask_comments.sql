-- 077: reversal_reask's comments say what its `declined` rows are now: a refusal by
-- paylink-reversal without a call, or CyberSource's refusal as already reversed (237) of
-- paylink's own reversal while the books keep the rest. Comments only.
--
-- At most 10 s waiting for a lock (below). COMMENT ON takes a SHARE UPDATE EXCLUSIVE lock on
-- reversal_reask for the moment the catalogue changes (reads and writes of its rows go on; only
-- another schema change or VACUUM of it waits); should another transaction hold a conflicting
-- lock, the migration fails after 10 s, nothing changed, and is run again, rather than wait
-- unseen. SET LOCAL: paylinkctl migrate runs each file in a transaction of its own on one
-- session, and a plain SET would outlive this file and hold for the files applied after it.
SET LOCAL lock_timeout = '10s';

-- Why: 069's and 070's comments (and 075's header: "reversal_reask records none") say outcome
-- `declined` is a reversal refused by paylink-reversal before any call. Since paylink-reversal's
-- store, the resolver's query and an operator's outcome record paylink's own reversal that
-- CyberSource refused as already reversed (237, marked sent) after another reversal of its
-- authorization was approved for part of it (PL_REVERSAL_KEPT_REST_OWED_SQL,
-- common/reversal_own.h), the table holds such rows too, `declined` as well: the bureau's
-- refusal, told to an operator once by paylink-reversal's resolver (reask_one) and never asked
-- again. A DBA reading a `declined` row by the comment would take a bureau's refusal for one
-- that never reached the bureau. The two are told apart by auth_reversal.sent_at (NULL for a
-- refusal without a call).
--
-- Now the table's comment and outcome's are restated whole with both meanings. 069 and 070 are
-- not edited: they are applied, and this restates what they said.
--
-- What it costs to apply: two COMMENT ON (the lock above, for a moment); no row read or
-- written, nothing rewritten. At run time: nothing.

COMMENT ON TABLE reversal_reask IS 'Card authorization reversals that ended `error` (069) or were refused by paylink-reversal without a call (070), written by the auth_reversal_reask_owed trigger in the transaction that stored the outcome; and paylink''s own reversals CyberSource refused as already reversed (237, marked sent) after another reversal of the authorization was approved for part of it, the rest kept on the books, written by whoever stored that answer (paylink-reversal''s store, the resolver''s query or an operator''s outcome: PL_REVERSAL_KEPT_REST_OWED_SQL) in the same transaction. paylink-reversal''s resolver decides on each: paylink''s own with nothing done at the bureau is asked again as `<request_id>.again` (at most 3 times in its chain, 1, 5 and 30 minutes after each outcome, once no claim or timeout reversal of the authorization is in flight, and while its bureau is usable); one that cannot be, and a 237 that kept the rest, is told to an operator in the log (the 237 never asked again); the order system''s is left to its sender.';
COMMENT ON COLUMN reversal_reask.outcome IS 'Its status when recorded: error; or declined — refused by paylink-reversal before any call (auth_reversal.sent_at NULL), or, marked sent, CyberSource''s refusal as already reversed (237) of paylink''s own reversal after another reversal of the authorization was approved for part of it (told to an operator, never asked again).';
