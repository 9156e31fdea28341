"""Gi* hot spots for every micro-grid of the demo district (中原区) at 1,000,000 incidents.

    .venv/bin/python benchmarks/hotspots.py [--incidents 1000000] [--seed 42] [--permutations 999]

In a throw-away PostGIS it loads the demo district and ``--incidents`` demo incidents (the demo
spreads its history over two years), then times ``gis.workflows.analytics.hot_spots_job`` at the
micro level (queen weights, Gi* with 999 permutations, FDR, classes by the default normal p; the
classes by the permutation p beside them) over the whole history (every
incident) and over its last 365 days, cold (first call) and warm, beside baselines measured in the
same run:

- the SQL count alone (cases per micro-grid, ``fetch_micro_case_counts``): the floor for any
  statistic on these counts;
- the situation map's full KPI query (``fetch_micro_stats``), which the job does not need;
- the statistics alone: queen contiguity (libpysal) and ``esda.G_Local`` on those weights.

Goal (issue 13): < 10 s for all micro-grids over a year of 1,000,000 incidents.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta

import esda
from _common import BenchServer, machine, server_versions, table

from gis import store, workflows
from gis.core import analytics as core
from gis.core import metrics
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.store import analytics_units
from gis.workflows import analytics
from gis.workflows.context import Services


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--permutations", type=int, default=999)
    args = parser.parse_args()

    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    with BenchServer() as bench:
        url = bench.create_database("bench_hotspots")
        print("server: " + ", ".join(f"{k} {v}" for k, v in server_versions(url).items()))
        services = Services.for_url(url, principal=SYSTEM, maxconn=4)
        _, grid_s = timed(workflows.load_demo, services, incidents=0, seed=args.seed)
        _, load_s = timed(workflows.load_demo_incidents, services, n=args.incidents, seed=args.seed)
        with services.connection() as conn, conn.cursor() as cur:
            cur.execute("ANALYZE incident")
            cur.execute("SELECT min(reported_at), count(*) FROM incident")
            first, stored = cur.fetchone()
            micro = services.version(conn).level("micro")
        print(f"demo grids {grid_s:.1f} s; {stored:,} incidents stored in {load_s:.1f} s; "
              f"{len(micro):,} micro-grids")
        today = datetime.now(CHINA_TZ).date()
        windows = {"whole history": first.astimezone(CHINA_TZ).date(), "last 365 days": today - timedelta(days=364)}
        rows = []
        for label, since in windows.items():
            flt = metrics.CaseFilter(since=since, until=today)
            params = flt.params(micro_codes=None, now=datetime.now(CHINA_TZ))
            with services.connection() as conn:
                counted, count_s = timed(analytics_units.fetch_micro_case_counts, conn, params)
                _, stats_s = timed(store.fetch_micro_stats, conn, params)
            n_cases = int(counted["received"].sum())
            job = {"level": "micro", "since": since, "until": today, "permutations": args.permutations, "seed": 0}
            _, cold_s = timed(analytics.hot_spots_job, services, **job)
            result, warm_s = timed(analytics.hot_spots_job, services, **job)
            units = micro.sort_values("code").reset_index(drop=True)
            w, weights_s = timed(core.queen_weights, units)
            values = units["code"].map(counted.set_index("micro_code")["received"]).fillna(0).to_numpy(float)
            _, gi_s = timed(core.gi_star, values, w, permutations=args.permutations, seed=0)
            classes = result["class"].value_counts()  # the job's default: ArcGIS's normal p
            strict = core.hot_spots(result[["code", "name", "count", "geometry"]], value="count",
                                    permutations=args.permutations, seed=0,
                                    p_value="permutation")["class"].value_counts()
            floor = int((result["p"] <= 1 / (args.permutations + 1)).sum())
            threshold = float(esda.fdr(result["p"].dropna().to_numpy(), 0.10))
            rows.append([label, f"{n_cases:,}", f"{count_s:.2f}", f"{stats_s:.2f}", f"{weights_s:.2f}",
                         f"{gi_s:.2f}", f"{cold_s:.2f}", f"{warm_s:.2f}", f"{floor:,}", f"{threshold:.5f}",
                         " ".join(f"{k}={v}" for k, v in sorted(classes.items())),
                         " ".join(f"{k}={v}" for k, v in sorted(strict.items()))])
        services.close()
    print()
    print(table(rows, ["window", "cases", "SQL count s", "map KPI query s", "queen s", "Gi* s", "job cold s",
                       "job warm s", "units at p min", "FDR p at 90 %", "classes (job: normal p)", "classes (permutation p)"]))
    print(f"permutations {args.permutations}; goal: job < 10 s over a year of 1,000,000 incidents")


if __name__ == "__main__":
    main()
