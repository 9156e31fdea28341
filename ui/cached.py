"""The only home of ``st.cache_*`` and of the services the pages share.

Streamlit serves many users from one process: one :class:`Services` (the
pool that waits when busy, and the per-version grid caches) is a cached
resource, unbound and shared; each call binds the signed-in user to it
(``as_user``), so every job runs under that user's row-level security.

Data caches are bounded (``ttl``, ``max_entries``) and keyed by the user's
``cache_key`` (role and scope: users with the same key see the same rows and
the same masking), so nobody is ever served a frame read for another scope.
Each cached function takes that key as its first, hashed argument and the
principal as ``_user`` (unhashed: it only binds the job); the public
functions below pass both, so they cannot disagree. Filters are frozen
dataclasses, so they are cache keys too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from gis import maps, workflows
from gis.core.access import Principal
from gis.core.analytics import DEFAULT_P_VALUE, REPEAT_RULE, RepeatRule
from gis.core.metrics import CaseFilter
from gis.workflows import Services, analytics

TTL_S = 60
CacheKey = tuple[str, str | None]


@st.cache_resource(show_spinner="连接数据库…")
def services() -> Services:
    """The shared services, bound to nobody (a job run on them sees nothing); an out-of-date
    schema is refused with the fix (``db init``)."""
    return workflows.connect(principal=None, maxconn=8)


def for_user(user: Principal) -> Services:
    """The shared pool and caches, bound to ``user`` (cheap: one per call)."""
    return services().as_user(user)


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def server_status() -> dict[str, Any]:
    """Versions and where the data live: no rows of anybody's, so shared by all."""
    services()
    return workflows.server_status()


def active_grids(user: Principal) -> gpd.GeoDataFrame:
    """The grids ``user`` may see in the active version: a copy from the services' cache,
    which is keyed by version and scope (no pickling per page run; a new version shows at once)."""
    return workflows.active_grids(for_user(user))


def exclusive_partners(user: Principal) -> pd.DataFrame:
    """Each visible exclusive grid's 共建 communities (cached by the services per version and scope)."""
    return workflows.exclusive_partners(for_user(user))


def grid_tree(user: Principal):
    """The grid tree of the grids ``user`` may see (cached by the services per version and scope)."""
    return workflows.grid_tree(for_user(user))


def simplified_grids(user: Principal, level: str, within: str | None, zoom: int) -> gpd.GeoDataFrame:
    """Grids of one level under ``within``, coverage-simplified for ``zoom`` (neighbours still meet)."""
    version_id = workflows.grid_version(for_user(user)).id
    return _simplified_grids(user.cache_key, user, version_id, level, within, zoom)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def _simplified_grids(key: CacheKey, _user: Principal, version_id: int, level: str, within: str | None,
                      zoom: int) -> gpd.GeoDataFrame:
    # keyed by the grid version: a new version draws its own shapes at once
    version = workflows.grid_version(for_user(_user), version_id)
    shown = version.level(level)
    if within is not None:
        shown = shown[shown["code"].isin(version.tree.units_under(within, level))]
    if not len(shown):
        return shown
    return maps.simplify_coverage(shown, tolerance_m=maps.tolerance_for_zoom(zoom))


def situation(user: Principal, flt: CaseFilter, level: str | None, within: str | None) -> workflows.Situation:
    """The situation page's data (KPIs, units at ``level`` under ``within``, heat, trend,
    categories) from one job on one connection; units without geometry (shapes are cached apart)."""
    return _situation(user.cache_key, user, flt, level, within)


@st.cache_data(ttl=TTL_S, max_entries=64, show_spinner=False)
def _situation(key: CacheKey, _user: Principal, flt: CaseFilter, level: str | None,
               within: str | None) -> workflows.Situation:
    data = workflows.situation(for_user(_user), flt, level=level, within=within)
    units = None if data.units is None else pd.DataFrame(data.units.drop(columns="geometry"))
    return replace(data, units=units)


def cases(user: Principal, flt: CaseFilter, search: str, open_only: bool, limit: int) -> pd.DataFrame:
    """The cases ``user`` may see that match the filter, newest first."""
    return _cases(user.cache_key, user, flt, search, open_only, limit)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def _cases(key: CacheKey, _user: Principal, flt: CaseFilter, search: str, open_only: bool,
           limit: int) -> pd.DataFrame:
    return workflows.cases(for_user(_user), flt, search=search or None, open_only=open_only, limit=limit)


def case_count(user: Principal, flt: CaseFilter, search: str, open_only: bool) -> int:
    """How many cases ``user`` may see match the filter (no display limit): what an export writes."""
    return _case_count(user.cache_key, user, flt, search, open_only)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def _case_count(key: CacheKey, _user: Principal, flt: CaseFilter, search: str, open_only: bool) -> int:
    return workflows.count_cases(for_user(_user), flt, search=search or None, open_only=open_only)


def staff(user: Principal, codes: tuple[str, ...]) -> pd.DataFrame:
    """The staff of the grids ``codes`` (phones masked)."""
    return _staff(user.cache_key, user, codes)


@st.cache_data(ttl=TTL_S, max_entries=64, show_spinner=False)
def _staff(key: CacheKey, _user: Principal, codes: tuple[str, ...]) -> pd.DataFrame:
    return workflows.fetch_staff(for_user(_user), grid_codes=list(codes))


