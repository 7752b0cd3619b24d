-- 015: the periodic reversal of unused stored value authorizations of closed or cancelled orders
-- (seed customer-engagement-stored-value-card.txt, "Void Request": "You process a cancellation
-- associated with a stored value card payment or deactivate a stored value card payment in
-- order to reimburse the original authorization amount to the stored value card").
--
-- paylink does not know the state of an order, so the order system says when one is closed or
-- cancelled: `paylinkctl svc close-order` writes a row of order_closed. `paylinkctl svc
-- reverse-unused` then finds the approved stored value authorizations of those orders that
-- still hold money and hands them to the order system as JSON lines, each with the request id
-- its `reversal` must carry. paylink cannot send those voids itself: the Void names the card
-- (CardNumber), and paylink keeps only its mask and keyed hash. Each listing is recorded in
-- svc_unused_void, so an operator sees which voids the order system was asked for and has not
-- carried out (svc_unused_void_open).

-- ---- orders the order system closed or cancelled ----------------------------------------------

CREATE TABLE order_closed (
    company       integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number  varchar(20)  NOT NULL CHECK (order_number <> '' AND order_number !~ '[[:cntrl:]]'),
    reason        varchar(9)   NOT NULL CHECK (reason IN ('closed', 'cancelled')),
    closed_at     timestamptz  NOT NULL DEFAULT now(),
    closed_by     varchar(50)  NOT NULL DEFAULT '',
    PRIMARY KEY (company, order_number)
);
COMMENT ON TABLE order_closed IS 'Orders the order system has closed (everything shipped and deposited) or cancelled, one row each, written by `paylinkctl svc close-order` (the order system''s integration, or an operator, runs it). `paylinkctl svc reverse-unused` voids what the stored value authorizations of these orders still hold. A row marked by mistake is deleted (the order is open again); a second mark of the same order keeps the first.';
COMMENT ON COLUMN order_closed.company IS 'Company number.';
COMMENT ON COLUMN order_closed.order_number IS 'Order number, as the requests name it (order).';
COMMENT ON COLUMN order_closed.reason IS 'closed (the order is complete: what its authorizations still hold is unused) or cancelled (the order was cancelled: its authorizations are reimbursed to the card, seed "Void Request").';
COMMENT ON COLUMN order_closed.closed_at IS 'When the order was marked; `reverse-unused --older-than-days N` waits N days after it, so deposits the order system sends after closing go first.';
COMMENT ON COLUMN order_closed.closed_by IS 'Who marked it (paylinkctl --by, default paylinkctl).';

-- ---- voids the order system was asked for -----------------------------------------------------

CREATE TABLE svc_unused_void (
    reversal_request_id varchar(50)  PRIMARY KEY,
    auth_request_id     varchar(50)  NOT NULL,
    attempt             integer      NOT NULL CHECK (attempt >= 1),
    company             integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number        varchar(20)  NOT NULL,
    pay_seq             integer      NOT NULL CHECK (pay_seq >= 1),
    service_bureau      varchar(8)   NOT NULL,
    pay_type            varchar(4)   NOT NULL DEFAULT '',
    card_masked         varchar(24)  NOT NULL DEFAULT '' CHECK (card_masked ~ '^([*]+[0-9]{0,4})?$'),
    amount_left         numeric(15,2) NOT NULL CHECK (amount_left > 0),
    currency            char(3)      CHECK (currency ~ '^[A-Z]{3}$'),
    first_listed_at     timestamptz  NOT NULL DEFAULT now(),
    last_listed_at      timestamptz  NOT NULL DEFAULT now(),
    times_listed        integer      NOT NULL DEFAULT 1 CHECK (times_listed >= 1),
    listed_by           varchar(50)  NOT NULL DEFAULT ''
);
CREATE INDEX svc_unused_void_auth ON svc_unused_void (auth_request_id);
COMMENT ON INDEX svc_unused_void_auth IS 'The listings of an authorization.';
COMMENT ON TABLE svc_unused_void IS 'Each void `paylinkctl svc reverse-unused` asked the order system to send (not written with --dry-run): a stored value authorization of a closed or cancelled order that still held money, and the request id of the reversal that releases it. Listing the same authorization again (a later run before the void was done) updates the row; the request id stays the same, so the reversal worker carries the void out once. A new attempt (a new row) only follows a void of the authorization that was refused.';
COMMENT ON COLUMN svc_unused_void.reversal_request_id IS 'request_id the reversal must carry: "<auth request_id>.unused" for the first attempt, ".unused<n>" for the n-th (pl_job_derived_request_id: "unused.<digest>" when that would exceed 50 characters).';
COMMENT ON COLUMN svc_unused_void.auth_request_id IS 'request_id of the stored value authorization (svc_trans, request_type auth) to void; the reversal''s auth_ref.request_id.';
COMMENT ON COLUMN svc_unused_void.attempt IS '1 + the number of voids of the authorization that had been refused (declined, rejected or error, whoever sent them) when it was listed.';
COMMENT ON COLUMN svc_unused_void.company IS 'Company number.';
COMMENT ON COLUMN svc_unused_void.order_number IS 'Order number of the authorization (closed or cancelled).';
COMMENT ON COLUMN svc_unused_void.pay_seq IS 'Order payment method sequence of the authorization.';
COMMENT ON COLUMN svc_unused_void.service_bureau IS 'Service bureau of the authorization (protocol RLT); the reversal''s service.';
COMMENT ON COLUMN svc_unused_void.pay_type IS 'Pay type of the authorization (svc_trans.pay_type), the one reverse-unused was run for.';
COMMENT ON COLUMN svc_unused_void.card_masked IS 'The card masked as the authorization has it (stars and the last four): which card the order system must name in the reversal. Never the number.';
COMMENT ON COLUMN svc_unused_void.amount_left IS 'What the authorization still held at the last listing (approved - deposited - voided, nothing claimed).';
COMMENT ON COLUMN svc_unused_void.currency IS 'ISO 4217 currency of the authorization.';
COMMENT ON COLUMN svc_unused_void.first_listed_at IS 'When the void was first asked for.';
COMMENT ON COLUMN svc_unused_void.last_listed_at IS 'When it was last asked for.';
COMMENT ON COLUMN svc_unused_void.times_listed IS 'How many runs asked for it.';
COMMENT ON COLUMN svc_unused_void.listed_by IS 'Who ran the listing (paylinkctl --by, default paylinkctl).';

CREATE VIEW svc_unused_void_open AS
SELECT v.reversal_request_id, v.auth_request_id, v.attempt, v.company, v.order_number,
       v.pay_seq, v.service_bureau, v.pay_type, v.card_masked,
       a.amount_approved - a.amount_deposited - a.amount_voided AS amount_left, v.currency,
       coalesce(r.status, 'not sent') AS reversal_status, v.first_listed_at, v.last_listed_at,
       v.times_listed, now() - v.first_listed_at AS age
  FROM svc_unused_void v
  JOIN svc_trans a ON a.request_id = v.auth_request_id AND a.request_type = 'auth'
  LEFT JOIN auth_reversal r ON r.request_id = v.reversal_request_id
 WHERE a.amount_approved - a.amount_deposited - a.amount_voided > 0
   AND (r.request_id IS NULL OR r.status IN ('received', 'sent', 'unknown'))
 ORDER BY v.first_listed_at;
COMMENT ON VIEW svc_unused_void_open IS 'Voids asked of the order system that are not done, oldest first, with their age: the authorization still holds money (amount_left now) and the reversal was not sent (reversal_status ''not sent'') or has no final outcome yet (received, sent, unknown: see required_response_open). A listed void that was refused is not open: the next run asks for a new attempt.';
