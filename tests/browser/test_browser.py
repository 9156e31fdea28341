"""The real app in headless Chromium: ``streamlit run app.py`` on the demo district
(``demo_database_url``), driven with Playwright.

Debian's chromium (``/usr/bin/chromium``) is used, never a downloaded browser; CJK
text needs a font such as fonts-wqy-microhei (``./dev.sh`` installs both). The map
page is opened with ``?basemap=none``: without tiles the browser needs nothing
from the internet, so the tests run offline and can check that it asks for nothing.

Every page needs a signed-in browser session: the tests sign in through the form
(账号, 密码, 登录) with accounts made on the shared demo database (idempotently, as
tests/ui/conftest.py does), and a fresh page (``page.goto``) is a new session that
signs in again. The test of hostile text runs a second app on a small database of
its own, so nothing is written to the shared demo database but accounts and audit rows.

Screenshots and the server's log go to ``test-output/browser/`` (git-ignored); with
``UPDATE_SCREENSHOT=1`` the map screenshot is also copied to ``docs/screenshot-map.png``
for the README.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pytest

from gis import workflows
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.core.hierarchy import GridTree
from gis.settings import PROJECT_ROOT
from gis.workflows import Services
from tests.conftest import X0, Y0, D
from tests.ui.conftest import PASSWORD, demo_scopes, ensure_account

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = PROJECT_ROOT / "test-output" / "browser"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
NO_NETWORK_SCHEMES = {"data", "blob", "about"}
MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"
STREET, STREET_NAME = "410102009", "航海西路街道"
TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, *, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"streamlit did not answer /_stcore/health within {timeout_s:.0f} s:\n"
                f"{log.read_text(errors='replace')}")


@contextlib.contextmanager
def serving(database_url: str, *, log_name: str = "streamlit.log"):
    """``streamlit run app.py`` on ``database_url``: yields ``http://127.0.0.1:PORT``; stopped afterwards."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("GIS_HOME", "GIS_PORT")}
    env["DATABASE_URL"] = database_url
    # a file changed on disk mid-test (another checkout user, an editor) would restart the
    # browser's session and show the sign-in form: the served app never watches its files
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"
    log = OUTPUT / log_name
    with log.open("w") as out:
        # no --server.address: .streamlit/config.toml makes the app listen on loopback only
        # (this also spares Streamlit its look-up of the machine's external address)
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def app_url(demo_database_url):
    """``http://127.0.0.1:PORT`` of ``streamlit run app.py`` on the demo services; stopped afterwards."""
    with serving(demo_database_url) as url:
        yield url


@pytest.fixture(scope="module")
def accounts(demo_database_url) -> dict[str, str]:
    """Account names per role on the demo database (``br_<role>``, password :data:`PASSWORD`): the
    analyst and the dispatcher see the district, the leader 航海西路街道, the community account its
    first community."""
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as system:
        scopes = demo_scopes(workflows.active_grids(system))
        for role in ("analyst", "leader", "community"):
            ensure_account(system, f"br_{role}", role=role, scope=scopes[role], password=PASSWORD,
                           display_name=f"浏览器{role}")
    return {role: f"br_{role}" for role in ("analyst", "leader", "community")} | {"scopes": scopes}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Requests(list):
    """Every URL the browser asked for (all pages and frames), with the frame that asked."""

    def remote(self) -> list[str]:
        return [f"{url}  (from {frame})" for url, frame in self
                if urlsplit(url).scheme not in NO_NETWORK_SCHEMES and urlsplit(url).hostname not in LOCAL_HOSTS]


