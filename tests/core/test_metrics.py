"""gis.analytics (pure): case filters, ISO weeks, the grid tree, rates, roll-ups, totals, ranking.

Frames are hand-made; the grid tree is the tiny hierarchy of conftest
(410102 → S1/S2 → C1/C2 → G1/G2 → G1-01, G1-02 / G2-01, G2-02; Z1 exclusive).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from gis.core import hierarchy as tree_mod
from gis.core import metrics
from gis.core.china_time import CHINA_TZ
from gis.core.metrics import CaseFilter
from gis.errors import InputError
from tests.conftest import hierarchy

WEEK = CaseFilter(since=date(2026, 11, 16), until=date(2026, 11, 22))


def stats(rows: list[tuple]) -> pd.DataFrame:
    """micro_code, received, completed, due, on_time, open, overdue."""
    return pd.DataFrame(rows, columns=["micro_code", *metrics.COUNT_COLUMNS])


# per micro-grid, as fetch_micro_stats gives them; None is the unassigned row
MICRO = stats([
    ("G1-01", 2, 2, 2, 1, 0, 0),
    ("G1-02", 1, 1, 1, 1, 0, 0),
    ("G2-01", 2, 0, 1, 0, 2, 1),
    (None, 4, 1, 2, 1, 3, 1),
])


# -- CaseFilter ---------------------------------------------------------------------------------


def test_a_week_lasts_seven_days_and_its_previous_period_is_the_week_before():
    assert WEEK.days == 7
    before = WEEK.previous()
    assert (before.since, before.until) == (date(2026, 11, 9), date(2026, 11, 15))
    assert before.days == 7


def test_previous_keeps_the_length_and_the_other_conditions():
    flt = CaseFilter(since=date(2026, 3, 1), until=date(2026, 3, 31), categories=("safety.fire",),
                     sources=("12345",), statuses=("closed",), unit="C1")
    before = flt.previous()
    assert (before.since, before.until) == (date(2026, 1, 29), date(2026, 2, 28))  # 31 days just before
    assert before.days == 31
    assert (before.categories, before.sources, before.statuses, before.unit) == (
        ("safety.fire",), ("12345",), ("closed",), "C1")
    one_day = CaseFilter(since=date(2026, 1, 1), until=date(2026, 1, 1)).previous()
    assert (one_day.since, one_day.until) == (date(2025, 12, 31), date(2025, 12, 31))


def test_filters_are_hashable_and_equal_by_value_for_caches():
    assert hash(WEEK) == hash(CaseFilter(since=date(2026, 11, 16), until=date(2026, 11, 22)))
    assert len({WEEK, CaseFilter(since=date(2026, 11, 16), until=date(2026, 11, 22)), WEEK.previous()}) == 2


def test_params_are_half_open_china_time_bounds():
    now = datetime(2026, 11, 20, 12, tzinfo=CHINA_TZ)
    params = WEEK.params(micro_codes=None, now=now)
    assert params["since"] == datetime(2026, 11, 16, tzinfo=CHINA_TZ)
    assert params["until"] == datetime(2026, 11, 23, tzinfo=CHINA_TZ)  # the day after `until`, excluded
    assert params["since"].utcoffset() == timedelta(hours=8)
    # the same instants in UTC: 16:00 the evening before
    assert params["since"] == datetime(2026, 11, 15, 16, tzinfo=timezone.utc)
    assert params["until"] == datetime(2026, 11, 22, 16, tzinfo=timezone.utc)
    assert params["now"] is now
    assert (params["categories"], params["sources"], params["statuses"], params["micro_codes"]) == (
        None, None, None, None)
    # 23:59 China time on `until` is inside, 00:00 the next day is not
    assert params["since"] <= datetime(2026, 11, 22, 23, 59, tzinfo=CHINA_TZ) < params["until"]
    assert not datetime(2026, 11, 23, 0, 0, tzinfo=CHINA_TZ) < params["until"]


def test_params_pass_the_conditions_as_lists():
    flt = CaseFilter(since=date(2026, 11, 16), until=date(2026, 11, 16), categories=("safety.fire", "safety.gas"),
                     sources=("patrol",), statuses=("closed",))
    params = flt.params(micro_codes=["G1-01"], now=datetime(2026, 11, 20, tzinfo=CHINA_TZ))
    assert params["categories"] == ["safety.fire", "safety.gas"]
    assert params["sources"] == ["patrol"]
    assert params["statuses"] == ["closed"]
    assert params["micro_codes"] == ["G1-01"]
    assert params["until"] - params["since"] == timedelta(days=1)


def test_last_days_ends_today():
    flt = metrics.last_days(7, today=date(2026, 11, 22), sources=("12345",))
    assert (flt.since, flt.until, flt.days, flt.sources) == (date(2026, 11, 16), date(2026, 11, 22), 7, ("12345",))
    assert metrics.last_days(1, today=date(2026, 11, 22)).since == date(2026, 11, 22)


# -- ISO weeks ----------------------------------------------------------------------------------


def test_iso_week_gives_monday_to_sunday():
    assert metrics.iso_week("2026-W47") == (date(2026, 11, 16), date(2026, 11, 22))
    assert metrics.iso_week("2026-w47") == (date(2026, 11, 16), date(2026, 11, 22))
    assert metrics.iso_week("2026-W01") == (date(2025, 12, 29), date(2026, 1, 4))  # week 1 starts in 2025
    assert metrics.iso_week("2020-W53") == (date(2020, 12, 28), date(2021, 1, 3))
    monday, sunday = metrics.iso_week("2026-W47")
    assert monday.isoweekday() == 1 and sunday.isoweekday() == 7


@pytest.mark.parametrize("text", ["2026-47", "2026W47", "2026-W54", "2026-W0", "W47", "", "2026-Wxx"])
def test_iso_week_refuses_other_spellings_with_the_fix(text):
    with pytest.raises(InputError, match=rf"week '{text}' is not an ISO week; write it like 2026-W47"):
        metrics.iso_week(text)


@pytest.mark.parametrize("text", ["9999-W52", "0001-W01", "2262-W20"])
def test_iso_week_refuses_years_no_bulletin_can_cover_instead_of_overflowing(text):
    with pytest.raises(InputError, match=rf"week '{text}' is outside the years 1970–2100"):
        metrics.iso_week(text)


# -- the grid tree ------------------------------------------------------------------------------


def test_unit_of_micro_walks_up_to_the_level():
    grids = hierarchy()
    assert tree_mod.unit_of_micro(grids, level="community").to_dict() == {
        "G1-01": "C1", "G1-02": "C1", "G2-01": "C2", "G2-02": "C2"}
    assert tree_mod.unit_of_micro(grids, level="street").to_dict() == {
        "G1-01": "S1", "G1-02": "S1", "G2-01": "S2", "G2-02": "S2"}
    assert set(tree_mod.unit_of_micro(grids, level="district")) == {"410102"}
    assert tree_mod.unit_of_micro(grids, level="micro").to_dict() == {c: c for c in ("G1-01", "G1-02", "G2-01", "G2-02")}


def test_micro_codes_under_lists_the_descendant_micro_grids():
    grids = hierarchy()
    assert tree_mod.micro_codes_under(grids, None) is None
    assert tree_mod.micro_codes_under(grids, "410102") == ["G1-01", "G1-02", "G2-01", "G2-02"]
    assert tree_mod.micro_codes_under(grids, "S2") == ["G2-01", "G2-02"]
    assert tree_mod.micro_codes_under(grids, "C1") == ["G1-01", "G1-02"]
    assert tree_mod.micro_codes_under(grids, "G1") == ["G1-01", "G1-02"]
    assert tree_mod.micro_codes_under(grids, "G2-02") == ["G2-02"]
    assert tree_mod.micro_codes_under(grids, "Z1") == []  # exclusive grids hold no micro-grids


def test_child_level():
    assert [tree_mod.child_level(lv) for lv in tree_mod.LEVELS] == [
        "street", "community", "grid", "micro", None]


# -- rates ----------------------------------------------------------------------------------------


def test_with_rates_divides_by_cases_due_and_households():
    counts = pd.DataFrame({"received": [6, 2, 0], "completed": [3, 0, 0], "due": [4, 0, 0], "on_time": [2, 0, 0],
                           "open": [3, 2, 0], "overdue": [2, 1, 0], "households": [300, None, 0]})
    out = metrics.with_rates(counts)
    assert out["completion_rate"][0] == 0.75 and out["on_time_rate"][0] == 0.5
    assert math.isnan(out["completion_rate"][1]) and math.isnan(out["on_time_rate"][1])  # nothing due
    assert out["per_1000"][0] == pytest.approx(20.0)  # 6 / 300 households × 1000
    assert math.isnan(out["per_1000"][1]) and math.isnan(out["per_1000"][2])  # unknown or no households
    assert "completion_rate" not in counts  # the input is left alone
    assert "per_1000" not in metrics.with_rates(counts.drop(columns="households"))


def test_change_is_none_when_either_side_is_unknown():
    assert metrics.change(0.75, 0.5) == 0.25
    assert metrics.change(None, 0.5) is None and metrics.change(0.5, None) is None


# -- roll-ups ---------------------------------------------------------------------------------


def by_code(frame: pd.DataFrame) -> dict[str, tuple]:
    return {r.code: tuple(int(getattr(r, c)) for c in metrics.COUNT_COLUMNS) for r in frame.itertuples()}


def test_rollup_to_communities_sums_their_micro_grids_and_ignores_the_unassigned():
    out = metrics.rollup(MICRO, hierarchy(), level="community")
    assert by_code(out) == {"C1": (3, 3, 3, 2, 0, 0), "C2": (2, 0, 1, 0, 2, 1)}
    c1 = out.set_index("code").loc["C1"]
    assert c1["completion_rate"] == 1.0 and c1["on_time_rate"] == pytest.approx(2 / 3)
    assert c1["name"] == "甲社区" and c1["parent_code"] == "S1" and c1["level"] == "community"
    assert out.crs.to_epsg() == 4326 and c1.geometry.equals(hierarchy().set_index("code").loc["C1"].geometry)


def test_rollup_to_every_level():
    grids = hierarchy()
    assert by_code(metrics.rollup(MICRO, grids, level="street")) == {
        "S1": (3, 3, 3, 2, 0, 0), "S2": (2, 0, 1, 0, 2, 1)}
    assert by_code(metrics.rollup(MICRO, grids, level="grid")) == {
        "G1": (3, 3, 3, 2, 0, 0), "G2": (2, 0, 1, 0, 2, 1)}
    assert by_code(metrics.rollup(MICRO, grids, level="district")) == {"410102": (5, 3, 4, 2, 2, 1)}
    micro = metrics.rollup(MICRO, grids, level="micro")
    assert by_code(micro) == {"G1-01": (2, 2, 2, 1, 0, 0), "G1-02": (1, 1, 1, 1, 0, 0),
                              "G2-01": (2, 0, 1, 0, 2, 1), "G2-02": (0, 0, 0, 0, 0, 0)}


def test_units_without_cases_are_kept_with_zeros_and_unknown_rates():
    out = metrics.rollup(stats([]), hierarchy(), level="micro").set_index("code")
    assert sorted(out.index) == ["G1-01", "G1-02", "G2-01", "G2-02"]
    assert (out[metrics.COUNT_COLUMNS] == 0).all().all()
    assert out["completion_rate"].isna().all() and out["on_time_rate"].isna().all()
    assert (out["per_1000"] == 0).all()
    g22 = metrics.rollup(MICRO, hierarchy(), level="micro").set_index("code").loc["G2-02"]
    assert g22["received"] == 0 and math.isnan(g22["completion_rate"])


def test_per_1000_uses_the_units_households():
    out = metrics.rollup(MICRO, hierarchy(), level="micro").set_index("code")
    assert out.loc["G1-01", "per_1000"] == pytest.approx(2 / 300 * 1000)
    assert out.loc["G1-02", "per_1000"] == pytest.approx(1 / 400 * 1000)
    assert out.loc["G2-01", "per_1000"] == pytest.approx(2 / 350 * 1000)
    assert out.loc["G2-02", "per_1000"] == 0.0


def test_within_restricts_to_descendants():
    grids = hierarchy()
    assert sorted(metrics.rollup(MICRO, grids, level="micro", within="C1")["code"]) == ["G1-01", "G1-02"]
    assert sorted(metrics.rollup(MICRO, grids, level="micro", within="S2")["code"]) == ["G2-01", "G2-02"]
    assert sorted(metrics.rollup(MICRO, grids, level="community", within="410102")["code"]) == ["C1", "C2"]
    assert by_code(metrics.rollup(MICRO, grids, level="community", within="S2")) == {"C2": (2, 0, 1, 0, 2, 1)}
    # a unit at the level asked for is its own content
    assert by_code(metrics.rollup(MICRO, grids, level="community", within="C1")) == {"C1": (3, 3, 3, 2, 0, 0)}
    assert list(metrics.rollup(MICRO, grids, level="micro", within="G2-02")["code"]) == ["G2-02"]


# -- totals -------------------------------------------------------------------------------------


def test_totals_count_every_case_including_the_unassigned():
    t = metrics.totals(MICRO)
    assert {k: t[k] for k in metrics.COUNT_COLUMNS} == {
        "received": 9, "completed": 4, "due": 6, "on_time": 3, "open": 5, "overdue": 2}
    assert t["completion_rate"] == pytest.approx(4 / 6) and t["on_time_rate"] == 0.5
    assert all(isinstance(v, float) for v in t.values())


def test_totals_of_nothing_are_zero_with_unknown_rates():
    t = metrics.totals(stats([]))
    assert {k: t[k] for k in metrics.COUNT_COLUMNS} == dict.fromkeys(metrics.COUNT_COLUMNS, 0.0)
    assert t["completion_rate"] is None and t["on_time_rate"] is None


# -- ranking ------------------------------------------------------------------------------------


def units(rows: list[tuple]) -> pd.DataFrame:
    """code, received, completed, due, on_time, overdue → with rates."""
    frame = pd.DataFrame(rows, columns=["code", "received", "completed", "due", "on_time", "overdue"])
    return metrics.with_rates(frame.assign(open=frame["overdue"]))


def ranks(frame: pd.DataFrame) -> dict[str, object]:
    return {r.code: (None if pd.isna(r.rank) else int(r.rank)) for r in frame.itertuples()}


def test_ranking_by_completion_rate_and_units_with_few_cases_due_are_unranked():
    table = units([
        ("A", 20, 10, 20, 10, 0),    # 50 %
        ("B", 20, 18, 20, 10, 2),    # 90 %
        ("C", 3, 3, 3, 3, 0),        # 100 % but only 3 due: unranked
        ("D", 40, 9, 10, 9, 1),      # 90 %, 10 due: just eligible
        ("E", 9, 0, 9, 0, 9),        # 0 %, 9 due: unranked
    ])
    out = metrics.ranking(table, min_due=10)
    assert ranks(out) == {"D": 1, "B": 2, "A": 3, "C": None, "E": None}
    # ranked first, in rank order; the unranked after them, most cases first
    assert list(out["code"]) == ["D", "B", "A", "E", "C"]
    assert str(out["rank"].dtype) == "Int64"
    assert ranks(metrics.ranking(table, min_due=1)) == {"C": 1, "D": 2, "B": 3, "A": 4, "E": 5}


def test_ties_are_broken_by_on_time_rate_then_fewer_overdue():
    table = units([
        ("late", 10, 8, 10, 5, 0),     # 80 %, 50 % on time
        ("prompt", 10, 8, 10, 7, 2),   # 80 %, 70 % on time
        ("more_overdue", 10, 8, 10, 5, 2),
        ("best", 10, 10, 10, 10, 0),
    ])
    assert ranks(metrics.ranking(table, min_due=10)) == {"best": 1, "prompt": 2, "late": 3, "more_overdue": 4}


def test_ranking_leaves_its_input_alone_and_keeps_every_unit():
    table = units([("A", 10, 5, 10, 5, 0), ("B", 1, 1, 1, 1, 0)])
    out = metrics.ranking(table)
    assert "rank" not in table and len(out) == 2
    assert ranks(out) == {"A": 1, "B": None}  # min_due defaults to 10
