"""How fast incidents find their micro-grid (精准派单), in bulk and one at a time.

    .venv/bin/python benchmarks/assign.py [--incidents N] [--grids M] [--quick]

On a synthetic district (M irregular micro-grids of 20–60 vertices partitioning
20×20 km near 113.6E 34.75N, default 50,000) and on the demo district 中原区
(5,180 micro-grids), each with N incidents (default 1,000,000: uniform over the
area, 1 % exactly on grid edges), one run prints, each figure beside a baseline
measured in the same run:

- the assignment step alone, ``GridIndex.assign`` vs ``geopandas.sjoin``
  (predicate ``within``, deduplicated to one grid per point), both from lon/lat
  arrays to one code per point, on the same data in memory (goal: ratio ≤ 1.0);
- the whole import, ``python -m gis incidents import`` (CSV → checked,
  converted, assigned, stored) vs a bare ``COPY`` of the same CSV into an
  unindexed table of text/double columns (goal: ratio ≤ 1.5);
- the peak RSS of the import process (goal: < 2 GB for 1M rows);
- one point: ``workflows.locate`` (2,000 calls, warm) vs the bare PostGIS
  query ``ST_Covers`` on the GiST index (goal: p99 < 5 ms), and
  ``GridIndex.assign`` on one point vs a bare ``STRtree.query``.

The database is ``DATABASE_URL`` when set (its user needs CREATEDB; scratch
databases are created and dropped), otherwise a fresh embedded PostGIS in a
temporary ``GIS_HOME``, stopped and removed at the end. ``--quick`` runs 50,000
incidents × 5,000 grids as a smoke test (500 single-point calls, grid layers
stored without validation).

Peak memory is the child's own ``VmHWM``: ``getrusage(RUSAGE_CHILDREN)`` and
``wait4`` count the pages a child shares with this large process between fork
and exec (a child of 11 MB shows as 775 MB after the parent touched 800 MB).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

from gis.core.access import SYSTEM
from gis import store, workflows
from gis.core.assignment import GridIndex  # noqa: E402
from gis.demo import district as demo  # noqa: E402
from gis.store import db as gisdb  # noqa: E402

EDGE_SHARE = 0.01           # incidents placed exactly on grid edges (ring vertices)
SINGLE_CALLS = 2000         # calls for the one-point latencies (500 with --quick)
AGREEMENT_GOAL = 0.9999     # GridIndex and sjoin agree off the edges at least this often


def log(text: str) -> None:
    tqdm.write(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr)


@dataclass
class Row:
    figure: str
    value: str
    baseline: str
    baseline_value: str
    ratio: float | None
    goal: str
    ok: bool | None


@dataclass
class Result:
    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


# -- data ------------------------------------------------------------------------------


def dataset_grids(name: str, n_grids: int, seed: int) -> tuple[gpd.GeoDataFrame, float]:
    t = time.perf_counter()
    if name == "synthetic":
        grids = common.synthetic_grids(n_grids, seed=seed, progress=lambda step: log(f"  synthetic grids: {step}"))
    else:
        grids = demo.demo_grids(seed=42)
    return grids, time.perf_counter() - t


def incident_points(grids: gpd.GeoDataFrame, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lon, lat (WGS-84) and a mask of the points placed exactly on edges."""
    rng = np.random.default_rng([seed, n])
    area = grids.loc[grids["level"] == "district"].geometry.iloc[0]
    n_edge = int(round(n * EDGE_SHARE))
    lon, lat = common.points_in(area, n - n_edge, rng=rng)
    elon, elat = common.points_on_edges(grids.loc[grids["level"] == "micro"].geometry.values, n_edge, rng=rng)
    order = rng.permutation(n)
    lon, lat = np.concatenate([lon, elon])[order], np.concatenate([lat, elat])[order]
    on_edge = (np.arange(n) >= n - n_edge)[order]
    return lon, lat, on_edge


# -- 1. the assignment step in memory ----------------------------------------------------------


def best_of(repeat: int, func):
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t)
    return min(times), out


def sjoin_codes(lon: np.ndarray, lat: np.ndarray, grids: gpd.GeoDataFrame, *, predicate: str) -> np.ndarray:
    """geopandas.sjoin from lon/lat arrays to one code per point (the lowest when several)."""
    points = gpd.GeoDataFrame(geometry=gpd.GeoSeries(shapely.points(lon, lat), crs=4326))
    joined = gpd.sjoin(points, grids, predicate=predicate, how="inner")
    first = joined["code"].sort_values(kind="stable")
    first = first[~first.index.duplicated(keep="first")]
    codes = np.full(len(lon), None, dtype=object)
    codes[first.index.to_numpy()] = first.to_numpy()
    return codes


