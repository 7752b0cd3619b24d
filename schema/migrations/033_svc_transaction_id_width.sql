-- 033: svc_trans.svc_transaction_id holds an SVATransactionID of up to 64 characters.
--
-- Why: the stored value worker reads a Customer Engagement (or External Payment Service) answer's
-- transaction id into the bureau result's 64-character field, as every other worker's, and every
-- other table keeps that id in 64 characters (cc_auth_trans.transaction_id, auth_history,
-- auth_reversal, cc_deposit_trans ...); svc_trans kept it in 30 since 013. An id of 31 to 64
-- characters, read without complaint, could not be stored: the answer's statement failed and an
-- approved authorization or deposit became an unknown outcome for an operator to settle.
-- Widening a varchar is a change of the catalog only (no table rewrite, no index rebuild); the
-- views that read the column must be dropped for it and are created again exactly as they were
-- (definition and comment; grants refused as in 024), by paylink_alter_under_views, which later
-- migrations may use for the same reason.

CREATE FUNCTION paylink_alter_under_views(p_tables text[], p_alters text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    i int;
    left_over int;
    progress boolean;
BEGIN
    -- The views that read the tables, directly or through another view.
    CREATE TEMP TABLE pl_alter_views ON COMMIT DROP AS
    WITH RECURSIVE dep(oid) AS (
        SELECT DISTINCT rw.ev_class
          FROM pg_depend d
          JOIN pg_rewrite rw ON rw.oid = d.objid
         WHERE d.classid = 'pg_rewrite'::regclass
           AND d.refobjid IN (SELECT t::regclass FROM unnest(p_tables) t)
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
    IF EXISTS (SELECT 1 FROM pl_alter_views v JOIN pg_class c ON c.oid = v.oid
                WHERE c.relacl IS NOT NULL) THEN
        RAISE EXCEPTION 'paylink_alter_under_views: a view over % has grants; move them by hand',
            p_tables;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_description d JOIN pl_alter_views v ON v.oid = d.objoid
                WHERE d.objsubid > 0) THEN
        RAISE EXCEPTION 'paylink_alter_under_views: a view over % has column comments', p_tables;
    END IF;

    FOR r IN SELECT name FROM pl_alter_views LOOP
        EXECUTE format('DROP VIEW IF EXISTS %I CASCADE', r.name);
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(p_alters, 1), 0) LOOP
        EXECUTE p_alters[i];
    END LOOP;

    -- Views again; one that reads another waits for it (as many rounds as it takes).
    LOOP
        progress := false;
        FOR r IN SELECT name, def, descr FROM pl_alter_views WHERE NOT done ORDER BY oid LOOP
            BEGIN
                EXECUTE format('CREATE VIEW %I AS %s', r.name, r.def);
                IF r.descr IS NOT NULL THEN
                    EXECUTE format('COMMENT ON VIEW %I IS %L', r.name, r.descr);
                END IF;
                UPDATE pl_alter_views SET done = true WHERE name = r.name;
                progress := true;
            EXCEPTION WHEN undefined_table THEN
                NULL; -- it reads a view not created yet
            END;
        END LOOP;
        SELECT count(*) INTO left_over FROM pl_alter_views WHERE NOT done;
        EXIT WHEN left_over = 0;
        IF NOT progress THEN
            RAISE EXCEPTION 'paylink_alter_under_views: % view(s) could not be created again',
                left_over;
        END IF;
    END LOOP;
    DROP TABLE pl_alter_views;
END $$;
COMMENT ON FUNCTION paylink_alter_under_views(text[], text[]) IS
    'For migrations: runs the ALTER statements p_alters on the tables p_tables with the views that read them (directly or through other views) dropped and created again as they were, with their comments; refuses views with grants or column comments. Run it inside the migration''s transaction.';

SELECT paylink_alter_under_views(
    ARRAY['svc_trans'],
    ARRAY['ALTER TABLE svc_trans ALTER COLUMN svc_transaction_id TYPE varchar(64)']);
