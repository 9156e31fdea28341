"""Planning jobs: grid versions (list, activate again, compare), drafts of one area (take,
check, save, commit with an optimistic check, discard) and the what-if of a draft.

A draft is a grid version in ``draft`` status: a copy of the active version taken for one
street, community or tertiary grid (its ``scope_code``), which no other page reads. Its commit
replaces only that area of the version active *then* (:func:`gis.workflows.grids.save_grid_layer`
with ``within``), so commits elsewhere in the meantime are kept; a commit in the same area is
a conflict, and the draft's commit is refused with the changes (:class:`StaleDraft`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import store
from gis.core import access, china_time, topology, versions
from gis.core.assignment import GridIndex
from gis.core.hierarchy import GridTree
from gis.errors import InputError, ValidationError
from gis.io import grid_files
from gis.io.paths import writable_path
from gis.workflows import grids as grid_jobs
from gis.workflows import incidents as incident_jobs
from gis.workflows.context import GridVersion, Services

#: The levels a draft may be taken for.
DRAFT_LEVELS = ("street", "community", "grid")
#: What-if: the months of cases re-counted by default.
WHAT_IF_MONTHS = 12
WEEKS_PER_MONTH = 52 / 12


# -- versions ------------------------------------------------------------------------------------


def grid_versions(services: Services, *, drafts: bool = True) -> pd.DataFrame:
    """Every grid version, newest first: ``id, status, effective_date, author, note, scope_code,
    scope_name, base_version_id, created_at, committed_at, retired_at`` and the grid counts per
    level (``streets, communities, grids, micro, exclusive``)."""
    with services.connection() as conn:
        table = store.fetch_versions(conn)
        names = services.version(conn).history.name if store.fetch_active_version(conn) else {}
    if not drafts:
        table = table[table["status"] != "draft"]
    table.insert(table.columns.get_loc("scope_code") + 1, "scope_name",
                 table["scope_code"].map(lambda c: names.get(c, c) if c else None))
    return table.reset_index(drop=True)


def activate_version(services: Services, version_id: int, *, effective_date=None) -> grid_jobs.Activation:
    """Make a retired version active again (undo a commit): its boundaries come back, and the
    open cases move back with an event each, re-dispatched by the rules; closed cases stay."""
    with services.transaction() as conn:
        grid_jobs._require_commit(services, conn)
        version = store.fetch_version(conn, version_id=version_id)
        if version is None:
            raise InputError(f"grid version {version_id} does not exist", field="version",
                             fix="choose an id that grids versions lists")
        if version["status"] == "active":
            raise InputError(f"grid version {version_id} is already active", field="version",
                             fix="choose a retired version")
        if version["status"] == "draft":
            raise InputError(f"grid version {version_id} is a draft", field="version",
                             fix="commit the draft from the planning page, or choose a retired version")
        activation = grid_jobs.activate_in(services, conn, version_id, effective_date=effective_date)
    grid_jobs._forget(services, activation)
    return activation


@dataclass
class VersionDiff:
    """Two versions compared: the grids that changed (:data:`gis.core.versions.CHANGE_COLUMNS`)
    and the open cases that would change hands going from ``a`` to ``b``
    (:data:`gis.workflows.grids.MOVE_COLUMNS`)."""

    a: int
    b: int
    grids: gpd.GeoDataFrame
    cases: pd.DataFrame

    def counts(self) -> dict[str, int]:
        """Changed grids per kind of change (every kind, zeros included)."""
        return {c: int((self.grids["change"] == c).sum()) for c in versions.CHANGES}


def diff_versions(services: Services, a: int, b: int) -> VersionDiff:
    """The grids added, removed, reshaped and renamed from version ``a`` to version ``b``, and
    the open cases whose grid or worker would change if ``b`` replaced ``a``."""
    with services.connection() as conn:
        found = {v: store.fetch_version(conn, version_id=v) for v in (a, b)}
        for v, row in found.items():
            if row is None:
                raise InputError(f"grid version {v} does not exist", field="version",
                                 fix="choose ids that grids versions lists")
        first, second = _version(services, conn, found[a]), _version(services, conn, found[b])
        cases = store.fetch_open_case_points(conn)
        staff = store.fetch_staff(conn)
    changes = versions.grid_changes(first.grids, second.grids)
    under_a = grid_jobs.open_case_placements(first, cases, staff=staff)
    under_b = grid_jobs.open_case_placements(second, cases, staff=staff)
    moved = ~(grid_jobs._same(under_a["to_micro"], under_b["to_micro"])
              & grid_jobs._same(under_a["to_exclusive"], under_b["to_exclusive"]))
    out = pd.DataFrame({"source": cases["source"], "external_id": cases["external_id"], "status": cases["status"],
                        "from_micro": under_a["to_micro"], "to_micro": under_b["to_micro"],
                        "from_exclusive": under_a["to_exclusive"], "to_exclusive": under_b["to_exclusive"],
                        "from_assignee": _assignees(first, under_a, staff),
                        "to_assignee": _assignees(second, under_b, staff)})
    return VersionDiff(a, b, changes, out[moved.to_numpy()].reset_index(drop=True))


def export_version_diff(services: Services, a: int, b: int, path: str | Path) -> tuple[VersionDiff, list[Path]]:
    """:func:`diff_versions`, written to ``path`` (:func:`gis.io.grid_files.version_diff_to_file`)."""
    target = writable_path(path, field="--out")
    diff = diff_versions(services, a, b)
    return diff, grid_files.version_diff_to_file(diff.grids, diff.cases, target)


def _version(services: Services, conn, row: dict[str, Any]) -> GridVersion:
    """A version's lookups: committed ones from the cache, drafts (which change) read afresh."""
    if row["status"] == "draft":
        return GridVersion(row["id"], store.fetch_grids(conn, version_id=row["id"]))
    return services.version(conn, row["id"])


