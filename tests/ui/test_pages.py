"""The Streamlit pages (ui/pages) run headless with ``streamlit.testing.v1.AppTest``
against the demo district (``demo_database_url``: 中原区, 20 000 incidents, seed 7).

A page runs for a signed-in user: the ``accounts`` fixture (tests/ui/conftest.py)
signs one account per role in, and the page finds its principal in the session
state as app.py leaves it there. The page tests read the district as the
analyst (district scope, phones masked); the tests of signing in, scopes and
personal data run the whole app (app.py) and use the sign-in form.

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
from ui import auth

PAGES = ("situation", "cases", "bulletin", "status")
DISTRICT = "410102"
STREET, STREET_NAME = "410102009", "航海西路街道"


@pytest.fixture
def app(monkeypatch, demo_database_url, accounts):
    """``app('situation', role='analyst')``: an AppTest of one page, not yet run, on the demo
    services, signed in as that role's account.

    The pages reach the services through ``ui.cached`` (``workflows.connect()``
    reads ``DATABASE_URL``); Streamlit's caches live in this process, so they are
    emptied around each test to keep tests independent.
    """
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(page: str, role: str = "analyst") -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / f"{page}.py"), default_timeout=120)
        at.session_state[auth.SESSION_KEY] = accounts[role].principal
        return at

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


def crumbs(at: AppTest) -> list:
    """The breadcrumb's buttons (the card's links to exclusive grids and communities are not steps)."""
    return [b for b in at.button if (b.key or "").startswith("crumb-")]


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"one metric {label!r} expected, found {[m.label for m in at.metric]}"
    return values[0]


def count(at: AppTest, label: str) -> int:
    return int(metric(at, label))


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with ``column`` (the situation page opens with the 工作台's)."""
    tables = [d.value for d in at.dataframe if column in d.value.columns]
    assert tables, f"no table with {column!r}: {[list(d.value.columns) for d in at.dataframe]}"
    return tables[0]


def ranking(at: AppTest) -> pd.DataFrame:
    """The 下级排名 table of the situation page."""
    table = table_with(at, "办结率")
    assert list(table.columns)[1:3] == ["受理", "办结"], list(table.columns)
    return table


def cases_shown(at: AppTest) -> pd.DataFrame:
    """The case list; empty when the page says it found nothing (widgets.table draws no grid then)."""
    tables = [d.value for d in at.dataframe if "编号" in d.value.columns]
    if not tables:
        assert "暂无数据。" in [c.value for c in at.caption], [c.value for c in at.caption]
        return pd.DataFrame(columns=["编号"])
    return tables[0]


# -- every page -------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_against_the_demo_district(app, page):
    at = ran(app(page))
    titles = {"situation": "态势地图", "cases": "工单", "bulletin": "通报", "status": "系统状态"}
    assert [t.value for t in at.title] == [titles[page]]


def test_situation_page_shows_kpis_and_ranks_the_14_streets(app):
    at = ran(app("situation"))
    assert [m.label for m in at.metric] == ["受理", "办结", "办结率", "按期办结率", "满意率", "超期(督办)",
                                            "办理时长中位数"]
    assert count(at, "受理") > 0
    assert count(at, "办结") <= count(at, "受理")
    table = ranking(at)
    assert table.columns[0] == "街道"
    assert len(table) == 14
    assert table["受理"].is_monotonic_decreasing
    # the streets' counts add up to the district's (every demo case lies in a micro-grid or is unassigned)
    assert table["受理"].sum() <= count(at, "受理")
    # the breadcrumb is the district alone, and it is where we are
    assert [(b.label, b.disabled) for b in crumbs(at)] == [("中原区（区）", True)]
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
    assert [(b.label, b.disabled) for b in crumbs(at)] == [("中原区（区）", False), (f"{STREET_NAME}（街道）", True)]
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
    assert [(b.label, b.disabled) for b in crumbs(at)] == [("中原区（区）", True)]
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
    assert [b.label for b in crumbs(at)] == ["中原区（区）", f"{STREET_NAME}（街道）", f"{community_name}（社区）"]
    # the 网格力量 tab lists the community's 网格长 and its grids' 专职网格员
    staff = table_with(at, "岗位")
    assert set(staff["岗位"]) == {"网格长", "专职网格员"}
    assert staff["电话"].str.contains(r"\*").all()  # phones are masked


