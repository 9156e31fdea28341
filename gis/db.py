"""The only module that talks to PostgreSQL: pool, transactions, COPY,
migrations, named queries and the embedded server.

``DATABASE_URL`` picks an existing server. Unset, the project runs its own
PostGIS cluster under ``GIS_HOME`` (default ``.pgdata/``): initialised with
``initdb`` on first use, started with ``pg_ctl`` on a free port of
127.0.0.1, reused by later commands and stopped by ``python -m gis db stop``.
PostgreSQL refuses to run as root, so when we are root the server runs as
the unprivileged system user ``gisdb``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote, urlsplit

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from psycopg2 import sql as pgsql

from gis.errors import ConfigError, DatabaseUnavailable, GisError
from gis.settings import Settings

SQL_DIR = Path(__file__).resolve().parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
SERVER_USER = "gisdb"  # the unprivileged account the embedded server runs as under root
DB_NAME = "gis"
DB_USER = "gis"
CONNECT_TIMEOUT_S = 5

# -- URLs and error messages ---------------------------------------------------


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def check_url(url: str) -> str:
    """Refuse a malformed ``DATABASE_URL`` with the form it should take."""
    fix = "use postgresql://user:password@host:5432/dbname"
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.netloc and not parts.path.strip("/"):
        raise ConfigError(f"DATABASE_URL '{redact_url(url)}' is not a postgresql:// URL", fix=fix)
    try:
        psycopg2.extensions.parse_dsn(url)
        _ = parts.port  # raises ValueError on a non-numeric port
    except (psycopg2.ProgrammingError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ConfigError(f"DATABASE_URL '{redact_url(url)}' cannot be parsed ({reason})", fix=fix) from None
    return url


def connection_error(exc: Exception, url: str) -> GisError:
    """Turn a psycopg2 connection failure into one readable line with the fix."""
    text = str(exc).strip()
    where = redact_url(url)
    parts = urlsplit(url)
    host = parts.hostname or "the local socket"
    port = parts.port or 5432
    if "password authentication failed" in text or "no password supplied" in text:
        user = parts.username or "?"
        return DatabaseUnavailable(f"the server at {host}:{port} refused the password for user '{user}'",
                                   fix="check the user and password in DATABASE_URL")
    if "does not exist" in text and "database" in text:
        return DatabaseUnavailable(f"database missing on {host}:{port}: {text.splitlines()[0]}",
                                   fix="create it (createdb) or fix the name in DATABASE_URL")
    if "Connection refused" in text or "could not connect" in text or "timeout expired" in text \
            or "No such file or directory" in text:
        return DatabaseUnavailable(f"cannot reach PostgreSQL at {host}:{port} ({where})",
                                   fix="start the server, or fix DATABASE_URL, or unset it to use the embedded server")
    if "could not translate host name" in text or "Name or service not known" in text:
        return DatabaseUnavailable(f"unknown host '{host}' in DATABASE_URL ({where})", fix="fix the host name")
    return DatabaseUnavailable(f"cannot connect to {where}: {text.splitlines()[0] if text else type(exc).__name__}",
                               fix="check DATABASE_URL and the server log")


def connect(url: str, **kwargs: Any) -> psycopg2.extensions.connection:
    """Open one connection, translating failures into :class:`DatabaseUnavailable`."""
    try:
        return psycopg2.connect(check_url(url), connect_timeout=CONNECT_TIMEOUT_S,
                                application_name="gis", **kwargs)
    except psycopg2.OperationalError as exc:
        raise connection_error(exc, url) from None


# -- the pool -------------------------------------------------------------------


class Database:
    """A thread-safe pool of connections to one database.

    Streamlit serves many users from one process, so pages share a
    ``ThreadedConnectionPool`` rather than one connection.
    """

    def __init__(self, url: str, *, minconn: int = 1, maxconn: int = 8) -> None:
        self.url = check_url(url)
        self.maxconn = maxconn
        try:
            self._pool = psycopg2.pool.ThreadedConnectionPool(
                minconn, maxconn, url, connect_timeout=CONNECT_TIMEOUT_S, application_name="gis")
        except psycopg2.OperationalError as exc:
            raise connection_error(exc, url) from None

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """Borrow a connection; it goes back to the pool rolled back."""
        conn = self._pool.getconn()
        try:
            yield conn
        finally:
            broken = conn.closed != 0
            idle = psycopg2.extensions.TRANSACTION_STATUS_IDLE
            if not broken and conn.get_transaction_status() != idle:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    broken = True
            self._pool.putconn(conn, close=broken)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.connection() as conn:
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def close(self) -> None:
        self._pool.closeall()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """The URL to use: ``DATABASE_URL`` or the embedded server's (started if needed)."""
    settings = settings or Settings.from_env()
    if settings.database_url:
        return check_url(settings.database_url)
    server = EmbeddedServer(settings)
    if start:
        server.ensure_running()
    return server.url()


