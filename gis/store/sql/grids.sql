-- Grid versions, grids, staff. Geometries travel as WKB (EPSG:4326).

-- name: fetch_active_version
SELECT id, status, effective_date, author, note, created_at
FROM grid_version WHERE status = 'active';

-- name: save_grid_version
INSERT INTO grid_version (status, note, author, effective_date)
VALUES ('draft', %(note)s, coalesce(%(author)s, current_user), coalesce(%(effective_date)s, current_date))
RETURNING id;

-- name: save_grids_carried_over
-- the levels a new layer does not bring stay as they were in the previous version
INSERT INTO grid (version_id, code, name, level, parent_code, geom, households, population)
SELECT %(new_version)s, code, name, level, parent_code, geom, households, population
FROM grid
WHERE version_id = %(old_version)s AND NOT (level = ANY(%(replaced_levels)s));

-- name: fetch_orphans
-- grids of a version whose parent is missing from it (a replaced level dropped a code)
SELECT c.code, c.level, c.parent_code
FROM grid c
LEFT JOIN grid p ON p.version_id = c.version_id AND p.code = c.parent_code
WHERE c.version_id = %(version_id)s AND c.parent_code IS NOT NULL AND p.id IS NULL
ORDER BY c.code LIMIT 20;

-- name: save_version_active
-- retire the active version (kept for history) and activate the new one
UPDATE grid_version SET status = 'retired', retired_at = now()
WHERE status = 'active' AND id <> %(version_id)s;
UPDATE grid_version SET status = 'active', effective_date = current_date
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
