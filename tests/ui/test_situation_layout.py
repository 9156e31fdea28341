"""The situation page as a leader's morning view (issue 11, item 5): a compact header whose KPI
cards carry their full text and a sparkline coloured by direction, a trend that leaves today's
unfinished day out of its line, a 网格力量 tab that is never empty and a 未办结 tab sorted by how
overdue a case is.

Runs the page headless (``AppTest``) on the shared demo district, as tests/ui/test_pages.py does.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from gis import workflows
from gis.core import metrics, roster
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.settings import PROJECT_ROOT
from gis.workflows import Services
from ui import auth, widgets

DISTRICT = "410102"
STREET = "410102009"  # 航海西路街道
KPI_LABELS = ["受理", "办结", "办结率", "按期办结率", "满意率", "超期(督办)", "办理时长中位数"]
COLOR = {v: k for k, v in MetricProto.MetricColor.items()}


@pytest.fixture
def page(monkeypatch, demo_database_url, accounts):
    """``page(role, unit=None)``: the situation page run for that role's account (at ``unit``)."""
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    st.cache_data.clear()
    st.cache_resource.clear()

    def run(role: str = "analyst", unit: str | None = None) -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / "situation.py"), default_timeout=180)
        at.session_state[auth.SESSION_KEY] = accounts[role].principal
        if unit:
            at.query_params["unit"] = unit
        at.run()
        assert not at.exception, "\n".join(str(e.value) for e in at.exception)
        assert not at.error, [e.value for e in at.error]
        return at

    yield run
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def grids(demo_database_url):
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as services:
        return workflows.active_grids(services)


def tab_frame(at: AppTest, tab: str) -> pd.DataFrame:
    """The table of one of the card's tabs."""
    (found,) = [t for t in at.tabs if t.label == tab]
    frames = list(found.dataframe)
    assert frames, f"the tab {tab} shows no table"
    return frames[0].value


def longest_micro_path(grids: pd.DataFrame) -> str:
    """The micro-grid whose breadcrumb (names of it and its ancestors) is the longest."""
    names, parents = dict(zip(grids["code"], grids["name"])), dict(zip(grids["code"], grids["parent_code"]))

    def length(code):
        total = 0
        while code in names:
            total, code = total + len(names[code]), parents.get(code)
        return total
    return max(grids.loc[grids["level"] == "micro", "code"], key=length)


# -- the header ----------------------------------------------------------------------------------


def test_header_shows_every_kpi_and_the_whole_breadcrumb_in_full_at_micro_level(page, grids):
    micro = longest_micro_path(grids)
    at = page("analyst", micro)
    cards = at.metric
    assert [m.label for m in cards] == KPI_LABELS
    # every card has a value, and 办理时长 carries its unit in full (no "…")
    assert all(m.value and "…" not in m.value for m in cards)
    hours = next(m.value for m in cards if m.label == "办理时长中位数")
    assert hours == "—" or hours.endswith(" 小时")
    # the breadcrumb names every step, district to micro-grid: each step's full name is its help, and
    # its label the name, or the part after the parent's name where the name repeats it
    names, levels, parents = (dict(zip(grids["code"], grids[c])) for c in ("name", "level", "parent_code"))
    steps, code = [], micro
    while code in names:
        steps.insert(0, code)
        code = parents.get(code)
    buttons = [b for b in at.button if (b.key or "").startswith("crumb-")]
    assert [b.key for b in buttons] == [f"crumb-{code}" for code in steps]
    parent = None
    for button, code in zip(buttons, steps):
        level = widgets.level_name(levels[code])
        assert button.help.startswith(f"{names[code]}（{level}）")
        shown = button.label.removesuffix(f"（{level}）")
        assert shown and shown != button.label
        assert shown == names[code] or (parent is not None and parent + shown == names[code])
        parent = names[code]
    # the micro-grid's name repeats its tertiary grid's: the label is the rest of it, not cut short
    assert len(buttons[-1].label) < len(names[micro]) + len("（微网格）")
    expected = [b.label for b in buttons]
    # both sit in the header, beside each other: the breadcrumb and the cards are its two columns
    heads = [c for c in at.main.children.values() if str(getattr(c.proto, "id", "")).endswith("-situation-head")]
    assert len(heads) == 1, "the page has no header container"
    (row,) = heads[0].children.values()
    left, right = row.children.values()
    assert [b.label for b in left.button] == expected
    assert [m.label for m in right.metric] == KPI_LABELS


