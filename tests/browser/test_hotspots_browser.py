"""The 热点 layer and the 高频点位 list in the real app (issue 13, item 5), headless Chromium.

Signed in as the street's leader, the user switches the map's 图层 to 热点: the communities are
coloured by their Gi* class with a Chinese legend that counts them, the repeat locations are drawn
as markers and listed below the map, and what is drawn equals what
``gis.workflows.analytics.hot_spots_job`` and ``repeats`` (the CLI's ``hotspots`` and ``repeats``)
return for the same period and scope. The demo (20,000 cases) is sparse, so the checks are
equalities with the jobs, never "there is a hot spot". Screenshots go to test-output/browser/
(and /tmp/hs_shots/ when that folder exists).
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gis import workflows
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.maps import HOT_SPOT_LABELS, hot_spot_counts
from gis.workflows import Services, analytics
from tests.browser.test_browser import (  # noqa: F401  (fixtures: app_url, accounts, browser, context)
    MAP_FRAME,
    OUTPUT,
    STREET,
    _poll,
    accounts,
    app_url,
    assert_no_app_error,
    browser,
    context,
    map_frame,
    open_signed_in,
    settle,
)
from tests.ui.conftest import PASSWORD

pytestmark = pytest.mark.browser

REPEAT_HEADERS = ["地点", "类别", "次数", "首次", "最近", "微网格", "责任网格员"]
SHOTS = Path("/tmp/hs_shots")


def shot(page, name: str) -> None:
    """The whole page (Streamlit scrolls inside its main block: the window is made as tall as it)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height) + 40)})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(OUTPUT / name), full_page=True)
    page.set_viewport_size(size)
    if SHOTS.is_dir():
        shutil.copyfile(OUTPUT / name, SHOTS / name)


def leader(demo_database_url):
    """The leader's principal, signed in for real (the jobs run under its row-level security)."""
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as system:
        return workflows.sign_in(system, "br_leader", PASSWORD)


def switch_to_hot_spots(page) -> None:
    """Choose 图层 = 热点 in the sidebar, as a user does, and wait for the new map's legend."""
    page.locator("[data-testid='stSidebar']").get_by_text("热点", exact=True).click()
    wait_for_hot_spots(page)


def wait_for_hot_spots(page) -> None:
    """Wait until the page shows one map (the new one replaces the old) with the hot-spot legend."""
    def shown() -> bool:
        maps = page.locator(MAP_FRAME)
        return maps.count() == 1 and maps.content_frame.locator(".gis-hotspot-legend").count() == 1
    settle(page)
    _poll(shown, page, what="a map with the hot-spot legend")
    settle(page)


