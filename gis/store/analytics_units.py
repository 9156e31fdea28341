"""Analysts' aggregates: counts per micro-grid × period × category × source, cases per micro-grid,
and the case rows repeat locations and workload read (named queries of ``sql/analytics_units.sql``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gis.store import db

PERIODS = ("day", "week", "month")
PERIOD_COUNT_COLUMNS = ["micro_code", "period", "category", "source", "received", "completed", "due", "on_time",
                        "open", "overdue"]
ANALYSIS_CASE_COLUMNS = ["id", "source", "external_id", "category", "status", "tier", "reported_at", "closed_at",
                         "micro_code", "exclusive_code", "assignee", "address", "lon", "lat"]


def _frame(conn, name: str, params: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(db.queries()[name], params)
        return pd.DataFrame.from_records(cur.fetchall(), columns=columns)


def fetch_period_unit_counts(conn, params: dict[str, Any], *, by: str, split_category: bool = False,
                             split_source: bool = False) -> pd.DataFrame:
    """KPI counts per micro-grid × period (``by``: day, week — the ISO week's Monday — or month, China
    time) × category × source (NULL unless split) of the filtered cases (``params`` of
    :meth:`gis.core.metrics.CaseFilter.params`)."""
    if by not in PERIODS:
        raise ValueError(f"by must be one of {PERIODS}, not {by!r}")
    return _frame(conn, "fetch_period_unit_counts",
                  {**params, "by": by, "split_category": split_category, "split_source": split_source},
                  PERIOD_COUNT_COLUMNS)


def fetch_micro_case_counts(conn, params: dict[str, Any]) -> pd.DataFrame:
    """``micro_code``, ``received`` of the filtered cases (one row with micro_code None for the unassigned)."""
    return _frame(conn, "fetch_micro_case_counts", params, ["micro_code", "received"])


def fetch_analysis_cases(conn, params: dict[str, Any]) -> pd.DataFrame:
    """The filtered cases, oldest first: :data:`ANALYSIS_CASE_COLUMNS` (lon/lat in degrees WGS-84)."""
    return _frame(conn, "fetch_analysis_cases", params, ANALYSIS_CASE_COLUMNS)


def fetch_latest_report(conn) -> Any:
    """When the latest case the principal sees was reported (tz-aware), None without cases."""
    with conn.cursor() as cur:
        cur.execute(db.queries()["fetch_latest_report"])
        return cur.fetchone()[0]
