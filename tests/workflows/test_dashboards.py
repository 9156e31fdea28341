"""Analytics jobs against the real PostGIS: counts and rates, roll-ups, filters, heat cells,
daily and category counts, the case list and the weekly bulletin.

The tiny hierarchy of conftest plus a handful of incidents whose status and
times are set by SQL, so every figure can be checked by hand.
"""

from __future__ import annotations

import csv
import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from gis import workflows
from gis.core import metrics as analytics
from gis.core.china_time import CHINA_TZ
from gis.core.metrics import CaseFilter
from gis.errors import InputError
from tests.conftest import X0, Y0, D

HEADER = ["source", "external_id", "category", "lon", "lat", "reported_at", "status", "description", "address"]
WEEK = CaseFilter(since=date(2026, 11, 16), until=date(2026, 11, 22))   # 2026-W47, Mon..Sun
NOW = datetime(2026, 11, 21, 12, tzinfo=CHINA_TZ)

# a point in the middle of each micro-grid (lon, lat, WGS-84)
IN = {"G1-01": (X0 + 0.5 * D, Y0 + 0.5 * D), "G1-02": (X0 + 0.5 * D, Y0 + 1.5 * D),
      "G2-01": (X0 + 3.5 * D, Y0 + 0.5 * D), "G2-02": (X0 + 3.5 * D, Y0 + 1.5 * D)}


