"""The foundation: embedded server, migrations, connection errors, the db verbs."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time

import psycopg2
import pytest

from gis.errors import ConfigError, DatabaseUnavailable
from gis.settings import PROJECT_ROOT, Settings
from gis.store import db, migrate
from gis.store import embedded as embedded_
from tests.conftest import make_home, run_cli


def schema_fingerprint(url: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT table_name, column_name, data_type, is_nullable
                           FROM information_schema.columns WHERE table_schema = 'public'
                           ORDER BY 1, 2""")
            columns = cur.fetchall()
            cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
            return columns + cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def home():
    path = make_home()
    yield path
    server = embedded_.EmbeddedServer(Settings(database_url=None, gis_home=path, port=None, pg_bin=None))
    try:
        server.stop()
    except Exception:
        pass
    shutil.rmtree(path, ignore_errors=True)


def embedded(home, **kwargs) -> embedded_.EmbeddedServer:
    return embedded_.EmbeddedServer(Settings(database_url=None, gis_home=home, port=None, pg_bin=None, **kwargs))


# -- migrations -----------------------------------------------------------------------------


def test_migrations_create_the_data_model_and_a_second_run_changes_nothing(empty_database_url):
    with db.Database(empty_database_url, maxconn=1) as database:
        first = migrate.migrate(database)
        after_first = schema_fingerprint(empty_database_url)
        second = migrate.migrate(database)
        info = migrate.server_info(database)
    assert [m.version for m in first] == [m.version for m in migrate.migrations()]
    assert second == []
    assert schema_fingerprint(empty_database_url) == after_first
    tables = {row[0] for row in after_first if len(row) == 4}
    assert {"grid_version", "grid", "grid_staff", "incident", "incident_event",
            "import_batch", "import_reject", "schema_migrations"} <= tables
    assert info["schema_version"] == info["schema_latest"] == migrate.migrations()[-1].version
    assert int(info["postgis"].split(".")[0]) >= 3


def test_schema_refuses_duplicate_incident_identity_and_bad_level(services):
    with services.transaction() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO incident (source, external_id, category, status, reported_at, geom) "
                    "VALUES ('12345', 'A1', 'other', 'received', now(), ST_SetSRID(ST_MakePoint(113.6, 34.7), 4326))")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with services.transaction() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO incident (source, external_id, category, status, reported_at, geom) "
                        "VALUES ('12345', 'A1', 'other', 'received', now(), ST_SetSRID(ST_MakePoint(113.6, 34.7), 4326))")
    with pytest.raises(psycopg2.errors.CheckViolation):
        with services.transaction() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO grid_version (status) VALUES ('active') RETURNING id")
            version = cur.fetchone()[0]
            cur.execute("INSERT INTO grid (version_id, code, name, level, geom) VALUES (%s, '1', 'x', 'county', "
                        "ST_Multi(ST_MakeEnvelope(113, 34, 113.1, 34.1, 4326)))", (version,))


def test_a_failed_migration_leaves_nothing_half_applied(empty_database_url, tmp_path, monkeypatch):
    broken = tmp_path / "migrations"
    broken.mkdir()
    for mig in migrate.migrations():
        shutil.copy(mig.path, broken / mig.path.name)
    (broken / "9999_broken.sql").write_text("CREATE TABLE half_done (id int); SELECT 1/0;")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", broken)
    with db.Database(empty_database_url, maxconn=1) as database:
        with pytest.raises(RuntimeError, match="9999_broken.sql failed"):
            migrate.migrate(database)
        with database.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT to_regclass('half_done'), max(version) FROM schema_migrations")
            assert cur.fetchone() == (None, migrate.migrations()[-2].version)


def test_missing_extension_is_reported_with_the_fix(services):
    with services.connection() as conn:
        with pytest.raises(DatabaseUnavailable, match="extension 'postgis_not_here' is not installed.*apt-get install postgis"):
            migrate.ensure_extension(conn, "postgis_not_here")


# -- the embedded server --------------------------------------------------------------------


def test_embedded_server_starts_stops_and_keeps_its_data(home):
    server = embedded(home)
    server.ensure_running()
    status = server.status()
    assert status["running"] and status["port"]
    conn = psycopg2.connect(server.url())
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('网格')")
    conn.close()
    assert server.stop() is True
    assert server.status()["running"] is False
    assert server.stop() is False
    server.ensure_running()
    conn = psycopg2.connect(server.url())
    with conn.cursor() as cur:
        cur.execute("SELECT v FROM kept")
        assert cur.fetchone() == ("网格",)
    conn.close()


def test_embedded_server_runs_unprivileged_when_we_are_root(home):
    server = embedded(home)
    server.ensure_running()
    owner = pwd.getpwuid((home / "cluster").stat().st_uid).pw_name
    proc_uid = os.stat(f"/proc/{server.running_pid()}").st_uid
    if os.geteuid() == 0:
        assert owner == embedded_.SERVER_USER
        assert pwd.getpwuid(proc_uid).pw_name == embedded_.SERVER_USER
    else:
        assert owner == pwd.getpwuid(os.geteuid()).pw_name
        assert proc_uid == os.geteuid()
    assert oct((home / "server.json").stat().st_mode & 0o777) == "0o600"


