"""Tests for gis.demo_incidents: synthetic incidents and events over a tiny micro-grid layer.

The layer: 4 × 5 squares of 200 m near 113.6 E, 34.75 N with 20 m roads
between them (the gaps where unassigned points fall).
"""

from __future__ import annotations

import re
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from gis.core.china_time import CHINA_TZ
from gis.core.rules.config import load_rules
from gis.core.rules.deadlines import due_at_many
from gis.demo.incidents import EVENT_COLUMNS, INCIDENT_COLUMNS, SOURCES, demo_incidents
from gis.errors import InputError

NOW = pd.Timestamp("2026-11-26 08:00", tz="Asia/Shanghai")
_M_LAT = 110_574.0
_M_LON = 111_320.0 * np.cos(np.radians(34.75))


def _square(col: int, row: int):
    size, road = 200.0, 20.0
    x0 = 113.6 + col * (size + road) / _M_LON
    y0 = 34.75 + row * (size + road) / _M_LAT
    return box(x0, y0, x0 + size / _M_LON, y0 + size / _M_LAT)


@pytest.fixture(scope="module")
def micro() -> gpd.GeoDataFrame:
    cells = [(c, r) for r in range(5) for c in range(4)]
    return gpd.GeoDataFrame({
        "code": [f"M{i + 1:02d}" for i in range(len(cells))],
        "name": [f"测试社区第{i // 4 + 1}网格第{i % 4 + 1}微网格" for i in range(len(cells))],
        "level": "micro",
        "parent_code": [f"G{i // 4 + 1}" for i in range(len(cells))],
        "households": [200 + 20 * i for i in range(len(cells))],
        "geometry": [_square(c, r) for c, r in cells],
    }, crs=4326)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(scope="module")
def frames(micro, rules):
    return demo_incidents(micro, n=20_000, seed=42, now=NOW, rules=rules)


@pytest.fixture(scope="module")
def incidents(frames):
    return frames[0]


@pytest.fixture(scope="module")
def events(frames):
    return frames[1]


# --- shape --------------------------------------------------------------------

def test_columns_rows_and_types(incidents, events):
    assert list(incidents.columns) == list(INCIDENT_COLUMNS)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert len(incidents) == 20_000
    for column in ("reported_at", "closed_at"):
        assert str(incidents[column].dt.tz) == "UTC"
    assert str(events["at"].dt.tz) == "UTC"
    assert incidents["reported_at"].is_monotonic_increasing
    assert incidents["reported_at"].notna().all()


def test_two_years_of_history_ending_before_now(incidents):
    reported = incidents["reported_at"]
    assert reported.max() < NOW
    assert reported.min() >= NOW - pd.Timedelta(days=731)
    assert reported.min() < NOW - pd.Timedelta(days=720)


def test_external_ids_are_unique_per_source_and_numbered_by_year(incidents):
    assert not incidents.duplicated(["source", "external_id"]).any()
    hotline = incidents.loc[incidents["source"] == "12345", "external_id"]
    assert hotline.str.fullmatch(r"12345-20(24|25|26)-\d{6}").all()
    year = incidents["reported_at"].dt.tz_convert(CHINA_TZ).dt.year.astype(str)
    assert (incidents["external_id"].str.split("-").str[1] == year).all()


def test_category_shares_follow_the_rules_file(incidents, rules):
    shares = incidents["category"].value_counts(normalize=True)
    for code, category in rules.categories.items():
        assert shares.get(code, 0.0) == pytest.approx(category.share, abs=0.01), code


def test_all_four_sources_with_plausible_mixes(incidents):
    assert set(incidents["source"]) == set(SOURCES)
    mix = pd.crosstab(incidents["category"], incidents["source"], normalize="index")
    assert mix.loc["env.exposed_garbage", "patrol"] > mix.loc["env.exposed_garbage", "12345"]
    assert mix.loc["order.ground_lock", "patrol"] > 0.4
    assert mix.loc["dispute", "12345"] > 0.4
    assert mix.loc["livelihood", "12345"] > mix.loc["livelihood", "patrol"]


