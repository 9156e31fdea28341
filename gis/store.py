"""Named reads (``fetch_*``) and writes (``save_*``), one per query of ``gis/sql``.

Each function takes an open connection (the caller owns the transaction)
and returns plain values or frames; geometries are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import contextlib
import csv
import io
from typing import Any, Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely

from gis import db

GRID_COLUMNS = ["code", "name", "level", "parent_code", "households", "population"]


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows, columns=[*columns, "geom"])
    geoms = shapely.from_wkb([bytes(g) for g in frame.pop("geom")]) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326, index=frame.index))


def _csv_text(rows: Iterable[Sequence[Any]]) -> io.StringIO:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["\\N" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in row])
    buf.seek(0)
    return buf


def _ewkb_hex(geoms) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(np.asarray(geoms), 4326), hex=True, include_srid=True)


# -- grid versions -----------------------------------------------------------------------


def fetch_active_version(conn) -> dict[str, Any] | None:
    return db.fetch_one(conn, "fetch_active_version")


def save_grid_version(conn, *, note: str = "", author: str | None = None, effective_date=None) -> int:
    return db.fetch_one(conn, "save_grid_version",
                        {"note": note, "author": author, "effective_date": effective_date})["id"]


def save_grids_carried_over(conn, *, new_version: int, old_version: int, replaced_levels: list[str]) -> int:
    return db.execute(conn, "save_grids_carried_over", {
        "new_version": new_version, "old_version": old_version, "replaced_levels": replaced_levels})


def save_grids(conn, grids: gpd.GeoDataFrame, *, version_id: int) -> int:
    """COPY a layer (WGS-84) into ``grid`` under ``version_id``."""
    def counts(name: str) -> list:
        if name not in grids:
            return [None] * len(grids)
        return [None if pd.isna(v) else int(v) for v in grids[name]]
    rows = zip([version_id] * len(grids), grids["code"], grids["name"], grids["level"],
               [None if pd.isna(p) or p == "" else p for p in grids["parent_code"]],
               _ewkb_hex(grids.geometry.to_numpy()), counts("households"), counts("population"))
    return db.copy_csv(conn, "grid", ["version_id", "code", "name", "level", "parent_code", "geom",
                                      "households", "population"], _csv_text(rows))


def fetch_orphans(conn, *, version_id: int) -> list[dict[str, Any]]:
    return db.fetch_all(conn, "fetch_orphans", {"version_id": version_id})


def save_version_active(conn, *, version_id: int) -> None:
    db.execute(conn, "save_version_active", {"version_id": version_id})


def fetch_grids(conn, *, version_id: int, level: str | None = None) -> gpd.GeoDataFrame:
    rows = db.fetch_all(conn, "fetch_grids", {"version_id": version_id, "level": level})
    return _frame(rows, GRID_COLUMNS)


def fetch_grid_counts(conn, *, version_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_grid_counts", {"version_id": version_id}),
                        columns=["level", "grids", "households"])


def save_staff(conn, staff: pd.DataFrame) -> int:
    """Replace the roster of every grid named in ``staff`` (grid_code, role, name, phone)."""
    db.execute(conn, "save_staff_replaced", {"grid_codes": sorted(set(staff["grid_code"]))})
    rows = [(r.grid_code, r.role, r.name, r.phone or None) for r in staff.itertuples(index=False)]
    db.execute_values(conn, "save_staff", rows)
    return len(rows)


def fetch_staff_records(conn, *, grid_codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The roster on duty as records (phones whole: mask before showing)."""
    return db.fetch_all(conn, "fetch_staff", {"grid_codes": list(grid_codes) if grid_codes is not None else None})


def fetch_staff(conn, *, grid_codes: Sequence[str] | None = None) -> pd.DataFrame:
    """The roster on duty as a frame (phones whole: mask before showing)."""
    return pd.DataFrame(fetch_staff_records(conn, grid_codes=grid_codes), columns=["grid_code", "role", "name", "phone"])


# -- incidents -------------------------------------------------------------------------------

INCOMING_COLUMNS = ["line", "source", "external_id", "category", "status", "tier", "priority", "description",
                    "address", "reporter_phone", "reported_at", "due_at", "closed_at", "lon", "lat", "input_crs",
                    "micro_code", "exclusive_code", "suggested_code", "suggested_distance_m", "assignee", "handler"]


