"""Grid jobs end to end against the real PostGIS: import, validate, export, versions, staff, locate."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest

from gis import workflows
from gis.core.crs import wgs84_to_gcj02
from gis.errors import InputError, ValidationError
from tests.conftest import X0, Y0, D, cell, hierarchy


def stored_snapshot(services):
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, status FROM grid_version ORDER BY id")
        versions = cur.fetchall()
        cur.execute("SELECT version_id, code, name, level, parent_code, ST_AsText(geom) FROM grid ORDER BY 1, 2")
        return versions, cur.fetchall()


def test_import_then_export_round_trips_and_validates_clean(cli, layer_file, tmp_path):
    done = cli("grids", "import", str(layer_file))
    assert done.returncode == 0, done.stderr
    assert "grid version 1 active" in done.stdout and "micro 4" in done.stdout
    out = tmp_path / "export.gpkg"
    done = cli("grids", "export", str(out))
    assert done.returncode == 0, done.stderr
    exported = gpd.read_file(out).sort_values("code")
    original = hierarchy().sort_values("code")
    assert list(exported["code"]) == list(original["code"])
    assert list(exported["name"]) == list(original["name"])
    assert list(exported["level"]) == list(original["level"])
    check = cli("grids", "validate", str(out))
    assert check.returncode == 0 and "no problems found" in check.stdout, check.stdout + check.stderr


def test_refused_import_reports_the_overlap_and_leaves_stored_grids_as_before(cli, services, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    before = stored_snapshot(services)
    bad = hierarchy()
    bad.loc[bad["code"] == "G1-02", "geometry"] = cell(0, 0.9, 2, 2)  # overlaps G1-01 by 0.1 cell (~1000 m²)
    path = tmp_path / "bad.geojson"
    bad.to_file(path, driver="GeoJSON")
    problems = tmp_path / "problems.geojson"
    done = cli("grids", "import", str(path), "--problems", str(problems))
    assert done.returncode == 2
    assert "overlap" in done.stdout and "G1-01" in done.stdout and "nothing was stored" in done.stderr
    assert gpd.read_file(problems)["kind"].tolist() == ["overlap"]
    assert stored_snapshot(services) == before


def test_a_layer_of_one_level_makes_a_new_version_and_keeps_the_old(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    micro = hierarchy()
    micro = micro[micro["level"] == "micro"].copy()
    micro.loc[micro["code"] == "G1-01", "name"] = "甲1-1(改)"
    path = tmp_path / "micro.geojson"
    micro.to_file(path, driver="GeoJSON")
    result = workflows.import_grids(services, path, note="rename")
    assert result.version_id == 2
    assert result.counts == {"community": 2, "district": 1, "exclusive": 1, "grid": 2, "micro": 4, "street": 2}
    versions, rows = stored_snapshot(services)
    assert versions == [(1, "retired"), (2, "active")]
    names = {(v, code): name for v, code, name, *_ in rows}
    assert names[(1, "G1-01")] == "甲1-1" and names[(2, "G1-01")] == "甲1-1(改)"


def test_a_layer_that_would_orphan_stored_children_is_refused(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    before = stored_snapshot(services)
    tertiary = hierarchy()
    tertiary = tertiary[tertiary["code"].isin(["G1"])].copy()
    tertiary["geometry"] = [cell(0, 0, 2, 2)]
    path = tmp_path / "tertiary.geojson"
    tertiary.to_file(path, driver="GeoJSON")
    with pytest.raises(ValidationError, match="would lose their parent.*micro G2-0[12] under G2"):
        workflows.import_grids(services, path, replace_all=True)
    assert stored_snapshot(services) == before


def one_community_file(tmp_path, *, merged: bool = True):
    """乙社区's micro-grids redrawn: G2-01 and G2-02 merged into one G2-09 (the planner's edit)."""
    micro = hierarchy()
    micro = micro[micro["code"] == "G2-01"].copy()
    micro["code"], micro["name"], micro["households"] = "G2-09", "乙1-9(合并)", 800
    micro["geometry"] = [cell(2, 0, 4, 2)] if merged else [cell(2, 0, 4, 1)]
    path = tmp_path / "c2-micro.geojson"
    micro.to_file(path, driver="GeoJSON")
    return path


def test_a_layer_that_would_drop_grids_is_refused_without_within(cli, services, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    before = stored_snapshot(services)
    done = cli("grids", "import", str(one_community_file(tmp_path)))
    assert done.returncode == 2
    # the count, the first grid dropped, and both ways out
    assert "would drop 4 grid(s) of the active version (4 micro; first: micro G1-01 甲1-1)" in done.stderr
    assert "--within CODE" in done.stderr and "--replace-all" in done.stderr
    assert stored_snapshot(services) == before


def test_a_scoped_import_changes_nothing_outside_its_scope(cli, services, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    (_, old_rows) = stored_snapshot(services)
    done = cli("grids", "import", str(one_community_file(tmp_path)), "--within", "C2", "--note", "合并乙社区微网格")
    assert done.returncode == 0, done.stderr
    versions, rows = stored_snapshot(services)
    assert versions == [(1, "retired"), (2, "active")]
    old = {row[1]: row[2:] for row in old_rows if row[0] == 1}
    new = {row[1]: row[2:] for row in rows if row[0] == 2}
    # outside 乙社区 every grid is carried over exactly (name, level, parent, geometry)
    outside = set(old) - {"G2-01", "G2-02"}
    assert {code: new[code] for code in outside} == {code: old[code] for code in outside}
    # inside, the two micro-grids became one
    assert set(new) == outside | {"G2-09"}
    assert new["G2-09"][:3] == ("乙1-9(合并)", "micro", "G2")


def test_a_scoped_import_is_validated_against_its_surroundings(cli, services, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    before = stored_snapshot(services)
    # the new micro-grid covers only half of its tertiary grid: a gap inside 乙社区 (strict: an error)
    done = cli("grids", "import", str(one_community_file(tmp_path, merged=False)), "--within", "C2", "--strict")
    assert done.returncode == 2 and "gap" in done.stdout, done.stdout + done.stderr
    assert stored_snapshot(services) == before


def test_a_scoped_import_refuses_grids_outside_its_scope(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    before = stored_snapshot(services)
    path = one_community_file(tmp_path)
    with pytest.raises(InputError, match="do not lie under 'C1'.*G2-09 under G2"):
        workflows.import_grids(services, path, within="C1")
    with pytest.raises(InputError, match="'G2-01' is a micro, not above every level"):
        workflows.import_grids(services, path, within="G2-01")
    with pytest.raises(InputError, match="grid 'C9' is not in the active grids"):
        workflows.import_grids(services, path, within="C9")
    assert stored_snapshot(services) == before


def test_export_of_an_unknown_level_names_the_levels(services, layer_file):
    workflows.import_grids(services, layer_file)
    with pytest.raises(InputError, match="level 'block' is not a grid level.*district, street"):
        workflows.fetch_grids(services, level="block")


def roster(tmp_path, rows: list[str]):
    path = tmp_path / "staff.csv"
    path.write_text("grid_code,role,name,phone\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_locate_gives_path_exclusive_grid_and_worker_with_masked_phone(cli, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    staff = roster(tmp_path, ["G1-01,微网格长,王芳,13812345678", "Z1,专属网格负责人,李强,13900001111",
                              "C1,网格长,张伟,0371-67891234"])
    done = cli("staff", "import", str(staff))
    assert done.returncode == 0 and "3 staff stored" in done.stdout, done.stderr
    # a point in G1-01 and in the exclusive grid Z1, given in GCJ-02 as Amap would
    glon, glat = wgs84_to_gcj02(X0 + 1.8 * D, Y0 + 0.5 * D)
    done = cli("locate", str(glon), str(glat), "--crs", "gcj02")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["micro"]["code"] == "G1-01"
    assert [p["code"] for p in result["path"]] == ["G1-01", "G1", "C1", "S1", "410102"]
    assert result["exclusive"]["name"] == "世纪联华"
    assert result["worker"] == "李强"  # general cases in an exclusive grid go to its manager
    assert result["reason"] == "专属网格 世纪联华 的负责人"
    phones = {s["name"]: s["phone"] for s in result["staff"]}
    assert phones == {"王芳": "138****5678", "李强": "139****1111", "张伟": "0371-****1234"}


def test_locate_names_the_full_time_worker_of_the_tertiary_grid_never_the_micro_head(cli, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    staff = roster(tmp_path, ["G1-02,微网格长,刘刚,13812345678", "G1,专职网格员,黄子明,13900001111",
                              "C1,网格长,张伟,0371-67891234"])
    assert cli("staff", "import", str(staff)).returncode == 0
    result = json.loads(cli("locate", str(X0 + 0.5 * D), str(Y0 + 1.5 * D)).stdout)  # in G1-02
    assert result["micro"]["code"] == "G1-02" and result["exclusive"] is None
    assert result["worker"] == "黄子明"
    assert result["reason"] == "三级网格 甲社区第1网格 的专职网格员"
    assert result["informed"] == "刘刚"
    assert {s["name"] for s in result["staff"]} == {"刘刚", "黄子明", "张伟"}


def test_locate_outside_every_micro_grid_suggests_the_nearest(cli, layer_file):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    result = json.loads(cli("locate", str(X0 - 0.001), str(Y0 + 0.0005)).stdout)
    assert result["assigned"] is False and result["suggestion"]["code"] == "G1-01"
    assert result["suggestion"]["distance_m"] == pytest.approx(91.5, abs=1)


def test_staff_import_refuses_a_bad_row_by_line_and_keeps_the_roster(cli, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    assert cli("staff", "import", str(roster(tmp_path, ["G1-01,微网格长,王芳,13812345678"]))).returncode == 0
    bad = roster(tmp_path, ["G1-01,微网格长,赵六,13812345678", "G1-02,组长,钱七,13812345678"])
    done = cli("staff", "import", str(bad))
    assert done.returncode == 2
    assert "line 3, field 'role': '组长' is not a role; use one of 网格长" in done.stderr
    result = json.loads(cli("locate", str(X0 + 0.5 * D), str(Y0 + 0.5 * D)).stdout)
    assert [s["name"] for s in result["staff"]] == ["王芳"]


def test_the_demo_district_exports_real_names_under_real_streets_and_validates_clean(cli, tmp_path):
    from gis.demo.district import reference_communities, reference_streets

    done = cli("demo", "--incidents", "0", "--seed", "3")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "zhongyuan.gpkg"
    assert cli("grids", "export", str(out)).returncode == 0
    grids = gpd.read_file(out)
    streets = grids[grids["level"] == "street"]
    communities = grids[grids["level"] == "community"]
    assert len(streets) == 14 and len(communities) == 157
    assert dict(zip(streets["code"], streets["name"])) == dict(zip(*reference_streets()[["code", "name"]].T.values))
    real = reference_communities().set_index("code")
    assert (communities.set_index("code")["name"] == real["name"]).all()
    assert (communities.set_index("code")["parent_code"] == real["street_code"]).all()
    hanghai = grids[grids["parent_code"].isin(communities.loc[communities["parent_code"] == "410102009", "code"])]
    assert len(hanghai) == 191
    check = cli("grids", "validate", str(out))
    assert check.returncode == 0 and "no problems found" in check.stdout, check.stdout[-2000:]