def test_phones_only_for_hotline_and_app_reports(incidents):
    by_person = incidents["source"].isin(["12345", "resident_app"])
    phones = incidents.loc[by_person, "reporter_phone"]
    assert phones.str.fullmatch(r"1[3-9]\d{9}").all()
    assert incidents.loc[~by_person, "reporter_phone"].isna().all()


def test_descriptions_are_chinese_and_name_the_address(incidents):
    assert all(a in d for a, d in zip(incidents["address"], incidents["description"]))
    assert incidents["description"].str.contains(r"[\u4e00-\u9fff]").all()
    roads = incidents["address"].str.contains("路|环").mean()
    assert roads > 0.5
    assert incidents["priority"].isin(["urgent", "high", "normal"]).all()


# --- places -------------------------------------------------------------------

def test_about_98_percent_of_points_fall_in_a_micro_grid(incidents, micro):
    layer = shapely.union_all(micro.geometry.values)
    inside = shapely.intersects_xy(layer, incidents["lon"].to_numpy(), incidents["lat"].to_numpy())
    assert 0.97 <= inside.mean() <= 0.995
    # The others lie on roads or just off the layer, not far away.
    outside = shapely.points(incidents["lon"].to_numpy()[~inside], incidents["lat"].to_numpy()[~inside])
    assert (shapely.distance(layer, outside) * _M_LAT < 60).all()


def test_hot_spots_make_some_micro_grids_much_busier(incidents, micro):
    tree = shapely.STRtree(micro.geometry.values)
    pairs = tree.query(shapely.points(incidents["lon"], incidents["lat"]), predicate="intersects")
    counts = np.bincount(pairs[1], minlength=len(micro)) / micro["households"].to_numpy()
    assert counts.max() > 2 * counts.min()


def test_exclusive_grids_become_named_hot_spots(micro, rules):
    market = gpd.GeoDataFrame({"name": ["测试路农贸市场"], "geometry": [_square(1, 1).buffer(-0.0002)]},
                              crs=4326)
    incidents, _ = demo_incidents(micro, n=3000, seed=1, now=NOW, exclusive=market, rules=rules)
    at_market = incidents[incidents["address"].str.startswith("测试路农贸市场")]
    assert len(at_market) > 50
    assert at_market["category"].isin(["env.exposed_garbage", "env.accumulated_garbage",
                                       "env.dirty_road", "order.street_vending",
                                       "order.illegal_parking", "ad.flyer", "safety.gas",
                                       "enterprise"]).all()


# --- time ---------------------------------------------------------------------

def test_more_reports_on_weekdays_and_in_office_hours(incidents):
    local = incidents["reported_at"].dt.tz_convert(CHINA_TZ)
    weekday = local.dt.day_of_week
    assert (weekday < 5).sum() / 5 > (weekday >= 5).sum() / 2
    hours = local.dt.hour.value_counts()
    assert hours.get(10, 0) > 10 * hours.get(3, 0)
    assert hours.get(15, 0) > 2 * hours.get(12, 0) * 0.9
    # 12345 takes calls in the evening; patrols do not walk at night.
    evening = local.dt.hour.between(19, 21)
    assert evening[incidents["source"] == "12345"].mean() > 0.05
    assert evening[incidents["source"] == "patrol"].mean() == 0


def test_more_garbage_in_summer_and_growth_over_time(incidents):
    local = incidents["reported_at"].dt.tz_convert(CHINA_TZ)
    garbage = incidents["category"].str.startswith("env.")
    summer = local.dt.month.isin([6, 7, 8])
    winter = local.dt.month.isin([12, 1, 2])
    assert garbage[summer].mean() > garbage[winter].mean()
    first_year = (local < NOW - pd.Timedelta(days=365)).sum()
    assert len(local) - first_year > first_year


# --- lifecycle ----------------------------------------------------------------

