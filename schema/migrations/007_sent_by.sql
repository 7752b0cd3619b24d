-- 007: which send attempt marked a transaction "sent". When the database connection drops after
-- a worker's "mark sent" committed but before it heard so, the worker sends the same unit again
-- after reconnecting; without knowing the mark is its own it would have to assume another
-- consumer sent the request (a required response, a false alarm). The attempt id tells.
ALTER TABLE cc_auth_trans ADD COLUMN sent_by varchar(80) NOT NULL DEFAULT '';
ALTER TABLE cc_deposit_trans ADD COLUMN sent_by varchar(80) NOT NULL DEFAULT '';
ALTER TABLE auth_reversal ADD COLUMN sent_by varchar(80) NOT NULL DEFAULT '';
COMMENT ON COLUMN cc_auth_trans.sent_by IS 'The send attempt (worker instance and sequence) that marked the row sent; blank before.';
COMMENT ON COLUMN cc_deposit_trans.sent_by IS 'The send attempt (worker instance and sequence) that marked the row sent; blank before.';
COMMENT ON COLUMN auth_reversal.sent_by IS 'The send attempt (worker instance and sequence) that marked the row sent; blank before.';
