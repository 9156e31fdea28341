"""GeoJSON FeatureCollections of points, as columns for the row checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gis.core.intake.checks import _TEXT_FIELDS, _as_text
from gis.errors import InputError

_SURROGATE = re.compile("[\ud800-\udfff]")


def _geojson_table(document: Mapping[str, Any], path: Path) -> tuple[pa.Table, list]:
    features = document.get("features")
    if not isinstance(features, list):
        raise InputError(f"{path.name}: the FeatureCollection has no 'features' list",
                         field="features", fix="give the features as a JSON array")
    columns: dict[str, list] = {name: [] for name in _TEXT_FIELDS}
    pre_field, pre_reason = [], []
    for item in features:
        feature = item if isinstance(item, dict) else {}
        props = feature.get("properties")
        props = props if isinstance(props, dict) else {}
        for name in _TEXT_FIELDS:
            columns[name].append(_as_text(props.get(name)))
        geometry = feature.get("geometry")
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        problem = None
        if not isinstance(item, dict) or feature.get("type") not in (None, "Feature"):
            problem = "the item is not a GeoJSON Feature; give {\"type\": \"Feature\", …}"
        elif geometry is None:
            if props.get("lon") is None or props.get("lat") is None:
                problem = ("the feature has no geometry; give a Point geometry "
                           "with coordinates [lon, lat]")
        elif not isinstance(geometry, dict) or geometry.get("type") != "Point":
            kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
            problem = (f"the geometry is a {kind}, not a Point; give each incident as a Point "
                       "with coordinates [lon, lat]")
        elif not isinstance(coords, list) or len(coords) < 2:
            problem = (f"the Point's coordinates {coords!r} are not [lon, lat]; "
                       "give two numbers, longitude first")
        else:
            columns["lon"][-1], columns["lat"][-1] = _as_text(coords[0]), _as_text(coords[1])
        pre_field.append("geometry" if problem and isinstance(item, dict) else None)
        pre_reason.append(problem)
    return _json_columns(columns, len(features), pre_field=pre_field, pre_reason=pre_reason), features


def _json_columns(columns: Mapping[str, list], n: int, *, pre_field: list | None = None,
                  pre_reason: list | None = None) -> pa.Table:
    """Text columns of JSON items as a table for the row checks, with __rec, __line, __raw
    and the whole-item problems found so far (``pre_field``, ``pre_reason``, one per item).

    JSON may escape a lone UTF-16 surrogate (``"\\ud800"``), which is no text and
    which no database column takes: the item is refused for it, its value kept
    with U+FFFD in place so that the other checks can run.
    """
    pre_field = list(pre_field) if pre_field is not None else [None] * n
    pre_reason = list(pre_reason) if pre_reason is not None else [None] * n
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values, type=pa.string())
        except UnicodeEncodeError:
            values = list(values)
            for i, value in enumerate(values):
                if value is None or not _SURROGATE.search(value):
                    continue
                if pre_reason[i] is None:
                    pre_field[i] = name
                    pre_reason[i] = (f"{name} holds a lone UTF-16 surrogate "
                                     f"({_SURROGATE.search(value).group().encode('unicode_escape').decode()}), "
                                     "which is not text; fix the \\u escape in the JSON")
                values[i] = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            arrays[name] = pa.array(values, type=pa.string())
    table = pa.table(arrays)
    table = table.append_column("__rec", pa.array(np.arange(n, dtype=np.int64)))
    table = table.append_column("__line", pa.array(np.arange(1, n + 1, dtype=np.int64)))
    table = table.append_column("__raw", pa.nulls(n, pa.string()))
    table = table.append_column("__pre_field", pa.array(pre_field, type=pa.string()))
    return table.append_column("__pre_reason", pa.array(pre_reason, type=pa.string()))
