-- 013: stored value cards through Oracle Retail Customer Engagement (the RLT service bureau of
-- seed customer-engagement-stored-value-card.txt).
--
-- The seed's RLT setup lives on the service bureau row (WASV Presenter's ID, Submitter's ID,
-- Signon, the web service authentication user, system control value J19); its vendor response
-- codes map a Customer Engagement answer in two ways ("if an error code is returned, OMS maps
-- this code to the Relate response field in Defining Vendor Response Codes; otherwise the reason
-- code to the ORCE response field"); the cards an order sells are kept in stored_value_card (the
-- seed's Stored Value Card table) and every stored value request in svc_trans, with the
-- engine's standard columns. Card data as everywhere: the number only as a mask (stars and the
-- last four, as the seed masks stored value cards) plus a keyed hash.

-- ---- the service bureau --------------------------------------------------------------------

ALTER TABLE auth_service
    ADD COLUMN card_prefix varchar(20) NOT NULL DEFAULT ''
        CHECK (card_prefix ~ '^[A-Za-z0-9]*$'),
    ADD COLUMN card_series varchar(20) NOT NULL DEFAULT ''
        CHECK (card_series ~ '^[A-Za-z0-9]*$'),
    ADD COLUMN location_id varchar(20) NOT NULL DEFAULT ''
        CHECK (location_id !~ '[[:cntrl:]]'),
    -- RFC 7617: the user of HTTP Basic authentication cannot contain a colon.
    ADD COLUMN ws_user varchar(60) NOT NULL DEFAULT ''
        CHECK (ws_user !~ '[:[:cntrl:]]'),
    ADD COLUMN balance_inquiry_batch boolean NOT NULL DEFAULT false;
-- A web service user without a password would send credentials that can never work.
ALTER TABLE auth_service ADD CONSTRAINT auth_service_ws_user_has_secret
    CHECK (ws_user = '' OR secret_ref <> '');
COMMENT ON COLUMN auth_service.card_prefix IS 'RLT: WASV "Presenter''s ID", the card prefix assigned to virtual stored value cards in Customer Engagement; sent as CardPrefix of the GenerateCard request ("From the ASV Presenter''s ID field in the Authorization Service table"). Blank for other bureaus.';
COMMENT ON COLUMN auth_service.card_series IS 'RLT: WASV "Submitter''s ID", the card series sequence number assigned to virtual stored value cards; sent as CardSeriesSequence of the GenerateCard request ("From the ASV Submitter''s ID field"). Blank for other bureaus.';
COMMENT ON COLUMN auth_service.location_id IS 'RLT: WASV "Signon", sent as LocationID of the ActivateInstrument, Preauthorization, Postauthorization and Void requests ("The Signon code defined for the RLT service bureau. From the ASV Signon field"); blank sends an empty <LocationID />.';
COMMENT ON COLUMN auth_service.ws_user IS 'RLT: the web service authentication user (seed "Working with Web Service Authentication (WWSA)"), sent with its password in the HTTP header of every message; the password is the secret named by secret_ref. Blank = Customer Engagement requires no web service authentication.';
COMMENT ON COLUMN auth_service.balance_inquiry_batch IS 'System control value J19 "Perform Balance Inquiry during Batch Authorizations": a batch authorization of a stored value card asks for the balance first (Customer Engagement approves less than requested when the balance is short; the seed says to select it for RLT).';
COMMENT ON CONSTRAINT auth_service_ws_user_has_secret ON auth_service IS 'A web service user needs its password: secret_ref may not be blank when ws_user is set.';

-- ---- vendor responses: the two ways a Customer Engagement answer is mapped ------------------

ALTER TABLE vendor_response ADD COLUMN relate_response varchar(40) NOT NULL DEFAULT ''
    CHECK (relate_response = btrim(relate_response));
