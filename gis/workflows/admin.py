"""Jobs of the database itself: the embedded server, the schema, status."""

from __future__ import annotations

from typing import Any

from gis.errors import ConfigError
from gis.settings import Settings
from gis.store import db, embedded, migrate
from gis.workflows.context import Services

# -- the database ----------------------------------------------------------------


def connect(settings: Settings | None = None, *, maxconn: int = 8, wait_s: float = 30.0) -> Services:
    """The services on the configured database: ``DATABASE_URL``, or the embedded server
    (started if needed). Refuses a schema that ``db init`` has not brought up to date."""
    return Services.open(settings, maxconn=maxconn, wait_s=wait_s)


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
