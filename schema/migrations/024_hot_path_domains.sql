-- 024: the value rules of the hot tables move from table CHECK constraints to domains.
--
-- Why: PostgreSQL evaluates a table's CHECK constraints from their stored text: every INSERT
-- and UPDATE statement execution reads each constraint's expression tree back (stringToNode)
-- and plans it again (ExecRelCheck), for every constraint, whichever columns the statement
-- changes. A profile of the PostgreSQL backend serving paylink-auth at 512 requests in flight
-- (issue 12) put 41 % of its CPU there: cc_auth_trans is written three times per
-- authorization (insert, mark sent, answer) and carries ten constraints whose IN lists are
-- arrays of varchar constants. A domain's constraints are parsed and planned once per backend
-- (the type cache keeps them) and are checked only for the columns a statement assigns. Same
-- rules, same SQLSTATE on a violation (23514, check_violation); measured on one UPDATE of
-- cc_auth_trans: 235 µs with the table constraints, 143 µs with domains (as without any).
--
-- Rules over several columns stay table constraints (cc_auth_trans_check, svc_trans_card_known,
-- ...), as do amounts (numeric(…) columns whose constants are cheap to read).
--
-- Changing a column's type to a domain with constraints rewrites the table (each row is
-- checked); views and triggers that use the columns cannot stay meanwhile, so the block at the
-- end saves the dependent views (definition and comment) and the tables' triggers, drops them,
-- changes the types and creates them again exactly as they were. On a large production table
-- this is an ACCESS EXCLUSIVE rewrite: run it in a maintenance window (README, Performance).

CREATE DOMAIN paylink_company AS integer CHECK (VALUE BETWEEN 1 AND 999);
CREATE DOMAIN paylink_pay_seq AS integer CHECK (VALUE >= 1);
CREATE DOMAIN paylink_order_line AS integer CHECK (VALUE >= 1);
CREATE DOMAIN paylink_exp_month AS smallint CHECK (VALUE BETWEEN 1 AND 12);
CREATE DOMAIN paylink_auth_mode AS varchar(6) CHECK (VALUE IN ('online', 'batch'));
CREATE DOMAIN paylink_txn_status AS varchar(10)
    CHECK (VALUE IN ('received', 'sent', 'approved', 'declined', 'review', 'rejected', 'error',
                     'unknown'));
CREATE DOMAIN paylink_svc_status AS varchar(10)
    CHECK (VALUE IN ('received', 'sent', 'approved', 'declined', 'error', 'unknown'));
CREATE DOMAIN paylink_history_status AS varchar(10)
    CHECK (VALUE IN ('approved', 'declined', 'review', 'rejected', 'error', 'voided',
                     'reversed'));
CREATE DOMAIN paylink_auth_request_type AS varchar(10) CHECK (VALUE IN ('auth', 'token'));
CREATE DOMAIN paylink_auth_operation AS varchar(16)
    CHECK (VALUE IN ('', 'auth', 'token', 'token_auth'));
CREATE DOMAIN paylink_initiator AS varchar(10) CHECK (VALUE IN ('CARDHOLDER', 'MERCHANT'));
CREATE DOMAIN paylink_sub_auth_reason AS varchar(12)
    CHECK (VALUE IN ('RESUBMIT', 'REAUTH', 'INSTALLMENT'));
CREATE DOMAIN paylink_history_type AS varchar(12)
    CHECK (VALUE IN ('auth', 'token', 'token_auth', 'auth_capture'));
CREATE DOMAIN paylink_void_reason AS varchar(16)
    CHECK (VALUE IN ('', 'auth_capture', 'void_at_deposit'));
CREATE DOMAIN paylink_deposit_request_type AS varchar(10) CHECK (VALUE IN ('debit', 'credit'));
CREATE DOMAIN paylink_deposit_operation AS varchar(16)
    CHECK (VALUE IN ('', 'capture', 'credit', 'auth_capture'));
CREATE DOMAIN paylink_deposit_status AS varchar(6)
    CHECK (VALUE IN ('', '*SENT', '*RCVD', '*CONF', '*RESB'));
