"""Grid layers from and to files (GeoJSON, GeoPackage, Shapefile), with property
checks and optional repairs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gis.core.crs import geometries_to_wgs84, parse_crs
from gis.core.hierarchy import ALL_LEVELS, _level_fix
from gis.core.topology import (
    _SHP_NAMES,
    _WGS84,
    COUNTS,
    PROBLEM_COLUMNS,
    PROPERTIES,
    _as_multipolygon,
    _in_range,
    _is_wgs84,
    _made_valid,
    _Metric,
    _reason,
    _with_properties,
)
from gis.errors import InputError

_DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG",
            ".shp": "ESRI Shapefile"}
_FILE_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
                pyogrio.errors.FieldError, pyogrio.errors.GeometryError,
                pyogrio.errors.CRSError, OSError)
# What a damaged file can make the reading raise besides: GEOS refusing a geometry's
# bytes (a ring that does not close), a value that cannot be decoded (ValueError).
_DAMAGED_FILE_ERRORS = (shapely.errors.ShapelyError, ValueError)
_FORMATS_FIX = "use a .geojson, .json, .gpkg or .shp file"


# -- reading and writing ---------------------------------------------------------


def grids_from_file(path: str | Path, *, crs: str = "wgs84", fix: bool = False
                    ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read a grid layer from GeoJSON, GeoPackage or Shapefile.

    Parameters
    ----------
    path
        A ``.geojson``/``.json``, ``.gpkg`` or ``.shp`` file whose features
        carry ``code``, ``name``, ``level`` and ``parent_code`` (empty for the
        district; optional for exclusive grids), and optionally
        ``households`` and ``population``.
    crs
        The CRS of the coordinates: ``wgs84`` (default), ``gcj02``, ``bd09``
        or ``EPSG:<code>`` (see :func:`gis.crs.parse_crs`).  Left at
        ``wgs84``, a file that declares another CRS (say a GeoPackage in
        EPSG:32649) is read in its own CRS.
    fix
        Repair invalid geometries with :func:`shapely.make_valid`, keeping
        their polygonal parts, and say so in the notes.

    Returns
    -------
    grids : GeoDataFrame
        One row per feature, in file order: ``code``, ``name``, ``level``,
        ``parent_code`` as text or None (a numeric code column comes back as
        ``'410102001'``, never ``'410102001.0'``), ``households`` and
        ``population`` (nullable integers when every value is a whole
        number, otherwise as given, for :func:`validate_grids` to report),
        and MultiPolygon geometries in lon/lat degrees, WGS-84 (EPSG:4326).
        Levels are not checked here; :func:`validate_grids` does that.
    notes : list of str
        What was done to the data, e.g. ``"line 3 (code 101): made valid:
        self-intersection at 113.610000,34.750000; area changed 12.3 m²"``.

    Raises
    ------
    InputError
        For an unknown extension, a missing or unreadable file, or a missing
        property.
    """
    path = Path(path)
    _driver_for(path)
    name = parse_crs(crs)
    if not path.exists():
        raise InputError(f"no such file: {path}", fix="check the path")
    notes: list[str] = []
    try:
        layers = pyogrio.list_layers(path)
        names = [str(name) for name in layers[:, 0]] if len(layers) else []
        layer = "grids" if "grids" in names else (names[0] if names else None)
        if len(names) > 1:
            notes.append(f"{path.name} has {len(names)} layers; read '{layer}'")
        with warnings.catch_warnings():
            # A property holding numbers and text is typed JSON by GDAL and left
            # as text by geopandas, which is what _with_properties wants.
            warnings.filterwarnings("ignore", message="Could not parse column",
                                    category=UserWarning)
            frame = gpd.read_file(path, engine="pyogrio", layer=layer)
    except (*_FILE_ERRORS, *_DAMAGED_FILE_ERRORS) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {path.name}: {reason}",
                         fix=f"check that it is a valid {_DRIVERS[path.suffix.lower()]} "
                             "file (open it in QGIS) or export it again") from None
    if not len(frame):
        raise InputError(f"{path.name} has no features",
                         fix="export the grid layer again, with its features")
    frame = _with_properties(frame, source=path.name)

    geoms = np.asarray(frame.geometry.array, dtype=object)
    file_crs = frame.crs
    if name == "wgs84" and file_crs is not None and not _is_wgs84(file_crs):
        epsg = file_crs.to_epsg()
        notes.append(f"{path.name} declares {file_crs.name}"
                     f"{f' (EPSG:{epsg})' if epsg else ''}; converted it to WGS-84")
        if epsg:
            name = parse_crs(f"EPSG:{epsg}")
        else:
            # gis.crs speaks EPSG codes only; a custom CRS goes through geopandas.
            geoms = np.asarray(frame.geometry.to_crs(_WGS84).array, dtype=object)
    if name != "wgs84":
        geoms = geometries_to_wgs84(geoms, crs=name)
    geoms = np.array([_as_multipolygon(g) for g in geoms], dtype=object)
    if fix:
        geoms, fixed = _repair(geoms, frame["code"].to_numpy(dtype=object))
        notes.extend(fixed)
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=_WGS84))
    return frame, notes


