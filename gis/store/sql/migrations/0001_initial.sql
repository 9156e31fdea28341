-- The data model of DESIGN.md. Everything spatial is EPSG:4326 (WGS-84);
-- input in GCJ-02 / BD-09 is converted before it gets here.

CREATE TABLE grid_version (
    id             bigserial PRIMARY KEY,
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'retired')),
    effective_date date NOT NULL DEFAULT current_date,
    author         text NOT NULL DEFAULT current_user,
    note           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz
);
-- at most one active set of boundaries at a time
CREATE UNIQUE INDEX grid_version_one_active ON grid_version ((true)) WHERE status = 'active';

CREATE TABLE grid (
    id          bigserial PRIMARY KEY,
    version_id  bigint NOT NULL REFERENCES grid_version (id) ON DELETE CASCADE,
    code        text NOT NULL CHECK (code <> ''),
    name        text NOT NULL CHECK (name <> ''),
    level       text NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid', 'micro', 'exclusive')),
    parent_code text,
    geom        geometry(MultiPolygon, 4326) NOT NULL CHECK (NOT ST_IsEmpty(geom)),
    households  integer CHECK (households >= 0),
    population  integer CHECK (population >= 0),
    UNIQUE (version_id, code),
    -- the district is the root; exclusive grids may float; every other level has a parent
    CHECK (CASE level WHEN 'district' THEN parent_code IS NULL
                      WHEN 'exclusive' THEN true
                      ELSE parent_code IS NOT NULL END),
    FOREIGN KEY (version_id, parent_code) REFERENCES grid (version_id, code)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX grid_geom_gist ON grid USING gist (geom);
CREATE INDEX grid_version_level ON grid (version_id, level, code);
CREATE INDEX grid_parent ON grid (version_id, parent_code);

CREATE TABLE grid_staff (
    id        bigserial PRIMARY KEY,
    grid_code text NOT NULL,
    role      text NOT NULL CHECK (role IN ('网格长', '专职网格员', '微网格长', '专属网格负责人')),
    name      text NOT NULL CHECK (name <> ''),
    phone     text,          -- stored whole for dispatch; masked (138****5678) on every screen and export
    on_duty   boolean NOT NULL DEFAULT true,
    UNIQUE (grid_code, role, name)
);
CREATE INDEX grid_staff_code ON grid_staff (grid_code);

CREATE TABLE import_batch (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('grids', 'incidents', 'staff', 'demo')),
    source_path text NOT NULL DEFAULT '',
    input_crs   text,
    encoding    text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    accepted    integer NOT NULL DEFAULT 0,
    inserted    integer NOT NULL DEFAULT 0,
    updated     integer NOT NULL DEFAULT 0,
    unassigned  integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    note        text NOT NULL DEFAULT ''
);

CREATE TABLE import_reject (
    id       bigserial PRIMARY KEY,
    batch_id bigint NOT NULL REFERENCES import_batch (id) ON DELETE CASCADE,
    line     integer,
    field    text,
    reason   text NOT NULL,
    raw      text NOT NULL DEFAULT ''
);
CREATE INDEX import_reject_batch ON import_reject (batch_id);

CREATE TABLE incident (
    id                   bigserial PRIMARY KEY,
    source               text NOT NULL CHECK (source <> ''),
    external_id          text NOT NULL CHECK (external_id <> ''),
    category             text NOT NULL,
    status               text NOT NULL CHECK (status IN ('received', 'dispatched', 'in_progress', 'resolved',
                                                         'verified', 'closed', 'returned', 'reworked',
                                                         'extended', 'supervised')),
    tier                 text NOT NULL DEFAULT 'general' CHECK (tier IN ('general', 'complex', 'hard')),
    priority             text,
    description          text NOT NULL DEFAULT '',
    address              text NOT NULL DEFAULT '',
    reporter_phone       text,
    reported_at          timestamptz NOT NULL,
    due_at               timestamptz,
    closed_at            timestamptz,
    geom                 geometry(Point, 4326) NOT NULL,
    input_crs            text NOT NULL DEFAULT 'wgs84',
    micro_code           text,
    exclusive_code       text,
    grid_version_id      bigint REFERENCES grid_version (id) ON DELETE SET NULL,
    suggested_code       text,          -- nearest micro-grid when unassigned
    suggested_distance_m double precision,
    assignee             text,
    handler              text,          -- who reported it resolved: a verifier must be someone else
    batch_id             bigint REFERENCES import_batch (id) ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, external_id)
);
CREATE INDEX incident_geom_gist ON incident USING gist (geom);
CREATE INDEX incident_reported ON incident (reported_at);
CREATE INDEX incident_micro ON incident (micro_code);
CREATE INDEX incident_status ON incident (status);

CREATE TABLE incident_event (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL DEFAULT '',
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX incident_event_incident ON incident_event (incident_id, at);