COMMENT ON COLUMN vendor_response.relate_response IS 'Seed "Relate response" (RLT): the Customer Engagement ErrorCode of a declined transaction (e.g. ALL_CARDS_GENERATED) that maps to this vendor response. An answer with an ErrorCode is mapped by this column, one without by orce_code. Blank = none; a code maps to at most one row per bureau.';
COMMENT ON COLUMN vendor_response.orce_code IS 'Seed "ORCE response" (RLT): the Customer Engagement reason code (Reason/Code, e.g. 24 for a PreauthorizationResponse) that maps to this vendor response. Used when the answer carries no ErrorCode ("if an error code is returned, OMS maps this code to the Relate response field ...; otherwise ... the reason code to the ORCE response field"). Blank = none; a code maps to at most one row per bureau.';
-- Unique per bureau, so an answer's code names one row; blank (no mapping) may repeat. Fails
-- with the duplicated code named when an existing database maps one code twice: decide which
-- row it means, blank the other, and migrate again.
CREATE UNIQUE INDEX vendor_response_relate_response ON vendor_response (service_bureau, relate_response)
    WHERE relate_response <> '';
CREATE UNIQUE INDEX vendor_response_orce_code ON vendor_response (service_bureau, orce_code)
    WHERE orce_code <> '';
COMMENT ON INDEX vendor_response_relate_response IS 'A Customer Engagement ErrorCode maps to one vendor response of a bureau (blank values excepted).';
COMMENT ON INDEX vendor_response_orce_code IS 'A Customer Engagement reason code maps to one vendor response of a bureau (blank values excepted).';

-- ---- updated_at kept by the database ---------------------------------------------------------

CREATE FUNCTION paylink_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
COMMENT ON FUNCTION paylink_touch_updated_at() IS 'Trigger function: sets updated_at to the time of the transaction on every update of a row, whoever writes it.';

-- ---- the Stored Value Card table -------------------------------------------------------------

CREATE TABLE stored_value_card (
    card_id           bigserial    PRIMARY KEY,
    service_bureau    varchar(8)   NOT NULL,
    company           integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number      varchar(20)  NOT NULL,
    order_line        integer      CHECK (order_line >= 1),
    card_masked       varchar(24)  NOT NULL CHECK (card_masked ~ '^[*]+[0-9]{0,4}$'),
    card_hash         char(64)     NOT NULL CHECK (card_hash ~ '^[0-9a-f]{64}$'),
    virtual           boolean      NOT NULL DEFAULT false,
    card_prefix       varchar(20)  NOT NULL DEFAULT '',
    card_series       varchar(20)  NOT NULL DEFAULT '',
    issue_amount      numeric(15,2) CHECK (issue_amount >= 0),
    currency          char(3)      CHECK (currency ~ '^[A-Z]{3}$'),
    status            varchar(10)  NOT NULL DEFAULT 'generated'
                        CHECK (status IN ('generated', 'active', 'inactive')),
    response_code     varchar(40)  NOT NULL DEFAULT '',
    activation_date   timestamptz,
    generated_by      varchar(50),
    activated_by      varchar(50),
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (service_bureau, card_hash)
);
CREATE INDEX stored_value_card_order ON stored_value_card (company, order_number, order_line);
CREATE TRIGGER stored_value_card_touch BEFORE UPDATE ON stored_value_card
    FOR EACH ROW EXECUTE FUNCTION paylink_touch_updated_at();
