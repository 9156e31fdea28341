"""Split, merge and reshape on a tiny tiling whose answers are obvious: cells of 0.001° at
34.75° N (about 91 m × 111 m)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, box

from gis.core import grid_edits
from gis.core.crs import to_metric
from gis.errors import InputError

X0, Y0, D = 113.60, 34.75, 0.001


def cell(i0, j0, i1, j1):
    return box(X0 + i0 * D, Y0 + j0 * D, X0 + i1 * D, Y0 + j1 * D)


def area_m2(geom) -> float:
    if geom.is_empty:
        return 0.0
    return float(to_metric(gpd.GeoSeries([geom], crs=4326)).area.iloc[0])


@pytest.fixture
def micro() -> gpd.GeoDataFrame:
    """A tertiary grid G1 (2×2 cells) tiled by four 1×1 micro-grids, 11 12 / 21 22 … ; households 100, 200, 300, 400."""
    rows = [("G1", "一网格", "grid", "C1", cell(0, 0, 2, 2), None),
            ("M1", "甲", "micro", "G1", cell(0, 0, 1, 1), 100),
            ("M2", "乙", "micro", "G1", cell(1, 0, 2, 1), 200),
            ("M3", "丙", "micro", "G1", cell(0, 1, 1, 2), 300),
            ("M4", "丁", "micro", "G1", cell(1, 1, 2, 2), 400)]
    frame = gpd.GeoDataFrame(rows, columns=["code", "name", "level", "parent_code", "geometry", "households"],
                             crs=4326)
    frame["households"] = frame["households"].astype("Int64")
    frame["geometry"] = [MultiPolygon([g]) for g in frame.geometry]
    return frame


def assert_tiles(grids: gpd.GeoDataFrame, ground) -> None:
    """The micro-grids cover ``ground`` exactly, without overlaps (to 0.01 m²)."""
    micro = grids[grids["level"] == "micro"]
    union = shapely.union_all(list(micro.geometry))
    assert area_m2(shapely.symmetric_difference(union, ground)) < 0.01
    assert abs(sum(area_m2(g) for g in micro.geometry) - area_m2(ground)) < 0.01


def test_splitting_a_square_along_a_line_gives_two_halves_with_the_right_areas(micro):
    line = LineString([(X0 + 0.5 * D, Y0 - 0.1 * D), (X0 + 0.5 * D, Y0 + 1.1 * D)])  # M1 cut in two
    out = grid_edits.split_grid(micro, "M1", line)
    assert list(out["code"]) == ["G1", "M1", "M5", "M2", "M3", "M4"]
    whole = area_m2(cell(0, 0, 1, 1))
    a, b = (area_m2(out.loc[out["code"] == c, "geometry"].iloc[0]) for c in ("M1", "M5"))
    assert a == pytest.approx(whole / 2, rel=1e-6) and b == pytest.approx(whole / 2, rel=1e-6)
    assert out.loc[out["code"] == "M5", "parent_code"].iloc[0] == "G1"
    assert out.loc[out["code"] == "M5", "name"].iloc[0] == "甲（拆分）"
    assert out["households"].tolist()[1:3] == [50, 50]
    assert all(isinstance(g, MultiPolygon) for g in out.geometry)
    assert_tiles(out, cell(0, 0, 2, 2))
    assert list(micro["code"]) == ["G1", "M1", "M2", "M3", "M4"]  # the input is left alone


def test_an_off_centre_split_keeps_the_code_on_the_larger_part_and_shares_households_by_area(micro):
    line = LineString([(X0 + 1.25 * D, Y0 - D), (X0 + 1.25 * D, Y0 + 2 * D)])  # M2: quarter | three quarters
    out = grid_edits.split_grid(micro, "M2", line)
    big = out.loc[out["code"] == "M2"].iloc[0]
    small = out.loc[out["code"] == "M5"].iloc[0]
    assert area_m2(big.geometry) == pytest.approx(3 * area_m2(small.geometry), rel=1e-6)
    assert (big["households"], small["households"]) == (150, 50)


def test_a_split_can_give_both_parts_new_codes(micro):
    line = LineString([(X0 - D, Y0 + 0.5 * D), (X0 + 1.5 * D, Y0 + 0.5 * D)])
    out = grid_edits.split_grid(micro, "M1", line, keep_code=False)
    assert "M1" not in set(out["code"]) and {"M5", "M6"} <= set(out["code"])


def test_a_line_that_does_not_cross_the_grid_is_refused(micro):
    inside = LineString([(X0 + 0.2 * D, Y0 + 0.2 * D), (X0 + 0.8 * D, Y0 + 0.8 * D)])
    with pytest.raises(InputError, match="cuts grid M1 into 1 part"):
        grid_edits.split_grid(micro, "M1", inside)


def test_merging_two_adjacent_grids_gives_one_with_the_first_code_and_the_summed_households(micro):
    out = grid_edits.merge_grids(micro, ["M3", "M1"])
    assert list(out["code"]) == ["G1", "M2", "M3", "M4"]
    merged = out.loc[out["code"] == "M3"].iloc[0]
    assert merged["name"] == "丙" and merged["households"] == 400
    assert area_m2(shapely.symmetric_difference(merged.geometry, cell(0, 0, 1, 2))) < 0.01
    assert len(merged.geometry.geoms) == 1
    assert_tiles(out, cell(0, 0, 2, 2))


def test_grids_that_only_touch_at_a_corner_are_not_merged(micro):
    with pytest.raises(InputError, match="do not form one piece"):
        grid_edits.merge_grids(micro, ["M1", "M4"])


def test_grids_of_different_parents_are_not_merged(micro):
    other = micro.copy()
    other.loc[other["code"] == "M2", "parent_code"] = "G2"
    with pytest.raises(InputError, match="different parents"):
        grid_edits.merge_grids(other, ["M1", "M2"])


def test_reshaping_a_grid_takes_ground_from_its_neighbour_and_keeps_the_tiling(micro):
    # M1 grows east over half of M2
    out = grid_edits.reshape_grid(micro, "M1", cell(0, 0, 1.5, 1))
    m1 = out.loc[out["code"] == "M1", "geometry"].iloc[0]
    m2 = out.loc[out["code"] == "M2", "geometry"].iloc[0]
    assert area_m2(shapely.symmetric_difference(m1, cell(0, 0, 1.5, 1))) < 0.01
    assert area_m2(shapely.symmetric_difference(m2, cell(1.5, 0, 2, 1))) < 0.01
    assert_tiles(out, cell(0, 0, 2, 2))


def test_ground_a_grid_gives_up_goes_to_the_neighbour_with_the_longest_shared_boundary(micro):
    # M4 shrinks to its east half: the west half borders M3 along its whole height
    out = grid_edits.reshape_grid(micro, "M4", cell(1.5, 1, 2, 2))
    m3 = out.loc[out["code"] == "M3", "geometry"].iloc[0]
    assert area_m2(shapely.symmetric_difference(m3, cell(0, 1, 1.5, 2))) < 0.01
    assert_tiles(out, cell(0, 0, 2, 2))


def test_a_new_shape_is_clipped_to_the_parent_and_a_swallowed_neighbour_disappears(micro):
    # drawn far beyond G1 and over all of M2
    out = grid_edits.reshape_grid(micro, "M1", cell(-1, -1, 2.5, 1))
    assert "M2" not in set(out["code"])
    m1 = out.loc[out["code"] == "M1", "geometry"].iloc[0]
    assert area_m2(shapely.symmetric_difference(m1, cell(0, 0, 2, 1))) < 0.01
    assert_tiles(out, cell(0, 0, 2, 2))


def test_a_shape_outside_the_parent_is_refused(micro):
    with pytest.raises(InputError, match="outside its parent G1"):
        grid_edits.reshape_grid(micro, "M1", cell(5, 5, 6, 6))


def test_numeric_codes_continue_the_siblings_numbering():
    frame = gpd.GeoDataFrame({"code": ["410102009001001001", "410102009001001002"], "name": ["a", "b"],
                              "level": "micro", "parent_code": "410102009001001"},
                             geometry=[cell(0, 0, 1, 1), cell(1, 0, 2, 1)], crs=4326)
    assert grid_edits.new_code(frame, "410102009001001001") == "410102009001001003"


def test_ground_given_up_never_goes_to_a_grid_of_another_parent(micro):
    # M2 belongs to another tertiary grid: M1's west half, given up, borders only M2 and M3 (M3 is G1's)
    other = micro.copy()
    other.loc[other["code"] == "M2", "parent_code"] = "G2"
    out = grid_edits.reshape_grid(other, "M1", cell(0, 0, 0.5, 1))
    m2 = out.loc[out["code"] == "M2", "geometry"].iloc[0]
    m3 = out.loc[out["code"] == "M3", "geometry"].iloc[0]
    assert area_m2(shapely.symmetric_difference(m2, cell(1, 0, 2, 1))) < 0.01  # untouched
    assert area_m2(shapely.symmetric_difference(m3, shapely.union(cell(0, 1, 1, 2), cell(0.5, 0, 1, 1)))) < 0.01
