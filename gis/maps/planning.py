"""Maps of the planning page (网格规划): a draft's micro-grids coloured by households, case load
per worker or 专职网格员, with the validation problems and the drawing tools (vendored
Leaflet.draw, Chinese toolbar); the ground a draft moves between micro-grids; the changes
between two versions. Drawn shapes come back to WGS-84 through :func:`drawn_shapes`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template

from gis.core.crs import geometry_to_wgs84
from gis.core.grid_edits import PROBLEM_KINDS_ZH, SEVERITIES_ZH
from gis.core.versions import CHANGES_ZH
from gis.errors import InputError
from gis.maps.assets import localise_assets
from gis.maps.basemaps import BASEMAPS, base_map, display_frame
from gis.maps.classes import NO_DATA_COLOR
from gis.maps.layers import (
    ClassLegend,
    _escape,
    _feature_collection,
    _text_or_none,
    choropleth_layer,
    outline_layer,
    unit_labels,
)

#: What the draft map colours the micro-grids by (the page's 着色 choice).
COLOR_MODES = {"households": "户数", "load": "每人每周案件", "worker": "专职网格员"}
#: Most workers named in the legend; the others share one grey entry.
MAX_WORKER_COLORS = 16
# ColorBrewer Paired and Set3 (24 distinct colours), for workers.
_CATEGORY_COLORS = ("#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a",
                    "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99", "#8dd3c7", "#bebada", "#80b1d3", "#fccde5")
PROBLEM_COLOR = "#d7191c"
SELECTED_COLOR = "#0050b3"
#: The colours of the kinds of change between versions.
CHANGE_COLORS = {"added": "#1a9641", "removed": "#d7191c", "reshaped": "#fdae61", "renamed": "#7b3294"}

# Leaflet.draw's own texts are English: the Chinese ones, merged into L.drawLocal before the
# toolbar is built (keys of leaflet.draw 1.0.4's src/Leaflet.draw.js).
DRAW_TEXTS_ZH: Mapping[str, Any] = {
    "draw": {
        "toolbar": {
            "actions": {"title": "取消绘制", "text": "取消"},
            "finish": {"title": "完成绘制", "text": "完成"},
            "undo": {"title": "删除最后画的点", "text": "删除最后一点"},
            "buttons": {"polyline": "画拆分线", "polygon": "画新边界", "rectangle": "画矩形", "circle": "画圆",
                        "marker": "标点", "circlemarker": "画圆点"},
        },
        "handlers": {
            "circle": {"tooltip": {"start": "按住并拖动画圆"}, "radius": "半径"},
            "circlemarker": {"tooltip": {"start": "点击地图放置圆点"}},
            "marker": {"tooltip": {"start": "点击地图放置标记"}},
            "polygon": {"tooltip": {"start": "点击开始画边界", "cont": "点击继续画边界",
                                    "end": "点击第一个点闭合边界"}},
            "polyline": {"error": "<strong>错误：</strong>线不能自相交！",
                         "tooltip": {"start": "点击开始画线", "cont": "点击继续画线", "end": "点击最后一个点结束画线"}},
            "rectangle": {"tooltip": {"start": "按住并拖动画矩形"}},
            "simpleshape": {"tooltip": {"end": "松开鼠标完成绘制"}},
        },
    },
    "edit": {
        "toolbar": {
            "actions": {"save": {"title": "保存修改", "text": "保存"},
                        "cancel": {"title": "取消编辑，放弃全部修改", "text": "取消"},
                        "clearAll": {"title": "清除全部图形", "text": "全部清除"}},
            "buttons": {"edit": "编辑图形", "editDisabled": "没有可编辑的图形", "remove": "删除图形",
                        "removeDisabled": "没有可删除的图形"},
        },
        "handlers": {
            "edit": {"tooltip": {"text": "拖动节点修改图形", "subtext": "点击“取消”放弃修改"}},
            "remove": {"tooltip": {"text": "点击图形将其删除"}},
        },
    },
}


class DrawTextsZh(MacroElement):
    """Sets Leaflet.draw's texts (``L.drawLocal``) to Chinese; add it before the Draw control."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            (function () {
                var merge = function (into, from) {
                    Object.keys(from).forEach(function (k) {
                        if (from[k] !== null && typeof from[k] === "object" && into[k]) { merge(into[k], from[k]); }
                        else { into[k] = from[k]; }
                    });
                };
                if (window.L && L.drawLocal) { merge(L.drawLocal, {{ this.texts|tojson }}); }
            })();
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "DrawTextsZh"
        self.texts = DRAW_TEXTS_ZH


