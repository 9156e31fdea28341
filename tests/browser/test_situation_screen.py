"""The leader's morning view on a 1440×900 screen (issue 11, item 5), in headless Chromium.

Signed in as the street's leader, the situation page must show its header (breadcrumb and KPI
cards side by side), the map with its legend and the unit's card without scrolling, and the
ranking table down to its 超期 column; the map can be saved for a meeting as PNG and PDF.
Screenshots go to test-output/; with UPDATE_SCREENSHOT=1 also to ``docs/morning-view.png`` (the
README shows it) and ``docs/rate-metric.png``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gis import workflows
from gis.core.access import SYSTEM
from gis.settings import PROJECT_ROOT
from gis.workflows import Services
from tests.browser.test_browser import (  # noqa: F401  (fixtures: app_url, accounts, browser)
    MAP_FRAME,
    OUTPUT,
    accounts,
    app_url,
    assert_no_app_error,
    browser,
    new_context,
    sign_in,
)

pytestmark = pytest.mark.browser

SCREEN = {"width": 1440, "height": 900}
DOCS = PROJECT_ROOT / "docs"


def keep_screenshot(name: str) -> None:
    """Copy test-output/<name> into docs/ when asked (UPDATE_SCREENSHOT=1): a test run must not
    change tracked files by itself."""
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(OUTPUT / name, DOCS / name)


@pytest.fixture
def screen(browser):  # noqa: F811
    context = new_context(browser, viewport=SCREEN)
    try:
        yield context
    finally:
        context.close()


def morning_view(screen, app_url, accounts, query: str = "basemap=none"):  # noqa: F811
    """The situation page as the leader first sees it, drawn and settled: the page."""
    page = screen.new_page()
    page.goto(f"{app_url}/?{query}")
    sign_in(page, accounts["leader"])
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-overlay-pane path.leaflet-interactive").first.wait_for()
    frame.locator(".gis-class-legend").wait_for()
    page.locator("[data-testid='stMetric']").first.wait_for()
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    # the pointer off the map (signing in leaves it over a polygon, whose tooltip would stay open)
    page.mouse.move(SCREEN["width"] - 5, SCREEN["height"] - 5)
    page.wait_for_timeout(2000)
    return page


def box_in_frame(page, selector: str) -> dict:
    """The bounding box of ``selector`` inside the map's iframe (Playwright gives it in the page's
    viewport coordinates), checked to lie inside the iframe's own box."""
    outer = page.locator(MAP_FRAME).bounding_box()
    inner = page.frame_locator(MAP_FRAME).locator(selector).first.bounding_box()
    assert inner is not None, f"{selector} is not drawn"
    assert outer["y"] - 0.5 <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    return inner


def within_screen(box: dict) -> bool:
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= SCREEN["width"] + 0.5
            and box["y"] + box["height"] <= SCREEN["height"] + 0.5)


