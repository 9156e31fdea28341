"""Many users at once on the situation map (态势地图): page views per second, p50 / p95 and errors.

    .venv/bin/python benchmarks/load.py [--incidents 1000000] [--duration-s 60] [--sessions 10,25,50]
                                        [--maxconn 8] [--think-s 0] [--seed 42] [--no-map]

    quick smoke run:  .venv/bin/python benchmarks/load.py --incidents 100000 --duration-s 10 --sessions 5,10

On the demo district (中原区) with ``--incidents`` demo incidents in a throw-away PostGIS:

- the single-user district view: the page's data queries (``workflows.situation``: KPIs
  of two periods, the streets' stats, the three heat layers in one pass, categories and
  the daily trend on one connection; then the open cases) for the last 30 days, cold
  (first run) and warm (median and max of 5 runs);
- then, for each session count, that many threads sharing ONE ``Services`` (a pool of
  ``--maxconn`` connections that waits when busy, as the app shares one through
  ``st.cache_resource``), each thread a session that loops page views for
  ``--duration-s`` seconds: the situation page's library calls (the data jobs above
  plus the ``gis.maps.situation_map`` build, as ``benchmarks/map.py`` times it) with
  a filter of its own for every view (a window of 7–90 days ending somewhere in the
  last year, none or 1–3 categories, the district, a street or a community), so no
  cache serves them. ``--think-s`` is the mean pause between a session's views
  (exponential; 0 = the next view as soon as one is drawn, the worst case);
- the same loop with one session first: the baseline of the same run.

Reported per run: page views, views/s, p50 / p95 / max seconds per page view, errors
(and the first error), and p95 per call. Goal (issue): 0 errors and p95 < 2 s at
10 / 25 / 50 sessions; district view < 1 s with one user at 1,000,000 incidents.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from _common import BenchServer, machine, server_versions, table

# the page's map call, as benchmarks/map.py times it
from map import ZOOM, build_map, simplified

from gis.core.access import SYSTEM
from gis import workflows
from gis.core.china_time import CHINA_TZ
from gis.core.metrics import CaseFilter
from gis.core.rules import config
from gis.workflows import Services

CALLS = ("situation", "open", "map")
VIEW_LEVEL = {"district": "street", "street": "community", "community": "grid"}


@dataclass
class Views:
    """The units a session drills into: the district (None), every street, two communities per street."""

    grids: object
    units: list[tuple[str | None, str, str]]          # (unit code or None, its level, the level shown)
    categories: list[str]


def views_of(grids) -> Views:
    streets = sorted(grids.loc[grids["level"] == "street", "code"])
    units: list[tuple[str | None, str, str]] = [(None, "district", "street")]
    units += [(s, "street", "community") for s in streets]
    for s in streets:
        kids = sorted(grids.loc[(grids["level"] == "community") & (grids["parent_code"] == s), "code"])[:2]
        units += [(c, "community", "grid") for c in kids]
    return Views(grids, units, sorted(config.load_rules().categories))


def random_view(rng: np.random.Generator, views: Views, today: date) -> tuple[CaseFilter, str | None, str]:
    """A filter of its own: window, categories and unit drawn at random."""
    days = int(rng.choice([7, 14, 30, 60, 90]))
    until = today - timedelta(days=int(rng.integers(0, 330)))
    categories = None
    if rng.random() < 0.6:
        k = int(rng.integers(1, 4))
        categories = tuple(sorted(rng.choice(views.categories, size=k, replace=False).tolist()))
    pick = rng.random()
    if pick < 0.3:
        unit, _, level = views.units[0]
    else:
        kind = "street" if pick < 0.7 else "community"
        choices = [u for u in views.units if u[1] == kind]
        unit, _, level = choices[int(rng.integers(0, len(choices)))]
    return CaseFilter(since=until - timedelta(days=days - 1), until=until, categories=categories, unit=unit), unit, level


def page_view(services: Services, views: Views, flt: CaseFilter, *, unit: str | None, level: str,
              draw_map: bool = True) -> dict[str, float]:
    """The situation page's library calls in the order it makes them; seconds per call."""
    seconds: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        seconds[name] = time.perf_counter() - start
        return value

    # what ui/pages/situation.py asks for: one situation job (KPIs of two periods, the units'
    # stats, three heat layers, trend, categories on one connection), the open cases, the map
    situation = timed("situation", workflows.situation, services, flt, level=level, within=unit)
    timed("open", workflows.cases, services, flt, open_only=True, limit=200)
    data = {"stats": situation.units, "heat": situation.heat}
    if draw_map:
        timed("map", build_map, views.grids, data, level=level, unit=unit)
    return seconds


