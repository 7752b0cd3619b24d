-- 025: the claim/settle triggers test their conditions in their functions instead of WHEN
-- clauses, and the amounts of the hot tables keep their value rules in domains (issue 12).
--
-- Why: like a CHECK constraint (024), a trigger's WHEN clause is stored as text and read back
-- (stringToNode) and planned again for every statement that updates the table's status, and the
-- cost grows with the clause's length: the IN lists of 009, 010 and 014 are about 3,000
-- characters each, auth_reversal carries two of them. A trigger without WHEN costs one call of
-- its plpgsql function per row instead, whose own IF is planned once per backend. Measured in
-- instructions of the PostgreSQL backend per request (valgrind; the workers' statements,
-- prepared, replayed in a single-user backend, 300 requests minus 100): a reversal of an
-- authorization 3.09 M -> 2.69 M, a stored value authorization + deposit + void 8.28 M ->
-- 7.49 M, an authorization + capture 3.24 M -> 3.08 M. Per trigger the choice was measured: a
-- short WHEN (one comparison, ~19 k instructions a statement) costs about what a function call
-- costs a row (~18 k), so the late-answer triggers keep theirs (024) and the keep-final trigger
-- keeps none; WHEN clauses with IN lists cost 40-100 k a statement, more than the call, and go
-- (a short WHEN in front of the svc void's IN lists measured worse than none). Each function
-- returns early (doing nothing) unless the condition its WHEN clause had holds: same rows
-- settled, same order of triggers (by name, unchanged).
--
-- The amounts' "not negative" rules (and svc_trans.claim_amount's "positive") move from table
-- CHECK constraints to domains, as 024 did for the other single-column rules: a table constraint
-- costs ~20 k instructions per statement that writes the table (auth_history is written by the
-- authorization, each claim, each settlement), a domain's rule is planned once per backend and
-- checked only where a value is assigned. Same rules, same SQLSTATE on a violation (23514).
-- Measured on top of the triggers: authorization 1.12 M -> 1.09 M, authorization + capture
-- -> 2.95 M, reversal -> 2.66 M, stored value -> 6.32 M instructions (-3 %, -9 %, -14 %, -24 %
-- in all). The rules over several columns stay table constraints.
--
-- Changing a column's type to a domain with constraints rewrites the table (each row is
-- checked, the indexes are built again); the views that read the columns cannot stay
-- meanwhile, so the block below saves them (definition and comment), drops them, changes the
-- types and creates them again exactly as they were (as 024 did). On a large production table
-- this is an ACCESS EXCLUSIVE rewrite: run it in a maintenance window with the workers stopped
-- (README, Performance).

-- ---- the claim/settle triggers: conditions in the functions ----------------------------------

-- 010 (its function as 010 left it): a deposit sent to the bureau reaches a final status.
CREATE OR REPLACE FUNCTION paylink_settle_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    claim    numeric(15,2) := coalesce(OLD.claim_amount, 0);
    captured numeric(15,2) := 0;
    mode     text := '';
    h        auth_history%ROWTYPE;
    voids    boolean;
BEGIN
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    IF NEW.request_type = 'credit' THEN
        IF OLD.claim_amount IS NOT NULL THEN
            UPDATE cc_deposit_trans
               SET amount_credited = greatest(amount_credited - (claim -
                       CASE WHEN NEW.status = 'approved'
                            THEN least(coalesce(NEW.amount_deposited, claim), claim)
                            ELSE 0 END), 0)
             WHERE request_id = NEW.capture_ref_request_id;
        END IF;
        RETURN NULL;
    END IF;
    SELECT * INTO h FROM auth_history WHERE id = NEW.auth_history_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL; -- a manual authorization paylink holds no row for
    END IF;
    IF NEW.status = 'approved' AND NEW.operation = 'capture' THEN
        captured := coalesce(NEW.amount_deposited, 0);
        IF (SELECT void_auth_at_deposit FROM auth_service
             WHERE service_bureau = NEW.service_bureau) THEN
            mode := 'void_at_deposit';
        END IF;
    ELSIF NEW.status = 'approved' AND NEW.operation = 'auth_capture' THEN
        mode := 'auth_capture';
    END IF;
    voids := coalesce(mode <> '' AND h.status IN ('approved', 'review')
                      AND h.amount_pending = claim
                      AND h.amount_authorized > h.amount_deposited + captured, false);
    UPDATE auth_history
       SET amount_pending = greatest(amount_pending - claim, 0),
           amount_deposited = amount_deposited + captured,
           amount_voided = CASE WHEN voids THEN amount_authorized - amount_deposited - captured
                                ELSE amount_voided END,
           void_reason = CASE WHEN voids THEN mode ELSE void_reason END,
           voided_by = CASE WHEN voids THEN NEW.request_id ELSE voided_by END,
           status = CASE WHEN voids THEN 'voided' ELSE status END
     WHERE id = h.id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_deposit() IS 'Trigger function (every status change of cc_deposit_trans; it does nothing unless the row goes from sent or unknown to a final status): when a deposit sent to the bureau reaches a final status, releases what it claimed (009), adds an approved capture to its authorization''s amount_deposited and voids the remainder (auth_capture always, void_at_deposit with Void auth at deposit) unless another deposit has a claim on it; a follow-on credit keeps only what it credited on its debit.';
