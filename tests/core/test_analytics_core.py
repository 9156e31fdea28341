"""gis.core.analytics: Gi* hot spots, emerging trends, repeat locations, kernel density, workload."""

from __future__ import annotations

from datetime import date

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from libpysal.weights import lat2W
from scipy.stats import norm
from shapely.geometry import box

from gis.core import analytics
from gis.errors import InputError

X0, Y0, D = 113.60, 34.75, 0.002


def lattice(rows: int, cols: int, values: np.ndarray) -> gpd.GeoDataFrame:
    """rows × cols square cells, row-major (the order of libpysal's lat2W ids)."""
    cells = [box(X0 + c * D, Y0 + r * D, X0 + (c + 1) * D, Y0 + (r + 1) * D) for r in range(rows) for c in range(cols)]
    codes = [f"M{i:03d}" for i in range(rows * cols)]
    return gpd.GeoDataFrame({"code": codes, "name": codes, "value": values}, geometry=cells, crs=4326)


def planted(rows: int = 10, cols: int = 10, *, block=(2, 8), high: float = 40.0, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = rng.poisson(5, (rows, cols)).astype(float)
    grid[block[0]:block[1], block[0]:block[1]] += high
    return grid.ravel()


# -- Gi* --------------------------------------------------------------------------------------


def test_gi_star_z_and_p_equal_esda_on_the_same_queen_weights_and_seed():
    values = planted()
    out = analytics.hot_spots(lattice(10, 10, values), permutations=999, seed=11)
    reference = esda.G_Local(values, lat2W(10, 10, rook=False), transform="B", star=True, permutations=999,
                             seed=11, n_jobs=1, alternative="folded")
    np.testing.assert_allclose(out["z"].to_numpy(), reference.Zs, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out["p"].to_numpy(), reference.p_sim)
    # queen: a corner touches 3, an edge cell 5, an inner cell 8 (self not counted)
    assert out["neighbours"].iloc[[0, 1, 11]].tolist() == [3, 5, 8]


def test_gi_star_z_is_the_textbook_getis_ord_score_arcgis_reports():
    values = planted(seed=5)
    out = analytics.hot_spots(lattice(10, 10, values), permutations=0)
    w = lat2W(10, 10, rook=False).full()[0] + np.eye(100)          # binary, self included
    n, mean = len(values), values.mean()
    s = np.sqrt((values ** 2).mean() - mean ** 2)
    wsum = w.sum(axis=1)
    expected = (w @ values - mean * wsum) / (s * np.sqrt((n * (w ** 2).sum(axis=1) - wsum ** 2) / (n - 1)))
    np.testing.assert_allclose(out["z"].to_numpy(), expected, rtol=1e-10)


def test_same_seed_same_p_and_another_seed_other_p():
    units = lattice(10, 10, planted())
    a = analytics.hot_spots(units, seed=1)["p"]
    assert a.equals(analytics.hot_spots(units, seed=1)["p"])
    assert not a.equals(analytics.hot_spots(units, seed=2)["p"])


def test_a_planted_cluster_is_a_99_percent_hot_spot_after_fdr():
    out = analytics.hot_spots(lattice(10, 10, planted()), permutations=999, seed=0)
    # the block is rows and columns 2..7; its inner 4×4 (3..6) sees only block cells
    centre = out.set_index("code").loc[[f"M0{r}{c}" for r in range(3, 7) for c in range(3, 7)]]
    assert (centre["class"] == "hot_99").all()
    assert (centre["class_zh"] == "热点（99%置信）").all() and (centre["confidence"] == 99).all()
    assert (centre["gi_bin"] == 3).all()
    # far from the block nothing is hot
    assert not out.set_index("code").loc[["M000", "M009", "M090", "M099"], "class"].str.startswith("hot").any()


def noise_maps(p_value: str, maps: int = 40) -> list[pd.DataFrame]:
    return [analytics.hot_spots(lattice(10, 10, np.random.default_rng(100 + seed).poisson(10, 100).astype(float)),
                                permutations=999, seed=seed, p_value=p_value) for seed in range(maps)]


def test_uniform_noise_yields_no_hot_or_cold_spot_after_fdr():
    # the default (ArcGIS's normal p): this noise map shows nothing at all
    values = np.random.default_rng(100).poisson(10, 100).astype(float)
    assert (analytics.hot_spots(lattice(10, 10, values), seed=0)["class"] == "not_significant").all()


def test_under_noise_the_normal_p_flags_about_as_often_as_fdr_allows():
    # FDR at 10 % under pure noise: at most ~1 map in 10 may show any spot; the normal approximation
    # of Gi* on counts adds a little (measured: 6 of 40 maps, 12 of 4,000 units)
    out = noise_maps("normal")
    maps_with_spots = sum(int((o["gi_bin"] != 0).any()) for o in out)
    units_flagged = sum(int((o["gi_bin"] != 0).sum()) for o in out)
    assert maps_with_spots <= 6 and units_flagged <= 20


def test_under_noise_the_permutation_p_never_reaches_95_percent():
    maps_with_spots = 0
    for seed, o in enumerate(noise_maps("permutation")):
        assert (o["gi_bin"].abs() <= 1).all(), seed           # never 95 % or 99 %
        maps_with_spots += int((o["class"] != "not_significant").any())
    assert maps_with_spots <= 4


def test_without_fdr_noise_shows_spurious_spots():
    values = np.random.default_rng(100).poisson(10, 100).astype(float)
    assert (analytics.hot_spots(lattice(10, 10, values), fdr=False)["gi_bin"] != 0).any()


def test_normal_p_values_reach_99_percent_where_999_permutations_cannot():
    # a 4×4 block in 400 units: 16 units at the permutation floor 0.001 are too few for 99 % after FDR
    values = planted(20, 20, block=(8, 12), seed=1)
    by_permutation = analytics.hot_spots(lattice(20, 20, values), seed=0, p_value="permutation")
    by_normal = analytics.hot_spots(lattice(20, 20, values), seed=0)  # the default
    assert (by_permutation["gi_bin"] == 3).sum() == 0 and (by_permutation["gi_bin"] == 2).sum() > 0
    assert by_normal.set_index("code").loc["M189", "class"] == "hot_99"     # row 9, column 9
    np.testing.assert_allclose(by_normal["p_norm"], 2 * (1 - norm.cdf(abs(by_normal["z"]))), atol=1e-12)


def test_without_fdr_the_raw_p_decides_and_flags_more_units():
    values = planted(high=8.0)
    with_fdr = analytics.hot_spots(lattice(10, 10, values), seed=0)
    raw = analytics.hot_spots(lattice(10, 10, values), seed=0, fdr=False)
    assert (raw["gi_bin"] != 0).sum() > (with_fdr["gi_bin"] != 0).sum()
    assert ((raw["p_norm"] < 0.10) == (raw["gi_bin"] != 0)).all()


def test_significance_is_p_below_esda_fdr_threshold_at_each_level():
    p = np.random.default_rng(0).uniform(0, 0.2, 200) ** 2
    for alpha in (0.01, 0.05, 0.10):
        assert (analytics.significant(p, alpha) == (p < esda.fdr(p, alpha))).all()
    z = np.where(np.arange(200) % 2, 1.0, -1.0)
    bins = analytics.gi_bins(z, p)
    assert set(np.unique(np.abs(bins))) <= {0, 1, 2, 3}
    assert ((bins == 3) == ((p < esda.fdr(p, 0.01)) & (z > 0))).all()
    assert ((bins == -2) == ((p < esda.fdr(p, 0.05)) & ~(p < esda.fdr(p, 0.01)) & (z < 0))).all()


def test_islands_are_reported_without_z_or_p():
    units = lattice(10, 10, planted())
    far = gpd.GeoDataFrame({"code": ["ISLE"], "name": ["岛"], "value": [3.0]},
                           geometry=[box(X0 + 1, Y0 + 1, X0 + 1 + D, Y0 + 1 + D)], crs=4326)
    out = analytics.hot_spots(pd.concat([units, far], ignore_index=True), seed=0)
    isle = out.set_index("code").loc["ISLE"]
    assert isle["class"] == "island" and isle["class_zh"].startswith("孤立") and isle["neighbours"] == 0
    assert np.isnan(isle["z"]) and np.isnan(isle["p"])
    assert out.set_index("code").loc["M044", "class"] == "hot_99"


def test_hot_spots_refuse_negative_values_naming_the_grid():
    values = planted()
    values[7] = -1
    with pytest.raises(InputError, match="grid M007: value is -1.0"):
        analytics.hot_spots(lattice(10, 10, values))


def test_no_variation_means_no_hot_spot():
    out = analytics.hot_spots(lattice(4, 4, np.full(16, 5.0)))
    assert (out["class"] == "not_significant").all() and out["z"].isna().all()


# -- emerging hot spots ------------------------------------------------------------------------

HOT, COLD, OFF = (3.0, 0.001), (-3.0, 0.001), (0.2, 0.8)


def label(steps, trend_z=0.0, trend_p=1.0):
    z, p = zip(*steps)
    return analytics.classify_trend(z, p, trend_p, trend_z)


@pytest.mark.parametrize("steps, trend, expected", [
    ([OFF] * 9 + [HOT], (0, 1), "new_hot"),
    ([COLD] + [OFF] * 8 + [HOT], (0, 1), "new_hot"),            # ArcGIS checks new before oscillating
    ([OFF] * 7 + [HOT] * 3, (2.5, 0.01), "consecutive_hot"),
    ([HOT] * 10, (3.0, 0.001), "intensifying_hot"),
    ([OFF] + [HOT] * 9, (3.0, 0.001), "intensifying_hot"),      # 90 % including the final step
    ([HOT] * 10, (0.5, 0.6), "persistent_hot"),
    ([HOT] * 10, (-3.0, 0.001), "diminishing_hot"),
    ([HOT, OFF, HOT, OFF, OFF, HOT, OFF, OFF, OFF, HOT], (0, 1), "sporadic_hot"),
    ([HOT, OFF, HOT, OFF, COLD, OFF, OFF, OFF, OFF, HOT], (0, 1), "oscillating_hot"),
    ([HOT] * 9 + [OFF], (0, 1), "historical_hot"),
    ([OFF] * 9 + [COLD], (0, 1), "new_cold"),
    ([OFF] * 8 + [COLD] * 2, (0, 1), "consecutive_cold"),
    ([COLD] * 10, (-3.0, 0.001), "intensifying_cold"),
    ([COLD] * 10, (0.1, 0.9), "persistent_cold"),
    ([COLD] * 10, (3.0, 0.001), "diminishing_cold"),
    ([COLD, OFF, OFF, COLD, OFF, COLD], (0, 1), "sporadic_cold"),
    ([COLD, HOT, OFF, OFF, COLD, COLD], (0, 1), "oscillating_cold"),
    ([COLD] * 9 + [OFF], (0, 1), "historical_cold"),
    ([OFF] * 10, (3.0, 0.001), "no_pattern"),
    ([HOT, HOT, OFF, OFF, OFF], (0, 1), "no_pattern"),          # hot once, not at the end, < 90 %
])
def test_emerging_labels_follow_arcgis_definitions(steps, trend, expected):
    assert label(steps, *trend) == expected
    assert expected in analytics.EMERGING_CATEGORIES


def test_a_run_after_an_earlier_hot_spell_is_sporadic_not_consecutive():
    assert label([HOT, OFF, OFF, OFF, OFF, OFF, OFF, HOT, HOT, HOT]) == "sporadic_hot"


def test_an_insignificant_trend_never_intensifies():
    assert label([HOT] * 10, trend_z=3.0, trend_p=0.2) == "persistent_hot"


def test_significant_steps_override_the_p_series():
    z = [3.0] * 10
    p = [0.5] * 10
    assert analytics.classify_trend(z, p, 1.0, 0.0) == "no_pattern"
    assert analytics.classify_trend(z, p, 1.0, 0.0, significant_steps=[True] * 10) == "persistent_hot"


@pytest.mark.parametrize("p_value", ["normal", "permutation"])
def test_emerging_hot_spots_find_a_cluster_that_appears_in_the_last_weeks(p_value):
    rng = np.random.default_rng(4)
    units = lattice(8, 8, np.zeros(64))
    weeks = [f"2026-W{w:02d}" for w in range(1, 11)]
    rows = []
    for j, week in enumerate(weeks):
        grid = rng.poisson(5, (8, 8)).astype(float)
        if j >= 7:                                  # weeks 8..10: a block of trouble appears
            grid[2:6, 2:6] += 40
        rows += [(f"M{i:03d}", week, v) for i, v in enumerate(grid.ravel())]
    weekly = pd.DataFrame(rows, columns=["code", "week", "count"])
    out = analytics.emerging_hot_spots(weekly, units, weeks=weeks, seed=0, p_value=p_value).set_index("code")
    assert out.loc["M027", "category"] == "consecutive_hot"          # row 3, col 3: inside the block
    assert out.loc["M027", "category_zh"] == "连续热点" and out.loc["M027", "hot_weeks"] == 3
    assert out.loc["M027", "trend_z"] > 0
    assert not out.loc[["M000", "M007", "M056", "M063"], "category"].str.endswith("_hot").any()


# -- repeat locations --------------------------------------------------------------------------

UTM = pyproj.Transformer.from_crs(32649, 4326, always_xy=True)
E0, N0 = 551_000.0, 3_845_000.0          # near 113.6E 34.75N, UTM zone 49N


def case(cid, category, dx, dy, day, micro="M1"):
    lon, lat = UTM.transform(E0 + dx, N0 + dy)
    return {"id": cid, "category": category, "lon": lon, "lat": lat, "micro_code": micro,
            "reported_at": pd.Timestamp("2026-03-01T09:00:00+08:00") + pd.Timedelta(days=day)}


def test_repeat_finder_returns_exactly_the_planted_repeats():
    cases = pd.DataFrame([
        # planted A: three garbage reports within 30 m and 30 days
        case(1, "garbage", 0, 0, 0), case(2, "garbage", 10, 0, 4), case(3, "garbage", 0, 20, 19),
        case(4, "parking", 0, 0, 1),                                   # same spot, another category
        # 31 m apart in a row: never neighbours with d=30
        case(5, "parking", 500, 0, 0), case(6, "parking", 531, 0, 1), case(7, "parking", 562, 0, 2),
        # planted B: 29 m each from the first (the other two are 41 m apart: they join through it)
        case(8, "manhole", 1000, 0, 0, "M2"), case(9, "manhole", 1029, 0, 3, "M2"), case(10, "manhole", 1000, 29, 6, "M3"),
        # same spot, but too far apart in time (days 0, 40, 80)
        case(11, "light", 2000, 0, 0), case(12, "light", 2000, 0, 40), case(13, "light", 2000, 0, 80),
        # planted C: days 0, 30, 60 at one spot: 30 days is within t_days (inclusive)
        case(14, "vending", 3000, 0, 0), case(15, "vending", 3000, 0, 30), case(16, "vending", 3000, 0, 60),
    ])
    out = analytics.repeat_locations(cases, k=3, d_m=30, t_days=30)
    assert sorted(map(tuple, out["case_ids"])) == [(1, 2, 3), (8, 9, 10), (14, 15, 16)]
    assert list(out.columns) == analytics.REPEAT_COLUMNS
    b = out[out["category"] == "manhole"].iloc[0]
    assert b["count"] == 3 and b["micro_code"] == "M2"
    assert b["first"] == pd.Timestamp("2026-03-01T09:00:00+08:00")
    assert b["last"] == pd.Timestamp("2026-03-07T09:00:00+08:00")
    assert b["radius_m"] < 30
    a = out[out["category"] == "garbage"].iloc[0]
    lon, lat = UTM.transform(E0 + 10 / 3, N0 + 20 / 3)
    assert a["lon"] == pytest.approx(lon, abs=1e-7) and a["lat"] == pytest.approx(lat, abs=1e-7)


def test_repeat_bounds_are_inclusive_and_metric():
    pair = [case(1, "x", 0, 0, 0), case(2, "x", 29.99, 0, 0), case(3, "x", 0, 0, 30)]
    assert analytics.repeat_locations(pd.DataFrame(pair), k=3, d_m=30, t_days=30)["case_ids"].tolist() == [[1, 2, 3]]
    moved = [case(1, "x", 0, 0, 0), case(2, "x", 31, 0, 0), case(3, "x", 0, 0, 31)]
    assert analytics.repeat_locations(pd.DataFrame(moved), k=3, d_m=30, t_days=30).empty


def test_repeats_need_k_reports():
    trio = pd.DataFrame([case(1, "x", 0, 0, 0), case(2, "x", 5, 0, 1), case(3, "x", 0, 5, 2)])
    assert len(analytics.repeat_locations(trio, k=3)) == 1
    assert analytics.repeat_locations(trio, k=4).empty


# -- kernel density ----------------------------------------------------------------------------


def test_kernel_density_integrates_to_the_number_of_points_and_peaks_on_them():
    lon, lat = UTM.transform(np.array([E0, E0 + 1000, E0 + 1000]), np.array([N0, N0, N0 + 10]))
    surface = analytics.kernel_density(lon, lat, cell_m=10, bandwidth_m=200)
    total = surface["density"].sum() * (10 * 10) / 1e6
    assert total == pytest.approx(3.0, rel=0.01)
    peak = surface.loc[surface["density"].idxmax()]
    assert abs(peak["x"] - (E0 + 1000)) <= 10 and abs(peak["y"] - N0) <= 15
    assert surface.attrs["epsg"] == 32649
    assert (surface["density"] > 0).all()


# -- workload -----------------------------------------------------------------------------------


def test_workload_counts_per_week_handling_hours_and_overloaded_grids():
    t = pd.Timestamp("2026-03-02T09:00:00+08:00")          # a Monday: ISO week 2026-W10
    rows = [("张三", "M1", "closed", t, t + pd.Timedelta(hours=4)),
            ("张三", "M1", "closed", t + pd.Timedelta(days=7), t + pd.Timedelta(days=7, hours=10)),
            ("张三", "M1", "dispatched", t + pd.Timedelta(days=7), None),
            ("李四", "M2", "closed", t, t + pd.Timedelta(hours=2)),
            ("李四", "M1", "resolved", t, t + pd.Timedelta(hours=1))]  # resolved is not 办结
    rows += [("张三", "M1", "received", t, None)] * 5
    cases = pd.DataFrame(rows, columns=["assignee", "micro_code", "status", "reported_at", "closed_at"])
    streets = {"M1": "S1", "M2": "S1", "M3": "S1", "M9": "S2"}
    result = analytics.workload(cases, streets=streets)
    by_worker = result.by_worker.set_index(["assignee", "week"])["cases"]
    assert by_worker[("张三", "2026-W10")] == 6 and by_worker[("张三", "2026-W11")] == 2
    assert by_worker[("李四", "2026-W10")] == 2
    handling = result.handling.set_index("assignee")
    assert handling.loc["张三", "median_h"] == 7.0 and handling.loc["张三", "closed"] == 2
    assert handling.loc["李四", "median_h"] == 2.0 and handling.loc["李四", "closed"] == 1
    # S1: M1 9 cases, M2 1, M3 0 → median 1; M1 is 9× its street's median
    assert result.overloaded["micro_code"].tolist() == ["M1"]
    assert result.overloaded.iloc[0]["ratio"] == 9.0


# -- speed paths equal the libraries --------------------------------------------------------------


def test_mann_kendall_of_many_rows_equals_pymannkendall_per_series_with_ties():
    import pymannkendall

    rng = np.random.default_rng(11)
    rows = np.vstack([rng.normal(size=(20, 30)), rng.integers(0, 4, (20, 30)).astype(float),   # many ties
                      np.cumsum(rng.normal(size=(5, 30)), axis=1), np.zeros((1, 30))])
    z, p = analytics.mann_kendall_rows(rows)
    for i, row in enumerate(rows):
        if np.all(row == row[0]):
            assert (z[i], p[i]) == (0.0, 1.0)
            continue
        expected = pymannkendall.original_test(row)
        assert z[i] == pytest.approx(expected.z, abs=1e-12) and p[i] == pytest.approx(expected.p, abs=1e-12), i
    assert analytics.mann_kendall([1.0, np.nan, 2.0, 3.0, 4.0]) == pytest.approx(
        (pymannkendall.original_test([1.0, 2.0, 3.0, 4.0]).z, pymannkendall.original_test([1.0, 2.0, 3.0, 4.0]).p))


def test_gi_star_on_prebuilt_star_weights_equals_esdas_own():
    units = lattice(10, 10, planted())
    w = analytics.queen_weights(units)
    plain = analytics.gi_star(units["value"].to_numpy(), w, permutations=99, seed=1)
    reused = analytics.gi_star(units["value"].to_numpy(), w, permutations=99, seed=1, w_star=analytics.star_weights(w))
    np.testing.assert_allclose(reused.z, plain.z, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(reused.p, plain.p)
    np.testing.assert_array_equal(reused.neighbours, plain.neighbours)


# -- the period analysed --------------------------------------------------------------------------


@pytest.mark.parametrize("latest, expected", [
    # a Wednesday: Dec 2025 .. Nov 2026, and the 52 ISO weeks ending on the Sunday before
    (date(2026, 12, 2), (date(2025, 12, 1), date(2026, 11, 30), date(2025, 12, 1), date(2026, 11, 29))),
    # the first of a month and a Sunday: that month and that week are not yet full
    (date(2026, 3, 1), (date(2025, 3, 1), date(2026, 2, 28), date(2025, 2, 24), date(2026, 2, 22))),
    # a Monday: its week has only begun
    (date(2026, 11, 30), (date(2025, 11, 1), date(2026, 10, 31), date(2025, 12, 1), date(2026, 11, 29))),
])
def test_the_default_periods_are_the_full_months_and_iso_weeks_before_the_latest_case(latest, expected):
    p = analytics.recent_periods(latest)
    assert (p.since, p.until, p.week_since, p.week_until) == expected
    assert p.week_since.weekday() == 0 and p.week_until.weekday() == 6
    assert (p.week_until - p.week_since).days + 1 == 52 * 7


def test_a_period_needs_a_month_and_a_week():
    with pytest.raises(InputError, match="months=0"):
        analytics.recent_periods(date(2026, 1, 5), months=0)
