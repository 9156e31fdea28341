-- Aggregates for maps, KPIs and bulletins. Every query takes the same case filter,
-- filtered_incidents() of migration 0002: since/until (reported_at, half-open),
-- categories, sources, statuses, micro_codes (text[] or NULL for all), and now
-- (what counts as overdue; figures are as things stood then).
-- 办结 (completed) = gis_closed_status() (结案); open = gis_is_open(status); both made by db init
-- from gis.core.rules.lifecycle.

-- name: fetch_micro_stats
-- as things stood at now: a case closed after now still counts as open then
SELECT micro_code,
       count(*) AS received,
       count(*) FILTER (WHERE status = gis_closed_status() AND coalesce(closed_at <= %(now)s, true)) AS completed,
       count(*) FILTER (WHERE (status = gis_closed_status() AND coalesce(closed_at <= %(now)s, true))
                           OR due_at <= %(now)s) AS due,
       count(*) FILTER (WHERE status = gis_closed_status() AND closed_at <= due_at AND closed_at <= %(now)s) AS on_time,
       count(*) FILTER (WHERE gis_is_open(status) OR closed_at > %(now)s) AS open,
       count(*) FILTER (WHERE (gis_is_open(status) OR closed_at > %(now)s)
                          AND (due_at < %(now)s OR status = 'supervised')) AS overdue
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s)
GROUP BY micro_code;

-- name: fetch_handling_hours
-- median and 90th percentile of reported → closed, in hours
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - reported_at) / 3600) AS median_h,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - reported_at) / 3600) AS p90_h
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s)
WHERE status = gis_closed_status() AND closed_at IS NOT NULL AND closed_at <= %(now)s;

-- name: fetch_daily_counts
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS received,
       count(*) FILTER (WHERE status = gis_closed_status() AND coalesce(closed_at <= %(now)s, true)) AS completed
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s)
GROUP BY 1 ORDER BY 1;

-- name: fetch_category_counts
SELECT category, count(*) AS received,
       count(*) FILTER (WHERE gis_is_open(status) OR closed_at > %(now)s) AS open
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s)
GROUP BY category ORDER BY received DESC;

-- name: fetch_heat_cells
-- points snapped to cells (square on the ground: the lon step is widened by 1/cos(lat)),
-- counted; open cases past their deadline or under supervision weigh overdue_weight
SELECT round(ST_X(geom) / %(cell_lon_deg)s) * %(cell_lon_deg)s AS lon,
       round(ST_Y(geom) / %(cell_lat_deg)s) * %(cell_lat_deg)s AS lat,
       sum(CASE WHEN gis_is_open(status)
                     AND (due_at < %(now)s OR status = 'supervised')
                THEN %(overdue_weight)s ELSE 1 END) AS weight
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s)
GROUP BY 1, 2;

-- name: fetch_cases
SELECT source, external_id, category, status, tier, reported_at, due_at, closed_at, micro_code, exclusive_code,
       assignee, address, description, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s)
WHERE true
  AND (%(open_only)s IS FALSE OR gis_is_open(status))
  AND (%(search)s::text IS NULL OR external_id ILIKE %(search)s OR address ILIKE %(search)s
       OR description ILIKE %(search)s OR assignee ILIKE %(search)s)
ORDER BY reported_at DESC
LIMIT %(limit)s;
