"""What the map and the case list show: KPIs, unit statistics, heat cells, trends, cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import store
from gis.core import china_time
from gis.core import metrics as analytics
from gis.core.rules import config, lifecycle
from gis.errors import InputError
from gis.workflows.context import Services


def _params(services: Services, conn, flt: analytics.CaseFilter, now: datetime | None) -> dict[str, Any]:
    """The filter's SQL parameters; a unit becomes the micro-grids under it (through the cached tree)."""
    micro = None
    if flt.unit:
        tree = services.version(conn).tree
        if flt.unit not in tree.level:
            raise InputError(f"grid '{flt.unit}' is not in the active grids", field="unit")
        micro = tree.micro_under(flt.unit)
    return flt.params(micro_codes=micro, now=now or datetime.now(china_time.CHINA_TZ))


def micro_stats(services: Services, flt: analytics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Counts per micro-grid (one row with micro_code None for the unassigned)."""
    with services.connection() as conn:
        return store.fetch_micro_stats(conn, _params(services, conn, flt, now))


def kpis(services: Services, flt: analytics.CaseFilter, *, now: datetime | None = None) -> dict[str, Any]:
    """KPI cards: received, completed, 办结率, 按期办结率, overdue, median handling hours,
    each with the value of the previous period of the same length."""
    def period_totals(conn, period: analytics.CaseFilter) -> dict[str, Any]:
        params = _params(services, conn, period, now)
        record = analytics.totals(store.fetch_micro_stats(conn, params))
        record.update(store.fetch_handling_hours(conn, params))
        return record

    with services.connection() as conn:
        return {"current": period_totals(conn, flt), "previous": period_totals(conn, flt.previous())}


def unit_stats(services: Services, flt: analytics.CaseFilter, *, level: str, within: str | None = None,
               now: datetime | None = None) -> gpd.GeoDataFrame:
    """Counts and rates per grid at ``level`` (under ``within`` if given), with geometry."""
    with services.connection() as conn:
        version = services.version(conn)
        stats = store.fetch_micro_stats(conn, _params(services, conn, flt, now))
    return analytics.rollup(stats, version.grids, level=level, within=within, tree=version.tree)


HEAT_LAYERS = {"hazard": "安全隐患", "garbage": "垃圾/环境卫生", "unresolved": "未办结"}


def heat_cells(services: Services, flt: analytics.CaseFilter, *, layer: str, cell_m: float = 40.0,
               overdue_weight: float = 3.0, now: datetime | None = None) -> pd.DataFrame:
    """Heat-map cells (lon, lat in degrees WGS-84, weight), aggregated in PostGIS.

    ``layer``: 'hazard' (fire, electricity, gas), 'garbage' (环境卫生) or
    'unresolved' (open cases, overdue ones weigh ``overdue_weight``).
    """
    rules = config.load_rules()
    if layer in ("hazard", "garbage"):
        tagged = [c.code for c in rules.categories.values() if c.heat == layer]
        categories = tuple(c for c in tagged if not flt.categories or c in flt.categories)
        flt = replace(flt, categories=categories or ("__none__",))
        weight = 1.0
    elif layer == "unresolved":
        flt = replace(flt, statuses=tuple(s for s in lifecycle.OPEN_STATUSES if not flt.statuses or s in flt.statuses)
                      or ("__none__",))
        weight = overdue_weight
    else:
        raise InputError(f"heat layer '{layer}' is unknown", fix=f"use one of {', '.join(HEAT_LAYERS)}")
    with services.connection() as conn:
        minx, miny, maxx, maxy = services.version(conn).bounds
        cell_lat_deg = cell_m / 111_320.0
        cell_lon_deg = float(cell_lat_deg / np.cos(np.radians((miny + maxy) / 2)))
        return store.fetch_heat_cells(conn, _params(services, conn, flt, now), cell_lon_deg=cell_lon_deg,
                                      cell_lat_deg=cell_lat_deg, overdue_weight=weight)


def daily_counts(services: Services, flt: analytics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Received and completed per day (China time), every day of the period present."""
    with services.connection() as conn:
        counts = store.fetch_daily_counts(conn, _params(services, conn, flt, now))
    days = pd.DataFrame({"day": pd.date_range(flt.since, flt.until, freq="D").date})
    return days.merge(counts, on="day", how="left").fillna({"received": 0, "completed": 0}).astype(
        {"received": int, "completed": int})


def category_counts(services: Services, flt: analytics.CaseFilter, *, now: datetime | None = None) -> pd.DataFrame:
    """Cases per category with its Chinese name and group, most frequent first."""
    rules = config.load_rules()
    with services.connection() as conn:
        counts = store.fetch_category_counts(conn, _params(services, conn, flt, now))
    counts["name"] = counts["category"].map(lambda c: rules.categories[c].name_zh if c in rules.categories else c)
    counts["group"] = counts["category"].map(
        lambda c: rules.categories[c].group_name_zh if c in rules.categories else "")
    return counts


def cases(services: Services, flt: analytics.CaseFilter, *, search: str | None = None, open_only: bool = False,
          limit: int = 5000, now: datetime | None = None) -> pd.DataFrame:
    """The filtered cases, newest first (at most ``limit``), text exactly as stored."""
    with services.connection() as conn:
        return store.fetch_cases(conn, _params(services, conn, flt, now), search=search or None, open_only=open_only,
                                 limit=limit)
