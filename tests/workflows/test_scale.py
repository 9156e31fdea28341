"""City scale (issue 14): the GeoParquet history and counts per grid × period, in-process, on a
LocalCluster started here and in PostGIS, on the same points, agree exactly."""

from __future__ import annotations

import csv
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gis import workflows
from gis.core import scale as core_scale
from gis.core.assignment import GridIndex
from gis.io import history_files
from gis.workflows import scale
from tests.conftest import D, X0, Y0, hierarchy, run_cli

HEADER = ["source", "external_id", "category", "lon", "lat", "reported_at", "status", "description", "address"]
CATEGORIES = ["env.exposed_garbage", "safety.fire"]


def synthetic_rows(n_random: int = 300, seed: int = 14) -> list[list[object]]:
    """Points of the tiny hierarchy: on shared edges and vertices (whose answer is the lowest code),
    outside every grid, at month and ISO-year boundaries in China time, and at random (some outside)."""
    x2, y1 = X0 + 2 * D, Y0 + 1 * D   # the vertex where G1-01, G1-02, G2-01 and G2-02 meet
    fixed = [
        (x2, y1, "2026-01-31T23:30:00+08:00"),          # vertex of four micro-grids -> G1-01; January in China
        (x2, Y0 + 0.5 * D, "2026-02-01T00:30:00+08:00"),  # edge G1-01 | G2-01 -> G1-01; February in China (UTC Jan)
        (x2, Y0 + 1.5 * D, "2025-12-29T08:00:00+08:00"),  # edge G1-02 | G2-02 -> G1-02; ISO week 2026-W01
        (X0 + 0.5 * D, y1, "2025-12-28T20:00:00+08:00"),  # edge G1-01 | G1-02 -> G1-01; ISO week 2025-W52
        (X0 + 3.5 * D, y1, "2026-03-01T07:59:00+08:00"),  # edge G2-01 | G2-02 -> G2-01
        (X0, Y0, "2026-01-10T10:00:00+08:00"),           # the district's corner: covered by G1-01
        (X0 + 4 * D, Y0 + 2 * D, "2026-01-10T10:00:00+08:00"),  # the opposite corner: G2-02
        (X0 - 0.5 * D, Y0 + 0.5 * D, "2026-01-12T09:00:00+08:00"),  # outside every grid
        (X0 + 5 * D, Y0 + 3 * D, "2026-02-12T09:00:00+08:00"),      # outside every grid
    ]
    rows = []
    for i, (lon, lat, when) in enumerate(fixed):
        rows.append(["12345", f"F{i}", CATEGORIES[i % 2], lon, lat, when, "received", "", ""])
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-11-20T00:00:00+08:00")
    for i in range(n_random):
        lon = X0 + rng.uniform(-0.3, 4.3) * D
        lat = Y0 + rng.uniform(-0.3, 2.3) * D
        when = start + pd.Timedelta(seconds=int(rng.integers(0, 130 * 86400)))
        rows.append(["patrol", f"R{i}", CATEGORIES[int(rng.integers(0, 2))], lon, lat, when.isoformat(), "received",
                     "", ""])
    return rows


