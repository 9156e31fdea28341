-- The closed loop worked in the app (issue 10, items 2-5): what each lifecycle action did,
-- photo attachments, 回访 (satisfaction), 协同办 department reports and 延期 requests.
--
-- Every table follows its incident's visibility, as incident_event does: a row is seen
-- with its case, and written only by a role that may act on it (the sub-query on incident
-- is itself under incident's policies). gis_app gets the privileges; it owns nothing.

-- the action an event records (accept, dispatch, redispatch, feedback, verify, close, return,
-- rework, extension_request, extension_approve, supervise, report, visit, queue_assign);
-- NULL for events written before (imports, the command line)
ALTER TABLE incident_event ADD COLUMN action text;

CREATE TABLE incident_attachment (
    id            bigserial PRIMARY KEY,
    incident_id   bigint NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    event_id      bigint REFERENCES incident_event (id) ON DELETE SET NULL,
    file_name     text NOT NULL DEFAULT '',
    content_type  text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    size_bytes    integer NOT NULL CHECK (size_bytes > 0 AND size_bytes <= 5 * 1024 * 1024),
    data          bytea NOT NULL CHECK (octet_length(data) = size_bytes),
    uploaded_by   text NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_attachment_incident ON incident_attachment (incident_id);

-- 回访: the resident's verdict; the 12345 channel's return call is kept apart from internal checks
CREATE TABLE incident_visit (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    channel     text NOT NULL DEFAULT 'internal' CHECK (channel IN ('internal', '12345')),
    result      text NOT NULL CHECK (result IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    note        text NOT NULL DEFAULT '',
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_visit_incident ON incident_visit (incident_id, at);

-- 协同办: the departments of a hard-tier case (lead and co-departments from the rules) and
-- their 报到 (who, when, what); reported_at NULL means not reported yet
CREATE TABLE incident_department_report (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    department   text NOT NULL CHECK (department <> ''),
    is_lead      boolean NOT NULL DEFAULT false,
    due_at       timestamptz NOT NULL,
    reported_at  timestamptz,
    reported_by  text,
    action_note  text NOT NULL DEFAULT '',
    UNIQUE (incident_id, department)
);
CREATE UNIQUE INDEX incident_department_one_lead ON incident_department_report (incident_id) WHERE is_lead;
CREATE INDEX incident_department_due ON incident_department_report (due_at) WHERE reported_at IS NULL;

-- 延期: a request by the handler, decided by someone else
CREATE TABLE incident_extension (
    id            bigserial PRIMARY KEY,
    incident_id   bigint NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    new_due_at    timestamptz NOT NULL,
    reason        text NOT NULL CHECK (reason <> ''),
    decided_by    text,
    decided_at    timestamptz,
    approved      boolean
);
CREATE UNIQUE INDEX incident_extension_one_pending ON incident_extension (incident_id) WHERE decided_at IS NULL;

-- -- row-level security: as incident_event -----------------------------------------------------

CREATE FUNCTION gis_may_act() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT gis_can('act') OR gis_can('act_own') OR gis_can('set_status') OR gis_can('redispatch')
        OR gis_can('supervise') OR gis_can('import')
$$;

ALTER TABLE incident_attachment ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_attachment_read ON incident_attachment FOR SELECT
    USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_attachment_insert ON incident_attachment FOR INSERT WITH CHECK (
    (SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_attachment_delete ON incident_attachment FOR DELETE USING ((SELECT gis_can('maintain')));

ALTER TABLE incident_visit ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_visit_read ON incident_visit FOR SELECT
    USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_visit_insert ON incident_visit FOR INSERT WITH CHECK (
    (SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_visit_delete ON incident_visit FOR DELETE USING ((SELECT gis_can('maintain')));

ALTER TABLE incident_department_report ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_department_read ON incident_department_report FOR SELECT
    USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_department_insert ON incident_department_report FOR INSERT WITH CHECK (
    (SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_department_update ON incident_department_report FOR UPDATE
    USING ((SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id))
    WITH CHECK ((SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_department_delete ON incident_department_report FOR DELETE
    USING ((SELECT gis_can('maintain')));

ALTER TABLE incident_extension ENABLE ROW LEVEL SECURITY;
CREATE POLICY incident_extension_read ON incident_extension FOR SELECT
    USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_extension_insert ON incident_extension FOR INSERT WITH CHECK (
    (SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_extension_update ON incident_extension FOR UPDATE
    USING ((SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id))
    WITH CHECK ((SELECT gis_may_act()) AND EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
CREATE POLICY incident_extension_delete ON incident_extension FOR DELETE USING ((SELECT gis_can('maintain')));

GRANT SELECT, INSERT, DELETE ON incident_attachment, incident_visit TO gis_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON incident_department_report, incident_extension TO gis_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO gis_app;

-- the tables above reference incident, so removing every incident truncates them too
-- (CASCADE: every table that references incident, whichever migration made it)
CREATE OR REPLACE FUNCTION gis_truncate_incidents() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT gis_can('maintain') THEN
        RAISE EXCEPTION 'removing every incident needs the maintain right' USING ERRCODE = 'insufficient_privilege';
    END IF;
    TRUNCATE incident, incident_event CASCADE;
END $$;