def assignment_step(result: Result, micro: gpd.GeoDataFrame, lon, lat, on_edge, *, repeat: int) -> np.ndarray:
    n, m = len(lon), len(micro)
    t = time.perf_counter()
    index = GridIndex(micro)
    build = time.perf_counter() - t
    index.assign(lon[:1000], lat[:1000])  # warm-up
    log(f"  GridIndex.assign on {n:,} points (best of {repeat})")
    lib_s, hit = best_of(repeat, lambda: index.assign(lon, lat))
    lib_codes = hit.micro_code

    # sjoin gets its own copy of the geometries: GridIndex prepared its own in place
    grids = gpd.GeoDataFrame({"code": micro["code"].to_numpy()},
                             geometry=gpd.GeoSeries(shapely.from_wkb(shapely.to_wkb(micro.geometry.values)),
                                                    crs=4326))
    sjoin_codes(lon[:1000], lat[:1000], grids, predicate="within")  # warm-up
    log(f"  geopandas.sjoin on {n:,} points (best of {repeat})")
    base_s, base_codes = best_of(repeat, lambda: sjoin_codes(lon, lat, grids, predicate="within"))

    off = ~on_edge
    differ = off & (lib_codes != base_codes)
    agreement = 1 - differ.sum() / max(off.sum(), 1)
    # on edges 'within' finds nothing; the rule is the lowest code among the touching grids
    edge_rule = sjoin_codes(lon[on_edge], lat[on_edge], grids, predicate="intersects")
    edge_wrong = int((lib_codes[on_edge] != edge_rule).sum())
    edge_none_sjoin = int(pd.isna(base_codes[on_edge]).sum())
    ok = agreement >= AGREEMENT_GOAL and edge_wrong == 0
    if not ok:
        result.failures.append(f"assignment disagrees with sjoin: {differ.sum()} off-edge, {edge_wrong} on edges")
    ratio = lib_s / base_s
    result.rows.append(Row(f"assignment step, {n:,} pts x {m:,} grids", f"{n / lib_s:,.0f} pts/s",
                           "geopandas.sjoin within + dedupe", f"{n / base_s:,.0f} pts/s", ratio, "<= 1.0",
                           ratio <= 1.0))
    result.notes += [
        f"assignment step: GridIndex.assign {lib_s:.2f} s vs sjoin {base_s:.2f} s (best of {repeat}; both from "
        f"lon/lat arrays to one code per point); GridIndex built beforehand in {build:.2f} s (not timed; "
        f"built once per grid version); sjoin 'within' builds its STRtree over the points inside the call "
        f"(timed) and queries it with the grids as prepared 'contains' inputs",
        f"agreement off the edges: {off.sum() - differ.sum():,}/{off.sum():,} ({agreement:.6%}), "
        f"{int(differ.sum())} disagreement(s); unassigned: GridIndex {int(pd.isna(lib_codes).sum())}, "
        f"sjoin {int(pd.isna(base_codes).sum())}",
        f"on edges ({int(on_edge.sum()):,} points at shared vertices): sjoin 'within' finds no grid for "
        f"{edge_none_sjoin:,}; GridIndex differs from the lowest code of sjoin 'intersects' for {edge_wrong}",
    ]
    return lib_codes


# -- 2. the whole import vs a bare COPY -------------------------------------------------------

COPY_CODE = """
import json, sys, time
import psycopg2
url, path, table, columns = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
conn = psycopg2.connect(url)
with conn.cursor() as cur:
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (" + ", ".join(f"{c} {t}" for c, t in columns.items()) + ")")
conn.commit()
t = time.perf_counter()
with conn.cursor() as cur, open(path, encoding="utf-8") as fh:
    cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
    rows = cur.rowcount
conn.commit()
seconds = time.perf_counter() - t
hwm = next(float(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": hwm}))
"""


