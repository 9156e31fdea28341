"""The demo's completion rates over the whole district, as the street offices report them.

Measured with the KPI definitions of :mod:`gis.core.metrics` (办结 = 结案; 应办结 =
closed or past the deadline; 按期 = closed by the deadline), for the default
seed and 20,000 incidents.
"""

from __future__ import annotations

import pandas as pd
import pytest

from gis.core import metrics
from gis.core.assignment import GridIndex
from gis.core.hierarchy import GridTree
from gis.core.rules.deadlines import due_at_many
from gis.demo import district
from gis.demo.incidents import demo_incidents

NOW = pd.Timestamp("2026-11-26 08:00", tz="Asia/Shanghai")


@pytest.fixture(scope="module")
def grids():
    return district.demo_grids(seed=42)


@pytest.fixture(scope="module")
def counted(grids):
    """One row per case with the count columns of ``fetch_micro_stats`` and its community."""
    micro, exclusive = grids[grids["level"] == "micro"], grids[grids["level"] == "exclusive"]
    incidents, _ = demo_incidents(micro, n=20_000, seed=42, now=NOW, exclusive=exclusive)
    due_at = due_at_many(incidents["reported_at"], incidents["category"])
    closed = incidents["status"] == "closed"
    hit = GridIndex(micro, exclusive).assign(incidents["lon"].to_numpy(), incidents["lat"].to_numpy())
    community = pd.Series(hit.micro_code, index=incidents.index).map(GridTree(grids).unit_of_micro("community"))
    return pd.DataFrame({"source": incidents["source"], "community": community, "received": 1,
                         "completed": closed.astype(int),
                         "due": (closed | (due_at <= NOW.tz_convert("UTC"))).astype(int),
                         "on_time": (closed & (incidents["closed_at"] <= due_at)).astype(int)})


def test_completion_rates_of_the_district_and_the_12345_hotline(counted):
    total = metrics.totals(counted.assign(open=0, overdue=0))
    assert 0.95 <= total["completion_rate"] <= 1.0
    assert 0.80 <= total["on_time_rate"] <= 0.95
    hotline = metrics.totals(counted[counted["source"] == "12345"].assign(open=0, overdue=0))
    assert hotline["completion_rate"] >= 0.99


def test_a_few_lagging_communities_make_the_ranking_mean_something(counted):
    per = metrics.with_rates(counted.groupby("community")[["received", "completed", "due", "on_time"]].sum())
    assert per["on_time_rate"].median() >= 0.85
    lagging = per[per["on_time_rate"] < 0.75]
    assert 3 <= len(lagging) <= 12
    # they are the bottom of the ranking on completion too, on average
    assert lagging["completion_rate"].mean() < per["completion_rate"].median()
