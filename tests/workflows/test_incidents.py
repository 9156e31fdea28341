"""Incident jobs against the real PostGIS: intake, assignment, idempotence, lifecycle, export."""

from __future__ import annotations

import csv
import itertools
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gis import store, workflows
from gis.core.crs import wgs84_to_bd09, wgs84_to_gcj02
from gis.core.intake import read_incidents
from gis.errors import GisError, InputError, TransitionError
from tests.conftest import X0, Y0, D, cell, hierarchy

HEADER = "source,external_id,category,lon,lat,reported_at,status,description,address\n"
HOSTILE = 'He said "hi"; \'; DROP TABLE incident; -- <script>alert(1)</script> 🚧\nsecond line'


def write_csv(path, rows: list[list[object]]):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(HEADER)
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


@pytest.fixture
def grids_loaded(services, layer_file):
    workflows.import_grids(services, layer_file)
    return services


def counts(services) -> tuple[int, int]:
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM incident_event)")
        return cur.fetchone()


def incident(services, external_id, source="12345"):
    with services.connection() as conn:
        return store.fetch_incident(conn, source=source, external_id=external_id)


GOOD = [
    ["12345", "A1", "暴露垃圾", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-09-29T10:00:00", "received", "垃圾", "建设路1号"],
    ["12345", "A2", "safety.fire", X0 + 2.5 * D, Y0 + 1.5 * D, "2025-09-29T10:00:00+08:00", "受理", HOSTILE, "x"],
    ["patrol", "P1", "井盖破损", X0 + D, Y0 + 0.5 * D, "2025-09-30 09:00", "dispatched", "井盖", "桐柏路"],  # shared edge
    ["patrol", "P2", "不认识的类别", X0 - 0.001, Y0 + 0.5 * D, "2025-09-30T09:00:00", "received", "路外", ""],
]
BAD = [
    ["12345", "B1", "other", X0, 95, "2025-09-29T10:00:00", "received", "", ""],
    ["12345", "B2", "other", "abc", Y0, "2025-09-29T10:00:00", "received", "", ""],
    ["12345", "B3", "other", Y0, X0, "2025-09-29T10:00:00", "received", "", ""],
    ["12345", "B4", "other", X0, Y0, "not a time", "received", "", ""],
]


def test_import_stores_good_rows_refuses_bad_ones_and_assigns_by_the_rule(grids_loaded, tmp_path, cli):
    path = write_csv(tmp_path / "in.csv", GOOD + BAD)
    rejects = tmp_path / "rejects.csv"
    done = cli("incidents", "import", str(path), "--rejects", str(rejects))
    assert done.returncode == 0, done.stderr
    assert "accepted 4 (new 4, updated 0, unchanged 0), unassigned 1, rejected 4" in done.stdout
    # stderr is a pipe here, as in a log: one summary line per stage, no progress-bar frames
    assert "\r" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("staging: ")] == [
        next(line for line in done.stderr.splitlines() if line.startswith("staging: "))]
    refused = pd.read_csv(rejects, dtype=str, encoding="utf-8-sig")
    assert list(refused["line"]) == ["7", "8", "9", "10"]  # A2 spans two lines
    assert "outside -90..90" in refused["reason"][0] and "swapped" in refused["reason"][2]
    db = grids_loaded
    assert incident(db, "A1")["micro_code"] == "G1-01" and incident(db, "A1")["category"] == "env.exposed_garbage"
    assert incident(db, "P1", "patrol")["micro_code"] == "G1-01"  # G1-01 | G2-01 edge: lowest code
    p2 = incident(db, "P2", "patrol")
    assert p2["micro_code"] is None and p2["suggested_code"] == "G1-01" and p2["category"] == "other"
    assert p2["suggested_distance_m"] == pytest.approx(91.5, abs=1)
    a2 = incident(db, "A2")
    assert a2["description"] == HOSTILE and a2["micro_code"] == "G2-02"
    assert a2["due_at"] > a2["reported_at"] and a2["tier"] in ("general", "complex", "hard")
    assert "不认识的类别" in done.stderr  # the unknown category is a warning, not a refusal


