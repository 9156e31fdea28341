"""Folium maps and layers built from frames: base maps, heat, choropleth, outlines, points.

Every frame handed in is WGS-84 (lon, lat in degrees, EPSG:4326), as stored.
Basemaps published in China (高德/Amap) are drawn in GCJ-02, so each layer
builder takes ``basemap`` and shifts a *display copy* of its geometries to the
tiles' CRS (:func:`display_frame`, :func:`display_points`); the frames passed
in are never changed.

No CDN: folium and streamlit-folium load Leaflet and its plugins from public
CDNs by default, and offline (CI, government intranets, mainland China) the map
stays blank.  The code the maps need is vendored from the npm registry into
``static/vendor/`` (``scripts/vendor_assets.sh``, versions and licences in
``static/vendor/README.md``) and served by Streamlit at
``/app/static/vendor/`` (``server.enableStaticServing``).
:func:`localise_assets` points every element's ``default_js``/``default_css``
at those copies; every builder applies it, and :class:`OfflineMap` applies it
again to the whole tree each time it renders, so layers that a page adds itself
are covered too.  streamlit-folium does not render the map's ``<head>`` links:
it collects the ``default_js``/``default_css`` of every element and loads them
in its component iframe (and adds d3 from a CDN for any branca colormap, so no
colormap may join the tree: :class:`ClassLegend` draws the choropleth legend in
plain HTML instead).  Tile images still load from their servers in the browser;
they are images, not code.

This module knows nothing about SQL and never imports streamlit.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import branca.colormap
import folium
import folium.plugins
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely
from branca.element import CssLink, Element, JavascriptLink, MacroElement
from branca.utilities import color_brewer
from folium.elements import JSCSSMixin
from folium.template import Template
from numpy.typing import ArrayLike

from gis.crs import from_wgs84, geometries_from_wgs84, to_metric
from gis.dispatch import STATUS_NAMES_ZH
from gis.errors import GisError, InputError

__all__ = [
    "BASEMAPS", "Basemap", "VENDOR_DIR", "VENDOR_URL",
    "OfflineMap", "ClassLegend",
    "base_map", "localise_assets", "asset_urls",
    "display_frame", "display_points",
    "heat_layer", "choropleth_layer", "outline_layer", "points_layer",
    "simplify_coverage", "tolerance_for_zoom",
]


class Basemap(NamedTuple):
    """A tile source: its Chinese label, tiles URL template, attribution and CRS."""

    label: str
    tiles: str | None
    attribution: str
    crs: str


#: Basemaps by key.  ``crs`` is the datum the tiles are drawn in: OSM and CARTO
#: in WGS-84; Amap in GCJ-02 (GB 20263), so WGS-84 data drawn on it unshifted
#: sit some 300-700 m off in China.
BASEMAPS: Mapping[str, Basemap] = MappingProxyType({
    "osm": Basemap(
        "OpenStreetMap",
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        "wgs84"),
    "carto": Basemap(
        "CartoDB 浅色",
        "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
        ' &copy; <a href="https://carto.com/attributions">CARTO</a>',
        "wgs84"),
    "amap": Basemap(
        "高德地图",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        '&copy; <a href="https://www.amap.com/">高德地图</a> AutoNavi',
        "gcj02"),
    "none": Basemap("无底图", None, "", "wgs84"),
})

# Tile servers' subdomains and deepest zoom (Amap's street tiles stop at 18).
_TILE_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "osm": MappingProxyType({"max_zoom": 19}),
    "carto": MappingProxyType({"subdomains": "abcd", "max_zoom": 20}),
    "amap": MappingProxyType({"subdomains": "1234", "max_zoom": 18}),
})

#: Where the vendored browser code lives on disk, and the URL Streamlit serves
#: it at (``./static/`` beside app.py is served at ``/app/static/``).
VENDOR_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor"
VENDOR_URL = "/app/static/vendor"

# folium/branca asset name -> file under static/vendor/.
_VENDORED: Mapping[str, str] = MappingProxyType({
    "leaflet": "leaflet/dist/leaflet.js",
    "leaflet_css": "leaflet/dist/leaflet.css",
    # folium's Popup builds its content with $(`...`), so jQuery stays.
    "jquery": "jquery/dist/jquery.min.js",
    "leaflet-heat.js": "leaflet.heat/dist/leaflet-heat.min.js",
})
# Assets folium.Map lists by default that no map here uses: Bootstrap and
# glyphicons (folium's own widgets), Font Awesome and awesome-markers (only
# folium.Icon).  Dropped rather than vendored: ~1 MB of fonts and CSS for nothing.
_UNUSED = frozenset({
    "bootstrap", "bootstrap_css", "glyphicons_css", "awesome_markers",
    "awesome_markers_css", "awesome_markers_font_css", "awesome_rotate_css",
})
# streamlit-folium adds these for any branca ColorMap it finds in the tree.
_D3_URLS = ("https://d3js.org/d3.v4.min.js",
            "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js")

_HEAT_MAX_CELLS = 50_000
_NO_DATA_COLOR = "#d9d9d9"
# Display coordinates are rounded to 6 decimals: ~0.1 m, far below a pixel.
_DISPLAY_DECIMALS = 6


# --------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------

def _is_remote(url: str) -> bool:
    return url.lower().startswith(("http://", "https://", "//"))


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _local_links(element: Element, links: Sequence[tuple[str, str]], *, base_url: str
                 ) -> list[tuple[str, str]]:
    local = []
    for name, url in links:
        if name in _VENDORED:
            local.append((name, f"{base_url}/{_VENDORED[name]}"))
        elif name in _UNUSED:
            continue
        elif _is_remote(url):
            raise GisError(
                f"{type(element).__name__} loads {name!r} from {url}, which is not vendored",
                fix="add it to scripts/vendor_assets.sh and to gis.maps._VENDORED, "
                    "or draw the layer without that plugin")
        else:
            local.append((name, url))
    return local


def localise_assets(m: Element, *, base_url: str = VENDOR_URL) -> Element:
    """Point every script and stylesheet of a map (or layer) at the vendored copies.

    Rewrites, in place, the ``default_js``/``default_css`` of ``m`` and of
    every element below it, and the links already placed in its figure's
    ``<head>``, to ``{base_url}/<package>/...``.  Assets folium lists but no map
    here uses (Bootstrap, Font Awesome, awesome-markers) are dropped.

    Parameters
    ----------
    m
        A :class:`folium.Map` or any layer; changed in place.
    base_url
        URL prefix of ``static/vendor/``: ``/app/static/vendor`` under
        Streamlit, a relative path such as ``static/vendor`` for an HTML file
        saved beside ``static/``.

    Returns
    -------
    Element
        ``m`` itself.

    Raises
    ------
    GisError
        When an element needs code that is not vendored: a plugin with a CDN
        URL, :class:`folium.Icon` (awesome-markers) or a branca colormap
        (streamlit-folium adds d3 from a CDN for those).
    """
    base_url = base_url.rstrip("/")
    if isinstance(m, OfflineMap):
        m.asset_base_url = base_url
    for element in _walk(m):
        if isinstance(element, branca.colormap.ColorMap):
            raise GisError("a branca colormap on the map loads d3 from a CDN",
                           fix="use the ClassLegend from gis.maps.choropleth_layer")
        if isinstance(element, folium.Icon):
            raise GisError("folium.Icon needs Font Awesome and awesome-markers, which are not vendored",
                           fix="draw points with folium.CircleMarker (see gis.maps.points_layer)")
        if isinstance(element, JSCSSMixin):
            # Instance attributes: the class lists are shared by every map in
            # the process (and JSCSSMixin.add_js_link mutates them in place).
            element.default_js = _local_links(element, element.default_js, base_url=base_url)
            element.default_css = _local_links(element, element.default_css, base_url=base_url)
    root = m.get_root()
    header = getattr(root, "header", None)
    if header is not None and root is not m:
        for name, link in list(header._children.items()):
            if isinstance(link, (JavascriptLink, CssLink)):
                kept = _local_links(root, [(name, link.url)], base_url=base_url)
                if kept:
                    link.url = kept[0][1]
                else:
                    del header._children[name]
    return m


class OfflineMap(folium.Map):
    """A :class:`folium.Map` that loads no code from a CDN.

    Same arguments as :class:`folium.Map`, plus ``asset_base_url`` (see
    :func:`localise_assets`).  Each render localises the whole tree again, so
    layers added after :func:`base_map` returned are covered too.
    """

    def __init__(self, *args: Any, asset_base_url: str = VENDOR_URL, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asset_base_url = asset_base_url
        localise_assets(self, base_url=asset_base_url)

    def render(self, **kwargs: Any) -> None:
        localise_assets(self, base_url=self.asset_base_url)
        super().render(**kwargs)


class _AssetParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        elif (tag == "link" and attributes.get("href")
              and "stylesheet" in (attributes.get("rel") or "").lower()):
            self.urls.append(attributes["href"])


def asset_urls(m: folium.Map) -> list[str]:
    """Every script and stylesheet URL a map loads, standalone or in streamlit-folium.

    Renders the map's figure and reads its ``<script src>`` and stylesheet
    ``<link href>`` (tile URL templates are image sources inside scripts and
    are not listed), then adds what streamlit-folium loads: each element's
    ``default_js``/``default_css`` and, for a branca colormap, d3.

    Parameters
    ----------
    m
        A map inside a figure (every :class:`folium.Map` is).

    Returns
    -------
    list of str
        URLs in load order, without duplicates.
    """
    parser = _AssetParser()
    parser.feed(m.get_root().render())
    urls = list(parser.urls)
    for element in _walk(m):
        if isinstance(element, branca.colormap.ColorMap):
            urls.extend(_D3_URLS)
        urls.extend(url for _, url in getattr(element, "default_js", []))
        urls.extend(url for _, url in getattr(element, "default_css", []))
    return list(dict.fromkeys(urls))


# --------------------------------------------------------------------------
# Base map and display copies
# --------------------------------------------------------------------------

def _basemap(key: str) -> Basemap:
    if key not in BASEMAPS:
        raise InputError(f"unknown basemap {key!r}", fix=f"use one of {', '.join(BASEMAPS)}")
    return BASEMAPS[key]


def base_map(*, center: tuple[float, float], zoom: int, basemap: str = "osm") -> OfflineMap:
    """An empty map with one basemap (or none), loading no code from a CDN.

    Parameters
    ----------
    center
        ``(lon, lat)`` in degrees, WGS-84 (shifted to GCJ-02 for ``amap``).
    zoom
        Initial zoom level (web-mercator, 0 = the world).
    basemap
        A key of :data:`BASEMAPS`; ``none`` adds no tile layer.

    Returns
    -------
    OfflineMap
        Scale bar on; add layers, then ``st_folium`` it or render it.

    Raises
    ------
    InputError
        For an unknown basemap, or a centre outside lon -180..180, lat -90..90
        (usually lat and lon swapped).
    """
    source = _basemap(basemap)
    lon, lat = (float(v) for v in center)
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InputError(f"map centre lon {lon}, lat {lat} is outside -180..180, -90..90",
                         fix="give center as (lon, lat) in degrees, WGS-84")
    lon, lat = display_points(lon, lat, basemap=basemap)
    options = dict(_TILE_OPTIONS.get(basemap, {}))
    m = OfflineMap(location=[lat, lon], zoom_start=int(zoom), tiles=None, control_scale=True,
                   max_zoom=options.get("max_zoom", 19))
    if source.tiles is not None:
        folium.TileLayer(tiles=source.tiles, attr=source.attribution, name=source.label,
                         **options).add_to(m)
    return localise_assets(m)


def display_frame(gdf: gpd.GeoDataFrame, *, basemap: str) -> gpd.GeoDataFrame:
    """The copy of a frame to draw on ``basemap``: geometries in the tiles' CRS.

    Parameters
    ----------
    gdf
        Geometries in degrees, WGS-84 (no ``crs`` is taken as EPSG:4326; any
        other ``crs`` is reprojected from).
    basemap
        A key of :data:`BASEMAPS`.

    Returns
    -------
    GeoDataFrame
        A new frame: for ``amap`` every geometry shifted from WGS-84 to GCJ-02
        (``crs`` None: GCJ-02 has no EPSG code), otherwise WGS-84 unchanged.
        The input frame is never modified.
    """
    target = _basemap(basemap).crs
    shown = gdf.copy()
    if shown.crs is not None and not shown.crs.equals("EPSG:4326"):
        shown = shown.to_crs("EPSG:4326")
    if target == "wgs84" or shown.empty:
        return shown
    geometry = shown.geometry.name
    shifted = geometries_from_wgs84(np.asarray(shown.geometry, dtype=object), crs=target)
    shown = shown.set_crs(None, allow_override=True)
    shown[geometry] = gpd.GeoSeries(shifted, index=shown.index, crs=None)
    return shown


def display_points(lon: ArrayLike, lat: ArrayLike, *, basemap: str
                   ) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Point coordinates to draw on ``basemap`` (see :func:`display_frame`).

    Parameters
    ----------
    lon, lat
        Degrees, WGS-84; scalars or array-likes.
    basemap
        A key of :data:`BASEMAPS`.

    Returns
    -------
    tuple
        ``(lon, lat)`` in the tiles' CRS (GCJ-02 for ``amap``, else WGS-84);
        floats for scalar input, else float64 arrays.
    """
    return from_wgs84(lon, lat, crs=_basemap(basemap).crs)


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
_STATUS_COLORS: Mapping[str, str] = MappingProxyType({
    "resolved": "#7f8c8d", "verified": "#7f8c8d", "closed": "#7f8c8d",
    "supervised": "#c0392b", "returned": "#c0392b", "reworked": "#c0392b",
})
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


