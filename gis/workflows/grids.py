"""Grid jobs: validate, import as a new version, export, the roster, locate a point."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import store
from gis.core import access, dispatch, hierarchy, intake, roster, topology, versions
from gis.core.crs import parse_crs, to_wgs84
from gis.errors import InputError, PermissionDenied, ValidationError
from gis.io import grid_files
from gis.io.roster import staff_from_file
from gis.workflows import incidents as incident_jobs
from gis.workflows import operations
from gis.workflows.context import GridVersion, Services

# -- grids ------------------------------------------------------------------------------------


#: The columns of :attr:`Activation.moves`: each open case that changed grid, before and after.
MOVE_COLUMNS = ["source", "external_id", "status", "from_micro", "to_micro", "from_exclusive", "to_exclusive",
                "from_assignee", "to_assignee"]


@dataclass
class Activation:
    """What making a version active did: the open cases it moved (each re-dispatched by the
    rules, with an event ``网格调整: A → B``) and the staff on duty for grids it no longer has
    (to be reassigned). Closed cases never move."""

    version_id: int
    previous_id: int | None
    moves: pd.DataFrame
    staff_to_reassign: pd.DataFrame
    open_cases: int = 0


@dataclass
class GridImport:
    """What a grid import did: the new version, counts per level, warnings and fix notes, and
    the activation (the open cases it moved)."""

    version_id: int
    counts: dict[str, int]
    problems: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)
    activation: Activation | None = None

    @property
    def reassigned(self) -> int:
        """How many open cases moved to another grid."""
        return 0 if self.activation is None else len(self.activation.moves)


def validate_grid_layer(services: Services | None, grids: gpd.GeoDataFrame, *, declared_crs: str = "wgs84",
                        strict: bool = False, tolerance_m2: float = 1.0,
                        focus: Collection[str] | None = None) -> gpd.GeoDataFrame:
    """Check a layer against itself and the stored grids of the other levels (nothing stored);
    with ``focus`` (the codes of a new area's grids) only problems that involve them."""
    stored = None
    if services is not None:
        with services.connection() as conn:
            version = store.fetch_active_version(conn)
            if version is not None:
                stored = store.fetch_grids(conn, version_id=version["id"])
                stored = stored[~stored["level"].isin(set(grids["level"]))]
    return topology.validate_grids(grids, stored=stored, declared_crs=declared_crs, strict=strict,
                                    tolerance_m2=tolerance_m2, focus=focus)


def effective_layer(services: Services, grids: gpd.GeoDataFrame, *, within: str | None = None,
                    replace_all: bool = False, base: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The layer that will replace its levels in the active version.

    With ``within`` (a street, community or tertiary grid of the active version), the layer's
    grids replace only that area: the active version's grids of the same levels elsewhere are
    carried over unchanged, and validation then checks the new area against its neighbours.
    Without it, a layer that would drop grids of the active version is refused unless
    ``replace_all`` (a one-community file must not wipe the district).

    Raises
    ------
    InputError
        An unknown or too-low ``within``, a layer grid outside it, or grids that would be
        dropped without ``replace_all``; the message names the count, the first grid and the fix.

    ``base`` replaces the active version as the layer the area is cut from (a draft's grids).
    """
    if base is not None:
        stored = base
    else:
        with services.connection() as conn:
            version = store.fetch_active_version(conn)
            stored = None if version is None else store.fetch_grids(conn, version_id=version["id"])
    if stored is None or not len(stored):
        if within is not None:
            raise InputError("no grids are stored yet, so there is no area to replace", field="within",
                             fix="import the whole layer first, without --within")
        return grids
    levels = set(grids["level"])
    same = stored[stored["level"].isin(levels)]
    if within is None:
        dropped = same[~same["code"].isin(set(grids["code"]))]
        if len(dropped) and not replace_all:
            first = dropped.iloc[0]
            by_level = ", ".join(f"{n:,} {level}" for level, n in dropped["level"].value_counts().sort_index().items())
            raise InputError(
                f"the layer would drop {len(dropped):,} grid(s) of the active version ({by_level}; first: "
                f"{first['level']} {first['code']} {first['name']}), nothing was stored",
                fix="import one area's grids with --within CODE (a street, community or tertiary grid), "
                    "or replace the whole level(s) with --replace-all")
        return grids
    tree = hierarchy.GridTree(stored)
    if within not in tree.level:
        raise InputError(f"grid '{within}' is not in the active grids", field="within",
                         fix="give the code of a stored street, community or tertiary grid (grids export lists them)")
    if "exclusive" in levels:
        raise InputError("exclusive grids (专属网格) cannot be replaced by area", field="within",
                         fix="import exclusive grids as their own layer, without --within")
    top = tree.level[within]
    if top not in hierarchy.LEVELS or any(hierarchy.LEVELS.index(lv) <= hierarchy.LEVELS.index(top) for lv in levels):
        raise InputError(f"'{within}' is a {top}, not above every level of the layer ({', '.join(sorted(levels))})",
                         field="within", fix="give a grid above the levels the file holds, e.g. its community")

    def under(frame: pd.DataFrame, known: hierarchy.GridTree) -> pd.Series:
        return frame["code"].map(lambda code: within in {step["code"] for step in known.path(code)[1:]})

    area = same[under(same, tree).to_numpy()]
    kept = same[~same["code"].isin(set(area["code"]))]
    clash = grids[grids["code"].isin(set(kept["code"]))]
    if len(clash):
        raise InputError(f"{len(clash):,} grid(s) of the layer reuse codes of grids outside '{within}' "
                         f"(first: {clash.iloc[0]['code']})", field="code",
                         fix=f"give the layer only grids under {within}, with codes of their own")
    combined = gpd.GeoDataFrame(pd.concat([kept[grids.columns.intersection(kept.columns)], grids],
                                          ignore_index=True), geometry="geometry", crs=grids.crs)
    outside = grids[~under(grids, hierarchy.GridTree(pd.concat([stored[~stored["code"].isin(set(area["code"]))],
                                                                grids], ignore_index=True))).to_numpy()]
    if len(outside):
        o = outside.iloc[0]
        raise InputError(f"{len(outside):,} grid(s) of the layer do not lie under '{within}' (first: {o['level']} "
                         f"{o['code']} under {o['parent_code']})", field="parent_code",
                         fix=f"give the layer only the grids of {within}'s area, or import without --within")
    return combined


def save_grid_layer(services: Services, grids: gpd.GeoDataFrame, *, declared_crs: str = "wgs84",
                    strict: bool = False, tolerance_m2: float = 1.0, note: str = "",
                    notes: list[str] | None = None, within: str | None = None,
                    replace_all: bool = False, effective_date=None,
                    base_version_id: int | None = None) -> GridImport:
    """Validate a layer and store it as the new active grid version, all or nothing.

    The levels the layer holds replace those levels of the active version (only the area under
    ``within``, when given; a layer that would drop grids is refused unless ``replace_all``:
    :func:`effective_layer`); the other levels are carried over; the old version is retired and
    kept. In the same transaction the open cases move to the new boundaries
    (:func:`activate_in`); closed cases keep the version and micro-grid they had.

    Raises
    ------
    ValidationError
        With ``problems`` when any check fails; nothing is stored then.
    InputError
        From :func:`effective_layer`; nothing is stored then.
    """
    focus = None if within is None else list(grids["code"])
    grids = effective_layer(services, grids, within=within, replace_all=replace_all)
    problems = validate_grid_layer(services, grids, declared_crs=declared_crs, strict=strict,
                                   tolerance_m2=tolerance_m2, focus=focus)
    errors = problems[problems["severity"] == "error"]
    if len(errors):
        first = errors.iloc[0]["message"]
        raise ValidationError(f"the layer has {len(errors)} error(s), nothing was stored; first: {first}",
                              problems=problems)
    levels = sorted(set(grids["level"]))
    with services.transaction() as conn:
        _require_commit(services, conn)
        old = store.fetch_active_version(conn)
        version_id = store.save_grid_version(
            conn, note=note, effective_date=effective_date, scope_code=within,
            base_version_id=base_version_id if base_version_id is not None else (old["id"] if old else None))
        if old is not None:
            store.save_grids_carried_over(conn, new_version=version_id, old_version=old["id"], replaced_levels=levels)
        store.save_grids(conn, grids, version_id=version_id)
        refuse_orphans(conn, version_id, outcome="nothing was stored",
                       fix="include their parents in the layer, or import their level too")
        activation = activate_in(services, conn, version_id, effective_date=effective_date)
        counts = {r["level"]: int(r["grids"]) for r in store.fetch_grid_counts(conn, version_id=version_id).to_dict("records")}
    _forget(services, activation)
    return GridImport(version_id, counts, problems, notes or [], activation)


def refuse_orphans(conn, version_id: int, *, outcome: str, fix: str) -> None:
    """Raise :class:`ValidationError` (inside the caller's transaction, which then rolls back)
    when grids of the version have lost their parent."""
    orphans = store.fetch_orphans(conn, version_id=version_id)
    if orphans:
        o = orphans[0]
        raise ValidationError(f"{len(orphans)} grid(s) would lose their parent, {outcome}; "
                              f"first: {o['level']} {o['code']} under {o['parent_code']}", fix=fix)


def _require_commit(services: Services, conn) -> None:
    """Committing boundaries needs the planning right and a view of every grid (a commit copies
    the grids outside its area, and moves open cases anywhere in the district)."""
    services.require(access.PLAN, action_zh="提交网格边界")
    if not store.fetch_sees_all(conn):
        raise PermissionDenied("提交网格边界需要全区范围的账号",
                               fix="sign in with a planner account scoped to the district")


def _forget(services: Services, activation: Activation) -> None:
    """After a commit: the versions involved are read afresh (their earlier codes changed)."""
    services.forget(activation.version_id)
    if activation.previous_id is not None:
        services.forget(activation.previous_id)


def activate_in(services: Services, conn, version_id: int, *, effective_date=None) -> Activation:
    """Make a stored version the active one inside the caller's transaction: the old one is
    retired; open cases with a point move to the version's grids, each moved case re-dispatched
    by the rules with an event (``网格调整: A → B``); closed cases are not touched; the staff on
    duty for grids the version no longer has are reported.

    Raises
    ------
    ValidationError
        When a grid keeps its code but has another parent than an earlier version gave it
        (its history would move with it): such a grid needs a new code.
    """
    moved_codes = store.fetch_moved_codes(conn, version_id=version_id)
    if moved_codes:
        m = moved_codes[0]
        raise ValidationError(
            f"{len(moved_codes)} grid(s) keep their code but move to another parent, nothing was stored; first: "
            f"{m['level']} {m['code']} now under {m['parent_code']}, under {m['was_parent']} in version "
            f"{m['was_version']}", fix="give a grid that moves to another parent a new code (its closed cases stay "
                                       "counted where they were handled)")
    previous = store.fetch_active_version(conn)
    # read before the switch, so the cache never holds what this transaction may roll back
    names = {} if previous is None else dict(services.version(conn, previous["id"]).tree.name)
    store.save_version_active(conn, version_id=version_id, effective_date=effective_date)
    version = GridVersion(version_id, store.fetch_grids(conn, version_id=version_id))
    cases = store.fetch_open_case_points(conn)
    names.update(version.tree.name)
    placed = open_case_placements(version, cases, staff=store.fetch_staff(conn))
    moving = placed[placed["moved"]]
    notes = [versions.move_note(b, a, names, before_assignee=ba, after_assignee=aa) for b, a, ba, aa in zip(
        moving["from_micro"], moving["to_micro"], moving["from_assignee"], moving["to_assignee"])]
    store.save_moves(conn, moving.rename(columns={"to_micro": "micro_code", "to_exclusive": "exclusive_code",
                                                  "to_assignee": "assignee"}).assign(note=notes),
                     version_id=version_id, actor=_actor(services))
    staff = store.fetch_staff_of_removed(conn, version_id=version_id)
    staff["phone"] = staff["phone"].map(roster.mask_phone)
    return Activation(version_id, None if previous is None else previous["id"],
                      moving[MOVE_COLUMNS].reset_index(drop=True), staff, open_cases=len(cases))


def open_case_placements(version: GridVersion, cases: pd.DataFrame, *, staff: pd.DataFrame) -> pd.DataFrame:
    """Where open cases (``store.fetch_open_case_points``) would be under ``version``: one row per
    case with :data:`MOVE_COLUMNS`, the placement columns (``suggested_code``,
    ``suggested_distance_m``), the ``id`` and ``moved`` (micro-grid or exclusive grid differs).
    A moved case's ``to_assignee`` is who the rules give it there; an unmoved one keeps its own."""
    out = cases.rename(columns={"micro_code": "from_micro", "exclusive_code": "from_exclusive",
                                "assignee": "from_assignee"})
    if not len(cases):
        return out.assign(to_micro=None, to_exclusive=None, to_assignee=None, suggested_code=None,
                          suggested_distance_m=None, moved=False)
    hit = version.index.assign(cases["lon"].to_numpy(), cases["lat"].to_numpy())
    placed = intake.placement_columns(hit, index=cases.index).drop(columns="far_from_grids")
    out["to_micro"], out["to_exclusive"] = placed["micro_code"], placed["exclusive_code"]
    out["suggested_code"], out["suggested_distance_m"] = placed["suggested_code"], placed["suggested_distance_m"]
    out["moved"] = ~(_same(out["from_micro"], out["to_micro"]) & _same(out["from_exclusive"], out["to_exclusive"]))
    out["to_assignee"] = out["from_assignee"]
    if out["moved"].any():
        moving = out[out["moved"]]
        out.loc[out["moved"], "to_assignee"] = incident_jobs.rule_assignees(
            version, staff, tier=moving["tier"], category=moving["category"], micro_code=moving["to_micro"],
            exclusive_code=moving["to_exclusive"])
    return out


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise equality where two missing values are equal."""
    return (a == b) | (a.isna() & b.isna())


def _actor(services: Services) -> str:
    principal = services.principal
    return "系统" if principal is None or principal.role == access.SYSTEM_ROLE else operations.actor_name(principal)


def import_grids(services: Services, path: str | Path, *, crs: str = "wgs84", fix: bool = False,
                 strict: bool = False, tolerance_m2: float = 1.0, note: str = "", within: str | None = None,
                 replace_all: bool = False, effective_date=None) -> GridImport:
    """Read a grid file (GeoJSON, GeoPackage, Shapefile), validate it and store it as the active version
    (only the area under ``within``, when given; see :func:`save_grid_layer`)."""
    grids, notes = grid_files.grids_from_file(path, crs=crs, fix=fix)
    return save_grid_layer(services, grids, declared_crs=parse_crs(crs), strict=strict, tolerance_m2=tolerance_m2,
                           note=note or f"import {Path(path).name}", notes=notes, within=within,
                           replace_all=replace_all, effective_date=effective_date)


def validate_grid_file(services: Services | None, path: str | Path, *, crs: str = "wgs84", fix: bool = False,
                       strict: bool = False, tolerance_m2: float = 1.0,
                       within: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Report a file's problems without storing it; returns (problems, fix notes). With ``within``,
    the file's grids are checked as the new area under that grid, against its neighbours."""
    grids, notes = grid_files.grids_from_file(path, crs=crs, fix=fix)
    focus = None
    if services is not None and within is not None:
        focus = list(grids["code"])
        grids = effective_layer(services, grids, within=within)
    return validate_grid_layer(services, grids, declared_crs=parse_crs(crs), strict=strict,
                               tolerance_m2=tolerance_m2, focus=focus), notes


def fetch_grids(services: Services, *, level: str | None = None) -> gpd.GeoDataFrame:
    """The active grids (WGS-84), all levels or one."""
    if level is not None and level not in hierarchy.ALL_LEVELS:
        raise InputError(f"level '{level}' is not a grid level", field="level",
                         fix=f"use one of {', '.join(hierarchy.ALL_LEVELS)}")
    with services.connection() as conn:
        version = services.version(conn)
    return version.grids if level is None else version.level(level)


def export_grids(services: Services, path: str | Path, *, level: str | None = None) -> int:
    """Write the active grids to GeoJSON / GeoPackage / Shapefile (by extension)."""
    return grid_files.grids_to_file(fetch_grids(services, level=level), path)


# -- staff ------------------------------------------------------------------------------------


def import_staff(services: Services, path: str | Path) -> int:
    """Load a roster CSV (grid_code, role, name, phone); replaces the roster of the grids it names."""
    with services.transaction() as conn:
        codes = set(services.version(conn).tree.level)
        people = staff_from_file(path, known_codes=codes)
        return store.save_staff(conn, people)


def fetch_staff(services: Services, *, grid_codes: list[str] | None = None, masked: bool = True) -> pd.DataFrame:
    """The roster on duty; phones masked (138****5678) unless ``masked=False``."""
    with services.connection() as conn:
        staff = store.fetch_staff(conn, grid_codes=grid_codes)
    if masked:
        staff["phone"] = staff["phone"].map(roster.mask_phone)
    return staff


# -- assignment ------------------------------------------------------------------------------------


def locate(services: Services, lon: float, lat: float, *, crs: str = "wgs84") -> dict[str, Any]:
    """The grid path, exclusive grid and worker on duty for one point.

    ``worker`` is who takes a general case there (:func:`gis.core.dispatch.dispatch_for`):
    the exclusive grid's 专属网格负责人, else the 专职网格员 serving the micro-grid;
    ``reason`` says why, ``informed`` names the 微网格长 who is told.

    Parameters
    ----------
    lon, lat
        Degrees in ``crs`` (wgs84, gcj02, bd09 or EPSG:<code>); converted to WGS-84.
    """
    crs = parse_crs(crs)
    wlon, wlat = to_wgs84(lon, lat, crs=crs)
    if not (np.isfinite(wlon) and np.isfinite(wlat) and -180 <= wlon <= 180 and -90 <= wlat <= 90):
        raise InputError(f"point ({lon}, {lat}) is not a lon/lat position", fix="give LON LAT in degrees, lon first")
    with services.connection() as conn:
        version = services.version(conn)
        hit = version.index.assign([wlon], [wlat])
        micro, exclusive = hit.micro_code[0], hit.exclusive_code[0]
        tree = version.tree
        path = tree.path(micro) if micro is not None else []
        codes = [p["code"] for p in path] + ([exclusive] if exclusive else [])
        staff = store.fetch_staff_records(conn, grid_codes=codes) if codes else []
    version_id = version.id
    result: dict[str, Any] = {"input": {"lon": lon, "lat": lat, "crs": crs},
                              "wgs84": {"lon": round(float(wlon), 7), "lat": round(float(wlat), 7)},
                              "grid_version": version_id, "assigned": micro is not None,
                              "micro": path[0] if path else None, "path": path,
                              "exclusive": tree.path(exclusive)[0] if exclusive else None}
    if micro is None:
        result["suggestion"] = {"code": hit.suggested_code[0], "distance_m": float(hit.suggested_distance_m[0])}
    chosen = dispatch.dispatch_for(
        tier="general", micro_code=micro, exclusive_code=exclusive, grid_code=tree.ancestor(micro, "grid"),
        community_code=tree.ancestor(micro, "community"), street_code=tree.ancestor(micro, "street"),
        staff=pd.DataFrame(staff, columns=list(roster.STAFF_COLUMNS)), names=tree.name)
    result["worker"], result["reason"], result["informed"] = chosen.assignee, chosen.reason, chosen.informed
    result["staff"] = [{**person, "phone": roster.mask_phone(person["phone"])} for person in staff]
    return result


def grid_version(services: Services, version_id: int | None = None) -> GridVersion:
    """A grid version (the active one by default) with its tree and index, cached per version."""
    with services.connection() as conn:
        return services.version(conn, version_id)


def exclusive_partners(services: Services) -> pd.DataFrame:
    """Each exclusive grid's 共建 communities in the active version: ``exclusive_code, code, name,
    share`` (the share of the exclusive grid's area in that community), cached per version."""
    return grid_version(services).exclusive_partners


def grid_tree(services: Services) -> hierarchy.GridTree:
    """Parent/child lookups over the active grids, cached per grid version."""
    return grid_version(services).tree


def active_grids(services: Services) -> gpd.GeoDataFrame:
    """Every active grid (all levels, WGS-84): a copy of the cached frame."""
    return grid_version(services).grids
