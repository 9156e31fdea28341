"""What the map and the case list show: KPIs, unit statistics, heat cells, trends, cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import store
from gis.core import china_time, metrics
from gis.core.rules import config, lifecycle
from gis.errors import InputError
from gis.workflows.context import Services


def _params(services: Services, conn, flt: metrics.CaseFilter, now: datetime | None) -> dict[str, Any]:
    """The filter's SQL parameters; a unit becomes the micro-grids under it (through the cached
    tree), an exclusive grid (专属网格) its own cases."""
    micro = exclusive = None
    if flt.unit:
        tree = services.version(conn).tree
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
    return metrics.rollup(stats, version.grids, level=level, within=within, tree=version.tree)


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
    units = None if level is None else metrics.rollup(stats, version.grids, level=level, within=within,
                                                          tree=version.tree)
    return Situation({"current": current, "previous": previous}, units, heat, daily, categories)
