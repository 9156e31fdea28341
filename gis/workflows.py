"""The jobs that the CLI, the app's pages and notebooks share.

Each job takes an open :class:`gis.db.Database` (``connect()`` gives one)
and returns plain Python values or frames; none prints or draws.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import db as _db
from gis import dispatch, store
from gis import grids as grids_mod
from gis import staff as staff_mod
from gis.assignment import GridIndex
from gis.crs import parse_crs, to_wgs84
from gis.errors import ConfigError, InputError, ValidationError
from gis.settings import Settings


# -- the database ----------------------------------------------------------------


def connect(settings: Settings | None = None, *, maxconn: int = 8) -> _db.Database:
    """Open the configured database: ``DATABASE_URL``, or the embedded server (started if needed)."""
    return _db.open_database(settings, maxconn=maxconn)


def init_database(database: _db.Database) -> list[str]:
    """Create or upgrade the schema; returns the names of the migrations applied now."""
    return [f"{m.version:04d}_{m.name}" for m in _db.migrate(database)]


def _embedded(settings: Settings | None) -> _db.EmbeddedServer:
    settings = settings or Settings.from_env()
    if settings.database_url:
        raise ConfigError("DATABASE_URL is set, so the server is managed elsewhere",
                          fix="unset DATABASE_URL to manage the embedded server")
    return _db.EmbeddedServer(settings)


def start_server(settings: Settings | None = None) -> dict[str, Any]:
    """Initialise (first time) and start the embedded server; returns its status."""
    server = _embedded(settings)
    server.ensure_running()
    return server.status()


def stop_server(settings: Settings | None = None) -> bool:
    """Stop the embedded server; False when it was not running."""
    return _embedded(settings).stop()


def server_url(settings: Settings | None = None) -> str:
    """The URL of the configured database (the embedded server is started if needed)."""
    return _db.database_url(settings)


def server_status(settings: Settings | None = None) -> dict[str, Any]:
    """Where the data live and the versions of PostgreSQL, PostGIS and the schema."""
    settings = settings or Settings.from_env()
    status: dict[str, Any] = {"mode": "DATABASE_URL" if settings.database_url else "embedded"}
    if not settings.database_url:
        server = _db.EmbeddedServer(settings)
        status.update(server.status())
        if not status["running"]:
            return status
    with _db.Database(_db.database_url(settings, start=False), maxconn=1) as database:
        status.update(_db.server_info(database))
    status["url"] = _db.redact_url(database.url)
    return status


# -- grids ------------------------------------------------------------------------------------


@dataclass
class GridImport:
    """What a grid import did: the new version, counts per level, warnings and fix notes."""

    version_id: int
    counts: dict[str, int]
    problems: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)
    reassigned: int = 0


def _active_version_id(conn) -> int:
    version = store.fetch_active_version(conn)
    if version is None:
        raise InputError("no grids are stored yet", fix="run python -m gis grids import PATH or python -m gis demo")
    return version["id"]


def validate_grid_layer(database: _db.Database | None, grids: gpd.GeoDataFrame, *, declared_crs: str = "wgs84",
                        strict: bool = False, tolerance_m2: float = 1.0) -> gpd.GeoDataFrame:
    """Check a layer against itself and the stored grids of the other levels (nothing stored)."""
    stored = None
    if database is not None:
        with database.connection() as conn:
            version = store.fetch_active_version(conn)
            if version is not None:
                stored = store.fetch_grids(conn, version_id=version["id"])
                stored = stored[~stored["level"].isin(set(grids["level"]))]
    return grids_mod.validate_grids(grids, stored=stored, declared_crs=declared_crs, strict=strict,
                                    tolerance_m2=tolerance_m2)


def save_grid_layer(database: _db.Database, grids: gpd.GeoDataFrame, *, declared_crs: str = "wgs84",
                    strict: bool = False, tolerance_m2: float = 1.0, note: str = "",
                    notes: list[str] | None = None) -> GridImport:
    """Validate a layer and store it as the new active grid version, all or nothing.

    The levels the layer holds replace those levels of the active version; the
    other levels are carried over; the old version is retired and kept, and
    stored incidents are re-assigned to the new one in the same transaction.

    Raises
    ------
    ValidationError
        With ``problems`` when any check fails; nothing is stored then.
    """
    problems = validate_grid_layer(database, grids, declared_crs=declared_crs, strict=strict,
                                   tolerance_m2=tolerance_m2)
    errors = problems[problems["severity"] == "error"]
    if len(errors):
        first = errors.iloc[0]["message"]
        raise ValidationError(f"the layer has {len(errors)} error(s), nothing was stored; first: {first}",
                              problems=problems)
    levels = sorted(set(grids["level"]))
    with database.transaction() as conn:
        old = store.fetch_active_version(conn)
        version_id = store.save_grid_version(conn, note=note)
        if old is not None:
            store.save_grids_carried_over(conn, new_version=version_id, old_version=old["id"], replaced_levels=levels)
        store.save_grids(conn, grids, version_id=version_id)
        orphans = store.fetch_orphans(conn, version_id=version_id)
        if orphans:
            o = orphans[0]
            raise ValidationError(f"{len(orphans)} stored grid(s) would lose their parent, nothing was stored; "
                                  f"first: {o['level']} {o['code']} under {o['parent_code']}",
                                  fix="include their parents in the layer, or import their level too")
        store.save_version_active(conn, version_id=version_id)
        reassigned = reassign_incidents(conn, version_id=version_id)
        counts = {r["level"]: int(r["grids"]) for r in store.fetch_grid_counts(conn, version_id=version_id).to_dict("records")}
    _grid_index.cache_clear()
    return GridImport(version_id, counts, problems, notes or [], reassigned)


def import_grids(database: _db.Database, path: str | Path, *, crs: str = "wgs84", fix: bool = False,
                 strict: bool = False, tolerance_m2: float = 1.0, note: str = "") -> GridImport:
    """Read a grid file (GeoJSON, GeoPackage, Shapefile), validate it and store it as the active version."""
    grids, notes = grids_mod.grids_from_file(path, crs=crs, fix=fix)
    return save_grid_layer(database, grids, declared_crs=parse_crs(crs), strict=strict, tolerance_m2=tolerance_m2,
                           note=note or f"import {Path(path).name}", notes=notes)


def validate_grid_file(database: _db.Database | None, path: str | Path, *, crs: str = "wgs84", fix: bool = False,
                       strict: bool = False, tolerance_m2: float = 1.0) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Report a file's problems without storing it; returns (problems, fix notes)."""
    grids, notes = grids_mod.grids_from_file(path, crs=crs, fix=fix)
    return validate_grid_layer(database, grids, declared_crs=parse_crs(crs), strict=strict,
                               tolerance_m2=tolerance_m2), notes