class Inflight:
    """The requests of a context still open, and when one last started or ended.

    :func:`settle` waits on this rather than on Playwright's "networkidle", which Playwright
    discourages and which, with Streamlit replacing the map's iframe on each run, was now and then
    lost for good: the wait then timed out although nothing was open (microsoft/playwright#42598).
    Requests of a frame that is gone no longer count.
    """

    def __init__(self) -> None:
        self.open: set = set()
        self.changed = time.monotonic()

    def started(self, request) -> None:
        self.open.add(request)
        self.changed = time.monotonic()

    def ended(self, request) -> None:
        self.open.discard(request)
        self.changed = time.monotonic()

    def pending(self) -> list[str]:
        """The URLs still open in frames that are still there."""
        def attached(request) -> bool:
            try:
                return not request.frame.is_detached()
            except Exception:  # a worker's request has no frame
                return False
        return [r.url for r in list(self.open) if attached(r)]

    def quiet(self, for_s: float = 0.5) -> bool:
        return not self.pending() and time.monotonic() - self.changed >= for_s


def new_context(browser, **options):
    """A fresh browser context (own cookies, downloads allowed; ``options`` such as the viewport
    go to Playwright) whose requests, open requests and dialogs (``alert`` and the like,
    dismissed) are recorded."""
    context = browser.new_context(**({"viewport": {"width": 1600, "height": 1000}, "accept_downloads": True,
                                      "locale": "zh-CN", "timezone_id": "Asia/Shanghai"} | options))
    context.set_default_timeout(TIMEOUT_MS)
    context.requests = Requests()
    context.inflight = Inflight()
    context.on("request", context.inflight.started)
    context.on("requestfinished", context.inflight.ended)
    context.on("requestfailed", context.inflight.ended)
    context.dialogs = []
    context.on("request", lambda r: context.requests.append((r.url, r.frame.url if r.frame else "?")))

    def watch(page) -> None:
        page.on("websocket", lambda ws: context.requests.append((ws.url, page.url)))
        page.on("dialog", lambda dialog: (context.dialogs.append(dialog.message), dialog.dismiss()))
    context.on("page", watch)
    return context


@pytest.fixture
def context(browser):
    context = new_context(browser)
    try:
        yield context
    finally:
        context.close()


def sign_in(page, name: str, password: str = PASSWORD) -> None:
    """Fill the sign-in form and wait for the signed-in app (its 退出登录 button)."""
    page.get_by_label("账号", exact=True).fill(name)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_role("button", name="退出登录").wait_for()


def open_signed_in(context, url: str, name: str):
    """A new page (a new session) at ``url``, signed in as ``name`` there."""
    page = context.new_page()
    page.goto(url)
    sign_in(page, name)
    return page


def open_map(context, app_url: str, query: str = "basemap=none", *, name: str = "br_analyst"):
    """The situation map (the default page), signed in as ``name`` (the district's analyst), its
    Leaflet map drawn: ``(page, map frame)``."""
    page = open_signed_in(context, f"{app_url}/?{query}", name)
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-container").wait_for()
    frame.locator(".leaflet-overlay-pane path.leaflet-interactive").first.wait_for()
    if "layers=heat" in query:
        frame.locator("canvas.leaflet-heatmap-layer").first.wait_for(state="attached")
    else:
        frame.locator(".gis-class-legend").first.wait_for()
    return page, frame


def layer_box(frame, label: str):
    """The checkbox of ``label`` in the (collapsed) layer control, opened by hovering it."""
    frame.locator(".leaflet-control-layers").hover()
    return frame.locator(".leaflet-control-layers label", has_text=label).locator("input")


def map_frame(page):
    """The st_folium iframe as a Playwright Frame (for evaluating code in it)."""
    return page.locator(MAP_FRAME).element_handle().content_frame()


def settle(page) -> None:
    """Wait for the page's requests to end (none open for half a second: the map frame's
    scripts, a download), for Streamlit to finish the run (no running indicator), for at most one
    map (the old one goes when a run replaces it) and for late drawing."""
    inflight = page.context.inflight
    _poll(inflight.quiet, page, what=lambda: f"the page's requests to end (open: {inflight.pending()})")
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    _poll(lambda: page.locator(MAP_FRAME).count() <= 1, page, what="the old map to go")
    page.wait_for_timeout(1500)


