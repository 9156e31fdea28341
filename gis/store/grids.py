"""Grid versions and grids."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.store import db
from gis.store.frames import _csv_text, _ewkb_hex, _frame

GRID_COLUMNS = ["code", "name", "level", "parent_code", "households", "population"]


# -- grid versions -----------------------------------------------------------------------


def fetch_active_version(conn) -> dict[str, Any] | None:
    return db.fetch_one(conn, "fetch_active_version")


def fetch_version(conn, *, version_id: int) -> dict[str, Any] | None:
    return db.fetch_one(conn, "fetch_version", {"version_id": version_id})


VERSION_COLUMNS = ["id", "status", "effective_date", "author", "note", "scope_code", "base_version_id",
                   "created_at", "committed_at", "retired_at", "streets", "communities", "grids", "micro",
                   "exclusive"]


def fetch_versions(conn) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_versions"), columns=VERSION_COLUMNS)


def save_grid_version(conn, *, note: str = "", effective_date=None, scope_code: str | None = None,
                      base_version_id: int | None = None) -> int:
    """A new version in draft status; its author is the signed-in user."""
    return db.fetch_one(conn, "save_grid_version", {
        "note": note, "effective_date": effective_date, "scope_code": scope_code,
        "base_version_id": base_version_id})["id"]


def save_version_removed(conn, *, version_id: int) -> int:
    """Delete a draft version (its grids go with it); committed versions are never deleted."""
    return db.execute(conn, "save_version_removed", {"version_id": version_id})


def save_grids_copied(conn, *, new_version: int, old_version: int) -> int:
    return db.execute(conn, "save_grids_copied", {"new_version": new_version, "old_version": old_version})


def save_grids_removed(conn, *, version_id: int, codes: list[str]) -> int:
    return db.execute(conn, "save_grids_removed", {"version_id": version_id, "codes": list(codes)})


def fetch_moved_codes(conn, *, version_id: int) -> list[dict[str, Any]]:
    return db.fetch_all(conn, "fetch_moved_codes", {"version_id": version_id})


def fetch_earlier_grids(conn, *, version_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_earlier_grids", {"version_id": version_id}),
                        columns=["code", "name", "level", "parent_code", "households", "population"])


def fetch_staff_of_removed(conn, *, version_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_staff_of_removed", {"version_id": version_id}),
                        columns=["grid_code", "role", "name", "phone"])


def fetch_sees_all(conn) -> bool:
    """Whether the principal sees every grid (the system, or a district-wide account)."""
    return bool(db.fetch_one(conn, "fetch_sees_all")["sees_all"])


def save_grids_carried_over(conn, *, new_version: int, old_version: int, replaced_levels: list[str]) -> int:
    return db.execute(conn, "save_grids_carried_over", {
        "new_version": new_version, "old_version": old_version, "replaced_levels": replaced_levels})


def save_grids(conn, grids: gpd.GeoDataFrame, *, version_id: int) -> int:
    """COPY a layer (WGS-84) into ``grid`` under ``version_id``."""
    def counts(name: str) -> list:
        if name not in grids:
            return [None] * len(grids)
        return [None if pd.isna(v) else int(v) for v in grids[name]]
    geoms = grids.geometry.to_numpy()
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON  # the column holds MultiPolygons
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    rows = zip([version_id] * len(grids), grids["code"], grids["name"], grids["level"],
               [None if pd.isna(p) or p == "" else p for p in grids["parent_code"]],
               _ewkb_hex(geoms), counts("households"), counts("population"))
    return db.copy_csv(conn, "grid", ["version_id", "code", "name", "level", "parent_code", "geom",
                                      "households", "population"], _csv_text(rows))


def fetch_orphans(conn, *, version_id: int) -> list[dict[str, Any]]:
    return db.fetch_all(conn, "fetch_orphans", {"version_id": version_id})


def save_version_active(conn, *, version_id: int, effective_date=None) -> None:
    db.execute(conn, "save_version_active", {"version_id": version_id, "effective_date": effective_date})


def fetch_grids(conn, *, version_id: int, level: str | None = None) -> gpd.GeoDataFrame:
    rows = db.fetch_all(conn, "fetch_grids", {"version_id": version_id, "level": level})
    return _frame(rows, GRID_COLUMNS)


def fetch_grid_counts(conn, *, version_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_grid_counts", {"version_id": version_id}),
                        columns=["level", "grids", "households"])
