-- Grid versions, grids, staff. Geometries travel as WKB (EPSG:4326).

-- name: fetch_active_version
SELECT id, status, effective_date, author, note, created_at, scope_code, base_version_id, committed_at
FROM grid_version WHERE status = 'active';

-- name: fetch_version
SELECT id, status, effective_date, author, note, created_at, scope_code, base_version_id, committed_at
FROM grid_version WHERE id = %(version_id)s;

-- name: fetch_versions
-- every version, newest first, with its grid counts per level (drafts included: the caller filters)
SELECT v.id, v.status, v.effective_date, v.author, v.note, v.scope_code, v.base_version_id, v.created_at,
       v.committed_at, v.retired_at,
       count(g.id) FILTER (WHERE g.level = 'street') AS streets,
       count(g.id) FILTER (WHERE g.level = 'community') AS communities,
       count(g.id) FILTER (WHERE g.level = 'grid') AS grids,
       count(g.id) FILTER (WHERE g.level = 'micro') AS micro,
       count(g.id) FILTER (WHERE g.level = 'exclusive') AS exclusive
FROM grid_version v LEFT JOIN grid g ON g.version_id = v.id
GROUP BY v.id ORDER BY v.id DESC;

-- name: save_grid_version
-- a new version in draft status; the author is the signed-in user (gis_actor(), migration 0010)
INSERT INTO grid_version (status, note, effective_date, scope_code, base_version_id)
VALUES ('draft', %(note)s, coalesce(%(effective_date)s, current_date), %(scope_code)s, %(base_version_id)s)
RETURNING id;

-- name: save_version_removed
DELETE FROM grid_version WHERE id = %(version_id)s AND status = 'draft';

-- name: save_grids_copied
-- a draft starts as a copy of the version it is taken from
INSERT INTO grid (version_id, code, name, level, parent_code, geom, households, population)
SELECT %(new_version)s, code, name, level, parent_code, geom, households, population
FROM grid WHERE version_id = %(old_version)s;

-- name: save_grids_removed
DELETE FROM grid WHERE version_id = %(version_id)s AND code = ANY(%(codes)s);

-- name: fetch_moved_codes
-- codes of a version that an earlier committed version had under another parent (the rule of
-- migration 0010: a grid that moves gets a new code, so history rolls up where it happened)
SELECT DISTINCT ON (n.code) n.code, n.level, n.parent_code, o.parent_code AS was_parent, o.version_id AS was_version
FROM grid n
JOIN grid o ON o.code = n.code AND o.version_id <> n.version_id
JOIN grid_version v ON v.id = o.version_id AND v.status IN ('active', 'retired')
WHERE n.version_id = %(version_id)s AND n.level <> 'exclusive'
  AND o.parent_code IS DISTINCT FROM n.parent_code
ORDER BY n.code, o.version_id DESC
LIMIT 20;

-- name: fetch_earlier_grids
-- the grids of earlier committed versions that this one no longer has (each code as its latest
-- version had it): closed cases keep these codes, and roll up through them
SELECT DISTINCT ON (g.code) g.code, g.name, g.level, g.parent_code, g.households, g.population
FROM grid g JOIN grid_version v ON v.id = g.version_id AND v.status IN ('active', 'retired')
WHERE g.version_id <> %(version_id)s
  AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.version_id = %(version_id)s AND c.code = g.code)
ORDER BY g.code, g.version_id DESC;

-- name: save_grids_carried_over
-- the levels a new layer does not bring stay as they were in the previous version
INSERT INTO grid (version_id, code, name, level, parent_code, geom, households, population)
SELECT %(new_version)s, code, name, level, parent_code, geom, households, population
FROM grid
WHERE version_id = %(old_version)s AND NOT (level = ANY(%(replaced_levels)s));

-- name: fetch_orphans
-- grids of a version whose parent is missing from it (a replaced level dropped a code)
-- (NOT IN over one hashed set of the version's codes: a join here may be planned as a nested
-- loop under row-level security, 22 million comparisons for the demo district)
SELECT c.code, c.level, c.parent_code
FROM grid c
WHERE c.version_id = %(version_id)s AND c.parent_code IS NOT NULL
  AND c.parent_code NOT IN (SELECT p.code FROM grid p WHERE p.version_id = %(version_id)s)
ORDER BY c.code LIMIT 20;

-- name: save_version_active
-- retire the active version (kept for history) and activate the new (or a retired) one
UPDATE grid_version SET status = 'retired', retired_at = now()
WHERE status = 'active' AND id <> %(version_id)s;
UPDATE grid_version SET status = 'active', retired_at = NULL,
       effective_date = coalesce(%(effective_date)s, current_date), committed_at = coalesce(committed_at, now())
WHERE id = %(version_id)s;

-- name: fetch_grids
SELECT code, name, level, parent_code, households, population, ST_AsBinary(geom) AS geom
FROM grid
WHERE version_id = %(version_id)s
  AND (%(level)s::text IS NULL OR level = %(level)s)
ORDER BY array_position(ARRAY['district','street','community','grid','micro','exclusive'], level), code;

-- name: fetch_grid_counts
SELECT level, count(*) AS grids, sum(households) AS households
FROM grid WHERE version_id = %(version_id)s GROUP BY level;

-- name: fetch_staff_of_removed
-- staff on duty for grids a version does not have: to be reassigned
SELECT s.grid_code, s.role, s.name, s.phone
FROM grid_staff s
WHERE s.on_duty AND NOT EXISTS (SELECT 1 FROM grid g WHERE g.version_id = %(version_id)s AND g.code = s.grid_code)
ORDER BY s.grid_code, s.role, s.name;

-- name: fetch_sees_all
SELECT gis_sees_all() AS sees_all;

-- name: save_staff_replaced
-- an import replaces the roster of every grid it names
DELETE FROM grid_staff WHERE grid_code = ANY(%(grid_codes)s);

-- name: save_staff
INSERT INTO grid_staff (grid_code, role, name, phone) VALUES %s;

-- name: fetch_staff
SELECT grid_code, role, name, phone
FROM grid_staff
WHERE on_duty AND (%(grid_codes)s::text[] IS NULL OR grid_code = ANY(%(grid_codes)s))
ORDER BY grid_code, role, name;
