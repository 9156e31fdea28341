"""Shared helpers for the scripts of ``benchmarks/``: the machine, a throw-away
PostGIS, synthetic grids and incidents, child-process timing and a plain table.

Nothing here is part of the library; the scripts call the library the way the
CLI, the app and notebooks do (``gis.workflows``, ``gis.store``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gis.settings import Settings  # noqa: E402
from gis.store import (
    db,
    embedded,
    migrate,  # noqa: E402
)

# Metres per degree near 34.75°N (Zhengzhou), for laying out synthetic data in
# metres and converting once: every shared vertex converts to the same floats.
LON0, LAT0 = 113.60, 34.75
M_PER_DEG_LAT = 110_950.0
M_PER_DEG_LON = 111_320.0 * np.cos(np.radians(LAT0))


# -- the machine -----------------------------------------------------------------------


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, load and library versions (no database)."""
    import geopandas
    import psycopg2
    import pyarrow

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = f"{int(line.split()[1]) / 1024 ** 2:.1f} GB"
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": f"{cpu} ({platform.machine()})",
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "RAM": ram_gb,
        "load average (1/5/15 min) at start": load,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "GEOS (shapely)": f"{shapely.geos_version_string} (shapely {shapely.__version__})",
        "geopandas / pandas / numpy / pyarrow": (f"{geopandas.__version__} / {pd.__version__} / "
                                                 f"{np.__version__} / {pyarrow.__version__}"),
        "psycopg2": psycopg2.__version__.split()[0],
    }


def server_versions(url: str) -> dict[str, str]:
    """PostgreSQL and PostGIS (full) versions of the server at ``url``."""
    with db.Database(url, maxconn=1) as database, database.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version')")
        pg = cur.fetchone()[0]
        cur.execute("SELECT postgis_full_version()")
        full = cur.fetchone()[0]
    postgis = full.split('"')[1] if '"' in full else full
    geos = next((p.split('"')[1] for p in full.split() if p.startswith("GEOS=")), "?")
    return {"PostgreSQL": pg, "PostGIS": f"{postgis} (server GEOS {geos})"}


# -- a throw-away server ----------------------------------------------------------------


def _url_for(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


class BenchServer:
    """``DATABASE_URL`` when set (its user needs CREATEDB), else a fresh embedded PostGIS
    in a temporary ``GIS_HOME``, stopped and removed on exit. Databases made with
    :meth:`create_database` are dropped on exit."""

    def __init__(self) -> None:
        self.external = os.environ.get("DATABASE_URL", "").strip() or None
        self.home: Path | None = None
        self.server: embedded.EmbeddedServer | None = None
        self.admin_url = ""
        self.databases: list[str] = []

    def __enter__(self) -> "BenchServer":
        if self.external:
            self.admin_url = self.external
            return self
        # like tests/conftest.py make_home(): under /tmp and world-enterable, so the
        # unprivileged server user (gisdb, when we are root) can reach it
        self.home = Path(tempfile.mkdtemp(prefix="gis-bench-", dir="/tmp"))
        self.home.chmod(0o755)
        self.server = embedded.EmbeddedServer(Settings(database_url=None, gis_home=self.home, port=None, pg_bin=None))
        try:
            self.server.ensure_running()
        except BaseException:
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        self.admin_url = self.server.url()
        return self

    def _admin(self):
        conn = db.connect(self.admin_url)
        conn.autocommit = True
        return conn

    def create_database(self, name: str) -> str:
        """A new empty database (schema migrated) and its URL."""
        from psycopg2 import sql as pgsql

        name = f"{name}_{os.getpid()}"
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
                cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        finally:
            conn.close()
        self.databases.append(name)
        url = _url_for(self.admin_url, name)
        with db.Database(url, maxconn=1) as database:
            migrate.migrate(database)
        return url

    def __exit__(self, *exc: object) -> None:
        from psycopg2 import sql as pgsql

        try:
            if self.databases:
                conn = self._admin()
                try:
                    with conn.cursor() as cur:
                        for name in self.databases:
                            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                                pgsql.Identifier(name)))
                finally:
                    conn.close()
        finally:
            if self.server is not None:
                self.server.stop()
            if self.home is not None:
                shutil.rmtree(self.home, ignore_errors=True)


# -- synthetic grids -----------------------------------------------------------------------


def _to_degrees(xy: np.ndarray, origin: tuple[float, float]) -> np.ndarray:
    return np.column_stack([origin[0] + xy[:, 0] / M_PER_DEG_LON, origin[1] + xy[:, 1] / M_PER_DEG_LAT])


