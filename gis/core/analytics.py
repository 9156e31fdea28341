"""Analysts' statistics on frames: hot spots (Getis-Ord Gi*), emerging trends, repeat locations,
kernel density and workload (pure: frames in, frames out; no database).

Counts come from PostGIS (``gis.store.analytics_units``); everything here is arithmetic on them.

Hot spots (:func:`hot_spots`)
    Queen contiguity (``libpysal.weights.Queen``: polygons sharing an edge or a vertex), binary
    weights with the unit itself included (Gi*: ``esda.G_Local(..., transform='B', star=True)``,
    which puts weight 1 on the diagonal), 999 conditional permutations with a fixed seed and
    undirected pseudo p-values, ``alternative='folded'`` (|G − mean of the permutations| as
    extreme as observed; esda's ``'two-sided'`` cannot go below 3 / (permutations + 1) because
    it counts both tails' extremes, which would rule out 99 % after FDR). ``z`` is esda's ``Zs``
    (for binary weights the textbook Gi* z-score ArcGIS reports), ``p`` is esda's ``p_sim``;
    ``p_norm`` is the two-sided normal p of z (ArcGIS's own p).
    Classes follow ArcGIS's Gi_Bin (−3..3): a unit is significant at confidence 99 / 95 / 90 % when
    its p-value is below the false-discovery-rate threshold ``esda.fdr(p, alpha)`` of that level
    (alpha 0.01 / 0.05 / 0.10; Benjamini–Hochberg: ArcGIS likewise lowers the critical p-value of
    each confidence level and drops the weakest), hot when ``z > 0`` and cold when ``z < 0``.
    With ``fdr=False`` the plain ``p < alpha`` is used.
    Which p-value decides (``p_value``):
    ``normal`` (the default) uses ``p_norm``, as ArcGIS's Optimized Hot Spot Analysis does.
    ``permutation`` uses ``p``, the stricter choice. A permutation p is never below
    1 / (permutations + 1), 0.001 for 999. After FDR a unit therefore reaches 99 % only when at
    least ``0.1 × n`` units have that smallest p (Benjamini–Hochberg: the k-th smallest p must be
    below k × 0.01 / n). Counts of cases are skewed: one busy unit among a unit's neighbours is
    common under permutation. On the demo's 157 communities the busiest hot area has z = 4.8,
    ``p_norm`` = 10⁻⁶ and ``p`` = 0.002, and after FDR the permutation finds nothing at any
    level of the district. Under pure noise the normal p flags a unit on about one map in seven
    (BH's nominal rate is one in ten; ``tests/core/test_analytics_core.py`` holds both rates).
    Islands (no neighbour) are kept in the global mean and variance, as esda computes them, and
    reported as class ``island`` (孤立) without z or p.

Emerging hot spots (:func:`emerging_hot_spots`, :func:`classify_trend`)
    The same Gi* per week (each week's p-values FDR-corrected among the units at 90 %), the
    Mann–Kendall test (``pymannkendall.original_test``) on each unit's weekly z-scores, and
    ArcGIS's Emerging Hot Spot Analysis categories (see :func:`classify_trend`). Unlike ArcGIS
    the neighbourhood is spatial only (no neighbouring time steps).

Repeat locations (:func:`repeat_locations`)
    Space-time DBSCAN within each category, in metres (UTM), never in degrees.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.core import crs as crs_mod
from gis.core.china_time import CHINA_TZ
from gis.core.rules.lifecycle import CLOSED_STATUS
from gis.errors import InputError

# -- hot spots ------------------------------------------------------------------------------------

#: Gi_Bin → (class, class_zh, confidence %): ArcGIS's seven bins, plus islands.
HOT_SPOT_CLASSES: dict[int, tuple[str, str, int]] = {
    3: ("hot_99", "热点（99%置信）", 99),
    2: ("hot_95", "热点（95%置信）", 95),
    1: ("hot_90", "热点（90%置信）", 90),
    0: ("not_significant", "不显著", 0),
    -1: ("cold_90", "冷点（90%置信）", 90),
    -2: ("cold_95", "冷点（95%置信）", 95),
    -3: ("cold_99", "冷点（99%置信）", 99),
}
ISLAND_CLASS = ("island", "孤立（无相邻网格）")
#: The confidence levels and their alphas, strongest first.
CONFIDENCE_ALPHAS = ((3, 0.01), (2, 0.05), (1, 0.10))
HOT_SPOT_COLUMNS = ["z", "p", "p_norm", "gi_bin", "class", "class_zh", "confidence", "neighbours"]


def queen_weights(units: gpd.GeoDataFrame):
    """Queen contiguity of ``units`` in row order (ids 0..n-1): polygons sharing an edge or a
    vertex are neighbours. A ``libpysal.weights.W``; islands have no neighbours."""
    from libpysal.weights import Queen

    with warnings.catch_warnings():
        # libpysal warns about islands and disconnected components; islands are reported per unit
        warnings.simplefilter("ignore")
        return Queen.from_dataframe(units.reset_index(drop=True), use_index=False, silence_warnings=True)


def significant(p: np.ndarray, alpha: float, *, fdr: bool = True) -> np.ndarray:
    """Which p-values are significant at ``alpha``: ``p < esda.fdr(p, alpha)`` (Benjamini–Hochberg)
    with ``fdr``, else ``p < alpha``. NaN is never significant (and takes no part in the FDR)."""
    from esda import fdr as esda_fdr

    p = np.asarray(p, dtype=float)
    out = np.zeros(p.shape, dtype=bool)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    threshold = float(esda_fdr(p[ok], alpha)) if fdr else alpha
    out[ok] = p[ok] < threshold
    return out


def gi_bins(z: np.ndarray, p: np.ndarray, *, fdr: bool = True) -> np.ndarray:
    """ArcGIS's Gi_Bin per unit: ±3 (99 %), ±2 (95 %), ±1 (90 %) by the sign of ``z``, 0 otherwise."""
    z = np.asarray(z, dtype=float)
    bins = np.zeros(z.shape, dtype=int)
    for level, alpha in reversed(CONFIDENCE_ALPHAS):  # weakest first: stronger levels overwrite
        bins[significant(p, alpha, fdr=fdr)] = level
    return np.where(z > 0, bins, np.where(z < 0, -bins, 0))


