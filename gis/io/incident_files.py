"""Writing incidents (CSV with BOM, GeoJSON, Open311) and refused rows; times in China time."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gis.core.china_time import CHINA_TZ
from gis.core.intake.checks import REJECT_COLUMNS
from gis.core.intake.open311 import load_open311_codes
from gis.core.rules.config import Rules, load_rules
from gis.core.rules.lifecycle import STATUS_NAMES_ZH, is_open, status_from_text
from gis.errors import InputError

#: Columns an export starts with (DESIGN.md); any other frame columns follow.
EXPORT_COLUMNS: tuple[str, ...] = (
    "source", "external_id", "category", "status", "lon", "lat", "reported_at",
    "description", "micro_code", "exclusive_code",
)

#: What :attr:`IncidentReader.format` can be.
FORMATS: tuple[str, ...] = ("csv", "geojson", "open311")


def _china_times(values: pd.Series) -> pd.Series | None:
    """A column of times as China time (tz-aware), or None when it holds no times."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(CHINA_TZ)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize(CHINA_TZ, ambiguous="NaT", nonexistent="shift_forward")
    if values.dtype == object:
        present = values.dropna()
        if len(present) and all(isinstance(v, (pd.Timestamp, np.datetime64)) or
                                hasattr(v, "utcoffset") and hasattr(v, "hour")
                                for v in present):
            def china(v):
                if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
                    return pd.NaT
                stamp = pd.Timestamp(v)
                if stamp.tzinfo is None:
                    return stamp.tz_localize(CHINA_TZ)
                return stamp.tz_convert(CHINA_TZ)
            return pd.Series([china(v) for v in values], index=values.index,
                             dtype=f"datetime64[us, {CHINA_TZ.key}]")
    return None


def _iso_texts(values: pd.Series) -> pd.Series:
    """Times as ISO 8601 text with the China offset (+08:00); missing stays missing."""
    times = _china_times(values)
    if times is None:
        return values
    fraction = ".%f" if ((times.dt.microsecond.fillna(0) != 0).any()) else ""
    texts = times.dt.strftime(f"%Y-%m-%dT%H:%M:%S{fraction}%z")
    texts = texts.str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
    return texts.astype(object).where(times.notna(), None)


_EXPORT_NEEDED = ("source", "external_id", "category", "status", "lon", "lat", "reported_at")


def _export_frame(incidents: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _EXPORT_NEEDED if c not in incidents.columns]
    if missing:
        raise InputError(f"the incident frame lacks column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}",
                         fix="pass the frame from read_incidents or from the database")
    frame = incidents.reset_index(drop=True).copy()
    for name in ("description", "micro_code", "exclusive_code"):
        if name not in frame.columns:
            frame[name] = ""
    order = list(EXPORT_COLUMNS) + [c for c in frame.columns if c not in EXPORT_COLUMNS]
    frame = frame[order]
    for name in frame.columns:
        frame[name] = _iso_texts(frame[name])
    return frame


