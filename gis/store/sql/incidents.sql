-- Incidents, their events and import batches.

-- name: save_import_batch
INSERT INTO import_batch (kind, source_path, input_crs, encoding)
VALUES (%(kind)s, %(source_path)s, %(input_crs)s, %(encoding)s)
RETURNING id;

-- name: save_import_batch_done
UPDATE import_batch
SET finished_at = now(), accepted = %(accepted)s, inserted = %(inserted)s, updated = %(updated)s,
    unassigned = %(unassigned)s, rejected = %(rejected)s, note = %(note)s
WHERE id = %(batch_id)s;

-- name: save_import_rejects
INSERT INTO import_reject (batch_id, line, field, reason, raw) VALUES %s;

-- name: save_incoming_table
-- the staging table one import COPYs into; dropped with the transaction
CREATE TEMP TABLE incoming (
    line integer, source text, external_id text, category text, status text, tier text,
    priority text, description text, address text, reporter_phone text,
    reported_at timestamptz, due_at timestamptz, closed_at timestamptz,
    lon double precision, lat double precision, input_crs text,
    micro_code text, exclusive_code text, suggested_code text, suggested_distance_m double precision,
    assignee text, handler text
) ON COMMIT DROP;

-- name: save_incoming_merged
-- upsert on (source, external_id): new rows are inserted, changed rows updated,
-- identical rows left alone; one event per new incident and per change
WITH prior AS (
    SELECT i.id, i.status, s.source, s.external_id
    FROM incident i JOIN incoming s ON s.source = i.source AND s.external_id = i.external_id
), merged AS (
    INSERT INTO incident AS i (source, external_id, category, status, tier, priority, description, address,
                               reporter_phone, reported_at, due_at, closed_at, geom, input_crs, micro_code,
                               exclusive_code, grid_version_id, suggested_code, suggested_distance_m,
                               assignee, handler, batch_id)
    SELECT source, external_id, category, status, tier, priority, description, address, reporter_phone,
           reported_at, due_at, closed_at, ST_SetSRID(ST_MakePoint(lon, lat), 4326), input_crs, micro_code,
           exclusive_code, %(version_id)s, suggested_code, suggested_distance_m, assignee, handler, %(batch_id)s
    FROM incoming
    ON CONFLICT (source, external_id) DO UPDATE
    SET category = EXCLUDED.category, status = EXCLUDED.status, tier = EXCLUDED.tier,
        priority = EXCLUDED.priority, description = EXCLUDED.description, address = EXCLUDED.address,
        reporter_phone = EXCLUDED.reporter_phone, reported_at = EXCLUDED.reported_at, due_at = EXCLUDED.due_at,
        closed_at = EXCLUDED.closed_at, geom = EXCLUDED.geom, input_crs = EXCLUDED.input_crs,
        micro_code = EXCLUDED.micro_code, exclusive_code = EXCLUDED.exclusive_code,
        grid_version_id = EXCLUDED.grid_version_id, suggested_code = EXCLUDED.suggested_code,
        suggested_distance_m = EXCLUDED.suggested_distance_m, assignee = EXCLUDED.assignee,
        handler = coalesce(EXCLUDED.handler, i.handler), batch_id = EXCLUDED.batch_id, updated_at = now()
    WHERE (i.category, i.status, i.priority, i.description, i.address, i.reporter_phone, i.reported_at,
           i.closed_at, ST_AsBinary(i.geom), i.input_crs)
          IS DISTINCT FROM
          (EXCLUDED.category, EXCLUDED.status, EXCLUDED.priority, EXCLUDED.description, EXCLUDED.address,
           EXCLUDED.reporter_phone, EXCLUDED.reported_at, EXCLUDED.closed_at, ST_AsBinary(EXCLUDED.geom),
           EXCLUDED.input_crs)
    RETURNING i.id, i.source, i.external_id, i.status, i.reported_at
), events AS (
    INSERT INTO incident_event (incident_id, at, from_status, to_status, actor, note)
    SELECT m.id, CASE WHEN p.id IS NULL THEN m.reported_at ELSE now() END, p.status, m.status,
           %(actor)s, CASE WHEN p.id IS NULL THEN %(note_new)s
                           WHEN p.status = m.status THEN %(note_changed)s ELSE %(note_status)s END
    FROM merged m LEFT JOIN prior p ON p.id = m.id
)
SELECT count(*) FILTER (WHERE p.id IS NULL) AS inserted,
       count(*) FILTER (WHERE p.id IS NOT NULL) AS updated
