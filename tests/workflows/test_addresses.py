"""The address register and address-only incidents against the real PostGIS."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from gis import store, workflows
from gis.core.address import ADDRESS_COLUMNS
from gis.demo.addresses import demo_addresses
from gis.errors import InputError, PermissionDenied
from tests.conftest import X0, Y0, D, hierarchy

PASSWORD = "correct horse 9"

# buildings of the tiny district: 甲1-1 is cells (0,0)-(2,1), 乙1-2 is (2,1)-(4,2)
REGISTER = [
    # address, community, estate, building, lon, lat, households, micro_code
    ["锦艺城1号楼", "甲社区", "锦艺城", "1号楼", X0 + 0.5 * D, Y0 + 0.5 * D, 40, ""],
    ["锦艺城2号楼", "甲社区", "锦艺城", "2号楼", X0 + 0.5 * D, Y0 + 1.5 * D, 60, ""],
    ["绿城百合5号楼", "乙社区", "绿城百合", "5号楼", X0 + 3.5 * D, Y0 + 1.5 * D, 80, "G2-02"],
    ["远方小区1号楼", "", "远方小区", "1号楼", X0 + 9 * D, Y0 + 9 * D, 10, ""],  # outside every micro-grid
]
BAD_ROWS = [
    ["", "甲社区", "锦艺城", "3号楼", X0, Y0, 10, ""],                        # no address
    ["锦艺城4号楼", "甲社区", "锦艺城", "4号楼", "abc", Y0, 10, ""],          # lon not a number
    ["锦艺城5号楼", "甲社区", "锦艺城", "5号楼", X0, Y0, -3, ""],             # households < 0
]


def write_register(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(ADDRESS_COLUMNS)
        writer.writerows(rows)
    return path


@pytest.fixture
def registered(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    result = workflows.import_addresses(services, write_register(tmp_path / "register.csv", REGISTER))
    return services, result


def test_import_fills_micro_codes_and_reports_outside_and_bad_rows(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    result = workflows.import_addresses(services, write_register(tmp_path / "r.csv", REGISTER + BAD_ROWS))
    assert result.stored == 4
    assert result.filled == 2
    assert result.outside["address"].tolist() == ["远方小区1号楼"]
    assert result.outside["line"].tolist() == [5]
    assert result.rejects[["line", "field"]].values.tolist() == [[6, "address"], [7, "lon"], [8, "households"]]
    assert result.rejects["reason"].iloc[1] == "lon 'abc' is not a number"
    assert all(result.rejects["fix"].str.len() > 0)
    stored = workflows.fetch_addresses(services).set_index("address")
    assert stored.loc["锦艺城1号楼", "micro_code"] == "G1-01"
    assert stored.loc["锦艺城2号楼", "micro_code"] == "G1-02"
    assert stored.loc["绿城百合5号楼", "micro_code"] == "G2-02"
    assert pd.isna(stored.loc["远方小区1号楼", "micro_code"])
    # a second import of the same file changes nothing and stores no duplicates
    workflows.import_addresses(services, write_register(tmp_path / "r.csv", REGISTER))
    assert len(workflows.fetch_addresses(services)) == 4


def test_export_round_trips_with_the_exact_columns(registered, tmp_path):
    services, _ = registered
    out = tmp_path / "out.csv"
    assert workflows.export_addresses(services, out) == 4
    frame = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame.columns) == list(ADDRESS_COLUMNS)
    assert frame.set_index("address").loc["锦艺城1号楼", "micro_code"] == "G1-01"


def test_a_missing_column_refuses_the_file(services, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("address,estate\n锦艺城1号楼,锦艺城\n", encoding="utf-8")
    with pytest.raises(InputError, match="has no column community"):
        workflows.import_addresses(services, path)


INCIDENTS = "source,external_id,category,lon,lat,reported_at,status,description,address\n" + "\n".join([
    f"12345,C1,暴露垃圾,{X0 + 3.5 * D},{Y0 + 0.5 * D},2025-09-29T10:00:00,received,,建设路1号",
    "12345,A1,暴露垃圾,,,2025-09-29T10:00:00,received,楼道堆物,郑州市中原区锦艺城小区２号楼3单元",
    "12345,A2,暴露垃圾,,,2025-09-29T10:00:00,received,,绿城·百合 五栋",
    "12345,A3,暴露垃圾,,,2025-09-29T10:00:00,received,,绿城花园5号楼",
    "12345,A4,暴露垃圾,,,2025-09-29T10:00:00,received,,锦艺城9号楼",
    "12345,A5,暴露垃圾,,34.75,2025-09-29T10:00:00,received,,锦艺城1号楼",
    "12345,A6,暴露垃圾,,,2025-09-29T10:00:00,received,,",
]) + "\n"


def placement(services, external_id):
    with services.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT placed_by, address_id, address_candidates, micro_code, ST_X(geom), ST_Y(geom) "
                    "FROM incident WHERE external_id = %s", (external_id,))
        return cur.fetchone()


def test_address_only_incidents_are_placed_by_the_register(registered, tmp_path):
    services, _ = registered
    path = tmp_path / "incidents.csv"
    path.write_text(INCIDENTS, encoding="utf-8")
    result = workflows.import_incidents(services, path)
    # A5 (lon empty, lat given) and A6 (no point, no address) are refused
    assert result.accepted == 5 and result.rejected == 2
    assert "lon is empty; give both lon and lat, or leave both empty and give the address" in \
        result.rejects["reason"].tolist()
    ids = workflows.fetch_addresses(services).set_index("address")["id"]

    placed_by, address_id, candidates, micro, lon, lat = placement(services, "C1")
    assert (placed_by, address_id, candidates, micro) == ("coordinates", None, None, "G2-01")

    placed_by, address_id, candidates, micro, lon, lat = placement(services, "A1")
    assert (placed_by, address_id, micro) == ("address", ids["锦艺城2号楼"], "G1-02")
    assert (round(lon, 6), round(lat, 6)) == (round(X0 + 0.5 * D, 6), round(Y0 + 1.5 * D, 6))
    assert candidates is None
    assert incident_assignee_is_set(services, "A1")

    assert placement(services, "A2")[:2] == ("address", ids["绿城百合5号楼"])

    for unplaced, first_estate in (("A3", "绿城百合"), ("A4", "锦艺城")):
        placed_by, address_id, candidates, micro, lon, lat = placement(services, unplaced)
        assert (placed_by, address_id, micro, lon, lat) == (None, None, None, None, None)
        assert candidates and candidates[0]["estate"] == first_estate
    assert result.unassigned == 2
    assert any("address-only row(s) matched no building" in w and "lines 5, 6" in w for w in result.warnings)

    # the stored cases read back (export, history) with an unplaced one among them
    assert workflows.export_incidents(services, tmp_path / "out.csv") == 5
    # a re-import is idempotent and keeps the placements
    again = workflows.import_incidents(services, path)
    assert again.inserted == 0 and again.updated == 0
    assert placement(services, "A1")[0] == "address"


def incident_assignee_is_set(services, external_id) -> bool:
    with services.connection() as conn:
        return store.fetch_incident(conn, source="12345", external_id=external_id)["micro_code"] is not None


def test_without_a_register_address_only_cases_stay_unassigned(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    path = tmp_path / "incidents.csv"
    path.write_text(INCIDENTS, encoding="utf-8")
    result = workflows.import_incidents(services, path)
    assert result.accepted == 5 and result.unassigned == 4
    assert placement(services, "A1")[:4] == (None, None, None, None)


def test_the_register_follows_scopes_and_rights(registered):
    services, _ = registered
    workflows.add_user(services, "c1", role="community", scope="C1", password=PASSWORD)
    workflows.add_user(services, "planner", role="planner", scope="410102", password=PASSWORD)
    c1 = services.as_user(workflows.sign_in(services, "c1", PASSWORD))
    assert sorted(workflows.fetch_addresses(c1)["address"]) == ["锦艺城1号楼", "锦艺城2号楼"]
    with pytest.raises(PermissionDenied):
        workflows.import_addresses(c1, "unused.csv")
    planner = services.as_user(workflows.sign_in(services, "planner", PASSWORD))
    assert len(workflows.fetch_addresses(planner)) == 4


def test_cli_addresses_import_and_export(cli, layer_file, tmp_path):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    done = cli("addresses", "import", str(write_register(tmp_path / "r.csv", REGISTER + BAD_ROWS[1:2])))
    assert done.returncode == 0, done.stderr
    assert "stored 4 building(s)" in done.stdout
    assert "refused: line 6, field 'lon': lon 'abc' is not a number" in done.stderr
    assert "outside every micro-grid: line 5, 远方小区1号楼" in done.stderr
    out = tmp_path / "out.csv"
    done = cli("addresses", "export", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8-sig").splitlines()[0] == ",".join(ADDRESS_COLUMNS)


def test_demo_register_shares_each_micro_grids_households():
    grids = hierarchy()
    buildings = demo_addresses(grids, seed=3)
    assert list(buildings.columns) == list(ADDRESS_COLUMNS)
    per_micro = buildings.groupby("micro_code")["households"].sum()
    micro = grids.loc[grids["level"] == "micro"].set_index("code")["households"]
    assert per_micro.reindex(micro.index).tolist() == micro.tolist()
    assert buildings.groupby("micro_code").size().between(5, 15).all()
    assert not buildings["address"].duplicated().any()
    # every building lies in its micro-grid
    from gis.core.assignment import GridIndex
    index = GridIndex(grids.loc[grids["level"] == "micro"], grids.loc[grids["level"] == "exclusive"])
    hit = index.assign(buildings["lon"].to_numpy(), buildings["lat"].to_numpy(), suggest=False)
    assert list(hit.micro_code) == buildings["micro_code"].tolist()


def test_unplaced_cases_without_a_point_pass_the_views_and_a_new_grid_version(registered, layer_file, tmp_path):
    from datetime import date

    from gis.core.metrics import CaseFilter
    services, _ = registered
    path = tmp_path / "incidents.csv"
    path.write_text(INCIDENTS, encoding="utf-8")
    workflows.import_incidents(services, path)
    flt = CaseFilter(since=date(2025, 9, 1), until=date(2025, 10, 31))
    layers = workflows.heat_layers(services, flt)
    for cells in layers.values():
        assert cells[["lon", "lat"]].notna().all().all()
    listed = workflows.cases(services, flt).set_index("external_id")
    assert len(listed) == 5 and pd.isna(listed.loc["A3", "lon"])
    assert workflows.micro_stats(services, flt)["received"].sum() == 5
    workflows.import_grids(services, layer_file)  # a new version re-assigns every stored case
    assert placement(services, "A3")[3] is None and placement(services, "A1")[3] == "G1-02"


def test_one_case_received_by_address_only_is_placed(registered):
    services, _ = registered
    stored = workflows.receive_incident(services, {
        "source": "12345", "external_id": "R1", "category": "暴露垃圾", "lon": "", "lat": "",
        "reported_at": "2025-09-29T10:00:00", "status": "received", "description": "", "address": "锦艺城一号楼"})
    assert stored["micro_code"] == "G1-01"
    assert placement(services, "R1")[0] == "address"
