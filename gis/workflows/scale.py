"""City scale: the case history as GeoParquet, and counts per grid × period on a Dask cluster.

Live cases stay in PostGIS; the history of a city (tens of millions of points) goes to a folder
of GeoParquet files partitioned by month (:mod:`gis.io.history_files`) and is counted where it
fits: in this process one file at a time (``client=None``), on a ``distributed.LocalCluster`` or on
a real Dask cluster (``--scheduler``). Every path reduces each partition with the same pure
:func:`gis.core.scale.partition_counts` (GridIndex's assignment rule) and sums the partials, so
they agree exactly with each other and with PostGIS (:func:`aggregate_in_database`).
"""

from __future__ import annotations

import contextlib
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gis.core import access, scale
from gis.core.hierarchy import GridTree
from gis.errors import InputError
from gis.io import history_files
from gis.io.paths import writable_path
from gis.store import access as access_store
from gis.store import history as history_store
from gis.workflows.context import Services

Progress = Callable[[str, int, int], None]

#: Cases per file of the export: a month with more is split into parts (a partition of the cluster).
ROWS_PER_FILE = 500_000


# -- export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryExport:
    """What :func:`export_history` wrote: rows, files and the months (``YYYY-MM``) in order."""

    directory: Path
    rows: int
    files: list[Path] = field(default_factory=list)
    months: list[str] = field(default_factory=list)


def _empty_folder(directory: str | Path) -> Path:
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} is a file, not a folder", field="PATH",
                         fix="give a folder for the monthly GeoParquet parts")
    if root.is_dir() and any(root.iterdir()):
        raise InputError(f"the folder {root} is not empty", field="PATH",
                         fix="give a new or empty folder (an export never mixes with an older one)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder {root}: {exc.strerror or exc}", field="PATH",
                         fix="give a folder in a writable place") from None
    return root


def export_history(services: Services, directory: str | Path, *, rows_per_file: int = ROWS_PER_FILE,
                   chunk_rows: int = 50_000, progress: Progress | None = None) -> HistoryExport:
    """Write every incident as GeoParquet under ``directory``, partitioned by the month of report
    (China time): ``month=YYYY-MM/part-NNN.parquet`` with the CSV export's columns plus WKB points
    (WGS-84). The cases stream from a server-side cursor, oldest first: memory holds one month's
    buffer of at most ``rows_per_file`` cases, never the history. The export is audited."""
    if rows_per_file < 1:
        raise InputError("rows_per_file must be at least 1", field="rows_per_file", fix="give a positive number")
    root = _empty_folder(directory)
    services.require(access.EXPORT, action_zh="导出工单")
    files: list[Path] = []
    months: list[str] = []
    buffer: list[pd.DataFrame] = []
    state = {"month": None, "part": 0, "buffered": 0, "rows": 0}

    def flush() -> None:
        if not state["buffered"]:
            return
        frame = pd.concat(buffer, ignore_index=True)
        path = history_files.part_path(root, state["month"], state["part"])
        history_files.write_part(frame, path)
        files.append(path)
        state["rows"] += len(frame)
        state["part"] += 1
        state["buffered"] = 0
        buffer.clear()
        if progress:
            progress("写出历史工单", state["rows"], 0)

    with services.transaction() as conn:
        for chunk in history_store.iter_history_export(conn, chunk_rows=chunk_rows):
            frame = pd.DataFrame.from_records(chunk, columns=history_store.HISTORY_EXPORT_COLUMNS)
            month = history_files.month_of(frame["reported_at"])
            # rows come oldest first, so each month is one run of the chunk
            for label, rows in frame.groupby(month.to_numpy(), sort=True):
                if label != state["month"]:
                    flush()
                    state["month"], state["part"] = label, 0
                    months.append(label)
                start = 0
                while start < len(rows):
                    take = rows.iloc[start:start + rows_per_file - state["buffered"]]
                    buffer.append(take)
                    state["buffered"] += len(take)
                    start += len(take)
                    if state["buffered"] >= rows_per_file:
                        flush()
        flush()
        access_store.save_audit(conn, action="export", object="incidents",
                                detail={"rows": state["rows"], "format": "parquet", "path": str(root),
                                        "files": len(files)})
    return HistoryExport(root, state["rows"], files, months)


