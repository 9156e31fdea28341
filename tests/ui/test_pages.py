"""The Streamlit pages (ui/pages) run headless with ``streamlit.testing.v1.AppTest``
against the demo district (``demo_database_url``: 中原区, 20 000 incidents, seed 7).

Incidents are generated relative to now, so tests compare numbers with each
other (a filter lowers a count) instead of pinning them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis.settings import PROJECT_ROOT

PAGES = ("situation", "cases", "bulletin", "status")
DISTRICT = "410102"
STREET, STREET_NAME = "410102009", "航海西路街道"


@pytest.fixture
def app(monkeypatch, demo_database_url):
    """``app('situation')``: an AppTest of one page, not yet run, on the demo services.

    The pages reach the services through ``ui.cached`` (``workflows.connect()``
    reads ``DATABASE_URL``); Streamlit's caches live in this process, so they are
    emptied around each test to keep tests independent.
    """
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(page: str) -> AppTest:
        return AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / f"{page}.py"), default_timeout=120)

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def ran(target) -> AppTest:
    """Run an AppTest (or an AppTest after a widget interaction: ``ran(at.button(...).click())``)
    and fail with the page's own traceback or error message, if any."""
    at = target.run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    assert not at.error, [e.value for e in at.error]
    return at


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"one metric {label!r} expected, found {[m.label for m in at.metric]}"
    return values[0]


def count(at: AppTest, label: str) -> int:
    return int(metric(at, label))


def ranking(at: AppTest) -> pd.DataFrame:
    """The 下级排名 table of the situation page (its first dataframe)."""
    table = at.dataframe[0].value
    assert list(table.columns)[1:3] == ["受理", "办结"], list(table.columns)
    return table