def cn(day: int, hour: int = 0, minute: int = 0, *, month: int = 11) -> datetime:
    """A China-time instant in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=CHINA_TZ)


def load(services, tmp_path, cases: list[dict], *, name: str = "cases.csv") -> None:
    """Import cases as CSV (all 'received'), then set status, due_at and closed_at exactly by SQL.

    Each case: id, micro (a key of IN) or lon/lat, reported ('2026-11-16T10:00:00', China time),
    and optional category, source, status, due, closed, description, address.
    """
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for c in cases:
            lon, lat = IN[c["micro"]] if "micro" in c else (c["lon"], c["lat"])
            writer.writerow([c.get("source", "12345"), c["id"], c.get("category", "other"), repr(float(lon)), repr(float(lat)),
                             c["reported"], "received", c.get("description", ""), c.get("address", "")])
    result = workflows.import_incidents(services, path)
    assert result.rejected == 0 and result.accepted == len(cases)
    with services.transaction() as conn, conn.cursor() as cur:
        for c in cases:
            cur.execute("UPDATE incident SET status = %s, due_at = %s, closed_at = %s "
                        "WHERE source = %s AND external_id = %s",
                        (c.get("status", "received"), c.get("due"), c.get("closed"), c.get("source", "12345"),
                         c["id"]))
            assert cur.rowcount == 1


@pytest.fixture
def grids(services, layer_file):
    workflows.import_grids(services, layer_file)
    return services


# The six cases of 2026-W47, judged at NOW (Sat 21 Nov 12:00):
#   K1 closed before its deadline          → completed, due, on time
#   K2 closed after its deadline           → completed, due, late
#   K3 closed, deadline still ahead        → completed, due (closed), on time
#   K4 in progress, deadline passed        → due, open, overdue
#   K5 dispatched, deadline ahead          → open only
#   K6 under supervision, deadline ahead   → open, overdue (督办)
# received 6, completed 3, due 4, on time 2, open 3, overdue 2 → 办结率 3/4, 按期办结率 2/4.
SIX = [
    dict(id="K1", micro="G1-01", category="env.exposed_garbage", reported="2026-11-16T10:00:00",
         status="closed", due=cn(17, 12), closed=cn(17, 10), address="建设路1号"),
    dict(id="K2", micro="G1-01", category="env.exposed_garbage", reported="2026-11-16T11:00:00",
         status="closed", due=cn(17, 12), closed=cn(18, 10), address="建设路2号"),
    dict(id="K3", micro="G1-02", category="safety.fire", reported="2026-11-19T09:00:00",
         status="closed", due=cn(25, 12), closed=cn(19, 15)),
    dict(id="K4", micro="G2-01", category="safety.fire", reported="2026-11-17T09:00:00",
         status="in_progress", due=cn(18, 12)),
    dict(id="K5", micro="G2-01", category="municipal.manhole", reported="2026-11-20T09:00:00",
         status="dispatched", due=cn(25, 12)),
    dict(id="K6", micro="G2-02", category="municipal.manhole", reported="2026-11-20T10:00:00",
         status="supervised", due=cn(25, 12), source="patrol"),
]


@pytest.fixture
def six(grids, tmp_path):
    load(grids, tmp_path, SIX)
    return grids


def counts_of(record) -> tuple[int, ...]:
    return tuple(int(record[c]) for c in analytics.COUNT_COLUMNS)


def by_code(frame: pd.DataFrame) -> dict[str, tuple[int, ...]]:
    return {r["code"]: counts_of(r) for _, r in frame.iterrows()}


# -- counts and rates -----------------------------------------------------------------------------


def test_six_cases_give_the_hand_counted_figures(six):
    stats = workflows.micro_stats(six, WEEK, now=NOW)
    assert by_code(stats.rename(columns={"micro_code": "code"})) == {
        "G1-01": (2, 2, 2, 1, 0, 0), "G1-02": (1, 1, 1, 1, 0, 0),
        "G2-01": (2, 0, 1, 0, 2, 1), "G2-02": (1, 0, 0, 0, 1, 1)}
    t = analytics.totals(stats)
    assert counts_of(t) == (6, 3, 4, 2, 3, 2)
    assert t["completion_rate"] == 0.75      # 办结率 = 3 closed / 4 due
    assert t["on_time_rate"] == 0.5          # 按期办结率 = 2 closed by their deadline / 4 due


def test_what_counts_as_due_completed_on_time_open_and_overdue_for_each_status(grids, tmp_path):
    # one case a day from 1 Nov, judged at NOW; past = deadline 10 Nov, ahead = 25 Nov
    table = [  # status, due, closed → received, completed, due, on_time, open, overdue
        ("received", cn(10), None, (1, 0, 1, 0, 1, 1)),
        ("received", cn(25), None, (1, 0, 0, 0, 1, 0)),
        ("resolved", cn(10), None, (1, 0, 1, 0, 0, 0)),      # 反馈 is done by the handler, not 办结
        ("verified", cn(25), None, (1, 0, 0, 0, 0, 0)),
        ("closed", cn(25), cn(9), (1, 1, 1, 1, 0, 0)),       # closed early: due because closed
        ("closed", cn(10), cn(10, 0, 1), (1, 1, 1, 0, 0, 0)),  # one minute late
        ("closed", cn(10), cn(10), (1, 1, 1, 1, 0, 0)),      # at the deadline is on time
        ("supervised", cn(25), None, (1, 0, 0, 0, 1, 1)),    # 督办 is overdue whatever the deadline
        ("extended", cn(10), None, (1, 0, 1, 0, 1, 1)),
        ("returned", cn(25), None, (1, 0, 0, 0, 1, 0)),
    ]
    load(grids, tmp_path, [dict(id=f"S{i}", micro="G1-01", reported=f"2026-11-{i + 1:02d}T10:00:00", status=status,
                                due=due, closed=closed) for i, (status, due, closed, _) in enumerate(table)])
    for i, (status, _, _, expected) in enumerate(table):
        day = date(2026, 11, i + 1)
        t = analytics.totals(workflows.micro_stats(grids, CaseFilter(since=day, until=day), now=NOW))
        assert counts_of(t) == expected, (i, status)


def test_kpis_give_the_period_and_the_one_before_with_handling_hours(six, tmp_path):
    load(six, tmp_path, [dict(id="W46", micro="G1-01", reported="2026-11-10T09:00:00", status="closed",
                              due=cn(11, 12), closed=cn(10, 21))], name="w46.csv")
    kpis = workflows.kpis(six, WEEK, now=NOW)
    current, previous = kpis["current"], kpis["previous"]
    assert counts_of(current) == (6, 3, 4, 2, 3, 2)
    assert current["completion_rate"] == 0.75 and current["on_time_rate"] == 0.5
    # reported → closed: K1 24 h, K2 47 h, K3 6 h
    assert current["median_h"] == pytest.approx(24.0)
    assert current["p90_h"] == pytest.approx(24 + 0.8 * (47 - 24))
    assert counts_of(previous) == (1, 1, 1, 1, 0, 0)
    assert previous["completion_rate"] == 1.0 and previous["median_h"] == pytest.approx(12.0)


def queries_run(monkeypatch) -> list[str]:
    """The names of the case queries run from now on (every named query is looked up in
    ``gis.store.db.queries()``), leaving out the grid version's (read once per version and cached)."""
    from gis.store import db
    names: list[str] = []
    every = db.queries()

    class Recording(dict):
        def __getitem__(self, name):
            if name not in ("fetch_active_version", "fetch_grids"):
                names.append(name)
            return super().__getitem__(name)
    monkeypatch.setattr(db, "queries", lambda: Recording(every))
    return names