def incidents_to_csv(incidents: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write incidents as CSV: the export columns, then any other columns of the frame.

    Parameters
    ----------
    incidents
        Frame with at least ``source, external_id, category, status, lon,
        lat, reported_at`` (lon/lat in degrees, WGS-84); ``description``,
        ``micro_code``, ``exclusive_code`` are written empty when absent.
        Extra columns (``tier``, ``due_at``, ``assignee``, ``closed_at``,
        ``address`` …) follow :data:`EXPORT_COLUMNS` in frame order.
    path
        The file to write. UTF-8 with a BOM, so Excel shows Chinese text;
        times ISO 8601 with +08:00 (naive times are taken as China time).

    Returns
    -------
    int
        Rows written.
    """
    frame = _export_frame(incidents)
    frame.to_csv(Path(path), index=False, encoding="utf-8-sig", lineterminator="\n")
    return len(frame)


def incidents_to_geojson(incidents: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write incidents as a GeoJSON FeatureCollection of Points (RFC 7946, WGS-84).

    Parameters
    ----------
    incidents
        As for :func:`incidents_to_csv`. ``lon``, ``lat`` (degrees, WGS-84)
        become the Point geometry (null when missing); every other export
        column becomes a property, times as ISO 8601 text with +08:00.
    path
        The file to write (UTF-8).

    Returns
    -------
    int
        Features written.
    """
    frame = _export_frame(incidents)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    props = frame.drop(columns=["lon", "lat"])
    records = _json_records(props)
    features = []
    for x, y, properties in zip(lon, lat, records):
        geometry = ({"type": "Point", "coordinates": [float(x), float(y)]}
                    if math.isfinite(x) and math.isfinite(y) else None)
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    with Path(path).open("w", encoding="utf-8") as handle:
        json.dump({"type": "FeatureCollection", "features": features}, handle,
                  ensure_ascii=False, allow_nan=False)
    return len(features)


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN/NA → None, numpy scalars → Python."""
    columns = {}
    for name in frame.columns:
        values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        columns[name] = [v.item() if isinstance(v, np.generic) else v for v in values]
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())] if names else \
        [{} for _ in range(len(frame))]


def incidents_to_open311(incidents: pd.DataFrame, *, rules: Rules | None = None,
                         service_codes: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Incidents as Open311 GeoReport v2 service requests (``GET /requests.json``).

    Parameters
    ----------
    incidents
        As for :func:`incidents_to_csv` (lon/lat in degrees, WGS-84);
        ``due_at``, ``closed_at``, ``updated_at``, ``tier``, ``micro_code``,
        ``address``, ``description`` are used when present.
    rules
        Dispatch rules for category and stage names; None for the shipped rules.
    service_codes
        Open311 service code → category code; None for ``gis/core/rules/open311.toml``.

    Returns
    -------
    list of dict
        One request each: ``service_request_id`` (external_id),
        ``service_code`` (the first code of the table that maps to the
        category, else the category code), ``service_name`` (the category's
        Chinese name), ``status`` (``closed`` for resolved, verified and
        closed cases, else ``open``), ``description``, ``requested_datetime``
        (reported_at), ``updated_datetime`` (updated_at, else closed_at),
        ``expected_datetime`` (due_at), ``address``, ``lat``, ``long``, and
        ``extended_attributes`` ``{stage, stage_zh, micro_code, tier,
        due_at}``. Times ISO 8601 with +08:00; missing values are None.
    """
    rules = rules or load_rules()
    codes = service_codes if service_codes is not None else load_open311_codes(rules=rules)
    reverse: dict[str, str] = {}
    for code, category in codes.items():
        reverse.setdefault(category, code)
    frame = _export_frame(incidents)
    for name in ("address", "due_at", "closed_at", "updated_at", "tier", "micro_code"):
        if name not in frame.columns:
            frame[name] = None
    records = _json_records(frame)
    out = []
    for row in records:
        category = row["category"]
        stage = row["status"]
        try:
            finished = not is_open(stage)
            stage_zh = STATUS_NAMES_ZH[status_from_text(stage)]
        except InputError:
            finished, stage_zh = False, None
        known = rules.categories.get(category)
        out.append({
            "service_request_id": row["external_id"],
            "service_code": reverse.get(category, category),
            "service_name": known.name_zh if known else category,
            "status": "closed" if finished else "open",
            "description": row["description"] if row["description"] is not None else "",
            "requested_datetime": row["reported_at"],
            "updated_datetime": (row["updated_at"] if row["updated_at"] is not None
                                 else row["closed_at"]),
            "expected_datetime": row["due_at"],
            "address": row["address"] if row["address"] is not None else "",
            "lat": row["lat"],
            "long": row["lon"],
            "extended_attributes": {
                "stage": stage,
                "stage_zh": stage_zh,
                "micro_code": row["micro_code"] or None,
                "tier": row["tier"],
                "due_at": row["due_at"],
            },
        })
    return out


def write_open311(incidents: pd.DataFrame, path: str | os.PathLike, *,
                  rules: Rules | None = None,
                  service_codes: Mapping[str, str] | None = None) -> int:
    """Write :func:`incidents_to_open311` as a JSON array (UTF-8); returns the count."""
    requests = incidents_to_open311(incidents, rules=rules, service_codes=service_codes)
    with Path(path).open("w", encoding="utf-8") as handle:
        json.dump(requests, handle, ensure_ascii=False, allow_nan=False)
    return len(requests)


def rejects_to_csv(rejects: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write refused rows as CSV ``line, field, reason, raw`` (UTF-8 with BOM, for Excel).

    Parameters
    ----------
    rejects
        Frame with columns :data:`REJECT_COLUMNS`, e.g. the concatenated
        :attr:`Chunk.rejects`.
    path
        The file to write.

    Returns
    -------
    int
        Rows written.
    """
    missing = [c for c in REJECT_COLUMNS if c not in rejects.columns]
    if missing:
        raise InputError(f"the rejects frame lacks column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}", fix="pass Chunk.rejects from read_incidents")
    rejects[list(REJECT_COLUMNS)].to_csv(Path(path), index=False, encoding="utf-8-sig",
                                         lineterminator="\n")
    return len(rejects)
