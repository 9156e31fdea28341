"""Tests for gis.dispatch: rules file, categories, working-time calendar, lifecycle, tiers.

Calendar facts used below, checked against chinese_calendar 1.11 (the State
Council notices):
- National Day / Mid-Autumn 2025: 2025-10-01..08 off; Sunday 2025-09-28 and
  Saturday 2025-10-11 are make-up working days (调休).
- Spring Festival 2025: 2025-01-28..02-04 off; Sunday 2025-01-26 and
  Saturday 2025-02-08 are worked.
- Spring Festival 2026: 2026-02-15..23 off; Saturday 2026-02-14 and
  Saturday 2026-02-28 are worked.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.core.china_time import CHINA_TZ, is_working_day
from gis.core.dispatch import assignee_for
from gis.core.rules import config, deadlines
from gis.core.rules.config import Category, Rules, category_from_text, load_rules
from gis.core.rules.deadlines import add_working_time, due_at
from gis.core.rules.lifecycle import (
    STATUSES,
    is_open,
    is_overdue,
    status_from_text,
    status_name_zh,
)
from gis.core.rules.tiers import escalated_tier, next_escalation
from gis.core.rules.transitions import allowed_next, check_transition
from gis.errors import GisError, InputError, TransitionError


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


def cst(*args: int) -> datetime:
    """A China-time datetime."""
    return datetime(*args, tzinfo=CHINA_TZ)


# --- rules file -----------------------------------------------------------

def test_rules_file_loads_and_every_category_has_group_tier_and_one_limit(rules):
    assert rules.version == 1
    assert len(rules.categories) >= 18
    for category in rules.categories.values():
        assert isinstance(category, Category)
        assert category.group in rules.groups
        assert category.group_name_zh == rules.groups[category.group]
        assert category.tier in ("general", "complex", "hard")
        assert (category.limit_hours is None) != (category.limit_days is None)
        assert category.name_zh and category.lead_department


def test_category_codes_are_the_stable_ones_named_in_the_issue(rules):
    for code in ("env.exposed_garbage", "safety.fire", "municipal.manhole",
                 "order.ground_lock", "ad.flyer", "dispute", "livelihood",
                 "enterprise", "wish", "other"):
        assert code in rules.categories


def test_demo_shares_sum_to_one(rules):
    assert math.isclose(sum(c.share for c in rules.categories.values()), 1.0)


def test_heat_tag_is_hazard_for_safety_garbage_for_environment_none_otherwise(rules):
    for category in rules.categories.values():
        expected = {"safety": "hazard", "env": "garbage"}.get(category.group)
        assert category.heat == expected, category.code


def test_sample_limits_match_the_issue(rules):
    assert rules.categories["env.exposed_garbage"].limit_hours == 2
    assert rules.categories["municipal.manhole"].limit_hours == 2
    assert rules.categories["safety.fire"].limit_hours == 1
    assert rules.categories["dispute"].limit_days == 5
    assert rules.categories["enterprise"].limit_days == 3
    assert rules.categories["dispute"].limit_zh == "5个工作日"


def test_working_periods_come_from_the_rules_file(rules):
    assert rules.work_periods == ((time(9), time(12)), (time(13, 30), time(17, 30)))
    assert rules.work_hours_per_day == 7


def test_default_rules_are_read_once(rules):
    assert load_rules() is rules


def test_every_status_has_a_transition_entry_and_closed_is_final(rules):
    assert set(rules.transitions) == set(STATUSES)
    assert rules.transitions["closed"] == ()


def _write_rules(tmp_path, old: str, new: str):
    text = config.DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "dispatch.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_bad_tier_in_rules_file_names_the_key_and_the_choices(tmp_path):
    path = _write_rules(tmp_path, 'tier = "complex"\nlimit_days = 3\nshare = 0.04',
                        'tier = "urgent"\nlimit_days = 3\nshare = 0.04')
    with pytest.raises(InputError, match=r"categories\[7\]\.tier.*'urgent'.*use one of "
                                         r"general, complex, hard"):
        load_rules(path)


def test_category_with_both_limits_is_refused(tmp_path):
    path = _write_rules(tmp_path, "limit_hours = 2\nshare = 0.14",
                        "limit_hours = 2\nlimit_days = 1\nshare = 0.14")
    with pytest.raises(InputError, match=r"categories\[0\].*both limit_hours and "
                                         r"limit_days.*give exactly one"):
        load_rules(path)


def test_shares_not_summing_to_one_are_refused(tmp_path):
    path = _write_rules(tmp_path, "share = 0.14", "share = 0.24")
    with pytest.raises(InputError, match=r"shares add up to 1\.1000.*sum to 1"):
        load_rules(path)


def test_misspelt_key_in_rules_file_is_named(tmp_path):
    path = _write_rules(tmp_path, "limit_hours = 2\nshare = 0.14",
                        "limt_hours = 2\nshare = 0.14")
    with pytest.raises(InputError, match=r"unknown key categories\[0\]\.limt_hours"):
        load_rules(path)


def test_unknown_stage_in_transitions_is_refused(tmp_path):
    path = _write_rules(tmp_path, 'verified = ["closed", "reworked"]', 'verified = ["archived"]')
    with pytest.raises(InputError, match=r"lifecycle\.transitions\.verified.*'archived'"
                                         r".*use one of received"):
        load_rules(path)


def test_missing_or_broken_rules_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_rules(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_rules(broken)


# --- categories from text -------------------------------------------------

def test_category_from_code_is_exact_and_case_insensitive(rules):
    assert category_from_text("env.exposed_garbage", rules=rules) == ("env.exposed_garbage", None)
    assert category_from_text(" Safety.Fire ", rules=rules) == ("safety.fire", None)


def test_category_from_chinese_sub_type_and_alias(rules):
    assert category_from_text("暴露垃圾", rules=rules) == ("env.exposed_garbage", None)
    assert category_from_text("私装地锁", rules=rules) == ("order.ground_lock", None)
    assert category_from_text("消防", rules=rules) == ("safety.fire", None)
    assert category_from_text("井 盖 破 损", rules=rules) == ("municipal.manhole", None)


def test_category_from_group_name_is_the_groups_first_type(rules):
    assert category_from_text("环境卫生", rules=rules) == ("env.exposed_garbage", None)
    assert category_from_text("安全隐患", rules=rules) == ("safety.fire", None)
    assert category_from_text("矛盾纠纷", rules=rules) == ("dispute", None)


def test_unknown_category_becomes_other_with_a_warning(rules):
    code, warning = category_from_text("外星人入侵", rules=rules)
    assert code == "other"
    assert "外星人入侵" in warning and "其他" in warning and "暴露垃圾" in warning


def test_empty_category_becomes_other_with_a_warning(rules):
    code, warning = category_from_text("  ", rules=rules)
    assert code == "other" and "empty" in warning


# --- statuses -------------------------------------------------------------

def test_statuses_are_ordered_with_chinese_names():
    assert STATUSES[:6] == ("received", "dispatched", "in_progress", "resolved",
                            "verified", "closed")
    assert [status_name_zh(s) for s in STATUSES] == [
        "受理", "派遣", "处置", "反馈", "核查", "结案", "退回", "返工", "延期", "督办"]


@pytest.mark.parametrize(("text", "code"), [
    ("received", "received"),
    ("IN_PROGRESS", "in_progress"),
    (" in progress ", "in_progress"),
    ("In-Progress", "in_progress"),
    ("处置", "in_progress"),
    (" 结案 ", "closed"),
    ("督办", "supervised"),
    ("open", "received"),
    ("OPEN", "received"),
    ("Closed", "closed"),
])
def test_status_from_text_accepts_code_chinese_and_open311(text, code):
    assert status_from_text(text) == code


def test_unknown_status_lists_the_accepted_values():
    with pytest.raises(InputError, match=r"status 'pending' is not known; use one of "
                                         r"received \(受理\).*Open311 open / closed"):
        status_from_text("pending")
    with pytest.raises(InputError, match="is not known"):
        status_name_zh("pending")


# --- calendar ---------------------------------------------------------------

def test_working_days_follow_holidays_and_make_up_days():
    assert is_working_day(date(2025, 9, 28))       # Sunday, 调休 make-up day
    assert not is_working_day(date(2025, 10, 1))   # National Day
    assert not is_working_day(date(2025, 10, 8))   # last day of the holiday
    assert is_working_day(date(2025, 10, 11))      # Saturday, 调休 make-up day
    assert not is_working_day(date(2025, 10, 12))  # ordinary Sunday
    assert not is_working_day(date(2026, 2, 17))   # Spring Festival 2026


def test_years_outside_the_calendar_fall_back_to_monday_to_friday():
    assert not is_working_day(date(2099, 1, 3))    # a Saturday
    assert is_working_day(date(2099, 1, 5))        # a Monday
    assert is_working_day(date(2099, 1, 1))        # New Year unknown: a Thursday counts


def test_working_hours_roll_over_lunch(rules):
    assert add_working_time(cst(2025, 9, 22, 11), hours=2, rules=rules) == cst(2025, 9, 22, 14, 30)
    assert add_working_time(cst(2025, 9, 22, 12, 30), hours=1, rules=rules) == cst(2025, 9, 22, 14, 30)


def test_working_hours_roll_over_evening_to_next_morning(rules):
    # Monday 16:30 + 2 h: 1 h until 17:30, 1 h from 09:00 Tuesday.
    assert add_working_time(cst(2025, 9, 22, 16, 30), hours=2, rules=rules) == cst(2025, 9, 23, 10)
    # Before opening, the clock starts at 09:00.
    assert add_working_time(cst(2025, 9, 22, 7), hours=1, rules=rules) == cst(2025, 9, 22, 10)


def test_working_hours_ending_at_a_period_end_stop_there(rules):
    assert add_working_time(cst(2025, 9, 22, 11), hours=1, rules=rules) == cst(2025, 9, 22, 12)


def test_working_hours_on_a_make_up_sunday(rules):
    # Exposed garbage (2 h) reported on Saturday 2025-09-27: Sunday 09-28 is worked.
    assert due_at(cst(2025, 9, 27, 10), "env.exposed_garbage", rules=rules) == cst(2025, 9, 28, 11)


def test_working_hours_across_the_national_day_holiday(rules):
    # Tuesday 2025-09-30 17:00 + 2 h: 0.5 h that day, then 1.5 h on Thursday 10-09.
    assert due_at(cst(2025, 9, 30, 17), "env.exposed_garbage", rules=rules) == cst(2025, 10, 9, 10, 30)


def test_working_days_across_a_make_up_weekend(rules):
    # Enterprise case (3 days) on Friday 2025-09-26: Sunday 09-28, Monday 29, Tuesday 30.
    assert due_at(cst(2025, 9, 26, 10), "enterprise", rules=rules) == cst(2025, 9, 30, 17, 30)
    # Dispute (5 days) on Tuesday 2025-09-30: 10-09, 10-10, Saturday 10-11, 10-13, 10-14.
    assert due_at(cst(2025, 9, 30, 10), "dispute", rules=rules) == cst(2025, 10, 14, 17, 30)


def test_working_days_across_spring_festival(rules):
    # Dispute on Monday 2025-01-27: 02-05, 02-06, 02-07, Saturday 02-08, 02-10.
    assert due_at(cst(2025, 1, 27, 15), "dispute", rules=rules) == cst(2025, 2, 10, 17, 30)
    # 2 h reported on Saturday 2026-02-14 (worked) at 16:30: 1 h, then 2026-02-24.
    assert due_at(cst(2026, 2, 14, 16, 30), "env.exposed_garbage",
                  rules=rules) == cst(2026, 2, 24, 10)


def test_naive_and_other_zone_inputs_mean_the_same_instant(rules):
    naive = add_working_time(datetime(2025, 9, 22, 11), hours=2, rules=rules)
    utc = add_working_time(datetime(2025, 9, 22, 3, tzinfo=timezone.utc), hours=2, rules=rules)
    assert naive == utc == cst(2025, 9, 22, 14, 30)
    assert naive.tzinfo is not None and naive.utcoffset() == timedelta(hours=8)


def test_another_tier_uses_that_tiers_limit(rules):
    start = cst(2025, 9, 22, 10)  # Monday
    assert due_at(start, "safety.fire", rules=rules) == cst(2025, 9, 22, 11)
    assert due_at(start, "safety.fire", rules=rules, tier="general") == cst(2025, 9, 22, 11)
    assert due_at(start, "safety.fire", rules=rules, tier="complex") == cst(2025, 9, 25, 17, 30)


def test_unknown_category_or_negative_time_is_refused(rules):
    with pytest.raises(InputError, match="category 'nope' is not known"):
        due_at(cst(2025, 9, 22, 10), "nope", rules=rules)
    with pytest.raises(InputError, match="hours is -1"):
        add_working_time(cst(2025, 9, 22, 10), hours=-1, rules=rules)


_instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31))
_quarters = st.integers(min_value=1, max_value=200).map(lambda q: q / 4)


@settings(max_examples=200, deadline=None)
@given(start=_instants, hours=_quarters)
def test_working_hours_always_end_inside_a_working_period(start, hours):
    rules = load_rules()
    end = add_working_time(start, hours=hours, rules=rules)
    assert is_working_day(end.date())
    assert any(a < end.time() <= b for a, b in rules.work_periods)


@settings(max_examples=200, deadline=None)
@given(start=_instants, first=_quarters, second=_quarters)
def test_adding_working_hours_in_two_steps_equals_one_step(start, first, second):
    rules = load_rules()
    two_steps = add_working_time(add_working_time(start, hours=first, rules=rules),
                                 hours=second, rules=rules)
    assert two_steps == add_working_time(start, hours=first + second, rules=rules)


# --- lifecycle ------------------------------------------------------------

def test_main_path_is_allowed(rules):
    path = ["received", "dispatched", "in_progress", "resolved", "verified", "closed"]
    for current, new in zip(path, path[1:]):
        check_transition(current, new, actor="王芳", handler="李强", rules=rules)


def test_illegal_transition_is_refused_with_the_allowed_ones_listed(rules):
    with pytest.raises(TransitionError, match=r"cannot go from 'closed' \(结案\) to "
                                              r"'in_progress' \(处置\); allowed from closed: "
                                              r"none, closed is final"):
        check_transition("closed", "in_progress", actor="王芳", rules=rules)
    with pytest.raises(TransitionError, match=r"cannot go from 'received' \(受理\) to "
                                              r"'resolved' \(反馈\); allowed from received: "
                                              r"dispatched \(派遣\), closed \(结案\)"):
        check_transition("received", "resolved", actor="王芳", rules=rules)


def test_transition_accepts_chinese_stage_names(rules):
    check_transition("派遣", "处置", actor="李强", rules=rules)
    with pytest.raises(TransitionError, match="cannot go from 'resolved'"):
        check_transition("反馈", "结案", actor="王芳", rules=rules)


def test_return_without_a_reason_is_refused(rules):
    with pytest.raises(TransitionError, match=r"'returned' \(退回\) needs a reason"):
        check_transition("dispatched", "returned", actor="李强", note="  ", rules=rules)
    check_transition("dispatched", "returned", actor="李强", note="不属于本网格", rules=rules)


def test_verification_by_the_handler_is_refused(rules):
    with pytest.raises(TransitionError, match=r"'李强' resolved this case.*someone other "
                                              r"than the handler"):
        check_transition("resolved", "verified", actor="李强", handler=" 李强", rules=rules)
    check_transition("resolved", "verified", actor="王芳", handler="李强", rules=rules)


def test_transition_without_an_actor_is_refused(rules):
    with pytest.raises(TransitionError, match="no actor given"):
        check_transition("received", "dispatched", actor="", rules=rules)


def test_failed_verification_goes_to_rework_and_back_to_work(rules):
    assert "reworked" in allowed_next("resolved", rules=rules)
    check_transition("resolved", "reworked", actor="王芳", handler="李强", rules=rules)
    check_transition("reworked", "in_progress", actor="李强", rules=rules)


def test_allowed_next_lists_the_rules_order(rules):
    assert allowed_next("received", rules=rules) == ("dispatched", "closed", "supervised")
    assert allowed_next("closed", rules=rules) == ()
    assert allowed_next("督办", rules=rules) == ("dispatched", "in_progress", "resolved")


def test_open_statuses_exclude_resolved_verified_closed():
    assert [s for s in STATUSES if not is_open(s)] == ["resolved", "verified", "closed"]
    assert is_open("returned") and is_open("supervised")


def test_overdue_only_when_open_and_past_due():
    due = cst(2025, 9, 22, 11)
    assert is_overdue("in_progress", due, cst(2025, 9, 22, 11, 1))
    assert not is_overdue("in_progress", due, due)
    assert not is_overdue("closed", due, cst(2025, 12, 1, 9))
    assert not is_overdue("received", None, cst(2025, 12, 1, 9))
    assert is_overdue("dispatched", datetime(2025, 9, 22, 11),
                      datetime(2025, 9, 22, 3, 1, tzinfo=timezone.utc))


# --- tiers and assignees --------------------------------------------------

def test_escalation_chain_general_complex_hard_then_supervision():
    assert escalated_tier("general") == "complex"
    assert escalated_tier("complex") == "hard"
    assert escalated_tier("hard") == "hard"
    due, late = cst(2025, 9, 22, 11), cst(2025, 9, 22, 15)
    assert next_escalation("general", due, late) == "complex"
    assert next_escalation("complex", due, late) == "hard"
    assert next_escalation("hard", due, late) == "supervised"
    assert next_escalation("general", due, cst(2025, 9, 22, 10)) is None


def test_unknown_tier_is_refused():
    with pytest.raises(InputError, match="tier 'urgent' is not known; use one of general"):
        escalated_tier("urgent")


@pytest.fixture()
def staff() -> pd.DataFrame:
    return pd.DataFrame({
        "grid_code": ["C01", "M01", "M01", "M02", "X01", "C01"],
        "role": ["网格长", "专职网格员", "微网格长", "微网格长", "专属网格负责人", "网格长"],
        "name": ["赵社区", "钱专职", "孙微", "李微", "周专属", "陈社区"],
    })


def test_general_case_goes_to_the_exclusive_grid_manager_first(staff):
    kwargs = dict(micro_code="M01", community_code="C01", street_code="S01", staff=staff)
    assert assignee_for(tier="general", exclusive_code="X01", **kwargs) == "周专属"
    assert assignee_for(tier="general", exclusive_code=None, **kwargs) == "钱专职"
    # An exclusive grid with nobody recorded falls back to the micro-grid.
    assert assignee_for(tier="general", exclusive_code="X99", **kwargs) == "钱专职"


def test_general_case_without_full_time_worker_goes_to_the_community_head_never_the_micro_head(staff):
    # the 微网格长 (李微) is a volunteer to inform, not the one a case is sent to
    assert assignee_for(tier="general", micro_code="M02", exclusive_code=None,
                        community_code="C01", street_code="S01", staff=staff) == "赵社区"


def test_complex_case_goes_to_the_community_grid_head_first_by_name(staff):
    assert assignee_for(tier="complex", micro_code="M01", exclusive_code=None,
                        community_code="C01", street_code="S01", staff=staff) == "赵社区"
    assert assignee_for(tier="complex", micro_code="M01", exclusive_code=None,
                        community_code="C99", street_code="S01", staff=staff) is None


def test_hard_case_goes_to_the_street_coordination_desk(staff):
    assert assignee_for(tier="hard", micro_code="M01", exclusive_code=None,
                        community_code="C01", street_code="410102001",
                        staff=staff) == "街道吹哨报到平台(410102001)"


def test_staff_list_without_a_column_is_refused():
    with pytest.raises(InputError, match="lacks column name"):
        assignee_for(tier="general", micro_code="M01", exclusive_code=None,
                     community_code=None, street_code=None,
                     staff=pd.DataFrame({"grid_code": ["M01"], "role": ["微网格长"]}))


def test_transition_errors_are_gis_errors_for_the_cli_and_app():
    assert issubclass(TransitionError, InputError)
    assert issubclass(TransitionError, GisError)


# --- deadlines for many cases at once ----------------------------------------

def _random_instants(n: int, seed: int) -> pd.Series:
    """China-time instants across 2024-2026: random seconds, plus the hard cases
    (period edges, lunch, evenings, midnight) and the holiday / 调休 days above."""
    import numpy as np

    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", "2026-12-31", freq="D").to_numpy()
    special = pd.to_datetime([
        "2025-09-27", "2025-09-28", "2025-09-30", "2025-10-01", "2025-10-08", "2025-10-11",
        "2025-01-26", "2025-01-27", "2025-02-04", "2025-02-08", "2026-02-13", "2026-02-14",
        "2026-02-23", "2026-02-28", "2024-12-31", "2026-12-31"]).to_numpy()
    day = np.where(rng.random(n) < 0.2, rng.choice(special, n), rng.choice(days, n))
    edges_s = np.array([0, 8 * 3600 + 3599, 9 * 3600, 10 * 3600, 12 * 3600, 12 * 3600 + 1,
                        12 * 3600 + 1800, 13 * 3600 + 1800, 17 * 3600 + 1800,
                        17 * 3600 + 1801, 20 * 3600, 86399])
    seconds = np.where(rng.random(n) < 0.3, rng.choice(edges_s, n), rng.integers(0, 86400, n))
    local = pd.Series(day + seconds.astype("timedelta64[s]")).dt.tz_localize(CHINA_TZ)
    return local.dt.tz_convert("UTC")   # another zone: the same instants


def test_due_at_many_equals_due_at_for_every_category(rules):
    instants = _random_instants(2000, seed=7)
    for code in rules.categories:
        categories = pd.Series(code, index=instants.index)
        many = deadlines.due_at_many(instants, categories, rules=rules)
        expected = [due_at(t.to_pydatetime(), code, rules=rules) for t in instants]
        assert str(many.dt.tz) == "Asia/Shanghai"
        mismatches = [(t, e, m) for t, e, m in zip(instants, expected, many) if e != m]
        assert not mismatches, (code, mismatches[:3])


def test_due_at_many_with_mixed_categories_and_tiers(rules):
    import numpy as np

    instants = _random_instants(3000, seed=11)
    instants.index = instants.index * 3 + 5      # any index is kept
    rng = np.random.default_rng(3)
    categories = pd.Series(rng.choice(list(rules.categories), len(instants)), index=instants.index)
    tiers = pd.Series(rng.choice(np.array(["general", "complex", "hard", None], dtype=object),
                                 len(instants)), index=instants.index, dtype=object)
    many = deadlines.due_at_many(instants, categories, rules=rules, tiers=tiers)
    assert many.index.equals(instants.index)
    for t, c, tier, m in zip(instants, categories, tiers, many):
        assert m == due_at(t.to_pydatetime(), c, rules=rules,
                           tier=tier if isinstance(tier, str) else None), (t, c, tier)


def test_due_at_many_reads_naive_as_china_time_and_keeps_missing(rules):
    naive = pd.Series(pd.to_datetime(["2025-09-30 17:00", None, "2025-09-27 10:00"]))
    due = deadlines.due_at_many(naive, pd.Series(["env.exposed_garbage"] * 3), rules=rules)
    assert due.iloc[0] == cst(2025, 10, 9, 10, 30)
    assert pd.isna(due.iloc[1])
    assert due.iloc[2] == cst(2025, 9, 28, 11)


def test_due_at_many_refuses_an_unknown_category(rules):
    instants = pd.Series(pd.to_datetime(["2025-09-22 10:00"]).tz_localize(CHINA_TZ))
    with pytest.raises(InputError, match="category 'nope' is not known"):
        deadlines.due_at_many(instants, pd.Series(["nope"]), rules=rules)
    with pytest.raises(InputError, match="tier 'top' is not known"):
        deadlines.due_at_many(instants, pd.Series(["dispute"]), rules=rules,
                             tiers=pd.Series(["top"]))


def test_add_working_time_many_equals_add_working_time(rules):
    import numpy as np

    instants = _random_instants(1500, seed=5)
    rng = np.random.default_rng(5)
    hours = np.round(rng.exponential(6, len(instants)), 4)
    days = rng.integers(0, 4, len(instants))
    many = deadlines.add_working_time_many(instants, hours=hours, days=days, rules=rules)
    for t, h, d, m in zip(instants, hours, days, many):
        assert m == add_working_time(t.to_pydatetime(), hours=float(h), days=int(d), rules=rules)


def test_due_at_many_is_fast_for_a_million_rows(rules):
    import time as clock

    import numpy as np

    rng = np.random.default_rng(1)
    lo, hi = pd.Timestamp("2024-11-26", tz=CHINA_TZ).value, pd.Timestamp("2026-11-26", tz=CHINA_TZ).value
    instants = pd.Series(pd.to_datetime(rng.integers(lo, hi, 1_000_000), utc=True))
    categories = pd.Series(rng.choice(list(rules.categories), len(instants)))
    started = clock.perf_counter()
    due = deadlines.due_at_many(instants, categories, rules=rules)
    print(f"\ndue_at_many: {len(due):,} rows in {clock.perf_counter() - started:.2f} s")
    assert due.notna().all()
