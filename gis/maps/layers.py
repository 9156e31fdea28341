"""Folium layers from frames: heat, choropleth with class legend, outlines, points;
coverage simplification per zoom."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import branca.colormap
import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.template import Template

from gis.core.china_time import CHINA_TZ
from gis.core.crs import to_metric
from gis.core.metrics import SOURCES_ZH
from gis.core.rules.config import load_rules
from gis.core.rules.lifecycle import ATTENTION_STATUSES, DONE_STATUSES, STATUS_NAMES_ZH
from gis.errors import InputError
from gis.maps.assets import localise_assets
from gis.maps.basemaps import display_frame, display_points
from gis.maps.classes import NO_DATA_COLOR, Classes, classify, format_value

_HEAT_MAX_CELLS = 50_000
# Display coordinates are rounded to 6 decimals: ~0.1 m, far below a pixel.
_DISPLAY_DECIMALS = 6


# --------------------------------------------------------------------------
# Escaping
# --------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return value is None
    if isinstance(value, float):
        return math.isnan(value)
    return bool(np.all(pd.isna(value)))


def _escape(value: Any) -> str:
    """Text made inert in HTML and inside folium's JS template literals.

    folium pastes popup and tooltip HTML into backtick strings, where `
    ends the string and ${...} runs code; html.escape leaves both alone.
    """
    if _missing(value):
        return ""
    text = html.escape(str(value), quote=True)
    return text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def _format_number(value: Any) -> str:
    if _missing(value):
        return "无数据"
    number = float(value)
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}",
                         fix=f"give a frame with columns {', '.join(columns)}")


def _text_or_none(values: pd.Series) -> list[str | None]:
    return [None if _missing(v) else str(v) for v in values]


def _feature_collection(shown: gpd.GeoDataFrame, properties: Mapping[str, Sequence[Any]]
                        ) -> dict[str, Any]:
    """GeoJSON of display geometries (rounded to ~0.1 m) with per-feature properties.

    Feature ids are row positions, so folium's style mapping never collides
    even when codes repeat; ``code`` travels in the properties.
    """
    geoms = shapely.transform(np.asarray(shown.geometry, dtype=object),
                              lambda xy: np.round(xy, _DISPLAY_DECIMALS))
    # Empty geometries travel as null, which Leaflet skips.
    geoms[shapely.is_empty(geoms)] = None
    texts = shapely.to_geojson(geoms)
    names = list(properties)
    features = [
        {"type": "Feature", "id": str(i),
         "properties": dict(zip(names, row)),
         "geometry": None if text is None else json.loads(text)}
        for i, (text, *row) in enumerate(zip(texts, *properties.values()))]
    return {"type": "FeatureCollection", "features": features}


# --------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------

def heat_layer(cells: pd.DataFrame, *, name: str, basemap: str,
               gradient: Mapping[float, str] | None = None, radius: int = 20,
               blur: int = 15, show: bool = True) -> folium.FeatureGroup:
    """A heat layer (Leaflet.heat) of pre-aggregated cells.

    Parameters
    ----------
    cells
        One row per cell, columns ``lon``, ``lat`` (cell centre in degrees,
        WGS-84) and ``weight`` (e.g. incident count); never one row per
        incident.  Rows with a missing coordinate or a weight <= 0 are left out.
    name
        Layer name in the layer control.
    basemap
        A key of :data:`BASEMAPS`; points are shifted to its CRS.
    gradient
        Leaflet.heat colour stops, ``{0.4: "blue", ..., 1.0: "red"}``.
    radius, blur
        Screen pixels.
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    folium.FeatureGroup
        Holding one :class:`folium.plugins.HeatMap`; weights divided by their
        maximum, so the busiest cell is full strength.  ``max_weight`` and
        ``gradient`` are kept on the group for :func:`heat_legend`.

    Raises
    ------
    InputError
        When columns are missing or there are more than 50,000 cells.
    """
    _require_columns(cells, ("lon", "lat", "weight"), what="heat cells")
    if len(cells) > _HEAT_MAX_CELLS:
        raise InputError(f"heat_layer got {len(cells):,} cells, more than {_HEAT_MAX_CELLS:,}",
                         fix="aggregate incidents to grid cells first (one row per cell, with a weight)")
    lon = pd.to_numeric(cells["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(cells["lat"], errors="coerce").to_numpy(dtype=float)
    weight = pd.to_numeric(cells["weight"], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(weight) & (weight > 0)
    lon, lat, weight = lon[keep], lat[keep], weight[keep]
    group = folium.FeatureGroup(name=name, show=show)
    group.max_weight = float(weight.max()) if len(weight) else 0.0
    group.gradient = dict(gradient) if gradient else dict(HEAT_GRADIENT)
    if len(weight):
        x, y = display_points(lon, lat, basemap=basemap)
        data = np.column_stack([np.round(y, _DISPLAY_DECIMALS), np.round(x, _DISPLAY_DECIMALS),
                                np.round(weight / weight.max(), 4)]).tolist()
        folium.plugins.HeatMap(data, radius=radius, blur=blur, min_opacity=0.3,
                               gradient=dict(gradient) if gradient else None,
                               control=False).add_to(group)
    return localise_assets(group)


#: Leaflet.heat's own colour stops (used when a layer gives none), for the legend's bar.
HEAT_GRADIENT: Mapping[float, str] = MappingProxyType({0.4: "blue", 0.6: "cyan", 0.7: "lime", 0.8: "yellow",
                                                       1.0: "red"})


class LegendControl(MacroElement):
    """A legend as a Leaflet control: the escaped HTML ``self.html`` (set by the subclass) in a
    ``div`` of class ``css_class`` at ``position``. With ``layer`` it shows only while that layer
    is on the map. ``prelude`` is script run once before the control is made (e.g. an SVG pattern
    the legend and the layer share). Clicks and scrolls on it stay off the map."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            {{ this.prelude }}
            var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
            {{ this.get_name() }}.onAdd = function (map) {
                var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                {%- if this.layer is not none %}
                var layer = {{ this.layer.get_name() }};
                var sync = function () { div.style.display = map.hasLayer(layer) ? "" : "none"; };
                map.on("overlayadd overlayremove", sync);
                sync();
                {%- endif %}
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, *, name: str, css_class: str, position: str = "topright", layer: Element | None = None,
                 prelude: str = "") -> None:
        super().__init__()
        self._name = name
        self.css_class = css_class
        self.position = position
        self.layer = layer
        self.prelude = prelude
        self.html = ""


class HeatLegend(LegendControl):
    """The legend of one heat layer: what a cell counts and the colour bar, shown while the layer is on."""


    def __init__(self, layer: folium.FeatureGroup, *, title: str, position: str = "topright") -> None:
        super().__init__(name="HeatLegend", css_class="gis-heat-legend", position=position, layer=layer)
        self.title = title
        gradient = getattr(layer, "gradient", None) or dict(HEAT_GRADIENT)
        top = float(getattr(layer, "max_weight", 0.0) or 0.0)
        first = min(gradient)
        # below the first stop Leaflet.heat fades the first colour out (min_opacity 0.3)
        stops = [f"{_escape(gradient[first])} 0%"] + [f"{_escape(c)} {float(v) * 100:g}%"
                                                     for v, c in sorted(gradient.items())]
        bar = ('<div style="height:10px;border:1px solid #999;margin:3px 0 1px;'
               f'background:linear-gradient(to right,{",".join(stops)});opacity:.85"></div>')
        ends = ('<div style="display:flex;justify-content:space-between;color:#555">'
                f'<span>少</span><span>{_escape(f"最多 {_format_number(round(top, 1))}" if top else "无")}</span></div>')
        self.html = (f'<div style="{_PANEL_STYLE}"><div style="font-weight:bold">{_escape(layer.layer_name)}</div>'
                     f'<div style="color:#555">{_escape(title)}</div>{bar}{ends}</div>')


def heat_legend(layer: folium.FeatureGroup, *, cell_m: float = 40.0, title: str | None = None) -> HeatLegend:
    """The legend of a :func:`heat_layer` group: ``每 40 m 格案件数`` and the colour bar.

    Parameters
    ----------
    layer
        What :func:`heat_layer` returned (already added to the map).
    cell_m
        Edge of the aggregation cells, metres (the ``cell_m`` of ``workflows.heat_layers``).
    title
        What a cell's weight is; default ``每 {cell_m} m 格案件数``.

    Returns
    -------
    HeatLegend
        Add it to the map after the layer; it shows only while the layer is on.
    """
    return HeatLegend(layer, title=title or f"每 {cell_m:g} m 格案件数")


class ClassLegend(LegendControl):
    """A legend of class colours and ranges, drawn as a Leaflet control.

    Plain HTML (escaped) in a ``L.control``: unlike a branca colormap it needs
    no d3, so nothing is loaded from a CDN.  Add it to the map with
    ``legend.add_to(m)``; with ``layer`` given, it shows only while that layer
    is on (the layer control can switch it off).

    Attributes
    ----------
    title : str
        The value's label, with its unit.
    scheme : str
        ``quantiles`` or ``natural_breaks``.
    method : str
        How the classes were made, in Chinese (分位数, 自然断点 …), shown under the title.
    bins : list of float
        Upper bound of each class, from mapclassify (whole numbers for counts).
    colors : list of str
        Hex colour of each class, lowest values first.
    labels : list of str
        Range of each class, ``"lo – hi"``.
    k : int
        Number of classes (may be fewer than asked when values repeat).
    no_data : bool
        Whether an extra grey 无数据 swatch is shown.
    colormap : branca.colormap.StepColormap or None
        The same classes as a colormap, for colouring elsewhere; never add it
        to a map (streamlit-folium then loads d3 from a CDN).
    """


    def __init__(self, *, title: str, scheme: str, bins: Sequence[float], colors: Sequence[str],
                 labels: Sequence[str], no_data: bool = False, position: str = "topright",
                 vmin: float | None = None, method: str = "", layer: Element | None = None,
                 css_class: str = "gis-class-legend") -> None:
        super().__init__(name="ClassLegend", css_class=css_class, position=position, layer=layer)
        self.title = title
        self.scheme = scheme
        self.method = method
        self.bins = [float(b) for b in bins]
        self.colors = list(colors)
        self.labels = list(labels)
        self.k = len(self.colors)
        self.no_data = no_data
        self.colormap = None
        if self.k and vmin is not None:
            index = [float(vmin), *self.bins]
            if all(a < b for a, b in zip(index, index[1:])):
                self.colormap = branca.colormap.StepColormap(
                    self.colors, index=index, vmin=index[0], vmax=index[-1], caption=title)
        rows = [(c, lab) for c, lab in zip(self.colors, self.labels)]
        if no_data:
            rows.append((NO_DATA_COLOR, "无数据"))
        swatch = ('<div style="display:flex;align-items:center;gap:6px;line-height:18px">'
                  '<span style="display:inline-block;width:14px;height:14px;'
                  'background:{};border:1px solid #999"></span><span>{}</span></div>')
        note = ""
        if method:
            note = f'<div style="color:#555;margin-bottom:4px">分级：{_escape(method)}</div>'
        if not self.colors:
            note += '<div style="color:#555;margin-bottom:4px">所选范围内没有可计算的单元</div>'
        self.html = (
            f'<div style="{_PANEL_STYLE}">'
            f'<div style="font-weight:bold;margin-bottom:2px">{_escape(title)}</div>{note}'
            + "".join(swatch.format(_escape(c), _escape(lab)) for c, lab in rows)
            + "</div>")

    @classmethod
    def from_classes(cls, classes: Classes, *, scheme: str, title: str | None = None,
                     layer: Element | None = None, position: str = "topright") -> ClassLegend:
        """The legend of :func:`gis.maps.classes.classify`'s classes (the static figure's, too)."""
        return cls(title=title or classes.title, scheme=scheme, bins=classes.bins, colors=classes.colors,
                   labels=classes.labels, no_data=classes.no_data, vmin=classes.lows[0] if classes.lows else None,
                   method=classes.method, layer=layer, position=position)


_PANEL_STYLE = ("background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;"
                "box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.4 sans-serif;max-width:220px")


class UnitLabels(MacroElement):
    """Names and values written on polygons, shown only when zoomed in far enough to read.

    One ``L.divIcon`` marker per unit at a point inside it (``point_on_surface``);
    each label appears from the zoom at which its unit is about 70 px wide, and
    only while ``layer`` (the choropleth) is on.  Plain Leaflet: nothing to load.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function (map) {
                var rows = {{ this.rows|tojson }};
                var group = L.layerGroup();
                var markers = rows.map(function (r) {
                    return [r[3], L.marker([r[0], r[1]], {
                        interactive: false, keyboard: false,
                        icon: L.divIcon({className: "gis-unit-label", html: r[2], iconSize: null})})];
                });
                {%- if this.layer is not none %}
                var layer = {{ this.layer.get_name() }};
                {%- endif %}
                var sync = function () {
                    var z = map.getZoom();
                    {%- if this.layer is not none %}
                    var on = map.hasLayer(layer);
                    {%- else %}
                    var on = true;
                    {%- endif %}
                    markers.forEach(function (m) {
                        var want = on && z >= m[0];
                        if (want && !group.hasLayer(m[1])) { group.addLayer(m[1]); }
                        if (!want && group.hasLayer(m[1])) { group.removeLayer(m[1]); }
                    });
                };
                group.addTo(map);
                map.on("zoomend overlayadd overlayremove", sync);
                map.whenReady(sync);
                return group;
            })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, rows: Sequence[tuple[float, float, str, float]], *, layer: Element | None = None) -> None:
        super().__init__()
        self._name = "UnitLabels"
        self.rows = [list(r) for r in rows]
        self.layer = layer

    def render(self, **kwargs: Any) -> None:
        figure = self.get_root()
        if hasattr(figure, "header"):
            figure.header.add_child(Element(_LABEL_CSS), name="gis_unit_label_css")
        super().render(**kwargs)


_LABEL_CSS = ("<style>.gis-unit-label{background:none;border:none;white-space:nowrap;text-align:center;"
              "transform:translate(-50%,-50%);font:12px/1.25 sans-serif;color:#1a1a1a;pointer-events:none;"
              "text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff}"
              ".gis-unit-label b{font-weight:600}</style>")
#: Most units labelled on one map: above this the labels crowd into a blur.
MAX_UNIT_LABELS = 80
# Screen width, in pixels, a unit needs before its label is shown.
_LABEL_MIN_PX = 70


def unit_labels(grids: gpd.GeoDataFrame, texts: Sequence[str], *, basemap: str,
                layer: Element | None = None, max_labels: int = MAX_UNIT_LABELS) -> UnitLabels | None:
    """Labels for polygons at a point inside each, visible from a readable zoom on.

    Parameters
    ----------
    grids
        Polygons in degrees, WGS-84.
    texts
        One label per row (plain text; escaped here, a newline starts a second line).
    basemap
        A key of :data:`BASEMAPS`; points are shifted to its CRS.
    layer
        The layer the labels belong to: they hide while it is off.
    max_labels
        More units than this get no labels at all (None is returned).

    Returns
    -------
    UnitLabels or None
        Add it to the map after ``layer``.
    """
    if len(grids) == 0 or len(grids) > max_labels:
        return None
    wgs = grids.geometry if grids.crs is None else grids.geometry.to_crs("EPSG:4326")
    geoms = np.asarray(wgs, dtype=object)
    present = ~(pd.isna(geoms) | shapely.is_empty(geoms))
    points = np.full(len(geoms), None, dtype=object)
    points[present] = shapely.point_on_surface(geoms[present].tolist())
    bounds = shapely.bounds(geoms[present].tolist()) if present.any() else np.empty((0, 4))
    rows = []
    for point, box, text in zip(points[present], bounds, np.asarray(texts, dtype=object)[present]):
        minx, _, maxx, _ = box
        scale = math.cos(math.radians(point.y))
        width_m = max((maxx - minx) * 111_320 * scale, 1.0)
        # the zoom at which the unit is _LABEL_MIN_PX wide on screen
        min_zoom = math.ceil(math.log2(_M_PER_PX_ZOOM0 * scale * _LABEL_MIN_PX / width_m))
        x, y = display_points(point.x, point.y, basemap=basemap)
        first, *rest = str(text).split("\n")
        html_text = f"<b>{_escape(first)}</b>" + "".join(f"<br>{_escape(line)}" for line in rest)
        rows.append((round(float(y), _DISPLAY_DECIMALS), round(float(x), _DISPLAY_DECIMALS), html_text,
                     int(min_zoom)))
    return UnitLabels(rows, layer=layer)


def choropleth_layer(grids: gpd.GeoDataFrame, *, name: str, basemap: str, metric: str = "received",
                     value_label: str = "", scheme: str = "quantiles", k: int = 5,
                     reference: float | None = None, reference_name: str = "总体",
                     tooltip_fields: Sequence[str] = ("name", "value"),
                     highlight: bool = True, show: bool = True) -> tuple[folium.GeoJson, ClassLegend]:
    """Grids coloured by a metric in classes (:func:`gis.maps.classes.classify`), with a legend.

    Parameters
    ----------
    grids
        Columns ``code``, ``name``, ``value`` (display units: rates in
        percent) and polygon geometry in degrees, WGS-84.  ``value`` NaN is
        drawn grey (无数据).
    name
        Layer name in the layer control.
    basemap
        A key of :data:`BASEMAPS`; geometries are shifted to its CRS.
    metric
        A key of :data:`gis.core.metrics.METRICS`: the ramp's direction (rates:
        better is calmer; counts: more is hotter), the unit and whole-number
        ranges for counts.
    value_label
        Legend title and tooltip label; default the metric's label with unit.
    scheme
        ``quantiles`` (分位数) or ``natural_breaks`` (自然断点, Jenks).
    k
        Number of classes, 2..9 (fewer when there are fewer distinct values).
    reference
        For a rate, the district's value in percent: the ramp diverges around it.
    reference_name
        Whose value ``reference`` is, named in the legend (e.g. the district's name).
    tooltip_fields
        Columns shown on hover, HTML-escaped (``value`` formatted, 无数据 when missing).
    highlight
        Outline a grid under the pointer.
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    tuple
        ``(geojson, legend)``: a :class:`folium.GeoJson` whose features carry
        ``code``, ``name``, ``value`` and ``fill`` (coordinates rounded to 6
        decimals, ~0.1 m), and a :class:`ClassLegend` that shows while the
        layer is on.  Add both to the map, the layer first.

    Raises
    ------
    InputError
        For missing columns, an unknown metric or scheme, k outside 2..9 or a
        value that is not a number.
    """
    _require_columns(grids, ("code", "name", "value"), what="choropleth grids")
    _require_columns(grids, list(tooltip_fields), what="choropleth grids")
    classes = classify(grids["value"], metric, scheme=scheme, k=k, reference=reference,
                       reference_name=reference_name)
    values = pd.to_numeric(grids["value"], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(values)
    title = value_label or classes.title
    properties: dict[str, Sequence[Any]] = {
        "code": _text_or_none(grids["code"]),
        "name": _text_or_none(grids["name"]),
        "value": [float(v) if ok else None for v, ok in zip(values, finite)],
        "fill": list(classes.fills),
    }
    for j, field in enumerate(tooltip_fields):
        properties[f"tip{j}"] = ([_escape(format_value(v, metric)) for v in values] if field == "value"
                                 else [_escape(v) if not _missing(v) else "—" for v in grids[field]])
    aliases = {"code": "编码", "name": "名称", "value": title}
    collection = _feature_collection(display_frame(grids, basemap=basemap), properties)
    layer = folium.GeoJson(
        collection,
        name=name,
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.7,
                                  "color": "#555555", "weight": 0.8},
        highlight_function=(lambda f: {"weight": 3, "color": "#222222", "fillOpacity": 0.85})
        if highlight else None,
        tooltip=folium.GeoJsonTooltip(
            fields=[f"tip{j}" for j in range(len(tooltip_fields))],
            aliases=[_escape(aliases.get(f, f)) for f in tooltip_fields], sticky=True)
        if tooltip_fields else None,
        zoom_on_click=False,
        show=show,
    )
    legend = ClassLegend.from_classes(classes, scheme=scheme, title=title, layer=layer)
    return localise_assets(layer), legend


def outline_layer(grids: gpd.GeoDataFrame, *, name: str, color: str, basemap: str,
                  dash: bool = True) -> folium.GeoJson:
    """Grids drawn as outlines (e.g. exclusive grids), named on hover.

    Parameters
    ----------
    grids
        Columns ``name`` (``code`` too, when present) and polygon geometry in
        degrees, WGS-84.
    name
        Layer name in the layer control.
    color
        CSS colour of the outline.
    basemap
        A key of :data:`BASEMAPS`; geometries are shifted to its CRS.
    dash
        Dashed rather than solid lines.

    Returns
    -------
    folium.GeoJson
        Features carry ``code`` and ``name``; the names are HTML-escaped in the
        tooltip.  Coordinates rounded to 6 decimals (~0.1 m).
    """
    _require_columns(grids, ("name",), what="outline grids")
    codes = _text_or_none(grids["code"]) if "code" in grids.columns else [None] * len(grids)
    collection = _feature_collection(
        display_frame(grids, basemap=basemap),
        {"code": codes, "name": _text_or_none(grids["name"]),
         "tip": [_escape(v) for v in grids["name"]]})
    style = {"color": color, "weight": 2, "fill": True, "fillColor": color,
             # A near-clear fill keeps the inside hoverable for the tooltip.
             "fillOpacity": 0.03}
    if dash:
        style["dashArray"] = "6 4"
    layer = folium.GeoJson(
        collection, name=name,
        style_function=lambda f: dict(style),
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        zoom_on_click=False)
    return localise_assets(layer)


# Case stages where the handler's work is done draw grey; supervised, returned
# and reworked cases draw red; the rest (open) orange.
_STATUS_COLORS: Mapping[str, str] = MappingProxyType(
    {**{s: "#7f8c8d" for s in DONE_STATUSES}, **{s: "#c0392b" for s in ATTENTION_STATUSES}})
_OPEN_COLOR = "#e67e22"
_POPUP_FIELDS = (("external_id", "编号"), ("category", "类别"), ("status", "状态"), ("source", "来源"),
                 ("reported_at", "受理时间"), ("due_at", "办理时限"), ("assignee", "责任人"),
                 ("address", "地址"), ("description", "描述"))
_TIME_FIELDS = frozenset({"reported_at", "due_at"})
#: More points than this are clustered (when ``cluster`` is left to decide).
CLUSTER_FROM = 50
# Each clustered point is [lat, lon, fill colour, popup HTML, tooltip HTML].
_CLUSTER_CALLBACK = """function (row) {
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]), {
        radius: 6, color: "#ffffff", weight: 1, fill: true, fillColor: row[2], fillOpacity: 0.9});
    if (row[3]) { marker.bindPopup(row[3], {maxWidth: 320}); }
    if (row[4]) { marker.bindTooltip(row[4]); }
    return marker;
}"""


# A cluster takes the colour of its most pressing case: red if any is supervised, returned or
# reworked, else orange if any is open, else grey; its size grows with the count.
_CLUSTER_ICON = f"""function (cluster) {{
    var colours = cluster.getAllChildMarkers().map(function (m) {{ return m.options.fillColor; }});
    var colour = colours.indexOf("{_STATUS_COLORS[ATTENTION_STATUSES[0]]}") >= 0 ? "{_STATUS_COLORS[ATTENTION_STATUSES[0]]}"
        : (colours.indexOf("{_OPEN_COLOR}") >= 0 ? "{_OPEN_COLOR}" : "{_STATUS_COLORS[DONE_STATUSES[0]]}");
    var n = cluster.getChildCount();
    var size = n < 10 ? 26 : (n < 100 ? 32 : 38);
    return L.divIcon({{
        html: '<div style="width:' + size + 'px;height:' + size + 'px;line-height:' + size + 'px;'
            + 'border-radius:50%;background:' + colour + ';opacity:.88;color:#fff;font:bold 12px sans-serif;'
            + 'text-align:center;box-shadow:0 0 0 4px rgba(255,255,255,.6)">' + n + '</div>',
        className: "gis-case-cluster", iconSize: L.point(size, size)}});
}}"""
#: The status colours of case points, as their legend lists them.
STATUS_LEGEND = (
    (_STATUS_COLORS[ATTENTION_STATUSES[0]], " / ".join(STATUS_NAMES_ZH[s] for s in ATTENTION_STATUSES)),
    (_OPEN_COLOR, "其他未办结"),
    (_STATUS_COLORS[DONE_STATUSES[0]], " / ".join(STATUS_NAMES_ZH[s] for s in DONE_STATUSES)),
)


def status_legend(layer: folium.FeatureGroup) -> ClassLegend:
    """The legend of :func:`points_layer`'s colours (a cluster shows its most pressing case's),
    shown while the points are on."""
    colours, labels = zip(*STATUS_LEGEND)
    return ClassLegend(title="案件状态", scheme="", bins=(), colors=colours, labels=labels, layer=layer,
                       css_class="gis-status-legend", position="bottomright")


def china_time_text(value: Any) -> str:
    """A moment as China time ``YYYY-MM-DD HH:MM``; '' when missing.

    Aware datetimes and timestamps are converted to Asia/Shanghai; naive ones
    are taken as UTC (what the database stores); text is shown as given.
    """
    if _missing(value):
        return ""
    if isinstance(value, str):
        return value
    moment = pd.Timestamp(value)
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")
    return moment.tz_convert(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _category_names() -> dict[str, str]:
    return load_rules().category_names_zh(with_group=False)


def points_layer(incidents: pd.DataFrame, *, name: str, basemap: str, max_points: int = 5000,
                 cluster: bool | None = None, category_names: Mapping[str, str] | None = None,
                 show: bool = True) -> folium.FeatureGroup:
    """Cases as small circles coloured by status, clustered when dense, with Chinese popups.

    Parameters
    ----------
    incidents
        Columns ``lon``, ``lat`` (degrees, WGS-84; or point geometry instead)
        and any of ``external_id``, ``source``, ``category``, ``status``,
        ``reported_at``, ``due_at``, ``address``, ``assignee``,
        ``description``, shown in the popup, HTML-escaped.  ``category`` is a
        code (``safety.gas``, shown by its Chinese name) or already a name;
        ``status`` a lifecycle code (shown as 受理, 督办 …); ``source`` a code
        of ``SOURCES_ZH``; times are shown as China time ``YYYY-MM-DD HH:MM``.
    name
        Layer name in the layer control.
    basemap
        A key of :data:`BASEMAPS`; points are shifted to its CRS.
    max_points
        The most points drawn; more is an error, not a silent cut.
    cluster
        Group nearby points into counted clusters (Leaflet.markercluster,
        vendored) that split as one zooms in; None clusters more than
        :data:`CLUSTER_FROM` points.
    category_names
        Category code → Chinese name; default the rules file's ``name_zh``.
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    folium.FeatureGroup
        Either one :class:`folium.CircleMarker` per located case, or one
        :class:`folium.plugins.FastMarkerCluster` holding them, coloured by
        status (grey done, red supervised/returned/reworked, orange open).

    Raises
    ------
    InputError
        When coordinates are missing or there are more than ``max_points``.
    """
    if len(incidents) > max_points:
        raise InputError(f"points_layer got {len(incidents):,} incidents, more than max_points={max_points:,}",
                         fix="filter to fewer cases, or draw a heat layer of aggregated cells")
    if {"lon", "lat"} <= set(incidents.columns):
        lon = pd.to_numeric(incidents["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(incidents["lat"], errors="coerce").to_numpy(dtype=float)
    elif isinstance(incidents, gpd.GeoDataFrame):
        wgs = incidents.geometry if incidents.crs is None else incidents.geometry.to_crs("EPSG:4326")
        lon = np.asarray(shapely.get_x(np.asarray(wgs, dtype=object)), dtype=float)
        lat = np.asarray(shapely.get_y(np.asarray(wgs, dtype=object)), dtype=float)
    else:
        _require_columns(incidents, ("lon", "lat"), what="incidents")
    x, y = display_points(lon, lat, basemap=basemap)
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    names = dict(category_names) if category_names is not None else (
        _category_names() if "category" in incidents.columns else {})
    fields = [(col, label) for col, label in _POPUP_FIELDS if col in incidents.columns]
    records = incidents[[col for col, _ in fields]].to_dict("records") if fields else [{}] * len(incidents)
    located = np.isfinite(x) & np.isfinite(y)
    if cluster is None:
        cluster = int(located.sum()) > CLUSTER_FROM
    group = folium.FeatureGroup(name=name, show=show)
    rows = []
    for px, py, record, ok in zip(x, y, records, located):
        if not ok:
            continue
        status = record.get("status")
        shown = dict(record)
        if isinstance(status, str):
            shown["status"] = STATUS_NAMES_ZH.get(status, status)
        if isinstance(record.get("category"), str):
            shown["category"] = names.get(record["category"], record["category"])
        if isinstance(record.get("source"), str):
            shown["source"] = SOURCES_ZH.get(record["source"], record["source"])
        for col in _TIME_FIELDS & shown.keys():
            shown[col] = china_time_text(shown[col])
        table = "".join(
            f'<tr><th style="text-align:left;padding-right:6px;white-space:nowrap">{label}</th>'
            f"<td>{_escape(shown.get(col))}</td></tr>"
            for col, label in fields)
        popup = f"<table>{table}</table>" if table else ""
        color = _STATUS_COLORS.get(status, _OPEN_COLOR) if isinstance(status, str) else _OPEN_COLOR
        tip = " · ".join(_escape(shown[c]) for c in ("category", "status")
                         if c in shown and not _missing(shown[c]))
        lat_, lon_ = round(float(py), _DISPLAY_DECIMALS), round(float(px), _DISPLAY_DECIMALS)
        if cluster:
            rows.append([lat_, lon_, color, popup, tip])
            continue
        folium.CircleMarker(
            location=[lat_, lon_],
            radius=6, color="#ffffff", weight=1, fill=True, fill_color=color, fill_opacity=0.9,
            popup=folium.Popup(folium.Html(popup, script=True), max_width=320) if popup else None,
            tooltip=folium.Tooltip(tip) if tip else None,
        ).add_to(group)
    if cluster and rows:
        folium.plugins.FastMarkerCluster(rows, callback=_CLUSTER_CALLBACK, control=False,
                                         icon_create_function=_CLUSTER_ICON,
                                         options={"disableClusteringAtZoom": 19, "maxClusterRadius": 50,
                                                  "showCoverageOnHover": False}).add_to(group)
    return localise_assets(group)


# --------------------------------------------------------------------------
# Generalisation for display
# --------------------------------------------------------------------------

def simplify_coverage(grids: gpd.GeoDataFrame, *, tolerance_m: float) -> gpd.GeoDataFrame:
    """Simplify grid boundaries for display so neighbours still meet exactly.

    Simplifies each shared edge once (``shapely.coverage_simplify``,
    Visvalingam-Whittaker on the coverage's edges), so no gap or overlap opens
    between grids, unlike simplifying polygon by polygon.  The work is done in
    metres (WGS-84 / UTM of the layer's centre, :func:`gis.crs.to_metric`).

    Parameters
    ----------
    grids
        Polygons in degrees, WGS-84, forming a valid coverage (edges of
        neighbours match vertex for vertex, as after ``grids validate``).
    tolerance_m
        Simplification tolerance in metres, roughly the square root of the
        area of the vertex triangles removed; see :func:`tolerance_for_zoom`.

    Returns
    -------
    GeoDataFrame
        A copy with simplified geometries, ``crs`` EPSG:4326; other columns
        and the index unchanged.  Missing and empty geometries stay as they are.

    Raises
    ------
    InputError
        When ``tolerance_m`` is negative or not a number.
    """
    if not (isinstance(tolerance_m, (int, float)) and math.isfinite(tolerance_m) and tolerance_m >= 0):
        raise InputError(f"simplification tolerance {tolerance_m!r} m is not a number >= 0",
                         fix="give metres, e.g. tolerance_for_zoom(zoom)")
    out = grids.copy()
    if out.crs is None:
        out = out.set_crs("EPSG:4326")
    elif not out.crs.equals("EPSG:4326"):
        out = out.to_crs("EPSG:4326")
    present = ~(out.geometry.isna() | out.geometry.is_empty).to_numpy()
    if tolerance_m == 0 or not present.any():
        return out
    metric = to_metric(out.geometry[present])
    simplified = shapely.coverage_simplify(np.asarray(metric, dtype=object), float(tolerance_m))
    back = gpd.GeoSeries(simplified, index=metric.index, crs=metric.crs).to_crs("EPSG:4326")
    geometry = np.asarray(out.geometry, dtype=object).copy()
    geometry[present] = np.asarray(back, dtype=object)
    out[out.geometry.name] = gpd.GeoSeries(geometry, index=out.index, crs="EPSG:4326")
    return out


# Ground size of one web-mercator pixel at zoom 0 on the equator, m/px
# (2π · 6 378 137 m / 256 px).  At Zhengzhou (34.7°N) a pixel is 0.82 of it.
_M_PER_PX_ZOOM0 = 2 * math.pi * 6378137.0 / 256


def tolerance_for_zoom(zoom: int) -> float:
    """Coverage-simplification tolerance that stays invisible at a zoom level, in metres.

    One screen pixel's ground size at the equator (0.82 px at Zhengzhou).
    ``shapely.coverage_simplify`` (Visvalingam-Whyatt) reads the tolerance as
    the square root of the area of the vertex triangles it removes, so only
    details smaller than about one square pixel go.

    Parameters
    ----------
    zoom
        Web-mercator zoom level, 0..24.

    Returns
    -------
    float
        Metres; 19.1 at zoom 13, halving with each level.

    Raises
    ------
    InputError
        When ``zoom`` is outside 0..24.
    """
    if not 0 <= zoom <= 24:
        raise InputError(f"zoom {zoom} is outside 0..24", fix="give a web-mercator zoom level")
    return _M_PER_PX_ZOOM0 / 2.0 ** zoom
