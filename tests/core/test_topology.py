"""Tests for gis.grids: hierarchy rules, topology checks, grid files.

The fixture is a 2 × 2 km district square at Zhengzhou (113.6, 34.75): two
street halves (west, east), each split into two communities (south, north),
one 三级网格 per community, and four 500 m micro-grid squares per grid.
Boxes are drawn in metres from the district's south-west corner, so every
expected area is obvious; measured areas come from UTM zone 49N and may
differ from them by well under 2 %.
"""

from __future__ import annotations

import json
import re
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gis.core import hierarchy as hierarchy_
from gis.core import topology
from gis.core.crs import geometries_from_wgs84
from gis.errors import InputError
from gis.io import grid_files

LON0, LAT0 = 113.6, 34.75
# Degrees per metre near the origin (equirectangular, good to ~0.5 % here).
KX = 1.0 / (111_320.0 * np.cos(np.radians(LAT0)))
KY = 1.0 / 110_574.0

DISTRICT = "410102"


def box_m(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A box given in metres east/north of (LON0, LAT0), in degrees, WGS-84."""
    return shapely.box(LON0 + x0 * KX, LAT0 + y0 * KY, LON0 + x1 * KX, LAT0 + y1 * KY)


def at_m(x: float, y: float) -> shapely.Point:
    return shapely.Point(LON0 + x * KX, LAT0 + y * KY)


def street_code(i: int) -> str:          # i = 0 west, 1 east
    return f"{DISTRICT}{i + 1:03d}"


def community_code(i: int, j: int) -> str:  # j = 0 south, 1 north
    return f"{street_code(i)}{j + 1:03d}"


def grid_code(i: int, j: int) -> str:
    return f"{community_code(i, j)}01"


def micro_code(i: int, j: int, k: int) -> str:  # k = 0 SW, 1 SE, 2 NW, 3 NE
    return f"{grid_code(i, j)}{k + 1:02d}"


def micro_box(i: int, j: int, k: int) -> shapely.Polygon:
    x0, y0 = 1000 * i + 500 * (k % 2), 1000 * j + 500 * (k // 2)
    return box_m(x0, y0, x0 + 500, y0 + 500)


def grid_row(code, name, level, parent, geom, households=None):
    return {"code": code, "name": name, "level": level, "parent_code": parent,
            "households": households, "geometry": geom}


def hierarchy() -> gpd.GeoDataFrame:
    rows = [grid_row(DISTRICT, "中原区", "district", None, box_m(0, 0, 2000, 2000))]
    for i in range(2):
        rows.append(grid_row(street_code(i), f"街道{i + 1}", "street", DISTRICT,
                             box_m(1000 * i, 0, 1000 * i + 1000, 2000)))
        for j in range(2):
            square = box_m(1000 * i, 1000 * j, 1000 * i + 1000, 1000 * j + 1000)
            rows.append(grid_row(community_code(i, j), f"社区{i}{j}", "community",
                                 street_code(i), square))
            rows.append(grid_row(grid_code(i, j), f"网格{i}{j}", "grid",
                                 community_code(i, j), square))
            for k in range(4):
                rows.append(grid_row(micro_code(i, j, k), f"微网格{i}{j}{k}", "micro",
                                     grid_code(i, j), micro_box(i, j, k), 100 + k))
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame["households"] = frame["households"].astype("Int64")
    return frame


@pytest.fixture
def grids() -> gpd.GeoDataFrame:
    return hierarchy()


def set_value(grids, code, column, value):
    grids = grids.copy()
    rows = grids.index[grids["code"] == code]
    for row in rows:
        grids.at[row, column] = value
    return grids


def only(problems, kind):
    found = problems[problems["kind"] == kind]
    assert len(found) == 1, topology.problems_table(problems)
    return found.iloc[0]


def errors_of(problems):
    return problems[problems["severity"] == "error"]


# -- levels ------------------------------------------------------------------------


@pytest.mark.parametrize("level, parent", [
    ("district", None), ("street", "district"), ("community", "street"),
    ("grid", "community"), ("micro", "grid"), ("exclusive", None),
])
def test_parent_level_follows_the_hierarchy(level, parent):
    assert hierarchy_.parent_level(level) == parent


def test_parent_level_of_an_unknown_level_names_the_levels():
    with pytest.raises(InputError, match="unknown level 'mciro'.*district, street"):
        hierarchy_.parent_level("mciro")


def test_every_level_has_a_chinese_name():
    assert set(hierarchy_.LEVEL_NAMES_ZH) == set(hierarchy_.ALL_LEVELS)
    assert hierarchy_.LEVEL_NAMES_ZH["grid"] == "三级网格"


# -- a clean layer -------------------------------------------------------------------


def test_a_clean_hierarchy_has_no_problems(grids):
    problems = topology.validate_grids(grids)
    assert problems.empty, topology.problems_table(problems)
    assert list(problems.columns) == list(topology.PROBLEM_COLUMNS)
    assert problems.crs == "EPSG:4326"


def test_exclusive_grids_may_cross_communities_and_streets(grids):
    school = grid_row("EX01", "第一中学", "exclusive", DISTRICT, box_m(700, 700, 1300, 1300))
    mall = grid_row("EX02", "商场", "exclusive", None, box_m(900, 100, 1100, 300))
    grids = pd.concat([grids, gpd.GeoDataFrame([school, mall], crs="EPSG:4326")],
                      ignore_index=True)
    problems = topology.validate_grids(grids)
    assert problems.empty, topology.problems_table(problems)


def test_parents_from_stored_are_accepted(grids):
    micros = grids[grids["level"] == "micro"]
    upper = grids[grids["level"] != "micro"]
    assert topology.validate_grids(micros, stored=upper).empty
    without = topology.validate_grids(micros)
    assert set(without["kind"]) == {"unknown_parent"}
    assert len(without) == 16


# -- each defect -------------------------------------------------------------------------


def test_a_missing_micro_grid_leaves_a_gap_warning_where_it_was(grids):
    gone = micro_code(0, 0, 1)
    problems = topology.validate_grids(grids[grids["code"] != gone])
    gap = only(problems, "gap")
    assert gap.severity == "warning"
    assert gap.code == grid_code(0, 0)
    assert gap.area_m2 == pytest.approx(250_000, rel=0.02)
    assert gap.geometry.symmetric_difference(micro_box(0, 0, 1)).area < 1e-12
    assert "not covered by any micro-grid" in gap.message
    assert re.search(r"around 113\.\d{6},34\.\d{6}", gap.message)
    assert len(errors_of(problems)) == 0


def test_strict_turns_gap_warnings_into_errors(grids):
    problems = topology.validate_grids(grids[grids["code"] != micro_code(0, 0, 1)], strict=True)
    assert list(problems["severity"]) == ["error"]
    assert list(problems["kind"]) == ["gap"]


def test_a_gap_is_only_checked_where_the_parent_has_children_in_the_layer(grids):
    # The streets and communities are here, but no micro-grid under grid (0, 0).
    problems = topology.validate_grids(grids[grids["parent_code"] != grid_code(0, 0)])
    assert problems.empty, topology.problems_table(problems)


def test_overlapping_siblings_are_reported_where_they_overlap(grids):
    # The SW micro-grid reaches 20 m into its SE sibling.
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", box_m(0, 0, 520, 500))
    problems = topology.validate_grids(grids)
    overlap = only(problems, "overlap")
    assert overlap.severity == "error"
    assert {overlap.code, overlap.other_code} == {micro_code(0, 0, 0), micro_code(0, 0, 1)}
    assert overlap.area_m2 == pytest.approx(20 * 500, rel=0.02)
    assert overlap.geometry.within(box_m(499, -1, 521, 501))
    assert "10,0" in overlap.message and micro_code(0, 0, 1) in overlap.message
    assert list(problems["kind"]) == ["overlap"]


def test_touching_siblings_do_not_overlap(grids):
    # Shared edges and corners are everywhere in the fixture.
    assert topology.validate_grids(grids[grids["level"] == "micro"],
                            stored=grids[grids["level"] != "micro"]).empty


def test_overlap_within_the_tolerance_is_ignored(grids):
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", box_m(0, 0, 500.001, 500))
    assert topology.validate_grids(grids).empty


def test_a_child_sticking_out_of_its_parent_is_reported_with_the_part_outside(grids):
    # The SW micro-grid of the district reaches 10 m beyond the district's west edge.
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", box_m(-10, 0, 500, 500))
    problems = topology.validate_grids(grids)
    outside = only(problems, "outside_parent")
    assert outside.code == micro_code(0, 0, 0)
    assert outside.other_code == grid_code(0, 0)
    assert outside.area_m2 == pytest.approx(10 * 500, rel=0.02)
    assert outside.geometry.within(box_m(-11, -1, 0.01, 501))
    assert "sticks out of its grid" in outside.message
    assert list(errors_of(problems)["kind"]) == ["outside_parent"]


def test_a_bow_tie_is_an_invalid_geometry_at_the_crossing(grids):
    x = micro_box(0, 0, 0).bounds
    bow_tie = shapely.Polygon([(x[0], x[1]), (x[2], x[3]), (x[2], x[1]), (x[0], x[3])])
    problems = topology.validate_grids(set_value(grids, micro_code(0, 0, 0), "geometry", bow_tie))
    invalid = only(problems, "invalid_geometry")
    assert invalid.code == micro_code(0, 0, 0)
    assert invalid.geometry.geom_type == "Point"
    assert invalid.geometry.distance(at_m(250, 250)) < 1e-9
    assert "self-intersection at 113.6" in invalid.message and "--fix" in invalid.message
    assert list(errors_of(problems)["kind"]) == ["invalid_geometry"]


def test_a_duplicate_code_is_reported_on_the_second_feature(grids):
    grids = set_value(grids, micro_code(1, 1, 3), "code", micro_code(1, 1, 2))
    problems = topology.validate_grids(grids)
    duplicate = only(problems, "duplicate_code")
    assert duplicate.code == micro_code(1, 1, 2)
    assert duplicate.geometry.equals(micro_box(1, 1, 3))
    assert "used by 2 features" in duplicate.message
    assert list(problems["kind"]) == ["duplicate_code"]


def test_an_unknown_parent_is_reported(grids):
    grids = set_value(grids, micro_code(1, 0, 2), "parent_code", "999")
    unknown = only(errors_of(topology.validate_grids(grids)), "unknown_parent")
    assert unknown.code == micro_code(1, 0, 2)
    assert unknown.other_code == "999"
    assert "neither in this layer nor in the database" in unknown.message


def test_a_micro_grid_under_a_community_has_the_wrong_parent_level(grids):
    grids = set_value(grids, micro_code(0, 1, 0), "parent_code", community_code(0, 1))
    problems = errors_of(topology.validate_grids(grids))
    wrong = only(problems, "wrong_parent_level")
    assert wrong.code == micro_code(0, 1, 0)
    assert "must be a grid (三级网格)" in wrong.message
    assert list(problems["kind"]) == ["wrong_parent_level"]


def test_a_district_with_a_parent_has_the_wrong_parent_level(grids):
    grids = set_value(grids, DISTRICT, "parent_code", "4101")
    wrong = only(topology.validate_grids(grids), "wrong_parent_level")
    assert wrong.code == DISTRICT and "clear its parent_code" in wrong.message


def test_a_street_without_a_parent_is_a_missing_value(grids):
    grids = set_value(grids, street_code(0), "parent_code", None)
    missing = only(topology.validate_grids(grids), "missing_value")
    assert missing.code == street_code(0) and "parent_code" in missing.message


def test_swapped_coordinates_are_reported_where_the_grid_belongs(grids):
    swapped = shapely.transform(micro_box(1, 1, 3), lambda xy: xy[:, ::-1])
    problems = topology.validate_grids(set_value(grids, micro_code(1, 1, 3), "geometry", swapped))
    found = only(problems, "swapped_coordinates")
    assert found.code == micro_code(1, 1, 3)
    assert found.geometry.equals(micro_box(1, 1, 3))
    assert "lon,lat" in found.message
    assert list(errors_of(problems)["kind"]) == ["swapped_coordinates"]


def test_latitude_beyond_90_is_taken_for_swapped_coordinates(grids):
    far = shapely.box(10.0, 100.0, 10.01, 100.01)
    found = only(topology.validate_grids(set_value(grids, micro_code(0, 0, 0), "geometry", far)),
                 "swapped_coordinates")
    assert found.code == micro_code(0, 0, 0)


def test_projected_coordinates_read_as_degrees_are_invalid(grids):
    metres = shapely.box(500_000, 3_840_000, 500_500, 3_840_500)
    found = only(topology.validate_grids(set_value(grids, micro_code(0, 0, 0), "geometry", metres)),
                 "invalid_geometry")
    assert "--crs EPSG:" in found.message


def test_gcj02_declared_as_wgs84_is_recognised(grids):
    upper = grids[grids["level"] != "micro"]
    micros = grids[grids["level"] == "micro"].copy()
    micros["geometry"] = geometries_from_wgs84(micros.geometry, crs="gcj02").set_crs(
        "EPSG:4326", allow_override=True)
    problems = errors_of(topology.validate_grids(micros, stored=upper))
    assert set(problems["kind"]) == {"looks_gcj02"}
    assert len(problems) == 16
    assert all("--crs gcj02" in m for m in problems["message"])
    # Declared as GCJ-02 and converted already, the same overhang is just outside_parent.
    declared = errors_of(topology.validate_grids(micros, stored=upper, declared_crs="gcj02"))
    assert set(declared["kind"]) == {"outside_parent"}


def test_empty_and_missing_geometries_are_reported(grids):
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", None)
    grids = set_value(grids, micro_code(0, 0, 1), "geometry", shapely.Polygon())
    problems = errors_of(topology.validate_grids(grids))
    assert list(problems["kind"]) == ["empty_geometry", "empty_geometry"]
    assert set(problems["code"]) == {micro_code(0, 0, 0), micro_code(0, 0, 1)}


def test_a_line_is_not_a_grid_boundary(grids):
    line = shapely.LineString([(LON0, LAT0), (LON0 + 0.001, LAT0 + 0.001)])
    found = only(topology.validate_grids(set_value(grids, micro_code(0, 0, 0), "geometry", line)),
                 "invalid_geometry")
    assert "LineString" in found.message


def test_missing_names_and_codes_are_missing_values(grids):
    grids = set_value(grids, micro_code(0, 0, 0), "name", "  ")
    problems = errors_of(topology.validate_grids(grids))
    missing = only(problems, "missing_value")
    assert missing.code == micro_code(0, 0, 0) and "no name" in missing.message
    grids = grids.copy()
    grids.loc[grids["code"] == micro_code(0, 0, 1), "code"] = None
    missing = errors_of(topology.validate_grids(grids))
    assert "feature 6 has no code" in " ".join(missing["message"])


def test_a_level_outside_the_list_is_a_bad_level_with_a_hint(grids):
    grids = set_value(grids, community_code(0, 0), "level", "社区")
    bad = only(topology.validate_grids(grids), "bad_level")
    assert bad.code == community_code(0, 0)
    assert "use 'community' for 社区" in bad.message


@pytest.mark.parametrize("value", [-1, 2.5, "many"])
def test_households_must_be_a_whole_number_not_below_zero(grids, value):
    grids = grids.astype({"households": object})
    grids = set_value(grids, micro_code(0, 0, 0), "households", value)
    bad = only(topology.validate_grids(grids), "bad_number")
    assert bad.code == micro_code(0, 0, 0) and "households" in bad.message


def test_a_tiny_grid_is_a_sliver_warning(grids):
    tiny = grid_row("EX09", "岗亭", "exclusive", None, box_m(100, 100, 105, 105))
    grids = pd.concat([grids, gpd.GeoDataFrame([tiny], crs="EPSG:4326")], ignore_index=True)
    sliver = only(topology.validate_grids(grids), "sliver")
    assert sliver.severity == "warning" and sliver.code == "EX09"
    assert sliver.area_m2 == pytest.approx(25, rel=0.02)


def test_a_thin_gap_between_siblings_is_a_sliver_not_a_gap(grids):
    # The SW micro-grid stops 0.2 m short of its SE neighbour: 100 m² but thin.
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", box_m(0, 0, 499.8, 500))
    problems = topology.validate_grids(grids)
    sliver = only(problems, "sliver")
    assert sliver.code == grid_code(0, 0)
    assert sliver.area_m2 == pytest.approx(100, rel=0.02)
    assert "gap" not in set(problems["kind"])


# -- the report ----------------------------------------------------------------------


def test_problems_table_lists_problems_and_counts_them(grids):
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", box_m(0, 0, 520, 500))
    grids = grids[grids["code"] != micro_code(1, 1, 1)]
    table = topology.problems_table(topology.validate_grids(grids))
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["severity", "kind", "code", "other"]
    assert lines[1].startswith("error") and "overlap" in lines[1] and "10,0" in lines[1]
    assert lines[2].startswith("warning") and "gap" in lines[2]
    assert lines[-1] == "1 error, 1 warning"
    assert topology.problems_table(topology.validate_grids(hierarchy())) == "0 errors, 0 warnings"


def test_problems_go_to_geojson_with_their_spots(grids, tmp_path):
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", box_m(0, 0, 520, 500))
    grids = set_value(grids, micro_code(0, 0, 3), "geometry", None)
    problems = topology.validate_grids(grids)
    path = tmp_path / "problems.geojson"
    assert grid_files.problems_to_geojson(problems, path) == len(problems)
    back = gpd.read_file(path, engine="pyogrio")
    assert sorted(back["kind"]) == sorted(problems["kind"])
    assert set(back.columns) >= {"severity", "kind", "code", "other_code", "area_m2", "message"}


# -- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_round_trip_keeps_codes_names_levels_parents_and_households(grids, tmp_path, suffix):
    grids = set_value(grids, micro_code(0, 0, 0), "households", pd.NA)
    path = tmp_path / f"grids{suffix}"
    assert grid_files.grids_to_file(grids, path) == len(grids)
    back, notes = grid_files.grids_from_file(path)
    assert notes == []
    for column in ("code", "name", "level"):
        assert list(back[column]) == list(grids[column])
    assert back["parent_code"].iloc[0] is None
    assert list(back["parent_code"][1:]) == list(grids["parent_code"][1:])
    assert back["households"].isna().tolist() == grids["households"].isna().tolist()
    assert back["households"].dropna().tolist() == grids["households"].dropna().tolist()
    assert set(back.geom_type) == {"MultiPolygon"}
    assert all(a.equals(b) for a, b in zip(back.geometry, grids.geometry))
    assert topology.validate_grids(back).empty


def test_export_of_one_level_writes_only_that_level(grids, tmp_path):
    path = tmp_path / "micro.geojson"
    assert grid_files.grids_to_file(grids, path, level="micro") == 16
    back, _ = grid_files.grids_from_file(path)
    assert set(back["level"]) == {"micro"}


def write_geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
        for props, geom in features]}), encoding="utf-8")


def test_a_numeric_code_column_comes_back_as_text(tmp_path):
    path = tmp_path / "numeric.geojson"
    write_geojson(path, [
        ({"code": 410102, "name": "中原区", "level": "district", "parent_code": None},
         box_m(0, 0, 2000, 2000)),
        ({"code": 410102001, "name": "街道", "level": "street", "parent_code": 410102},
         box_m(0, 0, 2000, 2000)),
        ({"code": 410102001001.0, "name": 7, "level": "Community",
          "parent_code": 410102001.0, "households": 12.0},
         box_m(0, 0, 2000, 2000)),
    ])
    grids, _ = grid_files.grids_from_file(path)
    assert list(grids["code"]) == ["410102", "410102001", "410102001001"]
    assert list(grids["parent_code"]) == [None, "410102", "410102001"]
    assert list(grids["name"]) == ["中原区", "街道", "7"]
    assert grids["level"].iloc[2] == "community"
    assert grids["households"].iloc[2] == 12
    assert topology.validate_grids(grids).empty


def test_a_missing_property_is_named_with_the_fix(tmp_path):
    path = tmp_path / "noparent.geojson"
    write_geojson(path, [({"code": "1", "name": "a", "level": "district"}, box_m(0, 0, 10, 10))])
    with pytest.raises(InputError, match=r"no 'parent_code' property.*add 'parent_code' "
                                         r"to every feature \(empty for the district\)"):
        grid_files.grids_from_file(path)


def test_an_unknown_extension_is_refused_with_the_formats(tmp_path):
    with pytest.raises(InputError, match=r"'\.kml'.*use a \.geojson, \.json, \.gpkg or \.shp"):
        grid_files.grids_from_file(tmp_path / "grids.kml")
    with pytest.raises(InputError, match=r"'\.csv'"):
        grid_files.grids_to_file(hierarchy(), tmp_path / "grids.csv")


def test_an_unreadable_file_is_an_input_error(tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text("this is not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read broken.geojson.*valid GeoJSON"):
        grid_files.grids_from_file(path)
    with pytest.raises(InputError, match="no such file"):
        grid_files.grids_from_file(tmp_path / "absent.gpkg")


def test_a_file_without_features_is_an_input_error(tmp_path):
    path = tmp_path / "empty.geojson"
    write_geojson(path, [])
    with pytest.raises(InputError, match="empty.geojson has no features"):
        grid_files.grids_from_file(path)


def test_a_file_in_a_projected_crs_is_read_in_that_crs(grids, tmp_path):
    path = tmp_path / "utm.gpkg"
    grids.to_crs("EPSG:32649").to_file(path, engine="pyogrio")
    back, notes = grid_files.grids_from_file(path)
    assert back.crs == "EPSG:4326"
    assert all(a.hausdorff_distance(b) < 1e-7 for a, b in zip(back.geometry, grids.geometry))
    assert any("EPSG:32649" in note for note in notes)


def test_gcj02_coordinates_are_converted_on_reading(grids, tmp_path):
    path = tmp_path / "amap.geojson"
    gcj = grids.copy()
    gcj["geometry"] = geometries_from_wgs84(grids.geometry, crs="gcj02").set_crs(
        "EPSG:4326", allow_override=True)
    gcj.to_file(path, engine="pyogrio")
    back, _ = grid_files.grids_from_file(path, crs="gcj02")
    assert all(a.hausdorff_distance(b) < 1e-8 for a, b in zip(back.geometry, grids.geometry))


def test_fix_repairs_a_bow_tie_and_says_so(grids, tmp_path):
    x = micro_box(0, 0, 0).bounds
    bow_tie = shapely.Polygon([(x[0], x[1]), (x[2], x[3]), (x[2], x[1]), (x[0], x[3])])
    grids = set_value(grids, micro_code(0, 0, 0), "geometry", bow_tie)
    path = tmp_path / "bowtie.geojson"
    grid_files.grids_to_file(grids, path)
    row = int(np.flatnonzero(grids["code"] == micro_code(0, 0, 0))[0]) + 1

    unfixed, notes = grid_files.grids_from_file(path)
    assert notes == []
    assert "invalid_geometry" in set(topology.validate_grids(unfixed)["kind"])

    fixed, notes = grid_files.grids_from_file(path, fix=True)
    assert len(notes) == 1
    assert re.fullmatch(
        rf"line {row} \(code {micro_code(0, 0, 0)}\): made valid: self-intersection at "
        r"113\.60\d{4},34\.75\d{4}; area changed 125,\d{3}\.\d m²", notes[0]), notes[0]
    repaired = fixed.geometry.iloc[row - 1]
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"
    assert len(repaired.geoms) == 2
    problems = topology.validate_grids(fixed)
    assert set(problems["kind"]) == {"gap"}  # the two missing triangles


# -- properties: random tilings -----------------------------------------------------


@st.composite
def tilings(draw) -> gpd.GeoDataFrame:
    """A rectangle cut recursively: streets, communities, grids, micro-grids.

    Cuts alternate between x and y; each parent gets one to three children
    whose widths stay within ±25 % of an even split, so no piece is a sliver.
    Neighbours share their cut coordinates exactly, as snapped data do.
    """
    lon0 = draw(st.floats(113.4, 113.8))
    lat0 = draw(st.floats(34.6, 34.9))
    width = draw(st.floats(1000, 3000)) * KX
    height = draw(st.floats(1000, 3000)) * KY
    rows = [grid_row("D", "区", "district", None,
                     shapely.box(lon0, lat0, lon0 + width, lat0 + height))]
    parents = [("D", (lon0, lat0, lon0 + width, lat0 + height))]
    for depth, level in enumerate(("street", "community", "grid", "micro")):
        children = []
        for code, (x0, y0, x1, y1) in parents:
            count = draw(st.integers(1, 3))
            jitter = draw(st.lists(st.floats(-0.25, 0.25), min_size=count - 1,
                                   max_size=count - 1))
            lo, hi = (x0, x1) if depth % 2 == 0 else (y0, y1)
            inner = [lo + (hi - lo) * (i + 1 + u) / count for i, u in enumerate(jitter)]
            cuts = [lo, *inner, hi]
            for n, (a, b) in enumerate(zip(cuts, cuts[1:])):
                bounds = (a, y0, b, y1) if depth % 2 == 0 else (x0, a, x1, b)
                child = f"{code}{n + 1}"
                rows.append(grid_row(child, child, level, code, shapely.box(*bounds), 10))
                children.append((child, bounds))
        parents = children
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame["households"] = frame["households"].astype("Int64")
    return frame


DEFECTS = ("overlap", "outside_parent", "duplicate_code", "unknown_parent",
           "wrong_parent_level", "invalid_geometry", "empty_geometry",
           "swapped_coordinates", "missing_value", "bad_level", "bad_number")


def inject(grids: gpd.GeoDataFrame, kind: str, row: int) -> tuple[gpd.GeoDataFrame, str]:
    """Break micro-grid ``row`` with one defect; return the layer and the code to blame."""
    grids = grids.copy().astype({"households": object})
    target = grids.loc[row]
    code, geom = target["code"], target["geometry"]
    grandparent = grids.loc[grids["code"] == target["parent_code"], "parent_code"].iloc[0]
    x0, y0, x1, y1 = geom.bounds
    extra = None
    if kind == "overlap":
        extra = grid_row(code + "X", "copy", "micro", target["parent_code"], geom)
        code = min(code, code + "X")
    elif kind == "outside_parent":
        # West of the whole tiling, which moves further west when read as GCJ-02.
        west = grids.total_bounds[0]
        extra = grid_row(code + "X", "out", "micro", target["parent_code"],
                         shapely.box(west - 200 * KX, y0, west - 100 * KX, y0 + 100 * KY))
        code = code + "X"
    elif kind == "duplicate_code":
        other = next(c for c in grids["code"] if c != code)  # the district comes first
        grids.at[row, "code"] = code = other
    elif kind == "unknown_parent":
        grids.at[row, "parent_code"] = "nowhere"
    elif kind == "wrong_parent_level":
        grids.at[row, "parent_code"] = grandparent
    elif kind == "invalid_geometry":
        grids.at[row, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    elif kind == "empty_geometry":
        grids.at[row, "geometry"] = None
    elif kind == "swapped_coordinates":
        grids.at[row, "geometry"] = shapely.transform(geom, lambda xy: xy[:, ::-1])
    elif kind == "missing_value":
        grids.at[row, "name"] = ""
    elif kind == "bad_level":
        grids.at[row, "level"] = "mciro"
    elif kind == "bad_number":
        grids.at[row, "households"] = -1
    if extra is not None:
        grids = pd.concat([grids, gpd.GeoDataFrame([extra], crs="EPSG:4326")],
                          ignore_index=True)
    return grids, code


PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(tilings())
def test_random_tilings_are_clean(grids):
    problems = topology.validate_grids(grids)
    assert problems.empty, topology.problems_table(problems)


@PROPERTY_SETTINGS
@given(tilings(), st.sampled_from(DEFECTS), st.data())
def test_one_injected_defect_yields_exactly_that_error(grids, kind, data):
    micros = list(grids.index[grids["level"] == "micro"])
    row = data.draw(st.sampled_from(micros))
    broken, code = inject(grids, kind, row)
    problems = errors_of(topology.validate_grids(broken))
    assert list(problems["kind"]) == [kind], topology.problems_table(problems)
    assert problems["code"].iloc[0] == code


@PROPERTY_SETTINGS
@given(tilings(), st.data())
def test_removing_one_of_several_micro_grids_yields_one_gap_where_it_was(grids, data):
    micros = grids[grids["level"] == "micro"]
    crowded = micros[micros.groupby("parent_code")["code"].transform("count") > 1]
    assume(len(crowded))
    row = data.draw(st.sampled_from(list(crowded.index)))
    problems = topology.validate_grids(grids.drop(index=row))
    gap = only(problems, "gap")
    assert len(problems) == 1 and gap.severity == "warning"
    assert gap.code == grids.at[row, "parent_code"]
    assert gap.geometry.symmetric_difference(grids.at[row, "geometry"]).area < 1e-12


# -- speed -------------------------------------------------------------------------------


def district_of_micro_squares(seed: int = 7, side: int = 84) -> gpd.GeoDataFrame:
    """side² micro-grids of random widths 100-300 m; 3×3 to a grid, 2×2 grids to a
    community, 7×7 communities to a street: a whole district's worth."""
    rng = np.random.default_rng(seed)
    xs = LON0 + np.concatenate([[0], np.cumsum(rng.uniform(100, 300, side))]) * KX
    ys = LAT0 + np.concatenate([[0], np.cumsum(rng.uniform(100, 300, side))]) * KY

    def block(i, j, size):
        return shapely.box(xs[i * size], ys[j * size], xs[(i + 1) * size], ys[(j + 1) * size])

    rows = [grid_row("D", "区", "district", None, block(0, 0, side))]
    for level, size, parent_size in (("street", 42, side), ("community", 6, 42),
                                     ("grid", 3, 6), ("micro", 1, 3)):
        for i in range(side // size):
            for j in range(side // size):
                parent = ("D" if parent_size == side else
                          f"{i * size // parent_size}-{j * size // parent_size}-{parent_size}")
                rows.append(grid_row(f"{i}-{j}-{size}", level, level, parent,
                                     block(i, j, size), 300))
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def test_validating_a_whole_district_of_micro_grids_is_quick(capsys):
    grids = district_of_micro_squares()
    micros = int((grids["level"] == "micro").sum())
    started = time.perf_counter()
    problems = topology.validate_grids(grids)
    elapsed = time.perf_counter() - started
    assert problems.empty, topology.problems_table(problems.head(20))
    with capsys.disabled():
        print(f"\nvalidate_grids: {len(grids):,} grids ({micros:,} micro) in {elapsed:.2f} s")