def _assignees(version: GridVersion, placed: pd.DataFrame, staff: pd.DataFrame) -> pd.Series:
    """Who the rules give each placed open case under ``version``."""
    return incident_jobs.rule_assignees(version, staff, tier=placed["tier"], category=placed["category"],
                                        micro_code=placed["to_micro"], exclusive_code=placed["to_exclusive"])


# -- drafts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A planner's draft of one area: a grid version in draft status."""

    id: int
    area_code: str
    area_name: str
    area_level: str
    base_version_id: int
    author: str
    created_at: datetime
    note: str = ""


class StaleDraft(InputError):
    """Someone committed changes to the draft's area after the draft was taken: committing it
    would overwrite them. ``changes`` lists them (:func:`gis.core.versions.grid_changes`)."""

    def __init__(self, message: str, *, changes: gpd.GeoDataFrame, fix: str) -> None:
        super().__init__(message, field="draft", fix=fix)
        self.changes = changes


def take_draft(services: Services, area_code: str, *, note: str = "") -> Draft:
    """Start a draft of one street, community or tertiary grid: a copy of the active version
    that only the planning page reads."""
    with services.transaction() as conn:
        services.require(access.PLAN, action_zh="编制网格调整草稿")
        active = store.fetch_active_version(conn)
        if active is None:
            raise InputError("no grids are stored yet", fix="run python -m gis grids import PATH first")
        tree = services.version(conn, active["id"]).tree
        level = tree.level.get(area_code)
        if level not in DRAFT_LEVELS:
            raise InputError(f"'{area_code}' is not a street, community or tertiary grid of the active version",
                             field="area", fix="choose a street, community or tertiary grid (三级网格)")
        draft_id = store.save_grid_version(conn, note=note, scope_code=area_code, base_version_id=active["id"])
        store.save_grids_copied(conn, new_version=draft_id, old_version=active["id"])
        row = store.fetch_version(conn, version_id=draft_id)
    return _draft(row, tree)


def _draft(row: dict[str, Any], tree: GridTree) -> Draft:
    code = row["scope_code"]
    base = row["base_version_id"]
    return Draft(int(row["id"]), code, tree.name.get(code, code), tree.level.get(code, ""),
                 None if pd.isna(base) else int(base), row["author"], row["created_at"], row["note"])


def drafts(services: Services) -> list[Draft]:
    """The open drafts, newest first (one read: the versions' list holds what a draft shows)."""
    with services.connection() as conn:
        table = store.fetch_versions(conn)
        tree = services.version(conn).history
    return [_draft(row, tree) for row in table[table["status"] == "draft"].to_dict("records")]


def draft(services: Services, draft_id: int) -> Draft:
    """One open draft; :class:`InputError` when there is none with that id."""
    with services.connection() as conn:
        row = _draft_row(conn, draft_id)
        return _draft(row, services.version(conn).history)


