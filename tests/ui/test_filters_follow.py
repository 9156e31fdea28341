"""The filter follows the user from page to page (issue 11, item 6), in AppTest on the demo district.

Streamlit's menu, ``st.switch_page`` and ``st.page_link`` open a page with an empty query
string. app.py puts the session's last filter back into the URL of such a page
(``ui.state.carry_to_url``), so 态势地图 → 工单 keeps the dates, categories, sources, statuses
and unit; a URL with a filter of its own (a shared link) keeps that one. A menu click is
played here as the browser does it: the query string emptied, then the page switched.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis.core.metrics import SOURCES_ZH
from gis.settings import PROJECT_ROOT
from ui import auth, state, widgets

STREET, STREET_NAME = "410102009", "航海西路街道"


@pytest.fixture
def app_as(monkeypatch, demo_database_url, accounts):
    """``app_as('analyst')``: app.py (navigation, the page guard) signed in as that role, run once."""
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(role: str, **params: str | list[str]) -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
        at.session_state[auth.SESSION_KEY] = accounts[role].principal
        for key, value in params.items():
            at.query_params[key] = value
        return ran(at)

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def ran(target) -> AppTest:
    """Run an AppTest, or the AppTest of a widget just changed; fail with the page's own error."""
    at = target.run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    assert not at.error, [e.value for e in at.error]
    return at


def by_menu(at: AppTest, page: str) -> AppTest:
    """Open ``page`` as the sidebar menu does: the browser's query string is emptied first."""
    at.query_params.clear()
    return ran(at.switch_page(page))


def case_list(at: AppTest) -> pd.DataFrame:
    """The 工单 page's list of cases (the table with 编号, 类别 and 状态 columns)."""
    tables = [d.value for d in at.dataframe if {"编号", "类别", "状态"} <= set(d.value.columns)]
    assert tables, f"no case list among {[list(d.value.columns) for d in at.dataframe]}"
    return tables[0]


def params(at: AppTest) -> dict[str, list[str]]:
    keys = state.FILTER_KEYS + state.VIEW_KEYS
    return {k: sorted(v if isinstance(v, list) else [v]) for k, v in at.query_params.items() if k in keys}


def test_the_map_filter_reaches_the_cases_page_opened_from_the_menu(app_as):
    at = app_as("analyst")
    assert [t.value for t in at.title][:1] == ["态势地图"]
    until = state.today()
    ran(at.multiselect(key="f_categories").set_value(["safety.fire", "safety.gas"]))
    ran(at.multiselect(key="f_sources").set_value(["12345", "patrol"]))
    ran(at.date_input(key="f_dates").set_value((until - timedelta(days=59), until)))
    ran(at.selectbox(key="f_street").set_value(STREET))
    chosen = params(at)
    assert chosen["category"] == ["safety.fire", "safety.gas"] and chosen["unit"] == [STREET]
    assert chosen["since"] == [str(until - timedelta(days=59))]

    by_menu(at, "ui/pages/cases.py")
    assert [t.value for t in at.title][:1] == ["工单"]
    assert params(at) == chosen  # the URL of /cases carries the filter
    assert at.multiselect(key="f_categories").value == ["safety.fire", "safety.gas"]
    assert at.date_input(key="f_dates").value == (until - timedelta(days=59), until)
    cases = case_list(at)
    names = widgets.category_names()
    assert len(cases) > 0
    assert set(cases["类别"]) <= {names["safety.fire"], names["safety.gas"]}
    assert set(cases["来源"]) <= {SOURCES_ZH["12345"], SOURCES_ZH["patrol"]}

    # the cases shown are those of the same filter opened from a shared link
    shared = app_as("analyst", **{k: v if len(v) > 1 else v[0] for k, v in chosen.items()})
    by_link = ran(shared.switch_page("ui/pages/cases.py"))
    assert params(by_link) == chosen
    pd.testing.assert_frame_equal(case_list(by_link).reset_index(drop=True), cases.reset_index(drop=True))


def test_the_filter_travels_on_to_every_page_and_back(app_as):
    at = app_as("leader")
    ran(at.multiselect(key="f_statuses").set_value(["closed"]))
    chosen = params(at)
    assert chosen == {"status": ["closed"]}
    by_menu(at, "ui/pages/bulletin.py")  # a page without the filter keeps it in its URL
    assert params(at) == chosen
    by_menu(at, "ui/pages/cases.py")
    assert params(at) == chosen
    assert set(case_list(at)["状态"]) == {"结案"}
    by_menu(at, "ui/pages/situation.py")
    assert at.multiselect(key="f_statuses").value == ["closed"]


def test_a_link_with_a_filter_of_its_own_keeps_it(app_as):
    at = app_as("analyst")
    ran(at.multiselect(key="f_categories").set_value(["safety.fire"]))
    ran(at.selectbox(key="f_street").set_value(STREET))
    at.query_params.clear()
    at.query_params["category"] = "safety.gas"  # e.g. st.switch_page(…, query_params={"category": …})
    ran(at.switch_page("ui/pages/cases.py"))
    assert params(at) == {"category": ["safety.gas"]}  # nothing of the last filter is mixed in
    assert set(case_list(at)["类别"]) <= {widgets.category_names()["safety.gas"]}


def test_a_filter_cleared_on_one_page_is_cleared_on_the_next(app_as):
    at = app_as("analyst")
    ran(at.multiselect(key="f_categories").set_value(["safety.fire"]))
    ran(at.multiselect(key="f_categories").set_value([]))
    by_menu(at, "ui/pages/cases.py")
    assert params(at) == {}
    assert at.multiselect(key="f_categories").value == []
