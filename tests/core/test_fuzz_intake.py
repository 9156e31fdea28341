"""Fuzzing incident intake: whatever the file, rows and named rejects, or one GisError.

Every importer (CSV, GeoJSON, Open311 JSON) is fed random bytes, cut-off
files, wrong encodings, huge fields, many columns, deep and odd JSON. The
outcome must be a :class:`Chunk` (kept rows plus rejects that name a line and
a reason) or a :class:`GisError`; any other exception fails. Examples are
derandomized, so a run is the same every time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.core.intake import csv as intake_csv
from gis.core.intake.checks import (
    INCIDENT_COLUMNS,
    MAX_FIELD_BYTES,
    REJECT_COLUMNS,
    REQUIRED_FIELDS,
    Chunk,
)
from gis.core.intake.reader import read_incidents
from gis.errors import GisError

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
HEADER = ",".join(REQUIRED_FIELDS)
NAMES = ("cases.csv", "cases.geojson", "cases.json")


def row(i: int, *, description: str = "ok", address: str = "桐柏路1号", category: str = "井盖") -> str:
    return f"12345,F{i},{category},113.62,34.75,2025-03-01T08:30:00+08:00,received,{description},{address}"


def outcome(path: Path, **options) -> Chunk | GisError:
    """What reading a file gives: the whole file as one chunk, or the GisError it raised."""
    try:
        chunk = read_incidents(path, **options).read_all()
    except GisError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), "a GisError is one line"
        return exc
    assert list(chunk.incidents.columns) == list(INCIDENT_COLUMNS)
    assert list(chunk.rejects.columns) == list(REJECT_COLUMNS)
    assert len(chunk.incidents) + chunk.refused <= chunk.records
    assert chunk.rejects["reason"].str.len().gt(0).all()
    assert chunk.rejects["line"].gt(0).all() and chunk.incidents["line"].gt(0).all()
    assert chunk.incidents["line"].is_unique
    return chunk


def csv_file(tmp_path: Path, rows: list[str], *, newline: str = "\n", name: str = "cases.csv") -> Path:
    path = tmp_path / name
    path.write_bytes((newline.join([HEADER, *rows]) + newline).encode("utf-8"))
    return path


def good_documents() -> dict[str, bytes]:
    """A small valid file per format, with a multi-line, quoted, Chinese description."""
    text = 'He said "hi",\n第二行'
    csv_rows = [row(0), row(1, description='"He said ""hi"",\n第二行"'), row(2)]
    props = [{"source": "app", "external_id": f"G{i}", "category": "井盖", "reported_at": "2025-03-01T08:30:00",
              "status": "received", "description": text, "address": "桐柏路"} for i in range(3)]
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.62, 34.75]}, "properties": p}
        for p in props]}
    open311 = [{"service_request_id": f"O{i}", "service_code": "井盖", "status": "open", "description": text,
                "requested_datetime": "2025-03-01T08:30:00+08:00", "lat": 34.75, "long": 113.62}
               for i in range(3)]
    return {"cases.csv": ("\n".join([HEADER, *csv_rows]) + "\n").encode("utf-8"),
            "cases.geojson": json.dumps(geojson, ensure_ascii=False).encode("utf-8"),
            "cases.json": json.dumps(open311, ensure_ascii=False).encode("utf-8")}


# ---------------------------------------------------------------------------
# Any bytes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.one_of(st.binary(max_size=3000),
                      st.binary(max_size=3000).map(lambda b: HEADER.encode() + b"\n" + b),
                      st.binary(max_size=3000).map(lambda b: b'{"type": "FeatureCollection", "features": [' + b),
                      st.binary(max_size=3000).map(lambda b: b'[{"service_request_id": ' + b)))
def test_random_bytes_in_any_incident_format_give_rows_or_an_input_error(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    outcome(path)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(cut=st.floats(min_value=0, max_value=1))
def test_a_cut_off_incident_file_gives_rows_or_an_input_error(tmp_path, name, cut):
    whole = good_documents()[name]
    path = tmp_path / name
    path.write_bytes(whole[:int(cut * len(whole))])
    outcome(path)


@FUZZ
@given(cut=st.integers(min_value=0))
def test_a_cut_off_csv_keeps_every_row_it_still_holds_whole(tmp_path, cut):
    # cut between characters: a character cut in half is an encoding error of the file
    rows = [row(i, description='"第一行\n第二行"' if i % 3 == 1 else f"d{i}") for i in range(8)]
    text = "\n".join([HEADER, *rows]) + "\n"
    data = text[:cut % (len(text) + 1)].encode("utf-8")
    cut = len(data)
    path = tmp_path / "cases.csv"
    path.write_bytes(data)
    result = outcome(path)
    ends, at = [], len(HEADER) + 1
    for text in rows:
        at += len(text.encode("utf-8")) + 1
        ends.append(at)
    whole = {f"F{i}" for i, end in enumerate(ends) if end <= cut}
    if isinstance(result, GisError):
        assert cut <= len(HEADER) + 1  # only a file cut inside its header is refused whole
    else:
        assert whole <= set(result.incidents["external_id"])


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(encoding=st.sampled_from(["utf-16", "utf-16-le", "utf-32", "big5", "shift_jis", "latin-1",
                                 "cp1252", "euc-kr", "utf-7"]))
def test_a_file_in_a_wrong_encoding_gives_rows_or_an_input_error(tmp_path, name, encoding):
    text = good_documents()[name].decode("utf-8")
    path = tmp_path / name
    path.write_bytes(text.encode(encoding, errors="replace"))
    outcome(path)


# ---------------------------------------------------------------------------
# Quotes never closed, huge fields, many columns
# ---------------------------------------------------------------------------

@FUZZ
@given(n=st.integers(2, 12), data=st.data(), newline=st.sampled_from(["\n", "\r\n"]))
def test_an_unclosed_quote_refuses_its_row_alone_and_the_rows_it_took_in_are_kept(tmp_path, n, data, newline):
    bad = data.draw(st.integers(0, n - 1), label="bad row")
    field = data.draw(st.sampled_from(["category", "description", "address"]), label="field")
    multi = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="multi-line descriptions")
    rows, lines, line = [], {}, 2
    for i in range(n):
        if i == bad:
            text = row(i, **{field: '"never closed'})
        elif multi[i]:
            text = row(i, description=f'"第一行{newline}第二行, 2025-03-01"')
        else:
            text = row(i)
        rows.append(text)
        lines[f"F{i}"] = line
        line += 1 + (multi[i] and i != bad)
    result = outcome(csv_file(tmp_path, rows, newline=newline))
    kept = dict(zip(result.incidents["external_id"], result.incidents["line"]))
    assert kept == {key: at for key, at in lines.items() if key != f"F{bad}"}
    assert result.refused == 1
    reject = result.rejects.iloc[0]
    assert (reject.line, reject.field) == (lines[f"F{bad}"], field)
    assert f"opens {field} on line {lines[f'F{bad}']} is never closed" in reject.reason
    assert "close the quote" in reject.reason
    assert reject.raw.startswith(f"12345,F{bad},")


@FUZZ
@given(n=st.integers(2, 6), data=st.data(), size=st.sampled_from([MAX_FIELD_BYTES + 1, 100_000, 300_000]),
       field=st.sampled_from(["description", "address", "external_id"]), quoted=st.booleans())
def test_a_field_over_the_limit_refuses_its_row_alone_even_past_a_block(tmp_path, n, data, size, field, quoted):
    # Small blocks make these rows longer than a block, so they are read apart as a
    # field of many megabytes is with the real block size.
    big = data.draw(st.integers(0, n - 1), label="big row")
    value = "K" * size if field == "external_id" else "长" * (size // 3 + 1)
    if quoted and field != "external_id":
        value = f'"{value[:len(value) // 2]}\n{value[len(value) // 2:]}"'
    rows = [row(i) for i in range(n)]
    rows[big] = (rows[big].replace(f"F{big}", value) if field == "external_id"
                 else row(big, **{field: value}))
    path = csv_file(tmp_path, rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(intake_csv, "_BLOCK_BYTES", 4096)
        result = outcome(path)
    assert result.incidents["external_id"].tolist() == [f"F{i}" for i in range(n) if i != big]
    assert result.refused == 1
    reject = result.rejects.iloc[0]
    assert (reject.line, reject.field) == (2 + big, field)
    assert "a field may have at most 65536 bytes (64 KB)" in reject.reason or "at most 200" in reject.reason


def test_a_field_of_ten_megabytes_refuses_its_row_alone(tmp_path):
    path = csv_file(tmp_path, [row(0), row(1, description="x" * 10_000_000), row(2)])
    result = outcome(path)
    assert result.incidents["external_id"].tolist() == ["F0", "F2"]
    reject = result.rejects.iloc[0]
    assert (reject.line, reject.field) == (3, "description")
    assert reject.reason == ("description is 10000000 bytes; a field may have at most 65536 bytes (64 KB): "
                             "shorten it")
    assert len(reject.raw) < 70_000  # the row is not kept whole in its reject


@FUZZ
@given(extra=st.integers(0, 3000), counts=st.lists(st.integers(0, 3100), min_size=1, max_size=6))
def test_many_columns_give_rows_or_an_input_error(tmp_path, extra, counts):
    header = HEADER + "".join(f",x{i}" for i in range(extra))
    rows = [",".join((row(i).split(",") + ["v"] * count)[:max(count, 1)]) for i, count in enumerate(counts)]
    path = tmp_path / "cases.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = outcome(path)
    assert isinstance(result, Chunk) and result.records == len(rows)


@FUZZ
@given(text=st.lists(st.sampled_from(['"', ",", "\n", "\r", '""', "a", "12345,", "2025-03-01,", "中"]),
                     max_size=40).map("".join),
       at=st.integers(0, 4))
def test_quotes_commas_and_breaks_at_the_end_of_a_row_never_lose_another_row(tmp_path, text, at):
    rows = [row(i) for i in range(5)]
    rows[at] = rows[at] + text
    result = outcome(csv_file(tmp_path, rows))
    assert {f"F{i}" for i in range(5) if i != at} <= set(result.incidents["external_id"])


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
    | st.sampled_from(["Point", "Feature", "2025-03-01T08:30:00", "received", "\ud800", "113.62"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["type", "geometry", "coordinates", "properties", "external_id", "source",
                         "status", "reported_at", "lon", "lat", "long", "service_request_id",
                         "requested_datetime", "extended_attributes", "stage", "x"]), inner, max_size=6),
    max_leaves=30)


@FUZZ
@given(features=st.lists(JSON, max_size=6))
def test_odd_geojson_features_give_rows_or_an_input_error(tmp_path, features):
    path = tmp_path / "cases.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    outcome(path)


@FUZZ
@given(requests=st.lists(JSON, max_size=6))
def test_odd_open311_requests_give_rows_or_an_input_error(tmp_path, requests):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(requests), encoding="utf-8")
    outcome(path)


@pytest.mark.parametrize("name, wrap", [("deep.geojson", '{"type": "FeatureCollection", "features": [%s]}'),
                                        ("deep.json", "[%s]")])
@pytest.mark.parametrize("depth", [900, 5000, 200_000])
def test_deep_json_is_one_input_error_or_rows(tmp_path, name, wrap, depth):
    path = tmp_path / name
    path.write_text(wrap % ("[" * depth + "]" * depth), encoding="utf-8")
    outcome(path)


def test_a_number_too_long_for_python_refuses_its_row_alone(tmp_path):
    digits = "9" * 5000
    path = tmp_path / "cases.json"
    path.write_text(f'[{{"service_request_id": {digits}, "lat": 34.75, "long": 113.62, "status": "open",'
                    f' "requested_datetime": "2025-03-01T08:30:00"}},'
                    f' {{"service_request_id": 7, "lat": 34.75, "long": 113.62, "status": "open",'
                    f' "requested_datetime": "2025-03-01T08:30:00"}}]', encoding="utf-8")
    result = outcome(path)
    assert result.incidents["external_id"].tolist() == ["7"]
    assert result.rejects["reason"].tolist() == [
        "service_request_id is 5000 characters long; a key may have at most 200"]


def test_a_lone_surrogate_in_json_refuses_its_row_alone(tmp_path):
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.62, 34.75]},
                 "properties": {"source": "app", "external_id": eid, "reported_at": "2025-03-01T08:30:00",
                                "status": "received", "description": text}}
                for eid, text in (("S1", "\ud800 broken"), ("S2", "fine"))]
    path = tmp_path / "cases.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    result = outcome(path)
    assert result.incidents["external_id"].tolist() == ["S2"]
    reject = result.rejects.iloc[0]
    assert (reject.line, reject.field) == (1, "description")
    assert "lone UTF-16 surrogate (\\ud800)" in reject.reason
    assert "\\ud800" in reject.raw  # spelled out, so the database can store it
