"""Incidents: import batches, staging and merge, lifecycle events, escalation."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import pandas as pd
import psycopg2.errors
import psycopg2.extensions
import shapely
from psycopg2 import sql as pgsql

from gis.store import db
from gis.store.frames import _copy_frame, _ewkb_hex

# -- incidents -------------------------------------------------------------------------------

INCOMING_COLUMNS = ["line", "source", "external_id", "category", "status", "tier", "priority", "description",
                    "address", "reporter_phone", "reported_at", "due_at", "closed_at", "lon", "lat", "input_crs",
                    "micro_code", "exclusive_code", "suggested_code", "suggested_distance_m", "assignee", "handler",
                    "informed"]


def save_import_batch(conn, *, kind: str, source_path: str = "", input_crs: str | None = None,
                      encoding: str | None = None) -> int:
    return db.fetch_one(conn, "save_import_batch", {"kind": kind, "source_path": source_path,
                                                    "input_crs": input_crs, "encoding": encoding})["id"]


def save_import_batch_done(conn, *, batch_id: int, accepted: int, inserted: int, updated: int,
                           unassigned: int, rejected: int, note: str = "") -> None:
    db.execute(conn, "save_import_batch_done", dict(batch_id=batch_id, accepted=accepted, inserted=inserted,
                                                    updated=updated, unassigned=unassigned, rejected=rejected,
                                                    note=note))


def save_import_rejects(conn, rejects: pd.DataFrame, *, batch_id: int) -> None:
    if len(rejects):
        rows = [(batch_id, None if pd.isna(r.line) else int(r.line), r.field, r.reason, r.raw)
                for r in rejects.itertuples(index=False)]
        db.execute_values(conn, "save_import_rejects", rows)


def save_incoming_table(conn) -> None:
    db.execute(conn, "save_incoming_table")


INCOMING_TIMES = ["reported_at", "due_at", "closed_at"]


def save_incoming(conn, incidents: pd.DataFrame) -> int:
    """COPY checked, assigned incident rows into the transaction's staging table.

    Times (zone-aware) go as UTC without a zone: written and parsed several times
    faster; the merge reads them back ``AT TIME ZONE 'UTC'``.
    """
    times = {c: _utc_naive(incidents[c]) for c in INCOMING_TIMES if c in incidents}
    return _copy_frame(conn, "incoming", incidents.assign(**times), INCOMING_COLUMNS)


def _utc_naive(values: pd.Series) -> pd.Series:
    """Zone-aware times as naive UTC; anything else (all missing, say) as is."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype) and values.notna().any():
        raise ValueError(f"incident column '{values.name}' holds times without a zone")
    return values


BULK_MERGE_ROWS = 50_000  # from here, and when as large as half the table, indexes are rebuilt after


def save_incoming_merged(conn, *, version_id: int | None, batch_id: int, actor: str, staged: int
                         ) -> dict[str, int]:
    """Merge the staged rows into ``incident`` in one statement; returns the counts ``inserted``,
    ``updated`` and ``older`` (rows whose stage ranked below the stored one, which was kept)
    with ``older_lines`` (their first 20 lines).

    New keys are inserted (a plain INSERT … SELECT), changed rows updated, and
    their events written by one INSERT … SELECT.

    Merges run one at a time: each first takes a transaction-level advisory lock
    (:data:`MERGE_LOCK`), held until its import commits, so the next one starts
    from a snapshot that holds every key stored before it. Two overlapping
    imports therefore count each new key once and write one creation event per
    case, and cannot deadlock on each other's keys; their reading, checking and
    assignment still run in parallel. The caller's transaction must be READ
    COMMITTED (the default) and must not have written to ``incident`` before.

    Many new rows against a small table merge with the secondary indexes and
    foreign keys dropped and rebuilt afterwards (several times faster); a small
    batch into a large table, or one of mostly stored keys, keeps them, and so
    does a merge that cannot have the tables to itself at once.
    """
    params = {"version_id": version_id, "batch_id": batch_id, "actor": actor,
              "note_new": "导入受理", "note_changed": "导入更新", "note_status": "导入状态变更"}
    if staged >= ANALYZE_STAGED_ROWS:  # temporary tables get no statistics from autovacuum
        db.execute(conn, "save_incoming_analyzed")
    with conn.cursor() as cur:
        # One fixed key rather than row locks in key order: the merge's INSERT takes its
        # new keys in plan order, and the bulk path needs the whole tables anyway. It is
        # a statement of its own because a READ COMMITTED statement reads the snapshot of
        # its start: taken inside the merge statement, the lock would come after the
        # snapshot and the merge would miss the keys the import before it just committed.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MERGE_LOCK,))
    # decided under the lock: the keys another import stored meanwhile are no longer new
    bulk = staged >= BULK_MERGE_ROWS and staged * 2 >= db.estimated_rows(conn, "incident")
    if bulk:  # only new rows pay for index upkeep: a re-import of the same rows stays indexed
        fresh = db.fetch_one(conn, "fetch_incoming_new_count")["n"]
        bulk = fresh >= BULK_MERGE_ROWS and fresh * 2 >= db.estimated_rows(conn, "incident")
    bulk = bulk and _tables_to_itself(conn, ["incident", "incident_event"])
    with db.bulk_load(conn, ["incident", "incident_event"]) if bulk else contextlib.nullcontext(), \
            _no_nested_loops(conn, staged >= ANALYZE_STAGED_ROWS):
        # under the lock no other merge stores keys meanwhile; a writer that bypasses it
        # (a COPY of fresh rows) still can, and the statement then runs again, seeing its rows
        for attempt in range(MERGE_ATTEMPTS):
            with conn.cursor() as cur:
                cur.execute("SAVEPOINT incoming_merge")
            try:
                row = db.fetch_one(conn, "save_incoming_merged", params)
            except psycopg2.errors.UniqueViolation:
                with conn.cursor() as cur:
                    cur.execute("ROLLBACK TO SAVEPOINT incoming_merge")
                if attempt == MERGE_ATTEMPTS - 1:
                    raise
                continue
            with conn.cursor() as cur:
                cur.execute("RELEASE SAVEPOINT incoming_merge")
            return {"inserted": int(row["inserted"]), "updated": int(row["updated"]),
                    "older": int(row["older"]), "older_lines": list(row["older_lines"] or [])}
    raise AssertionError("unreachable")


