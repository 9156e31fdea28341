-- City scale (issue 14): the database's own count of points per micro-grid that the Dask path is
-- checked against (the GeoParquet export streams fetch_incidents_export of incidents.sql).

-- name: save_scale_micro_table
-- the version's micro-grids in a temporary table with its own GiST index: row-level security on
-- grid makes ST_Covers a filter after the security quals (no index, every grid for every point:
-- 200,000 demo points took 504 s); the copy is read once under those rules, then probed by index
CREATE TEMP TABLE scale_micro ON COMMIT DROP AS
SELECT code, geom FROM grid WHERE version_id = %(version_id)s AND level = 'micro';
CREATE INDEX ON scale_micro USING gist (geom);
ANALYZE scale_micro;

-- name: fetch_covering_micro_counts
-- incidents per micro-grid of the version in scale_micro × period (its first day in China time: the
-- day, the ISO week's Monday, the month's first day) × category (NULL unless split): each point goes
-- to the micro-grid that covers it (ST_Covers: the boundary counts), on a shared edge or vertex the
-- lowest code (GridIndex's rule; COLLATE "C" orders codes by code point, as Python does); micro_code
-- NULL for a point that no micro-grid covers. Independent of the micro_code stored at intake.
SELECT m.micro_code,
       (CASE %(by)s WHEN 'day' THEN date_trunc('day', i.reported_at AT TIME ZONE 'Asia/Shanghai')
                    WHEN 'week' THEN date_trunc('week', i.reported_at AT TIME ZONE 'Asia/Shanghai')
                    ELSE date_trunc('month', i.reported_at AT TIME ZONE 'Asia/Shanghai') END)::date AS period,
       CASE WHEN %(split_category)s THEN i.category END AS category,
       count(*)::bigint AS count
FROM incident i
LEFT JOIN LATERAL (
    SELECT min(g.code COLLATE "C") AS micro_code
    FROM scale_micro g
    WHERE ST_Covers(g.geom, i.geom)
) m ON true
WHERE (%(categories)s::text[] IS NULL OR i.category = ANY(%(categories)s::text[]))
GROUP BY 1, 2, 3;
