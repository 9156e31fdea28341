"""Tests for gis.incidents: reading, checking and writing incident rows.

Every input is a tiny file written to ``tmp_path``; expected coordinates come
from gis.crs, expected line numbers from the csv module's ``line_num``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import intake
from gis.core import crs as giscrs
from gis.core.intake import csv as intake_csv
from gis.core.intake import encoding as intake_encoding
from gis.core.intake.checks import (
    INCIDENT_COLUMNS,
    REJECT_COLUMNS,
    REQUIRED_FIELDS,
    Chunk,
)
from gis.core.intake.encoding import detect_encoding
from gis.core.intake.open311 import load_open311_codes
from gis.core.intake.reader import read_incidents
from gis.errors import GisError, InputError
from gis.io.incident_files import (
    EXPORT_COLUMNS,
    incidents_to_csv,
    incidents_to_geojson,
    incidents_to_open311,
    rejects_to_csv,
    write_open311,
)

HEADER = ",".join(REQUIRED_FIELDS)
GOOD_A = "12345,A1,暴露垃圾,113.62,34.75,2025-03-01T08:30:00+08:00,received,绿地东侧有垃圾,桐柏路1号"
GOOD_Z = "12345,Z9,乱停车,113.63,34.76,2025-03-02T09:00:00,dispatched,门口乱停车,建设路2号"


def write(tmp_path: Path, text: str, *, name: str = "cases.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def read_all(path: Path, **options) -> Chunk:
    return read_incidents(path, **options).read_all()


def record_lines(path: Path, encoding: str = "utf-8") -> list[int]:
    """Start line of every record after the header, by the csv module."""
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        starts, end = [], reader.line_num
        for _ in reader:
            starts.append(end + 1)
            end = reader.line_num
    return starts


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


# ---------------------------------------------------------------------------
# A good file
# ---------------------------------------------------------------------------

def test_good_csv_parses_with_values_and_utc_times(tmp_path):
    path = write(tmp_path, csv_text(GOOD_A, GOOD_Z))
    reader = read_incidents(path)
    assert (reader.format, reader.encoding, reader.crs) == ("csv", "utf-8", "wgs84")
    chunk = reader.read_all()
    frame = chunk.incidents
    assert list(frame.columns) == list(INCIDENT_COLUMNS)
    assert chunk.rejects.empty and chunk.warnings == [] and chunk.records == 2
    a, z = frame.iloc[0], frame.iloc[1]
    assert (a.line, a.source, a.external_id, a.category, a.status) == (
        2, "12345", "A1", "env.exposed_garbage", "received")
    assert (a.description, a.address) == ("绿地东侧有垃圾", "桐柏路1号")
    assert (z.line, z.category, z.status) == (3, "order.illegal_parking", "dispatched")
    assert a.reported_at == utc("2025-03-01T00:30:00Z")
    # no zone means China time, +08:00
    assert z.reported_at == utc("2025-03-02T01:00:00Z")
    assert str(frame["reported_at"].dtype) == "datetime64[us, UTC]"
    assert frame["closed_at"].isna().all()
    assert frame["priority"].isna().all() and frame["reporter_phone"].isna().all()
    assert (a.lon, a.lat, a.input_lon, a.input_lat, a.input_crs) == (
        113.62, 34.75, 113.62, 34.75, "wgs84")
    assert frame["lon"].dtype == float and frame["line"].dtype == np.int64


def test_optional_columns_are_read_and_names_match_loosely(tmp_path):
    header = " Source ,EXTERNAL_ID,category,lon,lat,reported_at,status,description,address,priority,closed_at,reporter_phone"
    row = ("12345,B1,井盖,113.62,34.75,2025-03-01 08:30,closed,,,紧急,"
           "2025-03-01T10:00:00+08:00,138****0000")
    frame = read_all(write(tmp_path, csv_text(row, header=header))).incidents
    b = frame.iloc[0]
    assert (b.category, b.status, b.priority, b.reporter_phone) == (
        "municipal.manhole", "closed", "紧急", "138****0000")
    assert (b.description, b.address) == ("", "")
    assert b.reported_at == utc("2025-03-01T00:30:00Z")
    assert b.closed_at == utc("2025-03-01T02:00:00Z")


def test_status_and_category_accept_codes_chinese_names_and_open311(tmp_path):
    rows = [f"12345,S{i},{cat},113.62,34.75,2025-03-01T08:30:00,{status},,"
            for i, (cat, status) in enumerate([("环境卫生", "处置"), ("safety.gas", "In Progress"),
                                               ("消防", "open"), ("其它", "结案")])]
    frame = read_all(write(tmp_path, csv_text(*rows))).incidents
    assert frame["category"].tolist() == ["env.exposed_garbage", "safety.gas", "safety.fire", "other"]
    assert frame["status"].tolist() == ["in_progress", "in_progress", "received", "closed"]


# ---------------------------------------------------------------------------
# Bad rows
# ---------------------------------------------------------------------------

BAD_ROWS = [
    ("lat_95", "12345,B,井盖,113.62,95,2025-03-01T08:30:00,received,,", "lat",
     "lat 95.0 is outside -90..90; check the column order lon,lat"),
    ("lon_200", "12345,B,井盖,200,34.75,2025-03-01T08:30:00,received,,", "lon",
     "lon 200.0 is outside -180..180; check the column order lon,lat and --crs"),
    ("lon_text", "12345,B,井盖,abc,34.75,2025-03-01T08:30:00,received,,", "lon",
     "lon 'abc' is not a number"),
    ("lon_empty", "12345,B,井盖,,34.75,2025-03-01T08:30:00,received,,", "lon", "lon is empty"),
    ("lat_nan", "12345,B,井盖,113.62,NaN,2025-03-01T08:30:00,received,,", "lat",
     "lat nan is not a finite number"),
    ("lon_inf", "12345,B,井盖,inf,34.75,2025-03-01T08:30:00,received,,", "lon",
     "lon inf is not a finite number"),
    ("bad_time", "12345,B,井盖,113.62,34.75,2025-13-45,received,,", "reported_at",
     "reported_at '2025-13-45' is not an ISO 8601 time (e.g. 2025-03-01T08:30:00+08:00)"),
    ("no_time", "12345,B,井盖,113.62,34.75,,received,,", "reported_at",
     "reported_at is empty; give the time reported (e.g. 2025-03-01T08:30:00+08:00)"),
    ("feb_30", "12345,B,井盖,113.62,34.75,2025-02-30T08:00:00,received,,", "reported_at",
     "reported_at '2025-02-30T08:00:00' is not an ISO 8601 time"),
    ("swapped", "12345,B,井盖,34.75,113.62,2025-03-01T08:30:00,received,,", "lon/lat",
     "lon/lat look swapped (lon 34.75, lat 113.62): put longitude first"),
    ("bad_status", "12345,B,井盖,113.62,34.75,2025-03-01T08:30:00,done,,", "status",
     "status 'done' is not known; use one of received (受理), dispatched (派遣)"),
    ("no_status", "12345,B,井盖,113.62,34.75,2025-03-01T08:30:00,,,", "status",
     "status is empty; use one of received (受理)"),
    ("no_id", "12345,,井盖,113.62,34.75,2025-03-01T08:30:00,received,,", "external_id",
     "external_id is empty"),
    ("blank_id", "12345,  ,井盖,113.62,34.75,2025-03-01T08:30:00,received,,", "external_id",
     "external_id is empty"),
    ("no_source", ",B,井盖,113.62,34.75,2025-03-01T08:30:00,received,,", "source",
     "source is empty; fill the source column or pass --source"),
]


@pytest.mark.parametrize("row, field, reason", [case[1:] for case in BAD_ROWS],
                         ids=[case[0] for case in BAD_ROWS])
def test_each_bad_row_kind_is_refused_and_the_rest_comes_through(tmp_path, row, field, reason):
    chunk = read_all(write(tmp_path, csv_text(GOOD_A, row, GOOD_Z)))
    assert chunk.incidents["external_id"].tolist() == ["A1", "Z9"]
    assert chunk.incidents["line"].tolist() == [2, 4]
    assert len(chunk.rejects) == 1, chunk.rejects.to_dict("records")
    reject = chunk.rejects.iloc[0]
    assert (reject.line, reject.field) == (3, field)
    assert reject.reason.startswith(reason)
    assert reject.raw == row


def test_closed_at_is_checked_when_given(tmp_path):
    header = HEADER + ",closed_at"
    rows = ["12345,C1,井盖,113.62,34.75,2025-03-01T08:30:00,closed,,,yesterday",
            "12345,C2,井盖,113.62,34.75,2025-03-01T08:30:00,closed,,,2025-03-01T08:00:00",
            "12345,C3,井盖,113.62,34.75,2025-03-01T08:30:00,closed,,,"]
    chunk = read_all(write(tmp_path, csv_text(*rows, header=header)))
    assert chunk.incidents["external_id"].tolist() == ["C3"]
    assert chunk.rejects["field"].tolist() == ["closed_at", "closed_at"]
    assert chunk.rejects["reason"][0].startswith("closed_at 'yesterday' is not an ISO 8601 time")
    assert chunk.rejects["reason"][1] == ("closed_at 2025-03-01T08:00:00+08:00 is before "
                                          "reported_at 2025-03-01T08:30:00+08:00; check both times")


def test_a_row_with_several_problems_is_refused_once_per_problem(tmp_path):
    chunk = read_all(write(tmp_path, csv_text("12345,,井盖,abc,95,never,done,,")))
    assert chunk.incidents.empty
    assert chunk.rejects["line"].tolist() == [2] * 5
    assert chunk.rejects["field"].tolist() == ["external_id", "lon", "lat", "reported_at", "status"]
    assert chunk.refused == 1
    assert Chunk(pd.DataFrame(), pd.DataFrame()).refused == 0


def test_unknown_category_is_stored_as_other_with_a_warning(tmp_path):
    rows = [GOOD_A, "12345,U1,井盖坏了,113.62,34.75,2025-03-01T08:30:00,received,,",
            "12345,U2,,113.62,34.75,2025-03-01T08:30:00,received,,"]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.rejects.empty
    assert chunk.incidents["category"].tolist() == ["env.exposed_garbage", "other", "other"]
    assert chunk.warnings == ["line 3: category '井盖坏了' unknown, stored as 'other'",
                              "line 4: category is empty, stored as 'other'"]


def test_warnings_beyond_the_first_hundred_are_counted_not_listed(tmp_path):
    rows = [f"12345,W{i},怪事,113.62,34.75,2025-03-01T08:30:00,received,," for i in range(130)]
    chunk = read_all(write(tmp_path, csv_text(*rows)), chunk_rows=50)
    listed = [w for w in chunk.warnings if w.startswith("line ")]
    assert len(listed) == 100
    summaries = [w for w in chunk.warnings if not w.startswith("line ")]
    assert summaries == ["30 more lines with an unknown category, stored as 'other', "
                         "between lines 102 and 131 (not listed one by one)"]


def test_a_row_with_extra_fields_is_refused_and_a_short_one_is_padded(tmp_path):
    rows = [GOOD_A,
            "12345,X1,井盖,113.62,34.75,2025-03-01T08:30:00,received,a, b,c",
            "12345,X2,井盖,113.62,34.75,2025-03-01T08:30:00,received",
            "12345,X3,井盖,113.62,34.75,2025-03-01T08:30:00,received,d,e,,",
            GOOD_Z]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.incidents["external_id"].tolist() == ["A1", "X2", "X3", "Z9"]
    assert chunk.incidents["line"].tolist() == [2, 4, 5, 6]
    x2 = chunk.incidents.iloc[1]
    assert (x2.description, x2.address) == ("", "")
    reject = chunk.rejects.iloc[0]
    assert reject.line == 3 and pd.isna(reject.field)
    assert reject.reason == ("the row has 10 fields but the header has 9; "
                             "put text that contains commas in double quotes")
    assert reject.raw == rows[1]


def test_empty_and_repeated_unused_header_columns_are_ignored(tmp_path):
    header = HEADER + ",,x,x"
    rows = ["12345,E1,井盖,113.62,34.75,2025-03-01T08:30:00,received,d,a,,1,2",
            "12345,E2,井盖,113.62,34.75,2025-03-01T08:30:00,received,d,a,"]
    for chunk_rows in (1, 10):
        chunk = read_all(write(tmp_path, csv_text(*rows, header=header)), chunk_rows=chunk_rows)
        assert chunk.incidents["external_id"].tolist() == ["E1", "E2"]
        assert chunk.rejects.empty
        assert chunk.warnings[0].startswith("columns 'x', 'x' not used")


def test_blank_lines_are_skipped_and_counted_as_lines(tmp_path):
    path = write(tmp_path, HEADER + "\n\n" + GOOD_A + "\n,,,,,,,,\n   \n" + GOOD_Z + "\n\n")
    chunk = read_all(path)
    assert chunk.rejects.empty and chunk.warnings == []
    assert chunk.incidents["line"].tolist() == [3, 6]


# ---------------------------------------------------------------------------
# Encodings and hostile text
# ---------------------------------------------------------------------------

def test_utf8_with_bom_decodes_and_is_reported(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(GOOD_A).encode("utf-8"))
    reader = read_incidents(path)
    assert reader.encoding == "utf-8-sig" == detect_encoding(path)
    frame = reader.read_all().incidents
    assert frame["source"].tolist() == ["12345"]  # the BOM is not part of the first name
    assert frame["description"].tolist() == ["绿地东侧有垃圾"]


def test_gb18030_spreadsheet_export_decodes_and_is_reported(tmp_path):
    text = csv_text(GOOD_A, GOOD_Z).replace("\n", "\r\n")
    path = write(tmp_path, text, encoding="gb18030")
    reader = read_incidents(path)
    assert reader.encoding == "gb18030" == detect_encoding(path)
    chunk = reader.read_all()
    assert chunk.incidents["description"].tolist() == ["绿地东侧有垃圾", "门口乱停车"]
    assert chunk.incidents["category"].tolist() == ["env.exposed_garbage", "order.illegal_parking"]
    assert chunk.incidents["line"].tolist() == [2, 3]


def test_a_gb18030_file_is_read_through_a_temporary_utf8_copy_that_is_removed(
        tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(intake_csv.tempfile, "tempdir", str(scratch))
    path = write(tmp_path, csv_text(GOOD_A, GOOD_Z), encoding="gb18030")
    chunks = iter(read_incidents(path, chunk_rows=1))
    next(chunks)
    assert len(list(scratch.iterdir())) == 1  # the copy lives while the file is read
    rest = list(chunks)
    assert len(rest) == 1 and rest[0].incidents["external_id"].tolist() == ["Z9"]
    assert list(scratch.iterdir()) == []
    abandoned = iter(read_incidents(path, chunk_rows=1))
    next(abandoned)
    abandoned.close()
    assert list(scratch.iterdir()) == []


def test_a_bad_byte_past_the_gb18030_sample_is_an_input_error_before_any_chunk(
        tmp_path, monkeypatch):
    monkeypatch.setattr(intake_encoding, "_DECODE_BYTES", 64)
    monkeypatch.setattr(intake_csv, "_DECODE_BYTES", 64)
    monkeypatch.setattr(intake_encoding, "_GB18030_SAMPLE_BYTES", 128)
    body = csv_text(*[GOOD_A.replace("A1", f"A{i}") for i in range(10)]).encode("gb18030")
    path = tmp_path / "broken.csv"
    path.write_bytes(body + b"12345,Q,\x81\x20,1,2,3,4,5,6\n")
    assert detect_encoding(path) == "gb18030"  # the sample is fine
    with pytest.raises(InputError, match=rf"neither UTF-8 nor GB18030 \(byte 0x81 at offset "
                                         rf"{len(body) + 8}\)"):
        next(iter(read_incidents(path)))
    # past pyarrow's first block too: found while transcoding, before any chunk
    monkeypatch.setattr(intake_csv._CsvFile, "_read_header", lambda self: list(REQUIRED_FIELDS))
    with pytest.raises(InputError, match=rf"byte 0x81 at offset {len(body) + 8}\)"):
        next(iter(read_incidents(path)))


def test_plain_ascii_is_utf_8(tmp_path):
    assert detect_encoding(write(tmp_path, "a,b\n1,2\n")) == "utf-8"


def test_undecodable_and_utf16_files_are_input_errors(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(HEADER.encode() + b"\n\xff\xff\xff\xff\n")
    with pytest.raises(InputError, match=r"neither UTF-8 nor GB18030 \(byte 0xff at offset 75\)"):
        detect_encoding(junk)
    wide = tmp_path / "wide.csv"
    wide.write_bytes(csv_text(GOOD_A).encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16 or UTF-32.*CSV UTF-8"):
        read_incidents(wide)


def test_detect_encoding_finds_a_late_gb18030_byte_past_a_block(tmp_path, monkeypatch):
    monkeypatch.setattr(intake_encoding, "_DECODE_BYTES", 64)
    monkeypatch.setattr(intake_csv, "_DECODE_BYTES", 64)
    body = "".join(f"12345,A{i},井盖,113.62,34.75,2025-03-01T08:30:00,received,,\n" for i in range(20))
    path = tmp_path / "late.csv"
    path.write_bytes((HEADER + "\n" + body).encode("utf-8") + "中文".encode("gb18030") + b"\n")
    assert detect_encoding(path) == "gb18030"
    utf8 = tmp_path / "utf8.csv"
    utf8.write_bytes((HEADER + "\n" + body + "末尾🚧\n").encode("utf-8"))
    assert detect_encoding(utf8) == "utf-8"


HOSTILE = [
    'He said "hello", then left',
    "line one\nline two\r\nline three",
    "🚧 emoji 👍🏽 and 中文",
    '<script>alert("x")</script>',
    "'; DROP TABLE incident; --",
    "  spaces kept  ",
    "a,b;c\td",
    "",
    "\\N NULL null NaN",
]


def hostile_file(tmp_path: Path, descriptions: list[str], *, lineterminator: str = "\n") -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow(REQUIRED_FIELDS)
    for i, text in enumerate(descriptions):
        writer.writerow(["12345", f"H{i}", "井盖", "113.62", "34.75", "2025-03-01T08:30:00",
                         "received", text, text[::-1]])
    path = tmp_path / "hostile.csv"
    path.write_bytes(out.getvalue().encode("utf-8"))
    return path


@pytest.mark.parametrize("lineterminator", ["\n", "\r\n"])
def test_hostile_text_comes_through_byte_exact_with_right_line_numbers(tmp_path, lineterminator):
    path = hostile_file(tmp_path, HOSTILE, lineterminator=lineterminator)
    chunk = read_all(path)
    assert chunk.rejects.empty
    assert chunk.incidents["description"].tolist() == HOSTILE
    assert chunk.incidents["address"].tolist() == [t[::-1] for t in HOSTILE]
    # the reversed address has "\n\r": two line breaks, as the csv module counts them
    assert chunk.incidents["line"].tolist() == record_lines(path)
    assert record_lines(path)[:3] == [2, 3, 9]


def test_line_numbers_stay_right_after_a_refused_multi_line_row(tmp_path):
    rows = ['12345,M1,井盖,abc,34.75,2025-03-01T08:30:00,received,"first\nsecond\nthird",x',
            "12345,M2,井盖,113.62,34.75,2025-03-01T08:30:00,received,after,y"]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.rejects["line"].tolist() == [2]
    assert chunk.rejects["raw"].tolist() == [
        '12345,M1,井盖,abc,34.75,2025-03-01T08:30:00,received,"first\nsecond\nthird",x']
    assert chunk.incidents["line"].tolist() == [5]


def test_line_numbers_match_the_csv_module_across_many_blocks(tmp_path, monkeypatch):
    # Small blocks make pyarrow hand over rows in many batches, with irregular
    # rows (wrong field count) reported apart from them.
    monkeypatch.setattr(intake_csv, "_BLOCK_BYTES", 300)
    rng = np.random.default_rng(5)
    lines = [HEADER]
    for i in range(400):
        kind = rng.integers(0, 10)
        if kind == 0:
            lines.append("")
        elif kind == 1:
            lines.append(f'12345,L{i},井盖,113.62,34.75,2025-03-01T08:30:00,received,"a\nb\r\nc",x,extra')
        elif kind == 2:
            lines.append(f"12345,L{i},井盖,113.62,34.75,2025-03-01T08:30:00,received")
        elif kind == 3:
            lines.append(f'12345,L{i},井盖,113.62,34.75,2025-03-01T08:30:00,received,"多\n行\n文本",x')
        else:
            lines.append(f"12345,L{i},井盖,113.62,34.75,2025-03-01T08:30:00,received,d,x")
    path = write(tmp_path, "\n".join(lines) + "\n")
    blocks = list(intake_csv._CsvFile(path, "utf-8", source_given=False)._records(path, None))
    assert len(blocks) > 20 and sum(1 for _, irregular, _ in blocks if not irregular) > 5
    starts = record_lines(path)
    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))[1:]
    expected = {start: (row[1] if row else None) for start, row in zip(starts, records)}
    chunk = read_all(path, chunk_rows=37)
    seen = dict(zip(chunk.incidents["line"], chunk.incidents["external_id"]))
    seen.update({line: expected[line] for line in chunk.rejects["line"]})
    assert set(chunk.rejects["line"]) == {s for s, r in zip(starts, records) if len(r) == 10}
    assert {line: eid for line, eid in expected.items() if eid is not None} == seen
    assert chunk.records == len(records)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                     blacklist_characters="\x00"),
                              max_size=30), min_size=1, max_size=8))
def test_any_text_round_trips_byte_exact_through_csv(tmp_path, texts):
    path = hostile_file(tmp_path, texts)
    chunk = read_all(path)
    assert chunk.rejects.empty
    assert chunk.incidents["description"].tolist() == texts
    assert chunk.incidents["line"].tolist() == record_lines(path)


# ---------------------------------------------------------------------------
# Coordinate systems
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("crs", ["gcj02", "bd09", "Amap", "baidu"])
def test_gcj02_and_bd09_input_is_converted_to_wgs84(tmp_path, crs):
    chunk = read_all(write(tmp_path, csv_text(GOOD_A, GOOD_Z)), crs=crs)
    name = giscrs.parse_crs(crs)
    frame = chunk.incidents
    lon, lat = giscrs.to_wgs84([113.62, 113.63], [34.75, 34.76], crs=name)
    np.testing.assert_allclose(frame["lon"], lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["lat"], lat, rtol=0, atol=1e-12)
    assert frame["input_lon"].tolist() == [113.62, 113.63]
    assert frame["input_crs"].tolist() == [name, name]
    # the offsets are hundreds of metres, so the conversion did happen
    assert (np.abs(frame["lon"] - frame["input_lon"]) > 1e-3).all()


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_gcj02_or_bd09_point_in_paris_is_refused(tmp_path, crs):
    paris = "12345,P1,井盖,2.35,48.85,2025-03-01T08:30:00,received,,"
    chunk = read_all(write(tmp_path, csv_text(GOOD_A, paris)), crs=crs)
    assert chunk.incidents["external_id"].tolist() == ["A1"]
    reject = chunk.rejects.iloc[0]
    assert (reject.line, reject.field) == (3, "lon/lat")
    assert reject.reason == (f"point (2.35, 48.85) is outside China, where {crs} does not apply; "
                             "check --crs")


def test_a_wgs84_point_in_paris_is_kept(tmp_path):
    paris = "12345,P1,井盖,2.35,48.85,2025-03-01T08:30:00,received,,"
    assert read_all(write(tmp_path, csv_text(paris))).incidents["lon"].tolist() == [2.35]


def test_projected_epsg_input_is_converted(tmp_path):
    x, y = pyproj.Transformer.from_crs(4326, 32649, always_xy=True).transform(113.62, 34.75)
    rows = [f"12345,E1,井盖,{x!r},{y!r},2025-03-01T08:30:00,received,,",
            "12345,E2,井盖,1e30,1e30,2025-03-01T08:30:00,received,,"]
    chunk = read_all(write(tmp_path, csv_text(*rows)), crs="EPSG:32649")
    e1 = chunk.incidents.iloc[0]
    assert math.isclose(e1.lon, 113.62, abs_tol=1e-9) and math.isclose(e1.lat, 34.75, abs_tol=1e-9)
    assert (e1.input_crs, e1.input_lon) == ("EPSG:32649", x)
    assert chunk.rejects["field"].tolist() == ["lon/lat"]
    assert "cannot be converted from EPSG:32649 to WGS-84" in chunk.rejects["reason"][0]


def test_an_unknown_crs_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="unknown CRS 'mars'"):
        read_incidents(write(tmp_path, csv_text(GOOD_A)), crs="mars")


# ---------------------------------------------------------------------------
# Duplicates and chunking
# ---------------------------------------------------------------------------

def test_duplicates_keep_the_last_occurrence_with_a_warning(tmp_path):
    rows = ["12345,D1,井盖,113.62,34.75,2025-03-01T08:30:00,received,first,",
            GOOD_A,
            "other,D1,井盖,113.62,34.75,2025-03-01T08:30:00,received,another source,",
            "12345, D1 ,井盖,113.62,34.75,2025-03-01T08:30:00,dispatched,second,",
            "12345,D1,井盖,113.62,34.75,2025-03-01T08:30:00,closed,third,"]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    frame = chunk.incidents
    assert frame["line"].tolist() == [3, 4, 6]
    assert frame["description"].tolist() == ["绿地东侧有垃圾", "another source", "third"]
    assert chunk.warnings == ["external_id 'D1' appears on lines 2, 5 and 6; the last one is kept"]


def test_a_refused_last_duplicate_is_said_so(tmp_path):
    rows = ["12345,D1,井盖,113.62,34.75,2025-03-01T08:30:00,received,first,",
            "12345,D1,井盖,113.62,95,2025-03-01T08:30:00,closed,broken,"]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.incidents.empty and chunk.rejects["line"].tolist() == [3]
    assert chunk.warnings == ["external_id 'D1' appears on lines 2 and 3; the last one is kept, "
                              "but line 3 is refused (see the rejects)"]


TEN_ROWS = [
    "12345,T1,井盖,113.62,34.75,2025-03-01T08:30:00,received,one,",
    "12345,T2,怪事,113.62,34.75,2025-03-01T08:30:00,received,\"two\nlines\",",
    "12345,T3,井盖,113.62,95,2025-03-01T08:30:00,received,bad lat,",
    "12345,T1,井盖,113.62,34.75,2025-03-01T08:30:00,dispatched,one again,",
    "12345,T5,井盖,113.62,34.75,2025-03-01T08:30:00+08:00,received,five,,extra",
    "",
    "12345,T7,井盖,113.62,34.75,2025-03-01,closed,seven,",
    "12345,T8,井盖,113.62,34.75,2025-03-01T08:30:00,done,eight,",
    "12345,T2,井盖,113.62,34.75,2025-03-02T08:30:00,resolved,two later,",
    "12345,T10,井盖,113.62,34.75,2025-03-01T08:30:00Z,received,ten,",
]


def test_chunking_gives_the_same_result_as_one_chunk(tmp_path):
    path = write(tmp_path, csv_text(*TEN_ROWS))
    whole = list(read_incidents(path, chunk_rows=1000))
    parts = list(read_incidents(path, chunk_rows=3))
    assert len(whole) == 1 and len(parts) == 4
    assert [c.records for c in parts] == [3, 3, 3, 1]
    joined = read_incidents(path, chunk_rows=3).read_all()
    pd.testing.assert_frame_equal(joined.incidents, whole[0].incidents)
    pd.testing.assert_frame_equal(joined.rejects, whole[0].rejects)
    assert joined.warnings == whole[0].warnings
    frame = whole[0].incidents
    assert frame["external_id"].tolist() == ["T1", "T7", "T2", "T10"]
    assert frame["line"].tolist() == [6, 9, 11, 12]
    assert whole[0].rejects["line"].tolist() == [5, 7, 10]
    # T2 on line 3 is superseded before it is checked, so its category is not warned about
    assert whole[0].warnings == [
        "external_id 'T1' appears on lines 2 and 6; the last one is kept",
        "external_id 'T2' appears on lines 3 and 11; the last one is kept",
    ]


def test_source_option_fills_a_missing_column_and_overrides_one(tmp_path):
    header = "external_id,category,lon,lat,reported_at,status,description,address"
    path = write(tmp_path, csv_text("S1,井盖,113.62,34.75,2025-03-01T08:30:00,received,,",
                                    header=header))
    with pytest.raises(InputError, match="lacks column source.*or pass --source"):
        read_incidents(path)
    assert read_all(path, source=" 12345 ").incidents["source"].tolist() == ["12345"]
    other = write(tmp_path, csv_text(GOOD_A), name="other.csv")
    assert read_all(other, source="hotline").incidents["source"].tolist() == ["hotline"]


# ---------------------------------------------------------------------------
# File-level errors
# ---------------------------------------------------------------------------

def test_a_header_without_required_columns_is_an_input_error(tmp_path):
    path = write(tmp_path, "source,id,lng,lat\n1,2,3,4\n")
    with pytest.raises(InputError, match=r"the header lacks columns external_id, category, lon, "
                                         r"reported_at, status, description, address") as info:
        read_incidents(path)
    assert isinstance(info.value, GisError) and info.value.field == "external_id"


def test_a_repeated_column_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="column 'lat' appears twice"):
        read_incidents(write(tmp_path, csv_text(GOOD_A + ",1", header=HEADER + ",LAT")))


def test_unused_columns_are_named_in_a_warning(tmp_path):
    path = write(tmp_path, csv_text(GOOD_A + ",x,T1", header=HEADER + ",lng,tier"))
    chunk = read_all(path)
    assert chunk.warnings[0].startswith("column 'lng' not used")
    assert len(chunk.incidents) == 1


def test_empty_missing_and_unknown_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="is empty"):
        read_incidents(write(tmp_path, ""))
    with pytest.raises(InputError, match="not found"):
        read_incidents(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="cannot tell the format of cases.xlsx"):
        read_incidents(write(tmp_path, "x", name="cases.xlsx"))
    with pytest.raises(InputError, match="not valid JSON"):
        read_incidents(write(tmp_path, "{", name="a.json"))
    with pytest.raises(InputError, match="neither a GeoJSON FeatureCollection nor an Open311"):
        read_incidents(write(tmp_path, '{"type": "Feature"}', name="b.json"))
    with pytest.raises(InputError, match="chunk_rows 0"):
        read_incidents(write(tmp_path, csv_text(GOOD_A)), chunk_rows=0)


def test_a_header_only_file_gives_one_empty_chunk(tmp_path):
    chunks = list(read_incidents(write(tmp_path, HEADER + "\n")))
    assert len(chunks) == 1 and chunks[0].incidents.empty and chunks[0].rejects.empty
    assert list(chunks[0].incidents.columns) == list(INCIDENT_COLUMNS)
    assert list(chunks[0].rejects.columns) == list(REJECT_COLUMNS)


# ---------------------------------------------------------------------------
# GeoJSON and Open311 in
# ---------------------------------------------------------------------------

def feature(props: dict, geometry: dict | None) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_geojson_points_map_like_csv_rows(tmp_path):
    props = {"source": "app", "external_id": 7, "category": "暴露垃圾", "lon": 1, "lat": 2,
             "reported_at": "2025-03-01T08:30:00", "status": "受理", "description": "x\ny",
             "address": "桐柏路", "priority": 1}
    doc = {"type": "FeatureCollection", "features": [
        feature(props, {"type": "Point", "coordinates": [113.62, 34.75]}),
        feature({**props, "external_id": "8"}, {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}),
        feature({**props, "external_id": "9", "status": "bogus", "lon": 113.6, "lat": 34.7}, None),
        "junk",
    ]}
    for name in ("cases.geojson", "cases.json"):
        path = tmp_path / name
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        reader = read_incidents(path, crs="gcj02")
        assert reader.format == "geojson"
        chunk = reader.read_all()
        frame = chunk.incidents
        assert frame["external_id"].tolist() == ["7"]
        row = frame.iloc[0]
        assert (row.line, row.category, row.status, row.description, row.priority) == (
            1, "env.exposed_garbage", "received", "x\ny", "1")
        assert (row.input_lon, row.input_lat) == (113.62, 34.75)
        assert (row.lon, row.lat) == giscrs.gcj02_to_wgs84(113.62, 34.75)
        rejects = chunk.rejects
        assert rejects["line"].tolist() == [2, 3, 4]
        assert rejects["field"].tolist()[:2] == ["geometry", "status"]
        assert rejects["reason"][0].startswith("the geometry is a LineString, not a Point")
        assert pd.isna(rejects["field"][2])
        assert json.loads(rejects["raw"][0])["properties"]["external_id"] == "8"


OPEN311 = [
    {"service_request_id": "638344", "status": "closed", "service_name": "Pothole",
     "service_code": "POTHOLE", "description": "deep hole", "agency_responsible": "DPW",
     "requested_datetime": "2010-04-14T06:37:38-08:00",
     "updated_datetime": "2010-04-15T07:00:00-08:00", "expected_datetime": None,
     "address": "8TH AVE and JUDAH ST", "lat": 37.762221815, "long": -122.4651145, "media_url": None},
    {"service_request_id": 2, "status": "open", "service_name": "井盖", "service_code": "zz",
     "requested_datetime": "2025-03-01T08:30:00+08:00",
     "updated_datetime": "2025-03-01T09:00:00+08:00", "lat": "34.75", "long": "113.62"},
    {"service_request_id": "3", "status": "open", "service_name": "奇怪", "service_code": "yy",
     "requested_datetime": "2025-03-01T08:30:00+08:00", "lat": 34.75, "long": 113.62},
    {"service_request_id": "4", "status": "open", "service_name": "x", "service_code": "ad.flyer",
     "requested_datetime": "2025-03-01T08:30:00+08:00", "lat": 34.75, "long": 200},
    {"service_request_id": "", "status": "open", "service_code": "litter",
     "requested_datetime": "2025-03-01T08:30:00+08:00", "lat": 34.75, "long": 113.62},
]


def test_open311_requests_map_to_incidents(tmp_path):
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(OPEN311, ensure_ascii=False), encoding="utf-8")
    reader = read_incidents(path)
    assert (reader.format, reader.source) == ("open311", "open311")
    chunk = reader.read_all()
    frame = chunk.incidents
    assert frame["external_id"].tolist() == ["638344", "2", "3"]
    assert frame["source"].unique().tolist() == ["open311"]
    assert frame["category"].tolist() == ["municipal.pavement", "municipal.manhole", "other"]
    assert frame["status"].tolist() == ["closed", "received", "received"]
    first = frame.iloc[0]
    assert first.reported_at == utc("2010-04-14T14:37:38Z")
    assert first.closed_at == utc("2010-04-15T15:00:00Z")
    assert pd.isna(frame["closed_at"][1])  # updated, but not closed
    assert (first.lon, first.lat, first.description) == (-122.4651145, 37.762221815, "deep hole")
    assert chunk.warnings == ["line 3: service_code 'yy' (service_name '奇怪') unknown, stored as "
                              "'other'; add the code to gis/core/rules/open311.toml"]
    assert chunk.rejects[["line", "field"]].values.tolist() == [[4, "long"], [5, "service_request_id"]]
    assert chunk.rejects["reason"][0].startswith("long 200.0 is outside -180..180")
    assert read_incidents(path, source="sf311").read_all().incidents["source"][0] == "sf311"


def test_open311_code_table_must_name_known_categories(tmp_path):
    codes = load_open311_codes()
    assert codes["pothole"] == "municipal.pavement"
    bad = tmp_path / "open311.toml"
    bad.write_text('version = 1\n[service_codes]\npothole = "roads.holes"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"service_codes.pothole = 'roads.holes'.*not a category"):
        load_open311_codes(bad)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

@pytest.fixture
def stored(tmp_path) -> pd.DataFrame:
    """Incidents as the services side would hand them over: read rows plus assignment."""
    header = HEADER + ",closed_at"
    rows = [GOOD_A + ",",
            '12345,R2,井盖,113.63,34.76,2025-03-02T09:00:00,closed,"说 ""好""\n第二行",建设路,'
            "2025-03-02T12:00:00+08:00",
            "12345,R3,怪事,113.64,34.77,2025-03-03T09:00:00,resolved,,,"]
    frame = read_all(write(tmp_path, csv_text(*rows, header=header), name="in.csv")).incidents
    frame["micro_code"] = ["410102001001", None, "410102001003"]
    frame["tier"] = ["general", "general", "complex"]
    frame["due_at"] = pd.to_datetime(["2025-03-01T10:30:00+08:00", None,
                                      "2025-03-06T17:30:00+08:00"], utc=True)
    frame["assignee"] = ["张三", None, "李四"]
    return frame


def test_csv_export_has_the_design_columns_first_and_reads_back(tmp_path, stored):
    path = tmp_path / "out.csv"
    assert incidents_to_csv(stored, path) == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:len(EXPORT_COLUMNS)] == list(EXPORT_COLUMNS)
    assert {"tier", "due_at", "assignee", "closed_at", "address"} <= set(header)
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert table["reported_at"].tolist() == ["2025-03-01T08:30:00+08:00", "2025-03-02T09:00:00+08:00",
                                             "2025-03-03T09:00:00+08:00"]
    assert table["due_at"].tolist() == ["2025-03-01T10:30:00+08:00", "", "2025-03-06T17:30:00+08:00"]
    assert table["micro_code"].tolist() == ["410102001001", "", "410102001003"]
    assert table["exclusive_code"].tolist() == ["", "", ""]
    back = read_incidents(path)
    chunk = back.read_all()
    assert back.encoding == "utf-8-sig" and chunk.rejects.empty and chunk.warnings == []
    for name in ("external_id", "category", "status", "description", "reported_at", "closed_at",
                 "lon", "lat"):
        pd.testing.assert_series_equal(chunk.incidents[name], stored[name], check_names=False)


def test_geojson_export_is_points_with_iso_times_and_reads_back(tmp_path, stored):
    path = tmp_path / "out.geojson"
    assert incidents_to_geojson(stored, path) == 3
    doc = json.loads(path.read_text(encoding="utf-8"))
    first = doc["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [113.62, 34.75]}
    props = first["properties"]
    assert list(props)[:8] == [c for c in EXPORT_COLUMNS if c not in ("lon", "lat")]
    assert (props["reported_at"], props["micro_code"], props["tier"]) == (
        "2025-03-01T08:30:00+08:00", "410102001001", "general")
    assert doc["features"][1]["properties"]["due_at"] is None
    back = read_incidents(path).read_all()
    assert back.rejects.empty
    pd.testing.assert_series_equal(back.incidents["description"], stored["description"])
    pd.testing.assert_series_equal(back.incidents["reported_at"], stored["reported_at"])


def test_open311_export_has_the_georeport_shape(tmp_path, stored):
    requests = incidents_to_open311(stored)
    assert len(requests) == 3
    first, second, third = requests
    assert list(first) == ["service_request_id", "service_code", "service_name", "status",
                           "description", "requested_datetime", "updated_datetime",
                           "expected_datetime", "address", "lat", "long", "extended_attributes"]
    assert first["service_request_id"] == "A1"
    assert (first["service_code"], first["service_name"]) == ("litter", "暴露垃圾")
    assert (first["status"], first["requested_datetime"], first["expected_datetime"]) == (
        "open", "2025-03-01T08:30:00+08:00", "2025-03-01T10:30:00+08:00")
    assert (first["lat"], first["long"], first["updated_datetime"]) == (34.75, 113.62, None)
    assert first["extended_attributes"] == {
        "stage": "received", "stage_zh": "受理", "micro_code": "410102001001", "tier": "general",
        "due_at": "2025-03-01T10:30:00+08:00"}
    assert (second["status"], second["updated_datetime"]) == ("closed", "2025-03-02T12:00:00+08:00")
    assert (second["service_code"], second["extended_attributes"]["micro_code"]) == ("manhole", None)
    # resolved counts as closed for Open311; a category with no code keeps its own
    assert (third["status"], third["extended_attributes"]["stage"]) == ("closed", "resolved")
    assert (third["service_code"], third["service_name"]) == ("other", "其他")
    path = tmp_path / "requests.json"
    assert write_open311(stored, path) == 3
    back = read_incidents(path).read_all()
    assert back.rejects.empty
    assert back.incidents["status"].tolist() == stored["status"].tolist()
    assert back.incidents["category"].tolist() == stored["category"].tolist()
    pd.testing.assert_series_equal(back.incidents["reported_at"], stored["reported_at"])


def test_naive_times_in_a_frame_are_written_as_china_time(tmp_path, stored):
    stored["reported_at"] = stored["reported_at"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    assert incidents_to_open311(stored)[0]["requested_datetime"] == "2025-03-01T08:30:00+08:00"


def test_an_export_frame_without_core_columns_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="lacks columns category, status"):
        incidents_to_csv(pd.DataFrame({"source": ["a"], "external_id": ["1"], "lon": [1.0],
                                       "lat": [2.0], "reported_at": [pd.Timestamp.now()]}),
                         tmp_path / "x.csv")


def test_rejects_are_written_with_a_bom_for_excel(tmp_path):
    chunk = read_all(write(tmp_path, csv_text("12345,B,井盖坏了,113.62,95,2025-03-01T08:30:00,received,,")))
    path = tmp_path / "rejects.csv"
    assert rejects_to_csv(chunk.rejects, path) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    assert list(table.columns) == list(REJECT_COLUMNS)
    assert table.iloc[0].tolist() == ["2", "lat", "lat 95.0 is outside -90..90; check the column order lon,lat",
                                      "12345,B,井盖坏了,113.62,95,2025-03-01T08:30:00,received,,"]


# ---------------------------------------------------------------------------
# The benchmark script still runs (timing is printed by hand, not tested)
# ---------------------------------------------------------------------------

def test_the_benchmark_script_reads_its_own_file(tmp_path):
    path = tmp_path / "bench.csv"
    intake._bench_file(path, 3000)
    figures = intake._bench_read(str(path))
    assert figures["rows"] == 3000
    assert figures["good"] + figures["refused_lines"] < 3000  # duplicates are superseded
    assert figures["rows_per_s_wall"] > 0


def test_json_nested_far_too_deep_is_one_input_error_not_a_crash(tmp_path):
    path = tmp_path / "deep.geojson"
    path.write_text('{"type": "FeatureCollection", "features": ' + "[" * 200_000 + "]" * 200_000 + "}",
                    encoding="utf-8")
    with pytest.raises(InputError, match="deep.geojson nests arrays or objects too deeply to read"):
        read_incidents(path)


# ---------------------------------------------------------------------------
# Rows a broken row would take down with it
# ---------------------------------------------------------------------------

def q_row(i: int, description: str = "ok", category: str = "井盖") -> str:
    return f"12345,Q{i},{category},113.62,34.75,2025-03-01T08:30:00,received,{description},地址{i}"


def test_an_unclosed_quote_refuses_its_row_with_its_line_span_and_the_rows_it_took_in_are_kept(tmp_path):
    rows = [q_row(1), q_row(2, '"never closed'), q_row(3), q_row(4), q_row(5, '"a ""quoted"" word"'), q_row(6)]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.incidents["external_id"].tolist() == ["Q1", "Q3", "Q4", "Q5", "Q6"]
    assert chunk.incidents["line"].tolist() == [2, 4, 5, 6, 7]
    assert chunk.incidents["description"].tolist()[3] == 'a "quoted" word'
    reject = chunk.rejects.iloc[0]
    assert (len(chunk.rejects), reject.line, reject.field, reject.raw) == (1, 3, "description", rows[1])
    assert reject.reason == ('the quote (") that opens description on line 3 is never closed, so the row ran '
                             "over lines 3–6 and took in the rows below it (they are read again as rows of "
                             'their own); close the quote ("…")')


def test_a_quote_left_open_to_the_end_of_the_file_refuses_only_its_row(tmp_path):
    path = write(tmp_path, csv_text(q_row(1), q_row(2, '"runs on\nand on, to the end')))
    chunk = read_all(path)
    assert chunk.incidents["external_id"].tolist() == ["Q1"]
    reject = chunk.rejects.iloc[0]
    assert (reject.line, reject.field) == (3, "description")
    assert reject.reason.endswith("the row runs over lines 3–4, to the end of the file; close the quote (\"…\")")


def test_a_closed_multi_line_description_is_kept_even_with_commas_and_dates_in_it(tmp_path):
    text = "第一行, 2025-03-01 来电\n第二行, 编号 A7, 34.75\r\n第三行"
    path = hostile_file(tmp_path, [text, "ok"])
    chunk = read_all(path)
    assert chunk.rejects.empty
    assert chunk.incidents["description"].tolist() == [text, "ok"]
    assert chunk.incidents["line"].tolist() == record_lines(path)


def test_an_unclosed_quote_closed_early_by_a_quoted_field_below_is_still_found(tmp_path):
    # the next quote opens the category of the row below: that row's other fields join the broken one
    rows = [q_row(1), q_row(2).replace("地址2", '"地址'), q_row(3, '"第一行\n第二行"', category='"井盖"'), q_row(4)]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.incidents["external_id"].tolist() == ["Q1", "Q3", "Q4"]
    assert chunk.incidents["line"].tolist() == [2, 4, 6]
    assert chunk.rejects[["line", "field"]].values.tolist() == [[3, "address"]]


def test_a_file_broken_on_too_many_rows_is_one_input_error(tmp_path, monkeypatch):
    monkeypatch.setattr(intake_csv, "_MAX_UNCLOSED_ROWS", 3)
    path = write(tmp_path, csv_text(*[q_row(i, '"open') for i in range(6)]))
    with pytest.raises(InputError, match=r"more than 3 rows have a quote \(\"\) that is never closed "
                                         r"\(lines 2, 3, 4, 5 …\).*export it again"):
        read_all(path)


def test_a_row_longer_than_a_block_is_refused_alone_for_its_largest_field(tmp_path, monkeypatch):
    monkeypatch.setattr(intake_csv, "_BLOCK_BYTES", 4096)
    rows = [q_row(1), q_row(2, '"' + "长" * 30_000 + '\n' + "x" * 10 + '"'), q_row(3),
            q_row(4) + ",x" * 10_000, q_row(5)]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.incidents["external_id"].tolist() == ["Q1", "Q3", "Q5"]
    assert chunk.incidents["line"].tolist() == [2, 5, 7]
    assert chunk.rejects["line"].tolist() == [3, 6]
    assert chunk.rejects["field"].tolist()[0] == "description"
    assert chunk.rejects["reason"][0].startswith("description is 90011 bytes; a field may have at most 65536")
    assert chunk.rejects["reason"][1].startswith("the row over line 6 is ")
    assert "with 10009 fields (the header has 9)" in chunk.rejects["reason"][1]


def test_an_irregular_row_with_a_field_over_the_csv_modules_limit_is_split(tmp_path):
    rows = [q_row(1), q_row(2, "x" * 200_000) + ",extra", q_row(3)]
    chunk = read_all(write(tmp_path, csv_text(*rows)))
    assert chunk.incidents["external_id"].tolist() == ["Q1", "Q3"]
    assert chunk.rejects["reason"].tolist() == ["the row has 10 fields but the header has 9; put text that "
                                                "contains commas in double quotes"]


def test_a_header_with_a_quote_never_closed_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"the quote \(\"\) that opens column 3 of the header \(line 1\) "
                                         r"is never closed"):
        read_incidents(write(tmp_path, 'source,external_id,"category\n' + q_row(1) + "\n"))


# ---------------------------------------------------------------------------
# Implausible rows: kept, with a warning
# ---------------------------------------------------------------------------

def test_a_point_is_far_beyond_fifty_kilometres_or_when_no_distance_was_measured():
    from gis.core.intake import FAR_POINT_M, far_from_grids
    assert FAR_POINT_M == 50_000
    assert far_from_grids([0.0, 50_000.0, 50_000.5, 19_549_000.0, np.inf, np.nan]).tolist() == [
        False, False, True, True, True, True]


def test_far_points_and_future_times_are_counted_with_their_first_lines():
    from gis.core.intake import FUTURE_TOLERANCE_H, ImplausibleRows
    now = pd.Timestamp("2025-03-01T12:00:00+08:00")
    tally = ImplausibleRows(now=now.to_pydatetime())
    for first in (2, 40):
        times = [now + pd.Timedelta(hours=h) for h in (FUTURE_TOLERANCE_H - 1, FUTURE_TOLERANCE_H + 1)] * 10
        frame = pd.DataFrame({"line": range(first, first + 20), "reported_at": pd.Series(times).dt.tz_convert("UTC")})
        tally.add(frame, far=[i % 4 == 0 for i in range(20)])
    assert tally.warnings() == [
        "10 row(s) lie more than 50 km from every micro-grid (lines 2, 6, 10, 14, 18, 40, 44, 48, 52, 56); "
        "stored unassigned, without a nearest-grid suggestion: check lon/lat and --crs",
        "20 row(s) have a reported_at more than 24 h after the import (lines 3, 5, 7, 9, 11, 13, 15, 17, 19, 21 …); "
        "stored as given: check the date and its time zone"]
    assert ImplausibleRows(now=now).warnings() == []
