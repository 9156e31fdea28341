"""Two incident imports at once, on their own connections, whose merges overlap in time.

Each import runs in a thread with its own :class:`Services` on the test's
database. A barrier holds both just before the merge, so both have staged
their rows and merge at the same moment: the case where two street offices
load overlapping 12345 exports together.
"""

from __future__ import annotations

import csv
import threading

import psycopg2
import pytest

from gis import store, workflows
from gis.core.access import SYSTEM
from gis.store import db
from gis.store import incidents as store_incidents
from gis.workflows.context import Services
from tests.conftest import X0, Y0, D

HEADER = "source,external_id,category,lon,lat,reported_at,status,description,address\n"
STORED, NEW_A, NEW_B = range(400), range(1500), range(750, 2250)  # 750 new keys in both files
CHANGED_A, CHANGED_B = range(250), range(150, 400)                # 100 stored keys changed by both


def row(external_id: str, i: int, description: str) -> list[object]:
    lon = X0 + (0.1 + (i % 37) * 0.1) * D  # inside the tiny district, all four micro-grids
    lat = Y0 + (0.1 + (i % 17) * 0.1) * D
    return ["12345", external_id, "other", lon, lat, "2025-10-09T09:00:00", "received", description, ""]


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(HEADER)
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def import_file(tmp_path, name: str, *, new: range, changed: range, reverse: bool = False):
    """New keys ``N…`` and changes to stored keys ``S…``, every value marked with ``name``
    (so a key in both files is changed again by the import that merges second)."""
    rows = [row(f"N{i}", i, f"from {name}") for i in new] + [row(f"S{i}", i, f"from {name}") for i in changed]
    return write_csv(tmp_path / f"{name}.csv", rows[::-1] if reverse else rows)


@pytest.fixture
def stored(services, layer_file, tmp_path):
    """The tiny grids and 400 stored cases ``S0…S399``."""
    workflows.import_grids(services, layer_file)
    path = write_csv(tmp_path / "stored.csv", [row(f"S{i}", i, "stored") for i in STORED])
    assert workflows.import_incidents(services, path).inserted == len(STORED)
    return services


def merged_together(database_url, monkeypatch, paths) -> list:
    """Import ``paths`` at once, one thread and one Services each, their merges released together."""
    barrier = threading.Barrier(len(paths), timeout=60)
    original = store.save_incoming_merged

    def merge_after_barrier(conn, **kwargs):
        barrier.wait()  # both imports have staged and assigned their rows
        return original(conn, **kwargs)
    monkeypatch.setattr(store, "save_incoming_merged", merge_after_barrier)
    results: list = [None] * len(paths)

    def run(k: int) -> None:
        try:
            with Services.for_url(database_url, principal=SYSTEM, maxconn=1) as services:
                results[k] = workflows.import_incidents(services, paths[k])
        except BaseException as exc:  # reported by the test, not lost in the thread
            barrier.abort()
            results[k] = exc
    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an import hung"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


def check_exact_counts_and_events(services, a, b) -> None:
    new_keys = len(set(NEW_A) | set(NEW_B))
    assert a.inserted + b.inserted == new_keys
    # whichever merged second found the shared new keys stored by the first and changed them
    first, second = (a, b) if a.inserted == len(NEW_A) else (b, a)
    shared_new, shared_stored = len(set(NEW_A) & set(NEW_B)), len(set(CHANGED_A) & set(CHANGED_B))
    first_changed = len(CHANGED_A) if first is a else len(CHANGED_B)
    second_changed = len(CHANGED_B) if first is a else len(CHANGED_A)
    assert (first.inserted, first.updated) == (len(NEW_A) if first is a else len(NEW_B), first_changed)
    assert (second.inserted, second.updated) == (new_keys - first.inserted, shared_new + second_changed)
    assert first.updated + second.updated == shared_new + len(CHANGED_A) + len(CHANGED_B)
    assert shared_stored  # the files also change some stored cases in common
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("""SELECT count(*),
                              count(*) FILTER (WHERE created <> 1),
                              sum(changes)
                       FROM (SELECT i.id,
                                    count(e.id) FILTER (WHERE e.from_status IS NULL) AS created,
                                    count(e.id) FILTER (WHERE e.from_status IS NOT NULL) AS changes
                             FROM incident i LEFT JOIN incident_event e ON e.incident_id = i.id
                             GROUP BY i.id) per_case""")
        cases, not_created_once, change_events = cur.fetchone()
        cur.execute("SELECT sum(inserted), sum(updated) FROM import_batch WHERE kind = 'incidents'")
        batch_inserted, batch_updated = cur.fetchone()
    assert cases == len(STORED) + new_keys
    assert not_created_once == 0  # exactly one creation event per case
    assert change_events == first.updated + second.updated
    assert (batch_inserted, batch_updated) == (len(STORED) + new_keys, first.updated + second.updated)


