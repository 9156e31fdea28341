"""The situation map's 热点 layer and 高频点位 markers (gis.maps.hotspots): classes → ArcGIS's colours,
a Chinese legend that counts the units per class, islands hatched, the tooltip's fields, the
repeat-location list without phones, and the situation map's 热点 mode."""

from __future__ import annotations

import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis import maps
from gis.core import analytics as core
from gis.errors import InputError
from gis.maps import hotspots

LON, LAT = 113.6654, 34.7579
STEP = 0.004
CLASSES = ["hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95", "cold_99", "island"]


def _spots(classes=CLASSES) -> gpd.GeoDataFrame:
    """One unit per class in a row (the last one, the island, set apart), as hot_spots_job returns them."""
    n = len(classes)
    boxes = [shapely.box(LON + i * STEP, LAT, LON + (i + 1) * STEP, LAT + STEP) for i in range(n)]
    labels = dict(maps.HOT_SPOT_LABELS)
    return gpd.GeoDataFrame({
        "code": [f"41010200920{i:02d}" for i in range(n)],
        "name": [f"第{i + 1}网格" for i in range(n)],
        "count": [30 - i for i in range(n)],
        "z": [np.nan if c == "island" else 3.2 - i for i, c in enumerate(classes)],
        "p": [np.nan if c == "island" else (0.001 if i == 0 else 0.0123) for i, c in enumerate(classes)],
        "p_norm": [np.nan if c == "island" else (0.0000004 if i == 0 else 0.0456) for i, c in enumerate(classes)],
        "class": classes, "class_zh": [labels[c] for c in classes]}, geometry=boxes, crs="EPSG:4326")


def _features(layer: folium.GeoJson) -> list[dict]:
    return layer.data["features"]


def _luminance(colour: str) -> float:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


# -- classes → colours ----------------------------------------------------------------------------


def test_each_class_is_filled_with_its_arcgis_colour_and_the_island_with_the_hatch():
    layer, _ = maps.hot_spot_layer(_spots(), name="社区 · 热点分析", basemap="none")
    fills = {f["properties"]["class"]: f["properties"]["fill"] for f in _features(layer)}
    assert fills == dict(maps.HOT_SPOT_COLORS)
    assert fills["hot_99"] == "#d62f27" and fills["cold_99"] == "#4575b5"
    assert fills["island"] == f"url(#{hotspots.ISLAND_PATTERN_ID})"
    # the style Leaflet gets: the fill of each feature, the island outlined dashed
    styles = {f["properties"]["class"]: layer.style_function(f) for f in _features(layer)}
    assert styles["island"]["dashArray"] and not styles["hot_99"]["dashArray"]
    assert all(styles[c]["fillColor"] == fills[c] for c in CLASSES)


def test_hot_spots_go_dark_to_light_red_cold_spots_dark_to_light_blue_and_not_significant_is_grey():
    c = maps.HOT_SPOT_COLORS
    hot, cold = [c["hot_99"], c["hot_95"], c["hot_90"]], [c["cold_99"], c["cold_95"], c["cold_90"]]
    rgb = {k: tuple(int(v[i:i + 2], 16) for i in (1, 3, 5)) for k, v in c.items() if v.startswith("#")}
    assert all(rgb[k][0] > rgb[k][2] for k in ("hot_99", "hot_95", "hot_90"))       # red
    assert all(rgb[k][2] > rgb[k][0] for k in ("cold_99", "cold_95", "cold_90"))    # blue
    assert [_luminance(x) for x in hot] == sorted(_luminance(x) for x in hot)       # 99 % darkest
    assert [_luminance(x) for x in cold] == sorted(_luminance(x) for x in cold)
    r, g, b = rgb["not_significant"]
    assert max(r, g, b) - min(r, g, b) <= 8 and _luminance(c["not_significant"]) > _luminance(c["hot_90"])


