"""The standard address register as CSV: ``address, community, estate, building, lon, lat,
households, micro_code`` (lon/lat in WGS-84 degrees)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gis.core.address import ADDRESS_COLUMNS
from gis.errors import InputError

#: Columns a register file must have (``micro_code`` may be absent or empty: filled by assignment).
REQUIRED_ADDRESS_COLUMNS = tuple(c for c in ADDRESS_COLUMNS if c != "micro_code")
#: Columns of the refused rows.
ADDRESS_REJECT_COLUMNS = ("line", "field", "reason", "fix")


def addresses_from_file(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a register CSV; each bad row is refused alone.

    Returns
    -------
    (buildings, rejects)
        ``buildings``: :data:`ADDRESS_COLUMNS` plus ``line`` (lon/lat float, households int,
        micro_code None when empty); ``rejects``: :data:`ADDRESS_REJECT_COLUMNS`, one row per
        refused line naming the first bad field and the fix.

    Raises
    ------
    InputError
        When a required column is missing (the whole file is unusable).
    """
    from gis.core.intake.encoding import detect_encoding
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=detect_encoding(path))
    frame.columns = [c.strip().lstrip("\ufeff") for c in frame.columns]
    missing = [c for c in REQUIRED_ADDRESS_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path} has no column {', '.join(missing)}",
                         fix=f"the header must be {','.join(ADDRESS_COLUMNS)}")
    if "micro_code" not in frame:
        frame["micro_code"] = ""
    frame = frame[list(ADDRESS_COLUMNS)].apply(lambda s: s.str.strip())
    frame.insert(0, "line", np.arange(2, len(frame) + 2))
    rejects: list[tuple[int, str, str, str]] = []
    bad = np.zeros(len(frame), dtype=bool)

    def refuse(mask, field: str, reason, fix: str) -> None:
        for i in np.flatnonzero(mask & ~bad):
            rejects.append((int(frame["line"].iat[i]), field, reason(i), fix))
        bad[mask] = True

    for name in ("address", "estate", "building"):
        refuse((frame[name] == "").to_numpy(), name, lambda i, n=name: f"{n} is empty",
               f"give the building's {name}")
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    refuse(~np.isfinite(lon), "lon", lambda i: f"lon {frame['lon'].iat[i]!r} is not a number",
           "give the longitude in WGS-84 degrees, e.g. 113.62")
    refuse(~np.isfinite(lat), "lat", lambda i: f"lat {frame['lat'].iat[i]!r} is not a number",
           "give the latitude in WGS-84 degrees, e.g. 34.75")
    refuse((np.abs(lon) > 180) | (np.abs(lat) > 90), "lon",
           lambda i: f"point ({lon[i]:g}, {lat[i]:g}) is off the earth", "put longitude first, then latitude")
    households = pd.to_numeric(frame["households"].replace("", "0"), errors="coerce").to_numpy(dtype=float)
    refuse(~np.isfinite(households) | (households < 0) | (households != np.round(households)), "households",
           lambda i: f"households {frame['households'].iat[i]!r} is not a whole number ≥ 0",
           "give the number of households, e.g. 48")
    dupes = frame["address"].duplicated(keep="last").to_numpy() & (frame["address"] != "").to_numpy()
    refuse(dupes, "address", lambda i: f"address {frame['address'].iat[i]!r} appears again later; the last is kept",
           "remove the duplicate row")
    good = frame.loc[~bad].copy()
    good["lon"], good["lat"] = lon[~bad], lat[~bad]
    good["households"] = households[~bad].astype(int)
    good["micro_code"] = good["micro_code"].replace("", None)
    rejected = pd.DataFrame(rejects, columns=list(ADDRESS_REJECT_COLUMNS)).sort_values("line", kind="stable")
    return good.reset_index(drop=True), rejected.reset_index(drop=True)


def addresses_to_csv(buildings: pd.DataFrame, path: str | Path) -> int:
    """Write a register (:data:`ADDRESS_COLUMNS`) as CSV in UTF-8 with BOM (Excel opens it)."""
    buildings[list(ADDRESS_COLUMNS)].to_csv(path, index=False, encoding="utf-8-sig")
    return len(buildings)