def fetch_grids(database: _db.Database, *, level: str | None = None) -> gpd.GeoDataFrame:
    """The active grids (WGS-84), all levels or one."""
    if level is not None and level not in grids_mod.ALL_LEVELS:
        raise InputError(f"level '{level}' is not a grid level", field="level",
                         fix=f"use one of {', '.join(grids_mod.ALL_LEVELS)}")
    with database.connection() as conn:
        return store.fetch_grids(conn, version_id=_active_version_id(conn), level=level)


def export_grids(database: _db.Database, path: str | Path, *, level: str | None = None) -> int:
    """Write the active grids to GeoJSON / GeoPackage / Shapefile (by extension)."""
    return grids_mod.grids_to_file(fetch_grids(database, level=level), path)


# -- staff ------------------------------------------------------------------------------------


def import_staff(database: _db.Database, path: str | Path) -> int:
    """Load a roster CSV (grid_code, role, name, phone); replaces the roster of the grids it names."""
    with database.transaction() as conn:
        codes = set(store.fetch_grids(conn, version_id=_active_version_id(conn))["code"])
        roster = staff_mod.staff_from_file(path, known_codes=codes)
        return store.save_staff(conn, roster)


def fetch_staff(database: _db.Database, *, grid_codes: list[str] | None = None, masked: bool = True) -> pd.DataFrame:
    """The roster on duty; phones masked (138****5678) unless ``masked=False``."""
    with database.connection() as conn:
        staff = store.fetch_staff(conn, grid_codes=grid_codes)
    if masked:
        staff["phone"] = staff["phone"].map(staff_mod.mask_phone)
    return staff


# -- assignment ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _grid_index(database: _db.Database, version_id: int) -> GridIndex:
    with database.connection() as conn:
        micro = store.fetch_grids(conn, version_id=version_id, level="micro")
        exclusive = store.fetch_grids(conn, version_id=version_id, level="exclusive")
    return GridIndex(micro, exclusive)


