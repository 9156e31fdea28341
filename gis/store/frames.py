"""Frames to and from PostgreSQL: COPY text, EWKB, geometry columns."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely

from gis.store import db


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows, columns=[*columns, "geom"])
    geoms = shapely.from_wkb([bytes(g) for g in frame.pop("geom")]) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326, index=frame.index))


def _csv_text(rows: Iterable[Sequence[Any]]) -> io.StringIO:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["\\N" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in row])
    buf.seek(0)
    return buf


def _ewkb_hex(geoms) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(np.asarray(geoms), 4326), hex=True, include_srid=True)


def _copy_frame(conn, table: str, frame: pd.DataFrame, columns: list[str], *, chunk_rows: int = 100_000) -> int:
    """COPY a frame's columns (missing ones as NULL) into a table.

    Each chunk is written as CSV by pyarrow (every string quoted, so an empty
    string stays '' while a missing value, written bare, is NULL) in a
    background thread while the server ingests the previous chunk.
    """
    def chunks():
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start:start + chunk_rows]
            out = pd.DataFrame({c: _arrow_ready(part[c]) if c in part else None for c in columns}, index=part.index)
            buf = io.BytesIO()
            pacsv.write_csv(pa.Table.from_pandas(out, preserve_index=False), buf, options)
            yield buf.getvalue()
    return db.copy_csv(conn, table, columns, chunks(), null="")


def _arrow_ready(values: pd.Series) -> pd.Series:
    """Object columns mixing text and missing values become pandas strings for pyarrow."""
    if values.dtype == object:
        return values.astype("string")
    return values
