-- 072: a Decision Manager conversion older than one already recorded for the same authorization
-- is recorded but not acted on (dm_decision.superseded_by).
--
-- Why: a conversion can show in the Conversion Detail Report some time after its
-- ConversionDate, and paylink-dmupdate's windows overlap (PAYLINK_DM_OVERLAP_S), so an older
-- conversion of an order can be read after a newer one: C2 (ACCEPT, 09:59:55) recorded by one
-- window and its release_hold published, then C1 (REJECT, 09:59:40) by the next, which
-- published cancel_order and a reversal request (<auth>.dmrev) after the release, and
-- paylink-deposit, reading the decision of the highest id, refused the order's captures as
-- rejected while the reviewer's last word was ACCEPT. Such a conversion is now recorded for the
-- audit with the id of the newer decision in superseded_by, and nothing is published for it: no
-- event, no reversal request. The decision paylink-deposit reads is the latest by
-- conversion_date (054's one form, "YYYY-MM-DD HH:MM:SS" GMT, which sorts as text), then id.
--
-- A superseded row is written with published_at set (the CHECK below): publishing reads the
-- rows where published_at is NULL, so no run publishes it, an older release's during a rolling
-- deploy neither; an operator who clears published_at to publish rows again cannot include it.
-- superseded_by is not a foreign key: a row it names deleted must not make the older decision
-- publishable.
--
-- What it costs to apply: a column without a default (no rewrite) and a CHECK that reads
-- dm_decision once (a few rows a day of reviews) under a lock that holds dmupdate's inserts for
-- that moment; the view is replaced with one more column at its end. At run time: nothing.

ALTER TABLE dm_decision ADD COLUMN superseded_by bigint;
ALTER TABLE dm_decision ADD CONSTRAINT dm_decision_superseded_not_published
    CHECK (superseded_by IS NULL OR published_at IS NOT NULL);

COMMENT ON COLUMN dm_decision.superseded_by IS 'NULL: the conversion was acted on (its event, and reversal request, published or to be published). Else the id of the newer decision (by conversion_date) of the same company and transaction recorded before this conversion was read: this one is recorded for the audit only; nothing was or will be published for it (event holds what it would have been, reversal_request_id is NULL) (072).';
COMMENT ON COLUMN dm_decision.published_at IS 'When its event (and reversal request) were acknowledged by Kafka; NULL = the next run publishes it again. For a superseded row (superseded_by), when it was recorded: nothing is published for it (072).';
COMMENT ON COLUMN dm_decision.event IS 'The decision event as published on paylink.dm.decision; of a superseded row (superseded_by), the event it would have been, never published (072).';
COMMENT ON CONSTRAINT dm_decision_superseded_not_published ON dm_decision IS 'A superseded decision is never left for publishing (published_at NULL) (072).';

CREATE OR REPLACE VIEW dm_decision_recent AS
SELECT d.company, d.order_number, d.pay_seq, d.new_decision, d.action, d.cancel_reason,
       d.reversal_request_id, d.reviewer, d.messages, d.transaction_id, d.auth_request_id,
       d.created_at, d.published_at,
       now() - d.created_at AS age,
       d.superseded_by
  FROM dm_decision d
 ORDER BY d.created_at DESC;
COMMENT ON VIEW dm_decision_recent IS 'DBA view: Decision Manager decisions recorded, newest first, with whether their events went out (published_at NULL = waiting for the next run; superseded_by set = older than a decision recorded before it, not acted on and never published: 072).';
