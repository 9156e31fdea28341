"""China time and the working-time calendar.

Working days follow the official calendar, public holidays and 调休 make-up
working days included (``chinese_calendar``). Naive datetimes mean Asia/Shanghai.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np

from gis.errors import InputError


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


#: China Standard Time; naive datetimes are read in this zone.
CHINA_TZ = ZoneInfo("Asia/Shanghai")

# A long holiday plus weekends is under 20 days; a year of days without a
# working day means the calendar or the rules are broken, not a real deadline.
_MAX_CALENDAR_DAYS = 366


# ---------------------------------------------------------------------------
# Working-time calendar
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day in mainland China.

    Follows the State Council's holiday notices, with 调休 make-up working
    days (a Saturday or Sunday that is worked) and weekdays off, via the
    ``chinese_calendar`` package. For years the package does not cover
    (it raises NotImplementedError: before 2004, or after the last notice it
    ships), falls back to Monday–Friday, which ignores holidays: update
    ``chinese_calendar`` each December when the next year's notice is out.

    Parameters
    ----------
    d
        A calendar date (a datetime is reduced to its date as given).
    """
    if isinstance(d, datetime):
        d = d.date()
    try:
        return chinese_calendar.is_workday(d)
    except NotImplementedError:
        return d.weekday() < 5


def _next_working_day(day: date) -> date:
    for _ in range(_MAX_CALENDAR_DAYS):
        day += timedelta(days=1)
        if is_working_day(day):
            return day
    raise InputError(f"no working day within a year after {day}",  # pragma: no cover
                     fix="check the calendar package")


# ---------------------------------------------------------------------------
# The calendar as a table, for many cases at once
# ---------------------------------------------------------------------------
# The loop in deadlines.add_working_time walks day by day; for a million cases the same
# answer comes from one table of the calendar's working intervals over the
# dates needed: a time becomes its cumulative working time since the table's
# start (numpy.searchsorted over the interval starts), the limit is added, and
# the sum is turned back into a time (searchsorted over the cumulative ends).
# Times are int64 nanoseconds of China wall-clock time; China has kept UTC+8
# without daylight saving since 1991, so wall-clock arithmetic is exact.

_NS_PER_MINUTE = 60 * 1_000_000_000
_NS_PER_DAY = 1440 * _NS_PER_MINUTE
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class _WorkingCalendar:
    """Working intervals ``[starts, ends)`` (China wall-clock ns) of days ``first..last``."""

    def __init__(self, first_day: int, last_day: int,
                 periods: tuple[tuple[time, time], ...]) -> None:

        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        working = np.fromiter(
            (is_working_day(date.fromordinal(_EPOCH_ORDINAL + int(d))) for d in days),
            dtype=bool, count=len(days))
        self.working_days = days[working]
        opens = np.array([_minutes(a) for a, _ in periods], dtype=np.int64) * _NS_PER_MINUTE
        closes = np.array([_minutes(b) for _, b in periods], dtype=np.int64) * _NS_PER_MINUTE
        base = self.working_days[:, None] * _NS_PER_DAY
        self.starts = (base + opens[None, :]).ravel()
        self.lengths = (base + closes[None, :]).ravel() - self.starts
        self.cum_ends = np.cumsum(self.lengths)
        self.cum_starts = self.cum_ends - self.lengths

    def working_ns(self, wall_ns):
        """Working time (ns) from the table's start up to each wall-clock time."""

        i = np.searchsorted(self.starts, wall_ns, side="right") - 1
        k = np.maximum(i, 0)
        inside = np.clip(wall_ns - self.starts[k], 0, self.lengths[k])
        return np.where(i >= 0, self.cum_starts[k] + inside, 0)

    def wall_ns(self, working_ns):
        """The earliest wall-clock time by which this much working time has passed.

        A sum that fills a period exactly ends at that period's end (12:00,
        not 13:30), as in :func:`add_working_time`.
        """
        j = self.interval_of(working_ns)
        return self.starts[j] + (working_ns - self.cum_starts[j])

    def interval_of(self, working_ns):

        return np.searchsorted(self.cum_ends, working_ns, side="left")


def _china_time(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise InputError(f"{moment!r} is not a date and time",
                         fix="give a datetime (naive means Asia/Shanghai)")
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=CHINA_TZ)
    return moment.astimezone(CHINA_TZ)
