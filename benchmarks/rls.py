"""What row-level security costs the situation page: the same jobs with and without the policies.

    .venv/bin/python benchmarks/rls.py [--incidents 1000000] [--seed 42] [--repeat 3]

On the demo district (中原区) in a throw-away PostGIS it runs the situation page's
data job (``workflows.situation``: KPIs of two periods, per-unit stats, heat,
categories, open cases, trend) for the last 30 days, warm, best of ``--repeat``:
- **baseline**: a pool connected as the owner without ``SET ROLE``, so PostgreSQL
  skips the policies (what main did before the trust issue), for the whole district;
- **gis_app**: the jobs as they run now, as the low-privilege role, for the system
  (the CLI), a district-wide dispatcher, a street leader and a community account,
  each on its own view (district, its street, its community).
Also the demo load with the policies on (COPY through a staging table) and the
sign-in time (argon2id). Goal: the policies add < 20 % to any view.
"""

from __future__ import annotations

import argparse
import time

from _common import BenchServer, machine, server_versions, table  # noqa: I001 (script-local helper)

from gis import workflows
from gis.core import access, metrics
from gis.store import db
from gis.workflows import Services

PASSWORD = "benchmark password"
STREET, COMMUNITY_LEVEL = "410102009", "community"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    with BenchServer() as bench:
        url = bench.create_database("bench_rls")
        print("server: " + ", ".join(f"{k} {v}" for k, v in server_versions(url).items()))
        system = Services.for_url(url, principal=access.SYSTEM, maxconn=4)
        workflows.load_demo(system, incidents=0, seed=args.seed)
        started = time.perf_counter()
        workflows.load_demo_incidents(system, n=args.incidents, seed=args.seed)
        print(f"demo incidents loaded with the policies on: {args.incidents} in {time.perf_counter() - started:.1f} s")
        tree = workflows.grid_tree(system)
        community = sorted(tree.units_under(STREET, COMMUNITY_LEVEL))[0]
        accounts = {"dispatcher (district)": ("dispatcher", "410102", None),
                    "leader (street)": ("leader", STREET, STREET),
                    "community": ("community", community, community)}
        for name, (role, scope, _) in accounts.items():
            workflows.add_user(system, name.split()[0], role=role, scope=scope, password=PASSWORD)
        started = time.perf_counter()
        signed = {name: workflows.sign_in(system, name.split()[0], PASSWORD) for name in accounts}
        sign_in_ms = (time.perf_counter() - started) / len(accounts) * 1000
        flt = metrics.last_days(30)
        owner = Services(db.Database(url, maxconn=4), principal=access.SYSTEM)  # no SET ROLE: policies skipped

        def view(services: Services, unit: str | None) -> float:
            level = "street" if unit is None else ("community" if unit == STREET else "grid")
            run = lambda: workflows.situation(services, metrics.CaseFilter(  # noqa: E731
                since=flt.since, until=flt.until, unit=unit), level=level, within=unit)
            run()  # warm the grid caches
            return best(run, args.repeat)

        rows = []
        for label, unit in (("district", None), ("street", STREET), ("community", community)):
            base = view(owner, unit)
            rows.append([f"system, {label} view", f"{base:.3f}", f"{view(system, unit):.3f}"])
        for name, (_, _, unit) in accounts.items():
            base = view(owner, unit)
            rows.append([f"{name}, own view", f"{base:.3f}", f"{view(system.as_user(signed[name]), unit):.3f}"])
        for row in rows:
            row.append(f"{float(row[2]) / float(row[1]):.2f}×")
        print(f"\nsituation job, last 30 days, {args.incidents} incidents, warm, best of {args.repeat}")
        print(table(rows, ["who, view", "baseline s (no policies)", "gis_app s (policies)", "ratio"]))
        print(f"\nsign-in (argon2id verify + audit row): {sign_in_ms:.0f} ms per attempt")
        owner.close()
        system.close()


if __name__ == "__main__":
    main()
