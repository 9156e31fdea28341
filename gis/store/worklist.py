"""工作台: the cases in view that need doing now (buckets: ``gis.core.worklist``)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from gis.store import db

STORED_COLUMNS = ["source", "external_id", "category", "status", "tier", "reported_at", "due_at", "micro_code",
                    "micro_name", "exclusive_code", "exclusive_name", "assignee", "reporter_phone", "address"]


def fetch_worklist(conn, *, today_start: datetime, tomorrow_start: datetime, due_soon_until: datetime,
                   micro_codes: list[str] | None = None, exclusive_codes: list[str] | None = None) -> pd.DataFrame:
    """The cases in view reported in ``[today_start, tomorrow_start)``, or open and due by
    ``due_soon_until``, or under 督办; optionally only those in ``micro_codes`` or ``exclusive_codes``.
    Reporter phones as stored (the job masks them)."""
    rows = db.fetch_all(conn, "fetch_worklist", dict(today_start=today_start, tomorrow_start=tomorrow_start,
                                                      due_soon_until=due_soon_until, micro_codes=micro_codes,
                                                      exclusive_codes=exclusive_codes))
    frame = pd.DataFrame(rows, columns=STORED_COLUMNS)
    for column in ("reported_at", "due_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