def test_kpis_run_one_query_per_period_with_the_handling_hours_folded_in(six, monkeypatch):
    names = queries_run(monkeypatch)
    kpis = workflows.kpis(six, WEEK, now=NOW)
    assert names == ["fetch_period_stats", "fetch_period_stats"]
    # the same figures as the per-micro-grid counts and the handling hours asked for apart
    assert counts_of(kpis["current"]) == counts_of(analytics.totals(workflows.micro_stats(six, WEEK, now=NOW)))
    assert kpis["current"]["median_h"] == pytest.approx(24.0)


def test_the_situation_job_gives_what_the_single_jobs_give_from_one_borrow(six, monkeypatch):
    borrows = []
    real = type(six.database).connection

    def counted(self):
        borrows.append(1)
        return real(self)
    monkeypatch.setattr(type(six.database), "connection", counted)
    data = workflows.situation(six, WEEK, level="community", now=NOW)
    assert len(borrows) == 1
    monkeypatch.undo()
    assert data.kpis == workflows.kpis(six, WEEK, now=NOW)
    units = workflows.unit_stats(six, WEEK, level="community", now=NOW)
    assert by_code(data.units) == by_code(units) == {"C1": (3, 3, 3, 2, 0, 0), "C2": (3, 0, 1, 0, 3, 2)}
    assert data.daily.equals(workflows.daily_counts(six, WEEK, now=NOW))
    assert data.categories.equals(workflows.category_counts(six, WEEK, now=NOW))
    heat = workflows.heat_layers(six, WEEK, now=NOW)
    assert all(data.heat[k].equals(heat[k]) for k in heat)
    assert workflows.situation(six, WEEK, level=None, now=NOW).units is None  # nothing below a micro-grid


def test_kpis_of_an_empty_period_have_zero_counts_and_no_handling_hours(six):
    empty = CaseFilter(since=date(2020, 1, 6), until=date(2020, 1, 12))
    current = workflows.kpis(six, empty, now=NOW)["current"]
    assert counts_of(current) == (0, 0, 0, 0, 0, 0)
    assert current["median_h"] is None and current["p90_h"] is None


def test_unassigned_cases_count_in_the_totals_but_in_no_unit(six, tmp_path):
    load(six, tmp_path, [dict(id="OUT", lon=X0 - 0.002, lat=Y0 + 0.5 * D, reported="2026-11-18T09:00:00",
                              status="received", due=cn(19))], name="out.csv")
    stats = workflows.micro_stats(six, WEEK, now=NOW)
    unassigned = stats[stats["micro_code"].isna()]
    assert len(unassigned) == 1 and counts_of(unassigned.iloc[0]) == (1, 0, 1, 0, 1, 1)
    assert counts_of(analytics.totals(stats)) == (7, 3, 5, 2, 4, 3)
    district = workflows.unit_stats(six, WEEK, level="district", now=NOW)
    assert by_code(district) == {"410102": (6, 3, 4, 2, 3, 2)}


# -- roll-ups ---------------------------------------------------------------------------------------


def test_unit_stats_roll_up_to_every_level(six):
    c1, c2 = (3, 3, 3, 2, 0, 0), (3, 0, 1, 0, 3, 2)
    assert by_code(workflows.unit_stats(six, WEEK, level="street", now=NOW)) == {"S1": c1, "S2": c2}
    assert by_code(workflows.unit_stats(six, WEEK, level="community", now=NOW)) == {"C1": c1, "C2": c2}
    assert by_code(workflows.unit_stats(six, WEEK, level="grid", now=NOW)) == {"G1": c1, "G2": c2}
    communities = workflows.unit_stats(six, WEEK, level="community", now=NOW).set_index("code")
    assert communities.loc["C1", "completion_rate"] == 1.0
    assert communities.loc["C1", "on_time_rate"] == pytest.approx(2 / 3)
    assert communities.loc["C2", "completion_rate"] == 0.0 and communities.loc["C2", "on_time_rate"] == 0.0
    assert communities.crs.to_epsg() == 4326 and communities.geometry.notna().all()


