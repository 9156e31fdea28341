"""The jobs that the CLI, the app's pages and notebooks share.

Each job takes an open :class:`gis.db.Database` (``connect()`` gives one)
and returns plain Python values or frames; none prints or draws.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import db as _db
from gis import analytics, dispatch, store
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
def _grids_of_version(database: _db.Database, version_id: int) -> gpd.GeoDataFrame:
    """All grids of a version; versions never change once stored, so the cache needs no expiry."""
    with database.connection() as conn:
        return store.fetch_grids(conn, version_id=version_id)


@functools.lru_cache(maxsize=4)
def _grid_index(database: _db.Database, version_id: int) -> GridIndex:
    grids = _grids_of_version(database, version_id)
    return GridIndex(grids[grids["level"] == "micro"], grids[grids["level"] == "exclusive"])


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
    with database.connection() as conn:
        version_id = _active_version_id(conn)
    # built once per grid version (the first call reads the grids)
    index, tree = _grid_index(database, version_id), _tree_of_version(database, version_id)
    hit = index.assign([wlon], [wlat])
    micro, exclusive = hit.micro_code[0], hit.exclusive_code[0]
    path = tree.path(micro) if micro is not None else []
    codes = [p["code"] for p in path] + ([exclusive] if exclusive else [])
    staff = []
    if codes:
        with database.connection() as conn:
            staff = store.fetch_staff_records(conn, grid_codes=codes)
    result: dict[str, Any] = {"input": {"lon": lon, "lat": lat, "crs": crs},
                              "wgs84": {"lon": round(float(wlon), 7), "lat": round(float(wlat), 7)},
                              "grid_version": version_id, "assigned": micro is not None,
                              "micro": path[0] if path else None, "path": path,
                              "exclusive": tree.path(exclusive)[0] if exclusive else None}
    if micro is None:
        result["suggestion"] = {"code": hit.suggested_code[0], "distance_m": float(hit.suggested_distance_m[0])}
    ancestor = {p["level"]: p["code"] for p in path}
    result["worker"] = dispatch.assignee_for(
        tier="general", micro_code=micro, exclusive_code=exclusive, community_code=ancestor.get("community"),
        street_code=ancestor.get("street"), staff=pd.DataFrame(staff, columns=list(staff_mod.STAFF_COLUMNS)))
    result["staff"] = [{**person, "phone": staff_mod.mask_phone(person["phone"])} for person in staff]
    return result


def reassign_incidents(conn, *, version_id: int) -> int:
    """Re-assign every stored incident to a grid version, inside the caller's transaction.

    Returns how many incidents changed micro-grid or exclusive grid.
    """
    points = store.fetch_incident_points(conn)
    if not len(points):
        return 0
    index = GridIndex(store.fetch_grids(conn, version_id=version_id, level="micro"),
                      store.fetch_grids(conn, version_id=version_id, level="exclusive"))
    hit = index.assign(points["lon"].to_numpy(), points["lat"].to_numpy())
    points = points.assign(micro_code=hit.micro_code, exclusive_code=hit.exclusive_code,
                           suggested_code=hit.suggested_code, suggested_distance_m=hit.suggested_distance_m)
    return store.save_incident_assignments(conn, points, version_id=version_id)


# -- incidents ------------------------------------------------------------------------------


@dataclass
class IncidentImport:
    """What an incident import did."""

    batch_id: int
    format: str
    encoding: str | None
    accepted: int = 0
    inserted: int = 0
    updated: int = 0
    unassigned: int = 0
    rejected: int = 0
    warnings: list[str] = field(default_factory=list)
    rejects: pd.DataFrame | None = None

    def summary(self) -> str:
        unchanged = self.accepted - self.inserted - self.updated
        return (f"accepted {self.accepted} (new {self.inserted}, updated {self.updated}, unchanged {unchanged}), "
                f"unassigned {self.unassigned}, rejected {self.rejected}")


def prepare_incidents(incidents: pd.DataFrame, *, index: GridIndex | None, staff: pd.DataFrame,
                      parents: dict[str, str], rules: dispatch.Rules) -> pd.DataFrame:
    """Assign checked rows to micro-grids and set tier, deadline and assignee (pure, vectorised)."""
    out = incidents.copy()
    if index is not None and len(index):
        hit = index.assign(out["lon"].to_numpy(), out["lat"].to_numpy())
        out["micro_code"], out["exclusive_code"] = hit.micro_code, hit.exclusive_code
        out["suggested_code"], out["suggested_distance_m"] = hit.suggested_code, hit.suggested_distance_m
    else:
        for c in ("micro_code", "exclusive_code", "suggested_code", "suggested_distance_m"):
            out[c] = None
    tiers = {code: cat.tier for code, cat in rules.categories.items()}
    out["tier"] = out["category"].map(tiers).fillna("general")
    out["due_at"] = dispatch.due_at_many(out["reported_at"], out["category"], rules=rules)
    out["assignee"] = assignees(out, staff=staff, parents=parents)
    return out


def assignees(cases: pd.DataFrame, *, staff: pd.DataFrame, parents: dict[str, str]) -> pd.Series:
    """Who takes each case at its tier (see :func:`gis.dispatch.assignee_for`), the
    community and street found by walking up from the micro-grid."""
    micro = cases["micro_code"].astype(object)
    distinct = micro.dropna().unique()
    community = {c: _ancestor(parents, c, 2) for c in distinct}
    street = {c: _ancestor(parents, c, 3) for c in distinct}
    keyed = cases[["tier", "micro_code", "exclusive_code"]].assign(
        community_code=micro.map(community), street_code=micro.map(street))
    return dispatch.assignees_many(keyed, staff=staff)


def _ancestor(parents: dict[str, str], code: str | None, steps: int) -> str | None:
    for _ in range(steps):
        code = parents.get(code) if code else None
    return code


def _dispatch_context(conn) -> tuple[int | None, GridIndex | None, pd.DataFrame, dict[str, str]]:
    version = store.fetch_active_version(conn)
    if version is None:
        return None, None, pd.DataFrame(columns=staff_mod.STAFF_COLUMNS), {}
    grids = store.fetch_grids(conn, version_id=version["id"])
    micro = grids[grids["level"] == "micro"]
    index = GridIndex(micro, grids[grids["level"] == "exclusive"])
    parents = dict(zip(grids["code"], grids["parent_code"]))
    return version["id"], index, store.fetch_staff(conn), parents


def store_incidents(conn, chunks, *, batch_id: int, actor: str,
                    progress: Callable[[str, int, int], None] | None = None, total: int | None = None
                    ) -> IncidentImport:
    """Stage, assign and merge chunks of checked incident rows inside the caller's transaction."""
    rules = dispatch.load_rules()
    version_id, index, staff, parents = _dispatch_context(conn)
    store.save_incoming_table(conn)
    result = IncidentImport(batch_id=batch_id, format="", encoding=None)
    rejects = []
    for chunk in chunks:
        prepared = prepare_incidents(chunk.incidents, index=index, staff=staff, parents=parents, rules=rules)
        store.save_incoming(conn, prepared)
        result.accepted += len(prepared)
        result.unassigned += int(prepared["micro_code"].isna().sum())
        result.rejected += chunk.refused
        result.warnings.extend(chunk.warnings)
        if len(chunk.rejects):
            rejects.append(chunk.rejects)
        if progress:
            progress("staging", result.accepted + result.rejected, total or 0)
    counts = store.save_incoming_merged(conn, version_id=version_id, batch_id=batch_id, actor=actor,
                                        staged=result.accepted)
    result.inserted, result.updated = counts["inserted"], counts["updated"]
    result.rejects = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(
        columns=["line", "field", "reason", "raw"])
    store.save_import_rejects(conn, result.rejects, batch_id=batch_id)
    store.save_import_batch_done(conn, batch_id=batch_id, accepted=result.accepted, inserted=result.inserted,
                                 updated=result.updated, unassigned=result.unassigned, rejected=result.rejected)
    return result


