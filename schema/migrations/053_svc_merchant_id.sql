-- 053: a stored value row records the merchant ID it was sent under.
--
-- Why: a card capture, credit or reversal goes under the merchant ID its authorization (or
-- debit) was sent with (cc_*_trans.merchant_id, engine.h pl_job_follow_merchant): the bureau
-- finds a transaction within its merchant only. A stored value deposit, return or void on the
-- External Payment Service went under the merchant ID the configuration gives it now, for its
-- own entity and pay type: a deposit without the entity its authorization had (the contract makes
-- it optional), `paylinkctl svc reverse-unused` (which names none), or any call after an operator
-- changed a merchant ID, went under another merchant, was refused, and the authorization stayed
-- held until it expired. Now the mark of a stored value call records its merchant ID, and a call
-- on an earlier row goes under that row's; a row marked before this migration ('') leaves the
-- configuration's, as before. (Customer Engagement has no merchant ID in its messages.)
--
-- What it costs to apply: ADD COLUMN with a constant default (no rewrite) and its statistics
-- target (catalog only). At run time: the mark writes one more column.

ALTER TABLE svc_trans ADD COLUMN merchant_id varchar(30) NOT NULL DEFAULT '';
-- Sampled as 036 samples every column of the tables each request writes.
ALTER TABLE svc_trans ALTER COLUMN merchant_id SET STATISTICS 25;
COMMENT ON COLUMN svc_trans.merchant_id IS 'Merchant ID the call was sent under (after the merchant ID hierarchy, or the merchant ID of the row it draws on: a deposit''s authorization, a return''s deposit); '''' when not sent, sent to a bureau without merchant IDs (Customer Engagement), or marked before 053.';
