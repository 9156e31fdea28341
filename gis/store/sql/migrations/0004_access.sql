-- Who may see and do what, enforced in PostgreSQL (the trust issue).
--
-- * Accounts (app_user) with a role and a scope (a grid code); the rights of each
--   role come from gis/core/access.py through gis_role_rights(), which db init
--   writes after the migrations (placeholder below: no rights at all).
-- * Every job runs as the low-privilege role gis_app (db init creates it; it owns
--   nothing) and names its user per transaction: set_config('gis.user', name, true).
--   The policies look the user's role and scope up themselves.
-- * An append-only audit_log, written by triggers and SECURITY DEFINER functions only.
--
-- Policy helpers are PARALLEL SAFE (an unsafe one would keep every query under the policies
-- serial) and wrapped in scalar sub-selects, (SELECT gis_can('read')), so each
-- is evaluated once per query (an InitPlan) rather than once per row; a scope test is
-- `code IN (SELECT gis_scope_codes())`, a hashed sub-plan.

CREATE TABLE app_user (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    display_name     text NOT NULL DEFAULT '',
    role             text NOT NULL,
    scope_code       text,
    password_hash    text,
    disabled         boolean NOT NULL DEFAULT false,
    failed_sign_ins  integer NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    last_sign_in_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (role = 'system' OR scope_code IS NOT NULL)
);
-- the command line's own account: no password, so it can never sign in
CREATE UNIQUE INDEX app_user_one_system ON app_user ((true)) WHERE role = 'system';
INSERT INTO app_user (name, display_name, role) VALUES ('system', '系统', 'system');

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor   text NOT NULL,
    role    text,
    action  text NOT NULL,
    object  text NOT NULL DEFAULT '',
    before  jsonb,
    after   jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION gis_audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION gis_audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION gis_audit_log_is_append_only();

-- saved definitions of the indexes and foreign keys a bulk load drops (owner only)
CREATE TABLE bulk_load_saved (
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind       text NOT NULL CHECK (kind IN ('index', 'fk')),
    name       text NOT NULL,
    tbl        text,
    definition text NOT NULL
);

-- -- who is asking ----------------------------------------------------------------------------

-- gis_role_rights(role) and gis_supervised_status() are vocabulary functions that db init
-- writes from gis/core (access.ROLE_RIGHTS, lifecycle) before and after the migrations.

CREATE FUNCTION gis_principal() RETURNS TABLE (name text, role text, scope_code text, display_name text)
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER ROWS 1 SET search_path = public, pg_temp AS $$
    SELECT u.name, u.role, u.scope_code, u.display_name FROM app_user u
    WHERE u.name = current_setting('gis.user', true) AND NOT u.disabled
      -- the role and scope the caller signed in with, when it names them, must still hold
      AND (coalesce(current_setting('gis.role', true), '') = '' OR u.role = current_setting('gis.role', true))
      AND (coalesce(current_setting('gis.role', true), '') = ''
           OR coalesce(u.scope_code, '') = coalesce(current_setting('gis.scope', true), ''))
$$;

-- who an audit row names: the signed-in user, or the database user of a direct session
CREATE FUNCTION gis_actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('gis.user', true), ''), 'db:' || session_user)
$$;

CREATE FUNCTION gis_can(wanted text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT wanted = ANY (gis_role_rights(p.role)) FROM gis_principal() p), false)
$$;

CREATE FUNCTION gis_me() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (SELECT p.display_name FROM gis_principal() p)
$$;

-- the system, or an account whose scope is the root of the active grids (the district)
CREATE FUNCTION gis_sees_all() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce((
        SELECT p.role = 'system' OR EXISTS (
            SELECT 1 FROM grid g JOIN grid_version v ON v.id = g.version_id AND v.status = 'active'
            WHERE g.code = p.scope_code AND g.parent_code IS NULL AND g.level = 'district')
        FROM gis_principal() p), false)
$$;