def export_grids_file(services: Services, path: str | Path, *, version_id: int | None = None,
                      level: str | None = None) -> int:
    """Write the grids of a version (the active one by default) to ``path``: GeoParquet for
    ``.parquet``, else GeoJSON / GeoPackage / Shapefile by extension (:func:`gis.io.grid_files.grids_to_file`)."""
    from gis.core import hierarchy
    from gis.io import grid_files

    if level is not None and level not in hierarchy.ALL_LEVELS:
        raise InputError(f"level '{level}' is not a grid level", field="level",
                         fix=f"use one of {', '.join(hierarchy.ALL_LEVELS)}")
    parquet = Path(path).suffix.lower() == ".parquet"
    writable_path(path, field="PATH")
    with services.connection() as conn:
        version = services.version(conn, version_id)
    grids = version.grids if level is None else version.level(level)
    if parquet:
        return history_files.grids_to_parquet(grids, path)
    return grid_files.grids_to_file(grids, path)


# -- aggregation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    """The counts of :func:`aggregate_history` and what it read."""

    counts: pd.DataFrame   # code, name, <by>, [category,] count
    points: int            # points counted (after the category filter)
    outside: int           # of which outside every micro-grid (not in counts)
    partitions: int
    seconds: float
    where: str             # "in-process", "LocalCluster(2 workers)", "tcp://…"


def grids_of_version(services: Services, *, version_id: int | None = None) -> gpd.GeoDataFrame:
    """The grids of a stored version (the active one by default), to aggregate under."""
    with services.connection() as conn:
        return services.version(conn, version_id).grids


@contextlib.contextmanager
def _without_callers_main() -> Iterator[None]:
    """Start worker processes without the caller's ``__main__``: multiprocessing's spawn re-runs the
    parent's main script in each new process, and a script that cannot run twice (a Streamlit page,
    a test runner's stand-in module) kills the worker before it starts. Workers need the gis
    package, not the caller's script."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


@contextlib.contextmanager
def dask_client(*, scheduler: str | None = None, workers: int = 2) -> Iterator:
    """A ``distributed.Client``: on the cluster at ``scheduler`` (``tcp://HOST:PORT``), or on a
    ``LocalCluster`` of ``workers`` single-threaded processes (localhost only, no dashboard),
    closed on exit."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__})",
                             field="--scheduler", fix="start dask-scheduler there, or check the address "
                                                       "(tcp://HOST:8786)") from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise InputError(f"--workers {workers} is not a number of workers", field="--workers",
                         fix="give 1 or more (0 counts in this process, without Dask)")
    with _without_callers_main():
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1")
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def describe_client(client) -> str:
    """``LocalCluster(2 workers)`` or the scheduler's address, for the summary line."""
    if client is None:
        return "in-process"
    workers = len(client.scheduler_info().get("workers", {}))
    cluster = getattr(client, "cluster", None)
    if cluster is not None and type(cluster).__name__ == "LocalCluster":
        return f"LocalCluster({workers} workers)"
    return f"{client.scheduler.address} ({workers} workers)"


def _check(level: str, by: str) -> None:
    scale.check_level(level)
    scale.check_period(by)


def aggregate_history(directory: str | Path, *, grids: gpd.GeoDataFrame, level: str, by: str,
                      categories: Sequence[str] | None = None, by_category: bool = False, client=None,
                      progress: Progress | None = None) -> Aggregate:
    """Counts of the history in ``directory`` per grid at ``level`` × period (``by``: day, week,
    month, China time) [× category], each point in the micro-grid of ``grids`` that covers it
    (lowest code on shared edges: :class:`gis.core.assignment.GridIndex`).

    Parameters
    ----------
    directory
        A GeoParquet history (:func:`export_history`; any folder of GeoParquet files with
        ``reported_at``, ``category`` and WGS-84 points).
    grids
        A version's grids (all levels: the tree rolls micro-grids up to ``level``), WGS-84.
    categories
        Count only these category codes (None: all).
    by_category
        A ``category`` column: each category counted apart.
    client
        A ``distributed.Client`` (:func:`dask_client`): the partitions are read, assigned and
        counted on its workers, and the partial counts summed there; None: in this process, one
        file at a time.

    Returns
    -------
    Aggregate
        ``counts`` with ``code, name, <by>, [category,] count`` by period then code; points outside
        every micro-grid are counted in ``outside``, not in ``counts``.
    """
    _check(level, by)
    files = history_files.history_files(directory)
    if level not in set(grids["level"]):
        raise InputError(f"the grid layer has no {level} grids to count by", field="--level",
                         fix="export every level: python -m gis grids export FILE.parquet (without --level)")
    micro = scale.micro_grids(grids)
    units = scale.units_of_micro(grids, level=level)
    names = GridTree(grids).name
    categories = list(categories) if categories else None
    started = time.perf_counter()
    if client is None:
        partials = []
        for i, path in enumerate(files, start=1):
            points = history_files.read_points(path, categories=categories)
            partials.append(scale.partition_counts(points, micro, units=units, by=by, by_category=by_category,
                                                   categories=categories))
            if progress:
                progress("统计分区", i, len(files))
        summed = pd.concat(partials, ignore_index=True) if partials else scale.empty_partials()
        partitions = len(files)
    else:
        summed, partitions = _aggregate_on_cluster(client, files, micro=micro, units=units, by=by,
                                                   by_category=by_category, categories=categories,
                                                   progress=progress)
    counts, outside = scale.finish_counts(summed, names=names, by=by, by_category=by_category)
    points = int(summed["count"].sum()) if len(summed) else 0
    return Aggregate(counts, points, outside, partitions, time.perf_counter() - started, describe_client(client))


