"""Analysts' own SQL (issue 13): read-only, reporters' and staff phones masked, the account's scope kept.

A notebook opens ``workflows.connect_analyst()`` and reads with ``geopandas.read_postgis`` on
``services.analyst_sql()``. The checks run against the real PostGIS: what the analyst's SQL
sees is what the app's jobs would show that account, never a phone in clear, and nothing can
be written, even after the analyst's code commits.
"""

from __future__ import annotations

import random

import geopandas as gpd
import psycopg2
import psycopg2.errors
import pytest

from gis import workflows
from gis.workflows import analytics as analytics_jobs
from gis.core import access, roster
from gis.errors import ConfigError, PermissionDenied
from gis.settings import Settings
from tests.workflows.test_access import CASES, PASSWORD, as_user, office  # noqa: F401 (fixture)


def rows(conn, statement, params=None):
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def test_read_postgis_on_the_analyst_connection_gives_cases_with_masked_phones(office):
    analyst = as_user(office, "analyst")
    with analyst.analyst_sql() as conn:
        cases = gpd.read_postgis("SELECT external_id, reporter_phone, geom FROM incident ORDER BY external_id",
                                 conn, geom_col="geom")
    assert cases.crs.to_epsg() == 4326
    phones = dict(zip(cases["external_id"], cases["reporter_phone"].astype(object).where(
        cases["reporter_phone"].notna(), None)))
    assert phones == {"C1-A": "138****5678", "C2-A": "139****4321", "OUT-A": None}  # none given: NULL


def test_staff_phones_are_masked_like_the_app_masks_them(office):
    with office.transaction() as conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO grid_staff (grid_code, role, name, phone) VALUES "
                        "('G1-01', '专职网格员', '黄子明', '13700001111'), ('G2-01', '网格长', '李四', '0371-6789012')")
    with as_user(office, "analyst").analyst_sql() as conn:
        found = dict(rows(conn, "SELECT name, phone FROM grid_staff WHERE name IN ('黄子明', '李四')"))
    assert found == {"黄子明": roster.mask_phone("13700001111"), "李四": roster.mask_phone("0371-6789012")}
    assert found == {"黄子明": "137****1111", "李四": "0371-***9012"}


def test_the_sql_mask_equals_the_apps_mask_on_any_phone(services):
    rng = random.Random(7)
    phones = ["", "1", "1234567", "12345678", "13812345678", "0371-", "0371-1", "0371-67890123", "+8613812345678"]
    phones += ["".join(rng.choices("0123456789", k=rng.randint(1, 14))) for _ in range(300)]
    phones += [f"{rng.randint(10, 9999)}-{rng.randint(0, 10 ** rng.randint(1, 9))}" for _ in range(100)]
    with services.connection() as conn:
        masked = dict(rows(conn, "SELECT p, gis_mask_phone(p) FROM unnest(%s::text[]) p", (phones,)))
    assert masked == {p: roster.mask_phone(p) for p in phones}


def test_a_community_analyst_sees_only_its_scope_as_the_jobs_would(office):
    workflows.add_user(office, "c1_analyst", role="analyst", scope="C1", password=PASSWORD)
    scoped = as_user(office, "c1_analyst")
    with scoped.analyst_sql() as conn:
        seen = {r[0] for r in rows(conn, "SELECT external_id FROM incident")}
        micro = {r[0] for r in rows(conn, "SELECT DISTINCT micro_code FROM incident")}
    assert seen == {"C1-A"}
    assert micro <= {"G1-01", "G1-02"}
    with as_user(office, "analyst").analyst_sql() as conn:
        assert {r[0] for r in rows(conn, "SELECT external_id FROM incident")} == {c["external_id"] for c in CASES}


@pytest.mark.parametrize("statement", [
    "SELECT reporter_phone FROM public.incident",
    "SELECT phone FROM public.grid_staff",
    "SELECT * FROM app_user",
    "SELECT * FROM audit_log",
    "SELECT raw FROM import_reject",
    "SELECT data FROM incident_attachment",
])
def test_personal_data_accounts_and_the_audit_trail_are_out_of_reach(office, statement):
    with as_user(office, "analyst").analyst_sql() as conn:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            rows(conn, statement)


def test_nothing_can_be_written_even_after_the_analysts_code_commits(office):
    before = rows_of_grid(office)
    with as_user(office, "analyst").analyst_sql() as conn:
        conn.commit()
        with pytest.raises((psycopg2.errors.ReadOnlySqlTransaction, psycopg2.errors.InsufficientPrivilege)):
            rows(conn, "UPDATE grid SET name = 'x'")
        conn.rollback()
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            rows(conn, "CREATE TEMP TABLE t AS SELECT 1")
        conn.rollback()
        assert rows(conn, "SELECT current_user, current_setting('transaction_read_only')") == [
            ("gis_analyst", "on")]
    assert rows_of_grid(office) == before


def rows_of_grid(services):
    with services.connection() as conn:
        return rows(conn, "SELECT code, name FROM grid ORDER BY code")


def test_without_the_read_right_there_is_no_analyst_connection(office):
    with pytest.raises(PermissionDenied):
        with as_user(office, "admin").analyst_sql():
            pass


def test_connect_analyst_runs_for_the_only_analyst_account_and_masks_phones(office, database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("GIS_ANALYST", raising=False)
    services = workflows.connect_analyst()
    try:
        assert (services.principal.name, services.principal.role) == ("analyst", "analyst")
        assert services.principal.masks_personal_data
    finally:
        services.close()


def test_connect_analyst_asks_which_account_when_there_are_several(office, database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("GIS_ANALYST", raising=False)
    workflows.add_user(office, "second_analyst", role="analyst", scope="C2", password=PASSWORD)
    with pytest.raises(ConfigError, match="2 analyst accounts .*analyst, second_analyst") as refused:
        workflows.connect_analyst()
    assert "GIS_ANALYST" in refused.value.fix
    monkeypatch.setenv("GIS_ANALYST", "second_analyst")
    services = workflows.connect_analyst(settings=Settings.from_env())
    try:
        assert services.principal == access.Principal("second_analyst", "analyst", "C2", "second_analyst")
    finally:
        services.close()
    with pytest.raises(ConfigError, match="no enabled analyst account named 'c1'"):
        workflows.connect_analyst("c1")


def test_analysis_periods_follow_the_latest_case_the_account_sees(office):
    periods = analytics_jobs.analysis_periods(as_user(office, "analyst"))
    assert periods.latest.isoformat() == "2026-11-20"        # the cases' day, China time
    assert (periods.since.isoformat(), periods.until.isoformat()) == ("2025-11-01", "2026-10-31")
    assert periods.week_until.isoformat() == "2026-11-15"
