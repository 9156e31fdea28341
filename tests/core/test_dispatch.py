"""Tests for gis.core.dispatch: 精准派单 by tier, from the roster, with a reason."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from gis.core.dispatch import (
    DISPATCH_COLUMNS,
    assignee_for,
    assignees_many,
    dispatch_for,
    dispatch_many,
)
from gis.core.rules.config import load_rules
from gis.errors import InputError

NAMES = {"S01": "航海西路街道", "C01": "桐福社区", "C02": "城开社区", "G01": "桐福社区第1网格",
         "G02": "城开社区第1网格", "M01": "桐福1-1", "M02": "城开1-1", "M03": "城开1-2", "X01": "世纪联华"}


@pytest.fixture()
def staff() -> pd.DataFrame:
    return pd.DataFrame({
        "grid_code": ["C01", "G01", "M01", "M02", "X01", "C01", "C02", "M03", "M03"],
        "role": ["网格长", "专职网格员", "微网格长", "微网格长", "专属网格负责人", "网格长", "专职网格员",
                 "微网格长", "专职网格员"],
        "name": ["赵社区", "黄子明", "刘刚", "李微", "周专属", "陈社区", "吴专职", "孙微", "郑专职"],
    })


def place(micro: str | None, *, exclusive: str | None = None) -> dict:
    grid = {"M01": "G01", "M02": "G02", "M03": "G02"}.get(micro)
    community = {"G01": "C01", "G02": "C02"}.get(grid)
    return {"micro_code": micro, "exclusive_code": exclusive, "grid_code": grid, "community_code": community,
            "street_code": "S01" if micro else None, "names": NAMES}


def test_general_case_goes_to_the_tertiary_grids_full_time_worker_and_informs_the_micro_head(staff):
    chosen = dispatch_for(tier="general", staff=staff, **place("M01"))
    assert chosen.assignee == "黄子明"          # never 刘刚, the volunteer 微网格长
    assert chosen.reason == "三级网格 桐福社区第1网格 的专职网格员"
    assert chosen.informed == "刘刚"
    assert chosen.note == "三级网格 桐福社区第1网格 的专职网格员；知会微网格长：刘刚"


def test_full_time_worker_is_found_through_the_community_when_the_roster_lists_them_there(staff):
    chosen = dispatch_for(tier="general", staff=staff, **place("M02"))
    assert (chosen.assignee, chosen.reason, chosen.informed) == ("吴专职", "社区 城开社区 的专职网格员", "李微")


def test_a_worker_listed_for_the_micro_grid_itself_comes_first(staff):
    chosen = dispatch_for(tier="general", staff=staff, **place("M03"))
    assert (chosen.assignee, chosen.reason) == ("郑专职", "微网格 城开1-2 的专职网格员")


def test_without_a_full_time_worker_the_community_grid_head_takes_it_never_the_micro_head(staff):
    roster = staff[staff["role"] != "专职网格员"]
    chosen = dispatch_for(tier="general", staff=roster, **place("M01"))
    assert chosen.assignee == "赵社区"  # first by name of the community's two 网格长
    assert chosen.reason == "名册中无服务该微网格的专职网格员，由社区 桐福社区 的网格长接收"
    nobody = dispatch_for(tier="general", staff=roster[roster["role"] == "微网格长"], **place("M01"))
    assert nobody.assignee is None and nobody.informed == "刘刚" and "待分派" in nobody.reason


def test_inside_an_exclusive_grid_its_manager_takes_the_case(staff):
    chosen = dispatch_for(tier="general", staff=staff, **place("M01", exclusive="X01"))
    assert (chosen.assignee, chosen.reason) == ("周专属", "专属网格 世纪联华 的负责人")
    lacking = dispatch_for(tier="general", staff=staff[staff["role"] != "专属网格负责人"],
                           **place("M01", exclusive="X01"))
    assert lacking.assignee == "黄子明"
    assert lacking.reason == "专属网格 世纪联华 名册中无负责人；三级网格 桐福社区第1网格 的专职网格员"


def test_complex_case_goes_to_the_community_grid_head(staff):
    chosen = dispatch_for(tier="complex", staff=staff, **place("M01"))
    assert (chosen.assignee, chosen.reason, chosen.informed) == ("赵社区", "复杂事项：社区网格长（桐福社区）", None)
    missing = dispatch_for(tier="complex", staff=staff, **place("M02"))
    assert missing.assignee is None and missing.reason == "复杂事项：社区 城开社区 名册中无网格长，待分派"


def test_hard_case_goes_to_the_streets_whistle_desk_with_the_rules_departments(staff):
    category = load_rules().categories["env.exposed_garbage"]
    chosen = dispatch_for(tier="hard", staff=staff, category="env.exposed_garbage", **place("M01"))
    assert chosen.assignee == "航海西路街道吹哨报到"
    assert chosen.lead_department == category.lead_department == "城市管理办公室"
    assert chosen.co_departments == category.co_departments == ("环卫作业单位",)
    assert chosen.reason == "疑难事项：街道吹哨报到（牵头：城市管理办公室；协同：环卫作业单位）"
    # without a name the desk is named by the street's code
    assert assignee_for(tier="hard", micro_code="M01", exclusive_code=None, community_code="C01",
                        street_code="410102001", staff=staff) == "街道吹哨报到平台(410102001)"


def test_a_point_outside_every_micro_grid_waits_for_manual_dispatch(staff):
    chosen = dispatch_for(tier="general", staff=staff, **place(None))
    assert chosen.assignee is None and chosen.reason == "不在任何微网格内，待分派"


def test_bad_tier_and_roster_are_refused(staff):
    with pytest.raises(InputError, match="tier 'urgent' is not known"):
        dispatch_for(tier="urgent", staff=staff, **place("M01"))
    with pytest.raises(InputError, match="lacks column name"):
        dispatch_for(tier="general", staff=staff[["grid_code", "role"]], **place("M01"))


def test_many_cases_match_one_by_one(staff):
    rows = [("general", "M01", None), ("general", "M01", "X01"), ("complex", "M02", None),
            ("hard", "M03", None), ("general", "M02", None), ("general", None, None)]
    cases = pd.DataFrame([{"tier": t, "category": "dispute", **{k: v for k, v in place(m, exclusive=x).items()
                                                                  if k != "names"}} for t, m, x in rows],
                         index=range(10, 10 + len(rows)))
    many = dispatch_many(cases, staff=staff, names=NAMES)
    assert list(many.columns) == list(DISPATCH_COLUMNS) and list(many.index) == list(cases.index)
    for (t, m, x), (_, got) in zip(rows, many.iterrows()):
        one = dispatch_for(tier=t, staff=staff, category="dispute", **place(m, exclusive=x))
        assert (got["assignee"], got["reason"], got["informed"]) == (one.assignee, one.reason, one.informed)
        assert (got["lead_department"], got["co_departments"]) == (one.lead_department, one.co_departments)
    assert list(assignees_many(cases, staff=staff, names=NAMES)) == list(many["assignee"])
    assert dispatch_many(cases.iloc[:0], staff=staff).empty


def test_a_million_cases_are_dispatched_in_about_a_second(staff):
    rng = np.random.default_rng(1)
    n = 1_000_000
    micro = rng.choice(["M01", "M02", "M03"], n)
    cases = pd.DataFrame({"tier": rng.choice(["general", "complex", "hard"], n, p=[.8, .15, .05]),
                          "micro_code": micro, "exclusive_code": np.where(rng.random(n) < .05, "X01", None),
                          "grid_code": np.where(micro == "M01", "G01", "G02"),
                          "community_code": np.where(micro == "M01", "C01", "C02"), "street_code": "S01",
                          "category": rng.choice(list(load_rules().categories), n)})
    started = time.perf_counter()
    many = dispatch_many(cases, staff=staff, names=NAMES)
    assert time.perf_counter() - started < 5.0
    # 城开社区 has no 网格长 in this roster: its complex cases wait, every other case has someone
    waiting = (cases["tier"] == "complex") & (cases["community_code"] == "C02")
    assert many["assignee"].isna().equals(waiting)
