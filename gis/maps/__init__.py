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
    CLUSTER_FROM,
    HEAT_GRADIENT,
    MAX_UNIT_LABELS,
    STATUS_LEGEND,
    ClassLegend,
    HeatLegend,
    UnitLabels,
    china_time_text,
    choropleth_layer,
    heat_layer,
    heat_legend,
    outline_layer,
    points_layer,
    simplify_coverage,
    status_legend,
    tolerance_for_zoom,
    unit_labels,
)
from gis.maps.classes import (  # noqa: F401
    NO_DATA_COLOR,
    Classes,
    classify,
    format_value,
)
from gis.maps.figure import (  # noqa: F401
    cjk_font,
    draw_outlines,
    draw_map_figure,
    map_figure,
    use_cjk_font,
)
from gis.maps.hotspots import (  # noqa: F401
    HOT_SPOT_COLORS,
    HOT_SPOT_LABELS,
    HOT_SPOT_ORDER,
    REPEAT_FIELDS,
    HotSpotLegend,
    hot_spot_counts,
    hot_spot_layer,
    repeat_layer,
    repeats_table,
)
from gis.maps.situation import (  # noqa: F401
    MAP_MODES,
    situation_map,
)

__all__ = [
    'VENDOR_DIR', 'VENDOR_URL', 'localise_assets', 'OfflineMap', 'asset_urls', 'Basemap', 'BASEMAPS',
    'base_map', 'display_frame', 'display_points', 'heat_layer', 'ClassLegend', 'choropleth_layer',
    'outline_layer', 'points_layer', 'simplify_coverage', 'tolerance_for_zoom', 'situation_map',
    'NO_DATA_COLOR', 'Classes', 'classify', 'format_value', 'cjk_font', 'draw_outlines', 'use_cjk_font', 'draw_map_figure', 'map_figure',
    'CLUSTER_FROM', 'HEAT_GRADIENT', 'MAX_UNIT_LABELS', 'HeatLegend', 'UnitLabels', 'china_time_text',
    'heat_legend', 'unit_labels', 'MAP_MODES', 'STATUS_LEGEND', 'status_legend',
    'HOT_SPOT_COLORS', 'HOT_SPOT_LABELS', 'HOT_SPOT_ORDER', 'REPEAT_FIELDS', 'HotSpotLegend', 'hot_spot_counts',
    'hot_spot_layer', 'repeat_layer', 'repeats_table',
]
