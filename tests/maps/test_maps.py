"""gis.maps: offline assets, display shifts, layers, escaping, coverage simplification."""

from __future__ import annotations

import math
import re
from pathlib import Path

import branca.colormap
import folium
import folium.plugins
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
import shapely

from gis import maps
from gis.errors import GisError, InputError

ZHENGZHOU = (113.6654, 34.7579)   # lon, lat, WGS-84 (二七广场)
from gis.settings import PROJECT_ROOT  # noqa: E402

HOSTILE = "<script>alert(1)</script>"
TEMPLATE_BREAKOUT = "`${alert(2)}`"


def _squares(n: int = 6, *, value=None) -> gpd.GeoDataFrame:
    """A row of n 0.01° squares east of Zhengzhou, values 1..n."""
    lon, lat = ZHENGZHOU
    return gpd.GeoDataFrame(
        {"code": [f"41010200{i}" for i in range(n)],
         "name": [HOSTILE] + [f"网格{i}" for i in range(1, n)],
         "value": list(range(1, n + 1)) if value is None else value},
        geometry=[shapely.box(lon + i * 0.01, lat, lon + (i + 1) * 0.01, lat + 0.01) for i in range(n)],
        crs="EPSG:4326")


def _cells() -> pd.DataFrame:
    lon, lat = ZHENGZHOU
    return pd.DataFrame({"lon": [lon, lon + 0.002, lon + 0.004, np.nan, lon],
                         "lat": [lat, lat + 0.002, lat, lat, lat + 0.004],
                         "weight": [4.0, 2.0, 1.0, 9.0, 0.0]})


def _incidents() -> pd.DataFrame:
    lon, lat = ZHENGZHOU
    return pd.DataFrame({
        "external_id": ["A-1", "A-2"], "lon": [lon, lon + 0.001], "lat": [lat, lat + 0.001],
        "category": ["占道经营", TEMPLATE_BREAKOUT], "status": ["received", "closed"],
        "description": [HOSTILE, "路灯不亮"], "address": ["二七路 1 号", None]})


def _map_with(layer: str, basemap: str) -> folium.Map:
    """A base map plus one kind of layer ('base' for none, 'all' for every kind)."""
    m = maps.base_map(center=ZHENGZHOU, zoom=14, basemap=basemap)
    kinds = ("heat", "choropleth", "outline", "points") if layer == "all" else (layer,)
    for kind in kinds:
        if kind == "heat":
            maps.heat_layer(_cells(), name="热力", basemap=basemap).add_to(m)
        elif kind == "choropleth":
            geojson, legend = maps.choropleth_layer(_squares(), name="事件", value_label="事件数",
                                                    basemap=basemap)
            geojson.add_to(m)
            legend.add_to(m)
        elif kind == "outline":
            maps.outline_layer(_squares(), name="专属网格", color="#1f5fa8", basemap=basemap).add_to(m)
        elif kind == "points":
            maps.points_layer(_incidents(), name="案件", basemap=basemap).add_to(m)
    if layer == "all":
        folium.LayerControl().add_to(m)
    return m


def _vendor_file(url: str, *, base_url: str = maps.VENDOR_URL) -> Path:
    assert url.startswith(base_url + "/"), url
    return maps.VENDOR_DIR / url[len(base_url) + 1:]


LAYERS = ("base", "heat", "choropleth", "outline", "points", "all")


# ---------------------------------------------------------------- assets

@pytest.mark.parametrize("basemap", list(maps.BASEMAPS))
@pytest.mark.parametrize("layer", LAYERS)
def test_no_map_loads_a_script_or_stylesheet_from_the_internet(layer, basemap):
    m = _map_with(layer, basemap)
    urls = maps.asset_urls(m)
    assert urls, "a map loads at least Leaflet"
    assert not [u for u in urls if re.match(r"(https?:)?//", u, re.I)]
    # Independently of asset_urls: no remote <script src> or <link href> at all.
    page = m.get_root().render()
    assert not re.search(r"<script[^>]+src=[\"'](https?:)?//", page, re.I)
    assert not re.search(r"<link[^>]+href=[\"'](https?:)?//", page, re.I)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_referenced_asset_exists_under_static_vendor(layer):
    for url in maps.asset_urls(_map_with(layer, "osm")):
        assert _vendor_file(url).is_file(), url


