"""Topology checks of a grid layer: geometry, nesting, gaps, overlaps, slivers (pure).

A street office's grids (网格化管理) nest five levels deep, district (区) →
street (街道) → community (社区/村) → grid (三级网格) → micro-grid (微网格),
beside exclusive grids (专属网格: a mall, a school, a hospital) that overlay
the tree and may cross community and street lines.  Incidents are assigned
to micro-grids, so the checks here look for what breaks that assignment:
invalid rings, children outside their parents, siblings that overlap, and
places that no child covers.

Everything here is pure: frames in, frames out, no database and no
streamlit.  Geometries are MultiPolygons in lon/lat degrees, WGS-84
(EPSG:4326); every area or tolerance is in m², measured in the layer's UTM
zone (:func:`gis.crs.to_metric`), never in square degrees.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Collection

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gis.core.crs import geometries_to_wgs84, parse_crs, to_metric
from gis.core.hierarchy import (
    ALL_LEVELS,
    LEVEL_NAMES_ZH,
    LEVELS,
    _level_fix,
    parent_level,
)
from gis.errors import InputError

# Every kind validate_grids reports, in the order problems are listed.
PROBLEM_KINDS = (
    "missing_value", "bad_level", "empty_geometry", "invalid_geometry",
    "swapped_coordinates", "bad_number", "duplicate_code", "unknown_parent",
    "wrong_parent_level", "looks_gcj02", "outside_parent", "overlap",
    "gap", "sliver",
)
PROBLEM_COLUMNS = ("severity", "kind", "code", "other_code", "area_m2", "message", "geometry")

PROPERTIES = ("code", "name", "level", "parent_code")
COUNTS = ("households", "population")

_WGS84 = "EPSG:4326"
# DBF field names stop at 10 characters, so Shapefiles carry 'parent_cod'.
_SHP_NAMES = {"parent_code": "parent_cod"}
# The grid table stores counts as PostgreSQL integer.
_MAX_COUNT = 2**31 - 1
# A gap piece narrower than this on average (2·area/perimeter) is a
# digitising sliver between two edges that should coincide, not a road.
_THIN_WIDTH_M = 1.0
# looks_gcj02: reading a child as GCJ-02 must remove at least 90 % of what
# sticks out (the GCJ-02 shift is hundreds of metres, so chance fits are rare).
_GCJ_FIT_SHARE = 0.1
# Levels in running text.
_NOUNS = {"district": "district", "street": "street", "community": "community",
          "grid": "grid", "micro": "micro-grid", "exclusive": "exclusive grid"}
# Lon/lat of China read the wrong way round: lat 18..54 as x, lon 73..135 as y.
_CHINA_LAT = (18.0, 54.0)
_CHINA_LON = (73.0, 135.0)


def _is_wgs84(crs: pyproj.CRS) -> bool:
    # GeoJSON says OGC:CRS84 (lon, lat), which is EPSG:4326 up to axis order.
    return crs.equals("EPSG:4326", ignore_axis_order=True) or crs.to_epsg() == 4326


def _with_properties(frame: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    """A copy with the grid properties only, cleaned; InputError names a missing one."""
    frame = frame.copy()
    columns = {str(c).lower(): c for c in frame.columns if c != frame.geometry.name}
    renames = {}
    for prop in PROPERTIES + COUNTS:
        if prop in frame.columns:
            continue
        for alias in (prop, _SHP_NAMES.get(prop)):
            if alias and alias in columns:
                renames[columns[alias]] = prop
                break
    frame = frame.rename(columns=renames)
    for prop in PROPERTIES:
        if prop not in frame.columns:
            found = ", ".join(str(c) for c in frame.columns if c != frame.geometry.name)
            empty = " (empty for the district)" if prop == "parent_code" else ""
            raise InputError(f"{source} has no '{prop}' property (it has: {found or 'none'})",
                             field=prop,
                             fix=f"add '{prop}' to every feature{empty}; the properties are "
                                 f"{', '.join(PROPERTIES)}")
    for prop in PROPERTIES:
        frame[prop] = pd.Series([_as_text(v) for v in frame[prop]], index=frame.index,
                                dtype=object)
    frame["level"] = pd.Series([v.lower() if v else v for v in frame["level"]],
                               index=frame.index, dtype=object)
    for prop in COUNTS:
        values = frame[prop] if prop in frame.columns else [None] * len(frame)
        frame[prop] = _as_counts(values, index=frame.index)
    return frame[list(PROPERTIES + COUNTS) + [frame.geometry.name]]


def _as_text(value: object) -> str | None:
    """A code or name as text; numbers read from a numeric column lose their '.0'."""
    if type(value) is str:
        return value.strip() or None
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    return text or None


def _as_count(value: object) -> object:
    """A whole number as int, missing as None, anything else unchanged."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return int(value)
    return value