def whole_import(result: Result, url: str, csv_path: Path, n: int, lib_codes: np.ndarray, *,
                 plain_cli: bool) -> None:
    # the file is read once before either run, so both find it in the page cache
    with open(csv_path, "rb") as fh:
        while fh.read(1 << 24):
            pass
    log("  bare COPY baseline (child process)")
    copy = common.run_child([sys.executable, "-c", COPY_CODE, url, str(csv_path), "bench_copy",
                             json.dumps(common.INCIDENT_CSV_COLUMNS)])
    if copy.returncode != 0:
        raise RuntimeError(f"COPY baseline failed: {copy.stdout}")
    copied = json.loads(copy.stdout.strip().splitlines()[-1])
    with gisdb.Database(url, maxconn=1) as database, database.transaction() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE bench_copy")

    log("  python -m gis incidents import (child process)")
    timings_path = Path(tempfile.mkstemp(prefix="import-timings-", suffix=".json")[1])
    env = {"DATABASE_URL": url}
    if plain_cli:
        argv = [sys.executable, "-c", common.PLAIN_CLI_CODE, str(timings_path), "incidents", "import", str(csv_path)]
    else:
        argv = [sys.executable, "-c", common.WORKER_CODE, str(csv_path), str(timings_path)]
    run = common.run_child(argv, env=env)
    text = timings_path.read_text()
    timings_path.unlink(missing_ok=True)
    if run.returncode != 0:
        raise RuntimeError(f"import failed ({run.returncode}): {run.stdout}")
    timings = json.loads(text) if not plain_cli else {}
    peak_mb = timings["peak_mb"] if not plain_cli else float(text) / 1024
    summary = run.stdout.strip().splitlines()[-1]

    # what was stored is what GridIndex gave in memory
    with gisdb.Database(url, maxconn=1) as database, database.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT external_id, micro_code FROM incident WHERE source = '12345'")
        stored = pd.DataFrame(cur.fetchall(), columns=["external_id", "micro_code"])
    expected = pd.Series(lib_codes, index=np.char.add("B", np.arange(n).astype(str)))
    mismatched = int((stored["micro_code"].to_numpy(dtype=object)
                      != expected.reindex(stored["external_id"]).to_numpy(dtype=object)).sum())
    if len(stored) != n or mismatched:
        result.failures.append(f"import stored {len(stored):,} of {n:,} rows, {mismatched} with another micro_code "
                               "than GridIndex in memory")

    ratio = run.seconds / copy.seconds
    result.rows.append(Row(f"whole import, {n:,} rows (CSV -> stored)", f"{n / run.seconds:,.0f} rows/s",
                           "bare COPY, unindexed table", f"{n / copy.seconds:,.0f} rows/s", ratio, "<= 1.5",
                           ratio <= 1.5))
    goal_mb = 2048  # the goal, for 1M rows
    result.rows.append(Row("peak RSS of the import process", f"{peak_mb:,.0f} MB",
                           "bare COPY client process", f"{copied['peak_mb']:,.0f} MB", peak_mb / copied["peak_mb"],
                           f"< {goal_mb:,.0f} MB", peak_mb < goal_mb))
    result.notes += [
        f"import: {run.seconds:.1f} s wall for the whole process ({summary}); bare COPY: {copy.seconds:.1f} s wall "
        f"for its process, {copied['seconds']:.1f} s in COPY itself; stored rows checked against GridIndex in "
        f"memory: {len(stored):,} rows, {mismatched} mismatch(es)",
    ]
    if timings:
        s = timings["seconds"]
        main_s = timings["cli.main"]
        store_s = s.get("store_incidents (all of the above but read)", 0.0)
        commit_s = s.get("import_incidents", 0.0) - store_s
        lines = [("python startup + imports", run.seconds - main_s)]
        for label in ("connect", "db init (migrations check)", "load grids + build GridIndex", "read + check CSV",
                      "prepare (assign, tier, due, assignee)", "  of which GridIndex.assign",
                      "  of which deadlines.due_at_many", "  of which dispatch.assignees_many",
                      "COPY to staging (save_incoming)", "upsert into incident (save_incoming_merged)",
                      "save rejects"):
            if label in s:
                lines.append((label, s[label]))
        lines.append(("commit + batch row (import_incidents - store_incidents)", commit_s))
        accounted = sum(v for k, v in lines if not k.startswith("  "))
        lines.append(("other (cli, printing, ...)", run.seconds - accounted))
        width = max(len(k) for k, _ in lines)
        hwm = timings.get("hwm", [])
        peak = max((v for _, v in hwm), default=float("nan"))
        first_peak = next((k for k, v in hwm if v >= peak * 0.98), "?")
        result.notes.append("import breakdown (seconds, share of the process wall time):\n" + "\n".join(
            f"    {k.ljust(width)}  {v:7.2f}  {v / run.seconds:6.1%}" for k, v in lines)
            + f"\n    peak RSS reached (within 2 %) during: {first_peak.strip()}; "
              f"chunks read: {timings['calls'].get('read + check CSV', 0)}")


# -- 3. one point at a time ------------------------------------------------------------------


COVERS_SQL = """SELECT code FROM grid
WHERE version_id = %(v)s AND level = 'micro'
  AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
ORDER BY code LIMIT 1"""