def test_start_recovers_from_a_crash_with_a_stale_pid_file(home):
    server = embedded(home)
    server.ensure_running()
    conn = psycopg2.connect(server.url())
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE survived (v int); INSERT INTO survived VALUES (42)")
    conn.close()
    pid = server.running_pid()
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.05)
    # a pid file naming a live process that is not PostgreSQL (pid reuse after a reboot)
    pidfile = home / "cluster" / "postmaster.pid"
    lines = pidfile.read_text().splitlines()
    lines[0] = str(os.getpid())
    pidfile.write_text("\n".join(lines) + "\n")
    done = run_cli("db", "start", env={"GIS_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    conn = psycopg2.connect(server.url())
    with conn.cursor() as cur:
        cur.execute("SELECT v FROM survived")
        assert cur.fetchone() == (42,)
    conn.close()


def test_two_concurrent_starts_make_one_server(home):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GIS_HOME"] = str(home)
    procs = [subprocess.Popen([sys.executable, "-m", "gis", "db", "start"], cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    server = embedded(home)
    pid = server.running_pid()
    postmasters = subprocess.run(["pgrep", "-f", "--", f"-D {home}/cluster"], capture_output=True, text=True).stdout.split()
    assert postmasters == [str(pid)]
    assert len({out.split("127.0.0.1:")[1].split()[0] for out, _, _ in results}) == 1


# -- the db verbs, both paths --------------------------------------------------------------


def test_db_verbs_on_the_embedded_server(home):
    env = {"GIS_HOME": str(home)}
    status = run_cli("db", "status", env=env)
    assert status.returncode == 0 and "not initialised" in status.stdout
    init = run_cli("db", "init", env=env)
    assert init.returncode == 0, init.stderr
    assert "0001_initial" in init.stdout
    status = run_cli("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "embedded, running" in status.stdout
    postgis = next(line for line in status.stdout.splitlines() if line.startswith("PostGIS"))
    assert int(postgis.split()[1].split(".")[0]) >= 3
    url = run_cli("db", "url", env=env).stdout.strip()
    assert url.startswith("postgresql://gis:") and "127.0.0.1" in url
    assert run_cli("db", "stop", env=env).stdout.strip() == "stopped"
    assert "stopped" in run_cli("db", "status", env=env).stdout


def test_db_verbs_on_an_existing_server_through_database_url(cli):
    init = cli("db", "init")
    assert init.returncode == 0, init.stderr
    assert "applied now: nothing" in init.stdout  # the test database is already migrated
    status = cli("db", "status")
    assert status.returncode == 0, status.stderr
    assert "(DATABASE_URL)" in status.stdout and "PostGIS:    3." in status.stdout
    assert f"schema:     {migrate.migrations()[-1].version}" in status.stdout
    stop = cli("db", "stop")
    assert stop.returncode == 2 and "DATABASE_URL is set" in stop.stderr


# -- bad connections: one line, the fix, exit 2 -------------------------------------------


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_malformed_database_url_is_refused_with_the_expected_form():
    line = one_line_error(run_cli("db", "status", env={"DATABASE_URL": "postgres//localhost/gis"}))
    assert "is not a postgresql:// URL" in line and "postgresql://user:password@host:5432/dbname" in line
    line = one_line_error(run_cli("db", "init", env={"DATABASE_URL": "postgresql://u@localhost:port/gis"}))
    assert "cannot be parsed" in line


def test_unreachable_server_is_named_with_the_fix():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = one_line_error(run_cli("db", "init", env={"DATABASE_URL": f"postgresql://gis:secret@127.0.0.1:{port}/gis"}))
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in line and "start the server" in line
    assert "secret" not in line


def test_wrong_password_is_named_without_echoing_it(pg_server):
    url = pg_server["url"]
    bad = url.replace(url.split("://")[1].split("@")[0], "gis:wrong-password")
    line = one_line_error(run_cli("db", "status", env={"DATABASE_URL": bad}))
    assert "refused the password for user 'gis'" in line and "wrong-password" not in line


def test_taken_port_is_named_with_the_fix(home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = one_line_error(run_cli("db", "start", env={"GIS_HOME": str(home), "GIS_PORT": str(port)}))
    assert f"port {port} on 127.0.0.1 is taken" in line and "GIS_PORT" in line


def test_postgis_missing_from_the_server_is_reported_by_db_init(empty_database_url, monkeypatch):
    # a real server answer for an extension whose files are absent, through the db init path
    original = migrate.ensure_extension
    monkeypatch.setattr(migrate, "ensure_extension", lambda conn, name="postgis": original(conn, "postgis_absent"))
    with db.Database(empty_database_url, maxconn=1) as database:
        with pytest.raises(DatabaseUnavailable, match="not installed on the server.*install PostGIS"):
            migrate.migrate(database)


def test_gis_port_must_be_a_number():
    with pytest.raises(ConfigError, match="GIS_PORT 'abc' is not a port number"):
        Settings.from_env({"GIS_PORT": "abc"})


def test_an_empty_or_garbage_postmaster_pid_is_recovered(home):
    server = embedded(home)
    server.ensure_running()
    server.stop()
    pidfile = server.cluster / "postmaster.pid"
    for content in ("", "garbage\nnot a pid\n"):
        pidfile.write_text(content)
        assert server.running_pid() is None and not pidfile.exists()
        pidfile.write_text(content)
        server.ensure_running()
        assert server.status()["running"]
        server.stop()


def test_a_pid_of_another_program_called_postgres_is_never_taken_for_ours(home, tmp_path):
    fake = tmp_path / "postgres"
    shutil.copy("/bin/sleep", fake)
    other = subprocess.Popen([str(fake), "300"])
    server = embedded(home)
    try:
        server.ensure_running()
        server.stop()
        (server.cluster / "postmaster.pid").write_text(f"{other.pid}\n{server.cluster}\n0\n5432\n")
        assert server.running_pid() is None       # named postgres, but not working in our cluster
        assert server.stop() is False            # and never signalled
        server.ensure_running()
        assert server.status()["running"] and other.poll() is None
        assert server.stop() is True and other.poll() is None
    finally:
        other.kill()
        other.wait()