def _driver_for(path: Path) -> str:
    driver = _DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError(f"cannot tell the format of {path.name} from its extension "
                         f"{path.suffix or '(none)'!r}", fix=_FORMATS_FIX)
    return driver


def _repair(geoms: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """make_valid the invalid polygonal geometries; one note per repair."""
    geoms = geoms.copy()
    polygonal = np.array([g is not None and g.geom_type in ("Polygon", "MultiPolygon")
                          for g in geoms], dtype=bool)
    todo = np.flatnonzero(polygonal & _in_range(geoms) & ~shapely.is_valid(geoms))
    if not len(todo):
        return geoms, []
    before = geoms[todo]
    after = np.array([_made_valid(g) for g in before], dtype=object)
    metric = _Metric(before)
    notes = []
    for row, old, new, old_area, new_area in zip(todo, before, after, metric.areas(before),
                                                 metric.areas(after)):
        what = f"line {row + 1} (code {codes[row] or '?'})"
        reason = _reason(old)
        if new is None:
            notes.append(f"{what}: cannot be made valid: {reason}; nothing polygonal is "
                         "left, so it was kept as it is; redraw it")
            continue
        geoms[row] = new
        notes.append(f"{what}: made valid: {reason}; "
                     f"area changed {abs(new_area - old_area):,.1f} m²")
    return geoms, notes


def grids_to_file(grids: gpd.GeoDataFrame, path: str | Path, *, level: str | None = None,
                  extra: Sequence[str] = ()) -> int:
    """Write grids to GeoJSON, GeoPackage or Shapefile, chosen by extension.

    Parameters
    ----------
    grids
        Grids as :func:`grids_from_file` returns them (geometries in degrees,
        WGS-84; another ``crs`` is reprojected).
    path
        ``.geojson``/``.json``, ``.gpkg`` (layer ``grids``) or ``.shp``
        (``parent_code`` is stored as ``parent_cod``, the DBF limit, and read
        back under its full name).  An existing file is replaced.
    level
        Write only grids of this level.
    extra
        Columns written after the grid properties (e.g. a proposal's ``expected_cases``).

    Returns
    -------
    int
        The number of features written.

    Raises
    ------
    InputError
        For an unknown extension or level, or a frame without the grid
        properties.
    """
    path = Path(path)
    driver = _driver_for(path)
    if level is not None and level not in ALL_LEVELS:
        raise InputError(f"unknown level {level!r}", field="level", fix=_level_fix(level))
    frame = _with_properties(grids, source="the layer")
    for column in extra:
        if column in grids:
            frame[column] = grids[column].to_numpy()
    if level is not None:
        frame = frame[frame["level"] == level]
    frame = frame[list(PROPERTIES + COUNTS) + [c for c in extra if c in frame] + [frame.geometry.name]]
    frame = frame.to_crs(_WGS84) if frame.crs is not None else frame.set_crs(_WGS84)
    geoms = [_as_multipolygon(g) for g in frame.geometry]
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=_WGS84))
    for prop in PROPERTIES:
        # All-missing object columns have no type to infer; say they are text.
        frame[prop] = frame[prop].astype("string")
    if driver == "ESRI Shapefile":
        frame = frame.rename(columns=_SHP_NAMES)
    options = {"layer": "grids"} if driver == "GPKG" else {}
    if driver == "ESRI Shapefile":
        options["encoding"] = "UTF-8"
    try:
        frame.to_file(path, driver=driver, engine="pyogrio",
                      geometry_type="MultiPolygon", **options)
    except _FILE_ERRORS as exc:
        raise InputError(f"cannot write {path}: {str(exc).splitlines()[0]}",
                         fix="check that the folder exists and is writable") from None
    return len(frame)


