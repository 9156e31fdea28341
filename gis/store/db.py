"""The pool, transactions, named queries and COPY: the only home of psycopg2 connections."""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql as pgsql

from gis.errors import ConfigError, DatabaseBusy, DatabaseUnavailable, GisError, SchemaOutOfDate

SQL_DIR = Path(__file__).resolve().parent / "sql"
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
    """A thread-safe pool of connections to one database that waits when it is empty.

    Streamlit serves many users from one process, so pages share one pool.
    A borrower waits up to ``wait_s`` for a free connection (psycopg2's own
    pools raise at once instead) and then gets :class:`DatabaseBusy`. Every
    borrowed connection is checked with a round trip first: after a server
    restart the dead ones are dropped and replaced, so the next call works.

    Parameters
    ----------
    url
        ``postgresql://`` URL.
    maxconn
        Connections open at most; each job borrows one at a time.
    wait_s
        Seconds a borrower waits for a free connection.
    role
        Run every query as this role (``SET ROLE`` on each new connection): jobs run as
        the low-privilege ``gis_app`` whatever user ``url`` names, so row-level
        security applies even when a DBA's URL names the owner or a superuser.
    """

    def __init__(self, url: str, *, maxconn: int = 8, wait_s: float = 30.0, role: str | None = None) -> None:
        self.url = check_url(url)
        self.maxconn = maxconn
        self.wait_s = wait_s
        self.role = role
        self._slots = threading.BoundedSemaphore(maxconn)
        self._idle: list[psycopg2.extensions.connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # fail now, with the fix, when the server cannot be reached at all
        with self.connection():
            pass

    def _open(self) -> psycopg2.extensions.connection:
        conn = connect(self.url)
        if self.role:
            try:
                with conn.cursor() as cur:
                    cur.execute(pgsql.SQL("SET SESSION ROLE {}").format(pgsql.Identifier(self.role)))
                conn.commit()
            except psycopg2.Error as exc:
                self._discard(conn)
                user = urlsplit(self.url).username or "the connecting user"
                if isinstance(exc, psycopg2.errors.InvalidParameterValue) or "does not exist" in str(exc):
                    raise SchemaOutOfDate(f"the role '{self.role}' does not exist in this cluster",
                                          fix="run python -m gis db init") from None
                raise ConfigError(f"{user} may not act as the role '{self.role}'",
                                  fix=f"run python -m gis db init as that user, or GRANT {self.role} TO {user}"
                                  ) from None
        return conn

    def _checked_out(self) -> psycopg2.extensions.connection:
        """An idle connection that answers, or a new one; dead ones are dropped."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._open()
            try:
                if conn.closed:
                    raise psycopg2.InterfaceError("connection already closed")
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                conn.rollback()
                return conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                # the server went away (restart, crash, idle timeout): the idle ones are dead too
                self._discard(conn)
                self._discard_idle()

    @staticmethod
    def _discard(conn) -> None:
        with contextlib.suppress(psycopg2.Error):
            conn.close()

    def _discard_idle(self) -> None:
        with self._lock:
            dead, self._idle = self._idle, []
        for conn in dead:
            self._discard(conn)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """Borrow a connection; it goes back to the pool rolled back.

        Raises
        ------
        DatabaseBusy
            When no connection is free within ``wait_s`` seconds.
        DatabaseUnavailable
            When the server cannot be reached.
        """
        if self._closed:
            raise DatabaseUnavailable("the connection pool is closed", fix="open the services again")
        if not self._slots.acquire(timeout=self.wait_s):
            raise DatabaseBusy("数据库繁忙，请稍后重试",
                               fix=f"all {self.maxconn} connections stayed busy for {self.wait_s:.0f} s")
        conn = None
        try:
            conn = self._checked_out()
            try:
                yield conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                if conn.closed:  # the server went away in the middle of the job
                    raise DatabaseUnavailable("the connection to the database was lost during the work",
                                              fix="retry: the next call reconnects by itself") from exc
                raise
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _give_back(self, conn) -> None:
        broken = conn.closed != 0
        if not broken and conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            try:
                conn.rollback()
            except psycopg2.Error:
                broken = True
        if broken or self._closed:
            self._discard(conn)
            return
        with self._lock:
            self._idle.append(conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.connection() as conn:
            try:
                yield conn
                conn.commit()
            except BaseException:
                with contextlib.suppress(psycopg2.Error):
                    conn.rollback()
                raise

    def close(self) -> None:
        self._closed = True
        self._discard_idle()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

def set_principal(conn, name: str | None, *, role: str | None = None, scope: str | None = None,
                  local: bool = True) -> None:
    """Name the user the rest of this transaction runs for (``SET LOCAL gis.user``), with the
    role and scope the caller believes it has; row-level security looks the account up itself
    and sees nobody when it is disabled or its role or scope differ (a session signed in before
    an administrator changed them must sign in again, and its caches, keyed by role and scope,
    are never filled with another scope's rows). None: nobody, so the policies show nothing.
    ``local=False``: for the whole session (a connection of its own, not a pooled one)."""
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('gis.user', %(n)s, %(l)s), set_config('gis.role', %(r)s, %(l)s), "
                    "set_config('gis.scope', %(s)s, %(l)s)",
                    {"n": name or "", "r": role or "", "s": scope or "", "l": local})


@contextlib.contextmanager
def analyst_session(url: str, *, name: str, role: str, scope: str | None
                    ) -> Iterator[psycopg2.extensions.connection]:
    """A connection of its own for an analyst's SQL, closed afterwards: it runs as the role
    ``gis_analyst`` (migration 0011), every transaction read-only, with the schema ``analyst``
    first on the search path, so ``incident`` and ``grid_staff`` are the views with masked
    phones, and for the account ``name`` (row-level security keeps its scope), for the whole
    session: a ``COMMIT`` in the analyst's code does not undo any of it."""
    from gis.store.migrate import ANALYST_ROLE  # migrate imports this module

    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(pgsql.SQL("SET SESSION ROLE {}").format(pgsql.Identifier(ANALYST_ROLE)))
            cur.execute("SET SESSION search_path = analyst, public")
            cur.execute("SET SESSION default_transaction_read_only = on")
        set_principal(conn, name, role=role, scope=scope, local=False)
        conn.commit()
        yield conn
    finally:
        with contextlib.suppress(psycopg2.Error):
            conn.close()


# -- named queries ----------------------------------------------------------------

_QUERY_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.M)
_queries: dict[str, str] | None = None
_queries_lock = threading.Lock()


def queries() -> dict[str, str]:
    """Every named query of ``gis/store/sql/*.sql`` (blocks headed ``-- name: fetch_x``)."""
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
    cols = pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
    staged = _has_row_security(conn, table)
    target = pgsql.Identifier(f"copy_stage_{table}" if staged else table)
    if staged:
        # PostgreSQL refuses COPY FROM into a table under row-level security: COPY into an
        # unprotected temporary copy, then one INSERT … SELECT that the policies check
        with conn.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                target, cols, pgsql.Identifier(table)))
    stmt = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(target, cols, pgsql.Literal(null))
    if isinstance(data, str):
        buf: Any = io.StringIO(data)
    elif isinstance(data, io.IOBase):
        buf = data
    else:
        buf = _Prefetched(data)
    with conn.cursor() as cur:
        cur.copy_expert(stmt.as_string(conn), buf, size=1 << 20)
        if not staged:
            return cur.rowcount
        cur.execute(pgsql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            pgsql.Identifier(table), cols, cols, target))
        rows = cur.rowcount
        cur.execute(pgsql.SQL("DROP TABLE {}").format(target))
        return rows