def test_most_are_closed_and_a_few_percent_still_open(incidents):
    open_ = ~incidents["status"].isin(["resolved", "verified", "closed"])
    assert 0.005 <= open_.mean() <= 0.05
    assert (incidents["status"] == "closed").mean() > 0.95
    open_statuses = set(incidents.loc[open_, "status"])
    assert {"dispatched", "in_progress", "supervised"} <= open_statuses
    # Recent cases are more often open.
    age = NOW - incidents["reported_at"]
    assert open_[age < pd.Timedelta(days=30)].mean() > 2 * open_[age > pd.Timedelta(days=180)].mean()


def test_closed_at_only_for_closed_cases(incidents, events):
    closed = incidents["status"] == "closed"
    assert incidents.loc[closed, "closed_at"].notna().all()
    assert incidents.loc[~closed, "closed_at"].isna().all()
    assert (incidents.loc[closed, "closed_at"] >= incidents.loc[closed, "reported_at"]).all()
    last = events.groupby("external_id", sort=False)["at"].last()
    key = incidents.loc[closed, "external_id"]
    assert (last.loc[key].to_numpy() == incidents.loc[closed, "closed_at"].to_numpy()).all()


def test_some_cases_are_resolved_after_their_deadline(incidents, events):
    due = due_at_many(incidents["reported_at"], incidents["category"])
    resolved = events[events["to_status"] == "resolved"].groupby("external_id")["at"].max()
    resolved_at = pd.Series(incidents["external_id"].map(resolved).to_numpy(), index=incidents.index)
    late = resolved_at > due
    assert 0.03 < late.mean() < 0.25
    # Late cases went under supervision (督办) in most cases.
    supervised = set(events.loc[events["to_status"] == "supervised", "external_id"])
    assert incidents.loc[late, "external_id"].isin(supervised).mean() > 0.5


def test_events_tell_each_case_from_received_to_its_status(incidents, events, rules):
    assert 4 <= len(events) / len(incidents) <= 8
    ids = incidents["source"] + "/" + incidents["external_id"]
    event_ids = events["source"] + "/" + events["external_id"]
    is_first, is_last = ~event_ids.duplicated(keep="first"), ~event_ids.duplicated(keep="last")
    first = events[is_first].set_axis(event_ids[is_first])
    last = events[is_last].set_axis(event_ids[is_last])
    # Events come incident by incident, in the incidents' order.
    assert (first.index.to_numpy() == ids.to_numpy()).all()
    assert len(first) == len(incidents)
    assert (first["to_status"] == "received").all()
    assert first["from_status"].isna().all()
    assert (first.loc[ids, "at"].to_numpy() == incidents["reported_at"].to_numpy()).all()
    assert (last.loc[ids, "to_status"].to_numpy() == incidents["status"].to_numpy()).all()
    # Within a case, times never go back and each move starts where the last ended.
    same = event_ids.to_numpy()[1:] == event_ids.to_numpy()[:-1]
    at = events["at"].to_numpy()
    assert (at[1:][same] >= at[:-1][same]).all()
    assert (events["from_status"].to_numpy()[1:][same] == events["to_status"].to_numpy()[:-1][same]).all()
    assert (events["at"] < NOW).all()


def test_every_move_is_allowed_by_the_rules(events, rules):
    moves = events.dropna(subset=["from_status"])
    pairs = set(zip(moves["from_status"], moves["to_status"]))
    for current, new in pairs:
        assert new in rules.transitions[current], (current, new)
    for status in rules.reason_required:
        notes = events.loc[events["to_status"] == status, "note"]
        assert notes.str.strip().str.len().gt(0).all()
    assert (events["actor"].str.len() > 0).all()


def test_some_cases_are_returned_and_reworked(events):
    counts = events["to_status"].value_counts()
    assert counts.get("returned", 0) > 100
    assert counts.get("reworked", 0) > 100
    assert counts.get("extended", 0) > 20