def problems_to_geojson(problems: gpd.GeoDataFrame, path: str | Path) -> int:
    """Write problems to a GeoJSON file, to open beside the layer in QGIS.

    Parameters
    ----------
    problems
        What :func:`validate_grids` returns; geometries in degrees, WGS-84.
    path
        The file to write (replaced if it exists).

    Returns
    -------
    int
        The number of features written.
    """
    frame = gpd.GeoDataFrame(problems[list(PROBLEM_COLUMNS)].copy(), geometry="geometry",
                             crs=_WGS84)
    for column in ("severity", "kind", "code", "other_code", "message"):
        frame[column] = frame[column].astype("string")
    try:
        frame.to_file(Path(path), driver="GeoJSON", engine="pyogrio")
    except _FILE_ERRORS as exc:
        raise InputError(f"cannot write {path}: {str(exc).splitlines()[0]}",
                         fix="check that the folder exists and is writable") from None
    return len(frame)


def version_diff_to_file(changes: gpd.GeoDataFrame, cases: pd.DataFrame, path: str | Path) -> list[Path]:
    """Write two versions' differences for QGIS or Excel: the changed grids
    (:data:`gis.core.versions.CHANGE_COLUMNS`) and the open cases that would change hands.

    ``.gpkg`` holds both, as layers ``grid_changes`` and ``case_moves`` (a table);
    ``.geojson``/``.json`` holds the grids, with the cases beside it as ``<name>_cases.csv``
    (UTF-8 with BOM, codes as text). Returns the files written.
    """
    path = Path(path)
    driver = _driver_for(path)
    if driver not in ("GPKG", "GeoJSON"):
        raise InputError(f"cannot write a version diff to {path.name}", field="out",
                         fix="use a .gpkg (both tables) or .geojson (grids, with a _cases.csv beside it) file")
    frame = changes.copy()
    for column in ("code", "name", "level", "parent_code", "change", "change_zh"):
        frame[column] = frame[column].astype("string")
    frame = frame.set_geometry(gpd.GeoSeries([_as_multipolygon(g) for g in frame.geometry], index=frame.index,
                                             crs=_WGS84))
    table = cases.astype("string")
    try:
        if driver == "GPKG":
            frame.to_file(path, driver="GPKG", layer="grid_changes", engine="pyogrio", geometry_type="MultiPolygon")
            pyogrio.write_dataframe(table, path, layer="case_moves", driver="GPKG", append=True)
            return [path]
        frame.to_file(path, driver="GeoJSON", engine="pyogrio", geometry_type="MultiPolygon")
    except _FILE_ERRORS as exc:
        raise InputError(f"cannot write {path}: {str(exc).splitlines()[0]}",
                         fix="check that the folder exists and is writable") from None
    beside = path.with_name(f"{path.stem}_cases.csv")
    table.to_csv(beside, index=False, encoding="utf-8-sig")
    return [path, beside]
