"""工作台: what needs doing now, and in which order (pure).

Four buckets of cases, each a view (one case may be in several):

- 今日新增 ``new_today``: reported today, China time (whatever its status now);
- 即将超期 ``due_soon``: open and due within the next :data:`DUE_SOON_WORKING_HOURS`
  *working* hours (the rules' working periods on the Chinese calendar, so on a
  Friday afternoon the window reaches into the next week, and over a holiday past it);
- 已超期 ``overdue``: open and past its deadline;
- 督办中 ``supervised``: in the 督办 stage.

*Open* is the lifecycle's: every stage but 反馈, 核查 and 结案 (``lifecycle.DONE_STATUSES``).

Urgency, the one order of the work list (:func:`sort_by_urgency`):

1. open cases before done ones (a case reported today may be done already);
2. among open cases, 督办 first: a leader has asked for it by name;
3. then by deadline, earliest first: the most overdue first, then the soonest due;
   cases without a deadline after those with one;
4. ties: reported earlier first, then by ``source`` and ``external_id``, so the order never
   depends on how the rows arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd

from gis.core.china_time import _NS_PER_DAY, CHINA_TZ, _china_time, _WorkingCalendar
from gis.core.rules import lifecycle
from gis.core.rules.config import Rules, load_rules
from gis.core.rules.deadlines import add_working_time

#: The buckets, in the order the work list shows them, with their Chinese names.
BUCKETS_ZH: dict[str, str] = {"new_today": "今日新增", "due_soon": "即将超期", "overdue": "已超期",
                              "supervised": "督办中"}
#: 即将超期: due within this much working time from now.
DUE_SOON_WORKING_HOURS = 24.0


@dataclass(frozen=True)
class Cutoffs:
    """The moments that decide the buckets, all timezone-aware China time.

    Attributes
    ----------
    now
        The moment the work list is read at.
    today_start
        Midnight that began today (China time): 今日新增 is reported in
        ``[today_start, today_start + 1 day)``.
    due_soon_until
        ``now`` plus :data:`DUE_SOON_WORKING_HOURS` working hours: 即将超期 is due in
        ``[now, due_soon_until]``, 已超期 before ``now``.
    """

    now: datetime
    today_start: datetime
    due_soon_until: datetime

    @property
    def tomorrow_start(self) -> datetime:
        return self.today_start + timedelta(days=1)


def cutoffs(now: datetime, *, hours: float = DUE_SOON_WORKING_HOURS, rules: Rules | None = None) -> Cutoffs:
    """The bucket boundaries at ``now`` (naive means China time); ``hours`` of working time
    ahead make the 即将超期 window, counted with :func:`~gis.core.rules.deadlines.add_working_time`."""
    now = _china_time(now)
    today_start = datetime.combine(now.date(), time(0), tzinfo=CHINA_TZ)
    return Cutoffs(now=now, today_start=today_start,
                   due_soon_until=add_working_time(now, hours=hours, rules=rules))


def _wall_ns(moments: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """China wall-clock int64 ns of a datetime Series (naive means China time) and its NaT mask."""
    times = pd.to_datetime(pd.Series(moments))
    if times.dt.tz is None:
        times = times.dt.tz_localize(CHINA_TZ)
    local = times.dt.tz_convert(CHINA_TZ).dt.tz_localize(None).dt.as_unit("ns")
    missing = local.isna().to_numpy()
    return local.to_numpy().view("int64"), missing


def working_hours_left(due_at: pd.Series, *, now: datetime, rules: Rules | None = None) -> pd.Series:
    """Signed working hours from ``now`` to each deadline: positive while time is left,
    negative by how much a deadline has passed (working time only: nights, lunch, weekends
    and holidays do not count). NaN where there is no deadline.

    Parameters
    ----------
    due_at
        Deadlines (datetime Series; naive means China time).
    now
        The moment to count from (naive means China time).
    rules
        Working periods; None for the shipped rules.
    """
    rules = rules or load_rules()
    due_at = pd.Series(due_at)
    due_ns, missing = _wall_ns(due_at)
    now_ns = _wall_ns(pd.Series([_china_time(now)]))[0][0]
    out = np.full(len(due_ns), np.nan)
    ok = ~missing
    if ok.any():
        days = np.concatenate([due_ns[ok] // _NS_PER_DAY, [now_ns // _NS_PER_DAY]])
        calendar = _WorkingCalendar(int(days.min()) - 1, int(days.max()) + 1, rules.work_periods)
        left_ns = calendar.working_ns(due_ns[ok]) - calendar.working_ns(np.array([now_ns]))[0]
        out[ok] = left_ns / 3.6e12
    return pd.Series(out, index=due_at.index, name="working_hours_left")


def tag_buckets(cases: pd.DataFrame, cut: Cutoffs) -> pd.DataFrame:
    """``cases`` (``status``, ``reported_at``, ``due_at``) with a boolean column per bucket of
    :data:`BUCKETS_ZH` and ``open``; a copy."""
    out = cases.copy()
    reported = pd.to_datetime(out["reported_at"], utc=True)
    due = pd.to_datetime(out["due_at"], utc=True)
    out["open"] = ~out["status"].isin(lifecycle.DONE_STATUSES)
    out["new_today"] = (reported >= cut.today_start) & (reported < cut.tomorrow_start)
    out["overdue"] = out["open"] & (due < cut.now).fillna(False)
    out["due_soon"] = out["open"] & ((due >= cut.now) & (due <= cut.due_soon_until)).fillna(False)
    out["supervised"] = out["status"] == lifecycle.SUPERVISED_STATUS
    return out


def bucket_counts(tagged: pd.DataFrame) -> dict[str, int]:
    """Cases per bucket (``tagged`` as :func:`tag_buckets` returns it), in :data:`BUCKETS_ZH` order."""
    return {bucket: int(tagged[bucket].sum()) for bucket in BUCKETS_ZH}


def sort_by_urgency(cases: pd.DataFrame) -> pd.DataFrame:
    """``cases`` (``source``, ``external_id``, ``status``, ``reported_at``, ``due_at``) in the
    order of urgency described in the module docstring, with a fresh index; a copy."""
    keys = pd.DataFrame({
        "done": cases["status"].isin(lifecycle.DONE_STATUSES).to_numpy(),
        "not_supervised": (cases["status"] != lifecycle.SUPERVISED_STATUS).to_numpy(),
        "due": pd.to_datetime(cases["due_at"], utc=True).to_numpy(),
        "reported": pd.to_datetime(cases["reported_at"], utc=True).to_numpy(),
        "source": cases["source"].astype(str).to_numpy(),
        "external_id": cases["external_id"].astype(str).to_numpy(),
    })
    # a done case sorts among the done ones, whatever its stage was
    keys.loc[keys["done"], "not_supervised"] = True
    order = keys.sort_values(["done", "not_supervised", "due", "reported", "source", "external_id"],
                             na_position="last", kind="mergesort").index
    return cases.iloc[order].reset_index(drop=True)


def format_time_left(hours: float | None, *, hours_per_day: float) -> str:
    """How much working time is left, or by how much a deadline has passed, in Chinese:
    ``剩余 3.5 工作小时``, ``剩余 2.1 个工作日``, ``超期 5.5 工作小时``, ``超期 12.0 个工作日``;
    under one working day (``hours_per_day``) in hours, else in working days. ``—`` for none."""
    if hours is None or pd.isna(hours):
        return "—"
    word = "剩余" if hours >= 0 else "超期"
    size = abs(float(hours))
    if size < hours_per_day:
        return f"{word} {size:.1f} 工作小时"
    return f"{word} {size / hours_per_day:.1f} 个工作日"