def grid_index(database: _db.Database) -> tuple[int, GridIndex]:
    """The active version's id and its spatial index (cached per version)."""
    with database.connection() as conn:
        version_id = _active_version_id(conn)
    return version_id, _grid_index(database, version_id)


def locate(database: _db.Database, lon: float, lat: float, *, crs: str = "wgs84") -> dict[str, Any]:
    """The grid path, exclusive grid and worker on duty for one point.

    Parameters
    ----------
    lon, lat
        Degrees in ``crs`` (wgs84, gcj02, bd09 or EPSG:<code>); converted to WGS-84.
    """
    crs = parse_crs(crs)
    wlon, wlat = to_wgs84(lon, lat, crs=crs)
    if not (np.isfinite(wlon) and np.isfinite(wlat) and -180 <= wlon <= 180 and -90 <= wlat <= 90):
        raise InputError(f"point ({lon}, {lat}) is not a lon/lat position", fix="give LON LAT in degrees, lon first")
    version_id, index = grid_index(database)
    hit = index.assign([wlon], [wlat])
    micro, exclusive = hit.micro_code[0], hit.exclusive_code[0]
    result: dict[str, Any] = {"input": {"lon": lon, "lat": lat, "crs": crs},
                              "wgs84": {"lon": round(float(wlon), 7), "lat": round(float(wlat), 7)},
                              "grid_version": version_id, "assigned": micro is not None,
                              "micro": None, "path": [], "exclusive": None, "worker": None, "staff": []}
    with database.connection() as conn:
        if micro is not None:
            path = store.fetch_grid_path(conn, version_id=version_id, code=micro)
            result["path"] = path
            result["micro"] = path[0]
        else:
            result["suggestion"] = {"code": hit.suggested_code[0],
                                    "distance_m": float(hit.suggested_distance_m[0])}
        if exclusive is not None:
            result["exclusive"] = store.fetch_grid_path(conn, version_id=version_id, code=exclusive)[0]
        codes = [p["code"] for p in result["path"]] + ([exclusive] if exclusive else [])
        staff = store.fetch_staff(conn, grid_codes=codes) if codes else pd.DataFrame(columns=staff_mod.STAFF_COLUMNS)
    staff["phone"] = staff["phone"].map(staff_mod.mask_phone)
    result["staff"] = staff.to_dict("records")
    result["worker"] = dispatch.assignee_for(
        tier="general", micro_code=micro, exclusive_code=exclusive,
        community_code=next((p["code"] for p in result["path"] if p["level"] == "community"), None),
        street_code=next((p["code"] for p in result["path"] if p["level"] == "street"), None), staff=staff)
    return result


def reassign_incidents(conn, *, version_id: int) -> int:
    """Re-assign stored incidents to a new grid version (inside the caller's transaction)."""
    return 0


# -- the demo district ----------------------------------------------------------------------------


def load_demo(database: _db.Database, *, incidents: int = 20000, seed: int = 42, if_empty: bool = False,
              progress: Callable[[str, int, int], None] | None = None) -> str:
    """Load the demo district 中原区 (synthetic boundaries, real names and codes), reproducibly.

    Returns a one-line summary. With ``if_empty`` nothing happens when grids are stored already.
    """
    from gis import demo

    with database.connection() as conn:
        if if_empty and store.fetch_active_version(conn) is not None:
            return "grids already stored; demo not reloaded (run python -m gis demo to reload)"
    grids = demo.demo_grids(seed=seed, progress=progress)
    result = save_grid_layer(database, grids, note=f"demo 中原区 (seed {seed})")
    staff = demo.demo_staff(grids, seed=seed)
    with database.transaction() as conn:
        store.save_staff(conn, staff)
    loaded = load_demo_incidents(database, n=incidents, seed=seed, progress=progress) if incidents else 0
    counts = ", ".join(f"{grids_mod.LEVEL_NAMES_ZH[level]} {n}" for level, n in result.counts.items())
    return f"demo 中原区 loaded (grid version {result.version_id}): {counts}; staff {len(staff)}; incidents {loaded}"


def load_demo_incidents(database: _db.Database, *, n: int, seed: int = 42,
                        progress: Callable[[str, int, int], None] | None = None) -> int:
    """Generate and store ``n`` demo incidents (built with the incident issue)."""
    return 0
