"""Colour semantics of the maps (web and static figure), labels, clustered case points, the figure file."""

from __future__ import annotations

import re

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis import maps
from gis.core import metrics
from gis.core.metrics import METRICS
from gis.core.rules.config import load_rules
from gis.errors import GisError
from gis.maps import figure as figure_module
from gis.maps.classes import NO_DATA_COLOR, classify

ZHENGZHOU = (113.6654, 34.7579)


def _units(values, names=None) -> gpd.GeoDataFrame:
    lon, lat = ZHENGZHOU
    n = len(values)
    return gpd.GeoDataFrame(
        {"code": [f"4101020010{i:02d}" for i in range(n)],
         "name": names or [f"社区{i}" for i in range(n)], "value": values},
        geometry=[shapely.box(lon + (i % 4) * 0.01, lat + (i // 4) * 0.01,
                              lon + (i % 4 + 1) * 0.01, lat + (i // 4 + 1) * 0.01) for i in range(n)],
        crs="EPSG:4326")


def _rendered(m: folium.Element) -> str:
    """The map's HTML with the \\uXXXX escapes of its JSON data read back (Leaflet shows the characters)."""
    page = m.get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), page)


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# -- colour classes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(METRICS))
def test_the_ramp_runs_the_way_the_metric_is_good(key):
    metric = METRICS[key]
    values = [52.0, 61.0, 70.0, 75.0, 83.0, 90.0, 95.0, 99.0] if metric.is_rate else [
        0, 3, 8, 20, 45, 90, 150, 400]
    classes = classify(values, key, k=5)
    fills = list(classes.fills)
    best = int(np.argmax(values)) if metric.higher_is_better else int(np.argmin(values))
    worst = int(np.argmin(values)) if metric.higher_is_better else int(np.argmax(values))
    # calm = light, hot = dark red: the best unit gets the calmest colour, the worst the hottest
    assert _luminance(fills[best]) == max(map(_luminance, fills))
    assert _luminance(fills[worst]) == min(map(_luminance, fills))


def test_a_rate_diverges_around_the_district_value():
    values = [40.0, 55.0, 70.0, 80.0, 85.0, 92.0, 97.0]
    classes = classify(values, "completion_rate", k=5, reference=80.0, reference_name="中原区")
    worst, best = classes.fills[0], classes.fills[-1]
    def red(colour: str) -> int:  # red minus blue
        return int(colour[1:3], 16) - int(colour[5:7], 16)
    assert red(worst) > 100 and red(best) < -80        # dark red below, dark blue above
    assert classes.method == "分位数，以中原区 80.0% 为中点"


def test_units_without_a_value_are_grey_and_labelled_no_data():
    classes = classify([90.0, np.nan, 70.0, None], "satisfaction_rate", k=5)
    assert classes.fills[1] == classes.fills[3] == NO_DATA_COLOR
    assert list(classes.value_class) == [1, -1, 0, -1]
    assert classes.legend_rows()[-1] == (NO_DATA_COLOR, "无数据")
    geojson, legend = maps.choropleth_layer(_units([90.0, np.nan, 70.0]), name="x", metric="satisfaction_rate",
                                            basemap="osm")
    features = geojson.data["features"]
    assert features[1]["properties"]["fill"] == NO_DATA_COLOR
    assert features[1]["properties"]["tip1"] == "无数据"
    assert features[0]["properties"]["tip1"] == "90.0%"
    assert "无数据" in legend.html


def test_count_classes_have_whole_number_ranges():
    values = [0, 3, 5, 17, 108, 196, 197, 230, 400, 1200, 52, 61]
    for scheme in maps.classes.SCHEMES:
        classes = classify(values, "received", scheme=scheme, k=5)
        assert all(float(b).is_integer() for b in classes.bins)
        for label in classes.labels:
            assert re.fullmatch(r"[\d,]+( – [\d,]+)?", label), label
        # each value falls in the class whose range holds it
        for value, c in zip(values, classes.value_class):
            lo, _, hi = classes.labels[c].replace(",", "").partition(" – ")
            assert int(lo) <= value <= int(hi or lo)


def test_count_classes_meet_and_no_class_is_empty():
    classes = classify([40, 18, 1, 1, 0, 0], "received", k=5)   # quantile breaks 0, 0.8, 1, 13.5, 40
    assert classes.labels == ("0", "1", "2 – 40")
    wide = classify([0, 3, 5, 17, 108, 196, 197, 230, 400, 1200, 52, 61], "received", k=5)
    ranges = [tuple(int(x) for x in label.replace(",", "").split(" – ")) for label in wide.labels]
    assert all(hi + 1 == next_lo for (_, hi), (next_lo, _) in zip(ranges, ranges[1:]))
    assert ranges[0][0] == 0 and ranges[-1][1] == 1200


def test_rates_are_shown_in_percent_with_the_method_in_the_legend():
    _, legend = maps.choropleth_layer(_units([82.8, 82.5, 60.0, 71.0, 90.0]), name="x", metric="completion_rate",
                                      scheme="natural_breaks", basemap="osm")
    assert legend.title == "办结率（%）"
    assert "分级：自然断点" in legend.html
    assert all(re.fullmatch(r"\d+\.\d( – \d+\.\d)?", label) for label in legend.labels)


def test_an_all_zero_result_is_one_neutral_class_not_zero_to_zero():
    classes = classify([0, 0, 0, 0], "received", k=5)
    assert classes.labels == ("均为 0 件",) and classes.k == 1
    _, legend = maps.choropleth_layer(_units([0, 0, 0, 0]), name="x", metric="received", basemap="osm")
    assert "0 – 0" not in legend.html and "均为 0 件" in legend.html
    assert "#800026" not in legend.html  # not painted the hottest red


def test_an_all_empty_rate_is_all_grey_and_the_legend_says_so():
    geojson, legend = maps.choropleth_layer(_units([np.nan] * 3), name="x", metric="on_time_rate", basemap="osm")
    assert {f["properties"]["fill"] for f in geojson.data["features"]} == {NO_DATA_COLOR}
    assert legend.k == 0 and "无数据" in legend.html and "没有可计算的单元" in legend.html


# -- the situation map ------------------------------------------------------------------------------


def _cells() -> pd.DataFrame:
    lon, lat = ZHENGZHOU
    return pd.DataFrame({"lon": [lon + 0.005, lon + 0.015], "lat": [lat + 0.005, lat + 0.005], "weight": [2, 7]})


def _cases(n: int) -> pd.DataFrame:
    lon, lat = ZHENGZHOU
    rng = np.random.default_rng(3)
    category = next(iter(load_rules().categories))
    return pd.DataFrame({
        "lon": lon + rng.random(n) * 0.03, "lat": lat + rng.random(n) * 0.01,
        "external_id": [f"ZY-{i}" for i in range(n)], "source": "12345", "category": category,
        "status": rng.choice(["received", "closed", "supervised"], n),
        "reported_at": pd.Timestamp("2026-11-30T23:30:00Z"), "due_at": pd.Timestamp("2026-12-01T10:00:00Z"),
        "address": "建设路 1 号", "assignee": "张三"})


def _heat_groups(m: folium.Map) -> list[folium.FeatureGroup]:
    return [c for c in m._children.values() if isinstance(c, folium.FeatureGroup) and c.layer_name.startswith("热力")]


def test_choropleth_mode_keeps_every_heat_layer_off_and_heat_mode_turns_on_only_one():
    units = _units([1, 5, 9, 20])
    heat = {"热力 · 安全隐患": (_cells(), True), "热力 · 垃圾": (_cells(), False), "热力 · 未办结": (_cells(), True)}
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="osm", units=units,
                           heat=heat, units_name="社区 · 案件数")
    assert [g.show for g in _heat_groups(m)] == [False, False, False]
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="osm", units=units,
                           heat=heat, units_name="社区 · 案件数", mode="heat")
    assert [g.show for g in _heat_groups(m)] == [True, False, False]
    # heat mode draws the units as outlines (still clickable by code), not coloured
    (units_layer,) = [c for c in m._children.values() if getattr(c, "layer_name", None) == "社区 · 案件数"]
    assert [f["properties"]["code"] for f in units_layer.data["features"]] == list(units["code"])
    assert "fill" not in units_layer.data["features"][0]["properties"]