def test_importing_the_same_file_twice_changes_nothing(grids_loaded, tmp_path):
    path = write_csv(tmp_path / "in.csv", GOOD)
    first = workflows.import_incidents(grids_loaded, path)
    before = counts(grids_loaded)
    second = workflows.import_incidents(grids_loaded, path)
    assert (first.inserted, second.inserted, second.updated) == (4, 0, 0)
    assert counts(grids_loaded) == before == (4, 4)


def test_a_changed_status_updates_the_incident_and_writes_an_event(grids_loaded, tmp_path):
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "a.csv", GOOD))
    changed = [row[:] for row in GOOD]
    changed[0][6] = "dispatched"
    result = workflows.import_incidents(grids_loaded, write_csv(tmp_path / "b.csv", changed))
    assert (result.inserted, result.updated) == (0, 1)
    _, events = workflows.incident_history(grids_loaded, source="12345", external_id="A1")
    pairs = list(zip(events["from_status"].fillna("-"), events["to_status"]))
    assert pairs == [("-", "received"), ("received", "dispatched")]


def test_duplicates_within_a_file_are_stored_once(grids_loaded, tmp_path):
    rows = [GOOD[0], [*GOOD[0][:6], "dispatched", *GOOD[0][7:]]]
    result = workflows.import_incidents(grids_loaded, write_csv(tmp_path / "d.csv", rows))
    assert result.inserted == 1 and incident(grids_loaded, "A1")["status"] == "dispatched"


def test_gcj02_and_bd09_input_lands_in_the_same_micro_grid_as_its_wgs84_truth(grids_loaded, tmp_path):
    truth = (X0 + 2.9 * D, Y0 + 0.1 * D)  # G2-01, near its corner
    glon, glat = wgs84_to_gcj02(*truth)
    blon, blat = wgs84_to_bd09(*truth)
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "g.csv", [
        ["amap", "G", "other", glon, glat, "2025-10-09T09:00:00", "received", "", ""]]), crs="gcj02")
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "b.csv", [
        ["baidu", "B", "other", blon, blat, "2025-10-09T09:00:00", "received", "", ""]]), crs="bd09")
    for source, ext in (("amap", "G"), ("baidu", "B")):
        row = incident(grids_loaded, ext, source)
        assert row["micro_code"] == "G2-01"
        assert row["lon"] == pytest.approx(truth[0], abs=1e-7) and row["lat"] == pytest.approx(truth[1], abs=1e-7)


def test_an_interrupted_import_leaves_the_database_as_before_and_a_rerun_finishes(grids_loaded, tmp_path, monkeypatch):
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "a.csv", GOOD[:1]))
    before = counts(grids_loaded)
    rows = [["12345", f"N{i}", "other", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-10-09T09:00:00", "received", "", ""]
            for i in range(50)]
    path = write_csv(tmp_path / "big.csv", rows)
    original = store.save_incoming
    calls = []

    def dies_on_second_chunk(conn, frame):
        calls.append(len(frame))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C half-way
        return original(conn, frame)
    monkeypatch.setattr(store, "save_incoming", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        workflows.import_incidents(grids_loaded, path, chunk_rows=20)
    assert counts(grids_loaded) == before
    monkeypatch.setattr(store, "save_incoming", original)
    assert workflows.import_incidents(grids_loaded, path, chunk_rows=20).inserted == 50


def test_new_grid_boundaries_reassign_stored_incidents(grids_loaded, tmp_path):
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "a.csv", GOOD))
    micro = hierarchy()
    micro = micro[micro["level"] == "micro"].copy()
    # move the G1-01 / G1-02 boundary down: A1 (at 0.5 D) now falls in G1-02
    micro.loc[micro["code"] == "G1-01", "geometry"] = cell(0, 0, 2, 0.4)
    micro.loc[micro["code"] == "G1-02", "geometry"] = cell(0, 0.4, 2, 2)
    path = tmp_path / "micro.geojson"
    micro.to_file(path, driver="GeoJSON")
    result = workflows.import_grids(grids_loaded, path)
    assert result.reassigned >= 1
    row = incident(grids_loaded, "A1")
    assert row["micro_code"] == "G1-02"


