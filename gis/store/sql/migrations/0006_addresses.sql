-- The standard address register (标准地址, 楼栋) and placing address-only tickets (issue 10, item 6).
--
-- * address: one row per building, with its point (WGS-84), households and micro-grid. Seen
--   when its micro-grid is in the user's scope (or by district-wide users); written by roles
--   with the manage_staff or plan right (the system has every right).
-- * incident.placed_by: how the case got its point: 'coordinates' (given with the ticket),
--   'address' (matched in the register; address_id names the building) or 'manual' (a dispatcher
--   placed it, e.g. from the 待分派 queue). NULL: not placed; an address-only case the register
--   could not place confidently, kept unassigned with no point (geom NULL) and its top
--   candidates in address_candidates (jsonb list of {id, address, estate, building, micro_code,
--   score, reason}), never put into a wrong grid.

CREATE TABLE address (
    id          bigserial PRIMARY KEY,
    address     text NOT NULL UNIQUE CHECK (address <> ''),
    community   text NOT NULL DEFAULT '',
    estate      text NOT NULL CHECK (estate <> ''),
    building    text NOT NULL CHECK (building <> ''),
    households  integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    micro_code  text,
    geom        geometry(Point, 4326) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX address_micro ON address (micro_code);
CREATE INDEX address_geom_gist ON address USING gist (geom);

ALTER TABLE incident ALTER COLUMN geom DROP NOT NULL;
ALTER TABLE incident ADD COLUMN placed_by text CHECK (placed_by IN ('coordinates', 'address', 'manual'));
ALTER TABLE incident ADD COLUMN address_id bigint REFERENCES address (id) ON DELETE SET NULL;
ALTER TABLE incident ADD COLUMN address_candidates jsonb;
UPDATE incident SET placed_by = 'coordinates' WHERE geom IS NOT NULL;

-- every writer (imports, the demo's direct load, the app) gets placed_by right without naming
-- it: a case with a point and no placed_by came with coordinates; a case without a point is
-- not placed, unless a dispatcher placed it by hand ('manual': a micro-grid chosen in the
-- 待分派 queue may come without a point). Imports then mark the cases they placed by address
-- (gis_save_incident_placements).
CREATE FUNCTION gis_incident_placed_by() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geom IS NULL THEN
        IF NEW.placed_by IS DISTINCT FROM 'manual' THEN
            NEW.placed_by := NULL;
        END IF;
    ELSIF NEW.placed_by IS NULL THEN
        NEW.placed_by := 'coordinates';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER incident_placed_by BEFORE INSERT OR UPDATE OF geom ON incident
    FOR EACH ROW EXECUTE FUNCTION gis_incident_placed_by();

ALTER TABLE address ENABLE ROW LEVEL SECURITY;
CREATE POLICY address_read ON address FOR SELECT USING (
    EXISTS (SELECT 1 FROM gis_principal())
    AND ((SELECT gis_sees_all()) OR micro_code IN (SELECT gis_scope_codes())));
CREATE POLICY address_write ON address FOR ALL
    USING ((SELECT gis_can('manage_staff')) OR (SELECT gis_can('plan')))
    WITH CHECK ((SELECT gis_can('manage_staff')) OR (SELECT gis_can('plan')));

-- The placement of the cases one import just merged (their batch), as the owner: a
-- street-scoped dispatcher may store an unassigned case but not update it under incident's
-- policies, and the placement must still be recorded. Arrays are parallel, one entry per case.
CREATE FUNCTION gis_save_incident_placements(batch bigint, sources text[], external_ids text[],
                                             placed text[], address_ids bigint[], candidates text[])
    RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    IF NOT gis_can('import') THEN
        RAISE EXCEPTION 'placing cases needs the import right' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE incident i
    SET placed_by = p.placed, address_id = p.address_id, address_candidates = p.candidates::jsonb
    FROM unnest(sources, external_ids, placed, address_ids, candidates)
         AS p (source, external_id, placed, address_id, candidates)
    WHERE i.source = p.source AND i.external_id = p.external_id AND i.batch_id = batch
      AND (i.placed_by, i.address_id, i.address_candidates)
          IS DISTINCT FROM (p.placed, p.address_id, p.candidates::jsonb);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON address TO gis_app;
GRANT USAGE ON SEQUENCE address_id_seq TO gis_app;
REVOKE EXECUTE ON FUNCTION gis_save_incident_placements(bigint, text[], text[], text[], bigint[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gis_save_incident_placements(bigint, text[], text[], text[], bigint[], text[]) TO gis_app;