def test_heat_layers_have_a_legend_of_cases_per_40_m_cell():
    units = _units([1, 2])
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="osm", units=units, mode="heat",
                           heat={"热力 · 安全隐患": (_cells(), True)})
    page = _rendered(m)
    assert "每 40 m 格案件数" in page and "linear-gradient" in page and "最多 7" in page


def test_layer_control_is_collapsed_and_the_scale_has_no_imperial_units():
    units = _units([1, 2])
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="none", units=units)
    (control,) = [c for c in m._children.values() if isinstance(c, folium.LayerControl)]
    assert control.options["collapsed"] is True
    page = m.get_root().render()
    assert "imperial: false" in page and "L.control.scale()" not in page


def test_units_are_labelled_with_name_and_value_from_a_readable_zoom():
    units = _units([82.8, np.nan], names=["西流湖", "绿东村"])
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="osm", units=units,
                           metric="completion_rate")
    (labels,) = [c for c in m._children.values() if isinstance(c, maps.layers.UnitLabels)]
    texts = [row[2] for row in labels.rows]
    assert texts == ["<b>西流湖</b><br>82.8%", "<b>绿东村</b><br>无数据"]
    # a 0.01° unit (~900 m) is 70 px wide from zoom 14 on; below that the label hides
    assert {row[3] for row in labels.rows} == {14}
    for row, geom in zip(labels.rows, units.geometry):
        assert geom.contains(shapely.Point(row[1], row[0]))
    too_many = _units(list(range(maps.layers.MAX_UNIT_LABELS + 1)))
    m = maps.situation_map(bounds=tuple(too_many.total_bounds), zoom=12, basemap="osm", units=too_many)
    assert not [c for c in m._children.values() if isinstance(c, maps.layers.UnitLabels)]