def test_leaflet_and_heat_plugin_are_loaded_in_order():
    urls = maps.asset_urls(_map_with("heat", "none"))
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts[0].endswith("/leaflet/dist/leaflet.js")
    assert scripts[-1].endswith("/leaflet.heat/dist/leaflet-heat.min.js")
    assert any(u.endswith("/leaflet/dist/leaflet.css") for u in urls)


def test_images_named_by_leaflet_css_are_vendored():
    css = (maps.VENDOR_DIR / "leaflet/dist/leaflet.css").read_text()
    images = set(re.findall(r"url\((images/[^)]+)\)", css))
    assert images
    for image in images:
        assert (maps.VENDOR_DIR / "leaflet/dist" / image).is_file(), image


def test_vendored_files_match_their_checksums():
    import hashlib
    sums = (maps.VENDOR_DIR / "SHA256SUMS").read_text().split("\n")
    for line in filter(None, sums):
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((maps.VENDOR_DIR / name).read_bytes()).hexdigest() == digest, name


def test_streamlit_folium_is_handed_only_local_links(monkeypatch):
    streamlit_folium = pytest.importorskip("streamlit_folium")
    handed = {}
    monkeypatch.setattr(streamlit_folium, "_component_func",
                        lambda **kwargs: handed.update(kwargs) or kwargs.get("default"))
    streamlit_folium.st_folium(_map_with("all", "amap"), key="test", returned_objects=[])
    links = handed["js_links"] + handed["css_links"]
    assert any(u.endswith("leaflet.js") for u in handed["js_links"])
    for url in links:
        assert _vendor_file(url).is_file(), url
    assert "http://" not in handed["header"] and "https://" not in handed["header"]


def test_standalone_html_can_point_at_a_relative_vendor_folder():
    m = _map_with("all", "carto")
    maps.localise_assets(m, base_url="static/vendor")
    urls = maps.asset_urls(m)
    assert urls and all(u.startswith("static/vendor/") for u in urls)
    assert all((PROJECT_ROOT / u).is_file() for u in urls)


def test_localising_leaves_the_folium_classes_untouched():
    maps.base_map(center=ZHENGZHOU, zoom=12)
    assert folium.Map.default_js[0][1].startswith("https://")
    assert folium.plugins.HeatMap.default_js[0][1].startswith("https://")


def test_a_plugin_that_is_not_vendored_is_refused_at_render():
    m = maps.base_map(center=ZHENGZHOU, zoom=12, basemap="none")
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(GisError, match="not vendored"):
        m.get_root().render()


def test_a_branca_colormap_on_the_map_is_refused():
    m = maps.base_map(center=ZHENGZHOU, zoom=12)
    branca.colormap.LinearColormap(["white", "red"], vmin=0, vmax=1).add_to(m)
    with pytest.raises(GisError, match="d3 from a CDN"):
        m.get_root().render()


def test_awesome_marker_icons_are_refused():
    m = maps.base_map(center=ZHENGZHOU, zoom=12)
    folium.Marker([ZHENGZHOU[1], ZHENGZHOU[0]], icon=folium.Icon(color="red")).add_to(m)
    with pytest.raises(GisError, match="awesome-markers"):
        m.get_root().render()


# ---------------------------------------------------------------- base map and display copies

def test_none_basemap_has_no_tiles_and_others_have_one_tile_layer():
    for key, source in maps.BASEMAPS.items():
        tiles = [c for c in maps.base_map(center=ZHENGZHOU, zoom=12, basemap=key)._children.values()
                 if isinstance(c, folium.TileLayer)]
        assert len(tiles) == (0 if source.tiles is None else 1), key
    assert maps.BASEMAPS["amap"].crs == "gcj02"
    assert maps.BASEMAPS["amap"].label == "高德地图"


