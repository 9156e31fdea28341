"""City scale: counting a GeoParquet history in this process against a Dask LocalCluster.

    .venv/bin/python benchmarks/scale.py [--sizes 5000000,20000000] [--per-month 1000000]
                                         [--workers 2] [--level community] [--by week] [--dir DIR] [--keep]

1. The demo district's grids (``gis.demo.district.demo_grids``, seed 42: 5,180 micro-grids), built
   without a database and written with ``history_files.grids_to_parquet``.
2. The largest size is generated straight to GeoParquet, month by month (``--per-month`` points a
   month, parts of at most 500,000 rows, as ``incidents export DIR --format parquet`` lays them
   out): 90 % of the points near a micro-grid, 10 % anywhere in the district's bounding box (many
   outside every micro-grid). One part is in memory at a time. A smaller size is the first months of
   the same history (symlinked folders), so the sizes share their data.
3. Each size is counted (``aggregate_history``: community × ISO week), each way in a child process
   of its own so every peak memory is that run's alone:

   - **in-process** (the baseline): one file at a time in one process; peak = its VmHWM;
   - **LocalCluster(N)**: N single-threaded worker processes, warmed (libraries imported) before the
     clock starts, as a cluster's long-lived workers are; the peak of each worker's RSS is sampled
     every 0.1 s (psutil) and the client's own VmHWM is read at the end.

   "idle MB" is a process's memory before any point is read (interpreter and libraries), so the
   rest of its peak is the work. The two ways' counts are compared (they must be equal).

Memory stays bounded: no process ever holds more than a partition (≤ 500,000 points) plus the
grids, whatever the size; the table shows it (peak per worker at 5M ≈ at 20M).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CATEGORIES = ["env.exposed_garbage", "env.accumulated_garbage", "env.dirty_road", "safety.fire", "safety.electric",
              "safety.gas"]
PART_ROWS = 500_000


def _vm_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# -- the data ----------------------------------------------------------------------------------


def build_grids(path: Path) -> int:
    from gis.demo.district import demo_grids
    from gis.io import history_files
    return history_files.grids_to_parquet(demo_grids(seed=42), path)


def generate(directory: Path, grids_path: Path, *, months: int, per_month: int, seed: int = 14) -> int:
    """``months`` × ``per_month`` synthetic cases as monthly GeoParquet parts, one part in memory at a time."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from gis.io import history_files

    grids = gpd.read_parquet(grids_path)
    micro = grids[grids["level"] == "micro"]
    anchors = micro.geometry.representative_point()
    ax, ay = anchors.x.to_numpy(), anchors.y.to_numpy()
    xmin, ymin, xmax, ymax = micro.total_bounds
    rng = np.random.default_rng(seed)
    written = 0
    first = pd.Timestamp("2024-01-01", tz="Asia/Shanghai")
    for m in range(months):
        start = first + pd.DateOffset(months=m)
        seconds = int((start + pd.DateOffset(months=1) - start).total_seconds())
        label = start.strftime("%Y-%m")
        for part, lo in enumerate(range(0, per_month, PART_ROWS)):
            n = min(PART_ROWS, per_month - lo)
            near = rng.random(n) < 0.9
            pick = rng.integers(0, len(ax), n)
            lon = np.where(near, ax[pick] + rng.normal(0, 0.0015, n), rng.uniform(xmin, xmax, n))
            lat = np.where(near, ay[pick] + rng.normal(0, 0.0012, n), rng.uniform(ymin, ymax, n))
            ids = written + np.arange(n)
            frame = pd.DataFrame({
                "source": "12345",
                "external_id": pd.Series(ids).map("B{:09d}".format),
                "category": np.asarray(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), n)],
                "status": "closed",
                "lon": lon, "lat": lat,
                "reported_at": start + pd.to_timedelta(rng.integers(0, seconds, n), unit="s"),
            })
            history_files.write_part(frame, history_files.part_path(directory, label, part))
            written += n
        print(f"  generated {label}: {written:,} points so far", file=sys.stderr, flush=True)
    return written


# -- the runs (each in a child process) --------------------------------------------------------


def _warm() -> None:
    import dask_geopandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import gis.core.scale  # noqa: F401


