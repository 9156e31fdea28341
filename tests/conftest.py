"""Test harness: one real PostGIS for the session, a clean database per test.

The server is the embedded one in a temporary ``GIS_HOME`` or, when
``DATABASE_URL`` is set, that server (its user needs CREATEDB). Tests never
skip for want of a server: if none can be started, the session fails.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import psycopg2
import pytest
from psycopg2 import sql as pgsql
from shapely.geometry import box

from gis.core.access import SYSTEM
from gis.settings import PROJECT_ROOT, Settings
from gis.store import db, embedded, migrate
from gis.workflows.context import Services

TEMPLATE = "gis_test_template"
_counter = itertools.count()


def make_home(prefix: str = "gis-test-") -> Path:
    """A temporary GIS_HOME the unprivileged server user can enter when we are root
    (pytest's own tmp folders are private to root)."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.chmod(0o755)
    return home


def url_for(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def admin(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def pg_server():
    """``{'url': admin URL, 'home': GIS_HOME or None}`` of the session's server."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield {"url": external, "home": None}
        return
    home = make_home()
    server = embedded.EmbeddedServer(Settings(database_url=None, gis_home=home, port=None, pg_bin=None))
    server.ensure_running()
    try:
        yield {"url": server.url(), "home": home}
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_url(pg_server):
    """A migrated template database that each test's database is copied from."""
    conn = admin(pg_server["url"])
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(TEMPLATE)))
        cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(TEMPLATE)))
    url = url_for(pg_server["url"], TEMPLATE)
    with db.Database(url, maxconn=1) as database:
        migrate.migrate(database)
    yield url
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(TEMPLATE)))
    conn.close()


def _fresh_database(pg_server, template: str | None):
    name = f"gis_test_{os.getpid()}_{next(_counter)}"
    conn = admin(pg_server["url"])
    with conn.cursor() as cur:
        if template:
            cur.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY file_copy").format(
                pgsql.Identifier(name), pgsql.Identifier(template)))
        else:
            cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    return conn, name


@pytest.fixture
def database_url(pg_server, template_url):
    """URL of a clean, migrated database of this test's own."""
    conn, name = _fresh_database(pg_server, TEMPLATE)
    yield url_for(pg_server["url"], name)
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
    conn.close()


@pytest.fixture
def empty_database_url(pg_server):
    """URL of an empty database (no PostGIS, no schema) of this test's own."""
    conn, name = _fresh_database(pg_server, None)
    yield url_for(pg_server["url"], name)
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
    conn.close()


@pytest.fixture
def services(database_url):
    """:class:`gis.workflows.Services` on a clean, migrated database of this test's own."""
    with Services.for_url(database_url, principal=SYSTEM, maxconn=4) as services:
        yield services


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m gis ARGS`` as a user would, in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GIS_HOME", "GIS_PORT")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "gis", *args], capture_output=True, text=True,
                          env=full_env, cwd=PROJECT_ROOT, timeout=timeout, input=input)


@pytest.fixture
def cli(database_url):
    """``cli('grids', 'import', path)`` against this test's database through DATABASE_URL."""
    def call(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
        return run_cli(*args, env={"DATABASE_URL": database_url, **(env or {})}, **kwargs)
    return call


# -- a tiny grid hierarchy with obvious answers ----------------------------------------------

X0, Y0, D = 113.60, 34.75, 0.001


def cell(i0, j0, i1, j1):
    return box(X0 + i0 * D, Y0 + j0 * D, X0 + i1 * D, Y0 + j1 * D)


def hierarchy() -> gpd.GeoDataFrame:
    """District 4×2 cells; two streets; one community, tertiary grid and two micro-grids each;
    an exclusive grid across the two communities."""
    rows = [
        ("410102", "中原区", "district", None, cell(0, 0, 4, 2)),
        ("S1", "一街道", "street", "410102", cell(0, 0, 2, 2)),
        ("S2", "二街道", "street", "410102", cell(2, 0, 4, 2)),
        ("C1", "甲社区", "community", "S1", cell(0, 0, 2, 2)),
        ("C2", "乙社区", "community", "S2", cell(2, 0, 4, 2)),
        ("G1", "甲社区第1网格", "grid", "C1", cell(0, 0, 2, 2)),
        ("G2", "乙社区第1网格", "grid", "C2", cell(2, 0, 4, 2)),
        ("G1-01", "甲1-1", "micro", "G1", cell(0, 0, 2, 1)),
        ("G1-02", "甲1-2", "micro", "G1", cell(0, 1, 2, 2)),
        ("G2-01", "乙1-1", "micro", "G2", cell(2, 0, 4, 1)),
        ("G2-02", "乙1-2", "micro", "G2", cell(2, 1, 4, 2)),
        ("Z1", "世纪联华", "exclusive", None, cell(1.5, 0.2, 2.5, 0.8)),
    ]
    frame = gpd.GeoDataFrame(rows, columns=["code", "name", "level", "parent_code", "geometry"], crs=4326)
    frame["households"] = [None, None, None, None, None, None, None, 300, 400, 350, 450, None]
    return frame




@pytest.fixture
def layer_file(tmp_path):
    """The tiny hierarchy as a GeoJSON file."""
    path = tmp_path / "grids.geojson"
    hierarchy().to_file(path, driver="GeoJSON")
    return path


# -- the demo district, for the app's tests --------------------------------------------------

DEMO_INCIDENTS, DEMO_SEED = 20_000, 7


@pytest.fixture(scope="session")
def demo_database_url(pg_server, template_url):
    """URL of a database of the session's own holding the demo district 中原区
    (``load_demo(incidents=20000, seed=7)``, about 30–40 s, so once per session).

    Shared by the UI and browser tests: they only read it, so none may write to it.
    Incidents are generated relative to now, like ``python -m gis demo``.
    """
    from gis import workflows

    name = f"gis_test_demo_{os.getpid()}"
    conn = admin(pg_server["url"])
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
        cur.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY file_copy").format(
            pgsql.Identifier(name), pgsql.Identifier(TEMPLATE)))
    url = url_for(pg_server["url"], name)
    try:
        with Services.for_url(url, principal=SYSTEM, maxconn=4) as services:
            workflows.load_demo(services, incidents=DEMO_INCIDENTS, seed=DEMO_SEED)
        yield url
    finally:
        with conn.cursor() as cur:
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
        conn.close()
