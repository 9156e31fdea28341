"""The 工作台 component (ui/worklist.py) runs headless (AppTest) inside the app's own navigation,
on a small database of its own: the four buttons carry the job's counts, the table is in urgency
order with the phone masked for a leader (revealed for one case on request, audited), a bucket
narrows the table, and one click on a row opens the case in 工单处置 with that case selected,
for a street leader and for a grid worker, carrying the filter along; a role without 工单处置
goes to 工单 with the case named in the query string.
"""

from __future__ import annotations

import psycopg2
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis import workflows
from gis.core.worklist import BUCKETS_ZH
from tests.conftest import X0, Y0, D
from ui import auth

PASSWORD = "correct horse battery"
PHONE = "13812345678"
USERS = {
    "leader": dict(role="leader", scope="S1", display_name="王领导"),
    "worker": dict(role="gridworker", scope="G1", display_name="黄子明"),
    "analyst": dict(role="analyst", scope="410102", display_name="分析员"),
}


def board_app():
    """The harness: the 工作台 as the app's home page, beside the app's real pages (st.navigation),
    so st.switch_page lands on ui/pages/work.py or ui/pages/cases.py as in the app."""
    import streamlit as st

    from gis.settings import PROJECT_ROOT
    from ui import auth, state, worklist

    def board():
        user = auth.require_user()
        worklist.render(user, state.filter_from_url())

    pages = [st.Page(board, title="工作台", url_path="board", default=True)]
    pages += [st.Page(str(PROJECT_ROOT / spec.file), title=spec.title, url_path=spec.url_path)
              for spec in auth.PAGES]
    st.navigation(pages, position="hidden").run()


@pytest.fixture
def office(services, layer_file, database_url, monkeypatch):
    """The tiny district with three cases in 甲1-1 (C1) relative to now — SUPERVISED (due 20 days
    ago), OVERDUE (due 10 days ago), NEW (reported now, due in 30 days) — plus one long closed;
    accounts of the leader of 一街道, the grid worker of G1 and a district analyst."""
    workflows.import_grids(services, layer_file)
    cases = {"SUPERVISED": ("supervised", "30 days", "-20 days"), "OVERDUE": ("dispatched", "15 days", "-10 days"),
             "NEW": ("received", "0 days", "30 days"), "CLOSED": ("closed", "60 days", "-50 days")}
    for external_id in cases:
        workflows.receive_incident(services, {
            "source": "12345", "external_id": external_id, "category": "暴露垃圾", "lon": X0 + 0.5 * D,
            "lat": Y0 + 0.5 * D, "reported_at": "2025-12-01T10:00:00", "status": "received",
            "description": "测试", "address": "甲路1号", "reporter_phone": PHONE})
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        for external_id, (status, age, due_in) in cases.items():
            cur.execute("UPDATE incident SET status = %s, reported_at = now() - %s::interval,"
                        " due_at = now() + %s::interval, assignee = %s WHERE external_id = %s",
                        (status, age, due_in, f"负责人{external_id}", external_id))
    principals = {}
    for name, spec in USERS.items():
        workflows.add_user(services, name, password=PASSWORD, **spec)
        principals[name] = workflows.sign_in(services, name, PASSWORD)
    monkeypatch.setenv("DATABASE_URL", database_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield services, principals
    st.cache_data.clear()
    st.cache_resource.clear()


def board(office, who: str, **params) -> AppTest:
    at = AppTest.from_function(board_app, default_timeout=60)
    at.session_state[auth.SESSION_KEY] = office[1][who]
    for key, value in params.items():
        at.query_params[key] = value
    return ran(at)


def ran(at: AppTest) -> AppTest:
    at = at.run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    assert not at.error, [e.value for e in at.error]
    return at


def click_row(at: AppTest, row: int) -> AppTest:
    """One click on a row of the work list (AppTest has no pointer: the selection is set as the
    browser sets it, in the table's widget state)."""
    at.session_state["worklist_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return ran(at)


def listed(at: AppTest) -> list[str]:
    return at.dataframe[0].value["编号"].tolist()


def test_a_leader_sees_the_counts_the_urgency_order_and_masked_phones(office):
    services, principals = office
    expected = workflows.work_list(services.as_user(principals["leader"]))
    assert expected.counts == {"new_today": 1, "due_soon": 0, "overdue": 2, "supervised": 1}
    at = board(office, "leader")
    buttons = at.button_group(key="worklist_bucket")
    assert list(buttons.options) == [f"{zh} {expected.counts[b]}" for b, zh in BUCKETS_ZH.items()]
    assert list(buttons.options) == ["今日新增 1", "即将超期 0", "已超期 2", "督办中 1"]
    assert listed(at) == ["SUPERVISED", "OVERDUE", "NEW"]
    table = at.dataframe[0].value
    assert table["状态"].tolist() == ["督办", "派遣", "受理"]
    assert table["微网格"].tolist() == ["甲1-1"] * 3
    assert table["责任人"].tolist() == ["负责人SUPERVISED", "负责人OVERDUE", "负责人NEW"]
    assert table["报告人电话"].tolist() == ["138****5678"] * 3
    assert table["时效"].iloc[0].startswith("超期 ") and table["时效"].iloc[0].endswith("个工作日")
    assert "工单处置" in at.caption[0].value


def test_a_bucket_narrows_the_table(office):
    at = board(office, "leader")
    at = ran(at.button_group(key="worklist_bucket").set_value("overdue"))
    assert listed(at) == ["SUPERVISED", "OVERDUE"]
    at = ran(at.button_group(key="worklist_bucket").set_value("new_today"))
    assert listed(at) == ["NEW"]
    at = ran(at.button_group(key="worklist_bucket").set_value("due_soon"))
    assert not at.dataframe and [i.value for i in at.info] == ["暂无需要处理的工单。"]


def test_a_leader_reveals_one_phone_and_the_reveal_is_audited(office):
    services, principals = office
    at = board(office, "leader")
    at.selectbox(key="worklist_reveal_case").set_value("12345/OVERDUE")
    at = ran(at.button(key="worklist_reveal").click())
    assert "OVERDUE 报告人电话：13812345678" in [t.value for t in at.text]
    assert at.dataframe[0].value["报告人电话"].tolist() == ["138****5678"] * 3  # the table stays masked
    audit = workflows.audit_trail(services.as_user(principals["leader"]), actions=["reveal"])
    assert audit["object"].tolist() == ["incident:12345/OVERDUE"]


@pytest.mark.parametrize("who", ["leader", "worker"])
def test_one_click_opens_the_case_in_the_work_page_with_the_filter(office, who):
    at = board(office, who, unit="C1")
    if who == "worker":  # a grid worker handles cases: phones in clear, no reveal
        assert at.dataframe[0].value["报告人电话"].tolist() == [PHONE] * 3
        assert not [b for b in at.button if b.key == "worklist_reveal"]
    at = click_row(at, 1)
    assert [t.value for t in at.title] == ["工单处置"]
    assert at.selectbox(key="work_case").value == "12345/OVERDUE"
    assert [s.value for s in at.subheader] == ["工单 OVERDUE"]
    assert at.query_params["case"] == "12345/OVERDUE" and at.query_params["unit"] == "C1"


def test_a_role_without_the_work_page_opens_the_case_in_the_case_list(office):
    at = click_row(board(office, "analyst"), 0)
    assert [t.value for t in at.title] == ["工单"]
    assert at.query_params["case"] == "12345/SUPERVISED"
