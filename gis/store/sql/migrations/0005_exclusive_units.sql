-- Exclusive grids (专属网格) as units of their own: the case filter every aggregate shares
-- gains a list of exclusive grids, so `unit=<exclusive code>` counts the cases that fell in
-- that grid (incident.exclusive_code) rather than the micro-grids beneath it. One definition:
-- the six-argument filter of 0002 is replaced, not kept beside it.
DROP FUNCTION filtered_incidents(timestamptz, timestamptz, text[], text[], text[], text[]);
CREATE FUNCTION filtered_incidents(since timestamptz, until timestamptz, categories text[], sources text[],
                                   statuses text[], micro_codes text[], exclusive_codes text[])
RETURNS SETOF incident
LANGUAGE sql STABLE
AS $$
    SELECT * FROM incident
    WHERE reported_at >= since AND reported_at < until
      AND (categories IS NULL OR category = ANY(categories))
      AND (sources IS NULL OR source = ANY(sources))
      AND (statuses IS NULL OR status = ANY(statuses))
      AND (micro_codes IS NULL OR micro_code = ANY(micro_codes))
      AND (exclusive_codes IS NULL OR exclusive_code = ANY(exclusive_codes))
$$;
CREATE INDEX incident_exclusive ON incident (exclusive_code) WHERE exclusive_code IS NOT NULL;
