-- 001: service bureau configuration, modeled on the OROMS Authorization Services (WASV) screens
-- and their cross-reference tables. Read by the workers at start-up and every refresh interval.

CREATE TABLE auth_service (
    service_bureau        varchar(8)  PRIMARY KEY,
    description           varchar(60) NOT NULL DEFAULT '',
    protocol              varchar(3)  NOT NULL CHECK (protocol IN ('CYB', 'RLT', 'EXT')),
    merchant_id           varchar(30) NOT NULL DEFAULT '',
    secret_ref            varchar(200) NOT NULL DEFAULT '',
    test_url              varchar(300) NOT NULL DEFAULT '',
    production_url        varchar(300) NOT NULL DEFAULT '',
    send_to_production    boolean     NOT NULL DEFAULT false,
    api_version           varchar(10) NOT NULL DEFAULT '1.121',
    response_time_ms      integer     NOT NULL DEFAULT 30000 CHECK (response_time_ms BETWEEN 100 AND 600000),
    response_check_frequency integer  NOT NULL DEFAULT 1 CHECK (response_check_frequency >= 1),
    connect_attempts      integer     NOT NULL DEFAULT 3 CHECK (connect_attempts BETWEEN 1 AND 10),
    request_token         boolean     NOT NULL DEFAULT false,
    decision_manager      boolean     NOT NULL DEFAULT false,
    send_reversal         boolean     NOT NULL DEFAULT false,
    void_auth_at_deposit  boolean     NOT NULL DEFAULT false,
    max_concurrent        integer     NOT NULL DEFAULT 256 CHECK (max_concurrent BETWEEN 1 AND 10000),
    proxy_host            varchar(200) NOT NULL DEFAULT '',
    proxy_port            integer     CHECK (proxy_port BETWEEN 1 AND 65535),
    message_log_enabled   boolean     NOT NULL DEFAULT false,
    message_log_dir       varchar(300) NOT NULL DEFAULT '',
    fraud_cancel_reason   varchar(5)  NOT NULL DEFAULT '',
    updated_at            timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE auth_service IS 'Service bureaus (WASV): one row per bureau code that requests name in "service"; its settings drive every call.';
COMMENT ON COLUMN auth_service.service_bureau IS 'Service bureau code (CYB, RLT, EXT, ...): the "service" field of a request.';
COMMENT ON COLUMN auth_service.description IS 'Operator-facing name of the bureau.';
COMMENT ON COLUMN auth_service.protocol IS 'Wire protocol: CYB = CyberSource Simple Order SOAP, RLT = Customer Engagement stored value XML, EXT = External Payment Service REST.';
COMMENT ON COLUMN auth_service.merchant_id IS 'Merchant ID at the bureau (last step of the merchant ID hierarchy).';
COMMENT ON COLUMN auth_service.secret_ref IS 'Where the bureau secret (CyberSource transaction key, web service password) is read from: env:NAME (the value of an environment variable), file:/path (a file), or file-env:NAME (the file named by an environment variable). The secret itself is never stored here.';
COMMENT ON COLUMN auth_service.test_url IS 'Endpoint used when send_to_production is false (https only).';
COMMENT ON COLUMN auth_service.production_url IS 'Endpoint used when send_to_production is true (https only).';
COMMENT ON COLUMN auth_service.send_to_production IS 'CYB_PAY_LINK_SERVICE_SEND_TO_PRODUCTION: true sends to production_url, false to test_url.';
COMMENT ON COLUMN auth_service.api_version IS 'CyberSource transaction data namespace version (urn:schemas-cybersource-com:transaction-data-N), at least 1.57.';
COMMENT ON COLUMN auth_service.response_time_ms IS 'WASV Response time: how long one bureau call may take before the outcome is unknown (required response).';
COMMENT ON COLUMN auth_service.response_check_frequency IS 'External Payment Service "Response check frequency": multiplies response_time_ms for EXT.';
COMMENT ON COLUMN auth_service.connect_attempts IS 'Connection attempts before a call fails with 150 (the seed says 3); only failures before the request was sent are retried.';
COMMENT ON COLUMN auth_service.request_token IS 'WASV Request token: a card number (not yet a token) is tokenized with the authorization (token+auth).';
COMMENT ON COLUMN auth_service.decision_manager IS 'CYB_PAY_LINK_DECISION_MANAGER_ENABLED: online authorizations go through Decision Manager fraud scoring.';
COMMENT ON COLUMN auth_service.send_reversal IS 'WASV Send reversal: the bureau supports authorization reversal; a rejected (481) authorization and unused authorizations are reversed.';
COMMENT ON COLUMN auth_service.void_auth_at_deposit IS 'WASV Void auth at deposit: the unused part of an authorization is voided after a deposit.';
COMMENT ON COLUMN auth_service.max_concurrent IS 'Cap on concurrent calls to this bureau per worker replica (the bureau contract limit divided by replicas).';
COMMENT ON COLUMN auth_service.proxy_host IS 'PROXY_HOST: proxy between paylink and the bureau; blank = direct.';
COMMENT ON COLUMN auth_service.proxy_port IS 'PROXY_PORT of the proxy.';
COMMENT ON COLUMN auth_service.message_log_enabled IS 'CYB_PAY_LINK_SERVICE_ENABLE_LOG: write every bureau message (masked) to message_log_dir.';
COMMENT ON COLUMN auth_service.message_log_dir IS 'CYB_PAY_LINK_SERVICE_LOG_DIRECTORY: folder of the bureau message log.';
COMMENT ON COLUMN auth_service.fraud_cancel_reason IS 'Cancel reason for orders Decision Manager rejects (system control value M14).';
COMMENT ON COLUMN auth_service.updated_at IS 'When the row was last changed.';

CREATE TABLE auth_service_currency (
    service_bureau   varchar(8) NOT NULL REFERENCES auth_service ON DELETE CASCADE,
    currency         char(3)    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    bureau_currency  varchar(3) NOT NULL,
    PRIMARY KEY (service_bureau, currency)
);
COMMENT ON TABLE auth_service_currency IS 'Currency cross-reference of a service bureau: the code the bureau expects for an ISO currency. No row = the ISO code is sent as is.';
COMMENT ON COLUMN auth_service_currency.service_bureau IS 'Service bureau code.';
COMMENT ON COLUMN auth_service_currency.currency IS 'ISO 4217 currency of the request.';
COMMENT ON COLUMN auth_service_currency.bureau_currency IS 'Currency code sent to the bureau.';

CREATE TABLE auth_service_country (
    service_bureau   varchar(8) NOT NULL REFERENCES auth_service ON DELETE CASCADE,
    country          char(2)    NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    bureau_country   varchar(3) NOT NULL,
    PRIMARY KEY (service_bureau, country)
);
COMMENT ON TABLE auth_service_country IS 'Country cross-reference of a service bureau: the code the bureau expects for an ISO country. No row = the ISO code is sent as is.';
COMMENT ON COLUMN auth_service_country.service_bureau IS 'Service bureau code.';
COMMENT ON COLUMN auth_service_country.country IS 'ISO 3166 alpha-2 country of an address in the request.';
COMMENT ON COLUMN auth_service_country.bureau_country IS 'Country code sent to the bureau.';

CREATE TABLE merchant_id_override (
    company          integer    NOT NULL CHECK (company BETWEEN 1 AND 999),
    entity           varchar(20) NOT NULL,
    service_bureau   varchar(8) NOT NULL REFERENCES auth_service ON DELETE CASCADE,
    merchant_id      varchar(30) NOT NULL,
    PRIMARY KEY (company, entity, service_bureau)
);
COMMENT ON TABLE merchant_id_override IS 'Merchant ID overrides per company entity (second step of the merchant ID hierarchy, after the pay type cross-reference).';
COMMENT ON COLUMN merchant_id_override.company IS 'Company number.';
COMMENT ON COLUMN merchant_id_override.entity IS 'Entity of the company (the "entity" field of a request).';
COMMENT ON COLUMN merchant_id_override.service_bureau IS 'Service bureau code.';
COMMENT ON COLUMN merchant_id_override.merchant_id IS 'Merchant ID used for this entity at this bureau.';

CREATE TABLE vendor_paytype (
    service_bureau     varchar(8) NOT NULL REFERENCES auth_service ON DELETE CASCADE,
    pay_type           varchar(4) NOT NULL,
    vendor_paytype     varchar(10) NOT NULL DEFAULT '',
    merchant_id        varchar(30) NOT NULL DEFAULT '',
    reauth_days        integer    NOT NULL DEFAULT 7 CHECK (reauth_days BETWEEN 0 AND 365),
    PRIMARY KEY (service_bureau, pay_type)
);
COMMENT ON TABLE vendor_paytype IS 'Pay type cross-reference: what a pay type is called at a bureau, its merchant ID (first step of the merchant ID hierarchy) and how long its authorizations live.';
COMMENT ON COLUMN vendor_paytype.service_bureau IS 'Service bureau code.';
COMMENT ON COLUMN vendor_paytype.pay_type IS 'Pay type code of the request (pay_type, or the card type such as VI, MC).';
COMMENT ON COLUMN vendor_paytype.vendor_paytype IS 'The bureau''s code for the pay type (CyberSource cardType 001, 002, ...); blank = derived from the card.';
COMMENT ON COLUMN vendor_paytype.merchant_id IS 'Merchant ID for this pay type; blank = fall through to the override and the service bureau.';
COMMENT ON COLUMN vendor_paytype.reauth_days IS 'Days an authorization of this pay type stays usable (authorization date + reauth_days = expiry).';

CREATE TABLE vendor_response (
    service_bureau     varchar(8)  NOT NULL REFERENCES auth_service ON DELETE CASCADE,
    response_code      varchar(10) NOT NULL,
    description        varchar(120) NOT NULL DEFAULT '',
    approved           boolean     NOT NULL DEFAULT false,
    hold_reason        varchar(2)  NOT NULL DEFAULT '',
    deactivate_payment boolean     NOT NULL DEFAULT false,
    orce_code          varchar(10) NOT NULL DEFAULT '',
    PRIMARY KEY (service_bureau, response_code)
);
COMMENT ON TABLE vendor_response IS 'Vendor response codes of a bureau: whether a code approves, which order hold it puts, whether it deactivates the payment.';
COMMENT ON COLUMN vendor_response.service_bureau IS 'Service bureau code.';
COMMENT ON COLUMN vendor_response.response_code IS 'The bureau''s reason/response code as text (100, 480, SU, ...).';
COMMENT ON COLUMN vendor_response.description IS 'What the code means.';
COMMENT ON COLUMN vendor_response.approved IS 'True when the code is an approval.';
COMMENT ON COLUMN vendor_response.hold_reason IS 'Order hold reason to apply (FS fraud scoring, AT authorization, ...); blank = none.';
COMMENT ON COLUMN vendor_response.deactivate_payment IS 'True when the code deactivates the order payment method (REJECT 481).';
COMMENT ON COLUMN vendor_response.orce_code IS 'Customer Engagement (ORCE) response code this code maps to, for stored value bureaus.';
