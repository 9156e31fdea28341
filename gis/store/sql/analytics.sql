-- Aggregates for maps, KPIs and bulletins. Every query takes the same case filter,
-- filtered_incidents() of migration 0005: since/until (reported_at, half-open),
-- categories, sources, statuses, micro_codes, exclusive_codes (text[] or NULL for all), and now
-- (what counts as overdue; figures are as things stood then).
-- The KPI counts are the gis_kpi_* predicates of migration 0012 (办结, 应办结, 按期, open, 超期), the
-- one definition every aggregate counts with; the statuses behind them come from
-- gis.core.rules.lifecycle through db init.

-- name: fetch_period_stats
-- The one definition of the KPI counts, in one pass over the filtered cases: per micro-grid,
-- as things stood at now (a case closed after now still counts as open then), each row
-- carrying the period's median and 90th percentile of reported → closed in hours (NULL when
-- no case was closed by now) and the micro-grid's 回访 counts (visited, satisfied: 满意 + 基本满意;
-- their sums are the period's).
WITH f AS MATERIALIZED (
    SELECT id, micro_code, status, reported_at, due_at, closed_at
    FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
), stats AS (
    SELECT micro_code,
           count(*) AS received,
           count(*) FILTER (WHERE gis_kpi_completed(status, closed_at, %(now)s)) AS completed,
           count(*) FILTER (WHERE gis_kpi_due(status, closed_at, due_at, %(now)s)) AS due,
           count(*) FILTER (WHERE gis_kpi_on_time(status, closed_at, due_at, %(now)s)) AS on_time,
           count(*) FILTER (WHERE gis_kpi_open(status, closed_at, %(now)s)) AS open,
           count(*) FILTER (WHERE gis_kpi_overdue(status, closed_at, due_at, %(now)s)) AS overdue
    FROM f
    GROUP BY micro_code
), hours AS (
    -- both percentiles from one sort
    SELECT percentile_cont(ARRAY[0.5, 0.9]::float8[])
               WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - reported_at) / 3600) AS h
    FROM f
    WHERE gis_kpi_completed(status, closed_at, %(now)s) AND closed_at IS NOT NULL
), visits AS (
    -- 满意率's counts per micro-grid: the cases with a 回访 by now, each by its latest one (migration 0007)
    SELECT micro_code, count(*) AS visited,
           count(*) FILTER (WHERE result IN ('satisfied', 'basically_satisfied')) AS satisfied
    FROM (SELECT DISTINCT ON (v.incident_id) f.micro_code, v.result
          FROM incident_visit v JOIN f ON f.id = v.incident_id
          WHERE v.at <= %(now)s
          ORDER BY v.incident_id, v.at DESC, v.id DESC) latest
    GROUP BY micro_code
)
SELECT stats.*, coalesce(visits.visited, 0) AS visited, coalesce(visits.satisfied, 0) AS satisfied,
       hours.h[1] AS median_h, hours.h[2] AS p90_h
FROM stats CROSS JOIN hours
LEFT JOIN visits ON visits.micro_code IS NOT DISTINCT FROM stats.micro_code;

-- name: fetch_daily_counts
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS received,
       count(*) FILTER (WHERE gis_kpi_completed(status, closed_at, %(now)s)) AS completed
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
GROUP BY 1 ORDER BY 1;

-- name: fetch_category_counts
SELECT category, count(*) AS received,
       count(*) FILTER (WHERE gis_kpi_open(status, closed_at, %(now)s)) AS open
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
GROUP BY category ORDER BY received DESC;

-- name: fetch_heat_layers
-- the three heat layers in one pass: points snapped to cells (square on the ground: the lon step is
-- widened by 1/cos(lat)), each layer a FILTER of its own: hazard and garbage count the cases of their
-- categories; unresolved counts the cases in an open status, those past their deadline or under
-- supervision weighing overdue_weight. A layer with no case in a cell is NULL there.
SELECT round(ST_X(geom) / %(cell_lon_deg)s) * %(cell_lon_deg)s AS lon,
       round(ST_Y(geom) / %(cell_lat_deg)s) * %(cell_lat_deg)s AS lat,
       count(*) FILTER (WHERE category = ANY(%(hazard_categories)s)) AS hazard,
       count(*) FILTER (WHERE category = ANY(%(garbage_categories)s)) AS garbage,
       sum(CASE WHEN gis_kpi_overdue(status, closed_at, due_at, %(now)s)
                THEN %(overdue_weight)s ELSE 1 END) FILTER (WHERE status = ANY(%(open_statuses)s)) AS unresolved
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
WHERE (category = ANY(%(hazard_categories)s) OR category = ANY(%(garbage_categories)s)
       OR status = ANY(%(open_statuses)s))
  AND geom IS NOT NULL  -- an address-only case the register could not place has no point yet
GROUP BY 1, 2;

-- name: fetch_cases
SELECT source, external_id, category, status, tier, reported_at, due_at, closed_at, micro_code, exclusive_code,
       assignee, address, description, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM listed_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                      %(exclusive_codes)s, %(open_only)s, %(search)s)
ORDER BY reported_at DESC
LIMIT %(limit)s;
