"""How fast a balanced proposal (``grids propose``) is for a community of about 3,000 households.

    .venv/bin/python benchmarks/propose.py [--households 3000] [--incidents N] [--url URL]

On the demo district 中原区 with N demo cases (default 100,000 over the demo's two years), the
demo community whose households are nearest ``--households`` is redrawn with the band 40–100
households, tertiary grid by tertiary grid. One run prints, each beside a baseline measured in
the same run on the same data:

- ``propose_grids`` (read grids, register and 12 months of cases; bricks; spopt starts, band
  repair and balancing; the before/after summaries) — goal < 60 s — beside plain spopt max-p
  on the same bricks (household floor = the band's minimum, no band repair, no balancing);
- the CLI end to end, ``python -m gis grids propose CODE --out FILE`` (with the interpreter's
  start-up), beside the current boundaries' CV computed by the same job's summary;
- checking the proposal as ``grids validate --within CODE`` would (``effective_layer`` +
  ``validate_grid_layer``);
- the quality: micro-grids, households min–max, the CV of the expected case load per
  micro-grid (today → proposed) and the mean isoperimetric quotient (4πA/P², 1 for a disc).

The database is ``--url`` (demo loaded already), ``DATABASE_URL`` or a fresh embedded PostGIS.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BenchServer, machine, run_child, table  # noqa: E402

from gis import store, workflows  # noqa: E402
from gis.core import access, china_time, proposals, versions  # noqa: E402
from gis.core.assignment import GridIndex  # noqa: E402
from gis.core.crs import to_metric  # noqa: E402
from gis.workflows.grids import effective_layer, validate_grid_layer  # noqa: E402
from gis.workflows.proposals import propose_grids  # noqa: E402

GOAL_S = 60.0
LOW, HIGH = 40, 100


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def compactness(grids: gpd.GeoDataFrame) -> float:
    metric = to_metric(grids.geometry)
    return float(np.mean(4 * np.pi * metric.area / metric.length ** 2))


def plain_maxp(services, code: str, *, until: datetime) -> tuple[float, int]:
    """spopt ``MaxPHeuristic`` alone (libpysal rook contiguity, floor = LOW households, the
    construction and annealing rounds the proposal's start uses) on the proposal's bricks, no
    band repair, no balancing: seconds (bricks excluded) and regions."""
    import libpysal
    from spopt.region import MaxPHeuristic

    version = workflows.grid_version(services)
    tertiary = version.level("grid")
    tertiary = tertiary[tertiary["parent_code"] == code]
    bounds = tuple(float(v) for v in tertiary.geometry.total_bounds)
    with services.connection() as conn:
        buildings = store.fetch_addresses_in(conn, bounds=bounds)
        cases = store.fetch_case_points_in(conn, since=until - timedelta(days=365), until=until, bounds=bounds)
    seconds, regions = 0.0, 0
    for geom in tertiary.geometry:
        bricks = proposals.building_bricks(geom, buildings, cases=cases)
        bricks = bricks.set_geometry(to_metric(bricks.geometry))
        t = time.perf_counter()
        w = libpysal.weights.Rook.from_dataframe(bricks, use_index=False, silence_warnings=True)
        np.random.seed(0)
        model = MaxPHeuristic(bricks, w, ["households", "expected_cases"], "households", LOW, top_n=2,
                              max_iterations_construction=4, max_iterations_sa=1)
        model.solve()
        seconds += time.perf_counter() - t
        regions += int(model.p)
    return seconds, regions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=3000, help="the community size to pick (default 3000)")
    parser.add_argument("--incidents", type=int, default=100_000, help="demo cases to load (default 100,000)")
    parser.add_argument("--url", help="a database with the demo loaded already (skips loading)")
    args = parser.parse_args(argv)
    info = machine()
    with contextlib.ExitStack() as stack:
        if args.url:
            url = args.url
        else:
            url = stack.enter_context(BenchServer()).create_database("gis_bench_propose")
        with workflows.Services.for_url(url, principal=access.SYSTEM, maxconn=2) as services:
            if not args.url:
                log(f"loading the demo with {args.incidents:,} cases")
                workflows.load_demo(services, incidents=args.incidents, seed=42)
            version = workflows.grid_version(services)
            communities = version.level("community")
            community = communities.iloc[int(np.argmin(np.abs(communities["households"] - args.households)))]
            code = str(community["code"])
            n_tertiary = int((version.level("grid")["parent_code"] == code).sum())
            until = datetime.now(china_time.CHINA_TZ)

            log(f"proposal for {code} {community['name']}")
            t = time.perf_counter()
            proposal = propose_grids(services, code, min_households=LOW, max_households=HIGH, now=until)
            job_s = time.perf_counter() - t

            log("baseline: plain max-p on the same bricks")
            maxp_s, maxp_regions = plain_maxp(services, code, until=until)

            log("baseline: the current boundaries' CV")
            micro = version.level("micro")
            micro = micro[micro["parent_code"].isin(set(version.level("grid").query("parent_code == @code")["code"]))]
            bounds = tuple(float(v) for v in micro.geometry.total_bounds)
            t = time.perf_counter()
            with services.connection() as conn:
                cases = store.fetch_case_points_in(conn, since=proposal.since, until=proposal.until, bounds=bounds)
            codes = GridIndex(micro).assign(cases["lon"], cases["lat"], suggest=False).micro_code
            loads = micro["code"].map(pd.Series(codes).value_counts()).fillna(0)
            versions.balance(loads)
            current_cv_s = time.perf_counter() - t

            log("checking the proposal as grids validate --within would")
            t = time.perf_counter()
            problems = validate_grid_layer(services, effective_layer(services, proposal.grids, within=code))
            check_s = time.perf_counter() - t

            log("the CLI end to end")
            with tempfile.TemporaryDirectory(prefix="propose-bench-") as work:
                out = Path(work) / "proposal.geojson"
                cli = run_child([sys.executable, "-m", "gis", "grids", "propose", code, "--level", "micro",
                                 "--min-households", str(LOW), "--max-households", str(HIGH), "--out", str(out)],
                                env={"DATABASE_URL": url})
            if cli.returncode != 0:
                raise SystemExit(f"grids propose failed (exit {cli.returncode})")

    before, after = proposal.before, proposal.after
    print(f"benchmarks/propose.py — {time.strftime('%Y-%m-%d %H:%M')} — community {code} {community['name']}: "
          f"{int(before['households'].sum()):,} households, {n_tertiary} tertiary grids, "
          f"{int(before['expected_cases'].sum()):,} cases in 12 months, band {LOW}–{HIGH}")
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"  {key.ljust(width)}  {value}")
    print(f"  {'load average at end'.ljust(width)}  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = [
        ["propose_grids (job)", f"{job_s:.1f} s", "plain spopt max-p, same bricks", f"{maxp_s:.1f} s",
         f"{job_s / maxp_s:.1f}" if maxp_s else "-", f"< {GOAL_S:.0f} s", "met" if job_s < GOAL_S else "MISSED"],
        ["grids propose (CLI, with start-up)", f"{cli.seconds:.1f} s", "current boundaries' CV",
         f"{current_cv_s:.2f} s", f"{cli.seconds / current_cv_s:.0f}", f"< {GOAL_S:.0f} s",
         "met" if cli.seconds < GOAL_S else "MISSED"],
        ["check as grids validate --within", f"{check_s:.1f} s", "", "", "", "no problems",
         "met" if not len(problems) else f"{len(problems)} PROBLEMS"],
    ]
    print()
    print(table(rows, ["figure", "value", "baseline", "baseline value", "ratio", "goal", ""]))
    print()
    quality = [
        ["micro-grids", str(len(before)), str(len(after)), f"max-p alone: {maxp_regions}"],
        ["households min–max", f"{before['households'].min()}–{before['households'].max()}",
         f"{after['households'].min()}–{after['households'].max()}", f"band {LOW}–{HIGH}"],
        ["CV of expected cases per micro-grid", f"{proposal.cv_before:.3f}", f"{proposal.cv_after:.3f}", "lower is better"],
        ["CV of households per micro-grid", f"{versions.balance(before['households'])['cv']:.3f}",
         f"{versions.balance(after['households'])['cv']:.3f}", ""],
        ["mean isoperimetric quotient 4πA/P²", f"{compactness(micro):.3f}", f"{compactness(proposal.grids):.3f}",
         "1 = a disc"],
    ]
    print(table(quality, ["quality", "today", "proposed", "note"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
