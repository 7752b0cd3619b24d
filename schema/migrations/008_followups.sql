-- 008: the follow-up messages of an answer (e.g. the reversal request for an unused or a rejected
-- authorization) are stored with the answer, in the same transaction, and published from there:
-- a redelivered request re-publishes exactly what was decided, even when the process died
-- between the commit and the publish (a transactional outbox).
ALTER TABLE cc_auth_trans ADD COLUMN followups jsonb;
ALTER TABLE cc_deposit_trans ADD COLUMN followups jsonb;
ALTER TABLE auth_reversal ADD COLUMN followups jsonb;
COMMENT ON COLUMN cc_auth_trans.followups IS 'Messages published with the reply (JSON array of {topic, key, payload}), re-published when the request is redelivered; NULL when none.';
COMMENT ON COLUMN cc_deposit_trans.followups IS 'Messages published with the reply (JSON array of {topic, key, payload}), re-published when the request is redelivered; NULL when none.';
COMMENT ON COLUMN auth_reversal.followups IS 'Messages published with the reply (JSON array of {topic, key, payload}), re-published when the request is redelivered; NULL when none.';