def test_micro_grids_without_matching_cases_appear_with_zeros_and_per_1000_uses_households(six):
    flt = CaseFilter(since=WEEK.since, until=WEEK.until, categories=("municipal.manhole",))
    micro = workflows.unit_stats(six, flt, level="micro", now=NOW).set_index("code")
    assert sorted(micro.index) == ["G1-01", "G1-02", "G2-01", "G2-02"]
    assert micro["received"].to_dict() == {"G1-01": 0, "G1-02": 0, "G2-01": 1, "G2-02": 1}
    assert micro.loc["G2-01", "per_1000"] == pytest.approx(1 / 350 * 1000)
    assert micro.loc["G2-02", "per_1000"] == pytest.approx(1 / 450 * 1000)
    assert micro.loc["G1-01", "per_1000"] == 0.0 and math.isnan(micro.loc["G1-01", "completion_rate"])
    everything = workflows.unit_stats(six, WEEK, level="micro", now=NOW).set_index("code")
    assert everything.loc["G1-01", "per_1000"] == pytest.approx(2 / 300 * 1000)


def test_within_restricts_the_units_to_descendants(six):
    micro = workflows.unit_stats(six, WEEK, level="micro", within="C2", now=NOW)
    assert by_code(micro) == {"G2-01": (2, 0, 1, 0, 2, 1), "G2-02": (1, 0, 0, 0, 1, 1)}
    assert list(workflows.unit_stats(six, WEEK, level="community", within="S1", now=NOW)["code"]) == ["C1"]


def test_an_unknown_within_is_refused_naming_it(six):
    with pytest.raises(InputError, match="NOPE"):
        workflows.unit_stats(six, WEEK, level="micro", within="NOPE", now=NOW)


# -- the case filter --------------------------------------------------------------------------------


def test_bounds_are_china_calendar_days_half_open(grids, tmp_path):
    load(grids, tmp_path, [
        dict(id="before", micro="G1-01", reported="2026-11-15T23:59:59"),
        dict(id="first", micro="G1-01", reported="2026-11-16T00:00:00"),
        dict(id="last", micro="G1-01", reported="2026-11-22T23:59:00"),
        dict(id="after", micro="G1-01", reported="2026-11-23T00:00:00"),
        dict(id="utc", micro="G1-01", reported="2026-11-22T16:30:00+00:00"),  # 00:30 on the 23rd in China
    ])
    found = workflows.cases(grids, WEEK, now=NOW)
    assert sorted(found["external_id"]) == ["first", "last"]
    assert analytics.totals(workflows.micro_stats(grids, WEEK, now=NOW))["received"] == 2
    assert sorted(workflows.cases(grids, WEEK.previous(), now=NOW)["external_id"]) == ["before"]
    nxt = CaseFilter(since=date(2026, 11, 23), until=date(2026, 11, 23))
    assert sorted(workflows.cases(grids, nxt, now=NOW)["external_id"]) == ["after", "utc"]


def test_category_source_status_and_unit_filters_change_the_counts(six):
    def received(**kwargs) -> int:
        flt = CaseFilter(since=WEEK.since, until=WEEK.until, **kwargs)
        return int(analytics.totals(workflows.micro_stats(six, flt, now=NOW))["received"])

    assert received() == 6
    assert received(categories=("safety.fire",)) == 2
    assert received(categories=("safety.fire", "env.exposed_garbage")) == 4
    assert received(sources=("patrol",)) == 1
    assert received(sources=("12345",)) == 5
    assert received(statuses=("closed",)) == 3
    assert received(statuses=("supervised", "dispatched")) == 2
    assert received(unit="C1") == 3
    assert received(unit="S2") == 3
    assert received(unit="G2-02") == 1
    assert received(unit="410102") == 6
    assert received(unit="C1", categories=("safety.fire",), statuses=("closed",)) == 1
    assert received(categories=("safety.gas",)) == 0


def test_an_unknown_unit_is_refused_naming_it(six):
    flt = CaseFilter(since=WEEK.since, until=WEEK.until, unit="C9")
    with pytest.raises(InputError, match="grid 'C9' is not in the active grids"):
        workflows.micro_stats(six, flt, now=NOW)
    with pytest.raises(InputError, match="'C9'"):
        workflows.kpis(six, flt, now=NOW)


# -- heat cells -------------------------------------------------------------------------------------

CELL_DEG = 40 / 111_320.0  # latitude step of a 40 m cell
# longitude step: widened by 1/cos(lat) at the middle of the tiny hierarchy, so cells are square on the ground
CELL_LON_DEG = CELL_DEG / np.cos(np.radians(Y0 + D))


def centre(lon: float, lat: float) -> tuple[float, float]:
    """The centre of the 40 m cell holding a point."""
    return round(lon / CELL_LON_DEG) * CELL_LON_DEG, round(lat / CELL_DEG) * CELL_DEG