COMMENT ON TABLE stored_value_card IS 'Stored Value Card table of the seed: one row per stored value card an order sells, virtual (its number generated by the bureau: GenerateCard) or physical, until and after its activation (ActivateInstrument for a physical card, Recharge for a virtual one). The number is kept only masked and as a keyed hash.';
COMMENT ON COLUMN stored_value_card.card_id IS 'Row id.';
COMMENT ON COLUMN stored_value_card.service_bureau IS 'Service bureau that issued the card (auth_service, e.g. RLT).';
COMMENT ON COLUMN stored_value_card.company IS 'Company number.';
COMMENT ON COLUMN stored_value_card.order_number IS 'Order # of the order that sold the card (the RTPTransactionID of its activation).';
COMMENT ON COLUMN stored_value_card.order_line IS 'Order line of the stored value card item; NULL when the request did not say.';
COMMENT ON COLUMN stored_value_card.card_masked IS 'Card # masked as the seed masks stored value cards: stars and the last four digits (************1234), all stars when 4 digits or fewer.';
COMMENT ON COLUMN stored_value_card.card_hash IS 'HMAC-SHA256 of the card number with the paylink hash key (64 lowercase hex), for look-ups; the number itself lives only in memory for the bureau call.';
COMMENT ON COLUMN stored_value_card.virtual IS 'True for a virtual card: its number came from GenerateCard and it is activated with a Recharge request; false for a physical card, activated with ActivateInstrument.';
COMMENT ON COLUMN stored_value_card.card_prefix IS 'Card prefix (Presenter''s ID) a virtual card was generated with; blank for a physical card.';
COMMENT ON COLUMN stored_value_card.card_series IS 'Card series sequence (Submitter''s ID) a virtual card was generated with; blank for a physical card.';
COMMENT ON COLUMN stored_value_card.issue_amount IS 'Issue amount: the amount the card is activated with (the Amount of ActivateInstrument or Recharge); NULL until known.';
COMMENT ON COLUMN stored_value_card.currency IS 'ISO 4217 currency of issue_amount.';
COMMENT ON COLUMN stored_value_card.status IS 'generated (the card has a number and is not activated yet), active (the bureau activated it), inactive (the activation was declined, or the bureau reports the card Inactive).';
COMMENT ON COLUMN stored_value_card.response_code IS 'Response code of the last activation answer (seed: "Updates the Response code in the Stored Value Card table"): the vendor response its ErrorCode (by relate_response) or else its reason code (by orce_code) maps to, or the bureau''s code itself when no vendor response maps it. Blank before an answer.';
COMMENT ON COLUMN stored_value_card.activation_date IS 'Activation date: the TransactionDateTime of the approved activation (ActivateInstrument or Recharge); NULL while not activated.';
COMMENT ON COLUMN stored_value_card.generated_by IS 'request_id of the generate request (svc_trans) that obtained the number; NULL for a physical card.';
COMMENT ON COLUMN stored_value_card.activated_by IS 'request_id of the activate or recharge request (svc_trans) that activated the card; NULL while not activated.';
COMMENT ON COLUMN stored_value_card.created_at IS 'When the card was recorded.';
COMMENT ON COLUMN stored_value_card.updated_at IS 'When the row was last changed (kept by a trigger).';

-- ---- stored value transactions ---------------------------------------------------------------

