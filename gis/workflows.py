"""The jobs that the CLI, the app's pages and notebooks share.

Each job takes an open :class:`gis.db.Database` (``connect()`` gives one)
and returns plain Python values or frames; none prints or draws.
"""

from __future__ import annotations

from typing import Any

from gis import db as _db
from gis.errors import ConfigError
from gis.settings import Settings


# -- the database ----------------------------------------------------------------


def connect(settings: Settings | None = None, *, maxconn: int = 8) -> _db.Database:
    """Open the configured database: ``DATABASE_URL``, or the embedded server (started if needed)."""
    return _db.open_database(settings, maxconn=maxconn)


def init_database(database: _db.Database) -> list[str]:
    """Create or upgrade the schema; returns the names of the migrations applied now."""
    return [f"{m.version:04d}_{m.name}" for m in _db.migrate(database)]


def _embedded(settings: Settings | None) -> _db.EmbeddedServer:
    settings = settings or Settings.from_env()
    if settings.database_url:
        raise ConfigError("DATABASE_URL is set, so the server is managed elsewhere",
                          fix="unset DATABASE_URL to manage the embedded server")
    return _db.EmbeddedServer(settings)


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
    return _db.database_url(settings)


def server_status(settings: Settings | None = None) -> dict[str, Any]:
    """Where the data live and the versions of PostgreSQL, PostGIS and the schema."""
    settings = settings or Settings.from_env()
    status: dict[str, Any] = {"mode": "DATABASE_URL" if settings.database_url else "embedded"}
    if not settings.database_url:
        server = _db.EmbeddedServer(settings)
        status.update(server.status())
        if not status["running"]:
            return status
    with _db.Database(_db.database_url(settings, start=False), maxconn=1) as database:
        status.update(_db.server_info(database))
    status["url"] = _db.redact_url(database.url)
    return status