P = centre(*IN["G1-01"])
Q = centre(*IN["G2-02"])
FIVE_M = 5 / 111_320.0  # 5 m north, in degrees of latitude


def heat(services, layer: str, **kwargs) -> dict[tuple[float, float], float]:
    cells = workflows.heat_cells(services, WEEK, layer=layer, now=NOW, **kwargs)
    assert list(cells.columns) == ["lon", "lat", "weight"]
    return {(round(r.lon, 7), round(r.lat, 7)): r.weight for r in cells.itertuples()}


def key(point: tuple[float, float]) -> tuple[float, float]:
    return round(point[0], 7), round(point[1], 7)


@pytest.fixture
def hot(grids, tmp_path):
    load(grids, tmp_path, [
        dict(id="H1", lon=P[0], lat=P[1], category="safety.fire", reported="2026-11-17T09:00:00",
             status="in_progress", due=cn(18)),                                      # open, overdue
        dict(id="H2", lon=P[0], lat=P[1] + FIVE_M, category="safety.electric", reported="2026-11-17T10:00:00",
             status="dispatched", due=cn(25)),                                       # open, 5 m from H1
        dict(id="H3", lon=Q[0], lat=Q[1], category="env.exposed_garbage", reported="2026-11-18T09:00:00",
             status="received", due=cn(25)),                                         # open
        dict(id="H4", lon=Q[0], lat=Q[1], category="municipal.manhole", reported="2026-11-18T10:00:00",
             status="closed", due=cn(19), closed=cn(18, 12)),
        dict(id="H5", lon=Q[0], lat=Q[1], category="safety.gas", reported="2026-11-18T11:00:00",
             status="closed", due=cn(19), closed=cn(18, 12)),
    ])
    return grids


def test_two_points_5_m_apart_share_a_40_m_cell_and_overdue_open_ones_weigh_3(hot):
    assert heat(hot, "unresolved") == {key(P): 3.0 + 1.0, key(Q): 1.0}  # H1 overdue ×3 + H2; H3; closed ones out
    assert heat(hot, "unresolved", overdue_weight=5.0) == {key(P): 6.0, key(Q): 1.0}


def test_the_hazard_layer_counts_only_safety_categories_whatever_their_status(hot):
    assert heat(hot, "hazard") == {key(P): 2.0, key(Q): 1.0}   # H1 + H2 (weight 1 each); H5 closed
    assert heat(hot, "garbage") == {key(Q): 1.0}                # H3
    # an explicit category filter narrows the layer, and a non-hazard one empties it
    only_gas = CaseFilter(since=WEEK.since, until=WEEK.until, categories=("safety.gas",))
    assert len(workflows.heat_cells(hot, only_gas, layer="hazard", now=NOW)) == 1
    manholes = CaseFilter(since=WEEK.since, until=WEEK.until, categories=("municipal.manhole",))
    assert workflows.heat_cells(hot, manholes, layer="hazard", now=NOW).empty


def test_heat_layers_give_all_three_layers_from_one_query(hot, monkeypatch):
    names = queries_run(monkeypatch)
    layers = workflows.heat_layers(hot, WEEK, now=NOW)
    assert names == ["fetch_heat_layers"]
    assert list(layers) == list(workflows.HEAT_LAYERS)
    as_dict = {layer: {(round(r.lon, 7), round(r.lat, 7)): r.weight for r in cells.itertuples()}
               for layer, cells in layers.items()}
    assert as_dict == {"hazard": {key(P): 2.0, key(Q): 1.0}, "garbage": {key(Q): 1.0},
                       "unresolved": {key(P): 3.0 + 1.0, key(Q): 1.0}}
    assert all(list(cells.columns) == ["lon", "lat", "weight"] for cells in layers.values())
    # the filter's categories and statuses narrow every layer
    closed = CaseFilter(since=WEEK.since, until=WEEK.until, statuses=("closed",))
    narrowed = workflows.heat_layers(hot, closed, now=NOW)
    assert narrowed["unresolved"].empty and narrowed["garbage"].empty
    assert len(narrowed["hazard"]) == 1                               # H5 (closed gas)
    only_gas = CaseFilter(since=WEEK.since, until=WEEK.until, categories=("safety.gas",))
    assert [len(c) for c in workflows.heat_layers(hot, only_gas, now=NOW).values()] == [1, 0, 0]


