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
-- the staging table one import COPYs into (a temporary table: no WAL, dropped with the
-- transaction); times arrive as UTC without a zone, which COPY parses ten times faster
CREATE TEMP TABLE incoming (
    line integer, source text, external_id text, category text, status text, tier text,
    priority text, description text, address text, reporter_phone text,
    reported_at timestamp, due_at timestamp, closed_at timestamp,
    lon double precision, lat double precision, input_crs text,
    micro_code text, exclusive_code text, suggested_code text, suggested_distance_m double precision,
    assignee text, handler text, informed text
) ON COMMIT DROP;

-- name: save_incoming_analyzed
ANALYZE incoming;

-- name: fetch_incoming_new_count
-- staged rows whose key is not stored yet (to choose how to merge)
SELECT count(*) AS n FROM incoming s
WHERE NOT EXISTS (SELECT 1 FROM incident o WHERE o.source = s.source AND o.external_id = s.external_id);

-- name: save_incoming_merged
-- merge on (source, external_id), set-based: rows with a new key are inserted, rows whose
-- stored values differ are updated, identical rows left alone; one event per new incident
-- (at its report time) and per change. Every part reads the snapshot of the statement's
-- start, so store.save_incoming_merged takes the merge lock in a statement before this one:
-- concurrent imports merge one after another, each seeing the keys the one before stored.
-- A key a writer outside that lock stored meanwhile fails the insert (unique violation) and
-- the statement runs again (a plain INSERT is twice as fast as ON CONFLICT).
WITH fresh AS (
    INSERT INTO incident AS i (source, external_id, category, status, tier, priority, description, address,
                               reporter_phone, reported_at, due_at, closed_at, geom, input_crs, micro_code,
                               exclusive_code, grid_version_id, suggested_code, suggested_distance_m,
                               assignee, handler, batch_id, informed)
    SELECT s.source, s.external_id, s.category, s.status, s.tier, s.priority, s.description, s.address,
           s.reporter_phone, s.reported_at AT TIME ZONE 'UTC', s.due_at AT TIME ZONE 'UTC',
           s.closed_at AT TIME ZONE 'UTC', ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), s.input_crs,
           s.micro_code, s.exclusive_code, %(version_id)s, s.suggested_code, s.suggested_distance_m, s.assignee,
           s.handler, %(batch_id)s, s.informed
    FROM incoming s
    WHERE NOT EXISTS (SELECT 1 FROM incident o WHERE o.source = s.source AND o.external_id = s.external_id)
    RETURNING i.id, i.status, i.reported_at
), matched AS (
    -- a row whose stage ranks below the stored one (an old export re-imported) keeps the stored
    -- stage and its closing time: an import never moves a case backwards (gis_stage_rank, db init)
    SELECT o.id, o.status AS prior_status, s.*,
           coalesce(gis_stage_rank(s.status) < gis_stage_rank(o.status), false) AS older,
           o.status AS stored_status, o.closed_at AS stored_closed_at
    FROM incoming s JOIN incident o ON o.source = s.source AND o.external_id = s.external_id
), changed AS (
    SELECT m.*, CASE WHEN m.older THEN m.stored_status ELSE m.status END AS new_status,
           CASE WHEN m.older THEN m.stored_closed_at ELSE m.closed_at AT TIME ZONE 'UTC' END AS closed_tz,
           m.reported_at AT TIME ZONE 'UTC' AS reported_tz, ST_SetSRID(ST_MakePoint(m.lon, m.lat), 4326) AS geom
    FROM matched m JOIN incident o ON o.id = m.id
    WHERE (o.category, o.status, o.priority, o.description, o.address, o.reporter_phone, o.reported_at,
           o.closed_at, ST_AsBinary(o.geom), o.input_crs)
          IS DISTINCT FROM
          (m.category, CASE WHEN m.older THEN m.stored_status ELSE m.status END, m.priority, m.description,
           m.address, m.reporter_phone, m.reported_at AT TIME ZONE 'UTC',
           CASE WHEN m.older THEN m.stored_closed_at ELSE m.closed_at AT TIME ZONE 'UTC' END,
           ST_AsBinary(ST_SetSRID(ST_MakePoint(m.lon, m.lat), 4326)), m.input_crs)
), updated AS (
    UPDATE incident AS i
    SET category = c.category, status = c.new_status, tier = c.tier, priority = c.priority,
        description = c.description, address = c.address, reporter_phone = c.reporter_phone,
        reported_at = c.reported_tz, due_at = c.due_at AT TIME ZONE 'UTC', closed_at = c.closed_tz,
        geom = c.geom, input_crs = c.input_crs, micro_code = c.micro_code, exclusive_code = c.exclusive_code,
        grid_version_id = %(version_id)s, suggested_code = c.suggested_code,
        suggested_distance_m = c.suggested_distance_m, assignee = c.assignee, informed = c.informed,
        handler = CASE WHEN c.older THEN i.handler ELSE coalesce(c.handler, i.handler) END,
        batch_id = %(batch_id)s, updated_at = now()
    FROM changed c
    WHERE i.id = c.id
    RETURNING i.id, c.prior_status, i.status
), events AS (
    INSERT INTO incident_event (incident_id, at, from_status, to_status, actor, note)
    SELECT id, reported_at, NULL, status, %(actor)s, %(note_new)s FROM fresh
    UNION ALL
    SELECT id, now(), prior_status, status, %(actor)s,
           CASE WHEN prior_status = status THEN %(note_changed)s ELSE %(note_status)s END
    FROM updated
)
SELECT (SELECT count(*) FROM fresh) AS inserted, (SELECT count(*) FROM updated) AS updated,
       (SELECT array_agg(line ORDER BY line) FROM (SELECT line FROM matched WHERE older ORDER BY line LIMIT 20) l)
           AS older_lines,
       (SELECT count(*) FROM matched WHERE older) AS older;

-- name: fetch_incident
SELECT id, source, external_id, category, status, tier, priority, description, address, reported_at, due_at,
       closed_at, ST_X(geom) AS lon, ST_Y(geom) AS lat, input_crs, micro_code, exclusive_code, suggested_code,
       suggested_distance_m, assignee, handler, reporter_phone, informed
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
-- the owner's function (jobs own no table), for a user with the maintain right
SELECT gis_truncate_incidents();

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

-- name: fetch_cases_export
-- every case of the cases page's filter, search and open-only choice (listed_incidents, as
-- fetch_cases in analytics.sql without its LIMIT), newest first, read through a server-side cursor
SELECT external_id, source, category, status, tier, reported_at, due_at, closed_at, micro_code, exclusive_code,
       assignee, reporter_phone, address, description
FROM listed_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                      %(exclusive_codes)s, %(open_only)s, %(search)s)
ORDER BY reported_at DESC, id DESC;

-- name: fetch_cases_export_count
SELECT count(*) AS n
FROM listed_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                      %(exclusive_codes)s, %(open_only)s, %(search)s);