def test_lifecycle_moves_are_checked_and_recorded(grids_loaded, tmp_path, cli):
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "a.csv", GOOD[:1]))
    move = lambda status, actor, note="": workflows.set_incident_status(  # noqa: E731
        grids_loaded, source="12345", external_id="A1", status=status, actor=actor, note=note)
    move("派遣", "街道指挥中心")
    move("in_progress", "王芳")
    with pytest.raises(TransitionError, match="cannot go from 'in_progress'.*to 'closed'.*allowed from in_progress"):
        move("closed", "王芳")
    move("resolved", "王芳")
    with pytest.raises(TransitionError, match="handler"):
        move("verified", "王芳")
    done = cli("incidents", "set-status", "12345", "A1", "verified", "--actor", "李强")
    assert done.returncode == 0 and "resolved → verified" in done.stdout, done.stderr
    _, events = workflows.incident_history(grids_loaded, source="12345", external_id="A1")
    assert list(events["to_status"]) == ["received", "dispatched", "in_progress", "resolved", "verified"]
    assert list(events["actor"])[-1] == "李强"
    with pytest.raises(InputError, match="no incident with source '12345' and external_id 'nope'"):
        workflows.set_incident_status(grids_loaded, source="12345", external_id="nope", status="closed", actor="x")


def test_export_writes_csv_geojson_and_open311(grids_loaded, tmp_path, cli):
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "a.csv", GOOD))
    for name in ("out.csv", "out.geojson", "out.json"):
        done = cli("incidents", "export", str(tmp_path / name))
        assert done.returncode == 0 and "4 incidents written" in done.stdout, done.stderr
    exported = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert {"source", "external_id", "category", "status", "lon", "lat", "reported_at", "description",
            "micro_code", "exclusive_code"} <= set(exported.columns)
    assert exported.set_index("external_id").loc["A2", "description"] == HOSTILE
    requests = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    a1 = next(r for r in requests if r["service_request_id"] == "A1")
    assert a1["status"] == "open" and a1["extended_attributes"]["micro_code"] == "G1-01"


def test_overdue_cases_escalate_tier_by_tier_then_go_under_supervision(grids_loaded, tmp_path):
    from datetime import datetime, timedelta

    from gis.core.china_time import CHINA_TZ
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "a.csv", GOOD[:1]))
    staff = tmp_path / "staff.csv"
    staff.write_text("grid_code,role,name,phone\nC1,网格长,张伟,13800000000\n", encoding="utf-8")
    workflows.import_staff(grids_loaded, staff)
    first = incident(grids_loaded, "A1")
    assert first["tier"] == "general"
    now = first["due_at"] + timedelta(minutes=1)
    assert workflows.escalate_overdue(grids_loaded, now=now) == {"escalated": 1, "supervised": 0}
    second = incident(grids_loaded, "A1")
    assert second["tier"] == "complex" and second["assignee"] == "张伟" and second["due_at"] > now
    assert workflows.escalate_overdue(grids_loaded, now=now) == {"escalated": 0, "supervised": 0}
    later = second["due_at"] + timedelta(minutes=1)
    assert workflows.escalate_overdue(grids_loaded, now=later)["escalated"] == 1
    third = incident(grids_loaded, "A1")
    assert third["tier"] == "hard" and third["assignee"] == "一街道吹哨报到"  # the street's coordination desk
    assert workflows.escalate_overdue(grids_loaded, now=third["due_at"] + timedelta(minutes=1)) == {
        "escalated": 0, "supervised": 1}
    assert incident(grids_loaded, "A1")["status"] == "supervised"
    _, events = workflows.incident_history(grids_loaded, source="12345", external_id="A1")
    assert list(events["note"])[-3:] == ["逾期升级至复杂(社区)", "逾期升级至疑难(街道)", "逾期督办"]
    assert datetime.now(CHINA_TZ) > first["reported_at"]


