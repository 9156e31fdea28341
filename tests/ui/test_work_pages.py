"""工单处置 and 待分派 run headless (AppTest) on a small database of their own: every action from
the app writes its event and shows in the history; 核查 is not offered to the handler; refused
moves show their reason; the queue assigns a case and dispatches it."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg2
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis import workflows
from gis.core import china_time
from gis.settings import PROJECT_ROOT
from tests.conftest import X0, Y0, D
from ui import auth

PASSWORD = "correct horse battery"
WORKER = "黄子明"
USERS = {
    "worker": dict(role="gridworker", scope="G1", display_name=WORKER),
    "c1": dict(role="community", scope="C1", display_name="甲社区"),
    "c1_huang": dict(role="community", scope="C1", display_name=WORKER),
    "leader": dict(role="leader", scope="S1", display_name="王领导"),
    "dispatcher": dict(role="dispatcher", scope="410102", display_name="调度员"),
}


def case(external_id, *, lon=X0 + 0.5 * D, lat=Y0 + 0.5 * D):
    return {"source": "12345", "external_id": external_id, "category": "暴露垃圾", "lon": lon, "lat": lat,
            "reported_at": "2026-11-20T10:00:00", "status": "received", "description": "垃圾堆放",
            "address": "甲路1号", "reporter_phone": "13812345678"}


@pytest.fixture
def office(services, layer_file, monkeypatch, database_url):
    """The tiny district with cases C1-1…C1-4 (received, assigned to nobody yet) and OUT-1 outside
    every grid; accounts of each kind; the app's pages pointed at it."""
    workflows.import_grids(services, layer_file)
    for i in range(1, 5):
        workflows.receive_incident(services, case(f"C1-{i}"))
    workflows.receive_incident(services, case("OUT-1", lon=X0 - 0.002))
    principals = {}
    for name, spec in USERS.items():
        workflows.add_user(services, name, password=PASSWORD, **spec)
        principals[name] = workflows.sign_in(services, name, PASSWORD)
    for i in range(1, 5):  # the dispatcher sends them to the grid worker
        workflows.dispatch_incident(services.as_user(principals["dispatcher"]), source="12345",
                                    external_id=f"C1-{i}", assignee=WORKER)
    monkeypatch.setenv("DATABASE_URL", database_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield services, principals
    st.cache_data.clear()
    st.cache_resource.clear()


def page(office, name: str, who: str, external_id: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / f"{name}.py"), default_timeout=60)
    at.session_state[auth.SESSION_KEY] = office[1][who]
    if external_id:
        at.query_params["case"] = f"12345/{external_id}"
    return ran(at)


def ran(at: AppTest) -> AppTest:
    at = at.run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    return at


def offered(at: AppTest) -> list[str]:
    radios = [r for r in at.radio if r.key == "work_action"]
    return list(radios[0].options) if radios else []


def act(at: AppTest, label: str, *, note: str = "", assignee: str | None = None, visit: str | None = None
        ) -> AppTest:
    """Pick the action ``label``, fill the form and submit; returns the page after the rerun."""
    at = ran(at.radio(key="work_action").set_value(label))
    action = {v: k for k, v in workflows.ACTIONS_ZH.items()}[label]
    if assignee is not None:
        at.text_input(key=f"work_assignee_{action}").input(assignee)
    if visit is not None:
        at.radio(key=f"work_visit_{action}").set_value(visit)
    if note:
        at.text_area(key=f"work_note_{action}").input(note)
    return ran(at.button(key="work_submit").click())