#: The advisory lock key of incident merges (any fixed bigint; this one spells "gismerge").
MERGE_LOCK = 0x6769736D65726765


def _tables_to_itself(conn, tables: list[str]) -> bool:
    """Lock ``tables`` and every table joined to them by a foreign key (ACCESS EXCLUSIVE,
    as dropping their indexes and foreign keys will) if that is possible at once.

    Never waits: an import waiting for the merge lock holds weaker locks on these
    tables (its import_batch row, the grid versions it read), so waiting here for
    them would deadlock. When another transaction holds one, the merge keeps the
    indexes, which is slower but takes only row locks.
    """
    with conn.cursor() as cur:
        cur.execute("""SELECT n.nspname, c.relname
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.oid = ANY(%(t)s::regclass[])
                          OR c.oid IN (SELECT unnest(ARRAY[conrelid, confrelid]) FROM pg_constraint
                                       WHERE contype = 'f' AND (conrelid = ANY(%(t)s::regclass[])
                                                                OR confrelid = ANY(%(t)s::regclass[])))
                       ORDER BY 1, 2""", {"t": tables})
        related = [pgsql.Identifier(schema, name) for schema, name in cur.fetchall()]
        cur.execute("SAVEPOINT bulk_tables")
        try:
            cur.execute(pgsql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE NOWAIT").format(
                pgsql.SQL(", ").join(related)))
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.InsufficientPrivilege):
            cur.execute("ROLLBACK TO SAVEPOINT bulk_tables")
            return False
        cur.execute("RELEASE SAVEPOINT bulk_tables")
    return True


ANALYZE_STAGED_ROWS = 10_000  # from here the planner gets the staging table's statistics


@contextlib.contextmanager
def _no_nested_loops(conn, large: bool):
    """For a large merge, keep the planner off nested loops: with the key index dropped for a
    bulk load, or statistics behind the table, a nested-loop anti-join is quadratic (a 300k-row
    merge once ran for 13 minutes); hash joins are linear whatever the estimates."""
    if not large:
        yield
        return
    with conn.cursor() as cur:
        cur.execute("SET LOCAL enable_nestloop = off")
    try:
        yield
    finally:
        if not conn.closed and conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_INERROR:
            with conn.cursor() as cur:
                cur.execute("SET LOCAL enable_nestloop = on")
MERGE_ATTEMPTS = 3  # runs of the merge when a writer outside the merge lock stores the same new keys


INCIDENT_COLUMNS = ["id", "source", "external_id", "category", "status", "tier", "priority", "description",
                    "address", "reporter_phone", "reported_at", "due_at", "closed_at", "geom", "input_crs",
                    "micro_code", "exclusive_code", "grid_version_id", "suggested_code", "suggested_distance_m",
                    "assignee", "handler", "batch_id", "informed"]


def save_demo_incidents_removed(conn) -> None:
    """Remove earlier demo incidents (TRUNCATE when every stored incident is a demo one)."""
    if db.fetch_one(conn, "fetch_non_demo_incident_count")["n"] == 0:
        db.execute(conn, "save_incidents_truncated")
    else:
        db.execute(conn, "save_demo_incidents_removed")