def open_database(settings: Settings | None = None, *, maxconn: int = 8) -> Database:
    """Connect to the configured database (starting the embedded server when needed)."""
    return Database(database_url(settings), maxconn=maxconn)


# -- named queries ----------------------------------------------------------------

_QUERY_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.M)
_queries: dict[str, str] | None = None
_queries_lock = threading.Lock()


def queries() -> dict[str, str]:
    """Every named query of ``gis/sql/*.sql`` (blocks headed ``-- name: fetch_x``)."""
    global _queries
    with _queries_lock:
        if _queries is None:
            found: dict[str, str] = {}
            for path in sorted(SQL_DIR.glob("*.sql")):
                text = path.read_text(encoding="utf-8")
                heads = list(_QUERY_HEADER.finditer(text))
                for i, head in enumerate(heads):
                    end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
                    name = head.group(1)
                    if name in found:
                        raise RuntimeError(f"query '{name}' is defined twice (in {path.name})")
                    found[name] = text[head.end():end].strip().rstrip(";")
            _queries = found
        return _queries


def run(conn, name: str, params: dict[str, Any] | None = None) -> psycopg2.extensions.cursor:
    """Execute the named query and return its cursor (a ``RealDictCursor``)."""
    cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    cur.execute(queries()[name], params or {})
    return cur


def fetch_all(conn, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with run(conn, name, params) as cur:
        return list(cur.fetchall()) if cur.description else []


def fetch_one(conn, name: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    with run(conn, name, params) as cur:
        return cur.fetchone() if cur.description else None


def execute(conn, name: str, params: dict[str, Any] | None = None) -> int:
    with run(conn, name, params) as cur:
        return cur.rowcount


def execute_values(conn, name: str, rows: Iterable[tuple], *, template: str | None = None,
                   page_size: int = 1000) -> None:
    """Run a named ``INSERT … VALUES %s`` for many rows."""
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(cur, queries()[name], rows, template=template, page_size=page_size)


class _Prefetched(io.RawIOBase):
    """A file over text chunks that a background thread produces, so that formatting
    the next chunk overlaps with the server ingesting this one (COPY is the bottleneck
    of bulk loads, and pandas formatting holds only one core)."""

    def __init__(self, chunks: Iterable[str | bytes], *, depth: int = 2) -> None:
        import queue
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._buffer = b""
        self._done = False
        self._error: BaseException | None = None

        def produce() -> None:
            try:
                for chunk in chunks:
                    self._queue.put(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            except BaseException as exc:  # re-raised in the reading thread
                self._error = exc
            finally:
                self._queue.put(None)
        self._thread = threading.Thread(target=produce, name="copy-producer", daemon=True)
        self._thread.start()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            item = self._queue.get()
            if item is None:
                self._done = True
                if self._error is not None:
                    raise self._error
            else:
                self._buffer += item
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def copy_csv(conn, table: str, columns: list[str], data: io.TextIOBase | str | Iterable[str | bytes], *,
             null: str = "\\N") -> int:
    """Bulk-load CSV (no header; ``null`` marks NULL, unquoted) into ``table`` with COPY.

    ``data`` is a string, a text file, or an iterable of text or UTF-8 chunks
    (produced in a background thread while the server reads the previous ones).
    """
    stmt = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns)), pgsql.Literal(null))
    if isinstance(data, str):
        buf: Any = io.StringIO(data)
    elif isinstance(data, io.IOBase):
        buf = data
    else:
        buf = _Prefetched(data)
    with conn.cursor() as cur:
        cur.copy_expert(stmt.as_string(conn), buf, size=1 << 20)
        return cur.rowcount