CREATE TABLE svc_trans (
    request_id        varchar(50)  PRIMARY KEY,
    fingerprint       char(64)     NOT NULL,
    request_type      varchar(10)  NOT NULL CHECK (request_type IN
                        ('generate', 'activate', 'recharge', 'auth', 'deposit', 'return', 'balance')),
    operation         varchar(16)  NOT NULL DEFAULT '' CHECK (operation IN
                        ('', 'svc_generate', 'svc_activate', 'svc_recharge', 'svc_preauth',
                         'svc_postauth', 'svc_return', 'svc_inquiry', 'svc_void')),
    company           integer      NOT NULL CHECK (company BETWEEN 1 AND 999),
    order_number      varchar(20)  NOT NULL,
    pay_seq           integer      NOT NULL CHECK (pay_seq >= 1),
    service_bureau    varchar(8)   NOT NULL,
    pay_type          varchar(4)   NOT NULL DEFAULT '',
    auth_mode         varchar(6)   NOT NULL DEFAULT 'online' CHECK (auth_mode IN ('online', 'batch')),
    amount            numeric(15,2) CHECK (amount >= 0),
    currency          char(3)      CHECK (currency ~ '^[A-Z]{3}$'),
    card_masked       varchar(24)  NOT NULL DEFAULT '' CHECK (card_masked ~ '^([*]+[0-9]{0,4})?$'),
    card_hash         char(64)     CHECK (card_hash ~ '^[0-9a-f]{64}$'),
    order_line        integer      CHECK (order_line >= 1),
    issue_amount      numeric(15,2) CHECK (issue_amount >= 0),
    is_virtual        boolean      NOT NULL DEFAULT false,
    status            varchar(10)  NOT NULL DEFAULT 'received' CHECK (status IN
                        ('received', 'sent', 'approved', 'declined', 'error', 'unknown')),
    vendor_response   varchar(10)  NOT NULL DEFAULT '',
    error_code        varchar(40)  NOT NULL DEFAULT '',
    reason_code       varchar(16)  NOT NULL DEFAULT '',
    amount_approved   numeric(15,2),
    amount_deposited  numeric(15,2) NOT NULL DEFAULT 0 CHECK (amount_deposited >= 0),
    amount_voided     numeric(15,2) NOT NULL DEFAULT 0 CHECK (amount_voided >= 0),
    svc_transaction_id varchar(30) NOT NULL DEFAULT '',
    auth_number       varchar(30)  NOT NULL DEFAULT '',
    auth_date         varchar(32)  NOT NULL DEFAULT '',
    account_id        varchar(20)  NOT NULL DEFAULT '',
    balance           numeric(15,2),
    ref_request_id    varchar(50),
    hold_reason       varchar(2)   NOT NULL DEFAULT '',
    error_text        varchar(300) NOT NULL DEFAULT '',
    reply             jsonb,
    followups         jsonb,
    received_at       timestamptz  NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    answered_at       timestamptz,
    sent_by           varchar(120) NOT NULL DEFAULT '',
    -- Every request names its card except a generate, which asks the bureau for one.
    CONSTRAINT svc_trans_card_known CHECK (card_hash IS NOT NULL OR request_type = 'generate'),
    -- Only an authorization is drawn on by deposits and voids.
    CONSTRAINT svc_trans_drawn_on_auth
        CHECK (request_type = 'auth' OR (amount_deposited = 0 AND amount_voided = 0))
) WITH (fillfactor = 80);
-- As for cc_auth_trans after 003: no index on status (its updates stay HOT); open work is found
-- through required_response, time ranges through the BRIN index.
CREATE INDEX svc_trans_order ON svc_trans (company, order_number, pay_seq);
CREATE INDEX svc_trans_received ON svc_trans USING brin (received_at);
CREATE INDEX svc_trans_card_hash ON svc_trans (card_hash) WHERE card_hash IS NOT NULL;
CREATE INDEX svc_trans_ref ON svc_trans (ref_request_id) WHERE ref_request_id IS NOT NULL;
COMMENT ON INDEX svc_trans_received IS 'BRIN on received_at: time-range questions (today''s outcomes, rows stuck in sent) without an index write on every update (as for cc_auth_trans, 003).';
COMMENT ON INDEX svc_trans_card_hash IS 'A card''s stored value transactions, by the keyed hash of its number.';
COMMENT ON INDEX svc_trans_ref IS 'The deposits and voids of an authorization.';
COMMENT ON TABLE svc_trans IS 'One row per stored value card request (paylink-svc): generate, activate, recharge, auth, deposit, return or balance, recorded before the bureau call and updated with its answer. request_id is the idempotency key. Modeled on CC Authorization Trans with the fields of the Customer Engagement stored value messages.';
COMMENT ON COLUMN svc_trans.request_id IS 'Idempotency key from the upstream system.';
COMMENT ON COLUMN svc_trans.fingerprint IS 'Keyed hash of the request content: a redelivery has the same, a reused request_id with other content does not (refused as a conflict).';
COMMENT ON COLUMN svc_trans.request_type IS 'Request type: generate (a virtual card number), activate (a physical card), recharge (activate a virtual card, or add value), auth, deposit, return (credit the card), balance (inquiry).';
COMMENT ON COLUMN svc_trans.operation IS 'What was sent to the bureau: svc_generate (GenerateCard), svc_activate (ActivateInstrumentRequest), svc_recharge (RechargeRequest), svc_preauth (PreauthorizationRequest), svc_postauth (PostauthorizationRequest), svc_return (ReturnRequest), svc_inquiry (InquiryRequest), svc_void (VoidRequest); blank when the request was refused before any call.';
COMMENT ON COLUMN svc_trans.company IS 'Company number.';
COMMENT ON COLUMN svc_trans.order_number IS 'Order number (the RTPTransactionID of the Customer Engagement messages).';
COMMENT ON COLUMN svc_trans.pay_seq IS 'Order payment method sequence.';
COMMENT ON COLUMN svc_trans.service_bureau IS 'Service bureau code (auth_service).';
COMMENT ON COLUMN svc_trans.pay_type IS 'Pay type code of the request.';
COMMENT ON COLUMN svc_trans.auth_mode IS 'online or batch (an authorization; with J19, auth_service.balance_inquiry_batch, a batch authorization asks for the balance first).';
COMMENT ON COLUMN svc_trans.amount IS 'Amount requested (the RTPAmount sent); NULL for a generate or a balance inquiry.';
COMMENT ON COLUMN svc_trans.currency IS 'ISO 4217 currency of the amount.';
COMMENT ON COLUMN svc_trans.card_masked IS 'Card number masked as the seed masks stored value cards: stars and the last four digits (************1234); blank while a generate has no card.';
COMMENT ON COLUMN svc_trans.card_hash IS 'HMAC-SHA256 of the card number with the paylink hash key (64 lowercase hex), for look-ups and the join to stored_value_card; NULL only for a generate that has no card (yet).';
COMMENT ON COLUMN svc_trans.order_line IS 'Order line of the stored value card item (generate, activate, recharge); NULL when none.';
COMMENT ON COLUMN svc_trans.issue_amount IS 'Issue amount of the card (generate, activate, recharge: the Issue amount of the Stored Value Card table); NULL when none.';
COMMENT ON COLUMN svc_trans.is_virtual IS 'True when the card is virtual (activated with a Recharge request), false for a physical card (ActivateInstrument).';
COMMENT ON COLUMN svc_trans.status IS 'received (recorded, not sent), sent (the bytes may have left; never re-sent blindly), unknown (no answer: see required_response), or a final outcome: approved (also a partial approval), declined, error. Final outcomes cannot be overwritten.';
COMMENT ON COLUMN svc_trans.vendor_response IS 'Vendor response code (vendor_response.response_code) the answer mapped to: its ErrorCode by relate_response, else its reason code by orce_code (seed); SU when the bureau was unreachable.';
COMMENT ON COLUMN svc_trans.error_code IS 'Customer Engagement ErrorCode of a declined answer (e.g. ALL_CARDS_GENERATED, the seed''s "Relate response"); blank when none.';
COMMENT ON COLUMN svc_trans.reason_code IS 'Customer Engagement reason code of the answer (Reason/Code, e.g. 24 for a PreauthorizationResponse, the seed''s "ORCE response"); blank when none.';
COMMENT ON COLUMN svc_trans.amount_approved IS 'Amount the bureau authorized, activated, recharged, deposited or returned (SVAAmount); less than amount for a partial approval.';
COMMENT ON COLUMN svc_trans.amount_deposited IS 'On an authorization: the amount later deposits (Postauthorization) took from it; 0 on other rows.';
COMMENT ON COLUMN svc_trans.amount_voided IS 'On an authorization: the amount later voids (VoidRequest) released from it; 0 on other rows.';
COMMENT ON COLUMN svc_trans.svc_transaction_id IS 'SVATransactionID of the answer: the bureau''s id of the transaction, which a Postauthorization or a Void of an authorization names.';
COMMENT ON COLUMN svc_trans.auth_number IS 'AuthNumber of the answer.';
COMMENT ON COLUMN svc_trans.auth_date IS 'TransactionDateTime of the answer, as the bureau reported it.';
COMMENT ON COLUMN svc_trans.account_id IS 'AccountID of the answer: the card''s account in Customer Engagement.';
COMMENT ON COLUMN svc_trans.balance IS 'The card''s balance in the answer (AccountState/Balance); NULL when the answer had none.';
COMMENT ON COLUMN svc_trans.ref_request_id IS 'request_id of the authorization (svc_trans) a deposit or a void draws on; NULL otherwise.';
COMMENT ON COLUMN svc_trans.hold_reason IS 'Order hold reason from vendor_response (AT, ...).';
COMMENT ON COLUMN svc_trans.error_text IS 'Why a call failed or was refused (the ResponseDescription of a declined answer, a transport error), for operators; never contains card data.';
COMMENT ON COLUMN svc_trans.reply IS 'The reply published to the upstream system, re-sent as is (with replayed=true) for a redelivered request.';
COMMENT ON COLUMN svc_trans.followups IS 'Messages published with the reply (JSON array of {topic, key, payload}), re-published when the request is redelivered; NULL when none.';
COMMENT ON COLUMN svc_trans.received_at IS 'When the request was recorded.';
COMMENT ON COLUMN svc_trans.sent_at IS 'When the request was marked sent, just before the bytes left.';
COMMENT ON COLUMN svc_trans.answered_at IS 'When the outcome was recorded.';
COMMENT ON COLUMN svc_trans.sent_by IS 'The send attempt that marked the row sent: <PAYLINK_INSTANCE (at most 95 characters)>/<counter>, so a mark re-sent after a lost database connection is recognised as its own.';
COMMENT ON CONSTRAINT svc_trans_card_known ON svc_trans IS 'Every stored value request names its card (card_hash), except a generate, which asks the bureau for one.';
COMMENT ON CONSTRAINT svc_trans_drawn_on_auth ON svc_trans IS 'Only an authorization has amounts deposited or voided against it.';

