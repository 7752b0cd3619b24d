-- 034: the transaction tables leave three quarters of each new page free (027 left half), so
-- that the answer a request's row takes moments after its insert stays on the row's page (HOT
-- updates, issue 12).
--
-- Why: since the workers record a request already marked sent (one statement), its row is
-- inserted at ~340 bytes (cc_auth_trans) and updated once more, with the answer and the reply's
-- jsonb, to ~1,180-1,230 bytes: 3.5 times its size. At fillfactor 50 a page takes ~12 new rows,
-- whose answers need ~14 kB, so only the first few answers found room on their page and the
-- rest went to another page with a new entry in each of the table's indexes: on the dev
-- environment (K = 512, L = 100 ms, alternating 50 and 25, the share of the table's updates that
-- were HOT and PostgreSQL's CPU a reply): paylink-auth (20,000 requests, three rounds)
-- cc_auth_trans 40-42 % -> 92-98 % HOT, 108-120 -> 93.5-104 us; paylink-svc (10,000, two
-- rounds) svc_trans 46-56 % -> 92-99 %, 98 / 103 -> 86 / 105 us; paylink-deposit
-- cc_deposit_trans 61-67 % -> 82-84 %, 203 / 166 -> 167 / 156 us; paylink-reversal
-- auth_reversal 72-75 % -> 89-90 %, 283 / 141 -> 187 / 137 us. Forty answered rows of the
-- workers' sizes in a table of that fillfactor (test_schema test_answers_update_in_place):
-- cc_auth_trans at 50: 12 of 40 updates HOT, 13 pages; at 30: 34 of 40, 10 pages; at 25: 40
-- of 40, 8 pages (svc_trans: 16 of 40 and 10 pages at 50, 40 of 40 and 8 pages at 25). The
-- space is not lost: a row answered in place leaves no dead version behind on another page
-- (the forty rows took fewer pages at 25 than at 50).
--
-- What it costs to apply: ALTER TABLE ... SET (fillfactor) takes a SHARE UPDATE EXCLUSIVE lock
-- (reads and writes go on; it waits for a running VACUUM), rewrites nothing and applies to pages
-- filled from now on; existing pages keep their rows as they are. Running workers are not
-- affected (no column or type changes).

ALTER TABLE cc_auth_trans SET (fillfactor = 25);
ALTER TABLE cc_deposit_trans SET (fillfactor = 25);
ALTER TABLE auth_reversal SET (fillfactor = 25);
ALTER TABLE svc_trans SET (fillfactor = 25);