CREATE DOMAIN paylink_deposit_event AS varchar(12)
    CHECK (VALUE IN ('answered', 'received', 'confirmed', 'resubmitted'));
CREATE DOMAIN paylink_reversal_operation AS varchar(16)
    CHECK (VALUE IN ('', 'reversal', 'svc_void'));
CREATE DOMAIN paylink_svc_request_type AS varchar(10)
    CHECK (VALUE IN ('generate', 'activate', 'recharge', 'auth', 'deposit', 'return',
                     'balance'));
CREATE DOMAIN paylink_svc_operation AS varchar(16)
    CHECK (VALUE IN ('', 'svc_generate', 'svc_activate', 'svc_recharge', 'svc_preauth',
                     'svc_postauth', 'svc_return', 'svc_inquiry', 'svc_void'));
CREATE DOMAIN paylink_card_hash AS char(64) CHECK (VALUE ~ '^[0-9a-f]{64}$');
CREATE DOMAIN paylink_currency AS char(3) CHECK (VALUE ~ '^[A-Z]{3}$');
CREATE DOMAIN paylink_svc_card_masked AS varchar(24) CHECK (VALUE ~ '^([*]+[0-9]{0,4})?$');

COMMENT ON DOMAIN paylink_txn_status IS 'Status of a credit card transaction row (cc_auth_trans, cc_deposit_trans, auth_reversal).';
COMMENT ON DOMAIN paylink_svc_status IS 'Status of a stored value request row (svc_trans).';
COMMENT ON DOMAIN paylink_history_status IS 'Status of an authorization in auth_history.';

DO $$
DECLARE
    -- table, column, domain, the table constraint the domain replaces
    changes constant text[][] := ARRAY[
        ['cc_auth_trans', 'company', 'paylink_company', 'cc_auth_trans_company_check'],
        ['cc_auth_trans', 'pay_seq', 'paylink_pay_seq', 'cc_auth_trans_pay_seq_check'],
        ['cc_auth_trans', 'exp_month', 'paylink_exp_month', 'cc_auth_trans_exp_month_check'],
        ['cc_auth_trans', 'auth_mode', 'paylink_auth_mode', 'cc_auth_trans_auth_mode_check'],
        ['cc_auth_trans', 'status', 'paylink_txn_status', 'cc_auth_trans_status_check'],
        ['cc_auth_trans', 'request_type', 'paylink_auth_request_type',
         'cc_auth_trans_request_type_check'],
        ['cc_auth_trans', 'operation', 'paylink_auth_operation', 'cc_auth_trans_operation_check'],
        ['cc_auth_trans', 'initiator', 'paylink_initiator', 'cc_auth_trans_initiator_check'],
        ['cc_auth_trans', 'sub_auth_reason', 'paylink_sub_auth_reason',
         'cc_auth_trans_sub_auth_reason_check'],
        ['auth_history', 'status', 'paylink_history_status', 'auth_history_status_check'],
        ['auth_history', 'transaction_type', 'paylink_history_type',
         'auth_history_transaction_type_check'],
        ['auth_history', 'void_reason', 'paylink_void_reason', 'auth_history_void_reason_check'],
        ['cc_deposit_trans', 'company', 'paylink_company', 'cc_deposit_trans_company_check'],
        ['cc_deposit_trans', 'pay_seq', 'paylink_pay_seq', 'cc_deposit_trans_pay_seq_check'],
        ['cc_deposit_trans', 'status', 'paylink_txn_status', 'cc_deposit_trans_status_check'],
        ['cc_deposit_trans', 'request_type', 'paylink_deposit_request_type',
         'cc_deposit_trans_request_type_check'],
        ['cc_deposit_trans', 'operation', 'paylink_deposit_operation',
         'cc_deposit_trans_operation_check'],
        ['cc_deposit_trans', 'deposit_status', 'paylink_deposit_status',
         'cc_deposit_trans_deposit_status_check'],
        ['cc_deposit_history', 'event', 'paylink_deposit_event', 'cc_deposit_history_event_check'],
        ['auth_reversal', 'company', 'paylink_company', 'auth_reversal_company_check'],
        ['auth_reversal', 'pay_seq', 'paylink_pay_seq', 'auth_reversal_pay_seq_check'],
        ['auth_reversal', 'status', 'paylink_txn_status', 'auth_reversal_status_check'],
        ['auth_reversal', 'operation', 'paylink_reversal_operation',
         'auth_reversal_operation_check'],
        ['svc_trans', 'company', 'paylink_company', 'svc_trans_company_check'],
        ['svc_trans', 'pay_seq', 'paylink_pay_seq', 'svc_trans_pay_seq_check'],
        ['svc_trans', 'order_line', 'paylink_order_line', 'svc_trans_order_line_check'],
        ['svc_trans', 'auth_mode', 'paylink_auth_mode', 'svc_trans_auth_mode_check'],
        ['svc_trans', 'status', 'paylink_svc_status', 'svc_trans_status_check'],
        ['svc_trans', 'request_type', 'paylink_svc_request_type', 'svc_trans_request_type_check'],
        ['svc_trans', 'operation', 'paylink_svc_operation', 'svc_trans_operation_check'],
        ['svc_trans', 'card_hash', 'paylink_card_hash', 'svc_trans_card_hash_check'],
        ['svc_trans', 'currency', 'paylink_currency', 'svc_trans_currency_check'],
        ['svc_trans', 'card_masked', 'paylink_svc_card_masked', 'svc_trans_card_masked_check']];
    tables constant text[] := ARRAY['cc_auth_trans', 'auth_history', 'cc_deposit_trans',
                                    'cc_deposit_history', 'auth_reversal', 'svc_trans'];
    r record;
    left_over int;
    progress boolean;