def single_points(result: Result, url: str, micro: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, seed: int, *,
                  calls: int) -> None:
    rng = np.random.default_rng([seed, 99])
    area = grids.loc[grids["level"] == "district"].geometry.iloc[0]
    lon, lat = common.points_in(area, calls, rng=rng)
    with workflows.Services.for_url(url, principal=SYSTEM, maxconn=2) as services:
        workflows.locate(services, float(lon[0]), float(lat[0]))  # warm: the index is built and cached
        version_id = workflows.grid_version(services).id
        locate_s, sql_s, found = [], [], 0
        for x, y in tqdm(list(zip(lon.tolist(), lat.tolist())), desc="  locate", leave=False, mininterval=0.5):
            t = time.perf_counter()
            hit = workflows.locate(services, x, y)
            locate_s.append(time.perf_counter() - t)
            found += hit["assigned"]
        with services.connection() as conn, conn.cursor() as cur:
            cur.execute(COVERS_SQL, {"v": version_id, "lon": float(lon[0]), "lat": float(lat[0])})
            for x, y in tqdm(list(zip(lon.tolist(), lat.tolist())), desc="  SQL", leave=False, mininterval=0.5):
                t = time.perf_counter()
                cur.execute(COVERS_SQL, {"v": version_id, "lon": x, "lat": y})
                cur.fetchone()
                sql_s.append(time.perf_counter() - t)
    p50, p99 = common.percentiles_ms(locate_s)
    b50, b99 = common.percentiles_ms(sql_s)
    result.rows.append(Row(f"workflows.locate, 1 point, p50 ({calls:,} calls)", f"{p50:.2f} ms",
                           "bare SQL ST_Covers (GiST)", f"{b50:.2f} ms", p50 / b50, "", None))
    result.rows.append(Row("workflows.locate, 1 point, p99", f"{p99:.2f} ms", "bare SQL ST_Covers (GiST)",
                           f"{b99:.2f} ms", p99 / b99, "< 5 ms", p99 < 5.0))
    if found != calls:
        result.failures.append(f"locate found a micro-grid for {found} of {calls} points inside the area")

    index = GridIndex(micro)
    tree_codes = index.micro_codes
    lib_s, base_s = [], []
    index.assign([lon[0]], [lat[0]])
    for x, y in zip(lon.tolist(), lat.tolist()):
        t = time.perf_counter()
        index.assign([x], [y])
        lib_s.append(time.perf_counter() - t)
    for x, y in zip(lon.tolist(), lat.tolist()):
        t = time.perf_counter()
        hits = index.micro_tree.query(shapely.Point(x, y), predicate="covered_by")
        _ = tree_codes[hits.min()] if len(hits) else None
        base_s.append(time.perf_counter() - t)
    p50, p99 = common.percentiles_ms(lib_s)
    b50, b99 = common.percentiles_ms(base_s)
    result.rows.append(Row("GridIndex.assign, 1 point, p50", f"{p50:.3f} ms", "bare STRtree.query covered_by",
                           f"{b50:.3f} ms", p50 / b50, "", None))
    result.rows.append(Row("GridIndex.assign, 1 point, p99", f"{p99:.3f} ms", "bare STRtree.query covered_by",
                           f"{b99:.3f} ms", p99 / b99, "", None))


# -- one dataset ----------------------------------------------------------------------------------


