"""A boundary file uploaded on the planning page, read into a grid layer for a draft's area."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import geopandas as gpd

from gis.core import hierarchy
from gis.errors import InputError
from gis.io import grid_files

#: The extensions the planning page accepts (a Shapefile comes zipped with its .dbf, .shx, .prj).
UPLOAD_TYPES = ("geojson", "json", "gpkg", "zip")
#: Largest upload read, in bytes (a community's micro-grids take a few hundred KB).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def read_grid_upload(data: bytes, file_name: str, *, crs: str = "wgs84", fix: bool = False,
                     area_code: str | None = None, area_level: str | None = None
                     ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read an uploaded grid file (GeoJSON, GeoPackage, or a zipped Shapefile) into a layer.

    Parameters
    ----------
    data
        The file's bytes.
    file_name
        Its name as uploaded; the extension tells the format (``.zip``: the one ``.shp`` inside,
        with its side files).
    crs, fix
        As :func:`gis.io.grid_files.grids_from_file`.
    area_code, area_level
        The draft's area: rows for the area itself or a level at or above it (a file exported
        whole) are left out, with a note, so that the rest replaces the area's grids.

    Returns
    -------
    grids : GeoDataFrame
        The grid properties and MultiPolygons in WGS-84, as :func:`grids_from_file` gives them.
    notes : list of str
        What was done (conversions, repairs, rows left out).

    Raises
    ------
    InputError
        An unknown extension, a zip without exactly one ``.shp``, an unreadable file, a file
        larger than :data:`MAX_UPLOAD_BYTES`, or no grids left below the area.
    """
    name = PurePosixPath(file_name or "").name
    suffix = PurePosixPath(name).suffix.lower().lstrip(".")
    if suffix not in UPLOAD_TYPES:
        raise InputError(f"cannot tell the format of {name!r}", field="file",
                         fix="upload a .geojson, .gpkg, or a .zip holding a Shapefile (.shp, .shx, .dbf, .prj)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{name} is {len(data) / 1e6:.0f} MB, more than {MAX_UPLOAD_BYTES // 1_000_000} MB",
                         field="file", fix="upload only the grids of the draft's area")
    with tempfile.TemporaryDirectory(prefix="gis-upload-") as tmp:
        folder = Path(tmp)
        if suffix == "zip":
            path = _unzipped_shapefile(data, name, folder)
        else:
            path = folder / f"upload.{suffix}"
            path.write_bytes(data)
        grids, notes = grid_files.grids_from_file(path, crs=crs, fix=fix)
    notes = [n.replace(path.name, name) for n in notes]
    if area_code is not None:
        grids, left_out = _below_area(grids, area_code=area_code, area_level=area_level)
        if left_out:
            notes.append(f"{name}: left out {left_out} grid(s) at or above the area's level ({area_code})")
        if not len(grids):
            raise InputError(f"{name} holds no grids below the area {area_code}", field="file",
                             fix="upload the micro-grids (and tertiary grids) of the draft's area")
    return grids, notes


def _unzipped_shapefile(data: bytes, name: str, folder: Path) -> Path:
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(f"{name} is not a zip archive", field="file",
                         fix="zip the Shapefile's .shp, .shx, .dbf and .prj together") from None
    with archive:
        members = [m for m in archive.namelist() if not m.endswith("/") and "__MACOSX" not in m]
        shps = [m for m in members if m.lower().endswith(".shp")]
        if len(shps) != 1:
            raise InputError(f"{name} holds {len(shps)} .shp file(s), not 1", field="file",
                             fix="zip one Shapefile (its .shp, .shx, .dbf and .prj) per upload")
        stem = PurePosixPath(shps[0]).with_suffix("")
        for member in members:
            inner = PurePosixPath(member)
            if inner.with_suffix("") == stem:  # only the Shapefile's own side files, flat
                (folder / f"upload{inner.suffix.lower()}").write_bytes(archive.read(member))
    return folder / "upload.shp"


def _below_area(grids: gpd.GeoDataFrame, *, area_code: str, area_level: str | None
                ) -> tuple[gpd.GeoDataFrame, int]:
    """The rows strictly below the area's level (and not the area itself)."""
    if area_level in hierarchy.LEVELS:
        top = hierarchy.LEVELS.index(area_level)
        below = grids["level"].map(lambda lv: lv in hierarchy.LEVELS and hierarchy.LEVELS.index(lv) > top)
    else:
        below = grids["level"].notna()
    keep = below & (grids["code"].astype(str) != str(area_code))
    return grids[keep.to_numpy()].reset_index(drop=True), int((~keep).sum())


__all__ = ["MAX_UPLOAD_BYTES", "UPLOAD_TYPES", "read_grid_upload"]