def child(way: str, directory: str, grids_path: str, workers: int, level: str, by: str) -> dict:
    from gis.io import history_files
    from gis.workflows import scale

    import resource

    grids = history_files.grids_from_parquet(grids_path)
    idle_kb = _vm_kb("VmRSS")

    def cpu_self() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    if way == "in-process":
        before = cpu_self()
        result = scale.aggregate_history(directory, grids=grids, level=level, by=by)
        cpu_s = cpu_self() - before
        worker_peaks, worker_idle = [], []
    else:
        import psutil

        with scale.dask_client(workers=workers) as client:
            pids = list(client.run(os.getpid).values())
            procs = [psutil.Process(p) for p in pids]
            worker_idle = [p.memory_info().rss // 1024 for p in procs]
            peaks = list(worker_idle)
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    for i, p in enumerate(procs):
                        try:
                            peaks[i] = max(peaks[i], p.memory_info().rss // 1024)
                        except psutil.Error:
                            pass
                    time.sleep(0.1)
            sampler = threading.Thread(target=sample, daemon=True)

            def cpu_workers() -> float:
                return sum(t.user + t.system for t in (p.cpu_times() for p in procs))
            # a cluster's workers are long-lived: import the libraries first, so the figures are the
            # counting's (the first task of a fresh worker would pay ~1.5 CPU-s of imports)
            client.run(_warm)
            before = cpu_workers()
            sampler.start()
            try:
                result = scale.aggregate_history(directory, grids=grids, level=level, by=by, client=client)
            finally:
                stop.set()
                sampler.join()
            cpu_s = cpu_workers() - before
            worker_peaks = peaks
    counts = result.counts
    return {"way": result.where, "seconds": result.seconds, "points": result.points, "outside": result.outside,
            "partitions": result.partitions, "rows": len(counts),
            "checksum": int((counts["count"] * (counts.index + 1)).sum()) if len(counts) else 0,
            "total": int(counts["count"].sum()) if len(counts) else 0,
            "peak_kb": _vm_kb("VmHWM"), "idle_kb": idle_kb, "cpu_s": cpu_s,
            "worker_peak_kb": worker_peaks, "worker_idle_kb": worker_idle}


def run_child(way: str, directory: Path, grids_path: Path, args) -> dict:
    command = [sys.executable, __file__, "--child", way, str(directory), str(grids_path), "--workers",
               str(args.workers), "--level", args.level, "--by", args.by]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{way} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = time.perf_counter() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000000,20000000")
    parser.add_argument("--per-month", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--level", default="community")
    parser.add_argument("--by", default="week")
    parser.add_argument("--dir", help="where the history goes (default a temporary folder, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the generated history")
    parser.add_argument("--child", nargs=3, metavar=("WAY", "DIR", "GRIDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.child[2], args.workers, args.level, args.by)))
        return

    import shutil

    from benchmarks._common import machine
    for key, value in machine().items():
        print(f"- {key}: {value}")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if any(s % args.per_month for s in sizes):
        raise SystemExit("each size must be a whole number of months (--per-month)")
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="gis-scale-", dir="/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        grids_path = base / "grids.parquet"
        t = time.perf_counter()
        n_grids = build_grids(grids_path)
        print(f"- grids: {n_grids} of the demo district in {time.perf_counter() - t:.1f} s")
        full = base / f"history-{sizes[-1]}"
        t = time.perf_counter()
        if not full.exists():
            generate(full, grids_path, months=sizes[-1] // args.per_month, per_month=args.per_month)
        size_mb = sum(p.stat().st_size for p in full.rglob("*.parquet")) / 1e6
        print(f"- history: {sizes[-1]:,} points, {size_mb:,.0f} MB of GeoParquet, generated in "
              f"{time.perf_counter() - t:.1f} s")
        folders = {}
        months = sorted(p for p in full.iterdir() if p.is_dir())
        for size in sizes:
            if size == sizes[-1]:
                folders[size] = full
                continue
            sub = base / f"history-{size}"
            if not sub.exists():
                sub.mkdir()
                for month in months[: size // args.per_month]:
                    (sub / month.name).symlink_to(month, target_is_directory=True)
            folders[size] = sub

        rows = []
        for size in sizes:
            results = [run_child("in-process", folders[size], grids_path, args),
                       run_child("cluster", folders[size], grids_path, args)]
            base_run = results[0]
            for r in results:
                same = (r["checksum"], r["total"], r["rows"]) == (base_run["checksum"], base_run["total"],
                                                                  base_run["rows"])
                workers = (" / ".join(f"{k / 1024:,.0f}" for k in r["worker_peak_kb"]) if r["worker_peak_kb"]
                           else "–")
                idle = (" / ".join(f"{k / 1024:,.0f}" for k in r["worker_idle_kb"]) if r["worker_idle_kb"]
                        else f"{r['idle_kb'] / 1024:,.0f}")
                rows.append([f"{size:,}", r["way"], f"{r['partitions']}", f"{r['seconds']:.1f}", f"{r['wall']:.1f}",
                             f"{r['points'] / r['seconds']:,.0f}", f"{r['cpu_s']:.1f}",
                             f"{r['points'] / r['cpu_s']:,.0f}", f"{r['peak_kb'] / 1024:,.0f}", workers, idle,
                             f"{r['outside']:,}", "yes" if same else "NO"])
                print(f"  {size:,} {r['way']}: {r['seconds']:.1f} s", file=sys.stderr, flush=True)
        header = ["points", "way", "partitions", "count s", "wall s", "points/s", "CPU s (counting)",
                  "points per CPU-s", "peak MB (process/client)",
                  "peak MB per worker", "idle MB", "outside", "same counts"]
        print()
        print(f"{args.level} × {args.by}; 'count s' is aggregate_history alone, 'wall s' the child process "
              "(imports, cluster start and stop); 'CPU s' the counting process's or the workers' CPU time "
              f"(user + system), which other load on the machine does not inflate; load average now "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        print()
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