def test_an_unknown_class_is_refused_with_the_fix():
    spots = _spots()
    spots.loc[2, "class"] = "very_hot"
    with pytest.raises(InputError, match="unknown classes very_hot"):
        maps.hot_spot_layer(spots, name="热点", basemap="none")
    with pytest.raises(InputError, match="lacks column"):
        maps.hot_spot_layer(spots.drop(columns="z"), name="热点", basemap="none")


# -- the legend ------------------------------------------------------------------------------------


def test_the_legend_names_every_class_in_chinese_and_counts_the_units_of_each():
    spots = _spots(["hot_99", "hot_99", "hot_90", "not_significant", "not_significant", "not_significant", "cold_95"])
    _, legend = maps.hot_spot_layer(spots, name="社区 · 热点分析", basemap="none", title="社区 · 热点分析")
    assert legend.labels == ["热点（99%置信）", "热点（95%置信）", "热点（90%置信）", "不显著",
                             "冷点（90%置信）", "冷点（95%置信）", "冷点（99%置信）"]
    assert legend.counts == {"hot_99": 2, "hot_95": 0, "hot_90": 1, "not_significant": 3, "cold_90": 0,
                             "cold_95": 1, "cold_99": 0, "island": 0}
    rows = re.findall(r'data-class="(\w+)".*?gis-hotspot-count[^>]*>(\d+)<', legend.html)
    assert dict((k, int(v)) for k, v in rows) == {k: v for k, v in legend.counts.items() if k != "island"}
    # nothing English on screen: the legend's words are Chinese (the only letters: none)
    assert not re.search(r"[A-Za-z]", _text(legend.html).replace("&nbsp;", ""))


def test_islands_get_a_legend_row_and_a_hatch_pattern_only_when_there_are_some():
    _, with_island = maps.hot_spot_layer(_spots(), name="热点", basemap="none")
    assert with_island.classes[-1] == "island" and with_island.labels[-1] == "孤立（无相邻网格）"
    assert with_island.counts["island"] == 1
    assert "repeating-linear-gradient" in with_island.html
    _, without = maps.hot_spot_layer(_spots(CLASSES[:-1]), name="热点", basemap="none")
    assert "island" not in without.classes and "孤立" not in without.html
    # the map defines the SVG pattern the islands' fill refers to
    m = folium.Map(location=[LAT, LON], zoom_start=15, tiles=None)
    layer, legend = maps.hot_spot_layer(_spots(), name="热点", basemap="none")
    layer.add_to(m)
    legend.add_to(m)
    page = m.get_root().render()
    assert f'id=\\"{hotspots.ISLAND_PATTERN_ID}\\"' in page or f'id="{hotspots.ISLAND_PATTERN_ID}"' in page


# -- the tooltip -------------------------------------------------------------------------------------


def test_the_tooltip_shows_name_count_z_p_and_class_in_chinese():
    layer, _ = maps.hot_spot_layer(_spots(), name="热点", basemap="none")
    (tooltip,) = [c for c in layer._children.values() if isinstance(c, folium.GeoJsonTooltip)]
    assert tooltip.aliases == ["名称", "案件数", "z 值", "p 值", "类别"]
    first, island = _features(layer)[0]["properties"], _features(layer)[-1]["properties"]
    # the p that decided the classes: by default the normal p of z (the job's default, ArcGIS's)
    assert [first[f] for f in tooltip.fields] == ["第1网格", "30", "3.20", "< 0.001", "热点（99%置信）"]
    assert [island[f] for f in tooltip.fields] == ["第8网格", "23", "—", "—", "孤立（无相邻网格）"]
    second = _features(layer)[1]["properties"]
    assert second["tip3"] == "0.046" and second["p"] == pytest.approx(0.0456) and second["code"] == "4101020092001"
    # classed by the permutation p: that one is shown
    layer, _ = maps.hot_spot_layer(_spots(), name="热点", basemap="none", p_value="permutation")
    assert [f["properties"]["tip3"] for f in _features(layer)[:2]] == ["0.001", "0.012"]
    with pytest.raises(InputError, match="p_value 'exact' is unknown"):
        maps.hot_spot_layer(_spots(), name="热点", basemap="none", p_value="exact")
    # the raw figures travel too (a test or a click can read them)
    assert first["count"] == 30 and first["z"] == pytest.approx(3.2) and island["z"] is None