def _fit(m: folium.Map, frames: Sequence[gpd.GeoDataFrame | None], *, basemap: str) -> None:
    shown = [display_frame(f, basemap=basemap) for f in frames if f is not None and len(f)]
    bounds = np.array([f.total_bounds for f in shown if not f.geometry.is_empty.all()])
    if len(bounds):
        minx, miny = bounds[:, 0].min(), bounds[:, 1].min()
        maxx, maxy = bounds[:, 2].max(), bounds[:, 3].max()
        m.fit_bounds([[miny, minx], [maxy, maxx]])


def _center(frames: Sequence[gpd.GeoDataFrame | None]) -> tuple[float, float]:
    bounds = np.array([f.total_bounds for f in frames if f is not None and len(f)])
    if not len(bounds) or not np.isfinite(bounds).all():
        raise InputError("there is nothing to draw on the planning map", fix="choose an area with micro-grids")
    return (float((bounds[:, 0].min() + bounds[:, 2].max()) / 2), float((bounds[:, 1].min() + bounds[:, 3].max()) / 2))


def short_label(name: object, prefix: str | None) -> str:
    """A grid's name without the area's name in front (碧沙岗社区第1网格第3微网格 in 碧沙岗社区:
    第1网格第3微网格), for labels on a map of that area."""
    text = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name)
    if prefix and text.startswith(prefix) and len(text) > len(prefix):
        return text[len(prefix):]
    return text


def _worker_layer(grids: gpd.GeoDataFrame, workers: pd.Series, *, basemap: str, name: str
                  ) -> tuple[folium.GeoJson, ClassLegend]:
    names = [None if w is None or (isinstance(w, float) and np.isnan(w)) else str(w) for w in workers]
    ranked = pd.Series([n for n in names if n]).value_counts()
    ranked = sorted(ranked.index, key=lambda n: (-ranked[n], n))
    colors = {n: _CATEGORY_COLORS[i] for i, n in enumerate(ranked[:MAX_WORKER_COLORS])}
    fills = [colors.get(n, NO_DATA_COLOR) for n in names]
    collection = _feature_collection(
        display_frame(grids, basemap=basemap),
        {"code": _text_or_none(grids["code"]), "name": _text_or_none(grids["name"]), "fill": fills,
         "tip0": [_escape(v) for v in grids["name"]], "tip1": [_escape(n) if n else "未配备" for n in names]})
    layer = folium.GeoJson(
        collection, name=name,
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.7, "color": "#555555",
                                  "weight": 0.8},
        highlight_function=lambda f: {"weight": 3, "color": "#222222", "fillOpacity": 0.85},
        tooltip=folium.GeoJsonTooltip(fields=["tip0", "tip1"], aliases=["名称", "专职网格员"], sticky=True),
        zoom_on_click=False)
    rows = [(colors[n], n) for n in ranked[:MAX_WORKER_COLORS]]
    others = len(ranked) - MAX_WORKER_COLORS
    no_worker = any(n is None for n in names)
    if others > 0 or no_worker:
        rows.append((NO_DATA_COLOR, f"其他 {others} 人" if others > 0 else "未配备"))
    legend = ClassLegend(title="专职网格员", scheme="", bins=list(range(len(rows))), colors=[c for c, _ in rows],
                         labels=[lab for _, lab in rows], layer=layer)
    return localise_assets(layer), legend


