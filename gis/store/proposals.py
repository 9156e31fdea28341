"""Balanced proposals: the address register's buildings in an area (the cases come from
:func:`gis.store.planning.fetch_case_points_in`)."""

from __future__ import annotations

import pandas as pd

from gis.store import db

BUILDING_COLUMNS = ["id", "address", "lon", "lat", "households", "micro_code"]


def fetch_addresses_in(conn, *, bounds: tuple[float, float, float, float]) -> pd.DataFrame:
    """The buildings the caller may see whose point lies in ``bounds`` (minx, miny, maxx, maxy;
    degrees, WGS-84): :data:`BUILDING_COLUMNS`, lon/lat WGS-84, in id order."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    rows = db.fetch_all(conn, "fetch_addresses_in", {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy})
    return pd.DataFrame(rows, columns=BUILDING_COLUMNS)
