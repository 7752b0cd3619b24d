-- 047: the windows already reported before 045 are asked again for the merchant IDs 045 found.
--
-- Why: 045 notes the merchant IDs reviews were sent under, and paylink-dmupdate asks each of
-- their reports from its next window on. But a review held under a pay type's or an entity's
-- merchant ID before 045, and decided before it, lies in a window dm_run already recorded
-- (asked of the bureau's merchant ID alone): its decision would never be applied. So every
-- company and bureau with such a merchant ID gets the windows from a minute before its first
-- review (at most 31 days back, as a first run) to its last recorded window's end noted in
-- dm_recheck, a day each: paylink-dmupdate asks them again at its next cycle, of every
-- merchant ID (a conversion recorded before changes nothing), and forgets each once read
-- (`deferred` 1: "asked again"; the column counts deferred conversions otherwise).
--
-- What it costs to apply: reads dm_review_merchant, dm_run and auth_service; at most 31 rows a
-- company and bureau. At run time: the next cycle asks those windows' reports once more.

INSERT INTO dm_recheck (company, service_bureau, window_start, window_end, deferred)
SELECT m.company, m.service_bureau, g, least(g + interval '1 day', r.last_end), 1
  FROM (SELECT d.company, d.service_bureau, min(d.first_review_at) AS first_review
          FROM dm_review_merchant d
          JOIN auth_service a ON a.service_bureau = d.service_bureau
         WHERE d.merchant_id <> a.merchant_id
         GROUP BY d.company, d.service_bureau) m
  JOIN (SELECT company, service_bureau, max(window_end) AS last_end
          FROM dm_run GROUP BY company, service_bureau) r
    ON r.company = m.company AND r.service_bureau = m.service_bureau
 CROSS JOIN LATERAL generate_series(
           greatest(m.first_review - interval '1 minute', r.last_end - interval '31 days'),
           r.last_end - interval '1 second', interval '1 day') g
 WHERE m.company BETWEEN 1 AND 999
    ON CONFLICT (company, service_bureau, window_start) DO NOTHING;