def problems_layer(problems: gpd.GeoDataFrame, *, basemap: str, name: str = "校验问题") -> folium.GeoJson | None:
    """Validation problems (:data:`gis.core.topology.PROBLEM_COLUMNS`) with a place, drawn red,
    named in Chinese on hover (kind, severity, grid code). None when none has a place."""
    if problems is None or not len(problems):
        return None
    placed = problems[problems.geometry.notna() & ~problems.geometry.is_empty]
    if not len(placed):
        return None
    placed = gpd.GeoDataFrame(placed, geometry=placed.geometry.name, crs=problems.crs or "EPSG:4326")
    # points and lines (a gap's spot, a thin sliver) get a small buffer so they can be seen and hovered
    geoms = [g if g.geom_type in ("Polygon", "MultiPolygon") else g.buffer(0.00005) for g in placed.geometry]
    placed = placed.set_geometry(gpd.GeoSeries(geoms, index=placed.index, crs=placed.crs))
    tips = [_escape(f"{SEVERITIES_ZH.get(s, s)}：{PROBLEM_KINDS_ZH.get(k, k)}") for s, k in
            zip(placed["severity"], placed["kind"])]
    codes = [_escape("、".join(str(c) for c in (a, b) if c is not None and not pd.isna(c))) or "—"
             for a, b in zip(placed["code"], placed["other_code"])]
    collection = _feature_collection(display_frame(placed, basemap=basemap),
                                     {"tip0": tips, "tip1": codes, "kind": _text_or_none(placed["kind"])})
    layer = folium.GeoJson(
        collection, name=name,
        style_function=lambda f: {"color": PROBLEM_COLOR, "weight": 3, "fillColor": PROBLEM_COLOR,
                                  "fillOpacity": 0.45},
        tooltip=folium.GeoJsonTooltip(fields=["tip0", "tip1"], aliases=["问题", "网格编码"], sticky=True),
        zoom_on_click=False)
    return localise_assets(layer)


def _editable_group(polygon: shapely.Geometry | None, *, basemap: str) -> folium.FeatureGroup:
    """The Draw control's layers: the grid being reshaped, as plain Leaflet polygons (a GeoJson
    layer cannot be edited by Leaflet.draw)."""
    group = folium.FeatureGroup(name="编辑图形", control=False)
    if polygon is None or polygon.is_empty:
        return group
    shown = display_frame(gpd.GeoDataFrame(geometry=[polygon], crs="EPSG:4326"), basemap=basemap).geometry.iloc[0]
    parts = shown.geoms if hasattr(shown, "geoms") else [shown]
    for part in parts:
        rings = [part.exterior, *part.interiors]
        folium.Polygon([[[round(y, 7), round(x, 7)] for x, y in ring.coords] for ring in rings],
                       color=SELECTED_COLOR, weight=3, fill=True, fill_opacity=0.15).add_to(group)
    return group


