-- 036: ANALYZE samples the transaction tables at a quarter of PostgreSQL's default, and keeps no
-- statistics of the reply and follow-up documents (issue 12).
--
-- Why: autovacuum analyzes a table once a tenth of its rows changed, and a request changes two
-- or three rows (recorded, answered; a deposit's claim and settlement on auth_history too). On
-- a database filling up (a new deployment's first million authorizations, every benchmark's
-- fresh database) that is an ANALYZE of cc_auth_trans, auth_history and cc_deposit_trans about
-- every minute. Each reads a sample of 300 x the largest statistics target of its columns,
-- 30,000 rows from as many pages at the default 100, and since 034 left three quarters of each
-- page free those are 30,000 pages out of the buffer cache: 1.3 s of CPU for cc_auth_trans at
-- 232,000 rows, 0.5 s for auth_history, 1.0 s for cc_deposit_trans, measured on the dev
-- environment (log_autovacuum_min_duration = 0), and the same by hand. On a benchmark step of
-- 20,000 deposits (10 s) one such round was ~150 us of PostgreSQL's CPU a reply of the 240-440
-- us measured, the largest part of the step's spread from run to run.
--
-- Nothing paylink runs on these tables needs a larger sample: every statement of the workers,
-- the resolver and paylinkctl finds its rows by a unique or near-unique key (request id,
-- order, transaction id, card hash), by a partial index of a few open rows, or (paylinkctl
-- stats) by a received_at range on the BRIN index; the statistics they use are the few values
-- of status, bureau, pay type and currency and received_at's order on disk, which 25 (7,500
-- rows, 25 most common values) holds as well as 100. The documents (reply, followups: jsonb) are
-- only ever read by request id; their statistics sorted thousands of documents each time for
-- nothing (0.4 s of the 1.3). Measured on cc_auth_trans at 232,000 rows (jsonb at 0, the rest
-- at T): T = 100 0.98 s, 50 0.39 s, 25 0.16 s, 10 0.06 s. Alternating on the dev environment
-- (60,000 authorizations then 20,000 deposits, K = 512, L = 100 ms, tables of ~300,000 rows, the
-- autovacuum log summed): autovacuum's ANALYZEs took 3.94 / 2.93 s before and 0.48 / 0.42 s
-- after, ~37 us of PostgreSQL's CPU a request. The plans of the workers' look-ups and of
-- paylinkctl stats (a received_at range on the BRIN index) are the same.
--
-- A DBA who queries these tables by a column of wide spread (amounts, times) and wants finer
-- histograms raises that column again (ALTER TABLE ... ALTER COLUMN ... SET STATISTICS -1 goes
-- back to default_statistics_target): the sample grows with the largest target of the table.
-- A later migration that adds a column to one of these tables sets its target too
-- (test_schema test_hot_tables_sample_less fails otherwise: a column left at the default would
-- bring the 30,000-row sample back).
--
-- What it costs to apply: ALTER TABLE ... SET STATISTICS changes the catalog only (SHARE UPDATE
-- EXCLUSIVE lock: reads and writes go on; it waits for a running VACUUM); the statistics change
-- at the table's next ANALYZE. Statistics an earlier ANALYZE kept of the documents stay in
-- pg_statistic, unused and no longer refreshed (removing them needs a superuser).

DO $$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT a.attrelid::regclass AS tab, a.attname,
               CASE WHEN a.atttypid IN ('jsonb'::regtype, 'json'::regtype) THEN 0 ELSE 25 END AS target
        FROM pg_attribute a
        WHERE a.attrelid IN ('cc_auth_trans'::regclass, 'auth_history'::regclass,
                             'cc_deposit_trans'::regclass, 'cc_deposit_history'::regclass,
                             'auth_reversal'::regclass, 'svc_trans'::regclass)
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attrelid, a.attnum
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', col.tab, col.attname,
                       col.target);
    END LOOP;
END
$$;
