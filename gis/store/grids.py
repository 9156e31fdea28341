"""Grid versions and grids."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from gis.store import db
from gis.store.frames import _csv_text, _ewkb_hex, _frame

GRID_COLUMNS = ["code", "name", "level", "parent_code", "households", "population"]


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
