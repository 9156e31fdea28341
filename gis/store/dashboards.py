"""Aggregates behind the map, the case list and the bulletin (one case filter for all)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gis.store import db


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
