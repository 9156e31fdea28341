"""Tests for gis.crs: WGS-84 / GCJ-02 / BD-09 / EPSG conversions."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from gis.core import crs
from gis.errors import InputError

ZHENGZHOU = (113.6, 34.75)  # lon, lat in degrees, WGS-84
OUTSIDE_CHINA = {"London": (-0.1276, 51.5072), "Sydney": (151.2093, -33.8688),
                 "New York": (-74.006, 40.7128)}

# A regular grid over China (and some neighbouring land inside the GCJ box).
GRID_LON, GRID_LAT = (a.ravel() for a in np.meshgrid(np.arange(73.0, 135.1, 2.0),
                                                      np.arange(18.0, 53.1, 2.0)))

china_lon = st.floats(min_value=73.0, max_value=135.0)
china_lat = st.floats(min_value=18.0, max_value=53.5)


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres on a sphere of the mean Earth radius."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    h = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6371008.8 * np.arcsin(np.sqrt(h))


def gcj02_by_hand(lon: float, lat: float) -> tuple[float, float]:
    """The public forward formula, transcribed point by point with math."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    d_lat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * math.sin(y / 12.0 * math.pi)
              + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    d_lon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(rad_lat) ** 2
    d_lat = (d_lat * 180.0) / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    d_lon = (d_lon * 180.0) / (a / math.sqrt(magic) * math.cos(rad_lat) * math.pi)
    return lon + d_lon, lat + d_lat


def bd09_by_hand(lon: float, lat: float) -> tuple[float, float]:
    """Baidu's public GCJ-02 -> BD-09 formula, point by point."""
    x_pi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


# --- round trips ---------------------------------------------------------------

def test_wgs84_gcj02_round_trip_over_a_grid_of_china_is_below_a_millimetre():
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(GRID_LON, GRID_LAT))
    assert haversine_m(GRID_LON, GRID_LAT, *back).max() < 1e-3


def test_gcj02_wgs84_round_trip_over_a_grid_of_china_is_below_a_millimetre():
    there = crs.wgs84_to_gcj02(*crs.gcj02_to_wgs84(GRID_LON, GRID_LAT))
    assert haversine_m(GRID_LON, GRID_LAT, *there).max() < 1e-3


def test_wgs84_bd09_round_trip_over_a_grid_of_china_is_below_a_millimetre():
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(GRID_LON, GRID_LAT))
    assert haversine_m(GRID_LON, GRID_LAT, *back).max() < 1e-3


def test_gcj02_bd09_round_trip_over_a_grid_of_china_is_below_a_millimetre():
    back = crs.bd09_to_gcj02(*crs.gcj02_to_bd09(GRID_LON, GRID_LAT))
    assert haversine_m(GRID_LON, GRID_LAT, *back).max() < 1e-3


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_wgs84_gcj02_round_trip_of_any_point_in_china_is_below_half_a_metre(lon, lat):
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert haversine_m(lon, lat, *back) < 0.5


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_wgs84_bd09_round_trip_of_any_point_in_china_is_below_a_metre(lon, lat):
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert haversine_m(lon, lat, *back) < 1.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=20))
def test_arrays_give_the_same_answer_as_point_by_point(points):
    lon, lat = np.array(points).T
    for convert in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84, crs.bd09_to_wgs84):
        lons, lats = convert(lon, lat)
        for i, (x, y) in enumerate(points):
            assert (lons[i], lats[i]) == pytest.approx(convert(x, y), abs=1e-9)


# --- reference values --------------------------------------------------------------

# Published test vectors of eviltransform (googollee/eviltransform, test files):
# (wgs lon, wgs lat), (gcj lon, gcj lat).
@pytest.mark.parametrize("wgs, gcj", [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),     # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),     # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),     # Beijing
])
def test_published_gcj02_vectors_are_reproduced_both_ways(wgs, gcj):
    assert crs.wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)
    assert crs.gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-9)


def test_gcj02_moves_zhengzhou_about_550_m_east_and_130_m_south():
    lon, lat = ZHENGZHOU
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(lon, lat)
    assert 0.005 < gcj_lon - lon < 0.007
    assert -0.0015 < gcj_lat - lat < 0
    assert 500 < haversine_m(lon, lat, gcj_lon, lat) < 600
    assert 100 < haversine_m(lon, lat, lon, gcj_lat) < 200


