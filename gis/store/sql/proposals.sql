-- Balanced proposals (网格划分建议): the address register's buildings in an area's box.

-- name: fetch_addresses_in
-- the buildings (visible to the caller) whose point lies in a box (WGS-84), e.g. the bounds of
-- the area a proposal tiles; the job keeps those inside the area itself
SELECT id, address, ST_X(geom) AS lon, ST_Y(geom) AS lat, households, micro_code
FROM address
WHERE geom && ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326)
ORDER BY id;
