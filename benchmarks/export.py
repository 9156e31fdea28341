"""The cases page's export: the streamed job against the pandas way, time and peak memory.

    .venv/bin/python benchmarks/export.py [--incidents 1000000] [--sizes 100000,1000000]
                                          [--formats csv,xlsx] [--xlsx-max 300000] [--url URL]

Each size is a filter over the newest N cases (a ``since`` date chosen so that about N
match; the real count is printed) run, in a child process of its own (so each peak
memory, VmHWM, is that run's alone), two ways:

- **stream**: ``workflows.export_cases`` (what 导出 CSV / 导出 Excel run): a server-side
  cursor read 5,000 rows at a time into the writers of ``gis.io.case_export``, written
  to a temporary file;
- **pandas** (baseline, the page before issue 11, without its 2,000-row limit so both
  write the same rows): ``workflows.cases`` into one frame, ``ui.widgets.cases_table``,
  then ``to_csv().encode("utf-8-sig")`` or ``to_excel`` into memory.

"imports" is a child's peak after importing the libraries and before any work: the
part of each peak that is the interpreter, not the export. Without ``--url`` the script
loads ``--incidents`` demo cases into a throw-away PostGIS; with ``--url`` it reads an
existing database (e.g. one ``python -m gis demo --incidents 1000000`` filled).

Measured 2026-12-02 (``--incidents 1000000 --sizes 100000,300000,1000000 --xlsx-max 300000``;
AMD EPYC, 2 cores shared with other jobs, load ~5; PostgreSQL 15, openpyxl 3.1.5 without lxml):

    way         |      rows |     s | peak MB | imports MB | export MB | file MB
    csv pandas  |   100,669 |   8.4 |     657 |        342 |       315 |    27.0
    csv stream  |   100,669 |   5.2 |     353 |        342 |        11 |    36.4
    xlsx pandas |   100,669 |  70.3 |    1079 |        341 |       738 |     9.8
    xlsx stream |   100,669 |  61.1 |     348 |        342 |         6 |    12.2
    csv pandas  |   300,100 |  24.4 |    1297 |        342 |       956 |    80.7
    csv stream  |   300,100 |   9.2 |     354 |        341 |        13 |   108.5
    xlsx pandas |   300,100 | 128.3 |    2429 |        341 |      2088 |    29.4
    xlsx stream |   300,100 | 122.0 |     348 |        342 |         6 |    36.5
    csv pandas  | 1,000,000 |  91.5 |    3484 |        342 |      3142 |   268.8
    csv stream  | 1,000,000 |  29.8 |     355 |        342 |        13 |   361.5

The streamed export's memory stays flat (~6-13 MB over the interpreter) from 100k to 1M
cases; the pandas way grows with the rows (3.1 GB for 1M as CSV). The streamed files are
larger because they carry more columns (街道, 社区, 微网格 names, 报告人电话) and quote
every field. XLSX time is openpyxl's XML serialisation either way (~0.4 ms a row; lxml
would speed it up). In the app, Streamlit then holds the finished file's bytes once
(the download), i.e. the file size, not the frame's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from _common import BenchServer, machine, server_versions, table, vm_hwm_mb

HERE = Path(__file__).resolve()


def child(mode: str, url: str, since: str, until: str, fmt: str) -> None:
    """One measured export in this process; prints a JSON line."""
    import io
    import logging

    from gis import workflows
    from gis.core import access
    from gis.core.metrics import CaseFilter
    from gis.workflows import Services
    from ui import widgets

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" warnings: no app here
    services = Services.for_url(url, principal=access.SYSTEM, maxconn=1)
    flt = CaseFilter(since=date.fromisoformat(since), until=date.fromisoformat(until))
    workflows.grid_tree(services)  # the grid version's caches, as the app has them warm
    imports_mb = vm_hwm_mb()
    started = time.perf_counter()
    with tempfile.TemporaryFile() as handle:
        if mode == "stream":
            rows = workflows.export_cases(services, flt, handle, fmt=fmt)
        else:
            frame = workflows.cases(services, flt, limit=10 ** 9)
            shown = widgets.cases_table(frame)
            if fmt == "csv":
                data = shown.to_csv(index=False).encode("utf-8-sig")
            else:
                buf = io.BytesIO()
                shown.to_excel(buf, index=False, engine="openpyxl")
                data = buf.getvalue()
            handle.write(data)
            rows = len(shown)
        size = handle.tell()
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": vm_hwm_mb(), "imports_mb": imports_mb,
                      "bytes": size}))


def measure(mode: str, url: str, since: date, until: date, fmt: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent), "GIS_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, str(HERE), "--child", mode, url, str(since), str(until), fmt],
                          stdout=subprocess.PIPE, env=env, check=True)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def since_for(url: str, n: int) -> date:
    """The China-time date from which about ``n`` of the newest cases were received."""
    from gis.store import db

    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date FROM incident "
                        "ORDER BY reported_at DESC OFFSET %s LIMIT 1", (max(n - 1, 0),))
            row = cur.fetchone()
            if row is None:
                cur.execute("SELECT min(reported_at AT TIME ZONE 'Asia/Shanghai')::date FROM incident")
                row = cur.fetchone()
            return row[0]
    finally:
        conn.close()


def run(url: str, sizes: list[int], formats: list[str], xlsx_max: int) -> None:
    print("server: " + ", ".join(f"{k} {v}" for k, v in server_versions(url).items()))
    until = date.today() + timedelta(days=1)
    rows = []
    for n in sizes:
        since = since_for(url, n)
        for fmt in formats:
            if fmt == "xlsx" and n > xlsx_max:
                continue
            for mode in ("pandas", "stream"):
                r = measure(mode, url, since, until, fmt)
                rows.append([f"{fmt} {mode}", f"{r['rows']:,}", f"{r['seconds']:.1f}", f"{r['peak_mb']:.0f}",
                             f"{r['imports_mb']:.0f}", f"{r['peak_mb'] - r['imports_mb']:.0f}",
                             f"{r['bytes'] / 1e6:.1f}"])
                print(table(rows[-1:], ["way", "rows", "s", "peak MB", "imports MB", "export MB", "file MB"]),
                      flush=True)
    print()
    print(table(rows, ["way", "rows", "s", "peak MB", "imports MB", "export MB", "file MB"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of cases to export")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--xlsx-max", type=int, default=300_000,
                        help="largest size also exported as XLSX (openpyxl is slow: ~1 min per 300k rows)")
    parser.add_argument("--url", help="an existing database with cases (skips the demo load)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = [f for f in args.formats.split(",") if f]
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    if args.url:
        run(args.url, sizes, formats, args.xlsx_max)
        return
    from gis import workflows
    from gis.core import access
    from gis.workflows import Services

    with BenchServer() as bench:
        url = bench.create_database("bench_export")
        with Services.for_url(url, principal=access.SYSTEM, maxconn=2) as system:
            workflows.load_demo(system, incidents=0, seed=args.seed)
            started = time.perf_counter()
            workflows.load_demo_incidents(system, n=args.incidents, seed=args.seed)
            print(f"demo incidents loaded: {args.incidents:,} in {time.perf_counter() - started:.0f} s")
        run(url, sizes, formats, args.xlsx_max)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.path.insert(0, str(HERE.parent.parent))
        child(*sys.argv[2:7])
    else:
        main()
