"""Balanced proposals (网格划分建议): new micro-grids for a tertiary grid or a community, drawn
from the address register's buildings and the last months' cases (:mod:`gis.core.proposals`).

A proposal is not stored: it is a layer of micro-grids for the area that
:func:`gis.workflows.grids.effective_layer` accepts with ``within=CODE`` (and that a planner
opens as a draft to edit before committing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import store
from gis.core import china_time, proposals, versions
from gis.core.assignment import GridIndex
from gis.errors import GisError, InputError
from gis.io import grid_files
from gis.io.paths import writable_path
from gis.workflows import planning
from gis.workflows.context import Services

#: The level a proposal draws (micro-grids, 微网格).
PROPOSAL_LEVELS = ("micro",)
#: The levels whose area a proposal can redraw: a tertiary grid (三级网格) or a community (二级网格).
AREA_LEVELS = ("grid", "community")
#: Columns of :attr:`Proposal.before` and :attr:`Proposal.after`.
SUMMARY_COLUMNS = ["code", "name", "parent_code", "households", "expected_cases"]
#: Columns of :attr:`Proposal.grids` (the standard grid columns plus ``expected_cases``).
PROPOSAL_COLUMNS = ["code", "name", "level", "parent_code", "households", "population", "expected_cases",
                    "geometry"]

Progress = Callable[[str, int, int], None]


@dataclass
class Proposal:
    """Proposed micro-grids for one area and how they compare with today's.

    ``grids``: the new micro-grids (:data:`PROPOSAL_COLUMNS`, WGS-84), ready for
    ``effective_layer(services, grids, within=code)``; ``before`` / ``after``: one row per
    micro-grid today / proposed (:data:`SUMMARY_COLUMNS`; households from the address register,
    ``expected_cases`` = cases reported in ``[since, until)``, each counted in the micro-grid
    that covers it, lowest code on a shared edge); ``cv_before`` / ``cv_after``: the coefficient
    of variation of ``expected_cases`` per micro-grid (None when there is nothing to compare).
    """

    code: str
    name: str
    level: str
    version_id: int
    min_households: int
    max_households: int
    months: int
    since: datetime
    until: datetime
    grids: gpd.GeoDataFrame
    before: pd.DataFrame
    after: pd.DataFrame
    cv_before: float | None
    cv_after: float | None
    notes: list[str] = field(default_factory=list)


def _summary(micro: gpd.GeoDataFrame, buildings: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """Households (register) and cases per micro-grid, by the assignment rule (lowest code wins)."""
    out = pd.DataFrame({"code": micro["code"].to_numpy(), "name": micro["name"].to_numpy(),
                        "parent_code": micro["parent_code"].to_numpy()})
    if not len(micro):
        return out.assign(households=pd.Series(dtype="int64"), expected_cases=pd.Series(dtype="int64"))
    index = GridIndex(micro)
    for column, points, weights in (("households", buildings, "households"), ("expected_cases", cases, None)):
        codes = index.assign(points["lon"].to_numpy(dtype=float), points["lat"].to_numpy(dtype=float),
                             suggest=False).micro_code if len(points) else np.array([], dtype=object)
        values = (points[weights].fillna(0).to_numpy(dtype=float) if weights else np.ones(len(points)))
        sums = pd.Series(values, dtype=float).groupby(pd.Series(codes, dtype=object)).sum()
        out[column] = out["code"].map(sums).fillna(0).astype(np.int64)
    return out.sort_values("code", ignore_index=True)[SUMMARY_COLUMNS]


def _cv(loads: pd.Series) -> float | None:
    return versions.balance(loads)["cv"]


def propose_grids(services: Services, code: str, *, level: str = "micro", min_households: int,
                  max_households: int, months: int = 12, seed: int = 0, now: datetime | None = None,
                  progress: Progress | None = None) -> Proposal:
    """Propose contiguous micro-grids for the area under ``code`` that each hold
    ``min_households``–``max_households`` households and even out the expected case load.

    Parameters
    ----------
    code
        A tertiary grid (三级网格) or a community (二级网格) of the active version. A community
        is redrawn tertiary grid by tertiary grid, so every new micro-grid keeps a tertiary
        parent and lies inside it.
    level
        The level to draw: ``micro``.
    min_households, max_households
        The household band (from the address register) every new micro-grid must meet.
    months
        The months of cases before ``now`` that make the expected load (one month is
        365.25/12 days, as the what-if counts).
    seed
        Seed of the regionalisation; the same data and seed give the same proposal.
    now
        The end of the case window (default: now, China time).
    progress
        Called as ``progress("proposal", done, total)`` per tertiary grid.

    Returns
    -------
    Proposal
        The new micro-grids (WGS-84), codes ``<tertiary code><NN>`` that no grid outside the
        area uses, names ``<tertiary name>第N微网格``; before and after summaries and the CVs.

    Raises
    ------
    InputError
        An unknown code or a level other than a tertiary grid or community, a bad band, or a
        band the area cannot meet (e.g. one building over ``max_households``, named, with
        the fix); the message names the tertiary grid.
    """
    if level not in PROPOSAL_LEVELS:
        raise InputError(f"--level {level!r} cannot be proposed", field="level",
                         fix=f"use --level {' or '.join(PROPOSAL_LEVELS)} (micro-grids, 微网格)")
    low, high = proposals.check_band(min_households, max_households)
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 1:
        raise InputError(f"--months is {months!r}", field="months", fix="give a whole number of months, 1 or more")
    until = now or datetime.now(china_time.CHINA_TZ)
    since = until - timedelta(days=round(months * 365.25 / 12))

    with services.connection() as conn:
        version = services.version(conn)
        tree = version.tree
        if code not in tree.level:
            raise InputError(f"grid '{code}' is not in the active grids", field="code",
                             fix="give the code of a tertiary grid or community (grids export lists them)")
        area_level = tree.level[code]
        if area_level not in AREA_LEVELS:
            raise InputError(f"'{code}' ({tree.name[code]}) is a {area_level}; proposals redraw the micro-grids "
                             "of a tertiary grid or a community", field="code",
                             fix="give the code of a tertiary grid (三级网格) or a community (二级网格)")
        grids = version.grids
        tertiary = grids[grids["code"].isin([code] if area_level == "grid" else
                                            [c for c in tree.children.get(code, []) if tree.level[c] == "grid"])]
        tertiary = tertiary.sort_values("code", ignore_index=True)
        if not len(tertiary):
            raise InputError(f"community '{code}' ({tree.name[code]}) has no tertiary grids", field="code",
                             fix="draw its tertiary grids (三级网格) first, or give another community")
        micro = grids[(grids["level"] == "micro") & grids["parent_code"].isin(set(tertiary["code"]))]
        bounds = tuple(float(v) for v in tertiary.geometry.total_bounds)
        buildings = store.fetch_addresses_in(conn, bounds=bounds)
        cases = store.fetch_case_points_in(conn, since=since, until=until, bounds=bounds)[["lon", "lat"]]

    # codes in use outside the area: the new ones must not clash with them
    taken = set(grids["code"]) - set(micro["code"])
    current = GridIndex(micro) if len(micro) else None
    rows, notes = [], []
    for done, t in enumerate(tertiary.itertuples(index=False)):
        if progress:
            progress("proposal", done, len(tertiary))
        try:
            bricks = proposals.building_bricks(t.geometry, buildings, cases=cases)
            if current is not None:
                spots = bricks.geometry.representative_point()
                bricks["current"] = current.assign(spots.x.to_numpy(), spots.y.to_numpy(), suggest=False).micro_code
            regions = proposals.propose_partition(bricks, min_households=low, max_households=high, seed=seed)
        except GisError as exc:
            raise InputError(f"tertiary grid {t.code} ({t.name}): {exc.message}", field=exc.field,
                             fix=exc.fix) from None
        number = 0
        for region in regions.itertuples(index=False):
            number += 1
            while f"{t.code}{number:02d}" in taken:
                number += 1
            rows.append({"code": f"{t.code}{number:02d}", "name": f"{t.name}第{region.region}微网格",
                         "level": "micro", "parent_code": t.code, "households": int(region.households),
                         "population": None, "expected_cases": int(region.expected_cases),
                         "geometry": region.geometry})
        had = int((micro["parent_code"] == t.code).sum())
        notes.append(f"{t.code} {t.name}: {had} micro-grid(s) now, {len(regions)} proposed "
                     f"({int(bricks['buildings'].sum())} building(s), {int(bricks['households'].sum())} households)")
    if progress:
        progress("proposal", len(tertiary), len(tertiary))

    new = gpd.GeoDataFrame(rows, columns=PROPOSAL_COLUMNS, geometry="geometry", crs="EPSG:4326")
    new["population"] = new["population"].astype(object)
    before = _summary(micro, buildings, cases)
    after = _summary(new, buildings, cases)
    # households as the partition counted them (each building in its brick, which the band holds
    # for); cases by the assignment rule, as for today's micro-grids and in the what-if
    after["households"] = after["code"].map(dict(zip(new["code"], new["households"]))).astype(np.int64)
    new["expected_cases"] = new["code"].map(dict(zip(after["code"], after["expected_cases"]))).astype(np.int64)
    return Proposal(code=code, name=tree.name[code], level=area_level, version_id=version.id, min_households=low,
                    max_households=high, months=int(months), since=since, until=until, grids=new, before=before,
                    after=after, cv_before=_cv(before["expected_cases"]), cv_after=_cv(after["expected_cases"]),
                    notes=notes)


def write_proposal(proposal: Proposal, path: str | Path) -> int:
    """Write a proposal's micro-grids (GeoJSON, GeoPackage or Shapefile by extension) with the
    grid properties and ``expected_cases``, ready for ``grids validate/import --within``."""
    return grid_files.grids_to_file(proposal.grids, writable_path(path, field="--out"), extra=["expected_cases"])


def propose_draft(services: Services, code: str, *, min_households: int, max_households: int, months: int = 12,
                  seed: int = 0, now: datetime | None = None, progress: Progress | None = None
                  ) -> tuple[Proposal, planning.Draft]:
    """A proposal for the area under ``code``, opened as a planner's draft of that area (for
    editing, the what-if and the commit on the 网格规划 page)."""
    proposal = propose_grids(services, code, min_households=min_households, max_households=max_households,
                             months=months, seed=seed, now=now, progress=progress)
    draft = planning.take_draft(services, code, note=f"方案：{proposal.name} 微网格 {min_households}–{max_households} 户")
    try:
        planning.save_draft(services, draft.id, proposal.grids)
    except Exception:
        planning.discard_draft(services, draft.id)
        raise
    return proposal, draft
