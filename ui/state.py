"""What the user has chosen, kept in the URL (``st.query_params``) so a view can be shared.

The choice follows the user from page to page: Streamlit's menu, ``st.switch_page`` and
``st.page_link`` open a page with an empty query string, so the last filter and map view
written to the URL are kept in the session (:func:`filter_to_url`, :func:`view_to_url`) and put
back into the URL when a page opens without any (:func:`carry_to_url`, called by app.py before
each page runs). A URL that names a filter of its own (a shared link, a link with
``query_params``) wins: nothing is carried into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from gis.core.china_time import CHINA_TZ
from gis.core.metrics import CaseFilter

DEFAULT_DAYS = 30
#: The URL parameter naming one case, ``<source>/<external_id>`` (工单 and 工单处置 open it).
CASE_PARAM = "case"
#: The URL's keys of the case filter and of the map view; each group travels as a whole.
FILTER_KEYS = ("since", "until", "category", "source", "status", "unit")
VIEW_KEYS = ("basemap", "metric", "scheme", "layers")
#: Where the session keeps the last filter and view written to the URL (``{"filter": {...}, "view": {...}}``).
CARRIED_KEY = "carried_query"
_GROUPS = {"filter": FILTER_KEYS, "view": VIEW_KEYS}


def _url_params(keys: tuple[str, ...]) -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in keys if st.query_params.get_all(key)}


def _remember(group: str) -> None:
    carried = dict(st.session_state.get(CARRIED_KEY) or {})
    carried[group] = _url_params(_GROUPS[group])
    st.session_state[CARRIED_KEY] = carried


def carried_params() -> dict[str, list[str]]:
    """The last filter and map view of this session as query parameters, for a link or
    ``st.switch_page(page, query_params=carried_params() | {...})``."""
    carried = st.session_state.get(CARRIED_KEY) or {}
    return {key: list(values) for group in _GROUPS for key, values in (carried.get(group) or {}).items()}


def carry_to_url() -> None:
    """Put the session's last filter (and map view) into the URL of a page opened without one.

    Each group (the filter's dates, categories, sources, statuses and unit; the map's basemap,
    metric and scheme) is restored only when the URL has none of its keys, so a URL's own
    filter, even a partial one, is kept as it is.
    """
    carried = st.session_state.get(CARRIED_KEY) or {}
    for group, keys in _GROUPS.items():
        saved = carried.get(group) or {}
        if saved and not any(key in st.query_params for key in keys):
            for key, values in saved.items():
                st.query_params[key] = list(values) if len(values) > 1 else values[0]


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
    _remember("filter")


@dataclass(frozen=True)
class MapView:
    """Display choices of the situation map."""

    basemap: str = "osm"
    metric: str = "received"
    scheme: str = "quantiles"
    layers: str = "choropleth"  # a key of gis.maps.MAP_MODES: colour classes, heat, or Gi* hot spots


def view_from_url() -> MapView:
    return MapView(basemap=st.query_params.get("basemap", "osm"),
                   metric=st.query_params.get("metric", "received"),
                   scheme=st.query_params.get("scheme", "quantiles"),
                   layers=st.query_params.get("layers", "choropleth"))


def view_to_url(view: MapView) -> None:
    defaults = MapView()
    for key in VIEW_KEYS:
        value = getattr(view, key)
        if value == getattr(defaults, key):
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value
    _remember("view")
