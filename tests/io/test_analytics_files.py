"""gis.io.analytics_files: hot spots and repeat locations written as CSV (UTF-8 with BOM) and GeoJSON."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from gis.errors import InputError
from gis.io import analytics_files


def spots() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["0012", "0013"], "name": ["甲", "乙"], "count": [5, 0], "z": [2.7, -0.1],
                             "p": [0.004, 0.9], "class": ["hot_95", "not_significant"],
                             "class_zh": ["热点（95%置信）", "不显著"]},
                            geometry=[box(113.6, 34.75, 113.601, 34.751), box(113.601, 34.75, 113.602, 34.751)],
                            crs=4326)


def test_hot_spots_csv_has_a_bom_chinese_text_codes_and_no_geometry(tmp_path):
    path = tmp_path / "spots.csv"
    assert analytics_files.write_hot_spots(spots(), path) == 2
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype={"code": str})
    assert list(back.columns) == ["code", "name", "count", "z", "p", "class", "class_zh"]
    assert back["code"].tolist() == ["0012", "0013"] and back["class_zh"].iloc[0] == "热点（95%置信）"


def test_hot_spots_geojson_keeps_the_polygons_in_wgs84(tmp_path):
    path = tmp_path / "spots.geojson"
    analytics_files.write_hot_spots(spots(), path)
    back = gpd.read_file(path)
    assert back["class"].tolist() == ["hot_95", "not_significant"]
    assert back.geometry.iloc[0].equals_exact(box(113.6, 34.75, 113.601, 34.751), 1e-9)


def test_repeats_csv_joins_case_ids_and_writes_china_time(tmp_path):
    frame = pd.DataFrame({"cluster_id": [1], "category": ["env.exposed_garbage"], "count": [3],
                          "first": [pd.Timestamp("2026-11-02T01:00:00Z")], "lon": [113.6], "lat": [34.75],
                          "case_ids": [["12345:R1", "12345:R2", "patrol:R3"]]})
    path = tmp_path / "repeats.csv"
    analytics_files.write_repeats(frame, path)
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back["case_ids"].iloc[0] == "12345:R1;12345:R2;patrol:R3"
    assert back["first"].iloc[0] == "2026-11-02 09:00"
    geo = tmp_path / "repeats.geojson"
    analytics_files.write_repeats(frame, geo)
    feature = json.loads(geo.read_text(encoding="utf-8"))["features"][0]
    assert feature["geometry"]["coordinates"] == [113.6, 34.75]


def test_an_unknown_suffix_is_refused_with_the_fix(tmp_path):
    with pytest.raises(InputError, match="cannot tell the format of"):
        analytics_files.write_hot_spots(spots(), tmp_path / "spots.xlsx")
