"""The planning page's maps (gis.maps.planning): vendored Leaflet.draw only, colour modes, the
problems drawn red, drawn shapes back in WGS-84; and the uploaded boundary files
(gis.workflows.read_grid_upload)."""

from __future__ import annotations

import io
import json
import re
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, box, mapping

from gis import maps, workflows
from gis.core.crs import geometry_from_wgs84
from gis.errors import InputError
from gis.maps import planning as planning_maps

X0, Y0, D = 113.60, 34.75, 0.001


def micro_grids() -> gpd.GeoDataFrame:
    cells = [box(X0 + i * D, Y0, X0 + (i + 1) * D, Y0 + D) for i in range(3)]
    return gpd.GeoDataFrame({"code": ["C1-01", "C1-02", "C1-03"], "name": ["甲社区第1微网格", "甲社区第2微网格", "甲社区第3微网格"],
                             "level": "micro", "parent_code": "G1", "households": [80, 120, None]},
                            geometry=[MultiPolygon([c]) for c in cells], crs=4326)


def shows(page: str, text: str) -> bool:
    """Whether the rendered map holds ``text`` (as written, or JSON-escaped in its data)."""
    return text in page or json.dumps(text)[1:-1] in page


def problems() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"severity": ["error", "warning"], "kind": ["overlap", "missing_value"],
                             "code": ["C1-01", "C1-03"], "other_code": ["C1-02", None], "area_m2": [12.0, None],
                             "message": ["grids C1-01 and C1-02 overlap by 12 m²", "name is empty"]},
                            geometry=[box(X0 + 0.9 * D, Y0, X0 + 1.1 * D, Y0 + D), None], crs=4326)


@pytest.mark.parametrize("color_by", list(planning_maps.COLOR_MODES))
@pytest.mark.parametrize("basemap", list(maps.BASEMAPS))
def test_the_draft_map_and_its_drawing_tools_load_only_vendored_code(color_by, basemap):
    grids = micro_grids()
    m = planning_maps.draft_map(grids, color_by=color_by, values=[1.5, 3.0, np.nan],
                                workers=["张三", "李四", None], problems=problems(), selected=["C1-01"],
                                editable=grids.geometry.iloc[0], basemap=basemap)
    urls = maps.asset_urls(m)
    assert "/app/static/vendor/leaflet.draw/dist/leaflet.draw.js" in urls
    assert "/app/static/vendor/leaflet.draw/dist/leaflet.draw.css" in urls
    assert not [u for u in urls if re.match(r"(https?:)?//", u, re.IGNORECASE)]
    for url in urls:
        assert (maps.VENDOR_DIR / url[len(maps.VENDOR_URL) + 1:]).is_file(), url


def test_leaflet_draw_images_named_by_its_css_are_vendored():
    css = (maps.VENDOR_DIR / "leaflet.draw/dist/leaflet.draw.css").read_text()
    images = set(re.findall(r"url\('?(images/[^)']+)'?\)", css))
    assert images == {"images/spritesheet.png", "images/spritesheet-2x.png", "images/spritesheet.svg"}
    for image in images:
        assert (maps.VENDOR_DIR / "leaflet.draw/dist" / image).is_file(), image


def test_the_drawing_toolbar_speaks_chinese_and_the_problems_are_red_with_chinese_names():
    page = planning_maps.draft_map(micro_grids(), problems=problems()).get_root().render()
    # the texts travel as JSON (non-ASCII escaped)
    assert "L.drawLocal" in page and all(json.dumps(t)[1:-1] in page for t in ("画拆分线", "拖动节点修改图形"))
    assert page.index("L.drawLocal") < page.index("new L.Control.Draw")  # texts set before the toolbar is built
    assert shows(page, "错误：网格重叠") and planning_maps.PROBLEM_COLOR in page
    assert "overlap by" not in page  # topology's English sentence is not shown


def test_workers_get_a_colour_each_and_a_grid_without_one_is_grey():
    m = planning_maps.draft_map(micro_grids(), color_by="worker", workers=["张三", "李四", None], draw=False)
    page = m.get_root().render()
    assert all(shows(page, t) for t in ("张三", "李四", "未配备")) and maps.NO_DATA_COLOR in page


