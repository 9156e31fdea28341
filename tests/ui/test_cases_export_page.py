"""The cases page's export buttons (AppTest on the demo district): 导出 CSV / 导出 Excel for roles that
may export, with the number of cases they will write (every match, not the rows shown); none for the
others; the table shows micro-grid names with the code beside them."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis import workflows
from gis.core.metrics import CaseFilter
from gis.settings import PROJECT_ROOT
from gis.workflows import Services
from ui import auth


@pytest.fixture
def cases_page(monkeypatch, demo_database_url, accounts):
    """``cases_page('leader')``: an AppTest of ui/pages/cases.py signed in as that role, not yet run."""
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(role: str) -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / "cases.py"), default_timeout=120)
        at.session_state[auth.SESSION_KEY] = accounts[role].principal
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def ran(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    assert not at.error, [e.value for e in at.error]
    return at


def export_caption(at: AppTest) -> str | None:
    found = [c.value for c in at.caption if c.value.startswith("导出全部匹配的")]
    return found[0] if found else None


@pytest.mark.parametrize("role", ["leader", "analyst"])
def test_a_role_that_may_export_gets_both_buttons_for_every_matching_case(cases_page, role, accounts,
                                                                          demo_database_url):
    at = cases_page(role)
    at.session_state["case_limit"] = 500  # the smallest screen limit: fewer rows shown than match
    at.query_params["since"] = str(date.today() - timedelta(days=365))  # a year: well over 500 cases
    at.query_params["until"] = str(date.today())
    ran(at)
    assert [b.proto.label for b in at.get("download_button")] == ["导出 CSV", "导出 Excel"]
    shown = at.dataframe[0].value
    since, until = at.date_input(key="f_dates").value
    with Services.for_url(demo_database_url, maxconn=1, principal=accounts[role].principal) as services:
        total = workflows.count_cases(services, CaseFilter(since=since, until=until))
    assert len(shown) == 500 < total
    caption = export_caption(at)
    assert caption is not None and f"导出全部匹配的 {total:,} 条案件" in caption
    # the table: 微网格 is the name, the 16-digit code beside it
    placed = shown[shown["微网格编码"] != ""]
    assert len(placed) > 0 and placed["微网格编码"].str.fullmatch(r"\d{16}").all()
    assert not placed["微网格"].str.fullmatch(r"\d+").any()


def test_the_export_caption_follows_the_open_only_switch(cases_page):
    at = ran(cases_page("analyst"))
    everything = int(re.search(r"导出全部匹配的 ([\d,]+) 条", export_caption(at)).group(1).replace(",", ""))
    at.toggle(key="case_open_only").set_value(True)
    ran(at)
    open_only = int(re.search(r"导出全部匹配的 ([\d,]+) 条", export_caption(at)).group(1).replace(",", ""))
    assert 0 < open_only < everything


def test_more_cases_than_an_excel_sheet_holds_offer_only_the_csv(cases_page, monkeypatch):
    monkeypatch.setattr(workflows, "CASE_EXPORT_XLSX_MAX_ROWS", 10)
    at = ran(cases_page("analyst"))
    assert [b.proto.label for b in at.get("download_button")] == ["导出 CSV"]
    assert any(c.value.startswith("超过 Excel 单表上限（10 行）") for c in at.caption)


@pytest.mark.parametrize("role", ["planner", "gridworker"])
def test_a_role_that_may_not_export_gets_no_buttons_and_no_export_caption(cases_page, role):
    at = ran(cases_page(role))
    assert len(at.dataframe) >= 1  # the list itself is there
    assert not at.get("download_button")
    assert export_caption(at) is None