def test_the_leader_switches_on_hot_spots_and_sees_the_jobs_classes_and_repeat_locations(
        context, app_url, accounts, demo_database_url):
    until = datetime.now(CHINA_TZ).date()
    since = until - timedelta(days=364)  # a year: the sparse demo has repeat locations in the street then
    page = open_signed_in(context, f"{app_url}/?basemap=none&since={since}&until={until}", accounts["leader"])
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".gis-class-legend").first.wait_for()
    settle(page)
    assert frame.locator(".gis-hotspot-legend").count() == 0  # off until chosen
    switch_to_hot_spots(page)
    assert_no_app_error(page)
    assert "layers=hotspots" in page.url
    page.mouse.move(5, 5)
    page.wait_for_timeout(500)
    shot(page, "hotspots-leader.png")

    principal = leader(demo_database_url)
    with Services.for_url(demo_database_url, principal=principal, maxconn=1) as services:
        job = analytics.hot_spots_job(services, level="community", since=since, until=until, within=STREET,
                                      p_value="normal")
        found = analytics.repeats(services, since=since, until=until)
        micro = set(workflows.grid_tree(services).micro_under(STREET))
    expected = dict(zip(job["code"], job["class"]))

    # every community of the street drawn in the class the job gives it, nothing else classed
    drawn = map_frame(page).evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.class)"
        ".map(l => [l.feature.properties.code, l.feature.properties.class, l.feature.properties.fill,"
        " l.options.fillColor])")
    assert {code: cls for code, cls, _, _ in drawn} == expected
    assert len(drawn) == len(expected) > 0
    assert all(fill == colour for _, _, fill, colour in drawn)  # Leaflet paints the class's colour

    # the legend: Chinese class names, with the job's count of communities per class
    legend = frame.locator(".gis-hotspot-legend")
    rows = legend.locator(".gis-hotspot-row")
    counts = {rows.nth(i).get_attribute("data-class"): int(rows.nth(i).locator(".gis-hotspot-count").inner_text())
              for i in range(rows.count())}
    want = hot_spot_counts(job)
    assert counts == {k: v for k, v in want.items() if k != "island" or v}
    text = legend.inner_text()
    assert all(HOT_SPOT_LABELS[k] in text for k in counts)
    assert "热点（99%置信）" in text and "不显著" in text and "冷点（99%置信）" in text
    assert not re.search(r"[A-Za-z]{2,}", text.replace("Gi*", "")), text  # Gi*: the statistic's symbol

    # 高频点位: the job's locations in the street, listed with Chinese headers and drawn as markers
    inside = found[found["micro_code"].isin(micro)]
    assert len(inside) > 0
    page.get_by_role("heading", name="高频点位").wait_for()
    tables = page.locator("[data-testid='stDataFrame']")
    headers = [tables.nth(i).evaluate("e => [...e.querySelectorAll('th')].map(t => t.textContent)")
               for i in range(tables.count())]
    assert [h[:7] for h in headers if "责任网格员" in h] == [REPEAT_HEADERS]
    assert f"共 {len(inside)} 处" in page.locator("[data-testid='stCaptionContainer']",
                                                has_text="被反映不少于").inner_text()
    assert frame.locator("path.gis-repeat").count() == len(inside)
    assert f"（{len(inside)} 处）" in frame.locator(".gis-repeat-legend").inner_text()
    page_text = page.locator("[data-testid='stMain']").inner_text()
    assert not re.search(r"1[3-9]\d{9}", page_text)

    # a hover names the unit with its count, z, p and class
    code = next(iter(expected))
    map_frame(page).evaluate(
        "code => Object.values(window.map._layers).find(l => l.feature && l.feature.properties.code === code"
        " && l.feature.properties.class).fire('mouseover', {latlng: window.map.getCenter()}, true)", code)
    tip = frame.locator(".leaflet-tooltip").first
    tip.wait_for()
    tip_text = tip.inner_text()
    assert all(word in tip_text for word in ("名称", "案件数", "z 值", "p 值", "类别"))
    assert dict(zip(job["code"], job["class_zh"]))[code] in tip_text
    shot(page, "hotspots-tooltip.png")


def test_the_hot_spot_layer_follows_the_category_filter_like_the_job(context, app_url, accounts, demo_database_url):
    category = "env.exposed_garbage"
    until = datetime.now(CHINA_TZ).date()
    since = until - timedelta(days=29)
    page = open_signed_in(context, f"{app_url}/?basemap=none&layers=hotspots&category={category}",
                          accounts["leader"])
    frame = page.frame_locator(MAP_FRAME)
    wait_for_hot_spots(page)
    assert_no_app_error(page)
    with Services.for_url(demo_database_url, principal=leader(demo_database_url), maxconn=1) as services:
        job = analytics.hot_spots_job(services, level="community", since=since, until=until, within=STREET,
                                      category=category, p_value="normal")
    drawn = map_frame(page).evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.class)"
        ".map(l => [l.feature.properties.code, l.feature.properties.class, l.feature.properties.count])")
    assert {c: (k, n) for c, k, n in drawn} == {c: (k, int(n)) for c, k, n in zip(job["code"], job["class"],
                                                                                    job["count"])}
    shot(page, "hotspots-category.png")
