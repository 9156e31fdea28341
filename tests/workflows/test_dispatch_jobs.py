"""精准派单 end to end: stored cases and ``locate`` against the real PostGIS and the roster."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely

from gis import workflows
from gis.core.access import SYSTEM
from gis.workflows.context import Services
from gis.workflows.incidents import dispatch_context, dispatches
from tests.conftest import X0, Y0, D

ROSTER = ("grid_code,role,name,phone\n"
          "G1-01,微网格长,刘刚,13812345678\nG1,专职网格员,黄子明,13900001111\n"
          "C1,网格长,张伟,13700002222\nZ1,专属网格负责人,李强,13600003333\n"
          "G2-02,微网格长,孙微,13500004444\nC2,专职网格员,吴专职,13400005555\n")


@pytest.fixture
def staffed(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    path = tmp_path / "staff.csv"
    path.write_text(ROSTER, encoding="utf-8")
    workflows.import_staff(services, path)
    return services


def receive(services, external_id: str, category: str, lon: float, lat: float) -> dict:
    return workflows.receive_incident(services, {
        "source": "12345", "external_id": external_id, "category": category, "lon": lon, "lat": lat,
        "reported_at": "2026-11-20T10:00:00+08:00", "status": "received", "description": "测试", "address": ""})


def test_stored_cases_go_to_the_full_time_worker_the_exclusive_manager_or_the_community(staffed):
    general = receive(staffed, "G", "env.exposed_garbage", X0 + 0.5 * D, Y0 + 0.5 * D)   # G1-01
    assert general["micro_code"] == "G1-01" and general["assignee"] == "黄子明"        # not 刘刚
    assert general["informed"] == "刘刚"  # the 微网格长 is recorded as informed
    exclusive = receive(staffed, "X", "env.exposed_garbage", X0 + 1.8 * D, Y0 + 0.5 * D)  # G1-01 in 世纪联华
    assert exclusive["exclusive_code"] == "Z1" and exclusive["assignee"] == "李强"
    through_community = receive(staffed, "C", "order.street_vending", X0 + 3.5 * D, Y0 + 1.5 * D)  # G2-02
    assert through_community["assignee"] == "吴专职"
    complex_case = receive(staffed, "D", "dispute", X0 + 0.5 * D, Y0 + 1.5 * D)         # G1-02
    assert complex_case["tier"] == "complex" and complex_case["assignee"] == "张伟"


def test_dispatches_give_the_reason_the_informed_and_the_departments(staffed):
    cases = pd.DataFrame({
        "tier": ["general", "general", "complex", "hard", "general"],
        "micro_code": ["G1-01", "G1-01", "G1-02", "G2-02", "G2-02"],
        "exclusive_code": [None, "Z1", None, None, None],
        "category": ["env.exposed_garbage", "env.exposed_garbage", "dispute", "dispute", "ad.flyer"]})
    with staffed.connection() as conn:
        context = dispatch_context(staffed, conn)
    got = dispatches(cases, context=context)
    assert list(got["assignee"]) == ["黄子明", "李强", "张伟", "二街道吹哨报到", "吴专职"]
    assert list(got["reason"]) == ["三级网格 甲社区第1网格 的专职网格员", "专属网格 世纪联华 的负责人",
                                   "复杂事项：社区网格长（甲社区）",
                                   "疑难事项：街道吹哨报到（牵头：平安建设办公室；协同：司法所、派出所）",
                                   "社区 乙社区 的专职网格员"]
    assert list(got["informed"]) == ["刘刚", "刘刚", None, None, "孙微"]
    assert got["lead_department"].iloc[3] == "平安建设办公室"
    assert got["co_departments"].iloc[3] == ("司法所", "派出所")
    assert list(workflows.assignees(cases, context=context)) == list(got["assignee"])


def test_locate_names_a_full_time_worker_at_every_sampled_micro_grid_of_the_demo(demo_database_url):
    # the check: 0 of 40 micro-grids dispatched to a 专职网格员 before
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=2) as services:
        version = workflows.grid_version(services)
        grids = version.grids
        exclusive = shapely.union_all(grids.loc[grids["level"] == "exclusive", "geometry"].to_numpy())
        micro = grids[grids["level"] == "micro"].sort_values("code")
        points = micro.geometry.representative_point()
        outside = micro[~points.within(exclusive).to_numpy()]
        sample = outside.iloc[::max(len(outside) // 60, 1)].head(60)
        assert len(sample) >= 40
        for code, point in zip(sample["code"], points.loc[sample.index]):
            result = workflows.locate(services, point.x, point.y)
            assert result["micro"]["code"] == code and result["exclusive"] is None
            roles = {(s["name"], s["role"]) for s in result["staff"]}
            assert (result["worker"], "专职网格员") in roles, (code, result["worker"], result["reason"])
            grid = version.tree.ancestor(code, "grid")
            assert result["reason"] == f"三级网格 {version.tree.name[grid]} 的专职网格员"
            assert result["informed"] and (result["informed"], "微网格长") in roles