def test_a_micro_grid_shows_no_ranking(app):
    micro = _first_code(level="micro")
    at = app("situation")
    at.query_params["unit"] = micro
    ran(at)
    assert [i.value for i in at.info if "最小一级" in i.value] == ["微网格是最小一级网格。"]
    assert [b.label for b in crumbs(at)][-1].endswith("（微网格）")


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
    assert [b.proto.label for b in at.get("download_button")] == ["导出 CSV", "导出 Excel"]


# -- bulletins ------------------------------------------------------------------------------------------


def bulletin_table(at: AppTest) -> pd.DataFrame:
    """The community ranking: the dataframe with a 排名说明 column."""
    (table,) = [d.value for d in at.dataframe if "排名说明" in d.value.columns]
    return table


def test_bulletin_shows_the_community_ranking_the_lists_the_map_and_three_downloads(app):
    at = ran(app("bulletin"))
    # the test demo has ~1.4 cases per community a week: the default minimum (5 cases due)
    # leaves most communities unranked; a minimum of 1 ranks every community with a case due
    unranked_by_default = bulletin_table(at)["排名"].isna().sum()
    ran(at.number_input(key="bulletin_min_due").set_value(1))
    assert bulletin_table(at)["排名"].isna().sum() < unranked_by_default
    assert [m.label for m in at.metric] == ["受理", "办结", "办结率", "按期办结率", "满意率", "超期(督办)"]
    assert "各社区办理情况排名" in [s.value for s in at.subheader]
    assert at.subheader[0].value == "中原区网格化治理工作周通报"
    table = bulletin_table(at)
    assert {"排名", "排名说明", "街道", "社区", "受理数", "办结率较上周(百分点)"} <= set(table.columns)
    assert len(table) == 157
    assert 0 < table["受理数"].sum() <= count(at, "受理")  # the unassigned are in no community
    ranked = table["排名"].dropna()
    assert len(ranked) > 0 and ranked.is_monotonic_increasing
    assert (table.loc[table["排名"].isna(), "排名说明"] == "应办结不足 1 件，不参与排名").all()
    assert "-0.0" not in table.to_string()
    assert len(at.get("image")) == 1                   # the map figure
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == ["导出 Excel", "导出 HTML", "导出 PDF"]
    week = at.selectbox(key="bulletin_week")
    assert week.index == 0 and week.options[0].endswith("周")     # the last complete week, named in Chinese


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
    ranked = bulletin_table(at)["排名"].notna().sum()
    ran(at.number_input(key="bulletin_min_due").set_value(3))
    assert 0 < bulletin_table(at)["排名"].notna().sum() < ranked
    assert "应办结不足 3 件，不参与排名" in set(bulletin_table(at)["排名说明"])


def test_a_street_leader_issues_the_streets_own_monthly_12345_bulletin(app):
    at = ran(app("bulletin", role="leader"))
    scope = at.selectbox(key="bulletin_scope_own")
    assert scope.options == [STREET_NAME] and scope.disabled     # only their own street
    assert at.subheader[0].value == f"{STREET_NAME}网格化治理工作周通报"
    ran(at.selectbox(key="bulletin_kind").set_value("month"))
    month = at.selectbox(key="bulletin_month")
    assert month.index == 0 and month.options[0] == f"{month.value[:4]}年{int(month.value[5:])}月"
    all_channels = count(at, "受理")
    ran(at.selectbox(key="bulletin_source").set_value("hotline12345"))
    assert at.subheader[0].value == f"{STREET_NAME}网格化治理工作12345热线月汇总"
    assert 0 < count(at, "受理") < all_channels
    since, until = at.caption[0].value.split(" 至 ")
    assert date.fromisoformat(since).day == 1 and (date.fromisoformat(until) + timedelta(days=1)).day == 1
    assert f"发文单位：**{STREET_NAME}办事处**" in at.markdown[0].value and "印发日期" in at.markdown[0].value
    table = bulletin_table(at)
    assert "街道" not in table.columns and 0 < len(table) < 157   # the street's communities only
    assert "办结率较上月(百分点)" in table.columns
    assert [b.proto.label for b in at.get("download_button")] == ["导出 Excel", "导出 HTML", "导出 PDF"]
    ran(at.selectbox(key="bulletin_kind").set_value("year"))
    assert at.subheader[0].value == f"{STREET_NAME}网格化治理工作12345热线年度考核"
    assert "上年排名" in bulletin_table(at).columns


