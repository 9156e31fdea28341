"""The weekly bulletin (周通报)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from gis import store
from gis.core import metrics
from gis.core.china_time import CHINA_TZ
from gis.workflows.context import Services
from gis.workflows.dashboards import _params


@dataclass
class Bulletin:
    """The weekly bulletin (周通报) of one ISO week."""

    week: str
    since: Any
    until: Any
    communities: pd.DataFrame     # per community: counts, rates, rank, change from last week
    worst_micro: pd.DataFrame     # the 5 worst micro-grids
    totals: dict[str, Any]
    previous_totals: dict[str, Any]
    min_due: int


def weekly_bulletin(services: Services, week: str, *, min_due: int = 5, worst: int = 5,
                    now: datetime | None = None) -> Bulletin:
    """Per community: received, completed, 办结率, 按期办结率, overdue, rank and change from
    last week; the worst micro-grids. Units with fewer than ``min_due`` cases due are not ranked."""
    monday, sunday = metrics.iso_week(week)
    # a bulletin describes the week as it stood at its end, not as it stands today
    now = now or min(datetime.now(CHINA_TZ),
                     datetime.combine(sunday + pd.Timedelta(days=1), datetime.min.time(), CHINA_TZ))
    flt = metrics.CaseFilter(since=monday, until=sunday)
    last_week = now - pd.Timedelta(days=7)
    with services.connection() as conn:
        version = services.version(conn)
        stats = store.fetch_micro_stats(conn, _params(services, conn, flt, now))
        previous_stats = store.fetch_micro_stats(conn, _params(services, conn, flt.previous(), last_week))
    grids, tree = version.grids, version.tree
    current = metrics.rollup(stats, grids, level="community", tree=tree)
    previous = metrics.rollup(previous_stats, grids, level="community", tree=tree)
    streets = grids[grids["level"] == "street"].set_index("code")["name"]
    table = metrics.ranking(pd.DataFrame(current.drop(columns="geometry")), min_due=min_due)
    prev = previous.set_index("code")
    table["street"] = table["parent_code"].map(streets)
    table["received_change"] = table["received"] - table["code"].map(prev["received"]).fillna(0)
    table["completion_rate_change"] = table["completion_rate"] - table["code"].map(prev["completion_rate"])
    prev_rank = metrics.ranking(pd.DataFrame(previous.drop(columns="geometry")), min_due=min_due).set_index("code")["rank"]
    table["previous_rank"] = table["code"].map(prev_rank)
    micro = metrics.rollup(stats, grids, level="micro", tree=tree)
    micro = pd.DataFrame(micro.drop(columns="geometry"))
    micro = micro[micro["received"] > 0]
    names = grids.set_index("code")["name"]
    micro["community"] = micro["code"].map(tree.unit_of_micro("community")).map(names)
    worst_micro = micro.sort_values(["overdue", "open", "completion_rate"], ascending=[False, False, True]).head(worst)
    return Bulletin(week=week.upper(), since=monday, until=sunday, communities=table.reset_index(drop=True),
                    worst_micro=worst_micro.reset_index(drop=True), totals=metrics.totals(stats),
                    previous_totals=metrics.totals(previous_stats),
                    min_due=min_due)
