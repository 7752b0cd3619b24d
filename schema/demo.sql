-- Demo service bureau configuration (CONTRACT.md §2), applied by `tools/dev up` after the
-- migrations:  psql -v sim_url=https://localhost:PORT -f schema/demo.sql
-- Idempotent: running it again restores the demo settings.
\set ON_ERROR_STOP on
BEGIN;
-- Changes to service bureau settings are audited (016_external_service.sql): under this name.
SELECT set_config('paylink.changed_by', 'schema/demo.sql', true) \g /dev/null

INSERT INTO auth_service (service_bureau, description, protocol, merchant_id, secret_ref,
                          test_url, production_url, send_to_production, api_version,
                          response_time_ms, request_token, decision_manager, send_reversal,
                          void_auth_at_deposit, fraud_cancel_reason, card_prefix, card_series,
                          location_id, ws_user, balance_inquiry_batch, max_concurrent,
                          connection_idle_s)
-- max_concurrent: the simulator takes any number of calls; 512 (the column's default is 256)
-- lets one worker replica keep its 512 requests in flight (PAYLINK_MAX_IN_FLIGHT) all at the
-- bureau at once (docs/perf/ROUNDS.md, eleventh round); a real bureau's is its contract's
-- limit divided by the replicas.
-- connection_idle_s: the simulator closes a connection idle for 300 s (tools/sim); 240 keeps a
-- worker's connections through the pauses of a demo or a benchmark (the column's default is 30,
-- under most load balancers' idle timeout).
VALUES ('CYB', 'CyberSource (bureau simulator)', 'CYB', 'paylink_demo',
        'file-env:PAYLINK_CYB_TRANSACTION_KEY_FILE',
        :'sim_url' || '/commerce/1.x/transactionProcessor',
        :'sim_url' || '/commerce/1.x/transactionProcessor', false, '1.121',
        5000, true, true, true, true, 'M14', '', '', '', '', false, 512, 240),
       -- Seed customer-engagement-stored-value-card.txt: the URL form
       -- https://server:port/relateui/<company code>/xmlapi (company OMS), the GenerateCard
       -- sample's CardPrefix 85749 and CardSeriesSequence 06 as Presenter's / Submitter's ID,
       -- a blank Signon (an empty <LocationID />), web service authentication (its password is
       -- the secret_ref file), and J19 selected as the seed recommends.
       ('RLT', 'Customer Engagement stored value (bureau simulator)', 'RLT', 'paylink_demo',
        'file-env:PAYLINK_RLT_PASSWORD_FILE',
        :'sim_url' || '/relateui/OMS/xmlapi', :'sim_url' || '/relateui/OMS/xmlapi', false,
        '1.121', 5000, false, false, false, false, '', '85749', '06', '', 'paylink_demo', true,
        512, 240),
       -- EXT's URL and password are its External Service Settings (external_service below):
       -- secret_ref and the URLs of this row are not used for protocol EXT.
       ('EXT', 'External Payment Service (bureau simulator)', 'EXT', 'paylink_demo', '',
        :'sim_url' || '/ext', :'sim_url' || '/ext', false, '1.121',
        5000, false, false, false, false, '', '', '', '', '', false, 512, 240)
ON CONFLICT (service_bureau) DO UPDATE SET
    description = EXCLUDED.description, protocol = EXCLUDED.protocol,
    merchant_id = EXCLUDED.merchant_id, secret_ref = EXCLUDED.secret_ref,
    test_url = EXCLUDED.test_url, production_url = EXCLUDED.production_url,
    send_to_production = EXCLUDED.send_to_production, api_version = EXCLUDED.api_version,
    response_time_ms = EXCLUDED.response_time_ms, request_token = EXCLUDED.request_token,
    decision_manager = EXCLUDED.decision_manager, send_reversal = EXCLUDED.send_reversal,
    void_auth_at_deposit = EXCLUDED.void_auth_at_deposit,
    fraud_cancel_reason = EXCLUDED.fraud_cancel_reason, card_prefix = EXCLUDED.card_prefix,
    card_series = EXCLUDED.card_series, location_id = EXCLUDED.location_id,
    ws_user = EXCLUDED.ws_user, balance_inquiry_batch = EXCLUDED.balance_inquiry_batch,
    max_concurrent = EXCLUDED.max_concurrent, connection_idle_s = EXCLUDED.connection_idle_s,
    updated_at = now();

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
       ('EXT', 'SU', 'Service unavailable', false, '', false),
       -- External Payment Service reason codes (schema/ext/README.md; seed "Response codes": a
       -- REJECT or ERROR whose code is defined with a hold code, or not defined, puts the order
       -- on AT hold; one defined without a hold code declines without one).
       ('EXT', '100', 'Approved', true, '', false),
       ('EXT', '110', 'Partial amount approved', true, '', false),
       ('EXT', '202', 'Expired card', false, 'AT', false),
       ('EXT', '203', 'General decline of the card', false, 'AT', false),
       ('EXT', '204', 'Insufficient funds', false, 'AT', false),
       ('EXT', '205', 'Stolen or lost card', false, 'AT', false),
       ('EXT', '211', 'Invalid card verification number', false, 'AT', false),
       ('EXT', '231', 'Invalid account number', false, 'AT', false),
       ('EXT', 'NOFUNDS', 'Stored value card has no available balance', false, 'AT', false),
       ('EXT', 'INACTIVE', 'Stored value card is not active', false, 'AT', false),
       ('EXT', 'NOCARD', 'Stored value card not found', false, '', false),
       ('EXT', 'ACTIVE', 'Stored value card is already active', false, '', false),
       ('EXT', 'EXCEEDS', 'Deposit greater than the authorization holds', false, '', false),
       ('EXT', 'NOTRANS', 'The referenced authorization is not known', false, '', false),
       ('EXT', 'VOIDED', 'The authorization has already been voided', false, '', false),
       ('EXT', 'SETTLED', 'The authorization has been settled in full', false, '', false),
       ('EXT', 'LIMIT', 'The balance would exceed the largest amount', false, '', false),
       ('EXT', 'INVALID', 'The payment service refused the request as invalid', false, '', false)
ON CONFLICT (service_bureau, response_kind, response_code) DO UPDATE SET
    description = EXCLUDED.description, approved = EXCLUDED.approved,
    hold_reason = EXCLUDED.hold_reason, deactivate_payment = EXCLUDED.deactivate_payment;

-- Customer Engagement (RLT) answers, mapped as the seed says: "if an error code is returned,
-- OMS maps this code to the Relate response field in Defining Vendor Response Codes; otherwise
-- the reason code to the ORCE response field" (relate_response, orce_code).
-- Scheme of the response codes: an approval is R + the two-digit reason code of the seed's
-- sample answer (R02 ActivateInstrument, R08 Recharge, R16 Inquiry, R18 Return, R22 Void,
-- R24 Preauthorization, R26 Postauthorization); a decline is a mnemonic of its ErrorCode in at
-- most 10 characters (ALLCARDGEN, NOFUNDS, NOCARD, INACTIVE). Declines for want of funds and of
-- an inactive card put the payment on hold AT, as the CyberSource declines do; SU (the bureau
-- is unreachable) is the row above.
INSERT INTO vendor_response (service_bureau, response_code, description, approved, hold_reason,
                             deactivate_payment, orce_code, relate_response)
VALUES ('RLT', 'R02', 'Stored value card activated (ActivateInstrumentResponse)', true, '',
        false, '2', ''),
       ('RLT', 'R08', 'Stored value card recharged (RechargeResponse)', true, '', false, '8', ''),
       ('RLT', 'R16', 'Balance inquiry answered (InquiryResponse)', true, '', false, '16', ''),
       ('RLT', 'R18', 'Stored value return credited (ReturnResponse)', true, '', false, '18', ''),
       ('RLT', 'R22', 'Stored value authorization voided (VoidResponse)', true, '', false, '22',
        ''),
       ('RLT', 'R24', 'Stored value card authorized (PreauthorizationResponse)', true, '', false,
        '24', ''),
       ('RLT', 'R26', 'Stored value deposit settled (PostauthorizationResponse)', true, '', false,
        '26', ''),
       ('RLT', 'ALLCARDGEN', 'All cards of the card series have been generated', false, '',
        false, '', 'ALL_CARDS_GENERATED'),
       ('RLT', 'NOFUNDS', 'Insufficient funds on the stored value card', false, 'AT', false, '',
        'INSUFFICIENT_FUNDS'),
       ('RLT', 'NOCARD', 'Stored value card not found', false, '', false, '', 'CARD_NOT_FOUND'),
       ('RLT', 'INACTIVE', 'Stored value card is inactive', false, 'AT', false, '',
        'CARD_INACTIVE')
ON CONFLICT (service_bureau, response_kind, response_code) DO UPDATE SET
    description = EXCLUDED.description, approved = EXCLUDED.approved,
    hold_reason = EXCLUDED.hold_reason, deactivate_payment = EXCLUDED.deactivate_payment,
    orce_code = EXCLUDED.orce_code, relate_response = EXCLUDED.relate_response;

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

-- Seed external-payment-service.txt, "External Service Settings": the External Service flag
-- selected, the simulator's EXT endpoints under the URL prefix and its OAuth 2 token endpoint,
-- message version 3.0, and the Authentication Password read from the file tools/dev names in
-- PAYLINK_EXT_CLIENT_SECRET_FILE (it must follow the seed's password rule, or EXT's calls are
-- refused).
INSERT INTO external_service (service_bureau, enabled, url_prefix, message_version, auth_user,
                              auth_password_ref, token_url)
VALUES ('EXT', true, :'sim_url' || '/ext', '3.0', 'paylink_demo',
        'file-env:PAYLINK_EXT_CLIENT_SECRET_FILE', :'sim_url' || '/ext/oauth2/token')
ON CONFLICT (service_bureau) DO UPDATE SET
    enabled = EXCLUDED.enabled, url_prefix = EXCLUDED.url_prefix,
    message_version = EXCLUDED.message_version, auth_user = EXCLUDED.auth_user,
    auth_password_ref = EXCLUDED.auth_password_ref, token_url = EXCLUDED.token_url;

-- Pay types of company 1 (WPAY): the credit cards on CyberSource (Visa notifies of
-- installments, so an installment's subsequent authorization says INSTALLMENT; the others say
-- REAUTH), a gift card on Customer Engagement and one on the External Payment Service. No M25
-- netting pay type (company_setting) is set.
INSERT INTO pay_type (company, pay_type, description, kind, service_bureau, notify_installments)
VALUES (1, 'VI', 'Visa', 'CC', 'CYB', true),
       (1, 'MC', 'Mastercard', 'CC', 'CYB', false),
       (1, 'AX', 'American Express', 'CC', 'CYB', false),
       (1, 'DI', 'Discover', 'CC', 'CYB', false),
       (1, 'GC', 'Gift card, Customer Engagement', 'SVC', 'RLT', false),
       (1, 'GE', 'Gift card, External Payment', 'SVC', 'EXT', false)
ON CONFLICT (company, pay_type) DO UPDATE SET
    description = EXCLUDED.description, kind = EXCLUDED.kind,
    service_bureau = EXCLUDED.service_bureau,
    notify_installments = EXCLUDED.notify_installments;

INSERT INTO vendor_paytype (service_bureau, pay_type, vendor_paytype, merchant_id, reauth_days)
VALUES ('CYB', 'VI', '001', '', 7), ('CYB', 'MC', '002', '', 7),
       ('CYB', 'AX', '003', '', 7), ('CYB', 'DI', '004', '', 30)
ON CONFLICT (service_bureau, pay_type) DO UPDATE SET
    vendor_paytype = EXCLUDED.vendor_paytype, merchant_id = EXCLUDED.merchant_id,
    reauth_days = EXCLUDED.reauth_days;

-- The Decision Manager update of CYB (seed CYB_PAY_LINK_DECISION_MANAGER_*): the simulator's
-- on-demand Conversion Detail Report at the seed's test and production paths, report user
-- paylink_demo with its password in the file tools/dev names in PAYLINK_DM_PASSWORD_FILE, no
-- merchant ID override (the seed's hierarchy: paylink_demo), the test server. The same report
-- user asks the simulator's On-Demand Single Transaction Query when a resolver settles an
-- unknown outcome (every worker reads PAYLINK_DM_PASSWORD_FILE for it).
INSERT INTO dm_settings (service_bureau, merchant_id_override, user_id, password_ref,
                         send_to_production, test_url, production_url, query_test_url,
                         query_production_url)
VALUES ('CYB', '', 'paylink_demo', 'file-env:PAYLINK_DM_PASSWORD_FILE', false,
        :'sim_url' || '/ebctest/ConversionDetailReportRequest.do',
        :'sim_url' || '/ebc/ConversionDetailReportRequest.do',
        :'sim_url' || '/ebctest/Query', :'sim_url' || '/ebc/Query')
ON CONFLICT (service_bureau) DO UPDATE SET
    merchant_id_override = EXCLUDED.merchant_id_override, user_id = EXCLUDED.user_id,
    password_ref = EXCLUDED.password_ref, send_to_production = EXCLUDED.send_to_production,
    test_url = EXCLUDED.test_url, production_url = EXCLUDED.production_url,
    query_test_url = EXCLUDED.query_test_url,
    query_production_url = EXCLUDED.query_production_url;

COMMIT;
