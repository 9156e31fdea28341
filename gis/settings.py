"""Settings read once from the environment.

``DATABASE_URL`` picks an existing server; unset, the project runs its own
embedded PostGIS cluster under ``GIS_HOME`` (default ``.pgdata/`` beside the
package).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


@dataclass(frozen=True)
class Settings:
    """What the environment says about where data live.

    Attributes
    ----------
    database_url
        ``postgresql://…`` of an existing server, or None for the embedded one.
    gis_home
        Folder of the embedded cluster (``GIS_HOME``, default ``.pgdata/``).
    port
        Fixed port for the embedded server (``GIS_PORT``), or None to pick a free one.
    pg_bin
        Folder of ``initdb``/``pg_ctl`` (``GIS_PG_BIN``), or None to search.
    analyst
        The analyst account notebooks run for (``GIS_ANALYST``), or None for the only one.
    """

    database_url: str | None
    gis_home: Path
    port: int | None
    pg_bin: Path | None
    analyst: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        from gis.errors import ConfigError

        port_text = env.get("GIS_PORT", "").strip()
        port = None
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigError(f"GIS_PORT '{port_text}' is not a port number",
                                  fix="set GIS_PORT to 1024..65535 or unset it to pick a free port")
            port = int(port_text)
        home = env.get("GIS_HOME", "").strip()
        pg_bin = env.get("GIS_PG_BIN", "").strip()
        return cls(
            database_url=env.get("DATABASE_URL", "").strip() or None,
            gis_home=Path(home).expanduser().resolve() if home else PROJECT_ROOT / ".pgdata",
            port=port,
            pg_bin=Path(pg_bin) if pg_bin else None,
            analyst=env.get("GIS_ANALYST", "").strip() or None,
        )
