"""The situation map's 热点 layer and 高频点位 markers (pure: frames in, folium out).

The frames are what :func:`gis.workflows.analytics.hot_spots_job` and
:func:`gis.workflows.analytics.repeats` return (the CLI's ``hotspots`` and ``repeats``, the
notebooks'), so the map draws the analysts' numbers and computes none of its own.

Colours follow ArcGIS's Optimized Hot Spot Analysis renderer: hot spots at 99 / 95 / 90 %
confidence dark → light red (``#d62f27``, ``#ed7551``, ``#fab984``), cold spots dark → light blue
(``#4575b5``, ``#849eba``; 90 % a light blue ``#c5d5ea`` rather than ArcGIS's grey-green
``#c0ccbe``, which is hard to tell from 不显著 on a web map). 不显著 is pale grey instead of
ArcGIS's pale yellow, so it does not read as "a little hot". Islands (no neighbour, no Gi*) are
hatched with a dashed outline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element

from gis.core.analytics import DEFAULT_P_VALUE, HOT_SPOT_CLASSES, ISLAND_CLASS, check_p_value
from gis.errors import InputError
from gis.maps.assets import localise_assets
from gis.maps.basemaps import display_frame, display_points
from gis.maps.layers import (
    LegendControl,
    _DISPLAY_DECIMALS,
    _PANEL_STYLE,
    _escape,
    _feature_collection,
    _missing,
    _require_columns,
    _text_or_none,
    china_time_text,
)

#: Classes in the legend's order (hot, strongest first; 不显著; cold, weakest first; islands).
HOT_SPOT_ORDER = ("hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95", "cold_99", "island")
#: Class → Chinese label, the core's own (``class_zh`` of the job's frame).
HOT_SPOT_LABELS: Mapping[str, str] = MappingProxyType(
    {**{cls: zh for cls, zh, _ in HOT_SPOT_CLASSES.values()}, ISLAND_CLASS[0]: ISLAND_CLASS[1]})
#: The SVG pattern islands are filled with (defined once per page by the legend's script).
ISLAND_PATTERN_ID = "gis-island-hatch"
#: Class → fill: a colour, or for islands the hatch pattern.
HOT_SPOT_COLORS: Mapping[str, str] = MappingProxyType({
    "hot_99": "#d62f27", "hot_95": "#ed7551", "hot_90": "#fab984",
    "not_significant": "#eeeeee",
    "cold_90": "#c5d5ea", "cold_95": "#849eba", "cold_99": "#4575b5",
    "island": f"url(#{ISLAND_PATTERN_ID})",
})
# the islands' hatch as the legend's swatch shows it (CSS, not the SVG pattern)
_ISLAND_SWATCH = "repeating-linear-gradient(45deg,#6f6f6f 0 1.5px,#ffffff 1.5px 4.5px)"
_ISLAND_PATTERN_SVG = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    f'<pattern id="{ISLAND_PATTERN_ID}" patternUnits="userSpaceOnUse" width="6" height="6" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#6f6f6f" stroke-width="2"/></pattern></defs></svg>')
_TOOLTIP = (("name", "名称"), ("count", "案件数"), ("z", "z 值"), ("p", "p 值"), ("class_zh", "类别"))


def hot_spot_counts(spots: pd.DataFrame) -> dict[str, int]:
    """Units per class, every class of :data:`HOT_SPOT_ORDER` listed (0 when none)."""
    found = spots["class"].value_counts() if len(spots) else pd.Series(dtype=int)
    return {cls: int(found.get(cls, 0)) for cls in HOT_SPOT_ORDER}


def _number(value: Any, digits: int) -> str:
    if _missing(value) or not math.isfinite(float(value)):
        return "—"
    return f"{float(value):.{digits}f}"


def _p_text(value: Any) -> str:
    if _missing(value) or not math.isfinite(float(value)):
        return "—"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


class HotSpotLegend(LegendControl):
    """The 热点 layer's legend: one row per class with its colour and how many units have it,
    shown while the layer is on. Its script also defines the islands' hatch pattern."""


    def __init__(self, counts: Mapping[str, int], *, title: str, note: str = "", layer: Element | None = None,
                 position: str = "topright") -> None:
        # the islands' hatching: an SVG pattern the legend's swatch and the layer's polygons share
        prelude = (f"if (!document.getElementById({json.dumps(ISLAND_PATTERN_ID)})) {{ "
                   f"document.body.insertAdjacentHTML(\"beforeend\", {json.dumps(_ISLAND_PATTERN_SVG)}); }}")
        super().__init__(name="HotSpotLegend", css_class="gis-hotspot-legend", position=position, layer=layer,
                         prelude=prelude)
        self.counts = {cls: int(counts.get(cls, 0)) for cls in HOT_SPOT_ORDER}
        self.title = title
        # every class of ArcGIS's renderer is listed, islands only when there are some
        self.classes = [cls for cls in HOT_SPOT_ORDER if cls != "island" or self.counts["island"]]
        self.labels = [HOT_SPOT_LABELS[cls] for cls in self.classes]
        row = ('<div class="gis-hotspot-row" data-class="{}" style="display:flex;align-items:center;gap:6px;'
               'line-height:18px"><span style="display:inline-block;flex:none;width:14px;height:14px;'
               'background:{};border:1px solid #999"></span><span>{}</span>'
               '<span class="gis-hotspot-count" style="margin-left:auto;padding-left:8px;color:#555">{}</span></div>')
        rows = "".join(row.format(cls, _ISLAND_SWATCH if cls == "island" else HOT_SPOT_COLORS[cls],
                                  _escape(HOT_SPOT_LABELS[cls]), self.counts[cls]) for cls in self.classes)
        note_html = f'<div style="color:#555;margin-bottom:4px">{_escape(note)}</div>' if note else ""
        self.html = (f'<div style="{_PANEL_STYLE}"><div style="font-weight:bold;margin-bottom:2px">{_escape(title)}'
                     f"</div>{note_html}{rows}</div>")


