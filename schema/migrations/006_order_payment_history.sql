-- 006: an order's whole payment history in one view: authorizations, deposits and reversals.
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
  FROM cc_deposit_trans d
UNION ALL
SELECT * FROM order_reversal_history;
COMMENT ON VIEW order_payment_history IS 'An order''s payment history (filter on company and order_number, ORDER BY at): authorizations, deposits (operation = request type debit/credit, amount_approved = amount deposited; cc_deposit_trans.operation tells capture from auth_capture) and reversals (amount_approved = amount reversed).';