def test_amap_display_copy_is_shifted_about_500_m_east_and_input_is_unchanged():
    lon, lat = ZHENGZHOU
    incidents = gpd.GeoDataFrame({"id": [1]}, geometry=gpd.points_from_xy([lon], [lat]), crs="EPSG:4326")
    before = incidents.copy()
    osm = maps.display_frame(incidents, basemap="osm")
    amap = maps.display_frame(incidents, basemap="amap")
    assert osm.geometry.iloc[0].equals(incidents.geometry.iloc[0])
    dx_m = (amap.geometry.iloc[0].x - osm.geometry.iloc[0].x) * 111_320 * math.cos(math.radians(lat))
    dy_m = (amap.geometry.iloc[0].y - osm.geometry.iloc[0].y) * 110_574
    assert 400 < dx_m < 700
    assert abs(dy_m) < 300
    pd.testing.assert_frame_equal(incidents, before)
    assert incidents.crs == "EPSG:4326"
    x, y = maps.display_points([lon], [lat], basemap="amap")
    assert (x[0], y[0]) == pytest.approx((amap.geometry.iloc[0].x, amap.geometry.iloc[0].y))


def test_base_map_centre_is_shifted_for_amap():
    osm = maps.base_map(center=ZHENGZHOU, zoom=12, basemap="osm")
    amap = maps.base_map(center=ZHENGZHOU, zoom=12, basemap="amap")
    assert osm.location == pytest.approx([ZHENGZHOU[1], ZHENGZHOU[0]])
    assert amap.location[1] > osm.location[1] + 0.004


def test_swapped_centre_and_unknown_basemap_say_what_to_do():
    with pytest.raises(InputError, match=r"lat 113.6654 .*\(lon, lat\)"):
        maps.base_map(center=(34.7579, 113.6654), zoom=12)
    with pytest.raises(InputError, match="unknown basemap 'baidu'.*osm, carto, amap, none"):
        maps.base_map(center=ZHENGZHOU, zoom=12, basemap="baidu")


# ---------------------------------------------------------------- layers

def _heat(group: folium.FeatureGroup) -> folium.plugins.HeatMap:
    (heat,) = [c for c in group._children.values() if isinstance(c, folium.plugins.HeatMap)]
    return heat


def test_heat_weights_are_normalised_and_empty_or_unlocated_cells_dropped():
    heat = _heat(maps.heat_layer(_cells(), name="热力", basemap="osm"))
    weights = [row[2] for row in heat.data]
    assert weights == [1.0, 0.5, 0.25]
    assert heat.data[0][:2] == [ZHENGZHOU[1], ZHENGZHOU[0]]   # lat, lon for Leaflet


def test_heat_layer_refuses_one_row_per_incident():
    cells = pd.DataFrame({"lon": np.full(50_001, ZHENGZHOU[0]), "lat": ZHENGZHOU[1], "weight": 1})
    with pytest.raises(InputError, match="50,001 cells.*aggregate incidents"):
        maps.heat_layer(cells, name="热力", basemap="osm")


@pytest.mark.parametrize("scheme, classifier", [("quantiles", mapclassify.Quantiles),
                                                ("natural_breaks", mapclassify.FisherJenks)])
def test_choropleth_legend_has_k_classes_from_mapclassify(scheme, classifier):
    values = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    grids = _squares(10, value=values)
    # a density keeps mapclassify's breaks as they are (counts are rounded to whole numbers)
    _, legend = maps.choropleth_layer(grids, name="事件", value_label="每千户案件数", metric="per_1000",
                                      scheme=scheme, k=4, basemap="osm")
    assert legend.k == 4 and len(legend.colors) == 4 and len(legend.labels) == 4
    assert legend.bins == pytest.approx(list(classifier(np.array(values, float), k=4).bins))
    assert legend.labels[0].startswith("1.0 – ")
    assert legend.colormap is not None and not legend.no_data