def cases_shown(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


# -- every page -------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_against_the_demo_district(app, page):
    at = ran(app(page))
    titles = {"situation": "态势地图", "cases": "工单", "bulletin": "周通报", "status": "系统状态"}
    assert [t.value for t in at.title] == [titles[page]]


def test_situation_page_shows_kpis_and_ranks_the_14_streets(app):
    at = ran(app("situation"))
    assert [m.label for m in at.metric] == ["受理", "办结", "办结率", "按期办结率", "超期(督办)", "办理时长中位数"]
    assert count(at, "受理") > 0
    assert count(at, "办结") <= count(at, "受理")
    table = ranking(at)
    assert table.columns[0] == "街道"
    assert len(table) == 14
    assert table["受理"].is_monotonic_decreasing
    # the streets' counts add up to the district's (every demo case lies in a micro-grid or is unassigned)
    assert table["受理"].sum() <= count(at, "受理")
    # the breadcrumb is the district alone, and it is where we are
    assert [(b.label, b.disabled) for b in at.button] == [("中原区（区）", True)]
    # the sidebar's street box reads 全区 (not an empty choice)
    street_box = at.selectbox(key="f_street")
    assert street_box.options[0] == "全区" and street_box.index == 0


def test_situation_page_draws_the_library_situation_map(app, monkeypatch):
    # the app draws what benchmarks/map.py times: gis.maps.situation_map, with every heat layer
    from gis import maps
    calls = []
    real = maps.situation_map

    def recorded(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)
    monkeypatch.setattr(maps, "situation_map", recorded)
    ran(app("situation"))
    (call,) = calls
    assert len(call["units"]) == 14 and {"code", "name", "value"} <= set(call["units"].columns)
    assert list(call["heat"]) == ["热力 · 安全隐患", "热力 · 垃圾/环境卫生", "热力 · 未办结"]
    assert call["units_name"] == "街道 · 案件数"


# -- filters -----------------------------------------------------------------------------------------


def test_choosing_a_category_lowers_the_received_count(app):
    at = ran(app("situation"))
    everything = count(at, "受理")
    ran(at.multiselect(key="f_categories").set_value(["safety.fire"]))
    fires = count(at, "受理")
    assert 0 < fires < everything
    assert at.query_params["category"] == "safety.fire"
    assert ranking(at)["受理"].sum() <= fires


def test_a_category_in_the_url_filters_like_the_sidebar(app):
    at = ran(app("situation"))
    ran(at.multiselect(key="f_categories").set_value(["safety.fire"]))
    from_sidebar = count(at, "受理")
    shared = app("situation")
    shared.query_params["category"] = "safety.fire"
    ran(shared)
    assert shared.multiselect(key="f_categories").value == ["safety.fire"]
    assert count(shared, "受理") == from_sidebar


def test_a_shorter_date_range_lowers_the_received_count(app):
    at = ran(app("situation"))
    month = count(at, "受理")
    since, until = at.date_input(key="f_dates").value
    assert (until - since).days == 29
    ran(at.date_input(key="f_dates").set_value((until - timedelta(days=6), until)))
    week = count(at, "受理")
    assert 0 < week < month
    assert date.fromisoformat(at.query_params["since"]) == until - timedelta(days=6)


def test_choosing_a_status_keeps_only_cases_in_that_status(app):
    at = ran(app("cases"))
    everything = len(cases_shown(at))
    ran(at.multiselect(key="f_statuses").set_value(["closed"]))
    closed = cases_shown(at)
    assert 0 < len(closed) < everything
    assert set(closed["状态"]) == {"结案"}


# -- drill-down --------------------------------------------------------------------------------------


def test_a_street_in_the_url_drills_down_to_its_communities(app):
    district = ran(app("situation"))
    at = app("situation")
    at.query_params["unit"] = STREET
    ran(at)
    table = ranking(at)
    assert table.columns[0] == "社区"
    assert 0 < len(table) < 157
    # breadcrumb: the district (a way back) › the street (where we are)
    assert [(b.label, b.disabled) for b in at.button] == [("中原区（区）", False), (f"{STREET_NAME}（街道）", True)]
    assert STREET_NAME in [s.value for s in at.subheader]
    assert at.selectbox(key="f_street").value == STREET
    assert 0 < count(at, "受理") < count(district, "受理")
    # the street's own row of the district's ranking holds the same count
    street_row = ranking(district).set_index("街道").loc[STREET_NAME]
    assert count(at, "受理") == street_row["受理"]


def test_choosing_a_street_in_the_sidebar_drills_down(app):
    at = ran(app("situation"))
    ran(at.selectbox(key="f_street").set_value(STREET))
    assert at.query_params["unit"] == STREET
    assert ranking(at).columns[0] == "社区"
    assert STREET_NAME in [s.value for s in at.subheader]


def test_the_breadcrumb_goes_back_to_the_district(app):
    at = app("situation")
    at.query_params["unit"] = STREET
    ran(at)
    ran(at.button(key=f"crumb-{DISTRICT}").click())
    assert "unit" not in at.query_params
    assert ranking(at).columns[0] == "街道"
    assert [(b.label, b.disabled) for b in at.button] == [("中原区（区）", True)]
    assert at.selectbox(key="f_street").index == 0  # 全区


def test_a_unit_set_in_the_url_during_a_session_is_not_undone_by_the_sidebar(app):
    # a map click and the breadcrumb change the URL's unit and rerun; the sidebar's street box,
    # which keeps its own state, must follow the URL rather than put its old street back
    at = ran(app("situation"))
    at.query_params["unit"] = STREET
    ran(at)
    assert at.query_params["unit"] == STREET
    assert ranking(at).columns[0] == "社区"
    assert at.selectbox(key="f_street").value == STREET


def test_an_exclusive_grid_in_the_url_shows_the_district(app):
    # exclusive grids (专属网格) lie beside the nesting, so they are no unit to drill into
    at = app("situation")
    at.query_params["unit"] = _first_code(level="exclusive")
    ran(at)
    assert ranking(at).columns[0] == "街道"


def test_a_community_drills_down_to_its_tertiary_grids(app):
    street = app("situation")
    street.query_params["unit"] = STREET
    ran(street)
    community_name = ranking(street)["社区"].iloc[0]
    community = _code_of(community_name, level="community")
    at = app("situation")
    at.query_params["unit"] = community
    ran(at)
    assert ranking(at).columns[0] == "三级网格"
    assert [b.label for b in at.button] == ["中原区（区）", f"{STREET_NAME}（街道）", f"{community_name}（社区）"]
    # the 网格力量 tab lists the community's 网格长 and its grids' 专职网格员
    staff = at.dataframe[1].value
    assert set(staff["岗位"]) == {"网格长", "专职网格员"}
    assert staff["电话"].str.contains(r"\*").all()  # phones are masked


def test_a_micro_grid_shows_no_ranking(app):
    micro = _first_code(level="micro")
    at = app("situation")
    at.query_params["unit"] = micro
    ran(at)
    assert [i.value for i in at.info if "最小一级" in i.value] == ["微网格是最小一级网格。"]
    assert [b.label for b in at.button][-1].endswith("（微网格）")


def test_an_unknown_unit_in_the_url_shows_the_district(app):
    at = app("situation")
    at.query_params["unit"] = "no-such-grid"
    ran(at)
    assert ranking(at).columns[0] == "街道"


def _grids():
    from gis import workflows
    with workflows.connect(maxconn=1) as services:
        return workflows.active_grids(services)


def _code_of(name: str, *, level: str) -> str:
    grids = _grids()
    codes = grids.loc[(grids["level"] == level) & (grids["name"] == name), "code"]
    assert len(codes) == 1, (name, level)
    return codes.iloc[0]


def _first_code(*, level: str) -> str:
    grids = _grids()
    return grids.loc[grids["level"] == level, "code"].sort_values().iloc[0]


# -- the case list ----------------------------------------------------------------------------------


def test_case_search_narrows_the_table(app):
    at = ran(app("cases"))
    everything = cases_shown(at)
    assert len(everything) > 100
    assert at.caption[0].value == f"共 {len(everything)} 条"
    wanted = everything.iloc[len(everything) // 2]
    ran(at.text_input(key="case_search").input(wanted["编号"]))
    found = cases_shown(at)
    assert list(found["编号"]) == [wanted["编号"]]
    # a word of an address finds the cases at that address (and perhaps a few more), not all
    word = wanted["地址"][:4]
    ran(at.text_input(key="case_search").input(word))
    found = cases_shown(at)
    assert wanted["编号"] in set(found["编号"])
    assert 0 < len(found) < len(everything)
    assert (found["地址"].str.contains(word, regex=False) | found["描述"].str.contains(word, regex=False)
            | found["编号"].str.contains(word, regex=False) | found["责任人"].str.contains(word, regex=False)).all()
    ran(at.text_input(key="case_search").input("没有这样的案件"))
    assert len(cases_shown(at)) == 0
    assert at.caption[0].value == "共 0 条"


def test_search_treats_percent_and_underscore_literally(app):
    # LIKE wildcards: unescaped, "%" or "_" alone would match every case (no demo text has them)
    at = app("cases")
    at.session_state["case_search"] = "%"
    ran(at)
    assert len(cases_shown(at)) == 0
    ran(at.text_input(key="case_search").input("_"))
    assert len(cases_shown(at)) == 0


def test_a_stale_unit_in_a_shared_link_lists_the_whole_district(app):
    at = app("cases")
    at.query_params["unit"] = "no-such-grid"
    ran(at)
    assert len(cases_shown(at)) > 100
    assert "unit" not in at.query_params


def test_open_only_hides_closed_cases(app):
    at = ran(app("cases"))
    ran(at.toggle(key="case_open_only").set_value(True))
    shown = cases_shown(at)
    assert len(shown) > 0
    assert not (shown["状态"] == "结案").any()
    assert (shown["结案时间"] == "").all()


def test_selecting_a_case_shows_its_detail_and_history(app):
    at = ran(app("cases"))
    first = cases_shown(at).iloc[0]
    # AppTest cannot click a table row; the selection is the table's widget state
    at.session_state["case_table"] = {"selection": {"rows": [0], "columns": []}}
    ran(at)
    assert f"案件 {first['编号']}" in [s.value for s in at.subheader]
    assert f"类别：{first['类别']}" in [t.value for t in at.text]
    history = at.dataframe[1].value
    assert len(history) >= 1
    assert history["至"].iloc[0] == "受理"


def test_cases_page_offers_csv_and_excel(app):
    at = ran(app("cases"))
    assert [b.proto.label for b in at.get("download_button")] == ["下载 CSV", "下载 Excel"]


# -- the weekly bulletin ------------------------------------------------------------------------------


def test_bulletin_shows_the_community_ranking_and_two_downloads(app):
    at = ran(app("bulletin"))
    # the test demo has ~1.4 cases per community a week: the default minimum (5 cases due)
    # leaves most communities unranked; a minimum of 1 ranks every community with a case due
    unranked_by_default = at.dataframe[0].value["排名"].isna().sum()
    ran(at.number_input(key="bulletin_min_due").set_value(1))
    assert at.dataframe[0].value["排名"].isna().sum() < unranked_by_default
    assert [m.label for m in at.metric] == ["受理", "办结", "办结率", "按期办结率", "超期(督办)"]
    assert "各社区办理情况排名" in [s.value for s in at.subheader]
    table = at.dataframe[0].value
    assert {"排名", "街道", "社区", "受理数"} <= set(table.columns)
    assert len(table) == 157
    assert 0 < table["受理数"].sum() <= count(at, "受理")  # the unassigned are in no community
    ranked = table["排名"].dropna()
    assert len(ranked) > 0 and ranked.is_monotonic_increasing
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == ["下载 Excel", "下载打印版 (HTML)"]
    week = at.selectbox(key="bulletin_week").value
    assert [b.proto.url.rsplit(".", 1)[1] for b in buttons] == ["xlsx", "html"]
    assert week == at.selectbox(key="bulletin_week").options[0]


def test_choosing_an_earlier_week_moves_the_bulletin(app):
    at = ran(app("bulletin"))
    since, until = at.caption[0].value.split(" 至 ")
    ran(at.selectbox(key="bulletin_week").select_index(1))
    earlier_since, earlier_until = at.caption[0].value.split(" 至 ")
    assert date.fromisoformat(earlier_since) == date.fromisoformat(since) - timedelta(days=7)
    assert date.fromisoformat(earlier_until) == date.fromisoformat(until) - timedelta(days=7)
    assert date.fromisoformat(since).isoweekday() == 1 and date.fromisoformat(until).isoweekday() == 7


def test_raising_the_minimum_due_ranks_fewer_communities(app):
    at = ran(app("bulletin"))
    ran(at.number_input(key="bulletin_min_due").set_value(1))
    ranked = at.dataframe[0].value["排名"].notna().sum()
    ran(at.number_input(key="bulletin_min_due").set_value(3))
    assert 0 < at.dataframe[0].value["排名"].notna().sum() < ranked
    assert at.caption[-1].value == "应办结数少于 3 件的社区不参与排名（排名为空）。"


# -- system status ------------------------------------------------------------------------------------


def test_status_page_names_the_external_database(app, demo_database_url):
    at = ran(app("status"))
    assert [m.label for m in at.metric] == ["PostgreSQL", "PostGIS", "数据库结构版本"]
    assert metric(at, "PostGIS") != "未安装"
    assert metric(at, "数据库结构版本") != "—"
    caption = at.caption[0].value
    assert caption.startswith("外部数据库 (DATABASE_URL)")
    assert caption.endswith(demo_database_url.rsplit("/", 1)[1])
    assert demo_database_url.split("@")[0].split(":")[-1] not in caption  # no password shown
