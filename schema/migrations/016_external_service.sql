-- 016: the External Payment Service (EXT) settings of seed external-payment-service.txt, the pay
-- types that name a service bureau (WPAY), the one company setting REVXAHP needs (M25), and the
-- audit of every change to a service bureau's settings.
--
-- The seed's "External Service Settings" (Work with External Authorization Service) are a
-- screen of their own beside WASV, so they are a child table of auth_service, one row per EXT
-- bureau. Like auth_service.secret_ref, the Authentication Password is stored as a reference
-- (env:, file:, file-env:), never as a value. The seed tracks "changes that users make to
-- external service settings ... in the User Audit table": auth_service_audit, written by
-- triggers, so a change is recorded whoever makes it (paylinkctl bureau set, the only supported
-- way, names its operator in the setting paylink.changed_by; anything else is recorded under
-- its database user).

-- ---- WASV "Supports Auth Resubmission" ---------------------------------------------------------

ALTER TABLE auth_service
    ADD COLUMN supports_auth_resubmission boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN auth_service.supports_auth_resubmission IS 'WASV "Supports Auth Resubmission" (seed external-payment-service.txt): when a deposit of a credit card failed, the subsequent authorization is sent with subsequentAuthReason RESUBMIT; without it REAUTH.';

-- ---- the External Service Settings --------------------------------------------------------------

CREATE TABLE external_service (
    service_bureau     varchar(8)   PRIMARY KEY REFERENCES auth_service ON DELETE CASCADE,
    enabled            boolean      NOT NULL DEFAULT false,
    url_prefix         varchar(300) NOT NULL
                       CHECK (url_prefix ~ '^https://[^/[:space:][:cntrl:]]+(/[^[:space:][:cntrl:]]*)?$'),
    message_version    varchar(7)   NOT NULL DEFAULT '3.0' CHECK (message_version = '3.0'),
    -- RFC 7617: the user of HTTP Basic authentication cannot contain a colon.
    auth_user          varchar(60)  NOT NULL CHECK (auth_user <> '' AND auth_user !~ '[:[:cntrl:]]'),
    auth_password_ref  varchar(200) NOT NULL
                       CHECK (auth_password_ref ~ '^(env:|file:|file-env:)[^[:cntrl:]]+$'),
    token_url          varchar(300) NOT NULL
                       CHECK (token_url ~ '^https://[^/[:space:][:cntrl:]]+(/[^[:space:][:cntrl:]]*)?$'),
    updated_at         timestamptz  NOT NULL DEFAULT now()
);
COMMENT ON TABLE external_service IS 'External Service Settings of a service bureau of protocol EXT (seed external-payment-service.txt, "Work with External Authorization Service"): where and how paylink calls the External Payment Service. All fields are required except the External Service flag, as the seed says. Read only for protocol EXT; an EXT bureau without a row, with the flag off, or whose settings fail the checks of services.c is loaded but its calls are refused. Changed with paylinkctl bureau set (every change is recorded in auth_service_audit).';
COMMENT ON COLUMN external_service.service_bureau IS 'The service bureau (auth_service) these settings belong to; deleted with it.';
COMMENT ON COLUMN external_service.enabled IS 'Seed "External Service" flag: request messages are generated for the External Payment Service only when selected. false = the bureau''s calls are refused.';
COMMENT ON COLUMN external_service.url_prefix IS 'Seed "External URL Prefix": the beginning of the URL messages are sent to; the message type''s endpoint (authorization, reversal, getToken, ...) is appended after exactly one "/". Must begin with https:// (seed).';
COMMENT ON COLUMN external_service.message_version IS 'Seed "Message Version": 3.0, the default and the only version left (tokens instead of card numbers, credit cards and stored value cards, subsequent authorization tags).';
COMMENT ON COLUMN external_service.auth_user IS 'Seed "Authentication User": the user of the messages to the external service, the OAuth 2 client id (HTTP Basic user of the token request; no colon).';
COMMENT ON COLUMN external_service.auth_password_ref IS 'Where the seed''s "Authentication Password" (the OAuth 2 client secret) is read from: env:NAME, file:/path or file-env:NAME, as auth_service.secret_ref. Never the password itself. The password must be at least 6 characters long, contain a letter, a digit and a special (non-alphanumeric) character, and not end in a digit (seed); a weaker one makes the bureau unusable, and paylinkctl bureau set refuses it.';
COMMENT ON COLUMN external_service.token_url IS 'The OAuth 2 token endpoint (client credentials grant) where paylink obtains the access token it sends with every message (https only).';
COMMENT ON COLUMN external_service.updated_at IS 'When the row was last changed (kept by a trigger).';

CREATE TRIGGER external_service_touch BEFORE UPDATE ON external_service
    FOR EACH ROW EXECUTE FUNCTION paylink_touch_updated_at();
