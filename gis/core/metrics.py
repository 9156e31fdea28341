"""Aggregates over cases: KPIs, roll-ups up the grid tree, rankings (pure).

Counts come from PostGIS per micro-grid (``fetch_micro_stats``); these
functions roll them up to streets, communities and tertiary grids and turn
them into the rates street offices are judged by:

- 办结率 (completion rate) = 办结数 / 应办结数, where 办结 is 结案 (closed) and
  应办结 (due to be completed) is every case already closed or past its deadline;
- 按期办结率 (on-time rate) = cases closed by their deadline / 应办结数;
- 超期 / 督办 (overdue) = open cases past their deadline or under supervision;
- 满意率 (satisfaction) = (满意 + 基本满意) / cases with a 回访, each case by its latest one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.core.china_time import CHINA_TZ
from gis.core.hierarchy import GridTree

SOURCES_ZH = {"12345": "12345热线", "patrol": "网格员巡查", "resident_app": "居民小程序", "city_platform": "数字城管"}


@dataclass(frozen=True)
class Metric:
    """A figure a unit can be coloured, ranked or carded by, with the direction that is good.

    ``kind`` is ``count`` (whole cases), ``density`` (cases per 1,000 households) or ``rate``
    (0–1, shown as a percentage); ``higher_is_better`` says which way is good, so a map ramp
    makes better calmer and a change is coloured good or bad the same way everywhere.
    """

    key: str
    label: str
    kind: str
    higher_is_better: bool

    @property
    def is_rate(self) -> bool:
        return self.kind == "rate"

    @property
    def unit(self) -> str:
        return {"count": "件", "density": "件/千户", "rate": "%"}[self.kind]

    def display(self, value: float | None) -> float | None:
        """The value as shown (a rate in percent)."""
        if value is None or pd.isna(value):
            return None
        return float(value) * 100 if self.is_rate else float(value)


#: The metrics of the map, the ranking and the KPI cards: one definition of each, its direction included.
METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("received", "案件数", "count", False),
    Metric("per_1000", "每千户案件数", "density", False),
    Metric("completion_rate", "办结率", "rate", True),
    Metric("on_time_rate", "按期办结率", "rate", True),
    Metric("overdue", "超期(督办)数", "count", False),
    Metric("satisfaction_rate", "满意率", "rate", True),
)}
METRICS_ZH = {key: m.label for key, m in METRICS.items()}
# -- bulletins: their periods and channels (the workflow, the files and the page) --

#: Period kinds and what a bulletin of each is called.
PERIOD_KINDS_ZH = {"week": "周通报", "month": "月汇总", "year": "年度考核"}
#: What the previous period is called, for "较上周" and the like.
PREVIOUS_ZH = {"week": "上周", "month": "上月", "year": "上年"}
#: The ``--source`` values: all channels, or the 12345 hotline (stored as source ``12345``).
BULLETIN_SOURCES = {"all": None, "hotline12345": "12345"}
BULLETIN_SOURCES_ZH = {"all": "全部渠道", "hotline12345": "12345热线"}

COUNT_COLUMNS = ["received", "completed", "due", "on_time", "open", "overdue"]
#: 回访 counts per micro-grid (满意率's numerator and denominator), where the stats carry them.
VISIT_COLUMNS = ["visited", "satisfied"]


@dataclass(frozen=True)
class CaseFilter:
    """Which cases a view counts: reported between two China-time dates (both
    included), optionally of some categories, sources, statuses, and under one
    grid (``unit``: a street, community … code). Hashable, for caches."""

    since: date
    until: date
    categories: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    unit: str | None = None

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def previous(self) -> "CaseFilter":
        """The period of the same length just before this one."""
        return replace(self, since=self.since - timedelta(days=self.days), until=self.since - timedelta(days=1))

    def params(self, *, micro_codes: list[str] | None, now: datetime,
               exclusive_codes: list[str] | None = None) -> dict[str, Any]:
        """Query parameters (``since``/``until`` as aware datetimes, half-open); a unit is the
        micro-grids below it, or for an exclusive grid (专属网格) the grid itself."""
        return {"since": datetime.combine(self.since, time(), CHINA_TZ),
                "until": datetime.combine(self.until + timedelta(days=1), time(), CHINA_TZ),
                "categories": list(self.categories) if self.categories else None,
                "sources": list(self.sources) if self.sources else None,
                "statuses": list(self.statuses) if self.statuses else None,
                "micro_codes": micro_codes, "exclusive_codes": exclusive_codes, "now": now}


def last_days(days: int, *, today: date | None = None, **kwargs: Any) -> CaseFilter:
    """A filter over the last ``days`` days up to today (China time)."""
    today = today or datetime.now(CHINA_TZ).date()
    return CaseFilter(since=today - timedelta(days=days - 1), until=today, **kwargs)


def iso_week(text: str) -> tuple[date, date]:
    """``2026-W47`` → (Monday, Sunday) of that ISO week."""
    from gis.errors import InputError
    try:
        year, week = text.upper().split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise InputError(f"week '{text}' is not an ISO week", field="week", fix="write it like 2026-W47") from None
    if not ISO_WEEK_YEARS[0] <= monday.year <= ISO_WEEK_YEARS[1]:
        raise InputError(f"week '{text}' is outside the years {ISO_WEEK_YEARS[0]}–{ISO_WEEK_YEARS[1]}",
                         field="week", fix="give a week of a year in that range, like 2026-W47")
    return monday, monday + timedelta(days=6)


#: Years a bulletin week may fall in: case times are pandas timestamps (up to 2262), and no
#: street office has cases from before 1970 or a reason to report on the next century.
ISO_WEEK_YEARS = (1970, 2100)


# -- rates and roll-ups --------------------------------------------------------------------------


def with_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Add 办结率, 按期办结率 (0..1, NaN when nothing is due), cases per 1,000 households and, where the
    回访 counts are given, 满意率 (NaN when no case was visited)."""
    out = counts.copy()
    due = out["due"].where(out["due"] > 0)
    out["completion_rate"] = out["completed"] / due
    out["on_time_rate"] = out["on_time"] / due
    if set(VISIT_COLUMNS) <= set(out.columns):
        visited = pd.to_numeric(out["visited"], errors="coerce")
        out["satisfaction_rate"] = pd.to_numeric(out["satisfied"], errors="coerce") / visited.where(visited > 0)
    if "households" in out:
        hh = pd.to_numeric(out["households"], errors="coerce")
        out["per_1000"] = out["received"] / hh.where(hh > 0) * 1000
    return out


