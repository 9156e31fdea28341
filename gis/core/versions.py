"""Grid versions compared: what changed between two sets of boundaries, what a boundary change
does to a case (the event's note), and how balanced a set of loads is. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.core.crs import to_metric

#: The kinds of change between two versions, in the order a report lists them.
CHANGES = ("added", "removed", "reshaped", "renamed")
CHANGES_ZH = {"added": "新增", "removed": "撤销", "reshaped": "调整边界", "renamed": "属性变更"}
CHANGE_COLUMNS = ["code", "name", "level", "parent_code", "change", "change_zh", "area_m2", "changed_m2",
                  "households_before", "households_after", "geometry"]
#: A reshaping smaller than this (square metres of symmetric difference) is a rounding, not a change.
RESHAPE_TOLERANCE_M2 = 1.0
#: The prefix of the event a moved open case gets.
MOVE_EVENT = "网格调整"


def grid_changes(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, *,
                 tolerance_m2: float = RESHAPE_TOLERANCE_M2) -> gpd.GeoDataFrame:
    """The grids added, removed, reshaped (boundary moved by more than ``tolerance_m2``) or
    renamed (name, parent or household count changed) from ``before`` to ``after`` (both WGS-84,
    columns of the grid layer). Unchanged grids are left out.

    Returns
    -------
    GeoDataFrame
        :data:`CHANGE_COLUMNS`, WGS-84: the new geometry (the old one for a removed grid),
        ``area_m2`` of that geometry, ``changed_m2`` the area that changed hands (symmetric
        difference; the whole area for added and removed grids). Sorted by level, change, code.
    """
    a = before.set_index("code", drop=False)
    b = after.set_index("code", drop=False)
    added, removed = b.index.difference(a.index), a.index.difference(b.index)
    both = a.index.intersection(b.index)
    rows = []

    def row(src: pd.Series, change: str, changed_m2: float, hh_before, hh_after) -> dict:
        return {"code": src["code"], "name": src["name"], "level": src["level"], "parent_code": src["parent_code"],
                "change": change, "changed_m2": changed_m2, "households_before": hh_before,
                "households_after": hh_after, "geometry": src.geometry}

    for code in added:
        rows.append(row(b.loc[code], "added", np.nan, None, b.loc[code].get("households")))
    for code in removed:
        rows.append(row(a.loc[code], "removed", np.nan, a.loc[code].get("households"), None))
    if len(both):
        old = to_metric(gpd.GeoSeries(a.loc[both].geometry.to_numpy(), crs=before.crs))
        new = to_metric(gpd.GeoSeries(b.loc[both].geometry.to_numpy(), crs=after.crs))
        moved = shapely.area(shapely.symmetric_difference(old.to_numpy(), new.to_numpy()))
        for i, code in enumerate(both):
            x, y = a.loc[code], b.loc[code]
            if moved[i] > tolerance_m2:
                rows.append(row(y, "reshaped", float(moved[i]), x.get("households"), y.get("households")))
            elif any(_differs(x.get(c), y.get(c)) for c in ("name", "parent_code", "households", "population")):
                rows.append(row(y, "renamed", 0.0, x.get("households"), y.get("households")))
    out = gpd.GeoDataFrame(rows, columns=[c for c in CHANGE_COLUMNS if c not in ("change_zh", "area_m2")],
                           geometry="geometry", crs=after.crs or before.crs)
    out["change_zh"] = out["change"].map(CHANGES_ZH)
    out["area_m2"] = to_metric(out.geometry).area.to_numpy() if len(out) else []
    whole = out["change"].isin(["added", "removed"])
    out.loc[whole, "changed_m2"] = out.loc[whole, "area_m2"]
    order = {lv: i for i, lv in enumerate(("district", "street", "community", "grid", "micro", "exclusive"))}
    out = out.assign(_l=out["level"].map(order), _c=out["change"].map({c: i for i, c in enumerate(CHANGES)}))
    return out.sort_values(["_l", "_c", "code"]).drop(columns=["_l", "_c"])[CHANGE_COLUMNS].reset_index(drop=True)


def _differs(x: object, y: object) -> bool:
    missing_x = x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA
    missing_y = y is None or (isinstance(y, float) and np.isnan(y)) or y is pd.NA
    if missing_x or missing_y:
        return missing_x != missing_y
    return x != y


def changed_areas(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, *,
                  tolerance_m2: float = RESHAPE_TOLERANCE_M2) -> gpd.GeoDataFrame:
    """The pieces of ground that change micro-grid from ``before`` to ``after`` (both one level,
    WGS-84): ``before_code, after_code, area_m2, geometry``, pieces under ``tolerance_m2`` dropped.
    A piece only one side covers has the other code None."""
    columns = ["before_code", "after_code", "area_m2", "geometry"]
    if not len(before) and not len(after):
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs="EPSG:4326")
    old = gpd.GeoDataFrame({"before_code": before["code"].to_numpy()},
                           geometry=to_metric(gpd.GeoSeries(before.geometry.to_numpy(), crs=before.crs)).to_numpy())
    new = gpd.GeoDataFrame({"after_code": after["code"].to_numpy()},
                           geometry=to_metric(gpd.GeoSeries(after.geometry.to_numpy(), crs=after.crs)).to_numpy())
    crs = to_metric(gpd.GeoSeries(before.geometry.iloc[:1] if len(before) else after.geometry.iloc[:1],
                                  crs=before.crs or after.crs)).crs
    old, new = old.set_crs(crs), new.set_crs(crs)
    pieces = gpd.overlay(old, new, how="union", keep_geom_type=True)
    pieces = pieces[pieces["before_code"].astype(object).where(pieces["before_code"].notna(), None)
                    != pieces["after_code"].astype(object).where(pieces["after_code"].notna(), None)]
    pieces = pieces.assign(area_m2=pieces.area)
    pieces = pieces[pieces["area_m2"] > tolerance_m2]
    out = pieces.to_crs(4326)
    for c in ("before_code", "after_code"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return gpd.GeoDataFrame(out[columns].reset_index(drop=True), geometry="geometry", crs="EPSG:4326")


def move_note(before: str | None, after: str | None, names: Mapping[str, str], *,
              before_assignee: str | None = None, after_assignee: str | None = None) -> str:
    """The note of a moved open case's event: ``网格调整: 甲微网格（410…01） → 乙微网格（410…02）``,
    then who takes it now when that changed (``；改派: 张三 → 李四``)."""
    def label(code: str | None) -> str:
        return "未落入网格" if code is None else f"{names.get(code, code)}（{code}）"

    note = f"{MOVE_EVENT}: {label(before)} → {label(after)}"
    if (before_assignee or None) != (after_assignee or None):
        note += f"；改派: {before_assignee or '待分派'} → {after_assignee or '待分派'}"
    return note


def balance(loads: pd.Series | np.ndarray) -> dict[str, float | None]:
    """How even a set of loads is: ``cv`` (the coefficient of variation, standard deviation over
    the mean, population form) and ``max_min`` (largest over smallest; None when the smallest is
    0 or there is nothing to compare)."""
    values = np.asarray(pd.to_numeric(pd.Series(loads), errors="coerce").dropna(), dtype=float)
    if not len(values):
        return {"cv": None, "max_min": None}
    mean = values.mean()
    cv = float(values.std() / mean) if mean > 0 else None
    low = values.min()
    return {"cv": cv, "max_min": float(values.max() / low) if low > 0 else None}
