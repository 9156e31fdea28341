"""What the 热点 layer and the 高频点位 list cost the situation page (issue 13, item 5).

    .venv/bin/python benchmarks/hotspot_layer.py [--incidents 100000] [--seed 42]

In a throw-away PostGIS (or ``DATABASE_URL``) it loads the demo district (中原区) with
``--incidents`` demo incidents, makes an analyst (the district) and a leader (航海西路街道), and
for four views (district → streets, street → communities, community → tertiary grids,
tertiary grid → micro-grids; the last 30 days) prints:

- once per process, the import of the statistics' libraries (esda, libpysal), which the first
  hot-spot call of a fresh server pays;
- the hot-spot call as the page makes it (``ui.cached.hot_spots`` → ``hot_spots_job``: Gi*, classes
  by the normal p with FDR, so no permutations) first and cached, and the repeat-location call
  (``ui.cached.repeats``) first and cached;
- the whole page run headless (``streamlit.testing.AppTest``; the browser's drawing is not
  included) in the default 分级设色 view, cold and warm: the baseline; then the 热点 view once
  its own calls are new (the first switch) and cached. Warm and cached runs are the median of
  ``--repeat`` runs, taken in turns (the machine is shared: single runs are noisy).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from datetime import datetime, timedelta

from _common import BenchServer, machine, server_versions, table  # noqa: I001 (script-local helper)

import streamlit as st
from streamlit.testing.v1 import AppTest

from gis import workflows
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.core.metrics import CaseFilter
from gis.settings import PROJECT_ROOT
from gis.workflows.context import Services

STREET = "410102009"  # 航海西路街道
PASSWORD = "bench-password-1"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def page_run(principal, **query: str) -> float:
    at = AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / "situation.py"), default_timeout=600)
    from ui import auth
    at.session_state[auth.SESSION_KEY] = principal
    for key, value in query.items():
        at.query_params[key] = value
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception or at.error:
        raise SystemExit(f"the page failed: {[str(e.value) for e in at.exception] + [e.value for e in at.error]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)

    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    with BenchServer() as bench:
        url = bench.create_database("bench_hotspot_layer")
        print("server: " + ", ".join(f"{k} {v}" for k, v in server_versions(url).items()))
        with Services.for_url(url, principal=SYSTEM, maxconn=2) as system:
            _, load_s = timed(workflows.load_demo, system, incidents=args.incidents, seed=args.seed)
            for name, role, scope in (("bench_analyst", "analyst", "410102"), ("bench_leader", "leader", STREET)):
                workflows.add_user(system, name, role=role, scope=scope, password=PASSWORD, display_name=name)
            grids = workflows.active_grids(system)
            analyst = workflows.sign_in(system, "bench_analyst", PASSWORD)
            leader = workflows.sign_in(system, "bench_leader", PASSWORD)
        print(f"demo district with {args.incidents:,} incidents loaded in {load_s:.1f} s")
        community = grids.loc[(grids["level"] == "community") & (grids["parent_code"] == STREET), "code"].min()
        tertiary = grids.loc[(grids["level"] == "grid") & (grids["parent_code"] == community), "code"].min()
        os.environ["DATABASE_URL"] = url
        from ui import cached

        start = time.perf_counter()
        import esda  # noqa: F401
        import libpysal  # noqa: F401
        print(f"import of esda and libpysal (once per server process): {time.perf_counter() - start:.2f} s")

        until = datetime.now(CHINA_TZ).date()
        flt = CaseFilter(since=until - timedelta(days=29), until=until)
        views = (("district → streets", analyst, "street", None, None),
                 ("street → communities", leader, "community", STREET, None),
                 ("community → grids", leader, "grid", community, community),
                 ("grid → micro-grids", leader, "micro", tertiary, tertiary))
        calls, pages = [], []
        for label, user, level, within, unit in views:
            st.cache_data.clear()
            spots, first = timed(cached.hot_spots, user, flt, level, within)
            _, again = timed(cached.hot_spots, user, flt, level, within)
            found, rep_first = timed(cached.repeats, user, flt)
            _, rep_again = timed(cached.repeats, user, flt)
            significant = int((spots["gi_bin"] != 0).sum())
            calls.append((label, f"{len(spots)} ({significant})", f"{first * 1000:.0f}", f"{again * 1000:.1f}",
                          f"{len(found)}", f"{rep_first * 1000:.0f}", f"{rep_again * 1000:.1f}"))

            st.cache_data.clear()
            query = {"unit": unit} if unit else {}
            cold = page_run(user, **query)
            page_run(user, **query)
            hot_first = page_run(user, layers="hotspots", **query)
            warms, hots = [], []
            for _ in range(args.repeat):
                warms.append(page_run(user, **query))
                hots.append(page_run(user, layers="hotspots", **query))
            warm, hot_again = statistics.median(warms), statistics.median(hots)
            pages.append((label, f"{cold:.2f}", f"{warm:.2f}", f"{hot_first:.2f}", f"{hot_again:.2f}",
                          f"{(hot_again - warm) * 1000:+.0f}"))
        print("\nthe page's calls (ms; units: drawn (significant)):")
        print(table(calls, ["view", "units", "hot spots 1st", "cached", "repeats", "repeats 1st", "cached"]))
        print("\nthe page run headless (s), baseline = the default 分级设色 view:")
        print(table(pages, ["view", "分级设色 cold", "分级设色 warm (median)", "热点 1st", "热点 cached (median)",
                            "热点 cached − warm (ms)"]))


if __name__ == "__main__":
    main()