def table(at: AppTest, column: str):
    """The first dataframe on the page with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def history(at: AppTest):
    return table(at, "操作")


def status_of(office, external_id):
    services, principals = office
    return workflows.case_detail(services.as_user(principals["dispatcher"]), source="12345",
                                 external_id=external_id).incident["status"]


def test_a_grid_worker_sees_their_cases_and_takes_one_to_feedback(office):
    at = page(office, "work", "worker", "C1-1")
    assert [t.value for t in at.title] == ["工单处置"]
    assert len(at.selectbox(key="work_case").options) == 4
    assert offered(at) == ["受理", "处置反馈", "退回", "申请延期"]  # no 核查, 结案 or 督办
    at = act(at, "受理")
    assert [s.value for s in at.success] == ["已受理：C1-1"]
    at = act(at, "处置反馈", note="已清运，现场恢复")
    assert [s.value for s in at.success] == ["已处置反馈：C1-1"]
    steps = history(at)
    assert steps["操作"].tolist()[-3:] == ["派遣", "受理", "处置反馈"]
    assert steps["至"].tolist()[-1] == "反馈" and steps["操作人"].tolist()[-1] == WORKER
    assert status_of(office, "C1-1") == "resolved"


def test_a_second_user_verifies_and_closes_with_a_visit(office):
    services, principals = office
    workflows.feedback_incident(services.as_user(principals["worker"]), source="12345", external_id="C1-1",
                                note="已处理")
    at = page(office, "work", "c1", "C1-1")
    assert "核查" in offered(at) and "返工" in offered(at)
    at = act(at, "核查", note="现场已恢复")
    at = act(at, "结案", visit="满意", note="居民满意")
    assert [s.value for s in at.success] == ["已结案：C1-1"]
    steps = history(at)
    assert steps["操作"].tolist()[-3:] == ["核查", "结案", "回访"]
    visits = table(at, "渠道")
    assert visits["结果"].tolist() == ["满意"] and visits["渠道"].tolist() == ["内部回访"]


def test_verification_is_not_offered_to_the_handler(office):
    services, principals = office
    # the handler also holds a community account of the same name
    workflows.feedback_incident(services.as_user(principals["c1_huang"]), source="12345", external_id="C1-2",
                                note="已处理")
    at = page(office, "work", "c1_huang", "C1-2")
    assert "核查" not in offered(at)
    assert any("不能核查自己处置的工单" in i.value for i in at.info)
    at = page(office, "work", "c1", "C1-2")
    assert "核查" in offered(at)


def test_return_redispatch_extension_rework_and_supervision_from_the_app(office):
    at = page(office, "work", "worker", "C1-3")
    at = act(at, "退回")  # no reason: refused with it
    assert [e.value for e in at.error] == ["操作未完成：退回需要填写原因（在说明中写明原因，例如：不属于本网格，请改派）"]
    at = act(at, "退回", note="不属于本网格")
    assert status_of(office, "C1-3") == "returned"

    at = page(office, "work", "dispatcher", "C1-3")
    at = act(at, "派遣", assignee=WORKER, note="改派")
    at = act(at, "转派", assignee="李四")
    assert [s.value for s in at.success] == ["已转派：C1-3"]
    assert "转派给李四" in history(at)["说明"].tolist()[-1]

    at = page(office, "work", "worker", "C1-4")
    at = act(at, "申请延期", note="等待配件")
    assert any("延期申请待审批" in w.value for w in at.warning)
    assert "批准延期" not in offered(at)  # not to the requester
    at = page(office, "work", "c1", "C1-4")
    at = act(at, "批准延期")
    assert status_of(office, "C1-4") == "extended"

    at = page(office, "work", "leader", "C1-4")
    assert offered(at) == ["督办"]
    at = act(at, "督办", note="尽快办理")
    assert status_of(office, "C1-4") == "supervised"
    steps = history(at)
    assert steps["操作"].tolist()[-3:] == ["申请延期", "批准延期", "督办"]

    services, principals = office
    workflows.feedback_incident(services.as_user(principals["worker"]), source="12345", external_id="C1-4",
                                note="已处理")
    at = page(office, "work", "c1", "C1-4")
    at = act(at, "返工", note="未清理干净")
    assert status_of(office, "C1-4") == "reworked"
    assert history(at)["操作"].tolist()[-1] == "返工"


def test_the_queue_assigns_and_dispatches_a_case(office):
    at = page(office, "queue", "dispatcher")
    assert [t.value for t in at.title] == ["待分派"]
    queue = table(at, "最近微网格")
    assert queue["编号"].tolist() == ["OUT-1"] and queue["最近微网格"].tolist() == ["G1-01"]
    assert at.text_input(key="queue_micro").value == "G1-01"
    at = ran(at.button(key="queue_assign").click())
    assert at.success[0].value.startswith("已分派 OUT-1 至微网格 G1-01")
    assert status_of(office, "OUT-1") == "dispatched"
    assert [i.value for i in at.info] == ["没有待分派的工单。"]


def test_the_pages_refuse_roles_without_the_rights(office):
    services, principals = office
    workflows.add_user(services, "analyst", role="analyst", scope="410102", password=PASSWORD)
    principals["analyst"] = workflows.sign_in(services, "analyst", PASSWORD)
    for name in ("work", "queue"):
        at = page(office, name, "analyst")
        assert [w.value for w in at.warning] == ["您的账号无权查看此页面。"]
        assert not at.dataframe


def test_a_leader_sees_departments_late_to_report(office):
    services, principals = office
    c1 = services.as_user(principals["c1"])
    later = datetime.now(china_time.CHINA_TZ) + timedelta(days=60)
    workflows.escalate_overdue(services, now=later)
    workflows.escalate_overdue(services, now=later + timedelta(days=60))  # C1-1 … C1-4 reach the street
    workflows.dispatch_incident(c1, source="12345", external_id="C1-1", assignee="街道吹哨报到", note="协同办")
    with psycopg2.connect(services.database.url) as conn, conn.cursor() as cur:  # the 报到 time has passed
        cur.execute("UPDATE incident_department_report SET due_at = now() - interval '1 hour'")
    conn.close()
    at = page(office, "work", "leader")
    assert [w.value for w in at.warning] == ["协同办报到超期：2 个部门"]
    late = table(at, "部门")
    assert set(late["部门"]) == {"城市管理办公室", "环卫作业单位"} and set(late["工单"]) == {"C1-1"}