def test_gcj02_forward_matches_the_hand_computed_formula():
    assert crs.wgs84_to_gcj02(*ZHENGZHOU) == pytest.approx(gcj02_by_hand(*ZHENGZHOU), abs=1e-9)
    assert crs.wgs84_to_gcj02(*ZHENGZHOU) == pytest.approx(
        (113.6060397286043, 34.74880496646339), abs=1e-9)


def test_bd09_forward_matches_the_hand_computed_formula():
    gcj = gcj02_by_hand(*ZHENGZHOU)
    assert crs.gcj02_to_bd09(*gcj) == pytest.approx(bd09_by_hand(*gcj), abs=1e-9)
    assert crs.wgs84_to_bd09(*ZHENGZHOU) == pytest.approx(bd09_by_hand(*gcj), abs=1e-9)


# --- outside China, NaN, shapes ---------------------------------------------------------------

@pytest.mark.parametrize("city", sorted(OUTSIDE_CHINA))
def test_points_outside_china_are_unchanged_by_gcj02(city):
    lon, lat = OUTSIDE_CHINA[city]
    assert crs.out_of_china(lon, lat)
    assert crs.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert crs.gcj02_to_wgs84(lon, lat) == (lon, lat)


@pytest.mark.parametrize("city", sorted(OUTSIDE_CHINA))
def test_bd09_applies_its_offset_everywhere_and_still_round_trips(city):
    lon, lat = OUTSIDE_CHINA[city]
    assert crs.wgs84_to_bd09(lon, lat) == pytest.approx(bd09_by_hand(lon, lat), abs=1e-9)
    assert crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)


def test_out_of_china_uses_the_public_box():
    lon = np.array([72.0, 72.01, 137.83, 137.84, 100.0, 100.0, 100.0, 100.0])
    lat = np.array([30.0, 30.0, 30.0, 30.0, 0.82, 0.83, 55.82, 55.83])
    assert crs.out_of_china(lon, lat).tolist() == [True, False, False, True,
                                                   True, False, False, True]


@pytest.mark.parametrize("convert", [crs.wgs84_to_gcj02, crs.gcj02_to_wgs84,
                                     crs.gcj02_to_bd09, crs.bd09_to_gcj02,
                                     crs.wgs84_to_bd09, crs.bd09_to_wgs84])
def test_nan_passes_through_without_warnings(convert):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lon, lat = convert(np.array([np.nan, 113.6, 113.6]), np.array([34.75, np.nan, 34.75]))
        assert np.isnan(lon[:2]).all() and np.isnan(lat[:2]).all()
        assert np.isfinite([lon[2], lat[2]]).all()
        assert all(math.isnan(v) for v in convert(math.nan, math.nan))


def test_scalars_give_floats_and_arrays_give_arrays_of_the_same_shape():
    lon, lat = crs.wgs84_to_gcj02(*ZHENGZHOU)
    assert type(lon) is float and type(lat) is float
    lons, lats = crs.wgs84_to_gcj02(np.full(4, 113.6), [34.75] * 4)
    assert lons.shape == lats.shape == (4,) and lons.dtype == np.float64
    assert lons[0] == lon and lats[0] == lat
    empty = crs.gcj02_to_wgs84(np.array([]), np.array([]))
    assert empty[0].shape == empty[1].shape == (0,)


def test_integer_input_is_converted_as_float():
    assert crs.wgs84_to_gcj02(114, 35) == crs.wgs84_to_gcj02(114.0, 35.0)


# --- dispatch and EPSG codes ---------------------------------------------------------------

def test_to_and_from_wgs84_dispatch_on_the_crs_name():
    lon, lat = ZHENGZHOU
    assert crs.from_wgs84(lon, lat, crs="amap") == crs.wgs84_to_gcj02(lon, lat)
    assert crs.from_wgs84(lon, lat, crs="Baidu") == crs.wgs84_to_bd09(lon, lat)
    assert crs.to_wgs84(lon, lat, crs="GCJ-02") == crs.gcj02_to_wgs84(lon, lat)
    assert crs.to_wgs84(lon, lat, crs="BD-09") == crs.bd09_to_wgs84(lon, lat)
    assert crs.to_wgs84(lon, lat, crs="EPSG:4326") == (lon, lat)
    assert crs.from_wgs84(lon, lat, crs="wgs84") == (lon, lat)


