"""Chinese everywhere, and the filter follows the user (issue 11, items 4 and 6), in headless Chromium.

Signed in as the street's leader, the map (态势地图), 工单 and 通报 pages are read as a user sees
them: the page's visible text, the charts' SVG text, the tables' cells and the map's frame,
with the category dropdown, the date calendar, the running indicator and the tables' toolbar
tooltips opened on the way. None of Streamlit's English words (:data:`ENGLISH`) may show.
An unknown URL says so in Chinese instead of Streamlit's "Page not found" dialog. A filter
chosen on the map is still in the URL, and in the cases shown, after a click on 工单 in the menu.

Uses the demo app of tests/browser/test_browser.py (``app_url``, ``accounts``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from gis.settings import PROJECT_ROOT
from tests.browser.test_browser import (  # noqa: F401  (fixtures: app_url, accounts, browser, context)
    MAP_FRAME,
    OUTPUT,
    _free_port,
    _wait_healthy,
    accounts,
    app_url,
    assert_no_app_error,
    browser,
    context,
    open_signed_in,
    settle,
    sign_in,
)
from ui.widgets import category_names

pytestmark = pytest.mark.browser

#: Streamlit's English that must not reach the screen: the issue's list, and what a widget shows
#: once opened (a dropdown with no match, the toolbar's tooltips over tables and charts). Texts for
#: screen readers only (the calendar's visually hidden "Choose date range, 2026年11月" heading,
#: aria-labels) are not on the screen and not checked.
ENGLISH = ("Deploy", "Rerun", "Clear cache", "Select all", "empty", "None", "Date range", "Select…", "Select...",
           "Download as CSV", "Search", "Running", "Stop", "Page not found", "No results", "Fullscreen",
           "Show/hide columns", "Show data", "Download as PNG", "Copy Vega-Lite spec")
#: English dates on axes and in calendars ("Tue 03", "December", "Dec").
ENGLISH_DATES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Mon", "Tue", "Wed",
                 "Thu", "Fri", "Sat", "Sun", "January", "February", "March", "April", "June", "July", "August",
                 "September", "October", "November", "December", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug",
                 "Sep", "Oct", "Nov", "Dec")
_WORD = re.compile(r"(?<![A-Za-z])(" + "|".join(re.escape(w) for w in ENGLISH + ENGLISH_DATES) + r")(?![A-Za-z])")

#: Everything the user can read: the page's text, the charts' SVG text, the tables' cells (drawn
#: on a canvas; glide-data-grid keeps the visible cells in an accessible table inside it).
_SCREEN_TEXT = """() => [
  document.body.innerText,
  ...[...document.querySelectorAll('svg text')].map(t => t.textContent),
  ...[...document.querySelectorAll("[data-testid='stDataFrame'] canvas")].map(c => c.textContent),
].join('\\n')"""


def english_on(page) -> list[str]:
    """The English words (:data:`ENGLISH`, :data:`ENGLISH_DATES`, case-sensitive, whole words) on
    the screen, the map's frame included."""
    texts = [page.evaluate(_SCREEN_TEXT)]
    for frame in page.frames[1:]:
        try:
            texts.append(frame.evaluate("() => document.body ? document.body.innerText : ''"))
        except PlaywrightError:  # a frame replaced while it was read (the map after a rerun)
            continue
    return sorted({m.group(1) for text in texts for m in _WORD.finditer(text)})