def test_drawn_shapes_come_back_in_wgs84_from_every_basemap():
    line = LineString([(X0, Y0), (X0 + D, Y0 + D)])
    for basemap, crs in (("osm", "wgs84"), ("amap", "gcj02")):
        shown = line if crs == "wgs84" else geometry_from_wgs84(line, crs=crs)
        feature = {"type": "Feature", "properties": {}, "geometry": mapping(shown)}
        (back,) = planning_maps.drawn_shapes([feature, {"type": "Feature", "geometry": None}], basemap=basemap)
        assert back.geom_type == "LineString"
        assert np.allclose(np.asarray(back.coords), np.asarray(line.coords), atol=1e-6)


def test_the_diff_maps_draw_the_changed_ground_and_the_kinds_of_change():
    grids = micro_grids()
    pieces = gpd.GeoDataFrame({"before_code": ["C1-02"], "after_code": ["C1-01"], "area_m2": [5000.0]},
                              geometry=[box(X0 + D, Y0, X0 + 1.5 * D, Y0 + D)], crs=4326)
    page = planning_maps.changed_areas_map(pieces, before=grids, after=grids, names=dict(zip(grids["code"], grids["name"])),
                                           area_name="甲社区").get_root().render()
    assert shows(page, "第2微网格 → 第1微网格") and shows(page, "5,000 平方米")
    changes = grids.assign(change=["added", "removed", "reshaped"], change_zh=["新增", "撤销", "调整边界"])
    page = planning_maps.version_changes_map(changes).get_root().render()
    assert all(shows(page, word) for word in ("新增", "撤销", "调整边界"))
    assert planning_maps.CHANGE_COLORS["removed"] in page


# -- uploaded files -----------------------------------------------------------------------------


def test_an_uploaded_geojson_is_read_and_rows_at_the_areas_level_are_left_out(tmp_path):
    grids = micro_grids()
    area = gpd.GeoDataFrame({"code": ["C1"], "name": ["甲社区"], "level": ["community"], "parent_code": ["S1"],
                             "households": [None]}, geometry=[box(X0, Y0, X0 + 3 * D, Y0 + D)], crs=4326)
    path = tmp_path / "c1.geojson"
    gpd.GeoDataFrame(gpd.pd.concat([area, grids], ignore_index=True), crs=4326).to_file(path, driver="GeoJSON")
    read, notes = workflows.read_grid_upload(path.read_bytes(), "甲社区.geojson", area_code="C1",
                                             area_level="community")
    assert list(read["code"]) == ["C1-01", "C1-02", "C1-03"]
    assert notes == ["甲社区.geojson: left out 1 grid(s) at or above the area's level (C1)"]
    assert shapely.equals(read.geometry.iloc[0], grids.geometry.iloc[0])


@pytest.mark.filterwarnings("ignore:Column names longer than 10 characters", "ignore:Normalized/laundered field name")
def test_a_zipped_shapefile_is_read_from_its_folder(tmp_path):
    folder = tmp_path / "shp"
    folder.mkdir()
    micro_grids().to_file(folder / "grids.shp")
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, f"导出/{part.name}")
    read, _ = workflows.read_grid_upload(data.getvalue(), "grids.zip")
    assert list(read["code"]) == ["C1-01", "C1-02", "C1-03"] and read.crs.to_epsg() == 4326


@pytest.mark.parametrize("name, data, message", [
    ("grids.xlsx", b"x", "cannot tell the format"),
    ("grids.zip", b"not a zip", "not a zip archive"),
    ("grids.geojson", json.dumps({"type": "FeatureCollection", "features": []}).encode(), "no features"),
])
def test_an_unusable_upload_is_refused_with_the_fix(name, data, message):
    with pytest.raises(InputError, match=message):
        workflows.read_grid_upload(data, name)


def test_a_zip_without_one_shapefile_is_refused():
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("readme.txt", "no shapefile here")
    with pytest.raises(InputError, match="holds 0 .shp file"):
        workflows.read_grid_upload(data.getvalue(), "grids.zip")
