"""Versioned SQL migrations (``store/sql/migrations/NNNN_name.sql``), run only by ``db init``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from psycopg2 import sql as pgsql

from gis.core import access
from gis.core.rules import lifecycle
from gis.errors import DatabaseUnavailable
from gis.store.db import SQL_DIR, Database

MIGRATIONS_DIR = SQL_DIR / "migrations"


# -- migrations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def migrations() -> list[Migration]:
    """The numbered ``NNNN_name.sql`` files in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = re.fullmatch(r"(\d{4})_([a-z0-9_]+)\.sql", path.name)
        if not m:
            raise RuntimeError(f"migration file name '{path.name}' is not NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    return found


def ensure_extension(conn, name: str = "postgis") -> None:
    """``CREATE EXTENSION IF NOT EXISTS``, with a readable error when not possible."""
    try:
        with conn.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(pgsql.Identifier(name)))
        conn.commit()
    except psycopg2.errors.InsufficientPrivilege:
        conn.rollback()
        raise DatabaseUnavailable(f"not permitted to create the extension '{name}' in this database",
                                  fix=f"ask a superuser to run CREATE EXTENSION {name}; in it") from None
    except (psycopg2.errors.UndefinedFile, psycopg2.errors.FeatureNotSupported) as exc:
        conn.rollback()
        detail = str(exc).strip().splitlines()[0]
        raise DatabaseUnavailable(f"the extension '{name}' is not installed on the server ({detail})",
                                  fix="install PostGIS on the server (Debian: apt-get install postgis)") from None


APP_ROLE = "gis_app"  # the low-privilege role every job runs as (SET ROLE); it owns nothing
ANALYST_ROLE = "gis_analyst"  # analysts' own read-only SQL: masked views, row-level security (0011)
ROLES = (APP_ROLE, ANALYST_ROLE)


def ensure_roles(conn) -> None:
    """Create the cluster-wide low-privilege roles (:data:`ROLES`) when missing and let the
    connecting user switch to them (``SET ROLE``); run before migrations and restores,
    whose grants name them. The roles cannot log in: the app, the CLI and notebooks connect
    as whatever ``DATABASE_URL`` names and switch to one of them for every query."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtext('gis.roles'))")
        try:
            for role in ROLES:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if cur.fetchone() is None:
                    try:
                        cur.execute(pgsql.SQL("CREATE ROLE {} NOLOGIN NOINHERIT").format(pgsql.Identifier(role)))
                    except psycopg2.errors.InsufficientPrivilege:
                        conn.rollback()
                        raise DatabaseUnavailable(
                            f"not permitted to create the role '{role}' the app runs as",
                            fix=f"ask a superuser to run CREATE ROLE {role} NOLOGIN; GRANT {role} TO "
                                "<the DATABASE_URL user>; then db init again") from None
                cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,))
                if not cur.fetchone()[0]:  # superusers are members of every role; a DBA may have granted it
                    cur.execute(pgsql.SQL("GRANT {} TO CURRENT_USER").format(pgsql.Identifier(role)))
            conn.commit()
        finally:
            cur.execute("SELECT pg_advisory_unlock(hashtext('gis.roles'))")
            conn.commit()


def migrate(db: Database) -> list[Migration]:
    """Create or upgrade the schema; returns the migrations applied now.

    Each migration runs once, in its own transaction, and is recorded in
    ``schema_migrations``; an advisory lock keeps two concurrent runs apart.
    """
    applied_now = []
    with db.connection() as conn:
        ensure_extension(conn, "postgis")
        ensure_roles(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext('gis.migrate'))")
            try:
                cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                                 version integer PRIMARY KEY,
                                 name text NOT NULL,
                                 applied_at timestamptz NOT NULL DEFAULT now())""")
                conn.commit()
                save_vocabulary(conn)  # the migrations' policies call the vocabulary functions
                cur.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in cur.fetchall()}
                for mig in migrations():
                    if mig.version in done:
                        continue
                    try:
                        cur.execute(mig.path.read_text(encoding="utf-8"))
                        cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                    (mig.version, mig.name))
                        conn.commit()
                    except psycopg2.Error as exc:
                        conn.rollback()
                        raise RuntimeError(f"migration {mig.path.name} failed: {exc}") from exc
                    applied_now.append(mig)
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtext('gis.migrate'))")
                conn.commit()
    return applied_now


