"""The situation map as a browser draws it, offline: vendored code only, clusters, legends in view."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from gis import maps
from gis.core.rules.config import load_rules

pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("no chromium on this machine", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

from test_map_colours import _cases, _cells, _units  # noqa: E402  (same folder, on sys.path by rootdir)


def _draw(m, tmp_path, *, size=(860, 560)):
    """Load the map from a file, its code from static/vendor on disk; record every request."""
    m.asset_base_url = maps.VENDOR_DIR.as_uri()
    page_file = tmp_path / "map.html"
    page_file.write_text(m.get_root().render(), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            requests, errors = [], []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())
            page.locator(".leaflet-container").wait_for()
            page.wait_for_timeout(800)
            yield page, requests, errors
        finally:
            browser.close()


def test_dense_cases_cluster_in_the_browser_with_local_code_only(tmp_path):
    units = _units([82.8, 60.0, np.nan, 75.0])
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="none", units=units,
                           metric="completion_rate", cases=_cases(300),
                           heat={"热力 · 安全隐患": (_cells(), True)})
    for page, requests, errors in _draw(m, tmp_path):
        assert errors == []
        assert page.locator(".gis-case-cluster").count() > 0
        assert not [u for u in requests if not u.startswith("file://")]
        # the class legend sits at the top right, wholly inside a 560 px high map
        box = page.locator(".gis-class-legend").bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= 560
        assert "无数据" in page.locator(".gis-class-legend").inner_text()
        # the layer list is folded away until hovered
        assert page.locator(".leaflet-control-layers-expanded").count() == 0
        # no English units on the scale
        scale = page.locator(".leaflet-control-scale").inner_text()
        assert "ft" not in scale and "mi" not in scale


def test_heat_mode_shows_one_heat_layer_and_its_legend(tmp_path):
    units = _units([1, 5, 9, 20])
    heat = {"热力 · 安全隐患": (_cells(), True), "热力 · 未办结": (_cells(), True)}
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="none", units=units,
                           heat=heat, mode="heat")
    for page, _, errors in _draw(m, tmp_path):
        assert errors == []
        assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
        legends = page.locator(".gis-heat-legend")
        shown = [legends.nth(i).inner_text() for i in range(legends.count()) if legends.nth(i).is_visible()]
        assert len(shown) == 1 and "热力 · 安全隐患" in shown[0] and "每 40 m 格案件数" in shown[0]
        assert page.locator(".gis-class-legend").count() == 0


def test_unit_labels_appear_only_when_zoomed_in(tmp_path):
    units = _units([3, 7], names=["西流湖", "绿东村"])
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=15, basemap="none", units=units)
    for page, _, errors in _draw(m, tmp_path):
        assert errors == []
        assert sorted(page.locator(".gis-unit-label").all_inner_texts()) == ["绿东村\n7 件", "西流湖\n3 件"]
        page.evaluate("() => { const m = Object.values(window).find(v => v && v._container && v.setZoom);"
                      " m.setZoom(11, {animate: false}); }")
        page.wait_for_timeout(300)
        assert page.locator(".gis-unit-label").count() == 0


def test_case_points_popup_in_the_browser_reads_chinese(tmp_path):
    frame = _cases(3)
    m = maps.base_map(center=(frame["lon"].iat[0], frame["lat"].iat[0]), zoom=17, basemap="none")
    maps.points_layer(frame, name="案件", basemap="none").add_to(m)
    for page, _, errors in _draw(m, tmp_path):
        assert errors == []
        page.locator("path.leaflet-interactive").first.click(force=True)
        text = page.locator(".leaflet-popup-content").inner_text()
        code = frame["category"].iat[0]
        assert load_rules().categories[code].name_zh in text and code not in text
        assert "2026-12-01 07:30" in text and "12345热线" in text


def test_clusters_take_the_colour_of_their_most_pressing_case(tmp_path):
    units = _units([1, 2])
    cases = _cases(200)
    cases["status"] = "closed"
    cases.loc[cases.index[:5], "status"] = "supervised"   # a few supervised among many closed ones
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=13, basemap="none", units=units, cases=cases)
    for page, _, errors in _draw(m, tmp_path):
        assert errors == []
        colours = page.locator(".gis-case-cluster div").evaluate_all(
            "els => els.map(e => getComputedStyle(e).backgroundColor)")
        assert colours and "rgb(192, 57, 43)" in colours          # red: holds a supervised case
        assert set(colours) <= {"rgb(192, 57, 43)", "rgb(127, 140, 141)"}
        legend = page.locator(".gis-status-legend").inner_text()
        assert "督办 / 退回 / 返工" in legend and "反馈 / 核查 / 结案" in legend