def test_a_single_new_case_is_checked_assigned_and_dispatched_like_an_import(grids_loaded):
    glon, glat = wgs84_to_gcj02(X0 + 2.5 * D, Y0 + 0.5 * D)
    stored = workflows.receive_incident(grids_loaded, {
        "source": "resident_app", "external_id": "R-1", "category": "私装地锁", "lon": glon, "lat": glat,
        "reported_at": "2025-10-09T09:00:00", "status": "received", "description": "小区门口私装地锁",
        "address": "桐柏路12号"}, crs="gcj02")
    assert stored["micro_code"] == "G2-01" and stored["category"] == "order.ground_lock"
    assert stored["due_at"] > stored["reported_at"]
    with pytest.raises(InputError, match="lat 95.0 is outside -90..90"):
        workflows.receive_incident(grids_loaded, {
            "source": "resident_app", "external_id": "R-2", "category": "other", "lon": X0, "lat": 95,
            "reported_at": "2025-10-09T09:00:00", "status": "received", "description": "", "address": ""})
    assert incident(grids_loaded, "R-2", "resident_app") is None


def test_demo_incidents_are_stored_with_their_lifecycles_and_replace_earlier_demo_ones(grids_loaded, tmp_path):
    workflows.import_incidents(grids_loaded, write_csv(tmp_path / "a.csv", GOOD))  # a real import is kept
    assert workflows.load_demo_incidents(grids_loaded, n=300, seed=5) == 300
    assert workflows.load_demo_incidents(grids_loaded, n=200, seed=6) == 200
    with grids_loaded.connection() as conn, conn.cursor() as cur:
        cur.execute("""SELECT count(*), count(*) FILTER (WHERE micro_code IS NOT NULL),
                              (SELECT count(DISTINCT incident_id) FROM incident_event),
                              count(*) FILTER (WHERE due_at IS NULL)
                       FROM incident""")
        total, assigned, with_events, no_deadline = cur.fetchone()
        cur.execute("""SELECT count(*) FROM incident i
                       WHERE status <> (SELECT to_status FROM incident_event e WHERE e.incident_id = i.id
                                        ORDER BY at DESC, id DESC LIMIT 1)""")
        last_event_differs = cur.fetchone()[0]
    assert total == 204 and with_events == 204 and no_deadline == 0
    assert assigned >= 190 and last_event_differs == 0
    assert incident(grids_loaded, "A1")["description"] == "垃圾"


# -- text the database cannot take is refused per row, never the whole file ----------------------


