"""The situation map that the app draws and ``benchmarks/map.py`` times."""

from __future__ import annotations

from collections.abc import Mapping

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd

from gis.maps.basemaps import base_map
from gis.maps.layers import choropleth_layer, heat_layer, outline_layer


def situation_map(*, bounds: tuple[float, float, float, float], zoom: int, basemap: str,
                  units: gpd.GeoDataFrame | None, value_label: str = "", scheme: str = "quantiles",
                  heat: Mapping[str, tuple[pd.DataFrame, bool]] | None = None,
                  exclusive: gpd.GeoDataFrame | None = None,
                  outline: gpd.GeoDataFrame | None = None, units_name: str = "",
                  outline_name: str = "") -> folium.Map:
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
        choropleth, or None at the bottom of the tree. Each feature carries its
        ``code``, so a click (``st_folium``'s ``last_active_drawing``) names the
        unit to drill into.
    value_label, scheme
        What the value is (legend title and tooltip) and how it is classed.
    units_name
        The choropleth's name in the layer control (``value_label`` if empty).
    heat
        Layer name → (pre-aggregated cells ``lon, lat, weight``, shown at start).
    exclusive, outline
        Exclusive grids drawn as dashed outlines; the current unit's outline when
        there is no choropleth.
    outline_name
        The outline's name in the layer control (``units_name`` or 范围 if empty).

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
        outline_layer(outline, name=outline_name or units_name or "范围", color="#1f5fa8", basemap=basemap,
                      dash=False).add_to(m)
    for name, (cells, show) in (heat or {}).items():
        heat_layer(cells, name=name, basemap=basemap, show=show).add_to(m)
    if exclusive is not None and len(exclusive):
        outline_layer(exclusive, name="专属网格", color="#7b3294", basemap=basemap).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
