"""The situation map that the app draws and ``benchmarks/map.py`` times."""

from __future__ import annotations

from collections.abc import Mapping

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd

from gis.core.analytics import DEFAULT_P_VALUE
from gis.errors import InputError
from gis.maps.basemaps import base_map
from gis.maps.classes import format_value, metric_of
from gis.maps.hotspots import HOT_SPOT_LABELS, hot_spot_layer, repeat_layer
from gis.maps.layers import (
    choropleth_layer,
    heat_layer,
    heat_legend,
    outline_layer,
    points_layer,
    status_legend,
    unit_labels,
)

#: What the map shows over the units: colour classes, heat or Gi* hot spots (the page's 图层 choice).
MAP_MODES = {"choropleth": "分级设色", "heat": "热力", "hotspots": "热点"}


def situation_map(*, bounds: tuple[float, float, float, float], zoom: int, basemap: str,
                  units: gpd.GeoDataFrame | None, metric: str = "received", value_label: str = "",
                  scheme: str = "quantiles", reference: float | None = None, reference_name: str = "总体",
                  mode: str = "choropleth",
                  heat: Mapping[str, tuple[pd.DataFrame, bool]] | None = None, heat_cell_m: float = 40.0,
                  cases: pd.DataFrame | None = None, cases_name: str = "案件",
                  exclusive: gpd.GeoDataFrame | None = None,
                  outline: gpd.GeoDataFrame | None = None, units_name: str = "",
                  outline_name: str = "", labels: bool = True,
                  hot_spots: gpd.GeoDataFrame | None = None, hot_spots_note: str = "", hot_spots_p_value: str = DEFAULT_P_VALUE,
                  repeats: pd.DataFrame | None = None, repeats_note: str = "") -> folium.Map:
    """The leadership's situation map: units coloured by a metric or heat, cases, exclusive grids.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in degrees, WGS-84: the view.
    zoom
        The starting zoom (the view is then fitted to ``bounds``).
    basemap
        A key of :data:`BASEMAPS`; overlays are shifted to its CRS.
    units
        ``code``, ``name``, ``value`` (display units: rates in percent, NaN for
        无数据) and polygons (simplified for the zoom), or None at the bottom of
        the tree. Each feature carries its ``code``, so a click (``st_folium``'s
        ``last_active_drawing``) names the unit to drill into.
    metric
        A key of :data:`gis.core.metrics.METRICS`: the colours' direction and unit.
    value_label
        Legend title and tooltip label; default the metric's label and unit.
    scheme
        ``quantiles`` (分位数) or ``natural_breaks`` (自然断点).
    reference
        For a rate, the current unit's own value in percent (the units' parent): the ramp
        diverges around it, red below and blue above.
    reference_name
        Whose value ``reference`` is, named in the legend (``以中原区 97.7% 为中点``).
    mode
        ``choropleth`` (分级设色: units coloured, heat layers listed but off) or
        ``heat`` (热力: units as outlines, the first heat layer marked shown is on
        and the others off) or ``hotspots`` (热点: units coloured by their Gi* class from
        ``hot_spots``, heat layers off). Never two at once, so colours do not mix.
    heat
        Layer name → (pre-aggregated cells ``lon, lat, weight``, shown at start);
        each gets a legend (``每 40 m 格案件数``) that shows while it is on.
    heat_cell_m
        The heat cells' edge in metres, for the legend.
    cases
        Cases to draw as points coloured by status, clustered when dense
        (columns of :func:`points_layer`: ``lon, lat, external_id, source,
        category, status, reported_at, due_at, address, assignee``); None for none.
    cases_name
        The points' name in the layer control.
    exclusive, outline
        Exclusive grids drawn as dashed outlines; the current unit's outline when
        there is no choropleth.
    units_name
        The units' name in the layer control (``value_label`` if empty).
    outline_name
        The outline's name in the layer control (``units_name`` or 范围 if empty).
    labels
        Write unit names (and values, in choropleth mode; significant classes, in
        hot-spot mode) on the polygons from a readable zoom on (at most 80 units).
    hot_spots
        In ``hotspots`` mode, the units as :func:`gis.workflows.analytics.hot_spots_job`
        classed them (``code, name, count, z, p, class, class_zh``) on the map's shapes
        (:func:`gis.maps.hotspots.hot_spot_layer`); None or empty: the units as outlines.
    hot_spots_note
        The hot-spot legend's line under its title (how the statistic was computed).
    hot_spots_p_value
        The ``p_value`` the job classed with (``normal`` or ``permutation``): the tooltip's p 值.
    repeats
        高频点位 (:func:`gis.workflows.analytics.repeats`' frame) drawn as circle markers sized
        by count (:func:`gis.maps.hotspots.repeat_layer`), on, with a legend; None for none.
    repeats_note
        Their legend's line (the rule that makes a repeat location).

    Returns
    -------
    folium.Map
        With a collapsed layer control (top left), legends (top right), a
        metric scale, assets served locally.

    Raises
    ------
    InputError
        For an unknown mode or metric (and what the layers raise).
    """
    if mode not in MAP_MODES:
        raise InputError(f"unknown map mode {mode!r}", field="mode", fix=f"use one of {', '.join(MAP_MODES)}")
    metric_of(metric)
    minx, miny, maxx, maxy = bounds
    m = base_map(center=((minx + maxx) / 2, (miny + maxy) / 2), zoom=zoom, basemap=basemap)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    if units is not None and len(units):
        spots = hot_spots if mode == "hotspots" and hot_spots is not None and len(hot_spots) else None
        if spots is not None:
            layer, legend = hot_spot_layer(spots, name=units_name or "热点分析", basemap=basemap,
                                           title=units_name or "热点分析", note=hot_spots_note,
                                           p_value=hot_spots_p_value)
            layer.add_to(m)
            legend.add_to(m)
            # the significant classes on the units; 不显著 and islands leave the name alone
            short = {cls: label.replace("置信", "").replace("（", " ").replace("）", "")
                     for cls, label in HOT_SPOT_LABELS.items() if cls.startswith(("hot", "cold"))}
            texts = [f"{'' if pd.isna(n) else n}" + (f"\n{short[c]}" if c in short else "")
                     for n, c in zip(spots["name"], spots["class"])]
            units = spots
        elif mode == "choropleth":
            layer, legend = choropleth_layer(units, name=units_name or value_label or metric_of(metric).label,
                                             metric=metric, value_label=value_label, basemap=basemap,
                                             scheme=scheme, reference=reference,
                                             reference_name=reference_name)
            layer.add_to(m)
            legend.add_to(m)
            texts = [f"{'' if pd.isna(n) else n}\n{format_value(v, metric)}"
                     for n, v in zip(units["name"], pd.to_numeric(units["value"], errors="coerce"))]
        else:
            layer = outline_layer(units, name=units_name or value_label or metric_of(metric).label,
                                  color="#1f5fa8", basemap=basemap, dash=False)
            layer.add_to(m)
            texts = ["" if pd.isna(n) else str(n) for n in units["name"]]
        if labels:
            labelled = unit_labels(units, texts, basemap=basemap, layer=layer)
            if labelled is not None:
                labelled.add_to(m)
    if outline is not None and len(outline):
        outline_layer(outline, name=outline_name or units_name or "范围", color="#1f5fa8", basemap=basemap,
                      dash=False).add_to(m)
    first_shown = True
    for name, (cells, show) in (heat or {}).items():
        on = mode == "heat" and bool(show) and first_shown
        first_shown = first_shown and not on
        group = heat_layer(cells, name=name, basemap=basemap, show=on)
        group.add_to(m)
        heat_legend(group, cell_m=heat_cell_m).add_to(m)
    if repeats is not None:
        group, repeat_legend = repeat_layer(repeats, name="高频点位", basemap=basemap, note=repeats_note)
        group.add_to(m)
        repeat_legend.add_to(m)
    if cases is not None and len(cases):
        points = points_layer(cases, name=cases_name, basemap=basemap)
        points.add_to(m)
        status_legend(points).add_to(m)
    if exclusive is not None and len(exclusive):
        outline_layer(exclusive, name="专属网格", color="#7b3294", basemap=basemap).add_to(m)
    folium.LayerControl(collapsed=True, position="topleft").add_to(m)
    return m
