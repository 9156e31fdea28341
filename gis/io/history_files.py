"""The case history as GeoParquet (pure: no database): incidents partitioned by month, grids, counts.

Layout of an incident export (a Hive-partitioned dataset that ``dask_geopandas.read_parquet(DIR)``
and ``geopandas.read_parquet`` / pyarrow read back as one table)::

    DIR/month=2026-04/part-000.parquet
    DIR/month=2026-05/part-000.parquet
    DIR/month=2026-05/part-001.parquet     (a month of more than ``rows_per_file`` cases)

* Every file is GeoParquet 1.x written by geopandas ``to_parquet``: WKB points in a ``geometry``
  column, WGS-84 (EPSG:4326) in the ``geo`` metadata. Its columns are those of the CSV export
  (:func:`gis.io.incident_files.incidents_to_csv`, same names, same order) plus ``geometry``.
* Unlike the CSV, values keep their types: times are ``timestamp[us, Asia/Shanghai]``, lon/lat
  doubles, text is text even in a part where every value is missing, so all parts share one schema.
* The month (of ``reported_at``, China time) is the folder: reading the folder as a dataset adds a
  ``month`` column from it, and ``filters=[("month", ">=", "2026-01")]`` skips whole months.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.core.china_time import CHINA_TZ
from gis.core.scale import POINT_COLUMNS, period_labels
from gis.io.incident_files import EXPORT_COLUMNS
from gis.errors import InputError

#: Columns stored as times (China time), when present.
TIME_COLUMNS = ("reported_at", "due_at", "closed_at")
#: Columns stored as doubles.
NUMBER_COLUMNS = ("lon", "lat")
#: The Hive partition key: the month of ``reported_at`` in China time.
PARTITION_KEY = "month"
#: Columns a history must hold for :mod:`gis.workflows.scale` to count it.
NEEDED_COLUMNS = POINT_COLUMNS  # what a partition is counted from
_WGS84 = "EPSG:4326"


def history_columns(columns: Sequence[str]) -> list[str]:
    """The order of the CSV export for a frame with ``columns``: :data:`EXPORT_COLUMNS` first, then
    the others in frame order (what :func:`gis.io.incident_files.incidents_to_csv` writes)."""
    return list(EXPORT_COLUMNS) + [c for c in columns if c not in EXPORT_COLUMNS]


def month_of(moments: pd.Series) -> pd.Series:
    """``YYYY-MM`` of each moment in China time (a naive moment is read as China time): the month
    partition a case is written to, the same label ``aggregate --by month`` counts it under."""
    return period_labels(moments, by="month")


def part_path(directory: str | os.PathLike, month: str, part: int) -> Path:
    """``DIR/month=YYYY-MM/part-NNN.parquet``."""
    return Path(directory) / f"{PARTITION_KEY}={month}" / f"part-{part:03d}.parquet"


def incidents_frame(incidents: pd.DataFrame) -> gpd.GeoDataFrame:
    """Incidents (lon/lat in degrees, WGS-84) as the GeoDataFrame a part holds: the CSV export's
    columns in its order, typed (times in China time, text as text), and ``geometry`` Points
    (None where lon/lat are missing)."""
    for column in ("source", "external_id", "category", "lon", "lat", "reported_at"):
        if column not in incidents.columns:
            raise InputError(f"the incident frame lacks column {column}",
                             fix="pass the frame of the store's incident export")
    frame = incidents.reset_index(drop=True)
    for name in ("description", "micro_code", "exclusive_code"):
        if name not in frame.columns:
            frame[name] = None
    frame = frame[history_columns(frame.columns)].copy()
    for name in frame.columns:
        if name in TIME_COLUMNS:
            stamps = pd.to_datetime(frame[name], utc=True)
            frame[name] = stamps.dt.tz_convert(CHINA_TZ).astype(f"datetime64[us, {CHINA_TZ.key}]")
        elif name in NUMBER_COLUMNS:
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
        else:
            frame[name] = frame[name].astype("string")
    lon = frame["lon"].to_numpy(dtype=float)
    lat = frame["lat"].to_numpy(dtype=float)
    points = gpd.points_from_xy(lon, lat, crs=_WGS84)
    missing = ~(np.isfinite(lon) & np.isfinite(lat))
    geometry = gpd.GeoSeries(points, crs=_WGS84)
    if missing.any():
        geometry[missing] = None
    return gpd.GeoDataFrame(frame, geometry=geometry.rename("geometry"), crs=_WGS84)


def write_part(incidents: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write one part of the history (:func:`incidents_frame`) as GeoParquet; return its rows.
    The folder is created; an existing file is replaced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = incidents_frame(incidents)
    frame.to_parquet(path, index=False, compression="zstd", schema_version="1.0.0")
    return len(frame)


def grids_to_parquet(grids: gpd.GeoDataFrame, path: str | os.PathLike) -> int:
    """Write grids (``code, name, level, parent_code, households, population``, MultiPolygons,
    WGS-84) as one GeoParquet file; return their number. An existing file is replaced."""
    from gis.io.grid_files import _as_multipolygon  # noqa: PLC0415 (the grid writers' own helper)

    columns = [c for c in ("code", "name", "level", "parent_code", "households", "population") if c in grids]
    frame = grids[columns + [grids.geometry.name]].copy()
    frame = frame.to_crs(_WGS84) if frame.crs is not None else frame.set_crs(_WGS84)
    shapes = gpd.GeoSeries([_as_multipolygon(g) for g in frame.geometry], index=frame.index, crs=_WGS84)
    frame = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=shapes.rename("geometry"),
                             crs=_WGS84)
    for column in ("code", "name", "level", "parent_code"):
        if column in frame:
            frame[column] = frame[column].astype("string")
    for column in ("households", "population"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    path = Path(path)
    try:
        frame.reset_index(drop=True).to_parquet(path, index=False, compression="zstd", schema_version="1.0.0")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}",
                         fix="check that the folder exists and is writable") from None
    return len(frame)


def grids_from_parquet(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Read a grid layer written by :func:`grids_to_parquet` (``grids export FILE.parquet``).

    Raises
    ------
    InputError
        For a missing or unreadable file, one without GeoParquet metadata, without the grid
        properties, or in another CRS than WGS-84.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}", field="--grids", fix="check the path")
    geo_metadata(path, field="--grids")
    frame = gpd.read_parquet(path)
    missing = [c for c in ("code", "name", "level", "parent_code") if c not in frame.columns]
    if missing:
        raise InputError(f"{path.name} lacks the grid column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                         field="--grids", fix="write the layer with python -m gis grids export FILE.parquet")
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        frame = frame.set_crs(_WGS84) if frame.crs is None else frame.to_crs(_WGS84)
    for column in ("code", "name", "level", "parent_code"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def geo_metadata(path: Path, *, field: str) -> dict:
    """The ``geo`` metadata of a GeoParquet file (footer only); :class:`InputError` naming the file
    when it is not Parquet or has no such metadata."""
    import json

    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path} is not a Parquet file ({reason})", field=field,
                         fix="give files written by python -m gis incidents export DIR --format parquet") from None
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        raise InputError(f"{path} is Parquet without GeoParquet metadata (no 'geo' key)", field=field,
                         fix="write it with geopandas to_parquet, or python -m gis incidents export DIR "
                             "--format parquet")
    return json.loads(raw)


def history_files(directory: str | os.PathLike) -> list[Path]:
    """The Parquet files of a history folder (every ``*.parquet`` below it, sorted), checked to be
    GeoParquet with :data:`NEEDED_COLUMNS`.

    Raises
    ------
    InputError
        For a missing folder, one without Parquet files, or a file that is not GeoParquet or lacks
        a needed column (naming the file and the fix).
    """
    import pyarrow.parquet as pq

    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"no such folder: {root}", field="DIR",
                         fix="give the folder written by python -m gis incidents export DIR --format parquet")
    files = sorted(Path(folder) / name for folder, _, names in os.walk(root, followlinks=True)
                   for name in names if name.endswith(".parquet") and (Path(folder) / name).is_file())
    if not files:
        raise InputError(f"{root} holds no .parquet files", field="DIR",
                         fix="export the history first: python -m gis incidents export DIR --format parquet")
    for path in files:
        geo_metadata(path, field="DIR")
        names = set(pq.read_schema(path).names)
        missing = [c for c in NEEDED_COLUMNS if c not in names]
        if missing:
            raise InputError(f"{path} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                             field="DIR",
                             fix="give files written by python -m gis incidents export DIR --format parquet")
    return files


def read_points(path: str | os.PathLike, *, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """One file's ``reported_at``, ``category`` and ``geometry`` (WKB bytes, not yet decoded), only the
    given categories (None: all): what :func:`gis.core.scale.partition_counts` takes."""
    import pyarrow.parquet as pq

    filters = [("category", "in", list(categories))] if categories else None
    table = pq.read_table(path, columns=list(NEEDED_COLUMNS), filters=filters, partitioning=None)
    return table.to_pandas(types_mapper=None)


#: Output formats of the counts, by file extension.
COUNT_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def counts_format(path: str | os.PathLike) -> str:
    """``csv`` or ``parquet`` from the file name; :class:`InputError` naming the fix otherwise."""
    fmt = COUNT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of '{path}'", field="--out", fix="use a .csv or .parquet file name")
    return fmt


def write_counts(counts: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write aggregated counts as CSV (UTF-8 with BOM, for Excel) or Parquet, by extension; return rows."""
    path = Path(path)
    if counts_format(path) == "csv":
        counts.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    else:
        counts.to_parquet(path, index=False)
    return len(counts)


__all__ = [
    "COUNT_FORMATS",
    "NEEDED_COLUMNS",
    "PARTITION_KEY",
    "counts_format",
    "geo_metadata",
    "grids_from_parquet",
    "grids_to_parquet",
    "history_columns",
    "history_files",
    "incidents_frame",
    "month_of",
    "part_path",
    "read_points",
    "write_counts",
]
