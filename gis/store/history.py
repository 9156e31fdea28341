"""The case history for city scale: the incidents streamed out for GeoParquet, and PostGIS's own
count of points per micro-grid (the reference the Dask path is tested against)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from gis.store import db
from gis.store.incidents import INCIDENTS_EXPORT_COLUMNS

#: Columns of :func:`iter_history_export`'s rows: those of the incident export, whose query it streams.
HISTORY_EXPORT_COLUMNS = INCIDENTS_EXPORT_COLUMNS
#: Columns of :func:`fetch_covering_micro_counts`.
COVERING_COUNT_COLUMNS = ["micro_code", "period", "category", "count"]


def iter_history_export(conn, *, chunk_rows: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    """Every incident the transaction's user may see, oldest first, in lists of at most ``chunk_rows``
    tuples (:data:`HISTORY_EXPORT_COLUMNS`; lon/lat in degrees WGS-84). A server-side cursor keeps one
    chunk in memory here, whatever the history's size; consume it inside the caller's transaction."""
    with conn.cursor(name="history_export") as cur:
        cur.itersize = chunk_rows
        cur.execute(db.queries()["fetch_incidents_export"], {"since": None})  # the CSV export's query, all of it
        while True:
            rows = cur.fetchmany(chunk_rows)
            if not rows:
                return
            yield rows


def fetch_covering_micro_counts(conn, *, version_id: int, by: str, split_category: bool = False,
                                categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Incidents per micro-grid of version ``version_id`` (ST_Covers, lowest code on shared edges;
    None for points outside every micro-grid) × period (``by``: day, week, month; its first day in
    China time, a date) × category (None unless ``split_category``), only ``categories`` if given.
    Run it in a transaction: it builds a temporary table of the version's micro-grids."""
    if by not in ("day", "week", "month"):
        raise ValueError(f"by must be day, week or month, not {by!r}")
    db.execute(conn, "save_scale_micro_table", {"version_id": version_id})   # dropped at commit
    rows = db.fetch_all(conn, "fetch_covering_micro_counts",
                        {"version_id": version_id, "by": by, "split_category": split_category,
                         "categories": list(categories) if categories else None})
    return pd.DataFrame(rows, columns=COVERING_COUNT_COLUMNS)
