-- 017: subsequent authorizations through the External Payment Service (seed
-- external-payment-service.txt "Subsequent Authorization Requests"): who initiated each
-- authorization, what a merchant-initiated one said about the authorization it follows, and
-- the cardholder-initiated transaction (CIT) that later merchant-initiated ones (split
-- shipments, installments, membership orders) refer to.

ALTER TABLE cc_auth_trans
    ADD COLUMN initiator varchar(10) CHECK (initiator IN ('CARDHOLDER', 'MERCHANT')),
    ADD COLUMN sub_auth_reason varchar(12)
        CHECK (sub_auth_reason IN ('RESUBMIT', 'REAUTH', 'INSTALLMENT')),
    ADD COLUMN sub_auth_transaction_id varchar(64);
COMMENT ON COLUMN cc_auth_trans.initiator IS 'External Payment Service: who initiated the authorization as sent (initiator): CARDHOLDER (the customer placing the order, CIT) or MERCHANT (a subsequent authorization, MIT). NULL for other bureaus and until it is sent.';
COMMENT ON COLUMN cc_auth_trans.sub_auth_reason IS 'External Payment Service: subsequentAuthReason as sent (RESUBMIT, or REAUTH when the bureau does not support auth resubmission; INSTALLMENT, or REAUTH when the pay type does not notify of installments). NULL: not a subsequent authorization.';
COMMENT ON COLUMN cc_auth_trans.sub_auth_transaction_id IS 'External Payment Service: subsequentAuthTransactionID as sent, the cardholder-initiated transaction this authorization follows (card_cit). NULL when none was known.';

CREATE TABLE card_cit (
    company         integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number    varchar(20)  NOT NULL,
    pay_seq         integer      NOT NULL CHECK (pay_seq >= 1),
    service_bureau  varchar(8)   NOT NULL REFERENCES auth_service (service_bureau),
    transaction_id  varchar(64)  NOT NULL CHECK (transaction_id <> ''),
    amount          numeric(15,2) NOT NULL CHECK (amount >= 0),
    currency        char(3)      NOT NULL,
    request_id      varchar(50)  NOT NULL REFERENCES cc_auth_trans (request_id),
    created_at      timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (company, order_number, pay_seq)
);
CREATE INDEX card_cit_transaction ON card_cit (company, transaction_id);
COMMENT ON TABLE card_cit IS 'The cardholder-initiated transaction (CIT) of an order payment method: written when a cardholder-initiated authorization through the External Payment Service is approved (the newest one wins), read by later merchant-initiated authorizations of the same payment (split shipment REAUTH, installments) and, by transaction id, by membership orders (seed: "The CIT Transaction ID and the original authorization amount are stored").';
COMMENT ON COLUMN card_cit.company IS 'Company of the order.';
COMMENT ON COLUMN card_cit.order_number IS 'Order number.';
COMMENT ON COLUMN card_cit.pay_seq IS 'Order payment method sequence.';
COMMENT ON COLUMN card_cit.service_bureau IS 'The service bureau that approved it.';
COMMENT ON COLUMN card_cit.transaction_id IS 'The bureau''s transaction id of the approved cardholder-initiated authorization: sent as subsequentAuthTransactionID by later merchant-initiated ones.';
COMMENT ON COLUMN card_cit.amount IS 'The amount it approved (the original authorization amount a membership order sends as subsequentAuthOriginalAmount).';
COMMENT ON COLUMN card_cit.currency IS 'ISO 4217 currency of amount.';
COMMENT ON COLUMN card_cit.request_id IS 'The paylink authorization (cc_auth_trans) it came from.';
COMMENT ON COLUMN card_cit.created_at IS 'When it was stored (or last replaced by a newer CIT).';
COMMENT ON INDEX card_cit_transaction IS 'Membership orders find a CIT by its transaction id.';