#: Records the running indicator each time the page changes while it shows: its visible text
#: and the Chinese label the app's CSS puts before it (a run shows it after 0.5 s only).
_WATCH_STATUS = """
window.__status = [];
new MutationObserver(() => {
  const w = document.querySelector("[data-testid='stStatusWidget']");
  if (w && window.__status.length < 500) {
    window.__status.push([w.innerText, getComputedStyle(w, '::before').content]);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def status_seen(page) -> list[list[str]]:
    """What the running indicator showed on ``page`` since it was loaded: ``[[text, label], …]``."""
    return page.evaluate("() => window.__status || []")


def open_page(context, app_url: str, path: str, name: str):  # noqa: F811
    page = open_signed_in(context, f"{app_url}{path}", name)
    settle(page)
    assert_no_app_error(page)
    return page


def check_dropdown_and_calendar(page, where: str) -> None:
    """Open the category dropdown (and type something that matches nothing), then the calendar."""
    box = page.locator("[data-testid='stMultiSelect']").first
    box.click()
    page.locator("[data-testid='stMultiSelectDropdown']").wait_for()
    assert english_on(page) == [], f"{where}, category dropdown"
    page.keyboard.type("zzqx")
    page.locator("[data-testid='stMultiSelectDropdown'] [role='listbox'][data-empty='true']").wait_for()
    assert english_on(page) == [], f"{where}, dropdown without a match"
    box.locator("input").fill("")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.locator("[data-testid='stDateInputCalendarButton']").first.click()
    page.locator("[data-testid='stDateInputCalendar']").wait_for()
    assert english_on(page) == [], f"{where}, calendar"
    page.keyboard.press("Escape")


def hover_toolbar_button(page, table, button, *, attempts: int = 5) -> None:
    """Hover the table, then ``button`` of its toolbar. The toolbar slides in above the table when
    the table is hovered; caught mid-way it lies over the table's grid, which takes the pointer
    (a hover then waited 120 s in CI): the pointer leaves and comes back, a few times at most."""
    for attempt in range(attempts):
        table.hover()
        page.wait_for_timeout(500)
        try:
            button.hover(timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                raise
            page.mouse.move(0, 0)
            page.wait_for_timeout(500)


def check_table_toolbar(page, where: str) -> None:
    """Hover the first table and each button of its toolbar until the tooltip shows."""
    table = page.locator("[data-testid='stDataFrame']:visible").first
    table.scroll_into_view_if_needed()
    table.hover()
    container = table.locator("xpath=ancestor::div[@data-testid='stElementContainer'][1]")
    buttons = container.locator("[data-testid='stElementToolbarButton'] button")
    assert buttons.count() >= 1, f"{where}: the table has no toolbar"
    for i in range(buttons.count()):
        hover_toolbar_button(page, table, buttons.nth(i))
        page.locator("[data-testid='stTooltipContent']").first.wait_for()
        assert english_on(page) == [], f"{where}, tooltip of {buttons.nth(i).get_attribute('aria-label')}"
        page.mouse.move(0, 0)


def test_the_map_cases_and_bulletin_pages_show_no_english(context, app_url, accounts):  # noqa: F811
    context.add_init_script(_WATCH_STATUS)
    statuses = []
    page = open_page(context, app_url, "/?basemap=none", accounts["leader"])
    page.frame_locator(MAP_FRAME).locator(".leaflet-container").wait_for()
    page.wait_for_timeout(1500)
    assert english_on(page) == [], "map page"
    # no developer menu (⋮: Rerun, Clear cache) and no Deploy button
    assert page.locator("[data-testid='stMainMenu'], [data-testid='stAppDeployButton']").count() == 0
    check_dropdown_and_calendar(page, "map page")

    # a change of the filter (chosen with the keyboard, as a click on an option may land on what
    # is under the closing dropdown)
    page.locator("[data-testid='stMultiSelect']").first.click()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"category="))
    settle(page)
    assert english_on(page) == [], "map page, filtered"
    check_table_toolbar(page, "map page")
    page.screenshot(path=str(OUTPUT / "chinese-map.png"))
    statuses += status_seen(page)

    for path, title in (("/cases", "工单"), ("/bulletin", None)):
        page.goto(f"{app_url}{path}")
        sign_in(page, accounts["leader"])
        settle(page)
        assert_no_app_error(page)
        if title:
            page.get_by_role("heading", name=title).first.wait_for()
        assert english_on(page) == [], path
        statuses += status_seen(page)
        if path == "/cases":
            check_dropdown_and_calendar(page, path)
        check_table_toolbar(page, path)
        page.screenshot(path=str(OUTPUT / f"chinese{path.replace('/', '-')}.png"))
    # the running indicator: the minimal toolbar (.streamlit/config.toml) shows none; should it
    # show, it reads 加载中… (test_the_running_indicator_reads_chinese checks that it does)
    assert not [text for text, _ in statuses if _WORD.search(text)], statuses


def test_an_unknown_address_says_so_in_chinese(context, app_url, accounts):  # noqa: F811
    page = context.new_page()
    page.goto(f"{app_url}/no-such-page")
    page.get_by_text("未找到所请求的页面，登录后将打开首页。").wait_for()
    assert english_on(page) == []
    sign_in(page, accounts["leader"])
    settle(page)
    page.get_by_role("heading", name="态势地图").first.wait_for()
    assert "Page not found" not in page.inner_text("body")
    assert english_on(page) == []


def test_the_map_filter_follows_to_the_cases_page(context, app_url, accounts):  # noqa: F811
    page = open_page(context, app_url, "/?basemap=none", accounts["leader"])
    box = page.locator("[data-testid='stMultiSelect']").first
    box.click()
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"category="))
    settle(page)
    chosen_name = box.locator("[data-testid='stMultiSelectTagsContainer']").first.inner_text().strip()
    assert chosen_name in set(category_names().values())
    category = parse_qs(urlsplit(page.url).query)["category"]
    assert len(category) == 1

    page.get_by_role("link", name="工单", exact=True).click()
    page.wait_for_url(re.compile(r"/cases\?"))
    settle(page)
    query = parse_qs(urlsplit(page.url).query)
    assert query["category"] == category and query.get("basemap") == ["none"]
    chips = page.locator("[data-testid='stMultiSelect']").first.inner_text()
    assert chosen_name in chips
    # the cases shown are of that category only (the table's visible cells)
    cells = page.evaluate("() => [...document.querySelectorAll(\"[data-testid='stDataFrame'] canvas td\")]"
                          ".map(td => td.textContent.trim())")
    shown = {cell for cell in cells if cell in set(category_names().values())}
    assert shown == {chosen_name}, shown
    page.screenshot(path=str(OUTPUT / "filter-follows-cases.png"))


def test_the_running_indicator_reads_chinese(browser, tmp_path):  # noqa: F811
    """The app's CSS (ui.widgets.hide_english_hints) on a toolbar that shows the running indicator
    (``client.toolbarMode = "auto"``, e.g. a deployment that changes the config): a page that
    works for a few seconds shows 加载中… and 停止, not "Running..." and "Stop"."""
    script = tmp_path / "slow_page.py"
    script.write_text(textwrap.dedent("""
        import time
        import streamlit as st
        from ui import widgets
        widgets.hide_english_hints()
        if st.button("开始"):
            time.sleep(4)
        st.write("完成")
    """))
    port = _free_port()
    log = OUTPUT / "streamlit-slow.log"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
                                 "--server.headless", "true", "--client.toolbarMode", "auto"],
                                cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        page = browser.new_page(locale="zh-CN")
        try:
            page.goto(url)
            page.get_by_role("button", name="开始").click()
            status = page.locator("[data-testid='stStatusWidget']")
            status.locator("[data-testid='stStatusWidgetRunningIcon']").wait_for(timeout=10_000)
            assert not _WORD.search(status.inner_text()), status.inner_text()
            labels = page.evaluate("""() => {
              const w = document.querySelector("[data-testid='stStatusWidget']");
              return [getComputedStyle(w, '::before').content,
                      getComputedStyle(w.querySelector('button'), '::after').content];
            }""")
            assert labels == ['"加载中…"', '"停止"']
            page.screenshot(path=str(OUTPUT / "running-indicator.png"), clip={"x": 800, "y": 0, "width": 480,
                                                                               "height": 60})
        finally:
            page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