def _draft_row(conn, draft_id: int) -> dict[str, Any]:
    row = store.fetch_version(conn, version_id=draft_id)
    if row is None or row["status"] != "draft":
        raise InputError(f"there is no open draft {draft_id}", field="draft",
                         fix="take a new draft of the area (it may have been committed or discarded)")
    return row


@dataclass
class DraftArea:
    """A draft's area: ``grids`` the grids under it (the editable part, all levels below the
    area), ``area`` the area's own row, ``layer`` every grid of the draft."""

    draft: Draft
    grids: gpd.GeoDataFrame
    area: gpd.GeoDataFrame
    layer: gpd.GeoDataFrame = field(repr=False)


def draft_area(services: Services, draft_id: int) -> DraftArea:
    """The grids of a draft's area as they stand in the draft."""
    with services.connection() as conn:
        row = _draft_row(conn, draft_id)
        layer = store.fetch_grids(conn, version_id=draft_id)
        names = services.version(conn).history
    code = row["scope_code"]
    tree = GridTree(layer)
    under = set(_descendants(tree, code))
    return DraftArea(_draft(row, names), layer[layer["code"].isin(under)].reset_index(drop=True),
                     layer[layer["code"] == code].reset_index(drop=True), layer)


def _descendants(tree: GridTree, code: str) -> list[str]:
    out, stack = [], list(tree.children.get(code, []))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(tree.children.get(node, []))
    return out


def check_draft(services: Services, draft_id: int, grids: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0,
                area: DraftArea | None = None) -> gpd.GeoDataFrame:
    """Live validation of an edited area (the grids under the draft's area, WGS-84): the new grids
    against each other, their parents and the draft's grids around them; nothing is stored.
    ``area`` is the draft's :func:`draft_area` when the caller holds it (a page validating after
    every edit reads it once). Returns :data:`gis.core.topology.PROBLEM_COLUMNS`."""
    if area is None or area.draft.id != draft_id:
        area = draft_area(services, draft_id)
    combined = grid_jobs.effective_layer(services, grids, within=area.draft.area_code, base=area.layer)
    return _validate(area, combined, grids, tolerance_m2=tolerance_m2)


def _validate(area: DraftArea, combined: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, *,
              tolerance_m2: float) -> gpd.GeoDataFrame:
    stored = area.layer[~area.layer["level"].isin(set(combined["level"]))]
    # only problems that involve the edited area (the rest of the layer was checked when committed)
    return topology.validate_grids(combined, stored=stored, tolerance_m2=tolerance_m2, focus=list(grids["code"]))


def save_draft(services: Services, draft_id: int, grids: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0
               ) -> gpd.GeoDataFrame:
    """Replace the draft's area with ``grids`` (the levels they hold, under the area), after the
    checks of :func:`check_draft`; returns the problems (warnings only).

    Raises
    ------
    ValidationError
        With ``problems`` when a check fails; the draft is unchanged then.
    """
    area = draft_area(services, draft_id)
    combined = grid_jobs.effective_layer(services, grids, within=area.draft.area_code, base=area.layer)
    problems = _validate(area, combined, grids, tolerance_m2=tolerance_m2)
    errors = problems[problems["severity"] == "error"]
    if len(errors):
        raise ValidationError(f"the area has {len(errors)} error(s), the draft was not changed; first: "
                              f"{errors.iloc[0]['message']}", problems=problems)
    levels = set(combined["level"])
    with services.transaction() as conn:
        services.require(access.PLAN, action_zh="编制网格调整草稿")
        _draft_row(conn, draft_id)
        old = area.layer[area.layer["level"].isin(levels)]
        store.save_grids_removed(conn, version_id=draft_id, codes=list(old["code"]))
        store.save_grids(conn, combined, version_id=draft_id)
        grid_jobs.refuse_orphans(conn, draft_id, outcome="the draft was not changed",
                                 fix="keep the codes of the grids that have children, or include the children")
    return problems