def test_kpi_colours_follow_each_figures_direction(page, demo_database_url):
    at = page("analyst")
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as services:
        k = workflows.kpis(services, metrics.CaseFilter(*at.date_input(key="f_dates").value))
    expected = {c.label: c.tone for c in metrics.kpi_cards(k["current"], k["previous"])}
    for card in at.metric:
        want = {"good": "GREEN", "bad": "RED"}.get(expected[card.label], "GRAY")
        assert COLOR[card.proto.color] == want, (card.label, card.delta, expected[card.label])


def test_a_drop_in_overdue_is_green_a_drop_in_the_completion_rate_red():
    def cards():
        from datetime import date as d

        import pandas as pd

        from gis.core.metrics import CaseFilter
        from ui import widgets
        previous = {"received": 100, "completed": 90, "due": 100, "on_time": 80, "overdue": 9, "median_h": 20.0,
                    "completion_rate": 0.9, "on_time_rate": 0.8, "visited": 10, "satisfied": 9}
        current = {"received": 120, "completed": 85, "due": 100, "on_time": 80, "overdue": 4, "median_h": 20.0,
                   "completion_rate": 0.85, "on_time_rate": 0.8, "visited": 10, "satisfied": 9}
        series = pd.DataFrame({"day": [d(2026, 11, 1), d(2026, 11, 2)], "overdue": [6, 4], "received": [50, 70]})
        widgets.kpi_cards(CaseFilter(d(2026, 11, 1), d(2026, 11, 2)), {"current": current, "previous": previous},
                          series)

    at = AppTest.from_function(cards).run()
    assert not at.exception
    colour = {m.label: COLOR[m.proto.color] for m in at.metric}
    assert colour["超期(督办)"] == "GREEN"     # 9 → 4: fewer overdue cases is good
    assert colour["办结率"] == "RED"           # 90 % → 85 %: worse
    assert colour["受理"] == "GRAY"            # more reports: neither good nor bad
    assert colour["按期办结率"] == "GRAY"      # unchanged
    # the sparkline comes with the card whose series has two days or more, in the card's colour
    lines = {m.label: list(m.proto.chart_data) for m in at.metric}
    assert lines["超期(督办)"] == [6, 4] and lines["受理"] == [50, 70] and lines["办结"] == []


# -- the trend ------------------------------------------------------------------------------------


def test_the_trend_and_the_sparklines_leave_todays_unfinished_day_out(page, demo_database_url):
    at = page("analyst")
    since, until = at.date_input(key="f_dates").value
    today = datetime.now(CHINA_TZ).date()
    assert until == today  # the default period runs up to today
    # the trend chart: its solid line stops at yesterday; today is drawn apart (dashed, hollow point)
    specs = [e for e in _elements(at) if e.type == "vega_lite_chart" and "layer" in json.loads(e.proto.spec)]
    assert len(specs) == 1, f"one trend chart expected, found {len(specs)}"
    chart = specs[0]
    data = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets}
    layers = json.loads(chart.proto.spec)["layer"]
    (solid,) = [layer for layer in layers if layer["mark"]["type"] == "line" and "strokeDash" not in layer["mark"]]
    line_days = set(pd.to_datetime(data[solid["data"]["name"]]["日期"]).dt.date)
    assert today not in line_days and today - timedelta(days=1) in line_days
    (hollow,) = [layer for layer in layers if layer["mark"]["type"] == "point" and layer["mark"].get("filled") is False]
    assert set(pd.to_datetime(data[hollow["data"]["name"]]["日期"]).dt.date) == {today}
    assert any("今日未完" in c.value for c in at.caption)
    # the sparklines: one point per finished day (today left out)
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as services:
        series = workflows.kpi_series(services, metrics.CaseFilter(since, until))
    assert series["day"].max() == today - timedelta(days=1)
    received = next(m for m in at.metric if m.label == "受理")
    assert list(received.proto.chart_data) == series["received"].astype(float).tolist()