@pytest.mark.parametrize("opposite", [False, True], ids=["same_order", "opposite_order"])
def test_overlapping_imports_at_once_count_exactly_and_never_deadlock(stored, database_url, tmp_path,
                                                                      monkeypatch, opposite):
    a = import_file(tmp_path, "a", new=NEW_A, changed=CHANGED_A)
    b = import_file(tmp_path, "b", new=NEW_B, changed=CHANGED_B, reverse=opposite)
    result_a, result_b = merged_together(database_url, monkeypatch, [a, b])
    check_exact_counts_and_events(stored, result_a, result_b)


def index_and_foreign_key_definitions(services) -> list[tuple]:
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("""SELECT indexdef FROM pg_indexes WHERE tablename IN ('incident', 'incident_event')
                       UNION ALL
                       SELECT pg_get_constraintdef(oid) FROM pg_constraint
                       WHERE contype = 'f' AND ('incident'::regclass IN (conrelid, confrelid)
                                                OR 'incident_event'::regclass IN (conrelid, confrelid))
                       ORDER BY 1""")
        return cur.fetchall()


def without_autovacuum(database_url: str, tables: list[str]) -> None:
    """Keep autovacuum off ``tables`` (the ones the imports fill: no other gets enough changed rows
    to be analysed). Its ANALYZE of a table just filled holds a lock that the bulk path's
    LOCK … NOWAIT meets, and the merge then (rightly) keeps its indexes: when autovacuum came by
    was a matter of chance."""
    conn = psycopg2.connect(database_url)  # the tables' owner
    try:
        with conn, conn.cursor() as cur:
            for table in tables:
                cur.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    finally:
        conn.close()


def test_overlapping_bulk_merges_at_once_count_exactly_and_rebuild_indexes_once(stored, database_url, tmp_path,
                                                                                monkeypatch):
    without_autovacuum(database_url, ["incident", "incident_event"])
    # the bulk path (indexes and foreign keys dropped and rebuilt around the merge) at a size a
    # test affords, whatever the planner's row estimate of the table says
    monkeypatch.setattr(store_incidents, "BULK_MERGE_ROWS", 500)
    monkeypatch.setattr(db, "estimated_rows", lambda conn, table: 0)
    bulk_loads = []
    original = db.bulk_load

    def counted_bulk_load(conn, tables):
        bulk_loads.append(tables)
        return original(conn, tables)
    monkeypatch.setattr(db, "bulk_load", counted_bulk_load)
    before = index_and_foreign_key_definitions(stored)
    a = import_file(tmp_path, "a", new=NEW_A, changed=CHANGED_A)
    b = import_file(tmp_path, "b", new=NEW_B, changed=CHANGED_B, reverse=True)
    result_a, result_b = merged_together(database_url, monkeypatch, [a, b])
    check_exact_counts_and_events(stored, result_a, result_b)
    # the first merge keeps the indexes (the waiting import holds locks on the tables the bulk
    # path would need to itself); the second has them to itself and goes bulk
    assert len(bulk_loads) >= 1
    assert index_and_foreign_key_definitions(stored) == before
