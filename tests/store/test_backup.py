"""Backups: pg_dump / pg_restore round trips, refused inputs, the programs chosen and how they are called."""

from __future__ import annotations

import csv
import os
import socket
import stat
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from psycopg2 import sql as pgsql

from gis import workflows
from gis.errors import ConfigError, InputError
from gis.settings import Settings
from gis.store import backup, embedded, migrate
from tests.conftest import X0, Y0, D

HEADER = "source,external_id,category,lon,lat,reported_at,status,description,address\n"


def settings_for(url: str | None, *, pg_bin: Path | None = None, home: Path | None = None) -> Settings:
    return Settings(database_url=url, gis_home=home or Path("/nonexistent"), port=None, pg_bin=pg_bin)


def write_incidents(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(HEADER)
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def cases(prefix: str, n: int, status: str = "received") -> list[list[object]]:
    return [["12345", f"{prefix}{i}", "暴露垃圾", X0 + (0.2 + i % 30 * 0.12) * D, Y0 + (0.2 + i % 7 * 0.2) * D,
             "2025-10-09T09:00:00+08:00", status, f"描述 {i} 'quoted' \"twice\"", "建设路"] for i in range(n)]


@pytest.fixture
def filled(services, layer_file, tmp_path):
    """Grids, staff, incidents with their events, import batches with a refused row (and whatever
    rows the migrations and jobs write elsewhere: accounts, the audit log)."""
    workflows.import_grids(services, layer_file)
    staff = tmp_path / "staff.csv"
    staff.write_text("grid_code,role,name,phone\nC1,网格长,张伟,13800000000\nG1,专职网格员,李娜,13900000000\n",
                     encoding="utf-8")
    workflows.import_staff(services, staff)
    workflows.import_incidents(services, write_incidents(tmp_path / "a.csv", cases("A", 200) + [
        ["12345", "BAD", "other", X0, 95, "2025-10-09T09:00:00", "received", "", ""]]))
    workflows.import_incidents(services, write_incidents(tmp_path / "b.csv", cases("A", 50, "dispatched")))
    return services


def fingerprint(url: str) -> dict[str, object]:
    """Row count and md5 of every table of the public schema (rows ordered by primary key),
    and every sequence's position: new tables are covered without naming them."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT c.oid::regclass::text, c.relname,
                                  array(SELECT a.attname FROM pg_index i
                                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                                        WHERE i.indrelid = c.oid AND i.indisprimary
                                        ORDER BY array_position(i.indkey::int2[], a.attnum))
                           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')""")
            found: dict[str, object] = {}
            for _, table, key in cur.fetchall():
                order = (pgsql.SQL(", ").join(pgsql.Identifier("t", k) for k in key) if key
                         else pgsql.SQL("t::text"))
                # the restore writes one audit row of its own (checked apart)
                where = pgsql.SQL(" WHERE t.action <> 'restore'" if table == "audit_log" else "")
                cur.execute(pgsql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {}), '')) "
                                      "FROM {} AS t{}").format(order, pgsql.Identifier(table), where))
                found[table] = cur.fetchone()
            cur.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' "
                        "AND sequencename <> 'audit_log_id_seq'")
            found["sequences"] = sorted(cur.fetchall(), key=str)
            return found
    finally:
        conn.close()


