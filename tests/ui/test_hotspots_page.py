"""The situation page's 热点 layer and 高频点位 list (issue 13, item 5): the page draws the classes of
``hot_spots_job`` and lists the locations of ``repeats`` (the CLI's and the notebooks' functions)
for its period, level and scope, and nothing outside the user's scope.

Runs the page headless (``AppTest``) on the shared demo district; the map builder is wrapped to see
what the page hands it (the folium map itself is drawn in the browser: tests/browser/).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis import maps, workflows
from gis.core.china_time import CHINA_TZ
from gis.settings import PROJECT_ROOT
from gis.workflows import Services, analytics
from ui import auth

STREET = "410102009"  # 航海西路街道, the leader's scope
REPEAT_COLUMNS = ["地点", "类别", "次数", "首次", "最近", "微网格", "责任网格员"]


@pytest.fixture
def page(monkeypatch, demo_database_url, accounts):
    """``page(role, query)``: the situation page run for that role's account; returns
    ``(app, calls)`` with the keyword arguments of each ``maps.situation_map`` call."""
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    calls: list[dict] = []
    real = maps.situation_map

    def recording(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)
    monkeypatch.setattr(maps, "situation_map", recording)

    def run(role: str, **query: str):
        at = AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / "situation.py"), default_timeout=180)
        at.session_state[auth.SESSION_KEY] = accounts[role].principal
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, "\n".join(str(e.value) for e in at.exception)
        assert not at.error, [e.value for e in at.error]
        return at, calls

    yield run
    st.cache_data.clear()
    st.cache_resource.clear()


def _period(at: AppTest) -> tuple:
    return tuple(at.date_input(key="f_dates").value)


def _repeat_table(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if list(d.value.columns) == REPEAT_COLUMNS]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def test_the_layer_radio_offers_the_hot_spot_mode_in_chinese(page):
    at, calls = page("leader")
    (radio,) = [r for r in at.radio if r.label == "图层"]
    assert radio.options == ["分级设色", "热力", "热点"]
    # the default view computes no hot spots and lists no repeat locations
    assert calls[-1]["hot_spots"] is None and calls[-1]["repeats"] is None
    assert not [d for d in at.dataframe if list(d.value.columns) == REPEAT_COLUMNS]


def test_the_leaders_hot_spots_are_the_jobs_classes_of_the_streets_communities(page, demo_database_url, accounts):
    at, calls = page("leader", layers="hotspots")
    drawn = calls[-1]["hot_spots"]
    assert calls[-1]["mode"] == "hotspots" and drawn is not None and len(drawn)
    since, until = _period(at)
    with Services.for_url(demo_database_url, principal=accounts["leader"].principal, maxconn=1) as services:
        job = analytics.hot_spots_job(services, level="community", since=since, until=until, within=STREET,
                                      p_value="normal")
        tree = workflows.grid_tree(services)
    # the same units, counts, z, normal p and classes as the job (the CLI's hotspots --within); the
    # classes by the normal p need no permutations, so the page draws none and has no permutation p
    ours = drawn.sort_values("code").reset_index(drop=True)
    theirs = job.sort_values("code").reset_index(drop=True)
    assert list(ours["code"]) == list(theirs["code"])
    assert list(ours["count"]) == list(theirs["count"])
    assert list(ours["class"]) == list(theirs["class"]) and list(ours["class_zh"]) == list(theirs["class_zh"])
    pd.testing.assert_series_equal(ours["z"], theirs["z"], check_names=False)
    pd.testing.assert_series_equal(ours["p_norm"], theirs["p_norm"], check_names=False)
    assert ours["p"].isna().all() and theirs["p"].notna().any()
    # only the street's communities, each drawn on its own shape
    assert set(ours["code"]) == tree.units_under(STREET, "community")
    assert ours.geometry.notna().all()
    # the caption says how the statistic was computed, in Chinese
    assert any("Getis-Ord Gi*" in c.value and "错误发现率校正" in c.value for c in at.caption)


def test_the_repeat_list_is_the_jobs_locations_in_the_scope_with_chinese_columns_and_no_phone(
        page, demo_database_url, accounts):
    # a year: the 20,000-case demo has repeat locations in the street then (equality holds for any)
    until = datetime.now(CHINA_TZ).date()
    at, calls = page("leader", layers="hotspots", since=str(until - timedelta(days=364)), until=str(until))
    table = _repeat_table(at)
    since, until = _period(at)
    with Services.for_url(demo_database_url, principal=accounts["leader"].principal, maxconn=1) as services:
        job = analytics.repeats(services, since=since, until=until)
        micro = set(workflows.grid_tree(services).micro_under(STREET))
    inside = job[job["micro_code"].isin(micro)].reset_index(drop=True)
    assert len(table) == len(inside) == len(calls[-1]["repeats"]) > 0
    assert list(table["次数"]) == list(inside["count"])
    assert list(table["类别"]) == list(inside["category_zh"])
    assert list(table["责任网格员"].fillna("")) == list(inside["worker"].fillna(""))
    text = " ".join(table.astype(str).to_numpy().ravel())
    assert not re.search(r"1[3-9]\d{9}", text) and "*" not in text


def test_a_community_account_sees_the_hot_spots_of_its_own_grids_only(page, demo_database_url, accounts):
    at, calls = page("community", layers="hotspots")
    scope = accounts["community"].scope
    drawn = calls[-1]["hot_spots"]
    with Services.for_url(demo_database_url, principal=accounts["community"].principal, maxconn=1) as services:
        tree = workflows.grid_tree(services)
        since, until = _period(at)
        job = analytics.hot_spots_job(services, level="grid", since=since, until=until, within=scope,
                                      p_value="normal")
    assert drawn is not None and len(drawn) >= 3
    assert set(drawn["code"]) == tree.units_under(scope, "grid") == set(job["code"])
    assert all(code.startswith(scope) for code in drawn["code"])
    micro = set(tree.micro_under(scope))
    assert set(calls[-1]["repeats"]["micro_code"]) <= micro


def test_the_category_filter_reaches_the_hot_spots(page, demo_database_url, accounts):
    category = "env.exposed_garbage"
    at, calls = page("leader", layers="hotspots", category=category)
    since, until = _period(at)
    with Services.for_url(demo_database_url, principal=accounts["leader"].principal, maxconn=1) as services:
        every = analytics.hot_spots_job(services, level="community", since=since, until=until, within=STREET,
                                        p_value="normal")
        some = analytics.hot_spots_job(services, level="community", since=since, until=until, within=STREET,
                                       category=category, p_value="normal")
    drawn = calls[-1]["hot_spots"].set_index("code")["count"].sort_index()
    assert list(drawn) == list(some.set_index("code")["count"].sort_index())
    assert drawn.sum() < every["count"].sum()


def test_at_a_micro_grid_there_are_no_hot_spots_but_the_page_says_why(page, demo_database_url, accounts):
    with Services.for_url(demo_database_url, principal=accounts["leader"].principal, maxconn=1) as services:
        micro = workflows.grid_tree(services).micro_under(accounts["gridworker"].scope)[0]
    at, calls = page("leader", layers="hotspots", unit=micro)
    assert calls[-1]["hot_spots"] is None
    assert any("最小一级" in c.value for c in at.caption)
    assert set(calls[-1]["repeats"]["micro_code"]) <= {micro}