def test_handler_resolved_and_verifier_is_someone_else(incidents, events):
    resolved = events[events["to_status"] == "resolved"].groupby("external_id")["actor"].last()
    verified = events[events["to_status"] == "verified"].groupby("external_id")["actor"].last()
    handler = incidents.set_index("external_id")["handler"]
    # external ids are unique across sources too (their prefixes differ)
    assert incidents["external_id"].is_unique
    assert (handler.loc[resolved.index] == resolved).all()
    assert (verified != handler.loc[verified.index]).all()
    done = incidents["status"].isin(["resolved", "verified", "closed"])
    never_resolved = ~incidents["external_id"].isin(resolved.index)
    assert incidents.loc[never_resolved, "handler"].isna().all()
    assert incidents.loc[done & ~never_resolved, "handler"].notna().all()


# --- reproducibility, arguments, speed ----------------------------------------

def test_same_seed_same_frames_other_seed_other_frames(micro, rules):
    a = demo_incidents(micro, n=2000, seed=7, now=NOW, rules=rules)
    b = demo_incidents(micro, n=2000, seed=7, now=NOW, rules=rules)
    c = demo_incidents(micro, n=2000, seed=8, now=NOW, rules=rules)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0]["lon"].equals(c[0]["lon"])
    assert not a[0]["reported_at"].equals(c[0]["reported_at"])


def test_input_frame_is_left_alone(micro, rules):
    before = micro.copy()
    demo_incidents(micro, n=100, seed=3, now=NOW, rules=rules)
    pd.testing.assert_frame_equal(micro, before)


def test_now_defaults_to_the_current_hour_in_china(micro, rules):
    incidents, _ = demo_incidents(micro, n=200, seed=3, rules=rules)
    hour = pd.Timestamp.now(tz=CHINA_TZ).floor("h")
    assert incidents["reported_at"].max() < hour + pd.Timedelta(hours=1)
    assert incidents["reported_at"].max() > hour - pd.Timedelta(days=3)


def test_naive_now_means_china_time(micro, rules):
    naive, _ = demo_incidents(micro, n=300, seed=3, now=NOW.tz_localize(None), rules=rules)
    aware, _ = demo_incidents(micro, n=300, seed=3, now=NOW, rules=rules)
    pd.testing.assert_frame_equal(naive, aware)


def test_zero_incidents_gives_empty_frames_with_the_columns(micro, rules):
    incidents, events = demo_incidents(micro, n=0, now=NOW, rules=rules)
    assert list(incidents.columns) == list(INCIDENT_COLUMNS) and len(incidents) == 0
    assert list(events.columns) == list(EVENT_COLUMNS) and len(events) == 0


def test_bad_arguments_are_refused(micro, rules):
    with pytest.raises(InputError, match="n is -5"):
        demo_incidents(micro, n=-5, now=NOW, rules=rules)
    with pytest.raises(InputError, match="lacks column households"):
        demo_incidents(micro.drop(columns="households"), n=10, now=NOW, rules=rules)
    with pytest.raises(InputError, match="layer is empty"):
        demo_incidents(micro.iloc[:0], n=10, now=NOW, rules=rules)


def test_projected_layer_is_read_as_wgs84(micro, rules):
    projected = micro.to_crs(32649)
    incidents, _ = demo_incidents(projected, n=500, seed=3, now=NOW, rules=rules)
    assert incidents["lon"].between(113.59, 113.62).all()
    assert incidents["lat"].between(34.74, 34.77).all()


def test_speed_for_200k_incidents(micro, rules):
    started = time.perf_counter()
    incidents, events = demo_incidents(micro, n=200_000, seed=5, now=NOW, rules=rules)
    took = time.perf_counter() - started
    print(f"\ndemo_incidents: {len(incidents):,} incidents, {len(events):,} events in {took:.1f} s")
    assert len(incidents) == 200_000
    assert re.fullmatch(r"\w+-\d{4}-\d{6}", incidents["external_id"].iloc[-1])
