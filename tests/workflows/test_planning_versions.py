"""Time-correct grid versions against the real PostGIS: a boundary change moves open cases only
(re-dispatched, with an event), past figures never change, ``activate`` undoes it exactly, a
failed commit leaves everything as it was, drafts are checked optimistically, and a what-if
writes nothing."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from gis import store, workflows
from gis.core.crs import to_metric
from gis.core.metrics import CaseFilter
from gis.errors import InputError, ValidationError
from tests.conftest import X0, Y0, D, cell, hierarchy

PASSWORD = "Plan-2026-ning!"
ROSTER = ("grid_code,role,name,phone\n"
          "G1-01,微网格长,刘刚,13812345678\nG1-01,专职网格员,王微专,13811112222\n"
          "G1,专职网格员,黄子明,13900001111\nC1,网格长,张伟,13700002222\n"
          "G2,专职网格员,吴专职,13400005555\n")


def case(external_id: str, x: float, y: float, *, reported: str, status: str = "received",
         closed: str | None = None) -> dict:
    record = {"source": "12345", "external_id": external_id, "category": "暴露垃圾", "lon": X0 + x * D,
              "lat": Y0 + y * D, "reported_at": reported, "status": status, "description": "测试", "address": ""}
    if closed:
        record["closed_at"] = closed
    return record


#: October: closed cases only (a past period); November: open cases.
CASES = [
    case("K1", 0.5, 0.5, reported="2026-10-08T09:00:00+08:00", status="closed", closed="2026-10-09T09:00:00+08:00"),
    case("K2", 0.5, 1.5, reported="2026-10-12T09:00:00+08:00", status="closed", closed="2026-10-20T09:00:00+08:00"),
    case("K3", 3.5, 0.5, reported="2026-10-15T09:00:00+08:00", status="closed", closed="2026-10-16T09:00:00+08:00"),
    case("O1", 0.3, 0.3, reported="2026-11-20T09:00:00+08:00"),
    case("O2", 0.5, 1.5, reported="2026-11-21T09:00:00+08:00", status="dispatched"),
    case("O3", 3.5, 0.5, reported="2026-11-22T09:00:00+08:00"),
]


@pytest.fixture
def office(services, layer_file, tmp_path):
    """The tiny district with its roster, three closed October cases and three open ones."""
    workflows.import_grids(services, layer_file)
    roster = tmp_path / "staff.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    workflows.import_staff(services, roster)
    for record in CASES:
        workflows.receive_incident(services, record)
    return services


def merged_c1(tmp_path, code: str = "G1-03"):
    """C1's micro-grids merged into one (a new code): the file holds only C1's area."""
    micro = hierarchy()
    micro = micro[micro["code"] == "G1-01"].copy()
    micro["code"], micro["name"], micro["households"] = code, "甲1-3", 700
    micro["geometry"] = [cell(0, 0, 2, 2)]
    path = tmp_path / f"{code}.geojson"
    micro.to_file(path, driver="GeoJSON")
    return path


def cases(services) -> pd.DataFrame:
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT external_id, status, micro_code, exclusive_code, assignee, grid_version_id "
                    "FROM incident ORDER BY external_id")
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=["external_id", "status", "micro_code", "exclusive_code", "assignee",
                                       "grid_version_id"]).set_index("external_id")


def events(services, external_id: str) -> list[str]:
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT e.note FROM incident_event e JOIN incident i ON i.id = e.incident_id "
                    "WHERE i.external_id = %s ORDER BY e.id", (external_id,))
        return [r[0] for r in cur.fetchall()]


def fingerprint(services) -> dict[str, str]:
    """A digest of every live table a planner's what-if could touch."""
    out = {}
    with services.connection() as conn, conn.cursor() as cur:
        for table in ("incident", "incident_event", "grid", "grid_version", "grid_staff", "grid_ancestry"):
            cur.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")
            out[table] = cur.fetchone()[0]
    return out


def active_id(services) -> int:
    with services.connection() as conn:
        return store.fetch_active_version(conn)["id"]


