"""What the map and the case list show: KPIs, unit statistics, heat cells, trends, cases."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import store
from gis.core import china_time, metrics, roster
from gis.core.rules import config, lifecycle
from gis.errors import InputError
from gis.workflows.context import Services


def _params(services: Services, conn, flt: metrics.CaseFilter, now: datetime | None) -> dict[str, Any]:
    """The filter's SQL parameters; a unit becomes the micro-grids under it (through the cached
    history tree: a retired micro-grid's closed cases stay in the unit they were in), an
    exclusive grid (专属网格) its own cases."""
    micro = exclusive = None
    if flt.unit:
        tree = services.version(conn).history
        if flt.unit not in tree.level:
            raise InputError(f"grid '{flt.unit}' is not in the active grids", field="unit")
        if tree.level[flt.unit] == "exclusive":
            exclusive = [flt.unit]
        else:
            micro = tree.micro_under(flt.unit)
    return flt.params(micro_codes=micro, exclusive_codes=exclusive, now=now or datetime.now(china_time.CHINA_TZ))


def micro_stats(services: Services, flt: metrics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Counts per micro-grid (one row with micro_code None for the unassigned)."""
    with services.connection() as conn:
        return store.fetch_micro_stats(conn, _params(services, conn, flt, now))


def _period(conn, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Counts per micro-grid and the KPI record of one period (its filter's ``params``), from one query."""
    stats, hours = store.fetch_period_stats(conn, params)
    record = metrics.totals(stats)
    record.update(hours)
    return stats, record


def kpis(services: Services, flt: metrics.CaseFilter, *, now: datetime | None = None) -> dict[str, Any]:
    """KPI cards: received, completed, 办结率, 按期办结率, overdue, median handling hours,
    each with the value of the previous period of the same length."""
    with services.connection() as conn:
        return {"current": _period(conn, _params(services, conn, flt, now))[1],
                "previous": _period(conn, _params(services, conn, flt.previous(), now))[1]}


def unit_stats(services: Services, flt: metrics.CaseFilter, *, level: str, within: str | None = None,
               now: datetime | None = None) -> gpd.GeoDataFrame:
    """Counts and rates per grid at ``level`` (under ``within`` if given), with geometry."""
    with services.connection() as conn:
        version = services.version(conn)
        stats = store.fetch_micro_stats(conn, _params(services, conn, flt, now))
    return metrics.rollup(stats, version.grids, level=level, within=within, tree=version.history)


HEAT_LAYERS = {"hazard": "安全隐患", "garbage": "垃圾/环境卫生", "unresolved": "未办结"}


def heat_layers(services: Services, flt: metrics.CaseFilter, *, cell_m: float = 40.0,
                overdue_weight: float = 3.0, now: datetime | None = None) -> dict[str, pd.DataFrame]:
    """The three heat layers of :data:`HEAT_LAYERS`, from one pass over the filtered cases in PostGIS.

    Returns layer → cells (lon, lat in degrees WGS-84, weight): 'hazard' (fire,
    electricity, gas) and 'garbage' (环境卫生) count the cases of their categories
    (within the filter's categories); 'unresolved' counts the cases in an open
    status (within the filter's statuses), overdue ones weighing ``overdue_weight``.
    """
    with services.connection() as conn:
        return _heat_layers(services, conn, _params(services, conn, flt, now), cell_m=cell_m,
                            overdue_weight=overdue_weight)


def _heat_layers(services: Services, conn, params: dict[str, Any], *, cell_m: float,
                 overdue_weight: float) -> dict[str, pd.DataFrame]:
    rules = config.load_rules()
    tagged = {layer: [c.code for c in rules.categories.values() if c.heat == layer] for layer in ("hazard", "garbage")}
    _, miny, _, maxy = services.version(conn).bounds
    cell_lat_deg = cell_m / 111_320.0
    cell_lon_deg = float(cell_lat_deg / np.cos(np.radians((miny + maxy) / 2)))
    return store.fetch_heat_layers(conn, params, cell_lon_deg=cell_lon_deg, cell_lat_deg=cell_lat_deg,
                                   hazard_categories=tagged["hazard"], garbage_categories=tagged["garbage"],
                                   open_statuses=list(lifecycle.OPEN_STATUSES), overdue_weight=overdue_weight)


def heat_cells(services: Services, flt: metrics.CaseFilter, *, layer: str, cell_m: float = 40.0,
               overdue_weight: float = 3.0, now: datetime | None = None) -> pd.DataFrame:
    """One heat layer of :func:`heat_layers`: cells (lon, lat in degrees WGS-84, weight).

    ``layer``: 'hazard' (fire, electricity, gas), 'garbage' (环境卫生) or
    'unresolved' (open cases, overdue ones weigh ``overdue_weight``). A page that
    shows all three asks :func:`heat_layers` once instead.
    """
    if layer not in HEAT_LAYERS:
        raise InputError(f"heat layer '{layer}' is unknown", fix=f"use one of {', '.join(HEAT_LAYERS)}")
    return heat_layers(services, flt, cell_m=cell_m, overdue_weight=overdue_weight, now=now)[layer]


def daily_counts(services: Services, flt: metrics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Received and completed per day (China time), every day of the period present."""
    with services.connection() as conn:
        return _daily_counts(conn, _params(services, conn, flt, now), flt)


def _daily_counts(conn, params: dict[str, Any], flt: metrics.CaseFilter) -> pd.DataFrame:
    counts = store.fetch_daily_counts(conn, params)
    days = pd.DataFrame({"day": pd.date_range(flt.since, flt.until, freq="D").date})
    return days.merge(counts, on="day", how="left").fillna({"received": 0, "completed": 0}).astype(
        {"received": int, "completed": int})


def category_counts(services: Services, flt: metrics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Cases per category with its Chinese name and group, most frequent first."""
    with services.connection() as conn:
        return _category_counts(conn, _params(services, conn, flt, now))


def _category_counts(conn, params: dict[str, Any]) -> pd.DataFrame:
    rules = config.load_rules()
    counts = store.fetch_category_counts(conn, params)
    counts["name"] = counts["category"].map(lambda c: rules.categories[c].name_zh if c in rules.categories else c)
    counts["group"] = counts["category"].map(
        lambda c: rules.categories[c].group_name_zh if c in rules.categories else "")
    return counts


def cases(services: Services, flt: metrics.CaseFilter, *, search: str | None = None, open_only: bool = False,
          limit: int = 5000, now: datetime | None = None) -> pd.DataFrame:
    """The filtered cases, newest first (at most ``limit``), text exactly as stored."""
    with services.connection() as conn:
        return store.fetch_cases(conn, _params(services, conn, flt, now), search=search or None, open_only=open_only,
                                 limit=limit)


@dataclass(frozen=True)
class Situation:
    """Everything the situation page shows for one filter, read on one connection."""

    kpis: dict[str, Any]           # as :func:`kpis`
    units: gpd.GeoDataFrame | None  # as :func:`unit_stats` (None at micro level: nothing below)
    heat: dict[str, pd.DataFrame]  # as :func:`heat_layers`
    daily: pd.DataFrame            # as :func:`daily_counts`
    categories: pd.DataFrame       # as :func:`category_counts`
    # the KPI cards' sparklines: as :func:`kpi_series` (empty when the period has no finished day)
    series: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["day", *KPI_SERIES]))


def situation(services: Services, flt: metrics.CaseFilter, *, level: str | None, within: str | None = None,
              cell_m: float = 40.0, overdue_weight: float = 3.0, now: datetime | None = None) -> Situation:
    """The situation page's data in one borrow: the current period's counts per micro-grid
    serve both the KPI cards and the units of the choropleth (``level`` under ``within``)."""
    with services.connection() as conn:
        version = services.version(conn)
        params = _params(services, conn, flt, now)
        stats, current = _period(conn, params)
        previous = _period(conn, _params(services, conn, flt.previous(), now))[1]
        heat = _heat_layers(services, conn, params, cell_m=cell_m, overdue_weight=overdue_weight)
        daily = _daily_counts(conn, params, flt)
        categories = _category_counts(conn, params)
        series = _kpi_series(conn, params, flt)
    units = None if level is None else metrics.rollup(stats, version.grids, level=level, within=within,
                                                          tree=version.history)
    return Situation({"current": current, "previous": previous}, units, heat, daily, categories, series)


#: The KPI figures of :func:`kpi_series`, as :func:`gis.core.metrics.kpi_cards` keys them.
KPI_SERIES = ("received", "completed", "completion_rate", "on_time_rate", "satisfaction_rate", "overdue", "median_h")
#: At most this many points in a sparkline: longer periods are summed over spans of whole days.
SPARKLINE_POINTS = 31


def kpi_series(services: Services, flt: metrics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """The KPI cards' figures day by day over the period's *finished* days (today, still under way,
    is left out): one row per day (``day``, the span's first day) and a column per :data:`KPI_SERIES`
    key, each figure as :func:`kpis` counts it for the cases reported that day (rates 0–1, None where
    nothing is due). A period longer than :data:`SPARKLINE_POINTS` days is cut into that many spans
    of whole days."""
    with services.connection() as conn:
        return _kpi_series(conn, _params(services, conn, flt, now), flt)


def _kpi_series(conn, params: dict[str, Any], flt: metrics.CaseFilter) -> pd.DataFrame:
    now = params["now"]
    today = now.astimezone(china_time.CHINA_TZ).date()
    last = min(flt.until, today - timedelta(days=1))
    rows = []
    if last >= flt.since:
        days = (last - flt.since).days + 1
        step = -(-days // SPARKLINE_POINTS)  # whole days per point, rounded up
        start = flt.since
        while start <= last:
            end = min(start + timedelta(days=step - 1), last)
            span = replace(flt, since=start, until=end).params(
                micro_codes=params["micro_codes"], exclusive_codes=params["exclusive_codes"], now=now)
            record = _period(conn, span)[1]
            record["satisfaction_rate"] = metrics.satisfaction_rate(record)
            rows.append({"day": start, **{key: record.get(key) for key in KPI_SERIES}})
            start = end + timedelta(days=1)
    return pd.DataFrame(rows, columns=["day", *KPI_SERIES])


#: How many open cases :func:`open_cases_by_overdue` reads to find the most overdue (the store lists
#: the newest first; a scope with more open cases than this in one period is not a street office's).
OPEN_CASES_SCAN = 50_000


def open_cases_by_overdue(services: Services, flt: metrics.CaseFilter, *, limit: int = 200,
                          now: datetime | None = None) -> pd.DataFrame:
    """The filter's open cases, the most overdue first (earliest deadline first; cases without a
    deadline last), at most ``limit``: the columns of :func:`cases` plus ``overdue_h``, the hours
    since the deadline as of ``now`` (negative: hours left; NaN: no deadline)."""
    with services.connection() as conn:
        params = _params(services, conn, flt, now)
        frame = store.fetch_cases(conn, params, open_only=True, limit=OPEN_CASES_SCAN)
    due = pd.to_datetime(frame["due_at"], utc=True)
    frame["overdue_h"] = (pd.Timestamp(params["now"]).tz_convert("UTC") - due).dt.total_seconds() / 3600
    return (frame.assign(_due=due).sort_values(["_due", "reported_at"], na_position="last", kind="stable")
            .drop(columns="_due").head(limit).reset_index(drop=True))


def staff_summary(services: Services, *, level: str, within: str | None = None) -> pd.DataFrame:
    """How many staff on duty serve each grid at ``level`` (under ``within``, if given), counting
    everyone at or below it: ``code``, ``name`` and one column per role of
    :data:`gis.core.roster.ROLES` (网格长, 专职网格员, …), in code order; units without staff show 0."""
    with services.connection() as conn:
        tree = services.version(conn).tree
        staff = store.fetch_staff(conn)
    if within is None:
        codes = sorted(code for code, lv in tree.level.items() if lv == level)
    else:
        if within not in tree.level:
            raise InputError(f"grid '{within}' is not in the active grids", field="within",
                             fix="give the code of a stored district, street or community")
        codes = sorted(tree.units_under(within, level))
    units = staff["grid_code"].map(lambda code: tree.ancestor(code, level))
    counts = pd.crosstab(units, staff["role"]) if len(staff) else pd.DataFrame()
    counts = counts.reindex(index=codes, columns=list(roster.ROLES), fill_value=0).fillna(0).astype(int)
    out = counts.rename_axis(index="code", columns=None).reset_index()
    out.insert(1, "name", out["code"].map(tree.name))
    return out