def test_a_p_value_below_the_permutation_floor_reads_less_than():
    spots = _spots()
    spots.loc[0, "p"] = 0.0004
    layer, _ = maps.hot_spot_layer(spots, name="热点", basemap="none", p_value="permutation")
    assert _features(layer)[0]["properties"]["tip3"] == "< 0.001"


def test_names_are_escaped_in_the_tooltip():
    spots = _spots()
    spots.loc[0, "name"] = "<b>`${x}`</b>"
    layer, _ = maps.hot_spot_layer(spots, name="热点", basemap="none")
    tip = _features(layer)[0]["properties"]["tip0"]
    assert "<" not in tip and "`" not in tip and "$" not in tip


def test_the_core_statistic_s_classes_are_what_the_layer_draws():
    """A planted cluster through gis.core.analytics.hot_spots (the job's statistic): every unit
    drawn in the colour of the class the statistic gave it, and the legend counts those classes."""
    n = 7
    cells = [(i, j) for j in range(n) for i in range(n)]
    units = gpd.GeoDataFrame({
        "code": [f"c{i}{j}" for i, j in cells], "name": [f"{i}-{j}" for i, j in cells],
        "count": [40 if i <= 2 and j <= 2 else 2 for i, j in cells]},
        geometry=[shapely.box(LON + i * STEP, LAT + j * STEP, LON + (i + 1) * STEP, LAT + (j + 1) * STEP)
                  for i, j in cells], crs="EPSG:4326")
    spots = core.hot_spots(units, value="count", permutations=99, seed=1)
    assert (spots["class"].str.startswith("hot")).any()
    layer, legend = maps.hot_spot_layer(spots, name="热点", basemap="none")
    drawn = pd.DataFrame([f["properties"] for f in _features(layer)])
    assert list(drawn["code"]) == list(spots["code"])
    assert list(drawn["fill"]) == [maps.HOT_SPOT_COLORS[c] for c in spots["class"]]
    assert legend.counts == maps.hot_spot_counts(spots)
    assert sum(legend.counts.values()) == len(spots)


# -- 高频点位 -------------------------------------------------------------------------------------------


def _repeats() -> pd.DataFrame:
    t = pd.Timestamp("2026-11-04 13:22", tz="UTC")
    return pd.DataFrame({
        "cluster_id": [1, 2], "category": ["env.exposed_garbage", "ad.flyer"], "count": [6, 3],
        "first": [t, t + pd.Timedelta(days=1)], "last": [t + pd.Timedelta(days=20), t + pd.Timedelta(days=9)],
        "lon": [LON + 0.001, LON + 0.01], "lat": [LAT + 0.001, LAT + 0.01], "radius_m": [20.0, 12.0],
        "micro_code": ["4101020092010101", "4101020092010102"],
        "case_ids": [["a:1"] * 6, ["a:2"] * 3], "category_zh": ["暴露垃圾", "小广告"],
        "address": ["嵩山路农贸市场南门", None], "micro_name": ["第1微网格", "第2微网格"],
        "street_code": ["410102009"] * 2, "street_name": ["航海西路街道"] * 2, "exclusive_code": [None, None],
        "worker": ["邹东强", "孙宏"], "worker_reason": ["三级网格 的专职网格员"] * 2,
        "reporter_phone": ["13812345678", "13900001111"]})