def test_a_district_user_may_choose_a_street(app):
    at = ran(app("bulletin"))
    box = at.selectbox(key="bulletin_scope")
    assert box.options[0] == "全区" and STREET_NAME in box.options and len(box.options) == 15
    district_received = count(at, "受理")
    ran(box.set_value(STREET))
    assert at.subheader[0].value == f"{STREET_NAME}网格化治理工作周通报"
    assert count(at, "受理") < district_received


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


# -- signing in ---------------------------------------------------------------------------------------

APP_PAGES = ("ui/pages/situation.py", "ui/pages/cases.py", "ui/pages/bulletin.py", "ui/pages/status.py",
             "ui/pages/audit.py")


@pytest.fixture
def whole_app(app, accounts):
    """``whole_app(role=None)``: an AppTest of app.py (sign-in, navigation, the page guard), not yet
    run; signed in as ``role``'s account (as the form leaves it), or not signed in at all."""
    def make(role: str | None = None) -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
        if role is not None:
            at.session_state[auth.SESSION_KEY] = accounts[role].principal
        return at
    return make


def sign_in_with_form(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button(key="FormSubmitter:sign_in-登录").click().run()


def shows_no_data(at: AppTest) -> bool:
    return not at.dataframe and not at.metric and not at.get("download_button") and not at.get("iframe")


def test_no_page_shows_data_before_sign_in(whole_app):
    at = ran(whole_app())
    assert [t.label for t in at.text_input] == ["账号", "密码"]
    assert at.text_input(key="sign_in_password").proto.type == at.text_input(key="sign_in_password").proto.PASSWORD
    assert [b.label for b in at.button] == ["登录"]
    assert shows_no_data(at)
    for page in APP_PAGES:  # /cases, /bulletin … typed in the address bar
        ran(at.switch_page(page))
        assert [t.value for t in at.title] == ["网格通"], page
        assert [t.label for t in at.text_input] == ["账号", "密码"], page
        assert shows_no_data(at), page
        assert auth.SESSION_KEY not in at.session_state


def test_a_wrong_password_is_refused_in_chinese(whole_app, accounts):
    at = ran(whole_app())
    at = sign_in_with_form(at, accounts["analyst"].name, "not-the-password")
    assert [e.value for e in at.error] == ["账号或密码错误"]
    assert auth.SESSION_KEY not in at.session_state
    (form,) = at.get("form")
    assert form.proto.form.clear_on_submit  # the browser forgets what was typed
    assert shows_no_data(at)
    # an unknown account gets the same answer (nobody learns which accounts exist)
    at = sign_in_with_form(at, "no_such_account", "not-the-password")
    assert [e.value for e in at.error] == ["账号或密码错误"]


def test_repeated_failures_lock_the_account(whole_app, locked_account):
    at = ran(whole_app())
    for _ in range(5):
        at = sign_in_with_form(at, locked_account.name, "not-the-password")
    (message,) = [e.value for e in at.error]
    assert "锁定" in message and "5" in message
    # locked: even the right password is refused now
    at = sign_in_with_form(at, locked_account.name, locked_account.password)
    assert "锁定" in at.error[0].value
    assert auth.SESSION_KEY not in at.session_state


def test_signing_in_opens_the_requested_page_and_signing_out_forgets_the_session(whole_app, accounts):
    at = ran(whole_app())
    ran(at.switch_page("ui/pages/cases.py"))  # /cases before signing in: the form
    assert shows_no_data(at)
    at = sign_in_with_form(at, accounts["community"].name, accounts["community"].password)
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["工单"]
    assert at.session_state[auth.SESSION_KEY] == accounts["community"].principal
    assert f"**{accounts['community'].principal.display_name}** · 社区" in [m.value for m in at.sidebar.markdown]
    assert len(cases_shown(at)) > 0
    ran(at.button(key="sign_out").click())
    assert auth.SESSION_KEY not in at.session_state
    assert [t.label for t in at.text_input] == ["账号", "密码"]
    assert shows_no_data(at)


# -- roles and scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role, menu", [
    ("leader", ["态势地图", "工单", "工单处置", "通报", "审计日志", "系统状态"]),
    ("community", ["态势地图", "工单", "工单处置", "通报", "系统状态"]),
    ("gridworker", ["态势地图", "工单", "工单处置", "通报", "系统状态"]),
    ("dispatcher", ["态势地图", "工单", "工单处置", "待分派", "通报", "系统状态"]),
    ("planner", ["态势地图", "工单", "通报", "网格规划", "系统状态"]),
    ("analyst", ["态势地图", "工单", "通报", "系统状态"]),
    ("admin", ["审计日志", "系统状态"]),
])
def test_each_role_sees_and_opens_only_its_pages(whole_app, accounts, role, menu):
    user = accounts[role].principal
    assert [p.title for p in auth.menu(user)] == menu
    at = ran(whole_app(role))
    assert [t.value for t in at.title] == [menu[0]]  # the role's home page
    for spec in auth.PAGES:
        ran(at.switch_page(spec.file))
        if spec.title in menu:
            assert [t.value for t in at.title] == [spec.title], spec.file
        else:  # hidden from the menu, and refused when typed in the address bar
            assert [w.value for w in at.warning] == ["您的账号无权查看此页面。"], spec.file
            assert shows_no_data(at), spec.file


