-- 002: authorization transactions, modeled on the OROMS CC Authorization Trans, Authorization
-- History and Request for Response tables. Card data is stored only as a bureau token or as a
-- mask (BIN + last four) with a keyed hash; the CVV is never stored (PCI DSS 3.3.1, 3.5.1).

CREATE TABLE cc_auth_trans (
    request_id        varchar(50)  PRIMARY KEY,
    fingerprint       char(64)     NOT NULL,
    request_type      varchar(10)  NOT NULL CHECK (request_type IN ('auth', 'token')),
    operation         varchar(16)  NOT NULL DEFAULT '' CHECK (operation IN ('', 'auth', 'token', 'token_auth')),
    company           integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number      varchar(20)  NOT NULL,
    pay_seq           integer      NOT NULL CHECK (pay_seq >= 1),
    service_bureau    varchar(8)   NOT NULL,
    pay_type          varchar(4)   NOT NULL DEFAULT '',
    auth_mode         varchar(6)   NOT NULL DEFAULT 'online' CHECK (auth_mode IN ('online', 'batch')),
    amount            numeric(15,2),
    currency          char(3),
    card_masked       varchar(24)  NOT NULL DEFAULT '',
    card_hash         char(64),
    card_token        varchar(64)  NOT NULL DEFAULT '',
    card_type         varchar(4)   NOT NULL DEFAULT '',
    exp_month         smallint     CHECK (exp_month BETWEEN 1 AND 12),
    exp_year          smallint,
    merchant_id       varchar(30)  NOT NULL DEFAULT '',
    status            varchar(10)  NOT NULL DEFAULT 'received' CHECK (status IN
                        ('received', 'sent', 'approved', 'declined', 'review', 'rejected', 'error', 'unknown')),
    decision          varchar(10)  NOT NULL DEFAULT '',
    vendor_response   varchar(10)  NOT NULL DEFAULT '',
    amount_approved   numeric(15,2),
    auth_number       varchar(30)  NOT NULL DEFAULT '',
    auth_date         varchar(32)  NOT NULL DEFAULT '',
    transaction_id    varchar(64)  NOT NULL DEFAULT '',
    request_token     varchar(512) NOT NULL DEFAULT '',
    avs_response      varchar(8)   NOT NULL DEFAULT '',
    cvv_response      varchar(8)   NOT NULL DEFAULT '',
    token_created     varchar(64)  NOT NULL DEFAULT '',
    hold_reason       varchar(2)   NOT NULL DEFAULT '',
    payment_deactivated boolean    NOT NULL DEFAULT false,
    error_text        varchar(300) NOT NULL DEFAULT '',
    reply             jsonb,
    received_at       timestamptz  NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    answered_at       timestamptz,
    CHECK (card_hash IS NOT NULL OR card_token <> '' OR status = 'received')
);
CREATE INDEX cc_auth_trans_order ON cc_auth_trans (company, order_number, pay_seq);
CREATE INDEX cc_auth_trans_open ON cc_auth_trans (status) WHERE status IN ('received', 'sent', 'unknown');
CREATE INDEX cc_auth_trans_card_hash ON cc_auth_trans (card_hash) WHERE card_hash IS NOT NULL;
COMMENT ON TABLE cc_auth_trans IS 'One row per authorization or token request (CC Authorization Trans): recorded before the bureau call, updated with its answer. request_id is the idempotency key.';
COMMENT ON COLUMN cc_auth_trans.request_id IS 'Idempotency key from the upstream system; also the CyberSource merchantReferenceCode.';
COMMENT ON COLUMN cc_auth_trans.fingerprint IS 'Keyed hash of the request content: a redelivery has the same, a reused request_id with other content does not (refused as a conflict).';
COMMENT ON COLUMN cc_auth_trans.request_type IS 'Request type: auth or token.';
COMMENT ON COLUMN cc_auth_trans.operation IS 'What was sent to the bureau: auth, token, or token_auth (token and authorization in one request).';
COMMENT ON COLUMN cc_auth_trans.company IS 'Company number.';
COMMENT ON COLUMN cc_auth_trans.order_number IS 'Order number.';
COMMENT ON COLUMN cc_auth_trans.pay_seq IS 'Order payment method sequence.';
COMMENT ON COLUMN cc_auth_trans.service_bureau IS 'Service bureau code (auth_service).';
COMMENT ON COLUMN cc_auth_trans.pay_type IS 'Pay type code of the request.';
COMMENT ON COLUMN cc_auth_trans.auth_mode IS 'online (interactive order entry; Decision Manager applies) or batch.';
COMMENT ON COLUMN cc_auth_trans.amount IS 'Amount requested.';
COMMENT ON COLUMN cc_auth_trans.currency IS 'ISO 4217 currency of the amount.';
COMMENT ON COLUMN cc_auth_trans.card_masked IS 'Card number masked: first six and last four digits.';
COMMENT ON COLUMN cc_auth_trans.card_hash IS 'HMAC-SHA256 of the card number with the paylink hash key, for look-ups; NULL when the request carried a token.';
COMMENT ON COLUMN cc_auth_trans.card_token IS 'Bureau token the request carried (blank when it carried a number).';
COMMENT ON COLUMN cc_auth_trans.card_type IS 'Card type (VI, MC, AX, DI, ...).';
COMMENT ON COLUMN cc_auth_trans.exp_month IS 'Card expiry month.';
COMMENT ON COLUMN cc_auth_trans.exp_year IS 'Card expiry year.';
COMMENT ON COLUMN cc_auth_trans.merchant_id IS 'Merchant ID sent (after the merchant ID hierarchy).';
COMMENT ON COLUMN cc_auth_trans.status IS 'received (recorded, not sent), sent (the bytes may have left; never re-sent blindly), unknown (no answer: see required_response), or a final outcome: approved, declined, review, rejected, error. Final outcomes cannot be overwritten.';
COMMENT ON COLUMN cc_auth_trans.decision IS 'CyberSource decision: ACCEPT, REVIEW, REJECT, ERROR.';
COMMENT ON COLUMN cc_auth_trans.vendor_response IS 'Bureau reason/response code (vendor_response.response_code).';
COMMENT ON COLUMN cc_auth_trans.amount_approved IS 'Amount the bureau authorized (smaller than amount for a partial approval).';
COMMENT ON COLUMN cc_auth_trans.auth_number IS 'Authorization code from the issuer.';
COMMENT ON COLUMN cc_auth_trans.auth_date IS 'Authorization date/time reported by the bureau.';
COMMENT ON COLUMN cc_auth_trans.transaction_id IS 'Bureau transaction id (CyberSource requestID).';
COMMENT ON COLUMN cc_auth_trans.request_token IS 'CyberSource requestToken, needed by follow-on captures and reversals.';
COMMENT ON COLUMN cc_auth_trans.avs_response IS 'Address verification result code.';
COMMENT ON COLUMN cc_auth_trans.cvv_response IS 'Card verification (CVN) result code.';
COMMENT ON COLUMN cc_auth_trans.token_created IS 'Token the bureau created (token or token_auth).';
COMMENT ON COLUMN cc_auth_trans.hold_reason IS 'Order hold reason from vendor_response (FS, AT, ...).';
COMMENT ON COLUMN cc_auth_trans.payment_deactivated IS 'True when the answer deactivated the payment method (Decision Manager REJECT 481).';
COMMENT ON COLUMN cc_auth_trans.error_text IS 'Why a call failed (SOAP fault, transport error), for operators; never contains card data.';
COMMENT ON COLUMN cc_auth_trans.reply IS 'The reply published to the upstream system, re-sent as is (with replayed=true) for a redelivered request.';
COMMENT ON COLUMN cc_auth_trans.received_at IS 'When the request was recorded.';
COMMENT ON COLUMN cc_auth_trans.sent_at IS 'When the request was marked sent, just before the bytes left.';
COMMENT ON COLUMN cc_auth_trans.answered_at IS 'When the outcome was recorded.';