def test_the_morning_view_fits_one_1440_by_900_screen(screen, app_url, accounts):  # noqa: F811
    page = morning_view(screen, app_url, accounts)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "morning-view.png"))
    assert_no_app_error(page)
    assert page.evaluate("() => window.scrollY") == 0
    # the KPI row: seven cards, every one on screen, none cut off ("…" or clipped text)
    cards = page.locator("[data-testid='stMetric']")
    assert cards.count() == 7
    boxes = [cards.nth(i).bounding_box() for i in range(7)]
    assert all(within_screen(b) for b in boxes), boxes
    assert len({round(b["y"]) for b in boxes}) == 1, "the KPI cards are not one row"
    clipped = page.evaluate("""() => [...document.querySelectorAll(
        "[data-testid='stMetric'] p, .st-key-situation-crumbs button p")]
        .filter(p => p.scrollWidth > p.clientWidth + 1 || p.scrollHeight > p.clientHeight + 1)
        .map(p => p.textContent)""")
    assert clipped == []
    # the breadcrumb beside the cards, not above them
    crumbs = page.locator(".st-key-situation-crumbs").bounding_box()
    assert crumbs["x"] + crumbs["width"] <= boxes[0]["x"] and crumbs["y"] < boxes[0]["y"] + boxes[0]["height"]
    # the map and its legend, and the unit's card beside the map
    assert within_screen(page.locator(MAP_FRAME).bounding_box())
    assert within_screen(box_in_frame(page, ".gis-class-legend"))
    card = page.get_by_role("tab", name="下级排名").bounding_box()
    assert within_screen(card) and card["x"] > page.locator(MAP_FRAME).bounding_box()["x"] + 300
    # the ranking table shows every column, 超期 included, without scrolling sideways (the grid is
    # drawn on a canvas: its scroller is as wide as its content when nothing is cut off)
    tables = page.locator("[data-testid='stDataFrame']")
    headers = [tables.nth(i).evaluate("e => [...e.querySelectorAll('th')].map(t => t.textContent)")
               for i in range(tables.count())]
    (ranking,) = [tables.nth(i) for i, names in enumerate(headers) if names[:3] == ["社区", "受理", "办结"]]
    assert "超期" in ranking.evaluate("e => [...e.querySelectorAll('th')].map(t => t.textContent)")
    table = ranking.bounding_box()  # the table scrolls within itself; its header row is on screen
    assert table["x"] + table["width"] <= SCREEN["width"] and table["y"] + 3 * 35 <= SCREEN["height"]
    widths = ranking.evaluate("e => [...e.querySelectorAll('.dvn-scroller')].map(s => [s.scrollWidth, s.clientWidth])")
    assert widths and all(scroll <= client + 1 for scroll, client in widths), widths
    keep_screenshot("morning-view.png")


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def test_a_rate_colours_the_best_unit_calm_and_the_worst_red(screen, app_url, accounts):  # noqa: F811
    page = morning_view(screen, app_url, accounts, "basemap=none&metric=on_time_rate")
    assert_no_app_error(page)
    legend = page.frame_locator(MAP_FRAME).locator(".gis-class-legend").first.inner_text()
    assert "按期办结率" in legend and "%" in legend and "分位数" in legend
    page.screenshot(path=str(OUTPUT / "rate-metric.png"))
    features = page.locator(MAP_FRAME).element_handle().content_frame().evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.fill)"
        ".map(l => [l.feature.properties.value, l.feature.properties.fill])")
    valued = sorted((v, f) for v, f in features if v is not None)
    assert len(valued) >= 3 and valued[0][0] < valued[-1][0]
    (lo_r, _, lo_b), (hi_r, _, hi_b) = _rgb(valued[0][1]), _rgb(valued[-1][1])
    # higher is better for a rate: the worst community is the warm end, the best the calm one
    assert lo_r > lo_b and hi_b > hi_r, (valued[0], valued[-1])
    keep_screenshot("rate-metric.png")


def test_the_map_saves_as_png_and_pdf_for_a_meeting(screen, app_url, accounts, demo_database_url):  # noqa: F811
    page = morning_view(screen, app_url, accounts)
    names = []
    for label, magic, suffix in (("导出地图 PNG", b"\x89PNG", ".png"), ("导出地图 PDF", b"%PDF", ".pdf")):
        with page.expect_download() as info:
            page.get_by_role("button", name=label).click()
        download = info.value
        assert download.suggested_filename.startswith("航海西路街道_") and download.suggested_filename.endswith(suffix)
        data = Path(download.path()).read_bytes()
        assert data.startswith(magic) and len(data) > 10_000
        OUTPUT.mkdir(parents=True, exist_ok=True)
        download.save_as(str(OUTPUT / f"morning-view-map{suffix}"))
        names.append(download.suggested_filename)
    # each download is in the audit trail, under the leader's name
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    page.wait_for_timeout(1000)
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as system:
        trail = workflows.audit_trail(system, actor=accounts["leader"], actions=["export"])
    recorded = {(row["object"], row["after"]["file"]) for _, row in trail.iterrows()}
    assert {("situation_map_png", names[0]), ("situation_map_pdf", names[1])} <= recorded