def _elements(at: AppTest):
    def walk(node):
        for child in getattr(node, "children", {}).values():
            yield child
            yield from walk(child)
    return list(walk(at.main))


# -- the unit's card --------------------------------------------------------------------------------


def test_the_staff_tab_counts_each_streets_staff_at_district_level(page, demo_database_url, grids):
    at = page("analyst")
    staff = tab_frame(at, "网格力量")
    streets = grids[grids["level"] == "street"]
    assert list(staff.columns[:3]) == ["街道", roster.ROLE_COMMUNITY_HEAD, roster.ROLE_FULL_TIME_WORKER]
    assert sorted(staff["街道"]) == sorted(streets["name"])
    # the counts are the roster's: every 专职网格员 on duty serves a grid of one street
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as services:
        roster_now = workflows.fetch_staff(services)
    workers = roster_now[roster_now["role"] == roster.ROLE_FULL_TIME_WORKER]
    assert staff[roster.ROLE_FULL_TIME_WORKER].sum() == len(workers) > 0
    assert (staff[roster.ROLE_COMMUNITY_HEAD] > 0).all()


def test_the_staff_tab_counts_a_streets_communities_and_lists_a_communitys_people(page, grids):
    street = page("leader")
    staff = tab_frame(street, "网格力量")
    assert staff.columns[0] == "社区" and staff[roster.ROLE_FULL_TIME_WORKER].sum() > 0
    community = grids.loc[(grids["level"] == "community") & (grids["parent_code"] == STREET), "code"].min()
    people = tab_frame(page("leader", community), "网格力量")
    assert {"岗位", "姓名", "电话"} <= set(people.columns) and len(people) > 0


def test_open_cases_are_listed_most_overdue_first_with_how_long(page, demo_database_url):
    at = page("leader")
    shown = tab_frame(at, "未办结案件")
    assert list(shown.columns[:2]) == ["编号", "超期时长"]
    assert len(shown) > 0
    # deadlines ascending: the longest overdue on top ("YYYY-MM-DD HH:MM" sorts as time does)
    deadlines = shown["办理时限"][shown["办理时限"] != ""]
    assert deadlines.is_monotonic_increasing
    overdue = shown["超期时长"].str.startswith("超期 ")
    assert (overdue | shown["超期时长"].str.startswith("剩余 ")).all()
    # every overdue case comes before every case still within its deadline
    assert not (overdue.astype(int).diff() > 0).any()
    # the oldest deadline among all of the street's open cases of the period is the first row
    since, until = at.date_input(key="f_dates").value
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as services:
        every = workflows.cases(services, metrics.CaseFilter(since, until, unit=STREET), open_only=True,
                                limit=100_000)
    first = widgets.cases_table(every.sort_values("due_at").head(1))["办理时限"].iloc[0]
    assert shown["办理时限"].iloc[0] == first


def test_overdue_text_reads_days_and_hours():
    assert widgets.overdue_text(51.5) == "超期 2天3小时"
    assert widgets.overdue_text(-5) == "剩余 5小时"
    assert widgets.overdue_text(0.5) == "超期 30分钟"
    assert widgets.overdue_text(float("nan")) == "—"


def test_the_issuing_office_is_named_after_the_users_scope(accounts, grids):
    assert widgets.issuing_office(accounts["leader"].principal, grids) == "航海西路街道办事处"
    assert widgets.issuing_office(accounts["analyst"].principal, grids) == "中原区人民政府"