def wait_for_map_layer(page, label: str) -> None:
    """Wait until the page shows one map (a new one replaces the old after a drill-down)
    whose layer control lists ``label``."""
    def shown() -> bool:
        maps = page.locator(MAP_FRAME)
        return maps.count() == 1 and maps.content_frame.locator(
            ".leaflet-control-layers-overlays label", has_text=label).count() == 1
    _poll(shown, page, what=f"a map with the layer {label!r}")


def _poll(condition, page, *, what) -> None:
    """Wait for ``condition()``, polling; ``what`` (a text, or a function giving it when the wait
    fails) names what was awaited."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {TIMEOUT_MS / 1000:.0f} s for {what() if callable(what) else what}")
        page.wait_for_timeout(250)


def assert_no_app_error(page) -> None:
    errors = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
    assert errors.count() == 0, errors.all_inner_texts()


def grids(demo_database_url):
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as services:
        return workflows.active_grids(services)


# -- the situation map --------------------------------------------------------------------------------


def test_map_draws_the_district_choropleth_and_heat(context, app_url, accounts):
    page, frame = open_map(context, app_url)
    settle(page)
    assert_no_app_error(page)
    # one coloured polygon per street (14) with a class legend, and the exclusive grids' outlines
    codes = map_frame(page).evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.fill)"
        ".map(l => l.feature.properties.code)")
    assert len(codes) == 14 and all(c.startswith("410102") and len(c) == 9 for c in codes)
    assert frame.locator(".leaflet-overlay-pane path.leaflet-interactive").count() > 14
    assert "案件数" in frame.locator(".leaflet-top.leaflet-right .gis-class-legend").inner_text()
    # colour classes alone: the heat layers are listed but off (their colours would mix with the
    # classes'); no tile layer with basemap=none
    assert frame.locator("canvas.leaflet-heatmap-layer").count() == 0
    assert frame.locator(".leaflet-tile-pane img").count() == 0
    frame.locator(".leaflet-control-layers").hover()
    labels = [t.strip() for t in frame.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    assert labels[0] == "街道 · 案件数" and labels[-1] == "专属网格"
    assert {"热力 · 安全隐患", "热力 · 垃圾/环境卫生", "热力 · 未办结"} <= set(labels)
    assert street_box(page).input_value() == "全区"
    screenshot_map(page)


def test_the_heat_view_shows_one_heat_layer_with_its_legend(context, app_url, accounts):
    page, frame = open_map(context, app_url, "basemap=none&layers=heat")
    settle(page)
    assert_no_app_error(page)
    assert frame.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert "每 40 m 格案件数" in frame.locator(".leaflet-top.leaflet-right").inner_text()


def street_box(page):
    """The sidebar's 街道 selectbox (its input shows the choice)."""
    return page.locator("[data-testid='stSidebar']").get_by_role("combobox", name="街道", exact=True)