def commit_draft(services: Services, draft_id: int, *, effective_date=None, note: str = ""
                 ) -> grid_jobs.GridImport:
    """Commit a draft: its area replaces that area of the active version, in one transaction
    with the move of open cases, their re-dispatch and events, and the retirement of the old
    version (:func:`gis.workflows.grids.save_grid_layer`); the draft is then removed.

    Raises
    ------
    StaleDraft
        When a version committed after the draft was taken changed the same area.
    ValidationError
        When the area no longer fits (e.g. a neighbour's boundary moved meanwhile).
    """
    area = draft_area(services, draft_id)
    d = area.draft
    with services.connection() as conn:
        active = store.fetch_active_version(conn)
        if active["id"] != d.base_version_id:
            base = store.fetch_grids(conn, version_id=d.base_version_id)
            now = services.version(conn, active["id"]).grids
            changes = versions.grid_changes(_subtree(base, d.area_code), _subtree(now, d.area_code))
            if len(changes):
                raise StaleDraft(
                    f"在您取得草稿（基于版本 {d.base_version_id}）之后，{active['author']} 提交了版本 {active['id']}，"
                    f"调整了{d.area_name}的 {len(changes)} 个网格（首个：{changes.iloc[0]['name']} "
                    f"{changes.iloc[0]['change_zh']}）；草稿未提交，现有边界未改动。",
                    changes=changes, fix="take a new draft of the area and redo the edits on the current boundaries")
    result = grid_jobs.save_grid_layer(services, area.grids, within=d.area_code, effective_date=effective_date,
                                       note=note or d.note or f"规划调整 {d.area_name}",
                                       base_version_id=d.base_version_id)
    with services.transaction() as conn:
        store.save_version_removed(conn, version_id=draft_id)
    return result


def _subtree(layer: gpd.GeoDataFrame, code: str) -> gpd.GeoDataFrame:
    tree = GridTree(layer)
    return layer[layer["code"].isin(set(_descendants(tree, code)))]


def discard_draft(services: Services, draft_id: int) -> None:
    """Throw a draft away (its grids go with it)."""
    with services.transaction() as conn:
        services.require(access.PLAN, action_zh="删除网格调整草稿")
        _draft_row(conn, draft_id)
        store.save_version_removed(conn, version_id=draft_id)


# -- what-if -------------------------------------------------------------------------------------


WHAT_IF_COLUMNS = ["code", "name", "change", "households_before", "households_after", "cases_before",
                   "cases_after", "worker_before", "worker_after", "per_worker_week_before",
                   "per_worker_week_after", "open_moving_out", "open_moving_in"]


@dataclass
class WhatIf:
    """A draft's effect on the last months of cases, counted in a scratch table.

    ``per_grid``: :data:`WHAT_IF_COLUMNS`, one row per micro-grid of the area before or after
    (``change`` kept / added / removed / reshaped); ``balance``: the coefficient of variation and
    the max/min ratio of cases and households per micro-grid, before and after;
    ``changed_areas``: the ground that changes micro-grid (:func:`gis.core.versions.changed_areas`);
    ``moves``: the open cases that would change hands.
    """

    draft: Draft
    since: datetime
    until: datetime
    cases: int
    per_grid: pd.DataFrame
    balance: dict[str, dict[str, dict[str, float | None]]]
    changed_areas: gpd.GeoDataFrame
    moves: pd.DataFrame


def what_if(services: Services, draft_id: int, *, months: int = WHAT_IF_MONTHS, now: datetime | None = None,
            grids: gpd.GeoDataFrame | None = None) -> WhatIf:
    """Re-count the last ``months`` of the area's cases under the draft (or under ``grids``, an
    edit not yet saved to it) in a scratch table: live tables are read, never written."""
    area = draft_area(services, draft_id)
    d = area.draft
    layer = area.layer if grids is None else grid_jobs.effective_layer(services, grids, within=d.area_code,
                                                                       base=area.layer)
    until = now or datetime.now(china_time.CHINA_TZ)
    since = until - timedelta(days=round(months * 365.25 / 12))
    with services.transaction() as conn:
        active = services.version(conn)
        staff = store.fetch_staff(conn)
        before = active.grids[active.grids["code"].isin(set(active.tree.micro_under(d.area_code)))]
        after_tree = GridTree(layer)
        after = layer[layer["code"].isin(set(after_tree.micro_under(d.area_code)))]
        bounds = tuple(float(v) for v in pd.concat([before.geometry, after.geometry]).total_bounds)
        cases = store.fetch_case_points_in(conn, since=since, until=until, bounds=bounds)
        proposed = GridVersion(-draft_id, layer)
        recount = _recount(cases, before, after, proposed=proposed, staff=staff)
        store.save_recount(conn, recount)
        counts = store.fetch_recount_by_grid(conn)
        moves = store.fetch_recount_moves(conn)
    weeks = max((until - since).days / 7, 1e-9)
    per_grid = _per_grid(before, after, counts, active=active, proposed=proposed, staff=staff, weeks=weeks)
    balance = {
        "cases": {"before": versions.balance(per_grid.loc[per_grid["change"] != "added", "cases_before"]),
                  "after": versions.balance(per_grid.loc[per_grid["change"] != "removed", "cases_after"])},
        "households": {"before": versions.balance(before["households"]),
                       "after": versions.balance(after["households"])},
    }
    return WhatIf(d, since, until, len(recount), per_grid, balance, versions.changed_areas(before, after), moves)