def test_cgcs2000_is_within_a_metre_of_wgs84():
    lon, lat = crs.to_wgs84(GRID_LON, GRID_LAT, crs="EPSG:4490")
    assert haversine_m(GRID_LON, GRID_LAT, lon, lat).max() < 1.0
    lon, lat = crs.from_wgs84(GRID_LON, GRID_LAT, crs="4490")
    assert haversine_m(GRID_LON, GRID_LAT, lon, lat).max() < 1.0


def test_cgcs2000_gauss_kruger_round_trips_a_zhengzhou_point():
    easting, northing = crs.from_wgs84(*ZHENGZHOU, crs="EPSG:4547")
    # West of the 114°E central meridian, so east of it is below the 500 km false easting.
    assert 455_000 < easting < 470_000 and 3_840_000 < northing < 3_855_000
    back = crs.to_wgs84(easting, northing, crs="epsg:4547")
    assert haversine_m(*ZHENGZHOU, *back) < 1e-3


def test_epsg_points_proj_cannot_transform_and_nan_come_back_as_nan():
    lon, lat = crs.to_wgs84(np.array([1e30, np.nan]), np.array([1e30, np.nan]), crs="EPSG:4547")
    assert np.isnan(lon).all() and np.isnan(lat).all()


# --- parse_crs -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name", [
    ("wgs84", "wgs84"), ("WGS-84", "wgs84"), ("EPSG:4326", "wgs84"), ("4326", "wgs84"),
    ("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("amap", "gcj02"), ("Tencent", "gcj02"),
    ("bd09", "bd09"), ("BD-09", "bd09"), ("baidu", "bd09"),
    ("EPSG:4490", "EPSG:4490"), ("epsg:4547", "EPSG:4547"), ("4547", "EPSG:4547"),
    (" EPSG: 3857 ", "EPSG:3857"),
])
def test_parse_crs_accepts_aliases_and_epsg_codes(text, name):
    assert crs.parse_crs(text) == name


@pytest.mark.parametrize("text", ["xyz", "", "wgs", "EPSG:", "epsg:4326x"])
def test_parse_crs_refuses_junk_and_says_what_to_use(text):
    with pytest.raises(InputError, match=rf"unknown CRS '{text}'; use wgs84, gcj02 "
                                         r"\(Amap, Tencent\), bd09 \(Baidu\) or EPSG:<code>"
                       ) as caught:
        crs.parse_crs(text)
    assert caught.value.field == "crs"


def test_parse_crs_refuses_an_unknown_epsg_code():
    with pytest.raises(InputError, match=r"unknown CRS 'EPSG:9999999' \(no such EPSG code\)"):
        crs.parse_crs("EPSG:9999999")


def test_parse_crs_refuses_a_crs_that_is_not_horizontal():
    with pytest.raises(InputError, match=r"CRS 'EPSG:5773' \(EGM96 height\) is not a horizontal"):
        crs.parse_crs("EPSG:5773")


def test_conversions_refuse_an_unknown_crs():
    with pytest.raises(InputError, match="unknown CRS 'mars'"):
        crs.to_wgs84(113.6, 34.75, crs="mars")


# --- geometries -------------------------------------------------------------------------------

SQUARE_WITH_HOLE = Polygon(box(113.60, 34.74, 113.62, 34.76).exterior.coords,
                           [box(113.605, 34.745, 113.615, 34.755).exterior.coords])
TWO_SQUARES = MultiPolygon([box(113.60, 34.74, 113.61, 34.75), box(113.62, 34.74, 113.63, 34.75)])


@pytest.mark.parametrize("geom", [SQUARE_WITH_HOLE, TWO_SQUARES], ids=["polygon", "multipolygon"])
def test_geometries_keep_their_structure_and_round_trip(geom):
    gcj = crs.geometry_from_wgs84(geom, crs="gcj02")
    assert gcj.geom_type == geom.geom_type
    assert shapely.get_num_geometries(gcj) == shapely.get_num_geometries(geom)
    assert shapely.get_num_interior_rings(gcj) == shapely.get_num_interior_rings(geom)
    assert shapely.get_num_coordinates(gcj) == shapely.get_num_coordinates(geom)
    assert gcj.is_valid
    assert gcj.centroid.x - geom.centroid.x == pytest.approx(0.006, abs=0.001)
    back = crs.geometry_to_wgs84(gcj, crs="gcj02")
    assert shapely.equals_exact(back, geom, tolerance=1e-9)