def draft_map(grids: gpd.GeoDataFrame, *, color_by: str = "households", values: Sequence[float] | None = None,
              workers: Sequence[str | None] | None = None, problems: gpd.GeoDataFrame | None = None,
              selected: Sequence[str] = (), editable: shapely.Geometry | None = None,
              area: gpd.GeoDataFrame | None = None, area_name: str | None = None, basemap: str = "none",
              draw: bool = True, zoom: int = 15) -> folium.Map:
    """The draft's micro-grids, coloured, with the problems and the drawing tools.

    Parameters
    ----------
    grids
        The micro-grids of the draft's area as edited: ``code, name, households`` and polygons in
        degrees, WGS-84.
    color_by
        A key of :data:`COLOR_MODES`: ``households`` (户数, from ``grids``), ``load`` (``values``:
        cases per worker per week, one per row, NaN for none) or ``worker`` (``workers``: the
        专职网格员's name per row, None for none).
    problems
        Validation problems (:func:`gis.core.topology.validate_grids`), drawn red on top.
    selected
        Codes outlined in blue (the grids chosen for a merge or a split).
    editable
        A polygon (WGS-84) put in the Draw control's layer, so that its vertices can be dragged
        (编辑图形); it comes back first in ``st_folium``'s ``all_drawings``.
    area
        The area's own outline (its row), drawn as a line.
    area_name
        The area's name, left out of the labels.
    basemap
        A key of :data:`BASEMAPS`; drawn shapes come back in its CRS (:func:`drawn_shapes`).
    draw
        Add the drawing tools (lines to split along, polygons for a new shape, editing).

    Returns
    -------
    folium.Map
        With a layer control, a legend, labels (from a readable zoom), every asset served locally.
    """
    if color_by not in COLOR_MODES:
        raise InputError(f"unknown colouring {color_by!r}", field="color_by", fix=f"use one of {', '.join(COLOR_MODES)}")
    lon, lat = _center([grids, area])
    m = base_map(center=(lon, lat), zoom=zoom, basemap=basemap)
    _fit(m, [grids, area], basemap=basemap)
    shown = grids.reset_index(drop=True)
    if area is not None and len(area):
        # under the micro-grids: a click on the map must reach them (and select one), not the area
        outline_layer(area, name="规划范围", color="#1f5fa8", basemap=basemap, dash=False).add_to(m)
    layer_name = f"微网格 · {COLOR_MODES[color_by]}"
    if color_by == "worker":
        names = list(workers) if workers is not None else [None] * len(shown)
        layer, legend = _worker_layer(shown, pd.Series(names, dtype=object), basemap=basemap, name=layer_name)
        texts = [f"{short_label(n, area_name)}\n{w or '未配备'}" for n, w in zip(shown["name"], names)]
    else:
        if color_by == "households":
            value = pd.to_numeric(shown["households"], errors="coerce").astype(float)
            metric, label, shown_text = "received", "户数（户）", [
                "无数据" if pd.isna(v) else f"{int(v):,} 户" for v in value]
        else:
            value = pd.Series(list(values) if values is not None else [np.nan] * len(shown), dtype=float)
            metric, label, shown_text = "per_1000", "每人每周案件（件）", [
                "无数据" if pd.isna(v) else f"{v:.1f} 件" for v in value]
        frame = shown.assign(value=value.to_numpy(), 取值=shown_text)
        frame = frame.rename(columns={"取值": label.split("（")[0]})
        layer, legend = choropleth_layer(frame, name=layer_name, basemap=basemap, metric=metric, value_label=label,
                                         tooltip_fields=("name", "code", label.split("（")[0]))
        texts = [f"{short_label(n, area_name)}\n{t}" for n, t in zip(shown["name"], shown_text)]
    layer.add_to(m)
    legend.add_to(m)
    labels = unit_labels(shown, texts, basemap=basemap, layer=layer)
    if labels is not None:
        labels.add_to(m)
    chosen = shown[shown["code"].astype(str).isin({str(c) for c in selected})]
    if len(chosen):
        outline_layer(chosen, name="已选微网格", color=SELECTED_COLOR, basemap=basemap, dash=False).add_to(m)
    bad = problems_layer(problems, basemap=basemap)
    if bad is not None:
        bad.add_to(m)
    if draw:
        group = _editable_group(editable, basemap=basemap)
        group.add_to(m)
        DrawTextsZh().add_to(m)
        folium.plugins.Draw(
            export=False, show_geometry_on_click=False, position="topleft", feature_group=group,
            draw_options={"polyline": {"shapeOptions": {"color": "#d7191c", "weight": 3}},
                          "polygon": {"allowIntersection": False, "showArea": False,
                                      "shapeOptions": {"color": SELECTED_COLOR}},
                          "rectangle": False, "circle": False, "marker": False, "circlemarker": False},
            edit_options={"edit": True, "remove": True}).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return localise_assets(m)


def drawn_shapes(features: Sequence[Mapping[str, Any]] | None, *, basemap: str) -> list[shapely.Geometry]:
    """The shapes ``st_folium`` returns (``all_drawings``: GeoJSON features in the basemap's
    CRS) as shapely geometries in WGS-84, in order; features without a geometry are skipped."""
    crs = BASEMAPS[basemap].crs if basemap in BASEMAPS else "wgs84"
    out = []
    for feature in features or []:
        geometry = (feature or {}).get("geometry")
        if not geometry:
            continue
        geom = shapely.from_geojson(json.dumps(geometry))
        out.append(geom if crs == "wgs84" else geometry_to_wgs84(geom, crs=crs))
    return out