def test_a_nul_byte_an_over_long_key_and_an_over_large_field_refuse_only_their_rows(grids_loaded, tmp_path, cli):
    good = GOOD[0]
    rows = [good,
            ["12345", "N1", "other", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-09-29T10:00:00", "received", "含\x00字节", ""],
            ["12345", "K" * 10_000, "other", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-09-29T10:00:00", "received", "", ""],
            ["12345", "L1", "other", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-09-29T10:00:00", "received", "长" * 40_000, ""],
            ["12345", "A9", "other", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-09-29T10:00:00", "received", "ok", ""]]
    path = write_csv(tmp_path / "in.csv", rows)
    rejects = tmp_path / "rejects.csv"
    done = cli("incidents", "import", str(path), "--rejects", str(rejects))
    assert done.returncode == 0, done.stderr
    assert "accepted 2 (new 2, updated 0, unchanged 0), unassigned 0, rejected 3" in done.stdout
    refused = pd.read_csv(rejects, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(refused["line"]) == ["3", "4", "5"]
    assert list(refused["field"]) == ["description", "external_id", "description"]
    assert "NUL byte" in refused["reason"][0] and "remove" in refused["reason"][0]
    assert "10000 characters" in refused["reason"][1] and "200" in refused["reason"][1]
    assert "120000 bytes" in refused["reason"][2] and "65536" in refused["reason"][2]
    assert incident(grids_loaded, "A1") is not None and incident(grids_loaded, "A9") is not None


def test_output_paths_are_checked_before_any_work(grids_loaded, tmp_path, cli):
    path = write_csv(tmp_path / "in.csv", GOOD)
    missing = tmp_path / "no-such-folder" / "rejects.csv"
    done = cli("incidents", "import", str(path), "--rejects", str(missing))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"--rejects '{missing}': the folder '{missing.parent}' does not exist" in done.stderr
    assert counts(grids_loaded) == (0, 0)  # refused before a row was stored
    done = cli("incidents", "export", str(tmp_path))
    assert done.returncode == 2 and "cannot tell the export format" in done.stderr
    done = cli("incidents", "export", str(tmp_path / "nowhere" / "out.csv"))
    assert done.returncode == 2 and "does not exist; create the folder first" in done.stderr
    done = cli("report", "weekly", "--week", "2026-W47", "--out", str(tmp_path / "nowhere" / "w.xlsx"))
    assert done.returncode == 2 and "--out" in done.stderr and "does not exist" in done.stderr


def test_reimporting_an_older_file_never_moves_a_case_backwards(grids_loaded, tmp_path, cli):
    older = [["12345", "A1", "暴露垃圾", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-09-29T10:00:00", "received", "垃圾", "建设路1号"]]
    newer = [older[0][:6] + ["dispatched"] + older[0][7:]]
    assert cli("incidents", "import", str(write_csv(tmp_path / "new.csv", newer))).returncode == 0
    done = cli("incidents", "import", str(write_csv(tmp_path / "old.csv", older)))
    assert done.returncode == 0, done.stderr
    assert "unchanged 1" in done.stdout  # nothing else differs: no update, no event
    assert "1 row(s) carry an earlier stage than the stored case (lines 2)" in done.stderr
    assert incident(grids_loaded, "A1")["status"] == "dispatched"
    # other changes of an older row are still taken, the stage is kept
    older[0][7] = "垃圾已清理一半"
    done = cli("incidents", "import", str(write_csv(tmp_path / "old2.csv", older)))
    assert "updated 1" in done.stdout
    stored = incident(grids_loaded, "A1")
    assert stored["status"] == "dispatched" and stored["description"] == "垃圾已清理一半"
    # a later stage still moves it on
    closed = [older[0][:6] + ["closed"] + older[0][7:]]
    assert cli("incidents", "import", str(write_csv(tmp_path / "closed.csv", closed))).returncode == 0
    assert incident(grids_loaded, "A1")["status"] == "closed"


def test_python_and_sql_agree_on_stage_ranks(services):
    from gis.core.rules import lifecycle
    with services.connection() as conn, conn.cursor() as cur:
        for status in lifecycle.STATUSES:
            cur.execute("SELECT gis_stage_rank(%s)", (status,))
            assert cur.fetchone()[0] == lifecycle.STAGE_RANK.get(status), status


# -- no good row lost to a broken row; implausible rows kept with a warning --------------------


def test_an_unclosed_quote_and_a_huge_field_refuse_only_their_rows(grids_loaded, tmp_path, cli):
    inside = f"{X0 + 0.5 * D},{Y0 + 0.5 * D},2025-09-29T10:00:00,received"
    lines = [HEADER.strip(),
             f"12345,Q1,other,{inside},first,建设路1号",
             f'12345,Q2,other,{inside},"the quote is never closed,建设路2号',  # line 3
             f"12345,Q3,other,{inside},taken in,建设路3号",
             f'12345,Q4,other,{inside},"a closed quote\nover two lines",建设路4号',
             f"12345,Q5,other,{inside},{'x' * 10_000_000},建设路5号",  # line 7
             f"12345,Q6,other,{inside},last,建设路6号"]
    path = tmp_path / "broken.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    done = cli("incidents", "import", str(path), "--rejects", str(rejects))
    assert done.returncode == 0, done.stderr
    assert "accepted 4 (new 4, updated 0, unchanged 0), unassigned 0, rejected 2" in done.stdout
    refused = pd.read_csv(rejects, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(refused["line"]) == ["3", "7"] and list(refused["field"]) == ["description", "description"]
    assert ('the quote (") that opens description on line 3 is never closed, so the row ran over lines 3–5'
            in refused["reason"][0]) and "close the quote" in refused["reason"][0]
    assert refused["reason"][1] == ("description is 10000000 bytes; a field may have at most 65536 bytes "
                                    "(64 KB): shorten it")
    assert [incident(grids_loaded, f"Q{i}") is not None for i in range(1, 7)] == [True, False, True, True, False, True]
    assert incident(grids_loaded, "Q4")["description"] == "a closed quote\nover two lines"


def test_far_points_and_future_times_are_stored_with_one_warning_each(grids_loaded, tmp_path, cli):
    rows = [GOOD[0],
            ["12345", "F1", "other", 0, 0, "2025-09-29T10:00:00", "received", "", ""],  # line 3
            ["12345", "F2", "other", X0 + 1.0, Y0, "2025-09-29T10:00:00", "received", "", ""],  # ~91 km east
            ["12345", "N1", "other", X0 - 0.001, Y0 + 0.5 * D, "2099-01-01T08:00:00", "received", "", ""],
            ["12345", "T1", "other", X0 + 0.5 * D, Y0 + 0.5 * D, "2098-05-01T08:00:00+08:00", "received", "", ""]]
    done = cli("incidents", "import", str(write_csv(tmp_path / "odd.csv", rows)))
    assert done.returncode == 0, done.stderr
    assert "accepted 5 (new 5, updated 0, unchanged 0), unassigned 3, rejected 0" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings[:2] == [
        ("warning: 2 row(s) lie more than 50 km from every micro-grid (lines 3, 4); stored unassigned, "
         "without a nearest-grid suggestion: check lon/lat and --crs"),
        ("warning: 2 row(s) have a reported_at more than 24 h after the import (lines 5, 6); stored as given: "
         "check the date and its time zone")]
    for far in ("F1", "F2"):
        stored = incident(grids_loaded, far)
        assert stored["micro_code"] is None and stored["suggested_code"] is None
        assert stored["suggested_distance_m"] > 50_000
    near = incident(grids_loaded, "N1")  # 91 m outside: still a useful suggestion
    assert near["suggested_code"] == "G1-01" and near["suggested_distance_m"] == pytest.approx(91.5, abs=1)


def test_many_row_warnings_never_hide_the_warnings_about_the_file(grids_loaded, tmp_path, cli):
    rows = [["12345", f"U{i}", f"怪类别{i}", X0 + 0.5 * D, Y0 + 0.5 * D, "2025-09-29T10:00:00", "received", "", ""]
            for i in range(30)] + [["12345", "F1", "other", 0, 0, "2025-09-29T10:00:00", "received", "", ""]]
    done = cli("incidents", "import", str(write_csv(tmp_path / "many.csv", rows)))
    assert done.returncode == 0, done.stderr
    assert "warning: 1 row(s) lie more than 50 km from every micro-grid (lines 32)" in done.stderr


def _stored_state(services) -> tuple[int, int, int]:
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM import_batch),"
                    " (SELECT count(*) FROM import_reject)")
        return cur.fetchone()


_fuzz_runs = itertools.count()


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_fuzzed_file_is_stored_whole_with_its_rejects_or_not_at_all(grids_loaded, tmp_path, data):
    run = next(_fuzz_runs)
    inside = f"{X0 + 0.5 * D},{Y0 + 0.5 * D}"
    rows = [f"12345,Z{run}-{i},other,{inside},2025-09-29T10:00:00,received,row {i},路{i}" for i in range(6)]
    text = HEADER + "\n".join(rows) + "\n"
    for _ in range(data.draw(st.integers(0, 4), label="mutations")):
        at = int(data.draw(st.floats(0, 1), label="at") * len(text))
        piece = data.draw(st.sampled_from(['"', ",", "\n", "\x00", "x" * 70_000, "\ufeff", "2025-13-45", "\r"]),
                          label="insert")
        text = text[:at] + piece + text[at:]
    raw = text.encode("utf-8")
    if data.draw(st.booleans(), label="damage bytes"):
        cut = int(data.draw(st.floats(0, 1), label="cut") * len(raw))
        raw = raw[:cut] + data.draw(st.binary(max_size=8), label="bytes")
    path = tmp_path / f"fuzz{run}.csv"
    path.write_bytes(raw)
    before = _stored_state(grids_loaded)
    try:
        result = workflows.import_incidents(grids_loaded, path)
    except GisError:
        event("refused whole")
        assert _stored_state(grids_loaded) == before  # nothing stored, not even the batch
        return
    event(f"stored, {'some' if len(result.rejects) else 'no'} rows refused")
    after = _stored_state(grids_loaded)
    assert after == (before[0] + result.inserted, before[1] + 1, before[2] + len(result.rejects))
    expected = read_incidents(path).read_all()
    assert result.accepted == len(expected.incidents) and result.rejected == expected.refused
    for key in expected.incidents.itertuples():
        assert incident(grids_loaded, key.external_id, key.source) is not None
