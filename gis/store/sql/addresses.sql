-- The standard address register (标准地址, 楼栋) and the placement of address-only cases.

-- name: save_addresses
-- upsert on the address text (the register's key); execute_values rows:
-- (address, community, estate, building, households, micro_code, lon, lat)
INSERT INTO address AS a (address, community, estate, building, households, micro_code, geom)
SELECT v.address, v.community, v.estate, v.building, v.households::integer, v.micro_code,
       ST_SetSRID(ST_MakePoint(v.lon::double precision, v.lat::double precision), 4326)
FROM (VALUES %s) AS v (address, community, estate, building, households, micro_code, lon, lat)
ON CONFLICT (address) DO UPDATE
SET community = excluded.community, estate = excluded.estate, building = excluded.building,
    households = excluded.households, micro_code = excluded.micro_code, geom = excluded.geom, updated_at = now()
WHERE (a.community, a.estate, a.building, a.households, a.micro_code, ST_AsBinary(a.geom))
      IS DISTINCT FROM (excluded.community, excluded.estate, excluded.building, excluded.households,
                        excluded.micro_code, ST_AsBinary(excluded.geom));

-- name: save_addresses_removed
DELETE FROM address;

-- name: fetch_addresses
SELECT id, address, community, estate, building, ST_X(geom) AS lon, ST_Y(geom) AS lat, households, micro_code
FROM address ORDER BY community, estate, address;

-- name: save_incident_placements
SELECT gis_save_incident_placements(%(batch_id)s, %(sources)s, %(external_ids)s, %(placed)s,
                                    %(address_ids)s::bigint[], %(candidates)s) AS n;
