"""Balanced micro-grid proposals (网格划分建议): bricks from the address register, and a
partition of them into contiguous micro-grids within a household band, pure.

**Bricks.** The register's buildings (楼栋, points with households) inside an area grow
into blocks that tile it: the Voronoi cells of the buildings, clipped to the area through
one noded line arrangement (cells and area boundary unioned, then polygonized), so bricks
share every edge vertex for vertex and cover the area with no gap or overlap. The work is
done in metres (the UTM zone of the area, :func:`gis.core.crs.utm_epsg_for`), where
Voronoi edges are true perpendicular bisectors. Buildings at one point make one brick; a
piece of a cell cut off by a bend of the area boundary becomes a brick of its own, with no
building. Each brick carries ``households`` and ``expected_cases``: the cases of the last
months that fall in it (the load to expect for as many months ahead).

**Partition.** Starts: PySAL ``spopt``'s max-p-regions heuristic (Duque, Anselin & Rey 2012;
Wei, Rey & Knaap 2021) on the rook contiguity of the bricks, with a household floor of at
least ``min_households`` (raised toward the goal size, so the start holds about the goal
count of regions); contiguous Ward clusters of the brick centres (spopt ``WardSpatial``);
and, when given, today's micro-grids. From each start a local search moves boundary bricks
between neighbouring regions (the AZP move, Openshaw 1977), never breaking a region's
contiguity: first it brings every region into ``[min_households, max_households]``
(splitting or merging regions when the count cannot fit), then it evens out households and
the expected case load, with weights on the length of the new boundaries and on each
region's moment of inertia so that regions stay compact. The best result is kept. Rook, not
queen: regions joined only at a corner would dissolve into two polygons.

Infeasible inputs raise :class:`gis.errors.InputError` saying why and what to change.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from gis.core.crs import utm_epsg_for
from gis.errors import InputError

__all__ = ["BRICK_COLUMNS", "REGION_COLUMNS", "building_bricks", "check_band", "propose_partition"]

#: Columns of :func:`building_bricks` (besides ``geometry``).
BRICK_COLUMNS = ("address", "buildings", "households", "expected_cases")
#: Columns of :func:`propose_partition` (besides ``geometry``).
REGION_COLUMNS = ("region", "households", "expected_cases", "bricks")

# Shared boundaries shorter than this (m) are a touch at a corner, not an edge (rook).
_MIN_SHARED_EDGE_M = 1e-3
# Max-p: construction rounds and simulated-annealing rounds. The local search that follows
# does the balancing, so max-p only has to find a good count of regions reaching the floor.
_MAXP_CONSTRUCTION = 4
_MAXP_SA = 1
# Rounds of (split or merge, local search) before a band that cannot be met is reported.
_REPAIR_ROUNDS = 12
# The tabu search stops after this many moves (per brick) without a new best.
_TABU_PATIENCE = 1.0
# Max-p's floor as a share of the goal size: the start has about the goal count of regions.
_MAXP_FLOOR_SHARE = 0.8


def check_band(min_households: int, max_households: int) -> tuple[int, int]:
    """The household band as two whole numbers, ``1 <= min <= max``.

    Raises
    ------
    InputError
        A band that is not whole numbers or is empty, naming the option and the fix.
    """
    for name, value in (("min_households", min_households), ("max_households", max_households)):
        if isinstance(value, bool) or not float(value).is_integer() or value < 1:
            raise InputError(f"--{name.replace('_', '-')} is {value!r}", field=name,
                             fix="give a whole number of households, 1 or more")
    low, high = int(min_households), int(max_households)
    if high < low:
        raise InputError(f"--max-households {high} is below --min-households {low}", field="max_households",
                         fix="give a band with --min-households no larger than --max-households")
    return low, high


# -- bricks ---------------------------------------------------------------------------------------


def _metric_transformers(geom: shapely.Geometry) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    minx, miny, maxx, maxy = geom.bounds
    epsg = utm_epsg_for((minx + maxx) / 2.0, (miny + maxy) / 2.0)
    return (pyproj.Transformer.from_crs(4326, epsg, always_xy=True),
            pyproj.Transformer.from_crs(epsg, 4326, always_xy=True))


def _transformed(geoms, transformer: pyproj.Transformer):
    return shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _label(addresses: Sequence[str]) -> str:
    shown = "、".join(addresses[:3])
    return shown if len(addresses) <= 3 else f"{shown} and {len(addresses) - 3} more"


def building_bricks(area: shapely.Geometry, buildings: pd.DataFrame, *,
                    cases: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Grow the buildings inside an area into bricks that tile it exactly.

    Parameters
    ----------
    area
        The area to tile (Polygon or MultiPolygon), lon/lat degrees, WGS-84.
    buildings
        The address register's buildings: ``lon``, ``lat`` (degrees, WGS-84),
        ``households`` and ``address`` (named in messages). Buildings outside ``area``
        are left out; buildings at one point make one brick.
    cases
        Case points, ``lon`` and ``lat`` (degrees, WGS-84), e.g. the last 12 months';
        each counts in the brick that covers it (the first brick on a shared edge).

    Returns
    -------
    GeoDataFrame
        One row a brick, WGS-84: ``address`` (its buildings' addresses, None for a brick
        without a building), ``buildings``, ``households``, ``expected_cases`` and
        ``geometry`` (Polygon). The bricks' union is ``area``; neighbours share their
        edges vertex for vertex. An area without buildings is one empty brick.
    """
    area = _polygonal(area)
    if area.is_empty:
        raise InputError("the area to tile has no polygonal extent", fix="give a Polygon or MultiPolygon")
    forward, back = _metric_transformers(area)
    area_m = _transformed(area, forward)
    lon = buildings["lon"].to_numpy(dtype=float)
    lat = buildings["lat"].to_numpy(dtype=float)
    inside = np.isfinite(lon) & np.isfinite(lat)
    inside[inside] = shapely.covers(area, shapely.points(lon[inside], lat[inside]))
    mine = buildings.loc[inside].assign(households=lambda f: f["households"].fillna(0).astype(np.int64))
    sites = (mine.groupby(["lon", "lat"], sort=True)
             .agg(households=("households", "sum"), buildings=("households", "size"),
                  addresses=("address", lambda s: [str(a) for a in s]))
             .reset_index())
    x, y = forward.transform(sites["lon"].to_numpy(dtype=float), sites["lat"].to_numpy(dtype=float))
    site_points = shapely.points(x, y)

    if len(sites) >= 2:
        frame = shapely.box(*shapely.union(area_m, shapely.multipoints(site_points)).bounds).buffer(100.0)
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(site_points), extend_to=frame))
    else:
        cells = np.array([_frame_box(area_m)], dtype=object)
    # One noded arrangement of the cell edges and the area boundary: faces share vertices.
    lines = shapely.union_all(np.concatenate([shapely.boundary(cells), [shapely.boundary(area_m)]]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    if len(faces):
        shapely.prepare(area_m)
        faces = faces[shapely.contains(area_m, shapely.point_on_surface(faces))]
    cell_tree = shapely.STRtree(cells)
    face_at, cell_of_face = cell_tree.query(shapely.point_on_surface(faces), predicate="within")
    face_cell = np.full(len(faces), -1)
    face_cell[face_at] = cell_of_face
    site_of_cell = np.full(len(cells), -1)
    if len(sites):
        site_at, cell_at = cell_tree.query(site_points, predicate="intersects")
        first = pd.Series(cell_at).groupby(site_at).min()
        site_of_cell[first.to_numpy()] = first.index.to_numpy()

    # the face of a cell holding its site keeps the site; other pieces are bricks without one
    site_of_face = np.full(len(faces), -1)
    if len(sites):
        face_tree = shapely.STRtree(faces)
        s_at, f_at = face_tree.query(site_points, predicate="intersects")
        for s, f in sorted(zip(s_at, f_at)):
            if site_of_face[f] < 0 and site_of_cell[face_cell[f]] == s and s not in site_of_face:
                site_of_face[f] = s
        # a site on the area boundary may miss its own cell's face by rounding: nearest face
        for s in np.setdiff1d(np.arange(len(sites)), site_of_face):
            free = np.flatnonzero(site_of_face < 0)
            if not len(free):
                break
            f = free[np.argmin(shapely.distance(faces[free], site_points[s]))]
            site_of_face[f] = s

    geoms = _transformed(faces, back)
    has = site_of_face >= 0
    households = np.zeros(len(faces), dtype=np.int64)
    counts = np.zeros(len(faces), dtype=np.int64)
    address = np.full(len(faces), None, dtype=object)
    households[has] = sites["households"].to_numpy()[site_of_face[has]]
    counts[has] = sites["buildings"].to_numpy()[site_of_face[has]]
    for f in np.flatnonzero(has):
        address[f] = _label(sites["addresses"].iat[site_of_face[f]])
    bricks = gpd.GeoDataFrame({"address": address, "buildings": counts, "households": households,
                               "expected_cases": np.zeros(len(faces), dtype=np.int64)},
                              geometry=list(geoms), crs="EPSG:4326")
    if cases is not None and len(cases) and len(bricks):
        bricks["expected_cases"] = _count_in(bricks, cases)
    return bricks


def _frame_box(geom_m: shapely.Geometry) -> shapely.Geometry:
    """A box around a metric geometry, 100 m wider on every side."""
    return shapely.box(*geom_m.bounds).buffer(100.0, join_style="mitre")


def _count_in(polygons: gpd.GeoDataFrame, points: pd.DataFrame) -> np.ndarray:
    """How many of ``points`` (``lon``, ``lat``, WGS-84) each polygon covers; a point on a
    shared edge counts once, in the first polygon (by position)."""
    lon = points["lon"].to_numpy(dtype=float)
    lat = points["lat"].to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    pts = shapely.points(lon[ok], lat[ok])
    at, poly = shapely.STRtree(polygons.geometry.to_numpy()).query(pts, predicate="intersects")
    if not len(at):
        return np.zeros(len(polygons), dtype=np.int64)
    first = pd.Series(poly).groupby(at).min()
    return np.bincount(first.to_numpy(), minlength=len(polygons)).astype(np.int64)


# -- partition --------------------------------------------------------------------------------------


def _spot(geom: shapely.Geometry) -> str:
    p = geom.representative_point()
    return f"{p.x:.6f},{p.y:.6f}"


def _adjacency(geoms_m: np.ndarray) -> sparse.csr_matrix:
    """Rook contiguity with the shared edge length in metres (symmetric, n×n)."""
    n = len(geoms_m)
    if n < 2:
        return sparse.csr_matrix((n, n))
    tree = shapely.STRtree(geoms_m)
    left, right = tree.query(geoms_m, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    lengths = shapely.length(shapely.intersection(shapely.boundary(geoms_m[left]), shapely.boundary(geoms_m[right])))
    edge = lengths > _MIN_SHARED_EDGE_M
    left, right, lengths = left[edge], right[edge], lengths[edge]
    matrix = sparse.coo_matrix((np.r_[lengths, lengths], (np.r_[left, right], np.r_[right, left])), shape=(n, n))
    return matrix.tocsr()


def _maxp_labels(households: np.ndarray, cases: np.ndarray, neighbours: dict[int, list[int]], *,
                 floor: int, seed: int) -> np.ndarray:
    """Max-p regions with a household floor (spopt), labels 0..p-1, for one connected graph."""
    import libpysal
    from spopt.region import MaxPHeuristic

    n = len(households)
    if n == 1 or households.sum() < 2 * floor:
        return np.zeros(n, dtype=np.int64)
    frame = pd.DataFrame({"households": households.astype(float), "expected_cases": cases.astype(float)})
    for column in ("households", "expected_cases"):
        spread = frame[column].std()
        frame[f"{column}_z"] = (frame[column] - frame[column].mean()) / spread if spread > 0 else 0.0
    w = libpysal.weights.W({i: neighbours[i] for i in range(n)}, silence_warnings=True)
    model = MaxPHeuristic(frame, w, ["households_z", "expected_cases_z"], "households", floor, top_n=2,
                          max_iterations_construction=_MAXP_CONSTRUCTION, max_iterations_sa=_MAXP_SA,
                          policy="keep")
    # spopt draws from numpy's global generator: seed it for this run only (two proposals at once
    # in one process may interleave their draws; each result is still a valid partition)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        model.solve()
    finally:
        np.random.set_state(state)
    _, labels = np.unique(np.asarray(model.labels_), return_inverse=True)
    return labels.astype(np.int64)


def _ward_labels(centres: np.ndarray, neighbours: dict[int, list[int]], *, n_clusters: int) -> np.ndarray:
    """Contiguous Ward clusters of the brick centres (spopt ``WardSpatial``): compact regions of
    about equal area, a second start beside max-p's."""
    import libpysal
    from spopt.region import WardSpatial

    n = len(centres)
    if n_clusters <= 1 or n <= n_clusters:
        return np.zeros(n, dtype=np.int64) if n_clusters <= 1 else np.arange(n, dtype=np.int64)
    frame = pd.DataFrame({"x": centres[:, 0], "y": centres[:, 1]})
    w = libpysal.weights.W({i: neighbours[i] for i in range(n)}, silence_warnings=True)
    model = WardSpatial(frame, w, ["x", "y"], n_clusters=n_clusters)
    model.solve()
    _, labels = np.unique(np.asarray(model.labels_), return_inverse=True)
    return labels.astype(np.int64)


class _Search:
    """Boundary moves over one connected brick graph: the band first, then the balance."""

    def __init__(self, households: np.ndarray, cases: np.ndarray, shared: sparse.csr_matrix,
                 centres: np.ndarray, areas: np.ndarray, labels: np.ndarray, *, low: int, high: int,
                 case_weight: float, compactness_weight: float, inertia_weight: float) -> None:
        self.h = households.astype(float)
        self.c = cases.astype(float)
        self.shared = shared
        self.centres = centres
        self.neighbours = [shared.indices[shared.indptr[i]:shared.indptr[i + 1]].tolist()
                           for i in range(len(households))]
        self.labels = labels.copy()
        self.low, self.high = low, high
        self.case_weight = case_weight
        self.compactness_weight = compactness_weight
        self.inertia_weight = inertia_weight
        self.areas = np.maximum(areas.astype(float), 1e-6)
        self.area_m2 = float(self.areas.sum())

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.bincount(self.labels, weights=self.h, minlength=self.k),
                np.bincount(self.labels, weights=self.c, minlength=self.k))

    def violation(self, h: np.ndarray) -> np.ndarray:
        return np.maximum(self.low - h, 0.0) + np.maximum(h - self.high, 0.0)

    def connected_without(self, members: np.ndarray, out: int) -> bool:
        rest = set(members.tolist())
        rest.discard(out)
        if not rest:
            return False
        start = next(iter(rest))
        seen, stack = {start}, [start]
        while stack:
            for j in self.neighbours[stack.pop()]:
                if j in rest and j not in seen:
                    seen.add(j)
                    stack.append(j)
        return len(seen) == len(rest)

    def cost(self) -> tuple[float, float]:
        """(households outside the band, balance + compactness cost) of the current labels."""
        k = self.k
        h, c = self.totals()
        h_mean, c_mean = h.sum() / k, c.sum() / k
        balance = ((((h - h_mean) / h_mean) ** 2).sum()
                   + self.case_weight * (((c - c_mean) / max(c_mean, 1.0)) ** 2).sum())
        rows, cols = self.shared.nonzero()
        cut = float(np.asarray(self.shared[rows, cols]).ravel()[self.labels[rows] != self.labels[cols]].sum()) / 2.0
        mass = np.bincount(self.labels, weights=self.areas, minlength=k)
        mid = np.column_stack([np.bincount(self.labels, weights=self.areas * self.centres[:, d], minlength=k)
                               for d in (0, 1)]) / mass[:, None]
        inertia = float((self.areas * ((self.centres - mid[self.labels]) ** 2).sum(axis=1)).sum())
        return (float(self.violation(h).sum()),
                float(balance + self.compactness_weight * cut / (math.sqrt(k * self.area_m2) or 1.0)
                      + self.inertia_weight * inertia / ((self.area_m2 / k) ** 2 / (2 * math.pi))))

    def run(self, *, max_moves: int, patience: int = 0) -> int:
        """Apply the best improving move until none is left; with ``patience``, go on as a tabu
        search (the best move that does not undo a recent one, even uphill, unless it beats the
        best seen) until ``patience`` moves in a row find nothing better, and keep the best
        labels seen. Returns the number of moves."""
        n, moves = len(self.labels), 0
        rows, cols = self.shared.nonzero()
        current = self.cost()
        best, best_labels, stale = current, self.labels.copy(), 0
        tabu_until: dict[tuple[int, int], int] = {}
        tenure = max(3, n // 4)
        while moves < max_moves:
            k = self.k
            h, c = self.totals()
            h_mean, c_mean = h.sum() / k, c.sum() / k
            c_scale = max(c_mean, 1.0)
            cut_scale = math.sqrt(k * self.area_m2) or 1.0
            onehot = sparse.csr_matrix((np.ones(n), (np.arange(n), self.labels)), shape=(n, k))
            to_region = np.asarray((self.shared @ onehot).todense())
            sizes = np.bincount(self.labels, minlength=k)
            # candidates: a brick and a neighbouring region it could join
            b = rows
            target = self.labels[cols]
            source = self.labels[b]
            pick = (target != source) & (sizes[source] > 1)
            b, target, source = b[pick], target[pick], source[pick]
            if not len(b):
                break
            pairs = np.unique(np.column_stack([b, target]), axis=0)
            b, target = pairs[:, 0], pairs[:, 1]
            source = self.labels[b]
            hb, cb = self.h[b], self.c[b]
            hs, ht, cs, ct = h[source], h[target], c[source], c[target]
            d_violation = (self.violation(hs - hb) - self.violation(hs) + self.violation(ht + hb)
                           - self.violation(ht))
            d_balance = (((hs - hb - h_mean) ** 2 - (hs - h_mean) ** 2 + (ht + hb - h_mean) ** 2
                          - (ht - h_mean) ** 2) / h_mean ** 2
                         + self.case_weight * ((cs - cb - c_mean) ** 2 - (cs - c_mean) ** 2
                                               + (ct + cb - c_mean) ** 2 - (ct - c_mean) ** 2) / c_scale ** 2)
            d_cut = to_region[b, source] - to_region[b, target]
            # moment of inertia about the region's centre (exact change for one brick moved)
            mass = np.bincount(self.labels, weights=self.areas, minlength=k)
            mid = np.column_stack([np.bincount(self.labels, weights=self.areas * self.centres[:, d], minlength=k)
                                   for d in (0, 1)]) / mass[:, None]
            ab, xb = self.areas[b], self.centres[b]
            ms, mt = mass[source], mass[target]
            d_inertia = (mt * ab / (mt + ab) * ((xb - mid[target]) ** 2).sum(axis=1)
                         - ms * ab / np.maximum(ms - ab, 1e-9) * ((xb - mid[source]) ** 2).sum(axis=1))
            inertia_scale = (self.area_m2 / k) ** 2 / (2 * math.pi)   # a disc of the mean region's area
            d_cost = (d_balance + self.compactness_weight * d_cut / cut_scale
                      + self.inertia_weight * d_inertia / inertia_scale)
            if patience:
                beats_best = np.array([_better((current[0] + dv, current[1] + dc), best)
                                       for dv, dc in zip(d_violation, d_cost)], dtype=bool)
                free = np.array([tabu_until.get((int(i), int(t)), -1) < moves for i, t in zip(b, target)], dtype=bool)
                allowed = free | beats_best
            else:
                allowed = (d_violation < -1e-9) | ((np.abs(d_violation) <= 1e-9) & (d_cost < -1e-9))
            order = np.flatnonzero(allowed)
            order = order[np.lexsort((target[order], b[order], d_cost[order], np.round(d_violation[order], 9)))]
            for i in order:
                members = np.flatnonzero(self.labels == source[i])
                if self.connected_without(members, int(b[i])):
                    tabu_until[(int(b[i]), int(source[i]))] = moves + tenure
                    self.labels[b[i]] = target[i]
                    current = (current[0] + float(d_violation[i]), current[1] + float(d_cost[i]))
                    moves += 1
                    break
            else:
                break
            if _better(current, best):
                best, best_labels, stale = current, self.labels.copy(), 0
            else:
                stale += 1
                if stale > patience:
                    break
        self.labels = best_labels
        return moves

    def split(self, region: int) -> None:
        """Cut a region in two contiguous halves by households: grow from the brick farthest from
        its centre, nearest bricks first, to half its households; stranded pieces join the grown half."""
        members = np.flatnonzero(self.labels == region)
        if len(members) < 2:
            return
        weights = np.maximum(self.h[members], 1e-9)
        centre = (self.centres[members] * weights[:, None]).sum(axis=0) / weights.sum()
        start = int(members[np.argmax(((self.centres[members] - centre) ** 2).sum(axis=1))])
        half = self.h[members].sum() / 2.0
        inside = set(members.tolist())
        grown, total = set(), 0.0
        heap = [(0.0, start)]
        while heap and (total < half or not grown) and len(grown) < len(members) - 1:
            _, i = heapq.heappop(heap)
            if i in grown:
                continue
            grown.add(i)
            total += self.h[i]
            for j in self.neighbours[i]:
                if j in inside and j not in grown:
                    heapq.heappush(heap, (float(((self.centres[j] - self.centres[start]) ** 2).sum()), j))
        rest = inside - grown
        # keep the largest connected piece of the rest; the others touch only the grown half
        pieces = self._pieces(rest)
        keep = max(pieces, key=lambda p: (self.h[list(p)].sum(), len(p)))
        new = self.k
        for i in inside - keep:
            self.labels[i] = new

    def merge(self, region: int) -> None:
        """Join a region to its neighbouring region with the fewest households."""
        h, _ = self.totals()
        members = np.flatnonzero(self.labels == region)
        around = {int(self.labels[j]) for i in members for j in self.neighbours[i]} - {region}
        if not around:
            return
        into = min(around, key=lambda r: (h[r], r))
        self.labels[members] = into
        _, self.labels = np.unique(self.labels, return_inverse=True)

    def _pieces(self, nodes: set[int]) -> list[set[int]]:
        left, pieces = set(nodes), []
        while left:
            start = left.pop()
            piece, stack = {start}, [start]
            while stack:
                for j in self.neighbours[stack.pop()]:
                    if j in left:
                        left.discard(j)
                        piece.add(j)
                        stack.append(j)
            pieces.append(piece)
        return pieces


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether cost ``a`` beats ``b``: fewer households outside the band, then a lower cost."""
    return a[0] < b[0] - 1e-9 or (abs(a[0] - b[0]) <= 1e-9 and a[1] < b[1] - 1e-9)


def _band_fix(total: int, low: int, high: int) -> str:
    k_low = max(1, total // low)
    need_high = math.ceil(total / k_low)
    k_high = math.ceil(total / high)
    need_low = total // k_high
    return (f"raise --max-households to {need_high} ({k_low} micro-grid(s)) or lower --min-households to "
            f"{need_low} ({k_high} micro-grid(s))")


def propose_partition(bricks: gpd.GeoDataFrame, *, min_households: int, max_households: int, seed: int = 0,
                      target_households: float | None = None, case_weight: float = 4.0,
                      compactness_weight: float = 1.0, inertia_weight: float = 1.0) -> gpd.GeoDataFrame:
    """Partition bricks into contiguous regions of ``min_households``–``max_households`` households,
    balancing households and the expected case load.

    Parameters
    ----------
    bricks
        As :func:`building_bricks` returns them: ``households``, ``expected_cases``,
        ``address`` (named in messages) and polygons that tile an area (WGS-84, or a
        projected CRS in metres). An optional ``current`` column (e.g. the code of the
        micro-grid each brick lies in today) gives the local search one more start, today's
        boundaries, so the proposal is never worse than a local improvement of them.
    min_households, max_households
        The band every region must meet (whole numbers).
    seed
        Seed of spopt's max-p construction: the same bricks and seed give the same regions.
    target_households
        The households a region should hold, which sets the number of regions (the one
        nearest ``total / target`` that fits the band); default the middle of the band.
    case_weight
        Weight of the case-load balance against the household balance (both as squared
        deviations from the mean, relative to it).
    compactness_weight, inertia_weight
        Weights of the new boundaries' length (relative to the square root of region
        count × area) and of the regions' moment of inertia about their centres (relative
        to a disc of the mean region's area), which keep regions compact and round.

    Returns
    -------
    GeoDataFrame
        One row a region, in the CRS of ``bricks``, in reading order (north to south, then
        west to east): ``region`` (1, 2, …), ``households``, ``expected_cases``, ``bricks``
        (a tuple of the positions of its bricks) and ``geometry``, the dissolved bricks: one
        Polygon per region of a connected area. The regions tile the bricks' union.

    Raises
    ------
    InputError
        When the band cannot be met: a building over ``max_households`` (named), an area
        or a detached part of it with fewer households than ``min_households``, a total
        that no count of regions fits into the band, or bricks too coarse to even out.
    """
    low, high = check_band(min_households, max_households)
    target = float(target_households) if target_households else (low + high) / 2.0
    n = len(bricks)
    if not n:
        raise InputError("there are no bricks to partition", fix="give an area with buildings of the address register")
    households = bricks["households"].fillna(0).to_numpy(dtype=np.int64)
    cases = bricks["expected_cases"].fillna(0).to_numpy(dtype=np.int64)
    current = bricks["current"].to_numpy(dtype=object) if "current" in bricks else None
    addresses = bricks["address"].to_numpy(dtype=object) if "address" in bricks else np.full(n, None, dtype=object)
    too_big = np.flatnonzero(households > high)
    if len(too_big):
        i = too_big[np.argmax(households[too_big])]
        what = f"building {addresses[i]}" if addresses[i] else f"the brick at {_spot(bricks.geometry.iat[i])}"
        more = f" (and {len(too_big) - 1} more over the band)" if len(too_big) > 1 else ""
        raise InputError(f"{what} has {households[i]:,} households, more than --max-households {high}{more}: "
                         "one building cannot be split across micro-grids", field="max_households",
                         fix=f"raise --max-households to at least {households[i]:,}, or split that building's "
                             "households by hand in the address register (one row per 单元)")
    total = int(households.sum())
    if total < low:
        raise InputError(f"the area holds {total:,} households (in {int((households > 0).sum()):,} building "
                         f"brick(s) of the address register), fewer than --min-households {low}",
                         field="min_households",
                         fix=f"lower --min-households to {max(total, 1)} or less, or propose for a larger area")

    metric = bricks.geometry if (bricks.crs is not None and bricks.crs.is_projected) else None
    if metric is None:
        wgs = bricks.geometry if bricks.crs is not None else bricks.geometry.set_crs(4326)
        forward, _ = _metric_transformers(shapely.union_all(wgs.to_numpy()).envelope)
        geoms_m = _transformed(wgs.to_numpy(), forward)
    else:
        geoms_m = metric.to_numpy()
    shared = _adjacency(geoms_m)
    centres = shapely.get_coordinates(shapely.centroid(geoms_m))
    areas = shapely.area(geoms_m)
    n_parts, part = csgraph.connected_components(shared, directed=False)

    labels = np.full(n, -1, dtype=np.int64)
    empty_parts = []
    next_label = 0
    for p in range(n_parts):
        idx = np.flatnonzero(part == p)
        h_part = int(households[idx].sum())
        if h_part == 0:
            empty_parts.append(idx)
            continue
        if h_part < low:
            raise InputError(f"a detached part of the area around {_spot(bricks.geometry.iat[idx[0]])} holds "
                             f"{h_part:,} households, fewer than --min-households {low}; a micro-grid must be "
                             "one piece", field="min_households",
                             fix=f"lower --min-households to {h_part} or less, or join that part to its "
                                 "neighbour by hand")
        k_min, k_max = math.ceil(h_part / high), h_part // low
        if k_min > k_max:
            raise InputError(f"{h_part:,} households cannot be split into micro-grids of {low}–{high} "
                             f"households: {k_max} would hold more than {high} each, {k_min} fewer than {low}",
                             field="max_households", fix=_band_fix(h_part, low, high))
        sub = shared[idx][:, idx].tocsr()
        neighbours = {i: sub.indices[sub.indptr[i]:sub.indptr[i + 1]].tolist() for i in range(len(idx))}
        k_goal = min(max(round(h_part / target), k_min), k_max)
        floor = max(low, int(_MAXP_FLOOR_SHARE * h_part / k_goal))
        starts = [_maxp_labels(households[idx], cases[idx], neighbours, floor=floor, seed=seed),
                  _ward_labels(centres[idx], neighbours, n_clusters=k_goal)]
        if current is not None:
            own = _connected_labels(current[idx], sub)
            if own is not None:
                starts.append(own)
        search, best = None, None
        for start in starts:
            trial = _Search(households[idx], cases[idx], sub, centres[idx], areas[idx], start, low=low,
                            high=high, case_weight=case_weight, compactness_weight=compactness_weight,
                            inertia_weight=inertia_weight)
            _solve(trial, k_min=k_min, k_max=k_max, k_goal=k_goal, n=len(idx))
            score = trial.cost()
            if best is None or score < best:
                search, best = trial, score
        h, _ = search.totals()
        bad = np.flatnonzero(search.violation(h) > 0)
        if len(bad):
            r = bad[np.argmax(search.violation(h)[bad])]
            members = idx[search.labels == r]
            biggest = members[np.argmax(households[members])]
            raise InputError(f"could not bring every micro-grid into {low}–{high} households: the best found "
                             f"holds {int(h[r]):,} around {_spot(bricks.geometry.iat[members[0]])} (its largest "
                             f"building {addresses[biggest] or '?'} has {households[biggest]:,}); the buildings "
                             "are too coarse for this band", field="max_households",
                             fix=_band_fix(h_part, low, high))
        labels[idx] = search.labels + next_label
        next_label += search.k

    # parts without any household (cut off by the area's shape) join the nearest region
    for idx in empty_parts:
        placed = np.flatnonzero(labels >= 0)
        here = shapely.union_all(geoms_m[idx])
        nearest = placed[np.argmin(shapely.distance(geoms_m[placed], here))]
        labels[idx] = labels[nearest]

    return _regions(bricks, labels, households, cases, centres, areas)


def _connected_labels(values: np.ndarray, shared: sparse.csr_matrix) -> np.ndarray | None:
    """Integer labels of the connected runs of equal values (a value split in pieces gives one
    label a piece); None when a value is missing."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return None
    _, inverse = np.unique(values.astype(str), return_inverse=True)
    rows, cols = shared.nonzero()
    same = inverse[rows] == inverse[cols]
    graph = sparse.coo_matrix((np.ones(int(same.sum())), (rows[same], cols[same])), shape=shared.shape)
    _, labels = csgraph.connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _solve(search: _Search, *, k_min: int, k_max: int, k_goal: int, n: int) -> None:
    """Bring the region count to ``k_goal``, then search; split or merge (within [k_min, k_max])
    while the band fails."""
    while search.k < k_goal:
        h, _ = search.totals()
        search.split(int(np.argmax(h)))
    while search.k > k_goal:
        h, _ = search.totals()
        search.merge(int(np.argmin(h)))
    max_moves = 50 * n + 100
    for _ in range(_REPAIR_ROUNDS):
        search.run(max_moves=max_moves, patience=int(_TABU_PATIENCE * n) + 10)
        h, _ = search.totals()
        over, under = h > search.high, h < search.low
        if not over.any() and not under.any():
            return
        if over.any() and search.k < k_max:
            search.split(int(np.argmax(np.where(over, h, -np.inf))))
        elif under.any() and search.k > k_min:
            search.merge(int(np.argmin(np.where(under, h, np.inf))))
        else:
            return


def _regions(bricks: gpd.GeoDataFrame, labels: np.ndarray, households: np.ndarray, cases: np.ndarray,
             centres: np.ndarray, areas: np.ndarray) -> gpd.GeoDataFrame:
    k = int(labels.max()) + 1
    geoms = bricks.geometry.to_numpy()
    members = [np.flatnonzero(labels == r) for r in range(k)]
    weights = [np.maximum(areas[m], 1e-9) for m in members]
    middle = np.array([(centres[m] * w[:, None]).sum(axis=0) / w.sum() for m, w in zip(members, weights)])
    # reading order: bands of about one region's height, north to south, then west to east
    band_m = math.sqrt(float(areas.sum()) / k) or 1.0
    order = np.lexsort((middle[:, 0], -np.floor(middle[:, 1] / band_m)))
    rows = []
    for number, r in enumerate(order, start=1):
        m = members[r]
        rows.append({"region": number, "households": int(households[m].sum()),
                     "expected_cases": int(cases[m].sum()), "bricks": tuple(int(i) for i in m),
                     "geometry": shapely.union_all(geoms[m])})
    return gpd.GeoDataFrame(rows, columns=[*REGION_COLUMNS, "geometry"], geometry="geometry", crs=bricks.crs)