-- Every grid with each of its ancestors (itself included), per version: scope tests become
-- index lookups instead of a recursive walk per query. Kept by triggers on grid.
CREATE TABLE grid_ancestry (
    version_id    bigint NOT NULL REFERENCES grid_version (id) ON DELETE CASCADE,
    code          text NOT NULL,
    ancestor_code text NOT NULL,
    PRIMARY KEY (version_id, ancestor_code, code)
);
CREATE INDEX grid_ancestry_code ON grid_ancestry (version_id, code);

CREATE FUNCTION gis_save_grid_ancestry(versions bigint[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DELETE FROM grid_ancestry WHERE version_id = ANY (versions);
    -- UNION (not UNION ALL) ends the walk even on a cycle, which validation refuses anyway
    INSERT INTO grid_ancestry (version_id, code, ancestor_code)
    WITH RECURSIVE up (version_id, code, ancestor_code, parent_code) AS (
        SELECT g.version_id, g.code, g.code, g.parent_code FROM grid g WHERE g.version_id = ANY (versions)
        UNION
        SELECT u.version_id, u.code, g.code, g.parent_code
        FROM up u JOIN grid g ON g.version_id = u.version_id AND g.code = u.parent_code
    )
    SELECT DISTINCT version_id, code, ancestor_code FROM up;
$$;

CREATE FUNCTION gis_grid_ancestry_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM gis_save_grid_ancestry(ARRAY(SELECT DISTINCT version_id FROM old_rows));
    ELSE
        PERFORM gis_save_grid_ancestry(ARRAY(SELECT DISTINCT version_id FROM new_rows));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER grid_ancestry_insert AFTER INSERT ON grid REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gis_grid_ancestry_changed();
CREATE TRIGGER grid_ancestry_update AFTER UPDATE ON grid REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gis_grid_ancestry_changed();
CREATE TRIGGER grid_ancestry_delete AFTER DELETE ON grid REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gis_grid_ancestry_changed();
SELECT gis_save_grid_ancestry(ARRAY(SELECT id FROM grid_version));

-- the codes of the scope's subtree in the active version (the scope itself included)
CREATE FUNCTION gis_scope_codes() RETURNS SETOF text
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.code FROM grid_ancestry a
    WHERE a.version_id = (SELECT id FROM grid_version WHERE status = 'active')
      AND a.ancestor_code = (SELECT p.scope_code FROM gis_principal() p)
$$;

-- the scope's ancestors in the active version (for breadcrumbs and outlines)
CREATE FUNCTION gis_scope_ancestors() RETURNS SETOF text
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.ancestor_code FROM grid_ancestry a
    WHERE a.version_id = (SELECT id FROM grid_version WHERE status = 'active')
      AND a.code = (SELECT p.scope_code FROM gis_principal() p)
$$;

-- -- the audit trail ------------------------------------------------------------------------------

-- what jobs log themselves (exports, reveals, imports): the caller cannot forge who or when
CREATE FUNCTION gis_audit(action text, object text, detail jsonb DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM gis_principal()) THEN
        RAISE EXCEPTION 'no signed-in user to audit' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO audit_log (actor, role, action, object, after)
    VALUES (gis_actor(), (SELECT p.role FROM gis_principal() p), action, object, detail);
END $$;

CREATE FUNCTION gis_audit_incident_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_log (actor, role, action, object, before, after)
    SELECT gis_actor(), (SELECT p.role FROM gis_principal() p),
           CASE WHEN o.status IS DISTINCT FROM n.status THEN 'status_change' ELSE 'redispatch' END,
           'incident:' || n.source || '/' || n.external_id,
           jsonb_build_object('status', o.status, 'assignee', o.assignee, 'tier', o.tier),
           jsonb_build_object('status', n.status, 'assignee', n.assignee, 'tier', n.tier)
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE o.status IS DISTINCT FROM n.status OR o.assignee IS DISTINCT FROM n.assignee;
    RETURN NULL;
END $$;
CREATE TRIGGER incident_audit AFTER UPDATE ON incident
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gis_audit_incident_changes();

CREATE FUNCTION gis_audit_grid_commit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_log (actor, role, action, object, before, after)
    VALUES (gis_actor(), (SELECT p.role FROM gis_principal() p), 'grids_commit', 'grid_version:' || NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN jsonb_build_object('status', OLD.status) END,
            jsonb_build_object('status', NEW.status, 'note', NEW.note, 'effective_date', NEW.effective_date));
    RETURN NULL;
END $$;
CREATE TRIGGER grid_version_audit AFTER INSERT OR UPDATE OF status ON grid_version
    FOR EACH ROW WHEN (NEW.status = 'active') EXECUTE FUNCTION gis_audit_grid_commit();

CREATE FUNCTION gis_audit_user_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    shown CONSTANT text[] := ARRAY['name', 'display_name', 'role', 'scope_code', 'disabled'];
    before_row jsonb;
    after_row jsonb;
BEGIN
    after_row := (SELECT jsonb_object_agg(k, v) FROM jsonb_each(to_jsonb(NEW)) AS e(k, v) WHERE k = ANY (shown));
    IF TG_OP = 'UPDATE' THEN
        before_row := (SELECT jsonb_object_agg(k, v) FROM jsonb_each(to_jsonb(OLD)) AS e(k, v) WHERE k = ANY (shown));
        IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
            after_row := after_row || '{"password": "changed"}';
        END IF;
        IF before_row = after_row THEN
            RETURN NULL;  -- sign-in bookkeeping (failures, lock-outs) is audited as sign-ins
        END IF;
    END IF;
    INSERT INTO audit_log (actor, role, action, object, before, after)
    VALUES (gis_actor(), (SELECT p.role FROM gis_principal() p),
            CASE TG_OP WHEN 'INSERT' THEN 'user_add' ELSE 'user_change' END, 'user:' || NEW.name,
            before_row, after_row);
    RETURN NULL;
END $$;
CREATE TRIGGER app_user_audit AFTER INSERT OR UPDATE ON app_user
    FOR EACH ROW EXECUTE FUNCTION gis_audit_user_change();

-- -- signing in -------------------------------------------------------------------------------------

-- the stored hash of one account, for the caller to verify (argon2 runs in Python)
CREATE FUNCTION gis_fetch_credentials(account text)
    RETURNS TABLE (name text, display_name text, role text, scope_code text, password_hash text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.name, u.display_name, u.role, u.scope_code, u.password_hash FROM app_user u
    WHERE u.name = account AND u.role <> 'system'
$$;

-- record one attempt; returns ok, failed, locked (now or before), disabled or unknown
CREATE FUNCTION gis_record_sign_in(account text, password_ok boolean, max_failures integer, lockout_s integer)
    RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    u app_user;
    outcome text;
BEGIN
    SELECT * INTO u FROM app_user WHERE app_user.name = account AND app_user.role <> 'system' FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
    ELSIF u.disabled THEN
        outcome := 'disabled';
    ELSIF u.locked_until > now() THEN
        outcome := 'locked';
    ELSIF password_ok THEN
        UPDATE app_user SET failed_sign_ins = 0, locked_until = NULL, last_sign_in_at = now() WHERE id = u.id;
        outcome := 'ok';
    ELSE
        -- a lock that has run out starts the count again
        UPDATE app_user
        SET failed_sign_ins = CASE WHEN u.locked_until IS NOT NULL THEN 1 ELSE u.failed_sign_ins + 1 END,
            locked_until = CASE WHEN (CASE WHEN u.locked_until IS NOT NULL THEN 1 ELSE u.failed_sign_ins + 1 END)
                                     >= max_failures
                                THEN now() + make_interval(secs => lockout_s) END
        WHERE id = u.id
        RETURNING CASE WHEN locked_until IS NOT NULL THEN 'locked_now' ELSE 'failed' END INTO outcome;
    END IF;
    INSERT INTO audit_log (actor, role, action, object, after)
    VALUES (account, u.role, CASE outcome WHEN 'ok' THEN 'sign_in' ELSE 'sign_in_failed' END, 'user:' || account,
            jsonb_build_object('outcome', outcome));
    RETURN outcome;
END $$;

-- -- bulk maintenance as the owner, for the roles allowed to import ------------------------------

CREATE FUNCTION gis_bulk_load_begin(tables text[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r record;
BEGIN
    IF NOT gis_can('import') THEN
        RAISE EXCEPTION 'a bulk load needs the import right' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT tables <@ ARRAY['incident', 'incident_event'] THEN
        RAISE EXCEPTION 'bulk loads are for incident and incident_event only, not %', tables;
    END IF;
    FOR r IN SELECT conname, conrelid::regclass::text AS tbl, pg_get_constraintdef(oid) AS def
             FROM pg_constraint
             WHERE contype = 'f' AND (conrelid::regclass::text = ANY (tables) OR confrelid::regclass::text = ANY (tables))
    LOOP
        INSERT INTO bulk_load_saved (kind, name, tbl, definition) VALUES ('fk', r.conname, r.tbl, r.def);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', r.tbl, r.conname);
    END LOOP;
    FOR r IN SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid::regclass::text = ANY (tables)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    LOOP
        INSERT INTO bulk_load_saved (kind, name, definition) VALUES ('index', r.name, r.def);
        EXECUTE format('DROP INDEX %I', r.name);
    END LOOP;
END $$;

CREATE FUNCTION gis_bulk_load_end(tables text[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r record;
    t text;
BEGIN
    FOR r IN SELECT * FROM bulk_load_saved WHERE xid = pg_current_xact_id() ORDER BY kind DESC LOOP
        IF r.kind = 'index' THEN
            EXECUTE r.definition;
        ELSE
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I ', r.tbl, r.name) || r.definition;
        END IF;
    END LOOP;
    DELETE FROM bulk_load_saved WHERE xid = pg_current_xact_id();
    -- fresh statistics for the planner now, not whenever autovacuum gets to it
    FOREACH t IN ARRAY tables LOOP
        IF t = ANY (ARRAY['incident', 'incident_event']) THEN
            EXECUTE format('ANALYZE %I', t);
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION gis_truncate_incidents() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT gis_can('maintain') THEN
        RAISE EXCEPTION 'removing every incident needs the maintain right' USING ERRCODE = 'insufficient_privilege';
    END IF;
    TRUNCATE incident, incident_event;
END $$;

-- -- row-level security ------------------------------------------------------------------------------

ALTER TABLE incident ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_read ON incident FOR SELECT USING (
    (SELECT gis_can('read'))
    AND ((SELECT gis_sees_all()) OR micro_code IN (SELECT gis_scope_codes())
         OR exclusive_code IN (SELECT gis_scope_codes())));
CREATE POLICY incident_insert ON incident FOR INSERT WITH CHECK ((SELECT gis_can('import')));
CREATE POLICY incident_update ON incident FOR UPDATE
    USING (
        ((SELECT gis_sees_all()) OR micro_code IN (SELECT gis_scope_codes())
         OR exclusive_code IN (SELECT gis_scope_codes()))
        AND ((SELECT gis_can('act')) OR (SELECT gis_can('set_status')) OR (SELECT gis_can('redispatch'))
             OR (SELECT gis_can('import')) OR (SELECT gis_can('supervise'))
             OR ((SELECT gis_can('act_own')) AND assignee = (SELECT gis_me()))))
    WITH CHECK (
        ((SELECT gis_sees_all()) OR micro_code IN (SELECT gis_scope_codes())
         OR exclusive_code IN (SELECT gis_scope_codes()))
        AND ((SELECT gis_can('act')) OR (SELECT gis_can('set_status')) OR (SELECT gis_can('redispatch'))
             OR (SELECT gis_can('import'))
             OR ((SELECT gis_can('supervise')) AND status = (SELECT gis_supervised_status()))
             OR ((SELECT gis_can('act_own')) AND assignee = (SELECT gis_me()))));
CREATE POLICY incident_delete ON incident FOR DELETE USING ((SELECT gis_can('maintain')));

ALTER TABLE incident_event ENABLE ROW LEVEL SECURITY;
-- an event is seen with its case (the sub-query is itself under incident's policy)
CREATE POLICY incident_event_read ON incident_event FOR SELECT
    USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_event_insert ON incident_event FOR INSERT WITH CHECK (
    -- an import writes the events of cases it creates in the same statement, not yet visible
    (SELECT gis_can('import'))
    OR (((SELECT gis_can('act')) OR (SELECT gis_can('act_own')) OR (SELECT gis_can('set_status'))
         OR (SELECT gis_can('redispatch')) OR (SELECT gis_can('supervise')))
        AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id)));
CREATE POLICY incident_event_delete ON incident_event FOR DELETE USING ((SELECT gis_can('maintain')));

ALTER TABLE grid ENABLE ROW LEVEL SECURITY;
-- boundaries of the scope, its ancestors (outlines, breadcrumbs) and, for the district, everything
CREATE POLICY grid_read ON grid FOR SELECT USING (
    EXISTS (SELECT 1 FROM gis_principal())
    AND ((SELECT gis_sees_all()) OR code IN (SELECT gis_scope_codes()) OR code IN (SELECT gis_scope_ancestors())));
CREATE POLICY grid_write ON grid FOR ALL USING ((SELECT gis_can('plan'))) WITH CHECK ((SELECT gis_can('plan')));

ALTER TABLE grid_staff ENABLE ROW LEVEL SECURITY;
CREATE POLICY grid_staff_read ON grid_staff FOR SELECT USING (
    EXISTS (SELECT 1 FROM gis_principal())
    AND ((SELECT gis_sees_all()) OR grid_code IN (SELECT gis_scope_codes())
         OR grid_code IN (SELECT gis_scope_ancestors())));
CREATE POLICY grid_staff_write ON grid_staff FOR ALL
    USING ((SELECT gis_can('manage_staff'))) WITH CHECK ((SELECT gis_can('manage_staff')));

ALTER TABLE app_user ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_user_read ON app_user FOR SELECT
    USING (name = current_setting('gis.user', true) OR (SELECT gis_can('manage_users')));
CREATE POLICY app_user_write ON app_user FOR INSERT WITH CHECK ((SELECT gis_can('manage_users')) AND role <> 'system');
CREATE POLICY app_user_update ON app_user FOR UPDATE
    USING ((SELECT gis_can('manage_users')) AND role <> 'system')
    WITH CHECK ((SELECT gis_can('manage_users')) AND role <> 'system');

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT USING ((SELECT gis_can('read_audit')));

-- -- privileges of gis_app: no ownership, no DDL, no password hashes, no audit writes ----------------
-- (the role name is gis/store/migrate.py's APP_ROLE; ensure_roles() creates it before this runs)

GRANT USAGE ON SCHEMA public TO gis_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO gis_app;
REVOKE SELECT ON app_user, bulk_load_saved FROM gis_app;
GRANT SELECT (id, name, display_name, role, scope_code, disabled, failed_sign_ins, locked_until,
              last_sign_in_at, created_at) ON app_user TO gis_app;
GRANT INSERT (name, display_name, role, scope_code, password_hash) ON app_user TO gis_app;
GRANT UPDATE (display_name, role, scope_code, password_hash, disabled, failed_sign_ins, locked_until)
    ON app_user TO gis_app;
GRANT INSERT, UPDATE, DELETE ON incident, incident_event, grid, grid_version, grid_staff, import_batch,
    import_reject TO gis_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO gis_app;
REVOKE EXECUTE ON FUNCTION gis_save_grid_ancestry(bigint[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION gis_fetch_credentials(text), gis_record_sign_in(text, boolean, integer, integer),
    gis_bulk_load_begin(text[]), gis_bulk_load_end(text[]), gis_truncate_incidents(), gis_audit(text, text, jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gis_fetch_credentials(text), gis_record_sign_in(text, boolean, integer, integer),
    gis_bulk_load_begin(text[]), gis_bulk_load_end(text[]), gis_truncate_incidents(), gis_audit(text, text, jsonb)
    TO gis_app;
