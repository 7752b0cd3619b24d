-- 048: cc_deposit_trans.void_remainder (046) sampled as the hot tables' other columns are (036).
--
-- Why: 036 keeps ANALYZE's statistics target of the tables every request writes at 25 (7,500
-- rows sampled, not 30,000: autovacuum analyzes them about every minute while they fill); a
-- column added later takes the default unless it is set, and 046 did not set it.
--
-- What it costs to apply: ALTER TABLE ... SET STATISTICS (a SHARE UPDATE EXCLUSIVE lock for a
-- moment; no rewrite).

ALTER TABLE cc_deposit_trans ALTER COLUMN void_remainder SET STATISTICS 25;