def rollup(micro_stats: pd.DataFrame, grids: gpd.GeoDataFrame, *, level: str,
           within: str | None = None, tree: GridTree | None = None) -> gpd.GeoDataFrame:
    """Per grid at ``level`` (optionally only those under ``within``): counts, rates, geometry.

    Units with no cases are kept with zero counts, so the map shows them. ``tree``
    is the :class:`GridTree` of ``grids`` when the caller keeps one.
    """
    tree = tree or GridTree(grids)
    units = grids[grids["level"] == level]
    mapping = tree.unit_of_micro(level)
    if within is not None:
        if within not in tree.level:
            from gis.errors import InputError
            raise InputError(f"grid '{within}' is not in the active grids", field="within",
                             fix="give the code of a stored street, community or grid")
        keep = tree.units_under(within, level)
        units = units[units["code"].isin(keep | ({within} if tree.level[within] == level else set()))]
    stats = micro_stats.dropna(subset=["micro_code"]).copy()
    stats["unit"] = stats["micro_code"].map(mapping)
    columns = COUNT_COLUMNS + [c for c in VISIT_COLUMNS if c in stats.columns]
    sums = stats.groupby("unit")[columns].sum()
    out = units[["code", "name", "level", "parent_code", "households", "geometry"]].merge(
        sums, left_on="code", right_index=True, how="left")
    out[columns] = out[columns].fillna(0).astype(int)
    # a unit without its own household count gets the sum of its micro-grids'
    micro = grids[grids["level"] == "micro"]
    micro_households = pd.to_numeric(micro["households"], errors="coerce").groupby(
        micro["code"].map(mapping).to_numpy()).sum(min_count=1)
    own = pd.to_numeric(out["households"], errors="coerce")
    out["households"] = own.fillna(out["code"].map(micro_households))
    return gpd.GeoDataFrame(with_rates(out), geometry="geometry", crs=grids.crs)


def totals(micro_stats: pd.DataFrame) -> dict[str, float]:
    """The selection's counts and rates as one record (unassigned cases included)."""
    columns = COUNT_COLUMNS + [c for c in VISIT_COLUMNS if c in micro_stats.columns]
    sums = micro_stats[columns].sum() if len(micro_stats) else pd.Series(0, index=columns)
    row = with_rates(pd.DataFrame([sums.to_dict()])).iloc[0]
    return {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}


def change(current: float | None, previous: float | None) -> float | None:
    """current − previous, None when either is unknown."""
    if current is None or previous is None:
        return None
    return current - previous


def ranking(units: pd.DataFrame, *, min_due: int = 10) -> pd.DataFrame:
    """Rank units by 办结率, then 按期办结率, then fewer overdue; units with fewer than
    ``min_due`` cases due are listed unranked (one quick case must not top the table)."""
    out = units.copy()
    eligible = out["due"] >= min_due
    order = out[eligible].sort_values(["completion_rate", "on_time_rate", "overdue"],
                                      ascending=[False, False, True]).index
    out["rank"] = pd.Series(np.arange(1, len(order) + 1), index=order)
    out["rank"] = out["rank"].astype("Int64")
    return out.sort_values(["rank", "received"], ascending=[True, False], na_position="last")


