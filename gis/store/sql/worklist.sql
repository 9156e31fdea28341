-- 工作台: the cases in view that fall in at least one bucket of gis.core.worklist (reported today,
-- open and due by the end of the 即将超期 window or already overdue, or under 督办). The job tags
-- the buckets from these rows with the same boundaries; row-level security narrows them to the
-- user's scope. The micro-grid's name is read from the grid version the case is stored with.

-- name: fetch_worklist
SELECT i.source, i.external_id, i.category, i.status, i.tier, i.reported_at, i.due_at, i.micro_code,
       m.name AS micro_name, i.exclusive_code, x.name AS exclusive_name, i.assignee, i.reporter_phone,
       i.address
FROM incident i
LEFT JOIN grid m ON m.version_id = i.grid_version_id AND m.code = i.micro_code
LEFT JOIN grid x ON x.version_id = i.grid_version_id AND x.code = i.exclusive_code
WHERE ((i.reported_at >= %(today_start)s AND i.reported_at < %(tomorrow_start)s)
       OR (gis_is_open(i.status)
           AND (i.due_at <= %(due_soon_until)s OR i.status = gis_supervised_status())))
  AND (%(micro_codes)s::text[] IS NULL OR i.micro_code = ANY (%(micro_codes)s::text[]))
  AND (%(exclusive_codes)s::text[] IS NULL OR i.exclusive_code = ANY (%(exclusive_codes)s::text[]));