-- auth_service had no trigger: updated_at was whatever the writer set.
CREATE TRIGGER auth_service_touch BEFORE UPDATE ON auth_service
    FOR EACH ROW EXECUTE FUNCTION paylink_touch_updated_at();
COMMENT ON COLUMN auth_service.updated_at IS 'When the row was last changed (kept by a trigger).';

-- ---- pay types (WPAY) and the company setting REVXAHP reads -------------------------------------

CREATE TABLE pay_type (
    company              integer     NOT NULL CHECK (company BETWEEN 1 AND 999),
    pay_type             varchar(4)  NOT NULL CHECK (pay_type ~ '^[^[:space:][:cntrl:]]+$'),
    description          varchar(30) NOT NULL DEFAULT '',
    kind                 varchar(3)  NOT NULL CHECK (kind IN ('CC', 'SVC')),
    service_bureau       varchar(8)  NOT NULL REFERENCES auth_service,
    notify_installments  boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (company, pay_type)
);
CREATE INDEX pay_type_service_bureau ON pay_type (service_bureau);
COMMENT ON INDEX pay_type_service_bureau IS 'The pay types of a service bureau (and the foreign key''s check when a bureau is deleted).';
COMMENT ON TABLE pay_type IS 'Pay types of a company (WPAY, "Working with Pay Types"): whether a pay type is a credit card or a stored value card and which authorization service it is assigned to (the seed assigns "the authorization and deposit service"; paylink uses one bureau for both). A bureau with pay types assigned cannot be deleted. The requests'' pay_type names a row here; paylinkctl svc reverse-unused checks its pay type against it (seed REVXAHP).';
COMMENT ON COLUMN pay_type.company IS 'Company number.';
COMMENT ON COLUMN pay_type.pay_type IS 'Pay type code, as requests name it (pay_type; VI, MC, GC, ...).';
COMMENT ON COLUMN pay_type.description IS 'Operator-facing name of the pay type.';
COMMENT ON COLUMN pay_type.kind IS 'CC = credit card, SVC = stored value card.';
COMMENT ON COLUMN pay_type.service_bureau IS 'The authorization (and deposit) service the pay type is assigned to (auth_service).';
COMMENT ON COLUMN pay_type.notify_installments IS 'WPAY "Notify of installments": a subsequent authorization of a deferred or installment billing order is sent through the External Payment Service with subsequentAuthReason INSTALLMENT instead of REAUTH (seed external-payment-service.txt).';

CREATE TABLE company_setting (
    company               integer    PRIMARY KEY CHECK (company BETWEEN 1 AND 999),
    m25_netting_pay_type  varchar(4),
    FOREIGN KEY (company, m25_netting_pay_type) REFERENCES pay_type (company, pay_type)
);
COMMENT ON TABLE company_setting IS 'System control values of a company that paylink reads, one row per company (no row = every value unset). Only the ones paylink needs are here.';
COMMENT ON COLUMN company_setting.company IS 'Company number.';
COMMENT ON COLUMN company_setting.m25_netting_pay_type IS 'System control value M25 "Default Auth Code for CC Netting": a pay type of the company (pay_type), or NULL when unset. Seed REVXAHP: paylinkctl svc reverse-unused refuses this pay type.';

-- ---- the audit of service bureau settings -------------------------------------------------------

CREATE TABLE auth_service_audit (
    id              bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_bureau  varchar(8)   NOT NULL,
    table_name      varchar(63)  NOT NULL CHECK (table_name IN ('auth_service', 'external_service')),
    field           varchar(63)  NOT NULL,
    action          varchar(6)   NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    old_value       text,
    new_value       text,
    changed_by      varchar(100) NOT NULL,
    changed_at      timestamptz  NOT NULL DEFAULT now(),
    txid            bigint       NOT NULL DEFAULT txid_current()
);
CREATE INDEX auth_service_audit_bureau ON auth_service_audit (service_bureau, changed_at);
COMMENT ON INDEX auth_service_audit_bureau IS 'The changes of one bureau in time order.';
COMMENT ON TABLE auth_service_audit IS 'Every change to a service bureau''s settings (auth_service and external_service), one row per changed column, written by triggers whoever changes them (seed external-payment-service.txt: changes to external service settings are tracked in the User Audit table). Rows are never updated. Secret references are recorded as they are (they name where a secret is, not the secret); no table holds a password. Read it through auth_service_changes or paylinkctl bureau audit.';
COMMENT ON COLUMN auth_service_audit.id IS 'Order of the changes.';
COMMENT ON COLUMN auth_service_audit.service_bureau IS 'Service bureau code (no foreign key: the audit of a deleted bureau stays).';
COMMENT ON COLUMN auth_service_audit.table_name IS 'The table changed: auth_service (WASV) or external_service (External Service Settings).';
COMMENT ON COLUMN auth_service_audit.field IS 'The column changed (updated_at, kept by a trigger, is not recorded).';
COMMENT ON COLUMN auth_service_audit.action IS 'insert (a new row: every column with a value but the code), update (a column whose value changed), delete (the row removed: every column that had a value but the code).';
COMMENT ON COLUMN auth_service_audit.old_value IS 'The value before, as text (booleans true/false); NULL for an insert or a column that was NULL.';
COMMENT ON COLUMN auth_service_audit.new_value IS 'The value after, as text; NULL for a delete or a column set to NULL.';
COMMENT ON COLUMN auth_service_audit.changed_by IS 'Who changed it: the setting paylink.changed_by of the transaction (paylinkctl bureau set --by NAME sets it with set_config(..., true)), else the database user (session_user).';
COMMENT ON COLUMN auth_service_audit.changed_at IS 'When: the start of the changing transaction.';
COMMENT ON COLUMN auth_service_audit.txid IS 'The changing transaction (txid_current()): the rows of one change share it.';

