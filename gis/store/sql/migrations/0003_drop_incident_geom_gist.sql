-- No query filters incidents by location: maps and heat cells read ST_X/ST_Y of the
-- rows that filtered_incidents() selects by time, category, source, status and
-- micro-grid (btree indexes), and assignment happens in memory (GridIndex) before
-- storing. The GiST index on incident.geom only cost every import its upkeep
-- (about a third of inserting a row) or a rebuild after a bulk merge.
DROP INDEX IF EXISTS incident_geom_gist;
