"""Balanced proposals against the real PostGIS: the tiny district with obvious answers, the demo
district's busiest tertiary grid and a community, and the ``grids propose`` verb."""

from __future__ import annotations

from datetime import datetime, timedelta

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gis import store, workflows
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.core.crs import to_metric
from gis.errors import InputError
from gis.workflows.context import Services
from gis.workflows.grids import effective_layer, validate_grid_layer
from gis.workflows.proposals import PROPOSAL_COLUMNS, propose_grids
from tests.conftest import D, X0, Y0, run_cli

NOW = datetime(2026, 11, 30, 12, tzinfo=CHINA_TZ)


def building(name: str, x: float, y: float, households: int) -> dict:
    return {"address": f"锦艺城{name}", "community": "甲社区", "estate": "锦艺城", "building": name,
            "lon": X0 + x * D, "lat": Y0 + y * D, "households": households, "micro_code": None}


def save_register(services, rows) -> None:
    with services.transaction() as conn:
        store.save_addresses(conn, pd.DataFrame(rows))


def metric_area(geom) -> float:
    return 0.0 if geom.is_empty else float(to_metric(gpd.GeoSeries([geom], crs=4326)).area.iloc[0])


def assert_tiles(grids: gpd.GeoDataFrame, area) -> None:
    """One polygon each, no overlap, and together exactly the area (within 1 m²)."""
    assert set(grids.geometry.geom_type) == {"Polygon"}
    union = shapely.union_all(grids.geometry.to_numpy())
    assert metric_area(shapely.symmetric_difference(union, area)) < 1.0
    overlap = sum(metric_area(a.intersection(b)) for k, a in enumerate(grids.geometry)
                  for b in grids.geometry.iloc[k + 1:])
    assert overlap < 1.0


def assert_importable(services, grids: gpd.GeoDataFrame, within: str) -> None:
    layer = effective_layer(services, grids, within=within)
    problems = validate_grid_layer(services, layer)
    assert not len(problems), problems["message"].tolist()


# -- the tiny district ---------------------------------------------------------------------------


@pytest.fixture
def district(services, layer_file):
    """The tiny district: G1 is cells (0,0)-(2,2), its micro-grids the south row G1-01 and the
    north row G1-02."""
    workflows.import_grids(services, layer_file)
    return services


def test_a_tertiary_grid_s_load_is_split_evenly_into_contiguous_micro_grids_in_the_band(district):
    # four buildings of 40 households; every case is in the south row, so G1-01 has them all
    save_register(district, [building("1号楼", 0.5, 0.5, 40), building("2号楼", 1.5, 0.5, 40),
                             building("3号楼", 0.5, 1.5, 40), building("4号楼", 1.5, 1.5, 40)])
    for k, (x, y) in enumerate([(0.3, 0.3), (0.6, 0.4), (1.4, 0.2), (1.7, 0.6)]):
        workflows.receive_incident(district, {
            "source": "12345", "external_id": f"P{k}", "category": "暴露垃圾", "lon": X0 + x * D,
            "lat": Y0 + y * D, "reported_at": "2026-10-08T09:00:00+08:00", "status": "received",
            "description": "测试", "address": ""})

    proposal = propose_grids(district, "G1", min_households=60, max_households=100, now=NOW)

    assert list(proposal.before[["code", "households", "expected_cases"]].itertuples(index=False, name=None)) == [
        ("G1-01", 80, 4), ("G1-02", 80, 0)]
    assert proposal.cv_before == pytest.approx(1.0)
    # 160 households, the band's middle is 80: two micro-grids, west and east, 2 cases each
    grids = proposal.grids
    assert list(grids.columns) == PROPOSAL_COLUMNS
    assert list(grids["code"]) == ["G101", "G102"]
    assert list(grids["name"]) == ["甲社区第1网格第1微网格", "甲社区第1网格第2微网格"]
    assert set(grids["level"]) == {"micro"} and set(grids["parent_code"]) == {"G1"}
    assert list(grids["households"]) == [80, 80]
    assert list(grids["expected_cases"]) == [2, 2]
    assert proposal.cv_after == 0.0
    assert grids.geometry.iloc[0].representative_point().x < grids.geometry.iloc[1].representative_point().x
    g1 = workflows.grid_version(district).grids.set_index("code").geometry["G1"]
    assert_tiles(grids, g1)
    assert_importable(district, grids, "G1")


def test_a_proposal_opens_as_a_draft_and_writes_its_expected_cases(district, tmp_path):
    save_register(district, [building("1号楼", 0.5, 0.5, 40), building("2号楼", 1.5, 0.5, 40),
                             building("3号楼", 0.5, 1.5, 40), building("4号楼", 1.5, 1.5, 40)])
    workflows.receive_incident(district, {
        "source": "12345", "external_id": "P0", "category": "暴露垃圾", "lon": X0 + 0.3 * D, "lat": Y0 + 0.3 * D,
        "reported_at": "2026-10-08T09:00:00+08:00", "status": "received", "description": "测试", "address": ""})
    active = set(workflows.active_grids(district)["code"])

    proposal, draft = workflows.propose_draft(district, "G1", min_households=60, max_households=100, now=NOW)

    assert draft.area_code == "G1" and [d.id for d in workflows.drafts(district)] == [draft.id]
    area = workflows.draft_area(district, draft.id).grids
    assert sorted(area["code"]) == sorted(proposal.grids["code"])
    assert set(workflows.active_grids(district)["code"]) == active  # a draft changes nothing live
    out = tmp_path / "proposal.gpkg"
    assert workflows.write_proposal(proposal, out) == len(proposal.grids)
    written = gpd.read_file(out)
    assert list(written["expected_cases"]) == list(proposal.grids["expected_cases"])