def _copy_frame(conn, table: str, frame: pd.DataFrame, columns: list[str], *, chunk_rows: int = 100_000) -> int:
    """COPY a frame's columns (missing ones as NULL) into a table.

    Each chunk is written as CSV by pyarrow (every string quoted, so an empty
    string stays '' while a missing value, written bare, is NULL) in a
    background thread while the server ingests the previous chunk.
    """
    def chunks():
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start:start + chunk_rows]
            out = pd.DataFrame({c: _arrow_ready(part[c]) if c in part else None for c in columns}, index=part.index)
            buf = io.BytesIO()
            pacsv.write_csv(pa.Table.from_pandas(out, preserve_index=False), buf, options)
            yield buf.getvalue()
    return db.copy_csv(conn, table, columns, chunks(), null="")


def _arrow_ready(values: pd.Series) -> pd.Series:
    """Object columns mixing text and missing values become pandas strings for pyarrow."""
    if values.dtype == object:
        return values.astype("string")
    return values


def save_import_batch(conn, *, kind: str, source_path: str = "", input_crs: str | None = None,
                      encoding: str | None = None) -> int:
    return db.fetch_one(conn, "save_import_batch", {"kind": kind, "source_path": source_path,
                                                    "input_crs": input_crs, "encoding": encoding})["id"]


def save_import_batch_done(conn, *, batch_id: int, accepted: int, inserted: int, updated: int,
                           unassigned: int, rejected: int, note: str = "") -> None:
    db.execute(conn, "save_import_batch_done", dict(batch_id=batch_id, accepted=accepted, inserted=inserted,
                                                    updated=updated, unassigned=unassigned, rejected=rejected,
                                                    note=note))


def save_import_rejects(conn, rejects: pd.DataFrame, *, batch_id: int) -> None:
    if len(rejects):
        rows = [(batch_id, None if pd.isna(r.line) else int(r.line), r.field, r.reason, r.raw)
                for r in rejects.itertuples(index=False)]
        db.execute_values(conn, "save_import_rejects", rows)


def save_incoming_table(conn) -> None:
    db.execute(conn, "save_incoming_table")


def save_incoming(conn, incidents: pd.DataFrame) -> int:
    """COPY checked, assigned incident rows into the transaction's staging table."""
    return _copy_frame(conn, "incoming", incidents, INCOMING_COLUMNS)


BULK_MERGE_ROWS = 50_000  # from here, and when as large as half the table, indexes are rebuilt after


def save_incoming_merged(conn, *, version_id: int | None, batch_id: int, actor: str, staged: int
                         ) -> dict[str, int]:
    """Upsert the staged rows into ``incident``; returns inserted/updated counts.

    A large batch against a small table merges with the secondary indexes and
    foreign keys dropped and rebuilt afterwards (several times faster); a small
    batch into a large table keeps them.
    """
    params = {"version_id": version_id, "batch_id": batch_id, "actor": actor,
              "note_new": "导入受理", "note_changed": "导入更新", "note_status": "导入状态变更"}
    bulk = staged >= BULK_MERGE_ROWS and staged * 2 >= db.estimated_rows(conn, "incident")
    with db.bulk_load(conn, ["incident", "incident_event"]) if bulk else contextlib.nullcontext():
        row = db.fetch_one(conn, "save_incoming_merged", params)
    return {"inserted": int(row["inserted"]), "updated": int(row["updated"])}


INCIDENT_COLUMNS = ["id", "source", "external_id", "category", "status", "tier", "priority", "description",
                    "address", "reporter_phone", "reported_at", "due_at", "closed_at", "geom", "input_crs",
                    "micro_code", "exclusive_code", "grid_version_id", "suggested_code", "suggested_distance_m",
                    "assignee", "handler", "batch_id"]


def save_demo_incidents_removed(conn) -> None:
    """Remove earlier demo incidents (TRUNCATE when every stored incident is a demo one)."""
    if db.fetch_one(conn, "fetch_non_demo_incident_count")["n"] == 0:
        db.execute(conn, "save_incidents_truncated")
    else:
        db.execute(conn, "save_demo_incidents_removed")


def save_incidents_direct(conn, incidents: pd.DataFrame, events: pd.DataFrame, *, version_id: int | None,
                          batch_id: int) -> int:
    """COPY new incidents and their events straight into the tables (ids reserved from the
    sequence); for bulk loads of fresh rows such as the demo, not for merging imports."""
    ids = [r["id"] for r in db.fetch_all(conn, "fetch_new_incident_ids", {"n": len(incidents)})]
    frame = incidents.assign(id=ids, grid_version_id=version_id, batch_id=batch_id,
                             geom=_ewkb_hex(shapely.points(incidents["lon"], incidents["lat"])))
    key = pd.Series(ids, index=pd.MultiIndex.from_arrays([incidents["source"], incidents["external_id"]]))
    incident_id = key.reindex(pd.MultiIndex.from_arrays([events["source"], events["external_id"]])).to_numpy()
    with db.bulk_load(conn, ["incident", "incident_event"]):
        _copy_frame(conn, "incident", frame, INCIDENT_COLUMNS)
        _copy_frame(conn, "incident_event", events.assign(incident_id=incident_id),
                    ["incident_id", "at", "from_status", "to_status", "actor", "note"])
    return len(frame)


