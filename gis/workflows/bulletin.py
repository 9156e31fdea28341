"""Bulletins (通报) a district or a street office issues: 周通报, 月汇总 and 年度考核.

One job, :func:`period_bulletin`, makes the bulletin of one period (an ISO week, a
calendar month or a year) for the district or one street, over all channels or the
12345 hotline only. Figures are as they stood at the end of the period, so a past
bulletin never changes later; the map figure (办结率 per community) is drawn here and
handed to ``gis.io.bulletin`` as PNG bytes (``io`` and ``maps`` are sibling layers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd

from gis import store
from gis.core import hierarchy, metrics
from gis.core.metrics import BULLETIN_SOURCES, BULLETIN_SOURCES_ZH, PERIOD_KINDS_ZH, PREVIOUS_ZH
from gis.core.china_time import CHINA_TZ
from gis.errors import InputError
from gis.workflows.context import Services
from gis.workflows.dashboards import _params

#: The metric of the bulletin's map figure.
MAP_METRIC = "completion_rate"


@dataclass(frozen=True)
class Period:
    """One bulletin period: ``kind`` (week, month, year), its label (``2026-W47``, ``2026-11``,
    ``2026``) and its first and last day (China time, both included)."""

    kind: str
    label: str
    since: date
    until: date

    @property
    def end(self) -> datetime:
        """The moment the period ends (midnight after its last day, China time)."""
        return datetime.combine(self.until + timedelta(days=1), time(), CHINA_TZ)

    @property
    def label_zh(self) -> str:
        """``2026年第47周``, ``2026年11月``, ``2026年``."""
        if self.kind == "week":
            year, week = self.label.split("-W")
            return f"{year}年第{int(week)}周"
        if self.kind == "month":
            year, month = self.label.split("-")
            return f"{year}年{int(month)}月"
        return f"{self.label}年"

    def previous(self) -> Period:
        """The week, month or year just before."""
        return bulletin_period(self.kind, _label(self.kind, self.since - timedelta(days=1)))


def _label(kind: str, day: date) -> str:
    if kind == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return f"{day.year}-{day.month:02d}" if kind == "month" else str(day.year)


def bulletin_period(kind: str, label: str) -> Period:
    """The period of ``label``: ``2026-W47`` (week), ``2026-11`` (month) or ``2026`` (year).

    Raises :class:`InputError` naming the field (week, month, year) and the form it takes.
    """
    if kind not in PERIOD_KINDS_ZH:
        raise InputError(f"bulletin period '{kind}' is unknown", field="period", fix="use week, month or year")
    low, high = metrics.ISO_WEEK_YEARS
    if kind == "week":
        monday, sunday = metrics.iso_week(label)
        return Period("week", label.upper(), monday, sunday)
    text = str(label).strip()
    if kind == "month":
        match = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
        if not match or not 1 <= int(match[2]) <= 12:
            raise InputError(f"month '{label}' is not a month", field="month", fix="write it like 2026-11")
        year, month = int(match[1]), int(match[2])
    else:
        if not re.fullmatch(r"\d{4}", text):
            raise InputError(f"year '{label}' is not a year", field="year", fix="write it like 2026")
        year, month = int(text), None
    if not low <= year <= high:
        raise InputError(f"{kind} '{label}' is outside the years {low}–{high}", field=kind,
                         fix=f"give one in that range, like {'2026-11' if month else '2026'}")
    if month is None:
        return Period("year", str(year), date(year, 1, 1), date(year, 12, 31))
    first = date(year, month, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return Period("month", f"{year}-{month:02d}", first, last)


def last_complete_period(kind: str, *, today: date | None = None) -> Period:
    """The last week, month or year that has ended by ``today`` (China time): the default of a bulletin."""
    today = today or datetime.now(CHINA_TZ).date()
    if kind == "week":
        day = today - timedelta(days=today.isoweekday())          # last Sunday
    elif kind == "month":
        day = today.replace(day=1) - timedelta(days=1)
    elif kind == "year":
        day = date(today.year - 1, 12, 31)
    else:
        raise InputError(f"bulletin period '{kind}' is unknown", field="period", fix="use week, month or year")
    return bulletin_period(kind, _label(kind, day))


def bulletin_source(source: str | None) -> str | None:
    """The stored channel of a ``--source`` value (``all`` → None, ``hotline12345`` → ``12345``)."""
    key = "all" if source is None else str(source).strip().lower()
    if key not in BULLETIN_SOURCES:
        raise InputError(f"source '{source}' is not a bulletin source", field="source",
                         fix="use all (every channel) or hotline12345 (the 12345 hotline)")
    return BULLETIN_SOURCES[key]


@dataclass
class Bulletin:
    """A bulletin (通报) of one period, for the district or one street.

    ``communities`` has per community: ``code, name, street, received, completed, due,
    on_time, open, overdue, completion_rate, on_time_rate`` (rates 0–1), ``rank``
    (Int64, empty when fewer than ``min_due`` cases were due), ``rank_note``,
    ``previous_rank`` and the changes from the previous period ``received_change``,
    ``completion_rate_change``, ``on_time_rate_change`` (rates as fractions).
    """

    week: str                     # the period's label (2026-W47, 2026-11, 2026); named week for old callers
    since: date
    until: date
    communities: pd.DataFrame
    worst_micro: pd.DataFrame     # the worst micro-grids (most overdue, most open)
    totals: dict[str, Any]        # metrics.totals plus visited / satisfied (满意率) where known
    previous_totals: dict[str, Any]
    min_due: int
    kind: str = "week"
    office: str = "中原区"          # whose bulletin: the district's name, or the street's
    scope_code: str | None = None  # the street's code; None for the district
    source: str = "all"           # a key of BULLETIN_SOURCES
    issued: date | None = None
    previous_label: str = ""
    best: pd.DataFrame = field(default_factory=pd.DataFrame)     # the best ranked communities
    lagging: pd.DataFrame = field(default_factory=pd.DataFrame)  # the lagging ranked communities, worst first
    map_png: bytes | None = None  # 办结率 per community (gis.maps.figure.map_figure)

    @property
    def period(self) -> str:
        return self.week

    @property
    def issuer(self) -> str:
        """The issuing office (发文单位): 航海西路街道办事处, 中原区人民政府."""
        return hierarchy.issuing_office(self.office, "street" if self.scope_code else "district")

    @property
    def title(self) -> str:
        """``航海西路街道网格化治理工作月汇总`` (12345 only: ``…12345热线月汇总``)."""
        channel = "12345热线" if self.source == "hotline12345" else ""
        return f"{self.office}网格化治理工作{channel}{PERIOD_KINDS_ZH[self.kind]}"

    @property
    def previous_zh(self) -> str:
        return PREVIOUS_ZH[self.kind]

    @property
    def period_zh(self) -> str:
        return Period(self.kind, self.week, self.since, self.until).label_zh

    @property
    def source_zh(self) -> str:
        return BULLETIN_SOURCES_ZH[self.source]


def period_bulletin(services: Services, kind: str, period: str | None = None, *, street: str | None = None,
                    source: str = "all", min_due: int = 5, worst: int = 5, top: int = 3,
                    now: datetime | None = None, issued: date | None = None,
                    with_map: bool = True) -> Bulletin:
    """The bulletin of one week, month or year, for the district or one street.

    Parameters
    ----------
    kind
        ``week`` (周通报), ``month`` (月汇总) or ``year`` (年度考核).
    period
        ``2026-W47``, ``2026-11`` or ``2026``; default the last complete one.
    street
        A street's code: only its communities and cases, the street as the issuing office.
    source
        ``all`` or ``hotline12345`` (cases of the 12345 channel).
    min_due
        Communities with fewer cases due (应办结) are listed unranked, with a note.
    worst, top
        How many problem micro-grids, and how many best and lagging communities, to name.
    now
        When the figures are read; default the end of the period (or the present, if earlier).
    issued
        The issue date printed on the bulletin; default today (China time).
    with_map
        Draw the map figure (办结率 per community, PNG).
    """
    current = bulletin_period(kind, period) if period else last_complete_period(kind)
    before = current.previous()
    channel = bulletin_source(source)
    real_now = datetime.now(CHINA_TZ)
    # a bulletin describes the period as it stood at its end, not as it stands today
    now = now or min(real_now, current.end)
    previous_now = min(now, before.end)
    sources = (channel,) if channel else None
    with services.connection() as conn:
        version = services.version(conn)
        grids, tree = version.grids, version.history
        office = _office(grids, street)
        flt = metrics.CaseFilter(since=current.since, until=current.until, sources=sources, unit=street)
        prev_flt = metrics.CaseFilter(since=before.since, until=before.until, sources=sources, unit=street)
        stats, extra = store.fetch_period_stats(conn, _params(services, conn, flt, now))
        previous_stats, previous_extra = store.fetch_period_stats(conn, _params(services, conn, prev_flt,
                                                                                previous_now))
    table = _community_table(stats, previous_stats, grids, tree, street=street, min_due=min_due)
    worst_micro = _worst_micro(stats, version.history_grids, tree, street=street, worst=worst)
    totals, previous_totals = metrics.totals(stats), metrics.totals(previous_stats)
    for record, more in ((totals, extra), (previous_totals, previous_extra)):
        record.update({k: more.get(k) for k in ("visited", "satisfied")})
    ranked = table[table["rank"].notna()]
    best = ranked.head(top)
    lagging = ranked[~ranked["code"].isin(best["code"])].tail(top).iloc[::-1]
    bulletin = Bulletin(
        week=current.label, since=current.since, until=current.until, communities=table.reset_index(drop=True),
        worst_micro=worst_micro, totals=totals, previous_totals=previous_totals, min_due=min_due, kind=kind,
        office=office, scope_code=street, source="all" if channel is None else "hotline12345",
        issued=issued or real_now.date(), previous_label=before.label,
        best=best.reset_index(drop=True), lagging=lagging.reset_index(drop=True))
    if with_map:
        bulletin.map_png = _map_png(bulletin, grids)
    return bulletin


def weekly_bulletin(services: Services, week: str, *, min_due: int = 5, worst: int = 5,
                    now: datetime | None = None, street: str | None = None, source: str = "all") -> Bulletin:
    """The 周通报 of one ISO week (``2026-W47``) without the map: :func:`period_bulletin` of ``week``."""
    return period_bulletin(services, "week", week, street=street, source=source, min_due=min_due, worst=worst,
                           now=now, with_map=False)


def _office(grids: pd.DataFrame, street: str | None) -> str:
    """The issuing office: the street's name, or the district's."""
    levels = grids.set_index("code")["level"]
    names = grids.set_index("code")["name"]
    if street is not None:
        if levels.get(street) != "street":
            known = grids.loc[grids["level"] == "street", "code"].sort_values()
            example = f", e.g. {known.iloc[0]}" if len(known) else ""
            raise InputError(f"street '{street}' is not a street of the active grids", field="street",
                             fix=f"give the code of a street you may see{example}")
        return str(names[street])
    districts = grids.loc[grids["level"] == "district", "name"]
    return str(districts.iloc[0]) if len(districts) else "中原区"


def _community_table(stats: pd.DataFrame, previous_stats: pd.DataFrame, grids: gpd.GeoDataFrame, tree, *,
                     street: str | None, min_due: int) -> gpd.GeoDataFrame:
    """Per community (of the street, or all): counts, rates, rank with its note, changes; with geometry."""
    current = metrics.rollup(stats, grids, level="community", within=street, tree=tree)
    previous = metrics.rollup(previous_stats, grids, level="community", within=street, tree=tree)
    streets = grids[grids["level"] == "street"].set_index("code")["name"]
    geometry = current.set_index("code")["geometry"]
    table = metrics.ranking(pd.DataFrame(current.drop(columns="geometry")), min_due=min_due)
    prev = previous.set_index("code")
    table["street"] = table["parent_code"].map(streets)
    table["rank_note"] = table["rank"].isna().map({True: f"应办结不足 {min_due} 件，不参与排名", False: ""})
    table["received_change"] = table["received"] - table["code"].map(prev["received"]).fillna(0)
    for rate in ("completion_rate", "on_time_rate"):
        table[f"{rate}_change"] = table[rate] - table["code"].map(prev[rate])
    prev_rank = metrics.ranking(pd.DataFrame(previous.drop(columns="geometry")), min_due=min_due)
    table["previous_rank"] = table["code"].map(prev_rank.set_index("code")["rank"])
    table["geometry"] = table["code"].map(geometry)
    return gpd.GeoDataFrame(table, geometry="geometry", crs=grids.crs)


def _worst_micro(stats: pd.DataFrame, grids: pd.DataFrame, tree, *, street: str | None, worst: int) -> pd.DataFrame:
    micro = pd.DataFrame(metrics.rollup(stats, grids, level="micro", within=street, tree=tree).drop(
        columns="geometry"))
    micro = micro[micro["received"] > 0]
    names = grids.set_index("code")["name"]
    micro["community"] = micro["code"].map(tree.unit_of_micro("community")).map(names)
    return micro.sort_values(["overdue", "open", "completion_rate", "code"], ascending=[False, False, True, True],
                             kind="stable").head(worst).reset_index(drop=True)


def _map_png(bulletin: Bulletin, grids: gpd.GeoDataFrame) -> bytes:
    """办结率 per community as a PNG (gis.maps.figure), the bulletin's own 办结率 as the reference."""
    from gis.maps.figure import map_figure
    metric = metrics.METRICS[MAP_METRIC]
    table = bulletin.communities
    units = gpd.GeoDataFrame({"code": table["code"], "name": table["name"],
                              "value": table[MAP_METRIC].map(metric.display)},
                             geometry=table.geometry.to_crs(4326) if table.crs else table.geometry, crs=4326)
    # the ramp diverges around the bulletin's own 办结率 (the legend reads 以总体 … 为中点)
    reference = metric.display(bulletin.totals.get(MAP_METRIC))
    notes = (f"数据来源：{bulletin.source_zh}；统计截至 {bulletin.until}",
             "无应办结案件的社区为灰色（无数据）")
    return map_figure(units, metric=MAP_METRIC, title=f"{bulletin.office}各社区{metric.label}",
                      subtitle=f"{bulletin.period_zh}（{bulletin.since} 至 {bulletin.until}）",
                      scheme="natural_breaks", reference=reference, notes=notes, fmt="png")
