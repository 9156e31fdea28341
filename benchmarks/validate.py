"""How fast grid layers are validated: a whole district, and one community's draft.

    .venv/bin/python benchmarks/validate.py [--grids M] [--repeat R] [--quick]

One run prints, each figure beside a baseline measured in the same run:

- ``topology.validate_grids`` on a synthetic district of M micro-grids (default
  50,000; irregular polygons of 20–60 vertices, five levels, as
  ``benchmarks/assign.py`` builds them), clean and with 400 injected defects
  (overlaps, overhangs, gaps, shifted and invalid rings, duplicates), vs the
  validation as it was before the coverage fast paths (``gis/core/topology.py``
  at commit ``BASELINE_COMMIT``, loaded from git as a module). Goal: < 10 s.
- the work of ``python -m gis grids validate FILE`` without a database: read
  the GeoPackage (``grid_files.grids_from_file``) and validate, vs the same
  read with the baseline validation;
- the demo district 中原区 (5,180 micro-grids), whole layer, new vs baseline;
- live validation of one community's draft (the planning page): the
  community with the most micro-grids, two of its micro-grids merged and one
  micro-grid reaching 5 m over its neighbours, checked inside the whole
  district with ``focus=`` the community's grid and micro-grid codes, vs the
  baseline validating the whole combined layer. Goal: < 1 s.

Every pair must report the same problems (kind, codes, message, area, spot);
a focus run must report exactly the whole-layer problems that involve the
area. A difference is printed with ``!`` and the exit status is 1.
``--quick`` runs 5,000 synthetic micro-grids, once each.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common

from gis.core import topology
from gis.demo import district as demo
from gis.io import grid_files

#: The last commit with the validation before the coverage fast paths and ``focus``.
BASELINE_COMMIT = "c0899b5feab023e9a15005134b8b4f0627e403ef"
WHOLE_GOAL_S = 10.0
FOCUS_GOAL_S = 1.0
DEFECTS = 400


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def baseline_topology():
    """``gis/core/topology.py`` at BASELINE_COMMIT, as a module of its own."""
    source = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:gis/core/topology.py"], cwd=common.ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="validate-bench-")) / "topology_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("topology_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_of(repeat: int, func):
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t)
    return min(times), out


def differences(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> str | None:
    """None when both problem frames say the same, else what differs."""
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} problems"
    for column in ("severity", "kind", "code", "other_code", "message"):
        if list(a[column]) != list(b[column]):
            return f"column {column} differs"
    if not np.array_equal(a["area_m2"].to_numpy(), b["area_m2"].to_numpy(), equal_nan=True):
        return "area_m2 differs"
    for x, y in zip(a.geometry.values, b.geometry.values):
        if (x is None) != (y is None) or (x is not None and not shapely.equals_exact(x, y)):
            return "a problem spot differs"
    return None


def with_defects(grids: gpd.GeoDataFrame, n: int, seed: int) -> gpd.GeoDataFrame:
    """A copy with ``n`` micro-grids damaged: grown, shrunk, shifted, bow-ties, missing,
    removed, duplicated codes, an unknown parent, a bad count; three tertiary grids shrunk."""
    rng = np.random.default_rng(seed)
    grids = grids.copy().reset_index(drop=True)
    micro = np.flatnonzero(grids["level"].to_numpy() == "micro")
    pick = rng.choice(micro, n, replace=False)
    geoms = grids.geometry.to_numpy().copy()
    k = n // 8
    geoms[pick[:k]] = shapely.buffer(geoms[pick[:k]], 0.0002, join_style="mitre")
    geoms[pick[k:2 * k]] = shapely.buffer(geoms[pick[k:2 * k]], -0.00005, join_style="mitre")
    geoms[pick[2 * k:3 * k]] = shapely.transform(geoms[pick[2 * k:3 * k]], lambda xy: xy + [0.0003, 0.0001])
    for r in pick[3 * k:3 * k + 2]:
        x0, y0, x1, y1 = geoms[r].bounds
        geoms[r] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    geoms[pick[3 * k + 2:3 * k + 4]] = None
    tertiary = rng.choice(np.flatnonzero(grids["level"].to_numpy() == "grid"), 3, replace=False)
    geoms[tertiary] = shapely.buffer(geoms[tertiary], -0.0003, join_style="mitre")
    grids["geometry"] = geoms
    codes = grids["code"].to_numpy(dtype=object).copy()
    codes[pick[4 * k:4 * k + 2]] = codes[pick[0]]
    grids["code"] = codes
    grids.loc[pick[4 * k + 2], "parent_code"] = "999"
    grids["households"] = grids["households"].astype(object)
    grids.loc[pick[4 * k + 3], "households"] = -5
    return gpd.GeoDataFrame(grids.drop(index=pick[3 * k + 4:4 * k]), geometry="geometry", crs=4326)


def community_draft(grids: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[str], str]:
    """The district with one community redrawn (two micro-grids merged, one grown by 5 m)
    and the codes of the redrawn area (its tertiary grids and micro-grids)."""
    micro = grids[grids["level"] == "micro"]
    tertiary = grids[grids["level"] == "grid"]
    community_of = dict(zip(tertiary["code"], tertiary["parent_code"]))
    counts = micro["parent_code"].map(community_of).value_counts()
    community = counts.index[0]
    area = micro[micro["parent_code"].map(community_of) == community]
    geoms = area.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="touches")
    same = (a < b) & (area["parent_code"].to_numpy()[a] == area["parent_code"].to_numpy()[b])
    keep, gone = area.index[a[same][0]], area.index[b[same][0]]
    draft = grids.drop(index=gone).copy()
    draft.loc[keep, "geometry"] = shapely.coverage_union(grids.geometry[keep], grids.geometry[gone])
    grown = area.index[-1]
    draft.loc[grown, "geometry"] = shapely.buffer(grids.geometry[grown], 5 / 111_000, join_style="mitre")
    codes = list(tertiary.loc[tertiary["parent_code"] == community, "code"])
    codes += [c for c in area["code"] if c != grids.at[gone, "code"]]
    return draft, codes, community


def involving(problems: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, codes: list[str]) -> gpd.GeoDataFrame:
    """The whole-layer problems a focus on ``codes`` must report: naming a focus grid, or a
    gap or sliver in a parent that holds one."""
    focus = set(codes)
    holders = set(grids.loc[grids["code"].isin(focus), "parent_code"].dropna())
    named = problems["code"].isin(focus) | problems["other_code"].isin(focus) | problems["code"].isna()
    in_holder = problems["kind"].isin(["gap", "sliver"]) & problems["code"].isin(holders)
    return problems[named | in_holder].reset_index(drop=True)


# -- the runs ---------------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.failures: list[str] = []

    def pair(self, figure: str, new: tuple[float, gpd.GeoDataFrame], old: tuple[float, gpd.GeoDataFrame],
             baseline: str, goal_s: float | None, *, expected: gpd.GeoDataFrame | None = None) -> None:
        (t_new, p_new), (t_old, p_old) = new, old
        diff = differences(p_new, p_old if expected is None else expected)
        if diff:
            self.failures.append(f"{figure}: {diff}")
        self.rows.append([figure, f"{t_new:,.2f} s", baseline, f"{t_old:,.2f} s", f"{t_new / t_old:.2f}",
                          f"{len(p_new):,}", "-" if goal_s is None else f"< {goal_s:g} s",
                          "-" if goal_s is None else ("yes" if t_new < goal_s else "NO"),
                          "yes" if not diff else "NO"])


def run_synthetic(report: Report, old, n_grids: int, *, repeat: int, seed: int, workdir: Path) -> None:
    log(f"synthetic district of {n_grids:,} micro-grids")
    grids = common.synthetic_grids(n_grids, seed=seed)
    label = f"synthetic {n_grids // 1000}k"
    new_run = best_of(repeat, lambda: topology.validate_grids(grids))
    log(f"  clean: new {new_run[0]:.2f} s; baseline ...")
    old_run = best_of(repeat, lambda: old.validate_grids(grids))
    report.pair(f"{label}: validate_grids, clean", new_run, old_run, "before", WHOLE_GOAL_S)

    broken = with_defects(grids, DEFECTS, seed)
    new_run = best_of(repeat, lambda: topology.validate_grids(broken))
    log(f"  {DEFECTS} defects: new {new_run[0]:.2f} s; baseline ...")
    old_run = best_of(repeat, lambda: old.validate_grids(broken))
    report.pair(f"{label}: validate_grids, {DEFECTS} defects", new_run, old_run, "before", WHOLE_GOAL_S)

    path = workdir / "synthetic.gpkg"
    grid_files.grids_to_file(grids, path)

    def read_and(module):
        layer, _ = grid_files.grids_from_file(path)
        return module.validate_grids(layer)

    new_run = best_of(repeat, lambda: read_and(topology))
    log(f"  GeoPackage read + validate: new {new_run[0]:.2f} s; baseline ...")
    old_run = best_of(repeat, lambda: read_and(old))
    report.pair(f"{label}: read .gpkg + validate", new_run, old_run, "before", WHOLE_GOAL_S)


def run_demo(report: Report, old, *, repeat: int) -> None:
    log("demo district 中原区")
    grids = demo.demo_grids(seed=42)
    new_run = best_of(repeat, lambda: topology.validate_grids(grids))
    old_run = best_of(repeat, lambda: old.validate_grids(grids))
    report.pair("demo 5,180 micro: validate_grids", new_run, old_run, "before", None)

    draft, codes, community = community_draft(grids)
    log(f"  draft of community {community}: {len(codes)} grids under review")
    focus_run = best_of(repeat, lambda: topology.validate_grids(draft, stored=grids, focus=codes))
    whole_new = topology.validate_grids(draft, stored=grids)
    old_run = best_of(repeat, lambda: old.validate_grids(draft, stored=grids))
    if differences(whole_new, old_run[1]):
        report.failures.append(f"demo draft, whole layer: {differences(whole_new, old_run[1])}")
    report.pair(f"demo: draft of {community} ({len(codes)} grids), focus", focus_run, old_run,
                "whole layer, before", FOCUS_GOAL_S, expected=involving(whole_new, draft, codes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", type=int, help="synthetic micro-grids (default 50,000; 5,000 with --quick)")
    parser.add_argument("--repeat", type=int, help="runs of each figure, best kept (default 2; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 synthetic micro-grids, once")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    n_grids = args.grids or (5_000 if args.quick else 50_000)
    repeat = args.repeat or (1 if args.quick else 2)
    started = time.perf_counter()
    info = common.machine()
    old = baseline_topology()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="validate-bench-") as workdir:
        run_synthetic(report, old, n_grids, repeat=repeat, seed=args.seed, workdir=Path(workdir))
        run_demo(report, old, repeat=repeat)
    print(f"benchmarks/validate.py — {time.strftime('%Y-%m-%d %H:%M')} — synthetic {n_grids:,} micro-grids, "
          f"best of {repeat}")
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"  {key.ljust(width)}  {value}")
    print(f"  {'load average at end'.ljust(width)}  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(common.table(report.rows, ["figure", "now", "baseline", "baseline value", "ratio", "problems",
                                     "goal", "met", "same problems"]))
    for failure in report.failures:
        print(f"  ! {failure}")
    print(f"\nbaseline 'before' = gis/core/topology.py at {BASELINE_COMMIT[:7]} in this process; ratio = now / "
          f"baseline. Total run {time.perf_counter() - started:,.0f} s.")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