def test_a_community_user_lists_only_its_own_communitys_cases(app, accounts):
    community = accounts["community"].scope
    grids = _grids()
    from gis.core.hierarchy import GridTree
    own_micro = set(GridTree(grids).micro_under(community))
    at = ran(app("cases", role="community"))
    shown = cases_shown(at)
    assert len(shown) > 0
    assert set(shown["微网格编码"]) <= own_micro
    everything = cases_shown(ran(app("cases")))
    assert len(shown) < len(everything)
    # the map opens on the community, not the district, and goes no higher
    situation = ran(app("situation", role="community"))
    assert ranking(situation).columns[0] == "三级网格"
    assert [b.disabled for b in situation.button] == [True, True, True]  # district, street: not links; here


def test_caches_keep_each_scope_apart(app):
    # one process, caches kept between the sessions: the same filter must not serve one scope's
    # frame to another (the cases page asks the cache with identical arguments for everyone)
    def received(role: str) -> tuple[int, int]:
        cases = ran(app("cases", role=role))
        bulletin = ran(app("bulletin", role=role))
        return len(cases_shown(cases)), count(bulletin, "受理")

    community, street, district = received("community"), received("leader"), received("analyst")
    assert community[0] < street[0] < district[0]
    assert community[1] <= street[1] < district[1]
    assert received("community") == community and received("analyst") == district


# -- personal data --------------------------------------------------------------------------------------


def _select_a_case_with_a_phone(at: AppTest) -> pd.Series:
    from gis.core.metrics import SOURCES_ZH
    table = cases_shown(at)
    with_phone = table.index[table["来源"].isin([SOURCES_ZH["12345"], SOURCES_ZH["resident_app"]])]
    row = int(with_phone[0])
    at.session_state["case_table"] = {"selection": {"rows": [row], "columns": []}}
    ran(at)
    return table.iloc[row]


def _phone_shown(at: AppTest) -> str:
    (line,) = [t.value for t in at.text if t.value.startswith("报告人电话：")]
    return line.removeprefix("报告人电话：")


def test_the_analyst_sees_masked_phones_and_cannot_reveal_them(app):
    at = ran(app("cases", role="analyst"))
    _select_a_case_with_a_phone(at)
    phone = _phone_shown(at)
    assert "****" in phone and len(phone) == 11
    assert "显示完整号码" not in [b.label for b in at.button]


def test_the_community_sees_its_residents_phones(app):
    at = ran(app("cases", role="community"))
    _select_a_case_with_a_phone(at)
    phone = _phone_shown(at)
    assert phone.isdigit() and len(phone) == 11
    assert "显示完整号码" not in [b.label for b in at.button]


