"""What the user has chosen, kept in the URL (``st.query_params``) so a view can be shared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from gis.core.china_time import CHINA_TZ
from gis.core.metrics import CaseFilter

DEFAULT_DAYS = 30


def _list(key: str) -> tuple[str, ...] | None:
    values = st.query_params.get_all(key)
    return tuple(values) if values else None


def _date(key: str, default: date) -> date:
    try:
        return date.fromisoformat(st.query_params.get(key, ""))
    except ValueError:
        return default


def today() -> date:
    from datetime import datetime
    return datetime.now(CHINA_TZ).date()


def filter_from_url() -> CaseFilter:
    """The case filter the URL describes (default: the last 30 days, everything)."""
    until = _date("until", today())
    since = _date("since", until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        since, until = until, since
    return CaseFilter(since=since, until=until, categories=_list("category"), sources=_list("source"),
                      statuses=_list("status"), unit=st.query_params.get("unit") or None)


def filter_to_url(flt: CaseFilter) -> None:
    """Write the filter into the URL (only what differs from the defaults)."""
    params: dict[str, str | list[str]] = {}
    end = today()
    if flt.until != end or flt.since != end - timedelta(days=DEFAULT_DAYS - 1):
        params["since"], params["until"] = flt.since.isoformat(), flt.until.isoformat()
    for key, values in (("category", flt.categories), ("source", flt.sources), ("status", flt.statuses)):
        if values:
            params[key] = list(values)
    if flt.unit:
        params["unit"] = flt.unit
    for key in ("since", "until", "category", "source", "status", "unit"):
        if key not in params and key in st.query_params:
            del st.query_params[key]
    for key, value in params.items():
        current = st.query_params.get_all(key)
        wanted = value if isinstance(value, list) else [value]
        if current != wanted:
            st.query_params[key] = value


@dataclass(frozen=True)
class MapView:
    """Display choices of the situation map."""

    basemap: str = "osm"
    metric: str = "received"
    scheme: str = "quantiles"


def view_from_url() -> MapView:
    return MapView(basemap=st.query_params.get("basemap", "osm"),
                   metric=st.query_params.get("metric", "received"),
                   scheme=st.query_params.get("scheme", "quantiles"))


def view_to_url(view: MapView) -> None:
    defaults = MapView()
    for key in ("basemap", "metric", "scheme"):
        value = getattr(view, key)
        if value == getattr(defaults, key):
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value