def execute(url: str, statement: str) -> list[tuple] | None:
    """Run one statement as the owner; its rows, if it returns any."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def tool_bin(tmp_path: Path, name: str, body: str) -> Path:
    """A bin folder whose pg_dump and pg_restore are shell scripts (``$REAL`` is the real bin folder)."""
    folder = tmp_path / name
    folder.mkdir()
    real = embedded.find_pg_bin(Settings.from_env({}))
    for program in ("pg_dump", "pg_restore"):
        script = folder / program
        script.write_text("#!/bin/sh\n" + body.replace("$REAL", str(real)).replace("$PROGRAM", program))
        script.chmod(0o755)
    return folder


# -- round trips --------------------------------------------------------------------------------


def test_backup_and_restore_reproduce_every_row_of_every_table(filled, database_url, tmp_path):
    before = fingerprint(database_url)
    held = {table for table, value in before.items() if table != "sequences" and value[0]}
    assert {"grid_version", "grid", "grid_staff", "incident", "incident_event", "import_batch",
            "import_reject", "schema_migrations"} <= held
    settings = settings_for(database_url)
    done = workflows.backup_database(tmp_path / "gis.dump", settings=settings)
    assert done["bytes"] == (tmp_path / "gis.dump").stat().st_size > 0
    assert stat.S_IMODE((tmp_path / "gis.dump").stat().st_mode) == 0o600  # personal data, password hashes

    # the data move on: more cases, changed ones, a roster emptied
    workflows.import_incidents(filled, write_incidents(tmp_path / "c.csv", cases("A", 300, "in_progress")))
    execute(database_url, "DELETE FROM grid_staff")
    assert fingerprint(database_url) != before

    restored = workflows.restore_database(tmp_path / "gis.dump", settings=settings)
    assert fingerprint(database_url) == before
    assert execute(database_url, "SELECT actor, object FROM audit_log WHERE action = 'restore'") == [
        ("system", str(tmp_path / "gis.dump"))]
    assert restored["schema_version"] == migrate.latest_version()
    # the restored database is usable at once: the schema check passes and new ids follow the old ones
    with workflows.Services.for_url(database_url, principal=filled.principal, maxconn=1) as services:
        again = workflows.import_incidents(services, write_incidents(tmp_path / "d.csv", cases("N", 5)))
    assert again.inserted == 5


def test_a_restore_into_an_empty_database_brings_back_schema_and_rows(filled, database_url, empty_database_url,
                                                                    tmp_path):
    workflows.backup_database(tmp_path / "gis.dump", settings=settings_for(database_url))
    workflows.restore_database(tmp_path / "gis.dump", settings=settings_for(empty_database_url))
    assert fingerprint(empty_database_url) == fingerprint(database_url)


# -- refused input, failures that change nothing ------------------------------------------------


def test_restore_of_a_garbage_file_is_refused_and_leaves_the_data_intact(filled, database_url, tmp_path):
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"SELECT 'this is not a backup';\n" * 10)
    before = fingerprint(database_url)
    with pytest.raises(InputError, match=r"'.*garbage.dump' is not a pg_dump archive.*python -m gis db backup"):
        workflows.restore_database(garbage, settings=settings_for(database_url))
    with pytest.raises(InputError, match=r"backup '.*nowhere.dump' does not exist; give a file written by"):
        workflows.restore_database(tmp_path / "nowhere.dump", settings=settings_for(database_url))
    assert fingerprint(database_url) == before


def test_a_restore_failing_half_way_leaves_the_database_as_it_was(filled, database_url, tmp_path):
    settings = settings_for(database_url)
    archive = tmp_path / "gis.dump"
    workflows.backup_database(archive, settings=settings)
    cut = tmp_path / "cut.dump"
    data = archive.read_bytes()
    cut.write_bytes(data[:-64])  # the table of contents is whole, the rows of the last table are not
    workflows.import_incidents(filled, write_incidents(tmp_path / "c.csv", cases("C", 20)))
    before = fingerprint(database_url)
    with pytest.raises(InputError, match=r"restore of '.*cut.dump' failed: .*left as it was"):
        workflows.restore_database(cut, settings=settings)
    assert fingerprint(database_url) == before


def test_a_failed_backup_keeps_the_earlier_file_and_leaves_no_partial_one(database_url, tmp_path):
    failing = tool_bin(tmp_path, "failing", 'case "$1" in --version) exec "$REAL/$PROGRAM" "$@";; esac\n'
                                            'for a; do case "$a" in --file=*) echo partial > "${a#--file=}";; esac; done\n'
                                            'echo "pg_dump: error: query failed: permission denied" >&2; exit 1\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "gis.dump").write_bytes(b"the backup of yesterday")
    with pytest.raises(ConfigError, match="pg_dump failed: query failed: permission denied; nothing was written"):
        workflows.backup_database(out / "gis.dump", settings=settings_for(database_url, pg_bin=failing))
    assert [p.name for p in out.iterdir()] == ["gis.dump"]
    assert (out / "gis.dump").read_bytes() == b"the backup of yesterday"


# -- the programs and how they are called ------------------------------------------------------


def test_the_embedded_server_uses_the_dump_programs_beside_its_pg_ctl(pg_server):
    settings = settings_for(None)
    bindir = embedded.find_pg_bin(settings)
    for program in ("pg_dump", "pg_restore"):
        assert backup.find_tool(program, settings=settings, server_major=0) == bindir / program


def test_a_pg_dump_older_than_the_server_is_refused_with_the_fix(database_url, tmp_path):
    old = tool_bin(tmp_path, "old", 'echo "$PROGRAM (PostgreSQL) 9.6.24"\n')
    with pytest.raises(ConfigError, match=r"pg_dump 9 \(.*old/pg_dump\) is older than the server "
                                          r"\(PostgreSQL \d+\); install the PostgreSQL \d+ client.*GIS_PG_BIN"):
        workflows.backup_database(tmp_path / "gis.dump", settings=settings_for(database_url, pg_bin=old))
    assert not (tmp_path / "gis.dump").exists()


def test_the_password_goes_through_the_environment_never_the_command_line(filled, database_url, tmp_path):
    log = tmp_path / "calls.log"
    logging = tool_bin(tmp_path, "logging", f'echo "$PROGRAM $*" >> {log}\n'
                                            f'[ -n "$PGPASSWORD" ] && echo "PGPASSWORD set" >> {log}\n'
                                            'exec "$REAL/$PROGRAM" "$@"\n')
    settings = settings_for(database_url, pg_bin=logging)
    workflows.backup_database(tmp_path / "gis.dump", settings=settings)
    workflows.restore_database(tmp_path / "gis.dump", settings=settings)
    calls = log.read_text()
    assert "pg_dump --format=custom" in calls and "pg_restore --clean --if-exists --single-transaction" in calls
    password = urlsplit(database_url).password
    if password:  # an external DATABASE_URL may use a password file instead
        assert password not in calls and "PGPASSWORD set" in calls


# -- the command line --------------------------------------------------------------------------


def one_line_error(done) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_db_backup_and_restore_verbs_round_trip_through_database_url(filled, database_url, cli, tmp_path):
    before = fingerprint(database_url)
    archive = tmp_path / "gis.dump"
    done = cli("db", "backup", str(archive))
    assert done.returncode == 0, done.stderr
    assert f"backup written to {archive} (" in done.stdout and " MB in " in done.stdout
    execute(database_url, "DELETE FROM grid_staff")
    done = cli("db", "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"restored {archive} (schema version ")
    assert fingerprint(database_url) == before
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a backup\n")
    assert "is not a pg_dump archive" in one_line_error(cli("db", "restore", str(garbage)))
    assert fingerprint(database_url) == before


def test_db_backup_to_an_unwritable_path_exits_2_before_any_work(cli, tmp_path):
    with socket.socket() as s:  # a server nobody listens on: reaching it would fail differently
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = tmp_path / "no-such-folder" / "gis.dump"
    line = one_line_error(cli("db", "backup", str(target),
                              env={"DATABASE_URL": f"postgresql://gis:secret@127.0.0.1:{port}/gis"}))
    assert "the folder" in line and "does not exist" in line and "create the folder first" in line
    line = one_line_error(cli("db", "backup", str(tmp_path)))
    assert "is a folder" in line
    assert not any(name.endswith(".partial") for name in os.listdir(tmp_path))
