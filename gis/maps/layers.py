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
import mapclassify
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from branca.utilities import color_brewer
from folium.template import Template

from gis.core.crs import to_metric
from gis.core.rules.lifecycle import ATTENTION_STATUSES, DONE_STATUSES, STATUS_NAMES_ZH
from gis.errors import InputError
from gis.maps.assets import localise_assets
from gis.maps.basemaps import display_frame, display_points

_HEAT_MAX_CELLS = 50_000
_NO_DATA_COLOR = "#d9d9d9"
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
        maximum, so the busiest cell is full strength.

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
    if len(weight):
        x, y = display_points(lon, lat, basemap=basemap)
        data = np.column_stack([np.round(y, _DISPLAY_DECIMALS), np.round(x, _DISPLAY_DECIMALS),
                                np.round(weight / weight.max(), 4)]).tolist()
        folium.plugins.HeatMap(data, radius=radius, blur=blur, min_opacity=0.3,
                               gradient=dict(gradient) if gradient else None,
                               control=False).add_to(group)
    return localise_assets(group)


class ClassLegend(MacroElement):
    """A legend of class colours and ranges, drawn as a Leaflet control.

    Plain HTML (escaped) in a ``L.control``: unlike a branca colormap it needs
    no d3, so nothing is loaded from a CDN.  Add it to the map with
    ``legend.add_to(m)``.

    Attributes
    ----------
    title : str
        The value's label.
    scheme : str
        ``quantiles`` or ``natural_breaks``.
    bins : list of float
        Upper bound of each class, from mapclassify.
    colors : list of str
        Hex colour of each class (ColorBrewer YlOrRd).
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

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
            {{ this.get_name() }}.onAdd = function (map) {
                var div = L.DomUtil.create("div", "gis-class-legend");
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, *, title: str, scheme: str, bins: Sequence[float], colors: Sequence[str],
                 labels: Sequence[str], no_data: bool = False, position: str = "bottomright",
                 vmin: float | None = None) -> None:
        super().__init__()
        self._name = "ClassLegend"
        self.title = title
        self.scheme = scheme
        self.bins = [float(b) for b in bins]
        self.colors = list(colors)
        self.labels = list(labels)
        self.k = len(self.colors)
        self.no_data = no_data
        self.position = position
        self.colormap = None
        if self.k and vmin is not None:
            index = [float(vmin), *self.bins]
            if all(a < b for a, b in zip(index, index[1:])):
                self.colormap = branca.colormap.StepColormap(
                    self.colors, index=index, vmin=index[0], vmax=index[-1], caption=title)
        rows = [(c, lab) for c, lab in zip(self.colors, self.labels)]
        if no_data:
            rows.append((_NO_DATA_COLOR, "无数据"))
        swatch = ('<div style="display:flex;align-items:center;gap:6px;line-height:18px">'
                  '<span style="display:inline-block;width:14px;height:14px;'
                  'background:{};border:1px solid #999"></span><span>{}</span></div>')
        self.html = (
            '<div style="background:rgba(255,255,255,.9);padding:6px 8px;border-radius:4px;'
            'box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.4 sans-serif">'
            f'<div style="font-weight:bold;margin-bottom:4px">{_escape(title)}</div>'
            + "".join(swatch.format(_escape(c), _escape(lab)) for c, lab in rows)
            + "</div>")


def _class_colors(k: int) -> list[str]:
    # ColorBrewer sequential ramps come in 3..9 classes; for 1 or 2 take the
    # light and dark ends of the 3-class ramp.
    if k >= 3:
        return color_brewer("YlOrRd", n=k)
    three = color_brewer("YlOrRd", n=3)
    return [three[2]] if k == 1 else [three[0], three[2]]


def _classify(values: np.ndarray, *, scheme: str, k: int) -> np.ndarray:
    """Upper class bounds by mapclassify (deterministic)."""
    distinct = np.unique(values)
    k = min(k, len(distinct))
    if k <= 1:
        return distinct[-1:].astype(float)
    if scheme == "quantiles":
        return np.asarray(mapclassify.Quantiles(values, k=k).bins, dtype=float)
    # Jenks natural breaks by Fisher's exact method: deterministic, unlike
    # NaturalBreaks (k-means from random seeds).  It is O(k·n²) in pure Python
    # without numba, so it runs on at most 256 evenly spaced order statistics,
    # which moves the breaks by less than a class's spread.
    sample = values if len(values) <= 256 else np.quantile(values, np.linspace(0, 1, 256))
    k = min(k, len(np.unique(sample)))
    bins = np.asarray(mapclassify.FisherJenks(sample, k=k).bins, dtype=float)
    bins[-1] = values.max()
    return bins


def choropleth_layer(grids: gpd.GeoDataFrame, *, name: str, value_label: str, basemap: str,
                     scheme: str = "quantiles", k: int = 5,
                     tooltip_fields: Sequence[str] = ("name", "value"),
                     highlight: bool = True) -> tuple[folium.GeoJson, ClassLegend]:
    """Grids coloured by a value in classes (mapclassify), with a legend.

    Parameters
    ----------
    grids
        Columns ``code``, ``name``, ``value`` and polygon geometry in degrees,
        WGS-84.  ``value`` NaN is drawn grey (无数据).
    name
        Layer name in the layer control.
    value_label
        What the value is, e.g. ``"事件数"``; legend title and tooltip label.
    basemap
        A key of :data:`BASEMAPS`; geometries are shifted to its CRS.
    scheme
        ``quantiles`` (equal counts) or ``natural_breaks`` (Jenks).
    k
        Number of classes, 2..9 (fewer when there are fewer distinct values).
    tooltip_fields
        Columns shown on hover, HTML-escaped.
    highlight
        Outline a grid under the pointer.

    Returns
    -------
    tuple
        ``(geojson, legend)``: a :class:`folium.GeoJson` whose features carry
        ``code``, ``name`` and ``value`` (coordinates rounded to 6 decimals,
        ~0.1 m), and a :class:`ClassLegend`.  Add both to the map.

    Raises
    ------
    InputError
        For missing columns, an unknown scheme, k outside 2..9 or a value that
        is not a number.
    """
    _require_columns(grids, ("code", "name", "value"), what="choropleth grids")
    _require_columns(grids, list(tooltip_fields), what="choropleth grids")
    if scheme not in ("quantiles", "natural_breaks"):
        raise InputError(f"unknown classification scheme {scheme!r}",
                         fix="use 'quantiles' or 'natural_breaks'")
    if not 2 <= k <= 9:
        raise InputError(f"k = {k} classes is outside 2..9", fix="give 2 to 9 classes")
    try:
        values = pd.to_numeric(grids["value"], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"choropleth value is not a number: {exc}", field="value",
                         fix="give numbers (NaN for no data)") from None
    valid = np.isfinite(values)
    bins = _classify(values[valid], scheme=scheme, k=k) if valid.any() else np.array([])
    colors = _class_colors(len(bins)) if len(bins) else []
    lows = [float(values[valid].min()), *bins[:-1]] if len(bins) else []
    labels = [f"{_format_number(lo)} – {_format_number(hi)}" for lo, hi in zip(lows, bins)]
    legend = ClassLegend(title=value_label, scheme=scheme, bins=bins, colors=colors,
                         labels=labels, no_data=bool((~valid).any()),
                         vmin=lows[0] if lows else None)

    classes = np.searchsorted(bins, values, side="left") if len(bins) else np.zeros(len(values), int)
    finite = np.isfinite(values)
    fills = [colors[min(int(c), len(colors) - 1)] if ok else _NO_DATA_COLOR
             for c, ok in zip(classes, finite)]
    properties: dict[str, Sequence[Any]] = {
        "code": _text_or_none(grids["code"]),
        "name": _text_or_none(grids["name"]),
        "value": [float(v) if ok else None for v, ok in zip(values, finite)],
        "fill": fills,
    }
    for j, field in enumerate(tooltip_fields):
        properties[f"tip{j}"] = ([_format_number(v) for v in values] if field == "value"
                                 else [_escape(v) for v in grids[field]])
    aliases = {"code": "编码", "name": "名称", "value": value_label}
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
    )
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
_POPUP_FIELDS = (("external_id", "编号"), ("category", "类别"), ("status", "状态"),
                 ("reported_at", "上报时间"), ("address", "地址"), ("description", "描述"))


def points_layer(incidents: pd.DataFrame, *, name: str, basemap: str,
                 max_points: int = 2000) -> folium.FeatureGroup:
    """A few incidents as small circle markers with popups (e.g. one unit's open cases).

    Parameters
    ----------
    incidents
        Columns ``lon``, ``lat`` (degrees, WGS-84; or point geometry instead)
        and any of ``external_id``, ``category``, ``status``, ``reported_at``,
        ``address``, ``description``, shown in the popup, HTML-escaped.
    name
        Layer name in the layer control.
    basemap
        A key of :data:`BASEMAPS`; points are shifted to its CRS.
    max_points
        The most markers drawn; more is an error, not a silent cut.

    Returns
    -------
    folium.FeatureGroup
        One :class:`folium.CircleMarker` per incident with a coordinate,
        coloured by status (grey done, red supervised/returned, orange open).

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
    group = folium.FeatureGroup(name=name)
    fields = [(col, label) for col, label in _POPUP_FIELDS if col in incidents.columns]
    records = incidents[[col for col, _ in fields]].to_dict("records") if fields else [{}] * len(incidents)
    for px, py, record in zip(x, y, records):
        if not (math.isfinite(px) and math.isfinite(py)):
            continue
        status = record.get("status")
        status_text = STATUS_NAMES_ZH.get(status, status) if isinstance(status, str) else status
        shown = {**record, "status": status_text} if "status" in record else record
        rows = "".join(
            f'<tr><th style="text-align:left;padding-right:6px;white-space:nowrap">{label}</th>'
            f"<td>{_escape(shown.get(col))}</td></tr>"
            for col, label in fields)
        color = _STATUS_COLORS.get(status, _OPEN_COLOR) if isinstance(status, str) else _OPEN_COLOR
        tip = " · ".join(_escape(shown[c]) for c in ("category", "status")
                         if c in shown and not _missing(shown[c]))
        folium.CircleMarker(
            location=[round(float(py), _DISPLAY_DECIMALS), round(float(px), _DISPLAY_DECIMALS)],
            radius=6, color="#ffffff", weight=1, fill=True, fill_color=color, fill_opacity=0.9,
            popup=folium.Popup(folium.Html(f"<table>{rows}</table>", script=True), max_width=320)
            if rows else None,
            tooltip=folium.Tooltip(tip) if tip else None,
        ).add_to(group)
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