def test_an_unknown_heat_layer_is_refused(hot):
    with pytest.raises(InputError, match="heat layer 'noise' is unknown; use one of hazard, garbage, unresolved"):
        workflows.heat_cells(hot, WEEK, layer="noise", now=NOW)


def test_a_supervised_case_weighs_as_overdue_in_the_unresolved_layer(grids, tmp_path):
    load(grids, tmp_path, [dict(id="SUP", lon=P[0], lat=P[1], reported="2026-11-17T09:00:00",
                                status="supervised", due=cn(25))])
    assert analytics.totals(workflows.micro_stats(grids, WEEK, now=NOW))["overdue"] == 1
    assert heat(grids, "unresolved") == {key(P): 3.0}


def test_never_more_rows_than_distinct_cells_and_weights_sum_to_the_cases(grids, tmp_path):
    rng = np.random.default_rng(7)
    lon = X0 + rng.uniform(0.05, 1.95, 60) * D     # inside G1 (about 175 m × 220 m): many shared cells
    lat = Y0 + rng.uniform(0.05, 1.95, 60) * D
    load(grids, tmp_path, [dict(id=f"R{i}", lon=lon[i], lat=lat[i], category="safety.fire",
                                reported="2026-11-18T09:00:00", status="closed", due=cn(19), closed=cn(18, 12))
                           for i in range(60)])
    stored = workflows.cases(grids, WEEK, now=NOW)
    distinct = {(round(x / CELL_LON_DEG), round(y / CELL_DEG)) for x, y in zip(stored["lon"], stored["lat"])}
    cells = workflows.heat_cells(grids, WEEK, layer="hazard", now=NOW)
    assert len(cells) == len(distinct) < 60
    assert cells["weight"].sum() == 60
    assert not cells[["lon", "lat"]].round(9).duplicated().any()


# -- daily and category counts ---------------------------------------------------------------------


def test_daily_counts_have_every_day_of_the_period_including_empty_ones(six):
    days = workflows.daily_counts(six, WEEK, now=NOW)
    assert list(days["day"]) == [date(2026, 11, d) for d in range(16, 23)]
    assert list(days["received"]) == [2, 1, 0, 1, 2, 0, 0]
    assert list(days["completed"]) == [2, 0, 0, 1, 0, 0, 0]
    empty = workflows.daily_counts(six, CaseFilter(since=date(2026, 10, 1), until=date(2026, 10, 3)), now=NOW)
    assert list(empty["day"]) == [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)]
    assert list(empty["received"]) == [0, 0, 0] and list(empty["completed"]) == [0, 0, 0]


def test_category_counts_carry_chinese_names_and_groups(six):
    counts = workflows.category_counts(six, WEEK, now=NOW)
    table = {r.category: (r.name, r.group, r.received, r.open) for r in counts.itertuples()}
    assert table == {"env.exposed_garbage": ("暴露垃圾", "环境卫生", 2, 0),
                     "safety.fire": ("消防隐患", "安全隐患", 2, 1),
                     "municipal.manhole": ("井盖破损", "市政设施", 2, 2)}
    assert list(counts["received"]) == sorted(counts["received"], reverse=True)


# -- the case list -----------------------------------------------------------------------------------

SEARCHABLE = [
    dict(id="XY-7", micro="G1-01", reported="2026-11-16T09:00:00", address="桐柏路", description="nothing"),
    dict(id="A2", micro="G1-01", reported="2026-11-16T10:00:00", address="Abc Street 5", description=""),
    dict(id="A3", micro="G1-02", reported="2026-11-16T11:00:00", address="", description="Hello WORLD"),
    dict(id="A4", micro="G2-01", reported="2026-11-16T12:00:00", address="建设路100%号", description="",
         status="closed", due=cn(17), closed=cn(16, 13)),
    dict(id="A5", micro="G2-02", reported="2026-11-16T13:00:00", address="a_b 路", description=""),
    dict(id="A6", micro="G2-02", reported="2026-11-16T14:00:00", address="a1b 路", description="100x"),
    dict(id="A7", micro="G2-02", reported="2026-11-16T15:00:00", address=r"C:\data", description=""),
]


@pytest.fixture
def searchable(grids, tmp_path):
    load(grids, tmp_path, SEARCHABLE)
    return grids


def found(services, search: str | None, **kwargs) -> list[str]:
    return list(workflows.cases(services, WEEK, search=search, now=NOW, **kwargs)["external_id"])