def screenshot_map(page) -> None:
    """The whole page (Streamlit scrolls inside its main block, so the window is made tall
    enough to hold it) to test-output/; to docs/ for the README with UPDATE_SCREENSHOT=1."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1600, "height": max(1000, int(height) + 40)})
    page.wait_for_timeout(1500)
    path = OUTPUT / "screenshot-map.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 50_000
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        docs = PROJECT_ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(path, docs / "screenshot-map.png")


def test_a_heat_layer_can_be_switched_off_in_the_layer_control(context, app_url, accounts):
    page, frame = open_map(context, app_url, "basemap=none&layers=heat")
    hazard = layer_box(frame, "热力 · 安全隐患")
    assert hazard.is_checked()
    heat = frame.locator("canvas.leaflet-heatmap-layer")
    assert heat.count() == 1
    hazard.uncheck()
    assert not hazard.is_checked()
    assert heat.count() == 0
    # the toggle stays in the browser: no rerun redraws the map with the layer back on
    page.wait_for_timeout(2000)
    assert not hazard.is_checked()
    assert heat.count() == 0


def test_clicking_a_street_on_the_map_drills_down_and_the_breadcrumb_comes_back(context, app_url, accounts,
                                                                              demo_database_url):
    page, _ = open_map(context, app_url)
    settle(page)
    all_grids = grids(demo_database_url)
    street = all_grids.loc[all_grids["code"] == STREET, "geometry"].iloc[0]
    # a point well inside the street and away from the exclusive grids drawn over it
    exclusive = all_grids.loc[all_grids["level"] == "exclusive", "geometry"].union_all().buffer(0.002)
    point = street.difference(exclusive).buffer(-0.003).representative_point()

    def click_the_street() -> None:
        x, y = map_frame(page).evaluate(
            "([lat, lon]) => { const p = window.map.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
            [point.y, point.x])
        page.frame_locator(MAP_FRAME).locator(".leaflet-container").click(position={"x": x, "y": y})
        page.wait_for_url(f"**unit={STREET}**")
        page.get_by_role("button", name=f"{STREET_NAME}（街道）").wait_for()
        wait_for_map_layer(page, "社区 · 案件数")  # the map now colours the street's communities
        settle(page)
        assert_no_app_error(page)
        assert page.get_by_role("heading", name=STREET_NAME, exact=True).is_visible()
        assert street_box(page).input_value() == STREET_NAME

    click_the_street()
    page.get_by_role("button", name="中原区（区）").click()
    page.wait_for_url(lambda url: "unit=" not in url)
    wait_for_map_layer(page, "街道 · 案件数")
    settle(page)
    assert street_box(page).input_value() == "全区"
    # the same street again: an old click must neither replay nor block a new one
    click_the_street()


# -- offline: nothing but the app's own server ----------------------------------------------------------


def test_the_map_and_its_code_come_from_the_app_server_only(context, app_url, accounts):
    page, frame = open_map(context, app_url)
    settle(page)
    layer_box(frame, "热力 · 安全隐患").check()
    page.wait_for_timeout(1000)
    from_map = [(url, f) for url, f in context.requests if "streamlit_folium" in f or "/component/" in url
                or "/app/static/" in url]
    assert any("/app/static/vendor/leaflet/" in url for url, _ in from_map), from_map
    assert Requests(from_map).remote() == []


def test_the_app_asks_nothing_of_any_host_but_its_own(context, app_url, accounts):
    # every request of a working session: the sign-in, the map, a case with its map, a CSV and
    # the bulletin's Excel; all to the app's own server (or data:/blob: in the browser)
    page = context.new_page()
    page.goto(f"{app_url}/?basemap=none")
    page.get_by_label("账号", exact=True).wait_for()
    sign_in(page, accounts["analyst"])
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-overlay-pane path.leaflet-interactive").first.wait_for()
    settle(page)
    layer_box(frame, "热力 · 安全隐患").check()
    page = open_signed_in(context, f"{app_url}/cases?basemap=none", accounts["analyst"])
    select_first_case(page)
    open_case_popup(page)
    # the popup's click reruns the page, which gives the deferred download a new id: a click
    # before the browser has it would ask for the old one (Streamlit's documented race)
    settle(page)
    with page.expect_download():
        page.get_by_role("button", name="导出 CSV").click()
    settle(page)
    page = open_signed_in(context, f"{app_url}/bulletin", accounts["analyst"])
    page.get_by_text("各社区办理情况排名").wait_for()
    with page.expect_download():
        page.get_by_role("button", name="导出 Excel").click()
    settle(page)
    assert len(context.requests) > 20
    assert any(url.startswith("ws://127.0.0.1") for url, _ in context.requests)  # the session's websocket
    assert context.requests.remote() == []


# -- the weekly bulletin ------------------------------------------------------------------------------


def test_bulletin_excel_downloads_with_the_community_ranking(context, app_url, accounts, tmp_path):
    page = open_signed_in(context, f"{app_url}/bulletin", accounts["analyst"])
    page.get_by_text("各社区办理情况排名").wait_for()
    assert_no_app_error(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="导出 Excel").click()
    assert download.value.suggested_filename.startswith("周通报_") and download.value.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    workbook = openpyxl.load_workbook(path)
    assert "社区排名" in workbook.sheetnames
    sheet = workbook["社区排名"]
    header = [c.value for c in sheet[1]]
    assert {"排名", "街道", "社区"} <= set(header)
    assert sheet.max_row == 1 + 157


# -- signing in, scopes and hostile text ------------------------------------------------------------

CASE_NUMBER = re.compile(r"(12345|SSP|XC|SZCG)-\d{4}-\d+")


def cases_count(page) -> int:
    """The 共 N 条 of the case list."""
    caption = page.get_by_text(re.compile(r"^共 \d+ 条")).first
    caption.wait_for()
    return int(re.search(r"\d+", caption.inner_text()).group())


def select_first_case(page) -> None:
    """Tick the first row of the case table (a canvas: its row marker is clicked by position)
    and wait for the case's detail and map."""
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # below the 35 px header, in the first row
    page.get_by_role("heading", name=re.compile(r"^案件 ")).wait_for()
    page.frame_locator(MAP_FRAME).locator(".leaflet-overlay-pane path.leaflet-interactive").first.wait_for()
    settle(page)