def changed_areas_map(pieces: gpd.GeoDataFrame, *, before: gpd.GeoDataFrame, after: gpd.GeoDataFrame,
                      names: Mapping[str, str] | None = None, area_name: str | None = None,
                      basemap: str = "none") -> folium.Map:
    """The what-if's diff map: the ground that changes micro-grid (``pieces``:
    :func:`gis.core.versions.changed_areas`) in orange over the old boundaries (grey, dashed) and
    the new ones (blue, labelled)."""
    names = dict(names or {})
    lon, lat = _center([before, after])
    m = base_map(center=(lon, lat), zoom=15, basemap=basemap)
    _fit(m, [before, after], basemap=basemap)
    if len(before):
        outline_layer(before.assign(name=[short_label(n, area_name) for n in before["name"]]), name="调整前边界",
                      color="#777777", basemap=basemap, dash=True).add_to(m)
    if len(after):
        new = outline_layer(after.assign(name=[short_label(n, area_name) for n in after["name"]]), name="调整后边界",
                            color="#1f5fa8", basemap=basemap, dash=False)
        new.add_to(m)
    if len(pieces):
        def label(code: object) -> str:
            return "（无）" if code is None or pd.isna(code) else short_label(names.get(code, code), area_name)
        tips = [_escape(f"{label(b)} → {label(a)}") for b, a in zip(pieces["before_code"], pieces["after_code"])]
        areas = [_escape(f"{v:,.0f} 平方米") for v in pieces["area_m2"]]
        collection = _feature_collection(display_frame(pieces, basemap=basemap), {"tip0": tips, "tip1": areas})
        folium.GeoJson(collection, name="改变归属的区域",
                       style_function=lambda f: {"color": "#e66101", "weight": 1, "fillColor": "#fdb863",
                                                 "fillOpacity": 0.75},
                       tooltip=folium.GeoJsonTooltip(fields=["tip0", "tip1"], aliases=["归属变化", "面积"], sticky=True),
                       zoom_on_click=False).add_to(m)
    ClassLegend(title="试算：边界变化", scheme="", bins=[0, 1, 2], colors=["#fdb863", "#ffffff", "#ffffff"],
                labels=["改变归属的区域", "蓝线：调整后边界", "灰虚线：调整前边界"]).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return localise_assets(m)


def version_changes_map(changes: gpd.GeoDataFrame, *, basemap: str = "none",
                        outline: gpd.GeoDataFrame | None = None) -> folium.Map:
    """Grids changed between two versions (:data:`gis.core.versions.CHANGE_COLUMNS`), coloured
    by the kind of change (新增, 撤销, 调整边界, 属性变更), lower levels on top."""
    frames = [changes, outline]
    lon, lat = _center(frames) if any(f is not None and len(f) for f in frames) else (113.62, 34.75)
    m = base_map(center=(lon, lat), zoom=13, basemap=basemap)
    _fit(m, frames, basemap=basemap)
    if outline is not None and len(outline):
        outline_layer(outline, name="范围", color="#1f5fa8", basemap=basemap, dash=False).add_to(m)
    kinds = [c for c in CHANGE_COLORS if len(changes) and (changes["change"] == c).any()]
    for kind in kinds:
        rows = changes[changes["change"] == kind]
        tips = [_escape(f"{n}（{c}）") for n, c in zip(rows["name"], rows["code"])]
        color = CHANGE_COLORS[kind]
        collection = _feature_collection(display_frame(rows, basemap=basemap),
                                         {"code": _text_or_none(rows["code"]), "tip0": tips,
                                          "tip1": [CHANGES_ZH[kind]] * len(rows)})
        folium.GeoJson(collection, name=CHANGES_ZH[kind],
                       style_function=lambda f, color=color: {"color": color, "weight": 2, "fillColor": color,
                                                              "fillOpacity": 0.35},
                       tooltip=folium.GeoJsonTooltip(fields=["tip0", "tip1"], aliases=["网格", "变化"], sticky=True),
                       zoom_on_click=False).add_to(m)
    if kinds:
        ClassLegend(title="版本对比", scheme="", bins=list(range(len(kinds))),
                    colors=[CHANGE_COLORS[k] for k in kinds], labels=[CHANGES_ZH[k] for k in kinds]).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return localise_assets(m)


__all__ = [
    "CHANGE_COLORS",
    "COLOR_MODES",
    "DRAW_TEXTS_ZH",
    "DrawTextsZh",
    "changed_areas_map",
    "draft_map",
    "drawn_shapes",
    "problems_layer",
    "short_label",
    "version_changes_map",
]
