"""Coordinate conversions between WGS-84, GCJ-02, BD-09 and EPSG systems.

Everything is stored as WGS-84 (EPSG:4326), but Chinese map services publish
offset coordinates: GCJ-02 ("Mars coordinates", required by GB 20263 for maps
published in China; used by Amap/高德 and Tencent/腾讯) and BD-09 (Baidu/百度,
a further offset of GCJ-02).  The GCJ-02 and BD-09 formulas are not an open
standard; the ones here are the widely published reverse-engineered versions
(eviltransform, wandergis/coordTransform), with their constants.

Point functions take scalars or array-likes of lon, lat in degrees and return
a tuple ``(lon, lat)``: Python floats for scalar input, otherwise float64
ndarrays of the broadcast input shape.  NaN in gives NaN out, never an error.
Pure numpy: no database, no streamlit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike

from gis.errors import InputError

__all__ = [
    "CRS_NAMES", "parse_crs", "out_of_china",
    "wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02",
    "wgs84_to_bd09", "bd09_to_wgs84", "to_wgs84", "from_wgs84",
    "geometry_to_wgs84", "geometry_from_wgs84",
    "geometries_to_wgs84", "geometries_from_wgs84",
    "utm_epsg_for", "to_metric",
]

CRS_NAMES = ("wgs84", "gcj02", "bd09")

# Constants of the public GCJ-02 / BD-09 algorithms: the Krasovsky 1940
# ellipsoid (semi-major axis in m, first eccentricity squared) and Baidu's x_pi.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

# The inverse iterations stop when no coordinate moves more than this
# (degrees; 1e-10 deg is about 0.01 mm) or after _MAX_ITER rounds.  The offset
# changes by less than ~1e-2 deg per degree, so each round gains >2 digits
# (5 rounds in practice); only at the cusp of sqrt(|lon - 105|) in the formula
# is convergence slower, and the error there is still about 1e-6 m.
_TOL_DEG = 1e-10
_MAX_ITER = 10

_ALIASES = {
    "wgs84": "wgs84", "4326": "wgs84", "epsg:4326": "wgs84",
    "gcj02": "gcj02", "amap": "gcj02", "tencent": "gcj02",
    "bd09": "bd09", "baidu": "bd09",
}
_EPSG = re.compile(r"(?:epsg:)?(\d+)")
_CRS_FIX = "use wgs84, gcj02 (Amap, Tencent), bd09 (Baidu) or EPSG:<code>"

Coords = tuple[np.ndarray | float, np.ndarray | float]


def parse_crs(text: str) -> str:
    """Normalise a user's CRS name.

    Parameters
    ----------
    text
        ``'wgs84'``, ``'WGS-84'``, ``'EPSG:4326'`` or ``'4326'``; ``'gcj02'``,
        ``'GCJ-02'``, ``'amap'`` or ``'tencent'``; ``'bd09'``, ``'BD-09'`` or
        ``'baidu'``; or any other EPSG code as ``'EPSG:<code>'`` or a bare
        integer.  Case, spaces, ``-`` and ``_`` are ignored.

    Returns
    -------
    str
        One of :data:`CRS_NAMES`, or ``'EPSG:<code>'`` for a horizontal
        (geographic or projected) CRS known to PROJ.

    Raises
    ------
    InputError
        For anything else (``field='crs'``).
    """
    key = re.sub(r"[\s_-]", "", str(text)).lower()
    if key in _ALIASES:
        return _ALIASES[key]
    match = _EPSG.fullmatch(key)
    if match is None:
        raise InputError(f"unknown CRS {text!r}", field="crs", fix=_CRS_FIX)
    code = int(match.group(1))
    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError:
        raise InputError(f"unknown CRS {text!r} (no such EPSG code)",
                         field="crs", fix=_CRS_FIX) from None
    if not (crs.is_geographic or crs.is_projected):
        raise InputError(f"CRS {text!r} ({crs.name}) is not a horizontal CRS",
                         field="crs", fix=_CRS_FIX)
    return "wgs84" if code == 4326 else f"EPSG:{code}"


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """Whether points lie outside the GCJ-02 box of the public algorithm.

    Parameters
    ----------
    lon, lat
        Degrees (WGS-84 or GCJ-02; the box is too coarse to tell them apart).

    Returns
    -------
    ndarray of bool
        True outside lon 72.004..137.8347, lat 0.8293..55.8271 (a rectangle,
        so it also covers neighbours such as Mongolia and parts of Japan).
        NaN counts as inside, so NaN flows on through the formulas.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _pointwise(func: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
               ) -> Callable[..., Coords]:
    """Wrap an array kernel: broadcast float inputs, floats out for scalars."""

    @functools.wraps(func)
    def wrapper(lon: ArrayLike, lat: ArrayLike, **options) -> Coords:
        lon_arr, lat_arr = np.broadcast_arrays(np.asarray(lon, dtype=float),
                                               np.asarray(lat, dtype=float))
        x, y = func(lon_arr, lat_arr, **options)
        if lon_arr.ndim == 0:
            return float(x), float(y)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    return wrapper