CREATE FUNCTION paylink_audit_auth_service() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    who text := left(coalesce(nullif(current_setting('paylink.changed_by', true), ''),
                              session_user::text), 100);
    k text;
BEGIN
    FOR k IN SELECT jsonb_object_keys(coalesce(n, o)) LOOP
        CONTINUE WHEN k = 'updated_at';
        CONTINUE WHEN TG_OP = 'UPDATE' AND (o -> k) IS NOT DISTINCT FROM (n -> k);
        -- A new or removed row: its values; the code is the row's service_bureau already.
        CONTINUE WHEN TG_OP <> 'UPDATE' AND (k = 'service_bureau'
                                              OR jsonb_typeof(coalesce(n, o) -> k) = 'null');
        -- A column holding a secret itself never exists; should one appear, its value is not
        -- copied here (references, *_ref, are recorded).
        INSERT INTO auth_service_audit (service_bureau, table_name, field, action, old_value,
                                        new_value, changed_by)
        VALUES (coalesce(n, o) ->> 'service_bureau', TG_TABLE_NAME, k, lower(TG_OP),
                CASE WHEN k ~* '(password|secret)' AND k !~ '_ref$' AND o ? k
                     THEN '(not recorded)' ELSE o ->> k END,
                CASE WHEN k ~* '(password|secret)' AND k !~ '_ref$' AND n ? k
                     THEN '(not recorded)' ELSE n ->> k END,
                who);
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_audit_auth_service() IS 'Trigger function (AFTER INSERT, UPDATE, DELETE on auth_service and external_service): one auth_service_audit row per changed column, by paylink.changed_by or else the database user. Values of a column named like a password or secret that is not a reference (*_ref) are not copied.';

CREATE TRIGGER auth_service_audit AFTER INSERT OR UPDATE OR DELETE ON auth_service
    FOR EACH ROW EXECUTE FUNCTION paylink_audit_auth_service();
CREATE TRIGGER external_service_audit AFTER INSERT OR UPDATE OR DELETE ON external_service
    FOR EACH ROW EXECUTE FUNCTION paylink_audit_auth_service();

CREATE FUNCTION paylink_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auth_service_audit is append-only: a recorded change is never rewritten'
        USING ERRCODE = 'insufficient_privilege';
END $$;
COMMENT ON FUNCTION paylink_audit_is_append_only() IS 'Trigger function: refuses to update a row of auth_service_audit (a retention job may delete old rows).';
CREATE TRIGGER auth_service_audit_append_only BEFORE UPDATE ON auth_service_audit
    FOR EACH ROW EXECUTE FUNCTION paylink_audit_is_append_only();

CREATE VIEW auth_service_changes AS
SELECT a.changed_at, a.changed_by, a.service_bureau,
       CASE a.table_name WHEN 'external_service' THEN 'ext.' || a.field ELSE a.field END
           AS setting,
       a.action, a.old_value, a.new_value, a.id, a.txid
  FROM auth_service_audit a
 ORDER BY a.changed_at DESC, a.id DESC;
COMMENT ON VIEW auth_service_changes IS 'Changes to service bureau settings, newest first: when, by whom, which bureau, the setting under the name paylinkctl bureau set uses (ext.url_prefix for an External Service Setting, else the auth_service column), the action and the value before and after (NULL: none). Filter on service_bureau or changed_by; rows sharing txid were one change.';

-- ---- 015's listing covers EXT too -----------------------------------------------------------------

COMMENT ON COLUMN svc_unused_void.service_bureau IS 'Service bureau of the authorization (protocol RLT or EXT); the reversal''s service.';
