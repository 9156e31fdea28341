-- Analysts' aggregates (gis.workflows.analytics): every query takes the case filter of
-- filtered_incidents() (migration 0005: since/until half-open on reported_at, categories, sources,
-- statuses, micro_codes, exclusive_codes; NULL = all) and now (figures as they stood then).
-- The counts mirror fetch_period_stats of analytics.sql, the one definition of the KPI counts:
-- 办结 = gis_closed_status() closed by now; 应办结 = closed by now or past its deadline; open = gis_is_open().

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
       count(*) FILTER (WHERE status = gis_closed_status() AND coalesce(closed_at <= %(now)s, true)) AS completed,
       count(*) FILTER (WHERE (status = gis_closed_status() AND coalesce(closed_at <= %(now)s, true))
                           OR due_at <= %(now)s) AS due,
       count(*) FILTER (WHERE status = gis_closed_status() AND closed_at <= due_at
                          AND closed_at <= %(now)s) AS on_time,
       count(*) FILTER (WHERE gis_is_open(status) OR closed_at > %(now)s) AS open,
       count(*) FILTER (WHERE (gis_is_open(status) OR closed_at > %(now)s)
                          AND (due_at < %(now)s OR status = 'supervised')) AS overdue
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
       assignee, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM filtered_incidents(%(since)s, %(until)s, %(categories)s, %(sources)s, %(statuses)s, %(micro_codes)s,
                        %(exclusive_codes)s)
ORDER BY reported_at, id;
