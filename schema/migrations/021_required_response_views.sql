-- 021: the WREQ view an operator and a DBA start from: required responses still to settle, by
-- service bureau and worker, with how many and how old (the seed's "Working with Required
-- Responses" screen lists them per bureau). `escalated` is a status the resolution of unknown
-- outcomes will add; the view counts it already so it does not change shape then.
CREATE VIEW required_response_by_bureau AS
SELECT r.service_bureau, r.worker, r.status, count(*) AS rows,
       min(r.created_at) AS oldest_at, now() - min(r.created_at) AS oldest_age,
       count(*) FILTER (WHERE r.created_at < now() - interval '1 hour') AS older_than_1h,
       count(*) FILTER (WHERE r.created_at < now() - interval '1 day') AS older_than_1d
  FROM required_response r
 WHERE r.status IN ('open', 'escalated')
 GROUP BY r.service_bureau, r.worker, r.status
 ORDER BY oldest_at;
COMMENT ON VIEW required_response_by_bureau IS 'DBA view: required responses open (or escalated) by service bureau, worker and status, with the oldest one''s time and age and how many are older than an hour and a day; the metric paylink_required_response_oldest_age_seconds is the same age per worker.';