CREATE TABLE auth_history (
    id                bigserial    PRIMARY KEY,
    request_id        varchar(50)  NOT NULL REFERENCES cc_auth_trans,
    company           integer      NOT NULL,
    order_number      varchar(20)  NOT NULL,
    pay_seq           integer      NOT NULL,
    service_bureau    varchar(8)   NOT NULL,
    transaction_type  varchar(12)  NOT NULL CHECK (transaction_type IN ('auth', 'token', 'token_auth', 'auth_capture')),
    status            varchar(10)  NOT NULL CHECK (status IN ('approved', 'declined', 'review', 'rejected', 'error', 'voided', 'reversed')),
    amount_authorized numeric(15,2),
    amount_deposited  numeric(15,2) NOT NULL DEFAULT 0,
    currency          char(3),
    auth_number       varchar(30)  NOT NULL DEFAULT '',
    auth_date         varchar(32)  NOT NULL DEFAULT '',
    transaction_id    varchar(64)  NOT NULL DEFAULT '',
    request_token     varchar(512) NOT NULL DEFAULT '',
    vendor_response   varchar(10)  NOT NULL DEFAULT '',
    avs_response      varchar(8)   NOT NULL DEFAULT '',
    cvv_response      varchar(8)   NOT NULL DEFAULT '',
    created_at        timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX auth_history_order ON auth_history (company, order_number, pay_seq);
CREATE INDEX auth_history_request ON auth_history (request_id);
CREATE INDEX auth_history_transaction ON auth_history (transaction_id) WHERE transaction_id <> '';
COMMENT ON TABLE auth_history IS 'Authorization History: one row per bureau answer to an authorization (approved or not), later marked voided or reversed and consumed by deposits.';
COMMENT ON COLUMN auth_history.id IS 'Row id.';
COMMENT ON COLUMN auth_history.request_id IS 'The request (cc_auth_trans) that produced this authorization.';
COMMENT ON COLUMN auth_history.company IS 'Company number.';
COMMENT ON COLUMN auth_history.order_number IS 'Order number.';
COMMENT ON COLUMN auth_history.pay_seq IS 'Order payment method sequence.';
COMMENT ON COLUMN auth_history.service_bureau IS 'Service bureau code.';
COMMENT ON COLUMN auth_history.transaction_type IS 'What the bureau did: auth, token, token_auth, auth_capture.';
COMMENT ON COLUMN auth_history.status IS 'approved, declined, review, rejected, error; an approved authorization later becomes voided or reversed.';
COMMENT ON COLUMN auth_history.amount_authorized IS 'Amount authorized (0 or NULL when not approved).';
COMMENT ON COLUMN auth_history.amount_deposited IS 'Amount deposited against this authorization so far.';
COMMENT ON COLUMN auth_history.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN auth_history.auth_number IS 'Authorization code.';
COMMENT ON COLUMN auth_history.auth_date IS 'Authorization date/time reported by the bureau.';
COMMENT ON COLUMN auth_history.transaction_id IS 'Bureau transaction id (CyberSource requestID); Decision Manager reports match on it.';
COMMENT ON COLUMN auth_history.request_token IS 'CyberSource requestToken for follow-on calls.';
COMMENT ON COLUMN auth_history.vendor_response IS 'Bureau reason/response code.';
COMMENT ON COLUMN auth_history.avs_response IS 'Address verification result.';
COMMENT ON COLUMN auth_history.cvv_response IS 'Card verification result.';
COMMENT ON COLUMN auth_history.created_at IS 'When the answer was recorded.';

CREATE TABLE required_response (
    id                bigserial    PRIMARY KEY,
    request_id        varchar(50)  NOT NULL,
    worker            varchar(10)  NOT NULL CHECK (worker IN ('auth', 'deposit', 'reversal', 'svc')),
    company           integer      NOT NULL,
    order_number      varchar(20)  NOT NULL,
    pay_seq           integer      NOT NULL,
    service_bureau    varchar(8)   NOT NULL,
    operation         varchar(16)  NOT NULL,
    amount            numeric(15,2),
    currency          char(3),
    reason            varchar(20)  NOT NULL CHECK (reason IN ('timeout', 'connection_lost', 'unreadable_answer', 'sent_not_answered')),
    detail            varchar(300) NOT NULL DEFAULT '',
    status            varchar(10)  NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution        varchar(10)  CHECK (resolution IN ('approved', 'declined', 'error', 'cancelled')),
    resolved_by       varchar(60),
    resolution_note   varchar(300),
    created_at        timestamptz  NOT NULL DEFAULT now(),
    resolved_at       timestamptz,
    UNIQUE (worker, request_id),
    CHECK ((status = 'open') = (resolved_at IS NULL))
);
CREATE INDEX required_response_open_created ON required_response (created_at) WHERE status = 'open';
COMMENT ON TABLE required_response IS 'Request for Response (WREQ): transactions whose bureau outcome is unknown. They are never re-sent automatically; an operator or a re-query resolves them.';
COMMENT ON COLUMN required_response.id IS 'Row id.';
COMMENT ON COLUMN required_response.request_id IS 'The request whose outcome is unknown.';
COMMENT ON COLUMN required_response.worker IS 'Which worker owns the request (auth, deposit, reversal, svc): tells which transaction table holds it.';
COMMENT ON COLUMN required_response.company IS 'Company number.';
COMMENT ON COLUMN required_response.order_number IS 'Order number.';
COMMENT ON COLUMN required_response.pay_seq IS 'Order payment method sequence.';
COMMENT ON COLUMN required_response.service_bureau IS 'Service bureau code.';
COMMENT ON COLUMN required_response.operation IS 'What was sent (auth, token_auth, capture, ...).';
COMMENT ON COLUMN required_response.amount IS 'Amount of the unknown transaction.';
COMMENT ON COLUMN required_response.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN required_response.reason IS 'timeout (no answer within the response time), connection_lost (the connection broke after the request was sent), unreadable_answer (the bureau answered with something that is not a reply: HTTP 5xx, garbage), sent_not_answered (a redelivered request found marked sent but never answered, e.g. after a crash).';
COMMENT ON COLUMN required_response.detail IS 'Technical detail of the failure; never card data.';
COMMENT ON COLUMN required_response.status IS 'open until resolved.';
COMMENT ON COLUMN required_response.resolution IS 'How it was resolved: approved, declined, error, cancelled.';
COMMENT ON COLUMN required_response.resolved_by IS 'Operator or process that resolved it.';
COMMENT ON COLUMN required_response.resolution_note IS 'Free text of the resolution.';
COMMENT ON COLUMN required_response.created_at IS 'When the outcome became unknown.';
COMMENT ON COLUMN required_response.resolved_at IS 'When it was resolved.';

-- Final outcomes are facts about money that moved (or did not): no later write may change them.
-- "unknown" may still become final when a required response is resolved.
CREATE FUNCTION paylink_keep_final_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('approved', 'declined', 'review', 'rejected', 'error')
       AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'paylink: % % is final (%) and cannot become %',
            TG_TABLE_NAME, OLD.request_id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION paylink_keep_final_status() IS 'Trigger function: refuses to change the status of a transaction row once it is final.';
CREATE TRIGGER cc_auth_trans_keep_final BEFORE UPDATE OF status ON cc_auth_trans
    FOR EACH ROW EXECUTE FUNCTION paylink_keep_final_status();

-- DBA views.
CREATE VIEW required_response_open AS
SELECT r.id, r.request_id, r.worker, r.company, r.order_number, r.pay_seq, r.service_bureau,
       r.operation, r.amount, r.currency, r.reason, r.detail, r.created_at,
       now() - r.created_at AS age
  FROM required_response r
 WHERE r.status = 'open'
 ORDER BY r.created_at;
COMMENT ON VIEW required_response_open IS 'Open required responses, oldest first, with their age.';

CREATE VIEW auth_outcomes_today AS
SELECT t.service_bureau, t.status, t.vendor_response,
       coalesce(v.description, '') AS vendor_response_description,
       count(*) AS transactions, sum(t.amount) AS amount_requested,
       sum(t.amount_approved) AS amount_approved
  FROM cc_auth_trans t
  LEFT JOIN vendor_response v ON v.service_bureau = t.service_bureau AND v.response_code = t.vendor_response
 WHERE t.received_at >= date_trunc('day', now())
 GROUP BY t.service_bureau, t.status, t.vendor_response, v.description
 ORDER BY t.service_bureau, t.status, transactions DESC;
COMMENT ON VIEW auth_outcomes_today IS 'Today''s authorization outcomes (approvals, declines, reviews, ...) by service bureau and vendor response.';

CREATE VIEW order_payment_history AS
SELECT t.company, t.order_number, t.pay_seq, t.received_at AS at, 'authorization'::text AS kind,
       t.request_id, t.request_type AS operation, t.status, t.amount, t.amount_approved,
       t.currency, t.vendor_response, t.transaction_id, t.card_masked
  FROM cc_auth_trans t;
COMMENT ON VIEW order_payment_history IS 'An order''s payment history in time order (filter on company and order_number, ORDER BY at); deposits and reversals join it in later migrations.';
