"""Backups: ``pg_dump`` / ``pg_restore`` in the custom format, with the programs that match the server."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2.extensions

from gis.errors import ConfigError, InputError
from gis.settings import Settings
from gis.store import db, embedded

#: The first bytes of every archive ``pg_dump -Fc`` writes.
ARCHIVE_MAGIC = b"PGDMP"

_CLIENT_FIX = ("install the PostgreSQL {major} client (Debian: apt-get install postgresql-client-{major}) "
               "and put it first on PATH, or set GIS_PG_BIN to its bin folder")


# -- the programs ---------------------------------------------------------------------------


def server_major(conn) -> int:
    """The major version of the server ``conn`` is connected to (e.g. 15)."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int / 10000")
        return int(cur.fetchone()[0])


def tool_major(program: str | os.PathLike) -> int:
    """The major version of a PostgreSQL client program, from ``PROGRAM --version``."""
    done = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", done.stdout)
    if done.returncode != 0 or not found:
        raise ConfigError(f"'{program} --version' did not name a PostgreSQL version "
                          f"({(done.stderr or done.stdout).strip()[:200] or done.returncode})",
                          fix="check the installation, or set GIS_PG_BIN to a PostgreSQL bin folder")
    return int(found.group(1))


def find_tool(program: str, *, settings: Settings, server_major: int) -> Path:
    """The ``pg_dump`` or ``pg_restore`` to use against a server of major version ``server_major``.

    The embedded server's own bin folder (beside ``pg_ctl``, so the versions
    match); for ``DATABASE_URL``, ``GIS_PG_BIN`` when set, else the one on ``PATH``.

    Raises
    ------
    ConfigError
        When the program is missing, or older than the server (``pg_dump``
        refuses a newer server; ``pg_restore`` may not know its archive features).
    """
    if settings.database_url is None:
        path = embedded.find_pg_bin(settings) / program
        where = f"the embedded server's bin folder {path.parent}"
    elif settings.pg_bin is not None:
        path = settings.pg_bin / program
        where = f"GIS_PG_BIN '{settings.pg_bin}'"
    else:
        found = shutil.which(program)
        if found is None:
            raise ConfigError(f"{program} is not installed (not found on PATH)",
                              fix=_CLIENT_FIX.format(major=server_major))
        path = Path(found)
        where = "PATH"
    if not path.exists():
        raise ConfigError(f"{program} not found in {where}", fix=_CLIENT_FIX.format(major=server_major))
    major = tool_major(path)
    if major < server_major:
        raise ConfigError(f"{program} {major} ({path}) is older than the server (PostgreSQL {server_major})",
                          fix=_CLIENT_FIX.format(major=server_major))
    return path


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and an environment that carries it
    (``PGPASSWORD``): a command line is visible to every user of the machine (``ps``)."""
    params = psycopg2.extensions.parse_dsn(db.check_url(url))
    password = params.pop("password", None)
    params.setdefault("connect_timeout", str(db.CONNECT_TIMEOUT_S))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password:
        env["PGPASSWORD"] = password
    return psycopg2.extensions.make_dsn(**params), env


def _failure(program: str, done: subprocess.CompletedProcess, url: str) -> str:
    """The first error line of a client program, without its prefix or any password."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line or "FATAL" in line] or lines
    text = errors[0] if errors else f"exit status {done.returncode}"
    text = re.sub(rf"^{program}: (error: )?", "", text.strip())
    password = psycopg2.extensions.parse_dsn(url).get("password")
    return text.replace(password, "***") if password else text


# -- backup ---------------------------------------------------------------------------------


def dump_database(url: str, path: str | os.PathLike, *, program: str | os.PathLike) -> int:
    """Write the whole database at ``url`` to ``path`` as a ``pg_dump -Fc`` archive; returns its size in bytes.

    Written to a temporary file in the same folder (mode 0600: it holds personal
    data and password hashes) and renamed into place when complete, so ``path``
    is never a partial archive and an earlier file there survives a failure.
    """
    target = Path(path)
    conninfo, env = _connection(url)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run([str(program), "--format=custom", f"--file={partial}", f"--dbname={conninfo}"],
                              capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise ConfigError(f"pg_dump failed: {_failure('pg_dump', done, url)}",
                              fix=f"nothing was written to '{target}'; check the database user's rights")
        os.replace(partial, target)
        return target.stat().st_size
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


# -- restore --------------------------------------------------------------------------------


def check_archive(path: str | os.PathLike) -> Path:
    """``path`` when it is a ``pg_dump`` custom-format archive; else a one-line :class:`InputError`."""
    archive = Path(path)
    fix = "give a file written by python -m gis db backup (pg_dump -Fc)"
    if not archive.exists():
        raise InputError(f"backup '{archive}' does not exist", fix=fix)
    if not archive.is_file():
        raise InputError(f"backup '{archive}' is not a file", fix=fix)
    try:
        with open(archive, "rb") as fh:
            head = fh.read(len(ARCHIVE_MAGIC))
    except OSError as exc:
        raise InputError(f"backup '{archive}' cannot be read ({exc.strerror})",
                         fix="check its permissions") from None
    if head != ARCHIVE_MAGIC:
        raise InputError(f"'{archive}' is not a pg_dump archive (custom format)", fix=fix)
    return archive


def fetch_extensions(conn) -> set[str]:
    """The extensions installed in the database."""
    with conn.cursor() as cur:
        cur.execute("SELECT extname FROM pg_extension")
        return {row[0] for row in cur.fetchall()}


_EXTENSION_ENTRY = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?:EXTENSION - (\S+)|COMMENT - EXTENSION (\S+))\s*$")


def restore_archive(url: str, path: str | os.PathLike, *, program: str | os.PathLike,
                     keep_extensions: set[str]) -> None:
    """Replace the objects and rows of the database at ``url`` with those of a ``pg_dump -Fc`` archive.

    ``pg_restore --clean --if-exists --single-transaction --no-owner``: every
    object of the archive is dropped and re-created, owned by the restoring
    user, in one transaction, so a failure leaves the database as it was.
    The extensions in ``keep_extensions`` (those already installed) are left
    in place rather than dropped and re-created, which needs a superuser for
    PostGIS. The roles the archive's grants name (``gis_app``) must exist.

    Raises
    ------
    InputError
        When ``pg_restore`` cannot read the archive or the restore fails.
    """
    archive = check_archive(path)
    conninfo, env = _connection(url)
    listed = subprocess.run([str(program), "--list", str(archive)], capture_output=True, text=True,
                            env=env, stdin=subprocess.DEVNULL, check=False)
    if listed.returncode != 0:
        raise InputError(f"'{archive}' is not a readable pg_dump archive ({_failure('pg_restore', listed, url)})",
                         fix="give a complete file written by python -m gis db backup")
    entries = []
    for line in listed.stdout.splitlines():
        found = _EXTENSION_ENTRY.match(line)
        if found and (found.group(1) or found.group(2)) in keep_extensions:
            line = ";" + line  # commented out: pg_restore skips it
        entries.append(line)
    with tempfile.NamedTemporaryFile("w", prefix="gis-restore-", suffix=".list", encoding="utf-8") as listing:
        listing.write("\n".join(entries) + "\n")
        listing.flush()
        done = subprocess.run([str(program), "--clean", "--if-exists", "--single-transaction", "--no-owner",
                               f"--use-list={listing.name}", f"--dbname={conninfo}", str(archive)],
                              capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise InputError(f"restore of '{archive}' failed: {_failure('pg_restore', done, url)}",
                         fix="the database was left as it was (one transaction); check the file and the server")
