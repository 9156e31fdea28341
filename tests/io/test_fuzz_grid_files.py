"""Fuzzing the grid file readers: whatever the file, grids or one GisError.

GeoJSON, GeoPackage and Shapefile readers are fed random bytes, cut-off
files, odd GeoJSON documents, huge and many properties, deep JSON and zip
archives that claim to expand far beyond their size. The outcome must be a
frame of grids (with notes) or a :class:`GisError`; any other exception
fails. Examples are derandomized, so a run is the same every time.
"""

from __future__ import annotations

import json
import struct
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.core.topology import PROPERTIES
from gis.errors import GisError, InputError
from gis.io.grid_files import grids_from_file, grids_to_file
from tests.conftest import hierarchy

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
MAGIC = {".geojson": b'{"type": "FeatureCollection", "features": [', ".json": b'{"type": "Feature',
         ".gpkg": b"SQLite format 3\x00", ".shp": struct.pack(">i", 9994) + b"\x00" * 20}


def outcome(path: Path, **options) -> gpd.GeoDataFrame | GisError:
    """What reading a grid layer gives: its grids, or the GisError it raised."""
    try:
        grids, notes = grids_from_file(path, **options)
    except GisError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), "a GisError is one line"
        return exc
    assert set(PROPERTIES) <= set(grids.columns) and isinstance(notes, list)
    assert grids.crs is not None and grids.crs.to_epsg() == 4326
    return grids


@pytest.fixture(scope="module")
def layers(tmp_path_factory) -> dict[str, Path]:
    """The tiny hierarchy written once in each format."""
    folder = tmp_path_factory.mktemp("layers")
    out = {}
    for suffix in (".geojson", ".gpkg", ".shp"):
        path = folder / f"grids{suffix}"
        grids_to_file(hierarchy(), path)
        out[suffix] = path
    return out


# ---------------------------------------------------------------------------
# Any bytes, cut-off files
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(data=st.binary(max_size=4000), magic=st.booleans())
def test_random_bytes_as_a_grid_layer_give_an_input_error(tmp_path, suffix, data, magic):
    path = tmp_path / f"layer{suffix}"
    path.write_bytes((MAGIC[suffix] if magic else b"") + data)
    assert isinstance(outcome(path), GisError)


@pytest.mark.parametrize("suffix, part", [(".geojson", ".geojson"), (".gpkg", ".gpkg"), (".shp", ".shp"),
                                          (".shp", ".shx"), (".shp", ".dbf")])
@FUZZ
@given(cut=st.floats(min_value=0, max_value=1))
def test_a_cut_off_grid_layer_gives_grids_or_an_input_error(tmp_path, layers, suffix, part, cut):
    source = layers[suffix]
    for sibling in source.parent.glob(source.stem + ".*"):
        data = sibling.read_bytes()
        if sibling.suffix == part:
            data = data[:int(cut * len(data))]
        (tmp_path / sibling.name).write_bytes(data)
    outcome(tmp_path / source.name)


@pytest.mark.parametrize("suffix, part", [(".geojson", ".geojson"), (".gpkg", ".gpkg"), (".shp", ".shp"),
                                          (".shp", ".shx"), (".shp", ".dbf")])
@FUZZ
@given(flips=st.lists(st.tuples(st.floats(min_value=0, max_value=1), st.integers(0, 255)),
                      min_size=1, max_size=20), fix=st.booleans())
def test_a_grid_layer_with_overwritten_bytes_gives_grids_or_an_input_error(tmp_path, layers, suffix, part,
                                                                           flips, fix):
    source = layers[suffix]
    for sibling in source.parent.glob(source.stem + ".*"):
        data = bytearray(sibling.read_bytes())
        if sibling.suffix == part:
            for where, value in flips:
                data[min(int(where * len(data)), len(data) - 1)] = value
        (tmp_path / sibling.name).write_bytes(bytes(data))
    outcome(tmp_path / source.name, fix=fix)


# ---------------------------------------------------------------------------
# Odd GeoJSON
# ---------------------------------------------------------------------------

VALUES = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=12)
GEOMETRIES = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString",
                                                    "GeometryCollection", "Nonsense"]),
                           "coordinates": st.recursive(st.floats(-1e6, 1e6) | st.integers(),
                                                       lambda inner: st.lists(inner, max_size=5), max_leaves=20)}),
    st.just({"type": "Polygon", "coordinates": [[[113.6, 34.7], [113.7, 34.7], [113.7, 34.8], [113.6, 34.7]]]}),
    st.just({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),  # a bow tie
)


@FUZZ
@given(features=st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["Feature", "Feature", "Nonsense"]), "geometry": GEOMETRIES,
     "properties": st.dictionaries(st.sampled_from(["code", "name", "level", "parent_code", "households",
                                                    "population", "x"]), VALUES, max_size=7)}),
    max_size=6), fix=st.booleans(), crs=st.sampled_from(["wgs84", "gcj02", "EPSG:32649"]))
def test_odd_geojson_features_give_grids_or_an_input_error(tmp_path, features, fix, crs):
    path = tmp_path / "layer.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    outcome(path, fix=fix, crs=crs)


def test_huge_and_many_properties_give_grids_or_an_input_error(tmp_path):
    layer = hierarchy()
    layer.loc[0, "name"] = "长" * 2_000_000
    layer = layer.join(pd.DataFrame({f"extra{i}": range(len(layer)) for i in range(500)}, index=layer.index))
    path = tmp_path / "layer.geojson"
    layer.to_file(path, driver="GeoJSON")
    grids = outcome(path)
    assert len(grids) == len(layer) and len(grids.loc[0, "name"]) == 2_000_000


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deep_json_as_a_grid_layer_gives_an_input_error(tmp_path, depth):
    path = tmp_path / "deep.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [' + "[" * depth + "]" * depth + "]}",
                    encoding="utf-8")
    assert isinstance(outcome(path), GisError)


# ---------------------------------------------------------------------------
# Zip archives that claim to expand far beyond their size
# ---------------------------------------------------------------------------

def zip_bomb(path: Path, *, declared_bytes: int = 3 << 30) -> Path:
    """A small zip whose one member, grids.shp, declares ``declared_bytes`` uncompressed."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("grids.shp", b"\x00" * 100_000)
    data = bytearray(path.read_bytes())
    size = struct.pack("<I", min(declared_bytes, 0xFFFFFFFE))
    local = data.find(b"PK\x03\x04")
    data[local + 22:local + 26] = size  # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    data[central + 24:central + 28] = size  # central directory: uncompressed size
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("name", ["grids.zip", "grids.shp.zip", "grids.shp", "grids.geojson", "grids.gpkg"])
def test_a_zip_bomb_is_refused_before_it_is_expanded(tmp_path, name):
    path = zip_bomb(tmp_path / name)
    assert path.stat().st_size < 2_000
    started = time.perf_counter()
    with pytest.raises(InputError):
        grids_from_file(path)
    assert time.perf_counter() - started < 5  # refused, not expanded