def hot_spot_layer(spots: gpd.GeoDataFrame, *, name: str, basemap: str, title: str = "热点分析",
                   note: str = "", p_value: str = DEFAULT_P_VALUE, highlight: bool = True,
                   show: bool = True) -> tuple[folium.GeoJson, HotSpotLegend]:
    """Units coloured by their Gi* class (ArcGIS's hot-spot colours), with a Chinese legend.

    Parameters
    ----------
    spots
        One row per unit as :func:`gis.workflows.analytics.hot_spots_job` returns it: ``code``,
        ``name``, ``count``, ``z``, ``p`` and ``p_norm``, ``class`` (a key of
        :data:`HOT_SPOT_COLORS`), optionally ``class_zh``, and polygons in degrees, WGS-84 (e.g. the
        map's simplified shapes).
    name
        Layer name in the layer control.
    basemap
        A key of :data:`gis.maps.BASEMAPS`; geometries are shifted to its CRS.
    title, note
        The legend's title and a line under it (e.g. how the statistic was computed).
    p_value
        Which p-value decided the classes (the job's ``p_value``): ``normal`` shows ``p_norm`` as
        the p 值, ``permutation`` shows ``p``.
    highlight
        Outline a unit under the pointer.
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    tuple
        ``(geojson, legend)``: features carry ``code`` (a click names the unit), ``name``,
        ``count``, ``z``, ``p`` (the p-value that decided), ``class``, ``class_zh`` and ``fill``,
        and a tooltip of
        名称, 案件数, z 值, p 值, 类别; the legend (:class:`HotSpotLegend`) counts the units per class
        and shows while the layer is on. Add both to the map, the layer first.

    Raises
    ------
    InputError
        For a missing column, an unknown class or ``p_value``.
    """
    check_p_value(p_value)
    p_column = "p_norm" if p_value == "normal" else "p"
    _require_columns(spots, ("code", "name", "count", "z", p_column, "class"), what="hot-spot units")
    unknown = sorted(set(spots["class"].dropna()) - set(HOT_SPOT_COLORS)) + (
        ["(none)"] if spots["class"].isna().any() else [])
    if unknown:
        raise InputError(f"hot-spot units have unknown classes {', '.join(map(str, unknown))}", field="class",
                         fix=f"give the classes of hot_spots_job: {', '.join(HOT_SPOT_ORDER)}")
    classes = spots["class"].tolist()
    labels = (spots["class_zh"].tolist() if "class_zh" in spots.columns
              else [HOT_SPOT_LABELS[c] for c in classes])
    counts = pd.to_numeric(spots["count"], errors="coerce")
    properties: dict[str, Sequence[Any]] = {
        "code": _text_or_none(spots["code"]),
        "name": _text_or_none(spots["name"]),
        "count": [None if _missing(v) else int(v) for v in counts],
        "z": [None if _missing(v) or not math.isfinite(v) else round(float(v), 4) for v in spots["z"]],
        "p": [None if _missing(v) or not math.isfinite(v) else float(v) for v in spots[p_column]],
        "class": classes,
        "class_zh": labels,
        "fill": [HOT_SPOT_COLORS[c] for c in classes],
        "tip0": [_escape(v) if not _missing(v) else "—" for v in spots["name"]],
        "tip1": [_number(v, 0) for v in counts],
        "tip2": [_number(v, 2) for v in spots["z"]],
        "tip3": [_p_text(v) for v in spots[p_column]],
        "tip4": [_escape(v) for v in labels],
    }
    collection = _feature_collection(display_frame(spots, basemap=basemap), properties)

    def style(feature: dict) -> dict:
        island = feature["properties"]["class"] == "island"
        return {"fillColor": feature["properties"]["fill"], "fillOpacity": 0.8 if not island else 1.0,
                "color": "#333333" if island else "#666666", "weight": 1.2 if island else 0.8,
                "dashArray": "4 3" if island else None}

    layer = folium.GeoJson(
        collection, name=name, style_function=style,
        highlight_function=(lambda f: {"weight": 3, "color": "#222222"}) if highlight else None,
        tooltip=folium.GeoJsonTooltip(fields=[f"tip{j}" for j in range(len(_TOOLTIP))],
                                      aliases=[label for _, label in _TOOLTIP], sticky=True),
        zoom_on_click=False, show=show)
    legend = HotSpotLegend(hot_spot_counts(spots), title=title, note=note, layer=layer)
    return localise_assets(layer), legend