def open_case_popup(page):
    """Click the case's marker on the case map and return its popup's content."""
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-container").scroll_into_view_if_needed()  # else the click may miss the marker
    frame.locator(".leaflet-overlay-pane path.leaflet-interactive").first.click()
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for()
    return popup


def _external_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (those a neighbour could reach)."""
    found = set()
    with contextlib.suppress(OSError):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            found.add(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        found.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    return sorted(a for a in found if not a.startswith("127."))


def test_the_app_listens_on_loopback_only(app_url):
    port = urlsplit(app_url).port
    assert urllib.request.urlopen(f"{app_url}/_stcore/health", timeout=10).status == 200
    addresses = _external_addresses()
    assert addresses, "this machine has no address besides loopback to check against"
    for address in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            assert s.connect_ex((address, port)) != 0, f"the app answers on {address}:{port}"


def test_before_sign_in_no_page_shows_a_case(context, app_url):
    for path in ("/cases", "/", "/bulletin", "/audit", "/status", "/cases?unit=410102009"):
        page = context.new_page()
        page.goto(f"{app_url}{path}")
        page.get_by_label("账号", exact=True).wait_for()
        page.wait_for_timeout(1000)  # anything a page would draw has arrived by now
        assert page.get_by_label("密码", exact=True).get_attribute("type") == "password"
        assert page.get_by_role("button", name="登录", exact=True).is_visible()
        assert page.locator("[data-testid='stDataFrame'], [data-testid='stMetric'], iframe").count() == 0, path
        text = page.locator("body").inner_text()
        assert not CASE_NUMBER.search(text) and "受理" not in text and "中原区" not in text, path
        assert page.locator("[data-testid='stSidebarNav']").count() == 0, path  # no menu either
        page.close()


def test_a_community_user_sees_and_exports_only_its_own_cases(context, app_url, accounts, demo_database_url,
                                                                tmp_path):
    community = accounts["scopes"]["community"]
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as system:
        own_micro = set(GridTree(workflows.active_grids(system)).micro_under(community))
    page = open_signed_in(context, f"{app_url}/cases?basemap=none", accounts["community"])
    shown = cases_count(page)
    assert shown > 0
    nav = page.locator("[data-testid='stSidebarNav']")
    assert nav.get_by_text("工单", exact=True).is_visible() and nav.get_by_text("审计日志").count() == 0
    # the table's own toolbar offers no unaudited CSV (client.disableDataExport in .streamlit/config.toml)
    page.locator("[data-testid='stDataFrame']").first.hover()
    page.locator("[data-testid='stElementToolbar']").first.wait_for()
    assert page.get_by_role("button", name="Download as CSV").count() == 0
    with page.expect_download() as download:
        page.get_by_role("button", name="导出 CSV").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    # the first line is the filter (# 筛选条件: …), then the header and every matching case
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("# 筛选条件: ")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    assert len(rows) == shown
    assert {row["微网格编码"] for row in rows} <= own_micro
    settle(page)
    # the download is in the audit trail, with its size
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as system:
        trail = workflows.audit_trail(system, actor=accounts["community"], actions=["export"])
    assert len(trail) >= 1 and trail["after"].iloc[0]["rows"] == shown
    assert trail["after"].iloc[0]["file"] == download.value.suggested_filename


def test_two_users_signed_in_at_once_see_their_own_cases(browser, app_url, accounts):
    community, analyst = new_context(browser), new_context(browser)
    try:
        mine = open_signed_in(community, f"{app_url}/cases?basemap=none", accounts["community"])
        theirs = open_signed_in(analyst, f"{app_url}/cases?basemap=none", accounts["analyst"])
        few, many = cases_count(mine), cases_count(theirs)
        assert 0 < few < many
        # both sessions go on side by side: a rerun of each keeps its own scope (and cache entry)
        mine.get_by_text("只看未办结").click()
        theirs.get_by_text("只看未办结").click()
        settle(mine)
        settle(theirs)
        assert cases_count(mine) < cases_count(theirs)
        mine.get_by_text("只看未办结").click()
        settle(mine)
        assert cases_count(mine) == few
    finally:
        community.close()
        analyst.close()


HOSTILE_DESCRIPTION = "<img src=x onerror=alert(1)>"
HOSTILE_ADDRESS = "<script>alert(2)</script>"


@pytest.fixture
def hostile_app_url(services, layer_file):
    """The app on a small database of its own (the tiny district of tests/conftest.py) holding one
    case whose description and address are HTML that would run if pasted unescaped; the analyst
    ``br_analyst`` sees the district."""
    workflows.import_grids(services, layer_file)
    reported = (datetime.now(CHINA_TZ) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    workflows.receive_incident(services, {
        "source": "12345", "external_id": "XSS-1", "category": "暴露垃圾", "lon": X0 + 0.5 * D,
        "lat": Y0 + 0.5 * D, "reported_at": reported, "status": "received", "description": HOSTILE_DESCRIPTION,
        "address": HOSTILE_ADDRESS, "reporter_phone": "13812345678"})
    workflows.add_user(services, "br_analyst", role="analyst", scope="410102", password=PASSWORD)
    with serving(services.database.url, log_name="streamlit-hostile.log") as url:
        yield url


def test_hostile_text_in_a_case_runs_nowhere(context, hostile_app_url):
    page = open_signed_in(context, f"{hostile_app_url}/cases?basemap=none", "br_analyst")
    assert cases_count(page) == 1
    select_first_case(page)
    # shown as text in the detail …
    assert page.get_by_text(f"地址：{HOSTILE_ADDRESS}", exact=True).is_visible()
    assert page.get_by_label("描述").input_value() == HOSTILE_DESCRIPTION
    # … and in the map's popup
    frame = page.frame_locator(MAP_FRAME)
    popup = open_case_popup(page)
    assert HOSTILE_DESCRIPTION in popup.inner_text() and HOSTILE_ADDRESS in popup.inner_text()
    assert popup.locator("img, script").count() == 0
    # the situation map of the same district (its tooltips and popups), then wait for late timers
    page.locator("[data-testid='stSidebarNav']").get_by_text("态势地图", exact=True).click()
    page.frame_locator(MAP_FRAME).locator(".leaflet-overlay-pane path.leaflet-interactive").first.wait_for()
    settle(page)
    assert context.dialogs == []
    assert page.locator("img[src='x']").count() == 0
