"""Base maps (OpenStreetMap, CartoDB, 高德 in GCJ-02, none) and display coordinates."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import folium
import folium.plugins
import geopandas as gpd
from branca.element import MacroElement
from folium.template import Template
import numpy as np
from numpy.typing import ArrayLike

from gis.core.crs import from_wgs84, geometries_from_wgs84
from gis.errors import InputError
from gis.maps.assets import OfflineMap, localise_assets


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


class MetricScale(MacroElement):
    """Leaflet's scale bar in metres and kilometres only (its default adds feet and miles)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "MetricScale"


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
        Metric scale bar (m / km, no feet or miles) on; add layers, then ``st_folium`` it or render it.

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
    # Leaflet's own scale shows feet and miles beside metres: a metric-only one instead
    m = OfflineMap(location=[lat, lon], zoom_start=int(zoom), tiles=None, control_scale=False,
                   max_zoom=options.get("max_zoom", 19))
    # folium hands max_zoom to its tile layer only; the map needs it too (markercluster refuses a map
    # without one, and the ``none`` basemap has no tile layer to take it from)
    m.options["max_zoom"] = options.get("max_zoom", 19)
    MetricScale().add_to(m)
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
