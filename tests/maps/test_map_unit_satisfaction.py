"""满意率 per map unit: the micro-grid stats carry their 回访 counts (real PostGIS, the demo district)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gis import workflows
from gis.core.access import SYSTEM
from gis.core.metrics import last_days
from gis.workflows import Services


@pytest.fixture(scope="module")
def demo(demo_database_url):
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=2) as services:
        yield services


def test_micro_grid_visit_counts_match_the_database_and_sum_to_the_kpi(demo):
    now = datetime.now(UTC)
    flt = last_days(3650)
    stats = workflows.micro_stats(demo, flt, now=now)
    kpis = workflows.kpis(demo, flt, now=now)
    assert stats["visited"].sum() == kpis["current"]["visited"] > 0
    assert stats["satisfied"].sum() == kpis["current"]["satisfied"]
    busiest = stats.dropna(subset=["micro_code"]).sort_values("visited", ascending=False).iloc[0]
    with demo.connection() as conn, conn.cursor() as cur:
        cur.execute("""
            SELECT count(*), count(*) FILTER (WHERE result IN ('satisfied', 'basically_satisfied'))
            FROM (SELECT DISTINCT ON (v.incident_id) v.result
                  FROM incident_visit v JOIN incident i ON i.id = v.incident_id
                  WHERE i.micro_code = %(code)s AND i.reported_at >= %(since)s AND v.at <= %(now)s
                  ORDER BY v.incident_id, v.at DESC, v.id DESC) latest""",
                    {"code": busiest["micro_code"], "since": flt.params(micro_codes=None, now=now)["since"],
                     "now": now})
        visited, satisfied = cur.fetchone()
    assert (busiest["visited"], busiest["satisfied"]) == (visited, satisfied)


def test_units_get_a_satisfaction_rate_and_no_data_where_nobody_was_visited(demo):
    now = datetime.now(UTC)
    units = workflows.unit_stats(demo, last_days(3650), level="community", now=now)
    visited = units["visited"] > 0
    assert visited.any()
    rates = units.loc[visited, "satisfaction_rate"]
    assert ((rates >= 0) & (rates <= 1)).all()
    np.testing.assert_allclose(rates, units.loc[visited, "satisfied"] / units.loc[visited, "visited"])
    assert units.loc[~visited, "satisfaction_rate"].isna().all()
    # a short recent window leaves some units without a 回访: they are 无数据, not 0 %
    recent = workflows.unit_stats(demo, last_days(1), level="micro", now=now)
    assert recent.loc[recent["visited"] == 0, "satisfaction_rate"].isna().all()
