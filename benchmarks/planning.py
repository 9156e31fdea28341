"""How fast a planner's loop runs on the demo district: live validation of a community's draft,
the what-if over 12 months of cases, the commit and its undo.

    .venv/bin/python benchmarks/planning.py [--incidents N] [--url URL]

On the demo district 中原区 (5,180 micro-grids) with N demo cases (default 1,000,000, spread
over the demo's two years), a planner drafts the busiest community and merges two of its
neighbouring micro-grids. One run prints, each beside a baseline measured in the same run:

- ``check_draft`` (the live validation the planning page runs after every edit; goal < 1 s)
  vs validating the whole district layer the way ``grids validate`` does;
- ``what_if`` over the last 12 months (goal < 10 s) vs the naive re-count: every case of the
  12 months fetched and re-assigned to every micro-grid of the district in process;
- ``commit_draft`` (boundaries, moving the open cases, re-dispatch, events, retirement, in one
  transaction) and ``activate_version`` back (undo), beside the same layer imported with
  ``--replace-all``.

The database is ``--url`` (demo loaded already), ``DATABASE_URL`` or a fresh embedded PostGIS.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BenchServer, machine, table

from gis import store, workflows
from gis.core import access, china_time
from gis.core.assignment import GridIndex
from gis.core.metrics import CaseFilter
from gis.workflows import Services


def timed(func, *args, repeat: int = 1, **kwargs):
    """(median seconds, last result) of ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def busiest_community(system: Services) -> str:
    today = datetime.now(china_time.CHINA_TZ).date()
    stats = workflows.unit_stats(system, CaseFilter(since=today - timedelta(days=365), until=today),
                                 level="community")
    return str(stats.sort_values("received", ascending=False)["code"].iloc[0])


def merged_pair(area: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The area's micro-grids with the first two that share an edge merged into one."""
    micro = area[area["level"] == "micro"].reset_index(drop=True)
    tree = shapely.STRtree(micro.geometry.to_numpy())
    for i, geom in enumerate(micro.geometry):
        for j in tree.query(geom, predicate="intersects"):
            if j != i and micro.loc[i, "parent_code"] == micro.loc[j, "parent_code"] and \
                    shapely.intersection(geom, micro.geometry[j]).length > 0:
                keep = micro.drop(index=[j]).copy()
                keep.loc[i, "geometry"] = shapely.union(geom, micro.geometry[j])
                keep.loc[i, "households"] = (pd.to_numeric(micro.loc[[i, j], "households"]).sum())
                return gpd.GeoDataFrame(keep, geometry="geometry", crs=area.crs)
    raise SystemExit("no two neighbouring micro-grids in the area")


def run(url: str) -> None:
    with Services.for_url(url, principal=access.SYSTEM, maxconn=2) as system:
        with system.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM incident")
            n_cases = cur.fetchone()[0]
        code = busiest_community(system)
        tree = workflows.grid_tree(system)
        print(f"cases stored: {n_cases:,}; community: {tree.name[code]} {code} "
              f"({len(tree.micro_under(code))} micro-grids)")
        draft = workflows.take_draft(system, code)
        area = workflows.draft_area(system, draft.id)
        edited = merged_pair(area.grids)
        rows = []

        check_s, problems = timed(workflows.check_draft, system, draft.id, edited, repeat=3)
        layer = workflows.active_grids(system)
        whole_s, _ = timed(workflows.validate_grid_layer, system, layer[layer["level"] == "micro"])
        rows.append(["live validation of the community's draft", f"{check_s:.2f}", "< 1",
                     f"{whole_s:.2f} (whole district's micro-grids validated)"])
        assert not (problems["severity"] == "error").any(), problems

        workflows.save_draft(system, draft.id, edited)
        now = datetime.now(china_time.CHINA_TZ)
        what_s, result = timed(workflows.what_if, system, draft.id, now=now, repeat=3)
        naive_s, n_naive = timed(naive_recount, system, now)
        rows.append([f"what-if, 12 months ({result.cases:,} cases in the area)", f"{what_s:.2f}", "< 10",
                     f"{naive_s:.2f} (all {n_naive:,} cases of 12 months re-assigned in process)"])

        commit_s, committed = timed(workflows.commit_draft, system, draft.id, note="benchmark")
        undo_s, undone = timed(workflows.activate_version, system, committed.activation.previous_id)
        replace_s, _ = timed(workflows.save_grid_layer, system, workflows.active_grids(system), replace_all=True,
                             note="benchmark: the same layer, replaced whole")
        rows.append([f"commit (open cases moved: {committed.reassigned:,} of {committed.activation.open_cases:,})",
                     f"{commit_s:.2f}", "—", f"{replace_s:.2f} (the whole layer re-imported)"])
        rows.append([f"undo: activate the previous version (moved back: {len(undone.moves):,})", f"{undo_s:.2f}",
                     "—", ""])
        print(table(rows, ["step", "seconds", "goal s", "baseline, same run"]))


def naive_recount(system: Services, now: datetime) -> int:
    """Every case of the last 12 months fetched and placed in the district's micro-grids."""
    with system.connection() as conn:
        version = system.version(conn)
        cases = store.fetch_case_points_in(conn, since=now - timedelta(days=365), until=now,
                                           bounds=tuple(version.bounds))
    GridIndex(version.level("micro")).assign(cases["lon"].to_numpy(), cases["lat"].to_numpy())
    return len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--url", help="an existing database with the demo loaded")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    if args.url:
        run(args.url)
        return
    with BenchServer() as bench:
        url = bench.create_database("bench_planning")
        with Services.for_url(url, principal=access.SYSTEM, maxconn=2) as system:
            workflows.load_demo(system, incidents=0, seed=args.seed)
            started = time.perf_counter()
            workflows.load_demo_incidents(system, n=args.incidents, seed=args.seed)
            print(f"demo incidents loaded: {args.incidents:,} in {time.perf_counter() - started:.0f} s")
        run(url)


if __name__ == "__main__":
    main()
