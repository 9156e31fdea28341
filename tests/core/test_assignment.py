"""The assignment rule on tiny hand-drawn grids with obvious answers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from gis.core.assignment import GridIndex

X0, Y0 = 113.60, 34.75  # Zhengzhou
D = 0.001               # ~90 m east-west, ~111 m north-south


def square(i: int, j: int, size: float = D):
    return box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)


def layer(items: dict[str, object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": list(items)}, geometry=list(items.values()), crs=4326)


@pytest.fixture
def four_squares() -> GridIndex:
    # B2 | B1     codes deliberately not in drawing order
    # A2 | A1
    return GridIndex(layer({"A2": square(0, 0), "A1": square(1, 0), "B2": square(0, 1), "B1": square(1, 1)}))


def assign_one(index: GridIndex, lon: float, lat: float):
    hit = index.assign([lon], [lat])
    return hit.micro_code[0], hit.exclusive_code[0], hit.suggested_code[0], hit.suggested_distance_m[0]


def test_interior_point_gets_the_grid_that_covers_it(four_squares):
    assert assign_one(four_squares, X0 + 0.5 * D, Y0 + 0.5 * D)[0] == "A2"
    assert assign_one(four_squares, X0 + 1.5 * D, Y0 + 1.5 * D)[0] == "B1"


def test_point_on_a_shared_edge_goes_to_the_lowest_code(four_squares):
    assert assign_one(four_squares, X0 + D, Y0 + 0.5 * D)[0] == "A1"      # A2 | A1
    assert assign_one(four_squares, X0 + 0.5 * D, Y0 + D)[0] == "A2"      # A2 / B2


def test_point_on_a_vertex_shared_by_four_goes_to_the_lowest_code(four_squares):
    assert assign_one(four_squares, X0 + D, Y0 + D)[0] == "A1"


def test_point_on_the_outer_boundary_is_covered(four_squares):
    assert assign_one(four_squares, X0, Y0 + 0.5 * D)[0] == "A2"


def test_point_in_a_hole_filled_by_another_grid_goes_to_the_filler():
    outer = box(X0, Y0, X0 + 3 * D, Y0 + 3 * D)
    hole = box(X0 + D, Y0 + D, X0 + 2 * D, Y0 + 2 * D)
    index = GridIndex(layer({"01": Polygon(outer.exterior.coords, [hole.exterior.coords]), "02": hole}))
    assert assign_one(index, X0 + 1.5 * D, Y0 + 1.5 * D)[0] == "02"
    assert assign_one(index, X0 + 0.5 * D, Y0 + 0.5 * D)[0] == "01"
    # on the hole's ring both cover it: the lowest code wins
    assert assign_one(index, X0 + D, Y0 + 1.5 * D)[0] == "01"


def test_multipolygon_grid_owns_both_parts_but_not_the_gap_between():
    index = GridIndex(layer({"M": MultiPolygon([square(0, 0), square(2, 0)])}))
    assert assign_one(index, X0 + 0.5 * D, Y0 + 0.5 * D)[0] == "M"
    assert assign_one(index, X0 + 2.5 * D, Y0 + 0.5 * D)[0] == "M"
    micro, _, suggested, distance = assign_one(index, X0 + 1.5 * D, Y0 + 0.5 * D)
    assert micro is None and suggested == "M"
    # half a cell east-west at 34.75°N: 0.0005° × 111 320 m × cos(34.75°) ≈ 45.7 m
    assert distance == pytest.approx(0.0005 * 111320 * np.cos(np.radians(34.75)), rel=0.01)


def test_exclusive_grid_across_two_communities_is_recorded_beside_the_micro_grid():
    micro = layer({"C1-01": square(0, 0), "C2-01": square(1, 0)})
    mall = box(X0 + 0.8 * D, Y0 + 0.2 * D, X0 + 1.2 * D, Y0 + 0.8 * D)
    index = GridIndex(micro, layer({"Z01": mall, "Z00": box(X0 + 1.1 * D, Y0, X0 + 1.3 * D, Y0 + D)}))
    hit = index.assign([X0 + 0.9 * D, X0 + 1.15 * D, X0 + 0.5 * D], [Y0 + 0.5 * D] * 3)
    assert list(hit.micro_code) == ["C1-01", "C2-01", "C1-01"]
    assert list(hit.exclusive_code) == ["Z01", "Z00", None]  # two exclusive grids: the lowest code


def test_points_just_outside_and_far_outside_are_unassigned_with_the_nearest_grid(four_squares):
    hit = four_squares.assign([X0 - 1e-7, X0 + 2 * D + 0.01], [Y0 + 0.5 * D, Y0 + 1.5 * D])
    assert list(hit.micro_code) == [None, None]
    assert list(hit.suggested_code) == ["A2", "B1"]
    assert hit.suggested_distance_m[0] == pytest.approx(0.0091, abs=0.005)
    assert hit.suggested_distance_m[1] == pytest.approx(0.01 * 111320 * np.cos(np.radians(34.75)), rel=0.01)


def test_bulk_and_single_point_assignment_agree(four_squares):
    rng = np.random.default_rng(7)
    lon = X0 - 0.5 * D + rng.random(500) * 3 * D
    lat = Y0 - 0.5 * D + rng.random(500) * 3 * D
    bulk = four_squares.assign(lon, lat)
    singles = [assign_one(four_squares, x, y)[0] for x, y in zip(lon, lat)]
    assert list(bulk.micro_code) == singles
