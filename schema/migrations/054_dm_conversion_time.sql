-- 054: a Decision Manager conversion's ConversionDate is recorded in one form, the old report's
-- "YYYY-MM-DD HH:MM:SS" (GMT).
--
-- Why: dm_decision is unique per (company, transaction_id, conversion_date, new_decision), and
-- conversion_date was the text the report gave. The old Conversion Detail Report writes
-- "2018-04-01 10:15:42", the new one "2018-12-01T10:15:42.000Z" (recorded as
-- "2018-12-01T10:15:42Z", its fraction dropped): a window asked again of the other report (a
-- merchant moved to the new one, a recheck of 041 or 047, a merchant ID first noted during a
-- run) recorded the same conversion a second time and published its event again: a second
-- cancel_order or release_hold for the order system, a second reversal request. paylink-dmupdate
-- now reads every ConversionDate into the old form (common/dm_report.c, canonical_gmt: a time
-- without a zone is GMT, an offset is taken off). This rewrites the rows recorded in another
-- form the same way, and first deletes each row that would then record a conversion recorded
-- already: the one of the lowest id is kept (recorded first, its event published first).
-- Values in neither form are left as they are, as the worker leaves them.
--
-- What it costs to apply: two passes over dm_decision (a few rows a day of reviews); the rows
-- rewritten or deleted are locked until the migration commits (dmupdate's inserts of the same
-- conversions wait for it). At run time: nothing.

CREATE FUNCTION pg_temp.dm_conversion_gmt(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN t !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$' THEN t
        WHEN t ~ '[+-]\d{2}:?\d{2}$' AND t !~ '[+-]00:?00$'
            THEN to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
        ELSE overlay(substr(t, 1, 19) PLACING ' ' FROM 11)
    END
$$;

DELETE FROM dm_decision d
 USING (SELECT id, row_number() OVER (
               PARTITION BY company, transaction_id, pg_temp.dm_conversion_gmt(conversion_date),
                            new_decision
               ORDER BY id) AS n
          FROM dm_decision) r
 WHERE d.id = r.id AND r.n > 1;

UPDATE dm_decision SET conversion_date = pg_temp.dm_conversion_gmt(conversion_date)
 WHERE conversion_date <> pg_temp.dm_conversion_gmt(conversion_date);

DROP FUNCTION pg_temp.dm_conversion_gmt(text);

COMMENT ON COLUMN dm_decision.conversion_date IS 'ConversionDate of the report, in the old report''s form "YYYY-MM-DD HH:MM:SS" GMT whichever report gave it (054).';
