"""validate_grids: the fast paths give the answers of the plain checks, and
``focus`` checks one redrawn area against its surroundings only.

The fixture is a 2 × 1 km district at Zhengzhou (113.6, 34.75): one street,
two communities (west, east), one 三级网格 each, and four 500 m micro-grid
squares per grid.  Boxes are drawn in metres from the south-west corner;
measured areas come from UTM zone 49N and differ from them by well under 2 %.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.core import topology

LON0, LAT0 = 113.6, 34.75
KX = 1.0 / (111_320.0 * np.cos(np.radians(LAT0)))
KY = 1.0 / 110_574.0
DISTRICT, STREET = "410102", "410102001"


def box_m(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A box given in metres east/north of (LON0, LAT0), in degrees, WGS-84."""
    return shapely.box(LON0 + x0 * KX, LAT0 + y0 * KY, LON0 + x1 * KX, LAT0 + y1 * KY)


def community(i: int) -> str:       # 0 west, 1 east
    return f"{STREET}{i + 1:03d}"


def grid(i: int) -> str:
    return f"{community(i)}01"


def micro(i: int, k: int) -> str:   # k = 0 SW, 1 SE, 2 NW, 3 NE
    return f"{grid(i)}{k + 1:02d}"


def micro_box(i: int, k: int) -> shapely.Polygon:
    x0, y0 = 1000 * i + 500 * (k % 2), 500 * (k // 2)
    return box_m(x0, y0, x0 + 500, y0 + 500)


def area_codes(i: int) -> list[str]:
    """The codes a community's draft redraws: its tertiary grid and micro-grids."""
    return [grid(i)] + [micro(i, k) for k in range(4)]


def layer() -> gpd.GeoDataFrame:
    rows = [(DISTRICT, "中原区", "district", None, box_m(0, 0, 2000, 1000)),
            (STREET, "街道", "street", DISTRICT, box_m(0, 0, 2000, 1000))]
    for i in range(2):
        square = box_m(1000 * i, 0, 1000 * i + 1000, 1000)
        rows += [(community(i), f"社区{i}", "community", STREET, square),
                 (grid(i), f"网格{i}", "grid", community(i), square)]
        rows += [(micro(i, k), f"微网格{i}{k}", "micro", grid(i), micro_box(i, k))
                 for k in range(4)]
    return gpd.GeoDataFrame(
        [{"code": c, "name": n, "level": lv, "parent_code": p, "geometry": g}
         for c, n, lv, p, g in rows], geometry="geometry", crs="EPSG:4326")


def reshaped(grids: gpd.GeoDataFrame, code: str, geom) -> gpd.GeoDataFrame:
    grids = grids.copy()
    grids.loc[grids["code"] == code, "geometry"] = gpd.GeoSeries([geom], crs=4326).values
    return grids


def rows_of(problems: gpd.GeoDataFrame) -> list[tuple]:
    return [(p.severity, p.kind, p.code, p.other_code, p.message) for p in problems.itertuples()]


@pytest.fixture
def grids() -> gpd.GeoDataFrame:
    return layer()


# -- focus -----------------------------------------------------------------------------------


def test_a_problem_outside_the_focus_area_is_not_reported(grids):
    # The east community's SW micro-grid reaches 20 m into its sibling: not the west's draft.
    grids = reshaped(grids, micro(1, 0), box_m(1000, 0, 1520, 500))
    assert set(topology.validate_grids(grids)["kind"]) == {"overlap"}
    problems = topology.validate_grids(grids, focus=area_codes(0))
    assert problems.empty, topology.problems_table(problems)
    assert list(problems.columns) == list(topology.PROBLEM_COLUMNS)


def test_an_overlap_with_a_sibling_outside_the_focus_is_reported(grids):
    # The draft redraws one micro-grid; it now covers 20 m of its sibling, which is not redrawn.
    grids = reshaped(grids, micro(0, 0), box_m(0, 0, 520, 500))
    problems = topology.validate_grids(grids, focus=[micro(0, 0)])
    assert list(problems["kind"]) == ["overlap"]
    overlap = problems.iloc[0]
    assert {overlap.code, overlap.other_code} == {micro(0, 0), micro(0, 1)}
    assert overlap.area_m2 == pytest.approx(20 * 500, rel=0.02)


def test_a_focus_grid_reaching_into_the_neighbouring_community_is_reported(grids):
    # The west draft's SE micro-grid reaches 30 m into the east community's micro-grid.
    grids = reshaped(grids, micro(0, 1), box_m(500, 0, 1030, 500))
    problems = topology.validate_grids(grids, focus=area_codes(0))
    outside = problems[problems["kind"] == "outside_parent"]
    assert list(outside["code"]) == [micro(0, 1)] and list(outside["other_code"]) == [grid(0)]
    assert outside.iloc[0].area_m2 == pytest.approx(30 * 500, rel=0.02)
    assert "sticks out of its grid" in outside.iloc[0].message


def test_a_gap_in_the_parent_of_the_focus_grids_is_reported(grids):
    # The draft of the west grid's micro-grids leaves the NE quarter uncovered; the grid
    # itself is not redrawn, but it holds the focus grids.
    grids = grids[grids["code"] != micro(0, 3)]
    problems = topology.validate_grids(grids, focus=[micro(0, k) for k in range(3)])
    assert list(problems["kind"]) == ["gap"]
    gap = problems.iloc[0]
    assert gap.code == grid(0)
    assert gap.area_m2 == pytest.approx(250_000, rel=0.02)
    assert gap.geometry.symmetric_difference(micro_box(0, 3)).area < 1e-12


def test_children_outside_a_shrunken_focus_parent_are_reported(grids):
    # The draft shrinks the west grid by 100 m; its micro-grids are not redrawn.
    grids = reshaped(grids, grid(0), box_m(0, 0, 1000, 900))
    problems = topology.validate_grids(grids, focus=[grid(0)])
    outside = problems[problems["kind"] == "outside_parent"]
    assert sorted(outside["code"]) == [micro(0, 2), micro(0, 3)]
    assert set(outside["other_code"]) == {grid(0)}
    gap = problems[problems["kind"] == "gap"]
    assert list(gap["code"]) == [community(0)]


def test_a_feature_without_a_code_is_always_under_review(grids):
    grids = grids.copy()
    grids.loc[grids["code"] == micro(1, 2), "code"] = None
    problems = topology.validate_grids(grids, focus=area_codes(0))
    assert list(problems["kind"]) == ["missing_value"]
    assert "feature" in problems.iloc[0].message and "has no code" in problems.iloc[0].message


def test_focus_on_every_code_gives_the_whole_layer_result(grids):
    grids = reshaped(grids, micro(0, 0), box_m(0, 0, 520, 500))        # overlap
    grids = reshaped(grids, micro(1, 3), box_m(1500, 500, 2000, 980))  # gap 20 m
    grids = reshaped(grids, micro(1, 0), box_m(980, 0, 1500, 500))     # outside, overlap
    grids = grids.copy()
    grids.loc[grids["code"] == micro(0, 2), "parent_code"] = "999"     # unknown parent
    whole = topology.validate_grids(grids)
    assert {"overlap", "gap", "outside_parent", "unknown_parent"} <= set(whole["kind"])
    focused = topology.validate_grids(grids, focus=list(grids["code"]))
    assert rows_of(focused) == rows_of(whole)
    assert np.array_equal(focused["area_m2"], whole["area_m2"], equal_nan=True)


def test_focus_codes_read_from_numbers_match_text_codes(grids):
    grids = reshaped(grids, micro(0, 0), box_m(0, 0, 520, 500))
    problems = topology.validate_grids(grids, focus=[int(micro(0, 0))])
    assert list(problems["kind"]) == ["overlap"]


# -- the fast paths agree with the plain checks ------------------------------------------------


def test_an_extra_vertex_on_a_shared_edge_is_not_an_overlap_or_a_gap(grids):
    # The SW micro-grid's east edge has a vertex its neighbour lacks: not an exact coverage,
    # but nothing overlaps and nothing is left uncovered.
    x0, y0, x1, y1 = micro_box(0, 0).bounds
    with_vertex = shapely.Polygon([(x0, y0), (x1, y0), (x1, (y0 + y1) / 2), (x1, y1), (x0, y1)])
    problems = topology.validate_grids(reshaped(grids, micro(0, 0), with_vertex))
    assert problems.empty, topology.problems_table(problems)


def test_a_sibling_drawn_twice_overlaps_itself_completely(grids):
    grids = reshaped(grids, micro(0, 1), micro_box(0, 0))
    problems = topology.validate_grids(grids)
    overlap = problems[problems["kind"] == "overlap"]
    assert len(overlap) == 1
    assert {overlap.iloc[0].code, overlap.iloc[0].other_code} == {micro(0, 0), micro(0, 1)}
    assert overlap.iloc[0].area_m2 == pytest.approx(250_000, rel=0.02)
    assert list(problems[problems["kind"] == "gap"]["code"]) == [grid(0)]


def test_a_sibling_inside_another_is_an_overlap(grids):
    grids = reshaped(grids, micro(0, 0), box_m(0, 0, 1000, 500))   # swallows micro (0, 1)
    problems = topology.validate_grids(grids)
    assert list(problems["kind"]) == ["overlap"]
    assert problems.iloc[0].area_m2 == pytest.approx(250_000, rel=0.02)


def test_a_parent_larger_than_its_tiled_children_has_a_gap(grids):
    # The children tile exactly, but the west grid reaches 50 m further north than they do.
    grids = reshaped(grids, grid(0), box_m(0, 0, 1000, 1050))
    grids = reshaped(grids, community(0), box_m(0, 0, 1000, 1050))
    grids = reshaped(grids, STREET, shapely.union(box_m(0, 0, 2000, 1000), box_m(0, 0, 1000, 1050)))
    grids = reshaped(grids, DISTRICT, shapely.union(box_m(0, 0, 2000, 1000), box_m(0, 0, 1000, 1050)))
    problems = topology.validate_grids(grids)
    assert list(problems["kind"]) == ["gap"]
    assert problems.iloc[0].code == grid(0)
    assert problems.iloc[0].area_m2 == pytest.approx(50 * 1000, rel=0.02)


def test_a_negative_tolerance_still_reports_overhangs(grids):
    # No shortcut may drop what the plain check reports, whatever the tolerance.
    grids = reshaped(grids, micro(0, 0), box_m(-5, 0, 500, 500))
    problems = topology.validate_grids(grids, tolerance_m2=-1.0)
    assert micro(0, 0) in set(problems[problems["kind"] == "outside_parent"]["code"])


def test_validation_leaves_the_caller_geometries_unprepared(grids):
    grids = reshaped(grids, micro(0, 0), box_m(-5, 0, 500, 500))
    topology.validate_grids(grids)
    assert not shapely.is_prepared(np.asarray(grids.geometry.array)).any()


def test_integer_households_pass_through_unchanged(grids):
    grids = grids.assign(households=np.arange(len(grids), dtype=np.int64))
    assert topology.validate_grids(grids).empty
    bad = grids.assign(households=pd.array([-1] + [1] * (len(grids) - 1), dtype="Int64"))
    problems = topology.validate_grids(bad)
    assert list(problems["kind"]) == ["bad_number"] and problems.iloc[0].code == DISTRICT
