"""The closed loop: lifecycle actions and their events, attachments, 回访, 协同办 reports, 延期
requests and the 待分派 queue (tables and policies: migration 0007)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg2

from gis.store import db

ACTIONABLE_COLUMNS = ["source", "external_id", "category", "status", "tier", "reported_at", "due_at", "address",
                      "description", "micro_code", "assignee", "handler"]
EVENT_COLUMNS = ["id", "at", "action", "from_status", "to_status", "actor", "note", "photos"]
DEPARTMENT_COLUMNS = ["department", "is_lead", "due_at", "reported_at", "reported_by", "action_note"]
QUEUE_COLUMNS = ["source", "external_id", "category", "status", "reported_at", "address", "description",
                 "suggested_code", "suggested_distance_m", "lon", "lat", "address_candidates"]


def fetch_incident_for_update(conn, *, source: str, external_id: str) -> dict[str, Any] | None:
    return db.fetch_one(conn, "fetch_incident_for_update", {"source": source, "external_id": external_id})


def save_incident_action(conn, *, incident_id: int, status: str, handler: str | None = None, due_at=None,
                         assignee: str | None = None, micro_code: str | None = None) -> int:
    return db.execute(conn, "save_incident_action", dict(incident_id=incident_id, status=status, handler=handler,
                                                          due_at=due_at, assignee=assignee, micro_code=micro_code))


def save_action_event(conn, *, incident_id: int, from_status: str | None, to_status: str, actor: str,
                      note: str = "", action: str) -> int:
    return db.fetch_one(conn, "save_action_event", dict(incident_id=incident_id, from_status=from_status,
                                                         to_status=to_status, actor=actor, note=note,
                                                         action=action))["id"]


def fetch_action_events(conn, *, incident_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_action_events", {"incident_id": incident_id}),
                        columns=EVENT_COLUMNS)


def save_attachment(conn, *, incident_id: int, event_id: int | None, file_name: str, content_type: str,
                    data: bytes, uploaded_by: str) -> int:
    return db.fetch_one(conn, "save_attachment", dict(
        incident_id=incident_id, event_id=event_id, file_name=file_name, content_type=content_type,
        size_bytes=len(data), data=psycopg2.Binary(data), uploaded_by=uploaded_by))["id"]


def fetch_attachments(conn, *, incident_id: int) -> list[dict[str, Any]]:
    rows = db.fetch_all(conn, "fetch_attachments", {"incident_id": incident_id})
    return [{**r, "data": bytes(r["data"])} for r in rows]


def save_visit(conn, *, incident_id: int, channel: str, result: str, note: str, actor: str) -> int:
    return db.fetch_one(conn, "save_visit", dict(incident_id=incident_id, channel=channel, result=result,
                                                  note=note, actor=actor))["id"]


def fetch_visits(conn, *, incident_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_visits", {"incident_id": incident_id}),
                        columns=["at", "channel", "result", "note", "actor"])


def fetch_satisfaction(conn, *, channel: str | None = None, since=None, until=None) -> dict[str, int]:
    return db.fetch_one(conn, "fetch_satisfaction", {"channel": channel, "since": since, "until": until})


def save_departments(conn, *, incident_id: int, departments: list[str], leads: list[bool], due_at) -> None:
    db.execute(conn, "save_departments", dict(incident_id=incident_id, departments=departments, leads=leads,
                                               due_at=due_at))


def fetch_departments(conn, *, incident_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_departments", {"incident_id": incident_id}),
                        columns=DEPARTMENT_COLUMNS)


def save_department_report(conn, *, incident_id: int, department: str, reported_by: str,
                           action_note: str) -> dict[str, Any] | None:
    return db.fetch_one(conn, "save_department_report", dict(incident_id=incident_id, department=department,
                                                              reported_by=reported_by, action_note=action_note))


def fetch_overdue_reports(conn, *, now) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_overdue_reports", {"now": now}),
                        columns=["source", "external_id", "category", "status", "department", "is_lead", "due_at"])


def save_extension_request(conn, *, incident_id: int, requested_by: str, new_due_at, reason: str) -> int:
    return db.fetch_one(conn, "save_extension_request", dict(incident_id=incident_id, requested_by=requested_by,
                                                              new_due_at=new_due_at, reason=reason))["id"]


def fetch_pending_extension(conn, *, incident_id: int) -> dict[str, Any] | None:
    return db.fetch_one(conn, "fetch_pending_extension", {"incident_id": incident_id})


def save_extension_decision(conn, *, extension_id: int, decided_by: str, approved: bool) -> None:
    db.execute(conn, "save_extension_decision", dict(extension_id=extension_id, decided_by=decided_by,
                                                      approved=approved))


def fetch_actionable(conn, *, excluded: list[str], assignee: str | None, limit: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_actionable", dict(excluded=excluded, assignee=assignee,
                                                                     limit=limit)),
                        columns=ACTIONABLE_COLUMNS)


def fetch_queue(conn, *, limit: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_queue", {"limit": limit}), columns=QUEUE_COLUMNS)


def fetch_queue_count(conn) -> int:
    return int(db.fetch_one(conn, "fetch_queue_count")["n"])


def fetch_closed_of_batch(conn, *, batch_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_closed_of_batch", {"batch_id": batch_id}),
                        columns=["id", "source", "closed_at"])


def save_visits(conn, visits: pd.DataFrame) -> int:
    """Store many 回访 rows (incident_id, channel, result, note, actor, at) in one statement."""
    if not len(visits):
        return 0
    rows = [(int(r.incident_id), r.channel, r.result, r.note, r.actor, pd.Timestamp(r.at).floor("us").to_pydatetime())
            for r in visits.itertuples(index=False)]
    db.execute_values(conn, "save_visits", rows)
    return len(rows)