def test_a_boundary_change_moves_open_cases_only_and_keeps_past_figures(office, tmp_path):
    bulletin = workflows.period_bulletin(office, "month", "2026-10", with_map=False)
    kpis = workflows.kpis(office, CaseFilter(since=pd.Timestamp("2026-10-01").date(),
                                                       until=pd.Timestamp("2026-10-31").date(), unit="C1"),
                          now=pd.Timestamp("2026-11-01T00:00:00+08:00"))
    before = cases(office)
    old = active_id(office)
    assert before.loc["O1", "assignee"] == "王微专"  # listed for G1-01 itself

    result = workflows.import_grids(office, merged_c1(tmp_path), within="C1")

    after = cases(office)
    # closed cases keep the version and micro-grid they had
    for k in ("K1", "K2", "K3"):
        assert after.loc[k].to_dict() == before.loc[k].to_dict()
    # open cases of C1 move, re-dispatched by the rules; O3 (C2) keeps its grid
    assert after.loc["O1", "micro_code"] == after.loc["O2", "micro_code"] == "G1-03"
    assert after.loc["O1", "assignee"] == "黄子明"  # no 专职网格员 listed for G1-03: the tertiary grid's
    assert after.loc["O3", "micro_code"] == "G2-01"
    assert set(after.loc[["O1", "O2", "O3"], "grid_version_id"]) == {result.version_id}
    assert events(office, "O1")[-1] == "网格调整: 甲1-1（G1-01） → 甲1-3（G1-03）；改派: 王微专 → 黄子明"
    assert events(office, "O2")[-1] == "网格调整: 甲1-2（G1-02） → 甲1-3（G1-03）"
    assert not any("网格调整" in note for note in events(office, "O3") + events(office, "K1"))
    moves = result.activation.moves.set_index("external_id")
    assert sorted(moves.index) == ["O1", "O2"] and result.reassigned == 2
    assert moves.loc["O1", "from_assignee"] == "王微专" and moves.loc["O1", "to_assignee"] == "黄子明"
    # the staff of the removed micro-grid are reported for reassignment (phones masked)
    staff = result.activation.staff_to_reassign
    assert sorted(zip(staff["grid_code"], staff["name"])) == [("G1-01", "刘刚"), ("G1-01", "王微专")]
    assert staff["phone"].str.contains(r"\*\*\*\*").all()
    # last month's bulletin and KPIs read the same: closed cases count where they were handled
    again = workflows.period_bulletin(office, "month", "2026-10", with_map=False)
    pd.testing.assert_frame_equal(again.communities, bulletin.communities)
    pd.testing.assert_frame_equal(again.worst_micro, bulletin.worst_micro)
    assert again.totals == bulletin.totals
    assert workflows.kpis(office, CaseFilter(since=pd.Timestamp("2026-10-01").date(),
                                                       until=pd.Timestamp("2026-10-31").date(), unit="C1"),
                          now=pd.Timestamp("2026-11-01T00:00:00+08:00")) == kpis
    assert old != result.version_id


def test_the_community_still_sees_the_closed_cases_of_its_retired_micro_grids(office, tmp_path):
    workflows.add_user(office, "c1", role="community", scope="C1", password=PASSWORD)
    workflows.import_grids(office, merged_c1(tmp_path), within="C1")
    c1 = office.as_user(workflows.sign_in(office, "c1", PASSWORD))
    seen = cases(c1)
    assert sorted(seen.index) == ["K1", "K2", "O1", "O2"]
    assert seen.loc["K1", "micro_code"] == "G1-01"


def test_activate_moves_open_cases_back_exactly_and_writes_their_events(office, tmp_path, cli):
    before = cases(office)
    old = active_id(office)
    new = workflows.import_grids(office, merged_c1(tmp_path), within="C1").version_id

    done = cli("grids", "activate", str(old))
    assert done.returncode == 0, done.stderr
    assert f"grid version {old} active again (was {new})" in done.stdout
    assert "open cases moved to another grid: 2 of 3" in done.stdout

    back = cases(office)
    columns = ["status", "micro_code", "exclusive_code", "assignee"]
    pd.testing.assert_frame_equal(back[columns], before[columns])
    assert back.loc["O1", "grid_version_id"] == old and back.loc["K1", "grid_version_id"] == old
    assert events(office, "O1")[-2:] == ["网格调整: 甲1-1（G1-01） → 甲1-3（G1-03）；改派: 王微专 → 黄子明",
                                         "网格调整: 甲1-3（G1-03） → 甲1-1（G1-01）；改派: 黄子明 → 王微专"]
    versions = workflows.grid_versions(office).set_index("id")
    assert versions.loc[old, "status"] == "active" and versions.loc[new, "status"] == "retired"
    assert versions.loc[new, "scope_code"] == "C1" and versions.loc[new, "author"] == "system"
    # activating the active one, or one that does not exist, says so
    assert "already active" in cli("grids", "activate", str(old)).stderr
    assert "does not exist" in cli("grids", "activate", "999").stderr


def test_a_commit_that_fails_half_way_leaves_everything_as_it_was(office, tmp_path, monkeypatch):
    before, digest = cases(office), fingerprint(office)
    old = active_id(office)

    def dies(*args, **kwargs):
        raise RuntimeError("the server went away after the boundaries were written")
    monkeypatch.setattr(store, "save_moves", dies)
    with pytest.raises(RuntimeError):
        workflows.import_grids(office, merged_c1(tmp_path), within="C1")
    assert active_id(office) == old
    pd.testing.assert_frame_equal(cases(office), before)
    assert fingerprint(office) == digest


