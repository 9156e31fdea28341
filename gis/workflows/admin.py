"""Jobs of the database itself: the embedded server, the schema, status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gis.core import access
from gis.errors import ConfigError, SchemaOutOfDate
from gis.io.paths import writable_path
from gis.settings import Settings
from gis.store import access as access_store
from gis.store import backup, db, embedded, migrate
from gis.workflows import access as access_jobs
from gis.workflows.context import Services

# -- the database ----------------------------------------------------------------


def connect(settings: Settings | None = None, *, principal: access.Principal | None = access.SYSTEM,
            maxconn: int = 8, wait_s: float = 30.0) -> Services:
    """The services on the configured database: ``DATABASE_URL``, or the embedded server
    (started if needed). Refuses a schema that ``db init`` has not brought up to date.

    The command line runs for :data:`gis.core.access.SYSTEM`; the app passes None and
    binds each signed-in user with :meth:`Services.as_user`."""
    return Services.open(settings, principal=principal, maxconn=maxconn, wait_s=wait_s)


def connect_analyst(account: str | None = None, *, settings: Settings | None = None,
                    maxconn: int = 4) -> Services:
    """The services for an analyst's notebook or script: every job runs for an analyst account,
    so it sees that account's scope and reporters' phones masked, and
    :meth:`Services.analyst_sql` gives read-only SQL on masked views.

    Parameters
    ----------
    account
        The account's name; None: ``GIS_ANALYST``, else the only enabled analyst account.

    Raises
    ------
    ConfigError
        No such enabled analyst account, or several and none named.
    """
    settings = settings or Settings.from_env()
    services = connect(settings, principal=access.SYSTEM, maxconn=maxconn)
    try:
        return services.as_user(access_jobs.principal_of(_analyst_account(services, account or settings.analyst)))
    except BaseException:
        services.close()
        raise


def _analyst_account(services: Services, wanted: str | None) -> dict:
    """The enabled analyst account named ``wanted``, else the only one (a row of ``list_users``)."""
    users = access_jobs.list_users(services)
    analysts = users[(users["role"] == "analyst") & ~users["disabled"].astype(bool)]
    if wanted is not None:
        chosen = analysts[analysts["name"] == wanted]
        if chosen.empty:
            raise ConfigError(f"no enabled analyst account named '{wanted}'",
                              fix="python -m gis users list shows the accounts; add one with "
                                  "python -m gis users add NAME --role analyst --scope CODE")
    elif len(analysts) == 1:
        chosen = analysts
    else:
        names = ", ".join(sorted(analysts["name"])) or "none"
        raise ConfigError(f"{len(analysts)} analyst accounts ({names}): which one is yours?",
                          fix="set GIS_ANALYST to your account's name (or add one with "
                              "python -m gis users add NAME --role analyst --scope CODE)")
    return chosen.iloc[0].to_dict()


def init_database(settings: Settings | None = None, *, url: str | None = None) -> list[str]:
    """Create or upgrade the schema (the only place migrations run); returns the migrations applied now."""
    with db.Database(url or embedded.database_url(settings), maxconn=1) as database:
        return [f"{m.version:04d}_{m.name}" for m in migrate.migrate(database)]


def _embedded(settings: Settings | None) -> embedded.EmbeddedServer:
    settings = settings or Settings.from_env()
    if settings.database_url:
        raise ConfigError("DATABASE_URL is set, so the server is managed elsewhere",
                          fix="unset DATABASE_URL to manage the embedded server")
    return embedded.EmbeddedServer(settings)


def start_server(settings: Settings | None = None) -> dict[str, Any]:
    """Initialise (first time) and start the embedded server; returns its status."""
    server = _embedded(settings)
    server.ensure_running()
    return server.status()


def stop_server(settings: Settings | None = None) -> bool:
    """Stop the embedded server; False when it was not running."""
    return _embedded(settings).stop()


def server_url(settings: Settings | None = None) -> str:
    """The URL of the configured database (the embedded server is started if needed)."""
    return embedded.database_url(settings)


def server_status(settings: Settings | None = None) -> dict[str, Any]:
    """Where the data live and the versions of PostgreSQL, PostGIS and the schema."""
    settings = settings or Settings.from_env()
    status: dict[str, Any] = {"mode": "DATABASE_URL" if settings.database_url else "embedded"}
    if not settings.database_url:
        server = embedded.EmbeddedServer(settings)
        status.update(server.status())
        if not status["running"]:
            return status
    with db.Database(embedded.database_url(settings, start=False), maxconn=1) as database:
        status.update(migrate.server_info(database))
    status["url"] = db.redact_url(database.url)
    return status


# -- backups ----------------------------------------------------------------------


def backup_database(path: str | Path, *, settings: Settings | None = None) -> dict[str, Any]:
    """Write the whole configured database to ``path`` as a ``pg_dump`` custom-format archive.

    The path is checked before any work; the file appears only when complete
    (written beside it, then renamed), with mode 0600. ``pg_dump`` is the
    embedded server's own, or for ``DATABASE_URL`` the one of ``GIS_PG_BIN`` or
    ``PATH``, refused when older than the server.

    Returns
    -------
    dict
        ``path``, ``bytes`` (the archive's size) and ``seconds`` taken.
    """
    settings = settings or Settings.from_env()
    target = writable_path(path, field="PATH")
    started = time.perf_counter()
    url = embedded.database_url(settings)
    with db.Database(url, maxconn=1) as database, database.connection() as conn:
        major = backup.server_major(conn)
    program = backup.find_tool("pg_dump", settings=settings, server_major=major)
    size = backup.dump_database(url, target, program=program)
    return {"path": str(target), "bytes": size, "seconds": time.perf_counter() - started}


def restore_database(path: str | Path, *, settings: Settings | None = None) -> dict[str, Any]:
    """Replace the configured database's tables, rows and functions with those of a backup
    written by :func:`backup_database`.

    The role ``gis_app`` that the backup's grants name is created first when
    missing. The restore runs in one transaction: a failure leaves the
    database as it was. Tables the backup does not hold are left alone. The audit
    trail is the backup's, plus one ``restore`` row naming the archive (what was
    logged after the backup was taken is replaced with everything else).

    Returns
    -------
    dict
        ``path``, ``schema_version`` (of the restored database) and ``seconds`` taken.

    Raises
    ------
    InputError
        For a missing file or one that is not a ``pg_dump`` archive (before any work),
        and when the restore fails.
    SchemaOutOfDate
        When the restored schema is not the one this code needs (the data are restored;
        ``db init`` upgrades it).
    """
    settings = settings or Settings.from_env()
    archive = backup.check_archive(path)
    started = time.perf_counter()
    url = embedded.database_url(settings)
    with db.Database(url, maxconn=1) as database, database.connection() as conn:
        migrate.ensure_extension(conn, "postgis")
        migrate.ensure_roles(conn)
        major = backup.server_major(conn)
        installed = backup.fetch_extensions(conn)
    program = backup.find_tool("pg_restore", settings=settings, server_major=major)
    backup.restore_archive(url, archive, program=program, keep_extensions=installed)
    try:
        with Services.for_url(url, principal=access.SYSTEM, maxconn=1) as services:
            with services.transaction() as conn:
                version = migrate.schema_version(conn)
                # the restored trail ends at the backup: say so in it, with what replaced what
                access_store.save_audit(conn, action="restore", object=str(archive),
                                        detail={"backup": str(archive), "schema_version": version})
    except SchemaOutOfDate as exc:
        raise SchemaOutOfDate(f"'{archive}' was restored, but {exc.message}", fix=exc.fix) from None
    return {"path": str(archive), "schema_version": version, "seconds": time.perf_counter() - started}