def save_incidents_direct(conn, incidents: pd.DataFrame, events: pd.DataFrame, *, version_id: int | None,
                          batch_id: int) -> int:
    """COPY new incidents and their events straight into the tables (ids reserved from the
    sequence); for bulk loads of fresh rows such as the demo, not for merging imports."""
    ids = [r["id"] for r in db.fetch_all(conn, "fetch_new_incident_ids", {"n": len(incidents)})]
    frame = incidents.assign(id=ids, grid_version_id=version_id, batch_id=batch_id,
                             geom=_ewkb_hex(shapely.points(incidents["lon"], incidents["lat"])))
    key = pd.Series(ids, index=pd.MultiIndex.from_arrays([incidents["source"], incidents["external_id"]]))
    incident_id = key.reindex(pd.MultiIndex.from_arrays([events["source"], events["external_id"]])).to_numpy()
    with db.bulk_load(conn, ["incident", "incident_event"]):
        _copy_frame(conn, "incident", frame, INCIDENT_COLUMNS)
        _copy_frame(conn, "incident_event", events.assign(incident_id=incident_id),
                    ["incident_id", "at", "from_status", "to_status", "actor", "note"])
    return len(frame)


def fetch_incident(conn, *, source: str, external_id: str) -> dict[str, Any] | None:
    return db.fetch_one(conn, "fetch_incident", {"source": source, "external_id": external_id})


def fetch_incident_events(conn, *, incident_id: int) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_incident_events", {"incident_id": incident_id}),
                        columns=["at", "from_status", "to_status", "actor", "note"])


def save_incident_status(conn, *, incident_id: int, status: str, handler: str | None = None, due_at=None,
                         tier: str | None = None, assignee: str | None = None) -> None:
    db.execute(conn, "save_incident_status", dict(incident_id=incident_id, status=status, handler=handler,
                                                  due_at=due_at, tier=tier, assignee=assignee))


def save_incident_event(conn, *, incident_id: int, from_status: str | None, to_status: str, actor: str,
                        note: str = "") -> None:
    db.execute(conn, "save_incident_event", dict(incident_id=incident_id, from_status=from_status,
                                                 to_status=to_status, actor=actor, note=note))


#: Columns of ``fetch_incidents_export`` (the CSV, GeoJSON, Open311 and GeoParquet exports).
INCIDENTS_EXPORT_COLUMNS = ["source", "external_id", "category", "status", "tier", "lon", "lat", "reported_at",
                            "due_at", "closed_at", "description", "address", "micro_code", "exclusive_code",
                            "assignee", "priority"]


def fetch_incidents_export(conn, *, since=None) -> pd.DataFrame:
    rows = db.fetch_all(conn, "fetch_incidents_export", {"since": since})
    return pd.DataFrame(rows, columns=INCIDENTS_EXPORT_COLUMNS)


CASES_EXPORT_COLUMNS = ["external_id", "source", "category", "status", "tier", "reported_at", "due_at", "closed_at",
                        "micro_code", "exclusive_code", "assignee", "reporter_phone", "address", "description"]


def fetch_cases_export_count(conn, params: dict[str, Any], *, search: str | None = None,
                             open_only: bool = False) -> int:
    """How many cases :func:`iter_cases_export` yields for the same arguments (under the
    transaction's row-level security)."""
    row = db.fetch_one(conn, "fetch_cases_export_count", {**params, "search": db.like_pattern(search),
                                                          "open_only": open_only})
    return int(row["n"])


def iter_cases_export(conn, params: dict[str, Any], *, search: str | None = None, open_only: bool = False,
                      chunk_rows: int = 5000) -> Iterator[list[tuple]]:
    """Every case of the filter (``params`` as :meth:`CaseFilter.params`), newest first, in
    lists of at most ``chunk_rows`` tuples (:data:`CASES_EXPORT_COLUMNS`; phones whole: mask
    before writing). A server-side cursor keeps only one chunk in memory on this side, whatever
    the number of cases; it lives in the caller's transaction, so consume it before giving
    the connection back."""
    with conn.cursor(name="cases_export") as cur:
        cur.itersize = chunk_rows
        cur.execute(db.queries()["fetch_cases_export"], {**params, "search": db.like_pattern(search),
                                                         "open_only": open_only})
        while True:
            rows = cur.fetchmany(chunk_rows)
            if not rows:
                return
            yield rows


def fetch_overdue(conn, *, now) -> pd.DataFrame:
    """Open cases past their deadline, not yet supervised (rows locked for update)."""
    return pd.DataFrame(db.fetch_all(conn, "fetch_overdue", {"now": now}),
                        columns=["id", "category", "status", "tier", "due_at", "micro_code", "exclusive_code"])


def save_escalations(conn, escalations: pd.DataFrame, *, now, actor: str) -> int:
    """Apply escalations (id, from_status, status, tier, due_at, assignee, note) and record an event each."""
    db.execute(conn, "save_escalated_table")
    _copy_frame(conn, "escalated", escalations, ["id", "from_status", "status", "tier", "due_at", "assignee", "note"])
    return db.execute(conn, "save_escalations", {"now": now, "actor": actor})