def synthetic_grids(n_micro: int, *, side_m: float = 20_000.0, seed: int = 1,
                    vertices: tuple[int, int] = (20, 60), per_group: int = 7,
                    progress=None) -> gpd.GeoDataFrame:
    """A five-level hierarchy whose micro level partitions a square of ``side_m`` metres
    centred on 113.60E 34.75N into ``n_micro`` irregular polygons of ``vertices`` vertices.

    Micro-grids are Voronoi cells of a jittered hexagonal lattice (seeds mirrored
    across the square's sides, so the cells tile it exactly); every Voronoi edge gets
    2–8 extra vertices, wiggled sideways by up to 4 % of its length, computed once
    per edge so both neighbours share it exactly (a partition: no gaps, no
    overlaps). Tertiary grids are blocks of ``per_group``×``per_group`` lattice
    sites, communities 3×3 grids, streets 3×3 communities, one district; each
    parent is the coverage union of its children, so nesting is exact.

    Returns the frame (all levels, WGS-84), like :func:`gis.demo.demo_grids`.
    """
    from scipy.spatial import Voronoi

    say = progress or (lambda text: None)
    rng = np.random.default_rng(seed)
    spacing = np.sqrt(2 * side_m * side_m / (np.sqrt(3) * n_micro))
    dy = spacing * np.sqrt(3) / 2
    rows, cols = int(np.ceil(side_m / dy)), int(np.ceil(side_m / spacing))
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x = (c + 0.5 * (r % 2) + 0.25) * spacing + rng.uniform(-0.3, 0.3, r.shape) * spacing
    y = (r + 0.5) * dy + rng.uniform(-0.3, 0.3, r.shape) * dy
    x, y, r, c = x.ravel(), y.ravel(), r.ravel(), c.ravel()
    keep = np.sort(rng.choice(x.size, min(n_micro, x.size), replace=False))
    x, y, r, c = x[keep], y[keep], r[keep], c[keep]
    eps = 1e-3 * spacing
    x, y = np.clip(x, eps, side_m - eps), np.clip(y, eps, side_m - eps)
    n = len(x)
    band = 3 * spacing
    seeds = np.column_stack([x, y])
    mirrors = [np.column_stack([-x, y])[x < band], np.column_stack([x, -y])[y < band],
               np.column_stack([2 * side_m - x, y])[x > side_m - band],
               np.column_stack([x, 2 * side_m - y])[y > side_m - band]]
    say("voronoi")
    vor = Voronoi(np.concatenate([seeds, *mirrors]))
    ridge_points = vor.ridge_points
    chosen = np.flatnonzero((ridge_points[:, 0] < n) | (ridge_points[:, 1] < n))
    ridge_points = ridge_points[chosen]
    ridge_vertices = np.array([vor.ridge_vertices[i] for i in chosen], dtype=np.int64)
    if (ridge_vertices < 0).any():
        raise RuntimeError("an unbounded Voronoi ridge inside the square; use another seed")
    shared = (ridge_points[:, 0] < n) & (ridge_points[:, 1] < n)
    # extra vertices per edge: tuned so that each cell lands in the vertex range
    m = len(ridge_points)
    extra = rng.integers(2, 9, m)
    a = np.where(ridge_points[:, 0] < n, ridge_points[:, 0], ridge_points[:, 1])
    b = np.where(ridge_points[:, 1] < n, ridge_points[:, 1], ridge_points[:, 0])
    lo, hi = vertices
    for _ in range(50):
        count = np.zeros(n, np.int64)
        np.add.at(count, a, 1 + extra)
        np.add.at(count, b[shared], 1 + extra[shared])
        if count.min() >= lo and count.max() <= hi:
            break
        low, high = count < lo + 2, count > hi - 2
        extra = extra + ((low[a] | low[b]) & ~(high[a] | high[b])) - (
            (high[a] | high[b]) & ~(low[a] | low[b]) & (extra > 0))
    start, end = vor.vertices[ridge_vertices[:, 0]], vor.vertices[ridge_vertices[:, 1]]
    along = end - start
    length = np.hypot(along[:, 0], along[:, 1])
    normal = np.column_stack([-along[:, 1], along[:, 0]]) / np.maximum(length, 1e-12)[:, None]
    offsets = np.concatenate([[0], np.cumsum(extra)])
    ridge = np.repeat(np.arange(m), extra)
    j = np.arange(len(ridge)) - offsets[ridge]
    t = 0.15 + 0.7 * (j + 0.5 + rng.uniform(-0.3, 0.3, len(ridge))) / extra[ridge]
    # the square's sides stay straight; inner edges wiggle
    wiggle = np.where(shared[ridge], 0.04, 0.0) * length[ridge] * rng.uniform(-1, 1, len(ridge))
    inner = start[ridge] + t[:, None] * along[ridge] + wiggle[:, None] * normal[ridge]
    origin = (LON0 - side_m / 2 / M_PER_DEG_LON, LAT0 - side_m / 2 / M_PER_DEG_LAT)
    corners_deg, inner_deg = _to_degrees(vor.vertices, origin), _to_degrees(inner, origin)
    say("polygons")
    edge_of: dict[tuple[int, int], tuple[int, bool]] = {}
    for i, (u, v) in enumerate(ridge_vertices.tolist()):
        edge_of[(u, v)] = (i, False)
        edge_of[(v, u)] = (i, True)
    rings, sizes = [], []
    for cell in range(n):
        region = vor.regions[vor.point_region[cell]]
        parts = []
        for u, v in zip(region, region[1:] + region[:1]):
            i, backwards = edge_of[(u, v)]
            parts.append(corners_deg[u:u + 1])
            piece = inner_deg[offsets[i]:offsets[i + 1]]
            parts.append(piece[::-1] if backwards else piece)
        parts.append(corners_deg[region[0]:region[0] + 1])
        ring = np.concatenate(parts)
        rings.append(ring)
        sizes.append(len(ring))
    polygons = shapely.polygons(shapely.linearrings(np.concatenate(rings),
                                                    indices=np.repeat(np.arange(n), sizes)))
    polygons = shapely.orient_polygons(polygons)

    # the hierarchy, by lattice blocks; codes sort in reading order
    say("hierarchy")
    g_row, g_col = r // per_group, c // per_group
    c_row, c_col = g_row // 3, g_col // 3
    s_row, s_col = c_row // 3, c_col // 3
    s_cols = int(s_col.max()) + 1
    street_no = s_row * s_cols + s_col
    frame = pd.DataFrame({"street": street_no, "community": c_row * 1000 + c_col, "grid": g_row * 1000 + g_col,
                          "cell": np.arange(n)})
    frame["street_code"] = frame["street"].map(lambda s: f"410199{s + 1:03d}")
    frame["community_code"] = frame["street_code"] + frame.groupby("street")["community"].rank(
        method="dense").astype(int).map(lambda k: f"{k:03d}")
    frame["grid_code"] = frame["community_code"] + frame.groupby("community_code")["grid"].rank(
        method="dense").astype(int).map(lambda k: f"{k:02d}")
    frame["micro_code"] = frame["grid_code"] + frame.groupby("grid_code").cumcount().add(1).map(
        lambda k: f"{k:03d}")
    micro = gpd.GeoDataFrame({"code": frame["micro_code"], "name": "微网格" + frame["micro_code"].str[-8:],
                              "level": "micro", "parent_code": frame["grid_code"],
                              "households": rng.integers(80, 300, n)},
                             geometry=gpd.GeoSeries(polygons, crs=4326))
    micro = micro.sort_values("code", kind="stable", ignore_index=True)
    layers = [micro]
    child = micro.assign(parent_of=micro["parent_code"])
    for level, parent_len, zh in (("grid", 12, "三级网格"), ("community", 9, "社区"), ("street", 6, "街道")):
        groups = child.groupby("parent_of", sort=True)
        codes = list(groups.groups)
        geoms = [shapely.coverage_union_all(child.geometry.values[idx]) for idx in groups.indices.values()]
        households = groups["households"].sum().reindex(codes).to_numpy()
        parents = [code[:parent_len] for code in codes]
        layer = gpd.GeoDataFrame({"code": codes, "name": [f"{zh}{code[6:]}" for code in codes], "level": level,
                                  "parent_code": parents if level != "street" else "410199",
                                  "households": households}, geometry=gpd.GeoSeries(geoms, crs=4326))
        layers.append(layer)
        child = layer.assign(parent_of=layer["parent_code"])
    district = shapely.coverage_union_all(child.geometry.values)
    layers.append(gpd.GeoDataFrame({"code": ["410199"], "name": ["合成区"], "level": ["district"],
                                    "parent_code": [None], "households": [int(child["households"].sum())]},
                                   geometry=gpd.GeoSeries([district], crs=4326)))
    grids = pd.concat(layers[::-1], ignore_index=True)
    parts, owner = shapely.get_parts(grids.geometry.values, return_index=True)
    grids["geometry"] = shapely.multipolygons(parts, indices=owner)
    grids["population"] = (grids["households"] * 2.7).round().astype(int)
    return gpd.GeoDataFrame(grids.drop(columns=["parent_of"], errors="ignore"), geometry="geometry", crs=4326)