def incident_history(user: Principal, source: str, external_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """One case and its events; the reporter's phone masked for roles that mask personal data."""
    return _incident_history(user.cache_key, user, source, external_id)


@st.cache_data(ttl=TTL_S, max_entries=64, show_spinner=False)
def _incident_history(key: CacheKey, _user: Principal, source: str,
                      external_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    return workflows.incident_history(for_user(_user), source=source, external_id=external_id)


def bulletin(user: Principal, kind: str, period: str, street: str | None, source: str, min_due: int):
    """The bulletin (周通报, 月汇总, 年度考核) of a period for the district or ``street``, all channels
    or 12345 only, as ``user`` may see it, with its map figure."""
    return _bulletin(user.cache_key, user, kind, period, street, source, min_due)


@st.cache_data(ttl=TTL_S, max_entries=16, show_spinner=False)
def _bulletin(key: CacheKey, _user: Principal, kind: str, period: str, street: str | None, source: str,
              min_due: int):
    return workflows.period_bulletin(for_user(_user), kind, period, street=street, source=source, min_due=min_due)


def queue_count(user: Principal) -> int:
    """How many open cases in ``user``'s view wait in 待分派 (the sidebar's count)."""
    return _queue_count(user.cache_key, user)


@st.cache_data(ttl=15, max_entries=64, show_spinner=False)
def _queue_count(key: CacheKey, _user: Principal) -> int:
    return workflows.queue_count(for_user(_user))


def open_cases_by_overdue(user: Principal, flt: CaseFilter, limit: int) -> pd.DataFrame:
    """The open cases ``user`` may see that match the filter, the most overdue first (with ``overdue_h``)."""
    return _open_cases_by_overdue(user.cache_key, user, flt, limit)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def _open_cases_by_overdue(key: CacheKey, _user: Principal, flt: CaseFilter, limit: int) -> pd.DataFrame:
    return workflows.open_cases_by_overdue(for_user(_user), flt, limit=limit)


def staff_summary(user: Principal, level: str, within: str | None) -> pd.DataFrame:
    """Staff on duty per grid at ``level`` under ``within``, counted by role (``user``'s view)."""
    return _staff_summary(user.cache_key, user, level, within)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def _staff_summary(key: CacheKey, _user: Principal, level: str, within: str | None) -> pd.DataFrame:
    return workflows.staff_summary(for_user(_user), level=level, within=within)



#: The cases the work list shows at most (the counts cover every case).
WORKLIST_ROWS = 500


def work_list(user: Principal, unit: str | None, bucket: str | None = None) -> workflows.WorkList:
    """工作台 of ``user``'s scope (or of ``unit`` under it): counts per bucket and the cases of
    ``bucket`` (None: of any bucket) sorted by urgency, phones masked as the role sees them;
    read again after 30 s (the list is about now)."""
    return _work_list(user.cache_key, user, unit, bucket)


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def _work_list(key: CacheKey, _user: Principal, unit: str | None, bucket: str | None) -> workflows.WorkList:
    return workflows.work_list(for_user(_user), unit=unit, bucket=bucket, limit=WORKLIST_ROWS)


#: Hot spots and repeat locations are read again after 5 minutes.
ANALYTICS_TTL_S = 300


def hot_spots(user: Principal, flt: CaseFilter, level: str, within: str | None, *,
              p_value: str = DEFAULT_P_VALUE) -> pd.DataFrame:
    """Gi* hot and cold spots per grid at ``level`` under ``within`` (None: the whole view) of the
    filter's period, categories and sources: :func:`gis.workflows.analytics.hot_spots_job`, the
    CLI's ``hotspots``, under ``user``'s row-level security, without geometry (the map has its
    shapes); ``p_value`` is the job's (which p decides the classes). Cached per scope, grid
    version, period, categories, sources, level, ``within`` and ``p_value``."""
    version_id = workflows.grid_version(for_user(user)).id
    return _hot_spots(user.cache_key, user, version_id, flt.since, flt.until, flt.categories, flt.sources,
                      level, within, p_value)


@st.cache_data(ttl=ANALYTICS_TTL_S, max_entries=64, show_spinner=False)
def _hot_spots(key: CacheKey, _user: Principal, version_id: int, since, until, categories: tuple[str, ...] | None,
               sources: tuple[str, ...] | None, level: str, within: str | None, p_value: str) -> pd.DataFrame:
    # the classes by the normal p need no permutations (the map shows p_norm): a tenth of the time
    spots = analytics.hot_spots_job(for_user(_user), level=level, since=since, until=until, category=categories,
                                    source=sources, within=within, p_value=p_value,
                                    permutations=999 if p_value == "permutation" else 0)
    return pd.DataFrame(spots.drop(columns="geometry"))


def repeats(user: Principal, flt: CaseFilter, rule: RepeatRule = REPEAT_RULE) -> pd.DataFrame:
    """高频点位 of the filter's period, categories and sources that ``user`` may see (``rule``: the
    same category ≥ ``k`` times within ``d_m`` metres and ``t_days`` days), with grid and
    responsible worker: :func:`gis.workflows.analytics.repeats`, the CLI's ``repeats``. Cached per
    scope, period, categories, sources and rule."""
    return _repeats(user.cache_key, user, flt.since, flt.until, flt.categories, flt.sources,
                    rule.k, rule.d_m, rule.t_days)


@st.cache_data(ttl=ANALYTICS_TTL_S, max_entries=32, show_spinner=False)
def _repeats(key: CacheKey, _user: Principal, since, until, categories: tuple[str, ...] | None,
             sources: tuple[str, ...] | None, k: int, d_m: float, t_days: float) -> pd.DataFrame:
    return analytics.repeats(for_user(_user), since=since, until=until, k=k, d_m=d_m, t_days=t_days,
                             category=categories, source=sources)
