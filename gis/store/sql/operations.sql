-- The closed loop worked in the app: actions, attachments, 回访, 协同办 reports, 延期, the 待分派 queue.

-- name: fetch_incident_for_update
-- one case, locked for the action (two people acting at once act one after the other)
SELECT id, source, external_id, category, status, tier, due_at, micro_code, exclusive_code, assignee, handler,
       reported_at, closed_at
FROM incident WHERE source = %(source)s AND external_id = %(external_id)s
FOR UPDATE;

-- name: save_incident_action
UPDATE incident
SET status = %(status)s, handler = coalesce(%(handler)s, handler), due_at = coalesce(%(due_at)s, due_at),
    assignee = coalesce(%(assignee)s, assignee), micro_code = coalesce(%(micro_code)s, micro_code),
    -- a person put a 待分派 case into its micro-grid (0006: placed_by)
    placed_by = CASE WHEN micro_code IS NULL AND %(micro_code)s::text IS NOT NULL THEN 'manual' ELSE placed_by END,
    closed_at = CASE WHEN %(status)s = gis_closed_status() THEN now() ELSE closed_at END, updated_at = now()
WHERE id = %(incident_id)s;

-- name: save_action_event
INSERT INTO incident_event (incident_id, from_status, to_status, actor, note, action, at)
VALUES (%(incident_id)s, %(from_status)s, %(to_status)s, %(actor)s, %(note)s, %(action)s, clock_timestamp())
RETURNING id;

-- name: fetch_action_events
SELECT e.id, e.at, e.action, e.from_status, e.to_status, e.actor, e.note,
       (SELECT count(*) FROM incident_attachment a WHERE a.event_id = e.id) AS photos
FROM incident_event e WHERE e.incident_id = %(incident_id)s ORDER BY e.at, e.id;

-- name: save_attachment
INSERT INTO incident_attachment (incident_id, event_id, file_name, content_type, size_bytes, data, uploaded_by)
VALUES (%(incident_id)s, %(event_id)s, %(file_name)s, %(content_type)s, %(size_bytes)s, %(data)s,
        %(uploaded_by)s)
RETURNING id;

-- name: fetch_attachments
SELECT id, event_id, file_name, content_type, size_bytes, data, uploaded_by, uploaded_at
FROM incident_attachment WHERE incident_id = %(incident_id)s ORDER BY uploaded_at, id;

-- name: save_visit
INSERT INTO incident_visit (incident_id, channel, result, note, actor)
VALUES (%(incident_id)s, %(channel)s, %(result)s, %(note)s, %(actor)s)
RETURNING id;

-- name: fetch_visits
SELECT at, channel, result, note, actor FROM incident_visit WHERE incident_id = %(incident_id)s ORDER BY at, id;

-- name: fetch_satisfaction
-- 满意率 of the cases in view with a 回访: each case counts once, by its latest visit of the channel(s)
WITH latest AS (
    SELECT DISTINCT ON (v.incident_id) v.incident_id, v.result
    FROM incident_visit v JOIN incident i ON i.id = v.incident_id
    WHERE (%(channel)s::text IS NULL OR v.channel = %(channel)s)
      AND (%(since)s::timestamptz IS NULL OR i.reported_at >= %(since)s)
      AND (%(until)s::timestamptz IS NULL OR i.reported_at < %(until)s)
    ORDER BY v.incident_id, v.at DESC, v.id DESC
)
SELECT count(*) AS visited,
       count(*) FILTER (WHERE result = 'satisfied') AS satisfied,
       count(*) FILTER (WHERE result = 'basically_satisfied') AS basically_satisfied,
       count(*) FILTER (WHERE result = 'dissatisfied') AS dissatisfied
FROM latest;

-- name: save_departments
INSERT INTO incident_department_report (incident_id, department, is_lead, due_at)
SELECT %(incident_id)s, d.department, d.is_lead, %(due_at)s
FROM unnest(%(departments)s::text[], %(leads)s::boolean[]) AS d (department, is_lead)
ON CONFLICT (incident_id, department) DO NOTHING;

-- name: fetch_departments
SELECT department, is_lead, due_at, reported_at, reported_by, action_note
FROM incident_department_report WHERE incident_id = %(incident_id)s ORDER BY is_lead DESC, id;

-- name: save_department_report
UPDATE incident_department_report
SET reported_at = now(), reported_by = %(reported_by)s, action_note = %(action_note)s
WHERE incident_id = %(incident_id)s AND department = %(department)s
RETURNING is_lead;

-- name: fetch_overdue_reports
-- 协同办 departments that have not reported by their time, on open cases (督办)
SELECT i.source, i.external_id, i.category, i.status, d.department, d.is_lead, d.due_at
FROM incident_department_report d JOIN incident i ON i.id = d.incident_id
WHERE d.reported_at IS NULL AND d.due_at < %(now)s AND NOT (i.status = ANY (gis_done_statuses()))
ORDER BY d.due_at, i.id, d.department;

-- name: save_extension_request
INSERT INTO incident_extension (incident_id, requested_by, new_due_at, reason)
VALUES (%(incident_id)s, %(requested_by)s, %(new_due_at)s, %(reason)s)
RETURNING id;

-- name: fetch_pending_extension
SELECT id, requested_by, requested_at, new_due_at, reason
FROM incident_extension WHERE incident_id = %(incident_id)s AND decided_at IS NULL;

-- name: save_extension_decision
UPDATE incident_extension
SET decided_by = %(decided_by)s, decided_at = now(), approved = %(approved)s
WHERE id = %(extension_id)s;

-- name: fetch_actionable
-- the cases in view a user may work on (row-level security narrows them to the scope);
-- only_assignee for a grid worker: the cases dispatched to them
SELECT source, external_id, category, status, tier, reported_at, due_at, address, description, micro_code,
       assignee, handler
FROM incident
WHERE NOT (status = ANY (%(excluded)s::text[]))
  AND (%(assignee)s::text IS NULL OR assignee = %(assignee)s)
ORDER BY due_at NULLS LAST, reported_at
LIMIT %(limit)s;

-- name: fetch_queue
-- 待分派: cases in view with no micro-grid, open, with the suggested micro-grid and its distance
SELECT *
FROM (SELECT i.source, i.external_id, i.category, i.status, i.reported_at, i.address, i.description,
             i.suggested_code, i.suggested_distance_m, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
             -- address candidates, where the address register (migration 0006) stores them
             coalesce(to_jsonb(i) -> 'address_candidates', to_jsonb(i) -> 'candidates') AS address_candidates
      FROM incident i
      WHERE i.micro_code IS NULL AND NOT (i.status = ANY (gis_done_statuses()))) q
ORDER BY reported_at
LIMIT %(limit)s;

-- name: fetch_queue_count
SELECT count(*) AS n FROM incident WHERE micro_code IS NULL AND NOT (status = ANY (gis_done_statuses()));

-- name: fetch_closed_of_batch
SELECT id, source, closed_at FROM incident
WHERE batch_id = %(batch_id)s AND status = gis_closed_status() AND closed_at IS NOT NULL;

-- name: save_visits
INSERT INTO incident_visit (incident_id, channel, result, note, actor, at) VALUES %s;
