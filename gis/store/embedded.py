"""The embedded PostGIS server: ``initdb`` on first use, ``pg_ctl`` on a free port of
127.0.0.1, run as the unprivileged user ``gisdb`` when we are root."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from psycopg2 import sql as pgsql

from gis.errors import ConfigError
from gis.settings import Settings
from gis.store.db import check_url, connect

SERVER_USER = "gisdb"  # the unprivileged account the embedded server runs as under root
DB_NAME = "gis"
DB_USER = "gis"


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """The URL to use: ``DATABASE_URL`` or the embedded server's (started if needed)."""
    settings = settings or Settings.from_env()
    if settings.database_url:
        return check_url(settings.database_url)
    server = EmbeddedServer(settings)
    if start:
        server.ensure_running()
    return server.url()


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
    """Whether PostgreSQL could listen on 127.0.0.1:``port`` now.

    With ``SO_REUSEADDR``, as PostgreSQL binds: the connections of a server
    just stopped linger in TIME-WAIT on its port, and must not make the port
    look taken to the restart (the pool's URL keeps the port).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def _serves(pid: int, cluster: Path) -> bool:
    """Whether process ``pid`` is a PostgreSQL server of ``cluster``.

    A postmaster works in its data directory, so its working directory tells,
    where the name alone would take any process called postgres for ours (a PID
    reused after a reboot). Where /proc does not show another user's working
    directory, the name is the best there is.
    """
    if not _process_is_postgres(pid):
        return False
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == cluster.resolve()
    except PermissionError:
        return True
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
        except OSError:
            return None
        try:
            pid = int(lines[0])
        except (ValueError, IndexError):
            pid = None  # empty or garbage (a crash while it was written): no server holds it
        alive = False
        if pid is not None and pid > 0:
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if alive and _serves(pid, self.cluster):
            return pid
        # the postmaster died (kill -9, power cut, reboot), or the file is garbage: PostgreSQL
        # would refuse to start while the lock file names another process or cannot be read
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