def test_search_matches_address_description_and_external_id_ignoring_case(searchable):
    assert found(searchable, "abc street") == ["A2"]
    assert found(searchable, "world") == ["A3"]
    assert found(searchable, "xy-7") == ["XY-7"]
    assert found(searchable, "桐柏") == ["XY-7"]
    assert found(searchable, "nope") == []


def test_search_treats_percent_and_underscore_literally(searchable):
    assert found(searchable, "%") == ["A4"]
    assert found(searchable, "100%") == ["A4"]        # not A6's "100x"
    assert found(searchable, "_") == ["A5"]
    assert found(searchable, "a_b") == ["A5"]         # not "a1b"


def test_search_treats_backslash_literally(searchable):
    assert found(searchable, "\\") == ["A7"]
    assert found(searchable, r"C:\data") == ["A7"]


def test_cases_are_newest_first_limited_and_open_only_on_request(searchable):
    everything = workflows.cases(searchable, WEEK, now=NOW)
    assert list(everything["external_id"]) == ["A7", "A6", "A5", "A4", "A3", "A2", "XY-7"]
    assert found(searchable, None, limit=2) == ["A7", "A6"]
    assert "A4" not in found(searchable, None, open_only=True) and len(found(searchable, "", open_only=True)) == 6
    row = everything.set_index("external_id").loc["A3"]
    assert row["micro_code"] == "G1-02" and row["lon"] == pytest.approx(IN["G1-02"][0], abs=1e-9)
    assert everything.set_index("external_id").loc["A7", "address"] == r"C:\data"  # stored exactly


# -- the weekly bulletin ----------------------------------------------------------------------------


@pytest.fixture
def two_weeks(six, tmp_path):
    """W47 (the six) and W46: C1 one case still open past its deadline, C2 two closed on time."""
    load(six, tmp_path, [
        dict(id="P1", micro="G1-02", reported="2026-11-10T09:00:00", status="in_progress", due=cn(11, 12)),
        dict(id="P2", micro="G2-01", reported="2026-11-11T09:00:00", status="closed", due=cn(12, 12),
             closed=cn(11, 15)),
        dict(id="P3", micro="G2-01", reported="2026-11-11T10:00:00", status="closed", due=cn(12, 12),
             closed=cn(11, 16)),
    ], name="w46.csv")
    return six


def test_weekly_bulletin_per_community_with_ranks_and_change_from_last_week(two_weeks):
    b = workflows.weekly_bulletin(two_weeks, "2026-w47", min_due=1)
    assert (b.week, b.since, b.until, b.min_due) == ("2026-W47", date(2026, 11, 16), date(2026, 11, 22), 1)
    table = b.communities.set_index("code")
    assert list(b.communities["code"]) == ["C1", "C2"]
    assert table.loc["C1", ["name", "street"]].tolist() == ["甲社区", "一街道"]
    assert table.loc["C2", ["name", "street"]].tolist() == ["乙社区", "二街道"]
    assert counts_of(table.loc["C1"]) == (3, 3, 3, 2, 0, 0)
    assert counts_of(table.loc["C2"]) == (3, 0, 1, 0, 3, 2)
    assert (table.loc["C1", "rank"], table.loc["C2", "rank"]) == (1, 2)
    assert (table.loc["C1", "previous_rank"], table.loc["C2", "previous_rank"]) == (2, 1)
    assert (table.loc["C1", "received_change"], table.loc["C2", "received_change"]) == (2, 1)
    assert table.loc["C1", "completion_rate_change"] == 1.0 and table.loc["C2", "completion_rate_change"] == -1.0
    assert counts_of(b.totals) == (6, 3, 4, 2, 3, 2) and b.totals["completion_rate"] == 0.75
    assert counts_of(b.previous_totals) == (3, 2, 3, 2, 1, 1)
    assert b.previous_totals["completion_rate"] == pytest.approx(2 / 3)


def test_weekly_bulletin_lists_the_worst_micro_grids(two_weeks):
    b = workflows.weekly_bulletin(two_weeks, "2026-W47", min_due=1, worst=2)
    worst = b.worst_micro
    assert list(worst["code"]) == ["G2-01", "G2-02"]   # most overdue, then most open
    assert list(worst["community"]) == ["乙社区", "乙社区"]
    assert list(worst["name"]) == ["乙1-1", "乙1-2"]
    assert list(worst["overdue"]) == [1, 1] and list(worst["open"]) == [2, 1]
    # only micro-grids with cases, at most `worst` of them
    assert list(workflows.weekly_bulletin(two_weeks, "2026-W47", min_due=1).worst_micro["code"])[:2] == [
        "G2-01", "G2-02"]
    assert len(workflows.weekly_bulletin(two_weeks, "2026-W47", min_due=1).worst_micro) == 4
    assert len(workflows.weekly_bulletin(two_weeks, "2026-W46", min_due=1).worst_micro) == 2  # G1-02, G2-01


