-- Read-only SQL for analysts (issue 13): personal data masked, row-level security kept.
--
-- An analyst's own queries (a notebook's read_postgis) run as the role gis_analyst, in a
-- read-only transaction whose search_path puts the schema `analyst` first:
--
-- * `incident` and `grid_staff` resolve to views of the same name in `analyst`, whose phone
--   column is masked (138****5678) by a definer function; the role has no right to read the
--   phone columns of the tables themselves (column grants), so `public.incident` cannot be
--   read whole either.
-- * The views are security_invoker: the tables' row-level security applies to the analyst as
--   to the app (the signed-in account's scope), with the same policies, not a copy of them.
-- * The other tables without personal data are granted as they are; accounts, the audit
--   trail, import rejects (raw rows) and attachments are not granted at all.
--
-- The role is created by ensure_roles() (gis/store/migrate.py's ANALYST_ROLE) before this runs.

-- the masking rule of gis.core.roster.mask_phone, for SQL (a test holds the two equal)
CREATE FUNCTION gis_mask_phone(phone text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN phone IS NULL THEN NULL
        WHEN phone = '' THEN ''
        WHEN position('-' IN phone) > 0 THEN
            split_part(phone, '-', 1) || '-'
            || repeat('*', greatest(length(substr(phone, position('-' IN phone) + 1)) - 4, 0))
            || right(substr(phone, position('-' IN phone) + 1), 4)
        WHEN length(phone) <= 7 THEN repeat('*', length(phone))
        ELSE left(phone, 3) || repeat('*', length(phone) - 7) || right(phone, 4)
    END
$$;

-- a case's reporter phone, masked; only the analyst role may call it
CREATE FUNCTION gis_masked_reporter_phone(incident_id bigint) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT gis_mask_phone(i.reporter_phone) FROM incident i WHERE i.id = incident_id
$$;

-- a staff member's phone, masked
CREATE FUNCTION gis_masked_staff_phone(staff_id bigint) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT gis_mask_phone(s.phone) FROM grid_staff s WHERE s.id = staff_id
$$;

CREATE SCHEMA analyst;

CREATE VIEW analyst.incident WITH (security_invoker = true, security_barrier = true) AS
    SELECT i.id, i.source, i.external_id, i.category, i.status, i.tier, i.priority, i.description,
           i.address, gis_masked_reporter_phone(i.id) AS reporter_phone, i.reported_at, i.due_at,
           i.closed_at, i.geom, i.input_crs, i.micro_code, i.exclusive_code, i.grid_version_id,
           i.suggested_code, i.suggested_distance_m, i.assignee, i.handler, i.batch_id, i.created_at,
           i.updated_at, i.placed_by, i.address_id, i.address_candidates, i.informed
    FROM public.incident i;

CREATE VIEW analyst.grid_staff WITH (security_invoker = true, security_barrier = true) AS
    SELECT s.id, s.grid_code, s.role, s.name, gis_masked_staff_phone(s.id) AS phone, s.on_duty
    FROM public.grid_staff s;

GRANT USAGE ON SCHEMA public, analyst TO gis_analyst;
GRANT SELECT ON analyst.incident, analyst.grid_staff TO gis_analyst;
GRANT SELECT (id, source, external_id, category, status, tier, priority, description, address, reported_at,
              due_at, closed_at, geom, input_crs, micro_code, exclusive_code, grid_version_id, suggested_code,
              suggested_distance_m, assignee, handler, batch_id, created_at, updated_at, placed_by, address_id,
              address_candidates, informed) ON public.incident TO gis_analyst;
GRANT SELECT (id, grid_code, role, name, on_duty) ON public.grid_staff TO gis_analyst;
GRANT SELECT ON grid, grid_version, grid_ancestry, incident_event, incident_visit, incident_extension,
    incident_department_report, address, import_batch, spatial_ref_sys TO gis_analyst;
REVOKE EXECUTE ON FUNCTION gis_masked_reporter_phone(bigint), gis_masked_staff_phone(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gis_masked_reporter_phone(bigint), gis_masked_staff_phone(bigint) TO gis_analyst;