BEGIN
    -- The views that read the tables, directly or through another view.
    CREATE TEMP TABLE pl024_views ON COMMIT DROP AS
    WITH RECURSIVE dep(oid) AS (
        SELECT DISTINCT rw.ev_class
          FROM pg_depend d
          JOIN pg_rewrite rw ON rw.oid = d.objid
         WHERE d.classid = 'pg_rewrite'::regclass
           AND d.refobjid IN (SELECT t::regclass FROM unnest(tables) t)
        UNION
        SELECT rw.ev_class
          FROM dep
          JOIN pg_depend d ON d.refobjid = dep.oid AND d.classid = 'pg_rewrite'::regclass
          JOIN pg_rewrite rw ON rw.oid = d.objid
         WHERE rw.ev_class <> dep.oid)
    SELECT c.oid, c.relname::text AS name, pg_get_viewdef(c.oid) AS def,
           obj_description(c.oid, 'pg_class') AS descr, false AS done
      FROM dep JOIN pg_class c ON c.oid = dep.oid
     WHERE c.relkind = 'v';
    IF EXISTS (SELECT 1 FROM pl024_views v JOIN pg_class c ON c.oid = v.oid
                WHERE c.relacl IS NOT NULL) THEN
        RAISE EXCEPTION 'migration 024: a view over the hot tables has grants; move them by hand';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_description d JOIN pl024_views v ON v.oid = d.objoid
                WHERE d.objsubid > 0) THEN
        RAISE EXCEPTION 'migration 024: a view over the hot tables has column comments';
    END IF;

    -- The tables' own triggers (their WHEN clauses and column lists name the columns).
    CREATE TEMP TABLE pl024_triggers ON COMMIT DROP AS
    SELECT tg.tgrelid::regclass::text AS tab, tg.tgname::text AS name,
           pg_get_triggerdef(tg.oid) AS def, obj_description(tg.oid, 'pg_trigger') AS descr
      FROM pg_trigger tg
     WHERE NOT tg.tgisinternal AND tg.tgrelid IN (SELECT t::regclass FROM unnest(tables) t);

    FOR r IN SELECT name FROM pl024_views LOOP
        EXECUTE format('DROP VIEW IF EXISTS %I CASCADE', r.name);
    END LOOP;
    FOR r IN SELECT tab, name FROM pl024_triggers LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', r.name, r.tab);
    END LOOP;

    FOR i IN 1 .. array_length(changes, 1) LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I, ALTER COLUMN %I TYPE %I',
                       changes[i][1], changes[i][4], changes[i][2], changes[i][3]);
    END LOOP;

    FOR r IN SELECT def, descr, name FROM pl024_triggers LOOP
        EXECUTE r.def;
        IF r.descr IS NOT NULL THEN
            EXECUTE format('COMMENT ON TRIGGER %I ON %I IS %L', r.name,
                           (SELECT tab FROM pl024_triggers t WHERE t.name = r.name), r.descr);
        END IF;
    END LOOP;

    -- Views again; one that reads another waits for it (as many rounds as it takes).
    LOOP
        progress := false;
        FOR r IN SELECT name, def, descr FROM pl024_views WHERE NOT done ORDER BY oid LOOP
            BEGIN
                EXECUTE format('CREATE VIEW %I AS %s', r.name, r.def);
                IF r.descr IS NOT NULL THEN
                    EXECUTE format('COMMENT ON VIEW %I IS %L', r.name, r.descr);
                END IF;
                UPDATE pl024_views SET done = true WHERE name = r.name;
                progress := true;
            EXCEPTION WHEN undefined_table THEN
                NULL; -- it reads a view not created yet
            END;
        END LOOP;
        SELECT count(*) INTO left_over FROM pl024_views WHERE NOT done;
        EXIT WHEN left_over = 0;
        IF NOT progress THEN
            RAISE EXCEPTION 'migration 024: % view(s) could not be created again', left_over;
        END IF;
    END LOOP;