def server_info(db: Database) -> dict[str, Any]:
    """Server address and the versions of PostgreSQL, PostGIS and the schema."""
    with db.connection() as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version'), current_database(), "
                        "host(inet_server_addr()), inet_server_port()")
            pg_version, dbname, addr, port = cur.fetchone()
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            row = cur.fetchone()
            postgis = row[0] if row else None
        schema = schema_version(conn)
    return {"postgresql": pg_version, "postgis": postgis, "database": dbname,
            "host": addr or "local socket", "port": port, "schema_version": schema,
            "schema_latest": latest_version()}


def latest_version() -> int:
    """The version of the newest migration this code ships."""
    return max((m.version for m in migrations()), default=0)


def schema_version(conn) -> int | None:
    """The schema version a database is at; None when it has no schema."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT max(version) FROM schema_migrations")
        return cur.fetchone()[0]


# -- the vocabulary in SQL ---------------------------------------------------------------------------


def _text_array(values) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


def _rights_cases() -> str:
    return " ".join(f"WHEN '{role}' THEN {_text_array(sorted(rights))}"
                    for role, rights in access.ROLE_RIGHTS.items())


def _rank_cases() -> str:
    return " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in lifecycle.STAGE_RANK.items())


def save_vocabulary(conn) -> None:
    """(Re)create the SQL functions that carry the lifecycle vocabulary from
    :mod:`gis.core.rules.lifecycle`, so SQL never spells a status list itself.

    ``gis_done_statuses()``, ``gis_closed_status()``, ``gis_is_open(status)``,
    ``gis_stage_rank(status)`` (NULL for a stage without rank), ``gis_supervised_status()``
    and, from :mod:`gis.core.access`, ``gis_role_rights(role)`` are IMMUTABLE one-liners,
    which the planner inlines. ``db init`` runs this before the migrations (their policies
    call them) and after; :func:`vocabulary_matches` tells whether it is current.
    """
    with conn.cursor() as cur:
        cur.execute(f"""
            CREATE OR REPLACE FUNCTION gis_done_statuses() RETURNS text[]
              LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {_text_array(lifecycle.DONE_STATUSES)} $$;
            CREATE OR REPLACE FUNCTION gis_closed_status() RETURNS text
              LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '{lifecycle.CLOSED_STATUS}'::text $$;
            CREATE OR REPLACE FUNCTION gis_is_open(status text) RETURNS boolean
              LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT status <> ALL (gis_done_statuses()) $$;
            CREATE OR REPLACE FUNCTION gis_stage_rank(status text) RETURNS integer
              LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE status {_rank_cases()} END $$;
            CREATE OR REPLACE FUNCTION gis_supervised_status() RETURNS text
              LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '{lifecycle.SUPERVISED_STATUS}'::text $$;
            CREATE OR REPLACE FUNCTION gis_role_rights(role text) RETURNS text[]
              LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT coalesce(CASE role {_rights_cases()} END, '{{}}'::text[]) $$;
        """)
    conn.commit()


def vocabulary_matches(conn) -> bool:
    """Whether the database's vocabulary functions say what the Python rules say."""
    with conn.cursor() as cur:
        cur.execute("SELECT bool_and(to_regproc(f) IS NOT NULL) FROM unnest(%s::text[]) AS f",
                    (list(VOCABULARY_FUNCTIONS),))
        if not cur.fetchone()[0]:
            return False
        cur.execute("SELECT gis_done_statuses(), gis_closed_status(), gis_supervised_status(), "
                    "array_agg(gis_stage_rank(s) ORDER BY o) FROM unnest(%s::text[]) WITH ORDINALITY AS u(s, o)",
                    (list(lifecycle.STATUSES),))
        done, closed, supervised, ranks = cur.fetchone()
        cur.execute("SELECT r, gis_role_rights(r) FROM unnest(%s::text[]) AS r", (list(access.ROLE_RIGHTS),))
        rights = {role: frozenset(granted) for role, granted in cur.fetchall()}
    return (tuple(done) == lifecycle.DONE_STATUSES and closed == lifecycle.CLOSED_STATUS
            and supervised == lifecycle.SUPERVISED_STATUS
            and ranks == [lifecycle.STAGE_RANK.get(s) for s in lifecycle.STATUSES]
            and rights == dict(access.ROLE_RIGHTS))


VOCABULARY_FUNCTIONS = ("gis_done_statuses", "gis_closed_status", "gis_is_open", "gis_stage_rank",
                        "gis_supervised_status", "gis_role_rights")
