"""gis.workflows.analytics against the real PostGIS: counts by level × period, repeat locations with the
responsible worker (tiny district), and hot spots, emerging trends and workload on the demo district
(read-only)."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from gis import workflows
from gis.core import analytics as core
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.core.metrics import COUNT_COLUMNS, CaseFilter
from gis.errors import InputError
from gis.workflows import analytics
from gis.workflows.context import Services
from tests.conftest import X0, Y0, D

HEADER = ["source", "external_id", "category", "lon", "lat", "reported_at", "status", "description", "address"]
ROSTER = ("grid_code,role,name,phone\n"
          "G1,专职网格员,黄子明,13900001111\nC1,网格长,张伟,13700002222\nC2,专职网格员,吴专职,13400005555\n")
NOW = datetime(2026, 12, 1, 12, tzinfo=CHINA_TZ)
M_PER_DEG_LON, M_PER_DEG_LAT = 111_320 * np.cos(np.radians(Y0)), 110_950


def at(micro_x: float, micro_y: float, dx_m: float = 0.0, dy_m: float = 0.0) -> tuple[float, float]:
    """A point (lon, lat) at grid units (D) plus metres east and north."""
    return X0 + micro_x * D + dx_m / M_PER_DEG_LON, Y0 + micro_y * D + dy_m / M_PER_DEG_LAT


# (id, category, (lon, lat), China time, source)
CASES = [
    # G1-01 (away from the exclusive grid Z1): three garbage reports within 10 m and 4 days …
    ("R1", "env.exposed_garbage", at(0.3, 0.5), "2026-11-02T09:00:00", "12345"),
    ("R2", "env.exposed_garbage", at(0.3, 0.5, 8, 0), "2026-11-04T09:00:00", "12345"),
    ("R3", "env.exposed_garbage", at(0.3, 0.5, 0, 8), "2026-11-06T09:00:00", "patrol"),
    # … and a fourth at the spot 50 days later: outside the 30-day window
    ("R4", "env.exposed_garbage", at(0.3, 0.5), "2026-12-26T09:00:00", "12345"),
    # two manhole reports at one spot: fewer than k=3
    ("M1", "municipal.manhole", at(3.5, 1.5), "2026-11-03T09:00:00", "12345"),
    ("M2", "municipal.manhole", at(3.5, 1.5), "2026-11-10T09:00:00", "12345"),
    # G2-01, another week
    ("S1", "safety.fire", at(3.5, 0.5), "2026-11-10T10:00:00", "12345"),
]


def load_tiny(services, layer_file, tmp_path, *, addresses: dict[str, str] | None = None) -> None:
    """The tiny district, its roster and :data:`CASES` (``addresses``: case id → address given)."""
    addresses = addresses or {}
    workflows.import_grids(services, layer_file)
    roster = tmp_path / "staff.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    workflows.import_staff(services, roster)
    path = tmp_path / "cases.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for cid, category, (lon, lat), reported, source in CASES:
            writer.writerow([source, cid, category, repr(float(lon)), repr(float(lat)), reported, "received", "",
                             addresses.get(cid, "")])
    assert workflows.import_incidents(services, path).accepted == len(CASES)


@pytest.fixture
def tiny(services, layer_file, tmp_path):
    load_tiny(services, layer_file, tmp_path)
    return services


def test_counts_by_street_and_iso_week_in_china_time(tiny):
    out = analytics.counts(tiny, level="street", by="week", since=date(2026, 11, 1), until=date(2026, 11, 30),
                           now=NOW)
    got = {(r.code, r.week): r.received for r in out.itertuples()}
    # 2026-11-02 is a Monday (W45); R1–R3 and M1 in W45 (M1 is in S2), M2 and S1 in W46 (S2)
    assert got == {("S1", "2026-W45"): 3, ("S2", "2026-W45"): 1, ("S2", "2026-W46"): 2}
    assert set(out["name"]) == {"一街道", "二街道"}
    assert out.loc[out["code"] == "S1", "per_1000"].iloc[0] == pytest.approx(3 / 700 * 1000)


def test_counts_split_by_category_and_source_sum_to_the_app_kpi_counts(tiny):
    out = analytics.counts(tiny, level="micro", by="month", since=date(2026, 11, 1), until=date(2026, 12, 31),
                           by_category=True, by_source=True, now=NOW)
    assert out.loc[(out["code"] == "G1-01") & (out["source"] == "patrol"), "received"].tolist() == [1]
    assert set(out["period"]) == {date(2026, 11, 1), date(2026, 12, 1)}
    flt = CaseFilter(since=date(2026, 11, 1), until=date(2026, 12, 31))
    app = workflows.micro_stats(tiny, flt, now=NOW).set_index("micro_code")[COUNT_COLUMNS]
    ours = out.groupby("code")[COUNT_COLUMNS].sum()
    pd.testing.assert_frame_equal(ours.sort_index(), app.loc[ours.index].sort_index(), check_names=False,
                                  check_dtype=False)


def test_counts_refuse_an_unknown_period(tiny):
    with pytest.raises(InputError, match="period 'year' is unknown"):
        analytics.counts(tiny, level="street", by="year", since=date(2026, 11, 1), until=date(2026, 11, 30))


def test_repeats_find_the_planted_spot_with_its_grid_and_worker(tiny):
    out = analytics.repeats(tiny, since=date(2026, 11, 1), until=date(2026, 12, 31), k=3, d_m=30, t_days=30,
                            now=NOW)
    assert len(out) == 1
    spot = out.iloc[0]
    assert sorted(spot["case_ids"]) == ["12345:R1", "12345:R2", "patrol:R3"]
    assert spot["category"] == "env.exposed_garbage" and spot["count"] == 3
    assert spot["micro_code"] == "G1-01" and spot["street_code"] == "S1" and spot["street_name"] == "一街道"
    assert spot["worker"] == "黄子明" and "专职网格员" in spot["worker_reason"]
    assert spot["first"] == pd.Timestamp("2026-11-02T09:00:00+08:00")
    assert spot["radius_m"] < 10


def test_the_cli_writes_hot_spots_and_repeats_with_their_columns(tiny, cli, tmp_path):
    spots = tmp_path / "spots.csv"
    done = cli("hotspots", "--level", "micro", "--since", "2026-11-01", "--until", "2026-12-31", "--out", str(spots))
    assert done.returncode == 0, done.stderr
    assert "4 grids: " in done.stdout
    table = pd.read_csv(spots, dtype={"code": str}, encoding="utf-8-sig")
    assert {"code", "name", "count", "z", "p", "class"} <= set(table.columns)
    assert sorted(table["code"]) == ["G1-01", "G1-02", "G2-01", "G2-02"]
    repeats = tmp_path / "repeats.geojson"
    done = cli("repeats", "--since", "2026-11-01", "--until", "2026-12-31", "--out", str(repeats))
    assert done.returncode == 0, done.stderr
    assert "1 repeat locations (3 cases)" in done.stdout
    assert "--out" in cli("hotspots", "--level", "micro", "--since", "2026-11-01", "--until", "2026-12-31",
                          "--out", str(tmp_path / "x.xlsx")).stderr


def test_repeats_of_one_category_or_several(tiny):
    window = {"since": date(2026, 11, 1), "until": date(2026, 12, 31), "now": NOW}
    assert analytics.repeats(tiny, category="safety.fire", **window).empty
    assert analytics.repeats(tiny, category=("safety.fire", "municipal.manhole"), **window).empty
    assert len(analytics.repeats(tiny, category=("safety.fire", "env.exposed_garbage"), **window)) == 1


def test_workload_on_the_tiny_district(tiny):
    result = analytics.workload(tiny, since=date(2026, 11, 1), until=date(2026, 12, 31), now=NOW)
    assert result.by_micro["cases"].sum() == len(CASES)
    g101 = result.by_micro[result.by_micro["micro_code"] == "G1-01"]
    assert dict(zip(g101["week"], g101["cases"])) == {"2026-W45": 3, "2026-W52": 1}
    assert (g101["name"] == "甲1-1").all()
    # S1: G1-01 has 4 cases, G1-02 none → median 2, ratio 2 (not above 2×)
    assert result.overloaded.empty


# -- the demo district (shared, read-only) ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_database_url):
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=2) as services:
        yield services


def period() -> tuple[date, date]:
    today = datetime.now(CHINA_TZ).date()
    return today - timedelta(days=90), today


def test_demo_hot_spots_use_the_maps_counts_and_valid_classes(demo):
    since, until = period()
    out = analytics.hot_spots_job(demo, level="community", since=since, until=until, seed=0)
    app = workflows.unit_stats(demo, CaseFilter(since=since, until=until), level="community")
    assert out.set_index("code")["count"].to_dict() == app.set_index("code")["received"].to_dict()
    assert {"code", "name", "count", "z", "p", "class"} <= set(out.columns)
    assert set(out["class"]) <= {c for c, _, _ in core.HOT_SPOT_CLASSES.values()} | {"island"}
    linked = out["neighbours"] > 0
    assert out.loc[linked, "z"].notna().all() and out.loc[linked, "p"].between(0.001, 1).all()
    again = analytics.hot_spots_job(demo, level="community", since=since, until=until, seed=0)
    pd.testing.assert_frame_equal(out.drop(columns="geometry"), again.drop(columns="geometry"))


def test_demo_hot_spots_refuse_the_exclusive_overlay(demo):
    since, until = period()
    with pytest.raises(InputError, match="level 'exclusive' cannot be analysed"):
        analytics.hot_spots_job(demo, level="exclusive", since=since, until=until)


def test_demo_emerging_labels_every_community_of_a_street(demo):
    from gis.demo.accounts import DEMO_STREET

    today = datetime.now(CHINA_TZ).date()
    last_sunday = today - timedelta(days=today.weekday() + 1)
    since = last_sunday - timedelta(weeks=8) + timedelta(days=1)
    out = analytics.emerging(demo, level="grid", since=since, until=last_sunday, within=DEMO_STREET,
                             permutations=199)
    grids = workflows.active_grids(demo)
    tree_grids = grids[(grids["level"] == "grid")]
    from gis.core.hierarchy import GridTree
    expected = GridTree(grids).units_under(DEMO_STREET, "grid")
    assert set(out["code"]) == expected and len(out) == len(tree_grids[tree_grids["code"].isin(expected)])
    assert set(out["category"]) <= set(core.EMERGING_CATEGORIES)
    assert (out["weeks"] == 8).all()


def test_demo_workload_counts_every_assigned_case(demo):
    since, until = period()
    result = analytics.workload(demo, since=since, until=until)
    flt = CaseFilter(since=since, until=until)
    total = int(workflows.micro_stats(demo, flt)["received"].sum())
    assert result.by_worker["cases"].sum() <= total and result.by_worker["cases"].sum() > 0.5 * total
    assert (result.handling["median_h"].dropna() > 0).all()
    assert (result.overloaded["ratio"] > 2).all()
