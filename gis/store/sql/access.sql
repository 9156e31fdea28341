-- Accounts, sign-in and the audit trail (migration 0004 holds the policies and functions).

-- name: fetch_credentials
SELECT name, display_name, role, scope_code, password_hash FROM gis_fetch_credentials(%(name)s);

-- name: save_sign_in
SELECT gis_record_sign_in(%(name)s, %(ok)s, %(max_failures)s, %(lockout_s)s) AS outcome;

-- name: fetch_principal
SELECT name, role, scope_code, display_name FROM gis_principal();

-- name: save_user
INSERT INTO app_user (name, display_name, role, scope_code, password_hash)
VALUES (%(name)s, %(display_name)s, %(role)s, %(scope_code)s, %(password_hash)s)
RETURNING id;

-- name: save_user_disabled
UPDATE app_user SET disabled = true WHERE name = %(name)s AND role <> 'system';

-- name: save_user_password
UPDATE app_user SET password_hash = %(password_hash)s, failed_sign_ins = 0, locked_until = NULL
WHERE name = %(name)s AND role <> 'system';

-- name: fetch_users
SELECT name, display_name, role, scope_code, disabled, failed_sign_ins, locked_until, last_sign_in_at, created_at
FROM app_user WHERE role <> 'system' ORDER BY name;

-- name: fetch_user_exists
SELECT EXISTS (SELECT 1 FROM app_user WHERE name = %(name)s) AS found;

-- name: fetch_grid_exists
-- whether a code names a grid of the active version (an account's scope must)
SELECT EXISTS (SELECT 1 FROM grid g JOIN grid_version v ON v.id = g.version_id AND v.status = 'active'
               WHERE g.code = %(code)s) AS found;

-- name: save_audit
SELECT gis_audit(%(action)s, %(object)s, %(detail)s::jsonb);

-- name: fetch_audit
SELECT at, actor, role, action, object, before, after FROM audit_log
WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
  AND (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(actions)s::text[] IS NULL OR action = ANY (%(actions)s))
ORDER BY at DESC, id DESC
LIMIT %(limit)s;