def test_a_point_geometry_converts_like_the_point_function():
    point = crs.geometry_from_wgs84(Point(*ZHENGZHOU), crs="bd09")
    assert (point.x, point.y) == pytest.approx(crs.wgs84_to_bd09(*ZHENGZHOU), abs=1e-12)


def test_geoseries_in_gives_geoseries_out_in_wgs84_with_the_index_kept():
    gcj = gpd.GeoSeries([crs.geometry_from_wgs84(SQUARE_WITH_HOLE, crs="gcj02"),
                         crs.geometry_from_wgs84(TWO_SQUARES, crs="gcj02"), None],
                        index=["a", "b", "c"], name="geometry")
    wgs = crs.geometries_to_wgs84(gcj, crs="amap")
    assert isinstance(wgs, gpd.GeoSeries)
    assert wgs.crs == pyproj.CRS("EPSG:4326")
    assert list(wgs.index) == ["a", "b", "c"] and wgs.name == "geometry"
    assert shapely.equals_exact(wgs["a"], SQUARE_WITH_HOLE, tolerance=1e-9)
    assert shapely.equals_exact(wgs["b"], TWO_SQUARES, tolerance=1e-9)
    assert wgs["c"] is None


def test_geoseries_from_wgs84_is_labelled_with_the_target_crs():
    wgs = gpd.GeoSeries([TWO_SQUARES], crs="EPSG:4326")
    assert crs.geometries_from_wgs84(wgs, crs="EPSG:4547").crs == pyproj.CRS("EPSG:4547")
    assert crs.geometries_from_wgs84(wgs, crs="gcj02").crs is None  # GCJ-02 has no EPSG code


def test_geometry_arrays_come_back_as_arrays():
    geoms = np.array([SQUARE_WITH_HOLE, TWO_SQUARES, Point()], dtype=object)
    out = crs.geometries_from_wgs84(geoms, crs="bd09")
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    assert out[2].is_empty
    back = crs.geometries_to_wgs84(out, crs="bd09")
    assert shapely.equals_exact(back[:2], geoms[:2], tolerance=1e-9).all()


# --- metric work -------------------------------------------------------------------------------

@pytest.mark.parametrize("lon, lat, epsg", [
    (113.6, 34.75, 32649),     # Zhengzhou
    (151.2093, -33.8688, 32756),  # Sydney
    (-0.1276, 51.5072, 32630),  # London
    (-180.0, 10.0, 32601), (180.0, 10.0, 32601), (0.0, 0.0, 32631),
])
def test_utm_epsg_for_picks_the_zone(lon, lat, epsg):
    assert crs.utm_epsg_for(lon, lat) == epsg


@pytest.mark.parametrize("lon, lat", [(200.0, 10.0), (10.0, 95.0), (math.nan, 10.0)])
def test_utm_epsg_for_refuses_impossible_coordinates(lon, lat):
    with pytest.raises(InputError, match="cannot pick a UTM zone"):
        crs.utm_epsg_for(lon, lat)


def test_to_metric_projects_zhengzhou_to_utm_49n_with_true_areas():
    square = box(113.60, 34.74, 113.61, 34.75)
    metric = crs.to_metric(gpd.GeoSeries([square], crs="EPSG:4326"))
    assert metric.crs.to_epsg() == 32649
    geodesic_m2 = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(square)[0])
    assert metric.area.iloc[0] == pytest.approx(geodesic_m2, rel=5e-3)
    # A GeoSeries without a crs is taken as WGS-84.
    assert crs.to_metric(gpd.GeoSeries([square])).crs.to_epsg() == 32649


def test_to_metric_refuses_a_layer_without_coordinates():
    with pytest.raises(InputError, match="without coordinates"):
        crs.to_metric(gpd.GeoSeries([Point()], crs="EPSG:4326"))
