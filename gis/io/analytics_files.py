"""Files of the analysts' commands: hot spots and repeat locations as CSV or GeoJSON (pure: no database).

CSV is UTF-8 with a byte-order mark (Excel reads the Chinese right; pandas skips it with
``utf-8-sig``), times in China time, list columns joined with ``;``. GeoJSON is WGS-84 (RFC 7946):
hot spots keep their grid polygons, repeat locations become points at their centroids.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gis.core.china_time import CHINA_TZ
from gis.errors import InputError
from gis.io.paths import writable_path

FORMATS = {".csv": "csv", ".geojson": "geojson", ".json": "geojson"}


def file_format(path: str | os.PathLike, *, field: str = "--out") -> str:
    """``csv`` or ``geojson`` from the file name; :class:`InputError` naming the fix otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"cannot tell the format of '{path}'", field=field,
                         fix="use a .csv or .geojson file name")
    return FORMATS[suffix]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if column == "geometry":
            continue
        values = out[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = values.dt.tz_convert(CHINA_TZ).dt.strftime("%Y-%m-%d %H:%M")
        elif values.map(lambda v: isinstance(v, (list, tuple))).any():
            out[column] = values.map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    return out


def write_hot_spots(units: gpd.GeoDataFrame, path: str | os.PathLike) -> int:
    """Write :func:`gis.core.analytics.hot_spots`' frame: CSV without geometry, GeoJSON with the
    polygons (WGS-84). Returns the rows written."""
    fmt = file_format(path)
    target = writable_path(path, field="--out")
    frame = _plain(units)
    if fmt == "csv":
        frame.drop(columns="geometry", errors="ignore").to_csv(target, index=False, encoding="utf-8-sig",
                                                               lineterminator="\n")
    else:
        gpd.GeoDataFrame(frame, geometry="geometry", crs=units.crs).to_crs(4326).to_file(target, driver="GeoJSON")
    return len(units)


def write_repeats(repeats: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write :func:`gis.workflows.analytics.repeats`' frame: CSV, or GeoJSON points at each
    cluster's centroid (WGS-84). Returns the rows written."""
    fmt = file_format(path)
    target = writable_path(path, field="--out")
    frame = _plain(repeats)
    if fmt == "csv":
        frame.to_csv(target, index=False, encoding="utf-8-sig", lineterminator="\n")
    else:
        points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326)
        if not len(points):
            target.write_text('{"type": "FeatureCollection", "features": []}\n', encoding="utf-8")
        else:
            points.to_file(target, driver="GeoJSON")
    return len(repeats)
