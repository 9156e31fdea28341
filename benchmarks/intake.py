"""Intake speed: rows a second for a generated million-row CSV (python benchmarks/intake.py)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from gis.core.intake.checks import REQUIRED_FIELDS
from gis.core.intake.reader import read_incidents

# ---------------------------------------------------------------------------
# Run by hand: .venv/bin/python benchmarks/intake.py [rows]
# ---------------------------------------------------------------------------

def _bench(rows: int = 1_000_000, *, folder: str | os.PathLike | None = None) -> dict[str, float]:
    """Generate a CSV of ``rows`` incidents and time reading it in a fresh process.

    Prints and returns rows/s (wall and CPU) and the reading process's peak
    resident memory in MB. The file has Chinese text, multi-line quoted
    descriptions, mixed time zones, unknown categories, bad rows and
    duplicates, so every path is exercised.
    """
    import shutil
    import subprocess
    import sys

    own_folder = folder is None
    folder = Path(tempfile.mkdtemp(prefix="incidents-bench-") if own_folder else folder)
    path = folder / f"incidents_{rows}.csv"
    try:
        if not path.exists():
            _bench_file(path, rows)
        code = ("import json; from benchmarks.intake import _bench_read; "
                f"print(json.dumps(_bench_read({str(path)!r})))")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).resolve().parent.parent)
        size_mb = path.stat().st_size / 1e6
    finally:
        if own_folder:
            shutil.rmtree(folder, ignore_errors=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"{rows:,} rows ({size_mb:.0f} MB): "
          f"{figures['rows_per_s_wall']:,.0f} rows/s wall, "
          f"{figures['rows_per_s_cpu']:,.0f} rows/s CPU, "
          f"peak memory {figures['peak_mb']:.0f} MB; "
          f"{figures['good']:,} kept, {figures['refused_lines']:,} refused lines, "
          f"{figures['warnings']:,} warnings")
    return figures


def _bench_file(path: Path, rows: int, *, block: int = 100_000) -> None:
    rng = np.random.default_rng(7)
    categories = np.array(["暴露垃圾", "乱停车", "env.dirty_road", "占道经营", "井盖", "其他",
                           "小广告", "井盖坏了"])
    statuses = np.array(["received", "dispatched", "closed", "处置", "open"])
    descriptions = np.array(["绿地东侧人行道上有暴露垃圾，请尽快处理", 'He said "now", then left',
                             "第一行\n第二行", "<script>alert(1)</script>", "'; DROP TABLE incident; --"])
    start = np.datetime64("2025-01-01T00:00:00")
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(REQUIRED_FIELDS) + "\n")
        for first in range(0, rows, block):
            k = min(block, rows - first)
            ids = np.arange(first, first + k)
            stamps = (start + rng.integers(0, 365 * 86400, k).astype("timedelta64[s]")).astype(str)
            stamps = np.where(rng.random(k) < 0.5, np.char.add(stamps, "+08:00"), stamps)
            lat = np.round(34.7 + rng.random(k) * 0.1, 6).astype(object)
            lat[rng.random(k) < 0.001] = "abc"
            frame = pd.DataFrame({
                "source": "12345",
                "external_id": np.char.add("E", (ids % (rows - 1000) if rows > 2000 else ids).astype(str)),
                "category": categories[rng.integers(0, len(categories), k)],
                "lon": np.round(113.6 + rng.random(k) * 0.1, 6),
                "lat": lat,
                "reported_at": stamps,
                "status": statuses[rng.integers(0, len(statuses), k)],
                "description": descriptions[rng.integers(0, len(descriptions), k)],
                "address": "郑州市中原区建设路街道桐柏路128号",
            })
            frame.to_csv(handle, header=False, index=False, lineterminator="\n")


def _bench_read(path: str) -> dict[str, float]:
    import resource
    import time

    wall, cpu = time.perf_counter(), time.process_time()
    good = refused = warnings = rows = 0
    for chunk in read_incidents(path):
        good += len(chunk.incidents)
        refused += chunk.refused
        warnings += len(chunk.warnings)
        rows += chunk.records
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "good": good, "refused_lines": refused, "warnings": warnings,
            "seconds_wall": wall, "seconds_cpu": cpu,
            "rows_per_s_wall": rows / wall, "rows_per_s_cpu": rows / cpu,
            "peak_mb": peak_kb / 1024}


if __name__ == "__main__":
    _bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
