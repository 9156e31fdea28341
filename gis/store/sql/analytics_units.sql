-- Analysts' aggregates (gis.workflows.analytics): every query takes the case filter of
-- filtered_incidents() (migration 0005: since/until half-open on reported_at, categories, sources,
-- statuses, micro_codes, exclusive_codes; NULL = all) and now (figures as they stood then).
-- The counts are the gis_kpi_* predicates of migration 0012, as in fetch_period_stats.

-- name: fetch_period_unit_counts
-- per micro-grid × period (its first day, China time: the day, the ISO week's Monday, the month's
-- first) × category × source; category and source are NULL unless split_category / split_source.
SELECT micro_code,
       (CASE %(by)s WHEN 'day' THEN date_trunc('day', reported_at AT TIME ZONE 'Asia/Shanghai')
                    WHEN 'week' THEN date_trunc('week', reported_at AT TIME ZONE 'Asia/Shanghai')
                    ELSE date_trunc('month', reported_at AT TIME ZONE 'Asia/Shanghai') END)::date AS period,
       CASE WHEN %(split_category)s THEN category END AS category,
       CASE WHEN %(split_source)s THEN source END AS source,
       count(*) AS received,
       count(*) FILTER (WHERE gis_kpi_completed(status, closed_at, %(now)s)) AS completed,
       count(*) FILTER (WHERE gis_kpi_due(status, closed_at, due_at, %(now)s)) AS due,
       count(*) FILTER (WHERE gis_kpi_on_time(status, closed_at, due_at, %(now)s)) AS on_time,
       count(*) FILTER (WHERE gis_kpi_open(status, closed_at, %(now)s)) AS open,
       count(*) FILTER (WHERE gis_kpi_overdue(status, closed_at, due_at, %(now)s)) AS overdue
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
GROUP BY 1, 2, 3, 4
ORDER BY 2, 1, 3, 4;

-- name: fetch_micro_case_counts
-- cases per micro-grid (the hot spots' counts; the unassigned as micro_code NULL)
SELECT micro_code, count(*) AS received
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
GROUP BY 1;

-- name: fetch_analysis_cases
-- one row per case with what repeat locations and workload need (points in degrees WGS-84; an
-- address-only case the register could not place has none)
SELECT id, source, external_id, category, status, tier, reported_at, closed_at, micro_code, exclusive_code,
       assignee, address, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
ORDER BY reported_at, id;

-- name: fetch_latest_report
-- when the latest case in scope was reported (row-level security applies)
SELECT max(reported_at) FROM incident;