def situation_map(*, bounds: tuple[float, float, float, float], zoom: int, basemap: str,
                  units: gpd.GeoDataFrame | None, value_label: str = "", scheme: str = "quantiles",
                  heat: Mapping[str, tuple[pd.DataFrame, bool]] | None = None,
                  exclusive: gpd.GeoDataFrame | None = None,
                  outline: gpd.GeoDataFrame | None = None, units_name: str = "") -> folium.Map:
    """The leadership's situation map: a choropleth of units, heat layers, exclusive grids.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in degrees, WGS-84: the view.
    zoom
        The starting zoom (the view is then fitted to ``bounds``).
    basemap
        A key of :data:`BASEMAPS`; overlays are shifted to its CRS.
    units
        ``code``, ``name``, ``value`` and polygons (simplified for the zoom) for the
        choropleth, or None at the bottom of the tree.
    heat
        Layer name → (pre-aggregated cells ``lon, lat, weight``, shown at start).
    exclusive, outline
        Exclusive grids drawn as dashed outlines; the current unit's outline when
        there is no choropleth.

    Returns
    -------
    folium.Map
        With a layer control, assets served locally.
    """
    minx, miny, maxx, maxy = bounds
    m = base_map(center=((minx + maxx) / 2, (miny + maxy) / 2), zoom=zoom, basemap=basemap)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    if units is not None and len(units):
        layer, legend = choropleth_layer(units, name=units_name or value_label, value_label=value_label,
                                         basemap=basemap, scheme=scheme)
        layer.add_to(m)
        legend.add_to(m)
    if outline is not None and len(outline):
        outline_layer(outline, name=units_name or "范围", color="#1f5fa8", basemap=basemap, dash=False).add_to(m)
    for name, (cells, show) in (heat or {}).items():
        heat_layer(cells, name=name, basemap=basemap, show=show).add_to(m)
    if exclusive is not None and len(exclusive):
        outline_layer(exclusive, name="专属网格", color="#7b3294", basemap=basemap).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
