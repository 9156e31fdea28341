"""Balanced proposals, the pure part: bricks from buildings and the household-band partition."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, box

from gis.core import proposals
from gis.core.crs import to_metric
from gis.errors import InputError

X0, Y0, D = 113.60, 34.75, 0.001     # about 91 m east-west, 111 m north-south


def cell(i0, j0, i1, j1):
    return box(X0 + i0 * D, Y0 + j0 * D, X0 + i1 * D, Y0 + j1 * D)


def at(i, j):
    return X0 + i * D, Y0 + j * D


def buildings(rows):
    """rows: (address, i, j, households) in lattice units."""
    return pd.DataFrame([(a, *at(i, j), h) for a, i, j, h in rows], columns=["address", "lon", "lat", "households"])


def cases_at(points):
    return pd.DataFrame([at(i, j) for i, j in points], columns=["lon", "lat"])


def metric_area(geom) -> float:
    if geom.is_empty:
        return 0.0
    return float(to_metric(gpd.GeoSeries([geom], crs=4326)).area.iloc[0])


def assert_tiles(pieces: gpd.GeoDataFrame, area) -> None:
    union = shapely.union_all(pieces.geometry.to_numpy())
    assert metric_area(shapely.symmetric_difference(union, area)) < 1.0
    overlap = sum(metric_area(a.intersection(b)) for k, a in enumerate(pieces.geometry)
                  for b in pieces.geometry.iloc[k + 1:])
    assert overlap < 1.0


def lattice(n=4, households=10):
    return buildings([(f"幸福家园{k + 1}号楼", i + 0.5, j + 0.5, households)
                      for k, (j, i) in enumerate((j, i) for j in range(n) for i in range(n))])


# -- bricks ------------------------------------------------------------------------------------


def test_bricks_tile_the_area_one_per_building_point_with_households_and_cases():
    area = cell(0, 0, 2, 2)
    frame = buildings([("甲1号楼", 0.5, 0.5, 30), ("甲2号楼", 1.5, 0.5, 20), ("甲3号楼", 0.5, 1.5, 10),
                       ("甲4号楼", 1.5, 1.5, 5), ("甲5号楼", 1.5, 1.5, 7),      # same point as 4号楼
                       ("乙1号楼", 3.5, 0.5, 99)])                           # outside the area
    points = cases_at([(0.2, 0.2), (0.8, 0.4), (1.7, 1.9), (3.0, 3.0)])
    bricks = proposals.building_bricks(area, frame, cases=points)

    assert len(bricks) == 4
    assert_tiles(bricks, area)
    assert set(bricks.geometry.geom_type) == {"Polygon"}
    by_address = bricks.set_index("address")
    assert by_address.loc["甲1号楼", "households"] == 30
    assert by_address.loc["甲4号楼、甲5号楼", "households"] == 12
    assert by_address.loc["甲4号楼、甲5号楼", "buildings"] == 2
    assert by_address.loc["甲1号楼", "expected_cases"] == 2
    assert by_address.loc["甲4号楼、甲5号楼", "expected_cases"] == 1
    assert bricks["expected_cases"].sum() == 3          # the case outside the area is not counted
    assert "乙1号楼" not in set(bricks["address"])


def test_a_cell_cut_by_a_bend_of_the_area_leaves_a_brick_without_a_building():
    # a U: a notch from the top between the arms. The top of the left arm is nearer to B
    # (2 × 91 m east) than to A (2 × 111 m north), but the notch cuts it off from B's piece.
    area = cell(0, 0, 3, 3).difference(cell(1, 1, 2, 3))
    frame = buildings([("A1号楼", 0.5, 0.5, 50), ("B1号楼", 2.5, 2.5, 50)])
    bricks = proposals.building_bricks(area, frame)

    assert_tiles(bricks, area)
    empty = bricks[bricks["address"].isna()]
    assert len(bricks) == 3 and len(empty) == 1
    assert empty["households"].iloc[0] == 0
    assert empty.geometry.iloc[0].representative_point().x < X0 + 1 * D      # in the left arm

    regions = proposals.propose_partition(bricks, min_households=40, max_households=60)
    assert sorted(regions["households"]) == [50, 50]
    assert set(regions.geometry.geom_type) == {"Polygon"}
    holding_a = regions[regions.geometry.covers(shapely.Point(at(0.5, 0.5)))].iloc[0]
    assert holding_a.geometry.covers(empty.geometry.iloc[0].representative_point())
    assert_tiles(regions, area)


def test_an_area_without_buildings_is_one_empty_brick():
    bricks = proposals.building_bricks(cell(0, 0, 1, 1), buildings([("甲1号楼", 5, 5, 10)]))
    assert len(bricks) == 1 and bricks["households"].iloc[0] == 0
    assert_tiles(bricks, cell(0, 0, 1, 1))


# -- partition ---------------------------------------------------------------------------------


def test_partition_keeps_the_band_stays_contiguous_and_evens_out_the_case_load():
    area = cell(0, 0, 4, 4)
    # 16 buildings of 10 households; every building of the west half has 2 cases, the east none:
    # four columns would give 8, 8, 0, 0 cases
    points = cases_at([(i + 0.5 + dx, j + 0.5) for j in range(4) for i in range(2) for dx in (-0.1, 0.1)])
    bricks = proposals.building_bricks(area, lattice(), cases=points)
    assert bricks["expected_cases"].sum() == 16

    regions = proposals.propose_partition(bricks, min_households=30, max_households=50, seed=0)

    assert len(regions) == 4                                  # 160 households, goal 40 (the band's middle)
    assert regions["households"].between(30, 50).all()
    assert regions["households"].sum() == 160
    assert set(regions.geometry.geom_type) == {"Polygon"}     # each region one piece
    assert_tiles(regions, area)
    assert sorted(b for members in regions["bricks"] for b in members) == list(range(16))
    # rows of four: 40 households and 4 cases each (the obvious answer)
    assert sorted(regions["households"]) == [40, 40, 40, 40]
    assert sorted(regions["expected_cases"]) == [4, 4, 4, 4]
    assert list(regions["region"]) == [1, 2, 3, 4]


def test_the_same_seed_gives_the_same_regions():
    bricks = proposals.building_bricks(cell(0, 0, 4, 4), lattice(),
                                       cases=cases_at([(0.5, 0.5), (3.5, 3.5), (2.5, 0.5)]))
    first = proposals.propose_partition(bricks, min_households=30, max_households=50, seed=3)
    again = proposals.propose_partition(bricks, min_households=30, max_households=50, seed=3)
    assert list(first["bricks"]) == list(again["bricks"])


def test_today_s_boundaries_are_a_start_so_a_balanced_layout_is_kept():
    area = cell(0, 0, 4, 4)
    bricks = proposals.building_bricks(area, lattice(), cases=cases_at([(i + 0.5, j + 0.5) for j in range(4)
                                                                        for i in range(4)]))
    # today: four 2×2 squares, 40 households and 4 cases each, compact: nothing to improve
    bricks["current"] = [f"M{int(p.y > Y0 + 2 * D)}{int(p.x > X0 + 2 * D)}"
                         for p in bricks.geometry.representative_point()]
    regions = proposals.propose_partition(bricks, min_households=30, max_households=50)
    assert sorted(regions["households"]) == [40, 40, 40, 40]
    assert sorted(regions["expected_cases"]) == [4, 4, 4, 4]


def test_a_building_over_the_band_is_named_with_the_fix():
    bricks = proposals.building_bricks(cell(0, 0, 2, 1), buildings([("锦艺花园3号楼", 0.5, 0.5, 180),
                                                                      ("锦艺花园4号楼", 1.5, 0.5, 60)]))
    with pytest.raises(InputError, match=r"building 锦艺花园3号楼 has 180 households, more than "
                                         r"--max-households 100.*raise --max-households to at least 180, or "
                                         r"split that building's households"):
        proposals.propose_partition(bricks, min_households=40, max_households=100)


def test_an_area_below_the_floor_is_refused():
    bricks = proposals.building_bricks(cell(0, 0, 2, 1), buildings([("甲1号楼", 0.5, 0.5, 12),
                                                                      ("甲2号楼", 1.5, 0.5, 18)]))
    with pytest.raises(InputError, match="the area holds 30 households .* fewer than --min-households 40; "
                                         "lower --min-households to 30"):
        proposals.propose_partition(bricks, min_households=40, max_households=100)


def test_a_total_no_count_of_micro_grids_fits_is_refused_with_both_ways_out():
    # 110 households: one micro-grid is over 100, two are under 60 each
    bricks = proposals.building_bricks(cell(0, 0, 2, 1), buildings([("甲1号楼", 0.5, 0.5, 55),
                                                                      ("甲2号楼", 1.5, 0.5, 55)]))
    with pytest.raises(InputError, match="110 households cannot be split into micro-grids of 60–100 households.*"
                                         "raise --max-households to 110 .* or lower --min-households to 55"):
        proposals.propose_partition(bricks, min_households=60, max_households=100)


def test_a_detached_part_below_the_floor_is_refused():
    area = MultiPolygon([cell(0, 0, 1, 1), cell(3, 0, 4, 1)])
    bricks = proposals.building_bricks(area, buildings([("甲1号楼", 0.5, 0.5, 50), ("甲2号楼", 3.5, 0.5, 20)]))
    with pytest.raises(InputError, match="a detached part of the area .* holds 20 households"):
        proposals.propose_partition(bricks, min_households=40, max_households=100)


@pytest.mark.parametrize("low, high, message", [(50, 40, "--max-households 40 is below --min-households 50"),
                                                (0, 40, "--min-households is 0"),
                                                (10.5, 40, "--min-households is 10.5")])
def test_a_bad_band_is_refused(low, high, message):
    with pytest.raises(InputError, match=message):
        proposals.check_band(low, high)


def test_regions_come_in_reading_order_and_carry_their_bricks():
    bricks = proposals.building_bricks(cell(0, 0, 4, 1), buildings([(f"甲{i + 1}号楼", i + 0.5, 0.5, 50)
                                                                      for i in range(4)]))
    regions = proposals.propose_partition(bricks, min_households=40, max_households=60)
    assert len(regions) == 4
    xs = [g.representative_point().x for g in regions.geometry]
    assert xs == sorted(xs)                                   # one row: west to east
    assert all(len(members) == 1 for members in regions["bricks"])
    assert np.array_equal(regions["households"].to_numpy(), [50, 50, 50, 50])