def test_dense_case_points_are_clustered_from_vendored_code_only():
    units = _units([1, 2])
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=16, basemap="osm", units=units,
                           cases=_cases(120))
    page = m.get_root().render()
    assert "leaflet.markercluster.js" in page and "L.markerClusterGroup" in page
    sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page)
    assert sources and not [s for s in sources if s.startswith(("http", "//"))]
    assert not re.search(r"https?://(?!www\.openstreetmap\.org|carto\.com|tile\.openstreetmap)", page)
    for url in sources:
        assert (maps.VENDOR_DIR / url.removeprefix(maps.VENDOR_URL + "/")).is_file(), url


@pytest.mark.parametrize("n", [3, 120])
def test_case_popups_use_chinese_names_and_china_time(n):
    frame = _cases(n)
    code = frame["category"].iat[0]
    group = maps.points_layer(frame, name="案件", basemap="osm")
    page = _rendered(folium.Map(tiles=None).add_child(group))
    assert load_rules().categories[code].name_zh in page
    assert code not in page
    assert "2026-12-01 07:30" in page and "2026-12-01 18:00" in page   # 23:30 UTC, 10:00 UTC
    assert "12345热线" in page and "T23:30" not in page
    clustered = any(isinstance(c, folium.plugins.FastMarkerCluster) for c in group._children.values())
    assert clustered == (n > maps.layers.CLUSTER_FROM)


# -- 满意率 per unit --------------------------------------------------------------------------------


def test_satisfaction_rate_per_unit_is_nan_when_nobody_was_visited():
    counts = pd.DataFrame({"received": [5, 3], "completed": [4, 1], "due": [4, 2], "on_time": [3, 1],
                           "open": [1, 2], "overdue": [0, 1], "visited": [4, 0], "satisfied": [3, 0]})
    rates = metrics.with_rates(counts)
    assert rates["satisfaction_rate"].iat[0] == pytest.approx(0.75)
    assert np.isnan(rates["satisfaction_rate"].iat[1])
    # callers without 回访 counts keep working, without the column
    assert "satisfaction_rate" not in metrics.with_rates(counts.drop(columns=["visited", "satisfied"]))


# -- the static figure ------------------------------------------------------------------------------


def test_figure_is_a_png_or_pdf_file():
    units = _units([82.8, 82.5, 70.1, np.nan, 60.0, 75.3])
    png = maps.map_figure(units, metric="completion_rate", title="中原区 办结率", notes=["发布单位：中原区"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    pdf = maps.map_figure(units, metric="completion_rate", title="中原区 办结率", fmt="pdf")
    assert pdf[:5] == b"%PDF-" and pdf.rstrip().endswith(b"%%EOF")
    with pytest.raises(maps.classes.InputError, match="unknown figure format 'svg'"):
        maps.map_figure(units, metric="completion_rate", title="x", fmt="svg")


def test_figure_legend_matches_the_web_map_classes():
    values = [82.8, 82.5, 70.1, np.nan, 60.0, 75.3, 90.0, 65.5]
    units = _units(values)
    fig = maps.draw_map_figure(units, metric="completion_rate", title="中原区 办结率", scheme="quantiles")
    (legend,) = fig.legends
    classes = classify(values, "completion_rate", scheme="quantiles")
    assert [t.get_text() for t in legend.get_texts()] == [*classes.labels, "无数据"]
    assert legend.get_title().get_text() == "办结率（%）\n分级：分位数"
    colours = [tuple(round(c, 3) for c in h.get_facecolor()[:3]) for h in legend.legend_handles]
    expected = [tuple(round(int(c[i:i + 2], 16) / 255, 3) for i in (1, 3, 5)) for c in [*classes.colors, NO_DATA_COLOR]]
    assert colours == expected
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "社区0\n82.8%" in texts and "社区3\n无数据" in texts
    assert any(t.endswith(("米", "公里")) for t in texts)   # the scale bar
    assert "北" in texts


def test_figure_without_a_chinese_font_fails_with_the_package_to_install(monkeypatch):
    figure_module.cjk_font.cache_clear()
    monkeypatch.setattr(figure_module.font_manager.fontManager, "ttflist", [])
    monkeypatch.setattr(figure_module.subprocess, "run",
                        lambda *a, **k: type("R", (), {"stdout": ""})())
    try:
        with pytest.raises(GisError, match="no font with Chinese glyphs") as caught:
            maps.map_figure(_units([1, 2]), metric="received", title="x")
        assert "fonts-noto-cjk" in caught.value.fix
    finally:
        figure_module.cjk_font.cache_clear()