def import_incidents(database: _db.Database, path: str | Path, *, crs: str = "wgs84", source: str | None = None,
                     rejects_path: str | Path | None = None, chunk_rows: int = 200_000,
                     progress: Callable[[str, int, int], None] | None = None) -> IncidentImport:
    """Load incidents from CSV, GeoJSON or Open311 JSON: checked, converted to WGS-84,
    assigned to micro-grids, dispatched and merged on (source, external_id).

    The whole file is one transaction: interrupted, the database is as before
    and a re-run finishes the job. Refused rows are counted, stored in
    ``import_reject`` and written to ``rejects_path``; the good rows are always stored.
    """
    from gis import incidents as incidents_mod

    reader = incidents_mod.read_incidents(path, crs=crs, source=source, chunk_rows=chunk_rows)
    with database.transaction() as conn:
        batch_id = store.save_import_batch(conn, kind="incidents", source_path=str(path),
                                           input_crs=parse_crs(crs), encoding=reader.encoding)
        result = store_incidents(conn, reader, batch_id=batch_id, actor=f"import:{Path(path).name}",
                                 progress=progress)
    result.format, result.encoding = reader.format, reader.encoding
    if rejects_path is not None:
        incidents_mod.rejects_to_csv(result.rejects, rejects_path)
    return result


