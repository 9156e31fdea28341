"""Aggregates behind the map, the case list and the bulletin (one case filter for all)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gis.store import db

MICRO_STATS_COLUMNS = ["micro_code", "received", "completed", "due", "on_time", "open", "overdue",
                       "visited", "satisfied"]


def _frame(conn, name: str, params: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    """A named query's rows as a frame, fetched as tuples: thousands of rows (cells, micro-grids) built
    as one dict each cost more than the query itself under load."""
    with conn.cursor() as cur:
        cur.execute(db.queries()[name], params)
        return pd.DataFrame.from_records(cur.fetchall(), columns=columns)


def fetch_micro_stats(conn, params: dict[str, Any]) -> pd.DataFrame:
    """Counts per micro-grid of the filtered cases (one row with micro_code None for the unassigned),
    the 回访 counts (visited, satisfied) of 满意率 included."""
    return fetch_period_stats(conn, params)[0]


def fetch_period_stats(conn, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float | None]]:
    """The KPI counts of one period in one pass: (counts per micro-grid, {median_h, p90_h, visited,
    satisfied}); the last two are the period's 回访 counts of 满意率 (the sums of the per-micro-grid
    columns of the same names; None when no case matched)."""
    frame = _frame(conn, "fetch_period_stats", params, MICRO_STATS_COLUMNS + ["median_h", "p90_h"])
    hours = {k: (None if not len(frame) or pd.isna(frame[k].iat[0]) else float(frame[k].iat[0]))
             for k in ("median_h", "p90_h")}
    hours.update({k: (float(frame[k].sum()) if len(frame) else None) for k in ("visited", "satisfied")})
    return frame[MICRO_STATS_COLUMNS], hours


def fetch_daily_counts(conn, params: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_daily_counts", params), columns=["day", "received", "completed"])


def fetch_category_counts(conn, params: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_category_counts", params), columns=["category", "received", "open"])


def fetch_heat_layers(conn, params: dict[str, Any], *, cell_lon_deg: float, cell_lat_deg: float,
                      hazard_categories: list[str], garbage_categories: list[str], open_statuses: list[str],
                      overdue_weight: float) -> dict[str, pd.DataFrame]:
    """The cells (lon, lat, weight) of the layers 'hazard', 'garbage' and 'unresolved', from one query."""
    frame = _frame(conn, "fetch_heat_layers", {
        **params, "cell_lon_deg": cell_lon_deg, "cell_lat_deg": cell_lat_deg, "overdue_weight": overdue_weight,
        # an empty list would be an array of unknown type: a value no case has stands for "none"
        "hazard_categories": list(hazard_categories) or ["__none__"],
        "garbage_categories": list(garbage_categories) or ["__none__"],
        "open_statuses": list(open_statuses) or ["__none__"]}, ["lon", "lat", "hazard", "garbage", "unresolved"])
    layers = {}
    for layer in ("hazard", "garbage", "unresolved"):
        # count(*) FILTER gives 0 where the layer has no case, sum(...) FILTER gives NULL
        present = frame[layer].notna() & (frame[layer] != 0) if layer != "unresolved" else frame[layer].notna()
        layers[layer] = (frame.loc[present, ["lon", "lat", layer]].rename(columns={layer: "weight"})
                         .astype(float).reset_index(drop=True))
    return layers


def fetch_cases(conn, params: dict[str, Any], *, search: str | None = None, open_only: bool = False,
                limit: int = 5000) -> pd.DataFrame:
    rows = db.fetch_all(conn, "fetch_cases", {**params, "search": db.like_pattern(search), "open_only": open_only,
                                              "limit": limit})
    return pd.DataFrame(rows, columns=["source", "external_id", "category", "status", "tier", "reported_at", "due_at",
                                       "closed_at", "micro_code", "exclusive_code", "assignee", "address",
                                       "description", "lon", "lat"])
