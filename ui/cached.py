"""The only home of ``st.cache_*`` and of the services the pages share.

Streamlit serves many users from one process: one :class:`Services` (the
pool that waits when busy, and the per-version grid caches) is a cached
resource; data caches are bounded (``ttl``, ``max_entries``). Filters are
frozen dataclasses, so they are the cache keys.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from gis import maps, workflows
from gis.core.metrics import CaseFilter
from gis.workflows import Services

TTL_S = 60


@st.cache_resource(show_spinner="连接数据库…")
def services() -> Services:
    """The shared services; an out-of-date schema is refused with the fix (``db init``)."""
    return workflows.connect(maxconn=8)


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def server_status() -> dict[str, Any]:
    services()
    return workflows.server_status()


def active_grids() -> gpd.GeoDataFrame:
    """The active grids: a copy from the services' per-version cache (no pickling per page run,
    and a new grid version shows at once)."""
    return workflows.active_grids(services())


def simplified_grids(level: str, within: str | None, zoom: int) -> gpd.GeoDataFrame:
    """Grids of one level under ``within``, coverage-simplified for ``zoom`` (neighbours still meet)."""
    return _simplified_grids(workflows.grid_version(services()).id, level, within, zoom)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def _simplified_grids(version_id: int, level: str, within: str | None, zoom: int) -> gpd.GeoDataFrame:
    # keyed by the grid version: a new version draws its own shapes at once
    version = workflows.grid_version(services(), version_id)
    shown = version.level(level)
    if within is not None:
        shown = shown[shown["code"].isin(version.tree.units_under(within, level))]
    if not len(shown):
        return shown
    return maps.simplify_coverage(shown, tolerance_m=maps.tolerance_for_zoom(zoom))


@st.cache_data(ttl=TTL_S, max_entries=64, show_spinner=False)
def situation(flt: CaseFilter, level: str | None, within: str | None) -> workflows.Situation:
    """The situation page's data (KPIs, units at ``level`` under ``within``, heat, trend,
    categories) from one job on one connection; units without geometry (shapes are cached apart)."""
    data = workflows.situation(services(), flt, level=level, within=within)
    units = None if data.units is None else pd.DataFrame(data.units.drop(columns="geometry"))
    return replace(data, units=units)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def cases(flt: CaseFilter, search: str, open_only: bool, limit: int) -> pd.DataFrame:
    return workflows.cases(services(), flt, search=search or None, open_only=open_only, limit=limit)


@st.cache_data(ttl=TTL_S, max_entries=64, show_spinner=False)
def staff(codes: tuple[str, ...]) -> pd.DataFrame:
    return workflows.fetch_staff(services(), grid_codes=list(codes))


@st.cache_data(ttl=TTL_S, max_entries=64, show_spinner=False)
def incident_history(source: str, external_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    return workflows.incident_history(services(), source=source, external_id=external_id)


@st.cache_data(ttl=TTL_S, max_entries=16, show_spinner=False)
def bulletin(week: str, min_due: int):
    return workflows.weekly_bulletin(services(), week, min_due=min_due)


def grid_tree():
    """The active version's grid tree (cached by the services per version; one short borrow)."""
    return workflows.grid_tree(services())