# -- the demo district ----------------------------------------------------------------------------


def receive_incident(database: _db.Database, record: dict[str, Any], *, crs: str = "wgs84",
                     actor: str = "受理窗口") -> dict[str, Any]:
    """Take one new case (a form, the hotline desk, an API call): checked like an imported
    row, assigned to its micro-grid by the same rule, dispatched and stored.

    Returns the stored incident (micro-grid, tier, deadline, assignee).

    Raises
    ------
    InputError
        Naming the field and the fix when the record is refused.
    """
    from gis import incidents as incidents_mod

    chunk = incidents_mod.check_records([record], crs=crs)
    if chunk.refused:
        reject = chunk.rejects.iloc[0]
        field_name = None if pd.isna(reject["field"]) else reject["field"]
        raise InputError(str(reject["reason"]), field=field_name)
    with database.transaction() as conn:
        batch_id = store.save_import_batch(conn, kind="incidents", source_path="receive_incident",
                                           input_crs=parse_crs(crs))
        store_incidents(conn, [chunk], batch_id=batch_id, actor=actor)
        return store.fetch_incident(conn, source=chunk.incidents["source"].iloc[0],
                                    external_id=chunk.incidents["external_id"].iloc[0])


def load_demo(database: _db.Database, *, incidents: int = 100_000, seed: int = 42, if_empty: bool = False,
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
    """Generate ``n`` demo incidents with their lifecycles and store them in one transaction,
    replacing earlier demo incidents (incidents from real imports are kept)."""
    from gis.demo_incidents import demo_incidents

    rules = dispatch.load_rules()
    with database.connection() as conn:
        version_id, index, staff, parents = _dispatch_context(conn)
    if index is None:
        raise InputError("no grids are stored yet", fix="load the demo grids first (python -m gis demo)")
    grids = _grids_of_version(database, version_id)
    steps = 4
    if progress:
        progress("incidents", 0, steps)
    incidents, events = demo_incidents(grids[grids["level"] == "micro"], n=n, seed=seed,
                                       exclusive=grids[grids["level"] == "exclusive"], rules=rules)
    if progress:
        progress("incidents", 1, steps)
    incidents = prepare_incidents(incidents.assign(input_crs="wgs84"), index=index, staff=staff, parents=parents,
                                  rules=rules)
    if progress:
        progress("incidents", 2, steps)
    with database.transaction() as conn:
        store.save_demo_incidents_removed(conn)
        batch_id = store.save_import_batch(conn, kind="demo", source_path=f"demo seed {seed}")
        if progress:
            progress("incidents", 3, steps)
        stored = store.save_incidents_direct(conn, incidents, events, version_id=version_id, batch_id=batch_id)
        store.save_import_batch_done(conn, batch_id=batch_id, accepted=stored, inserted=stored, updated=0,
                                     unassigned=int(incidents["micro_code"].isna().sum()), rejected=0)
    if progress:
        progress("incidents", steps, steps)
    return stored


def set_incident_status(database: _db.Database, *, source: str, external_id: str, status: str, actor: str,
                        note: str = "") -> dict[str, Any]:
    """Move one case along its lifecycle, refusing what the rules do not allow; records an event."""
    new = dispatch.status_from_text(status)
    with database.transaction() as conn:
        incident = store.fetch_incident(conn, source=source, external_id=external_id)
        if incident is None:
            raise InputError(f"no incident with source '{source}' and external_id '{external_id}'",
                             fix="check both values (python -m gis incidents export lists them)")
        dispatch.check_transition(incident["status"], new, actor=actor, handler=incident["handler"], note=note)
        store.save_incident_status(conn, incident_id=incident["id"], status=new,
                                   handler=actor if new == "resolved" else None)
        store.save_incident_event(conn, incident_id=incident["id"], from_status=incident["status"],
                                  to_status=new, actor=actor, note=note)
        return {"source": source, "external_id": external_id, "from": incident["status"], "to": new}


def escalate_overdue(database: _db.Database, *, now: datetime | None = None,
                     actor: str = "系统督办") -> dict[str, int]:
    """Escalate every open case whose deadline has passed, by the tier rules.

    general → complex (the community) → hard (the street's coordination desk),
    each with a new deadline from ``now`` at its new tier; a case already at the
    top tier goes under supervision (督办). One event per change.

    Returns
    -------
    dict
        ``{'escalated': n, 'supervised': m}``.
    """
    now = now or datetime.now(dispatch.CHINA_TZ)
    rules = dispatch.load_rules()
    with database.transaction() as conn:
        overdue = store.fetch_overdue(conn, now=now)
        if not len(overdue):
            return {"escalated": 0, "supervised": 0}
        _, _, staff, parents = _dispatch_context(conn)
        step = [dispatch.next_escalation(t, d, now, rules=rules) for t, d in zip(overdue["tier"], overdue["due_at"])]
        overdue["step"] = step
        supervise = (overdue["step"] == "supervised") & overdue["status"].map(
            lambda s: "supervised" in dispatch.allowed_next(s, rules=rules))
        raise_tier = overdue["step"].isin(list(dispatch.TIERS))
        out = overdue[supervise | raise_tier].copy()
        out["from_status"] = out["status"]
        up = out["step"] != "supervised"
        out.loc[~up, "status"] = "supervised"
        out["tier"] = out["tier"].where(~up, out["step"])
        start = pd.Series(pd.Timestamp(now), index=out.index)
        out["due_at"] = out["due_at"].where(~up, dispatch.due_at_many(start, out["category"], rules=rules,
                                                                      tiers=out["tier"]))
        out["assignee"] = assignees(out, staff=staff, parents=parents)
        names = {"complex": "社区(复杂)", "hard": "街道(疑难)"}
        out["note"] = ["逾期督办" if not u else f"逾期升级至{names.get(t, t)}" for u, t in zip(up, out["tier"])]
        store.save_escalations(conn, out, now=now, actor=actor)
    return {"escalated": int(up.sum()), "supervised": int((~up).sum())}


def incident_history(database: _db.Database, *, source: str, external_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """One case and its events, oldest first."""
    with database.connection() as conn:
        incident = store.fetch_incident(conn, source=source, external_id=external_id)
        if incident is None:
            raise InputError(f"no incident with source '{source}' and external_id '{external_id}'")
        return incident, store.fetch_incident_events(conn, incident_id=incident["id"])


def export_incidents(database: _db.Database, path: str | Path, *, fmt: str | None = None) -> int:
    """Write incidents as CSV, GeoJSON or Open311 JSON (by ``fmt`` or the extension)."""
    from gis import incidents as incidents_mod

    with database.connection() as conn:
        frame = store.fetch_incidents_export(conn)
    fmt = fmt or {".csv": "csv", ".geojson": "geojson", ".json": "open311"}.get(Path(path).suffix.lower())
    writers = {"csv": incidents_mod.incidents_to_csv, "geojson": incidents_mod.incidents_to_geojson,
               "open311": incidents_mod.write_open311}
    if fmt not in writers:
        raise InputError(f"cannot tell the export format of '{path}'", field="format",
                         fix="use a .csv, .geojson or .json path, or --format csv|geojson|open311")
    writers[fmt](frame, path)
    return len(frame)


# -- analytics: what the map, the case list and the bulletin show ----------------------------------


@functools.lru_cache(maxsize=4)
def _tree_of_version(database: _db.Database, version_id: int) -> analytics.GridTree:
    return analytics.GridTree(_grids_of_version(database, version_id))


def grid_tree(database: _db.Database) -> analytics.GridTree:
    """Parent/child lookups over the active grids, cached per grid version."""
    with database.connection() as conn:
        return _tree_of_version(database, _active_version_id(conn))


def active_grids(database: _db.Database) -> gpd.GeoDataFrame:
    """Every active grid (all levels, WGS-84), cached per grid version."""
    with database.connection() as conn:
        version_id = _active_version_id(conn)
    return _grids_of_version(database, version_id)


def _params(database: _db.Database, flt: analytics.CaseFilter, now: datetime | None) -> dict[str, Any]:
    micro = None
    if flt.unit:
        tree = grid_tree(database)
        if flt.unit not in tree.level:
            raise InputError(f"grid '{flt.unit}' is not in the active grids", field="unit")
        micro = tree.micro_under(flt.unit)
    return flt.params(micro_codes=micro, now=now or datetime.now(dispatch.CHINA_TZ))


def micro_stats(database: _db.Database, flt: analytics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Counts per micro-grid (one row with micro_code None for the unassigned)."""
    with database.connection() as conn:
        return store.fetch_micro_stats(conn, _params(database, flt, now))


def kpis(database: _db.Database, flt: analytics.CaseFilter, *, now: datetime | None = None) -> dict[str, Any]:
    """KPI cards: received, completed, 办结率, 按期办结率, overdue, median handling hours,
    each with the value of the previous period of the same length."""
    def period_totals(period: analytics.CaseFilter) -> dict[str, Any]:
        params = _params(database, period, now)
        with database.connection() as conn:
            record = analytics.totals(store.fetch_micro_stats(conn, params))
            record.update(store.fetch_handling_hours(conn, params))
        return record

    if database.maxconn < 2:
        return {"current": period_totals(flt), "previous": period_totals(flt.previous())}
    # the two periods on two pooled connections at once: the server has a core for each
    with ThreadPoolExecutor(max_workers=2) as pool:
        current, previous = pool.map(period_totals, (flt, flt.previous()))
    return {"current": current, "previous": previous}


def unit_stats(database: _db.Database, flt: analytics.CaseFilter, *, level: str, within: str | None = None,
               now: datetime | None = None) -> gpd.GeoDataFrame:
    """Counts and rates per grid at ``level`` (under ``within`` if given), with geometry."""
    grids = active_grids(database)
    stats = micro_stats(database, flt, now=now)
    return analytics.rollup(stats, grids, level=level, within=within, tree=grid_tree(database))


HEAT_LAYERS = {"hazard": "安全隐患", "garbage": "垃圾/环境卫生", "unresolved": "未办结"}


def heat_cells(database: _db.Database, flt: analytics.CaseFilter, *, layer: str, cell_m: float = 40.0,
               overdue_weight: float = 3.0, now: datetime | None = None) -> pd.DataFrame:
    """Heat-map cells (lon, lat in degrees WGS-84, weight), aggregated in PostGIS.

    ``layer``: 'hazard' (fire, electricity, gas), 'garbage' (环境卫生) or
    'unresolved' (open cases, overdue ones weigh ``overdue_weight``).
    """
    rules = dispatch.load_rules()
    if layer in ("hazard", "garbage"):
        tagged = [c.code for c in rules.categories.values() if c.heat == layer]
        categories = tuple(c for c in tagged if not flt.categories or c in flt.categories)
        flt = replace(flt, categories=categories or ("__none__",))
        weight = 1.0
    elif layer == "unresolved":
        open_statuses = tuple(s for s in dispatch.STATUSES if dispatch.is_open(s))
        flt = replace(flt, statuses=tuple(s for s in open_statuses if not flt.statuses or s in flt.statuses)
                      or ("__none__",))
        weight = overdue_weight
    else:
        raise InputError(f"heat layer '{layer}' is unknown", fix=f"use one of {', '.join(HEAT_LAYERS)}")
    minx, miny, maxx, maxy = active_grids(database).total_bounds
    cell_lat_deg = cell_m / 111_320.0
    cell_lon_deg = float(cell_lat_deg / np.cos(np.radians((miny + maxy) / 2)))
    with database.connection() as conn:
        return store.fetch_heat_cells(conn, _params(database, flt, now), cell_lon_deg=cell_lon_deg,
                                      cell_lat_deg=cell_lat_deg, overdue_weight=weight)


def daily_counts(database: _db.Database, flt: analytics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Received and completed per day (China time), every day of the period present."""
    with database.connection() as conn:
        counts = store.fetch_daily_counts(conn, _params(database, flt, now))
    days = pd.DataFrame({"day": pd.date_range(flt.since, flt.until, freq="D").date})
    return days.merge(counts, on="day", how="left").fillna({"received": 0, "completed": 0}).astype(
        {"received": int, "completed": int})


def category_counts(database: _db.Database, flt: analytics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Cases per category with its Chinese name and group, most frequent first."""
    rules = dispatch.load_rules()
    with database.connection() as conn:
        counts = store.fetch_category_counts(conn, _params(database, flt, now))
    counts["name"] = counts["category"].map(lambda c: rules.categories[c].name_zh if c in rules.categories else c)
    counts["group"] = counts["category"].map(
        lambda c: rules.categories[c].group_name_zh if c in rules.categories else "")
    return counts


def cases(database: _db.Database, flt: analytics.CaseFilter, *, search: str | None = None, open_only: bool = False,
          limit: int = 5000, now: datetime | None = None) -> pd.DataFrame:
    """The filtered cases, newest first (at most ``limit``), text exactly as stored."""
    with database.connection() as conn:
        return store.fetch_cases(conn, _params(database, flt, now), search=search or None, open_only=open_only,
                                 limit=limit)


@dataclass
class Bulletin:
    """The weekly bulletin (周通报) of one ISO week."""

    week: str
    since: Any
    until: Any
    communities: pd.DataFrame     # per community: counts, rates, rank, change from last week
    worst_micro: pd.DataFrame     # the 5 worst micro-grids
    totals: dict[str, Any]
    previous_totals: dict[str, Any]
    min_due: int


def weekly_bulletin(database: _db.Database, week: str, *, min_due: int = 5, worst: int = 5,
                    now: datetime | None = None) -> Bulletin:
    """Per community: received, completed, 办结率, 按期办结率, overdue, rank and change from
    last week; the worst micro-grids. Units with fewer than ``min_due`` cases due are not ranked."""
    monday, sunday = analytics.iso_week(week)
    # a bulletin describes the week as it stood at its end, not as it stands today
    now = now or min(datetime.now(dispatch.CHINA_TZ),
                     datetime.combine(sunday + pd.Timedelta(days=1), datetime.min.time(), dispatch.CHINA_TZ))
    flt = analytics.CaseFilter(since=monday, until=sunday)
    grids, tree = active_grids(database), grid_tree(database)
    current = analytics.rollup(micro_stats(database, flt, now=now), grids, level="community", tree=tree)
    previous = analytics.rollup(micro_stats(database, flt.previous(), now=now - pd.Timedelta(days=7)), grids,
                                level="community", tree=tree)
    streets = grids[grids["level"] == "street"].set_index("code")["name"]
    table = analytics.ranking(pd.DataFrame(current.drop(columns="geometry")), min_due=min_due)
    prev = previous.set_index("code")
    table["street"] = table["parent_code"].map(streets)
    table["received_change"] = table["received"] - table["code"].map(prev["received"]).fillna(0)
    table["completion_rate_change"] = table["completion_rate"] - table["code"].map(prev["completion_rate"])
    prev_rank = analytics.ranking(pd.DataFrame(previous.drop(columns="geometry")), min_due=min_due).set_index("code")["rank"]
    table["previous_rank"] = table["code"].map(prev_rank)
    micro = analytics.rollup(micro_stats(database, flt, now=now), grids, level="micro", tree=tree)
    micro = pd.DataFrame(micro.drop(columns="geometry"))
    micro = micro[micro["received"] > 0]
    names = grids.set_index("code")["name"]
    micro["community"] = micro["code"].map(tree.unit_of_micro("community")).map(names)
    worst_micro = micro.sort_values(["overdue", "open", "completion_rate"], ascending=[False, False, True]).head(worst)
    stats_all = micro_stats(database, flt, now=now)
    return Bulletin(week=week.upper(), since=monday, until=sunday, communities=table.reset_index(drop=True),
                    worst_micro=worst_micro.reset_index(drop=True), totals=analytics.totals(stats_all),
                    previous_totals=analytics.totals(micro_stats(database, flt.previous(), now=now - pd.Timedelta(days=7))),
                    min_due=min_due)