END $$;

-- The late-answer trigger of 012 (its function as 022 left it) is checked on every status
-- change of the four tables; its WHEN clause is read back from text for each statement like a
-- CHECK constraint, so it keeps only the cheap part (the row was unknown: rare) and the function
-- tests the new status.
CREATE OR REPLACE FUNCTION paylink_close_required_response() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status NOT IN ('approved', 'declined', 'review', 'rejected', 'error') THEN
        RETURN NULL;
    END IF;
    UPDATE required_response
       SET status = 'resolved',
           resolution = CASE NEW.status WHEN 'approved' THEN 'approved'
                                        WHEN 'error' THEN 'error' ELSE 'declined' END,
           resolved_how = 'late_answer',
           resolved_by = 'paylink-' || TG_ARGV[0],
           resolution_note = 'the bureau''s answer arrived after the outcome was reported unknown',
           resolved_at = now(),
           lease_owner = NULL, lease_until = NULL
     WHERE worker = TG_ARGV[0] AND request_id = NEW.request_id AND status IN ('open', 'escalated');
    RETURN NULL;
END $$;
DROP TRIGGER cc_auth_trans_close_required_response ON cc_auth_trans;
CREATE TRIGGER cc_auth_trans_close_required_response
    AFTER UPDATE OF status ON cc_auth_trans FOR EACH ROW WHEN (OLD.status = 'unknown')
    EXECUTE FUNCTION paylink_close_required_response('auth');
DROP TRIGGER cc_deposit_trans_close_required_response ON cc_deposit_trans;
CREATE TRIGGER cc_deposit_trans_close_required_response
    AFTER UPDATE OF status ON cc_deposit_trans FOR EACH ROW WHEN (OLD.status = 'unknown')
    EXECUTE FUNCTION paylink_close_required_response('deposit');
DROP TRIGGER auth_reversal_close_required_response ON auth_reversal;
CREATE TRIGGER auth_reversal_close_required_response
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW WHEN (OLD.status = 'unknown')
    EXECUTE FUNCTION paylink_close_required_response('reversal');
DROP TRIGGER svc_trans_close_required_response ON svc_trans;
CREATE TRIGGER svc_trans_close_required_response
    AFTER UPDATE OF status ON svc_trans FOR EACH ROW WHEN (OLD.status = 'unknown')
    EXECUTE FUNCTION paylink_close_required_response('svc');
