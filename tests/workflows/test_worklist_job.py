"""工作台 as a job on PostGIS: the buckets and their counts at a fixed moment, the urgency order,
the scope row-level security gives each account, the unit filter, and the reporter's phone
masked for roles that do not handle cases.

The tiny district (tests/conftest.py) holds cases with exact times. The clock is Wednesday
2025-12-31 16:00 China time, before the New Year holiday (1–3 January off, Sunday 4 January
worked): 24 working hours then end on 7 January at 10:30.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import psycopg2
import pytest

from gis import workflows
from gis.core.china_time import CHINA_TZ
from gis.errors import InputError, PermissionDenied
from tests.conftest import X0, Y0, D

PASSWORD = "correct horse battery"
NOW = datetime(2025, 12, 31, 16, 0, tzinfo=CHINA_TZ)
PHONE = "13812345678"
IN_C1 = (X0 + 0.5 * D, Y0 + 0.5 * D)  # micro-grid G1-01 甲1-1
IN_C2 = (X0 + 3.0 * D, Y0 + 0.5 * D)  # micro-grid G2-01 乙1-1

#: external_id → (where, status, reported_at, due_at), China time
CASES = {
    "NEW": (IN_C1, "received", "2025-12-31 09:30", "2026-01-09 17:30"),
    "CLOSED-TODAY": (IN_C1, "closed", "2025-12-31 08:00", "2026-01-09 17:30"),
    "SOON-3H": (IN_C1, "dispatched", "2025-12-20 10:00", "2026-01-04 10:30"),
    "LATER-30H": (IN_C1, "in_progress", "2025-12-20 10:00", "2026-01-08 09:30"),
    "OVERDUE": (IN_C1, "dispatched", "2025-12-20 10:00", "2025-12-30 17:30"),
    "SUPERVISED": (IN_C1, "supervised", "2025-12-10 10:00", "2025-12-25 17:30"),
    "CLOSED-OLD": (IN_C1, "closed", "2025-12-01 10:00", "2025-12-10 17:30"),
    "C2-OVERDUE": (IN_C2, "dispatched", "2025-12-20 10:00", "2025-12-29 17:30"),
}
USERS = {
    "worker": dict(role="gridworker", scope="G1", display_name="黄子明"),
    "c1": dict(role="community", scope="C1", display_name="甲社区"),
    "c2": dict(role="community", scope="C2", display_name="乙社区"),
    "leader": dict(role="leader", scope="S1", display_name="王领导"),
    "dispatcher": dict(role="dispatcher", scope="410102", display_name="调度员"),
    "admin": dict(role="admin", scope="410102", display_name="管理员"),
}


@pytest.fixture
def office(services, layer_file, database_url):
    """The tiny district with the cases of :data:`CASES` (statuses and times set exactly) and an
    account of each kind; returns a function giving the services bound to an account."""
    workflows.import_grids(services, layer_file)
    for external_id, ((lon, lat), *_rest) in CASES.items():
        workflows.receive_incident(services, {
            "source": "12345", "external_id": external_id, "category": "暴露垃圾", "lon": lon, "lat": lat,
            "reported_at": "2025-12-01T10:00:00", "status": "received", "description": "测试",
            "address": "甲路1号", "reporter_phone": PHONE})
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        for external_id, (_where, status, reported, due) in CASES.items():
            cur.execute("UPDATE incident SET status = %s, reported_at = %s::timestamp AT TIME ZONE 'Asia/Shanghai',"
                        " due_at = %s::timestamp AT TIME ZONE 'Asia/Shanghai', assignee = %s"
                        " WHERE source = '12345' AND external_id = %s",
                        (status, reported, due, f"负责人{external_id}", external_id))
    for name, spec in USERS.items():
        workflows.add_user(services, name, password=PASSWORD, **spec)
    return lambda name: services.as_user(workflows.sign_in(services, name, PASSWORD))


def ids(listed) -> list[str]:
    return listed.cases["external_id"].tolist()


def test_buckets_counts_and_order_for_a_community(office):
    listed = workflows.work_list(office("c1"), now=NOW)
    assert listed.counts == {"new_today": 2, "due_soon": 1, "overdue": 2, "supervised": 1}
    # LATER-30H (due in 30 working hours) and CLOSED-OLD are in no bucket; C2's case is out of scope
    assert ids(listed) == ["SUPERVISED", "OVERDUE", "SOON-3H", "NEW", "CLOSED-TODAY"]
    assert listed.total == 5
    assert listed.cutoffs.due_soon_until == datetime(2026, 1, 7, 10, 30, tzinfo=CHINA_TZ)
    rows = listed.cases.set_index("external_id")
    assert rows.loc["SOON-3H", "working_hours_left"] == pytest.approx(3.0)
    assert rows.loc["OVERDUE", "working_hours_left"] == pytest.approx(-5.5)
    # from Thursday 25 December 17:30: Friday, Monday and Tuesday (7 h each) and 5.5 h today
    assert rows.loc["SUPERVISED", "working_hours_left"] == pytest.approx(-26.5)
    assert rows.loc["SUPERVISED", "time_left_zh"] == "超期 3.8 个工作日"
    assert rows.loc["SOON-3H", "time_left_zh"] == "剩余 3.0 工作小时"
    assert rows.loc["CLOSED-TODAY", "time_left_zh"] == "—" and pd.isna(rows.loc["CLOSED-TODAY", "working_hours_left"])
    assert rows.loc["SUPERVISED", "status_zh"] == "督办" and rows.loc["NEW", "status_zh"] == "受理"
    assert set(rows["category_zh"]) == {"暴露垃圾"}
    assert set(rows["micro_name"]) == {"甲1-1"}
    assert rows.loc["OVERDUE", "assignee"] == "负责人OVERDUE"
    assert rows.loc["SUPERVISED", "due_at"] == pd.Timestamp("2025-12-25 17:30", tz=CHINA_TZ)
    assert str(rows["due_at"].dt.tz) == "Asia/Shanghai"
    # a community handles cases: the phone in clear
    assert set(rows["reporter_phone"]) == {PHONE}
    assert list(listed.cases.columns) == workflows.WORK_LIST_COLUMNS


def test_scope_a_community_sees_only_its_cases_and_the_district_sees_all(office):
    assert ids(workflows.work_list(office("c2"), now=NOW)) == ["C2-OVERDUE"]
    district = workflows.work_list(office("dispatcher"), now=NOW)
    assert district.counts == {"new_today": 2, "due_soon": 1, "overdue": 3, "supervised": 1}
    assert ids(district) == ["SUPERVISED", "C2-OVERDUE", "OVERDUE", "SOON-3H", "NEW", "CLOSED-TODAY"]
    # the grid worker's scope is the tertiary grid G1: C1's cases, not C2's
    assert ids(workflows.work_list(office("worker"), now=NOW)) == ids(workflows.work_list(office("c1"), now=NOW))


def test_a_unit_narrows_the_list_within_the_scope(office):
    dispatcher = office("dispatcher")
    only_c2 = workflows.work_list(dispatcher, unit="C2", now=NOW)
    assert ids(only_c2) == ["C2-OVERDUE"]
    assert only_c2.counts == {"new_today": 0, "due_soon": 0, "overdue": 1, "supervised": 0}
    assert ids(workflows.work_list(dispatcher, unit="G1-01", now=NOW)) == [
        "SUPERVISED", "OVERDUE", "SOON-3H", "NEW", "CLOSED-TODAY"]
    with pytest.raises(InputError, match="not in the active grids"):
        workflows.work_list(dispatcher, unit="NO-SUCH-GRID", now=NOW)
    # a unit outside the community's scope is not a grid it can see
    with pytest.raises(InputError, match="not in the active grids"):
        workflows.work_list(office("c1"), unit="C2", now=NOW)


def test_one_bucket_lists_its_cases_and_the_counts_still_cover_all(office):
    c1 = office("c1")
    soon = workflows.work_list(c1, bucket="due_soon", now=NOW)
    assert ids(soon) == ["SOON-3H"]
    assert soon.counts == {"new_today": 2, "due_soon": 1, "overdue": 2, "supervised": 1}
    assert ids(workflows.work_list(c1, bucket="overdue", now=NOW)) == ["SUPERVISED", "OVERDUE"]
    cut = workflows.work_list(c1, limit=2, now=NOW)
    assert ids(cut) == ["SUPERVISED", "OVERDUE"] and cut.total == 5
    with pytest.raises(InputError, match="bucket 'late' is unknown"):
        workflows.work_list(c1, bucket="late", now=NOW)


def test_the_phone_is_masked_for_a_leader_and_revealed_only_by_the_audited_job(office):
    leader = office("leader")
    listed = workflows.work_list(leader, now=NOW)
    assert ids(listed) == ["SUPERVISED", "OVERDUE", "SOON-3H", "NEW", "CLOSED-TODAY"]
    assert set(listed.cases["reporter_phone"]) == {"138****5678"}
    assert workflows.reveal_reporter(leader, source="12345", external_id="OVERDUE") == PHONE
    audit = workflows.audit_trail(leader, actions=["reveal"])
    assert audit["object"].tolist() == ["incident:12345/OVERDUE"]


def test_a_role_that_may_not_read_cases_is_refused(office):
    with pytest.raises(PermissionDenied, match="查看工作台"):
        workflows.work_list(office("admin"), now=NOW)