# -- 高频点位 ---------------------------------------------------------------------------------------

#: The marker colour of repeat locations: apart from the hot-spot reds and blues.
REPEAT_COLOR = "#00796b"  # teal: not a class colour, nor the exclusive grids' purple
#: The table's and the popup's columns: frame column → Chinese header (never a phone).
REPEAT_FIELDS = (("address", "地点"), ("category_zh", "类别"), ("count", "次数"), ("first", "首次"),
                 ("last", "最近"), ("micro_name", "微网格"), ("worker", "责任网格员"))


def repeat_radius_px(count: int | float) -> float:
    """A marker's radius in screen pixels: its area grows with the count (3 reports: 9 px, capped at 24)."""
    return float(min(24.0, 5.2 * math.sqrt(max(float(count), 1.0))))


def repeats_table(repeats: pd.DataFrame) -> pd.DataFrame:
    """The 高频点位 list as the page shows it: 地点, 类别, 次数, 首次, 最近, 微网格, 责任网格员.

    ``repeats`` is :func:`gis.workflows.analytics.repeats`' frame; a location without an address
    is named by its micro-grid (``…附近``), times are China time ``YYYY-MM-DD HH:MM``; only these
    columns are kept (no case keys, no phones), the largest first as the job orders them.
    """
    _require_columns(repeats, ("category", "count", "first", "last", "micro_code"), what="repeat locations")
    out = pd.DataFrame(index=repeats.index)
    micro = repeats["micro_name"] if "micro_name" in repeats.columns else repeats["micro_code"]
    address = repeats["address"] if "address" in repeats.columns else pd.Series(None, index=repeats.index)
    out["地点"] = [a if not _missing(a) and str(a).strip() else (f"{m}附近" if not _missing(m) else "（无地址）")
                 for a, m in zip(address, micro)]
    category = repeats["category_zh"] if "category_zh" in repeats.columns else repeats["category"]
    out["类别"] = category.to_numpy()
    out["次数"] = pd.to_numeric(repeats["count"], errors="coerce").astype("Int64").to_numpy()
    out["首次"] = [china_time_text(v) for v in repeats["first"]]
    out["最近"] = [china_time_text(v) for v in repeats["last"]]
    out["微网格"] = ["" if _missing(v) else str(v) for v in micro]
    out["责任网格员"] = ["" if _missing(v) else str(v) for v in repeats.get("worker", pd.Series(None, index=repeats.index))]
    return out.reset_index(drop=True)


