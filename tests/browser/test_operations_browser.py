"""The closed loop in a real browser: a grid worker signs in on 工单处置 and takes a case from
受理 to 处置反馈; a community user then 核查 and 结案 it with a 回访; the history shows every step.

Runs its own app on a small database of its own (the tiny district of tests/conftest.py), so
nothing is written to the shared demo database. Debian's chromium through Playwright, as in
tests/browser/test_browser.py; screenshots go to ``test-output/browser/``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import psycopg2
import pytest

from gis import workflows
from gis.core.china_time import CHINA_TZ
from tests.browser.test_browser import (  # noqa: F401  (browser: a fixture)
    OUTPUT,
    _poll,
    assert_no_app_error,
    browser,
    new_context,
    serving,
    sign_in,
)
from tests.conftest import X0, Y0, D
from tests.ui.conftest import PASSWORD

pytestmark = pytest.mark.browser

WORKER = "黄子明"


@pytest.fixture
def work_app_url(services, layer_file):
    """The app on the tiny district with one case C1-1 at 受理 whose assignee is the grid worker
    ``br_worker``; ``br_c1`` is the community account that verifies it."""
    workflows.import_grids(services, layer_file)
    reported = (datetime.now(CHINA_TZ) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    workflows.receive_incident(services, {
        "source": "12345", "external_id": "C1-1", "category": "暴露垃圾", "lon": X0 + 0.5 * D,
        "lat": Y0 + 0.5 * D, "reported_at": reported, "status": "received", "description": "楼下垃圾堆放",
        "address": "甲路1号", "reporter_phone": "13812345678"})
    # the tiny district has no roster, so dispatch named nobody: the case is the worker's
    # (as a roster would make it), set as the database owner
    conn = psycopg2.connect(services.database.url)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE incident SET assignee = %s WHERE external_id = 'C1-1'", (WORKER,))
    conn.close()
    workflows.add_user(services, "br_worker", role="gridworker", scope="G1", password=PASSWORD,
                       display_name=WORKER)
    workflows.add_user(services, "br_c1", role="community", scope="C1", password=PASSWORD, display_name="甲社区")
    with serving(services.database.url, log_name="streamlit-work.log") as url:
        yield url


def submit(page, action: str, status: str, *, note: str = "", visit: str | None = None) -> None:
    """Pick ``action`` on the 工单处置 form, fill it and submit; wait for 已<action> and the case
    shown in its new ``status`` (the page's run has finished)."""
    radios = page.locator("[data-testid='stRadio']")
    radios.first.get_by_text(action, exact=True).click()
    page.get_by_role("button", name=f"提交：{action}").wait_for()
    if visit:
        radios.nth(1).get_by_text(visit, exact=True).click()
    if note:
        box = page.get_by_role("textbox", name=re.compile(r"^说明"))
        box.fill(note)
        box.press("Control+Enter")
        page.wait_for_timeout(500)
    page.get_by_role("button", name=f"提交：{action}").click()
    page.get_by_text(re.compile(f"^已{action}：C1-1")).wait_for()
    page.get_by_text(f"状态：{status}", exact=True).wait_for()
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    assert_no_app_error(page)


def history_showing(page, steps) -> str:
    """The 办理记录 table's text (the last dataframe: a canvas, whose grid keeps an accessible,
    hidden copy of the cells in the DOM), once it shows every one of ``steps`` (the table is
    redrawn after the page's run, later on a busy machine)."""
    def text() -> str:
        table = page.locator("[data-testid='stDataFrame']").last
        table.scroll_into_view_if_needed()
        return table.text_content() or ""
    _poll(lambda: all(step in text() for step in steps), page,
          what=lambda: f"the history to show {steps}: {text()!r}")
    return text()


def test_a_worker_and_a_community_user_close_a_case_in_the_browser(browser, work_app_url, services):  # noqa: F811
    worker = new_context(browser)
    try:
        page = worker.new_page()
        page.goto(f"{work_app_url}/work")
        sign_in(page, "br_worker")
        page.get_by_role("heading", name="工单处置").wait_for()
        page.get_by_text("派给我的工单：共 1 条").wait_for()
        submit(page, "受理", "处置")
        submit(page, "处置反馈", "反馈", note="已清运，现场恢复")
        history_showing(page, ("派遣", "受理", "处置反馈"))
        page.screenshot(path=str(OUTPUT / "work-worker.png"), full_page=True)
    finally:
        worker.close()

    community = new_context(browser)
    try:
        page = community.new_page()
        page.goto(f"{work_app_url}/work?case=12345/C1-1")
        sign_in(page, "br_c1")
        page.get_by_role("heading", name="工单 C1-1").wait_for()
        submit(page, "核查", "核查", note="现场已恢复")
        submit(page, "结案", "结案", visit="满意", note="居民满意")
        history_showing(page, ("登记", "派遣", "受理", "处置反馈", "核查", "结案", "回访", WORKER, "甲社区"))
        page.screenshot(path=str(OUTPUT / "work-community.png"), full_page=True)
    finally:
        community.close()

    detail = workflows.case_detail(services, source="12345", external_id="C1-1")
    assert detail.events["action"].tolist()[1:] == ["dispatch", "accept", "feedback", "verify", "close", "visit"]
    assert detail.events["actor"].tolist()[1:] == [WORKER, WORKER, WORKER, "甲社区", "甲社区", "甲社区"]
    assert detail.incident["status"] == "closed" and detail.visits["result"].tolist() == ["satisfied"]
