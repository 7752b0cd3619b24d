-- 029: the companies with Decision Manager reviews, noted as their reviews arrive, so that
-- paylink-dmupdate finds them without reading every authorization.
--
-- Why: paylink-dmupdate, when no companies are configured (--company, PAYLINK_DM_COMPANIES),
-- asked every cycle and service bureau for the companies with a review:
-- SELECT company FROM cc_auth_trans WHERE status = 'review' AND service_bureau = $1. No index
-- serves that without a cost to every answer (an index whose columns or predicate name status
-- makes every status update non-HOT, which 027 bought back), so it was a sequential scan of the
-- whole table: 1.1 s of PostgreSQL and ~1.3 GB read with 1.09 million authorizations on the
-- development box, every 900 s by default, growing with the table for ever. Now a row per
-- service bureau and company is written by a trigger when an authorization becomes a review
-- (the first time only: ON CONFLICT DO NOTHING), and paylink-dmupdate reads that table. The
-- trigger's WHEN clause is all an answer that is not a review pays.
--
-- What it costs to apply: the backfill reads cc_auth_trans once (a sequential scan; reads and
-- writes go on); CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock on cc_auth_trans, which waits
-- for the writes in progress and holds new ones back for a moment. Running workers are not
-- affected; a paylink-dmupdate of before reads cc_auth_trans as before.

CREATE TABLE dm_review_company (
    service_bureau  varchar(8)  NOT NULL,
    company         integer     NOT NULL,
    first_review_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_bureau, company)
);
COMMENT ON TABLE dm_review_company IS 'The companies that have had an authorization in Decision Manager review (status review) on a service bureau, written by the cc_auth_trans_review_company trigger: the companies paylink-dmupdate updates when none are configured (with those of dm_run).';
COMMENT ON COLUMN dm_review_company.service_bureau IS 'The service bureau (auth_service) of the authorization in review.';
COMMENT ON COLUMN dm_review_company.company IS 'The company of the authorization in review.';
COMMENT ON COLUMN dm_review_company.first_review_at IS 'When the first review of the company on the bureau was noted (for the backfill of 029: the earliest answer of the reviews found).';

CREATE FUNCTION paylink_note_review_company() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dm_review_company (service_bureau, company)
    VALUES (NEW.service_bureau, NEW.company)
    ON CONFLICT (service_bureau, company) DO NOTHING;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_note_review_company() IS 'Trigger function (cc_auth_trans rows whose status is review): notes the row''s service bureau and company in dm_review_company, once.';

CREATE TRIGGER cc_auth_trans_review_company
    AFTER INSERT OR UPDATE OF status ON cc_auth_trans FOR EACH ROW
    WHEN (NEW.status = 'review')
    EXECUTE FUNCTION paylink_note_review_company();

INSERT INTO dm_review_company (service_bureau, company, first_review_at)
SELECT service_bureau, company, min(coalesce(answered_at, received_at))
  FROM cc_auth_trans WHERE status = 'review'
 GROUP BY service_bureau, company
    ON CONFLICT (service_bureau, company) DO NOTHING;