@contextlib.contextmanager
def bulk_load(conn, tables: list[str]) -> Iterator[None]:
    """Inside the caller's transaction, drop the secondary indexes and foreign keys of
    ``tables`` while a bulk load runs, then rebuild them from their own definitions.

    PostgreSQL's advice for populating a database: checking foreign keys row by row
    and growing indexes one row at a time is several times slower than building them
    once afterwards. Primary keys and unique constraints stay (identity, ON CONFLICT);
    rebuilding re-checks every foreign key.
    """
    with conn.cursor() as cur:
        cur.execute("""SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid)
                       FROM pg_constraint
                       WHERE contype = 'f' AND (conrelid::regclass::text = ANY(%(t)s)
                                                OR confrelid::regclass::text = ANY(%(t)s))""", {"t": tables})
        foreign_keys = cur.fetchall()
        cur.execute("""SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                       FROM pg_index i
                       WHERE i.indrelid::regclass::text = ANY(%(t)s)
                         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
                    {"t": tables})
        indexes = cur.fetchall()
        for name, table, _ in foreign_keys:
            cur.execute(pgsql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                pgsql.Identifier(table), pgsql.Identifier(name)))
        for name, _ in indexes:
            cur.execute(pgsql.SQL("DROP INDEX {}").format(pgsql.Identifier(name)))
    yield
    with conn.cursor() as cur:
        for _, definition in indexes:
            cur.execute(definition)
        for name, table, definition in foreign_keys:
            cur.execute(pgsql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                pgsql.Identifier(table), pgsql.Identifier(name)) + pgsql.SQL(definition))
        # fresh statistics for the planner now, not whenever autovacuum gets to it
        for table in tables:
            cur.execute(pgsql.SQL("ANALYZE {}").format(pgsql.Identifier(table)))


def estimated_rows(conn, table: str) -> int:
    """The planner's row estimate of a table (cheap; exact enough to choose a load strategy)."""
    with conn.cursor() as cur:
        cur.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)", (table,))
        row = cur.fetchone()
        return int(row[0]) if row else 0


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