def _gcj02_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees, ignoring the box.

    The public reverse-engineered formula (eviltransform ``transform``,
    wandergis ``_transformlng/_transformlat``): a polynomial-plus-sines shift in
    metres-like units, scaled to degrees on the Krasovsky ellipsoid.
    """
    x, y = lon - 105.0, lat - 35.0
    waves = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
             + 0.2 * np.sqrt(np.abs(x)) + waves
             + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y
             + 0.1 * np.sqrt(np.abs(x)) + waves
             + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = d_lon * 180.0 / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


@_pointwise
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """WGS-84 to GCJ-02 (Amap, Tencent).

    Parameters
    ----------
    lon, lat
        Degrees, WGS-84; scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in degrees, GCJ-02; floats for scalar input, else
        float64 arrays.  Points outside China (:func:`out_of_china`) are
        returned unchanged, as in the public algorithm.
    """
    d_lon, d_lat = _gcj02_offset(lon, lat)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + d_lon), np.where(outside, lat, lat + d_lat)


@_pointwise
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """GCJ-02 (Amap, Tencent) to WGS-84, the exact inverse of the forward formula.

    The public one-step inverse (subtract the offset at the GCJ point) is off
    by up to a few metres; here a fixed-point iteration
    ``w <- w - (gcj(w) - g)`` runs until it moves less than 1e-10 degrees
    (about 0.01 mm), typically in 3-4 rounds.

    Parameters
    ----------
    lon, lat
        Degrees, GCJ-02; scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in degrees, WGS-84; floats for scalar input, else
        float64 arrays.  Points outside China are returned unchanged; the box
        is tested on the GCJ-02 input, as in the public algorithm, which can
        only disagree with the forward test within ~1 km of the box edge.
    """
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(_MAX_ITER):
        d_lon, d_lat = _gcj02_offset(w_lon, w_lat)
        step_lon = w_lon + d_lon - lon
        step_lat = w_lat + d_lat - lat
        w_lon, w_lat = w_lon - step_lon, w_lat - step_lat
        # NaN compares False, so NaN points do not hold the loop up.
        if not np.any((np.abs(step_lon) > _TOL_DEG) | (np.abs(step_lat) > _TOL_DEG)):
            break
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, w_lon), np.where(outside, lat, w_lat)


def _bd09_from_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Baidu's published formula: a small polar-coordinate wobble plus a shift.
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


@_pointwise
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """GCJ-02 to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        Degrees, GCJ-02; scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in degrees, BD-09; floats for scalar input, else
        float64 arrays.  Like the public algorithm, the BD-09 offset applies
        everywhere, with no out-of-China box.
    """
    return _bd09_from_gcj02(lon, lat)


@_pointwise
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """BD-09 (Baidu) to GCJ-02, the exact inverse of :func:`gcj02_to_bd09`.

    Starts from Baidu's published closed-form inverse (good to about 1 m) and
    refines it by fixed-point iteration to below 1e-10 degrees.

    Parameters
    ----------
    lon, lat
        Degrees, BD-09; scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in degrees, GCJ-02; floats for scalar input, else
        float64 arrays.  Applied everywhere, like :func:`gcj02_to_bd09`.
    """
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_MAX_ITER):
        b_lon, b_lat = _bd09_from_gcj02(g_lon, g_lat)
        step_lon, step_lat = b_lon - lon, b_lat - lat
        g_lon, g_lat = g_lon - step_lon, g_lat - step_lat
        if not np.any((np.abs(step_lon) > _TOL_DEG) | (np.abs(step_lat) > _TOL_DEG)):
            break
    return g_lon, g_lat


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """WGS-84 to BD-09 (Baidu), through GCJ-02.

    Parameters
    ----------
    lon, lat
        Degrees, WGS-84; scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in degrees, BD-09; floats for scalar input, else
        float64 arrays.  Outside China only the BD-09 step applies.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coords:
    """BD-09 (Baidu) to WGS-84, through GCJ-02; exact inverse of :func:`wgs84_to_bd09`.

    Parameters
    ----------
    lon, lat
        Degrees, BD-09; scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in degrees, WGS-84; floats for scalar input, else
        float64 arrays.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


@functools.lru_cache(maxsize=32)
def _transformer(source: str, target: str) -> pyproj.Transformer:
    # Transformers are thread-safe since pyproj 3.1, so one per pair is shared.
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


@_pointwise
def _epsg_transform(x: np.ndarray, y: np.ndarray, *, source: str, target: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    tx, ty = _transformer(source, target).transform(x, y)
    tx, ty = np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)
    # PROJ answers inf for points it cannot transform; NaN is our "no value".
    bad = ~(np.isfinite(tx) & np.isfinite(ty))
    return np.where(bad, np.nan, tx), np.where(bad, np.nan, ty)


@_pointwise
def _same(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lon.copy(), lat.copy()


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def to_wgs84(lon: ArrayLike, lat: ArrayLike, *, crs: str) -> Coords:
    """Convert coordinates in ``crs`` to WGS-84.

    Parameters
    ----------
    lon, lat
        Coordinates in ``crs``: degrees for wgs84, gcj02, bd09 and geographic
        EPSG codes; easting and northing in the CRS's unit (usually metres)
        for projected EPSG codes.
    crs
        Anything :func:`parse_crs` accepts.

    Returns
    -------
    tuple
        ``(lon, lat)`` in degrees, WGS-84; floats for scalar input, else
        float64 arrays.  Points PROJ cannot transform come back as NaN.
    """
    name = parse_crs(crs)
    if name == "wgs84":
        return _same(lon, lat)
    if name in _TO_WGS84:
        return _TO_WGS84[name](lon, lat)
    return _epsg_transform(lon, lat, source=name, target="EPSG:4326")


def from_wgs84(lon: ArrayLike, lat: ArrayLike, *, crs: str) -> Coords:
    """Convert WGS-84 coordinates to ``crs``.

    Parameters
    ----------
    lon, lat
        Degrees, WGS-84.
    crs
        Anything :func:`parse_crs` accepts.

    Returns
    -------
    tuple
        Coordinates in ``crs`` (degrees, or easting/northing for projected
        EPSG codes); floats for scalar input, else float64 arrays.
    """
    name = parse_crs(crs)
    if name == "wgs84":
        return _same(lon, lat)
    if name in _FROM_WGS84:
        return _FROM_WGS84[name](lon, lat)
    return _epsg_transform(lon, lat, source="EPSG:4326", target=name)


def _transform_geometries(geoms, convert: Callable[..., Coords]):
    # One vectorised call over every coordinate of every geometry; Z is
    # dropped, as the store keeps 2-D geometries.
    return shapely.transform(geoms, lambda xy: np.column_stack(convert(xy[:, 0], xy[:, 1])),
                             include_z=False)


def geometry_to_wgs84(geom: shapely.Geometry, *, crs: str) -> shapely.Geometry:
    """Convert one shapely geometry from ``crs`` to WGS-84 (2-D; structure kept).

    Parameters
    ----------
    geom
        Coordinates in ``crs`` (see :func:`to_wgs84`).
    crs
        Anything :func:`parse_crs` accepts.

    Returns
    -------
    shapely.Geometry
        Same type and parts, lon/lat in degrees, WGS-84.
    """
    name = parse_crs(crs)
    return _transform_geometries(geom, functools.partial(to_wgs84, crs=name))


def geometry_from_wgs84(geom: shapely.Geometry, *, crs: str) -> shapely.Geometry:
    """Convert one shapely geometry from WGS-84 to ``crs`` (2-D; structure kept).

    Parameters
    ----------
    geom
        lon/lat in degrees, WGS-84.
    crs
        Anything :func:`parse_crs` accepts.

    Returns
    -------
    shapely.Geometry
        Same type and parts, coordinates in ``crs``.
    """
    name = parse_crs(crs)
    return _transform_geometries(geom, functools.partial(from_wgs84, crs=name))


def _geopandas_crs(name: str) -> str | None:
    # GCJ-02 and BD-09 have no EPSG code; labelling them 4326 would be a lie.
    return "EPSG:4326" if name == "wgs84" else name if name.startswith("EPSG:") else None


def geometries_to_wgs84(geoms: np.ndarray | gpd.GeoSeries, *, crs: str
                        ) -> np.ndarray | gpd.GeoSeries:
    """Convert an array or GeoSeries of geometries from ``crs`` to WGS-84.

    Parameters
    ----------
    geoms
        Geometries with coordinates in ``crs``; None and empty are kept.  A
        GeoSeries's own ``crs`` is ignored: the ``crs`` option decides, since
        GCJ-02 files often claim to be EPSG:4326.
    crs
        Anything :func:`parse_crs` accepts.

    Returns
    -------
    ndarray or GeoSeries
        The same type: an object array, or a GeoSeries with the same index
        and name and ``crs`` EPSG:4326.  Coordinates in degrees, WGS-84, 2-D.
    """
    name = parse_crs(crs)
    converted = _transform_geometries(np.asarray(geoms, dtype=object),
                                      functools.partial(to_wgs84, crs=name))
    if isinstance(geoms, gpd.GeoSeries):
        return gpd.GeoSeries(converted, index=geoms.index, name=geoms.name, crs="EPSG:4326")
    return converted


def geometries_from_wgs84(geoms: np.ndarray | gpd.GeoSeries, *, crs: str
                          ) -> np.ndarray | gpd.GeoSeries:
    """Convert an array or GeoSeries of WGS-84 geometries to ``crs``.

    Parameters
    ----------
    geoms
        Geometries with lon/lat in degrees, WGS-84; None and empty are kept.
    crs
        Anything :func:`parse_crs` accepts.

    Returns
    -------
    ndarray or GeoSeries
        The same type: an object array, or a GeoSeries with the same index
        and name, whose ``crs`` is the EPSG code (EPSG:4326 for wgs84) or
        None for gcj02 and bd09, which have no EPSG code.  2-D.
    """
    name = parse_crs(crs)
    converted = _transform_geometries(np.asarray(geoms, dtype=object),
                                      functools.partial(from_wgs84, crs=name))
    if isinstance(geoms, gpd.GeoSeries):
        return gpd.GeoSeries(converted, index=geoms.index, name=geoms.name,
                             crs=_geopandas_crs(name))
    return converted


def utm_epsg_for(lon: float, lat: float) -> int:
    """The WGS-84 / UTM zone EPSG code for a point, for metric work (m, m²).

    Parameters
    ----------
    lon, lat
        Degrees, WGS-84.

    Returns
    -------
    int
        326xx north of the equator, 327xx south (zones of 6 degrees from
        180°W; the Norway/Svalbard exceptions are ignored).  Zhengzhou
        (113.6, 34.75) gives 32649.

    Raises
    ------
    InputError
        When lon is outside -180..180 or lat outside -90..90 (or NaN).
    """
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        raise InputError(f"cannot pick a UTM zone for lon {lon}, lat {lat}",
                         fix="give WGS-84 degrees, lon in -180..180 and lat in -90..90")
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def to_metric(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Project a WGS-84 GeoSeries to the UTM zone of the centre of its bounds.

    Parameters
    ----------
    geoms
        Geometries in degrees, WGS-84 (a GeoSeries without ``crs`` is taken
        to be EPSG:4326; one with another ``crs`` is reprojected from it).

    Returns
    -------
    GeoSeries
        Coordinates in metres, WGS-84 / UTM (e.g. EPSG:32649 for Zhengzhou),
        so ``.area`` is m² and ``.length`` and distances are m.

    Raises
    ------
    InputError
        When there are no coordinates to choose a zone from.
    """
    wgs = geoms.set_crs("EPSG:4326") if geoms.crs is None else geoms.to_crs("EPSG:4326")
    min_lon, min_lat, max_lon, max_lat = wgs.total_bounds
    if not np.isfinite([min_lon, min_lat, max_lon, max_lat]).all():
        raise InputError("cannot project a layer without coordinates to metres",
                         fix="give at least one non-empty geometry")
    return wgs.to_crs(utm_epsg_for((min_lon + max_lon) / 2.0, (min_lat + max_lat) / 2.0))
