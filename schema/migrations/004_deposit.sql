-- 004: deposit transactions, modeled on the OROMS CC Deposit Transaction table and its history.
-- A debit settles an authorization (ccCaptureService, or ccAuthService + ccCaptureService in one
-- request); a credit refunds a debit (follow-on ccCreditService) or a card (stand-alone). Card
-- data is stored only as a token or as a mask with a keyed hash, as in 002.

CREATE TABLE cc_deposit_trans (
    request_id        varchar(50)  PRIMARY KEY,
    fingerprint       char(64)     NOT NULL,
    request_type      varchar(10)  NOT NULL CHECK (request_type IN ('debit', 'credit')),
    operation         varchar(16)  NOT NULL DEFAULT '' CHECK (operation IN ('', 'capture', 'credit', 'auth_capture')),
    deposit_reason    varchar(20)  NOT NULL DEFAULT '',
    company           integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number      varchar(20)  NOT NULL,
    pay_seq           integer      NOT NULL CHECK (pay_seq >= 1),
    service_bureau    varchar(8)   NOT NULL,
    pay_type          varchar(4)   NOT NULL DEFAULT '',
    amount            numeric(15,2),
    currency          char(3),
    installment       boolean      NOT NULL DEFAULT false,
    card_masked       varchar(24)  NOT NULL DEFAULT '',
    card_hash         char(64),
    card_token        varchar(64)  NOT NULL DEFAULT '',
    card_type         varchar(4)   NOT NULL DEFAULT '',
    auth_ref_request_id varchar(50) NOT NULL DEFAULT '',
    auth_ref_transaction_id varchar(64) NOT NULL DEFAULT '',
    capture_ref_request_id varchar(50) NOT NULL DEFAULT '',
    auth_history_id   bigint,
    ref_transaction_id varchar(64) NOT NULL DEFAULT '',
    merchant_id       varchar(30)  NOT NULL DEFAULT '',
    status            varchar(10)  NOT NULL DEFAULT 'received' CHECK (status IN
                        ('received', 'sent', 'approved', 'declined', 'review', 'rejected', 'error', 'unknown')),
    deposit_status    varchar(6)   NOT NULL DEFAULT '' CHECK (deposit_status IN ('', '*SENT', '*RCVD', '*CONF', '*RESB')),
    decision          varchar(10)  NOT NULL DEFAULT '',
    vendor_response   varchar(10)  NOT NULL DEFAULT '',
    amount_deposited  numeric(15,2),
    auth_number       varchar(30)  NOT NULL DEFAULT '',
    auth_date         varchar(32)  NOT NULL DEFAULT '',
    transaction_id    varchar(64)  NOT NULL DEFAULT '',
    request_token     varchar(512) NOT NULL DEFAULT '',
    error_text        varchar(300) NOT NULL DEFAULT '',
    reply             jsonb,
    received_at       timestamptz  NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    answered_at       timestamptz
) WITH (fillfactor = 80);
CREATE INDEX cc_deposit_trans_order ON cc_deposit_trans (company, order_number, pay_seq);
CREATE INDEX cc_deposit_trans_received ON cc_deposit_trans USING brin (received_at);
COMMENT ON TABLE cc_deposit_trans IS 'One row per deposit request (CC Deposit Transaction): a debit (capture) or a credit (refund), recorded before the bureau call and updated with its answer. request_id is the idempotency key.';
COMMENT ON INDEX cc_deposit_trans_received IS 'BRIN on received_at: today''s deposits without an index write on every update (as 003 does for authorizations).';
COMMENT ON COLUMN cc_deposit_trans.request_id IS 'Idempotency key from the upstream system; also the CyberSource merchantReferenceCode, by which a lost answer is queried again (paylinkctl deposits receive).';
COMMENT ON COLUMN cc_deposit_trans.fingerprint IS 'Keyed hash of the request content: a redelivery has the same, a reused request_id with other content does not (refused as a conflict).';
COMMENT ON COLUMN cc_deposit_trans.request_type IS 'Request type: debit (charge the card) or credit (refund it).';
COMMENT ON COLUMN cc_deposit_trans.operation IS 'What was sent to the bureau: capture (ccCaptureService), credit (ccCreditService), auth_capture (ccAuthService and ccCaptureService in one request).';
COMMENT ON COLUMN cc_deposit_trans.deposit_reason IS 'Why that operation (the deposit-type decision): capture, over_authorized, expired, installment, no_authorization, follow_on, stand_alone; or why it was refused before the call.';
COMMENT ON COLUMN cc_deposit_trans.company IS 'Company number.';
COMMENT ON COLUMN cc_deposit_trans.order_number IS 'Order number.';
COMMENT ON COLUMN cc_deposit_trans.pay_seq IS 'Order payment method sequence.';
COMMENT ON COLUMN cc_deposit_trans.service_bureau IS 'Service bureau code (auth_service).';
COMMENT ON COLUMN cc_deposit_trans.pay_type IS 'Pay type code of the request (its reauthorization days decide whether an authorization expired).';
COMMENT ON COLUMN cc_deposit_trans.amount IS 'Amount to deposit.';
COMMENT ON COLUMN cc_deposit_trans.currency IS 'ISO 4217 currency of the amount.';
COMMENT ON COLUMN cc_deposit_trans.installment IS 'True when the debit is an installment amount (always authorized and captured in one request).';
COMMENT ON COLUMN cc_deposit_trans.card_masked IS 'Card number masked (first six and last four digits) when the request carried one.';
COMMENT ON COLUMN cc_deposit_trans.card_hash IS 'HMAC-SHA256 of the card number with the paylink hash key; NULL when the request carried none.';
COMMENT ON COLUMN cc_deposit_trans.card_token IS 'Bureau token the request carried or the deposit used (blank when none).';
COMMENT ON COLUMN cc_deposit_trans.card_type IS 'Card type (VI, MC, AX, DI, ...).';
COMMENT ON COLUMN cc_deposit_trans.auth_ref_request_id IS 'The paylink authorization (cc_auth_trans.request_id) a debit settles; blank for an inline manual authorization or a credit.';
COMMENT ON COLUMN cc_deposit_trans.auth_ref_transaction_id IS 'Bureau transaction id of an inline manual authorization (auth_ref.transaction_id).';
COMMENT ON COLUMN cc_deposit_trans.capture_ref_request_id IS 'The paylink debit (cc_deposit_trans.request_id) a follow-on credit refunds; blank for a stand-alone credit.';
COMMENT ON COLUMN cc_deposit_trans.auth_history_id IS 'The auth_history row the debit settles or (after an auth+capture) leaves unused; NULL when none.';
COMMENT ON COLUMN cc_deposit_trans.ref_transaction_id IS 'Bureau transaction id the follow-on call referenced (authRequestID or captureRequestID).';
COMMENT ON COLUMN cc_deposit_trans.merchant_id IS 'Merchant ID sent (after the merchant ID hierarchy).';
COMMENT ON COLUMN cc_deposit_trans.status IS 'received (recorded, not sent), sent (the bytes may have left; never re-sent blindly), unknown (no answer: see required_response), or a final outcome: approved, declined, review, rejected, error. Final outcomes cannot be overwritten.';
COMMENT ON COLUMN cc_deposit_trans.deposit_status IS 'OROMS deposit status flow: blank (recorded), *SENT (sent), *RCVD (answer received, also from a re-query), *CONF (a rejected deposit manually confirmed), *RESB (a rejected deposit resubmitted as a new request).';
COMMENT ON COLUMN cc_deposit_trans.decision IS 'CyberSource decision: ACCEPT, REVIEW, REJECT, ERROR.';
COMMENT ON COLUMN cc_deposit_trans.vendor_response IS 'Bureau reason/response code (vendor_response.response_code).';
COMMENT ON COLUMN cc_deposit_trans.amount_deposited IS 'Amount the bureau captured or credited.';
COMMENT ON COLUMN cc_deposit_trans.auth_number IS 'Authorization code in the answer (an auth+capture authorizes anew).';
COMMENT ON COLUMN cc_deposit_trans.auth_date IS 'Authorization date/time in the answer.';
COMMENT ON COLUMN cc_deposit_trans.transaction_id IS 'Bureau transaction id of the deposit (CyberSource requestID); a follow-on credit references it.';
COMMENT ON COLUMN cc_deposit_trans.request_token IS 'CyberSource requestToken of the deposit, for follow-on credits.';
COMMENT ON COLUMN cc_deposit_trans.error_text IS 'Why a call failed or was refused, for operators; never contains card data.';
COMMENT ON COLUMN cc_deposit_trans.reply IS 'The reply published to the upstream system, re-sent as is (with replayed=true) for a redelivered request.';
COMMENT ON COLUMN cc_deposit_trans.received_at IS 'When the request was recorded.';
COMMENT ON COLUMN cc_deposit_trans.sent_at IS 'When the request was marked sent, just before the bytes left.';
COMMENT ON COLUMN cc_deposit_trans.answered_at IS 'When the outcome was recorded.';