FROM merged m LEFT JOIN prior p ON p.id = m.id;

-- name: fetch_incident_points
SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM incident;

-- name: save_incident_assignments
-- re-assignment after a new grid version: rows staged in 'reassigned'
UPDATE incident i
SET micro_code = r.micro_code, exclusive_code = r.exclusive_code, suggested_code = r.suggested_code,
    suggested_distance_m = r.suggested_distance_m, grid_version_id = %(version_id)s
FROM reassigned r
WHERE r.id = i.id
  AND (i.micro_code, i.exclusive_code, i.grid_version_id) IS DISTINCT FROM (r.micro_code, r.exclusive_code, %(version_id)s);

-- name: save_reassigned_table
CREATE TEMP TABLE reassigned (
    id bigint PRIMARY KEY, micro_code text, exclusive_code text, suggested_code text,
    suggested_distance_m double precision
) ON COMMIT DROP;

-- name: fetch_incident
SELECT id, source, external_id, category, status, tier, priority, description, address, reported_at, due_at,
       closed_at, ST_X(geom) AS lon, ST_Y(geom) AS lat, input_crs, micro_code, exclusive_code, suggested_code,
       suggested_distance_m, assignee, handler
FROM incident WHERE source = %(source)s AND external_id = %(external_id)s;

-- name: fetch_incident_events
SELECT at, from_status, to_status, actor, note
FROM incident_event WHERE incident_id = %(incident_id)s ORDER BY at, id;

-- name: save_incident_status
UPDATE incident
SET status = %(status)s, handler = coalesce(%(handler)s, handler), due_at = coalesce(%(due_at)s, due_at),
    tier = coalesce(%(tier)s, tier), assignee = coalesce(%(assignee)s, assignee),
    closed_at = CASE WHEN %(status)s = gis_closed_status() THEN now() ELSE closed_at END, updated_at = now()
WHERE id = %(incident_id)s;

-- name: save_incident_event
INSERT INTO incident_event (incident_id, from_status, to_status, actor, note)
VALUES (%(incident_id)s, %(from_status)s, %(to_status)s, %(actor)s, %(note)s);

-- name: fetch_incidents_export
SELECT source, external_id, category, status, tier, ST_X(geom) AS lon, ST_Y(geom) AS lat, reported_at, due_at,
       closed_at, description, address, micro_code, exclusive_code, assignee, priority
FROM incident
WHERE (%(since)s::timestamptz IS NULL OR reported_at >= %(since)s)
ORDER BY reported_at, source, external_id;

-- name: fetch_new_incident_ids
-- reserve ids for a bulk load that COPYs straight into incident
SELECT nextval(pg_get_serial_sequence('incident', 'id')) AS id FROM generate_series(1, %(n)s);

-- name: fetch_non_demo_incident_count
SELECT count(*) AS n
FROM incident i LEFT JOIN import_batch b ON b.id = i.batch_id
WHERE b.kind IS DISTINCT FROM 'demo';

-- name: save_incidents_truncated
TRUNCATE incident, incident_event;

-- name: save_demo_incidents_removed
DELETE FROM incident WHERE batch_id IN (SELECT id FROM import_batch WHERE kind = 'demo');

-- name: fetch_overdue
-- open cases past their deadline that are not yet under supervision
SELECT id, category, status, tier, due_at, micro_code, exclusive_code
FROM incident
WHERE gis_is_open(status) AND status <> 'supervised' AND due_at < %(now)s
FOR UPDATE;

-- name: save_escalated_table
CREATE TEMP TABLE escalated (
    id bigint PRIMARY KEY, from_status text, status text, tier text, due_at timestamptz, assignee text, note text
) ON COMMIT DROP;

-- name: save_escalations
WITH changed AS (
    UPDATE incident i
    SET status = e.status, tier = e.tier, due_at = e.due_at, assignee = coalesce(e.assignee, i.assignee),
        updated_at = now()
    FROM escalated e WHERE e.id = i.id
    RETURNING i.id
)
INSERT INTO incident_event (incident_id, at, from_status, to_status, actor, note)
SELECT e.id, %(now)s, e.from_status, e.status, %(actor)s, e.note
FROM escalated e JOIN changed c ON c.id = e.id;