def migrate(db: Database) -> list[Migration]:
    """Create or upgrade the schema; returns the migrations applied now.

    Each migration runs once, in its own transaction, and is recorded in
    ``schema_migrations``; an advisory lock keeps two concurrent runs apart.
    """
    applied_now = []
    with db.connection() as conn:
        ensure_extension(conn, "postgis")
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext('gis.migrate'))")
            try:
                cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                                 version integer PRIMARY KEY,
                                 name text NOT NULL,
                                 applied_at timestamptz NOT NULL DEFAULT now())""")
                conn.commit()
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
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), current_database(), "
                    "host(inet_server_addr()), inet_server_port()")
        pg_version, dbname, addr, port = cur.fetchone()
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
        row = cur.fetchone()
        postgis = row[0] if row else None
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        schema = None
        if cur.fetchone()[0]:
            cur.execute("SELECT max(version) FROM schema_migrations")
            schema = cur.fetchone()[0]
    return {"postgresql": pg_version, "postgis": postgis, "database": dbname,
            "host": addr or "local socket", "port": port, "schema_version": schema,
            "schema_latest": max((m.version for m in migrations()), default=0)}


# -- the embedded server ---------------------------------------------------------------


def find_pg_bin(settings: Settings) -> Path:
    """Folder with ``initdb`` and ``pg_ctl``: ``GIS_PG_BIN``, else the newest
    Debian PostgreSQL that has PostGIS, else ``pg_config --bindir``."""
    fix = "install them: ./dev.sh setup (or apt-get install postgresql postgis), or set GIS_PG_BIN"
    if settings.pg_bin:
        if (settings.pg_bin / "pg_ctl").exists():
            return settings.pg_bin
        raise ConfigError(f"GIS_PG_BIN '{settings.pg_bin}' has no pg_ctl", fix=fix)
    candidates = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        version = bindir.parent.name
        if (bindir / "pg_ctl").exists() and version.replace(".", "").isdigit():
            has_postgis = Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()
            candidates.append((has_postgis, float(version), bindir))
    if candidates:
        return max(candidates)[2]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "pg_ctl").exists():
            return bindir
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise ConfigError("PostgreSQL server programs (initdb, pg_ctl) are not installed", fix=fix)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return False


class EmbeddedServer:
    """The project's own PostGIS cluster under ``GIS_HOME``.

    Layout: ``cluster/`` (the data directory), ``run/`` (socket),
    ``server.log``, ``server.json`` (port and password, mode 0600) and
    ``.lock`` (held while starting or stopping, so two commands at once
    neither corrupt nor double-start it).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.home = self.settings.gis_home
        self.cluster = self.home / "cluster"
        self.rundir = self.home / "run"
        self.logfile = self.home / "log" / "server.log"
        self.state_file = self.home / "server.json"
        self.lock_file = self.home / ".lock"

    # state ---------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, self.state_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # running as an unprivileged user when root ---------------------------------
    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def server_user(self) -> pwd.struct_passwd:
        """The account that owns the cluster: ourselves, or ``gisdb`` under root."""
        if not self.as_root:
            return pwd.getpwuid(os.geteuid())
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            pass
        nologin = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
        done = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                               "--home-dir", "/nonexistent", "--shell", nologin, SERVER_USER],
                              capture_output=True, text=True)
        if done.returncode not in (0, 9):  # 9: created meanwhile by a concurrent command
            raise ConfigError(f"cannot create the system user '{SERVER_USER}' to run PostgreSQL as "
                              f"({done.stderr.strip()})", fix="create it with useradd --system gisdb, "
                              "or run as an ordinary user")
        return pwd.getpwnam(SERVER_USER)

    def _run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        user = self.server_user()
        extra: dict[str, Any] = {}
        if self.as_root:
            extra = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=str(self.home), LC_ALL="C.UTF-8", LANG="C.UTF-8")
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd="/", **extra, **kwargs)

    def _own(self, *paths: Path) -> None:
        if self.as_root:
            user = self.server_user()
            for path in paths:
                os.chown(path, user.pw_uid, user.pw_gid)

    def _check_reachable(self) -> None:
        """Under root the server user must be able to enter every folder above GIS_HOME."""
        if not self.as_root:
            return
        probe = self._run(["test", "-x", str(self.home)])
        if probe.returncode != 0:
            raise ConfigError(f"the server user '{SERVER_USER}' cannot enter {self.home} "
                              "(a parent folder is private)",
                              fix="set GIS_HOME to a folder whose parents are world-executable, e.g. /var/tmp/gis")

    # lifecycle ---------------------------------------------------------------------
    def pg(self, program: str) -> str:
        return str(find_pg_bin(self.settings) / program)

    def initialised(self) -> bool:
        return (self.cluster / "PG_VERSION").exists()

    def _init(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o755 if self.as_root else 0o700)
        self._check_reachable()
        if self.cluster.exists() and any(self.cluster.iterdir()):
            raise ConfigError(f"{self.cluster} exists but is not a PostgreSQL cluster",
                              fix="move it away or set GIS_HOME to another folder")
        for folder in (self.cluster, self.rundir, self.logfile.parent):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            self._own(folder)
        password = secrets.token_urlsafe(18)
        pwfile = self.rundir / "initdb.pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        self._own(pwfile)
        try:
            done = self._run([self.pg("initdb"), "-D", str(self.cluster), "-U", DB_USER,
                              f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                              "--encoding=UTF8", "--no-locale", "--no-instructions"])
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(self.cluster, ignore_errors=True)
            raise ConfigError(f"initdb failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}",
                              fix=f"see {self.home}; remove the folder to start afresh")
        state = self._state()
        state.update(user=DB_USER, password=password, database=DB_NAME)
        self._save_state(state)

    def running_pid(self) -> int | None:
        """PID of our postmaster, or None; a stale ``postmaster.pid`` left by a crash is removed."""
        pidfile = self.cluster / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if alive and _process_is_postgres(pid):
            return pid
        # the postmaster died (kill -9, power cut, reboot): PostgreSQL would refuse
        # to start while the PID in the lock file belongs to another process
        pidfile.unlink(missing_ok=True)
        for lock in self.rundir.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
        return None

    def _running_port(self) -> int | None:
        try:
            return int((self.cluster / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, ValueError, IndexError):
            return None

    def ensure_running(self) -> dict[str, Any]:
        """Initialise (first time) and start the server unless it already runs."""
        with self._locked():
            if not self.initialised():
                self._init()
            if self.running_pid() is None:
                self._start()
            state = self._state()
            port = self._running_port() or state.get("port")
            if state.get("port") != port:
                state["port"] = port
                self._save_state(state)
            if not state.get("database_ready"):
                self._create_database(state)
                state["database_ready"] = True
                self._save_state(state)
            return state

    def _start(self) -> None:
        state = self._state()
        fixed = self.settings.port
        if fixed is not None:
            if not port_is_free(fixed):
                raise ConfigError(f"port {fixed} on 127.0.0.1 is taken by another program",
                                  fix="set GIS_PORT to a free port, or unset it to pick one")
            port = fixed
        elif state.get("port") and port_is_free(int(state["port"])):
            port = int(state["port"])
        else:
            port = free_port()
        # bulk loads (COPY of a million incidents) want larger WAL room and buffers than the
        # defaults; wal_level=minimal lets COPY into a table truncated in the same
        # transaction skip WAL (no replicas of the embedded server exist)
        options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {self.rundir} "
                   "-c shared_buffers=256MB -c max_wal_size=4GB -c wal_level=minimal -c max_wal_senders=0 "
                   "-c maintenance_work_mem=256MB -c work_mem=32MB")
        done = self._run([self.pg("pg_ctl"), "start", "-D", str(self.cluster), "-l", str(self.logfile),
                          "-w", "-t", "60", "-o", options])
        if done.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = self.logfile.read_text(errors="replace").strip().splitlines()[-1]
            if "Address already in use" in tail:
                raise ConfigError(f"port {port} on 127.0.0.1 is taken by another program",
                                  fix="set GIS_PORT to a free port, or unset it to pick one")
            raise ConfigError(f"the embedded PostgreSQL did not start: {tail or done.stderr.strip()}",
                              fix=f"see {self.logfile}")
        state["port"] = port
        self._save_state(state)

    def _create_database(self, state: dict[str, Any]) -> None:
        conn = connect(self._url(state, "postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(DB_NAME)))
        finally:
            conn.close()

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        with self._locked():
            if not self.initialised() or self.running_pid() is None:
                return False
            done = self._run([self.pg("pg_ctl"), "stop", "-D", str(self.cluster), "-m", "fast", "-w", "-t", "60"])
            if done.returncode != 0:
                raise ConfigError(f"pg_ctl stop failed: {done.stderr.strip()}", fix=f"see {self.logfile}")
            return True

    def status(self) -> dict[str, Any]:
        pid = self.running_pid() if self.initialised() else None
        return {"home": str(self.home), "initialised": self.initialised(), "running": pid is not None,
                "pid": pid, "port": self._running_port() if pid else self._state().get("port"),
                "server_user": self.server_user().pw_name if self.initialised() else None}

    @staticmethod
    def _url(state: dict[str, Any], dbname: str) -> str:
        return (f"postgresql://{quote(state['user'])}:{quote(state['password'], safe='')}"
                f"@127.0.0.1:{state['port']}/{dbname}")

    def url(self, dbname: str = DB_NAME) -> str:
        state = self._state()
        if not state.get("port") or not state.get("password"):
            raise ConfigError(f"the embedded server in {self.home} is not initialised",
                              fix="run python -m gis db start")
        return self._url(state, dbname)
