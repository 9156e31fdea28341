-- The cases the case list shows and exports: the shared case filter, then "open only" and the
-- search box (a LIKE pattern with its wildcards escaped, gis.store.db.like_pattern). One
-- definition for the on-screen list, the streamed export and its count.
CREATE FUNCTION listed_incidents(since timestamptz, until timestamptz, categories text[], sources text[],
                                 statuses text[], micro_codes text[], exclusive_codes text[],
                                 open_only boolean, search text)
RETURNS SETOF incident
LANGUAGE sql STABLE
AS $$
    SELECT * FROM filtered_incidents(since, until, categories, sources, statuses, micro_codes, exclusive_codes) f
    WHERE (open_only IS NOT TRUE OR gis_is_open(f.status))
      AND (search IS NULL OR f.external_id ILIKE search OR f.address ILIKE search
           OR f.description ILIKE search OR f.assignee ILIKE search)
$$;