def fetch_incident_points(conn) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_incident_points"), columns=["id", "lon", "lat"])


def save_incident_assignments(conn, assignments: pd.DataFrame, *, version_id: int) -> int:
    db.execute(conn, "save_reassigned_table")
    _copy_frame(conn, "reassigned", assignments,
                ["id", "micro_code", "exclusive_code", "suggested_code", "suggested_distance_m"])
    return db.execute(conn, "save_incident_assignments", {"version_id": version_id})


def fetch_incident(conn, *, source: str, external_id: str) -> dict[str, Any] | None:
    return db.fetch_one(conn, "fetch_incident", {"source": source, "external_id": external_id})


def fetch_incident_events(conn, *, incident_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_incident_events", {"incident_id": incident_id}),
                        columns=["at", "from_status", "to_status", "actor", "note"])


def save_incident_status(conn, *, incident_id: int, status: str, handler: str | None = None, due_at=None,
                         tier: str | None = None, assignee: str | None = None) -> None:
    db.execute(conn, "save_incident_status", dict(incident_id=incident_id, status=status, handler=handler,
                                                  due_at=due_at, tier=tier, assignee=assignee))


def save_incident_event(conn, *, incident_id: int, from_status: str | None, to_status: str, actor: str,
                        note: str = "") -> None:
    db.execute(conn, "save_incident_event", dict(incident_id=incident_id, from_status=from_status,
                                                 to_status=to_status, actor=actor, note=note))


def fetch_incidents_export(conn, *, since=None) -> pd.DataFrame:
    rows = db.fetch_all(conn, "fetch_incidents_export", {"since": since})
    return pd.DataFrame(rows, columns=["source", "external_id", "category", "status", "tier", "lon", "lat",
                                       "reported_at", "due_at", "closed_at", "description", "address",
                                       "micro_code", "exclusive_code", "assignee", "priority"])


def fetch_micro_stats(conn, params: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_micro_stats", params),
                        columns=["micro_code", "received", "completed", "due", "on_time", "open", "overdue"])


def fetch_handling_hours(conn, params: dict[str, Any]) -> dict[str, float | None]:
    return db.fetch_one(conn, "fetch_handling_hours", params)


def fetch_daily_counts(conn, params: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_daily_counts", params), columns=["day", "received", "completed"])


def fetch_category_counts(conn, params: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_category_counts", params), columns=["category", "received", "open"])


def fetch_heat_cells(conn, params: dict[str, Any], *, cell_lon_deg: float, cell_lat_deg: float,
                     overdue_weight: float) -> pd.DataFrame:
    rows = db.fetch_all(conn, "fetch_heat_cells", {**params, "cell_lon_deg": cell_lon_deg,
                                                   "cell_lat_deg": cell_lat_deg, "overdue_weight": overdue_weight})
    return pd.DataFrame(rows, columns=["lon", "lat", "weight"]).astype(float)


def fetch_cases(conn, params: dict[str, Any], *, search: str | None = None, open_only: bool = False,
                limit: int = 5000) -> pd.DataFrame:
    # backslash first: it is LIKE's escape character
    escaped = search.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") if search else None
    pattern = f"%{escaped}%" if search else None
    rows = db.fetch_all(conn, "fetch_cases", {**params, "search": pattern, "open_only": open_only, "limit": limit})
    return pd.DataFrame(rows, columns=["source", "external_id", "category", "status", "tier", "reported_at", "due_at",
                                       "closed_at", "micro_code", "exclusive_code", "assignee", "address",
                                       "description", "lon", "lat"])


def fetch_overdue(conn, *, now) -> pd.DataFrame:
    """Open cases past their deadline, not yet supervised (rows locked for update)."""
    return pd.DataFrame(db.fetch_all(conn, "fetch_overdue", {"now": now}),
                        columns=["id", "category", "status", "tier", "due_at", "micro_code", "exclusive_code"])


def save_escalations(conn, escalations: pd.DataFrame, *, now, actor: str) -> int:
    """Apply escalations (id, from_status, status, tier, due_at, assignee, note) and record an event each."""
    db.execute(conn, "save_escalated_table")
    _copy_frame(conn, "escalated", escalations, ["id", "from_status", "status", "tier", "due_at", "assignee", "note"])
    return db.execute(conn, "save_escalations", {"now": now, "actor": actor})