def ring_vertex_counts(geoms) -> np.ndarray:
    """Distinct vertices per polygon (the closing vertex not counted twice)."""
    rings = shapely.get_exterior_ring(shapely.get_parts(np.asarray(geoms)))
    return shapely.get_num_coordinates(rings) - 1


# -- synthetic incidents ---------------------------------------------------------------------


def points_in(area, n: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform over a polygon (lon, lat in degrees, WGS-84), by rejection."""
    shapely.prepare(area)
    x0, y0, x1, y1 = area.bounds
    share = max(area.area / ((x1 - x0) * (y1 - y0)), 0.05)
    lons, lats, got = [], [], 0
    while got < n:
        k = int((n - got) / share * 1.1) + 100
        lon, lat = rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)
        inside = shapely.contains_xy(area, lon, lat)
        lons.append(lon[inside])
        lats.append(lat[inside])
        got += int(inside.sum())
    return np.concatenate(lons)[:n], np.concatenate(lats)[:n]


def points_on_edges(geoms, n: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points exactly on grid boundaries: ring vertices, shared bit for bit by neighbours."""
    coords = shapely.get_coordinates(shapely.get_exterior_ring(shapely.get_parts(np.asarray(geoms))))
    pick = rng.integers(0, len(coords), n)
    return coords[pick, 0].copy(), coords[pick, 1].copy()


CATEGORIES = np.array(["env.exposed_garbage", "env.dirty_road", "order.illegal_parking", "order.street_vending",
                       "municipal.manhole", "municipal.streetlight", "safety.fire", "ad.flyer", "dispute",
                       "livelihood", "other", "暴露垃圾"])
STATUSES = np.array(["received", "received", "received", "dispatched", "in_progress", "resolved", "closed"])
DESCRIPTIONS = np.array(["绿地东侧人行道上有暴露垃圾，请尽快处理", "路口车辆乱停放，影响通行", "井盖松动，有安全隐患",
                         "路灯不亮", "店外占道经营", "楼道堆放杂物"])
ADDRESSES = np.array(["郑州市中原区建设路街道桐柏路128号", "郑州市中原区林山寨街道伏牛路66号",
                      "郑州市中原区秦岭路街道中原西路201号"])


def write_incident_csv(path: Path, lon: np.ndarray, lat: np.ndarray, *, seed: int = 7,
                       block: int = 200_000) -> int:
    """Write the points as an incident CSV in the DESIGN.md format (UTF-8, header row).

    Coordinates are written with full precision (round-trip exact), so the rows
    stored are the points assigned in memory. Returns the file's size in bytes.
    """
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00")
    columns = ["source", "external_id", "category", "lon", "lat", "reported_at", "status", "description",
               "address"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(columns) + "\n")
        for first in range(0, len(lon), block):
            k = min(block, len(lon) - first)
            stamps = (start + rng.integers(0, 300 * 86400, k).astype("timedelta64[s]")).astype(str)
            frame = pd.DataFrame({
                "source": "12345",
                "external_id": np.char.add("B", np.arange(first, first + k).astype(str)),
                "category": CATEGORIES[rng.integers(0, len(CATEGORIES), k)],
                "lon": lon[first:first + k],
                "lat": lat[first:first + k],
                "reported_at": np.char.add(stamps, "+08:00"),
                "status": STATUSES[rng.integers(0, len(STATUSES), k)],
                "description": DESCRIPTIONS[rng.integers(0, len(DESCRIPTIONS), k)],
                "address": ADDRESSES[rng.integers(0, len(ADDRESSES), k)],
            })
            frame.to_csv(handle, header=False, index=False, lineterminator="\n")
    return path.stat().st_size


INCIDENT_CSV_COLUMNS = {"source": "text", "external_id": "text", "category": "text", "lon": "double precision",
                        "lat": "double precision", "reported_at": "text", "status": "text", "description": "text",
                        "address": "text"}


# -- child processes: wall time and peak memory --------------------------------------------


@dataclass
class ChildRun:
    """A finished child process: exit code, wall seconds, output."""

    returncode: int
    seconds: float
    stdout: str


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> ChildRun:
    """Run a command (its stderr, e.g. progress bars, goes to ours); wall time from start to exit.

    Peak memory is not taken from ``getrusage``/``wait4`` here: a child's ``ru_maxrss``
    includes the pages it shared with this (large) process between fork and exec,
    so the children report their own ``VmHWM``, which exec resets.
    """
    full_env = {**os.environ, **(env or {})}
    started = time.perf_counter()
    done = subprocess.run(list(argv), stdout=subprocess.PIPE, env=full_env, cwd=cwd)
    return ChildRun(done.returncode, time.perf_counter() - started, done.stdout.decode("utf-8", "replace"))


def vm_hwm_mb(pid: str = "self") -> float:
    """Peak resident memory (VmHWM) of a process in MB, since its last exec."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ``python -m gis ARGS`` as is, reporting its VmHWM to HWM_PATH at exit:
#   python -c PLAIN_CLI_CODE HWM_PATH ARGS...
PLAIN_CLI_CODE = ("import atexit, runpy, sys; from pathlib import Path; out = sys.argv[1]; "
                  "atexit.register(lambda: Path(out).write_text(next((l.split()[1] for l in "
                  "open('/proc/self/status') if l.startswith('VmHWM:')), 'nan'))); "
                  "sys.argv = ['gis', *sys.argv[2:]]; runpy.run_module('gis', run_name='__main__')")


# -- figures ---------------------------------------------------------------------------------


def percentiles_ms(seconds: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(seconds) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def table(rows: list[Sequence[str]], header: Sequence[str]) -> str:
    """A plain monospace table; the first column left-aligned, the others right-aligned."""
    cells = [list(map(str, header))] + [list(map(str, row)) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = "-+-".join("-" * w for w in widths)
    out = []
    for k, row in enumerate(cells):
        out.append(" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w)
                              in enumerate(zip(row, widths))))
        if k == 0:
            out.append(line)
    return "\n".join(out)


# -- the import, instrumented ------------------------------------------------------------------

# Run in a child process: ``python -c WORKER_CODE PATH TIMINGS_JSON`` with DATABASE_URL set.
WORKER_CODE = ("import sys; sys.path.insert(0, {bench!r}); import _common; "
               "sys.exit(_common.instrumented_cli(sys.argv[1], sys.argv[2]))").format(
    bench=str(Path(__file__).resolve().parent))


def instrumented_cli(csv_path: str, timings_path: str) -> int:
    """``python -m gis incidents import CSV_PATH`` (the same ``gis.cli.main``), with
    timers around the steps of the import, written as JSON to ``timings_path``.

    The hooks wrap module attributes the import looks up at call time, so the code
    path is the CLI's own; their overhead is a few microseconds per chunk.
    """
    import functools

    started = time.perf_counter()
    from gis import cli, store, workflows
    from gis.core import assignment, dispatch
    from gis.core.intake import reader as incidents
    from gis.core.rules import deadlines
    from gis.workflows import admin as admin_jobs
    from gis.workflows import incidents as incident_jobs

    seconds: dict[str, float] = {}
    calls: dict[str, int] = {}
    hwm: list[tuple[str, float]] = []

    def timed(owner, attr: str, label: str) -> None:
        inner = getattr(owner, attr)

        @functools.wraps(inner)
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - t
                calls[label] = calls.get(label, 0) + 1
                hwm.append((label, vm_hwm_mb()))
        setattr(owner, attr, wrapper)

    reader_iter = incidents.IncidentReader.__iter__

    def timed_iter(self):
        iterator = reader_iter(self)
        while True:
            t = time.perf_counter()
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            finally:
                seconds["read + check CSV"] = seconds.get("read + check CSV", 0.0) + time.perf_counter() - t
                hwm.append(("read + check CSV", vm_hwm_mb()))
            calls["read + check CSV"] = calls.get("read + check CSV", 0) + 1
            yield chunk
    incidents.IncidentReader.__iter__ = timed_iter

    timed(workflows, "connect", "connect")
    timed(admin_jobs, "connect", "connect")
    timed(incident_jobs, "dispatch_context", "load grids + build GridIndex")
    timed(incident_jobs, "prepare_incidents", "prepare (assign, tier, due, assignee)")
    timed(assignment.GridIndex, "assign", "  of which GridIndex.assign")
    timed(deadlines, "due_at_many", "  of which deadlines.due_at_many")
    timed(dispatch, "assignees_many", "  of which dispatch.assignees_many")
    timed(store, "save_incoming", "COPY to staging (save_incoming)")
    timed(store, "save_incoming_merged", "upsert into incident (save_incoming_merged)")
    timed(store, "save_import_rejects", "save rejects")
    timed(incident_jobs, "store_incidents", "store_incidents (all of the above but read)")
    timed(workflows, "import_incidents", "import_incidents")
    imported = time.perf_counter()
    code = cli.main(["incidents", "import", csv_path])
    finished = time.perf_counter()
    Path(timings_path).write_text(json.dumps({
        "python startup + imports": imported - started, "cli.main": finished - imported,
        "seconds": seconds, "calls": calls, "hwm": hwm, "peak_mb": vm_hwm_mb()}))
    return code