def test_a_grid_that_moves_to_another_parent_must_get_a_new_code(office, tmp_path):
    grids = hierarchy()
    micro = grids[grids["code"] == "G1-02"].copy()
    micro["parent_code"] = "G2"  # G1-02 handed to the other community under its old code
    micro["geometry"] = [cell(2, 1, 4, 2)]
    layer = pd.concat([grids[grids["code"].isin(["G2-01"])], micro])
    path = tmp_path / "moved.geojson"
    layer.to_file(path, driver="GeoJSON")
    with pytest.raises((ValidationError, InputError), match="G1-02"):
        workflows.import_grids(office, path, within="C2")


def test_grids_versions_and_diff_list_what_changed_and_who_would_take_the_open_cases(office, tmp_path, cli):
    old = active_id(office)
    new = workflows.import_grids(office, merged_c1(tmp_path), within="C1", note="合并甲社区微网格").version_id
    listed = cli("grids", "versions")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:5] == ["id", "status", "effective_date", "committed", "author"]
    assert any(line.split()[:2] == [str(new), "active"] and "C1 甲社区" in line and "合并甲社区微网格" in line
               for line in lines)

    out = tmp_path / "diff.gpkg"
    done = cli("grids", "diff", str(old), str(new), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"version {old} → {new}: added 1, removed 2, reshaped 0, renamed 0" in done.stdout
    assert "open cases that would change hands: 2" in done.stdout
    changes = gpd.read_file(out, layer="grid_changes")
    assert sorted(zip(changes["code"], changes["change"])) == [("G1-01", "removed"), ("G1-02", "removed"),
                                                                ("G1-03", "added")]
    moves = gpd.read_file(out, layer="case_moves")
    assert sorted(moves["external_id"]) == ["O1", "O2"]


def test_what_if_counts_the_draft_in_a_scratch_table_and_writes_nothing(office, tmp_path):
    d = workflows.take_draft(office, "C1")
    merged = workflows.draft_area(office, d.id).grids
    merged = merged[merged["level"] == "micro"].head(1).assign(code="G1-03", name="甲1-3", households=700,
                                                               geometry=[cell(0, 0, 2, 2)])
    workflows.save_draft(office, d.id, merged)
    digest = fingerprint(office)

    result = workflows.what_if(office, d.id, now=pd.Timestamp("2026-11-30T00:00:00+08:00"))

    assert fingerprint(office) == digest
    table = result.per_grid.set_index("code")
    assert table.loc["G1-01", "change"] == "removed" and table.loc["G1-03", "change"] == "added"
    assert table.loc["G1-01", "cases_before"] == 2 and table.loc["G1-02", "cases_before"] == 2
    assert table.loc["G1-03", "cases_after"] == 4 and table.loc["G1-03", "cases_before"] == 0
    assert table.loc["G1-01", "open_moving_out"] == 1 and table.loc["G1-03", "open_moving_in"] == 2
    assert table.loc["G1-03", "households_after"] == 700
    assert sorted(result.moves["external_id"]) == ["O1", "O2"]
    assert result.balance["cases"]["before"]["cv"] == pytest.approx(0.0)
    assert result.balance["households"]["before"]["max_min"] == pytest.approx(400 / 300)
    whole_c1 = to_metric(gpd.GeoSeries([cell(0, 0, 2, 2)], crs=4326)).area.iloc[0]
    assert result.changed_areas["area_m2"].sum() == pytest.approx(whole_c1, rel=1e-6)
    assert set(result.changed_areas["after_code"]) == {"G1-03"}
    # the draft is invisible to every other page: the active grids are unchanged
    assert set(workflows.active_grids(office)["code"]) >= {"G1-01", "G1-02"}


def test_a_stale_draft_is_refused_and_a_draft_of_another_area_still_commits(office, tmp_path):
    c1_draft = workflows.take_draft(office, "C1")
    c2_draft = workflows.take_draft(office, "C2")
    # someone commits in C1 after both drafts were taken
    workflows.import_grids(office, merged_c1(tmp_path), within="C1")
    with pytest.raises(workflows.StaleDraft, match="甲社区") as refused:
        workflows.commit_draft(office, c1_draft.id)
    assert set(refused.value.changes["code"]) == {"G1-01", "G1-02", "G1-03"}
    # C2's draft: its area did not change, so it commits onto the current boundaries
    area = workflows.draft_area(office, c2_draft.id).grids
    micro = area[area["level"] == "micro"].copy()
    micro.loc[micro["code"] == "G2-01", "geometry"] = cell(2, 0, 4, 0.6)
    micro.loc[micro["code"] == "G2-02", "geometry"] = cell(2, 0.6, 4, 2)
    workflows.save_draft(office, c2_draft.id, micro)
    result = workflows.commit_draft(office, c2_draft.id, note="乙社区边界微调")
    codes = set(workflows.active_grids(office)["code"])
    assert {"G1-03", "G2-01", "G2-02"} <= codes and "G1-01" not in codes
    assert [d.id for d in workflows.drafts(office)] == [c1_draft.id]
    assert result.counts["micro"] == 3