def _recount(cases: pd.DataFrame, before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, *,
             proposed: GridVersion, staff: pd.DataFrame) -> pd.DataFrame:
    """Each case of the box placed in the area's micro-grids now and under the draft (the
    assignment rule of :class:`gis.core.assignment.GridIndex`), with the open cases' worker."""
    lon, lat = cases["lon"].to_numpy(), cases["lat"].to_numpy()
    now_codes = GridIndex(before).assign(lon, lat).micro_code if len(before) else [None] * len(cases)
    new_codes = GridIndex(after).assign(lon, lat).micro_code if len(after) else [None] * len(cases)
    out = pd.DataFrame({"id": cases["id"], "before_code": pd.Series(now_codes, index=cases.index, dtype=object),
                        "after_code": pd.Series(new_codes, index=cases.index, dtype=object),
                        "open": cases["open"].astype(bool), "before_assignee": cases["assignee"]})
    out = out[out["before_code"].notna() | out["after_code"].notna()]
    out["after_assignee"] = out["before_assignee"]
    moving = out["open"] & ~grid_jobs._same(out["before_code"], out["after_code"])
    if moving.any():
        rows = moving[moving].index
        out.loc[moving, "after_assignee"] = incident_jobs.rule_assignees(
            proposed, staff, tier=cases.loc[rows, "tier"], category=cases.loc[rows, "category"],
            micro_code=out.loc[moving, "after_code"], exclusive_code=cases.loc[rows, "exclusive_code"])
    return out.reset_index(drop=True)


def _per_grid(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, counts: pd.DataFrame, *, active: GridVersion,
              proposed: GridVersion, staff: pd.DataFrame, weeks: float) -> pd.DataFrame:
    changes = versions.grid_changes(before, after).set_index("code")["change"]
    codes = sorted(set(before["code"]) | set(after["code"]))
    names = {**dict(zip(before["code"], before["name"])), **dict(zip(after["code"], after["name"]))}
    out = pd.DataFrame({"code": codes, "name": [names[c] for c in codes]})
    out["change"] = out["code"].map(changes).fillna("kept")
    out["households_before"] = out["code"].map(dict(zip(before["code"], before["households"])))
    out["households_after"] = out["code"].map(dict(zip(after["code"], after["households"])))
    counts = counts.set_index("code")
    for c in ("cases_before", "cases_after", "open_moving_out", "open_moving_in"):
        out[c] = out["code"].map(counts[c]).fillna(0).astype(int)
    out["worker_before"] = _workers(out["code"].where(out["change"] != "added"), active, staff)
    out["worker_after"] = _workers(out["code"].where(out["change"] != "removed"), proposed, staff)
    for side in ("before", "after"):
        load = out.groupby(out[f"worker_{side}"].fillna("—"))[f"cases_{side}"].transform("sum")
        out[f"per_worker_week_{side}"] = np.where(out[f"worker_{side}"].notna(), load / weeks, np.nan)
    return out[WHAT_IF_COLUMNS]


def _workers(codes: pd.Series, version: GridVersion, staff: pd.DataFrame) -> pd.Series:
    """The 专职网格员 who takes a general case in each micro-grid (None where there is none)."""
    return incident_jobs.rule_assignees(version, staff, micro_code=codes).where(codes.notna(), None)


__all__ = [
    "DRAFT_LEVELS",
    "WHAT_IF_COLUMNS",
    "WHAT_IF_MONTHS",
    "Draft",
    "DraftArea",
    "StaleDraft",
    "VersionDiff",
    "WhatIf",
    "activate_version",
    "check_draft",
    "commit_draft",
    "diff_versions",
    "discard_draft",
    "draft",
    "draft_area",
    "drafts",
    "export_version_diff",
    "grid_versions",
    "save_draft",
    "take_draft",
    "what_if",
]
