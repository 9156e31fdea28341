-- The case filter every aggregate shares (maps, KPIs, bulletins, the case list):
-- reported in [since, until), optional category / source / status / micro-grid lists
-- (NULL for all). A single-SELECT SQL function, STABLE, so the planner inlines it
-- and the indexes on incident still serve the outer query.
CREATE FUNCTION filtered_incidents(since timestamptz, until timestamptz, categories text[], sources text[],
                                   statuses text[], micro_codes text[])
RETURNS SETOF incident
LANGUAGE sql STABLE
AS $$
    SELECT * FROM incident
    WHERE reported_at >= since AND reported_at < until
      AND (categories IS NULL OR category = ANY(categories))
      AND (sources IS NULL OR source = ANY(sources))
      AND (statuses IS NULL OR status = ANY(statuses))
      AND (micro_codes IS NULL OR micro_code = ANY(micro_codes))
$$;