def _has_row_security(conn, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(%s)", (table,))
        row = cur.fetchone()
        return bool(row and row[0])


BULK_LOAD_ATTEMPTS = 5


@contextlib.contextmanager
def bulk_load(conn, tables: list[str]) -> Iterator[None]:
    """Inside the caller's transaction, drop the secondary indexes and foreign keys of
    ``tables`` while a bulk load runs, then rebuild them from their own definitions.

    PostgreSQL's advice for populating a database: checking foreign keys row by row
    and growing indexes one row at a time is several times slower than building them
    once afterwards. Primary keys and unique constraints stay (identity, ON CONFLICT);
    rebuilding re-checks every foreign key. Jobs do not own the tables, so the owner's
    functions ``gis_bulk_load_begin/end`` (migration 0004) do the DDL, for a user with
    the import right and for ``incident`` and ``incident_event`` only.
    """
    with conn.cursor() as cur:
        # The DDL takes exclusive locks on the tables and on those their keys reference; a
        # reader that already holds one of them and waits for another can deadlock with it.
        # PostgreSQL then aborts one side: when it is this one, wait and try again.
        for attempt in range(BULK_LOAD_ATTEMPTS):
            cur.execute("SAVEPOINT bulk_load_begin")
            try:
                cur.execute("SELECT gis_bulk_load_begin(%s::text[])", (tables,))
                break
            except psycopg2.errors.DeadlockDetected:
                cur.execute("ROLLBACK TO SAVEPOINT bulk_load_begin")
                if attempt == BULK_LOAD_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * 2 ** attempt)
        cur.execute("RELEASE SAVEPOINT bulk_load_begin")
    yield
    with conn.cursor() as cur:
        cur.execute("SELECT gis_bulk_load_end(%s::text[])", (tables,))


def estimated_rows(conn, table: str) -> int:
    """The planner's row estimate of a table (cheap; exact enough to choose a load strategy)."""
    with conn.cursor() as cur:
        cur.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)", (table,))
        row = cur.fetchone()
        return int(row[0]) if row else 0


def like_pattern(search: str | None) -> str | None:
    """``%search%`` for ILIKE with its wildcards taken literally (backslash first: LIKE's escape)."""
    if not search:
        return None
    return "%" + search.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