DROP TRIGGER cc_deposit_trans_settle ON cc_deposit_trans;
CREATE TRIGGER cc_deposit_trans_settle
    AFTER UPDATE OF status ON cc_deposit_trans FOR EACH ROW
    EXECUTE FUNCTION paylink_settle_deposit();

-- 009: a reversal that claimed its authorization reaches a final status.
CREATE OR REPLACE FUNCTION paylink_release_reversal_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
        AND OLD.claim_amount IS NOT NULL) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    UPDATE auth_history SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0)
     WHERE id = NEW.auth_history_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_release_reversal_claim() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row claimed and goes from sent or unknown to a final status): when a reversal that claimed its authorization reaches a final status, releases the claim (an approved reversal has marked the authorization reversed by then).';
DROP TRIGGER auth_reversal_release_claim ON auth_reversal;
CREATE TRIGGER auth_reversal_release_claim
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW
    EXECUTE FUNCTION paylink_release_reversal_claim();

-- 014: a stored value void that claimed its authorization reaches a final status.
CREATE OR REPLACE FUNCTION paylink_settle_svc_void() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.operation = 'svc_void' AND OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'review', 'rejected', 'error')
        AND OLD.claim_amount IS NOT NULL) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    UPDATE svc_trans
       SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0),
           amount_voided = amount_voided +
               CASE WHEN NEW.status = 'approved'
                    THEN least(coalesce(NEW.amount_reversed, OLD.claim_amount), OLD.claim_amount)
                    ELSE 0 END
     WHERE request_id = NEW.auth_request_id AND request_type = 'auth';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_svc_void() IS 'Trigger function (every status change of auth_reversal; it does nothing unless the row is a stored value void that claimed and goes from sent or unknown to a final status): when a stored value void (auth_reversal, operation svc_void) that claimed its authorization reaches a final status, releases the claim and, when approved, adds what it released (at most the claim) to the authorization''s amount_voided.';
DROP TRIGGER auth_reversal_settle_svc_void ON auth_reversal;
CREATE TRIGGER auth_reversal_settle_svc_void
    AFTER UPDATE OF status ON auth_reversal FOR EACH ROW
    EXECUTE FUNCTION paylink_settle_svc_void();

-- 014 (its function as 018 left it): a stored value deposit that claimed reaches a final status.
CREATE OR REPLACE FUNCTION paylink_settle_svc_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    dep numeric(15,2);
BEGIN
    IF (NEW.request_type = 'deposit' AND OLD.status IN ('sent', 'unknown')
        AND NEW.status IN ('approved', 'declined', 'error')
        AND OLD.claim_amount IS NOT NULL) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    dep := CASE WHEN NEW.status = 'approved'
                THEN least(coalesce(NEW.amount_approved, OLD.claim_amount), OLD.claim_amount)
                ELSE 0 END;
    UPDATE svc_trans
       SET amount_pending = greatest(amount_pending - OLD.claim_amount, 0),
           amount_deposited = amount_deposited + dep,
           amount_voided = amount_voided +
               CASE WHEN NEW.status = 'approved' AND NEW.void_remainder
                    THEN greatest(amount_approved - (amount_deposited + dep) - amount_voided
                                  - greatest(amount_pending - OLD.claim_amount, 0), 0)
                    ELSE 0 END
     WHERE request_id = NEW.ref_request_id AND request_type = 'auth';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_settle_svc_deposit() IS 'Trigger function (every status change of svc_trans; it does nothing unless the row is a deposit that claimed and goes from sent or unknown to a final status): when a stored value deposit that claimed its authorization reaches a final status, releases the claim and, when approved, adds what it deposited (at most the claim) to the authorization''s amount_deposited, and, for a deposit sent with voidRemainder (018), what the authorization still held beyond it and other claims to amount_voided.';