def test_choropleth_features_carry_code_class_colour_and_rounded_coordinates():
    grids = _squares(6, value=[1, 2, 3, 4, 5, np.nan])
    grids.geometry = grids.geometry.translate(1e-9, 0)
    geojson, legend = maps.choropleth_layer(grids, name="事件", value_label="事件数", k=5, basemap="osm")
    features = geojson.data["features"]
    assert [f["properties"]["code"] for f in features] == list(grids["code"])
    assert [f["properties"]["fill"] for f in features] == [*legend.colors, "#d9d9d9"]
    assert legend.no_data
    ring = features[1]["geometry"]["coordinates"][0]
    assert all(round(c, 6) == c for xy in ring for c in xy)


def test_choropleth_refuses_bad_scheme_and_k():
    with pytest.raises(InputError, match="unknown classification scheme 'equal'"):
        maps.choropleth_layer(_squares(), name="x", value_label="v", scheme="equal", basemap="osm")
    with pytest.raises(InputError, match="k = 12 classes is outside 2..9"):
        maps.choropleth_layer(_squares(), name="x", value_label="v", k=12, basemap="osm")


def test_points_popups_and_tooltips_escape_hostile_text():
    m = _map_with("points", "osm")
    page = m.get_root().render()
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # folium pastes popup HTML into a JS template literal: ` and ${ must not survive.
    assert "${alert(2)}" not in page
    assert "&#96;&#36;{alert(2)}&#96;" in page