def run_dataset(server: common.BenchServer, name: str, *, n: int, n_grids: int, seed: int, repeat: int,
                workdir: Path, skip_validation: bool, plain_cli: bool, calls: int) -> Result:
    log(f"{name}: building grids")
    grids, grids_s = dataset_grids(name, n_grids, seed)
    micro = grids.loc[grids["level"] == "micro", ["code", "geometry"]].reset_index(drop=True)
    verts = common.ring_vertex_counts(micro.geometry.values)
    title = ("synthetic district" if name == "synthetic" else "demo district 中原区 (seed 42)")
    result = Result(f"{title}: {len(micro):,} micro-grids, {n:,} incidents")
    counts = grids["level"].value_counts()
    result.notes.append(
        f"grids: {', '.join(f'{lvl} {counts.get(lvl, 0):,}' for lvl in ('district', 'street', 'community', 'grid', 'micro', 'exclusive') if counts.get(lvl, 0))}; "
        f"micro vertices min/median/max {verts.min()}/{int(np.median(verts))}/{verts.max()}; built in {grids_s:.1f} s")

    log(f"{name}: {n:,} incident points")
    lon, lat, on_edge = incident_points(grids, n, seed)
    lib_codes = assignment_step(result, micro, lon, lat, on_edge, repeat=repeat)

    log(f"{name}: storing the grid layer")
    url = server.create_database(f"gis_bench_{name}")
    with gisdb.Database(url, maxconn=2) as database:
        t = time.perf_counter()
        if skip_validation:
            with database.transaction() as conn:
                version_id = store.save_grid_version(conn, note=f"benchmark {name}")
                store.save_grids(conn, grids, version_id=version_id)
                store.save_version_active(conn, version_id=version_id)
            how = "store.save_grids without workflows validation (--skip-validation, default with --quick)"
        else:
            # not a context manager here: closing the services would close the pool used below
            saved = workflows.save_grid_layer(workflows.Services(database), grids, note=f"benchmark {name}",
                                                  replace_all=True)
            warnings = int((saved.problems["severity"] == "warning").sum()) if len(saved.problems) else 0
            how = f"workflows.save_grid_layer, validated ({warnings} warning(s))"
        with database.transaction() as conn:
            store.save_staff(conn, demo.demo_staff(grids, seed=42))
        result.notes.append(f"grid layer stored with {how} in {time.perf_counter() - t:.1f} s; staff roster from "
                            "gis.demo.demo_staff")

    csv_path = workdir / f"incidents_{name}_{n}.csv"
    log(f"{name}: writing {csv_path.name}")
    size = common.write_incident_csv(csv_path, lon, lat)
    result.notes.append(f"CSV: {n:,} rows, {size / 1e6:,.0f} MB (full-precision coordinates)")
    del lon, lat
    gc.collect()
    whole_import(result, url, csv_path, n, lib_codes, plain_cli=plain_cli)
    csv_path.unlink(missing_ok=True)
    del lib_codes
    gc.collect()

    log(f"{name}: one point at a time")
    single_points(result, url, micro, grids, seed, calls=calls)
    return result


# -- output ---------------------------------------------------------------------------------------


def print_result(result: Result) -> None:
    print()
    print(f"== {result.name}")
    rows = [[r.figure, r.value, r.baseline, r.baseline_value,
             "-" if r.ratio is None else f"{r.ratio:.2f}", r.goal or "-",
             "" if r.ok is None else ("yes" if r.ok else "NO")] for r in result.rows]
    print(common.table(rows, ["figure", "library", "baseline", "baseline value", "ratio", "goal", "met"]))
    for note in result.notes:
        print(f"  - {note}")
    for failure in result.failures:
        print(f"  ! {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, help="incidents per dataset (default 1,000,000)")
    parser.add_argument("--grids", type=int, help="synthetic micro-grids (default 50,000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50,000 incidents x 5,000 grids")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, help="runs of the in-memory assignment, best kept (default 2; 1 quick)")
    parser.add_argument("--only", choices=["synthetic", "demo"], help="one dataset only")
    parser.add_argument("--skip-validation", action="store_true",
                        help="store the grid layers without workflows validation (default with --quick; "
                             "validating 50k grids takes about a minute)")
    parser.add_argument("--plain-cli", action="store_true",
                        help="run the import as plain `python -m gis incidents import` (no step breakdown)")
    args = parser.parse_args(argv)
    n = args.incidents or (50_000 if args.quick else 1_000_000)
    n_grids = args.grids or (5_000 if args.quick else 50_000)
    repeat = args.repeat or (1 if args.quick else 2)
    if n < 1000 or n_grids < 100:
        parser.error("use at least 1000 incidents and 100 grids")

    started = time.perf_counter()
    info = common.machine()
    datasets = [args.only] if args.only else ["synthetic", "demo"]
    results: list[Result] = []
    with common.BenchServer() as server, tempfile.TemporaryDirectory(prefix="assign-bench-") as workdir:
        info.update(common.server_versions(server.create_database("gis_bench_info")))
        info["database"] = "DATABASE_URL" if server.external else "fresh embedded PostGIS (temporary GIS_HOME)"
        for name in datasets:
            results.append(run_dataset(server, name, n=n, n_grids=n_grids, seed=args.seed, repeat=repeat,
                                       workdir=Path(workdir), skip_validation=args.skip_validation or args.quick,
                                       plain_cli=args.plain_cli, calls=500 if args.quick else SINGLE_CALLS))
    print(f"benchmarks/assign.py — {time.strftime('%Y-%m-%d %H:%M')} — "
          f"{'--quick ' if args.quick else ''}{n:,} incidents, synthetic {n_grids:,} micro-grids")
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"  {key.ljust(width)}  {value}")
    print(f"  {'load average at end'.ljust(width)}  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for result in results:
        print_result(result)
    print(f"\nratio = library / baseline (time, or memory); 'met' compares with the issue's goal. "
          f"Total run {time.perf_counter() - started:,.0f} s.")
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