def repeat_layer(repeats: pd.DataFrame, *, name: str, basemap: str, note: str = "",
                 show: bool = True) -> tuple[folium.FeatureGroup, HotSpotLegend | Element]:
    """高频点位 as circle markers sized by how often the place was reported, with a popup.

    Parameters
    ----------
    repeats
        :func:`gis.workflows.analytics.repeats`' frame (``lon``, ``lat`` in degrees WGS-84 and
        the columns of :data:`REPEAT_FIELDS`).
    name
        Layer name in the layer control.
    basemap
        A key of :data:`gis.maps.BASEMAPS`; points are shifted to its CRS.
    note
        The legend's line under its title (the rule: ``同类案件 30 米、30 天内 ≥ 3 次``).
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    tuple
        ``(group, legend)``: one :class:`folium.CircleMarker` per location (CSS class
        ``gis-repeat``; radius :func:`repeat_radius_px`), its popup the row of
        :func:`repeats_table`, its tooltip ``类别 · N 次``; and a legend shown while the group is on.
    """
    _require_columns(repeats, ("lon", "lat", "count"), what="repeat locations")
    table = repeats_table(repeats) if len(repeats) else pd.DataFrame(columns=[h for _, h in REPEAT_FIELDS])
    group = folium.FeatureGroup(name=name, show=show)
    if len(repeats):
        lon = pd.to_numeric(repeats["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(repeats["lat"], errors="coerce").to_numpy(dtype=float)
        x, y = display_points(lon, lat, basemap=basemap)
        x, y = np.atleast_1d(x), np.atleast_1d(y)
        # the largest drawn first, so the smaller ones on top stay clickable
        for i in np.argsort(-pd.to_numeric(repeats["count"], errors="coerce").to_numpy(dtype=float), kind="stable"):
            if not (math.isfinite(x[i]) and math.isfinite(y[i])):
                continue
            row = table.iloc[i]
            popup = "<table>" + "".join(
                f'<tr><th style="text-align:left;padding-right:6px;white-space:nowrap">{header}</th>'
                f"<td>{_escape(row[header])}</td></tr>" for _, header in REPEAT_FIELDS) + "</table>"
            folium.CircleMarker(
                location=[round(float(y[i]), _DISPLAY_DECIMALS), round(float(x[i]), _DISPLAY_DECIMALS)],
                radius=repeat_radius_px(row["次数"]), color="#ffffff", weight=1.5, fill=True,
                fill_color=REPEAT_COLOR, fill_opacity=0.75, class_name="gis-repeat",
                popup=folium.Popup(folium.Html(popup, script=True), max_width=340),
                tooltip=folium.Tooltip(f"{_escape(row['类别'])} · {int(row['次数'])} 次"),
            ).add_to(group)
    legend = _RepeatLegend(layer=group, title=name, note=note, count=len(repeats))
    return localise_assets(group), legend


class _RepeatLegend(LegendControl):
    """The 高频点位 legend: the marker, the rule and how many places, shown while the markers are on."""


    def __init__(self, *, layer: folium.FeatureGroup, title: str, note: str, count: int) -> None:
        super().__init__(name="RepeatLegend", css_class="gis-repeat-legend", position="bottomright", layer=layer)
        dot = ('<span style="display:inline-block;width:{0}px;height:{0}px;border-radius:50%;'
               f'background:{REPEAT_COLOR};opacity:.75;border:1px solid #fff;vertical-align:middle"></span>')
        self.html = (f'<div style="{_PANEL_STYLE}"><div style="font-weight:bold">{_escape(title)}（{count} 处）</div>'
                     + (f'<div style="color:#555">{_escape(note)}</div>' if note else "")
                     + f'<div style="color:#555">{dot.format(10)} {dot.format(16)} 圆越大，次数越多</div></div>')
