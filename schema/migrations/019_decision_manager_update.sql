-- 019: the Decision Manager update (seed cybersource-point-to-point.txt, "Cybersource Decision
-- Manager Update Process", properties CYB_PAY_LINK_DECISION_MANAGER_*): the report user's
-- settings per service bureau, every conversion paylink applied (dm_decision) and every
-- successful run (dm_run). paylink-dmupdate asks CyberSource's on-demand Conversion Detail
-- Report for the window since the last successful run of a company and bureau, matches each
-- conversion's RequestID to the transaction id of an authorization of that company
-- (auth_history), records it once and publishes a decision event for the order system.

CREATE TABLE dm_settings (
    service_bureau      varchar(8)   PRIMARY KEY REFERENCES auth_service ON DELETE CASCADE,
    merchant_id_override varchar(30) NOT NULL DEFAULT ''
                        CHECK (merchant_id_override !~ '[[:space:][:cntrl:]]'),
    user_id             varchar(60)  NOT NULL CHECK (user_id <> '' AND user_id !~ '[[:cntrl:]]'),
    password_ref        varchar(200) NOT NULL
                        CHECK (password_ref ~ '^(env:|file:|file-env:)[^[:cntrl:]]+$'),
    send_to_production  boolean      NOT NULL DEFAULT false,
    test_url            varchar(300) NOT NULL
                        CHECK (test_url ~ '^https://[^/[:space:][:cntrl:]]+(/[^[:space:][:cntrl:]]*)?$'),
    production_url      varchar(300) NOT NULL
                        CHECK (production_url ~ '^https://[^/[:space:][:cntrl:]]+(/[^[:space:][:cntrl:]]*)?$'),
    updated_at          timestamptz  NOT NULL DEFAULT now()
);
CREATE TRIGGER dm_settings_touch BEFORE UPDATE ON dm_settings
    FOR EACH ROW EXECUTE FUNCTION paylink_touch_updated_at();
COMMENT ON TABLE dm_settings IS 'Decision Manager update settings of a CyberSource service bureau (seed properties CYB_PAY_LINK_DECISION_MANAGER_*): who paylink-dmupdate logs in as to ask the Conversion Detail Report, for which merchant, and where. One row per bureau that runs the update; a bureau without a row is not updated.';
COMMENT ON COLUMN dm_settings.service_bureau IS 'The CyberSource service bureau (auth_service, Decision Manager enabled) whose reviews are updated.';
COMMENT ON COLUMN dm_settings.merchant_id_override IS 'CYB_PAY_LINK_DECISION_MANAGER_MERCHANT_ID_OVERRIDE: the merchant ID the report is asked for. Blank = the seed''s hierarchy (CC Paytype Cross Ref merchant, Merchant ID Override of the company, the service bureau''s merchant ID).';
COMMENT ON COLUMN dm_settings.user_id IS 'CYB_PAY_LINK_DECISION_MANAGER_USER_ID: the CyberSource Business Center user allowed to download reports (form field username).';
COMMENT ON COLUMN dm_settings.password_ref IS 'CYB_PAY_LINK_DECISION_MANAGER_PASSWORD: where that user''s password is read (env:NAME, file:/path, file-env:NAME), never the password itself.';
COMMENT ON COLUMN dm_settings.send_to_production IS 'CYB_PAY_LINK_DECISION_MANAGER_SEND_TO_PRODUCTION: true asks production_url, false test_url.';
COMMENT ON COLUMN dm_settings.test_url IS 'The on-demand Conversion Detail Report URL of the test server (https://ebctest.cybersource.com/ebctest/ConversionDetailReportRequest.do).';
COMMENT ON COLUMN dm_settings.production_url IS 'The on-demand Conversion Detail Report URL of the production server (https://ebc.cybersource.com/ebc/ConversionDetailReportRequest.do).';
COMMENT ON COLUMN dm_settings.updated_at IS 'Last change (kept by a trigger).';

CREATE TABLE dm_run (
    id              bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company         integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    service_bureau  varchar(8)   NOT NULL REFERENCES auth_service ON DELETE CASCADE,
    merchant_id     varchar(30)  NOT NULL,
    window_start    timestamptz  NOT NULL,
    window_end      timestamptz  NOT NULL CHECK (window_end >= window_start),
    conversions     integer      NOT NULL CHECK (conversions >= 0),
    applied         integer      NOT NULL CHECK (applied >= 0),
    skipped         integer      NOT NULL CHECK (skipped >= 0),
    started_at      timestamptz  NOT NULL,
    finished_at     timestamptz  NOT NULL DEFAULT now(),
    run_by          varchar(100) NOT NULL
);
CREATE INDEX dm_run_last ON dm_run (company, service_bureau, window_end DESC);
COMMENT ON TABLE dm_run IS 'Every successful Decision Manager update of a company and bureau: the report window it covered. The next run starts at the newest window_end. A failed run (the report service''s error, an HTTP failure, a malformed report, a decision event that could not be published) writes nothing here, so the next run asks for the same window again.';
COMMENT ON COLUMN dm_run.company IS 'The company the run applied conversions for (seed: "Run this periodic function by company").';
COMMENT ON COLUMN dm_run.service_bureau IS 'The CyberSource service bureau whose report was read.';
COMMENT ON COLUMN dm_run.merchant_id IS 'The merchant ID the report was asked for.';
COMMENT ON COLUMN dm_run.window_start IS 'Report window start (GMT; startDate/startTime).';
COMMENT ON COLUMN dm_run.window_end IS 'Report window end (GMT; endDate/endTime): where the next run starts.';
COMMENT ON COLUMN dm_run.conversions IS 'Conversions in the report.';
COMMENT ON COLUMN dm_run.applied IS 'Conversions of this company recorded for the first time by this run (dm_decision).';
COMMENT ON COLUMN dm_run.skipped IS 'Conversions not applied: of another company, of no authorization paylink holds, or recorded by an earlier run.';
COMMENT ON COLUMN dm_run.started_at IS 'When the run asked for the report.';
COMMENT ON COLUMN dm_run.finished_at IS 'When its decisions were all published.';
COMMENT ON COLUMN dm_run.run_by IS 'The paylink-dmupdate instance that ran it.';

CREATE TABLE dm_decision (
    id                  bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company             integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    service_bureau      varchar(8)   NOT NULL REFERENCES auth_service ON DELETE CASCADE,
    transaction_id      varchar(64)  NOT NULL CHECK (transaction_id <> ''),
    conversion_date     varchar(32)  NOT NULL,
    merchant_reference  varchar(64)  NOT NULL DEFAULT '',
    original_decision   varchar(10)  NOT NULL,
    new_decision        varchar(10)  NOT NULL CHECK (new_decision IN ('ACCEPT', 'REJECT')),
    reviewer            varchar(64)  NOT NULL DEFAULT '',
    messages            text[]       NOT NULL DEFAULT '{}',
    auth_request_id     varchar(50)  NOT NULL REFERENCES cc_auth_trans (request_id),
    order_number        varchar(20)  NOT NULL,
    pay_seq             integer      NOT NULL,
    action              varchar(20)  NOT NULL CHECK (action IN ('release_hold', 'cancel_order', 'fraud_cancel_hold')),
    cancel_reason       varchar(10),
    reversal_request_id varchar(50),
    reversal_request    jsonb,
    event               jsonb        NOT NULL,
    created_at          timestamptz  NOT NULL DEFAULT now(),
    published_at        timestamptz,
    UNIQUE (company, transaction_id, conversion_date, new_decision)
);
CREATE INDEX dm_decision_unpublished ON dm_decision (company, service_bureau) WHERE published_at IS NULL;
CREATE INDEX dm_decision_order ON dm_decision (company, order_number);
COMMENT ON TABLE dm_decision IS 'Each Decision Manager conversion paylink applied, once (a re-run of a window finds the row and changes nothing): the reviewer''s new decision on a REVIEW authorization, what paylink asked the order system to do (the decision event, CONTRACT.md paylink.dm.decision) and whether that event is published yet.';
COMMENT ON COLUMN dm_decision.company IS 'Company of the authorization.';
COMMENT ON COLUMN dm_decision.service_bureau IS 'The CyberSource service bureau of the report.';
COMMENT ON COLUMN dm_decision.transaction_id IS 'The conversion''s RequestID: the CyberSource requestID of the authorization (auth_history.transaction_id).';
COMMENT ON COLUMN dm_decision.conversion_date IS 'ConversionDate as the report gave it (GMT).';
COMMENT ON COLUMN dm_decision.merchant_reference IS 'MerchantReferenceNumber of the conversion (paylink''s request_id of the authorization).';
COMMENT ON COLUMN dm_decision.original_decision IS 'OriginalDecision (REVIEW).';
COMMENT ON COLUMN dm_decision.new_decision IS 'NewDecision: ACCEPT (release the FS hold) or REJECT (cancel the order).';
COMMENT ON COLUMN dm_decision.reviewer IS 'Reviewer: the Decision Manager user who decided.';
COMMENT ON COLUMN dm_decision.messages IS 'The order messages: reviewer comments and notes, upper case as the seed shows.';
COMMENT ON COLUMN dm_decision.auth_request_id IS 'The paylink authorization (cc_auth_trans) the conversion is about.';
COMMENT ON COLUMN dm_decision.order_number IS 'Its order.';
COMMENT ON COLUMN dm_decision.pay_seq IS 'Its order payment method sequence.';
COMMENT ON COLUMN dm_decision.action IS 'What the event asks: release_hold (ACCEPT), cancel_order (REJECT), fraud_cancel_hold (REJECT of an order paylink knows cannot be cancelled whole: part of it was deposited).';
COMMENT ON COLUMN dm_decision.cancel_reason IS 'The fraud cancel reason (M14, auth_service.fraud_cancel_reason) of a cancel_order.';
COMMENT ON COLUMN dm_decision.reversal_request_id IS 'request_id of the reversal request published with a REJECT when the bureau has Send reversal; NULL otherwise.';
COMMENT ON COLUMN dm_decision.reversal_request IS 'That reversal request as published on paylink.reversal.request (no card data: it names the authorization by its request_id).';
COMMENT ON COLUMN dm_decision.event IS 'The decision event as published on paylink.dm.decision.';
COMMENT ON COLUMN dm_decision.created_at IS 'When the conversion was recorded.';
COMMENT ON COLUMN dm_decision.published_at IS 'When its event (and reversal request) were acknowledged by Kafka; NULL = the next run publishes it again.';

CREATE VIEW dm_decision_recent AS
SELECT d.company, d.order_number, d.pay_seq, d.new_decision, d.action, d.cancel_reason,
       d.reversal_request_id, d.reviewer, d.messages, d.transaction_id, d.auth_request_id,
       d.created_at, d.published_at,
       now() - d.created_at AS age
  FROM dm_decision d
 ORDER BY d.created_at DESC;
COMMENT ON VIEW dm_decision_recent IS 'DBA view: Decision Manager decisions applied, newest first, with whether their events went out (published_at NULL = waiting for the next run).';
