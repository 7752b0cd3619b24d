-- 027: the transaction tables leave half of each new page free, so that the updates a request
-- makes to its own row moments after inserting it stay on the row's page (HOT updates, issue 12).
--
-- Why: a request's row is inserted small (cc_auth_trans: ~500 bytes) and updated within
-- milliseconds to a second — marked sent, then answered with the reply (~1,200 bytes with the
-- reply's jsonb). With the default fillfactor of 100 the page is full of newer rows by then, so
-- almost every update wrote its new version on another page and a new entry into every index
-- of the table (cc_auth_trans: the primary key, the order index, the card hash index, the BRIN).
-- Measured on the dev environment (paylink-auth, K = 512, L = 100 ms, 20,000 requests, two
-- runs each, pg_stat_user_tables and pg_stat_wal over the run): HOT updates of cc_auth_trans 2-8 %
-- -> 65-66 %, WAL 7.6-11.2 kB -> 3.3-4.8 kB and 21-23 -> 17 WAL records per authorization,
-- index blocks touched per authorization 41-44 -> 26; the backends' CPU per authorization
-- 0.30 / 0.25 ms -> 0.24 / 0.23 ms (noisy, same direction). cc_deposit_trans (paylink-deposit,
-- 10,000 debits): HOT updates 1 % -> 55 %. Fillfactor 70 gave 55 % and 80 gave 44 % on
-- cc_auth_trans. The space is not lost: the rows more than double in size when answered, and
-- the final versions fill the page about as densely as before (1.2 kB rows, ~6 a page).
--
-- What it costs to apply: ALTER TABLE … SET (fillfactor) takes a SHARE UPDATE EXCLUSIVE lock
-- (reads and writes go on; it waits for a running VACUUM), rewrites nothing and applies to pages
-- filled from now on; existing pages keep their rows as they are. Running workers are not
-- affected (no column or type changes).

ALTER TABLE cc_auth_trans SET (fillfactor = 50);
ALTER TABLE cc_deposit_trans SET (fillfactor = 50);
ALTER TABLE auth_reversal SET (fillfactor = 50);
ALTER TABLE svc_trans SET (fillfactor = 50);
