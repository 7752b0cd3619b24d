-- 005: authorization reversals (ccAuthReversalService), modeled on the OROMS authorization
-- reversal processing: one row per reversal request, recorded before the bureau call and
-- updated with its answer; an approved reversal marks the authorization reversed in
-- auth_history. No card data is stored here: a reversal names an earlier authorization.

CREATE TABLE auth_reversal (
    request_id          varchar(50)  PRIMARY KEY,
    fingerprint         char(64)     NOT NULL,
    operation           varchar(16)  NOT NULL DEFAULT '' CHECK (operation IN ('', 'reversal')),
    company             integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number        varchar(20)  NOT NULL,
    pay_seq             integer      NOT NULL CHECK (pay_seq >= 1),
    service_bureau      varchar(8)   NOT NULL,
    pay_type            varchar(4)   NOT NULL DEFAULT '',
    amount              numeric(15,2),
    currency            char(3),
    auth_request_id     varchar(50),
    auth_history_id     bigint       REFERENCES auth_history,
    auth_transaction_id varchar(64)  NOT NULL DEFAULT '',
    auth_request_token  varchar(512) NOT NULL DEFAULT '',
    auth_number         varchar(30)  NOT NULL DEFAULT '',
    auth_date           varchar(10)  NOT NULL DEFAULT '',
    merchant_id         varchar(30)  NOT NULL DEFAULT '',
    status              varchar(10)  NOT NULL DEFAULT 'received' CHECK (status IN
                          ('received', 'sent', 'approved', 'declined', 'review', 'rejected', 'error', 'unknown')),
    decision            varchar(10)  NOT NULL DEFAULT '',
    vendor_response     varchar(10)  NOT NULL DEFAULT '',
    amount_reversed     numeric(15,2),
    transaction_id      varchar(64)  NOT NULL DEFAULT '',
    request_token       varchar(512) NOT NULL DEFAULT '',
    error_text          varchar(300) NOT NULL DEFAULT '',
    reply               jsonb,
    received_at         timestamptz  NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    answered_at         timestamptz
) WITH (fillfactor = 80);
CREATE INDEX auth_reversal_order ON auth_reversal (company, order_number, pay_seq);
CREATE INDEX auth_reversal_auth ON auth_reversal (auth_request_id) WHERE auth_request_id IS NOT NULL;
CREATE INDEX auth_reversal_received ON auth_reversal USING brin (received_at);
COMMENT ON INDEX auth_reversal_received IS 'BRIN on received_at: time-range questions without an index write on every update (as for cc_auth_trans, 003).';
COMMENT ON TABLE auth_reversal IS 'One row per authorization reversal request (ccAuthReversalService): recorded before the bureau call, updated with its answer. request_id is the idempotency key. Cancellations and deactivations of credit card payments, and Decision Manager rejects, arrive as reversal requests.';
COMMENT ON COLUMN auth_reversal.request_id IS 'Idempotency key from the upstream system (a Decision Manager reject uses "<auth request_id>.rev"); also the CyberSource merchantReferenceCode.';
COMMENT ON COLUMN auth_reversal.fingerprint IS 'Keyed hash of the request content: a redelivery has the same, a reused request_id with other content does not (refused as a conflict).';
COMMENT ON COLUMN auth_reversal.operation IS 'What was sent to the bureau: reversal; blank when the request was refused before any call.';
COMMENT ON COLUMN auth_reversal.company IS 'Company number.';
COMMENT ON COLUMN auth_reversal.order_number IS 'Order number.';
COMMENT ON COLUMN auth_reversal.pay_seq IS 'Order payment method sequence.';
COMMENT ON COLUMN auth_reversal.service_bureau IS 'Service bureau code (auth_service).';
COMMENT ON COLUMN auth_reversal.pay_type IS 'Pay type code of the request (merchant ID hierarchy); the authorization''s when the request has none.';
COMMENT ON COLUMN auth_reversal.amount IS 'Amount of the reversal as requested (the authorization''s amount for a Decision Manager reject). CyberSource reverses the whole authorization.';
COMMENT ON COLUMN auth_reversal.currency IS 'ISO 4217 currency of the amount.';
COMMENT ON COLUMN auth_reversal.auth_request_id IS 'request_id of the paylink authorization (cc_auth_trans) being reversed; NULL for a manual authorization given inline.';
COMMENT ON COLUMN auth_reversal.auth_history_id IS 'The auth_history row reversed (the latest answer of the referenced authorization, or the one whose transaction_id matched); NULL for a manual authorization paylink does not know.';
COMMENT ON COLUMN auth_reversal.auth_transaction_id IS 'Bureau transaction id of the authorization sent as authRequestID.';
COMMENT ON COLUMN auth_reversal.auth_request_token IS 'CyberSource requestToken of the authorization sent as authRequestToken.';
COMMENT ON COLUMN auth_reversal.auth_number IS 'Authorization code of the authorization (from paylink''s records or the inline manual authorization).';
COMMENT ON COLUMN auth_reversal.auth_date IS 'Date of a manual authorization given inline (YYYY-MM-DD); blank otherwise.';
COMMENT ON COLUMN auth_reversal.merchant_id IS 'Merchant ID sent (after the merchant ID hierarchy).';
COMMENT ON COLUMN auth_reversal.status IS 'received (recorded, not sent), sent (the bytes may have left; never re-sent blindly), unknown (no answer: see required_response), or a final outcome: approved (reversed), declined (refused by the bureau, e.g. 237 already reversed, 238 already captured, or by paylink from its records before any call), error. Final outcomes cannot be overwritten.';
COMMENT ON COLUMN auth_reversal.decision IS 'CyberSource decision: ACCEPT, REJECT, ERROR; blank when no bureau answered.';
COMMENT ON COLUMN auth_reversal.vendor_response IS 'Bureau reason code (vendor_response.response_code): 100 reversed, 237 already reversed, 238 already captured, 102 unknown authorization, 150 bureau failure, ...';
COMMENT ON COLUMN auth_reversal.amount_reversed IS 'Amount the bureau reversed (the whole authorization).';
COMMENT ON COLUMN auth_reversal.transaction_id IS 'Bureau transaction id of the reversal itself (CyberSource requestID).';
COMMENT ON COLUMN auth_reversal.request_token IS 'CyberSource requestToken of the reversal.';
COMMENT ON COLUMN auth_reversal.error_text IS 'Why a call failed or was refused (SOAP fault, transport error, the paylink rule), for operators; never contains card data.';
COMMENT ON COLUMN auth_reversal.reply IS 'The reply published to the upstream system, re-sent as is (with replayed=true) for a redelivered request.';
COMMENT ON COLUMN auth_reversal.received_at IS 'When the request was recorded.';
COMMENT ON COLUMN auth_reversal.sent_at IS 'When the request was marked sent, just before the bytes left.';
COMMENT ON COLUMN auth_reversal.answered_at IS 'When the outcome was recorded.';

CREATE TRIGGER auth_reversal_keep_final BEFORE UPDATE OF status ON auth_reversal
    FOR EACH ROW EXECUTE FUNCTION paylink_keep_final_status();

-- The reversal rows of an order's payment history, with the columns of order_payment_history
-- (002) in the same order, so the two can be combined with UNION ALL.
CREATE VIEW order_reversal_history AS
SELECT r.company, r.order_number, r.pay_seq, r.received_at AS at, 'reversal'::text AS kind,
       r.request_id, coalesce(nullif(r.operation, ''), 'reversal')::varchar(10) AS operation,
       r.status, r.amount, r.amount_reversed AS amount_approved, r.currency, r.vendor_response,
       r.transaction_id, coalesce(t.card_masked, '')::varchar(24) AS card_masked
  FROM auth_reversal r
  LEFT JOIN cc_auth_trans t ON t.request_id = r.auth_request_id;
COMMENT ON VIEW order_reversal_history IS 'Authorization reversals of an order in the shape of order_payment_history (kind ''reversal'', amount_approved = amount reversed, transaction_id = the reversal''s); filter on company and order_number, ORDER BY at. To be merged into order_payment_history.';
