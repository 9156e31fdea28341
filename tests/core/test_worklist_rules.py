"""工作台 rules (pure): the bucket boundaries in working time on the Chinese calendar, the working
hours left or overdue, the urgency order and how time left reads.

The clock is fixed at Wednesday 2025-12-31 16:00 China time, just before the New Year holiday:
1–3 January 2026 are days off and Sunday 4 January is a make-up working day (调休). With the
working periods 09:00–12:00 and 13:30–17:30 (7 h a day), 24 working hours from then end on
Wednesday 7 January at 10:30, while 24 wall-clock hours end on New Year's Day at 16:00.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from gis.core import worklist
from gis.core.china_time import CHINA_TZ

NOW = datetime(2025, 12, 31, 16, 0, tzinfo=CHINA_TZ)


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=CHINA_TZ)


def test_the_due_soon_window_is_24_working_hours_across_the_new_year_holiday():
    cut = worklist.cutoffs(NOW)
    assert cut.now == NOW
    assert cut.today_start == datetime(2025, 12, 31, 0, 0, tzinfo=CHINA_TZ)
    assert cut.due_soon_until == datetime(2026, 1, 7, 10, 30, tzinfo=CHINA_TZ)
    assert cut.tomorrow_start == datetime(2026, 1, 1, 0, 0, tzinfo=CHINA_TZ)


def test_a_naive_now_is_china_time():
    assert worklist.cutoffs(datetime(2025, 12, 31, 16, 0)) == worklist.cutoffs(NOW)


def test_working_hours_left_count_only_working_time_and_go_negative_when_overdue():
    due = pd.Series([at("2026-01-04 10:30"),   # the 调休 Sunday: 1.5 h on Wednesday + 1.5 h
                     at("2026-01-06 15:00"),   # 1.5 + 7 (Sun) + 7 (Mon) + 4.5
                     at("2026-01-08 09:30"),   # 1.5 + 3 × 7 + 7 + 0.5
                     at("2026-01-02 12:00"),   # a holiday: only Wednesday's last 1.5 h lie between
                     at("2025-12-30 17:30"),   # passed: 09:00–12:00 and 13:30–16:00 today
                     pd.NaT])
    left = worklist.working_hours_left(due, now=NOW)
    np.testing.assert_allclose(left.to_numpy()[:5], [3.0, 20.0, 30.0, 1.5, -5.5])
    assert np.isnan(left.iloc[5])


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source", "external_id", "status", "reported_at", "due_at"]).assign(
        reported_at=lambda f: pd.to_datetime(f["reported_at"]).dt.tz_localize(CHINA_TZ),
        due_at=lambda f: pd.to_datetime(f["due_at"]).dt.tz_localize(CHINA_TZ))


def test_buckets_use_working_time_today_in_china_time_and_only_open_cases_fall_due():
    cases = frame([
        ("12345", "NEW", "received", "2025-12-31 08:10", "2026-01-09 17:30"),
        ("12345", "NEW-DONE", "closed", "2025-12-31 09:00", "2026-01-09 17:30"),
        ("12345", "YESTERDAY-LATE", "received", "2025-12-30 23:59", "2026-01-09 17:30"),
        ("12345", "SOON-3H", "dispatched", "2025-12-20 10:00", "2026-01-04 10:30"),
        ("12345", "SOON-20H", "in_progress", "2025-12-20 10:00", "2026-01-06 15:00"),
        ("12345", "LATER-30H", "in_progress", "2025-12-20 10:00", "2026-01-08 09:30"),
        ("12345", "OVERDUE", "dispatched", "2025-12-20 10:00", "2025-12-30 17:30"),
        ("12345", "OVERDUE-DONE", "resolved", "2025-12-20 10:00", "2025-12-30 17:30"),
        ("12345", "SUPERVISED", "supervised", "2025-12-10 10:00", "2025-12-25 17:30"),
    ])
    tagged = worklist.tag_buckets(cases, worklist.cutoffs(NOW)).set_index("external_id")
    members = {b: sorted(tagged.index[tagged[b]]) for b in worklist.BUCKETS_ZH}
    assert members == {"new_today": ["NEW", "NEW-DONE"],
                       "due_soon": ["SOON-20H", "SOON-3H"],
                       "overdue": ["OVERDUE", "SUPERVISED"],
                       "supervised": ["SUPERVISED"]}
    assert worklist.bucket_counts(tagged) == {"new_today": 2, "due_soon": 2, "overdue": 2, "supervised": 1}
    # SOON-20H is due in 20 working hours but 119 wall-clock hours: a 24 h window would miss it
    assert at("2026-01-06 15:00") - NOW > pd.Timedelta(hours=24)


def test_urgency_puts_supervised_then_most_overdue_then_soonest_due_and_done_cases_last():
    cases = frame([
        ("12345", "DONE-EARLIEST", "resolved", "2025-11-01 10:00", "2025-12-01 17:30"),
        ("12345", "NO-DEADLINE", "received", "2025-12-31 09:00", None),
        ("12345", "SOON-LATE-REPORT", "received", "2025-12-29 10:00", "2026-01-04 10:30"),
        ("12345", "SOON-EARLY-REPORT", "dispatched", "2025-12-28 10:00", "2026-01-04 10:30"),
        ("12345", "OVERDUE-1D", "dispatched", "2025-12-20 10:00", "2025-12-30 17:30"),
        ("12345", "OVERDUE-10D", "in_progress", "2025-12-01 10:00", "2025-12-20 17:30"),
        ("12345", "SUPERVISED-NOT-YET-DUE", "supervised", "2025-12-20 10:00", "2026-01-05 17:30"),
        ("12345", "SUPERVISED-OVERDUE", "supervised", "2025-12-10 10:00", "2025-12-25 17:30"),
    ])
    ordered = worklist.sort_by_urgency(cases)
    assert ordered["external_id"].tolist() == [
        "SUPERVISED-OVERDUE", "SUPERVISED-NOT-YET-DUE", "OVERDUE-10D", "OVERDUE-1D",
        "SOON-EARLY-REPORT", "SOON-LATE-REPORT", "NO-DEADLINE", "DONE-EARLIEST"]
    assert list(ordered.index) == list(range(len(cases)))
    # the order does not depend on the order the rows came in
    shuffled = cases.sample(frac=1, random_state=3)
    assert worklist.sort_by_urgency(shuffled)["external_id"].tolist() == ordered["external_id"].tolist()


def test_urgency_ties_fall_back_to_source_and_id():
    cases = frame([("patrol", "B", "received", "2025-12-30 10:00", "2026-01-04 10:30"),
                   ("12345", "B", "received", "2025-12-30 10:00", "2026-01-04 10:30"),
                   ("12345", "A", "received", "2025-12-30 10:00", "2026-01-04 10:30")])
    assert list(zip(*[worklist.sort_by_urgency(cases)[c] for c in ("source", "external_id")])) == [
        ("12345", "A"), ("12345", "B"), ("patrol", "B")]


def test_an_empty_list_stays_empty():
    empty = frame([])
    assert worklist.sort_by_urgency(empty).empty
    assert worklist.bucket_counts(worklist.tag_buckets(empty, worklist.cutoffs(NOW))) == dict.fromkeys(
        worklist.BUCKETS_ZH, 0)
    assert worklist.working_hours_left(empty["due_at"], now=NOW).empty


@pytest.mark.parametrize(("hours", "text"), [
    (3.0, "剩余 3.0 工作小时"), (-5.5, "超期 5.5 工作小时"), (7.0, "剩余 1.0 个工作日"),
    (30.0, "剩余 4.3 个工作日"), (-70.0, "超期 10.0 个工作日"), (0.0, "剩余 0.0 工作小时"),
    (float("nan"), "—"), (None, "—"),
])
def test_time_left_reads_in_working_hours_under_a_day_and_in_working_days_above(hours, text):
    assert worklist.format_time_left(hours, hours_per_day=7.0) == text