def _as_counts(values, *, index) -> pd.Series:
    if isinstance(values, pd.Series) and pd.api.types.is_signed_integer_dtype(values.dtype):
        # Whole numbers already (int64, Int64): only the range needs a look.
        present = values.dropna()
        if not len(present) or (present.min() >= 0 and present.max() <= _MAX_COUNT):
            return pd.Series(values.astype("Int64").array, index=index)
    counts = [_as_count(v) for v in values]
    if all(v is None or (type(v) is int and 0 <= v <= _MAX_COUNT) for v in counts):
        return pd.Series(pd.array(counts, dtype="Int64"), index=index)
    return pd.Series(counts, index=index, dtype=object)


def _as_multipolygon(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """Polygons and collections of polygons as MultiPolygon; anything else as given."""
    if geom is None or geom.geom_type not in ("Polygon", "GeometryCollection"):
        return geom
    if geom.is_empty:
        return shapely.MultiPolygon()
    if not set(shapely.get_type_id(shapely.get_parts(geom))) <= {3, 6}:
        return geom  # lines or points inside: validate_grids says so
    return _polygonal(geom)


def _polygonal(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """The polygonal parts of a geometry as one MultiPolygon, or None."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type == "MultiPolygon":
        return geom
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polygons) if polygons else None


def _made_valid(geom: shapely.Geometry) -> shapely.Geometry | None:
    # 'structure' keeps what every ring encloses (a bow-tie keeps both lobes)
    # instead of re-noding lines, and drops collapsed parts.
    return _polygonal(shapely.make_valid(geom, method="structure", keep_collapsed=False))


_REASON = re.compile(r"^(?P<what>.*?)\s*\[(?P<x>\S+)\s+(?P<y>\S+)\]\s*$")


def _reason(geom: shapely.Geometry) -> str:
    """shapely's validity reason as 'self-intersection at lon,lat'."""
    text = shapely.is_valid_reason(geom) or "invalid"
    match = _REASON.match(text)
    if not match:
        return text[:1].lower() + text[1:]
    what = match["what"][:1].lower() + match["what"][1:]
    try:
        return f"{what} at {_lonlat(float(match['x']), float(match['y']))}"
    except ValueError:
        return what


def _reason_point(geom: shapely.Geometry) -> shapely.Point | None:
    match = _REASON.match(shapely.is_valid_reason(geom) or "")
    try:
        return shapely.Point(float(match["x"]), float(match["y"])) if match else None
    except ValueError:
        return None


# -- validation ------------------------------------------------------------------


class _Metric:
    """Areas and lengths in one UTM zone for a whole layer (m², m)."""

    def __init__(self, geoms: np.ndarray) -> None:
        present = geoms[_in_range(geoms)]
        self.crs = None
        if len(present):
            # to_metric picks the zone from the centre of the bounds, so the
            # bounding box alone tells it the zone for the whole layer.
            extent = shapely.box(*shapely.total_bounds(present))
            self.crs = to_metric(gpd.GeoSeries([extent], crs=_WGS84)).crs

    def _project(self, geoms: np.ndarray) -> gpd.GeoSeries:
        return gpd.GeoSeries(np.asarray(geoms, dtype=object), crs=_WGS84).to_crs(self.crs)

    def areas(self, geoms: np.ndarray) -> np.ndarray:
        """m²; 0 for missing and empty geometries."""
        return self.areas_lengths(geoms)[0]

    def areas_lengths(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """m² and m (perimeter); 0 for missing and empty geometries."""
        if self.crs is None or not len(geoms):
            return np.zeros(len(geoms)), np.zeros(len(geoms))
        projected = self._project(geoms)
        return (np.nan_to_num(projected.area.to_numpy(dtype=float)),
                np.nan_to_num(projected.length.to_numpy(dtype=float)))


def _in_range(geoms: np.ndarray) -> np.ndarray:
    """Non-empty and inside lon -180..180, lat -90..90."""
    geoms = np.asarray(geoms, dtype=object)
    return _bounds_within(shapely.bounds(geoms), 180, 90)


def _bounds_within(bounds: np.ndarray, max_x: float, max_y: float) -> np.ndarray:
    """Rows of (minx, miny, maxx, maxy) inside ±max_x, ±max_y; NaN (empty) is not."""
    with np.errstate(invalid="ignore"):
        return ((bounds[:, 0] >= -max_x) & (bounds[:, 2] <= max_x)
                & (bounds[:, 1] >= -max_y) & (bounds[:, 3] <= max_y))


def _lonlat(x: float, y: float) -> str:
    # 6 decimals of a degree is about 0.1 m: enough to find the spot on a map.
    return f"{x:.6f},{y:.6f}"


def _spot(geom: shapely.Geometry | None) -> str:
    if geom is None or geom.is_empty:
        return "(no location)"
    point = shapely.point_on_surface(geom)
    return _lonlat(point.x, point.y)


class _Findings:
    """Collects problems as rows."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, severity: str, kind: str, code: str | None, message: str, *,
            other_code: str | None = None, area_m2: float = math.nan,
            geometry: shapely.Geometry | None = None) -> None:
        self.rows.append({"severity": severity, "kind": kind, "code": code,
                          "other_code": other_code, "area_m2": float(area_m2),
                          "message": message, "geometry": geometry})

    def frame(self, *, strict: bool) -> gpd.GeoDataFrame:
        rows = sorted(self.rows, key=lambda r: (r["severity"] != "error",
                                                PROBLEM_KINDS.index(r["kind"]),
                                                r["code"] or "", r["other_code"] or ""))
        data = {column: [r[column] for r in rows] for column in PROBLEM_COLUMNS[:-1]}
        if strict:
            data["severity"] = ["error"] * len(rows)
        frame = gpd.GeoDataFrame(
            {c: pd.Series(v, dtype=float if c == "area_m2" else object)
             for c, v in data.items()},
            geometry=gpd.GeoSeries([r["geometry"] for r in rows], crs=_WGS84))
        return frame[list(PROBLEM_COLUMNS)]


def validate_grids(grids: gpd.GeoDataFrame, *, stored: gpd.GeoDataFrame | None = None,
                   declared_crs: str = "wgs84", tolerance_m2: float = 1.0,
                   sliver_m2: float = 50.0, strict: bool = False,
                   focus: Collection[str] | None = None) -> gpd.GeoDataFrame:
    """Check a grid layer: values, geometry, nesting, overlaps and gaps.

    Parameters
    ----------
    grids
        The layer, as :func:`grids_from_file` returns it: ``code``, ``name``,
        ``level``, ``parent_code`` (+ optional ``households``,
        ``population``), geometries in degrees, WGS-84.
    stored
        Grids already in the database, in the same shape.  They only supply
        parents (a micro-grid layer whose grids were imported before); a code
        in both is taken from ``grids``.
    declared_crs
        The CRS the layer was declared in when read.  When it is ``wgs84``,
        children that stick out of their parent but fit once read as GCJ-02
        are reported as ``looks_gcj02``.
    tolerance_m2
        Overlaps and overhangs up to this area (m²) are digitising noise.
    sliver_m2
        Grids smaller than this (m²) and gap pieces smaller than this, or
        thinner than 1 m on average, are reported as ``sliver``; larger gap
        pieces as ``gap``.
    strict
        Report warnings as errors.
    focus
        Codes of the grids under review (a redrawn area inside a layer that
        also holds its surroundings), or None for the whole layer.  Only
        problems that involve a focus grid are looked for and reported: the
        focus grids' values, geometry, code and parent; children that stick
        out of a focus grid or a focus grid out of its parent; overlaps of a
        focus grid with its siblings, focus or not; gaps and slivers in every
        parent that is a focus grid or holds one.  A feature without a code
        counts as a focus grid (a stored grid always has one).  With every
        code of the layer as the focus the result is the same as without.

    Returns
    -------
    GeoDataFrame
        One row a problem, errors first: ``severity`` ('error' or
        'warning'), ``kind`` (one of :data:`PROBLEM_KINDS`), ``code``,
        ``other_code`` (the sibling or parent involved), ``area_m2`` (NaN when
        no area applies), ``message`` (one line: the code(s), the area, the
        spot as lon,lat and the fix) and ``geometry``, the problem spot in
        degrees, WGS-84: the overlap, the gap, the part outside the parent,
        the point where a ring self-intersects, or the grid itself.  Empty
        when the layer is clean.

    Notes
    -----
    Errors: ``missing_value`` (empty code, name, level, or a parent_code
    where the level needs one), ``bad_level``, ``empty_geometry``,
    ``invalid_geometry`` (not polygonal, self-intersecting, or coordinates
    outside lon/lat range), ``swapped_coordinates``, ``bad_number``
    (households/population not a whole number ≥ 0), ``duplicate_code``,
    ``unknown_parent`` (neither in ``grids`` nor in ``stored``),
    ``wrong_parent_level``, ``looks_gcj02``, ``outside_parent`` and
    ``overlap`` (between siblings: same level and same parent).  Warnings:
    ``gap`` (part of a parent that none of its children in this layer covers)
    and ``sliver``.  Exclusive grids may overlap anything and cross any line,
    so only their values, geometry and parent reference are checked.
    Invalid rings take part in the topology checks in their made-valid form.

    Every check scales with the layer (a district of 50,000 micro-grids in a
    few seconds): siblings are first checked as a polygon coverage (GEOS
    ``CoverageValidator``), and only those whose edges do not match a
    neighbour's are intersected pairwise; a parent that its children's
    coverage union equals exactly has no gap and no child outside it.
    """
    checker = _Checker(grids, stored=stored, declared_crs=declared_crs,
                       tolerance_m2=tolerance_m2, sliver_m2=sliver_m2, focus=focus)
    checker.run()
    return checker.findings.frame(strict=strict)


class _Checker:
    """One validation run; rows are addressed by position (0-based)."""

    def __init__(self, grids: gpd.GeoDataFrame, *, stored: gpd.GeoDataFrame | None,
                 declared_crs: str, tolerance_m2: float, sliver_m2: float,
                 focus: Collection[str] | None = None) -> None:
        frame = _with_properties(_to_wgs84_frame(grids), source="the layer")
        self.codes = frame["code"].to_numpy(dtype=object)
        self.names = frame["name"].to_numpy(dtype=object)
        self.levels = frame["level"].to_numpy(dtype=object)
        self.parents = frame["parent_code"].to_numpy(dtype=object)
        # A column that _as_counts could type as Int64 holds only good counts.
        self.counts = {prop: (None if isinstance(frame[prop].dtype, pd.Int64Dtype)
                              else frame[prop].to_numpy(dtype=object)) for prop in COUNTS}
        self.geoms = np.asarray(frame.geometry.array, dtype=object)
        self.declared = parse_crs(declared_crs)
        self.tolerance_m2 = float(tolerance_m2)
        self.sliver_m2 = float(sliver_m2)
        self.findings = _Findings()
        self.stored = (_with_properties(_to_wgs84_frame(stored), source="the stored layer")
                       if stored is not None and len(stored) else None)
        # Filled by the geometry checks: the geometry each row takes into the
        # topology checks (made valid), or None when it cannot take part.
        self.shapes = np.full(len(self.geoms), None, dtype=object)
        # The focus: codes under review, or None for all.  A row without a
        # code cannot be a stored grid, so it is always under review.
        self.focus = (None if focus is None
                      else {c for c in (_as_text(v) for v in focus) if c is not None})
        self.in_focus = (np.ones(len(self.codes), dtype=bool) if self.focus is None else
                         np.array([c is None or c in self.focus for c in self.codes], dtype=bool))
        # Filled by sort_families: rows whose edges do not match their siblings'
        # (coverage-invalid), and parent codes whose children tile them exactly.
        self.mismatched = np.zeros(len(self.codes), dtype=bool)
        self.tiled: set[str] = set()

    # -- naming

    def who(self, row: int) -> str:
        code, level = self.codes[row], self.levels[row]
        if code is None:
            return f"feature {row + 1}"
        return f"{level} {code}" if level in ALL_LEVELS else f"feature {row + 1} (code {code})"

    def in_scope(self, code: str | None) -> bool:
        """Whether a problem naming this code (as code or other_code) is reported."""
        return self.focus is None or (code is not None and code in self.focus)

    def run(self) -> None:
        self.check_values()
        self.check_geometries()
        self.metric = _Metric(np.concatenate([self.shapes, self._stored_shapes()]))
        self.check_duplicates()
        links = self.check_parents()
        self.sort_families(links)
        self.check_containment(links)
        self.check_overlaps()
        self.check_gaps(links)
        self.check_slivers()

    # -- values

    def check_values(self) -> None:
        add = self.findings.add
        n = len(self.codes)
        missing_any = np.zeros(n, dtype=bool)
        for values in (self.codes, self.names, self.levels):
            missing_any |= np.array([v is None for v in values], dtype=bool)
        bad_level = np.array([v is not None and v not in ALL_LEVELS for v in self.levels],
                             dtype=bool)
        bad_counts = np.zeros(n, dtype=bool)
        for values in self.counts.values():
            if values is not None:
                bad_counts |= np.array([_bad_count(v) for v in values], dtype=bool)
        for row in np.flatnonzero((missing_any | bad_level | bad_counts) & self.in_focus):
            missing = [prop for prop, values in
                       (("code", self.codes), ("name", self.names), ("level", self.levels))
                       if values[row] is None]
            if missing:
                add("error", "missing_value", self.codes[row],
                    f"{self.who(row)} has no {' and no '.join(missing)}; give every grid "
                    "a code, a name and a level", geometry=self.geoms[row])
            level = self.levels[row]
            if bad_level[row]:
                add("error", "bad_level", self.codes[row],
                    f"{self.who(row)} has level {level!r}, not one of "
                    f"{', '.join(ALL_LEVELS)}; {_level_fix(level)}", geometry=self.geoms[row])
            for prop, values in self.counts.items():
                value = None if values is None else values[row]
                if _bad_count(value):
                    add("error", "bad_number", self.codes[row],
                        f"{self.who(row)} has {prop} {value!r}; {prop} must be a whole number "
                        f"from 0 to {_MAX_COUNT:,} or empty", geometry=self.geoms[row])

    # -- geometry

    def check_geometries(self) -> None:
        add = self.findings.add
        geoms = self.geoms
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        type_ids = shapely.get_type_id(geoms)
        polygonal = (type_ids == 3) | (type_ids == 6)
        bounds = shapely.bounds(geoms)
        in_range = _bounds_within(bounds, 180, 90)
        # |y| > 90 can only be a longitude; swapped back it must fit too.
        swappable = _bounds_within(bounds, 90, 180)
        with np.errstate(invalid="ignore"):
            china_swapped = ((bounds[:, 0] >= _CHINA_LAT[0]) & (bounds[:, 2] <= _CHINA_LAT[1])
                             & (bounds[:, 1] >= _CHINA_LON[0]) & (bounds[:, 3] <= _CHINA_LON[1]))
        swapped = ~missing & (china_swapped | (~in_range & swappable))
        valid = shapely.is_valid(geoms)
        usable = ~missing & polygonal & ~swapped & in_range
        good = usable & valid
        self.shapes[good] = geoms[good]
        # Every invalid ring is made valid, focus or not: it is a neighbour or
        # a parent of the rows under review.
        for row in np.flatnonzero(usable & ~valid):
            self.shapes[row] = _made_valid(geoms[row])
        for row in np.flatnonzero(~good & self.in_focus):
            geom = geoms[row]
            if missing[row]:
                add("error", "empty_geometry", self.codes[row],
                    f"{self.who(row)} has no geometry; draw its boundary or drop the feature")
            elif not polygonal[row]:
                add("error", "invalid_geometry", self.codes[row],
                    f"{self.who(row)} is a {geom.geom_type} at {_spot(geom)}; a grid boundary "
                    "must be a Polygon or MultiPolygon", geometry=geom)
            elif swapped[row]:
                back = shapely.transform(geom, lambda xy: xy[:, ::-1])
                x0, y0, x1, y1 = bounds[row]
                add("error", "swapped_coordinates", self.codes[row],
                    f"{self.who(row)} lies at x {x0:.4f}..{x1:.4f}, y {y0:.4f}..{y1:.4f}: "
                    f"lon and lat look swapped (as lon,lat it would be at {_spot(back)}); "
                    "write coordinates as lon,lat", geometry=back)
            elif not in_range[row]:
                x0, y0 = bounds[row, 0], bounds[row, 1]
                add("error", "invalid_geometry", self.codes[row],
                    f"{self.who(row)} has coordinates ({x0:.1f}, {y0:.1f}) outside lon "
                    "-180..180, lat -90..90; the file looks projected: read it with "
                    "--crs EPSG:<code>", geometry=None)
            else:
                point = _reason_point(geom)
                add("error", "invalid_geometry", self.codes[row],
                    f"{self.who(row)} has an invalid boundary: {_reason(geom)}; redraw it, "
                    "or import with --fix to apply make_valid",
                    geometry=point if point is not None else geom)

    def _stored_shapes(self) -> np.ndarray:
        if self.stored is None:
            return np.empty(0, dtype=object)
        geoms = np.asarray(self.stored.geometry.array, dtype=object)
        return geoms[_in_range(geoms)]

    # -- codes and parents

    def check_duplicates(self) -> None:
        codes = pd.Series(self.codes, dtype=object)
        repeated = codes.notna() & codes.duplicated(keep=False)
        seen: dict[str, list[int]] = {}
        for row in np.flatnonzero(repeated.to_numpy()):
            seen.setdefault(self.codes[row], []).append(int(row))
        for code, rows in seen.items():
            if not self.in_scope(code):
                continue
            for row in rows[1:]:
                lines = ", ".join(str(r + 1) for r in rows)
                self.findings.add(
                    "error", "duplicate_code", code,
                    f"code {code} is used by {len(rows)} features (lines {lines}); "
                    "give each grid its own code", geometry=self.geoms[row])

    def check_parents(self) -> dict[int, tuple[str, str, shapely.Geometry | None]]:
        """Report broken parent links; return child row -> (parent code, level, shape).

        The links cover every row (the neighbours of a focus need them too);
        only problems of rows under review, or naming one as the parent, are
        reported.
        """
        parents: dict[str, tuple[str | None, shapely.Geometry | None]] = {}
        if self.stored is not None:
            stored_geoms = np.asarray(self.stored.geometry.array, dtype=object)
            ok = _in_range(stored_geoms)
            valid = np.zeros(len(stored_geoms), dtype=bool)
            valid[ok] = shapely.is_valid(stored_geoms[ok])
            for code, level, geom, good, fine in zip(self.stored["code"], self.stored["level"],
                                                     stored_geoms, ok, valid):
                if code is not None:
                    shape = (geom if fine else _made_valid(geom)) if good else None
                    parents[code] = (level, shape)
        first: dict[str, int] = {}
        for row, code in enumerate(self.codes):
            if code is not None and code not in first:
                first[code] = row
                parents[code] = (self.levels[row], self.shapes[row])

        findings = self.findings

        def add(*args, row: int, **kwargs) -> None:
            if self.in_focus[row] or self.in_scope(kwargs.get("other_code")):
                findings.add(*args, **kwargs)

        links = {}
        for row in range(len(self.codes)):
            level, parent, code = self.levels[row], self.parents[row], self.codes[row]
            if level not in ALL_LEVELS:
                continue
            if level == "district":
                if parent is not None:
                    add("error", "wrong_parent_level", code,
                        f"{self.who(row)} has parent_code {parent}, but the district is the "
                        "top of the tree; clear its parent_code", other_code=parent,
                        geometry=self.geoms[row], row=row)
                continue
            if parent is None:
                if level != "exclusive":
                    expected = parent_level(level)
                    add("error", "missing_value", code,
                        f"{self.who(row)} has no parent_code; set it to the code of its "
                        f"{expected} ({LEVEL_NAMES_ZH[expected]})", geometry=self.geoms[row],
                        row=row)
                continue
            if parent not in parents:
                add("error", "unknown_parent", code,
                    f"{self.who(row)} has parent_code {parent}, which is neither in this layer "
                    "nor in the database; fix the parent_code or import the parent level first",
                    other_code=parent, geometry=self.geoms[row], row=row)
                continue
            found_level, shape = parents[parent]
            if found_level not in ALL_LEVELS:
                continue  # reported as bad_level on the parent itself
            expected = parent_level(level)
            allowed = LEVELS if level == "exclusive" else (expected,)
            if found_level not in allowed:
                need = (f"a {expected} ({LEVEL_NAMES_ZH[expected]})" if expected
                        else f"one of {', '.join(LEVELS)}")
                add("error", "wrong_parent_level", code,
                    f"{self.who(row)} has parent {parent}, a {found_level}; the parent of a "
                    f"{level} must be {need}: fix its parent_code or its level",
                    other_code=parent, geometry=self.geoms[row], row=row)
                continue
            links[row] = (parent, found_level, shape)
        return links

    # -- topology

    def _sibling_groups(self) -> dict[str, np.ndarray]:
        """Rows that take part in the overlap check, by level and parent code (ascending)."""
        rows = [r for r in range(len(self.codes))
                if self.shapes[r] is not None and self.levels[r] in LEVELS]
        groups: dict[str, list[int]] = {}
        for r in rows:
            groups.setdefault(f"{self.levels[r]}\x00{self.parents[r] or ''}", []).append(r)
        return {key: np.array(members, dtype=int) for key, members in groups.items()}

    def sort_families(self, links: dict) -> None:
        """Find the siblings whose edges do not match (the only ones that may overlap)
        and the parents that their children tile exactly (no gap, no child outside).

        Siblings are validated as a polygon coverage: interiors that do not
        intersect and shared edges with the same vertices.  A valid coverage
        has no overlap, so only its invalid members are intersected pairwise,
        and its union is the fast coverage union.
        """
        self.groups = self._sibling_groups()
        focus_parents = ({p for p, member in zip(self.parents, self.in_focus) if member and p}
                         | (self.focus or set()))
        relevant = {key: rows for key, rows in self.groups.items()
                    if self.focus is None or self.in_focus[rows].any()
                    or key.split("\x00", 1)[1] in focus_parents}
        self.groups = relevant
        for rows in relevant.values():
            if len(rows) < 2:
                continue
            try:
                edges = shapely.coverage_invalid_edges(self.shapes[rows])
                self.mismatched[rows] = ~shapely.is_empty(edges)
            except shapely.errors.GEOSException:
                self.mismatched[rows] = True
        if self.tolerance_m2 < 0:
            return  # every overhang counts, even an empty one: no shortcut
        candidates, covers, parent_shapes = [], [], []
        seen: set[str] = set()
        for row, (parent, _, shape) in links.items():
            level = self.levels[row]
            if level == "exclusive" or shape is None or parent in seen:
                continue
            seen.add(parent)
            rows = relevant.get(f"{level}\x00{parent}")
            if rows is None or self.mismatched[rows].any():
                continue
            candidates.append(parent)
            covers.append(shapely.coverage_union_all(self.shapes[rows]))
            parent_shapes.append(shape)
        if candidates:
            equal = shapely.equals(np.array(parent_shapes, dtype=object),
                                   np.array(covers, dtype=object))
            self.tiled = {p for p, same in zip(candidates, equal) if same}

    def check_containment(self, links: dict) -> None:
        rows = [r for r, (parent, _, shape) in links.items()
                if self.levels[r] != "exclusive" and shape is not None
                and self.shapes[r] is not None and parent not in self.tiled
                and (self.in_focus[r] or self.in_scope(parent))]
        if rows and self.tolerance_m2 >= 0:
            # A child its parent covers has nothing outside: test with the
            # parent prepared (once per parent) before cutting.
            parent_shapes = np.array([links[r][2] for r in rows], dtype=object)
            unique = {id(s): s for s in parent_shapes}.values()
            fresh = [s for s in unique if not shapely.is_prepared(s)]
            shapely.prepare(fresh)
            try:
                inside = shapely.covers(parent_shapes, self.shapes[rows])
            finally:
                shapely.destroy_prepared(fresh)
            rows = [r for r, covered in zip(rows, inside) if not covered]
        if not rows:
            return
        children = self.shapes[rows]
        parent_shapes = np.array([links[r][2] for r in rows], dtype=object)
        outside = shapely.difference(children, parent_shapes)
        areas = self.metric.areas(outside)
        out = np.flatnonzero(areas > self.tolerance_m2)
        if not len(out):
            return
        gcj_fits = np.zeros(len(out), dtype=bool)
        if self.declared == "wgs84":
            as_wgs84 = geometries_to_wgs84(children[out], crs="gcj02")
            moved = shapely.difference(as_wgs84, parent_shapes[out])
            moved_areas = self.metric.areas(moved)
            gcj_fits = moved_areas <= np.maximum(self.tolerance_m2, _GCJ_FIT_SHARE * areas[out])
        for k, i in enumerate(out):
            row = rows[i]
            parent, parent_lvl, _ = links[row]
            piece = _polygonal(outside[i])
            text = (f"{self.who(row)} sticks out of its {parent_lvl} {parent} by "
                    f"{areas[i]:,.1f} m² around {_spot(piece)}")
            if gcj_fits[k]:
                self.findings.add(
                    "error", "looks_gcj02", self.codes[row],
                    f"{text}, but fits once read as GCJ-02 (Amap, Tencent) coordinates; "
                    "import the file again with --crs gcj02", other_code=parent,
                    area_m2=areas[i], geometry=piece)
            else:
                self.findings.add(
                    "error", "outside_parent", self.codes[row],
                    f"{text}; move its edge onto the {parent_lvl}'s boundary",
                    other_code=parent, area_m2=areas[i], geometry=piece)

    def _overlap_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Sibling rows (a < b) whose boxes meet, one of them mismatched and, with a
        focus, one of them under review."""
        members = [rows for rows in self.groups.values() if len(rows) > 1]
        if not members:
            return np.empty(0, dtype=int), np.empty(0, dtype=int)
        rows = np.concatenate(members)
        family = np.repeat(np.arange(len(members)), [len(m) for m in members])
        probes = np.flatnonzero(self.mismatched[rows])
        if not len(probes):
            return np.empty(0, dtype=int), np.empty(0, dtype=int)
        tree = shapely.STRtree(self.shapes[rows])
        i, j = tree.query(self.shapes[rows[probes]])
        i = probes[i]
        keep = (family[i] == family[j]) & (i != j)
        a, b = rows[i[keep]], rows[j[keep]]
        if self.focus is not None:
            wanted = self.in_focus[a] | self.in_focus[b]
            a, b = a[wanted], b[wanted]
        if not len(a):
            return a, b
        pairs = np.unique(np.column_stack([np.minimum(a, b), np.maximum(a, b)]), axis=0)
        return pairs[:, 0], pairs[:, 1]

    def check_overlaps(self) -> None:
        left, right = self._overlap_pairs()
        if not len(left):
            return
        # Neighbours that only share an edge intersect too; their interiors do not.
        inner = shapely.relate_pattern(self.shapes[left], self.shapes[right], "T********")
        left, right = left[inner], right[inner]
        pieces = np.array([_polygonal(g) for g in
                           shapely.intersection(self.shapes[left], self.shapes[right])],
                          dtype=object)
        areas = self.metric.areas(pieces)
        for a, b, piece, area in zip(left, right, pieces, areas):
            if area <= self.tolerance_m2:
                continue
            row, other = sorted((a, b), key=lambda r: (self.codes[r] or "", r))
            self.findings.add(
                "error", "overlap", self.codes[row],
                f"{self.who(row)} and its sibling {self.codes[other] or f'feature {other + 1}'} "
                f"overlap by {area:,.1f} m² around {_spot(piece)}; move the shared edge so "
                "each place belongs to one grid", other_code=self.codes[other],
                area_m2=area, geometry=piece)

    def check_gaps(self, links: dict) -> None:
        families: dict[str, list[int]] = {}
        for row, (parent, _, shape) in links.items():
            if self.levels[row] != "exclusive" and shape is not None:
                families.setdefault(parent, []).append(row)
        if self.focus is not None:
            families = {p: rows for p, rows in families.items()
                        if self.in_scope(p) or self.in_focus[rows].any()}
        families = {p: rows for p, rows in families.items() if p not in self.tiled}
        if not families:
            return
        parent_codes = list(families)
        parent_shapes = np.array([links[families[p][0]][2] for p in parent_codes], dtype=object)
        covers = np.array([shapely.union_all([s for s in self.shapes[families[p]] if s is not None])
                           for p in parent_codes], dtype=object)
        gaps = shapely.difference(parent_shapes, covers)
        pieces, owner = shapely.get_parts(gaps, return_index=True)
        if not len(pieces):
            return
        areas, lengths = self.metric.areas_lengths(pieces)
        for piece, i, area, length in zip(pieces, owner, areas, lengths):
            if area <= self.tolerance_m2:
                continue
            parent = parent_codes[i]
            parent_lvl = links[families[parent][0]][1]
            child_lvl = self.levels[families[parent][0]]
            width_m = 2.0 * area / length if length else 0.0
            if area < self.sliver_m2 or width_m < _THIN_WIDTH_M:
                self.findings.add(
                    "warning", "sliver", parent,
                    f"{parent_lvl} {parent} has a sliver of {area:,.1f} m² (about "
                    f"{width_m:,.1f} m wide) around {_spot(piece)} not covered by any "
                    f"{_NOUNS[child_lvl]}; snap the neighbouring edges together",
                    area_m2=area, geometry=piece)
            else:
                self.findings.add(
                    "warning", "gap", parent,
                    f"{parent_lvl} {parent} has {area:,.1f} m² around {_spot(piece)} not "
                    f"covered by any {_NOUNS[child_lvl]}, so incidents there go to the "
                    f"unassigned queue; extend a {_NOUNS[child_lvl]} over it, or leave it if "
                    "it is a road, river or park", area_m2=area, geometry=piece)

    def check_slivers(self) -> None:
        rows = np.flatnonzero(np.array([s is not None for s in self.shapes], dtype=bool)
                              & self.in_focus)
        if not len(rows):
            return
        areas = self.metric.areas(self.shapes[rows])
        for row, area in zip(rows, areas):
            if area < self.sliver_m2:
                self.findings.add(
                    "warning", "sliver", self.codes[row],
                    f"{self.who(row)} covers only {area:,.1f} m² (less than "
                    f"{self.sliver_m2:,.0f} m²) around {_spot(self.shapes[row])}; merge it "
                    "into a neighbour or delete it", area_m2=area, geometry=self.shapes[row])


def _to_wgs84_frame(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None or _is_wgs84(frame.crs):
        return frame
    return frame.to_crs(_WGS84)


def _bad_count(value: object) -> bool:
    """Whether households/population is anything but empty or a whole number ≥ 0."""
    value = _as_count(value)
    return value is not None and not (type(value) is int and 0 <= value <= _MAX_COUNT)


# -- reporting -------------------------------------------------------------------


def problems_table(problems: gpd.GeoDataFrame) -> str:
    """The problems as a fixed-width text table with a summary line.

    Parameters
    ----------
    problems
        What :func:`validate_grids` returns.

    Returns
    -------
    str
        Columns severity, kind, code, other, area m², message (areas in m²
        to 0.1), then a line such as ``"2 errors, 1 warning"``.
    """
    errors = int((problems["severity"] == "error").sum()) if len(problems) else 0
    warnings = len(problems) - errors
    summary = (f"{errors} error{'s' if errors != 1 else ''}, "
               f"{warnings} warning{'s' if warnings != 1 else ''}")
    if not len(problems):
        return summary
    header = ("severity", "kind", "code", "other", "area m²", "message")
    rows = [(str(p.severity), str(p.kind), _cell(p.code), _cell(p.other_code),
             "" if pd.isna(p.area_m2) else f"{p.area_m2:,.1f}", str(p.message))
            for p in problems.itertuples()]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]

    def line(cells: tuple[str, ...]) -> str:
        left = [cells[i].ljust(widths[i]) for i in range(4)]
        return "  ".join(left + [cells[4].rjust(widths[4]), cells[5]]).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows] + [summary])


def _cell(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


#: Share of an exclusive grid's area that a community must cover to count as one of its
#: 共建 communities (a sliver along a shared road is not a partner).
CO_BUILDING_MIN_SHARE = 0.05


def exclusive_partners(grids: gpd.GeoDataFrame, *, level: str = "community",
                       min_share: float = CO_BUILDING_MIN_SHARE) -> pd.DataFrame:
    """The grids at ``level`` that each exclusive grid (专属网格) lies across: its 共建 units.

    A mall that straddles two communities is run by both; the share of the exclusive
    grid's area inside each community (measured in metres, UTM) decides, and slivers
    below ``min_share`` are left out.

    Parameters
    ----------
    grids
        A grid version (all levels, WGS-84), as :class:`gis.workflows.GridVersion` holds it.
    level
        The level of the partners (``community`` by default).
    min_share
        Fraction (0–1) of the exclusive grid's area a partner must cover.

    Returns
    -------
    DataFrame
        ``exclusive_code, code, name, share``, largest share first within each exclusive grid.
    """
    exclusive = grids[grids["level"] == "exclusive"]
    units = grids[grids["level"] == level]
    columns = ["exclusive_code", "code", "name", "share"]
    if not len(exclusive) or not len(units):
        return pd.DataFrame(columns=columns)
    metric = to_metric(gpd.GeoSeries(pd.concat([exclusive.geometry, units.geometry]).values, crs=4326))
    ex_geoms, unit_geoms = metric.values[:len(exclusive)], metric.values[len(exclusive):]
    tree = shapely.STRtree(unit_geoms)
    ex_idx, unit_idx = tree.query(ex_geoms, predicate="intersects")
    overlap = shapely.area(shapely.intersection(ex_geoms[ex_idx], unit_geoms[unit_idx]))
    share = overlap / np.maximum(shapely.area(ex_geoms[ex_idx]), 1e-9)
    found = pd.DataFrame({"exclusive_code": exclusive["code"].to_numpy()[ex_idx],
                          "code": units["code"].to_numpy()[unit_idx],
                          "name": units["name"].to_numpy()[unit_idx], "share": share})
    found = found[found["share"] >= min_share]
    return found.sort_values(["exclusive_code", "share"], ascending=[True, False]).reset_index(drop=True)[columns]
