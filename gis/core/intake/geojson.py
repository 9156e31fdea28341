"""GeoJSON FeatureCollections of points, as columns for the row checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gis.core.intake.checks import _TEXT_FIELDS, _as_text
from gis.errors import InputError


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
    table = _json_columns(columns, len(features))
    table = table.append_column("__pre_field", pa.array(pre_field, type=pa.string()))
    table = table.append_column("__pre_reason", pa.array(pre_reason, type=pa.string()))
    return table, features


def _json_columns(columns: Mapping[str, list], n: int) -> pa.Table:
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})
    table = table.append_column("__rec", pa.array(np.arange(n, dtype=np.int64)))
    table = table.append_column("__line", pa.array(np.arange(1, n + 1, dtype=np.int64)))
    return table.append_column("__raw", pa.nulls(n, pa.string()))
