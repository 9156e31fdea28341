"""No English on the app's pages, as far as the page's own output shows it (AppTest, fast).

The browser test (tests/browser/test_chinese_browser.py) reads the screen; this one reads
what each page sends: every text, label, placeholder, option and table cell; dropdowns that
offer no English "Select all"; tables whose missing values read "—", not "None"; charts whose
time axes carry the zh-CN locale (``ui.charts``) instead of the browser's English dates.
"""

from __future__ import annotations

import json
import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis.settings import PROJECT_ROOT
from ui import auth, charts, widgets

#: The issue's list of English words on screen, whole words, case-sensitive (``NaN``/``NaT``: a
#: missing value shown raw).
ENGLISH = re.compile(r"(?<![A-Za-z])(Deploy|Rerun|Clear cache|Select all|empty|None|nan|NaN|NaT|Date range|"
                     r"Select…|Select\.\.\.|Download as CSV|Search|Running|Stop|Page not found|Tue|December)"
                     r"(?![A-Za-z])")
#: The fields of Streamlit's element protos that hold text the user reads.
TEXT_FIELDS = {"label", "body", "placeholder", "help", "value", "options", "default_value", "caption", "delta",
               "title", "text", "tab_labels", "format"}
PAGES = ("ui/pages/situation.py", "ui/pages/cases.py", "ui/pages/bulletin.py")


@pytest.fixture
def page_as(monkeypatch, demo_database_url, accounts):
    """``page_as('leader', 'ui/pages/cases.py')``: that page of app.py, run signed in as the role."""
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(role: str, page: str) -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
        at.session_state[auth.SESSION_KEY] = accounts[role].principal
        at.run()
        at.switch_page(page).run()
        assert not at.exception, "\n".join(str(e.value) for e in at.exception)
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def texts_of(at: AppTest) -> list[str]:
    """Every text the page sends to the browser: its elements' text fields and table cells."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        # a chart's spec is checked on its own; st.html is the app's CSS (ui.widgets._CHINESE_CSS)
        if proto is not None and getattr(node, "type", None) not in {"vega_lite_chart", "html"}:
            for field, value in proto.ListFields():
                if field.name not in TEXT_FIELDS:
                    continue
                if not isinstance(value, str) and hasattr(value, "__len__"):
                    out.extend(str(v) for v in value)
                elif isinstance(value, str):
                    out.append(value)
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    for frame in at.dataframe:
        shown = frame.value
        out.extend(str(c) for c in shown.columns)
        text = shown.select_dtypes(exclude="number")
        out.extend(str(v) for v in text.to_numpy().ravel())
    return out


@pytest.mark.parametrize("page", PAGES)
def test_the_page_sends_no_english(page_as, page):
    at = page_as("leader", page)
    found = sorted({m.group(1) for text in texts_of(at) for m in ENGLISH.finditer(text)})
    assert found == [], f"{page}: {found}"


@pytest.mark.parametrize("page", PAGES)
def test_dropdowns_offer_no_english_select_all(page_as, page):
    at = page_as("leader", page)
    offering = [m.label for m in at.multiselect if m.proto.select_all != 0]
    assert offering == [], f"{page}: multiselects with Streamlit's 'Select all' row: {offering}"


def test_the_sidebar_filter_has_no_select_all_and_a_range_calendar(page_as):
    at = page_as("leader", "ui/pages/cases.py")
    for key in ("f_categories", "f_sources", "f_statuses"):
        assert at.multiselect(key=key).proto.select_all == 0, key
    assert at.date_input(key="f_dates").label == "日期范围"


@pytest.mark.parametrize("page", ("ui/pages/situation.py",))
def test_time_axes_are_chinese(page_as, page):
    at = page_as("leader", page)
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    dated = [s for s in specs if '"temporal"' in json.dumps(s)]
    assert dated, f"{page}: no chart with a time axis"
    for spec in dated:
        assert spec.get("config", {}).get("locale", {}).get("time") == charts.ZH_TIME_LOCALE


def test_missing_values_read_as_a_dash():
    import pandas as pd
    frame = pd.DataFrame({"责任人": ["张三", None], "超期": [1.0, float("nan")], "地址": [float("nan"), "甲路"]})
    shown = widgets.for_display(frame)
    assert shown["责任人"].tolist() == ["张三", "—"]
    assert shown["地址"].tolist() == ["—", "甲路"]
    assert shown["超期"].isna().tolist() == [False, True]  # numbers stay numbers: the table's placeholder


def test_a_table_without_rows_says_so_in_chinese():
    at = AppTest.from_string(
        "import pandas as pd\nfrom ui import widgets\n"
        "widgets.table(pd.DataFrame({'编号': []}), empty='没有符合条件的案件。')\n"
        "widgets.table(pd.DataFrame({'编号': ['A1', None], '超期': [1.0, None]}))\n")
    at.run()
    assert not at.exception
    assert [c.value for c in at.caption] == ["没有符合条件的案件。"]
    (table,) = at.dataframe
    assert table.proto.placeholder == "—"
    assert table.value["编号"].tolist() == ["A1", "—"]
