"""Analysts' jobs: counts by grid level × period, Gi* hot spots, emerging hot spots, repeat locations
(高频点位) and workload, computed by :mod:`gis.core.analytics` on counts PostGIS aggregates.

The CLI (``hotspots``, ``repeats``), notebooks and the situation map call these, so an analyst's
table and the app's layer are the same numbers. ``category`` and ``source`` take one code (the CLI)
or several (the app's filter tuples). Counts follow the KPI definitions of
:mod:`gis.core.metrics` (the store's queries mirror ``fetch_period_stats``; hot spots roll their counts up
through :func:`gis.core.metrics.rollup`, as the map's choropleth does).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import geopandas as gpd
import pandas as pd

from gis.core import analytics as core
from gis.core import china_time, metrics
from gis.errors import InputError
from gis.store import analytics_units
from gis.workflows.context import GridVersion, Services
from gis.workflows.incidents import dispatch_context, dispatches

#: Levels analysed as polygons (the exclusive overlay is not a partition: no contiguity).
LEVELS = ("street", "community", "grid", "micro")
#: What a hot-spot analysis may be run on.
HOT_SPOT_VALUES = {"count": "案件数", "per_1000": "每千户案件数"}


def _filter(since: date, until: date, category: str | Sequence[str] | None,
            source: str | Sequence[str] | None) -> metrics.CaseFilter:
    """The case filter; ``category`` and ``source`` are one code or several (the app's filters: tuples)."""
    if until < since:
        raise InputError(f"the period {since} – {until} ends before it starts", field="until",
                         fix="give --until on or after --since")

    def codes(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
        if not value:
            return None
        return (value,) if isinstance(value, str) else tuple(value)
    return metrics.CaseFilter(since=since, until=until, categories=codes(category), sources=codes(source))


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise InputError(f"level '{level}' cannot be analysed", field="level", fix=f"use one of {', '.join(LEVELS)}")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(china_time.CHINA_TZ)


def _units(version: GridVersion, level: str) -> gpd.GeoDataFrame:
    units = version.level(level)
    return units[["code", "name", "parent_code", "households", "geometry"]].sort_values("code").reset_index(drop=True)


# -- counts ------------------------------------------------------------------------------------


def analysis_periods(services: Services, *, months: int = 12, weeks: int = 52,
                     today: date | None = None) -> core.Periods:
    """The default periods of an analysis (:func:`gis.core.analytics.recent_periods`): the ``months``
    full months and ``weeks`` full ISO weeks before the latest case the principal sees (China
    time; ``today`` when there is no case)."""
    with services.connection() as conn:
        latest = analytics_units.fetch_latest_report(conn)
    if latest is None:
        day = today or datetime.now(china_time.CHINA_TZ).date()
    else:
        day = pd.Timestamp(latest).tz_convert(china_time.CHINA_TZ).date()
    return core.recent_periods(day, months=months, weeks=weeks)


def counts(services: Services, *, level: str, by: str, since: date, until: date, category: str | Sequence[str] | None = None,
           source: str | Sequence[str] | None = None, by_category: bool = False, by_source: bool = False,
           now: datetime | None = None) -> pd.DataFrame:
    """KPI counts and rates per grid at ``level`` × period (``by``: day, week or month, China time).

    Returns
    -------
    DataFrame
        ``code``, ``name``, ``period`` (the day, the ISO week's Monday or the month's first day),
        ``week`` (``YYYY-Www`` of that day), ``category`` and ``source`` (None unless ``by_category``
        / ``by_source``), the counts ``received, completed, due, on_time, open, overdue``, the
        unit's ``households`` and the rates ``completion_rate``, ``on_time_rate`` and ``per_1000``
        (cases per 1,000 households) as :func:`gis.core.metrics.with_rates` defines them. Only
        combinations with cases are listed; unassigned cases (no micro-grid) are left out.
    """
    _check_level(level)
    if by not in analytics_units.PERIODS:
        raise InputError(f"period '{by}' is unknown", field="by", fix="use day, week or month")
    flt = _filter(since, until, category, source)
    with services.connection() as conn:
        version = services.version(conn)
        rows = analytics_units.fetch_period_unit_counts(conn, flt.params(micro_codes=None, now=_now(now)), by=by,
                                                        split_category=by_category, split_source=by_source)
    tree = version.history
    rows = rows.dropna(subset=["micro_code"])
    rows["code"] = rows["micro_code"].map(tree.unit_of_micro(level))
    rows = rows.dropna(subset=["code"])
    keys = ["code", "period", "category", "source"]
    summed = rows.groupby(keys, dropna=False)[metrics.COUNT_COLUMNS].sum().reset_index()
    households = _households(version, level)
    summed["households"] = summed["code"].map(households)
    out = metrics.with_rates(summed)
    out.insert(1, "name", out["code"].map(tree.name))
    out.insert(3, "week", core.iso_week_label(pd.to_datetime(out["period"])) if len(out) else [])
    return out.sort_values(["period", "code"], kind="stable").reset_index(drop=True)


def _households(version: GridVersion, level: str) -> pd.Series:
    """Households per unit, as :func:`gis.core.metrics.rollup` counts them (its own, else its micro-grids')."""
    grids = version.grids
    zero = pd.DataFrame({"micro_code": grids.loc[grids["level"] == "micro", "code"],
                         **{c: 0 for c in metrics.COUNT_COLUMNS}})
    rolled = metrics.rollup(zero, grids, level=level, tree=version.tree)
    return rolled.set_index("code")["households"]


# -- hot spots ---------------------------------------------------------------------------------


def hot_spots_job(services: Services, *, level: str, since: date, until: date, category: str | Sequence[str] | None = None,
                  source: str | Sequence[str] | None = None, value: str = "count", within: str | None = None,
                  permutations: int = 999, seed: int = 0, fdr: bool = True, p_value: str = core.DEFAULT_P_VALUE,
                  now: datetime | None = None) -> gpd.GeoDataFrame:
    """Gi* hot and cold spots of the cases per grid at ``level`` (:func:`gis.core.analytics.hot_spots`).

    The counts are the situation map's 案件数 (``received``: every filtered case, rolled up by
    :func:`gis.core.metrics.rollup`), read by a count-only query; ``value`` is ``count`` or ``per_1000`` (per 1,000 households;
    a unit without households counts 0). ``within`` limits the analysis to the units under a code.

    Returns
    -------
    GeoDataFrame
        ``code``, ``name``, ``count``, ``per_1000``, ``households``, ``z``, ``p``, ``p_norm``, ``gi_bin``,
        ``class``, ``class_zh``, ``confidence``, ``neighbours``, ``geometry`` (WGS-84), by code.
    """
    _check_level(level)
    if value not in HOT_SPOT_VALUES:
        raise InputError(f"value '{value}' is unknown", field="value", fix=f"use one of {', '.join(HOT_SPOT_VALUES)}")
    flt = _filter(since, until, category, source)
    with services.connection() as conn:
        version = services.version(conn)
        received = analytics_units.fetch_micro_case_counts(conn, flt.params(micro_codes=None, now=_now(now)))
    # the map's 案件数 (received) rolled up by the map's own rule; the other KPI counts play no part here
    stats = received.assign(**{c: 0 for c in metrics.COUNT_COLUMNS if c != "received"})
    units = metrics.rollup(stats, version.grids, level=level, within=within, tree=version.history)
    units = units.rename(columns={"received": "count"}).sort_values("code").reset_index(drop=True)
    units["per_1000"] = units["per_1000"].fillna(0.0)
    frame = units[["code", "name", "count", "per_1000", "households", "geometry"]]
    return core.hot_spots(frame, value=value, permutations=permutations, seed=seed, fdr=fdr, p_value=p_value)


# -- emerging hot spots ------------------------------------------------------------------------


def emerging(services: Services, *, level: str = "micro", since: date, until: date, category: str | Sequence[str] | None = None,
             source: str | Sequence[str] | None = None, within: str | None = None, permutations: int = 999, seed: int = 0,
             p_value: str = core.DEFAULT_P_VALUE, now: datetime | None = None) -> pd.DataFrame:
    """Emerging hot spots over the ISO weeks (China time) from ``since`` to ``until``
    (:func:`gis.core.analytics.emerging_hot_spots`): one Gi* per week, Mann–Kendall on its z-scores.

    Returns ``code``, ``name``, ``category``, ``category_zh``, ``trend_z``, ``trend_p``,
    ``hot_weeks``, ``cold_weeks``, ``weeks``. Give whole weeks: a partial first or last week
    has fewer cases and reads as a cold spell.
    """
    _check_level(level)
    flt = _filter(since, until, category, source)
    with services.connection() as conn:
        version = services.version(conn)
        rows = analytics_units.fetch_period_unit_counts(conn, flt.params(micro_codes=None, now=_now(now)), by="week")
    units = _units(version, level)
    if within is not None:
        tree = version.tree
        if within not in tree.level:
            raise InputError(f"grid '{within}' is not in the active grids", field="within",
                             fix="give the code of a stored street, community or grid")
        units = units[units["code"].isin(tree.units_under(within, level) | {within})].reset_index(drop=True)
    rows = rows.dropna(subset=["micro_code"])
    rows["code"] = rows["micro_code"].map(version.history.unit_of_micro(level))
    first = since - timedelta(days=since.weekday())
    mondays = [first + timedelta(weeks=i) for i in range((until - first).days // 7 + 1)]
    weekly = rows.groupby(["code", "period"])["received"].sum().rename("count").reset_index()
    weekly = weekly.rename(columns={"period": "week"})
    return core.emerging_hot_spots(weekly, units, weeks=mondays, permutations=permutations, seed=seed,
                                   p_value=p_value)


# -- repeat locations --------------------------------------------------------------------------


def repeats(services: Services, *, since: date, until: date, k: int = core.REPEAT_RULE.k,
            d_m: float = core.REPEAT_RULE.d_m, t_days: float = core.REPEAT_RULE.t_days,
            category: str | Sequence[str] | None = None, source: str | Sequence[str] | None = None, now: datetime | None = None) -> pd.DataFrame:
    """高频点位: the same category reported ≥ ``k`` times within ``d_m`` metres and ``t_days`` days
    (:func:`gis.core.analytics.repeat_locations`), each with its grid and who serves it.

    Returns
    -------
    DataFrame
        :data:`gis.core.analytics.REPEAT_COLUMNS` plus ``category_zh``, ``address`` (the address
        most of its cases give, ties: the lowest; None when none gives one), ``micro_name``,
        ``street_code``, ``street_name``, ``exclusive_code`` (most of its cases', if any),
        ``worker`` (who takes a general case there: :func:`gis.workflows.incidents.dispatches`)
        and ``worker_reason``; ``case_ids`` become ``source:external_id`` keys.
    """
    from gis.core.rules import config

    flt = _filter(since, until, category, source)
    with services.connection() as conn:
        cases = analytics_units.fetch_analysis_cases(conn, flt.params(micro_codes=None, now=_now(now)))
        context = dispatch_context(services, conn)
    found = core.repeat_locations(cases, k=k, d_m=d_m, t_days=t_days)
    extra = ["category_zh", "address", "micro_name", "street_code", "street_name", "exclusive_code", "worker",
             "worker_reason"]
    if not len(found):
        return pd.DataFrame(columns=core.REPEAT_COLUMNS + extra)
    keys = cases.set_index("id")
    exclusive = [_mode(keys.loc[ids, "exclusive_code"]) for ids in found["case_ids"]]
    given = keys["address"].where(keys["address"].fillna("").str.strip() != "")
    found["address"] = [_mode(given.loc[ids]) for ids in found["case_ids"]]
    found["case_ids"] = [[f"{s}:{e}" for s, e in zip(keys.loc[ids, "source"], keys.loc[ids, "external_id"])]
                         for ids in found["case_ids"]]
    rules = config.load_rules()
    found["category_zh"] = found["category"].map(
        lambda c: rules.categories[c].name_zh if c in rules.categories else c)
    tree = context.version.tree if context.version is not None else None
    found["micro_name"] = found["micro_code"].map(lambda c: tree.name.get(c) if tree and c else None)
    found["street_code"] = found["micro_code"].map(lambda c: tree.ancestor(c, "street") if tree and c else None)
    found["street_name"] = found["street_code"].map(lambda c: tree.name.get(c) if tree and c else None)
    found["exclusive_code"] = exclusive
    who = dispatches(pd.DataFrame({"tier": "general", "micro_code": found["micro_code"],
                                   "exclusive_code": found["exclusive_code"]}), context=context)
    found["worker"], found["worker_reason"] = who["assignee"].to_numpy(), who["reason"].to_numpy()
    return found[core.REPEAT_COLUMNS + extra]


def _mode(values: pd.Series) -> str | None:
    counts = values.dropna().value_counts()
    return None if not len(counts) else min(counts.index[counts == counts.max()])


# -- workload ----------------------------------------------------------------------------------


def workload(services: Services, *, since: date, until: date, category: str | Sequence[str] | None = None,
             source: str | Sequence[str] | None = None, factor: float = 2.0, now: datetime | None = None) -> core.Workload:
    """Cases per worker and per micro-grid per ISO week, handling hours per worker, and the
    micro-grids with more than ``factor`` × their street's median load
    (:func:`gis.core.analytics.workload`); micro-grid frames gain ``name`` and ``street_name``."""
    flt = _filter(since, until, category, source)
    with services.connection() as conn:
        version = services.version(conn)
        cases = analytics_units.fetch_analysis_cases(conn, flt.params(micro_codes=None, now=_now(now)))
    tree = version.history
    streets = {code: tree.ancestor(code, "street") for code in version.tree.micro}
    result = core.workload(cases, streets=streets, factor=factor)
    for frame in (result.by_micro, result.overloaded):
        frame.insert(1, "name", frame["micro_code"].map(tree.name))
    result.overloaded.insert(3, "street_name", result.overloaded["street_code"].map(tree.name))
    return result