CREATE TRIGGER svc_trans_keep_final BEFORE UPDATE OF status ON svc_trans
    FOR EACH ROW EXECUTE FUNCTION paylink_keep_final_status();
-- A late answer closes its required response (012_late_answers.sql).
CREATE TRIGGER svc_trans_close_required_response
    AFTER UPDATE OF status ON svc_trans FOR EACH ROW
    WHEN (OLD.status = 'unknown' AND NEW.status IN ('approved', 'declined', 'error'))
    EXECUTE FUNCTION paylink_close_required_response('svc');

-- ---- DBA views -------------------------------------------------------------------------------

-- 006's columns, in their order and types, with the stored value rows after them.
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
SELECT * FROM order_reversal_history
UNION ALL
SELECT s.company, s.order_number, s.pay_seq, s.received_at, 'stored value'::text,
       s.request_id, s.request_type, s.status, s.amount, s.amount_approved, s.currency,
       s.vendor_response, s.svc_transaction_id::varchar(64), s.card_masked
  FROM svc_trans s;
COMMENT ON VIEW order_payment_history IS 'An order''s payment history (filter on company and order_number, ORDER BY at): authorizations, deposits (operation = request type debit/credit, amount_approved = amount deposited; cc_deposit_trans.operation tells capture from auth_capture), reversals (amount_approved = amount reversed) and stored value card requests (kind ''stored value'': operation = request type generate/activate/recharge/auth/deposit/return/balance, amount_approved = what the bureau authorized, activated, recharged, deposited or returned, transaction_id = SVATransactionID, card masked as stars and the last four).';

