-- Planning: moving open cases to a newly active version, the what-if scratch table.

-- name: fetch_open_case_points
-- the open cases with a point (cases placed by hand keep their micro-grid), as the move needs them
SELECT id, source, external_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, micro_code, exclusive_code, tier,
       category, status, assignee
FROM incident
WHERE gis_is_open(status) AND geom IS NOT NULL
ORDER BY id;

-- name: save_moves_table
CREATE TEMP TABLE moved_case (
    id bigint PRIMARY KEY, micro_code text, exclusive_code text, suggested_code text,
    suggested_distance_m double precision, assignee text, note text NOT NULL
) ON COMMIT DROP;

-- name: save_moves
-- the staged moves: new grids and assignee, one event each; then every open case belongs to
-- the version (closed cases keep theirs)
WITH moved AS (
    UPDATE incident i
    SET micro_code = m.micro_code, exclusive_code = m.exclusive_code, suggested_code = m.suggested_code,
        suggested_distance_m = m.suggested_distance_m, assignee = m.assignee,
        grid_version_id = %(version_id)s, updated_at = now()
    FROM moved_case m
    WHERE m.id = i.id AND gis_is_open(i.status)
    RETURNING i.id, i.status, m.note
)
INSERT INTO incident_event (incident_id, from_status, to_status, actor, note)
SELECT id, status, status, %(actor)s, note FROM moved;

-- name: save_open_cases_version
UPDATE incident SET grid_version_id = %(version_id)s
WHERE gis_is_open(status) AND grid_version_id IS DISTINCT FROM %(version_id)s;

-- name: fetch_case_points_in
-- the cases reported in [since, until) with a point inside a box (the what-if's area), with
-- where they are now
SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, micro_code, exclusive_code, tier, category,
       gis_is_open(status) AS open, assignee, reported_at
FROM incident
WHERE reported_at >= %(since)s AND reported_at < %(until)s AND geom IS NOT NULL
  AND geom && ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326)
ORDER BY id;

-- name: save_recount_table
-- the scratch table of a what-if or a history re-count: live tables are never written
CREATE TEMP TABLE recount (
    id bigint PRIMARY KEY, before_code text, after_code text, open boolean NOT NULL,
    before_assignee text, after_assignee text
) ON COMMIT DROP;

-- name: fetch_recount_by_grid
-- per grid, before and after: cases, open cases, open cases that change hands
SELECT code,
       count(*) FILTER (WHERE side = 'before') AS cases_before,
       count(*) FILTER (WHERE side = 'after') AS cases_after,
       count(*) FILTER (WHERE side = 'before' AND open) AS open_before,
       count(*) FILTER (WHERE side = 'after' AND open) AS open_after,
       count(*) FILTER (WHERE side = 'after' AND open AND moved) AS open_moving_in,
       count(*) FILTER (WHERE side = 'before' AND open AND moved) AS open_moving_out
FROM (
    SELECT before_code AS code, 'before' AS side, open,
           (before_code IS DISTINCT FROM after_code OR before_assignee IS DISTINCT FROM after_assignee) AS moved
    FROM recount
    UNION ALL
    SELECT after_code, 'after', open,
           (before_code IS DISTINCT FROM after_code OR before_assignee IS DISTINCT FROM after_assignee)
    FROM recount
) sides
WHERE code IS NOT NULL
GROUP BY code ORDER BY code;

-- name: fetch_recount_moves
SELECT r.id, i.source, i.external_id, r.before_code, r.after_code, r.before_assignee, r.after_assignee
FROM recount r JOIN incident i ON i.id = r.id
WHERE r.open AND (r.before_code IS DISTINCT FROM r.after_code OR r.before_assignee IS DISTINCT FROM r.after_assignee)
ORDER BY r.id;
