-- The KPI counts defined once (DESIGN.md, "KPIs"), as row predicates every aggregate uses,
-- and the index a register reload needs.
--
-- * Each predicate says whether one case counts, as things stood at `now` (a case closed after
--   now still counts as open then). The queries write count(*) FILTER (WHERE gis_kpi_…(…));
--   the functions are plain SQL expressions, so the planner inlines them: no call per row.
--   办结 = closed by now; 应办结 = closed by now or past its deadline; 按期 = closed by now and
--   by its deadline; open = in an open status or closed after now; 超期(督办) = open and past
--   its deadline or under supervision.
-- * incident.address_id references the address register; without an index, replacing the
--   register (DELETE FROM address) scanned every case once per address (16 minutes for 52,000
--   addresses over 100,000 cases).

CREATE FUNCTION gis_kpi_completed(status text, closed_at timestamptz, now timestamptz) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT status = gis_closed_status() AND coalesce(closed_at <= now, true)
$$;

CREATE FUNCTION gis_kpi_due(status text, closed_at timestamptz, due_at timestamptz, now timestamptz)
    RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (status = gis_closed_status() AND coalesce(closed_at <= now, true)) OR due_at <= now
$$;

CREATE FUNCTION gis_kpi_on_time(status text, closed_at timestamptz, due_at timestamptz, now timestamptz)
    RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT status = gis_closed_status() AND closed_at <= due_at AND closed_at <= now
$$;

CREATE FUNCTION gis_kpi_open(status text, closed_at timestamptz, now timestamptz) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT gis_is_open(status) OR closed_at > now
$$;

CREATE FUNCTION gis_kpi_overdue(status text, closed_at timestamptz, due_at timestamptz, now timestamptz)
    RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (gis_is_open(status) OR closed_at > now) AND (due_at < now OR status = gis_supervised_status())
$$;

CREATE INDEX incident_address ON incident (address_id) WHERE address_id IS NOT NULL;
