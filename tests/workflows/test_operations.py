"""The closed loop as jobs: every action through the lifecycle rules with its event, who may
take it (roles and row-level security), 核查 refused to the handler, 延期 in two steps,
协同办 closing only after the lead's 报到, 回访 and 满意率, and the 待分派 queue."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gis import store, workflows
from gis.core import china_time
from gis.errors import InputError, PermissionDenied, TransitionError
from gis.workflows import operations as ops
from tests.conftest import X0, Y0, D

PASSWORD = "correct horse battery"
WORKER = "黄子明"


def case(external_id, *, lon=X0 + 0.5 * D, lat=Y0 + 0.5 * D, category="暴露垃圾"):
    return {"source": "12345", "external_id": external_id, "category": category, "lon": lon, "lat": lat,
            "reported_at": "2026-11-20T10:00:00", "status": "received", "description": "测试",
            "address": "甲路1号", "reporter_phone": "13812345678"}


@pytest.fixture
def office(services, layer_file):
    """The tiny district; cases in C1 (G1-01) and one outside every grid; a user of each kind."""
    workflows.import_grids(services, layer_file)
    for i in range(1, 6):
        workflows.receive_incident(services, case(f"C1-{i}"))
    workflows.receive_incident(services, case("OUT-1", lon=X0 - 0.002))
    users = {
        "worker": dict(role="gridworker", scope="G1", display_name=WORKER),
        "c1": dict(role="community", scope="C1", display_name="甲社区"),
        "c2": dict(role="community", scope="C2", display_name="乙社区"),
        "leader": dict(role="leader", scope="S1", display_name="王领导"),
        "dispatcher": dict(role="dispatcher", scope="410102", display_name="调度员"),
    }
    for name, spec in users.items():
        workflows.add_user(services, name, password=PASSWORD, **spec)
    return services


def as_user(services, name):
    return services.as_user(workflows.sign_in(services, name, PASSWORD))


def to_worker(office, external_id):
    """The dispatcher sends the case to the grid worker (派遣 with an assignee)."""
    workflows.dispatch_incident(as_user(office, "dispatcher"), source="12345", external_id=external_id,
                                assignee=WORKER)


def actions(office, external_id):
    detail = workflows.case_detail(office, source="12345", external_id=external_id)
    return list(detail.events["action"])


def test_the_whole_loop_writes_an_event_per_action(office):
    to_worker(office, "C1-1")
    worker = as_user(office, "worker")
    assert workflows.accept_incident(worker, source="12345", external_id="C1-1")["to"] == "in_progress"
    photo = ops.Photo("现场.png", "image/png", b"\x89PNG fake bytes")
    out = workflows.feedback_incident(worker, source="12345", external_id="C1-1", note="已清运", photos=[photo])
    assert out["to"] == "resolved" and out["photos"] == 1
    c1 = as_user(office, "c1")
    workflows.verify_incident(c1, source="12345", external_id="C1-1", note="现场已恢复")
    closed = workflows.close_incident(c1, source="12345", external_id="C1-1", visit="satisfied", visit_note="很快")
    assert closed["to"] == "closed" and not closed["rework_offered"]
    detail = workflows.case_detail(c1, source="12345", external_id="C1-1")
    assert list(detail.events["action"].dropna()) == ["dispatch", "accept", "feedback", "verify", "close", "visit"]
    assert list(detail.events["to_status"])[-2:] == ["closed", "closed"]
    assert detail.events.loc[detail.events["action"] == "feedback", "photos"].item() == 1
    assert detail.attachments[0]["data"] == photo.data and detail.attachments[0]["uploaded_by"] == WORKER
    assert detail.visits["result"].tolist() == ["satisfied"]
    assert detail.incident["status"] == "closed" and detail.incident["handler"] == WORKER
    # the library's history shows the same steps
    _, events = workflows.incident_history(c1, source="12345", external_id="C1-1")
    assert events["to_status"].tolist()[1:] == ["dispatched", "in_progress", "resolved", "verified", "closed", "closed"]


def test_accept_from_received_passes_through_dispatch(office):
    to_worker(office, "C1-2")  # now 派遣 with the worker as assignee
    workflows.return_incident(as_user(office, "worker"), source="12345", external_id="C1-2", note="不属于本网格")
    workflows.dispatch_incident(as_user(office, "c1"), source="12345", external_id="C1-2", assignee=WORKER)
    workflows.accept_incident(as_user(office, "worker"), source="12345", external_id="C1-2")
    assert actions(office, "C1-2")[-4:] == ["dispatch", "return", "dispatch", "accept"]


def test_the_handler_may_not_verify_their_own_work(office):
    to_worker(office, "C1-1")
    worker = as_user(office, "worker")
    workflows.feedback_incident(worker, source="12345", external_id="C1-1", note="已处理")
    # the community account acting as the same person is refused by name
    with pytest.raises(PermissionDenied, match="无权对此工单核查"):
        workflows.verify_incident(worker, source="12345", external_id="C1-1")
    workflows.add_user(office, "c1_huang", role="community", scope="C1", password=PASSWORD, display_name=WORKER)
    with pytest.raises(TransitionError, match="不能核查自己处置的工单"):
        workflows.verify_incident(as_user(office, "c1_huang"), source="12345", external_id="C1-1")
    detail = workflows.case_detail(as_user(office, "c1_huang"), source="12345", external_id="C1-1")
    assert "verify" not in detail.actions and "rework" in detail.actions


def test_illegal_moves_are_refused_with_the_reason(office):
    c1 = as_user(office, "c1")
    with pytest.raises(TransitionError, match="工单当前为「受理」，不能核查") as caught:
        workflows.verify_incident(c1, source="12345", external_id="C1-3")
    assert "派遣" in caught.value.fix
    with pytest.raises(TransitionError, match="不予立案"):
        workflows.close_incident(c1, source="12345", external_id="C1-3")
    to_worker(office, "C1-3")
    with pytest.raises(TransitionError, match="退回需要填写原因"):
        workflows.return_incident(c1, source="12345", external_id="C1-3", note=" ")
    with pytest.raises(InputError, match="处置反馈需要填写"):
        workflows.feedback_incident(c1, source="12345", external_id="C1-3", note="")
    with pytest.raises(InputError, match="类型 text/plain 不支持"):
        workflows.feedback_incident(c1, source="12345", external_id="C1-3", note="好",
                                    photos=[ops.Photo("a.txt", "text/plain", b"x")])
    assert actions(office, "C1-3")[1:] == ["dispatch"]  # nothing half-done


def test_roles_decide_who_acts(office):
    # a grid worker acts only on the cases dispatched to them
    with pytest.raises(PermissionDenied, match="仅限派给本人的工单"):
        workflows.accept_incident(as_user(office, "worker"), source="12345", external_id="C1-4")
    # another community does not even see the case
    with pytest.raises(InputError, match="找不到工单"):
        workflows.dispatch_incident(as_user(office, "c2"), source="12345", external_id="C1-4")
    # a leader may only supervise
    leader = as_user(office, "leader")
    with pytest.raises(PermissionDenied, match="无权对此工单派遣"):
        workflows.dispatch_incident(leader, source="12345", external_id="C1-4")
    assert workflows.supervise_incident(leader, source="12345", external_id="C1-4")["to"] == "supervised"
    assert actions(office, "C1-4")[-1] == "supervise"


def test_redispatch_records_an_event_and_an_audit_row(office):
    to_worker(office, "C1-1")
    dispatcher = as_user(office, "dispatcher")
    out = workflows.dispatch_incident(dispatcher, source="12345", external_id="C1-1", assignee="李四")
    assert out["action"] == "redispatch" and out["to"] == "dispatched"
    detail = workflows.case_detail(dispatcher, source="12345", external_id="C1-1")
    assert detail.incident["assignee"] == "李四"
    assert "转派给李四" in detail.events["note"].iloc[-1]
    trail = workflows.audit_trail(office, actions=["redispatch"])
    assert len(trail) >= 1
    with pytest.raises(InputError, match="另一位处置人"):
        workflows.dispatch_incident(dispatcher, source="12345", external_id="C1-1", assignee="李四")


def test_extension_is_requested_then_approved_by_someone_else(office):
    to_worker(office, "C1-5")
    worker, c1 = as_user(office, "worker"), as_user(office, "c1")
    new_due = datetime.now(china_time.CHINA_TZ) + timedelta(days=30)
    workflows.request_extension(worker, source="12345", external_id="C1-5", new_due_at=new_due, reason="等配件")
    detail = workflows.case_detail(worker, source="12345", external_id="C1-5")
    assert detail.incident["status"] == "dispatched" and detail.pending_extension["reason"] == "等配件"
    assert "extension_approve" not in detail.actions
    with pytest.raises(TransitionError, match="已有待审批"):
        workflows.request_extension(worker, source="12345", external_id="C1-5", new_due_at=new_due, reason="再等")
    out = workflows.decide_extension(c1, source="12345", external_id="C1-5", approve=True)
    assert out["to"] == "extended"
    detail = workflows.case_detail(c1, source="12345", external_id="C1-5")
    assert abs((detail.incident["due_at"] - new_due).total_seconds()) < 1
    assert detail.events["action"].tolist()[-2:] == ["extension_request", "extension_approve"]


def test_dissatisfied_visit_offers_rework(office):
    to_worker(office, "C1-1")
    workflows.feedback_incident(as_user(office, "worker"), source="12345", external_id="C1-1", note="已处理")
    c1 = as_user(office, "c1")
    with pytest.raises(TransitionError, match="回访不满意"):
        workflows.verify_incident(c1, source="12345", external_id="C1-1", visit="dissatisfied")
    assert workflows.rework_incident(c1, source="12345", external_id="C1-1", note="居民不满意")["to"] == "reworked"


def _escalate_to_hard(office, external_id):
    to_worker(office, external_id)
    later = datetime.now(china_time.CHINA_TZ) + timedelta(days=60)
    workflows.escalate_overdue(office, now=later)
    workflows.escalate_overdue(office, now=later + timedelta(days=60))


def test_coordination_closes_only_after_the_lead_reports(office):
    _escalate_to_hard(office, "C1-2")
    c1 = as_user(office, "c1")
    detail = workflows.case_detail(c1, source="12345", external_id="C1-2")
    assert detail.incident["tier"] == "hard"
    lead = detail.departments.loc[detail.departments["is_lead"], "department"].item()
    assert lead == "城市管理办公室" and "环卫作业单位" in set(detail.departments["department"])
    workflows.dispatch_incident(c1, source="12345", external_id="C1-2", assignee="街道吹哨报到")
    workflows.report_department(c1, source="12345", external_id="C1-2", department="环卫作业单位", note="已到场")
    # departments that have not reported in time are 督办 for the leader
    overdue = workflows.overdue_reports(as_user(office, "leader"),
                                        now=datetime.now(china_time.CHINA_TZ) + timedelta(days=30))
    assert overdue["department"].tolist() == ["城市管理办公室"]
    workflows.feedback_incident(c1, source="12345", external_id="C1-2", note="已处理")
    workflows.verify_incident(as_user(office, "dispatcher"), source="12345", external_id="C1-2")
    with pytest.raises(TransitionError, match="牵头部门（城市管理办公室）报到后才能结案"):
        workflows.close_incident(c1, source="12345", external_id="C1-2")
    workflows.report_department(c1, source="12345", external_id="C1-2", department=lead, note="牵头处置完毕")
    assert workflows.close_incident(c1, source="12345", external_id="C1-2")["to"] == "closed"
    with pytest.raises(InputError, match="不是该工单的牵头或协办部门"):
        workflows.report_department(office, source="12345", external_id="C1-2", department="公安", note="x")


def test_satisfaction_rate_counts_each_case_by_its_latest_visit(office):
    c1 = as_user(office, "c1")
    for external_id, result in [("C1-1", "satisfied"), ("C1-2", "basically_satisfied"), ("C1-3", "dissatisfied")]:
        to_worker(office, external_id)
        workflows.feedback_incident(as_user(office, "worker"), source="12345", external_id=external_id, note="好")
        workflows.verify_incident(c1, source="12345", external_id=external_id)
        workflows.close_incident(c1, source="12345", external_id=external_id, visit=result)
    # 不满意 at closing: the case went back to 返工, and the visit counts
    with c1.connection() as conn:
        assert store.fetch_incident(conn, source="12345", external_id="C1-3")["status"] == "reworked"
    assert workflows.satisfaction(c1)["rate"] == pytest.approx(2 / 3)
    # redone, checked and closed again, now 满意: the case counts by its latest visit
    workflows.feedback_incident(as_user(office, "worker"), source="12345", external_id="C1-3", note="重做")
    workflows.verify_incident(c1, source="12345", external_id="C1-3")
    assert workflows.close_incident(c1, source="12345", external_id="C1-3", visit="satisfied")["to"] == "closed"
    out = workflows.record_visit(c1, source="12345", external_id="C1-1", result="basically_satisfied",
                                 note="二次回访")
    assert out["action"] == "visit"
    rate = workflows.satisfaction(c1)
    assert (rate["visited"], rate["satisfied"], rate["basically_satisfied"], rate["dissatisfied"]) == (3, 1, 2, 0)
    assert rate["rate"] == 1.0
    assert workflows.satisfaction(c1, channel="12345")["visited"] == 1
    assert workflows.satisfaction_rate({"visited": 0}) is None


def test_queue_lists_unassigned_cases_and_assigns_one(office):
    dispatcher = as_user(office, "dispatcher")
    assert workflows.queue_count(dispatcher) == 1
    assert workflows.queue_count(as_user(office, "c1")) == 0  # outside every scope but the district
    queue = workflows.unassigned_queue(dispatcher)
    row = queue.iloc[0]
    assert row["external_id"] == "OUT-1" and row["suggested_code"] == "G1-01"
    assert 150 < row["suggested_distance_m"] < 250
    assert "address_candidates" in queue.columns
    out = workflows.assign_from_queue(dispatcher, source="12345", external_id="OUT-1", micro_code="G1-01")
    assert out["to"] == "dispatched" and out["micro_code"] == "G1-01"
    assert workflows.queue_count(dispatcher) == 0
    detail = workflows.case_detail(as_user(office, "c1"), source="12345", external_id="OUT-1")
    assert detail.incident["micro_code"] == "G1-01" and detail.events["action"].iloc[-1] == "queue_assign"
    with dispatcher.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT placed_by FROM incident WHERE external_id = 'OUT-1'")
        assert cur.fetchone()[0] == "manual"  # placed by a person, not by its coordinates or address
    with pytest.raises(PermissionDenied, match="无权对此工单分派"):
        workflows.assign_from_queue(as_user(office, "c1"), source="12345", external_id="OUT-1", micro_code="G1-02")


def test_actionable_cases_for_a_grid_worker_are_their_own(office):
    to_worker(office, "C1-1")
    assert workflows.actionable_cases(as_user(office, "worker"))["external_id"].tolist() == ["C1-1"]
    assert len(workflows.actionable_cases(as_user(office, "c1"))) == 5


def test_satisfaction_rate_is_a_kpi_next_to_the_completion_rate(office):
    from datetime import date

    from gis.core import metrics
    c1 = as_user(office, "c1")
    for external_id, result in [("C1-1", "satisfied"), ("C1-2", "dissatisfied")]:
        to_worker(office, external_id)
        workflows.feedback_incident(as_user(office, "worker"), source="12345", external_id=external_id, note="好")
        workflows.verify_incident(c1, source="12345", external_id=external_id)
        workflows.close_incident(c1, source="12345", external_id=external_id, visit=result)
    flt = metrics.CaseFilter(since=date(2026, 11, 16), until=date(2026, 11, 22))
    kpis = workflows.kpis(c1, flt)
    assert (kpis["current"]["visited"], kpis["current"]["satisfied"]) == (2, 1)
    cards = {c.key: c for c in metrics.kpi_cards(kpis["current"], kpis["previous"])}
    assert cards["satisfaction_rate"].label == "满意率" and cards["satisfaction_rate"].value == "50.0%"
    assert list(cards).index("satisfaction_rate") == list(cards).index("on_time_rate") + 1
    assert metrics.satisfaction_rate({"visited": 0, "satisfied": 0}) is None


def test_demo_incidents_come_with_visits_near_95_percent_satisfied(services, layer_file):
    import pandas as pd

    from gis.demo.visits import demo_visits
    from gis.workflows.demo import load_demo_incidents
    closed = pd.DataFrame({"id": range(4000), "source": ["12345", "patrol"] * 2000,
                           "closed_at": pd.Timestamp("2026-11-20T10:00", tz="UTC")})
    visits = demo_visits(closed, seed=7)
    rate = visits["result"].isin(["satisfied", "basically_satisfied"]).mean()
    assert 0.93 < rate < 0.97 and set(visits["channel"]) == {"12345", "internal"}
    assert (visits["at"] > closed["closed_at"].iloc[0]).all()
    workflows.import_grids(services, layer_file)
    load_demo_incidents(services, n=400, seed=3)
    stored = workflows.satisfaction(services)
    assert stored["visited"] > 50 and 0.85 < stored["rate"] <= 1.0


def test_dispatch_by_the_rules_names_the_full_time_worker_and_informs_the_micro_head(office, tmp_path):
    roster = tmp_path / "staff.csv"
    roster.write_text("grid_code,role,name,phone\nG1,专职网格员,黄子明,13800000001\n"
                      "G1-01,微网格长,刘刚,13800000002\n", encoding="utf-8")
    workflows.import_staff(office, roster)
    dispatcher = as_user(office, "dispatcher")
    out = workflows.dispatch_incident(dispatcher, source="12345", external_id="C1-2")
    assert out["to"] == "dispatched"
    detail = workflows.case_detail(dispatcher, source="12345", external_id="C1-2")
    assert detail.incident["assignee"] == "黄子明"  # never the volunteer 微网格长
    note = detail.events["note"].iloc[-1]
    assert note.startswith("派遣给黄子明：") and "专职网格员" in note and note.endswith("知会微网格长：刘刚")