def test_grid_names_are_escaped_in_tooltips_and_legends():
    geojson, legend = maps.choropleth_layer(_squares(), name="x", value_label=HOSTILE, basemap="osm")
    outline = maps.outline_layer(_squares(), name="o", color="red", basemap="osm")
    assert geojson.data["features"][0]["properties"]["tip0"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert outline.data["features"][0]["properties"]["tip"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert HOSTILE not in legend.html
    m = maps.base_map(center=ZHENGZHOU, zoom=12)
    geojson.add_to(m)
    legend.add_to(m)
    outline.add_to(m)
    assert HOSTILE not in m.get_root().render()


def test_points_are_coloured_by_status_and_capped():
    group = maps.points_layer(_incidents(), name="案件", basemap="osm")
    markers = [c for c in group._children.values() if isinstance(c, folium.CircleMarker)]
    assert [mk.options["fillColor"] for mk in markers] == ["#e67e22", "#7f8c8d"]
    with pytest.raises(InputError, match="more than max_points=1"):
        maps.points_layer(_incidents(), name="案件", basemap="osm", max_points=1)


# ---------------------------------------------------------------- coverage simplification

def _jagged_2x2() -> gpd.GeoDataFrame:
    """Four ~450 m squares whose edges zigzag by ~1 m; neighbours share each edge exactly."""
    lon0, lat0 = ZHENGZHOU
    step, wiggle, teeth = 0.005, 1e-5, 40
    node = {(i, j): (lon0 + j * step, lat0 + i * step) for i in range(3) for j in range(3)}

    def edge(a, b):
        (x0, y0), (x1, y1) = node[a], node[b]
        t = np.linspace(0, 1, teeth + 1)[1:-1]
        sign = np.where(np.arange(len(t)) % 2 == 0, 1.0, -1.0) * wiggle
        horizontal = y0 == y1
        xs = x0 + t * (x1 - x0) + (0 if horizontal else sign)
        ys = y0 + t * (y1 - y0) + (sign if horizontal else 0)
        return [node[a], *zip(xs, ys)]

    def reverse(points, end):
        return [end, *reversed(points[1:])]

    cells, codes = [], []
    for i in range(2):
        for j in range(2):
            south = edge((i, j), (i, j + 1))
            east = edge((i, j + 1), (i + 1, j + 1))
            north = edge((i + 1, j), (i + 1, j + 1))
            west = edge((i, j), (i + 1, j))
            ring = south + east + reverse(north, node[(i + 1, j + 1)]) + reverse(west, node[(i + 1, j)])
            cells.append(shapely.Polygon(ring))
            codes.append(f"g{i}{j}")
    return gpd.GeoDataFrame({"code": codes}, geometry=cells, crs="EPSG:4326")


def test_coverage_simplification_keeps_a_2x2_grid_gap_and_overlap_free():
    grids = _jagged_2x2()
    assert all(grids.is_valid) and shapely.coverage_is_valid(np.asarray(grids.geometry, dtype=object))
    simple = maps.simplify_coverage(grids, tolerance_m=10.0)
    assert list(simple["code"]) == list(grids["code"]) and simple.crs == "EPSG:4326"
    assert all(simple.is_valid)
    before, after = grids.to_crs(32649), simple.to_crs(32649)
    union = shapely.union_all(np.asarray(after.geometry, dtype=object))
    assert union.geom_type == "Polygon" and not union.interiors           # no gaps
    assert union.area == pytest.approx(before.union_all().area, rel=0.01)
    assert after.area.sum() == pytest.approx(union.area, rel=1e-9)       # no overlaps
    for a in range(4):
        for b in range(a + 1, 4):
            assert after.geometry.iloc[a].intersection(after.geometry.iloc[b]).area < 1e-3
    # Side neighbours still share their whole edge.
    shared = after.geometry.iloc[0].boundary.intersection(after.geometry.iloc[1].boundary)
    assert shared.length == pytest.approx(before.geometry.iloc[0].boundary
                                          .intersection(before.geometry.iloc[1].boundary).length, rel=0.05)
    assert shapely.get_num_coordinates(np.asarray(simple.geometry, dtype=object)).sum() < \
        shapely.get_num_coordinates(np.asarray(grids.geometry, dtype=object)).sum() / 4


def test_coverage_simplification_with_zero_tolerance_changes_nothing():
    grids = _jagged_2x2()
    same = maps.simplify_coverage(grids, tolerance_m=0)
    assert all(a.equals_exact(b, 0) for a, b in zip(same.geometry, grids.geometry))
    with pytest.raises(InputError, match="tolerance -1 m"):
        maps.simplify_coverage(grids, tolerance_m=-1)


def test_tolerance_for_zoom_is_a_pixel_and_halves_per_level():
    assert maps.tolerance_for_zoom(13) == pytest.approx(19.11, abs=0.01)
    assert maps.tolerance_for_zoom(14) == pytest.approx(maps.tolerance_for_zoom(13) / 2)
    with pytest.raises(InputError, match="zoom 30 is outside 0..24"):
        maps.tolerance_for_zoom(30)


# -- the situation map (what ui/pages/situation.py draws and benchmarks/map.py times) ----------------


def _layer_names(m: folium.Map) -> list[str]:
    return [c.layer_name for c in m._children.values() if getattr(c, "layer_name", None) and c.overlay]


def test_situation_map_has_the_choropleth_heat_layers_and_exclusive_grids_in_order():
    units = _squares(4)
    heat = {"热力 · 安全隐患": (_cells(), True), "热力 · 垃圾/环境卫生": (_cells(), False)}
    m = maps.situation_map(bounds=tuple(units.total_bounds), zoom=14, basemap="osm", units=units,
                           value_label="受理", units_name="街道 · 受理", heat=heat, exclusive=_squares(1))
    assert _layer_names(m) == ["街道 · 受理", "热力 · 安全隐患", "热力 · 垃圾/环境卫生", "专属网格"]
    (choropleth,) = [c for c in m._children.values() if isinstance(c, folium.GeoJson)
                     and c.layer_name == "街道 · 受理"]
    # a click names the unit to drill into
    assert [f["properties"]["code"] for f in choropleth.data["features"]] == list(units["code"])
    assert any(isinstance(c, folium.LayerControl) for c in m._children.values())


def test_situation_map_at_the_bottom_of_the_tree_outlines_the_unit_under_its_name():
    unit = _squares(1)
    m = maps.situation_map(bounds=tuple(unit.total_bounds), zoom=17, basemap="osm", units=None, outline=unit,
                           outline_name="微网格一", heat={"热力 · 未办结": (_cells(), True)})
    assert _layer_names(m) == ["微网格一", "热力 · 未办结"]