@dataclass(frozen=True)
class GiStar:
    """Gi* of one variable: z (esda ``Zs``), p (``p_sim``, two-sided), neighbour counts (self not
    counted); z and p are NaN for islands and when the variable does not vary."""

    z: np.ndarray
    p: np.ndarray
    neighbours: np.ndarray


def star_weights(w):
    """``w`` with weight 1 on the diagonal: what ``esda.G_Local(..., star=True)`` builds from binary
    weights on every call (build it once to compute Gi* of many variables on the same units)."""
    from libpysal.weights import fill_diagonal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fill_diagonal(w, 1)


def gi_star(values: np.ndarray, w, *, permutations: int = 999, seed: int = 0, w_star=None) -> GiStar:
    """Gi* of ``values`` (in the order of ``w``'s ids 0..n-1) on binary weights with self included
    (``w_star``: :func:`star_weights` of ``w``, when the caller has it already)."""
    import esda

    y = np.asarray(values, dtype=float)
    neighbours = np.array([w.cardinalities[i] for i in range(w.n)], dtype=int)
    n = len(y)
    if n < 3 or not np.isfinite(y).all() or y.sum() <= 0 or np.all(y == y[0]):
        # no total or no variation: Gi* is undefined (0 / 0), no unit stands out
        nan = np.full(n, np.nan)
        return GiStar(nan, nan.copy(), neighbours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands; fill_diagonal on a W
        g = esda.G_Local(y, w if w_star is None else w_star, transform="B", star=True,
                         permutations=permutations, seed=seed,
                         n_jobs=1, keep_simulations=False, alternative="folded")
    island = neighbours == 0
    p = g.p_sim if permutations else np.full(n, np.nan)  # no permutations: z only
    return GiStar(np.where(island, np.nan, g.Zs), np.where(island, np.nan, p), neighbours)


#: Which p-value may decide the classes (module docstring); the first, the normal p of z as
#: ArcGIS, is the default of every hot-spot call (jobs, CLI, the app's 热点 layer).
P_VALUES = ("normal", "permutation")
DEFAULT_P_VALUE = P_VALUES[0]


def check_p_value(p_value: str) -> None:
    """Refuse a ``p_value`` that is not one of :data:`P_VALUES`."""
    if p_value not in P_VALUES:
        raise InputError(f"p_value {p_value!r} is unknown", field="p_value", fix="use normal or permutation")


def normal_p(z: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a z-score under the normal distribution (ArcGIS's p of Gi*); NaN stays NaN."""
    from scipy.stats import norm

    return 2 * norm.sf(np.abs(np.asarray(z, dtype=float)))


def hot_spots(units: gpd.GeoDataFrame, *, value: str = "value", permutations: int = 999, seed: int = 0,
              fdr: bool = True, p_value: str = DEFAULT_P_VALUE) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* hot and cold spots of ``value`` over polygon ``units`` (module docstring).

    Parameters
    ----------
    units
        One row per unit: ``code``, ``name``, ``geometry`` (polygons, any CRS; contiguity is
        topological) and the column ``value`` (a count or a rate, ≥ 0).
    value
        The column analysed.
    permutations, seed
        Conditional permutations for the pseudo p-values, and their seed (same seed, same p).
    fdr
        Correct each confidence level for the false discovery rate (``esda.fdr``).
    p_value
        Which p-value the classes use: ``normal`` (``p_norm``, two-sided from z, as ArcGIS's
        Optimized Hot Spot Analysis does; the default) or ``permutation`` (``p``, stricter: it
        cannot go below 1 / (permutations + 1)).

    Returns
    -------
    GeoDataFrame
        The input's columns plus ``z``, ``p``, ``p_norm``, ``gi_bin`` (−3..3), ``class`` (``hot_99`` …
        ``cold_99``, ``not_significant``, ``island``), ``class_zh``, ``confidence`` (99, 95, 90,
        0) and ``neighbours``; same order as ``units``.

    Raises
    ------
    InputError
        Fewer than three units, a missing column, or a negative or missing value.
    """
    check_p_value(p_value)
    missing = [c for c in ("code", "name", value) if c not in units.columns]
    if missing:
        raise InputError(f"hot spots need the column(s) {', '.join(missing)}", field=missing[0],
                         fix="give one row per grid with code, name, geometry and the value")
    if len(units) < 3:
        raise InputError(f"hot spots need at least 3 grids, got {len(units)}", field=value,
                         fix="choose a lower level or a larger area")
    y = pd.to_numeric(units[value], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(y) | (y < 0))
    if len(bad):
        row = int(bad[0])
        raise InputError(f"grid {units['code'].iat[row]}: {value} is {units[value].iat[row]}", row=row,
                         field=value, fix="give a count or rate ≥ 0 for every grid (0 where nothing happened)")
    out = units.reset_index(drop=True).copy()
    result = gi_star(y, queen_weights(out), permutations=permutations, seed=seed)
    p_norm = normal_p(result.z)
    bins = gi_bins(result.z, result.p if p_value == "permutation" else p_norm, fdr=fdr)
    island = result.neighbours == 0
    out["z"], out["p"], out["p_norm"] = result.z, result.p, p_norm
    out["gi_bin"] = bins
    out["class"] = [ISLAND_CLASS[0] if isl else HOT_SPOT_CLASSES[b][0] for b, isl in zip(bins, island)]
    out["class_zh"] = [ISLAND_CLASS[1] if isl else HOT_SPOT_CLASSES[b][1] for b, isl in zip(bins, island)]
    out["confidence"] = [0 if isl else HOT_SPOT_CLASSES[b][2] for b, isl in zip(bins, island)]
    out["neighbours"] = result.neighbours
    return out


# -- the period analysed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Periods:
    """What analysts look at by default: the full calendar months and full ISO weeks (Monday to
    Sunday, China time) before the month and week of the latest case, so no partial month or week
    reads as a drop. Dates are inclusive."""

    latest: date
    since: date
    until: date
    week_since: date
    week_until: date


def recent_periods(latest: date, *, months: int = 12, weeks: int = 52) -> Periods:
    """The ``months`` full months and the ``weeks`` full ISO weeks before ``latest``'s month and week."""
    if months < 1 or weeks < 1:
        raise InputError(f"months={months}, weeks={weeks}", field="months", fix="give at least one of each")
    until = latest.replace(day=1) - timedelta(days=1)
    first = until.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    week_until = latest - timedelta(days=latest.weekday() + 1)
    return Periods(latest=latest, since=first, until=until,
                   week_since=week_until - timedelta(weeks=weeks) + timedelta(days=1), week_until=week_until)


# -- emerging hot spots --------------------------------------------------------------------------

#: ArcGIS Emerging Hot Spot Analysis categories (Chinese as ArcGIS Pro's Chinese UI names them).
EMERGING_CATEGORIES: dict[str, str] = {
    "new_hot": "新增热点", "consecutive_hot": "连续热点", "intensifying_hot": "加强热点",
    "persistent_hot": "持续热点", "diminishing_hot": "逐渐减弱热点", "sporadic_hot": "分散热点",
    "oscillating_hot": "振荡热点", "historical_hot": "历史热点",
    "new_cold": "新增冷点", "consecutive_cold": "连续冷点", "intensifying_cold": "加强冷点",
    "persistent_cold": "持续冷点", "diminishing_cold": "逐渐减弱冷点", "sporadic_cold": "分散冷点",
    "oscillating_cold": "振荡冷点", "historical_cold": "历史冷点",
    "no_pattern": "无模式", "island": "孤立（无相邻网格）",
}
#: Share of the time steps that makes a location "always" hot (ArcGIS: 90 percent).
PERSISTENT_SHARE = 0.9


def classify_trend(z_series: Sequence[float], p_series: Sequence[float], trend_p: float, trend_z: float, *,
                   alpha: float = 0.10, trend_alpha: float = 0.05,
                   significant_steps: Sequence[bool] | None = None) -> str:
    """The Emerging Hot Spot category of one location from its Gi* series (a key of
    :data:`EMERGING_CATEGORIES`).

    A step is *hot* when it is significant (``p < alpha``, or ``significant_steps`` when given,
    e.g. the FDR verdicts of each week) and its z > 0, *cold* when significant and z < 0. The
    trend is *significant* when ``trend_p < trend_alpha``, rising when ``trend_z > 0``. With n
    steps and "90 %" meaning ``hot steps / n ≥ 0.9`` (ArcGIS's definitions, checked in this order):

    - hot in the final step and hot in ≥ 90 % of the steps:
      - **intensifying**: the trend is significant and rising;
      - **diminishing**: the trend is significant and falling;
      - **persistent**: no significant trend;
    - hot in the final step, hot in < 90 % of the steps:
      - **new**: never hot before the final step;
      - **consecutive**: one uninterrupted run of ≥ 2 hot steps ending with the final one,
        never hot before that run;
      - **oscillating**: cold in some earlier step;
      - **sporadic**: on-again, off-again hot, never cold;
    - not hot in the final step but hot in ≥ 90 % of the steps: **historical**.

    Cold categories mirror these (cold for hot, a falling trend intensifies a cold spot).
    ArcGIS lists new and consecutive before oscillating, so a location that was cold long ago
    and is newly hot is *new*. Anything else is ``no_pattern``.
    """
    z = np.asarray(z_series, dtype=float)
    n = len(z)
    if n == 0:
        return "no_pattern"
    if significant_steps is None:
        sig = np.asarray(p_series, dtype=float) < alpha
    else:
        sig = np.asarray(significant_steps, dtype=bool)
    sig = sig & np.isfinite(z)
    hot, cold = sig & (z > 0), sig & (z < 0)
    trend_sig = bool(np.isfinite(trend_p) and trend_p < trend_alpha and np.isfinite(trend_z))
    for kind, flags, other, stronger in (("hot", hot, cold, 1.0), ("cold", cold, hot, -1.0)):
        if not flags[-1]:
            continue
        if flags.sum() / n >= PERSISTENT_SHARE:
            if trend_sig and np.sign(trend_z) == stronger:
                return f"intensifying_{kind}"
            if trend_sig and np.sign(trend_z) == -stronger:
                return f"diminishing_{kind}"
            return f"persistent_{kind}"
        if flags.sum() == 1:
            return f"new_{kind}"
        before = np.flatnonzero(~flags)
        run_start = before[-1] + 1 if len(before) else 0
        if not flags[:run_start].any() and n - run_start >= 2:
            return f"consecutive_{kind}"
        if other[:-1].any():
            return f"oscillating_{kind}"
        return f"sporadic_{kind}"
    for kind, flags in (("hot", hot), ("cold", cold)):
        if flags.sum() / n >= PERSISTENT_SHARE:
            return f"historical_{kind}"
    return "no_pattern"


def mann_kendall(series: Sequence[float]) -> tuple[float, float]:
    """(z, p) of the Mann–Kendall trend test (``pymannkendall.original_test``, two-sided) on the
    finite values of ``series``; (0, 1) when fewer than three remain or they do not vary."""
    x = np.asarray(series, dtype=float)
    x = x[np.isfinite(x)]
    z, p = mann_kendall_rows(x[None, :])
    return float(z[0]), float(p[0])


def mann_kendall_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, p) of the Mann–Kendall test on each row of ``x`` (units × time steps, finite), all rows
    at once: the S score over every pair of steps, its variance corrected for tied values, the
    continuity-corrected z and its two-sided normal p, exactly as ``pymannkendall.original_test``
    computes them per series (a test holds the two equal); (0, 1) for a row that does not vary
    or has fewer than three steps. One call for thousands of units instead of a loop over them."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    m, n = x.shape
    if n < 3:
        return np.zeros(m), np.ones(m)
    i, j = np.triu_indices(n, k=1)
    s = np.sign(x[:, j] - x[:, i]).sum(axis=1)
    ordered = np.sort(x, axis=1)
    starts = np.ones((m, n), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = np.cumsum(starts, axis=1) - 1 + (np.arange(m) * n)[:, None]
    t = np.bincount(group.ravel(), minlength=m * n).astype(float)
    ties = (t * (t - 1) * (2 * t + 5)).reshape(m, n).sum(axis=1)
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    root = np.sqrt(np.where(var > 0, var, 1.0))
    z = np.where(var <= 0, 0.0, np.where(s > 0, (s - 1) / root, np.where(s < 0, (s + 1) / root, 0.0)))
    return z, normal_p(z)


def emerging_hot_spots(weekly: pd.DataFrame, units: gpd.GeoDataFrame, *, weeks: Sequence | None = None,
                       permutations: int = 999, seed: int = 0, alpha: float = 0.10, trend_alpha: float = 0.05,
                       fdr: bool = True, p_value: str = DEFAULT_P_VALUE) -> pd.DataFrame:
    """Emerging hot spots: a weekly Gi* per unit, Mann–Kendall on its z-scores, ArcGIS's categories.

    Parameters
    ----------
    weekly
        ``code``, ``week`` (any sortable label, e.g. ``2026-W05``), ``count``; missing pairs are 0.
    units
        ``code``, ``name``, ``geometry`` of every unit analysed (the neighbourhoods).
    weeks
        The weeks in order (default: those in ``weekly``, sorted); a week without cases still counts.
    permutations, seed, fdr, p_value
        As for :func:`hot_spots` (each week seeded with ``seed``); with ``p_value='normal'`` (the
        default) no permutation is drawn: the weeks' classes need only z.
    alpha, trend_alpha
        A week is significant when its FDR-corrected p is below ``alpha`` (90 %: 0.10);
        the trend when the Mann–Kendall p is below ``trend_alpha``.

    Returns
    -------
    DataFrame
        ``code``, ``name``, ``category``, ``category_zh``, ``trend_z``, ``trend_p``, ``hot_weeks``,
        ``cold_weeks``, ``weeks``; a unit whose Gi* is undefined in a week (no case anywhere that
        week) gets z 0 there, and islands get ``island``.
    """
    check_p_value(p_value)
    for column in ("code", "week", "count"):
        if column not in weekly.columns:
            raise InputError(f"weekly counts need the column {column}", field=column,
                             fix="give code, week and count per row")
    units = units.reset_index(drop=True)
    weeks = list(weeks) if weeks is not None else sorted(weekly["week"].unique())
    if len(weeks) < 3:
        raise InputError(f"emerging hot spots need at least 3 weeks, got {len(weeks)}", field="week",
                         fix="choose a longer period")
    table = (weekly.pivot_table(index="code", columns="week", values="count", aggfunc="sum")
             .reindex(index=units["code"], columns=weeks).fillna(0.0))
    w = queen_weights(units)
    w_star = star_weights(w)  # once for all weeks, not once per week inside esda
    z = np.zeros((len(units), len(weeks)))
    sig = np.zeros((len(units), len(weeks)), dtype=bool)
    neighbours = None
    for j, week in enumerate(weeks):
        result = gi_star(table[week].to_numpy(dtype=float), w,
                         permutations=permutations if p_value == "permutation" else 0, seed=seed, w_star=w_star)
        neighbours = result.neighbours
        z[:, j] = np.nan_to_num(result.z, nan=0.0)
        sig[:, j] = significant(result.p if p_value == "permutation" else normal_p(result.z), alpha, fdr=fdr)
    trend_zs, trend_ps = mann_kendall_rows(z)
    rows = []
    for i, code in enumerate(units["code"]):
        if neighbours[i] == 0:
            rows.append((code, "island", np.nan, np.nan, 0, 0))
            continue
        trend_z, trend_p = float(trend_zs[i]), float(trend_ps[i])
        category = classify_trend(z[i], np.full(len(weeks), np.nan), trend_p, trend_z, trend_alpha=trend_alpha,
                                  significant_steps=sig[i])
        rows.append((code, category, trend_z, trend_p, int((sig[i] & (z[i] > 0)).sum()),
                     int((sig[i] & (z[i] < 0)).sum())))
    out = pd.DataFrame(rows, columns=["code", "category", "trend_z", "trend_p", "hot_weeks", "cold_weeks"])
    out.insert(1, "name", units["name"].to_numpy() if "name" in units else out["code"])
    out.insert(3, "category_zh", out["category"].map(EMERGING_CATEGORIES))
    out["weeks"] = len(weeks)
    return out


# -- repeat locations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RepeatRule:
    """高频点位: the same category reported at least ``k`` times within ``d_m`` metres and
    ``t_days`` days (:func:`repeat_locations`)."""

    k: int = 3
    d_m: float = 30.0
    t_days: float = 30.0


#: The rule of every repeat-location call unless told otherwise (jobs, CLI, the app's 高频点位).
REPEAT_RULE = RepeatRule()

REPEAT_COLUMNS = ["cluster_id", "category", "count", "first", "last", "lon", "lat", "radius_m", "micro_code",
                  "case_ids"]


def repeat_locations(cases: pd.DataFrame, *, k: int = REPEAT_RULE.k, d_m: float = REPEAT_RULE.d_m,
                     t_days: float = REPEAT_RULE.t_days) -> pd.DataFrame:
    """高频点位: places where the same category is reported again and again (space-time DBSCAN).

    Two cases are *neighbours* when they have the same category, lie at most ``d_m`` metres
    apart (straight line in the UTM zone of the cases, never degrees) and were reported at most
    ``t_days`` days apart (both bounds inclusive; each case is its own neighbour). A case with at
    least ``k`` neighbours is a *core*. Clusters are the connected groups of cores (core to core
    through the neighbour relation), plus every other case that neighbours one of its cores (a
    case between two clusters joins the one whose earliest core comes first). So every cluster
    holds a case with ``k − 1`` others of its category within ``d_m`` and ``t_days``; two cases
    31 m apart with ``d_m=30`` are never neighbours. Cases without a point are ignored.

    Parameters
    ----------
    cases
        ``id``, ``category``, ``lon``, ``lat`` (degrees WGS-84), ``reported_at`` and optionally
        ``micro_code``.

    Returns
    -------
    DataFrame
        :data:`REPEAT_COLUMNS`, one row per cluster, the largest first: ``count``, ``first`` and
        ``last`` reported, the centroid ``lon``/``lat`` (WGS-84), ``radius_m`` (farthest case
        from it), the micro-grid most of its cases lie in (ties: lowest code) and the sorted
        ``case_ids``; ``cluster_id`` numbers them 1.. in that order.
    """
    missing = [c for c in ("id", "category", "lon", "lat", "reported_at") if c not in cases.columns]
    if missing:
        raise InputError(f"repeat locations need the column(s) {', '.join(missing)}", field=missing[0],
                         fix="give id, category, lon, lat and reported_at per case")
    if k < 2 or d_m <= 0 or t_days < 0:
        raise InputError(f"k={k}, d_m={d_m}, t_days={t_days} define no repeat", field="k",
                         fix="use k ≥ 2, d_m > 0 and t_days ≥ 0")
    frame = cases[pd.to_numeric(cases["lon"], errors="coerce").notna()
                  & pd.to_numeric(cases["lat"], errors="coerce").notna()].copy()
    if not len(frame):
        return pd.DataFrame(columns=REPEAT_COLUMNS)
    frame["reported_at"] = pd.to_datetime(frame["reported_at"], utc=True)
    frame = frame.sort_values(["reported_at", "id"], kind="stable").reset_index(drop=True)
    points = crs_mod.to_metric(gpd.GeoSeries(gpd.points_from_xy(frame["lon"].astype(float),
                                                                 frame["lat"].astype(float)), crs=4326))
    xy = shapely.get_coordinates(points.values)
    seconds = (frame["reported_at"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    category = pd.factorize(frame["category"])[0]
    tree = shapely.STRtree(points.values)
    i, j = tree.query(points.values, predicate="dwithin", distance=d_m)
    keep = (category[i] == category[j]) & (np.abs(seconds[i] - seconds[j]) <= t_days * 86400.0)
    # the metric distance decides, to the bound exactly (dwithin is GEOS's, ≤ d_m)
    keep &= np.hypot(*(xy[i] - xy[j]).T) <= d_m
    i, j = i[keep], j[keep]
    n = len(frame)
    degree = np.bincount(i, minlength=n)
    core = degree >= k
    if not core.any():
        return pd.DataFrame(columns=REPEAT_COLUMNS)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    both = core[i] & core[j]
    _, component = connected_components(coo_matrix((np.ones(both.sum()), (i[both], j[both])), shape=(n, n)),
                                        directed=False)
    label = np.full(n, -1)
    label[core] = component[core]
    # a border case joins the cluster of its earliest core neighbour (rows are in time order)
    border = ~core[i] & core[j]
    order = np.lexsort((j[border], i[border]))
    bi, bj = i[border][order], j[border][order]
    first_of = np.unique(bi, return_index=True)
    label[first_of[0]] = label[bj[first_of[1]]]
    frame["_cluster"] = label
    members = frame[frame["_cluster"] >= 0]
    rows = []
    for _, group in members.groupby("_cluster", sort=False):
        idx = group.index.to_numpy()
        centre = xy[idx].mean(axis=0)
        micro = None
        if "micro_code" in group and group["micro_code"].notna().any():
            counts = group["micro_code"].dropna().value_counts()
            micro = min(counts.index[counts == counts.max()])
        rows.append({"category": group["category"].iat[0], "count": len(group),
                     "first": group["reported_at"].min(), "last": group["reported_at"].max(),
                     "_x": centre[0], "_y": centre[1],
                     "radius_m": float(np.hypot(*(xy[idx] - centre).T).max()),
                     "micro_code": micro, "case_ids": sorted(group["id"].tolist())})
    out = pd.DataFrame(rows).sort_values(["count", "first"], ascending=[False, True], kind="stable")
    centres = gpd.GeoSeries(gpd.points_from_xy(out["_x"], out["_y"]), crs=points.crs).to_crs(4326)
    out["lon"], out["lat"] = centres.x.to_numpy(), centres.y.to_numpy()
    out["first"] = out["first"].dt.tz_convert(CHINA_TZ)
    out["last"] = out["last"].dt.tz_convert(CHINA_TZ)
    out.insert(0, "cluster_id", np.arange(1, len(out) + 1))
    return out[REPEAT_COLUMNS].reset_index(drop=True)


# -- kernel density --------------------------------------------------------------------------------


def kernel_density(lon: Sequence[float], lat: Sequence[float], *, cell_m: float = 50.0,
                   bandwidth_m: float = 200.0, weights: Sequence[float] | None = None) -> pd.DataFrame:
    """A smooth surface of cases per km²: the quartic (biweight) kernel ArcGIS's Kernel Density uses,
    ``K(d) = 3 / (π h²) · (1 − d²/h²)²`` for d < h, summed on a square grid in metres (UTM).

    Parameters
    ----------
    lon, lat
        Degrees WGS-84 (NaN rows are dropped).
    cell_m, bandwidth_m
        Cell side and search radius h, metres.
    weights
        Weight per point (default 1).

    Returns
    -------
    DataFrame
        ``lon``, ``lat`` (cell centres, WGS-84), ``x``, ``y`` (metres, the UTM zone in
        ``attrs['epsg']``) and ``density`` (cases per km²); only cells within h of a point.
        The surface integrates to the total weight (up to the grid's discretisation).
    """
    from scipy.spatial import cKDTree

    if cell_m <= 0 or bandwidth_m <= 0:
        raise InputError(f"cell_m={cell_m}, bandwidth_m={bandwidth_m} must be > 0", field="cell_m",
                         fix="give positive distances in metres")
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    w = np.ones(len(lon)) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(w)
    columns = ["lon", "lat", "x", "y", "density"]
    if not ok.any():
        return pd.DataFrame(columns=columns)
    points = crs_mod.to_metric(gpd.GeoSeries(gpd.points_from_xy(lon[ok], lat[ok]), crs=4326))
    xy, w = shapely.get_coordinates(points.values), w[ok]
    x0, y0 = np.floor((xy.min(axis=0) - bandwidth_m) / cell_m) * cell_m
    x1, y1 = np.ceil((xy.max(axis=0) + bandwidth_m) / cell_m) * cell_m
    gx, gy = np.meshgrid(np.arange(x0 + cell_m / 2, x1, cell_m), np.arange(y0 + cell_m / 2, y1, cell_m))
    cells = np.column_stack([gx.ravel(), gy.ravel()])
    # the ndarray output keeps pairs at distance 0 (a point on a cell centre), unlike the sparse ones
    pairs = cKDTree(cells).sparse_distance_matrix(cKDTree(xy), bandwidth_m, output_type="ndarray")
    u = 1.0 - (pairs["v"] / bandwidth_m) ** 2
    contribution = 3.0 / (np.pi * bandwidth_m ** 2) * u * u * w[pairs["j"]]
    density = np.bincount(pairs["i"], weights=contribution, minlength=len(cells))
    density *= 1e6  # per m² → per km²
    keep = density > 0
    metric = gpd.GeoSeries(gpd.points_from_xy(cells[keep, 0], cells[keep, 1]), crs=points.crs)
    wgs = metric.to_crs(4326)
    out = pd.DataFrame({"lon": wgs.x.to_numpy(), "lat": wgs.y.to_numpy(), "x": cells[keep, 0],
                        "y": cells[keep, 1], "density": density[keep]})
    out.attrs["epsg"] = points.crs.to_epsg()
    return out


# -- workload ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Who carries how much: the frames of :func:`workload`."""

    by_worker: pd.DataFrame      # assignee, week, cases
    by_micro: pd.DataFrame       # micro_code, week, cases
    handling: pd.DataFrame       # assignee, cases, closed, median_h, p90_h
    overloaded: pd.DataFrame     # micro_code, street_code, cases, street_median, ratio (ratio > factor)


def iso_week_label(moments: pd.Series) -> pd.Series:
    """``YYYY-Www`` of each moment in China time (a naive time is read as China time)."""
    stamps = pd.to_datetime(moments)
    stamps = stamps.dt.tz_localize(CHINA_TZ) if stamps.dt.tz is None else stamps.dt.tz_convert(CHINA_TZ)
    iso = stamps.dt.isocalendar()
    return iso["year"].astype(str) + "-W" + iso["week"].astype(int).map("{:02d}".format)


def workload(cases: pd.DataFrame, *, streets: Mapping[str, str], factor: float = 2.0) -> Workload:
    """Cases per worker and per micro-grid per ISO week (China time), handling hours per worker,
    and the micro-grids whose load is far above their street's.

    Parameters
    ----------
    cases
        ``assignee``, ``micro_code``, ``status``, ``reported_at``, ``closed_at``.
    streets
        Micro-grid code → street code for *every* micro-grid (those without cases count as 0
        in their street's median).
    factor
        A micro-grid is overloaded when its cases over the period exceed ``factor`` × the median
        of its street's micro-grids (and the median is > 0).

    Handling time is reported → closed in hours, over the cases closed (结案, the KPI's 办结)
    with a ``closed_at``, as the KPI cards' median counts it.
    """
    for column in ("assignee", "micro_code", "status", "reported_at", "closed_at"):
        if column not in cases.columns:
            raise InputError(f"workload needs the column {column}", field=column,
                             fix="give assignee, micro_code, status, reported_at and closed_at per case")
    frame = cases.copy()
    frame["week"] = iso_week_label(frame["reported_at"]) if len(frame) else pd.Series(dtype=str)
    by_worker = (frame.dropna(subset=["assignee"]).groupby(["assignee", "week"]).size()
                 .rename("cases").reset_index())
    by_micro = (frame.dropna(subset=["micro_code"]).groupby(["micro_code", "week"]).size()
                .rename("cases").reset_index())
    reported = pd.to_datetime(frame["reported_at"], utc=True)
    closed = pd.to_datetime(frame["closed_at"], utc=True)
    done = (frame["status"] == CLOSED_STATUS) & closed.notna()
    frame["hours"] = ((closed - reported).dt.total_seconds() / 3600).where(done)
    assigned = frame.dropna(subset=["assignee"])
    handling = assigned.groupby("assignee").agg(cases=("week", "size"), closed=("hours", "count"),
                                                median_h=("hours", "median"),
                                                p90_h=("hours", lambda h: h.quantile(0.9))).reset_index()
    totals = pd.Series(0, index=pd.Index(sorted(streets), name="micro_code"), dtype=int)
    counted = frame["micro_code"].dropna().value_counts()
    totals = totals.add(counted.reindex(totals.index).fillna(0).astype(int), fill_value=0).astype(int)
    per_micro = totals.rename("cases").reset_index()
    per_micro["street_code"] = per_micro["micro_code"].map(streets)
    per_micro["street_median"] = per_micro.groupby("street_code")["cases"].transform("median")
    per_micro["ratio"] = per_micro["cases"] / per_micro["street_median"].where(per_micro["street_median"] > 0)
    overloaded = (per_micro[per_micro["ratio"] > factor]
                  .sort_values(["ratio", "micro_code"], ascending=[False, True])
                  [["micro_code", "street_code", "cases", "street_median", "ratio"]].reset_index(drop=True))
    return Workload(by_worker, by_micro, handling, overloaded)