def write_incident_csv(path, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of two worker processes for the module, closed at the end."""
    with scale.dask_client(workers=2) as client:
        yield client


@pytest.fixture
def history(services, layer_file, tmp_path):
    """The tiny hierarchy and the synthetic incidents stored, and exported as GeoParquet (parts of
    at most 40 rows, so months have several)."""
    workflows.import_grids(services, layer_file)
    workflows.import_incidents(services, write_incident_csv(tmp_path / "in.csv", synthetic_rows()))
    done = scale.export_history(services, tmp_path / "history", rows_per_file=40, chunk_rows=25)
    return services, done


def expected_counts(frame: pd.DataFrame, *, level: str, by: str, by_category: bool) -> pd.DataFrame:
    """The answer by hand: GridIndex on every point at once, then a plain groupby."""
    grids = hierarchy()
    micro = GridIndex(grids[grids["level"] == "micro"]).assign(frame["lon"], frame["lat"], suggest=False).micro_code
    units = core_scale.units_of_micro(grids, level=level)
    table = pd.DataFrame({"code": [units.get(c) if c else None for c in micro],
                          by: core_scale.period_labels(frame["reported_at"], by=by).to_numpy(),
                          "category": frame["category"].to_numpy()})
    table = table.dropna(subset=["code"])
    keys = ["code", by] + (["category"] if by_category else [])
    return table.groupby(keys).size().rename("count").reset_index()


def test_history_is_geoparquet_by_month_with_the_csv_export_columns(history, tmp_path):
    services, done = history
    assert done.rows == 309 and done.months == ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    assert all(p.parent.name.startswith("month=") for p in done.files)
    assert len(done.files) > len(done.months)                          # months of more than 40 rows are split
    workflows.export_incidents(services, tmp_path / "all.csv")
    csv_columns = list(pd.read_csv(tmp_path / "all.csv", nrows=0, encoding="utf-8-sig").columns)
    for path in done.files:
        assert pq.read_schema(path).names == csv_columns + ["geometry"]
        assert b"geo" in pq.read_schema(path).metadata
    parts = gpd.read_parquet(done.files[0])
    assert parts.crs.to_epsg() == 4326 and set(parts.geom_type) == {"Point"}
    months = {p.parent.name: history_files.month_of(gpd.read_parquet(p)["reported_at"]).unique().tolist()
              for p in done.files}
    assert all(found == [folder.removeprefix("month=")] for folder, found in months.items())
    # the China-time month: 2026-02-01 00:30 +08:00 (January in UTC) is in February's folder
    feb = pd.concat([gpd.read_parquet(p) for p in done.files if p.parent.name == "month=2026-02"])
    assert "F1" in set(feb["external_id"])


@pytest.mark.parametrize(("level", "by", "by_category"), [("micro", "week", True), ("street", "month", False),
                                                          ("community", "day", True)])
def test_in_process_local_cluster_and_postgis_counts_agree_exactly(history, client, level, by, by_category):
    services, done = history
    grids = scale.grids_of_version(services)
    here = scale.aggregate_history(done.directory, grids=grids, level=level, by=by, by_category=by_category)
    there = scale.aggregate_history(done.directory, grids=grids, level=level, by=by, by_category=by_category,
                                    client=client)
    postgis = scale.aggregate_in_database(services, level=level, by=by, by_category=by_category)
    assert there.where == "LocalCluster(2 workers)" and there.partitions == len(done.files)
    pd.testing.assert_frame_equal(here.counts, there.counts)
    pd.testing.assert_frame_equal(here.counts, postgis.counts)
    assert here.points == there.points == postgis.points == 309
    assert here.outside == there.outside == postgis.outside > 2

    frame = pd.concat([gpd.read_parquet(p) for p in done.files], ignore_index=True)
    expected = expected_counts(frame, level=level, by=by, by_category=by_category)
    keys = ["code", by] + (["category"] if by_category else [])
    got = here.counts[keys + ["count"]].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.sort_values(keys).reset_index(drop=True), check_dtype=False)


def test_shared_edges_go_to_the_lowest_code_on_every_path(history, client):
    services, done = history
    grids = scale.grids_of_version(services)
    for counted in (scale.aggregate_history(done.directory, grids=grids, level="micro", by="week", client=client),
                    scale.aggregate_in_database(services, level="micro", by="week")):
        weeks = counted.counts.set_index(["code", "week"])["count"]
        # F2 (edge G1-02 | G2-02, Monday 2025-12-29) is in ISO week 2026-W01 of G1-02; F3 (edge G1-01 | G1-02,
        # Sunday 2025-12-28) in 2025-W52 of G1-01; the week before holds no point of G2-02
        assert weeks.get(("G1-02", "2026-W01"), 0) >= 1 and weeks.get(("G1-01", "2025-W52"), 0) >= 1
    stored = pd.concat([gpd.read_parquet(p) for p in done.files]).set_index("external_id")
    micro = GridIndex(hierarchy().query("level == 'micro'")).assign(stored["lon"], stored["lat"]).micro_code
    picked = dict(zip(stored.index, micro))
    assert [picked[f"F{i}"] for i in range(9)] == ["G1-01", "G1-01", "G1-02", "G1-01", "G2-01", "G1-01", "G2-02",
                                                   None, None]


def test_category_filter_counts_only_those_categories(history, client):
    services, done = history
    grids = scale.grids_of_version(services)
    only = scale.aggregate_history(done.directory, grids=grids, level="street", by="month",
                                   categories=["safety.fire"], by_category=True, client=client)
    all_ = scale.aggregate_history(done.directory, grids=grids, level="street", by="month", by_category=True)
    assert set(only.counts["category"]) == {"safety.fire"}
    fire = all_.counts[all_.counts["category"] == "safety.fire"].reset_index(drop=True)
    pd.testing.assert_frame_equal(only.counts, fire)
    postgis = scale.aggregate_in_database(services, level="street", by="month", categories=["safety.fire"],
                                          by_category=True)
    pd.testing.assert_frame_equal(only.counts, postgis.counts)


def test_cli_export_then_aggregate_writes_code_period_count(cli, layer_file, tmp_path, client):
    assert cli("grids", "import", str(layer_file)).returncode == 0
    incidents = write_incident_csv(tmp_path / "in.csv", synthetic_rows(n_random=60))
    assert cli("incidents", "import", incidents).returncode == 0
    folder = tmp_path / "history"
    done = cli("incidents", "export", str(folder), "--format", "parquet")
    assert done.returncode == 0 and "69 incidents written" in done.stdout and "GeoParquet" in done.stdout, done.stderr
    again = cli("incidents", "export", str(folder), "--format", "parquet")
    assert again.returncode == 2 and "not empty" in again.stderr
    grids = tmp_path / "grids.parquet"
    done = cli("grids", "export", str(grids))
    assert done.returncode == 0 and "12 grids written" in done.stdout, done.stderr
    assert set(gpd.read_parquet(grids)["level"]) >= {"micro", "street"}

    out = tmp_path / "weeks.csv"
    done = run_cli("aggregate", str(folder), "--level", "community", "--by", "week", "--grids", str(grids),
                   "--workers", "2", "--out", str(out))          # no database: the grids come from the file
    assert done.returncode == 0, done.stderr
    assert "69 points" in done.stdout and "LocalCluster(2 workers)" in done.stdout
    table = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert list(table.columns) == ["code", "name", "week", "count"]
    assert table["week"].str.fullmatch(r"\d{4}-W\d\d").all() and set(table["code"]) <= {"C1", "C2"}

    out = tmp_path / "weeks-scheduler.csv"
    address = client.scheduler.address                              # a running cluster, as --scheduler names it
    done = run_cli("aggregate", str(folder), "--level", "community", "--grids", str(grids), "--scheduler", address,
                   "--out", str(out))
    assert done.returncode == 0 and address in done.stdout, done.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out, dtype=str, encoding="utf-8-sig"), table)

    out = tmp_path / "months.parquet"
    done = cli("aggregate", str(folder), "--level", "micro", "--by", "month", "--by-category", "--workers", "0",
               "--out", str(out))                                 # the active version from the database
    assert done.returncode == 0 and "in-process" in done.stdout, done.stderr
    outside = int(re.search(r"(\d+) outside every micro-grid", done.stdout).group(1))
    months = pd.read_parquet(out)
    assert list(months.columns) == ["code", "name", "month", "category", "count"]
    assert outside >= 2 and months["count"].sum() == 69 - outside
    assert set(months["month"]) <= {"2025-11", "2025-12", "2026-01", "2026-02", "2026-03"}


def test_bad_input_gives_one_line_and_exit_code_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    pd.DataFrame({"reported_at": [pd.Timestamp("2026-01-01", tz="UTC")], "category": ["x"]}).to_parquet(
        plain / "a.parquet")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "b.parquet").write_text("source,external_id\n")
    cases = [
        ((str(empty), "--level", "micro"), "holds no .parquet files"),
        ((str(plain), "--level", "micro"), "without GeoParquet metadata"),
        ((str(junk), "--level", "micro"), "is not a Parquet file"),
        ((str(empty), "--level", "province"), "level 'province' cannot be aggregated"),
        ((str(empty), "--level", "micro", "--by", "year"), "period 'year' is unknown"),
    ]
    for args, message in cases:
        done = run_cli("aggregate", *args, "--grids", str(tmp_path / "g.parquet"), "--out", str(tmp_path / "o.csv"))
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0], (args, done.stderr)
        assert lines[0].startswith("error:")
    done = run_cli("aggregate", str(empty), "--level", "micro", "--out", str(tmp_path / "o.xlsx"))
    assert done.returncode == 2 and "use a .csv or .parquet" in done.stderr