def test_the_repeat_list_has_chinese_columns_china_times_and_no_phone():
    table = maps.repeats_table(_repeats())
    assert list(table.columns) == ["地点", "类别", "次数", "首次", "最近", "微网格", "责任网格员"]
    assert table.iloc[0].tolist() == ["嵩山路农贸市场南门", "暴露垃圾", 6, "2026-11-04 21:22", "2026-11-24 21:22",
                                      "第1微网格", "邹东强"]
    # a place without an address is named by its micro-grid
    assert table.at[1, "地点"] == "第2微网格附近"
    shown = table.astype(str).to_numpy().ravel().tolist()
    assert not any(re.search(r"1[3-9]\d{9}", v) for v in shown)


def test_repeat_markers_are_sized_by_count_with_a_chinese_popup():
    group, legend = maps.repeat_layer(_repeats(), name="高频点位", basemap="none", note="同类案件 30 米、30 天内 ≥ 3 次")
    markers = [c for c in group._children.values() if isinstance(c, folium.CircleMarker)]
    assert len(markers) == 2
    by_radius = sorted(markers, key=lambda mk: mk.options["radius"])
    assert by_radius[0].options["radius"] < by_radius[1].options["radius"]
    assert by_radius[1].options["radius"] == pytest.approx(maps.hotspots.repeat_radius_px(6))
    assert all(mk.options["className"] == "gis-repeat" for mk in markers)
    m = folium.Map(location=[LAT, LON], zoom_start=15, tiles=None)
    group.add_to(m)
    html = re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), m.get_root().render())
    assert all(h in html for h in ("地点", "类别", "次数", "首次", "最近", "微网格", "责任网格员"))
    assert "嵩山路农贸市场南门" in html and "13812345678" not in html
    assert "高频点位（2 处）" in legend.html and "30 米" in legend.html


def test_no_repeat_locations_draw_an_empty_group_with_its_legend():
    empty = _repeats().iloc[0:0]
    group, legend = maps.repeat_layer(empty, name="高频点位", basemap="none")
    assert not [c for c in group._children.values() if isinstance(c, folium.CircleMarker)]
    assert "（0 处）" in legend.html


# -- the situation map's 热点 mode --------------------------------------------------------------------


def _map(mode: str, **kwargs) -> folium.Map:
    spots = _spots()
    units = spots[["code", "name", "geometry"]].assign(value=spots["count"])
    return maps.situation_map(bounds=tuple(spots.total_bounds), zoom=15, basemap="none", units=units,
                              mode=mode, units_name="网格 · 热点分析", **kwargs)


def _layers(m: folium.Map, kind) -> list:
    return [c for c in m._children.values() if isinstance(c, kind)]


def test_the_hot_spot_mode_colours_the_units_by_class_instead_of_the_metric():
    m = _map("hotspots", hot_spots=_spots(), repeats=_repeats(), repeats_note="同类案件 30 米、30 天内 ≥ 3 次")
    (geojson,) = [g for g in _layers(m, folium.GeoJson)]
    assert {f["properties"]["class"] for f in geojson.data["features"]} == set(CLASSES)
    assert len(_layers(m, maps.HotSpotLegend)) == 1
    assert not _layers(m, maps.ClassLegend)
    assert any(g.layer_name == "高频点位" for g in _layers(m, folium.FeatureGroup))
    # a click still names the unit to drill into
    assert all(f["properties"]["code"] for f in geojson.data["features"])


def test_other_modes_draw_no_hot_spots_even_when_given():
    m = _map("choropleth", hot_spots=_spots())
    assert not _layers(m, maps.HotSpotLegend) and len(_layers(m, maps.ClassLegend)) == 1


def test_the_hot_spot_mode_without_classes_draws_the_units_as_outlines():
    m = _map("hotspots", hot_spots=None)
    assert not _layers(m, maps.HotSpotLegend) and not _layers(m, maps.ClassLegend)
    assert _layers(m, folium.GeoJson)


def test_the_modes_offered_are_chinese():
    assert maps.MAP_MODES == {"choropleth": "分级设色", "heat": "热力", "hotspots": "热点"}
