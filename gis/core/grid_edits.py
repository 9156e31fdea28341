"""Edits of one level of grids that keep it a tiling: split a grid along a line, merge grids,
reshape a grid (its neighbours give and take the ground). Pure functions on WGS-84 frames.

Each takes the grids of an area (columns of the grid layer: ``code, name, level, parent_code``,
optionally ``households`` and ``population``, polygons in degrees, WGS-84) and returns a new
frame; the input is never changed. Household and population counts follow the ground: a split
shares them by area (whole numbers that add up to the old count), a merge adds them up, a
reshape leaves them as they were (a planner corrects them from the address register). These
edits only keep the shapes consistent; :func:`gis.core.topology.validate_grids` judges the result.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon
from shapely.ops import split as split_geometry

from gis.core.crs import to_metric
from gis.errors import InputError

#: Pieces of ground smaller than this (m²) left by an edit are rounding, not ground: dropped.
MIN_PIECE_M2 = 1.0
COUNT_COLUMNS = ("households", "population")

#: The kinds of :func:`gis.core.topology.validate_grids` problems (``PROBLEM_KINDS``) in Chinese,
#: for the planning page and its map (topology's messages are English sentences).
PROBLEM_KINDS_ZH = {
    "missing_value": "缺少属性", "bad_level": "层级无效", "empty_geometry": "边界为空",
    "invalid_geometry": "边界无效（自相交等）", "swapped_coordinates": "经纬度颠倒", "bad_number": "户数或人口无效",
    "duplicate_code": "编码重复", "unknown_parent": "上级网格不存在", "wrong_parent_level": "上级网格层级不符",
    "looks_gcj02": "疑似火星坐标（GCJ-02）", "outside_parent": "超出上级网格", "overlap": "网格重叠",
    "gap": "网格间有空隙", "sliver": "细碎图斑",
}
SEVERITIES_ZH = {"error": "错误", "warning": "警告"}


def _metric_areas(geoms: list[shapely.Geometry]) -> np.ndarray:
    """Areas in m² (UTM zone of the geometries' centre); 0 for empty ones."""
    series = gpd.GeoSeries(geoms, crs="EPSG:4326")
    if not len(series) or series.is_empty.all():
        return np.zeros(len(series))
    return to_metric(series).area.to_numpy()


def _multi(geom: shapely.Geometry) -> MultiPolygon:
    """The polygonal part of ``geom`` as a MultiPolygon (the layer's geometry type)."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    polygons = [p for g in parts for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    return MultiPolygon(polygons)


def _row_of(grids: gpd.GeoDataFrame, code: str) -> int:
    found = np.flatnonzero(grids["code"].astype(str).to_numpy() == str(code))
    if not len(found):
        raise InputError(f"grid '{code}' is not among the grids being edited", field="code",
                         fix="choose a micro-grid of the draft's area")
    return int(found[0])


def new_code(grids: gpd.GeoDataFrame, code: str, *, taken: set[str] | None = None) -> str:
    """A code for a new grid beside ``code``, free among ``grids`` (and ``taken``).

    A code ending in digits continues its siblings' numbering: the largest sibling code under the
    same parent with the same prefix and width, plus one (``410102009001001012`` after ``…011``,
    ``G1-03`` after ``G1-02``); otherwise, or when the width would overflow, a suffix
    (``甲-2``, ``甲-3`` …).
    """
    used = set(grids["code"].astype(str)) | (taken or set())
    row = grids.iloc[_row_of(grids, code)]
    code = str(code)
    match = re.match(r"^(.*?)(\d+)$", code)
    if match:
        prefix, digits = match.groups()
        siblings = grids.loc[grids["parent_code"].astype(str) == str(row["parent_code"]), "code"].astype(str)
        numbers = [int(c[len(prefix):]) for c in siblings
                   if c.startswith(prefix) and len(c) == len(code) and c[len(prefix):].isdigit()]
        candidate = max(numbers, default=int(digits)) + 1
        while f"{prefix}{str(candidate).zfill(len(digits))}" in used:
            candidate += 1
        if len(str(candidate)) <= len(digits):
            return f"{prefix}{str(candidate).zfill(len(digits))}"
    n = 2
    while f"{code}-{n}" in used:
        n += 1
    return f"{code}-{n}"


def _shares(total: object, weights: np.ndarray) -> list[object]:
    """``total`` shared in proportion to ``weights`` as whole numbers that add up to it (largest
    remainder); a missing total stays missing."""
    if total is None or pd.isna(total):
        return [total] * len(weights)
    total = int(total)
    exact = total * weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), total / len(weights))
    whole = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - whole))[: total - whole.sum()]:
        whole[i] += 1
    return [int(v) for v in whole]


def split_grid(grids: gpd.GeoDataFrame, code: str, line: LineString | MultiLineString, *,
               keep_code: bool = True, name: str | None = None) -> gpd.GeoDataFrame:
    """Cut grid ``code`` in two along ``line`` (WGS-84 degrees, drawn across the grid).

    Parameters
    ----------
    grids
        The grids being edited (one area), WGS-84.
    code
        The grid to cut.
    line
        A line that crosses the grid from one edge to another; its ends may lie outside.
    keep_code
        The larger part keeps ``code`` (its history, staff and name stay with it) and the
        smaller gets a new code (:func:`new_code`); False gives both parts new codes.
    name
        The new part's name; default the grid's name with ``（拆分）``.

    Returns
    -------
    GeoDataFrame
        ``grids`` with the grid replaced by its two parts (larger first, in its place), their
        households and population shared by area.

    Raises
    ------
    InputError
        When the line does not cut the grid into exactly two parts of at least
        :data:`MIN_PIECE_M2`.
    """
    i = _row_of(grids, code)
    row = grids.iloc[i]
    geom = shapely.make_valid(row.geometry)
    pieces = [g for g in split_geometry(geom, line).geoms if isinstance(g, Polygon)] if not line.is_empty else []
    areas = _metric_areas(pieces) if pieces else np.array([])
    pieces = [p for p, a in zip(pieces, areas) if a >= MIN_PIECE_M2]
    if len(pieces) != 2:
        raise InputError(f"the line cuts grid {code} into {len(pieces)} part(s), not 2", field="line",
                         fix="draw one line that crosses the grid from one edge to the opposite edge")
    areas = _metric_areas(pieces)
    order = np.argsort(-areas)
    pieces, areas = [pieces[j] for j in order], areas[order]
    first = new_code(grids, code) if not keep_code else str(code)
    second = new_code(grids, code, taken={first})
    out_rows = []
    for part, part_code, part_name in ((pieces[0], first, row["name"] if keep_code else f"{row['name']}（拆分1）"),
                                       (pieces[1], second, name or (f"{row['name']}（拆分）" if keep_code
                                                                    else f"{row['name']}（拆分2）"))):
        new = row.copy()
        new["code"], new["name"] = part_code, part_name
        new[grids.geometry.name] = _multi(part)
        out_rows.append(new)
    for column in COUNT_COLUMNS:
        if column in grids.columns:
            for new, share in zip(out_rows, _shares(row[column], areas)):
                new[column] = share
    return _replace(grids, remove=[i], insert_at=i, rows=out_rows)


def merge_grids(grids: gpd.GeoDataFrame, codes: list[str]) -> gpd.GeoDataFrame:
    """Merge grids ``codes`` (two or more, under one parent, together one piece of ground) into
    one that keeps the first code and name; households and population are added up.

    Raises
    ------
    InputError
        Fewer than two codes, an unknown code, grids of different parents or levels, or grids
        that do not touch each other along an edge (the merged grid would be in pieces).
    """
    codes = [str(c) for c in dict.fromkeys(codes)]
    if len(codes) < 2:
        raise InputError("merging needs at least two grids", field="codes", fix="select two or more adjacent grids")
    rows = [_row_of(grids, c) for c in codes]
    chosen = grids.iloc[rows]
    if chosen["parent_code"].astype(str).nunique() > 1 or chosen["level"].nunique() > 1:
        raise InputError(f"grids {', '.join(codes)} lie under different parents "
                         f"({', '.join(sorted(set(chosen['parent_code'].astype(str))))})", field="codes",
                         fix="merge grids of one tertiary grid only, or move one first")
    union = shapely.union_all([shapely.make_valid(g) for g in chosen.geometry])
    merged = _multi(union)
    pieces = [p for p, a in zip(merged.geoms, _metric_areas(list(merged.geoms))) if a >= MIN_PIECE_M2]
    if len(pieces) != 1:
        raise InputError(f"grids {', '.join(codes)} do not form one piece of ground ({len(pieces)} parts)",
                         field="codes", fix="select grids that share a boundary with each other")
    keep = grids.iloc[rows[0]].copy()
    keep[grids.geometry.name] = MultiPolygon(pieces)
    for column in COUNT_COLUMNS:
        if column in grids.columns:
            values = chosen[column]
            keep[column] = None if values.isna().all() else int(values.fillna(0).sum())
    return _replace(grids, remove=rows, insert_at=rows[0], rows=[keep])


def reshape_grid(grids: gpd.GeoDataFrame, code: str, polygon: Polygon | MultiPolygon) -> gpd.GeoDataFrame:
    """Give grid ``code`` the shape ``polygon`` (WGS-84) and keep the tiling.

    The new shape is first clipped to the ground the grid may cover: its parent's shape when the
    parent is among ``grids``, else the ground of its siblings (same level and parent) in the
    frame (an edit never reaches outside the area). The siblings give up what the new shape takes
    from them (a sibling left with nothing is removed); the ground the grid gives up goes, piece
    by piece, to the sibling sharing the longest boundary with it (a piece with no sibling beside
    it stays with the grid, so no gap opens and no grid leaves its parent).

    Raises
    ------
    InputError
        An unknown code, or a shape that leaves the grid no ground inside its parent.
    """
    i = _row_of(grids, code)
    row = grids.iloc[i]
    geom_col = grids.geometry.name
    level = grids["level"].to_numpy()
    # only the siblings (same level, same parent) give and take ground: a grid of another parent
    # that took some would stick out of its own parent
    parent_codes = grids["parent_code"].astype(str).to_numpy()
    same = np.flatnonzero((level == row["level"]) & (parent_codes == str(row["parent_code"]))
                          & (np.arange(len(grids)) != i))
    parents = np.flatnonzero(grids["code"].astype(str).to_numpy() == str(row["parent_code"]))
    if len(parents):
        allowed = shapely.make_valid(grids.geometry.iloc[parents[0]])
    else:
        allowed = shapely.union_all([shapely.make_valid(g) for g in grids.geometry.iloc[np.append(same, i)]])
    new_shape = shapely.intersection(shapely.make_valid(polygon), allowed)
    if new_shape.is_empty or _metric_areas([new_shape])[0] < MIN_PIECE_M2:
        raise InputError(f"the new shape of grid {code} lies outside its parent {row['parent_code']}",
                         field="geometry", fix="draw the new shape over the grid's own ground")
    old = shapely.make_valid(row.geometry)
    geoms = {j: shapely.make_valid(grids.geometry.iloc[j]) for j in same}
    # neighbours give up what the new shape covers
    for j in same:
        if shapely.intersects(geoms[j], new_shape):
            geoms[j] = shapely.difference(geoms[j], new_shape)
    # the ground given up goes to the neighbour with the longest shared boundary
    released = _multi(shapely.difference(old, new_shape))
    kept_back = []
    for piece in released.geoms:
        if _metric_areas([piece])[0] < MIN_PIECE_M2:
            continue
        best, best_len = None, 0.0
        for j in same:
            if geoms[j].is_empty:
                continue
            shared = shapely.intersection(piece.boundary, geoms[j].boundary)
            length = shared.length
            if length > best_len:
                best, best_len = j, length
        if best is None:
            kept_back.append(piece)
        else:
            geoms[best] = shapely.union(geoms[best], piece)
    mine = shapely.union_all([new_shape, *kept_back])
    out = grids.copy()
    out.iloc[i, out.columns.get_loc(geom_col)] = _multi(mine)
    drop = []
    for j, g in geoms.items():
        g = _multi(g)
        parts = [p for p, a in zip(g.geoms, _metric_areas(list(g.geoms)) if len(g.geoms) else []) if a >= MIN_PIECE_M2]
        if not parts:
            drop.append(j)
        else:
            out.iloc[j, out.columns.get_loc(geom_col)] = MultiPolygon(parts)
    out = out.drop(index=out.index[drop]).reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=geom_col, crs=grids.crs)


def _replace(grids: gpd.GeoDataFrame, *, remove: list[int], insert_at: int, rows: list[pd.Series]
             ) -> gpd.GeoDataFrame:
    """``grids`` without the rows at ``remove``, with ``rows`` where ``insert_at`` was."""
    before = grids.iloc[[j for j in range(insert_at) if j not in remove]]
    after = grids.iloc[[j for j in range(insert_at, len(grids)) if j not in remove]]
    added = pd.DataFrame(rows, columns=grids.columns)
    out = pd.concat([before, added, after], ignore_index=True)
    for column in COUNT_COLUMNS:
        if column in grids.columns:
            try:
                out[column] = out[column].astype(grids[column].dtype)
            except (TypeError, ValueError):  # a missing count in an int64 column: nullable instead
                out[column] = out[column].astype("Int64")
    return gpd.GeoDataFrame(out, geometry=grids.geometry.name, crs=grids.crs)


__all__ = ["MIN_PIECE_M2", "PROBLEM_KINDS_ZH", "SEVERITIES_ZH", "merge_grids", "new_code", "reshape_grid", "split_grid"]
