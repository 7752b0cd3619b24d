-- Demo service bureau configuration (CONTRACT.md §2), applied by `tools/dev up` after the
-- migrations:  psql -v sim_url=https://localhost:PORT -f schema/demo.sql
-- Idempotent: running it again restores the demo settings.
\set ON_ERROR_STOP on
BEGIN;

INSERT INTO auth_service (service_bureau, description, protocol, merchant_id, secret_ref,
                          test_url, production_url, send_to_production, api_version,
                          response_time_ms, request_token, decision_manager, send_reversal,
                          void_auth_at_deposit, fraud_cancel_reason)
VALUES ('CYB', 'CyberSource (bureau simulator)', 'CYB', 'paylink_demo',
        'file-env:PAYLINK_CYB_TRANSACTION_KEY_FILE',
        :'sim_url' || '/commerce/1.x/transactionProcessor',
        :'sim_url' || '/commerce/1.x/transactionProcessor', false, '1.121',
        5000, true, true, true, true, 'M14'),
       ('RLT', 'Customer Engagement stored value (bureau simulator)', 'RLT', 'paylink_demo',
        'file-env:PAYLINK_RLT_PASSWORD_FILE',
        :'sim_url' || '/rlt/ProcessXML', :'sim_url' || '/rlt/ProcessXML', false, '1.121',
        5000, false, false, false, false, ''),
       ('EXT', 'External Payment Service (bureau simulator)', 'EXT', 'paylink_demo',
        'file-env:PAYLINK_EXT_CLIENT_SECRET_FILE',
        :'sim_url' || '/ext', :'sim_url' || '/ext', false, '1.121',
        5000, false, false, false, false, '')
ON CONFLICT (service_bureau) DO UPDATE SET
    description = EXCLUDED.description, protocol = EXCLUDED.protocol,
    merchant_id = EXCLUDED.merchant_id, secret_ref = EXCLUDED.secret_ref,
    test_url = EXCLUDED.test_url, production_url = EXCLUDED.production_url,
    send_to_production = EXCLUDED.send_to_production, api_version = EXCLUDED.api_version,
    response_time_ms = EXCLUDED.response_time_ms, request_token = EXCLUDED.request_token,
    decision_manager = EXCLUDED.decision_manager, send_reversal = EXCLUDED.send_reversal,
    void_auth_at_deposit = EXCLUDED.void_auth_at_deposit,
    fraud_cancel_reason = EXCLUDED.fraud_cancel_reason, updated_at = now();

INSERT INTO vendor_response (service_bureau, response_code, description, approved, hold_reason,
                             deactivate_payment)
VALUES ('CYB', '100', 'Successful transaction', true, '', false),
       ('CYB', '110', 'Partial amount approved', true, '', false),
       ('CYB', '150', 'General system failure', false, '', false),
       ('CYB', '151', 'Server time-out', false, '', false),
       ('CYB', '152', 'Service time-out', false, '', false),
       ('CYB', '202', 'Expired card', false, 'AT', false),
       ('CYB', '203', 'General decline of the card', false, 'AT', false),
       ('CYB', '204', 'Insufficient funds', false, 'AT', false),
       ('CYB', '205', 'Stolen or lost card', false, 'AT', false),
       ('CYB', '211', 'Invalid card verification number', false, 'AT', false),
       ('CYB', '231', 'Invalid account number', false, 'AT', false),
       ('CYB', '400', 'Fraud score exceeds threshold', false, 'FS', false),
       ('CYB', '480', 'Order marked for review by Decision Manager', false, 'FS', false),
       ('CYB', '481', 'Order rejected by Decision Manager', false, 'FS', true),
       ('CYB', 'SU', 'Service unavailable', false, '', false),
       ('RLT', 'SU', 'Service unavailable', false, '', false),
       ('EXT', 'SU', 'Service unavailable', false, '', false)
ON CONFLICT (service_bureau, response_kind, response_code) DO UPDATE SET
    description = EXCLUDED.description, approved = EXCLUDED.approved,
    hold_reason = EXCLUDED.hold_reason, deactivate_payment = EXCLUDED.deactivate_payment;

-- Address and card verification failures put an approved authorization on hold (seed "Placing
-- the credit card on hold"): AV for AVS N (no match), CV for CVN N (no match).
INSERT INTO vendor_response (service_bureau, response_kind, response_code, description, approved,
                             hold_reason, deactivate_payment)
VALUES ('CYB', 'avs', 'N', 'Address verification: street and postal code do not match', true,
        'AV', false),
       ('CYB', 'cvv', 'N', 'Card verification number does not match', true, 'CV', false)
ON CONFLICT (service_bureau, response_kind, response_code) DO UPDATE SET
    description = EXCLUDED.description, approved = EXCLUDED.approved,
    hold_reason = EXCLUDED.hold_reason, deactivate_payment = EXCLUDED.deactivate_payment;

INSERT INTO vendor_paytype (service_bureau, pay_type, vendor_paytype, merchant_id, reauth_days)
VALUES ('CYB', 'VI', '001', '', 7), ('CYB', 'MC', '002', '', 7),
       ('CYB', 'AX', '003', '', 7), ('CYB', 'DI', '004', '', 30)
ON CONFLICT (service_bureau, pay_type) DO UPDATE SET
    vendor_paytype = EXCLUDED.vendor_paytype, merchant_id = EXCLUDED.merchant_id,
    reauth_days = EXCLUDED.reauth_days;

COMMIT;