def test_cases_outside_the_window_do_not_count(district):
    save_register(district, [building("1号楼", 0.5, 0.5, 40), building("2号楼", 1.5, 1.5, 40)])
    workflows.receive_incident(district, {
        "source": "12345", "external_id": "OLD", "category": "暴露垃圾", "lon": X0 + 0.5 * D, "lat": Y0 + 0.5 * D,
        "reported_at": "2025-10-08T09:00:00+08:00", "status": "received", "description": "测试", "address": ""})
    proposal = propose_grids(district, "G1", min_households=40, max_households=100, months=12, now=NOW)
    assert proposal.before["expected_cases"].sum() == 0
    assert proposal.grids["expected_cases"].sum() == 0


def test_a_building_over_the_band_is_named_with_its_tertiary_grid(district):
    save_register(district, [building("1号楼", 0.5, 0.5, 180), building("2号楼", 1.5, 1.5, 60)])
    with pytest.raises(InputError, match=r"tertiary grid G1 \(甲社区第1网格\): building 锦艺城1号楼 has 180 "
                                         r"households, more than --max-households 100.*raise --max-households to "
                                         r"at least 180, or split that building's households by hand"):
        propose_grids(district, "G1", min_households=40, max_households=100, now=NOW)


@pytest.mark.parametrize("code, level, message", [
    ("G1-01", "micro", r"'G1-01' \(甲1-1\) is a micro; proposals redraw the micro-grids of a tertiary grid"),
    ("NOPE", "micro", "grid 'NOPE' is not in the active grids"),
    ("G1", "grid", "--level 'grid' cannot be proposed"),
])
def test_only_tertiary_grids_and_communities_get_micro_grid_proposals(district, code, level, message):
    with pytest.raises(InputError, match=message):
        propose_grids(district, code, level=level, min_households=40, max_households=100, now=NOW)


# -- the demo district -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_database_url):
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=2) as services:
        yield services


def busiest_tertiary_grid(services) -> str:
    """The demo tertiary grid with the most cases in the last year (where load matters most)."""
    version = workflows.grid_version(services)
    until = datetime.now(CHINA_TZ)
    with services.connection() as conn:
        cases = store.fetch_case_points_in(conn, since=until - timedelta(days=365), until=until,
                                           bounds=tuple(float(v) for v in version.grids.total_bounds))
    micro = pd.Series(version.index.assign(cases["lon"], cases["lat"], suggest=False).micro_code).dropna()
    return micro.map(lambda code: version.tree.ancestor(code, "grid")).value_counts().index[0]


def test_a_demo_tertiary_grid_proposal_tiles_it_keeps_the_band_and_evens_out_the_case_load(demo):
    code = busiest_tertiary_grid(demo)
    proposal = propose_grids(demo, code, min_households=40, max_households=100)
    grids = proposal.grids
    version = workflows.grid_version(demo)

    assert_tiles(grids, version.grids.set_index("code").geometry[code])
    assert grids["households"].between(40, 100).all()
    # households as the register has them, building by building
    register = store_addresses(demo)
    for geom, households in zip(grids.geometry, grids["households"]):
        inside = shapely.covers(geom, shapely.points(register["lon"], register["lat"]))
        assert register.loc[inside, "households"].sum() == households
    assert proposal.before["expected_cases"].sum() == grids["expected_cases"].sum() > 0
    assert proposal.cv_after < proposal.cv_before
    assert all(c.startswith(code) and len(c) == len(code) + 2 for c in grids["code"])
    assert_importable(demo, grids, code)


def store_addresses(services) -> pd.DataFrame:
    with services.connection() as conn:
        return store.fetch_addresses(conn)


def test_a_demo_community_is_redrawn_tertiary_grid_by_tertiary_grid(demo):
    version = workflows.grid_version(demo)
    community = version.tree.ancestor(busiest_tertiary_grid(demo), "community")
    tertiary = version.level("grid")
    tertiary = tertiary[tertiary["parent_code"] == community]

    proposal = propose_grids(demo, community, min_households=40, max_households=100)

    assert proposal.level == "community"
    assert set(proposal.grids["parent_code"]) == set(tertiary["code"])
    for t in tertiary.itertuples():
        assert_tiles(proposal.grids[proposal.grids["parent_code"] == t.code], t.geometry)
    assert proposal.grids["households"].between(40, 100).all()
    assert proposal.cv_after < proposal.cv_before
    assert_importable(demo, proposal.grids, community)


def test_grids_propose_writes_a_file_that_grids_validate_accepts(demo, demo_database_url, tmp_path):
    code = busiest_tertiary_grid(demo)
    out = tmp_path / "proposal.geojson"
    env = {"DATABASE_URL": demo_database_url}
    done = run_cli("grids", "propose", code, "--level", "micro", "--min-households", "40",
                   "--max-households", "100", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert f"proposal for tertiary grid {code}" in done.stdout
    assert "micro-grids proposed: " in done.stdout and "CV " in done.stdout and " → " in done.stdout
    written = gpd.read_file(out)
    assert set(written["parent_code"]) == {code} and written["households"].between(40, 100).all()

    checked = run_cli("grids", "validate", str(out), "--within", code, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no problems found" in checked.stdout


def test_grids_propose_says_why_a_band_cannot_be_met(demo, demo_database_url):
    code = busiest_tertiary_grid(demo)
    done = run_cli("grids", "propose", code, "--min-households", "2", "--max-households", "5",
                   env={"DATABASE_URL": demo_database_url})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and f"tertiary grid {code} (" in lines[-1]
    assert "households, more than --max-households 5" in lines[-1] and "raise --max-households" in lines[-1]
