-- 031: auth_history leaves a fifth of each new page free, so that the updates deposits and
-- reversals make to an authorization's history row stay on its page (HOT updates, issue 12).
--
-- Why: an authorization's row is inserted once, when it is answered, and updated later two or
-- three times per deposit or reversal (the claim's amount_pending, the settlement's amounts, the
-- reversal's status: 025_hot_path_triggers.sql, 026_settle_deposit_one_update.sql). With the
-- default fillfactor of 100 its page is full by then, so every update wrote the new version on
-- another page and a new entry into each of the table's five indexes. Measured on the dev
-- environment's auth_history (1.8 million rows; one UPDATE of amount_pending, EXPLAIN (ANALYZE,
-- BUFFERS, WAL), ten rows each): fillfactor 100: 20 buffers, 6 WAL records, ~680 bytes of WAL;
-- fillfactor 80: 7 buffers, 1 WAL record, 83-90 bytes, every update HOT. The table grows by
-- about a quarter on disk (rows are not rewritten when updated, unlike cc_auth_trans's, so the
-- space stays reserved: 80, not 027's 50).
--
-- What it costs to apply: ALTER TABLE … SET (fillfactor) takes a SHARE UPDATE EXCLUSIVE lock
-- (reads and writes go on; it waits for a running VACUUM), rewrites nothing and applies to pages
-- filled from now on; existing pages keep their rows as they are. Running workers are not
-- affected.

ALTER TABLE auth_history SET (fillfactor = 80);
