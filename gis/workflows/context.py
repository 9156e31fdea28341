"""The services every job takes first: the connection pool and the caches per grid version.

The CLI, the app (``st.cache_resource``) and notebooks create one
:class:`Services`; jobs borrow one connection from it at a time and read the
grids of a version through :meth:`Services.version`. A grid version never
changes once stored, so its cache needs no expiry, only a bound. Nothing in
the library keeps a database in a module-level cache.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import pandas as pd

from gis import store
from gis.core import access, topology
from gis.core.assignment import GridIndex
from gis.core.hierarchy import GridTree
from gis.errors import InputError, PermissionDenied, SchemaOutOfDate
from gis.settings import Settings
from gis.store import db, migrate
from gis.store.embedded import database_url

#: Grid versions kept in memory at once, per scope (a scoped one holds only its scope's grids):
#: the active one and the one before for a few scopes, with room for a diff.
VERSIONS_CACHED = 16


@dataclass(eq=False)
class GridVersion:
    """One stored grid version with its lookups, built once.

    ``grids`` hands out a copy, so no caller can change what the next one sees.
    """

    id: int
    _grids: gpd.GeoDataFrame = field(repr=False)
    #: Grids of earlier committed versions that this one no longer has (code, name, level,
    #: parent_code, households, population; each code as its latest version had it, without
    #: geometry): closed cases keep such codes.
    _earlier: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def grids(self) -> gpd.GeoDataFrame:
        """Every grid of the version (all levels, WGS-84), a copy of the cached frame."""
        return self._grids.copy()

    def level(self, level: str) -> gpd.GeoDataFrame:
        """The grids of one level (a copy)."""
        return self._grids[self._grids["level"] == level].copy()

    @cached_property
    def tree(self) -> GridTree:
        """Parent/child lookups over the version."""
        return GridTree(self._grids)

    @cached_property
    def history(self) -> GridTree:
        """The tree cases roll up through: this version's grids and the codes only earlier versions
        had, under the parents they had then (a code keeps its parent across versions), so a
        closed case of a retired micro-grid counts where it was when it was handled."""
        if self._earlier is None or not len(self._earlier):
            return self.tree
        columns = ["code", "name", "level", "parent_code"]
        return GridTree(pd.concat([self._grids[columns], self._earlier[columns]], ignore_index=True))

    @property
    def history_grids(self) -> gpd.GeoDataFrame:
        """:attr:`grids` and, without geometry, the grids only earlier versions had (the units
        of :attr:`history`): for tables of past periods, not for maps."""
        if self._earlier is None or not len(self._earlier):
            return self.grids
        earlier = gpd.GeoDataFrame(self._earlier,
                                   geometry=gpd.GeoSeries([None] * len(self._earlier), crs=self._grids.crs))
        return gpd.GeoDataFrame(pd.concat([self._grids, earlier], ignore_index=True), geometry="geometry",
                                crs=self._grids.crs)

    @cached_property
    def index(self) -> GridIndex:
        """The spatial index of the micro-grids and exclusive grids (the assignment rule)."""
        grids = self._grids
        return GridIndex(grids[grids["level"] == "micro"], grids[grids["level"] == "exclusive"])

    @property
    def exclusive_partners(self) -> pd.DataFrame:
        """Each exclusive grid's 共建 communities (``exclusive_code, code, name, share``), a copy."""
        return self._partners.copy()

    @cached_property
    def _partners(self) -> pd.DataFrame:
        return topology.exclusive_partners(self._grids)

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the version in degrees WGS-84."""
        return tuple(float(v) for v in self._grids.total_bounds)


class Services:
    """The connection pool and the per-version caches, shared by every job of a process,
    bound to the principal the jobs run for.

    Every borrowed connection runs as the low-privilege role ``gis_app`` and names
    the principal for its transaction, so row-level security decides what each job
    sees and may change. :meth:`as_user` binds another principal to the same pool
    and caches (the app does so per signed-in user); without a principal, jobs see
    nothing.

    Parameters
    ----------
    database
        The pool.
    principal
        Who the jobs run for; :data:`gis.core.access.SYSTEM` for the command line.
    check_schema
        Refuse a database whose schema is not the one this code expects
        (``db init`` brings it up to date; nothing else migrates).
    """

    def __init__(self, database: db.Database, *, principal: access.Principal | None = None,
                 check_schema: bool = True) -> None:
        self.database = database
        self.principal = principal
        self._versions: OrderedDict[tuple[int, str | None], GridVersion] = OrderedDict()
        self._lock = threading.Lock()
        if check_schema:
            self.check_schema()

    @classmethod
    def open(cls, settings: Settings | None = None, *, principal: access.Principal | None = None,
             maxconn: int = 8, wait_s: float = 30.0, check_schema: bool = True) -> Services:
        """Connect to the configured database: ``DATABASE_URL``, or the embedded server (started if needed)."""
        return cls.for_url(database_url(settings), principal=principal, maxconn=maxconn, wait_s=wait_s,
                           check_schema=check_schema)

    @classmethod
    def for_url(cls, url: str, *, principal: access.Principal | None = None, maxconn: int = 8,
                wait_s: float = 30.0, check_schema: bool = True) -> Services:
        """Services on the database at ``url``."""
        return cls(db.Database(url, maxconn=maxconn, wait_s=wait_s, role=migrate.APP_ROLE),
                   principal=principal, check_schema=check_schema)

    def as_user(self, principal: access.Principal | None) -> Services:
        """The same pool and caches, for ``principal`` (cheap: the app binds one per page run)."""
        bound = copy.copy(self)
        bound.principal = principal
        return bound

    def check_schema(self) -> None:
        """Raise :class:`SchemaOutOfDate` naming ``db init`` unless the schema is current."""
        with self.database.connection() as conn:
            have = migrate.schema_version(conn)
            vocabulary = have is not None and migrate.vocabulary_matches(conn)
        want = migrate.latest_version()
        if have != want:
            found = "no schema" if have is None else f"schema version {have}"
            raise SchemaOutOfDate(f"the database has {found}; this version of the code needs {want}",
                                  fix="run python -m gis db init")
        if not vocabulary:
            raise SchemaOutOfDate("the database's vocabulary functions differ from the rules",
                                  fix="run python -m gis db init")

    # -- borrowing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self):
        """Borrow one pooled connection for the principal (a context manager); a job holds one at a time."""
        with self.database.connection() as conn:
            self._set_principal(conn)
            yield conn

    @contextlib.contextmanager
    def transaction(self):
        """Borrow one pooled connection inside a transaction for the principal (a context manager)."""
        with self.database.transaction() as conn:
            self._set_principal(conn)
            yield conn

    @contextlib.contextmanager
    def analyst_sql(self):
        """A read-only connection of its own for an analyst's SQL (a context manager), e.g. for
        ``geopandas.read_postgis``: it runs as the role ``gis_analyst`` for the principal, so
        row-level security keeps the principal's scope, ``incident`` and ``grid_staff`` are
        views whose phones are masked (``138****5678``), accounts and the audit trail are out
        of reach, and every transaction is read-only."""
        p = self.require(access.READ, action_zh="查询数据")
        with warnings.catch_warnings():
            # pandas warns about any DB-API connection but SQLAlchemy's and sqlite3's; psycopg2 works
            warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy", category=UserWarning)
            with db.analyst_session(self.database.url, name=p.name, role=p.role, scope=p.scope) as conn:
                yield conn

    def _set_principal(self, conn) -> None:
        p = self.principal
        db.set_principal(conn, p.name if p else None, role=p.role if p else None, scope=p.scope if p else None)

    def require(self, right: str, *, action_zh: str) -> access.Principal:
        """The principal, when its role has ``right``; :class:`PermissionDenied` otherwise.

        The database enforces the same rights; this gives the user a clear message first.
        """
        if self.principal is None:
            raise PermissionDenied(f"{action_zh}需要先登录", fix="sign in first")
        if not self.principal.can(right):
            raise PermissionDenied(f"{self.principal.role_zh}（{self.principal.name}）无权{action_zh}",
                                   fix="ask an administrator for a role with this right")
        return self.principal

    # -- grid versions -------------------------------------------------------------------------

    def version(self, conn, version_id: int | None = None) -> GridVersion:
        """A grid version with its lookups, read through ``conn`` the first time.

        The grids a principal may read depend on its scope, so the cache is keyed by
        (version, scope): users of one community share one entry, and nobody is served
        grids read for another scope.

        Parameters
        ----------
        conn
            The job's borrowed connection (no second one is borrowed).
        version_id
            None for the active version.

        Raises
        ------
        InputError
            When no grids are stored yet (or none is visible to the principal).
        """
        if version_id is None:
            version_id = active_version_id(conn)
        key = (version_id, self.principal.scope if self.principal else None)
        with self._lock:
            cached = self._versions.get(key)
            if cached is not None:
                self._versions.move_to_end(key)
                return cached
        loaded = GridVersion(version_id, store.fetch_grids(conn, version_id=version_id),
                             store.fetch_earlier_grids(conn, version_id=version_id))
        with self._lock:
            cached = self._versions.setdefault(key, loaded)
            self._versions.move_to_end(key)
            while len(self._versions) > VERSIONS_CACHED:
                self._versions.popitem(last=False)
        return cached

    def forget(self, version_id: int) -> None:
        """Drop a version's cached lookups (its earlier codes change when another version is committed)."""
        with self._lock:
            for key in [k for k in self._versions if k[0] == version_id]:
                del self._versions[key]

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def active_version_id(conn) -> int:
    """The id of the active grid version; :class:`InputError` naming the fix when there is none."""
    version = store.fetch_active_version(conn)
    if version is None:
        raise InputError("no grids are stored yet", fix="run python -m gis grids import PATH or python -m gis demo")
    return version["id"]