# -- KPI cards: one definition for the app and the bulletin --------------------------------------


@dataclass(frozen=True)
class KpiCard:
    """One KPI as a card shows it: the value and its change from the previous period, as text.

    ``tone`` says how the change reads: ``good`` or ``bad`` by the figure's direction
    (a rise in 超期 is bad, in 办结率 good), ``neutral`` for no change or a figure with no
    good direction (受理), None when there is no change to show. ``worse_when_up`` marks
    figures where a rise is bad, for screens that colour by sign.
    """

    key: str
    label: str
    help: str
    value: str
    delta: str | None
    worse_when_up: bool
    tone: str | None = None
    raw: float | None = None


# key, label, what it counts (the KPI definitions of DESIGN.md), kind, which way is good
# (True: higher, False: lower, None: neither; 受理 rises with reporting as much as with trouble)
_KPI_CARDS = (
    ("received", "受理", "期间内受理的案件数", "count", None),
    ("completed", "办结", "已结案的案件数", "count", None),
    ("completion_rate", "办结率", "办结数 / 应办结数（已结案或已到时限的案件）", "rate",
     METRICS["completion_rate"].higher_is_better),
    ("on_time_rate", "按期办结率", "在时限内结案数 / 应办结数", "rate", METRICS["on_time_rate"].higher_is_better),
    ("satisfaction_rate", "满意率", "（满意 + 基本满意）/ 已回访的案件数", "rate",
     METRICS["satisfaction_rate"].higher_is_better),
    ("overdue", "超期(督办)", "未办结且已过时限或在督办中的案件", "count", METRICS["overdue"].higher_is_better),
    ("median_h", "办理时长中位数", "受理到结案的时长中位数", "hours", False),
)


def satisfaction_rate(record: dict[str, Any]) -> float | None:
    """满意率 of a KPI record: ``satisfied`` (满意 + 基本满意) / ``visited``; None when no case has a 回访."""
    visited, satisfied = record.get("visited"), record.get("satisfied")
    if visited is None or pd.isna(visited) or not visited:
        return None
    return float(satisfied or 0) / float(visited)


def format_rate(value: float | None) -> str:
    """A rate (0–1) as a percentage with one decimal, '—' when unknown."""
    return "—" if value is None or pd.isna(value) else f"{value * 100:.1f}%"


def format_change(change: float | None, *, decimals: int = 0, unit: str = "") -> str | None:
    """A change with its sign, e.g. ``+3``, ``-1.5 个百分点``; a change that rounds to zero is a neutral
    ``0`` / ``0.0`` (never ``-0.0``); None when unknown."""
    if change is None or pd.isna(change):
        return None
    shown = round(float(change), decimals)
    text = f"{0:.{decimals}f}" if shown == 0 else f"{shown:+.{decimals}f}"
    return f"{text} {unit}".rstrip()


def change_tone(change: float | None, *, decimals: int, higher_is_better: bool | None) -> str | None:
    """``good``, ``bad`` or ``neutral`` for a change as shown (rounded to ``decimals``); None when unknown."""
    if change is None or pd.isna(change):
        return None
    shown = round(float(change), decimals)
    if shown == 0 or higher_is_better is None:
        return "neutral"
    return "good" if (shown > 0) == higher_is_better else "bad"


def kpi_cards(current: dict[str, Any], previous: dict[str, Any], *,
              keys: tuple[str, ...] | None = None) -> list[KpiCard]:
    """The KPI cards of a selection against the previous period (the app and the bulletin).

    Parameters
    ----------
    current, previous
        Records of :func:`totals` (plus ``median_h`` in hours, where known).
    keys
        Which cards, in order; default all.
    """
    cards = []
    for key, label, help_text, kind, better in _KPI_CARDS:
        if keys is not None and key not in keys:
            continue
        if key == "satisfaction_rate":
            now, before = satisfaction_rate(current), satisfaction_rate(previous)
        else:
            now, before = current.get(key), previous.get(key)
        known = now is not None and before is not None and not pd.isna(now) and not pd.isna(before)
        if kind == "rate":
            value = format_rate(now)
            change, decimals, unit = ((now - before) * 100 if known else None), 1, "个百分点"
        elif kind == "hours":
            value = "—" if now is None or pd.isna(now) else f"{now:.1f} 小时"
            change, decimals, unit = (now - before if known else None), 1, "小时"
        else:
            value = "—" if now is None or pd.isna(now) else f"{now:.0f}"
            change, decimals, unit = (now - before if known else None), 0, ""
        cards.append(KpiCard(key, label, help_text, value, format_change(change, decimals=decimals, unit=unit),
                             better is False, change_tone(change, decimals=decimals, higher_is_better=better),
                             None if now is None or pd.isna(now) else float(now)))
    if keys is not None:
        cards.sort(key=lambda c: keys.index(c.key))
    return cards
