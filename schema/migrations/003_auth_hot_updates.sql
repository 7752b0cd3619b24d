-- 003: let the three writes of an authorization (received → sent → answered) be HOT updates.
-- A row is updated twice right after its insert; with free space on its page and no index on
-- the columns that change, PostgreSQL rewrites it in place without touching the indexes, which
-- roughly halves the write work per request. The partial index on open statuses prevented
-- that (status is its predicate); open work is found through required_response instead, and
-- the rare "rows stuck in sent" question scans by received_at (indexed below).
ALTER TABLE cc_auth_trans SET (fillfactor = 80);
DROP INDEX cc_auth_trans_open;
CREATE INDEX cc_auth_trans_received ON cc_auth_trans USING brin (received_at);
COMMENT ON INDEX cc_auth_trans_received IS 'BRIN on received_at: time-range questions (today''s outcomes, rows stuck in sent) without an index write on every update.';