@dataclass
class Run:
    sessions: int
    seconds: float = 0.0
    views: list[float] = field(default_factory=list)
    calls: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_sessions(services: Services, views: Views, *, sessions: int, duration_s: float, seed: int,
                 think_s: float, draw_map: bool) -> Run:
    """``sessions`` threads looping page views on one shared Services for ``duration_s`` seconds."""
    run = Run(sessions)
    today = datetime.now(CHINA_TZ).date()
    start_line = threading.Barrier(sessions + 1)

    def session(index: int) -> None:
        rng = np.random.default_rng([seed, sessions, index])
        start_line.wait()
        while time.perf_counter() < stop_at:
            flt, unit, level = random_view(rng, views, today)
            started = time.perf_counter()
            try:
                seconds = page_view(services, views, flt, unit=unit, level=level, draw_map=draw_map)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with run.lock:
                    run.errors[f"{type(exc).__name__}: {exc}"] += 1
            else:
                elapsed = time.perf_counter() - started
                with run.lock:
                    run.views.append(elapsed)
                    for name, s in seconds.items():
                        run.calls.setdefault(name, []).append(s)
            if think_s > 0:
                time.sleep(rng.exponential(think_s))

    threads = [threading.Thread(target=session, args=(i,), name=f"session-{i}", daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at = began + duration_s          # every thread is waiting at the start line: all start now
    start_line.wait()
    for t in threads:
        t.join()
    run.seconds = time.perf_counter() - began
    return run


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--sessions", default="10,25,50", help="session counts, comma-separated")
    parser.add_argument("--baseline-sessions", type=int, default=1)
    parser.add_argument("--maxconn", type=int, default=8, help="the shared pool's size (the app uses 8)")
    parser.add_argument("--think-s", type=float, default=0.0,
                        help="mean pause between a session's page views (0: none, the worst case)")
    parser.add_argument("--no-map", action="store_true", help="data calls only, no situation_map build")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--use-database", metavar="URL",
                        help="skip the load: run against this database as it is (the demo already loaded)")
    args = parser.parse_args()
    # few units with few distinct values (a community's grids, a narrow filter) make mapclassify warn per view
    warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
    counts = [int(s) for s in args.sessions.split(",") if s.strip()]

    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    with contextlib.nullcontext() if args.use_database else BenchServer() as bench:
        url = args.use_database or bench.create_database("bench_load")
        print("server: " + ", ".join(f"{k} {v}" for k, v in server_versions(url).items()))
        services = Services.for_url(url, principal=SYSTEM, maxconn=args.maxconn)
        if args.use_database:
            with services.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM incident")
                args.incidents = cur.fetchone()[0]
            print(f"using the database as it is: {args.incidents:,} incidents")
        else:
            started = time.perf_counter()
            workflows.load_demo(services, incidents=args.incidents, seed=args.seed)
            print(f"demo district with {args.incidents:,} incidents loaded in {time.perf_counter() - started:.0f} s",
                  flush=True)
            with services.transaction() as conn, conn.cursor() as cur:
                cur.execute("ANALYZE incident")           # planner statistics now, not when autovacuum comes by
        grids = workflows.active_grids(services)
        views = views_of(grids)
        # the simplified shapes are shared by every session (ui.cached keeps them per level, unit and zoom)
        for unit, unit_level, level in views.units:
            simplified(grids, level, unit, ZOOM[unit_level])

        # -- one user, the district view ---------------------------------------------------------------
        today = datetime.now(CHINA_TZ).date()
        district = CaseFilter(since=today - timedelta(days=29), until=today)
        cold = page_view(services, views, district, unit=None, level="street")
        warm = [page_view(services, views, district, unit=None, level="street") for _ in range(5)]
        data_s = [sum(v for k, v in w.items() if k != "map") for w in warm]
        print()
        print(f"single user, district view, last 30 days, {args.incidents:,} incidents:")
        print(f"  data queries: cold {sum(v for k, v in cold.items() if k != 'map'):.2f} s, "
              f"warm median {np.median(data_s):.2f} s, warm max {max(data_s):.2f} s (goal < 1 s)")
        print("  per call, warm median ms: " + ", ".join(
            f"{name} {np.median([w[name] for w in warm]) * 1000:.0f}" for name in CALLS if name in warm[0]))

        # -- many users ----------------------------------------------------------------------------------
        print()
        print(f"sessions share one Services (pool maxconn={args.maxconn}); {args.duration_s:.0f} s per run; "
              f"think time {'none' if args.think_s <= 0 else f'{args.think_s:g} s mean'}; "
              f"{'data calls only' if args.no_map else 'data calls + situation_map'} per page view", flush=True)
        runs = []
        for n in [args.baseline_sessions, *counts]:
            run = run_sessions(services, views, sessions=n, duration_s=args.duration_s, seed=args.seed,
                               think_s=args.think_s, draw_map=not args.no_map)
            runs.append(run)
            print(f"  {n} sessions: {len(run.views)} page views, {sum(run.errors.values())} errors", file=sys.stderr,
                  flush=True)
        services.close()

    rows, call_rows = [], []
    for k, run in enumerate(runs):
        label = f"{run.sessions} (baseline)" if k == 0 else str(run.sessions)
        errors = sum(run.errors.values())
        rows.append([label, len(run.views), f"{len(run.views) / run.seconds:.2f}", f"{pct(run.views, 50):.2f}",
                     f"{pct(run.views, 95):.2f}", f"{max(run.views, default=float('nan')):.2f}", errors,
                     "yes" if errors == 0 and pct(run.views, 95) < 2.0 else "no"])
        call_rows.append([label] + [f"{pct(run.calls.get(name, []), 95) * 1000:.0f}" for name in CALLS
                                    if not (args.no_map and name == "map")])
    print()
    print(f"page views of the situation page, {args.incidents:,} incidents, {args.duration_s:.0f} s per row:")
    print(table(rows, ["sessions", "page views", "views/s", "p50 s", "p95 s", "max s", "errors",
                       "goal met (0 errors, p95 < 2 s)"]))
    print()
    print("p95 per call, ms:")
    print(table(call_rows, ["sessions"] + [name for name in CALLS if not (args.no_map and name == "map")]))
    for run in runs:
        for message, n in run.errors.most_common(3):
            print(f"errors at {run.sessions} sessions: {n} × {message}")


if __name__ == "__main__":
    main()
