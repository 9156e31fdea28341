"""The pool under load and across a server restart; the schema check; Python and SQL agree.

Run against the real PostGIS: 32 threads share a pool of 8 connections, a
server is stopped and started between two calls, and the lifecycle
functions that ``db init`` creates are compared with the Python rules.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from gis.core.access import SYSTEM
from gis import workflows
from gis.core.china_time import CHINA_TZ
from gis.core.metrics import CaseFilter
from gis.core.rules import lifecycle
from gis.errors import DatabaseBusy, SchemaOutOfDate
from gis.settings import Settings
from gis.store import embedded, migrate
from gis.workflows import Services
from tests.conftest import X0, Y0, D, hierarchy, make_home

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=CHINA_TZ)


def _incidents(statuses: list[str]) -> list[dict]:
    """One incident per status, spread over the four micro-grids of the tiny hierarchy."""
    out = []
    for i, status in enumerate(statuses):
        out.append({"source": "patrol", "external_id": f"P{i}", "category": "env.exposed_garbage",
                    "lon": X0 + (0.5 + 2 * (i % 2)) * D, "lat": Y0 + (0.5 + (i // 2) % 2) * D,
                    "reported_at": "2026-02-20T09:00:00+08:00", "status": status,
                    "description": "", "address": ""})
    return out


@pytest.fixture
def stocked(services, layer_file):
    workflows.import_grids(services, layer_file)
    for record in _incidents(list(lifecycle.STATUSES)):
        workflows.receive_incident(services, record)
    return services


def _page_view(services: Services, i: int) -> None:
    """What the situation page asks for, with a filter of its own."""
    flt = CaseFilter(since=date(2026, 2, 1) + timedelta(days=i % 7), until=date(2026, 3, 1),
                     unit=["C1", "C2", "S1", None][i % 4])
    workflows.kpis(services, flt, now=NOW)
    workflows.unit_stats(services, flt, level="micro", now=NOW)
    workflows.heat_cells(services, flt, layer="unresolved", now=NOW)
    workflows.cases(services, flt, now=NOW, limit=50)


def _backends(services: Services) -> int:
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'gis'")
        return cur.fetchone()[0]


def test_32_threads_share_a_pool_of_8_connections_and_every_call_succeeds(stocked, database_url):
    before = _backends(stocked)  # the fixture's own pool
    with Services.for_url(database_url, principal=SYSTEM, maxconn=8, wait_s=60) as services:
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(lambda i: _page_view(services, i), range(32 * 4)))
        assert len(results) == 128  # an exception in any thread would have been raised by map
        assert _backends(stocked) - before <= 8


def test_an_empty_pool_waits_then_says_the_database_is_busy(services, database_url):
    with Services.for_url(database_url, principal=SYSTEM, maxconn=1, wait_s=0.3) as one:
        held, release = threading.Event(), threading.Event()

        def hold():
            with one.connection():
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(10)
        try:
            with pytest.raises(DatabaseBusy, match="数据库繁忙，请稍后重试"):
                with one.connection():
                    pass
        finally:
            release.set()
            holder.join()
        with one.connection() as conn:  # free again: the next borrower gets it
            assert conn.closed == 0


def test_a_job_after_a_server_restart_reconnects_by_itself(layer_file):
    home = make_home("gis-restart-")
    server = embedded.EmbeddedServer(Settings(database_url=None, gis_home=home, port=None, pg_bin=None))
    try:
        server.ensure_running()
        workflows.init_database(url=server.url())
        with Services.for_url(server.url(), principal=SYSTEM, maxconn=2) as services:
            workflows.import_grids(services, layer_file)
            first = workflows.locate(services, X0 + 0.5 * D, Y0 + 0.5 * D)
            server.stop()
            server.ensure_running()
            second = workflows.locate(services, X0 + 0.5 * D, Y0 + 0.5 * D)
        assert first["micro"]["code"] == second["micro"]["code"] == "G1-01"
    finally:
        server.stop()


def test_services_refuse_a_database_without_the_schema_and_name_db_init(empty_database_url):
    with pytest.raises(SchemaOutOfDate, match="python -m gis db init"):
        Services.for_url(empty_database_url)


def test_a_cli_verb_refuses_an_unmigrated_database_with_one_line(empty_database_url):
    from tests.conftest import run_cli
    done = run_cli("grids", "export", "/tmp/never.geojson", env={"DATABASE_URL": empty_database_url})
    assert done.returncode == 2
    assert "db init" in done.stderr and "Traceback" not in done.stderr


def test_python_and_sql_agree_on_open_and_closed_statuses(services):
    with services.connection() as conn, conn.cursor() as cur:
        for status in lifecycle.STATUSES:
            cur.execute("SELECT gis_is_open(%s), %s = gis_closed_status()", (status, status))
            assert cur.fetchone() == (lifecycle.is_open(status), status == lifecycle.CLOSED_STATUS), status
        assert migrate.vocabulary_matches(conn)


def test_the_open_count_in_sql_is_the_python_rule_over_every_status(stocked):
    stats = workflows.micro_stats(stocked, CaseFilter(since=date(2026, 2, 1), until=date(2026, 3, 1)), now=NOW)
    expected_open = sum(lifecycle.is_open(s) for s in lifecycle.STATUSES)
    assert int(stats["open"].sum()) == expected_open
    assert int(stats["completed"].sum()) == 1  # closed is the one completed stage


def test_cached_grids_are_handed_out_as_copies(stocked):
    grids = workflows.active_grids(stocked)
    grids["name"] = "changed"
    grids.loc[grids.index[0], "code"] = "X"
    again = workflows.active_grids(stocked)
    assert len(again) == len(hierarchy()) and "changed" not in set(again["name"]) and "X" not in set(again["code"])
    assert isinstance(again, pd.DataFrame)


def test_a_connection_lost_mid_job_is_one_clear_error_and_the_next_call_works(services, database_url):
    from gis.errors import DatabaseUnavailable
    from tests.conftest import admin
    killer = admin(database_url)
    try:
        with pytest.raises(DatabaseUnavailable, match="lost during the work; retry"):
            with services.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                pid = cur.fetchone()[0]
                with killer.cursor() as k:
                    k.execute("SELECT pg_terminate_backend(%s)", (pid,))
                cur.execute("SELECT 1")
    finally:
        killer.close()
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT 2")
        assert cur.fetchone() == (2,)