CREATE VIEW svc_card_activity AS
SELECT t.received_at, t.request_id, t.request_type, t.operation, t.status,
       t.company, t.order_number, t.pay_seq, t.service_bureau, t.card_masked,
       t.amount, t.amount_approved, t.currency, t.balance, t.vendor_response, t.error_code,
       t.reason_code, t.hold_reason, t.svc_transaction_id, t.auth_number, t.account_id,
       t.ref_request_id, t.answered_at,
       c.card_id, c.status AS card_status, c.virtual AS card_virtual,
       c.issue_amount AS card_issue_amount, c.activation_date AS card_activation_date,
       c.response_code AS card_response_code, c.order_number AS card_order_number,
       c.order_line AS card_order_line
  FROM svc_trans t
  LEFT JOIN stored_value_card c
    ON c.service_bureau = t.service_bureau AND c.card_hash = t.card_hash
 ORDER BY t.received_at DESC, t.request_id;
COMMENT ON VIEW svc_card_activity IS 'Stored value activity, newest first: every svc_trans row with the stored_value_card it concerns (joined on service bureau and card hash; the card_* columns are NULL for a card paylink did not sell, e.g. one used only as payment, and for a generate without a card). Cards show masked only (stars and the last four); filter on card_masked, order_number or request_id.';