CREATE TRIGGER cc_deposit_trans_keep_final BEFORE UPDATE OF status ON cc_deposit_trans
    FOR EACH ROW EXECUTE FUNCTION paylink_keep_final_status();

CREATE TABLE cc_deposit_history (
    id                bigserial    PRIMARY KEY,
    request_id        varchar(50)  NOT NULL REFERENCES cc_deposit_trans,
    event             varchar(12)  NOT NULL CHECK (event IN ('answered', 'received', 'confirmed', 'resubmitted')),
    status            varchar(10)  NOT NULL,
    deposit_status    varchar(6)   NOT NULL DEFAULT '',
    operation         varchar(16)  NOT NULL DEFAULT '',
    amount            numeric(15,2),
    vendor_response   varchar(10)  NOT NULL DEFAULT '',
    transaction_id    varchar(64)  NOT NULL DEFAULT '',
    actor             varchar(60)  NOT NULL DEFAULT '',
    note              varchar(300) NOT NULL DEFAULT '',
    created_at        timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX cc_deposit_history_request ON cc_deposit_history (request_id);
COMMENT ON TABLE cc_deposit_history IS 'Deposit history: every outcome of a deposit (the bureau''s answer, an answer found by re-query) and every operator action on it (confirm, resubmit), in order.';
COMMENT ON COLUMN cc_deposit_history.id IS 'Row id (also the order of events).';
COMMENT ON COLUMN cc_deposit_history.request_id IS 'The deposit (cc_deposit_trans).';
COMMENT ON COLUMN cc_deposit_history.event IS 'answered (the worker got the bureau''s answer), received (paylinkctl deposits receive found the answer by re-query), confirmed (a rejected deposit manually confirmed), resubmitted (a rejected deposit sent again as a new request).';
COMMENT ON COLUMN cc_deposit_history.status IS 'Status of the deposit after the event.';
COMMENT ON COLUMN cc_deposit_history.deposit_status IS 'OROMS deposit status after the event (*RCVD, *CONF, *RESB).';
COMMENT ON COLUMN cc_deposit_history.operation IS 'Bureau operation of the deposit (capture, credit, auth_capture).';
COMMENT ON COLUMN cc_deposit_history.amount IS 'Amount deposited (captured or credited) by this event; NULL when nothing was.';
COMMENT ON COLUMN cc_deposit_history.vendor_response IS 'Bureau reason/response code.';
COMMENT ON COLUMN cc_deposit_history.transaction_id IS 'Bureau transaction id.';
COMMENT ON COLUMN cc_deposit_history.actor IS 'Who recorded it: paylink-deposit, or the operator running paylinkctl.';
COMMENT ON COLUMN cc_deposit_history.note IS 'Free text (the operator''s note, the request_id a resubmission was sent as).';
COMMENT ON COLUMN cc_deposit_history.created_at IS 'When the event was recorded.';

-- DBA views.
CREATE VIEW deposits_today AS
SELECT t.service_bureau, t.request_type, t.operation, t.status, t.deposit_status,
       t.vendor_response, coalesce(v.description, '') AS vendor_response_description,
       count(*) AS transactions, sum(t.amount) AS amount_requested,
       sum(t.amount_deposited) AS amount_deposited
  FROM cc_deposit_trans t
  LEFT JOIN vendor_response v ON v.service_bureau = t.service_bureau AND v.response_code = t.vendor_response
 WHERE t.received_at >= date_trunc('day', now())
 GROUP BY t.service_bureau, t.request_type, t.operation, t.status, t.deposit_status,
          t.vendor_response, v.description
 ORDER BY t.service_bureau, t.request_type, t.status, transactions DESC;
COMMENT ON VIEW deposits_today IS 'Today''s deposits by service bureau, type, operation, status and reason (vendor response), with amounts requested and deposited.';

CREATE OR REPLACE VIEW order_payment_history AS
SELECT t.company, t.order_number, t.pay_seq, t.received_at AS at, 'authorization'::text AS kind,
       t.request_id, t.request_type AS operation, t.status, t.amount, t.amount_approved,
       t.currency, t.vendor_response, t.transaction_id, t.card_masked
  FROM cc_auth_trans t
UNION ALL
SELECT d.company, d.order_number, d.pay_seq, d.received_at, 'deposit'::text,
       d.request_id, d.request_type,
       d.status, d.amount, d.amount_deposited, d.currency, d.vendor_response, d.transaction_id,
       d.card_masked
  FROM cc_deposit_trans d;
COMMENT ON VIEW order_payment_history IS 'An order''s payment history in time order (filter on company and order_number, ORDER BY at): authorizations and deposits (kind deposit: operation is its request type debit or credit, amount_approved the amount deposited; cc_deposit_trans.operation tells capture from auth_capture); reversals join it in a later migration.';