def test_a_leaders_reveal_shows_the_number_and_is_audited(app, accounts, demo_database_url):
    from gis import workflows
    from gis.core.access import SYSTEM
    from gis.core.metrics import SOURCES_ZH
    from gis.workflows import Services

    at = ran(app("cases", role="leader"))
    case = _select_a_case_with_a_phone(at)
    masked = _phone_shown(at)
    assert "****" in masked
    ran(at.button(key=next(b.key for b in at.button if b.label == "显示完整号码")).click())
    phone = _phone_shown(at)
    assert phone.isdigit() and len(phone) == 11 and phone[:3] == masked[:3] and phone[-4:] == masked[-4:]
    assert "显示完整号码" not in [b.label for b in at.button]
    source = {zh: code for code, zh in SOURCES_ZH.items()}[case["来源"]]
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as system:
        trail = workflows.audit_trail(system, actor=accounts["leader"].name, actions=["reveal"])
    assert f"incident:{source}/{case['编号']}" in set(trail["object"])
    # another case shows masked again: the reveal was for that case only
    table = cases_shown(at)
    other = int(table.index[(table["编号"] != case["编号"]) & table["来源"].isin(
        [SOURCES_ZH["12345"], SOURCES_ZH["resident_app"]])][0])
    at.session_state["case_table"] = {"selection": {"rows": [other], "columns": []}}
    assert "****" in _phone_shown(ran(at))


def test_downloads_are_only_for_roles_that_may_export(app):
    for role in ("planner", "gridworker"):
        assert not ran(app("cases", role=role)).get("download_button"), role
        assert not ran(app("bulletin", role=role)).get("download_button"), role
    assert [b.proto.label for b in ran(app("cases", role="community")).get("download_button")] == [
        "导出 CSV", "导出 Excel"]


# -- the audit trail ---------------------------------------------------------------------------------------


def test_the_audit_page_shows_sign_ins_in_chinese(whole_app, accounts):
    at = ran(whole_app("leader"))
    ran(at.switch_page("ui/pages/audit.py"))
    assert [t.value for t in at.title] == ["审计日志"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["时间", "账号", "角色", "操作", "对象", "变更前", "变更后"]
    assert "登录" in set(table["操作"])  # every account of the fixture signed in
    signed_in = table[(table["操作"] == "登录") & (table["账号"] == accounts["community"].name)]
    assert len(signed_in) >= 1
    assert set(signed_in["角色"]) == {"社区"}
    assert signed_in["变更后"].iloc[0] == "结果：成功"
    assert not table["操作"].str.contains(r"[a-z]").any()  # every action named in Chinese
    # the filters: one account, one action
    ran(at.text_input(key="audit_actor").input(accounts["community"].name))
    ran(at.multiselect(key="audit_actions").set_value(["sign_in"]))
    filtered = at.dataframe[0].value
    assert len(filtered) >= 1
    assert set(filtered["账号"]) == {accounts["community"].name} and set(filtered["操作"]) == {"登录"}


def test_the_audit_page_is_hidden_from_a_community_user(whole_app):
    at = ran(whole_app("community"))
    ran(at.switch_page("ui/pages/audit.py"))
    assert [w.value for w in at.warning] == ["您的账号无权查看此页面。"]
    assert not at.dataframe and [t.value for t in at.title] == []


# -- the database going away ---------------------------------------------------------------------------------


def test_a_database_restart_is_waited_out_without_a_reload(whole_app, monkeypatch):
    from gis import workflows
    from gis.errors import DatabaseUnavailable
    from ui import widgets

    monkeypatch.setattr(widgets, "RECONNECT_WAIT_S", 0.05)
    real, calls = workflows.cases, []

    def restarting(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:  # the server is away for two attempts
            raise DatabaseUnavailable("cannot reach PostgreSQL at 127.0.0.1:5432 (connection refused)")
        return real(*args, **kwargs)
    monkeypatch.setattr(workflows, "cases", restarting)
    at = whole_app("analyst")
    ran(at.switch_page("ui/pages/cases.py"))
    assert len(calls) == 3
    assert len(cases_shown(at)) > 0  # the page came back by itself
    assert not [i.value for i in at.info if i.value == "数据库重连中…"]
    assert at.session_state[widgets._FAILED_LAST] is False


def test_a_long_outage_says_so_and_offers_to_reconnect(whole_app, monkeypatch):
    from gis import workflows
    from gis.errors import DatabaseBusy, DatabaseUnavailable
    from ui import widgets

    monkeypatch.setattr(widgets, "RECONNECT_WAIT_S", 0.01)
    monkeypatch.setattr(widgets, "RECONNECT_FOR_S", 0.2)

    def away(*args, **kwargs):
        raise DatabaseUnavailable("cannot reach PostgreSQL")
    monkeypatch.setattr(workflows, "cases", away)
    at = whole_app("analyst")
    at.switch_page("ui/pages/cases.py").run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["暂时无法连接数据库，请稍后重试。"]
    assert "重新连接" in [b.label for b in at.button]

    def busy(*args, **kwargs):
        raise DatabaseBusy("数据库繁忙，请稍后重试")
    monkeypatch.setattr(workflows, "cases", busy)
    at = whole_app("analyst")
    at.switch_page("ui/pages/cases.py").run()
    assert [w.value for w in at.warning] == ["数据库繁忙，请稍后重试。"]


def test_signing_in_on_a_page_the_role_may_not_open_goes_home(whole_app, accounts):
    # e.g. the analyst signed out on 工单 and the administrator signs in at the same screen
    at = ran(whole_app())
    ran(at.switch_page("ui/pages/cases.py"))
    at = sign_in_with_form(at, accounts["admin"].name, accounts["admin"].password)
    assert not at.exception and not at.warning
    assert [t.value for t in at.title] == ["审计日志"]


# -- single sign-on (Streamlit's OIDC) ------------------------------------------------------------------

SSO_SECRETS = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                        "client_id": "wanggetong", "client_secret": "secret",
                        "server_metadata_url": "https://sso.example.invalid/.well-known/openid-configuration"}}