def _aggregate_on_cluster(client, files: list[Path], *, micro: gpd.GeoDataFrame, units: dict, by: str,
                          by_category: bool, categories: list[str] | None,
                          progress: Progress | None = None) -> tuple[pd.DataFrame, int]:
    """Read, assign and count on the cluster; the partials stay on the workers and are summed there
    (a tree reduction of ``groupby().sum()``), so the client receives only grid × period rows."""
    import dask
    import dask_geopandas
    from distributed import as_completed, futures_of

    filters = [("category", "in", categories)] if categories else None
    # the checked file list, not the folder: the same files as in-process, symlinked months included
    # (the month folders' key is not needed: periods come from reported_at)
    points = dask_geopandas.read_parquet([str(p) for p in files], columns=list(scale.POINT_COLUMNS),
                                         filters=filters)
    # the micro-grids and the roll-up go to the workers once, as one key every partition shares
    shared_micro = dask.delayed(micro, pure=True, traverse=False)
    shared_units = dask.delayed(units, pure=True, traverse=False)
    meta = scale.empty_partials()
    partials = points.map_partitions(_partition_counts, shared_micro, shared_units, by=by, by_category=by_category,
                                     categories=categories, meta=meta, align_dataframes=False)
    partials = client.persist(partials)            # computed where they are read, and kept there
    pending = futures_of(partials)
    if progress:
        progress("统计分区", 0, len(pending))
    for done, _ in enumerate(as_completed(pending), start=1):
        if progress:
            progress("统计分区", done, len(pending))
    summed = (partials.fillna({"code": "", "category": ""})
              .groupby(["code", "period", "category"], sort=False)["count"].sum(split_out=1))
    result = client.compute(summed, sync=True)
    frame = result.reset_index()
    for column in ("code", "category"):
        frame[column] = frame[column].astype(object).where(frame[column] != "", None)
    return frame[list(scale.PARTIAL_COLUMNS)], points.npartitions


def _partition_counts(points, micro, units, *, by, by_category, categories):
    # a module-level function, so the workers import it rather than unpickle a closure
    return scale.partition_counts(points, micro, units=units, by=by, by_category=by_category, categories=categories)


def aggregate_in_database(services: Services, *, level: str, by: str, version_id: int | None = None,
                          categories: Sequence[str] | None = None, by_category: bool = False) -> Aggregate:
    """The same counts as :func:`aggregate_history`, of the stored incidents, with PostGIS assigning
    each point (ST_Covers, lowest code on shared edges) and counting per micro-grid × period; rolled
    up and finished by the same functions. The reference the cluster is checked against."""
    _check(level, by)
    started = time.perf_counter()
    with services.transaction() as conn:
        version = services.version(conn, version_id)
        rows = history_store.fetch_covering_micro_counts(conn, version_id=version.id, by=by,
                                                         split_category=by_category, categories=categories)
    grids = version.grids
    units = scale.units_of_micro(grids, level=level)
    rows["period"] = scale.period_labels(pd.to_datetime(rows["period"]), by=by) if len(rows) else rows["period"]
    partials = scale.roll_up(rows, units=units)
    counts, outside = scale.finish_counts(partials, names=GridTree(grids).name, by=by, by_category=by_category)
    return Aggregate(counts, int(partials["count"].sum()) if len(partials) else 0, outside, 1,
                     time.perf_counter() - started, "PostGIS")


__all__ = [
    "ROWS_PER_FILE",
    "Aggregate",
    "HistoryExport",
    "aggregate_history",
    "aggregate_in_database",
    "dask_client",
    "describe_client",
    "export_grids_file",
    "export_history",
    "grids_of_version",
]