def test_weekly_bulletin_leaves_communities_with_few_cases_due_unranked(two_weeks):
    b = workflows.weekly_bulletin(two_weeks, "2026-W47", min_due=2)
    table = b.communities.set_index("code")
    assert table.loc["C1", "rank"] == 1 and pd.isna(table.loc["C2", "rank"])   # C2 has 1 case due
    assert list(b.communities["code"]) == ["C1", "C2"]                         # ranked first
    default = workflows.weekly_bulletin(two_weeks, "2026-W47")                 # min_due 10: nobody
    assert default.communities["rank"].isna().all() and default.communities["previous_rank"].isna().all()


def test_weekly_bulletin_judges_the_week_at_its_end(two_weeks):
    # K5 and K6 fall due on Wed 25 Nov, after the week: not due in its bulletin even when made later
    b = workflows.weekly_bulletin(two_weeks, "2026-W47", min_due=1, now=cn(27, 12))
    assert b.totals["due"] == 6   # given an explicit later `now`, they are
    assert workflows.weekly_bulletin(two_weeks, "2026-W47", min_due=1).totals["due"] == 4


def test_weekly_bulletin_of_an_empty_week_has_every_community_at_zero(two_weeks):
    b = workflows.weekly_bulletin(two_weeks, "2026-W40", min_due=1)
    assert list(b.communities["code"]) in (["C1", "C2"], ["C2", "C1"])
    assert (b.communities[analytics.COUNT_COLUMNS] == 0).all().all()
    assert b.communities["rank"].isna().all() and b.worst_micro.empty
    assert b.totals["received"] == 0 and b.totals["completion_rate"] is None


def test_weekly_bulletin_refuses_a_week_that_is_not_iso(two_weeks):
    with pytest.raises(InputError, match="week '2026-47' is not an ISO week; write it like 2026-W47"):
        workflows.weekly_bulletin(two_weeks, "2026-47")


def test_a_case_closed_after_the_week_was_open_and_overdue_in_that_weeks_bulletin(grids, tmp_path):
    load(grids, tmp_path, [dict(id="LATE", micro="G1-01", reported="2026-11-17T09:00:00", status="closed",
                                due=cn(19, 12), closed=cn(24, 10))])   # closed on the Tuesday after W47
    b = workflows.weekly_bulletin(grids, "2026-W47", min_due=1)
    # at the end of W47 (Mon 23 Nov 00:00) the case was open and past its deadline
    assert counts_of(b.totals) == (1, 0, 1, 0, 1, 1)


# -- exclusive grids as units ---------------------------------------------------------------------


def test_an_exclusive_grid_is_a_unit_of_its_own_cases(grids, tmp_path):
    # Z1 (世纪联华) lies across 甲社区 (C1) and 乙社区 (C2): one case on each side of it, one outside
    load(grids, tmp_path, [dict(id="Z-A", lon=X0 + 1.8 * D, lat=Y0 + 0.5 * D, reported="2026-11-16T10:00:00"),
                           dict(id="Z-B", lon=X0 + 2.2 * D, lat=Y0 + 0.5 * D, reported="2026-11-16T11:00:00"),
                           dict(id="OUT", micro="G2-02", reported="2026-11-16T12:00:00")])
    mall = workflows.kpis(grids, CaseFilter(since=WEEK.since, until=WEEK.until, unit="Z1"), now=NOW)
    assert mall["current"]["received"] == 2
    cases = workflows.cases(grids, CaseFilter(since=WEEK.since, until=WEEK.until, unit="Z1"))
    assert sorted(cases["external_id"]) == ["Z-A", "Z-B"]
    assert workflows.kpis(grids, CaseFilter(since=WEEK.since, until=WEEK.until, unit="C1"),
                          now=NOW)["current"]["received"] == 1


def test_an_exclusive_grid_lists_its_co_building_communities_by_share(grids):
    partners = workflows.exclusive_partners(grids)
    assert list(partners["exclusive_code"]) == ["Z1", "Z1"]
    assert set(partners["code"]) == {"C1", "C2"}
    assert partners["share"].to_numpy() == pytest.approx([0.5, 0.5], abs=0.01)
