"""Folium maps from frames: vendored assets (no CDN), base maps, layers, and the situation map."""

from __future__ import annotations

from gis.maps.assets import (  # noqa: F401
    VENDOR_DIR,
    VENDOR_URL,
    OfflineMap,
    asset_urls,
    localise_assets,
)
from gis.maps.basemaps import (  # noqa: F401
    BASEMAPS,
    Basemap,
    base_map,
    display_frame,
    display_points,
)
from gis.maps.layers import (  # noqa: F401
    ClassLegend,
    choropleth_layer,
    heat_layer,
    outline_layer,
    points_layer,
    simplify_coverage,
    tolerance_for_zoom,
)
from gis.maps.situation import (  # noqa: F401
    situation_map,
)

__all__ = [
    'VENDOR_DIR', 'VENDOR_URL', 'localise_assets', 'OfflineMap', 'asset_urls', 'Basemap', 'BASEMAPS',
    'base_map', 'display_frame', 'display_points', 'heat_layer', 'ClassLegend', 'choropleth_layer',
    'outline_layer', 'points_layer', 'simplify_coverage', 'tolerance_for_zoom', 'situation_map',
]