def test_without_auth_secrets_there_is_no_single_sign_on_button(whole_app):
    at = ran(whole_app())
    assert "使用统一身份认证登录" not in [b.label for b in at.button]


def test_single_sign_on_maps_the_verified_identity_to_its_local_account(whole_app, accounts):
    at = whole_app()
    at.secrets.update(SSO_SECRETS)
    at.user = {"is_logged_in": False}
    ran(at)
    assert "使用统一身份认证登录" in [b.label for b in at.button]
    # back from the identity provider: the local account of that name, with its role and scope
    at.user = {"is_logged_in": True, "preferred_username": accounts["community"].name,
               "email": "someone@example.invalid"}
    ran(at.switch_page("ui/pages/cases.py"))
    assert at.session_state[auth.SESSION_KEY] == accounts["community"].principal
    assert at.session_state["sso"] is True
    assert [t.value for t in at.title] == ["工单"]


def test_single_sign_on_refuses_an_identity_without_a_local_account(whole_app):
    at = whole_app()
    at.secrets.update(SSO_SECRETS)
    at.user = {"is_logged_in": True, "email": "stranger@example.invalid"}
    at.run()
    assert [e.value for e in at.error] == ["账号 stranger@example.invalid 未开通或已停用"]
    assert auth.SESSION_KEY not in at.session_state and shows_no_data(at)
    assert "退出统一身份认证" in [b.label for b in at.button]


def test_a_session_whose_account_changed_since_sign_in_must_sign_in_again(whole_app, accounts):
    # the session still holds the role and scope it signed in with; the database now says otherwise
    # (an administrator moved the account): its cache key would be wrong, so it is signed out
    from dataclasses import replace
    at = whole_app()
    at.session_state[auth.SESSION_KEY] = replace(accounts["analyst"].principal, scope=STREET)
    ran(at)
    assert auth.SESSION_KEY not in at.session_state
    assert [w.value for w in at.warning] == ["账号权限已变更，请重新登录。"]
    assert [t.label for t in at.text_input] == ["账号", "密码"] and shows_no_data(at)



def test_an_exclusive_grid_is_a_unit_with_its_co_building_communities(app):
    # 世纪联华 lies across 桐福 and 城开 (the seed); its community lists it, and it lists them back
    at = app("situation")
    at.query_params["unit"] = _code_of("世纪联华", level="exclusive")
    # the whole demo: the mall has a few dozen cases over two years, not always one in the last 30 days
    at.query_params["since"], at.query_params["until"] = str(date.today() - timedelta(days=800)), str(date.today())
    ran(at)
    assert "世纪联华" in [s.value for s in at.subheader]
    partners = [b.label for b in at.button if (b.key or "").startswith("link-")]
    assert len(partners) == 2 and all(p.split("（")[0] in {"桐福社区", "城开社区"} for p in partners)
    assert 0 < count(at, "受理") < 500
    community = next(b for b in at.button if (b.key or "").startswith("link-"))
    ran(community.click())
    assert "世纪联华" in [b.label for b in at.button if (b.key or "").startswith("link-")]