DROP TRIGGER svc_trans_settle_deposit ON svc_trans;
CREATE TRIGGER svc_trans_settle_deposit
    AFTER UPDATE OF status ON svc_trans FOR EACH ROW
    EXECUTE FUNCTION paylink_settle_svc_deposit();

-- ---- the amounts' rules as domains -------------------------------------------------------------

CREATE DOMAIN paylink_amount AS numeric(15,2) CHECK (VALUE >= 0);
CREATE DOMAIN paylink_claim_amount AS numeric(15,2) CHECK (VALUE > 0);
COMMENT ON DOMAIN paylink_amount IS 'An amount of money that is never negative (auth_history, cc_deposit_trans and svc_trans amounts).';
COMMENT ON DOMAIN paylink_claim_amount IS 'An amount a request claims on the row it draws on: positive when there is one (svc_trans.claim_amount).';

DO $$
DECLARE
    -- table, column, domain, the table constraint the domain replaces
    changes constant text[][] := ARRAY[
        ['auth_history', 'amount_pending', 'paylink_amount', 'auth_history_amount_pending_check'],
        ['auth_history', 'amount_voided', 'paylink_amount', 'auth_history_amount_voided_check'],
        ['cc_deposit_trans', 'amount_credited', 'paylink_amount',
         'cc_deposit_trans_amount_credited_check'],
        ['svc_trans', 'amount', 'paylink_amount', 'svc_trans_amount_check'],
        ['svc_trans', 'amount_deposited', 'paylink_amount', 'svc_trans_amount_deposited_check'],
        ['svc_trans', 'amount_pending', 'paylink_amount', 'svc_trans_amount_pending_check'],
        ['svc_trans', 'amount_voided', 'paylink_amount', 'svc_trans_amount_voided_check'],
        ['svc_trans', 'issue_amount', 'paylink_amount', 'svc_trans_issue_amount_check'],
        ['svc_trans', 'claim_amount', 'paylink_claim_amount', 'svc_trans_claim_amount_check']];
    tables constant text[] := ARRAY['auth_history', 'cc_deposit_trans', 'svc_trans'];
    r record;
    tab text;
    alters text;
    left_over int;
    progress boolean;
BEGIN
    -- The views that read the tables, directly or through another view.
    CREATE TEMP TABLE pl025_views ON COMMIT DROP AS
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
    IF EXISTS (SELECT 1 FROM pl025_views v JOIN pg_class c ON c.oid = v.oid
                WHERE c.relacl IS NOT NULL) THEN
        RAISE EXCEPTION 'migration 025: a view over the hot tables has grants; move them by hand';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_description d JOIN pl025_views v ON v.oid = d.objoid
                WHERE d.objsubid > 0) THEN
        RAISE EXCEPTION 'migration 025: a view over the hot tables has column comments';
    END IF;

    FOR r IN SELECT name FROM pl025_views LOOP
        EXECUTE format('DROP VIEW IF EXISTS %I CASCADE', r.name);
    END LOOP;

    -- One ALTER TABLE per table: each is rewritten once.
    FOREACH tab IN ARRAY tables LOOP
        alters := NULL;
        FOR i IN 1 .. array_length(changes, 1) LOOP
            CONTINUE WHEN changes[i][1] <> tab;
            alters := concat_ws(', ', alters,
                                format('DROP CONSTRAINT %I, ALTER COLUMN %I TYPE %I',
                                       changes[i][4], changes[i][2], changes[i][3]));
        END LOOP;
        EXECUTE format('ALTER TABLE %I %s', tab, alters);
    END LOOP;

    -- Views again; one that reads another waits for it (as many rounds as it takes).
    LOOP
        progress := false;
        FOR r IN SELECT name, def, descr FROM pl025_views WHERE NOT done ORDER BY oid LOOP
            BEGIN
                EXECUTE format('CREATE VIEW %I AS %s', r.name, r.def);
                IF r.descr IS NOT NULL THEN
                    EXECUTE format('COMMENT ON VIEW %I IS %L', r.name, r.descr);
                END IF;
                UPDATE pl025_views SET done = true WHERE name = r.name;
                progress := true;
            EXCEPTION WHEN undefined_table THEN
                NULL; -- it reads a view not created yet
            END;
        END LOOP;
        SELECT count(*) INTO left_over FROM pl025_views WHERE NOT done;
        EXIT WHEN left_over = 0;
        IF NOT progress THEN
            RAISE EXCEPTION 'migration 025: % view(s) could not be created again', left_over;
        END IF;
    END LOOP;
END $$;
