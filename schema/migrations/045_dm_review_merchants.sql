-- 045: the merchant IDs of Decision Manager reviews, noted as their reviews arrive, so that
-- paylink-dmupdate asks the Conversion Detail Report of each.
--
-- Why: a report covers one merchant ID. paylink-dmupdate asked only the one the seed's hierarchy
-- gives a company without a pay type or an entity (the bureau's), while paylink-auth sends each
-- authorization under the merchant ID of its pay type (vendor_paytype) or its entity
-- (merchant_id_override) when those have one. A review held under such a merchant ID was never
-- in the report asked for: its reviewer's decision was never applied (the FS hold never
-- released, a reject never cancelled or reversed), and every run succeeded. Now the trigger that
-- notes a company's first review (029) notes each merchant ID its reviews were sent under, and
-- paylink-dmupdate asks the report of each of them (with the hierarchy's own), unless the
-- bureau's Decision Manager merchant ID override (dm_settings.merchant_id_override) names the
-- one merchant to ask, as the seed has it.
--
-- What it costs to apply: the backfill reads cc_auth_trans once (a sequential scan, as 029's;
-- reads and writes go on); CREATE OR REPLACE FUNCTION. At run time: the trigger's WHEN clause is
-- unchanged (only a review pays), and a review inserts one more row the first time its merchant
-- ID is seen (ON CONFLICT DO NOTHING).

CREATE TABLE dm_review_merchant (
    service_bureau  varchar(8)  NOT NULL,
    company         integer     NOT NULL,
    merchant_id     varchar(30) NOT NULL,
    first_review_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_bureau, company, merchant_id)
);
COMMENT ON TABLE dm_review_merchant IS 'The merchant IDs the Decision Manager reviews (status review) of a company on a service bureau were sent under, written by the cc_auth_trans_review_company trigger: paylink-dmupdate asks the Conversion Detail Report of each (045).';
COMMENT ON COLUMN dm_review_merchant.service_bureau IS 'The service bureau (auth_service) of the authorization in review.';
COMMENT ON COLUMN dm_review_merchant.company IS 'The company of the authorization in review.';
COMMENT ON COLUMN dm_review_merchant.merchant_id IS 'The merchant ID the authorization was sent under (cc_auth_trans.merchant_id).';
COMMENT ON COLUMN dm_review_merchant.first_review_at IS 'When the first review under this merchant ID was noted (for the backfill of 045: the earliest answer of the reviews found).';

CREATE OR REPLACE FUNCTION paylink_note_review_company() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dm_review_company (service_bureau, company)
    VALUES (NEW.service_bureau, NEW.company)
    ON CONFLICT (service_bureau, company) DO NOTHING;
    IF NEW.merchant_id <> '' THEN
        INSERT INTO dm_review_merchant (service_bureau, company, merchant_id)
        VALUES (NEW.service_bureau, NEW.company, NEW.merchant_id)
        ON CONFLICT (service_bureau, company, merchant_id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_note_review_company() IS 'Trigger function (cc_auth_trans rows whose status is review): notes the row''s service bureau and company in dm_review_company, and its merchant ID in dm_review_merchant, once each.';

INSERT INTO dm_review_merchant (service_bureau, company, merchant_id, first_review_at)
SELECT service_bureau, company, merchant_id, min(coalesce(answered_at, received_at))
  FROM cc_auth_trans WHERE status = 'review' AND merchant_id <> ''
 GROUP BY service_bureau, company, merchant_id
    ON CONFLICT (service_bureau, company, merchant_id) DO NOTHING;
